/* Check suite for the API core (api/): router, percent-decoding, query
 * parsing, JSON pre-check, response builders and problems, the failed-auth
 * rate limit, the dispatcher's status rules, and the system handlers over a
 * real store in a temp dir. */
#include "api_core.h"
#include "api_limits.h"
#include "d4_error.h"
#include "d4_log.h"
#include "d4_store.h"
#include "d4_util.h"

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- router ------------------------------------------------------------- */
static void h_dummy(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	(void)ctx;
	yajl_gen g = d4_api_json_begin(resp, 200);
	yajl_gen_map_open(g);
	d4_api_j_kv_str(g, "path", req->path);
	d4_api_j_kv_u64(g, "nparams", req->nparams);
	if (req->nparams)
		d4_api_j_kv_str(g, "p0", req->params[0]);
	if (req->nparams > 1)
		d4_api_j_kv_str(g, "p1", req->params[1]);
	d4_api_j_kv_str(g, "user", req->user);
	d4_api_j_kv_str(g, "q", d4_api_query(req, "q"));
	d4_api_j_kv_bool(g, "has_json", req->json != NULL);
	yajl_gen_map_close(g);
}

static void h_silent(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	(void)ctx;
	(void)req;
	(void)resp;
}

static void h_created(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	(void)ctx;
	(void)req;
	d4_api_body(resp, 201, "text/plain", "made", 4);
	d4_api_header(resp, "Location", "/x/1");
}

static const struct d4_api_route routes[] = {
    {"GET", "/health", D4_ROLE_NONE, D4_BODY_NONE, h_dummy, "getHealth"},
    {"GET", "/api/v1/sensors", D4_ROLE_USER, D4_BODY_NONE, h_dummy, "listSensors"},
    {"POST", "/api/v1/sensors", D4_ROLE_ADMIN, D4_BODY_JSON, h_dummy, "createSensor"},
    {"GET", "/api/v1/sensors/{uuid}", D4_ROLE_USER, D4_BODY_NONE, h_dummy, "getSensor"},
    {"DELETE", "/api/v1/sensors/{uuid}", D4_ROLE_ADMIN, D4_BODY_NONE, h_dummy, "deleteSensor"},
    {"PATCH", "/api/v1/sensors/{uuid}", D4_ROLE_ADMIN, D4_BODY_JSON, h_dummy, "updateSensor"},
    {"POST", "/api/v1/sensors/{uuid}/approve", D4_ROLE_ADMIN, D4_BODY_NONE, h_dummy, "approveSensor"},
    /* after the {uuid} routes on purpose: the static segment must still win */
    {"GET", "/api/v1/sensors/silent", D4_ROLE_USER, D4_BODY_NONE, h_dummy, "listSilentSensors"},
    {"DELETE", "/api/v1/blocklist/{kind}/{value}", D4_ROLE_ADMIN, D4_BODY_NONE, h_dummy, "deleteBlock"},
    {"POST", "/anon/json", D4_ROLE_NONE, D4_BODY_JSON, h_dummy, "anonJson"},
    {"GET", "/silent", D4_ROLE_NONE, D4_BODY_NONE, h_silent, "silent"},
    {"GET", "/created", D4_ROLE_NONE, D4_BODY_NONE, h_created, "created"},
    {"GET", "/me", D4_ROLE_SENSOR_REGISTER, D4_BODY_NONE, h_dummy, "getMe"},
};
#define NR (sizeof(routes) / sizeof(routes[0]))

static const struct d4_api_route *match(const char *m, const char *p, int *status, const char **params, unsigned *np,
					char *allow)
{
	static char scratch[512];
	return d4_api_route_match(routes, NR, m, p, scratch, sizeof(scratch), params, np, status, allow, 128);
}

START_TEST(test_route_exact_and_params)
{
	const char *params[D4_API_MAX_PARAMS];
	unsigned np = 9;
	int status = 0;
	char allow[128];
	const struct d4_api_route *r = match("GET", "/health", &status, params, &np, allow);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->op_id, "getHealth");
	ck_assert_uint_eq(np, 0);
	ck_assert_int_eq(status, 200);

	r = match("GET", "/api/v1/sensors/abc", &status, params, &np, allow);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->op_id, "getSensor");
	ck_assert_uint_eq(np, 1);
	ck_assert_str_eq(params[0], "abc");

	r = match("POST", "/api/v1/sensors/u1/approve", &status, params, &np, allow);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->op_id, "approveSensor");
	ck_assert_str_eq(params[0], "u1");

	/* a static segment beats a capture, whatever the table order */
	r = match("GET", "/api/v1/sensors/silent", &status, params, &np, allow);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->op_id, "listSilentSensors");
	ck_assert_uint_eq(np, 0);
	r = match("GET", "/api/v1/sensors/silentx", &status, params, &np, allow);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->op_id, "getSensor");
	ck_assert_str_eq(params[0], "silentx");
	/* the path is the static route's alone: other methods are 405 with its Allow */
	r = match("DELETE", "/api/v1/sensors/silent", &status, params, &np, allow);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(status, 405);
	ck_assert_str_eq(allow, "GET");
	r = match("DELETE", "/api/v1/sensors/abc", &status, params, &np, allow);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->op_id, "deleteSensor");

	/* %2F is decoded after matching: it stays inside the parameter */
	r = match("DELETE", "/api/v1/blocklist/ip/10.0.0.0%2F8", &status, params, &np, allow);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(np, 2);
	ck_assert_str_eq(params[0], "ip");
	ck_assert_str_eq(params[1], "10.0.0.0/8");
	/* an unescaped slash is a segment boundary: no template has 5 */
	r = match("DELETE", "/api/v1/blocklist/ip/10.0.0.0/8", &status, params, &np, allow);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(status, 404);
}
END_TEST

