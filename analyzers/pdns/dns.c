/* DNS message parser: answers of NOERROR responses become observations with
 * their rdata in presentation format. Names are decompressed with backward
 * pointers only (each hop strictly before the previous segment, so no loop
 * can exist) and the 255-byte wire limit; every rdata parser must consume
 * exactly rdlength or the record falls back to RFC 3597 generic form. */
#include "d4_pdns.h"

#include <string.h>
#include <time.h>

#include "d4_error.h"
#include "pdns_internal.h"

#define WIRE_MAX  255
#define MAX_HOPS  64
#define MAX_ZONES 8

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Reads the (possibly compressed) name at *off of msg[0..n) into wire[]
 * (uncompressed, ASCII lower-cased, ending with the root label). On success
 * *off is just past the name's in-place part. */
static int name_read(const uint8_t *msg, size_t n, size_t *off, uint8_t wire[WIRE_MAX], size_t *wlen)
{
	size_t pos = *off, end = 0, wl = 0, seg = *off;
	int jumped = 0, hops = 0;
	for (;;) {
		if (pos >= n)
			return D4_ETRUNC;
		uint8_t c = msg[pos];
		if (c == 0) {
			wire[wl++] = 0;
			if (!jumped)
				end = pos + 1;
			break;
		}
		if ((c & 0xc0) == 0xc0) {
			if (pos + 1 >= n)
				return D4_ETRUNC;
			size_t ptr = ((size_t)(c & 0x3f) << 8) | msg[pos + 1];
			if (!jumped)
				end = pos + 2;
			if (ptr >= seg || ++hops > MAX_HOPS)
				return D4_EPROTO;
			seg = pos = ptr;
			jumped = 1;
			continue;
		}
		if (c & 0xc0)
			return D4_EPROTO; /* extended label types (0x40, 0x80) are obsolete */
		if ((size_t)c + 1 > n - pos)
			return D4_ETRUNC;
		if (wl + 1 + c + 1 > WIRE_MAX)
			return D4_EPROTO;
		wire[wl++] = c;
		for (size_t i = 1; i <= c; i++) {
			uint8_t b = msg[pos + i];
			wire[wl++] = (b >= 'A' && b <= 'Z') ? (uint8_t)(b + 32) : b;
		}
		pos += 1 + (size_t)c;
	}
	*off = end;
	*wlen = wl;
	return 0;
}

/* ---- output writer: bounded, sticky overflow ---- */

struct wr {
	char *b;
	size_t cap; /* including the NUL */
	size_t len;
	int over;
};

static void w_mem(struct wr *w, const char *s, size_t k)
{
	if (w->over || k > w->cap - 1 - w->len) {
		w->over = 1;
		return;
	}
	memcpy(w->b + w->len, s, k);
	w->len += k;
}

static void w_ch(struct wr *w, char c)
{
	w_mem(w, &c, 1);
}

static void w_str(struct wr *w, const char *s)
{
	w_mem(w, s, strlen(s));
}

static void w_u(struct wr *w, uint64_t v)
{
	char t[24];
	size_t i = sizeof(t);
	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	w_mem(w, t + i, sizeof(t) - i);
}

static void w_ddd(struct wr *w, uint8_t b)
{
	char t[4] = {'\\', (char)('0' + b / 100), (char)('0' + b / 10 % 10), (char)('0' + b % 10)};
	w_mem(w, t, 4);
}

static void w_hex(struct wr *w, const uint8_t *p, size_t k)
{
	static const char hx[] = "0123456789ABCDEF";
	for (size_t i = 0; i < k && !w->over; i++) {
		char t[2] = {hx[p[i] >> 4], hx[p[i] & 15]};
		w_mem(w, t, 2);
	}
}

static void w_b64(struct wr *w, const uint8_t *p, size_t k)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < k && !w->over; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < k)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < k)
			v |= p[i + 2];
		char t[4] = {al[v >> 18], al[(v >> 12) & 63], i + 1 < k ? al[(v >> 6) & 63] : '=',
			     i + 2 < k ? al[v & 63] : '='};
		w_mem(w, t, 4);
	}
}

