/* Unit tests of the DNS-message parser, the capture extractor (UDP, TCP
 * reassembly) and the pcap stream splitter of analyzers/pdns, and the
 * fixture comparison with passivedns 1.2.1.
 *
 * passivedns prints only part of some rdata; the comparison maps it so:
 *   MX  -> the exchange name (our rdata "10 mail.example.test." vs its "mail.example.test.")
 *   SOA -> the MNAME (first field of our rdata)
 *   SRV -> the target (fourth field)
 *   TXT -> the first character-string only (ours keeps every string, quoted)
 * Every other type compares whole. Names inside rdata compare without case:
 * passivedns keeps their case, ours are lower-cased (d4_pdns.h canonical form). */
#include "d4_error.h"
#include "d4_pdns.h"
#include "d4_pkt.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- observation collector ---- */

struct ob {
	char *rrname, *rdata, *bw;
	uint16_t type;
	uint32_t ttl;
	uint64_t ts;
};

struct col {
	struct ob *v;
	size_t n, cap;
};

static int collect(void *arg, const struct d4_pdns_obs *o)
{
	struct col *c = arg;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
		ck_assert_ptr_nonnull(c->v);
	}
	ck_assert_uint_eq(strlen(o->rdata), o->rdata_len);
	ck_assert_int_eq(o->rrclass, 1);
	ck_assert_uint_eq(o->count, 1);
	ck_assert(o->time_first == o->time_last);
	struct ob *b = &c->v[c->n++];
	b->rrname = strdup(o->rrname);
	b->rdata = strdup(o->rdata);
	b->bw = o->bailiwick ? strdup(o->bailiwick) : NULL;
	b->type = o->rrtype;
	b->ttl = o->ttl;
	b->ts = o->time_first;
	return 0;
}

static void col_free(struct col *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].rrname);
		free(c->v[i].rdata);
		free(c->v[i].bw);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/* ---- DNS message builder ---- */

struct mb {
	uint8_t b[70000];
	size_t n;
};

static void mb_u16(struct mb *m, uint16_t v)
{
	m->b[m->n++] = (uint8_t)(v >> 8);
	m->b[m->n++] = (uint8_t)v;
}

static void mb_u32(struct mb *m, uint32_t v)
{
	mb_u16(m, (uint16_t)(v >> 16));
	mb_u16(m, (uint16_t)v);
}

static void mb_mem(struct mb *m, const void *p, size_t k)
{
	memcpy(m->b + m->n, p, k);
	m->n += k;
}

/* Dotted name, labels as given (no escapes). */
static void mb_name(struct mb *m, const char *s)
{
	while (*s) {
		const char *d = strchr(s, '.');
		size_t l = d ? (size_t)(d - s) : strlen(s);
		m->b[m->n++] = (uint8_t)l;
		mb_mem(m, s, l);
		s += l;
		if (*s == '.')
			s++;
	}
	m->b[m->n++] = 0;
}

static void mb_hdr(struct mb *m, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar)
{
	m->n = 0;
	mb_u16(m, 0x1234);
	mb_u16(m, flags);
	mb_u16(m, qd);
	mb_u16(m, an);
	mb_u16(m, ns);
	mb_u16(m, ar);
}

static void mb_rrhead(struct mb *m, uint16_t type, uint16_t cls, uint32_t ttl, uint16_t rdlen)
{
	mb_u16(m, type);
	mb_u16(m, cls);
	mb_u32(m, ttl);
	mb_u16(m, rdlen);
}

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;
	for (; h[0] && h[1]; h += 2) {
		if (h[0] == ' ') {
			h--;
			continue;
		}
		unsigned v;
		sscanf(h, "%2x", &v);
		out[n++] = (uint8_t)v;
	}
	return n;
}

/* Parses a response holding one answer of `type` with rdata given in hex
 * (spaces ignored); returns its presentation (static) or NULL. */
static const char *one(uint16_t type, const char *hex)
{
	static char out[70000];
	static struct mb m;
	uint8_t rd[4096];
	size_t rl = unhex(hex, rd);
	mb_hdr(&m, 0x8180, 1, 1, 0, 0);
	mb_name(&m, "t.example");
	mb_u16(&m, type);
	mb_u16(&m, 1);
	mb_u16(&m, 0xc00c);
	mb_rrhead(&m, type, 1, 60, (uint16_t)rl);
	mb_mem(&m, rd, rl);
	struct col c = {0};
	struct d4_pdns_stats st = {0};
	int rc = d4_pdns_dns_parse(m.b, m.n, 5, collect, &c, &st);
	ck_assert_int_eq(rc, 0);
	if (c.n != 1) {
		col_free(&c);
		return NULL;
	}
	ck_assert_str_eq(c.v[0].rrname, "t.example.");
	ck_assert_int_eq(c.v[0].type, type);
	snprintf(out, sizeof(out), "%s", c.v[0].rdata);
	col_free(&c);
	return out;
}

#define ONE(t, h, want) ck_assert_str_eq(one(t, h), want)

