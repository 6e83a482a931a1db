/* d4hub API — the h2o server: TLS (HTTP/2 by ALPN, HTTP/1.1), one
 * catch-all handler feeding d4_api_dispatch, on [api] threads event-loop
 * threads of its own (one per core by default).
 *
 * Each loop thread has its own h2o loop, context, connection guard and
 * streamed answers, and touches only its own h2o objects (DESIGN.md §2): a
 * connection lives and dies on the loop that accepted it. All loops watch
 * the one listening socket, bound by d4_api_start on the caller's thread so
 * that a busy port is an error the daemon sees at start-up (why one socket
 * and not SO_REUSEPORT: docs/architecture.md). What the loops share — the
 * limits tables, the rate limits, the request metrics, the federation
 * port's counters — is locked or atomic where it lives. Other threads talk
 * to a loop through its pipe (stop). The federation port runs on loop 0. */
#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "api_core.h"
#include "api_fed.h"
#include "api_guard.h"
#include "api_limits.h"
#include "d4_api.h"
#include "d4_error.h"
#include "d4_hubconf.h"
#include "d4_log.h"
#include "d4_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Connections still open this long after a stop request are abandoned. */
#define STOP_GRACE_MS 2000

struct api_handler {
	h2o_handler_t super;
	struct d4_api *api;
};

/* Most loop threads ([api] threads); more buys nothing on today's machines. */
#define MAX_LOOPS 256
/* A loop with 2 connections more than another leaves the next one to it
 * for this long (then takes it if it is still waiting). */
#define ACCEPT_DEFER_MS 2

/* One event-loop thread. Everything but api is that thread's alone once it
 * runs (the caller fills it before and reads it after the join). */
struct api_loop {
	struct d4_api *api;
	unsigned idx;
	pthread_t thread;
	int thread_started;
	int listen_fd; /* dup of the API's listening socket, owned by h2o once running */
	int stop_pipe[2];
	int clean; /* the context was disposed at stop (no connection abandoned) */
	h2o_context_t hctx;
	h2o_accept_ctx_t actx;
	h2o_evloop_t *loop;
	h2o_socket_t *listener, *stopper;
	int stopping;
	h2o_timeout_t stream_retry; /* D4_API_STREAM_RETRY_MS, for producers that said D4_EAGAIN */
	uint64_t streams_open;	    /* live streamed responses */
	h2o_linklist_t streams;	    /* of struct stream_gen, aborted at stop */
	struct d4_api_guard *guard;
	h2o_timeout_t defer;	    /* ACCEPT_DEFER_MS */
	h2o_timeout_entry_t resume; /* listener paused: leaving a connection to a lighter loop */
	int deferred;		    /* the last accept was left to another loop: take the next */
};

struct d4_api {
	int listen_fd;
	uint16_t port;
	char addr_text[160];
	SSL_CTX *ssl;
	char spec_path[D4_PATH_MAX];
	struct d4_api_ctx ctx;
	struct d4_api_core core;

	/* start-up handshake with the caller */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned ready; /* loops running */

	/* configuration shared by the loops' contexts; read-only while they run */
	h2o_globalconf_t gconf;
	int gconf_ok;
	size_t stream_chunk;	      /* bytes buffered per streamed response ([api] export_buffer) */
	unsigned max_streams;	      /* HTTP/2 streams per connection ([api] max_streams) */
	struct d4_api_limits *limits; /* shared by the loops; locked inside */
	struct d4_api_fed *fed;	      /* the federation listener (on loop 0), NULL when off */
	unsigned nloops;
	struct api_loop *loops;
	uint64_t *loop_requests; /* d4_api_core.loop_requests */
};

static void log_ssl_errors(const char *what, char *err, size_t errsize)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "unknown error";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errsize, "%s: %s", what, buf);
	ERR_clear_error();
}

/* Builds the server TLS context of the API: TLS 1.2+, ALPN h2 and
 * http/1.1, optional client certificate verification. */