/* base32hex without padding (RFC 4648 §7), as NSEC3 owner hashes are written. */
static void w_b32hex(struct wr *w, const uint8_t *p, size_t k)
{
	static const char al[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < k && !w->over; i++) {
		acc = (acc << 8) | p[i];
		bits += 8;
		while (bits >= 5) {
			w_ch(w, al[(acc >> (bits - 5)) & 31]);
			bits -= 5;
		}
	}
	if (bits > 0)
		w_ch(w, al[(acc << (5 - bits)) & 31]);
}

/* Presentation of an uncompressed wire name (RFC 1035 §5.1 escaping). */
static void w_name(struct wr *w, const uint8_t *wire)
{
	size_t i = 0;
	if (wire[0] == 0) {
		w_ch(w, '.');
		return;
	}
	while (wire[i] != 0 && !w->over) {
		uint8_t l = wire[i++];
		for (uint8_t j = 0; j < l; j++, i++) {
			uint8_t b = wire[i];
			if (b <= 0x20 || b >= 0x7f)
				w_ddd(w, b);
			else if (b == '.' || b == '\\' || b == '"' || b == '(' || b == ')' || b == ';' || b == '@' ||
				 b == '$') {
				w_ch(w, '\\');
				w_ch(w, (char)b);
			} else
				w_ch(w, (char)b);
		}
		w_ch(w, '.');
	}
}

/* Bytes of a quoted string: \" and \\ escaped, non-printables as \DDD,
 * everything else verbatim. `svc` also escapes ',' for SVCB value lists. */
static void w_quoted_body(struct wr *w, const uint8_t *p, size_t k, int svc)
{
	for (size_t i = 0; i < k && !w->over; i++) {
		uint8_t b = p[i];
		if (svc && (b == ',' || b == '\\')) {
			w_str(w, b == ',' ? "\\\\," : "\\\\\\\\");
		} else if (b < 0x20 || b >= 0x7f)
			w_ddd(w, b);
		else if (b == '"' || b == '\\') {
			w_ch(w, '\\');
			w_ch(w, (char)b);
		} else
			w_ch(w, (char)b);
	}
}

static void w_quoted(struct wr *w, const uint8_t *p, size_t k)
{
	w_ch(w, '"');
	w_quoted_body(w, p, k, 0);
	w_ch(w, '"');
}

static const struct {
	uint16_t t;
	const char *s;
} type_names[] = {
    {1, "A"},	    {2, "NS"},	   {3, "MD"},	    {4, "MF"},		{5, "CNAME"},	  {6, "SOA"},
    {7, "MB"},	    {8, "MG"},	   {9, "MR"},	    {10, "NULL"},	{11, "WKS"},	  {12, "PTR"},
    {13, "HINFO"},  {14, "MINFO"}, {15, "MX"},	    {16, "TXT"},	{17, "RP"},	  {18, "AFSDB"},
    {19, "X25"},    {20, "ISDN"},  {21, "RT"},	    {22, "NSAP"},	{23, "NSAP-PTR"}, {24, "SIG"},
    {25, "KEY"},    {26, "PX"},	   {27, "GPOS"},    {28, "AAAA"},	{29, "LOC"},	  {30, "NXT"},
    {33, "SRV"},    {35, "NAPTR"}, {36, "KX"},	    {37, "CERT"},	{39, "DNAME"},	  {41, "OPT"},
    {42, "APL"},    {43, "DS"},	   {44, "SSHFP"},   {45, "IPSECKEY"},	{46, "RRSIG"},	  {47, "NSEC"},
    {48, "DNSKEY"}, {49, "DHCID"}, {50, "NSEC3"},   {51, "NSEC3PARAM"}, {52, "TLSA"},	  {53, "SMIMEA"},
    {55, "HIP"},    {59, "CDS"},   {60, "CDNSKEY"}, {61, "OPENPGPKEY"}, {62, "CSYNC"},	  {63, "ZONEMD"},
    {64, "SVCB"},   {65, "HTTPS"}, {99, "SPF"},	    {108, "EUI48"},	{109, "EUI64"},	  {249, "TKEY"},
    {250, "TSIG"},  {251, "IXFR"}, {252, "AXFR"},   {255, "ANY"},	{256, "URI"},	  {257, "CAA"},
};

