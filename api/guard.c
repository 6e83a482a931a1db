/* d4hub API — the connection guard: what a peer can make the API hold
 * before any handler runs (docs/security.md, docs/api.md "Limits").
 *
 * h2o 2.2.5 reads a request body whole before it calls a handler, and over
 * HTTP/2 it refuses a body over max_request_entity_size with RST_STREAM
 * (REFUSED_STREAM), which clients retry. It has no hook between the headers
 * and the body. So the guard:
 *  - accepts connections itself: per-address and global connection caps at
 *    accept, its own TLS handshake (with h2o's handshake timeout), then
 *    hands the socket to h2o's HTTP/1.1 or HTTP/2 code;
 *  - on HTTP/2, sits in front of h2o's frame parser (h2o_http2_conn_t's
 *    _read_expect, see http2_internal.h): it advertises fewer concurrent
 *    streams (a second SETTINGS frame right after h2o's) and resets streams
 *    over it; when a request's headers are complete and a body is to follow
 *    it runs the checks that need no body (route, token, role) and the
 *    declared Content-Length against the operation's cap; it counts every
 *    DATA frame against the operation's cap, the address's and the global
 *    in-flight budget. A request that fails any of these is ended at once
 *    (an empty END_STREAM DATA frame handed to h2o) with a mark in its env,
 *    so the dispatcher answers 401/403/404/413/429/503 as problem+json
 *    without using the partial body; the rest of that body is read and
 *    dropped (the connection window is given back, the stream's is not) and
 *    the stream is reset with NO_ERROR once the answer is sent (RFC 9113
 *    §8.1).
 * HTTP/1.1 has one request at a time per connection; h2o's own cap
 * (max_request_entity_size, set by the server to twice the largest
 * operation cap) and the connection caps bound what it holds.
 *
 * Layouts of h2o's HTTP/2 structures are those of 2.2.5 (checked at build
 * time). API thread only. */
#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <h2o/http1.h>
#include <h2o/http2.h>
#include <h2o/http2_internal.h>

#include "api_guard.h"
#include "api_handshake.h"
#include "api_limits.h"
#include "d4_log.h"
#include "d4_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#if !defined(H2O_VERSION_MAJOR) || H2O_VERSION_MAJOR != 2 || H2O_VERSION_MINOR != 2
#error "api/guard.c relies on the HTTP/2 internals of h2o 2.2; check them against this version"
#endif

#define REFUSED_MAX 32 /* refused streams per connection whose late DATA is dropped */

typedef ssize_t (*expect_fn)(h2o_http2_conn_t *conn, const uint8_t *src, size_t len, const char **err_desc);

struct d4_api_guard {
	struct d4_api_core *core;
	/* the checks of a request before its body (d4_api_precheck for the API) */
	int (*precheck)(void *arg, const struct d4_api_raw *raw, uint64_t *body_limit);
	void *precheck_arg;
	struct d4_api_limits *lim;
	h2o_accept_ctx_t *actx;
	unsigned max_streams;
	uint32_t stream_window;	    /* SETTINGS_INITIAL_WINDOW_SIZE we advertise */
	h2o_linklist_t handshaking; /* of struct gconn, until on_handshake */
	/* connections admitted and not closed: written by this guard's loop,
	 * read by the other loops (relaxed atomics) to balance accepts */
	uint64_t live;
};

struct gconn {
	struct d4_api_guard *g;
	struct d4_api_peer *peer;
	char addr[64];
	h2o_socket_t *sock;
	struct timeval connected_at;
	struct d4_api_hs hs; /* in g->handshaking until on_handshake */
	h2o_http2_conn_t *h2;
	expect_fn inner;      /* h2o's parser state behind the guard */
	expect_fn default_fn; /* h2o's expect_default, learnt after the preface */
	int in_accept, closed;
	int cont_new;	       /* the HEADERS waiting for CONTINUATION opened a stream */
	h2o_linklist_t bodies; /* of struct gbody */
	uint32_t refused[REFUSED_MAX];
	unsigned nrefused;
	/* a listener that did the TLS handshake itself (d4_api_guard_serve) */
	void *owner;
	void (*owner_closed)(void *owner);
};

