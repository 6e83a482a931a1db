/* d4hub API — federation partners (admin only): list, get, create, update,
 * delete, and the dry run of the egress policy ("would this record go to
 * that partner, and if not, why"). The documents are federation/'s
 * (d4_fed_partner_apply_json, d4_fed_dryrun_parse), so the API and
 * d4hubctl accept and print the same thing; the decision is
 * d4_fed_decide, the one function every outgoing record passes. */
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_hubconf.h"
#include "d4_util.h"
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Partner name path parameter 0; 400 when not a valid name. */
static int path_name(const struct d4_api_req *req, struct d4_api_resp *resp, const char **out)
{
	const char *s = req->nparams ? req->params[0] : "";
	if (!d4_store_partner_name_valid(s)) {
		d4_h_bad_param(resp, "partner name must be 1 to 63 characters of A-Z a-z 0-9 . _ -, starting with a "
				     "letter or digit");
		return -1;
	}
	*out = s;
	return 0;
}

static void partner_error(struct d4_api_resp *resp, int rc, const char *name)
{
	char what[96];
	snprintf(what, sizeof(what), "partner '%s'", name);
	d4_h_store_error(resp, rc, what);
}

static void send_partner(struct d4_api_resp *resp, int status, const struct d4_partner *p)
{
	yajl_gen g = d4_h_gen();
	if (g)
		d4_fed_partner_json(g, p, D4_FED_JSON_FULL);
	d4_h_send(resp, status, g, 0);
}

static int list_cb(void *ctx, const struct d4_partner *p)
{
	d4_fed_partner_json(ctx, p, D4_FED_JSON_LIST);
	return 0;
}

