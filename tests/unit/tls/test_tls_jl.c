/* Unit tests of the ja3-jl lines (d4_tls_jl_write, d4_tls_jl_parse): real
 * lines of both producers — the original D4 TLS sensor (Go), rebuilt here
 * member by member from its source (docs/passivessl.md names the files),
 * and d4-sensor --extract tls over tests/data/tls/openssl-lo.pcap
 * (tests/data/tls/ja3-jl/openssl-lo.d4hub.jsonl) — a write/parse round
 * trip, and the rejections. */
#include "d4_error.h"
#include "d4_tls.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct d4_tls_jl jl;
static uint8_t der[1 << 20];

static int parse(const char *s)
{
	return d4_tls_jl_parse((const uint8_t *)s, strlen(s), &jl, der, sizeof(der));
}

static int is_v4(const uint8_t ip[16], unsigned a, unsigned b, unsigned c, unsigned d)
{
	static const uint8_t pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return !memcmp(ip, pre, 12) && ip[12] == a && ip[13] == b && ip[14] == c && ip[15] == d;
}

/* The fixture's P-256 certificate (CN ec.test), as the sensor wrote it. */
#define EC_CERT_B64                                                                                                    \
	"MIIBjTCCATOgAwIBAgIUPE3Ht6uGR0bmUqbV20gp2Zgw4rQwCgYIKoZIzj0EAwIwEjEQMA4GA1UEAwwHZWMudGVzdDAeFw0yNjEyMDcxNTAz" \
	"MDN"                                                                                                          \
	"aFw0yNjEyMDkxNTAzMDNaMBIxEDAOBgNVBAMMB2VjLnRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQHF4NMtWgkEuSQOHq+"        \
	"7l98LMUQXTM8"                                                                                                 \
	"xW6gb2EmRAjlJIDdioB1gFJugbkoyHWrqXiGtSSzuZKgsXtWyHET7tjqo2cwZTAdBgNVHQ4EFgQUVTTkSIGQZrU86fnVVSiUm6AMoP4wHwYD" \
	"VR0jBBg"                                                                                                      \
	"wFoAUVTTkSIGQZrU86fnVVSiUm6AMoP4wDwYDVR0TAQH/BAUwAwEB/"                                                       \
	"zASBgNVHREECzAJggdlYy50ZXN0MAoGCCqGSM49BAMCA0gAMEUCIQC5z4RC3m"                                                \
	"VWa3y2tseMOkC8XGQu3ZhLKX5bsszz8nszVQIgYzB4u5gTnd9KNBy8zV8+d4QHo2oLlOpHf0VgC9J0LJM="
#define EC_CERT_SHA256 "1367c494a721fd961911a14f1b64d95313b20d59977c521c211e79c05dc4603f"

/* A Go sensor line. Members and their sources:
 *  - names, order and types of the top level: sessionRecord in
 *    sensor-d4-tls-fingerprinting d4tls/d4tls.go (no JSON tags, so Go's
 *    field names; ports are strings; Timestamp a time.Time, which Go writes
 *    as RFC 3339 with nanoseconds and the capture's local offset);
 *  - JA3 with a trailing '-' after a skipped trailing GREASE value and the
 *    GREASE curve 2570 kept: the ja3() loop of d4tls/d4tls.go;
 *  - TLSH: d4fg() of d4tls/d4tls.go (glaslos/tlsh, hex);
 *  - Certificates: []certMapElm of d4tls/d4tls.go — CertHash (SHA-256 hex
 *    of cert.Raw, PopulateCertificate) and the embedded *x509.Certificate,
 *    whose exported fields Go's encoding/json promotes: Raw and the other
 *    []byte fields in base64, big.Int (SerialNumber, key coordinates) as
 *    bare numbers, pkix.Name objects, times as RFC 3339 (abridged here to a
 *    representative set of those fields, shapes as Go writes them);
 *  - consumed by analyzer-d4-passivessl main.go (the same sessionRecord,
 *    json.Unmarshal) and d4-core's ja3-jl worker
 *    (server/workers/workers_2/meta_types_modules/ja3-jl/ja3-jl.py:
 *    Certificates[i]["Raw"], Timestamp). */
