/* Unit tests of the certs kind (docs/federation.md "Certificates"): the
 * record layout (round trip, every truncation, every bound and check), the
 * egress policy's filters for it (server address, zones over the SNI and
 * the certificate's names, TLP), and what a receiver makes of a record: the
 * certificates it parses itself, the origin, the refusals. Certificates are
 * made by the test with OpenSSL. */
#include "d4_error.h"
#include "d4_federation.h"

#include "d4_store.h"
#include "d4_store_fed.h"
#include "d4_store_pssl.h"

#include <check.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const uint8_t SENDER[16] = {0x5e, 0xd0, 9, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t SELF[16] = {0x5e, 0x1f, 9, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 2};
static const uint8_t ORIGIN[16] = {0xaa, 9, 1, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 3};
static const uint8_t ORG[16] = {0x0e, 0x0e, 9, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 5};
static const uint8_t SENSOR[16] = {0x5e, 0x50, 9, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 6};
/* JA3 of a real ClientHello and its MD5 (the reference value of the JA3
 * README: curl against a TLS 1.2 server) */
static const char JA3[] = "771,4866-4867-4865-49196-49200,0-11-10-16-22-23-13-43-45-51,29-23-30-25-24,0-1-2";
static const char JA3S[] = "771,49200,65281-0-11-16";

static void corpus_write(const char *name, const uint8_t *b, size_t n)
{
	const char *dir = getenv("D4_FED_CORPUS_OUT");
	if (!dir || !*dir)
		return;
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	ck_assert_msg(f != NULL, "%s", path);
	ck_assert_uint_eq(fwrite(b, 1, n, f), n);
	fclose(f);
}

static void md5_of(const char *s, uint8_t out[16])
{
	unsigned l = 0;
	ck_assert(EVP_Digest(s, strlen(s), out, &l, EVP_md5(), NULL) && l == 16);
}

/* A self-signed EC certificate with subject CN cn and the DNS SANs given
 * (comma-separated, NULL: none). *der is malloc'ed. */
static size_t mkcert(const char *cn, const char *sans, uint8_t **der)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_assert_ptr_nonnull(k);
	X509 *x = X509_new();
	ck_assert_ptr_nonnull(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1234);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, k);
	if (sans) {
		char v[512] = "";
		char tmp[512];
		snprintf(tmp, sizeof(tmp), "%s", sans);
		for (char *s = strtok(tmp, ","); s; s = strtok(NULL, ",")) {
			size_t l = strlen(v);
			snprintf(v + l, sizeof(v) - l, "%sDNS:%s", l ? "," : "", s);
		}
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, v);
		ck_assert_ptr_nonnull(e);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	ck_assert_int_gt(X509_sign(x, k, EVP_sha256()), 0);
	*der = NULL;
	int len = i2d_X509(x, der);
	ck_assert_int_gt(len, 0);
	X509_free(x);
	EVP_PKEY_free(k);
	return (size_t)len;
}

static uint8_t *DER_A, *DER_B;
static size_t LEN_A, LEN_B;
static uint8_t MD5_JA3[16], MD5_JA3S[16];

static void setup(void)
{
	if (DER_A)
		return;
	LEN_A = mkcert("www.example.com", "www.example.com,*.cdn.example.net", &DER_A);
	LEN_B = mkcert("Example Intermediate CA", NULL, &DER_B);
	md5_of(JA3, MD5_JA3);
	md5_of(JA3S, MD5_JA3S);
}

static void v4(uint8_t ip[16], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	memset(ip, 0, 16);
	ip[10] = ip[11] = 0xff;
	ip[12] = a;
	ip[13] = b;
	ip[14] = c;
	ip[15] = d;
}

/* Record i: every combination of the optional parts, IPv4 and IPv6
 * servers, chains of 0..2, own, stripped and relayed provenance. */
static void cert_rec(struct d4_fed_wrec *r, unsigned i)
{
	memset(r, 0, sizeof(*r));
	struct d4_fed_wprov *p = &r->prov;
	p->tlp = (uint8_t)(i % 3 == 2 ? D4_TLP_EX_CHR : i % 2 ? D4_TLP_GREEN : D4_TLP_CLEAR);
	if (p->tlp == D4_TLP_EX_CHR) {
		p->flags = D4_FED_F_STRIPPED;
	} else {
		p->has_org = 1;
		memcpy(p->org, ORG, 16);
		p->nsensors = (uint8_t)(i % 9);
		for (unsigned k = 0; k < p->nsensors; k++) {
			memcpy(p->sensors[k], SENSOR, 16);
			p->sensors[k][15] = (uint8_t)(0x20 + k);
		}
		p->has_origin = 1;
		memcpy(p->origin, i % 4 == 1 ? ORIGIN : SENDER, 16);
		if (i % 4 == 1) {
			p->nvia = 1;
			memcpy(p->via[0], SENDER, 16);
		}
	}
	struct d4_fed_wcert *c = &r->cert;
	if (i % 2) {
		static const uint8_t ip6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
		memcpy(c->server_ip, ip6, 16);
	} else {
		v4(c->server_ip, 192, 0, 2, (uint8_t)(10 + i));
	}
	c->server_port = (uint16_t)(443 + i);
	c->has_ja3 = i % 3 != 0;
	c->has_ja3s = i % 5 != 0;
	memcpy(c->ja3_md5, MD5_JA3, 16);
	memcpy(c->ja3s_md5, MD5_JA3S, 16);
	if (c->has_ja3 && i % 2) {
		c->ja3 = JA3;
		c->ja3_len = strlen(JA3);
	}
	if (c->has_ja3s && i % 4 != 3) {
		c->ja3s = JA3S;
		c->ja3s_len = strlen(JA3S);
	}
	static const char *const sni[] = {"www.example.com", NULL, "a-very.long.name.example.org"};
	c->sni = sni[i % 3];
	c->sni_len = c->sni ? strlen(c->sni) : 0;
	if (i % 4 != 2) {
		c->ja4 = "t13d1516h2_8daaf6152771_e5627efa2ab1";
		c->ja4_len = strlen(c->ja4);
	}
	c->time_first = 1700000000 + i;
	c->time_last = c->time_first + (i % 3) * 3600;
	c->count = 1 + (uint64_t)i * 1000003;
	c->n_certs = (uint8_t)(i % 3);
	if (c->n_certs >= 1) {
		c->certs[0].der = DER_A;
		c->certs[0].len = (uint32_t)LEN_A;
	}
	if (c->n_certs >= 2) {
		c->certs[1].der = DER_B;
		c->certs[1].len = (uint32_t)LEN_B;
	}
}

