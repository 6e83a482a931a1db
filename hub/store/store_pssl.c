/* d4hub store — passive SSL: certificates, public keys, handshake tuples,
 * their pivots, JA3/JA3S fingerprints, weak-key findings and the state of
 * the hub's consumer. Layout: docs/store.md "Passive SSL"; rules:
 * docs/passivessl.md "Store". */
#include "d4_store_pssl.h"
#include "store_internal.h"
#include "store_pssl_internal.h"
#include "store_wire_internal.h"

#include "d4_error.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_reader.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PSSL_REC_V1	 1u /* every row */
#define PSSL_RESUME_V1	 1u /* query resume cursors */
#define PSSL_NEXT_TUPLE	 "pssl_next_tuple"
#define PSSL_NEXT_KEY	 "pssl_next_key"
#define PSSL_CHANGE_SEQ	 "pssl_change_seq"
#define PSSL_RSA_KEYS	 "pssl_rsa_keys"
#define PSSL_WEAK_POS	 "pssl_weak_position"
#define PSSL_EXPIRE_DEF	 10000u
#define PSSL_CURSOR_NAME 64u /* names are 1..63 bytes */
#define PSSL_HASH	 16u /* truncated SHA-256 in keys */
#define PSSL_NK_CUT	 64u /* name bytes kept in a name index key (longer: cut || 01 || H8) */
#define PSSL_NK_MAX	 (PSSL_NK_CUT + 1u + 8u)
#define PSSL_DNS_MAX	 253u /* longer names are not indexed */
#define PSSL_CKEY_MAX	 (1u + PSSL_NK_MAX + 20u)
#define PSSL_TKEY_MAX	 (1u + D4_PSSL_JA4_MAX + 1u + 26u)

/* certificate pivot kinds (first byte of a pssl_cert_idx key) */
#define CK_SHA256 'H' /* sha256[32] || sha1 */
#define CK_KEY	  'K' /* key id BE || sha1 */
#define CK_NAME	  'N' /* name part || sha1 */
#define CK_ISSUER 'I' /* H(issuer)[16] || sha1 */
#define CK_RECENT 'R' /* ~last_seen BE || sha1 */
/* tuple pivot kinds (first byte of a pssl_tuple_idx key); then ip || port || id */
#define TK_IP	'A'
#define TK_CERT 'C' /* sha1[20] */
#define TK_JA3	'3' /* md5[16] */
#define TK_JA3S 'S' /* md5[16] */
#define TK_JA4	'4' /* string || 00 */
#define TK_SNI	'N' /* H(sni)[16] */

#define MF_ORG	  1u
#define MF_MIXED  2u
#define MF_SKETCH 4u

#define CF_PARSED 1u
#define CF_CA	  2u
#define CF_CN	  4u

#define TF_JA3	   1u
#define TF_JA3S	   2u
#define TF_CERT	   4u
#define TF_SNI	   8u
#define TF_JA4	   16u
#define TF_SNI_CUT 32u

static const enum store_dbi pssl_dbis[] = {
    DBI_PSSL_CERT, DBI_PSSL_DER,  DBI_PSSL_CIDX,   DBI_PSSL_KEY, DBI_PSSL_SPKI, DBI_PSSL_MOD,	  DBI_PSSL_TUPLE,
    DBI_PSSL_TKEY, DBI_PSSL_TIDX, DBI_PSSL_CHANGE, DBI_PSSL_FP,	 DBI_PSSL_WEAK, DBI_PSSL_WEAKIDX, DBI_PSSL_META};
#define PSSL_NDBI (sizeof(pssl_dbis) / sizeof(pssl_dbis[0]))

/* Linear counting over a 64-bit sketch (as the pDNS store): round(64 ln(64 /
 * zero bits)); all bits set saturates at the value for one zero bit. */
static const uint16_t sketch_est[65] = {
    266, 266, 222, 196, 177, 163, 151, 142, 133, 126, 119, 113, 107, 102, 97, 93, 89, 85, 81, 78, 74, 71,
    68,	 65,  63,  60,	58,  55,  53,  51,  48,	 46,  44,  42,	40,  39,  37, 35, 33, 32, 30, 28, 27, 25,
    24,	 23,  21,  20,	18,  17,  16,  15,  13,	 12,  11,  10,	9,   7,	  6,  5,  4,  3,  2,  1,  0};