#define GO_LINE                                                                                                        \
	"{\"ServerIP\":\"192.0.2.10\",\"ServerPort\":\"443\",\"ClientIP\":\"198.51.100.7\",\"ClientPort\":\"51234\","  \
	"\"TLSH\":\"a7e01b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b\","                         \
	"\"Timestamp\":\"2019-03-20T14:05:09.123456789+01:00\","                                                       \
	"\"JA3\":\"771,4865-4866-4867-49195-49199-,0-23-65281-10-11-35-16-5-13-18-51-45-43-27-,2570-29-23-24,0\","     \
	"\"JA3Digest\":\"55c6a31669ad5a4323158c72db881d8f\",\"JA3S\":\"771,4865,51-43\","                              \
	"\"JA3SDigest\":\"eb1d94daa7e0344597e756a1fb6e7054\","                                                         \
	"\"Certificates\":[{\"CertHash\":\"" EC_CERT_SHA256 "\",\"Raw\":\"" EC_CERT_B64 "\","                          \
	"\"RawSubject\":\"MBIxEDAOBgNVBAMMB2VjLnRlc3Q=\",\"RawIssuer\":\"MBIxEDAOBgNVBAMMB2VjLnRlc3Q=\","              \
	"\"SignatureAlgorithm\":10,\"PublicKeyAlgorithm\":3,"                                                          \
	"\"PublicKey\":{\"Curve\":{\"P\":"                                                                             \
	"115792089210356248762697446949407573530086143415290314195533631308867097853951,"                              \
	"\"BitSize\":256,\"Name\":\"P-256\"},"                                                                         \
	"\"X\":3180063917465423512233618423917404233917404289357513451998203216399614706409,"                          \
	"\"Y\":16593591018398212347226734620099474393095734612009598870010009937154236455146},"                        \
	"\"Version\":3,\"SerialNumber\":345867023911563713837434734826376016815826952884,"                             \
	"\"Issuer\":{\"Country\":null,\"Organization\":null,\"SerialNumber\":\"\",\"CommonName\":\"ec.test\","         \
	"\"Names\":[{\"Type\":[2,5,4,3],\"Value\":\"ec.test\"}],\"ExtraNames\":null},"                                 \
	"\"Subject\":{\"Country\":null,\"CommonName\":\"ec.test\",\"Names\":[{\"Type\":[2,5,4,3],\"Value\":\"ec."      \
	"test\"}]},"                                                                                                   \
	"\"NotBefore\":\"2026-12-07T15:03:03Z\",\"NotAfter\":\"2026-12-09T15:03:03Z\",\"KeyUsage\":0,"                 \
	"\"Extensions\":[{\"Id\":[2,5,29,19],\"Critical\":true,\"Value\":\"MAMBAf8=\"}],\"ExtKeyUsage\":null,"         \
	"\"BasicConstraintsValid\":true,\"IsCA\":true,\"MaxPathLen\":-1,\"MaxPathLenZero\":false,"                     \
	"\"DNSNames\":[\"ec.test\"],\"IPAddresses\":null,\"PolicyIdentifiers\":null}]}"