static void w_type(struct wr *w, uint16_t t)
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (type_names[i].t == t) {
			w_str(w, type_names[i].s);
			return;
		}
	w_str(w, "TYPE");
	w_u(w, t);
}

/* ---- rdata ---- */

struct rd {
	const uint8_t *msg;
	size_t n;   /* message length: compression pointers may point anywhere before */
	size_t off; /* cursor */
	size_t end; /* end of rdata */
	int bad;
};

static int rd_need(struct rd *r, size_t k)
{
	if (r->bad || k > r->end - r->off) {
		r->bad = 1;
		return 0;
	}
	return 1;
}

static uint8_t rd_u8(struct rd *r)
{
	return rd_need(r, 1) ? r->msg[r->off++] : 0;
}

static uint16_t rd_u16(struct rd *r)
{
	if (!rd_need(r, 2))
		return 0;
	r->off += 2;
	return be16(r->msg + r->off - 2);
}

static uint32_t rd_u32(struct rd *r)
{
	if (!rd_need(r, 4))
		return 0;
	r->off += 4;
	return be32(r->msg + r->off - 4);
}

static void p_u8(struct rd *r, struct wr *w)
{
	w_u(w, rd_u8(r));
}

static void p_u16(struct rd *r, struct wr *w)
{
	w_u(w, rd_u16(r));
}

static void p_u32(struct rd *r, struct wr *w)
{
	w_u(w, rd_u32(r));
}

static void p_name(struct rd *r, struct wr *w)
{
	uint8_t wire[WIRE_MAX];
	size_t wl, off = r->off;
	if (r->bad)
		return;
	/* The name must lie inside the rdata; pointers may reach earlier data. */
	if (name_read(r->msg, r->end, &off, wire, &wl) != 0) {
		r->bad = 1;
		return;
	}
	r->off = off;
	w_name(w, wire);
}

static void p_cstr(struct rd *r, struct wr *w)
{
	uint8_t l = rd_u8(r);
	if (!rd_need(r, l))
		return;
	w_quoted(w, r->msg + r->off, l);
	r->off += l;
}

static size_t rd_rest(const struct rd *r)
{
	return r->bad ? 0 : r->end - r->off;
}

/* Rest of the rdata as hex (at least one byte). */
static void p_hex_rest(struct rd *r, struct wr *w)
{
	size_t k = rd_rest(r);
	if (k == 0) {
		r->bad = 1;
		return;
	}
	w_hex(w, r->msg + r->off, k);
	r->off += k;
}

static void p_b64_rest(struct rd *r, struct wr *w)
{
	size_t k = rd_rest(r);
	if (k == 0) {
		r->bad = 1;
		return;
	}
	w_b64(w, r->msg + r->off, k);
	r->off += k;
}

static void p_time(struct rd *r, struct wr *w)
{
	time_t t = (time_t)rd_u32(r);
	struct tm tm;
	char buf[32];
	if (r->bad || !gmtime_r(&t, &tm)) {
		r->bad = 1;
		return;
	}
	strftime(buf, sizeof(buf), "%Y%m%d%H%M%S", &tm);
	w_str(w, buf);
}

/* NSEC/NSEC3 type bitmap: windows ascending, 1..32 bytes each. */
static void p_bitmap(struct rd *r, struct wr *w)
{
	int last = -1;
	while (!r->bad && r->off < r->end) {
		uint8_t win = rd_u8(r), len = rd_u8(r);
		if (r->bad || (int)win <= last || len == 0 || len > 32 || !rd_need(r, len)) {
			r->bad = 1;
			return;
		}
		last = win;
		for (unsigned i = 0; i < len; i++)
			for (unsigned b = 0; b < 8; b++)
				if (r->msg[r->off + i] & (0x80 >> b)) {
					w_ch(w, ' ');
					w_type(w, (uint16_t)(win * 256 + i * 8 + b));
				}
		r->off += len;
	}
}