static int make_tls(const struct d4_api_opts *o, SSL_CTX **out, char *err, size_t errsize)
{
	static const unsigned char sid_ctx[] = "d4hub-api";
	SSL_CTX *c = SSL_CTX_new(TLS_server_method());
	if (!c) {
		log_ssl_errors("SSL_CTX_new", err, errsize);
		return D4_ETLS;
	}
	SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
	SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
	/* Without it TLS 1.2 session resumption under client verification
	 * aborts the handshake (DESIGN.md §2). */
	SSL_CTX_set_session_id_context(c, sid_ctx, sizeof(sid_ctx) - 1);
	char what[D4_PATH_MAX + 64];
	if (!o->cert || !o->cert[0] || SSL_CTX_use_certificate_chain_file(c, o->cert) != 1) {
		snprintf(what, sizeof(what), "api certificate %s", o->cert ? o->cert : "(none)");
		goto fail;
	}
	if (!o->key || !o->key[0] || SSL_CTX_use_PrivateKey_file(c, o->key, SSL_FILETYPE_PEM) != 1) {
		snprintf(what, sizeof(what), "api key %s", o->key ? o->key : "(none)");
		goto fail;
	}
	if (SSL_CTX_check_private_key(c) != 1) {
		snprintf(what, sizeof(what), "api key %s does not match certificate %s", o->key, o->cert);
		goto fail;
	}
	if (o->client_ca && o->client_ca[0]) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->client_ca);
		if (!names || SSL_CTX_load_verify_locations(c, o->client_ca, NULL) != 1) {
			if (names)
				sk_X509_NAME_pop_free(names, X509_NAME_free);
			snprintf(what, sizeof(what), "api client CA %s", o->client_ca);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(c, names);
		/* A connection without a valid certificate fails in the
		 * handshake and never reaches the HTTP parser. */
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		SSL_CTX_set_verify_depth(c, 4);
	}
	h2o_ssl_register_alpn_protocols(c, h2o_alpn_protocols);
	*out = c;
	return D4_OK;
fail:
	log_ssl_errors(what, err, errsize);
	SSL_CTX_free(c);
	return D4_ETLS;
}

int d4_api_check_tls(const struct d4_api_opts *opts, char *err, size_t errsize)
{
	SSL_CTX *c = NULL;
	int rc = make_tls(opts, &c, err, errsize);
	SSL_CTX_free(c);
	return rc;
}

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer hook for two h2o 2.2.5 leftovers, not leaks of ours: freed
 * memory-pool and buffer chunks kept in per-thread recycle lists
 * (h2o_mem_alloc_recycle), which it cannot flush and which become
 * unreachable when the API thread exits; and the context's queue object,
 * which h2o_multithread_destroy_queue closes but never frees with the
 * evloop backend. Everything else is still checked. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:h2o_mem_alloc_recycle\nleak:h2o_multithread_create_queue\n";
}
#endif

static const char *reason_of(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
	}
}

static char *pool_str(h2o_mem_pool_t *pool, const char *s, size_t len)
{
	char *p = h2o_mem_alloc_pool(pool, len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static const char *header_str(h2o_req_t *req, const h2o_token_t *tok)
{
	ssize_t i = h2o_find_header(&req->headers, tok, -1);
	if (i < 0)
		return NULL;
	h2o_iovec_t v = req->headers.entries[i].value;
	return pool_str(&req->pool, v.base, v.len);
}

/* A header h2o has no token for (h2o keeps names lower-case). */
static const char *header_named(h2o_req_t *req, const char *name)
{
	ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
	if (i < 0)
		return NULL;
	h2o_iovec_t v = req->headers.entries[i].value;
	return pool_str(&req->pool, v.base, v.len);
}

static void peer_text(h2o_req_t *req, char *out, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t sl =
	    req->conn->callbacks->get_peername ? req->conn->callbacks->get_peername(req->conn, (void *)&ss) : 0;
	d4_strlcpy(out, "?", size);
	if (sl == 0)
		return;
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)size);
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)size);
}

static void add_header(h2o_req_t *req, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);
	/* HTTP/2 forbids upper-case field names, and h2o finds its tokens
	 * (which it may encode with HPACK's static table) only in lower case */
	char *n = pool_str(&req->pool, name, nl);
	for (char *p = n; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	h2o_add_header_by_str(&req->pool, &req->res.headers, n, nl, 1, NULL, pool_str(&req->pool, value, vl), vl);
}

/* ---- streamed responses (api_internal.h: d4_api_stream) -------------------- */

int d4_api_stream(struct d4_api_resp *resp, int status, const char *content_type, struct d4_api_producer *p)
{
	if (!p || !p->next || !p->free) {
		if (p && p->free)
			p->free(p);
		d4_api_problem(resp, 500, "internal", "Internal Server Error", "the stream could not be started");
		return D4_EINVAL;
	}
	d4_api_stream_release(resp);
	/* a problem built earlier is dropped: the stream is the answer */
	d4_api_body(resp, status, content_type, "", 0);
	resp->oom = 0; /* an empty body needs no memory that matters */
	resp->producer = p;
	return D4_OK;
}

void d4_api_stream_release(struct d4_api_resp *r)
{
	if (r && r->producer) {
		r->producer->free(r->producer);
		r->producer = NULL;
	}
}

