/* d4hub API — passive DNS queries: the CIRCL-compatible COF endpoints
 * (/pdns/query/{q}, /pdns/info) and the DNSDB API v2 compatible ones
 * (/dnsdb/v2/lookup|summarize/..., rate_limit, ping), so that existing
 * clients (dnsdbq, PyMISP's pdns module, curl scripts) work unchanged.
 *
 * Answers stream (d4_api_stream): the handler validates everything and
 * plans the store query; the producer runs it in short read transactions
 * of at most BATCH tuples, resuming from the store's cursor, so neither a
 * result set nor a transaction outlives one next() call. Every query is
 * filtered by the caller's TLP clearance (api.max_tlp_user/max_tlp_admin).
 * Formats and rules: docs/pdns.md "Query API". */
#include "api_core.h"
#include "api_cursor.h"
#include "d4_analyze.h"
#include "d4_error.h"
#include "d4_hubconf.h"
#include "d4_log.h"
#include "d4_pdns.h"
#include "d4_policy.h"
#include "d4_store_pdns.h"
#include "d4_util.h"
#include "handlers.h"
#include "json_writer.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define BATCH	     1024u	    /* tuples per read transaction */
#define CHUNK_MARGIN (16u * 1024u)  /* stop filling a chunk when less is left */
#define GROUP_MAX    (64u * 1024u)  /* rdata bytes of one rrset object */
#define GROUPS	     16u	    /* rrset objects of one owner and type open at once */
#define PREFILL_MAX  (128u * 1024u) /* a paged answer written before its headers, at most */
#define CURSOR_TXT   D4_API_CURSOR_TEXT(D4_PDNS_RESUME_MAX)
#define CURSOR_VER   0xd1u /* pDNS cursors (api_cursor.h) */

/* ---- small growable buffer ------------------------------------------------ */

/* Output lines are built in the API's growable buffer (json_writer.h). */
static void sb_str(struct d4_jw *b, const char *s)
{
	d4_jw_raw(b, s, strlen(s));
}

/* A JSON string. Stored names and rdata are canonical presentation text
 * (printable ASCII); anything else is escaped as \u00XX so that the line
 * stays valid JSON whatever a store holds. */
static void sb_jstr(struct d4_jw *b, const char *s, size_t n)
{
	char *o = d4_jw_room(b, n * 6 + 2);
	if (!o)
		return;
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			static const char hx[] = "0123456789abcdef";
			memcpy(o, "\\u00", 4);
			o[4] = hx[c >> 4];
			o[5] = hx[c & 15];
			o += 6;
		} else {
			*o++ = (char)c;
		}
	}
	*o++ = '"';
	b->len = (size_t)(o - b->p);
}

static void sb_time(struct d4_jw *b, uint64_t t, int human)
{
	if (!human) {
		d4_jw_u64(b, t);
		return;
	}
	char ts[40];
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || strftime(ts, sizeof(ts), "\"%Y-%m-%dT%H:%M:%SZ\"", &tm) == 0)
		snprintf(ts, sizeof(ts), "%llu", (unsigned long long)t);
	sb_str(b, ts);
}

/* ---- request parsing -------------------------------------------------------- */

enum out_fmt { FMT_COF = 0, FMT_SAF_RRSET, FMT_SAF_RDATA };

/* Everything a query answer needs, owned (the request's strings die with
 * the handler). */
struct qspec {
	struct d4_store_pdns_query q;
	char name[D4_PDNS_STORE_NAME_MAX + 2];
	char bw[D4_PDNS_STORE_NAME_MAX + 2];
	uint8_t resume[D4_PDNS_RESUME_MAX];
	uint32_t limit;	    /* effective, >= 1 */
	uint64_t offset;    /* tuples to skip first */
	uint64_t max_count; /* summarize: stop once the count sum reaches it (0 = off) */
	int paging;	    /* limit or cursor given: compute the next cursor up front */
	int human;	    /* humantime */
	int aggr;	    /* rrset objects group rdata (DNSDB "rocks") */
	int is_ip;	    /* /pdns/query: q was an address */
	int dribble;	    /* /pdns/query paged by CIRCL's dribble-paginate-* headers */
	uint8_t surface;    /* enum surface: what a cursor is bound to besides the query */
	const char *cursor; /* the request's cursor text until the plan is complete */
	/* last: qspec_new does not clear it (64 KB per lookup); only the
	 * q.raw_len bytes written by the parser are read */
	uint8_t raw[D4_PDNS_STORE_RDATA_MAX];
};

/* The endpoints whose cursors must not be interchangeable. */
enum surface { SURF_CIRCL = 1, SURF_LOOKUP, SURF_SUMMARIZE };

/* The caller's clearance (api/clearance.c); the store applies the policy
 * rule to every tuple, so that limits, offsets and cursors count only what
 * the caller may see. */
static uint8_t clearance(const struct d4_api_ctx *ctx, const struct d4_api_req *req)
{
	return (uint8_t)d4_api_clearance(ctx, req);
}

static uint32_t max_results(const struct d4_api_ctx *ctx)
{
	return ctx->conf && ctx->conf->api_pdns_max_results ? ctx->conf->api_pdns_max_results : 10000;
}

