/* d4hub — federation: the client side of a connection to a partner hub.
 *
 * The partner is authenticated in the TLS handshake, before curl sends a
 * byte of HTTP: OpenSSL's chain verification is replaced (in curl's
 * SSL_CTX callback) by a function that checks what the listener checks of
 * a client, mirrored: the partner's own CA bundle (root required, no
 * partial chain, no system CA), or with a pin alone the dates; EKU
 * serverAuth stated; the pinned key; and the subjectAltName
 * URI:urn:uuid:<the partner's hub uuid>. The host name of the URL is not
 * what identifies a hub: its uuid is (docs/federation.md "Sending"). */
#include "fed_xport.h"

#include "d4_error.h"
#include "d4_federation.h"
#include "d4_util.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fed_peer_tls_init(struct fed_peer_tls *t, const struct d4_partner *p)
{
	memset(t, 0, sizeof(*t));
	d4_strlcpy(t->name, p->name, sizeof(t->name));
	memcpy(t->hub, p->hub, 16);
	if (p->ca_pem[0]) {
		t->ca_len = strnlen(p->ca_pem, sizeof(p->ca_pem));
		t->ca_pem = malloc(t->ca_len + 1);
		if (!t->ca_pem)
			return D4_ENOMEM;
		memcpy(t->ca_pem, p->ca_pem, t->ca_len);
		t->ca_pem[t->ca_len] = 0;
		t->has_ca = 1;
	}
	if (p->has_pin) {
		t->has_pin = 1;
		memcpy(t->pin, p->spki_sha256, 32);
		memcpy(t->pin_opt, "sha256//", 8);
		/* 32 bytes: 44 base64 characters and a NUL */
		EVP_EncodeBlock((unsigned char *)t->pin_opt + 8, t->pin, 32);
	}
	if (!t->has_ca && !t->has_pin) {
		fed_peer_tls_free(t);
		return D4_EINVAL;
	}
	return 0;
}

void fed_peer_tls_free(struct fed_peer_tls *t)
{
	if (!t)
		return;
	free(t->ca_pem);
	t->ca_pem = NULL;
	t->has_ca = 0;
}

/* Records why (what ": detail" when detail is given) and fails the check. */
static int refuse(X509_STORE_CTX *x, struct fed_peer_tls *t, const char *what, const char *detail)
{
	snprintf(t->why, sizeof(t->why), "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
	X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

/* Replaces OpenSSL's verification of the server's chain (SSL_CTX_set_cert_verify_callback). */
static int verify_server(X509_STORE_CTX *x, void *arg)
{
	struct fed_peer_tls *t = arg;
	X509 *leaf = X509_STORE_CTX_get0_cert(x);
	if (!leaf)
		return refuse(x, t, "the partner sent no certificate", NULL);
	if (t->has_ca) {
		/* the store holds the partner's bundle only (CAINFO_BLOB, no
		 * CApath); libssl set the purpose to TLS server */
		if (X509_verify_cert(x) != 1)
			return refuse(x, t, "the partner's certificate does not chain to its CA bundle",
				      X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
	} else {
		if (X509_cmp_current_time(X509_get0_notBefore(leaf)) >= 0)
			return refuse(x, t, "the partner's certificate is not valid yet", NULL);
		if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0)
			return refuse(x, t, "the partner's certificate has expired", NULL);
	}
	/* stated, as d4hub -n and the listener want it: OpenSSL reads a
	 * certificate without the extension as "any" */
	if (!(X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) || !(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER))
		return refuse(x, t, "the partner's certificate lacks extended key usage serverAuth", NULL);
	if (t->has_pin) {
		uint8_t h[32];
		unsigned char *der = NULL;
		int n = i2d_PUBKEY(X509_get0_pubkey(leaf), &der);
		unsigned hl = 0;
		int ok = n > 0 && EVP_Digest(der, (size_t)n, h, &hl, EVP_sha256(), NULL) == 1 && hl == 32 &&
			 d4_ct_equal(h, t->pin, 32);
		OPENSSL_free(der);
		if (!ok)
			return refuse(x, t, "the partner's certificate does not carry the pinned key (pin mismatch)",
				      NULL);
	}
	if (d4_fed_cert_names_hub(leaf, t->hub) != 1) {
		char u[D4_UUID_HEX_LEN + 1], d[96];
		d4_uuid_hex(t->hub, u);
		snprintf(d, sizeof(d), "subjectAltName URI:urn:uuid:%s expected", u);
		return refuse(x, t, "the partner's certificate names another hub", d);
	}
	t->why[0] = 0;
	X509_STORE_CTX_set_error(x, X509_V_OK);
	return 1;
}

static CURLcode ssl_ctx_cb(CURL *e, void *sslctx, void *arg)
{
	(void)e;
	SSL_CTX *ctx = sslctx;
	/* with a pin alone curl asks for no verification (there is no CA to
	 * verify against): the check below must still be able to fail the
	 * handshake */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, verify_server, arg);
	return CURLE_OK;
}

int fed_xport_setup(CURL *e, struct fed_peer_tls *t, const char *cert, const char *key, unsigned timeout_ms,
		    char *errbuf)
{
	CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                                                  \
	do {                                                                                                           \
		if (rc == CURLE_OK)                                                                                    \
			rc = curl_easy_setopt(e, opt, val);                                                            \
	} while (0)
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_SSLCERT, cert);
	SET(CURLOPT_SSLCERTTYPE, "PEM");
	SET(CURLOPT_SSLKEY, key);
	SET(CURLOPT_SSLKEYTYPE, "PEM");
	/* no system CA, ever: a partner is trusted through its own anchor */
	SET(CURLOPT_CAINFO, (char *)NULL);
	SET(CURLOPT_CAPATH, (char *)NULL);
	if (t->has_ca) {
		struct curl_blob b = {.data = t->ca_pem, .len = t->ca_len, .flags = CURL_BLOB_COPY};
		SET(CURLOPT_CAINFO_BLOB, &b);
		SET(CURLOPT_SSL_VERIFYPEER, 1L);
		/* the root must be in the bundle, as on the listener */
		SET(CURLOPT_SSL_OPTIONS, (long)CURLSSLOPT_NO_PARTIALCHAIN);
	} else {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
	}
	/* a hub is its uuid, checked in verify_server; the URL's host may
	 * be an address or a name its certificate does not carry */
	SET(CURLOPT_SSL_VERIFYHOST, 0L);
	if (t->has_pin)
		SET(CURLOPT_PINNEDPUBLICKEY, t->pin_opt);
	SET(CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
	SET(CURLOPT_SSL_CTX_DATA, t);
	SET(CURLOPT_SSL_SESSIONID_CACHE, 0L);
	SET(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms < 10000 ? timeout_ms : 10000));
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PIPEWAIT, 1L);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_USERAGENT, "d4hub-federation/1");
	/* a proxy from the environment would see who talks to whom; the
	 * federation port is reached directly */
	SET(CURLOPT_NOPROXY, "*");
