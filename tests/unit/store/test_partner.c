/* Unit tests of the store's partners table: the value codec (round trip,
 * every truncation, trailing bytes, each corrupt field), the record checks,
 * and the table operations (put-if-absent, update keeps created, delete,
 * order, epoch). */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_store.h"
#include "d4_store_partner.h"
#include "d4_util.h"
#include "store_internal.h"

#include <check.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[256];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void setup(void)
{
	d4_log_init("test_store_partner", 0, D4_LOG_ERR);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/d4partner-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static struct d4_store *open_store(void)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/store", tmpdir);
	struct d4_store_opts o;
	struct d4_store *s = NULL;
	memset(&o, 0, sizeof(o));
	o.path = path;
	o.map_size = 64u << 20;
	o.no_sync = 1;
	ck_assert_int_eq(d4_store_open(&o, &s), 0);
	return s;
}

/* A self-signed certificate in PEM, made here so the test needs no file. */
static void make_pem(char *out, size_t n)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	ck_assert_ptr_nonnull(k);
	X509 *x = X509_new();
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"test CA", -1,
				   -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	ck_assert_int_gt(X509_sign(x, k, EVP_sha256()), 0);
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	char *p;
	long len = BIO_get_mem_data(b, &p);
	ck_assert_int_lt(len, (long)n);
	memcpy(out, p, (size_t)len);
	out[len] = '\0';
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
}

static struct d4_partner *full_partner(const char *name)
{
	struct d4_partner *p = calloc(1, sizeof(*p));
	ck_assert_ptr_nonnull(p);
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->url, sizeof(p->url), "https://hub-b.example:8444/fed");
	make_pem(p->ca_pem, sizeof(p->ca_pem));
	p->has_pin = 1;
	for (int i = 0; i < 32; i++)
		p->spki_sha256[i] = (uint8_t)(i * 7);
	p->hub[0] = 0xb1;
	p->org[0] = 0x01;
	p->relation = 2;
	p->direction = D4_PARTNER_BOTH;
	p->enabled = 1;
	p->in.kinds = 3;
	p->in.max_tlp = D4_TLP_AMBER;
	p->in.records_per_s = 5000;
	p->in.bytes_per_day = 10ull << 30;
	for (int k = 0; k < D4_PARTNER_KINDS; k++) {
		struct d4_partner_rule *r = &p->out[k];
		r->enabled = k < 2;
		r->allow_amber = 1;
		r->max_tlp = D4_TLP_AMBER;
		r->type_allow[31] = 0x40;
		r->type_deny[0] = 0x08;
		r->n_ext_allow = 2;
		strcpy(r->ext_allow[0], "ja3-jl");
		strcpy(r->ext_allow[1], "maltrail");
		r->n_ext_deny = 1;
		strcpy(r->ext_deny[0], "secret");
		r->n_sensor_allow = 32; /* a full list */
		for (int i = 0; i < 32; i++)
			r->sensor_allow[i][0] = (uint8_t)i;
		r->n_org_deny = 1;
		r->org_deny[0][15] = 9;
		r->n_zone_deny = 2;
		strcpy(r->zone_deny[0], "corp.example");
		memset(r->zone_deny[1], 'a', D4_PARTNER_ZONE_MAX - 1); /* longest string */
		r->n_rrtype_allow = 3;
		r->rrtype_allow[0] = 1;
		r->rrtype_allow[1] = 28;
		r->rrtype_allow[2] = 65535;
		r->n_net_allow = 1;
		r->net_allow[0] = (struct d4_partner_net){4, 16, {10, 1}};
		r->n_net_deny = 1;
		r->net_deny[0] = (struct d4_partner_net){6, 32, {0x20, 0x01, 0x0d, 0xb8}};
	}
	return p;
}