/* A signed decimal integer, fully consumed. */
static int parse_i64(const char *s, int64_t *out)
{
	int neg = 0;
	uint64_t v = 0;
	if (*s == '-') {
		neg = 1;
		s++;
	}
	if (!*s || strlen(s) > 18)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

static int parse_bool(const char *s, int *out)
{
	if (!strcmp(s, "t") || !strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes")) {
		*out = 1;
		return 0;
	}
	if (!strcmp(s, "f") || !strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no")) {
		*out = 0;
		return 0;
	}
	return -1;
}

/* The query parameters shared by every lookup. Returns 0 or -1 (problem set). */
static int parse_params(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp,
			struct qspec *qs, int summarize)
{
	static const char *const names[] = {"limit",
					    "offset",
					    "time_first_before",
					    "time_first_after",
					    "time_last_before",
					    "time_last_after",
					    "aggr",
					    "humantime",
					    "max_count",
					    "cursor",
					    "swclient",
					    "version",
					    "id",
					    "rrtype",
					    NULL};
	if (d4_h_query_only(req, resp, names))
		return -1;
	uint32_t cap = max_results(ctx);
	uint64_t lim = 0;
	if (d4_h_query_uint(req, resp, "limit", 0, UINT32_MAX, 0, &lim) ||
	    d4_h_query_uint(req, resp, "offset", 0, UINT64_MAX / 2, 0, &qs->offset) ||
	    d4_h_query_uint(req, resp, "max_count", 0, UINT64_MAX / 2, 0, &qs->max_count))
		return -1;
	/* DNSDB: limit 0 or absent is the server's maximum, larger values are clamped */
	qs->limit = lim == 0 || lim > cap ? cap : (uint32_t)lim;
	if (qs->offset > cap) {
		d4_h_bad_param(resp, "query parameter 'offset' is above the maximum of %u", cap);
		return -1;
	}
	if (qs->max_count && !summarize) {
		d4_h_bad_param(resp, "query parameter 'max_count' applies to summarize only");
		return -1;
	}
	static const char *const tnames[] = {"time_first_before", "time_first_after", "time_last_before",
					     "time_last_after"};
	uint64_t *dst[] = {&qs->q.time_first_before, &qs->q.time_first_after, &qs->q.time_last_before,
			   &qs->q.time_last_after};
	uint64_t now = d4_now_s();
	for (int i = 0; i < 4; i++) {
		const char *v = d4_api_query(req, tnames[i]);
		int64_t t;
		if (!v)
			continue;
		if (parse_i64(v, &t)) {
			d4_h_bad_param(resp,
				       "query parameter '%s' must be epoch seconds, or negative seconds relative to "
				       "now",
				       tnames[i]);
			return -1;
		}
		/* negative = that many seconds before now; 0 is the epoch, as
		 * any other absolute time (a *_before of 0 keeps only tuples at
		 * time 0; an *_after of 0 keeps everything) */
		*dst[i] = t >= 0 ? (uint64_t)t : ((uint64_t)-t >= now ? 0 : now - (uint64_t)-t);
		if (i == 0)
			qs->q.before_set |= D4_PDNS_TF_BEFORE_SET;
		else if (i == 2)
			qs->q.before_set |= D4_PDNS_TL_BEFORE_SET;
	}
	const char *v;
	qs->aggr = 1;
	if ((v = d4_api_query(req, "aggr")) && parse_bool(v, &qs->aggr)) {
		d4_h_bad_param(resp, "query parameter 'aggr' must be t or f");
		return -1;
	}
	if ((v = d4_api_query(req, "humantime")) && parse_bool(v, &qs->human)) {
		d4_h_bad_param(resp, "query parameter 'humantime' must be t or f");
		return -1;
	}
	if ((v = d4_api_query(req, "rrtype"))) {
		uint16_t t;
		if (qs->q.rrtype || d4_pdns_type_parse(v, strlen(v), &t) || t == 0) {
			d4_h_bad_param(resp, "query parameter 'rrtype': bad or repeated rrtype '%.40s'", v);
			return -1;
		}
		qs->q.rrtype = t;
	}
	qs->cursor = d4_api_query(req, "cursor"); /* opened once the query is planned (cursor_open) */
	qs->paging = d4_api_query(req, "limit") || d4_api_query(req, "cursor");
	qs->q.max_tlp = clearance(ctx, req);
	d4_api_clearance_header(resp, (enum d4_tlp)qs->q.max_tlp);
	return 0;
}

/* ---- cursors: sealed (api_cursor.h) ------------------------------------------------- */

static size_t put_str(uint8_t *b, const char *s, size_t n)
{
	b[0] = (uint8_t)(n >> 8);
	b[1] = (uint8_t)n;
	if (n)
		memcpy(b + 2, s, n);
	return 2 + n;
}

/* What a pDNS cursor is bound to: the endpoint, the query kind and key,
 * every filter and the caller's clearance. Not aggr/humantime, which change
 * only how the same tuples are printed. Returns a malloc'd buffer or NULL. */
static uint8_t *cursor_bind(const struct qspec *qs, size_t *len)
{
	const struct d4_store_pdns_query *q = &qs->q;
	size_t nl = q->name ? strlen(q->name) : 0, bl = q->bailiwick ? strlen(q->bailiwick) : 0;
	size_t rl = q->raw ? q->raw_len : 0;
	uint8_t *b = malloc(96 + 3 * 2 + nl + bl + rl); /* 88 fixed bytes, 3 length-prefixed strings */
	if (!b)
		return NULL;
	size_t o = 0;
	memcpy(b, "d4hub-pdns-cursor", 17);
	o += 17;
	b[o++] = qs->surface;
	b[o++] = (uint8_t)q->kind;
	b[o++] = (uint8_t)(q->rrtype >> 8);
	b[o++] = (uint8_t)q->rrtype;
	b[o++] = q->ip_family;
	memcpy(b + o, q->ip_lo, 16);
	o += 16;
	memcpy(b + o, q->ip_hi, 16);
	o += 16;
	const uint64_t t[4] = {q->time_first_before, q->time_first_after, q->time_last_before, q->time_last_after};
	for (int i = 0; i < 4; i++)
		for (int k = 7; k >= 0; k--)
			b[o++] = (uint8_t)(t[i] >> (8 * k));
	b[o++] = q->max_tlp;
	b[o++] = q->before_set;
	o += put_str(b + o, q->name, nl);
	o += put_str(b + o, q->bailiwick, bl);
	o += put_str(b + o, (const char *)q->raw, rl);
	*len = o;
	return b;
}

/* The sealed text of resume bytes r for query qs into out (CURSOR_TXT). */
static int cursor_seal(const struct qspec *qs, const uint8_t *r, size_t rlen, char *out)
{
	size_t bl = 0;
	uint8_t *bind = cursor_bind(qs, &bl);
	if (!bind)
		return D4_ENOMEM;
	int rc = d4_api_cursor_seal(CURSOR_VER, bind, bl, r, rlen, out, CURSOR_TXT);
	free(bind);
	return rc;
}

/* Opens the request's cursor, if any, against the planned query: 0, or -1
 * with a 400 problem (cut, altered, of another query, endpoint, clearance,
 * or of a previous run of the hub). */
static int cursor_open(struct d4_api_resp *resp, struct qspec *qs)
{
	if (!qs->cursor)
		return 0;
	size_t bl = 0, n = 0;
	uint8_t *bind = cursor_bind(qs, &bl);
	if (!bind) {
		d4_h_internal(resp, "out of memory");
		return -1;
	}
	int rc = d4_api_cursor_open(CURSOR_VER, bind, bl, qs->cursor, qs->resume, sizeof(qs->resume), &n);
	free(bind);
	qs->cursor = NULL;
	if (rc) {
		d4_h_bad_param(resp, "query parameter 'cursor' is not a cursor of this query: pass the next cursor of "
				     "the previous page unchanged, with the same path and parameters (cursors do not "
				     "survive a restart of the hub)");
		return -1;
	}
	qs->q.resume = qs->resume;
	qs->q.resume_len = n;
	return 0;
}

/* A presentation name as DNS allows it: labels of 1..63 octets, 255 octets
 * in wire form, escapes well formed (the ingest's own rules, d4_pdns_name_canon);
 * the root alone is no query. */
static int check_name(struct d4_api_resp *resp, const char *what, const char *s, const char *body, size_t blen)
{
	char tmp[D4_PDNS_NAME_MAX];
	int rc = d4_pdns_name_canon(body, blen, tmp, sizeof(tmp));
	if (rc < 0 || (blen == 1 && body[0] == '.')) {
		d4_h_bad_param(resp,
			       "bad %s '%.80s': empty label, label over 63 octets, name over 255 octets or bad escape",
			       what, s);
		return -1;
	}
	return 0;
}

/* An owner or rdata name with an optional wildcard: "*.example.com" (below)
 * or "www.example.*" (starting with). Sets kind (exact kind + 0/1/2). */
static int parse_name(struct d4_api_resp *resp, const char *s, int rdata, struct qspec *qs)
{
	size_t n = strlen(s);
	enum d4_store_pdns_qkind base = rdata ? D4_PDNS_Q_RDATA_NAME : D4_PDNS_Q_NAME;
	const char *body = s;
	size_t blen = n;
	int wild = 0;
	if (n >= 2 && s[0] == '*' && s[1] == '.') {
		wild = 1;
		body = s + 2;
		blen = n - 2;
	} else if (n >= 2 && s[n - 1] == '*' && s[n - 2] == '.') {
		wild = 2;
		blen = n - 2;
	} else if (n >= 3 && s[n - 1] == '.' && s[n - 2] == '*' && s[n - 3] == '.') {
		wild = 2; /* "www.example.*." as dnsdbq may send it */
		blen = n - 3;
	}
	if (blen == 0 || blen >= sizeof(qs->name) - 1 || memchr(body, '*', blen) || memchr(body, '/', blen)) {
		d4_h_bad_param(resp, "bad name '%.80s': a name, '*.name' or 'name.*' (one wildcard, at an end)", s);
		return -1;
	}
	for (size_t i = 0; i < blen; i++)
		if ((unsigned char)body[i] <= 0x20 || (unsigned char)body[i] >= 0x7f) {
			d4_h_bad_param(resp, "bad name '%.80s': printable ASCII only (IDNs as punycode)", s);
			return -1;
		}
	if (check_name(resp, "name", s, body, blen))
		return -1;
	memcpy(qs->name, body, blen);
	qs->name[blen] = '\0';
	qs->q.name = qs->name;
	qs->q.kind = (enum d4_store_pdns_qkind)(base + (wild == 1 ? 1 : wild == 2 ? 2 : 0));
	return 0;
}

static int parse_rrtype(struct d4_api_resp *resp, const char *s, struct qspec *qs)
{
	uint16_t t;
	/* ANY (and DNSDB's ANY-DNSSEC) mean every type */
	if (!strcasecmp(s, "ANY") || !strcasecmp(s, "ANY-DNSSEC"))
		return 0;
	if (d4_pdns_type_parse(s, strlen(s), &t) || t == 0) {
		d4_h_bad_param(resp, "unknown rrtype '%.40s'", s);
		return -1;
	}
	qs->q.rrtype = t;
	return 0;
}

static int parse_bailiwick(struct d4_api_resp *resp, const char *s, struct qspec *qs)
{
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(qs->bw) - 1 || strchr(s, '*')) {
		d4_h_bad_param(resp, "bad bailiwick '%.80s'", s);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) {
			d4_h_bad_param(resp, "bad bailiwick '%.80s'", s);
			return -1;
		}
	if (check_name(resp, "bailiwick", s, s, n))
		return -1;
	memcpy(qs->bw, s, n + 1);
	qs->q.bailiwick = qs->bw;
	return 0;
}

