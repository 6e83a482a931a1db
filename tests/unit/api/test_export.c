/* Unit tests of the export formatters (api/h_export.c): format rules, time
 * parsing, NDJSON lines, pcap header parsing and the pcap stream splitter. */
#include "d4_error.h"
#include "h_export.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_format_rules)
{
	enum d4_export_format f;
	ck_assert_int_eq(d4_export_format_parse("pcap", &f), D4_OK);
	ck_assert_int_eq(f, D4_EXPORT_PCAP);
	ck_assert_int_eq(d4_export_format_parse("ndjson", &f), D4_OK);
	ck_assert_int_eq(f, D4_EXPORT_NDJSON);
	ck_assert_int_eq(d4_export_format_parse("PCAP", &f), D4_EINVAL);
	ck_assert_int_eq(d4_export_format_parse("", &f), D4_EINVAL);
	ck_assert_int_eq(d4_export_format_parse(NULL, &f), D4_EINVAL);
	ck_assert(d4_export_format_allows(D4_EXPORT_PCAP, 1));
	ck_assert(!d4_export_format_allows(D4_EXPORT_PCAP, 8));
	ck_assert(!d4_export_format_allows(D4_EXPORT_TEXT, 1));
	ck_assert(!d4_export_format_allows(D4_EXPORT_TEXT, 4));
	ck_assert(d4_export_format_allows(D4_EXPORT_TEXT, 8));
	ck_assert(d4_export_format_allows(D4_EXPORT_TEXT, 254));
	ck_assert(d4_export_format_allows(D4_EXPORT_RAW, 4));
	ck_assert(d4_export_format_allows(D4_EXPORT_NDJSON, 1));
	ck_assert_str_eq(d4_export_content_type(D4_EXPORT_PCAP), "application/vnd.tcpdump.pcap");
	ck_assert_str_eq(d4_export_content_type(D4_EXPORT_NDJSON), "application/x-ndjson");
}
END_TEST

