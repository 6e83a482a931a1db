/* d4hub API — passive SSL (docs/passivessl.md "API"): the CIRCL-compatible
 * lookups (/v2pssl/query, cquery, cfetch: the shapes PyPSSL and the
 * analyzers built on it parse) and the hub's own pivots over handshake
 * tuples, certificates and JA3/JA3S fingerprints.
 *
 * TLP: exactly the pDNS and backscatter rule. The caller's clearance
 * (api/clearance.c) goes to the store with every query, which skips what is
 * above it before it counts, pages or answers; a single row above it is a
 * 404 with the text of a row that does not exist.
 *
 * The store's read callbacks run inside its read transaction: they copy what
 * they need and never call the store again (a second read transaction on
 * the same thread is not allowed); lookups that depend on a result (the
 * subjects of the certificates of a query) run after it returns. */
#include "api_core.h"
#include "api_pssl.h"
#include "d4_error.h"
#include "d4_policy.h"
#include "d4_store_pssl.h"
#include "d4_util.h"
#include "handlers.h"
#include "json_writer.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V2_MAX_SPAN    512u    /* addresses of one /v2pssl/query (CIRCL: /23) */
#define V2_MAX_TUPLES  10000u  /* tuples of one /v2pssl/query */
#define V2_MAX_CQUERY  100000u /* tuples read by one /v2pssl/cquery */
#define DETAIL_TUPLES  100u    /* tuples listed in a certificate's detail */
#define NAME_TEXT      2048u   /* one subject in CIRCL's order */
#define PROBLEM_BASE_S "https://d4hub.invalid/problems/"

/* ---- small writers ----------------------------------------------------------- */

static void jw_str(struct d4_jw *b, const char *s)
{
	d4_jw_raw(b, s, strlen(s));
}

static void jw_hex(struct d4_jw *b, const uint8_t *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	char *o = d4_jw_room(b, 2 * n + 2);
	if (!o)
		return;
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		*o++ = hx[p[i] >> 4];
		*o++ = hx[p[i] & 15];
	}
	*o++ = '"';
	b->len += 2 * n + 2;
}

static void jw_uuid(struct d4_jw *b, const uint8_t u[16])
{
	jw_hex(b, u, 16);
}

static void jw_bool(struct d4_jw *b, int v)
{
	if (v)
		D4_JW_LIT(b, "true");
	else
		D4_JW_LIT(b, "false");
}

static void jw_addr(struct d4_jw *b, const uint8_t a[16])
{
	char t[64];
	d4_jw_text(b, d4_h_addr_text(a, t, sizeof(t)));
}

static int zero16(const uint8_t *a)
{
	static const uint8_t z[16];
	return memcmp(a, z, 16) == 0;
}

/* A signed Unix time as ISO-8601 UTC ("Z", or "+00:00" for CIRCL's shape);
 * the years of certificates (0000-9999) without time_t or timegm. */
static void iso_time(int64_t t, int circl, char out[96])
{
	int64_t days = t / 86400, rem = t % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	/* civil from days (H. Hinnant's algorithm) */
	int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	snprintf(out, 96, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld%s", (long long)y, (long long)m, (long long)d,
		 (long long)(rem / 3600), (long long)(rem / 60 % 60), (long long)(rem % 60), circl ? "+00:00" : "Z");
}

static void jw_iso(struct d4_jw *b, int64_t t, int valid)
{
	char s[96];
	if (!valid) {
		D4_JW_LIT(b, "null");
		return;
	}
	iso_time(t, 0, s);
	d4_jw_text(b, s);
}

static const char *key_type_name(uint8_t t)
{
	static const char *const n[] = {"other", "rsa", "ec", "ed25519", "dsa"};
	return t < 5 ? n[t] : "other";
}

static const char *tlp_name(uint8_t t)
{
	return d4_policy_tlp_name((enum d4_tlp)t);
}

/* A problem of the CIRCL-compatible operations: the usual problem+json
 * with the text once more as "error", the member PyPSSL-based clients
 * check. */
