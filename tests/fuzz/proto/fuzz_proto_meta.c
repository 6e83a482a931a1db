/* Fuzz target: meta-header JSON parsing. Checks the output invariants, that
 * a prefix of an accepted document is never called malformed, and that the
 * incremental parser (the one the hub uses for headers cut into packets)
 * agrees with the one-shot parse whatever the cuts, in linear work. */
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

static size_t piece(const uint8_t *data, size_t size, size_t k)
{
	return (size_t)(data[k % size] % 9) + 1;
}

/* Re-parses the whole text at every piece end (what the hub did before the
 * incremental parser): the first result other than ETRUNC. */
static int reparse(const uint8_t *data, size_t size, struct d4_meta *m)
{
	int rc = d4_proto_meta_parse(data, 0, m);
	size_t off = 0, k = 0;
	while (off < size && rc == D4_ETRUNC) {
		size_t n = piece(data, size, k++);
		off += n > size - off ? size - off : n;
		rc = d4_proto_meta_parse(data, off, m);
	}
	return rc;
}

/* Feeds data in pieces whose sizes come from the data itself; returns the
 * final result (ETRUNC if never complete). */
static int incremental(const uint8_t *data, size_t size, struct d4_meta *m)
{
	struct d4_meta_parser *p;
	CHECK(d4_proto_meta_parser_new(&p) == 0);
	int rc = D4_ETRUNC;
	size_t off = 0, k = 0;
	while (off < size && rc == D4_ETRUNC) {
		size_t n = piece(data, size, k++);
		if (n > size - off)
			n = size - off;
		rc = d4_proto_meta_parser_feed(p, data + off, n, m);
		off += n;
	}
	if (size == 0)
		rc = d4_proto_meta_parser_feed(p, data, 0, m);
	struct d4_meta_parser_stats st;
	d4_proto_meta_parser_stats(p, &st);
	CHECK(st.bytes_scanned <= size && st.bytes_parsed <= st.bytes_scanned && st.completions <= 1);
	/* once final, the result stays */
	if (rc != D4_ETRUNC) {
		struct d4_meta again;
		CHECK(d4_proto_meta_parser_feed(p, (const uint8_t *)"}", 1, &again) == rc);
	}
	d4_proto_meta_parser_free(p);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct d4_meta m, im;
	int rc = d4_proto_meta_parse(data, size, &m);
	if (size <= D4_META_MAX) {
		struct d4_meta rm;
		int rrc = reparse(data, size, &rm);
		int irc = incremental(data, size, &im);
		/* The same answer, except: an error in a tail with no structural
		 * byte after it is not seen yet; and a number after the closed
		 * object ("{...} 8") is malformed at once, where the one-shot
		 * parser calls it incomplete (a number or literal may go on) —
		 * then a prefix holds a complete object (a prefix with a real
		 * error would have made the re-parse fail too). */
		int closed = 0;
		if (rrc == D4_ETRUNC && irc == D4_EJSON) {
			struct d4_meta pm;
			for (size_t k = 1; k <= size && !closed; k++)
				closed = d4_proto_meta_parse(data, k, &pm) != D4_ETRUNC;
		}
		CHECK(irc == rrc || (rrc == D4_EJSON && irc == D4_ETRUNC) || closed);
		if (rrc == 0)
			CHECK(memcmp(&rm, &im, sizeof(rm)) == 0);
	}
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