START_TEST(rdata_basic)
{
	ONE(1, "c0000201", "192.0.2.1");
	ONE(28, "20010db8000000000000000000000001", "2001:db8::1");
	ONE(28, "00000000000000000000000000000000", "::");
	ONE(28, "20010db8000000010001000100010001", "2001:db8:0:1:1:1:1:1");
	ONE(28, "20010000000000010000000000000001", "2001:0:0:1::1");
	ONE(28, "00010000000000000000000000000000", "1::");
	ONE(2, "034e5331074578616d706c6500", "ns1.example.");
	ONE(5, "0377777700", "www.");
	ONE(12, "00", ".");
	ONE(39, "0161c00c", "a.t.example.");
	ONE(6, "036e7331c00e 0b686f73742e6d6173746572c00e 00000001 00000002 00000003 00000004 00000005",
	    "ns1.example. host\\.master.example. 1 2 3 4 5");
	ONE(15, "000a 046d61696cc00e", "10 mail.example.");
	ONE(16, "0568656c6c6f 0461226200 02015c", "\"hello\" \"a\\\"b\\000\" \"\\001\\\\\"");
	ONE(16, "00", "\"\"");
	ONE(16, "0b7769746820207370616365", "\"with  space\"");
	ONE(99, "0b763d73706631202d616c6c", "\"v=spf1 -all\"");
	ONE(13, "03435055 024f53", "\"CPU\" \"OS\"");
	ONE(33, "0001 0002 0003 03736970c00e", "1 2 3 sip.example.");
	ONE(35, "0064 000a 0175 074532552b736970 0c215e2e2a24217369703a782100",
	    "100 10 \"u\" \"E2U+sip\" \"!^.*$!sip:x!\" .");
	ONE(43, "3039 08 02 deadbeef", "12345 8 2 DEADBEEF");
	ONE(59, "0000 00 00 00", "0 0 0 00");
	ONE(44, "01 02 abcd", "1 2 ABCD");
	ONE(52, "03 01 01 abcd", "3 1 1 ABCD");
	ONE(48, "0101 03 08 010203", "257 3 8 AQID");
	ONE(60, "0100 03 0d 0102", "256 3 13 AQI=");
	ONE(257, "00 05 6973737565 63612e6578616d706c65", "0 issue \"ca.example\"");
	ONE(257, "80 05 696f646566 226d61696c746f3a22", "128 iodef \"\\\"mailto:\\\"\"");
	ONE(256, "000a 0001 68747470733a2f2f782f", "10 1 \"https://x/\"");
}
END_TEST

START_TEST(rdata_dnssec)
{
	/* RRSIG A, alg 8, 2 labels, ttl 3600, 2024-01-01 / 2023-12-25, tag 12345 */
	ONE(46, "0001 08 02 00000e10 65920080 6588c600 3039 076578616d706c6500 010203",
	    "A 8 2 3600 20240101000000 20231225000000 12345 example. AQID");
	/* NSEC: A NS RRSIG NSEC + URI (window 1) + TYPE1234 (window 4) */
	ONE(47,
	    "0161076578616d706c6500 0006 600000000003 0101 80 041b"
	    "000000000000000000000000000000000000000000000000000020",
	    "a.example. A NS RRSIG NSEC URI TYPE1234");
	ONE(50, "01 00 000a 04 aabbccdd 14 000102030405060708090a0b0c0d0e0f10111213 0001 40",
	    "1 0 10 AABBCCDD 000G40O40K30E209185GO38E1S8124GJ A");
	ONE(50, "01 01 0000 00 01 ff", "1 1 0 - VS");
	ONE(51, "01 00 000a 00", "1 0 10 -");
	ONE(51, "01 00 000a 02 abcd", "1 0 10 ABCD");
	/* bitmap windows out of order, or a zero-length window: generic */
	ONE(47, "00 0001 40 0001 40", "\\# 7 00000140000140");
	ONE(47, "00 0000", "\\# 3 000000");
}
END_TEST

START_TEST(rdata_svcb)
{
	ONE(65,
	    "0001 00 0000 0004 00010003 0001 0006 02683202683" /* mandatory alpn,port; alpn h2,h3 */
	    "3 0003 0002 01bb 0004 0004 c0000201 0005 0003 010203 0006 0010 20010db8000000000000000000000001",
	    "1 . mandatory=alpn,port alpn=\"h2,h3\" port=443 ipv4hint=192.0.2.1 ech=AQID ipv6hint=2001:db8::1");
	ONE(64, "0000 03737663c00e", "0 svc.example.");
	ONE(64, "0002 00 0002 0000 0007 0003 2f713f", "2 . no-default-alpn dohpath=\"/q?\"");
	ONE(65, "0001 00 0001 0004 03612c62", "1 . alpn=\"a\\\\,b\"");
	ONE(65, "0001 00 029b 0002 6869", "1 . key667=\"hi\"");
	/* keys out of order, port of 3 bytes, empty alpn item: generic */
	ONE(65, "0001 00 0003 0002 01bb 0001 0003 026832", "\\# 16 0001000003000201BB00010003026832");
}
END_TEST

START_TEST(rdata_generic_and_bad_lengths)
{
	ONE(65280, "0102", "\\# 2 0102");
	ONE(65280, "", "\\# 0");
	ONE(29, "00", "\\# 1 00"); /* LOC: presented generically */
	ONE(1, "c000020101", "\\# 5 C000020101");
	ONE(1, "c00002", "\\# 3 C00002");
	ONE(28, "c0000201", "\\# 4 C0000201");
	ONE(15, "000a 00 ff", "\\# 4 000A00FF");	   /* trailing byte after the name */
	ONE(5, "03777777", "\\# 4 03777777");		   /* name runs past rdlength */
	ONE(5, "c0ff", "\\# 2 C0FF");			   /* forward pointer */
	ONE(16, "05616263", "\\# 4 05616263");		   /* string longer than rdata */
	ONE(16, "", "\\# 0");				   /* TXT needs one string */
	ONE(43, "3039 08 02", "\\# 4 30390802");	   /* DS without digest */
	ONE(257, "00 00 6162", "\\# 4 00006162");	   /* CAA empty tag */
	ONE(257, "00 02 612d 62", "\\# 5 0002612D62");	   /* CAA tag not alphanumeric */
	ONE(6, "00 00 00000001", "\\# 6 000000000001");	   /* SOA short */
	ONE(50, "01 00 000a 00 00", "\\# 6 0100000A0000"); /* NSEC3 empty hash */
	ONE(64, "0001", "\\# 2 0001");			   /* SVCB without target */
}
END_TEST

