/* Check suite for the passive-SSL store (hub/store/store_pssl.c): real
 * LMDB environments under a mkdtemp dir. The merge rules on hand-made
 * rows; every pivot compared with a brute-force answer computed here,
 * independently, over a generated set, whole and paged. */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_reader.h"
#include "d4_store.h"
#include "d4_store_pssl.h"
#include "store_internal.h"
#include "store_pssl_internal.h"

#include <check.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];
static char storedir[300];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void setup(void)
{
	const char *lv = getenv("D4_TEST_LOG");
	enum d4_log_level level = D4_LOG_ERR;
	if (lv)
		d4_log_level_parse(lv, &level);
	d4_log_init("test_store_pssl", 0, level);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/d4pssl-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(storedir, sizeof(storedir), "%s/store", tmpdir);
}

static void teardown(void)
{
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static struct d4_store_opts base_opts(void)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = storedir;
	o.map_size = 512u << 20;
	o.no_sync = 1;
	return o;
}

static struct d4_store *open_store(const struct d4_store_opts *o)
{
	struct d4_store *s = NULL;
	ck_assert_int_eq(d4_store_open(o, &s), 0);
	return s;
}

/* ---- deterministic random ---- */
static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}
static unsigned rndn(unsigned n) __attribute__((unused));
static unsigned rndn(unsigned n)
{
	return (unsigned)(rnd() % n);
}

static void v4(uint8_t a[16], unsigned x)
{
	memset(a, 0, 10);
	a[10] = a[11] = 0xff;
	a[12] = (uint8_t)(x >> 24);
	a[13] = (uint8_t)(x >> 16);
	a[14] = (uint8_t)(x >> 8);
	a[15] = (uint8_t)x;
}

/* ---- a certificate made up for the store (it does not parse DER) ---- */
struct tcert {
	struct d4_store_pssl_cert c;
	uint8_t der[64];
	char subject[300], issuer[64], cn[256];
	uint8_t modulus[32], exponent[3];
	struct d4_store_pssl_san san[4];
	char san_v[4][256];
};

/* Certificate number i, key number key (key 0: unparsed), names given. */
static void tcert_make(struct tcert *t, unsigned i, unsigned key, const char *cn, const char *san0, const char *san1,
		       const char *issuer)
{
	memset(t, 0, sizeof(*t));
	struct d4_store_pssl_cert *c = &t->c;
	for (int j = 0; j < 20; j++)
		c->sha1[j] = (uint8_t)(i * 7 + (unsigned)j * 13 + (i >> 8));
	c->sha1[0] = (uint8_t)(i >> 8);
	c->sha1[1] = (uint8_t)i;
	memset(c->sha256, 0, 32);
	c->sha256[0] = 0xa5;
	c->sha256[30] = (uint8_t)(i >> 8);
	c->sha256[31] = (uint8_t)i;
	snprintf((char *)t->der, sizeof(t->der), "DER-of-cert-%u", i);
	c->der = t->der;
	c->der_len = strlen((char *)t->der);
	if (!key)
		return;
	c->parsed = 1;
	c->version = 2;
	snprintf(t->subject, sizeof(t->subject), "CN=%s,O=Test %u", cn ? cn : "none", key);
	snprintf(t->issuer, sizeof(t->issuer), "%s", issuer ? issuer : "CN=Test CA");
	c->subject = t->subject;
	c->issuer = t->issuer;
	c->not_before = -86400;
	c->not_after = 4102444800ll;
	c->serial = "01ab";
	c->sig_alg = "sha256WithRSAEncryption";
	c->key_alg = key % 3 ? "rsaEncryption" : "id-ecPublicKey";
	c->key_type = key % 3 ? 1 : 2;
	c->key_bits = key % 3 ? 2048 : 256;
	memset(c->spki_sha256, 0, 32);
	c->spki_sha256[0] = 0x5b;
	c->spki_sha256[31] = (uint8_t)key;
	c->spki_sha256[30] = (uint8_t)(key >> 8);
	if (c->key_type == 1) {
		memset(t->modulus, 0xc3, sizeof(t->modulus));
		/* keys 1 and 4 ... share a modulus in groups (key % 9) */
		t->modulus[31] = (uint8_t)(key % 9);
		t->exponent[0] = 1;
		t->exponent[2] = 1;
		c->modulus = t->modulus;
		c->modulus_len = sizeof(t->modulus);
		c->exponent = t->exponent;
		c->exponent_len = 3;
		c->curve = "";
	} else {
		c->curve = "prime256v1";
	}
	if (cn) {
		snprintf(t->cn, sizeof(t->cn), "%s", cn);
		c->cn = t->cn;
	}
	const char *sans[2] = {san0, san1};
	for (int j = 0; j < 2; j++) {
		if (!sans[j])
			continue;
		snprintf(t->san_v[c->n_san], sizeof(t->san_v[0]), "%s", sans[j]);
		t->san[c->n_san].type = 1;
		t->san[c->n_san].len = (uint16_t)strlen(sans[j]);
		t->san[c->n_san].value = (const uint8_t *)t->san_v[c->n_san];
		c->n_san++;
	}
	static const uint8_t ip[4] = {192, 0, 2, 1};
	t->san[c->n_san].type = 2;
	t->san[c->n_san].len = 4;
	t->san[c->n_san].value = ip;
	c->n_san++;
	c->san = t->san;
}

static void obs_init(struct d4_store_pssl_obs *o, unsigned ip, uint16_t port, const struct d4_store_pssl_cert *certs,
		     size_t n, uint64_t t)
{
	memset(o, 0, sizeof(*o));
	v4(o->server_ip, ip);
	o->server_port = port;
	o->certs = certs;
	o->n_certs = n;
	o->time_first = o->time_last = t;
	o->tlp = D4_TLP_GREEN;
}

static int apply(struct d4_store *s, const struct d4_store_pssl_obs *o, size_t n, uint64_t *missing)
{
	struct d4_store_pssl_update u;
	memset(&u, 0, sizeof(u));
	u.obs = o;
	u.nobs = n;
	return d4_store_pssl_apply(s, &u, missing);
}

/* ---- collecting results ---- */
#define MAXR 4096
struct tcoll {
	size_t n;
	uint64_t id[MAXR];
	struct d4_store_pssl_tuple last;
	uint8_t first_sha1[20];
	int stop_after;
};
static int tcoll_cb(void *ctx, const struct d4_store_pssl_tuple *t)
{
	struct tcoll *c = ctx;
	ck_assert_uint_lt(c->n, MAXR);
	c->id[c->n++] = t->id;
	c->last = *t;
	c->last.sni = NULL;
	c->last.ja4 = NULL;
	return 0;
}
struct ccoll {
	size_t n;
	uint8_t sha1[MAXR][20];
	struct d4_store_pssl_cert last;
	char subject[256];
	uint8_t der[128];
	size_t der_len;
};
static int ccoll_cb(void *ctx, const struct d4_store_pssl_cert *c)
{
	struct ccoll *cc = ctx;
	ck_assert_uint_lt(cc->n, MAXR);
	memcpy(cc->sha1[cc->n++], c->sha1, 20);
	cc->last = *c;
	snprintf(cc->subject, sizeof(cc->subject), "%s", c->subject ? c->subject : "");
	cc->der_len = c->der_len < sizeof(cc->der) ? c->der_len : sizeof(cc->der);
	memcpy(cc->der, c->der, cc->der_len);
	return 0;
}

static size_t q_tuples(struct d4_store *s, struct d4_store_pssl_query *q, struct tcoll *tc)
{
	struct d4_store_pssl_qresult res;
	memset(tc, 0, sizeof(*tc));
	ck_assert_int_eq(d4_store_pssl_query(s, q, tcoll_cb, tc, &res), 0);
	ck_assert_uint_eq(res.returned, tc->n);
	return tc->n;
}

static size_t q_certs(struct d4_store *s, struct d4_store_pssl_query *q, struct ccoll *cc)
{
	struct d4_store_pssl_qresult res;
	memset(cc, 0, sizeof(*cc));
	ck_assert_int_eq(d4_store_pssl_query_certs(s, q, ccoll_cb, cc, &res), 0);
	ck_assert_uint_eq(res.returned, cc->n);
	return cc->n;
}

static int cert_get_cb(void *ctx, const struct d4_store_pssl_cert *c)
{
	return ccoll_cb(ctx, c);
}

/* ---- basics: apply, known, get, by ip, by cert, by key, keys, weak ---- */

struct kcoll {
	size_t n;
	struct d4_store_pssl_key k[64];
};
static int kcoll_cb(void *ctx, const struct d4_store_pssl_key *k)
{
	struct kcoll *kc = ctx;
	ck_assert_uint_lt(kc->n, 64);
	kc->k[kc->n] = *k;
	kc->k[kc->n].modulus = NULL;
	kc->k[kc->n].exponent = NULL;
	kc->n++;
	return 0;
}

struct fcoll {
	size_t n;
	struct d4_store_pssl_finding f[MAXR];
};
static int fcoll_cb(void *ctx, const struct d4_store_pssl_finding *f)
{
	struct fcoll *fc = ctx;
	ck_assert_uint_lt(fc->n, MAXR);
	fc->f[fc->n] = *f;
	fc->f[fc->n].factor = NULL;
	fc->n++;
	return 0;
}