/* One HTTP/2 request whose body is being received. Lives in the request's
 * pool: its dispose runs when h2o closes the stream, and releases the bytes. */
struct gbody {
	struct gconn *c;
	uint32_t sid;
	uint64_t bytes, limit;
	int refused;
	h2o_linklist_t link;
};

static const char ENV_NAME[] = "D4HUB_REFUSED";

/* ---- refused streams ------------------------------------------------------- */

static int refused_has(struct gconn *c, uint32_t sid)
{
	for (unsigned i = 0; i < c->nrefused; i++)
		if (c->refused[i] == sid)
			return 1;
	return 0;
}

static void refused_del(struct gconn *c, uint32_t sid)
{
	for (unsigned i = 0; i < c->nrefused; i++)
		if (c->refused[i] == sid) {
			c->refused[i] = c->refused[--c->nrefused];
			return;
		}
}

static void refused_add(struct gconn *c, uint32_t sid)
{
	if (refused_has(c, sid))
		return;
	if (c->nrefused == REFUSED_MAX) {
		/* the oldest goes: its late DATA then gets h2o's RST_STREAM */
		memmove(c->refused, c->refused + 1, (REFUSED_MAX - 1) * sizeof(c->refused[0]));
		c->nrefused--;
	}
	c->refused[c->nrefused++] = sid;
}

/* ---- bodies ------------------------------------------------------------------ */

static struct gbody *body_find(struct gconn *c, uint32_t sid)
{
	for (h2o_linklist_t *n = c->bodies.next; n != &c->bodies; n = n->next) {
		struct gbody *b = H2O_STRUCT_FROM_MEMBER(struct gbody, link, n);
		if (b->sid == sid)
			return b;
	}
	return NULL;
}

static void body_dispose(void *arg)
{
	struct gbody *b = arg;
	struct gconn *c = b->c;
	if (!c)
		return;
	if (b->bytes)
		d4_api_limits_body_release(c->g->lim, c->peer, b->bytes);
	b->bytes = 0;
	if (h2o_linklist_is_linked(&b->link))
		h2o_linklist_unlink(&b->link);
	/* The answer to a refused request is complete (or the stream was
	 * reset): ask the client to stop sending the rest of its body. */
	if (b->refused && c->h2 && c->h2->state == H2O_HTTP2_CONN_STATE_OPEN && refused_has(c, b->sid)) {
		h2o_http2__encode_rst_stream_frame(&c->h2->_write.buf, b->sid, 0 /* NO_ERROR */);
		h2o_http2_conn_request_write(c->h2);
	}
}

/* Gives the client back connection-level window for n bytes h2o never saw. */
static void give_back_window(h2o_http2_conn_t *conn, uint32_t n)
{
	if (n == 0 || conn->state != H2O_HTTP2_CONN_STATE_OPEN)
		return;
	h2o_http2_encode_window_update_frame(&conn->_write.buf, 0, (int32_t)n);
	h2o_http2_conn_request_write(conn);
}

/* Ends the request of stream now, marked with why for the dispatcher. */
static ssize_t refuse(struct gconn *c, h2o_http2_conn_t *conn, h2o_http2_stream_t *stream, struct gbody *b,
		      enum d4_api_limit why, int client_done, const char **err_desc)
{
	h2o_req_t *req = &stream->req;
	char num[16];
	snprintf(num, sizeof(num), "%d", (int)why);
	h2o_vector_reserve(&req->pool, &req->env, req->env.size + 2);
	req->env.entries[req->env.size++] = h2o_strdup(&req->pool, ENV_NAME, sizeof(ENV_NAME) - 1);
	req->env.entries[req->env.size++] = h2o_strdup(&req->pool, num, strlen(num));
	if (b)
		b->refused = 1;
	if (!client_done)
		refused_add(c, stream->stream_id);
	/* h2o checks a declared length against what arrived */
	stream->_expected_content_length = SIZE_MAX;
	uint8_t fake[H2O_HTTP2_FRAME_HEADER_SIZE];
	h2o_http2_encode_frame_header(fake, 0, H2O_HTTP2_FRAME_TYPE_DATA, H2O_HTTP2_FRAME_FLAG_END_STREAM,
				      (int32_t)stream->stream_id);
	return c->inner(conn, fake, sizeof(fake), err_desc);
}

