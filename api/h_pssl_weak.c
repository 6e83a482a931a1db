/* d4hub API — the weak-key reports (docs/passivessl.md "Weak keys",
 * "Reports through the API").
 *
 * Clearance: a finding names keys, and a key is visible to a caller when a
 * certificate carrying it is visible at the caller's clearance (the store's
 * certificate TLP, api/clearance.c's rule through max_tlp). A finding is
 * shown when one of its keys is visible; a partner key that is not visible
 * is shown as {"hidden": true}, without id, size or certificates, so that
 * the owner of the visible key learns that it is broken and nothing about
 * the other one. A key or certificate that is not visible is a 404 with the
 * text of one that does not exist.
 *
 * Factors: a shared prime (or a small factor) factors the modulus, that is
 * it hands out the private key. The factor is never shown, unless
 * pssl.weak_factor_admin = yes, and then to admins only; everyone sees its
 * size in bits (factor_bits).
 *
 * The store's findings carry no TLP, so visibility is decided here, key by
 * key, outside the store's read transaction (one thread may not hold two):
 * a page reads at most as many findings as it still needs, checks them,
 * and goes on, so that the store's resume position after a page is always
 * right after the last finding the page consumed. */
#include "api_cursor.h"
#include "api_pssl_weak.h"
#include "d4_analyze.h"
#include "d4_error.h"
#include "d4_hubconf.h"
#include "d4_policy.h"
#include "d4_reader.h"
#include "d4_store_pssl.h"
#include "d4_util.h"
#include "d4_weakkeys.h"
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CURSOR_VERSION 1u
#define VIS_CACHE      512u

/* ---- cursors ---- */

/* Sealed as every query API's cursors (api/cursor.c): bound to the list
 * (kind), its key and the caller's clearance. */
static size_t canon(unsigned kind, uint64_t key, uint8_t clr, uint8_t *msg)
{
	size_t o = 0;
	memcpy(msg, "d4hub-weak-cursor", 17);
	o += 17;
	msg[o++] = (uint8_t)kind;
	d4_put_u64be(msg + o, key);
	o += 8;
	msg[o++] = clr;
	return o;
}

int d4_api_weak_cursor_seal(unsigned kind, uint64_t key, uint8_t clearance, const uint8_t *r, size_t rlen,
			    char out[D4_API_WEAK_CURSOR_TEXT])
{
	uint8_t bind[32];
	if (!r || rlen == 0 || rlen > D4_PSSL_RESUME_MAX || !out)
		return D4_EINVAL;
	size_t n = canon(kind, key, clearance, bind);
	return d4_api_cursor_seal(CURSOR_VERSION, bind, n, r, rlen, out, D4_API_WEAK_CURSOR_TEXT);
}

int d4_api_weak_cursor_open(unsigned kind, uint64_t key, uint8_t clearance, const char *text, uint8_t *r, size_t cap,
			    size_t *rlen)
{
	uint8_t bind[32];
	if (!text)
		return D4_EINVAL;
	size_t n = canon(kind, key, clearance, bind);
	return d4_api_cursor_open(CURSOR_VERSION, bind, n, text, r, cap, rlen);
}

/* ---- keys and their visibility ---- */

struct vis {
	uint64_t id[VIS_CACHE];
	uint8_t v[VIS_CACHE];
	size_t n;
};

static int probe_cb(void *ctx, const struct d4_store_pssl_cert *c)
{
	(void)ctx;
	(void)c;
	return 1;
}

/* 1 when a certificate carrying key id is visible at clr, 0 when not, or a
 * negative store error. */
static int key_visible(struct d4_store *s, struct vis *vc, uint64_t id, uint8_t clr)
{
	for (size_t i = 0; i < vc->n; i++)
		if (vc->id[i] == id)
			return vc->v[i];
	uint8_t key[8];
	d4_put_u64be(key, id);
	struct d4_store_pssl_query q;
	struct d4_store_pssl_qresult res;
	memset(&q, 0, sizeof(q));
	memset(&res, 0, sizeof(res));
	q.by = D4_PSSL_CERTS_BY_KEY;
	q.key = key;
	q.key_len = sizeof(key);
	q.max_tlp = clr;
	q.limit = 1;
	int rc = d4_store_pssl_query_certs(s, &q, probe_cb, NULL, &res);
	if (rc < 0)
		return rc;
	int v = res.returned > 0;
	if (vc->n < VIS_CACHE) {
		vc->id[vc->n] = id;
		vc->v[vc->n++] = (uint8_t)v;
	}
	return v;
}