START_TEST(test_route_404_405)
{
	const char *params[D4_API_MAX_PARAMS];
	unsigned np;
	int status = 0;
	char allow[128];
	ck_assert_ptr_null(match("GET", "/nope", &status, params, &np, allow));
	ck_assert_int_eq(status, 404);
	ck_assert_str_eq(allow, "");
	/* trailing slash, empty segment, empty param: no match */
	ck_assert_ptr_null(match("GET", "/health/", &status, params, &np, allow));
	ck_assert_int_eq(status, 404);
	ck_assert_ptr_null(match("GET", "/api/v1/sensors/", &status, params, &np, allow));
	ck_assert_int_eq(status, 404);
	ck_assert_ptr_null(match("GET", "/api//v1/sensors", &status, params, &np, allow));
	ck_assert_int_eq(status, 404);
	ck_assert_ptr_null(match("GET", "", &status, params, &np, allow));
	ck_assert_int_eq(status, 404);
	ck_assert_ptr_null(match("GET", "health", &status, params, &np, allow));
	ck_assert_int_eq(status, 404);
	ck_assert_ptr_null(match("GET", "/api/v1/sensors/a/approve/x", &status, params, &np, allow));
	ck_assert_int_eq(status, 404);
	/* wrong method: 405 and every method of the matching templates */
	ck_assert_ptr_null(match("PUT", "/api/v1/sensors/abc", &status, params, &np, allow));
	ck_assert_int_eq(status, 405);
	ck_assert_str_eq(allow, "GET, DELETE, PATCH");
	ck_assert_ptr_null(match("DELETE", "/health", &status, params, &np, allow));
	ck_assert_int_eq(status, 405);
	ck_assert_str_eq(allow, "GET");
	ck_assert_ptr_null(match("get", "/health", &status, params, &np, allow));
	ck_assert_int_eq(status, 405);
	/* a broken escape inside a capture */
	ck_assert_ptr_null(match("GET", "/api/v1/sensors/%zz", &status, params, &np, allow));
	ck_assert_int_eq(status, 400);
	ck_assert_ptr_null(match("GET", "/api/v1/sensors/a%00b", &status, params, &np, allow));
	ck_assert_int_eq(status, 400);
}
END_TEST

START_TEST(test_pct_decode)
{
	char out[16];
	ck_assert_int_eq(d4_api_pct_decode("a%41b", 5, out, sizeof(out), 0), D4_OK);
	ck_assert_str_eq(out, "aAb");
	ck_assert_int_eq(d4_api_pct_decode("a+b%2f", 6, out, sizeof(out), 1), D4_OK);
	ck_assert_str_eq(out, "a b/");
	ck_assert_int_eq(d4_api_pct_decode("a+b", 3, out, sizeof(out), 0), D4_OK);
	ck_assert_str_eq(out, "a+b");
	ck_assert_int_eq(d4_api_pct_decode("%4", 2, out, sizeof(out), 0), D4_EINVAL);
	ck_assert_int_eq(d4_api_pct_decode("%", 1, out, sizeof(out), 0), D4_EINVAL);
	ck_assert_int_eq(d4_api_pct_decode("%g1", 3, out, sizeof(out), 0), D4_EINVAL);
	ck_assert_int_eq(d4_api_pct_decode("%00", 3, out, sizeof(out), 0), D4_EINVAL);
	ck_assert_int_eq(d4_api_pct_decode("", 0, out, sizeof(out), 0), D4_OK);
	ck_assert_str_eq(out, "");
	/* length is honoured: the escape after len is not looked at */
	ck_assert_int_eq(d4_api_pct_decode("ab%zz", 2, out, sizeof(out), 0), D4_OK);
	ck_assert_str_eq(out, "ab");
	ck_assert_int_eq(d4_api_pct_decode("0123456789abcdef", 16, out, sizeof(out), 0), D4_ETOOBIG);
	ck_assert_int_eq(d4_api_pct_decode("0123456789abcde", 15, out, sizeof(out), 0), D4_OK);
}
END_TEST

START_TEST(test_query_parse)
{
	struct d4_api_req req;
	char scratch[128];
	memset(&req, 0, sizeof(req));
	const char *qs = "limit=10&status=pending&&flag&x=a%20b+c&empty=";
	ck_assert_int_eq(d4_api_query_parse(qs, strlen(qs), scratch, sizeof(scratch), &req), D4_OK);
	ck_assert_uint_eq(req.nquery, 5);
	ck_assert_str_eq(d4_api_query(&req, "limit"), "10");
	ck_assert_str_eq(d4_api_query(&req, "status"), "pending");
	ck_assert_str_eq(d4_api_query(&req, "flag"), "");
	ck_assert_str_eq(d4_api_query(&req, "x"), "a b c");
	ck_assert_str_eq(d4_api_query(&req, "empty"), "");
	ck_assert_ptr_null(d4_api_query(&req, "nope"));

	ck_assert_int_eq(d4_api_query_parse("a=%zz", 5, scratch, sizeof(scratch), &req), D4_EINVAL);
	ck_assert_int_eq(d4_api_query_parse("a%00=1", 6, scratch, sizeof(scratch), &req), D4_EINVAL);
	char many[256] = "";
	for (int i = 0; i <= D4_API_MAX_QUERY; i++)
		strcat(many, "a=1&");
	ck_assert_int_eq(d4_api_query_parse(many, strlen(many), scratch, sizeof(scratch), &req), D4_ETOOBIG);
	char small[8];
	ck_assert_int_eq(d4_api_query_parse("abcdef=ghijk", 12, small, sizeof(small), &req), D4_ETOOBIG);
}
END_TEST

START_TEST(test_json_precheck)
{
	char buf[200];
	const uint8_t *b = (const uint8_t *)buf;
	strcpy(buf, "{\"a\":[1,2,{\"b\":null}]}");
	ck_assert_int_eq(d4_api_json_precheck(b, strlen(buf), 100, 32), D4_OK);
	ck_assert_int_eq(d4_api_json_precheck(b, strlen(buf), 10, 32), D4_ETOOBIG);
	ck_assert_int_eq(d4_api_json_precheck(b, strlen(buf), 100, 2), D4_EJSON);
	ck_assert_int_eq(d4_api_json_precheck(b, strlen(buf), 100, 3), D4_OK);
	/* brackets inside strings, with escaped quotes and backslashes */
	strcpy(buf, "{\"k\":\"[[[[\\\"[[[\\\\\",\"z\":\"{{{{\"}");
	ck_assert_int_eq(d4_api_json_precheck(b, strlen(buf), 100, 1), D4_OK);
	/* exactly max_depth is fine, one more is not */
	memset(buf, '[', 32);
	memset(buf + 32, ']', 32);
	ck_assert_int_eq(d4_api_json_precheck(b, 64, 100, 32), D4_OK);
	memset(buf, '[', 33);
	memset(buf + 33, ']', 33);
	ck_assert_int_eq(d4_api_json_precheck(b, 66, 100, 32), D4_EJSON);
	/* depth goes down again: many shallow siblings are fine */
	strcpy(buf, "[[1],[2],[3],[4],[5],[6]]");
	ck_assert_int_eq(d4_api_json_precheck(b, strlen(buf), 100, 2), D4_OK);
	ck_assert_int_eq(d4_api_json_precheck((const uint8_t *)"]", 1, 100, 2), D4_EJSON);
	ck_assert_int_eq(d4_api_json_precheck((const uint8_t *)"{\"a\0\":1}", 8, 100, 2), D4_EJSON);
	ck_assert_int_eq(d4_api_json_precheck(NULL, 0, 100, 2), D4_OK);
}
END_TEST