static void cert_eq(const struct d4_fed_wrec *a, const struct d4_fed_wrec *b)
{
	ck_assert_int_eq(memcmp(&a->prov, &b->prov, sizeof(a->prov)), 0);
	const struct d4_fed_wcert *x = &a->cert, *y = &b->cert;
	ck_assert_int_eq(memcmp(x->server_ip, y->server_ip, 16), 0);
	ck_assert_uint_eq(x->server_port, y->server_port);
	ck_assert_uint_eq(x->has_ja3, y->has_ja3);
	ck_assert_uint_eq(x->has_ja3s, y->has_ja3s);
	if (x->has_ja3)
		ck_assert_int_eq(memcmp(x->ja3_md5, y->ja3_md5, 16), 0);
	if (x->has_ja3s)
		ck_assert_int_eq(memcmp(x->ja3s_md5, y->ja3s_md5, 16), 0);
	ck_assert_uint_eq(x->ja3_len, y->ja3_len);
	ck_assert(!x->ja3_len || !memcmp(x->ja3, y->ja3, x->ja3_len));
	ck_assert_uint_eq(x->ja3s_len, y->ja3s_len);
	ck_assert(!x->ja3s_len || !memcmp(x->ja3s, y->ja3s, x->ja3s_len));
	ck_assert_uint_eq(x->sni_len, y->sni_len);
	ck_assert(!x->sni_len || !memcmp(x->sni, y->sni, x->sni_len));
	ck_assert(y->sni_len || y->sni == NULL);
	ck_assert_uint_eq(x->ja4_len, y->ja4_len);
	ck_assert(!x->ja4_len || !memcmp(x->ja4, y->ja4, x->ja4_len));
	ck_assert_uint_eq(x->time_first, y->time_first);
	ck_assert_uint_eq(x->time_last, y->time_last);
	ck_assert_uint_eq(x->count, y->count);
	ck_assert_uint_eq(x->n_certs, y->n_certs);
	for (unsigned k = 0; k < x->n_certs; k++) {
		ck_assert_uint_eq(x->certs[k].len, y->certs[k].len);
		ck_assert_int_eq(memcmp(x->certs[k].der, y->certs[k].der, x->certs[k].len), 0);
	}
}

#define NREC 12
static const uint8_t FROM_POS[8] = {0, 0, 0, 0, 0, 0, 0, 5};
static const uint8_t TO_POS[8] = {0, 0, 0, 0, 0, 0, 0, 17};

static void build(struct d4_fed_wbuf *w, struct d4_fed_wrec *recs, const uint8_t **out, size_t *len)
{
	setup();
	ck_assert_int_eq(d4_fed_wbuf_begin(w, D4_FED_KIND_CERTS, SENDER, FROM_POS, sizeof(FROM_POS)), 0);
	for (unsigned i = 0; i < NREC; i++) {
		cert_rec(&recs[i], i);
		ck_assert_msg(d4_fed_wbuf_add(w, &recs[i]) == 0, "record %u", i);
	}
	ck_assert_int_eq(d4_fed_wbuf_finish(w, TO_POS, sizeof(TO_POS), out, len), 0);
}

static int walk(const uint8_t *b, size_t n, unsigned *count, char *why, size_t whylen)
{
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	struct d4_fed_wrec r;
	*count = 0;
	int rc = d4_fed_batch_open(b, n, &h, &it);
	if (rc == 0)
		while ((rc = d4_fed_batch_next(&it, &r)) == 1)
			(*count)++;
	if (why)
		snprintf(why, whylen, "%s", it.why);
	return rc;
}

START_TEST(test_roundtrip)
{
	struct d4_fed_wbuf w = {0};
	struct d4_fed_wrec recs[NREC], r;
	const uint8_t *out;
	size_t len;
	build(&w, recs, &out, &len);
	corpus_write("certs_12.d4fb", out, len);
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	ck_assert_int_eq(d4_fed_batch_open(out, len, &h, &it), 0);
	ck_assert_uint_eq(h.kind, D4_FED_KIND_CERTS);
	ck_assert_uint_eq(h.nrecords, NREC);
	for (unsigned i = 0; i < NREC; i++) {
		ck_assert_int_eq(d4_fed_batch_next(&it, &r), 1);
		cert_eq(&recs[i], &r);
		/* zero-copy: the DER points into the batch */
		for (unsigned k = 0; k < r.cert.n_certs; k++)
			ck_assert(r.cert.certs[k].der > out && r.cert.certs[k].der + r.cert.certs[k].len <= out + len);
	}
	ck_assert_int_eq(d4_fed_batch_next(&it, &r), 0);
	ck_assert_int_eq(d4_fed_batch_next(&it, &r), 0);
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, D4_FED_KIND_CERTS, SENDER, NULL, 0), 0);
	ck_assert_int_eq(d4_fed_wbuf_finish(&w, NULL, 0, &out, &len), 0);
	corpus_write("certs_empty.d4fb", out, len);
	ck_assert_int_eq(d4_fed_batch_open(out, len, &h, &it), 0);
	ck_assert_int_eq(d4_fed_batch_next(&it, &r), 0);
	d4_fed_wbuf_free(&w);
}
END_TEST

