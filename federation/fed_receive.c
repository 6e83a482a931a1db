/* d4hub — federation: a received batch made ready for the store
 * (docs/federation.md "Receiving"). Shared by the inbox (a partner pushes)
 * and the fetching sender (this hub pulls from a partner): the same checks,
 * the same inbound rule, the same provenance, whichever side opened the
 * connection.
 *
 * Two passes over the batch: the first decodes and checks every record
 * (nothing is stored from a batch with one bad record) and counts what the
 * inbound rule keeps; the second fills arrays of exactly that size. A
 * declared record count is never trusted for an allocation. */
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_util.h"
#include "d4_x509.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *d4_fed_rx_refusal_name(enum d4_fed_rx_refusal r)
{
	switch (r) {
	case D4_FED_RX_OK: return "ok";
	case D4_FED_RX_MALFORMED: return "malformed";
	case D4_FED_RX_KIND: return "wrong-kind";
	case D4_FED_RX_SENDER: return "wrong-sender";
	case D4_FED_RX_NOT_ACCEPTED: return "kind-not-accepted";
	default: return "invalid";
	}
}

static int store_type_ok(void *arg, uint8_t type, const char *ext, size_t ext_len)
{
	struct d4_fed_store_types *c = arg;
	if (!c->loaded) {
		c->loaded = 1;
		c->failed = d4_store_types_get(c->store, c->accepted) != 0;
	}
	if (c->failed || !c->accepted[type])
		return 0;
	if (type != 254 || ext_len == 0)
		return 1;
	char name[sizeof(c->ext[0])];
	if (ext_len >= sizeof(name))
		return 0;
	memcpy(name, ext, ext_len);
	name[ext_len] = '\0';
	for (unsigned i = 0; i < c->n; i++)
		if (strcmp(c->ext[i], name) == 0)
			return c->ext_ok[i];
	int ok = d4_store_ext_type_accepted(c->store, name) == 1;
	if (c->n < sizeof(c->ext) / sizeof(c->ext[0])) {
		/* beyond 8 names the store is asked again (a change of the
		 * settings in between fails the preparation: D4_EINVAL) */
		d4_strlcpy(c->ext[c->n], name, sizeof(c->ext[0]));
		c->ext_ok[c->n++] = ok;
	}
	return ok;
}

struct key_scan {
	const uint8_t *hub;
	uint8_t *pk;
	uint8_t must, found;
};

static int key_scan_cb(void *ctx, const struct d4_partner *p)
{
	struct key_scan *k = ctx;
	if (memcmp(p->hub, k->hub, 16) != 0 || !p->has_pubkey)
		return 0;
	memcpy(k->pk, p->pubkey, 32);
	k->must = p->must_sign;
	k->found = 1;
	return 1;
}

/* An origin's key: the pubkey of a partner record (enabled or not) naming
 * that hub uuid. A partner record that exchanges nothing is how a hub
 * learns the key of an origin that is not its partner. A store error is
 * "unknown" (then a partner that must sign has the record refused). */
static int store_key_of(void *arg, const uint8_t hub[16], uint8_t pk[32], uint8_t *must_sign)
{
	struct d4_fed_store_types *c = arg;
	for (unsigned i = 0; i < c->nkeys; i++)
		if (!memcmp(c->keys[i].hub, hub, 16)) {
			memcpy(pk, c->keys[i].pk, 32);
			*must_sign = c->keys[i].must_sign;
			return c->keys[i].found;
		}
	uint8_t k[32] = {0};
	struct key_scan ks = {hub, k, 0, 0};
	if (d4_store_partner_foreach(c->store, key_scan_cb, &ks) < 0)
		ks.found = 0;
	if (c->nkeys < sizeof(c->keys) / sizeof(c->keys[0])) {
		memcpy(c->keys[c->nkeys].hub, hub, 16);
		memcpy(c->keys[c->nkeys].pk, k, 32);
		c->keys[c->nkeys].found = ks.found;
		c->keys[c->nkeys].must_sign = ks.must;
		c->nkeys++;
	}
	memcpy(pk, k, 32);
	*must_sign = ks.must;
	return ks.found;
}

void d4_fed_store_types_init(struct d4_fed_store_types *t, struct d4_store *s, struct d4_fed_rx_filter *f)
{
	memset(t, 0, sizeof(*t));
	t->store = s;
	f->type_ok = store_type_ok;
	f->arg = t;
	f->key_of = store_key_of;
}

