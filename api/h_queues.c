/* d4hub API — analyzer queues: list, create, get, update (rename, resize,
 * sensor group, clear the alert), delete, flush, preview, and consumption
 * (pop a batch as NDJSON; ack a position after a preview). Definitions and
 * counting rules are the store's (docs/store.md "Analyzer queues"); the
 * roles: admin changes queues, user reads and consumes them (analyzers run
 * with user tokens). Every frame handed out carries its provenance. */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_reader.h"
#include "d4_util.h"
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT_MAX	    1000
#define LIMIT_DEFAULT	    100
#define PREVIEW_MAX	    100
#define PREVIEW_DEFAULT	    10
#define PREVIEW_PAYLOAD_MAX 4096u /* bytes of each payload shown by a preview */
#define POP_MAX		    1000
#define POP_DEFAULT	    100
#define POP_BUDGET	    (16u << 20) /* payload bytes per pop; the frame crossing it is the last */
#define MAX_ENTRIES_DEFAULT 10000u

static const char *const create_fields[] = {"name", "type", "ext_type", "max_entries", "sensors", NULL};
static const char *const update_fields[] = {"name", "max_entries", "sensors", "alert", NULL};
static const char *const ack_fields[] = {"cursor", NULL};
static const char *const page_query[] = {"limit", "cursor", NULL};
static const char *const preview_query[] = {"limit", "from", NULL};
static const char *const pop_query[] = {"max", NULL};

static void j_queue(yajl_gen g, const struct d4_queue *q)
{
	yajl_gen_map_open(g);
	d4_api_j_kv_u64(g, "id", q->id);
	d4_h_j_kv_text(g, "name", q->name);
	d4_api_j_kv_u64(g, "type", q->type);
	d4_h_j_kv_text(g, "ext_type", q->ext_type[0] ? q->ext_type : NULL);
	d4_api_j_key(g, "sensors");
	yajl_gen_array_open(g);
	for (unsigned i = 0; i < q->ngroup; i++) {
		char hex[D4_UUID_HEX_LEN + 1];
		d4_uuid_hex(q->group[i], hex);
		d4_api_j_str(g, hex);
	}
	yajl_gen_array_close(g);
	d4_api_j_kv_u64(g, "max_entries", q->max_entries);
	d4_api_j_kv_time(g, "created", q->created);
	d4_api_j_kv_u64(g, "depth", q->tail - q->head);
	d4_api_j_kv_u64(g, "head", q->head);
	d4_api_j_kv_u64(g, "tail", q->tail);
	d4_api_j_kv_u64(g, "enqueued", q->enqueued);
	d4_api_j_kv_u64(g, "dropped", q->dropped);
	d4_api_j_kv_u64(g, "consumed", q->consumed);
	d4_api_j_kv_u64(g, "flushed", q->flushed);
	d4_api_j_kv_u64(g, "expired", q->expired);
	d4_api_j_kv_u64(g, "withheld", q->withheld);
	d4_api_j_kv_bool(g, "alert", q->alert);
	d4_api_j_kv_time(g, "last_drop_at", q->last_drop_at);
	yajl_gen_map_close(g);
}

static void send_queue(struct d4_api_resp *resp, int status, const struct d4_queue *q)
{
	yajl_gen g = d4_h_gen();
	if (g)
		j_queue(g, q);
	d4_h_send(resp, status, g, 0);
}

static void queue_error(struct d4_api_resp *resp, int rc, uint32_t id)
{
	char what[32];
	snprintf(what, sizeof(what), "queue %u", id);
	d4_h_store_error(resp, rc, what);
}

/* Path parameter 0 as a queue id (decimal 1..2^32-1). 0 or -1 (400 set). */
static int path_id(const struct d4_api_req *req, struct d4_api_resp *resp, uint32_t *out)
{
	const char *s = req->nparams ? req->params[0] : "";
	uint64_t v = 0;
	size_t n = strlen(s);
	if (n == 0 || n > 10 || s[0] == '0')
		goto bad;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		goto bad;
	*out = (uint32_t)v;
	return 0;
bad:
	d4_h_bad_param(resp, "queue id must be a decimal number from 1 to 4294967295");
	return -1;
}

