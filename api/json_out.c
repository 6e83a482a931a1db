/* d4hub API — helpers shared by the resource handlers: request validation,
 * store error mapping, opaque cursors and the serialisers of the common
 * schemas, so that no handler repeats them (and they cannot drift apart). */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_store_fed.h"
#include "d4_util.h"
#include "handlers.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define HISTORY_DAYS 7

/* ---- problems -------------------------------------------------------------- */

static void vproblem(struct d4_api_resp *resp, int status, const char *type, const char *title, const char *fmt,
		     va_list ap) __attribute__((format(printf, 5, 0)));

static void vproblem(struct d4_api_resp *resp, int status, const char *type, const char *title, const char *fmt,
		     va_list ap)
{
	char detail[512];
	vsnprintf(detail, sizeof(detail), fmt, ap);
	d4_api_problem(resp, status, type, title, "%s", detail);
}

void d4_h_bad_param(struct d4_api_resp *resp, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vproblem(resp, 400, "invalid-parameter", "Invalid Parameter", fmt, ap);
	va_end(ap);
}

void d4_h_unprocessable(struct d4_api_resp *resp, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vproblem(resp, 422, "unprocessable", "Unprocessable Content", fmt, ap);
	va_end(ap);
}

void d4_h_conflict(struct d4_api_resp *resp, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vproblem(resp, 409, "conflict", "Conflict", fmt, ap);
	va_end(ap);
}

void d4_h_internal(struct d4_api_resp *resp, const char *what)
{
	d4_api_problem(resp, 500, "internal", "Internal Server Error", "%s", what);
}

void d4_h_store_error(struct d4_api_resp *resp, int rc, const char *what)
{
	switch (rc) {
	case D4_ENOTFOUND: d4_api_problem(resp, 404, "not-found", "Not Found", "no %s", what); return;
	case D4_EEXIST: d4_api_problem(resp, 409, "conflict", "Conflict", "%s already exists", what); return;
	case D4_EINVAL:
		/* The handlers validate first; this is the store's own check. */
		d4_api_problem(resp, 422, "unprocessable", "Unprocessable Content", "invalid value for %s", what);
		return;
	case D4_EFULL:
		/* The map is the storage quota: retention or an operator frees
		 * room, so the client may retry later. */
		d4_api_header(resp, "retry-after", "60");
		d4_api_problem(resp, 503, "storage-full", "Storage Full",
			       "the store is full; %s was not changed (retry after retention frees space)", what);
		return;
	default:
		d4_err("api: store error on %s: %s", what, d4_strerror(rc));
		d4_api_problem(resp, 500, "internal", "Internal Server Error", "store error on %s", what);
		return;
	}
}

/* ---- parameters ----------------------------------------------------------- */

int d4_h_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return 0;
	return 1;
}

/* Bounded copy of a client-supplied value for a message: control bytes are
 * replaced, long values cut. */
static const char *show(const char *s, char *out, size_t size)
{
	size_t o = 0;
	for (; s && *s && o + 4 < size; s++)
		out[o++] = ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f) ? '?' : *s;
	if (s && *s && size > 4) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

int d4_h_path_uuid(const struct d4_api_req *req, struct d4_api_resp *resp, unsigned idx, int want_v4, uint8_t out[16])
{
	char buf[48];
	const char *s = idx < req->nparams ? req->params[idx] : NULL;
	if (!s || d4_uuid_parse(s, out) != D4_OK) {
		d4_h_bad_param(resp, "bad uuid '%s' in the path: expected 32 hex digits (dashes allowed)",
			       show(s ? s : "", buf, sizeof(buf)));
		return -1;
	}
	if (want_v4 && !d4_uuid_is_v4(out)) {
		d4_h_bad_param(resp, "uuid '%s' in the path is not a version 4 uuid", show(s, buf, sizeof(buf)));
		return -1;
	}
	return 0;
}

int d4_h_query_only(const struct d4_api_req *req, struct d4_api_resp *resp, const char *const *names)
{
	char buf[48];
	for (unsigned i = 0; i < req->nquery; i++) {
		int known = 0;
		for (const char *const *n = names; n && *n; n++)
			if (!strcmp(*n, req->qname[i]))
				known = 1;
		if (!known) {
			d4_h_bad_param(resp, "unknown query parameter '%s'", show(req->qname[i], buf, sizeof(buf)));
			return -1;
		}
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(req->qname[j], req->qname[i])) {
				d4_h_bad_param(resp, "query parameter '%s' given more than once",
					       show(req->qname[i], buf, sizeof(buf)));
				return -1;
			}
	}
	return 0;
}

