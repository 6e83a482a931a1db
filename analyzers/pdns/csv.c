/* passivedns CSV lines -> observations, and the canonical text forms shared
 * with the COF parser. passivedns (gamelinux) prints its enabled columns in
 * one fixed order joined by a separator, with no quoting or escaping; see
 * d4_pdns.h for the rules. Hot path of the type-8 ingest: no allocation, one
 * pass over the line, buffers on the stack. */
#include "d4_error.h"
#include "d4_pdns.h"

#include <string.h>

/* ---- canonical text ---- */

/* Bytes that zone-file presentation escapes as \X inside a name. */
static int name_special(unsigned c)
{
	return c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' || c == '@' || c == '$';
}

static int is_digit(unsigned c)
{
	return c >= '0' && c <= '9';
}

static size_t put_ddd(char *o, unsigned c)
{
	o[0] = '\\';
	o[1] = (char)('0' + c / 100);
	o[2] = (char)('0' + (c / 10) % 10);
	o[3] = (char)('0' + c % 10);
	return 4;
}

int d4_pdns_name_canon(const char *in, size_t n, char *out, size_t cap)
{
	if (!in || !out || n == 0)
		return D4_EINVAL;
	if (n == 1 && in[0] == '.') {
		if (cap < 2)
			return D4_ETOOBIG;
		out[0] = '.';
		out[1] = '\0';
		return 1;
	}
	size_t o = 0, wire = 1, lab = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned c = (unsigned char)in[i];
		if (c == '.') {
			if (lab == 0)
				return D4_EINVAL;
			wire += lab + 1;
			lab = 0;
			if (o + 2 > cap)
				return D4_ETOOBIG;
			out[o++] = '.';
			continue;
		}
		if (c == '\\') {
			if (i + 1 >= n)
				return D4_EINVAL;
			unsigned d = (unsigned char)in[i + 1];
			if (is_digit(d)) {
				if (i + 3 >= n || !is_digit((unsigned char)in[i + 2]) ||
				    !is_digit((unsigned char)in[i + 3]))
					return D4_EINVAL;
				c = (d - '0') * 100 + (unsigned)(in[i + 2] - '0') * 10 + (unsigned)(in[i + 3] - '0');
				if (c > 255)
					return D4_EINVAL;
				i += 3;
			} else {
				c = d;
				i += 1;
			}
		}
		if (++lab > 63 || wire + lab + 1 > 255)
			return D4_EINVAL;
		size_t need = name_special(c) ? 2 : (c < 0x21 || c > 0x7e) ? 4 : 1;
		if (o + need + 1 > cap) /* + NUL */
			return D4_ETOOBIG;
		if (c >= 'A' && c <= 'Z')
			out[o++] = (char)(c + 32);
		else if (name_special(c)) {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x21 || c > 0x7e)
			o += put_ddd(out + o, c);
		else
			out[o++] = (char)c;
	}
	if (lab > 0) {
		wire += lab + 1;
		if (o + 2 > cap)
			return D4_ETOOBIG;
		out[o++] = '.';
	}
	if (wire > 255)
		return D4_EINVAL;
	out[o] = '\0';
	return (int)o;
}

/* Types whose presentation rdata is names, numbers and IPv6 hex only: safe to
 * lower-case whole (names compare case-insensitively, RFC 5952 hex is lower). */
static int rdata_lowercase(uint16_t type)
{
	switch (type) {
	case 2:
	case 3:
	case 4:
	case 5:
	case 6:
	case 7:
	case 8:
	case 9:
	case 12:
	case 14:
	case 15:
	case 17:
	case 18:
	case 21:
	case 23:
	case 26:
	case 28:
	case 33:
	case 36:
	case 39: return 1;
	default: return 0;
	}
}

