/* Unit tests of analyzers/pkt: every link type and IP variant over
 * hand-built packets, and every truncation of each good packet (decoded
 * from an exact-size heap copy, so ASan sees any read past the end); the
 * pcap stream splitter over every cut of small streams. */
#include "d4_error.h"
#include "d4_pkt.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t PAY[] = {0xde, 0xad, 0xbe, 0xef, 0x01};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* IPv4 + UDP (or TCP when tcp) with PAY; `opt` 4-byte option words. */
static size_t ip4(uint8_t *b, int tcp, int opt, uint16_t frag)
{
	size_t ihl = 20 + 4 * (size_t)opt, l4 = tcp ? 24 : 8;
	size_t tot = ihl + l4 + sizeof(PAY);
	memset(b, 0, tot);
	b[0] = (uint8_t)(0x40 | (ihl / 4));
	put16(b + 2, (uint16_t)tot);
	put16(b + 6, frag);
	b[8] = 64;
	b[9] = tcp ? 6 : 17;
	uint8_t src[4] = {192, 0, 2, 1}, dst[4] = {198, 51, 100, 2};
	memcpy(b + 12, src, 4);
	memcpy(b + 16, dst, 4);
	for (int i = 0; i < opt; i++)
		b[20 + 4 * i] = 1; /* NOP options */
	uint8_t *t = b + ihl;
	put16(t, 53);
	put16(t + 2, 40000);
	if (tcp) {
		t[4] = 0x11;
		t[8] = 0x22;
		t[12] = 6 << 4; /* doff 24: one option word */
		t[13] = 0x18;
		t[20] = 1;
	} else
		put16(t + 4, (uint16_t)(8 + sizeof(PAY)));
	memcpy(t + l4, PAY, sizeof(PAY));
	return tot;
}

/* IPv6 + optional ext headers (list of next-header values) + UDP + PAY. */
static size_t ip6(uint8_t *b, const uint8_t *ext, int next, uint16_t fragfield)
{
	memset(b, 0, 40);
	b[0] = 0x60;
	b[7] = 33;
	b[8] = 0x20;
	b[9] = 0x01;
	b[10] = 0x0d;
	b[11] = 0xb8;
	b[23] = 1;
	b[24] = 0x20;
	b[25] = 0x01;
	b[26] = 0x0d;
	b[27] = 0xb8;
	b[39] = 2;
	size_t off = 40;
	uint8_t *nhp = b + 6;
	for (int i = 0; i < next; i++) {
		*nhp = ext[i];
		memset(b + off, 0, 16);
		nhp = b + off;
		if (ext[i] == 44) {
			put16(b + off + 2, fragfield);
			off += 8;
		} else {
			b[off + 1] = 1; /* 16 bytes */
			off += 16;
		}
	}
	*nhp = 17;
	put16(b + off, 53);
	put16(b + off + 2, 40001);
	put16(b + off + 4, (uint16_t)(8 + sizeof(PAY)));
	memcpy(b + off + 8, PAY, sizeof(PAY));
	off += 8 + sizeof(PAY);
	put16(b + 4, (uint16_t)(off - 40));
	return off;
}

/* Decodes from an exact-size heap copy. */
static int dec(int lt, const uint8_t *b, size_t n, struct d4_pkt *k)
{
	uint8_t *c = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(c);
	memcpy(c, b, n);
	int rc = d4_pkt_decode(lt, c, n, k);
	if (rc == 0) {
		ck_assert(k->l3 >= c && k->l3 + k->l3len <= c + n);
		if (k->l4)
			ck_assert(k->l4 >= c && k->l4 + k->l4len <= c + n);
		if (k->payload)
			ck_assert(k->payload >= c && k->payload + k->paylen <= c + n);
		if (k->payload && k->paylen == sizeof(PAY))
			ck_assert_mem_eq(k->payload, PAY, sizeof(PAY));
	}
	/* Pointers into c are dangling after this: callers look at values only. */
	k->l3 = k->l4 = k->payload = NULL;
	free(c);
	return rc;
}

