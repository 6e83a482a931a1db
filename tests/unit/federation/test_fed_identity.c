/* Unit tests of federation/fed_identity.c: d4_fed_cert_check on
 * certificates made here (OpenSSL API), one case per failure and its
 * message. Part of the test_federation binary. */
#include "d4_error.h"
#include "d4_federation.h"

#include <check.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TCase *identity_tcase(void);

static char dir[128];
static const uint8_t HUB[16] = {0x6f, 0x1c, 0x2b, 0x3a, 0x49, 0x58, 0x47, 0x66,
				0x85, 0x94, 0xa3, 0xb2, 0xc1, 0xd0, 0xef, 0xfe};
#define HUB_URN "urn:uuid:6f1c2b3a-4958-4766-8594-a3b2c1d0effe"

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/d4fedid-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
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

/* A certificate for key, signed by (issuer, ikey) or self-signed; eku and
 * san as in openssl.cnf, NULL for none; validity in seconds from now. */
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

static const char *write_cert(const char *name, X509 *x)
{
	static char paths[8][256];
	static int n;
	char *p = paths[n++ % 8];
	snprintf(p, 256, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	PEM_write_X509(f, x);
	fclose(f);
	return p;
}

static const char *write_key(const char *name, EVP_PKEY *k)
{
	static char paths[4][256];
	static int n;
	char *p = paths[n++ % 4];
	snprintf(p, 256, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	return p;
}

struct pki {
	EVP_PKEY *cakey, *key, *otherkey;
	X509 *ca, *otherca;
	char ca_pem[256], other_pem[256], key_pem[256]; /* copies: write_* reuse their buffers */
};

static void pki(struct pki *p)
{
	p->cakey = newkey();
	p->key = newkey();
	p->otherkey = newkey();
	p->ca = mkcert(p->cakey, NULL, NULL, 1, NULL, NULL, -60, 86400);
	p->otherca = mkcert(p->otherkey, NULL, NULL, 1, NULL, NULL, -60, 86400);
	snprintf(p->ca_pem, sizeof(p->ca_pem), "%s", write_cert("org-ca.crt", p->ca));
	snprintf(p->other_pem, sizeof(p->other_pem), "%s", write_cert("other-ca.crt", p->otherca));
	snprintf(p->key_pem, sizeof(p->key_pem), "%s", write_key("hub.key", p->key));
}

static void pki_free(struct pki *p)
{
	X509_free(p->ca);
	X509_free(p->otherca);
	EVP_PKEY_free(p->cakey);
	EVP_PKEY_free(p->key);
	EVP_PKEY_free(p->otherkey);
}

/* Checks a leaf made with these parameters; returns the message ("" on
 * success). */
static const char *check_leaf(struct pki *p, const char *eku, const char *san, long from, long to, const char *ca)
{
	static char err[600];
	X509 *x = mkcert(p->key, p->ca, p->cakey, 0, eku, san, from, to);
	const char *cert = write_cert("hub.crt", x);
	X509_free(x);
	err[0] = '\0';
	int rc = d4_fed_cert_check(cert, p->key_pem, ca, HUB, time(NULL), err, sizeof(err));
	ck_assert_msg((rc == 0) == (err[0] == '\0'), "rc %d with message '%s'", rc, err);
	return err;
}

#define GOOD_EKU "serverAuth,clientAuth"
#define GOOD_SAN "URI:" HUB_URN ",IP:127.0.0.1,DNS:localhost"

static void expect(const char *msg, const char *needle)
{
	if (!needle[0])
		ck_assert_msg(msg[0] == '\0', "unexpected failure: %s", msg);
	else
		ck_assert_msg(strstr(msg, needle) != NULL, "message '%s' lacks '%s'", msg, needle);
}

START_TEST(test_cert_good_and_each_failure)
{
	struct pki p;
	pki(&p);
	expect(check_leaf(&p, GOOD_EKU, GOOD_SAN, -60, 3600, p.ca_pem), "");
	expect(check_leaf(&p, GOOD_EKU, GOOD_SAN, -60, 3600, NULL), ""); /* no CA configured: no chain check */
	/* the URN's uuid in upper case is the same uuid */
	expect(check_leaf(&p, GOOD_EKU, "URI:URN:UUID:6F1C2B3A-4958-4766-8594-A3B2C1D0EFFE", -60, 3600, p.ca_pem), "");
	/* EKU */
	expect(check_leaf(&p, "serverAuth", GOOD_SAN, -60, 3600, p.ca_pem), "lacks extended key usage clientAuth");
	expect(check_leaf(&p, "clientAuth", GOOD_SAN, -60, 3600, p.ca_pem), "lacks extended key usage serverAuth");
	expect(check_leaf(&p, NULL, GOOD_SAN, -60, 3600, p.ca_pem), "lacks extended key usage serverAuth+clientAuth");
	/* SAN */
	expect(check_leaf(&p, GOOD_EKU, "URI:urn:uuid:6f1c2b3a-4958-4766-8594-a3b2c1d0efff", -60, 3600, p.ca_pem),
	       "does not name this hub: subjectAltName URI:" HUB_URN " (hub.uuid) is missing (it has: "
	       "urn:uuid:6f1c2b3a-4958-4766-8594-a3b2c1d0efff)");
	expect(check_leaf(&p, GOOD_EKU, "DNS:localhost", -60, 3600, p.ca_pem), "(it has: no URI)");
	expect(check_leaf(&p, GOOD_EKU, NULL, -60, 3600, p.ca_pem), "does not name this hub");
	/* the 32-hex form is not a urn:uuid (RFC 4122) */
	expect(check_leaf(&p, GOOD_EKU,
			  "URI:urn:uuid:6f1c2b3a49584766859"
			  "4a3b2c1d0effe",
			  -60, 3600, p.ca_pem),
	       "does not name this hub");
	expect(check_leaf(&p, GOOD_EKU, "URI:urn:uuid:" HUB_URN, -60, 3600, p.ca_pem), "does not name this hub");
	/* time */
	expect(check_leaf(&p, GOOD_EKU, GOOD_SAN, -7200, -3600, p.ca_pem), "expired on");
	expect(check_leaf(&p, GOOD_EKU, GOOD_SAN, 3600, 7200, p.ca_pem), "is not valid before");
	/* chain */
	expect(check_leaf(&p, GOOD_EKU, GOOD_SAN, -60, 3600, p.other_pem), "does not chain to federation.ca");
	char missing[200];
	snprintf(missing, sizeof(missing), "%s/none.crt", dir);
	expect(check_leaf(&p, GOOD_EKU, GOOD_SAN, -60, 3600, missing), "federation.ca");
	pki_free(&p);
}
END_TEST

START_TEST(test_cert_files_and_key)
{
	struct pki p;
	pki(&p);
	char err[600];
	X509 *x = mkcert(p.key, p.ca, p.cakey, 0, GOOD_EKU, GOOD_SAN, -60, 3600);
	const char *cert = write_cert("hub.crt", x);
	X509_free(x);
	/* the key of another certificate */
	const char *other = write_key("other.key", p.otherkey);
	ck_assert_int_eq(d4_fed_cert_check(cert, other, p.ca_pem, HUB, time(NULL), err, sizeof(err)), D4_ETLS);
	expect(err, "does not match federation.cert");
	/* a key file without a key, a certificate file without a certificate */
	ck_assert_int_eq(d4_fed_cert_check(cert, p.ca_pem, p.ca_pem, HUB, time(NULL), err, sizeof(err)), D4_ETLS);
	expect(err, "no PEM private key");
	ck_assert_int_eq(d4_fed_cert_check(p.key_pem, p.key_pem, p.ca_pem, HUB, time(NULL), err, sizeof(err)), D4_ETLS);
	expect(err, "no PEM certificate");
	char missing[200];
	snprintf(missing, sizeof(missing), "%s/none.crt", dir);
	ck_assert_int_eq(d4_fed_cert_check(missing, p.key_pem, NULL, HUB, time(NULL), err, sizeof(err)), D4_ETLS);
	expect(err, "cannot read it");
	/* the check is made at the given time: the same certificate, later */
	ck_assert_int_eq(d4_fed_cert_check(cert, p.key_pem, p.ca_pem, HUB, time(NULL), err, sizeof(err)), 0);
	ck_assert_int_eq(d4_fed_cert_check(cert, p.key_pem, NULL, HUB, time(NULL) + 7200, err, sizeof(err)), D4_ETLS);
	expect(err, "expired on");
	pki_free(&p);
}
END_TEST

TCase *identity_tcase(void)
{
	TCase *tc = tcase_create("identity");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cert_good_and_each_failure);
	tcase_add_test(tc, test_cert_files_and_key);
	return tc;
}
