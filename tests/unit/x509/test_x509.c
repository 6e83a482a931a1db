/* Unit tests of d4_x509_parse. Certificates are made at run time — by the
 * openssl command (RSA 2048 with e = 65537 and e = 3, EC P-256 and P-384,
 * Ed25519, DSA, a CA and a leaf it signs, SANs DNS and IP) and through
 * OpenSSL's API for the odd fields the command cannot make (times before
 * 1970 and in 9999, negative and long serials, many SANs, long names) — and
 * every field is compared with what the openssl command prints for the same
 * DER. Also: the certificates of tests/data/tls/openssl-lo.pcap through
 * d4_tls, every truncation of a valid certificate, and hostile inputs. */
#include "d4_error.h"
#include "d4_tls.h"
#include "d4_x509.h"

#include <check.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char dir[64];
static struct d4_x509 xc;

static void setup(void)
{
	strcpy(dir, "/tmp/d4x509.XXXXXX");
	ck_assert(mkdtemp(dir) != NULL);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)system(cmd);
}

/* Runs a shell command in dir; ck-fails on a non-zero exit. */
static void run(const char *fmt, ...)
{
	char cmd[4096], full[4300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && { %s ; } >/dev/null 2>&1", dir, cmd);
	ck_assert_msg(system(full) == 0, "%s", cmd);
}

/* The standard output of a shell command run in dir, trailing newlines cut. */
static const char *out(const char *fmt, ...)
{
	static char buf[1 << 16];
	char cmd[4096], full[4300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && %s", dir, cmd);
	FILE *f = popen(full, "r");
	ck_assert(f != NULL);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	ck_assert_msg(pclose(f) == 0, "%s", cmd);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = 0;
	return buf;
}

static size_t read_file(const char *name, uint8_t *buf, size_t cap)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s", path);
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

static void write_file(const char *name, const uint8_t *p, size_t n)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	ck_assert(f != NULL);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	fclose(f);
}

static void hex(const uint8_t *p, size_t n, char *dst, int colons, int upper)
{
	const char *hx = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		if (colons && i)
			*dst++ = ':';
		*dst++ = hx[p[i] >> 4];
		*dst++ = hx[p[i] & 15];
	}
	*dst = 0;
}

/* "notBefore=2026-12-07 16:17:12Z" -> Unix seconds, through glibc's timegm
 * (independent of the parser's own calendar arithmetic). */
