/* Check suite for hub/analyze: the passive-SSL consumer over a real
 * temporary store. The expected handshakes come from the libraries
 * themselves over the same bytes (d4_pcapsplit + d4_tls with a flush at the
 * end of the stream, as d4-tls does over a file; d4_tls_jl_parse per line),
 * never from hard-coded sums; the capture is tests/data/tls/openssl-lo.pcap
 * and its ja3-jl lines as d4-sensor --extract tls writes them. */
#include "d4_analyze.h"
#include "d4_error.h"
#include "d4_pkt.h"
#include "d4_policy.h"
#include "d4_store.h"
#include "d4_store_pssl.h"
#include "d4_tls.h"
#include "d4_util.h"
#include "d4_x509.h"

#include <check.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- files ---- */

static uint8_t *slurp(const char *rel, size_t *n)
{
	char path[512];
	const char *dd = getenv("D4_TEST_DATA");
	snprintf(path, sizeof(path), "%s/%s", dd ? dd : "tests/data", rel);
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s", path);
	fseek(f, 0, SEEK_END);
	long l = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc((size_t)l + 1);
	ck_assert(fread(b, 1, (size_t)l, f) == (size_t)l);
	fclose(f);
	b[l] = 0;
	*n = (size_t)l;
	return b;
}

/* ---- canonical lines: one per tuple, with its count ---- */

struct lines {
	char **l;
	size_t n, cap;
};

static void lines_add(struct lines *L, const char *s)
{
	if (L->n == L->cap) {
		L->cap = L->cap ? L->cap * 2 : 64;
		L->l = realloc(L->l, L->cap * sizeof(*L->l));
	}
	L->l[L->n++] = strdup(s);
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void lines_free(struct lines *L)
{
	for (size_t i = 0; i < L->n; i++)
		free(L->l[i]);
	free(L->l);
	memset(L, 0, sizeof(*L));
}

/* A line is KEY|tlpN|COUNT. Sorts, then merges equal keys as the store
 * merges handshakes into tuples: counts added, the most restrictive TLP. */
static char *key_end(char *l)
{
	char *t = strstr(l, "|tlp");
	ck_assert_ptr_nonnull(t);
	return t;
}

static void lines_merge(struct lines *L)
{
	if (L->n)
		qsort(L->l, L->n, sizeof(*L->l), cmpstr);
	size_t o = 0;
	for (size_t i = 0; i < L->n; i++) {
		char *ke = key_end(L->l[i]);
		if (o > 0) {
			char *pe = key_end(L->l[o - 1]);
			if (pe - L->l[o - 1] == ke - L->l[i] &&
			    !strncmp(L->l[o - 1], L->l[i], (size_t)(ke - L->l[i]))) {
				unsigned t1 = (unsigned)strtoul(pe + 4, NULL, 10),
					 t2 = (unsigned)strtoul(ke + 4, NULL, 10);
				unsigned long long c =
				    strtoull(strrchr(pe, '|') + 1, NULL, 10) + strtoull(strrchr(ke, '|') + 1, NULL, 10);
				char buf[4096];
				snprintf(buf, sizeof(buf), "%.*s|tlp%u|%llu", (int)(pe - L->l[o - 1]), L->l[o - 1],
					 t1 > t2 ? t1 : t2, c);
				free(L->l[o - 1]);
				L->l[o - 1] = strdup(buf);
				free(L->l[i]);
				continue;
			}
		}
		L->l[o++] = L->l[i];
	}
	L->n = o;
}

static void lines_eq(const struct lines *a, const struct lines *b)
{
	if (a->n != b->n || getenv("PSSL_DEBUG")) {
		for (size_t i = 0; i < a->n; i++)
			fprintf(stderr, "a: %s\n", a->l[i]);
		for (size_t i = 0; i < b->n; i++)
			fprintf(stderr, "b: %s\n", b->l[i]);
	}
	ck_assert_uint_eq(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		ck_assert_str_eq(a->l[i], b->l[i]);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	d4_hex_encode(p, n, out);
}

static void sha1_hex(const uint8_t *p, size_t n, char out[41])
{
	uint8_t h[20];
	unsigned hl = 0;
	ck_assert(EVP_Digest(p, n, h, &hl, EVP_sha1(), NULL) && hl == 20);
	hex(h, 20, out);
}

/* One handshake as a line: server, port, SNI, JA3/JA3S MD5, JA4, the chain's
 * SHA-1s, then "|1". Empty parts stay empty. */
static void hs_line(const uint8_t ip[16], uint16_t port, const uint8_t *sni, size_t sni_len, const char *ja3md5,
		    const char *ja3smd5, const char *ja4, const struct d4_tls_cert *certs, size_t nc, unsigned tlp,
		    char *out, size_t cap)
{
	char addr[64], chain[D4_TLS_CERTS_MAX * 41 + 1] = "";
	d4_pkt_addr_str(ip, addr, sizeof(addr));
	for (size_t i = 0; i < nc; i++) {
		char h[41];
		sha1_hex(certs[i].der, certs[i].len, h);
		strcat(chain, h);
		if (i + 1 < nc)
			strcat(chain, ",");
	}
	char s[300] = "";
	for (size_t i = 0; i < sni_len && i < 255; i++)
		s[i] = (char)(sni[i] >= 'A' && sni[i] <= 'Z' ? sni[i] + 32 : sni[i]);
	s[sni_len < 255 ? sni_len : 255] = 0;
	snprintf(out, cap, "%s|%u|%s|%s|%s|%s|%s|tlp%u|1", addr, port, s, ja3md5 ? ja3md5 : "", ja3smd5 ? ja3smd5 : "",
		 ja4 ? ja4 : "", chain, tlp);
}

static int tuple_cb(void *ctx, const struct d4_store_pssl_tuple *t)
{
	struct lines *L = ctx;
	char addr[64], chain[D4_PSSL_CHAIN_MAX * 41 + 1] = "", j3[33] = "", j3s[33] = "";
	d4_pkt_addr_str(t->server_ip, addr, sizeof(addr));
	for (unsigned i = 0; i < t->n_chain; i++) {
		char h[41];
		hex(t->chain[i], 20, h);
		strcat(chain, h);
		if (i + 1 < t->n_chain)
			strcat(chain, ",");
	}
	if (t->has_ja3)
		hex(t->ja3_md5, 16, j3);
	if (t->has_ja3s)
		hex(t->ja3s_md5, 16, j3s);
	if (t->n_chain) {
		char h[41];
		hex(t->cert, 20, h);
		ck_assert(t->has_cert && !strncmp(h, chain, 40));
	}
	char line[4096];
	snprintf(line, sizeof(line), "%s|%u|%s|%s|%s|%s|%s|tlp%u|%llu", addr, t->server_port, t->sni ? t->sni : "", j3,
		 j3s, t->ja4 ? t->ja4 : "", chain, t->tlp, (unsigned long long)t->count);
	lines_add(L, line);
	return 0;
}

static void dump_store(struct d4_store *s, struct lines *L)
{
	memset(L, 0, sizeof(*L));
	struct d4_store_pssl_query q;
	memset(&q, 0, sizeof(q));
	q.by = D4_PSSL_BY_RECENT;
	q.max_tlp = D4_TLP_RED;
	struct d4_store_pssl_qresult res;
	ck_assert_int_eq(d4_store_pssl_query(s, &q, tuple_cb, L, &res), 0);
	ck_assert_int_eq(res.more, 0);
	lines_merge(L);
}

/* ---- reference runs ---- */

struct ref {
	struct lines L;
	unsigned tlp;
	uint64_t handshakes, certs;
	struct lines certset; /* distinct SHA-1s */
	struct d4_tls *t;
};

static void ref_certs(struct ref *r, const struct d4_tls_cert *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char h[41];
		sha1_hex(c[i].der, c[i].len, h);
		lines_add(&r->certset, h);
	}
	r->certs += n;
}

static int ref_hs(void *ud, const struct d4_tls_handshake *h)
{
	struct ref *r = ud;
	char line[4096];
	const uint8_t *sni = h->client ? h->client->sni : NULL;
	hs_line(h->server_ip, h->server_port, sni, sni ? h->client->sni_len : 0, h->ja3_md5, h->ja3s_md5, h->ja4,
		h->certs, h->n_certs, r->tlp, line, sizeof(line));
	lines_add(&r->L, line);
	r->handshakes++;
	ref_certs(r, h->certs, h->n_certs);
	return 0;
}

static int ref_rec(void *ud, const struct d4_pcap_rec *pr)
{
	struct ref *r = ud;
	return d4_tls_frame(r->t, (int)pr->linktype, pr->ts_us, pr->data, pr->caplen);
}

/* d4-tls over a pcap byte stream: every handshake, the flush included. */
static void ref_pcap(struct ref *r, const struct d4_tls_config *cfg, const uint8_t *p, size_t n, unsigned tlp)
{
	r->tlp = tlp;
	r->t = d4_tls_new(cfg, ref_hs, r);
	struct d4_pcapsplit *sp = d4_pcapsplit_new(0);
	ck_assert_int_eq(d4_pcapsplit_feed(sp, p, n, ref_rec, r), 0);
	ck_assert_int_eq(d4_tls_flush(r->t), 0);
	d4_pcapsplit_free(sp);
	d4_tls_free(r->t);
	r->t = NULL;
}

/* The lines of a ja3-jl text that parse. Returns the number that do not
 * (blank lines excluded). */
static unsigned ref_jl(struct ref *r, const uint8_t *p, size_t n, unsigned tlp)
{
	r->tlp = tlp;
	struct d4_tls_jl *j = malloc(sizeof(*j));
	uint8_t *der = malloc(n + 1);
	unsigned bad = 0;
	size_t i = 0;
	while (i < n) {
		const uint8_t *nl = memchr(p + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - p) : n;
		size_t k = e;
		while (k > i && (p[k - 1] == '\r' || p[k - 1] == ' '))
			k--;
		if (k > i) {
			if (d4_tls_jl_parse(p + i, k - i, j, der, n + 1) == 0) {
				char line[4096];
				hs_line(j->server_ip, j->server_port, j->has_sni ? j->sni : NULL, j->sni_len,
					j->ja3_md5, j->ja3s_md5, j->ja4, j->certs, j->n_certs, tlp, line, sizeof(line));
				lines_add(&r->L, line);
				r->handshakes++;
				ref_certs(r, j->certs, j->n_certs);
			} else {
				bad++;
			}
		}
		i = e + 1;
	}
	free(j);
	free(der);
	return bad;
}

static uint64_t distinct(struct lines *L)
{
	if (L->n)
		qsort(L->l, L->n, sizeof(*L->l), cmpstr);
	uint64_t d = 0;
	for (size_t i = 0; i < L->n; i++)
		d += i == 0 || strcmp(L->l[i], L->l[i - 1]);
	return d;
}

/* ---- store ---- */

static char g_dir[256];

static struct d4_store *store_open(int writer)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = g_dir;
	o.map_size = 256u << 20;
	o.no_sync = 1;
	o.commit_ms = 5;
	struct d4_store *s = NULL;
	ck_assert_int_eq(d4_store_open(&o, &s), 0);
	if (writer)
		ck_assert_int_eq(d4_store_writer_start(s), 0);
	return s;
}

