/* Passive-SSL certificate benchmark: certificates/s parsed (analyzers/x509
 * d4_x509_parse) and stored (d4_store_pssl_apply, durable commits) over
 * diverse certificates made in the run with OpenSSL's C API.
 *
 * The certificates: a root CA (RSA 2048), two intermediates (RSA 3072 and
 * EC P-384), and N leaves signed by one of them in turn, each with its own
 * serial, subject, validity and 0 to 40 DNS SANs (and an IP SAN on some).
 * Leaf keys come from a pool made first (key generation, RSA above all, would
 * dominate the run otherwise; a renewed certificate with the key of the last
 * one is common in the wild too): RSA 2048, 3072 and 4096, EC P-256 and
 * P-384, Ed25519. Generation is timed apart and not part of any figure.
 *
 * Then, pinned by the caller to one core:
 *   parse   d4_x509_parse over every DER (REPEAT passes), CPU and wall time;
 *   store   one handshake per leaf (chain: leaf, intermediate) applied in
 *           batches of BATCH handshakes, each apply one durable write
 *           transaction (fdatasync), parsed fields given as the consumer
 *           gives them; certificates stored/s = distinct new certificates
 *           per second of apply;
 *   ingest  the consumer's path on a second store: d4_store_pssl_cert_known,
 *           d4_x509_parse of the unknown ones only, apply (durable);
 *   repeat  the same handshakes again into the first store (every
 *           certificate known: given without DER; the merge path);
 *   nosync  the store pass again on a third store without fsync (MDB_NOSYNC:
 *           the CPU-bound figure).
 * Prints one "key value" line per pass.
 *   d4-bench-pssl-store DIR [N] [BATCH] [REPEAT] */
#include "d4_error.h"
#include "d4_store.h"
#include "d4_store_pssl.h"
#include "d4_x509.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "d4-bench-pssl-store: %s\n", what);
	exit(1);
}

static EVP_PKEY *keygen(int type, int param)
{
	EVP_PKEY *k = NULL;
	if (type == EVP_PKEY_RSA)
		k = EVP_RSA_gen((unsigned)param);
	else if (type == EVP_PKEY_EC)
		k = EVP_EC_gen(param == 384 ? "P-384" : "P-256");
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!k)
		die("key generation");
	return k;
}

static void name_add(X509_NAME *n, const char *f, const char *v)
{
	X509_NAME_add_entry_by_txt(n, f, MBSTRING_UTF8, (const unsigned char *)v, -1, -1, 0);
}

static void ext_add(X509 *x, X509 *issuer, int nid, const char *v)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
	if (!e)
		die("extension");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

/* A certificate for key k, issued by (issuer, ik) or self-signed. */
static X509 *cert_make(EVP_PKEY *k, X509 *issuer, EVP_PKEY *ik, long serial, const char *cn, const char *org, int ca,
		       const char *san, long days)
{
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400L * (serial % 400));
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * days);
	X509_set_pubkey(x, k);
	X509_NAME *n = X509_get_subject_name(x);
	name_add(n, "C", "LU");
	name_add(n, "O", org);
	name_add(n, "CN", cn);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	ext_add(x, issuer ? issuer : x, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
	if (san && san[0])
		ext_add(x, issuer ? issuer : x, NID_subject_alt_name, san);
	if (!X509_sign(x, ik ? ik : k, EVP_PKEY_id(ik ? ik : k) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()))
		die("sign");
	return x;
}

struct der {
	uint8_t *p;
	size_t n;
};

static struct der to_der(X509 *x)
{
	struct der d = {NULL, 0};
	int n = i2d_X509(x, &d.p);
	if (n <= 0)
		die("i2d");
	d.n = (size_t)n;
	return d;
}

/* The store's view of a parsed certificate (pointers into px). */
struct scert {
	struct d4_x509 px;
	struct d4_store_pssl_san san[D4_PSSL_SAN_MAX];
	char cn[256];
};