START_TEST(test_problem_and_builders)
{
	struct d4_api_resp r;
	d4_api_resp_init(&r);
	d4_api_problem(&r, 404, "not-found", "Not Found", "no sensor %s", "abc\x01\xff");
	ck_assert_int_eq(d4_api_resp_finish(&r), D4_OK);
	ck_assert_int_eq(r.status, 404);
	ck_assert_str_eq(r.content_type, "application/problem+json");
	char err[128];
	yajl_val v = yajl_tree_parse((const char *)r.body, err, sizeof(err));
	ck_assert_ptr_nonnull(v);
	const char *ptype[] = {"type", NULL}, *pstatus[] = {"status", NULL}, *pdetail[] = {"detail", NULL},
		   *ptitle[] = {"title", NULL};
	ck_assert_str_eq(YAJL_GET_STRING(yajl_tree_get(v, ptype, yajl_t_string)),
			 "https://d4hub.invalid/problems/not-found");
	ck_assert_int_eq(YAJL_GET_INTEGER(yajl_tree_get(v, pstatus, yajl_t_number)), 404);
	ck_assert_str_eq(YAJL_GET_STRING(yajl_tree_get(v, ptitle, yajl_t_string)), "Not Found");
	ck_assert_str_eq(YAJL_GET_STRING(yajl_tree_get(v, pdetail, yajl_t_string)), "no sensor abc??");
	yajl_tree_free(v);

	/* a later response replaces an earlier one */
	yajl_gen g = d4_api_json_begin(&r, 201);
	yajl_gen_map_open(g);
	d4_api_j_kv_u64(g, "big", UINT64_MAX);
	d4_api_j_kv_time(g, "t", 1764090000);
	d4_api_j_kv_time(g, "never", 0);
	d4_api_j_kv_str(g, "s", NULL);
	yajl_gen_map_close(g);
	ck_assert_int_eq(d4_api_header(&r, "Location", "/x"), D4_OK);
	ck_assert_int_eq(d4_api_resp_finish(&r), D4_OK);
	ck_assert_int_eq(r.status, 201);
	ck_assert_str_eq(r.content_type, "application/json");
	ck_assert_str_eq((const char *)r.body,
			 "{\"big\":18446744073709551615,\"t\":\"2025-11-25T17:00:00Z\",\"never\":null,\"s\":null}");
	ck_assert_str_eq(d4_api_resp_header(&r, "location"), "/x");
	d4_api_no_content(&r);
	ck_assert_int_eq(r.status, 204);
	ck_assert_ptr_null(r.body);
	d4_api_resp_free(&r);
}
END_TEST

START_TEST(test_ratelimit)
{
	struct d4_api_ratelimit *rl = d4_api_ratelimit_new(3, 60);
	ck_assert_ptr_nonnull(rl);
	ck_assert_uint_eq(d4_api_ratelimit_check(rl, "127.0.0.2", 1000), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(d4_api_ratelimit_check(rl, "127.0.0.2", 1000 + (uint64_t)i), 0);
		d4_api_ratelimit_fail(rl, "127.0.0.2", 1000 + (uint64_t)i);
	}
	ck_assert_uint_eq(d4_api_ratelimit_check(rl, "127.0.0.2", 1010), 50);
	ck_assert_uint_eq(d4_api_ratelimit_check(rl, "127.0.0.3", 1010), 0); /* per address */
	ck_assert_uint_eq(d4_api_ratelimit_check(rl, "127.0.0.2", 1059), 1);
	ck_assert_uint_eq(d4_api_ratelimit_check(rl, "127.0.0.2", 1060), 0); /* window over */
	d4_api_ratelimit_fail(rl, "127.0.0.2", 1060);
	ck_assert_uint_eq(d4_api_ratelimit_check(rl, "127.0.0.2", 1061), 0); /* new window, count 1 */
	/* a flood of distinct addresses neither crashes nor grows memory */
	char a[32];
	for (int i = 0; i < 20000; i++) {
		snprintf(a, sizeof(a), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		d4_api_ratelimit_fail(rl, a, 2000);
	}
	d4_api_ratelimit_free(rl);
}
END_TEST

START_TEST(test_auth_token_parse)
{
	size_t n = 0;
	const char *t = d4_api_auth_token("Bearer d4h_abc", &n);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(n, 7);
	ck_assert_int_eq(strncmp(t, "d4h_abc", n), 0);
	t = d4_api_auth_token("  bearer   d4h_x  ", &n);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(n, 5);
	t = d4_api_auth_token("d4h_raw", &n);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(n, 7);
	ck_assert_ptr_null(d4_api_auth_token("", &n));
	ck_assert_ptr_null(d4_api_auth_token("Bearer ", &n));
	ck_assert_ptr_null(d4_api_auth_token("Bearer a b", &n));
	ck_assert_ptr_null(d4_api_auth_token(NULL, &n));
	enum d4_role r;
	ck_assert_int_eq(d4_api_role_parse("user", &r), D4_OK);
	ck_assert_int_eq(r, D4_ROLE_USER);
	ck_assert_int_eq(d4_api_role_parse("root", &r), D4_EINVAL);
	ck_assert_str_eq(d4_api_role_name(D4_ROLE_SENSOR_REGISTER), "sensor_register");
}
END_TEST

/* "Basic " + standard base64 of plain, into out. */
static void basic_of(const char *plain, char *out, size_t size)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t pl = strlen(plain), e = 6;
	ck_assert_uint_lt(6 + (pl + 2) / 3 * 4, size);
	memcpy(out, "Basic ", 6);
	for (size_t i = 0; i < pl; i += 3) {
		uint32_t w = (uint32_t)(uint8_t)plain[i] << 16 |
			     (i + 1 < pl ? (uint32_t)(uint8_t)plain[i + 1] << 8 : 0) |
			     (i + 2 < pl ? (uint32_t)(uint8_t)plain[i + 2] : 0);
		out[e++] = al[w >> 18 & 63];
		out[e++] = al[w >> 12 & 63];
		out[e++] = i + 1 < pl ? al[w >> 6 & 63] : '=';
		out[e++] = i + 2 < pl ? al[w & 63] : '=';
	}
	out[e] = '\0';
}