/* A response whose answer owner is `owner` given as raw wire bytes. */
static int parse_owner(const uint8_t *owner, size_t ol, struct col *c, struct d4_pdns_stats *st)
{
	static struct mb m;
	mb_hdr(&m, 0x8400, 1, 1, 0, 0);
	mb_name(&m, "q.example");
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	mb_mem(&m, owner, ol);
	mb_rrhead(&m, 1, 1, 60, 4);
	mb_u32(&m, 0xc0000201);
	return d4_pdns_dns_parse(m.b, m.n, 1, collect, c, st);
}

START_TEST(names)
{
	struct col c = {0};
	struct d4_pdns_stats st = {0};
	/* upper case, escapes: label "A.b c", "\"x", bytes 0x00 and 0xff */
	const uint8_t o1[] = {5, 'A', '.', 'b', ' ', 'c', 2, '"', 'X', 2, 0, 0xff, 3, 'C', 'O', 'M', 0};
	ck_assert_int_eq(parse_owner(o1, sizeof(o1), &c, &st), 0);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_str_eq(c.v[0].rrname, "a\\.b\\032c.\\\"x.\\000\\255.com.");
	col_free(&c);
	/* pointer to the question name, and a label + pointer */
	const uint8_t o2[] = {3, 'W', 'W', 'W', 0xc0, 12};
	ck_assert_int_eq(parse_owner(o2, sizeof(o2), &c, &st), 0);
	ck_assert_str_eq(c.v[0].rrname, "www.q.example.");
	col_free(&c);
	/* forward pointer, pointer to itself */
	const uint8_t o3[] = {0xc0, 0x40};
	ck_assert_int_eq(parse_owner(o3, sizeof(o3), &c, &st), D4_EPROTO);
	const uint8_t o4[] = {0xc0, 27}; /* 27 = offset of this pointer */
	ck_assert_int_eq(parse_owner(o4, sizeof(o4), &c, &st), D4_EPROTO);
	/* a label, then a pointer back into that same label: loop */
	const uint8_t o5[] = {1, 'a', 0xc0, 27};
	ck_assert_int_eq(parse_owner(o5, sizeof(o5), &c, &st), D4_EPROTO);
	/* obsolete label types */
	const uint8_t o6[] = {0x41, 0};
	ck_assert_int_eq(parse_owner(o6, sizeof(o6), &c, &st), D4_EPROTO);
	ck_assert_uint_eq(c.n, 0);
	/* 255 wire bytes is the limit: 4 x 63-byte labels = 257 */
	uint8_t big[300];
	size_t k = 0;
	for (int i = 0; i < 4; i++) {
		big[k++] = 63;
		memset(big + k, 'a', 63);
		k += 63;
	}
	big[k++] = 0;
	ck_assert_int_eq(parse_owner(big, k, &c, &st), D4_EPROTO);
	/* 3 x 63 + 1 x 61 = 254 + root = 255: accepted */
	big[3 * 64] = 61;
	memmove(big + 3 * 64 + 1 + 61, big + k - 1, 1);
	ck_assert_int_eq(parse_owner(big, 3 * 64 + 1 + 61 + 1, &c, &st), 0);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_uint_eq(strlen(c.v[0].rrname), 254);
	col_free(&c);
}
END_TEST

/* Pointer chains: 70 names, each a pointer to the previous one; the last
 * one is followed by the owner. Over 64 hops is refused. */
static int chain(int hops, struct col *c)
{
	static struct mb m;
	mb_hdr(&m, 0x8400, 0, 2, 0, 0);
	/* first answer: type 65280 whose rdata holds the chain */
	mb_name(&m, "x");
	size_t rdlen = 3 + 2 * (size_t)hops;
	mb_rrhead(&m, 65280, 1, 1, (uint16_t)rdlen);
	size_t start = m.n;
	mb_name(&m, "z");
	size_t prev = start;
	for (int i = 0; i < hops; i++) {
		size_t here = m.n;
		mb_u16(&m, (uint16_t)(0xc000 | prev));
		prev = here;
	}
	mb_u16(&m, (uint16_t)(0xc000 | prev));
	mb_rrhead(&m, 1, 1, 1, 4);
	mb_u32(&m, 1);
	struct d4_pdns_stats st = {0};
	return d4_pdns_dns_parse(m.b, m.n, 1, collect, c, &st);
}

START_TEST(pointer_hops)
{
	struct col c = {0};
	ck_assert_int_eq(chain(10, &c), 0);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_str_eq(c.v[1].rrname, "z.");
	col_free(&c);
	ck_assert_int_eq(chain(70, &c), D4_EPROTO);
	ck_assert_uint_eq(c.n, 1); /* the first record stays emitted */
	col_free(&c);
}
END_TEST

static size_t rich_msg(struct mb *m)
{
	mb_hdr(m, 0x8400, 1, 3, 2, 1);
	mb_name(m, "www.Example.test");
	mb_u16(m, 1);
	mb_u16(m, 1);
	mb_u16(m, 0xc00c);
	mb_rrhead(m, 5, 1, 300, 6);
	mb_mem(m, "\x03web\xc0\x10", 6);
	mb_mem(m, "\x03web\xc0\x10", 6);
	mb_rrhead(m, 1, 1, 300, 4);
	mb_u32(m, 0xc0000250);
	mb_u16(m, 0xc00c);
	mb_rrhead(m, 16, 3, 0, 2); /* class CH: not IN */
	mb_mem(m, "\x01x", 2);
	mb_u16(m, 0xc010);
	mb_rrhead(m, 2, 1, 300, 6);
	mb_mem(m, "\x03ns1\xc0\x10", 6);
	mb_name(m, "test");
	mb_rrhead(m, 6, 1, 300, 26);
	mb_mem(m, "\x01n\x00\x01h\x00", 6);
	for (int i = 0; i < 5; i++)
		mb_u32(m, 1);
	m->b[m->n++] = 0; /* OPT: root owner */
	mb_u16(m, 41);
	mb_u16(m, 1232);
	mb_u32(m, 0);
	mb_u16(m, 0);
	return m->n;
}

