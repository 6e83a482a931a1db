/* d4hub API — what a resource handler sees. Private to api/.
 *
 * The server (api/server.c) owns h2o; handlers never touch h2o objects. A
 * request is matched against the route table (api/routes.c) by the pure
 * router (api/router.c), authenticated, its body checked (size, then JSON
 * nesting depth, then parsed), and handed to the handler with a response
 * builder. Handlers run on the API thread: keep them short (LMDB reads are
 * fast; admin writes are one small transaction). */
#ifndef D4_API_INTERNAL_H
#define D4_API_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

struct d4_store;
struct d4_hubconf;

/* Roles are ordered: a higher role has every right of the lower ones. */
enum d4_role { D4_ROLE_NONE = 0, D4_ROLE_SENSOR_REGISTER = 1, D4_ROLE_USER = 2, D4_ROLE_ADMIN = 3 };
const char *d4_api_role_name(enum d4_role r);
int d4_api_role_parse(const char *s, enum d4_role *out); /* 0 or D4_EINVAL */

#define D4_API_MAX_PARAMS 4
#define D4_API_MAX_QUERY  16

struct d4_api_req {
	const char *method;		       /* "GET", "POST", ... */
	const char *path;		       /* percent-decoded path, no query */
	const char *params[D4_API_MAX_PARAMS]; /* {name} captures of the route template, in order, decoded */
	unsigned nparams;
	const char *qname[D4_API_MAX_QUERY], *qvalue[D4_API_MAX_QUERY]; /* decoded query pairs */
	unsigned nquery;
	const uint8_t *body; /* raw body (NULL if none) */
	size_t body_len;
	const char *content_type; /* "" if absent */
	yajl_val json;		  /* parsed body when the route takes JSON and the body is non-empty, else NULL */
	char user[64];		  /* authenticated principal ("" for anonymous routes) */
	enum d4_role role;
	char peer[64];	    /* client address text */
	const char *accept; /* Accept header ("" if absent): content negotiation of NDJSON lists */
	/* CIRCL pDNS request headers (d4_api_raw), NULL if absent */
	const char *dribble_count, *dribble_cursor, *dribble_rrtype;
};

/* Returns the value of query parameter name, or NULL. */
const char *d4_api_query(const struct d4_api_req *req, const char *name);

struct d4_api_resp;

/* Response builders. A handler sets exactly one response. */
/* JSON body: the handler writes into the returned generator (a map or array
 * it opens and closes itself); status 200/201. NULL on allocation failure. */
yajl_gen d4_api_json_begin(struct d4_api_resp *resp, int status);
/* Raw body, copied. */
int d4_api_body(struct d4_api_resp *resp, int status, const char *content_type, const void *data, size_t len);
/* 204 No Content. */
void d4_api_no_content(struct d4_api_resp *resp);
/* RFC 9457 problem+json: type is a stable slug appended to
 * "https://d4hub.invalid/problems/" (e.g. "not-found", "invalid-parameter"),
 * title a fixed human text for that type, detail the specific reason. */
