/* Unit tests of analyzers/backscatter over packets built here: every kind
 * over IPv4 and IPv6, raw and Ethernet, ICMP errors quoting TCP/UDP, scans,
 * live mode, vectors with exact counts, each threshold from just below,
 * idle close, the rate estimate and order independence. */
#include "d4_backscatter.h"
#include "d4_error.h"
#include "d4_pkt.h"

#include <arpa/inet.h>
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define US 1000000ull
/* A minute boundary: per-minute counts below are exact from here. */
#define T0 (1700000040ull * US)

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static int is6(const char *a)
{
	return strchr(a, ':') != NULL;
}

static size_t mk_ip(uint8_t *b, const char *src, const char *dst, uint8_t proto, const uint8_t *l4, size_t l4n)
{
	if (is6(src)) {
		memset(b, 0, 40);
		b[0] = 0x60;
		put16(b + 4, (uint16_t)l4n);
		b[6] = proto;
		b[7] = 64;
		ck_assert_int_eq(inet_pton(AF_INET6, src, b + 8), 1);
		ck_assert_int_eq(inet_pton(AF_INET6, dst, b + 24), 1);
		memcpy(b + 40, l4, l4n);
		return 40 + l4n;
	}
	memset(b, 0, 20);
	b[0] = 0x45;
	put16(b + 2, (uint16_t)(20 + l4n));
	b[8] = 64;
	b[9] = proto;
	ck_assert_int_eq(inet_pton(AF_INET, src, b + 12), 1);
	ck_assert_int_eq(inet_pton(AF_INET, dst, b + 16), 1);
	memcpy(b + 20, l4, l4n);
	return 20 + l4n;
}

static size_t mk_tcp(uint8_t *t, uint16_t sp, uint16_t dp, uint8_t flags)
{
	memset(t, 0, 20);
	put16(t, sp);
	put16(t + 2, dp);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, 65535);
	return 20;
}

static size_t mk_udp(uint8_t *t, uint16_t sp, uint16_t dp)
{
	memset(t, 0, 12);
	put16(t, sp);
	put16(t + 2, dp);
	put16(t + 4, 12);
	return 12;
}

static size_t mk_icmp(uint8_t *t, uint8_t type, uint8_t code, uint16_t id, const uint8_t *quote, size_t qn)
{
	memset(t, 0, 8);
	t[0] = type;
	t[1] = code;
	put16(t + 4, id);
	if (quote)
		memcpy(t + 8, quote, qn);
	return 8 + qn;
}

/* One backscatter packet of `kind` from victim:vport to tele:tport, as raw IP. */
static size_t mk_kind(uint8_t *b, int kind, const char *victim, uint16_t vport, const char *tele, uint16_t tport)
{
	uint8_t l4[256], q[128], ql4[32];
	size_t n, qn;
	int v6 = is6(victim);
	const char *router = v6 ? "2001:db8:ffff::1" : "192.0.2.254";
	switch (kind) {
	case D4_BS_TCP_SYNACK: n = mk_tcp(l4, vport, tport, 0x12); return mk_ip(b, victim, tele, 6, l4, n);
	case D4_BS_TCP_RST: n = mk_tcp(l4, vport, tport, 0x14); return mk_ip(b, victim, tele, 6, l4, n);
	case D4_BS_ICMP_ECHO_REPLY: n = mk_icmp(l4, 0, 0, tport, NULL, 0); return mk_ip(b, victim, tele, 1, l4, n);
	case D4_BS_ICMP6_ECHO_REPLY: n = mk_icmp(l4, 129, 0, tport, NULL, 0); return mk_ip(b, victim, tele, 58, l4, n);
	default: break;
	}
	/* ICMP errors quote a UDP datagram (odd kinds) or a TCP SYN (even). */
	uint8_t qp = kind % 2 ? 17 : 6;
	size_t qln = qp == 17 ? mk_udp(ql4, tport, vport) : mk_tcp(ql4, tport, vport, 0x02);
	qn = mk_ip(q, tele, victim, qp, ql4, qln);
	uint8_t type = 0;
	switch (kind) {
	case D4_BS_ICMP_UNREACH: type = 3; break;
	case D4_BS_ICMP_TIME_EXCEEDED: type = 11; break;
	case D4_BS_ICMP_SOURCE_QUENCH: type = 4; break;
	case D4_BS_ICMP_PARAM_PROBLEM: type = 12; break;
	case D4_BS_ICMP6_UNREACH: type = 1; break;
	case D4_BS_ICMP6_PACKET_TOO_BIG: type = 2; break;
	case D4_BS_ICMP6_TIME_EXCEEDED: type = 3; break;
	case D4_BS_ICMP6_PARAM_PROBLEM: type = 4; break;
	default: ck_abort_msg("kind %d", kind);
	}
	n = mk_icmp(l4, type, 0, 0, q, qn);
	return mk_ip(b, router, tele, v6 ? 58 : 1, l4, n);
}

/* Ethernet frame around a raw IP packet. */
static size_t eth(uint8_t *out, const uint8_t *ip, size_t n)
{
	memset(out, 0, 12);
	out[0] = 0x02;
	out[6] = 0x02;
	put16(out + 12, (ip[0] >> 4) == 6 ? 0x86dd : 0x0800);
	memcpy(out + 14, ip, n);
	return 14 + n;
}

static void addr16(const char *s, uint8_t out[16])
{
	memset(out, 0, 16);
	if (is6(s))
		ck_assert_int_eq(inet_pton(AF_INET6, s, out), 1);
	else {
		out[10] = out[11] = 0xff;
		ck_assert_int_eq(inet_pton(AF_INET, s, out + 12), 1);
	}
}

static void decode(int link, const uint8_t *b, size_t n, struct d4_pkt *p)
{
	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(d4_pkt_decode(link, b, n, p), 0);
}

static int classify_raw(const uint8_t *b, size_t n, const struct d4_bs_opts *o, struct d4_bs_class *c)
{
	struct d4_pkt p;
	decode(D4_LINK_RAW, b, n, &p);
	return d4_bs_classify(&p, o, c);
}

static const int v4kinds[] = {D4_BS_TCP_SYNACK,		D4_BS_TCP_RST,
			      D4_BS_ICMP_ECHO_REPLY,	D4_BS_ICMP_UNREACH,
			      D4_BS_ICMP_TIME_EXCEEDED, D4_BS_ICMP_SOURCE_QUENCH,
			      D4_BS_ICMP_PARAM_PROBLEM};
static const int v6kinds[] = {D4_BS_TCP_SYNACK,		  D4_BS_TCP_RST,
			      D4_BS_ICMP6_ECHO_REPLY,	  D4_BS_ICMP6_UNREACH,
			      D4_BS_ICMP6_PACKET_TOO_BIG, D4_BS_ICMP6_TIME_EXCEEDED,
			      D4_BS_ICMP6_PARAM_PROBLEM};

static void check_kind(int kind, const char *victim, const char *tele, int link)
{
	uint8_t ip[512], fr[600];
	size_t n = mk_kind(ip, kind, victim, 8080, tele, 4444);
	const uint8_t *b = ip;
	if (link == D4_LINK_ETHERNET) {
		n = eth(fr, ip, n);
		b = fr;
	}
	struct d4_pkt p;
	struct d4_bs_class c;
	decode(link, b, n, &p);
	ck_assert_int_eq(d4_bs_classify(&p, NULL, &c), kind);
	ck_assert_int_eq(c.reason, D4_BS_R_OK);
	uint8_t v[16], t[16];
	addr16(victim, v);
	addr16(tele, t);
	ck_assert_mem_eq(c.victim, v, 16);
	ck_assert_mem_eq(c.telescope, t, 16);
	int echo = kind == D4_BS_ICMP_ECHO_REPLY || kind == D4_BS_ICMP6_ECHO_REPLY;
	ck_assert_uint_eq(c.port, echo ? 0 : 8080);
	ck_assert_uint_eq(c.tport, 4444);
	ck_assert_uint_eq(c.bytes, p.ip_len);
	ck_assert_str_eq(d4_bs_kind_name(kind), d4_bs_kind_name(d4_bs_kind_parse(d4_bs_kind_name(kind))));
}

START_TEST(every_kind_v4_v6_raw_ethernet)
{
	for (size_t i = 0; i < sizeof(v4kinds) / sizeof(v4kinds[0]); i++) {
		check_kind(v4kinds[i], "192.0.2.10", "10.1.2.3", D4_LINK_RAW);
		check_kind(v4kinds[i], "192.0.2.10", "10.1.2.3", D4_LINK_ETHERNET);
		check_kind(v6kinds[i], "2001:db8:1::10", "2001:db8:2::3", D4_LINK_RAW);
		check_kind(v6kinds[i], "2001:db8:1::10", "2001:db8:2::3", D4_LINK_ETHERNET);
	}
	/* RST with ACK is the same kind as a bare RST */
	uint8_t b[128], t[32];
	struct d4_bs_class c;
	size_t n = mk_ip(b, "192.0.2.10", "10.1.2.3", 6, t, mk_tcp(t, 80, 1234, 0x04));
	ck_assert_int_eq(classify_raw(b, n, NULL, &c), D4_BS_TCP_RST);
}
END_TEST

