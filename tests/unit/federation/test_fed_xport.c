/* Unit tests of federation/fed_xport.c: the sender's client side checks a
 * partner in the TLS handshake. A real TLS server on 127.0.0.1 (a thread
 * of this test, OpenSSL, client certificate required, certificates made
 * here with the OpenSSL API) answers one HTTP request per connection and
 * counts the requests it saw: each refusal (certificate naming another
 * hub, pin mismatch, unknown CA, expired, no serverAuth, with a CA bundle
 * and with a pin alone) must fail the handshake with its reason before a
 * single request reaches the server; the good cases get their answer. */
#include "d4_error.h"
#include "d4_federation.h"
#include "fed_xport.h"

#include <arpa/inet.h>
#include <check.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char dir[128];
static const uint8_t HUB[16] = {0x6f, 0x1c, 0x2b, 0x3a, 0x49, 0x58, 0x47, 0x66,
				0x85, 0x94, 0xa3, 0xb2, 0xc1, 0xd0, 0xef, 0xfe};
#define HUB_URN	  "URI:urn:uuid:6f1c2b3a-4958-4766-8594-a3b2c1d0effe"
#define OTHER_URN "URI:urn:uuid:11111111-2222-4333-8444-555555555555"

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static EVP_PKEY *newkey(void)
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

static X509 *mkcert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, int ca, const char *eku, const char *san, long from,
		    long to)
{
	static long serial = 1;
	X509 *x = X509_new();
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), to);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)(ca ? "org CA" : "hub"), -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
	ext(x, issuer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	if (eku)
		ext(x, issuer, NID_ext_key_usage, eku);
	if (san)
		ext(x, issuer, NID_subject_alt_name, san);
	ck_assert_int_gt(X509_sign(x, issuer ? ikey : key, EVP_sha256()), 0);
	return x;
}

static char *pem_of(X509 *x)
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

static void spki_of(EVP_PKEY *k, uint8_t out[32])
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);
	ck_assert_int_gt(n, 0);
	unsigned len = 0;
	EVP_Digest(der, (size_t)n, out, &len, EVP_sha256(), NULL);
	OPENSSL_free(der);
}

/* ---- the PKI of a test ---- */
static EVP_PKEY *cakey, *otherkey, *srvkey, *clikey;
static X509 *ca, *otherca, *cli;
static char cli_crt[256], cli_key[256];

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

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/d4fedxp-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	cakey = newkey();
	otherkey = newkey();
	srvkey = newkey();
	clikey = newkey();
	ca = mkcert(cakey, NULL, NULL, 1, NULL, NULL, -60, 86400);
	otherca = mkcert(otherkey, NULL, NULL, 1, NULL, NULL, -60, 86400);
	cli = mkcert(clikey, ca, cakey, 0, "serverAuth,clientAuth", OTHER_URN, -60, 86400);
	snprintf(cli_crt, sizeof(cli_crt), "%s/self.crt", dir);
	snprintf(cli_key, sizeof(cli_key), "%s/self.key", dir);
	write_file(cli_crt, cli, NULL);
	write_file(cli_key, NULL, clikey);
}

static void teardown(void)
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
struct server {
	SSL_CTX *ctx;
	int fd;
	uint16_t port;
	pthread_t th;
	int stop;		  /* __atomic */
	int handshakes, requests; /* __atomic */
};

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
			if (got && strstr(req, "\r\n\r\n")) {
				__atomic_add_fetch(&sv->requests, 1, __ATOMIC_RELEASE);
				static const char ans[] =
				    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				    "Content-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}";
				SSL_write(ssl, ans, (int)sizeof(ans) - 1);
			}
			SSL_shutdown(ssl);
		}
		ERR_clear_error();
		SSL_free(ssl);
		close(c);
	}
	return NULL;
}