static const char *key_type_name(unsigned t)
{
	switch (t) { /* enum d4_x509_key_type */
	case 1: return "rsa";
	case 2: return "ec";
	case 3: return "ed25519";
	case 4: return "dsa";
	}
	return "other";
}

static void j_hex(yajl_gen g, const char *k, const uint8_t *p, size_t n)
{
	char *h = malloc(2 * n + 1);
	if (!h) {
		d4_h_j_null(g, k);
		return;
	}
	d4_hex_encode(p, n, h);
	d4_api_j_kv_str(g, k, h);
	free(h);
}

static unsigned bits_of(const uint8_t *p, size_t n)
{
	while (n && !*p) {
		p++;
		n--;
	}
	if (!n)
		return 0;
	unsigned b = (unsigned)(n - 1) * 8;
	for (uint8_t v = p[0]; v; v >>= 1)
		b++;
	return b;
}

struct keyrow {
	int found;
	struct d4_store_pssl_key k;
	uint8_t exp[D4_PSSL_EXPONENT_MAX];
};

static int keyrow_cb(void *ctx, const struct d4_store_pssl_key *k)
{
	struct keyrow *r = ctx;
	r->found = 1;
	r->k = *k;
	r->k.modulus = NULL; /* not kept: the modulus is public but long; its size is key_bits */
	size_t n = k->exponent_len < sizeof(r->exp) ? k->exponent_len : sizeof(r->exp);
	if (k->exponent && n)
		memcpy(r->exp, k->exponent, n);
	r->k.exponent = r->exp;
	r->k.exponent_len = k->exponent && n ? n : 0;
	return 0;
}

struct certlist {
	yajl_gen g;
	unsigned n;
};

static int cert_cb(void *ctx, const struct d4_store_pssl_cert *c)
{
	struct certlist *l = ctx;
	char hex[41];
	yajl_gen_map_open(l->g);
	d4_hex_encode(c->sha1, 20, hex);
	d4_api_j_kv_str(l->g, "sha1", hex);
	d4_h_j_kv_text(l->g, "subject", c->parsed ? c->subject : NULL);
	d4_h_j_kv_text(l->g, "issuer", c->parsed ? c->issuer : NULL);
	d4_api_j_kv_time(l->g, "not_after", c->parsed && c->not_after > 0 ? (uint64_t)c->not_after : 0);
	d4_api_j_kv_time(l->g, "first_seen", c->first_seen);
	d4_api_j_kv_time(l->g, "last_seen", c->last_seen);
	d4_api_j_kv_str(l->g, "tlp", d4_policy_tlp_name((enum d4_tlp)c->tlp));
	yajl_gen_map_close(l->g);
	l->n++;
	return 0;
}

/* The key object: id, type, bits, SPKI SHA-256, exponent, first seen, and
 * the certificates carrying it that are visible at clr (at most maxc, then
 * certificates_more). Returns 0 or a store error. */
static int j_key(yajl_gen g, struct d4_store *s, uint64_t id, uint8_t clr, uint32_t maxc)
{
	struct keyrow *kr = calloc(1, sizeof(*kr));
	if (!kr)
		return D4_ENOMEM;
	int rc = d4_store_pssl_key_get(s, id, keyrow_cb, kr);
	if (rc < 0 || !kr->found) {
		free(kr);
		return rc < 0 ? rc : D4_ENOTFOUND;
	}
	char hex[65];
	yajl_gen_map_open(g);
	d4_api_j_kv_u64(g, "id", id);
	d4_api_j_kv_str(g, "type", key_type_name(kr->k.key_type));
	d4_api_j_kv_u64(g, "bits", kr->k.key_bits);
	d4_hex_encode(kr->k.spki_sha256, 32, hex);
	d4_api_j_kv_str(g, "spki_sha256", hex);
	if (kr->k.exponent_len)
		j_hex(g, "exponent", kr->k.exponent, kr->k.exponent_len);
	else
		d4_h_j_null(g, "exponent");
	d4_api_j_kv_time(g, "first_seen", kr->k.first_seen);
	free(kr);
	uint8_t key[8];
	d4_put_u64be(key, id);
	struct d4_store_pssl_query q;
	struct d4_store_pssl_qresult res;
	memset(&q, 0, sizeof(q));
	memset(&res, 0, sizeof(res));
	q.by = D4_PSSL_CERTS_BY_KEY;
	q.key = key;
	q.key_len = sizeof(key);
	q.max_tlp = clr;
	q.limit = maxc;
	struct certlist l = {g, 0};
	d4_api_j_key(g, "certificates");
	yajl_gen_array_open(g);
	rc = d4_store_pssl_query_certs(s, &q, cert_cb, &l, &res);
	yajl_gen_array_close(g);
	if (rc < 0)
		return rc;
	d4_api_j_kv_bool(g, "certificates_more", res.more && res.returned > 0);
	yajl_gen_map_close(g);
	return 0;
}