static void new_dir(void)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/d4test_pssl_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void rm_dir(const char *dir)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void test_uuid(uint8_t u[16], unsigned n)
{
	memset(u, 0, 16);
	u[0] = 0xc7;
	u[6] = 0x40;
	u[8] = 0x80;
	u[15] = (uint8_t)n;
}

static uint64_t sess_open(struct d4_store *s, const uint8_t u[16], uint8_t type, const char *ext)
{
	struct d4_session_open op;
	memset(&op, 0, sizeof(op));
	op.session = d4_store_session_id_new(s);
	memcpy(op.uuid, u, 16);
	op.type = type;
	op.when = d4_now_s();
	op.auto_create = 1;
	ck_assert_int_eq(d4_store_post_session_open(s, &op), 0);
	if (ext) {
		struct d4_session_meta m;
		memset(&m, 0, sizeof(m));
		m.session = op.session;
		d4_strlcpy(m.ext_type, ext, sizeof(m.ext_type));
		m.tlp = D4_TLP_AMBER;
		ck_assert_int_eq(d4_store_post_session_meta(s, &m), 0);
	}
	return op.session;
}

static void sess_close(struct d4_store *s, uint64_t sid, const char *why)
{
	int rc;
	for (int i = 0; (rc = d4_store_post_session_close(s, sid, d4_now_s(), why)) == D4_EAGAIN && i < 10000; i++)
		usleep(500);
	ck_assert_int_eq(rc, 0);
}

static uint64_t g_recv_ms; /* 0: now */

static void frame(struct d4_store *s, uint64_t sid, const uint8_t u[16], uint8_t type, uint8_t tlp, const uint8_t *p,
		  size_t n)
{
	struct d4_frame_rec r;
	memset(&r, 0, sizeof(r));
	r.session = sid;
	memcpy(r.uuid, u, 16);
	r.type = type;
	r.version = 1;
	r.tlp = tlp;
	r.org[0] = 0x42;
	r.hdr_ts = d4_now_s();
	r.recv_ms = g_recv_ms ? g_recv_ms : d4_now_ms();
	r.size = (uint32_t)n;
	int rc;
	for (int i = 0; (rc = d4_store_post_frame(s, &r, p)) == D4_EAGAIN && i < 100000; i++)
		usleep(200);
	ck_assert_int_eq(rc, 0);
}

struct stream {
	uint64_t sid;
	uint8_t uuid[16];
	uint8_t type, tlp;
	const uint8_t *p;
	size_t n, off;
};

/* Streams posted interleaved, each cut in pieces of 1..maxcut bytes drawn
 * from seed, `turn` frames of a stream at a time. The writer stores the
 * frames of one batch grouped by session, so the order in the log depends
 * on how the batches fell; with turn > 0 the writer is synced after every
 * turn, which makes the log's order the posting order. Returns the number
 * of frames. */
static size_t post_turns(struct d4_store *s, struct stream *st, unsigned ns, unsigned maxcut, unsigned seed,
			 unsigned turn)
{
	size_t nf = 0;
	for (;;) {
		int any = 0;
		for (unsigned k = 0; k < ns; k++) {
			for (unsigned t = 0; t < (turn ? turn : 1) && st[k].off < st[k].n; t++) {
				any = 1;
				seed = seed * 1103515245u + 12345u;
				size_t c = 1 + (seed >> 8) % maxcut;
				if (c > st[k].n - st[k].off)
					c = st[k].n - st[k].off;
				frame(s, st[k].sid, st[k].uuid, st[k].type, st[k].tlp, st[k].p + st[k].off, c);
				st[k].off += c;
				nf++;
			}
			if (turn)
				ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
		}
		if (!any)
			break;
	}
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
	return nf;
}

