/* d4_pdns — passive-DNS record extraction: DNS messages (from UDP and
 * reassembled TCP), passivedns CSV lines (any field layout) and COF NDJSON
 * lines become observations (rrname, rrtype, rdata, time, count), and
 * observations are written back as COF (draft-dulaunoy-dnsop-passive-dns-cof).
 * Pure parsers over bytes: no allocation per record, no global state, every
 * declared length checked before use. Used by the hub's pDNS ingest and by the
 * offline d4-pdns command. Depends on hub/common and analyzers/pkt only. */
#ifndef D4_PDNS_H
#define D4_PDNS_H

#include "d4_pkt.h"

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
/* Restarts the splitter at a pcap global header (a new capture on the same
 * extractor); a stream that failed (bad magic, caplen over snaplen or the
 * 256 KiB cap: feed returned D4_EPROTO / D4_ETOOBIG / D4_ENOTSUP for pcapng
 * and then ignores its input) becomes usable again. */
void d4_pdns_pcapstream_reset(struct d4_pdns_pcapstream *s);
/* 1 when the extractor holds no TCP flow: a new one would behave the same
 * from here on (a consumer's clean point, where a restart can resume). */
int d4_pdns_pcap_idle(const struct d4_pdns_pcap *x);
/* 0 and *out filled (be: written big-endian; nsec 0, the extractor keeps
 * seconds) when the splitter is at a record boundary after a global header;
 * D4_EAGAIN in a header or a record, or once the stream failed. */
int d4_pdns_pcapstream_boundary(const struct d4_pdns_pcapstream *s, struct d4_pcap_info *out);
/* At a record boundary of a stream whose global header said *h (resuming a
 * stream after a restart, at a point _boundary reported). */
void d4_pdns_pcapstream_resume(struct d4_pdns_pcapstream *s, const struct d4_pcap_info *h);

/* ---- canonical text (used by the CSV and COF parsers; exported so that
 * query code canonicalises names the same way) ---- */

/* Canonicalises a presentation-format domain name into out (NUL-terminated):
 * ASCII letters lower-cased (also after a backslash), raw bytes outside
 * 0x21..0x7e written as \DDD, existing \DDD and \X escapes kept, trailing dot
 * added ("" is invalid, "." is the root). Rejects empty labels, labels over 63
 * and names over 255 octets in wire form, a bad escape. Returns the length,
 * D4_EINVAL, or D4_ETOOBIG if cap is too small (cap >= D4_PDNS_NAME_MAX is
 * always enough). Pure; writes only out. */
int d4_pdns_name_canon(const char *in, size_t n, char *out, size_t cap);
/* Canonicalises rdata text of type `type` into out (NUL-terminated): raw bytes
 * outside 0x20..0x7e written as \DDD (so canonical rdata is printable ASCII
 * and JSON-safe), ASCII letters lower-cased for the types whose rdata is made
 * of names and numbers only (NS, CNAME, SOA, PTR, MX, SRV, DNAME, ...; never
 * TXT). Returns the length or D4_ETOOBIG (cap too small). Pure. */
int d4_pdns_rdata_canon(uint16_t type, const char *in, size_t n, char *out, size_t cap);

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
/* Column order: passivedns prints its columns in one fixed order whatever the
 * order of the -f letters (time H | S[.M] | M, h, c, w, s, W, p, C, Q, L, T,
 * A, l, t, n), so a spec is a set of letters; spec.fields holds one letter
 * per column in that order ('S' for the S.M column). A layout needs Q, T, A and
 * a time (H or S). The A column may contain the separator (TXT): the columns
 * after it are taken from the end of the line. H is read as UTC. Error lines
 * (answer NXDOMAIN, SERVFAIL, ... as printed by passivedns -X) and classes
 * other than IN emit nothing and count in st->not_dns; a name or rdata over
 * the caps counts in st->too_long (return 0). The function itself increments
 * st->bad_lines for D4_EINVAL and st->records per observation (st may be
 * NULL): callers must not count them again. */
int d4_pdns_csv_line(const struct d4_pdns_csv_spec *spec, const char *line, size_t n, d4_pdns_emit_fn emit, void *arg,
		     struct d4_pdns_stats *st);

/* ---- COF ---- */

/* Parses one COF NDJSON line: rrname, rrtype (mnemonic or number), rdata
 * (string or array of strings: one observation each), time_first, time_last,
 * optional count, bailiwick, sensor_id. Size and depth capped before parsing.
 * Returns 0, D4_EJSON / D4_EINVAL (bad line, counted) or the emit callback's error. */
#define D4_PDNS_COF_LINE_MAX  (1u << 20) /* longer COF lines are bad lines */
#define D4_PDNS_COF_DEPTH_MAX 4		 /* nesting of objects/arrays in a COF line */
/* Like the CSV parser, it increments st->bad_lines / st->records itself.
 * Names are canonicalised like CSV names, rdata with d4_pdns_rdata_canon; the
 * JSON string escapes are decoded first, so a byte >= 0x80 or a control byte
 * arrives as \DDD. time_first <= time_last, count >= 1 (default 1), rrclass 1,
 * ttl 0. Unknown keys are ignored; a known key twice is a bad line. */
int d4_pdns_cof_line(const char *line, size_t n, d4_pdns_emit_fn emit, void *arg, struct d4_pdns_stats *st);

/* Writes *obs as one COF JSON object followed by '\n' into buf (rrtype as
 * mnemonic, sensor_id and bailiwick only when set, count always). Returns the
 * length written, or D4_ETOOBIG if cap is too small (buf then unspecified). */
/* Bytes: rrname, rdata and bailiwick are written in canonical form: raw bytes
 * outside 0x20..0x7e (0x21..0x7e in names) become \DDD presentation escapes,
 * so the output is always ASCII, valid JSON, and parsing it back with
 * d4_pdns_cof_line gives the same observation for canonical input.
 * sensor_id is free text: valid UTF-8 is kept, control bytes become \u00XX,
 * each byte of an invalid UTF-8 sequence becomes U+FFFD. NUL is appended
 * (not counted in the returned length). */
int d4_pdns_cof_write(const struct d4_pdns_obs *obs, char *buf, size_t cap);

#endif
