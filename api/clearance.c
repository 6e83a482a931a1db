/* d4hub API — TLP clearance of the caller: which role sees which levels,
 * and the one place where the API asks hub/policy's rule
 * (d4_policy_tlp_visible). Every read path that hands out stored records or
 * their provenance (raw and session export, analyzer queues, session lists,
 * passive DNS) filters through these functions; docs/api-auth.md "TLP
 * clearance per role" lists the decision per operation. */
#include "api_core.h"
#include "d4_hubconf.h"
#include "d4_policy.h"
#include "handlers.h"

enum d4_tlp d4_api_clearance(const struct d4_api_ctx *ctx, const struct d4_api_req *req)
{
	const struct d4_hubconf *c = ctx ? ctx->conf : NULL;
	/* The config loader refuses anything but a real level; 0 means a hub
	 * run without a config (tests): the documented defaults apply. */
	enum d4_tlp user = c && c->api_max_tlp_user ? (enum d4_tlp)c->api_max_tlp_user : D4_TLP_AMBER_STRICT;
	enum d4_tlp admin = c && c->api_max_tlp_admin ? (enum d4_tlp)c->api_max_tlp_admin : D4_TLP_RED;
	if (!req)
		return D4_TLP_NONE;
	if (req->role >= D4_ROLE_ADMIN)
		return admin;
	return req->role >= D4_ROLE_USER ? user : D4_TLP_NONE;
}

int d4_api_may_see(enum d4_tlp clearance, uint8_t record_tlp)
{
	return d4_policy_tlp_visible(clearance, (enum d4_tlp)record_tlp);
}

void d4_api_clearance_header(struct d4_api_resp *resp, enum d4_tlp clearance)
{
	d4_api_header(resp, "d4-clearance", d4_policy_tlp_name(clearance));
}

enum d4_tlp d4_api_untagged_tlp(const struct d4_api_ctx *ctx, const struct d4_sensor *sn)
{
	if (sn && sn->default_tlp != D4_TLP_NONE && sn->default_tlp != D4_TLP_UNCLEAR)
		return (enum d4_tlp)sn->default_tlp;
	return ctx && ctx->conf && ctx->conf->default_tlp ? (enum d4_tlp)ctx->conf->default_tlp : D4_TLP_AMBER_STRICT;
}

enum d4_tlp d4_api_session_tlp(const struct d4_api_ctx *ctx, const struct d4_session_info *si,
			       const struct d4_sensor *sn)
{
	/* No meta yet (a meta header still arriving, or one that never
	 * completed): its frames carry what the ingest resolved without tags. */
	return si->tlp ? (enum d4_tlp)si->tlp : d4_api_untagged_tlp(ctx, sn);
}