/* Text of a request header (first occurrence) in the request's pool, or NULL. */
static const char *req_header(h2o_req_t *req, const h2o_token_t *tok, const char *name, size_t nlen)
{
	ssize_t i =
	    tok ? h2o_find_header(&req->headers, tok, -1) : h2o_find_header_by_str(&req->headers, name, nlen, -1);
	if (i < 0)
		return NULL;
	h2o_iovec_t v = req->headers.entries[i].value;
	return h2o_strdup(&req->pool, v.base, v.len).base;
}

/* The headers of a request with a body are complete: decide whether its
 * body may be read. */
static ssize_t on_body_headers(struct gconn *c, h2o_http2_conn_t *conn, h2o_http2_stream_t *stream,
			       const char **err_desc)
{
	struct d4_api_guard *g = c->g;
	h2o_req_t *req = &stream->req;
	struct gbody *b = h2o_mem_alloc_shared(&req->pool, sizeof(*b), body_dispose);
	memset(b, 0, sizeof(*b));
	b->c = c;
	b->sid = stream->stream_id;
	h2o_linklist_insert(&c->bodies, &b->link);

	struct d4_api_raw raw;
	memset(&raw, 0, sizeof(raw));
	raw.method = h2o_strdup(&req->pool, req->input.method.base, req->input.method.len).base;
	raw.target = h2o_strdup(&req->pool, req->input.path.base, req->input.path.len).base;
	raw.content_type = "";
	raw.authorization = d4_api_guard_authorization(req);
	raw.peer = c->addr;
	int decided = g->precheck(g->precheck_arg, &raw, &b->limit);
	if (decided) {
		d4_api_limits_hit(g->lim, D4_LIM_EARLY_REFUSAL);
		return refuse(c, conn, stream, b, D4_LIM_EARLY_REFUSAL, 0, err_desc);
	}
	if (stream->_expected_content_length != SIZE_MAX && stream->_expected_content_length > b->limit)
		return refuse(c, conn, stream, b, D4_LIM_BODY_SIZE, 0, err_desc);
	return 0;
}

static ssize_t guard_expect(h2o_http2_conn_t *conn, const uint8_t *src, size_t len, const char **err_desc);
static ssize_t after_headers(struct gconn *c, h2o_http2_conn_t *conn, uint32_t sid, int is_new, ssize_t r,
			     const char **err_desc);

/* Calls h2o's parser and keeps the guard in front of it. */
static ssize_t call_inner(struct gconn *c, h2o_http2_conn_t *conn, const uint8_t *src, size_t len,
			  const char **err_desc)
{
	ssize_t r = c->inner(conn, src, len, err_desc);
	if (conn->_read_expect != guard_expect) {
		c->inner = conn->_read_expect;
		conn->_read_expect = guard_expect;
		if (!c->default_fn) {
			/* the client's preface is in, h2o queued its SETTINGS: ours
			 * follows and lowers SETTINGS_MAX_CONCURRENT_STREAMS */
			c->default_fn = c->inner;
			uint8_t *p =
			    (uint8_t *)h2o_buffer_reserve(&conn->_write.buf, H2O_HTTP2_FRAME_HEADER_SIZE + 12).base;
			if (p) {
				/* and the stream window down to the largest body cap (+1):
				 * a client then sends no more than that per stream before
				 * it hears from us (h2o refills a stream's window only
				 * past 8 MiB, so no body over the cap could complete
				 * anyway) */
				uint32_t v = c->g->max_streams, w = c->g->stream_window;
				uint8_t s[12] = {0,
						 H2O_HTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
						 (uint8_t)(v >> 24),
						 (uint8_t)(v >> 16),
						 (uint8_t)(v >> 8),
						 (uint8_t)v,
						 0,
						 H2O_HTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
						 (uint8_t)(w >> 24),
						 (uint8_t)(w >> 16),
						 (uint8_t)(w >> 8),
						 (uint8_t)w};
				p = h2o_http2_encode_frame_header(p, sizeof(s), H2O_HTTP2_FRAME_TYPE_SETTINGS, 0, 0);
				memcpy(p, s, sizeof(s));
				conn->_write.buf->size += H2O_HTTP2_FRAME_HEADER_SIZE + sizeof(s);
				h2o_http2_conn_request_write(conn);
			}
		}
	}
	return r;
}

