/* d4hub — the REST API server (HTTP/1.1 and HTTP/2 over TLS, libh2o evloop)
 * on a thread of its own, so that slow API clients never stall ingest.
 * Every operation is described in openapi/d4hub.yaml, the contract. */
#ifndef D4_API_H
#define D4_API_H

#include <stddef.h>
#include <stdint.h>

struct d4_store;
struct d4_hubconf;
struct d4_api;
struct d4_fed_sender;
struct d4_upstream;

struct d4_api_opts {
	const char *listen;	  /* "127.0.0.1:8443"; port 0 picks a free one */
	const char *cert, *key;	  /* PEM server certificate chain and key */
	const char *client_ca;	  /* optional: require a client certificate signed by this CA */
	const char *web_root;	  /* folder with the web page's static files ("" = built-in default) */
	const char *spec_path;	  /* openapi/d4hub.yaml served at /openapi.yaml */
	uint64_t max_body;	  /* request body cap in bytes (default 64 KiB) */
	unsigned auth_fail_limit; /* failed authentications per IP per minute before 429 (default 20) */
	/* the federation sender thread (borrowed, NULL when off): its status
	 * per partner and kind (d4_fed_sender_status) for the API's
	 * handlers; d4hub stops the API before the sender */
	struct d4_fed_sender *fed_sender;
	/* the upstream relay (borrowed, NULL when off): its status for
	 * GET /api/v1/upstream and /metrics; d4hub stops the API first */
	struct d4_upstream *upstream;
};

/* Starts the API thread. store and conf are borrowed and must outlive the
 * server. *out is owned by the caller; release with d4_api_stop(). Returns 0
 * or D4_ETLS/D4_EIO/D4_ECONFIG with the reason logged. */
int d4_api_start(const struct d4_api_opts *opts, struct d4_store *store, const struct d4_hubconf *conf,
		 struct d4_api **out);
/* Checks what d4_api_start would load for TLS (certificate chain, key,
 * that they match, the client CA if set) without opening anything else:
 * for `d4hub -n`. Returns 0 or D4_ETLS with the reason in err. */
int d4_api_check_tls(const struct d4_api_opts *opts, char *err, size_t errsize);
/* Port actually bound (useful with port 0). */
uint16_t d4_api_port(const struct d4_api *api);
/* Stops accepting, closes connections, joins the thread, frees. NULL is a no-op. */
void d4_api_stop(struct d4_api *api);

/* ---- in-process requests (api/local.c) -------------------------------------
 * The API without a socket: one request runs through the same dispatcher,
 * route table and handlers as over HTTPS (d4_api_dispatch), on a store and
 * configuration the caller opened. This is d4hubctl's local mode: the
 * operator on the hub host acts as an admin (docs/ctl.md "One code path"),
 * with the admin role's TLP clearance (api.max_tlp_admin). */
struct d4_api_local;
/* store and conf are borrowed and must outlive the handle; conf may not be
 * NULL (d4_hubconf_defaults for a store without a configuration). operator
 * names the principal (at most 63 bytes, copied). Returns 0 or D4_ENOMEM. */
int d4_api_local_new(struct d4_store *store, const struct d4_hubconf *conf, const char *operator_name,
		     struct d4_api_local **out);
/* NULL is a no-op. */
void d4_api_local_free(struct d4_api_local *l);
/* The answer's head, given to the sink before any body byte. */
struct d4_api_local_head {
	int status;
	const char *content_type; /* "" when none (204) */
};
/* Runs one request: method ("GET", ...), target (path and query, as sent
 * over HTTP: percent-encoded), an optional JSON body (borrowed). head() is
 * called once, then body() with the answer's bytes: a buffered answer in
 * one call, a streamed one (exports) chunk by chunk as the handler's
 * producer makes them. A non-zero return from either stops the request
 * (the producer is released) and is returned. Returns 0, that value, or a
 * negative D4_E* code when a streamed answer failed half way. */
int d4_api_local_request(struct d4_api_local *l, const char *method, const char *target, const uint8_t *body,
			 size_t body_len, int (*head)(void *ctx, const struct d4_api_local_head *h),
			 int (*bodyfn)(void *ctx, const uint8_t *data, size_t len), void *ctx);

#endif
