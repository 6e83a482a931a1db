/* d4hub API — raw data export (api/h_export.c): a session, or a sensor +
 * type + receive-time range, streamed (d4_api_stream) as raw bytes, one pcap
 * file, text, or NDJSON with provenance. The pure formatters are exported
 * for the unit tests (tests/unit/api/test_export.c). Private to api/. */
#ifndef D4_H_EXPORT_H
#define D4_H_EXPORT_H

#include "api_internal.h"
#include "d4_store.h"

#include <stddef.h>
#include <stdint.h>

void d4_h_export_session(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_export_range(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);

enum d4_export_format { D4_EXPORT_RAW = 0, D4_EXPORT_PCAP, D4_EXPORT_TEXT, D4_EXPORT_NDJSON };

/* "raw", "pcap", "text", "ndjson" (exact). 0 or D4_EINVAL. */
int d4_export_format_parse(const char *s, enum d4_export_format *out);
/* Content-Type of a format (static). */
const char *d4_export_content_type(enum d4_export_format f);
/* 1 if frames of D4 type `type` can be exported in format f: pcap only for
 * type 1, text only for the line types (2, 3, 6, 8, 254), raw and ndjson for
 * every type. */
int d4_export_format_allows(enum d4_export_format f, unsigned type);

/* A time bound: epoch seconds ("1732550400", fraction allowed: "1.5") or
 * ISO-8601 UTC "YYYY-MM-DDTHH:MM:SS[.fff]Z" (also "+00:00"), or a date
 * "YYYY-MM-DD" (midnight). *ms_out in milliseconds. 0 or D4_EINVAL. */
int d4_export_time_parse(const char *s, uint64_t *ms_out);

/* Upper bound of the NDJSON line of a frame of payload_len bytes. */
size_t d4_export_ndjson_max(size_t payload_len);
/* One NDJSON line (with '\n') for a frame: {seq, session, sensor, type,
 * ext_type, tlp, org, hdr_ts, recv_ts, size, payload_b64}. ext_type may be
 * NULL or "" (null in the output); non-ASCII bytes in it become U+FFFD.
 * Returns the length written, or 0 if cap is below d4_export_ndjson_max. */
size_t d4_export_ndjson_line(const struct d4_frame_rec *rec, const char *ext_type, const uint8_t *payload, char *out,
			     size_t cap);

/* ---- pcap stream splitter ------------------------------------------------
 * A type-1 session is a pcap file cut into frames at arbitrary points. The
 * splitter consumes the stream of one session (global header first), and
 * hands over each complete record (16-byte record header + data) together
 * with the keep flag of the frame in which the record began. A record cut
 * by the end of the session is never handed over. */
#define D4_PCAP_GHDR	   24
#define D4_PCAP_RHDR	   16
#define D4_PCAP_RECORD_MAX (16u << 20) /* incl_len above this: not a pcap stream */

struct d4_pcap_split {
	uint8_t ghdr[D4_PCAP_GHDR];
	unsigned ghave;
	int big_endian; /* the file's byte order, from its magic */
	uint8_t *rec;	/* record header + data being collected */
	size_t rcap, rhave, rneed;
	int keep; /* of the record being collected */
};
/* 1 if the 24 bytes are a pcap global header (any byte order, micro- or
 * nanosecond magic); *linktype, *snaplen, *big_endian filled. pcapng and
 * anything else: 0. */
int d4_pcap_ghdr_parse(const uint8_t hdr[D4_PCAP_GHDR], uint32_t *linktype, uint32_t *snaplen, int *big_endian);
void d4_pcap_split_init(struct d4_pcap_split *s);
void d4_pcap_split_free(struct d4_pcap_split *s); /* and re-init */
/* Feeds n bytes; emit(ctx, record, len) for each complete record whose
 * first byte came with keep set; a non-zero emit return stops the feed and
 * is returned. D4_ECORRUPT for a bad global header or record length,
 * D4_ENOMEM. */
int d4_pcap_split_feed(struct d4_pcap_split *s, const uint8_t *p, size_t n, int keep,
		       int (*emit)(void *ctx, const uint8_t *rec, size_t len), void *ctx);

#endif
