/* d4hub API — one request from raw parts to a response: route, rate limit,
 * authentication, role, body rules, JSON parse, handler. No h2o here, so the
 * unit tests and the fuzz target run exactly what the server runs. */
#include "api_core.h"
#include "api_limits.h"
#include "d4_error.h"
#include "d4_log.h"
#include "d4_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PATH_MAX_LEN 2048
#define SCRATCH_LEN  4096

const double d4_api_lat_bounds[D4_API_LAT_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
						      0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

void d4_api_metrics_record(struct d4_api_metrics *m, int status, double seconds)
{
	if (status >= 100 && status < 600)
		__atomic_fetch_add(&m->by_status[status], 1, __ATOMIC_RELAXED);
	unsigned b = 0;
	while (b < D4_API_LAT_BUCKETS && seconds > d4_api_lat_bounds[b])
		b++;
	__atomic_fetch_add(&m->lat_bucket[b], 1, __ATOMIC_RELAXED);
	/* no atomic add for a double: compare and swap */
	double old, sum;
	__atomic_load(&m->lat_sum, &old, __ATOMIC_RELAXED);
	do
		sum = old + seconds;
	while (!__atomic_compare_exchange(&m->lat_sum, &old, &sum, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	__atomic_fetch_add(&m->lat_count, 1, __ATOMIC_RELAXED);
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "application/json" with optional parameters, any case. */
static int is_json_type(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;
	if (!ct || strncasecmp(ct, want, n) != 0)
		return 0;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}

/* Names Bearer, and Basic too unless the client used Bearer: a browser
 * (the web page sends Bearer) opens its own login dialog on a Basic
 * challenge, and a client that speaks Bearer needs no other scheme. */
static void unauthorized(struct d4_api_resp *resp, int token_given, int basic_too, const char *detail)
{
	d4_api_problem(resp, 401, "unauthorized", "Unauthorized", "%s", detail);
	d4_api_header(resp, "WWW-Authenticate",
		      token_given ? "Bearer realm=\"d4hub\", error=\"invalid_token\"" : "Bearer realm=\"d4hub\"");
	if (basic_too)
		d4_api_header(resp, "WWW-Authenticate", "Basic realm=\"d4hub\", charset=\"UTF-8\"");
}

static const char *scheme_name(enum d4_api_cred_scheme s)
{
	return s == D4_API_CRED_BASIC ? "Basic" : s == D4_API_CRED_BEARER ? "Bearer" : "bare";
}

/* Returns 0 when the request may go on, else a response is set. dry: a
 * check before the body arrived (d4_api_precheck): nothing counted or
 * logged, the real dispatch does that. */
static int authenticate(struct d4_api_core *core, const struct d4_api_raw *raw, const struct d4_api_route *rt,
			struct d4_api_req *req, struct d4_api_resp *resp, int dry)
{
	uint64_t now = d4_now_s();
	unsigned wait = core->rl ? d4_api_ratelimit_check(core->rl, req->peer, now) : 0;
	if (wait) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%u", wait);
		if (!dry) {
			if (core->limits)
				d4_api_limits_hit(core->limits, D4_LIM_AUTH_FAIL);
			d4_notice("api: %s %s from %s: 429, too many failed authentications (retry in %u s)",
				  req->method, req->path, req->peer, wait);
		}
		d4_api_problem(resp, 429, "too-many-requests", "Too Many Requests",
			       "too many failed authentications from this address; retry in %u s", wait);
		d4_api_header(resp, "Retry-After", ra);
		return -1;
	}
	if (!raw->authorization) {
		unauthorized(
		    resp, 0, 1,
		    "an API token is required (Authorization: Bearer TOKEN, or Basic with the token as password)");
		return -1;
	}
	/* Every presented credential that does not authenticate (malformed,
	 * unknown, revoked; any scheme) is one failure for the rate limit, and
	 * all get the same answer: the client learns nothing from the form. */
	struct d4_api_cred cred;
	int prc = d4_api_auth_parse((const uint8_t *)raw->authorization, strlen(raw->authorization), &cred);
	enum d4_api_cred_scheme scheme = cred.scheme;
	int rc = D4_ENOTFOUND;
	if (prc == D4_OK && core->verify)
		rc = core->verify(core->ctx, cred.token, req->user, sizeof(req->user), &req->role);
	/* the Basic user-id is not checked (docs/api-auth.md): the token alone
	 * names its user */
	d4_api_auth_cred_wipe(&cred);
	if (rc == D4_ENOTFOUND) {
		if (!dry) {
			unsigned over = core->rl ? d4_api_ratelimit_fail(core->rl, req->peer, now) : 0;
			if (over) {
				/* another loop thread took the last allowed failure
				 * since the check above: the same 429 as there */
				char ra[16];
				snprintf(ra, sizeof(ra), "%u", over);
				if (core->limits)
					d4_api_limits_hit(core->limits, D4_LIM_AUTH_FAIL);
				d4_notice("api: %s %s from %s: 429, too many failed authentications (retry in %u s)",
					  req->method, req->path, req->peer, over);
				d4_api_problem(resp, 429, "too-many-requests", "Too Many Requests",
					       "too many failed authentications from this address; retry in %u s",
					       over);
				d4_api_header(resp, "Retry-After", ra);
				return -1;
			}
			d4_info("api: %s %s from %s: invalid token (%s, %s)", req->method, req->path, req->peer,
				scheme_name(scheme),
				prc == D4_OK	    ? "unknown or revoked"
				: prc == D4_ETOOBIG ? "over-long"
						    : "malformed");
		}
		unauthorized(resp, 1, scheme != D4_API_CRED_BEARER, "the token is not valid");
		return -1;
	}
	if (rc != D4_OK) {
		if (!dry)
			d4_warn("api: token check failed: %s", d4_strerror(rc));
		d4_api_problem(resp, 500, "internal", "Internal Server Error", "the token could not be checked");
		return -1;
	}
	if (req->role < rt->min_role) {
		d4_api_problem(resp, 403, "forbidden", "Forbidden",
			       "this operation needs the role %s (token of %s has %s)", d4_api_role_name(rt->min_role),
			       req->user, d4_api_role_name(req->role));
		return -1;
	}
	return 0;
}

/* Operations whose bodies may exceed [api] max_body (operationId, bytes).
 * h2o holds a body whole before the handler runs, so only operations that
 * need it get more; today none does (the largest body, createQueue with 64
 * sensors, is under 3 KiB). */
static const struct {
	const char *op_id;
	uint64_t max_body;
} body_caps[] = {
    {NULL, 0},
};

uint64_t d4_api_body_limit(const struct d4_api_core *core, const struct d4_api_route *rt)
{
	for (size_t i = 0; rt && body_caps[i].op_id; i++)
		if (strcmp(body_caps[i].op_id, rt->op_id) == 0)
			return body_caps[i].max_body;
	return core->max_body;
}

uint64_t d4_api_body_limit_max(const struct d4_api_core *core)
{
	uint64_t m = core->max_body;
	for (size_t i = 0; body_caps[i].op_id; i++)
		if (body_caps[i].max_body > m)
			m = body_caps[i].max_body;
	return m;
}

static void too_large(struct d4_api_core *core, const struct d4_api_req *req, struct d4_api_resp *resp, uint64_t limit,
		      const char *what)
{
	if (core->limits)
		d4_api_limits_hit(core->limits, D4_LIM_BODY_SIZE);
	d4_info("api: %s %s from %s: 413, request body %s (limit %llu bytes)", req->method, req->path, req->peer, what,
		(unsigned long long)limit);
	d4_api_problem(resp, 413, "payload-too-large", "Payload Too Large",
		       "the request body of this operation is limited to %llu bytes", (unsigned long long)limit);
}

/* Answers a request whose body the server stopped reading (raw->refused). */
static void refused_answer(struct d4_api_core *core, const struct d4_api_raw *raw, const struct d4_api_route *rt,
			   struct d4_api_req *req, struct d4_api_resp *resp)
{
	switch (raw->refused) {
	case D4_LIM_BODY_SIZE: too_large(core, req, resp, d4_api_body_limit(core, rt), "too large"); return;
	case D4_LIM_INFLIGHT_ADDR:
		d4_api_problem(resp, 429, "too-many-requests", "Too Many Requests",
			       "too many request body bytes in flight from this address; retry later");
		d4_api_header(resp, "Retry-After", "1");
		break;
	case D4_LIM_INFLIGHT_TOTAL:
		d4_api_problem(resp, 503, "busy", "Service Unavailable",
			       "the server holds too many request bodies; retry later");
		d4_api_header(resp, "Retry-After", "1");
		break;
	default:
		/* the pre-body checks refused it, and passed now (a token created
		 * in between): the body was not read, so it cannot be served */
		d4_api_problem(resp, 503, "busy", "Service Unavailable", "the request could not be read; retry it");
		d4_api_header(resp, "Retry-After", "1");
		break;
	}
	d4_info("api: %s %s from %s: %d, %s", req->method, req->path, req->peer, resp->status,
		d4_api_limit_name((enum d4_api_limit)raw->refused));
}

static int parse_body(struct d4_api_core *core, const struct d4_api_raw *raw, const struct d4_api_route *rt,
		      struct d4_api_req *req, struct d4_api_resp *resp)
{
	uint64_t limit = d4_api_body_limit(core, rt);
	if (raw->body_len > limit) {
		too_large(core, req, resp, limit, "too large");
		return -1;
	}
	if (rt->body != D4_BODY_JSON || raw->body_len == 0)
		return 0;
	if (!is_json_type(raw->content_type)) {
		d4_api_problem(resp, 415, "unsupported-media-type", "Unsupported Media Type",
			       "the request body must be application/json");
		return -1;
	}
	int rc = d4_api_json_precheck(raw->body, raw->body_len, core->max_body, D4_API_JSON_MAX_DEPTH);
	if (rc != D4_OK) {
		d4_api_problem(resp, 400, "bad-request", "Bad Request",
			       "the body is not valid JSON or nests deeper than %d levels", D4_API_JSON_MAX_DEPTH);
		return -1;
	}
	char *text = malloc(raw->body_len + 1);
	if (!text) {
		d4_api_problem(resp, 500, "internal", "Internal Server Error", "out of memory");
		return -1;
	}
	memcpy(text, raw->body, raw->body_len);
	text[raw->body_len] = '\0';
	char err[128];
	err[0] = '\0';
	req->json = yajl_tree_parse(text, err, sizeof(err));
	/* Bodies carry secrets (sensor HMAC keys, the shared key): no copy of
	 * ours outlives the parse. */
	d4_wipe(text, raw->body_len);
	free(text);
	if (!req->json) {
		/* yajl's message is multi-line with a caret; keep the first line */
		char *nl = strchr(err, '\n');
		if (nl)
			*nl = '\0';
		d4_api_problem(resp, 400, "bad-request", "Bad Request", "malformed JSON: %s",
			       err[0] ? err : "parse error");
		return -1;
	}
	return 0;
}

/* Buffers of one request's routing (a few KiB: kept off the h2o pool). */
struct front {
	char rawpath[PATH_MAX_LEN], path[PATH_MAX_LEN], pscratch[SCRATCH_LEN], qscratch[SCRATCH_LEN], allow[128];
};

/* Route, query, authentication and role: 0 to go on (*rtp set), -1 with a
 * response set. */
static int front(struct d4_api_core *core, const struct d4_api_raw *raw, struct d4_api_req *req,
		 struct d4_api_resp *resp, struct front *f, const struct d4_api_route **rtp, int dry)
{
	const struct d4_api_route *rt = NULL;
	int status = 0;

	memset(req, 0, sizeof(*req));
	req->method = raw->method ? raw->method : "";
	req->content_type = raw->content_type ? raw->content_type : "";
	req->accept = raw->accept ? raw->accept : "";
	req->dribble_count = raw->dribble_count;
	req->dribble_cursor = raw->dribble_cursor;
	req->dribble_rrtype = raw->dribble_rrtype;
	req->body = raw->body_len ? raw->body : NULL;
	req->body_len = raw->body_len;
	d4_strlcpy(req->peer, raw->peer ? raw->peer : "", sizeof(req->peer));
	req->path = "";
	*rtp = NULL;

	const char *target = raw->target ? raw->target : "";
	size_t tlen = strlen(target);
	const char *q = strchr(target, '?');
	size_t plen = q ? (size_t)(q - target) : tlen;
	if (tlen > D4_API_MAX_TARGET || plen >= sizeof(f->rawpath)) {
		if (!dry) {
			if (core->limits)
				d4_api_limits_hit(core->limits, D4_LIM_URI_TOO_LONG);
			d4_info("api: %s from %s: 414, request target of %zu bytes", req->method, req->peer, tlen);
		}
		d4_api_problem(resp, 414, "uri-too-long", "URI Too Long",
			       "the request target has %zu bytes; the path is limited to %d and the whole target to %d",
			       tlen, PATH_MAX_LEN - 1, D4_API_MAX_TARGET);
		return -1;
	}
	memcpy(f->rawpath, target, plen);
	f->rawpath[plen] = '\0';
	if (d4_api_pct_decode(f->rawpath, plen, f->path, sizeof(f->path), 0) != D4_OK) {
		d4_api_problem(resp, 400, "bad-request", "Bad Request", "bad percent-encoding in the path");
		return -1;
	}
	req->path = f->path;

	rt = d4_api_route_match(core->routes, core->nroutes, req->method, f->rawpath, f->pscratch, sizeof(f->pscratch),
				req->params, &req->nparams, &status, f->allow, sizeof(f->allow));
	if (!rt) {
		if (status == 405) {
			d4_api_problem(resp, 405, "method-not-allowed", "Method Not Allowed",
				       "%.16s is not allowed here; allowed: %s", req->method, f->allow);
			d4_api_header(resp, "Allow", f->allow);
		} else if (status == 400) {
			d4_api_problem(resp, 400, "bad-request", "Bad Request",
				       "bad percent-encoding in a path parameter");
		} else {
			d4_api_problem(resp, 404, "not-found", "Not Found", "no such resource");
		}
		return -1;
	}
	*rtp = rt;
	if (q) {
		int rc = d4_api_query_parse(q + 1, strlen(q + 1), f->qscratch, sizeof(f->qscratch), req);
		if (rc != D4_OK) {
			d4_api_problem(resp, 400, "invalid-parameter", "Invalid Parameter", "%s",
				       rc == D4_ETOOBIG ? "too many or too long query parameters"
							: "bad percent-encoding in the query");
			return -1;
		}
	}
	if (rt->min_role > D4_ROLE_NONE && authenticate(core, raw, rt, req, resp, dry) != 0)
		return -1;
	return 0;
}

int d4_api_precheck(struct d4_api_core *core, const struct d4_api_raw *raw, uint64_t *body_limit)
{
	struct d4_api_req req;
	struct d4_api_resp resp;
	const struct d4_api_route *rt = NULL;
	struct front *f = malloc(sizeof(*f));
	if (!f) {
		*body_limit = core->max_body;
		return 0;
	}
	d4_api_resp_init(&resp);
	int decided = front(core, raw, &req, &resp, f, &rt, 1) != 0;
	*body_limit = d4_api_body_limit(core, rt);
	d4_api_resp_free(&resp);
	free(f);
	return decided;
}

const struct d4_api_route *d4_api_dispatch(struct d4_api_core *core, const struct d4_api_raw *raw,
					   struct d4_api_resp *resp)
{
	double t0 = mono_s();
	struct d4_api_req req;
	struct front f;
	const struct d4_api_route *rt = NULL;

	if (front(core, raw, &req, resp, &f, &rt, 0) != 0)
		goto out;
	d4_strlcpy(resp->principal, req.user, sizeof(resp->principal));
	if (raw->refused) {
		refused_answer(core, raw, rt, &req, resp);
		goto out;
	}
	if (parse_body(core, raw, rt, &req, resp) != 0)
		goto out;

	rt->fn(core->ctx, &req, resp);
	if (d4_api_resp_finish(resp) != D4_OK || resp->oom) {
		d4_err("api: %s %s: the handler %s built a broken response", req.method, f.rawpath, rt->op_id);
		d4_api_problem(resp, 500, "internal", "Internal Server Error", "the response could not be built");
	} else if (resp->status < 100 || resp->status > 599) {
		d4_err("api: %s %s: the handler %s set no response", req.method, f.rawpath, rt->op_id);
		d4_api_problem(resp, 500, "internal", "Internal Server Error", "the operation produced no response");
	}
out:
	if (req.json)
		yajl_tree_free(req.json);
	/* problems are built with a generator too */
	if (d4_api_resp_finish(resp) != D4_OK || resp->oom) {
		d4_api_resp_free(resp);
		resp->status = 500;
		resp->content_type = "application/problem+json";
		static const char body[] = "{\"type\":\"https://d4hub.invalid/problems/internal\",\"title\":\"Internal "
					   "Server Error\",\"status\":500}";
		resp->body = (uint8_t *)strdup(body);
		resp->body_len = resp->body ? sizeof(body) - 1 : 0;
	}
	d4_api_metrics_record(&core->metrics, resp->status, mono_s() - t0);
	return rt;
}
