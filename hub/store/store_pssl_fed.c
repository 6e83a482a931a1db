/* d4hub store — passive SSL: handshakes received from partner hubs
 * (federation kind certs; docs/federation.md "Certificates").
 *
 * A partner sends a tuple's state each time it changes: its count and
 * times so far, not the handshakes since the last time. The store merges
 * observations by adding their counts, so a state is turned into what is
 * new since the last state received of that tuple from that origin: the
 * last count received is kept per (origin hub, tuple) in the passive-SSL
 * meta table under 'r' (origin[16] || server[16] || port BE ||
 * H(sni, ja3, ja3s, ja4, certificate)[16] -> version || u64 count). A count
 * below the one kept (the origin's row expired and came back) starts again.
 * A state with nothing new (the same count) merges nothing. Everything in
 * the caller's write transaction, with the batch's receiver position: a
 * batch sent again is a duplicate and changes nothing here either. */
#include "d4_error.h"
#include "d4_reader.h"
#include "d4_store_pssl.h"
#include "d4_util.h"
#include "store_internal.h"
#include "store_pssl_internal.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define RKEY_LEN (1u + 16u + 16u + 2u + 16u)
#define RVAL_V1	 1u
#define RVAL_LEN (1u + 8u)

static int rkey(const struct d4_store_pssl_obs *o, uint8_t *k)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t h[32], sep = 0;
	unsigned hl = 0;
	int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	/* each part with its presence, so that absent and empty differ */
	uint8_t has[4] = {o->sni ? 1 : 0, o->has_ja3, o->has_ja3s, (uint8_t)(o->n_certs ? 1 : 0)};
	ok = ok && EVP_DigestUpdate(c, has, 4);
	ok = ok && (!o->sni_len || EVP_DigestUpdate(c, o->sni, o->sni_len)) && EVP_DigestUpdate(c, &sep, 1);
	ok = ok && (!o->has_ja3 || EVP_DigestUpdate(c, o->ja3_md5, 16));
	ok = ok && (!o->has_ja3s || EVP_DigestUpdate(c, o->ja3s_md5, 16));
	ok = ok && (!o->ja4 || EVP_DigestUpdate(c, o->ja4, strlen(o->ja4))) && EVP_DigestUpdate(c, &sep, 1);
	ok = ok && (!o->n_certs || EVP_DigestUpdate(c, o->certs[0].sha1, 20));
	ok = ok && EVP_DigestFinal_ex(c, h, &hl) && hl == 32;
	EVP_MD_CTX_free(c);
	if (!ok)
		return D4_ENOMEM;
	k[0] = 'r';
	memcpy(k + 1, o->origin, 16);
	memcpy(k + 17, o->server_ip, 16);
	d4_put_u16be(k + 33, o->server_port);
	memcpy(k + 35, h, 16);
	return 0;
}

int store_pssl_fed_apply_txn(struct d4_store *s, MDB_txn *txn, const struct d4_store_pssl_obs *obs, size_t n,
			     uint64_t *stored)
{
	*stored = 0;
	if (!n)
		return 0;
	struct d4_store_pssl_obs *d = malloc(n * sizeof(*d));
	if (!d)
		return D4_ENOMEM;
	size_t nd = 0;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		uint8_t k[RKEY_LEN], v[RVAL_LEN];
		if ((rc = rkey(&obs[i], k)) != 0)
			break;
		MDB_val key = {RKEY_LEN, k}, val;
		uint64_t last = 0, count = obs[i].count ? obs[i].count : 1;
		int mr = mdb_get(txn, s->dbi[DBI_PSSL_META], &key, &val);
		if (mr == 0) {
			if (val.mv_size != RVAL_LEN || ((const uint8_t *)val.mv_data)[0] != RVAL_V1) {
				rc = D4_ECORRUPT;
				break;
			}
			last = d4_get_u64be((const uint8_t *)val.mv_data + 1);
		} else if (mr != MDB_NOTFOUND) {
			rc = store_rc(mr, "pssl received get");
			break;
		}
		if (count == last)
			continue; /* nothing new since the last state */
		v[0] = RVAL_V1;
		d4_put_u64be(v + 1, count);
		val.mv_size = RVAL_LEN;
		val.mv_data = v;
		if ((rc = store_rc(mdb_put(txn, s->dbi[DBI_PSSL_META], &key, &val, 0), "pssl received put")) != 0)
			break;
		d[nd] = obs[i];
		d[nd].count = count > last ? count - last : count;
		nd++;
	}
	if (!rc && nd) {
		struct d4_store_pssl_update u;
		memset(&u, 0, sizeof(u));
		u.obs = d;
		u.nobs = nd;
		rc = store_pssl_apply_txn(s, txn, &u, NULL);
	}
	if (!rc)
		*stored = nd;
	free(d);
	return rc;
}