/* Every proper prefix is refused, and one byte more too. */
START_TEST(test_truncations)
{
	struct d4_fed_wbuf w = {0};
	struct d4_fed_wrec recs[NREC];
	const uint8_t *out;
	size_t len;
	build(&w, recs, &out, &len);
	unsigned n;
	ck_assert_int_eq(walk(out, len, &n, NULL, 0), 0);
	ck_assert_uint_eq(n, NREC);
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *p = malloc(cut ? cut : 1);
		ck_assert_ptr_nonnull(p);
		memcpy(p, out, cut);
		int rc = walk(p, cut, &n, NULL, 0);
		free(p);
		ck_assert_msg(rc == D4_ETRUNC || rc == D4_EPROTO, "cut at %zu of %zu: %d", cut, len, rc);
	}
	uint8_t *copy = malloc(len + 1);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, out, len);
	copy[len] = 0;
	char why[128];
	ck_assert_int_eq(walk(copy, len + 1, &n, why, sizeof(why)), D4_EPROTO);
	free(copy);
	d4_fed_wbuf_free(&w);
}
END_TEST

/* One record r alone in a batch: the encoder's answer (it runs the
 * decoder over what it wrote, so a refused field is the decoder's check). */
static int add_one(const struct d4_fed_wrec *r)
{
	struct d4_fed_wbuf w = {0};
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, D4_FED_KIND_CERTS, SENDER, NULL, 0), 0);
	int rc = d4_fed_wbuf_add(&w, r);
	d4_fed_wbuf_free(&w);
	return rc;
}

/* A valid one-record batch, patched at a byte of its record, decoded:
 * the error and its reason. The record's content starts at `at` (after a
 * provenance of a stripped record: tlp, flags, has_org, nsensors,
 * has_origin, nvia). */
static int patched(const struct d4_fed_wrec *r, size_t off, uint8_t v, char *why, size_t whylen)
{
	struct d4_fed_wbuf w = {0};
	const uint8_t *out;
	size_t len;
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, D4_FED_KIND_CERTS, SENDER, NULL, 0), 0);
	ck_assert_int_eq(d4_fed_wbuf_add(&w, r), 0);
	ck_assert_int_eq(d4_fed_wbuf_finish(&w, NULL, 0, &out, &len), 0);
	/* header: magic 4, version, kind, sender 16, u16 0, u16 0, u32, u16 */
	size_t at = 32 + off;
	ck_assert_uint_lt(at, len);
	uint8_t *b = malloc(len);
	ck_assert_ptr_nonnull(b);
	memcpy(b, out, len);
	b[at] = v;
	unsigned n;
	int rc = walk(b, len, &n, why, whylen);
	free(b);
	d4_fed_wbuf_free(&w);
	return rc;
}

START_TEST(test_field_checks)
{
	setup();
	struct d4_fed_wrec r, base;
	cert_rec(&base, 2); /* stripped, IPv4, ja3 without string, sni, no ja4, 2 certs */
	ck_assert_int_eq(add_one(&base), 0);
	base.cert.ja4 = "t13d1516h2_8daaf6152771_e5627efa2ab1";
	base.cert.ja4_len = strlen(base.cert.ja4);
	ck_assert_int_eq(add_one(&base), 0);

	r = base;
	r.cert.server_port = 0;
	ck_assert_int_eq(add_one(&r), D4_EINVAL);
	r = base;
	r.cert.ja3 = "771,1-2,3";
	r.cert.ja3_len = strlen(r.cert.ja3); /* not the string of its MD5 */
	ck_assert_int_eq(add_one(&r), D4_EINVAL);
	r = base;
	r.cert.has_ja3 = 0;
	r.cert.ja3 = JA3;
	r.cert.ja3_len = strlen(JA3); /* a string without its MD5 */
	ck_assert_int_eq(add_one(&r), D4_EINVAL);
	r = base;
	r.cert.has_ja3s = 1;
	r.cert.ja3s = JA3S;
	r.cert.ja3s_len = strlen(JA3S);
	r.cert.ja3s = "771,abc";
	r.cert.ja3s_len = 7; /* not digits */
	ck_assert_int_eq(add_one(&r), D4_EINVAL);
	r = base;
	r.cert.sni = "WWW.example.com";
	r.cert.sni_len = strlen(r.cert.sni);
	ck_assert_int_eq(add_one(&r), D4_EINVAL);
	r = base;
	r.cert.sni = "a b";
	r.cert.sni_len = 3;
	ck_assert_int_eq(add_one(&r), D4_EINVAL);
	r = base;
	r.cert.ja4 = "T13d";
	r.cert.ja4_len = 4;
	ck_assert_int_eq(add_one(&r), D4_EINVAL);
	r = base;
	r.cert.ja4_len = D4_FED_JA4_MAX + 1;
	ck_assert_int_eq(add_one(&r), D4_EINVAL);
	r = base;
	r.cert.time_first = r.cert.time_last + 1;
	ck_assert_int_eq(add_one(&r), D4_EINVAL);
	r = base;
	r.cert.count = 0;
	ck_assert_int_eq(add_one(&r), D4_EINVAL);
	r = base;
	r.cert.n_certs = D4_FED_CERT_CHAIN + 1;
	ck_assert_int_eq(add_one(&r), D4_EINVAL);
	r = base;
	r.cert.certs[1].len = 0;
	ck_assert_int_eq(add_one(&r), D4_EINVAL);
	r = base;
	r.cert.certs[1].len = D4_FED_CERT_DER + 1;
	ck_assert_int_eq(add_one(&r), D4_EINVAL);
	r = base;
	r.cert.certs[0].len = (uint32_t)LEN_A - 1; /* the DER's own length disagrees */
	ck_assert_int_eq(add_one(&r), D4_EINVAL);
	static const uint8_t not_seq[] = {0x31, 0x03, 0x02, 0x01, 0x00};
	r = base;
	r.cert.certs[1].der = not_seq;
	r.cert.certs[1].len = sizeof(not_seq);
	ck_assert_int_eq(add_one(&r), D4_EINVAL);
	static const uint8_t long_form[] = {0x30, 0x81, 0x03, 0x02, 0x01, 0x00}; /* not minimal */
	r = base;
	r.cert.certs[1].der = long_form;
	r.cert.certs[1].len = sizeof(long_form);
	ck_assert_int_eq(add_one(&r), D4_EINVAL);
	/* the longest of every field, and 16 certificates, fit */
	static char ja4max[D4_FED_JA4_MAX + 1];
	memset(ja4max, 'a', D4_FED_JA4_MAX);
	static char snimax[D4_FED_SNI_MAX + 1];
	memset(snimax, 'x', D4_FED_SNI_MAX);
	r = base;
	r.cert.ja4 = ja4max;
	r.cert.ja4_len = D4_FED_JA4_MAX;
	r.cert.sni = snimax;
	r.cert.sni_len = D4_FED_SNI_MAX;
	r.cert.n_certs = D4_FED_CERT_CHAIN;
	for (unsigned k = 0; k < D4_FED_CERT_CHAIN; k++) {
		r.cert.certs[k].der = DER_B;
		r.cert.certs[k].len = (uint32_t)LEN_B;
	}
	ck_assert_int_eq(add_one(&r), 0);

	/* the decoder itself, on patched bytes: content offsets after the
	 * stripped provenance (6 bytes) */
	char why[128];
	r = base;
	r.cert.has_ja3 = r.cert.has_ja3s = 0;
	r.cert.ja3_len = r.cert.ja3s_len = 0;
	r.cert.ja3 = r.cert.ja3s = NULL;
	ck_assert_int_eq(patched(&r, 6, 2, why, sizeof(why)), D4_EPROTO);
	ck_assert_msg(strstr(why, "certs layout 2") != NULL, "%s", why);
	ck_assert_int_eq(patched(&r, 6 + 1 + 16 + 2, 0x80, why, sizeof(why)), D4_EPROTO);
	ck_assert_msg(strstr(why, "unknown certs flags") != NULL, "%s", why);
	/* flags says ja3 present: its MD5 eats 16 bytes of what follows */
	ck_assert_int_lt(patched(&r, 6 + 1 + 16 + 2, 0x01, why, sizeof(why)), 0);
	ck_assert_int_eq(patched(&r, 6 + 1 + 16 + 2 + 1, 0x11, why, sizeof(why)), D4_ETOOBIG);
	ck_assert_msg(strstr(why, "ja3 string of") != NULL, "%s", why);
}
END_TEST

