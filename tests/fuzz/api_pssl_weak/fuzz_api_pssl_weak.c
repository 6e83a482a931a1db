/* Fuzz target: the weak-key reports' paging cursors (api/h_pssl_weak.c,
 * d4_api_weak_cursor_open and _seal), the only parser of a client's bytes
 * there (the other parameters are plain integers, kind names and 40 hex).
 *
 * Input: byte 0: the kind filter, bytes 1..8 the key filter (big-endian),
 * byte 9 bits 0-2 the clearance; the rest is a cursor text (NUL ends it).
 * Invariants: a text opens only when it is exactly the seal of its own
 * resume bytes for this query (canonical base64url: one cursor, one text);
 * what opens, sealed again, gives the same text; under another clearance,
 * kind or key it is refused; the resume bytes never exceed the cap. Aborts
 * only on a broken invariant. */
#include "api_pssl_weak.h"
#include "d4_error.h"
#include "d4_store_pssl.h"

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
	if (size < 10 || size > 1024)
		return 0;
	unsigned kind = data[0];
	uint64_t key = 0;
	for (int i = 1; i <= 8; i++)
		key = key << 8 | data[i];
	uint8_t clr = (uint8_t)(data[9] & 7);
	char text[1024];
	memcpy(text, data + 10, size - 10);
	text[size - 10] = '\0';
	uint8_t r[D4_PSSL_RESUME_MAX];
	size_t rlen = 0;
	if (d4_api_weak_cursor_open(kind, key, clr, text, r, sizeof(r), &rlen) != 0)
		return 0;
	CHECK(rlen >= 1 && rlen <= sizeof(r));
	char again[D4_API_WEAK_CURSOR_TEXT];
	CHECK(d4_api_weak_cursor_seal(kind, key, clr, r, rlen, again) == 0);
	CHECK(strcmp(again, text) == 0);
	uint8_t r2[D4_PSSL_RESUME_MAX];
	size_t rlen2 = 0;
	CHECK(d4_api_weak_cursor_open(kind, key, (uint8_t)((clr + 1) & 7), text, r2, sizeof(r2), &rlen2) != 0);
	CHECK(d4_api_weak_cursor_open((kind + 1) & 0xff, key, clr, text, r2, sizeof(r2), &rlen2) != 0);
	CHECK(d4_api_weak_cursor_open(kind, key + 1, clr, text, r2, sizeof(r2), &rlen2) != 0);
	return 0;
}
