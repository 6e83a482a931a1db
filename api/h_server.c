/* d4hub API — the server (ingest) mode, as the reference D4 server's
 * "server mode" setting: registration (only approved sensors with a key of
 * their own) or shared-secret (any v4 uuid signing with the shared key,
 * auto-created approved). The run-time setting lives in the store
 * (d4_store_server_*) and overrides the config file's [ingest] mode and
 * shared_key; the ingest applies it at its next connection or within a
 * second, and closes live connections the new mode would not admit.
 *
 * The shared key is write-only here: answers say whether one exists
 * (shared_key_set), never what it is. Every copy of it is wiped, including
 * the parsed request's string. */
#include "d4_error.h"
#include "d4_hubconf.h"
#include "d4_log.h"
#include "d4_util.h"
#include "handlers.h"

#include <stdlib.h>
#include <string.h>

#define SERVER_KEY_MAX 255 /* bytes of a shared key given over the API */

static const char *mode_text(int mode)
{
	return mode == D4_MODE_SHARED_SECRET ? "shared-secret" : "registration";
}

/* Config facts; none in the unit tests' context. */
static int conf_mode(const struct d4_api_ctx *ctx)
{
	return ctx->conf ? ctx->conf->mode : D4_MODE_REGISTRATION;
}

static int conf_has_key(const struct d4_api_ctx *ctx)
{
	return ctx->conf && ctx->conf->shared_keylen > 0;
}

/* The ServerMode document from the store's current run-time settings. */
static void send_server(struct d4_api_ctx *ctx, struct d4_api_resp *resp, int status)
{
	struct d4_server_settings *rt = malloc(sizeof(*rt));
	if (!rt) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	int rc = d4_store_server_get(ctx->store, rt);
	if (rc != D4_OK) {
		free(rt);
		d4_h_store_error(resp, rc, "server settings");
		return;
	}
	int has_mode = rt->has_mode, mode = rt->has_mode ? rt->mode : conf_mode(ctx);
	int key_set = rt->shared_keylen > 0 || conf_has_key(ctx);
	d4_wipe(rt, sizeof(*rt));
	free(rt);
	yajl_gen g = d4_h_gen();
	if (g) {
		yajl_gen_map_open(g);
		d4_api_j_kv_str(g, "mode", mode_text(mode));
		d4_api_j_kv_str(g, "mode_source", has_mode ? "runtime" : "config");
		d4_api_j_kv_bool(g, "shared_key_set", key_set);
		yajl_gen_map_close(g);
	}
	d4_h_send(resp, status, g, 0);
}

void d4_h_get_server(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	if (d4_h_query_only(req, resp, NULL) == 0)
		send_server(ctx, resp, 200);
}

static const char *const set_fields[] = {"mode", "shared_key", NULL};

/* The parsed body is the request's; its key string is wiped in place once
 * copied (the tree is freed right after the handler, but not wiped). */
static void wipe_json_key(const struct d4_api_req *req)
{
	if (!req->json || !YAJL_IS_OBJECT(req->json))
		return;
	for (size_t i = 0; i < req->json->u.object.len; i++)
		if (!strcmp(req->json->u.object.keys[i], "shared_key") && YAJL_IS_STRING(req->json->u.object.values[i]))
			d4_wipe(req->json->u.object.values[i]->u.string,
				strlen(req->json->u.object.values[i]->u.string));
}

void d4_h_set_server(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	const char *mode_s = NULL, *key = NULL;
	int r, rk, rc;
	struct d4_server_settings *in = NULL;
	if (d4_h_query_only(req, resp, NULL) || d4_h_body(req, resp, 1, set_fields) < 0 ||
	    (r = d4_h_json_str(req, resp, "mode", 32, 0, NULL, &mode_s)) < 0 ||
	    (rk = d4_h_json_str(req, resp, "shared_key", SERVER_KEY_MAX, 0, NULL, &key)) < 0)
		goto out;
	if (r == 0) {
		d4_h_missing(resp, "mode");
		goto out;
	}
	int mode;
	if (!strcmp(mode_s, "registration")) {
		mode = D4_MODE_REGISTRATION;
	} else if (!strcmp(mode_s, "shared-secret")) {
		mode = D4_MODE_SHARED_SECRET;
	} else {
		d4_h_unprocessable(resp, "member 'mode' must be \"registration\" or \"shared-secret\"");
		goto out;
	}
	in = calloc(1, sizeof(*in));
	if (!in) {
		d4_h_internal(resp, "out of memory");
		goto out;
	}
	if (mode == D4_MODE_SHARED_SECRET && rk == 0 && !conf_has_key(ctx)) {
		/* in doubles as the buffer for the current settings */
		rc = d4_store_server_get(ctx->store, in);
		int have = rc == D4_OK && in->shared_keylen > 0;
		d4_wipe(in, sizeof(*in));
		if (rc != D4_OK) {
			d4_h_store_error(resp, rc, "server settings");
			goto out;
		}
		if (!have) {
			d4_h_unprocessable(resp, "shared-secret mode needs a shared key: none is configured, give "
						 "'shared_key'");
			goto out;
		}
	}
	in->has_mode = 1;
	in->mode = mode;
	if (rk > 0) {
		in->shared_keylen = strlen(key);
		memcpy(in->shared_key, key, in->shared_keylen);
	}
	rc = d4_store_server_set(ctx->store, in);
	if (rc != D4_OK) {
		d4_h_store_error(resp, rc, "server settings");
		goto out;
	}
	d4_notice("api: %s set the server mode to %s%s", req->user[0] ? req->user : "?", mode_text(mode),
		  rk > 0 ? " with a new shared key" : "");
	send_server(ctx, resp, 200);
out:
	if (in) {
		d4_wipe(in, sizeof(*in));
		free(in);
	}
	wipe_json_key(req);
}