int d4_h_query_uint(const struct d4_api_req *req, struct d4_api_resp *resp, const char *name, uint64_t min,
		    uint64_t max, uint64_t def, uint64_t *out)
{
	char buf[48];
	const char *s = d4_api_query(req, name);
	if (!s) {
		*out = def;
		return 0;
	}
	uint64_t v = 0;
	size_t n = strlen(s);
	int ok = n > 0 && n <= 19;
	for (size_t i = 0; ok && i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			ok = 0;
		else
			v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (!ok || v < min || v > max) {
		d4_h_bad_param(resp, "query parameter '%s' must be an integer from %llu to %llu, got '%s'", name,
			       (unsigned long long)min, (unsigned long long)max, show(s, buf, sizeof(buf)));
		return -1;
	}
	*out = v;
	return 0;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void d4_h_cursor_encode(const uint8_t *key, size_t n, char *out, size_t out_size)
{
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | key[i];
		bits += 8;
		while (bits >= 6 && o + 1 < out_size) {
			bits -= 6;
			out[o++] = b64url[(acc >> bits) & 63];
		}
	}
	if (bits > 0 && o + 1 < out_size)
		out[o++] = b64url[(acc << (6 - bits)) & 63];
	if (out_size)
		out[o] = '\0';
}

/* Strict decoder: exactly the length the encoder produces for n bytes, no
 * padding, unused trailing bits zero (so one key has one cursor). */
static int cursor_decode(const char *s, uint8_t *out, size_t n)
{
	size_t len = strlen(s), want = (n * 8 + 5) / 6, o = 0;
	uint32_t acc = 0;
	int bits = 0;
	if (len != want)
		return -1;
	for (size_t i = 0; i < len; i++) {
		const char *p = s[i] ? strchr(b64url, s[i]) : NULL;
		if (!p)
			return -1;
		acc = (acc << 6) | (uint32_t)(p - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o < n)
				out[o++] = (uint8_t)(acc >> bits);
		}
		acc &= (1u << bits) - 1;
	}
	return (o == n && acc == 0) ? 0 : -1;
}

int d4_h_query_cursor(const struct d4_api_req *req, struct d4_api_resp *resp, uint8_t *out, size_t n)
{
	const char *s = d4_api_query(req, "cursor");
	if (!s)
		return 0;
	if (cursor_decode(s, out, n) != 0) {
		d4_h_bad_param(resp, "invalid cursor: pass the next_cursor of the previous page unchanged");
		return -1;
	}
	return 1;
}

/* ---- JSON bodies ------------------------------------------------------------ */

/* 1 if some string of the raw body contains the escape \u0000. */
static int body_has_nul_escape(const uint8_t *b, size_t len)
{
	int in_str = 0;
	for (size_t i = 0; i < len; i++) {
		if (!in_str) {
			if (b[i] == '"')
				in_str = 1;
			continue;
		}
		if (b[i] == '"') {
			in_str = 0;
		} else if (b[i] == '\\' && i + 1 < len) {
			if (b[i + 1] == 'u' && i + 5 < len && b[i + 2] == '0' && b[i + 3] == '0' && b[i + 4] == '0' &&
			    b[i + 5] == '0')
				return 1;
			i++; /* skip the escaped character */
		}
	}
	return 0;
}

int d4_h_body(const struct d4_api_req *req, struct d4_api_resp *resp, int required, const char *const *allowed)
{
	char buf[64];
	yajl_val v = req->json;
	if (!v) {
		if (!required)
			return 0;
		d4_api_problem(resp, 400, "bad-request", "Bad Request", "a JSON object body is required");
		return -1;
	}
	if (!YAJL_IS_OBJECT(v)) {
		d4_h_unprocessable(resp, "the body must be a JSON object");
		return -1;
	}
	for (size_t i = 0; i < v->u.object.len; i++) {
		const char *k = v->u.object.keys[i];
		int known = 0;
		for (const char *const *a = allowed; a && *a; a++)
			if (!strcmp(*a, k))
				known = 1;
		if (!known) {
			d4_h_unprocessable(resp, "unknown member '%s'", show(k, buf, sizeof(buf)));
			return -1;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(v->u.object.keys[j], k)) {
				d4_h_unprocessable(resp, "member '%s' given more than once", k);
				return -1;
			}
	}
	if (req->body && body_has_nul_escape(req->body, req->body_len)) {
		d4_h_unprocessable(resp, "strings must not contain NUL characters (\\u0000)");
		return -1;
	}
	return 1;
}