/* One streamed response. Lives in the request's pool (h2o_mem_alloc_shared)
 * so that its dispose callback runs when h2o frees the request, whether the
 * body was complete, failed, or the client went away: the one place where the
 * producer and the chunk buffer are released. */
struct stream_gen {
	h2o_generator_t super;
	struct api_loop *lp;
	h2o_req_t *req;
	struct d4_api_producer *p;
	uint8_t *buf;
	h2o_timeout_entry_t retry;
	int in_send;		 /* inside h2o_send: a re-entrant proceed only sets again */
	int again;		 /* proceed arrived while in_send */
	int finished;		 /* FINAL or ERROR sent: h2o will call nothing more */
	uint64_t sent;		 /* body bytes handed to h2o */
	h2o_linklist_t link;	 /* in lp->streams */
	char addr[64], user[64]; /* counted in the API's limits (exports per address and user) */
};

static void stream_produce(struct stream_gen *g);

static void stream_on_retry(h2o_timeout_entry_t *entry)
{
	struct stream_gen *g = H2O_STRUCT_FROM_MEMBER(struct stream_gen, retry, entry);
	stream_produce(g);
}

static void stream_proceed(h2o_generator_t *self, h2o_req_t *req)
{
	(void)req;
	stream_produce((struct stream_gen *)self);
}

/* The client reset the stream or closed the connection before the end. */
static void stream_stop(h2o_generator_t *self, h2o_req_t *req)
{
	struct stream_gen *g = (struct stream_gen *)self;
	(void)req;
	if (h2o_timeout_is_linked(&g->retry))
		h2o_timeout_unlink(&g->retry);
	g->finished = 1;
	d4_debug("api: stream stopped by the client after %llu bytes", (unsigned long long)g->sent);
}

static void stream_dispose(void *arg)
{
	struct stream_gen *g = arg;
	if (h2o_timeout_is_linked(&g->retry))
		h2o_timeout_unlink(&g->retry);
	if (g->p)
		g->p->free(g->p);
	g->p = NULL;
	free(g->buf);
	g->buf = NULL;
	if (h2o_linklist_is_linked(&g->link))
		h2o_linklist_unlink(&g->link);
	if (g->lp->streams_open)
		g->lp->streams_open--;
	d4_api_limits_export_close(g->lp->api->limits, g->addr, g->user);
}

static void stream_produce(struct stream_gen *g)
{
	if (g->finished)
		return;
	if (g->in_send) {
		g->again = 1;
		return;
	}
	do {
		g->again = 0;
		long n = g->p->next(g->p, g->buf, g->lp->api->stream_chunk);
		if (n == D4_EAGAIN) {
			h2o_timeout_link(g->lp->loop, &g->lp->stream_retry, &g->retry);
			return;
		}
		if (n > (long)g->lp->api->stream_chunk) {
			d4_err("api: stream producer overran its buffer (%ld bytes)", n);
			abort(); /* broken invariant: memory already overwritten */
		}
		if (n <= 0) {
			if (n < 0)
				d4_warn("api: %.*s: stream aborted after %llu bytes: %s",
					(int)(g->req->path.len > 200 ? 200 : g->req->path.len), g->req->path.base,
					(unsigned long long)g->sent, d4_strerror((int)n));
			/* h2o may free the request (and g) from here on */
			g->finished = 1;
			h2o_send(g->req, NULL, 0, n == 0 ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_ERROR);
			return;
		}
		h2o_iovec_t v = h2o_iovec_init(g->buf, (size_t)n);
		g->sent += (uint64_t)n;
		g->in_send = 1;
		h2o_send(g->req, &v, 1, H2O_SEND_STATE_IN_PROGRESS);
		g->in_send = 0;
	} while (g->again && !g->finished);
}

/* Starts the streamed answer of req on its loop lp; takes the producer. The
 * caller has counted it in the API's limits for addr and user. */
