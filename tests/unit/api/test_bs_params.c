/* Check suite for the backscatter query parameters and sealed cursors
 * (api/bs_query.c): victims (addresses and networks of both families),
 * times, every filter and its refusals, the summary's days, and cursors that
 * open only for the query, clearance and process they were sealed for. */
#include "api_bs.h"
#include "d4_backscatter.h"
#include "d4_error.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#define NOW 1765065600u /* 2025-12-07T00:00:00Z */

static struct d4_api_bs_params P;
static char err[320];

/* "a=1&b=2" parsed for a list (what 0) or a summary (1). */
static int parse(int what, uint8_t clr, const char *qs)
{
	static char buf[2048];
	const char *names[16], *values[16];
	unsigned n = 0;
	snprintf(buf, sizeof(buf), "%s", qs);
	for (char *p = buf, *tok; p && *p && n < 16 && (tok = strsep(&p, "&")) != NULL;) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq = '\0';
		names[n] = tok;
		values[n++] = eq ? eq + 1 : "";
	}
	return d4_api_bs_parse(what ? D4_API_BS_SUMMARY : D4_API_BS_LIST, names, values, n, clr, NOW, &P, err,
			       sizeof(err));
}

static void addr(const char *s, uint8_t out[16])
{
	uint8_t hi[16];
	ck_assert_int_eq(d4_api_bs_parse_victim(s, strlen(s), out, hi), 0);
	ck_assert_mem_eq(out, hi, 16);
}

START_TEST(victims)
{
	uint8_t lo[16], hi[16], a[16];
	ck_assert_int_eq(d4_api_bs_parse_victim("192.0.2.10", 10, lo, hi), 0);
	static const uint8_t v4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10};
	ck_assert_mem_eq(lo, v4, 16);
	ck_assert_mem_eq(hi, v4, 16);
	ck_assert_int_eq(d4_api_bs_parse_victim("192.0.2.77/24", 13, lo, hi), 0); /* host bits ignored */
	addr("192.0.2.0", a);
	ck_assert_mem_eq(lo, a, 16);
	addr("192.0.2.255", a);
	ck_assert_mem_eq(hi, a, 16);
	ck_assert_int_eq(d4_api_bs_parse_victim("0.0.0.0/0", 9, lo, hi), 0);
	addr("0.0.0.0", a);
	ck_assert_mem_eq(lo, a, 16);
	addr("255.255.255.255", a);
	ck_assert_mem_eq(hi, a, 16);
	ck_assert_int_eq(d4_api_bs_parse_victim("2001:db8:1:2::5/48", 18, lo, hi), 0);
	addr("2001:db8:1::", a);
	ck_assert_mem_eq(lo, a, 16);
	addr("2001:db8:1:ffff:ffff:ffff:ffff:ffff", a);
	ck_assert_mem_eq(hi, a, 16);
	ck_assert_int_eq(d4_api_bs_parse_victim("::ffff:198.51.100.0/120", 23, lo, hi), 0);
	addr("198.51.100.0", a);
	ck_assert_mem_eq(lo, a, 16);
	/* only the first n bytes count */
	ck_assert_int_eq(d4_api_bs_parse_victim("10.0.0.1/8junk", 10, lo, hi), 0);
	static const char *const bad[] = {"",
					  "10.0.0.0/33",
					  "2001:db8::/129",
					  "10.0.0.0/",
					  "10.0.0.0/08",
					  "10.0.0/8",
					  "10.0.0.0/-1",
					  "example.com",
					  "1.2.3.4.5",
					  "::g",
					  "10.0.0.0/8/8",
					  " 10.0.0.1",
					  "10.0.0.0/1234"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(d4_api_bs_parse_victim(bad[i], strlen(bad[i]), lo, hi) == D4_EINVAL, "%s", bad[i]);
	char nul[] = "10.0.0.1\0/8";
	ck_assert_int_eq(d4_api_bs_parse_victim(nul, sizeof(nul) - 1, lo, hi), D4_EINVAL);
}
END_TEST