static yajl_val member(const struct d4_api_req *req, const char *name)
{
	if (!req->json || !YAJL_IS_OBJECT(req->json))
		return NULL;
	for (size_t i = 0; i < req->json->u.object.len; i++)
		if (!strcmp(req->json->u.object.keys[i], name))
			return req->json->u.object.values[i];
	return NULL;
}

/* "sensors": array of uuids (at most D4_QUEUE_GROUP_MAX). 1 present, 0
 * absent, -1 (422 set). */
static int json_group(const struct d4_api_req *req, struct d4_api_resp *resp, uint8_t (*group)[16], uint8_t *n)
{
	yajl_val v = member(req, "sensors");
	if (!v)
		return 0;
	if (!YAJL_IS_ARRAY(v) || v->u.array.len > D4_QUEUE_GROUP_MAX) {
		d4_h_unprocessable(resp, "member 'sensors' must be an array of at most %d uuids", D4_QUEUE_GROUP_MAX);
		return -1;
	}
	for (size_t i = 0; i < v->u.array.len; i++) {
		yajl_val e = v->u.array.values[i];
		if (!YAJL_IS_STRING(e) || d4_uuid_parse(YAJL_GET_STRING(e), group[i]) != D4_OK) {
			d4_h_unprocessable(resp, "member 'sensors' item %zu is not a uuid", i);
			return -1;
		}
	}
	*n = (uint8_t)v->u.array.len;
	return 1;
}

/* ---- listQueues ------------------------------------------------------------- */
struct list_ctx {
	yajl_gen g;
	uint32_t after;
	uint64_t limit, n;
	uint32_t last;
	int more;
};

static int list_cb(void *arg, const struct d4_queue *q)
{
	struct list_ctx *lc = arg;
	if (q->id <= lc->after)
		return 0;
	if (lc->n == lc->limit) {
		lc->more = 1;
		return 1;
	}
	j_queue(lc->g, q);
	lc->last = q->id;
	lc->n++;
	return 0;
}

void d4_h_list_queues(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	struct list_ctx lc;
	uint8_t cur[4];
	memset(&lc, 0, sizeof(lc));
	if (d4_h_query_only(req, resp, page_query) ||
	    d4_h_query_uint(req, resp, "limit", 1, LIMIT_MAX, LIMIT_DEFAULT, &lc.limit))
		return;
	int c = d4_h_query_cursor(req, resp, cur, sizeof(cur));
	if (c < 0)
		return;
	if (c)
		lc.after = d4_get_u32be(cur);
	if (!(lc.g = d4_h_gen())) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	yajl_gen_map_open(lc.g);
	d4_api_j_key(lc.g, "items");
	yajl_gen_array_open(lc.g);
	int rc = d4_store_queue_foreach(ctx->store, list_cb, &lc);
	if (rc < 0) {
		yajl_gen_free(lc.g);
		d4_h_store_error(resp, rc, "queue list");
		return;
	}
	yajl_gen_array_close(lc.g);
	if (lc.more) {
		char text[16];
		d4_put_u32be(cur, lc.last);
		d4_h_cursor_encode(cur, sizeof(cur), text, sizeof(text));
		d4_api_j_kv_str(lc.g, "next_cursor", text);
	} else {
		d4_h_j_null(lc.g, "next_cursor");
	}
	yajl_gen_map_close(lc.g);
	d4_h_send(resp, 200, lc.g, 0);
}