static int64_t iso_time(const char *s)
{
	struct tm tm = {0};
	const char *eq = strchr(s, '=');
	ck_assert(eq != NULL);
	ck_assert_int_eq(sscanf(eq + 1, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
				&tm.tm_min, &tm.tm_sec),
			 6);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

/* The SAN line openssl prints (-ext subjectAltName), for DNS and IP only. */
static void san_line(const struct d4_x509 *x, char *dst, size_t cap)
{
	size_t w = 0;
	dst[0] = 0;
	for (size_t i = 0; i < x->n_san; i++) {
		const struct d4_x509_san *s = &x->san[i];
		const char *sep = w ? ", " : "";
		if (s->type == D4_X509_SAN_DNS) {
			w += (size_t)snprintf(dst + w, cap - w, "%sDNS:%s", sep, (const char *)s->value);
		} else if (s->len == 4) {
			w += (size_t)snprintf(dst + w, cap - w, "%sIP Address:%u.%u.%u.%u", sep, s->value[0],
					      s->value[1], s->value[2], s->value[3]);
		} else {
			ck_assert_uint_eq(s->len, 16);
			w += (size_t)snprintf(dst + w, cap - w, "%sIP Address:", sep);
			for (int k = 0; k < 8; k++)
				w += (size_t)snprintf(dst + w, cap - w, "%s%X", k ? ":" : "",
						      (unsigned)(s->value[2 * k] << 8 | s->value[2 * k + 1]));
		}
		ck_assert(w < cap);
	}
}

/* Parses the DER file `name` and compares every field with the openssl
 * command's view of it. Returns with xc holding the parse. */
static void check_cli(const char *name)
{
	static uint8_t der[1 << 20];
	static char exp[1 << 16], got[1 << 15];
	size_t n = read_file(name, der, sizeof(der));
	ck_assert_int_eq(d4_x509_parse(der, n, &xc), 0);
	const char *x = "openssl x509 -inform DER -noout -in";

	hex(xc.sha1, 20, got, 1, 1);
	snprintf(exp, sizeof(exp), "sha1 Fingerprint=%s", got);
	ck_assert_str_eq(out("%s %s -fingerprint -sha1", x, name), exp);
	hex(xc.sha256, 32, got, 1, 1);
	snprintf(exp, sizeof(exp), "sha256 Fingerprint=%s", got);
	ck_assert_str_eq(out("%s %s -fingerprint -sha256", x, name), exp);
	hex(xc.spki_sha256, 32, got, 0, 0);
	snprintf(exp, sizeof(exp), "%s  -", got);
	ck_assert_str_eq(out("%s %s -pubkey | openssl pkey -pubin -outform DER | sha256sum", x, name), exp);

	/* openssl prints the serial's magnitude in uppercase, "-" first if negative */
	snprintf(exp, sizeof(exp), "%s", out("%s %s -serial", x, name));
	snprintf(got, sizeof(got), "serial=%s", xc.serial);
	for (char *p = exp; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
	ck_assert_str_eq(got, exp);

	ck_assert_uint_eq(xc.flags & (D4_X509_F_NOT_BEFORE_BAD | D4_X509_F_NOT_AFTER_BAD), 0);
	ck_assert_int_eq(xc.not_before, iso_time(out("%s %s -startdate -dateopt iso_8601", x, name)));
	ck_assert_int_eq(xc.not_after, iso_time(out("%s %s -enddate -dateopt iso_8601", x, name)));

	snprintf(got, sizeof(got), "subject=%s", xc.subject);
	ck_assert_str_eq(out("%s %s -subject -nameopt RFC2253,-esc_msb", x, name), got);
	snprintf(got, sizeof(got), "issuer=%s", xc.issuer);
	ck_assert_str_eq(out("%s %s -issuer -nameopt RFC2253,-esc_msb", x, name), got);

	/* SANs: openssl prints the other kinds too (email, URI): keep DNS and IP */
	snprintf(exp, sizeof(exp), "%s",
		 out("%s %s -ext subjectAltName 2>/dev/null | sed -n 2p | tr ',' '\\n' | sed 's/^ *//' | "
		     "grep -E '^(DNS|IP Address):' | paste -sd, - | sed 's/,/, /g'",
		     x, name));
	san_line(&xc, got, sizeof(got));
	ck_assert_str_eq(got, exp);
	ck_assert_uint_eq(xc.san_total, xc.n_san);

	snprintf(exp, sizeof(exp), "%s",
		 out("%s %s -ext basicConstraints 2>/dev/null | grep -c 'CA:TRUE' || true", x, name));
	ck_assert_int_eq(xc.is_ca, atoi(exp));

	snprintf(exp, sizeof(exp), "%s",
		 out("%s %s -text | grep -m1 'Signature Algorithm:' | sed 's/.*: //'", x, name));
	ck_assert_str_eq(xc.sig_alg, exp);

	if (xc.key_type == D4_X509_KEY_RSA) {
		hex(xc.modulus, xc.modulus_len, got, 0, 1);
		snprintf(exp, sizeof(exp), "Modulus=%s", got);
		ck_assert_str_eq(out("%s %s -modulus", x, name), exp);
		snprintf(exp, sizeof(exp), "%s",
			 out("%s %s -text | grep -m1 'Exponent:' | sed 's/.*Exponent: \\([0-9]*\\).*/\\1/'", x, name));
		ck_assert_uint_eq(xc.exponent_u64, strtoull(exp, NULL, 10));
	}
	if (xc.key_type != D4_X509_KEY_ED25519 && xc.key_type != D4_X509_KEY_OTHER) {
		snprintf(exp, sizeof(exp), "%s",
			 out("%s %s -text | grep -m1 'Public-Key: (' | sed 's/.*(\\([0-9]*\\) bit.*/\\1/'", x, name));
		ck_assert_int_eq(xc.key_bits, atoi(exp));
	}
	if (xc.key_type == D4_X509_KEY_EC) {
		ck_assert_str_eq(out("%s %s -text | grep -m1 'ASN1 OID:' | sed 's/.*: //'", x, name), xc.curve);
		ck_assert_str_eq(out("%s %s -text | grep -m1 'NIST CURVE:' | sed 's/.*: //'", x, name), xc.curve_nist);
	}
}

#define REQ "openssl req -new -x509 -days 30 -nodes -utf8 -sha256"

START_TEST(cli_rsa_ca_and_leaf)
{
	/* a CA (RSA 2048, e = 65537) and a leaf it signs with SANs DNS + IPv4 + IPv6 */
	run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ca.key");
	run(REQ " -key ca.key -subj '/C=LU/O=Example, Inc./CN=Test CA é' -addext "
		"'basicConstraints=critical,CA:TRUE,pathlen:1' -out ca.pem");
	run("openssl x509 -in ca.pem -outform DER -out ca.der");
	check_cli("ca.der");
	ck_assert_int_eq(xc.key_type, D4_X509_KEY_RSA);
	ck_assert_int_eq(xc.key_bits, 2048);
	ck_assert_uint_eq(xc.modulus_len, 256);
	ck_assert_uint_eq(xc.exponent_u64, 65537);
	ck_assert(xc.exponent_len == 3 && xc.exponent[0] == 1 && xc.exponent[1] == 0 && xc.exponent[2] == 1);
	ck_assert(xc.has_bc && xc.is_ca);
	ck_assert_int_eq(xc.pathlen, 1);
	ck_assert_str_eq(xc.subject, "CN=Test CA é,O=Example\\, Inc.,C=LU");
	ck_assert_str_eq(xc.cn, "Test CA é"); /* unescaped UTF-8 */
	ck_assert_str_eq(xc.subject, xc.issuer);
	ck_assert_str_eq(xc.sig_alg, "sha256WithRSAEncryption");
	ck_assert_str_eq(d4_x509_key_type_name(xc.key_type), "rsa");

	run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out leaf.key");
	run("openssl req -new -key leaf.key -subj '/CN=www.leaf.test' -out leaf.csr");
	run("printf 'basicConstraints=CA:FALSE\\nsubjectAltName=DNS:www.leaf.test,DNS:leaf.test,"
	    "IP:192.0.2.7,IP:2001:db8::1,email:ops@leaf.test\\n' > leaf.ext");
	run("openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -sha384 "
	    "-extfile leaf.ext -outform DER -out leaf.der");
	check_cli("leaf.der");
	ck_assert(xc.has_bc && !xc.is_ca);
	ck_assert_int_eq(xc.pathlen, -1);
	ck_assert_str_eq(xc.subject, "CN=www.leaf.test");
	ck_assert(xc.has_cn);
	ck_assert_str_eq(xc.cn, "www.leaf.test");
	ck_assert_str_eq(xc.issuer, "CN=Test CA é,O=Example\\, Inc.,C=LU");
	ck_assert_str_eq(xc.sig_alg, "sha384WithRSAEncryption");
	ck_assert_uint_eq(xc.n_san, 4);
	ck_assert(xc.san[2].type == D4_X509_SAN_IP && xc.san[2].len == 4 && xc.san[2].value[0] == 192);
	ck_assert(xc.san[3].type == D4_X509_SAN_IP && xc.san[3].len == 16 && xc.san[3].value[1] == 0x01);
	ck_assert_uint_eq(xc.flags, 0);
	ck_assert_int_eq(xc.version, 2);
}
END_TEST

START_TEST(cli_rsa_e3)
{
	run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:3 -out k");
	run(REQ " -key k -subj '/CN=e3.test' -addext 'subjectAltName=DNS:e3.test' -outform DER -out c.der");
	check_cli("c.der");
	ck_assert_uint_eq(xc.exponent_u64, 3);
	ck_assert(xc.exponent_len == 1 && xc.exponent[0] == 3);
	ck_assert_int_eq(xc.key_bits, 2048);
	ck_assert_uint_eq(xc.modulus_len, 256);
	ck_assert(xc.modulus[0] & 0x80);
}
END_TEST

START_TEST(cli_ec_ed25519_dsa)
{
	static const struct {
		const char *curve, *sn;
		int bits;
	} c[] = {{"P-256", "prime256v1", 256}, {"P-384", "secp384r1", 384}};
	for (int i = 0; i < 2; i++) {
		run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:%s -pkeyopt ec_param_enc:named_curve "
		    "-out ec.key",
		    c[i].curve);
		run(REQ " -key ec.key -subj '/CN=ec.test' -addext 'subjectAltName=DNS:ec.test,IP:127.0.0.1' "
			"-outform DER -out ec.der");
		check_cli("ec.der");
		ck_assert_int_eq(xc.key_type, D4_X509_KEY_EC);
		ck_assert_str_eq(xc.curve, c[i].sn);
		ck_assert_str_eq(xc.curve_nist, c[i].curve);
		ck_assert_int_eq(xc.key_bits, c[i].bits);
		ck_assert_str_eq(xc.key_alg, "id-ecPublicKey");
		ck_assert_uint_eq(xc.modulus_len, 0);
		ck_assert_uint_eq(xc.n_san, 2);
	}
	run("openssl genpkey -algorithm ED25519 -out ed.key");
	run(REQ " -key ed.key -subj '/CN=ed.test' -outform DER -out ed.der");
	check_cli("ed.der");
	ck_assert_int_eq(xc.key_type, D4_X509_KEY_ED25519);
	ck_assert_str_eq(xc.sig_alg, "ED25519");
	ck_assert_int_eq(xc.key_bits, 256);
	ck_assert_uint_eq(xc.n_san, 0);

	run("openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:1024 -out dsa.param");
	run("openssl genpkey -paramfile dsa.param -out dsa.key");
	run(REQ " -key dsa.key -subj '/CN=dsa.test' -outform DER -out dsa.der");
	check_cli("dsa.der");
	ck_assert_int_eq(xc.key_type, D4_X509_KEY_DSA);
	ck_assert_int_eq(xc.key_bits, 1024);
	ck_assert_str_eq(xc.sig_alg, "dsa_with_SHA256");

	/* a key type without a name of its own here */
	run("openssl genpkey -algorithm ED448 -out ed448.key");
	run(REQ " -key ed448.key -subj '/CN=ed448.test' -outform DER -out ed448.der");
	check_cli("ed448.der");
	ck_assert_int_eq(xc.key_type, D4_X509_KEY_OTHER);
	ck_assert_str_eq(xc.key_alg, "ED448");
	ck_assert_str_eq(d4_x509_key_type_name(xc.key_type), "other");
}
END_TEST

/* Through OpenSSL's API: the fields the openssl command will not make. */
static EVP_PKEY *test_key(void)
{
	static EVP_PKEY *k;
	if (!k)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_assert(k != NULL);
	return k;
}

static size_t make_cert(const char *nb, const char *na, long serial_neg, int serial_bytes, int n_dns, size_t cn_len,
			uint8_t *buf)
{
	X509 *x = X509_new();
	ck_assert(x != NULL);
	X509_set_version(x, 2);
	ASN1_INTEGER *sn = ASN1_INTEGER_new();
	BIGNUM *bn = BN_new();
	BN_zero(bn);
	for (int i = 0; i < serial_bytes; i++) {
		BN_lshift(bn, bn, 8);
		BN_add_word(bn, (BN_ULONG)(0x81 + i));
	}
	BN_set_negative(bn, serial_neg != 0);
	BN_to_ASN1_INTEGER(bn, sn);
	X509_set_serialNumber(x, sn);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	ASN1_TIME *t = ASN1_TIME_new();
	ck_assert(ASN1_TIME_set_string(t, nb));
	X509_set1_notBefore(x, t);
	ck_assert(ASN1_TIME_set_string(t, na));
	X509_set1_notAfter(x, t);
	ASN1_TIME_free(t);
	X509_NAME *nm = X509_NAME_new();
	char *cn = malloc(cn_len + 1);
	for (size_t i = 0; i < cn_len; i++)
		cn[i] = "é,"[i % 3]; /* "é,é,...": two-byte characters and escaped commas */
	cn[cn_len] = 0;
	/* attributes have upper bounds (64 characters for CN): a long name is many RDNs */
	for (size_t off = 0; off < cn_len; off += 30) {
		int k = cn_len - off < 30 ? (int)(cn_len - off) : 30;
		ck_assert(X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (unsigned char *)cn + off, k, -1, 0));
	}
	free(cn);
	X509_set_subject_name(x, nm);
	X509_set_issuer_name(x, nm);
	X509_NAME_free(nm);
	X509_set_pubkey(x, test_key());
	if (n_dns) {
		GENERAL_NAMES *gns = GENERAL_NAMES_new();
		for (int i = 0; i < n_dns; i++) {
			char d[32];
			snprintf(d, sizeof(d), "h%d.test", i);
			GENERAL_NAME *g = GENERAL_NAME_new();
			ASN1_IA5STRING *s = ASN1_IA5STRING_new();
			ASN1_STRING_set(s, d, -1);
			GENERAL_NAME_set0_value(g, GEN_DNS, s);
			sk_GENERAL_NAME_push(gns, g);
		}
		X509_add1_ext_i2d(x, NID_subject_alt_name, gns, 0, 0);
		GENERAL_NAMES_free(gns);
	}
	ck_assert(X509_sign(x, test_key(), EVP_sha256()) > 0);
	unsigned char *p = buf;
	int n = i2d_X509(x, &p);
	ck_assert(n > 0);
	X509_free(x);
	return (size_t)n;
}

