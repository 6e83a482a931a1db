/* pssl_api_load — writes handshakes into a stopped hub's store through
 * d4_store_pssl_apply, for the passive-SSL API tests (until then the hub's
 * consumer did not exist; it stays useful to seed exact sets).
 *
 *   pssl_api_load load STORE < LINES
 *
 * One handshake per line, fields separated by tabs:
 *   hs IP PORT SNI JA3 JA3S JA4 TLP FIRST LAST COUNT SENSOR ORG CERTS
 *     SNI, JA3, JA3S (the full strings: their MD5 is computed here), JA4,
 *     SENSOR, ORG: - for none; TLP a tag; FIRST/LAST epoch seconds; CERTS -
 *     or DER files separated by commas, the server's own first. Each
 *     certificate is parsed with analyzers/x509 as the hub's consumer does.
 *   bulk N IP TLP FIRST LAST
 *     N handshakes without certificate or fingerprint on IP, server ports
 *     1..N (N <= 65535), written 1,000 per transaction.
 * Every hs line is its own write transaction (applied in order). */
#include "d4_error.h"
#include "d4_policy.h"
#include "d4_store.h"
#include "d4_store_pssl.h"
#include "d4_util.h"
#include "d4_x509.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int die(const char *what, unsigned long line)
{
	fprintf(stderr, "pssl_api_load: line %lu: %s\n", line, what);
	return 1;
}

static int parse_addr(const char *s, uint8_t out[16])
{
	uint8_t v4[4];
	if (strchr(s, ':'))
		return inet_pton(AF_INET6, s, out) == 1 ? 0 : -1;
	if (inet_pton(AF_INET, s, v4) != 1)
		return -1;
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, v4, 4);
	return 0;
}

static void md5(const char *s, uint8_t out[16])
{
	unsigned n = 0;
	EVP_Digest(s, strlen(s), out, &n, EVP_md5(), NULL);
}

static const char *opt(const char *s)
{
	return strcmp(s, "-") ? s : NULL;
}

/* A certificate file, parsed; the store's view of it points into *x and der. */
struct cert {
	uint8_t *der;
	size_t der_len;
	struct d4_x509 x;
	struct d4_store_pssl_san san[D4_PSSL_SAN_MAX];
};

static int load_cert(const char *path, struct cert *c, struct d4_store_pssl_cert *sc)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	c->der = malloc(D4_PSSL_DER_MAX);
	c->der_len = c->der ? fread(c->der, 1, D4_PSSL_DER_MAX, f) : 0;
	fclose(f);
	if (!c->der_len || d4_x509_parse(c->der, c->der_len, &c->x))
		return -1;
	memset(sc, 0, sizeof(*sc));
	memcpy(sc->sha1, c->x.sha1, 20);
	memcpy(sc->sha256, c->x.sha256, 32);
	memcpy(sc->spki_sha256, c->x.spki_sha256, 32);
	sc->der = c->der;
	sc->der_len = c->der_len;
	sc->parsed = 1;
	sc->x509_flags = c->x.flags;
	sc->version = (uint8_t)c->x.version;
	sc->subject = c->x.subject;
	sc->issuer = c->x.issuer;
	sc->not_before = c->x.not_before;
	sc->not_after = c->x.not_after;
	sc->serial = c->x.serial;
	sc->sig_alg = c->x.sig_alg;
	sc->key_alg = c->x.key_alg;
	sc->key_type = (uint8_t)c->x.key_type;
	sc->key_bits = (uint32_t)c->x.key_bits;
	sc->modulus = c->x.modulus_len ? c->x.modulus : NULL;
	sc->modulus_len = c->x.modulus_len;
	sc->exponent = c->x.exponent_len ? c->x.exponent : NULL;
	sc->exponent_len = c->x.exponent_len;
	sc->curve = c->x.curve;
	sc->is_ca = c->x.is_ca;
	/* the subject's commonName as the consumer indexes it */
	if (c->x.has_cn)
		sc->cn = c->x.cn;
	for (size_t i = 0; i < c->x.n_san && i < D4_PSSL_SAN_MAX; i++) {
		c->san[i].type = c->x.san[i].type;
		c->san[i].len = c->x.san[i].len;
		c->san[i].value = c->x.san[i].value;
	}
	sc->san = c->san;
	sc->n_san = c->x.n_san < D4_PSSL_SAN_MAX ? c->x.n_san : D4_PSSL_SAN_MAX;
	return 0;
}

