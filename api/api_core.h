/* d4hub API — the server core's private interface (api/ only): response
 * object, query parsing, request dispatch, failed-auth rate limit, request
 * metrics. Resource handlers use api_internal.h; this header is for the
 * server, the system handlers and the tests. */
#ifndef D4_API_CORE_H
#define D4_API_CORE_H

#include "api_internal.h"

#include <stddef.h>
#include <stdint.h>

#define D4_API_JSON_MAX_DEPTH 32
#define D4_API_MAX_HEADERS    8
/* what the core uses when the configuration leaves a limit at 0 (the
 * server and the in-process requests alike) */
#define D4_API_DEF_MAX_BODY    (64u << 10)
#define D4_API_DEF_MAX_PENDING 1000

/* A handler's answer. status 0 = the handler set nothing (the dispatcher
 * turns that into a 500). Owned by whoever called d4_api_resp_init. */
struct d4_api_resp {
	int status;
	const char *content_type; /* static string */
	uint8_t *body;		  /* malloc'ed, NUL-terminated for convenience */
	size_t body_len;
	yajl_gen gen; /* set by d4_api_json_begin until finished */
	unsigned nhdr;
	char *hdr_name[D4_API_MAX_HEADERS], *hdr_value[D4_API_MAX_HEADERS];
	int oom; /* an allocation failed while building: answer 500 */
	/* streamed body (d4_api_stream): owned here until the server takes it;
	 * d4_api_resp_free does not release it, d4_api_stream_release does */
	struct d4_api_producer *producer;
	/* user of the request's token, set by d4_api_dispatch ("" if none): the
	 * server's per-user cap of streamed answers */
	char principal[64];
};

void d4_api_resp_init(struct d4_api_resp *r);
/* Frees everything; r may be reused after d4_api_resp_init. */
void d4_api_resp_free(struct d4_api_resp *r);
/* Turns a pending JSON generator into the body (idempotent). Returns 0 or
 * D4_ENOMEM / D4_EJSON (generator left in a bad state: unbalanced). */
int d4_api_resp_finish(struct d4_api_resp *r);
/* Frees r's producer if it still holds one (tests, and any path that drops
 * a response without sending it). Idempotent. */
void d4_api_stream_release(struct d4_api_resp *r);
/* Value of an extra header set by the handler, or NULL. */
const char *d4_api_resp_header(const struct d4_api_resp *r, const char *name);

/* Splits a raw query string (no '?') into decoded name/value pairs stored
 * in scratch; pointers in req->qname/qvalue point into scratch. '+' is a
 * space. Empty pieces ("a=1&&b=2") are skipped. Returns 0, D4_EINVAL (bad
 * escape or NUL) or D4_ETOOBIG (more than D4_API_MAX_QUERY pairs or
 * scratch too small). */
int d4_api_query_parse(const char *qs, size_t len, char *scratch, size_t scratch_size, struct d4_api_req *req);

/* ---- failed-authentication rate limit (per client address) ------------- */
struct d4_api_ratelimit;
/* limit failures per window_s seconds. NULL on allocation failure. */
struct d4_api_ratelimit *d4_api_ratelimit_new(unsigned limit, unsigned window_s);
void d4_api_ratelimit_free(struct d4_api_ratelimit *rl);
/* 0 if addr may try to authenticate now, else the seconds until it may. */
unsigned d4_api_ratelimit_check(struct d4_api_ratelimit *rl, const char *addr, uint64_t now_s);
/* Counts one failure of addr. Returns 0 when the failure was within the
 * limit, else the seconds until addr may try again: the limit was reached
 * (by another thread) between check and fail, and the caller answers as if
 * the check had said so. The calls are thread-safe. */
unsigned d4_api_ratelimit_fail(struct d4_api_ratelimit *rl, const char *addr, uint64_t now_s);
/* One use of each of the keys a and b, counted only when both are within
 * the limit (atomically): 0, or the seconds until both are. */
unsigned d4_api_ratelimit_take2(struct d4_api_ratelimit *rl, const char *a, const char *b, uint64_t now_s);

/* ---- request metrics ---------------------------------------------------
 * Updated by every event-loop thread with relaxed atomic adds (exact totals,
 * no lock); /metrics reads each field atomically. */
#define D4_API_LAT_BUCKETS 12
extern const double d4_api_lat_bounds[D4_API_LAT_BUCKETS]; /* seconds, upper bounds; +Inf is implicit */
struct d4_api_metrics {
	uint64_t by_status[600];		     /* index = status code */
	uint64_t lat_bucket[D4_API_LAT_BUCKETS + 1]; /* non-cumulative; last = +Inf */
	double lat_sum;
	uint64_t lat_count;
	uint64_t started_s; /* server start, for uptime */
};
void d4_api_metrics_record(struct d4_api_metrics *m, int status, double seconds);

/* ---- dispatch ------------------------------------------------------------ */
/* What the server (or a test) knows about a request before routing. */
struct d4_api_raw {
	const char *method; /* NUL-terminated */
	const char *target; /* path with optional "?query", NUL-terminated */
	const uint8_t *body;
	size_t body_len;
	const char *content_type;  /* "" if absent */
	const char *authorization; /* NULL if absent */
	const char *peer;	   /* client address text */
	/* Set by the server when it stopped reading the body early (api/guard.c):
	 * the body is incomplete and must not be used. D4_LIM_BODY_SIZE (413),
	 * D4_LIM_INFLIGHT_ADDR (429), D4_LIM_INFLIGHT_TOTAL (503) or
	 * D4_LIM_EARLY_REFUSAL (the pre-body checks failed); 0 otherwise. */
	int refused;
	const char *accept; /* Accept, NULL if absent */
	/* CIRCL's paging and filter headers as PyPDNS sends them
	 * (dribble-paginate-count, dribble-paginate-cursor,
	 * dribble-filter-rrtype); NULL if absent */
	const char *dribble_count, *dribble_cursor, *dribble_rrtype;
};