START_TEST(odd_fields)
{
	static uint8_t der[1 << 16];
	static char name[2048];
	/* 1950 (UTCTime) and 9999-12-31T23:59:59 (GeneralizedTime), negative serial */
	size_t n = make_cert("500101000000Z", "99991231235959Z", 1, 3, 0, 9, der);
	write_file("a.der", der, n);
	check_cli("a.der");
	ck_assert_int_eq(xc.not_before, -631152000);
	ck_assert_int_eq(xc.not_after, 253402300799);
	ck_assert_str_eq(xc.serial, "-818283");
	ck_assert_str_eq(xc.subject, "CN=é\\,é\\,é\\,");

	/* serial 0, GeneralizedTime before 1950 */
	n = make_cert("18991231235959Z", "20500101000000Z", 0, 0, 0, 3, der);
	write_file("b.der", der, n);
	check_cli("b.der");
	ck_assert_str_eq(xc.serial, "00");
	ck_assert_int_eq(xc.not_before, -2208988801);
	ck_assert_int_eq(xc.not_after, 2524608000);

	/* a serial longer than kept, more SANs than kept, a subject longer than kept */
	n = make_cert("20260101000000Z", "20270101000000Z", 0, 70, 100, 900, der);
	ck_assert_int_eq(d4_x509_parse(der, n, &xc), 0);
	ck_assert(xc.flags & D4_X509_F_SERIAL_CLIPPED);
	ck_assert_uint_eq(strlen(xc.serial), 2 * D4_X509_SERIAL_MAX);
	ck_assert(!strncmp(xc.serial, "818283", 6));
	ck_assert(xc.flags & D4_X509_F_SAN_CLIPPED);
	ck_assert_uint_eq(xc.n_san, D4_X509_SAN_MAX);
	ck_assert_uint_eq(xc.san_total, 100);
	ck_assert_str_eq((const char *)xc.san[63].value, "h63.test");
	ck_assert(xc.flags & D4_X509_F_SUBJECT_CLIPPED);
	ck_assert(xc.flags & D4_X509_F_ISSUER_CLIPPED);
	size_t sl = strlen(xc.subject);
	ck_assert(sl < D4_X509_NAME_MAX && sl > D4_X509_NAME_MAX - 6);
	/* cut at a character boundary: what is kept is a prefix of the whole, valid UTF-8 */
	ck_assert((xc.subject[sl - 1] & 0x80) == 0 || (xc.subject[sl - 1] & 0xc0) == 0x80);
	ck_assert(!strncmp(xc.subject, "CN=é\\,é\\,", 11));
	/* a UTF8String that is not UTF-8 in the names: OpenSSL will not decode
	 * such a name (it canonicalises names on decoding), so the certificate
	 * is refused — OpenSSL's API will not make one either: patched here */
	n = make_cert("20260101000000Z", "20270101000000Z", 0, 1, 0, 3, der);
	int patched = 0;
	for (size_t k = 0; k + 5 <= n; k++)
		if (!memcmp(der + k, "\x0c\x03\xc3\xa9,", 5)) {
			der[k + 2] = 0xff;
			der[k + 3] = 0x01;
			patched++;
		}
	ck_assert_int_eq(patched, 2);
	ck_assert_int_eq(d4_x509_parse(der, n, &xc), D4_EPROTO);
	/* the same bytes as a T61String (no encoding checked: bytes above 0x7f
	 * and control characters are escaped) */
	for (size_t k = 0; k + 5 <= n; k++)
		if (!memcmp(der + k, "\x0c\x03\xff\x01,", 5))
			der[k] = 0x14;
	ck_assert_int_eq(d4_x509_parse(der, n, &xc), 0);
	ck_assert_str_eq(xc.subject, "CN=ÿ\\01\\,"); /* T61String read as Latin-1, as OpenSSL does */
	ck_assert_str_eq(xc.subject, xc.issuer);
	write_file("t61.der", der, n);
	snprintf(name, sizeof(name), "subject=%s", xc.subject);
	ck_assert_str_eq(out("openssl x509 -inform DER -in t61.der -noout -subject -nameopt RFC2253,-esc_msb"), name);
	ck_assert_uint_eq(xc.flags, 0);

	n = make_cert("20260101000000Z", "20270101000000Z", 0, 70, 100, 900, der);
	ck_assert_int_eq(d4_x509_parse(der, n, &xc), 0);
	ck_assert_uint_eq(xc.flags & ~(uint32_t)(D4_X509_F_SERIAL_CLIPPED | D4_X509_F_SAN_CLIPPED |
						 D4_X509_F_SUBJECT_CLIPPED | D4_X509_F_ISSUER_CLIPPED),
			  0);
}
END_TEST