START_TEST(scans_and_requests_are_not_backscatter)
{
	static const struct {
		uint8_t flags;
		int reason;
	} tcp[] = {
	    {0x10, D4_BS_R_SCAN},      /* pure ACK */
	    {0x01, D4_BS_R_SCAN},      /* FIN */
	    {0x00, D4_BS_R_SCAN},      /* NULL */
	    {0x29, D4_BS_R_SCAN},      /* XMAS: FIN PSH URG */
	    {0x02, D4_BS_R_NOT_REPLY}, /* SYN */
	    {0x18, D4_BS_R_NOT_REPLY}, /* PSH ACK */
	    {0x11, D4_BS_R_NOT_REPLY}, /* FIN ACK */
	    {0x07, D4_BS_R_NOT_REPLY}, /* SYN FIN RST: nonsense, not counted */
	};
	uint8_t b[256], t[64];
	struct d4_bs_class c;
	for (size_t i = 0; i < sizeof(tcp) / sizeof(tcp[0]); i++) {
		size_t n = mk_ip(b, "192.0.2.10", "10.1.2.3", 6, t, mk_tcp(t, 80, 1234, tcp[i].flags));
		ck_assert_int_eq(classify_raw(b, n, NULL, &c), D4_BS_NONE);
		ck_assert_msg(c.reason == tcp[i].reason, "flags %02x: %s", tcp[i].flags, d4_bs_reason_name(c.reason));
		n = mk_ip(b, "2001:db8::1", "2001:db8::2", 6, t, mk_tcp(t, 80, 1234, tcp[i].flags));
		ck_assert_int_eq(classify_raw(b, n, NULL, &c), D4_BS_NONE);
		ck_assert_int_eq(c.reason, tcp[i].reason);
	}
	size_t n = mk_ip(b, "192.0.2.10", "10.1.2.3", 17, t, mk_udp(t, 53, 1234));
	ck_assert_int_eq(classify_raw(b, n, NULL, &c), D4_BS_NONE);
	ck_assert_int_eq(c.reason, D4_BS_R_NOT_REPLY);
	n = mk_ip(b, "192.0.2.10", "10.1.2.3", 1, t, mk_icmp(t, 8, 0, 7, NULL, 0));
	ck_assert_int_eq(classify_raw(b, n, NULL, &c), D4_BS_NONE);
	ck_assert_int_eq(c.reason, D4_BS_R_NOT_REPLY);
	n = mk_ip(b, "2001:db8::1", "2001:db8::2", 58, t, mk_icmp(t, 128, 0, 7, NULL, 0));
	ck_assert_int_eq(classify_raw(b, n, NULL, &c), D4_BS_NONE);
	ck_assert_int_eq(c.reason, D4_BS_R_NOT_REPLY);
	n = mk_ip(b, "192.0.2.10", "10.1.2.3", 1, t, mk_icmp(t, 5, 0, 0, NULL, 0)); /* redirect */
	ck_assert_int_eq(classify_raw(b, n, NULL, &c), D4_BS_NONE);
	ck_assert_int_eq(c.reason, D4_BS_R_ICMP_OTHER);
	n = mk_ip(b, "2001:db8::1", "2001:db8::2", 58, t, mk_icmp(t, 135, 0, 0, NULL, 0)); /* NS */
	ck_assert_int_eq(classify_raw(b, n, NULL, &c), D4_BS_NONE);
	ck_assert_int_eq(c.reason, D4_BS_R_ICMP_OTHER);
}
END_TEST

START_TEST(icmp_quotes)
{
	uint8_t b[512], l4[256], q[128], ql4[32];
	struct d4_bs_class c;
	/* quote whose source is not the outer destination */
	size_t qn = mk_ip(q, "10.9.9.9", "192.0.2.20", 17, ql4, mk_udp(ql4, 5555, 53));
	size_t n = mk_ip(b, "192.0.2.254", "10.1.2.3", 1, l4, mk_icmp(l4, 3, 3, 0, q, qn));
	ck_assert_int_eq(classify_raw(b, n, NULL, &c), D4_BS_NONE);
	ck_assert_int_eq(c.reason, D4_BS_R_QUOTE_MISMATCH);
	/* quoted IP header cut short */
	qn = mk_ip(q, "10.1.2.3", "192.0.2.20", 17, ql4, mk_udp(ql4, 5555, 53));
	n = mk_ip(b, "192.0.2.254", "10.1.2.3", 1, l4, mk_icmp(l4, 3, 3, 0, q, 19));
	ck_assert_int_eq(classify_raw(b, n, NULL, &c), D4_BS_NONE);
	ck_assert_int_eq(c.reason, D4_BS_R_MALFORMED);
	/* quote with 2 bytes of transport: victim known, port not */
	n = mk_ip(b, "192.0.2.254", "10.1.2.3", 1, l4, mk_icmp(l4, 3, 3, 0, q, 22));
	ck_assert_int_eq(classify_raw(b, n, NULL, &c), D4_BS_ICMP_UNREACH);
	ck_assert_uint_eq(c.port, 0);
	ck_assert_uint_eq(c.victim[15], 20);
	/* quoted IPv4 options are skipped by their length */
	uint8_t qo[128];
	memcpy(qo, q, 20);
	qo[0] = 0x46;
	memset(qo + 20, 1, 4);
	memcpy(qo + 24, q + 20, 12);
	n = mk_ip(b, "192.0.2.254", "10.1.2.3", 1, l4, mk_icmp(l4, 11, 0, 0, qo, 36));
	ck_assert_int_eq(classify_raw(b, n, NULL, &c), D4_BS_ICMP_TIME_EXCEEDED);
	ck_assert_uint_eq(c.port, 53);
	ck_assert_uint_eq(c.tport, 5555);
	/* ICMPv6 quote with a destination-options header before UDP */
	uint8_t q6[128];
	size_t q6n = mk_ip(q6, "2001:db8:2::3", "2001:db8:1::10", 60, ql4, 0);
	memset(q6 + 40, 0, 8);
	q6[40] = 17; /* next header */
	q6[41] = 0;  /* 8 bytes */
	mk_udp(q6 + 48, 6000, 123);
	q6n = 48 + 8;
	put16(q6 + 4, 16);
	n = mk_ip(b, "2001:db8:ffff::1", "2001:db8:2::3", 58, l4, mk_icmp(l4, 1, 4, 0, q6, q6n));
	ck_assert_int_eq(classify_raw(b, n, NULL, &c), D4_BS_ICMP6_UNREACH);
	ck_assert_uint_eq(c.port, 123);
	ck_assert_uint_eq(c.proto, 17);
	/* every truncation of the capture: decoded from an exact-size copy */
	for (size_t cut = 0; cut <= n; cut++) {
		uint8_t *h = malloc(cut ? cut : 1);
		memcpy(h, b, cut);
		struct d4_pkt p;
		memset(&p, 0, sizeof(p));
		if (d4_pkt_decode(D4_LINK_RAW, h, cut, &p) == 0) {
			int k = d4_bs_classify(&p, NULL, &c);
			ck_assert(k == D4_BS_NONE || k == D4_BS_ICMP6_UNREACH);
		}
		free(h);
	}
	/* a non-first fragment has no transport header to classify */
	uint8_t t[32];
	n = mk_ip(b, "192.0.2.10", "10.1.2.3", 6, t, mk_tcp(t, 80, 1234, 0x12));
	put16(b + 6, 0x0010);
	ck_assert_int_eq(classify_raw(b, n, NULL, &c), D4_BS_NONE);
	ck_assert_int_eq(c.reason, D4_BS_R_FRAGMENT);
}
END_TEST

START_TEST(telescope_prefixes)
{
	struct d4_bs_prefix pf[2];
	ck_assert_int_eq(d4_bs_prefix_parse("10.0.0.0/8", &pf[0]), 0);
	ck_assert_int_eq(pf[0].len, 104);
	ck_assert_int_eq(d4_bs_prefix_parse("2001:db8:2::/48", &pf[1]), 0);
	ck_assert_int_eq(pf[1].len, 48);
	struct d4_bs_prefix bad;
	ck_assert_int_eq(d4_bs_prefix_parse("10.0.0.0/33", &bad), D4_EINVAL);
	ck_assert_int_eq(d4_bs_prefix_parse("10.0.0.0/", &bad), D4_EINVAL);
	ck_assert_int_eq(d4_bs_prefix_parse("2001:db8::/129", &bad), D4_EINVAL);
	ck_assert_int_eq(d4_bs_prefix_parse("nonsense", &bad), D4_EINVAL);
	ck_assert_int_eq(d4_bs_prefix_parse("10.1.2.3/8", &bad), 0); /* host bits cleared */
	ck_assert_mem_eq(bad.addr, pf[0].addr, 16);
	struct d4_bs_opts o;
	d4_bs_opts_default(&o);
	o.telescope = pf;
	o.n_telescope = 2;
	uint8_t b[512];
	struct d4_bs_class c;
	size_t n = mk_kind(b, D4_BS_TCP_SYNACK, "192.0.2.10", 80, "10.200.0.1", 1);
	ck_assert_int_eq(classify_raw(b, n, &o, &c), D4_BS_TCP_SYNACK);
	n = mk_kind(b, D4_BS_TCP_SYNACK, "192.0.2.10", 80, "11.0.0.1", 1);
	ck_assert_int_eq(classify_raw(b, n, &o, &c), D4_BS_NONE);
	ck_assert_int_eq(c.reason, D4_BS_R_NOT_TELESCOPE);
	n = mk_kind(b, D4_BS_ICMP6_UNREACH, "2001:db8:1::10", 80, "2001:db8:2:ffff::1", 1);
	ck_assert_int_eq(classify_raw(b, n, &o, &c), D4_BS_ICMP6_UNREACH);
	n = mk_kind(b, D4_BS_ICMP6_UNREACH, "2001:db8:1::10", 80, "2001:db8:3::1", 1);
	ck_assert_int_eq(classify_raw(b, n, &o, &c), D4_BS_NONE);
	ck_assert_int_eq(c.reason, D4_BS_R_NOT_TELESCOPE);
}
END_TEST

