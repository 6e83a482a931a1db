/* d4_pkt — link, IP and transport decoding of captured packets.
 * Every header is length-checked against the captured bytes before it is
 * read; the IP total length only ever shortens what is looked at (trailing
 * link padding), never lengthens it (a truncated capture is flagged). */
#include "d4_pkt.h"

#include <arpa/inet.h>
#include <string.h>

#include "d4_error.h"

#define ETH_IPV4   0x0800
#define ETH_IPV6   0x86dd
#define ETH_VLAN   0x8100
#define ETH_QINQ   0x88a8
#define ETH_QINQ_O 0x9100 /* pre-standard stacked tag still seen in the wild */
#define ETH_PPPOE  0x8864
#define MAX_TAGS   8
#define MAX_EXTHDR 16

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int decode_l4(const uint8_t *p, size_t n, struct d4_pkt *o)
{
	o->l4 = p;
	o->l4len = n;
	if (o->proto == 6) {
		if (n < 20)
			return D4_EPROTO;
		size_t doff = (size_t)(p[12] >> 4) * 4;
		if (doff < 20 || doff > n)
			return D4_EPROTO;
		o->sport = be16(p);
		o->dport = be16(p + 2);
		o->tcp_seq = be32(p + 4);
		o->tcp_ack = be32(p + 8);
		o->tcp_flags = p[13];
		o->payload = p + doff;
		o->paylen = n - doff;
	} else if (o->proto == 17) {
		if (n < 8)
			return D4_EPROTO;
		size_t ulen = be16(p + 4);
		if (ulen < 8)
			return D4_EPROTO;
		o->sport = be16(p);
		o->dport = be16(p + 2);
		o->payload = p + 8;
		/* The UDP length trims padding; a longer one means the capture was cut. */
		if (ulen <= n)
			o->paylen = ulen - 8;
		else {
			o->paylen = n - 8;
			o->truncated = 1;
		}
	}
	return 0;
}

static int decode_ipv4(const uint8_t *p, size_t n, struct d4_pkt *o)
{
	if (n < 20 || (p[0] >> 4) != 4)
		return D4_EPROTO;
	size_t ihl = (size_t)(p[0] & 0x0f) * 4;
	size_t tot = be16(p + 2);
	if (ihl < 20 || ihl > n || tot < ihl)
		return D4_EPROTO;
	o->ipver = 4;
	o->l3 = p;
	o->ip_len = (uint32_t)tot;
	if (tot > n)
		o->truncated = 1;
	else
		n = tot;
	o->l3len = n;
	o->ttl = p[8];
	o->proto = p[9];
	memset(o->src, 0, 10);
	o->src[10] = o->src[11] = 0xff;
	memcpy(o->src + 12, p + 12, 4);
	memset(o->dst, 0, 10);
	o->dst[10] = o->dst[11] = 0xff;
	memcpy(o->dst + 12, p + 16, 4);
	uint16_t frag = be16(p + 6);
	if (frag & 0x3fff) {
		o->fragment = 1;
		if (frag & 0x1fff) { /* not the first fragment: no transport header here */
			o->l4 = p + ihl;
			o->l4len = n - ihl;
			return 0;
		}
	}
	return decode_l4(p + ihl, n - ihl, o);
}

static int decode_ipv6(const uint8_t *p, size_t n, struct d4_pkt *o)
{
	if (n < 40 || (p[0] >> 4) != 6)
		return D4_EPROTO;
	size_t plen = be16(p + 4);
	o->ipver = 6;
	o->l3 = p;
	/* Payload length 0 is a jumbogram (hop-by-hop option): take the capture. */
	if (plen == 0)
		plen = n - 40;
	o->ip_len = (uint32_t)(plen + 40);
	if (plen + 40 > n)
		o->truncated = 1;
	else
		n = plen + 40;
	o->l3len = n;
	o->ttl = p[7];
	memcpy(o->src, p + 8, 16);
	memcpy(o->dst, p + 24, 16);
	uint8_t nh = p[6];
	size_t off = 40;
	for (int i = 0; i < MAX_EXTHDR; i++) {
		switch (nh) {
		case 0:	 /* hop-by-hop */
		case 43: /* routing */
		case 60: /* destination options */
		case 51: /* AH: length in 4-byte units */
		{
			if (n - off < 8)
				return D4_EPROTO;
			size_t hl = nh == 51 ? ((size_t)p[off + 1] + 2) * 4 : ((size_t)p[off + 1] + 1) * 8;
			if (hl > n - off)
				return D4_EPROTO;
			nh = p[off];
			off += hl;
			continue;
		}
		case 44: { /* fragment */
			if (n - off < 8)
				return D4_EPROTO;
			uint16_t fo = be16(p + off + 2);
			nh = p[off];
			off += 8;
			if (fo & 0xfff9) /* offset or more-fragments */
				o->fragment = 1;
			if (fo & 0xfff8) {
				o->proto = nh;
				o->l4 = p + off;
				o->l4len = n - off;
				return 0;
			}
			continue;
		}
		default: o->proto = nh; return decode_l4(p + off, n - off, o);
		}
	}
	return D4_EPROTO;
}