static int cparse(const char *v, struct d4_api_cred *c)
{
	return d4_api_auth_parse((const uint8_t *)v, strlen(v), c);
}

START_TEST(test_auth_basic_parse)
{
	struct d4_api_cred c;
	/* user + token as password; the user-id is kept as sent */
	ck_assert_int_eq(cparse("Basic Y2lyY2w6dG9rLXVzZXI=", &c), D4_OK);
	ck_assert_int_eq(c.scheme, D4_API_CRED_BASIC);
	ck_assert_str_eq(c.user, "circl");
	ck_assert_str_eq(c.token, "tok-user");
	ck_assert_uint_eq(c.token_len, 8);
	/* token alone as the password, any case and blanks around */
	ck_assert_int_eq(cparse(" \tbasic \t OnRvay1hZG1pbg==  ", &c), D4_OK);
	ck_assert_str_eq(c.user, "");
	ck_assert_str_eq(c.token, "tok-admin");
	/* the wipe leaves nothing of the secret */
	d4_api_auth_cred_wipe(&c);
	for (size_t i = 0; i < sizeof(c.token); i++)
		ck_assert_int_eq(c.token[i], 0);
	/* Bearer and the bare token go the same way */
	ck_assert_int_eq(cparse("Bearer  d4h_abc ", &c), D4_OK);
	ck_assert_int_eq(c.scheme, D4_API_CRED_BEARER);
	ck_assert_str_eq(c.token, "d4h_abc");
	ck_assert_int_eq(cparse("d4h_raw", &c), D4_OK);
	ck_assert_int_eq(c.scheme, D4_API_CRED_RAW);
	ck_assert_str_eq(c.token, "d4h_raw");

	/* every malformed Basic form, and what scheme it was taken for */
	static const char *bad[] = {
	    "Basic",			   /* no credentials */
	    "Basic   ",			   /* blanks only */
	    "Basic YWJj",		   /* "abc": no colon */
	    "Basic Og==",		   /* ":": empty password */
	    "Basic dTo=",		   /* "u:": empty password */
	    "Basic YWJ",		   /* length not a multiple of 4 */
	    "Basic Y2lyY2w6dG9rLXVzZXI",   /* padding missing */
	    "Basic YQ==YWJj",		   /* padding inside */
	    "Basic ====",		   /* padding only */
	    "Basic YR==",		   /* unused bits set: not canonical */
	    "Basic Y2lyY2w6dG9rLXVzZXI=x", /* trailing garbage */
	    "Basic Y2ly Y2w6dG9rLXVzZXI=", /* two tokens */
	    "Basic Y2lyY2w6dG9r-XVzZXI=",  /* base64url is not base64 */
	    "Basic !!!!",		   /* not base64 at all */
	    "Basic YQE6dG9rLXVzZXI=",	   /* control byte in the user-id */
	    "Basic dTp0b2sgZW4=",	   /* space in the password */
	    "Basic dTp0b2vDqQ==",	   /* non-ASCII password */
	    "Basic dTp0b2sAeA==",	   /* NUL in the password */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(cparse(bad[i], &c) == D4_EINVAL, "accepted: %s", bad[i]);
		ck_assert_msg(c.scheme == D4_API_CRED_BASIC, "scheme of %s", bad[i]);
	}
	/* a NUL byte inside the header value itself */
	static const char nul[] = "Basic Y2ly\0Y2w6dG9rLXVzZXI=";
	ck_assert_int_eq(d4_api_auth_parse((const uint8_t *)nul, sizeof(nul) - 1, &c), D4_EINVAL);
	/* "Basic" glued to its argument is no scheme: a bare token attempt */
	ck_assert_int_eq(cparse("BasicYWJj", &c), D4_OK);
	ck_assert_int_eq(c.scheme, D4_API_CRED_RAW);
	ck_assert_int_eq(cparse("Bearer", &c), D4_EINVAL);
	ck_assert_int_eq(c.scheme, D4_API_CRED_BEARER);
	ck_assert_int_eq(cparse("Bearer a b", &c), D4_EINVAL);
	ck_assert_int_eq(cparse("", &c), D4_EINVAL);
	ck_assert_int_eq(d4_api_auth_parse(NULL, 0, &c), D4_EINVAL);

	/* over-long: token68, user-id, password, whole value */
	char big[2048];
	strcpy(big, "Basic ");
	memset(big + 6, 'A', 516);
	big[6 + 516] = '\0';
	ck_assert_int_eq(cparse(big, &c), D4_ETOOBIG);
	ck_assert_int_eq(c.scheme, D4_API_CRED_BASIC);
	/* user-ids of 255 bytes are taken, 256 are over-long */
	char plain[300];
	memset(plain, 'a', 255);
	memcpy(plain + 255, ":tok-user", 10);
	basic_of(plain, big, sizeof(big));
	ck_assert_int_eq(cparse(big, &c), D4_OK);
	ck_assert_uint_eq(strlen(c.user), 255);
	memset(plain, 'a', 256);
	memcpy(plain + 256, ":tok-user", 10);
	basic_of(plain, big, sizeof(big));
	ck_assert_int_eq(cparse(big, &c), D4_ETOOBIG);
	/* a password (token) over 127 bytes */
	memset(big, 0, sizeof(big));
	strcpy(big, "Bearer ");
	memset(big + 7, 't', 128);
	ck_assert_int_eq(cparse(big, &c), D4_ETOOBIG);
	memset(big, ' ', 1100);
	big[1100] = '\0';
	ck_assert_int_eq(cparse(big, &c), D4_ETOOBIG);
	d4_api_auth_cred_wipe(&c);
}
END_TEST

