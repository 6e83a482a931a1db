/* Fuzz target: bytes -> the TLS handshake message parsers and the
 * fingerprints built from what they accept.
 * Input: byte 0 selects the parser (mod 4: ClientHello, ServerHello,
 * Certificate, TLS 1.3 Certificate), then the message body. Whatever is
 * accepted must give bounded fingerprints, lists within their limits and
 * slices inside the input. */
#include "d4_error.h"
#include "d4_tls.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                                       \
	do {                                                                                                           \
		if (!(c))                                                                                              \
			abort();                                                                                       \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(const uint8_t *p, size_t n, const uint8_t *b, size_t bn)
{
	return p >= b && n <= bn && (size_t)(p - b) <= bn - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct d4_tls_client_hello ch;
	static struct d4_tls_server_hello sh;
	static char s[D4_TLS_JA3_MAX], raw[D4_TLS_JA4R_MAX];
	char md5[33], j4[D4_TLS_JA4_LEN + 1];
	if (size < 1)
		return 0;
	const uint8_t *b = data + 1;
	size_t n = size - 1;
	int rc;
	switch (data[0] & 3) {
	case 0:
		rc = d4_tls_client_hello_parse(b, n, &ch);
		CHECK(rc == 0 || rc == D4_ETRUNC || rc == D4_EPROTO);
		if (rc)
			break;
		CHECK(ch.n_ciphers <= D4_TLS_LIST_MAX && ch.n_exts <= D4_TLS_LIST_MAX && ch.n_ecpf <= D4_TLS_ECPF_MAX);
		CHECK(!ch.sni || inside(ch.sni, ch.sni_len, b, n));
		CHECK(!ch.alpn || inside(ch.alpn, ch.alpn_len, b, n));
		rc = d4_tls_ja3(&ch, s, sizeof(s));
		CHECK(rc > 0 && (size_t)rc == strlen(s));
		CHECK(d4_tls_md5_hex(s, strlen(s), md5) == 0 && strlen(md5) == 32);
		CHECK(d4_tls_ja4(&ch, j4, raw, sizeof(raw)) == 0);
		CHECK(strlen(j4) == D4_TLS_JA4_LEN && j4[0] == 't' && j4[10] == '_' && j4[23] == '_');
		CHECK(strncmp(raw, j4, 11) == 0);
		break;
	case 1:
		rc = d4_tls_server_hello_parse(b, n, &sh);
		CHECK(rc == 0 || rc == D4_ETRUNC || rc == D4_EPROTO);
		if (rc)
			break;
		CHECK(sh.n_exts <= D4_TLS_LIST_MAX);
		CHECK(!sh.alpn || inside(sh.alpn, sh.alpn_len, b, n));
		rc = d4_tls_ja3s(&sh, s, sizeof(s));
		CHECK(rc > 0 && (size_t)rc == strlen(s));
		break;
	default: {
		struct d4_tls_cert certs[D4_TLS_CERTS_MAX];
		size_t cnt = 0;
		uint32_t fl = 0;
		rc = d4_tls_certificate_parse(b, n, (data[0] & 3) == 3, certs, D4_TLS_CERTS_MAX, &cnt, &fl);
		CHECK(rc == 0 || rc == D4_ETRUNC || rc == D4_EPROTO);
		CHECK(cnt <= D4_TLS_CERTS_MAX);
		CHECK(rc != D4_ETRUNC || (fl & D4_TLS_F_CERT_TRUNC));
		for (size_t i = 0; i < cnt; i++)
			CHECK(certs[i].len > 0 && inside(certs[i].der, certs[i].len, b, n));
		break;
	}
	}
	return 0;
}
