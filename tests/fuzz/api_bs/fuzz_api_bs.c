/* Fuzz target: the backscatter query parameters and paging cursors
 * (api/bs_query.c, d4_api_bs_parse and d4_api_bs_cursor_seal).
 *
 * Input: byte 0: bit 0 list/summary, bits 1-3 the caller's clearance; the
 * rest is a query string split at '&' and '=' into at most 16 pairs (NUL
 * bytes end a value). Invariants of an accepted query: since <= until, a
 * victim range lo <= hi, a kind in range, limit 1..1000, summary days in
 * order and at most 31; a cursor sealed for the query opens to the same
 * resume bytes, and the same cursor with one character changed, or under
 * another clearance, is refused. Aborts only on a broken invariant. */
#include "api_bs.h"
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
	if (size < 1 || size > 4096)
		return 0;
	enum d4_api_bs_what what = data[0] & 1 ? D4_API_BS_SUMMARY : D4_API_BS_LIST;
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
	struct d4_api_bs_params *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	char err[320];
	if (!a || !b)
		goto out;
	int rc = d4_api_bs_parse(what, names, values, n, clr, 1765000000u, a, err, sizeof(err));
	CHECK(rc == 0 || rc == D4_EINVAL);
	if (rc) {
		CHECK(err[0] != '\0');
		goto out;
	}
	const struct d4_store_bs_query *q = &a->q;
	CHECK(q->max_tlp == clr);
	CHECK(!q->since_us || !q->until_us || q->since_us <= q->until_us);
	CHECK(!q->has_victim || memcmp(q->victim_lo, q->victim_hi, 16) <= 0);
	CHECK(q->kind < D4_STORE_BS_KINDS);
	CHECK(a->limit >= 1 && a->limit <= D4_API_BS_LIMIT_MAX);
	CHECK(a->top >= 1 && a->top <= D4_API_BS_TOP_MAX);
	if (what == D4_API_BS_SUMMARY) {
		CHECK(a->day_from <= a->day_to && a->day_to - a->day_from < D4_API_BS_DAYS_MAX);
		goto out;
	}
	CHECK(!q->resume || (q->resume_len >= 1 && q->resume_len <= D4_STORE_BS_RESUME_MAX));
	if (q->resume || n >= 16)
		goto out;
	/* seal some resume bytes for this query; it must open to them, and only here */
	uint8_t r[D4_STORE_BS_RESUME_MAX];
	size_t rlen = 1 + (size % D4_STORE_BS_RESUME_MAX);
	for (size_t i = 0; i < rlen; i++)
		r[i] = data[i % size] ^ (uint8_t)i;
	char cur[D4_API_BS_CURSOR_TEXT];
	CHECK(d4_api_bs_cursor_seal(a, r, rlen, cur) == 0);
	names[n] = "cursor";
	values[n] = cur;
	CHECK(d4_api_bs_parse(what, names, values, n + 1, clr, 1765000000u, b, err, sizeof(err)) == 0);
	CHECK(b->q.resume && b->q.resume_len == rlen && memcmp(b->q.resume, r, rlen) == 0);
	CHECK(d4_api_bs_parse(what, names, values, n + 1, (uint8_t)(clr % 6 + 1), 1765000000u, b, err, sizeof(err)) ==
	      D4_EINVAL);
	size_t at = size % strlen(cur);
	cur[at] = cur[at] == 'A' ? 'B' : 'A';
	CHECK(d4_api_bs_parse(what, names, values, n + 1, clr, 1765000000u, b, err, sizeof(err)) == D4_EINVAL);
out:
	free(a);
	free(b);
	free(buf);
	return 0;
}
