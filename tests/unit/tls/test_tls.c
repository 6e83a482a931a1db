/* Unit tests of analyzers/tls: JA3 vectors (DESIGN.md §7), JA4 vectors of
 * its specification, the parsers over hand-built messages (and every
 * truncation of them, from exact-size heap copies so ASan sees a read past
 * the end), and the extractor over hand-built TCP/IP frames: packed
 * handshake records, a message over several records, a ClientHello in three
 * segments out of order, retransmissions and overlaps, trailing GREASE, a
 * truncated certificate chain, TLS 1.3 hellos, every limit. */
#include "d4_error.h"
#include "d4_tls.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- byte builders ---- */

struct buf {
	uint8_t b[65536 * 2];
	size_t n;
};

static void b8(struct buf *b, unsigned v)
{
	b->b[b->n++] = (uint8_t)v;
}
static void b16(struct buf *b, unsigned v)
{
	b8(b, v >> 8);
	b8(b, v & 255);
}
static void b24(struct buf *b, size_t v)
{
	b8(b, (unsigned)(v >> 16) & 255);
	b16(b, (unsigned)v & 0xffff);
}
static void bmem(struct buf *b, const void *p, size_t n)
{
	memcpy(b->b + b->n, p, n);
	b->n += n;
}
/* Patches a length field of `w` bytes at `at` to cover everything after it. */
static void blen(struct buf *b, size_t at, int w)
{
	size_t v = b->n - at - (size_t)w;
	for (int i = w - 1; i >= 0; i--, v >>= 8)
		b->b[at + (size_t)i] = (uint8_t)v;
}

/* A ClientHello description. */
struct chd {
	uint16_t version;
	const uint16_t *ciphers;
	size_t nc;
	const uint16_t *exts; /* extension types in order; contents are made from the fields below */
	size_t ne;
	const uint16_t *groups;
	size_t ng;
	const uint8_t *ecpf;
	size_t nf;
	const uint16_t *sigalgs;
	size_t ns;
	const uint16_t *versions;
	size_t nv;
	const char *sni;
	const char *alpn[4];	 /* each "len:bytes"-free: plain strings */
	const uint8_t *alpn_raw; /* overrides alpn: one raw protocol name */
	size_t alpn_raw_len;
	int no_ext_block;
};

/* ClientHello handshake message (with its 4-byte header). */
static void ch_msg(struct buf *b, const struct chd *d)
{
	b8(b, 1);
	size_t hl = b->n;
	b24(b, 0);
	b16(b, d->version);
	for (int i = 0; i < 32; i++)
		b8(b, (unsigned)i);
	b8(b, 0);
	b16(b, (unsigned)(2 * d->nc));
	for (size_t i = 0; i < d->nc; i++)
		b16(b, d->ciphers[i]);
	b8(b, 1);
	b8(b, 0);
	if (!d->no_ext_block) {
		size_t xl = b->n;
		b16(b, 0);
		for (size_t i = 0; i < d->ne; i++) {
			uint16_t t = d->exts[i];
			b16(b, t);
			size_t el = b->n;
			b16(b, 0);
			size_t ll;
			switch (t) {
			case 0:
				ll = b->n;
				b16(b, 0);
				b8(b, 0);
				b16(b, (unsigned)strlen(d->sni));
				bmem(b, d->sni, strlen(d->sni));
				blen(b, ll, 2);
				break;
			case 10:
				b16(b, (unsigned)(2 * d->ng));
				for (size_t k = 0; k < d->ng; k++)
					b16(b, d->groups[k]);
				break;
			case 11:
				b8(b, (unsigned)d->nf);
				bmem(b, d->ecpf, d->nf);
				break;
			case 13:
				b16(b, (unsigned)(2 * d->ns));
				for (size_t k = 0; k < d->ns; k++)
					b16(b, d->sigalgs[k]);
				break;
			case 16:
				ll = b->n;
				b16(b, 0);
				if (d->alpn_raw) {
					b8(b, (unsigned)d->alpn_raw_len);
					bmem(b, d->alpn_raw, d->alpn_raw_len);
				}
				for (int k = 0; !d->alpn_raw && k < 4 && d->alpn[k]; k++) {
					b8(b, (unsigned)strlen(d->alpn[k]));
					bmem(b, d->alpn[k], strlen(d->alpn[k]));
				}
				blen(b, ll, 2);
				break;
			case 43:
				b8(b, (unsigned)(2 * d->nv));
				for (size_t k = 0; k < d->nv; k++)
					b16(b, d->versions[k]);
				break;
			case 21: /* padding */
				for (int k = 0; k < 7; k++)
					b8(b, 0);
				break;
			default:
				if (d4_tls_is_grease(t))
					b8(b, 0); /* GREASE extensions carry one zero byte in Chrome */
				break;
			}
			blen(b, el, 2);
		}
		blen(b, xl, 2);
	}
	blen(b, hl, 3);
}

static void sh_msg(struct buf *b, uint16_t version, uint16_t cipher, uint16_t selected, const char *alpn, int grease)
{
	b8(b, 2);
	size_t hl = b->n;
	b24(b, 0);
	b16(b, version);
	for (int i = 0; i < 32; i++)
		b8(b, (unsigned)(100 + i));
	b8(b, 0);
	b16(b, cipher);
	b8(b, 0);
	size_t xl = b->n;
	b16(b, 0);
	b16(b, 0xff01);
	b16(b, 1);
	b8(b, 0);
	if (grease) {
		b16(b, 0x3a3a);
		b16(b, 0);
	}
	if (alpn) {
		b16(b, 16);
		b16(b, (unsigned)(3 + strlen(alpn)));
		b16(b, (unsigned)(1 + strlen(alpn)));
		b8(b, (unsigned)strlen(alpn));
		bmem(b, alpn, strlen(alpn));
	}
	if (selected) {
		b16(b, 43);
		b16(b, 2);
		b16(b, selected);
	}
	b16(b, 23);
	b16(b, 0);
	blen(b, xl, 2);
	blen(b, hl, 3);
}

