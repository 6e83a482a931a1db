/* Check suite for the fast sensors list (api/json_writer.c and
 * d4_h_list_sensors): the direct writer must produce byte for byte what the
 * yajl serialisers produce (hostile strings, every number and time range),
 * paging must match a reference built from the full records, and the page
 * cache must never serve a page after any store commit (same handle, or
 * another handle on the same store as another process would do). */
#include "api_core.h"
#include "d4_error.h"
#include "d4_log.h"
#include "d4_store.h"
#include "d4_util.h"
#include "handlers.h"
#include "json_writer.h"

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[256], storedir[300];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void setup(void)
{
	d4_log_init("test_api_lists", 0, D4_LOG_ERR);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/d4api-lists-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(storedir, sizeof(storedir), "%s/store", tmpdir);
}

static void teardown(void)
{
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Strings weighted towards what needs care: quotes, backslashes, control
 * bytes, DEL, valid and broken UTF-8 (truncated, overlong, surrogates,
 * above U+10FFFF). */
static void hostile(char *out, size_t field)
{
	static const char *const parts[] = {"a",
					    "Z",
					    " ",
					    "\"",
					    "\\",
					    "/",
					    "\x01",
					    "\x1f",
					    "\x7f",
					    "\t",
					    "\n",
					    "\r",
					    "\b",
					    "\f",
					    "\xc3\xa9",
					    "\xc3",
					    "\xff",
					    "\x80",
					    "\xc0\xaf",
					    "\xe2\x82",
					    "\xe2\x82\xac",
					    "\xed\xa0\x80",
					    "\xf0\x9f\x98\x80",
					    "\xf4\x90\x80\x80",
					    "\xef\xbf\xbd",
					    "<&>"};
	size_t n = rnd() % field, o = 0;
	while (o < n) {
		const char *p = parts[rnd() % (sizeof(parts) / sizeof(parts[0]))];
		size_t l = strlen(p);
		if (o + l >= field)
			break;
		memcpy(out + o, p, l);
		o += l;
	}
	out[o] = '\0';
}

static uint64_t any_u64(void)
{
	switch (rnd() % 6) {
	case 0: return 0;
	case 1: return UINT64_MAX - rnd() % 3;
	case 2: return rnd() % 100;
	case 3: return 1700000000 + rnd() % 400000000;	/* plausible times */
	case 4: return 253402300800ull - 2 + rnd() % 4; /* around year 10000 */
	default: return rnd() >> (rnd() % 64);
	}
}

static void summary_of(const struct d4_sensor *sn, struct d4_sensor_summary *sm)
{
	memset(sm, 0, sizeof(*sm));
	memcpy(sm->uuid, sn->uuid, 16);
	sm->status = sn->status;
	memcpy(sm->description, sn->description, sizeof(sm->description));
	sm->created = sn->created;
	sm->first_seen = sn->first_seen;
	sm->last_seen = sn->last_seen;
	sm->packets = sn->packets;
	sm->bytes = sn->bytes;
	memcpy(sm->last_error, sn->last_error, sizeof(sm->last_error));
	sm->last_error_at = sn->last_error_at;
}

static void random_sensor(struct d4_sensor *sn)
{
	memset(sn, 0, sizeof(*sn));
	for (int i = 0; i < 16; i++)
		sn->uuid[i] = (uint8_t)rnd();
	sn->status = (uint8_t)(rnd() % 3);
	hostile(sn->description, sizeof(sn->description));
	if (rnd() % 3)
		hostile(sn->last_error, sizeof(sn->last_error));
	sn->first_seen = any_u64();
	sn->last_seen = any_u64();
	sn->packets = any_u64();
	sn->bytes = any_u64();
	sn->last_error_at = any_u64();
}

START_TEST(test_writer_equals_yajl)
{
	struct d4_sensor *sn = calloc(1, sizeof(*sn));
	struct d4_sensor_summary sm;
	ck_assert_ptr_nonnull(sn);
	for (int it = 0; it < 20000; it++) {
		random_sensor(sn);
		summary_of(sn, &sm);
		yajl_gen g = d4_h_gen();
		ck_assert_ptr_nonnull(g);
		d4_h_j_sensor_summary(g, NULL, sn);
		const unsigned char *yb;
		size_t yl;
		ck_assert_int_eq(yajl_gen_get_buf(g, &yb, &yl), yajl_gen_status_ok);
		struct d4_jw w;
		d4_jw_init(&w);
		d4_jw_sensor_summary(&w, &sm, NULL);
		ck_assert_int_eq(w.oom, 0);
		ck_assert_msg(w.len == yl && memcmp(w.p, yb, yl) == 0, "iteration %d:\nyajl: %.*s\nfast: %.*s", it,
			      (int)yl, yb, (int)w.len, w.p);
		d4_jw_free(&w);
		yajl_gen_free(g);
	}
	free(sn);
}
END_TEST

START_TEST(test_writer_times_numbers)
{
	/* every day boundary of 1970..2400 and the edges, against strftime */
	for (uint64_t t = 1; t < 13569465600ull; t += 86399) {
		for (int k = 0; k < 2; k++) {
			uint64_t v = t + (uint64_t)k;
			yajl_gen g = d4_h_gen();
			yajl_gen_map_open(g);
			d4_api_j_kv_time(g, "t", v);
			d4_api_j_kv_u64(g, "n", v * 2654435761u);
			yajl_gen_map_close(g);
			const unsigned char *yb;
			size_t yl;
			yajl_gen_get_buf(g, &yb, &yl);
			struct d4_jw w;
			d4_jw_init(&w);
			D4_JW_LIT(&w, "{\"t\":");
			d4_jw_time(&w, v);
			D4_JW_LIT(&w, ",\"n\":");
			d4_jw_u64(&w, v * 2654435761u);
			D4_JW_LIT(&w, "}");
			ck_assert_msg(w.len == yl && memcmp(w.p, yb, yl) == 0, "t=%llu: %.*s vs %.*s",
				      (unsigned long long)v, (int)yl, yb, (int)w.len, w.p);
			d4_jw_free(&w);
			yajl_gen_free(g);
		}
	}
}
END_TEST

/* ---- the handler over a real store ------------------------------------------- */

static struct d4_store *open_at(const char *path)
{
	struct d4_store_opts o;
	struct d4_store *s = NULL;
	memset(&o, 0, sizeof(o));
	o.path = path;
	o.map_size = 64u << 20;
	o.no_sync = 1;
	ck_assert_int_eq(d4_store_open(&o, &s), D4_OK);
	return s;
}

/* Runs listSensors with query pairs (NULL-terminated name, value list). */
static int list(struct d4_store *st, enum d4_role role, struct d4_api_resp *resp, const char *const *q)
{
	struct d4_api_ctx ctx = {st, NULL, NULL, NULL, NULL};
	struct d4_api_req req;
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = "/api/v1/sensors";
	req.role = role;
	for (unsigned i = 0; q && q[2 * i]; i++) {
		req.qname[i] = q[2 * i];
		req.qvalue[i] = q[2 * i + 1];
		req.nquery++;
	}
	d4_api_resp_init(resp);
	d4_h_list_sensors(&ctx, &req, resp);
	return resp->status;
}

/* The reference page: full records, filter and cursor applied by hand, yajl. */
struct ref_ctx {
	yajl_gen g;
	int status;
	const uint8_t *after;
	unsigned limit, n;
	int more;
	uint8_t last[16];
};
static int ref_cb(void *arg, const struct d4_sensor *sn)
{
	struct ref_ctx *r = arg;
	if (r->after && memcmp(sn->uuid, r->after, 16) <= 0)
		return 0;
	if (r->status >= 0 && sn->status != r->status)
		return 0;
	if (r->n == r->limit) {
		r->more = 1;
		return 1;
	}
	d4_h_j_sensor_summary(r->g, NULL, sn);
	memcpy(r->last, sn->uuid, 16);
	r->n++;
	return 0;
}
static char *ref_page(struct d4_store *st, int status, const uint8_t *after, unsigned limit, uint8_t last[16],
		      int *more)
{
	struct ref_ctx r = {d4_h_gen(), status, after, limit, 0, 0, {0}};
	yajl_gen_map_open(r.g);
	d4_api_j_key(r.g, "items");
	yajl_gen_array_open(r.g);
	ck_assert_int_eq(d4_store_sensor_foreach(st, ref_cb, &r), 0);
	yajl_gen_array_close(r.g);
	if (r.more) {
		char cur[32];
		d4_h_cursor_encode(r.last, 16, cur, sizeof(cur));
		d4_api_j_kv_str(r.g, "next_cursor", cur);
	} else {
		d4_h_j_null(r.g, "next_cursor");
	}
	yajl_gen_map_close(r.g);
	const unsigned char *b;
	size_t l;
	yajl_gen_get_buf(r.g, &b, &l);
	char *out = strndup((const char *)b, l);
	yajl_gen_free(r.g);
	memcpy(last, r.last, 16);
	*more = r.more;
	return out;
}

START_TEST(test_list_pages)
{
	struct d4_store *st = open_at(storedir);
	struct d4_sensor *sn = calloc(1, sizeof(*sn));
	ck_assert_ptr_nonnull(sn);
	for (int i = 0; i < 60; i++) {
		random_sensor(sn);
		ck_assert_int_eq(d4_store_sensor_put(st, sn), D4_OK);
	}
	static const char *const sts[] = {NULL, "pending", "approved", "blocked"};
	static const unsigned limits[] = {1, 3, 7, 100};
	for (unsigned si = 0; si < 4; si++) {
		for (unsigned li = 0; li < 4; li++) {
			uint8_t after[16], last[16];
			int has_after = 0, more = 1, pages = 0;
			while (more) {
				char lim[16], cur[32];
				snprintf(lim, sizeof(lim), "%u", limits[li]);
				const char *q[8] = {"limit", lim, NULL, NULL, NULL, NULL, NULL, NULL};
				unsigned k = 2;
				if (sts[si]) {
					q[k++] = "status";
					q[k++] = sts[si];
				}
				if (has_after) {
					d4_h_cursor_encode(after, 16, cur, sizeof(cur));
					q[k++] = "cursor";
					q[k++] = cur;
				}
				char *want =
				    ref_page(st, (int)si - 1, has_after ? after : NULL, limits[li], last, &more);
				/* twice: the second answer may come from the cache */
				for (int rep = 0; rep < 2; rep++) {
					struct d4_api_resp resp;
					ck_assert_int_eq(list(st, D4_ROLE_USER, &resp, q), 200);
					ck_assert_str_eq(resp.content_type, "application/json");
					ck_assert_str_eq((const char *)resp.body, want);
					d4_api_resp_free(&resp);
				}
				free(want);
				memcpy(after, last, 16);
				has_after = 1;
				ck_assert_int_lt(++pages, 80);
			}
		}
	}
	free(sn);
	d4_store_close(st);
}
END_TEST

START_TEST(test_list_cache_never_stale)
{
	struct d4_store *st = open_at(storedir);
	struct d4_sensor *sn = calloc(1, sizeof(*sn));
	ck_assert_ptr_nonnull(sn);
	memset(sn, 0, sizeof(*sn));
	ck_assert_int_eq(d4_uuid_gen_v4(sn->uuid), D4_OK);
	d4_strlcpy(sn->description, "one", sizeof(sn->description));
	ck_assert_int_eq(d4_store_sensor_add(st, sn), D4_OK);
	struct d4_api_resp r1, r2;
	ck_assert_int_eq(list(st, D4_ROLE_ADMIN, &r1, NULL), 200);
	ck_assert_ptr_nonnull(strstr((const char *)r1.body, "\"description\":\"one\""));
	d4_api_resp_free(&r1);

	/* a change through the same handle */
	d4_strlcpy(sn->description, "two", sizeof(sn->description));
	ck_assert_int_eq(d4_store_sensor_put(st, sn), D4_OK);
	ck_assert_int_eq(list(st, D4_ROLE_ADMIN, &r1, NULL), 200);
	ck_assert_ptr_nonnull(strstr((const char *)r1.body, "\"description\":\"two\""));
	d4_api_resp_free(&r1);

	/* a change through another handle of the same store (as d4hubctl in
	 * another process), and a commit that changes nothing listed here but
	 * still moves the generation */
	struct d4_store *other = open_at(storedir);
	d4_strlcpy(sn->description, "three", sizeof(sn->description));
	ck_assert_int_eq(d4_store_sensor_put(other, sn), D4_OK);
	ck_assert_int_eq(list(st, D4_ROLE_ADMIN, &r1, NULL), 200);
	ck_assert_ptr_nonnull(strstr((const char *)r1.body, "\"description\":\"three\""));
	ck_assert_int_eq(d4_store_epoch_bump(other), D4_OK);
	ck_assert_int_eq(list(st, D4_ROLE_ADMIN, &r2, NULL), 200);
	ck_assert_str_eq((const char *)r1.body, (const char *)r2.body);
	d4_api_resp_free(&r1);
	d4_api_resp_free(&r2);

	/* counters written by the ingest path (the writer's commit) */
	ck_assert_int_eq(d4_store_writer_start(st), D4_OK);
	struct d4_session_open so;
	memset(&so, 0, sizeof(so));
	so.session = d4_store_session_id_new(st);
	memcpy(so.uuid, sn->uuid, 16);
	so.type = 1;
	so.when = d4_now_s();
	ck_assert_int_eq(d4_store_post_session_open(st, &so), D4_OK);
	struct d4_frame_rec fr;
	memset(&fr, 0, sizeof(fr));
	fr.session = so.session;
	memcpy(fr.uuid, sn->uuid, 16);
	fr.type = 1;
	fr.version = 1;
	fr.tlp = 1;
	fr.recv_ms = d4_now_s() * 1000;
	fr.size = 5;
	ck_assert_int_eq(d4_store_post_frame(st, &fr, (const uint8_t *)"hello"), D4_OK);
	ck_assert_int_eq(d4_store_writer_sync(st, 5000), D4_OK);
	ck_assert_int_eq(list(st, D4_ROLE_ADMIN, &r1, NULL), 200);
	ck_assert_ptr_nonnull(strstr((const char *)r1.body, "\"packets\":1,\"bytes\":5"));
	d4_api_resp_free(&r1);

	/* deleted: gone from the list at once */
	ck_assert_int_eq(d4_store_sensor_del(other, sn->uuid), D4_OK);
	ck_assert_int_eq(list(st, D4_ROLE_ADMIN, &r1, NULL), 200);
	ck_assert_str_eq((const char *)r1.body, "{\"items\":[],\"next_cursor\":null}");
	d4_api_resp_free(&r1);

	/* a second store in the same process never gets the first one's page */
	char path2[320];
	snprintf(path2, sizeof(path2), "%s/second", tmpdir);
	struct d4_store *st2 = open_at(path2);
	ck_assert_int_eq(list(st2, D4_ROLE_ADMIN, &r1, NULL), 200);
	ck_assert_str_eq((const char *)r1.body, "{\"items\":[],\"next_cursor\":null}");
	d4_api_resp_free(&r1);
	d4_store_close(st2);

	/* bad parameters are refused before any store access, as before */
	const char *bad[] = {"status", "bogus", NULL};
	ck_assert_int_eq(list(st, D4_ROLE_ADMIN, &r1, bad), 400);
	d4_api_resp_free(&r1);
	d4_store_close(other);
	d4_store_close(st);
	free(sn);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("api_lists");
	TCase *tc = tcase_create("lists");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_writer_equals_yajl);
	tcase_add_test(tc, test_writer_times_numbers);
	tcase_add_test(tc, test_list_pages);
	tcase_add_test(tc, test_list_cache_never_stale);
	suite_add_tcase(su, tc);
	SRunner *sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
