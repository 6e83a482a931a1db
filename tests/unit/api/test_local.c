/* Check suite for in-process requests (api/local.c), d4hubctl's local mode:
 * the route table's operations answer without a socket, as the admin
 * operator with the admin role's TLP clearance; buffered and streamed
 * answers; listSessions (api/h_sessions.c): id order, one sensor, paging
 * that resumes after the cursor, and sessions above the clearance left out
 * and counted once in "withheld". */
#include "api_core.h"
#include "d4_api.h"
#include "d4_error.h"
#include "d4_hubconf.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_store.h"
#include "d4_util.h"

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

static char tmpdir[256], storedir[300];
static struct d4_store *st;
static struct d4_hubconf conf;
static const uint8_t sensor_a[16] = {0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x43, 0x33,
				     0x84, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55};
static const uint8_t sensor_b[16] = {0xaa, 0xaa, 0xaa, 0xaa, 0xbb, 0xbb, 0x4c, 0xcc,
				     0xad, 0xdd, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee};
/* sessions 1..6: sensor a, b, a, b, a, b; 2 and 5 are tlp:red */
#define NSESS 6
static uint64_t sid[NSESS];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void setup(void)
{
	d4_log_init("test_api_local", 0, D4_LOG_ERR);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/d4api-local-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(storedir, sizeof(storedir), "%s/store", tmpdir);
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = storedir;
	o.map_size = 64u << 20;
	ck_assert_int_eq(d4_store_open(&o, &st), D4_OK);
	ck_assert_int_eq(d4_store_writer_start(st), D4_OK);
	uint64_t now = d4_now_s();
	for (int i = 0; i < NSESS; i++) {
		struct d4_session_open so;
		memset(&so, 0, sizeof(so));
		so.session = sid[i] = d4_store_session_id_new(st);
		memcpy(so.uuid, i % 2 ? sensor_b : sensor_a, 16);
		so.type = 1;
		so.when = now;
		ck_assert_int_eq(d4_store_post_session_open(st, &so), D4_OK);
		struct d4_session_meta m;
		memset(&m, 0, sizeof(m));
		m.session = so.session;
		m.tlp = i == 1 || i == 4 ? D4_TLP_RED : D4_TLP_AMBER;
		ck_assert_int_eq(d4_store_post_session_meta(st, &m), D4_OK);
		struct d4_frame_rec fr;
		memset(&fr, 0, sizeof(fr));
		fr.session = so.session;
		memcpy(fr.uuid, so.uuid, 16);
		fr.type = 1;
		fr.version = 1;
		fr.tlp = m.tlp;
		fr.hdr_ts = now;
		fr.recv_ms = now * 1000;
		fr.size = 3;
		ck_assert_int_eq(d4_store_post_frame(st, &fr, (const uint8_t *)"abc"), D4_OK);
		ck_assert_int_eq(d4_store_post_session_close(st, so.session, now, "done"), D4_OK);
	}
	ck_assert_int_eq(d4_store_writer_sync(st, 10000), D4_OK);
	d4_store_writer_stop(st);
	d4_hubconf_defaults(&conf);
}

