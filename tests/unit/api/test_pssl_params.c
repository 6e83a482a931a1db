/* Check suite for the passive-SSL query parameters, value parsers and sealed
 * cursors (api/pssl_query.c): addresses, networks and ranges of both
 * families, the CIRCL size bound, every pivot and its refusals (hash length
 * and hex, JA4, names, moduli), reversed fences and ranges, the RFC 4514 to
 * CIRCL name order, and cursors that open only for the query and clearance
 * they were sealed for. */
#include "api_pssl.h"
#include "d4_error.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#define NOW 1765065600u

static struct d4_api_pssl_params P;
static char err[320];

static int parse(int certs, uint8_t clr, const char *qs)
{
	static char buf[8192];
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
	return d4_api_pssl_parse(certs ? D4_API_PSSL_CERTS : D4_API_PSSL_TUPLES, names, values, n, clr, NOW, &P, err,
				 sizeof(err));
}

static uint64_t span(const char *s, int range)
{
	uint8_t lo[16], hi[16];
	if (d4_api_pssl_parse_ip(s, strlen(s), range, lo, hi))
		return 0;
	return d4_api_pssl_span(lo, hi);
}

START_TEST(addresses)
{
	ck_assert_uint_eq(span("192.0.2.1", 0), 1);
	ck_assert_uint_eq(span("192.0.2.0/23", 0), 512);
	ck_assert_uint_eq(span("192.0.2.0/22", 0), 1024);
	ck_assert_uint_eq(span("192.0.2.77/24", 0), 256); /* host bits ignored, as CIRCL's netaddr */
	ck_assert_uint_eq(span("2001:db8::/119", 0), 512);
	ck_assert_uint_eq(span("2001:db8::/64", 0), UINT64_MAX); /* saturates */
	ck_assert_uint_eq(span("0.0.0.0/0", 0), 1ull << 32);
	ck_assert_uint_eq(span("192.0.2.1-192.0.2.10", 1), 10);
	ck_assert_uint_eq(span("2001:db8::1-2001:db8::1", 1), 1);
	/* refused: 0 */
	ck_assert_uint_eq(span("192.0.2.1-192.0.2.10", 0), 0);	/* ranges only where allowed */
	ck_assert_uint_eq(span("192.0.2.10-192.0.2.1", 1), 0);	/* reversed */
	ck_assert_uint_eq(span("192.0.2.1-2001:db8::1", 1), 0); /* two families */
	ck_assert_uint_eq(span("192.0.2.0/24-192.0.3.0", 1), 0);
	ck_assert_uint_eq(span("192.0.2.0/33", 0), 0);
	ck_assert_uint_eq(span("2001:db8::/129", 0), 0);
	ck_assert_uint_eq(span("192.0.2.0/", 0), 0);
	ck_assert_uint_eq(span("192.0.2", 0), 0);
	ck_assert_uint_eq(span("example.com", 0), 0);
	ck_assert_uint_eq(span("", 0), 0);
	ck_assert_uint_eq(span("192.0.2.0/024", 0), 0);
}
END_TEST

START_TEST(names_oneline)
{
	char out[256];
	d4_api_pssl_name_oneline("CN=www.example.com,O=Example,C=LU", out, sizeof(out));
	ck_assert_str_eq(out, "C=LU, O=Example, CN=www.example.com");
	d4_api_pssl_name_oneline("CN=a,O=Example\\, Inc.,C=LU", out, sizeof(out));
	ck_assert_str_eq(out, "C=LU, O=Example\\, Inc., CN=a");
	d4_api_pssl_name_oneline("CN=a\\\\,O=b", out, sizeof(out)); /* an escaped backslash, then a boundary */
	ck_assert_str_eq(out, "O=b, CN=a\\\\");
	d4_api_pssl_name_oneline("CN=only", out, sizeof(out));
	ck_assert_str_eq(out, "CN=only");
	d4_api_pssl_name_oneline("", out, sizeof(out));
	ck_assert_str_eq(out, "");
	d4_api_pssl_name_oneline(",,", out, sizeof(out));
	ck_assert_str_eq(out, ", , ");
	ck_assert_uint_eq(d4_api_pssl_name_oneline("CN=abcdef,O=x", out, 6), 5);
	ck_assert_str_eq(out, "O=x, ");
}
END_TEST

