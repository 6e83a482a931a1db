/* COF (draft-dulaunoy-dnsop-passive-dns-cof) lines: parsing with yajl's event
 * parser after a size and nesting pre-check (no tree, so no recursion on
 * hostile nesting), and writing with explicit escaping. See d4_pdns.h for the
 * canonical byte representation that makes write -> parse an identity. */
#include "d4_error.h"
#include "d4_pdns.h"
#include "d4_util.h"

#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

enum cof_key {
	K_NONE = 0,
	K_RRNAME,
	K_RRTYPE,
	K_RDATA,
	K_TIME_FIRST,
	K_TIME_LAST,
	K_COUNT,
	K_BAILIWICK,
	K_SENSOR_ID,
	K_OTHER,
};

static const char *const key_names[] = {
    [K_RRNAME] = "rrname",	 [K_RRTYPE] = "rrtype", [K_RDATA] = "rdata",	     [K_TIME_FIRST] = "time_first",
    [K_TIME_LAST] = "time_last", [K_COUNT] = "count",	[K_BAILIWICK] = "bailiwick", [K_SENSOR_ID] = "sensor_id",
};

struct rd_ref {
	size_t off, len;
};

struct cof_ctx {
	int depth;    /* 1 = inside the top-level object */
	int in_rdata; /* inside the rdata array (depth 2) */
	enum cof_key key;
	unsigned seen; /* bit per enum cof_key */
	int err;
	uint16_t type;
	uint64_t tf, tl, count;
	int has_bw, has_sensor;
	char name[D4_PDNS_NAME_MAX];
	char bw[D4_PDNS_NAME_MAX];
	char sensor[256];
	char rdata[D4_PDNS_RDATA_MAX];
	/* Raw (decoded, not yet canonical) rdata strings: their canonical form
	 * depends on rrtype, which may come later in the object. */
	char *arena;
	size_t arena_cap, arena_used;
	struct rd_ref *rd;
	size_t nrd, rd_cap;
};

static int fail(struct cof_ctx *c, int err)
{
	if (!c->err)
		c->err = err;
	return 0; /* stops yajl */
}

/* Marks a known key's value as present; a second value is an error. */
static int take(struct cof_ctx *c)
{
	unsigned bit = 1u << c->key;
	if (c->seen & bit)
		return 0;
	c->seen |= bit;
	return 1;
}

/* Digits with an optional fraction (dropped); no sign, no exponent. */
static int num_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	size_t i = 0;
	uint64_t v = 0;
	if (n == 0 || s[0] < '0' || s[0] > '9')
		return D4_EINVAL;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return D4_EINVAL;
		v = v * 10 + d;
	}
	if (i < n) {
		if (s[i] != '.' || i + 1 == n)
			return D4_EINVAL;
		for (i++; i < n; i++)
			if (s[i] < '0' || s[i] > '9')
				return D4_EINVAL;
	}
	*out = v;
	return 0;
}

static int cb_null(void *ctx)
{
	struct cof_ctx *c = ctx;
	if (c->depth == 1 && (c->key == K_COUNT || c->key == K_BAILIWICK || c->key == K_SENSOR_ID))
		return 1; /* optional field given as null: absent */
	if (c->depth == 1 && c->key != K_OTHER)
		return fail(c, D4_EINVAL);
	if (c->in_rdata && c->depth == 2)
		return fail(c, D4_EINVAL);
	return 1;
}

static int cb_bool(void *ctx, int b)
{
	(void)b;
	struct cof_ctx *c = ctx;
	if ((c->depth == 1 && c->key != K_OTHER) || (c->in_rdata && c->depth == 2))
		return fail(c, D4_EINVAL);
	return 1;
}