/* ---- dispatcher ----------------------------------------------------------- */
static int fake_verify(struct d4_api_ctx *ctx, const char *token, char *user, size_t usersize, enum d4_role *role)
{
	(void)ctx;
	if (!strcmp(token, "tok-admin"))
		*role = D4_ROLE_ADMIN;
	else if (!strcmp(token, "tok-user"))
		*role = D4_ROLE_USER;
	else if (!strcmp(token, "tok-reg"))
		*role = D4_ROLE_SENSOR_REGISTER;
	else if (!strcmp(token, "tok-storefail"))
		return D4_ESTORE;
	else
		return D4_ENOTFOUND;
	snprintf(user, usersize, "%s", token + 4);
	return D4_OK;
}

static struct d4_api_ctx dctx;
static struct d4_api_core core;
static struct d4_api_resp resp;
static yajl_val last;

static void core_setup(void)
{
	d4_log_init("test_api", 0, D4_LOG_ERR);
	memset(&core, 0, sizeof(core));
	memset(&dctx, 0, sizeof(dctx));
	dctx.core = &core;
	core.routes = routes;
	core.nroutes = NR;
	core.ctx = &dctx;
	core.max_body = 1000;
	core.verify = fake_verify;
	core.rl = d4_api_ratelimit_new(5, 60);
	ck_assert_ptr_nonnull(core.rl);
	d4_api_resp_init(&resp);
	last = NULL;
}

static void core_teardown(void)
{
	d4_api_resp_free(&resp);
	d4_api_ratelimit_free(core.rl);
	if (last)
		yajl_tree_free(last);
}

/* Runs a request; returns the status; the JSON body (if any) in last. */
static int run(const char *method, const char *target, const char *auth, const char *ctype, const char *body,
	       size_t body_len)
{
	struct d4_api_raw raw = {
	    method, target, (const uint8_t *)body, body_len, ctype ? ctype : "", auth, "192.0.2.7", 0, NULL, NULL,
	    NULL,   NULL};
	d4_api_resp_free(&resp);
	d4_api_resp_init(&resp);
	if (last)
		yajl_tree_free(last);
	last = NULL;
	d4_api_dispatch(&core, &raw, &resp);
	ck_assert_int_ne(resp.status, 0);
	if (resp.content_type && strstr(resp.content_type, "json")) {
		char err[128];
		last = yajl_tree_parse((const char *)resp.body, err, sizeof(err));
		ck_assert_msg(last != NULL, "response is not JSON: %s", resp.body);
	}
	return resp.status;
}

static const char *jstr(const char *key)
{
	const char *p[] = {key, NULL};
	yajl_val v = last ? yajl_tree_get(last, p, yajl_t_string) : NULL;
	return v ? YAJL_GET_STRING(v) : NULL;
}

static void expect_problem(int status, const char *slug)
{
	char want[128];
	ck_assert_int_eq(resp.status, status);
	ck_assert_str_eq(resp.content_type, "application/problem+json");
	snprintf(want, sizeof(want), "https://d4hub.invalid/problems/%s", slug);
	ck_assert_str_eq(jstr("type"), want);
}

START_TEST(test_dispatch_routing)
{
	ck_assert_int_eq(run("GET", "/health?q=a%2Fb", NULL, NULL, NULL, 0), 200);
	ck_assert_str_eq(jstr("q"), "a/b");
	ck_assert_str_eq(jstr("path"), "/health");
	ck_assert_int_eq(run("GET", "/nowhere", NULL, NULL, NULL, 0), 404);
	expect_problem(404, "not-found");
	ck_assert_int_eq(run("POST", "/health", NULL, NULL, NULL, 0), 405);
	expect_problem(405, "method-not-allowed");
	ck_assert_str_eq(d4_api_resp_header(&resp, "Allow"), "GET");
	ck_assert_int_eq(run("GET", "/health?q=%zz", NULL, NULL, NULL, 0), 400);
	expect_problem(400, "invalid-parameter");
	ck_assert_int_eq(run("GET", "/he%zzalth", NULL, NULL, NULL, 0), 400);
	expect_problem(400, "bad-request");
	/* the handler set nothing: 500, never an empty answer */
	ck_assert_int_eq(run("GET", "/silent", NULL, NULL, NULL, 0), 500);
	expect_problem(500, "internal");
	ck_assert_int_eq(run("GET", "/created", NULL, NULL, NULL, 0), 201);
	ck_assert_str_eq(d4_api_resp_header(&resp, "Location"), "/x/1");
	ck_assert_uint_eq(resp.body_len, 4);
	char longp[3000];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = 0;
	ck_assert_int_eq(run("GET", longp, NULL, NULL, NULL, 0), 414);
	expect_problem(414, "uri-too-long");
	/* metrics count every answer */
	ck_assert_uint_eq(core.metrics.by_status[404], 1);
	ck_assert_uint_eq(core.metrics.by_status[414], 1);
	ck_assert_uint_eq(core.metrics.by_status[500], 1);
	ck_assert_uint_eq(core.metrics.lat_count, 8);
}
END_TEST