static void v2_problem(struct d4_api_resp *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void v2_problem(struct d4_api_resp *resp, int status, const char *fmt, ...)
{
	char detail[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	for (char *p = detail; *p; p++)
		if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
			*p = '?';
	struct d4_jw b;
	d4_jw_init(&b);
	D4_JW_LIT(&b, "{\"type\":\"" PROBLEM_BASE_S);
	jw_str(&b, status == 404 ? "not-found\",\"title\":\"Not Found\""
				 : "invalid-parameter\",\"title\":\"Invalid Parameter\"");
	D4_JW_LIT(&b, ",\"status\":");
	d4_jw_u64(&b, (uint64_t)status);
	D4_JW_LIT(&b, ",\"detail\":");
	d4_jw_text(&b, detail);
	D4_JW_LIT(&b, ",\"error\":");
	d4_jw_text(&b, detail);
	D4_JW_LIT(&b, "}");
	if (b.oom)
		d4_h_internal(resp, "out of memory");
	else
		d4_api_body(resp, status, "application/problem+json", b.p, b.len);
	d4_jw_free(&b);
}

/* The CIRCL operations take no query parameter: any is refused, in their
 * problem form. 0 or -1 (problem set). */
static int v2_no_query(const struct d4_api_req *req, struct d4_api_resp *resp)
{
	if (!req->nquery)
		return 0;
	v2_problem(resp, 400, "unknown query parameter '%.40s'", req->qname[0] ? req->qname[0] : "");
	return -1;
}

/* A certificate SHA-1 in the path: 40 hex digits, either case. */
static int path_sha1(const struct d4_api_req *req, unsigned idx, uint8_t out[20])
{
	const char *s = req->nparams > idx ? req->params[idx] : "";
	return d4_api_pssl_hex(s, out, 20);
}

/* ---- one tuple, one certificate -------------------------------------------------- */

static void tuple_json(struct d4_jw *b, const struct d4_store_pssl_tuple *t)
{
	int chr = t->tlp == D4_TLP_EX_CHR;
	D4_JW_LIT(b, "{\"id\":");
	d4_jw_u64(b, t->id);
	D4_JW_LIT(b, ",\"server_ip\":");
	jw_addr(b, t->server_ip);
	D4_JW_LIT(b, ",\"server_port\":");
	d4_jw_u64(b, t->server_port);
	D4_JW_LIT(b, ",\"sni\":");
	d4_jw_text(b, t->sni);
	D4_JW_LIT(b, ",\"sni_cut\":");
	jw_bool(b, t->sni_cut);
	D4_JW_LIT(b, ",\"ja3\":");
	if (t->has_ja3)
		jw_hex(b, t->ja3_md5, 16);
	else
		D4_JW_LIT(b, "null");
	D4_JW_LIT(b, ",\"ja3s\":");
	if (t->has_ja3s)
		jw_hex(b, t->ja3s_md5, 16);
	else
		D4_JW_LIT(b, "null");
	D4_JW_LIT(b, ",\"ja4\":");
	d4_jw_text(b, t->ja4);
	D4_JW_LIT(b, ",\"cert\":");
	if (t->has_cert)
		jw_hex(b, t->cert, 20);
	else
		D4_JW_LIT(b, "null");
	D4_JW_LIT(b, ",\"chain\":[");
	for (unsigned i = 0; i < t->n_chain && i < D4_PSSL_CHAIN_MAX; i++) {
		if (i)
			D4_JW_LIT(b, ",");
		jw_hex(b, t->chain[i], 20);
	}
	D4_JW_LIT(b, "],\"first_seen\":");
	d4_jw_time(b, t->time_first);
	D4_JW_LIT(b, ",\"last_seen\":");
	d4_jw_time(b, t->time_last);
	D4_JW_LIT(b, ",\"count\":");
	d4_jw_u64(b, t->count);
	D4_JW_LIT(b, ",\"tlp\":");
	d4_jw_text(b, tlp_name(t->tlp));
	/* tlp:ex:chr: the content without its source */
	D4_JW_LIT(b, ",\"org\":");
	if (chr || zero16(t->org))
		D4_JW_LIT(b, "null");
	else
		jw_uuid(b, t->org);
	D4_JW_LIT(b, ",\"org_mixed\":");
	jw_bool(b, !chr && t->org_mixed);
	D4_JW_LIT(b, ",\"sensors\":[");
	for (unsigned i = 0; !chr && i < t->nsensors && i < D4_PSSL_SENSORS_KEEP; i++) {
		if (i)
			D4_JW_LIT(b, ",");
		jw_uuid(b, t->sensors[i]);
	}
	D4_JW_LIT(b, "],\"sensor_count\":");
	d4_jw_u64(b, chr ? 0 : t->sensor_count);
	D4_JW_LIT(b, ",\"hubs\":[");
	for (unsigned i = 0; !chr && i < t->nhubs && i < D4_PSSL_HUBS_KEEP; i++) {
		if (i)
			D4_JW_LIT(b, ",");
		jw_uuid(b, t->hubs[i]);
	}
	D4_JW_LIT(b, "]}");
}

/* The members of PsslCert, without the braces. */
static void cert_fields(struct d4_jw *b, const struct d4_store_pssl_cert *c)
{
	int p = c->parsed != 0;
	D4_JW_LIT(b, "\"sha1\":");
	jw_hex(b, c->sha1, 20);
	D4_JW_LIT(b, ",\"sha256\":");
	jw_hex(b, c->sha256, 32);
	D4_JW_LIT(b, ",\"spki_sha256\":");
	if (p)
		jw_hex(b, c->spki_sha256, 32);
	else
		D4_JW_LIT(b, "null");
	D4_JW_LIT(b, ",\"parsed\":");
	jw_bool(b, p);
	D4_JW_LIT(b, ",\"subject\":");
	d4_jw_text(b, p ? c->subject : NULL);
	D4_JW_LIT(b, ",\"issuer\":");
	d4_jw_text(b, p ? c->issuer : NULL);
	D4_JW_LIT(b, ",\"cn\":");
	d4_jw_text(b, p ? c->cn : NULL);
	D4_JW_LIT(b, ",\"san\":[");
	for (size_t i = 0; p && c->san && i < c->n_san && i < D4_PSSL_SAN_MAX; i++) {
		const struct d4_store_pssl_san *s = &c->san[i];
		char v[D4_PSSL_SAN_LEN + 1];
		if (i)
			D4_JW_LIT(b, ",");
		if (s->type == 2 && (s->len == 4 || s->len == 16)) {
			uint8_t a[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
			memcpy(s->len == 4 ? a + 12 : a, s->value, s->len);
			D4_JW_LIT(b, "{\"type\":\"ip\",\"value\":");
			jw_addr(b, a);
		} else {
			size_t n = s->len < D4_PSSL_SAN_LEN ? s->len : D4_PSSL_SAN_LEN;
			memcpy(v, s->value, n);
			v[n] = '\0';
			D4_JW_LIT(b, "{\"type\":\"dns\",\"value\":");
			d4_jw_text(b, v);
		}
		D4_JW_LIT(b, "}");
	}
	D4_JW_LIT(b, "],\"not_before\":");
	jw_iso(b, c->not_before, p && !(c->x509_flags & (1u << 9)));
	D4_JW_LIT(b, ",\"not_after\":");
	jw_iso(b, c->not_after, p && !(c->x509_flags & (1u << 10)));
	D4_JW_LIT(b, ",\"serial\":");
	d4_jw_text(b, p ? c->serial : NULL);
	D4_JW_LIT(b, ",\"key_type\":");
	d4_jw_text(b, p ? key_type_name(c->key_type) : NULL);
	D4_JW_LIT(b, ",\"key_bits\":");
	d4_jw_u64(b, p ? c->key_bits : 0);
	D4_JW_LIT(b, ",\"curve\":");
	d4_jw_text(b, p && c->curve && c->curve[0] ? c->curve : NULL);
	D4_JW_LIT(b, ",\"is_ca\":");
	jw_bool(b, p && c->is_ca);
	D4_JW_LIT(b, ",\"key_id\":");
	if (c->key_id)
		d4_jw_u64(b, c->key_id);
	else
		D4_JW_LIT(b, "null");
	D4_JW_LIT(b, ",\"first_seen\":");
	d4_jw_time(b, c->first_seen);
	D4_JW_LIT(b, ",\"last_seen\":");
	d4_jw_time(b, c->last_seen);
	D4_JW_LIT(b, ",\"count\":");
	d4_jw_u64(b, c->count);
	D4_JW_LIT(b, ",\"tlp\":");
	d4_jw_text(b, tlp_name(c->tlp));
}

/* ---- the paged lists ------------------------------------------------------------- */

struct page {
	struct d4_jw b;
	uint32_t n;
};

static int tuple_page_cb(void *ctx, const struct d4_store_pssl_tuple *t)
{
	struct page *pg = ctx;
	if (pg->n++)
		D4_JW_LIT(&pg->b, ",");
	tuple_json(&pg->b, t);
	return pg->b.oom ? D4_ENOMEM : 0;
}

static int cert_page_cb(void *ctx, const struct d4_store_pssl_cert *c)
{
	struct page *pg = ctx;
	if (pg->n++)
		D4_JW_LIT(&pg->b, ",");
	D4_JW_LIT(&pg->b, "{");
	cert_fields(&pg->b, c);
	D4_JW_LIT(&pg->b, "}");
	return pg->b.oom ? D4_ENOMEM : 0;
}

/* One page in one read transaction: the rows and the next cursor come from
 * the same snapshot. */
static void list(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp,
		 enum d4_api_pssl_what what)
{
	struct d4_api_pssl_params *p = calloc(1, sizeof(*p));
	if (!p) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	char err[320];
	uint8_t clr = (uint8_t)d4_api_clearance(ctx, req);
	if (d4_api_pssl_parse(what, req->qname, req->qvalue, req->nquery, clr, d4_now_s(), p, err, sizeof(err))) {
		d4_h_bad_param(resp, "%s", err);
		free(p);
		return;
	}
	d4_api_clearance_header(resp, (enum d4_tlp)clr);
	struct page pg = {.n = 0};
	struct d4_store_pssl_qresult res;
	memset(&res, 0, sizeof(res));
	d4_jw_init(&pg.b);
	D4_JW_LIT(&pg.b, "{\"items\":[");
	int rc = what == D4_API_PSSL_TUPLES ? d4_store_pssl_query(ctx->store, &p->q, tuple_page_cb, &pg, &res)
					    : d4_store_pssl_query_certs(ctx->store, &p->q, cert_page_cb, &pg, &res);
	if (rc < 0) {
		if (rc == D4_ENOMEM)
			d4_h_internal(resp, "out of memory");
		else if (rc == D4_EINVAL && p->q.resume)
			d4_h_bad_param(resp, "query parameter 'cursor' does not belong to this query");
		else
			d4_h_store_error(resp, rc, what == D4_API_PSSL_TUPLES ? "handshake tuples" : "certificates");
		goto out;
	}
	char cur[D4_API_PSSL_CURSOR_TEXT];
	int has_next = res.more && res.returned > 0 && res.resume_len > 0;
	if (has_next && d4_api_pssl_cursor_seal(p, res.resume, res.resume_len, cur) != 0) {
		d4_h_internal(resp, "no key for the paging cursors");
		goto out;
	}
	D4_JW_LIT(&pg.b, "],\"next_cursor\":");
	if (has_next) {
		d4_api_header(resp, "D4-Next-Cursor", cur);
		d4_jw_text(&pg.b, cur);
	} else {
		D4_JW_LIT(&pg.b, "null");
	}
	D4_JW_LIT(&pg.b, "}");
	if (pg.b.oom)
		d4_h_internal(resp, "out of memory");
	else
		d4_api_body(resp, 200, "application/json", pg.b.p, pg.b.len);
out:
	d4_jw_free(&pg.b);
	free(p);
}

void d4_h_pssl_list_tuples(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	list(ctx, req, resp, D4_API_PSSL_TUPLES);
}

void d4_h_pssl_list_certs(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	list(ctx, req, resp, D4_API_PSSL_CERTS);
}

/* ---- subjects and issuers of certificates, looked up after a query ---------------- */

struct names {
	uint8_t sha1[20];
	int found;
	char *subject, *issuer; /* CIRCL's order (oneline) or as stored */
};

struct names_cb {
	struct names *nm;
	int oneline;
};

static int names_cb(void *ctx, const struct d4_store_pssl_cert *c)
{
	struct names_cb *x = ctx;
	char buf[NAME_TEXT];
	x->nm->found = 1;
	if (!c->parsed)
		return 0;
	if (x->oneline) {
		d4_api_pssl_name_oneline(c->subject, buf, sizeof(buf));
		x->nm->subject = strdup(buf);
		d4_api_pssl_name_oneline(c->issuer, buf, sizeof(buf));
		x->nm->issuer = strdup(buf);
	} else {
		x->nm->subject = strdup(c->subject ? c->subject : "");
		x->nm->issuer = strdup(c->issuer ? c->issuer : "");
	}
	return x->nm->subject && x->nm->issuer ? 0 : D4_ENOMEM;
}

/* Fills nm[i] for each distinct sha1 (one read transaction each). 0 or a
 * store error other than "not found / not visible". */
static int names_lookup(struct d4_store *st, uint8_t clr, struct names *nm, size_t n, int oneline)
{
	for (size_t i = 0; i < n; i++) {
		struct names_cb x = {.nm = &nm[i], .oneline = oneline};
		int rc = d4_store_pssl_cert_get(st, nm[i].sha1, clr, names_cb, &x);
		if (rc < 0 && rc != D4_ENOTFOUND)
			return rc;
	}
	return 0;
}

static void names_free(struct names *nm, size_t n)
{
	for (size_t i = 0; nm && i < n; i++) {
		free(nm[i].subject);
		free(nm[i].issuer);
	}
	free(nm);
}

static int cmp_sha1(const void *a, const void *b)
{
	return memcmp(a, b, 20);
}

/* ---- /v2pssl/query/{ip}[/{len}] ---------------------------------------------------- */

struct v2row {
	uint8_t ip[16];
	uint8_t sha1[20];
	uint32_t pos;
};

struct v2q {
	struct v2row *rows;
	size_t n, cap;
	uint32_t tuples;
	int oom;
};

static int v2q_cb(void *ctx, const struct d4_store_pssl_tuple *t)
{
	struct v2q *x = ctx;
	if (++x->tuples > V2_MAX_TUPLES)
		return 1;
	unsigned nc = t->n_chain < D4_PSSL_CHAIN_MAX ? t->n_chain : D4_PSSL_CHAIN_MAX;
	const uint8_t(*certs)[20] = t->chain;
	if (nc == 0 && t->has_cert) {
		nc = 1;
		certs = &t->cert;
	}
	for (unsigned i = 0; i < nc; i++) {
		if (x->n == x->cap) {
			size_t ncap = x->cap ? 2 * x->cap : 256;
			struct v2row *r = realloc(x->rows, ncap * sizeof(*r));
			if (!r) {
				x->oom = 1;
				return D4_ENOMEM;
			}
			x->rows = r;
			x->cap = ncap;
		}
		struct v2row *r = &x->rows[x->n];
		memcpy(r->ip, t->server_ip, 16);
		memcpy(r->sha1, certs[i], 20);
		r->pos = (uint32_t)x->n;
		x->n++;
	}
	return 0;
}

/* (ip, sha1, pos): the first sighting of a certificate on an address first */
static int v2row_cmp(const void *a, const void *b)
{
	const struct v2row *x = a, *y = b;
	int c = memcmp(x->ip, y->ip, 16);
	if (!c)
		c = memcmp(x->sha1, y->sha1, 20);
	return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

static int v2row_pos(const void *a, const void *b)
{
	const struct v2row *x = a, *y = b;
	return (x->pos > y->pos) - (x->pos < y->pos);
}

static void v2_query(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	if (v2_no_query(req, resp))
		return;
	char text[160];
	const char *q = req->nparams ? req->params[0] : "";
	if (req->nparams > 1) {
		const char *len = req->params[1];
		if (strchr(q, '/') || !*len || strspn(len, "0123456789") != strlen(len) || strlen(len) > 3) {
			v2_problem(resp, 400, "Incorrect format: an address, or a network ADDR/LEN");
			return;
		}
		snprintf(text, sizeof(text), "%.100s/%s", q, len);
	} else {
		snprintf(text, sizeof(text), "%.100s", q);
	}
	uint8_t lo[16], hi[16];
	if (strlen(q) > 100 || d4_api_pssl_parse_ip(text, strlen(text), 0, lo, hi)) {
		v2_problem(resp, 400, "Incorrect format: an IPv4 or IPv6 address, or a network ADDR/LEN");
		return;
	}
	if (d4_api_pssl_span(lo, hi) > V2_MAX_SPAN) {
		v2_problem(resp, 400,
			   "Maximum CIDR block size reached: at most 512 addresses (IPv4 /23, IPv6 /119); "
			   "/api/v1/pssl/tuples?ip= pages through any network");
		return;
	}
	enum d4_tlp clr = d4_api_clearance(ctx, req);
	d4_api_clearance_header(resp, clr);
	struct d4_store_pssl_query sq;
	memset(&sq, 0, sizeof(sq));
	sq.by = D4_PSSL_BY_IP;
	memcpy(sq.ip_lo, lo, 16);
	memcpy(sq.ip_hi, hi, 16);
	sq.max_tlp = (uint8_t)clr;
	sq.limit = V2_MAX_TUPLES + 1;
	struct v2q x = {0};
	struct d4_store_pssl_qresult res;
	struct names *nm = NULL;
	size_t nn = 0;
	struct d4_jw b;
	d4_jw_init(&b);
	int rc = d4_store_pssl_query(ctx->store, &sq, v2q_cb, &x, &res);
	if (rc < 0 || x.oom) {
		if (x.oom || rc == D4_ENOMEM)
			d4_h_internal(resp, "out of memory");
		else
			d4_h_store_error(resp, rc, "handshake tuples");
		goto out;
	}
	if (x.tuples > V2_MAX_TUPLES) {
		d4_h_unprocessable(resp,
				   "more than %u handshake tuples in %s: page through /api/v1/pssl/tuples?ip=%s "
				   "instead",
				   V2_MAX_TUPLES, text, text);
		goto out;
	}
	/* each certificate once per address, at its first sighting */
	if (x.n)
		qsort(x.rows, x.n, sizeof(*x.rows), v2row_cmp);
	size_t k = 0;
	for (size_t i = 0; i < x.n; i++)
		if (i == 0 || memcmp(x.rows[i].ip, x.rows[i - 1].ip, 16) ||
		    memcmp(x.rows[i].sha1, x.rows[i - 1].sha1, 20))
			x.rows[k++] = x.rows[i];
	x.n = k;
	/* tuples come in (ip, port, id) order, so ordering by position keeps
	 * the addresses ascending and each address's certificates in order */
	if (x.n)
		qsort(x.rows, x.n, sizeof(*x.rows), v2row_pos);
	/* the distinct certificates' subjects */
	nm = calloc(x.n ? x.n : 1, sizeof(*nm));
	if (!nm) {
		d4_h_internal(resp, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < x.n; i++)
		memcpy(nm[i].sha1, x.rows[i].sha1, 20);
	if (x.n)
		qsort(nm, x.n, sizeof(*nm), cmp_sha1);
	for (size_t i = 0; i < x.n; i++)
		if (i == 0 || memcmp(nm[i].sha1, nm[nn - 1].sha1, 20))
			memmove(&nm[nn++], &nm[i], sizeof(*nm));
	if ((rc = names_lookup(ctx->store, (uint8_t)clr, nm, nn, 1)) < 0) {
		if (rc == D4_ENOMEM)
			d4_h_internal(resp, "out of memory");
		else
			d4_h_store_error(resp, rc, "certificates");
		goto out;
	}
	D4_JW_LIT(&b, "{");
	for (size_t i = 0; i < x.n;) {
		size_t j = i;
		while (j < x.n && !memcmp(x.rows[j].ip, x.rows[i].ip, 16))
			j++;
		if (i)
			D4_JW_LIT(&b, ",");
		jw_addr(&b, x.rows[i].ip);
		D4_JW_LIT(&b, ":{\"certificates\":[");
		for (size_t r = i; r < j; r++) {
			if (r > i)
				D4_JW_LIT(&b, ",");
			jw_hex(&b, x.rows[r].sha1, 20);
		}
		D4_JW_LIT(&b, "],\"subjects\":{");
		int first = 1;
		for (size_t r = i; r < j; r++) {
			const struct names *n = bsearch(x.rows[r].sha1, nm, nn, sizeof(*nm), cmp_sha1);
			if (!n || !n->subject)
				continue; /* not visible, or not parsed: no subject, as CIRCL's unknown ones */
			if (!first)
				D4_JW_LIT(&b, ",");
			first = 0;
			jw_hex(&b, n->sha1, 20);
			D4_JW_LIT(&b, ":{\"values\":[");
			d4_jw_text(&b, n->subject);
			D4_JW_LIT(&b, "]}");
		}
		D4_JW_LIT(&b, "}}");
		i = j;
	}
	D4_JW_LIT(&b, "}");
	if (b.oom)
		d4_h_internal(resp, "out of memory");
	else
		d4_api_body(resp, 200, "application/json", b.p, b.len);
out:
	d4_jw_free(&b);
	names_free(nm, nn > x.n ? nn : x.n);
	free(x.rows);
}

void d4_h_v2pssl_query(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	v2_query(ctx, req, resp);
}

/* ---- /v2pssl/cquery/{sha1} -------------------------------------------------------- */

struct addrs {
	uint8_t (*a)[16];
	size_t n, cap;
	int oom;
};

static int addrs_cb(void *ctx, const struct d4_store_pssl_tuple *t)
{
	struct addrs *x = ctx;
	/* tuples come by (ip, port, id): an address repeats only next to itself */
	if (x->n && !memcmp(x->a[x->n - 1], t->server_ip, 16))
		return 0;
	if (x->n == x->cap) {
		size_t nc = x->cap ? 2 * x->cap : 256;
		uint8_t(*p)[16] = realloc(x->a, nc * 16);
		if (!p) {
			x->oom = 1;
			return D4_ENOMEM;
		}
		x->a = p;
		x->cap = nc;
	}
	memcpy(x->a[x->n++], t->server_ip, 16);
	return 0;
}

static int cmp_addr(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

void d4_h_v2pssl_cquery(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	uint8_t sha1[20];
	if (v2_no_query(req, resp))
		return;
	if (path_sha1(req, 0, sha1)) {
		v2_problem(resp, 400, "Incorrect format of the certificate fingerprint (expected SHA1 in hex format)");
		return;
	}
	enum d4_tlp clr = d4_api_clearance(ctx, req);
	d4_api_clearance_header(resp, clr);
	struct d4_store_pssl_query sq;
	memset(&sq, 0, sizeof(sq));
	sq.by = D4_PSSL_BY_CERT;
	sq.key = sha1;
	sq.key_len = 20;
	sq.max_tlp = (uint8_t)clr;
	sq.limit = V2_MAX_CQUERY;
	struct addrs x = {0};
	struct d4_store_pssl_qresult res;
	memset(&res, 0, sizeof(res));
	int rc = d4_store_pssl_query(ctx->store, &sq, addrs_cb, &x, &res);
	if (rc < 0 || x.oom) {
		if (x.oom || rc == D4_ENOMEM)
			d4_h_internal(resp, "out of memory");
		else
			d4_h_store_error(resp, rc, "handshake tuples");
		free(x.a);
		return;
	}
	size_t k = 0;
	if (x.n)
		qsort(x.a, x.n, 16, cmp_addr);
	for (size_t i = 0; i < x.n; i++)
		if (i == 0 || memcmp(x.a[i], x.a[k - 1], 16))
			memmove(x.a[k++], x.a[i], 16);
	struct d4_jw b;
	d4_jw_init(&b);
	D4_JW_LIT(&b, "{\"certificate\":");
	jw_hex(&b, sha1, 20);
	D4_JW_LIT(&b, ",\"seen\":[");
	for (size_t i = 0; i < k; i++) {
		if (i)
			D4_JW_LIT(&b, ",");
		jw_addr(&b, x.a[i]);
	}
	D4_JW_LIT(&b, "],\"hits\":");
	d4_jw_u64(&b, k);
	if (res.more)
		D4_JW_LIT(&b, ",\"truncated\":true");
	D4_JW_LIT(&b, "}");
	if (b.oom)
		d4_h_internal(resp, "out of memory");
	else
		d4_api_body(resp, 200, "application/json", b.p, b.len);
	d4_jw_free(&b);
	free(x.a);
}

/* ---- one certificate, copied out of the read transaction ---------------------------- */

struct cert_copy {
	int found;
	struct d4_jw fields; /* PsslCert members (and the detail's, when asked) */
	int detail;
	uint8_t sha1[20], sha256[32];
	uint8_t *der;
	size_t der_len;
	char *subject, *issuer; /* as stored */
	uint8_t parsed;
	uint32_t key_bits;
	uint64_t first_seen, last_seen, count;
	uint8_t tlp;
};

static int cert_copy_cb(void *ctx, const struct d4_store_pssl_cert *c)
{
	struct cert_copy *x = ctx;
	x->found = 1;
	memcpy(x->sha1, c->sha1, 20);
	memcpy(x->sha256, c->sha256, 32);
	x->parsed = c->parsed;
	x->key_bits = c->key_bits;
	x->first_seen = c->first_seen;
	x->last_seen = c->last_seen;
	x->count = c->count;
	x->tlp = c->tlp;
	x->der_len = c->der ? c->der_len : 0;
	x->der = malloc(x->der_len ? x->der_len : 1);
	x->subject = strdup(c->parsed && c->subject ? c->subject : "");
	x->issuer = strdup(c->parsed && c->issuer ? c->issuer : "");
	if (!x->der || !x->subject || !x->issuer)
		return D4_ENOMEM;
	if (x->der_len)
		memcpy(x->der, c->der, x->der_len);
	cert_fields(&x->fields, c);
	if (x->detail) {
		struct d4_jw *b = &x->fields;
		int p = c->parsed != 0, chr = c->tlp == D4_TLP_EX_CHR;
		D4_JW_LIT(b, ",\"version\":");
		if (p)
			d4_jw_u64(b, (uint64_t)c->version + 1);
		else
			D4_JW_LIT(b, "null");
		D4_JW_LIT(b, ",\"sig_alg\":");
		d4_jw_text(b, p ? c->sig_alg : NULL);
		D4_JW_LIT(b, ",\"key_alg\":");
		d4_jw_text(b, p ? c->key_alg : NULL);
		D4_JW_LIT(b, ",\"modulus\":");
		if (p && c->modulus && c->modulus_len)
			jw_hex(b, c->modulus, c->modulus_len);
		else
			D4_JW_LIT(b, "null");
		D4_JW_LIT(b, ",\"exponent\":");
		if (p && c->exponent && c->exponent_len)
			jw_hex(b, c->exponent, c->exponent_len);
		else
			D4_JW_LIT(b, "null");
		D4_JW_LIT(b, ",\"x509_flags\":");
		d4_jw_u64(b, c->x509_flags);
		D4_JW_LIT(b, ",\"org\":");
		if (chr || zero16(c->org))
			D4_JW_LIT(b, "null");
		else
			jw_uuid(b, c->org);
		D4_JW_LIT(b, ",\"org_mixed\":");
		jw_bool(b, !chr && c->org_mixed);
		D4_JW_LIT(b, ",\"sensors\":[");
		for (unsigned i = 0; !chr && i < c->nsensors && i < D4_PSSL_SENSORS_KEEP; i++) {
			if (i)
				D4_JW_LIT(b, ",");
			jw_uuid(b, c->sensors[i]);
		}
		D4_JW_LIT(b, "],\"sensor_count\":");
		d4_jw_u64(b, chr ? 0 : c->sensor_count);
		D4_JW_LIT(b, ",\"hubs\":[");
		for (unsigned i = 0; !chr && i < c->nhubs && i < D4_PSSL_HUBS_KEEP; i++) {
			if (i)
				D4_JW_LIT(b, ",");
			jw_uuid(b, c->hubs[i]);
		}
		D4_JW_LIT(b, "]");
	}
	return x->fields.oom ? D4_ENOMEM : 0;
}

static void cert_copy_free(struct cert_copy *x)
{
	d4_jw_free(&x->fields);
	free(x->der);
	free(x->subject);
	free(x->issuer);
}

/* The certificate's DER as PEM (64 columns), whatever OpenSSL makes of it. */
static char *der_pem(const uint8_t *der, size_t n)
{
	size_t b64 = 4 * ((n + 2) / 3);
	char *enc = malloc(b64 + 1);
	char *out = malloc(b64 + b64 / 64 + 80);
	if (!enc || !out) {
		free(enc);
		free(out);
		return NULL;
	}
	EVP_EncodeBlock((unsigned char *)enc, der, (int)n);
	size_t o = 0;
	o += (size_t)sprintf(out, "-----BEGIN CERTIFICATE-----\n");
	for (size_t i = 0; i < b64; i += 64) {
		size_t k = b64 - i < 64 ? b64 - i : 64;
		memcpy(out + o, enc + i, k);
		o += k;
		out[o++] = '\n';
	}
	o += (size_t)sprintf(out + o, "-----END CERTIFICATE-----\n");
	free(enc);
	return out;
}

static void jw_b64(struct d4_jw *b, const uint8_t *p, size_t n)
{
	size_t k = 4 * ((n + 2) / 3);
	char *o = d4_jw_room(b, k + 3);
	if (!o)
		return;
	o[0] = '"';
	EVP_EncodeBlock((unsigned char *)o + 1, p, (int)n);
	o[k + 1] = '"';
	b->len += k + 2;
}

/* ---- /v2pssl/cfetch/{sha1} -------------------------------------------------------- */

/* What BIO holds, as a new NUL-terminated string. */
static char *bio_text(BIO *m)
{
	char *p = NULL;
	long n = BIO_get_mem_data(m, &p);
	char *s = malloc((size_t)(n > 0 ? n : 0) + 1);
	if (!s)
		return NULL;
	if (n > 0)
		memcpy(s, p, (size_t)n);
	s[n > 0 ? n : 0] = '\0';
	return s;
}

/* "info.extension": each extension as OpenSSL prints it, by its short name
 * (the dotted OID for one OpenSSL does not know), first one of a name kept. */
static void extensions_json(struct d4_jw *b, X509 *x)
{
	D4_JW_LIT(b, "{");
	int n = x ? X509_get_ext_count(x) : 0, first = 1;
	char seen[64][80];
	int nseen = 0;
	for (int i = 0; i < n && nseen < 64; i++) {
		X509_EXTENSION *e = X509_get_ext(x, i);
		ASN1_OBJECT *o = e ? X509_EXTENSION_get_object(e) : NULL;
		char name[80];
		if (!o)
			continue;
		int nid = OBJ_obj2nid(o);
		if (nid != NID_undef)
			snprintf(name, sizeof(name), "%s", OBJ_nid2sn(nid));
		else if (OBJ_obj2txt(name, sizeof(name), o, 1) <= 0)
			continue;
		int dup = 0;
		for (int j = 0; j < nseen && !dup; j++)
			dup = !strcmp(seen[j], name);
		if (dup)
			continue;
		snprintf(seen[nseen++], sizeof(seen[0]), "%s", name);
		BIO *m = BIO_new(BIO_s_mem());
		if (!m) {
			b->oom = 1;
			return;
		}
		if (X509V3_EXT_print(m, e, 0, 0) <= 0) {
			(void)BIO_reset(m);
			ASN1_STRING_print(m, X509_EXTENSION_get_data(e));
		}
		char *v = bio_text(m);
		BIO_free(m);
		if (!v) {
			b->oom = 1;
			return;
		}
		if (!first)
			D4_JW_LIT(b, ",");
		first = 0;
		d4_jw_text(b, name);
		D4_JW_LIT(b, ":");
		d4_jw_text(b, v);
		free(v);
	}
	D4_JW_LIT(b, "}");
}

static char *pubkey_pem(X509 *x)
{
	EVP_PKEY *k = x ? X509_get0_pubkey(x) : NULL;
	BIO *m = k ? BIO_new(BIO_s_mem()) : NULL;
	char *s = NULL;
	if (m && PEM_write_bio_PUBKEY(m, k) == 1)
		s = bio_text(m);
	BIO_free(m);
	return s;
}

void d4_h_v2pssl_cfetch(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	uint8_t sha1[20];
	char hex[41];
	if (v2_no_query(req, resp))
		return;
	if (path_sha1(req, 0, sha1)) {
		v2_problem(resp, 400, "Incorrect format of the certificate fingerprint (expected SHA1 in hex format)");
		return;
	}
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", sha1[i]);
	enum d4_tlp clr = d4_api_clearance(ctx, req);
	d4_api_clearance_header(resp, clr);
	struct cert_copy c;
	memset(&c, 0, sizeof(c));
	d4_jw_init(&c.fields);
	int rc = d4_store_pssl_cert_get(ctx->store, sha1, (uint8_t)clr, cert_copy_cb, &c);
	if (rc == D4_ENOTFOUND || (rc == 0 && !c.found)) {
		/* not stored and above the clearance: one answer */
		v2_problem(resp, 404, "Not existing certificate %s", hex);
		cert_copy_free(&c);
		return;
	}
	if (rc < 0) {
		if (rc == D4_ENOMEM)
			d4_h_internal(resp, "out of memory");
		else
			d4_h_store_error(resp, rc, "certificate");
		cert_copy_free(&c);
		return;
	}
	const unsigned char *dp = c.der;
	X509 *x = c.der_len ? d2i_X509(NULL, &dp, (long)c.der_len) : NULL;
	char *pem = der_pem(c.der, c.der_len), *key = pubkey_pem(x);
	char subj[NAME_TEXT], iss[NAME_TEXT], t[96];
	d4_api_pssl_name_oneline(c.subject, subj, sizeof(subj));
	d4_api_pssl_name_oneline(c.issuer, iss, sizeof(iss));
	struct d4_jw b;
	d4_jw_init(&b);
	D4_JW_LIT(&b, "{\"pem\":");
	d4_jw_text(&b, pem ? pem : "");
	D4_JW_LIT(&b, ",\"info\":{\"subject\":");
	d4_jw_text(&b, subj);
	D4_JW_LIT(&b, ",\"issuer\":");
	d4_jw_text(&b, iss);
	D4_JW_LIT(&b, ",\"fingerprint\":\"");
	for (int i = 0; i < 40; i++)
		hex[i] = (char)(hex[i] >= 'a' ? hex[i] - 32 : hex[i]);
	d4_jw_raw(&b, hex, 40);
	D4_JW_LIT(&b, "\",\"keylength\":");
	d4_jw_u64(&b, c.parsed ? c.key_bits : 0);
	D4_JW_LIT(&b, ",\"key\":");
	d4_jw_text(&b, key);
	/* validity as OpenSSL reads it (CIRCL's M2Crypto did the same) */
	const ASN1_TIME *nb = x ? X509_get0_notBefore(x) : NULL, *na = x ? X509_get0_notAfter(x) : NULL;
	struct tm tm;
	D4_JW_LIT(&b, ",\"not_before\":");
	if (nb && ASN1_TIME_to_tm(nb, &tm) == 1) {
		snprintf(t, sizeof(t), "%04d-%02d-%02dT%02d:%02d:%02d+00:00", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		d4_jw_text(&b, t);
	} else {
		D4_JW_LIT(&b, "null");
	}
	D4_JW_LIT(&b, ",\"not_after\":");
	if (na && ASN1_TIME_to_tm(na, &tm) == 1) {
		snprintf(t, sizeof(t), "%04d-%02d-%02dT%02d:%02d:%02d+00:00", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		d4_jw_text(&b, t);
	} else {
		D4_JW_LIT(&b, "null");
	}
	D4_JW_LIT(&b, ",\"extension\":");
	extensions_json(&b, x);
	D4_JW_LIT(&b, "},\"d4\":{\"first_seen\":");
	d4_jw_time(&b, c.first_seen);
	D4_JW_LIT(&b, ",\"last_seen\":");
	d4_jw_time(&b, c.last_seen);
	D4_JW_LIT(&b, ",\"times_seen\":");
	d4_jw_u64(&b, c.count);
	D4_JW_LIT(&b, ",\"tlp\":");
	d4_jw_text(&b, tlp_name(c.tlp));
	D4_JW_LIT(&b, ",\"sha256\":");
	jw_hex(&b, c.sha256, 32);
	D4_JW_LIT(&b, "}}");
	if (b.oom || !pem)
		d4_h_internal(resp, "out of memory");
	else
		d4_api_body(resp, 200, "application/json", b.p, b.len);
	d4_jw_free(&b);
	free(pem);
	free(key);
	X509_free(x);
	cert_copy_free(&c);
}

/* ---- /api/v1/pssl/certs/{sha1} ---------------------------------------------------- */

struct detail_tuples {
	struct page pg;
	uint32_t n;
	int have_last;
	uint64_t last_time, last_id;
	uint8_t n_chain;
	uint8_t chain[D4_PSSL_CHAIN_MAX][20];
};

static int detail_tuple_cb(void *ctx, const struct d4_store_pssl_tuple *t)
{
	struct detail_tuples *x = ctx;
	if (x->pg.n++)
		D4_JW_LIT(&x->pg.b, ",");
	tuple_json(&x->pg.b, t);
	/* the chain it was seen in last: the latest sighting, ties by id */
	if (!x->have_last || t->time_last > x->last_time || (t->time_last == x->last_time && t->id > x->last_id)) {
		x->have_last = 1;
		x->last_time = t->time_last;
		x->last_id = t->id;
		x->n_chain = t->n_chain < D4_PSSL_CHAIN_MAX ? t->n_chain : D4_PSSL_CHAIN_MAX;
		memcpy(x->chain, t->chain, (size_t)x->n_chain * 20);
	}
	return x->pg.b.oom ? D4_ENOMEM : 0;
}

void d4_h_pssl_get_cert(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	static const char *const names[] = {"format", NULL};
	uint8_t sha1[20];
	if (d4_h_query_only(req, resp, names))
		return;
	if (path_sha1(req, 0, sha1)) {
		d4_h_bad_param(resp, "bad certificate SHA-1 in the path: 40 hex digits");
		return;
	}
	const char *fmt = d4_api_query(req, "format");
	if (fmt && strcmp(fmt, "json") && strcmp(fmt, "der") && strcmp(fmt, "pem")) {
		d4_h_bad_param(resp, "query parameter 'format' must be json, der or pem");
		return;
	}
	enum d4_tlp clr = d4_api_clearance(ctx, req);
	d4_api_clearance_header(resp, clr);
	struct cert_copy c;
	memset(&c, 0, sizeof(c));
	c.detail = 1;
	d4_jw_init(&c.fields);
	struct detail_tuples dt;
	memset(&dt, 0, sizeof(dt));
	d4_jw_init(&dt.pg.b);
	struct names *nm = NULL;
	size_t nn = 0;
	struct d4_jw b;
	d4_jw_init(&b);
	int rc = d4_store_pssl_cert_get(ctx->store, sha1, (uint8_t)clr, cert_copy_cb, &c);
	if (rc == D4_ENOTFOUND || (rc == 0 && !c.found)) {
		char hex[41];
		for (int i = 0; i < 20; i++)
			snprintf(hex + 2 * i, 3, "%02x", sha1[i]);
		d4_api_problem(resp, 404, "not-found", "Not Found", "no certificate %s", hex);
		goto out;
	}
	if (rc < 0)
		goto store_error;
	if (fmt && !strcmp(fmt, "der")) {
		d4_api_body(resp, 200, "application/pkix-cert", c.der, c.der_len);
		goto out;
	}
	char *pem = der_pem(c.der, c.der_len);
	if (!pem) {
		d4_h_internal(resp, "out of memory");
		goto out;
	}
	if (fmt && !strcmp(fmt, "pem")) {
		d4_api_body(resp, 200, "application/x-pem-file", pem, strlen(pem));
		free(pem);
		goto out;
	}
	/* the tuples carrying it */
	struct d4_store_pssl_query sq;
	struct d4_store_pssl_qresult res;
	memset(&sq, 0, sizeof(sq));
	memset(&res, 0, sizeof(res));
	sq.by = D4_PSSL_BY_CERT;
	sq.key = sha1;
	sq.key_len = 20;
	sq.max_tlp = (uint8_t)clr;
	sq.limit = DETAIL_TUPLES;
	rc = d4_store_pssl_query(ctx->store, &sq, detail_tuple_cb, &dt, &res);
	if (rc < 0) {
		free(pem);
		goto store_error;
	}
	/* the names of the chain's certificates the caller may see */
	nm = calloc(dt.n_chain ? dt.n_chain : 1, sizeof(*nm));
	if (!nm) {
		free(pem);
		d4_h_internal(resp, "out of memory");
		goto out;
	}
	nn = dt.n_chain;
	for (size_t i = 0; i < nn; i++)
		memcpy(nm[i].sha1, dt.chain[i], 20);
	if ((rc = names_lookup(ctx->store, (uint8_t)clr, nm, nn, 0)) < 0) {
		free(pem);
		goto store_error;
	}
	D4_JW_LIT(&b, "{");
	d4_jw_raw(&b, c.fields.p, c.fields.len);
	D4_JW_LIT(&b, ",\"der\":");
	jw_b64(&b, c.der, c.der_len);
	D4_JW_LIT(&b, ",\"pem\":");
	d4_jw_text(&b, pem);
	free(pem);
	D4_JW_LIT(&b, ",\"chain\":[");
	for (size_t i = 0; i < nn; i++) {
		if (i)
			D4_JW_LIT(&b, ",");
		D4_JW_LIT(&b, "{\"sha1\":");
		jw_hex(&b, nm[i].sha1, 20);
		D4_JW_LIT(&b, ",\"subject\":");
		d4_jw_text(&b, nm[i].subject);
		D4_JW_LIT(&b, ",\"issuer\":");
		d4_jw_text(&b, nm[i].issuer);
		D4_JW_LIT(&b, "}");
	}
	D4_JW_LIT(&b, "],\"tuples\":[");
	if (dt.pg.b.len)
		d4_jw_raw(&b, dt.pg.b.p, dt.pg.b.len);
	D4_JW_LIT(&b, "],\"tuples_more\":");
	jw_bool(&b, res.more);
	D4_JW_LIT(&b, "}");
	if (b.oom)
		d4_h_internal(resp, "out of memory");
	else
		d4_api_body(resp, 200, "application/json", b.p, b.len);
	goto out;
store_error:
	if (rc == D4_ENOMEM)
		d4_h_internal(resp, "out of memory");
	else
		d4_h_store_error(resp, rc, "certificate");
out:
	d4_jw_free(&b);
	d4_jw_free(&dt.pg.b);
	names_free(nm, nn);
	cert_copy_free(&c);
}

/* ---- /api/v1/pssl/fingerprints/{kind}/{md5} ------------------------------------------- */

struct fp_copy {
	struct d4_jw b;
	int found;
};

static int fp_cb(void *ctx, const struct d4_store_pssl_fp *f)
{
	struct fp_copy *x = ctx;
	x->found = 1;
	D4_JW_LIT(&x->b, ",\"md5\":");
	jw_hex(&x->b, f->md5, 16);
	D4_JW_LIT(&x->b, ",\"string\":");
	d4_jw_text(&x->b, f->str);
	D4_JW_LIT(&x->b, ",\"first_seen\":");
	d4_jw_time(&x->b, f->first_seen);
	D4_JW_LIT(&x->b, ",\"last_seen\":");
	d4_jw_time(&x->b, f->last_seen);
	D4_JW_LIT(&x->b, ",\"count\":");
	d4_jw_u64(&x->b, f->count);
	D4_JW_LIT(&x->b, ",\"tlp\":");
	d4_jw_text(&x->b, tlp_name(f->tlp));
	D4_JW_LIT(&x->b, "}");
	return x->b.oom ? D4_ENOMEM : 0;
}

void d4_h_pssl_get_fingerprint(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	uint8_t md5[16];
	if (d4_h_query_only(req, resp, NULL))
		return;
	const char *kind = req->nparams > 0 ? req->params[0] : "";
	enum d4_store_pssl_by by;
	if (!strcmp(kind, "ja3"))
		by = D4_PSSL_BY_JA3;
	else if (!strcmp(kind, "ja3s"))
		by = D4_PSSL_BY_JA3S;
	else {
		d4_h_bad_param(resp, "bad fingerprint kind in the path: ja3 or ja3s");
		return;
	}
	if (d4_api_pssl_hex(req->nparams > 1 ? req->params[1] : "", md5, 16)) {
		d4_h_bad_param(resp, "bad fingerprint in the path: an MD5, 32 hex digits");
		return;
	}
	enum d4_tlp clr = d4_api_clearance(ctx, req);
	d4_api_clearance_header(resp, clr);
	struct fp_copy x;
	memset(&x, 0, sizeof(x));
	d4_jw_init(&x.b);
	D4_JW_LIT(&x.b, "{\"kind\":");
	d4_jw_text(&x.b, kind);
	int rc = d4_store_pssl_fp_get(ctx->store, by, md5, (uint8_t)clr, fp_cb, &x);
	if (rc == D4_ENOTFOUND || (rc == 0 && !x.found)) {
		char hex[33];
		for (int i = 0; i < 16; i++)
			snprintf(hex + 2 * i, 3, "%02x", md5[i]);
		d4_api_problem(resp, 404, "not-found", "Not Found", "no %s fingerprint %s", kind, hex);
	} else if (rc < 0) {
		if (rc == D4_ENOMEM)
			d4_h_internal(resp, "out of memory");
		else
			d4_h_store_error(resp, rc, "fingerprint");
	} else if (x.b.oom) {
		d4_h_internal(resp, "out of memory");
	} else {
		d4_api_body(resp, 200, "application/json", x.b.p, x.b.len);
	}
	d4_jw_free(&x.b);
}