START_TEST(message_level)
{
	static struct mb m;
	struct col c = {0};
	struct d4_pdns_stats st = {0};
	size_t n = rich_msg(&m);
	ck_assert_int_eq(d4_pdns_dns_parse(m.b, n, 77, collect, &c, &st), 0);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_uint_eq(st.records, 2);
	ck_assert_uint_eq(st.not_dns, 1);
	ck_assert_str_eq(c.v[0].rrname, "www.example.test.");
	ck_assert_str_eq(c.v[0].rdata, "web.example.test.");
	ck_assert_str_eq(c.v[0].bw, "example.test."); /* NS example.test beats SOA test */
	ck_assert_str_eq(c.v[1].rrname, "web.example.test.");
	ck_assert_str_eq(c.v[1].rdata, "192.0.2.80");
	ck_assert_uint_eq(c.v[1].ttl, 300);
	ck_assert_uint_eq(c.v[1].ts, 77);
	col_free(&c);
	/* every truncation: never past the end, earlier records stay emitted */
	for (size_t i = 0; i < n; i++) {
		uint8_t *cp = malloc(i ? i : 1);
		memcpy(cp, m.b, i);
		int rc = d4_pdns_dns_parse(cp, i, 1, collect, &c, &st);
		ck_assert(rc == 0 || rc == D4_ETRUNC || rc == D4_EPROTO);
		free(cp);
		col_free(&c);
	}
	/* query, NXDOMAIN, opcode NOTIFY: nothing */
	m.b[2] = 0x00;
	ck_assert_int_eq(d4_pdns_dns_parse(m.b, n, 1, collect, &c, &st), D4_ENOTSUP);
	m.b[2] = 0x84;
	m.b[3] = 0x03;
	ck_assert_int_eq(d4_pdns_dns_parse(m.b, n, 1, collect, &c, &st), D4_ENOTSUP);
	m.b[2] = 0xa4;
	m.b[3] = 0x00;
	ck_assert_int_eq(d4_pdns_dns_parse(m.b, n, 1, collect, &c, &st), D4_ENOTSUP);
	ck_assert_uint_eq(c.n, 0);
	/* a record outside the authority's zone has no bailiwick */
	mb_hdr(&m, 0x8400, 0, 1, 1, 0);
	mb_name(&m, "other.org");
	mb_rrhead(&m, 1, 1, 1, 4);
	mb_u32(&m, 1);
	mb_name(&m, "example.org");
	mb_rrhead(&m, 2, 1, 1, 2);
	mb_u16(&m, 0xc00c);
	ck_assert_int_eq(d4_pdns_dns_parse(m.b, m.n, 1, collect, &c, &st), 0);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_ptr_null(c.v[0].bw);
	col_free(&c);
	/* rdlength past the message end */
	mb_hdr(&m, 0x8400, 0, 1, 0, 0);
	mb_name(&m, "a");
	mb_rrhead(&m, 1, 1, 1, 9);
	mb_u32(&m, 1);
	ck_assert_int_eq(d4_pdns_dns_parse(m.b, m.n, 1, collect, &c, &st), D4_ETRUNC);
	ck_assert_int_eq(d4_pdns_dns_parse(m.b, 11, 1, collect, &c, &st), D4_ETRUNC);
	ck_assert_uint_eq(c.n, 0);
}
END_TEST

static int stop_emit(void *arg, const struct d4_pdns_obs *o)
{
	(void)o;
	(*(int *)arg)++;
	return D4_EFULL;
}

START_TEST(emit_error_stops)
{
	static struct mb m;
	size_t n = rich_msg(&m);
	int calls = 0;
	ck_assert_int_eq(d4_pdns_dns_parse(m.b, n, 1, stop_emit, &calls, NULL), D4_EFULL);
	ck_assert_int_eq(calls, 1);
}
END_TEST

/* ---- TCP reassembly ---- */

static size_t tcp_pkt(uint8_t *b, uint32_t seq, uint8_t flags, const uint8_t *d, size_t n, uint16_t sport)
{
	memset(b, 0, 40);
	b[0] = 0x45;
	b[2] = (uint8_t)((40 + n) >> 8);
	b[3] = (uint8_t)(40 + n);
	b[8] = 64;
	b[9] = 6;
	b[12] = 192;
	b[15] = 53;
	b[16] = 192;
	b[19] = 1;
	b[20] = (uint8_t)(sport >> 8);
	b[21] = (uint8_t)sport;
	b[22] = 0x9c;
	b[23] = 0x41;
	b[24] = (uint8_t)(seq >> 24);
	b[25] = (uint8_t)(seq >> 16);
	b[26] = (uint8_t)(seq >> 8);
	b[27] = (uint8_t)seq;
	b[32] = 5 << 4;
	b[33] = flags;
	if (n)
		memcpy(b + 40, d, n);
	return 40 + n;
}

/* Stream of two messages (3 answers in all), each with its length prefix. */
static size_t tcp_stream(uint8_t *s)
{
	static struct mb m;
	size_t n = rich_msg(&m), k = 0;
	s[k++] = (uint8_t)(n >> 8);
	s[k++] = (uint8_t)n;
	memcpy(s + k, m.b, n);
	k += n;
	mb_hdr(&m, 0x8400, 0, 1, 0, 0);
	mb_name(&m, "second.test");
	mb_rrhead(&m, 1, 1, 1, 4);
	mb_u32(&m, 0x0a000001);
	s[k++] = 0;
	s[k++] = (uint8_t)m.n;
	memcpy(s + k, m.b, m.n);
	return k + m.n;
}