static void stream_start(struct api_loop *lp, h2o_req_t *req, struct d4_api_producer *p, const char *addr,
			 const char *user)
{
	struct d4_api *api = lp->api;
	uint8_t *buf = malloc(api->stream_chunk);
	struct stream_gen *g = buf ? h2o_mem_alloc_shared(&req->pool, sizeof(*g), stream_dispose) : NULL;
	if (!g) {
		free(buf);
		p->free(p);
		d4_api_limits_export_close(api->limits, addr, user);
		/* headers are not sent yet: a plain 500 still fits */
		req->res.status = 500;
		req->res.reason = "Internal Server Error";
		h2o_send_inline(req, "", 0);
		return;
	}
	memset(g, 0, sizeof(*g));
	g->super.proceed = stream_proceed;
	g->super.stop = stream_stop;
	g->lp = lp;
	g->req = req;
	g->p = p;
	g->buf = buf;
	g->retry.cb = stream_on_retry;
	d4_strlcpy(g->addr, addr, sizeof(g->addr));
	d4_strlcpy(g->user, user, sizeof(g->user));
	h2o_linklist_insert(&lp->streams, &g->link);
	lp->streams_open++;
	h2o_start_response(req, &g->super);
	stream_produce(g);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct d4_api *api = ((struct api_handler *)self)->api;
	/* the loop whose context serves the connection (only API contexts
	 * route here: the federation port has hosts of its own) */
	struct api_loop *lp = H2O_STRUCT_FROM_MEMBER(struct api_loop, hctx, req->conn->ctx);
	struct d4_api_raw raw;
	struct d4_api_resp resp;
	char peer[64];

	__atomic_fetch_add(&api->loop_requests[lp->idx], 1, __ATOMIC_RELAXED);
	memset(&raw, 0, sizeof(raw));
	raw.method = pool_str(&req->pool, req->method.base, req->method.len);
	raw.target = pool_str(&req->pool, req->path.base, req->path.len);
	raw.body = (const uint8_t *)req->entity.base;
	raw.body_len = req->entity.base ? req->entity.len : 0;
	raw.content_type = header_str(req, H2O_TOKEN_CONTENT_TYPE);
	if (!raw.content_type)
		raw.content_type = "";
	raw.authorization = d4_api_guard_authorization(req);
	raw.accept = header_str(req, H2O_TOKEN_ACCEPT);
	raw.dribble_count = header_named(req, "dribble-paginate-count");
	raw.dribble_cursor = header_named(req, "dribble-paginate-cursor");
	raw.dribble_rrtype = header_named(req, "dribble-filter-rrtype");
	raw.refused = d4_api_guard_refused(req);
	peer_text(req, peer, sizeof(peer));
	raw.peer = peer;

	d4_api_resp_init(&resp);
	const struct d4_api_route *rt = d4_api_dispatch(&api->core, &raw, &resp);
	if (resp.producer) {
		int why = d4_api_limits_export_open(api->limits, peer, resp.principal);
		if (why != 0) {
			/* the dispatcher counted the handler's status: count this one instead */
			if (resp.status >= 100 && resp.status < 600)
				__atomic_fetch_sub(&api->core.metrics.by_status[resp.status], 1, __ATOMIC_RELAXED);
			d4_api_stream_release(&resp);
			if (why == D4_LIM_COUNT) {
				d4_api_problem(&resp, 500, "internal", "Internal Server Error", "out of memory");
			} else {
				d4_notice("api: %s %.200s from %s (%s): 429, %s", raw.method, raw.target, peer,
					  resp.principal, d4_api_limit_name((enum d4_api_limit)why));
				d4_api_problem(&resp, 429, "too-many-requests", "Too Many Requests",
					       "too many streamed answers at once for this %s; retry when one ends",
					       why == D4_LIM_EXPORTS_USER ? "user" : "address");
				d4_api_header(&resp, "Retry-After", "1");
			}
			d4_api_resp_finish(&resp);
			__atomic_fetch_add(&api->core.metrics.by_status[resp.status], 1, __ATOMIC_RELAXED);
		}
	}

	if (resp.status >= 500)
		d4_warn("api: %s %.200s from %s -> %d", raw.method, raw.target, peer, resp.status);
	else
		d4_debug("api: %s %.200s from %s -> %d (%s)", raw.method, raw.target, peer, resp.status,
			 rt ? rt->op_id : "-");

	req->res.status = resp.status;
	req->res.reason = reason_of(resp.status);
	add_header(req, "cache-control", "no-store");
	for (unsigned i = 0; i < resp.nhdr; i++)
		add_header(req, resp.hdr_name[i], resp.hdr_value[i]);
	if (resp.status == 204) {
		d4_api_stream_release(&resp);
		d4_api_resp_free(&resp);
		h2o_send_inline(req, "", 0);
		return 0;
	}
	if (resp.content_type)
		add_header(req, "content-type", resp.content_type);
	if (resp.producer) {
		struct d4_api_producer *p = resp.producer;
		char user[64];
		d4_strlcpy(user, resp.principal, sizeof(user));
		resp.producer = NULL;
		d4_api_resp_free(&resp);
		stream_start(lp, req, p, peer, user);
		return 0;
	}
	req->res.content_length = resp.body_len;
	/* h2o_send_inline copies the body into the request's pool */
	h2o_send_inline(req, resp.body ? (const char *)resp.body : "", resp.body_len);
	d4_api_resp_free(&resp);
	return 0;
}