START_TEST(test_dispatch_auth)
{
	ck_assert_int_eq(run("GET", "/api/v1/sensors", NULL, NULL, NULL, 0), 401);
	expect_problem(401, "unauthorized");
	ck_assert_str_eq(d4_api_resp_header(&resp, "WWW-Authenticate"), "Bearer realm=\"d4hub\"");
	ck_assert_int_eq(run("GET", "/api/v1/sensors", "Bearer tok-user", NULL, NULL, 0), 200);
	ck_assert_str_eq(jstr("user"), "user");
	ck_assert_int_eq(run("GET", "/api/v1/sensors", "tok-admin", NULL, NULL, 0), 200); /* raw token */
	ck_assert_int_eq(run("GET", "/api/v1/sensors", "Bearer tok-reg", NULL, NULL, 0), 403);
	expect_problem(403, "forbidden");
	ck_assert_int_eq(run("GET", "/me", "Bearer tok-reg", NULL, NULL, 0), 200);
	ck_assert_int_eq(run("DELETE", "/api/v1/sensors/x", "Bearer tok-user", NULL, NULL, 0), 403);
	ck_assert_int_eq(run("GET", "/api/v1/sensors", "Bearer tok-storefail", NULL, NULL, 0), 500);
	/* unauthenticated 405 and 404 do not need a token */
	ck_assert_int_eq(run("PUT", "/api/v1/sensors", NULL, NULL, NULL, 0), 405);
	ck_assert_str_eq(d4_api_resp_header(&resp, "Allow"), "GET, POST");

	/* 5 bad tokens are 401, then 429 with Retry-After, even for a good token */
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(run("GET", "/api/v1/sensors", "Bearer nope", NULL, NULL, 0), 401);
		ck_assert_str_eq(d4_api_resp_header(&resp, "WWW-Authenticate"),
				 "Bearer realm=\"d4hub\", error=\"invalid_token\"");
	}
	ck_assert_int_eq(run("GET", "/api/v1/sensors", "Bearer nope", NULL, NULL, 0), 429);
	expect_problem(429, "too-many-requests");
	const char *ra = d4_api_resp_header(&resp, "Retry-After");
	ck_assert_ptr_nonnull(ra);
	ck_assert_int_ge(atoi(ra), 1);
	ck_assert_int_le(atoi(ra), 60);
	ck_assert_int_eq(run("GET", "/api/v1/sensors", "Bearer tok-user", NULL, NULL, 0), 429);
	/* anonymous routes stay open */
	ck_assert_int_eq(run("GET", "/health", NULL, NULL, NULL, 0), 200);
	ck_assert_uint_eq(core.metrics.by_status[429], 2);
}
END_TEST

/* The n-th value of header name in resp, or NULL. */
static const char *nth_header(const char *name, unsigned n)
{
	for (unsigned i = 0; i < resp.nhdr; i++)
		if (strcasecmp(resp.hdr_name[i], name) == 0 && n-- == 0)
			return resp.hdr_value[i];
	return NULL;
}

START_TEST(test_dispatch_basic)
{
	/* no credentials: both schemes offered */
	ck_assert_int_eq(run("GET", "/api/v1/sensors", NULL, NULL, NULL, 0), 401);
	ck_assert_str_eq(nth_header("WWW-Authenticate", 0), "Bearer realm=\"d4hub\"");
	ck_assert_str_eq(nth_header("WWW-Authenticate", 1), "Basic realm=\"d4hub\", charset=\"UTF-8\"");
	/* user + token, token alone: the user-id names nobody, the token does */
	ck_assert_int_eq(run("GET", "/api/v1/sensors", "Basic Y2lyY2w6dG9rLXVzZXI=", NULL, NULL, 0), 200);
	ck_assert_str_eq(jstr("user"), "user");
	ck_assert_int_eq(run("GET", "/api/v1/sensors", "Basic OnRvay1hZG1pbg==", NULL, NULL, 0), 200);
	ck_assert_str_eq(jstr("user"), "admin");
	/* roles apply as for Bearer */
	ck_assert_int_eq(run("GET", "/api/v1/sensors", "Basic Y2lyY2w6dG9rLXJlZw==", NULL, NULL, 0), 403);
	ck_assert_int_eq(run("GET", "/api/v1/sensors", "Basic dTp0b2stc3RvcmVmYWls", NULL, NULL, 0), 500);
	/* a bad Bearer token offers Bearer only (a browser would prompt on Basic) */
	ck_assert_int_eq(run("GET", "/api/v1/sensors", "Bearer nope", NULL, NULL, 0), 401);
	ck_assert_ptr_null(nth_header("WWW-Authenticate", 1));
	/* wrong password, and malformed forms: the same 401, both schemes,
	 * each counted; with the Bearer failure above that is 5: then 429 */
	static const char *bad[] = {"Basic Y2lyY2w6bm9wZQ==", "Basic YWJj", "Basic !!!!", "Basic"};
	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(run("GET", "/api/v1/sensors", bad[i], NULL, NULL, 0), 401);
		expect_problem(401, "unauthorized");
		ck_assert_str_eq(jstr("detail"), "the token is not valid");
		ck_assert_str_eq(nth_header("WWW-Authenticate", 0), "Bearer realm=\"d4hub\", error=\"invalid_token\"");
		ck_assert_str_eq(nth_header("WWW-Authenticate", 1), "Basic realm=\"d4hub\", charset=\"UTF-8\"");
	}
	ck_assert_int_eq(run("GET", "/api/v1/sensors", "Basic Y2lyY2w6dG9rLXVzZXI=", NULL, NULL, 0), 429);
	ck_assert_ptr_nonnull(d4_api_resp_header(&resp, "Retry-After"));
}
END_TEST

START_TEST(test_dispatch_body)
{
	const char *ok = "{\"uuid\":\"x\"}";
	ck_assert_int_eq(run("POST", "/anon/json", NULL, "application/json", ok, strlen(ok)), 200);
	const char *ph[] = {"has_json", NULL};
	ck_assert(YAJL_IS_TRUE(yajl_tree_get(last, ph, yajl_t_any)));
	ck_assert_int_eq(run("POST", "/anon/json", NULL, "Application/JSON; charset=utf-8", ok, strlen(ok)), 200);
	ck_assert_int_eq(run("POST", "/anon/json", NULL, "text/plain", ok, strlen(ok)), 415);
	expect_problem(415, "unsupported-media-type");
	ck_assert_int_eq(run("POST", "/anon/json", NULL, "", ok, strlen(ok)), 415);
	ck_assert_int_eq(run("POST", "/anon/json", NULL, "application/jsonx", ok, strlen(ok)), 415);
	ck_assert_int_eq(run("POST", "/anon/json", NULL, "application/json", "{\"a\":", 5), 400);
	expect_problem(400, "bad-request");
	char big[1001];
	memset(big, ' ', sizeof(big));
	ck_assert_int_eq(run("POST", "/anon/json", NULL, "application/json", big, sizeof(big)), 413);
	expect_problem(413, "payload-too-large");
	/* deep nesting never reaches yajl */
	char deep[900];
	memset(deep, '[', 450);
	memset(deep + 450, ']', 450);
	ck_assert_int_eq(run("POST", "/anon/json", NULL, "application/json", deep, sizeof(deep)), 400);
	expect_problem(400, "bad-request");
	/* empty body on a JSON route: the handler decides (no json) */
	ck_assert_int_eq(run("POST", "/anon/json", NULL, NULL, NULL, 0), 200);
	ck_assert(YAJL_IS_FALSE(yajl_tree_get(last, ph, yajl_t_any)));
	/* auth before body rules: no token, big body -> 401 */
	ck_assert_int_eq(run("POST", "/api/v1/sensors", NULL, "application/json", big, sizeof(big)), 401);
	ck_assert_int_eq(run("POST", "/api/v1/sensors", "Bearer tok-admin", "text/plain", ok, strlen(ok)), 415);
}
END_TEST