void d4_fed_rx_free(struct d4_fed_rx *rx)
{
	if (!rx)
		return;
	free(rx->frames);
	free(rx->tuples);
	free(rx->vectors);
	free(rx->provs);
	free(rx->strings);
	free(rx->proofs);
	free(rx->pssl);
	for (size_t i = 0; i < rx->nallocs; i++)
		free(rx->allocs[i]);
	free(rx->allocs);
	memset(rx, 0, sizeof(*rx));
	rx->batch.notify_fd = -1;
}

/* memory a received certs record's handshake points into, freed with rx */
static void *rx_alloc(struct d4_fed_rx *rx, size_t n, size_t *cap)
{
	if (rx->nallocs == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		void **na = realloc(rx->allocs, c * sizeof(*na));
		if (!na)
			return NULL;
		rx->allocs = na;
		*cap = c;
	}
	void *p = calloc(1, n ? n : 1);
	if (p)
		rx->allocs[rx->nallocs++] = p;
	return p;
}

/* One received certificate as this hub parses it: what the partner sent
 * is its DER, nothing else; every field comes from analyzers/x509 here.
 * One allocation holds the strings, SANs and key bytes. A DER that does
 * not parse is stored unparsed with its hashes, as at ingest. */
static int cert_of(struct d4_fed_rx *rx, size_t *acap, struct d4_x509 *x, const uint8_t *der, uint32_t len,
		   struct d4_store_pssl_cert *c)
{
	memset(c, 0, sizeof(*c));
	c->der = der;
	c->der_len = len;
	int rc = d4_x509_parse(der, len, x);
	if (rc == D4_ENOMEM)
		return rc;
	if (rc) {
		unsigned l1 = 0, l2 = 0;
		if (!EVP_Digest(der, len, c->sha1, &l1, EVP_sha1(), NULL) ||
		    !EVP_Digest(der, len, c->sha256, &l2, EVP_sha256(), NULL) || l1 != 20 || l2 != 32)
			return D4_ENOMEM;
		rx->certs_unparsed++;
		return 0;
	}
	size_t nsan = x->n_san <= D4_PSSL_SAN_MAX ? x->n_san : D4_PSSL_SAN_MAX;
	size_t ml = x->key_type == D4_X509_KEY_RSA && x->modulus_len <= D4_PSSL_MODULUS_MAX ? x->modulus_len : 0;
	size_t el = x->key_type == D4_X509_KEY_RSA && x->exponent_len <= D4_PSSL_EXPONENT_MAX ? x->exponent_len : 0;
	const char *strs[7] = {x->subject, x->issuer, x->serial, x->sig_alg, x->key_alg, x->curve, x->cn};
	size_t need = nsan * sizeof(struct d4_store_pssl_san) + ml + el;
	for (int i = 0; i < 7; i++)
		need += strlen(strs[i]) + 1;
	for (size_t i = 0; i < nsan; i++)
		need += x->san[i].len;
	uint8_t *m = rx_alloc(rx, need, acap);
	if (!m)
		return D4_ENOMEM;
	struct d4_store_pssl_san *san = (struct d4_store_pssl_san *)(void *)m;
	uint8_t *q = m + nsan * sizeof(*san);
	const char *out[7];
	for (int i = 0; i < 7; i++) {
		size_t n = strlen(strs[i]) + 1;
		memcpy(q, strs[i], n);
		out[i] = (const char *)q;
		q += n;
	}
	for (size_t i = 0; i < nsan; i++) {
		uint16_t l = x->san[i].len;
		if (x->san[i].type == D4_X509_SAN_DNS && l > D4_PSSL_SAN_LEN)
			l = D4_PSSL_SAN_LEN;
		san[i].type = x->san[i].type;
		san[i].len = l;
		memcpy(q, x->san[i].value, l);
		san[i].value = q;
		q += l;
	}
	memcpy(c->sha1, x->sha1, 20);
	memcpy(c->sha256, x->sha256, 32);
	memcpy(c->spki_sha256, x->spki_sha256, 32);
	c->parsed = 1;
	c->x509_flags = x->flags;
	c->version = (uint8_t)(x->version >= 0 && x->version <= 255 ? x->version : 255);
	c->subject = out[0];
	c->issuer = out[1];
	c->serial = out[2];
	c->sig_alg = out[3];
	c->key_alg = out[4];
	c->curve = out[5];
	c->cn = x->has_cn ? out[6] : NULL;
	c->not_before = x->not_before;
	c->not_after = x->not_after;
	c->key_type = (uint8_t)x->key_type;
	c->key_bits = x->key_bits > 0 ? (uint32_t)x->key_bits : 0;
	c->is_ca = x->is_ca;
	if (ml) {
		memcpy(q, x->modulus, ml);
		c->modulus = q;
		c->modulus_len = ml;
		q += ml;
	}
	if (el) {
		memcpy(q, x->exponent, el);
		c->exponent = q;
		c->exponent_len = el;
		q += el;
	}
	c->san = nsan ? san : NULL;
	c->n_san = nsan;
	return 0;
}