static void feed(struct d4_pdns_pcap *x, uint64_t ts, uint32_t seq, uint8_t flags, const uint8_t *d, size_t n,
		 struct col *c, struct d4_pdns_stats *st)
{
	uint8_t pkt[1024];
	size_t pn = tcp_pkt(pkt, seq, flags, d, n, 53);
	ck_assert_int_eq(d4_pdns_pcap_packet(x, D4_LINK_RAW, ts, pkt, pn, collect, c, st), 0);
}

START_TEST(tcp_every_cut)
{
	uint8_t s[512];
	size_t n = tcp_stream(s);
	for (size_t cut = 1; cut < n; cut++) {
		for (int rev = 0; rev <= 1; rev++) {
			struct d4_pdns_pcap *x = d4_pdns_pcap_new(0, 0);
			ck_assert_ptr_nonnull(x);
			struct col c = {0};
			struct d4_pdns_stats st = {0};
			feed(x, 1, 100, 0x12, NULL, 0, &c, &st); /* SYN-ACK: stream starts at 101 */
			if (!rev) {
				feed(x, 2, 101, 0x18, s, cut, &c, &st);
				feed(x, 3, (uint32_t)(101 + cut), 0x18, s + cut, n - cut, &c, &st);
			} else {
				feed(x, 2, (uint32_t)(101 + cut), 0x18, s + cut, n - cut, &c, &st);
				feed(x, 3, 101, 0x18, s, cut, &c, &st);
			}
			/* a retransmission of everything: nothing new */
			feed(x, 4, 101, 0x18, s, n, &c, &st);
			feed(x, 5, (uint32_t)(101 + n), 0x11, NULL, 0, &c, &st);
			ck_assert_uint_eq(c.n, 3);
			ck_assert_str_eq(c.v[2].rrname, "second.test.");
			ck_assert_uint_eq(st.tcp_gaps, 0);
			col_free(&c);
			d4_pdns_pcap_free(x);
		}
	}
	/* three pieces in all six orders, cuts every 5 bytes */
	static const int perm[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
	for (size_t a = 1; a < n; a += 5)
		for (size_t b = a + 1; b < n; b += 5)
			for (int p = 0; p < 6; p++) {
				size_t off[4] = {0, a, b, n};
				struct d4_pdns_pcap *x = d4_pdns_pcap_new(0, 0);
				struct col c = {0};
				struct d4_pdns_stats st = {0};
				for (int i = 0; i < 3; i++) {
					int j = perm[p][i];
					feed(x, 1, (uint32_t)(7 + off[j]), 0x18, s + off[j], off[j + 1] - off[j], &c,
					     &st);
				}
				/* no SYN seen: the stream is picked up at the first segment seen */
				if (perm[p][0] == 0)
					ck_assert_uint_eq(c.n, 3);
				col_free(&c);
				d4_pdns_pcap_free(x);
			}
}
END_TEST

START_TEST(tcp_gaps_and_limits)
{
	uint8_t s[512];
	size_t n = tcp_stream(s);
	struct col c = {0};
	struct d4_pdns_stats st = {0};
	/* missing first segment, FIN seen: abandoned at idle expiry, counted */
	struct d4_pdns_pcap *x = d4_pdns_pcap_new(0, 30);
	feed(x, 100, 1000, 0x12, NULL, 0, &c, &st);
	feed(x, 101, 1001 + 10, 0x18, s + 10, n - 10, &c, &st);
	feed(x, 102, (uint32_t)(1001 + n), 0x11, NULL, 0, &c, &st);
	ck_assert_uint_eq(st.tcp_gaps, 0);
	uint8_t udp_other[28] = {0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17};
	udp_other[21] = 9; /* port 9: not DNS, only moves the clock */
	udp_other[25] = 8;
	ck_assert_int_eq(d4_pdns_pcap_packet(x, D4_LINK_RAW, 200, udp_other, 28, collect, &c, &st), 0);
	ck_assert_uint_eq(st.tcp_gaps, 1);
	ck_assert_uint_eq(c.n, 0);
	/* a segment far beyond the window */
	feed(x, 201, 5000, 0x12, NULL, 0, &c, &st);
	feed(x, 202, 5001 + 300000, 0x18, s, 10, &c, &st);
	ck_assert_uint_eq(st.tcp_gaps, 2);
	/* reset with pending data */
	feed(x, 203, 9000, 0x12, NULL, 0, &c, &st);
	feed(x, 204, 9001, 0x18, s, 10, &c, &st);
	feed(x, 205, 9011, 0x04, NULL, 0, &c, &st);
	ck_assert_uint_eq(st.tcp_gaps, 3);
	/* queries (to port 53) are not reassembled */
	uint8_t pkt[1024];
	size_t pn = tcp_pkt(pkt, 1, 0x18, s, n, 40000);
	pkt[22] = 0;
	pkt[23] = 53;
	uint64_t before = st.not_dns;
	ck_assert_int_eq(d4_pdns_pcap_packet(x, D4_LINK_RAW, 206, pkt, pn, collect, &c, &st), 0);
	ck_assert_uint_eq(st.not_dns, before + 1);
	d4_pdns_pcap_free(x);
	/* memory cap: many flows with a partial message each */
	x = d4_pdns_pcap_new(16384, 60);
	memset(&st, 0, sizeof(st));
	for (int i = 0; i < 200; i++) {
		size_t k = tcp_pkt(pkt, 1, 0x18, s, 10, 53);
		pkt[14] = (uint8_t)i; /* distinct source address per flow */
		ck_assert_int_eq(d4_pdns_pcap_packet(x, D4_LINK_RAW, 1, pkt, k, collect, &c, &st), 0);
	}
	ck_assert_uint_gt(st.tcp_gaps, 150);
	d4_pdns_pcap_free(x);
	ck_assert_uint_eq(c.n, 0);
}
END_TEST

/* ---- pcap files ---- */

static uint8_t *slurp(const char *rel, size_t *n)
{
	char path[1024];
	const char *d = getenv("D4_TEST_DATA");
	snprintf(path, sizeof(path), "%s/%s", d ? d : "tests/data", rel);
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "open %s", path);
	fseek(f, 0, SEEK_END);
	long l = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc((size_t)l + 1);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(fread(b, 1, (size_t)l, f), (size_t)l);
	fclose(f);
	b[l] = 0;
	*n = (size_t)l;
	return b;
}