/* ---- aggregation ---- */

#define MAXV 64
struct sink {
	struct d4_bs_vector v[MAXV];
	char json[MAXV][2048];
	int n;
};

static int collect(const struct d4_bs_vector *v, void *ud)
{
	struct sink *s = ud;
	ck_assert_int_lt(s->n, MAXV);
	s->v[s->n] = *v;
	ck_assert_int_gt(d4_bs_vector_json(v, s->json[s->n], sizeof(s->json[0])), 0);
	s->n++;
	return 0;
}

static void add(struct d4_bs_agg *a, int kind, const char *victim, uint16_t vport, const char *tele, uint64_t ts)
{
	uint8_t b[512];
	size_t n = mk_kind(b, kind, victim, vport, tele, 40000);
	struct d4_pkt p;
	decode(D4_LINK_RAW, b, n, &p);
	ck_assert_int_eq(d4_bs_agg_add(a, &p, ts, NULL, 0, NULL), 0);
}

static size_t kind_bytes(int kind, const char *victim)
{
	uint8_t b[512];
	return mk_kind(b, kind, victim, 1, is6(victim) ? "2001:db8:2::1" : "10.0.0.1", 1);
}

static const char *tele4(unsigned i, char *buf)
{
	snprintf(buf, 32, "10.%u.%u.%u", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
	return buf;
}

START_TEST(vectors_exact_counts)
{
	struct d4_bs_prefix pf[2];
	ck_assert_int_eq(d4_bs_prefix_parse("10.0.0.0/8", &pf[0]), 0);
	ck_assert_int_eq(d4_bs_prefix_parse("2001:db8:2::/48", &pf[1]), 0);
	struct d4_bs_opts o;
	d4_bs_opts_default(&o);
	o.telescope = pf;
	o.n_telescope = 2;
	struct d4_bs_agg *a = d4_bs_agg_new(&o);
	ck_assert_ptr_nonnull(a);
	char tb[32];
	uint8_t sensor1[16] = {1}, sensor2[16] = {2}, orgA[16] = {0xaa};
	/* A: SYN+ACK from 192.0.2.10, one every 2 s for 200 s: 70 on 80, 30 on 443,
	 * to 50 telescope addresses; two sensors, amber and red. */
	for (unsigned i = 0; i < 100; i++) {
		uint8_t b[512];
		size_t n = mk_kind(b, D4_BS_TCP_SYNACK, "192.0.2.10", i % 10 < 7 ? 80 : 443, tele4(i % 50, tb), 40000);
		struct d4_pkt p;
		decode(D4_LINK_RAW, b, n, &p);
		ck_assert_int_eq(
		    d4_bs_agg_add(a, &p, T0 + i * 2 * US, i % 2 ? sensor2 : sensor1, i == 50 ? 6 : 4, orgA), 0);
	}
	/* B: ICMPv6 unreachable about 2001:db8:1::10 port 53, 40/minute for 3 minutes. */
	for (unsigned i = 0; i < 120; i++) {
		char t6[64];
		snprintf(t6, sizeof(t6), "2001:db8:2::%x", i % 7 + 1);
		add(a, D4_BS_ICMP6_UNREACH, "2001:db8:1::10", 53, t6, T0 + (uint64_t)i * 1500000);
	}
	/* noise: a scan and a reply outside the telescope */
	uint8_t b[128], t[32];
	struct d4_pkt p;
	size_t n = mk_ip(b, "192.0.2.10", "10.1.2.3", 6, t, mk_tcp(t, 80, 1234, 0x10));
	decode(D4_LINK_RAW, b, n, &p);
	ck_assert_int_eq(d4_bs_agg_add(a, &p, T0, NULL, 0, NULL), 0);
	n = mk_kind(b, D4_BS_TCP_SYNACK, "192.0.2.10", 80, "11.1.1.1", 1);
	decode(D4_LINK_RAW, b, n, &p);
	ck_assert_int_eq(d4_bs_agg_add(a, &p, T0, NULL, 0, NULL), 0);

	struct sink *s = calloc(1, sizeof(*s));
	ck_assert_int_eq(d4_bs_agg_flush(a, collect, s), 0);
	ck_assert_int_eq(s->n, 2);
	const struct d4_bs_vector *va = &s->v[0], *vb = &s->v[1];
	uint8_t want[16];
	addr16("192.0.2.10", want);
	ck_assert_mem_eq(va->victim, want, 16);
	ck_assert_int_eq(va->kind, D4_BS_TCP_SYNACK);
	ck_assert_int_eq(va->state, D4_BS_CLOSED);
	ck_assert_uint_eq(va->packets, 100);
	ck_assert_uint_eq(va->bytes, 100 * kind_bytes(D4_BS_TCP_SYNACK, "192.0.2.10"));
	ck_assert_uint_eq(va->first_us, T0);
	ck_assert_uint_eq(va->last_us, T0 + 198 * US);
	ck_assert_uint_eq(va->n_ports, 2);
	ck_assert_uint_eq(va->ports[0].port, 80);
	ck_assert_uint_eq(va->ports[0].packets, 70);
	ck_assert_uint_eq(va->ports[1].port, 443);
	ck_assert_uint_eq(va->ports[1].packets, 30);
	ck_assert_uint_eq(va->ports_other, 0);
	ck_assert_uint_eq(va->telescope_addrs, 50);
	ck_assert_int_eq(va->telescope_exact, 1);
	ck_assert_uint_eq(va->peak_ppm, 30);
	ck_assert_uint_eq(va->n_sensors, 2);
	ck_assert_mem_eq(va->sensors[0], sensor1, 16);
	ck_assert_mem_eq(va->sensors[1], sensor2, 16);
	ck_assert_int_eq(va->tlp, 6);
	ck_assert_mem_eq(va->org, orgA, 16);
	ck_assert_int_eq(va->org_mixed, 0);
	/* the estimate: a /8 sees 2^-8 of the spoofed sources */
	ck_assert(va->est_valid);
	ck_assert(fabs(va->observed_pps - 100.0 / 198.0) < 1e-9);
	ck_assert(fabs(va->est_pps / (100.0 / 198.0 * 256.0) - 1.0) < 1e-12);
	ck_assert(fabs(va->est_peak_pps / (0.5 * 256.0) - 1.0) < 1e-12);
	addr16("2001:db8:1::10", want);
	ck_assert_mem_eq(vb->victim, want, 16);
	ck_assert_int_eq(vb->kind, D4_BS_ICMP6_UNREACH);
	ck_assert_uint_eq(vb->packets, 120);
	ck_assert_uint_eq(vb->ports[0].port, 53);
	ck_assert_uint_eq(vb->ports[0].packets, 120);
	ck_assert_uint_eq(vb->telescope_addrs, 7);
	ck_assert_uint_eq(vb->peak_ppm, 40);
	ck_assert(vb->est_valid);
	ck_assert(fabs(vb->est_pps / vb->observed_pps / ldexp(1.0, 48) - 1.0) < 1e-12);
	ck_assert_ptr_nonnull(
	    strstr(s->json[0], "\"victim\":\"192.0.2.10\",\"kind\":\"tcp-synack\",\"state\":\"closed\""));
	ck_assert_ptr_nonnull(
	    strstr(s->json[0], "\"ports\":[{\"port\":80,\"packets\":70},{\"port\":443,\"packets\":30}]"));
	ck_assert_ptr_nonnull(strstr(s->json[0], "\"tlp\":\"tlp:red\""));
	ck_assert_ptr_nonnull(strstr(s->json[1], "\"victim\":\"2001:db8:1::10\""));
	char small[64];
	ck_assert_int_eq(d4_bs_vector_json(va, small, sizeof(small)), D4_ETOOBIG);
	struct d4_bs_stats st;
	d4_bs_agg_stats(a, &st);
	ck_assert_uint_eq(st.packets, 222);
	ck_assert_uint_eq(st.backscatter, 220);
	ck_assert_uint_eq(st.by_reason[D4_BS_R_SCAN], 1);
	ck_assert_uint_eq(st.by_reason[D4_BS_R_NOT_TELESCOPE], 1);
	ck_assert_uint_eq(st.vectors_reported, 2);
	ck_assert_uint_eq(st.vectors_open, 0);
	free(s);
	d4_bs_agg_free(a);
}
END_TEST

/* Runs n packets of victim 192.0.2.99 (SYN+ACK), packet i at offs[i] seconds
 * after T0 (microseconds in offs_us), and returns how many vectors flush
 * reports. */
static int reported(const struct d4_bs_opts *o, const uint64_t *offs_us, size_t n)
{
	struct d4_bs_agg *a = d4_bs_agg_new(o);
	ck_assert_ptr_nonnull(a);
	for (size_t i = 0; i < n; i++)
		add(a, D4_BS_TCP_SYNACK, "192.0.2.99", 80, "10.0.0.1", T0 + offs_us[i]);
	struct sink *s = calloc(1, sizeof(*s));
	ck_assert_int_eq(d4_bs_agg_flush(a, collect, s), 0);
	int r = s->n;
	struct d4_bs_stats st;
	d4_bs_agg_stats(a, &st);
	ck_assert_uint_eq(st.vectors_reported + st.vectors_unreported, 1);
	ck_assert_uint_eq(st.vectors_reported, (uint64_t)r);
	if (r)
		ck_assert_uint_eq(s->v[0].packets, n);
	free(s);
	d4_bs_agg_free(a);
	return r;
}

START_TEST(thresholds_just_under)
{
	uint64_t off[400];
	struct d4_bs_opts o;
	d4_bs_opts_default(&o);
	/* packets: the peak threshold alone would imply 30 packets, so it is
	 * lowered here to isolate min_packets */
	o.min_peak_ppm = 1;
	for (int i = 0; i < 25; i++)
		off[i] = (uint64_t)i * 60 * US / 24; /* 0 .. 60 s */
	ck_assert_int_eq(reported(&o, off, 25), 1);
	off[23] = off[24];
	ck_assert_int_eq(reported(&o, off, 24), 0);
	/* duration: 100 packets in 59.999999 s (peak 50/min), then exactly 60 s */
	d4_bs_opts_default(&o);
	for (int i = 0; i < 100; i++)
		off[i] = (uint64_t)i * 59999999ull / 99;
	ck_assert_int_eq(reported(&o, off, 100), 0);
	off[99] = 60 * US;
	ck_assert_int_eq(reported(&o, off, 100), 1);
	/* peak: 29 per calendar minute for 5 minutes, then one minute with 30 */
	for (int m = 0; m < 5; m++)
		for (int k = 0; k < 29; k++)
			off[m * 29 + k] = (uint64_t)m * 60 * US + (uint64_t)k * 2 * US;
	ck_assert_int_eq(reported(&o, off, 145), 0);
	off[145] = 2 * 60 * US + 59 * US;
	ck_assert_int_eq(reported(&o, off, 146), 1);
}
END_TEST

START_TEST(idle_close_and_updates)
{
	struct d4_bs_opts o;
	d4_bs_opts_default(&o);
	struct d4_bs_agg *a = d4_bs_agg_new(&o);
	struct sink *s = calloc(1, sizeof(*s));
	/* 40/minute for 3 minutes, ticking every 30 s as a consumer would */
	uint64_t last = 0;
	for (unsigned i = 0; i < 120; i++) {
		last = T0 + (uint64_t)i * 1500000;
		add(a, D4_BS_TCP_RST, "198.51.100.7", 25, "10.0.0.9", last);
		if (i % 20 == 19)
			ck_assert_int_eq(d4_bs_agg_tick(a, last, collect, s), 0);
	}
	/* ticks at 28.5, 58.5, 88.5, 118.5, 148.5, 178.5 s: reportable from 60 s of
	 * duration on, so emitted at 88.5 s and again 60 s later at 148.5 s */
	int ongoing = s->n;
	ck_assert_int_eq(ongoing, 2);
	for (int i = 0; i < ongoing; i++) {
		ck_assert_int_eq(s->v[i].state, D4_BS_ONGOING);
		ck_assert_uint_eq(s->v[i].updates, (uint32_t)i);
	}
	/* one second short of idle: still open, and an update is due */
	int before = s->n;
	ck_assert_int_eq(d4_bs_agg_tick(a, last + 299 * US, collect, s), 0);
	ck_assert_int_eq(s->n, before + 1); /* an update is due (> 60 s since the last one) */
	ck_assert_int_eq(s->v[s->n - 1].state, D4_BS_ONGOING);
	before = s->n;
	ck_assert_int_eq(d4_bs_agg_tick(a, last + 300 * US - 1, collect, s), 0);
	ck_assert_int_eq(s->n, before);
	ck_assert_int_eq(d4_bs_agg_tick(a, last + 300 * US, collect, s), 0);
	ck_assert_int_eq(s->n, before + 1);
	ck_assert_int_eq(s->v[s->n - 1].state, D4_BS_CLOSED);
	ck_assert_uint_eq(s->v[s->n - 1].packets, 120);
	ck_assert_int_eq(d4_bs_agg_tick(a, last + 900 * US, collect, s), 0);
	ck_assert_int_eq(s->n, before + 1);
	/* a victim that resumes after 300 s idle is a second vector */
	s->n = 0;
	for (unsigned i = 0; i <= 60; i++)
		add(a, D4_BS_TCP_RST, "198.51.100.8", 25, "10.0.0.9", T0 + (uint64_t)i * US);
	for (unsigned i = 0; i <= 60; i++)
		add(a, D4_BS_TCP_RST, "198.51.100.8", 25, "10.0.0.9", T0 + 360 * US + (uint64_t)i * US);
	ck_assert_int_eq(d4_bs_agg_flush(a, collect, s), 0);
	ck_assert_int_eq(s->n, 2);
	ck_assert_uint_eq(s->v[0].packets, 61);
	ck_assert_uint_eq(s->v[0].last_us, T0 + 60 * US);
	ck_assert_uint_eq(s->v[1].first_us, T0 + 360 * US);
	ck_assert_uint_eq(s->v[1].packets, 61);
	free(s);
	d4_bs_agg_free(a);
}
END_TEST

START_TEST(live_mode_own_replies)
{
	struct d4_bs_opts o;
	d4_bs_opts_default(&o);
	o.live = 1;
	o.min_packets = 1;
	o.min_duration_s = 0;
	o.min_peak_ppm = 1;
	struct d4_bs_agg *a = d4_bs_agg_new(&o);
	uint8_t b[512], t[64];
	struct d4_pkt p;
	/* our host 10.0.0.5 opens a connection; the SYN+ACK 100 s later is its answer */
	size_t n = mk_ip(b, "10.0.0.5", "192.0.2.80", 6, t, mk_tcp(t, 40000, 443, 0x02));
	decode(D4_LINK_RAW, b, n, &p);
	ck_assert_int_eq(d4_bs_agg_add(a, &p, T0, NULL, 0, NULL), 0);
	n = mk_kind(b, D4_BS_TCP_SYNACK, "192.0.2.80", 443, "10.0.0.5", 40000);
	decode(D4_LINK_RAW, b, n, &p);
	struct d4_bs_class cl;
	ck_assert_int_eq(d4_bs_agg_add_class(a, &p, T0 + 100 * US, NULL, 0, NULL, &cl), 0);
	ck_assert_int_eq(cl.kind, D4_BS_NONE);
	ck_assert_int_eq(cl.reason, D4_BS_R_OWN_FLOW);
	ck_assert_str_eq(d4_bs_reason_name(cl.reason), "own-flow");
	/* our UDP datagram answered by an ICMP error */
	n = mk_ip(b, "10.0.0.5", "192.0.2.81", 17, t, mk_udp(t, 40000, 161));
	decode(D4_LINK_RAW, b, n, &p);
	ck_assert_int_eq(d4_bs_agg_add(a, &p, T0, NULL, 0, NULL), 0);
	n = mk_kind(b, D4_BS_ICMP_TIME_EXCEEDED, "192.0.2.81", 161, "10.0.0.5", 40000); /* quotes UDP */
	decode(D4_LINK_RAW, b, n, &p);
	ck_assert_int_eq(d4_bs_agg_add(a, &p, T0 + 1 * US, NULL, 0, NULL), 0);
	/* our ping answered */
	n = mk_ip(b, "10.0.0.5", "192.0.2.82", 1, t, mk_icmp(t, 8, 0, 40000, NULL, 0));
	decode(D4_LINK_RAW, b, n, &p);
	ck_assert_int_eq(d4_bs_agg_add(a, &p, T0, NULL, 0, NULL), 0);
	n = mk_kind(b, D4_BS_ICMP_ECHO_REPLY, "192.0.2.82", 0, "10.0.0.5", 40000);
	decode(D4_LINK_RAW, b, n, &p);
	ck_assert_int_eq(d4_bs_agg_add(a, &p, T0 + 1 * US, NULL, 0, NULL), 0);
	struct d4_bs_stats st;
	d4_bs_agg_stats(a, &st);
	ck_assert_uint_eq(st.by_reason[D4_BS_R_OWN_FLOW], 3);
	ck_assert_uint_eq(st.backscatter, 0);
	/* the same SYN+ACK 121 s after the SYN, and one to another port: backscatter */
	n = mk_kind(b, D4_BS_TCP_SYNACK, "192.0.2.80", 443, "10.0.0.5", 40000);
	decode(D4_LINK_RAW, b, n, &p);
	ck_assert_int_eq(d4_bs_agg_add_class(a, &p, T0 + 121 * US, NULL, 0, NULL, &cl), 0);
	ck_assert_int_eq(cl.kind, D4_BS_TCP_SYNACK);
	n = mk_kind(b, D4_BS_TCP_SYNACK, "192.0.2.80", 443, "10.0.0.5", 40001);
	decode(D4_LINK_RAW, b, n, &p);
	ck_assert_int_eq(d4_bs_agg_add(a, &p, T0 + 10 * US, NULL, 0, NULL), 0);
	/* a SYN *to* us does not excuse a SYN+ACK *from* the other side */
	n = mk_ip(b, "192.0.2.90", "10.0.0.5", 6, t, mk_tcp(t, 443, 40000, 0x02));
	decode(D4_LINK_RAW, b, n, &p);
	ck_assert_int_eq(d4_bs_agg_add(a, &p, T0, NULL, 0, NULL), 0);
	n = mk_kind(b, D4_BS_TCP_SYNACK, "192.0.2.90", 443, "10.0.0.5", 40000);
	decode(D4_LINK_RAW, b, n, &p);
	ck_assert_int_eq(d4_bs_agg_add(a, &p, T0 + 1 * US, NULL, 0, NULL), 0);
	d4_bs_agg_stats(a, &st);
	ck_assert_uint_eq(st.by_reason[D4_BS_R_OWN_FLOW], 3);
	ck_assert_uint_eq(st.backscatter, 3);
	struct sink *s = calloc(1, sizeof(*s));
	ck_assert_int_eq(d4_bs_agg_flush(a, collect, s), 0);
	ck_assert_int_eq(s->n, 2);
	ck_assert_uint_eq(s->v[0].packets + s->v[1].packets, 3);
	free(s);
	d4_bs_agg_free(a);
}
END_TEST

START_TEST(distinct_exact_then_estimated)
{
	struct d4_bs_opts o;
	d4_bs_opts_default(&o);
	o.min_packets = 1;
	o.min_duration_s = 0;
	o.min_peak_ppm = 1;
	struct d4_bs_agg *a = d4_bs_agg_new(&o);
	char tb[32];
	/* 1024 distinct addresses (each twice): exact */
	for (unsigned i = 0; i < 2048; i++)
		add(a, D4_BS_TCP_SYNACK, "192.0.2.1", 80, tele4(i % 1024, tb), T0 + i * 1000ull);
	/* 20000 distinct addresses: estimated */
	for (unsigned i = 0; i < 20000; i++)
		add(a, D4_BS_TCP_SYNACK, "192.0.2.2", 80, tele4(i, tb), T0 + i * 1000ull + 1);
	struct sink *s = calloc(1, sizeof(*s));
	ck_assert_int_eq(d4_bs_agg_flush(a, collect, s), 0);
	ck_assert_int_eq(s->n, 2);
	ck_assert_uint_eq(s->v[0].telescope_addrs, 1024);
	ck_assert_int_eq(s->v[0].telescope_exact, 1);
	ck_assert_int_eq(s->v[1].telescope_exact, 0);
	ck_assert_msg(s->v[1].telescope_addrs > 18000 && s->v[1].telescope_addrs < 22000, "estimate %llu",
		      (unsigned long long)s->v[1].telescope_addrs);
	ck_assert_ptr_nonnull(strstr(s->json[1], "\"telescope_exact\":false"));
	/* no telescope configured: the estimate is not scaled */
	ck_assert_int_eq(s->v[0].est_valid, 0);
	ck_assert(s->v[0].est_pps == s->v[0].observed_pps);
	free(s);
	d4_bs_agg_free(a);
}
END_TEST

static int refuse(const struct d4_bs_vector *v, void *ud)
{
	(void)v;
	++*(int *)ud;
	return D4_EFULL;
}

START_TEST(bounded_table_and_callback_error)
{
	struct d4_bs_opts o;
	d4_bs_opts_default(&o);
	o.max_vectors = 2;
	o.min_packets = 1;
	o.min_duration_s = 0;
	o.min_peak_ppm = 1;
	struct d4_bs_agg *a = d4_bs_agg_new(&o);
	add(a, D4_BS_TCP_RST, "192.0.2.1", 80, "10.0.0.1", T0);
	add(a, D4_BS_TCP_RST, "192.0.2.2", 80, "10.0.0.1", T0 + 1);
	uint8_t b[512];
	struct d4_pkt p;
	size_t n = mk_kind(b, D4_BS_TCP_RST, "192.0.2.3", 80, "10.0.0.1", 1);
	decode(D4_LINK_RAW, b, n, &p);
	ck_assert_int_eq(d4_bs_agg_add(a, &p, T0 + 2, NULL, 0, NULL), D4_EFULL);
	add(a, D4_BS_TCP_RST, "192.0.2.1", 80, "10.0.0.2", T0 + 3); /* existing vector: still counted */
	struct d4_bs_stats st;
	d4_bs_agg_stats(a, &st);
	ck_assert_uint_eq(st.dropped_full, 1);
	ck_assert_uint_eq(st.backscatter, 3);
	ck_assert_uint_eq(st.vectors_open, 2);
	/* a callback error stops the flush; nothing visited is lost */
	int calls = 0;
	ck_assert_int_eq(d4_bs_agg_flush(a, refuse, &calls), D4_EFULL);
	ck_assert_int_eq(calls, 1);
	d4_bs_agg_stats(a, &st);
	ck_assert_uint_eq(st.vectors_open, 2);
	struct sink *s = calloc(1, sizeof(*s));
	ck_assert_int_eq(d4_bs_agg_flush(a, collect, s), 0);
	ck_assert_int_eq(s->n, 2);
	ck_assert_uint_eq(s->v[0].packets, 2);
	ck_assert_uint_eq(s->v[0].telescope_addrs, 2);
	ck_assert_uint_eq(s->v[1].packets, 1);
	free(s);
	d4_bs_agg_free(a);
}
END_TEST

/* ---- ordinary traffic ---- */

struct capstats {
	int reported;
	struct d4_bs_stats st;
};

/* Feeds a classic pcap from tests/data through an aggregator. */
static void run_capture(const char *rel, int live, struct capstats *cs)
{
	const char *dir = getenv("D4_TEST_DATA");
	ck_assert_ptr_nonnull(dir);
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s", path);
	static uint8_t buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	ck_assert_uint_ge(n, 24);
	ck_assert_msg(buf[0] == 0xd4 && buf[1] == 0xc3, "little-endian microsecond pcap expected: %s", rel);
	uint32_t lt = buf[20] | buf[21] << 8;
	struct d4_bs_opts o;
	d4_bs_opts_default(&o);
	o.live = live;
	struct d4_bs_agg *a = d4_bs_agg_new(&o);
	size_t off = 24;
	int pkts = 0;
	while (off + 16 <= n) {
		const uint8_t *h = buf + off;
		uint64_t ts = (uint64_t)(h[0] | h[1] << 8 | h[2] << 16 | (uint32_t)h[3] << 24) * US +
			      (h[4] | h[5] << 8 | h[6] << 16 | (uint32_t)h[7] << 24);
		size_t cl = h[8] | h[9] << 8 | h[10] << 16 | (size_t)h[11] << 24;
		ck_assert_uint_le(cl, n - off - 16);
		struct d4_pkt p;
		memset(&p, 0, sizeof(p));
		if (d4_pkt_decode((int)lt, h + 16, cl, &p) == 0)
			ck_assert_int_eq(d4_bs_agg_add(a, &p, ts, NULL, 0, NULL), 0);
		off += 16 + cl;
		pkts++;
	}
	ck_assert_int_gt(pkts, 0);
	struct sink *s = calloc(1, sizeof(*s));
	ck_assert_int_eq(d4_bs_agg_flush(a, collect, s), 0);
	cs->reported = s->n;
	d4_bs_agg_stats(a, &cs->st);
	free(s);
	d4_bs_agg_free(a);
}

START_TEST(ordinary_captures_no_attack)
{
	static const char *caps[] = {"pcap/http.pcap", "pcap/dns_icmp.pcap", "pcap/nb6-http.pcap", "pcap/ipv6.pcap",
				     "pcap/vlan.pcap"};
	/* Without live mode the server replies in these captures look like
	 * backscatter but stay far below the thresholds; in live mode each of
	 * them is the answer to a request in the same capture. */
	uint64_t candidates = 0;
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		struct capstats cs, lv;
		run_capture(caps[i], 0, &cs);
		ck_assert_int_eq(cs.reported, 0);
		ck_assert_uint_eq(cs.st.vectors_reported, 0);
		run_capture(caps[i], 1, &lv);
		ck_assert_int_eq(lv.reported, 0);
		ck_assert_uint_eq(lv.st.packets, cs.st.packets);
		ck_assert_msg(lv.st.backscatter == 0, "%s: %llu replies not matched", caps[i],
			      (unsigned long long)lv.st.backscatter);
		ck_assert_uint_eq(lv.st.by_reason[D4_BS_R_OWN_FLOW], cs.st.backscatter);
		candidates += cs.st.backscatter;
	}
	ck_assert_uint_ge(candidates, 10); /* the captures do hold server replies */
}
END_TEST

