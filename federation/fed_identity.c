/* d4hub — federation: the hub's X.509 identity. One certificate is the
 * hub's TLS server certificate towards partners and its client certificate
 * when it connects to them, so it must carry both EKUs, name the hub by its
 * uuid (SAN URI urn:uuid:...), match its key, be valid now and chain to the
 * organisation's CA. d4hub -n runs this check; each failure has its own
 * message, written for the operator who has to fix the certificate. */
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_util.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int fail(char *err, size_t errlen, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	ERR_clear_error();
	return code;
}

static void asn1_time_text(const ASN1_TIME *t, char *out, size_t len)
{
	struct tm tm;
	if (ASN1_TIME_to_tm(t, &tm) != 1 || !strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, len, "?");
}

/* The SAN URIs of x, comma-separated, for messages. */
static void san_list(X509 *x, char *out, size_t len)
{
	out[0] = '\0';
	GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	size_t used = 0;
	for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		if (gn->type != GEN_URI)
			continue;
		const unsigned char *s = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
		int n = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
		int w =
		    snprintf(out + used, len - used, "%s%.*s", used ? ", " : "", n > 200 ? 200 : n, (const char *)s);
		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
	}
	GENERAL_NAMES_free(names);
	if (!out[0])
		snprintf(out, len, "no URI");
}

int d4_fed_cert_names_hub(X509 *x, const uint8_t hub[16])
{
	GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int found = 0;
	for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && !found; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		if (gn->type != GEN_URI)
			continue;
		const char *s = (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
		int n = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
		/* "urn:uuid:" + 36 characters (RFC 4122 section 3), nothing else */
		char buf[64];
		uint8_t u[16];
		if (n != 9 + 36 || strncasecmp(s, "urn:uuid:", 9) != 0)
			continue;
		memcpy(buf, s + 9, 36);
		buf[36] = '\0';
		if (d4_uuid_parse(buf, u) == 0 && memcmp(u, hub, 16) == 0)
			found = 1;
	}
	GENERAL_NAMES_free(names);
	return found;
}

int d4_fed_cert_check(const char *cert_path, const char *key_path, const char *ca_path, const uint8_t hub[16],
		      time_t now, char *err, size_t errlen)
{
	int rc = 0;
	X509 *x = NULL;
	EVP_PKEY *key = NULL;
	STACK_OF(X509) *chain = NULL;
	X509_STORE *store = NULL;
	X509_STORE_CTX *vctx = NULL;
	char hubtxt[D4_UUID_HEX_LEN + 1], t1[40];
	d4_uuid_hex(hub, hubtxt);

	BIO *b = BIO_new_file(cert_path, "r");
	if (!b)
		return fail(err, errlen, D4_ETLS, "federation.cert %s: cannot read it", cert_path);
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (x) {
		/* the rest of the file: intermediate certificates */
		chain = sk_X509_new_null();
		X509 *c;
		while (chain && (c = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
			if (!sk_X509_push(chain, c))
				X509_free(c);
		ERR_clear_error();
	}
	BIO_free(b);
	if (!x)
		return fail(err, errlen, D4_ETLS, "federation.cert %s: no PEM certificate in it", cert_path);

	b = BIO_new_file(key_path, "r");
	key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!key) {
		rc = fail(err, errlen, D4_ETLS, "federation.key %s: no PEM private key in it (or it is encrypted)",
			  key_path);
		goto out;
	}
	if (X509_check_private_key(x, key) != 1) {
		rc = fail(err, errlen, D4_ETLS, "federation.key %s does not match federation.cert %s", key_path,
			  cert_path);
		goto out;
	}
	if (X509_cmp_time(X509_get0_notBefore(x), &now) > 0) {
		asn1_time_text(X509_get0_notBefore(x), t1, sizeof(t1));
		rc = fail(err, errlen, D4_ETLS, "federation.cert %s is not valid before %s", cert_path, t1);
		goto out;
	}
	if (X509_cmp_time(X509_get0_notAfter(x), &now) < 0) {
		asn1_time_text(X509_get0_notAfter(x), t1, sizeof(t1));
		rc = fail(err, errlen, D4_ETLS, "federation.cert %s expired on %s", cert_path, t1);
		goto out;
	}
	/* OpenSSL reads a missing EKU extension as "any": a hub certificate
	 * must state both purposes explicitly. */
	uint32_t xku = (X509_get_extension_flags(x) & EXFLAG_XKUSAGE) ? X509_get_extended_key_usage(x) : 0;
	if ((xku & (XKU_SSL_SERVER | XKU_SSL_CLIENT)) != (XKU_SSL_SERVER | XKU_SSL_CLIENT)) {
		rc = fail(
		    err, errlen, D4_ETLS,
		    "federation.cert %s lacks extended key usage %s%s%s: a hub's certificate is its TLS server and "
		    "client certificate towards partners (EKU serverAuth+clientAuth)",
		    cert_path, (xku & XKU_SSL_SERVER) ? "" : "serverAuth",
		    !(xku & XKU_SSL_SERVER) && !(xku & XKU_SSL_CLIENT) ? "+" : "",
		    (xku & XKU_SSL_CLIENT) ? "" : "clientAuth");
		goto out;
	}
	if (!d4_fed_cert_names_hub(x, hub)) {
		char have[512];
		san_list(x, have, sizeof(have));
		char dashed[40];
		snprintf(dashed, sizeof(dashed), "%.8s-%.4s-%.4s-%.4s-%.12s", hubtxt, hubtxt + 8, hubtxt + 12,
			 hubtxt + 16, hubtxt + 20);
		rc = fail(err, errlen, D4_ETLS,
			  "federation.cert %s does not name this hub: subjectAltName URI:urn:uuid:%s (hub.uuid) is "
			  "missing (it has: %s)",
			  cert_path, dashed, have);
		goto out;
	}
	if (ca_path && ca_path[0]) {
		store = X509_STORE_new();
		vctx = X509_STORE_CTX_new();
		if (!store || !vctx || X509_STORE_load_file(store, ca_path) != 1) {
			rc =
			    fail(err, errlen, D4_ETLS, "federation.ca %s: cannot load it as PEM certificates", ca_path);
			goto out;
		}
		X509_VERIFY_PARAM *vp = X509_STORE_get0_param(store);
		X509_VERIFY_PARAM_set_time(vp, now);
		if (X509_STORE_CTX_init(vctx, store, x, chain) != 1) {
			rc = fail(err, errlen, D4_ENOMEM, "federation.cert: cannot set up the verification");
			goto out;
		}
		if (X509_verify_cert(vctx) != 1) {
			int e = X509_STORE_CTX_get_error(vctx);
			rc = fail(err, errlen, D4_ETLS, "federation.cert %s does not chain to federation.ca %s: %s",
				  cert_path, ca_path, X509_verify_cert_error_string(e));
			goto out;
		}
	}
out:
	X509_STORE_CTX_free(vctx);
	X509_STORE_free(store);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	X509_free(x);
	ERR_clear_error();
	return rc;
}
