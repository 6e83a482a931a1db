/* d4hub API — requests without a socket (d4_api.h, "in-process requests").
 *
 * The dispatcher (api/dispatch.c) and every handler already work on plain
 * request/response structs and never see h2o: the server only translates
 * h2o's request into a d4_api_raw and the d4_api_resp back. This file is
 * the other translation, for a caller in the same process (d4hubctl on the
 * hub host): the same route table, role checks, body rules, handlers and
 * problems, with the caller's own store handle. */
#include "api_core.h"
#include "d4_api.h"
#include "d4_error.h"
#include "d4_hubconf.h"
#include "d4_util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct d4_api_local {
	struct d4_api_ctx ctx; /* first: verify() gets it back from ctx */
	struct d4_api_core core;
	char operator_name[64];
};

/* The local operator is whoever can open the store (file permissions
 * decide, as for every local write): an admin, whatever the credential. */
static int local_verify(struct d4_api_ctx *ctx, const char *token, char *user, size_t usersize, enum d4_role *role)
{
	const struct d4_api_local *l = (const struct d4_api_local *)ctx;
	(void)token;
	d4_strlcpy(user, l->operator_name, usersize);
	*role = D4_ROLE_ADMIN;
	return D4_OK;
}

int d4_api_local_new(struct d4_store *store, const struct d4_hubconf *conf, const char *operator_name,
		     struct d4_api_local **out)
{
	*out = NULL;
	if (!store || !conf || !operator_name)
		return D4_EINVAL;
	struct d4_api_local *l = calloc(1, sizeof(*l));
	if (!l)
		return D4_ENOMEM;
	l->ctx.store = store;
	l->ctx.conf = conf;
	l->ctx.core = &l->core;
	l->core.routes = d4_api_routes;
	l->core.nroutes = d4_api_nroutes;
	l->core.ctx = &l->ctx;
	l->core.max_body = conf->api_max_body ? conf->api_max_body : D4_API_DEF_MAX_BODY;
	l->core.max_pending = conf->api_max_pending_sensors ? conf->api_max_pending_sensors : D4_API_DEF_MAX_PENDING;
	l->core.metrics.started_s = d4_now_s();
	l->core.verify = local_verify;
	d4_strlcpy(l->operator_name, operator_name, sizeof(l->operator_name));
	*out = l;
	return D4_OK;
}

void d4_api_local_free(struct d4_api_local *l)
{
	free(l);
}

/* Runs a streamed answer's producer to its end, as the server's proceed
 * callbacks do, one chunk at a time. */
static int drain(struct d4_api_producer *p, int (*bodyfn)(void *ctx, const uint8_t *data, size_t len), void *ctx)
{
	uint8_t *buf = malloc(D4_API_STREAM_CHUNK);
	int rc = D4_OK;
	if (!buf)
		return D4_ENOMEM;
	for (;;) {
		long n = p->next(p, buf, D4_API_STREAM_CHUNK);
		if (n == D4_EAGAIN) {
			struct timespec ts = {0, D4_API_STREAM_RETRY_MS * 1000000L};
			nanosleep(&ts, NULL);
			continue;
		}
		if (n < 0 || n > (long)D4_API_STREAM_CHUNK) {
			rc = n < 0 ? (int)n : D4_EINVAL;
			break;
		}
		if (n == 0)
			break;
		if ((rc = bodyfn(ctx, buf, (size_t)n)) != 0)
			break;
	}
	free(buf);
	return rc;
}

int d4_api_local_request(struct d4_api_local *l, const char *method, const char *target, const uint8_t *body,
			 size_t body_len, int (*head)(void *ctx, const struct d4_api_local_head *h),
			 int (*bodyfn)(void *ctx, const uint8_t *data, size_t len), void *ctx)
{
	struct d4_api_raw raw;
	struct d4_api_resp resp;
	memset(&raw, 0, sizeof(raw));
	raw.method = method;
	raw.target = target;
	raw.body = body;
	raw.body_len = body ? body_len : 0;
	raw.content_type = body ? "application/json" : "";
	/* a credential is needed to reach the role check; local_verify does
	 * not look at it */
	raw.authorization = "Bearer local-operator";
	raw.peer = "local";
	raw.accept = "application/json";

	d4_api_resp_init(&resp);
	d4_api_dispatch(&l->core, &raw, &resp);
	struct d4_api_local_head h = {resp.status, resp.content_type ? resp.content_type : ""};
	int rc = head(ctx, &h);
	if (rc == 0) {
		if (resp.producer)
			rc = drain(resp.producer, bodyfn, ctx);
		else if (resp.body_len)
			rc = bodyfn(ctx, resp.body, resp.body_len);
	}
	d4_api_stream_release(&resp);
	/* answers can hold a secret (a generated key or token) */
	if (resp.body)
		d4_wipe(resp.body, resp.body_len);
	d4_api_resp_free(&resp);
	return rc;
}