/* ---- order independence ---- */

struct tp {
	uint8_t b[256];
	size_t n;
	uint64_t ts;
	int link;
};

static struct tp *make_traffic(size_t *count)
{
	size_t cap = 8000, n = 0;
	struct tp *t = calloc(cap, sizeof(*t));
	char tb[32], v6[64];
	srand(7);
	/* victims of several kinds over IPv4 and IPv6, raw and Ethernet, with
	 * scans mixed in; one victim hits more addresses than the exact cap. Each
	 * victim's packets span less than idle_close_s: the property compared is
	 * "same set of packets per vector => same vector", which a permutation
	 * only keeps when it cannot move a packet across an idle gap. */
	for (unsigned i = 0; i < 600; i++) {
		uint64_t ts = T0 + (uint64_t)(rand() % 290) * US + (uint64_t)(rand() % 1000000);
		t[n].ts = ts;
		t[n].link = i % 2 ? D4_LINK_ETHERNET : D4_LINK_RAW;
		uint8_t ip[256];
		size_t len = mk_kind(ip, D4_BS_TCP_SYNACK, "192.0.2.1", (uint16_t)(80 + rand() % 5),
				     tele4((unsigned)rand() % 200, tb), 1000);
		t[n].n = t[n].link == D4_LINK_ETHERNET ? eth(t[n].b, ip, len) : (memcpy(t[n].b, ip, len), len);
		n++;
	}
	for (unsigned i = 0; i < 3000; i++) {
		t[n].ts = T0 + 30 * US + (uint64_t)(rand() % 290) * US;
		t[n].link = D4_LINK_RAW;
		t[n].n = mk_kind(t[n].b, D4_BS_ICMP_UNREACH, "192.0.2.2", 53, tele4(i, tb), 1000);
		n++;
	}
	for (unsigned i = 0; i < 400; i++) {
		t[n].ts = T0 + (uint64_t)(rand() % 290) * US;
		t[n].link = D4_LINK_RAW;
		snprintf(v6, sizeof(v6), "2001:db8:2::%x", rand() % 5000 + 1);
		t[n].n = mk_kind(t[n].b, i % 3 ? D4_BS_ICMP6_PACKET_TOO_BIG : D4_BS_TCP_RST, "2001:db8:1::5",
				 (uint16_t)(rand() % 40), v6, 1000); /* <= 64 ports: counted exactly */
		n++;
	}
	for (unsigned i = 0; i < 200; i++) { /* scans */
		uint8_t l4[32];
		t[n].ts = T0 + (uint64_t)(rand() % 500) * US;
		t[n].link = D4_LINK_RAW;
		t[n].n = mk_ip(t[n].b, "192.0.2.50", "10.0.0.1", 6, l4, mk_tcp(l4, 80, 1000, 0x10));
		n++;
	}
	for (unsigned i = 0; i < 20; i++) { /* a small victim, not reported */
		t[n].ts = T0 + (uint64_t)(rand() % 500) * US;
		t[n].link = D4_LINK_RAW;
		t[n].n = mk_kind(t[n].b, D4_BS_ICMP_ECHO_REPLY, "192.0.2.60", 0, "10.0.0.2", 7);
		n++;
	}
	*count = n;
	return t;
}