START_TEST(test_basics)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	static struct tcert leaf, ca, leaf2;
	tcert_make(&leaf, 1, 1, "www.example.com", "www.example.com", "example.com", "CN=Test CA");
	tcert_make(&ca, 2, 2, "Test CA", NULL, NULL, "CN=Root");
	tcert_make(&leaf2, 3, 1, "mail.example.com", "mail.example.com", NULL, "CN=Test CA"); /* same key as leaf */
	struct d4_store_pssl_cert chain[2] = {leaf.c, ca.c};
	struct d4_store_pssl_obs ob[3];
	obs_init(&ob[0], 0x0a000001, 443, chain, 2, 1000);
	ob[0].has_ja3 = 1;
	memset(ob[0].ja3_md5, 0x33, 16);
	ob[0].ja3 = "771,4865-4866,0-23,29-23,0";
	ob[0].sni = (const uint8_t *)"WWW.Example.com";
	ob[0].sni_len = 15;
	ob[0].ja4 = "t13d1516h2_8daaf6152771_e5627efa2ab1";
	ob[0].has_sensor = 1;
	memset(ob[0].sensor, 1, 16);
	ob[1] = ob[0]; /* the same handshake later: one tuple, count 2 */
	ob[1].time_first = ob[1].time_last = 2000;
	obs_init(&ob[2], 0x0a000002, 8443, &leaf2.c, 1, 1500);
	uint64_t missing = 9;
	ck_assert_int_eq(apply(s, ob, 3, &missing), 0);
	ck_assert_uint_eq(missing, 0);

	uint8_t q3[4][20];
	memcpy(q3[0], leaf.c.sha1, 20);
	memcpy(q3[1], ca.c.sha1, 20);
	memcpy(q3[2], leaf2.c.sha1, 20);
	memset(q3[3], 0x77, 20);
	uint8_t known[4];
	ck_assert_int_eq(d4_store_pssl_cert_known(s, (const uint8_t(*)[20])q3, 4, known), 0);
	ck_assert(known[0] && known[1] && known[2] && !known[3]);

	static struct ccoll cc;
	memset(&cc, 0, sizeof(cc));
	ck_assert_int_eq(d4_store_pssl_cert_get(s, leaf.c.sha1, D4_TLP_GREEN, cert_get_cb, &cc), 0);
	ck_assert_uint_eq(cc.n, 1);
	ck_assert_uint_eq(cc.der_len, leaf.c.der_len);
	ck_assert(!memcmp(cc.der, leaf.c.der, leaf.c.der_len));
	ck_assert_str_eq(cc.subject, leaf.subject);
	ck_assert_uint_eq(cc.last.first_seen, 1000);
	ck_assert_uint_eq(cc.last.last_seen, 2000);
	ck_assert_uint_eq(cc.last.count, 2);
	ck_assert_uint_eq(cc.last.key_id, 1);
	ck_assert_uint_eq(cc.last.key_type, 1);
	ck_assert_uint_eq(cc.last.key_bits, 2048);
	ck_assert_uint_eq(cc.last.modulus_len, 32);
	ck_assert_uint_eq(cc.last.nsensors, 1);
	ck_assert_uint_eq(cc.last.n_san, 3);
	ck_assert(!memcmp(cc.last.spki_sha256, leaf.c.spki_sha256, 32));
	ck_assert_int_eq(d4_store_pssl_cert_get(s, q3[3], D4_TLP_RED, cert_get_cb, &cc), D4_ENOTFOUND);
	/* TLP:GREEN is invisible at CLEAR clearance: the same answer as absent */
	ck_assert_int_eq(d4_store_pssl_cert_get(s, leaf.c.sha1, D4_TLP_CLEAR, cert_get_cb, &cc), D4_ENOTFOUND);

	struct d4_store_pssl_query q;
	memset(&q, 0, sizeof(q));
	q.by = D4_PSSL_BY_IP;
	v4(q.ip_lo, 0x0a000000);
	v4(q.ip_hi, 0x0a0000ff);
	q.max_tlp = D4_TLP_RED;
	static struct tcoll tc;
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 2);
	ck_assert_uint_eq(tc.id[0], 1);
	ck_assert_uint_eq(tc.id[1], 2);
	v4(q.ip_hi, 0x0a000001);
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 1);
	ck_assert_uint_eq(tc.last.count, 2);
	ck_assert_uint_eq(tc.last.time_first, 1000);
	ck_assert_uint_eq(tc.last.time_last, 2000);
	ck_assert_uint_eq(tc.last.n_chain, 2);
	ck_assert(tc.last.has_cert && !memcmp(tc.last.cert, leaf.c.sha1, 20));
	ck_assert(!memcmp(tc.last.chain[1], ca.c.sha1, 20));
	ck_assert(tc.last.has_ja3 && !tc.last.has_ja3s);

	q.by = D4_PSSL_BY_CERT;
	q.key = ca.c.sha1;
	q.key_len = 20;
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 1);
	q.key = leaf2.c.sha1;
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 1);
	ck_assert_uint_eq(tc.id[0], 2);

	/* keys: deduplicated by SPKI, certs and subjects counted */
	static struct kcoll kc;
	memset(&kc, 0, sizeof(kc));
	ck_assert_int_eq(d4_store_pssl_keys_after(s, 0, 0, kcoll_cb, &kc), 0);
	ck_assert_uint_eq(kc.n, 2);
	ck_assert_uint_eq(kc.k[0].id, 1);
	ck_assert_uint_eq(kc.k[0].certs, 2);
	ck_assert_uint_eq(kc.k[0].subjects, 2);
	ck_assert_uint_eq(kc.k[0].first_seen, 1000);
	ck_assert_uint_eq(kc.k[1].id, 2);
	ck_assert_uint_eq(kc.k[1].certs, 1);
	/* an older sighting of a known certificate moves its key's first_seen */
	struct d4_store_pssl_cert known_leaf = leaf2.c;
	known_leaf.der = NULL;
	struct d4_store_pssl_obs old;
	obs_init(&old, 0x0a000009, 443, &known_leaf, 1, 400);
	ck_assert_int_eq(apply(s, &old, 1, NULL), 0);
	memset(&kc, 0, sizeof(kc));
	ck_assert_int_eq(d4_store_pssl_keys_after(s, 0, 1, kcoll_cb, &kc), 0);
	ck_assert_uint_eq(kc.k[0].first_seen, 400);
	ck_assert_uint_eq(kc.k[0].certs, 2);
	memset(&kc, 0, sizeof(kc));
	ck_assert_int_eq(d4_store_pssl_keys_after(s, 1, 0, kcoll_cb, &kc), 0);
	ck_assert_uint_eq(kc.n, 1);
	memset(&kc, 0, sizeof(kc));
	ck_assert_int_eq(d4_store_pssl_keys_after(s, 0, 1, kcoll_cb, &kc), 0);
	ck_assert_uint_eq(kc.n, 1);

	uint8_t kid[8];
	d4_put_u64be(kid, 1);
	memset(&q, 0, sizeof(q));
	q.by = D4_PSSL_CERTS_BY_KEY;
	q.key = kid;
	q.key_len = 8;
	q.max_tlp = D4_TLP_RED;
	ck_assert_uint_eq(q_certs(s, &q, &cc), 2);
	/* (key, sha1) order */
	ck_assert(memcmp(cc.sha1[0], cc.sha1[1], 20) < 0);
	/* a tuple pivot through the certificate call (and the reverse) is refused */
	struct d4_store_pssl_qresult res;
	ck_assert_int_eq(d4_store_pssl_query(s, &q, tcoll_cb, &tc, &res), D4_EINVAL);
	q.by = D4_PSSL_BY_IP;
	ck_assert_int_eq(d4_store_pssl_query_certs(s, &q, ccoll_cb, &cc, &res), D4_EINVAL);

	/* weak-key findings */
	uint64_t pos = 7;
	ck_assert_int_eq(d4_store_pssl_weak_position(s, &pos), 0);
	ck_assert_uint_eq(pos, 0);
	uint8_t factor[3] = {0x01, 0x00, 0x01};
	struct d4_store_pssl_finding f[3] = {
	    {.kind = 1, .id = 1, .other = 2, .reason = 0, .factor = factor, .factor_len = 3},
	    {.kind = 2, .id = 2, .other = 0, .reason = 5},
	    {.kind = 33, .id = 1, .other = 0, .reason = 1},
	};
	ck_assert_int_eq(d4_store_pssl_weak_apply(s, f, 3, 2), 0);
	ck_assert_int_eq(d4_store_pssl_weak_position(s, &pos), 0);
	ck_assert_uint_eq(pos, 2);
	static struct fcoll fc;
	memset(&fc, 0, sizeof(fc));
	ck_assert_int_eq(d4_store_pssl_weak_query(s, 0, 0, 0, NULL, 0, fcoll_cb, &fc, &res), 0);
	ck_assert_uint_eq(fc.n, 3);
	ck_assert_uint_eq(fc.f[0].kind, 1);
	ck_assert_uint_eq(fc.f[0].factor_len, 3);
	ck_assert_uint_eq(fc.f[1].kind, 2);
	ck_assert_uint_eq(fc.f[2].kind, 33);
	ck_assert_uint_ge(fc.f[0].found_s, (uint64_t)time(NULL) - 5);
	memset(&fc, 0, sizeof(fc)); /* key 2: named as other by kind 1, as id by kind 2 */
	ck_assert_int_eq(d4_store_pssl_weak_query(s, 0, 2, 0, NULL, 0, fcoll_cb, &fc, &res), 0);
	ck_assert_uint_eq(fc.n, 2);
	ck_assert_uint_eq(fc.f[0].kind, 1);
	ck_assert_uint_eq(fc.f[1].kind, 2);
	memset(&fc, 0, sizeof(fc));
	ck_assert_int_eq(d4_store_pssl_weak_query(s, 33, 1, 0, NULL, 0, fcoll_cb, &fc, &res), 0);
	ck_assert_uint_eq(fc.n, 1);
	ck_assert_uint_eq(fc.f[0].reason, 1);
	d4_store_close(s);
	s = open_store(&o);
	ck_assert_int_eq(d4_store_pssl_weak_position(s, &pos), 0);
	ck_assert_uint_eq(pos, 2);
	d4_store_close(s);
}
END_TEST

/* ---- brute force: every pivot against an independent model ---- */

#define BF_CERTS 72
#define BF_OBS	 1600
#define BF_IPS	 24
#define BF_TUP	 2048

static const char *const bf_names[] = {"example.com",	    "www.example.com", "mail.example.com", "*.example.com",
				       "a.b.example.com",   "example.org",     "www.example.org",  "test.net",
				       "Deep.Sub.Test.NET", "b.example.com",   "examplex.com",	   "x.examplex.com"};
#define BF_NNAMES (sizeof(bf_names) / sizeof(bf_names[0]))
static const char *const bf_issuers[] = {"CN=Test CA", "CN=Other CA,O=Other", "CN=Root"};
static const char *const bf_sni[] = {NULL, "www.example.com", "WWW.EXAMPLE.COM", "mail.example.com", "test.net", "x"};
static const char *const bf_ja4[] = {NULL, "t13d1516h2_8daaf6152771_e5627efa2ab1",
				     "t12d0909h1_aaaaaaaaaaaa_bbbbbbbbbbbb"};

struct bf_cert {
	struct tcert t;
	unsigned key, cn, san0, san1, issuer; /* name indexes, BF_NNAMES: none */
	int stored;
	uint64_t first, last, count;
	uint8_t tlp;
	uint64_t key_id;
};

struct bf_tuple {
	uint8_t ip[16];
	uint16_t port;
	int sni;	    /* index into bf_sni (lower-cased: 1 and 2 are the same) */
	int ja3, ja3s, ja4; /* 0: none */
	int cert;	    /* -1: none */
	uint64_t id, seq, tf, tl, count;
	uint8_t tlp;
	int chain[4], nchain;
};

static struct bf_cert bf_c[BF_CERTS];
static struct bf_tuple bf_t[BF_TUP];
static size_t bf_nt;
static uint8_t bf_ips[BF_IPS][16];
static uint64_t bf_keyid[64]; /* key number -> id */

static int sni_class(int i)
{
	return i == 2 ? 1 : i;
}

static void md5_of(int kind, int v, uint8_t out[16])
{
	memset(out, kind, 16);
	out[15] = (uint8_t)v;
}

/* The model's reversed name (an independent spelling of the store's rule:
 * labels split on dots, lower-cased, joined backwards, each with a dot). */
