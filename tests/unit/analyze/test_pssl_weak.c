/* The weak-key job (hub/analyze/pssl_weak.c) over a real temporary store:
 * certificates with planted weak keys (tests/tools/weakcerts.c: GMP primes,
 * OpenSSL 3 keys, self-signed X.509) are parsed with analyzers/x509 and
 * merged as handshakes; the job must report exactly the planted findings
 * (no false pair), resume after a restart without reporting anything twice,
 * and advance its position. */
#include "d4_analyze.h"
#include "d4_error.h"
#include "d4_policy.h"
#include "d4_store.h"
#include "d4_store_pssl.h"
#include "d4_util.h"
#include "d4_x509.h"
#include "weakcerts.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct wc_set g_set;
static char g_dir[256];

static void setup(void)
{
	if (!g_set.n)
		ck_assert_int_eq(wc_make(12, 512, &g_set), 0);
	snprintf(g_dir, sizeof(g_dir), "/tmp/d4-test-weak-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct d4_store *open_store(void)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = g_dir;
	o.map_size = 256u << 20;
	o.no_sync = 1;
	struct d4_store *s = NULL;
	ck_assert_int_eq(d4_store_open(&o, &s), 0);
	return s;
}

static size_t cert_index(const char *name)
{
	for (size_t i = 0; i < g_set.n; i++)
		if (!strcmp(g_set.c[i].name, name))
			return i;
	ck_abort_msg("no certificate %s", name);
	return 0;
}

/* Merges certificates [from, to) of the set, one handshake each. */
static void store_certs(struct d4_store *s, size_t from, size_t to, uint8_t tlp)
{
	ck_assert_int_eq(wc_store(s, &g_set, from, to, tlp), 0);
}

struct keyof {
	uint64_t id;
};

static int keyof_cb(void *ctx, const struct d4_store_pssl_cert *c)
{
	((struct keyof *)ctx)->id = c->key_id;
	return 0;
}

static uint64_t key_of(struct d4_store *s, size_t i)
{
	struct d4_x509 *x = malloc(sizeof(*x));
	ck_assert_int_eq(d4_x509_parse(g_set.c[i].der, g_set.c[i].der_len, x), 0);
	struct keyof k = {0};
	ck_assert_int_eq(d4_store_pssl_cert_get(s, x->sha1, D4_TLP_RED, keyof_cb, &k), 0);
	free(x);
	ck_assert_uint_ne(k.id, 0);
	return k.id;
}

/* The name of the first certificate (in set order, among [0, upto)) carrying key id. */
static const char *name_of(struct d4_store *s, uint64_t id, size_t upto)
{
	for (size_t i = 0; i < upto; i++)
		if (key_of(s, i) == id)
			return g_set.c[i].name;
	ck_abort_msg("key %llu carried by no certificate", (unsigned long long)id);
	return NULL;
}

struct flist {
	struct d4_store_pssl_finding f[256];
	size_t n;
};

static int flist_cb(void *ctx, const struct d4_store_pssl_finding *f)
{
	struct flist *l = ctx;
	ck_assert_uint_lt(l->n, 256);
	l->f[l->n] = *f;
	l->f[l->n].factor = NULL;
	l->n++;
	return 0;
}

static const char *const eflag_names[] = {"zero", "one", "even", "small", "unusual", "huge"};

/* The stored findings as "kind A [B] [flags]" lines (pairs sorted by name),
 * compared with the expected ones of the certificates [0, upto): exactly
 * the same multiset. */
static void check_findings(struct d4_store *s, size_t upto)
{
	struct flist *l = calloc(1, sizeof(*l));
	struct d4_store_pssl_qresult res;
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(d4_store_pssl_weak_query(s, 0, 0, 0, NULL, 0, flist_cb, l, &res), 0);
	char got[256][96], want[64][96];
	size_t nw = 0;
	for (size_t i = 0; i < l->n; i++) {
		const struct d4_store_pssl_finding *f = &l->f[i];
		const char *a = name_of(s, f->id, upto), *b = f->other ? name_of(s, f->other, upto) : "";
		if (b[0] && strcmp(a, b) > 0) {
			const char *t = a;
			a = b;
			b = t;
		}
		char flags[64] = "";
		if (f->kind == D4_ANALYZE_WEAK_KIND_EXPONENT)
			for (unsigned k = 0; k < 6; k++)
				if (f->reason & (1u << k))
					snprintf(flags + strlen(flags), sizeof(flags) - strlen(flags), " %s",
						 eflag_names[k]);
		snprintf(got[i], sizeof(got[i]), "%s %s%s%s%s", d4_analyze_weak_kind_name(f->kind), a, b[0] ? " " : "",
			 b, flags);
	}
	for (size_t i = 0; i < g_set.ne; i++) {
		const struct wc_expect *e = &g_set.e[i];
		if (cert_index(e->a) >= upto || (e->b[0] && cert_index(e->b) >= upto))
			continue;
		snprintf(want[nw++], sizeof(want[0]), "%s %s%s%s%s%s", e->kind, e->a, e->b[0] ? " " : "", e->b,
			 e->flags[0] ? " " : "", e->flags);
	}
	for (size_t i = 0; i < l->n; i++) {
		size_t k = 0;
		while (k < nw && strcmp(got[i], want[k]))
			k++;
		ck_assert_msg(k < nw, "unexpected finding: %s", got[i]);
		want[k][0] = '\0'; /* matched once */
	}
	for (size_t k = 0; k < nw; k++)
		ck_assert_msg(want[k][0] == '\0', "missing finding: %s", want[k]);
	ck_assert_uint_eq(l->n, nw);
	free(l);
}

static uint64_t position(struct d4_store *s)
{
	uint64_t p = 0;
	int rc = d4_store_pssl_weak_position(s, &p);
	ck_assert(rc == 0 || rc == D4_ENOTFOUND);
	return rc ? 0 : p;
}

static uint64_t last_key(struct d4_store *s)
{
	struct d4_store_pssl_info in;
	ck_assert_int_eq(d4_store_pssl_info(s, &in), 0);
	return in.keys; /* ids ascend from 1 without gaps: nothing removes keys */
}

static size_t count_expected(size_t from, size_t upto)
{
	size_t n = 0;
	for (size_t i = 0; i < g_set.ne; i++) {
		size_t a = cert_index(g_set.e[i].a), b = g_set.e[i].b[0] ? cert_index(g_set.e[i].b) : a;
		size_t hi = a > b ? a : b;
		if (hi >= from && hi < upto)
			n++;
	}
	return n;
}

static void run_until_idle(struct d4_analyze_weak *x)
{
	int idle = 0;
	for (int guard = 0; !idle && guard < 1000; guard++)
		ck_assert_int_ge(d4_analyze_weak_step(x, 1, &idle), 0);
	ck_assert_int_eq(idle, 1);
}

START_TEST(test_all_found)
{
	struct d4_store *s = open_store();
	store_certs(s, 0, g_set.n, D4_TLP_GREEN);
	struct d4_analyze_weak_opts o;
	memset(&o, 0, sizeof(o));
	struct d4_analyze_weak *x = NULL;
	ck_assert_int_eq(d4_analyze_weak_new(s, &o, &x), 0);
	ck_assert_uint_eq(position(s), 0);
	run_until_idle(x);
	check_findings(s, g_set.n);
	ck_assert_uint_eq(position(s), last_key(s));
	struct d4_analyze_weak_stats st;
	d4_analyze_weak_stats(x, &st);
	ck_assert_uint_eq(st.findings, g_set.ne);
	ck_assert_uint_eq(st.position, last_key(s));
	/* every RSA modulus but the small-factor one is in the set (K and R
	 * pairs are one key each) */
	ck_assert_uint_eq(st.set_size, last_key(s) - 1);
	ck_assert_uint_eq(st.set_bytes, st.set_size * 128); /* 1024-bit moduli */
	d4_analyze_weak_free(x);
	/* the rebuilt set is the same */
	ck_assert_int_eq(d4_analyze_weak_new(s, &o, &x), 0);
	d4_analyze_weak_stats(x, &st);
	ck_assert_uint_eq(st.rebuilt, last_key(s) - 1);
	ck_assert_uint_eq(st.set_bytes, st.set_size * 128);
	ck_assert_int_eq(d4_analyze_weak_step(x, 0, NULL), 0);
	d4_analyze_weak_free(x);
	d4_store_close(s);
}
END_TEST

/* Keys arrive in three parts; the job is restarted between them (set
 * rebuilt from the store) with batches of 2 and 3: the same findings, each
 * reported once, by the run that processed its newer key. */
START_TEST(test_restart_resumes)
{
	struct d4_store *s = open_store();
	size_t cut[4] = {0, 4, 9, g_set.n};
	uint64_t total = 0;
	for (int part = 0; part < 3; part++) {
		store_certs(s, cut[part], cut[part + 1], D4_TLP_GREEN);
		struct d4_analyze_weak_opts o;
		memset(&o, 0, sizeof(o));
		o.batch = part == 1 ? 3 : 2;
		struct d4_analyze_weak *x = NULL;
		uint64_t before = position(s);
		ck_assert_int_eq(d4_analyze_weak_new(s, &o, &x), 0);
		struct d4_analyze_weak_stats st;
		d4_analyze_weak_stats(x, &st);
		ck_assert_uint_eq(st.position, before);
		run_until_idle(x);
		d4_analyze_weak_stats(x, &st);
		ck_assert_uint_eq(st.findings, count_expected(cut[part], cut[part + 1]));
		total += st.findings;
		ck_assert_uint_eq(position(s), last_key(s));
		ck_assert_uint_gt(position(s), before);
		check_findings(s, cut[part + 1]);
		d4_analyze_weak_free(x);
	}
	ck_assert_uint_eq(total, g_set.ne);
	d4_store_close(s);
}
END_TEST

/* One batch per job life, a batch of one key: the extreme of restarts. */
START_TEST(test_restart_every_batch)
{
	struct d4_store *s = open_store();
	store_certs(s, 0, g_set.n, D4_TLP_GREEN);
	uint64_t total = 0, prev = 0;
	for (int guard = 0; guard < 100; guard++) {
		struct d4_analyze_weak_opts o;
		memset(&o, 0, sizeof(o));
		o.batch = 1;
		struct d4_analyze_weak *x = NULL;
		ck_assert_int_eq(d4_analyze_weak_new(s, &o, &x), 0);
		int idle = 0;
		ck_assert_int_ge(d4_analyze_weak_step(x, 1, &idle), 0);
		struct d4_analyze_weak_stats st;
		d4_analyze_weak_stats(x, &st);
		total += st.findings;
		d4_analyze_weak_free(x);
		if (idle)
			break;
		ck_assert_uint_eq(position(s), prev + 1);
		prev = position(s);
	}
	ck_assert_uint_eq(position(s), last_key(s));
	ck_assert_uint_eq(total, g_set.ne);
	check_findings(s, g_set.n);
	d4_store_close(s);
}
END_TEST

/* max_keys: the job refuses to grow the set beyond it (nothing written, the
 * position stays), and a restart with a smaller cap than the stored set
 * refuses to start. */
START_TEST(test_max_keys)
{
	struct d4_store *s = open_store();
	store_certs(s, 0, g_set.n, D4_TLP_GREEN);
	struct d4_analyze_weak_opts o;
	memset(&o, 0, sizeof(o));
	o.batch = 4;
	o.max_keys = 6;
	struct d4_analyze_weak *x = NULL;
	ck_assert_int_eq(d4_analyze_weak_new(s, &o, &x), 0);
	ck_assert_int_eq(d4_analyze_weak_step(x, 1, NULL), 1); /* 4 moduli */
	uint64_t pos = position(s);
	ck_assert_uint_eq(pos, 4);
	ck_assert_int_eq(d4_analyze_weak_step(x, 1, NULL), D4_ETOOBIG); /* 4 + 4 > 6 */
	ck_assert_int_eq(d4_analyze_weak_step(x, 1, NULL), D4_ETOOBIG);
	ck_assert_uint_eq(position(s), pos);
	struct d4_analyze_weak_stats st;
	d4_analyze_weak_stats(x, &st);
	ck_assert_uint_eq(st.refused_full, 2);
	d4_analyze_weak_free(x);
	o.max_keys = 3;
	ck_assert_int_eq(d4_analyze_weak_new(s, &o, &x), D4_ETOOBIG);
	ck_assert_ptr_null(x);
	/* the same with the bytes: 4 moduli of 128 bytes fit in 600, 8 do not */
	o.max_keys = 0;
	o.max_bytes = 600;
	ck_assert_int_eq(d4_analyze_weak_new(s, &o, &x), 0);
	ck_assert_int_eq(d4_analyze_weak_step(x, 1, NULL), D4_ETOOBIG);
	ck_assert_uint_eq(position(s), pos);
	d4_analyze_weak_free(x);
	o.max_bytes = 500;
	ck_assert_int_eq(d4_analyze_weak_new(s, &o, &x), D4_ETOOBIG);
	o.max_bytes = 0;
	o.max_keys = 1u << 27;
	char err[160];
	ck_assert_int_eq(d4_analyze_weak_opts_check(&o, err, sizeof(err)), D4_EINVAL);
	d4_store_close(s);
}
END_TEST

/* A second subject for a key already processed: the step has no new key,
 * the sweep finds it once. */
START_TEST(test_sweep_late_subject)
{
	struct d4_store *s = open_store();
	size_t k1 = cert_index("K1"), k2 = cert_index("K2");
	store_certs(s, k1, k1 + 1, D4_TLP_GREEN);
	struct d4_analyze_weak_opts o;
	memset(&o, 0, sizeof(o));
	struct d4_analyze_weak *x = NULL;
	ck_assert_int_eq(d4_analyze_weak_new(s, &o, &x), 0);
	run_until_idle(x);
	store_certs(s, k2, k2 + 1, D4_TLP_GREEN);
	run_until_idle(x);
	struct d4_analyze_weak_stats st;
	d4_analyze_weak_stats(x, &st);
	ck_assert_uint_eq(st.findings, 0);
	uint64_t found = 9;
	ck_assert_int_eq(d4_analyze_weak_sweep(x, &found), 0);
	ck_assert_uint_eq(found, 1);
	ck_assert_int_eq(d4_analyze_weak_sweep(x, &found), 0);
	ck_assert_uint_eq(found, 0);
	struct flist *l = calloc(1, sizeof(*l));
	struct d4_store_pssl_qresult res;
	ck_assert_int_eq(d4_store_pssl_weak_query(s, D4_ANALYZE_WEAK_KIND_SHARED_KEY, 0, 0, NULL, 0, flist_cb, l, &res),
			 0);
	ck_assert_uint_eq(l->n, 1);
	ck_assert_uint_eq(l->f[0].id, key_of(s, k1));
	ck_assert_uint_eq(l->f[0].reason, 2);
	free(l);
	d4_analyze_weak_free(x);
	d4_store_close(s);
}
END_TEST

/* Hostile sizes: 2,100 keys with 16384-bit moduli (random odd numbers, no
 * certificate needed) and weak_batch at its maximum: a batch still ends at
 * D4_ANALYZE_WEAK_BATCH_BYTES of moduli (2,048 of 2,048 bytes), the next
 * batch takes the rest. */
START_TEST(test_batch_bytes)
{
	struct d4_store *s = open_store();
	static const uint8_t der[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	static uint8_t mod[D4_PSSL_MODULUS_MAX];
	uint8_t exp[3] = {1, 0, 1};
	uint64_t rng = 0x2545f4914f6cdd1dull;
	const size_t n = 2100;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < sizeof(mod); j++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			mod[j] = (uint8_t)rng;
		}
		mod[0] |= 0x80;
		mod[sizeof(mod) - 1] |= 1;
		struct d4_store_pssl_cert c;
		memset(&c, 0, sizeof(c));
		memcpy(c.sha1, &i, sizeof(i));
		memcpy(c.sha256, &i, sizeof(i));
		memcpy(c.spki_sha256, &i, sizeof(i));
		c.der = der;
		c.der_len = sizeof(der);
		c.parsed = 1;
		c.subject = c.issuer = "CN=big.example";
		c.serial = "01";
		c.sig_alg = "sha256WithRSAEncryption";
		c.key_alg = "rsaEncryption";
		c.key_type = 1;
		c.key_bits = 16384;
		c.modulus = mod;
		c.modulus_len = sizeof(mod);
		c.exponent = exp;
		c.exponent_len = sizeof(exp);
		c.curve = "";
		struct d4_store_pssl_obs ob;
		memset(&ob, 0, sizeof(ob));
		ob.server_ip[10] = ob.server_ip[11] = 0xff;
		ob.server_ip[12] = 10;
		ob.server_ip[14] = (uint8_t)(i >> 8);
		ob.server_ip[15] = (uint8_t)i;
		ob.server_port = 443;
		ob.certs = &c;
		ob.n_certs = 1;
		ob.time_first = ob.time_last = 1765000000;
		ob.tlp = D4_TLP_GREEN;
		struct d4_store_pssl_update u;
		memset(&u, 0, sizeof(u));
		u.obs = &ob;
		u.nobs = 1;
		ck_assert_int_eq(d4_store_pssl_apply(s, &u, NULL), 0);
	}
	ck_assert_uint_eq(last_key(s), n);
	struct d4_analyze_weak_opts o;
	memset(&o, 0, sizeof(o));
	o.batch = D4_ANALYZE_WEAK_BATCH_MAX;
	struct d4_analyze_weak *x = NULL;
	ck_assert_int_eq(d4_analyze_weak_new(s, &o, &x), 0);
	ck_assert_int_eq(d4_analyze_weak_step(x, 1, NULL), 1);
	ck_assert_uint_eq(position(s), D4_ANALYZE_WEAK_BATCH_BYTES / D4_PSSL_MODULUS_MAX);
	int idle = 0;
	ck_assert_int_eq(d4_analyze_weak_step(x, 0, &idle), 1);
	ck_assert_int_eq(idle, 1);
	ck_assert_uint_eq(position(s), n);
	struct d4_analyze_weak_stats st;
	d4_analyze_weak_stats(x, &st);
	ck_assert_uint_eq(st.keys, n);
	ck_assert_uint_eq(st.set_bytes, st.set_size * D4_PSSL_MODULUS_MAX);
	d4_analyze_weak_free(x);
	d4_store_close(s);
}
END_TEST

START_TEST(test_kind_names)
{
	static const char *const names[] = {"shared-prime", "shared-prime-unpaired", "duplicate-modulus",
					    "small-factor", "invalid-modulus",	     "weak-exponent",
					    "shared-key"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		unsigned k = d4_analyze_weak_kind_parse(names[i]);
		ck_assert_uint_ne(k, 0);
		ck_assert_str_eq(d4_analyze_weak_kind_name(k), names[i]);
	}
	ck_assert_uint_eq(d4_analyze_weak_kind_parse("shared"), 0);
	ck_assert_uint_eq(d4_analyze_weak_kind_parse(NULL), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *su = suite_create("pssl_weak");
	TCase *tc = tcase_create("job");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_all_found);
	tcase_add_test(tc, test_restart_resumes);
	tcase_add_test(tc, test_restart_every_batch);
	tcase_add_test(tc, test_max_keys);
	tcase_add_test(tc, test_sweep_late_subject);
	tcase_add_test(tc, test_batch_bytes);
	tcase_add_test(tc, test_kind_names);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
