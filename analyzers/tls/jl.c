/* ja3-jl lines (the D4 TLS sensor's JSON format, and d4hub's superset of
 * it) parsed into struct d4_tls_jl with yajl's event parser: no tree is
 * built, so the Go sensor's certificate objects (every x509.Certificate
 * field, big integers as numbers hundreds of digits long) are skipped
 * without being held. */
#include "d4_tls.h"

#include <arpa/inet.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "d4_error.h"
#include "d4_util.h"
#include "tls_internal.h"

#define JL_DEPTH_MAX 16

enum member {
	M_UNKNOWN = 0,
	M_SERVERIP,
	M_SERVERPORT,
	M_CLIENTIP,
	M_CLIENTPORT,
	M_TLSH,
	M_TIMESTAMP,
	M_JA3,
	M_JA3DIGEST,
	M_JA3S,
	M_JA3SDIGEST,
	M_CERTS,
	M_PRODUCER,
	M_JA4,
	M_SNI,
	M_ALPN,
	M_SERVER_ALPN,
	M_CLIENT_VERSION,
	M_SERVER_VERSION,
	M_CIPHER,
	M_FLAGS,
	M_END,
	M_COUNT
};

static const char *const member_names[M_COUNT] = {
    [M_SERVERIP] = "ServerIP",
    [M_SERVERPORT] = "ServerPort",
    [M_CLIENTIP] = "ClientIP",
    [M_CLIENTPORT] = "ClientPort",
    [M_TLSH] = "TLSH",
    [M_TIMESTAMP] = "Timestamp",
    [M_JA3] = "JA3",
    [M_JA3DIGEST] = "JA3Digest",
    [M_JA3S] = "JA3S",
    [M_JA3SDIGEST] = "JA3SDigest",
    [M_CERTS] = "Certificates",
    [M_PRODUCER] = "producer",
    [M_JA4] = "ja4",
    [M_SNI] = "sni",
    [M_ALPN] = "alpn",
    [M_SERVER_ALPN] = "server_alpn",
    [M_CLIENT_VERSION] = "client_version",
    [M_SERVER_VERSION] = "server_version",
    [M_CIPHER] = "cipher",
    [M_FLAGS] = "flags",
    [M_END] = "end",
};

/* Certificate object members. */
enum { C_OTHER = 0, C_RAW = 1, C_HASH = 2 };

struct jl_ctx {
	struct d4_tls_jl *out;
	uint8_t *der;
	size_t dercap, derlen;
	int rc;
	unsigned depth;
	int member;	    /* current top-level member (depth 1 key) */
	uint32_t seen;	    /* top-level members seen */
	int cert_key;	    /* current key of a certificate object */
	unsigned cert_seen; /* C_RAW | C_HASH bits of the current certificate */
	uint8_t hash[32];   /* its CertHash */
};

static int fail(struct jl_ctx *c, int rc)
{
	if (!c->rc)
		c->rc = rc;
	return 0;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* "443" or Go's "443(https)"; a JSON number is handled by the caller. */
static int parse_port(const unsigned char *s, size_t n, uint16_t *out)
{
	size_t i = 0;
	uint32_t v = 0;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		v = v * 10 + (uint32_t)(s[i] - '0');
		if (v > 65535 || i >= 5)
			return D4_EPROTO;
	}
	if (i == 0)
		return D4_EPROTO;
	if (i < n) { /* "(name)": letters, digits, '-' and '_' */
		if (s[i] != '(' || s[n - 1] != ')' || n - i < 3)
			return D4_EPROTO;
		for (size_t j = i + 1; j < n - 1; j++)
			if (!((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') ||
			      (s[j] >= '0' && s[j] <= '9') || s[j] == '-' || s[j] == '_' || s[j] == '.'))
				return D4_EPROTO;
	}
	*out = (uint16_t)v;
	return 0;
}

static int parse_ip(const unsigned char *s, size_t n, uint8_t ip[16], uint8_t *ver)
{
	char b[64];
	if (n == 0 || n >= sizeof(b))
		return D4_EPROTO;
	memcpy(b, s, n);
	b[n] = 0;
	uint8_t a4[4];
	if (inet_pton(AF_INET, b, a4) == 1) {
		memset(ip, 0, 10);
		ip[10] = ip[11] = 0xff;
		memcpy(ip + 12, a4, 4);
		*ver = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, b, ip) == 1) {
		*ver = 6;
		return 0;
	}
	return D4_EPROTO;
}

