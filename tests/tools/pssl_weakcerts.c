/* d4-pssl-weakcerts: writes the planted weak-key certificates of
 * weakcerts.c into a folder, for the weak-key integration test:
 *   NAME.der        each certificate
 *   expected.txt    the findings the hub must report, one a line:
 *                   "KIND CERT [OTHER] [FLAG]" (pairs unordered)
 *   certs.jl        one ja3-jl line per certificate (the format of
 *                   docs/passivessl.md), ServerIP 127.0.1.N
 *   names.txt       "NAME SHA1 CN" per certificate
 * or, with --store, merges certificates [FROM, TO) (default all) into the
 * store at STORE as handshakes of TLP (default tlp:green), as the hub's
 * consumer does (wc_store), for tests that need them without a sensor.
 * Usage: d4-pssl-weakcerts DIR [SEED [PRIME_BITS]]
 *        d4-pssl-weakcerts --store STORE [FROM TO [TLP]] */
#include "d4_policy.h"
#include "d4_store.h"
#include "weakcerts.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static int load(int argc, char **argv)
{
	static struct wc_set s;
	if (argc < 3 || argc == 4 || argc > 6) {
		fprintf(stderr, "usage: d4-pssl-weakcerts --store STORE [FROM TO [TLP]]\n");
		return 2;
	}
	if (wc_make(12, 512, &s))
		return 1;
	size_t from = argc > 4 ? strtoul(argv[3], NULL, 10) : 0, to = argc > 4 ? strtoul(argv[4], NULL, 10) : s.n;
	enum d4_tlp tlp = argc > 5 ? d4_policy_tlp_parse(argv[5]) : D4_TLP_GREEN;
	if (tlp == D4_TLP_NONE) {
		fprintf(stderr, "d4-pssl-weakcerts: bad TLP %s\n", argv[5]);
		return 2;
	}
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = argv[2];
	struct d4_store *st = NULL;
	int rc = d4_store_open(&o, &st);
	if (!rc)
		rc = wc_store(st, &s, from, to, (uint8_t)tlp);
	if (st)
		d4_store_close(st);
	wc_free(&s);
	if (rc) {
		fprintf(stderr, "d4-pssl-weakcerts: %s: %d\n", argv[2], rc);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--store"))
		return load(argc, argv);
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: d4-pssl-weakcerts DIR [SEED [PRIME_BITS]]\n");
		return 2;
	}
	unsigned long seed = argc > 2 ? strtoul(argv[2], NULL, 10) : 12;
	unsigned bits = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 512;
	static struct wc_set s;
	if (wc_make(seed, bits, &s))
		return 1;
	char path[4096];
	snprintf(path, sizeof(path), "%s/certs.jl", argv[1]);
	FILE *jl = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/names.txt", argv[1]);
	FILE *nm = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/expected.txt", argv[1]);
	FILE *ex = fopen(path, "w");
	if (!jl || !nm || !ex) {
		perror("d4-pssl-weakcerts");
		return 1;
	}
	static const char ja3[] = "771,49195-49199,0-10-11,29-23,0";
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char ja3md5[33];
	EVP_Digest(ja3, strlen(ja3), md, &mdlen, EVP_md5(), NULL);
	hex(md, 16, ja3md5);
	for (size_t i = 0; i < s.n; i++) {
		const struct wc_cert *c = &s.c[i];
		snprintf(path, sizeof(path), "%s/%s.der", argv[1], c->name);
		FILE *f = fopen(path, "wb");
		if (!f || fwrite(c->der, 1, c->der_len, f) != c->der_len || fclose(f)) {
			perror(path);
			return 1;
		}
		uint8_t sha1[20], sha256[32];
		char h1[41], h256[65];
		SHA1(c->der, c->der_len, sha1);
		SHA256(c->der, c->der_len, sha256);
		hex(sha1, 20, h1);
		hex(sha256, 32, h256);
		fprintf(nm, "%s %s %s\n", c->name, h1, c->cn);
		size_t b64cap = 4 * ((c->der_len + 2) / 3) + 1;
		unsigned char *b64 = malloc(b64cap);
		if (!b64)
			return 1;
		EVP_EncodeBlock(b64, c->der, (int)c->der_len);
		fprintf(jl,
			"{\"ServerIP\":\"127.0.1.%zu\",\"ServerPort\":\"443\",\"ClientIP\":\"127.0.0.1\","
			"\"ClientPort\":\"%zu\",\"TLSH\":\"\",\"Timestamp\":\"2026-12-07T12:00:%02zuZ\",\"JA3\":\"%s\","
			"\"JA3Digest\":\"%s\",\"JA3S\":\"\",\"JA3SDigest\":\"\",\"Certificates\":[{\"CertHash\":\"%s\","
			"\"Raw\":\"%s\"}]}\n",
			i + 1, 40000 + i, i % 60, ja3, ja3md5, h256, (const char *)b64);
		free(b64);
	}
	for (size_t i = 0; i < s.ne; i++) {
		const struct wc_expect *e = &s.e[i];
		fprintf(ex, "%s %s%s%s%s%s\n", e->kind, e->a, e->b[0] ? " " : "", e->b, e->flags[0] ? " " : "",
			e->flags);
	}
	int bad = fclose(jl) | fclose(nm) | fclose(ex);
	wc_free(&s);
	return bad ? 1 : 0;
}