static void model_rev(const char *name, char *out)
{
	char low[300];
	size_t n = strlen(name);
	if (n && name[n - 1] == '.')
		n--;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
	low[n] = 0;
	char *labels[64];
	int nl = 0;
	char *p = low;
	for (;;) {
		labels[nl++] = p;
		char *d = strchr(p, '.');
		if (!d)
			break;
		*d = 0;
		p = d + 1;
	}
	out[0] = 0;
	for (int i = nl - 1; i >= 0; i--) {
		strcat(out, labels[i]);
		strcat(out, ".");
	}
}

static int tup_cmp_model(const void *x, const void *y)
{
	const struct bf_tuple *a = *(const struct bf_tuple *const *)x, *b = *(const struct bf_tuple *const *)y;
	int c = memcmp(a->ip, b->ip, 16);
	if (c)
		return c;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return (a->id > b->id) - (a->id < b->id);
}

static int tup_cmp_recent(const void *x, const void *y)
{
	const struct bf_tuple *a = *(const struct bf_tuple *const *)x, *b = *(const struct bf_tuple *const *)y;
	return (a->seq < b->seq) - (a->seq > b->seq);
}

static void bf_build(struct d4_store *s)
{
	/* D4_TEST_SEED: another data set (the default one is fixed) */
	const char *seed = getenv("D4_TEST_SEED");
	rng_state = seed && strtoull(seed, NULL, 0) ? strtoull(seed, NULL, 0) : 0x9e3779b97f4a7c15ull;
	if (seed)
		fprintf(stderr, "test_pivots_bruteforce: seed %s\n", seed);
	memset(bf_c, 0, sizeof(bf_c));
	memset(bf_t, 0, sizeof(bf_t));
	memset(bf_keyid, 0, sizeof(bf_keyid));
	bf_nt = 0;
	for (unsigned i = 0; i < BF_IPS; i++) {
		if (i < 16) {
			v4(bf_ips[i], 0x0a000000u + (i / 4) * 256 + i % 4);
		} else {
			memset(bf_ips[i], 0, 16);
			bf_ips[i][0] = 0x20;
			bf_ips[i][1] = 0x01;
			bf_ips[i][2] = 0x0d;
			bf_ips[i][3] = 0xb8;
			bf_ips[i][7] = (uint8_t)(i % 3);
			bf_ips[i][15] = (uint8_t)i;
		}
	}
	for (unsigned i = 0; i < BF_CERTS; i++) {
		struct bf_cert *c = &bf_c[i];
		c->key = i % 10 == 9 ? 0 : 1 + rndn(24);
		c->cn = rndn(BF_NNAMES + 1);
		c->san0 = rndn(BF_NNAMES + 1);
		c->san1 = rndn(BF_NNAMES + 1);
		c->issuer = rndn(3);
		tcert_make(&c->t, 100 + i, c->key, c->cn < BF_NNAMES ? bf_names[c->cn] : NULL,
			   c->san0 < BF_NNAMES ? bf_names[c->san0] : NULL,
			   c->san1 < BF_NNAMES ? bf_names[c->san1] : NULL, bf_issuers[c->issuer]);
	}
	uint64_t next_tuple = 1, next_key = 1, seq = 0;
	static struct d4_store_pssl_obs ob[100];
	static struct d4_store_pssl_cert certs[100][4];
	for (unsigned done = 0; done < BF_OBS;) {
		unsigned n = 1 + rndn(100);
		if (n > BF_OBS - done)
			n = BF_OBS - done;
		for (unsigned j = 0; j < n; j++) {
			struct d4_store_pssl_obs *o = &ob[j];
			memset(o, 0, sizeof(*o));
			unsigned ipi = rndn(BF_IPS);
			memcpy(o->server_ip, bf_ips[ipi], 16);
			static const uint16_t ports[3] = {443, 8443, 993};
			o->server_port = ports[rndn(3)];
			int sni = (int)rndn(6);
			if (bf_sni[sni]) {
				o->sni = (const uint8_t *)bf_sni[sni];
				o->sni_len = strlen(bf_sni[sni]);
			}
			int ja3 = (int)rndn(5), ja3s = (int)rndn(4), ja4 = (int)rndn(3);
			if (ja3) {
				o->has_ja3 = 1;
				md5_of(3, ja3, o->ja3_md5);
			}
			if (ja3s) {
				o->has_ja3s = 1;
				md5_of(4, ja3s, o->ja3s_md5);
			}
			o->ja4 = bf_ja4[ja4];
			int nc = (int)rndn(4), chain[4], npresent = 0, first_k = 0;
			if (bf_nt && rndn(2)) {
				/* half of them repeat a known handshake (its chain may differ
				 * after the server's own certificate) */
				const struct bf_tuple *x = &bf_t[rndn((unsigned)bf_nt)];
				memcpy(o->server_ip, x->ip, 16);
				o->server_port = x->port;
				sni = x->sni;
				o->sni = sni ? (const uint8_t *)bf_sni[sni] : NULL;
				o->sni_len = sni ? strlen(bf_sni[sni]) : 0;
				ja3 = x->ja3;
				ja3s = x->ja3s;
				ja4 = x->ja4;
				o->has_ja3 = ja3 != 0;
				md5_of(3, ja3, o->ja3_md5);
				o->has_ja3s = ja3s != 0;
				md5_of(4, ja3s, o->ja3s_md5);
				o->ja4 = bf_ja4[ja4];
				if (x->cert >= 0) {
					chain[0] = x->cert;
					certs[j][0] = bf_c[x->cert].t.c;
					certs[j][0].der = NULL;
					certs[j][0].der_len = 0;
					if (nc == 0)
						nc = 1;
					first_k = 1;
				} else {
					nc = 0;
				}
			}
			for (int k = first_k; k < nc; k++) {
				int ci;
				int again;
				do { /* no certificate twice in a chain */
					ci = (int)rndn(BF_CERTS);
					again = 0;
					for (int m = 0; m < k; m++)
						again |= chain[m] == ci;
				} while (again);
				chain[k] = ci;
				certs[j][k] = bf_c[ci].t.c;
				if (bf_c[ci].stored && rndn(2)) {
					certs[j][k].der = NULL; /* known: only its sha1 */
					certs[j][k].der_len = 0;
				}
			}
			o->certs = certs[j];
			o->n_certs = (size_t)nc;
			uint64_t t1 = 1000000 + rndn(100000), t2 = t1 + rndn(5000);
			if (rndn(4) == 0) { /* reversed: swapped by the store */
				o->time_first = t2;
				o->time_last = t1;
			} else {
				o->time_first = t1;
				o->time_last = t2;
			}
			o->count = rndn(3);
			o->tlp = (uint8_t)rndn(8);
			if (rndn(3)) {
				o->has_sensor = 1;
				memset(o->sensor, (int)(1 + rndn(12)), 16);
			}
			/* the model */
			uint64_t cnt = o->count ? o->count : 1;
			uint8_t tlp = (o->tlp >= 1 && o->tlp <= 6) ? o->tlp : 6;
			for (int k = 0; k < nc; k++) {
				struct bf_cert *c = &bf_c[chain[k]];
				if (!c->stored) {
					c->stored = 1;
					c->first = t1;
					c->last = t2;
					c->count = cnt;
					c->tlp = tlp;
					if (c->key && !bf_keyid[c->key])
						bf_keyid[c->key] = next_key++;
					c->key_id = c->key ? bf_keyid[c->key] : 0;
				} else {
					c->first = t1 < c->first ? t1 : c->first;
					c->last = t2 > c->last ? t2 : c->last;
					c->count += cnt;
					c->tlp = tlp > c->tlp ? tlp : c->tlp;
				}
				npresent++;
			}
			int cert0 = nc ? chain[0] : -1;
			struct bf_tuple *t = NULL;
			for (size_t m = 0; m < bf_nt && !t; m++) {
				struct bf_tuple *x = &bf_t[m];
				if (!memcmp(x->ip, o->server_ip, 16) && x->port == o->server_port &&
				    sni_class(x->sni) == sni_class(sni) && x->ja3 == ja3 && x->ja3s == ja3s &&
				    x->ja4 == ja4 && x->cert == cert0)
					t = x;
			}
			if (!t) {
				ck_assert_uint_lt(bf_nt, BF_TUP);
				t = &bf_t[bf_nt++];
				memcpy(t->ip, o->server_ip, 16);
				t->port = o->server_port;
				t->sni = sni;
				t->ja3 = ja3;
				t->ja3s = ja3s;
				t->ja4 = ja4;
				t->cert = cert0;
				t->id = next_tuple++;
				t->tf = t1;
				t->tl = t2;
				t->count = cnt;
				t->tlp = tlp;
			} else {
				t->tf = t1 < t->tf ? t1 : t->tf;
				t->tl = t2 > t->tl ? t2 : t->tl;
				t->count += cnt;
				t->tlp = tlp > t->tlp ? tlp : t->tlp;
			}
			t->seq = ++seq;
			t->nchain = nc;
			memcpy(t->chain, chain, sizeof(chain));
			(void)npresent;
		}
		uint64_t missing = 1;
		ck_assert_int_eq(apply(s, ob, n, &missing), 0);
		ck_assert_uint_eq(missing, 0);
		done += n;
	}
}

static int vis(uint8_t max, uint8_t tlp)
{
	return d4_policy_tlp_visible((enum d4_tlp)max, (enum d4_tlp)tlp);
}

static int fences_ok(const struct d4_store_pssl_query *q, uint64_t f, uint64_t l)
{
	return !(q->first_before && f > q->first_before) && !(q->first_after && f < q->first_after) &&
	       !(q->last_before && l > q->last_before) && !(q->last_after && l < q->last_after);
}

static void random_filters(struct d4_store_pssl_query *q)
{
	q->max_tlp = (uint8_t)(1 + rndn(6));
	if (rndn(4) == 0) {
		q->has_port = 1;
		q->port = rndn(2) ? 443 : 993;
	}
	if (rndn(4) == 0)
		q->first_before = 1000000 + rndn(100000);
	if (rndn(4) == 0)
		q->first_after = 1000000 + rndn(100000);
	if (rndn(4) == 0)
		q->last_before = 1000000 + rndn(105000);
	if (rndn(4) == 0)
		q->last_after = 1000000 + rndn(105000);
}

static unsigned long bf_rows;