void d4_h_list_partners(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
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
	int rc = d4_store_partner_foreach(ctx->store, list_cb, g);
	if (rc < 0) {
		yajl_gen_free(g);
		d4_h_store_error(resp, rc, "partner list");
		return;
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	d4_h_send(resp, 200, g, 0);
}

/* This hub's federation identity: what a partner puts in its record of
 * this hub (hub and org uuid, the signing public key). */
void d4_h_federation_identity(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	if (d4_h_query_only(req, resp, NULL))
		return;
	yajl_gen g = d4_h_gen();
	if (!g) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	char hub[D4_UUID_HEX_LEN + 1], org[D4_UUID_HEX_LEN + 1];
	d4_uuid_hex(ctx->conf->hub_uuid, hub);
	d4_uuid_hex(ctx->conf->org, org);
	yajl_gen_map_open(g);
	d4_api_j_kv_str(g, "hub_uuid", hub);
	d4_api_j_kv_str(g, "org_uuid", org);
	if (ctx->conf->has_fed_sign) {
		char b64[D4_FED_PUBKEY_B64_LEN + 1];
		d4_fed_pubkey_b64(ctx->conf->fed_sign_pk, b64);
		d4_api_j_kv_str(g, "pubkey", b64);
	} else {
		d4_h_j_null(g, "pubkey");
	}
	yajl_gen_map_close(g);
	d4_h_send(resp, 200, g, 0);
}

void d4_h_get_partner(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	const char *name;
	if (d4_h_query_only(req, resp, NULL) || path_name(req, resp, &name))
		return;
	struct d4_partner *p = malloc(sizeof(*p));
	if (!p) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	int rc = d4_store_partner_get(ctx->store, name, p);
	if (rc)
		partner_error(resp, rc, name);
	else
		send_partner(resp, 200, p);
	free(p);
}

void d4_h_create_partner(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	char err[256];
	if (d4_h_query_only(req, resp, NULL) || d4_h_body(req, resp, 1, d4_fed_partner_members) < 0)
		return;
	struct d4_partner *p = malloc(sizeof(*p));
	if (!p) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	d4_fed_partner_defaults(p);
	if (d4_fed_partner_apply_json(req->json, p, 1, err, sizeof(err)) != 0) {
		d4_h_unprocessable(resp, "%s", err);
		free(p);
		return;
	}
	/* Put-if-absent in one transaction: a creation racing with another
	 * (API or d4hubctl) never overwrites it. */
	int rc = d4_store_partner_add(ctx->store, p);
	if (rc == D4_EEXIST)
		d4_h_conflict(resp, "partner '%s' already exists", p->name);
	else if (rc == 0 && (rc = d4_store_partner_get(ctx->store, p->name, p)) == 0) {
		char loc[128];
		snprintf(loc, sizeof(loc), "/api/v1/partners/%s", p->name);
		d4_api_header(resp, "location", loc);
		send_partner(resp, 201, p);
	}
	if (rc && rc != D4_EEXIST)
		partner_error(resp, rc, p->name);
	free(p);
}

void d4_h_update_partner(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	const char *name;
	char err[256];
	if (d4_h_query_only(req, resp, NULL) || path_name(req, resp, &name) ||
	    d4_h_body(req, resp, 1, d4_fed_partner_members) < 0)
		return;
	struct d4_partner *p = malloc(sizeof(*p));
	if (!p) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	/* Read, apply, write: a concurrent update of the same partner between
	 * the read and the write is overwritten (last writer wins, as for
	 * every admin record); the record written is always a valid whole. */
	int rc = d4_store_partner_get(ctx->store, name, p);
	if (rc == 0 && d4_fed_partner_apply_json(req->json, p, 0, err, sizeof(err)) != 0) {
		d4_h_unprocessable(resp, "%s", err);
		free(p);
		return;
	}
	if (rc == 0)
		rc = d4_store_partner_update(ctx->store, p);
	if (rc == 0)
		rc = d4_store_partner_get(ctx->store, name, p);
	if (rc)
		partner_error(resp, rc, name);
	else
		send_partner(resp, 200, p);
	free(p);
}

void d4_h_delete_partner(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	const char *name;
	if (d4_h_query_only(req, resp, NULL) || path_name(req, resp, &name))
		return;
	int rc = d4_store_partner_del(ctx->store, name);
	if (rc)
		partner_error(resp, rc, name);
	else
		d4_api_no_content(resp);
}

void d4_h_dry_run_partner(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	const char *name;
	char err[256];
	if (d4_h_query_only(req, resp, NULL) || path_name(req, resp, &name) ||
	    d4_h_body(req, resp, 1, d4_fed_record_members) < 0)
		return;
	struct d4_partner *p = malloc(sizeof(*p));
	if (!p) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	int rc = d4_store_partner_get(ctx->store, name, p);
	if (rc) {
		partner_error(resp, rc, name);
		free(p);
		return;
	}
	struct d4_fed_dryrun d;
	rc = d4_fed_dryrun_parse(req->json, &d, err, sizeof(err));
	if (rc) {
		if (rc == D4_EINVAL)
			d4_h_unprocessable(resp, "%s", err);
		else
			d4_h_internal(resp, "out of memory");
		d4_fed_dryrun_free(&d);
		free(p);
		return;
	}
	struct d4_fed_self self;
	memset(&self, 0, sizeof(self));
	memcpy(self.hub, ctx->conf->hub_uuid, 16);
	memcpy(self.org, ctx->conf->org, 16);
	self.default_tlp = (enum d4_tlp)ctx->conf->default_tlp;
	struct d4_partner_net own[D4_FED_OWN_NETS_MAX];
	if (d4_fed_nets_parse_list(ctx->conf->fed_own_networks, own, D4_FED_OWN_NETS_MAX, &self.n_own_nets, err,
				   sizeof(err)) == 0)
		self.own_nets = own;
	else
		self.n_own_nets = 0;
	struct d4_fed_partner fp;
	memcpy(fp.hub, p->hub, 16);
	memcpy(fp.org, p->org, 16);
	fp.relation = (enum d4_fed_relation)p->relation;
	fp.enabled = p->enabled;
	struct d4_fed_verdict v;
	d4_fed_decide(&self, &fp, &p->out[d.rec.kind], &d.rec, &v);
	yajl_gen g = d4_h_gen();
	if (g)
		d4_fed_dryrun_json_rule(g, p->name, &self, &p->out[d.rec.kind], &d.rec, &v);
	d4_h_send(resp, 200, g, 0);
	d4_fed_dryrun_free(&d);
	free(p);
}