/* ---- the egress policy ---- */

static struct d4_fed_self self_of(void)
{
	struct d4_fed_self s;
	memset(&s, 0, sizeof(s));
	memcpy(s.hub, SELF, 16);
	memcpy(s.org, ORG, 16);
	s.default_tlp = D4_TLP_AMBER;
	return s;
}

static struct d4_fed_partner fpartner(void)
{
	struct d4_fed_partner p;
	memset(&p, 0, sizeof(p));
	memcpy(p.hub, SENDER, 16);
	p.relation = D4_FED_REL_PARTNER;
	p.enabled = 1;
	return p;
}

static enum d4_fed_reason decide(const struct d4_fed_self *s, const struct d4_partner_rule *rule, uint8_t tlp,
				 const uint8_t ip[16], const char *sni, const char *const *names, unsigned nnames)
{
	struct d4_fed_partner p = fpartner();
	struct d4_fed_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.kind = D4_FED_KIND_CERTS;
	rec.tlp = (enum d4_tlp)tlp;
	rec.server_ip = ip;
	rec.sni = sni;
	rec.names = names;
	rec.nnames = nnames;
	struct d4_fed_verdict v;
	d4_fed_decide(s, &p, rule, &rec, &v);
	ck_assert((v.decision == D4_FED_REFUSE) ==
		  (v.reason != D4_FED_R_RELEASED && v.reason != D4_FED_R_EX_CHR_STRIPPED));
	return v.reason;
}

static void net(struct d4_partner_net *n, const char *s)
{
	ck_assert_int_eq(d4_fed_net_parse(s, n), 0);
}