static size_t model_tuples(const struct d4_store_pssl_query *q, struct bf_tuple **out)
{
	size_t n = 0;
	for (size_t i = 0; i < bf_nt; i++) {
		struct bf_tuple *t = &bf_t[i];
		if (!vis(q->max_tlp, t->tlp) || (q->has_port && t->port != q->port) || !fences_ok(q, t->tf, t->tl))
			continue;
		int hit = 0;
		switch ((int)q->by) {
		case D4_PSSL_BY_IP: hit = memcmp(t->ip, q->ip_lo, 16) >= 0 && memcmp(t->ip, q->ip_hi, 16) <= 0; break;
		case D4_PSSL_BY_CERT:
			for (int k = 0; k < t->nchain; k++)
				hit |= !memcmp(bf_c[t->chain[k]].t.c.sha1, q->key, 20);
			break;
		case D4_PSSL_BY_JA3: {
			uint8_t m[16];
			md5_of(3, t->ja3, m);
			hit = t->ja3 && !memcmp(m, q->key, 16);
			break;
		}
		case D4_PSSL_BY_JA3S: {
			uint8_t m[16];
			md5_of(4, t->ja3s, m);
			hit = t->ja3s && !memcmp(m, q->key, 16);
			break;
		}
		case D4_PSSL_BY_JA4:
			hit = t->ja4 && strlen(bf_ja4[t->ja4]) == q->key_len &&
			      !memcmp(bf_ja4[t->ja4], q->key, q->key_len);
			break;
		case D4_PSSL_BY_SNI:
			hit = t->sni && strlen(bf_sni[t->sni]) == q->key_len &&
			      !strncasecmp(bf_sni[t->sni], (const char *)q->key, q->key_len);
			break;
		case D4_PSSL_BY_RECENT: hit = 1; break;
		}
		if (hit)
			out[n++] = t;
	}
	qsort(out, n, sizeof(*out), q->by == D4_PSSL_BY_RECENT ? tup_cmp_recent : tup_cmp_model);
	return n;
}

struct bf_centry {
	struct bf_cert *c;
	char sortkey[300];
	uint64_t k1;
};

static int centry_cmp(const void *x, const void *y)
{
	const struct bf_centry *a = x, *b = y;
	if (a->k1 != b->k1)
		return a->k1 < b->k1 ? -1 : 1;
	int c = strcmp(a->sortkey, b->sortkey);
	if (c)
		return c;
	return memcmp(a->c->t.c.sha1, b->c->t.c.sha1, 20);
}

static size_t model_certs(const struct d4_store_pssl_query *q, struct bf_centry *out)
{
	size_t n = 0;
	char want[300];
	if (q->by == D4_PSSL_CERTS_BY_NAME || q->by == D4_PSSL_CERTS_BY_NAME_LEFT) {
		char tmp[300];
		memcpy(tmp, q->key, q->key_len);
		tmp[q->key_len] = 0;
		model_rev(tmp, want);
	}
	for (unsigned i = 0; i < BF_CERTS; i++) {
		struct bf_cert *c = &bf_c[i];
		if (!c->stored || !vis(q->max_tlp, c->tlp) || !fences_ok(q, c->first, c->last))
			continue;
		struct bf_centry e;
		memset(&e, 0, sizeof(e));
		e.c = c;
		int hit = 0;
		switch ((int)q->by) {
		case D4_PSSL_CERTS_BY_KEY: hit = c->key && c->key_id == d4_get_u64be(q->key); break;
		case D4_PSSL_CERTS_BY_SPKI: hit = c->key && !memcmp(c->t.c.spki_sha256, q->key, 32); break;
		case D4_PSSL_CERTS_BY_MODULUS:
			hit = c->key && c->t.c.modulus && !memcmp(c->t.c.modulus, q->key, 32);
			e.k1 = c->key_id;
			break;
		case D4_PSSL_CERTS_BY_SHA256: hit = !memcmp(c->t.c.sha256, q->key, 32); break;
		case D4_PSSL_CERTS_BY_ISSUER:
			hit = c->key && strlen(bf_issuers[c->issuer]) == q->key_len &&
			      !memcmp(bf_issuers[c->issuer], q->key, q->key_len);
			break;
		case D4_PSSL_CERTS_RECENT:
			hit = 1;
			e.k1 = ~c->last;
			break;
		case D4_PSSL_CERTS_BY_NAME:
		case D4_PSSL_CERTS_BY_NAME_LEFT: {
			if (!c->key)
				break;
			unsigned idx[3] = {c->cn, c->san0, c->san1};
			for (int k = 0; k < 3; k++) {
				if (idx[k] >= BF_NNAMES)
					continue;
				char r[300];
				model_rev(bf_names[idx[k]], r);
				int m =
				    q->by == D4_PSSL_CERTS_BY_NAME ? !strcmp(r, want) : !strncmp(r, want, strlen(want));
				if (m && (!hit || strcmp(r, e.sortkey) < 0)) {
					strcpy(e.sortkey, r);
					hit = 1;
				}
			}
			if (q->by == D4_PSSL_CERTS_BY_NAME)
				e.sortkey[0] = 0;
			break;
		}
		}
		if (hit)
			out[n++] = e;
	}
	qsort(out, n, sizeof(*out), centry_cmp);
	return n;
}

/* The full result, then the same query paged at a random page size: both
 * equal the model's. */
static void check_tuples(struct d4_store *s, struct d4_store_pssl_query *q)
{
	static struct bf_tuple *want[BF_TUP];
	static struct tcoll tc;
	size_t n = model_tuples(q, want);
	bf_rows += n;
	q->limit = 0;
	q->resume = NULL;
	q->resume_len = 0;
	ck_assert_uint_eq(q_tuples(s, q, &tc), n);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(tc.id[i], want[i]->id);
	if (n == 1) {
		ck_assert_uint_eq(tc.last.count, want[0]->count);
		ck_assert_uint_eq(tc.last.time_first, want[0]->tf);
		ck_assert_uint_eq(tc.last.time_last, want[0]->tl);
		ck_assert_uint_eq(tc.last.tlp, want[0]->tlp);
		ck_assert_uint_eq(tc.last.change_seq, want[0]->seq);
		ck_assert_uint_eq(tc.last.n_chain, (unsigned)want[0]->nchain);
	}
	/* paged */
	uint32_t page = 1 + rndn(9);
	struct d4_store_pssl_qresult res;
	uint8_t cur[D4_PSSL_RESUME_MAX];
	size_t got = 0;
	static struct tcoll pc;
	memset(&pc, 0, sizeof(pc));
	q->limit = page;
	for (int guard = 0;; guard++) {
		ck_assert_int_lt(guard, 10000);
		size_t before = pc.n;
		ck_assert_int_eq(d4_store_pssl_query(s, q, tcoll_cb, &pc, &res), 0);
		ck_assert_uint_eq(res.returned, pc.n - before);
		ck_assert_uint_le(res.returned, page);
		got += res.returned;
		ck_assert_int_eq(res.more, got < n);
		if (!res.more)
			break;
		ck_assert_uint_eq(res.returned, page);
		memcpy(cur, res.resume, res.resume_len);
		q->resume = cur;
		q->resume_len = res.resume_len;
	}
	ck_assert_uint_eq(pc.n, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(pc.id[i], want[i]->id);
	q->limit = 0;
	q->resume = NULL;
	q->resume_len = 0;
}

static void check_certs(struct d4_store *s, struct d4_store_pssl_query *q)
{
	static struct bf_centry want[BF_CERTS];
	static struct ccoll cc, pc;
	size_t n = model_certs(q, want);
	bf_rows += n;
	q->limit = 0;
	q->resume = NULL;
	q->resume_len = 0;
	ck_assert_uint_eq(q_certs(s, q, &cc), n);
	for (size_t i = 0; i < n; i++)
		ck_assert(!memcmp(cc.sha1[i], want[i].c->t.c.sha1, 20));
	if (n == 1) {
		ck_assert_uint_eq(cc.last.count, want[0].c->count);
		ck_assert_uint_eq(cc.last.first_seen, want[0].c->first);
		ck_assert_uint_eq(cc.last.last_seen, want[0].c->last);
		ck_assert_uint_eq(cc.last.tlp, want[0].c->tlp);
		ck_assert_uint_eq(cc.last.key_id, want[0].c->key_id);
	}
	uint32_t page = 1 + rndn(5);
	struct d4_store_pssl_qresult res;
	uint8_t cur[D4_PSSL_RESUME_MAX];
	size_t got = 0;
	memset(&pc, 0, sizeof(pc));
	q->limit = page;
	for (int guard = 0;; guard++) {
		ck_assert_int_lt(guard, 10000);
		size_t before = pc.n;
		ck_assert_int_eq(d4_store_pssl_query_certs(s, q, ccoll_cb, &pc, &res), 0);
		ck_assert_uint_eq(res.returned, pc.n - before);
		got += res.returned;
		ck_assert_int_eq(res.more, got < n);
		if (!res.more)
			break;
		memcpy(cur, res.resume, res.resume_len);
		q->resume = cur;
		q->resume_len = res.resume_len;
	}
	ck_assert_uint_eq(pc.n, n);
	for (size_t i = 0; i < n; i++)
		ck_assert(!memcmp(pc.sha1[i], want[i].c->t.c.sha1, 20));
	q->limit = 0;
	q->resume = NULL;
	q->resume_len = 0;
}

START_TEST(test_pivots_bruteforce)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	bf_build(s);
	struct d4_store_pssl_info info;
	ck_assert_int_eq(d4_store_pssl_info(s, &info), 0);
	ck_assert_uint_eq(info.tuples, bf_nt);
	ck_assert_uint_eq(info.change_seq, BF_OBS);
	unsigned stored = 0, nkeys = 0;
	for (unsigned i = 0; i < BF_CERTS; i++)
		stored += bf_c[i].stored;
	for (unsigned k = 0; k < 64; k++)
		nkeys += bf_keyid[k] != 0;
	ck_assert_uint_eq(info.certs, stored);
	ck_assert_uint_eq(info.keys, nkeys);
	ck_assert_uint_gt(info.bytes, 0);
	fprintf(stderr, "test_pivots_bruteforce: %zu tuples, %u certificates, %u keys, %llu bytes\n", bf_nt, stored,
		nkeys, (unsigned long long)info.bytes);
	struct d4_store_pssl_query q;
	for (int round = 0; round < 4; round++) {
		/* address ranges: v4 blocks, v6, everything, one address */
		for (int r = 0; r < 12; r++) {
			memset(&q, 0, sizeof(q));
			q.by = D4_PSSL_BY_IP;
			random_filters(&q);
			unsigned a = rndn(BF_IPS), b = rndn(BF_IPS);
			if (memcmp(bf_ips[a], bf_ips[b], 16) > 0) {
				unsigned x = a;
				a = b;
				b = x;
			}
			memcpy(q.ip_lo, bf_ips[a], 16);
			memcpy(q.ip_hi, bf_ips[b], 16);
			if (r == 0)
				memset(q.ip_hi, 0xff, 16);
			if (r == 1) { /* all of IPv4 */
				v4(q.ip_lo, 0);
				v4(q.ip_hi, 0xffffffffu);
			}
			check_tuples(s, &q);
		}
		for (unsigned i = 0; i < BF_CERTS; i += 1 + rndn(3)) {
			memset(&q, 0, sizeof(q));
			q.by = D4_PSSL_BY_CERT;
			random_filters(&q);
			q.key = bf_c[i].t.c.sha1;
			q.key_len = 20;
			check_tuples(s, &q);
		}
		uint8_t m[16];
		for (int v = 0; v < 6; v++) {
			memset(&q, 0, sizeof(q));
			q.by = v % 2 ? D4_PSSL_BY_JA3S : D4_PSSL_BY_JA3;
			random_filters(&q);
			md5_of(v % 2 ? 4 : 3, 1 + v / 2, m);
			q.key = m;
			q.key_len = 16;
			check_tuples(s, &q);
		}
		for (int v = 1; v < 3; v++) {
			memset(&q, 0, sizeof(q));
			q.by = D4_PSSL_BY_JA4;
			random_filters(&q);
			q.key = (const uint8_t *)bf_ja4[v];
			q.key_len = strlen(bf_ja4[v]);
			check_tuples(s, &q);
		}
		for (int v = 1; v < 6; v++) {
			memset(&q, 0, sizeof(q));
			q.by = D4_PSSL_BY_SNI;
			random_filters(&q);
			q.key = (const uint8_t *)bf_sni[v];
			q.key_len = strlen(bf_sni[v]);
			check_tuples(s, &q);
		}
		memset(&q, 0, sizeof(q));
		q.by = D4_PSSL_BY_RECENT;
		random_filters(&q);
		check_tuples(s, &q);
		/* certificates */
		uint8_t kid[8];
		for (uint64_t k = 1; k <= nkeys + 1; k++) {
			memset(&q, 0, sizeof(q));
			q.by = D4_PSSL_CERTS_BY_KEY;
			random_filters(&q);
			d4_put_u64be(kid, k);
			q.key = kid;
			q.key_len = 8;
			check_certs(s, &q);
		}
		for (unsigned i = 0; i < BF_CERTS; i += 1 + rndn(4)) {
			const struct d4_store_pssl_cert *c = &bf_c[i].t.c;
			memset(&q, 0, sizeof(q));
			random_filters(&q);
			q.by = D4_PSSL_CERTS_BY_SHA256;
			q.key = c->sha256;
			q.key_len = 32;
			check_certs(s, &q);
			if (!c->parsed)
				continue;
			q.by = D4_PSSL_CERTS_BY_SPKI;
			q.key = c->spki_sha256;
			check_certs(s, &q);
			if (c->modulus) {
				q.by = D4_PSSL_CERTS_BY_MODULUS;
				q.key = c->modulus;
				q.key_len = c->modulus_len;
				check_certs(s, &q);
			}
		}
		for (unsigned v = 0; v < BF_NNAMES; v++) {
			memset(&q, 0, sizeof(q));
			q.by = D4_PSSL_CERTS_BY_NAME;
			random_filters(&q);
			q.key = (const uint8_t *)bf_names[v];
			q.key_len = strlen(bf_names[v]);
			check_certs(s, &q);
		}
		static const char *const left[] = {"example.com",  "com", "b.example.com", "org", "test.net",
						   "EXAMPLE.COM.", "net"};
		for (unsigned v = 0; v < sizeof(left) / sizeof(left[0]); v++) {
			memset(&q, 0, sizeof(q));
			q.by = D4_PSSL_CERTS_BY_NAME_LEFT;
			random_filters(&q);
			q.key = (const uint8_t *)left[v];
			q.key_len = strlen(left[v]);
			check_certs(s, &q);
		}
		for (unsigned v = 0; v < 3; v++) {
			memset(&q, 0, sizeof(q));
			q.by = D4_PSSL_CERTS_BY_ISSUER;
			random_filters(&q);
			q.key = (const uint8_t *)bf_issuers[v];
			q.key_len = strlen(bf_issuers[v]);
			check_certs(s, &q);
		}
		memset(&q, 0, sizeof(q));
		q.by = D4_PSSL_CERTS_RECENT;
		random_filters(&q);
		check_certs(s, &q);
	}
	fprintf(stderr, "test_pivots_bruteforce: %lu rows compared\n", bf_rows);
	ck_assert_uint_gt(bf_rows, 3000);
	/* a cursor of another query is refused */
	memset(&q, 0, sizeof(q));
	q.by = D4_PSSL_BY_RECENT;
	q.max_tlp = 6;
	q.limit = 1;
	struct d4_store_pssl_qresult res;
	static struct tcoll tc;
	ck_assert_int_eq(d4_store_pssl_query(s, &q, tcoll_cb, &tc, &res), 0);
	ck_assert_uint_eq(res.returned, 1);
	uint8_t cur[D4_PSSL_RESUME_MAX];
	memcpy(cur, res.resume, res.resume_len);
	q.resume = cur;
	q.resume_len = res.resume_len;
	q.max_tlp = 5;
	ck_assert_int_eq(d4_store_pssl_query(s, &q, tcoll_cb, &tc, &res), D4_EINVAL);
	q.max_tlp = 6;
	q.by = D4_PSSL_BY_IP;
	ck_assert_int_eq(d4_store_pssl_query(s, &q, tcoll_cb, &tc, &res), D4_EINVAL);
	d4_store_close(s);
}
END_TEST