static ssize_t guard_expect(h2o_http2_conn_t *conn, const uint8_t *src, size_t len, const char **err_desc)
{
	struct gconn *c = conn->sock ? conn->sock->on_close.data : NULL;
	if (!c || c->h2 != conn) {
		/* cannot happen: fail closed */
		*err_desc = "internal error";
		return H2O_HTTP2_ERROR_INTERNAL;
	}
	if (len < H2O_HTTP2_FRAME_HEADER_SIZE || !c->default_fn)
		return call_inner(c, conn, src, len, err_desc);
	uint32_t flen = (uint32_t)src[0] << 16 | (uint32_t)src[1] << 8 | src[2];
	uint8_t type = src[3], flags = src[4];
	uint32_t sid = ((uint32_t)src[5] << 24 | (uint32_t)src[6] << 16 | (uint32_t)src[7] << 8 | src[8]) & 0x7fffffffu;
	if (c->inner != c->default_fn) {
		/* A header block over h2o's limit would get RST_STREAM
		 * (REFUSED_STREAM), which clients retry, and leave the HPACK
		 * state of the connection behind: end the connection instead. */
		if (type == H2O_HTTP2_FRAME_TYPE_CONTINUATION && conn->_headers_unparsed &&
		    conn->_headers_unparsed->size + flen > H2O_MAX_REQLEN) {
			d4_api_limits_hit(c->g->lim, D4_LIM_URI_TOO_LONG);
			d4_notice("api: %s: request headers over %u bytes; connection closed", c->addr,
				  (unsigned)H2O_MAX_REQLEN);
			*err_desc = "request headers too large";
			return H2O_HTTP2_ERROR_ENHANCE_YOUR_CALM;
		}
		ssize_t r = call_inner(c, conn, src, len, err_desc);
		/* the last CONTINUATION completes the headers of its HEADERS */
		if (r <= 0 || type != H2O_HTTP2_FRAME_TYPE_CONTINUATION || c->inner != c->default_fn ||
		    conn->state != H2O_HTTP2_CONN_STATE_OPEN)
			return r;
		return after_headers(c, conn, sid, c->cont_new, r, err_desc);
	}
	if (len < H2O_HTTP2_FRAME_HEADER_SIZE + (size_t)flen || flen > H2O_HTTP2_SETTINGS_HOST.max_frame_size ||
	    conn->state != H2O_HTTP2_CONN_STATE_OPEN)
		return call_inner(c, conn, src, len, err_desc);

	if (type == H2O_HTTP2_FRAME_TYPE_DATA && sid != 0) {
		int end = (flags & H2O_HTTP2_FRAME_FLAG_END_STREAM) != 0;
		if (refused_has(c, sid)) {
			/* the rest of a refused body: dropped */
			if (end)
				refused_del(c, sid);
			give_back_window(conn, flen);
			return H2O_HTTP2_FRAME_HEADER_SIZE + (ssize_t)flen;
		}
		h2o_http2_stream_t *stream = h2o_http2_conn_get_stream(conn, sid);
		struct gbody *b =
		    stream && stream->state == H2O_HTTP2_STREAM_STATE_RECV_BODY ? body_find(c, sid) : NULL;
		if (b) {
			int why = -1;
			if (b->bytes + flen > b->limit) {
				why = D4_LIM_BODY_SIZE;
			} else {
				int rc = d4_api_limits_body_add(c->g->lim, c->peer, flen);
				if (rc != 0)
					why = rc;
				else
					b->bytes += flen;
			}
			if (why >= 0) {
				if (why != D4_LIM_BODY_SIZE)
					d4_notice("api: %s: request body refused: %s", c->addr,
						  d4_api_limit_name((enum d4_api_limit)why));
				ssize_t r = refuse(c, conn, stream, b, (enum d4_api_limit)why, end, err_desc);
				if (r < 0)
					return r;
				give_back_window(conn, flen);
				return H2O_HTTP2_FRAME_HEADER_SIZE + (ssize_t)flen;
			}
		}
		return call_inner(c, conn, src, len, err_desc);
	}

	int is_new = type == H2O_HTTP2_FRAME_TYPE_HEADERS && sid > conn->pull_stream_ids.max_open;
	ssize_t r = call_inner(c, conn, src, len, err_desc);
	if (r <= 0 || conn->state != H2O_HTTP2_CONN_STATE_OPEN || type != H2O_HTTP2_FRAME_TYPE_HEADERS)
		return r;
	if (c->inner != c->default_fn) {
		c->cont_new = is_new; /* CONTINUATION frames follow */
		return r;
	}
	return after_headers(c, conn, sid, is_new, r, err_desc);
}