static void to_store(const struct d4_x509 *px, const uint8_t *der, size_t n, struct scert *sc,
		     struct d4_store_pssl_cert *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->sha1, px->sha1, 20);
	memcpy(c->sha256, px->sha256, 32);
	memcpy(c->spki_sha256, px->spki_sha256, 32);
	c->der = der;
	c->der_len = n;
	c->parsed = 1;
	c->x509_flags = px->flags;
	c->version = (uint8_t)px->version;
	c->subject = px->subject;
	c->issuer = px->issuer;
	c->not_before = px->not_before;
	c->not_after = px->not_after;
	c->serial = px->serial;
	c->sig_alg = px->sig_alg;
	c->key_alg = px->key_alg;
	c->key_type = (uint8_t)px->key_type;
	c->key_bits = (uint32_t)px->key_bits;
	c->modulus = px->modulus_len ? px->modulus : NULL;
	c->modulus_len = px->modulus_len;
	c->exponent = px->exponent_len ? px->exponent : NULL;
	c->exponent_len = px->exponent_len;
	c->curve = px->curve;
	c->is_ca = px->is_ca;
	/* the subject's commonName (RFC 4514: most significant last, so the
	 * leaf's CN comes first) */
	const char *p = strstr(px->subject, "CN=");
	if (p) {
		size_t i = 0;
		for (p += 3; *p && *p != ',' && i + 1 < sizeof(sc->cn); p++)
			sc->cn[i++] = *p;
		sc->cn[i] = 0;
		c->cn = sc->cn;
	}
	for (size_t i = 0; i < px->n_san; i++) {
		sc->san[i].type = px->san[i].type;
		sc->san[i].len = px->san[i].len;
		sc->san[i].value = px->san[i].value;
	}
	c->san = sc->san;
	c->n_san = px->n_san;
}

/* The certificates of one batch parsed already: the consumer parses a
 * certificate seen twice in a batch once (open addressing, 4 x BATCH slots). */
static uint8_t (*seen_set)[20], *seen_used;
static size_t seen_cap;

static void seen_reset(void)
{
	memset(seen_used, 0, seen_cap);
}

static int seen_add(const uint8_t *sha1)
{
	size_t h = ((size_t)sha1[0] << 24 | (size_t)sha1[1] << 16 | (size_t)sha1[2] << 8 | sha1[3]) % seen_cap;
	for (;; h = (h + 1) % seen_cap) {
		if (!seen_used[h]) {
			seen_used[h] = 1;
			memcpy(seen_set[h], sha1, 20);
			return 0;
		}
		if (!memcmp(seen_set[h], sha1, 20))
			return 1;
	}
}