static size_t post_streams(struct d4_store *s, struct stream *st, unsigned ns, unsigned maxcut, unsigned seed)
{
	return post_turns(s, st, ns, maxcut, seed, 0);
}

/* Runs one consumer until it is caught up and every ended session is
 * finished and committed. */
static void drain(struct d4_store *s, const struct d4_analyze_pssl_opts *o, struct d4_analyze_pssl_stats *out)
{
	struct d4_analyze_pssl *x = NULL;
	ck_assert_int_eq(d4_analyze_pssl_new(s, o, &x), 0);
	int done = 0;
	for (int i = 0; i < 1000 && !done; i++) {
		int idle = 0;
		ck_assert_int_ge(d4_analyze_pssl_step(x, 0, &idle), 0);
		ck_assert_int_eq(d4_analyze_pssl_maintain(x, d4_now_s(), 600), 0);
		ck_assert_int_ge(d4_analyze_pssl_step(x, 0, &idle), 0);
		struct d4_analyze_pssl_stats st;
		d4_analyze_pssl_stats(x, &st);
		done = idle && st.sessions == 0;
	}
	ck_assert_msg(done, "the consumer did not finish every ended session");
	if (out)
		d4_analyze_pssl_stats(x, out);
	d4_analyze_pssl_free(x);
}

static void sum_counters(struct d4_store *s, const uint8_t (*u)[16], unsigned n, struct d4_store_pssl_counters *c)
{
	memset(c, 0, sizeof(*c));
	for (unsigned i = 0; i < n; i++) {
		struct d4_store_pssl_counters k;
		int rc = d4_store_pssl_counters_get(s, u[i], &k);
		if (rc == D4_ENOTFOUND)
			continue;
		ck_assert_int_eq(rc, 0);
		c->frames += k.frames;
		c->handshakes += k.handshakes;
		c->certs += k.certs;
		c->certs_new += k.certs_new;
		c->bad_lines += k.bad_lines;
		c->bad_packets += k.bad_packets;
		c->bad_certs += k.bad_certs;
	}
}

static int counters_eq(const struct d4_store_pssl_counters *a, const struct d4_store_pssl_counters *b)
{
	return a->frames == b->frames && a->handshakes == b->handshakes && a->certs == b->certs &&
	       a->certs_new == b->certs_new && a->bad_lines == b->bad_lines && a->bad_packets == b->bad_packets &&
	       a->bad_certs == b->bad_certs;
}

/* A line of the original Go sensor (the members it writes, in its order and
 * types: test_tls_jl has the whole derivation), with one certificate whose
 * DER (SEQUENCE { INTEGER 1 }) is not a certificate: stored unparsed. */
static void go_line(char *out, size_t cap)
{
	const char *ja3 = "771,4865-4866-4867-49195,0-11-10-35-16-22-23-13-43-45-51,29-23-30-25-24,0-1-2";
	char md5[33];
	ck_assert_int_eq(d4_tls_md5_hex(ja3, strlen(ja3), md5), 0);
	snprintf(
	    out, cap,
	    "{\"ServerIP\":\"192.0.2.10\",\"ServerPort\":\"443\",\"ClientIP\":\"192.0.2.1\",\"ClientPort\":\"51515\","
	    "\"TLSH\":\"\",\"Timestamp\":\"2019-03-20T14:05:09.123456789+01:00\",\"JA3\":\"%s\",\"JA3Digest\":\"%s\","
	    "\"JA3S\":\"771,49195,65281-0-11\",\"JA3SDigest\":\"0123456789abcdef0123456789abcdef\","
	    "\"Certificates\":[{\"Raw\":\"MAMCAQE=\",\"IsCA\":false,\"Subject\":{\"CommonName\":\"x\"}}]}\n",
	    ja3, md5);
}

/* ---- tests ---- */

struct certck {
	const struct d4_x509 *xc;
	int seen;
};
static int certck_cb(void *ctx, const struct d4_store_pssl_cert *sc);

static struct d4_tls_config g_cfg;

static void opts_for(struct d4_analyze_pssl_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tls = g_cfg;
}

/* The capture as one type-1 stream and its ja3-jl lines as one type-254
 * stream (plus a Go sensor line, hostile lines and an unparsable
 * certificate), each cut at random across frames: exactly the handshakes
 * the libraries find in the same bytes, tuple by tuple, and exact counters. */