/* ---- a finding ---- */

struct fcopy {
	uint8_t kind;
	uint64_t id, other;
	uint16_t reason;
	unsigned factor_bits; /* 0: no factor */
	char *factor_hex;     /* malloc'ed, only when the caller may see factors */
	uint64_t found_s;
};

static const struct {
	unsigned flag;
	const char *name;
} eflags[] = {
    {D4_WEAKKEYS_E_ZERO, "zero"},   {D4_WEAKKEYS_E_ONE, "one"},		{D4_WEAKKEYS_E_EVEN, "even"},
    {D4_WEAKKEYS_E_SMALL, "small"}, {D4_WEAKKEYS_E_UNUSUAL, "unusual"}, {D4_WEAKKEYS_E_HUGE, "huge"},
};

/* The side of a finding: the key object when visible, {"hidden": true}
 * otherwise, null when the finding has no second key. */
static int j_side(yajl_gen g, struct d4_store *s, struct vis *vc, const char *k, uint64_t id, uint8_t clr,
		  uint32_t maxc)
{
	d4_api_j_key(g, k);
	if (!id) {
		yajl_gen_null(g);
		return 0;
	}
	int v = key_visible(s, vc, id, clr);
	if (v < 0)
		return v;
	if (!v) {
		yajl_gen_map_open(g);
		d4_api_j_kv_bool(g, "hidden", 1);
		yajl_gen_map_close(g);
		return 0;
	}
	int rc = j_key(g, s, id, clr, maxc);
	if (rc == D4_ENOTFOUND) { /* cannot happen: a finding's keys are never removed */
		yajl_gen_map_open(g);
		d4_api_j_kv_bool(g, "hidden", 1);
		yajl_gen_map_close(g);
		rc = 0;
	}
	return rc;
}

static int j_finding(yajl_gen g, struct d4_store *s, struct vis *vc, const struct fcopy *f, uint8_t clr,
		     int show_factor, uint32_t maxc)
{
	yajl_gen_map_open(g);
	d4_api_j_kv_str(g, "kind", d4_analyze_weak_kind_name(f->kind));
	int rc = j_side(g, s, vc, "key", f->id, clr, maxc);
	if (!rc)
		rc = j_side(g, s, vc, "other", f->other, clr, maxc);
	if (rc)
		return rc;
	if (f->kind == D4_WEAKKEYS_INVALID)
		d4_api_j_kv_str(g, "reason", d4_weakkeys_reason_name((enum d4_weakkeys_reason)f->reason));
	if (f->kind == D4_ANALYZE_WEAK_KIND_EXPONENT) {
		d4_api_j_key(g, "exponent_flags");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < sizeof(eflags) / sizeof(eflags[0]); i++)
			if (f->reason & eflags[i].flag)
				d4_api_j_str(g, eflags[i].name);
		yajl_gen_array_close(g);
	}
	if (f->kind == D4_ANALYZE_WEAK_KIND_SHARED_KEY)
		d4_api_j_kv_u64(g, "subject_groups", f->reason);
	if (f->factor_bits) {
		d4_api_j_kv_u64(g, "factor_bits", f->factor_bits);
		if (show_factor && f->factor_hex)
			d4_api_j_kv_str(g, "factor", f->factor_hex);
	} else {
		d4_h_j_null(g, "factor_bits");
	}
	d4_api_j_kv_time(g, "found_at", f->found_s);
	yajl_gen_map_close(g);
	return 0;
}

/* ---- reading findings ---- */

struct fpage {
	struct fcopy *f;
	size_t n, cap;
	int keep_factor; /* copy the factors (as hex): the caller may see them */
	int oom;
};