/* What the server's guard relies on: the checks without a body, the
 * answers to bodies it stopped reading, and the counters. */
START_TEST(test_dispatch_limits)
{
	struct d4_api_limits_conf lc = {0};
	core.limits = d4_api_limits_new(&lc);
	ck_assert_ptr_nonnull(core.limits);
	uint64_t lim = 0;
	struct d4_api_raw raw = {"POST", "/api/v1/sensors", NULL, 0, "", NULL, "192.0.2.9", 0, NULL, NULL, NULL, NULL};
	/* no token, bad token, low role, unknown path, wrong method: decided
	 * without the body */
	ck_assert_int_eq(d4_api_precheck(&core, &raw, &lim), 1);
	ck_assert_uint_eq(lim, 1000);
	raw.authorization = "Bearer nope";
	ck_assert_int_eq(d4_api_precheck(&core, &raw, &lim), 1);
	raw.authorization = "Bearer tok-user";
	ck_assert_int_eq(d4_api_precheck(&core, &raw, &lim), 1);
	raw.authorization = "Bearer tok-admin";
	ck_assert_int_eq(d4_api_precheck(&core, &raw, &lim), 0);
	raw.target = "/nowhere";
	ck_assert_int_eq(d4_api_precheck(&core, &raw, &lim), 1);
	raw.target = "/health";
	ck_assert_int_eq(d4_api_precheck(&core, &raw, &lim), 1);
	raw.target = "/anon/json";
	ck_assert_int_eq(d4_api_precheck(&core, &raw, &lim), 0);
	/* the dry run counted no failure: 5 more bad tokens still get 401 */
	for (int i = 0; i < 20; i++) {
		raw.target = "/api/v1/sensors";
		raw.authorization = "Bearer nope";
		ck_assert_int_eq(d4_api_precheck(&core, &raw, &lim), 1);
	}
	ck_assert_int_eq(run("GET", "/api/v1/sensors", "Bearer nope", NULL, NULL, 0), 401);
	ck_assert_uint_eq(d4_api_limits_hits(core.limits, D4_LIM_AUTH_FAIL), 0);

	/* bodies the server stopped reading: never handed to a handler */
	const char *part = "{\"uuid\":\"x\"}";
	struct {
		int why, status;
		const char *slug;
	} cases[] = {{D4_LIM_BODY_SIZE, 413, "payload-too-large"},
		     {D4_LIM_INFLIGHT_ADDR, 429, "too-many-requests"},
		     {D4_LIM_INFLIGHT_TOTAL, 503, "busy"},
		     {D4_LIM_EARLY_REFUSAL, 503, "busy"}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct d4_api_raw r = {"POST", "/anon/json", (const uint8_t *)part, strlen(part), "application/json",
				       NULL,   "192.0.2.9",  cases[i].why,	    NULL,	  NULL,
				       NULL,   NULL};
		d4_api_resp_free(&resp);
		d4_api_resp_init(&resp);
		d4_api_dispatch(&core, &r, &resp);
		ck_assert_int_eq(resp.status, cases[i].status);
		ck_assert_str_eq(resp.content_type, "application/problem+json");
		ck_assert_ptr_nonnull(strstr((const char *)resp.body, cases[i].slug));
		if (cases[i].status != 413)
			ck_assert_str_eq(d4_api_resp_header(&resp, "Retry-After"), "1");
	}
	/* a refused request whose route check fails gets that answer */
	struct d4_api_raw r2 = {"POST",	     "/api/v1/sensors",	   NULL, 0,    "",   NULL,
				"192.0.2.9", D4_LIM_EARLY_REFUSAL, NULL, NULL, NULL, NULL};
	d4_api_resp_free(&resp);
	d4_api_resp_init(&resp);
	d4_api_dispatch(&core, &r2, &resp);
	ck_assert_int_eq(resp.status, 401);
	ck_assert_uint_eq(d4_api_limits_hits(core.limits, D4_LIM_BODY_SIZE), 1);

	/* comments are not JSON (yajl_tree_parse would take them) */
	const char *cm[] = {"{\"a\":1 /* c */}", "{\"a\":1} // c", "/**/{}", "{\"a\":\"/* in a string */\"}"};
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(run("POST", "/anon/json", NULL, "application/json", cm[i], strlen(cm[i])), 400);
		expect_problem(400, "bad-request");
	}
	ck_assert_int_eq(run("POST", "/anon/json", NULL, "application/json", cm[3], strlen(cm[3])), 200);

	/* 414: path over 2047 bytes, or target over D4_API_MAX_TARGET */
	char *t = malloc(D4_API_MAX_TARGET + 2);
	ck_assert_ptr_nonnull(t);
	memset(t, 'a', D4_API_MAX_TARGET + 1);
	memcpy(t, "/health?q=", 10);
	t[D4_API_MAX_TARGET + 1] = 0;
	ck_assert_int_eq(run("GET", t, NULL, NULL, NULL, 0), 414);
	expect_problem(414, "uri-too-long");
	t[D4_API_MAX_TARGET] = 0; /* exactly the limit: too many query bytes for the parser, but not 414 */
	ck_assert_int_ne(run("GET", t, NULL, NULL, NULL, 0), 414);
	free(t);
	ck_assert_uint_eq(d4_api_limits_hits(core.limits, D4_LIM_URI_TOO_LONG), 1);

	/* failed-auth 429s are counted (one failure above, four here: five) */
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(run("GET", "/api/v1/sensors", "Bearer nope", NULL, NULL, 0), 401);
	ck_assert_int_eq(run("GET", "/api/v1/sensors", "Bearer nope", NULL, NULL, 0), 429);
	ck_assert_uint_eq(d4_api_limits_hits(core.limits, D4_LIM_AUTH_FAIL), 1);
	d4_api_limits_free(core.limits);
	core.limits = NULL;
}
END_TEST

