/* Check suite for the weak-key reports (api/h_pssl_weak.c) over a real
 * store: findings written directly (d4_store_pssl_weak_apply) for keys whose
 * certificates are visible or not at a user's clearance. Every walk of the
 * list through its cursors, for several page sizes and filters, gives
 * exactly the findings a model says the caller may see, in order, each
 * once; a partner key the caller may not see is {"hidden": true}; no page
 * ends with a next_cursor that leads nowhere; cursors of another query or
 * clearance are refused; factors are withheld unless configured. */
#include "api_core.h"
#include "api_pssl_weak.h"
#include "d4_analyze.h"
#include "d4_error.h"
#include "d4_hubconf.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_store.h"
#include "d4_store_pssl.h"
#include "handlers.h"

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKEYS 60

static char tmpdir[256];
static struct d4_store *g_st;
static uint64_t g_key[NKEYS + 1]; /* key id of certificate i (1..NKEYS) */
static uint8_t g_sha1[NKEYS + 1][20];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* Certificate i: visible to a user unless i % 3 == 0 (tlp:red). */
static int red(int i)
{
	return i % 3 == 0;
}

static int keyof_cb(void *ctx, const struct d4_store_pssl_cert *c)
{
	*(uint64_t *)ctx = c->key_id;
	return 0;
}

/* The findings, in the store's order (kind, id, other). */
struct fnd {
	uint8_t kind;
	uint64_t id, other;
};
static struct fnd g_f[400];
static size_t g_nf;

static int fcmp(const void *a, const void *b)
{
	const struct fnd *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->other < y->other ? -1 : x->other > y->other;
}

