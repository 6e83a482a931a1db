/* d4hub API — the connection guard (api/guard.c): connection caps at
 * accept, the TLS handshake, and the HTTP/2 request-body limits enforced
 * before h2o buffers a body. Private to api/; API thread only. */
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
void d4_api_guard_free(struct d4_api_guard *g);
/* Takes an accepted socket: counts it or closes it (connection caps), then
 * TLS, then h2o's HTTP/1.1 or HTTP/2 with the guard in front. */
void d4_api_guard_accept(struct d4_api_guard *g, struct st_h2o_socket_t *sock);
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
