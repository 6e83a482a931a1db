/* Unit tests of federation/fed_identity.c: d4_fed_cert_check on
 * certificates made here (OpenSSL API), one case per failure and its
 * message; and of federation/fed_peer.c: d4_fed_peer_map, one case per
 * outcome. Part of the test_federation binary. */
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

/* ---- d4_fed_peer_map: the federation listener's partner mapping ---- */

static const uint8_t HUB2[16] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x47, 0x77,
				 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
#define HUB2_URN   "URI:urn:uuid:11223344-5566-4777-8899-aabbccddeeff"
#define OTHER_URN  "URI:urn:uuid:99999999-5566-4777-8899-aabbccddeeff"
#define CLIENT_EKU "clientAuth"

static void spki_of(EVP_PKEY *k, uint8_t out[32])
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(k, &der);
	unsigned int ol = 0;
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(EVP_Digest(der, (size_t)len, out, &ol, EVP_sha256(), NULL), 1);
	OPENSSL_free(der);
}

/* A partner: name, hub, CA (NULL: none), pin key (NULL: none), enabled. */
static void add_partner(struct d4_fed_trust *t, const char *name, const uint8_t hub[16], X509 *ca, EVP_PKEY *pin,
			int enabled)
{
	struct d4_partner *p = calloc(1, sizeof(*p));
	ck_assert_ptr_nonnull(p);
	snprintf(p->name, sizeof(p->name), "%s", name);
	memcpy(p->hub, hub, 16);
	p->enabled = (uint8_t)enabled;
	if (ca) {
		BIO *b = BIO_new(BIO_s_mem());
		PEM_write_bio_X509(b, ca);
		char *data = NULL;
		long n = BIO_get_mem_data(b, &data);
		ck_assert(n > 0 && (size_t)n < sizeof(p->ca_pem));
		memcpy(p->ca_pem, data, (size_t)n);
		BIO_free(b);
	}
	if (pin) {
		p->has_pin = 1;
		spki_of(pin, p->spki_sha256);
	}
	ck_assert_int_eq(d4_fed_trust_add(t, p), 0);
	free(p);
}

/* Maps a leaf of key signed by (issuer, ikey); returns the reason, *idx the partner. */
static enum d4_fed_peer_reason map_leaf(struct d4_fed_trust *t, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
					const char *eku, const char *san, long from, long to, size_t *idx)
{
	X509 *x = mkcert(key, issuer, ikey, 0, eku, san, from, to);
	*idx = 999;
	enum d4_fed_peer_reason r = d4_fed_peer_map(t, x, NULL, time(NULL), idx);
	X509_free(x);
	return r;
}

#define EXPECT_MAP(want, ...)                                                                                          \
	do {                                                                                                           \
		enum d4_fed_peer_reason got_ = map_leaf(__VA_ARGS__, &idx);                                            \
		ck_assert_msg(got_ == (want), "line %d: %s, expected %s", __LINE__, d4_fed_peer_reason_name(got_),     \
			      d4_fed_peer_reason_name(want));                                                          \
	} while (0)

/* Each outcome of the mapping, and which partner an accepted certificate
 * is mapped to. */