START_TEST(test_policy)
{
	struct d4_fed_self s = self_of();
	struct d4_partner_rule rule;
	memset(&rule, 0, sizeof(rule));
	rule.enabled = 1;
	rule.max_tlp = D4_TLP_GREEN;
	uint8_t pub[16], priv[16], v6[16];
	v4(pub, 192, 0, 2, 10);
	v4(priv, 10, 1, 2, 3);
	static const uint8_t ip6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
	memcpy(v6, ip6, 16);
	const char *names[] = {"www.example.com", "*.cdn.example.net"};

	ck_assert_int_eq(decide(&s, &rule, D4_TLP_GREEN, pub, "www.example.com", names, 2), D4_FED_R_RELEASED);
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_EX_CHR, pub, NULL, NULL, 0), D4_FED_R_ABOVE_MAX_TLP);
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_RED, pub, NULL, NULL, 0), D4_FED_R_TLP_RED);
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_AMBER, pub, NULL, NULL, 0), D4_FED_R_AMBER_NOT_ALLOWED);
	rule.allow_amber = 1;
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_AMBER, pub, NULL, NULL, 0), D4_FED_R_ABOVE_MAX_TLP);
	rule.max_tlp = D4_TLP_AMBER;
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_AMBER, pub, NULL, NULL, 0), D4_FED_R_RELEASED);
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_EX_CHR, pub, NULL, NULL, 0), D4_FED_R_EX_CHR_STRIPPED);
	/* no server address: fail closed */
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_GREEN, NULL, NULL, NULL, 0), D4_FED_R_INVALID);

	/* a private server address stays home unless a rule names it */
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_GREEN, priv, NULL, NULL, 0), D4_FED_R_ADDR_PRIVATE);
	rule.n_net_allow = 1;
	net(&rule.net_allow[0], "10.1.0.0/16");
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_GREEN, priv, NULL, NULL, 0), D4_FED_R_RELEASED);
	/* an allow list: only its nets */
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_GREEN, pub, NULL, NULL, 0), D4_FED_R_ADDR_NET);
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_GREEN, v6, NULL, NULL, 0), D4_FED_R_ADDR_NET);
	rule.n_net_allow = 0;
	rule.n_net_deny = 2;
	net(&rule.net_deny[0], "192.0.2.0/24");
	net(&rule.net_deny[1], "2001:db8::/32");
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_GREEN, pub, NULL, NULL, 0), D4_FED_R_ADDR_NET);
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_GREEN, v6, NULL, NULL, 0), D4_FED_R_ADDR_NET);
	/* the IPv4 form of a v4-mapped address is matched by an IPv6 deny too */
	net(&rule.net_deny[1], "::ffff:192.0.2.0/120");
	rule.n_net_deny = 2;
	net(&rule.net_deny[0], "198.51.100.0/24");
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_GREEN, pub, NULL, NULL, 0), D4_FED_R_ADDR_NET);
	rule.n_net_deny = 0;
	/* the hub's own networks */
	struct d4_partner_net own;
	net(&own, "192.0.2.0/24");
	s.own_nets = &own;
	s.n_own_nets = 1;
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_GREEN, pub, NULL, NULL, 0), D4_FED_R_ADDR_PRIVATE);
	s.own_nets = NULL;
	s.n_own_nets = 0;

	/* zones: a denied zone holding the SNI or a certificate name refuses */
	rule.n_zone_deny = 1;
	strcpy(rule.zone_deny[0], "example.net");
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_GREEN, pub, "www.example.com", names, 1), D4_FED_R_RELEASED);
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_GREEN, pub, "www.example.com", names, 2), D4_FED_R_ZONE);
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_GREEN, pub, "mail.example.net", NULL, 0), D4_FED_R_ZONE);
	rule.n_zone_deny = 0;
	/* an allow list: every name inside, and at least one name */
	rule.n_zone_allow = 1;
	strcpy(rule.zone_allow[0], "example.com");
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_GREEN, pub, "www.example.com", names, 1), D4_FED_R_RELEASED);
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_GREEN, pub, "www.example.com", names, 2), D4_FED_R_ZONE);
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_GREEN, pub, NULL, NULL, 0), D4_FED_R_ZONE);
	ck_assert_int_eq(decide(&s, &rule, D4_TLP_GREEN, pub, NULL, names, 1), D4_FED_R_RELEASED);
	rule.n_zone_allow = 0;

	/* a tuple holding a partner's observation is not passed on */
	struct d4_fed_partner p = fpartner();
	struct d4_fed_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.kind = D4_FED_KIND_CERTS;
	rec.tlp = D4_TLP_GREEN;
	rec.server_ip = pub;
	rec.has_origin = 1;
	memcpy(rec.origin, ORIGIN, 16);
	struct d4_fed_verdict v;
	ck_assert_int_eq(d4_fed_decide(&s, &p, &rule, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_RELAY_NOT_ALLOWED);
	rule.allow_relay = 1;
	ck_assert_int_eq(d4_fed_decide(&s, &p, &rule, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_ORIGIN_NO_ONWARD);
	/* names: stable, appended */
	ck_assert_str_eq(d4_fed_reason_name(D4_FED_R_ADDR_NET), "address-filtered");
	ck_assert_str_eq(d4_fed_reason_name(D4_FED_R_ADDR_PRIVATE), "address-private");
	ck_assert_int_eq(d4_fed_reason_parse("address-private"), D4_FED_R_ADDR_PRIVATE);
	ck_assert_str_eq(d4_fed_kind_name(D4_FED_KIND_CERTS), "certs");
}
END_TEST

/* The dry run describes a certs record: server, SNI, names. */
START_TEST(test_dryrun)
{
	struct d4_fed_self s = self_of();
	struct d4_partner_rule rule;
	memset(&rule, 0, sizeof(rule));
	rule.enabled = 1;
	rule.max_tlp = D4_TLP_GREEN;
	rule.n_zone_deny = 1;
	strcpy(rule.zone_deny[0], "corp.example");
	static const struct {
		const char *json;
		int parse;
		enum d4_fed_reason want;
	} cases[] = {
	    {"{\"kind\":\"certs\",\"tlp\":\"tlp:green\",\"server\":\"192.0.2.1\",\"sni\":\"www.example.com\"}", 0,
	     D4_FED_R_RELEASED},
	    {"{\"kind\":\"certs\",\"tlp\":\"tlp:green\",\"server\":\"2001:db8::1\",\"names\":[\"a.corp.example\"]}", 0,
	     D4_FED_R_ZONE},
	    {"{\"kind\":\"certs\",\"tlp\":\"tlp:green\",\"server\":\"10.0.0.1\"}", 0, D4_FED_R_ADDR_PRIVATE},
	    {"{\"kind\":\"certs\",\"tlp\":\"tlp:green\"}", 0, D4_FED_R_INVALID},
	    {"{\"kind\":\"certs\",\"server\":\"10.0.0.0/8\"}", D4_EINVAL, 0},
	    {"{\"kind\":\"certs\",\"server\":\"192.0.2.1\",\"names\":[1]}", D4_EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[200];
		yajl_val v = yajl_tree_parse(cases[i].json, err, sizeof(err));
		ck_assert_ptr_nonnull(v);
		struct d4_fed_dryrun d;
		int rc = d4_fed_dryrun_parse(v, &d, err, sizeof(err));
		ck_assert_msg(rc == cases[i].parse, "case %zu: %d (%s)", i, rc, err);
		if (rc == 0) {
			struct d4_fed_partner p = fpartner();
			struct d4_fed_verdict vd;
			d4_fed_decide(&s, &p, &rule, &d.rec, &vd);
			ck_assert_msg(vd.reason == cases[i].want, "case %zu: %s", i, d4_fed_reason_name(vd.reason));
		}
		d4_fed_dryrun_free(&d);
		yajl_tree_free(v);
	}
}
END_TEST

/* ---- receiving ---- */

START_TEST(test_receive)
{
	setup();
	struct d4_fed_self s = self_of();
	struct d4_partner *p = calloc(1, sizeof(*p));
	ck_assert_ptr_nonnull(p);
	strcpy(p->name, "peer-b");
	memcpy(p->hub, SENDER, 16);
	p->enabled = 1;
	p->in.kinds = 1u << D4_FED_KIND_CERTS;
	p->in.max_tlp = D4_TLP_EX_CHR;
	struct d4_fed_wbuf w = {0};
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, D4_FED_KIND_CERTS, SENDER, NULL, 0), 0);
	struct d4_fed_wrec r;
	cert_rec(&r, 7); /* green, own, IPv6, ja3 with string; with 2 certificates */
	ck_assert_int_eq(r.prov.tlp, D4_TLP_GREEN);
	r.cert.n_certs = 2;
	r.cert.certs[0].der = DER_A;
	r.cert.certs[0].len = (uint32_t)LEN_A;
	r.cert.certs[1].der = DER_B;
	r.cert.certs[1].len = (uint32_t)LEN_B;
	r.cert.has_ja3s = 1;
	r.cert.ja3s = JA3S;
	r.cert.ja3s_len = strlen(JA3S);
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &r), 0);
	cert_rec(&r, 2); /* ex:chr, stripped */
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &r), 0);
	cert_rec(&r, 4);
	r.prov.tlp = D4_TLP_RED; /* never crosses, whatever the sender did */
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &r), 0);
	cert_rec(&r, 4);
	r.prov.tlp = D4_TLP_AMBER; /* above the inbound cap */
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &r), 0);
	/* a certificate that is a DER SEQUENCE but no certificate: kept
	 * unparsed, as at ingest */
	static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x07};
	cert_rec(&r, 1);
	r.cert.n_certs = 1;
	r.cert.certs[0].der = junk;
	r.cert.certs[0].len = sizeof(junk);
	r.prov.nvia = 0;
	memcpy(r.prov.origin, SENDER, 16);
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &r), 0);
	const uint8_t *out;
	size_t len;
	ck_assert_int_eq(d4_fed_wbuf_finish(&w, TO_POS, 8, &out, &len), 0);
	corpus_write("certs_receive.d4fb", out, len);

	struct d4_fed_rx rx;
	char why[160];
	ck_assert_int_eq(d4_fed_receive_prepare(&s, p, D4_FED_KIND_CERTS, out, len, &rx, why, sizeof(why)),
			 D4_FED_RX_OK);
	ck_assert_uint_eq(rx.nrecords, 5);
	ck_assert_uint_eq(rx.batch.npssl, 3);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_RED], 1);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_ABOVE_TLP], 1);
	ck_assert_uint_eq(rx.certs_unparsed, 1);
	const struct d4_store_pssl_obs *o = &rx.batch.pssl[0];
	/* what this hub parsed, not what anyone said */
	ck_assert_uint_eq(o->n_certs, 2);
	uint8_t sha1[20];
	unsigned l = 0;
	ck_assert(EVP_Digest(DER_A, LEN_A, sha1, &l, EVP_sha1(), NULL));
	ck_assert_int_eq(memcmp(o->certs[0].sha1, sha1, 20), 0);
	ck_assert_uint_eq(o->certs[0].parsed, 1);
	ck_assert_str_eq(o->certs[0].cn, "www.example.com");
	ck_assert_uint_eq(o->certs[0].n_san, 2);
	ck_assert_uint_eq(o->certs[0].san[1].len, strlen("*.cdn.example.net"));
	ck_assert_int_eq(memcmp(o->certs[0].san[1].value, "*.cdn.example.net", o->certs[0].san[1].len), 0);
	ck_assert_ptr_eq(o->certs[0].der, (const uint8_t *)memmem(out, len, DER_A, LEN_A));
	ck_assert_str_eq(o->certs[1].cn, "Example Intermediate CA");
	ck_assert_uint_eq(o->server_port, 450);
	ck_assert_str_eq(o->ja3, JA3);
	ck_assert_str_eq(o->ja3s, JA3S);
	ck_assert_int_eq(memcmp(o->ja3_md5, MD5_JA3, 16), 0);
	ck_assert_str_eq(o->ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
	ck_assert_uint_eq(o->count, 1 + 7ull * 1000003);
	ck_assert_uint_eq(o->tlp, D4_TLP_GREEN);
	ck_assert_int_eq(memcmp(o->origin, SENDER, 16), 0);
	ck_assert_int_eq(memcmp(o->org, ORG, 16), 0);
	ck_assert(o->has_sensor && memcmp(o->sensor, SENSOR, 15) == 0);
	/* stripped: its origin is the sender (never all-zero: that is this
	 * hub), no sensor, no org */
	o = &rx.batch.pssl[1];
	ck_assert_uint_eq(o->tlp, D4_TLP_EX_CHR);
	ck_assert_int_eq(memcmp(o->origin, SENDER, 16), 0);
	ck_assert(!o->has_sensor);
	static const uint8_t zero[16];
	ck_assert_int_eq(memcmp(o->org, zero, 16), 0);
	ck_assert(o->ja3 == NULL && o->has_ja3);
	o = &rx.batch.pssl[2];
	ck_assert_uint_eq(o->n_certs, 1);
	ck_assert_uint_eq(o->certs[0].parsed, 0);
	ck_assert(EVP_Digest(junk, sizeof(junk), sha1, &l, EVP_sha1(), NULL));
	ck_assert_int_eq(memcmp(o->certs[0].sha1, sha1, 20), 0);
	d4_fed_rx_free(&rx);

	/* not accepted from this partner: the whole batch */
	p->in.kinds = 1u << D4_FED_KIND_PDNS;
	ck_assert_int_eq(d4_fed_receive_prepare(&s, p, D4_FED_KIND_CERTS, out, len, &rx, why, sizeof(why)),
			 D4_FED_RX_NOT_ACCEPTED);
	d4_fed_wbuf_free(&w);
	free(p);
}
END_TEST