/* ---- createQueue ------------------------------------------------------------- */
void d4_h_create_queue(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	struct d4_queue q;
	const char *name, *ext = NULL;
	int64_t type, max = MAX_ENTRIES_DEFAULT;
	int r, is_null = 0;
	memset(&q, 0, sizeof(q));
	if (d4_h_query_only(req, resp, NULL) || d4_h_body(req, resp, 1, create_fields) < 0)
		return;
	if ((r = d4_h_json_str(req, resp, "name", D4_QUEUE_NAME_MAX - 1, 0, NULL, &name)) <= 0) {
		if (r == 0)
			d4_h_missing(resp, "name");
		return;
	}
	if (!d4_store_queue_name_valid(name)) {
		d4_h_unprocessable(resp, "member 'name' must be 1 to 63 bytes without control characters");
		return;
	}
	if ((r = d4_h_json_int(req, resp, "type", 1, 255, &type)) <= 0) {
		if (r == 0)
			d4_h_missing(resp, "type");
		return;
	}
	if (d4_h_json_str(req, resp, "ext_type", D4_EXT_TYPE_MAX - 1, 0, &is_null, &ext) < 0 ||
	    d4_h_json_int(req, resp, "max_entries", 1, D4_QUEUE_ENTRIES_MAX, &max) < 0 ||
	    json_group(req, resp, q.group, &q.ngroup) < 0)
		return;
	if (is_null)
		ext = NULL;
	if (ext && type != 254) {
		d4_h_unprocessable(resp, "member 'ext_type' is only for type 254");
		return;
	}
	d4_strlcpy(q.name, name, sizeof(q.name));
	q.type = (uint8_t)type;
	if (ext)
		d4_strlcpy(q.ext_type, ext, sizeof(q.ext_type));
	q.max_entries = (uint32_t)max;
	int rc = d4_store_queue_create(ctx->store, &q);
	if (rc == D4_EINVAL) {
		d4_h_unprocessable(resp, "member 'ext_type' must be printable ASCII without spaces");
		return;
	}
	if (rc != D4_OK) {
		d4_h_store_error(resp, rc, "queue");
		return;
	}
	char loc[48];
	snprintf(loc, sizeof(loc), "/api/v1/queues/%u", q.id);
	d4_api_header(resp, "location", loc);
	send_queue(resp, 201, &q);
}

/* ---- getQueue / updateQueue / deleteQueue / flushQueue ------------------------- */
void d4_h_get_queue(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	uint32_t id;
	struct d4_queue q;
	if (d4_h_query_only(req, resp, NULL) || path_id(req, resp, &id))
		return;
	int rc = d4_store_queue_get(ctx->store, id, &q);
	if (rc != D4_OK)
		queue_error(resp, rc, id);
	else
		send_queue(resp, 200, &q);
}

void d4_h_update_queue(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	uint32_t id;
	struct d4_queue q;
	struct d4_queue_update u;
	uint8_t group[D4_QUEUE_GROUP_MAX][16];
	int64_t max = 0;
	int alert = 0, r, ra;
	memset(&u, 0, sizeof(u));
	if (d4_h_query_only(req, resp, NULL) || path_id(req, resp, &id) || d4_h_body(req, resp, 1, update_fields) < 0)
		return;
	if (req->json->u.object.len == 0) {
		d4_h_unprocessable(resp, "the body must set at least one of name, max_entries, sensors, alert");
		return;
	}
	if (d4_h_json_str(req, resp, "name", D4_QUEUE_NAME_MAX - 1, 0, NULL, &u.name) < 0 ||
	    d4_h_json_int(req, resp, "max_entries", 1, D4_QUEUE_ENTRIES_MAX, &max) < 0 ||
	    (r = json_group(req, resp, group, &u.ngroup)) < 0 || (ra = d4_h_json_bool(req, resp, "alert", &alert)) < 0)
		return;
	if (u.name && !d4_store_queue_name_valid(u.name)) {
		d4_h_unprocessable(resp, "member 'name' must be 1 to 63 bytes without control characters");
		return;
	}
	if (alert) {
		/* Only the operator's acknowledgement exists; drops raise it. */
		d4_h_unprocessable(resp, "member 'alert' can only be set to false (drops raise it)");
		return;
	}
	u.max_entries = (uint32_t)max;
	u.set_group = r;
	u.group = (const uint8_t(*)[16])group;
	u.clear_alert = ra;
	int rc = d4_store_queue_update(ctx->store, id, &u, &q);
	if (rc != D4_OK)
		queue_error(resp, rc, id);
	else
		send_queue(resp, 200, &q);
}