static void check_v4_udp(const struct d4_pkt *k)
{
	char a[64];
	ck_assert_int_eq(k->ipver, 4);
	ck_assert_int_eq(k->proto, 17);
	ck_assert_int_eq(k->sport, 53);
	ck_assert_int_eq(k->dport, 40000);
	ck_assert_uint_eq(k->paylen, sizeof(PAY));
	ck_assert_int_eq(k->ttl, 64);
	ck_assert_int_eq(k->truncated, 0);
	ck_assert_str_eq(d4_pkt_addr_str(k->src, a, sizeof(a)), "192.0.2.1");
	ck_assert_str_eq(d4_pkt_addr_str(k->dst, a, sizeof(a)), "198.51.100.2");
}

static void check_v6_udp(const struct d4_pkt *k)
{
	char a[64];
	ck_assert_int_eq(k->ipver, 6);
	ck_assert_int_eq(k->proto, 17);
	ck_assert_int_eq(k->sport, 53);
	ck_assert_int_eq(k->dport, 40001);
	ck_assert_uint_eq(k->paylen, sizeof(PAY));
	ck_assert_int_eq(k->ttl, 33);
	ck_assert_str_eq(d4_pkt_addr_str(k->src, a, sizeof(a)), "2001:db8::1");
	ck_assert_str_eq(d4_pkt_addr_str(k->dst, a, sizeof(a)), "2001:db8::2");
}

/* Every truncation of a good packet decodes without reading past the end
 * and never reports a payload longer than what was captured. */
static void all_truncations(int lt, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct d4_pkt k;
		int rc = dec(lt, b, i, &k);
		ck_assert(rc == 0 || rc == D4_EPROTO || rc == D4_ENOTSUP);
		if (rc == 0 && k.paylen)
			ck_assert(k.truncated);
	}
}

enum { W_ETH, W_VLAN, W_QINQ, W_PPPOE, W_SLL, W_SLL2, W_NULL_LE, W_NULL_BE, W_LOOP, W_RAW, W_RAW12, W_RAW14, W_IPX };

/* Wraps an IP packet ip[0..n) in link layer `w`; returns link type and length. */
static size_t wrap(int w, const uint8_t *ip, size_t n, int v6, uint8_t *out, int *lt)
{
	size_t h = 0;
	uint16_t et = v6 ? 0x86dd : 0x0800;
	switch (w) {
	case W_ETH:
	case W_VLAN:
	case W_QINQ:
	case W_PPPOE:
		*lt = D4_LINK_ETHERNET;
		memset(out, 0xaa, 12);
		h = 12;
		if (w == W_QINQ) {
			put16(out + h, 0x88a8);
			put16(out + h + 2, 100);
			h += 4;
		}
		if (w == W_VLAN || w == W_QINQ) {
			put16(out + h, 0x8100);
			put16(out + h + 2, 200);
			h += 4;
		}
		if (w == W_PPPOE) {
			put16(out + h, 0x8864);
			out[h + 2] = 0x11;
			out[h + 3] = 0;
			put16(out + h + 4, 0x3b1a);
			put16(out + h + 6, (uint16_t)(n + 2));
			put16(out + h + 8, v6 ? 0x0057 : 0x0021);
			h += 10;
		} else {
			put16(out + h, et);
			h += 2;
		}
		break;
	case W_SLL:
		*lt = D4_LINK_LINUX_SLL;
		memset(out, 0, 16);
		put16(out + 14, et);
		h = 16;
		break;
	case W_SLL2:
		*lt = D4_LINK_LINUX_SLL2;
		memset(out, 0, 20);
		put16(out, et);
		h = 20;
		break;
	case W_NULL_LE:
	case W_NULL_BE: {
		*lt = D4_LINK_NULL;
		uint32_t fam = v6 ? 30 : 2;
		memset(out, 0, 4);
		if (w == W_NULL_LE)
			out[0] = (uint8_t)fam;
		else
			out[3] = (uint8_t)fam;
		h = 4;
		break;
	}
	case W_LOOP:
		*lt = D4_LINK_LOOP;
		memset(out, 0, 4);
		out[3] = v6 ? 24 : 2;
		h = 4;
		break;
	case W_RAW: *lt = D4_LINK_RAW; break;
	case W_RAW12: *lt = 12; break;
	case W_RAW14: *lt = 14; break;
	case W_IPX: *lt = v6 ? D4_LINK_IPV6 : D4_LINK_IPV4; break;
	}
	memcpy(out + h, ip, n);
	return h + n;
}