/* The header block of stream sid is complete (h2o returned r for its last
 * frame): the stream cap, and the checks of a request with a body. */
static ssize_t after_headers(struct gconn *c, h2o_http2_conn_t *conn, uint32_t sid, int is_new, ssize_t r,
			     const char **err_desc)
{
	h2o_http2_stream_t *stream = h2o_http2_conn_get_stream(conn, sid);
	if (!stream)
		return r;
	if (is_new && conn->num_streams.pull.open > c->g->max_streams) {
		d4_api_limits_hit(c->g->lim, D4_LIM_STREAMS);
		/* one line per refusal would let a client fill the log */
		uint64_t n = d4_api_limits_hits(c->g->lim, D4_LIM_STREAMS);
		if ((n & (n - 1)) == 0)
			d4_notice("api: %s: stream %u refused: over %u concurrent streams (%llu refusals so far)",
				  c->addr, sid, c->g->max_streams, (unsigned long long)n);
		h2o_http2_encode_rst_stream_frame(&conn->_write.buf, sid, -H2O_HTTP2_ERROR_REFUSED_STREAM);
		h2o_http2_conn_request_write(conn);
		h2o_http2_stream_reset(conn, stream);
		return r;
	}
	if (stream->state == H2O_HTTP2_STREAM_STATE_RECV_BODY && !body_find(c, sid)) {
		ssize_t rr = on_body_headers(c, conn, stream, err_desc);
		if (rr < 0)
			return rr;
	}
	return r;
}

/* ---- connections ------------------------------------------------------------- */

static void gconn_free(struct gconn *c)
{
	if (c->owner_closed)
		c->owner_closed(c->owner);
	free(c);
}

static void gconn_closed(void *data)
{
	struct gconn *c = data;
	d4_api_hs_end(&c->hs);
	/* h2o closes every stream before the socket; anything left is let go */
	while (!h2o_linklist_is_empty(&c->bodies)) {
		struct gbody *b = H2O_STRUCT_FROM_MEMBER(struct gbody, link, c->bodies.next);
		if (b->bytes)
			d4_api_limits_body_release(c->g->lim, c->peer, b->bytes);
		b->bytes = 0;
		b->c = NULL;
		h2o_linklist_unlink(&b->link);
	}
	d4_api_limits_conn_close(c->g->lim, c->peer);
	__atomic_fetch_sub(&c->g->live, 1, __ATOMIC_RELAXED);
	c->peer = NULL;
	c->h2 = NULL;
	if (c->in_accept) {
		c->closed = 1;
		return;
	}
	gconn_free(c);
}

static void on_handshake_timeout(h2o_timeout_entry_t *e)
{
	struct gconn *c = H2O_STRUCT_FROM_MEMBER(struct gconn, hs.timeout, e);
	d4_debug("api: %s: TLS handshake timed out", c->addr);
	d4_api_hs_end(&c->hs);
	c->sock->data = NULL;
	h2o_socket_close(c->sock);
}

static void serve(struct gconn *c, h2o_socket_t *sock);

static void on_handshake(h2o_socket_t *sock, const char *err)
{
	struct gconn *c = sock->data;
	sock->data = NULL;
	d4_api_hs_end(&c->hs);
	if (err) {
		d4_debug("api: %s: TLS handshake failed: %s", c->addr, err);
		h2o_socket_close(sock);
		return;
	}
	serve(c, sock);
}