START_TEST(times)
{
	uint64_t us;
	ck_assert_int_eq(d4_api_bs_parse_time_us("1764000000", &us), 0);
	ck_assert_uint_eq(us, 1764000000000000ull);
	ck_assert_int_eq(d4_api_bs_parse_time_us("1764000000.000123", &us), 0);
	ck_assert_uint_eq(us, 1764000000000123ull);
	ck_assert_int_eq(d4_api_bs_parse_time_us("1764000000.5", &us), 0);
	ck_assert_uint_eq(us, 1764000000500000ull);
	ck_assert_int_eq(d4_api_bs_parse_time_us("2025-11-24T16:00:00Z", &us), 0);
	ck_assert_uint_eq(us, 1764000000000000ull);
	ck_assert_int_eq(d4_api_bs_parse_time_us("2025-11-24", &us), 0);
	ck_assert_uint_eq(us, 1763942400000000ull);
	ck_assert_int_eq(d4_api_bs_parse_time_us("2025-11-24T16:00:00.25+00:00", &us), 0);
	ck_assert_uint_eq(us, 1764000000250000ull);
	ck_assert_int_eq(d4_api_bs_parse_time_us("2024-02-29", &us), 0);
	static const char *const bad[] = {"",
					  "yesterday",
					  "1764000000.1234567",
					  "1764000000.",
					  "-5",
					  "2025-13-01",
					  "2025-02-30",
					  "2025-02-29",
					  "123456789012",
					  "2025-11-24T16:00:00+02:00",
					  " 2025-1-01",
					  "2025-11-24T24:00:00Z",
					  "2025-11-24T16:00:00",
					  "2025-11-24T16:00Z",
					  "2025-11-24T16:00:00.Z",
					  "2025-11-24x",
					  "1969-12-31"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(d4_api_bs_parse_time_us(bad[i], &us) == D4_EINVAL, "%s", bad[i]);
}
END_TEST

START_TEST(list_filters)
{
	ck_assert_int_eq(parse(0, 6, ""), 0);
	ck_assert_uint_eq(P.limit, 100);
	ck_assert_int_eq(P.paging, 0);
	ck_assert_int_eq(P.q.max_tlp, 6);
	ck_assert_int_eq(
	    parse(0, 5,
		  "since=2025-11-24&until=1764086400&victim=192.0.2.0/24&port=443&kind=icmp6-unreach&"
		  "sensor=5e3c3b5e-0b9e-4c1e-9a52-c6e9d2a1f001&origin=local&ongoing=true&limit=7&format=ndjson"),
	    0);
	ck_assert_uint_eq(P.q.since_us, 1763942400000000ull);
	ck_assert_uint_eq(P.q.until_us, 1764086400000000ull);
	ck_assert_int_eq(P.q.has_victim, 1);
	ck_assert_int_eq(P.q.has_port, 1);
	ck_assert_uint_eq(P.q.port, 443);
	ck_assert_int_eq(P.q.kind, D4_BS_ICMP6_UNREACH);
	ck_assert_int_eq(P.q.has_sensor, 1);
	ck_assert_uint_eq(P.q.sensor[0], 0x5e);
	ck_assert_uint_eq(P.q.sensor[15], 0x01);
	ck_assert_int_eq(P.q.has_origin, 1);
	static const uint8_t zero[16];
	ck_assert_mem_eq(P.q.origin, zero, 16);
	ck_assert_int_eq(P.q.ongoing, 1);
	ck_assert_uint_eq(P.limit, 7);
	ck_assert_int_eq(P.paging, 1);
	ck_assert_int_eq(P.ndjson, 1);
	ck_assert_int_eq(P.format_given, 1);
	ck_assert_int_eq(parse(0, 6, "origin=6f1c0b5e0b9e4c1e9a52c6e9d2a1f0aa&ongoing=0&port=0&format=json"), 0);
	ck_assert_uint_eq(P.q.origin[0], 0x6f);
	ck_assert_int_eq(P.q.ongoing, 0);
	ck_assert_int_eq(P.q.has_port, 1);
	ck_assert_int_eq(P.ndjson, 0);
	/* each refusal names its parameter */
	static const char *const bad[][2] = {{"since=yesterday", "since"},
					     {"since=0", "since"},
					     {"until=2025-13-01", "until"},
					     {"since=20&until=10", "since"},
					     {"victim=300.1.1.1", "victim"},
					     {"port=65536", "port"},
					     {"port=08", "port"},
					     {"port=", "port"},
					     {"kind=syn", "kind"},
					     {"kind=none", "kind"},
					     {"sensor=xyz", "sensor"},
					     {"origin=00000000000000000000000000000000", "origin"},
					     {"origin=remote", "origin"},
					     {"ongoing=yes", "ongoing"},
					     {"limit=0", "limit"},
					     {"limit=1001", "limit"},
					     {"limit=-1", "limit"},
					     {"format=xml", "format"},
					     {"sort=last", "sort"},
					     {"kind=tcp-rst&kind=tcp-rst", "kind"},
					     {"from=2025-11-01", "from"},
					     {"top=5", "top"},
					     {"cursor=", "cursor"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse(0, 6, bad[i][0]) == D4_EINVAL, "%s accepted", bad[i][0]);
		ck_assert_msg(strstr(err, bad[i][1]) != NULL, "%s: '%s' does not name %s", bad[i][0], err, bad[i][1]);
	}
}
END_TEST

START_TEST(summary_days)
{
	ck_assert_int_eq(parse(1, 6, ""), 0);
	ck_assert_uint_eq(P.day_to, NOW / 86400);
	ck_assert_uint_eq(P.day_from, NOW / 86400 - 6);
	ck_assert_uint_eq(P.top, 10);
	ck_assert_int_eq(parse(1, 6, "from=2025-11-01&to=2025-11-30T23:00:00Z&top=100&kind=tcp-rst&victim=::/0"), 0);
	ck_assert_uint_eq(P.day_to - P.day_from, 29);
	ck_assert_uint_eq(P.top, 100);
	ck_assert_int_eq(P.q.kind, D4_BS_TCP_RST);
	ck_assert_int_eq(parse(1, 6, "from=2025-11-01&to=2025-12-01"), 0); /* 31 days */
	ck_assert_int_eq(parse(1, 6, "from=2025-11-01&to=2025-12-02"), D4_EINVAL);
	ck_assert_int_eq(parse(1, 6, "from=2025-11-02&to=2025-11-01"), D4_EINVAL);
	ck_assert_int_eq(parse(1, 6, "top=0"), D4_EINVAL);
	ck_assert_int_eq(parse(1, 6, "top=101"), D4_EINVAL);
	ck_assert_int_eq(parse(1, 6, "limit=5"), D4_EINVAL);
	ck_assert_int_eq(parse(1, 6, "cursor=abc"), D4_EINVAL);
	ck_assert_int_eq(parse(1, 6, "format=ndjson"), D4_EINVAL);
	ck_assert_int_eq(parse(1, 6, "since=1764000000"), D4_EINVAL);
}
END_TEST

START_TEST(cursors)
{
	static const uint8_t r[] = {1, 2, 3, 0xfe, 0xff, 0, 9, 8};
	char cur[D4_API_BS_CURSOR_TEXT], q[512];
	ck_assert_int_eq(parse(0, 5, "victim=192.0.2.0/24&limit=3"), 0);
	ck_assert_int_eq(d4_api_bs_cursor_seal(&P, r, sizeof(r), cur), 0);
	ck_assert_uint_lt(strlen(cur), D4_API_BS_CURSOR_TEXT);
	/* opens for the same query, whatever the limit or format */
	snprintf(q, sizeof(q), "victim=192.0.2.0/24&limit=50&format=ndjson&cursor=%s", cur);
	ck_assert_int_eq(parse(0, 5, q), 0);
	ck_assert_ptr_nonnull(P.q.resume);
	ck_assert_uint_eq(P.q.resume_len, sizeof(r));
	ck_assert_mem_eq(P.q.resume, r, sizeof(r));
	ck_assert_int_eq(P.paging, 1);
	/* a copy re-pointed */
	struct d4_api_bs_params copy = P;
	d4_api_bs_fix(&copy);
	ck_assert_ptr_eq(copy.q.resume, copy.resume);
	/* another clearance, another filter, no filter */
	ck_assert_int_eq(parse(0, 6, q), D4_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "cursor"));
	snprintf(q, sizeof(q), "victim=192.0.2.0/25&cursor=%s", cur);
	ck_assert_int_eq(parse(0, 5, q), D4_EINVAL);
	snprintf(q, sizeof(q), "cursor=%s", cur);
	ck_assert_int_eq(parse(0, 5, q), D4_EINVAL);
	/* every single-character change, every truncation, padding */
	size_t n = strlen(cur);
	for (size_t i = 0; i < n; i++) {
		char c2[D4_API_BS_CURSOR_TEXT];
		memcpy(c2, cur, n + 1);
		c2[i] = c2[i] == 'A' ? 'B' : 'A';
		snprintf(q, sizeof(q), "victim=192.0.2.0/24&cursor=%s", c2);
		ck_assert_msg(parse(0, 5, q) == D4_EINVAL, "edited at %zu", i);
		memcpy(c2, cur, i);
		c2[i] = '\0';
		snprintf(q, sizeof(q), "victim=192.0.2.0/24&cursor=%s", c2);
		ck_assert_msg(parse(0, 5, q) == D4_EINVAL, "cut at %zu", i);
	}
	snprintf(q, sizeof(q), "victim=192.0.2.0/24&cursor=%s=", cur);
	ck_assert_int_eq(parse(0, 5, q), D4_EINVAL);
	/* bounds of seal */
	uint8_t big[D4_STORE_BS_RESUME_MAX + 1] = {0};
	ck_assert_int_eq(d4_api_bs_cursor_seal(&P, big, sizeof(big), cur), D4_EINVAL);
	ck_assert_int_eq(d4_api_bs_cursor_seal(&P, big, 0, cur), D4_EINVAL);
	ck_assert_int_eq(d4_api_bs_cursor_seal(&P, big, D4_STORE_BS_RESUME_MAX, cur), 0);
	ck_assert_uint_lt(strlen(cur), D4_API_BS_CURSOR_TEXT);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api_bs_params");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, victims);
	tcase_add_test(tc, times);
	tcase_add_test(tc, list_filters);
	tcase_add_test(tc, summary_days);
	tcase_add_test(tc, cursors);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
