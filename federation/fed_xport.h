/* d4hub — federation: the client side of a connection to a partner hub
 * (fed_xport.c). libcurl easy handles set up for mutual TLS with the
 * hub's certificate, the partner's trust anchor (CA bundle and/or SPKI
 * pin) and its hub uuid checked in the handshake. Private to federation/
 * (the sender thread and the tests). */
#ifndef D4_FED_XPORT_H
#define D4_FED_XPORT_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "d4_store_partner.h"

/* What the TLS layer needs of one partner. The handshake's verification
 * callback reads it, so it must stay at a fixed address while a connection
 * made with it may still be in its handshake (the sender keeps it until its
 * multi handle is gone). */
struct fed_peer_tls {
	char name[D4_PARTNER_NAME_MAX];
	uint8_t hub[16]; /* expected SAN urn:uuid */
	int has_ca;
	char *ca_pem; /* owned copy (has_ca) */
	size_t ca_len;
	int has_pin;
	uint8_t pin[32];
	char pin_opt[64]; /* "sha256//<base64>" for CURLOPT_PINNEDPUBLICKEY */
	/* why the last handshake was refused by the checks below ("" = it
	 * was not): written in the handshake, read after the transfer, both
	 * on the thread that drives the handle */
	char why[160];
};

/* Fills t from p (borrowed). 0 or D4_ENOMEM / D4_EINVAL (no trust anchor:
 * the store never keeps such a partner). */
int fed_peer_tls_init(struct fed_peer_tls *t, const struct d4_partner *p);
void fed_peer_tls_free(struct fed_peer_tls *t);

/* Sets up e for one request to the partner t: HTTP/2 over TLS (1.2 or
 * later), client certificate cert/key (PEM files), the partner's CA bundle
 * (no partial chains, no system CAs) and/or pin, the certificate checked
 * in the handshake (chain or, with a pin alone, dates; EKU serverAuth
 * stated; pinned key; SAN urn:uuid = t->hub), no TLS session reuse (a
 * resumed session would skip the checks), timeout_ms for the whole
 * request, errbuf (CURL_ERROR_SIZE) for curl's message. t is borrowed (see
 * above). 0 or D4_ENOMEM. */
int fed_xport_setup(CURL *e, struct fed_peer_tls *t, const char *cert, const char *key, unsigned timeout_ms,
		    char *errbuf);

/* Why a request failed, for people and the status (never key material):
 * the handshake check's reason when it refused the certificate, else
 * curl's message. */
void fed_xport_error(const struct fed_peer_tls *t, CURLcode rc, const char *errbuf, char *out, size_t outlen);

/* One blocking GET of url with the setup above, for d4hubctl-style probes
 * and the tests: *http gets the status (0 when no HTTP answer came), the
 * body (up to bodycap - 1 bytes, NUL-terminated) goes into body when
 * given. 0 when an HTTP answer came, else D4_ETLS / D4_EIO with err set. */
int fed_xport_get(struct fed_peer_tls *t, const char *url, const char *cert, const char *key, unsigned timeout_ms,
		  long *http, char *body, size_t bodycap, char *err, size_t errlen);

#endif
