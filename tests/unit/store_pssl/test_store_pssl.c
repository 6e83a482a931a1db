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
	char subject[64], issuer[64], cn[64];
	uint8_t modulus[32], exponent[3];
	struct d4_store_pssl_san san[4];
	char san_v[4][64];
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

static Suite *pssl_suite(void)
{
	Suite *su = suite_create("store_pssl");
	TCase *tc = tcase_create("pssl");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_basics);
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
