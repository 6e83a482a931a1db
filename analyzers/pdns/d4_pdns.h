/* d4_pdns — passive-DNS record extraction: DNS messages (from UDP and
 * reassembled TCP), passivedns CSV lines (any field layout) and COF NDJSON
 * lines become observations (rrname, rrtype, rdata, time, count), and
 * observations are written back as COF (draft-dulaunoy-dnsop-passive-dns-cof).
 * Pure parsers over bytes: no allocation per record, no global state, every
 * declared length checked before use. Used by the hub's pDNS ingest and by the
 * offline d4-pdns command. Depends on hub/common and analyzers/pkt only. */
#ifndef D4_PDNS_H
#define D4_PDNS_H

#include <stddef.h>
#include <stdint.h>

#define D4_PDNS_NAME_MAX  1025	/* presentation name incl. \DDD escapes + NUL */
#define D4_PDNS_RDATA_MAX 65536 /* presentation rdata cap (longer is counted and skipped) */

/* One observed resource record. All strings are NUL-terminated, owned by the
 * producer and valid only during the callback. Canonical forms:
 * - rrname / bailiwick: presentation format, ASCII letters lower-cased,
 *   absolute with the trailing dot ("www.example.com.", root "."), non-printable
 *   and special bytes escaped as in RFC 1035 (\. \\ \DDD);
 * - rdata: presentation format of the type (RFC 1035/3596/2782/...; TXT strings
 *   quoted and kept verbatim apart from escaping, all strings of the record kept);
 *   unknown types as RFC 3597 "\# <len> <hex>"; names inside rdata lower-cased
 *   like rrname. */
struct d4_pdns_obs {
	const char *rrname;
	uint16_t rrtype;
	uint16_t rrclass; /* 1 = IN */
	const char *rdata;
	size_t rdata_len;      /* strlen(rdata) */
	const char *bailiwick; /* NULL when unknown */
	uint64_t time_first;   /* seconds since the epoch */
	uint64_t time_last;    /* == time_first for a single observation */
	uint64_t count;	       /* >= 1 */
	uint32_t ttl;
	const char *sensor_id; /* NULL unless the input names one (COF sensor_id, CSV 'h' field) */
};

/* Return 0 to continue; a negative D4_E* code stops the producer, which then
 * returns that code. */
typedef int (*d4_pdns_emit_fn)(void *arg, const struct d4_pdns_obs *obs);

/* Per-input counters of what was skipped and why (never fatal). */
struct d4_pdns_stats {
	uint64_t records;     /* observations emitted */
	uint64_t bad_lines;   /* CSV/COF lines that failed to parse */
	uint64_t bad_packets; /* frames/packets that are not decodable DNS */
	uint64_t not_dns;     /* packets that decode but are not DNS responses (ignored, not errors) */
	uint64_t too_long;    /* records whose rdata/name exceeded the caps */
	uint64_t tcp_gaps;    /* TCP streams abandoned after a gap or an overflow */
};

/* ---- rrtype mnemonics ---- */

/* "A", "AAAA", ..., "TYPE65535" for types without a mnemonic. Static string
 * or buf (cap >= 10). */
const char *d4_pdns_type_name(uint16_t type, char *buf, size_t cap);
/* Parses a mnemonic (case-insensitive) or "TYPEnnn" or a decimal number.
 * Returns 0 or D4_EINVAL. */
int d4_pdns_type_parse(const char *s, size_t n, uint16_t *out);

/* ---- DNS messages ---- */

/* Parses one DNS message (UDP payload, or one TCP message without its 2-byte
 * length prefix) observed at `ts` seconds. Only responses (QR=1) with RCODE
 * NOERROR produce observations: one per record of the answer section whose
 * class is IN (others counted as not_dns). Compression pointers are followed
 * only backwards with a hop limit (no loops). Returns 0, D4_ENOTSUP (a query
 * or an error response: nothing emitted), D4_EPROTO / D4_ETRUNC (malformed:
 * records already emitted from the same message stay emitted), or the emit
 * callback's error. `bailiwick` of the observations: the owner of an SOA or
 * NS record in the authority section that is an ancestor of the rrname, else
 * NULL. */