/* Extracts a pcap byte string fed in cuts of `step` bytes (0: whole). */
static int extract(const uint8_t *b, size_t n, size_t step, struct col *c, struct d4_pdns_stats *st)
{
	struct d4_pdns_pcap *x = d4_pdns_pcap_new(0, 0);
	struct d4_pdns_pcapstream *s = d4_pdns_pcapstream_new(x);
	ck_assert_ptr_nonnull(s);
	int rc = 0;
	if (!step)
		step = n ? n : 1;
	for (size_t o = 0; o < n && rc == 0; o += step)
		rc = d4_pdns_pcapstream_feed(s, b + o, o + step <= n ? step : n - o, collect, c, st);
	d4_pdns_pcapstream_free(s);
	d4_pdns_pcap_free(x);
	return rc;
}

static int find(const struct col *c, const char *name, uint16_t type, const char *rdata)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].type == type && !strcmp(c->v[i].rrname, name) && !strcmp(c->v[i].rdata, rdata))
			return 1;
	return 0;
}

static uint16_t tnum(const char *t)
{
	static const struct {
		const char *s;
		uint16_t t;
	} m[] = {{"A", 1},   {"NS", 2},	  {"CNAME", 5}, {"SOA", 6}, {"PTR", 12},
		 {"MX", 15}, {"TXT", 16}, {"AAAA", 28}, {"SRV", 33}};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (!strcmp(m[i].s, t))
			return m[i].t;
	ck_abort_msg("type %s not in the test's table", t);
	return 0;
}

/* The part of our rdata that passivedns prints (see the file comment). */
static int pdns_match(uint16_t type, const char *ours, const char *theirs)
{
	const char *p = ours;
	int skip = type == 15 ? 1 : type == 33 ? 3 : 0;
	for (int i = 0; i < skip; i++) {
		p = strchr(p, ' ');
		if (!p)
			return 0;
		p++;
	}
	/* passivedns keeps the case of names inside rdata; ours are lower-cased */
	size_t l = strlen(theirs);
	if ((type == 16 ? strncmp(p, theirs, l) : strncasecmp(p, theirs, l)) != 0)
		return 0;
	if (type == 6 || type == 16)
		return p[l] == '\0' || p[l] == ' ';
	return p[l] == '\0';
}

/* Every tuple of a passivedns CSV (default layout) has an observation with
 * the same name, type, (mapped) rdata and second. Returns tuples checked. */
static size_t compare_csv(const struct col *c, const char *csvrel)
{
	size_t n, checked = 0;
	char *csv = (char *)slurp(csvrel, &n);
	for (char *line = strtok(csv, "\n"); line; line = strtok(NULL, "\n")) {
		char *f[9];
		char *p = line;
		for (int i = 0; i < 9; i++) {
			f[i] = p;
			char *q = strstr(p, "||");
			if (i < 8) {
				ck_assert_msg(q != NULL, "short line %s", line);
				*q = 0;
				p = q + 2;
			}
		}
		uint64_t ts = strtoull(f[0], NULL, 10);
		uint16_t t = tnum(f[5]);
		int ok = 0;
		for (size_t i = 0; i < c->n && !ok; i++)
			ok = c->v[i].type == t && !strcmp(c->v[i].rrname, f[4]) && c->v[i].ts == ts &&
			     c->v[i].ttl == strtoul(f[7], NULL, 10) && pdns_match(t, c->v[i].rdata, f[6]);
		ck_assert_msg(ok, "%s: not found: %s %s %s", csvrel, f[4], f[5], f[6]);
		checked++;
	}
	free(csv);
	return checked;
}