static void fpage_reset(struct fpage *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->f[i].factor_hex);
		p->f[i].factor_hex = NULL;
	}
	p->n = 0;
}

static int fpage_cb(void *ctx, const struct d4_store_pssl_finding *f)
{
	struct fpage *p = ctx;
	if (p->n >= p->cap)
		return 1; /* cannot happen: the store's limit is cap */
	struct fcopy *c = &p->f[p->n++];
	c->kind = f->kind;
	c->id = f->id;
	c->other = f->other;
	c->reason = f->reason;
	c->factor_bits = f->factor ? bits_of(f->factor, f->factor_len) : 0;
	c->factor_hex = NULL;
	if (c->factor_bits && p->keep_factor) {
		c->factor_hex = malloc(2 * f->factor_len + 1);
		if (!c->factor_hex) {
			p->oom = 1;
			return D4_ENOMEM;
		}
		d4_hex_encode(f->factor, f->factor_len, c->factor_hex);
	}
	c->found_s = f->found_s;
	return 0;
}

static int finding_visible(struct d4_store *s, struct vis *vc, const struct fcopy *f, uint8_t clr)
{
	int v = key_visible(s, vc, f->id, clr);
	if (v == 0 && f->other)
		v = key_visible(s, vc, f->other, clr);
	return v;
}

static int show_factor(const struct d4_api_ctx *ctx, const struct d4_api_req *req)
{
	return ctx->conf && ctx->conf->pssl_weak_factor_admin && req->role >= D4_ROLE_ADMIN;
}

