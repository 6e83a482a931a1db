/* Per-packet backscatter classification (Moore et al. 2006, §3; corsaro dos).
 * ICMP errors are attributed to the host the quoted packet was sent to: the
 * reporting router is only a messenger, the victim is who the attacker aimed
 * at. The quoted packet is parsed through the bounded reader; it is whatever
 * the network delivered, so every length is checked and a short quote yields
 * port 0, never a read past the capture. */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "backscatter_internal.h"
#include "d4_backscatter.h"
#include "d4_error.h"
#include "d4_reader.h"

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10
#define TH_URG 0x20

static const char *const kind_names[D4_BS_KIND_COUNT] = {
    "none",
    "tcp-synack",
    "tcp-rst",
    "icmp-echo-reply",
    "icmp-unreach",
    "icmp-time-exceeded",
    "icmp-source-quench",
    "icmp-param-problem",
    "icmp6-echo-reply",
    "icmp6-unreach",
    "icmp6-packet-too-big",
    "icmp6-time-exceeded",
    "icmp6-param-problem",
};

static const char *const reason_names[D4_BS_R_COUNT] = {
    "ok", "scan", "not-a-reply", "icmp-other", "fragment", "malformed", "quote-mismatch", "not-telescope", "own-flow",
};

const char *d4_bs_kind_name(int kind)
{
	return kind >= 0 && kind < D4_BS_KIND_COUNT ? kind_names[kind] : "none";
}

int d4_bs_kind_parse(const char *name)
{
	if (!name)
		return D4_BS_NONE;
	for (int k = 1; k < D4_BS_KIND_COUNT; k++)
		if (strcasecmp(name, kind_names[k]) == 0)
			return k;
	return D4_BS_NONE;
}

const char *d4_bs_reason_name(int reason)
{
	return reason >= 0 && reason < D4_BS_R_COUNT ? reason_names[reason] : "unknown";
}

void d4_bs_opts_default(struct d4_bs_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->live_window_s = 120;
	o->live_max_flows = 65536;
	o->idle_close_s = 300;
	o->min_packets = 25;
	o->min_duration_s = 60;
	o->min_peak_ppm = 30;
	o->update_s = 60;
	o->max_vectors = 262144;
	o->distinct_cap = 1024;
}

int d4_bs_prefix_parse(const char *s, struct d4_bs_prefix *out)
{
	char buf[64];
	if (!s || !out)
		return D4_EINVAL;
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(buf))
		return D4_EINVAL;
	memcpy(buf, s, n + 1);
	long len = -1;
	char *slash = strchr(buf, '/');
	if (slash) {
		*slash = 0;
		const char *d = slash + 1;
		if (!*d || strlen(d) > 3)
			return D4_EINVAL;
		len = 0;
		for (; *d; d++) {
			if (*d < '0' || *d > '9')
				return D4_EINVAL;
			len = len * 10 + (*d - '0');
		}
	}
	memset(out, 0, sizeof(*out));
	uint8_t a4[4];
	if (inet_pton(AF_INET, buf, a4) == 1) {
		if (len > 32)
			return D4_EINVAL;
		out->addr[10] = out->addr[11] = 0xff;
		memcpy(out->addr + 12, a4, 4);
		out->len = (uint8_t)(96 + (len < 0 ? 32 : len));
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		if (len > 128)
			return D4_EINVAL;
		out->len = (uint8_t)(len < 0 ? 128 : len);
	} else
		return D4_EINVAL;
	for (unsigned i = out->len; i < 128; i++)
		out->addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
	return 0;
}

static uint64_t ld64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* Big-endian mask of the first n bits of a 64-bit word, in memory order. */
static uint64_t mask_mem(unsigned n)
{
	uint64_t m = n >= 64 ? ~0ull : n ? ~0ull << (64 - n) : 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	m = __builtin_bswap64(m);
#endif
	return m;
}

/* Per packet and per prefix: two masked 64-bit comparisons. */
int d4_bs_prefix_match(const struct d4_bs_prefix *pf, const uint8_t a[16])
{
	unsigned len = pf->len > 128 ? 128 : pf->len;
	uint64_t mhi = mask_mem(len), mlo = mask_mem(len > 64 ? len - 64 : 0);
	return ((ld64(pf->addr) ^ ld64(a)) & mhi) == 0 && ((ld64(pf->addr + 8) ^ ld64(a + 8)) & mlo) == 0;
}