/* Runs the packets in the given order (adds all, then flushes) and returns
 * the NDJSON of the reported vectors. */
static void run_order(const struct tp *t, const size_t *ord, size_t n, struct sink *s)
{
	struct d4_bs_opts o;
	d4_bs_opts_default(&o);
	struct d4_bs_agg *a = d4_bs_agg_new(&o);
	for (size_t i = 0; i < n; i++) {
		const struct tp *x = &t[ord[i]];
		struct d4_pkt p;
		decode(x->link, x->b, x->n, &p);
		ck_assert_int_eq(d4_bs_agg_add(a, &p, x->ts, NULL, 0, NULL), 0);
	}
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(d4_bs_agg_flush(a, collect, s), 0);
	d4_bs_agg_free(a);
}

START_TEST(random_order_same_vectors)
{
	size_t n;
	struct tp *t = make_traffic(&n);
	size_t *ord = malloc(n * sizeof(*ord));
	for (size_t i = 0; i < n; i++)
		ord[i] = i;
	/* reference: time order */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && t[ord[j - 1]].ts > t[ord[j]].ts; j--) {
			size_t x = ord[j];
			ord[j] = ord[j - 1];
			ord[j - 1] = x;
		}
	struct sink *ref = calloc(1, sizeof(*ref)), *got = calloc(1, sizeof(*got));
	run_order(t, ord, n, ref);
	ck_assert_int_ge(ref->n, 3);
	for (int k = 0; k < ref->n; k++) /* the 20-packet victim is never reported */
		ck_assert_ptr_null(strstr(ref->json[k], "192.0.2.60"));
	for (unsigned seed = 1; seed <= 10; seed++) {
		srand(seed);
		for (size_t i = n - 1; i > 0; i--) {
			size_t j = (size_t)rand() % (i + 1), x = ord[i];
			ord[i] = ord[j];
			ord[j] = x;
		}
		run_order(t, ord, n, got);
		ck_assert_int_eq(got->n, ref->n);
		for (int k = 0; k < ref->n; k++)
			ck_assert_str_eq(got->json[k], ref->json[k]);
	}
	free(ref);
	free(got);
	free(ord);
	free(t);
}
END_TEST