START_TEST(go_line)
{
	ck_assert_int_eq(parse(GO_LINE "\n"), 0);
	ck_assert_int_eq(jl.producer, D4_TLS_JL_GO);
	ck_assert_int_eq(jl.server_ipver, 4);
	ck_assert(is_v4(jl.server_ip, 192, 0, 2, 10));
	ck_assert(is_v4(jl.client_ip, 198, 51, 100, 7));
	ck_assert_uint_eq(jl.server_port, 443);
	ck_assert_uint_eq(jl.client_port, 51234);
	/* 14:05:09.123456789+01:00 = 13:05:09.123456 UTC (nanoseconds cut) */
	ck_assert_uint_eq(jl.ts_us, 1553087109123456ull);
	ck_assert_str_eq(jl.ja3,
			 "771,4865-4866-4867-49195-49199-,0-23-65281-10-11-35-16-5-13-18-51-45-43-27-,2570-29-23-24,0");
	ck_assert_str_eq(jl.ja3_md5, "55c6a31669ad5a4323158c72db881d8f");
	ck_assert_str_eq(jl.ja3s, "771,4865,51-43");
	ck_assert_str_eq(jl.ja3s_md5, "eb1d94daa7e0344597e756a1fb6e7054");
	ck_assert_str_eq(jl.tlsh, "a7e01b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b");
	ck_assert_str_eq(jl.ja4, "");
	ck_assert_int_eq(jl.has_sni, 0);
	ck_assert_uint_eq(jl.n_certs, 1);
	ck_assert_uint_eq(jl.certs[0].len, 401);
	ck_assert_uint_eq(jl.certs[0].der[0], 0x30);
	ck_assert_int_eq(jl.cert_has_hash[0], 1);
	ck_assert_uint_eq(jl.cert_sha256[0][0], 0x13);
	ck_assert_uint_eq(jl.cert_sha256[0][31], 0x3f);
}
END_TEST

/* The Go sensor's stdout: json.MarshalIndent(t.Record, "", "    ") in
 * output() of sensor-d4-tls-fingerprinting d4-tlsf.go; IPv6 as Go's
 * net.IP prints it; a chain-less session (Certificates: null). */
START_TEST(go_indented_ipv6_null_certs)
{
	const char *s = "{\n"
			"    \"ServerIP\": \"2001:db8::1\",\n"
			"    \"ServerPort\": \"8443\",\n"
			"    \"ClientIP\": \"2001:db8::2:1\",\n"
			"    \"ClientPort\": \"40000\",\n"
			"    \"TLSH\": \"\",\n"
			"    \"Timestamp\": \"2019-03-20T13:05:09Z\",\n"
			"    \"JA3\": \"769,47-53,0-10-11,23-24,0\",\n"
			"    \"JA3Digest\": \"0123456789ABCDEF0123456789abcdef\",\n"
			"    \"JA3S\": \"769,47,\",\n"
			"    \"JA3SDigest\": \"\",\n"
			"    \"Certificates\": null\n"
			"}";
	ck_assert_int_eq(parse(s), 0);
	ck_assert_int_eq(jl.server_ipver, 6);
	ck_assert_int_eq(jl.client_ipver, 6);
	ck_assert_uint_eq(jl.server_ip[0], 0x20);
	ck_assert_uint_eq(jl.server_ip[15], 1);
	ck_assert_uint_eq(jl.server_port, 8443);
	ck_assert_uint_eq(jl.ts_us, 1553087109000000ull);
	ck_assert_str_eq(jl.ja3_md5, "0123456789abcdef0123456789abcdef"); /* lower-cased */
	ck_assert_str_eq(jl.ja3s, "769,47,");
	ck_assert_uint_eq(jl.n_certs, 0);
}
END_TEST

/* Ports as gopacket's TCPPort.String() would print a well-known one, and as
 * JSON numbers; unknown members of any shape, a huge RSA modulus. */