static void teardown(void)
{
	d4_store_close(st);
	st = NULL;
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

struct answer {
	int status, heads, chunks;
	char ctype[64];
	char *body;
	size_t len;
	int stop_at_head;
};

static int on_head(void *ctx, const struct d4_api_local_head *h)
{
	struct answer *a = ctx;
	a->status = h->status;
	a->heads++;
	snprintf(a->ctype, sizeof(a->ctype), "%s", h->content_type);
	return a->stop_at_head;
}

static int on_body(void *ctx, const uint8_t *data, size_t len)
{
	struct answer *a = ctx;
	char *p = realloc(a->body, a->len + len + 1);
	ck_assert_ptr_nonnull(p);
	memcpy(p + a->len, data, len);
	a->body = p;
	a->len += len;
	a->body[a->len] = '\0';
	a->chunks++;
	return 0;
}

/* One request; the answer's JSON (NULL when there is none) in *v. */
static void request(struct d4_api_local *l, const char *method, const char *target, const char *body, struct answer *a,
		    yajl_val *v)
{
	memset(a, 0, sizeof(*a));
	int rc = d4_api_local_request(l, method, target, (const uint8_t *)body, body ? strlen(body) : 0, on_head,
				      on_body, a);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(a->heads, 1);
	if (v)
		*v = a->body ? yajl_tree_parse(a->body, NULL, 0) : NULL;
}

static yajl_val member(yajl_val o, const char *k)
{
	const char *path[] = {k, NULL};
	return yajl_tree_get(o, path, yajl_t_any);
}

START_TEST(admin_operator)
{
	struct d4_api_local *l;
	struct answer a;
	yajl_val v;
	ck_assert_int_eq(d4_api_local_new(st, &conf, "local operator", &l), D4_OK);
	/* an admin-only operation, without any credential */
	request(l, "GET", "/api/v1/users", NULL, &a, &v);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(a.ctype, "application/json");
	ck_assert_ptr_nonnull(v);
	yajl_tree_free(v);
	free(a.body);
	/* a write with a body, then the change read back */
	request(l, "POST", "/api/v1/users", "{\"name\":\"bob\",\"role\":\"user\"}", &a, NULL);
	ck_assert_int_eq(a.status, 201);
	free(a.body);
	request(l, "POST", "/api/v1/users/bob/tokens", "{\"label\":\"x\"}", &a, &v);
	ck_assert_int_eq(a.status, 201);
	ck_assert(YAJL_IS_STRING(member(v, "token")));
	yajl_tree_free(v);
	free(a.body);
	/* the API's rules hold: the local operator is not a user that could be deleted */
	request(l, "DELETE", "/api/v1/users/bob", NULL, &a, NULL);
	ck_assert_int_eq(a.status, 204);
	ck_assert_int_eq(a.len, 0);
	request(l, "DELETE", "/api/v1/users/bob", NULL, &a, NULL);
	ck_assert_int_eq(a.status, 404);
	ck_assert_str_eq(a.ctype, "application/problem+json");
	free(a.body);
	/* routing, body rules and problems are the dispatcher's */
	request(l, "GET", "/api/v1/nothing-here", NULL, &a, NULL);
	ck_assert_int_eq(a.status, 404);
	free(a.body);
	request(l, "POST", "/api/v1/users", "{\"name\":", &a, NULL);
	ck_assert_int_eq(a.status, 400);
	free(a.body);
	/* the head callback can stop a request */
	memset(&a, 0, sizeof(a));
	a.stop_at_head = 7;
	ck_assert_int_eq(d4_api_local_request(l, "GET", "/api/v1/users", NULL, 0, on_head, on_body, &a), 7);
	ck_assert_int_eq(a.chunks, 0);
	d4_api_local_free(l);
}
END_TEST

START_TEST(streamed_export)
{
	struct d4_api_local *l;
	struct answer a;
	char target[96];
	ck_assert_int_eq(d4_api_local_new(st, &conf, "local operator", &l), D4_OK);
	snprintf(target, sizeof(target), "/api/v1/sessions/%llu/export?format=raw", (unsigned long long)sid[0]);
	request(l, "GET", target, NULL, &a, NULL);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(a.ctype, "application/octet-stream");
	ck_assert_uint_eq(a.len, 3);
	ck_assert_mem_eq(a.body, "abc", 3);
	free(a.body);
	request(l, "GET", "/api/v1/sessions/999999/export?format=raw", NULL, &a, NULL);
	ck_assert_int_eq(a.status, 404);
	free(a.body);
	d4_api_local_free(l);
}
END_TEST

/* Every page of listSessions with limit per page: the ids in order, and
 * the sum of "withheld". */
static unsigned list_all(struct d4_api_local *l, const char *query, unsigned limit, uint64_t *ids, uint64_t *withheld)
{
	char target[256], cursor[64] = "";
	unsigned n = 0;
	*withheld = 0;
	for (int page = 0; page < 20; page++) {
		struct answer a;
		yajl_val v;
		snprintf(target, sizeof(target), "/api/v1/sessions?limit=%u%s%s%s%s", limit, query[0] ? "&" : "", query,
			 cursor[0] ? "&cursor=" : "", cursor);
		request(l, "GET", target, NULL, &a, &v);
		ck_assert_int_eq(a.status, 200);
		yajl_val items = member(v, "items"), next = member(v, "next_cursor");
		ck_assert(YAJL_IS_ARRAY(items));
		ck_assert_uint_le(items->u.array.len, limit);
		for (size_t i = 0; i < items->u.array.len; i++)
			ids[n++] = (uint64_t)YAJL_GET_INTEGER(member(items->u.array.values[i], "id"));
		*withheld += (uint64_t)YAJL_GET_INTEGER(member(v, "withheld"));
		int more = YAJL_IS_STRING(next);
		if (more)
			snprintf(cursor, sizeof(cursor), "%s", YAJL_GET_STRING(next));
		yajl_tree_free(v);
		free(a.body);
		if (!more)
			return n;
	}
	ck_abort_msg("listSessions did not end");
	return n;
}

START_TEST(list_sessions)
{
	struct d4_api_local *l;
	uint64_t ids[NSESS * 2], wh;
	char q[64], hex[D4_UUID_HEX_LEN + 1];
	ck_assert_int_eq(d4_api_local_new(st, &conf, "local operator", &l), D4_OK);
	/* the admin default, tlp:red: every session, oldest first, whatever the page size */
	for (unsigned limit = 1; limit <= NSESS + 1; limit++) {
		ck_assert_uint_eq(list_all(l, "", limit, ids, &wh), NSESS);
		ck_assert_uint_eq(wh, 0);
		for (int i = 0; i < NSESS; i++)
			ck_assert_uint_eq(ids[i], sid[i]);
	}
	d4_uuid_hex(sensor_b, hex);
	snprintf(q, sizeof(q), "sensor=%s", hex);
	ck_assert_uint_eq(list_all(l, q, 1, ids, &wh), NSESS / 2);
	ck_assert_uint_eq(ids[0], sid[1]);
	ck_assert_uint_eq(ids[2], sid[5]);
	/* an unknown sensor: no sessions (a deleted sensor's are listed) */
	ck_assert_uint_eq(list_all(l, "sensor=0123456789ab4def8123456789abcdef", 10, ids, &wh), 0);
	d4_api_local_free(l);

	/* admins limited to tlp:amber: the local operator too; the red
	 * sessions (2 and 5) are left out and counted once over the pages */
	conf.api_max_tlp_admin = D4_TLP_AMBER;
	ck_assert_int_eq(d4_api_local_new(st, &conf, "local operator", &l), D4_OK);
	for (unsigned limit = 1; limit <= NSESS + 1; limit++) {
		ck_assert_uint_eq(list_all(l, "", limit, ids, &wh), NSESS - 2);
		ck_assert_uint_eq(wh, 2);
		ck_assert_uint_eq(ids[0], sid[0]);
		ck_assert_uint_eq(ids[1], sid[2]);
		ck_assert_uint_eq(ids[2], sid[3]);
		ck_assert_uint_eq(ids[3], sid[5]);
	}
	d4_api_local_free(l);
}
END_TEST

START_TEST(list_sessions_refusals)
{
	struct d4_api_local *l;
	struct answer a;
	ck_assert_int_eq(d4_api_local_new(st, &conf, "local operator", &l), D4_OK);
	static const char *const bad[] = {"/api/v1/sessions?sensor=x",		 "/api/v1/sessions?limit=0",
					  "/api/v1/sessions?limit=1001",	 "/api/v1/sessions?cursor=AAAAAAAAAAA",
					  "/api/v1/sessions?cursor=__________8", "/api/v1/sessions?other=1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		request(l, "GET", bad[i], NULL, &a, NULL);
		ck_assert_msg(a.status == 400, "%s: %d", bad[i], a.status);
		free(a.body);
	}
	d4_api_local_free(l);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("api_local");
	TCase *tc = tcase_create("local");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, admin_operator);
	tcase_add_test(tc, streamed_export);
	tcase_add_test(tc, list_sessions);
	tcase_add_test(tc, list_sessions_refusals);
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