static int cb_number(void *ctx, const char *s, size_t n)
{
	struct cof_ctx *c = ctx;
	if (c->in_rdata && c->depth == 2)
		return fail(c, D4_EINVAL);
	if (c->depth != 1 || c->key == K_OTHER)
		return 1;
	if (!take(c))
		return fail(c, D4_EINVAL);
	uint64_t v;
	switch (c->key) {
	case K_RRTYPE:
		if (num_u64(s, n, 65535, &v) || memchr(s, '.', n))
			return fail(c, D4_EINVAL);
		c->type = (uint16_t)v;
		return 1;
	case K_TIME_FIRST:
	case K_TIME_LAST:
		if (num_u64(s, n, UINT64_MAX / 2, &v))
			return fail(c, D4_EINVAL);
		*(c->key == K_TIME_FIRST ? &c->tf : &c->tl) = v;
		return 1;
	case K_COUNT:
		if (num_u64(s, n, UINT64_MAX, &v) || memchr(s, '.', n) || v == 0)
			return fail(c, D4_EINVAL);
		c->count = v;
		return 1;
	default: return fail(c, D4_EINVAL);
	}
}

static int add_rdata(struct cof_ctx *c, const unsigned char *s, size_t n)
{
	if (n == 0 || c->nrd == c->rd_cap || c->arena_used + n > c->arena_cap)
		return fail(c, D4_EINVAL);
	memcpy(c->arena + c->arena_used, s, n);
	c->rd[c->nrd++] = (struct rd_ref){c->arena_used, n};
	c->arena_used += n;
	return 1;
}

static int cb_string(void *ctx, const unsigned char *s, size_t n)
{
	struct cof_ctx *c = ctx;
	if (c->in_rdata && c->depth == 2)
		return add_rdata(c, s, n);
	if (c->depth != 1 || c->key == K_OTHER)
		return 1;
	if (!take(c))
		return fail(c, D4_EINVAL);
	const char *t = (const char *)s;
	switch (c->key) {
	case K_RRNAME:
		if (d4_pdns_name_canon(t, n, c->name, sizeof(c->name)) < 0)
			return fail(c, D4_EINVAL);
		return 1;
	case K_BAILIWICK:
		if (d4_pdns_name_canon(t, n, c->bw, sizeof(c->bw)) < 0)
			return fail(c, D4_EINVAL);
		c->has_bw = 1;
		return 1;
	case K_SENSOR_ID:
		if (n == 0 || n >= sizeof(c->sensor) || memchr(t, '\0', n))
			return fail(c, D4_EINVAL);
		memcpy(c->sensor, t, n);
		c->sensor[n] = '\0';
		c->has_sensor = 1;
		return 1;
	case K_RRTYPE:
		if (d4_pdns_type_parse(t, n, &c->type))
			return fail(c, D4_EINVAL);
		return 1;
	case K_RDATA: return add_rdata(c, s, n);
	default: return fail(c, D4_EINVAL); /* times and count must be numbers */
	}
}

static int cb_start_map(void *ctx)
{
	struct cof_ctx *c = ctx;
	if (c->depth == 0) {
		c->depth = 1;
		return 1;
	}
	if ((c->depth == 1 && c->key != K_OTHER) || (c->in_rdata && c->depth == 2))
		return fail(c, D4_EINVAL);
	c->depth++;
	return 1;
}

static int cb_map_key(void *ctx, const unsigned char *k, size_t n)
{
	struct cof_ctx *c = ctx;
	if (c->depth != 1)
		return 1;
	c->key = K_OTHER;
	for (int i = K_RRNAME; i < K_OTHER; i++)
		if (strlen(key_names[i]) == n && memcmp(key_names[i], k, n) == 0)
			c->key = (enum cof_key)i;
	return 1;
}

static int cb_end(void *ctx)
{
	struct cof_ctx *c = ctx;
	if (c->in_rdata && c->depth == 2) {
		c->in_rdata = 0;
		if (c->nrd == 0)
			return fail(c, D4_EINVAL);
	}
	c->depth--;
	return 1;
}