static MDB_val mv(const void *p, size_t n)
{
	return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

static int absent(struct d4_store *s)
{
	for (size_t i = 0; i < PSSL_NDBI; i++)
		if (s->dbi_absent[pssl_dbis[i]])
			return 1;
	return 0;
}

static uint8_t tlp_norm(uint8_t t)
{
	return (t >= 1 && t <= 6) ? t : 6; /* NONE / UNCLEAR / invalid: fail closed (RED) */
}

static int zero16(const uint8_t *p)
{
	static const uint8_t z[16];
	return memcmp(p, z, 16) == 0;
}

static unsigned popcount64(uint64_t x)
{
	unsigned c = 0;
	for (; x; x &= x - 1)
		c++;
	return c;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* ---- hashing ---- */

/* Fetched once (EVP_sha256() looks the algorithm up at every init). */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* The first outlen (<= 32) bytes of SHA-256 over the parts (p[i], n[i]). */
static int hashv(const void *const *p, const size_t *n, size_t parts, uint8_t *out, size_t outlen)
{
	pthread_once(&sha256_once, sha256_fetch);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t full[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	int ok = ctx && sha256_md && EVP_DigestInit_ex(ctx, sha256_md, NULL) == 1;
	for (size_t i = 0; ok && i < parts; i++)
		ok = !n[i] || EVP_DigestUpdate(ctx, p[i], n[i]) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, full, &len) == 1 && len >= outlen;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return D4_EIO;
	memcpy(out, full, outlen);
	return 0;
}

static int hash1(const void *p, size_t n, uint8_t *out, size_t outlen)
{
	return hashv(&p, &n, 1, out, outlen);
}

/* ---- varints ---- */

static void wb_varint(struct wb *w, uint64_t v)
{
	while (v >= 0x80) {
		wb_u8(w, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	wb_u8(w, (uint8_t)v);
}

/* At most 10 bytes, the last one not above the 64th bit, and minimal (no
 * trailing zero group): one value has one encoding. */
static uint64_t rd_varint(struct d4_reader *r)
{
	uint64_t v = 0;
	for (unsigned sh = 0; sh < 70; sh += 7) {
		uint8_t c = d4_rd_u8(r);
		if (d4_rd_error(r))
			return 0;
		if (sh == 63 && c > 1)
			break;
		v |= (uint64_t)(c & 0x7f) << sh;
		if (!(c & 0x80)) {
			if (c == 0 && sh)
				break;
			return v;
		}
	}
	d4_rd_fail(r, D4_ECORRUPT);
	return 0;
}

static uint64_t rd_varint_max(struct d4_reader *r, uint64_t max)
{
	uint64_t v = rd_varint(r);
	if (v > max)
		d4_rd_fail(r, D4_ECORRUPT);
	return v;
}

static uint64_t zz_enc(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t zz_dec(uint64_t u)
{
	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static uint8_t rd_flags(struct d4_reader *r, uint8_t allowed)
{
	uint8_t f = d4_rd_u8(r);
	if (f & ~allowed)
		d4_rd_fail(r, D4_ECORRUPT);
	return f;
}

/* Strings: varint length, the bytes, a NUL (so that readers can hand out
 * pointers). text: no NUL inside (C strings); else raw bytes (SNI). */
static void wb_vstr(struct wb *w, const char *s, size_t n)
{
	wb_varint(w, n);
	wb_bytes(w, s, n);
	wb_u8(w, 0);
}

static const char *rd_vstr(struct d4_reader *r, size_t max, int text, size_t *len)
{
	uint64_t n = rd_varint_max(r, max);
	*len = 0;
	const uint8_t *p = d4_rd_ptr(r, (size_t)n + 1);
	if (d4_rd_error(r) || !p)
		return d4_rd_fail(r, D4_ECORRUPT), "";
	if (p[n] != 0 || (text && memchr(p, 0, (size_t)n)))
		return d4_rd_fail(r, D4_ECORRUPT), "";
	*len = (size_t)n;
	return (const char *)p;
}

/* ---- the merged part of a row ---- */

static void wb_meta(struct wb *w, const struct pssl_meta *m)
{
	wb_varint(w, m->first);
	wb_varint(w, m->last - m->first);
	wb_varint(w, m->count);
	wb_u8(w, m->tlp);
	uint8_t f = (uint8_t)((!m->org_mixed && !zero16(m->org) ? MF_ORG : 0) | (m->org_mixed ? MF_MIXED : 0) |
			      (m->sketch ? MF_SKETCH : 0));
	wb_u8(w, f);
	if (f & MF_ORG)
		wb_bytes(w, m->org, 16);
	wb_u8(w, m->nsens);
	wb_bytes(w, m->sens, 16u * m->nsens);
	if (f & MF_SKETCH)
		wb_u64(w, m->sketch);
	wb_u8(w, m->nhubs);
	wb_bytes(w, m->hubs, 16u * m->nhubs);
}

static void rd_meta(struct d4_reader *r, struct pssl_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->first = rd_varint(r);
	uint64_t d = rd_varint(r);
	if (m->first + d < m->first)
		d4_rd_fail(r, D4_ECORRUPT);
	m->last = m->first + d;
	m->count = rd_varint(r);
	m->tlp = d4_rd_u8(r);
	if (m->tlp < 1 || m->tlp > 6)
		d4_rd_fail(r, D4_ECORRUPT);
	uint8_t f = rd_flags(r, MF_ORG | MF_MIXED | MF_SKETCH);
	if ((f & MF_ORG) && (f & MF_MIXED))
		d4_rd_fail(r, D4_ECORRUPT);
	m->org_mixed = (f & MF_MIXED) ? 1 : 0;
	if (f & MF_ORG) {
		d4_rd_copy(r, m->org, 16);
		if (!d4_rd_error(r) && zero16(m->org))
			d4_rd_fail(r, D4_ECORRUPT);
	}
	m->nsens = d4_rd_u8(r);
	if (m->nsens > D4_PSSL_SENSORS_KEEP)
		return (void)d4_rd_fail(r, D4_ECORRUPT);
	d4_rd_copy(r, m->sens, 16u * m->nsens);
	if (f & MF_SKETCH) {
		m->sketch = d4_rd_u64be(r);
		/* the sketch only fills once the kept set is full */
		if (!d4_rd_error(r) && (!m->sketch || m->nsens != D4_PSSL_SENSORS_KEEP))
			d4_rd_fail(r, D4_ECORRUPT);
	}
	m->nhubs = d4_rd_u8(r);
	if (m->nhubs > D4_PSSL_HUBS_KEEP)
		return (void)d4_rd_fail(r, D4_ECORRUPT);
	d4_rd_copy(r, m->hubs, 16u * m->nhubs);
}

static uint32_t meta_sensors(const struct pssl_meta *m)
{
	return m->nsens + (m->sketch ? sketch_est[64 - popcount64(m->sketch)] : 0);
}

static void sens_add(struct pssl_meta *m, const uint8_t u[16])
{
	unsigned lo = 0, hi = m->nsens;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		int c = memcmp(m->sens[mid], u, 16);
		if (c == 0)
			return;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (m->nsens < D4_PSSL_SENSORS_KEEP) {
		memmove(m->sens[lo + 1], m->sens[lo], 16u * (m->nsens - lo));
		memcpy(m->sens[lo], u, 16);
		m->nsens++;
		return;
	}
	/* one bit per sensor beyond the kept set (splitmix64 finaliser) */
	uint64_t h = d4_get_u64be(u) ^ (d4_get_u64be(u + 8) * 0x9e3779b97f4a7c15ull);
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
	h ^= h >> 31;
	m->sketch |= 1ull << (h >> 58);
}

/* Sorted, bounded: once full, further hubs are not kept. */
static void hub_add(struct pssl_meta *m, const uint8_t h[16])
{
	unsigned i = 0;
	while (i < m->nhubs && memcmp(m->hubs[i], h, 16) < 0)
		i++;
	if ((i < m->nhubs && !memcmp(m->hubs[i], h, 16)) || m->nhubs >= D4_PSSL_HUBS_KEEP)
		return;
	memmove(m->hubs[i + 1], m->hubs[i], 16u * (m->nhubs - i));
	memcpy(m->hubs[i], h, 16);
	m->nhubs++;
}

/* One observation's part, normalised (times ordered, count >= 1, TLP). */
struct obs_norm {
	uint64_t tf, tl, count;
	uint8_t tlp;
	const struct d4_store_pssl_obs *o;
};

static void obs_norm(const struct d4_store_pssl_obs *o, struct obs_norm *n)
{
	n->tf = o->time_first < o->time_last ? o->time_first : o->time_last;
	n->tl = o->time_first < o->time_last ? o->time_last : o->time_first;
	n->count = o->count ? o->count : 1;
	n->tlp = tlp_norm(o->tlp);
	n->o = o;
}

/* The pDNS rules: min/max times, summed count, the most restrictive TLP,
 * the org while the sources agree. */
static void meta_merge(struct pssl_meta *m, const struct obs_norm *n, int first)
{
	const struct d4_store_pssl_obs *o = n->o;
	if (first) {
		memset(m, 0, sizeof(*m));
		m->first = n->tf;
		m->last = n->tl;
		m->count = n->count;
		m->tlp = n->tlp;
		memcpy(m->org, o->org, 16);
	} else {
		if (n->tf < m->first)
			m->first = n->tf;
		if (n->tl > m->last)
			m->last = n->tl;
		m->count = sat_add(m->count, n->count);
		if (n->tlp > m->tlp)
			m->tlp = n->tlp;
		if (!m->org_mixed && memcmp(m->org, o->org, 16)) {
			m->org_mixed = 1;
			memset(m->org, 0, 16);
		}
	}
	if (o->has_sensor)
		sens_add(m, o->sensor);
	if (!zero16(o->origin))
		hub_add(m, o->origin);
}

/* ---- certificate rows ---- */

size_t store_pssl_crec_encode(const struct pssl_crec *c, uint8_t *buf)
{
	struct wb w = {buf, 0, PSSL_CREC_MAX};
	wb_u8(&w, PSSL_REC_V1);
	uint8_t f = (uint8_t)((c->parsed ? CF_PARSED : 0) | (c->parsed && c->is_ca ? CF_CA : 0) |
			      (c->parsed && c->has_cn ? CF_CN : 0));
	wb_u8(&w, f);
	wb_bytes(&w, c->sha256, 32);
	wb_meta(&w, &c->m);
	if (!c->parsed)
		return w.len;
	wb_varint(&w, c->key_id);
	wb_varint(&w, c->x509_flags);
	wb_u8(&w, c->version);
	wb_varint(&w, zz_enc(c->not_before));
	wb_varint(&w, zz_enc(c->not_after));
	const char *str[4] = {c->subject, c->issuer, c->serial, c->sig_alg};
	for (int i = 0; i < 4; i++)
		wb_vstr(&w, str[i], strnlen(str[i], D4_PSSL_NAME_MAX));
	if (c->has_cn)
		wb_vstr(&w, c->cn, strnlen(c->cn, D4_PSSL_NAME_MAX));
	wb_u8(&w, (uint8_t)c->n_san);
	for (size_t i = 0; i < c->n_san; i++) {
		wb_u8(&w, c->san[i].type);
		wb_u8(&w, (uint8_t)c->san[i].len);
		wb_bytes(&w, c->san[i].value, c->san[i].len);
	}
	return w.len;
}

int store_pssl_crec_decode(const uint8_t *p, size_t n, struct pssl_crec *c)
{
	struct d4_reader r;
	memset(c, 0, sizeof(*c));
	c->subject = c->issuer = c->serial = c->sig_alg = "";
	d4_rd_init(&r, p, n);
	if (d4_rd_u8(&r) != PSSL_REC_V1)
		return D4_ECORRUPT;
	uint8_t f = rd_flags(&r, CF_PARSED | CF_CA | CF_CN);
	c->parsed = (f & CF_PARSED) ? 1 : 0;
	if (!c->parsed && f)
		return D4_ECORRUPT;
	c->is_ca = (f & CF_CA) ? 1 : 0;
	c->has_cn = (f & CF_CN) ? 1 : 0;
	d4_rd_copy(&r, c->sha256, 32);
	rd_meta(&r, &c->m);
	if (c->parsed && !d4_rd_error(&r)) {
		size_t l;
		c->key_id = rd_varint(&r);
		c->x509_flags = (uint32_t)rd_varint_max(&r, UINT32_MAX);
		c->version = d4_rd_u8(&r);
		c->not_before = zz_dec(rd_varint(&r));
		c->not_after = zz_dec(rd_varint(&r));
		c->subject = rd_vstr(&r, D4_PSSL_NAME_MAX, 1, &l);
		c->issuer = rd_vstr(&r, D4_PSSL_NAME_MAX, 1, &l);
		c->serial = rd_vstr(&r, D4_PSSL_NAME_MAX, 1, &l);
		c->sig_alg = rd_vstr(&r, D4_PSSL_NAME_MAX, 1, &l);
		if (c->has_cn)
			c->cn = rd_vstr(&r, D4_PSSL_NAME_MAX, 1, &l);
		c->n_san = d4_rd_u8(&r);
		if (c->n_san > D4_PSSL_SAN_MAX)
			return D4_ECORRUPT;
		for (size_t i = 0; i < c->n_san && !d4_rd_error(&r); i++) {
			struct d4_store_pssl_san *s = &c->san[i];
			s->type = d4_rd_u8(&r);
			s->len = d4_rd_u8(&r);
			s->value = d4_rd_ptr(&r, s->len);
			if (!d4_rd_error(&r) &&
			    (s->type < 1 || s->type > 2 || (s->type == 2 && s->len != 4 && s->len != 16)))
				d4_rd_fail(&r, D4_ECORRUPT);
		}
	}
	return rd_done(&r);
}

/* ---- key rows ---- */

size_t store_pssl_krec_encode(const struct pssl_krec *k, uint8_t *buf)
{
	struct wb w = {buf, 0, PSSL_KREC_MAX};
	wb_u8(&w, PSSL_REC_V1);
	wb_u8(&w, k->key_type);
	wb_varint(&w, k->key_bits);
	wb_bytes(&w, k->spki, 32);
	wb_varint(&w, k->first_seen);
	wb_varint(&w, k->certs);
	wb_u8(&w, k->nsubj);
	for (unsigned i = 0; i < k->nsubj; i++)
		wb_u64(&w, k->subj[i]);
	wb_u8(&w, k->subj_sketch ? 1 : 0);
	if (k->subj_sketch)
		wb_u64(&w, k->subj_sketch);
	wb_vstr(&w, k->key_alg, strnlen(k->key_alg, 127));
	wb_vstr(&w, k->curve, strnlen(k->curve, 127));
	wb_varint(&w, k->modulus_len);
	wb_bytes(&w, k->modulus, k->modulus_len);
	wb_varint(&w, k->exponent_len);
	wb_bytes(&w, k->exponent, k->exponent_len);
	return w.len;
}

int store_pssl_krec_decode(const uint8_t *p, size_t n, struct pssl_krec *k)
{
	struct d4_reader r;
	size_t l;
	memset(k, 0, sizeof(*k));
	k->key_alg = k->curve = "";
	d4_rd_init(&r, p, n);
	if (d4_rd_u8(&r) != PSSL_REC_V1)
		return D4_ECORRUPT;
	k->key_type = d4_rd_u8(&r);
	k->key_bits = (uint32_t)rd_varint_max(&r, UINT32_MAX);
	d4_rd_copy(&r, k->spki, 32);
	k->first_seen = rd_varint(&r);
	k->certs = rd_varint(&r);
	k->nsubj = d4_rd_u8(&r);
	if (k->nsubj > PSSL_SUBJ_KEEP)
		return D4_ECORRUPT;
	for (unsigned i = 0; i < k->nsubj; i++)
		k->subj[i] = d4_rd_u64be(&r);
	uint8_t hs = rd_flags(&r, 1);
	if (hs) {
		k->subj_sketch = d4_rd_u64be(&r);
		if (!d4_rd_error(&r) && (!k->subj_sketch || k->nsubj != PSSL_SUBJ_KEEP))
			d4_rd_fail(&r, D4_ECORRUPT);
	}
	k->key_alg = rd_vstr(&r, 127, 1, &l);
	k->curve = rd_vstr(&r, 127, 1, &l);
	k->modulus_len = (size_t)rd_varint_max(&r, D4_PSSL_MODULUS_MAX);
	k->modulus = d4_rd_ptr(&r, k->modulus_len);
	k->exponent_len = (size_t)rd_varint_max(&r, D4_PSSL_EXPONENT_MAX);
	k->exponent = d4_rd_ptr(&r, k->exponent_len);
	if (!k->modulus_len)
		k->modulus = NULL;
	if (!k->exponent_len)
		k->exponent = NULL;
	return rd_done(&r);
}

static uint64_t key_subjects(const struct pssl_krec *k)
{
	return k->nsubj + (k->subj_sketch ? sketch_est[64 - popcount64(k->subj_sketch)] : 0);
}

/* Adds a subject hash to the key's distinct set; 1 when it was new. */
static void subj_add(struct pssl_krec *k, uint64_t h)
{
	for (unsigned i = 0; i < k->nsubj; i++)
		if (k->subj[i] == h)
			return;
	if (k->nsubj < PSSL_SUBJ_KEEP) {
		k->subj[k->nsubj++] = h;
		return;
	}
	k->subj_sketch |= 1ull << (h >> 58);
}

/* ---- tuple rows ---- */

size_t store_pssl_trec_encode(const struct pssl_trec *t, uint8_t *buf)
{
	struct wb w = {buf, 0, PSSL_TREC_MAX};
	wb_u8(&w, PSSL_REC_V1);
	uint8_t f = (uint8_t)((t->has_ja3 ? TF_JA3 : 0) | (t->has_ja3s ? TF_JA3S : 0) | (t->has_cert ? TF_CERT : 0) |
			      (t->has_sni ? TF_SNI : 0) | (t->has_ja4 ? TF_JA4 : 0) |
			      (t->has_sni && t->sni_cut ? TF_SNI_CUT : 0));
	wb_u8(&w, f);
	wb_bytes(&w, t->ip, 16);
	wb_u16(&w, t->port);
	wb_varint(&w, t->change_seq);
	if (t->has_ja3)
		wb_bytes(&w, t->ja3, 16);
	if (t->has_ja3s)
		wb_bytes(&w, t->ja3s, 16);
	if (t->has_sni)
		wb_vstr(&w, t->sni, t->sni_len);
	if (t->has_ja4)
		wb_vstr(&w, t->ja4, t->ja4_len);
	wb_u8(&w, t->n_chain);
	wb_bytes(&w, t->chain, 20u * t->n_chain);
	wb_meta(&w, &t->m);
	return w.len;
}

int store_pssl_trec_decode(const uint8_t *p, size_t n, struct pssl_trec *t)
{
	struct d4_reader r;
	memset(t, 0, sizeof(*t));
	d4_rd_init(&r, p, n);
	if (d4_rd_u8(&r) != PSSL_REC_V1)
		return D4_ECORRUPT;
	uint8_t f = rd_flags(&r, TF_JA3 | TF_JA3S | TF_CERT | TF_SNI | TF_JA4 | TF_SNI_CUT);
	if ((f & TF_SNI_CUT) && !(f & TF_SNI))
		return D4_ECORRUPT;
	t->has_ja3 = (f & TF_JA3) ? 1 : 0;
	t->has_ja3s = (f & TF_JA3S) ? 1 : 0;
	t->has_cert = (f & TF_CERT) ? 1 : 0;
	t->has_sni = (f & TF_SNI) ? 1 : 0;
	t->has_ja4 = (f & TF_JA4) ? 1 : 0;
	t->sni_cut = (f & TF_SNI_CUT) ? 1 : 0;
	d4_rd_copy(&r, t->ip, 16);
	t->port = d4_rd_u16be(&r);
	t->change_seq = rd_varint(&r);
	if (t->has_ja3)
		d4_rd_copy(&r, t->ja3, 16);
	if (t->has_ja3s)
		d4_rd_copy(&r, t->ja3s, 16);
	if (t->has_sni) {
		t->sni = rd_vstr(&r, D4_PSSL_SNI_MAX, 0, &t->sni_len);
		if (!d4_rd_error(&r) && !t->sni_len)
			d4_rd_fail(&r, D4_ECORRUPT);
	}
	if (t->has_ja4) {
		t->ja4 = rd_vstr(&r, D4_PSSL_JA4_MAX, 1, &t->ja4_len);
		if (!d4_rd_error(&r) && !t->ja4_len)
			d4_rd_fail(&r, D4_ECORRUPT);
	}
	t->n_chain = d4_rd_u8(&r);
	if (t->n_chain > D4_PSSL_CHAIN_MAX || (t->has_cert && !t->n_chain))
		return D4_ECORRUPT;
	d4_rd_copy(&r, t->chain, 20u * t->n_chain);
	rd_meta(&r, &t->m);
	return rd_done(&r);
}

/* ---- fingerprint rows ---- */

size_t store_pssl_frec_encode(const struct pssl_frec *f, uint8_t *buf)
{
	struct wb w = {buf, 0, PSSL_FREC_MAX};
	wb_u8(&w, PSSL_REC_V1);
	wb_varint(&w, f->first);
	wb_varint(&w, f->last - f->first);
	wb_varint(&w, f->count);
	wb_u8(&w, f->tlp);
	wb_u8(&w, f->str ? 1 : 0);
	if (f->str)
		wb_vstr(&w, f->str, f->str_len);
	return w.len;
}

int store_pssl_frec_decode(const uint8_t *p, size_t n, struct pssl_frec *f)
{
	struct d4_reader r;
	memset(f, 0, sizeof(*f));
	d4_rd_init(&r, p, n);
	if (d4_rd_u8(&r) != PSSL_REC_V1)
		return D4_ECORRUPT;
	f->first = rd_varint(&r);
	uint64_t d = rd_varint(&r);
	if (f->first + d < f->first)
		d4_rd_fail(&r, D4_ECORRUPT);
	f->last = f->first + d;
	f->count = rd_varint(&r);
	f->tlp = d4_rd_u8(&r);
	if (f->tlp < 1 || f->tlp > 6)
		d4_rd_fail(&r, D4_ECORRUPT);
	if (rd_flags(&r, 1))
		f->str = rd_vstr(&r, D4_PSSL_JA3_STR_MAX, 1, &f->str_len);
	return rd_done(&r);
}

/* ---- findings ---- */

size_t store_pssl_find_encode(const struct d4_store_pssl_finding *f, uint8_t *buf)
{
	struct wb w = {buf, 0, PSSL_FIND_MAX};
	wb_u8(&w, PSSL_REC_V1);
	wb_varint(&w, f->reason);
	wb_varint(&w, f->found_s);
	wb_varint(&w, f->factor ? f->factor_len : 0);
	if (f->factor)
		wb_bytes(&w, f->factor, f->factor_len);
	return w.len;
}

int store_pssl_find_decode(const uint8_t *k, size_t kn, const uint8_t *p, size_t n, struct d4_store_pssl_finding *f)
{
	memset(f, 0, sizeof(*f));
	if (kn != 17)
		return D4_ECORRUPT;
	f->kind = k[0];
	f->id = d4_get_u64be(k + 1);
	f->other = d4_get_u64be(k + 9);
	struct d4_reader r;
	d4_rd_init(&r, p, n);
	if (d4_rd_u8(&r) != PSSL_REC_V1)
		return D4_ECORRUPT;
	f->reason = (uint16_t)rd_varint_max(&r, UINT16_MAX);
	f->found_s = rd_varint(&r);
	f->factor_len = (size_t)rd_varint_max(&r, D4_PSSL_FACTOR_MAX);
	f->factor = d4_rd_ptr(&r, f->factor_len);
	if (!f->factor_len)
		f->factor = NULL;
	return rd_done(&r);
}

/* ---- counters ---- */

size_t store_pssl_cnt_encode(const struct d4_store_pssl_counters *c, uint8_t *buf)
{
	struct wb w = {buf, 0, PSSL_CNT_MAX};
	wb_u8(&w, PSSL_REC_V1);
	wb_varint(&w, c->frames);
	wb_varint(&w, c->handshakes);
	wb_varint(&w, c->certs);
	wb_varint(&w, c->certs_new);
	wb_varint(&w, c->bad_lines);
	wb_varint(&w, c->bad_packets);
	wb_varint(&w, c->bad_certs);
	return w.len;
}

int store_pssl_cnt_decode(const uint8_t *p, size_t n, struct d4_store_pssl_counters *c)
{
	struct d4_reader r;
	d4_rd_init(&r, p, n);
	if (d4_rd_u8(&r) != PSSL_REC_V1)
		return D4_ECORRUPT;
	c->frames = rd_varint(&r);
	c->handshakes = rd_varint(&r);
	c->certs = rd_varint(&r);
	c->certs_new = rd_varint(&r);
	c->bad_lines = rd_varint(&r);
	c->bad_packets = rd_varint(&r);
	c->bad_certs = rd_varint(&r);
	return rd_done(&r);
}

/* ---- names (the CERTS_BY_NAME index) ---- */

/* A DNS name as indexed: trailing dot dropped, ASCII lower-cased, labels
 * reversed, each followed by a dot ("www.Example.com" -> "com.example.www.").
 * Returns its length, or 0 when the name is not indexed (empty, longer than
 * PSSL_DNS_MAX, a byte below 0x21 or 0x7f). out has PSSL_DNS_MAX + 2 bytes. */
static size_t name_rev(const uint8_t *in, size_t n, char *out)
{
	char low[PSSL_DNS_MAX + 1];
	if (n && in[n - 1] == '.')
		n--;
	if (!n || n > PSSL_DNS_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = in[i];
		if (c < 0x21 || c == 0x7f)
			return 0;
		low[i] = (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
	}
	size_t o = 0, end = n;
	for (size_t i = n; i-- > 0;) {
		if (low[i] == '.' || i == 0) {
			size_t b = low[i] == '.' ? i + 1 : 0;
			memcpy(out + o, low + b, end - b);
			o += end - b;
			out[o++] = '.';
			end = i;
		}
	}
	if (low[0] == '.') { /* a leading dot: an empty last label */
		out[o++] = '.';
	}
	out[o] = 0;
	return o;
}

/* The name part of an index key: the reversed name and 00, or its first
 * PSSL_NK_CUT bytes, 01 and 8 bytes of its hash. */
static int name_part(const char *rev, size_t n, uint8_t *out, size_t *len)
{
	if (n <= PSSL_NK_CUT) {
		memcpy(out, rev, n);
		out[n] = 0;
		*len = n + 1;
		return 0;
	}
	memcpy(out, rev, PSSL_NK_CUT);
	out[PSSL_NK_CUT] = 1;
	*len = PSSL_NK_MAX;
	return hash1(rev, n, out + PSSL_NK_CUT + 1, 8);
}

/* The names of a certificate (cn first, then its DNS SANs) as reversed
 * names; returns how many (at most 1 + D4_PSSL_SAN_MAX). */
#define CERT_NAMES (1 + D4_PSSL_SAN_MAX)
struct cert_names {
	char rev[CERT_NAMES][PSSL_DNS_MAX + 2];
	size_t len[CERT_NAMES];
	size_t n;
};

static void cert_names(const char *cn, const struct d4_store_pssl_san *san, size_t n_san, struct cert_names *cn_out)
{
	cn_out->n = 0;
	if (cn) {
		size_t l = name_rev((const uint8_t *)cn, strnlen(cn, PSSL_DNS_MAX + 2), cn_out->rev[0]);
		if (l)
			cn_out->len[cn_out->n++] = l;
	}
	for (size_t i = 0; i < n_san; i++) {
		if (san[i].type != 1)
			continue;
		size_t l = name_rev(san[i].value, san[i].len, cn_out->rev[cn_out->n]);
		if (l)
			cn_out->len[cn_out->n++] = l;
	}
}

/* ---- keys of the index tables ---- */

static size_t ckey(uint8_t kind, const void *part, size_t plen, const uint8_t sha1[20], uint8_t *k)
{
	k[0] = kind;
	if (plen)
		memcpy(k + 1, part, plen);
	memcpy(k + 1 + plen, sha1, 20);
	return 1 + plen + 20;
}

static size_t ckey_recent(uint64_t last, const uint8_t sha1[20], uint8_t *k)
{
	uint8_t p[8];
	d4_put_u64be(p, ~last);
	return ckey(CK_RECENT, p, 8, sha1, k);
}

static size_t tkey(uint8_t kind, const void *part, size_t plen, const uint8_t ip[16], uint16_t port, uint64_t id,
		   uint8_t *k)
{
	k[0] = kind;
	if (plen)
		memcpy(k + 1, part, plen);
	memcpy(k + 1 + plen, ip, 16);
	d4_put_u16be(k + 17 + plen, port);
	d4_put_u64be(k + 19 + plen, id);
	return 27 + plen;
}

/* ---- apply ---- */

#define PSSL_BUF_MAX                                                                                                   \
	(PSSL_CREC_MAX > PSSL_TREC_MAX ? (PSSL_CREC_MAX > PSSL_KREC_MAX ? PSSL_CREC_MAX : PSSL_KREC_MAX)               \
				       : (PSSL_TREC_MAX > PSSL_KREC_MAX ? PSSL_TREC_MAX : PSSL_KREC_MAX))

struct pa {
	struct d4_store *s;
	MDB_txn *txn;
	uint64_t next_tuple, next_key, change_seq, rsa_keys;
	uint64_t missing;
	uint8_t buf[PSSL_BUF_MAX + PSSL_FREC_MAX + D4_PSSL_DER_MAX + 1];
	struct pssl_crec crec;
	struct pssl_krec krec;
	struct pssl_trec trec;
	struct cert_names names;
};

static int put(struct pa *a, enum store_dbi d, const void *k, size_t kl, const void *v, size_t vl)
{
	MDB_val key = mv(k, kl), val = mv(v, vl);
	return store_rc(mdb_put(a->txn, a->s->dbi[d], &key, &val, 0), "pssl put");
}

static int del(struct d4_store *s, MDB_txn *txn, enum store_dbi d, const void *k, size_t kl)
{
	MDB_val key = mv(k, kl);
	int rc = mdb_del(txn, s->dbi[d], &key, NULL);
	return rc == MDB_NOTFOUND ? 0 : store_rc(rc, "pssl del");
}

/* 0 (found, *v set), D4_ENOTFOUND or a store error. */
static int get(struct d4_store *s, MDB_txn *txn, enum store_dbi d, const void *k, size_t kl, MDB_val *v)
{
	MDB_val key = mv(k, kl);
	int rc = mdb_get(txn, s->dbi[d], &key, v);
	if (rc == MDB_NOTFOUND)
		return D4_ENOTFOUND;
	return store_rc(rc, "pssl get");
}

/* The key row of a new certificate's public key: found by SPKI (its
 * counts updated) or created. *id gets its id. */
static int key_upsert(struct pa *a, const struct d4_store_pssl_cert *c, uint64_t seen, uint64_t *id)
{
	MDB_val v;
	uint8_t k[8];
	const char *subj = c->subject ? c->subject : "";
	uint8_t sh[8];
	int rc = hash1(subj, strnlen(subj, D4_PSSL_NAME_MAX), sh, 8);
	if (rc)
		return rc;
	struct pssl_krec *kr = &a->krec;
	rc = get(a->s, a->txn, DBI_PSSL_SPKI, c->spki_sha256, 32, &v);
	if (rc == 0) {
		if (v.mv_size != 8)
			return D4_ECORRUPT;
		*id = d4_get_u64be(v.mv_data);
		memcpy(k, v.mv_data, 8);
		if ((rc = get(a->s, a->txn, DBI_PSSL_KEY, k, 8, &v)))
			return rc == D4_ENOTFOUND ? D4_ECORRUPT : rc;
		if ((rc = store_pssl_krec_decode(v.mv_data, v.mv_size, kr)))
			return rc;
		kr->certs++;
		if (seen < kr->first_seen)
			kr->first_seen = seen;
		subj_add(kr, d4_get_u64be(sh));
		size_t l = store_pssl_krec_encode(kr, a->buf);
		return put(a, DBI_PSSL_KEY, k, 8, a->buf, l);
	}
	if (rc != D4_ENOTFOUND)
		return rc;
	*id = a->next_key++;
	d4_put_u64be(k, *id);
	memset(kr, 0, sizeof(*kr));
	kr->key_type = c->key_type;
	kr->key_bits = c->key_bits;
	memcpy(kr->spki, c->spki_sha256, 32);
	kr->first_seen = seen;
	kr->certs = 1;
	subj_add(kr, d4_get_u64be(sh));
	kr->key_alg = c->key_alg ? c->key_alg : "";
	kr->curve = c->curve ? c->curve : "";
	kr->modulus = c->modulus;
	kr->modulus_len = c->modulus ? c->modulus_len : 0;
	kr->exponent = c->exponent;
	kr->exponent_len = c->exponent ? c->exponent_len : 0;
	size_t l = store_pssl_krec_encode(kr, a->buf);
	if ((rc = put(a, DBI_PSSL_KEY, k, 8, a->buf, l)) || (rc = put(a, DBI_PSSL_SPKI, c->spki_sha256, 32, k, 8)))
		return rc;
	if (kr->modulus_len) {
		uint8_t mk[PSSL_HASH + 8];
		if ((rc = hash1(kr->modulus, kr->modulus_len, mk, PSSL_HASH)))
			return rc;
		memcpy(mk + PSSL_HASH, k, 8);
		if ((rc = put(a, DBI_PSSL_MOD, mk, sizeof(mk), "", 0)))
			return rc;
	}
	if (c->key_type == 1)
		a->rsa_keys++;
	return 0;
}

static int key_first_seen(struct pa *a, uint64_t id, uint64_t seen)
{
	uint8_t k[8];
	MDB_val v;
	d4_put_u64be(k, id);
	int rc = get(a->s, a->txn, DBI_PSSL_KEY, k, 8, &v);
	if (rc)
		return rc == D4_ENOTFOUND ? D4_ECORRUPT : rc;
	if ((rc = store_pssl_krec_decode(v.mv_data, v.mv_size, &a->krec)))
		return rc;
	if (a->krec.first_seen <= seen)
		return 0;
	a->krec.first_seen = seen;
	size_t l = store_pssl_krec_encode(&a->krec, a->buf);
	return put(a, DBI_PSSL_KEY, k, 8, a->buf, l);
}

/* Merges one certificate of a handshake: *present = 1 when it is stored
 * (now), 0 when it was given without DER and is not stored. */
static int cert_merge(struct pa *a, const struct d4_store_pssl_cert *c, const struct obs_norm *n, int *present)
{
	MDB_val v;
	uint8_t k[PSSL_CKEY_MAX], k2[PSSL_CKEY_MAX];
	struct pssl_crec *cr = &a->crec;
	int rc = get(a->s, a->txn, DBI_PSSL_CERT, c->sha1, 20, &v);
	*present = 0;
	if (rc == 0) {
		if ((rc = store_pssl_crec_decode(v.mv_data, v.mv_size, cr)))
			return rc;
		uint64_t old_last = cr->m.last, old_first = cr->m.first, key_id = cr->parsed ? cr->key_id : 0;
		meta_merge(&cr->m, n, 0);
		size_t l = store_pssl_crec_encode(cr, a->buf);
		if ((rc = put(a, DBI_PSSL_CERT, c->sha1, 20, a->buf, l)))
			return rc;
		*present = 1;
		/* a sighting older than any before (a sensor's backlog): the key's
		 * first_seen follows (rare: one more row) */
		if (key_id && cr->m.first < old_first && (rc = key_first_seen(a, key_id, cr->m.first)))
			return rc;
		if (cr->m.last == old_last)
			return 0;
		if ((rc = del(a->s, a->txn, DBI_PSSL_CIDX, k, ckey_recent(old_last, c->sha1, k))))
			return rc;
		return put(a, DBI_PSSL_CIDX, k, ckey_recent(cr->m.last, c->sha1, k), "", 0);
	}
	if (rc != D4_ENOTFOUND)
		return rc;
	if (!c->der) {
		a->missing++;
		return 0;
	}
	memset(cr, 0, sizeof(*cr));
	cr->parsed = c->parsed ? 1 : 0;
	memcpy(cr->sha256, c->sha256, 32);
	meta_merge(&cr->m, n, 1);
	if (cr->parsed) {
		if ((rc = key_upsert(a, c, n->tf, &cr->key_id)))
			return rc;
		cr->is_ca = c->is_ca ? 1 : 0;
		cr->x509_flags = c->x509_flags;
		cr->version = c->version;
		cr->not_before = c->not_before;
		cr->not_after = c->not_after;
		cr->subject = c->subject ? c->subject : "";
		cr->issuer = c->issuer ? c->issuer : "";
		cr->serial = c->serial ? c->serial : "";
		cr->sig_alg = c->sig_alg ? c->sig_alg : "";
		cr->has_cn = c->cn ? 1 : 0;
		cr->cn = c->cn;
		cr->n_san = c->n_san;
		if (c->n_san)
			memcpy(cr->san, c->san, c->n_san * sizeof(c->san[0]));
	}
	size_t l = store_pssl_crec_encode(cr, a->buf);
	if ((rc = put(a, DBI_PSSL_CERT, c->sha1, 20, a->buf, l)))
		return rc;
	a->buf[0] = PSSL_REC_V1;
	memcpy(a->buf + 1, c->der, c->der_len);
	if ((rc = put(a, DBI_PSSL_DER, c->sha1, 20, a->buf, 1 + c->der_len)))
		return rc;
	*present = 1;
	if ((rc = put(a, DBI_PSSL_CIDX, k, ckey(CK_SHA256, c->sha256, 32, c->sha1, k), "", 0)) ||
	    (rc = put(a, DBI_PSSL_CIDX, k, ckey_recent(cr->m.last, c->sha1, k), "", 0)))
		return rc;
	if (!cr->parsed)
		return 0;
	uint8_t part[PSSL_NK_MAX];
	size_t pl;
	d4_put_u64be(part, cr->key_id);
	if ((rc = put(a, DBI_PSSL_CIDX, k, ckey(CK_KEY, part, 8, c->sha1, k), "", 0)))
		return rc;
	if ((rc = hash1(cr->issuer, strnlen(cr->issuer, D4_PSSL_NAME_MAX), part, PSSL_HASH)) ||
	    (rc = put(a, DBI_PSSL_CIDX, k, ckey(CK_ISSUER, part, PSSL_HASH, c->sha1, k), "", 0)))
		return rc;
	cert_names(cr->cn, cr->san, cr->n_san, &a->names);
	for (size_t i = 0; i < a->names.n && !rc; i++) {
		if (!(rc = name_part(a->names.rev[i], a->names.len[i], part, &pl)))
			rc = put(a, DBI_PSSL_CIDX, k2, ckey(CK_NAME, part, pl, c->sha1, k2), "", 0);
	}
	return rc;
}

static int fp_merge(struct pa *a, uint8_t kind, const uint8_t md5[16], const char *str, const struct obs_norm *n)
{
	uint8_t k[17];
	struct pssl_frec f;
	MDB_val v;
	k[0] = kind;
	memcpy(k + 1, md5, 16);
	int rc = get(a->s, a->txn, DBI_PSSL_FP, k, 17, &v);
	if (rc == 0) {
		if ((rc = store_pssl_frec_decode(v.mv_data, v.mv_size, &f)))
			return rc;
		if (n->tf < f.first)
			f.first = n->tf;
		if (n->tl > f.last)
			f.last = n->tl;
		f.count = sat_add(f.count, n->count);
		if (n->tlp > f.tlp)
			f.tlp = n->tlp;
	} else if (rc == D4_ENOTFOUND) {
		memset(&f, 0, sizeof(f));
		f.first = n->tf;
		f.last = n->tl;
		f.count = n->count;
		f.tlp = n->tlp;
	} else {
		return rc;
	}
	if (!f.str && str) {
		f.str = str;
		f.str_len = strnlen(str, D4_PSSL_JA3_STR_MAX);
	}
	uint8_t *b = a->buf + PSSL_BUF_MAX;
	size_t l = store_pssl_frec_encode(&f, b);
	return put(a, DBI_PSSL_FP, k, 17, b, l);
}

/* The parts of a tuple's identity, normalised. */
struct tid {
	uint8_t sni[D4_PSSL_SNI_MAX];
	size_t sni_len;
	uint8_t sni_cut;
	size_t ja4_len;
	const char *ja4;
	uint8_t has_cert;
	uint8_t cert[20];
	uint8_t key[34]; /* ip || port || H(identity) */
};

static int tid_make(const struct d4_store_pssl_obs *o, int has_cert, const uint8_t *cert, struct tid *t)
{
	t->sni_len = o->sni ? o->sni_len : 0;
	t->sni_cut = t->sni_len > D4_PSSL_SNI_MAX;
	if (t->sni_cut)
		t->sni_len = D4_PSSL_SNI_MAX;
	for (size_t i = 0; i < t->sni_len; i++) {
		uint8_t c = o->sni[i];
		t->sni[i] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
	}
	t->ja4 = o->ja4 ? o->ja4 : "";
	t->ja4_len = strnlen(t->ja4, D4_PSSL_JA4_MAX);
	t->has_cert = has_cert ? 1 : 0;
	if (has_cert)
		memcpy(t->cert, cert, 20);
	uint8_t fl[4] = {(uint8_t)((o->has_ja3 ? TF_JA3 : 0) | (o->has_ja3s ? TF_JA3S : 0) | (has_cert ? TF_CERT : 0)),
			 (uint8_t)(t->sni_len >> 8), (uint8_t)t->sni_len, (uint8_t)t->ja4_len};
	const void *p[6] = {fl, t->sni, o->ja3_md5, o->ja3s_md5, t->ja4, t->cert};
	size_t n[6] = {4, t->sni_len, o->has_ja3 ? 16u : 0u, o->has_ja3s ? 16u : 0u, t->ja4_len, has_cert ? 20u : 0u};
	memcpy(t->key, o->server_ip, 16);
	d4_put_u16be(t->key + 16, o->server_port);
	return hashv(p, n, 6, t->key + 18, PSSL_HASH);
}

/* Does stored tuple t have the identity of observation o? */
static int tid_same(const struct pssl_trec *t, const struct d4_store_pssl_obs *o, const struct tid *id)
{
	return !memcmp(t->ip, o->server_ip, 16) && t->port == o->server_port && t->has_ja3 == (o->has_ja3 ? 1 : 0) &&
	       t->has_ja3s == (o->has_ja3s ? 1 : 0) && (!t->has_ja3 || !memcmp(t->ja3, o->ja3_md5, 16)) &&
	       (!t->has_ja3s || !memcmp(t->ja3s, o->ja3s_md5, 16)) && t->has_cert == id->has_cert &&
	       (!t->has_cert || !memcmp(t->chain[0], id->cert, 20)) && t->sni_len == id->sni_len &&
	       (!t->sni_len || !memcmp(t->sni, id->sni, id->sni_len)) && t->ja4_len == id->ja4_len &&
	       (!t->ja4_len || !memcmp(t->ja4, id->ja4, id->ja4_len));
}

static int chain_has(const uint8_t (*chain)[20], size_t n, const uint8_t *sha1)
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(chain[i], sha1, 20))
			return 1;
	return 0;
}

/* Every pivot entry of tuple t (id) but the certificate ones; del: remove. */
static int tuple_index(struct d4_store *s, MDB_txn *txn, const struct pssl_trec *t, uint64_t id, int del_)
{
	uint8_t part[D4_PSSL_JA4_MAX + 1];
	size_t kl[5];
	uint8_t keys[5][PSSL_TKEY_MAX];
	int nk = 0, rc = 0;
	kl[nk] = tkey(TK_IP, NULL, 0, t->ip, t->port, id, keys[nk]);
	nk++;
	if (t->has_ja3) {
		kl[nk] = tkey(TK_JA3, t->ja3, 16, t->ip, t->port, id, keys[nk]);
		nk++;
	}
	if (t->has_ja3s) {
		kl[nk] = tkey(TK_JA3S, t->ja3s, 16, t->ip, t->port, id, keys[nk]);
		nk++;
	}
	if (t->has_ja4) {
		memcpy(part, t->ja4, t->ja4_len);
		part[t->ja4_len] = 0;
		kl[nk] = tkey(TK_JA4, part, t->ja4_len + 1, t->ip, t->port, id, keys[nk]);
		nk++;
	}
	if (t->has_sni) {
		if ((rc = hash1(t->sni, t->sni_len, part, PSSL_HASH)))
			return rc;
		kl[nk] = tkey(TK_SNI, part, PSSL_HASH, t->ip, t->port, id, keys[nk]);
		nk++;
	}
	for (int i = 0; i < nk && !rc; i++) {
		if (del_) {
			rc = del(s, txn, DBI_PSSL_TIDX, keys[i], kl[i]);
		} else {
			MDB_val key = mv(keys[i], kl[i]), val = mv("", 0);
			rc = store_rc(mdb_put(txn, s->dbi[DBI_PSSL_TIDX], &key, &val, 0), "pssl put");
		}
	}
	return rc;
}

static int cert_entry(struct d4_store *s, MDB_txn *txn, const struct pssl_trec *t, const uint8_t sha1[20], uint64_t id,
		      int del_)
{
	uint8_t k[PSSL_TKEY_MAX];
	size_t kl = tkey(TK_CERT, sha1, 20, t->ip, t->port, id, k);
	if (del_)
		return del(s, txn, DBI_PSSL_TIDX, k, kl);
	MDB_val key = mv(k, kl), val = mv("", 0);
	return store_rc(mdb_put(txn, s->dbi[DBI_PSSL_TIDX], &key, &val, 0), "pssl put");
}

static int change_put(struct pa *a, uint64_t old, uint64_t seq, uint64_t id)
{
	uint8_t k[8], v[8];
	int rc = 0;
	if (old) {
		d4_put_u64be(k, old);
		rc = del(a->s, a->txn, DBI_PSSL_CHANGE, k, 8);
	}
	d4_put_u64be(k, seq);
	d4_put_u64be(v, id);
	return rc ? rc : put(a, DBI_PSSL_CHANGE, k, 8, v, 8);
}

static int tuple_merge(struct pa *a, const struct d4_store_pssl_obs *o, const struct obs_norm *n,
		       const uint8_t (*chain)[20], size_t n_chain, int has_cert)
{
	struct tid id;
	struct pssl_trec *t = &a->trec;
	int rc = tid_make(o, has_cert, has_cert ? chain[0] : NULL, &id);
	if (rc)
		return rc;
	MDB_val v;
	uint8_t ik[8];
	rc = get(a->s, a->txn, DBI_PSSL_TKEY, id.key, sizeof(id.key), &v);
	if (rc == 0) {
		if (v.mv_size != 8)
			return D4_ECORRUPT;
		memcpy(ik, v.mv_data, 8);
		uint64_t tid = d4_get_u64be(ik);
		if ((rc = get(a->s, a->txn, DBI_PSSL_TUPLE, ik, 8, &v)))
			return rc == D4_ENOTFOUND ? D4_ECORRUPT : rc;
		if ((rc = store_pssl_trec_decode(v.mv_data, v.mv_size, t)))
			return rc;
		/* the key holds a hash: another identity under it is a
		 * collision, refused rather than merged */
		if (!tid_same(t, o, &id)) {
			d4_err("store: pssl tuple key collision on tuple %llu", (unsigned long long)tid);
			return D4_ECORRUPT;
		}
		uint8_t old[D4_PSSL_CHAIN_MAX][20];
		size_t nold = t->n_chain;
		memcpy(old, t->chain, 20u * nold);
		uint64_t old_seq = t->change_seq;
		meta_merge(&t->m, n, 0);
		t->n_chain = (uint8_t)n_chain;
		memcpy(t->chain, chain, 20u * n_chain);
		t->change_seq = ++a->change_seq;
		size_t l = store_pssl_trec_encode(t, a->buf);
		if ((rc = put(a, DBI_PSSL_TUPLE, ik, 8, a->buf, l)) ||
		    (rc = change_put(a, old_seq, t->change_seq, tid)))
			return rc;
		for (size_t i = 0; i < nold && !rc; i++)
			if (!chain_has(chain, n_chain, old[i]))
				rc = cert_entry(a->s, a->txn, t, old[i], tid, 1);
		for (size_t i = 0; i < n_chain && !rc; i++)
			if (!chain_has(old, nold, chain[i]) && !chain_has(chain, i, chain[i]))
				rc = cert_entry(a->s, a->txn, t, chain[i], tid, 0);
		return rc;
	}
	if (rc != D4_ENOTFOUND)
		return rc;
	uint64_t tid = a->next_tuple++;
	d4_put_u64be(ik, tid);
	memset(t, 0, sizeof(*t));
	memcpy(t->ip, o->server_ip, 16);
	t->port = o->server_port;
	t->change_seq = ++a->change_seq;
	t->has_ja3 = o->has_ja3 ? 1 : 0;
	t->has_ja3s = o->has_ja3s ? 1 : 0;
	memcpy(t->ja3, o->ja3_md5, 16);
	memcpy(t->ja3s, o->ja3s_md5, 16);
	t->has_cert = id.has_cert;
	t->has_sni = id.sni_len ? 1 : 0;
	t->sni = (const char *)id.sni;
	t->sni_len = id.sni_len;
	t->sni_cut = id.sni_cut;
	t->has_ja4 = id.ja4_len ? 1 : 0;
	t->ja4 = id.ja4;
	t->ja4_len = id.ja4_len;
	t->n_chain = (uint8_t)n_chain;
	memcpy(t->chain, chain, 20u * n_chain);
	meta_merge(&t->m, n, 1);
	size_t l = store_pssl_trec_encode(t, a->buf);
	if ((rc = put(a, DBI_PSSL_TUPLE, ik, 8, a->buf, l)) ||
	    (rc = put(a, DBI_PSSL_TKEY, id.key, sizeof(id.key), ik, 8)) ||
	    (rc = change_put(a, 0, t->change_seq, tid)) || (rc = tuple_index(a->s, a->txn, t, tid, 0)))
		return rc;
	for (size_t i = 0; i < n_chain && !rc; i++)
		if (!chain_has(chain, i, chain[i]))
			rc = cert_entry(a->s, a->txn, t, chain[i], tid, 0);
	return rc;
}

static int obs_apply(struct pa *a, const struct d4_store_pssl_obs *o)
{
	struct obs_norm n;
	obs_norm(o, &n);
	uint8_t chain[D4_PSSL_CHAIN_MAX][20];
	size_t nc = 0;
	int has_cert = 0, rc = 0;
	for (size_t i = 0; i < o->n_certs && !rc; i++) {
		int present;
		rc = cert_merge(a, &o->certs[i], &n, &present);
		if (!rc && present) {
			memcpy(chain[nc++], o->certs[i].sha1, 20);
			if (i == 0)
				has_cert = 1;
		}
	}
	if (!rc && o->has_ja3)
		rc = fp_merge(a, 3, o->ja3_md5, o->ja3, &n);
	if (!rc && o->has_ja3s)
		rc = fp_merge(a, 4, o->ja3s_md5, o->ja3s, &n);
	if (!rc)
		rc = tuple_merge(a, o, &n, (const uint8_t(*)[20])chain, nc, has_cert);
	return rc;
}

static int cursor_name_ok(const char *name)
{
	size_t n = name ? strnlen(name, PSSL_CURSOR_NAME) : 0;
	if (n == 0 || n >= PSSL_CURSOR_NAME)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return 0;
	return 1;
}

static size_t meta_key(char kind, const void *p, size_t n, uint8_t *k)
{
	k[0] = (uint8_t)kind;
	memcpy(k + 1, p, n);
	return n + 1;
}

static int counters_add(struct pa *a, const struct d4_store_pssl_counters *d)
{
	uint8_t k[17];
	struct d4_store_pssl_counters c;
	memset(&c, 0, sizeof(c));
	meta_key('s', d->sensor, 16, k);
	MDB_val v;
	int rc = get(a->s, a->txn, DBI_PSSL_META, k, 17, &v);
	if (rc == 0)
		rc = store_pssl_cnt_decode(v.mv_data, v.mv_size, &c);
	else if (rc == D4_ENOTFOUND)
		rc = 0;
	if (rc)
		return rc;
	c.frames = sat_add(c.frames, d->frames);
	c.handshakes = sat_add(c.handshakes, d->handshakes);
	c.certs = sat_add(c.certs, d->certs);
	c.certs_new = sat_add(c.certs_new, d->certs_new);
	c.bad_lines = sat_add(c.bad_lines, d->bad_lines);
	c.bad_packets = sat_add(c.bad_packets, d->bad_packets);
	c.bad_certs = sat_add(c.bad_certs, d->bad_certs);
	uint8_t b[PSSL_CNT_MAX];
	size_t l = store_pssl_cnt_encode(&c, b);
	return put(a, DBI_PSSL_META, k, 17, b, l);
}

static int cert_check(const struct d4_store_pssl_cert *c)
{
	if (c->der && (!c->der_len || c->der_len > D4_PSSL_DER_MAX))
		return D4_EINVAL;
	if (!c->der || !c->parsed)
		return 0;
	if (c->n_san > D4_PSSL_SAN_MAX || (c->n_san && !c->san))
		return D4_EINVAL;
	for (size_t i = 0; i < c->n_san; i++) {
		const struct d4_store_pssl_san *s = &c->san[i];
		if ((s->type != 1 && s->type != 2) || s->len > D4_PSSL_SAN_LEN || (s->len && !s->value) ||
		    (s->type == 2 && s->len != 4 && s->len != 16))
			return D4_EINVAL;
	}
	if ((c->modulus && c->modulus_len > D4_PSSL_MODULUS_MAX) ||
	    (c->exponent && c->exponent_len > D4_PSSL_EXPONENT_MAX))
		return D4_EINVAL;
	return 0;
}

static int update_check(const struct d4_store_pssl_update *u)
{
	if (u->nobs && !u->obs)
		return D4_EINVAL;
	if (u->cursor_name &&
	    (!cursor_name_ok(u->cursor_name) || u->cursor_len > D4_PSSL_CURSOR_MAX || (u->cursor_len && !u->cursor)))
		return D4_EINVAL;
	if (u->ndeltas && !u->deltas)
		return D4_EINVAL;
	for (size_t i = 0; i < u->nobs; i++) {
		const struct d4_store_pssl_obs *o = &u->obs[i];
		if (o->n_certs > D4_PSSL_CHAIN_MAX || (o->n_certs && !o->certs) || (o->sni_len && !o->sni))
			return D4_EINVAL;
		for (size_t j = 0; j < o->n_certs; j++)
			if (cert_check(&o->certs[j]))
				return D4_EINVAL;
	}
	return 0;
}

static int apply_txn(struct pa *a, const struct d4_store_pssl_update *u)
{
	struct d4_store *s = a->s;
	MDB_txn *txn = a->txn;
	uint64_t t0, k0, c0, r0;
	int rc = store_settings_get_u64(s, txn, PSSL_NEXT_TUPLE, &t0);
	if (!rc)
		rc = store_settings_get_u64(s, txn, PSSL_NEXT_KEY, &k0);
	if (!rc)
		rc = store_settings_get_u64(s, txn, PSSL_CHANGE_SEQ, &c0);
	if (!rc)
		rc = store_settings_get_u64(s, txn, PSSL_RSA_KEYS, &r0);
	if (rc)
		return rc;
	a->next_tuple = t0 ? t0 : 1;
	a->next_key = k0 ? k0 : 1;
	a->change_seq = c0;
	a->rsa_keys = r0;
	a->missing = 0;
	for (size_t i = 0; i < u->nobs && !rc; i++)
		rc = obs_apply(a, &u->obs[i]);
	if (!rc && u->cursor_name) {
		uint8_t k[PSSL_CURSOR_NAME];
		size_t kl = meta_key('c', u->cursor_name, strlen(u->cursor_name), k);
		MDB_val key = mv(k, kl), val;
		val.mv_size = 1 + u->cursor_len;
		/* reserved: written in place, no copy through a buffer */
		rc = store_rc(mdb_put(txn, s->dbi[DBI_PSSL_META], &key, &val, MDB_RESERVE), "pssl cursor put");
		if (!rc) {
			((uint8_t *)val.mv_data)[0] = PSSL_REC_V1;
			if (u->cursor_len)
				memcpy((uint8_t *)val.mv_data + 1, u->cursor, u->cursor_len);
		}
	}
	for (size_t i = 0; i < u->ndeltas && !rc; i++)
		rc = counters_add(a, &u->deltas[i]);
	if (!rc && a->next_tuple != (t0 ? t0 : 1))
		rc = store_settings_put_u64(s, txn, PSSL_NEXT_TUPLE, a->next_tuple);
	if (!rc && a->next_key != (k0 ? k0 : 1))
		rc = store_settings_put_u64(s, txn, PSSL_NEXT_KEY, a->next_key);
	if (!rc && a->change_seq != c0)
		rc = store_settings_put_u64(s, txn, PSSL_CHANGE_SEQ, a->change_seq);
	if (!rc && a->rsa_keys != r0)
		rc = store_settings_put_u64(s, txn, PSSL_RSA_KEYS, a->rsa_keys);
	return rc;
}

int d4_store_pssl_apply(struct d4_store *s, const struct d4_store_pssl_update *u, uint64_t *missing)
{
	if (missing)
		*missing = 0;
	if (!s || !u)
		return D4_EINVAL;
	int rc = update_check(u);
	if (rc)
		return rc;
	if (s->opts.read_only)
		return D4_EPERM;
	if (absent(s))
		return D4_ESTORE;
	struct pa *a = malloc(sizeof(*a));
	if (!a)
		return D4_ENOMEM;
	a->s = s;
	if ((rc = store_txn_begin(s, 0, &a->txn)) == 0) {
		rc = apply_txn(a, u);
		if (rc)
			mdb_txn_abort(a->txn);
		else
			rc = store_rc(mdb_txn_commit(a->txn), "pssl commit");
	}
	if (!rc && missing)
		*missing = a->missing;
	free(a);
	return rc;
}

int d4_store_pssl_cert_known(struct d4_store *s, const uint8_t (*sha1s)[20], size_t n, uint8_t *known)
{
	if (!s || (n && (!sha1s || !known)))
		return D4_EINVAL;
	if (n)
		memset(known, 0, n);
	if (!n || absent(s))
		return 0;
	MDB_txn *txn = NULL;
	int rc = store_txn_begin(s, 1, &txn);
	for (size_t i = 0; i < n && !rc; i++) {
		MDB_val v;
		int r = get(s, txn, DBI_PSSL_CERT, sha1s[i], 20, &v);
		if (r == 0)
			known[i] = 1;
		else if (r != D4_ENOTFOUND)
			rc = r;
	}
	if (txn)
		mdb_txn_abort(txn);
	return rc;
}

int d4_store_pssl_cursor_get(struct d4_store *s, const char *name, uint8_t *buf, size_t cap, size_t *len)
{
	if (!s || !cursor_name_ok(name) || !len || (cap && !buf))
		return D4_EINVAL;
	*len = 0;
	if (absent(s))
		return D4_ENOTFOUND;
	uint8_t k[PSSL_CURSOR_NAME];
	size_t kl = meta_key('c', name, strlen(name), k);
	MDB_txn *txn = NULL;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	MDB_val v;
	rc = get(s, txn, DBI_PSSL_META, k, kl, &v);
	if (!rc) {
		if (v.mv_size < 1 || ((uint8_t *)v.mv_data)[0] != PSSL_REC_V1)
			rc = D4_ECORRUPT;
		else if (v.mv_size - 1 > cap)
			rc = D4_ETOOBIG;
		else {
			if (v.mv_size > 1)
				memcpy(buf, (uint8_t *)v.mv_data + 1, v.mv_size - 1);
			*len = v.mv_size - 1;
		}
	}
	mdb_txn_abort(txn);
	return rc;
}

int d4_store_pssl_counters_get(struct d4_store *s, const uint8_t sensor[16], struct d4_store_pssl_counters *out)
{
	if (!s || !sensor || !out)
		return D4_EINVAL;
	memset(out, 0, sizeof(*out));
	memcpy(out->sensor, sensor, 16);
	if (absent(s))
		return D4_ENOTFOUND;
	uint8_t k[17];
	meta_key('s', sensor, 16, k);
	MDB_txn *txn = NULL;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	MDB_val v;
	rc = get(s, txn, DBI_PSSL_META, k, 17, &v);
	if (!rc)
		rc = store_pssl_cnt_decode(v.mv_data, v.mv_size, out);
	mdb_txn_abort(txn);
	return rc;
}

struct cnt_scan {
	int (*cb)(void *ctx, const struct d4_store_pssl_counters *c);
	void *ctx;
};

static int cnt_scan_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct cnt_scan *cs = ctx;
	struct d4_store_pssl_counters c;
	if (k->mv_size != 17)
		return D4_ECORRUPT;
	memset(&c, 0, sizeof(c));
	memcpy(c.sensor, (const uint8_t *)k->mv_data + 1, 16);
	int rc = store_pssl_cnt_decode(v->mv_data, v->mv_size, &c);
	return rc ? rc : cs->cb(cs->ctx, &c);
}

int d4_store_pssl_counters_foreach(struct d4_store *s, int (*cb)(void *ctx, const struct d4_store_pssl_counters *c),
				   void *ctx)
{
	if (!s || !cb)
		return D4_EINVAL;
	if (absent(s))
		return 0;
	struct cnt_scan cs = {cb, ctx};
	int rc = store_scan(s, DBI_PSSL_META, "s", 1, "s", 1, cnt_scan_fn, &cs);
	return rc > 0 ? 0 : rc;
}

/* ---- reading rows ---- */

static void meta_out_tuple(const struct pssl_meta *m, struct d4_store_pssl_tuple *o)
{
	o->time_first = m->first;
	o->time_last = m->last;
	o->count = m->count;
	o->tlp = m->tlp;
	memcpy(o->org, m->org, 16);
	o->org_mixed = m->org_mixed;
	o->nsensors = m->nsens;
	memcpy(o->sensors, m->sens, 16u * m->nsens);
	o->sensor_count = meta_sensors(m);
	o->nhubs = m->nhubs;
	memcpy(o->hubs, m->hubs, 16u * m->nhubs);
}

static void tuple_out(const struct pssl_trec *t, uint64_t id, struct d4_store_pssl_tuple *o)
{
	memset(o, 0, sizeof(*o));
	o->id = id;
	o->change_seq = t->change_seq;
	memcpy(o->server_ip, t->ip, 16);
	o->server_port = t->port;
	o->sni = t->has_sni ? t->sni : NULL;
	o->sni_len = t->sni_len;
	o->sni_cut = t->sni_cut;
	o->has_ja3 = t->has_ja3;
	o->has_ja3s = t->has_ja3s;
	o->has_cert = t->has_cert;
	memcpy(o->ja3_md5, t->ja3, 16);
	memcpy(o->ja3s_md5, t->ja3s, 16);
	o->ja4 = t->has_ja4 ? t->ja4 : NULL;
	if (t->has_cert)
		memcpy(o->cert, t->chain[0], 20);
	o->n_chain = t->n_chain;
	memcpy(o->chain, t->chain, 20u * t->n_chain);
	meta_out_tuple(&t->m, o);
}

/* A tuple by id in txn: 0, D4_ENOTFOUND, D4_ECORRUPT or a store error. */
static int tuple_get(struct d4_store *s, MDB_txn *txn, uint64_t id, struct pssl_trec *t)
{
	uint8_t k[8];
	MDB_val v;
	d4_put_u64be(k, id);
	int rc = get(s, txn, DBI_PSSL_TUPLE, k, 8, &v);
	return rc ? rc : store_pssl_trec_decode(v.mv_data, v.mv_size, t);
}

static int key_get_txn(struct d4_store *s, MDB_txn *txn, uint64_t id, struct pssl_krec *k)
{
	uint8_t kb[8];
	MDB_val v;
	d4_put_u64be(kb, id);
	int rc = get(s, txn, DBI_PSSL_KEY, kb, 8, &v);
	return rc ? rc : store_pssl_krec_decode(v.mv_data, v.mv_size, k);
}

/* A certificate with its key and DER, for a reader's callback. */
struct cert_view {
	struct pssl_crec cr;
	struct pssl_krec kr;
	struct d4_store_pssl_cert out;
};

static int cert_load(struct d4_store *s, MDB_txn *txn, const uint8_t sha1[20], struct cert_view *cv)
{
	MDB_val v;
	int rc = get(s, txn, DBI_PSSL_CERT, sha1, 20, &v);
	if (!rc)
		rc = store_pssl_crec_decode(v.mv_data, v.mv_size, &cv->cr);
	if (rc)
		return rc;
	memset(&cv->kr, 0, sizeof(cv->kr));
	cv->kr.key_alg = cv->kr.curve = "";
	if (cv->cr.parsed) {
		if ((rc = key_get_txn(s, txn, cv->cr.key_id, &cv->kr)))
			return rc == D4_ENOTFOUND ? D4_ECORRUPT : rc;
	}
	const struct pssl_crec *c = &cv->cr;
	const struct pssl_krec *k = &cv->kr;
	struct d4_store_pssl_cert *o = &cv->out;
	memset(o, 0, sizeof(*o));
	memcpy(o->sha1, sha1, 20);
	memcpy(o->sha256, c->sha256, 32);
	memcpy(o->spki_sha256, k->spki, 32);
	rc = get(s, txn, DBI_PSSL_DER, sha1, 20, &v);
	if (rc)
		return rc == D4_ENOTFOUND ? D4_ECORRUPT : rc;
	if (v.mv_size < 2 || ((const uint8_t *)v.mv_data)[0] != PSSL_REC_V1 || v.mv_size - 1 > D4_PSSL_DER_MAX)
		return D4_ECORRUPT;
	o->der = (const uint8_t *)v.mv_data + 1;
	o->der_len = v.mv_size - 1;
	o->parsed = c->parsed;
	o->x509_flags = c->x509_flags;
	o->version = c->version;
	o->subject = c->subject;
	o->issuer = c->issuer;
	o->not_before = c->not_before;
	o->not_after = c->not_after;
	o->serial = c->serial;
	o->sig_alg = c->sig_alg;
	o->key_alg = k->key_alg;
	o->key_type = k->key_type;
	o->key_bits = k->key_bits;
	o->modulus = k->modulus;
	o->modulus_len = k->modulus_len;
	o->exponent = k->exponent;
	o->exponent_len = k->exponent_len;
	o->curve = k->curve;
	o->is_ca = c->is_ca;
	o->cn = c->has_cn ? c->cn : NULL;
	o->san = c->n_san ? c->san : NULL;
	o->n_san = c->n_san;
	o->key_id = c->parsed ? c->key_id : 0;
	o->first_seen = c->m.first;
	o->last_seen = c->m.last;
	o->count = c->m.count;
	o->tlp = c->m.tlp;
	memcpy(o->org, c->m.org, 16);
	o->org_mixed = c->m.org_mixed;
	o->nsensors = c->m.nsens;
	memcpy(o->sensors, c->m.sens, 16u * c->m.nsens);
	o->sensor_count = meta_sensors(&c->m);
	o->nhubs = c->m.nhubs;
	memcpy(o->hubs, c->m.hubs, 16u * c->m.nhubs);
	return 0;
}

int d4_store_pssl_cert_get(struct d4_store *s, const uint8_t sha1[20], uint8_t max_tlp,
			   int (*cb)(void *ctx, const struct d4_store_pssl_cert *c), void *ctx)
{
	if (!s || !sha1 || !cb)
		return D4_EINVAL;
	if (absent(s))
		return D4_ENOTFOUND;
	struct cert_view *cv = malloc(sizeof(*cv));
	if (!cv)
		return D4_ENOMEM;
	MDB_txn *txn = NULL;
	int rc = store_txn_begin(s, 1, &txn);
	if (!rc) {
		rc = cert_load(s, txn, sha1, cv);
		if (!rc && !d4_policy_tlp_visible((enum d4_tlp)max_tlp, (enum d4_tlp)cv->out.tlp))
			rc = D4_ENOTFOUND;
		if (!rc)
			rc = cb(ctx, &cv->out);
		mdb_txn_abort(txn);
	}
	free(cv);
	return rc;
}

int d4_store_pssl_fp_get(struct d4_store *s, enum d4_store_pssl_by kind, const uint8_t md5[16], uint8_t max_tlp,
			 int (*cb)(void *ctx, const struct d4_store_pssl_fp *f), void *ctx)
{
	if (!s || !md5 || !cb || (kind != D4_PSSL_BY_JA3 && kind != D4_PSSL_BY_JA3S))
		return D4_EINVAL;
	if (absent(s))
		return D4_ENOTFOUND;
	uint8_t k[17];
	k[0] = kind == D4_PSSL_BY_JA3 ? 3 : 4;
	memcpy(k + 1, md5, 16);
	MDB_txn *txn = NULL;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	MDB_val v;
	struct pssl_frec f;
	rc = get(s, txn, DBI_PSSL_FP, k, 17, &v);
	if (!rc)
		rc = store_pssl_frec_decode(v.mv_data, v.mv_size, &f);
	if (!rc && !d4_policy_tlp_visible((enum d4_tlp)max_tlp, (enum d4_tlp)f.tlp))
		rc = D4_ENOTFOUND;
	if (!rc) {
		struct d4_store_pssl_fp o;
		memset(&o, 0, sizeof(o));
		memcpy(o.md5, md5, 16);
		o.str = f.str;
		o.first_seen = f.first;
		o.last_seen = f.last;
		o.count = f.count;
		o.tlp = f.tlp;
		rc = cb(ctx, &o);
	}
	mdb_txn_abort(txn);
	return rc;
}

/* ---- queries ---- */

struct qseg {
	uint8_t prefix[PSSL_CKEY_MAX];
	size_t plen;
};

struct qplan {
	enum store_dbi dbi;
	int certs;   /* rows are certificates (key ends in a sha1) */
	int reverse; /* BY_RECENT: the change table, last first */
	int ip;	     /* BY_IP: range up to hi */
	uint8_t lo[16], hi[16];
	struct qseg *seg;
	size_t nseg;
	uint8_t tpart[D4_PSSL_JA4_MAX + 1]; /* tuple pivots: the key part (checked on the row) */
	size_t tplen;
	char want[PSSL_DNS_MAX + 2]; /* names: the reversed name */
	size_t wantlen;
	uint32_t qhash;
};

static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

/* FNV-1a over the query's filters (not limit, not the cursor): a resume
 * cursor carries it, so that it only continues the query it came from. */
static uint32_t query_hash(const struct d4_store_pssl_query *q)
{
	uint8_t b[8 * 4 + 6];
	uint32_t h = 2166136261u;
	d4_put_u32be(b, (uint32_t)q->by);
	b[4] = q->has_port;
	b[5] = q->max_tlp;
	d4_put_u64be(b + 6, q->first_before);
	d4_put_u64be(b + 14, q->first_after);
	d4_put_u64be(b + 22, q->last_before);
	d4_put_u64be(b + 30, q->last_after);
	h = fnv(h, b, sizeof(b));
	if (q->has_port) {
		d4_put_u16be(b, q->port);
		h = fnv(h, b, 2);
	}
	if (q->by == D4_PSSL_BY_IP) {
		h = fnv(h, q->ip_lo, 16);
		h = fnv(h, q->ip_hi, 16);
	}
	d4_put_u64be(b, q->key_len);
	h = fnv(h, b, 8);
	return q->key_len ? fnv(h, q->key, q->key_len) : h;
}

static int add_seg(struct qplan *p, uint8_t kind, const void *part, size_t plen)
{
	struct qseg *ns = realloc(p->seg, (p->nseg + 1) * sizeof(*ns));
	if (!ns)
		return D4_ENOMEM;
	p->seg = ns;
	struct qseg *g = &p->seg[p->nseg++];
	g->prefix[0] = kind;
	if (plen)
		memcpy(g->prefix + 1, part, plen);
	g->plen = 1 + plen;
	return 0;
}

/* Key ids of the keys with this modulus (or this SPKI), ascending. */
static int plan_keys(struct d4_store *s, MDB_txn *txn, const struct d4_store_pssl_query *q, struct qplan *p)
{
	uint8_t part[8];
	MDB_val v;
	int rc;
	if (q->by == D4_PSSL_CERTS_BY_KEY) {
		return add_seg(p, CK_KEY, q->key, 8);
	}
	if (q->by == D4_PSSL_CERTS_BY_SPKI) {
		rc = get(s, txn, DBI_PSSL_SPKI, q->key, 32, &v);
		if (rc == D4_ENOTFOUND)
			return 0;
		if (rc)
			return rc;
		if (v.mv_size != 8)
			return D4_ECORRUPT;
		return add_seg(p, CK_KEY, v.mv_data, 8);
	}
	/* by modulus: the modulus index, each candidate's modulus compared */
	uint8_t h[PSSL_HASH];
	if ((rc = hash1(q->key, q->key_len, h, PSSL_HASH)))
		return rc;
	MDB_cursor *c;
	if ((rc = mdb_cursor_open(txn, s->dbi[DBI_PSSL_MOD], &c)))
		return store_rc(rc, "pssl cursor");
	MDB_val k = mv(h, PSSL_HASH);
	int r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	for (; r == 0 && k.mv_size == PSSL_HASH + 8 && !memcmp(k.mv_data, h, PSSL_HASH);
	     r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct pssl_krec kr;
		memcpy(part, (const uint8_t *)k.mv_data + PSSL_HASH, 8);
		if ((rc = key_get_txn(s, txn, d4_get_u64be(part), &kr))) {
			if (rc == D4_ENOTFOUND)
				rc = D4_ECORRUPT;
			break;
		}
		if (kr.modulus_len == q->key_len && !memcmp(kr.modulus, q->key, q->key_len) &&
		    (rc = add_seg(p, CK_KEY, part, 8)))
			break;
	}
	if (!rc && r && r != MDB_NOTFOUND)
		rc = store_rc(r, "pssl scan");
	mdb_cursor_close(c);
	return rc;
}

static int plan_make(struct d4_store *s, MDB_txn *txn, const struct d4_store_pssl_query *q, struct qplan *p)
{
	uint8_t part[PSSL_NK_MAX];
	size_t pl;
	int rc;
	if (q->key_len && !q->key)
		return D4_EINVAL;
	p->dbi = DBI_PSSL_TIDX;
	switch ((int)q->by) {
	case D4_PSSL_BY_IP:
		if (memcmp(q->ip_lo, q->ip_hi, 16) > 0)
			return D4_EINVAL;
		p->ip = 1;
		memcpy(p->lo, q->ip_lo, 16);
		memcpy(p->hi, q->ip_hi, 16);
		return add_seg(p, TK_IP, NULL, 0);
	case D4_PSSL_BY_CERT:
		if (q->key_len != 20)
			return D4_EINVAL;
		memcpy(p->tpart, q->key, 20);
		p->tplen = 20;
		return add_seg(p, TK_CERT, q->key, 20);
	case D4_PSSL_BY_JA3:
	case D4_PSSL_BY_JA3S:
		if (q->key_len != 16)
			return D4_EINVAL;
		memcpy(p->tpart, q->key, 16);
		p->tplen = 16;
		return add_seg(p, q->by == D4_PSSL_BY_JA3 ? TK_JA3 : TK_JA3S, q->key, 16);
	case D4_PSSL_BY_JA4:
		if (!q->key_len || q->key_len > D4_PSSL_JA4_MAX || memchr(q->key, 0, q->key_len))
			return D4_EINVAL;
		memcpy(p->tpart, q->key, q->key_len);
		p->tpart[q->key_len] = 0;
		p->tplen = q->key_len;
		return add_seg(p, TK_JA4, p->tpart, q->key_len + 1);
	case D4_PSSL_BY_SNI: {
		if (!q->key_len || q->key_len > D4_PSSL_SNI_MAX)
			return D4_EINVAL;
		for (size_t i = 0; i < q->key_len; i++) {
			uint8_t c = q->key[i];
			((uint8_t *)p->want)[i] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
		}
		p->wantlen = q->key_len;
		if ((rc = hash1(p->want, p->wantlen, part, PSSL_HASH)))
			return rc;
		return add_seg(p, TK_SNI, part, PSSL_HASH);
	}
	case D4_PSSL_BY_RECENT:
		p->reverse = 1;
		p->dbi = DBI_PSSL_CHANGE;
		return 0;
	}
	p->certs = 1;
	p->dbi = DBI_PSSL_CIDX;
	switch ((int)q->by) {
	case D4_PSSL_CERTS_BY_KEY:
	case D4_PSSL_CERTS_BY_SPKI:
	case D4_PSSL_CERTS_BY_MODULUS:
		if ((q->by == D4_PSSL_CERTS_BY_KEY && q->key_len != 8) ||
		    (q->by == D4_PSSL_CERTS_BY_SPKI && q->key_len != 32) ||
		    (q->by == D4_PSSL_CERTS_BY_MODULUS && (!q->key_len || q->key_len > D4_PSSL_MODULUS_MAX)))
			return D4_EINVAL;
		return plan_keys(s, txn, q, p);
	case D4_PSSL_CERTS_BY_NAME:
	case D4_PSSL_CERTS_BY_NAME_LEFT:
		if (!(p->wantlen = name_rev(q->key, q->key_len, p->want)))
			return D4_EINVAL;
		if (q->by == D4_PSSL_CERTS_BY_NAME) {
			if ((rc = name_part(p->want, p->wantlen, part, &pl)))
				return rc;
			return add_seg(p, CK_NAME, part, pl);
		}
		return add_seg(p, CK_NAME, p->want, p->wantlen > PSSL_NK_CUT ? PSSL_NK_CUT : p->wantlen);
	case D4_PSSL_CERTS_BY_SHA256:
		if (q->key_len != 32)
			return D4_EINVAL;
		return add_seg(p, CK_SHA256, q->key, 32);
	case D4_PSSL_CERTS_BY_ISSUER:
		if (!q->key_len || q->key_len > D4_PSSL_NAME_MAX || memchr(q->key, 0, q->key_len))
			return D4_EINVAL;
		if ((rc = hash1(q->key, q->key_len, part, PSSL_HASH)))
			return rc;
		return add_seg(p, CK_ISSUER, part, PSSL_HASH);
	case D4_PSSL_CERTS_RECENT: return add_seg(p, CK_RECENT, NULL, 0);
	}
	return D4_EINVAL;
}

/* Is index key k within segment g (and, BY_IP, not past hi)? */
static int in_seg(const struct qplan *p, const struct qseg *g, const uint8_t *k, size_t kl)
{
	if (kl < g->plen || memcmp(k, g->prefix, g->plen))
		return 0;
	if (p->certs)
		return kl >= g->plen + 20;
	if (kl != g->plen + 26)
		return 0;
	if (p->ip)
		return memcmp(k + 1, p->hi, 16) <= 0;
	return 1;
}

static int time_ok(const struct d4_store_pssl_query *q, uint64_t first, uint64_t last)
{
	if (q->first_before && first > q->first_before)
		return 0;
	if (q->first_after && first < q->first_after)
		return 0;
	if (q->last_before && last > q->last_before)
		return 0;
	if (q->last_after && last < q->last_after)
		return 0;
	return 1;
}

/* Does the tuple hold what its index entry says (a stale or corrupt entry
 * must not return another tuple) and pass the filters? */
static int tuple_matches(const struct qplan *p, const struct d4_store_pssl_query *q, const struct pssl_trec *t)
{
	if (!d4_policy_tlp_visible((enum d4_tlp)q->max_tlp, (enum d4_tlp)t->m.tlp))
		return 0;
	if (q->has_port && t->port != q->port)
		return 0;
	if (!time_ok(q, t->m.first, t->m.last))
		return 0;
	switch ((int)q->by) {
	case D4_PSSL_BY_IP: return memcmp(t->ip, p->lo, 16) >= 0 && memcmp(t->ip, p->hi, 16) <= 0;
	case D4_PSSL_BY_CERT: return chain_has((const uint8_t(*)[20])t->chain, t->n_chain, p->tpart);
	case D4_PSSL_BY_JA3: return t->has_ja3 && !memcmp(t->ja3, p->tpart, 16);
	case D4_PSSL_BY_JA3S: return t->has_ja3s && !memcmp(t->ja3s, p->tpart, 16);
	case D4_PSSL_BY_JA4: return t->has_ja4 && t->ja4_len == p->tplen && !memcmp(t->ja4, p->tpart, p->tplen);
	case D4_PSSL_BY_SNI: return t->has_sni && t->sni_len == p->wantlen && !memcmp(t->sni, p->want, p->wantlen);
	}
	return 1;
}

/* Certificates: the filters, what the key cannot tell (long-name cuts,
 * hash collisions) and, below a name, one answer per certificate (the
 * entry of its first matching name in key order). */
static int cert_matches(const struct qplan *p, const struct d4_store_pssl_query *q, const struct cert_view *cv,
			const uint8_t *k, size_t kl, struct cert_names *nm)
{
	const struct pssl_crec *c = &cv->cr;
	if (!d4_policy_tlp_visible((enum d4_tlp)q->max_tlp, (enum d4_tlp)c->m.tlp))
		return 0;
	if (!time_ok(q, c->m.first, c->m.last))
		return 0;
	switch ((int)q->by) {
	case D4_PSSL_CERTS_BY_ISSUER:
		return c->parsed && strlen(c->issuer) == q->key_len && !memcmp(c->issuer, q->key, q->key_len);
	case D4_PSSL_CERTS_BY_SHA256: return !memcmp(c->sha256, q->key, 32);
	/* a stale entry must not return a certificate twice */
	case D4_PSSL_CERTS_RECENT: return kl == 29 && ~d4_get_u64be(k + 1) == c->m.last;
	case D4_PSSL_CERTS_BY_KEY:
	case D4_PSSL_CERTS_BY_SPKI:
	case D4_PSSL_CERTS_BY_MODULUS: return c->parsed && kl == 29 && d4_get_u64be(k + 1) == c->key_id;
	case D4_PSSL_CERTS_BY_NAME:
	case D4_PSSL_CERTS_BY_NAME_LEFT: {
		if (!c->parsed)
			return 0;
		cert_names(c->has_cn ? c->cn : NULL, c->san, c->n_san, nm);
		uint8_t best[PSSL_NK_MAX], part[PSSL_NK_MAX];
		size_t bl = 0, pl;
		for (size_t i = 0; i < nm->n; i++) {
			int hit = q->by == D4_PSSL_CERTS_BY_NAME
				      ? (nm->len[i] == p->wantlen && !memcmp(nm->rev[i], p->want, p->wantlen))
				      : (nm->len[i] >= p->wantlen && !memcmp(nm->rev[i], p->want, p->wantlen));
			if (!hit || name_part(nm->rev[i], nm->len[i], part, &pl))
				continue;
			size_t m = pl < bl ? pl : bl;
			int cmp = memcmp(part, best, m);
			if (!bl || cmp < 0 || (cmp == 0 && pl < bl)) {
				memcpy(best, part, pl);
				bl = pl;
			}
		}
		/* this entry is the certificate's first matching name */
		return bl && kl == 1 + bl + 20 && !memcmp(k + 1, best, bl);
	}
	}
	return 1;
}

struct qrun {
	struct d4_store *s;
	MDB_txn *txn;
	const struct d4_store_pssl_query *q;
	struct qplan p;
	int (*tcb)(void *ctx, const struct d4_store_pssl_tuple *t);
	int (*ccb)(void *ctx, const struct d4_store_pssl_cert *c);
	void *ctx;
	struct d4_store_pssl_qresult *res;
	struct pssl_trec t;
	struct d4_store_pssl_tuple tout;
	struct cert_view cv;
	struct cert_names nm;
	int done, stop;
};

/* One index entry: fetch, check, emit. 0 go on, 1 stop, < 0 error. */
static int q_entry(struct qrun *r, const uint8_t *k, size_t kl, const MDB_val *val)
{
	struct d4_store_pssl_query const *q = r->q;
	int rc, vis;
	if (r->p.certs) {
		rc = cert_load(r->s, r->txn, k + kl - 20, &r->cv);
		if (rc)
			return rc == D4_ENOTFOUND ? D4_ECORRUPT : rc;
		vis = cert_matches(&r->p, q, &r->cv, k, kl, &r->nm);
	} else {
		uint64_t id;
		if (r->p.reverse) {
			if (kl != 8 || val->mv_size != 8)
				return D4_ECORRUPT;
			id = d4_get_u64be(val->mv_data);
		} else {
			id = d4_get_u64be(k + kl - 8);
		}
		rc = tuple_get(r->s, r->txn, id, &r->t);
		if (rc)
			return rc == D4_ENOTFOUND ? D4_ECORRUPT : rc;
		if (r->p.reverse && r->t.change_seq != d4_get_u64be(k))
			return D4_ECORRUPT;
		vis = tuple_matches(&r->p, q, &r->t);
		if (vis)
			tuple_out(&r->t, id, &r->tout);
	}
	if (!vis)
		return 0;
	if (r->done) { /* limit reached: this one only tells that there is more */
		r->res->more = 1;
		return 1;
	}
	int cr = r->p.certs ? r->ccb(r->ctx, &r->cv.out) : r->tcb(r->ctx, &r->tout);
	if (cr < 0)
		return cr;
	struct d4_store_pssl_qresult *res = r->res;
	res->returned++;
	res->resume[0] = PSSL_RESUME_V1;
	res->resume[1] = (uint8_t)q->by;
	d4_put_u32be(res->resume + 2, r->p.qhash);
	memcpy(res->resume + 6, k, kl);
	res->resume_len = 6 + kl;
	if (cr > 0)
		return 1;
	if (q->limit && res->returned >= q->limit)
		r->done = 1;
	return 0;
}

static int q_scan(struct qrun *r)
{
	const struct d4_store_pssl_query *q = r->q;
	struct qplan *p = &r->p;
	const uint8_t *rk = NULL;
	size_t rkl = 0, first = 0;
	if (q->resume_len) {
		/* version || by || query hash || the last returned key, which must
		 * lie in one of this query's ranges */
		if (!q->resume || q->resume_len < 7 || q->resume_len > D4_PSSL_RESUME_MAX ||
		    q->resume[0] != PSSL_RESUME_V1 || q->resume[1] != (uint8_t)q->by ||
		    d4_get_u32be(q->resume + 2) != p->qhash)
			return D4_EINVAL;
		rk = q->resume + 6;
		rkl = q->resume_len - 6;
		if (p->reverse) {
			if (rkl != 8)
				return D4_EINVAL;
		} else {
			for (first = 0; first < p->nseg && !in_seg(p, &p->seg[first], rk, rkl); first++)
				;
			if (first == p->nseg || (p->ip && memcmp(rk + 1, p->lo, 16) < 0))
				return D4_EINVAL;
		}
	}
	MDB_cursor *c;
	int rc = mdb_cursor_open(r->txn, r->s->dbi[p->dbi], &c);
	if (rc)
		return store_rc(rc, "pssl cursor");
	MDB_val k, v;
	int mr;
	if (p->reverse) {
		if (rk) {
			k = mv(rk, 8);
			mr = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
			mr = mr == MDB_NOTFOUND ? mdb_cursor_get(c, &k, &v, MDB_LAST)
						: (mr ? mr : mdb_cursor_get(c, &k, &v, MDB_PREV));
			/* SET_RANGE found the key itself or the next: either way the one
			 * before it comes next, unless LAST is already below it */
			if (mr == 0 && memcmp(k.mv_data, rk, 8) >= 0)
				mr = mdb_cursor_get(c, &k, &v, MDB_PREV);
		} else {
			mr = mdb_cursor_get(c, &k, &v, MDB_LAST);
		}
		while (mr == 0 && !rc) {
			rc = q_entry(r, k.mv_data, k.mv_size, &v);
			if (rc)
				break;
			mr = mdb_cursor_get(c, &k, &v, MDB_PREV);
		}
	} else {
		for (size_t si = first; si < p->nseg && !rc; si++) {
			const struct qseg *g = &p->seg[si];
			uint8_t start[PSSL_CKEY_MAX];
			size_t sl = g->plen;
			memcpy(start, g->prefix, g->plen);
			if (p->ip) {
				memcpy(start + 1, p->lo, 16);
				sl = 17;
			}
			int skip = 0;
			if (rk && si == first) {
				memcpy(start, rk, rkl);
				sl = rkl;
				skip = 1;
			}
			k = mv(start, sl);
			mr = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
			if (mr == 0 && skip && k.mv_size == sl && !memcmp(k.mv_data, start, sl))
				mr = mdb_cursor_get(c, &k, &v, MDB_NEXT);
			while (mr == 0 && in_seg(p, g, k.mv_data, k.mv_size)) {
				const uint8_t *kp = k.mv_data;
				if (q->has_port && !p->certs &&
				    (uint16_t)(kp[k.mv_size - 10] << 8 | kp[k.mv_size - 9]) != q->port)
					goto next; /* the key's port spares the tuple read */
				if ((rc = q_entry(r, kp, k.mv_size, &v)))
					break;
			next:
				mr = mdb_cursor_get(c, &k, &v, MDB_NEXT);
			}
			if (!rc && mr && mr != MDB_NOTFOUND)
				rc = store_rc(mr, "pssl scan");
		}
		mr = 0;
	}
	if (!rc && mr && mr != MDB_NOTFOUND)
		rc = store_rc(mr, "pssl scan");
	mdb_cursor_close(c);
	return rc > 0 ? 0 : rc;
}

static int query_run(struct d4_store *s, const struct d4_store_pssl_query *q,
		     int (*tcb)(void *ctx, const struct d4_store_pssl_tuple *t),
		     int (*ccb)(void *ctx, const struct d4_store_pssl_cert *c), void *ctx,
		     struct d4_store_pssl_qresult *res)
{
	if (!s || !q || !res || (!tcb && !ccb))
		return D4_EINVAL;
	memset(res, 0, sizeof(*res));
	int certs = (int)q->by >= 32;
	if ((tcb && certs) || (ccb && !certs))
		return D4_EINVAL;
	if (q->resume_len && !q->resume)
		return D4_EINVAL;
	struct qrun *r = calloc(1, sizeof(*r));
	if (!r)
		return D4_ENOMEM;
	r->s = s;
	r->q = q;
	r->tcb = tcb;
	r->ccb = ccb;
	r->ctx = ctx;
	r->res = res;
	int rc = 0;
	if (absent(s)) {
		/* nothing stored: still refuse a bad query */
		r->txn = NULL;
	} else {
		rc = store_txn_begin(s, 1, &r->txn);
	}
	if (!rc && r->txn)
		rc = plan_make(s, r->txn, q, &r->p);
	else if (!rc && q->by != D4_PSSL_BY_RECENT && q->by != D4_PSSL_CERTS_BY_SPKI &&
		 q->by != D4_PSSL_CERTS_BY_MODULUS)
		rc = plan_make(s, NULL, q, &r->p);
	if (!rc) {
		r->p.qhash = query_hash(q);
		if (r->txn)
			rc = q_scan(r);
	}
	if (rc)
		memset(res, 0, sizeof(*res));
	if (r->txn)
		mdb_txn_abort(r->txn);
	free(r->p.seg);
	free(r);
	return rc;
}

int d4_store_pssl_query(struct d4_store *s, const struct d4_store_pssl_query *q,
			int (*cb)(void *ctx, const struct d4_store_pssl_tuple *t), void *ctx,
			struct d4_store_pssl_qresult *res)
{
	if (!cb)
		return D4_EINVAL;
	return query_run(s, q, cb, NULL, ctx, res);
}

int d4_store_pssl_query_certs(struct d4_store *s, const struct d4_store_pssl_query *q,
			      int (*cb)(void *ctx, const struct d4_store_pssl_cert *c), void *ctx,
			      struct d4_store_pssl_qresult *res)
{
	if (!cb)
		return D4_EINVAL;
	return query_run(s, q, NULL, cb, ctx, res);
}

int d4_store_pssl_changes(struct d4_store *s, uint64_t after, int (*cb)(void *ctx, const struct d4_store_pssl_tuple *t),
			  void *ctx, uint64_t *last)
{
	if (last)
		*last = 0;
	if (!s || !cb)
		return D4_EINVAL;
	if (absent(s))
		return 0;
	struct qrun *r = calloc(1, sizeof(*r));
	if (!r)
		return D4_ENOMEM;
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	int rc = store_txn_begin(s, 1, &txn);
	uint64_t hi = 0;
	if (!rc)
		rc = store_settings_get_u64(s, txn, PSSL_CHANGE_SEQ, &hi);
	if (!rc && last)
		*last = hi;
	if (!rc && after < hi && (rc = mdb_cursor_open(txn, s->dbi[DBI_PSSL_CHANGE], &c)) != 0)
		rc = store_rc(rc, "pssl cursor");
	if (!rc && c) {
		uint8_t sk[8];
		d4_put_u64be(sk, after + 1);
		MDB_val k = mv(sk, 8), v;
		int mr = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		for (; mr == 0; mr = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (k.mv_size != 8 || v.mv_size != 8) {
				rc = D4_ECORRUPT;
				break;
			}
			uint64_t id = d4_get_u64be(v.mv_data);
			rc = tuple_get(s, txn, id, &r->t);
			if (!rc && r->t.change_seq != d4_get_u64be(k.mv_data))
				rc = D4_ECORRUPT; /* a change entry the row does not know */
			if (rc) {
				if (rc == D4_ENOTFOUND)
					rc = D4_ECORRUPT;
				break;
			}
			tuple_out(&r->t, id, &r->tout);
			if ((rc = cb(ctx, &r->tout)) != 0)
				break;
		}
		if (!rc && mr && mr != MDB_NOTFOUND)
			rc = store_rc(mr, "pssl changes scan");
	}
	if (c)
		mdb_cursor_close(c);
	if (txn)
		mdb_txn_abort(txn);
	free(r);
	return rc;
}

/* ---- keys ---- */

static void key_out(const struct pssl_krec *k, uint64_t id, struct d4_store_pssl_key *o)
{
	memset(o, 0, sizeof(*o));
	o->id = id;
	memcpy(o->spki_sha256, k->spki, 32);
	o->key_type = k->key_type;
	o->key_bits = k->key_bits;
	o->modulus = k->modulus;
	o->modulus_len = k->modulus_len;
	o->exponent = k->exponent;
	o->exponent_len = k->exponent_len;
	o->first_seen = k->first_seen;
	o->certs = k->certs;
	o->subjects = key_subjects(k);
}

int d4_store_pssl_keys_after(struct d4_store *s, uint64_t after, uint64_t max,
			     int (*cb)(void *ctx, const struct d4_store_pssl_key *k), void *ctx)
{
	if (!s || !cb)
		return D4_EINVAL;
	if (absent(s) || after == UINT64_MAX)
		return 0;
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	if ((rc = mdb_cursor_open(txn, s->dbi[DBI_PSSL_KEY], &c))) {
		mdb_txn_abort(txn);
		return store_rc(rc, "pssl cursor");
	}
	uint8_t sk[8];
	d4_put_u64be(sk, after + 1);
	MDB_val k = mv(sk, 8), v;
	uint64_t n = 0;
	int mr = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	for (; mr == 0 && (!max || n < max); mr = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct pssl_krec kr;
		struct d4_store_pssl_key o;
		if (k.mv_size != 8) {
			rc = D4_ECORRUPT;
			break;
		}
		if ((rc = store_pssl_krec_decode(v.mv_data, v.mv_size, &kr)))
			break;
		key_out(&kr, d4_get_u64be(k.mv_data), &o);
		n++;
		if ((rc = cb(ctx, &o)) != 0)
			break;
	}
	if (!rc && mr && mr != MDB_NOTFOUND)
		rc = store_rc(mr, "pssl keys scan");
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc;
}

int d4_store_pssl_key_get(struct d4_store *s, uint64_t id, int (*cb)(void *ctx, const struct d4_store_pssl_key *k),
			  void *ctx)
{
	if (!s || !cb)
		return D4_EINVAL;
	if (absent(s))
		return D4_ENOTFOUND;
	MDB_txn *txn = NULL;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	struct pssl_krec kr;
	rc = key_get_txn(s, txn, id, &kr);
	if (!rc) {
		struct d4_store_pssl_key o;
		key_out(&kr, id, &o);
		rc = cb(ctx, &o);
	}
	mdb_txn_abort(txn);
	return rc;
}

/* ---- weak-key findings ---- */

static void find_key(uint8_t kind, uint64_t id, uint64_t other, uint8_t k[17])
{
	k[0] = kind;
	d4_put_u64be(k + 1, id);
	d4_put_u64be(k + 9, other);
}

static int weak_txn(struct d4_store *s, MDB_txn *txn, const struct d4_store_pssl_finding *f, size_t n,
		    uint64_t position)
{
	uint8_t buf[PSSL_FIND_MAX], k[17], ik[25];
	uint64_t now = (uint64_t)time(NULL);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		struct d4_store_pssl_finding x = f[i];
		x.found_s = now;
		find_key(x.kind, x.id, x.other, k);
		size_t l = store_pssl_find_encode(&x, buf);
		MDB_val key = mv(k, 17), val = mv(buf, l);
		if ((rc = store_rc(mdb_put(txn, s->dbi[DBI_PSSL_WEAK], &key, &val, 0), "pssl weak put")))
			break;
		/* one index entry per key named (one when id == other) */
		uint64_t ids[2] = {x.id, x.other};
		for (int j = 0; j < 2 && !rc; j++) {
			if (!ids[j] || (j == 1 && ids[1] == ids[0]))
				continue;
			d4_put_u64be(ik, ids[j]);
			memcpy(ik + 8, k, 17);
			MDB_val ikey = mv(ik, 25), iv = mv("", 0);
			rc = store_rc(mdb_put(txn, s->dbi[DBI_PSSL_WEAKIDX], &ikey, &iv, 0), "pssl weak idx put");
		}
	}
	if (!rc)
		rc = store_settings_put_u64(s, txn, PSSL_WEAK_POS, position);
	return rc;
}

int d4_store_pssl_weak_apply(struct d4_store *s, const struct d4_store_pssl_finding *f, size_t n, uint64_t position)
{
	if (!s || (n && !f))
		return D4_EINVAL;
	for (size_t i = 0; i < n; i++)
		/* kind 0 means "every kind" to readers, key ids start at 1 */
		if (!f[i].kind || !f[i].id || (f[i].factor && f[i].factor_len > D4_PSSL_FACTOR_MAX) ||
		    (!f[i].factor && f[i].factor_len))
			return D4_EINVAL;
	if (s->opts.read_only)
		return D4_EPERM;
	if (absent(s))
		return D4_ESTORE;
	MDB_txn *txn = NULL;
	int rc = store_txn_begin(s, 0, &txn);
	if (rc)
		return rc;
	rc = weak_txn(s, txn, f, n, position);
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	return store_rc(mdb_txn_commit(txn), "pssl weak commit");
}

int d4_store_pssl_weak_position(struct d4_store *s, uint64_t *position)
{
	if (!s || !position)
		return D4_EINVAL;
	*position = 0;
	if (absent(s))
		return 0;
	MDB_txn *txn = NULL;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	rc = store_settings_get_u64(s, txn, PSSL_WEAK_POS, position);
	mdb_txn_abort(txn);
	return rc;
}

int d4_store_pssl_weak_query(struct d4_store *s, uint8_t kind, uint64_t id, uint32_t limit, const uint8_t *resume,
			     size_t resume_len, int (*cb)(void *ctx, const struct d4_store_pssl_finding *f), void *ctx,
			     struct d4_store_pssl_qresult *res)
{
	if (!s || !cb || !res || (resume_len && !resume))
		return D4_EINVAL;
	memset(res, 0, sizeof(*res));
	/* the scan: the findings table (prefix: kind) or one key's entries
	 * (prefix: id [|| kind]); the entry's last 17 bytes name the finding */
	uint8_t prefix[9];
	size_t plen = 0, klen = id ? 25 : 17;
	enum store_dbi dbi = id ? DBI_PSSL_WEAKIDX : DBI_PSSL_WEAK;
	if (id) {
		d4_put_u64be(prefix, id);
		plen = 8;
	}
	if (kind)
		prefix[plen++] = kind;
	uint8_t qh[9] = {kind};
	d4_put_u64be(qh + 1, id);
	uint32_t hash = fnv(2166136261u, qh, 9);
	const uint8_t *rk = NULL;
	if (resume_len) {
		if (resume_len != 6 + klen || resume[0] != PSSL_RESUME_V1 || resume[1] != 0xff ||
		    d4_get_u32be(resume + 2) != hash || memcmp(resume + 6, prefix, plen))
			return D4_EINVAL;
		rk = resume + 6;
	}
	if (absent(s))
		return 0;
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	if ((rc = mdb_cursor_open(txn, s->dbi[dbi], &c))) {
		mdb_txn_abort(txn);
		return store_rc(rc, "pssl cursor");
	}
	MDB_val k = rk ? mv(rk, klen) : mv(prefix, plen), v;
	int mr = plen || rk ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(c, &k, &v, MDB_FIRST);
	if (mr == 0 && rk && k.mv_size == klen && !memcmp(k.mv_data, rk, klen))
		mr = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	int done = 0;
	for (; mr == 0; mr = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen))
			break;
		if (k.mv_size != klen) {
			rc = D4_ECORRUPT;
			break;
		}
		const uint8_t *fk = (const uint8_t *)k.mv_data + klen - 17;
		MDB_val fv = v;
		if (id) {
			if (kind && fk[0] != kind)
				break;
			if ((rc = get(s, txn, DBI_PSSL_WEAK, fk, 17, &fv))) {
				if (rc == D4_ENOTFOUND)
					rc = D4_ECORRUPT;
				break;
			}
		}
		struct d4_store_pssl_finding f;
		if ((rc = store_pssl_find_decode(fk, 17, fv.mv_data, fv.mv_size, &f)))
			break;
		if (done) {
			res->more = 1;
			break;
		}
		int cr = cb(ctx, &f);
		if (cr < 0) {
			rc = cr;
			break;
		}
		res->returned++;
		res->resume[0] = PSSL_RESUME_V1;
		res->resume[1] = 0xff;
		d4_put_u32be(res->resume + 2, hash);
		memcpy(res->resume + 6, k.mv_data, klen);
		res->resume_len = 6 + klen;
		if (cr > 0)
			break;
		if (limit && res->returned >= limit)
			done = 1;
	}
	if (!rc && mr && mr != MDB_NOTFOUND)
		rc = store_rc(mr, "pssl weak scan");
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc;
}

/* ---- housekeeping ---- */

int d4_store_pssl_info(struct d4_store *s, struct d4_store_pssl_info *out)
{
	if (!s || !out)
		return D4_EINVAL;
	memset(out, 0, sizeof(*out));
	if (absent(s))
		return 0;
	MDB_txn *txn = NULL;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	for (size_t i = 0; i < PSSL_NDBI && !rc; i++) {
		MDB_stat st;
		rc = store_rc(mdb_stat(txn, s->dbi[pssl_dbis[i]], &st), "pssl stat");
		if (rc)
			break;
		switch (pssl_dbis[i]) {
		case DBI_PSSL_CERT: out->certs = st.ms_entries; break;
		case DBI_PSSL_TUPLE: out->tuples = st.ms_entries; break;
		case DBI_PSSL_KEY: out->keys = st.ms_entries; break;
		case DBI_PSSL_WEAK: out->findings = st.ms_entries; break;
		case DBI_PSSL_FP: out->fingerprints = st.ms_entries; break;
		default: break;
		}
		out->bytes += (uint64_t)(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize;
	}
	if (!rc)
		rc = store_settings_get_u64(s, txn, PSSL_RSA_KEYS, &out->rsa_keys);
	if (!rc)
		rc = store_settings_get_u64(s, txn, PSSL_CHANGE_SEQ, &out->change_seq);
	if (!rc)
		rc = store_settings_get_u64(s, txn, PSSL_WEAK_POS, &out->weak_position);
	mdb_txn_abort(txn);
	return rc;
}

/* Deletes tuple t (id) with its identity entry, change entry and pivots. */
static int tuple_delete(struct d4_store *s, MDB_txn *txn, uint64_t id, const struct pssl_trec *t)
{
	struct d4_store_pssl_obs o;
	struct tid tk;
	memset(&o, 0, sizeof(o));
	memcpy(o.server_ip, t->ip, 16);
	o.server_port = t->port;
	o.sni = t->has_sni ? (const uint8_t *)t->sni : NULL;
	o.sni_len = t->sni_len;
	o.has_ja3 = t->has_ja3;
	o.has_ja3s = t->has_ja3s;
	memcpy(o.ja3_md5, t->ja3, 16);
	memcpy(o.ja3s_md5, t->ja3s, 16);
	char ja4[D4_PSSL_JA4_MAX + 1];
	memcpy(ja4, t->has_ja4 ? t->ja4 : "", t->ja4_len);
	ja4[t->ja4_len] = 0;
	o.ja4 = ja4;
	int rc = tid_make(&o, t->has_cert, t->chain[0], &tk);
	uint8_t k[8];
	if (!rc)
		rc = del(s, txn, DBI_PSSL_TKEY, tk.key, sizeof(tk.key));
	if (!rc)
		rc = tuple_index(s, txn, t, id, 1);
	for (size_t i = 0; i < t->n_chain && !rc; i++)
		rc = cert_entry(s, txn, t, t->chain[i], id, 1);
	d4_put_u64be(k, t->change_seq);
	if (!rc)
		rc = del(s, txn, DBI_PSSL_CHANGE, k, 8);
	d4_put_u64be(k, id);
	if (!rc)
		rc = del(s, txn, DBI_PSSL_TUPLE, k, 8);
	return rc;
}

int d4_store_pssl_expire(struct d4_store *s, uint64_t cutoff, unsigned max_per_txn, uint64_t *removed)
{
	if (removed)
		*removed = 0;
	if (!s)
		return D4_EINVAL;
	if (s->opts.read_only)
		return D4_EPERM;
	if (absent(s))
		return 0;
	if (!max_per_txn)
		max_per_txn = PSSL_EXPIRE_DEF;
	struct pssl_trec *t = malloc(sizeof(*t));
	if (!t)
		return D4_ENOMEM;
	/* the tuples in id order, from a position that moves across the
	 * transactions (a delete never moves a later key) */
	uint64_t pos = 1, total = 0;
	int rc = 0, end = 0;
	while (!rc && !end) {
		MDB_txn *txn = NULL;
		MDB_cursor *c = NULL;
		if ((rc = store_txn_begin(s, 0, &txn)))
			break;
		if ((rc = mdb_cursor_open(txn, s->dbi[DBI_PSSL_TUPLE], &c))) {
			rc = store_rc(rc, "pssl cursor");
			mdb_txn_abort(txn);
			break;
		}
		unsigned n = 0, examined = 0;
		while (!rc && n < max_per_txn && examined < 8 * max_per_txn) {
			uint8_t pk[8];
			d4_put_u64be(pk, pos);
			MDB_val k = mv(pk, 8), v;
			int mr = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
			if (mr == MDB_NOTFOUND) {
				end = 1;
				break;
			}
			if (mr) {
				rc = store_rc(mr, "pssl expire scan");
				break;
			}
			if (k.mv_size != 8) {
				rc = D4_ECORRUPT;
				break;
			}
			uint64_t id = d4_get_u64be(k.mv_data);
			examined++;
			if ((rc = store_pssl_trec_decode(v.mv_data, v.mv_size, t)))
				break;
			if (t->m.last < cutoff) {
				/* t's strings point into the page the deletes change */
				uint8_t sni[D4_PSSL_SNI_MAX + 1], ja4[D4_PSSL_JA4_MAX + 1];
				memcpy(sni, t->has_sni ? t->sni : "", t->sni_len);
				memcpy(ja4, t->has_ja4 ? t->ja4 : "", t->ja4_len);
				t->sni = (const char *)sni;
				t->ja4 = (const char *)ja4;
				rc = tuple_delete(s, txn, id, t);
				n++;
			}
			if (id == UINT64_MAX) {
				end = 1;
				break;
			}
			pos = id + 1;
		}
		mdb_cursor_close(c);
		if (rc) {
			mdb_txn_abort(txn);
			break;
		}
		if ((rc = store_rc(mdb_txn_commit(txn), "pssl expire commit")))
			break;
		total += n;
	}
	free(t);
	if (removed)
		*removed = total;
	return rc;
}

/* d4_store_pssl_apply inside a write transaction the caller owns (the
 * federation writer applies a received certs batch with its receiver
 * position: store_fed.c). Nothing committed or aborted here. */
int store_pssl_apply_txn(struct d4_store *s, MDB_txn *txn, const struct d4_store_pssl_update *u, uint64_t *missing)
{
	if (missing)
		*missing = 0;
	if (!s || !txn || !u)
		return D4_EINVAL;
	int rc = update_check(u);
	if (rc)
		return rc;
	if (absent(s))
		return D4_ESTORE;
	struct pa *a = malloc(sizeof(*a));
	if (!a)
		return D4_ENOMEM;
	a->s = s;
	a->txn = txn;
	rc = apply_txn(a, u);
	if (!rc && missing)
		*missing = a->missing;
	free(a);
	return rc;
}
