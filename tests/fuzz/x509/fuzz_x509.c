/* Fuzz target: bytes -> d4_x509_parse. Whatever the input, the result is
 * 0 or one of the documented codes; an accepted certificate gives bounded,
 * NUL-terminated strings and counts within their arrays, the same record
 * when parsed again (no hidden state), and its strict prefix is refused as
 * truncated. Corpus: gen_corpus.sh. */
#include "d4_error.h"
#include "d4_x509.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                                       \
	do {                                                                                                           \
		if (!(c))                                                                                              \
			abort();                                                                                       \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int terminated(const char *s, size_t cap)
{
	return memchr(s, 0, cap) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct d4_x509 a, b;
	int rc = d4_x509_parse(data, size, &a);
	CHECK(rc == 0 || rc == D4_ETRUNC || rc == D4_EPROTO || rc == D4_ETOOBIG || rc == D4_ENOMEM ||
	      (rc == D4_EINVAL && !data));
	if (rc)
		return 0;
	CHECK(terminated(a.subject, sizeof(a.subject)) && terminated(a.issuer, sizeof(a.issuer)));
	CHECK(terminated(a.serial, sizeof(a.serial)) && a.serial[0]);
	CHECK(terminated(a.sig_alg, sizeof(a.sig_alg)) && terminated(a.key_alg, sizeof(a.key_alg)));
	CHECK(terminated(a.curve, sizeof(a.curve)) && terminated(a.curve_nist, sizeof(a.curve_nist)));
	CHECK(a.n_san <= D4_X509_SAN_MAX && a.san_total >= a.n_san);
	CHECK((a.san_total > a.n_san) == !!(a.flags & D4_X509_F_SAN_CLIPPED));
	for (size_t i = 0; i < a.n_san; i++) {
		const struct d4_x509_san *s = &a.san[i];
		CHECK(s->type == D4_X509_SAN_DNS || s->type == D4_X509_SAN_IP);
		CHECK(s->type == D4_X509_SAN_DNS ? s->len < D4_X509_SAN_LEN && s->value[s->len] == 0 : s->len <= 16);
	}
	CHECK(a.modulus_len <= D4_X509_MODULUS_MAX && a.exponent_len <= D4_X509_EXPONENT_MAX);
	CHECK(a.key_type == 1 || (a.modulus_len == 0 && a.exponent_len == 0));
	CHECK(a.modulus_len == 0 || a.modulus[0] != 0);
	CHECK(a.key_bits >= 0 && a.pathlen >= -1 && (a.is_ca ? a.has_bc : 1));
	CHECK(strcmp(d4_x509_key_type_name(a.key_type), "") != 0);
	CHECK(d4_x509_parse(data, size, &b) == 0 && memcmp(&a, &b, sizeof(a)) == 0);
	CHECK(d4_x509_parse(data, size - 1, &b) == D4_ETRUNC);
	return 0;
}
