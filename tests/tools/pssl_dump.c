/* d4-pssl-dump: the passive-SSL handshake tuples of a store, one line each
 * (federation tests compare a sender's and a receiver's store). Opens the
 * store read-only (a running hub's store is fine: LMDB readers).
 *
 *   d4-pssl-dump STORE
 *
 * A line: server port sni ja3 ja3s ja4 tlp count hubs ja3str ja3sstr chain
 * where absent parts are "-", hubs the origin hubs (hex, comma-separated),
 * ja3str/ja3sstr the length of the full JA3/JA3S string kept (- when none)
 * and chain each certificate of the chain seen last as
 * sha1/parsed/cn/dns-sans (the fields the store holds: parsed by the hub
 * that holds it). Lines in change order: sort them to compare. */
#include "d4_error.h"
#include "d4_policy.h"
#include "d4_store.h"
#include "d4_store_pssl.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct d4_store *S;

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = '\0';
}

static int cert_cb(void *ctx, const struct d4_store_pssl_cert *c)
{
	(void)ctx;
	char h[41];
	hex(c->sha1, 20, h);
	printf(" %s/%u/%s/", h, c->parsed, c->cn ? c->cn : "-");
	int any = 0;
	for (size_t i = 0; i < c->n_san; i++)
		if (c->san[i].type == 1) {
			printf("%s%.*s", any ? "," : "", (int)c->san[i].len, (const char *)c->san[i].value);
			any = 1;
		}
	if (!any)
		printf("-");
	return 1;
}

static int fp_cb(void *ctx, const struct d4_store_pssl_fp *f)
{
	*(size_t *)ctx = f->str ? strlen(f->str) : 0;
	return 1;
}

static int tuple_cb(void *ctx, const struct d4_store_pssl_tuple *t)
{
	(void)ctx;
	char ip[INET6_ADDRSTRLEN];
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (!memcmp(t->server_ip, mapped, 12))
		inet_ntop(AF_INET, t->server_ip + 12, ip, sizeof(ip));
	else
		inet_ntop(AF_INET6, t->server_ip, ip, sizeof(ip));
	char j3[33] = "-", j3s[33] = "-";
	if (t->has_ja3)
		hex(t->ja3_md5, 16, j3);
	if (t->has_ja3s)
		hex(t->ja3s_md5, 16, j3s);
	printf("%s %u %s %s %s %s %u %llu ", ip, t->server_port, t->sni ? t->sni : "-", j3, j3s, t->ja4 ? t->ja4 : "-",
	       t->tlp, (unsigned long long)t->count);
	if (!t->nhubs)
		printf("-");
	for (unsigned i = 0; i < t->nhubs; i++) {
		char h[33];
		hex(t->hubs[i], 16, h);
		printf("%s%s", i ? "," : "", h);
	}
	for (int k = 0; k < 2; k++) {
		size_t n = 0;
		int has = k ? t->has_ja3s : t->has_ja3;
		if (has && d4_store_pssl_fp_get(S, k ? D4_PSSL_BY_JA3S : D4_PSSL_BY_JA3, k ? t->ja3s_md5 : t->ja3_md5,
						D4_TLP_RED, fp_cb, &n) < 0)
			n = 0;
		if (n)
			printf(" %zu", n);
		else
			printf(" -");
	}
	if (!t->n_chain)
		printf(" -");
	for (unsigned i = 0; i < t->n_chain; i++)
		if (d4_store_pssl_cert_get(S, t->chain[i], D4_TLP_RED, cert_cb, NULL) != 1)
			printf(" missing");
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: d4-pssl-dump STORE\n");
		return 2;
	}
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = argv[1];
	o.read_only = 1;
	int rc = d4_store_open(&o, &S);
	if (rc) {
		fprintf(stderr, "d4-pssl-dump: cannot open the store: %s\n", d4_strerror(rc));
		return 1;
	}
	rc = d4_store_pssl_changes(S, 0, tuple_cb, NULL, NULL);
	d4_store_close(S);
	if (rc < 0) {
		fprintf(stderr, "d4-pssl-dump: %s\n", d4_strerror(rc));
		return 1;
	}
	return 0;
}
