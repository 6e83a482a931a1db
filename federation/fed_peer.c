/* d4hub federation — who is at the other end of a federation connection:
 * the client certificate mapped to one partner (d4_federation.h,
 * docs/federation.md "The federation listener"). */
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_store_partner.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

struct fed_trust_entry {
	char name[D4_PARTNER_NAME_MAX];
	X509_STORE *ca; /* NULL: the pin alone */
	int has_pin;
	uint8_t pin[32];
	uint8_t hub[16];
	int enabled;
};

struct d4_fed_trust {
	struct fed_trust_entry *v;
	size_t n, cap;
	X509_STORE *all; /* every partner's CA: only to name why an unknown certificate fails */
	unsigned skipped;
	int err;
};

static const char *const peer_names[D4_FED_PEER_COUNT] = {
    [D4_FED_PEER_OK] = "accepted",
    [D4_FED_PEER_NO_CERT] = "no-certificate",
    [D4_FED_PEER_UNKNOWN_CA] = "unknown-ca",
    [D4_FED_PEER_EXPIRED] = "expired",
    [D4_FED_PEER_NO_CLIENT_AUTH] = "no-client-auth",
    [D4_FED_PEER_UNKNOWN_PARTNER] = "unknown-partner",
    [D4_FED_PEER_DISABLED] = "partner-disabled",
    [D4_FED_PEER_PIN_MISMATCH] = "pin-mismatch",
    [D4_FED_PEER_AMBIGUOUS] = "ambiguous-partner",
    [D4_FED_PEER_HANDSHAKE] = "handshake-failed",
    [D4_FED_PEER_INTERNAL] = "internal",
};

const char *d4_fed_peer_reason_name(enum d4_fed_peer_reason r)
{
	return (unsigned)r < D4_FED_PEER_COUNT ? peer_names[r] : "internal";
}

/* Adds the PEM certificates of pem to each non-NULL store. Returns the
 * number added. */
static int add_pem(const char *pem, X509_STORE *a, X509_STORE *b)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	int n = 0;
	X509 *x;
	if (!bio)
		return 0;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (a)
			X509_STORE_add_cert(a, x);
		if (b)
			X509_STORE_add_cert(b, x);
		X509_free(x);
		n++;
	}
	BIO_free(bio);
	return n;
}

struct d4_fed_trust *d4_fed_trust_new(void)
{
	struct d4_fed_trust *t = calloc(1, sizeof(*t));
	if (t && !(t->all = X509_STORE_new())) {
		free(t);
		t = NULL;
	}
	return t;
}

int d4_fed_trust_add(struct d4_fed_trust *t, const struct d4_partner *p)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct fed_trust_entry *v = realloc(t->v, cap * sizeof(*v));
		if (!v)
			return D4_ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	struct fed_trust_entry *e = &t->v[t->n];
	memset(e, 0, sizeof(*e));
	memcpy(e->name, p->name, sizeof(e->name));
	e->name[sizeof(e->name) - 1] = '\0';
	e->has_pin = p->has_pin != 0;
	memcpy(e->pin, p->spki_sha256, 32);
	memcpy(e->hub, p->hub, 16);
	e->enabled = p->enabled != 0;
	if (p->ca_pem[0]) {
		/* a bounded copy: the record's text is NUL-terminated by the
		 * store's check, but this does not rely on it */
		char *pem = malloc(D4_PARTNER_CA_MAX);
		e->ca = X509_STORE_new();
		if (!pem || !e->ca) {
			free(pem);
			X509_STORE_free(e->ca);
			return D4_ENOMEM;
		}
		memcpy(pem, p->ca_pem, D4_PARTNER_CA_MAX);
		pem[D4_PARTNER_CA_MAX - 1] = '\0';
		if (add_pem(pem, e->ca, t->all) == 0) {
			X509_STORE_free(e->ca);
			e->ca = NULL;
		}
		free(pem);
	}
	t->n++;
	return 0;
}

static int load_one(void *ctx, const struct d4_partner *p)
{
	struct d4_fed_trust *t = ctx;
	t->err = d4_fed_trust_add(t, p);
	return t->err != 0;
}

int d4_fed_trust_load(struct d4_store *s, struct d4_fed_trust **out, unsigned *skipped)
{
	*out = NULL;
	struct d4_fed_trust *t = d4_fed_trust_new();
	if (!t)
		return D4_ENOMEM;
	int rc = d4_store_partner_foreach(s, load_one, t);
	if (t->err)
		rc = t->err;
	/* the scan stops at a corrupt record: those read so far are kept
	 * (a damaged partner record authenticates nobody) */
	if (rc == D4_ECORRUPT) {
		t->skipped++;
		rc = 0;
	}
	if (rc != 0) {
		d4_fed_trust_free(t);
		return rc;
	}
	if (skipped)
		*skipped = t->skipped;
	*out = t;
	return 0;
}

void d4_fed_trust_free(struct d4_fed_trust *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		X509_STORE_free(t->v[i].ca);
	X509_STORE_free(t->all);
	free(t->v);
	free(t);
}

size_t d4_fed_trust_count(const struct d4_fed_trust *t)
{
	return t ? t->n : 0;
}

const char *d4_fed_trust_name(const struct d4_fed_trust *t, size_t i)
{
	return t && i < t->n ? t->v[i].name : "";
}