/* ---- the source over a real store, and a receiving store ---- */

static struct d4_store *store_at(char *dir)
{
	strcpy(dir, "/tmp/d4test_fedcerts_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = dir;
	o.map_size = 256u << 20;
	o.no_sync = 1;
	o.commit_ms = 5;
	struct d4_store *st = NULL;
	ck_assert_int_eq(d4_store_open(&o, &st), 0);
	ck_assert_int_eq(d4_store_writer_start(st), 0);
	return st;
}

static void store_gone(struct d4_store *st, const char *dir)
{
	d4_store_close(st);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* One handshake at A: the chain given unparsed (A's consumer did not parse
 * it: the receiver must). */
static void hs_apply(struct d4_store *st, uint8_t a, uint8_t b, uint8_t c, uint8_t d, const char *sni, uint8_t tlp,
		     const uint8_t *origin)
{
	static struct d4_store_pssl_cert cert[2];
	const uint8_t *ders[2] = {DER_A, DER_B};
	size_t lens[2] = {LEN_A, LEN_B};
	for (int i = 0; i < 2; i++) {
		memset(&cert[i], 0, sizeof(cert[i]));
		unsigned l = 0;
		ck_assert(EVP_Digest(ders[i], lens[i], cert[i].sha1, &l, EVP_sha1(), NULL));
		ck_assert(EVP_Digest(ders[i], lens[i], cert[i].sha256, &l, EVP_sha256(), NULL));
		cert[i].der = ders[i];
		cert[i].der_len = lens[i];
	}
	struct d4_store_pssl_obs o;
	memset(&o, 0, sizeof(o));
	v4(o.server_ip, a, b, c, d);
	o.server_port = 443;
	o.sni = (const uint8_t *)sni;
	o.sni_len = sni ? strlen(sni) : 0;
	o.has_ja3 = o.has_ja3s = 1;
	memcpy(o.ja3_md5, MD5_JA3, 16);
	memcpy(o.ja3s_md5, MD5_JA3S, 16);
	o.ja3 = JA3;
	o.ja3s = JA3S;
	o.ja4 = "t13d1516h2_8daaf6152771_e5627efa2ab1";
	o.certs = cert;
	o.n_certs = 2;
	o.time_first = o.time_last = 1700000000;
	o.count = 1;
	memcpy(o.sensor, SENSOR, 16);
	o.has_sensor = 1;
	o.tlp = tlp;
	if (origin)
		memcpy(o.origin, origin, 16);
	struct d4_store_pssl_update u;
	memset(&u, 0, sizeof(u));
	u.obs = &o;
	u.nobs = 1;
	ck_assert_int_eq(d4_store_pssl_apply(st, &u, NULL), 0);
}

struct seen {
	unsigned n;
	uint64_t count;
	uint8_t nhubs, hub0[16], n_chain, cert0[20];
	char sni[64];
};

static int seen_cb(void *ctx, const struct d4_store_pssl_tuple *t)
{
	struct seen *v = ctx;
	v->n++;
	v->count = t->count;
	v->nhubs = t->nhubs;
	if (t->nhubs)
		memcpy(v->hub0, t->hubs[0], 16);
	v->n_chain = t->n_chain;
	memcpy(v->cert0, t->chain[0], 20);
	snprintf(v->sni, sizeof(v->sni), "%s", t->sni ? t->sni : "");
	return 0;
}

static int cert_seen(void *ctx, const struct d4_store_pssl_cert *c)
{
	ck_assert_uint_eq(c->parsed, 1);
	snprintf(ctx, 64, "%s", c->cn ? c->cn : "");
	return 1;
}

/* B receives a batch of A: prepared as the inbox does, stored through
 * the writer; the store's answer. */
static int receive(struct d4_store *sb, const struct d4_fed_self *self_b, const struct d4_partner *pa,
		   const uint8_t *buf, size_t len, uint64_t *stored)
{
	struct d4_fed_rx rx;
	char why[160];
	ck_assert_int_eq(d4_fed_receive_prepare(self_b, pa, D4_FED_KIND_CERTS, buf, len, &rx, why, sizeof(why)),
			 D4_FED_RX_OK);
	ck_assert_int_eq(d4_store_fed_submit(sb, &rx.batch), 0);
	for (int i = 0; i < 20000 && !__atomic_load_n(&rx.batch.done, __ATOMIC_ACQUIRE); i++)
		usleep(500);
	ck_assert_int_ne(__atomic_load_n(&rx.batch.done, __ATOMIC_ACQUIRE), 0);
	int rc = rx.batch.result;
	*stored = rx.batch.stored;
	d4_fed_rx_free(&rx);
	return rc;
}

START_TEST(test_source_to_store)
{
	setup();
	static const uint8_t HUB_B[16] = {0xb1, 2, 3, [6] = 0x40, [8] = 0x80, [15] = 9};
	static const uint8_t HUB_C[16] = {0xc1, 2, 3, [6] = 0x40, [8] = 0x80, [15] = 9};
	char da[64], db[64];
	struct d4_store *sa = store_at(da), *sb = store_at(db);
	hs_apply(sa, 192, 0, 2, 10, "www.example.com", D4_TLP_GREEN, NULL); /* released */
	hs_apply(sa, 192, 0, 2, 11, NULL, D4_TLP_RED, NULL);		    /* tlp-red */
	hs_apply(sa, 10, 1, 2, 3, NULL, D4_TLP_GREEN, NULL);		    /* address-private */
	hs_apply(sa, 192, 0, 2, 12, NULL, D4_TLP_GREEN, HUB_C);		    /* received: not relayed */

	struct d4_fed_self self_a = self_of(), self_b = self_of();
	memcpy(self_a.hub, SENDER, 16); /* A is the sender B knows */
	memcpy(self_b.hub, HUB_B, 16);
	struct d4_partner *pb = calloc(1, sizeof(*pb)), *pa = calloc(1, sizeof(*pa));
	ck_assert(pb && pa);
	strcpy(pb->name, "b");
	memcpy(pb->hub, HUB_B, 16);
	pb->relation = D4_FED_REL_PARTNER;
	pb->enabled = 1;
	pb->out[D4_FED_KIND_CERTS].enabled = 1;
	pb->out[D4_FED_KIND_CERTS].max_tlp = D4_TLP_GREEN;
	strcpy(pa->name, "a");
	memcpy(pa->hub, SENDER, 16);
	pa->enabled = 1;
	pa->in.kinds = 1u << D4_FED_KIND_CERTS;
	pa->in.max_tlp = D4_TLP_GREEN;

	struct d4_fed_source_opts o;
	memset(&o, 0, sizeof(o));
	o.self = &self_a;
	struct d4_fed_source *src = NULL;
	ck_assert_int_eq(d4_fed_source_new(sa, &o, D4_FED_KIND_CERTS, &src), 0);
	const uint8_t *out;
	size_t len;
	struct d4_fed_counters dec;
	uint32_t records;
	int more;
	ck_assert_int_eq(d4_fed_source_next(src, pb, NULL, 0, &out, &len, &dec, &records, &more), 0);
	ck_assert_uint_eq(records, 1);
	ck_assert_int_eq(more, 0);
	const uint64_t *n = dec.n[D4_FED_KIND_CERTS];
	ck_assert_uint_eq(n[D4_FED_R_RELEASED], 1);
	ck_assert_uint_eq(n[D4_FED_R_TLP_RED], 1);
	ck_assert_uint_eq(n[D4_FED_R_ADDR_PRIVATE], 1);
	ck_assert_uint_eq(n[D4_FED_R_RELAY_NOT_ALLOWED], 1);
	uint64_t lag_r, lag_s;
	ck_assert_int_eq(d4_fed_source_lag(src, NULL, 0, &lag_r, &lag_s), 0);
	ck_assert_uint_eq(lag_r, 4);
	/* the record: what A holds, with the JA3 strings and both certificates */
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	struct d4_fed_wrec r;
	ck_assert_int_eq(d4_fed_batch_open(out, len, &h, &it), 0);
	ck_assert_int_eq(d4_fed_batch_next(&it, &r), 1);
	ck_assert_uint_eq(r.cert.n_certs, 2);
	ck_assert(r.cert.certs[0].len == LEN_A && !memcmp(r.cert.certs[0].der, DER_A, LEN_A));
	ck_assert(r.cert.ja3_len == strlen(JA3) && !memcmp(r.cert.ja3, JA3, r.cert.ja3_len));
	ck_assert(r.cert.sni_len == 15 && !memcmp(r.cert.sni, "www.example.com", 15));
	ck_assert(r.prov.has_origin && !memcmp(r.prov.origin, SENDER, 16));
	ck_assert_uint_eq(r.prov.nsensors, 1);
	uint8_t to[8];
	ck_assert_uint_eq(h.to_len, 8);
	memcpy(to, h.to, 8);
	uint8_t *copy = malloc(len);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, out, len);
	size_t copy_len = len;

	uint64_t stored;
	ck_assert_int_eq(receive(sb, &self_b, pa, copy, copy_len, &stored), 0);
	ck_assert_uint_eq(stored, 1);
	struct seen v;
	memset(&v, 0, sizeof(v));
	ck_assert_int_eq(d4_store_pssl_changes(sb, 0, seen_cb, &v, NULL), 0);
	ck_assert_uint_eq(v.n, 1);
	ck_assert_uint_eq(v.count, 1);
	ck_assert_uint_eq(v.nhubs, 1);
	ck_assert_int_eq(memcmp(v.hub0, SENDER, 16), 0); /* the origin: A */
	ck_assert_str_eq(v.sni, "www.example.com");
	ck_assert_uint_eq(v.n_chain, 2);
	char cn[64] = "";
	ck_assert_int_eq(d4_store_pssl_cert_get(sb, v.cert0, D4_TLP_GREEN, cert_seen, cn), 1);
	ck_assert_str_eq(cn, "www.example.com"); /* parsed by B: A stored it unparsed */
	/* the same batch again: a duplicate, nothing merged twice */
	ck_assert_int_eq(receive(sb, &self_b, pa, copy, copy_len, &stored), D4_EEXIST);
	free(copy);

	/* a second handshake at A: the tuple's state (count 2) goes; B's count
	 * is 2, not 1 + 2 */
	hs_apply(sa, 192, 0, 2, 10, "www.example.com", D4_TLP_GREEN, NULL);
	ck_assert_int_eq(d4_fed_source_next(src, pb, to, 8, &out, &len, &dec, &records, &more), 0);
	ck_assert_uint_eq(records, 1);
	ck_assert_uint_eq(dec.n[D4_FED_KIND_CERTS][D4_FED_R_RELEASED], 1);
	ck_assert_int_eq(receive(sb, &self_b, pa, out, len, &stored), 0);
	ck_assert_uint_eq(stored, 1);
	memset(&v, 0, sizeof(v));
	ck_assert_int_eq(d4_store_pssl_changes(sb, 0, seen_cb, &v, NULL), 0);
	ck_assert_uint_eq(v.n, 1);
	ck_assert_uint_eq(v.count, 2);
	/* nothing new at A: an empty batch at the same position */
	ck_assert_int_eq(d4_fed_batch_open(out, len, &h, &it), 0);
	memcpy(to, h.to, 8);
	ck_assert_int_eq(d4_fed_source_next(src, pb, to, 8, &out, &len, &dec, &records, &more), 0);
	ck_assert_uint_eq(records, 0);
	ck_assert_int_eq(d4_fed_batch_open(out, len, &h, &it), 0);
	ck_assert_int_eq(memcmp(h.to, to, 8), 0);

	d4_fed_source_free(src);
	free(pa);
	free(pb);
	store_gone(sa, da);
	store_gone(sb, db);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("federation certs");
	TCase *tc = tcase_create("certs");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_truncations);
	tcase_add_test(tc, test_field_checks);
	tcase_add_test(tc, test_policy);
	tcase_add_test(tc, test_dryrun);
	tcase_add_test(tc, test_receive);
	tcase_add_test(tc, test_source_to_store);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