/* A received handshake as the store merges it: the tuple, the chain parsed
 * here, the strings NUL-terminated, level, org and the first sensor of the
 * set, and its origin (the sender for a stripped one, whose origin is not
 * told: never the all-zero uuid, which is this hub). */
static int pssl_of(struct d4_fed_rx *rx, size_t *acap, struct d4_x509 *x, const struct d4_fed_wrec *r,
		   const uint8_t sender[16], struct d4_store_pssl_obs *o)
{
	const struct d4_fed_wcert *c = &r->cert;
	const struct d4_fed_wprov *w = &r->prov;
	int stripped = (w->flags & D4_FED_F_STRIPPED) != 0;
	memset(o, 0, sizeof(*o));
	size_t need =
	    (size_t)c->n_certs * sizeof(struct d4_store_pssl_cert) + c->ja3_len + 1 + c->ja3s_len + 1 + c->ja4_len + 1;
	uint8_t *m = rx_alloc(rx, need, acap);
	if (!m)
		return D4_ENOMEM;
	struct d4_store_pssl_cert *certs = (struct d4_store_pssl_cert *)(void *)m;
	char *q = (char *)(m + (size_t)c->n_certs * sizeof(*certs));
	for (unsigned i = 0; i < c->n_certs; i++) {
		int rc = cert_of(rx, acap, x, c->certs[i].der, c->certs[i].len, &certs[i]);
		if (rc)
			return rc;
	}
	memcpy(o->server_ip, c->server_ip, 16);
	o->server_port = c->server_port;
	o->sni = (const uint8_t *)c->sni;
	o->sni_len = c->sni_len;
	o->has_ja3 = c->has_ja3;
	o->has_ja3s = c->has_ja3s;
	memcpy(o->ja3_md5, c->ja3_md5, 16);
	memcpy(o->ja3s_md5, c->ja3s_md5, 16);
	if (c->ja3_len) {
		memcpy(q, c->ja3, c->ja3_len);
		o->ja3 = q;
	}
	q += c->ja3_len + 1;
	if (c->ja3s_len) {
		memcpy(q, c->ja3s, c->ja3s_len);
		o->ja3s = q;
	}
	q += c->ja3s_len + 1;
	if (c->ja4_len) {
		memcpy(q, c->ja4, c->ja4_len);
		o->ja4 = q;
	}
	o->certs = c->n_certs ? certs : NULL;
	o->n_certs = c->n_certs;
	o->time_first = c->time_first;
	o->time_last = c->time_last;
	o->count = c->count;
	o->tlp = w->tlp;
	memcpy(o->origin, (!stripped && w->has_origin) ? w->origin : sender, 16);
	if (!stripped) {
		if (w->nsensors) {
			memcpy(o->sensor, w->sensors[0], 16);
			o->has_sensor = 1;
		}
		if (w->has_org)
			memcpy(o->org, w->org, 16);
	}
	return 0;
}

static void prov_of(const struct d4_fed_wprov *w, struct d4_store_fed_prov *p)
{
	memset(p, 0, sizeof(*p));
	p->stripped = (w->flags & D4_FED_F_STRIPPED) ? 1 : 0;
	p->has_origin = w->has_origin ? 1 : 0;
	if (p->has_origin)
		memcpy(p->origin, w->origin, 16);
	unsigned n = w->nvia > D4_STORE_FED_VIA_MAX ? D4_STORE_FED_VIA_MAX : w->nvia;
	p->nvia = (uint8_t)n;
	memcpy(p->via, w->via, (size_t)n * 16);
}

/* A received vector as the store keeps it: its content, its level and org
 * as they arrived, and where it came from. Its identity's origin is the
 * origin hub the record names; a stripped vector names none (by design),
 * and is keyed under the partner that sent it, which the receiver knows
 * anyway (the TLS peer) and which is the hub that stripped it: a stripped
 * record is never relayed, so no other hub can send the same vector
 * stripped. Never the all-zero origin, which is this hub's own. */
