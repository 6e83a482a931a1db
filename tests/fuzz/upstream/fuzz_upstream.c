/* Fuzz target for the upstream relay's parsers: upstream.streams (operator
 * input) and the position file (read back at every start: a torn or
 * damaged file must be refused, never crash). What parses is written
 * again and must parse to the same position. */
#include "d4_error.h"
#include "d4_upstream.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	struct d4_upstream_stream st[D4_UPSTREAM_STREAMS_MAX];
	unsigned n = 0;
	char err[200];
	if (d4_upstream_streams_parse(s, st, &n, err, sizeof(err)) == 0 && (n == 0 || n > D4_UPSTREAM_STREAMS_MAX))
		abort();
	free(s);

	struct d4_upstream_position p, q;
	if (d4_upstream_position_parse(data, size, &p) == 0) {
		char buf[512];
		int len = d4_upstream_position_format(&p, buf, sizeof(buf));
		if (len < 0 || d4_upstream_position_parse((const uint8_t *)buf, (size_t)len, &q) != 0 ||
		    memcmp(&p, &q, sizeof(p)) != 0 || (size_t)len != size || memcmp(buf, data, size) != 0)
			abort();
	}
	return 0;
}
