/* Unit tests for hub/common: bounded reader, hex/uuid helpers, errors. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "d4_error.h"
#include "d4_reader.h"
#include "d4_util.h"

START_TEST(reader_reads_in_order)
{
	const uint8_t buf[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
			       0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
	struct d4_reader r;
	d4_rd_init(&r, buf, sizeof(buf));
	ck_assert_uint_eq(d4_rd_u8(&r), 0x01);
	ck_assert_uint_eq(d4_rd_u16be(&r), 0x0203);
	ck_assert_uint_eq(d4_rd_u32le(&r), 0x07060504u);
	ck_assert_uint_eq(d4_rd_u64be(&r), 0x08090a0b0c0d0e0fULL);
	ck_assert_uint_eq(d4_rd_left(&r), 0);
	ck_assert_int_eq(d4_rd_error(&r), 0);
}
END_TEST

START_TEST(reader_error_is_sticky)
{
	const uint8_t buf[] = {0xff, 0xff, 0xff};
	struct d4_reader r;
	d4_rd_init(&r, buf, sizeof(buf));
	ck_assert_uint_eq(d4_rd_u32be(&r), 0); /* short read returns zero */
	ck_assert_int_eq(d4_rd_error(&r), D4_ETRUNC);
	/* a later read that would fit still fails: the error is sticky */
	ck_assert_uint_eq(d4_rd_u8(&r), 0);
	ck_assert_ptr_null(d4_rd_ptr(&r, 1));
	ck_assert_uint_eq(d4_rd_left(&r), 0);
	uint8_t out[2] = {9, 9};
	d4_rd_copy(&r, out, 2);
	ck_assert_uint_eq(out[0], 0);
	ck_assert_uint_eq(out[1], 0);
}
END_TEST

START_TEST(reader_need_checks_declared_size)
{
	const uint8_t buf[8] = {0};
	struct d4_reader r;
	d4_rd_init(&r, buf, sizeof(buf));
	ck_assert_int_eq(d4_rd_need(&r, 8), 1);
	ck_assert_int_eq(d4_rd_need(&r, SIZE_MAX), 0);
	ck_assert_int_eq(d4_rd_error(&r), D4_ETRUNC);
}
END_TEST

START_TEST(put_get_roundtrip)
{
	uint8_t b[8];
	d4_put_u64be(b, 0x0102030405060708ULL);
	ck_assert_uint_eq(b[0], 1);
	ck_assert_uint_eq(d4_get_u64be(b), 0x0102030405060708ULL);
	d4_put_u64le(b, 0x0102030405060708ULL);
	ck_assert_uint_eq(b[0], 8);
	d4_put_u32be(b, 0xdeadbeef);
	ck_assert_uint_eq(d4_get_u32be(b), 0xdeadbeef);
	d4_put_u32le(b, 0xdeadbeef);
	ck_assert_uint_eq(b[0], 0xef);
}
END_TEST

START_TEST(hex_and_uuid)
{
	uint8_t u[16];
	char hex[33];
	ck_assert_int_eq(d4_uuid_parse("d42967c1-f7ad-464e-bbc7-4464c653d7a6", u), 0);
	d4_uuid_hex(u, hex);
	ck_assert_str_eq(hex, "d42967c1f7ad464ebbc74464c653d7a6");
	ck_assert_int_eq(d4_uuid_is_v4(u), 1);
	ck_assert_int_eq(d4_uuid_parse("D42967C1F7AD464EBBC74464C653D7A6", u), 0);
	ck_assert_int_eq(d4_uuid_parse("d42967c1f7ad464ebbc74464c653d7a", u), D4_EINVAL);
	ck_assert_int_eq(d4_uuid_parse("d42967c1-f7ad-464e-bbc7x4464c653d7a6", u), D4_EINVAL);
	ck_assert_int_eq(d4_uuid_parse("g42967c1f7ad464ebbc74464c653d7a6", u), D4_EINVAL);
	ck_assert_int_eq(d4_uuid_parse("", u), D4_EINVAL);
	/* version 1 uuid is not v4; wrong variant is not v4 */
	ck_assert_int_eq(d4_uuid_parse("d42967c1f7ad164ebbc74464c653d7a6", u), 0);
	ck_assert_int_eq(d4_uuid_is_v4(u), 0);
	ck_assert_int_eq(d4_uuid_parse("d42967c1f7ad464e7bc74464c653d7a6", u), 0);
	ck_assert_int_eq(d4_uuid_is_v4(u), 0);
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(d4_uuid_gen_v4(u), 0);
		ck_assert_int_eq(d4_uuid_is_v4(u), 1);
	}
}
END_TEST