/* ---- state persistence ---- */

/* Every emitted vector as NDJSON, appended in order. */
struct stream {
	char *buf;
	size_t len, cap;
	unsigned n, ongoing;
};

static int stream_emit(const struct d4_bs_vector *v, void *ud)
{
	struct stream *s = ud;
	if (s->cap - s->len < 2048) {
		s->cap = s->cap ? s->cap * 2 : 1 << 16;
		s->buf = realloc(s->buf, s->cap);
		ck_assert_ptr_nonnull(s->buf);
	}
	int n = d4_bs_vector_json(v, s->buf + s->len, s->cap - s->len);
	ck_assert_int_gt(n, 0);
	s->len += (size_t)n;
	s->n++;
	s->ongoing += v->state == D4_BS_ONGOING;
	return 0;
}

/* The store's side: the latest state of every open vector, by key. */
struct smap {
	struct sent {
		uint8_t key[17];
		uint8_t *state;
		size_t len;
	} e[512];
	size_t n;
	unsigned puts, dels;
};

static int smap_put(void *ud, const uint8_t victim[16], uint8_t kind, const uint8_t *state, size_t len)
{
	struct smap *m = ud;
	uint8_t key[17];
	memcpy(key, victim, 16);
	key[16] = kind;
	size_t i = 0;
	while (i < m->n && memcmp(m->e[i].key, key, 17) != 0)
		i++;
	if (!state) {
		ck_assert_uint_eq(len, 0);
		m->dels++;
		if (i < m->n) {
			free(m->e[i].state);
			m->e[i] = m->e[--m->n];
		}
		return 0;
	}
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_le(len, D4_BS_STATE_MAX);
	ck_assert_mem_eq(state + 5, victim, 16); /* the key is inside the state */
	ck_assert_uint_eq(state[21], kind);
	m->puts++;
	if (i == m->n) {
		ck_assert_uint_lt(m->n, sizeof(m->e) / sizeof(m->e[0]));
		memcpy(m->e[m->n++].key, key, 17);
	} else
		free(m->e[i].state);
	m->e[i].state = malloc(len);
	memcpy(m->e[i].state, state, len);
	m->e[i].len = len;
	return 0;
}

static void smap_free(struct smap *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->e[i].state);
	m->n = 0;
}

static int count_cb(void *ud, const uint8_t victim[16], uint8_t kind, const uint8_t *state, size_t len)
{
	(void)victim;
	(void)kind;
	(void)state;
	(void)len;
	(*(unsigned *)ud)++;
	return 0;
}

/* A packet of the split test: raw IP bytes, time, and its source's sensor,
 * TLP and org (indices, -1: none). */
struct sp {
	uint8_t b[200];
	uint8_t n;
	int8_t sensor, org;
	uint8_t tlp;
	uint64_t ts;
};

static int sp_cmp(const void *x, const void *y)
{
	const struct sp *a = x, *b = y;
	return (a->ts > b->ts) - (a->ts < b->ts);
}

/* Attacks of random shapes: IPv4 and IPv6 victims, every kind, few or many
 * ports (a sweep beyond 64 goes to ports_other), few or many telescope
 * addresses (beyond the exact cap: sketched), up to 12 sensors, TLPs and
 * orgs, some victims attacked twice with an idle gap between, vectors under
 * a threshold, a few packets older than the vector's ring. Sorted by time,
 * except for those stragglers. */
static struct sp *split_traffic(unsigned seed, size_t *count)
{
	size_t cap = 40000, n = 0;
	struct sp *t = calloc(cap, sizeof(*t));
	ck_assert_ptr_nonnull(t);
	srand(seed);
	for (unsigned vi = 0; vi < 40; vi++) {
		int v6 = vi % 3 == 2;
		char victim[64], tele[64];
		if (v6)
			snprintf(victim, sizeof(victim), "2001:db8:1::%x", vi + 1);
		else
			snprintf(victim, sizeof(victim), "192.0.2.%u", vi + 1);
		int kind = v6 ? v6kinds[rand() % 7] : v4kinds[rand() % 7];
		unsigned attacks = rand() % 4 == 0 ? 2 : 1;
		uint64_t start = T0 + (uint64_t)(rand() % 1200) * US;
		for (unsigned at = 0; at < attacks; at++) {
			unsigned npk = 10 + (unsigned)rand() % 400, dur_s = 30 + (unsigned)rand() % 900;
			/* a burst in the first minute, then a long tail: the peak
			 * minute leaves the 16-minute ring */
			int burst = rand() % 3 == 0;
			if (burst)
				dur_s += 1200;
			unsigned shape_ports = (unsigned)rand() % 3, addrs = rand() % 2 ? 5 : 200;
			unsigned nsens = 1 + (unsigned)rand() % 12, ntlp = (unsigned)rand() % 7;
			int orgs = rand() % 3; /* none, one, two */
			for (unsigned k = 0; k < npk && n < cap; k++) {
				struct sp *x = &t[n++];
				uint16_t port = shape_ports == 0   ? 80
						: shape_ports == 1 ? (uint16_t)(1 + rand() % 5)
								   : (uint16_t)(1 + rand() % 100);
				unsigned ad = (unsigned)rand() % addrs;
				if (v6)
					snprintf(tele, sizeof(tele), "2001:db8:2::%x", ad + 1);
				else
					tele4(ad + 1, tele);
				x->n =
				    (uint8_t)mk_kind(x->b, kind, victim, port, tele, (uint16_t)(1024 + rand() % 1000));
				x->ts = start + (uint64_t)rand() % ((uint64_t)(burst && k % 2 ? 60 : dur_s) * US);
				x->sensor = (int8_t)(rand() % (int)nsens) - (rand() % 10 == 0);
				x->tlp = (uint8_t)(rand() % (int)(ntlp + 1));
				x->org = orgs == 0 ? -1 : (int8_t)(orgs == 1 ? 0 : rand() % 2);
			}
			/* the next attack on this victim begins after an idle gap */
			start += (uint64_t)(dur_s + 301 + (unsigned)rand() % 600) * US;
		}
	}
	qsort(t, n, sizeof(*t), sp_cmp);
	/* stragglers: a few packets 20 minutes late (counted, not in the peak) */
	for (unsigned k = 0; k < 5 && n > 100; k++) {
		size_t i = 50 + (size_t)rand() % (n - 50);
		if (t[i].ts > T0 + 20 * 60 * US)
			t[i].ts -= 17 * 60 * US;
	}
	*count = n;
	return t;
}