static void vector_of(const struct d4_fed_wrec *r, const uint8_t sender[16], struct d4_store_bs_vec *o)
{
	const struct d4_fed_wvec *v = &r->vec;
	const struct d4_fed_wprov *w = &r->prov;
	int stripped = (w->flags & D4_FED_F_STRIPPED) != 0;
	memset(o, 0, sizeof(*o));
	memcpy(o->origin, (!stripped && w->has_origin) ? w->origin : sender, 16);
	memcpy(o->victim, v->victim, 16);
	o->kind = v->kind;
	o->first_us = v->first_us;
	o->state = v->state;
	o->last_us = v->last_us;
	o->packets = v->packets;
	o->bytes = v->bytes;
	o->n_ports = v->n_ports;
	for (unsigned i = 0; i < v->n_ports && i < D4_STORE_BS_TOP_PORTS; i++) {
		o->ports[i].port = v->ports[i].port;
		o->ports[i].packets = v->ports[i].packets;
	}
	o->ports_distinct = v->ports_distinct;
	o->ports_other = v->ports_other;
	o->telescope_addrs = v->telescope_addrs;
	o->telescope_exact = v->telescope_exact;
	o->peak_ppm = v->peak_ppm;
	o->observed_pps = v->observed_pps;
	o->est_pps = v->est_pps;
	o->est_peak_pps = v->est_peak_pps;
	o->est_valid = v->est_valid;
	o->updates = v->updates;
	o->tlp = w->tlp;
	o->received = 1;
	o->stripped = stripped ? 1 : 0;
	memcpy(o->sender, sender, 16);
	if (stripped)
		return; /* no org, sensors or path (the decoder saw to it) */
	unsigned ns = w->nsensors > D4_STORE_BS_SENSORS ? D4_STORE_BS_SENSORS : w->nsensors;
	memcpy(o->sensors, w->sensors, 16 * (size_t)ns);
	o->n_sensors = ns;
	o->sensors_more = v->sensors_more;
	if (w->has_org)
		memcpy(o->org, w->org, 16);
	o->org_mixed = v->org_mixed;
	unsigned nv = w->nvia > D4_STORE_BS_VIA_MAX ? D4_STORE_BS_VIA_MAX : w->nvia;
	memcpy(o->via, w->via, 16 * (size_t)nv);
	o->nvia = (uint8_t)nv;
}

/* Copies s (n bytes, checked by the decoder: no NUL) NUL-terminated into
 * the string area at *off. */
static const char *keep_str(char *area, size_t *off, const char *s, size_t n)
{
	char *d = area + *off;
	if (n)
		memcpy(d, s, n);
	d[n] = '\0';
	*off += n + 1;
	return d;
}

static int fail(int r, char *why, size_t whylen, const char *what, const char *detail)
{
	if (why && whylen)
		snprintf(why, whylen, "%s%s", what, detail);
	return r;
}

/* The seals of a batch, checked once (docs/federation.md "Signed
 * provenance"). The records of a WHOLE seal carry no path: their digests
 * are gathered into the seal's tree (nodes from base) and its root
 * compared once; a record under any other seal carries its path, compared
 * on its own (ok[i] per record). A seal's signature is checked once, when
 * the first record under it asks, with the key of its origin. */
struct sealck {
	uint8_t state; /* 0 unchecked, 1 verified, 2 does not verify */
	uint8_t root_ok;
	size_t base;
};
struct seals {
	uint16_t n;
	struct d4_fed_seal *s;
	struct sealck *ck;
	uint8_t (*nodes)[32];
	uint8_t *filled;
	uint8_t *ok; /* per record of the batch */
};

static void seals_free(struct seals *z)
{
	free(z->s);
	free(z->ck);
	free(z->nodes);
	free(z->filled);
	free(z->ok);
	memset(z, 0, sizeof(*z));
}

/* 0, D4_ENOMEM, or 1 with why set: the batch is malformed (a leaf of a
 * WHOLE seal missing or twice). */