void d4_h_delete_queue(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	uint32_t id;
	if (d4_h_query_only(req, resp, NULL) || path_id(req, resp, &id))
		return;
	int rc = d4_store_queue_del(ctx->store, id);
	if (rc != D4_OK)
		queue_error(resp, rc, id);
	else
		d4_api_no_content(resp);
}

void d4_h_flush_queue(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	uint32_t id;
	struct d4_queue q;
	if (d4_h_query_only(req, resp, NULL) || path_id(req, resp, &id))
		return;
	int rc = d4_store_queue_flush(ctx->store, id, &q);
	if (rc != D4_OK)
		queue_error(resp, rc, id);
	else
		send_queue(resp, 200, &q);
}

void d4_h_ack_queue(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	uint32_t id;
	struct d4_queue q;
	int64_t pos;
	int r;
	if (d4_h_query_only(req, resp, NULL) || path_id(req, resp, &id) || d4_h_body(req, resp, 1, ack_fields) < 0)
		return;
	if ((r = d4_h_json_int(req, resp, "cursor", 0, INT64_MAX, &pos)) <= 0) {
		if (r == 0)
			d4_h_missing(resp, "cursor");
		return;
	}
	int rc = d4_store_queue_ack(ctx->store, id, (uint64_t)pos, &q);
	if (rc == D4_EINVAL)
		d4_h_unprocessable(resp, "member 'cursor' is beyond the queue's tail");
	else if (rc != D4_OK)
		queue_error(resp, rc, id);
	else
		send_queue(resp, 200, &q);
}

