/* One DER certificate -> struct d4_x509 (see d4_x509.h). */
#include "d4_x509.h"

#include "d4_error.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <string.h>

/* Fetched once: an implicit fetch per certificate costs more than the hash. */
static EVP_MD *md_sha1, *md_sha256;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_init(void)
{
	md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int digest(const EVP_MD *md, const void *p, size_t n, uint8_t *out, unsigned want)
{
	unsigned hl = 0;
	return md && EVP_Digest(p, n, out, &hl, md, NULL) && hl == want ? 0 : D4_ENOMEM;
}

/* The outer SEQUENCE's header, read here so that a cut certificate is told
 * apart from garbage (D4_ETRUNC vs D4_EPROTO) whatever OpenSSL says. */
static int outer_len(const uint8_t *p, size_t n, size_t *total)
{
	if (n < 2)
		return D4_ETRUNC;
	if (p[0] != 0x30)
		return D4_EPROTO;
	size_t hdr = 2, body;
	if (p[1] < 0x80) {
		body = p[1];
	} else {
		unsigned k = p[1] & 0x7f;
		if (k == 0 || k > 4) /* indefinite length, or beyond any accepted size */
			return D4_EPROTO;
		if (n < 2 + (size_t)k)
			return D4_ETRUNC;
		body = 0;
		for (unsigned i = 0; i < k; i++)
			body = body << 8 | p[2 + i];
		hdr += k;
	}
	if (body > D4_X509_DER_MAX)
		return D4_ETOOBIG;
	*total = hdr + body;
	return 0;
}

/* Copies at most cap-1 bytes of s and a NUL, never cutting a UTF-8
 * sequence. Returns 1 when s was cut. */
static int copy_cut(char *dst, size_t cap, const char *s, size_t n)
{
	if (n < cap) {
		memcpy(dst, s, n);
		dst[n] = 0;
		return 0;
	}
	size_t k = cap - 1;
	while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
		k--;
	memcpy(dst, s, k);
	dst[k] = 0;
	return 1;
}

/* RFC 4514 text: OpenSSL's RFC 2253 printer (RDNs reversed, specials and
 * control characters escaped) but with UTF-8 kept as UTF-8 (RFC 4514) rather
 * than \XX escapes. Should that printer fail on a string whose bytes do not
 * decode as its type says (OpenSSL already refuses such names when it
 * decodes a certificate, so this is a second line), the name is printed byte
 * by byte, every byte above 0x7f as \XX. Returns 1 when cut, -1 when nothing
 * printed. */
static int name_str(const X509_NAME *nm, char *dst, size_t cap)
{
	static const unsigned long flags[2] = {XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB,
					       (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_UTF8_CONVERT) |
						   ASN1_STRFLGS_IGNORE_TYPE};
	dst[0] = 0;
	if (!nm)
		return -1;
	for (int i = 0; i < 2; i++) {
		BIO *b = BIO_new(BIO_s_mem());
		if (!b)
			return -1;
		int r = X509_NAME_print_ex(b, nm, 0, flags[i]);
		char *s = NULL;
		long n = BIO_get_mem_data(b, &s);
		int rc = -1;
		if (r >= 0 && n >= 0 && (n == 0 || s) && !memchr(s ? s : "", 0, (size_t)n))
			rc = copy_cut(dst, cap, n ? s : "", (size_t)n);
		BIO_free(b);
		if (rc >= 0)
			return rc;
	}
	return -1;
}

/* The last commonName of the subject as UTF-8 (ASN1_STRING_to_UTF8
 * converts from its string type). A value holding a NUL is cut there. */
static void cn_str(const X509_NAME *nm, struct d4_x509 *o)
{
	int last = -1;
	for (int i = -1; nm && (i = X509_NAME_get_index_by_NID(nm, NID_commonName, i)) >= 0;)
		last = i;
	if (last < 0)
		return;
	const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, last));
	unsigned char *u = NULL;
	int n = v ? ASN1_STRING_to_UTF8(&u, v) : -1;
	if (n < 0)
		return;
	const unsigned char *z = n > 0 ? memchr(u, 0, (size_t)n) : NULL;
	size_t k = z ? (size_t)(z - u) : (size_t)n;
	if (copy_cut(o->cn, sizeof(o->cn), n > 0 ? (const char *)u : "", k) || z)
		o->flags |= D4_X509_F_CN_CLIPPED;
	o->has_cn = 1;
	OPENSSL_free(u);
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's
 * algorithm): no timegm, no time_t range, negative before 1970. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int time_unix(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;
	if (!t || !ASN1_TIME_check(t) || !ASN1_TIME_to_tm(t, &tm))
		return -1;
	int64_t y = (int64_t)tm.tm_year + 1900;
	if (y < 0 || y > 9999 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31)
		return -1;
	*out = days_from_civil(y, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday) * 86400 + tm.tm_hour * 3600 +
	       tm.tm_min * 60 + tm.tm_sec;
	return 0;
}