static int decode_ip(const uint8_t *p, size_t n, struct d4_pkt *o)
{
	if (n < 1)
		return D4_EPROTO;
	switch (p[0] >> 4) {
	case 4: return decode_ipv4(p, n, o);
	case 6: return decode_ipv6(p, n, o);
	default: return D4_ENOTSUP;
	}
}

/* Ethertype dispatch shared by Ethernet and Linux cooked captures: VLAN tags
 * (any stacking up to MAX_TAGS) and PPPoE session frames are peeled off. */
static int decode_ethertype(uint16_t et, const uint8_t *p, size_t n, struct d4_pkt *o)
{
	for (int tags = 0;; tags++) {
		if (et == ETH_VLAN || et == ETH_QINQ || et == ETH_QINQ_O) {
			if (tags >= MAX_TAGS || n < 4)
				return D4_EPROTO;
			et = be16(p + 2);
			p += 4;
			n -= 4;
			continue;
		}
		break;
	}
	switch (et) {
	case ETH_IPV4: return decode_ipv4(p, n, o);
	case ETH_IPV6: return decode_ipv6(p, n, o);
	case ETH_PPPOE: {
		if (n < 8)
			return D4_EPROTO;
		if (p[0] != 0x11 || p[1] != 0x00) /* version 1 type 1, session data */
			return D4_ENOTSUP;
		size_t plen = be16(p + 4);
		uint16_t proto = be16(p + 6);
		if (plen < 2)
			return D4_EPROTO;
		p += 8;
		n -= 8;
		if (plen - 2 < n)
			n = plen - 2;
		if (proto == 0x0021)
			return decode_ipv4(p, n, o);
		if (proto == 0x0057)
			return decode_ipv6(p, n, o);
		return D4_ENOTSUP;
	}
	default: return D4_ENOTSUP;
	}
}

/* BSD address families for IPv6 differ between systems; IPv4 is 2 everywhere. */
static int decode_family(uint32_t fam, const uint8_t *p, size_t n, struct d4_pkt *o)
{
	switch (fam) {
	case 2: return decode_ipv4(p, n, o);
	case 10:
	case 24:
	case 28:
	case 30: return decode_ipv6(p, n, o);
	default: return D4_ENOTSUP;
	}
}

int d4_pkt_decode(int linktype, const uint8_t *p, size_t n, struct d4_pkt *out)
{
	memset(out, 0, sizeof(*out));
	if (!p)
		return D4_EPROTO;
	switch (linktype) {
	case D4_LINK_NULL: {
		if (n < 4)
			return D4_EPROTO;
		/* Host byte order of the capturing machine: try both. */
		uint32_t le = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
		uint32_t fam = le < 256 ? le : be32(p);
		return decode_family(fam, p + 4, n - 4, out);
	}
	case D4_LINK_LOOP:
		if (n < 4)
			return D4_EPROTO;
		return decode_family(be32(p), p + 4, n - 4, out);
	case D4_LINK_ETHERNET:
		if (n < 14)
			return D4_EPROTO;
		return decode_ethertype(be16(p + 12), p + 14, n - 14, out);
	case D4_LINK_RAW:
	case 12:
	case 14: return decode_ip(p, n, out);
	case D4_LINK_IPV4: return decode_ipv4(p, n, out);
	case D4_LINK_IPV6: return decode_ipv6(p, n, out);
	case D4_LINK_LINUX_SLL:
		if (n < 16)
			return D4_EPROTO;
		return decode_ethertype(be16(p + 14), p + 16, n - 16, out);
	case D4_LINK_LINUX_SLL2:
		if (n < 20)
			return D4_EPROTO;
		return decode_ethertype(be16(p), p + 20, n - 20, out);
	default: return D4_ENOTSUP;
	}
}

const char *d4_pkt_addr_str(const uint8_t addr[16], char *buf, size_t cap)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (!buf || cap == 0)
		return buf;
	buf[0] = '\0';
	if (memcmp(addr, mapped, 12) == 0) {
		if (!inet_ntop(AF_INET, addr + 12, buf, (socklen_t)cap))
			buf[0] = '\0';
	} else if (!inet_ntop(AF_INET6, addr, buf, (socklen_t)cap))
		buf[0] = '\0';
	return buf;
}