static void p_ipv4(struct rd *r, struct wr *w)
{
	if (!rd_need(r, 4))
		return;
	for (int i = 0; i < 4; i++) {
		if (i)
			w_ch(w, '.');
		w_u(w, r->msg[r->off + i]);
	}
	r->off += 4;
}

/* RFC 5952 text: longest run (>= 2) of zero groups compressed, first on ties. */
static void p_ipv6(struct rd *r, struct wr *w)
{
	if (!rd_need(r, 16))
		return;
	uint16_t g[8];
	for (int i = 0; i < 8; i++)
		g[i] = be16(r->msg + r->off + 2 * i);
	r->off += 16;
	int bs = -1, bl = 0;
	for (int i = 0; i < 8;) {
		if (g[i]) {
			i++;
			continue;
		}
		int j = i;
		while (j < 8 && !g[j])
			j++;
		if (j - i > bl && j - i >= 2) {
			bs = i;
			bl = j - i;
		}
		i = j;
	}
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < 8; i++) {
		if (i == bs) {
			w_str(w, "::");
			i += bl - 1;
			continue;
		}
		if (i && i != bs + bl)
			w_ch(w, ':');
		char t[4];
		int k = 0, started = 0;
		for (int s = 12; s >= 0; s -= 4) {
			int d = (g[i] >> s) & 15;
			if (d || started || s == 0) {
				t[k++] = hx[d];
				started = 1;
			}
		}
		w_mem(w, t, (size_t)k);
	}
}

static const char *svc_key_name(uint16_t k)
{
	static const char *names[] = {"mandatory", "alpn", "no-default-alpn", "port",
				      "ipv4hint",  "ech",  "ipv6hint",	      "dohpath"};
	return k < sizeof(names) / sizeof(names[0]) ? names[k] : NULL;
}

static void w_svc_key(struct wr *w, uint16_t k)
{
	const char *s = svc_key_name(k);
	if (s)
		w_str(w, s);
	else {
		w_str(w, "key");
		w_u(w, k);
	}
}

/* SVCB/HTTPS (RFC 9460 §2.1 presentation); any malformed SvcParam makes the
 * whole record fall back to the generic form. */
static void p_svcb(struct rd *r, struct wr *w)
{
	p_u16(r, w);
	w_ch(w, ' ');
	p_name(r, w);
	int last = -1;
	while (!r->bad && r->off < r->end) {
		uint16_t key = rd_u16(r), len = rd_u16(r);
		if (r->bad || (int)key <= last || !rd_need(r, len)) {
			r->bad = 1;
			return;
		}
		last = key;
		const uint8_t *v = r->msg + r->off;
		r->off += len;
		w_ch(w, ' ');
		w_svc_key(w, key);
		switch (key) {
		case 0: /* mandatory */
			if (len == 0 || len % 2) {
				r->bad = 1;
				return;
			}
			w_ch(w, '=');
			for (size_t i = 0; i < len; i += 2) {
				if (i)
					w_ch(w, ',');
				w_svc_key(w, be16(v + i));
			}
			break;
		case 1: /* alpn: a list of non-empty character-strings */
			if (len == 0) {
				r->bad = 1;
				return;
			}
			w_str(w, "=\"");
			for (size_t i = 0; i < len;) {
				uint8_t l = v[i];
				if (l == 0 || l > len - i - 1) {
					r->bad = 1;
					return;
				}
				if (i)
					w_ch(w, ',');
				w_quoted_body(w, v + i + 1, l, 1);
				i += 1 + (size_t)l;
			}
			w_ch(w, '"');
			break;
		case 2: /* no-default-alpn */
			if (len != 0) {
				r->bad = 1;
				return;
			}
			break;
		case 3:
			if (len != 2) {
				r->bad = 1;
				return;
			}
			w_ch(w, '=');
			w_u(w, be16(v));
			break;
		case 4:
		case 6: {
			size_t al = key == 4 ? 4 : 16;
			if (len == 0 || len % al) {
				r->bad = 1;
				return;
			}
			w_ch(w, '=');
			struct rd sub = {v, len, 0, len, 0};
			for (size_t i = 0; i < len; i += al) {
				if (i)
					w_ch(w, ',');
				if (al == 4)
					p_ipv4(&sub, w);
				else
					p_ipv6(&sub, w);
			}
			break;
		}
		case 5: /* ech */
			if (len == 0) {
				r->bad = 1;
				return;
			}
			w_ch(w, '=');
			w_b64(w, v, len);
			break;
		default:
			if (len) {
				w_str(w, "=\"");
				w_quoted_body(w, v, len, 0);
				w_ch(w, '"');
			}
			break;
		}
	}
}

