/* Check suite for the passive-DNS query API's refusals and sealed cursors
 * (api/h_pdns.c, api/cursor.c) and for d4-core's registration body
 * (api/h_register.c), through the dispatcher and the real route table over a
 * real store in a temp dir: every malformed name, address and cursor is a
 * 4xx problem, never an empty 200. */
#include "api_core.h"
#include "api_cursor.h"
#include "api_internal.h"
#include "d4_error.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_store.h"
#include "d4_store_pdns.h"
#include "d4_util.h"

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NTUPLES 30 /* A records of page.example. */

static int fake_verify(struct d4_api_ctx *ctx, const char *token, char *user, size_t usersize, enum d4_role *role)
{
	(void)ctx;
	if (!strcmp(token, "tok-admin"))
		*role = D4_ROLE_ADMIN;
	else if (!strcmp(token, "tok-user"))
		*role = D4_ROLE_USER;
	else if (!strcmp(token, "tok-reg"))
		*role = D4_ROLE_SENSOR_REGISTER;
	else
		return D4_ENOTFOUND;
	snprintf(user, usersize, "%s", token + 4);
	return D4_OK;
}

static char tmpdir[64];
static struct d4_store *st;
static struct d4_api_ctx dctx;
static struct d4_api_core core;
static struct d4_api_resp resp;
static yajl_val last;
static char *body; /* the whole answer, streamed ones drained */

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void setup(void)
{
	d4_log_init("test_pdns_query", 0, D4_LOG_ERR);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/d4pdnsq-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	char path[128];
	snprintf(path, sizeof(path), "%s/store", tmpdir);
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = path;
	o.map_size = 64u << 20;
	o.no_sync = 1;
	/* run once per pDNS layout (CMakeLists.txt) */
	const char *lay = getenv("D4_TEST_PDNS_LAYOUT");
	o.pdns_layout = lay && !strcmp(lay, "s4") ? D4_STORE_PDNS_LAYOUT_S4 : D4_STORE_PDNS_LAYOUT_ID;
	ck_assert_int_eq(d4_store_open(&o, &st), D4_OK);
	struct d4_store_pdns_obs ob[NTUPLES + 2];
	char rd[NTUPLES][32];
	memset(ob, 0, sizeof(ob));
	for (int i = 0; i < NTUPLES; i++) {
		snprintf(rd[i], sizeof(rd[i]), "192.0.2.%d", i + 1);
		ob[i].rrname = "page.example.";
		ob[i].rrtype = 1;
		ob[i].rdata = rd[i];
		ob[i].time_first = 1700000000;
		ob[i].time_last = 1700000100;
		ob[i].count = 1;
		ob[i].tlp = D4_TLP_GREEN;
	}
	/* one record only an admin may see (user clearance is amber+strict) */
	ob[NTUPLES] = ob[0];
	ob[NTUPLES].rdata = "192.0.2.200";
	ob[NTUPLES].tlp = D4_TLP_RED;
	ob[NTUPLES + 1] = ob[0];
	ob[NTUPLES + 1].rrname = "other.example.";
	ck_assert_int_eq(d4_store_pdns_apply(st, ob, NTUPLES + 2, NULL), 0);

	memset(&core, 0, sizeof(core));
	memset(&dctx, 0, sizeof(dctx));
	dctx.core = &core;
	dctx.store = st;
	core.routes = d4_api_routes;
	core.nroutes = d4_api_nroutes;
	core.ctx = &dctx;
	core.max_body = 65536;
	core.verify = fake_verify;
	core.rl = d4_api_ratelimit_new(1000, 60);
	d4_api_resp_init(&resp);
	last = NULL;
	body = NULL;
}