static yajl_val member(const struct d4_api_req *req, const char *name)
{
	yajl_val v = req->json;
	if (!v || !YAJL_IS_OBJECT(v))
		return NULL;
	for (size_t i = 0; i < v->u.object.len; i++)
		if (!strcmp(v->u.object.keys[i], name))
			return v->u.object.values[i];
	return NULL;
}

int d4_h_missing(struct d4_api_resp *resp, const char *name)
{
	d4_h_unprocessable(resp, "missing required member '%s'", name);
	return -1;
}

int d4_h_json_str(const struct d4_api_req *req, struct d4_api_resp *resp, const char *name, size_t max_len,
		  int allow_empty, int *is_null, const char **out)
{
	yajl_val v = member(req, name);
	if (is_null)
		*is_null = 0;
	if (!v)
		return 0;
	if (YAJL_IS_NULL(v) && is_null) {
		*is_null = 1;
		return 1;
	}
	if (!YAJL_IS_STRING(v)) {
		d4_h_unprocessable(resp, "member '%s' must be a string%s", name, is_null ? " or null" : "");
		return -1;
	}
	size_t len = strlen(v->u.string);
	if (len > max_len || (len == 0 && !allow_empty)) {
		d4_h_unprocessable(resp, "member '%s' must be %d to %zu bytes long (got %zu)", name,
				   allow_empty ? 0 : 1, max_len, len);
		return -1;
	}
	*out = v->u.string;
	return 1;
}

int d4_h_json_int(const struct d4_api_req *req, struct d4_api_resp *resp, const char *name, int64_t min, int64_t max,
		  int64_t *out)
{
	yajl_val v = member(req, name);
	if (!v)
		return 0;
	if (!YAJL_IS_INTEGER(v)) {
		d4_h_unprocessable(resp, "member '%s' must be an integer", name);
		return -1;
	}
	long long n = YAJL_GET_INTEGER(v);
	if (n < min || n > max) {
		d4_h_unprocessable(resp, "member '%s' must be from %lld to %lld (got %lld)", name, (long long)min,
				   (long long)max, n);
		return -1;
	}
	*out = (int64_t)n;
	return 1;
}

int d4_h_json_bool(const struct d4_api_req *req, struct d4_api_resp *resp, const char *name, int *out)
{
	yajl_val v = member(req, name);
	if (!v)
		return 0;
	if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v)) {
		d4_h_unprocessable(resp, "member '%s' must be true or false", name);
		return -1;
	}
	*out = YAJL_IS_TRUE(v);
	return 1;
}

yajl_gen d4_h_gen(void)
{
	return yajl_gen_alloc(NULL);
}

void d4_h_send(struct d4_api_resp *resp, int status, yajl_gen g, int wipe)
{
	const unsigned char *buf;
	size_t len;
	if (!g) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
		d4_h_internal(resp, "cannot build the response");
	} else if (d4_api_body(resp, status, "application/json", buf, len) != 0) {
		d4_h_internal(resp, "out of memory");
	}
	if (wipe && yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok)
		d4_wipe((void *)buf, len);
	yajl_gen_free(g);
}

/* ---- serialisers -------------------------------------------------------------- */

void d4_h_j_kv_text(yajl_gen g, const char *k, const char *s)
{
	d4_api_j_key(g, k);
	d4_h_j_text(g, s);
}

void d4_h_j_text(yajl_gen g, const char *s)
{
	/* Store strings are bounded (the largest field is 256 bytes); each
	 * invalid byte becomes U+FFFD (3 bytes). */
	char buf[3 * 512 + 1];
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)s;
	if (!s) {
		yajl_gen_null(g);
		return;
	}
	while (*p && o + 4 < sizeof(buf)) {
		size_t n = d4_utf8_seq(p, 4); /* NUL-terminated */
		if (n == 0) {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			p++;
		} else {
			memcpy(buf + o, p, n);
			o += n;
			p += n;
		}
	}
	buf[o] = '\0';
	d4_api_j_str(g, buf);
}