START_TEST(test_exact)
{
	d4_tls_config_default(&g_cfg);
	size_t npc, njl;
	uint8_t *pc = slurp("tls/openssl-lo.pcap", &npc);
	uint8_t *jl0 = slurp("tls/ja3-jl/openssl-lo.d4hub.jsonl", &njl);
	char go[2048];
	go_line(go, sizeof(go));
	/* hostile lines: garbage, JSON that is not a record, a bad base64, an
	 * overlong line (over max_line), and a blank line (not an error) */
	static char big[9000];
	memset(big, 'x', sizeof(big) - 2);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = 0;
	const char *hostile =
	    "not json at all\n{\"a\":1}\n\n"
	    "{\"ServerIP\":\"1.2.3.4\",\"ServerPort\":\"1\",\"ClientIP\":\"1.2.3.5\",\"ClientPort\":\"2\","
	    "\"Timestamp\":\"2019-03-20T13:05:09Z\",\"Certificates\":[{\"Raw\":\"!!!\"}]}\r\n";
	size_t njl_all = njl + strlen(go) + strlen(hostile) + strlen(big);
	uint8_t *jl = malloc(njl_all + 1);
	memcpy(jl, jl0, njl);
	memcpy(jl + njl, go, strlen(go));
	memcpy(jl + njl + strlen(go), hostile, strlen(hostile));
	memcpy(jl + njl + strlen(go) + strlen(hostile), big, strlen(big));

	struct ref rp, rj;
	memset(&rp, 0, sizeof(rp));
	memset(&rj, 0, sizeof(rj));
	ref_pcap(&rp, &g_cfg, pc, npc, D4_TLP_GREEN);
	unsigned bad = ref_jl(&rj, jl, njl_all, D4_TLP_AMBER);
	ck_assert_uint_eq(bad, 4); /* the overlong one too: it is not JSON */
	ck_assert_uint_ge(rp.handshakes, 6);
	/* d4-sensor's lines are the capture's handshakes (the TLP apart) */
	struct ref rj0;
	memset(&rj0, 0, sizeof(rj0));
	ck_assert_uint_eq(ref_jl(&rj0, jl0, njl, D4_TLP_GREEN), 0);
	lines_merge(&rj0.L);
	struct lines rpl;
	memset(&rpl, 0, sizeof(rpl));
	for (size_t i = 0; i < rp.L.n; i++)
		lines_add(&rpl, rp.L.l[i]);
	lines_merge(&rpl);
	lines_eq(&rj0.L, &rpl);

	new_dir();
	struct d4_store *s = store_open(1);
	uint8_t u[2][16];
	test_uuid(u[0], 1);
	test_uuid(u[1], 2);
	struct stream st[2];
	memset(st, 0, sizeof(st));
	st[0] = (struct stream){sess_open(s, u[0], 1, NULL), {0}, 1, D4_TLP_GREEN, pc, npc, 0};
	memcpy(st[0].uuid, u[0], 16);
	st[1] = (struct stream){sess_open(s, u[1], 254, "ja3-jl"), {0}, 254, D4_TLP_AMBER, jl, njl_all, 0};
	memcpy(st[1].uuid, u[1], 16);
	size_t nf = post_streams(s, st, 2, 700, 7);
	sess_close(s, st[0].sid, "peer closed");
	sess_close(s, st[1].sid, "peer closed");
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);

	struct d4_analyze_pssl_opts o;
	opts_for(&o);
	o.max_line = 8192;
	struct d4_analyze_pssl_stats sst;
	drain(s, &o, &sst);

	struct lines want;
	memset(&want, 0, sizeof(want));
	for (size_t i = 0; i < rp.L.n; i++)
		lines_add(&want, rp.L.l[i]);
	for (size_t i = 0; i < rj.L.n; i++)
		lines_add(&want, rj.L.l[i]);
	lines_merge(&want);
	struct lines got;
	dump_store(s, &got);
	lines_eq(&got, &want);

	struct lines allc;
	memset(&allc, 0, sizeof(allc));
	for (size_t i = 0; i < rp.certset.n; i++)
		lines_add(&allc, rp.certset.l[i]);
	for (size_t i = 0; i < rj.certset.n; i++)
		lines_add(&allc, rj.certset.l[i]);
	uint64_t ndist = distinct(&allc);

	ck_assert_uint_eq(sst.frames, nf);
	ck_assert_uint_eq(sst.handshakes, rp.handshakes + rj.handshakes);
	ck_assert_uint_eq(sst.from_pcap, rp.handshakes);
	ck_assert_uint_eq(sst.from_lines, rj.handshakes);
	ck_assert_uint_eq(sst.go_lines, 1);
	ck_assert_uint_eq(sst.certs, rp.certs + rj.certs);
	ck_assert_uint_eq(sst.certs_new, ndist);
	ck_assert_uint_eq(sst.bad_certs, 1);
	ck_assert_uint_eq(sst.bad_lines, 4);
	ck_assert_uint_eq(sst.bad_packets, 0);
	ck_assert_uint_eq(sst.frames_lost, 0);

	struct d4_store_pssl_counters c0, c1;
	ck_assert_int_eq(d4_store_pssl_counters_get(s, u[0], &c0), 0);
	ck_assert_int_eq(d4_store_pssl_counters_get(s, u[1], &c1), 0);
	ck_assert_uint_eq(c0.frames + c1.frames, nf);
	ck_assert_uint_eq(c0.handshakes, rp.handshakes);
	ck_assert_uint_eq(c1.handshakes, rj.handshakes);
	ck_assert_uint_eq(c0.certs, rp.certs);
	ck_assert_uint_eq(c1.certs, rj.certs);
	ck_assert_uint_eq(c0.certs_new + c1.certs_new, ndist);
	ck_assert_uint_eq(c1.bad_lines, 4);
	ck_assert_uint_eq(c1.bad_certs, 1);
	ck_assert_uint_eq(c0.bad_lines + c0.bad_certs + c0.bad_packets + c1.bad_packets, 0);
	struct d4_store_pssl_info in;
	ck_assert_int_eq(d4_store_pssl_info(s, &in), 0);
	ck_assert_uint_eq(in.certs, ndist);

	/* the parsed fields of a new certificate, its cn included; the
	 * unparsable one stored with its DER */
	struct d4_x509 *xc = malloc(sizeof(*xc));
	const struct d4_tls_cert *c = NULL;
	/* the first certificate of the capture, from the jl reference parse */
	struct d4_tls_jl *j = malloc(sizeof(*j));
	uint8_t *der = malloc(njl + 1);
	const uint8_t *nl = memchr(jl0, '\n', njl);
	ck_assert_int_eq(d4_tls_jl_parse(jl0, (size_t)(nl - jl0), j, der, njl + 1), 0);
	ck_assert_uint_ge(j->n_certs, 1);
	c = &j->certs[0];
	ck_assert_int_eq(d4_x509_parse(c->der, c->len, xc), 0);
	struct certck ck = {xc, 0};
	ck_assert_int_eq(d4_store_pssl_cert_get(s, xc->sha1, D4_TLP_RED, certck_cb, &ck), 0);
	ck_assert_int_eq(ck.seen, 1);
	uint8_t bad_sha1[20];
	static const uint8_t notcert[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	unsigned hl = 0;
	ck_assert(EVP_Digest(notcert, sizeof(notcert), bad_sha1, &hl, EVP_sha1(), NULL));
	struct certck ck2 = {NULL, 0};
	ck_assert_int_eq(d4_store_pssl_cert_get(s, bad_sha1, D4_TLP_RED, certck_cb, &ck2), 0);
	ck_assert_int_eq(ck2.seen, 1);
	free(j);
	free(der);
	free(xc);

	/* a second consumer on the same store finds nothing left */
	struct d4_analyze_pssl_stats s2;
	drain(s, &o, &s2);
	ck_assert_uint_eq(s2.handshakes, 0);
	ck_assert_uint_eq(s2.frames, 0);
	struct lines again;
	dump_store(s, &again);
	lines_eq(&again, &got);

	d4_store_close(s);
	rm_dir(g_dir);
	lines_free(&want);
	lines_free(&got);
	lines_free(&again);
	lines_free(&allc);
	lines_free(&rpl);
	lines_free(&rp.L);
	lines_free(&rp.certset);
	lines_free(&rj.L);
	lines_free(&rj.certset);
	lines_free(&rj0.L);
	lines_free(&rj0.certset);
	free(pc);
	free(jl0);
	free(jl);
}
END_TEST

static int certck_cb(void *ctx, const struct d4_store_pssl_cert *sc)
{
	struct certck *ck = ctx;
	ck->seen++;
	ck_assert_ptr_nonnull(sc->der);
	if (!ck->xc) {
		ck_assert_int_eq(sc->parsed, 0);
		ck_assert_uint_eq(sc->der_len, 5);
		return 0;
	}
	const struct d4_x509 *xc = ck->xc;
	ck_assert_int_eq(sc->parsed, 1);
	ck_assert(!memcmp(sc->sha256, xc->sha256, 32));
	ck_assert(!memcmp(sc->spki_sha256, xc->spki_sha256, 32));
	ck_assert_str_eq(sc->subject, xc->subject);
	ck_assert_str_eq(sc->issuer, xc->issuer);
	ck_assert_str_eq(sc->serial, xc->serial);
	ck_assert_ptr_nonnull(sc->cn);
	ck_assert_str_eq(sc->cn, xc->cn);
	ck_assert_uint_eq(sc->key_bits, (uint32_t)xc->key_bits);
	ck_assert_uint_eq(sc->n_san, xc->n_san);
	ck_assert_uint_eq(sc->modulus_len, xc->key_type == D4_X509_KEY_RSA ? xc->modulus_len : 0);
	ck_assert_uint_eq(sc->tlp, D4_TLP_AMBER); /* seen by both sensors: the most restrictive */
	return 0;
}

/* Stops the consumer after every batch, as a kill -9 would (nothing but the
 * commits kept): the same tuples and counters as one uninterrupted run,
 * over both kinds of streams cut in small frames, with a batch of one
 * handshake and a few frames per walk (so that restarts fall inside pcap
 * streams and inside lines). */