static void teardown(void)
{
	d4_api_stream_release(&resp);
	d4_api_resp_free(&resp);
	d4_api_ratelimit_free(core.rl);
	if (last)
		yajl_tree_free(last);
	free(body);
	d4_store_close(st);
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Runs a request; returns the status; the body in `body` (a stream drained),
 * parsed into `last` when it is one JSON document. */
static int run(const char *method, const char *target, const char *auth, const char *json)
{
	struct d4_api_raw raw = {method,
				 target,
				 (const uint8_t *)json,
				 json ? strlen(json) : 0,
				 json ? "application/json" : "",
				 auth,
				 "192.0.2.7",
				 0,
				 NULL,
				 NULL,
				 NULL,
				 NULL};
	d4_api_stream_release(&resp);
	d4_api_resp_free(&resp);
	d4_api_resp_init(&resp);
	if (last)
		yajl_tree_free(last);
	last = NULL;
	free(body);
	body = NULL;
	d4_api_dispatch(&core, &raw, &resp);
	ck_assert_int_ne(resp.status, 0);
	size_t len = 0;
	if (resp.producer) {
		size_t cap = 256 * 1024;
		uint8_t *chunk = malloc(cap);
		ck_assert_ptr_nonnull(chunk);
		for (;;) {
			long n = resp.producer->next(resp.producer, chunk, cap);
			ck_assert_int_ge(n, 0);
			if (n == 0)
				break;
			body = realloc(body, len + (size_t)n + 1);
			memcpy(body + len, chunk, (size_t)n);
			len += (size_t)n;
		}
		free(chunk);
	} else if (resp.body) {
		body = malloc(resp.body_len + 1);
		memcpy(body, resp.body, resp.body_len);
		len = resp.body_len;
	}
	if (!body)
		body = malloc(1);
	body[len] = '\0';
	if (resp.content_type && !strcmp(resp.content_type, "application/problem+json")) {
		char err[128];
		last = yajl_tree_parse(body, err, sizeof(err));
		ck_assert_msg(last != NULL, "problem is not JSON: %s", body);
	}
	return resp.status;
}

static const char *header(const char *name)
{
	for (unsigned i = 0; i < resp.nhdr; i++)
		if (!strcasecmp(resp.hdr_name[i], name))
			return resp.hdr_value[i];
	return NULL;
}

static void expect_problem(const char *target, int status)
{
	int got = run("GET", target, "Bearer tok-user", NULL);
	ck_assert_msg(got == status, "%s: %d, not %d: %.200s", target, got, status, body);
	ck_assert_str_eq(resp.content_type, "application/problem+json");
	const char *p[] = {"status", NULL};
	ck_assert_int_eq(YAJL_GET_INTEGER(yajl_tree_get(last, p, yajl_t_number)), status);
}

static unsigned lines_with(const char *needle)
{
	unsigned n = 0;
	for (const char *p = body; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

START_TEST(malformed_names)
{
	char l64[80], l63[80], big[400], target[1200];
	memset(l64, 'a', 64);
	l64[64] = '\0';
	memset(l63, 'a', 63);
	l63[63] = '\0';
	/* 4 labels of 63 + 3 dots = 255 presentation bytes, 257 wire octets */
	snprintf(big, sizeof(big), "%s.%s.%s.%s", l63, l63, l63, l63);
	const char *bad[] = {"a..b", ".x", ".", "..", "x..", l64, big, "a\\", "a\\2", "a\\999b"};
	const char *prefix[] = {"/pdns/query/", "/dnsdb/v2/lookup/rrset/name/", "/dnsdb/v2/lookup/rdata/name/",
				"/dnsdb/v2/summarize/rrset/name/", "/dnsdb/v2/summarize/rdata/name/"};
	for (size_t p = 0; p < sizeof(prefix) / sizeof(prefix[0]); p++)
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(target, sizeof(target), "%s%s", prefix[p], bad[i]);
			expect_problem(target, 400);
			/* with a wildcard on either end too */
			if (strcmp(bad[i], ".")) {
				snprintf(target, sizeof(target), "%s*.%s", prefix[p], bad[i]);
				expect_problem(target, 400);
			}
		}
	/* a bad bailiwick */
	expect_problem("/dnsdb/v2/lookup/rrset/name/page.example/A/a..b", 400);
	/* the limits themselves are fine: a 63-octet label, a 253-byte name */
	snprintf(target, sizeof(target), "/pdns/query/%s.example", l63);
	ck_assert_int_eq(run("GET", target, "Bearer tok-user", NULL), 200);
	snprintf(big, sizeof(big), "%s.%s.%s.%.61s", l63, l63, l63, l63);
	snprintf(target, sizeof(target), "/dnsdb/v2/lookup/rrset/name/%s", big);
	ck_assert_int_eq(run("GET", target, "Bearer tok-user", NULL), 200);
	ck_assert_int_eq(run("GET", "/pdns/query/page.example", "Bearer tok-user", NULL), 200);
	ck_assert_uint_eq(lines_with("\"rrname\":\"page.example.\""), NTUPLES);
	ck_assert_int_eq(run("GET", "/pdns/query/page.example.", "Bearer tok-user", NULL), 200);
	ck_assert_int_eq(run("GET", "/pdns/query/*.example", "Bearer tok-user", NULL), 200);
	ck_assert_int_eq(run("GET", "/pdns/query/_dmarc.example", "Bearer tok-user", NULL), 200);
}
END_TEST

START_TEST(malformed_addresses)
{
	const char *bad[] = {"192.0.2.0,33",
			     "192.0.2.0%2F33",
			     "256.1.2.3",
			     "1.2.3",
			     "1.2.3.4.5",
			     "192.0.2.9-192.0.2.1",
			     "192.0.2.1-2001:db8::1",
			     "2001:db8::%2F129",
			     "2001:db8::g",
			     "2001:db8::9-2001:db8::1",
			     "192.0.2.0,",
			     "192.0.2.0%2F24%2F8",
			     "123",
			     "1-2"};
	char target[256];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(target, sizeof(target), "/pdns/query/%s", bad[i]);
		expect_problem(target, 400);
		snprintf(target, sizeof(target), "/dnsdb/v2/lookup/rdata/ip/%s", bad[i]);
		expect_problem(target, 400);
	}
	ck_assert_int_eq(run("GET", "/pdns/query/192.0.2.0,24", "Bearer tok-user", NULL), 200);
	ck_assert_uint_eq(lines_with("\"rdata\":\"192.0.2."), NTUPLES + 1);
	ck_assert_int_eq(run("GET", "/pdns/query/192.0.2.1-192.0.2.5", "Bearer tok-user", NULL), 200);
	ck_assert_uint_eq(lines_with("\"rrname\""), 6);
	ck_assert_int_eq(run("GET", "/pdns/query/192.0.2.7", "Bearer tok-user", NULL), 200);
	ck_assert_uint_eq(lines_with("\"rrname\""), 1);
}
END_TEST

/* Pages through page.example with limit 7 using target base (which ends in
 * '?' or '&'); returns the cursor of the first page in first (cap bytes). */
static void first_page(const char *base, const char *auth, char *first, size_t cap)
{
	char target[512];
	snprintf(target, sizeof(target), "%slimit=7", base);
	ck_assert_int_eq(run("GET", target, auth, NULL), 200);
	const char *c = header("D4-Next-Cursor");
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_lt(strlen(c), cap);
	snprintf(first, cap, "%s", c);
}

START_TEST(cursors)
{
	char cur[1024], other[1024], target[2048];
	/* paging sees every tuple once */
	unsigned seen = 0, pages = 0;
	first_page("/pdns/query/page.example?", "Bearer tok-user", cur, sizeof(cur));
	seen += lines_with("\"rrname\"");
	for (pages = 1; pages < 20; pages++) {
		snprintf(target, sizeof(target), "/pdns/query/page.example?limit=7&cursor=%s", cur);
		ck_assert_int_eq(run("GET", target, "Bearer tok-user", NULL), 200);
		seen += lines_with("\"rrname\"");
		const char *c = header("D4-Next-Cursor");
		if (!c)
			break;
		snprintf(cur, sizeof(cur), "%s", c);
	}
	ck_assert_uint_eq(seen, NTUPLES); /* the red one is not the user's */
	ck_assert_uint_eq(pages + 1, (NTUPLES + 6) / 7);

	first_page("/pdns/query/page.example?", "Bearer tok-user", cur, sizeof(cur));
	size_t n = strlen(cur);
	ck_assert_uint_gt(n, 30);
	/* cut: every shorter prefix is refused */
	for (size_t k = 0; k < n; k++) {
		snprintf(target, sizeof(target), "/pdns/query/page.example?limit=7&cursor=%.*s", (int)k, cur);
		expect_problem(target, 400);
	}
	/* altered: every character changed */
	for (size_t k = 0; k < n; k++) {
		char alt[1024];
		snprintf(alt, sizeof(alt), "%s", cur);
		alt[k] = alt[k] == 'A' ? 'B' : 'A';
		snprintf(target, sizeof(target), "/pdns/query/page.example?limit=7&cursor=%s", alt);
		expect_problem(target, 400);
	}
	/* appended bytes */
	snprintf(target, sizeof(target), "/pdns/query/page.example?limit=7&cursor=%sAAAA", cur);
	expect_problem(target, 400);
	/* another query's cursor: another name, type, time fence, endpoint */
	snprintf(target, sizeof(target), "/pdns/query/other.example?cursor=%s", cur);
	expect_problem(target, 400);
	snprintf(target, sizeof(target), "/pdns/query/page.example?limit=7&time_last_after=5&cursor=%s", cur);
	expect_problem(target, 400);
	snprintf(target, sizeof(target), "/dnsdb/v2/lookup/rrset/name/page.example?limit=7&cursor=%s", cur);
	expect_problem(target, 400);
	snprintf(target, sizeof(target), "/dnsdb/v2/lookup/rrset/name/page.example/A?limit=7&cursor=%s", cur);
	expect_problem(target, 400);
	/* another role's (clearance's) cursor */
	snprintf(target, sizeof(target), "/pdns/query/page.example?limit=7&cursor=%s", cur);
	ck_assert_int_eq(run("GET", target, "Bearer tok-admin", NULL), 400);
	first_page("/pdns/query/page.example?", "Bearer tok-admin", other, sizeof(other));
	snprintf(target, sizeof(target), "/pdns/query/page.example?limit=7&cursor=%s", other);
	expect_problem(target, 400);
	/* the unsealed form of earlier versions (bare store bytes) */
	expect_problem("/pdns/query/page.example?cursor=AAAA", 400);
	expect_problem("/pdns/query/page.example?cursor=", 400);
	expect_problem("/pdns/query/page.example?cursor=%2B%2F", 400);

	/* DNSDB: the next_cursor of the terminal line pages as the header does */
	ck_assert_int_eq(
	    run("GET", "/dnsdb/v2/lookup/rrset/name/page.example/A?limit=7&aggr=f", "Bearer tok-user", NULL), 200);
	char *page1 = strdup(body);
	ck_assert_uint_eq(lines_with("\"rrname\""), 7);
	const char *nc = strstr(body, "\"next_cursor\":\"");
	ck_assert_ptr_nonnull(nc);
	nc += 15;
	snprintf(cur, sizeof(cur), "%.*s", (int)(strchr(nc, '"') - nc), nc);
	ck_assert_ptr_nonnull(header("D4-Next-Cursor"));
	ck_assert_str_eq(header("D4-Next-Cursor"), cur);
	snprintf(target, sizeof(target), "/dnsdb/v2/lookup/rrset/name/page.example/A?limit=7&aggr=f&cursor=%s", cur);
	ck_assert_int_eq(run("GET", target, "Bearer tok-user", NULL), 200);
	ck_assert_uint_eq(lines_with("\"rrname\""), 7);
	/* no record of the first page again */
	for (const char *p = page1; (p = strstr(p, "\"rdata\":[\"")) != NULL; p++) {
		char rec[48];
		snprintf(rec, sizeof(rec), "%.*s", (int)(strchr(p + 10, '"') - p + 1), p);
		ck_assert_msg(strstr(body, rec) == NULL, "%s again on page 2", rec);
	}
	free(page1);
	/* aggr and humantime only change the printing: the cursor still opens */
	snprintf(target, sizeof(target), "/dnsdb/v2/lookup/rrset/name/page.example/A?limit=7&humantime=t&cursor=%s",
		 cur);
	ck_assert_int_eq(run("GET", target, "Bearer tok-user", NULL), 200);
	/* but not on summarize, nor on the rdata side */
	snprintf(target, sizeof(target), "/dnsdb/v2/summarize/rrset/name/page.example/A?cursor=%s", cur);
	expect_problem(target, 400);
	snprintf(target, sizeof(target), "/dnsdb/v2/lookup/rdata/name/page.example/A?cursor=%s", cur);
	expect_problem(target, 400);
}
END_TEST

/* rrset grouping (aggr=t) keeps up to 16 rrsets of one owner and type open
 * and writes the oldest when one more is needed. 24 rrsets of 3 A records
 * each, in the store's (rdata-hash) order: the answer must be what that rule
 * makes of the aggr=f answer (one line per tuple, store order), object for
 * object, including joins to groups opened before an older one was written. */
#define SETS	 24
#define PER_SET	 3
#define OPEN_MAX 16

START_TEST(rrset_groups)
{
	struct d4_store_pdns_obs ob[SETS * PER_SET];
	char rd[SETS * PER_SET][32];
	memset(ob, 0, sizeof(ob));
	for (int i = 0; i < SETS * PER_SET; i++) {
		snprintf(rd[i], sizeof(rd[i]), "198.51.100.%d", i + 1);
		ob[i].rrname = "sets.example.";
		ob[i].rrtype = 1;
		ob[i].rdata = rd[i];
		ob[i].time_first = 1700000000 + (uint64_t)(i % SETS) * 10;
		ob[i].time_last = ob[i].time_first + 5;
		ob[i].count = 1;
		ob[i].tlp = D4_TLP_GREEN;
	}
	ck_assert_int_eq(d4_store_pdns_apply(st, ob, SETS * PER_SET, NULL), 0);

	ck_assert_int_eq(
	    run("GET", "/dnsdb/v2/lookup/rrset/name/sets.example/A?limit=100&aggr=f", "Bearer tok-user", NULL), 200);
	char *flat = strdup(body);
	ck_assert_uint_eq(lines_with("\"rrname\""), SETS * PER_SET);

	/* the rule, applied to the store order: a group's key is its line up
	 * to the rdata (count, times, owner, type, bailiwick) */
	struct {
		const char *head;
		size_t headlen;
		char rdata[256];
	} open[OPEN_MAX];
	unsigned nopen = 0, written = 0, late_joins = 0;
	size_t cap = strlen(flat) * 2 + 64, len = 0;
	char *want = malloc(cap);
	ck_assert_ptr_nonnull(want);
#define EMIT(p, n)                                                                                                     \
	do {                                                                                                           \
		memcpy(want + len, (p), (n));                                                                          \
		len += (n);                                                                                            \
	} while (0)
	EMIT("{\"cond\":\"begin\"}\n", 17);
	for (const char *l = flat; (l = strstr(l, "{\"obj\":")) != NULL;) {
		const char *r = strstr(l, "\"rdata\":[");
		ck_assert_ptr_nonnull(r);
		r += 9;
		const char *e = strstr(r, "]}}\n");
		ck_assert_ptr_nonnull(e);
		size_t headlen = (size_t)(r - l);
		unsigned g = 0;
		while (g < nopen && (open[g].headlen != headlen || memcmp(open[g].head, l, headlen) != 0))
			g++;
		if (g < nopen) {
			ck_assert_uint_lt(strlen(open[g].rdata) + (size_t)(e - r) + 2, sizeof(open[g].rdata));
			strcat(open[g].rdata, ",");
			strncat(open[g].rdata, r, (size_t)(e - r));
			if (written)
				late_joins++;
		} else {
			if (nopen == OPEN_MAX) {
				EMIT(open[0].head, open[0].headlen);
				EMIT(open[0].rdata, strlen(open[0].rdata));
				EMIT("]}}\n", 4);
				memmove(&open[0], &open[1], (OPEN_MAX - 1) * sizeof(open[0]));
				nopen--;
				written++;
			}
			open[nopen].head = l;
			open[nopen].headlen = headlen;
			snprintf(open[nopen].rdata, sizeof(open[nopen].rdata), "%.*s", (int)(e - r), r);
			nopen++;
		}
		l = e + 4;
	}
	for (unsigned g = 0; g < nopen; g++) {
		EMIT(open[g].head, open[g].headlen);
		EMIT(open[g].rdata, strlen(open[g].rdata));
		EMIT("]}}\n", 4);
	}
	EMIT("{\"cond\":\"succeeded\"}\n", 21);
	want[len] = '\0';
#undef EMIT
	/* the case is the one meant: groups were written before the end, and
	 * tuples joined groups still open after that */
	ck_assert_uint_gt(written, 0);
	ck_assert_uint_gt(late_joins, 0);

	ck_assert_int_eq(run("GET", "/dnsdb/v2/lookup/rrset/name/sets.example/A?limit=100", "Bearer tok-user", NULL),
			 200);
	ck_assert_msg(strcmp(body, want) == 0, "aggr=t answer:\n%s\nexpected:\n%s", body, want);
	free(want);
	free(flat);
}
END_TEST

/* A paged answer (limit given) is written before its headers when it is
 * small, and counted first then streamed when it is large (over 128 KB): both
 * give what the unpaged, streamed answer gives, and the paging header agrees
 * with the terminal line. */
#define BIG_N 1200 /* TXT records of about 150 bytes: an answer of about 280 KB */

static size_t prefix_lines(const char *b, unsigned n)
{
	const char *p = b;
	for (unsigned i = 0; i < n && p; i++) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	ck_assert_ptr_nonnull(p);
	return (size_t)(p - b);
}

START_TEST(paged_as_streamed)
{
	static struct d4_store_pdns_obs ob[BIG_N];
	static char rd[BIG_N][160];
	memset(ob, 0, sizeof(ob));
	for (int i = 0; i < BIG_N; i++) {
		snprintf(rd[i], sizeof(rd[i]), "\"record %04d %0140d\"", i, i);
		ob[i].rrname = "big.example.";
		ob[i].rrtype = 16;
		ob[i].rdata = rd[i];
		ob[i].time_first = 1700000000 + (uint64_t)i;
		ob[i].time_last = ob[i].time_first + 5;
		ob[i].count = 1;
		ob[i].tlp = D4_TLP_GREEN;
	}
	ck_assert_int_eq(d4_store_pdns_apply(st, ob, BIG_N, NULL), 0);
	static const struct {
		const char *name;
		unsigned n;
	} owners[] = {{"page.example", NTUPLES}, {"big.example", BIG_N}};
	static const struct {
		const char *path, *q; /* q: the first query parameter, or "" */
	} forms[] = {{"/dnsdb/v2/lookup/rrset/name/", "?aggr=f"},
		     {"/dnsdb/v2/lookup/rrset/name/", "?aggr=t"},
		     {"/pdns/query/", ""}};
	char target[256];
	for (size_t o = 0; o < sizeof(owners) / sizeof(owners[0]); o++) {
		for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
#define TARGET(extra)                                                                                                  \
	snprintf(target, sizeof(target), "%s%s%s%s%s", forms[f].path, owners[o].name, forms[f].q,                      \
		 *(extra) && !*forms[f].q ? "?" : (*(extra) ? "&" : ""), (extra))
			TARGET("");
			ck_assert_int_eq(run("GET", target, "Bearer tok-admin", NULL), 200);
			char *whole = strdup(body);
			ck_assert_ptr_null(header("D4-Next-Cursor"));
			/* a limit above the count: the same answer, no cursor */
			TARGET("limit=5000");
			ck_assert_int_eq(run("GET", target, "Bearer tok-admin", NULL), 200);
			ck_assert_msg(strcmp(body, whole) == 0, "%s differs from the streamed answer", target);
			ck_assert_ptr_null(header("D4-Next-Cursor"));
			if (f != 1) { /* one line per record: a shorter limit gives a prefix */
				unsigned k = owners[o].n > 1100 ? 1100 : 7;
				char lim[32];
				snprintf(lim, sizeof(lim), "limit=%u", k);
				TARGET(lim);
				ck_assert_int_eq(run("GET", target, "Bearer tok-admin", NULL), 200);
				size_t n = prefix_lines(whole, f == 2 ? k : k + 1); /* + begin */
				ck_assert_msg(strncmp(body, whole, n) == 0, "%s: not the first %u records", target, k);
				ck_assert_ptr_nonnull(header("D4-Next-Cursor"));
				if (f == 0) {
					const char *nc = strstr(body + n, "\"next_cursor\":\"");
					ck_assert_ptr_nonnull(nc);
					nc += 15;
					ck_assert_int_eq(
					    strncmp(nc, header("D4-Next-Cursor"), strlen(header("D4-Next-Cursor"))), 0);
				}
			}
			free(whole);
		}
	}
#undef TARGET
}
END_TEST