/* Keys the openssl command will not make: an RSA modulus above 16384 bits
 * with an exponent above 64 bytes, and an RSA key that does not decode. */
static size_t resign(X509 *x, uint8_t *buf)
{
	ck_assert(X509_sign(x, test_key(), EVP_sha256()) > 0);
	unsigned char *p = buf;
	int n = i2d_X509(x, &p);
	ck_assert(n > 0);
	return (size_t)n;
}

/* The subject's commonName: the last of several, none, one holding a NUL,
 * one longer than kept, a BMPString converted to UTF-8. */
static size_t cert_with_name(X509_NAME *nm, uint8_t *buf)
{
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_subject_name(x, nm);
	X509_set_issuer_name(x, nm);
	X509_NAME_free(nm);
	X509_set_pubkey(x, test_key());
	ck_assert(X509_sign(x, test_key(), EVP_sha256()) > 0);
	unsigned char *p = buf;
	int n = i2d_X509(x, &p);
	ck_assert(n > 0);
	X509_free(x);
	return (size_t)n;
}

START_TEST(common_name)
{
	static uint8_t der[1 << 16];
	/* two CNs (the last one is the name), with an O between them */
	X509_NAME *nm = X509_NAME_new();
	ck_assert(X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)"first.test", -1, -1, 0));
	ck_assert(X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_UTF8, (const unsigned char *)"Org", -1, -1, 0));
	ck_assert(X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)"last.test", -1, -1, 0));
	size_t n = cert_with_name(nm, der);
	ck_assert_int_eq(d4_x509_parse(der, n, &xc), 0);
	ck_assert(xc.has_cn);
	ck_assert_str_eq(xc.cn, "last.test");
	ck_assert_uint_eq(xc.flags & D4_X509_F_CN_CLIPPED, 0);
	/* no CN */
	nm = X509_NAME_new();
	ck_assert(X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_UTF8, (const unsigned char *)"Org", -1, -1, 0));
	n = cert_with_name(nm, der);
	ck_assert_int_eq(d4_x509_parse(der, n, &xc), 0);
	ck_assert(!xc.has_cn);
	ck_assert_str_eq(xc.cn, "");
	/* a NUL inside: cut there, flagged */
	nm = X509_NAME_new();
	ck_assert(
	    X509_NAME_add_entry_by_txt(nm, "CN", V_ASN1_UTF8STRING, (const unsigned char *)"a.test\0.evil", 12, -1, 0));
	n = cert_with_name(nm, der);
	ck_assert_int_eq(d4_x509_parse(der, n, &xc), 0);
	ck_assert(xc.has_cn);
	ck_assert_str_eq(xc.cn, "a.test");
	ck_assert(xc.flags & D4_X509_F_CN_CLIPPED);
	/* longer than kept (a hostile certificate ignores ub-common-name) */
	static char big[600];
	for (size_t i = 0; i < sizeof(big) - 1; i++)
		big[i] = "é."[i % 3];
	nm = X509_NAME_new();
	ck_assert(X509_NAME_add_entry_by_txt(nm, "CN", V_ASN1_UTF8STRING, (const unsigned char *)big, -1, -1, 0));
	n = cert_with_name(nm, der);
	ck_assert_int_eq(d4_x509_parse(der, n, &xc), 0);
	ck_assert(xc.flags & D4_X509_F_CN_CLIPPED);
	size_t cl = strlen(xc.cn);
	ck_assert(cl <= D4_X509_CN_MAX - 1 && cl >= D4_X509_CN_MAX - 3);
	ck_assert(!strncmp(xc.cn, big, cl));
	ck_assert(((unsigned char)big[cl] & 0xc0) != 0x80); /* not cut inside a character */
	/* a BMPString (UTF-16BE) comes out as UTF-8 */
	nm = X509_NAME_new();
	static const unsigned char bmp[] = {0x00, 'x', 0x00, 0xe9};
	ck_assert(X509_NAME_add_entry_by_txt(nm, "CN", V_ASN1_BMPSTRING, bmp, sizeof(bmp), -1, 0));
	n = cert_with_name(nm, der);
	ck_assert_int_eq(d4_x509_parse(der, n, &xc), 0);
	ck_assert_str_eq(xc.cn, "xé");
}
END_TEST

