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

#endif