/* TLS is up: h2o's HTTP/1.1 or HTTP/2 with the guard in front. */
static void serve(struct gconn *c, h2o_socket_t *sock)
{
	h2o_iovec_t proto = h2o_socket_ssl_get_selected_protocol(sock);
	int h2 = 0;
	for (const h2o_iovec_t *id = h2o_http2_alpn_protocols; id->len; id++)
		if (proto.len == id->len && memcmp(proto.base, id->base, proto.len) == 0)
			h2 = 1;
	if (!h2) {
		h2o_http1_accept(c->g->actx, sock, c->connected_at);
		return;
	}
	/* Hide what already arrived until the guard is in place, then let
	 * h2o read it through the guard. */
	h2o_buffer_t *pending = sock->input;
	h2o_buffer_init(&sock->input, &h2o_socket_buffer_prototype);
	c->in_accept = 1;
	h2o_http2_accept(c->g->actx, sock, c->connected_at);
	c->in_accept = 0;
	if (c->closed) {
		h2o_buffer_dispose(&pending);
		gconn_free(c);
		return;
	}
	h2o_http2_conn_t *conn = sock->data;
	c->h2 = conn;
	c->inner = conn->_read_expect;
	conn->_read_expect = guard_expect;
	h2o_buffer_dispose(&sock->input);
	sock->input = pending;
	if (sock->input->size != 0 && sock->_cb.read)
		sock->_cb.read(sock, NULL);
}

static void peer_text(h2o_socket_t *sock, char *out, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t sl = h2o_socket_getpeername(sock, (void *)&ss);
	d4_strlcpy(out, "?", size);
	if (sl == 0)
		return;
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)size);
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)size);
}

/* A connection admitted under the per-address and global caps, or NULL
 * (refused and logged as `who`, or out of memory). Both entry points --
 * the API port and the federation port -- admit through here. */
static struct gconn *admit(struct d4_api_guard *g, h2o_socket_t *sock, const char *who)
{
	struct gconn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->g = g;
	c->sock = sock;
	peer_text(sock, c->addr, sizeof(c->addr));
	enum d4_api_limit why = D4_LIM_COUNT;
	c->peer = d4_api_limits_conn_open(g->lim, c->addr, &why);
	if (!c->peer) {
		/* one line per refusal would let a flood fill the log */
		uint64_t n = d4_api_limits_hits(g->lim, why);
		if (why != D4_LIM_COUNT && (n & (n - 1)) == 0)
			d4_notice("%s: connection from %s refused: %s (%llu refusals so far)", who, c->addr,
				  d4_api_limit_name(why), (unsigned long long)n);
		free(c);
		return NULL;
	}
	h2o_linklist_init_anchor(&c->bodies);
	__atomic_fetch_add(&g->live, 1, __ATOMIC_RELAXED);
	return c;
}

uint64_t d4_api_guard_live(const struct d4_api_guard *g)
{
	return g ? __atomic_load_n(&g->live, __ATOMIC_RELAXED) : 0;
}

void d4_api_guard_accept(struct d4_api_guard *g, h2o_socket_t *sock)
{
	struct gconn *c = admit(g, sock, "api");
	if (!c) {
		h2o_socket_close(sock);
		return;
	}
	c->connected_at = *h2o_get_timestamp(g->actx->ctx, NULL, NULL);
	sock->on_close.cb = gconn_closed;
	sock->on_close.data = c;
	sock->data = c;
	d4_api_hs_begin(&c->hs, sock, g->actx->ctx, &g->handshaking, on_handshake_timeout);
	h2o_socket_ssl_handshake(sock, g->actx->ssl_ctx, NULL, on_handshake);
}

struct d4_api_gconn *d4_api_guard_open(struct d4_api_guard *g, h2o_socket_t *sock)
{
	return (struct d4_api_gconn *)admit(g, sock, "federation");
}