START_TEST(test_restart_every_batch)
{
	d4_tls_config_default(&g_cfg);
	size_t npc, njl;
	uint8_t *pc = slurp("tls/openssl-lo.pcap", &npc);
	uint8_t *jl = slurp("tls/ja3-jl/openssl-lo.d4hub.jsonl", &njl);
	char go[2048];
	go_line(go, sizeof(go));
	size_t nall = njl + strlen(go) + 8;
	uint8_t *jl2 = malloc(nall);
	memcpy(jl2, jl, njl);
	memcpy(jl2 + njl, go, strlen(go));
	memcpy(jl2 + njl + strlen(go), "garbage\n", 8);
	new_dir();
	char base[256];
	d4_strlcpy(base, g_dir, sizeof(base));
	struct d4_store *s = store_open(1);
	uint8_t u[3][16];
	for (unsigned i = 0; i < 3; i++)
		test_uuid(u[i], 10 + i);
	struct stream st[3];
	memset(st, 0, sizeof(st));
	st[0] = (struct stream){sess_open(s, u[0], 1, NULL), {0}, 1, D4_TLP_GREEN, pc, npc, 0};
	st[1] = (struct stream){sess_open(s, u[1], 254, "ja3-jl"), {0}, 254, D4_TLP_AMBER, jl2, nall, 0};
	st[2] = (struct stream){sess_open(s, u[2], 1, NULL), {0}, 1, D4_TLP_RED, pc, npc, 0};
	for (unsigned i = 0; i < 3; i++)
		memcpy(st[i].uuid, u[i], 16);
	/* 40 frames of a stream at a time, in this order in the log: the clean
	 * points the restarts meet depend on the layout, which without the
	 * syncs changed with the writer's batches (resumed was 0 in about 1 run
	 * in 100, and always under valgrind) */
	size_t nf = post_turns(s, st, 3, 300, 11, 40);
	sess_close(s, st[0].sid, "peer closed");
	sess_close(s, st[1].sid, "peer closed");
	sess_close(s, st[2].sid, "reset");
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
	d4_store_close(s);

	struct d4_analyze_pssl_opts o;
	opts_for(&o);
	o.batch = 1;
	o.frames_per_walk = 3;
	char dir1[300], dir2[300], cmd[700];
	snprintf(dir1, sizeof(dir1), "%s.one", base);
	snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s'", base, dir1);
	ck_assert_int_eq(system(cmd), 0);
	d4_strlcpy(g_dir, dir1, sizeof(g_dir));
	s = store_open(0);
	drain(s, &o, NULL);
	struct lines one;
	dump_store(s, &one);
	struct d4_store_pssl_counters c_one;
	sum_counters(s, (const uint8_t(*)[16])u, 3, &c_one);
	ck_assert_uint_eq(c_one.frames, nf);
	ck_assert_uint_eq(c_one.bad_lines, 1);
	ck_assert_uint_eq(c_one.bad_certs, 1);
	struct ref r;
	memset(&r, 0, sizeof(r));
	ref_pcap(&r, &g_cfg, pc, npc, D4_TLP_GREEN);
	ck_assert_uint_eq(c_one.handshakes, 2 * r.handshakes + (r.handshakes + 1));
	d4_store_close(s);
	rm_dir(dir1);

	snprintf(dir2, sizeof(dir2), "%s.k", base);
	snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s'", base, dir2);
	ck_assert_int_eq(system(cmd), 0);
	d4_strlcpy(g_dir, dir2, sizeof(g_dir));
	uint64_t replayed = 0, partial = 0, resumed = 0;
	int rounds = 0;
	for (;;) {
		s = store_open(0);
		struct d4_analyze_pssl *x = NULL;
		ck_assert_int_eq(d4_analyze_pssl_new(s, &o, &x), 0);
		int idle = 0;
		ck_assert_int_ge(d4_analyze_pssl_step(x, 1, &idle), 0);
		struct d4_analyze_pssl_stats sx;
		if (idle) {
			/* caught up: the ended sessions are finished, committed by the next step */
			ck_assert_int_eq(d4_analyze_pssl_maintain(x, d4_now_s(), 600), 0);
			ck_assert_int_ge(d4_analyze_pssl_step(x, 1, &idle), 0);
		}
		d4_analyze_pssl_stats(x, &sx);
		replayed += sx.replayed;
		resumed += sx.resumed;
		if (sx.replay_from <= sx.cursor)
			partial++;
		int done = idle && sx.sessions == 0;
		d4_analyze_pssl_free(x); /* what was read past the commit is dropped */
		d4_store_close(s);
		ck_assert_int_lt(++rounds, 100000);
		if (done)
			break;
	}
	ck_assert_int_gt(rounds, 10);
	ck_assert_uint_gt(replayed, 0);
	ck_assert_uint_gt(partial, 0);
	ck_assert_uint_gt(resumed, 0); /* pcap streams rebuilt at their clean points */
	s = store_open(0);
	struct lines two;
	dump_store(s, &two);
	lines_eq(&two, &one);
	struct d4_store_pssl_counters c_two;
	sum_counters(s, (const uint8_t(*)[16])u, 3, &c_two);
	ck_assert(counters_eq(&c_one, &c_two));
	d4_store_close(s);
	rm_dir(dir2);
	rm_dir(base);
	lines_free(&one);
	lines_free(&two);
	lines_free(&r.L);
	lines_free(&r.certset);
	free(pc);
	free(jl);
	free(jl2);
}
END_TEST

/* The extractor's limits come from the options: with one flow per session
 * and small directions, the handshakes are those the library reports with
 * the same limits, and what it gave up on is counted. The session cap
 * evicts the least recently used stream; its next frame is refused as not
 * pcap (counted). */
START_TEST(test_limits)
{
	size_t npc;
	uint8_t *pc = slurp("tls/openssl-lo.pcap", &npc);
	d4_tls_config_default(&g_cfg);
	g_cfg.max_flows = 2;
	g_cfg.max_dir_bytes = 700;
	struct ref r;
	memset(&r, 0, sizeof(r));
	ref_pcap(&r, &g_cfg, pc, npc, D4_TLP_GREEN);
	new_dir();
	struct d4_store *s = store_open(1);
	uint8_t u[16];
	test_uuid(u, 20);
	struct stream st = {sess_open(s, u, 1, NULL), {0}, 1, D4_TLP_GREEN, pc, npc, 0};
	memcpy(st.uuid, u, 16);
	post_streams(s, &st, 1, 5000, 3);
	sess_close(s, st.sid, "peer closed");
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
	struct d4_analyze_pssl_opts o;
	opts_for(&o);
	struct d4_analyze_pssl_stats sst;
	drain(s, &o, &sst);
	struct lines got;
	dump_store(s, &got);
	lines_merge(&r.L);
	lines_eq(&got, &r.L);
	ck_assert_uint_eq(sst.handshakes, r.handshakes);
	ck_assert_uint_eq(sst.certs, r.certs);
	ck_assert_uint_gt(sst.tls_limits, 0);
	/* the limit changed what was extracted: fewer certificates than with the defaults */
	struct ref rd;
	memset(&rd, 0, sizeof(rd));
	struct d4_tls_config def;
	d4_tls_config_default(&def);
	ref_pcap(&rd, &def, pc, npc, D4_TLP_GREEN);
	ck_assert_uint_lt(r.certs, rd.certs);
	lines_free(&rd.L);
	lines_free(&rd.certset);
	lines_free(&got);

	/* session cap of 1: two streams interleaved, the first loses its state
	 * when the second starts, its next frame fails (not pcap) */
	uint64_t a = sess_open(s, u, 1, NULL), b = sess_open(s, u, 1, NULL);
	/* one writer commit each (within a commit the writer groups frames by session) */
	frame(s, a, u, 1, D4_TLP_GREEN, pc, 100);
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
	frame(s, b, u, 1, D4_TLP_GREEN, pc, 100);
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
	frame(s, a, u, 1, D4_TLP_GREEN, pc + 100, 100);
	sess_close(s, a, "reset");
	sess_close(s, b, "reset");
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
	o.max_sessions = 1;
	drain(s, &o, &sst);
	ck_assert_uint_eq(sst.frames, 3);
	ck_assert_uint_ge(sst.evictions, 1);
	ck_assert_uint_eq(sst.streams_refused, 1);
	ck_assert_uint_eq(sst.bad_packets, 1);
	d4_store_close(s);
	rm_dir(g_dir);
	lines_free(&r.L);
	lines_free(&r.certset);
	free(pc);
}
END_TEST

