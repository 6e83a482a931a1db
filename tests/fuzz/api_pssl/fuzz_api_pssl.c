/* Fuzz target: the passive-SSL query parameters, paging cursors and value
 * parsers (api/pssl_query.c).
 *
 * Input: byte 0: bit 0 tuples/certificates, bits 1-3 the caller's clearance;
 * the rest is a query string split at '&' and '=' into at most 16 pairs (NUL
 * bytes end a value). Invariants of an accepted query: one pivot with a key
 * of its size, an address range lo <= hi, fences in order, limit 1..1000; a
 * cursor sealed for the query opens to the same resume bytes, and the same
 * cursor under another clearance or with one character changed is refused.
 * Every value is also fed to the address parser and to the name rewriting
 * (bounded, NUL-terminated). Aborts only on a broken invariant. */
#include "api_pssl.h"
#include "d4_error.h"

#include <stdint.h>
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
	if (size < 1 || size > 8192)
		return 0;
	enum d4_api_pssl_what what = data[0] & 1 ? D4_API_PSSL_CERTS : D4_API_PSSL_TUPLES;
	uint8_t clr = (uint8_t)(1 + ((data[0] >> 1) & 7) % 6);
	char *buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	const char *names[17], *values[17];
	unsigned n = 0;
	char *p = buf;
	while (*p && n < 16) {
		char *amp = strchr(p, '&');
		if (amp)
			*amp = '\0';
		char *eq = strchr(p, '=');
		if (eq)
			*eq = '\0';
		names[n] = p;
		values[n] = eq ? eq + 1 : "";
		n++;
		if (!amp)
			break;
		p = amp + 1;
	}
	for (unsigned i = 0; i < n; i++) {
		uint8_t lo[16], hi[16];
		char out[64];
		if (d4_api_pssl_parse_ip(values[i], strlen(values[i]), (int)(i & 1), lo, hi) == 0)
			CHECK(memcmp(lo, hi, 16) <= 0 && d4_api_pssl_span(lo, hi) >= 1);
		size_t k = d4_api_pssl_name_oneline(values[i], out, sizeof(out));
		CHECK(k < sizeof(out) && out[k] == '\0' && strlen(out) == k);
	}
	struct d4_api_pssl_params *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	char err[320];
	if (!a || !b)
		goto out;
	int rc = d4_api_pssl_parse(what, names, values, n, clr, 1765000000u, a, err, sizeof(err));
	CHECK(rc == 0 || rc == D4_EINVAL);
	if (rc) {
		CHECK(err[0] != '\0');
		goto out;
	}
	const struct d4_store_pssl_query *q = &a->q;
	CHECK(q->max_tlp == clr);
	CHECK(q->limit >= 1 && q->limit <= D4_API_PSSL_LIMIT_MAX);
	CHECK(what == D4_API_PSSL_TUPLES ? (int)q->by < 32 : (int)q->by >= 32);
	CHECK((q->key == NULL) == (q->key_len == 0) && q->key_len <= D4_API_PSSL_KEY_MAX);
	CHECK(q->by != D4_PSSL_BY_IP || memcmp(q->ip_lo, q->ip_hi, 16) <= 0);
	CHECK(q->by != D4_PSSL_BY_CERT || q->key_len == 20);
	CHECK((q->by != D4_PSSL_BY_JA3 && q->by != D4_PSSL_BY_JA3S) || q->key_len == 16);
	CHECK((q->by != D4_PSSL_CERTS_BY_SPKI && q->by != D4_PSSL_CERTS_BY_SHA256) || q->key_len == 32);
	CHECK(q->by != D4_PSSL_CERTS_BY_MODULUS || (q->key_len >= 1 && q->key[0] != 0));
	CHECK(!q->first_before || !q->first_after || q->first_after <= q->first_before);
	CHECK(!q->last_before || !q->last_after || q->last_after <= q->last_before);
	CHECK(!q->resume || (q->resume_len >= 1 && q->resume_len <= D4_PSSL_RESUME_MAX));
	if (q->resume || n >= 16)
		goto out;
	uint8_t r[D4_PSSL_RESUME_MAX];
	size_t rlen = 1 + (size % D4_PSSL_RESUME_MAX);
	for (size_t i = 0; i < rlen; i++)
		r[i] = data[i % size] ^ (uint8_t)i;
	char cur[D4_API_PSSL_CURSOR_TEXT];
	CHECK(d4_api_pssl_cursor_seal(a, r, rlen, cur) == 0);
	names[n] = "cursor";
	values[n] = cur;
	CHECK(d4_api_pssl_parse(what, names, values, n + 1, clr, 1765000000u, b, err, sizeof(err)) == 0);
	CHECK(b->q.resume && b->q.resume_len == rlen && memcmp(b->q.resume, r, rlen) == 0);
	CHECK(d4_api_pssl_parse(what, names, values, n + 1, (uint8_t)(clr % 6 + 1), 1765000000u, b, err, sizeof(err)) ==
	      D4_EINVAL);
	size_t at = size % strlen(cur);
	cur[at] = cur[at] == 'A' ? 'B' : 'A';
	CHECK(d4_api_pssl_parse(what, names, values, n + 1, clr, 1765000000u, b, err, sizeof(err)) == D4_EINVAL);
out:
	free(a);
	free(b);
	free(buf);
	return 0;
}