/* ---- frames: preview (JSON) and pop (NDJSON) -------------------------------- */
static const char b64std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding into out (4 * ceil(n / 3) + 1 bytes). */
static void b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64std[v >> 18];
		out[o++] = b64std[(v >> 12) & 63];
		out[o++] = b64std[(v >> 6) & 63];
		out[o++] = b64std[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = b64std[v >> 18];
		out[o++] = b64std[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64std[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
}

struct frames_ctx {
	yajl_gen g;
	char *b64;
	size_t b64_cap;
	size_t shown_max; /* payload bytes shown per frame (preview), SIZE_MAX for pop */
	size_t budget, bytes;
	uint64_t n, last_pos;
	int err;
	/* TLP: frames above the caller's clearance are withheld (counted) */
	enum d4_tlp clearance;
	uint64_t withheld;
	/* NDJSON output (pop) */
	char *out;
	size_t out_len, out_cap;
};

/* The QueueFrame members (provenance + payload). 0 or D4_ENOMEM. */
static int j_frame_members(struct frames_ctx *fc, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	yajl_gen g = fc->g;
	d4_api_j_kv_u64(g, "seq", rec->seq);
	d4_api_j_kv_u64(g, "session", rec->session);
	d4_h_j_uuid(g, "sensor", rec->uuid);
	d4_api_j_kv_u64(g, "type", rec->type);
	d4_api_j_kv_u64(g, "version", rec->version);
	d4_api_j_kv_str(g, "tlp", d4_policy_tlp_name((enum d4_tlp)rec->tlp));
	d4_h_j_uuid(g, "org", rec->org);
	d4_api_j_kv_u64(g, "header_ts", rec->hdr_ts);
	d4_api_j_kv_time(g, "received", rec->recv_ms / 1000u);
	d4_api_j_kv_u64(g, "received_ms", rec->recv_ms);
	d4_api_j_kv_u64(g, "size", rec->size);
	size_t shown = rec->size < fc->shown_max ? rec->size : fc->shown_max;
	size_t need = (shown + 2) / 3 * 4 + 1;
	if (need > fc->b64_cap) {
		char *nb = realloc(fc->b64, need);
		if (!nb)
			return D4_ENOMEM;
		fc->b64 = nb;
		fc->b64_cap = need;
	}
	b64_encode(payload, shown, fc->b64);
	d4_api_j_kv_str(g, "payload_b64", fc->b64);
	if (fc->shown_max != SIZE_MAX)
		d4_api_j_kv_bool(g, "payload_truncated", shown < rec->size);
	return 0;
}

static int preview_cb(void *arg, uint64_t pos, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	struct frames_ctx *fc = arg;
	/* A withheld entry keeps its place (pos), so that a consumer that acks
	 * after a preview moves past it, but shows nothing of the frame. */
	int withheld = rec && !d4_api_may_see(fc->clearance, rec->tlp);
	yajl_gen_map_open(fc->g);
	d4_api_j_kv_u64(fc->g, "pos", pos);
	d4_api_j_kv_bool(fc->g, "expired", rec == NULL);
	d4_api_j_kv_bool(fc->g, "withheld", withheld);
	if (withheld)
		fc->withheld++;
	else if (rec && (fc->err = j_frame_members(fc, rec, payload)) != 0)
		return fc->err;
	yajl_gen_map_close(fc->g);
	fc->last_pos = pos;
	fc->n++;
	return 0;
}

void d4_h_preview_queue(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	uint32_t id;
	uint64_t limit, from;
	struct d4_queue q;
	struct frames_ctx fc;
	memset(&fc, 0, sizeof(fc));
	if (d4_h_query_only(req, resp, preview_query) || path_id(req, resp, &id) ||
	    d4_h_query_uint(req, resp, "limit", 1, PREVIEW_MAX, PREVIEW_DEFAULT, &limit) ||
	    d4_h_query_uint(req, resp, "from", 0, INT64_MAX, 0, &from))
		return;
	int rc = d4_store_queue_get(ctx->store, id, &q);
	if (rc != D4_OK) {
		queue_error(resp, rc, id);
		return;
	}
	if (!(fc.g = d4_h_gen())) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	fc.shown_max = PREVIEW_PAYLOAD_MAX;
	fc.clearance = d4_api_clearance(ctx, req);
	yajl_gen_map_open(fc.g);
	d4_api_j_kv_u64(fc.g, "head", q.head);
	d4_api_j_kv_u64(fc.g, "tail", q.tail);
	d4_api_j_key(fc.g, "items");
	yajl_gen_array_open(fc.g);
	rc = d4_store_queue_peek(ctx->store, id, from, (unsigned)limit, preview_cb, &fc);
	free(fc.b64);
	if (rc < 0) {
		yajl_gen_free(fc.g);
		if (rc == D4_ENOMEM)
			d4_h_internal(resp, "out of memory");
		else
			queue_error(resp, rc, id);
		return;
	}
	yajl_gen_array_close(fc.g);
	/* next_from: where the next preview page starts (null at the tail as seen). */
	if (fc.n && fc.last_pos + 1 < q.tail)
		d4_api_j_kv_u64(fc.g, "next_from", fc.last_pos + 1);
	else
		d4_h_j_null(fc.g, "next_from");
	d4_api_j_kv_u64(fc.g, "withheld", fc.withheld);
	yajl_gen_map_close(fc.g);
	d4_api_clearance_header(resp, fc.clearance);
	d4_h_send(resp, 200, fc.g, 0);
}

static int out_append(struct frames_ctx *fc, const void *p, size_t n)
{
	if (fc->out_cap - fc->out_len < n) {
		size_t ncap = fc->out_cap ? fc->out_cap : 65536;
		while (ncap - fc->out_len < n)
			ncap *= 2;
		char *nb = realloc(fc->out, ncap);
		if (!nb)
			return D4_ENOMEM;
		fc->out = nb;
		fc->out_cap = ncap;
	}
	memcpy(fc->out + fc->out_len, p, n);
	fc->out_len += n;
	return 0;
}

static int pop_cb(void *arg, uint64_t pos, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	struct frames_ctx *fc = arg;
	const unsigned char *buf;
	size_t len;
	if (!d4_api_may_see(fc->clearance, rec->tlp)) {
		fc->withheld++;
		return D4_QUEUE_WITHHOLD;
	}
	yajl_gen_map_open(fc->g);
	d4_api_j_kv_u64(fc->g, "pos", pos);
	if ((fc->err = j_frame_members(fc, rec, payload)) != 0)
		return fc->err;
	yajl_gen_map_close(fc->g);
	if (yajl_gen_get_buf(fc->g, &buf, &len) != yajl_gen_status_ok)
		return fc->err = D4_ENOMEM;
	if ((fc->err = out_append(fc, buf, len)) != 0 || (fc->err = out_append(fc, "\n", 1)) != 0)
		return fc->err;
	yajl_gen_clear(fc->g);
	yajl_gen_reset(fc->g, NULL);
	fc->n++;
	fc->bytes += rec->size;
	return fc->bytes >= fc->budget ? 1 : 0;
}

void d4_h_pop_queue(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	uint32_t id;
	uint64_t max;
	struct d4_queue q;
	struct frames_ctx fc;
	memset(&fc, 0, sizeof(fc));
	if (d4_h_query_only(req, resp, pop_query) || path_id(req, resp, &id) ||
	    d4_h_query_uint(req, resp, "max", 1, POP_MAX, POP_DEFAULT, &max))
		return;
	if (!(fc.g = d4_h_gen())) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	fc.shown_max = SIZE_MAX;
	fc.budget = POP_BUDGET;
	fc.clearance = d4_api_clearance(ctx, req);
	int rc = d4_store_queue_pop(ctx->store, id, (unsigned)max, pop_cb, &fc, &q);
	yajl_gen_free(fc.g);
	free(fc.b64);
	if (rc < 0) {
		free(fc.out);
		if (rc == D4_ENOMEM)
			d4_h_internal(resp, "out of memory");
		else
			queue_error(resp, rc, id);
		return;
	}
	if (d4_api_body(resp, 200, "application/x-ndjson", fc.out ? fc.out : "", fc.out_len) != D4_OK) {
		free(fc.out);
		d4_h_internal(resp, "out of memory");
		return;
	}
	free(fc.out);
	char num[24];
	snprintf(num, sizeof(num), "%llu", (unsigned long long)(q.tail - q.head));
	d4_api_header(resp, "d4-queue-depth", num);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)q.dropped);
	d4_api_header(resp, "d4-queue-dropped", num);
	/* Consumed by this pop but not delivered: the consumer's token is not
	 * cleared for them (an analyzer with the wrong role, or a sensor that
	 * labels more restrictively than expected). */
	snprintf(num, sizeof(num), "%llu", (unsigned long long)fc.withheld);
	d4_api_header(resp, "d4-queue-withheld", num);
	d4_api_clearance_header(resp, fc.clearance);
	if (fc.withheld)
		d4_info("api: %s popped queue %u: %llu frame(s) above its clearance %s consumed without delivery",
			req->user, id, (unsigned long long)fc.withheld, d4_policy_tlp_name(fc.clearance));
}