struct d4_api_fed;
/* Everything the dispatcher needs; owned by the server. */
struct d4_api_core {
	const struct d4_api_route *routes;
	size_t nroutes;
	struct d4_api_ctx *ctx;
	struct d4_api_ratelimit *rl;
	struct d4_api_metrics metrics;
	uint64_t max_body;
	const char *spec_path;
	struct d4_api_limits *limits;	 /* counters of limit hits (may be NULL: tests) */
	struct d4_api_ratelimit *reg_rl; /* sensor registrations per user and per address (may be NULL) */
	unsigned max_pending;		 /* pending sensors at most (0 = no cap) */
	/* federation listener's connections by outcome (enum d4_fed_peer_reason,
	 * D4_FED_PEER_COUNT entries; api/fedlisten.c), NULL when it is off */
	const uint64_t *fed_counts;
	struct d4_api_fed *fed; /* the federation port (api/fedlisten.c), NULL when off */
	/* Token check: 0 and user/role filled, D4_ENOTFOUND for an unknown or
	 * revoked token, another code on a store error. NULL: no token can
	 * succeed (tests, or a store without tokens). */
	int (*verify)(struct d4_api_ctx *ctx, const char *token, char *user, size_t usersize, enum d4_role *role);
	/* requests received by each event-loop thread (nloops entries, each
	 * written by its loop only; NULL: tests), for /metrics */
	const uint64_t *loop_requests;
	unsigned nloops;
};

/* Runs one request: route, auth, body checks, JSON parse, handler. Always
 * leaves a response in *resp (a problem on any failure). Returns the route
 * used or NULL. resp must be initialised by the caller. */
const struct d4_api_route *d4_api_dispatch(struct d4_api_core *core, const struct d4_api_raw *raw,
					   struct d4_api_resp *resp);
/* Longest request target (path and query) served; longer ones get 414. */
#define D4_API_MAX_TARGET 6144
/* The checks that do not need the body (route, query, rate limit, token,
 * role), for a request whose body has not arrived yet. Returns 1 when they
 * already decide the answer (dispatch will then answer without the body),
 * 0 when the body is needed; *body_limit = the operation's body cap. Counts
 * no failed authentication and logs nothing: the dispatch that follows
 * does. */
int d4_api_precheck(struct d4_api_core *core, const struct d4_api_raw *raw, uint64_t *body_limit);
/* Body cap of route rt (NULL: the default), and the largest of all. */
uint64_t d4_api_body_limit(const struct d4_api_core *core, const struct d4_api_route *rt);
uint64_t d4_api_body_limit_max(const struct d4_api_core *core);

/* The store-backed token check (api/auth.c), for d4_api_core.verify. */
int d4_api_auth_verify(struct d4_api_ctx *ctx, const char *token, char *user, size_t usersize, enum d4_role *role);
/* Extracts the token from an Authorization value ("Bearer T" or a raw
 * token). Returns a pointer into value and its length via *len, or NULL. */
const char *d4_api_auth_token(const char *value, size_t *len);

/* A credential from an Authorization value: "Bearer T", d4-core's bare "T",
 * or "Basic base64(user:T)" (RFC 7617; the user-id may be empty, see
 * docs/api-auth.md for what it means). */
#define D4_API_AUTH_VALUE_MAX 1024 /* longest Authorization value looked at */
#define D4_API_BASIC_B64_MAX  512  /* longest Basic token68 */
#define D4_API_CRED_TOKEN_MAX 127  /* longest token text (d4hub's are 47) */
#define D4_API_CRED_USER_MAX  255  /* longest Basic user-id */
enum d4_api_cred_scheme { D4_API_CRED_RAW, D4_API_CRED_BEARER, D4_API_CRED_BASIC };
struct d4_api_cred {
	enum d4_api_cred_scheme scheme;	       /* the scheme tried, set even when malformed */
	char token[D4_API_CRED_TOKEN_MAX + 1]; /* NUL-terminated, for d4_api_core.verify */
	size_t token_len;
	char user[D4_API_CRED_USER_MAX + 1]; /* Basic user-id, "" otherwise; no control bytes */
};
/* Parses len bytes of an Authorization value (no NUL needed) into the
 * caller's *out: 0, D4_EINVAL when malformed (bad base64, no colon, bad
 * characters, empty), D4_ETOOBIG when over a limit. *out holds a secret
 * whatever the result: the caller wipes it with d4_api_auth_cred_wipe. */
int d4_api_auth_parse(const uint8_t *value, size_t len, struct d4_api_cred *out);
void d4_api_auth_cred_wipe(struct d4_api_cred *c);

/* The core of the running server (for /metrics, /openapi.yaml). */
struct d4_api_core *d4_api_core_of(struct d4_api_ctx *ctx);

/* The web page (api/h_web.c). */
void d4_api_h_web_index(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_api_h_web_asset(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);

/* System handlers (api/h_system.c). */
void d4_api_h_health(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_api_h_openapi(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_api_h_metrics(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_api_h_me(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);

#endif