/* A stream cut inside a record (the sensor died): the handshakes complete
 * before the cut, and those the extractor held, reported at the session's
 * end with what they had (a chain cut short) -- as the library reports the
 * same bytes. A pcapng and a non-pcap stream are refused and counted;
 * frames of other types and other extended types are not read. */
START_TEST(test_truncated_and_refused)
{
	size_t npc;
	uint8_t *pc = slurp("tls/openssl-lo.pcap", &npc);
	d4_tls_config_default(&g_cfg);
	new_dir();
	struct d4_store *s = store_open(1);
	uint8_t u[16];
	test_uuid(u, 30);
	/* every cut point that leaves a different result from the previous one
	 * would be too slow: a handful spread over the capture */
	size_t cuts[] = {npc / 5, npc / 3, npc / 2, (2 * npc) / 3, npc - 7};
	struct lines want;
	memset(&want, 0, sizeof(want));
	uint64_t nh = 0;
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct ref r;
		memset(&r, 0, sizeof(r));
		ref_pcap(&r, &g_cfg, pc, cuts[i], D4_TLP_GREEN);
		for (size_t k = 0; k < r.L.n; k++)
			lines_add(&want, r.L.l[k]);
		nh += r.handshakes;
		lines_free(&r.L);
		lines_free(&r.certset);
		struct stream st = {sess_open(s, u, 1, NULL), {0}, 1, D4_TLP_GREEN, pc, cuts[i], 0};
		memcpy(st.uuid, u, 16);
		post_streams(s, &st, 1, 3000, (unsigned)i);
		sess_close(s, st.sid, i % 2 ? "peer closed" : "reset");
	}
	lines_merge(&want);
	static const uint8_t ng[] = {0x0a, 0x0d, 0x0d, 0x0a, 0,	   0,	 0,    28,   0x1a, 0x2b, 0x3c, 0x4d, 0, 1,
				     0,	   0,	 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,    0,    0, 28};
	uint64_t a = sess_open(s, u, 1, NULL), g = sess_open(s, u, 1, NULL);
	frame(s, a, u, 1, D4_TLP_GREEN, ng, sizeof(ng));
	frame(s, a, u, 1, D4_TLP_GREEN, ng, sizeof(ng));
	frame(s, g, u, 1, D4_TLP_GREEN, (const uint8_t *)"GET / HTTP/1.0\r\n\r\n0123456789", 28);
	/* not for this consumer */
	uint64_t cof = sess_open(s, u, 254, "pdns-cof"), csv = sess_open(s, u, 8, NULL);
	frame(s, cof, u, 254, D4_TLP_GREEN, (const uint8_t *)"{\"rrname\":\"x\"}\n", 15);
	frame(s, csv, u, 8, D4_TLP_GREEN, (const uint8_t *)"a||b\n", 5);
	sess_close(s, a, "peer closed");
	sess_close(s, g, "peer closed");
	sess_close(s, cof, "peer closed");
	sess_close(s, csv, "peer closed");
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
	struct d4_analyze_pssl_opts o;
	opts_for(&o);
	struct d4_analyze_pssl_stats sst;
	drain(s, &o, &sst);
	struct lines got;
	dump_store(s, &got);
	lines_eq(&got, &want);
	ck_assert_uint_eq(sst.handshakes, nh);
	ck_assert_uint_eq(sst.streams_refused, 2);
	ck_assert_uint_eq(sst.bad_packets, 2);
	struct d4_store_pssl_counters c;
	ck_assert_int_eq(d4_store_pssl_counters_get(s, u, &c), 0);
	ck_assert_uint_eq(c.bad_packets, 2);
	ck_assert_uint_eq(c.handshakes, nh);
	ck_assert_uint_eq(c.frames, sst.frames); /* the pdns-cof and type-8 frames are not counted */
	d4_store_close(s);
	rm_dir(g_dir);
	lines_free(&want);
	lines_free(&got);
	free(pc);
}
END_TEST

/* Frames deleted by retention before they were read are counted; a line
 * whose start was deleted fails to parse (counted: which session a deleted
 * frame belonged to is not known, as in the pDNS consumer). */
START_TEST(test_frames_lost)
{
	size_t njl;
	uint8_t *jl = slurp("tls/ja3-jl/openssl-lo.d4hub.jsonl", &njl);
	d4_tls_config_default(&g_cfg);
	new_dir();
	struct d4_store *s = store_open(1);
	uint8_t u[16];
	test_uuid(u, 40);
	uint64_t sid = sess_open(s, u, 254, "ja3-jl");
	/* line 1 whole, then line 2 in two frames, then the rest; the first
	 * two frames are ten days old */
	const uint8_t *n1 = memchr(jl, '\n', njl);
	size_t l1 = (size_t)(n1 - jl) + 1;
	const uint8_t *n2 = memchr(jl + l1, '\n', njl - l1);
	size_t l2 = (size_t)(n2 - (jl + l1)) + 1;
	g_recv_ms = d4_now_ms() - 10ull * 86400 * 1000;
	frame(s, sid, u, 254, D4_TLP_GREEN, jl, l1);
	frame(s, sid, u, 254, D4_TLP_GREEN, jl + l1, l2 / 2);
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0); /* a chunk of their own */
	g_recv_ms = 0;
	frame(s, sid, u, 254, D4_TLP_GREEN, jl + l1 + l2 / 2, l2 - l2 / 2);
	frame(s, sid, u, 254, D4_TLP_GREEN, jl + l1 + l2, njl - l1 - l2);
	sess_close(s, sid, "peer closed");
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
	/* the consumer reads the first frame and commits */
	struct d4_analyze_pssl_opts o;
	opts_for(&o);
	o.frames_per_walk = 1;
	o.batch = 1;
	struct d4_analyze_pssl *x = NULL;
	ck_assert_int_eq(d4_analyze_pssl_new(s, &o, &x), 0);
	int idle = 0;
	ck_assert_int_eq(d4_analyze_pssl_step(x, 1, &idle), 1);
	struct d4_analyze_pssl_stats sx;
	d4_analyze_pssl_stats(x, &sx);
	d4_analyze_pssl_free(x);
	ck_assert_uint_eq(sx.handshakes, 1);
	/* then retention deletes the two old frames */
	d4_store_retention_set(s, 86400, 0);
	ck_assert_int_eq(d4_store_retention_run(s), 2);
	drain(s, &o, &sx);
	ck_assert_uint_eq(sx.frames_lost, 1);
	ck_assert_uint_eq(sx.bad_lines, 1);
	struct d4_store_pssl_counters c;
	ck_assert_int_eq(d4_store_pssl_counters_get(s, u, &c), 0);
	ck_assert_uint_eq(c.bad_lines, 1);
	size_t nlines = 0;
	for (size_t i = 0; i < njl; i++)
		nlines += jl[i] == '\n';
	ck_assert_uint_eq(c.handshakes, nlines - 1);
	d4_store_close(s);
	rm_dir(g_dir);
	free(jl);
}
END_TEST