/* ---- merge rules ---- */

struct fpget {
	int n;
	char str[128];
	uint64_t count, first, last;
	uint8_t tlp;
};
static int fpget_cb(void *ctx, const struct d4_store_pssl_fp *f)
{
	struct fpget *g = ctx;
	g->n++;
	snprintf(g->str, sizeof(g->str), "%s", f->str ? f->str : "(null)");
	g->count = f->count;
	g->first = f->first_seen;
	g->last = f->last_seen;
	g->tlp = f->tlp;
	return 0;
}

START_TEST(test_merge)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	static struct tcert leaf;
	tcert_make(&leaf, 1, 1, "merge.example", "merge.example", NULL, NULL);
	struct d4_store_pssl_obs ob[32];
	uint8_t orgA[16], orgB[16];
	memset(orgA, 0xa, 16);
	memset(orgB, 0xb, 16);
	/* reversed times, count 0 (= 1), GREEN, org A, sensor 1 */
	obs_init(&ob[0], 0x0a000001, 443, &leaf.c, 1, 0);
	ob[0].time_first = 200;
	ob[0].time_last = 100;
	ob[0].tlp = D4_TLP_GREEN;
	memcpy(ob[0].org, orgA, 16);
	ob[0].has_sensor = 1;
	memset(ob[0].sensor, 1, 16);
	ob[0].has_ja3 = 1;
	memset(ob[0].ja3_md5, 0x33, 16);
	/* earlier, count 5, TLP none (fail closed: RED), org A, sensor 2, from a partner hub */
	ob[1] = ob[0];
	ob[1].time_first = 50;
	ob[1].time_last = 150;
	ob[1].count = 5;
	ob[1].tlp = D4_TLP_NONE;
	memset(ob[1].sensor, 2, 16);
	memset(ob[1].origin, 0x71, 16);
	ob[1].ja3 = "771,4865,0,29,0";
	ck_assert_int_eq(apply(s, ob, 2, NULL), 0);
	struct d4_store_pssl_query q;
	memset(&q, 0, sizeof(q));
	q.by = D4_PSSL_BY_RECENT;
	q.max_tlp = D4_TLP_RED;
	static struct tcoll tc;
	static struct ccoll cc;
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 1);
	ck_assert_uint_eq(tc.last.time_first, 50);
	ck_assert_uint_eq(tc.last.time_last, 200);
	ck_assert_uint_eq(tc.last.count, 6);
	ck_assert_uint_eq(tc.last.tlp, D4_TLP_RED);
	ck_assert(!memcmp(tc.last.org, orgA, 16));
	ck_assert_uint_eq(tc.last.org_mixed, 0);
	ck_assert_uint_eq(tc.last.nsensors, 2);
	ck_assert_uint_eq(tc.last.sensor_count, 2);
	ck_assert_uint_eq(tc.last.nhubs, 1);
	ck_assert_uint_eq(tc.last.hubs[0][0], 0x71);
	/* not visible below RED */
	q.max_tlp = D4_TLP_AMBER_STRICT;
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 0);
	ck_assert_int_eq(d4_store_pssl_cert_get(s, leaf.c.sha1, D4_TLP_AMBER, cert_get_cb, &cc), D4_ENOTFOUND);
	q.max_tlp = D4_TLP_RED;
	memset(&cc, 0, sizeof(cc));
	ck_assert_int_eq(d4_store_pssl_cert_get(s, leaf.c.sha1, D4_TLP_RED, cert_get_cb, &cc), 0);
	ck_assert_uint_eq(cc.last.first_seen, 50);
	ck_assert_uint_eq(cc.last.last_seen, 200);
	ck_assert_uint_eq(cc.last.count, 6);
	ck_assert_uint_eq(cc.last.tlp, D4_TLP_RED);
	ck_assert_uint_eq(cc.last.nhubs, 1);
	ck_assert_uint_eq(cc.last.nsensors, 2);
	ck_assert_uint_eq(cc.last.org_mixed, 0);
	/* the fingerprint row: the string once given, count, times */
	struct fpget g;
	memset(&g, 0, sizeof(g));
	ck_assert_int_eq(d4_store_pssl_fp_get(s, D4_PSSL_BY_JA3, ob[0].ja3_md5, D4_TLP_RED, fpget_cb, &g), 0);
	ck_assert_int_eq(g.n, 1);
	ck_assert_str_eq(g.str, "771,4865,0,29,0");
	ck_assert_uint_eq(g.count, 6);
	ck_assert_uint_eq(g.first, 50);
	ck_assert_uint_eq(g.last, 200);
	ck_assert_int_eq(d4_store_pssl_fp_get(s, D4_PSSL_BY_JA3, ob[0].ja3_md5, D4_TLP_AMBER, fpget_cb, &g),
			 D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_pssl_fp_get(s, D4_PSSL_BY_JA3S, ob[0].ja3_md5, D4_TLP_RED, fpget_cb, &g),
			 D4_ENOTFOUND);

	/* another org: org_mixed, org cleared; 20 more sensors; 6 more hubs;
	 * TLP UNCLEAR and an out-of-range value stay RED */
	for (int i = 0; i < 26; i++) {
		ob[i] = ob[0];
		ob[i].time_first = ob[i].time_last = 300;
		ob[i].tlp = (uint8_t)(i == 0 ? D4_TLP_UNCLEAR : i == 1 ? 9 : D4_TLP_CLEAR);
		memcpy(ob[i].org, i == 2 ? orgB : orgA, 16);
		memset(ob[i].sensor, 10 + i, 16);
		memset(ob[i].origin, 0, 16);
		if (i < 6)
			memset(ob[i].origin, 0x80 + i, 16);
		if (i >= 20)
			ob[i].has_sensor = 0;
	}
	ck_assert_int_eq(apply(s, ob, 26, NULL), 0);
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 1);
	ck_assert_uint_eq(tc.last.count, 32);
	ck_assert_uint_eq(tc.last.time_last, 300);
	ck_assert_uint_eq(tc.last.tlp, D4_TLP_RED);
	ck_assert_uint_eq(tc.last.org_mixed, 1);
	uint8_t zero[16] = {0};
	ck_assert(!memcmp(tc.last.org, zero, 16));
	ck_assert_uint_eq(tc.last.nsensors, D4_PSSL_SENSORS_KEEP);
	/* 22 distinct sensors: 8 kept, the rest estimated */
	ck_assert_uint_gt(tc.last.sensor_count, D4_PSSL_SENSORS_KEEP);
	ck_assert_uint_le(tc.last.sensor_count, 26);
	ck_assert_uint_eq(tc.last.nhubs, D4_PSSL_HUBS_KEEP);
	for (int i = 1; i < D4_PSSL_HUBS_KEEP; i++) /* kept sorted */
		ck_assert_int_lt(memcmp(tc.last.hubs[i - 1], tc.last.hubs[i], 16), 0);
	/* the same sensors again: no change in the count */
	uint32_t sc = tc.last.sensor_count;
	ck_assert_int_eq(apply(s, ob, 26, NULL), 0);
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 1);
	ck_assert_uint_eq(tc.last.sensor_count, sc);
	memset(&cc, 0, sizeof(cc));
	ck_assert_int_eq(d4_store_pssl_cert_get(s, leaf.c.sha1, D4_TLP_RED, cert_get_cb, &cc), 0);
	ck_assert_uint_eq(cc.last.org_mixed, 1);
	ck_assert_uint_eq(cc.last.count, 58);
	ck_assert_uint_eq(cc.last.sensor_count, sc);
	ck_assert_uint_eq(cc.last.nhubs, D4_PSSL_HUBS_KEEP);

	/* a SNI is lower-cased: one tuple for both spellings; a long one is cut */
	obs_init(&ob[0], 0x0a000002, 443, NULL, 0, 10);
	ob[0].sni = (const uint8_t *)"Www.EXAMPLE.org";
	ob[0].sni_len = 15;
	ob[1] = ob[0];
	ob[1].sni = (const uint8_t *)"www.example.org";
	char longsni[400];
	memset(longsni, 'a', sizeof(longsni));
	ob[2] = ob[0];
	ob[2].sni = (const uint8_t *)longsni;
	ob[2].sni_len = sizeof(longsni);
	ck_assert_int_eq(apply(s, ob, 3, NULL), 0);
	q.by = D4_PSSL_BY_SNI;
	q.key = (const uint8_t *)"WWW.example.ORG";
	q.key_len = 15;
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 1);
	ck_assert_uint_eq(tc.last.count, 2);
	ck_assert_uint_eq(tc.last.sni_len, 15);
	ck_assert_uint_eq(tc.last.has_cert, 0);
	ck_assert_uint_eq(tc.last.sni_cut, 0);
	q.key = (const uint8_t *)longsni;
	q.key_len = D4_PSSL_SNI_MAX;
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 1);
	ck_assert_uint_eq(tc.last.sni_len, D4_PSSL_SNI_MAX);
	ck_assert_uint_eq(tc.last.sni_cut, 1);
	d4_store_close(s);
}
END_TEST