START_TEST(test_codec_roundtrip)
{
	struct d4_partner *p = full_partner("hub-b");
	p->created = 1700000000;
	p->updated = 1700000100;
	p->in.fetch = 1;
	ck_assert_int_eq(d4_store_partner_check(p, NULL, 0), 0);
	uint8_t *buf = malloc(D4_PARTNER_ENC_MAX);
	size_t n = d4_store_partner_encode(p, buf);
	ck_assert_uint_le(n, D4_PARTNER_ENC_MAX);
	struct d4_partner *q = malloc(sizeof(*q));
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"hub-b", 5, buf, n, q), 0);
	ck_assert_int_eq(memcmp(p, q, sizeof(*p)), 0);
	/* Every truncation and a trailing byte are corrupt. */
	for (size_t cut = 0; cut < n; cut++)
		ck_assert_msg(d4_store_partner_decode((const uint8_t *)"hub-b", 5, buf, cut, q) == D4_ECORRUPT,
			      "cut %zu", cut);
	buf[n] = 0;
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"hub-b", 5, buf, n + 1, q), D4_ECORRUPT);
	/* Keys: empty, too long, not a name. */
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"", 0, buf, n, q), D4_ECORRUPT);
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"a/b", 3, buf, n, q), D4_ECORRUPT);
	char longname[80];
	memset(longname, 'a', sizeof(longname));
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)longname, sizeof(longname), buf, n, q), D4_ECORRUPT);
	free(buf);
	free(p);
	free(q);
}
END_TEST

/* One rule's mix in a v3 value. */
#define MIX_LEN (1u + 1u + 2u + 4u + 4u + 4u + 8u + 4u + 16u)

/* Encodes p, flips one byte at offset off to val, and decodes. */
static int decode_patched(const struct d4_partner *p, size_t off, uint8_t val)
{
	uint8_t *buf = malloc(D4_PARTNER_ENC_MAX);
	struct d4_partner *q = malloc(sizeof(*q));
	size_t n = d4_store_partner_encode(p, buf);
	ck_assert_uint_lt(off, n);
	buf[off] = val;
	int rc = d4_store_partner_decode((const uint8_t *)p->name, strlen(p->name), buf, n, q);
	free(buf);
	free(q);
	return rc;
}