void d4_h_j_uuid(yajl_gen g, const char *k, const uint8_t uuid[16])
{
	char hex[D4_UUID_HEX_LEN + 1];
	d4_uuid_hex(uuid, hex);
	d4_api_j_kv_str(g, k, hex);
}

void d4_h_j_null(yajl_gen g, const char *k)
{
	d4_api_j_key(g, k);
	yajl_gen_null(g);
}

const char *d4_h_addr_text(const uint8_t addr[16], char *out, size_t size)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const char *r;
	if (!memcmp(addr, mapped, 12))
		r = inet_ntop(AF_INET, addr + 12, out, (socklen_t)size);
	else
		r = inet_ntop(AF_INET6, addr, out, (socklen_t)size);
	if (!r)
		snprintf(out, size, "?");
	return out;
}

static void summary_fields(yajl_gen g, struct d4_store *st, const struct d4_sensor *sn)
{
	struct d4_live_info li;
	int known = st && d4_store_live_get(st, sn->uuid, &li);
	d4_h_j_uuid(g, "uuid", sn->uuid);
	d4_api_j_kv_str(g, "status", d4_store_status_name((enum d4_sensor_status)sn->status));
	d4_h_j_kv_text(g, "description", sn->description);
	d4_api_j_kv_time(g, "first_seen", sn->first_seen);
	d4_api_j_kv_time(g, "last_seen", sn->last_seen);
	d4_api_j_kv_u64(g, "packets", sn->packets);
	d4_api_j_kv_u64(g, "bytes", sn->bytes);
	d4_h_j_kv_text(g, "last_error", sn->last_error[0] ? sn->last_error : NULL);
	d4_api_j_kv_time(g, "last_error_at", sn->last_error_at);
	if (known) {
		d4_api_j_kv_bool(g, "connected", li.sessions > 0);
		d4_api_j_kv_u64(g, "live_sessions", li.sessions);
		d4_api_j_kv_time(g, "connected_since", li.since);
	} else {
		d4_h_j_null(g, "connected");
		d4_h_j_null(g, "live_sessions");
		d4_h_j_null(g, "connected_since");
	}
}

void d4_h_j_sensor_summary(yajl_gen g, struct d4_store *st, const struct d4_sensor *sn)
{
	yajl_gen_map_open(g);
	summary_fields(g, st, sn);
	yajl_gen_map_close(g);
}

void d4_h_j_silent_sensor(yajl_gen g, struct d4_store *st, const struct d4_sensor *sn, uint64_t now)
{
	/* The store's rule: a sensor never seen counts from its creation. */
	uint64_t since = sn->last_seen ? sn->last_seen : sn->created;
	yajl_gen_map_open(g);
	summary_fields(g, st, sn);
	d4_api_j_kv_u64(g, "silence_threshold", sn->silence_threshold);
	d4_api_j_kv_u64(g, "silent_for", now > since ? now - since : 0);
	yajl_gen_map_close(g);
}

void d4_h_j_rejections(yajl_gen g, const char *k, const uint64_t *counts)
{
	d4_api_j_key(g, k);
	yajl_gen_map_open(g);
	for (int r = 0; r < D4_REJ_COUNT; r++)
		d4_api_j_kv_u64(g, d4_store_reject_name((enum d4_reject)r), counts[r]);
	yajl_gen_map_close(g);
}

void d4_h_day_text(uint32_t day, char out[16])
{
	struct tm tm;
	time_t t = (time_t)day * 86400;
	if (!gmtime_r(&t, &tm) || strftime(out, 16, "%Y-%m-%d", &tm) == 0)
		snprintf(out, 16, "1970-01-01");
}

static int type_cb(void *ctx, const struct d4_sensor_type_stat *st)
{
	yajl_gen g = ctx;
	yajl_gen_map_open(g);
	d4_api_j_kv_u64(g, "type", st->type);
	d4_h_j_kv_text(g, "ext_type", st->ext_type[0] ? st->ext_type : NULL);
	d4_api_j_kv_time(g, "first_seen", st->first_seen);
	d4_api_j_kv_time(g, "last_seen", st->last_seen);
	d4_api_j_kv_u64(g, "packets", st->packets);
	d4_api_j_kv_u64(g, "bytes", st->bytes);
	yajl_gen_map_close(g);
	return 0;
}

