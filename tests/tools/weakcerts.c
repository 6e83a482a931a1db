/* Test certificates with planted weak RSA keys (see weakcerts.h).
 *
 * The set, in certificate order (the store gives keys ids in order of first
 * sight, so this is also the key order when they are stored in turn):
 *   A1, A2      one prime shared by two moduli              -> shared-prime
 *   B1, B2, B3  one prime shared by three moduli            -> three shared-prime pairs
 *   D1, D2      the same modulus, e = 65537 and e = 5 (two SPKIs)
 *                                                           -> duplicate-modulus, D2 weak-exponent
 *   S           a modulus with the factor 65521 (< 2^16)    -> small-factor
 *   E3          e = 3                                       -> weak-exponent
 *   K1, K2      one key under unrelated subjects            -> shared-key
 *   R1, R2      one key under related subjects (same base domain): nothing
 *   N1..N12     independent keys: nothing
 * Every other pair must stay silent. */
#include "weakcerts.h"

#include <gmp.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rsa_parts {
	mpz_t n, e, d, p, q;
};

/* A random prime of `bits` bits with gcd(p - 1, 3 * 5 * 65537) = 1, so that
 * e = 3, 5 and 65537 are all valid exponents. */
static void gen_prime(gmp_randstate_t rs, unsigned bits, mpz_t p)
{
	mpz_t t, g, pm1;
	mpz_inits(t, g, pm1, NULL);
	mpz_set_ui(g, 3ul * 5ul * 65537ul);
	for (;;) {
		mpz_urandomb(t, rs, bits);
		mpz_setbit(t, bits - 1);
		mpz_setbit(t, bits - 2);
		mpz_nextprime(p, t);
		mpz_sub_ui(pm1, p, 1);
		mpz_gcd(t, pm1, g);
		if (mpz_cmp_ui(t, 1) == 0 && mpz_sizeinbase(p, 2) == bits)
			break;
	}
	mpz_clears(t, g, pm1, NULL);
}

static int bn_push(OSSL_PARAM_BLD *b, const char *key, const mpz_t v, BIGNUM **keep)
{
	size_t n = 0;
	uint8_t *buf = mpz_export(NULL, &n, 1, 1, 1, 0, v);
	BIGNUM *bn = BN_bin2bn(buf, (int)n, NULL);
	free(buf);
	if (!bn)
		return -1;
	*keep = bn;
	return OSSL_PARAM_BLD_push_BN(b, key, bn) == 1 ? 0 : -1;
}

/* An RSA private key from p, q, e (d and the CRT values computed here). */
static EVP_PKEY *make_key(const mpz_t p, const mpz_t q, unsigned long e)
{
	mpz_t n, ee, d, phi, pm1, qm1, dp, dq, qi;
	mpz_inits(n, ee, d, phi, pm1, qm1, dp, dq, qi, NULL);
	mpz_mul(n, p, q);
	mpz_set_ui(ee, e);
	mpz_sub_ui(pm1, p, 1);
	mpz_sub_ui(qm1, q, 1);
	mpz_mul(phi, pm1, qm1);
	EVP_PKEY *pk = NULL;
	BIGNUM *bn[8] = {0};
	OSSL_PARAM_BLD *b = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	if (!mpz_invert(d, ee, phi))
		goto out;
	mpz_mod(dp, d, pm1);
	mpz_mod(dq, d, qm1);
	if (!mpz_invert(qi, q, p))
		goto out;
	b = OSSL_PARAM_BLD_new();
	if (!b || bn_push(b, OSSL_PKEY_PARAM_RSA_N, n, &bn[0]) || bn_push(b, OSSL_PKEY_PARAM_RSA_E, ee, &bn[1]) ||
	    bn_push(b, OSSL_PKEY_PARAM_RSA_D, d, &bn[2]) || bn_push(b, OSSL_PKEY_PARAM_RSA_FACTOR1, p, &bn[3]) ||
	    bn_push(b, OSSL_PKEY_PARAM_RSA_FACTOR2, q, &bn[4]) ||
	    bn_push(b, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp, &bn[5]) ||
	    bn_push(b, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq, &bn[6]) ||
	    bn_push(b, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qi, &bn[7]))
		goto out;
	params = OSSL_PARAM_BLD_to_param(b);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_KEYPAIR, params) != 1)
		pk = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(b);
	for (int i = 0; i < 8; i++)
		BN_clear_free(bn[i]);
	mpz_clears(n, ee, d, phi, pm1, qm1, dp, dq, qi, NULL);
	return pk;
}

/* A self-signed v3 certificate for cn (subject CN, one DNS SAN). */
static int make_cert(EVP_PKEY *pk, const char *cn, long serial, struct wc_cert *out)
{
	X509 *x = X509_new();
	int ok = 0;
	char san[96];
	if (!x)
		return -1;
	X509_NAME *nm = X509_NAME_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext = NULL;
	snprintf(san, sizeof(san), "DNS:%s", cn);
	if (!nm || X509_set_version(x, 2) != 1 || ASN1_INTEGER_set(X509_get_serialNumber(x), serial) != 1 ||
	    !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) ||
	    X509_set_subject_name(x, nm) != 1 || X509_set_issuer_name(x, nm) != 1 ||
	    !ASN1_TIME_set(X509_getm_notBefore(x), 1700000000) || !ASN1_TIME_set(X509_getm_notAfter(x), 2000000000) ||
	    X509_set_pubkey(x, pk) != 1)
		goto out;
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	if (!ext || X509_add_ext(x, ext, -1) != 1)
		goto out;
	/* SHA-256 signatures need a modulus of 512 bits or more: every key here
	 * has one */
	if (X509_sign(x, pk, EVP_sha256()) <= 0)
		goto out;
	int n = i2d_X509(x, NULL);
	if (n <= 0)
		goto out;
	out->der = malloc((size_t)n);
	unsigned char *p = out->der;
	if (!out->der || i2d_X509(x, &p) != n)
		goto out;
	out->der_len = (size_t)n;
	snprintf(out->cn, sizeof(out->cn), "%s", cn);
	ok = 1;
