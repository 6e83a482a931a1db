/* d4hub API — the federation listener: partner hubs over mutually
 * authenticated TLS (docs/federation.md "The federation listener").
 *
 * A client certificate is required (SSL_VERIFY_PEER |
 * SSL_VERIFY_FAIL_IF_NO_PEER_CERT) and mapped to exactly one enabled
 * partner by the certificate verification callback, inside the TLS
 * handshake: a connection that is refused never reaches h2o's HTTP code.
 * The partners are re-read from the store when its control epoch moved
 * (every partner change bumps it), at the next handshake. No session
 * resumption: every connection is checked against the partners of now.
 * There is no bearer-token path here: the certificate is the credential.
 *
 * Runs on the API thread, with the API's h2o context and its own hosts
 * (one handler). Reads h2o 2.2.5's TLS state of a socket (below). */
#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <h2o/http1.h>
#include <h2o/http2.h>

#include "api_core.h"
#include "api_fed.h"
#include "api_guard.h"
#include "api_handshake.h"
#include "api_limits.h"
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_hubconf.h"
#include "d4_log.h"
#include "d4_store.h"
#include "d4_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* h2o 2.2.5 has no API between an SSL and its socket, and creates a
 * server's SSL only when the ClientHello arrives. The verification callback
 * finds the connection through the SSL's BIO, whose data h2o sets to the
 * socket; that socket's private struct st_h2o_socket_ssl_t starts with the
 * SSL_CTX and the SSL. The layout is checked at build time by version and
 * at run time (the socket's SSL_CTX is ours, its SSL is the one being
 * verified, its close callback is ours): any mismatch refuses the
 * connection (fails closed). */
#if !defined(H2O_VERSION_MAJOR) || H2O_VERSION_MAJOR != 2 || H2O_VERSION_MINOR != 2
#error "api/fedlisten.c reads h2o 2.2's private TLS state of a socket; check it against this version"
#endif
/* a batch and its framing: the inbox's body cap (api/fedops.c) */
#define FED_BODY_MAX d4_api_fedops_body_limit()

struct h2o_ssl_head {
	SSL_CTX *ssl_ctx;
	SSL *ssl;
};

struct d4_api_fed {
	SSL_CTX *ssl;
	int listen_fd;
	uint16_t port;
	char addr_text[160];
	struct d4_store *store;
	const struct d4_hubconf *conf;
	/* what a peer can make the port hold (api/guard.c): connection caps at
	 * accept, HTTP/2 streams and body bytes, the port's own limits and
	 * h2o context (its body cap is the batch's, not the API's) */
	struct d4_api_limits *limits;
	struct d4_api_guard *guard;
	struct d4_api_fedops *ops;
	/* API thread only */
	h2o_globalconf_t gconf;
	int gconf_init;
	h2o_context_t hctx;
	int hctx_init;
	h2o_evloop_t *loop;
	h2o_accept_ctx_t actx;
	h2o_socket_t *listener;
	h2o_linklist_t handshaking; /* of struct fconn, until on_handshake */
	struct d4_fed_trust *trust;
	uint64_t trust_epoch;
	uint64_t counts[D4_FED_PEER_COUNT];
};

struct fconn {
	struct d4_api_fed *f;
	h2o_socket_t *sock;
	char addr[64];
	struct timeval connected_at;
	struct d4_api_hs hs;		   /* in f->handshaking until on_handshake */
	struct d4_api_gconn *gc;	   /* its place in the guard's caps, until served */
	int decided;			   /* the verification callback ran */
	int no_cert;			   /* the handshake failed for want of a certificate */
	enum d4_fed_peer_reason reason;	   /* its decision */
	char partner[D4_PARTNER_NAME_MAX]; /* when accepted */
};

static void fconn_closed(void *data)
{
	struct fconn *c = data;
	d4_api_hs_end(&c->hs);
	d4_api_guard_abandon(c->gc);
	free(c);
}

/* A served connection is gone (the guard owns its socket then). */
static void fconn_served_closed(void *owner)
{
	free(owner);
}

/* The connection of s (above), or NULL. */
static struct fconn *conn_of(struct d4_api_fed *f, const SSL *s)
{
	BIO *b = s ? SSL_get_rbio(s) : NULL;
	h2o_socket_t *sock = b ? BIO_get_data(b) : NULL;
	const struct h2o_ssl_head *h = sock ? (const struct h2o_ssl_head *)sock->ssl : NULL;
	if (!h || h->ssl_ctx != f->ssl || h->ssl != s || sock->on_close.cb != fconn_closed)
		return NULL;
	return sock->on_close.data;
}

