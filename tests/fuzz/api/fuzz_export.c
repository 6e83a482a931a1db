/* Fuzz target for the export's parsers of stored, sensor-supplied data: the
 * pcap stream splitter (a type-1 session is whatever bytes a sensor sent),
 * the time-bound parser of the export query, and the NDJSON formatter.
 *
 * Input: byte 0 picks the chunk size used to feed the splitter (every split
 * of the stream must behave the same), bytes 1..16 are tried as a time bound,
 * the rest is the session stream. */
#include "d4_error.h"
#include "h_export.h"

#include <stdlib.h>
#include <string.h>

struct seen {
	const struct d4_pcap_split *split;
	size_t records, bytes;
};

static int on_record(void *ctx, const uint8_t *rec, size_t len)
{
	struct seen *s = ctx;
	/* every record handed over is complete: its header's length matches */
	if (len < D4_PCAP_RHDR)
		abort();
	const uint8_t *l = rec + 8; /* incl_len, in the file's byte order */
	uint32_t incl = s->split->big_endian ? (uint32_t)l[0] << 24 | (uint32_t)l[1] << 16 | (uint32_t)l[2] << 8 | l[3]
					     : (uint32_t)l[3] << 24 | (uint32_t)l[2] << 16 | (uint32_t)l[1] << 8 | l[0];
	if ((size_t)incl + D4_PCAP_RHDR != len)
		abort();
	s->records++;
	s->bytes += len;
	return 0;
}

static void split(const uint8_t *p, size_t n, size_t chunk, struct seen *out)
{
	struct d4_pcap_split s;
	d4_pcap_split_init(&s);
	memset(out, 0, sizeof(*out));
	out->split = &s;
	for (size_t off = 0; off < n; off += chunk) {
		size_t k = n - off < chunk ? n - off : chunk;
		if (d4_pcap_split_feed(&s, p + off, k, 1, on_record, out) != 0)
			break;
	}
	d4_pcap_split_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t chunk = (size_t)data[0] % 64 + 1;

	char tbuf[17];
	size_t tl = size - 1 < 16 ? size - 1 : 16;
	memcpy(tbuf, data + 1, tl);
	tbuf[tl] = '\0';
	uint64_t ms;
	(void)d4_export_time_parse(tbuf, &ms);

	const uint8_t *stream = data + 1;
	size_t n = size - 1;
	struct seen a, b;
	split(stream, n, chunk, &a);
	split(stream, n, n ? n : 1, &b);
	/* the records found must not depend on how the stream was cut (a corrupt
	 * stream stops at the same record either way) */
	if (a.records != b.records || a.bytes != b.bytes)
		abort();

	struct d4_frame_rec rec;
	memset(&rec, 0, sizeof(rec));
	rec.size = (uint32_t)(n > 4096 ? 4096 : n);
	rec.type = 1;
	size_t cap = d4_export_ndjson_max(rec.size);
	char *out = malloc(cap);
	if (out) {
		size_t len = d4_export_ndjson_line(&rec, (const char *)tbuf, stream, out, cap);
		if (len == 0 || len > cap || out[len - 1] != '\n')
			abort();
		free(out);
	}
	return 0;
}