/* Writes the type-specific presentation; returns 0, or -1 if the rdata does
 * not parse as its type (or is not of a type presented specifically). */
static int rdata_typed(const uint8_t *msg, size_t n, size_t rdoff, size_t rdlen, uint16_t type, struct wr *w)
{
	struct rd r = {msg, n, rdoff, rdoff + rdlen, 0};
	struct rd *R = &r;
	switch (type) {
	case 1: p_ipv4(R, w); break;
	case 28: p_ipv6(R, w); break;
	case 2:	 /* NS */
	case 3:	 /* MD */
	case 4:	 /* MF */
	case 5:	 /* CNAME */
	case 7:	 /* MB */
	case 8:	 /* MG */
	case 9:	 /* MR */
	case 12: /* PTR */
	case 39: /* DNAME */ p_name(R, w); break;
	case 14: /* MINFO */
	case 17: /* RP */
		p_name(R, w);
		w_ch(w, ' ');
		p_name(R, w);
		break;
	case 6: /* SOA */
		p_name(R, w);
		w_ch(w, ' ');
		p_name(R, w);
		for (int i = 0; i < 5; i++) {
			w_ch(w, ' ');
			p_u32(R, w);
		}
		break;
	case 15: /* MX */
	case 18: /* AFSDB */
	case 21: /* RT */
	case 36: /* KX */
		p_u16(R, w);
		w_ch(w, ' ');
		p_name(R, w);
		break;
	case 13: /* HINFO */
		p_cstr(R, w);
		w_ch(w, ' ');
		p_cstr(R, w);
		break;
	case 16: /* TXT */
	case 99: /* SPF */
		if (rdlen == 0)
			return -1;
		while (!r.bad && r.off < r.end) {
			if (r.off > rdoff)
				w_ch(w, ' ');
			p_cstr(R, w);
		}
		break;
	case 33: /* SRV */
		for (int i = 0; i < 3; i++) {
			p_u16(R, w);
			w_ch(w, ' ');
		}
		p_name(R, w);
		break;
	case 35: /* NAPTR */
		p_u16(R, w);
		w_ch(w, ' ');
		p_u16(R, w);
		for (int i = 0; i < 3; i++) {
			w_ch(w, ' ');
			p_cstr(R, w);
		}
		w_ch(w, ' ');
		p_name(R, w);
		break;
	case 43: /* DS */
	case 59: /* CDS */
		p_u16(R, w);
		w_ch(w, ' ');
		p_u8(R, w);
		w_ch(w, ' ');
		p_u8(R, w);
		w_ch(w, ' ');
		p_hex_rest(R, w);
		break;
	case 44: /* SSHFP */
		p_u8(R, w);
		w_ch(w, ' ');
		p_u8(R, w);
		w_ch(w, ' ');
		p_hex_rest(R, w);
		break;
	case 52: /* TLSA */
	case 53: /* SMIMEA */
		p_u8(R, w);
		w_ch(w, ' ');
		p_u8(R, w);
		w_ch(w, ' ');
		p_u8(R, w);
		w_ch(w, ' ');
		p_hex_rest(R, w);
		break;
	case 24: /* SIG */
	case 46: /* RRSIG */
		w_type(w, rd_u16(R));
		w_ch(w, ' ');
		p_u8(R, w);
		w_ch(w, ' ');
		p_u8(R, w);
		w_ch(w, ' ');
		p_u32(R, w);
		w_ch(w, ' ');
		p_time(R, w);
		w_ch(w, ' ');
		p_time(R, w);
		w_ch(w, ' ');
		p_u16(R, w);
		w_ch(w, ' ');
		p_name(R, w);
		w_ch(w, ' ');
		p_b64_rest(R, w);
		break;
	case 47: /* NSEC */
		p_name(R, w);
		p_bitmap(R, w);
		break;
	case 25: /* KEY */
	case 48: /* DNSKEY */
	case 60: /* CDNSKEY */
		p_u16(R, w);
		w_ch(w, ' ');
		p_u8(R, w);
		w_ch(w, ' ');
		p_u8(R, w);
		w_ch(w, ' ');
		p_b64_rest(R, w);
		break;
	case 50:   /* NSEC3 */
	case 51: { /* NSEC3PARAM */
		p_u8(R, w);
		w_ch(w, ' ');
		p_u8(R, w);
		w_ch(w, ' ');
		p_u16(R, w);
		w_ch(w, ' ');
		uint8_t sl = rd_u8(R);
		if (!rd_need(R, sl))
			break;
		if (sl == 0)
			w_ch(w, '-');
		else
			w_hex(w, msg + r.off, sl);
		r.off += sl;
		if (type == 51)
			break;
		uint8_t hl = rd_u8(R);
		if (hl == 0 || !rd_need(R, hl)) {
			r.bad = 1;
			break;
		}
		w_ch(w, ' ');
		w_b32hex(w, msg + r.off, hl);
		r.off += hl;
		p_bitmap(R, w);
		break;
	}
	case 61: /* OPENPGPKEY */ p_b64_rest(R, w); break;
	case 64: /* SVCB */
	case 65: /* HTTPS */ p_svcb(R, w); break;
	case 256: /* URI: the target is the rest of the rdata, not a character-string */
		p_u16(R, w);
		w_ch(w, ' ');
		p_u16(R, w);
		w_ch(w, ' ');
		if (rd_rest(R) == 0) {
			r.bad = 1;
			break;
		}
		w_quoted(w, msg + r.off, r.end - r.off);
		r.off = r.end;
		break;
	case 257: { /* CAA */
		p_u8(R, w);
		w_ch(w, ' ');
		uint8_t tl = rd_u8(R);
		if (tl == 0 || !rd_need(R, tl)) {
			r.bad = 1;
			break;
		}
		for (size_t i = 0; i < tl; i++) {
			uint8_t c = msg[r.off + i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
				r.bad = 1;
				break;
			}
		}
		w_mem(w, (const char *)msg + r.off, tl);
		r.off += tl;
		w_ch(w, ' ');
		w_quoted(w, msg + r.off, r.end - r.off);
		r.off = r.end;
		break;
	}
	default: return -1;
	}
	return (r.bad || r.off != r.end) ? -1 : 0;
}