static int seals_check(const uint8_t *buf, size_t len, struct seals *z, char *why, size_t whylen)
{
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	struct d4_fed_wrec r;
	if (d4_fed_batch_open(buf, len, &h, &it) < 0 || h.nseals == 0)
		return 0;
	z->n = h.nseals;
	z->s = calloc(h.nseals, sizeof(*z->s));
	z->ck = calloc(h.nseals, sizeof(*z->ck));
	z->ok = calloc(h.nrecords ? h.nrecords : 1, 1);
	if (!z->s || !z->ck || !z->ok)
		return D4_ENOMEM;
	size_t nodes = 0;
	for (unsigned i = 0; i < h.nseals; i++) {
		d4_fed_batch_seal(&h, i, &z->s[i]);
		if (z->s[i].flags & D4_FED_SEAL_WHOLE) {
			/* the decoder bounds the sum of these by the records */
			z->ck[i].base = nodes;
			nodes += d4_fed_merkle_nodes(z->s[i].nleaves);
		}
	}
	if (nodes) {
		z->nodes = malloc(nodes * 32);
		z->filled = calloc(nodes, 1);
		if (!z->nodes || !z->filled)
			return D4_ENOMEM;
	}
	uint32_t i = 0;
	while (d4_fed_batch_next(&it, &r) == 1) {
		const struct d4_fed_wprov *w = &r.prov;
		if (w->flags & D4_FED_F_SEALED) {
			const struct d4_fed_seal *sl = &z->s[w->seal_idx];
			if (sl->flags & D4_FED_SEAL_WHOLE) {
				size_t at = z->ck[w->seal_idx].base + w->leaf;
				if (z->filled[at]) {
					snprintf(why, whylen, "record %u: leaf %u of seal %u twice", i + 1, w->leaf,
						 w->seal_idx);
					return 1;
				}
				z->filled[at] = 1;
				memcpy(z->nodes[at], w->digest, 32);
			} else {
				uint8_t root[32];
				d4_fed_merkle_root_of(w->digest, w->leaf, sl->nleaves, w->path, root);
				z->ok[i] = memcmp(root, sl->root, 32) == 0;
			}
		}
		i++;
	}
	for (unsigned k = 0; k < h.nseals; k++) {
		const struct d4_fed_seal *sl = &z->s[k];
		if (!(sl->flags & D4_FED_SEAL_WHOLE))
			continue;
		for (uint32_t l = 0; l < sl->nleaves; l++)
			if (!z->filled[z->ck[k].base + l]) {
				snprintf(why, whylen, "seal %u: leaf %u missing", k, l);
				return 1;
			}
		d4_fed_merkle_build(z->nodes + z->ck[k].base, sl->nleaves);
		z->ck[k].root_ok =
		    memcmp(z->nodes[z->ck[k].base + d4_fed_merkle_nodes(sl->nleaves) - 1], sl->root, 32) == 0;
	}
	return 0;
}

/* 1 when record i (sealed) is proven under its seal, signed with pk. */
static int seal_proven(struct seals *z, uint32_t i, const struct d4_fed_wprov *w, const uint8_t pk[32])
{
	if (!z || w->seal_idx >= z->n)
		return 0;
	struct sealck *c = &z->ck[w->seal_idx];
	int leaf_ok = (z->s[w->seal_idx].flags & D4_FED_SEAL_WHOLE) ? c->root_ok : z->ok[i];
	if (!leaf_ok)
		return 0;
	if (c->state == 0)
		c->state = d4_fed_seal_verify(&z->s[w->seal_idx], pk) ? 1 : 2;
	return c->state == 1;
}

/* The length of what keep_proof writes for w: its path is the one the
 * leaf needs (for a WHOLE seal, taken from the tree). */
static size_t proof_size(const struct d4_fed_wprov *w)
{
	unsigned d = (w->seal.flags & D4_FED_SEAL_WHOLE) ? d4_fed_merkle_depth(w->leaf, w->seal.nleaves) : w->depth;
	return D4_FED_PROOF_MAX - 32u * (D4_FED_PATH_MAX - d);
}

/* What a relaying hub keeps of a sealed record to prove its origin later:
 * the seal and the record's path, taken from the seal's tree for a WHOLE
 * seal (whose records came without one). Stored proofs are never WHOLE.
 * Returns the length written to out (at most D4_FED_PROOF_MAX). */
static size_t keep_proof(const struct seals *z, const struct d4_fed_wprov *w, uint8_t *out)
{
	struct d4_fed_wprov p = *w;
	uint8_t path[D4_FED_PATH_MAX * 32];
	const uint8_t *pp = w->path;
	if ((w->seal.flags & D4_FED_SEAL_WHOLE) && z->s && w->seal_idx < z->n) {
		p.depth = (uint8_t)d4_fed_merkle_path((const uint8_t(*)[32])(z->nodes + z->ck[w->seal_idx].base),
						      w->seal.nleaves, w->leaf, path);
		pp = path;
	}
	p.seal.flags = 0;
	return d4_fed_proof_encode(&p, pp, out);
}

/* The origin's signature (docs/federation.md "Signed provenance"). The
 * origin's key is the sending partner's own when it is the origin, else one
 * the filter knows. A signature is required when the sending partner or the
 * origin must sign; a signature present is checked whenever the key is
 * known, required or not. *onward: the ONWARD flag can be believed (the
 * signature verified, or the sender is the origin, authenticated by TLS). */