/* The chain of leaf to a CA of st, for a TLS client, at now: 0 or an
 * X509_V_ERR code. */
static int verify_chain(X509_STORE *st, X509 *leaf, STACK_OF(X509) * chain, time_t now)
{
	X509_STORE_CTX *c = X509_STORE_CTX_new();
	if (!c || X509_STORE_CTX_init(c, st, leaf, chain) != 1) {
		X509_STORE_CTX_free(c);
		return X509_V_ERR_OUT_OF_MEM;
	}
	X509_STORE_CTX_set_purpose(c, X509_PURPOSE_SSL_CLIENT);
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(c), now);
	X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(c), 4);
	int ok = X509_verify_cert(c);
	int e = ok == 1 ? 0 : X509_STORE_CTX_get_error(c);
	if (ok != 1 && e == 0)
		e = X509_V_ERR_UNSPECIFIED;
	X509_STORE_CTX_free(c);
	return e;
}

static enum d4_fed_peer_reason reason_of_verify(int e)
{
	switch (e) {
	case 0: return D4_FED_PEER_OK;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID: return D4_FED_PEER_EXPIRED;
	case X509_V_ERR_INVALID_PURPOSE: return D4_FED_PEER_NO_CLIENT_AUTH;
	case X509_V_ERR_OUT_OF_MEM: return D4_FED_PEER_INTERNAL;
	default: return D4_FED_PEER_UNKNOWN_CA;
	}
}

/* EKU clientAuth stated: a certificate without the extension (which
 * OpenSSL reads as "any") is refused, as d4hub -n refuses it. */
static int states_client_auth(X509 *x)
{
	return (X509_get_extension_flags(x) & EXFLAG_XKUSAGE) && (X509_get_extended_key_usage(x) & XKU_SSL_CLIENT);
}

static int spki_sha256(X509 *x, uint8_t out[32])
{
	unsigned char *der = NULL;
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	unsigned int ol = 0;
	int ok = len > 0 && EVP_Digest(der, (size_t)len, out, &ol, EVP_sha256(), NULL) == 1 && ol == 32;
	OPENSSL_free(der);
	return ok;
}

/* How far a refused candidate came: the refusal of the furthest is the
 * one reported. */
static int rank(enum d4_fed_peer_reason r)
{
	switch (r) {
	case D4_FED_PEER_UNKNOWN_CA: return 1;
	case D4_FED_PEER_EXPIRED: return 2;
	case D4_FED_PEER_NO_CLIENT_AUTH: return 3;
	case D4_FED_PEER_PIN_MISMATCH: return 4;
	case D4_FED_PEER_DISABLED: return 5;
	default: return 6; /* internal */
	}
}

enum d4_fed_peer_reason d4_fed_peer_map(const struct d4_fed_trust *t, X509 *leaf, STACK_OF(X509) * chain, time_t now,
					size_t *idx)
{
	uint8_t spki[32];
	if (!leaf)
		return D4_FED_PEER_NO_CERT;
	if (!t || !spki_sha256(leaf, spki))
		return D4_FED_PEER_INTERNAL;
	enum d4_fed_peer_reason best = D4_FED_PEER_OK;
	size_t nok = 0, ok_i = 0;
	int candidates = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct fed_trust_entry *e = &t->v[i];
		int pin_match = e->has_pin && memcmp(e->pin, spki, 32) == 0;
		if (!pin_match && !d4_fed_cert_names_hub(leaf, e->hub))
			continue;
		candidates = 1;
		enum d4_fed_peer_reason r = D4_FED_PEER_OK;
		if (e->ca) {
			r = reason_of_verify(verify_chain(e->ca, leaf, chain, now));
		} else if (!e->has_pin) {
			r = D4_FED_PEER_UNKNOWN_CA; /* its CA bundle could not be read */
		} else if (X509_cmp_time(X509_get0_notAfter(leaf), &now) <= 0 ||
			   X509_cmp_time(X509_get0_notBefore(leaf), &now) >= 0) {
			r = D4_FED_PEER_EXPIRED;
		}
		if (r == D4_FED_PEER_OK && !states_client_auth(leaf))
			r = D4_FED_PEER_NO_CLIENT_AUTH;
		if (r == D4_FED_PEER_OK && e->has_pin && !pin_match)
			r = D4_FED_PEER_PIN_MISMATCH;
		if (r == D4_FED_PEER_OK && !e->enabled)
			r = D4_FED_PEER_DISABLED;
		if (r == D4_FED_PEER_OK) {
			nok++;
			ok_i = i;
		} else if (best == D4_FED_PEER_OK || rank(r) > rank(best)) {
			best = r;
		}
	}
	if (nok == 1) {
		if (idx)
			*idx = ok_i;
		return D4_FED_PEER_OK;
	}
	if (nok > 1)
		return D4_FED_PEER_AMBIGUOUS;
	if (candidates)
		return best;
	/* nobody claims it: say why as precisely as the CAs allow */
	enum d4_fed_peer_reason r = reason_of_verify(verify_chain(t->all, leaf, chain, now));
	if (r != D4_FED_PEER_OK)
		return r;
	if (!states_client_auth(leaf))
		return D4_FED_PEER_NO_CLIENT_AUTH;
	return D4_FED_PEER_UNKNOWN_PARTNER;
}