int d4_pdns_rdata_canon(uint16_t type, const char *in, size_t n, char *out, size_t cap)
{
	if (!in || !out)
		return D4_EINVAL;
	/* RFC 3597 "\\# len HEX": hex digits upper-cased, as the DNS parser prints
	 * them, so that the same record from a capture and from CSV/COF is one tuple. */
	int generic = n >= 2 && in[0] == '\\' && in[1] == '#';
	int lower = rdata_lowercase(type) && !generic;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned c = (unsigned char)in[i];
		if (o + ((c < 0x20 || c > 0x7e) ? 4 : 1) + 1 > cap) /* + NUL */
			return D4_ETOOBIG;
		if (c < 0x20 || c > 0x7e)
			o += put_ddd(out + o, c);
		else if (lower && c >= 'A' && c <= 'Z')
			out[o++] = (char)(c + 32);
		else if (generic && c >= 'a' && c <= 'f')
			out[o++] = (char)(c - 32);
		else
			out[o++] = (char)c;
	}
	if (o + 1 > cap)
		return D4_ETOOBIG;
	out[o] = '\0';
	return (int)o;
}

/* ---- field spec ---- */

/* passivedns's print order; 'S' stands for the whole time column. */
static const char col_order[] = "hcwsWpCQLTAltn";

int d4_pdns_csv_spec_parse(const char *fields, const char *sep, struct d4_pdns_csv_spec *out)
{
	if (!out)
		return D4_EINVAL;
	memset(out, 0, sizeof(*out));
	if (!fields || !*fields)
		fields = "SMcsCQTAtn";
	if (!sep || !*sep)
		sep = "||";
	size_t sl = strlen(sep);
	if (sl >= sizeof(out->sep) || strpbrk(sep, "\r\n"))
		return D4_EINVAL;
	int have[128] = {0};
	size_t fl = strlen(fields);
	if (fl > 64)
		return D4_EINVAL;
	for (size_t i = 0; i < fl; i++) {
		unsigned c = (unsigned char)fields[i];
		if (c >= 128 || (c != 'H' && c != 'S' && c != 'M' && !strchr(col_order, (int)c)))
			return D4_EINVAL;
		have[c] = 1;
	}
	if (!have['Q'] || !have['T'] || !have['A'])
		return D4_EINVAL;
	/* M alone prints only microseconds: no usable time. */
	if (!have['H'] && !have['S'])
		return D4_EINVAL;
	size_t k = 0;
	out->fields[k++] = have['H'] ? 'H' : 'S';
	for (const char *p = col_order; *p; p++)
		if (have[(unsigned char)*p])
			out->fields[k++] = *p;
	out->fields[k] = '\0';
	out->nfields = (uint8_t)k;
	memcpy(out->sep, sep, sl + 1);
	out->seplen = (uint8_t)sl;
	return 0;
}

/* ---- line parsing ---- */

struct span {
	const char *p;
	size_t n;
};

static const char *find_sep(const char *p, const char *end, const char *sep, size_t sl)
{
	if (sl == 1)
		return memchr(p, sep[0], (size_t)(end - p));
	while ((size_t)(end - p) >= sl) {
		const char *q = memchr(p, sep[0], (size_t)(end - p) - sl + 1);
		if (!q)
			return NULL;
		if (memcmp(q, sep, sl) == 0)
			return q;
		p = q + 1;
	}
	return NULL;
}

static const char *rfind_sep(const char *begin, const char *end, const char *sep, size_t sl)
{
	if ((size_t)(end - begin) < sl)
		return NULL;
	for (const char *q = end - sl;; q--) {
		if (*q == sep[0] && memcmp(q, sep, sl) == 0)
			return q;
		if (q == begin)
			return NULL;
	}
}