#undef SET
	if (errbuf)
		errbuf[0] = 0;
	t->why[0] = 0;
	return rc == CURLE_OK ? 0 : (rc == CURLE_OUT_OF_MEMORY ? D4_ENOMEM : D4_EINVAL);
}

void fed_xport_error(const struct fed_peer_tls *t, CURLcode rc, const char *errbuf, char *out, size_t outlen)
{
	if (t && t->why[0])
		snprintf(out, outlen, "%s", t->why);
	else if (errbuf && errbuf[0])
		snprintf(out, outlen, "%s", errbuf);
	else
		snprintf(out, outlen, "%s", curl_easy_strerror(rc));
}

struct getbuf {
	char *p;
	size_t len, cap;
};

static size_t get_write(char *data, size_t size, size_t n, void *arg)
{
	struct getbuf *b = arg;
	size_t k = size * n;
	if (b->p && b->cap) {
		size_t room = b->cap - 1 - b->len;
		size_t c = k < room ? k : room;
		memcpy(b->p + b->len, data, c);
		b->len += c;
		b->p[b->len] = 0;
	}
	return k;
}

int fed_xport_get(struct fed_peer_tls *t, const char *url, const char *cert, const char *key, unsigned timeout_ms,
		  long *http, char *body, size_t bodycap, char *err, size_t errlen)
{
	*http = 0;
	if (body && bodycap)
		body[0] = 0;
	CURL *e = curl_easy_init();
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return D4_ENOMEM;
	}
	char ebuf[CURL_ERROR_SIZE];
	struct getbuf b = {body, 0, bodycap};
	int rc = fed_xport_setup(e, t, cert, key, timeout_ms, ebuf);
	if (rc == 0 && (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
			curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, get_write) != CURLE_OK ||
			curl_easy_setopt(e, CURLOPT_WRITEDATA, &b) != CURLE_OK))
		rc = D4_EINVAL;
	if (rc != 0) {
		snprintf(err, errlen, "cannot set up the request: %s", d4_strerror(rc));
		curl_easy_cleanup(e);
		return rc;
	}
	CURLcode cr = curl_easy_perform(e);
	if (cr == CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, http);
		err[0] = 0;
	} else {
		fed_xport_error(t, cr, ebuf, err, errlen);
		rc = (t->why[0] || cr == CURLE_SSL_CONNECT_ERROR || cr == CURLE_PEER_FAILED_VERIFICATION ||
		      cr == CURLE_SSL_PINNEDPUBKEYNOTMATCH)
			 ? D4_ETLS
			 : D4_EIO;
	}
	curl_easy_cleanup(e);
	return rc;
}