START_TEST(tuple_pivots)
{
	ck_assert_int_eq(parse(0, 4, ""), 0);
	ck_assert_int_eq(P.q.by, D4_PSSL_BY_RECENT);
	ck_assert_uint_eq(P.q.limit, 100);
	ck_assert_uint_eq(P.q.max_tlp, 4);
	ck_assert_ptr_null(P.q.key);
	ck_assert_int_eq(parse(0, 4, "ip=192.0.2.0/24&port=443&limit=5"), 0);
	ck_assert_int_eq(P.q.by, D4_PSSL_BY_IP);
	ck_assert_uint_eq(P.q.has_port, 1);
	ck_assert_uint_eq(P.q.port, 443);
	ck_assert_uint_eq(P.q.limit, 5);
	ck_assert_uint_eq(d4_api_pssl_span(P.q.ip_lo, P.q.ip_hi), 256);
	ck_assert_int_eq(parse(0, 4, "port=8443"), 0);
	ck_assert_int_eq(P.q.by, D4_PSSL_BY_RECENT);
	ck_assert_int_eq(parse(0, 4, "cert=0123456789ABCDEF0123456789abcdef01234567"), 0);
	ck_assert_int_eq(P.q.by, D4_PSSL_BY_CERT);
	ck_assert_uint_eq(P.q.key_len, 20);
	ck_assert_uint_eq(P.q.key[0], 0x01);
	ck_assert_uint_eq(P.q.key[5], 0xab);
	ck_assert_int_eq(parse(0, 4, "ja3s=895252f3ce80cebf7a8837be83ec8e16"), 0);
	ck_assert_int_eq(P.q.by, D4_PSSL_BY_JA3S);
	ck_assert_uint_eq(P.q.key_len, 16);
	ck_assert_int_eq(parse(0, 4, "ja4=t13d1516h2_8daaf6152771_e5627efa2ab1"), 0);
	ck_assert_int_eq(P.q.by, D4_PSSL_BY_JA4);
	ck_assert_mem_eq(P.q.key, "t13d1516h2_8daaf6152771_e5627efa2ab1", 36);
	ck_assert_int_eq(parse(0, 4, "sni=Test.EXAMPLE"), 0);
	ck_assert_int_eq(P.q.by, D4_PSSL_BY_SNI);
	ck_assert_uint_eq(P.q.key_len, 12);
	ck_assert_mem_eq(P.q.key, "test.example", 12);
	ck_assert_int_eq(parse(0, 4, "time_first_after=-3600&time_last_before=1700000000"), 0);
	ck_assert_uint_eq(P.q.first_after, NOW - 3600);
	ck_assert_uint_eq(P.q.last_before, 1700000000u);
	const char *bad[] = {"cert=0123456789abcdef0123456789abcdef0123456",   /* 39 digits */
			     "cert=0123456789abcdef0123456789abcdef012345678", /* 41 */
			     "cert=g123456789abcdef0123456789abcdef01234567",
			     "ja3=22558766122974704364c9c75c5cce0",
			     "ja3=2255876612297470436 c9c75c5cce0a",
			     "ja4=t13d1516h2_8daaf6152771",
			     "ja4=x13d1516h2_8daaf6152771_e5627efa2ab1",
			     "sni=",
			     "sni=a b",
			     "sni=*.example.com",
			     "ip=192.0.2.0/33",
			     "ip=192.0.2.9-192.0.2.1",
			     "port=65536",
			     "port=-1",
			     "limit=0",
			     "limit=1001",
			     "time_first_after=20&time_first_before=10",
			     "time_last_after=20&time_last_before=10",
			     "time_first_after=yesterday",
			     "ip=192.0.2.1&sni=a.example",
			     "spki=00",
			     "sort=x",
			     "limit=1&limit=2",
			     "cursor=AAAA",
			     NULL};
	for (int i = 0; bad[i]; i++) {
		ck_assert_msg(parse(0, 4, bad[i]) == D4_EINVAL, "accepted: %s", bad[i]);
		ck_assert_msg(err[0] != '\0', "no reason for %s", bad[i]);
	}
}
END_TEST

