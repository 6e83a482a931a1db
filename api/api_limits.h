/* d4hub API — what one peer can make the API hold: connections, request
 * body bytes and streamed answers per client address (and per user for
 * streamed answers), with global caps, and the counters of every limit hit.
 * Pure bookkeeping, no h2o: the server (api/guard.c, api/server.c) calls it
 * from any of the API's event-loop threads (each call is atomic under the
 * table's lock); the unit tests drive it directly. Private to api/. */
#ifndef D4_API_LIMITS_H
#define D4_API_LIMITS_H

#include <stddef.h>
#include <stdint.h>

/* Every limit that can refuse something; each hit is counted (/metrics,
 * d4hub_api_limit_hits_total{limit=NAME}) and logged with its reason. */
enum d4_api_limit {
	D4_LIM_CONN_ADDR = 0,	/* connections of one address (closed at accept) */
	D4_LIM_CONN_TOTAL,	/* connections in all (closed at accept) */
	D4_LIM_STREAMS,		/* HTTP/2 streams of one connection (RST_STREAM REFUSED_STREAM) */
	D4_LIM_BODY_SIZE,	/* body over the operation's limit (413) */
	D4_LIM_INFLIGHT_ADDR,	/* body bytes held for one address (429) */
	D4_LIM_INFLIGHT_TOTAL,	/* body bytes held in all (503) */
	D4_LIM_EARLY_REFUSAL,	/* answered from the headers, body not read (401, 403, 404, 405, 429) */
	D4_LIM_EXPORTS_ADDR,	/* streamed answers of one address (429) */
	D4_LIM_EXPORTS_USER,	/* streamed answers of one user (429) */
	D4_LIM_REGISTER_RATE,	/* sensor registrations per minute (429) */
	D4_LIM_PENDING_SENSORS, /* pending sensors (429) */
	D4_LIM_AUTH_FAIL,	/* failed authentications of one address (429) */
	D4_LIM_URI_TOO_LONG,	/* request target too long (414) */
	D4_LIM_COUNT
};
/* Stable snake_case name of a limit ("conn_per_addr", ...). */
const char *d4_api_limit_name(enum d4_api_limit l);

struct d4_api_limits_conf {
	unsigned max_conns;	     /* connections in all */
	unsigned max_conns_per_addr; /* connections per client address */
	uint64_t max_inflight;	     /* request body bytes held in all */
	uint64_t max_inflight_per_addr;
	unsigned max_exports_per_addr; /* streamed answers at once */
	unsigned max_exports_per_user;
};

struct d4_api_limits;
/* Client address entry: lives while the address has a connection, body
 * bytes or a streamed answer. Borrowed by callers until released. */
struct d4_api_peer;

/* NULL on allocation failure. Owned by the caller (d4_api_limits_free). */
struct d4_api_limits *d4_api_limits_new(const struct d4_api_limits_conf *conf);
void d4_api_limits_free(struct d4_api_limits *l);

/* A new connection from addr (text). Returns its peer entry, or NULL with
 * *why set (D4_LIM_CONN_ADDR / D4_LIM_CONN_TOTAL; counted) when it must be
 * closed; NULL with *why = D4_LIM_COUNT on allocation failure. */
struct d4_api_peer *d4_api_limits_conn_open(struct d4_api_limits *l, const char *addr, enum d4_api_limit *why);
/* The connection of p closed. */
void d4_api_limits_conn_close(struct d4_api_limits *l, struct d4_api_peer *p);

/* n more body bytes for p: 0 (reserved) or the limit that refuses them
 * (D4_LIM_INFLIGHT_ADDR / _TOTAL; counted; nothing reserved). */
int d4_api_limits_body_add(struct d4_api_limits *l, struct d4_api_peer *p, uint64_t n);
/* Releases n bytes reserved for p. */
void d4_api_limits_body_release(struct d4_api_limits *l, struct d4_api_peer *p, uint64_t n);

/* A streamed answer for addr and user: 0 (counted in) or the limit that
 * refuses it (D4_LIM_EXPORTS_ADDR / _USER; counted); D4_LIM_COUNT on
 * allocation failure. */
int d4_api_limits_export_open(struct d4_api_limits *l, const char *addr, const char *user);
void d4_api_limits_export_close(struct d4_api_limits *l, const char *addr, const char *user);

/* Counts a hit of a limit enforced elsewhere (rate limits, 413, 414). */
void d4_api_limits_hit(struct d4_api_limits *l, enum d4_api_limit which);
uint64_t d4_api_limits_hits(const struct d4_api_limits *l, enum d4_api_limit which);

/* Gauges for /metrics and the tests. */
struct d4_api_limits_stats {
	uint64_t conns, inflight, exports, peers;
};
void d4_api_limits_stats(const struct d4_api_limits *l, struct d4_api_limits_stats *out);
/* Current counts of one address (0s when unknown). */
void d4_api_limits_peer_stats(const struct d4_api_limits *l, const char *addr, unsigned *conns, uint64_t *inflight,
			      unsigned *exports);

#endif