START_TEST(fixture_local_dns)
{
	size_t n;
	uint8_t *b = slurp("dns/local-dns.pcap", &n);
	struct col c = {0};
	struct d4_pdns_stats st = {0};
	ck_assert_int_eq(extract(b, n, 0, &c, &st), 0);
	ck_assert_uint_eq(compare_csv(&c, "dns/local-dns.passivedns-alltypes.csv"), 14);
	ck_assert_uint_eq(compare_csv(&c, "dns/local-dns.passivedns-default.csv"), 9);
	/* the second TXT string passivedns dropped, and full rdata of the mapped types */
	ck_assert(
	    find(&c, "big.example.test.", 16,
		 "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "aaaaaaaaaaaaaaaaaaaaaa\" \"with||pipes and \\\"quotes\\\"\""));
	ck_assert(find(&c, "example.test.", 15, "10 mail.example.test."));
	ck_assert(find(&c, "_sip._tcp.example.test.", 33, "10 60 5060 sip.example.test."));
	ck_assert(find(&c, "example.test.", 6,
		       "ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 1209600 300"));
	/* the TCP answer (web A twice) and the UDP ones: 2 + 3 + 3 + ... */
	size_t tcp_web = 0;
	for (size_t i = 0; i < c.n; i++)
		if (!strcmp(c.v[i].rrname, "web.example.test.") && c.v[i].ts == 1795618269)
			tcp_web++;
	ck_assert_uint_eq(tcp_web, 4); /* TCP reply (.236867) + the repeat over UDP (.294138) */
	/* bailiwick: the zone of the authority section; the NS answer came without one */
	size_t with_bw = 0;
	for (size_t i = 0; i < c.n; i++) {
		if (c.v[i].type == 2)
			ck_assert_ptr_null(c.v[i].bw);
		if (c.v[i].bw) {
			ck_assert_str_eq(c.v[i].bw, "example.test.");
			with_bw++;
		}
	}
	ck_assert_uint_eq(with_bw, c.n - 1);
	ck_assert_uint_eq(st.tcp_gaps, 0);
	ck_assert_uint_eq(st.bad_packets, 0);
	size_t whole = c.n;
	col_free(&c);
	/* the same stream in every two-piece cut, and byte by byte */
	/* one extractor for all cuts: the capture's TCP flow ends with FIN/RST */
	struct d4_pdns_pcap *x = d4_pdns_pcap_new(0, 0);
	for (size_t cut = 1; cut < n; cut++) {
		struct d4_pdns_pcapstream *s = d4_pdns_pcapstream_new(x);
		ck_assert_int_eq(d4_pdns_pcapstream_feed(s, b, cut, collect, &c, &st), 0);
		ck_assert_int_eq(d4_pdns_pcapstream_feed(s, b + cut, n - cut, collect, &c, &st), 0);
		ck_assert_uint_eq(c.n, whole);
		col_free(&c);
		d4_pdns_pcapstream_free(s);
	}
	d4_pdns_pcap_free(x);
	ck_assert_uint_eq(st.tcp_gaps, 0);
	ck_assert_int_eq(extract(b, n, 1, &c, &st), 0);
	ck_assert_uint_eq(c.n, whole);
	col_free(&c);
	free(b);
}
END_TEST

/* Byte-swaps a little-endian pcap into a big-endian one (nanosecond magic). */
static void to_big_endian(uint8_t *b, size_t n)
{
	static const int gh[] = {4, 2, 2, 4, 4, 4, 4};
	size_t o = 0;
	for (size_t i = 0; i < 7; i++) {
		for (int j = 0; j < gh[i] / 2; j++) {
			uint8_t t = b[o + j];
			b[o + j] = b[o + gh[i] - 1 - j];
			b[o + gh[i] - 1 - j] = t;
		}
		o += (size_t)gh[i];
	}
	b[2] = 0x3c;
	b[3] = 0x4d;
	while (o + 16 <= n) {
		size_t cl = (size_t)b[o + 8] | ((size_t)b[o + 9] << 8) | ((size_t)b[o + 10] << 16);
		for (int f = 0; f < 4; f++)
			for (int j = 0; j < 2; j++) {
				uint8_t t = b[o + 4 * f + j];
				b[o + 4 * f + j] = b[o + 4 * f + 3 - j];
				b[o + 4 * f + 3 - j] = t;
			}
		o += 16 + cl;
	}
}

START_TEST(pcapstream_formats)
{
	size_t n;
	uint8_t *b = slurp("dns/local-dns.pcap", &n);
	struct col c = {0}, c2 = {0};
	struct d4_pdns_stats st = {0};
	ck_assert_int_eq(extract(b, n, 0, &c, &st), 0);
	uint8_t *be = malloc(2 * n);
	memcpy(be, b, n);
	to_big_endian(be, n);
	ck_assert_int_eq(extract(be, n, 7, &c2, &st), 0);
	ck_assert_uint_eq(c2.n, c.n);
	for (size_t i = 0; i < c.n; i++)
		ck_assert_str_eq(c2.v[i].rdata, c.v[i].rdata);
	col_free(&c2);
	/* two captures back to back (a restarted capture): twice the records */
	memcpy(be, b, n);
	memcpy(be + n, b, n);
	ck_assert_int_eq(extract(be, 2 * n, 1000, &c2, &st), 0);
	ck_assert_uint_eq(c2.n, 2 * c.n);
	col_free(&c2);
	/* caplen over the snaplen: refused before buffering; later input ignored */
	memcpy(be, b, n);
	be[16] = 100;
	be[17] = be[18] = be[19] = 0;
	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(extract(be, n, 0, &c2, &st), D4_ETOOBIG);
	ck_assert_uint_eq(c2.n, 0);
	/* hard cap: snaplen 0 (unset) and a caplen of 1 MiB */
	memcpy(be, b, n);
	memset(be + 16, 0, 4);
	be[24 + 8] = 0;
	be[24 + 9] = 0;
	be[24 + 10] = 0x10;
	ck_assert_int_eq(extract(be, n, 0, &c2, &st), D4_ETOOBIG);
	/* reset makes a failed stream usable */
	struct d4_pdns_pcap *x = d4_pdns_pcap_new(0, 0);
	struct d4_pdns_pcapstream *s = d4_pdns_pcapstream_new(x);
	ck_assert_int_eq(
	    d4_pdns_pcapstream_feed(s, (const uint8_t *)"not a pcap at all, no magic", 27, collect, &c2, &st),
	    D4_EPROTO);
	ck_assert_int_eq(d4_pdns_pcapstream_feed(s, b, n, collect, &c2, &st), D4_EPROTO);
	d4_pdns_pcapstream_reset(s);
	ck_assert_int_eq(d4_pdns_pcapstream_feed(s, b, n, collect, &c2, &st), 0);
	ck_assert_uint_eq(c2.n, c.n);
	col_free(&c2);
	d4_pdns_pcapstream_reset(s);
	const uint8_t ng[24] = {0x0a, 0x0d, 0x0d, 0x0a};
	ck_assert_int_eq(d4_pdns_pcapstream_feed(s, ng, sizeof(ng), collect, &c2, &st), D4_ENOTSUP);
	d4_pdns_pcapstream_free(s);
	d4_pdns_pcap_free(x);
	/* every truncation of the file: no crash, a prefix of the records */
	for (size_t i = 0; i < n; i += 3) {
		uint8_t *cp = malloc(i ? i : 1);
		memcpy(cp, b, i);
		ck_assert_int_eq(extract(cp, i, 0, &c2, &st), 0);
		ck_assert_uint_le(c2.n, c.n);
		col_free(&c2);
		free(cp);
	}
	col_free(&c);
	free(be);
	free(b);
}
END_TEST