void d4_api_guard_abandon(struct d4_api_gconn *gc)
{
	struct gconn *c = (struct gconn *)gc;
	if (!c)
		return;
	d4_api_limits_conn_close(c->g->lim, c->peer);
	__atomic_fetch_sub(&c->g->live, 1, __ATOMIC_RELAXED);
	free(c);
}

void d4_api_guard_serve(struct d4_api_gconn *gc, h2o_socket_t *sock, struct timeval connected_at, void *owner,
			void (*owner_closed)(void *owner))
{
	struct gconn *c = (struct gconn *)gc;
	c->sock = sock;
	c->connected_at = connected_at;
	c->owner = owner;
	c->owner_closed = owner_closed;
	sock->on_close.cb = gconn_closed;
	sock->on_close.data = c;
	sock->data = NULL;
	serve(c, sock);
}

void *d4_api_guard_owner(h2o_socket_t *sock)
{
	if (!sock || sock->on_close.cb != gconn_closed || !sock->on_close.data)
		return NULL;
	return ((struct gconn *)sock->on_close.data)->owner;
}

void d4_api_guard_close_handshakes(struct d4_api_guard *g)
{
	/* gconn_closed releases each one's connection slot and frees it. */
	d4_api_hs_close_all(&g->handshaking);
}

static int core_precheck(void *arg, const struct d4_api_raw *raw, uint64_t *body_limit)
{
	return d4_api_precheck(arg, raw, body_limit);
}

struct d4_api_guard *d4_api_guard_new(struct d4_api_core *core, struct d4_api_limits *lim, h2o_accept_ctx_t *actx,
				      unsigned max_streams)
{
	struct d4_api_guard *g =
	    d4_api_guard_new_with(lim, actx, max_streams, d4_api_body_limit_max(core), core_precheck, core);
	if (g)
		g->core = core;
	return g;
}

struct d4_api_guard *
d4_api_guard_new_with(struct d4_api_limits *lim, h2o_accept_ctx_t *actx, unsigned max_streams, uint64_t body_max,
		      int (*precheck)(void *arg, const struct d4_api_raw *raw, uint64_t *body_limit), void *arg)
{
	struct d4_api_guard *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->precheck = precheck;
	g->precheck_arg = arg;
	g->lim = lim;
	g->actx = actx;
	g->max_streams = max_streams ? max_streams : 16;
	h2o_linklist_init_anchor(&g->handshaking);
	/* the largest body cap and one byte, within what h2o itself
	 * advertises: a body over its cap can always be sent far enough to
	 * be refused, it never waits for a WINDOW_UPDATE that h2o would not
	 * send */
	uint64_t w = body_max + 1;
	g->stream_window = w < 65535 ? 65535
			   : w > H2O_HTTP2_SETTINGS_HOST.initial_window_size
			       ? H2O_HTTP2_SETTINGS_HOST.initial_window_size
			       : (uint32_t)w;
	return g;
}

void d4_api_guard_free(struct d4_api_guard *g)
{
	free(g);
}

int d4_api_guard_refused(h2o_req_t *req)
{
	for (size_t i = 0; i + 1 < req->env.size; i += 2)
		if (req->env.entries[i].len == sizeof(ENV_NAME) - 1 &&
		    memcmp(req->env.entries[i].base, ENV_NAME, sizeof(ENV_NAME) - 1) == 0) {
			int v = atoi(
			    h2o_strdup(&req->pool, req->env.entries[i + 1].base, req->env.entries[i + 1].len).base);
			return v > 0 && v < D4_LIM_COUNT ? v : D4_LIM_EARLY_REFUSAL;
		}
	return 0;
}

const char *d4_api_guard_authorization(h2o_req_t *req)
{
	const char *a = req_header(req, H2O_TOKEN_AUTHORIZATION, NULL, 0);
	if (a)
		return a;
	/* DNSDB API clients (dnsdbq) send the token as X-API-Key: taken only on
	 * the pDNS paths, where docs/api.md and the contract document it */
	h2o_iovec_t p = req->input.path;
	if ((p.len >= 6 && memcmp(p.base, "/pdns/", 6) == 0) || (p.len >= 7 && memcmp(p.base, "/dnsdb/", 7) == 0))
		return req_header(req, NULL, "x-api-key", 9);
	return NULL;
}