static void split_opts(struct d4_bs_opts *o, const struct d4_bs_prefix *pf)
{
	d4_bs_opts_default(o);
	o->telescope = pf;
	o->n_telescope = 2;
	o->distinct_cap = 64; /* the 200-address attacks are sketched */
}

static void sp_add(struct d4_bs_agg *a, const struct sp *x)
{
	static const uint8_t sensors[12][16] = {{1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}, {10}, {11}, {12}};
	static const uint8_t orgs[2][16] = {{0xaa, 1}, {0xbb, 2}};
	struct d4_pkt p;
	decode(D4_LINK_RAW, x->b, x->n, &p);
	ck_assert_int_eq(d4_bs_agg_add(a, &p, x->ts, x->sensor >= 0 ? sensors[(int)x->sensor] : NULL, x->tlp,
				       x->org >= 0 ? orgs[(int)x->org] : NULL),
			 0);
}

/* Runs the packets with a tick per second of capture time (as d4-backscatter
 * does); with splits, after the ticks whose index is marked the states of
 * the changed vectors go to the map and a new aggregator restored from the
 * map goes on. */
static void split_run(const struct sp *t, size_t n, const uint8_t *split_at, size_t nticks, struct stream *out,
		      unsigned *splits, unsigned *sketched)
{
	struct d4_bs_prefix pf[2];
	ck_assert_int_eq(d4_bs_prefix_parse("10.0.0.0/8", &pf[0]), 0);
	ck_assert_int_eq(d4_bs_prefix_parse("2001:db8:2::/48", &pf[1]), 0);
	struct d4_bs_opts o;
	split_opts(&o, pf);
	struct d4_bs_agg *a = d4_bs_agg_new(&o);
	ck_assert_ptr_nonnull(a);
	struct smap *m = calloc(1, sizeof(*m));
	uint64_t next = 0;
	size_t tick = 0;
	for (size_t i = 0; i < n; i++) {
		if (t[i].ts >= next) {
			ck_assert_int_eq(d4_bs_agg_tick(a, t[i].ts, stream_emit, out), 0);
			next = (t[i].ts / US + 1) * US;
			if (split_at && tick < nticks && split_at[tick]) {
				ck_assert_int_eq(d4_bs_agg_dirty(a, smap_put, m), 0);
				struct d4_bs_stats st;
				d4_bs_agg_stats(a, &st);
				ck_assert_uint_eq(m->n, st.vectors_open); /* exactly the open vectors */
				d4_bs_agg_free(a);
				a = d4_bs_agg_new(&o);
				ck_assert_ptr_nonnull(a);
				for (size_t k = 0; k < m->n; k++) {
					ck_assert_int_eq(d4_bs_agg_restore(a, m->e[k].state, m->e[k].len), 0);
					*sketched += (m->e[k].state[22] & 1) != 0;
				}
				unsigned changed = 0; /* a restored vector is not dirty */
				ck_assert_int_eq(d4_bs_agg_dirty(a, count_cb, &changed), 0);
				ck_assert_uint_eq(changed, 0);
				(*splits)++;
			}
			tick++;
		}
		sp_add(a, &t[i]);
	}
	ck_assert_int_eq(d4_bs_agg_flush(a, stream_emit, out), 0);
	d4_bs_agg_free(a);
	smap_free(m);
	free(m);
}

START_TEST(state_split_runs_same_vectors)
{
	unsigned sketched = 0; /* restored sketched vectors */
	for (unsigned seed = 1; seed <= 6; seed++) {
		size_t n;
		struct sp *t = split_traffic(seed, &n);
		struct stream ref = {0}, got = {0};
		unsigned splits = 0;
		split_run(t, n, NULL, 0, &ref, &splits, &sketched);
		ck_assert_uint_ge(ref.n, 10);
		ck_assert_uint_ge(ref.ongoing, 10);
		/* ticks of the run, then a few random ones marked as split points */
		size_t nticks = 0;
		uint64_t next = 0;
		for (size_t i = 0; i < n; i++)
			if (t[i].ts >= next) {
				nticks++;
				next = (t[i].ts / US + 1) * US;
			}
		uint8_t *at = calloc(nticks, 1);
		srand(seed * 7919);
		for (unsigned k = 0; k < 12; k++)
			at[(size_t)rand() % nticks] = 1;
		split_run(t, n, at, nticks, &got, &splits, &sketched);
		ck_assert_uint_ge(splits, 8);
		ck_assert_uint_eq(got.n, ref.n);
		ck_assert_uint_eq(got.len, ref.len);
		ck_assert_msg(memcmp(got.buf, ref.buf, ref.len) == 0, "seed %u: vectors differ after restarts", seed);
		/* and one split after every tick (one seed: it is slow) */
		if (seed == 1) {
			memset(at, 1, nticks);
			struct stream all = {0};
			split_run(t, n, at, nticks, &all, &splits, &sketched);
			ck_assert_uint_eq(all.len, ref.len);
			ck_assert_msg(memcmp(all.buf, ref.buf, ref.len) == 0,
				      "seed %u: vectors differ, split at every tick", seed);
			free(all.buf);
		}
		free(at);
		free(ref.buf);
		free(got.buf);
		free(t);
	}
	ck_assert_uint_gt(sketched, 0);
}
END_TEST

static int refuse_state(void *ud, const uint8_t victim[16], uint8_t kind, const uint8_t *state, size_t len)
{
	(void)ud;
	(void)victim;
	(void)kind;
	(void)state;
	(void)len;
	return D4_EIO;
}

/* d4_bs_agg_dirty: what it reports and when. */
START_TEST(state_dirty_reports)
{
	struct d4_bs_opts o;
	d4_bs_opts_default(&o);
	struct d4_bs_agg *a = d4_bs_agg_new(&o);
	struct smap *m = calloc(1, sizeof(*m));
	char tb[32];
	add(a, D4_BS_TCP_SYNACK, "192.0.2.1", 80, tele4(1, tb), T0);
	add(a, D4_BS_TCP_RST, "2001:db8:1::1", 80, "2001:db8:2::1", T0);
	ck_assert_int_eq(d4_bs_agg_dirty(a, smap_put, m), 0);
	ck_assert_uint_eq(m->puts, 2);
	ck_assert_uint_eq(m->n, 2);
	unsigned c = 0;
	ck_assert_int_eq(d4_bs_agg_dirty(a, count_cb, &c), 0);
	ck_assert_uint_eq(c, 0); /* nothing changed since */
	/* a packet 300 s later closes the first vector and opens a new one: the
	 * closed one waits for a tick, and so does the call */
	add(a, D4_BS_TCP_SYNACK, "192.0.2.1", 80, tele4(2, tb), T0 + 300 * US);
	ck_assert_int_eq(d4_bs_agg_dirty(a, count_cb, &c), D4_EBUSY);
	ck_assert_int_eq(d4_bs_agg_tick(a, T0 + 300 * US, NULL, NULL), 0);
	m->puts = m->dels = 0;
	ck_assert_int_eq(d4_bs_agg_dirty(a, smap_put, m), 0);
	/* same key open again: its new state only; the IPv6 vector closed by the tick */
	ck_assert_uint_eq(m->puts, 1);
	ck_assert_uint_eq(m->dels, 1);
	ck_assert_uint_eq(m->n, 1);
	/* a vector opened and closed between two calls: reported once, closed */
	add(a, D4_BS_ICMP_ECHO_REPLY, "192.0.2.9", 0, tele4(3, tb), T0 + 310 * US);
	ck_assert_int_eq(d4_bs_agg_tick(a, T0 + 2000 * US, NULL, NULL), 0);
	m->puts = m->dels = 0;
	ck_assert_int_eq(d4_bs_agg_dirty(a, smap_put, m), 0);
	ck_assert_uint_eq(m->puts, 0);
	ck_assert_uint_eq(m->dels, 2);
	ck_assert_uint_eq(m->n, 0);
	/* a refusing callback keeps the marks */
	add(a, D4_BS_TCP_SYNACK, "192.0.2.1", 80, tele4(2, tb), T0 + 3000 * US);
	ck_assert_int_eq(d4_bs_agg_dirty(a, refuse_state, NULL), D4_EIO);
	ck_assert_int_eq(d4_bs_agg_dirty(a, smap_put, m), 0);
	ck_assert_uint_eq(m->n, 1);
	/* an ongoing emission changes a vector */
	for (unsigned i = 0; i < 40; i++)
		add(a, D4_BS_TCP_SYNACK, "192.0.2.1", 80, tele4(i, tb), T0 + 3000 * US + i * 2 * US);
	ck_assert_int_eq(d4_bs_agg_dirty(a, smap_put, m), 0);
	ck_assert_int_eq(d4_bs_agg_tick(a, T0 + 3100 * US, NULL, NULL), 0);
	c = 0;
	ck_assert_int_eq(d4_bs_agg_dirty(a, count_cb, &c), 0);
	ck_assert_uint_eq(c, 1);
	d4_bs_agg_free(a);
	smap_free(m);
	free(m);
}
END_TEST

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* Rewrites the trailing check after a change, so that the field checks and
 * not the check sum refuse it. */