/* The partners as of the store's control epoch. 0 or an error (the
 * previous set is kept only if reading failed: then the handshake fails
 * closed). */
static int trust_refresh(struct d4_api_fed *f)
{
	uint64_t e = d4_store_epoch(f->store);
	if (f->trust && e == f->trust_epoch)
		return 0;
	struct d4_fed_trust *t = NULL;
	unsigned skipped = 0;
	int rc = d4_fed_trust_load(f->store, &t, &skipped);
	if (rc != 0) {
		d4_warn("federation: cannot read the partners: %s", d4_strerror(rc));
		return rc;
	}
	if (skipped)
		d4_warn("federation: a damaged partner record stopped the reading of the partners: it and those "
			"after it (by name) authenticate nobody until it is deleted (d4hubctl partner del)");
	d4_fed_trust_free(f->trust);
	f->trust = t;
	f->trust_epoch = e;
	d4_info("federation: %zu partner(s) loaded (control epoch %llu)", d4_fed_trust_count(t), (unsigned long long)e);
	return 0;
}

/* OpenSSL's certificate verification, replaced: the partner mapping. */
static int cert_verify(X509_STORE_CTX *xs, void *arg)
{
	struct d4_api_fed *f = arg;
	SSL *s = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct fconn *c = conn_of(f, s);
	enum d4_fed_peer_reason r;
	size_t idx = 0;
	if (!c) {
		d4_err("federation: cannot tie a TLS handshake to its connection (h2o layout?): refused");
		r = D4_FED_PEER_INTERNAL;
	} else if (trust_refresh(f) != 0) {
		r = D4_FED_PEER_INTERNAL;
	} else {
		r = d4_fed_peer_map(f->trust, X509_STORE_CTX_get0_cert(xs), X509_STORE_CTX_get0_untrusted(xs),
				    time(NULL), &idx);
	}
	if (c) {
		c->decided = 1;
		c->reason = r;
		if (r == D4_FED_PEER_OK)
			d4_strlcpy(c->partner, d4_fed_trust_name(f->trust, idx), sizeof(c->partner));
	}
	if (r == D4_FED_PEER_OK) {
		X509_STORE_CTX_set_error(xs, X509_V_OK);
		return 1;
	}
	/* the alert the client sees */
	X509_STORE_CTX_set_error(xs, r == D4_FED_PEER_EXPIRED	       ? X509_V_ERR_CERT_HAS_EXPIRED
				     : r == D4_FED_PEER_UNKNOWN_CA     ? X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
				     : r == D4_FED_PEER_NO_CLIENT_AUTH ? X509_V_ERR_INVALID_PURPOSE
								       : X509_V_ERR_CERT_REJECTED);
	return 0;
}

/* Tells "no certificate" from other handshake failures: the alert
 * OpenSSL sends for it (certificate_required in TLS 1.3), or its error. */
static void info_cb(const SSL *s, int where, int ret)
{
	if (!(where & SSL_CB_WRITE_ALERT))
		return;
	struct d4_api_fed *f = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s));
	struct fconn *c = f ? conn_of(f, s) : NULL;
	if (!c)
		return;
	unsigned long e = ERR_peek_last_error();
	if ((ret & 0xff) == 116 /* certificate_required */ ||
	    (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE))
		c->no_cert = 1;
}

static void refuse_log(struct d4_api_fed *f, struct fconn *c, enum d4_fed_peer_reason r)
{
	/* atomic: /metrics reads the counts from any API loop thread */
	uint64_t n = __atomic_add_fetch(&f->counts[r], 1, __ATOMIC_RELAXED);
	/* one line per refusal would let a flood fill the log: the 1st, 2nd,
	 * 4th, 8th... of each reason */
	if ((n & (n - 1)) == 0)
		d4_notice("federation: connection from %s refused: %s (%llu so far)", c->addr,
			  d4_fed_peer_reason_name(r), (unsigned long long)n);
}

