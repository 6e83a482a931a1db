/* d4hub API — accepted TLS connections still in their handshake, shared by
 * the API's connection guard (api/guard.c) and the federation listener
 * (api/fedlisten.c). Such a connection is not an h2o connection yet: h2o's
 * shutdown does not see it, and its handshake timer must be gone before the
 * h2o context is disposed (h2o_context_dispose asserts it). Private to api/;
 * API thread only. Include after <h2o.h> (H2O_USE_LIBUV 0). */
#ifndef D4_API_HANDSHAKE_H
#define D4_API_HANDSHAKE_H

/* Embedded in the owner's per-connection struct; the owner frees it. */
struct d4_api_hs {
	h2o_socket_t *sock;
	h2o_timeout_entry_t timeout; /* cb set by d4_api_hs_begin */
	h2o_linklist_t link;	     /* in the owner's list of handshaking connections */
};

/* Arms the handshake timeout on ctx and puts hs on list. */
static inline void d4_api_hs_begin(struct d4_api_hs *hs, h2o_socket_t *sock, h2o_context_t *ctx, h2o_linklist_t *list,
				   h2o_timeout_cb on_timeout)
{
	hs->sock = sock;
	hs->timeout.cb = on_timeout;
	h2o_timeout_link(ctx->loop, &ctx->handshake_timeout, &hs->timeout);
	h2o_linklist_insert(list, &hs->link);
}

/* Handshake over (done, failed, timed out or socket closed): idempotent. */
static inline void d4_api_hs_end(struct d4_api_hs *hs)
{
	if (h2o_timeout_is_linked(&hs->timeout))
		h2o_timeout_unlink(&hs->timeout);
	if (h2o_linklist_is_linked(&hs->link))
		h2o_linklist_unlink(&hs->link);
}

/* At stop: closes every connection still on list; their on_close callbacks
 * release and free them as on any close. */
static inline void d4_api_hs_close_all(h2o_linklist_t *list)
{
	while (!h2o_linklist_is_empty(list)) {
		struct d4_api_hs *hs = H2O_STRUCT_FROM_MEMBER(struct d4_api_hs, link, list->next);
		d4_api_hs_end(hs);
		hs->sock->data = NULL;
		h2o_socket_close(hs->sock);
	}
}

#endif