/* A known certificate given without DER; a missing one is counted and
 * left out of the chain. */
START_TEST(test_missing)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	static struct tcert a, b, c;
	tcert_make(&a, 1, 1, "a.example", NULL, NULL, NULL);
	tcert_make(&b, 2, 2, "b.example", NULL, NULL, NULL);
	tcert_make(&c, 3, 0, NULL, NULL, NULL, NULL); /* did not parse */
	struct d4_store_pssl_obs ob[3];
	struct d4_store_pssl_cert ch0[2] = {a.c, c.c};
	obs_init(&ob[0], 0x0a000001, 443, ch0, 2, 100);
	uint64_t missing = 7;
	ck_assert_int_eq(apply(s, ob, 1, &missing), 0);
	ck_assert_uint_eq(missing, 0);
	/* a known (without DER), b missing: b counted, not in the chain */
	struct d4_store_pssl_cert ch1[2] = {b.c, a.c}, ch2[1] = {a.c};
	ch1[0].der = ch1[1].der = ch2[0].der = NULL;
	obs_init(&ob[0], 0x0a000002, 443, ch1, 2, 200);
	obs_init(&ob[1], 0x0a000003, 443, ch2, 1, 300);
	ck_assert_int_eq(apply(s, ob, 2, &missing), 0);
	ck_assert_uint_eq(missing, 1);
	uint8_t sh[3][20];
	memcpy(sh[0], a.c.sha1, 20);
	memcpy(sh[1], b.c.sha1, 20);
	memcpy(sh[2], c.c.sha1, 20);
	uint8_t known[3];
	ck_assert_int_eq(d4_store_pssl_cert_known(s, (const uint8_t(*)[20])sh, 3, known), 0);
	ck_assert(known[0] && !known[1] && known[2]);
	struct d4_store_pssl_query q;
	memset(&q, 0, sizeof(q));
	q.by = D4_PSSL_BY_IP;
	q.max_tlp = D4_TLP_RED;
	v4(q.ip_lo, 0x0a000002);
	v4(q.ip_hi, 0x0a000002);
	static struct tcoll tc;
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 1);
	ck_assert_uint_eq(tc.last.has_cert, 0); /* its own certificate is missing */
	ck_assert_uint_eq(tc.last.n_chain, 1);
	ck_assert(!memcmp(tc.last.chain[0], a.c.sha1, 20));
	v4(q.ip_lo, 0x0a000003);
	v4(q.ip_hi, 0x0a000003);
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 1);
	ck_assert_uint_eq(tc.last.has_cert, 1);
	ck_assert(!memcmp(tc.last.cert, a.c.sha1, 20));
	static struct ccoll cc;
	memset(&cc, 0, sizeof(cc));
	ck_assert_int_eq(d4_store_pssl_cert_get(s, a.c.sha1, D4_TLP_RED, cert_get_cb, &cc), 0);
	ck_assert_uint_eq(cc.last.count, 3);
	ck_assert_uint_eq(cc.last.first_seen, 100);
	ck_assert_uint_eq(cc.last.last_seen, 300);
	ck_assert_str_eq(cc.subject, a.subject); /* the first sight's parse */
	/* the unparsed one: its DER and sighting, no key */
	memset(&cc, 0, sizeof(cc));
	ck_assert_int_eq(d4_store_pssl_cert_get(s, c.c.sha1, D4_TLP_RED, cert_get_cb, &cc), 0);
	ck_assert_uint_eq(cc.last.parsed, 0);
	ck_assert_uint_eq(cc.last.key_id, 0);
	ck_assert_uint_eq(cc.der_len, c.c.der_len);
	q.by = D4_PSSL_BY_CERT;
	q.key = a.c.sha1;
	q.key_len = 20;
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 3);
	q.key = c.c.sha1;
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 1);
	/* the chain seen last replaces the pivot entries: ip .1 without c */
	struct d4_store_pssl_cert ch3[1] = {a.c};
	obs_init(&ob[0], 0x0a000001, 443, ch3, 1, 400);
	ck_assert_int_eq(apply(s, ob, 1, &missing), 0);
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 0);
	/* bad sizes */
	struct d4_store_pssl_cert bad = a.c;
	bad.der_len = D4_PSSL_DER_MAX + 1;
	obs_init(&ob[0], 0x0a000001, 443, &bad, 1, 400);
	ck_assert_int_eq(apply(s, ob, 1, &missing), D4_EINVAL);
	obs_init(&ob[0], 0x0a000001, 443, ch3, D4_PSSL_CHAIN_MAX + 1, 400);
	ck_assert_int_eq(apply(s, ob, 1, &missing), D4_EINVAL);
	struct d4_store_pssl_update u;
	memset(&u, 0, sizeof(u));
	u.cursor_name = "";
	ck_assert_int_eq(d4_store_pssl_apply(s, &u, NULL), D4_EINVAL);
	d4_store_close(s);
}
END_TEST

/* ---- changes, expire ---- */

struct chcoll {
	size_t n;
	uint64_t id[64], seq[64];
};
static int chcoll_cb(void *ctx, const struct d4_store_pssl_tuple *t)
{
	struct chcoll *c = ctx;
	ck_assert_uint_lt(c->n, 64);
	c->id[c->n] = t->id;
	c->seq[c->n++] = t->change_seq;
	return 0;
}

START_TEST(test_changes_expire)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	static struct tcert a;
	tcert_make(&a, 1, 1, "a.example", NULL, NULL, NULL);
	struct d4_store_pssl_obs ob[10];
	/* tuples 1..10, at times 100..1000 */
	for (unsigned i = 0; i < 10; i++) {
		obs_init(&ob[i], 0x0a000000 + i, 443, &a.c, 1, 100 * (i + 1));
		ob[i].has_ja3 = 1;
		memset(ob[i].ja3_md5, 0x33, 16);
		if (i)
			ob[i].certs = NULL, ob[i].n_certs = 0;
	}
	ck_assert_int_eq(apply(s, ob, 10, NULL), 0);
	/* tuple 3 again, later: its change moves to the end */
	obs_init(&ob[0], 0x0a000002, 443, NULL, 0, 2000);
	ob[0].has_ja3 = 1;
	memset(ob[0].ja3_md5, 0x33, 16);
	ck_assert_int_eq(apply(s, ob, 1, NULL), 0);
	static struct chcoll ch;
	memset(&ch, 0, sizeof(ch));
	uint64_t last = 0;
	ck_assert_int_eq(d4_store_pssl_changes(s, 0, chcoll_cb, &ch, &last), 0);
	ck_assert_uint_eq(last, 11);
	ck_assert_uint_eq(ch.n, 10);
	for (size_t i = 0; i + 1 < ch.n; i++)
		ck_assert_uint_lt(ch.seq[i], ch.seq[i + 1]);
	ck_assert_uint_eq(ch.id[9], 3);
	ck_assert_uint_eq(ch.seq[9], 11);
	ck_assert_uint_eq(ch.id[0], 1);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(d4_store_pssl_changes(s, 8, chcoll_cb, &ch, &last), 0);
	ck_assert_uint_eq(ch.n, 3); /* seq 9, 10, 11 */
	ck_assert_uint_eq(ch.id[0], 9);
	/* expire below 550: tuples 1, 2, 4, 5 (3 was seen again) */
	uint64_t removed = 0;
	ck_assert_int_eq(d4_store_pssl_expire(s, 550, 3, &removed), 0);
	ck_assert_uint_eq(removed, 4);
	struct d4_store_pssl_info info;
	ck_assert_int_eq(d4_store_pssl_info(s, &info), 0);
	ck_assert_uint_eq(info.tuples, 6);
	ck_assert_uint_eq(info.certs, 1); /* certificates are kept */
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(d4_store_pssl_changes(s, 0, chcoll_cb, &ch, &last), 0);
	ck_assert_uint_eq(ch.n, 6);
	struct d4_store_pssl_query q;
	memset(&q, 0, sizeof(q));
	q.max_tlp = D4_TLP_RED;
	q.by = D4_PSSL_BY_CERT; /* tuple 1 was the only one with the certificate */
	q.key = a.c.sha1;
	q.key_len = 20;
	static struct tcoll tc;
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 0);
	q.by = D4_PSSL_BY_JA3;
	q.key = ob[0].ja3_md5;
	q.key_len = 16;
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 6);
	q.by = D4_PSSL_BY_IP;
	memset(q.ip_hi, 0xff, 16);
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 6);
	static struct ccoll cc;
	memset(&cc, 0, sizeof(cc));
	ck_assert_int_eq(d4_store_pssl_cert_get(s, a.c.sha1, D4_TLP_RED, cert_get_cb, &cc), 0);
	/* the same handshake as the expired tuple 1: a new tuple */
	obs_init(&ob[0], 0x0a000000, 443, &a.c, 1, 3000);
	ob[0].has_ja3 = 1;
	memset(ob[0].ja3_md5, 0x33, 16);
	ck_assert_int_eq(apply(s, ob, 1, NULL), 0);
	q.by = D4_PSSL_BY_CERT;
	q.key = a.c.sha1;
	q.key_len = 20;
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 1);
	ck_assert_uint_eq(tc.id[0], 11);
	ck_assert_uint_eq(tc.last.count, 1);
	ck_assert_int_eq(d4_store_pssl_expire(s, UINT64_MAX, 0, &removed), 0);
	ck_assert_uint_eq(removed, 7);
	ck_assert_int_eq(d4_store_pssl_info(s, &info), 0);
	ck_assert_uint_eq(info.tuples, 0);
	MDB_txn *txn;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	MDB_stat st;
	for (int d = DBI_PSSL_TKEY; d <= DBI_PSSL_CHANGE; d++) {
		ck_assert_int_eq(mdb_stat(txn, s->dbi[d], &st), 0);
		ck_assert_uint_eq(st.ms_entries, 0); /* no entry left behind */
	}
	mdb_txn_abort(txn);
	d4_store_close(s);
}
END_TEST