static void rdata_generic(const uint8_t *rd, size_t rdlen, struct wr *w)
{
	w_str(w, "\\# ");
	w_u(w, rdlen);
	if (rdlen) {
		w_ch(w, ' ');
		w_hex(w, rd, rdlen);
	}
}

/* 1 if `zone` (wire, lower-case) is `name` or one of its ancestors. */
static int is_ancestor(const uint8_t *zone, size_t zl, const uint8_t *name, size_t nl)
{
	size_t i = 0;
	while (nl - i >= zl) {
		if (nl - i == zl && memcmp(name + i, zone, zl) == 0)
			return 1;
		if (name[i] == 0)
			break;
		i += 1 + (size_t)name[i];
	}
	return 0;
}

struct rr {
	size_t owner_off;
	uint8_t owner[WIRE_MAX];
	size_t olen;
	uint16_t type, cls;
	uint32_t ttl;
	size_t rdoff, rdlen;
};

static int rr_read(const uint8_t *msg, size_t n, size_t *off, struct rr *rr)
{
	rr->owner_off = *off;
	int rc = name_read(msg, n, off, rr->owner, &rr->olen);
	if (rc)
		return rc;
	if (n - *off < 10)
		return D4_ETRUNC;
	const uint8_t *p = msg + *off;
	rr->type = be16(p);
	rr->cls = be16(p + 2);
	rr->ttl = be32(p + 4);
	rr->rdlen = be16(p + 8);
	*off += 10;
	rr->rdoff = *off;
	if (rr->rdlen > n - *off)
		return D4_ETRUNC;
	*off += rr->rdlen;
	return 0;
}