START_TEST(test_codec_corrupt_fields)
{
	/* A small partner so that offsets are easy to compute: no CA, pin. */
	struct d4_partner *p = calloc(1, sizeof(*p));
	strcpy(p->name, "c");
	strcpy(p->url, "https://c");
	p->has_pin = 1;
	p->hub[0] = 1;
	p->org[0] = 2;
	p->relation = 3;
	p->direction = 1;
	p->enabled = 1;
	p->in.max_tlp = D4_TLP_GREEN;
	for (int k = 0; k < D4_PARTNER_KINDS; k++)
		p->out[k].max_tlp = D4_TLP_CLEAR;
	ck_assert_int_eq(d4_store_partner_check(p, NULL, 0), 0);
	ck_assert_int_eq(decode_patched(p, 0, 4), 0); /* unchanged: decodes */
	/* layout: ver(1) url(2+9) ca(2+0) has_pin(1) pin(32) hub(16) org(16) rel dir en created(8) updated(8)
	 * kinds max_tlp rps(4) bpd(8) nrules rule0... */
	size_t o_pin = 1 + 11 + 2, o_hub = o_pin + 1 + 32, o_rel = o_hub + 32, o_in = o_rel + 3 + 16;
	size_t o_nrules = o_in + 1 + 1 + 4 + 8, o_rule0 = o_nrules + 1;
	ck_assert_int_eq(decode_patched(p, 0, 1), D4_ECORRUPT);			    /* v1 with the v4 tail */
	ck_assert_int_eq(decode_patched(p, 0, 2), D4_ECORRUPT);			    /* v2 with the v4 tail */
	ck_assert_int_eq(decode_patched(p, 0, 3), D4_ECORRUPT);			    /* v3 with the v4 tail */
	ck_assert_int_eq(decode_patched(p, 0, 5), D4_ECORRUPT);			    /* version */
	ck_assert_int_eq(decode_patched(p, 1, 0xff), D4_ECORRUPT);		    /* url length */
	ck_assert_int_eq(decode_patched(p, 3, 'h' ^ 0x20), D4_ECORRUPT);	    /* url scheme */
	ck_assert_int_eq(decode_patched(p, 3 + 5, 0), D4_ECORRUPT);		    /* NUL inside url */
	ck_assert_int_eq(decode_patched(p, o_pin, 0), D4_ECORRUPT);		    /* no trust anchor left */
	ck_assert_int_eq(decode_patched(p, o_pin, 2), D4_ECORRUPT);		    /* flag not 0/1 */
	ck_assert_int_eq(decode_patched(p, o_hub, 0), D4_ECORRUPT);		    /* zero hub uuid */
	ck_assert_int_eq(decode_patched(p, o_rel, 0), D4_ECORRUPT);		    /* relation */
	ck_assert_int_eq(decode_patched(p, o_rel, 5), D4_ECORRUPT);		    /* relation */
	ck_assert_int_eq(decode_patched(p, o_rel + 1, 4), D4_ECORRUPT);		    /* direction */
	ck_assert_int_eq(decode_patched(p, o_rel + 2, 2), D4_ECORRUPT);		    /* enabled */
	ck_assert_int_eq(decode_patched(p, o_in, 0x10), D4_ECORRUPT);		    /* unknown inbound kind */
	ck_assert_int_eq(decode_patched(p, o_in + 1, D4_TLP_UNCLEAR), D4_ECORRUPT); /* inbound tlp */
	ck_assert_int_eq(decode_patched(p, o_in + 1, D4_TLP_NONE), D4_ECORRUPT);
	ck_assert_int_eq(decode_patched(p, o_nrules, 3), D4_ECORRUPT);	  /* number of rules */
	ck_assert_int_eq(decode_patched(p, o_rule0, 2), D4_ECORRUPT);	  /* rule enabled */
	ck_assert_int_eq(decode_patched(p, o_rule0 + 3, 0), D4_ECORRUPT); /* rule max_tlp */
	ck_assert_int_eq(decode_patched(p, o_rule0 + 3, 7), D4_ECORRUPT);
	ck_assert_int_eq(decode_patched(p, o_rule0 + 4 + 64, 33), D4_ECORRUPT); /* ext count above the list */
	ck_assert_int_eq(decode_patched(p, o_rule0 + 4 + 64, 1), D4_ECORRUPT);	/* count without its entries */
	/* A network with host bits set, or an unknown family. */
	p->out[1].n_net_deny = 1;
	p->out[1].net_deny[0] = (struct d4_partner_net){4, 8, {10}};
	ck_assert_int_eq(d4_store_partner_check(p, NULL, 0), 0);
	uint8_t *buf = malloc(D4_PARTNER_ENC_MAX);
	size_t n = d4_store_partner_encode(p, buf);
	free(buf);
	/* the net is the last entry of rule 1: family, prefix, addr[16] then rules 2 and 3 */
	size_t rule_min = 4 + 64 + 12 * 1;			    /* flags, type maps, twelve empty counts */
	size_t o_net = n - 1 - 4 * MIX_LEN - 1 - 2 * rule_min - 18; /* in_flags (v2), the mixes (v3), sign_flags (v4) */
	ck_assert_int_eq(decode_patched(p, o_net, 4), 0);
	ck_assert_int_eq(decode_patched(p, o_net, 5), D4_ECORRUPT);
	ck_assert_int_eq(decode_patched(p, o_net + 1, 33), D4_ECORRUPT);
	ck_assert_int_eq(decode_patched(p, o_net + 2 + 1, 1), D4_ECORRUPT);  /* 10.1.0.0/8 */
	ck_assert_int_eq(decode_patched(p, o_net + 2 + 15, 1), D4_ECORRUPT); /* bytes past IPv4 */
	free(p);
}
END_TEST

/* Signed provenance (value v4): the partner's public key, must_sign and
 * onward; a key only with its flag, must_sign only with a key. */
START_TEST(test_codec_sign)
{
	struct d4_partner *p = full_partner("hub-s");
	struct d4_partner *q = malloc(sizeof(*q));
	uint8_t *buf = malloc(D4_PARTNER_ENC_MAX);
	p->has_pubkey = 1;
	for (int i = 0; i < 32; i++)
		p->pubkey[i] = (uint8_t)(i * 7 + 1);
	p->must_sign = 1;
	p->onward = 1;
	ck_assert_int_eq(d4_store_partner_check(p, NULL, 0), 0);
	size_t n = d4_store_partner_encode(p, buf);
	ck_assert_uint_eq(buf[0], 4);
	ck_assert_uint_eq(buf[n - 33], 0x07);
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"hub-s", 5, buf, n, q), 0);
	ck_assert_int_eq(memcmp(p, q, sizeof(*p)), 0);
	for (size_t cut = 0; cut < n; cut++)
		ck_assert_msg(d4_store_partner_decode((const uint8_t *)"hub-s", 5, buf, cut, q) == D4_ECORRUPT,
			      "cut %zu", cut);
	buf[n - 33] = 0x08; /* unknown flag */
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"hub-s", 5, buf, n, q), D4_ECORRUPT);
	buf[n - 33] = 0x02; /* must_sign without a key: and 32 bytes too many */
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"hub-s", 5, buf, n, q), D4_ECORRUPT);
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"hub-s", 5, buf, n - 32, q), D4_ECORRUPT);
	p->has_pubkey = 0;
	char why[128];
	ck_assert_int_eq(d4_store_partner_check(p, why, sizeof(why)), D4_EINVAL);
	ck_assert_str_eq(why, "must_sign needs the partner's pubkey");
	free(buf);
	free(q);
	free(p);
}
END_TEST