static enum d4_fed_in_reason sig_check(const struct d4_partner *p, const struct d4_fed_wrec *r,
				       const struct d4_fed_rx_filter *f, struct seals *z, uint32_t idx, int *onward)
{
	const struct d4_fed_wprov *w = &r->prov;
	*onward = 0;
	if (w->flags & D4_FED_F_STRIPPED)
		return D4_FED_IN_STORED; /* no origin to sign: the sender is known from TLS */
	int direct = !memcmp(w->origin, p->hub, 16);
	uint8_t pk[32], must = 0;
	int known;
	if (direct) {
		known = p->has_pubkey;
		memcpy(pk, p->pubkey, 32);
		must = p->must_sign;
	} else {
		known = f && f->key_of && f->key_of(f->arg, w->origin, pk, &must) == 1;
	}
	int required = p->must_sign || (known && must);
	int verified = 0;
	if (w->flags & (D4_FED_F_SIGNED | D4_FED_F_SEALED)) {
		if (known) {
			if ((w->flags & D4_FED_F_SEALED) ? !seal_proven(z, idx, w, pk) : !d4_fed_record_verify(w, pk))
				return D4_FED_IN_BAD_SIG;
			verified = 1;
		} else if (required) {
			return D4_FED_IN_UNKNOWN_KEY;
		}
	} else if (required) {
		return D4_FED_IN_UNSIGNED;
	}
	*onward = (w->flags & D4_FED_F_ONWARD) && (verified || direct);
	return D4_FED_IN_STORED;
}

/* The inbound rule, the signature and this hub's accepted types for one
 * record. */
static enum d4_fed_in_reason decide(const struct d4_fed_self *self, const struct d4_partner *p, uint8_t kind,
				    const struct d4_fed_wrec *r, const struct d4_fed_rx_filter *f, struct seals *z,
				    uint32_t idx, int *onward)
{
	*onward = 0;
	enum d4_fed_in_reason ir = d4_fed_inbound(self, p, kind, r);
	if (ir == D4_FED_IN_STORED)
		ir = sig_check(p, r, f, z, idx, onward);
	if (ir == D4_FED_IN_STORED && kind == D4_FED_KIND_FRAMES && f && f->type_ok &&
	    f->type_ok(f->arg, r->type, r->ext_type, r->ext_type_len) != 1)
		ir = D4_FED_IN_TYPE;
	return ir;
}

int d4_fed_receive_prepare(const struct d4_fed_self *self, const struct d4_partner *p, uint8_t kind, const uint8_t *buf,
			   size_t len, struct d4_fed_rx *rx, char *why, size_t whylen)
{
	return d4_fed_receive_prepare_with(self, p, kind, buf, len, NULL, rx, why, whylen);
}

int d4_fed_receive_prepare_with(const struct d4_fed_self *self, const struct d4_partner *p, uint8_t kind,
				const uint8_t *buf, size_t len, const struct d4_fed_rx_filter *filter,
				struct d4_fed_rx *rx, char *why, size_t whylen)
{
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	struct d4_fed_wrec r;
	memset(rx, 0, sizeof(*rx));
	rx->batch.notify_fd = -1;
	if (why && whylen)
		why[0] = '\0';
	if (!self || !p || !buf)
		return D4_EINVAL;

	int rc = d4_fed_batch_open(buf, len, &h, &it);
	if (rc < 0)
		return fail(D4_FED_RX_MALFORMED, why, whylen, "batch header: ", it.why[0] ? it.why : d4_strerror(rc));
	if (h.kind != kind)
		return fail(D4_FED_RX_KIND, why, whylen,
			    "the batch is of another kind: ", d4_fed_kind_name((enum d4_fed_kind)h.kind));
	if (memcmp(h.sender, p->hub, 16) != 0)
		return fail(D4_FED_RX_SENDER, why, whylen,
			    "the batch's sender is not the hub uuid of the partner this connection is mapped to", "");
	if (kind >= D4_FED_KIND_COUNT || !(p->in.kinds & (1u << kind)))
		return fail(D4_FED_RX_NOT_ACCEPTED, why, whylen,
			    "kind not accepted from this partner: ", d4_fed_kind_name((enum d4_fed_kind)kind));

	/* pass 0: the seals' roots (only a batch with seals) */
	struct seals z;
	memset(&z, 0, sizeof(z));
	if (h.nseals) {
		char swhy[128] = "";
		rc = seals_check(buf, len, &z, swhy, sizeof(swhy));
		if (rc) {
			seals_free(&z);
			return rc < 0 ? rc : fail(D4_FED_RX_MALFORMED, why, whylen, swhy, "");
		}
	}

