/* Fuzz target: bytes -> d4_weakkeys_load. A state that loads saves back to
 * the same bytes (the encoding is canonical), and the loaded set takes a new
 * batch made of its own first modulus (reported as a duplicate, nothing
 * else). The exponent check runs on the same bytes. */
#include "d4_error.h"
#include "d4_weakkeys.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                                       \
	do {                                                                                                           \
		if (!(c))                                                                                              \
			abort();                                                                                       \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_cb(const struct d4_weakkeys_finding *f, void *ud)
{
	CHECK(f->kind == D4_WEAKKEYS_DUPLICATE || f->kind == D4_WEAKKEYS_SHARED);
	(*(int *)ud)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)d4_weakkeys_exponent_check(data, size);
	struct d4_weakkeys *wk = NULL;
	int rc = d4_weakkeys_load(data, size, &wk);
	if (rc != 0) {
		CHECK(rc < 0 && wk == NULL);
		return 0;
	}
	CHECK(wk != NULL);
	uint8_t *out = NULL;
	size_t len = 0;
	CHECK(d4_weakkeys_save(wk, &out, &len) == 0);
	CHECK(len == size && memcmp(out, data, size) == 0);
	free(out);
	if (d4_weakkeys_count(wk) > 0 && d4_weakkeys_count(wk) <= 64) {
		/* The first modulus: after the 13-byte header, its id and length. */
		size_t mlen = ((size_t)data[21] << 8) | data[22];
		struct d4_weakkeys_modulus m = {.id = UINT64_MAX - 1, .n = data + 23, .len = mlen};
		int n = 0;
		rc = d4_weakkeys_add(wk, &m, 1, count_cb, &n);
		CHECK(rc == n && n >= 1);
	}
	d4_weakkeys_free(wk);
	return 0;
}