static void v4mapped(uint8_t out[16], const uint8_t *a4)
{
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, a4, 4);
}

/* Quoted IPv4 packet of an ICMP error: the datagram the victim (or a router on
 * the way) received with the telescope address as its source. */
static int quoted_v4(struct d4_reader *r, uint8_t src[16], uint8_t dst[16], uint8_t *proto, uint16_t *sport,
		     uint16_t *dport)
{
	const uint8_t *h = d4_rd_ptr(r, 20);
	if (!h || (h[0] >> 4) != 4)
		return D4_BS_R_MALFORMED;
	size_t ihl = (size_t)(h[0] & 0x0f) * 4;
	if (ihl < 20)
		return D4_BS_R_MALFORMED;
	d4_rd_skip(r, ihl - 20);
	if (d4_rd_error(r))
		return D4_BS_R_MALFORMED;
	v4mapped(src, h + 12);
	v4mapped(dst, h + 16);
	*proto = h[9];
	/* A non-first fragment quotes no transport header. */
	if (((h[6] << 8) | h[7]) & 0x1fff)
		return D4_BS_R_OK;
	if (d4_rd_left(r) >= 4 && (*proto == 6 || *proto == 17 || *proto == 132 || *proto == 33)) {
		*sport = d4_rd_u16be(r);
		*dport = d4_rd_u16be(r);
	} else if (d4_rd_left(r) >= 6 && *proto == 1) {
		d4_rd_skip(r, 4);
		*sport = d4_rd_u16be(r); /* echo identifier */
	}
	return D4_BS_R_OK;
}

/* Quoted IPv6 packet; extension headers are walked (bounded) to reach the
 * transport ports. */
static int quoted_v6(struct d4_reader *r, uint8_t src[16], uint8_t dst[16], uint8_t *proto, uint16_t *sport,
		     uint16_t *dport)
{
	const uint8_t *h = d4_rd_ptr(r, 40);
	if (!h || (h[0] >> 4) != 6)
		return D4_BS_R_MALFORMED;
	memcpy(src, h + 8, 16);
	memcpy(dst, h + 24, 16);
	uint8_t nh = h[6];
	for (int i = 0; i < 8; i++) {
		if (nh == 0 || nh == 43 || nh == 60 || nh == 51 || nh == 44) {
			const uint8_t *e = d4_rd_ptr(r, 8);
			if (!e) /* quote cut inside the extension headers: addresses are known, ports not */
				break;
			if (nh == 44) {
				uint16_t fo = (uint16_t)((e[2] << 8) | e[3]);
				nh = e[0];
				if (fo & 0xfff8) { /* non-first fragment: no ports */
					*proto = nh;
					return D4_BS_R_OK;
				}
				continue;
			}
			size_t hl = nh == 51 ? ((size_t)e[1] + 2) * 4 : ((size_t)e[1] + 1) * 8;
			nh = e[0];
			d4_rd_skip(r, hl - 8);
			if (d4_rd_error(r))
				break;
			continue;
		}
		*proto = nh;
		if (d4_rd_left(r) >= 4 && (nh == 6 || nh == 17 || nh == 132 || nh == 33)) {
			*sport = d4_rd_u16be(r);
			*dport = d4_rd_u16be(r);
		} else if (d4_rd_left(r) >= 6 && nh == 58) {
			d4_rd_skip(r, 4);
			*sport = d4_rd_u16be(r); /* echo identifier */
		}
		return D4_BS_R_OK;
	}
	*proto = nh;
	return D4_BS_R_OK;
}

static int in_telescope(const struct d4_bs_opts *o, const uint8_t a[16])
{
	if (!o || o->n_telescope == 0)
		return 1;
	for (size_t i = 0; i < o->n_telescope; i++)
		if (d4_bs_prefix_match(&o->telescope[i], a))
			return 1;
	return 0;
}

static int done(struct d4_bs_class *c, int reason)
{
	c->reason = (uint8_t)reason;
	c->kind = D4_BS_NONE;
	return D4_BS_NONE;
}