static int bulk(struct d4_store *st, char **f, unsigned long ln)
{
	unsigned long n = strtoul(f[1], NULL, 10);
	enum d4_tlp tlp = d4_policy_tlp_parse(f[3]);
	struct d4_store_pssl_obs *ob = calloc(1000, sizeof(*ob));
	uint8_t ip[16];
	int ret = 0;
	if (!ob || n == 0 || n > 65535 || parse_addr(f[2], ip) || tlp == D4_TLP_NONE) {
		free(ob);
		return die("bulk: bad count, address or tlp", ln);
	}
	for (unsigned long done = 0; !ret && done < n;) {
		size_t k = 0;
		for (; k < 1000 && done < n; k++, done++) {
			memset(&ob[k], 0, sizeof(ob[k]));
			memcpy(ob[k].server_ip, ip, 16);
			ob[k].server_port = (uint16_t)(done + 1);
			ob[k].tlp = (uint8_t)tlp;
			ob[k].time_first = strtoull(f[4], NULL, 10);
			ob[k].time_last = strtoull(f[5], NULL, 10);
		}
		struct d4_store_pssl_update u;
		memset(&u, 0, sizeof(u));
		u.obs = ob;
		u.nobs = k;
		int rc = d4_store_pssl_apply(st, &u, NULL);
		if (rc) {
			fprintf(stderr, "pssl_api_load: line %lu: bulk apply: %s\n", ln, d4_strerror(rc));
			ret = 1;
		}
	}
	free(ob);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[1], "load") != 0) {
		fprintf(stderr, "usage: pssl_api_load load STORE < LINES\n");
		return 2;
	}
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = argv[2];
	o.commit_ms = 20;
	struct d4_store *st = NULL;
	int rc = d4_store_open(&o, &st);
	if (rc) {
		fprintf(stderr, "pssl_api_load: cannot open %s: %s\n", argv[2], d4_strerror(rc));
		return 1;
	}
	struct cert *certs = calloc(D4_PSSL_CHAIN_MAX, sizeof(*certs));
	struct d4_store_pssl_cert *sc = calloc(D4_PSSL_CHAIN_MAX, sizeof(*sc));
	unsigned long ln = 0, n = 0;
	char line[16384];
	int ret = certs && sc ? 0 : 1;
	while (!ret && fgets(line, sizeof(line), stdin)) {
		ln++;
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		char *f[16];
		int nf = 0;
		for (char *p = line, *tok; nf < 16 && (tok = strsep(&p, "\t")) != NULL;)
			f[nf++] = tok;
		if (nf == 6 && !strcmp(f[0], "bulk")) {
			ret = bulk(st, f, ln);
			n += ret ? 0 : strtoul(f[1], NULL, 10);
			continue;
		}
		if (nf != 14 || strcmp(f[0], "hs")) {
			ret = die("hs with 14 fields expected", ln);
			break;
		}
		struct d4_store_pssl_obs ob;
		memset(&ob, 0, sizeof(ob));
		enum d4_tlp tlp = d4_policy_tlp_parse(f[7]);
		if (parse_addr(f[1], ob.server_ip) || tlp == D4_TLP_NONE) {
			ret = die("bad address or tlp", ln);
			break;
		}
		ob.server_port = (uint16_t)strtoul(f[2], NULL, 10);
		if (opt(f[3])) {
			ob.sni = (const uint8_t *)f[3];
			ob.sni_len = strlen(f[3]);
		}
		if (opt(f[4])) {
			ob.has_ja3 = 1;
			md5(f[4], ob.ja3_md5);
			ob.ja3 = f[4];
		}
		if (opt(f[5])) {
			ob.has_ja3s = 1;
			md5(f[5], ob.ja3s_md5);
			ob.ja3s = f[5];
		}
		ob.ja4 = opt(f[6]);
		ob.tlp = (uint8_t)tlp;
		ob.time_first = strtoull(f[8], NULL, 10);
		ob.time_last = strtoull(f[9], NULL, 10);
		ob.count = strtoull(f[10], NULL, 10);
		if (opt(f[11])) {
			if (d4_uuid_parse(f[11], ob.sensor)) {
				ret = die("bad sensor", ln);
				break;
			}
			ob.has_sensor = 1;
		}
		if (opt(f[12]) && d4_uuid_parse(f[12], ob.org)) {
			ret = die("bad org", ln);
			break;
		}
		size_t nc = 0;
		if (opt(f[13])) {
			for (char *p = f[13], *tok; nc < D4_PSSL_CHAIN_MAX && (tok = strsep(&p, ",")) != NULL; nc++) {
				free(certs[nc].der);
				memset(&certs[nc], 0, sizeof(certs[nc]));
				if (load_cert(tok, &certs[nc], &sc[nc])) {
					ret = die("a certificate file does not load or parse", ln);
					break;
				}
			}
		}
		if (ret)
			break;
		ob.certs = nc ? sc : NULL;
		ob.n_certs = nc;
		struct d4_store_pssl_update u;
		memset(&u, 0, sizeof(u));
		u.obs = &ob;
		u.nobs = 1;
		if ((rc = d4_store_pssl_apply(st, &u, NULL)) != 0) {
			fprintf(stderr, "pssl_api_load: line %lu: apply: %s\n", ln, d4_strerror(rc));
			ret = 1;
		}
		n++;
	}
	for (size_t i = 0; certs && i < D4_PSSL_CHAIN_MAX; i++)
		free(certs[i].der);
	free(certs);
	free(sc);
	d4_store_close(st);
	if (!ret)
		fprintf(stderr, "pssl_api_load: %lu handshakes applied\n", n);
	return ret;
}