START_TEST(odd_keys)
{
	static uint8_t der[1 << 16];
	size_t n = make_cert("20260101000000Z", "20270101000000Z", 0, 4, 1, 3, der);
	const unsigned char *q = der;
	X509 *x = d2i_X509(NULL, &q, (long)n);
	ck_assert(x != NULL);

	BIGNUM *bn_n = BN_new(), *bn_e = BN_new();
	ck_assert(BN_rand(bn_n, 17000, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD));
	ck_assert(BN_rand(bn_e, 600, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD));
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	OSSL_PARAM_BLD_push_BN(b, "n", bn_n);
	OSSL_PARAM_BLD_push_BN(b, "e", bn_e);
	OSSL_PARAM *prm = OSSL_PARAM_BLD_to_param(b);
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *big = NULL;
	ck_assert(pc && EVP_PKEY_fromdata_init(pc) > 0 && EVP_PKEY_fromdata(pc, &big, EVP_PKEY_PUBLIC_KEY, prm) > 0);
	ck_assert(X509_set_pubkey(x, big));
	n = resign(x, der);
	ck_assert_int_eq(d4_x509_parse(der, n, &xc), 0);
	ck_assert_int_eq(xc.key_type, D4_X509_KEY_RSA);
	ck_assert_int_eq(xc.key_bits, 17000);
	ck_assert_uint_eq(xc.flags, D4_X509_F_MODULUS_CLIPPED | D4_X509_F_EXPONENT_CLIPPED);
	ck_assert_uint_eq(xc.modulus_len, 0);
	ck_assert_uint_eq(xc.exponent_len, 0);
	ck_assert_uint_eq(xc.exponent_u64, 0);
	EVP_PKEY_free(big);
	EVP_PKEY_CTX_free(pc);
	OSSL_PARAM_free(prm);
	OSSL_PARAM_BLD_free(b);

	/* 16384 bits and a 64-byte exponent: kept */
	ck_assert(BN_rand(bn_n, 16384, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD));
	ck_assert(BN_rand(bn_e, 512, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD));
	b = OSSL_PARAM_BLD_new();
	OSSL_PARAM_BLD_push_BN(b, "n", bn_n);
	OSSL_PARAM_BLD_push_BN(b, "e", bn_e);
	prm = OSSL_PARAM_BLD_to_param(b);
	pc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	big = NULL;
	ck_assert(pc && EVP_PKEY_fromdata_init(pc) > 0 && EVP_PKEY_fromdata(pc, &big, EVP_PKEY_PUBLIC_KEY, prm) > 0);
	ck_assert(X509_set_pubkey(x, big));
	n = resign(x, der);
	ck_assert_int_eq(d4_x509_parse(der, n, &xc), 0);
	ck_assert_uint_eq(xc.flags, 0);
	ck_assert_uint_eq(xc.modulus_len, D4_X509_MODULUS_MAX);
	ck_assert_uint_eq(xc.exponent_len, D4_X509_EXPONENT_MAX);
	uint8_t want[D4_X509_MODULUS_MAX];
	ck_assert_int_eq(BN_bn2bin(bn_n, want), D4_X509_MODULUS_MAX);
	ck_assert(!memcmp(xc.modulus, want, D4_X509_MODULUS_MAX));
	ck_assert_int_eq(BN_bn2bin(bn_e, want), D4_X509_EXPONENT_MAX);
	ck_assert(!memcmp(xc.exponent, want, D4_X509_EXPONENT_MAX));
	write_file("big.der", der, n);
	check_cli("big.der");
	EVP_PKEY_free(big);
	EVP_PKEY_CTX_free(pc);
	OSSL_PARAM_free(prm);
	OSSL_PARAM_BLD_free(b);
	BN_free(bn_n);
	BN_free(bn_e);

	/* rsaEncryption over bytes that are no RSA key: the type from the OID, the rest still reported */
	unsigned char *junk = OPENSSL_malloc(5);
	memcpy(junk, "\x30\x03\x02\x01\x00", 5);
	ck_assert(X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), OBJ_nid2obj(NID_rsaEncryption), V_ASN1_NULL, NULL,
					 junk, 5));
	n = resign(x, der);
	X509_free(x);
	ck_assert_int_eq(d4_x509_parse(der, n, &xc), 0);
	ck_assert_int_eq(xc.key_type, D4_X509_KEY_RSA);
	ck_assert_str_eq(xc.key_alg, "rsaEncryption");
	ck_assert_uint_eq(xc.flags, D4_X509_F_KEY_BAD);
	ck_assert_int_eq(xc.key_bits, 0);
	ck_assert_uint_eq(xc.modulus_len, 0);
	ck_assert_str_eq(xc.subject, "CN=é\\,");
	ck_assert_uint_eq(xc.n_san, 1);
	ck_assert_str_eq(xc.sig_alg, "ecdsa-with-SHA256");
}
END_TEST