/* The inbound fetch flag (value v2) and values written before it (v1:
 * the same fields without the final in_flags byte). */
START_TEST(test_codec_fetch_and_v1)
{
	struct d4_partner *p = full_partner("hub-b");
	struct d4_partner *q = malloc(sizeof(*q));
	uint8_t *buf = malloc(D4_PARTNER_ENC_MAX);
	p->in.fetch = 1;
	size_t n4 = d4_store_partner_encode(p, buf);
	ck_assert_uint_eq(buf[0], 4);
	ck_assert_uint_eq(buf[n4 - 1], 0x00); /* v4's sign_flags: no key */
	/* no rule mixes, no key: a v2 value is the v4 value without its mixes and sign_flags */
	size_t n = n4 - 1 - 4 * MIX_LEN;
	buf[0] = 2;
	ck_assert_uint_eq(buf[n - 1], 0x01);
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"hub-b", 5, buf, n, q), 0);
	ck_assert_uint_eq(q->in.fetch, 1);
	buf[n - 1] = 0x02; /* unknown in_flags bit */
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"hub-b", 5, buf, n, q), D4_ECORRUPT);
	buf[n - 1] = 0x00;
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"hub-b", 5, buf, n, q), 0);
	ck_assert_uint_eq(q->in.fetch, 0);
	/* a v1 value: everything else the same, fetch off */
	buf[0] = 1;
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"hub-b", 5, buf, n - 1, q), 0);
	ck_assert_uint_eq(q->in.fetch, 0);
	p->in.fetch = 0;
	ck_assert_int_eq(memcmp(p, q, sizeof(*p)), 0);
	/* ... and every truncation of it is corrupt */
	for (size_t cut = 0; cut < n - 1; cut++)
		ck_assert_msg(d4_store_partner_decode((const uint8_t *)"hub-b", 5, buf, cut, q) == D4_ECORRUPT,
			      "cut %zu", cut);
	/* the flag is 0 or 1 */
	p->in.fetch = 2;
	char why[128];
	ck_assert_int_eq(d4_store_partner_check(p, why, sizeof(why)), D4_EINVAL);
	ck_assert_str_eq(why, "inbound fetch must be 0 or 1");
	free(buf);
	free(p);
	free(q);
}
END_TEST

/* The rules' mixing (value v3): round trip, values of v2 read as no
 * mixing, and each field the decoder refuses. */