/* Property: however the streams are cut into frames and interleaved, and
 * whatever the batch size, the stored tuples and counters are those of the
 * libraries over the whole streams. */
START_TEST(test_property_splits)
{
	d4_tls_config_default(&g_cfg);
	size_t npc, njl;
	uint8_t *pc = slurp("tls/openssl-lo.pcap", &npc);
	uint8_t *jl = slurp("tls/ja3-jl/openssl-lo.d4hub.jsonl", &njl);
	struct ref rp, rj;
	memset(&rp, 0, sizeof(rp));
	memset(&rj, 0, sizeof(rj));
	ref_pcap(&rp, &g_cfg, pc, npc, D4_TLP_GREEN);
	ck_assert_uint_eq(ref_jl(&rj, jl, njl, D4_TLP_AMBER), 0);
	struct lines want;
	memset(&want, 0, sizeof(want));
	for (int k = 0; k < 2; k++) /* two pcap sessions */
		for (size_t i = 0; i < rp.L.n; i++)
			lines_add(&want, rp.L.l[i]);
	for (size_t i = 0; i < rj.L.n; i++)
		lines_add(&want, rj.L.l[i]);
	lines_merge(&want);
	static const unsigned maxcuts[] = {13, 300, 4000};
	static const unsigned batches[] = {1, 4, 1000};
	for (unsigned seed = 1; seed <= 6; seed++) {
		new_dir();
		struct d4_store *s = store_open(1);
		uint8_t u[3][16];
		struct stream st[3];
		memset(st, 0, sizeof(st));
		for (unsigned i = 0; i < 3; i++) {
			test_uuid(u[i], 70 + i);
			memcpy(st[i].uuid, u[i], 16);
		}
		st[0].sid = sess_open(s, u[0], 1, NULL);
		st[0].type = 1;
		st[0].tlp = D4_TLP_GREEN;
		st[0].p = pc;
		st[0].n = npc;
		st[1] = st[0];
		st[1].sid = sess_open(s, u[1], 1, NULL);
		memcpy(st[1].uuid, u[1], 16);
		st[2].sid = sess_open(s, u[2], 254, "ja3-jl");
		st[2].type = 254;
		st[2].tlp = D4_TLP_AMBER;
		st[2].p = jl;
		st[2].n = njl;
		size_t nf = post_streams(s, st, 3, maxcuts[seed % 3], seed * 7919u);
		for (unsigned i = 0; i < 3; i++)
			sess_close(s, st[i].sid, "peer closed");
		ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
		struct d4_analyze_pssl_opts o;
		opts_for(&o);
		o.batch = batches[(seed / 3) % 3];
		o.frames_per_walk = 1 + seed * 5;
		struct d4_analyze_pssl_stats sst;
		drain(s, &o, &sst);
		struct lines got;
		dump_store(s, &got);
		lines_eq(&got, &want);
		ck_assert_uint_eq(sst.frames, nf);
		ck_assert_uint_eq(sst.handshakes, 2 * rp.handshakes + rj.handshakes);
		ck_assert_uint_eq(sst.certs, 2 * rp.certs + rj.certs);
		struct d4_store_pssl_counters c;
		sum_counters(s, (const uint8_t(*)[16])u, 3, &c);
		ck_assert_uint_eq(c.frames, nf);
		ck_assert_uint_eq(c.handshakes, 2 * rp.handshakes + rj.handshakes);
		ck_assert_uint_eq(c.bad_lines + c.bad_packets + c.bad_certs, 0);
		d4_store_close(s);
		rm_dir(g_dir);
		lines_free(&got);
	}
	lines_free(&want);
	lines_free(&rp.L);
	lines_free(&rp.certset);
	lines_free(&rj.L);
	lines_free(&rj.certset);
	free(pc);
	free(jl);
}
END_TEST

/* Byte offsets of the capture after which the extractor is empty (no
 * flow, nothing held): the points where the consumer can resume a stream. */
struct cleanscan {
	struct d4_tls *t;
	size_t off, best, want;
};

static int clean_hs(void *ud, const struct d4_tls_handshake *h)
{
	(void)ud, (void)h;
	return 0;
}

static int clean_rec(void *ud, const struct d4_pcap_rec *pr)
{
	struct cleanscan *c = ud;
	ck_assert_int_eq(d4_tls_frame(c->t, (int)pr->linktype, pr->ts_us, pr->data, pr->caplen), 0);
	c->off += 16 + pr->caplen;
	struct d4_tls_stats st;
	d4_tls_get_stats(c->t, &st);
	if (st.flows_active == 0 && st.bytes_held == 0) {
		size_t d0 = c->best > c->want ? c->best - c->want : c->want - c->best;
		size_t d1 = c->off > c->want ? c->off - c->want : c->want - c->off;
		if (c->best == 0 || d1 < d0)
			c->best = c->off;
	}
	return 0;
}

/* A long-lived stream whose first frames retention deleted while the hub
 * was down: the consumer rebuilds it at its last clean point (the cursor
 * keeps the stream's global header), not from its first frame (gone: the
 * stream would fail and every later handshake of it would be lost). */