START_TEST(test_time_parse)
{
	uint64_t ms;
	ck_assert_int_eq(d4_export_time_parse("0", &ms), D4_OK);
	ck_assert_uint_eq(ms, 0);
	ck_assert_int_eq(d4_export_time_parse("1732550400", &ms), D4_OK);
	ck_assert_uint_eq(ms, 1732550400000ull);
	ck_assert_int_eq(d4_export_time_parse("1.25", &ms), D4_OK);
	ck_assert_uint_eq(ms, 1250);
	ck_assert_int_eq(d4_export_time_parse("2024-11-25T16:00:00Z", &ms), D4_OK);
	ck_assert_uint_eq(ms, 1732550400000ull);
	ck_assert_int_eq(d4_export_time_parse("2024-11-25T16:00:00.5Z", &ms), D4_OK);
	ck_assert_uint_eq(ms, 1732550400500ull);
	ck_assert_int_eq(d4_export_time_parse("2024-11-25T16:00:00+00:00", &ms), D4_OK);
	ck_assert_uint_eq(ms, 1732550400000ull);
	ck_assert_int_eq(d4_export_time_parse("2024-02-29", &ms), D4_OK);
	ck_assert_uint_eq(ms, 1709164800000ull);
	ck_assert_int_eq(d4_export_time_parse("1970-01-01T00:00:00Z", &ms), D4_OK);
	ck_assert_uint_eq(ms, 0);
	const char *bad[] = {"",
			     "-1",
			     "1.",
			     "1.x",
			     "12a",
			     "2023-02-29",
			     "2024-13-01",
			     "2024-11-25T25:00:00Z",
			     "2024-11-25T16:00:00",
			     "2024-11-25 16:00:00Z",
			     "2024-11-25T16:00:00+02:00",
			     "999999999999",
			     "yesterday"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(d4_export_time_parse(bad[i], &ms) == D4_EINVAL, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(test_ndjson_line)
{
	struct d4_frame_rec r;
	memset(&r, 0, sizeof(r));
	r.seq = 42;
	r.session = 7;
	for (int i = 0; i < 16; i++) {
		r.uuid[i] = (uint8_t)(0x10 + i);
		r.org[i] = (uint8_t)(0xa0 + i);
	}
	r.type = 254;
	r.version = 1;
	r.tlp = 1; /* tlp:clear */
	r.hdr_ts = 1732550400;
	r.recv_ms = 1732550400123ull;
	r.size = 4;
	const uint8_t payload[] = {'a', 'b', 'c', 0xff};
	char out[2048];
	size_t n = d4_export_ndjson_line(&r, "ja3\"x\xc3", payload, out, sizeof(out));
	ck_assert_uint_gt(n, 0);
	out[n] = '\0';
	ck_assert_str_eq(
	    out, "{\"seq\":42,\"session\":7,\"sensor\":\"101112131415161718191a1b1c1d1e1f\",\"type\":254,\"version\":1,"
		 "\"ext_type\":\"ja3\\\"x\\ufffd\",\"tlp\":\"tlp:clear\",\"org\":"
		 "\"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\",\"hdr_ts\":1732550400,\"recv_ts\":\"2024-11-25T16:00:"
		 "00.123Z\",\"size\":4,\"payload_b64\":\"YWJj/w==\"}\n");
	/* no ext type: null; an empty payload */
	r.size = 0;
	n = d4_export_ndjson_line(&r, "", payload, out, sizeof(out));
	out[n] = '\0';
	ck_assert_ptr_nonnull(strstr(out, "\"ext_type\":null,"));
	ck_assert_ptr_nonnull(strstr(out, "\"payload_b64\":\"\"}\n"));
	/* a buffer below the documented bound is refused, not overrun */
	ck_assert_uint_eq(d4_export_ndjson_line(&r, NULL, payload, out, d4_export_ndjson_max(0) - 1), 0);
}
END_TEST

/* A little-endian pcap: global header + records of the given lengths. */
static size_t make_pcap(uint8_t *out, const uint32_t *lens, size_t n, uint32_t linktype)
{
	static const uint8_t gh[24] = {0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
	size_t o = 24;
	memcpy(out, gh, 24);
	out[20] = (uint8_t)linktype;
	for (size_t i = 0; i < n; i++) {
		memset(out + o, 0, 16);
		out[o] = (uint8_t)i; /* ts_sec: the record's index */
		for (int k = 0; k < 4; k++) {
			out[o + 8 + k] = (uint8_t)(lens[i] >> (8 * k));
			out[o + 12 + k] = (uint8_t)(lens[i] >> (8 * k));
		}
		memset(out + o + 16, 0x40 + (int)i, lens[i]);
		o += 16 + lens[i];
	}
	return o;
}

struct got {
	uint8_t buf[8192];
	size_t len;
	unsigned n;
};

static int collect(void *ctx, const uint8_t *rec, size_t len)
{
	struct got *g = ctx;
	ck_assert_uint_le(g->len + len, sizeof(g->buf));
	memcpy(g->buf + g->len, rec, len);
	g->len += len;
	g->n++;
	return 0;
}

START_TEST(test_pcap_ghdr)
{
	uint8_t f[64];
	uint32_t lens[1] = {0};
	make_pcap(f, lens, 0, 1);
	uint32_t lt, sl;
	int be;
	ck_assert_int_eq(d4_pcap_ghdr_parse(f, &lt, &sl, &be), 1);
	ck_assert_uint_eq(lt, 1);
	ck_assert_uint_eq(sl, 65535);
	ck_assert_int_eq(be, 0);
	/* big-endian nanosecond file */
	static const uint8_t bh[24] = {0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4, 0, 0, 0, 0,
				       0,    0,	   0,	 0,    0, 4, 0, 0, 0, 0, 0, 101};
	ck_assert_int_eq(d4_pcap_ghdr_parse(bh, &lt, &sl, &be), 1);
	ck_assert_uint_eq(lt, 101);
	ck_assert_uint_eq(sl, 262144);
	ck_assert_int_eq(be, 1);
	/* pcapng section header block: not pcap */
	static const uint8_t ng[24] = {0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a};
	ck_assert_int_eq(d4_pcap_ghdr_parse(ng, &lt, &sl, &be), 0);
	f[4] = 3; /* major version 3 */
	ck_assert_int_eq(d4_pcap_ghdr_parse(f, &lt, &sl, &be), 0);
}
END_TEST

START_TEST(test_pcap_split_any_cut)
{
	uint8_t f[4096];
	uint32_t lens[] = {60, 1, 0, 300, 42};
	size_t n = make_pcap(f, lens, 5, 1);
	/* every cut into two pieces, and byte by byte, gives the same records */
	for (size_t cut = 0; cut <= n; cut++) {
		struct d4_pcap_split s;
		struct got g = {.len = 0, .n = 0};
		d4_pcap_split_init(&s);
		ck_assert_int_eq(d4_pcap_split_feed(&s, f, cut, 1, collect, &g), D4_OK);
		ck_assert_int_eq(d4_pcap_split_feed(&s, f + cut, n - cut, 1, collect, &g), D4_OK);
		d4_pcap_split_free(&s);
		ck_assert_uint_eq(g.n, 5);
		ck_assert_uint_eq(g.len, n - 24);
		ck_assert_int_eq(memcmp(g.buf, f + 24, n - 24), 0);
	}
	struct d4_pcap_split s;
	struct got g = {.len = 0, .n = 0};
	d4_pcap_split_init(&s);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(d4_pcap_split_feed(&s, f + i, 1, 1, collect, &g), D4_OK);
	d4_pcap_split_free(&s);
	ck_assert_uint_eq(g.n, 5);
	ck_assert_int_eq(memcmp(g.buf, f + 24, n - 24), 0);
}
END_TEST

START_TEST(test_pcap_split_keep_and_truncation)
{
	uint8_t f[4096];
	uint32_t lens[] = {10, 20, 30};
	size_t n = make_pcap(f, lens, 3, 1);
	size_t r0 = 24, r1 = r0 + 16 + 10, r2 = r1 + 16 + 20;
	struct d4_pcap_split s;
	struct got g = {.len = 0, .n = 0};
	d4_pcap_split_init(&s);
	/* the frame holding record 0's start is out of range; record 1 starts
	 * in a kept frame; record 2 is cut off by the end of the session */
	ck_assert_int_eq(d4_pcap_split_feed(&s, f, r1 - 3, 0, collect, &g), D4_OK);
	ck_assert_int_eq(d4_pcap_split_feed(&s, f + r1 - 3, r2 + 5 - (r1 - 3), 1, collect, &g), D4_OK);
	ck_assert_int_eq(d4_pcap_split_feed(&s, f + r2 + 5, n - 1 - (r2 + 5), 1, collect, &g), D4_OK);
	d4_pcap_split_free(&s);
	ck_assert_uint_eq(g.n, 1);
	ck_assert_uint_eq(g.len, 16 + 20);
	ck_assert_int_eq(memcmp(g.buf, f + r1, 16 + 20), 0);
}
END_TEST

START_TEST(test_pcap_split_corrupt)
{
	uint8_t f[256];
	uint32_t lens[] = {10};
	make_pcap(f, lens, 1, 1);
	struct d4_pcap_split s;
	struct got g = {.len = 0, .n = 0};
	/* a record longer than any pcap allows */
	f[24 + 11] = 0x7f;
	d4_pcap_split_init(&s);
	ck_assert_int_eq(d4_pcap_split_feed(&s, f, 24 + 16, 1, collect, &g), D4_ECORRUPT);
	d4_pcap_split_free(&s);
	/* not a pcap at all */
	memset(f, 'x', 64);
	d4_pcap_split_init(&s);
	ck_assert_int_eq(d4_pcap_split_feed(&s, f, 64, 1, collect, &g), D4_ECORRUPT);
	d4_pcap_split_free(&s);
	ck_assert_uint_eq(g.n, 0);
}
END_TEST

static Suite *export_suite(void)
{
	Suite *s = suite_create("api_export");
	TCase *tc = tcase_create("formatters");
	tcase_add_test(tc, test_format_rules);
	tcase_add_test(tc, test_time_parse);
	tcase_add_test(tc, test_ndjson_line);
	tcase_add_test(tc, test_pcap_ghdr);
	tcase_add_test(tc, test_pcap_split_any_cut);
	tcase_add_test(tc, test_pcap_split_keep_and_truncation);
	tcase_add_test(tc, test_pcap_split_corrupt);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(export_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