	/* pass 1: every record checked; what the inbound rule keeps counted */
	size_t keep = 0, strbytes = 0, proofbytes = 0;
	uint64_t refused[D4_FED_IN_COUNT] = {0};
	uint32_t n = 0;
	/* each record's decision, so that pass 2 neither verifies a signature
	 * again nor can decide otherwise: bit 7 kept, bit 0 onward */
	uint8_t *dec = NULL;
	size_t dcap = 0;
	it.no_seal_digest = 1; /* pass 0 took them */
	while ((rc = d4_fed_batch_next(&it, &r)) == 1) {
		if (n == dcap) {
			size_t nc = dcap ? dcap * 2 : 256;
			uint8_t *nd = realloc(dec, nc);
			if (!nd) {
				free(dec);
				seals_free(&z);
				return D4_ENOMEM;
			}
			dec = nd;
			dcap = nc;
		}
		int onward = 0;
		enum d4_fed_in_reason ir = decide(self, p, kind, &r, filter, &z, n, &onward);
		dec[n] = (uint8_t)((ir == D4_FED_IN_STORED ? 0x80u : 0u) | (onward ? 1u : 0u));
		n++;
		if (ir != D4_FED_IN_STORED) {
			refused[ir < D4_FED_IN_COUNT ? ir : D4_FED_IN_KIND]++;
			continue;
		}
		keep++;
		strbytes += kind == D4_FED_KIND_FRAMES ? r.ext_type_len + 1
			    : kind == D4_FED_KIND_PDNS ? r.bailiwick_len + 1
						       : 0;
		/* a frame's proof is kept for relaying it (vectors hold theirs;
		 * tuples are merged, never relayed) */
		if (kind == D4_FED_KIND_FRAMES && (r.prov.flags & D4_FED_F_SEALED))
			proofbytes += proof_size(&r.prov);
	}
	if (rc < 0) {
		free(dec);
		seals_free(&z);
		char rec[160];
		snprintf(rec, sizeof(rec), "record %u: %s", (unsigned)n + 1, it.why[0] ? it.why : d4_strerror(rc));
		return fail(D4_FED_RX_MALFORMED, why, whylen, rec, "");
	}