static int cb_start_array(void *ctx)
{
	struct cof_ctx *c = ctx;
	if (c->depth == 0 || (c->in_rdata && c->depth == 2))
		return fail(c, D4_EINVAL);
	if (c->depth == 1 && c->key != K_OTHER) {
		if (c->key != K_RDATA || !take(c))
			return fail(c, D4_EINVAL);
		c->in_rdata = 1;
	}
	c->depth++;
	return 1;
}

static const yajl_callbacks cof_callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_bool,
    .yajl_number = cb_number,
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end,
};

static int bad(struct d4_pdns_stats *st, int err)
{
	if (st)
		st->bad_lines++;
	return err;
}

int d4_pdns_cof_line(const char *line, size_t n, d4_pdns_emit_fn emit, void *arg, struct d4_pdns_stats *st)
{
	if (!line || !emit)
		return bad(st, D4_EINVAL);
	size_t k = 0;
	while (k < n && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r' || line[k] == '\n'))
		k++;
	if (k == n)
		return 0; /* blank line (NDJSON keep-alive): nothing to do */
	if (n > D4_PDNS_COF_LINE_MAX)
		return bad(st, D4_EINVAL);
	if (!d4_json_depth_ok(line, n, D4_PDNS_COF_DEPTH_MAX))
		return bad(st, D4_EJSON);

	/* One block: context, then the arena (decoded strings are never longer
	 * than their JSON text), then the rdata index (each element takes >= 3
	 * bytes of text: "x" and a separator). */
	size_t rd_cap = n / 3 + 1;
	struct cof_ctx *c = malloc(sizeof(*c) + n + rd_cap * sizeof(struct rd_ref) + 16);
	if (!c)
		return D4_ENOMEM;
	memset(c, 0, offsetof(struct cof_ctx, name));
	c->name[0] = c->bw[0] = c->sensor[0] = '\0';
	c->rd = (struct rd_ref *)(void *)((char *)c + sizeof(*c));
	c->rd_cap = rd_cap;
	c->nrd = 0;
	c->arena = (char *)(c->rd + rd_cap);
	c->arena_cap = n;
	c->arena_used = 0;
	c->count = 1;

	int rc = 0;
	yajl_handle h = yajl_alloc(&cof_callbacks, NULL, c);
	if (!h) {
		free(c);
		return D4_ENOMEM;
	}
	yajl_status ys = yajl_parse(h, (const unsigned char *)line, n);
	if (ys == yajl_status_ok)
		ys = yajl_complete_parse(h);
	yajl_free(h);
	if (c->err)
		rc = c->err;
	else if (ys != yajl_status_ok)
		rc = D4_EJSON;
	else if (c->depth != 0)
		rc = D4_EJSON;
	else {
		unsigned need =
		    (1u << K_RRNAME) | (1u << K_RRTYPE) | (1u << K_RDATA) | (1u << K_TIME_FIRST) | (1u << K_TIME_LAST);
		if ((c->seen & need) != need || c->tf > c->tl)
			rc = D4_EINVAL;
	}
	if (rc != 0) {
		free(c);
		return bad(st, rc);
	}

	for (size_t i = 0; i < c->nrd && rc == 0; i++) {
		int rl =
		    d4_pdns_rdata_canon(c->type, c->arena + c->rd[i].off, c->rd[i].len, c->rdata, sizeof(c->rdata));
		if (rl < 0) {
			if (st)
				st->too_long++;
			continue;
		}
		struct d4_pdns_obs o = {
		    .rrname = c->name,
		    .rrtype = c->type,
		    .rrclass = 1,
		    .rdata = c->rdata,
		    .rdata_len = (size_t)rl,
		    .bailiwick = c->has_bw ? c->bw : NULL,
		    .time_first = c->tf,
		    .time_last = c->tl,
		    .count = c->count,
		    .ttl = 0,
		    .sensor_id = c->has_sensor ? c->sensor : NULL,
		};
		if (st)
			st->records++;
		rc = emit(arg, &o);
	}
	free(c);
	return rc;
}

/* ---- writing ---- */

struct wbuf {
	char *b;
	size_t cap, len;
	int err;
};

static void w_raw(struct wbuf *w, const char *s, size_t n)
{
	if (w->err || n > w->cap - w->len) {
		w->err = 1;
		return;
	}
	memcpy(w->b + w->len, s, n);
	w->len += n;
}

static void w_lit(struct wbuf *w, const char *s)
{
	w_raw(w, s, strlen(s));
}

static void w_u64(struct wbuf *w, uint64_t v)
{
	char t[24];
	size_t i = sizeof(t);
	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	w_raw(w, t + i, sizeof(t) - i);
}

/* DNS text (canonical presentation form): bytes outside lo..0x7e become
 * \DDD, then '"' and '\' get their JSON escapes. Always ASCII. */
static void w_dns_str(struct wbuf *w, const char *s, size_t n, unsigned lo)
{
	w_raw(w, "\"", 1);
	for (size_t i = 0; i < n && !w->err; i++) {
		unsigned c = (unsigned char)s[i];
		if (c < lo || c > 0x7e) {
			char t[5] = {'\\', '\\', (char)('0' + c / 100), (char)('0' + (c / 10) % 10),
				     (char)('0' + c % 10)};
			w_raw(w, t, 5);
		} else if (c == '"' || c == '\\') {
			char t[2] = {'\\', (char)c};
			w_raw(w, t, 2);
		} else
			w_raw(w, s + i, 1);
	}
	w_raw(w, "\"", 1);
}

/* Free text: valid UTF-8 kept, controls as \u00XX, invalid bytes as U+FFFD. */
static void w_text_str(struct wbuf *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	w_raw(w, "\"", 1);
	for (size_t i = 0; i < n && !w->err;) {
		unsigned c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f) {
			char t[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			w_raw(w, t, 6);
			i++;
		} else if (c == '"' || c == '\\') {
			char t[2] = {'\\', (char)c};
			w_raw(w, t, 2);
			i++;
		} else {
			size_t l = d4_utf8_seq((const uint8_t *)s + i, n - i);
			if (l == 0) {
				w_lit(w, "\\ufffd");
				i++;
			} else {
				w_raw(w, s + i, l);
				i += l;
			}
		}
	}
	w_raw(w, "\"", 1);
}

int d4_pdns_cof_write(const struct d4_pdns_obs *obs, char *buf, size_t cap)
{
	if (!obs || !buf || !obs->rrname || !obs->rdata)
		return D4_EINVAL;
	if (cap == 0)
		return D4_ETOOBIG;
	struct wbuf w = {buf, cap - 1, 0, 0}; /* room for the NUL */
	char tb[16];
	w_lit(&w, "{\"rrname\":");
	w_dns_str(&w, obs->rrname, strlen(obs->rrname), 0x21);
	w_lit(&w, ",\"rrtype\":\"");
	w_lit(&w, d4_pdns_type_name(obs->rrtype, tb, sizeof(tb)));
	w_lit(&w, "\",\"rdata\":");
	w_dns_str(&w, obs->rdata, obs->rdata_len, 0x20);
	w_lit(&w, ",\"time_first\":");
	w_u64(&w, obs->time_first);
	w_lit(&w, ",\"time_last\":");
	w_u64(&w, obs->time_last);
	w_lit(&w, ",\"count\":");
	w_u64(&w, obs->count);
	if (obs->bailiwick) {
		w_lit(&w, ",\"bailiwick\":");
		w_dns_str(&w, obs->bailiwick, strlen(obs->bailiwick), 0x21);
	}
	if (obs->sensor_id) {
		w_lit(&w, ",\"sensor_id\":");
		w_text_str(&w, obs->sensor_id, strlen(obs->sensor_id));
	}
	w_lit(&w, "}\n");
	if (w.err || w.len > (size_t)0x7fffffff)
		return D4_ETOOBIG;
	buf[w.len] = '\0';
	return (int)w.len;
}
