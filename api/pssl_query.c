/* d4hub API — passive-SSL query parameters and sealed paging cursors (see
 * api_pssl.h). Every value is checked here; the store gets a query it can
 * run as is, and a malformed one never reaches it.
 *
 * Cursors are sealed as the backscatter ones (api/bs_query.c): the store's
 * resume bytes only say where its order continues, so a cursor of another
 * pivot, key or clearance would resume somewhere unrelated. The MAC binds
 * them to the query they were made for; anything else is a 400 (api/cursor.c,
 * the mechanism of every query API's cursors). */
#include "api_bs.h"
#include "api_cursor.h"
#include "api_pssl.h"
#include "d4_error.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define CURSOR_VERSION 0xc1u

/* ---- values ---------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 2 * nbytes hex digits at s (no terminator needed). */
static int hex_n(const char *s, uint8_t *out, size_t nbytes)
{
	for (size_t i = 0; i < nbytes; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return D4_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return D4_OK;
}

int d4_api_pssl_hex(const char *s, uint8_t *out, size_t nbytes)
{
	if (!s || strlen(s) != 2 * nbytes)
		return D4_EINVAL;
	for (size_t i = 0; i < nbytes; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return D4_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return D4_OK;
}

static int is_v4mapped(const uint8_t a[16])
{
	static const uint8_t m[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return memcmp(a, m, 12) == 0;
}

int d4_api_pssl_parse_ip(const char *s, size_t n, int allow_range, uint8_t lo[16], uint8_t hi[16])
{
	if (!s || n == 0 || n > 100 || memchr(s, '\0', n))
		return D4_EINVAL;
	const char *dash = memchr(s, '-', n);
	if (!dash)
		return d4_api_bs_parse_victim(s, n, lo, hi);
	if (!allow_range || memchr(s, '/', n))
		return D4_EINVAL;
	uint8_t a_lo[16], a_hi[16], b_lo[16], b_hi[16];
	size_t na = (size_t)(dash - s);
	/* both ends are single addresses (no prefix: checked above) */
	if (d4_api_bs_parse_victim(s, na, a_lo, a_hi) || d4_api_bs_parse_victim(dash + 1, n - na - 1, b_lo, b_hi))
		return D4_EINVAL;
	if (is_v4mapped(a_lo) != is_v4mapped(b_lo) || memcmp(a_lo, b_lo, 16) > 0)
		return D4_EINVAL;
	memcpy(lo, a_lo, 16);
	memcpy(hi, b_lo, 16);
	return D4_OK;
}

uint64_t d4_api_pssl_span(const uint8_t lo[16], const uint8_t hi[16])
{
	/* hi - lo over 128 bits; anything above 64 bits saturates */
	uint8_t d[16];
	int borrow = 0;
	for (int i = 15; i >= 0; i--) {
		int v = (int)hi[i] - (int)lo[i] - borrow;
		borrow = v < 0;
		d[i] = (uint8_t)(v + (borrow ? 256 : 0));
	}
	if (borrow)
		return 0;
	for (int i = 0; i < 8; i++)
		if (d[i])
			return UINT64_MAX;
	uint64_t v = 0;
	for (int i = 8; i < 16; i++)
		v = v << 8 | d[i];
	return v == UINT64_MAX ? v : v + 1;
}

size_t d4_api_pssl_name_oneline(const char *s, char *out, size_t cap)
{
	if (!out || cap == 0)
		return 0;
	out[0] = '\0';
	if (!s)
		return 0;
	/* RDN boundaries: commas not escaped by a backslash; segments are
	 * emitted from the last to the first (the one before any comma) */
	size_t n = strlen(s), o = 0, end = n;
	int first = 1;
	for (size_t i = n + 1; i-- > 0;) {
		size_t start = 0;
		if (i > 0) {
			size_t j = i - 1, bs = 0;
			if (s[j] != ',')
				continue;
			while (bs < j && s[j - 1 - bs] == '\\')
				bs++;
			if (bs % 2)
				continue;
			start = i;
		}
		if (!first && o + 2 < cap) {
			memcpy(out + o, ", ", 2);
			o += 2;
		}
		first = 0;
		size_t len = end - start;
		if (o + len >= cap)
			len = cap - 1 - o;
		memcpy(out + o, s + start, len);
		o += len;
		end = i ? i - 1 : 0;
	}
	out[o] = '\0';
	return o;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	size_t n = strlen(s);
	if (n == 0 || n > 20 || strspn(s, "0123456789") != n || (n > 1 && s[0] == '0'))
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* pDNS's time fences: epoch seconds, or negative = that many seconds
 * before now; 0 is "not set". */
static int parse_fence(const char *s, uint64_t now, uint64_t *out)
{
	int neg = s[0] == '-';
	uint64_t v;
	if (parse_u64(s + neg, 99999999999ull, &v))
		return -1;
	*out = !neg ? v : v >= now ? 1 : now - v;
	return 0;
}

/* ---- cursors --------------------------------------------------------------- */

static size_t put_u64(uint8_t *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	return 8;
}

/* What a cursor is bound to: pivot, key, every filter and the clearance.
 * Returns the length, or 0 (a key too long: cannot happen after parsing). */
static size_t canon(const struct d4_store_pssl_query *q, uint8_t *msg)
{
	if (q->key_len > D4_API_PSSL_KEY_MAX)
		return 0;
	size_t o = 0;
	memcpy(msg, "d4hub-pssl-cursor", 17);
	o += 17;
	msg[o++] = (uint8_t)q->by;
	msg[o++] = q->has_port;
	msg[o++] = (uint8_t)(q->port >> 8);
	msg[o++] = (uint8_t)q->port;
	o += put_u64(msg + o, q->key_len);
	if (q->key_len)
		memcpy(msg + o, q->key, q->key_len);
	o += q->key_len;
	memcpy(msg + o, q->ip_lo, 16);
	o += 16;
	memcpy(msg + o, q->ip_hi, 16);
	o += 16;
	o += put_u64(msg + o, q->first_before);
	o += put_u64(msg + o, q->first_after);
	o += put_u64(msg + o, q->last_before);
	o += put_u64(msg + o, q->last_after);
	msg[o++] = q->max_tlp;
	return o;
}

#define BIND_MAX (128 + D4_API_PSSL_KEY_MAX)

int d4_api_pssl_cursor_seal(const struct d4_api_pssl_params *p, const uint8_t *r, size_t rlen, char *out)
{
	uint8_t bind[BIND_MAX];
	if (!p || !r || rlen == 0 || rlen > D4_PSSL_RESUME_MAX || !out)
		return D4_EINVAL;
	size_t n = canon(&p->q, bind);
	if (!n)
		return D4_EIO;
	return d4_api_cursor_seal(CURSOR_VERSION, bind, n, r, rlen, out, D4_API_PSSL_CURSOR_TEXT);
}

/* 0 with p->resume filled, or -1: not a cursor of this query. */
static int cursor_open(struct d4_api_pssl_params *p, const char *text)
{
	uint8_t bind[BIND_MAX];
	size_t n = canon(&p->q, bind), rlen = 0;
	if (!n || d4_api_cursor_open(CURSOR_VERSION, bind, n, text, p->resume, sizeof(p->resume), &rlen))
		return -1;
	p->q.resume = p->resume;
	p->q.resume_len = rlen;
	return 0;
}

void d4_api_pssl_fix(struct d4_api_pssl_params *p)
{
	if (p->q.key)
		p->q.key = p->key;
	if (p->q.resume)
		p->q.resume = p->resume;
}

/* ---- the request ----------------------------------------------------------- */

static int fail(char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errsz, const char *fmt, ...)
{
	if (err && errsz) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return D4_EINVAL;
}

static const char *const common_names[] = {
    "time_first_before", "time_first_after", "time_last_before", "time_last_after", "limit", "cursor", NULL};
static const char *const tuple_pivots[] = {"ip", "cert", "ja3", "ja3s", "ja4", "sni", NULL};
static const char *const cert_pivots[] = {"spki", "modulus", "key", "name", "sha256", "issuer", NULL};

static int in_list(const char *const *names, const char *n)
{
	for (; *names; names++)
		if (!strcmp(*names, n))
			return 1;
	return 0;
}

/* A JA4 as d4_tls_ja4 writes it: t|q|d, version, d|i, two counts, two ALPN
 * characters, then two 12-digit hex hashes. */
static int ja4_ok(const char *s)
{
	if (strlen(s) != 36 || !strchr("tqd", s[0]) || s[10] != '_' || s[23] != '_')
		return 0;
	for (int i = 1; i < 3; i++)
		if (!isdigit((unsigned char)s[i]) && !islower((unsigned char)s[i]))
			return 0;
	if (s[3] != 'd' && s[3] != 'i')
		return 0;
	for (int i = 4; i < 8; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	for (int i = 8; i < 10; i++)
		if (!isalnum((unsigned char)s[i]))
			return 0;
	for (int i = 11; i < 36; i++)
		if (i != 23 && !(isdigit((unsigned char)s[i]) || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* A DNS name as SNIs and SANs carry it: printable ASCII without spaces,
 * slashes or wildcards, lower-cased into out. 0 or -1. */
static int dns_name(const char *s, uint8_t *out, size_t *len)
{
	size_t n = strlen(s);
	if (n == 0 || n > D4_PSSL_SNI_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || c == '/' || c == '*')
			return -1;
		out[i] = (uint8_t)tolower(c);
	}
	*len = n;
	return 0;
}

static int parse_pivot(enum d4_api_pssl_what what, const char *k, const char *v, struct d4_api_pssl_params *out,
		       char *err, size_t errsz)
{
	struct d4_store_pssl_query *q = &out->q;
	q->key = out->key;
	if (what == D4_API_PSSL_TUPLES) {
		if (!strcmp(k, "ip")) {
			q->key = NULL;
			if (d4_api_pssl_parse_ip(v, strlen(v), 1, q->ip_lo, q->ip_hi))
				return fail(err, errsz,
					    "query parameter 'ip' must be an IPv4 or IPv6 address, a network ADDR/LEN "
					    "or a range ADDR-ADDR (first <= last, one family)");
			q->by = D4_PSSL_BY_IP;
		} else if (!strcmp(k, "cert")) {
			if (d4_api_pssl_hex(v, out->key, 20))
				return fail(err, errsz, "query parameter 'cert' must be a SHA-1: 40 hex digits");
			q->by = D4_PSSL_BY_CERT;
			q->key_len = 20;
		} else if (!strcmp(k, "ja3") || !strcmp(k, "ja3s")) {
			if (d4_api_pssl_hex(v, out->key, 16))
				return fail(err, errsz, "query parameter '%s' must be an MD5: 32 hex digits", k);
			q->by = k[3] ? D4_PSSL_BY_JA3S : D4_PSSL_BY_JA3;
			q->key_len = 16;
		} else if (!strcmp(k, "ja4")) {
			if (!ja4_ok(v))
				return fail(err, errsz,
					    "query parameter 'ja4' must be a JA4 fingerprint "
					    "(t13d1516h2_8daaf6152771_e5627efa2ab1)");
			memcpy(out->key, v, 36);
			q->by = D4_PSSL_BY_JA4;
			q->key_len = 36;
		} else { /* sni */
			if (dns_name(v, out->key, &q->key_len))
				return fail(err, errsz,
					    "query parameter 'sni' must be a server name (1-255 printable characters, "
					    "no spaces, slashes or wildcards)");
			q->by = D4_PSSL_BY_SNI;
		}
		return D4_OK;
	}
	if (!strcmp(k, "spki") || !strcmp(k, "sha256")) {
		if (d4_api_pssl_hex(v, out->key, 32))
			return fail(err, errsz, "query parameter '%s' must be a SHA-256: 64 hex digits", k);
		q->by = k[0] == 's' && k[1] == 'p' ? D4_PSSL_CERTS_BY_SPKI : D4_PSSL_CERTS_BY_SHA256;
		q->key_len = 32;
	} else if (!strcmp(k, "modulus")) {
		size_t n = strlen(v), z = 0;
		while (z + 1 < n && v[z] == '0')
			z++; /* leading zero digits: the store keeps none */
		const char *h = v + z;
		size_t hn = n - z, nb = (hn + 1) / 2;
		int ok = n > 0 && n <= 2 * D4_PSSL_MODULUS_MAX + 4 && nb <= D4_PSSL_MODULUS_MAX;
		for (size_t i = 0; ok && i < hn; i++)
			ok = hexval(h[i]) >= 0;
		if (ok && hn % 2) { /* an odd count: the first byte is one digit */
			out->key[0] = (uint8_t)hexval(h[0]);
			ok = hex_n(h + 1, out->key + 1, nb - 1) == 0;
		} else if (ok) {
			ok = hex_n(h, out->key, nb) == 0;
		}
		if (!ok || (nb == 1 && out->key[0] == 0))
			return fail(err, errsz,
				    "query parameter 'modulus' must be an RSA modulus in hex (non-zero, at most 16384 "
				    "bits)");
		q->by = D4_PSSL_CERTS_BY_MODULUS;
		q->key_len = nb;
	} else if (!strcmp(k, "key")) {
		uint64_t id;
		if (parse_u64(v, UINT64_MAX, &id) || id == 0)
			return fail(err, errsz, "query parameter 'key' must be a key id (a positive integer)");
		for (int i = 0; i < 8; i++)
			out->key[i] = (uint8_t)(id >> (56 - 8 * i));
		q->by = D4_PSSL_CERTS_BY_KEY;
		q->key_len = 8;
	} else if (!strcmp(k, "name")) {
		int left = v[0] == '*' && v[1] == '.';
		if (dns_name(v + (left ? 2 : 0), out->key, &q->key_len) || q->key_len > 253)
			return fail(err, errsz,
				    "query parameter 'name' must be a DNS name, or '*.' and a name for it and every "
				    "name below it");
		q->by = left ? D4_PSSL_CERTS_BY_NAME_LEFT : D4_PSSL_CERTS_BY_NAME;
	} else { /* issuer */
		size_t n = strlen(v);
		if (n == 0 || n > D4_PSSL_NAME_MAX)
			return fail(err, errsz, "query parameter 'issuer' must be an issuer name (1-1024 bytes)");
		memcpy(out->key, v, n);
		q->by = D4_PSSL_CERTS_BY_ISSUER;
		q->key_len = n;
	}
	return D4_OK;
}

int d4_api_pssl_parse(enum d4_api_pssl_what what, const char *const *names, const char *const *values, unsigned n,
		      uint8_t max_tlp, uint64_t now_s, struct d4_api_pssl_params *out, char *err, size_t errsz)
{
	const char *const *pivots = what == D4_API_PSSL_TUPLES ? tuple_pivots : cert_pivots;
	const char *cursor = NULL, *pivot = NULL;
	memset(out, 0, sizeof(*out));
	out->q.by = what == D4_API_PSSL_TUPLES ? D4_PSSL_BY_RECENT : D4_PSSL_CERTS_RECENT;
	out->q.limit = D4_API_PSSL_LIMIT_DEF;
	if (err && errsz)
		err[0] = '\0';
	for (unsigned i = 0; i < n; i++) {
		const char *k = names[i], *v = values[i];
		if (!k || !v)
			return fail(err, errsz, "%s", "bad query");
		int is_pivot = in_list(pivots, k);
		int is_port = what == D4_API_PSSL_TUPLES && !strcmp(k, "port");
		if (!is_pivot && !is_port && !in_list(common_names, k))
			return fail(err, errsz, "unknown query parameter '%.40s'", k);
		for (unsigned j = 0; j < i; j++)
			if (names[j] && !strcmp(names[j], k))
				return fail(err, errsz, "query parameter '%.40s' given more than once", k);
		uint64_t u;
		if (is_pivot) {
			if (pivot)
				return fail(err, errsz, "query parameters '%.40s' and '%.40s': one pivot at a time",
					    pivot, k);
			pivot = k;
			int rc = parse_pivot(what, k, v, out, err, errsz);
			if (rc)
				return rc;
		} else if (is_port) {
			if (parse_u64(v, 65535, &u))
				return fail(err, errsz, "query parameter 'port' must be a port number 0-65535");
			out->q.has_port = 1;
			out->q.port = (uint16_t)u;
		} else if (!strcmp(k, "limit")) {
			if (parse_u64(v, D4_API_PSSL_LIMIT_MAX, &u) || u == 0)
				return fail(err, errsz, "query parameter 'limit' must be an integer 1-1000");
			out->q.limit = (uint32_t)u;
		} else if (!strcmp(k, "cursor")) {
			cursor = v;
		} else {
			uint64_t *dst = !strcmp(k, "time_first_before")	 ? &out->q.first_before
					: !strcmp(k, "time_first_after") ? &out->q.first_after
					: !strcmp(k, "time_last_before") ? &out->q.last_before
									 : &out->q.last_after;
			if (parse_fence(v, now_s, dst))
				return fail(
				    err, errsz,
				    "query parameter '%s' must be epoch seconds, or negative seconds relative to "
				    "now",
				    k);
		}
	}
	if (out->q.first_before && out->q.first_after && out->q.first_after > out->q.first_before)
		return fail(err, errsz, "%s", "'time_first_after' is after 'time_first_before'");
	if (out->q.last_before && out->q.last_after && out->q.last_after > out->q.last_before)
		return fail(err, errsz, "%s", "'time_last_after' is after 'time_last_before'");
	if (!out->q.key_len)
		out->q.key = NULL;
	out->q.max_tlp = max_tlp;
	if (cursor && cursor_open(out, cursor))
		return fail(err, errsz, "%s",
			    "query parameter 'cursor' is not a cursor of this query: pass the next_cursor of the "
			    "previous page unchanged, with the same parameters (cursors do not survive a restart of "
			    "the hub)");
	return D4_OK;
}