START_TEST(cursor_module)
{
	static const uint8_t bind[] = "bind-one", bind2[] = "bind-two";
	uint8_t r[40], out[64];
	for (size_t i = 0; i < sizeof(r); i++)
		r[i] = (uint8_t)(i * 7);
	char text[D4_API_CURSOR_TEXT(40)];
	size_t n = 0;
	ck_assert_int_eq(d4_api_cursor_seal(1, bind, sizeof(bind), r, sizeof(r), text, sizeof(text)), 0);
	ck_assert_int_eq(d4_api_cursor_open(1, bind, sizeof(bind), text, out, sizeof(out), &n), 0);
	ck_assert_uint_eq(n, sizeof(r));
	ck_assert_mem_eq(out, r, sizeof(r));
	ck_assert_int_eq(d4_api_cursor_open(2, bind, sizeof(bind), text, out, sizeof(out), &n), D4_EINVAL);
	ck_assert_int_eq(d4_api_cursor_open(1, bind2, sizeof(bind2), text, out, sizeof(out), &n), D4_EINVAL);
	ck_assert_int_eq(d4_api_cursor_open(1, bind, sizeof(bind), text, out, 39, &n), D4_EINVAL);
	ck_assert_int_eq(d4_api_cursor_seal(1, bind, sizeof(bind), r, sizeof(r), text, sizeof(text) - 1), D4_EINVAL);
	ck_assert_int_eq(d4_api_cursor_seal(1, bind, sizeof(bind), r, 0, text, sizeof(text)), D4_EINVAL);
	/* a non-canonical text of the same bytes (unused bits set) is refused */
	size_t len = strlen(text);
	char alt[sizeof(text)];
	memcpy(alt, text, len + 1);
	const char *b64u = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	int v = (int)(strchr(b64u, alt[len - 1]) - b64u);
	alt[len - 1] = b64u[v | 1];
	if (alt[len - 1] != text[len - 1])
		ck_assert_int_eq(d4_api_cursor_open(1, bind, sizeof(bind), alt, out, sizeof(out), &n), D4_EINVAL);
}
END_TEST

