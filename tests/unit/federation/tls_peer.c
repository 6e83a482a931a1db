/* Test helpers shared by test_fed_xport and test_fed_sender (tls_peer.h). */
#include "tls_peer.h"

#include <arpa/inet.h>
#include <check.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

const uint8_t HUB[16] = {0x6f, 0x1c, 0x2b, 0x3a, 0x49, 0x58, 0x47, 0x66,
			 0x85, 0x94, 0xa3, 0xb2, 0xc1, 0xd0, 0xef, 0xfe};
const uint8_t OTHER[16] = {0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x43, 0x33,
			   0x84, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55};
static char dir[128];
EVP_PKEY *cakey, *otherkey, *srvkey, *clikey;
X509 *ca, *otherca, *cli;
char cli_crt[256], cli_key[256];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

EVP_PKEY *tp_newkey(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	ck_assert_ptr_nonnull(k);
	return k;
}

static void ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ck_assert_ptr_nonnull(e);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

X509 *mkcert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, int is_ca, const char *eku, const char *san, long from,
	     long to)
{
	static long serial = 1;
	X509 *x = X509_new();
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), to);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)(is_ca ? "org CA" : "hub"), -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
	ext(x, issuer, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	if (eku)
		ext(x, issuer, NID_ext_key_usage, eku);
	if (san)
		ext(x, issuer, NID_subject_alt_name, san);
	ck_assert_int_gt(X509_sign(x, issuer ? ikey : key, EVP_sha256()), 0);
	return x;
}

char *pem_of(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	char *p;
	long n = BIO_get_mem_data(b, &p);
	char *s = malloc((size_t)n + 1);
	memcpy(s, p, (size_t)n);
	s[n] = 0;
	BIO_free(b);
	return s;
}

void spki_of(EVP_PKEY *k, uint8_t out[32])
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);
	ck_assert_int_gt(n, 0);
	unsigned len = 0;
	EVP_Digest(der, (size_t)n, out, &len, EVP_sha256(), NULL);
	OPENSSL_free(der);
}

static void write_file(const char *path, X509 *x, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	if (x)
		PEM_write_X509(f, x);
	if (k)
		PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
}

void tp_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/d4fedxp-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	cakey = tp_newkey();
	otherkey = tp_newkey();
	srvkey = tp_newkey();
	clikey = tp_newkey();
	ca = mkcert(cakey, NULL, NULL, 1, NULL, NULL, -60, 86400);
	otherca = mkcert(otherkey, NULL, NULL, 1, NULL, NULL, -60, 86400);
	cli = mkcert(clikey, ca, cakey, 0, "serverAuth,clientAuth", OTHER_URN, -60, 86400);
	snprintf(cli_crt, sizeof(cli_crt), "%s/self.crt", dir);
	snprintf(cli_key, sizeof(cli_key), "%s/self.key", dir);
	write_file(cli_crt, cli, NULL);
	write_file(cli_key, NULL, clikey);
}