static void setup(void)
{
	d4_log_init("test_pssl_weak_api", 0, D4_LOG_ERR);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/d4api-weak-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = tmpdir;
	o.map_size = 64u << 20;
	o.no_sync = 1;
	ck_assert_int_eq(d4_store_open(&o, &g_st), D4_OK);
	static const uint8_t der[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	for (int i = 1; i <= NKEYS; i++) {
		uint8_t mod[128], exp[3] = {1, 0, 1};
		char subject[80], cn[64];
		memset(mod, 0xa5, sizeof(mod));
		mod[0] = 0xc0;
		mod[1] = (uint8_t)i;
		mod[127] = 0x01;
		snprintf(cn, sizeof(cn), "k%d.example%d.test", i, i);
		snprintf(subject, sizeof(subject), "CN=%s", cn);
		struct d4_store_pssl_cert c;
		memset(&c, 0, sizeof(c));
		memset(c.sha1, i, 20);
		memset(c.sha256, i, 32);
		memset(c.spki_sha256, i, 32);
		memcpy(g_sha1[i], c.sha1, 20);
		c.der = der;
		c.der_len = sizeof(der);
		c.parsed = 1;
		c.version = 2;
		c.subject = subject;
		c.issuer = subject;
		c.serial = "01";
		c.sig_alg = "sha256WithRSAEncryption";
		c.key_alg = "rsaEncryption";
		c.key_type = 1;
		c.key_bits = 1024;
		c.modulus = mod;
		c.modulus_len = sizeof(mod);
		c.exponent = exp;
		c.exponent_len = sizeof(exp);
		c.curve = "";
		c.cn = cn;
		struct d4_store_pssl_obs ob;
		memset(&ob, 0, sizeof(ob));
		ob.server_ip[10] = ob.server_ip[11] = 0xff;
		ob.server_ip[12] = 192;
		ob.server_ip[14] = 2;
		ob.server_ip[15] = (uint8_t)i;
		ob.server_port = 443;
		ob.certs = &c;
		ob.n_certs = 1;
		ob.time_first = ob.time_last = 1765000000;
		ob.tlp = red(i) ? D4_TLP_RED : D4_TLP_GREEN;
		struct d4_store_pssl_update u;
		memset(&u, 0, sizeof(u));
		u.obs = &ob;
		u.nobs = 1;
		ck_assert_int_eq(d4_store_pssl_apply(g_st, &u, NULL), 0);
		ck_assert_int_eq(d4_store_pssl_cert_get(g_st, c.sha1, D4_TLP_RED, keyof_cb, &g_key[i]), 0);
		ck_assert_uint_ne(g_key[i], 0);
	}
	/* findings: an exponent finding per key; shared-prime pairs (i, i - 1)
	 * and (i, i - 3) (the second pair of a red key with a red one: wholly
	 * invisible to a user); shared keys of red keys only, last in the
	 * order, so that a walk ends on invisible findings */
	static const uint8_t factor[] = {0xd1, 0x00, 0x01};
	struct d4_store_pssl_finding f[400];
	g_nf = 0;
	for (int i = 1; i <= NKEYS; i++) {
		struct d4_store_pssl_finding *x = &f[g_nf];
		memset(x, 0, sizeof(*x));
		x->kind = D4_ANALYZE_WEAK_KIND_EXPONENT;
		x->id = g_key[i];
		x->reason = 8;
		g_f[g_nf++] = (struct fnd){x->kind, x->id, 0};
		for (int d = 1; d <= 3; d += 2) {
			if (i - d < 1)
				continue;
			x = &f[g_nf];
			memset(x, 0, sizeof(*x));
			x->kind = 1;
			x->id = g_key[i];
			x->other = g_key[i - d];
			x->factor = factor;
			x->factor_len = sizeof(factor);
			g_f[g_nf++] = (struct fnd){x->kind, x->id, x->other};
		}
		if (red(i)) {
			x = &f[g_nf];
			memset(x, 0, sizeof(*x));
			x->kind = D4_ANALYZE_WEAK_KIND_SHARED_KEY;
			x->id = g_key[i];
			x->reason = 2;
			g_f[g_nf++] = (struct fnd){x->kind, x->id, 0};
		}
	}
	ck_assert_int_eq(d4_store_pssl_weak_apply(g_st, f, g_nf, g_key[NKEYS]), 0);
	qsort(g_f, g_nf, sizeof(g_f[0]), fcmp);
}

static void teardown(void)
{
	d4_store_close(g_st);
	g_st = NULL;
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static int visible(uint64_t id, uint8_t clr)
{
	for (int i = 1; i <= NKEYS; i++)
		if (g_key[i] == id)
			return clr >= D4_TLP_RED || !red(i);
	return 0;
}

static struct d4_hubconf g_conf;

static int call(void (*h)(struct d4_api_ctx *, const struct d4_api_req *, struct d4_api_resp *), enum d4_role role,
		const char *param, const char *const *q, int factor_admin, struct d4_api_resp *resp)
{
	memset(&g_conf, 0, sizeof(g_conf));
	g_conf.pssl_weak_factor_admin = factor_admin;
	struct d4_api_ctx ctx = {g_st, &g_conf, NULL, NULL, NULL};
	struct d4_api_req req;
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = "/api/v1/pssl/weak";
	req.role = role;
	if (param) {
		req.params[0] = param;
		req.nparams = 1;
	}
	for (unsigned i = 0; q && q[2 * i]; i++) {
		req.qname[i] = q[2 * i];
		req.qvalue[i] = q[2 * i + 1];
		req.nquery++;
	}
	d4_api_resp_init(resp);
	h(&ctx, &req, resp);
	ck_assert_int_eq(d4_api_resp_finish(resp), 0);
	return resp->status;
}

static uint64_t side_id(yajl_val v, int *hidden)
{
	*hidden = 0;
	if (!v || YAJL_IS_NULL(v))
		return 0;
	const char *hp[] = {"hidden", NULL}, *ip[] = {"id", NULL};
	yajl_val h = yajl_tree_get(v, hp, yajl_t_true);
	if (h) {
		*hidden = 1;
		ck_assert_uint_eq(YAJL_GET_OBJECT(v)->len, 1); /* nothing else of a hidden key */
		return 0;
	}
	yajl_val id = yajl_tree_get(v, ip, yajl_t_number);
	ck_assert_ptr_nonnull(id);
	return (uint64_t)YAJL_GET_INTEGER(id);
}

/* Walks the list (role, kind filter or NULL, page size) and compares it with
 * the model. */
static void walk(enum d4_role role, const char *kind, const char *limit)
{
	uint8_t clr = role >= D4_ROLE_ADMIN ? D4_TLP_RED : D4_TLP_AMBER_STRICT;
	unsigned want_kind = kind ? d4_analyze_weak_kind_parse(kind) : 0;
	size_t m = 0; /* next model finding */
	char cursor[D4_API_WEAK_CURSOR_TEXT] = "";
	int pages = 0;
	for (;;) {
		const char *q[10];
		int n = 0;
		q[n++] = "limit";
		q[n++] = limit;
		if (kind) {
			q[n++] = "kind";
			q[n++] = kind;
		}
		if (cursor[0]) {
			q[n++] = "cursor";
			q[n++] = cursor;
		}
		q[n] = NULL;
		struct d4_api_resp resp;
		ck_assert_int_eq(call(d4_h_pssl_weak_list, role, NULL, q, 0, &resp), 200);
		yajl_val doc = yajl_tree_parse((const char *)resp.body, NULL, 0);
		ck_assert_ptr_nonnull(doc);
		const char *ip[] = {"items", NULL}, *cp[] = {"next_cursor", NULL}, *kp[] = {"kind", NULL},
			   *keyp[] = {"key", NULL}, *op[] = {"other", NULL}, *fp[] = {"factor", NULL},
			   *fbp[] = {"factor_bits", NULL};
		yajl_val items = yajl_tree_get(doc, ip, yajl_t_array);
		ck_assert_ptr_nonnull(items);
		ck_assert_uint_le(YAJL_GET_ARRAY(items)->len, (size_t)atoi(limit));
		/* a cursor never leads to an empty page */
		if (cursor[0])
			ck_assert_uint_gt(YAJL_GET_ARRAY(items)->len, 0);
		for (size_t i = 0; i < YAJL_GET_ARRAY(items)->len; i++) {
			yajl_val it = YAJL_GET_ARRAY(items)->values[i];
			/* the next finding of the model this caller may see */
			while (m < g_nf && ((want_kind && g_f[m].kind != want_kind) ||
					    !(visible(g_f[m].id, clr) || (g_f[m].other && visible(g_f[m].other, clr)))))
				m++;
			ck_assert_uint_lt(m, g_nf);
			const struct fnd *e = &g_f[m++];
			ck_assert_str_eq(YAJL_GET_STRING(yajl_tree_get(it, kp, yajl_t_string)),
					 d4_analyze_weak_kind_name(e->kind));
			int hk = 0, ho = 0;
			uint64_t k = side_id(yajl_tree_get(it, keyp, yajl_t_any), &hk);
			uint64_t o = side_id(yajl_tree_get(it, op, yajl_t_any), &ho);
			ck_assert_int_eq(hk, !visible(e->id, clr));
			ck_assert_uint_eq(k, hk ? 0 : e->id);
			if (e->other) {
				ck_assert_int_eq(ho, !visible(e->other, clr));
				ck_assert_uint_eq(o, ho ? 0 : e->other);
			} else {
				ck_assert_uint_eq(o, 0);
				ck_assert_int_eq(ho, 0);
			}
			ck_assert_ptr_null(yajl_tree_get(it, fp, yajl_t_any));
			yajl_val fb = yajl_tree_get(it, fbp, yajl_t_any);
			ck_assert(e->kind == 1 ? YAJL_IS_INTEGER(fb) && YAJL_GET_INTEGER(fb) == 24 : YAJL_IS_NULL(fb));
		}
		yajl_val c = yajl_tree_get(doc, cp, yajl_t_any);
		pages++;
		if (YAJL_IS_NULL(c)) {
			yajl_tree_free(doc);
			d4_api_resp_free(&resp);
			break;
		}
		ck_assert_uint_gt(YAJL_GET_ARRAY(items)->len, 0);
		snprintf(cursor, sizeof(cursor), "%s", YAJL_GET_STRING(c));
		ck_assert_str_eq(d4_api_resp_header(&resp, "D4-Next-Cursor"), cursor);
		yajl_tree_free(doc);
		d4_api_resp_free(&resp);
		ck_assert_int_lt(pages, 1000);
	}
	/* every visible finding was returned, none after */
	while (m < g_nf && ((want_kind && g_f[m].kind != want_kind) ||
			    !(visible(g_f[m].id, clr) || (g_f[m].other && visible(g_f[m].other, clr)))))
		m++;
	ck_assert_uint_eq(m, g_nf);
}

START_TEST(test_walks)
{
	static const char *const limits[] = {"1", "2", "7", "100", "1000"};
	for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
		walk(D4_ROLE_USER, NULL, limits[l]);
		walk(D4_ROLE_ADMIN, NULL, limits[l]);
		walk(D4_ROLE_USER, "shared-prime", limits[l]);
		walk(D4_ROLE_USER, "shared-key", limits[l]); /* all red: one empty page */
		walk(D4_ROLE_ADMIN, "shared-key", limits[l]);
	}
}
END_TEST

static char *first_cursor(enum d4_role role)
{
	const char *q[] = {"limit", "1", NULL};
	struct d4_api_resp resp;
	ck_assert_int_eq(call(d4_h_pssl_weak_list, role, NULL, q, 0, &resp), 200);
	const char *h = d4_api_resp_header(&resp, "D4-Next-Cursor");
	ck_assert_ptr_nonnull(h);
	char *c = strdup(h);
	d4_api_resp_free(&resp);
	return c;
}

START_TEST(test_cursor_bound)
{
	char *cu = first_cursor(D4_ROLE_USER);
	struct d4_api_resp resp;
	const char *other_clr[] = {"limit", "1", "cursor", cu, NULL};
	ck_assert_int_eq(call(d4_h_pssl_weak_list, D4_ROLE_ADMIN, NULL, other_clr, 0, &resp), 400);
	d4_api_resp_free(&resp);
	const char *other_kind[] = {"limit", "1", "kind", "weak-exponent", "cursor", cu, NULL};
	ck_assert_int_eq(call(d4_h_pssl_weak_list, D4_ROLE_USER, NULL, other_kind, 0, &resp), 400);
	d4_api_resp_free(&resp);
	const char *same[] = {"limit", "5", "cursor", cu, NULL}; /* the limit is not bound */
	ck_assert_int_eq(call(d4_h_pssl_weak_list, D4_ROLE_USER, NULL, same, 0, &resp), 200);
	d4_api_resp_free(&resp);
	cu[strlen(cu) - 1] = cu[strlen(cu) - 1] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(call(d4_h_pssl_weak_list, D4_ROLE_USER, NULL, same, 0, &resp), 400);
	d4_api_resp_free(&resp);
	free(cu);
}
END_TEST

START_TEST(test_keys_and_factors)
{
	struct d4_api_resp resp;
	char id[24], hex[41];
	/* a red key: 404 for a user (as an unknown one), 200 for an admin */
	snprintf(id, sizeof(id), "%llu", (unsigned long long)g_key[3]);
	ck_assert_int_eq(call(d4_h_pssl_weak_key, D4_ROLE_USER, id, NULL, 0, &resp), 404);
	char *body404 = strdup((const char *)resp.body);
	d4_api_resp_free(&resp);
	ck_assert_int_eq(call(d4_h_pssl_weak_key, D4_ROLE_USER, "987654", NULL, 0, &resp), 404);
	ck_assert_ptr_nonnull(strstr((const char *)resp.body, "no key 987654"));
	ck_assert_ptr_nonnull(strstr(body404, "no key "));
	free(body404);
	d4_api_resp_free(&resp);
	ck_assert_int_eq(call(d4_h_pssl_weak_key, D4_ROLE_ADMIN, id, NULL, 0, &resp), 200);
	d4_api_resp_free(&resp);
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", g_sha1[3][i]);
	ck_assert_int_eq(call(d4_h_pssl_weak_cert, D4_ROLE_USER, hex, NULL, 0, &resp), 404);
	d4_api_resp_free(&resp);
	/* a green key next to red ones: its pairs show the red partners hidden */
	snprintf(id, sizeof(id), "%llu", (unsigned long long)g_key[4]);
	ck_assert_int_eq(call(d4_h_pssl_weak_key, D4_ROLE_USER, id, NULL, 0, &resp), 200);
	ck_assert_ptr_nonnull(strstr((const char *)resp.body, "{\"hidden\":true}"));
	ck_assert_ptr_null(strstr((const char *)resp.body, "\"factor\":"));
	d4_api_resp_free(&resp);
	/* factors: never to a user; to an admin only when configured */
	ck_assert_int_eq(call(d4_h_pssl_weak_key, D4_ROLE_USER, id, NULL, 1, &resp), 200);
	ck_assert_ptr_null(strstr((const char *)resp.body, "\"factor\":"));
	d4_api_resp_free(&resp);
	ck_assert_int_eq(call(d4_h_pssl_weak_key, D4_ROLE_ADMIN, id, NULL, 0, &resp), 200);
	ck_assert_ptr_null(strstr((const char *)resp.body, "\"factor\":"));
	d4_api_resp_free(&resp);
	ck_assert_int_eq(call(d4_h_pssl_weak_key, D4_ROLE_ADMIN, id, NULL, 1, &resp), 200);
	ck_assert_ptr_nonnull(strstr((const char *)resp.body, "\"factor\":\"d10001\""));
	d4_api_resp_free(&resp);
	const char *q[] = {"limit", "1000", NULL};
	ck_assert_int_eq(call(d4_h_pssl_weak_list, D4_ROLE_ADMIN, NULL, q, 1, &resp), 200);
	ck_assert_ptr_nonnull(strstr((const char *)resp.body, "\"factor\":\"d10001\""));
	d4_api_resp_free(&resp);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pssl_weak_api");
	TCase *tc = tcase_create("reports");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_walks);
	tcase_add_test(tc, test_cursor_bound);
	tcase_add_test(tc, test_keys_and_factors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