START_TEST(register_d4core_body)
{
	/* what d4-core's sensor generator sends, and its documented description */
	const char *uuid = "3f5c5c2e-9a8e-4b9b-8d8e-1f2a3b4c5d6e";
	char json[1024];
	snprintf(json, sizeof(json), "{\"uuid\": \"%s\", \"hmac_key\": \"k3y-of-the-sensor_0123456789\"}", uuid);
	ck_assert_int_eq(run("POST", "/api/v1/add/sensor/register", "Bearer tok-reg", json), 200);
	const char *uuid2 = "4f5c5c2e9a8e4b9b8d8e1f2a3b4c5d6e";
	snprintf(json, sizeof(json),
		 "{\"uuid\": \"%s\", \"hmac_key\": \"another key\", \"description\": \"edge router, Lux\", "
		 "\"mail\": \"noc@example.org\", \"third_party\": false, \"type\": 8, \"extended\": {\"a\": [1]}}",
		 uuid2);
	ck_assert_int_eq(run("POST", "/api/v1/add/sensor/register", "Bearer tok-reg", json), 200);
	struct d4_sensor sn;
	uint8_t u[16];
	ck_assert_int_eq(d4_uuid_parse(uuid2, u), D4_OK);
	ck_assert_int_eq(d4_store_sensor_get(st, u, &sn), D4_OK);
	ck_assert_str_eq(sn.description, "edge router, Lux");
	ck_assert_str_eq(sn.mail, "noc@example.org");
	ck_assert_int_eq(sn.status, D4_SENSOR_PENDING);
	d4_wipe(&sn, sizeof(sn));
	/* description null = none; of the wrong type, or with control characters, a 422 */
	snprintf(json, sizeof(json),
		 "{\"uuid\": \"5f5c5c2e-9a8e-4b9b-8d8e-1f2a3b4c5d6e\", \"hmac_key\": \"k\", \"description\": null}");
	ck_assert_int_eq(run("POST", "/api/v1/add/sensor/register", "Bearer tok-reg", json), 200);
	snprintf(json, sizeof(json),
		 "{\"uuid\": \"6f5c5c2e-9a8e-4b9b-8d8e-1f2a3b4c5d6e\", \"hmac_key\": \"k\", \"description\": 5}");
	ck_assert_int_eq(run("POST", "/api/v1/add/sensor/register", "Bearer tok-reg", json), 422);
	snprintf(
	    json, sizeof(json),
	    "{\"uuid\": \"6f5c5c2e-9a8e-4b9b-8d8e-1f2a3b4c5d6e\", \"hmac_key\": \"k\", \"description\": \"a\\nb\"}");
	ck_assert_int_eq(run("POST", "/api/v1/add/sensor/register", "Bearer tok-reg", json), 422);
	/* a duplicate member stays a 422 */
	snprintf(json, sizeof(json),
		 "{\"uuid\": \"6f5c5c2e-9a8e-4b9b-8d8e-1f2a3b4c5d6e\", \"hmac_key\": \"k\", \"x\": 1, \"x\": 2}");
	ck_assert_int_eq(run("POST", "/api/v1/add/sensor/register", "Bearer tok-reg", json), 422);
	ck_assert_int_eq(d4_uuid_parse("6f5c5c2e-9a8e-4b9b-8d8e-1f2a3b4c5d6e", u), D4_OK);
	ck_assert_int_eq(d4_store_sensor_get(st, u, &sn), D4_ENOTFOUND);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api_pdns_query");
	TCase *tc = tcase_create("pdns");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, malformed_names);
	tcase_add_test(tc, malformed_addresses);
	tcase_add_test(tc, cursors);
	tcase_add_test(tc, rrset_groups);
	tcase_add_test(tc, paged_as_streamed);
	tcase_add_test(tc, cursor_module);
	tcase_add_test(tc, register_d4core_body);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? 1 : 0;
}