struct hist {
	uint32_t first;
	uint64_t packets[HISTORY_DAYS], bytes[HISTORY_DAYS], rejects[HISTORY_DAYS];
};

static int hist_cb(void *ctx, const struct d4_daily_stat *st)
{
	struct hist *h = ctx;
	if (st->day >= h->first && st->day - h->first < HISTORY_DAYS) {
		unsigned i = st->day - h->first;
		h->packets[i] += st->packets;
		h->bytes[i] += st->bytes;
		h->rejects[i] += st->rejects;
	}
	return 0;
}

int d4_h_j_sensor_detail(yajl_gen g, struct d4_store *st, const struct d4_sensor *sn, const char *extra_key,
			 const char *extra_val)
{
	char buf[64];
	uint64_t now = d4_now_s();
	uint32_t today = (uint32_t)(now / 86400);
	struct hist h;
	memset(&h, 0, sizeof(h));
	h.first = today - (HISTORY_DAYS - 1);
	int rc = d4_store_daily_foreach(st, h.first, today, sn->uuid, hist_cb, &h);
	if (rc < 0)
		return rc;

	yajl_gen_map_open(g);
	summary_fields(g, st, sn);
	d4_h_j_kv_text(g, "mail", sn->mail);
	d4_api_j_kv_time(g, "created", sn->created);
	d4_api_j_kv_str(g, "default_tlp",
			sn->default_tlp ? d4_policy_tlp_name((enum d4_tlp)sn->default_tlp) : (const char *)NULL);
	if (sn->has_default_org)
		d4_h_j_uuid(g, "default_org", sn->default_org);
	else
		d4_h_j_null(g, "default_org");
	d4_api_j_kv_u64(g, "max_payload", sn->max_payload);
	d4_api_j_kv_u64(g, "max_backlog", sn->max_backlog);
	d4_api_j_kv_u64(g, "silence_threshold", sn->silence_threshold);
	/* An expired ban no longer means anything: shown as null. */
	d4_api_j_kv_time(g, "ban_until", sn->ban_until > now ? sn->ban_until : 0);
	d4_h_j_rejections(g, "rejections", sn->rejects);
	struct d4_replay_stats rs;
	if (d4_store_replay_stats(st, sn->uuid, &rs) != 0)
		memset(&rs, 0, sizeof(rs));
	d4_api_j_kv_u64(g, "replays_dropped", rs.dropped);
	d4_api_j_kv_bool(g, "has_key", sn->keylen > 0);
	d4_api_j_key(g, "last_ips");
	yajl_gen_array_open(g);
	for (unsigned i = 0; i < sn->nlast_ips && i < D4_LAST_IPS; i++) {
		yajl_gen_map_open(g);
		d4_api_j_kv_str(g, "ip", d4_h_addr_text(sn->last_ips[i].addr, buf, sizeof(buf)));
		d4_api_j_kv_time(g, "seen", sn->last_ips[i].when);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	d4_api_j_key(g, "types");
	yajl_gen_array_open(g);
	rc = d4_store_sensor_types(st, sn->uuid, type_cb, g);
	if (rc < 0)
		return rc;
	yajl_gen_array_close(g);
	d4_api_j_key(g, "history");
	yajl_gen_array_open(g);
	for (unsigned i = 0; i < HISTORY_DAYS; i++) {
		char day[16];
		d4_h_day_text(h.first + i, day);
		yajl_gen_map_open(g);
		d4_api_j_kv_str(g, "day", day);
		d4_api_j_kv_u64(g, "packets", h.packets[i]);
		d4_api_j_kv_u64(g, "bytes", h.bytes[i]);
		d4_api_j_kv_u64(g, "rejects", h.rejects[i]);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	if (extra_key && extra_val)
		d4_api_j_kv_str(g, extra_key, extra_val);
	yajl_gen_map_close(g);
	return 0;
}

void d4_h_j_session(yajl_gen g, const struct d4_session_info *si, uint8_t fallback_tlp)
{
	d4_h_j_session_fed(g, si, fallback_tlp, NULL);
}

void d4_h_j_session_fed(yajl_gen g, const struct d4_session_info *si, uint8_t fallback_tlp,
			const struct d4_store_fed_session *fs)
{
	char buf[64];
	yajl_gen_map_open(g);
	d4_api_j_kv_u64(g, "id", si->session);
	d4_h_j_uuid(g, "sensor", si->uuid);
	d4_api_j_kv_u64(g, "type", si->type);
	d4_h_j_kv_text(g, "ext_type", si->ext_type[0] ? si->ext_type : NULL);
	/* A session without frames or meta header has no TLP recorded yet;
	 * show the level it would get (sensor's, else the hub's default). */
	d4_api_j_kv_str(g, "tlp", d4_policy_tlp_name((enum d4_tlp)(si->tlp ? si->tlp : fallback_tlp)));
	d4_h_j_uuid(g, "org", si->org);
	d4_api_j_kv_str(g, "peer", d4_h_addr_text(si->addr, buf, sizeof(buf)));
	d4_api_j_kv_time(g, "started", si->started);
	d4_api_j_kv_time(g, "ended", si->ended);
	d4_api_j_kv_u64(g, "frames", si->frames);
	d4_api_j_kv_u64(g, "bytes", si->bytes);
	d4_h_j_kv_text(g, "close_reason", si->close_reason[0] ? si->close_reason : NULL);
	if (fs) {
		/* received from a partner hub: where it came from */
		d4_api_j_key(g, "federation");
		yajl_gen_map_open(g);
		d4_h_j_kv_text(g, "partner", fs->partner);
		d4_h_j_uuid(g, "sender", fs->sender);
		if (fs->prov.has_origin && !fs->prov.stripped)
			d4_h_j_uuid(g, "origin", fs->prov.origin);
		else
			d4_h_j_null(g, "origin");
		d4_api_j_kv_bool(g, "stripped", fs->prov.stripped);
		d4_api_j_key(g, "via");
		yajl_gen_array_open(g);
		for (unsigned i = 0; i < fs->prov.nvia && i < D4_STORE_FED_VIA_MAX; i++) {
			char hex[D4_UUID_HEX_LEN + 1];
			d4_uuid_hex(fs->prov.via[i], hex);
			d4_api_j_str(g, hex);
		}
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
}

const char *d4_h_block_kind_name(unsigned kind)
{
	switch (kind) {
	case D4_BLOCK_IP: return "ip";
	case D4_BLOCK_UUID: return "uuid";
	case D4_BLOCK_UUID_IPS: return "uuid-ips";
	default: return "unknown";
	}
}

void d4_h_j_block_entry(yajl_gen g, const struct d4_block_entry *e)
{
	char val[64];
	if (e->kind == D4_BLOCK_IP)
		d4_store_format_cidr(e->addr, e->prefix, val, sizeof(val));
	else
		d4_uuid_hex(e->uuid, val);
	yajl_gen_map_open(g);
	d4_api_j_kv_str(g, "kind", d4_h_block_kind_name(e->kind));
	d4_api_j_kv_str(g, "value", val);
	d4_api_j_kv_time(g, "created", e->created);
	yajl_gen_map_close(g);
}

struct ext_ctx {
	yajl_gen g;
	unsigned n;
};

static int ext_cb(void *ctx, const char *name)
{
	struct ext_ctx *ec = ctx;
	d4_h_j_text(ec->g, name);
	ec->n++;
	return 0;
}

int d4_h_j_types(yajl_gen g, struct d4_store *st)
{
	uint8_t acc[256];
	struct ext_ctx ec = {g, 0};
	int rc = d4_store_types_get(st, acc);
	if (rc < 0)
		return rc;
	yajl_gen_map_open(g);
	d4_api_j_key(g, "accepted");
	yajl_gen_array_open(g);
	for (unsigned t = 0; t < 256; t++)
		if (acc[t])
			yajl_gen_integer(g, t);
	yajl_gen_array_close(g);
	d4_api_j_key(g, "ext_types");
	yajl_gen_array_open(g);
	rc = d4_store_ext_type_foreach(st, ext_cb, &ec);
	if (rc < 0)
		return rc;
	yajl_gen_array_close(g);
	/* An empty list accepts every extended type (d4_store.h). */
	d4_api_j_kv_bool(g, "all_ext_types_accepted", ec.n == 0);
	yajl_gen_map_close(g);
	return 0;
}