out:
	X509_EXTENSION_free(ext);
	X509_NAME_free(nm);
	X509_free(x);
	return ok ? 0 : -1;
}

static int add(struct wc_set *s, const char *name, const char *cn, const mpz_t p, const mpz_t q, unsigned long e)
{
	if (s->n >= WC_MAX)
		return -1;
	EVP_PKEY *pk = make_key(p, q, e);
	struct wc_cert *c = &s->c[s->n];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	int rc = pk ? make_cert(pk, cn, (long)s->n + 1, c) : -1;
	EVP_PKEY_free(pk);
	if (rc) {
		fprintf(stderr, "weakcerts: cannot make %s\n", name);
		return -1;
	}
	s->n++;
	return 0;
}

static void expect(struct wc_set *s, const char *kind, const char *a, const char *b, const char *flags)
{
	struct wc_expect *e = &s->e[s->ne++];
	snprintf(e->kind, sizeof(e->kind), "%s", kind);
	snprintf(e->a, sizeof(e->a), "%s", a);
	snprintf(e->b, sizeof(e->b), "%s", b);
	snprintf(e->flags, sizeof(e->flags), "%s", flags);
}

int wc_make(unsigned long seed, unsigned prime_bits, struct wc_set *s)
{
	memset(s, 0, sizeof(*s));
	if (prime_bits < 256)
		return -1;
	gmp_randstate_t rs;
	gmp_randinit_default(rs);
	gmp_randseed_ui(rs, seed);
	mpz_t pr[20], small;
	for (int i = 0; i < 20; i++) {
		mpz_init(pr[i]);
		gen_prime(rs, prime_bits, pr[i]);
	}
	mpz_init_set_ui(small, 65521); /* the largest prime below 2^16 */
	mpz_t big;
	mpz_init(big);
	gen_prime(rs, 2 * prime_bits - 16, big);
	int rc = 0;
	rc |= add(s, "A1", "a1.alpha.example", pr[0], pr[1], 65537);
	rc |= add(s, "A2", "a2.bravo.example", pr[0], pr[2], 65537);
	rc |= add(s, "B1", "b1.charlie.example", pr[3], pr[4], 65537);
	rc |= add(s, "B2", "b2.delta.example", pr[3], pr[5], 65537);
	rc |= add(s, "B3", "b3.echo.example", pr[3], pr[6], 65537);
	rc |= add(s, "D1", "d1.foxtrot.example", pr[7], pr[8], 65537);
	rc |= add(s, "D2", "d2.golf.example", pr[7], pr[8], 5);
	rc |= add(s, "S", "s.hotel.example", small, big, 65537);
	rc |= add(s, "E3", "e3.india.example", pr[9], pr[10], 3);
	rc |= add(s, "K1", "shop.kilo.example", pr[11], pr[12], 65537);
	/* K2: the same key as K1 (same SPKI), an unrelated subject */
	rc |= add(s, "K2", "mail.lima.test", pr[11], pr[12], 65537);
	rc |= add(s, "R1", "www.romeo.example", pr[13], pr[14], 65537);
	rc |= add(s, "R2", "mail.romeo.example", pr[13], pr[14], 65537);
	/* independent keys; their primes are fresh */
	for (int i = 0; !rc && i < 12; i++) {
		mpz_t p, q;
		mpz_inits(p, q, NULL);
		gen_prime(rs, prime_bits, p);
		gen_prime(rs, prime_bits, q);
		char nm[8], cn[48];
		snprintf(nm, sizeof(nm), "N%d", i + 1);
		snprintf(cn, sizeof(cn), "n%d.november%d.example", i + 1, i + 1);
		rc |= add(s, nm, cn, p, q, 65537);
		mpz_clears(p, q, NULL);
	}
	for (int i = 0; i < 20; i++)
		mpz_clear(pr[i]);
	mpz_clears(small, big, NULL);
	gmp_randclear(rs);
	if (rc) {
		wc_free(s);
		return -1;
	}
	expect(s, "shared-prime", "A1", "A2", "");
	expect(s, "shared-prime", "B1", "B2", "");
	expect(s, "shared-prime", "B1", "B3", "");
	expect(s, "shared-prime", "B2", "B3", "");
	expect(s, "duplicate-modulus", "D1", "D2", "");
	expect(s, "weak-exponent", "D2", "", "small");
	expect(s, "small-factor", "S", "", "");
	expect(s, "weak-exponent", "E3", "", "small");
	expect(s, "shared-key", "K1", "", "");
	return 0;
}

void wc_free(struct wc_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->c[i].der);
	memset(s, 0, sizeof(*s));
}