/* ---- weak-key findings: upsert, paging ---- */

START_TEST(test_weak_paging)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	static struct d4_store_pssl_finding f[300];
	rng_state = 12345;
	for (int i = 0; i < 300; i++) {
		memset(&f[i], 0, sizeof(f[i]));
		f[i].kind = (uint8_t)(1 + rndn(4));
		f[i].id = 1 + rndn(40);
		f[i].other = rndn(3) ? 0 : 1 + rndn(40);
		f[i].reason = (uint16_t)i;
	}
	ck_assert_int_eq(d4_store_pssl_weak_apply(s, f, 150, 50), 0);
	ck_assert_int_eq(d4_store_pssl_weak_apply(s, f + 150, 150, 90), 0);
	/* the model: the last write of each (kind, id, other) */
	static struct fcoll all, pg;
	struct d4_store_pssl_qresult res;
	for (int kind = 0; kind <= 4; kind++)
		for (uint64_t id = 0; id <= 40; id += (id ? 7 : 1)) {
			size_t want = 0;
			for (int i = 0; i < 300; i++) {
				int dup = 0;
				for (int j = i + 1; j < 300; j++)
					dup |= f[j].kind == f[i].kind && f[j].id == f[i].id && f[j].other == f[i].other;
				if (!dup && (!kind || f[i].kind == kind) && (!id || f[i].id == id || f[i].other == id))
					want++;
			}
			memset(&all, 0, sizeof(all));
			ck_assert_int_eq(
			    d4_store_pssl_weak_query(s, (uint8_t)kind, id, 0, NULL, 0, fcoll_cb, &all, &res), 0);
			ck_assert_uint_eq(all.n, want);
			for (size_t i = 1; i < all.n; i++) {
				const struct d4_store_pssl_finding *a = &all.f[i - 1], *b = &all.f[i];
				ck_assert(
				    a->kind < b->kind ||
				    (a->kind == b->kind && (a->id < b->id || (a->id == b->id && a->other < b->other))));
			}
			memset(&pg, 0, sizeof(pg));
			uint8_t cur[D4_PSSL_RESUME_MAX];
			size_t cl = 0;
			uint32_t page = 1 + rndn(7);
			for (;;) {
				ck_assert_int_eq(d4_store_pssl_weak_query(s, (uint8_t)kind, id, page, cl ? cur : NULL,
									  cl, fcoll_cb, &pg, &res),
						 0);
				if (!res.more)
					break;
				memcpy(cur, res.resume, res.resume_len);
				cl = res.resume_len;
			}
			ck_assert_uint_eq(pg.n, all.n);
			for (size_t i = 0; i < all.n; i++)
				ck_assert_uint_eq(pg.f[i].reason, all.f[i].reason);
		}
	uint64_t pos;
	ck_assert_int_eq(d4_store_pssl_weak_position(s, &pos), 0);
	ck_assert_uint_eq(pos, 90);
	uint8_t big[D4_PSSL_FACTOR_MAX + 1];
	memset(big, 1, sizeof(big));
	struct d4_store_pssl_finding bad = {.kind = 1, .id = 1, .factor = big, .factor_len = sizeof(big)};
	ck_assert_int_eq(d4_store_pssl_weak_apply(s, &bad, 1, 99), D4_EINVAL);
	struct d4_store_pssl_finding bad2[2] = {{.kind = 0, .id = 1}, {.kind = 1, .id = 0, .other = 2}};
	ck_assert_int_eq(d4_store_pssl_weak_apply(s, &bad2[0], 1, 99), D4_EINVAL);
	ck_assert_int_eq(d4_store_pssl_weak_apply(s, &bad2[1], 1, 99), D4_EINVAL);
	ck_assert_int_eq(d4_store_pssl_weak_position(s, &pos), 0);
	ck_assert_uint_eq(pos, 90);
	d4_store_close(s);
}
END_TEST

/* ---- a full map: the apply that does not fit leaves nothing ---- */

START_TEST(test_full_map)
{
	struct d4_store_opts o = base_opts();
	o.map_size = 2u << 20;
	struct d4_store *s = open_store(&o);
	static struct tcert t[40];
	static uint8_t der[40][20000];
	struct d4_store_pssl_obs ob[40];
	struct d4_store_pssl_counters d;
	memset(&d, 0, sizeof(d));
	memset(d.sensor, 5, 16);
	int rc = 0;
	unsigned round = 0;
	uint8_t cur[8];
	for (; round < 100; round++) {
		for (unsigned i = 0; i < 40; i++) {
			tcert_make(&t[i], round * 40 + i, 1 + round * 40 + i, "full.example", NULL, NULL, NULL);
			memset(der[i], (int)i, sizeof(der[i]));
			t[i].c.der = der[i];
			t[i].c.der_len = sizeof(der[i]);
			obs_init(&ob[i], round * 40 + i, 443, &t[i].c, 1, 100);
		}
		d.handshakes = 40;
		d4_put_u64be(cur, round + 1);
		struct d4_store_pssl_update u = {ob, 40, "pssl/frames", cur, 8, &d, 1};
		rc = d4_store_pssl_apply(s, &u, NULL);
		if (rc)
			break;
	}
	ck_assert_int_eq(rc, D4_EFULL);
	ck_assert_uint_gt(round, 0);
	struct d4_store_pssl_info info;
	ck_assert_int_eq(d4_store_pssl_info(s, &info), 0);
	ck_assert_uint_eq(info.tuples, 40u * round);
	ck_assert_uint_eq(info.certs, 40u * round);
	ck_assert_uint_eq(info.keys, 40u * round);
	ck_assert_uint_eq(info.change_seq, 40u * round);
	struct d4_store_pssl_counters c;
	ck_assert_int_eq(d4_store_pssl_counters_get(s, d.sensor, &c), 0);
	ck_assert_uint_eq(c.handshakes, 40u * round);
	size_t len;
	ck_assert_int_eq(d4_store_pssl_cursor_get(s, "pssl/frames", cur, sizeof(cur), &len), 0);
	ck_assert_uint_eq(len, 8);
	ck_assert_uint_eq(d4_get_u64be(cur), round);
	/* no certificate of the failed apply */
	uint8_t known[40];
	uint8_t sh[40][20];
	for (unsigned i = 0; i < 40; i++)
		memcpy(sh[i], t[i].c.sha1, 20);
	ck_assert_int_eq(d4_store_pssl_cert_known(s, (const uint8_t(*)[20])sh, 40, known), 0);
	for (unsigned i = 0; i < 40; i++)
		ck_assert_uint_eq(known[i], 0);
	d4_store_close(s);
}
END_TEST

/* ---- kill -9 in the middle of applies ---- */

#define K9_BATCH 200

static void k9_child(int wfd)
{
	struct d4_store_opts o = base_opts();
	o.no_sync = 0; /* durable commits, like the hub */
	struct d4_store *s;
	if (d4_store_open(&o, &s))
		_exit(2);
	static struct d4_store_pssl_obs ob[K9_BATCH];
	static struct tcert t[K9_BATCH];
	uint8_t v0[8];
	size_t l0 = 0;
	uint64_t b0 = 0;
	if (d4_store_pssl_cursor_get(s, "k9", v0, sizeof(v0), &l0) == 0 && l0 == 8)
		b0 = d4_get_u64be(v0);
	for (uint64_t b = b0 + 1;; b++) {
		for (unsigned i = 0; i < K9_BATCH; i++) {
			/* half repeat earlier handshakes, half are new */
			uint64_t x = (i & 1) ? b * K9_BATCH + i : (uint64_t)i;
			tcert_make(&t[i], (unsigned)(x % 5000), 1 + (unsigned)(x % 50), "k9.example", NULL, NULL, NULL);
			obs_init(&ob[i], (unsigned)(x % 5000), 443, &t[i].c, 1, 1000 + b);
		}
		uint8_t v[8];
		d4_put_u64be(v, b);
		struct d4_store_pssl_counters d;
		memset(&d, 0, sizeof(d));
		memset(d.sensor, 7, 16);
		d.handshakes = K9_BATCH;
		struct d4_store_pssl_update u = {ob, K9_BATCH, "k9", v, 8, &d, 1};
		if (d4_store_pssl_apply(s, &u, NULL))
			_exit(3);
		if (wfd >= 0) {
			if (write(wfd, "c", 1) != 1)
				_exit(4);
			close(wfd);
			wfd = -1;
		}
	}
}

struct k9sum {
	uint64_t count, tuples;
};
static int k9sum_cb(void *ctx, const struct d4_store_pssl_tuple *t)
{
	struct k9sum *k = ctx;
	k->count += t->count;
	k->tuples++;
	return 0;
}
static int k9cert_cb(void *ctx, const struct d4_store_pssl_cert *c)
{
	uint64_t *n = ctx;
	*n += c->count;
	return 0;
}