/* Fields OpenSSL decodes but cannot make sense of: the rest is reported. */
START_TEST(odd_extensions_and_times)
{
	static uint8_t der[1 << 16];
	size_t n = make_cert("20260101000000Z", "20270101000000Z", 0, 2, 2, 3, der);
	const unsigned char *q = der;
	X509 *x = d2i_X509(NULL, &q, (long)n);
	ck_assert(x != NULL);
	/* a second subjectAltName and two basicConstraints */
	GENERAL_NAMES *gns = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	ck_assert(gns != NULL);
	ck_assert(X509_add1_ext_i2d(x, NID_subject_alt_name, gns, 0, X509V3_ADD_APPEND) == 1);
	GENERAL_NAMES_free(gns);
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	bc->ca = 0xff;
	ck_assert(X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_APPEND) == 1);
	ck_assert(X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_APPEND) == 1);
	BASIC_CONSTRAINTS_free(bc);
	n = resign(x, der);
	X509_free(x);
	ck_assert_int_eq(d4_x509_parse(der, n, &xc), 0);
	ck_assert_uint_eq(xc.flags, D4_X509_F_SAN_BAD | D4_X509_F_BC_BAD);
	ck_assert_uint_eq(xc.n_san, 0);
	ck_assert(!xc.has_bc && !xc.is_ca);
	ck_assert_str_eq(xc.subject, "CN=é\\,");
	ck_assert_int_eq(xc.not_before, 1767225600);

	/* month 13 in notBefore, hour 25 in notAfter (the DER patched: the API checks times) */
	n = make_cert("20260101000000Z", "20270101000000Z", 0, 2, 2, 3, der);
	int patched = 0;
	for (size_t k = 0; k + 13 <= n; k++) {
		if (!memcmp(der + k, "260101000000Z", 13)) {
			memcpy(der + k, "261301000000Z", 13);
			patched++;
		} else if (!memcmp(der + k, "270101000000Z", 13)) {
			memcpy(der + k, "270101250000Z", 13);
			patched++;
		}
	}
	ck_assert_int_eq(patched, 2);
	ck_assert_int_eq(d4_x509_parse(der, n, &xc), 0);
	ck_assert_uint_eq(xc.flags, D4_X509_F_NOT_BEFORE_BAD | D4_X509_F_NOT_AFTER_BAD);
	ck_assert(xc.not_before == 0 && xc.not_after == 0);
	ck_assert_uint_eq(xc.n_san, 2);
	ck_assert_str_eq((const char *)xc.san[1].value, "h1.test");
	ck_assert_str_eq(xc.serial, "8182");
}
END_TEST