START_TEST(cert_pivots)
{
	ck_assert_int_eq(parse(1, 6, ""), 0);
	ck_assert_int_eq(P.q.by, D4_PSSL_CERTS_RECENT);
	ck_assert_int_eq(parse(1, 6, "spki=00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff"), 0);
	ck_assert_int_eq(P.q.by, D4_PSSL_CERTS_BY_SPKI);
	ck_assert_uint_eq(P.q.key_len, 32);
	ck_assert_int_eq(parse(1, 6, "sha256=00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff"), 0);
	ck_assert_int_eq(P.q.by, D4_PSSL_CERTS_BY_SHA256);
	ck_assert_int_eq(parse(1, 6, "modulus=000c0ffee1"), 0); /* leading zeros dropped, odd digit count */
	ck_assert_int_eq(P.q.by, D4_PSSL_CERTS_BY_MODULUS);
	ck_assert_uint_eq(P.q.key_len, 4);
	ck_assert_mem_eq(P.q.key, "\x0c\x0f\xfe\xe1", 4);
	ck_assert_int_eq(parse(1, 6, "key=258"), 0);
	ck_assert_int_eq(P.q.by, D4_PSSL_CERTS_BY_KEY);
	ck_assert_mem_eq(P.q.key, "\0\0\0\0\0\0\x01\x02", 8);
	ck_assert_int_eq(parse(1, 6, "name=WWW.Example.com"), 0);
	ck_assert_int_eq(P.q.by, D4_PSSL_CERTS_BY_NAME);
	ck_assert_mem_eq(P.q.key, "www.example.com", 15);
	ck_assert_int_eq(parse(1, 6, "name=*.example.com"), 0);
	ck_assert_int_eq(P.q.by, D4_PSSL_CERTS_BY_NAME_LEFT);
	ck_assert_uint_eq(P.q.key_len, 11);
	ck_assert_mem_eq(P.q.key, "example.com", 11);
	ck_assert_int_eq(parse(1, 6, "issuer=CN=Test CA,O=Example"), 0);
	ck_assert_int_eq(P.q.by, D4_PSSL_CERTS_BY_ISSUER);
	ck_assert_uint_eq(P.q.key_len, 20);
	const char *bad[] = {"spki=0011",  "sha256=xyz",   "modulus=", "modulus=0",
			     "modulus=00", "modulus=12g4", "key=0",    "key=-1",
			     "key=abc",	   "name=",	   "name=*.",  "name=a*b.example",
			     "issuer=",	   "ip=192.0.2.1", "port=443", "name=a.example&key=1",
			     NULL};
	for (int i = 0; bad[i]; i++)
		ck_assert_msg(parse(1, 6, bad[i]) == D4_EINVAL, "accepted: %s", bad[i]);
	char big[4200] = "modulus=";
	memset(big + 8, 'f', 4097);
	big[8 + 4097] = '\0';
	ck_assert_int_eq(parse(1, 6, big), D4_EINVAL); /* above 16384 bits */
	big[8 + 4096] = '\0';
	ck_assert_int_eq(parse(1, 6, big), 0);
	ck_assert_uint_eq(P.q.key_len, 2048);
}
END_TEST

START_TEST(cursors)
{
	static struct d4_api_pssl_params a;
	char cur[D4_API_PSSL_CURSOR_TEXT], qs[1024];
	const uint8_t r[5] = {1, 2, 3, 4, 5};
	ck_assert_int_eq(parse(0, 4, "sni=test.example&limit=2"), 0);
	a = P;
	d4_api_pssl_fix(&a);
	ck_assert_int_eq(d4_api_pssl_cursor_seal(&a, r, sizeof(r), cur), 0);
	snprintf(qs, sizeof(qs), "sni=test.example&limit=7&cursor=%s", cur); /* another limit: same query */
	ck_assert_int_eq(parse(0, 4, qs), 0);
	ck_assert_ptr_nonnull(P.q.resume);
	ck_assert_uint_eq(P.q.resume_len, 5);
	ck_assert_mem_eq(P.q.resume, r, 5);
	ck_assert_int_eq(parse(0, 6, qs), D4_EINVAL); /* another clearance */
	snprintf(qs, sizeof(qs), "sni=other.example&cursor=%s", cur);
	ck_assert_int_eq(parse(0, 4, qs), D4_EINVAL); /* another key */
	snprintf(qs, sizeof(qs), "sni=test.example&port=1&cursor=%s", cur);
	ck_assert_int_eq(parse(0, 4, qs), D4_EINVAL); /* another filter */
	snprintf(qs, sizeof(qs), "sni=test.example&cursor=%s", cur);
	ck_assert_int_eq(parse(1, 4, qs), D4_EINVAL); /* not a pivot of certificates */
	size_t n = strlen(cur);
	cur[n - 1] = cur[n - 1] == 'A' ? 'B' : 'A';
	snprintf(qs, sizeof(qs), "sni=test.example&cursor=%s", cur);
	ck_assert_int_eq(parse(0, 4, qs), D4_EINVAL);
	ck_assert_ptr_null(strstr(err, cur)); /* the reason never quotes the cursor */
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("api_pssl_params");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, addresses);
	tcase_add_test(tc, names_oneline);
	tcase_add_test(tc, tuple_pivots);
	tcase_add_test(tc, cert_pivots);
	tcase_add_test(tc, cursors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
