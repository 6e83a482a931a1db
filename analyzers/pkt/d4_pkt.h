/* d4_pkt — bounds-checked decoding of captured packets down to the
 * transport payload. Pure functions over (const uint8_t *, size_t): no
 * allocation, no global state; every length is checked against the capture
 * before it is used. Shared by the passive-DNS, backscatter and passive-SSL
 * analyzers. */
#ifndef D4_PKT_H
#define D4_PKT_H

#include <stddef.h>
#include <stdint.h>

/* pcap link types (LINKTYPE_* values as written in pcap/pcapng files). */
enum {
	D4_LINK_NULL = 0,     /* BSD loopback, host-order AF_ family word */
	D4_LINK_ETHERNET = 1, /* incl. 802.1Q / 802.1ad tags and PPPoE sessions */
	D4_LINK_RAW = 101,    /* raw IPv4 or IPv6 (also accepted: 12 and 14 as written by some OSes) */
	D4_LINK_LOOP = 108,   /* OpenBSD loopback, network-order family */
	D4_LINK_LINUX_SLL = 113,
	D4_LINK_IPV4 = 228,
	D4_LINK_IPV6 = 229,
	D4_LINK_LINUX_SLL2 = 276,
};

struct d4_pkt {
	uint8_t ipver;	 /* 4 or 6 */
	uint8_t proto;	 /* IP protocol of the transport (after IPv6 extension headers) */
	uint8_t src[16]; /* IPv4 as v4-mapped IPv6 (::ffff:a.b.c.d) */
	uint8_t dst[16];
	uint8_t ttl;	  /* IPv4 TTL / IPv6 hop limit */
	uint8_t fragment; /* 1: an IP fragment (not reassembled); l4 fields then unset unless first fragment */
	uint16_t sport;	  /* TCP/UDP ports, 0 otherwise */
	uint16_t dport;
	uint8_t tcp_flags; /* TCP only */
	uint32_t tcp_seq;  /* TCP only */
	uint32_t tcp_ack;  /* TCP only */
	const uint8_t *l3; /* start of the IP header inside the caller's buffer */
	size_t l3len;	   /* bytes from l3 to the end of the capture (bounded by the IP total length) */
	const uint8_t *l4; /* transport header (TCP/UDP/ICMP/ICMPv6...) */
	size_t l4len;
	const uint8_t *payload; /* TCP/UDP payload (NULL for other protocols) */
	size_t paylen;
	uint32_t ip_len;   /* total length declared by the IP header (may exceed the capture) */
	uint8_t truncated; /* 1: the capture is shorter than the IP header declares */
};

/* Decodes one captured packet of link type `linktype`. Fills *out with
 * pointers into `p` (borrowed: valid as long as the caller's buffer).
 * Returns 0, D4_ENOTSUP for a link type / ethertype / IP version it does
 * not decode (not an error of the packet), or D4_EPROTO for a malformed or
 * truncated-below-headers packet. Never reads outside [p, p+n). */
int d4_pkt_decode(int linktype, const uint8_t *p, size_t n, struct d4_pkt *out);

/* Formats an address of *pkt (v4-mapped shown as dotted quad) into buf;
 * returns buf. cap >= 46. */
const char *d4_pkt_addr_str(const uint8_t addr[16], char *buf, size_t cap);

/* ---- pcap byte stream splitter ----
 * A classic pcap stream (global header, then records) as it arrives cut in
 * arbitrary pieces (D4 type-1 frames): fed piece by piece, it calls back
 * once per complete record. Microsecond (0xa1b2c3d4) and nanosecond
 * (0xa1b23c4d) files in either byte order. Refused, with the stream then
 * failed for good (pcap has no resynchronisation point): pcapng
 * (D4_ENOTSUP), any other first four bytes (D4_EPROTO), a record longer
 * than the snaplen or than max_record (D4_ETOOBIG). A global header where a
 * record header is expected (a capture restarted on the same stream) is
 * taken as the new header. No I/O, no global state; the one allocation is
 * the buffer of a record cut across pieces: exactly its caplen (at most
 * max_record bytes), freed once the record is delivered. */