static int icmp_error(const struct d4_pkt *p, struct d4_bs_class *c, int kind)
{
	struct d4_reader r;
	uint8_t qsrc[16], qdst[16], qproto = 0;
	uint16_t qsport = 0, qdport = 0;
	d4_rd_init(&r, p->l4, p->l4len);
	d4_rd_skip(&r, 8);
	int rc = p->ipver == 4 ? quoted_v4(&r, qsrc, qdst, &qproto, &qsport, &qdport)
			       : quoted_v6(&r, qsrc, qdst, &qproto, &qsport, &qdport);
	if (rc != D4_BS_R_OK)
		return done(c, rc);
	/* The quote must be a packet that came from the address the error is
	 * sent to; anything else is not a reply to "our" (spoofed) traffic. */
	if (memcmp(qsrc, p->dst, 16) != 0)
		return done(c, D4_BS_R_QUOTE_MISMATCH);
	memcpy(c->victim, qdst, 16);
	c->port = qdport; /* 0 for a quoted ICMP echo request: it has no port */
	c->tport = qsport;
	c->proto = qproto;
	c->kind = (uint8_t)kind;
	return kind;
}

int d4_bs_classify(const struct d4_pkt *p, const struct d4_bs_opts *o, struct d4_bs_class *out)
{
	struct d4_bs_class *c = out;
	memset(c, 0, sizeof(*c));
	memcpy(c->telescope, p->dst, 16);
	memcpy(c->victim, p->src, 16);
	c->bytes = p->ip_len;
	c->proto = p->proto;
	int kind = D4_BS_NONE;
	int first_frag = 0;
	if (p->fragment) {
		/* Only an IPv4 first fragment still carries the transport header. */
		if (p->ipver == 4 && p->l3 && p->l3len >= 8 && !(((p->l3[6] << 8) | p->l3[7]) & 0x1fff))
			first_frag = 1;
		if (!first_frag)
			return done(c, D4_BS_R_FRAGMENT);
	}
	if (p->proto == 6) {
		if (!p->l4 || p->l4len < 20)
			return done(c, D4_BS_R_MALFORMED);
		uint8_t f = p->tcp_flags;
		uint8_t core = f & (TH_SYN | TH_ACK | TH_FIN | TH_RST);
		if ((f & TH_RST) && !(f & (TH_SYN | TH_FIN)))
			kind = D4_BS_TCP_RST;
		else if (core == (TH_SYN | TH_ACK))
			kind = D4_BS_TCP_SYNACK;
		else if (f == 0 || f == TH_FIN || (f & (TH_FIN | TH_PSH | TH_URG)) == (TH_FIN | TH_PSH | TH_URG) ||
			 (f == TH_ACK && p->paylen == 0))
			return done(c, D4_BS_R_SCAN); /* NULL, FIN, XMAS, pure ACK */
		else
			return done(c, D4_BS_R_NOT_REPLY);
		c->port = p->sport;
		c->tport = p->dport;
	} else if ((p->proto == 1 && p->ipver == 4) || (p->proto == 58 && p->ipver == 6)) {
		if (!p->l4 || p->l4len < 8)
			return done(c, D4_BS_R_MALFORMED);
		uint8_t type = p->l4[0];
		int v6 = p->ipver == 6;
		if ((!v6 && type == 0) || (v6 && type == 129)) {
			kind = v6 ? D4_BS_ICMP6_ECHO_REPLY : D4_BS_ICMP_ECHO_REPLY;
			c->tport = (uint16_t)((p->l4[4] << 8) | p->l4[5]);
		} else if ((!v6 && type == 8) || (v6 && type == 128))
			return done(c, D4_BS_R_NOT_REPLY);
		else {
			if (!v6)
				kind = type == 3    ? D4_BS_ICMP_UNREACH
				       : type == 11 ? D4_BS_ICMP_TIME_EXCEEDED
				       : type == 4  ? D4_BS_ICMP_SOURCE_QUENCH
				       : type == 12 ? D4_BS_ICMP_PARAM_PROBLEM
						    : D4_BS_NONE;
			else
				kind = type == 1   ? D4_BS_ICMP6_UNREACH
				       : type == 2 ? D4_BS_ICMP6_PACKET_TOO_BIG
				       : type == 3 ? D4_BS_ICMP6_TIME_EXCEEDED
				       : type == 4 ? D4_BS_ICMP6_PARAM_PROBLEM
						   : D4_BS_NONE;
			if (kind == D4_BS_NONE)
				return done(c, D4_BS_R_ICMP_OTHER);
			if (icmp_error(p, c, kind) == D4_BS_NONE)
				return D4_BS_NONE;
		}
	} else
		return done(c, D4_BS_R_NOT_REPLY);
	if (!in_telescope(o, p->dst))
		return done(c, D4_BS_R_NOT_TELESCOPE);
	c->kind = (uint8_t)kind;
	c->reason = D4_BS_R_OK;
	return kind;
}