int d4_pdns_dns_parse(const uint8_t *msg, size_t n, uint64_t ts, d4_pdns_emit_fn emit, void *arg,
		      struct d4_pdns_stats *st);

/* ---- packets (pcap frames) ---- */

/* Stateful extractor over captured packets: UDP port 53 responses directly,
 * TCP port 53 through a bounded per-flow reassembly (2-byte length framing,
 * out-of-order segments within a window, flows expire after `tcp_idle` s of
 * capture time; memory capped). Opaque; one per input stream. */
struct d4_pdns_pcap;
/* Returns NULL on allocation failure. Caller owns; free with _free. */
struct d4_pdns_pcap *d4_pdns_pcap_new(size_t max_tcp_bytes, uint32_t tcp_idle);
void d4_pdns_pcap_free(struct d4_pdns_pcap *x);
/* Feeds one packet of link type `linktype` captured at ts_sec. Returns 0 (also
 * for non-DNS packets, counted) or the emit callback's error. */
int d4_pdns_pcap_packet(struct d4_pdns_pcap *x, int linktype, uint64_t ts_sec, const uint8_t *p, size_t n,
			d4_pdns_emit_fn emit, void *arg, struct d4_pdns_stats *st);

/* Splits a D4 type-1 payload stream (a pcap file: 24-byte global header then
 * records, in arbitrary frame cuts) into packets and feeds them to `x`.
 * Keeps the partial record across calls; caller owns. */
struct d4_pdns_pcapstream;
struct d4_pdns_pcapstream *d4_pdns_pcapstream_new(struct d4_pdns_pcap *x);
void d4_pdns_pcapstream_free(struct d4_pdns_pcapstream *s);
int d4_pdns_pcapstream_feed(struct d4_pdns_pcapstream *s, const uint8_t *p, size_t n, d4_pdns_emit_fn emit, void *arg,
			    struct d4_pdns_stats *st);

/* ---- passivedns CSV ---- */

/* A passivedns output field layout (its -f option letters, e.g. the default
 * "SMcsCQTAtn", or "HhpQTAtn") and separator (default "||"). */
struct d4_pdns_csv_spec {
	char fields[32];
	uint8_t nfields; /* output columns (S and M together form one column) */
	char sep[8];
	uint8_t seplen;
};
/* Parses a field spec; NULL or "" = the default layout. Returns 0 or
 * D4_EINVAL (unknown letter, no Q/T/A field, too many fields). */
int d4_pdns_csv_spec_parse(const char *fields, const char *sep, struct d4_pdns_csv_spec *out);
/* Parses one line (without its newline; a trailing \r is ignored). Emits one
 * observation, or none for NXDOMAIN lines / unknown classes. Returns 0, D4_EINVAL
 * (bad line: counted in st->bad_lines by the caller-visible stats) or the
 * emit callback's error. */
int d4_pdns_csv_line(const struct d4_pdns_csv_spec *spec, const char *line, size_t n, d4_pdns_emit_fn emit, void *arg,
		     struct d4_pdns_stats *st);

/* ---- COF ---- */

/* Parses one COF NDJSON line: rrname, rrtype (mnemonic or number), rdata
 * (string or array of strings: one observation each), time_first, time_last,
 * optional count, bailiwick, sensor_id. Size and depth capped before parsing.
 * Returns 0, D4_EJSON / D4_EINVAL (bad line, counted) or the emit callback's error. */
int d4_pdns_cof_line(const char *line, size_t n, d4_pdns_emit_fn emit, void *arg, struct d4_pdns_stats *st);

/* Writes *obs as one COF JSON object followed by '\n' into buf (rrtype as
 * mnemonic, sensor_id and bailiwick only when set, count always). Returns the
 * length written, or D4_ETOOBIG if cap is too small (buf then unspecified). */
int d4_pdns_cof_write(const struct d4_pdns_obs *obs, char *buf, size_t cap);

#endif