static void refix(uint8_t *s, size_t len)
{
	uint64_t h = fnv(s, len - 8);
	for (int i = 7; i >= 0; i--, h >>= 8)
		s[len - 8 + (size_t)i] = (uint8_t)h;
}

/* A refused state adds nothing: one aggregator serves every attempt. */
static void expect_corrupt(struct d4_bs_agg *a, const uint8_t *s, size_t len, const char *what)
{
	ck_assert_msg(d4_bs_agg_restore(a, s, len) == D4_ECORRUPT, "%s: accepted", what);
	struct d4_bs_stats st;
	d4_bs_agg_stats(a, &st);
	ck_assert_uint_eq(st.vectors_open, 0);
}

START_TEST(state_corrupt_refused)
{
	struct d4_bs_opts o;
	d4_bs_opts_default(&o);
	o.distinct_cap = 16;
	struct d4_bs_agg *a = d4_bs_agg_new(&o);
	char tb[32];
	static const uint8_t sensor[16] = {7}, org[16] = {9};
	/* an exact vector with two ports, a sketched one with a sweep of ports */
	for (unsigned i = 0; i < 40; i++) {
		struct d4_pkt p;
		uint8_t b[512];
		size_t n = mk_kind(b, D4_BS_TCP_SYNACK, "192.0.2.1", (uint16_t)(80 + i % 2), tele4(i % 5, tb), 1);
		decode(D4_LINK_RAW, b, n, &p);
		ck_assert_int_eq(d4_bs_agg_add(a, &p, T0 + i * 3 * US, sensor, 4, org), 0);
		add(a, D4_BS_ICMP6_UNREACH, "2001:db8:1::1", (uint16_t)i, "2001:db8:2::1", T0 + i * US);
	}
	for (unsigned i = 0; i < 100; i++) {
		char t6[64];
		snprintf(t6, sizeof(t6), "2001:db8:2::%x", i + 1);
		add(a, D4_BS_ICMP6_UNREACH, "2001:db8:1::1", (uint16_t)i, t6, T0 + 50 * US + i * US);
	}
	ck_assert_int_eq(d4_bs_agg_tick(a, T0 + 200 * US, NULL, NULL), 0);
	struct smap *m = calloc(1, sizeof(*m));
	ck_assert_int_eq(d4_bs_agg_dirty(a, smap_put, m), 0);
	ck_assert_uint_eq(m->n, 2);
	d4_bs_agg_free(a);
	int seen_sketch = 0, seen_exact = 0;
	for (size_t k = 0; k < m->n; k++) {
		uint8_t *s = m->e[k].state;
		size_t len = m->e[k].len;
		int sk = s[22] & 1;
		seen_sketch |= sk;
		seen_exact |= !sk;
		/* whole: accepted once, then the key exists; a full table refuses */
		a = d4_bs_agg_new(&o);
		ck_assert_int_eq(d4_bs_agg_restore(a, s, len), 0);
		ck_assert_int_eq(d4_bs_agg_restore(a, s, len), D4_EEXIST);
		d4_bs_agg_free(a);
		struct d4_bs_opts small = o;
		small.max_vectors = 1;
		a = d4_bs_agg_new(&small);
		ck_assert_int_eq(d4_bs_agg_restore(a, m->e[(k + 1) % m->n].state, m->e[(k + 1) % m->n].len), 0);
		ck_assert_int_eq(d4_bs_agg_restore(a, s, len), D4_EFULL);
		d4_bs_agg_free(a);
		/* made with other options: the exact cap does not match */
		struct d4_bs_opts other = o;
		other.distinct_cap = sk ? 1024 : 2;
		a = d4_bs_agg_new(&other);
		expect_corrupt(a, s, len, "other distinct_cap");
		d4_bs_agg_free(a);
		a = d4_bs_agg_new(&o);
		/* every truncation, every bit flipped */
		uint8_t *c = malloc(len + 1);
		for (size_t l = 0; l < len; l++) {
			memcpy(c, s, l);
			expect_corrupt(a, c, l, "truncated");
		}
		memcpy(c, s, len);
		c[len] = 0;
		expect_corrupt(a, c, len + 1, "trailing byte");
		for (size_t i = 0; i < len; i++)
			for (int bit = 0; bit < 8; bit++) {
				memcpy(c, s, len);
				c[i] ^= (uint8_t)(1u << bit);
				expect_corrupt(a, c, len, "bit flipped");
			}
		/* fields out of range, with a valid check sum */
		size_t ring = 76 + (size_t)(T0 / (60 * US) % 16) * 8; /* the slot of T0's minute */
		for (int b = 0; b < 12; b++) {
			memcpy(c, s, len);
			static const char *const what[] = {"version",
							   "kind none",
							   "kind 13",
							   "unknown flag",
							   "tlp",
							   "first > last",
							   "no packet",
							   "emission time, no update",
							   "ring minute in the wrong slot",
							   "ring minute, no count",
							   "65 ports",
							   "no port"};
			switch (b) {
			case 0: c[4] = 2; break;
			case 1: c[21] = 0; break;
			case 2: c[21] = 13; break;
			case 3: c[22] |= 0x10; break;
			case 4: c[23] = 8; break;
			case 5: c[24] = 0xff; break;
			case 6: memset(c + 40, 0, 8); break;
			case 7: memset(c + 56, 0, 4), c[67] |= 1; break;
			case 8: c[ring + 3] ^= 1; break;
			case 9: memset(c + ring + 4, 0, 4); break;
			case 10: c[212] = 65; break;
			default: c[212] = 0; break;
			}
			refix(c, len);
			expect_corrupt(a, c, len, what[b]);
		}
		/* the members or registers: unsorted/duplicate member, register too high */
		memcpy(c, s, len);
		if (sk)
			c[len - 8 - 1] = 56;
		else
			memcpy(c + len - 16, c + len - 24, 8); /* last member = the one before */
		refix(c, len);
		expect_corrupt(a, c, len, sk ? "register" : "duplicate member");
		d4_bs_agg_free(a);
		free(c);
	}
	ck_assert(seen_sketch && seen_exact);
	smap_free(m);
	free(m);
}
END_TEST

START_TEST(state_live_note)
{
	struct d4_bs_opts o;
	d4_bs_opts_default(&o);
	o.live = 1;
	struct d4_bs_agg *a = d4_bs_agg_new(&o), *b = d4_bs_agg_new(&o);
	uint8_t ip[128], l4[32];
	struct d4_pkt p;
	/* our SYN, noted by b without counting it; its SYN+ACK is then own-flow in both */
	size_t n = mk_ip(ip, "10.0.0.5", "192.0.2.80", 6, l4, mk_tcp(l4, 40000, 443, 0x02));
	decode(D4_LINK_RAW, ip, n, &p);
	ck_assert_int_eq(d4_bs_agg_add(a, &p, T0, NULL, 0, NULL), 0);
	ck_assert_int_eq(d4_bs_agg_live_note(b, &p, T0), 0);
	n = mk_ip(ip, "192.0.2.80", "10.0.0.5", 6, l4, mk_tcp(l4, 443, 40000, 0x12));
	decode(D4_LINK_RAW, ip, n, &p);
	ck_assert_int_eq(d4_bs_agg_live_note(b, &p, T0 + US), 0); /* a reply is not noted */
	struct d4_bs_stats sa, sb;
	d4_bs_agg_stats(b, &sb);
	ck_assert_uint_eq(sb.packets, 0);
	ck_assert_uint_eq(sb.live_flows, 1);
	ck_assert_int_eq(d4_bs_agg_add(a, &p, T0 + US, NULL, 0, NULL), 0);
	ck_assert_int_eq(d4_bs_agg_add(b, &p, T0 + US, NULL, 0, NULL), 0);
	d4_bs_agg_stats(a, &sa);
	d4_bs_agg_stats(b, &sb);
	ck_assert_uint_eq(sa.by_reason[D4_BS_R_OWN_FLOW], 1);
	ck_assert_uint_eq(sb.by_reason[D4_BS_R_OWN_FLOW], 1);
	ck_assert_uint_eq(sb.backscatter, 0);
	d4_bs_agg_free(a);
	d4_bs_agg_free(b);
}
END_TEST

static Suite *bs_suite(void)
{
	Suite *s = suite_create("backscatter");
	TCase *tc = tcase_create("classify");
	tcase_add_test(tc, every_kind_v4_v6_raw_ethernet);
	tcase_add_test(tc, scans_and_requests_are_not_backscatter);
	tcase_add_test(tc, icmp_quotes);
	tcase_add_test(tc, telescope_prefixes);
	suite_add_tcase(s, tc);
	tc = tcase_create("vectors");
	tcase_add_test(tc, vectors_exact_counts);
	tcase_add_test(tc, thresholds_just_under);
	tcase_add_test(tc, idle_close_and_updates);
	tcase_add_test(tc, live_mode_own_replies);
	tcase_add_test(tc, distinct_exact_then_estimated);
	tcase_add_test(tc, bounded_table_and_callback_error);
	tcase_add_test(tc, random_order_same_vectors);
	tcase_add_test(tc, ordinary_captures_no_attack);
	suite_add_tcase(s, tc);
	tc = tcase_create("state");
	tcase_add_test(tc, state_split_runs_same_vectors);
	tcase_add_test(tc, state_dirty_reports);
	tcase_add_test(tc, state_corrupt_refused);
	tcase_add_test(tc, state_live_note);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(bs_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