START_TEST(lenient_forms)
{
	char big[800 + 1];
	memset(big, '9', 800);
	big[800] = 0;
	char line[4096];
	snprintf(
	    line, sizeof(line),
	    "{\"ServerIP\":\"10.0.0.1\",\"ServerPort\":\"443(https)\",\"ClientIP\":\"10.0.0.2\",\"ClientPort\":5555,"
	    "\"Timestamp\":\"2019-03-20T08:05:09.5-05:00\",\"x\":{\"N\":%s,\"a\":[true,false,null,[{}]]},"
	    "\"Certificates\":[]}",
	    big);
	ck_assert_int_eq(parse(line), 0);
	ck_assert_uint_eq(jl.server_port, 443);
	ck_assert_uint_eq(jl.client_port, 5555);
	ck_assert_uint_eq(jl.ts_us, 1553087109500000ull);
	ck_assert_int_eq(jl.sni_clipped, 0);
	/* a hostile SNI longer than any host name is cut, not refused */
	memset(big, 'a', 300);
	big[300] = 0;
	snprintf(line, sizeof(line),
		 "{\"ServerIP\":\"10.0.0.1\",\"ServerPort\":\"443\",\"ClientIP\":\"10.0.0.2\","
		 "\"ClientPort\":\"1\",\"Timestamp\":\"2019-03-20T13:05:09Z\",\"sni\":\"%s\"}",
		 big);
	ck_assert_int_eq(parse(line), 0);
	ck_assert(jl.has_sni && jl.sni_clipped && jl.sni_len == D4_TLS_JL_SNI_MAX);
}
END_TEST

/* d4-sensor --extract tls over the fixture capture: the six lines parse
 * and say what d4-tls and tshark say of that capture (it_tls_fixture). */
START_TEST(d4hub_lines)
{
	char path[4096];
	const char *dd = getenv("D4_TEST_DATA");
	snprintf(path, sizeof(path), "%s/tls/ja3-jl/openssl-lo.d4hub.jsonl", dd ? dd : "tests/data");
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s", path);
	static char line[1 << 16];
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		ck_assert_int_eq(parse(line), 0);
		ck_assert_int_eq(jl.producer, D4_TLS_JL_D4HUB);
		ck_assert(is_v4(jl.client_ip, 127, 0, 0, 1) && is_v4(jl.server_ip, 127, 0, 0, 1));
		ck_assert_uint_eq(strlen(jl.ja3_md5), 32);
		ck_assert_uint_eq(strlen(jl.ja3s_md5), 32);
		ck_assert_uint_eq(strlen(jl.ja4), D4_TLS_JA4_LEN);
		if (n == 0) {
			ck_assert_uint_eq(jl.client_port, 50800);
			ck_assert_uint_eq(jl.server_port, 29823);
			ck_assert_uint_eq(jl.ts_us, 1796655784797858ull);
			ck_assert_str_eq(jl.ja4, "t12d2808h2_d943125447b4_e7e480e5a997");
			ck_assert_str_eq(jl.ja3_md5, "22558766122974704364c9c75c5cce0a");
			ck_assert_str_eq(jl.ja3s, "771,49200,65281-11-35-16-23");
			ck_assert(jl.has_sni && jl.sni_len == 8 && !memcmp(jl.sni, "rsa.test", 8));
			ck_assert(jl.server_alpn_len == 2 && !memcmp(jl.server_alpn, "h2", 2));
			ck_assert_uint_eq(jl.cipher, 49200);
			ck_assert_uint_eq(jl.server_version, 771);
			ck_assert_uint_eq(jl.n_certs, 1);
			ck_assert(jl.cert_has_hash[0]);
		}
		if (n == 1) {
			ck_assert_uint_eq(jl.flags, D4_TLS_F_TLS13);
			ck_assert_uint_eq(jl.server_version, 772);
			ck_assert_uint_eq(jl.n_certs, 0);
		}
		if (n == 2) {
			ck_assert_int_eq(jl.has_sni, 0);
			ck_assert_str_eq(jl.ja4, "t12i280600_d943125447b4_e7e480e5a997");
			ck_assert_uint_eq(jl.n_certs, 1);
			ck_assert_uint_eq(jl.certs[0].len, 401);
			ck_assert_uint_eq(jl.cert_sha256[0][0], 0x13);
		}
		n++;
	}
	fclose(f);
	ck_assert_int_eq(n, 6);
}
END_TEST

