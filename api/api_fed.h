/* d4hub API — the federation listener (api/fedlisten.c): partner hubs over
 * mutually-authenticated TLS on [federation] listen, served by the API's
 * thread and h2o context. Private to api/. docs/federation.md "The
 * federation listener". */
#ifndef D4_API_FED_H
#define D4_API_FED_H

#include <stddef.h>
#include <stdint.h>

struct d4_api_fed;
struct d4_store;
struct d4_hubconf;
struct st_h2o_evloop_t;
struct st_h2o_context_t;

/* Caller's thread, at start: the TLS context (federation.cert/key, client
 * certificate required) and the bound socket of conf->fed_listen. *out is
 * NULL (and 0 returned) when federation.listen is not set. store and conf
 * are borrowed. 0, D4_ETLS, D4_ECONFIG, D4_EIO, D4_ENOMEM with err set. */
int d4_api_fed_new(const struct d4_hubconf *conf, struct d4_store *store, struct d4_api_fed **out, char *err,
		   size_t errsize);
/* API thread: starts accepting on loop, connections served by ctx. */
void d4_api_fed_run(struct d4_api_fed *f, struct st_h2o_evloop_t *loop, struct st_h2o_context_t *ctx);
/* API thread, at stop: stops accepting. */
void d4_api_fed_stop_accepting(struct d4_api_fed *f);
/* API thread, at stop: 1 while connections of the port are open (after
 * stop_accepting asked them to close). */
int d4_api_fed_conns_open(struct d4_api_fed *f);
/* API thread, before the API's context is disposed: the port's context. */
void d4_api_fed_dispose_context(struct d4_api_fed *f);
/* The port's limits (its own caps and their hit counters), NULL when off. */
struct d4_api_limits;
const struct d4_api_limits *d4_api_fed_limits(const struct d4_api_fed *f);
/* API thread, after the context is disposed: h2o configuration. */
void d4_api_fed_dispose(struct d4_api_fed *f);
/* Any thread after the API thread ended. NULL is a no-op. */
void d4_api_fed_free(struct d4_api_fed *f);
uint16_t d4_api_fed_port(const struct d4_api_fed *f);
const char *d4_api_fed_addr(const struct d4_api_fed *f);
/* Connections by outcome (enum d4_fed_peer_reason; D4_FED_PEER_OK =
 * accepted), D4_FED_PEER_COUNT entries; API thread. */
const uint64_t *d4_api_fed_counts(const struct d4_api_fed *f);

/* ---- the data operations of the port (api/fedops.c) ---- */
struct d4_api_fedops;
struct st_h2o_req_t;
/* Batches refused whole (nothing stored), per partner, by reason: counted
 * in memory (/metrics, the partner's status), logged. */
enum d4_api_fed_refusal {
	D4_API_FED_MALFORMED = 0, /* "malformed" (400) */
	D4_API_FED_WRONG_KIND,	  /* "wrong-kind": the batch is not of the URL's kind (400) */
	D4_API_FED_SENDER,	  /* "wrong-sender": not the mapped partner's hub uuid (403) */
	D4_API_FED_KIND,	  /* "kind-not-accepted" by the inbound rule (403) */
	D4_API_FED_QUOTA_RECORDS, /* "quota-records" (429) */
	D4_API_FED_QUOTA_BYTES,	  /* "quota-bytes" (429) */
	D4_API_FED_TOO_LARGE,	  /* "too-large" (413) */
	D4_API_FED_BUSY,	  /* "store-unavailable": the writer could not take it (503) */
	D4_API_FED_NO_PULL,	  /* "pull-not-allowed": a pull by a push-only partner (403) */
	D4_API_FED_REFUSAL_COUNT
};
const char *d4_api_fed_refusal_name(enum d4_api_fed_refusal r);
/* What this port did for one partner since the start (API thread). */
struct d4_api_fed_peer_stats {
	uint64_t batches;    /* inbox batches acknowledged (stored or duplicate) */
	uint64_t stored;     /* records stored from them */
	uint64_t duplicates; /* resends acknowledged without storing */
	uint64_t conflicts;  /* position mismatches answered */
	uint64_t pulls;	     /* batches served to its pulls */
	uint64_t refused[D4_API_FED_REFUSAL_COUNT];
};
/* store and conf borrowed. NULL on failure (memory, eventfd). */
struct d4_api_fedops *d4_api_fedops_new(struct d4_store *store, const struct d4_hubconf *conf);
/* API thread: registers the writer's eventfd in loop. */
void d4_api_fedops_run(struct d4_api_fedops *o, struct st_h2o_evloop_t *loop);
/* API thread, at stop: waits (bounded) for the batches at the writer. */
void d4_api_fedops_stop(struct d4_api_fedops *o, struct st_h2o_evloop_t *loop);
void d4_api_fedops_free(struct d4_api_fedops *o);
/* Serves req for the partner named partner when it is an inbox or pull
 * operation (0: answered, or answered later), else -1 (not ours). */
int d4_api_fedops_handle(struct d4_api_fedops *o, struct st_h2o_req_t *req, const char *partner);
/* The body cap of the port's one operation with a body (the inbox). */
uint64_t d4_api_fedops_body_limit(void);
/* The partners seen since the start and their counters (borrowed, API
 * thread); at most max. */
size_t d4_api_fedops_peers(const struct d4_api_fedops *o, const char **names,
			   const struct d4_api_fed_peer_stats **stats, size_t max);
/* The listener's operations (NULL when off), for /metrics and the status. */
struct d4_api_fedops *d4_api_fed_ops(const struct d4_api_fed *f);

/* server.c's listening-socket helper, shared with the listener: binds
 * where (HOST:PORT, port 0 = any free one). what names it in errors. */
int d4_api_bind_listen(const char *where, const char *what, int *fd_out, uint16_t *port_out, char *err, size_t errsize);

#endif