static void serial_hex(const ASN1_INTEGER *sn, struct d4_x509 *o)
{
	static const char hx[] = "0123456789abcdef";
	char *w = o->serial;
	if (!sn)
		return;
	const unsigned char *p = ASN1_STRING_get0_data(sn);
	int n = ASN1_STRING_length(sn);
	if (ASN1_STRING_type(sn) == V_ASN1_NEG_INTEGER)
		*w++ = '-';
	if (n <= 0) { /* zero, as openssl prints it */
		strcpy(w, "00");
		return;
	}
	if (n > D4_X509_SERIAL_MAX) {
		n = D4_X509_SERIAL_MAX;
		o->flags |= D4_X509_F_SERIAL_CLIPPED;
	}
	for (int i = 0; i < n; i++) {
		*w++ = hx[p[i] >> 4];
		*w++ = hx[p[i] & 15];
	}
	*w = 0;
}

/* A big-endian copy of an RSA parameter; 1 when larger than cap (not copied). */
static int bn_param(const EVP_PKEY *pk, const char *name, uint8_t *dst, size_t cap, size_t *len, uint64_t *u64)
{
	BIGNUM *bn = NULL;
	*len = 0;
	if (!EVP_PKEY_get_bn_param(pk, name, &bn) || !bn)
		return 0;
	int n = BN_num_bytes(bn);
	int rc = 0;
	if (n < 0 || (size_t)n > cap)
		rc = 1;
	else
		*len = (size_t)BN_bn2bin(bn, dst);
	if (u64 && BN_num_bits(bn) <= 64) {
		uint64_t v = 0;
		unsigned char b[8];
		int k = BN_bn2binpad(bn, b, 8);
		for (int i = 0; i < k; i++)
			v = v << 8 | b[i];
		*u64 = v;
	}
	BN_free(bn);
	return rc;
}

static void key_info(X509 *x, struct d4_x509 *o)
{
	X509_PUBKEY *xp = X509_get_X509_PUBKEY(x);
	ASN1_OBJECT *alg = NULL;
	if (xp && X509_PUBKEY_get0_param(&alg, NULL, NULL, NULL, xp) && alg)
		OBJ_obj2txt(o->key_alg, sizeof(o->key_alg), alg, 0);
	switch (alg ? OBJ_obj2nid(alg) : NID_undef) {
	case NID_rsaEncryption:
	case NID_rsassaPss: o->key_type = D4_X509_KEY_RSA; break;
	case NID_X9_62_id_ecPublicKey: o->key_type = D4_X509_KEY_EC; break;
	case NID_ED25519: o->key_type = D4_X509_KEY_ED25519; break;
	case NID_dsa: o->key_type = D4_X509_KEY_DSA; break;
	default: o->key_type = D4_X509_KEY_OTHER;
	}
	EVP_PKEY *pk = X509_get0_pubkey(x); /* decoded once and cached in x: not freed here */
	if (!pk) {
		o->flags |= D4_X509_F_KEY_BAD;
		return;
	}
	o->key_bits = EVP_PKEY_get_bits(pk);
	if (o->key_bits < 0)
		o->key_bits = 0;
	if (o->key_type == D4_X509_KEY_RSA) {
		if (bn_param(pk, OSSL_PKEY_PARAM_RSA_N, o->modulus, sizeof(o->modulus), &o->modulus_len, NULL))
			o->flags |= D4_X509_F_MODULUS_CLIPPED;
		if (bn_param(pk, OSSL_PKEY_PARAM_RSA_E, o->exponent, sizeof(o->exponent), &o->exponent_len,
			     &o->exponent_u64))
			o->flags |= D4_X509_F_EXPONENT_CLIPPED;
	} else if (o->key_type == D4_X509_KEY_EC) {
		size_t gl = 0;
		if (!EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, o->curve, sizeof(o->curve), &gl))
			o->curve[0] = 0;
		int nid = o->curve[0] ? OBJ_sn2nid(o->curve) : NID_undef;
		const char *nist = nid != NID_undef ? EC_curve_nid2nist(nid) : NULL;
		if (nist)
			copy_cut(o->curve_nist, sizeof(o->curve_nist), nist, strlen(nist));
	}
}

