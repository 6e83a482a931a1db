/* d4hub — the D4 TLS listener: one dedicated thread running an epoll loop
 * over non-blocking TLS connections. Bytes are read straight into each
 * connection's stream decoder; the pure session state machine (d4_session.h)
 * checks every header and frame; accepted frames are posted to the store's
 * asynchronous writer. Slow storage stops reading (backpressure), it never
 * drops accepted frames. See docs/ingest.md. */
#ifndef D4_INGEST_H
#define D4_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "d4_hubconf.h"
#include "d4_store.h"

struct d4_ingest;

/* Builds the server TLS context (TLS 1.2+, certificate chain and key from
 * PEM files, key checked against the certificate). On error returns D4_ETLS
 * and writes a message to err. *out is owned by the caller (SSL_CTX_free). */
int d4_ingest_tls_ctx(const char *cert, const char *key, SSL_CTX **out, char *err, size_t errsize);

/* Loads the TLS context, binds conf->listen (port 0 = ephemeral), loads the
 * blocklists and accepted types from the store and starts the loop thread.
 * conf is copied; store is borrowed and its writer must be running (it must
 * outlive d4_ingest_stop). On error returns a negative code with a message
 * in err and nothing left running. */
int d4_ingest_start(const struct d4_hubconf *conf, struct d4_store *store, struct d4_ingest **out, char *err,
		    size_t errsize);

/* The bound address, e.g. "127.0.0.1:4443" / "[::1]:4443", and port. */
const char *d4_ingest_addr(const struct d4_ingest *in);
uint16_t d4_ingest_port(const struct d4_ingest *in);

struct d4_ingest_stats {
	uint64_t accepted; /* TCP connections accepted */
	uint64_t live;	   /* connections open now */
	uint64_t rejected; /* connections closed with a rejection reason */
	uint64_t frames;   /* frames posted to the store */
	uint64_t bytes;	   /* payload bytes posted */
	uint64_t paused;   /* times a connection waited for store room */
};
/* Safe from any thread (relaxed counters). */
void d4_ingest_stats_get(struct d4_ingest *in, struct d4_ingest_stats *out);

/* Stops accepting, posts every frame already accepted, closes every
 * connection (posting its session close with reason "hub stopping"), joins
 * the thread and frees everything. NULL is a no-op. The store is not
 * flushed: call d4_store_writer_stop()/d4_store_writer_sync() after. */
void d4_ingest_stop(struct d4_ingest *in);

#endif
