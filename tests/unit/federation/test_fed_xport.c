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
#include "tls_peer.h"

#include <check.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	server_start(&sv, leaf, "{\"ok\":true}");
	struct d4_partner *p = partner(trust_ca, pinkey, sv.port);
	struct fed_peer_tls t;
	ck_assert_int_eq(fed_peer_tls_init(&t, p), 0);
	char url[300], body[256];
	snprintf(url, sizeof(url), "%s/federation/v1/hello", p->url);
	int rc = fed_xport_get(&t, url, cli_crt, cli_key, 10000, http, body, sizeof(body), err, errlen);
	fed_peer_tls_free(&t);
	free(p);
	server_stop(&sv);
	*requests = server_requests(&sv);
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
	tcase_add_checked_fixture(tc, tp_setup, tp_teardown);
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