#define D4_PCAP_RECORD_MAX (256u << 10) /* default and upper bound of max_record */

/* Why a stream failed (d4_pcapsplit_failed). Stable values (counted). */
enum d4_pcap_fail {
	D4_PCAP_F_NONE = 0,
	D4_PCAP_F_PCAPNG = 1, /* a pcapng section header: not handled in a stream */
	D4_PCAP_F_MAGIC = 2,  /* not a pcap global header */
	D4_PCAP_F_TOOBIG = 3, /* record caplen over the snaplen or max_record */
	D4_PCAP_F_COUNT = 4
};

/* What the global header says (kept by the hub to resume a stream). */
struct d4_pcap_info {
	uint32_t linktype; /* LINKTYPE_* (low 16 bits of the header's field) */
	uint32_t snaplen;
	uint8_t be;   /* 1: written big-endian */
	uint8_t nsec; /* 1: nanosecond timestamps */
};

/* One record; data borrowed for the callback (the piece fed, or the
 * splitter's buffer for a record cut across pieces). */
struct d4_pcap_rec {
	uint64_t ts_us; /* microseconds since the epoch (nanoseconds truncated) */
	uint32_t caplen, origlen;
	const uint8_t *data; /* caplen bytes */
	uint32_t linktype;
};

/* Returns 0 to go on, a negative D4_E* to stop the feed (returned by it). */
typedef int (*d4_pcap_rec_fn)(void *ud, const struct d4_pcap_rec *r);

struct d4_pcapsplit;
/* max_record 0 or above D4_PCAP_RECORD_MAX: D4_PCAP_RECORD_MAX. NULL on
 * allocation failure. Owned by the caller: d4_pcapsplit_free. */
struct d4_pcapsplit *d4_pcapsplit_new(size_t max_record);
void d4_pcapsplit_free(struct d4_pcapsplit *s); /* NULL accepted */
/* Back to the start of a stream (a global header expected first). */
void d4_pcapsplit_reset(struct d4_pcapsplit *s);
/* At a record boundary of a stream whose global header said *h (resuming a
 * stream after a restart). */
void d4_pcapsplit_resume(struct d4_pcapsplit *s, const struct d4_pcap_info *h);
/* Feeds n bytes. Returns 0 (all consumed; a partial record is kept), the
 * stream's failure code (D4_ENOTSUP, D4_EPROTO, D4_ETOOBIG: once failed,
 * every later feed returns it and ignores its bytes), D4_ENOMEM (the record
 * buffer: the state is then undefined, reset the splitter), or the
 * callback's negative code (the records before it were delivered; the
 * splitter's position is after the record that stopped it). */
int d4_pcapsplit_feed(struct d4_pcapsplit *s, const uint8_t *p, size_t n, d4_pcap_rec_fn cb, void *ud);
/* 0 and *out filled once a global header was read, else D4_EAGAIN. */
int d4_pcapsplit_info(const struct d4_pcapsplit *s, struct d4_pcap_info *out);
/* Bytes of the unit in progress (global header, record header and body)
 * received so far: 0 at a boundary. After a feed of n bytes, a value <= n
 * means that unit began in that feed, at offset n - value. */
size_t d4_pcapsplit_pending(const struct d4_pcapsplit *s);
/* Bytes allocated for a record cut across pieces (0 when none is pending). */
size_t d4_pcapsplit_held(const struct d4_pcapsplit *s);
/* enum d4_pcap_fail: why the stream failed, D4_PCAP_F_NONE while it has not. */
int d4_pcapsplit_failed(const struct d4_pcapsplit *s);
/* "none", "pcapng", "not-pcap", "record-too-big". Static strings. */
const char *d4_pcap_fail_name(int f);

#endif