/* ---- system handlers over a real store ------------------------------------ */
static char tmpdir[128], storedir[160], specpath[160];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

START_TEST(test_system_handlers)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/d4api-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(storedir, sizeof(storedir), "%s/store", tmpdir);
	snprintf(specpath, sizeof(specpath), "%s/spec.yaml", tmpdir);
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = storedir;
	o.map_size = 64u << 20;
	o.no_sync = 1;
	struct d4_store *st = NULL;
	ck_assert_int_eq(d4_store_open(&o, &st), D4_OK);
	struct d4_sensor sn;
	memset(&sn, 0, sizeof(sn));
	ck_assert_int_eq(d4_uuid_gen_v4(sn.uuid), D4_OK);
	sn.status = D4_SENSOR_PENDING;
	ck_assert_int_eq(d4_store_sensor_put(st, &sn), D4_OK);

	static const struct d4_api_route sys[] = {
	    {"GET", "/health", D4_ROLE_NONE, D4_BODY_NONE, d4_api_h_health, "getHealth"},
	    {"GET", "/openapi.yaml", D4_ROLE_NONE, D4_BODY_NONE, d4_api_h_openapi, "getOpenapi"},
	    {"GET", "/metrics", D4_ROLE_USER, D4_BODY_NONE, d4_api_h_metrics, "getMetrics"},
	    {"GET", "/api/v1/me", D4_ROLE_SENSOR_REGISTER, D4_BODY_NONE, d4_api_h_me, "getMe"},
	};
	core.routes = sys;
	core.nroutes = 4;
	dctx.store = st;
	core.spec_path = specpath;
	core.metrics.started_s = d4_now_s() - 5;

	ck_assert_int_eq(run("GET", "/health", NULL, NULL, NULL, 0), 200);
	ck_assert_str_eq(jstr("status"), "ok");
	ck_assert_str_eq(jstr("version"), D4HUB_VERSION);
	const char *pu[] = {"uptime_s", NULL}, *pp[] = {"store", "paused", NULL}, *pm[] = {"store", "map_size", NULL};
	ck_assert_int_ge(YAJL_GET_INTEGER(yajl_tree_get(last, pu, yajl_t_number)), 5);
	ck_assert(YAJL_IS_FALSE(yajl_tree_get(last, pp, yajl_t_any)));
	ck_assert_int_ge(YAJL_GET_INTEGER(yajl_tree_get(last, pm, yajl_t_number)), 1 << 20);

	/* spec missing -> 404 problem; present -> its bytes */
	ck_assert_int_eq(run("GET", "/openapi.yaml", NULL, NULL, NULL, 0), 404);
	expect_problem(404, "not-found");
	FILE *f = fopen(specpath, "w");
	ck_assert_ptr_nonnull(f);
	fputs("openapi: 3.1.0\ninfo: {title: t, version: '1'}\n", f);
	fclose(f);
	ck_assert_int_eq(run("GET", "/openapi.yaml", NULL, NULL, NULL, 0), 200);
	ck_assert_str_eq(resp.content_type, "application/yaml");
	ck_assert_str_eq((const char *)resp.body, "openapi: 3.1.0\ninfo: {title: t, version: '1'}\n");

	ck_assert_int_eq(run("GET", "/metrics", "Bearer tok-user", NULL, NULL, 0), 200);
	ck_assert_str_eq(resp.content_type, "text/plain; version=0.0.4");
	const char *m = (const char *)resp.body;
	ck_assert_ptr_nonnull(strstr(m, "\nd4hub_frames_total 0\n"));
	ck_assert_ptr_nonnull(strstr(m, "d4hub_sensors{status=\"pending\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(m, "d4hub_sensors{status=\"approved\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(m, "d4hub_rejections_total{reason=\"hmac-mismatch\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(m, "d4hub_api_requests_total{code=\"200\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(m, "d4hub_api_requests_total{code=\"404\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(m, "d4hub_api_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(m, "d4hub_api_request_duration_seconds_count 3\n"));
	ck_assert_ptr_nonnull(strstr(m, "d4hub_store_paused 0\n"));

	ck_assert_int_eq(run("GET", "/api/v1/me", "Bearer tok-reg", NULL, NULL, 0), 200);
	ck_assert_str_eq(jstr("user"), "reg");
	ck_assert_str_eq(jstr("role"), "sensor_register");

	/* no api.spec: the description built in (openapi/d4hub.yaml) */
	core.spec_path = "";
	ck_assert_int_eq(run("GET", "/openapi.yaml", NULL, NULL, NULL, 0), 200);
	ck_assert_str_eq(resp.content_type, "application/yaml");
	ck_assert_int_eq(strncmp((const char *)resp.body, "openapi: 3.", 11), 0);
	ck_assert_ptr_nonnull(strstr((const char *)resp.body, "/openapi.yaml"));

	d4_store_close(st);
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}
END_TEST

static Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("pure");
	tcase_add_test(tc, test_route_exact_and_params);
	tcase_add_test(tc, test_route_404_405);
	tcase_add_test(tc, test_pct_decode);
	tcase_add_test(tc, test_query_parse);
	tcase_add_test(tc, test_json_precheck);
	tcase_add_test(tc, test_problem_and_builders);
	tcase_add_test(tc, test_ratelimit);
	tcase_add_test(tc, test_auth_token_parse);
	tcase_add_test(tc, test_auth_basic_parse);
	suite_add_tcase(s, tc);
	tc = tcase_create("dispatch");
	tcase_add_checked_fixture(tc, core_setup, core_teardown);
	tcase_add_test(tc, test_dispatch_routing);
	tcase_add_test(tc, test_dispatch_auth);
	tcase_add_test(tc, test_dispatch_basic);
	tcase_add_test(tc, test_dispatch_body);
	tcase_add_test(tc, test_dispatch_limits);
	tcase_add_test(tc, test_system_handlers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(api_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