int pdns_dns_parse_work(const uint8_t *msg, size_t n, uint64_t ts, struct pdns_work *w, d4_pdns_emit_fn emit, void *arg,
			struct d4_pdns_stats *st)
{
	struct d4_pdns_stats dummy;
	if (!st)
		st = &dummy;
	if (!msg || n < 12)
		return D4_ETRUNC;
	uint16_t flags = be16(msg + 2);
	if (!(flags & 0x8000) || ((flags >> 11) & 15) != 0 || (flags & 15) != 0)
		return D4_ENOTSUP;
	unsigned qd = be16(msg + 4), an = be16(msg + 6), ns = be16(msg + 8);
	size_t off = 12;
	uint8_t scratch[WIRE_MAX];
	size_t sl;
	for (unsigned i = 0; i < qd; i++) {
		int rc = name_read(msg, n, &off, scratch, &sl);
		if (rc)
			return rc;
		if (n - off < 4)
			return D4_ETRUNC;
		off += 4;
	}
	size_t ans = off;

	/* Zones that vouch for the answers: SOA/NS owners of the authority
	 * section. A damaged authority section just leaves the bailiwick unknown. */
	uint8_t zones[MAX_ZONES][WIRE_MAX];
	size_t zlen[MAX_ZONES];
	unsigned nz = 0;
	{
		struct rr rr;
		size_t o = off;
		unsigned i;
		for (i = 0; i < an; i++)
			if (rr_read(msg, n, &o, &rr))
				break;
		for (unsigned j = 0; i == an && j < ns && nz < MAX_ZONES; j++) {
			if (rr_read(msg, n, &o, &rr))
				break;
			if ((rr.type == 6 || rr.type == 2) && rr.cls == 1) {
				memcpy(zones[nz], rr.owner, rr.olen);
				zlen[nz++] = rr.olen;
			}
		}
	}

	off = ans;
	for (unsigned i = 0; i < an; i++) {
		struct rr rr;
		int rc = rr_read(msg, n, &off, &rr);
		if (rc)
			return rc;
		if (rr.cls != 1) {
			st->not_dns++;
			continue;
		}
		struct wr wn = {w->rrname, sizeof(w->rrname), 0, 0};
		w_name(&wn, rr.owner);
		struct wr wd = {w->rdata, sizeof(w->rdata), 0, 0};
		if (rdata_typed(msg, n, rr.rdoff, rr.rdlen, rr.type, &wd) != 0 || wd.over) {
			wd.len = 0;
			wd.over = 0;
			rdata_generic(msg + rr.rdoff, rr.rdlen, &wd);
		}
		if (wn.over || wd.over) {
			st->too_long++;
			continue;
		}
		w->rrname[wn.len] = '\0';
		w->rdata[wd.len] = '\0';
		const char *bw = NULL;
		size_t best = 0;
		for (unsigned z = 0; z < nz; z++)
			if (zlen[z] > best && is_ancestor(zones[z], zlen[z], rr.owner, rr.olen)) {
				best = zlen[z];
				bw = (const char *)zones[z];
			}
		if (bw) {
			struct wr wb = {w->bailiwick, sizeof(w->bailiwick), 0, 0};
			w_name(&wb, (const uint8_t *)bw);
			w->bailiwick[wb.len] = '\0';
		}
		struct d4_pdns_obs o = {
		    .rrname = w->rrname,
		    .rrtype = rr.type,
		    .rrclass = 1,
		    .rdata = w->rdata,
		    .rdata_len = wd.len,
		    .bailiwick = bw ? w->bailiwick : NULL,
		    .time_first = ts,
		    .time_last = ts,
		    .count = 1,
		    .ttl = rr.ttl,
		    .sensor_id = NULL,
		};
		st->records++;
		if (emit) {
			rc = emit(arg, &o);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

int d4_pdns_dns_parse(const uint8_t *msg, size_t n, uint64_t ts, d4_pdns_emit_fn emit, void *arg,
		      struct d4_pdns_stats *st)
{
	struct pdns_work w;
	return pdns_dns_parse_work(msg, n, ts, &w, emit, arg, st);
}