START_TEST(fixture_dpkt)
{
	size_t n;
	struct col c = {0};
	struct d4_pdns_stats st = {0};
	uint8_t *b = slurp("pcap/dns_icmp.pcap", &n);
	ck_assert_int_eq(extract(b, n, 0, &c, &st), 0);
	ck_assert_uint_eq(compare_csv(&c, "dns/dpkt-dns_icmp.passivedns.csv"), 5);
	free(b);
	col_free(&c);
	b = slurp("pcap/http.pcap", &n);
	ck_assert_int_eq(extract(b, n, 0, &c, &st), 0);
	ck_assert_uint_eq(compare_csv(&c, "dns/dpkt-http.passivedns.csv"), 4);
	free(b);
	col_free(&c);
	/* PPPoE sessions */
	b = slurp("pcap/nb6-http.pcap", &n);
	ck_assert_int_eq(extract(b, n, 0, &c, &st), 0);
	ck_assert(find(&c, "ncdn.nb6dsl.neufbox.neuf.fr.", 5, "http.service-ncdn.sfr.net."));
	ck_assert(find(&c, "http.service-ncdn.sfr.net.", 1, "93.17.156.250"));
	ck_assert(find(&c, "http.service-ncdn.sfr.net.", 1, "93.17.156.249"));
	free(b);
	col_free(&c);
	/* responses cut by the capture: the complete records before the cut */
	memset(&st, 0, sizeof(st));
	b = slurp("pcap/truncated_dns.pcap", &n);
	ck_assert_int_eq(extract(b, n, 0, &c, &st), 0);
	ck_assert_uint_ge(c.n, 6);
	ck_assert_str_eq(c.v[0].rdata, "api.samsungspd.com.");
	ck_assert(find(&c, "api.samsungspd.com.", 1, "54.75.141.161"));
	ck_assert(find(&c, "api.samsungspd.com.", 1, "52.50.159.204"));
	ck_assert_uint_eq(st.bad_packets, 1);
	free(b);
	col_free(&c);
	b = slurp("pcap/truncated_dns_2.pcap", &n);
	ck_assert_int_eq(extract(b, n, 0, &c, &st), 0);
	ck_assert(find(&c, "s3-1-w.amazonaws.com.", 1, "52.217.101.4"));
	free(b);
	col_free(&c);
}
END_TEST

START_TEST(generated_captures)
{
	static const struct {
		const char *file, *name, *rdata;
		uint16_t type;
	} want[] = {
	    {"pcap/sll.pcap", "sll.example.test.", "192.0.2.113", 1},
	    {"pcap/sll2.pcap", "sll2.example.test.", "192.0.2.114", 1},
	    {"pcap/vlan.pcap", "vlan.example.test.", "192.0.2.81", 1},
	    {"pcap/vlan.pcap", "qinq.example.test.", "192.0.2.82", 1},
	    {"pcap/ipv6.pcap", "v6.example.test.", "2001:db8::6", 28},
	    {"pcap/tcp-split.pcap", "tcp.example.test.", "192.0.2.61", 1},
	    {"pcap/tcp-split.pcap", "tcp.example.test.", "192.0.2.62", 1},
	    {"pcap/tcp-split.pcap", "tcp.example.test.", "\"hello\" \"world\"", 16},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		size_t n;
		struct col c = {0};
		struct d4_pdns_stats st = {0};
		uint8_t *b = slurp(want[i].file, &n);
		ck_assert_int_eq(extract(b, n, 0, &c, &st), 0);
		ck_assert_msg(find(&c, want[i].name, want[i].type, want[i].rdata), "%s: %s", want[i].file,
			      want[i].name);
		ck_assert_uint_eq(st.bad_packets, 0);
		ck_assert_uint_eq(st.tcp_gaps, 0);
		free(b);
		col_free(&c);
	}
}
END_TEST

static Suite *pdns_dns_suite(void)
{
	Suite *s = suite_create("pdns_dns");
	TCase *tc = tcase_create("dns");
	tcase_add_test(tc, rdata_basic);
	tcase_add_test(tc, rdata_dnssec);
	tcase_add_test(tc, rdata_svcb);
	tcase_add_test(tc, rdata_generic_and_bad_lengths);
	tcase_add_test(tc, names);
	tcase_add_test(tc, pointer_hops);
	tcase_add_test(tc, message_level);
	tcase_add_test(tc, emit_error_stops);
	suite_add_tcase(s, tc);
	TCase *tp = tcase_create("pcap");
	tcase_set_timeout(tp, 120);
	tcase_add_test(tp, tcp_every_cut);
	tcase_add_test(tp, tcp_gaps_and_limits);
	tcase_add_test(tp, fixture_local_dns);
	tcase_add_test(tp, pcapstream_formats);
	tcase_add_test(tp, fixture_dpkt);
	tcase_add_test(tp, generated_captures);
	suite_add_tcase(s, tp);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pdns_dns_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