static int parse_u64(struct span s, uint64_t max, uint64_t *out)
{
	if (s.n == 0 || s.n > 20)
		return D4_EINVAL;
	uint64_t v = 0;
	for (size_t i = 0; i < s.n; i++) {
		unsigned d = (unsigned char)s.p[i] - '0';
		if (d > 9 || v > (max - d) / 10)
			return D4_EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* "sec" or "sec.frac" (passivedns: %lu.%06lu); the fraction is dropped. */
static int parse_epoch(struct span s, uint64_t *out)
{
	const char *dot = memchr(s.p, '.', s.n);
	struct span sec = {s.p, dot ? (size_t)(dot - s.p) : s.n};
	if (dot) {
		size_t fl = s.n - sec.n - 1;
		if (fl == 0 || fl > 9)
			return D4_EINVAL;
		for (size_t i = 0; i < fl; i++)
			if (!is_digit((unsigned char)dot[1 + i]))
				return D4_EINVAL;
	}
	return parse_u64(sec, UINT64_MAX / 2, out);
}

static int num2(const char *p, unsigned *v)
{
	if (!is_digit((unsigned char)p[0]) || !is_digit((unsigned char)p[1]))
		return D4_EINVAL;
	*v = (unsigned)(p[0] - '0') * 10 + (unsigned)(p[1] - '0');
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* "YYYY-MM-DD HH:MM:SS[.frac]", read as UTC. */
static int parse_human(struct span s, uint64_t *out)
{
	if (s.n < 19 || s.p[4] != '-' || s.p[7] != '-' || s.p[10] != ' ' || s.p[13] != ':' || s.p[16] != ':')
		return D4_EINVAL;
	unsigned y1, y2, mo, d, h, mi, se;
	if (num2(s.p, &y1) || num2(s.p + 2, &y2) || num2(s.p + 5, &mo) || num2(s.p + 8, &d) || num2(s.p + 11, &h) ||
	    num2(s.p + 14, &mi) || num2(s.p + 17, &se))
		return D4_EINVAL;
	unsigned y = y1 * 100 + y2;
	static const unsigned char mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
		return D4_EINVAL;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return D4_EINVAL;
	if (s.n > 19) {
		size_t fl = s.n - 20;
		if (s.p[19] != '.' || fl == 0 || fl > 9)
			return D4_EINVAL;
		for (size_t i = 0; i < fl; i++)
			if (!is_digit((unsigned char)s.p[20 + i]))
				return D4_EINVAL;
	}
	int64_t days = days_from_civil((int64_t)y, mo, d);
	*out = (uint64_t)days * 86400u + h * 3600u + mi * 60u + se;
	return 0;
}

static int ieq(struct span s, const char *lit)
{
	size_t i = 0;
	for (; i < s.n && lit[i]; i++) {
		unsigned c = (unsigned char)s.p[i];
		if (c >= 'a' && c <= 'z')
			c -= 32;
		if (c != (unsigned char)lit[i])
			return 0;
	}
	return i == s.n && lit[i] == '\0';
}

/* 1 = IN, 0 = another well-formed class, D4_EINVAL otherwise. */
static int parse_class(struct span s)
{
	if (ieq(s, "IN"))
		return 1;
	if (ieq(s, "CH") || ieq(s, "HS") || ieq(s, "NONE") || ieq(s, "ANY") || ieq(s, "CS"))
		return 0;
	uint64_t v;
	struct span num = s;
	if (s.n > 5 && (s.p[0] == 'C' || s.p[0] == 'c') && ieq((struct span){s.p, 5}, "CLASS")) {
		num.p += 5;
		num.n -= 5;
	}
	if (parse_u64(num, 65535, &v) != 0)
		return D4_EINVAL;
	return v == 1 ? 1 : 0;
}

/* The answers passivedns -X prints for error responses instead of rdata. */
static int is_error_answer(struct span a)
{
	static const char *const rc[] = {"NXDOMAIN", "SERVFAIL", "FORMERR", "NOTIMPL", "REFUSED",
					 "YXDOMAIN", "YXRRSET",	 "NXRRSET", "NOTAUTH", "NOTZONE"};
	if (a.n < 7 || a.n > 24 || a.p[0] < 'F' || a.p[0] > 'Y')
		return 0;
	for (size_t i = 0; i < sizeof(rc) / sizeof(rc[0]); i++) {
		size_t l = strlen(rc[i]);
		if (a.n == l && memcmp(a.p, rc[i], l) == 0)
			return 1;
	}
	return a.n > 14 && memcmp(a.p, "UNKNOWN-ERROR-", 14) == 0;
}

static int bad(struct d4_pdns_stats *st)
{
	if (st)
		st->bad_lines++;
	return D4_EINVAL;
}

int d4_pdns_csv_line(const struct d4_pdns_csv_spec *spec, const char *line, size_t n, d4_pdns_emit_fn emit, void *arg,
		     struct d4_pdns_stats *st)
{
	if (!spec || !line || !emit || spec->nfields == 0 || spec->seplen == 0)
		return bad(st);
	if (n > 0 && line[n - 1] == '\r')
		n--;
	if (n == 0)
		return 0; /* blank line: nothing to do, not an error */
	if (memchr(line, '\0', n))
		return bad(st);

	struct span col[32];
	size_t nf = spec->nfields, ia = 0;
	while (ia < nf && spec->fields[ia] != 'A')
		ia++;
	if (ia == nf || nf > 32)
		return bad(st);
	const char *sep = spec->sep, *p = line, *end = line + n;
	size_t sl = spec->seplen;
	for (size_t i = 0; i < ia; i++) {
		const char *q = find_sep(p, end, sep, sl);
		if (!q)
			return bad(st);
		col[i] = (struct span){p, (size_t)(q - p)};
		p = q + sl;
	}
	for (size_t i = nf - 1; i > ia; i--) {
		const char *q = rfind_sep(p, end, sep, sl);
		if (!q)
			return bad(st);
		col[i] = (struct span){q + sl, (size_t)(end - q - sl)};
		end = q;
	}
	col[ia] = (struct span){p, (size_t)(end - p)};
	if (col[ia].n == 0)
		return bad(st);
	if (is_error_answer(col[ia])) {
		if (st)
			st->not_dns++;
		return 0;
	}

	uint64_t ts = 0, count = 1, ttl = 0;
	uint16_t type = 0;
	struct span q = {NULL, 0}, host = {NULL, 0};
	int in_class = 1;
	for (size_t i = 0; i < nf; i++) {
		struct span s = col[i];
		switch (spec->fields[i]) {
		case 'S':
			if (parse_epoch(s, &ts))
				return bad(st);
			break;
		case 'H':
			if (parse_human(s, &ts))
				return bad(st);
			break;
		case 'h': host = s; break;
		case 'C':
			in_class = parse_class(s);
			if (in_class < 0)
				return bad(st);
			break;
		case 'Q': q = s; break;
		case 'T':
			if (d4_pdns_type_parse(s.p, s.n, &type))
				return bad(st);
			break;
		case 't':
			if (parse_u64(s, UINT32_MAX, &ttl))
				return bad(st);
			break;
		case 'n':
			if (parse_u64(s, UINT64_MAX, &count) || count == 0)
				return bad(st);
			break;
		default: break; /* addresses, MACs, protocol, lengths: not part of the tuple */
		}
	}
	if (!in_class) {
		if (st)
			st->not_dns++;
		return 0;
	}

	char name[D4_PDNS_NAME_MAX], sensor[256];
	char rdata[D4_PDNS_RDATA_MAX];
	int nl = d4_pdns_name_canon(q.p, q.n, name, sizeof(name));
	if (nl == D4_ETOOBIG) {
		if (st)
			st->too_long++;
		return 0;
	}
	if (nl < 0)
		return bad(st);
	int rl = d4_pdns_rdata_canon(type, col[ia].p, col[ia].n, rdata, sizeof(rdata));
	if (rl < 0) {
		if (st)
			st->too_long++;
		return 0;
	}
	if (host.p) {
		if (host.n == 0 || host.n >= sizeof(sensor))
			return bad(st);
		memcpy(sensor, host.p, host.n);
		sensor[host.n] = '\0';
	}
	struct d4_pdns_obs o = {
	    .rrname = name,
	    .rrtype = type,
	    .rrclass = 1,
	    .rdata = rdata,
	    .rdata_len = (size_t)rl,
	    .bailiwick = NULL,
	    .time_first = ts,
	    .time_last = ts,
	    .count = count,
	    .ttl = (uint32_t)ttl,
	    .sensor_id = host.p ? sensor : NULL,
	};
	if (st)
		st->records++;
	return emit(arg, &o);
}