/* Fake DER certificates: a SEQUENCE with `len` bytes of content tagged by id. */
static void fake_der(uint8_t *p, size_t len, int id)
{
	p[0] = 0x30;
	p[1] = 0x82;
	p[2] = (uint8_t)((len - 4) >> 8);
	p[3] = (uint8_t)(len - 4);
	for (size_t i = 4; i < len; i++)
		p[i] = (uint8_t)(id * 31 + i);
}

static const size_t CERT_LEN[3] = {1200, 900, 700};

static void cert_msg(struct buf *b)
{
	b8(b, 11);
	size_t hl = b->n;
	b24(b, 0);
	size_t ll = b->n;
	b24(b, 0);
	for (int i = 0; i < 3; i++) {
		b24(b, CERT_LEN[i]);
		fake_der(b->b + b->n, CERT_LEN[i], i);
		b->n += CERT_LEN[i];
	}
	blen(b, ll, 3);
	blen(b, hl, 3);
}

static void empty_msg(struct buf *b, unsigned type)
{
	b8(b, type);
	b24(b, 0);
}

/* Wraps p[0..n) into records of at most `frag` bytes. */
static void records(struct buf *out, unsigned type, const uint8_t *p, size_t n, size_t frag)
{
	for (size_t o = 0; o < n || (n == 0 && o == 0); o += frag) {
		size_t k = n - o < frag ? n - o : frag;
		b8(out, type);
		b16(out, 0x0303);
		b16(out, (unsigned)k);
		bmem(out, p + o, k);
		if (n == 0)
			break;
	}
}

/* ---- the JA3 / JA4 definitions ---- */

static const uint16_t V1_C[] = {47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4};
static const uint16_t V1_E[] = {0, 10, 11};
static const uint16_t V1_G[] = {23, 24, 25};
static const uint8_t V1_F[] = {0};
static const uint16_t V2_C[] = {4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99};

static void parse_ch(const struct chd *d, struct d4_tls_client_hello *ch)
{
	static struct buf b;
	b.n = 0;
	ch_msg(&b, d);
	ck_assert_int_eq(d4_tls_client_hello_parse(b.b + 4, b.n - 4, ch), 0);
}

START_TEST(ja3_vectors)
{
	static struct d4_tls_client_hello ch;
	char s[D4_TLS_JA3_MAX], md5[33];
	struct chd d1 = {.version = 769,
			 .ciphers = V1_C,
			 .nc = 12,
			 .exts = V1_E,
			 .ne = 3,
			 .groups = V1_G,
			 .ng = 3,
			 .ecpf = V1_F,
			 .nf = 1,
			 .sni = "example.com"};
	parse_ch(&d1, &ch);
	ck_assert_int_eq(d4_tls_ja3(&ch, s, sizeof(s)), (int)strlen(s));
	ck_assert_str_eq(s, "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0");
	ck_assert_int_eq(d4_tls_md5_hex(s, strlen(s), md5), 0);
	ck_assert_str_eq(md5, "ada70206e40642a3e4461f35503241d5");

	struct chd d2 = {.version = 769, .ciphers = V2_C, .nc = 11};
	parse_ch(&d2, &ch);
	d4_tls_ja3(&ch, s, sizeof(s));
	ck_assert_str_eq(s, "769,4-5-10-9-100-98-3-6-19-18-99,,,");
	d4_tls_md5_hex(s, strlen(s), md5);
	ck_assert_str_eq(md5, "de350869b8c85de67a350c8d186f11e6");
	/* the same without any extension block at all */
	d2.no_ext_block = 1;
	parse_ch(&d2, &ch);
	d4_tls_ja3(&ch, s, sizeof(s));
	ck_assert_str_eq(s, "769,4-5-10-9-100-98-3-6-19-18-99,,,");

	/* GREASE anywhere (leading, inside, trailing) is removed before joining */
	static const uint16_t gc[] = {0x0a0a, 47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4, 0xfafa};
	static const uint16_t ge[] = {0x1a1a, 0, 10, 11, 0x9a9a};
	static const uint16_t gg[] = {0x2a2a, 23, 24, 25};
	struct chd d3 = d1;
	d3.ciphers = gc;
	d3.nc = 14;
	d3.exts = ge;
	d3.ne = 5;
	d3.groups = gg;
	d3.ng = 4;
	parse_ch(&d3, &ch);
	ck_assert_int_eq(ch.n_ciphers, 14);
	ck_assert_int_eq(ch.exts[4], 0x9a9a); /* kept by the parser, in wire order */
	d4_tls_ja3(&ch, s, sizeof(s));
	ck_assert_str_eq(s, "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0");

	/* too small a buffer */
	ck_assert_int_eq(d4_tls_ja3(&ch, s, 10), D4_ETOOBIG);
}
END_TEST

/* The JA4 specification's example hello. */
static const uint16_t J_C[] = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
			       0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
static const uint16_t J_E[] = {0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d,
			       0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015};
static const uint16_t J_S[] = {0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601};
static const uint16_t J_V[] = {0x0304, 0x0303};
static const uint16_t J_G[] = {29, 23, 24};
static const uint8_t J_F[] = {0};

static struct chd ja4_example(void)
{
	struct chd d = {.version = 0x0303,
			.ciphers = J_C,
			.nc = 15,
			.exts = J_E,
			.ne = 16,
			.groups = J_G,
			.ng = 3,
			.ecpf = J_F,
			.nf = 1,
			.sigalgs = J_S,
			.ns = 8,
			.versions = J_V,
			.nv = 2,
			.sni = "www.example.com",
			.alpn = {"h2", "http/1.1"}};
	return d;
}