static int digits(const unsigned char *s, size_t n, unsigned *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		*v = *v * 10 + (unsigned)(s[i] - '0');
	}
	return 1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* RFC 3339 as Go writes time.Time: YYYY-MM-DDTHH:MM:SS[.F{1,9}](Z|+hh:mm|-hh:mm). */
static int parse_rfc3339(const unsigned char *s, size_t n, uint64_t *us)
{
	unsigned Y, M, D, h, mi, sec, oh = 0, om = 0;
	if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return D4_EPROTO;
	if (!digits(s, 4, &Y) || !digits(s + 5, 2, &M) || !digits(s + 8, 2, &D) || !digits(s + 11, 2, &h) ||
	    !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec))
		return D4_EPROTO;
	static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || mi > 59 || sec > 60)
		return D4_EPROTO;
	size_t i = 19;
	uint64_t frac = 0;
	if (i < n && s[i] == '.') {
		size_t nd = 0;
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, nd++)
			if (nd < 6)
				frac = frac * 10 + (uint64_t)(s[i] - '0');
		if (nd == 0 || nd > 9)
			return D4_EPROTO;
		for (; nd < 6; nd++)
			frac *= 10;
	}
	int sign = 0;
	if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
		sign = 0;
	} else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' && digits(s + i + 1, 2, &oh) &&
		   digits(s + i + 4, 2, &om) && oh <= 23 && om <= 59) {
		sign = s[i] == '+' ? 1 : -1;
	} else {
		return D4_EPROTO;
	}
	int64_t t = days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + sec;
	t -= sign * (int64_t)(oh * 3600 + om * 60);
	if (t < 0)
		return D4_EPROTO;
	*us = (uint64_t)t * 1000000 + frac;
	return 0;
}

/* 32 hex digits into a lowercase copy; "" is allowed (no hello). */
static int copy_md5(const unsigned char *s, size_t n, char out[33])
{
	if (n != 0 && n != 32)
		return D4_EPROTO;
	for (size_t i = 0; i < n; i++) {
		int v = hexval(s[i]);
		if (v < 0)
			return D4_EPROTO;
		out[i] = "0123456789abcdef"[v];
	}
	out[n] = 0;
	return 0;
}

/* Copies s if it fits and every byte is a digit, a letter (when letters)
 * or one of extra. */
static int copy_set(const unsigned char *s, size_t n, char *out, size_t cap, int letters, const char *extra)
{
	if (n >= cap)
		return D4_EPROTO;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = s[i];
		int ok = (ch >= '0' && ch <= '9') || (ch && strchr(extra, ch)) ||
			 (letters && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')));
		if (!ok)
			return D4_EPROTO;
	}
	memcpy(out, s, n);
	out[n] = 0;
	return 0;
}

/* yajl hands strings UTF-8-decoded; the writer escapes each non-printable
 * wire byte as \u00XX, so code points up to U+00FF become bytes again and
 * anything else is kept as UTF-8. */
static int copy_bytes(const unsigned char *s, size_t n, uint8_t *out, size_t cap, size_t *len, uint8_t *clipped)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t k = 1;
		uint8_t b = s[i];
		if ((s[i] == 0xc2 || s[i] == 0xc3) && i + 1 < n) {
			b = (uint8_t)(((s[i] & 0x1f) << 6) | (s[i + 1] & 0x3f));
			k = 2;
		}
		if (o == cap) {
			*clipped = 1; /* a hostile name: its start is kept */
			break;
		}
		out[o++] = b;
		i += k;
	}
	*len = o;
	return 0;
}

