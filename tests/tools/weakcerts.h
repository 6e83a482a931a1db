/* Test certificates with planted weak RSA keys (tests/tools/weakcerts.c):
 * primes drawn with GMP from a fixed seed, keys built with OpenSSL 3's
 * EVP_PKEY_fromdata (n, e, d, p, q and the CRT values), self-signed X.509.
 * Used by d4-pssl-weakcerts (integration test) and the weak-key job's Check
 * test. Not part of the hub. */
#ifndef D4_TEST_WEAKCERTS_H
#define D4_TEST_WEAKCERTS_H

#include <stddef.h>
#include <stdint.h>

#define WC_MAX	   40
#define WC_EXP_MAX 32

struct wc_cert {
	char name[16]; /* "A1", "N3"... */
	char cn[64];   /* the subject's commonName (also its one DNS SAN) */
	uint8_t *der;  /* malloc'ed */
	size_t der_len;
};

/* One expected finding, by certificate names: kind is the API's kind name;
 * b is "" for a finding about one key; pairs are unordered. */
struct wc_expect {
	char kind[32];
	char a[16], b[16];
	char flags[16]; /* weak-exponent: the flag name ("small") */
};

struct wc_set {
	struct wc_cert c[WC_MAX];
	size_t n;
	struct wc_expect e[WC_EXP_MAX];
	size_t ne;
};

/* Makes the planted set (prime_bits per prime, >= 256; 512 is quick) from
 * seed. 0, or -1 with a message on stderr. */
int wc_make(unsigned long seed, unsigned prime_bits, struct wc_set *out);
void wc_free(struct wc_set *s);

/* Merges certificates [from, to) of set into s (tests/tools/weakcerts_store.c),
 * parsed with analyzers/x509, one handshake each (server 127.0.1.(i + 1):443,
 * TLP tlp) through d4_store_pssl_apply. 0 or the first error. */
struct d4_store;
int wc_store(struct d4_store *s, const struct wc_set *set, size_t from, size_t to, uint8_t tlp);

#endif