START_TEST(test_peer_map_each_reason)
{
	struct pki p;
	pki(&p);
	EVP_PKEY *pinned = newkey(), *stranger = newkey();
	struct d4_fed_trust *t = d4_fed_trust_new();
	ck_assert_ptr_nonnull(t);
	add_partner(t, "a", HUB, p.ca, NULL, 1);    /* by CA and SAN */
	add_partner(t, "b", HUB2, NULL, pinned, 1); /* by pin alone */
	ck_assert_uint_eq(d4_fed_trust_count(t), 2);
	ck_assert_str_eq(d4_fed_trust_name(t, 1), "b");
	size_t idx;

	ck_assert_int_eq(d4_fed_peer_map(t, NULL, NULL, time(NULL), &idx), D4_FED_PEER_NO_CERT);
	EXPECT_MAP(D4_FED_PEER_OK, t, p.key, p.ca, p.cakey, CLIENT_EKU, "URI:" HUB_URN, -60, 3600);
	ck_assert_uint_eq(idx, 0);
	EXPECT_MAP(D4_FED_PEER_OK, t, p.key, p.ca, p.cakey, GOOD_EKU, GOOD_SAN, -60, 3600);
	ck_assert_uint_eq(idx, 0);
	/* the pin alone: any issuer, any name */
	EXPECT_MAP(D4_FED_PEER_OK, t, pinned, p.otherca, p.otherkey, CLIENT_EKU, NULL, -60, 3600);
	ck_assert_uint_eq(idx, 1);
	EXPECT_MAP(D4_FED_PEER_OK, t, pinned, NULL, NULL, CLIENT_EKU, HUB2_URN, -60, 3600);
	ck_assert_uint_eq(idx, 1);

	/* a's name, another CA */
	EXPECT_MAP(D4_FED_PEER_UNKNOWN_CA, t, p.key, p.otherca, p.otherkey, CLIENT_EKU, "URI:" HUB_URN, -60, 3600);
	/* nobody's name, another CA; self-signed */
	EXPECT_MAP(D4_FED_PEER_UNKNOWN_CA, t, stranger, p.otherca, p.otherkey, CLIENT_EKU, OTHER_URN, -60, 3600);
	EXPECT_MAP(D4_FED_PEER_UNKNOWN_CA, t, stranger, NULL, NULL, CLIENT_EKU, "URI:" HUB_URN, -60, 3600);
	/* dates, a's and the pin's */
	EXPECT_MAP(D4_FED_PEER_EXPIRED, t, p.key, p.ca, p.cakey, CLIENT_EKU, "URI:" HUB_URN, -7200, -3600);
	EXPECT_MAP(D4_FED_PEER_EXPIRED, t, p.key, p.ca, p.cakey, CLIENT_EKU, "URI:" HUB_URN, 3600, 7200);
	EXPECT_MAP(D4_FED_PEER_EXPIRED, t, pinned, NULL, NULL, CLIENT_EKU, NULL, -7200, -3600);
	/* EKU: serverAuth only, none (OpenSSL's "any" is not enough) */
	EXPECT_MAP(D4_FED_PEER_NO_CLIENT_AUTH, t, p.key, p.ca, p.cakey, "serverAuth", "URI:" HUB_URN, -60, 3600);
	EXPECT_MAP(D4_FED_PEER_NO_CLIENT_AUTH, t, p.key, p.ca, p.cakey, NULL, "URI:" HUB_URN, -60, 3600);
	EXPECT_MAP(D4_FED_PEER_NO_CLIENT_AUTH, t, pinned, NULL, NULL, "serverAuth", NULL, -60, 3600);
	/* a valid certificate of the CA that names no partner */
	EXPECT_MAP(D4_FED_PEER_UNKNOWN_PARTNER, t, stranger, p.ca, p.cakey, CLIENT_EKU, OTHER_URN, -60, 3600);
	EXPECT_MAP(D4_FED_PEER_UNKNOWN_PARTNER, t, stranger, p.ca, p.cakey, CLIENT_EKU, NULL, -60, 3600);
	/* b's name with another key */
	EXPECT_MAP(D4_FED_PEER_PIN_MISMATCH, t, stranger, NULL, NULL, CLIENT_EKU, HUB2_URN, -60, 3600);
	d4_fed_trust_free(t);

	/* disabled; a pin and a CA need both; two partners for one certificate */
	t = d4_fed_trust_new();
	add_partner(t, "off", HUB, p.ca, NULL, 0);
	add_partner(t, "both", HUB2, p.ca, pinned, 1);
	EXPECT_MAP(D4_FED_PEER_DISABLED, t, p.key, p.ca, p.cakey, CLIENT_EKU, "URI:" HUB_URN, -60, 3600);
	EXPECT_MAP(D4_FED_PEER_OK, t, pinned, p.ca, p.cakey, CLIENT_EKU, HUB2_URN, -60, 3600);
	ck_assert_uint_eq(idx, 1);
	EXPECT_MAP(D4_FED_PEER_UNKNOWN_CA, t, pinned, p.otherca, p.otherkey, CLIENT_EKU, HUB2_URN, -60, 3600);
	EXPECT_MAP(D4_FED_PEER_PIN_MISMATCH, t, stranger, p.ca, p.cakey, CLIENT_EKU, HUB2_URN, -60, 3600);
	add_partner(t, "twin", HUB2, p.ca, NULL, 1);
	EXPECT_MAP(D4_FED_PEER_AMBIGUOUS, t, pinned, p.ca, p.cakey, CLIENT_EKU, HUB2_URN, -60, 3600);
	/* a disabled twin does not make it ambiguous */
	d4_fed_trust_free(t);
	t = d4_fed_trust_new();
	add_partner(t, "twin-off", HUB, p.ca, NULL, 0);
	add_partner(t, "twin-on", HUB, p.ca, NULL, 1);
	EXPECT_MAP(D4_FED_PEER_OK, t, p.key, p.ca, p.cakey, CLIENT_EKU, "URI:" HUB_URN, -60, 3600);
	ck_assert_uint_eq(idx, 1);
	d4_fed_trust_free(t);

	/* no partners at all; no set */
	t = d4_fed_trust_new();
	EXPECT_MAP(D4_FED_PEER_UNKNOWN_CA, t, p.key, p.ca, p.cakey, CLIENT_EKU, "URI:" HUB_URN, -60, 3600);
	d4_fed_trust_free(t);
	EXPECT_MAP(D4_FED_PEER_INTERNAL, NULL, p.key, p.ca, p.cakey, CLIENT_EKU, "URI:" HUB_URN, -60, 3600);

	/* stable names (log, /metrics) */
	ck_assert_str_eq(d4_fed_peer_reason_name(D4_FED_PEER_OK), "accepted");
	ck_assert_str_eq(d4_fed_peer_reason_name(D4_FED_PEER_NO_CERT), "no-certificate");
	ck_assert_str_eq(d4_fed_peer_reason_name(D4_FED_PEER_PIN_MISMATCH), "pin-mismatch");
	ck_assert_str_eq(d4_fed_peer_reason_name(D4_FED_PEER_COUNT), "internal");
	for (int i = 0; i < D4_FED_PEER_COUNT; i++)
		ck_assert_ptr_nonnull(d4_fed_peer_reason_name((enum d4_fed_peer_reason)i));
	EVP_PKEY_free(pinned);
	EVP_PKEY_free(stranger);
	pki_free(&p);
}
END_TEST

TCase *identity_tcase(void)
{
	TCase *tc = tcase_create("identity");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cert_good_and_each_failure);
	tcase_add_test(tc, test_cert_files_and_key);
	tcase_add_test(tc, test_peer_map_each_reason);
	return tc;
}