void tp_teardown(void)
{
	X509_free(ca);
	X509_free(otherca);
	X509_free(cli);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(otherkey);
	EVP_PKEY_free(srvkey);
	EVP_PKEY_free(clikey);
	nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

/* ---- a TLS server on 127.0.0.1: client certificate required (our CA),
 * one HTTP/1.1 request per connection answered 200 ---- */

static void *server_main(void *arg)
{
	struct server *sv = arg;
	while (!__atomic_load_n(&sv->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd pf = {.fd = sv->fd, .events = POLLIN};
		if (poll(&pf, 1, 100) <= 0)
			continue;
		int c = accept(sv->fd, NULL, NULL);
		if (c < 0)
			continue;
		struct timeval tv = {5, 0};
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		SSL *ssl = SSL_new(sv->ctx);
		SSL_set_fd(ssl, c);
		if (SSL_accept(ssl) == 1) {
			__atomic_add_fetch(&sv->handshakes, 1, __ATOMIC_RELEASE);
			char req[4096];
			size_t got = 0;
			int n;
			while (got < sizeof(req) - 1 &&
			       (n = SSL_read(ssl, req + got, (int)(sizeof(req) - 1 - got))) > 0) {
				got += (size_t)n;
				req[got] = 0;
				if (strstr(req, "\r\n\r\n"))
					break;
			}
			char *eoh = got ? strstr(req, "\r\n\r\n") : NULL;
			if (eoh) {
				/* the body: what came with the headers, then the rest */
				size_t clen = 0;
				for (const char *h = req; h && h < eoh; h = strstr(h, "\r\n"), h = h ? h + 2 : NULL)
					if (strncasecmp(h, "Content-Length:", 15) == 0)
						clen = strtoul(h + 15, NULL, 10);
				if (clen > (8u << 20))
					clen = 0;
				uint8_t *body = malloc(clen + 1);
				size_t have = got - (size_t)(eoh + 4 - req);
				if (have > clen)
					have = clen;
				memcpy(body, eoh + 4, have);
				while (have < clen && (n = SSL_read(ssl, body + have, (int)(clen - have))) > 0)
					have += (size_t)n;
				pthread_mutex_lock(&sv->mu);
				free(sv->req_body);
				sv->req_body = body;
				sv->req_len = have;
				/* "GET /path HTTP/1.1" */
				const char *p = strchr(req, ' ');
				size_t k = 0;
				for (p = p ? p + 1 : req; *p && *p != ' ' && k < sizeof(sv->last_path) - 1; p++)
					sv->last_path[k++] = *p;
				sv->last_path[k] = 0;
				char path[sizeof(sv->last_path)];
				memcpy(path, sv->last_path, sizeof(path));
				server_respond respond = sv->respond;
				pthread_mutex_unlock(&sv->mu);
				__atomic_add_fetch(&sv->requests, 1, __ATOMIC_RELEASE);
				struct answer a = {"application/json", NULL, (const uint8_t *)sv->body,
						   sv->body ? strlen(sv->body) : 0, 200};
				if (respond)
					respond(sv, path, &a);
				char ans[1024];
				int an =
				    snprintf(ans, sizeof(ans),
					     "HTTP/1.1 %d X\r\nContent-Type: %s\r\n%s"
					     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
					     a.status ? a.status : 200, a.ctype, a.headers ? a.headers : "", a.len);
				SSL_write(ssl, ans, an);
				if (a.len)
					SSL_write(ssl, a.body, (int)a.len);
			}
			SSL_shutdown(ssl);
		}
		ERR_clear_error();
		SSL_free(ssl);
		close(c);
	}
	return NULL;
}

void server_start(struct server *sv, X509 *leaf, const char *body)
{
	memset(sv, 0, sizeof(*sv));
	pthread_mutex_init(&sv->mu, NULL);
	sv->body = body;
	sv->ctx = SSL_CTX_new(TLS_server_method());
	ck_assert_ptr_nonnull(sv->ctx);
	ck_assert_int_eq(SSL_CTX_use_certificate(sv->ctx, leaf), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(sv->ctx, srvkey), 1);
	X509_STORE_add_cert(SSL_CTX_get_cert_store(sv->ctx), ca);
	SSL_CTX_set_verify(sv->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_session_id_context(sv->ctx, (const unsigned char *)"t", 1);
	sv->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(sv->fd, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(sv->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(sv->fd, 16), 0);
	socklen_t al = sizeof(a);
	getsockname(sv->fd, (struct sockaddr *)&a, &al);
	sv->port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&sv->th, NULL, server_main, sv), 0);
}

void server_start_fn(struct server *sv, X509 *leaf, server_respond respond, void *arg)
{
	server_start(sv, leaf, NULL);
	/* the thread reads them at its first request: set under the lock the
	 * request path is written under */
	pthread_mutex_lock(&sv->mu);
	sv->respond = respond;
	sv->arg = arg;
	pthread_mutex_unlock(&sv->mu);
}

void server_stop(struct server *sv)
{
	__atomic_store_n(&sv->stop, 1, __ATOMIC_RELEASE);
	pthread_join(sv->th, NULL);
	close(sv->fd);
	SSL_CTX_free(sv->ctx);
	free(sv->req_body);
	pthread_mutex_destroy(&sv->mu);
}

int server_requests(struct server *sv)
{
	return __atomic_load_n(&sv->requests, __ATOMIC_ACQUIRE);
}

int server_handshakes(struct server *sv)
{
	return __atomic_load_n(&sv->handshakes, __ATOMIC_ACQUIRE);
}