static void san_info(X509 *x, struct d4_x509 *o)
{
	int crit = 0;
	GENERAL_NAMES *gn = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (!gn) {
		if (crit != -1) /* -1: absent; -2: present twice; else present but undecodable */
			o->flags |= D4_X509_F_SAN_BAD;
		return;
	}
	for (int i = 0; i < sk_GENERAL_NAME_num(gn); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gn, i);
		const ASN1_STRING *s;
		int type;
		if (g->type == GEN_DNS) {
			s = g->d.dNSName;
			type = D4_X509_SAN_DNS;
		} else if (g->type == GEN_IPADD) {
			s = g->d.iPAddress;
			type = D4_X509_SAN_IP;
		} else {
			continue;
		}
		o->san_total++;
		if (o->n_san == D4_X509_SAN_MAX) {
			o->flags |= D4_X509_F_SAN_CLIPPED;
			continue;
		}
		struct d4_x509_san *d = &o->san[o->n_san++];
		int n = s ? ASN1_STRING_length(s) : 0;
		size_t cap = type == D4_X509_SAN_DNS ? D4_X509_SAN_LEN - 1 : 16;
		size_t k = n > 0 ? (size_t)n : 0;
		if (k > cap) {
			k = cap;
			if (type == D4_X509_SAN_DNS)
				o->flags |= D4_X509_F_SAN_NAME_CLIPPED;
		}
		d->type = (uint8_t)type;
		d->len = (uint16_t)k;
		if (k)
			memcpy(d->value, ASN1_STRING_get0_data(s), k);
		d->value[k < sizeof(d->value) ? k : sizeof(d->value) - 1] = 0;
	}
	GENERAL_NAMES_free(gn);
}

static int fill(X509 *x, const uint8_t *der, size_t len, struct d4_x509 *o)
{
	pthread_once(&md_once, md_init);
	if (digest(md_sha1, der, len, o->sha1, 20) || digest(md_sha256, der, len, o->sha256, 32))
		return D4_ENOMEM;
	unsigned char *spki = NULL;
	int sl = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
	if (sl <= 0)
		return D4_ENOMEM; /* d2i_X509 decoded it: only allocation fails here */
	int rc = digest(md_sha256, spki, (size_t)sl, o->spki_sha256, 32);
	OPENSSL_free(spki);
	if (rc)
		return rc;

	o->version = X509_get_version(x);
	int r = name_str(X509_get_subject_name(x), o->subject, sizeof(o->subject));
	if (r > 0)
		o->flags |= D4_X509_F_SUBJECT_CLIPPED;
	else if (r < 0)
		o->flags |= D4_X509_F_NAME_BAD;
	cn_str(X509_get_subject_name(x), o);
	r = name_str(X509_get_issuer_name(x), o->issuer, sizeof(o->issuer));
	if (r > 0)
		o->flags |= D4_X509_F_ISSUER_CLIPPED;
	else if (r < 0)
		o->flags |= D4_X509_F_NAME_BAD;

	if (time_unix(X509_get0_notBefore(x), &o->not_before))
		o->flags |= D4_X509_F_NOT_BEFORE_BAD;
	if (time_unix(X509_get0_notAfter(x), &o->not_after))
		o->flags |= D4_X509_F_NOT_AFTER_BAD;
	serial_hex(X509_get0_serialNumber(x), o);

	const X509_ALGOR *sa = NULL;
	X509_get0_signature(NULL, &sa, x);
	const ASN1_OBJECT *sobj = NULL;
	if (sa)
		X509_ALGOR_get0(&sobj, NULL, NULL, sa);
	if (sobj)
		OBJ_obj2txt(o->sig_alg, sizeof(o->sig_alg), sobj, 0);

	key_info(x, o);

	o->pathlen = -1;
	int crit = 0;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	if (bc) {
		o->has_bc = 1;
		o->is_ca = bc->ca != 0;
		if (bc->pathlen) {
			long pl = ASN1_INTEGER_get(bc->pathlen);
			o->pathlen = pl >= 0 ? pl : -1;
		}
		BASIC_CONSTRAINTS_free(bc);
	} else if (crit != -1) {
		o->flags |= D4_X509_F_BC_BAD;
	}
	san_info(x, o);
	return 0;
}

int d4_x509_parse(const uint8_t *der, size_t len, struct d4_x509 *out)
{
	if (!der || !out)
		return D4_EINVAL;
	memset(out, 0, sizeof(*out));
	if (len > D4_X509_DER_MAX)
		return D4_ETOOBIG;
	size_t total = 0;
	int rc = outer_len(der, len, &total);
	if (rc)
		return rc;
	if (total > len)
		return D4_ETRUNC;
	if (total < len)
		return D4_EPROTO;
	/* The caller's OpenSSL error queue is left as it was. */
	ERR_set_mark();
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	if (!x || p != der + len) {
		rc = D4_EPROTO;
	} else {
		rc = fill(x, der, len, out);
	}
	X509_free(x);
	ERR_pop_to_mark();
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

const char *d4_x509_key_type_name(int key_type)
{
	switch (key_type) {
	case D4_X509_KEY_RSA: return "rsa";
	case D4_X509_KEY_EC: return "ec";
	case D4_X509_KEY_ED25519: return "ed25519";
	case D4_X509_KEY_DSA: return "dsa";
	default: return "other";
	}
}