static void on_handshake_timeout(h2o_timeout_entry_t *e)
{
	struct fconn *c = H2O_STRUCT_FROM_MEMBER(struct fconn, hs.timeout, e);
	refuse_log(c->f, c, D4_FED_PEER_HANDSHAKE);
	d4_api_hs_end(&c->hs);
	c->sock->data = NULL;
	h2o_socket_close(c->sock);
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
	struct fconn *c = sock->data;
	struct d4_api_fed *f = c->f;
	sock->data = NULL;
	d4_api_hs_end(&c->hs);
	if (err || !c->decided || c->reason != D4_FED_PEER_OK) {
		enum d4_fed_peer_reason r = c->decided && c->reason != D4_FED_PEER_OK ? c->reason
					    : c->no_cert			      ? D4_FED_PEER_NO_CERT
										      : D4_FED_PEER_HANDSHAKE;
		refuse_log(f, c, r);
		h2o_socket_close(sock);
		return;
	}
	__atomic_fetch_add(&f->counts[D4_FED_PEER_OK], 1, __ATOMIC_RELAXED);
	d4_info("federation: connection from %s: partner %s", c->addr, c->partner);
	struct d4_api_gconn *gc = c->gc;
	c->gc = NULL;
	d4_api_guard_serve(gc, sock, c->connected_at, c, fconn_served_closed);
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

static void on_accept(h2o_socket_t *listener, const char *err)
{
	struct d4_api_fed *f = listener->data;
	if (err)
		return;
	h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
	if (!sock)
		return;
	struct fconn *c = calloc(1, sizeof(*c));
	c->gc = c ? d4_api_guard_open(f->guard, sock) : NULL;
	if (!c || !c->gc) {
		/* connection caps of the address or in all: counted by the guard */
		free(c);
		h2o_socket_close(sock);
		return;
	}
	c->f = f;
	c->sock = sock;
	peer_text(sock, c->addr, sizeof(c->addr));
	c->connected_at = *h2o_get_timestamp(f->actx.ctx, NULL, NULL);
	sock->on_close.cb = fconn_closed;
	sock->on_close.data = c;
	sock->data = c;
	d4_api_hs_begin(&c->hs, sock, f->actx.ctx, &f->handshaking, on_handshake_timeout);
	h2o_socket_ssl_handshake(sock, f->ssl, NULL, on_handshake);
}

/* ---- the operations of the federation port ------------------------------------ */

static void send_json(h2o_req_t *req, int status, const char *reason, const char *ctype, const char *body)
{
	req->res.status = status;
	req->res.reason = reason;
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype, strlen(ctype));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
	size_t len = strlen(body);
	req->res.content_length = len;
	h2o_send_inline(req, body, len);
}

static void send_problem(h2o_req_t *req, int status, const char *reason, const char *type, const char *detail)
{
	char body[512];
	snprintf(body, sizeof(body),
		 "{\"type\":\"https://d4hub.invalid/problems/%s\",\"title\":\"%s\",\"status\":%d,\"detail\":\"%s\"}",
		 type, reason, status, detail);
	send_json(req, status, reason, "application/problem+json", body);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct d4_api_fed *f = *(struct d4_api_fed **)(self + 1);
	h2o_socket_t *sock = req->conn->callbacks->get_socket ? req->conn->callbacks->get_socket(req->conn) : NULL;
	struct fconn *c = d4_api_guard_owner(sock);
	if (!c || !c->decided || c->reason != D4_FED_PEER_OK) {
		/* cannot happen: only mapped connections reach h2o */
		send_problem(req, 403, "Forbidden", "forbidden", "no partner for this connection");
		return 0;
	}
	static const char hello[] = "/federation/v1/hello";
	h2o_iovec_t p = req->path_normalized;
	if (d4_api_fedops_handle(f->ops, req, c->partner) == 0)
		return 0;
	if (!(p.len == sizeof(hello) - 1 && memcmp(p.base, hello, p.len) == 0)) {
		send_problem(req, 404, "Not Found", "not-found", "no such operation on the federation port");
		return 0;
	}
	if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET"));
		send_problem(req, 405, "Method Not Allowed", "method-not-allowed", "GET only");
		return 0;
	}
	char hub[D4_UUID_HEX_LEN + 1], org[D4_UUID_HEX_LEN + 1], body[320], pk[D4_FED_PUBKEY_B64_LEN + 3] = "null";
	d4_uuid_hex(f->conf->hub_uuid, hub);
	d4_uuid_hex(f->conf->org, org);
	if (f->conf->has_fed_sign) {
		/* the signing public key, so that both sides can compare it with
		 * what they were told out of band */
		pk[0] = '"';
		d4_fed_pubkey_b64(f->conf->fed_sign_pk, pk + 1);
		pk[D4_FED_PUBKEY_B64_LEN + 1] = '"';
		pk[D4_FED_PUBKEY_B64_LEN + 2] = '\0';
	}
	/* partner names are [A-Za-z0-9._-]: nothing to escape */
	snprintf(body, sizeof(body), "{\"hub_uuid\":\"%s\",\"org_uuid\":\"%s\",\"partner\":\"%s\",\"pubkey\":%s}\n",
		 hub, org, c->partner, pk);
	send_json(req, 200, "OK", "application/json", body);
	return 0;
}