void d4_api_problem(struct d4_api_resp *resp, int status, const char *type, const char *title, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Extra response header (copied), e.g. Location. */
int d4_api_header(struct d4_api_resp *resp, const char *name, const char *value);

/* ---- streaming responses ------------------------------------------------------
 * For results too large (exports) or open-ended (queue follows) to build in
 * memory, a handler answers with a producer instead of a body. The server
 * (api/server.c) sends the status and headers at once, without a
 * Content-Length (HTTP/2 DATA frames, HTTP/1.1 chunked), and then calls
 * next() for one chunk at a time, only when h2o has handed the previous chunk
 * to the connection (its generator's proceed callback): a slow client slows
 * the producer down instead of filling memory. At most one chunk
 * (D4_API_STREAM_CHUNK bytes) per stream is buffered by the server.
 *
 * Rules for producers:
 *  - next() runs on the API thread and must return quickly: read the store in
 *    one short read transaction per call (d4_store_*_foreach with a callback
 *    that stops once the chunk is full) and keep a cursor (e.g. the next frame
 *    seq) in the producer to resume from. Never hold a transaction between
 *    calls: a slow client would pin LMDB pages for as long as it reads.
 *  - next() returns the number of bytes written to buf (1..cap), 0 at the end
 *    of the body, D4_EAGAIN when nothing is available yet (the server asks
 *    again after D4_API_STREAM_RETRY_MS; a follow endpoint waits like that and
 *    may write a heartbeat line now and then), or another negative D4_E* code
 *    to abort: the status is already sent, so the client sees a failed
 *    transfer (HTTP/2 RST_STREAM, HTTP/1.1 connection closed before the final
 *    chunk), and the server logs the code.
 *  - free() is called exactly once, whatever happens: end, error, client
 *    disconnect (stream reset, connection closed), server stop, or the
 *    response never started. It releases the producer itself (embed struct
 *    d4_api_producer as the first member of your state and free that).
 * Handlers stay synchronous: validate everything and answer problems (404,
 * 422, ...) before calling d4_api_stream, which must be the handler's last
 * response call (a later d4_api_problem would replace the answer and leak the
 * producer). */
#define D4_API_STREAM_CHUNK    (256u * 1024u) /* cap passed to next() */
#define D4_API_STREAM_RETRY_MS 100	      /* delay after D4_EAGAIN */

struct d4_api_producer {
	long (*next)(struct d4_api_producer *p, uint8_t *buf, size_t cap);
	void (*free)(struct d4_api_producer *p);
};

/* Answers with status, content_type (static string) and a body produced by
 * p. Takes ownership of p in every case. Returns 0, or D4_EINVAL (NULL p or
 * callbacks; p freed, resp holds a 500). Headers set with d4_api_header are
 * sent as usual. */
int d4_api_stream(struct d4_api_resp *resp, int status, const char *content_type, struct d4_api_producer *p);

/* Small JSON helpers over yajl_gen. */
void d4_api_j_str(yajl_gen g, const char *s); /* string (NULL -> null) */
void d4_api_j_kv_str(yajl_gen g, const char *k, const char *v);
void d4_api_j_kv_u64(yajl_gen g, const char *k, uint64_t v);
void d4_api_j_kv_bool(yajl_gen g, const char *k, int v);
void d4_api_j_kv_time(yajl_gen g, const char *k, uint64_t epoch_s); /* ISO-8601 string, null when 0 */
void d4_api_j_key(yajl_gen g, const char *k);

/* Everything a handler may use. */
struct d4_api_core;
struct d4_fed_sender;
struct d4_upstream;
struct d4_api_ctx {
	struct d4_store *store;
	const struct d4_hubconf *conf;
	struct d4_api_core *core;	  /* server internals (api_core.h); handlers outside the core ignore it */
	struct d4_fed_sender *fed_sender; /* push/pull status (d4_fed_sender_status), NULL when off */
	struct d4_upstream *upstream;	  /* the upstream relay (d4_upstream_status), NULL when off */
};

typedef void (*d4_api_handler)(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);

enum d4_api_body_kind { D4_BODY_NONE = 0, D4_BODY_JSON = 1, D4_BODY_ANY = 2 };

struct d4_api_route {
	const char *method;    /* upper case */
	const char *tmpl;      /* "/api/v1/sensors/{uuid}/approve" — {x} matches one non-empty segment */
	enum d4_role min_role; /* D4_ROLE_NONE = anonymous */
	enum d4_api_body_kind body;
	d4_api_handler fn;
	const char *op_id; /* operationId in openapi/d4hub.yaml */
};

/* Route tables, one per resource file, concatenated by api/routes.c. */
extern const struct d4_api_route d4_api_routes[];
extern const size_t d4_api_nroutes;

/* Pure router: matches method+path. Returns the route and fills params
 * (pointers into the caller's scratch buffer, NUL-terminated), or NULL with
 * *status = 404 (no template matches the path) or 405 (path matches, method
 * does not; *allow filled with "GET, POST"). path is the raw (still
 * percent-encoded) path without query; each capture is decoded after
 * matching, so "%2F" stays inside one parameter. A capture with a bad
 * escape or an embedded NUL, or a scratch buffer too small, gives NULL with
 * *status = 400. */
const struct d4_api_route *d4_api_route_match(const struct d4_api_route *routes, size_t n, const char *method,
					      const char *path, char *scratch, size_t scratch_size,
					      const char *params[D4_API_MAX_PARAMS], unsigned *nparams, int *status,
					      char *allow, size_t allow_size);

/* Percent-decodes in place rules for a path or query component; returns
 * D4_EINVAL on bad escapes or an embedded NUL. */
int d4_api_pct_decode(const char *in, size_t len, char *out, size_t out_size, int plus_is_space);

/* Checks a JSON body before parsing: size cap and nesting depth (strings
 * and escapes respected). 0, D4_ETOOBIG or D4_EJSON. */
int d4_api_json_precheck(const uint8_t *body, size_t len, size_t max_len, unsigned max_depth);

#endif