/* ---- followQueue: NDJSON stream of entries from a cursor, not consuming -------
 * The producer reads with one short read transaction per next() (a queue
 * preview from its cursor), keeps the lines it built but could not hand out
 * yet (a line may be larger than a chunk), and answers D4_EAGAIN while the
 * queue has nothing new, with a blank keep-alive line every FOLLOW_KEEPALIVE_MS.
 * A consumer acknowledges with ackQueue (cursor = last pos + 1). */
#define FOLLOW_BATCH	    256
#define FOLLOW_KEEPALIVE_MS 15000u
#define FOLLOW_IDLE_MAX	    86400u

struct follow {
	struct d4_api_producer p; /* first: the server frees through it */
	struct d4_store *store;
	uint32_t id;
	uint64_t cursor;	   /* next position to look at */
	uint64_t max, sent;	   /* frames to send at most (0 = no limit) */
	uint64_t idle_ms, last_ms; /* end after idle_ms without a frame (0 = never); time of the last output */
	struct frames_ctx fc;	   /* lines built, out[off..out_len) not sent yet */
	size_t off;
	int gone;
};

static int follow_cb(void *arg, uint64_t pos, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	struct follow *f = arg;
	f->cursor = pos + 1;
	if (!rec)
		return 0; /* expired: nothing to send */
	if (!d4_api_may_see(f->fc.clearance, rec->tlp)) {
		f->fc.withheld++; /* left out; the consumer's next ack moves past it */
		return 0;
	}
	int r = pop_cb(&f->fc, pos, rec, payload);
	if (r < 0)
		return r;
	f->sent++;
	return (f->max && f->sent >= f->max) || f->fc.out_len >= D4_API_STREAM_CHUNK ? 1 : 0;
}