/* The guard's check of a request whose body is to follow: only the inbox
 * takes a body; anything else is answered without reading it. */
static int fed_precheck(void *arg, const struct d4_api_raw *raw, uint64_t *body_limit)
{
	static const char inbox[] = "/federation/v1/inbox/";
	(void)arg;
	*body_limit = 0;
	if (strcmp(raw->method, "POST") == 0 && strncmp(raw->target, inbox, sizeof(inbox) - 1) == 0) {
		*body_limit = FED_BODY_MAX;
		return 0;
	}
	return 1;
}

/* ---- life cycle ---------------------------------------------------------------- */

static int tls_fail(const char *what, char *err, size_t errsize)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "unknown error";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errsize, "%s: %s", what, buf);
	ERR_clear_error();
	return D4_ETLS;
}

int d4_api_fed_new(const struct d4_hubconf *conf, struct d4_store *store, struct d4_api_fed **out, char *err,
		   size_t errsize)
{
	static const unsigned char sid_ctx[] = "d4hub-federation";
	char what[D4_PATH_MAX + 64];
	*out = NULL;
	if (!conf || !conf->fed_listen[0])
		return D4_OK;
	struct d4_api_fed *f = calloc(1, sizeof(*f));
	if (!f)
		return D4_ENOMEM;
	f->listen_fd = -1;
	f->store = store;
	f->conf = conf;
	f->ssl = SSL_CTX_new(TLS_server_method());
	if (!f->ssl) {
		d4_api_fed_free(f);
		return tls_fail("federation TLS context", err, errsize);
	}
	SSL_CTX *s = f->ssl;
	SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
	SSL_CTX_set_options(s, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
				   SSL_OP_NO_TICKET);
	/* required under client verification (DESIGN §2); and no resumption
	 * at all: a resumed session would skip the partner check */
	SSL_CTX_set_session_id_context(s, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(s, 0);
	if (SSL_CTX_use_certificate_chain_file(s, conf->fed_cert) != 1) {
		snprintf(what, sizeof(what), "federation.cert %s", conf->fed_cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(s, conf->fed_key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(s) != 1) {
		snprintf(what, sizeof(what), "federation.key %s", conf->fed_key);
		goto fail;
	}
	SSL_CTX_set_app_data(s, f);
	SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_cert_verify_callback(s, cert_verify, f);
	SSL_CTX_set_info_callback(s, info_cb);
	h2o_ssl_register_alpn_protocols(s, h2o_alpn_protocols);
	/* The port's caps: the API's connection caps, and body bytes in flight
	 * for four batches per address (a partner pushes a few kinds at once;
	 * more waits for a 429's Retry-After), at least the API's in all. */
	uint64_t batch = FED_BODY_MAX;
	struct d4_api_limits_conf lc = {
	    .max_conns = conf->api_max_connections ? conf->api_max_connections : 1024,
	    .max_conns_per_addr = conf->api_max_connections_per_addr ? conf->api_max_connections_per_addr : 32,
	    .max_inflight_per_addr = 4 * batch,
	    .max_inflight = conf->api_max_inflight > 16 * batch ? conf->api_max_inflight : 16 * batch,
	};
	f->limits = d4_api_limits_new(&lc);
	f->ops = d4_api_fedops_new(store, conf);
	f->guard = f->limits ? d4_api_guard_new_with(f->limits, &f->actx, conf->api_max_streams, batch, fed_precheck, f)
			     : NULL;
	if (!f->limits || !f->ops || !f->guard) {
		d4_api_fed_free(f);
		snprintf(err, errsize, "federation: out of memory");
		return D4_ENOMEM;
	}
	int rc = d4_api_bind_listen(conf->fed_listen, "federation", &f->listen_fd, &f->port, err, errsize);
	if (rc != D4_OK) {
		d4_api_fed_free(f);
		return rc;
	}
	const char *colon = strrchr(conf->fed_listen, ':');
	snprintf(f->addr_text, sizeof(f->addr_text), "%.*s:%u", (int)(colon - conf->fed_listen), conf->fed_listen,
		 f->port);
	*out = f;
	return D4_OK;
fail:
	d4_api_fed_free(f);
	return tls_fail(what, err, errsize);
}

void d4_api_fed_run(struct d4_api_fed *f, h2o_evloop_t *loop, h2o_context_t *ctx)
{
	(void)ctx; /* the port has a context of its own on the API's loop */
	if (!f)
		return;
	h2o_config_init(&f->gconf);
	f->gconf_init = 1;
	f->gconf.server_name = h2o_iovec_init(H2O_STRLIT("d4hub"));
	/* HTTP/2 bodies are capped by the guard before h2o (which would reset
	 * the stream, and clients retry that); h2o's own cap bounds HTTP/1.1:
	 * twice the batch's, so that a body just over it still gets our 413 */
	f->gconf.max_request_entity_size = (size_t)(2 * FED_BODY_MAX);
	f->gconf.http1.upgrade_to_http2 = 0; /* h2c would bypass the guard */
	if (f->conf->api_max_streams)
		f->gconf.http2.max_concurrent_requests_per_connection = f->conf->api_max_streams;
	h2o_hostconf_t *host = h2o_config_register_host(&f->gconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
	h2o_handler_t *h = h2o_create_handler(pc, sizeof(*h) + sizeof(f));
	h->on_req = on_req;
	memcpy(h + 1, &f, sizeof(f));
	h2o_context_init(&f->hctx, loop, &f->gconf);
	f->hctx_init = 1;
	f->loop = loop;
	memset(&f->actx, 0, sizeof(f->actx));
	f->actx.ctx = &f->hctx;
	f->actx.hosts = f->gconf.hosts;
	f->actx.ssl_ctx = f->ssl;
	f->listener = h2o_evloop_socket_create(loop, f->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
	f->listen_fd = -1; /* owned by h2o now */
	f->listener->data = f;
	h2o_linklist_init_anchor(&f->handshaking);
	d4_api_fedops_run(f->ops, loop);
	h2o_socket_read_start(f->listener, on_accept);
}

void d4_api_fed_stop_accepting(struct d4_api_fed *f)
{
	if (!f || !f->listener)
		return;
	h2o_socket_read_stop(f->listener);
	h2o_socket_close(f->listener);
	f->listener = NULL;
	d4_api_hs_close_all(&f->handshaking);
	/* inbox batches at the writer are answered (or left to it), then GOAWAY */
	d4_api_fedops_stop(f->ops, f->loop);
	if (f->hctx_init)
		h2o_context_request_shutdown(&f->hctx);
}

int d4_api_fed_conns_open(struct d4_api_fed *f)
{
	if (!f || !f->hctx_init)
		return 0;
	return !h2o_linklist_is_empty(&f->hctx.http1._conns) || !h2o_linklist_is_empty(&f->hctx.http2._conns);
}

void d4_api_fed_dispose_context(struct d4_api_fed *f)
{
	if (!f || !f->hctx_init)
		return;
	if (h2o_timeout_is_linked(&f->hctx.http2._graceful_shutdown_timeout))
		h2o_timeout_unlink(&f->hctx.http2._graceful_shutdown_timeout);
	h2o_context_dispose(&f->hctx);
	f->hctx_init = 0;
}

void d4_api_fed_dispose(struct d4_api_fed *f)
{
	if (f && f->gconf_init) {
		h2o_config_dispose(&f->gconf);
		f->gconf_init = 0;
	}
}

void d4_api_fed_free(struct d4_api_fed *f)
{
	if (!f)
		return;
	if (f->listen_fd >= 0)
		close(f->listen_fd);
	SSL_CTX_free(f->ssl);
	d4_fed_trust_free(f->trust);
	d4_api_guard_free(f->guard);
	d4_api_fedops_free(f->ops);
	d4_api_limits_free(f->limits);
	free(f);
}

uint16_t d4_api_fed_port(const struct d4_api_fed *f)
{
	return f ? f->port : 0;
}

const char *d4_api_fed_addr(const struct d4_api_fed *f)
{
	return f ? f->addr_text : "";
}

const uint64_t *d4_api_fed_counts(const struct d4_api_fed *f)
{
	return f ? f->counts : NULL;
}

struct d4_api_fedops *d4_api_fed_ops(const struct d4_api_fed *f)
{
	return f ? f->ops : NULL;
}

const struct d4_api_limits *d4_api_fed_limits(const struct d4_api_fed *f)
{
	return f ? f->limits : NULL;
}
