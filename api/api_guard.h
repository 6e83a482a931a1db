/* d4hub API — the connection guard (api/guard.c): connection caps at
 * accept, the TLS handshake, and the HTTP/2 request-body limits enforced
 * before h2o buffers a body. Private to api/; one guard per API loop thread,
 * used by that thread only (but d4_api_guard_live). */
#ifndef D4_API_GUARD_H
#define D4_API_GUARD_H

#include "api_core.h"

struct d4_api_limits;
struct d4_api_guard;
struct st_h2o_accept_ctx_t;
struct st_h2o_socket_t;
struct st_h2o_req_t;

/* core, lim and actx are borrowed and must outlive the guard. max_streams:
 * concurrent HTTP/2 streams per connection. NULL on allocation failure. */
struct d4_api_guard *d4_api_guard_new(struct d4_api_core *core, struct d4_api_limits *lim,
				      struct st_h2o_accept_ctx_t *actx, unsigned max_streams);
/* The same guard for another listener (the federation port): body_max is
 * its largest body cap; precheck decides a request from its headers like
 * d4_api_precheck (1: answered without the body; 0 with *body_limit set). */
struct d4_api_raw;
struct d4_api_guard *
d4_api_guard_new_with(struct d4_api_limits *lim, struct st_h2o_accept_ctx_t *actx, unsigned max_streams,
		      uint64_t body_max, int (*precheck)(void *arg, const struct d4_api_raw *raw, uint64_t *body_limit),
		      void *arg);
void d4_api_guard_free(struct d4_api_guard *g);
/* For a listener that accepts and does the TLS handshake itself (the
 * federation port maps the client certificate in it):
 * open at accept takes the connection caps of the peer's address (NULL:
 * refused and counted, or no memory; the caller closes the socket);
 * abandon when the connection ends before it is served (failed handshake);
 * serve once TLS is up: h2o's HTTP/1.1 or HTTP/2 with the guard in front.
 * From serve on, the guard owns the socket's close callback and calls
 * owner_closed(owner) when the connection is gone; d4_api_guard_owner
 * gives owner back from the socket (NULL for a socket not served so). */
struct d4_api_gconn;
struct timeval;
struct d4_api_gconn *d4_api_guard_open(struct d4_api_guard *g, struct st_h2o_socket_t *sock);
void d4_api_guard_abandon(struct d4_api_gconn *c);
void d4_api_guard_serve(struct d4_api_gconn *c, struct st_h2o_socket_t *sock, struct timeval connected_at, void *owner,
			void (*owner_closed)(void *owner));
void *d4_api_guard_owner(struct st_h2o_socket_t *sock);
/* Takes an accepted socket: counts it or closes it (connection caps), then
 * TLS, then h2o's HTTP/1.1 or HTTP/2 with the guard in front. */
void d4_api_guard_accept(struct d4_api_guard *g, struct st_h2o_socket_t *sock);
/* Connections of g admitted and not yet closed; any thread may ask (the
 * API's loops balance their accepts with it). */
uint64_t d4_api_guard_live(const struct d4_api_guard *g);
/* At stop, once nothing is accepted any more: closes the connections still
 * in their TLS handshake (they own nothing of h2o's context but their
 * handshake timer, which must not outlive it). */
void d4_api_guard_close_handshakes(struct d4_api_guard *g);
/* The limit (enum d4_api_limit) for which the guard ended req's body early,
 * 0 when the body is complete: for d4_api_raw.refused. */
int d4_api_guard_refused(struct st_h2o_req_t *req);
/* The request's token: Authorization, or X-API-Key on the pDNS paths only
 * (/pdns/, /dnsdb/). A string in req's pool, or NULL. */
const char *d4_api_guard_authorization(struct st_h2o_req_t *req);

#endif