START_TEST(test_codec_mix)
{
	struct d4_partner *p = full_partner("hub-b");
	struct d4_partner *q = malloc(sizeof(*q));
	uint8_t *buf = malloc(D4_PARTNER_ENC_MAX);
	struct d4_partner_mix *m = &p->out[1].mix;
	*m = (struct d4_partner_mix){1, 1, 3, 70000, 3600, 900, 0, 0, {0x11, [15] = 0x22}};
	p->out[2].mix = (struct d4_partner_mix){1, 0, 0, 0, 60, 60, 1ULL << 40, 86400, {0}};
	char why[128];
	ck_assert_int_eq(d4_store_partner_check(p, why, sizeof(why)), 0);
	size_t n = d4_store_partner_encode(p, buf);
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"hub-b", 5, buf, n, q), 0);
	ck_assert_int_eq(memcmp(p, q, sizeof(*p)), 0);
	for (size_t cut = 0; cut < n; cut++)
		ck_assert_msg(d4_store_partner_decode((const uint8_t *)"hub-b", 5, buf, cut, q) == D4_ECORRUPT,
			      "cut %zu", cut);
	/* mixes are rules 0..3 after in_flags, then sign_flags (v4, no key: one
	 * byte): rule 1 starts MIX_LEN after rule 0 */
	size_t end = n - 1, o_mix1 = end - 3 * MIX_LEN;
	buf[o_mix1] = 2; /* enabled */
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"hub-b", 5, buf, n, q), D4_ECORRUPT);
	buf[o_mix1] = 1;
	buf[o_mix1 + 1] = 2; /* pool_sensors */
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"hub-b", 5, buf, n, q), D4_ECORRUPT);
	buf[o_mix1 + 1] = 1;
	buf[o_mix1 + 8] = 0xff; /* delay_s above 7 days */
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"hub-b", 5, buf, n, q), D4_ECORRUPT);
	buf[o_mix1 + 8] = 0;
	buf[o_mix1 + 12] = 0xff; /* coarsen_s above a day */
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"hub-b", 5, buf, n, q), D4_ECORRUPT);
	buf[o_mix1 + 12] = 0;
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"hub-b", 5, buf, n, q), 0);
	buf[end - 4 * MIX_LEN] = 1; /* a mix on the frames rule */
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"hub-b", 5, buf, n, q), D4_ECORRUPT);
	p->out[0].mix.enabled = 1;
	ck_assert_int_eq(d4_store_partner_check(p, why, sizeof(why)), D4_EINVAL);
	ck_assert_str_eq(why, "mix: only the pdns and backscatter rules mix");
	p->out[0].mix.enabled = 0;
	p->out[1].mix.delay_s = D4_PARTNER_MIX_DELAY_MAX + 1;
	ck_assert_int_eq(d4_store_partner_check(p, why, sizeof(why)), D4_EINVAL);
	/* a v2 value of the same partner reads as no mixing */
	p->out[1].mix = (struct d4_partner_mix){0};
	p->out[2].mix = (struct d4_partner_mix){0};
	n = d4_store_partner_encode(p, buf);
	buf[0] = 2;
	ck_assert_int_eq(d4_store_partner_decode((const uint8_t *)"hub-b", 5, buf, n - 1 - 4 * MIX_LEN, q), 0);
	ck_assert_int_eq(memcmp(p, q, sizeof(*p)), 0);
	free(buf);
	free(p);
	free(q);
}
END_TEST

START_TEST(test_check)
{
	struct d4_partner *p = full_partner("hub-b");
	char why[128];
	ck_assert_int_eq(d4_store_partner_check(p, why, sizeof(why)), 0);
	static const char *bad_names[] = {"", "-a", ".a", "a/b", "a b", "é"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		struct d4_partner *q = full_partner(bad_names[i]);
		ck_assert_msg(d4_store_partner_check(q, why, sizeof(why)) == D4_EINVAL, "name '%s'", bad_names[i]);
		free(q);
	}
	ck_assert(d4_store_partner_name_valid("hub-b.example_1"));
	ck_assert(!d4_store_partner_name_valid(NULL));
	strcpy(p->url, "http://hub-b");
	ck_assert_int_eq(d4_store_partner_check(p, why, sizeof(why)), D4_EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "url"));
	strcpy(p->url, "https://hub b");
	ck_assert_int_eq(d4_store_partner_check(p, why, sizeof(why)), D4_EINVAL);
	strcpy(p->url, "https://");
	ck_assert_int_eq(d4_store_partner_check(p, why, sizeof(why)), D4_EINVAL);
	strcpy(p->url, "https://hub-b:8444");
	/* Trust: the PEM must be certificates; without CA a pin is needed. */
	strcpy(p->ca_pem, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
	ck_assert_int_eq(d4_store_partner_check(p, why, sizeof(why)), D4_EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "ca"));
	strcpy(p->ca_pem, "not pem at all");
	ck_assert_int_eq(d4_store_partner_check(p, why, sizeof(why)), D4_EINVAL);
	p->ca_pem[0] = '\0';
	ck_assert_int_eq(d4_store_partner_check(p, why, sizeof(why)), 0);
	p->has_pin = 0;
	ck_assert_int_eq(d4_store_partner_check(p, why, sizeof(why)), D4_EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "trust"));
	p->has_pin = 1;
	memset(p->org, 0, 16);
	ck_assert_int_eq(d4_store_partner_check(p, why, sizeof(why)), D4_EINVAL);
	p->org[3] = 1;
	p->out[2].n_zone_allow = 1;
	strcpy(p->out[2].zone_allow[0], "bad zone");
	ck_assert_int_eq(d4_store_partner_check(p, why, sizeof(why)), D4_EINVAL);
	p->out[2].n_zone_allow = 0;
	p->out[3].n_ext_deny = 33;
	ck_assert_int_eq(d4_store_partner_check(p, why, sizeof(why)), D4_EINVAL);
	p->out[3].n_ext_deny = 0;
	ck_assert_int_eq(d4_store_partner_check(p, why, sizeof(why)), 0);
	ck_assert_int_eq(d4_store_partner_check(NULL, why, sizeof(why)), D4_EINVAL);
	free(p);
}
END_TEST