START_TEST(every_link_type)
{
	uint8_t ip[256], pkt[512];
	for (int v6 = 0; v6 <= 1; v6++) {
		size_t n = v6 ? ip6(ip, NULL, 0, 0) : ip4(ip, 0, 0, 0);
		for (int w = W_ETH; w <= W_IPX; w++) {
			int lt;
			size_t pn = wrap(w, ip, n, v6, pkt, &lt);
			struct d4_pkt k;
			ck_assert_msg(dec(lt, pkt, pn, &k) == 0, "wrap %d v6 %d", w, v6);
			if (v6)
				check_v6_udp(&k);
			else
				check_v4_udp(&k);
			all_truncations(lt, pkt, pn);
		}
	}
}
END_TEST

START_TEST(ethernet_padding_and_tcp)
{
	uint8_t ip[256], pkt[512];
	size_t n = ip4(ip, 1, 0, 0);
	int lt;
	size_t pn = wrap(W_ETH, ip, n, 0, pkt, &lt);
	memset(pkt + pn, 0, 20); /* trailer padding beyond the IP total length */
	struct d4_pkt k;
	ck_assert_int_eq(dec(lt, pkt, pn + 20, &k), 0);
	ck_assert_int_eq(k.proto, 6);
	ck_assert_uint_eq(k.paylen, sizeof(PAY));
	ck_assert_uint_eq(k.tcp_seq, 0x11000000u);
	ck_assert_uint_eq(k.tcp_ack, 0x22000000u);
	ck_assert_int_eq(k.tcp_flags, 0x18);
	ck_assert_uint_eq(k.l3len, n);
	all_truncations(lt, pkt, pn);
	/* data offset below 5 words and beyond the segment */
	ip[20 + 12] = 4 << 4;
	ck_assert_int_eq(dec(D4_LINK_RAW, ip, n, &k), D4_EPROTO);
	ip[20 + 12] = 15 << 4;
	ck_assert_int_eq(dec(D4_LINK_RAW, ip, n, &k), D4_EPROTO);
}
END_TEST

START_TEST(ipv4_options_fragments)
{
	uint8_t ip[256];
	struct d4_pkt k;
	size_t n = ip4(ip, 0, 3, 0);
	ck_assert_int_eq(dec(D4_LINK_RAW, ip, n, &k), 0);
	check_v4_udp(&k);
	all_truncations(D4_LINK_RAW, ip, n);
	/* first fragment (MF): ports decoded, flagged */
	n = ip4(ip, 0, 0, 0x2000);
	ck_assert_int_eq(dec(D4_LINK_RAW, ip, n, &k), 0);
	ck_assert_int_eq(k.fragment, 1);
	ck_assert_int_eq(k.sport, 53);
	/* later fragment: no transport fields */
	n = ip4(ip, 0, 0, 0x0010);
	ck_assert_int_eq(dec(D4_LINK_RAW, ip, n, &k), 0);
	ck_assert_int_eq(k.fragment, 1);
	ck_assert_int_eq(k.sport, 0);
	ck_assert_uint_eq(k.paylen, 0);
	/* DF alone is not a fragment */
	n = ip4(ip, 0, 0, 0x4000);
	ck_assert_int_eq(dec(D4_LINK_RAW, ip, n, &k), 0);
	ck_assert_int_eq(k.fragment, 0);
	/* IHL below 5, total length below IHL */
	n = ip4(ip, 0, 0, 0);
	ip[0] = 0x44;
	ck_assert_int_eq(dec(D4_LINK_RAW, ip, n, &k), D4_EPROTO);
	ip[0] = 0x45;
	put16(ip + 2, 10);
	ck_assert_int_eq(dec(D4_LINK_RAW, ip, n, &k), D4_EPROTO);
	/* total length above the capture: truncated, payload cut to the capture */
	put16(ip + 2, (uint16_t)(n + 100));
	ck_assert_int_eq(dec(D4_LINK_RAW, ip, n, &k), 0);
	ck_assert_int_eq(k.truncated, 1);
	ck_assert_uint_eq(k.ip_len, n + 100);
	/* UDP length below 8 */
	n = ip4(ip, 0, 0, 0);
	put16(ip + 24, 7);
	ck_assert_int_eq(dec(D4_LINK_RAW, ip, n, &k), D4_EPROTO);
}
END_TEST

