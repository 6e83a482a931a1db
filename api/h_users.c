/* d4hub API — users and API tokens (admin only). A token's secret exists
 * once, in the createToken answer; the store keeps only its hash. */
#include "d4_error.h"
#include "d4_util.h"
#include "handlers.h"

#include <stdio.h>
#include <string.h>

static void j_user(yajl_gen g, const struct d4_user *u)
{
	yajl_gen_map_open(g);
	d4_api_j_kv_str(g, "name", u->name);
	d4_api_j_kv_str(g, "role", d4_store_role_name(u->role));
	d4_api_j_kv_time(g, "created", u->created);
	yajl_gen_map_close(g);
}

static void j_token_fields(yajl_gen g, const struct d4_token_info *t)
{
	d4_api_j_kv_str(g, "id", t->id);
	d4_api_j_kv_str(g, "user", t->user);
	d4_h_j_kv_text(g, "label", t->label);
	d4_api_j_kv_time(g, "created", t->created);
	d4_api_j_kv_time(g, "last_used", t->last_used);
}

/* The body's member "role"; 0, or nonzero with the problem already answered. */
static int body_role(const struct d4_api_req *req, struct d4_api_resp *resp, uint8_t *role)
{
	const char *role_s;
	int r = d4_h_json_str(req, resp, "role", 32, 0, NULL, &role_s);
	if (r <= 0) {
		if (r == 0)
			d4_h_missing(resp, "role");
		return -1;
	}
	if (d4_store_role_parse(role_s, role) != D4_OK) {
		d4_h_unprocessable(resp, "member 'role' must be admin, user or sensor_register");
		return -1;
	}
	return 0;
}

/* User name path parameter 0; 400 when not a valid name. */
static int path_user(const struct d4_api_req *req, struct d4_api_resp *resp, const char **out)
{
	const char *s = req->nparams ? req->params[0] : "";
	if (!d4_store_user_name_valid(s)) {
		d4_h_bad_param(resp, "user name must be 1 to 63 characters of A-Z a-z 0-9 . _ @ -");
		return -1;
	}
	*out = s;
	return 0;
}

static void user_error(struct d4_api_resp *resp, int rc, const char *name)
{
	char what[96];
	snprintf(what, sizeof(what), "user '%s'", name);
	d4_h_store_error(resp, rc, what);
}

static int user_cb(void *ctx, const struct d4_user *u)
{
	j_user(ctx, u);
	return 0;
}