static int collect(void *ctx, const struct d4_partner *p)
{
	char *names = ctx;
	strcat(names, p->name);
	strcat(names, ",");
	return 0;
}

START_TEST(test_table)
{
	struct d4_store *s = open_store();
	struct d4_partner *p = full_partner("hub-b");
	struct d4_partner *q = malloc(sizeof(*q));
	uint64_t e0 = d4_store_epoch(s);
	ck_assert_int_eq(d4_store_partner_get(s, "hub-b", q), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_partner_update(s, p), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_partner_add(s, p), 0);
	ck_assert_uint_gt(d4_store_epoch(s), e0);
	ck_assert_int_eq(d4_store_partner_add(s, p), D4_EEXIST);
	ck_assert_int_eq(d4_store_partner_get(s, "hub-b", q), 0);
	ck_assert_uint_gt(q->created, 0);
	/* the name may be the output's own */
	ck_assert_int_eq(d4_store_partner_get(s, q->name, q), 0);
	ck_assert_str_eq(q->name, "hub-b");
	uint64_t created = q->created;
	p->created = q->created; /* set by the store */
	p->updated = q->updated;
	ck_assert_int_eq(memcmp(p, q, sizeof(*p)), 0);
	/* update: new fields, creation time kept whatever the caller says */
	p->enabled = 0;
	p->created = 1;
	ck_assert_int_eq(d4_store_partner_update(s, p), 0);
	ck_assert_int_eq(d4_store_partner_get(s, "hub-b", q), 0);
	ck_assert_int_eq(q->enabled, 0);
	ck_assert_uint_eq(q->created, created);
	/* an invalid record is refused and nothing changes */
	p->relation = 0;
	ck_assert_int_eq(d4_store_partner_update(s, p), D4_EINVAL);
	ck_assert_int_eq(d4_store_partner_get(s, "hub-b", q), 0);
	ck_assert_int_eq(q->relation, 2);
	/* order */
	struct d4_partner *a = full_partner("a-hub"), *z = full_partner("z-hub");
	ck_assert_int_eq(d4_store_partner_add(s, z), 0);
	ck_assert_int_eq(d4_store_partner_add(s, a), 0);
	char names[256] = "";
	ck_assert_int_eq(d4_store_partner_foreach(s, collect, names), 0);
	ck_assert_str_eq(names, "a-hub,hub-b,z-hub,");
	/* delete */
	ck_assert_int_eq(d4_store_partner_del(s, "hub-b"), 0);
	ck_assert_int_eq(d4_store_partner_del(s, "hub-b"), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_partner_get(s, "hub-b", q), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_partner_get(s, "a/b", q), D4_EINVAL);
	names[0] = '\0';
	ck_assert_int_eq(d4_store_partner_foreach(s, collect, names), 0);
	ck_assert_str_eq(names, "a-hub,z-hub,");
	d4_store_close(s);
	/* survives a reopen */
	s = open_store();
	ck_assert_int_eq(d4_store_partner_get(s, "z-hub", q), 0);
	d4_store_close(s);
	free(p);
	free(q);
	free(a);
	free(z);
}
END_TEST

