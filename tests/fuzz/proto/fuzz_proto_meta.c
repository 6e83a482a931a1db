/* Fuzz target: meta-header JSON parsing. Checks the output invariants and
 * that a prefix of an accepted document is never called malformed. */
#include "d4_error.h"
#include "d4_proto.h"

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
	struct d4_meta m;
	int rc = d4_proto_meta_parse(data, size, &m);
	CHECK(rc == 0 || rc == D4_ETRUNC || rc == D4_EJSON || rc == D4_ETOOBIG);
	if (rc != 0) {
		CHECK(m.type[0] == '\0' && m.ntags == 0 && !m.has_org);
		return 0;
	}
	CHECK(size <= D4_META_MAX);
	size_t tl = strnlen(m.type, sizeof(m.type));
	CHECK(tl > 0 && tl < sizeof(m.type));
	CHECK(strnlen(m.encoding, sizeof(m.encoding)) < sizeof(m.encoding));
	CHECK(m.ntags <= D4_META_MAX_TAGS);
	for (unsigned i = 0; i < m.ntags; i++) {
		size_t n = strnlen(m.tags[i], D4_META_TAG_MAX);
		CHECK(n > 0 && n < D4_META_TAG_MAX);
		for (size_t j = 0; j < n; j++)
			CHECK(!(m.tags[i][j] >= 'A' && m.tags[i][j] <= 'Z'));
	}
	/* A proper prefix is complete (trailing whitespace) or incomplete,
	 * never malformed. Cuts: half, one short, and one picked by the data. */
	size_t cuts[3] = {size / 2, size ? size - 1 : 0, size ? data[0] % size : 0};
	for (size_t i = 0; i < 3; i++) {
		struct d4_meta p;
		int r = d4_proto_meta_parse(data, cuts[i], &p);
		CHECK(r == 0 || r == D4_ETRUNC);
	}
	return 0;
}