START_TEST(ipv6_extension_headers)
{
	uint8_t ip[256];
	struct d4_pkt k;
	const uint8_t ext[] = {0, 43, 60, 44};
	size_t n = ip6(ip, ext, 4, 0x0001); /* first fragment (M set) */
	ck_assert_int_eq(dec(D4_LINK_RAW, ip, n, &k), 0);
	check_v6_udp(&k);
	ck_assert_int_eq(k.fragment, 1);
	all_truncations(D4_LINK_RAW, ip, n);
	n = ip6(ip, ext, 3, 0);
	ck_assert_int_eq(dec(D4_LINK_IPV6, ip, n, &k), 0);
	check_v6_udp(&k);
	ck_assert_int_eq(k.fragment, 0);
	all_truncations(D4_LINK_IPV6, ip, n);
	/* a later fragment: no ports */
	n = ip6(ip, ext + 3, 1, 0x0100);
	ck_assert_int_eq(dec(D4_LINK_RAW, ip, n, &k), 0);
	ck_assert_int_eq(k.fragment, 1);
	ck_assert_int_eq(k.sport, 0);
	ck_assert_int_eq(k.proto, 17);
	/* an extension header whose length runs past the packet */
	n = ip6(ip, ext, 1, 0);
	ip[41] = 200;
	ck_assert_int_eq(dec(D4_LINK_RAW, ip, n, &k), D4_EPROTO);
	/* a chain of 20 hop-by-hop headers exceeds the bound */
	uint8_t many[20];
	memset(many, 60, sizeof(many));
	uint8_t big[512];
	n = ip6(big, many, 20, 0);
	ck_assert_int_eq(dec(D4_LINK_RAW, big, n, &k), D4_EPROTO);
}
END_TEST

START_TEST(unsupported)
{
	uint8_t pkt[64] = {0};
	struct d4_pkt k;
	put16(pkt + 12, 0x0806); /* ARP */
	ck_assert_int_eq(dec(D4_LINK_ETHERNET, pkt, 60, &k), D4_ENOTSUP);
	ck_assert_int_eq(dec(999, pkt, 60, &k), D4_ENOTSUP);
	pkt[0] = 0x50; /* IP version 5 */
	ck_assert_int_eq(dec(D4_LINK_RAW, pkt, 60, &k), D4_ENOTSUP);
	ck_assert_int_eq(dec(D4_LINK_IPV4, pkt, 60, &k), D4_EPROTO);
	memset(pkt, 0, 8);
	pkt[0] = 7; /* unknown AF */
	ck_assert_int_eq(dec(D4_LINK_NULL, pkt, 60, &k), D4_ENOTSUP);
	/* PPPoE discovery code and a non-IP PPP protocol */
	memset(pkt, 0, sizeof(pkt));
	put16(pkt + 12, 0x8864);
	pkt[14] = 0x11;
	pkt[15] = 0x09;
	ck_assert_int_eq(dec(D4_LINK_ETHERNET, pkt, 60, &k), D4_ENOTSUP);
	pkt[15] = 0;
	put16(pkt + 18, 30);
	put16(pkt + 20, 0xc021); /* LCP */
	ck_assert_int_eq(dec(D4_LINK_ETHERNET, pkt, 60, &k), D4_ENOTSUP);
	/* nine stacked VLAN tags */
	for (int i = 0; i < 9; i++)
		put16(pkt + 12 + 4 * i, 0x8100);
	ck_assert_int_eq(dec(D4_LINK_ETHERNET, pkt, 64, &k), D4_EPROTO);
	ck_assert_int_eq(d4_pkt_decode(D4_LINK_RAW, NULL, 0, &k), D4_EPROTO);
}
END_TEST