/* Starts a server presenting leaf (signed for srvkey). */
static void server_start(struct server *sv, X509 *leaf)
{
	memset(sv, 0, sizeof(*sv));
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

static void server_stop(struct server *sv)
{
	__atomic_store_n(&sv->stop, 1, __ATOMIC_RELEASE);
	pthread_join(sv->th, NULL);
	close(sv->fd);
	SSL_CTX_free(sv->ctx);
}

/* The partner as the store keeps it: hub HUB, CA bundle trust_ca (NULL:
 * none) and pin of pinkey (NULL: none). */
static struct d4_partner *partner(X509 *trust_ca, EVP_PKEY *pinkey, uint16_t port)
{
	struct d4_partner *p = calloc(1, sizeof(*p));
	d4_fed_partner_defaults(p);
	snprintf(p->name, sizeof(p->name), "b");
	snprintf(p->url, sizeof(p->url), "https://127.0.0.1:%u", port);
	memcpy(p->hub, HUB, 16);
	if (trust_ca) {
		char *pem = pem_of(trust_ca);
		snprintf(p->ca_pem, sizeof(p->ca_pem), "%s", pem);
		free(pem);
	}
	if (pinkey) {
		p->has_pin = 1;
		spki_of(pinkey, p->spki_sha256);
	}
	return p;
}

/* GETs /federation/v1/hello from a server presenting leaf, as partner p;
 * returns the result, the HTTP status and the error text; *requests the
 * requests the server saw. */
static int probe(X509 *leaf, X509 *trust_ca, EVP_PKEY *pinkey, long *http, char *err, size_t errlen, int *requests)
{
	struct server sv;
	server_start(&sv, leaf);
	struct d4_partner *p = partner(trust_ca, pinkey, sv.port);
	struct fed_peer_tls t;
	ck_assert_int_eq(fed_peer_tls_init(&t, p), 0);
	char url[300], body[256];
	snprintf(url, sizeof(url), "%s/federation/v1/hello", p->url);
	int rc = fed_xport_get(&t, url, cli_crt, cli_key, 10000, http, body, sizeof(body), err, errlen);
	fed_peer_tls_free(&t);
	free(p);
	server_stop(&sv);
	*requests = __atomic_load_n(&sv.requests, __ATOMIC_ACQUIRE);
	if (rc == 0)
		ck_assert_str_eq(body, "{\"ok\":true}");
	return rc;
}

static void refused(X509 *leaf, X509 *trust_ca, EVP_PKEY *pinkey, const char *needle)
{
	long http = -1;
	char err[256];
	int requests = -1;
	int rc = probe(leaf, trust_ca, pinkey, &http, err, sizeof(err), &requests);
	ck_assert_msg(rc == D4_ETLS, "expected a TLS refusal (%s), got %d: %s", needle, rc, err);
	ck_assert_int_eq(http, 0);
	ck_assert_msg(strstr(err, needle) != NULL, "error '%s' should say '%s'", err, needle);
	ck_assert_int_eq(requests, 0);
	/* nothing of the certificate in the message */
	ck_assert_ptr_null(strstr(err, "BEGIN"));
}

static void accepted(X509 *leaf, X509 *trust_ca, EVP_PKEY *pinkey)
{
	long http = -1;
	char err[256];
	int requests = -1;
	int rc = probe(leaf, trust_ca, pinkey, &http, err, sizeof(err), &requests);
	ck_assert_msg(rc == 0, "expected an answer, got %d: %s", rc, err);
	ck_assert_int_eq(http, 200);
	ck_assert_int_eq(requests, 1);
}

START_TEST(ca_and_hub)
{
	X509 *good = mkcert(srvkey, ca, cakey, 0, "serverAuth,clientAuth", HUB_URN ",IP:127.0.0.1", -60, 86400);
	accepted(good, ca, NULL);
	/* the pinned key and the CA: both */
	accepted(good, ca, srvkey);
	/* a pin alone */
	accepted(good, NULL, srvkey);
	X509_free(good);
}
END_TEST

START_TEST(wrong_hub)
{
	/* a valid certificate of the right CA, for another hub: the URL
	 * reaches a hub that is not the partner */
	X509 *x = mkcert(srvkey, ca, cakey, 0, "serverAuth,clientAuth", OTHER_URN ",IP:127.0.0.1", -60, 86400);
	refused(x, ca, NULL, "names another hub");
	refused(x, NULL, srvkey, "names another hub");
	X509_free(x);
	/* no urn:uuid at all */
	x = mkcert(srvkey, ca, cakey, 0, "serverAuth,clientAuth", "IP:127.0.0.1", -60, 86400);
	refused(x, ca, NULL, "names another hub");
	X509_free(x);
}
END_TEST

START_TEST(pin_mismatch)
{
	X509 *x = mkcert(srvkey, ca, cakey, 0, "serverAuth,clientAuth", HUB_URN, -60, 86400);
	refused(x, ca, otherkey, "pin mismatch");
	refused(x, NULL, otherkey, "pin mismatch");
	X509_free(x);
}
END_TEST

START_TEST(unknown_ca)
{
	/* the partner's bundle is another CA: not ours, and no system CA
	 * either */
	X509 *x = mkcert(srvkey, ca, cakey, 0, "serverAuth,clientAuth", HUB_URN, -60, 86400);
	refused(x, otherca, NULL, "does not chain to its CA bundle");
	X509_free(x);
	/* a self-signed certificate naming the partner's hub */
	x = mkcert(srvkey, NULL, NULL, 0, "serverAuth,clientAuth", HUB_URN, -60, 86400);
	refused(x, ca, NULL, "does not chain to its CA bundle");
	X509_free(x);
}
END_TEST

START_TEST(expired)
{
	X509 *x = mkcert(srvkey, ca, cakey, 0, "serverAuth,clientAuth", HUB_URN, -7200, -3600);
	refused(x, ca, NULL, "expired");
	refused(x, NULL, srvkey, "has expired");
	X509_free(x);
	x = mkcert(srvkey, ca, cakey, 0, "serverAuth,clientAuth", HUB_URN, 3600, 7200);
	refused(x, NULL, srvkey, "not valid yet");
	X509_free(x);
}
END_TEST

START_TEST(no_server_auth)
{
	X509 *x = mkcert(srvkey, ca, cakey, 0, "clientAuth", HUB_URN, -60, 86400);
	refused(x, NULL, srvkey, "serverAuth");
	refused(x, ca, NULL, "does not chain"); /* OpenSSL's purpose check comes first */
	X509_free(x);
	/* no EKU extension at all: OpenSSL would read "any" */
	x = mkcert(srvkey, ca, cakey, 0, NULL, HUB_URN, -60, 86400);
	refused(x, ca, NULL, "lacks extended key usage serverAuth");
	refused(x, NULL, srvkey, "lacks extended key usage serverAuth");
	X509_free(x);
}
END_TEST

START_TEST(no_trust_anchor)
{
	struct d4_partner *p = partner(NULL, NULL, 1);
	struct fed_peer_tls t;
	ck_assert_int_eq(fed_peer_tls_init(&t, p), D4_EINVAL);
	free(p);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("fed_xport");
	TCase *tc = tcase_create("tls");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, ca_and_hub);
	tcase_add_test(tc, wrong_hub);
	tcase_add_test(tc, pin_mismatch);
	tcase_add_test(tc, unknown_ca);
	tcase_add_test(tc, expired);
	tcase_add_test(tc, no_server_auth);
	tcase_add_test(tc, no_trust_anchor);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* the server thread writes to clients that may have gone */
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
