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
/* API thread, after the context is disposed: h2o configuration. */
void d4_api_fed_dispose(struct d4_api_fed *f);
/* Any thread after the API thread ended. NULL is a no-op. */
void d4_api_fed_free(struct d4_api_fed *f);
uint16_t d4_api_fed_port(const struct d4_api_fed *f);
const char *d4_api_fed_addr(const struct d4_api_fed *f);
/* Connections by outcome (enum d4_fed_peer_reason; D4_FED_PEER_OK =
 * accepted), D4_FED_PEER_COUNT entries; API thread. */
const uint64_t *d4_api_fed_counts(const struct d4_api_fed *f);

/* server.c's listening-socket helper, shared with the listener: binds
 * where (HOST:PORT, port 0 = any free one). what names it in errors. */
int d4_api_bind_listen(const char *where, const char *what, int *fd_out, uint16_t *port_out, char *err, size_t errsize);

#endif