START_TEST(truncations_and_garbage)
{
	static uint8_t der[1 << 16];
	size_t n = make_cert("20260101000000Z", "20270101000000Z", 0, 8, 3, 9, der);
	ck_assert_int_eq(d4_x509_parse(der, n, &xc), 0);
	/* every strict prefix, in an exact-size heap copy (ASan sees any overread) */
	for (size_t k = 0; k < n; k++) {
		uint8_t *p = malloc(k ? k : 1);
		memcpy(p, der, k);
		ck_assert_int_eq(d4_x509_parse(p, k, &xc), D4_ETRUNC);
		ck_assert_uint_eq(xc.n_san, 0);
		free(p);
	}
	/* a trailing byte */
	der[n] = 0;
	ck_assert_int_eq(d4_x509_parse(der, n + 1, &xc), D4_EPROTO);
	/* inner garbage under a valid outer length: every single-byte change parses or is refused */
	for (size_t k = 4; k < n; k++) {
		uint8_t *p = malloc(n);
		memcpy(p, der, n);
		p[k] ^= 0x5a;
		int rc = d4_x509_parse(p, n, &xc);
		ck_assert_msg(rc == 0 || rc == D4_EPROTO, "byte %zu: %d", k, rc);
		free(p);
	}
	static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};
	ck_assert_int_eq(d4_x509_parse(junk, sizeof(junk), &xc), D4_EPROTO);
	static const uint8_t notseq[] = {0x04, 0x00};
	ck_assert_int_eq(d4_x509_parse(notseq, sizeof(notseq), &xc), D4_EPROTO);
	static const uint8_t indef[] = {0x30, 0x80, 0x00, 0x00};
	ck_assert_int_eq(d4_x509_parse(indef, sizeof(indef), &xc), D4_EPROTO);
	static const uint8_t huge_len[] = {0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x00};
	ck_assert_int_eq(d4_x509_parse(huge_len, sizeof(huge_len), &xc), D4_ETOOBIG);
	static const uint8_t five[] = {0x30, 0x85, 1, 0, 0, 0, 0};
	ck_assert_int_eq(d4_x509_parse(five, sizeof(five), &xc), D4_EPROTO);
	uint8_t *big = calloc(D4_X509_DER_MAX + 1, 1);
	ck_assert_int_eq(d4_x509_parse(big, D4_X509_DER_MAX + 1, &xc), D4_ETOOBIG);
	free(big);
	ck_assert_int_eq(d4_x509_parse(NULL, 0, &xc), D4_EINVAL);
	ck_assert_int_eq(d4_x509_parse(der, n, NULL), D4_EINVAL);
}
END_TEST