static int b64v(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Standard base64 with padding (Go's encoding of []byte). */
static int b64_decode(struct jl_ctx *c, const unsigned char *s, size_t n, size_t *outlen)
{
	if (n == 0 || n % 4)
		return D4_EPROTO;
	size_t pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
	size_t len = n / 4 * 3 - pad;
	if (len > c->dercap - c->derlen)
		return D4_ETOOBIG;
	uint8_t *o = c->der + c->derlen;
	size_t k = 0;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		for (int j = 0; j < 4; j++) {
			v[j] = b64v(s[i + j]);
			if (v[j] < 0) {
				if (i + 4 != n || s[i + j] != '=' || j < 4 - (int)pad)
					return D4_EPROTO;
				v[j] = 0;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		uint8_t b[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
		for (int j = 0; j < 3 && k < len; j++)
			o[k++] = b[j];
		/* non-canonical padding bits would let two texts give one certificate */
		if (i + 4 == n && ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff))))
			return D4_EPROTO;
	}
	*outlen = len;
	return 0;
}

static int cb_null(void *ud)
{
	struct jl_ctx *c = ud;
	if (c->depth == 1 && c->member != M_UNKNOWN && c->member != M_CERTS)
		return fail(c, D4_EPROTO);
	if (c->depth == 3 && c->member == M_CERTS && c->cert_key != C_OTHER)
		return fail(c, D4_EPROTO);
	if (c->depth == 2 && (c->member == M_CERTS || c->member == M_ALPN || c->member == M_FLAGS))
		return fail(c, D4_EPROTO);
	return 1;
}

static int cb_bool(void *ud, int b)
{
	struct jl_ctx *c = ud;
	(void)b;
	if (c->depth == 1 && c->member == M_CERTS)
		return fail(c, D4_EPROTO);
	return cb_null(ud);
}

static int set_u16(struct jl_ctx *c, const char *s, size_t n, uint16_t *out)
{
	unsigned v;
	if (n == 0 || n > 5 || !digits((const unsigned char *)s, n, &v) || v > 65535)
		return fail(c, D4_EPROTO);
	*out = (uint16_t)v;
	return 1;
}

static int cb_number(void *ud, const char *s, size_t n)
{
	struct jl_ctx *c = ud;
	if (c->depth == 1) {
		switch (c->member) {
		case M_UNKNOWN: return 1;
		case M_SERVERPORT: return set_u16(c, s, n, &c->out->server_port);
		case M_CLIENTPORT: return set_u16(c, s, n, &c->out->client_port);
		case M_CLIENT_VERSION: return set_u16(c, s, n, &c->out->client_version);
		case M_SERVER_VERSION: return set_u16(c, s, n, &c->out->server_version);
		case M_CIPHER: return set_u16(c, s, n, &c->out->cipher);
		default: return fail(c, D4_EPROTO);
		}
	}
	if (c->depth == 2 && (c->member == M_CERTS || c->member == M_ALPN || c->member == M_FLAGS))
		return fail(c, D4_EPROTO);
	if (c->depth == 3 && c->member == M_CERTS && c->cert_key != C_OTHER)
		return fail(c, D4_EPROTO);
	return 1;
}

static int top_string(struct jl_ctx *c, const unsigned char *s, size_t n)
{
	struct d4_tls_jl *o = c->out;
	int rc = 0;
	switch (c->member) {
	case M_UNKNOWN: return 1;
	case M_SERVERIP: rc = parse_ip(s, n, o->server_ip, &o->server_ipver); break;
	case M_CLIENTIP: rc = parse_ip(s, n, o->client_ip, &o->client_ipver); break;
	case M_SERVERPORT: rc = parse_port(s, n, &o->server_port); break;
	case M_CLIENTPORT: rc = parse_port(s, n, &o->client_port); break;
	case M_TLSH: rc = copy_set(s, n, o->tlsh, sizeof(o->tlsh), 1, ""); break;
	case M_TIMESTAMP: rc = parse_rfc3339(s, n, &o->ts_us); break;
	case M_JA3: rc = copy_set(s, n, o->ja3, sizeof(o->ja3), 0, ",-"); break;
	case M_JA3S: rc = copy_set(s, n, o->ja3s, sizeof(o->ja3s), 0, ",-"); break;
	case M_JA3DIGEST: rc = copy_md5(s, n, o->ja3_md5); break;
	case M_JA3SDIGEST: rc = copy_md5(s, n, o->ja3s_md5); break;
	case M_PRODUCER: o->producer = n == 5 && !memcmp(s, "d4hub", 5) ? D4_TLS_JL_D4HUB : D4_TLS_JL_GO; break;
	case M_JA4:
		rc = n != 0 && n != D4_TLS_JA4_LEN ? D4_EPROTO : copy_set(s, n, o->ja4, sizeof(o->ja4), 1, "_");
		break;
	case M_SNI:
		rc = copy_bytes(s, n, o->sni, sizeof(o->sni), &o->sni_len, &o->sni_clipped);
		o->has_sni = 1;
		break;
	case M_SERVER_ALPN:
		rc = copy_bytes(s, n, o->server_alpn, sizeof(o->server_alpn), &o->server_alpn_len, &o->sni_clipped);
		break;
	case M_END: rc = 0; break;	/* informative (why the record was produced) */
	default: rc = D4_EPROTO; break; /* a string where an array or number belongs */
	}
	return rc ? fail(c, rc) : 1;
}

static int cb_string(void *ud, const unsigned char *s, size_t n)
{
	struct jl_ctx *c = ud;
	if (c->depth == 1)
		return top_string(c, s, n);
	if (c->depth == 2) {
		if (c->member == M_CERTS)
			return fail(c, D4_EPROTO); /* an array of objects */
		if (c->member == M_FLAGS) {
			for (unsigned b = 0; tls_flag_name(b); b++)
				if (strlen(tls_flag_name(b)) == n && !memcmp(tls_flag_name(b), s, n))
					c->out->flags |= 1u << b;
		}
		return 1; /* alpn entries: kept as the writer's informative list */
	}
	if (c->depth == 3 && c->member == M_CERTS) {
		struct d4_tls_jl *o = c->out;
		size_t i = o->n_certs - 1, len;
		int rc;
		switch (c->cert_key) {
		case C_RAW:
			if ((rc = b64_decode(c, s, n, &len)) != 0)
				return fail(c, rc);
			o->certs[i].der = c->der + c->derlen;
			o->certs[i].len = len;
			c->derlen += len;
			return 1;
		case C_HASH:
			if (n != 64)
				return fail(c, D4_EPROTO);
			for (size_t k = 0; k < 32; k++) {
				int hi = hexval(s[2 * k]), lo = hexval(s[2 * k + 1]);
				if (hi < 0 || lo < 0)
					return fail(c, D4_EPROTO);
				c->hash[k] = (uint8_t)(hi << 4 | lo);
			}
			return 1;
		}
	}
	return 1;
}

static int cb_map_key(void *ud, const unsigned char *k, size_t n)
{
	struct jl_ctx *c = ud;
	if (c->depth == 1) {
		c->member = M_UNKNOWN;
		for (int m = 1; m < M_COUNT; m++)
			if (strlen(member_names[m]) == n && !memcmp(member_names[m], k, n)) {
				if (c->seen & (1u << m))
					return fail(c, D4_EPROTO);
				c->seen |= 1u << m;
				c->member = m;
			}
		return 1;
	}
	if (c->depth == 3 && c->member == M_CERTS) {
		c->cert_key = C_OTHER;
		if (n == 3 && !memcmp(k, "Raw", 3))
			c->cert_key = C_RAW;
		else if (n == 8 && !memcmp(k, "CertHash", 8))
			c->cert_key = C_HASH;
		if (c->cert_key != C_OTHER) {
			if (c->cert_seen & (unsigned)c->cert_key)
				return fail(c, D4_EPROTO);
			c->cert_seen |= (unsigned)c->cert_key;
		}
	}
	return 1;
}

static int cb_start_map(void *ud)
{
	struct jl_ctx *c = ud;
	if (c->depth == 1 && c->member != M_UNKNOWN)
		return fail(c, D4_EPROTO);
	if (c->depth == 2 && (c->member == M_ALPN || c->member == M_FLAGS))
		return fail(c, D4_EPROTO);
	if (c->depth == 2 && c->member == M_CERTS) {
		if (c->out->n_certs >= D4_TLS_CERTS_MAX)
			return fail(c, D4_EPROTO);
		c->out->n_certs++;
		c->cert_seen = 0;
		c->cert_key = C_OTHER;
	}
	if (c->depth == 3 && c->member == M_CERTS && c->cert_key != C_OTHER)
		return fail(c, D4_EPROTO);
	c->depth++;
	return 1;
}

static int cb_end_map(void *ud)
{
	struct jl_ctx *c = ud;
	c->depth--;
	if (c->depth == 2 && c->member == M_CERTS) {
		struct d4_tls_jl *o = c->out;
		size_t i = o->n_certs - 1;
		if (!(c->cert_seen & C_RAW))
			return fail(c, D4_EPROTO);
		if (c->cert_seen & C_HASH) {
			uint8_t md[32];
			int rc = tls_sha256(o->certs[i].der, o->certs[i].len, md);
			if (rc)
				return fail(c, rc);
			if (memcmp(md, c->hash, 32) != 0)
				return fail(c, D4_EPROTO);
			memcpy(o->cert_sha256[i], md, 32);
			o->cert_has_hash[i] = 1;
		}
	}
	return 1;
}

static int cb_start_array(void *ud)
{
	struct jl_ctx *c = ud;
	if (c->depth == 0)
		return fail(c, D4_EPROTO); /* a line is an object */
	if (c->depth == 1 && c->member != M_UNKNOWN && c->member != M_CERTS && c->member != M_ALPN &&
	    c->member != M_FLAGS)
		return fail(c, D4_EPROTO);
	if (c->depth == 2 && (c->member == M_CERTS || c->member == M_ALPN || c->member == M_FLAGS))
		return fail(c, D4_EPROTO);
	if (c->depth == 3 && c->member == M_CERTS && c->cert_key != C_OTHER)
		return fail(c, D4_EPROTO);
	c->depth++;
	return 1;
}

static int cb_end_array(void *ud)
{
	((struct jl_ctx *)ud)->depth--;
	return 1;
}

static const yajl_callbacks jl_callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_bool,
    .yajl_number = cb_number, /* raw numbers: Go's big integers do not overflow */
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end_map,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end_array,
};

int d4_tls_jl_parse(const uint8_t *line, size_t n, struct d4_tls_jl *out, uint8_t *der, size_t dercap)
{
	memset(out, 0, sizeof(*out));
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	/* newlines inside are JSON white space: the Go sensor's own output is
	 * indented (json.MarshalIndent); splitting a stream is the caller's job */
	if (n == 0 || line[0] != '{' || !d4_json_depth_ok(line, n, JL_DEPTH_MAX))
		return D4_EPROTO;
	struct jl_ctx c = {.out = out, .der = der, .dercap = der ? dercap : 0};
	yajl_handle h = yajl_alloc(&jl_callbacks, NULL, &c);
	if (!h)
		return D4_ENOMEM;
	yajl_status st = yajl_parse(h, line, n);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	yajl_free(h);
	if (c.rc)
		return c.rc;
	if (st != yajl_status_ok)
		return D4_EPROTO;
	const uint32_t need =
	    1u << M_SERVERIP | 1u << M_CLIENTIP | 1u << M_SERVERPORT | 1u << M_CLIENTPORT | 1u << M_TIMESTAMP;
	if ((c.seen & need) != need)
		return D4_EPROTO;
	return 0;
}
