/* Test helpers shared by test_fed_xport and test_fed_sender: a throw-away
 * PKI made with the OpenSSL API and a TLS server on 127.0.0.1 (a thread of
 * the test; client certificate of the test CA required) that answers one
 * HTTP/1.1 request per connection and counts the handshakes and requests
 * it saw. */
#ifndef D4_TEST_TLS_PEER_H
#define D4_TEST_TLS_PEER_H

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdint.h>

#define HUB_URN	  "URI:urn:uuid:6f1c2b3a-4958-4766-8594-a3b2c1d0effe"
#define OTHER_URN "URI:urn:uuid:11111111-2222-4333-8444-555555555555"
extern const uint8_t HUB[16];	/* the uuid of HUB_URN */
extern const uint8_t OTHER[16]; /* the uuid of OTHER_URN */

/* The PKI of a test (tp_setup / tp_teardown): the org CA, another CA, the
 * server's key, and this hub's client certificate and key as PEM files. */
extern EVP_PKEY *cakey, *otherkey, *srvkey, *clikey;
extern X509 *ca, *otherca, *cli;
extern char cli_crt[256], cli_key[256];
void tp_setup(void);
void tp_teardown(void);

EVP_PKEY *tp_newkey(void);
/* A certificate for key, signed by (issuer, ikey) or self-signed; eku and
 * san as in openssl.cnf, NULL for none; validity in seconds from now. */
X509 *mkcert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, int is_ca, const char *eku, const char *san, long from,
	     long to);
/* PEM text of x (malloc'd). */
char *pem_of(X509 *x);
void spki_of(EVP_PKEY *k, uint8_t out[32]);

/* What a server answers to one request (respond callback): the status
 * (200 unless set), content type, extra header lines ("x-a: 1\r\n", may
 * be NULL) and the body (borrowed until the next request). The request's
 * body (Content-Length, up to 8 MiB) is read first and kept in
 * server.req_body (under the lock) for the callback and the test. */
struct answer {
	const char *ctype;
	const char *headers;
	const uint8_t *body;
	size_t len;
	int status; /* 0 = 200 */
};
struct server;
typedef void (*server_respond)(struct server *sv, const char *path, struct answer *a);

struct server {
	SSL_CTX *ctx;
	int fd;
	uint16_t port;
	pthread_t th;
	const char *body;	  /* the JSON answered to every request */
	int stop;		  /* __atomic */
	int handshakes, requests; /* __atomic */
	char last_path[128];	  /* of the last request (under the lock below) */
	pthread_mutex_t mu;
	uint8_t *req_body; /* the last request's body (owned), req_len bytes */
	size_t req_len;
	server_respond respond; /* NULL: body as JSON */
	void *arg;		/* for respond */
};
/* Starts a server presenting leaf (signed for srvkey) and answering body
 * (static) with 200. */
void server_start(struct server *sv, X509 *leaf, const char *body);
/* The same with an answer made per request by respond (on the server's
 * thread). */
void server_start_fn(struct server *sv, X509 *leaf, server_respond respond, void *arg);
void server_stop(struct server *sv);
int server_requests(struct server *sv);
int server_handshakes(struct server *sv);

#endif