START_TEST(test_kill9)
{
	for (int round = 0; round < 3; round++) {
		int pfd[2];
		ck_assert_int_eq(pipe(pfd), 0);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(pfd[0]);
			k9_child(pfd[1]);
		}
		close(pfd[1]);
		char ch;
		ck_assert_int_eq(read(pfd[0], &ch, 1), 1); /* at least one batch committed */
		close(pfd[0]);
		usleep(50000 + 100000 * (unsigned)round);
		kill(pid, SIGKILL);
		int st;
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert(WIFSIGNALED(st));
		struct d4_store_opts o = base_opts();
		struct d4_store *s = open_store(&o);
		uint8_t v[8];
		size_t len;
		ck_assert_int_eq(d4_store_pssl_cursor_get(s, "k9", v, sizeof(v), &len), 0);
		uint64_t b = d4_get_u64be(v);
		ck_assert_uint_gt(b, 0);
		struct d4_store_pssl_counters c;
		uint8_t sn[16];
		memset(sn, 7, 16);
		ck_assert_int_eq(d4_store_pssl_counters_get(s, sn, &c), 0);
		/* cursor, counters, rows and pivots from the same transactions */
		ck_assert_uint_eq(c.handshakes, b * K9_BATCH);
		struct d4_store_pssl_info info;
		ck_assert_int_eq(d4_store_pssl_info(s, &info), 0);
		ck_assert_uint_eq(info.change_seq, b * K9_BATCH);
		struct d4_store_pssl_query q;
		memset(&q, 0, sizeof(q));
		q.by = D4_PSSL_BY_RECENT;
		q.max_tlp = D4_TLP_RED;
		struct k9sum ks = {0, 0};
		struct d4_store_pssl_qresult res;
		ck_assert_int_eq(d4_store_pssl_query(s, &q, k9sum_cb, &ks, &res), 0);
		ck_assert_uint_eq(ks.count, b * K9_BATCH);
		ck_assert_uint_eq(ks.tuples, info.tuples);
		q.by = D4_PSSL_BY_IP;
		memset(q.ip_hi, 0xff, 16);
		struct k9sum ki = {0, 0};
		ck_assert_int_eq(d4_store_pssl_query(s, &q, k9sum_cb, &ki, &res), 0);
		ck_assert_uint_eq(ki.count, b * K9_BATCH);
		q.by = D4_PSSL_CERTS_RECENT;
		uint64_t cc = 0;
		ck_assert_int_eq(d4_store_pssl_query_certs(s, &q, k9cert_cb, &cc, &res), 0);
		ck_assert_uint_eq(cc, b * K9_BATCH);
		fprintf(stderr, "test_kill9: round %d: killed after batch %llu (%llu tuples)\n", round,
			(unsigned long long)b, (unsigned long long)info.tuples);
		d4_store_close(s);
	}
}
END_TEST

/* ---- an older store (no passive-SSL table), stored bytes that do not decode ---- */

START_TEST(test_old_store_and_corrupt)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	MDB_txn *txn;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	for (int d = DBI_PSSL_CERT; d <= DBI_PSSL_META; d++)
		ck_assert_int_eq(mdb_drop(txn, s->dbi[d], 1), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	d4_store_close(s);
	o.read_only = 1;
	s = open_store(&o);
	struct d4_store_pssl_query q;
	memset(&q, 0, sizeof(q));
	q.by = D4_PSSL_BY_RECENT;
	q.max_tlp = D4_TLP_RED;
	static struct tcoll tc;
	ck_assert_uint_eq(q_tuples(s, &q, &tc), 0);
	q.by = D4_PSSL_BY_JA3; /* still checked */
	q.key_len = 3;
	q.key = (const uint8_t *)"abc";
	struct d4_store_pssl_qresult res;
	ck_assert_int_eq(d4_store_pssl_query(s, &q, tcoll_cb, &tc, &res), D4_EINVAL);
	uint8_t sha1[20] = {1};
	static struct ccoll cc;
	ck_assert_int_eq(d4_store_pssl_cert_get(s, sha1, D4_TLP_RED, cert_get_cb, &cc), D4_ENOTFOUND);
	struct d4_store_pssl_info info;
	ck_assert_int_eq(d4_store_pssl_info(s, &info), 0);
	ck_assert_uint_eq(info.certs, 0);
	size_t len;
	uint8_t buf[8];
	ck_assert_int_eq(d4_store_pssl_cursor_get(s, "pssl/frames", buf, sizeof(buf), &len), D4_ENOTFOUND);
	struct d4_store_pssl_update u;
	memset(&u, 0, sizeof(u));
	ck_assert_int_eq(d4_store_pssl_apply(s, &u, NULL), D4_EPERM);
	d4_store_close(s);
	/* a writable open creates them */
	o.read_only = 0;
	s = open_store(&o);
	static struct tcert a;
	tcert_make(&a, 1, 1, "a.example", "a.example", NULL, NULL);
	struct d4_store_pssl_obs ob;
	obs_init(&ob, 0x0a000001, 443, &a.c, 1, 100);
	ck_assert_int_eq(apply(s, &ob, 1, NULL), 0);
	memset(&cc, 0, sizeof(cc));
	ck_assert_int_eq(d4_store_pssl_cert_get(s, a.c.sha1, D4_TLP_RED, cert_get_cb, &cc), 0);
	/* stored bytes that do not decode: an error, never a crash */
	static const uint8_t junk[] = {1, 0, 0xff, 0xff};
	ck_assert_int_eq(d4_store_test_put_raw(s, "pssl_certs", a.c.sha1, 20, junk, sizeof(junk)), 0);
	ck_assert_int_eq(d4_store_pssl_cert_get(s, a.c.sha1, D4_TLP_RED, cert_get_cb, &cc), D4_ECORRUPT);
	q.by = D4_PSSL_BY_CERT;
	q.key = a.c.sha1;
	q.key_len = 20;
	q.max_tlp = D4_TLP_RED;
	static struct tcoll tc2;
	ck_assert_uint_eq(q_tuples(s, &q, &tc2), 1); /* the tuple is fine */
	q.by = D4_PSSL_CERTS_BY_NAME;
	q.key = (const uint8_t *)"a.example";
	q.key_len = 9;
	ck_assert_int_eq(d4_store_pssl_query_certs(s, &q, ccoll_cb, &cc, &res), D4_ECORRUPT);
	ck_assert_int_eq(apply(s, &ob, 1, NULL), D4_ECORRUPT); /* the merge refuses it too */
	uint8_t k1[8];
	d4_put_u64be(k1, 1);
	ck_assert_int_eq(d4_store_test_put_raw(s, "pssl_tuples", k1, 8, junk, sizeof(junk)), 0);
	q.by = D4_PSSL_BY_RECENT;
	ck_assert_int_eq(d4_store_pssl_query(s, &q, tcoll_cb, &tc2, &res), D4_ECORRUPT);
	d4_store_close(s);
}
END_TEST

/* Names above the 64 bytes an index key keeps whole: cut, hashed, and
 * told apart on the row. */
START_TEST(test_long_names)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	/* the same last 70 bytes (the first 64 reversed), different first labels */
	char tail[80], n1[120], n2[120], n3[120];
	memset(tail, 'x', 70);
	memcpy(tail + 60, ".long.test", 10);
	tail[70] = 0;
	snprintf(n1, sizeof(n1), "one.%s", tail);
	snprintf(n2, sizeof(n2), "two.%s", tail);
	snprintf(n3, sizeof(n3), "deep.one.%s", tail);
	static struct tcert a, b, c;
	tcert_make(&a, 1, 1, NULL, n1, NULL, NULL);
	tcert_make(&b, 2, 2, NULL, n2, NULL, NULL);
	tcert_make(&c, 3, 3, "UPPER.One." /* cn, trailing dot */, n3, NULL, NULL);
	struct d4_store_pssl_cert ch[3] = {a.c, b.c, c.c};
	struct d4_store_pssl_obs ob[3];
	for (int i = 0; i < 3; i++)
		obs_init(&ob[i], 0x0a000001 + (unsigned)i, 443, &ch[i], 1, 100);
	ck_assert_int_eq(apply(s, ob, 3, NULL), 0);
	struct d4_store_pssl_query q;
	memset(&q, 0, sizeof(q));
	q.max_tlp = D4_TLP_RED;
	static struct ccoll cc;
	q.by = D4_PSSL_CERTS_BY_NAME;
	q.key = (const uint8_t *)n1;
	q.key_len = strlen(n1);
	ck_assert_uint_eq(q_certs(s, &q, &cc), 1);
	ck_assert(!memcmp(cc.sha1[0], a.c.sha1, 20));
	q.key = (const uint8_t *)n2;
	q.key_len = strlen(n2);
	ck_assert_uint_eq(q_certs(s, &q, &cc), 1);
	ck_assert(!memcmp(cc.sha1[0], b.c.sha1, 20));
	q.key = (const uint8_t *)"upper.one";
	q.key_len = 9;
	ck_assert_uint_eq(q_certs(s, &q, &cc), 1);
	ck_assert(!memcmp(cc.sha1[0], c.c.sha1, 20));
	q.by = D4_PSSL_CERTS_BY_NAME_LEFT;
	q.key = (const uint8_t *)tail; /* all three, each once */
	q.key_len = strlen(tail);
	ck_assert_uint_eq(q_certs(s, &q, &cc), 3);
	q.key = (const uint8_t *)n1; /* n1 and deep.n1 */
	q.key_len = strlen(n1);
	ck_assert_uint_eq(q_certs(s, &q, &cc), 2);
	q.key = (const uint8_t *)"test";
	q.key_len = 4;
	ck_assert_uint_eq(q_certs(s, &q, &cc), 3);
	q.key = (const uint8_t *)"one";
	q.key_len = 3;
	ck_assert_uint_eq(q_certs(s, &q, &cc), 1);
	/* paged one by one: the same three */
	q.key = (const uint8_t *)tail;
	q.key_len = strlen(tail);
	q.limit = 1;
	struct d4_store_pssl_qresult res;
	uint8_t cur[D4_PSSL_RESUME_MAX];
	static struct ccoll pc;
	memset(&pc, 0, sizeof(pc));
	do {
		ck_assert_int_eq(d4_store_pssl_query_certs(s, &q, ccoll_cb, &pc, &res), 0);
		memcpy(cur, res.resume, res.resume_len);
		q.resume = cur;
		q.resume_len = res.resume_len;
	} while (res.more);
	ck_assert_uint_eq(pc.n, 3);
	/* not a name */
	q.resume = NULL;
	q.resume_len = 0;
	q.key = (const uint8_t *)"a b";
	q.key_len = 3;
	ck_assert_int_eq(d4_store_pssl_query_certs(s, &q, ccoll_cb, &cc, &res), D4_EINVAL);
	d4_store_close(s);
}
END_TEST

static Suite *pssl_suite(void)
{
	Suite *su = suite_create("store_pssl");
	TCase *tc = tcase_create("pssl");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_basics);
	tcase_add_test(tc, test_pivots_bruteforce);
	tcase_add_test(tc, test_merge);
	tcase_add_test(tc, test_long_names);
	tcase_add_test(tc, test_missing);
	tcase_add_test(tc, test_changes_expire);
	tcase_add_test(tc, test_weak_paging);
	tcase_add_test(tc, test_full_map);
	tcase_add_test(tc, test_kill9);
	tcase_add_test(tc, test_old_store_and_corrupt);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(pssl_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