/* write -> parse: every member survives, hostile SNI bytes included. */
START_TEST(round_trip)
{
	static struct d4_tls_client_hello ch;
	static struct d4_tls_server_hello sh;
	memset(&ch, 0, sizeof(ch));
	memset(&sh, 0, sizeof(sh));
	static const uint8_t sni[] = {'a', '"', '\\', 0x00, 0x7f, 0xc3, 0xff, '\n', 'z'};
	static const uint8_t alpn[] = {2, 'h', '2', 3, 'x', 0x01, 'y'};
	ch.version = 0x0303;
	ch.sni = sni;
	ch.sni_len = sizeof(sni);
	ch.has_sni = 1;
	ch.alpn = alpn;
	ch.alpn_len = sizeof(alpn);
	sh.version = 0x0303;
	sh.selected_version = 0x0304;
	sh.cipher = 0x1301;
	sh.alpn = (const uint8_t *)"h2";
	sh.alpn_len = 2;
	uint8_t c1[300], c2[2];
	for (size_t i = 0; i < sizeof(c1); i++)
		c1[i] = (uint8_t)(i * 7);
	c2[0] = 0xfb;
	c2[1] = 0xff;
	struct d4_tls_cert certs[2] = {{c1, sizeof(c1)}, {c2, sizeof(c2)}};
	struct d4_tls_handshake h = {.ipver = 6,
				     .client_port = 1,
				     .server_port = 65535,
				     .ts_first_us = 1000,
				     .ts_client_us = 1796655784000001ull,
				     .flags = D4_TLS_F_TLS13 | D4_TLS_F_NO_SYN,
				     .end = D4_TLS_END_DONE,
				     .client = &ch,
				     .server = &sh,
				     .ja3 = "771,4865,0,,",
				     .ja3_md5 = "00112233445566778899aabbccddeeff",
				     .ja3s = "772,4865,43",
				     .ja3s_md5 = "ffeeddccbbaa99887766554433221100",
				     .ja4 = "t13d0101h2_000000000000_000000000000",
				     .certs = certs,
				     .n_certs = 2};
	h.client_ip[0] = 0xfe;
	h.client_ip[1] = 0x80;
	h.client_ip[15] = 9;
	h.server_ip[10] = h.server_ip[11] = 0xff;
	h.server_ip[12] = 203;
	h.server_ip[15] = 1;
	static char line[1 << 16];
	int n = d4_tls_jl_write(&h, line, sizeof(line));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(line[n - 1], '\n');
	ck_assert_ptr_eq(memchr(line, '\n', (size_t)n - 1), NULL);
	ck_assert_int_eq(d4_tls_jl_write(&h, line, (size_t)n), D4_ETOOBIG); /* no room for the NUL */
	ck_assert_int_eq(d4_tls_jl_write(&h, line, sizeof(line)), n);
	ck_assert_int_eq(parse(line), 0);
	ck_assert_int_eq(jl.producer, D4_TLS_JL_D4HUB);
	ck_assert_int_eq(jl.client_ipver, 6);
	ck_assert_mem_eq(jl.client_ip, h.client_ip, 16);
	ck_assert_int_eq(jl.server_ipver, 4);
	ck_assert_mem_eq(jl.server_ip, h.server_ip, 16);
	ck_assert_uint_eq(jl.client_port, 1);
	ck_assert_uint_eq(jl.server_port, 65535);
	ck_assert_uint_eq(jl.ts_us, 1796655784000001ull);
	ck_assert_str_eq(jl.ja3, h.ja3);
	ck_assert_str_eq(jl.ja3_md5, h.ja3_md5);
	ck_assert_str_eq(jl.ja3s, h.ja3s);
	ck_assert_str_eq(jl.ja3s_md5, h.ja3s_md5);
	ck_assert_str_eq(jl.ja4, h.ja4);
	ck_assert(jl.has_sni);
	ck_assert_uint_eq(jl.sni_len, sizeof(sni));
	ck_assert_mem_eq(jl.sni, sni, sizeof(sni));
	ck_assert_uint_eq(jl.server_alpn_len, 2);
	ck_assert_uint_eq(jl.client_version, 0x0303);
	ck_assert_uint_eq(jl.server_version, 0x0304);
	ck_assert_uint_eq(jl.cipher, 0x1301);
	ck_assert_uint_eq(jl.flags, D4_TLS_F_TLS13 | D4_TLS_F_NO_SYN);
	ck_assert_uint_eq(jl.n_certs, 2);
	ck_assert_uint_eq(jl.certs[0].len, sizeof(c1));
	ck_assert_mem_eq(jl.certs[0].der, c1, sizeof(c1));
	ck_assert_uint_eq(jl.certs[1].len, 2);
	ck_assert_mem_eq(jl.certs[1].der, c2, 2);
	ck_assert(jl.cert_has_hash[0] && jl.cert_has_hash[1]);
	/* the DER buffer is bounded: what it needs, then one byte less */
	ck_assert_int_eq(d4_tls_jl_parse((const uint8_t *)line, (size_t)n, &jl, der, 302), 0);
	ck_assert_int_eq(d4_tls_jl_parse((const uint8_t *)line, (size_t)n, &jl, der, 301), D4_ETOOBIG);
	/* the writer's line ends at the year 9999 as well */
	h.ts_client_us = 253402300799999999ull;
	ck_assert_int_gt(d4_tls_jl_write(&h, line, sizeof(line)), 0);
	ck_assert_int_eq(parse(line), 0);
	ck_assert_uint_eq(jl.ts_us, 253402300799999999ull);
}
END_TEST