START_TEST(addr_str)
{
	uint8_t a[16] = {0};
	char buf[64];
	ck_assert_str_eq(d4_pkt_addr_str(a, buf, sizeof(buf)), "::");
	a[10] = a[11] = 0xff;
	a[12] = 10;
	a[15] = 1;
	ck_assert_str_eq(d4_pkt_addr_str(a, buf, sizeof(buf)), "10.0.0.1");
	memset(a, 0, 16);
	a[0] = 0xfe;
	a[1] = 0x80;
	a[15] = 0x42;
	ck_assert_str_eq(d4_pkt_addr_str(a, buf, sizeof(buf)), "fe80::42");
}
END_TEST

/* ---- pcap stream splitter ---- */

struct recs {
	unsigned n;
	uint64_t ts[16];
	uint32_t len[16];
	uint8_t first[16];
	uint32_t link;
};

static int rec_cb(void *ud, const struct d4_pcap_rec *r)
{
	struct recs *R = ud;
	ck_assert_uint_lt(R->n, 16);
	R->ts[R->n] = r->ts_us;
	R->len[R->n] = r->caplen;
	R->first[R->n] = r->caplen ? r->data[0] : 0;
	R->link = r->linktype;
	R->n++;
	return 0;
}

static void w32(uint8_t *p, uint32_t v, int be)
{
	for (int i = 0; i < 4; i++)
		p[i] = be ? (uint8_t)(v >> (24 - 8 * i)) : (uint8_t)(v >> (8 * i));
}

/* A stream of 3 records of 5, 0 and 9 bytes; returns its length. */
static size_t stream(uint8_t *b, int be, int nsec, uint32_t snaplen)
{
	w32(b, nsec ? 0xa1b23c4d : 0xa1b2c3d4, be);
	memset(b + 4, 0, 12);
	w32(b + 16, snaplen, be);
	w32(b + 20, 101, be);
	size_t o = 24;
	static const uint32_t lens[3] = {5, 0, 9};
	for (unsigned i = 0; i < 3; i++) {
		w32(b + o, 1700000000u + i, be);
		w32(b + o + 4, nsec ? 123456789u : 123456u, be);
		w32(b + o + 8, lens[i], be);
		w32(b + o + 12, lens[i], be);
		memset(b + o + 16, 0x40 + (int)i, lens[i]);
		o += 16 + lens[i];
	}
	return o;
}

/* Every cut of the stream into two pieces, and byte by byte, gives the
 * same records; both byte orders and precisions; pending() says where the
 * unit in progress began. */
START_TEST(pcapsplit_cuts)
{
	for (int be = 0; be < 2; be++)
		for (int nsec = 0; nsec < 2; nsec++) {
			uint8_t b[256];
			size_t n = stream(b, be, nsec, 65535);
			for (size_t cut = 0; cut <= n; cut++) {
				struct d4_pcapsplit *s = d4_pcapsplit_new(0);
				struct recs R;
				memset(&R, 0, sizeof(R));
				ck_assert_int_eq(d4_pcapsplit_feed(s, b, cut, rec_cb, &R), 0);
				size_t pend = d4_pcapsplit_pending(s);
				ck_assert_uint_le(pend, cut);
				/* the unit in progress starts at cut - pend: 0, 24, 45, 61 or the end */
				size_t at = cut - pend;
				ck_assert(at == 0 || at == 24 || at == 45 || at == 61 || at == n);
				ck_assert_int_eq(d4_pcapsplit_feed(s, b + cut, n - cut, rec_cb, &R), 0);
				ck_assert_uint_eq(d4_pcapsplit_pending(s), 0);
				ck_assert_uint_eq(R.n, 3);
				ck_assert_uint_eq(R.ts[0], 1700000000123456ull);
				ck_assert_uint_eq(R.ts[2], 1700000002123456ull);
				ck_assert_uint_eq(R.len[0], 5);
				ck_assert_uint_eq(R.len[1], 0);
				ck_assert_uint_eq(R.len[2], 9);
				ck_assert_uint_eq(R.first[2], 0x42);
				ck_assert_uint_eq(R.link, 101);
				struct d4_pcap_info in;
				ck_assert_int_eq(d4_pcapsplit_info(s, &in), 0);
				ck_assert_uint_eq(in.be, (unsigned)be);
				ck_assert_uint_eq(in.nsec, (unsigned)nsec);
				ck_assert_uint_eq(in.snaplen, 65535);
				d4_pcapsplit_free(s);
			}
			struct d4_pcapsplit *s = d4_pcapsplit_new(0);
			struct recs R;
			memset(&R, 0, sizeof(R));
			for (size_t i = 0; i < n; i++)
				ck_assert_int_eq(d4_pcapsplit_feed(s, b + i, 1, rec_cb, &R), 0);
			ck_assert_uint_eq(R.n, 3);
			/* resumed at the second record from the header info */
			struct d4_pcap_info in;
			ck_assert_int_eq(d4_pcapsplit_info(s, &in), 0);
			d4_pcapsplit_resume(s, &in);
			memset(&R, 0, sizeof(R));
			ck_assert_int_eq(d4_pcapsplit_feed(s, b + 45, n - 45, rec_cb, &R), 0);
			ck_assert_uint_eq(R.n, 2);
			ck_assert_uint_eq(R.len[1], 9);
			d4_pcapsplit_free(s);
		}
}
END_TEST