static int parse_ip(struct d4_api_resp *resp, const char *s, struct qspec *qs)
{
	if (strlen(s) > 100 || d4_store_pdns_parse_ip(s, &qs->q) != D4_OK) {
		d4_h_bad_param(resp, "bad address '%.100s': an IPv4/IPv6 address, ADDR,LEN or ADDR/LEN, or LO-HI", s);
		return -1;
	}
	qs->q.kind = D4_PDNS_Q_RDATA_IP;
	return 0;
}

static int hexv(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* Raw rdata: hex pairs of the wire-format rdata, as DNSDB's rdata/raw. The
 * bytes are read here; raw_present (once the rrtype is known) turns them into
 * the presentation text the store keeps. */
static int parse_raw(struct d4_api_resp *resp, const char *s, struct qspec *qs)
{
	size_t n = strlen(s);
	if (n == 0 || n % 2 || n / 2 > sizeof(qs->raw)) {
		d4_h_bad_param(resp, "raw rdata must be an even number of hex digits");
		return -1;
	}
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexv(s[i]), lo = hexv(s[i + 1]);
		if (hi < 0 || lo < 0) {
			d4_h_bad_param(resp, "raw rdata must be an even number of hex digits");
			return -1;
		}
		qs->raw[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	qs->q.kind = D4_PDNS_Q_RDATA_RAW;
	qs->q.raw = qs->raw;
	qs->q.raw_len = n / 2;
	return 0;
}

struct raw_dec {
	char *out;
	size_t cap, len;
	int got;
};

static int raw_emit(void *arg, const struct d4_pdns_obs *o)
{
	struct raw_dec *d = arg;
	if (!d->got && o->rdata_len < d->cap) {
		memcpy(d->out, o->rdata, o->rdata_len);
		d->len = o->rdata_len;
		d->got = 1;
	}
	return 0;
}

/* Wire rdata of one type in the presentation form the capture extractor
 * writes (d4_pdns_dns_parse over a one-record response; the same code that
 * made the stored text from captured packets, so both agree byte for byte):
 * its length, or 0 when the bytes do not form a record of that type (the
 * extractor then keeps RFC 3597 generic data, reported only if generic). */
static size_t raw_present(uint16_t type, const uint8_t *w, size_t n, int generic, char *out, size_t cap)
{
	if (n > 65535)
		return 0;
	uint8_t *m = malloc(23 + n);
	if (!m)
		return 0;
	static const uint8_t hdr[12] = {0, 0, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0}; /* response, NOERROR, 1 answer */
	memcpy(m, hdr, 12);
	uint8_t rr[11] = {0, (uint8_t)(type >> 8), (uint8_t)type, 0, 1, 0, 0, 0, 0, (uint8_t)(n >> 8), (uint8_t)n};
	memcpy(m + 12, rr, 11); /* owner: the root; class IN; TTL 0 */
	memcpy(m + 23, w, n);
	struct raw_dec d = {out, cap, 0, 0};
	(void)d4_pdns_dns_parse(m, 23 + n, 0, raw_emit, &d, NULL);
	free(m);
	if (!d.got || (!generic && d.len >= 2 && out[0] == '\\' && out[1] == '#'))
		return 0;
	return d.len;
}

/* rdata/raw: the wire bytes as the presentation text of the rrtype given;
 * without one, as A (4 bytes), AAAA (16), a name (NS, CNAME, PTR, ...: the
 * store's raw plan also finds every whole-name type), TXT, in that order,
 * else RFC 3597 generic data. Returns 0 or -1 (problem set). */
static int raw_to_text(struct d4_api_resp *resp, struct qspec *qs)
{
	static const uint16_t guess[] = {1, 28, 2, 16};
	char *txt = malloc(sizeof(qs->raw));
	if (!txt) {
		d4_h_internal(resp, "out of memory");
		return -1;
	}
	size_t n = 0;
	if (qs->q.rrtype) {
		n = raw_present(qs->q.rrtype, qs->raw, qs->q.raw_len, 1, txt, sizeof(qs->raw));
	} else {
		for (size_t i = 0; i < sizeof(guess) / sizeof(guess[0]) && !n; i++)
			n = raw_present(guess[i], qs->raw, qs->q.raw_len, 0, txt, sizeof(qs->raw));
		if (!n)
			n = raw_present(65280, qs->raw, qs->q.raw_len, 1, txt,
					sizeof(qs->raw)); /* private use: generic */
	}
	if (!n) {
		free(txt);
		d4_h_bad_param(resp, "raw rdata: not a record of this rrtype, or too long");
		return -1;
	}
	memcpy(qs->raw, txt, n);
	qs->q.raw_len = n;
	free(txt);
	return 0;
}

/* ---- output records ----------------------------------------------------------- */

static void type_name(uint16_t t, char buf[16])
{
	const char *n = d4_pdns_type_name(t, buf, 16);
	if (n != buf)
		d4_strlcpy(buf, n, 16);
}

/* COF (draft-dulaunoy-dnsop-passive-dns-cof): one object per RR. sensor_id
 * only when one sensor saw the tuple and its TLP allows naming the source;
 * origin_hubs when partner hubs sent observations of it. */
static void cof_line(struct d4_jw *b, const struct d4_store_pdns_tuple *t, int human)
{
	char tn[16];
	type_name(t->rrtype, tn);
	sb_str(b, "{\"rrname\":");
	sb_jstr(b, t->rrname, t->rrname_len);
	sb_str(b, ",\"rrtype\":");
	sb_jstr(b, tn, strlen(tn));
	sb_str(b, ",\"rdata\":");
	sb_jstr(b, t->rdata, t->rdata_len);
	sb_str(b, ",\"time_first\":");
	sb_time(b, t->time_first, 0);
	sb_str(b, ",\"time_last\":");
	sb_time(b, t->time_last, 0);
	sb_str(b, ",\"count\":");
	d4_jw_u64(b, t->count ? t->count : 1);
	if (t->bailiwick && t->bailiwick_len) {
		sb_str(b, ",\"bailiwick\":");
		sb_jstr(b, t->bailiwick, t->bailiwick_len);
	}
	if (t->sensor_count == 1 && t->nsensors == 1 && t->tlp != D4_TLP_EX_CHR) {
		char hex[D4_UUID_HEX_LEN + 1];
		d4_uuid_hex(t->sensors[0], hex);
		sb_str(b, ",\"sensor_id\":");
		sb_jstr(b, hex, strlen(hex));
	}
	/* received from partner hubs: their origin hubs (one more member of
	 * the COF object; DNSDB's SAF output stays as dnsdbq expects it). Not for
	 * tlp:ex:chr, whose source is not named. */
	if (t->nhubs && t->tlp != D4_TLP_EX_CHR) {
		sb_str(b, ",\"origin_hubs\":[");
		for (unsigned i = 0; i < t->nhubs && i < D4_PDNS_HUBS_KEEP; i++) {
			char hex[D4_UUID_HEX_LEN + 1];
			d4_uuid_hex(t->hubs[i], hex);
			if (i)
				sb_str(b, ",");
			sb_jstr(b, hex, strlen(hex));
		}
		sb_str(b, "]");
	}
	(void)human;
	sb_str(b, "}\n");
}

/* The head of a DNSDB record, up to and excluding rdata. */
static void saf_head(struct d4_jw *b, const struct d4_store_pdns_tuple *t, int human, int with_bw)
{
	char tn[16];
	type_name(t->rrtype, tn);
	sb_str(b, "{\"obj\":{\"count\":");
	d4_jw_u64(b, t->count ? t->count : 1);
	sb_str(b, ",\"time_first\":");
	sb_time(b, t->time_first, human);
	sb_str(b, ",\"time_last\":");
	sb_time(b, t->time_last, human);
	sb_str(b, ",\"rrname\":");
	sb_jstr(b, t->rrname, t->rrname_len);
	sb_str(b, ",\"rrtype\":");
	sb_jstr(b, tn, strlen(tn));
	if (with_bw && t->bailiwick && t->bailiwick_len) {
		sb_str(b, ",\"bailiwick\":");
		sb_jstr(b, t->bailiwick, t->bailiwick_len);
	}
	sb_str(b, ",\"rdata\":");
}

static int count_cb(void *ctx, const struct d4_store_pdns_tuple *t)
{
	(void)ctx;
	(void)t;
	return 0;
}

/* ---- the producer --------------------------------------------------------------- */

_Static_assert(GROUPS <= 256, "order[] holds slot numbers in bytes");

struct pdns_prod {
	struct d4_api_producer super;
	struct d4_store *st;
	struct qspec *qs; /* owned */
	enum out_fmt fmt;
	uint32_t remaining; /* tuples still to return */
	int began, store_done, ended, limited;
	int prefill, prefill_full; /* writing a paged answer before its headers (prepare) */
	/* rrset grouping: tuples with the same owner, type, bailiwick, times
	 * and count (seen together, as far as the store can tell). The store
	 * returns one owner's tuples of one type together, but in rdata-hash
	 * or id order, so tuples of one rrset need not be adjacent: up to
	 * GROUPS objects of the current owner and type stay open and are
	 * written, in the order they were opened, when the owner or type
	 * changes (or one more is needed). A group keeps its slot of groups[]
	 * while open (a slot is over 1 KB: moving them cost more than the
	 * lookup itself); order[] holds the slot numbers, the open groups
	 * first in the order they were opened, then the free slots. */
	char gname[D4_PDNS_STORE_NAME_MAX + 2];
	size_t gnamelen;
	uint16_t gtype;
	unsigned ngroups;
	uint8_t order[GROUPS];
	struct pgroup {
		char bw[D4_PDNS_STORE_NAME_MAX + 2];
		size_t bwlen;
		uint64_t tf, tl, count;
		struct d4_jw buf; /* the open object, up to its last rdata */
	} groups[GROUPS];
	/* this call's output, then what did not fit */
	uint8_t *out;
	size_t cap, used;
	struct d4_jw pend;
	size_t pend_off;
	struct d4_jw line;
	int err;
};

static void sink(struct pdns_prod *x, const char *p, size_t n)
{
	if (!x->pend.len && x->used < x->cap) {
		size_t k = x->cap - x->used < n ? x->cap - x->used : n;
		memcpy(x->out + x->used, p, k);
		x->used += k;
		p += k;
		n -= k;
	}
	if (n)
		d4_jw_raw(&x->pend, p, n);
	if (x->pend.oom)
		x->err = D4_ENOMEM;
}

/* Writes the first k open groups and keeps the others open. */
static void group_flush_n(struct pdns_prod *x, unsigned k)
{
	if (k > x->ngroups)
		k = x->ngroups;
	if (!k)
		return;
	uint8_t done[GROUPS];
	for (unsigned i = 0; i < k; i++) {
		struct d4_jw *b = &x->groups[x->order[i]].buf;
		sb_str(b, "]}}\n");
		if (b->oom)
			x->err = D4_ENOMEM;
		else
			sink(x, b->p, b->len);
		b->len = 0;
		done[i] = x->order[i];
	}
	/* the still-open ones first, the written slots free after them */
	memmove(x->order, x->order + k, GROUPS - k);
	memcpy(x->order + GROUPS - k, done, k);
	x->ngroups -= k;
}

static void group_flush(struct pdns_prod *x)
{
	group_flush_n(x, x->ngroups);
}

/* The open group tuple t belongs to, or NULL. */
static struct pgroup *find_group(struct pdns_prod *x, const struct d4_store_pdns_tuple *t)
{
	size_t bwl = t->bailiwick ? t->bailiwick_len : 0;
	if (!x->ngroups || x->gtype != t->rrtype || x->gnamelen != t->rrname_len ||
	    memcmp(x->gname, t->rrname, t->rrname_len) != 0)
		return NULL;
	for (unsigned i = 0; i < x->ngroups; i++) {
		struct pgroup *g = &x->groups[x->order[i]];
		if (g->tf == t->time_first && g->tl == t->time_last && g->count == t->count && g->bwlen == bwl &&
		    (!bwl || memcmp(g->bw, t->bailiwick, bwl) == 0) && g->buf.len + t->rdata_len < GROUP_MAX)
			return g;
	}
	return NULL;
}

static int tuple_cb(void *ctx, const struct d4_store_pdns_tuple *t)
{
	struct pdns_prod *x = ctx;
	if (x->fmt == FMT_SAF_RRSET && x->qs->aggr) {
		struct pgroup *g = find_group(x, t);
		if (g) {
			d4_jw_raw(&g->buf, ",", 1);
			sb_jstr(&g->buf, t->rdata, t->rdata_len);
		} else {
			if (t->rrname_len >= sizeof(x->gname) ||
			    (t->bailiwick && t->bailiwick_len >= sizeof(x->groups[0].bw)))
				return D4_ECORRUPT;
			if (x->ngroups && (x->gtype != t->rrtype || x->gnamelen != t->rrname_len ||
					   memcmp(x->gname, t->rrname, t->rrname_len) != 0))
				group_flush(x); /* another owner or type */
			else if (x->ngroups == GROUPS)
				group_flush_n(x, 1); /* the oldest one */
			x->gtype = t->rrtype;
			memcpy(x->gname, t->rrname, t->rrname_len);
			x->gnamelen = t->rrname_len;
			g = &x->groups[x->order[x->ngroups++]];
			g->tf = t->time_first;
			g->tl = t->time_last;
			g->count = t->count;
			g->bwlen = t->bailiwick ? t->bailiwick_len : 0;
			if (g->bwlen)
				memcpy(g->bw, t->bailiwick, g->bwlen);
			g->buf.len = 0;
			saf_head(&g->buf, t, x->qs->human, 1);
			d4_jw_raw(&g->buf, "[", 1);
			sb_jstr(&g->buf, t->rdata, t->rdata_len);
		}
		if (g->buf.oom) /* the only group written to */
			return D4_ENOMEM;
	} else {
		x->line.len = 0;
		if (x->fmt == FMT_COF) {
			cof_line(&x->line, t, x->qs->human);
		} else {
			int rrset = x->fmt == FMT_SAF_RRSET;
			saf_head(&x->line, t, x->qs->human, rrset);
			if (rrset)
				d4_jw_raw(&x->line, "[", 1);
			sb_jstr(&x->line, t->rdata, t->rdata_len);
			sb_str(&x->line, rrset ? "]}}\n" : "}}\n");
		}
		if (x->line.oom)
			return D4_ENOMEM;
		sink(x, x->line.p, x->line.len);
	}
	if (x->err)
		return x->err;
	if (x->prefill) {
		if (x->pend.len <= PREFILL_MAX)
			return 0;
		x->prefill_full = 1; /* too large to hold: prepare counts instead */
		return 1;
	}
	/* stop once the chunk is (nearly) full: the store keeps the cursor */
	return x->pend.len || x->cap - x->used < CHUNK_MARGIN ? 1 : 0;
}

static void drain(struct pdns_prod *x)
{
	size_t k = x->pend.len - x->pend_off;
	if (k > x->cap - x->used)
		k = x->cap - x->used;
	memcpy(x->out + x->used, x->pend.p + x->pend_off, k);
	x->used += k;
	x->pend_off += k;
	if (x->pend_off == x->pend.len)
		x->pend_off = x->pend.len = 0;
}

static void terminal(struct pdns_prod *x)
{
	if (x->fmt == FMT_COF)
		return;
	if (!x->limited) {
		sink(x, "{\"cond\":\"succeeded\"}\n", 21);
		return;
	}
	struct d4_jw b = {0};
	char cur[CURSOR_TXT];
	int rc = cursor_seal(x->qs, x->qs->resume, x->qs->q.resume_len, cur);
	if (rc) {
		x->err = rc;
		return;
	}
	sb_str(&b, "{\"cond\":\"limited\",\"msg\":\"Result limit reached\",\"next_cursor\":");
	sb_jstr(&b, cur, strlen(cur));
	sb_str(&b, "}\n");
	if (b.oom)
		x->err = D4_ENOMEM;
	else
		sink(x, b.p, b.len);
	free(b.p);
}

static long prod_next(struct d4_api_producer *p, uint8_t *buf, size_t cap)
{
	struct pdns_prod *x = (struct pdns_prod *)p;
	x->out = buf;
	x->cap = cap;
	x->used = 0;
	if (x->pend.len) {
		drain(x);
		if (x->pend.len)
			return (long)x->used;
	}
	if (x->ended)
		return (long)x->used;
	if (!x->began) {
		x->began = 1;
		if (x->fmt != FMT_COF)
			sink(x, "{\"cond\":\"begin\"}\n", 17);
	}
	while (!x->store_done && !x->pend.len && x->cap - x->used >= CHUNK_MARGIN) {
		struct d4_store_pdns_qresult res;
		int rc;
		if (x->remaining) {
			x->qs->q.limit = x->remaining < BATCH ? x->remaining : BATCH;
			rc = d4_store_pdns_query(x->st, &x->qs->q, tuple_cb, x, &res);
			if (rc < 0)
				return rc;
			if (x->err)
				return x->err;
			if (res.returned) {
				memcpy(x->qs->resume, res.resume, res.resume_len);
				x->qs->q.resume = x->qs->resume;
				x->qs->q.resume_len = res.resume_len;
				x->remaining -= res.returned;
			}
			if (x->remaining && res.returned < x->qs->q.limit &&
			    !(x->pend.len || x->cap - x->used < CHUNK_MARGIN))
				x->store_done = 1; /* fewer than asked and not stopped by us: the end */
		}
		if (!x->remaining) {
			/* at the limit: is there more? (the last batch may have
			 * been stopped by a full chunk before the store could tell) */
			x->store_done = 1;
			x->qs->q.limit = 1;
			rc = d4_store_pdns_query(x->st, &x->qs->q, count_cb, NULL, &res);
			if (rc < 0)
				return rc;
			x->limited = res.returned > 0;
		}
	}
	if (x->store_done && !x->ended) {
		group_flush(x);
		terminal(x);
		x->ended = 1;
		if (x->err)
			return x->err;
	}
	return (long)x->used;
}

static void prod_free(struct d4_api_producer *p)
{
	struct pdns_prod *x = (struct pdns_prod *)p;
	for (unsigned i = 0; i < GROUPS; i++)
		free(x->groups[i].buf.p);
	free(x->pend.p);
	free(x->line.p);
	free(x->qs);
	free(x);
}

/* ---- shared steps of a lookup --------------------------------------------------- */

/* A paged answer's headers depend on what follows its last record, so its
 * records are looked up before the headers are sent. They are written then
 * too (into pend, as the producer would have written them, one pass instead
 * of a count and a second read); an answer larger than PREFILL_MAX is only
 * counted here and read again while streaming, as before. res as the
 * counting pass gives it. Returns 0 or a store error. */
static int prefill(struct pdns_prod *x, struct d4_store_pdns_qresult *res)
{
	struct qspec *qs = x->qs;
	if (x->fmt != FMT_COF)
		d4_jw_raw(&x->pend, "{\"cond\":\"begin\"}\n", 17);
	x->began = 1;
	x->prefill = 1;
	qs->q.limit = qs->limit;
	int rc = d4_store_pdns_query(x->st, &qs->q, tuple_cb, x, res);
	x->prefill = 0;
	if (rc >= 0 && !x->err && !x->prefill_full && !x->pend.oom) {
		if (res->returned) {
			memcpy(qs->resume, res->resume, res->resume_len);
			qs->q.resume = qs->resume;
			qs->q.resume_len = res->resume_len;
			x->remaining -= res->returned;
		}
		if (x->remaining && res->returned < qs->limit)
			x->store_done = 1; /* the end (the producer probes at the limit) */
		return 0;
	}
	/* too large to hold, or an error (which the count, or the streaming
	 * after it, then meets as before): count, then stream as before */
	x->pend.len = x->pend_off = 0;
	x->pend.oom = 0;
	for (unsigned i = 0; i < GROUPS; i++) {
		x->groups[i].buf.len = 0;
		x->groups[i].buf.oom = 0;
		x->order[i] = (uint8_t)i;
	}
	x->ngroups = 0;
	x->line.len = 0;
	x->line.oom = 0;
	x->err = 0;
	x->began = 0;
	x->prefill_full = 0;
	/* the query itself is as it was: the store only reads it */
	qs->q.limit = qs->limit;
	return d4_store_pdns_query(x->st, &qs->q, count_cb, NULL, res);
}

/* Applies offset (skips that many tuples: the resume cursor moves past
 * them) and, when paging, finds the next page's cursor for the header.
 * Returns 0, 1 (nothing left after the offset) or -1 (problem set). */
static int prepare(struct d4_api_ctx *ctx, struct d4_api_resp *resp, struct pdns_prod *x)
{
	struct qspec *qs = x->qs;
	struct d4_store_pdns_qresult res;
	int rc;
	if (qs->offset) {
		qs->q.limit = (uint32_t)qs->offset;
		rc = d4_store_pdns_query(ctx->store, &qs->q, count_cb, NULL, &res);
		if (rc < 0)
			goto err;
		if (res.returned < qs->offset)
			return 1;
		memcpy(qs->resume, res.resume, res.resume_len);
		qs->q.resume = qs->resume;
		qs->q.resume_len = res.resume_len;
	}
	if (qs->paging) {
		rc = prefill(x, &res);
		if (rc < 0)
			goto err;
		if (res.more && qs->dribble) {
			/* CIRCL's integer cursor: the tuples returned so far */
			char num[24];
			snprintf(num, sizeof(num), "%llu", (unsigned long long)(qs->offset + res.returned));
			d4_api_header(resp, "X-Dribble-Cursor", num);
		} else if (res.more) {
			char cur[CURSOR_TXT];
			if (cursor_seal(qs, res.resume, res.resume_len, cur)) {
				d4_h_internal(resp, "cannot seal the paging cursor");
				return -1;
			}
			d4_api_header(resp, "D4-Next-Cursor", cur);
		}
	}
	return 0;
err:
	if (rc == D4_EINVAL)
		d4_h_bad_param(resp, "query parameter 'cursor' does not belong to this query");
	else
		d4_h_store_error(resp, rc, "pdns");
	return -1;
}

/* Takes qs (freed here or by the producer). */
static void answer(struct d4_api_ctx *ctx, struct d4_api_resp *resp, struct qspec *qs, enum out_fmt fmt)
{
	struct pdns_prod *x = calloc(1, sizeof(*x));
	if (!x) {
		free(qs);
		d4_h_internal(resp, "out of memory");
		return;
	}
	x->qs = qs; /* its pointers point into itself */
	for (unsigned i = 0; i < GROUPS; i++)
		x->order[i] = (uint8_t)i;
	x->super.next = prod_next;
	x->super.free = prod_free;
	x->st = ctx->store;
	x->fmt = fmt;
	x->remaining = x->qs->limit;
	int rc = prepare(ctx, resp, x);
	if (rc < 0) {
		prod_free(&x->super);
		return;
	}
	if (rc == 1)
		x->store_done = 1; /* the offset is past the end */
	d4_api_stream(resp, 200, "application/x-ndjson", &x->super);
}

/* A fresh spec on the heap (it is large: the raw rdata buffer, which is
 * left as malloc gives it). */
static struct qspec *qspec_new(struct d4_api_resp *resp)
{
	struct qspec *qs = malloc(sizeof(*qs));
	if (!qs)
		d4_h_internal(resp, "out of memory");
	else
		memset(qs, 0, offsetof(struct qspec, raw));
	return qs;
}

/* ---- DNSDB v2 --------------------------------------------------------------------- */

enum dnsdb_kind { DK_RRSET_NAME, DK_RDATA_NAME, DK_RDATA_IP, DK_RDATA_RAW };

/* Path parameters: value [, rrtype [, bailiwick]]. */
static int dnsdb_plan(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp, enum dnsdb_kind k,
		      struct qspec *qs, int summarize)
{
	if (parse_params(ctx, req, resp, qs, summarize))
		return -1;
	const char *v = req->nparams ? req->params[0] : "";
	int rc;
	switch (k) {
	case DK_RRSET_NAME: rc = parse_name(resp, v, 0, qs); break;
	case DK_RDATA_NAME: rc = parse_name(resp, v, 1, qs); break;
	case DK_RDATA_IP: rc = parse_ip(resp, v, qs); break;
	default: rc = parse_raw(resp, v, qs); break;
	}
	if (rc)
		return -1;
	if (req->nparams > 1) {
		if (d4_api_query(req, "rrtype")) {
			d4_h_bad_param(resp, "rrtype given both in the path and as a query parameter");
			return -1;
		}
		if (parse_rrtype(resp, req->params[1], qs))
			return -1;
	}
	if (req->nparams > 2 && parse_bailiwick(resp, req->params[2], qs))
		return -1;
	if (k == DK_RDATA_RAW && raw_to_text(resp, qs))
		return -1;
	qs->surface = summarize ? SURF_SUMMARIZE : SURF_LOOKUP;
	return cursor_open(resp, qs);
}

static void dnsdb_lookup(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp,
			 enum dnsdb_kind k)
{
	struct qspec *qs = qspec_new(resp);
	if (!qs)
		return;
	if (dnsdb_plan(ctx, req, resp, k, qs, 0) == 0)
		answer(ctx, resp, qs, k == DK_RRSET_NAME ? FMT_SAF_RRSET : FMT_SAF_RDATA); /* takes qs */
	else
		free(qs);
}

struct sum_ctx {
	uint64_t n, tf, tl, count, max_count;
};

static int sum_cb(void *ctx, const struct d4_store_pdns_tuple *t)
{
	struct sum_ctx *s = ctx;
	s->n++;
	if (!s->tf || t->time_first < s->tf)
		s->tf = t->time_first;
	if (t->time_last > s->tl)
		s->tl = t->time_last;
	s->count += t->count ? t->count : 1;
	return s->max_count && s->count >= s->max_count ? 1 : 0;
}

static void dnsdb_summarize(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp,
			    enum dnsdb_kind k)
{
	struct qspec *qs = qspec_new(resp);
	if (!qs)
		return;
	if (dnsdb_plan(ctx, req, resp, k, qs, 1)) {
		free(qs);
		return;
	}
	struct sum_ctx s = {.max_count = qs->max_count};
	struct d4_store_pdns_qresult res = {0};
	int rc = 0;
	if (qs->offset) {
		qs->q.limit = (uint32_t)qs->offset;
		rc = d4_store_pdns_query(ctx->store, &qs->q, count_cb, NULL, &res);
		if (rc == 0 && res.returned == qs->offset) {
			memcpy(qs->resume, res.resume, res.resume_len);
			qs->q.resume = qs->resume;
			qs->q.resume_len = res.resume_len;
		} else if (rc == 0) {
			qs->limit = 0; /* nothing after the offset */
		}
	}
	memset(&res, 0, sizeof(res));
	if (rc == 0 && qs->limit) {
		/* summarize is bounded like a lookup: at most limit tuples */
		qs->q.limit = qs->limit;
		rc = d4_store_pdns_query(ctx->store, &qs->q, sum_cb, &s, &res);
	}
	if (rc < 0) {
		if (rc == D4_EINVAL)
			d4_h_bad_param(resp, "query parameter 'cursor' does not belong to this query");
		else
			d4_h_store_error(resp, rc, "pdns");
		free(qs);
		return;
	}
	struct d4_jw b = {0};
	sb_str(&b, "{\"cond\":\"begin\"}\n");
	if (s.n) {
		sb_str(&b, "{\"obj\":{\"count\":");
		d4_jw_u64(&b, s.count);
		sb_str(&b, ",\"num_results\":");
		d4_jw_u64(&b, s.n);
		sb_str(&b, ",\"time_first\":");
		sb_time(&b, s.tf, qs->human);
		sb_str(&b, ",\"time_last\":");
		sb_time(&b, s.tl, qs->human);
		sb_str(&b, "}}\n");
	}
	if (res.more || (s.max_count && s.count >= s.max_count))
		sb_str(&b, "{\"cond\":\"limited\",\"msg\":\"Result limit reached\"}\n");
	else
		sb_str(&b, "{\"cond\":\"succeeded\"}\n");
	if (b.oom)
		d4_h_internal(resp, "out of memory");
	else
		d4_api_body(resp, 200, "application/x-ndjson", b.p, b.len);
	free(b.p);
	free(qs);
}

void d4_h_dnsdb_lookup_rrset_name(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	dnsdb_lookup(ctx, req, resp, DK_RRSET_NAME);
}
void d4_h_dnsdb_lookup_rdata_name(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	dnsdb_lookup(ctx, req, resp, DK_RDATA_NAME);
}
void d4_h_dnsdb_lookup_rdata_ip(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	dnsdb_lookup(ctx, req, resp, DK_RDATA_IP);
}
void d4_h_dnsdb_lookup_rdata_raw(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	dnsdb_lookup(ctx, req, resp, DK_RDATA_RAW);
}
void d4_h_dnsdb_summarize_rrset_name(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	dnsdb_summarize(ctx, req, resp, DK_RRSET_NAME);
}
void d4_h_dnsdb_summarize_rdata_name(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	dnsdb_summarize(ctx, req, resp, DK_RDATA_NAME);
}
void d4_h_dnsdb_summarize_rdata_ip(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	dnsdb_summarize(ctx, req, resp, DK_RDATA_IP);
}
void d4_h_dnsdb_summarize_rdata_raw(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	dnsdb_summarize(ctx, req, resp, DK_RDATA_RAW);
}

static const char *const client_query[] = {"swclient", "version", "id", NULL};

void d4_h_dnsdb_rate_limit(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	if (d4_h_query_only(req, resp, client_query))
		return;
	/* no quota: DNSDB's words for that, and the real caps; dnsdbq reads
	 * the answer line by line, so the newline matters */
	char body[256];
	unsigned cap = max_results(ctx);
	int n =
	    snprintf(body, sizeof(body),
		     "{\"rate\":{\"reset\":\"n/a\",\"limit\":\"unlimited\",\"remaining\":\"n/a\",\"results_max\":%u,"
		     "\"offset_max\":%u}}\n",
		     cap, cap);
	d4_api_body(resp, 200, "application/json", body, (size_t)n);
}

void d4_h_dnsdb_ping(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	(void)ctx;
	if (d4_h_query_only(req, resp, client_query))
		return;
	static const char body[] = "{\"ping\":\"ok\"}\n";
	d4_api_body(resp, 200, "application/json", body, sizeof(body) - 1);
}

/* ---- CIRCL ------------------------------------------------------------------------- */

/* Whether q is meant as an address, CIDR or range rather than a name: it
 * holds a ':' (no name does), or only digits and ". , / -" (no host name is
 * all digits: top-level domains are never numeric). Such a q must then
 * parse as one (d4_store_pdns_parse_ip, the parser of
 * /dnsdb/v2/lookup/rdata/ip) or is refused; it never falls back to a name
 * lookup that would answer an empty 200. */
static int looks_like_address(const char *v)
{
	if (strchr(v, ':'))
		return 1;
	int digit = 0;
	for (const char *p = v; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digit = 1;
		else if (!strchr("./,-", *p))
			return 0;
	}
	return digit;
}

/* A CIRCL header's decimal value in [0, max]: 0, or -1 with a problem set. */
static int dribble_uint(struct d4_api_resp *resp, const char *h, const char *v, uint64_t max, uint64_t *out)
{
	int64_t n;
	if (parse_i64(v, &n) || n < 0 || (uint64_t)n > max) {
		d4_h_bad_param(resp, "header '%s' must be a decimal number from 0 to %llu", h, (unsigned long long)max);
		return -1;
	}
	*out = (uint64_t)n;
	return 0;
}

/* CIRCL's request headers as PyPDNS sends them (docs/pdns.md, "CIRCL
 * clients"): dribble-filter-rrtype, and the paging pair
 * dribble-paginate-count (page size) / dribble-paginate-cursor (the
 * X-Dribble-Cursor of the previous page: tuples already returned). Without
 * paging headers and without 'limit' the answer is the whole result,
 * streamed: a CIRCL answer is never cut without a sign. */
static int circl_headers(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp,
			 struct qspec *qs)
{
	if (req->dribble_rrtype) {
		uint16_t t;
		const char *v = req->dribble_rrtype;
		if (qs->q.rrtype || d4_pdns_type_parse(v, strlen(v), &t) || t == 0) {
			d4_h_bad_param(resp,
				       "header 'dribble-filter-rrtype': bad rrtype '%.40s', or rrtype given twice", v);
			return -1;
		}
		qs->q.rrtype = t;
	}
	if (!req->dribble_count && !req->dribble_cursor) {
		if (!d4_api_query(req, "limit"))
			qs->limit = UINT32_MAX; /* everything, streamed with backpressure */
		return 0;
	}
	if (d4_api_query(req, "limit") || d4_api_query(req, "offset") || d4_api_query(req, "cursor")) {
		d4_h_bad_param(resp, "the dribble-paginate-* headers and the limit, offset and cursor parameters "
				     "exclude each other");
		return -1;
	}
	uint32_t cap = max_results(ctx);
	uint64_t n = 0, at = 0;
	if (req->dribble_count && dribble_uint(resp, "dribble-paginate-count", req->dribble_count, UINT32_MAX, &n))
		return -1;
	if (req->dribble_cursor && dribble_uint(resp, "dribble-paginate-cursor", req->dribble_cursor, UINT32_MAX, &at))
		return -1;
	qs->limit = n == 0 || n > cap ? cap : (uint32_t)n;
	qs->offset = at;
	qs->dribble = 1;
	qs->paging = 1;
	return 0;
}

/* An address, CIDR or range: rdata IP lookup; anything else an owner name
 * (exact or with a wildcard), as CIRCL's server answers /query/{q}. */
void d4_h_pdns_query(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	struct qspec *qs = qspec_new(resp);
	if (!qs)
		return;
	const char *v = req->nparams ? req->params[0] : "";
	if (parse_params(ctx, req, resp, qs, 0) || circl_headers(ctx, req, resp, qs))
		goto out;
	if (looks_like_address(v)) {
		if (parse_ip(resp, v, qs))
			goto out;
		qs->is_ip = 1;
	} else if (parse_name(resp, v, 0, qs)) {
		goto out;
	}
	qs->surface = SURF_CIRCL;
	if (cursor_open(resp, qs))
		goto out;
	answer(ctx, resp, qs, FMT_COF); /* takes qs */
	return;
out:
	free(qs);
}

/* Per-sensor pDNS counters (store totals) as one array item each. */
static int info_sensor(void *arg, const struct d4_store_pdns_counters *c)
{
	yajl_gen g = arg;
	char hex[33];
	d4_hex_encode(c->sensor, 16, hex);
	yajl_gen_map_open(g);
	d4_api_j_kv_str(g, "uuid", hex);
	d4_api_j_kv_u64(g, "observations", c->observations);
	d4_api_j_kv_u64(g, "bad_lines", c->bad_lines);
	d4_api_j_kv_u64(g, "bad_packets", c->bad_packets);
	yajl_gen_map_close(g);
	return 0;
}

void d4_h_pdns_info(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	if (d4_h_query_only(req, resp, NULL))
		return;
	struct d4_store_pdns_info in;
	int rc = d4_store_pdns_info(ctx->store, &in);
	if (rc < 0) {
		d4_h_store_error(resp, rc, "pdns");
		return;
	}
	yajl_gen g = d4_api_json_begin(resp, 200);
	if (!g)
		return;
	yajl_gen_map_open(g);
	d4_api_j_kv_str(g, "software", "d4hub");
	d4_api_j_kv_str(g, "version", D4HUB_VERSION);
	d4_api_j_kv_u64(g, "tuples", in.tuples);
	d4_api_j_kv_u64(g, "bytes", in.bytes);
	d4_api_j_kv_u64(g, "max_results", max_results(ctx));
	d4_api_j_kv_str(g, "max_tlp", d4_policy_tlp_name((enum d4_tlp)clearance(ctx, req)));
	/* What the ingest skipped and why, so that an analyst can tell "no
	 * answer" from "the sensor's data did not parse". */
	struct d4_analyze_pdns_stats ps;
	int running = d4_analyze_pdns_stats_global(&ps) == D4_OK;
	d4_api_j_key(g, "ingest");
	yajl_gen_map_open(g);
	d4_api_j_kv_bool(g, "running", running);
	if (running) {
		d4_api_j_kv_u64(g, "frames_read", ps.frames);
		d4_api_j_kv_u64(g, "observations", ps.observations);
		d4_api_j_kv_u64(g, "bad_lines", ps.bad_lines);
		d4_api_j_kv_u64(g, "bad_packets", ps.bad_packets);
		d4_api_j_kv_u64(g, "frames_lost", ps.frames_lost);
		d4_api_j_kv_u64(g, "lag_frames", ps.lag);
	}
	yajl_gen_map_close(g);
	d4_api_j_key(g, "sensors");
	yajl_gen_array_open(g);
	rc = d4_store_pdns_counters_foreach(ctx->store, info_sensor, g);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	if (rc < 0)
		d4_warn("pdns info: per-sensor counters: %s", d4_strerror(rc));
}
