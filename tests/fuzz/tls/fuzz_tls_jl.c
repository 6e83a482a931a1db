/* Fuzz target: bytes -> d4_tls_jl_parse (ja3-jl lines of the Go D4 TLS
 * sensor and of d4-sensor). Whatever is accepted must have its required
 * members, NUL-terminated strings within their fields, certificates inside
 * the DER buffer and within its size, and must parse the same way again
 * with a DER buffer of exactly the size it used. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct d4_tls_jl jl, again;
	uint8_t *der = malloc(size + 1), *der2;
	CHECK(der != NULL);
	int rc = d4_tls_jl_parse(data, size, &jl, der, size);
	CHECK(rc == 0 || rc == D4_EPROTO || rc == D4_ETOOBIG || rc == D4_ENOMEM);
	if (rc == 0) {
		CHECK(jl.client_ipver == 4 || jl.client_ipver == 6);
		CHECK(jl.server_ipver == 4 || jl.server_ipver == 6);
		CHECK(memchr(jl.ja3, 0, sizeof(jl.ja3)) && memchr(jl.ja3s, 0, sizeof(jl.ja3s)));
		CHECK(strlen(jl.ja3_md5) == 0 || strlen(jl.ja3_md5) == 32);
		CHECK(strlen(jl.ja3s_md5) == 0 || strlen(jl.ja3s_md5) == 32);
		CHECK(strlen(jl.ja4) == 0 || strlen(jl.ja4) == D4_TLS_JA4_LEN);
		CHECK(memchr(jl.tlsh, 0, sizeof(jl.tlsh)) != NULL);
		CHECK(jl.sni_len <= sizeof(jl.sni) && jl.server_alpn_len <= sizeof(jl.server_alpn));
		CHECK(jl.n_certs <= D4_TLS_CERTS_MAX);
		size_t used = 0;
		for (size_t i = 0; i < jl.n_certs; i++) {
			CHECK(jl.certs[i].len > 0 && jl.certs[i].der == der + used);
			used += jl.certs[i].len;
		}
		CHECK(used <= size);
		der2 = malloc(used ? used : 1);
		CHECK(der2 != NULL);
		CHECK(d4_tls_jl_parse(data, size, &again, der2, used) == 0);
		CHECK(again.n_certs == jl.n_certs && again.ts_us == jl.ts_us && again.flags == jl.flags);
		for (size_t i = 0; i < jl.n_certs; i++)
			CHECK(again.certs[i].len == jl.certs[i].len &&
			      !memcmp(again.certs[i].der, jl.certs[i].der, jl.certs[i].len));
		free(der2);
	}
	free(der);
	return 0;
}