void d4_h_list_users(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
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
	int rc = d4_store_user_foreach(ctx->store, user_cb, g);
	if (rc < 0) {
		yajl_gen_free(g);
		d4_h_store_error(resp, rc, "user list");
		return;
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	d4_h_send(resp, 200, g, 0);
}

static const char *const user_fields[] = {"name", "role", NULL};

void d4_h_create_user(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	const char *name;
	uint8_t role;
	struct d4_user u;
	int r;
	if (d4_h_query_only(req, resp, NULL) || d4_h_body(req, resp, 1, user_fields) < 0)
		return;
	if ((r = d4_h_json_str(req, resp, "name", D4_USER_NAME_MAX - 1, 0, NULL, &name)) <= 0) {
		if (r == 0)
			d4_h_missing(resp, "name");
		return;
	}
	if (!d4_store_user_name_valid(name)) {
		d4_h_unprocessable(resp, "member 'name' must be 1 to 63 characters of A-Z a-z 0-9 . _ @ -");
		return;
	}
	if (body_role(req, resp, &role))
		return;
	/* The store's put also changes the role of an existing user: creating
	 * must not do that, not even when another request or d4hubctl creates
	 * the same name at the same time (put-if-absent, one transaction). */
	int rc = d4_store_user_add(ctx->store, name, role);
	if (rc == D4_EEXIST) {
		d4_h_conflict(resp, "user '%s' already exists", name);
		return;
	}
	if (rc == D4_OK)
		rc = d4_store_user_get(ctx->store, name, &u);
	if (rc != D4_OK) {
		user_error(resp, rc, name);
		return;
	}
	char loc[128];
	snprintf(loc, sizeof(loc), "/api/v1/users/%s", name);
	d4_api_header(resp, "location", loc);
	yajl_gen g = d4_h_gen();
	if (g)
		j_user(g, &u);
	d4_h_send(resp, 201, g, 0);
}

static const char *const role_fields[] = {"role", NULL};

/* updateUser: the role; the user's tokens carry it from their next use. */
void d4_h_update_user(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	const char *name;
	uint8_t role;
	struct d4_user u;
	if (d4_h_query_only(req, resp, NULL) || path_user(req, resp, &name) || d4_h_body(req, resp, 1, role_fields) < 0)
		return;
	if (body_role(req, resp, &role))
		return;
	/* As for deleting: an admin demoting the account it is signed in as
	 * could lock the last admin out. */
	if (!strcmp(name, req->user)) {
		d4_h_conflict(resp, "you cannot change the role of the account you are signed in as");
		return;
	}
	/* The store's put creates a missing user: look first (404). */
	int rc = d4_store_user_get(ctx->store, name, &u);
	if (rc == D4_OK)
		rc = d4_store_user_put(ctx->store, name, role);
	if (rc == D4_OK)
		rc = d4_store_user_get(ctx->store, name, &u);
	if (rc != D4_OK) {
		user_error(resp, rc, name);
		return;
	}
	yajl_gen g = d4_h_gen();
	if (g)
		j_user(g, &u);
	d4_h_send(resp, 200, g, 0);
}

void d4_h_delete_user(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	const char *name;
	if (d4_h_query_only(req, resp, NULL) || path_user(req, resp, &name))
		return;
	/* Deleting one's own account would lock the last admin out. */
	if (!strcmp(name, req->user)) {
		d4_h_conflict(resp, "you cannot delete the account you are signed in as");
		return;
	}
	int rc = d4_store_user_del(ctx->store, name);
	if (rc != D4_OK)
		user_error(resp, rc, name);
	else
		d4_api_no_content(resp);
}

static int token_cb(void *ctx, const struct d4_token_info *t)
{
	yajl_gen g = ctx;
	yajl_gen_map_open(g);
	j_token_fields(g, t);
	yajl_gen_map_close(g);
	return 0;
}

void d4_h_list_tokens(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	const char *name;
	struct d4_user u;
	if (d4_h_query_only(req, resp, NULL) || path_user(req, resp, &name))
		return;
	int rc = d4_store_user_get(ctx->store, name, &u);
	if (rc != D4_OK) {
		user_error(resp, rc, name);
		return;
	}
	yajl_gen g = d4_h_gen();
	if (!g) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	yajl_gen_map_open(g);
	d4_api_j_key(g, "items");
	yajl_gen_array_open(g);
	rc = d4_store_token_foreach(ctx->store, name, token_cb, g);
	if (rc < 0) {
		yajl_gen_free(g);
		d4_h_store_error(resp, rc, "token list");
		return;
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	d4_h_send(resp, 200, g, 0);
}

struct find_ctx {
	const char *id;
	struct d4_token_info t;
	int found;
};

static int find_cb(void *ctx, const struct d4_token_info *t)
{
	struct find_ctx *fc = ctx;
	if (strcmp(t->id, fc->id) != 0)
		return 0;
	fc->t = *t;
	fc->found = 1;
	return 1;
}

static const char *const token_fields[] = {"label", NULL};

void d4_h_create_token(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	const char *name, *label = NULL;
	char token[D4_TOKEN_TEXT_MAX], id[D4_TOKEN_ID_HEX];
	struct find_ctx fc;
	if (d4_h_query_only(req, resp, NULL) || path_user(req, resp, &name) ||
	    d4_h_body(req, resp, 0, token_fields) < 0 ||
	    d4_h_json_str(req, resp, "label", D4_TOKEN_LABEL_MAX - 1, 1, NULL, &label) < 0)
		return;
	if (label && !d4_h_printable(label)) {
		d4_h_unprocessable(resp, "member 'label' must not contain control characters");
		return;
	}
	int rc = d4_store_token_create(ctx->store, name, label, token, id);
	if (rc != D4_OK) {
		user_error(resp, rc, name);
		return;
	}
	memset(&fc, 0, sizeof(fc));
	fc.id = id;
	rc = d4_store_token_foreach(ctx->store, name, find_cb, &fc);
	if (rc >= 0 && !fc.found)
		rc = D4_ENOTFOUND; /* revoked or user deleted meanwhile (d4hubctl) */
	if (rc < 0) {
		d4_wipe(token, sizeof(token));
		d4_h_store_error(resp, rc, "new token");
		return;
	}
	yajl_gen g = d4_h_gen();
	if (g) {
		yajl_gen_map_open(g);
		j_token_fields(g, &fc.t);
		d4_api_j_kv_str(g, "token", token);
		yajl_gen_map_close(g);
	}
	d4_wipe(token, sizeof(token));
	d4_h_send(resp, 201, g, 1);
}

void d4_h_revoke_token(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	const char *id = req->nparams ? req->params[0] : "";
	if (d4_h_query_only(req, resp, NULL))
		return;
	int ok = strlen(id) == 16;
	for (size_t i = 0; ok && i < 16; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			ok = 0;
	if (!ok) {
		d4_h_bad_param(resp, "token id must be 16 lowercase hex digits");
		return;
	}
	int rc = d4_store_token_revoke(ctx->store, id);
	if (rc != D4_OK)
		d4_h_store_error(resp, rc, "token with this id");
	else
		d4_api_no_content(resp);
}