/* Every loop is woken for a new connection; the first to accept gets it
 * (the others find nothing): a busy loop comes late and an idle one takes
 * the connection. */
static void on_accept(h2o_socket_t *listener, const char *err);

static void on_resume(h2o_timeout_entry_t *entry)
{
	struct api_loop *lp = H2O_STRUCT_FROM_MEMBER(struct api_loop, resume, entry);
	if (lp->listener && !lp->stopping)
		h2o_socket_read_start(lp->listener, on_accept);
}

/* 1 when another loop holds at least 2 connections fewer than lp: a burst
 * of new connections (h2load, a tool opening a pool) would otherwise all go
 * to whichever loop woke first. */
static int lighter_loop_exists(struct api_loop *lp)
{
	struct d4_api *api = lp->api;
	uint64_t mine = d4_api_guard_live(lp->guard);
	for (unsigned i = 0; i < api->nloops; i++)
		if (i != lp->idx && d4_api_guard_live(api->loops[i].guard) + 2 <= mine)
			return 1;
	return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
	struct api_loop *lp = listener->data;
	if (err)
		return;
	if (!lp->deferred && lp->api->nloops > 1 && lighter_loop_exists(lp)) {
		/* the lighter loop was woken by the same connection: pause
		 * (no spinning on the level-triggered socket), and take the
		 * next one ourselves if it is still waiting then */
		lp->deferred = 1;
		h2o_socket_read_stop(listener);
		h2o_timeout_link(lp->loop, &lp->defer, &lp->resume);
		return;
	}
	lp->deferred = 0;
	h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
	if (sock)
		d4_api_guard_accept(lp->guard, sock);
}

static void on_stop(h2o_socket_t *sock, const char *err)
{
	struct api_loop *lp = sock->data;
	(void)err;
	lp->stopping = 1;
}

static void signal_ready(struct d4_api *api)
{
	pthread_mutex_lock(&api->mu);
	api->ready++;
	pthread_cond_broadcast(&api->cv);
	pthread_mutex_unlock(&api->mu);
}

static int conns_open(struct api_loop *lp)
{
	return !h2o_linklist_is_empty(&lp->hctx.http1._conns) || !h2o_linklist_is_empty(&lp->hctx.http2._conns) ||
	       (lp->idx == 0 && d4_api_fed_conns_open(lp->api->fed));
}

/* At stop: end every live stream (a follow would otherwise keep its
 * connection open past the grace period). The clients see failed transfers. */
static void abort_streams(struct api_loop *lp)
{
	while (!h2o_linklist_is_empty(&lp->streams)) {
		struct stream_gen *g = H2O_STRUCT_FROM_MEMBER(struct stream_gen, link, lp->streams.next);
		h2o_linklist_unlink(&g->link);
		if (g->finished || g->in_send)
			continue;
		if (h2o_timeout_is_linked(&g->retry))
			h2o_timeout_unlink(&g->retry);
		g->finished = 1;
		h2o_send(g->req, NULL, 0, H2O_SEND_STATE_ERROR);
	}
}

/* The h2o configuration the loops' contexts share (before any loop runs). */
static void api_gconf_init(struct d4_api *api)
{
	h2o_config_init(&api->gconf);
	api->gconf_ok = 1;
	api->gconf.server_name = h2o_iovec_init(H2O_STRLIT("d4hub"));
	/* The guard (api/guard.c) answers over-size HTTP/2 bodies with a 413
	 * problem before h2o's own limit, which would reset the stream (and
	 * clients retry that). For HTTP/1.1, h2o's limit is what bounds a
	 * connection: twice the largest operation cap, so that bodies just
	 * over a cap still get our 413 problem, and larger ones h2o's 413. */
	uint64_t lim = d4_api_body_limit_max(&api->core) * 2;
	api->gconf.max_request_entity_size = lim > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)lim;
	/* h2c upgrades would bypass the guard's HTTP/2 limits */
	api->gconf.http1.upgrade_to_http2 = 0;
	api->gconf.http2.max_concurrent_requests_per_connection = api->max_streams;
	h2o_hostconf_t *host = h2o_config_register_host(&api->gconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
	struct api_handler *h = (struct api_handler *)h2o_create_handler(pc, sizeof(*h));
	h->super.on_req = on_req;
	h->api = api;
}