START_TEST(ct_equal_and_strlcpy)
{
	ck_assert_int_eq(d4_ct_equal("abcd", "abcd", 4), 1);
	ck_assert_int_eq(d4_ct_equal("abcd", "abce", 4), 0);
	char small[4];
	ck_assert_int_eq(d4_strlcpy(small, "abc", sizeof(small)), 0);
	ck_assert_str_eq(small, "abc");
	ck_assert_int_eq(d4_strlcpy(small, "abcdef", sizeof(small)), D4_ETOOBIG);
	ck_assert_str_eq(small, "abc");
	char secret[8] = "secret!";
	d4_wipe(secret, sizeof(secret));
	for (size_t i = 0; i < sizeof(secret); i++)
		ck_assert_int_eq(secret[i], 0);
}
END_TEST

START_TEST(utf8_sequences)
{
	const uint8_t *u = (const uint8_t *)"a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	ck_assert_uint_eq(d4_utf8_seq(u, 10), 1);
	ck_assert_uint_eq(d4_utf8_seq(u + 1, 9), 2);
	ck_assert_uint_eq(d4_utf8_seq(u + 3, 7), 3);
	ck_assert_uint_eq(d4_utf8_seq(u + 6, 4), 4);
	ck_assert_uint_eq(d4_utf8_seq(u + 6, 3), 0);				   /* cut short */
	ck_assert_uint_eq(d4_utf8_seq((const uint8_t *)"\xc0\xaf", 2), 0);	   /* overlong */
	ck_assert_uint_eq(d4_utf8_seq((const uint8_t *)"\xe0\x80\xaf", 3), 0);	   /* overlong */
	ck_assert_uint_eq(d4_utf8_seq((const uint8_t *)"\xed\xa0\x80", 3), 0);	   /* surrogate */
	ck_assert_uint_eq(d4_utf8_seq((const uint8_t *)"\xf4\x90\x80\x80", 4), 0); /* > U+10FFFF */
	ck_assert_uint_eq(d4_utf8_seq((const uint8_t *)"\xc3", 4), 0);		   /* NUL ends it */
	ck_assert_uint_eq(d4_utf8_seq((const uint8_t *)"\x80", 1), 0);
	ck_assert_uint_eq(d4_utf8_seq((const uint8_t *)"x", 0), 0);
}
END_TEST

START_TEST(json_depth_scan)
{
	static const char ok3[] = "{\"a\":[{\"b\":1}]}";
	ck_assert_int_eq(d4_json_depth_ok(ok3, strlen(ok3), 3), 1);
	ck_assert_int_eq(d4_json_depth_ok(ok3, strlen(ok3), 2), 0);
	/* brackets inside strings, also after an escaped quote, do not count */
	static const char str[] = "{\"k\":\"[[[\\\"[[[{{{\"}";
	ck_assert_int_eq(d4_json_depth_ok(str, strlen(str), 1), 1);
	/* a closer without an opener is never JSON */
	ck_assert_int_eq(d4_json_depth_ok("]", 1, 8), 0);
	ck_assert_int_eq(d4_json_depth_ok("{}}{", 4, 8), 0);
	ck_assert_int_eq(d4_json_depth_ok("", 0, 0), 1);
}
END_TEST

START_TEST(strerror_covers_every_code)
{
	for (int e = 0; e > D4_E_LAST; e--) {
		const char *s = d4_strerror(e);
		ck_assert_ptr_nonnull(s);
		ck_assert_str_ne(s, "unknown error");
	}
	ck_assert_str_eq(d4_strerror(-9999), "unknown error");
}
END_TEST

static Suite *common_suite(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, reader_reads_in_order);
	tcase_add_test(tc, reader_error_is_sticky);
	tcase_add_test(tc, reader_need_checks_declared_size);
	tcase_add_test(tc, put_get_roundtrip);
	tcase_add_test(tc, hex_and_uuid);
	tcase_add_test(tc, ct_equal_and_strlcpy);
	tcase_add_test(tc, strerror_covers_every_code);
	tcase_add_test(tc, json_depth_scan);
	tcase_add_test(tc, utf8_sequences);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(common_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