static int parse_u64(const char *s, uint64_t *out)
{
	size_t n = s ? strlen(s) : 0;
	uint64_t v = 0;
	if (n == 0 || n > 20 || strspn(s, "0123456789") != n || s[0] == '0')
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* The key a visible certificate carries: 0 with *id (0: unparsed), or
 * D4_ENOTFOUND (not stored or not visible), D4_EINVAL (not 40 hex). */
struct certkey {
	uint64_t id;
};

static int certkey_cb(void *ctx, const struct d4_store_pssl_cert *c)
{
	((struct certkey *)ctx)->id = c->key_id;
	return 0;
}

static int cert_key(struct d4_store *s, const char *hex, uint8_t clr, uint64_t *id)
{
	uint8_t sha1[20];
	if (!hex || strlen(hex) != 40 || d4_hex_decode(hex, 40, sha1, 20) != 0)
		return D4_EINVAL;
	struct certkey ck = {0};
	int rc = d4_store_pssl_cert_get(s, sha1, clr, certkey_cb, &ck);
	if (rc < 0)
		return rc;
	*id = ck.id;
	return 0;
}

/* ---- GET /api/v1/pssl/weak ---- */

void d4_h_pssl_weak_list(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	static const char *const names[] = {"kind", "key", "cert", "limit", "cursor", NULL};
	if (d4_h_query_only(req, resp, names))
		return;
	uint8_t clr = (uint8_t)d4_api_clearance(ctx, req);
	const char *ks = d4_api_query(req, "kind"), *keys = d4_api_query(req, "key"),
		   *certs = d4_api_query(req, "cert");
	const char *ls = d4_api_query(req, "limit"), *cs = d4_api_query(req, "cursor");
	unsigned kind = 0;
	uint64_t key = 0, limit = D4_API_WEAK_LIMIT_DEF;
	if (ks && !(kind = d4_analyze_weak_kind_parse(ks))) {
		d4_h_bad_param(resp, "query parameter 'kind': one of shared-prime, shared-prime-unpaired, "
				     "duplicate-modulus, small-factor, invalid-modulus, weak-exponent, shared-key");
		return;
	}
	if (keys && certs) {
		d4_h_bad_param(resp, "query parameters 'key' and 'cert' exclude each other");
		return;
	}
	if (keys && parse_u64(keys, &key)) {
		d4_h_bad_param(resp, "query parameter 'key': a key id (a positive integer)");
		return;
	}
	if (ls && (parse_u64(ls, &limit) || limit > D4_API_WEAK_LIMIT_MAX)) {
		d4_h_bad_param(resp, "query parameter 'limit': 1 to %u", D4_API_WEAK_LIMIT_MAX);
		return;
	}
	d4_api_clearance_header(resp, (enum d4_tlp)clr);
	struct vis *vc = calloc(1, sizeof(*vc));
	struct fpage pg = {calloc(D4_API_WEAK_LIMIT_MAX, sizeof(struct fcopy)), 0, 0, show_factor(ctx, req), 0};
	yajl_gen g = d4_h_gen();
	if (!vc || !pg.f || !g) {
		d4_h_internal(resp, "out of memory");
		goto out;
	}
	if (keys) {
		int v = key_visible(ctx->store, vc, key, clr);
		if (v <= 0) {
			if (v < 0)
				d4_h_store_error(resp, v, "passive SSL keys");
			else
				d4_api_problem(resp, 404, "not-found", "Not Found", "no key %llu",
					       (unsigned long long)key);
			goto out;
		}
	}
	if (certs) {
		int rc = cert_key(ctx->store, certs, clr, &key);
		if (rc == D4_EINVAL) {
			d4_h_bad_param(resp, "query parameter 'cert': a certificate SHA-1 (40 hex digits)");
			goto out;
		}
		if (rc == D4_ENOTFOUND) {
			/* not the hash back: the answer of a certificate that does not exist */
			d4_api_problem(resp, 404, "not-found", "Not Found", "no certificate with this SHA-1");
			goto out;
		}
		if (rc < 0) {
			d4_h_store_error(resp, rc, "passive SSL certificates");
			goto out;
		}
		if (!key) { /* a certificate that did not parse has no key: no finding */
			yajl_gen_map_open(g);
			d4_api_j_key(g, "items");
			yajl_gen_array_open(g);
			yajl_gen_array_close(g);
			d4_h_j_null(g, "next_cursor");
			yajl_gen_map_close(g);
			d4_h_send(resp, 200, g, 0);
			g = NULL;
			goto out;
		}
	}
	/* the cursor binds the key, not how it was given (key= or cert=) */
	uint8_t resume[D4_PSSL_RESUME_MAX];
	size_t rlen = 0;
	if (cs && d4_api_weak_cursor_open(kind, key, clr, cs, resume, sizeof(resume), &rlen)) {
		d4_h_bad_param(resp, "query parameter 'cursor' is not a cursor of this query: pass the next_cursor of "
				     "the previous page unchanged, with the same filters (cursors do not survive a "
				     "restart of the hub)");
		goto out;
	}
	yajl_gen_map_open(g);
	d4_api_j_key(g, "items");
	yajl_gen_array_open(g);
	uint64_t shown = 0, scanned = 0;
	int more = 1, rc = 0, sf = show_factor(ctx, req);
	while (shown < limit && more && scanned < D4_API_WEAK_SCAN_MAX) {
		struct d4_store_pssl_qresult res;
		memset(&res, 0, sizeof(res));
		fpage_reset(&pg);
		pg.cap = (size_t)(limit - shown);
		rc = d4_store_pssl_weak_query(ctx->store, (uint8_t)kind, key, (uint32_t)pg.cap, rlen ? resume : NULL,
					      rlen, fpage_cb, &pg, &res);
		if (rc < 0)
			break;
		rc = 0;
		scanned += pg.n;
		more = res.more && res.returned > 0 && res.resume_len > 0 && res.resume_len <= sizeof(resume);
		if (res.returned && res.resume_len && res.resume_len <= sizeof(resume)) {
			memcpy(resume, res.resume, res.resume_len);
			rlen = res.resume_len;
		}
		for (size_t i = 0; !rc && i < pg.n; i++) {
			int v = finding_visible(ctx->store, vc, &pg.f[i], clr);
			if (v < 0)
				rc = v;
			else if (v &&
				 (rc = j_finding(g, ctx->store, vc, &pg.f[i], clr, sf, D4_API_WEAK_CERTS_LIST)) == 0)
				shown++;
		}
		if (rc || !pg.n)
			break;
	}
	/* a next page only when a visible finding follows (probed without
	 * moving the cursor), or when the scan budget ran out first */
	if (!rc && more && shown >= limit) {
		uint8_t pr[D4_PSSL_RESUME_MAX];
		size_t plen = rlen;
		memcpy(pr, resume, rlen);
		int found = 0;
		while (!found && scanned < D4_API_WEAK_SCAN_MAX) {
			struct d4_store_pssl_qresult res;
			memset(&res, 0, sizeof(res));
			fpage_reset(&pg);
			pg.cap = 64;
			rc =
			    d4_store_pssl_weak_query(ctx->store, (uint8_t)kind, key, 64, pr, plen, fpage_cb, &pg, &res);
			if (rc < 0)
				break;
			rc = 0;
			scanned += pg.n;
			for (size_t i = 0; !found && !rc && i < pg.n; i++) {
				int v = finding_visible(ctx->store, vc, &pg.f[i], clr);
				if (v < 0)
					rc = v;
				found = v > 0;
			}
			if (rc || found || !res.more || !res.returned || !res.resume_len || res.resume_len > sizeof(pr))
				break;
			memcpy(pr, res.resume, res.resume_len);
			plen = res.resume_len;
		}
		more = found || (!rc && scanned >= D4_API_WEAK_SCAN_MAX);
	}
	if (rc < 0) {
		if (rc == D4_EINVAL && rlen)
			d4_h_bad_param(resp, "query parameter 'cursor' does not belong to this query");
		else
			d4_h_store_error(resp, rc, "weak-key findings");
		goto out;
	}
	yajl_gen_array_close(g);
	d4_api_j_key(g, "next_cursor");
	char cur[D4_API_WEAK_CURSOR_TEXT];
	if (more && rlen && d4_api_weak_cursor_seal(kind, key, clr, resume, rlen, cur) == 0) {
		d4_api_j_str(g, cur);
		d4_api_header(resp, "D4-Next-Cursor", cur);
	} else {
		yajl_gen_null(g);
	}
	yajl_gen_map_close(g);
	d4_h_send(resp, 200, g, 0);
	g = NULL;
out:
	if (g)
		yajl_gen_free(g);
	if (pg.f)
		fpage_reset(&pg);
	free(pg.f);
	free(vc);
}

/* ---- one key ---- */

static void answer_key(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp, uint64_t id,
		       uint8_t clr)
{
	struct vis *vc = calloc(1, sizeof(*vc));
	struct fpage pg = {calloc(D4_API_WEAK_DETAIL_FINDINGS, sizeof(struct fcopy)), 0, D4_API_WEAK_DETAIL_FINDINGS,
			   show_factor(ctx, req), 0};
	yajl_gen g = d4_h_gen();
	int rc = 0;
	if (!vc || !pg.f || !g) {
		d4_h_internal(resp, "out of memory");
		goto out;
	}
	int v = key_visible(ctx->store, vc, id, clr);
	if (v <= 0) {
		if (v < 0)
			d4_h_store_error(resp, v, "passive SSL keys");
		else
			d4_api_problem(resp, 404, "not-found", "Not Found", "no key %llu", (unsigned long long)id);
		goto out;
	}
	struct d4_store_pssl_qresult res;
	memset(&res, 0, sizeof(res));
	rc = d4_store_pssl_weak_query(ctx->store, 0, id, D4_API_WEAK_DETAIL_FINDINGS, NULL, 0, fpage_cb, &pg, &res);
	if (rc < 0) {
		d4_h_store_error(resp, rc, "weak-key findings");
		goto out;
	}
	yajl_gen_map_open(g);
	d4_api_j_key(g, "key");
	rc = j_key(g, ctx->store, id, clr, D4_API_WEAK_CERTS_DETAIL);
	d4_api_j_key(g, "findings");
	yajl_gen_array_open(g);
	int sf = show_factor(ctx, req);
	for (size_t i = 0; !rc && i < pg.n; i++)
		rc = j_finding(g, ctx->store, vc, &pg.f[i], clr, sf, D4_API_WEAK_CERTS_LIST);
	yajl_gen_array_close(g);
	d4_api_j_kv_bool(g, "findings_more", res.more && res.returned > 0);
	yajl_gen_map_close(g);
	if (rc < 0) {
		d4_h_store_error(resp, rc, "passive SSL keys");
		goto out;
	}
	d4_h_send(resp, 200, g, 0);
	g = NULL;
out:
	if (g)
		yajl_gen_free(g);
	if (pg.f)
		fpage_reset(&pg);
	free(pg.f);
	free(vc);
}

void d4_h_pssl_weak_key(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	if (d4_h_query_only(req, resp, NULL))
		return;
	uint64_t id = 0;
	if (parse_u64(req->nparams ? req->params[0] : NULL, &id)) {
		d4_h_bad_param(resp, "bad key id in the path: a positive integer");
		return;
	}
	uint8_t clr = (uint8_t)d4_api_clearance(ctx, req);
	d4_api_clearance_header(resp, (enum d4_tlp)clr);
	answer_key(ctx, req, resp, id, clr);
}

void d4_h_pssl_weak_cert(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	if (d4_h_query_only(req, resp, NULL))
		return;
	const char *hex = req->nparams ? req->params[0] : NULL;
	uint8_t clr = (uint8_t)d4_api_clearance(ctx, req);
	uint64_t id = 0;
	int rc = cert_key(ctx->store, hex, clr, &id);
	if (rc == D4_EINVAL) {
		d4_h_bad_param(resp, "bad certificate in the path: a SHA-1 (40 hex digits)");
		return;
	}
	d4_api_clearance_header(resp, (enum d4_tlp)clr);
	if (rc == D4_ENOTFOUND || (rc == 0 && id == 0)) {
		d4_api_problem(resp, 404, "not-found", "Not Found",
			       rc ? "no certificate with this SHA-1" : "the certificate has no parsed key");
		return;
	}
	if (rc < 0) {
		d4_h_store_error(resp, rc, "passive SSL certificates");
		return;
	}
	answer_key(ctx, req, resp, id, clr);
}

/* ---- the job's status ---- */

static const char *state_name(int s)
{
	switch (s) {
	case D4_ANALYZE_WEAK_STARTING: return "starting";
	case D4_ANALYZE_WEAK_RUNNING: return "running";
	case D4_ANALYZE_WEAK_FULL: return "full";
	case D4_ANALYZE_WEAK_FAILED: return "failed";
	}
	return "unknown";
}

void d4_h_pssl_weak_status(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	if (d4_h_query_only(req, resp, NULL))
		return;
	struct d4_store_pssl_info info;
	memset(&info, 0, sizeof(info));
	int rc = d4_store_pssl_info(ctx->store, &info);
	if (rc < 0) {
		d4_h_store_error(resp, rc, "passive SSL store");
		return;
	}
	yajl_gen g = d4_h_gen();
	if (!g) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	yajl_gen_map_open(g);
	d4_api_j_key(g, "store");
	yajl_gen_map_open(g);
	d4_api_j_kv_u64(g, "keys", info.keys);
	d4_api_j_kv_u64(g, "rsa_keys", info.rsa_keys);
	d4_api_j_kv_u64(g, "findings", info.findings);
	d4_api_j_kv_u64(g, "position", info.weak_position);
	d4_api_j_kv_u64(g, "behind", info.keys > info.weak_position ? info.keys - info.weak_position : 0);
	yajl_gen_map_close(g);
	struct d4_analyze_weak_stats st;
	d4_api_j_key(g, "job");
	if (d4_analyze_weak_stats_global(&st) != 0) {
		yajl_gen_null(g);
	} else {
		yajl_gen_map_open(g);
		d4_api_j_kv_str(g, "state", state_name(st.state));
		if (st.last_error)
			d4_api_j_kv_str(g, "last_error", d4_strerror(st.last_error));
		else
			d4_h_j_null(g, "last_error");
		d4_api_j_kv_u64(g, "position", st.position);
		d4_api_j_kv_u64(g, "set_size", st.set_size);
		d4_api_j_kv_u64(g, "max_keys", ctx->conf ? ctx->conf->pssl_weak_max_keys : 0);
		d4_api_j_kv_u64(g, "set_bytes", st.set_bytes);
		d4_api_j_kv_u64(g, "max_bytes", ctx->conf ? ctx->conf->pssl_weak_max_bytes : 0);
		d4_api_j_kv_u64(g, "rebuilt", st.rebuilt);
		d4_api_j_kv_u64(g, "rebuild_ms", st.rebuild_ms);
		d4_api_j_kv_u64(g, "keys", st.keys);
		d4_api_j_kv_u64(g, "rsa", st.rsa);
		d4_api_j_kv_u64(g, "findings", st.findings);
		d4_api_j_kv_u64(g, "batches", st.batches);
		d4_api_j_kv_u64(g, "batch_ms_max", st.batch_ms_max);
		d4_api_j_kv_u64(g, "sweeps", st.sweeps);
		d4_api_j_kv_u64(g, "errors", st.errors);
		d4_api_j_kv_u64(g, "refused_full", st.refused_full);
		d4_api_j_kv_time(g, "last_batch", st.last_batch_s);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
	d4_h_send(resp, 200, g, 0);
}