static void *api_thread(void *arg)
{
	struct api_loop *lp = arg;
	struct d4_api *api = lp->api;
	char name[16];

	/* "d4hub-api/3" in top -H and perf */
	snprintf(name, sizeof(name), "d4hub-api/%u", lp->idx % 1000);
	pthread_setname_np(pthread_self(), name);
	lp->loop = h2o_evloop_create();
	h2o_context_init(&lp->hctx, lp->loop, &api->gconf);
	h2o_timeout_init(lp->loop, &lp->stream_retry, D4_API_STREAM_RETRY_MS);
	h2o_timeout_init(lp->loop, &lp->defer, ACCEPT_DEFER_MS);
	lp->resume.cb = on_resume;
	h2o_linklist_init_anchor(&lp->streams);

	lp->listener = h2o_evloop_socket_create(lp->loop, lp->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
	lp->listen_fd = -1; /* owned by h2o now */
	lp->listener->data = lp;
	h2o_socket_read_start(lp->listener, on_accept);
	lp->stopper = h2o_evloop_socket_create(lp->loop, lp->stop_pipe[0], H2O_SOCKET_FLAG_DONT_READ);
	lp->stop_pipe[0] = -1;
	lp->stopper->data = lp;
	h2o_socket_read_start(lp->stopper, on_stop);
	if (lp->idx == 0)
		d4_api_fed_run(api->fed, lp->loop, &lp->hctx);
	signal_ready(api);

	while (!lp->stopping)
		if (h2o_evloop_run(lp->loop, INT32_MAX) != 0 && errno != EINTR) {
			d4_err("api: event loop %u: %s", lp->idx, strerror(errno));
			break;
		}

	if (h2o_timeout_is_linked(&lp->resume))
		h2o_timeout_unlink(&lp->resume);
	h2o_socket_read_stop(lp->listener);
	h2o_socket_close(lp->listener);
	lp->listener = NULL;
	if (lp->idx == 0)
		d4_api_fed_stop_accepting(api->fed);
	d4_api_guard_close_handshakes(lp->guard);
	abort_streams(lp);
	if (conns_open(lp)) {
		/* GOAWAY to HTTP/2 clients, close idle HTTP/1 connections */
		h2o_context_request_shutdown(&lp->hctx);
		uint64_t deadline = d4_mono_ms() + STOP_GRACE_MS;
		while (conns_open(lp) && d4_mono_ms() < deadline)
			h2o_evloop_run(lp->loop, 50);
	}
	/* HTTP/2's graceful-shutdown timer re-arms itself; h2o_context_dispose
	 * asserts that no timer is pending. */
	if (h2o_timeout_is_linked(&lp->hctx.http2._graceful_shutdown_timeout))
		h2o_timeout_unlink(&lp->hctx.http2._graceful_shutdown_timeout);
	h2o_socket_read_stop(lp->stopper);
	h2o_socket_close(lp->stopper);
	lp->stopper = NULL;
	/* a few turns so that closed sockets are released */
	for (int i = 0; i < 3; i++)
		h2o_evloop_run(lp->loop, 0);
	if (conns_open(lp)) {
		/* Disposing a context under live connections is unsafe in
		 * h2o 2.2.5; the process is about to exit anyway. */
		d4_notice("api: connections still open at stop on loop %u; abandoned", lp->idx);
		return NULL;
	}
	if (lp->idx == 0)
		d4_api_fed_dispose_context(api->fed);
	h2o_context_dispose(&lp->hctx);
	/* every stream was disposed with its connection */
	h2o_timeout_dispose(lp->loop, &lp->stream_retry);
	h2o_timeout_dispose(lp->loop, &lp->defer);
	/* the context's queue socket is freed by a close callback of the loop */
	for (int i = 0; i < 3; i++)
		h2o_evloop_run(lp->loop, 0);
	h2o_evloop_destroy(lp->loop);
	lp->loop = NULL;
	if (lp->idx == 0)
		d4_api_fed_dispose(api->fed);
	lp->clean = 1;
	return NULL;
}

/* [api] threads, 0 = one per online core. */
static unsigned loops_wanted(const struct d4_hubconf *conf)
{
	unsigned n = conf ? conf->api_threads : 0;
	if (n == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n = c > 0 ? (unsigned)c : 1;
	}
	return n > MAX_LOOPS ? MAX_LOOPS : n;
}

int d4_api_bind_listen(const char *where, const char *what, int *fd_out, uint16_t *port_out, char *err, size_t errsize)
{
	char host[128], portstr[8];
	uint16_t port = 0;
	const char *colon = strrchr(where, ':');
	/* port 0 (pick a free one) is allowed here, unlike in the config */
	if (colon && strcmp(colon, ":0") == 0) {
		char tmp[160];
		snprintf(tmp, sizeof(tmp), "%.*s:1", (int)(colon - where), where);
		if (d4_hubconf_parse_listen(tmp, host, sizeof(host), &port) != D4_OK) {
			snprintf(err, errsize, "bad %s listen address '%s'", what, where);
			return D4_ECONFIG;
		}
		port = 0;
	} else if (d4_hubconf_parse_listen(where, host, sizeof(host), &port) != D4_OK) {
		snprintf(err, errsize, "bad %s listen address '%s'", what, where);
		return D4_ECONFIG;
	}
	snprintf(portstr, sizeof(portstr), "%u", port);
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	int g = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, portstr, &hints, &res);
	if (g != 0 || !res) {
		snprintf(err, errsize, "%s listen address %s: %s", what, where, gai_strerror(g));
		return D4_ECONFIG;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 128) != 0) {
		snprintf(err, errsize, "%s listen on %s: %s", what, where, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return D4_EIO;
	}
	freeaddrinfo(res);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							   : ((struct sockaddr_in *)&ss)->sin_port);
	*fd_out = fd;
	return D4_OK;
}