static struct d4_store *store_open(const char *path, int nosync)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = path;
	o.map_size = 8ull << 30;
	o.no_sync = nosync;
	struct d4_store *s;
	int rc = d4_store_open(&o, &s);
	if (rc) {
		fprintf(stderr, "d4-bench-pssl-store: open %s: %s\n", path, d4_strerror(rc));
		exit(1);
	}
	return s;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: d4-bench-pssl-store DIR [N] [BATCH] [REPEAT]\n");
		return 2;
	}
	const char *dir = argv[1];
	size_t N = argc > 2 ? (size_t)atol(argv[2]) : 20000;
	size_t B = argc > 3 ? (size_t)atol(argv[3]) : 1000;
	int R = argc > 4 ? atoi(argv[4]) : 3;
	if (!N || !B || R < 1)
		return 2;
	seen_cap = 4 * B;
	seen_set = malloc(seen_cap * 20);
	seen_used = malloc(seen_cap);
	if (!seen_set || !seen_used)
		die("out of memory");

	/* ---- generation ---- */
	double g0 = now_s();
	EVP_PKEY *rootk = keygen(EVP_PKEY_RSA, 2048), *ik[2] = {keygen(EVP_PKEY_RSA, 3072), keygen(EVP_PKEY_EC, 384)};
	X509 *root = cert_make(rootk, NULL, NULL, 1, "Bench Root CA", "Bench Root", 1, NULL, 3650);
	X509 *inter[2] = {cert_make(ik[0], root, rootk, 2, "Bench RSA CA", "Bench", 1, NULL, 1825),
			  cert_make(ik[1], root, rootk, 3, "Bench EC CA", "Bench", 1, NULL, 1825)};
	/* the leaf key pool: {type, param, how many} */
	static const struct {
		int type, param, n;
		const char *name;
	} pool[] = {{EVP_PKEY_RSA, 2048, 8, "RSA-2048"}, {EVP_PKEY_RSA, 3072, 3, "RSA-3072"},
		    {EVP_PKEY_RSA, 4096, 1, "RSA-4096"}, {EVP_PKEY_EC, 256, 400, "EC-P256"},
		    {EVP_PKEY_EC, 384, 100, "EC-P384"},	 {-1, 0, 300, "Ed25519"}};
	size_t nkeys = 0;
	for (size_t i = 0; i < sizeof(pool) / sizeof(pool[0]); i++)
		nkeys += (size_t)pool[i].n;
	EVP_PKEY **keys = calloc(nkeys, sizeof(*keys));
	const char **kname = calloc(nkeys, sizeof(*kname));
	size_t kk = 0;
	for (size_t i = 0; i < sizeof(pool) / sizeof(pool[0]); i++)
		for (int j = 0; j < pool[i].n; j++) {
			kname[kk] = pool[i].name;
			keys[kk++] = keygen(pool[i].type < 0 ? EVP_PKEY_ED25519 : pool[i].type, pool[i].param);
		}
	double gk = now_s() - g0;
	struct der *der = calloc(N + 3, sizeof(*der));
	struct der dinter[2] = {to_der(inter[0]), to_der(inter[1])};
	static const int sans[] = {1, 2, 3, 0, 5, 2, 10, 1, 40, 4};
	size_t san_total = 0, by_type[6] = {0};
	char san[40 * 48 + 64], cn[64], org[64];
	for (size_t i = 0; i < N; i++) {
		/* spread over the pool so that every key type is well represented:
		 * one leaf in six per type */
		size_t t = i % 6, base = 0;
		for (size_t j = 0; j < t; j++)
			base += (size_t)pool[j].n;
		EVP_PKEY *k = keys[base + (i / 6) % (size_t)pool[t].n];
		by_type[t]++;
		int ns = sans[i % 10];
		snprintf(cn, sizeof(cn), "host%zu.zone%zu.example.com", i, i % 97);
		snprintf(org, sizeof(org), "Bench Org %zu", i % 1000);
		size_t o = 0;
		san[0] = 0;
		for (int j = 0; j < ns; j++)
			o += (size_t)snprintf(san + o, sizeof(san) - o, "%sDNS:%s%d.host%zu.zone%zu.example.com",
					      j ? "," : "", j ? "alt" : "www", j, i, i % 97);
		if (i % 7 == 0)
			snprintf(san + o, sizeof(san) - o, "%sIP:192.0.2.%zu", ns ? "," : "", i % 250);
		san_total += (size_t)ns;
		int which = (int)(i % 2);
		X509 *x =
		    cert_make(k, inter[which], ik[which], (long)(1000 + i), cn, org, 0, san, 90 + (long)(i % 300));
		der[i] = to_der(x);
		X509_free(x);
	}
	double gen = now_s() - g0;
	size_t der_bytes = 0;
	for (size_t i = 0; i < N; i++)
		der_bytes += der[i].n;
	printf("generate certs %zu distinct_keys %zu key_seconds %.2f seconds %.2f der_bytes %zu sans %zu "
	       "rsa2048 %zu rsa3072 %zu rsa4096 %zu p256 %zu p384 %zu ed25519 %zu\n",
	       N, nkeys, gk, gen, der_bytes, san_total, by_type[0], by_type[1], by_type[2], by_type[3], by_type[4],
	       by_type[5]);
	fflush(stdout);

	/* ---- parse ---- */
	struct scert *sc = malloc(N * sizeof(*sc));
	struct scert sci[2];
	if (!sc)
		die("out of memory");
	double pw = 0, pc = 0;
	for (int r = 0; r < R; r++) {
		double t0 = now_s(), c0 = cpu_s();
		for (size_t i = 0; i < N; i++)
			if (d4_x509_parse(der[i].p, der[i].n, &sc[i].px))
				die("parse");
		pw += now_s() - t0;
		pc += cpu_s() - c0;
	}
	for (int j = 0; j < 2; j++)
		if (d4_x509_parse(dinter[j].p, dinter[j].n, &sci[j].px))
			die("parse");
	printf("parse certs %zu passes %d seconds %.3f certs_per_s %.0f cpu_seconds %.3f certs_per_cpu_s %.0f\n", N, R,
	       pw, (double)N * R / pw, pc, (double)N * R / pc);
	fflush(stdout);

	/* ---- the handshakes ---- */
	struct d4_store_pssl_cert *chains = calloc(2 * N, sizeof(*chains));
	struct d4_store_pssl_cert ci[2];
	struct d4_store_pssl_obs *obs = calloc(N, sizeof(*obs));
	for (int j = 0; j < 2; j++)
		to_store(&sci[j].px, dinter[j].p, dinter[j].n, &sci[j], &ci[j]);
	for (size_t i = 0; i < N; i++) {
		to_store(&sc[i].px, der[i].p, der[i].n, &sc[i], &chains[2 * i]);
		chains[2 * i + 1] = ci[i % 2];
		struct d4_store_pssl_obs *o = &obs[i];
		memset(o->server_ip + 10, 0xff, 2);
		o->server_ip[12] = 10;
		o->server_ip[13] = (uint8_t)(i >> 16);
		o->server_ip[14] = (uint8_t)(i >> 8);
		o->server_ip[15] = (uint8_t)i;
		o->server_port = 443;
		o->sni = (const uint8_t *)sc[i].cn;
		o->sni_len = strlen(sc[i].cn);
		o->has_ja3 = o->has_ja3s = 1;
		memset(o->ja3_md5, (int)(i % 50), 16);
		memset(o->ja3s_md5, (int)(i % 20), 16);
		o->ja4 = "t13d1516h2_8daaf6152771_e5627efa2ab1";
		o->certs = &chains[2 * i];
		o->n_certs = 2;
		o->time_first = o->time_last = 1700000000 + i;
		o->tlp = 2;
		o->has_sensor = 1;
		memset(o->sensor, 7, 16);
	}
	char path[4096];
	const char *names[3] = {"store", "ingest", "nosync"};
	for (int pass = 0; pass < 4; pass++) {
		const char *nm = pass == 3 ? "repeat" : names[pass];
		snprintf(path, sizeof(path), "%s/%s", dir, pass == 3 ? "store" : names[pass]);
		struct d4_store *s = store_open(path, pass == 2);
		uint64_t missing_total = 0, parsed = 0;
		double t0 = now_s(), c0 = cpu_s();
		size_t commits = 0;
		static uint8_t(*sha)[20];
		static uint8_t *known;
		if (!sha) {
			sha = malloc(2 * B * 20);
			known = malloc(2 * B);
		}
		static struct d4_x509 tmp;
		for (size_t i = 0; i < N; i += B) {
			size_t n = N - i < B ? N - i : B;
			if (pass == 1) {
				/* the consumer: what is known needs no parse */
				for (size_t j = 0; j < n; j++) {
					memcpy(sha[2 * j], obs[i + j].certs[0].sha1, 20);
					memcpy(sha[2 * j + 1], obs[i + j].certs[1].sha1, 20);
				}
				if (d4_store_pssl_cert_known(s, (const uint8_t(*)[20])sha, 2 * n, known))
					die("cert_known");
				seen_reset();
				for (size_t j = 0; j < 2 * n; j++) {
					if (known[j] || seen_add(sha[j]))
						continue;
					const struct d4_store_pssl_cert *c = &obs[i + j / 2].certs[j % 2];
					if (d4_x509_parse(c->der, c->der_len, &tmp))
						die("parse");
					parsed++;
				}
			}
			if (pass == 3)
				for (size_t j = 0; j < n; j++) {
					chains[2 * (i + j)].der = NULL;
					chains[2 * (i + j) + 1].der = NULL;
				}
			struct d4_store_pssl_update u;
			memset(&u, 0, sizeof(u));
			u.obs = obs + i;
			u.nobs = n;
			uint8_t cur[8] = {0};
			cur[7] = (uint8_t)i;
			u.cursor_name = "pssl/frames";
			u.cursor = cur;
			u.cursor_len = 8;
			uint64_t missing = 0;
			int rc = d4_store_pssl_apply(s, &u, &missing);
			if (rc) {
				fprintf(stderr, "d4-bench-pssl-store: apply: %s\n", d4_strerror(rc));
				return 1;
			}
			missing_total += missing;
			commits++;
		}
		double w = now_s() - t0, c = cpu_s() - c0;
		struct d4_store_pssl_info info;
		d4_store_pssl_info(s, &info);
		printf("%s handshakes %zu certs_stored %llu keys %llu commits %zu batch %zu parsed %llu missing %llu "
		       "seconds %.3f certs_per_s %.0f handshakes_per_s %.0f cpu_seconds %.3f certs_per_cpu_s %.0f "
		       "bytes %llu bytes_per_cert %.0f\n",
		       nm, N, (unsigned long long)info.certs, (unsigned long long)info.keys, commits, B,
		       (unsigned long long)parsed, (unsigned long long)missing_total, w, (double)N / w, (double)N / w,
		       c, (double)N / c, (unsigned long long)info.bytes,
		       info.certs ? (double)info.bytes / (double)info.certs : 0);
		fflush(stdout);
		d4_store_close(s);
	}
	return 0;
}