START_TEST(test_resume_after_retention)
{
	size_t npc;
	uint8_t *pc = slurp("tls/openssl-lo.pcap", &npc);
	d4_tls_config_default(&g_cfg);
	struct cleanscan cs = {d4_tls_new(&g_cfg, clean_hs, NULL), 24, 0, npc / 2};
	struct d4_pcapsplit *sp = d4_pcapsplit_new(0);
	ck_assert_int_eq(d4_pcapsplit_feed(sp, pc, npc, clean_rec, &cs), 0);
	d4_pcapsplit_free(sp);
	d4_tls_free(cs.t);
	size_t cut = cs.best;
	ck_assert(cut > 24 && cut < npc);
	struct ref r, r1;
	memset(&r, 0, sizeof(r));
	memset(&r1, 0, sizeof(r1));
	ref_pcap(&r, &g_cfg, pc, npc, D4_TLP_GREEN);
	ref_pcap(&r1, &g_cfg, pc, cut, D4_TLP_GREEN);
	ck_assert_uint_gt(r1.handshakes, 0);
	ck_assert_uint_lt(r1.handshakes, r.handshakes);

	new_dir();
	struct d4_store *s = store_open(1);
	uint8_t u[16];
	test_uuid(u, 60);
	uint64_t sid = sess_open(s, u, 1, NULL);
	g_recv_ms = d4_now_ms() - 10ull * 86400 * 1000;
	struct stream st = {sid, {0}, 1, D4_TLP_GREEN, pc, cut, 0};
	memcpy(st.uuid, u, 16);
	post_streams(s, &st, 1, 900, 5);
	g_recv_ms = 0;
	struct d4_analyze_pssl_opts o;
	opts_for(&o);
	struct d4_analyze_pssl *x = NULL;
	ck_assert_int_eq(d4_analyze_pssl_new(s, &o, &x), 0);
	int idle = 0;
	ck_assert_int_ge(d4_analyze_pssl_step(x, 0, &idle), 1);
	ck_assert_int_eq(idle, 1);
	struct d4_analyze_pssl_stats sx;
	d4_analyze_pssl_stats(x, &sx);
	ck_assert_uint_eq(sx.handshakes, r1.handshakes);
	ck_assert_uint_eq(sx.replay_from, sx.cursor + 1); /* nothing to read again */
	d4_analyze_pssl_free(x);
	/* the hub is down; retention deletes the stream's frames so far; the
	 * sensor goes on in the same session */
	d4_store_retention_set(s, 86400, 0);
	ck_assert_int_gt(d4_store_retention_run(s), 0);
	d4_store_retention_set(s, 0, 0);
	st.p = pc + cut;
	st.n = npc - cut;
	st.off = 0;
	post_streams(s, &st, 1, 900, 6);
	sess_close(s, sid, "peer closed");
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
	drain(s, &o, &sx);
	ck_assert_uint_eq(sx.resumed, 1);
	ck_assert_uint_eq(sx.streams_refused, 0);
	ck_assert_uint_eq(sx.frames_lost, 0);
	ck_assert_uint_eq(sx.handshakes, r.handshakes - r1.handshakes);
	struct lines got;
	dump_store(s, &got);
	lines_merge(&r.L);
	lines_eq(&got, &r.L);
	d4_store_close(s);
	rm_dir(g_dir);
	lines_free(&got);
	lines_free(&r.L);
	lines_free(&r.certset);
	lines_free(&r1.L);
	lines_free(&r1.certset);
	free(pc);
}
END_TEST

/* A certificate with fields the store bounds otherwise than the parser: an
 * IP SAN of 8 bytes (not an address: left out, the certificate flagged) next
 * to a DNS SAN, and a 300-byte commonName: stored parsed, never a batch the
 * store refuses (which would stop the consumer). */
static size_t odd_cert(uint8_t *out, size_t cap)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	ck_assert_ptr_nonnull(k);
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME *nm = X509_NAME_new();
	char cn[301];
	memset(cn, 'a', 300);
	cn[300] = 0;
	ck_assert(X509_NAME_add_entry_by_txt(nm, "CN", V_ASN1_UTF8STRING, (const unsigned char *)cn, -1, -1, 0));
	X509_set_subject_name(x, nm);
	X509_set_issuer_name(x, nm);
	X509_NAME_free(nm);
	X509_set_pubkey(x, k);
	GENERAL_NAMES *gns = GENERAL_NAMES_new();
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *d = ASN1_IA5STRING_new();
	ASN1_STRING_set(d, "odd.test", -1);
	GENERAL_NAME_set0_value(g, GEN_DNS, d);
	sk_GENERAL_NAME_push(gns, g);
	g = GENERAL_NAME_new();
	ASN1_OCTET_STRING *ip = ASN1_OCTET_STRING_new();
	ASN1_OCTET_STRING_set(ip, (const unsigned char *)"\xc0\x00\x02\x01\x00\x00\x00\x00", 8);
	GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
	sk_GENERAL_NAME_push(gns, g);
	ck_assert(X509_add1_ext_i2d(x, NID_subject_alt_name, gns, 0, 0) == 1);
	GENERAL_NAMES_free(gns);
	ck_assert(X509_sign(x, k, EVP_sha256()) > 0);
	int n = i2d_X509(x, NULL);
	ck_assert(n > 0 && (size_t)n <= cap);
	unsigned char *p = out;
	i2d_X509(x, &p);
	X509_free(x);
	EVP_PKEY_free(k);
	return (size_t)n;
}

static int odd_cb(void *ctx, const struct d4_store_pssl_cert *sc)
{
	int *seen = ctx;
	(*seen)++;
	ck_assert_int_eq(sc->parsed, 1);
	ck_assert_uint_eq(sc->n_san, 1);
	ck_assert_uint_eq(sc->san[0].type, 1);
	ck_assert(sc->x509_flags & D4_X509_F_SAN_BAD);
	ck_assert_ptr_nonnull(sc->cn);
	ck_assert_uint_ge(strlen(sc->cn), 200);
	return 0;
}

START_TEST(test_odd_certificate)
{
	d4_tls_config_default(&g_cfg);
	static uint8_t der[4096];
	size_t n = odd_cert(der, sizeof(der));
	static char b64[8192], line[16384];
	EVP_EncodeBlock((unsigned char *)b64, der, (int)n);
	snprintf(line, sizeof(line),
		 "{\"ServerIP\":\"192.0.2.20\",\"ServerPort\":\"443\",\"ClientIP\":\"192.0.2.1\",\"ClientPort\":\"1\","
		 "\"TLSH\":\"\",\"Timestamp\":\"2019-03-20T13:05:09Z\",\"JA3\":\"\",\"JA3Digest\":\"\",\"JA3S\":\"\","
		 "\"JA3SDigest\":\"\",\"Certificates\":[{\"Raw\":\"%s\"}]}\n",
		 b64);
	new_dir();
	struct d4_store *s = store_open(1);
	uint8_t u[16];
	test_uuid(u, 50);
	uint64_t sid = sess_open(s, u, 254, "ja3-jl");
	frame(s, sid, u, 254, D4_TLP_GREEN, (const uint8_t *)line, strlen(line));
	sess_close(s, sid, "peer closed");
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
	struct d4_analyze_pssl_opts o;
	opts_for(&o);
	struct d4_analyze_pssl_stats st;
	drain(s, &o, &st);
	ck_assert_uint_eq(st.handshakes, 1);
	ck_assert_uint_eq(st.certs_new, 1);
	ck_assert_uint_eq(st.bad_certs, 0);
	uint8_t sha[20];
	unsigned hl = 0;
	ck_assert(EVP_Digest(der, n, sha, &hl, EVP_sha1(), NULL));
	int seen = 0;
	ck_assert_int_eq(d4_store_pssl_cert_get(s, sha, D4_TLP_RED, odd_cb, &seen), 0);
	ck_assert_int_eq(seen, 1);
	d4_store_close(s);
	rm_dir(g_dir);
}
END_TEST

START_TEST(test_opts_check)
{
	struct d4_analyze_pssl_opts o;
	char err[256];
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(d4_analyze_pssl_opts_check(&o, err, sizeof(err)), 0);
	o.max_line = 100;
	ck_assert_int_eq(d4_analyze_pssl_opts_check(&o, err, sizeof(err)), D4_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "max_line"));
	o.max_line = 1 << 20;
	o.max_buffered = 4096;
	ck_assert_int_eq(d4_analyze_pssl_opts_check(&o, err, sizeof(err)), D4_EINVAL);
	o.max_buffered = 0;
	o.batch = 2000000;
	ck_assert_int_eq(d4_analyze_pssl_opts_check(&o, err, sizeof(err)), D4_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "batch"));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pssl_ingest");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_exact);
	tcase_add_test(tc, test_restart_every_batch);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_truncated_and_refused);
	tcase_add_test(tc, test_frames_lost);
	tcase_add_test(tc, test_property_splits);
	tcase_add_test(tc, test_resume_after_retention);
	tcase_add_test(tc, test_odd_certificate);
	tcase_add_test(tc, test_opts_check);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