	/* pass 2 */
	if (keep) {
		rx->provs = calloc(keep, sizeof(*rx->provs));
		rx->strings = malloc(strbytes ? strbytes : 1);
		rx->proofs = malloc(proofbytes ? proofbytes : 1);
		if (kind == D4_FED_KIND_FRAMES)
			rx->frames = calloc(keep, sizeof(*rx->frames));
		else if (kind == D4_FED_KIND_PDNS)
			rx->tuples = calloc(keep, sizeof(*rx->tuples));
		else if (kind == D4_FED_KIND_CERTS)
			rx->pssl = calloc(keep, sizeof(*rx->pssl));
		else
			rx->vectors = calloc(keep, sizeof(*rx->vectors));
		if (!rx->provs || !rx->strings || !rx->proofs ||
		    (!rx->frames && !rx->tuples && !rx->vectors && !rx->pssl)) {
			free(dec);
			seals_free(&z);
			d4_fed_rx_free(rx);
			return D4_ENOMEM;
		}
		if (d4_fed_batch_open(buf, len, &h, &it) < 0) {
			free(dec);
			seals_free(&z);
			d4_fed_rx_free(rx);
			return D4_EINVAL; /* pure decoder: cannot differ from pass 1 */
		}
		it.no_seal_digest = 1;
		size_t i = 0, off = 0, ri = 0, poff = 0, acap = 0;
		struct d4_x509 *x509 = kind == D4_FED_KIND_CERTS ? malloc(sizeof(*x509)) : NULL;
		if (kind == D4_FED_KIND_CERTS && !x509) {
			free(dec);
			seals_free(&z);
			d4_fed_rx_free(rx);
			return D4_ENOMEM;
		}
		while (i < keep && d4_fed_batch_next(&it, &r) == 1) {
			uint8_t d = ri < n ? dec[ri] : 0;
			ri++;
			if (!(d & 0x80u))
				continue;
			struct d4_store_fed_prov *pv = &rx->provs[i];
			prov_of(&r.prov, pv);
			if (kind == D4_FED_KIND_FRAMES) {
				struct d4_store_fed_frame *f = &rx->frames[i];
				f->origin_session = pv->stripped ? 0 : r.origin_session;
				if (r.prov.nsensors && !pv->stripped)
					memcpy(f->sensor, r.prov.sensors[0], 16);
				f->type = r.type;
				f->ext_type = keep_str(rx->strings, &off, r.ext_type, r.ext_type_len);
				f->tlp = r.prov.tlp;
				f->has_org = r.prov.has_org ? 1 : 0;
				if (f->has_org)
					memcpy(f->org, r.prov.org, 16);
				f->hdr_ts = r.hdr_ts;
				f->recv_ms = r.recv_ms;
				f->payload = r.payload;
				f->size = r.size;
				f->prov = pv;
				/* kept so that the frame can go on as it came */
				if (r.prov.flags & D4_FED_F_SIGNED) {
					f->sig_flags |= D4_STORE_FED_SIG_SIGNED;
					memcpy(f->sig, r.prov.sig, 64);
				}
				if (r.prov.flags & D4_FED_F_SEALED) {
					f->sig_flags |= D4_STORE_FED_SIG_SEALED;
					f->proof = (const uint8_t *)rx->proofs + poff;
					f->proof_len = (uint16_t)keep_proof(&z, &r.prov, rx->proofs + poff);
					poff += f->proof_len;
				}
				if (d & 1u)
					f->sig_flags |= D4_STORE_FED_SIG_ONWARD;
			} else if (kind == D4_FED_KIND_CERTS) {
				/* merged, like pDNS tuples: never relayed (the
				 * origin's seal is not kept per merged row) */
				if (pssl_of(rx, &acap, x509, &r, h.sender, &rx->pssl[i]) != 0)
					break;
			} else if (kind == D4_FED_KIND_BACKSCATTER) {
				struct d4_store_bs_vec *bv = &rx->vectors[i];
				vector_of(&r, h.sender, bv);
				if (r.prov.flags & D4_FED_F_SIGNED) {
					bv->sig_flags |= D4_STORE_FED_SIG_SIGNED;
					memcpy(bv->sig, r.prov.sig, 64);
				}
				if (r.prov.flags & D4_FED_F_SEALED) {
					bv->sig_flags |= D4_STORE_FED_SIG_SEALED;
					bv->proof_len = (uint16_t)keep_proof(&z, &r.prov, bv->proof);
				}
				if (d & 1u)
					bv->sig_flags |= D4_STORE_FED_SIG_ONWARD;
			} else {
				struct d4_store_fed_tuple *t = &rx->tuples[i];
				struct d4_store_pdns_obs *o = &t->obs;
				o->rrname = r.rrname;
				o->rrname_len = r.rrname_len;
				o->rrtype = r.rrtype;
				o->rdata = r.rdata;
				o->rdata_len = r.rdata_len;
				o->bailiwick = keep_str(rx->strings, &off, r.bailiwick, r.bailiwick_len);
				o->time_first = r.time_first;
				o->time_last = r.time_last;
				o->count = r.count;
				/* the store keeps one sensor per observation: the
				 * first of the set the origin saw it with */
				if (r.prov.nsensors && !pv->stripped) {
					memcpy(o->sensor, r.prov.sensors[0], 16);
					o->has_sensor = 1;
				}
				o->tlp = r.prov.tlp;
				if (r.prov.has_org)
					memcpy(o->org, r.prov.org, 16);
				t->prov = pv;
			}
			i++;
		}
		free(x509);
		if (i != keep) {
			free(dec);
			seals_free(&z);
			d4_fed_rx_free(rx);
			return D4_EINVAL;
		}
	}
	free(dec);
	seals_free(&z);

	struct d4_store_fed_batch *b = &rx->batch;
	memcpy(b->sender, h.sender, 16);
	d4_strlcpy(b->partner, p->name, sizeof(b->partner));
	b->kind = kind;
	b->from = h.from;
	b->from_len = h.from_len;
	b->to = h.to;
	b->to_len = h.to_len;
	b->frames = rx->frames;
	b->nframes = rx->frames ? keep : 0;
	b->tuples = rx->tuples;
	b->ntuples = rx->tuples ? keep : 0;
	b->vectors = rx->vectors;
	b->nvectors = rx->vectors ? keep : 0;
	b->pssl = rx->pssl;
	b->npssl = rx->pssl ? keep : 0;
	b->bytes = len;
	for (unsigned k = 0; k < D4_FED_IN_COUNT && k < D4_STORE_FED_REASONS; k++)
		b->refused[k] = refused[k];
	b->nrefused = D4_FED_IN_COUNT;
	b->notify_fd = -1;
	rx->nrecords = n;
	return D4_FED_RX_OK;
}