static long follow_next(struct d4_api_producer *p, uint8_t *buf, size_t cap)
{
	struct follow *f = (struct follow *)p;
	if (f->off == f->fc.out_len) {
		f->off = f->fc.out_len = 0;
		if (f->gone || (f->max && f->sent >= f->max))
			return 0;
		int rc = d4_store_queue_peek(f->store, f->id, f->cursor, FOLLOW_BATCH, follow_cb, f);
		if (rc == D4_ENOTFOUND)
			f->gone = 1; /* deleted: what was built still goes out, then the end */
		else if (rc < 0)
			return rc;
		uint64_t now = d4_mono_ms();
		if (f->fc.out_len == 0) {
			if (f->gone)
				return 0;
			if (f->idle_ms && now - f->last_ms >= f->idle_ms)
				return 0;
			if (now - f->last_ms < FOLLOW_KEEPALIVE_MS)
				return D4_EAGAIN;
			buf[0] = '\n';
			f->last_ms = now;
			return 1;
		}
		f->last_ms = now;
	}
	size_t n = f->fc.out_len - f->off;
	if (n > cap)
		n = cap;
	memcpy(buf, f->fc.out + f->off, n);
	f->off += n;
	return (long)n;
}

static void follow_free(struct d4_api_producer *p)
{
	struct follow *f = (struct follow *)p;
	if (f->fc.withheld)
		d4_info("api: follow of queue %u: %llu frame(s) above the caller's clearance %s withheld", f->id,
			(unsigned long long)f->fc.withheld, d4_policy_tlp_name(f->fc.clearance));
	if (f->fc.g)
		yajl_gen_free(f->fc.g);
	free(f->fc.b64);
	free(f->fc.out);
	free(f);
}

static const char *const follow_query[] = {"cursor", "max", "idle_timeout", NULL};

void d4_h_follow_queue(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	uint32_t id;
	uint64_t cursor, max, idle;
	struct d4_queue q;
	if (d4_h_query_only(req, resp, follow_query) || path_id(req, resp, &id) ||
	    d4_h_query_uint(req, resp, "cursor", 0, INT64_MAX, 0, &cursor) ||
	    d4_h_query_uint(req, resp, "max", 0, INT64_MAX, 0, &max) ||
	    d4_h_query_uint(req, resp, "idle_timeout", 0, FOLLOW_IDLE_MAX, 0, &idle))
		return;
	int rc = d4_store_queue_get(ctx->store, id, &q);
	if (rc != D4_OK) {
		queue_error(resp, rc, id);
		return;
	}
	struct follow *f = calloc(1, sizeof(*f));
	if (!f || !(f->fc.g = d4_h_gen())) {
		free(f);
		d4_h_internal(resp, "out of memory");
		return;
	}
	f->p.next = follow_next;
	f->p.free = follow_free;
	f->store = ctx->store;
	f->id = id;
	f->cursor = cursor;
	f->max = max;
	f->idle_ms = idle * 1000u;
	f->last_ms = d4_mono_ms();
	f->fc.shown_max = SIZE_MAX;
	f->fc.budget = SIZE_MAX;
	f->fc.clearance = d4_api_clearance(ctx, req);
	d4_api_clearance_header(resp, f->fc.clearance);
	d4_api_stream(resp, 200, "application/x-ndjson", &f->p);
}