/* pcapng, garbage and a record over the snaplen are refused with their
 * reason, for good; a second global header restarts the stream. */
START_TEST(pcapsplit_refused)
{
	uint8_t b[256];
	struct recs R;
	memset(&R, 0, sizeof(R));
	struct d4_pcapsplit *s = d4_pcapsplit_new(0);
	static const uint8_t ng[28] = {0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 28, 0x1a, 0x2b, 0x3c, 0x4d};
	ck_assert_int_eq(d4_pcapsplit_feed(s, ng, sizeof(ng), rec_cb, &R), D4_ENOTSUP);
	ck_assert_int_eq(d4_pcapsplit_failed(s), D4_PCAP_F_PCAPNG);
	ck_assert_int_eq(d4_pcapsplit_feed(s, ng, 4, rec_cb, &R), D4_ENOTSUP);
	ck_assert_str_eq(d4_pcap_fail_name(d4_pcapsplit_failed(s)), "pcapng");
	d4_pcapsplit_reset(s);
	ck_assert_int_eq(d4_pcapsplit_feed(s, (const uint8_t *)"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, rec_cb, &R),
			 D4_EPROTO);
	ck_assert_int_eq(d4_pcapsplit_failed(s), D4_PCAP_F_MAGIC);
	d4_pcapsplit_reset(s);
	size_t n = stream(b, 0, 0, 8); /* the 9-byte record is over the snaplen */
	ck_assert_int_eq(d4_pcapsplit_feed(s, b, n, rec_cb, &R), D4_ETOOBIG);
	ck_assert_uint_eq(R.n, 2);
	ck_assert_int_eq(d4_pcapsplit_failed(s), D4_PCAP_F_TOOBIG);
	d4_pcapsplit_free(s);
	/* max_record caps too */
	s = d4_pcapsplit_new(6);
	memset(&R, 0, sizeof(R));
	n = stream(b, 1, 0, 0);
	ck_assert_int_eq(d4_pcapsplit_feed(s, b, n, rec_cb, &R), D4_ETOOBIG);
	ck_assert_uint_eq(R.n, 2);
	d4_pcapsplit_free(s);
	/* a restarted capture: header, records, header (other byte order), records */
	s = d4_pcapsplit_new(0);
	memset(&R, 0, sizeof(R));
	n = stream(b, 0, 0, 65535);
	size_t n2 = stream(b + n, 1, 1, 65535);
	ck_assert_int_eq(d4_pcapsplit_feed(s, b, n + n2, rec_cb, &R), 0);
	ck_assert_uint_eq(R.n, 6);
	ck_assert_uint_eq(R.ts[5], 1700000002123456ull);
	d4_pcapsplit_free(s);
}
END_TEST

static Suite *pkt_suite(void)
{
	Suite *s = suite_create("pkt");
	TCase *tc = tcase_create("decode");
	tcase_add_test(tc, every_link_type);
	tcase_add_test(tc, ethernet_padding_and_tcp);
	tcase_add_test(tc, ipv4_options_fragments);
	tcase_add_test(tc, ipv6_extension_headers);
	tcase_add_test(tc, unsupported);
	tcase_add_test(tc, addr_str);
	tcase_add_test(tc, pcapsplit_cuts);
	tcase_add_test(tc, pcapsplit_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pkt_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