/* The certificates of the fixture capture, as d4_tls hands them out. */
struct cap_ctx {
	int certs;
	char sha256[8][65];
};

static int on_hs(void *ud, const struct d4_tls_handshake *h)
{
	struct cap_ctx *c = ud;
	for (size_t i = 0; i < h->n_certs; i++) {
		char name[32];
		snprintf(name, sizeof(name), "cap%d.der", c->certs);
		write_file(name, h->certs[i].der, h->certs[i].len);
		check_cli(name);
		ck_assert(c->certs < 8);
		hex(xc.sha256, 32, c->sha256[c->certs], 0, 0);
		c->certs++;
	}
	return 0;
}

START_TEST(capture_certs)
{
	char path[4096], err[PCAP_ERRBUF_SIZE];
	const char *dd = getenv("D4_TEST_DATA");
	snprintf(path, sizeof(path), "%s/tls/openssl-lo.pcap", dd ? dd : "tests/data");
	pcap_t *pc = pcap_open_offline(path, err);
	ck_assert_msg(pc != NULL, "%s: %s", path, err);
	struct cap_ctx c = {0};
	struct d4_tls *t = d4_tls_new(NULL, on_hs, &c);
	ck_assert(t != NULL);
	struct pcap_pkthdr *ph;
	const u_char *data;
	while (pcap_next_ex(pc, &ph, &data) == 1)
		ck_assert_int_eq(d4_tls_frame(t, pcap_datalink(pc),
					      (uint64_t)ph->ts.tv_sec * 1000000u + (uint64_t)ph->ts.tv_usec, data,
					      ph->caplen),
				 0);
	ck_assert_int_eq(d4_tls_flush(t), 0);
	d4_tls_free(t);
	pcap_close(pc);
	/* the same certificates as d4-sensor's lines for that capture (CertHash,
	 * the SHA-256 of each certificate, in handshake order): exactly these */
	static char exp[4096], got[4096];
	got[0] = 0;
	for (int i = 0; i < c.certs; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? "\n" : "", c.sha256[i]);
	snprintf(exp, sizeof(exp), "%s",
		 out("grep -o '\"CertHash\":\"[0-9a-f]*\"' '%s/tls/ja3-jl/openssl-lo.d4hub.jsonl' | cut -d'\"' -f4",
		     dd ? dd : "tests/data"));
	ck_assert_str_eq(got, exp);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("x509");
	TCase *tc = tcase_create("x509");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, cli_rsa_ca_and_leaf);
	tcase_add_test(tc, cli_rsa_e3);
	tcase_add_test(tc, cli_ec_ed25519_dsa);
	tcase_add_test(tc, odd_fields);
	tcase_add_test(tc, common_name);
	tcase_add_test(tc, odd_keys);
	tcase_add_test(tc, odd_extensions_and_times);
	tcase_add_test(tc, truncations_and_garbage);
	tcase_add_test(tc, capture_certs);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