START_TEST(ja4_vectors)
{
	static struct d4_tls_client_hello ch;
	char j[D4_TLS_JA4_LEN + 1], raw[D4_TLS_JA4R_MAX];
	struct chd d = ja4_example();
	parse_ch(&d, &ch);
	ck_assert_int_eq(d4_tls_ja4(&ch, j, raw, sizeof(raw)), 0);
	ck_assert_str_eq(j, "t13d1516h2_8daaf6152771_e5627efa2ab1");
	ck_assert_str_eq(raw, "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,"
			      "cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,"
			      "0804,0401,0503,0805,0501,0806,0601");

	/* GREASE in ciphers, extensions (leading and trailing), versions, sigalgs: no change */
	static const uint16_t gc[] = {0x5a5a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030,
				      0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
	static const uint16_t ge[] = {0x0a0a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d,
				      0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015, 0xdada};
	static const uint16_t gv[] = {0x7a7a, 0x0304, 0x0303};
	static const uint16_t gs[] = {0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0xeaea};
	struct chd g = d;
	g.ciphers = gc;
	g.nc = 16;
	g.exts = ge;
	g.ne = 18;
	g.versions = gv;
	g.nv = 3;
	g.sigalgs = gs;
	g.ns = 9;
	parse_ch(&g, &ch);
	ck_assert_int_eq(d4_tls_ja4(&ch, j, NULL, 0), 0);
	ck_assert_str_eq(j, "t13d1516h2_8daaf6152771_e5627efa2ab1");

	/* no signature algorithms: the list ends without '_' (spec: 6d807ffa2a79) */
	struct chd n = d;
	n.ns = 0;
	parse_ch(&n, &ch);
	d4_tls_ja4(&ch, j, raw, sizeof(raw));
	ck_assert_str_eq(j + 24, "6d807ffa2a79");
	ck_assert_ptr_null(strstr(raw + 11 + 74 + 1, "_"));

	/* no SNI: "i", one extension fewer; no ALPN: "00" */
	static const uint16_t e2[] = {0x001b, 0x0033, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005,
				      0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015};
	struct chd i = d;
	i.exts = e2;
	i.ne = 14;
	parse_ch(&i, &ch);
	d4_tls_ja4(&ch, j, NULL, 0);
	ck_assert_str_eq(j, "t13i151400_8daaf6152771_e5627efa2ab1");

	/* no supported_versions: the legacy version; http/1.1 first: "h1" */
	struct chd v = d;
	v.nv = 0;
	v.alpn[0] = "http/1.1";
	v.alpn[1] = NULL;
	parse_ch(&v, &ch);
	d4_tls_ja4(&ch, j, NULL, 0);
	ck_assert_str_eq(j, "t12d1516h1_8daaf6152771_e5627efa2ab1");

	/* the ALPN rules of the specification */
	static const struct {
		uint8_t b[4];
		size_t n;
		const char *want;
	} al[] = {
	    {{0xab}, 1, "ab"},
	    {{0xab, 0xcd}, 2, "ad"},
	    {{0x30, 0xab}, 2, "3b"},
	    {{0x30, 0x31, 0xab, 0xcd}, 4, "3d"},
	    {{0x30, 0xab, 0xcd, 0x31}, 4, "01"},
	    {{'q'}, 1, "qq"},
	};
	for (size_t k = 0; k < sizeof(al) / sizeof(al[0]); k++) {
		struct chd a = d;
		a.alpn_raw = al[k].b;
		a.alpn_raw_len = al[k].n;
		parse_ch(&a, &ch);
		d4_tls_ja4(&ch, j, NULL, 0);
		ck_assert_msg(j[8] == al[k].want[0] && j[9] == al[k].want[1], "alpn %zu: %s", k, j);
	}
	/* no cipher: zeros */
	struct chd z = d;
	z.nc = 0;
	parse_ch(&z, &ch);
	d4_tls_ja4(&ch, j, NULL, 0);
	ck_assert_str_eq(j, "t13d0016h2_000000000000_e5627efa2ab1");
}
END_TEST

/* Every truncation of a valid message fails cleanly; the whole parses. */
START_TEST(parsers_truncated)
{
	static struct buf b;
	static struct d4_tls_client_hello ch;
	static struct d4_tls_server_hello sh;
	struct chd d = ja4_example();
	b.n = 0;
	ch_msg(&b, &d);
	for (size_t n = 0; n < b.n - 4; n++) {
		uint8_t *c = malloc(n ? n : 1);
		memcpy(c, b.b + 4, n);
		int rc = d4_tls_client_hello_parse(c, n, &ch);
		/* cut right after the compression methods: a hello without extensions */
		ck_assert_msg(rc == D4_ETRUNC || rc == D4_EPROTO || (rc == 0 && n == 2 + 32 + 1 + 2 + 30 + 2),
			      "n=%zu rc=%d", n, rc);
		free(c);
	}
	ck_assert_int_eq(d4_tls_client_hello_parse(b.b + 4, b.n - 4, &ch), 0);
	ck_assert_int_eq(ch.has_sni, 1);
	ck_assert_uint_eq(ch.sni_len, 15);
	ck_assert_int_eq(memcmp(ch.sni, "www.example.com", 15), 0);
	ck_assert_uint_eq(ch.alpn_len, 12);
	/* an extension whose inner length disagrees with its own: EPROTO */
	b.b[b.n - 7 - 4 + 3] ^= 0; /* (padding is last: its length is fine) */
	size_t sni_at = 0;
	for (size_t k = 40; k + 4 < b.n; k++)
		if (b.b[k] == 0 && b.b[k + 1] == 0 && b.b[k + 2] == 0 && b.b[k + 3] == 20) {
			sni_at = k; /* type 0, length 20: the server_name extension */
			break;
		}
	ck_assert_uint_gt(sni_at, 0);
	b.b[sni_at + 5]++; /* server_name_list length one more than the extension holds */
	ck_assert_int_eq(d4_tls_client_hello_parse(b.b + 4, b.n - 4, &ch), D4_EPROTO);

	b.n = 0;
	sh_msg(&b, 0x0303, 0x1301, 0x0304, "h2", 1);
	for (size_t n = 0; n < b.n - 4; n++) {
		uint8_t *c = malloc(n ? n : 1);
		memcpy(c, b.b + 4, n);
		int rc = d4_tls_server_hello_parse(c, n, &sh);
		ck_assert_msg(rc == D4_ETRUNC || rc == D4_EPROTO || (rc == 0 && n == 38), "n=%zu rc=%d", n, rc);
		free(c);
	}
	ck_assert_int_eq(d4_tls_server_hello_parse(b.b + 4, b.n - 4, &sh), 0);
	ck_assert_uint_eq(sh.selected_version, 0x0304);
	ck_assert_uint_eq(sh.alpn_len, 2);
	char s[256];
	d4_tls_ja3s(&sh, s, sizeof(s));
	ck_assert_str_eq(s, "771,4865,65281-16-43-23"); /* GREASE 0x3a3a removed */

	/* Certificate: every cut yields exactly the complete entries before it */
	b.n = 0;
	cert_msg(&b);
	struct d4_tls_cert certs[4];
	for (size_t n = 0; n <= b.n - 4; n++) {
		uint8_t *c = malloc(n ? n : 1);
		memcpy(c, b.b + 4, n);
		size_t cnt = 99;
		uint32_t fl = 0;
		int rc = d4_tls_certificate_parse(c, n, 0, certs, 4, &cnt, &fl);
		size_t want = 0, end = 3;
		for (int i = 0; i < 3; i++) {
			end += 3 + CERT_LEN[i];
			if (end <= n)
				want++;
		}
		ck_assert_uint_eq(cnt, want);
		if (n == b.n - 4) {
			ck_assert_int_eq(rc, 0);
			ck_assert_uint_eq(fl, 0);
		} else {
			ck_assert_int_eq(rc, D4_ETRUNC);
			ck_assert_uint_eq(fl, D4_TLS_F_CERT_TRUNC);
		}
		for (size_t i = 0; i < cnt; i++) {
			ck_assert_uint_eq(certs[i].len, CERT_LEN[i]);
			ck_assert_int_eq(certs[i].der[0], 0x30);
		}
		free(c);
	}
	/* at most `max` handed out */
	size_t cnt;
	uint32_t fl = 0;
	ck_assert_int_eq(d4_tls_certificate_parse(b.b + 4, b.n - 4, 0, certs, 2, &cnt, &fl), 0);
	ck_assert_uint_eq(cnt, 2);
	ck_assert_uint_eq(fl, D4_TLS_F_CERT_CLIPPED);
}
END_TEST

/* ---- extractor over frames ---- */

struct got {
	int n;
	char json[8][1 << 16];
	struct d4_tls_handshake h[8];
	char ja3[8][512], ja3s[8][128], ja4[8][40], sni[8][64];
	size_t ncert[8], cert_len[8][4];
	int has_client[8], has_server[8];
};

static int on_hs(void *ud, const struct d4_tls_handshake *h)
{
	struct got *g = ud;
	ck_assert_int_lt(g->n, 8);
	int i = g->n++;
	g->h[i] = *h;
	snprintf(g->ja3[i], sizeof(g->ja3[i]), "%s", h->ja3);
	snprintf(g->ja3s[i], sizeof(g->ja3s[i]), "%s", h->ja3s);
	snprintf(g->ja4[i], sizeof(g->ja4[i]), "%s", h->ja4);
	g->sni[i][0] = 0;
	g->has_client[i] = h->client != NULL;
	g->has_server[i] = h->server != NULL;
	if (h->client && h->client->sni)
		snprintf(g->sni[i], sizeof(g->sni[i]), "%.*s", (int)h->client->sni_len, h->client->sni);
	g->ncert[i] = h->n_certs;
	for (size_t k = 0; k < h->n_certs && k < 4; k++)
		g->cert_len[i][k] = h->certs[k].len;
	ck_assert_int_gt(d4_tls_handshake_json(h, g->json[i], sizeof(g->json[i])), 0);
	return 0;
}

/* A raw IPv4 (or IPv6) TCP frame (LINKTYPE_RAW). */
static size_t tcp_frame(uint8_t *f, int v6, int from_client, uint32_t seq, uint8_t flags, const uint8_t *p, size_t n)
{
	size_t ih = v6 ? 40 : 20;
	memset(f, 0, ih + 20);
	if (v6) {
		f[0] = 0x60;
		f[4] = (uint8_t)((20 + n) >> 8);
		f[5] = (uint8_t)(20 + n);
		f[6] = 6;
		f[7] = 64;
		f[8] = 0x20, f[9] = 0x01, f[10] = 0x0d, f[11] = 0xb8;
		f[24] = 0x20, f[25] = 0x01, f[26] = 0x0d, f[27] = 0xb8;
		f[23] = from_client ? 1 : 2;
		f[39] = from_client ? 2 : 1;
	} else {
		f[0] = 0x45;
		f[2] = (uint8_t)((ih + 20 + n) >> 8);
		f[3] = (uint8_t)(ih + 20 + n);
		f[8] = 64;
		f[9] = 6;
		uint8_t c[4] = {192, 0, 2, 1}, s[4] = {198, 51, 100, 7};
		memcpy(f + 12, from_client ? c : s, 4);
		memcpy(f + 16, from_client ? s : c, 4);
	}
	uint8_t *t = f + ih;
	uint16_t cp = 51000, sp = 443;
	uint16_t a = from_client ? cp : sp, b = from_client ? sp : cp;
	t[0] = (uint8_t)(a >> 8), t[1] = (uint8_t)a, t[2] = (uint8_t)(b >> 8), t[3] = (uint8_t)b;
	t[4] = (uint8_t)(seq >> 24), t[5] = (uint8_t)(seq >> 16), t[6] = (uint8_t)(seq >> 8), t[7] = (uint8_t)seq;
	t[12] = 5 << 4;
	t[13] = flags;
	if (n)
		memcpy(t + 20, p, n);
	return ih + 20 + n;
}

#define CISN 0xfffffff0u /* the client's sequence numbers wrap inside its ClientHello */
#define SISN 0x10000000u

struct conv {
	struct d4_tls *t;
	int v6;
	int link; /* 0: raw IP, 1: Ethernet with an 802.1Q tag, 2: Linux SLL2 */
	uint64_t ts;
	uint8_t fr[70000];
	uint8_t lk[70100];
};

static void pkt(struct conv *c, int from_client, uint32_t seq, uint8_t flags, const uint8_t *p, size_t n)
{
	size_t len = tcp_frame(c->fr, c->v6, from_client, seq, flags, p, n);
	c->ts += 1000;
	if (c->link == 0) {
		ck_assert_int_eq(d4_tls_frame(c->t, D4_LINK_RAW, c->ts, c->fr, len), 0);
		return;
	}
	uint16_t et = c->v6 ? 0x86dd : 0x0800;
	size_t h;
	memset(c->lk, 0, 20);
	if (c->link == 1) { /* dst, src, 0x8100, TCI (VLAN 42), ethertype */
		c->lk[12] = 0x81;
		c->lk[15] = 42;
		c->lk[16] = (uint8_t)(et >> 8);
		c->lk[17] = (uint8_t)et;
		h = 18;
	} else { /* SLL2: protocol, reserved, ifindex, hatype, pkttype, addr len, addr[8] */
		c->lk[0] = (uint8_t)(et >> 8);
		c->lk[1] = (uint8_t)et;
		c->lk[9] = 1;
		c->lk[11] = 6;
		h = 20;
	}
	memcpy(c->lk + h, c->fr, len);
	ck_assert_int_eq(
	    d4_tls_frame(c->t, c->link == 1 ? D4_LINK_ETHERNET : D4_LINK_LINUX_SLL2, c->ts, c->lk, h + len), 0);
}

static void syns(struct conv *c)
{
	pkt(c, 1, CISN - 1, 0x02, NULL, 0);
	pkt(c, 0, SISN - 1, 0x12, NULL, 0);
	pkt(c, 1, CISN, 0x10, NULL, 0);
}

/* Sends stream bytes in segments of `mss`. */
static void send_stream(struct conv *c, int from_client, uint32_t isn, size_t at, const uint8_t *p, size_t n,
			size_t mss)
{
	for (size_t o = 0; o < n; o += mss) {
		size_t k = n - o < mss ? n - o : mss;
		pkt(c, from_client, isn + (uint32_t)(at + o), 0x18, p + o, k);
	}
}

static struct got *got_new(void)
{
	return calloc(1, sizeof(struct got));
}

/* The client's first flight: a ClientHello record. */
static void client_flight(struct buf *out, const struct chd *d)
{
	static struct buf m;
	m.n = 0;
	ch_msg(&m, d);
	out->n = 0;
	records(out, 22, m.b, m.n, 16384);
}

START_TEST(packed_records_and_split_message)
{
	/* server flight: ServerHello + Certificate + ServerHelloDone packed in one record */
	struct got *g = got_new();
	struct conv *c = calloc(1, sizeof(*c));
	c->t = d4_tls_new(NULL, on_hs, g);
	c->v6 = _i & 1;
	c->link = _i >> 1; /* raw IPv4, raw IPv6, 802.1Q IPv4, 802.1Q IPv6, SLL2 IPv4, SLL2 IPv6 */
	syns(c);
	static struct buf cf, m, sf;
	struct chd d = ja4_example();
	client_flight(&cf, &d);
	send_stream(c, 1, CISN, 0, cf.b, cf.n, 1460);
	m.n = 0;
	sh_msg(&m, 0x0303, 0xc02f, 0, "h2", 0);
	cert_msg(&m);
	empty_msg(&m, 14);
	sf.n = 0;
	records(&sf, 22, m.b, m.n, 16384);
	ck_assert_int_eq(g->n, 0);
	send_stream(c, 0, SISN, 0, sf.b, sf.n, 1460);
	ck_assert_int_eq(g->n, 1); /* reported once the Certificate is in, before any FIN */
	ck_assert_int_eq(g->h[0].end, D4_TLS_END_DONE);
	ck_assert_str_eq(g->ja4[0], "t13d1516h2_8daaf6152771_e5627efa2ab1");
	ck_assert_str_eq(g->ja3s[0], "771,49199,65281-16-23");
	ck_assert_str_eq(g->sni[0], "www.example.com");
	ck_assert_uint_eq(g->ncert[0], 3);
	for (int k = 0; k < 3; k++)
		ck_assert_uint_eq(g->cert_len[0][k], CERT_LEN[k]);
	ck_assert_uint_eq(g->h[0].client_port, 51000);
	ck_assert_uint_eq(g->h[0].server_port, 443);
	ck_assert_uint_eq(g->h[0].ipver, c->v6 ? 6 : 4);
	ck_assert_uint_eq(g->h[0].flags, 0);
	ck_assert_ptr_nonnull(strstr(g->json[0], "\"sni\":\"www.example.com\""));
	ck_assert_ptr_nonnull(strstr(g->json[0], "\"alpn\":[\"h2\",\"http/1.1\"]"));
	/* the rest of the connection is absorbed, no second report */
	uint8_t appdata[] = {23, 3, 3, 0, 2, 1, 2};
	pkt(c, 1, CISN + (uint32_t)cf.n, 0x18, appdata, sizeof(appdata));
	pkt(c, 1, CISN + (uint32_t)cf.n + 7, 0x11, NULL, 0);
	pkt(c, 0, SISN + (uint32_t)sf.n, 0x11, NULL, 0);
	ck_assert_int_eq(d4_tls_flush(c->t), 0);
	ck_assert_int_eq(g->n, 1);
	struct d4_tls_stats st;
	d4_tls_get_stats(c->t, &st);
	ck_assert_uint_eq(st.handshakes, 1);
	ck_assert_uint_eq(st.flows, 1);
	ck_assert_uint_eq(st.bytes_held, 0);
	ck_assert_uint_eq(st.flows_active, 0);
	d4_tls_free(c->t);

	/* the same server flight with the Certificate message over three records
	 * (and the records cut at odd segment sizes) */
	memset(g, 0, sizeof(*g));
	c->t = d4_tls_new(NULL, on_hs, g);
	syns(c);
	send_stream(c, 1, CISN, 0, cf.b, cf.n, 100);
	sf.n = 0;
	m.n = 0;
	sh_msg(&m, 0x0303, 0xc02f, 0, NULL, 0);
	records(&sf, 22, m.b, m.n, 16384);
	m.n = 0;
	cert_msg(&m);
	records(&sf, 22, m.b, m.n, 1000); /* 2809 bytes: three records */
	send_stream(c, 0, SISN, 0, sf.b, sf.n, 333);
	ck_assert_int_eq(g->n, 1);
	ck_assert_uint_eq(g->ncert[0], 3);
	ck_assert_int_eq(g->h[0].end, D4_TLS_END_DONE);
	d4_tls_free(c->t);
	free(c);
	free(g);
}
END_TEST

START_TEST(client_hello_out_of_order)
{
	/* a ClientHello in three segments delivered 3, 1, 2, with a retransmission
	 * of the first and an overlapping copy of the second */
	struct got *g = got_new();
	struct conv *c = calloc(1, sizeof(*c));
	c->t = d4_tls_new(NULL, on_hs, g);
	syns(c);
	static struct buf cf;
	struct chd d = ja4_example();
	client_flight(&cf, &d);
	size_t a = cf.n / 3, b = 2 * cf.n / 3;
	pkt(c, 1, CISN + (uint32_t)b, 0x18, cf.b + b, cf.n - b);
	pkt(c, 1, CISN, 0x18, cf.b, a);
	pkt(c, 1, CISN, 0x18, cf.b, a); /* retransmission: a bytes */
	ck_assert_int_eq(g->n, 0);
	pkt(c, 1, CISN + (uint32_t)a - 10, 0x18, cf.b + a - 10, b - a + 20); /* overlaps both sides by 10 */
	struct d4_tls_stats st;
	d4_tls_get_stats(c->t, &st);
	ck_assert_uint_eq(st.ooo_segments, 1);
	ck_assert_uint_eq(st.retrans_bytes, a + 10 + 10);
	/* the server answers TLS 1.3: the hellos are all there is */
	static struct buf m, sf;
	m.n = 0;
	sh_msg(&m, 0x0303, 0x1301, 0x0304, NULL, 1);
	sf.n = 0;
	records(&sf, 22, m.b, m.n, 16384);
	uint8_t ccs[] = {20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 3, 9, 9, 9};
	memcpy(sf.b + sf.n, ccs, sizeof(ccs));
	sf.n += sizeof(ccs);
	send_stream(c, 0, SISN, 0, sf.b, sf.n, 1460);
	ck_assert_int_eq(g->n, 1);
	ck_assert_str_eq(g->ja4[0], "t13d1516h2_8daaf6152771_e5627efa2ab1");
	ck_assert_str_eq(g->ja3s[0], "771,4865,65281-43-23");
	ck_assert_uint_eq(g->h[0].flags, D4_TLS_F_TLS13);
	ck_assert_uint_eq(g->ncert[0], 0);
	ck_assert_int_eq(g->has_server[0], 1);
	d4_tls_get_stats(c->t, &st);
	ck_assert_uint_eq(st.bytes_held, 0);
	d4_tls_free(c->t);
	free(c);
	free(g);
}
END_TEST

START_TEST(truncated_chain)
{
	/* the capture ends in the middle of the second certificate */
	struct got *g = got_new();
	struct conv *c = calloc(1, sizeof(*c));
	c->t = d4_tls_new(NULL, on_hs, g);
	syns(c);
	static struct buf cf, m, sf;
	struct chd d = ja4_example();
	client_flight(&cf, &d);
	send_stream(c, 1, CISN, 0, cf.b, cf.n, 1460);
	m.n = 0;
	sh_msg(&m, 0x0303, 0xc02f, 0, NULL, 0);
	cert_msg(&m);
	sf.n = 0;
	records(&sf, 22, m.b, m.n, 16384);
	size_t cut = sf.n - CERT_LEN[2] - 3 - 200;
	send_stream(c, 0, SISN, 0, sf.b, cut, 1460);
	ck_assert_int_eq(g->n, 0);
	ck_assert_int_eq(d4_tls_flush(c->t), 0);
	ck_assert_int_eq(g->n, 1);
	ck_assert_int_eq(g->h[0].end, D4_TLS_END_FLUSH);
	ck_assert_uint_eq(g->ncert[0], 1);
	ck_assert_uint_eq(g->cert_len[0][0], CERT_LEN[0]);
	ck_assert_uint_eq(g->h[0].flags, D4_TLS_F_CERT_TRUNC);
	ck_assert_ptr_nonnull(strstr(g->json[0], "\"cert_truncated\""));
	struct d4_tls_stats st;
	d4_tls_get_stats(c->t, &st);
	ck_assert_uint_eq(st.cert_errors, 1);
	d4_tls_free(c->t);

	/* the same chain over the per-direction limit: cut there, reported at once */
	memset(g, 0, sizeof(*g));
	struct d4_tls_config cfg = {.max_dir_bytes = 2000}; /* SH + 1.5 certificates */
	c->t = d4_tls_new(&cfg, on_hs, g);
	syns(c);
	send_stream(c, 1, CISN, 0, cf.b, cf.n, 1460);
	send_stream(c, 0, SISN, 0, sf.b, sf.n, 1460);
	ck_assert_int_eq(g->n, 1);
	ck_assert_int_eq(g->h[0].end, D4_TLS_END_LIMIT);
	ck_assert_uint_eq(g->ncert[0], 1);
	ck_assert_uint_eq(g->h[0].flags, D4_TLS_F_CERT_TRUNC | D4_TLS_F_GAP);
	d4_tls_get_stats(c->t, &st);
	ck_assert_uint_eq(st.dir_limit, 1);
	d4_tls_free(c->t);
	free(c);
	free(g);
}
END_TEST

START_TEST(midstream_and_not_tls)
{
	struct got *g = got_new();
	struct conv *c = calloc(1, sizeof(*c));
	c->t = d4_tls_new(NULL, on_hs, g);
	static struct buf cf, m, sf;
	struct chd d = ja4_example();
	client_flight(&cf, &d);
	/* no SYN seen: the first payload starts a ClientHello record: accepted */
	send_stream(c, 1, 5000, 0, cf.b, cf.n, 1460);
	m.n = 0;
	sh_msg(&m, 0x0303, 0x1302, 0x0304, NULL, 0);
	sf.n = 0;
	records(&sf, 22, m.b, m.n, 16384);
	send_stream(c, 0, 9000, 0, sf.b, sf.n, 1460);
	ck_assert_int_eq(g->n, 1);
	ck_assert_uint_eq(g->h[0].flags, D4_TLS_F_NO_SYN | D4_TLS_F_TLS13);
	/* a connection picked up mid-stream on application data: not TLS, nothing reported */
	c->v6 = 1;
	uint8_t junk[100];
	memset(junk, 'x', sizeof(junk));
	pkt(c, 1, 777, 0x18, junk, sizeof(junk));
	pkt(c, 0, 999, 0x18, junk, sizeof(junk));
	/* and one with application data records in the middle of a stream */
	ck_assert_int_eq(d4_tls_flush(c->t), 0);
	c->v6 = 0;
	uint8_t ad[] = {23, 3, 3, 0, 2, 0, 0};
	pkt(c, 1, 123456, 0x18, ad, sizeof(ad));
	ck_assert_int_eq(d4_tls_flush(c->t), 0);
	ck_assert_int_eq(g->n, 1);
	struct d4_tls_stats st;
	d4_tls_get_stats(c->t, &st);
	ck_assert_uint_eq(st.not_tls, 2);
	ck_assert_uint_eq(st.flows_no_syn, 2 + 1);
	d4_tls_free(c->t);
	free(c);
	free(g);
}
END_TEST

START_TEST(limits_and_expiry)
{
	struct got *g = got_new();
	struct conv *c = calloc(1, sizeof(*c));
	struct d4_tls_config cfg = {.max_flows = 2, .max_segments = 3, .idle_s = 5};
	c->t = d4_tls_new(&cfg, on_hs, g);
	static struct buf cf;
	struct chd d = ja4_example();
	client_flight(&cf, &d);
	/* flow 1: a ClientHello, no answer; idle expiry reports it */
	syns(c);
	send_stream(c, 1, CISN, 0, cf.b, cf.n, 1460);
	ck_assert_int_eq(g->n, 0);
	c->ts += 6000000;
	ck_assert_int_eq(d4_tls_expire(c->t, c->ts), 0);
	ck_assert_int_eq(g->n, 1);
	ck_assert_int_eq(g->h[0].end, D4_TLS_END_IDLE);
	ck_assert_int_eq(g->has_server[0], 0);
	ck_assert_str_eq(g->ja3s[0], "");
	ck_assert_ptr_nonnull(strstr(g->json[0], "\"end\":\"idle\""));
	/* four segments ahead of a hole: the fourth is over max_segments */
	syns(c);
	for (int k = 0; k < 4; k++)
		pkt(c, 1, CISN + 100 + 10 * (uint32_t)k, 0x18, cf.b + 100 + 10 * k, 5);
	struct d4_tls_stats st;
	d4_tls_get_stats(c->t, &st);
	ck_assert_uint_eq(st.seg_limit, 1);
	ck_assert_uint_eq(st.ooo_segments, 3);
	/* max_flows 2: a third flow evicts the least recently active */
	c->v6 = 1;
	syns(c);
	d4_tls_get_stats(c->t, &st);
	ck_assert_uint_eq(st.flows_active, 2);
	ck_assert_uint_eq(st.flows_evicted, 0);
	pkt(c, 1, 1, 0x02, NULL, 0); /* same endpoints, new ISN: a new connection replaces it */
	c->v6 = 0;
	uint8_t one = 0;
	struct conv c2 = *c;
	(void)c2;
	/* a flow on another port */
	size_t len = tcp_frame(c->fr, 0, 1, 42, 0x02, &one, 0);
	c->fr[20] = 0x22; /* source port 0x22c8 */
	ck_assert_int_eq(d4_tls_frame(c->t, D4_LINK_RAW, c->ts, c->fr, len), 0);
	d4_tls_get_stats(c->t, &st);
	ck_assert_uint_eq(st.flows_evicted, 1);
	ck_assert_uint_eq(st.flows_active, 2);
	ck_assert_int_eq(d4_tls_flush(c->t), 0);
	d4_tls_get_stats(c->t, &st);
	ck_assert_uint_eq(st.flows_active, 0);
	ck_assert_uint_eq(st.bytes_held, 0);
	ck_assert_uint_eq(st.flows_idle, 1);
	d4_tls_free(c->t);

	/* max_bytes: a second flow holding bytes evicts the first (reported: it has its ClientHello) */
	memset(g, 0, sizeof(*g));
	struct d4_tls_config mc = {.max_bytes = 3000};
	c->t = d4_tls_new(&mc, on_hs, g);
	c->v6 = 0;
	syns(c);
	send_stream(c, 1, CISN, 0, cf.b, cf.n, 1460);
	d4_tls_get_stats(c->t, &st);
	ck_assert_uint_gt(st.bytes_held, 0);
	c->v6 = 1;
	syns(c);
	send_stream(c, 1, CISN, 0, cf.b, cf.n, 1460);
	d4_tls_get_stats(c->t, &st);
	ck_assert_uint_eq(st.flows_mem_evicted, 1);
	ck_assert_int_eq(g->n, 1);
	ck_assert_int_eq(g->h[0].end, D4_TLS_END_EVICTED);
	ck_assert_uint_eq(g->h[0].ipver, 4);
	ck_assert_uint_le(st.bytes_held, 3000);
	d4_tls_free(c->t);

	/* TCP Fast Open: the ClientHello rides on the SYN */
	memset(g, 0, sizeof(*g));
	c->t = d4_tls_new(NULL, on_hs, g);
	c->v6 = 0;
	pkt(c, 1, CISN - 1, 0x02, cf.b, cf.n);
	pkt(c, 0, SISN - 1, 0x12, NULL, 0);
	ck_assert_int_eq(d4_tls_flush(c->t), 0);
	ck_assert_int_eq(g->n, 1);
	ck_assert_str_eq(g->ja4[0], "t13d1516h2_8daaf6152771_e5627efa2ab1");
	d4_tls_free(c->t);
	free(c);
	free(g);
}
END_TEST

START_TEST(snaplen_and_fragments)
{
	/* a ClientHello segment cut by the capture's snap length: a gap, nothing
	 * reported; an IP fragment: not reassembled, counted */
	struct got *g = got_new();
	struct conv *c = calloc(1, sizeof(*c));
	c->t = d4_tls_new(NULL, on_hs, g);
	syns(c);
	static struct buf cf;
	struct chd d = ja4_example();
	client_flight(&cf, &d);
	size_t len = tcp_frame(c->fr, 0, 1, CISN, 0x18, cf.b, cf.n);
	ck_assert_int_eq(d4_tls_frame(c->t, D4_LINK_RAW, 2000, c->fr, len - 50), 0);
	struct d4_tls_stats st;
	d4_tls_get_stats(c->t, &st);
	ck_assert_uint_eq(st.gaps, 1);
	len = tcp_frame(c->fr, 0, 0, SISN, 0x18, cf.b, 100);
	c->fr[6] = 0x20; /* more fragments */
	ck_assert_int_eq(d4_tls_frame(c->t, D4_LINK_RAW, 3000, c->fr, len), 0);
	d4_tls_get_stats(c->t, &st);
	ck_assert_uint_eq(st.not_tcp, 1);
	ck_assert_int_eq(d4_tls_flush(c->t), 0);
	ck_assert_int_eq(g->n, 0);
	d4_tls_get_stats(c->t, &st);
	ck_assert_uint_eq(st.handshakes, 0);
	ck_assert_uint_eq(st.bytes_held, 0);
	d4_tls_free(c->t);
	free(c);
	free(g);
}
END_TEST

START_TEST(resumption_hrr_duplicates_escaping)
{
	static const uint8_t hrr[32] = {0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c,
					0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb,
					0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};
	struct got *g = got_new();
	struct conv *c = calloc(1, sizeof(*c));
	static struct buf cf, m, sf;
	struct chd d = ja4_example();
	d.sni = "a\"b\\c\x01\xff.example"; /* bytes a JSON string must escape */
	client_flight(&cf, &d);
	uint8_t ccs[] = {20, 3, 3, 0, 1, 1};

	/* 1. an abbreviated (resumed) TLS 1.2 handshake: ServerHello then
	 * ChangeCipherSpec, no certificate; the ClientHello retransmitted whole
	 * before the answer, both flights after the report: one report */
	c->t = d4_tls_new(NULL, on_hs, g);
	syns(c);
	send_stream(c, 1, CISN, 0, cf.b, cf.n, 1460);
	send_stream(c, 1, CISN, 0, cf.b, cf.n, 1460);
	m.n = 0;
	sh_msg(&m, 0x0303, 0xc02f, 0, NULL, 0);
	sf.n = 0;
	records(&sf, 22, m.b, m.n, 16384);
	memcpy(sf.b + sf.n, ccs, sizeof(ccs));
	sf.n += sizeof(ccs);
	send_stream(c, 0, SISN, 0, sf.b, sf.n, 1460);
	ck_assert_int_eq(g->n, 1);
	send_stream(c, 1, CISN, 0, cf.b, cf.n, 1460);
	send_stream(c, 0, SISN, 0, sf.b, sf.n, 1460);
	ck_assert_int_eq(d4_tls_flush(c->t), 0);
	ck_assert_int_eq(g->n, 1);
	ck_assert_uint_eq(g->ncert[0], 0);
	ck_assert_uint_eq(g->h[0].flags, 0);
	ck_assert_int_eq(g->h[0].end, D4_TLS_END_DONE);
	struct d4_tls_stats st;
	d4_tls_get_stats(c->t, &st);
	ck_assert_uint_eq(st.retrans_bytes, 0); /* a finished direction's bytes are not looked at */
	ck_assert_uint_eq(st.handshakes, 1);
	/* the SNI as JSON: quote and backslash escaped, other bytes as \u00XX */
	ck_assert_ptr_nonnull(strstr(g->json[0], "\"sni\":\"a\\\"b\\\\c\\u0001\\u00ff.example\""));
	d4_tls_free(c->t);

	/* 2. a HelloRetryRequest: reported at once with the first ClientHello */
	memset(g, 0, sizeof(*g));
	c->t = d4_tls_new(NULL, on_hs, g);
	syns(c);
	send_stream(c, 1, CISN, 0, cf.b, cf.n, 1460);
	m.n = 0;
	sh_msg(&m, 0x0303, 0x1301, 0x0304, NULL, 0);
	memcpy(m.b + 6, hrr, 32);
	sf.n = 0;
	records(&sf, 22, m.b, m.n, 16384);
	send_stream(c, 0, SISN, 0, sf.b, sf.n, 1460);
	ck_assert_int_eq(g->n, 1);
	ck_assert_uint_eq(g->h[0].flags, D4_TLS_F_HRR | D4_TLS_F_TLS13);
	ck_assert_ptr_nonnull(strstr(g->json[0], "\"flags\":[\"hrr\",\"tls13\"]"));
	/* the second ClientHello changes nothing */
	send_stream(c, 1, CISN, (uint32_t)cf.n, cf.b, cf.n, 1460);
	ck_assert_int_eq(d4_tls_flush(c->t), 0);
	ck_assert_int_eq(g->n, 1);
	d4_tls_free(c->t);
	free(c);
	free(g);
}
END_TEST

static Suite *tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, ja3_vectors);
	tcase_add_test(tc, ja4_vectors);
	tcase_add_test(tc, parsers_truncated);
	tcase_add_loop_test(tc, packed_records_and_split_message, 0, 6);
	tcase_add_test(tc, client_hello_out_of_order);
	tcase_add_test(tc, truncated_chain);
	tcase_add_test(tc, midstream_and_not_tls);
	tcase_add_test(tc, limits_and_expiry);
	tcase_add_test(tc, snaplen_and_fragments);
	tcase_add_test(tc, resumption_hrr_duplicates_escaping);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tls_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