#define HDR "{\"ServerIP\":\"10.0.0.1\",\"ServerPort\":\"443\",\"ClientIP\":\"10.0.0.2\",\"ClientPort\":\"5555\","
#define TS  "\"Timestamp\":\"2019-03-20T13:05:09Z\""

START_TEST(rejections)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{}",
	    "not json",
	    HDR TS,										 /* cut short */
	    HDR TS "}{}",									 /* two values */
	    HDR TS ",\"ServerIP\":\"10.0.0.1\"}",						 /* duplicate */
	    "{\"ServerPort\":\"443\",\"ClientIP\":\"10.0.0.2\",\"ClientPort\":\"5555\"," TS "}", /* no ServerIP */
	    HDR "\"Timestamp\":1553087109}",
	    HDR "\"Timestamp\":\"2019-03-20 13:05:09Z\"}",
	    HDR "\"Timestamp\":\"2019-02-30T13:05:09Z\"}",
	    HDR "\"Timestamp\":\"2019-03-20T13:05:09\"}",
	    HDR "\"Timestamp\":\"2019-03-20T13:05:09.Z\"}",
	    HDR "\"Timestamp\":\"2019-03-20T13:05:09.1234567890Z\"}",
	    HDR "\"Timestamp\":\"1969-12-31T23:59:59Z\"}",
	    HDR "\"Timestamp\":\"2019-03-20T13:05:09+1:00\"}",
	    "{\"ServerIP\":\"10.0.0.256\",\"ServerPort\":\"443\",\"ClientIP\":\"10.0.0.2\",\"ClientPort\":\"5555\"," TS
	    "}",
	    "{\"ServerIP\":\"10.0.0.1\",\"ServerPort\":\"65536\",\"ClientIP\":\"10.0.0.2\",\"ClientPort\":\"5555\"," TS
	    "}",
	    "{\"ServerIP\":\"10.0.0.1\",\"ServerPort\":\"443(\",\"ClientIP\":\"10.0.0.2\",\"ClientPort\":\"5555\"," TS
	    "}",
	    "{\"ServerIP\":\"10.0.0.1\",\"ServerPort\":\"-1\",\"ClientIP\":\"10.0.0.2\",\"ClientPort\":\"5555\"," TS
	    "}",
	    "{\"ServerIP\":\"10.0.0.1\",\"ServerPort\":443.5,\"ClientIP\":\"10.0.0.2\",\"ClientPort\":\"5555\"," TS "}",
	    HDR TS ",\"JA3Digest\":\"abc\"}",
	    HDR TS ",\"JA3Digest\":\"0123456789abcdef0123456789abcdeg\"}",
	    HDR TS ",\"JA3\":\"771,<script>\"}",
	    HDR TS ",\"JA3\":771}",
	    HDR TS ",\"ja4\":\"t13d\"}",
	    HDR TS ",\"Certificates\":{}}",
	    HDR TS ",\"Certificates\":[\"MIIB\"]}",
	    HDR TS ",\"Certificates\":[{\"CertHash\":\"00\"}]}", /* no Raw */
	    HDR TS ",\"Certificates\":[{\"Raw\":\"MII\"}]}",	 /* not base64 */
	    HDR TS ",\"Certificates\":[{\"Raw\":\"MIJ=\"}]}",	 /* non-canonical padding bits */
	    HDR TS ",\"Certificates\":[{\"Raw\":\"M*==\"}]}",
	    HDR TS ",\"Certificates\":[{\"Raw\":\"\"}]}",
	    HDR TS ",\"Certificates\":[{\"Raw\":\"MIIB\",\"Raw\":\"MIIB\"}]}", /* duplicate */
	    HDR TS ",\"Certificates\":[{\"Raw\":{\"a\":1}}]}",
	    HDR TS ",\"Certificates\":[{\"Raw\":\"MIIB\",\"CertHash\":\"" EC_CERT_SHA256 "\"}]}", /* wrong hash */
	    HDR TS ",\"Certificates\":true}",
	    HDR TS ",\"flags\":{}}",
	    HDR TS ",\"cipher\":\"x\"}",
	    HDR TS ",\"cipher\":70000}",
	    HDR TS ",\"x\":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}", /* deeper than 16 */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i]);
		ck_assert_msg(rc == D4_EPROTO, "case %zu: %d: %s", i, rc, bad[i]);
	}
	/* more than D4_TLS_CERTS_MAX certificates */
	char line[8192];
	size_t o = (size_t)snprintf(line, sizeof(line), "%s", HDR TS ",\"Certificates\":[");
	for (int i = 0; i <= D4_TLS_CERTS_MAX; i++)
		o += (size_t)snprintf(line + o, sizeof(line) - o, "%s{\"Raw\":\"MIIB\"}", i ? "," : "");
	snprintf(line + o, sizeof(line) - o, "]}");
	ck_assert_int_eq(parse(line), D4_EPROTO);
	line[o] = 0;
	char *last = strrchr(line, '{');
	snprintf(last - 1, sizeof(line) - (size_t)(last - 1 - line), "]}");
	ck_assert_int_eq(parse(line), 0);
	ck_assert_uint_eq(jl.n_certs, D4_TLS_CERTS_MAX);
	/* every prefix of a valid line is refused, from an exact-size copy */
	size_t n = strlen(GO_LINE);
	for (size_t k = 0; k < n; k++) {
		uint8_t *p = malloc(k ? k : 1);
		memcpy(p, GO_LINE, k);
		ck_assert_int_ne(d4_tls_jl_parse(p, k, &jl, der, sizeof(der)), 0);
		free(p);
	}
}
END_TEST

static Suite *jl_suite(void)
{
	Suite *s = suite_create("tls_jl");
	TCase *tc = tcase_create("jl");
	tcase_add_test(tc, go_line);
	tcase_add_test(tc, go_indented_ipv6_null_certs);
	tcase_add_test(tc, lenient_forms);
	tcase_add_test(tc, d4hub_lines);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, rejections);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(jl_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