static void api_free(struct d4_api *api)
{
	if (api->listen_fd >= 0)
		close(api->listen_fd);
	int all_clean = 1;
	for (unsigned i = 0; api->loops && i < api->nloops; i++) {
		struct api_loop *lp = &api->loops[i];
		if (lp->listen_fd >= 0)
			close(lp->listen_fd);
		if (lp->stop_pipe[0] >= 0)
			close(lp->stop_pipe[0]);
		if (lp->stop_pipe[1] >= 0)
			close(lp->stop_pipe[1]);
		d4_api_guard_free(lp->guard);
		if (lp->thread_started && !lp->clean)
			all_clean = 0;
	}
	/* a loop that abandoned connections still has a context over gconf */
	if (api->gconf_ok && all_clean)
		h2o_config_dispose(&api->gconf);
	free(api->loops);
	free(api->loop_requests);
	SSL_CTX_free(api->ssl);
	d4_api_ratelimit_free(api->core.rl);
	d4_api_ratelimit_free(api->core.reg_rl);
	d4_api_fed_free(api->fed);
	d4_api_limits_free(api->limits);
	pthread_mutex_destroy(&api->mu);
	pthread_cond_destroy(&api->cv);
	free(api);
}

struct d4_api_core *d4_api_core_of(struct d4_api_ctx *ctx)
{
	return ctx->core;
}

int d4_api_start(const struct d4_api_opts *opts, struct d4_store *store, const struct d4_hubconf *conf,
		 struct d4_api **out)
{
	char err[512];
	*out = NULL;
	struct d4_api *api = calloc(1, sizeof(*api));
	if (!api)
		return D4_ENOMEM;
	api->listen_fd = -1;
	pthread_mutex_init(&api->mu, NULL);
	pthread_cond_init(&api->cv, NULL);

