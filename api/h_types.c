/* d4hub API — accepted types and extended types. Every answer is the whole
 * getTypes document, so a client sees the effect of its change at once. */
#include "d4_error.h"
#include "handlers.h"

#include <stdio.h>
#include <string.h>

static void send_types(struct d4_api_ctx *ctx, struct d4_api_resp *resp)
{
	yajl_gen g = d4_h_gen();
	if (!g) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	int rc = d4_h_j_types(g, ctx->store);
	if (rc < 0) {
		yajl_gen_free(g);
		d4_h_store_error(resp, rc, "accepted types");
		return;
	}
	d4_h_send(resp, 200, g, 0);
}

void d4_h_get_types(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	if (d4_h_query_only(req, resp, NULL) == 0)
		send_types(ctx, resp);
}

static const char *const set_fields[] = {"accepted", NULL};

void d4_h_set_type(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	const char *s = req->nparams ? req->params[0] : "";
	unsigned t = 0;
	size_t n = strlen(s);
	int ok = n >= 1 && n <= 3, accepted, r;
	for (size_t i = 0; ok && i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			ok = 0;
		else
			t = t * 10 + (unsigned)(s[i] - '0');
	}
	if (d4_h_query_only(req, resp, NULL))
		return;
	if (!ok || t > 255) {
		d4_h_bad_param(resp, "type must be an integer from 0 to 255");
		return;
	}
	if (d4_h_body(req, resp, 1, set_fields) < 0 || (r = d4_h_json_bool(req, resp, "accepted", &accepted)) < 0)
		return;
	if (r == 0) {
		d4_h_missing(resp, "accepted");
		return;
	}
	if (t == 0 && accepted) {
		d4_h_unprocessable(resp, "type 0 is reserved by the D4 protocol and cannot be accepted");
		return;
	}
	int rc = d4_store_type_set(ctx->store, (uint8_t)t, accepted);
	if (rc != D4_OK) {
		d4_h_store_error(resp, rc, "accepted types");
		return;
	}
	send_types(ctx, resp);
}

/* Extended type names come from meta headers: 1..63 bytes, no spaces or
 * control characters (as d4hubctl). 0 or -1 (400 set). */
static int ext_name(const struct d4_api_req *req, struct d4_api_resp *resp, const char **out)
{
	const char *s = req->nparams ? req->params[0] : "";
	size_t len = strlen(s);
	if (len == 0 || len >= D4_EXT_TYPE_MAX) {
		d4_h_bad_param(resp, "extended type name must be 1 to %d bytes", D4_EXT_TYPE_MAX - 1);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] == 0x7f) {
			d4_h_bad_param(resp, "extended type name must not contain spaces or control characters");
			return -1;
		}
	*out = s;
	return 0;
}

struct find_ctx {
	const char *name;
	int found;
};

static int find_cb(void *ctx, const char *name)
{
	struct find_ctx *fc = ctx;
	if (!strcmp(fc->name, name))
		fc->found = 1;
	return fc->found;
}

void d4_h_add_ext_type(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	const char *name;
	if (d4_h_query_only(req, resp, NULL) || ext_name(req, resp, &name))
		return;
	int rc = d4_store_ext_type_set(ctx->store, name, 1);
	if (rc != D4_OK) {
		d4_h_store_error(resp, rc, "extended types");
		return;
	}
	send_types(ctx, resp);
}

void d4_h_delete_ext_type(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	const char *name;
	char what[96];
	if (d4_h_query_only(req, resp, NULL) || ext_name(req, resp, &name))
		return;
	struct find_ctx fc = {name, 0};
	int rc = d4_store_ext_type_foreach(ctx->store, find_cb, &fc);
	if (rc >= 0 && !fc.found)
		rc = D4_ENOTFOUND;
	if (rc >= 0)
		rc = d4_store_ext_type_set(ctx->store, name, 0);
	if (rc < 0) {
		snprintf(what, sizeof(what), "extended type '%s' in the list", name);
		d4_h_store_error(resp, rc, what);
		return;
	}
	send_types(ctx, resp);
}