START_TEST(test_identity)
{
	struct d4_store *s = open_store();
	uint8_t hub[16], org[16], hub2[16], org2[16], cfg[16];
	unsigned changed = 9;
	ck_assert_int_eq(d4_store_identity_get(s, hub, org), D4_ENOTFOUND);
	/* none configured: generated once (v4), then the same on every call */
	ck_assert_int_eq(d4_store_identity(s, NULL, NULL, hub, org, &changed), 0);
	ck_assert_uint_eq(changed, 0);
	ck_assert(d4_uuid_is_v4(hub) && d4_uuid_is_v4(org) && memcmp(hub, org, 16) != 0);
	ck_assert_int_eq(d4_store_identity(s, NULL, NULL, hub2, org2, &changed), 0);
	ck_assert(memcmp(hub, hub2, 16) == 0 && memcmp(org, org2, 16) == 0);
	d4_store_close(s);
	s = open_store(); /* kept across a reopen */
	ck_assert_int_eq(d4_store_identity_get(s, hub2, org2), 0);
	ck_assert(memcmp(hub, hub2, 16) == 0 && memcmp(org, org2, 16) == 0);
	/* a configured org wins, is kept, and the change is reported */
	memset(cfg, 0x42, 16);
	ck_assert_int_eq(d4_store_identity(s, NULL, cfg, hub2, org2, &changed), 0);
	ck_assert_uint_eq(changed, 2);
	ck_assert(memcmp(hub, hub2, 16) == 0 && memcmp(org2, cfg, 16) == 0);
	ck_assert_int_eq(d4_store_identity(s, NULL, cfg, hub2, org2, &changed), 0);
	ck_assert_uint_eq(changed, 0); /* the same value again: no change */
	ck_assert_int_eq(d4_store_identity(s, cfg, NULL, hub2, org2, &changed), 0);
	ck_assert_uint_eq(changed, 1);
	ck_assert_int_eq(d4_store_identity_get(s, hub2, org2), 0);
	ck_assert(memcmp(hub2, cfg, 16) == 0 && memcmp(org2, cfg, 16) == 0);
	/* a zero uuid is refused */
	memset(cfg, 0, 16);
	ck_assert_int_eq(d4_store_identity(s, cfg, NULL, hub2, org2, NULL), D4_EINVAL);
	d4_store_close(s);
}
END_TEST

/* Writes raw bytes under key in dbi, as a damaged file would hold them. */
static void put_raw(struct d4_store *s, enum store_dbi dbi, const char *key, const void *val, size_t len)
{
	MDB_txn *txn;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val};
	ck_assert_int_eq(mdb_put(txn, s->dbi[dbi], &k, &v, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
}

START_TEST(test_corrupt_records)
{
	struct d4_store *s = open_store();
	uint8_t hub[16], org[16];
	/* a damaged identity is reported, never silently replaced by a new one */
	ck_assert_int_eq(d4_store_identity(s, NULL, NULL, hub, org, NULL), 0);
	static const uint8_t short_v[] = {1, 2, 3};
	uint8_t zero_v[17] = {1}, badver[17] = {2, 9};
	const void *vals[] = {short_v, zero_v, badver};
	size_t lens[] = {sizeof(short_v), sizeof(zero_v), sizeof(badver)};
	for (int i = 0; i < 3; i++) {
		put_raw(s, DBI_SETTINGS, "hub_uuid", vals[i], lens[i]);
		ck_assert_int_eq(d4_store_identity_get(s, hub, org), D4_ECORRUPT);
		ck_assert_int_eq(d4_store_identity(s, NULL, NULL, hub, org, NULL), D4_ECORRUPT);
	}
	/* a configured value repairs it, reported as a change */
	uint8_t cfg[16];
	unsigned changed = 0;
	memset(cfg, 7, 16);
	ck_assert_int_eq(d4_store_identity(s, cfg, NULL, hub, org, &changed), 0);
	ck_assert_uint_eq(changed, 1);
	ck_assert_int_eq(d4_store_identity_get(s, hub, org), 0);
	ck_assert(memcmp(hub, cfg, 16) == 0);
	/* a damaged partner: get and list say so, delete removes it */
	struct d4_partner *p = full_partner("ok"), *q = malloc(sizeof(*q));
	ck_assert_int_eq(d4_store_partner_add(s, p), 0);
	put_raw(s, DBI_PARTNERS, "bad", short_v, sizeof(short_v));
	ck_assert_int_eq(d4_store_partner_get(s, "bad", q), D4_ECORRUPT);
	char names[64] = "";
	ck_assert_int_eq(d4_store_partner_foreach(s, collect, names), D4_ECORRUPT);
	ck_assert_int_eq(d4_store_partner_del(s, "bad"), 0);
	names[0] = '\0';
	ck_assert_int_eq(d4_store_partner_foreach(s, collect, names), 0);
	ck_assert_str_eq(names, "ok,");
	free(p);
	free(q);
	d4_store_close(s);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("store_partner");
	TCase *tc = tcase_create("partner");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_codec_roundtrip);
	tcase_add_test(tc, test_codec_corrupt_fields);
	tcase_add_test(tc, test_codec_fetch_and_v1);
	tcase_add_test(tc, test_codec_mix);
	tcase_add_test(tc, test_codec_sign);
	tcase_add_test(tc, test_check);
	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_identity);
	tcase_add_test(tc, test_corrupt_records);
	suite_add_tcase(su, tc);
	SRunner *sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