	int rc = make_tls(opts, &api->ssl, err, sizeof(err));
	if (rc != D4_OK) {
		d4_err("api: %s", err);
		api_free(api);
		return rc;
	}
	d4_strlcpy(api->spec_path, opts->spec_path ? opts->spec_path : "", sizeof(api->spec_path));
	api->ctx.store = store;
	api->ctx.conf = conf;
	api->ctx.core = &api->core;
	api->ctx.fed_sender = opts->fed_sender;
	api->ctx.upstream = opts->upstream;
	api->core.routes = d4_api_routes;
	api->core.nroutes = d4_api_nroutes;
	api->core.ctx = &api->ctx;
	api->core.max_body = opts->max_body ? opts->max_body : D4_API_DEF_MAX_BODY;
	api->core.spec_path = api->spec_path;
	api->core.verify = d4_api_auth_verify;
	api->core.rl = d4_api_ratelimit_new(opts->auth_fail_limit ? opts->auth_fail_limit : 20, 60);
	/* what one peer can make the API hold: [api] keys, defaults without a config */
	struct d4_hubconf defaults;
	if (!conf) {
		d4_hubconf_defaults(&defaults);
		conf = &defaults;
	}
	struct d4_api_limits_conf lc = {
	    .max_conns = conf->api_max_connections,
	    .max_conns_per_addr = conf->api_max_connections_per_addr,
	    .max_inflight = conf->api_max_inflight,
	    .max_inflight_per_addr = conf->api_max_inflight_per_addr,
	    .max_exports_per_addr = conf->api_max_exports_per_addr,
	    .max_exports_per_user = conf->api_max_exports_per_user,
	};
	api->limits = d4_api_limits_new(&lc);
	api->core.limits = api->limits;
	api->stream_chunk = conf->api_export_buffer ? (size_t)conf->api_export_buffer : (64u << 10);
	api->max_streams = conf->api_max_streams ? conf->api_max_streams : 16;
	api->core.reg_rl = d4_api_ratelimit_new(conf->api_register_per_minute ? conf->api_register_per_minute : 30, 60);
	api->core.max_pending = conf->api_max_pending_sensors ? conf->api_max_pending_sensors : D4_API_DEF_MAX_PENDING;
	api->nloops = loops_wanted(conf == &defaults ? NULL : conf);
	if (conf == &defaults)
		conf = NULL;
	api->loops = calloc(api->nloops, sizeof(*api->loops));
	api->loop_requests = calloc(api->nloops, sizeof(*api->loop_requests));
	api->core.loop_requests = api->loop_requests;
	api->core.nloops = api->nloops;
	if (!api->core.rl || !api->core.reg_rl || !api->limits || !api->loops || !api->loop_requests) {
		free(api->loops);
		api->loops = NULL;
		api_free(api);
		return D4_ENOMEM;
	}
	for (unsigned i = 0; i < api->nloops; i++) {
		struct api_loop *lp = &api->loops[i];
		lp->api = api;
		lp->idx = i;
		lp->listen_fd = lp->stop_pipe[0] = lp->stop_pipe[1] = -1;
	}
	for (unsigned i = 0; i < api->nloops; i++) {
		struct api_loop *lp = &api->loops[i];
		lp->guard = d4_api_guard_new(&api->core, api->limits, &lp->actx, api->max_streams);
		if (!lp->guard || pipe2(lp->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
			api_free(api);
			return D4_ENOMEM;
		}
	}
	rc = d4_api_bind_listen(opts->listen ? opts->listen : "127.0.0.1:8443", "api", &api->listen_fd, &api->port, err,
				sizeof(err));
	if (rc != D4_OK) {
		d4_err("%s", err);
		api_free(api);
		return rc;
	}
	rc = d4_api_fed_new(conf, store, &api->fed, err, sizeof(err));
	if (rc != D4_OK) {
		d4_err("%s", err);
		api_free(api);
		return rc;
	}
	api->core.fed_counts = d4_api_fed_counts(api->fed);
	api->core.fed = api->fed;
	const char *colon = strrchr(opts->listen ? opts->listen : "127.0.0.1:8443", ':');
	snprintf(api->addr_text, sizeof(api->addr_text), "%.*s:%u",
		 (int)(colon - (opts->listen ? opts->listen : "127.0.0.1:8443")),
		 opts->listen ? opts->listen : "127.0.0.1:8443", api->port);

	api_gconf_init(api);
	for (unsigned i = 0; i < api->nloops; i++) {
		struct api_loop *lp = &api->loops[i];
		lp->actx.ctx = &lp->hctx;
		lp->actx.hosts = api->gconf.hosts;
		lp->actx.ssl_ctx = api->ssl;
		lp->listen_fd = fcntl(api->listen_fd, F_DUPFD_CLOEXEC, 0);
		if (lp->listen_fd < 0) {
			d4_err("api: listening socket: %s", strerror(errno));
			d4_api_stop(api);
			return D4_EIO;
		}
	}
	api->core.metrics.started_s = d4_now_s();
	for (unsigned i = 0; i < api->nloops; i++) {
		struct api_loop *lp = &api->loops[i];
		if (pthread_create(&lp->thread, NULL, api_thread, lp) != 0) {
			d4_err("api: cannot start loop thread %u", i);
			d4_api_stop(api);
			return D4_EIO;
		}
		lp->thread_started = 1;
	}
	pthread_mutex_lock(&api->mu);
	while (api->ready < api->nloops)
		pthread_cond_wait(&api->cv, &api->mu);
	pthread_mutex_unlock(&api->mu);
	/* the loops hold duplicates: the original is not watched */
	close(api->listen_fd);
	api->listen_fd = -1;
	d4_notice("d4hub API listening on https://%s/ (%u event-loop thread%s)", api->addr_text, api->nloops,
		  api->nloops == 1 ? "" : "s");
	if (api->fed)
		d4_notice("d4hub federation listening on https://%s/ (client certificate of a partner required)",
			  d4_api_fed_addr(api->fed));
	*out = api;
	return D4_OK;
}

uint16_t d4_api_port(const struct d4_api *api)
{
	return api ? api->port : 0;
}

void d4_api_stop(struct d4_api *api)
{
	if (!api)
		return;
	/* every loop drains at once: the grace period is not multiplied */
	for (unsigned i = 0; i < api->nloops; i++) {
		struct api_loop *lp = &api->loops[i];
		char b = 1;
		if (lp->thread_started)
			while (write(lp->stop_pipe[1], &b, 1) < 0 && errno == EINTR)
				;
	}
	for (unsigned i = 0; i < api->nloops; i++)
		if (api->loops[i].thread_started)
			pthread_join(api->loops[i].thread, NULL);
	api_free(api);
}
