/* d4hub API — blocklists: IPs and CIDRs, uuids, and "all IPs of a uuid".
 * Values are normalised by the store (10.1.2.3/8 is 10.0.0.0/8), so the
 * entry returned and listed is the canonical one, and deleting either
 * spelling removes it. */
#include "d4_error.h"
#include "d4_util.h"
#include "handlers.h"

#include <string.h>

#define VALUE_MAX 64 /* longest IPv6 CIDR text is 43 bytes */

/* kind and value text into e; on error the problem is set with status
 * bad_status (400 for path parameters, 422 for body members). */
static int parse_entry(struct d4_api_resp *resp, int bad_status, const char *kind, const char *value,
		       struct d4_block_entry *e)
{
	memset(e, 0, sizeof(*e));
	const char *what = bad_status == 400 ? "parameter" : "member";
	if (!strcmp(kind, "ip")) {
		e->kind = D4_BLOCK_IP;
		if (strlen(value) < VALUE_MAX && d4_store_parse_cidr(value, e->addr, &e->prefix) == D4_OK)
			return 0;
		if (bad_status == 400)
			d4_h_bad_param(resp, "%s 'value' must be an IPv4/IPv6 address or CIDR", what);
		else
			d4_h_unprocessable(resp, "%s 'value' must be an IPv4/IPv6 address or CIDR", what);
		return -1;
	}
	if (!strcmp(kind, "uuid") || !strcmp(kind, "uuid-ips")) {
		e->kind = kind[4] ? D4_BLOCK_UUID_IPS : D4_BLOCK_UUID;
		if (d4_uuid_parse(value, e->uuid) == D4_OK)
			return 0;
		if (bad_status == 400)
			d4_h_bad_param(resp, "%s 'value' must be a uuid (32 hex digits)", what);
		else
			d4_h_unprocessable(resp, "%s 'value' must be a uuid (32 hex digits)", what);
		return -1;
	}
	if (bad_status == 400)
		d4_h_bad_param(resp, "%s 'kind' must be ip, uuid or uuid-ips", what);
	else
		d4_h_unprocessable(resp, "%s 'kind' must be ip, uuid or uuid-ips", what);
	return -1;
}

static int list_cb(void *ctx, const struct d4_block_entry *e)
{
	d4_h_j_block_entry(ctx, e);
	return 0;
}

void d4_h_list_blocklist(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	if (d4_h_query_only(req, resp, NULL))
		return;
	yajl_gen g = d4_h_gen();
	if (!g) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	yajl_gen_map_open(g);
	d4_api_j_key(g, "items");
	yajl_gen_array_open(g);
	int rc = d4_store_block_foreach(ctx->store, list_cb, g);
	if (rc < 0) {
		yajl_gen_free(g);
		d4_h_store_error(resp, rc, "blocklist");
		return;
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	d4_h_send(resp, 200, g, 0);
}

struct find_ctx {
	struct d4_block_entry want;
	int found;
};

static int find_cb(void *ctx, const struct d4_block_entry *e)
{
	struct find_ctx *fc = ctx;
	if (e->kind != fc->want.kind)
		return 0;
	if (e->kind == D4_BLOCK_IP ? (e->prefix == fc->want.prefix && !memcmp(e->addr, fc->want.addr, 16))
				   : !memcmp(e->uuid, fc->want.uuid, 16)) {
		fc->want = *e;
		fc->found = 1;
		return 1;
	}
	return 0;
}

static const char *const add_fields[] = {"kind", "value", NULL};

void d4_h_add_block(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	const char *kind, *value;
	struct find_ctx fc;
	int r;
	if (d4_h_query_only(req, resp, NULL) || d4_h_body(req, resp, 1, add_fields) < 0)
		return;
	if ((r = d4_h_json_str(req, resp, "kind", 16, 0, NULL, &kind)) <= 0) {
		if (r == 0)
			d4_h_missing(resp, "kind");
		return;
	}
	if ((r = d4_h_json_str(req, resp, "value", VALUE_MAX, 0, NULL, &value)) <= 0) {
		if (r == 0)
			d4_h_missing(resp, "value");
		return;
	}
	memset(&fc, 0, sizeof(fc));
	if (parse_entry(resp, 422, kind, value, &fc.want) != 0)
		return;
	fc.want.created = d4_now_s();
	/* Adding is idempotent: an existing entry keeps its creation time,
	 * which is what the answer shows. */
	int rc = d4_store_block_add(ctx->store, &fc.want);
	if (rc == D4_OK)
		rc = d4_store_block_foreach(ctx->store, find_cb, &fc);
	if (rc < 0) {
		d4_h_store_error(resp, rc, "blocklist entry");
		return;
	}
	yajl_gen g = d4_h_gen();
	if (g)
		d4_h_j_block_entry(g, &fc.want);
	d4_h_send(resp, 201, g, 0);
}

void d4_h_delete_block(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	struct d4_block_entry e;
	if (d4_h_query_only(req, resp, NULL))
		return;
	if (req->nparams < 2) {
		d4_h_internal(resp, "route without kind/value parameters");
		return;
	}
	if (parse_entry(resp, 400, req->params[0], req->params[1], &e) != 0)
		return;
	int rc = d4_store_block_del(ctx->store, &e);
	if (rc != D4_OK)
		d4_h_store_error(resp, rc, "such blocklist entry");
	else
		d4_api_no_content(resp);
}
