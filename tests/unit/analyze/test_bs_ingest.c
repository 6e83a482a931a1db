/* Check suite for hub/analyze: the backscatter consumer over a real
 * temporary store. The captures are written by the test (victims of every
 * shape it needs, over IPv4 and IPv6); the expected vectors come from the
 * library itself (d4_pcapsplit + d4_bs_agg with the tick rule of
 * d4-backscatter) over the same frames in log order, never from hard-coded
 * sums. */
#include "d4_analyze.h"
#include "d4_backscatter.h"
#include "d4_error.h"
#include "d4_pkt.h"
#include "d4_policy.h"
#include "d4_store.h"
#include "d4_store_bs.h"
#include "d4_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 1700000000ull /* capture start, seconds */

/* ---- captures ---- */

struct pkt {
	uint64_t ts_us;
	uint8_t b[128];
	size_t n;
};

struct cap {
	struct pkt *p;
	size_t n, cap;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static struct pkt *cap_add(struct cap *c, uint64_t ts_us)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		c->p = realloc(c->p, c->cap * sizeof(*c->p));
		ck_assert_ptr_nonnull(c->p);
	}
	struct pkt *k = &c->p[c->n++];
	memset(k, 0, sizeof(*k));
	k->ts_us = ts_us;
	return k;
}

/* IPv4 header + l4 (raw IP, link type 101). */
static void ip4(struct pkt *k, const uint8_t src[4], const uint8_t dst[4], uint8_t proto, const uint8_t *l4, size_t n)
{
	uint8_t *p = k->b;
	p[0] = 0x45;
	put16(p + 2, (uint16_t)(20 + n));
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, src, 4);
	memcpy(p + 16, dst, 4);
	memcpy(p + 20, l4, n);
	k->n = 20 + n;
}

static void ip6(struct pkt *k, const uint8_t src[16], const uint8_t dst[16], uint8_t proto, const uint8_t *l4, size_t n)
{
	uint8_t *p = k->b;
	p[0] = 0x60;
	put16(p + 4, (uint16_t)n);
	p[6] = proto;
	p[7] = 64;
	memcpy(p + 8, src, 16);
	memcpy(p + 24, dst, 16);
	memcpy(p + 40, l4, n);
	k->n = 40 + n;
}

static size_t tcp(uint8_t *t, uint16_t sp, uint16_t dp, uint8_t flags)
{
	memset(t, 0, 20);
	put16(t, sp);
	put16(t + 2, dp);
	t[7] = 1;
	t[11] = 2;
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, 65535);
	return 20;
}

static const uint8_t V4A[4] = {198, 51, 100, 1}, V4B[4] = {198, 51, 100, 2}, V4C[4] = {203, 0, 113, 9};
static const uint8_t V6A[16] = {0x20, 0x01, 0x0d, 0xb9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};
static const uint8_t T6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

static void tele4(uint8_t a[4], unsigned i)
{
	a[0] = 10;
	a[1] = (uint8_t)(i >> 16);
	a[2] = (uint8_t)(i >> 8);
	a[3] = (uint8_t)i;
}

/* Victims: a SYN+ACK flood (IPv4, ports 80/443, 700 s), an RST flood (IPv4,
 * 200 s), an echo-reply flood (IPv4), ICMP unreachables quoting UDP to
 * port 53, a SYN+ACK flood over IPv6, a victim just under the packet
 * threshold; scans and packets outside the telescope; a last ordinary
 * packet an hour later that closes every vector. In time order. */
static void gen_capture(struct cap *c, int with_live)
{
	memset(c, 0, sizeof(*c));
	uint8_t l4[64], d[4];
	for (unsigned s = 0; s < 900; s++) {
		uint64_t base = (T0 + s) * 1000000ull;
		if (s < 700) { /* SYN+ACK, 1 per second */
			struct pkt *k = cap_add(c, base + 1000);
			tele4(d, s * 7 + 1);
			ip4(k, V4A, d, 6, l4, tcp(l4, s % 3 ? 80 : 443, (uint16_t)(1024 + s), 0x12));
		}
		if (s >= 100 && s < 300) { /* RST with ACK, 2 per second */
			for (unsigned j = 0; j < 2; j++) {
				struct pkt *k = cap_add(c, base + 200000 + j * 300000);
				tele4(d, s * 13 + j);
				ip4(k, V4B, d, 6, l4, tcp(l4, 22, (uint16_t)(2000 + s), 0x14));
			}
		}
		if (s >= 200 && s < 400 && s % 2 == 0) { /* echo replies */
			struct pkt *k = cap_add(c, base + 400000);
			tele4(d, s);
			memset(l4, 0, 8);
			l4[0] = 0;
			put16(l4 + 4, 77);
			ip4(k, V4C, d, 1, l4, 8);
		}
		if (s >= 300 && s < 500) { /* unreachable from a router, quoting UDP to V4A:53 */
			struct pkt *k = cap_add(c, base + 500000);
			uint8_t rtr[4] = {192, 0, 2, 254};
			tele4(d, s * 3);
			memset(l4, 0, 36);
			l4[0] = 3;
			l4[1] = 3;
			uint8_t *q = l4 + 8;
			q[0] = 0x45;
			put16(q + 2, 40);
			q[8] = 60;
			q[9] = 17;
			memcpy(q + 12, d, 4);
			memcpy(q + 16, V4A, 4);
			put16(q + 20, 4444);
			put16(q + 22, 53);
			ip4(k, rtr, d, 1, l4, 36);
		}
		if (s >= 50 && s < 250) { /* IPv6 SYN+ACK */
			struct pkt *k = cap_add(c, base + 600000);
			uint8_t d6[16];
			memcpy(d6, T6, 16);
			d6[14] = (uint8_t)(s >> 8);
			d6[15] = (uint8_t)s;
			ip6(k, V6A, d6, 6, l4, tcp(l4, 8443, (uint16_t)(3000 + s), 0x12));
		}
		if (s >= 10 && s < 34) { /* just under min_packets: 24 packets over 24 s x 3 */
			struct pkt *k = cap_add(c, base + 700000);
			uint8_t v[4] = {203, 0, 113, 77};
			tele4(d, s);
			ip4(k, v, d, 6, l4, tcp(l4, 25, 4000, 0x12));
		}
		if (s % 10 == 5) { /* a scan (pure ACK) and a SYN+ACK outside the telescope */
			struct pkt *k = cap_add(c, base + 800000);
			uint8_t src[4] = {192, 0, 2, 1};
			tele4(d, s);
			ip4(k, src, d, 6, l4, tcp(l4, 1234, 80, 0x10));
			k = cap_add(c, base + 810000);
			uint8_t out[4] = {192, 168, 1, 1};
			ip4(k, V4A, out, 6, l4, tcp(l4, 80, 5555, 0x12));
		}
		if (with_live && s >= 600 && s < 700) {
			/* our own host 10.9.9.9 connects to V4B:443 and gets its SYN+ACK */
			uint8_t own[4] = {10, 9, 9, 9};
			struct pkt *k = cap_add(c, base + 900000);
			ip4(k, own, V4B, 6, l4, tcp(l4, (uint16_t)(40000 + s), 443, 0x02));
			k = cap_add(c, base + 950000);
			ip4(k, V4B, own, 6, l4, tcp(l4, 443, (uint16_t)(40000 + s), 0x12));
		}
	}
	/* an hour later: closes every vector */
	struct pkt *k = cap_add(c, (T0 + 4600) * 1000000ull);
	uint8_t src[4] = {192, 0, 2, 1}, dst[4] = {10, 0, 0, 1};
	memset(l4, 0, 12);
	put16(l4, 53);
	put16(l4 + 2, 53);
	put16(l4 + 4, 12);
	ip4(k, src, dst, 17, l4, 12);
}

/* The capture as a pcap byte stream (microsecond, little-endian, raw IP). */
static uint8_t *to_pcap(const struct cap *c, size_t *len)
{
	size_t n = 24;
	for (size_t i = 0; i < c->n; i++)
		n += 16 + c->p[i].n;
	uint8_t *b = malloc(n), *p = b;
	uint32_t g[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 101};
	memcpy(p, g, 24); /* host order = little-endian here; the splitter reads both */
	p += 24;
	for (size_t i = 0; i < c->n; i++) {
		uint32_t h[4] = {(uint32_t)(c->p[i].ts_us / 1000000u), (uint32_t)(c->p[i].ts_us % 1000000u),
				 (uint32_t)c->p[i].n, (uint32_t)c->p[i].n};
		memcpy(p, h, 16);
		memcpy(p + 16, c->p[i].b, c->p[i].n);
		p += 16 + c->p[i].n;
	}
	*len = n;
	return b;
}

/* Reorders packets at random within windows of w seconds of capture
 * (less than the 16-minute peak window, and never across the last packet,
 * which is an hour later). */
static void shuffle_within(struct cap *c, unsigned w, unsigned *seed)
{
	size_t i = 0;
	while (i + 1 < c->n) {
		size_t j = i;
		uint64_t end = c->p[i].ts_us + (uint64_t)w * 1000000u;
		while (j < c->n - 1 && c->p[j].ts_us < end)
			j++;
		for (size_t k = j - 1; k > i; k--) {
			*seed = *seed * 1103515245u + 12345u;
			size_t r = i + (*seed >> 8) % (k - i + 1);
			struct pkt t = c->p[k];
			c->p[k] = c->p[r];
			c->p[r] = t;
		}
		i = j > i ? j : i + 1;
	}
}

/* ---- store ---- */

static char g_dir[256];

static struct d4_store *store_open(int writer)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = g_dir;
	o.map_size = 512u << 20;
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
	snprintf(g_dir, sizeof(g_dir), "/tmp/d4test_bsingest_XXXXXX");
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
	u[0] = 0xb5;
	u[6] = 0x40;
	u[8] = 0x80;
	u[15] = (uint8_t)n;
}

static uint64_t sess_open(struct d4_store *s, const uint8_t u[16])
{
	struct d4_session_open op;
	memset(&op, 0, sizeof(op));
	op.session = d4_store_session_id_new(s);
	memcpy(op.uuid, u, 16);
	op.type = 1;
	op.when = d4_now_s();
	op.auto_create = 1;
	ck_assert_int_eq(d4_store_post_session_open(s, &op), 0);
	return op.session;
}

/* A posted frame, kept for the reference run. */
struct pframe {
	uint64_t session;
	uint8_t uuid[16];
	uint8_t *p;
	size_t n;
};
struct plog {
	struct pframe *f;
	size_t n, cap;
};

static void frame(struct d4_store *s, struct plog *lg, uint64_t sid, const uint8_t u[16], const uint8_t *p, size_t n)
{
	struct d4_frame_rec r;
	memset(&r, 0, sizeof(r));
	r.session = sid;
	memcpy(r.uuid, u, 16);
	r.type = 1;
	r.version = 1;
	r.tlp = D4_TLP_GREEN;
	r.hdr_ts = d4_now_s();
	r.recv_ms = d4_now_ms();
	r.size = (uint32_t)n;
	int rc;
	for (int i = 0; (rc = d4_store_post_frame(s, &r, p)) == D4_EAGAIN && i < 100000; i++)
		usleep(200);
	ck_assert_int_eq(rc, 0);
	if (lg) {
		if (lg->n == lg->cap) {
			lg->cap = lg->cap ? lg->cap * 2 : 256;
			lg->f = realloc(lg->f, lg->cap * sizeof(*lg->f));
		}
		struct pframe *f = &lg->f[lg->n++];
		f->session = sid;
		memcpy(f->uuid, u, 16);
		f->p = malloc(n ? n : 1);
		memcpy(f->p, p, n);
		f->n = n;
	}
}

static void plog_free(struct plog *lg)
{
	for (size_t i = 0; i < lg->n; i++)
		free(lg->f[i].p);
	free(lg->f);
	memset(lg, 0, sizeof(*lg));
}

/* Streams (one per session) posted interleaved, each cut in pieces of
 * 1..maxcut bytes drawn from seed. */
static void post_streams(struct d4_store *s, struct plog *lg, unsigned ns, const uint64_t *sid, const uint8_t (*u)[16],
			 uint8_t *const *b, const size_t *n, unsigned maxcut, unsigned seed)
{
	size_t off[8] = {0};
	for (;;) {
		int any = 0;
		for (unsigned k = 0; k < ns; k++) {
			if (off[k] >= n[k])
				continue;
			any = 1;
			seed = seed * 1103515245u + 12345u;
			size_t c = 1 + (seed >> 8) % maxcut;
			if (c > n[k] - off[k])
				c = n[k] - off[k];
			frame(s, lg, sid[k], u[k], b[k] + off[k], c);
			off[k] += c;
		}
		if (!any)
			break;
	}
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
}

/* ---- canonical text of a vector ---- */

static void vec_line(const struct d4_store_bs_vec *v, int with_updates, char *out, size_t cap)
{
	char ports[400] = "", sens[400] = "";
	size_t o = 0;
	for (uint32_t i = 0; i < v->n_ports && i < D4_STORE_BS_TOP_PORTS; i++)
		o += (size_t)snprintf(ports + o, sizeof(ports) - o, "%u:%llu,", v->ports[i].port,
				      (unsigned long long)v->ports[i].packets);
	o = 0;
	for (uint32_t i = 0; i < v->n_sensors && i < D4_STORE_BS_SENSORS; i++)
		o += (size_t)snprintf(sens + o, sizeof(sens) - o, "%02x%02x,", v->sensors[i][0], v->sensors[i][15]);
	char vic[64];
	d4_pkt_addr_str(v->victim, vic, sizeof(vic));
	snprintf(out, cap, "%s|%u|%llu|st%u|%llu|%llu|%llu|%s|%u|%llu|%llu|%u|%u|%.6f|%.3f|%.3f|%u|%s|%u|%u|%u|%u", vic,
		 v->kind, (unsigned long long)v->first_us, v->state, (unsigned long long)v->last_us,
		 (unsigned long long)v->packets, (unsigned long long)v->bytes, ports, v->ports_distinct,
		 (unsigned long long)v->ports_other, (unsigned long long)v->telescope_addrs, v->telescope_exact,
		 v->peak_ppm, v->observed_pps, v->est_pps, v->est_peak_pps, v->est_valid, sens, v->sensors_more, v->tlp,
		 v->org_mixed, with_updates ? v->updates : 0);
}

struct lines {
	char **l;
	size_t n, cap;
	int with_updates;
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

static void lines_eq(const struct lines *a, const struct lines *b)
{
	if (a->n != b->n || getenv("BS_DEBUG")) {
		for (size_t i = 0; i < a->n; i++)
			fprintf(stderr, "a: %s\n", a->l[i]);
		for (size_t i = 0; i < b->n; i++)
			fprintf(stderr, "b: %s\n", b->l[i]);
	}
	ck_assert_uint_eq(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		ck_assert_str_eq(a->l[i], b->l[i]);
}

static int dump_cb(void *ctx, const struct d4_store_bs_vec *v)
{
	struct lines *L = ctx;
	char line[1024];
	vec_line(v, L->with_updates, line, sizeof(line));
	lines_add(L, line);
	return 0;
}

static void dump_store(struct d4_store *s, int with_updates, struct lines *L)
{
	memset(L, 0, sizeof(*L));
	L->with_updates = with_updates;
	struct d4_store_bs_query q;
	memset(&q, 0, sizeof(q));
	q.max_tlp = D4_TLP_RED;
	struct d4_store_bs_qresult res;
	ck_assert_int_eq(d4_store_bs_query(s, &q, dump_cb, L, &res), 0);
	ck_assert_int_eq(res.more, 0);
	if (L->n)
		qsort(L->l, L->n, sizeof(*L->l), cmpstr);
}

/* ---- reference: the library over the posted frames, in log order ---- */

struct refrun {
	struct d4_bs_agg *agg;
	uint64_t next_tick;
	const uint8_t *uuid;
	struct d4_store_bs_vec *v; /* latest emission per identity */
	size_t n, cap;
	uint64_t packets, decoded;
};

static void to_store(const struct d4_bs_vector *v, struct d4_store_bs_vec *o)
{
	memset(o, 0, sizeof(*o));
	memcpy(o->victim, v->victim, 16);
	o->kind = v->kind;
	o->first_us = v->first_us;
	o->state = v->state;
	o->last_us = v->last_us;
	o->packets = v->packets;
	o->bytes = v->bytes;
	o->n_ports = v->n_ports;
	for (uint32_t i = 0; i < v->n_ports; i++) {
		o->ports[i].port = v->ports[i].port;
		o->ports[i].packets = v->ports[i].packets;
	}
	o->ports_distinct = v->ports_distinct;
	o->ports_other = v->ports_other;
	o->telescope_addrs = v->telescope_addrs;
	o->telescope_exact = v->telescope_exact;
	o->peak_ppm = v->peak_ppm;
	o->observed_pps = v->observed_pps;
	o->est_pps = v->est_pps;
	o->est_peak_pps = v->est_peak_pps;
	o->est_valid = v->est_valid;
	o->n_sensors = v->n_sensors;
	memcpy(o->sensors, v->sensors, sizeof(o->sensors));
	o->sensors_more = v->sensors_more;
	o->tlp = v->tlp;
	memcpy(o->org, v->org, 16);
	o->org_mixed = v->org_mixed;
	o->updates = v->updates;
}

static int ref_emit(const struct d4_bs_vector *v, void *ud)
{
	struct refrun *r = ud;
	struct d4_store_bs_vec sv;
	to_store(v, &sv);
	for (size_t i = 0; i < r->n; i++)
		if (!memcmp(r->v[i].victim, sv.victim, 16) && r->v[i].kind == sv.kind &&
		    r->v[i].first_us == sv.first_us) {
			r->v[i] = sv;
			return 0;
		}
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
	}
	r->v[r->n++] = sv;
	return 0;
}

static int ref_rec(void *ud, const struct d4_pcap_rec *pr)
{
	struct refrun *r = ud;
	r->packets++;
	if (pr->ts_us >= r->next_tick) {
		ck_assert_int_eq(d4_bs_agg_tick(r->agg, pr->ts_us, ref_emit, r), 0);
		r->next_tick = (pr->ts_us / 1000000u + 1) * 1000000u;
	}
	struct d4_pkt pk;
	if (d4_pkt_decode((int)pr->linktype, pr->data, pr->caplen, &pk) != 0)
		return 0;
	r->decoded++;
	int rc = d4_bs_agg_add(r->agg, &pk, pr->ts_us, r->uuid, D4_TLP_GREEN, NULL);
	ck_assert(rc == 0 || rc == D4_EFULL);
	return 0;
}

struct refwalk {
	struct refrun *r;
	uint64_t ids[8];
	struct d4_pcapsplit *sp[8];
	unsigned nids;
};

static int ref_frame(void *ctx, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	struct refwalk *w = ctx;
	if (rec->type != 1)
		return 0;
	unsigned k = 0;
	while (k < w->nids && w->ids[k] != rec->session)
		k++;
	if (k == w->nids) {
		ck_assert_uint_lt(w->nids, 8);
		w->ids[w->nids] = rec->session;
		w->sp[w->nids++] = d4_pcapsplit_new(0);
	}
	w->r->uuid = rec->uuid;
	d4_pcapsplit_feed(w->sp[k], payload, rec->size, ref_rec, w->r);
	return 0;
}

/* The library over the store's type-1 frames in log order. */
static void reference(struct d4_store *s, const struct d4_bs_opts *o, int with_updates, struct lines *L,
		      struct d4_bs_stats *st)
{
	struct refrun r;
	memset(&r, 0, sizeof(r));
	r.agg = d4_bs_agg_new(o);
	ck_assert_ptr_nonnull(r.agg);
	struct refwalk w;
	memset(&w, 0, sizeof(w));
	w.r = &r;
	ck_assert_int_eq(d4_store_frame_foreach(s, 1, 0, ref_frame, &w), 0);
	memset(L, 0, sizeof(*L));
	L->with_updates = with_updates;
	for (size_t i = 0; i < r.n; i++) {
		char line[1024];
		vec_line(&r.v[i], with_updates, line, sizeof(line));
		lines_add(L, line);
	}
	if (L->n)
		qsort(L->l, L->n, sizeof(*L->l), cmpstr);
	if (st)
		d4_bs_agg_stats(r.agg, st);
	for (unsigned k = 0; k < w.nids; k++)
		d4_pcapsplit_free(w.sp[k]);
	d4_bs_agg_free(r.agg);
	free(r.v);
}

/* ---- consumer runs ---- */

static void opts_for(struct d4_analyze_bs_opts *o, const struct d4_bs_prefix *tele, size_t ntele, int live)
{
	memset(o, 0, sizeof(*o));
	d4_bs_opts_default(&o->agg);
	o->agg.telescope = tele;
	o->agg.n_telescope = ntele;
	o->agg.live = live;
}

static void drain(struct d4_store *s, const struct d4_analyze_bs_opts *o, struct d4_analyze_bs_stats *st)
{
	struct d4_analyze_bs *x = NULL;
	ck_assert_int_eq(d4_analyze_bs_new(s, o, &x), 0);
	int idle = 0;
	ck_assert_int_ge(d4_analyze_bs_step(x, 0, &idle), 0);
	ck_assert_int_eq(idle, 1);
	if (st)
		d4_analyze_bs_stats(x, st);
	d4_analyze_bs_free(x);
}

static void sum_counters(struct d4_store *s, const uint8_t (*u)[16], unsigned nu, struct d4_store_bs_counters *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned k = 0; k < nu; k++) {
		struct d4_store_bs_counters c;
		int rc = d4_store_bs_counters_get(s, u[k], &c);
		if (rc == D4_ENOTFOUND)
			continue;
		ck_assert_int_eq(rc, 0);
		out->frames += c.frames;
		out->packets += c.packets;
		out->bad_packets += c.bad_packets;
		out->backscatter += c.backscatter;
		out->dropped += c.dropped;
		for (unsigned i = 0; i < D4_STORE_BS_KINDS; i++)
			out->by_kind[i] += c.by_kind[i];
		for (unsigned i = 0; i < D4_STORE_BS_REASONS; i++)
			out->by_reason[i] += c.by_reason[i];
	}
}

static int counters_eq(const struct d4_store_bs_counters *a, const struct d4_store_bs_counters *b)
{
	return a->frames == b->frames && a->packets == b->packets && a->bad_packets == b->bad_packets &&
	       a->backscatter == b->backscatter && a->dropped == b->dropped &&
	       !memcmp(a->by_kind, b->by_kind, sizeof(a->by_kind)) &&
	       !memcmp(a->by_reason, b->by_reason, sizeof(a->by_reason));
}

static struct d4_bs_prefix g_tele[2];

static void setup_tele(void)
{
	ck_assert_int_eq(d4_bs_prefix_parse("10.0.0.0/8", &g_tele[0]), 0);
	ck_assert_int_eq(d4_bs_prefix_parse("2001:db8::/32", &g_tele[1]), 0);
}

/* ---- tests ---- */

/* One capture in frames of random sizes: the stored vectors equal the
 * library's over the same frames, with exact counters; the victims under a
 * threshold, the scans and the packets outside the telescope make none. */
START_TEST(test_vectors_exact)
{
	setup_tele();
	struct cap c;
	gen_capture(&c, 0);
	size_t n;
	uint8_t *pc = to_pcap(&c, &n);
	new_dir();
	struct d4_store *s = store_open(1);
	uint8_t u[1][16];
	test_uuid(u[0], 1);
	uint64_t sid = sess_open(s, u[0]);
	struct plog lg;
	memset(&lg, 0, sizeof(lg));
	uint8_t *bs[1] = {pc};
	post_streams(s, &lg, 1, &sid, (const uint8_t(*)[16])u, bs, &n, 700, 7);

	struct d4_analyze_bs_opts o;
	opts_for(&o, g_tele, 2, 0);
	struct d4_analyze_bs_stats st;
	drain(s, &o, &st);
	struct lines got, want;
	dump_store(s, 1, &got);
	struct d4_bs_stats rs;
	reference(s, &o.agg, 1, &want, &rs);
	lines_eq(&got, &want);
	/* five attacks reported and closed; the victim under min_packets not */
	unsigned closed = 0;
	for (size_t i = 0; i < got.n; i++)
		closed += strstr(got.l[i], "|st2|") != NULL;
	ck_assert_uint_eq(closed, 5);
	ck_assert_uint_eq(rs.vectors_reported, 5);
	for (size_t i = 0; i < got.n; i++)
		ck_assert_ptr_null(strstr(got.l[i], "203.0.113.77|"));
	struct d4_store_bs_counters sc;
	sum_counters(s, (const uint8_t(*)[16])u, 1, &sc);
	ck_assert_uint_eq(sc.frames, lg.n);
	ck_assert_uint_eq(sc.packets, c.n);
	ck_assert_uint_eq(sc.backscatter, rs.backscatter);
	ck_assert_uint_eq(sc.by_reason[D4_BS_R_SCAN], rs.by_reason[D4_BS_R_SCAN]);
	ck_assert_uint_gt(sc.by_reason[D4_BS_R_SCAN], 0);
	ck_assert_uint_eq(sc.by_reason[D4_BS_R_NOT_TELESCOPE], rs.by_reason[D4_BS_R_NOT_TELESCOPE]);
	ck_assert_uint_gt(sc.by_reason[D4_BS_R_NOT_TELESCOPE], 0);
	for (unsigned k = 1; k < D4_BS_KIND_COUNT; k++)
		ck_assert_uint_eq(sc.by_kind[k], rs.by_kind[k]);
	ck_assert_uint_eq(st.packets, c.n);
	ck_assert_uint_eq(st.vectors_reported, 5);
	lines_free(&got);
	lines_free(&want);
	plog_free(&lg);
	d4_store_close(s);
	rm_dir(g_dir);
	free(pc);
	free(c.p);
}
END_TEST

struct lasts {
	uint64_t v[256];
	size_t n;
};

static int last_cb(void *ctx, const struct d4_store_bs_vec *v)
{
	struct lasts *L = ctx;
	ck_assert_uint_lt(L->n, 256);
	L->v[L->n++] = v->last_us;
	return 0;
}

static size_t count_lasts(struct d4_store *s, struct lasts *L, uint64_t *min, uint64_t *max)
{
	struct d4_store_bs_query q;
	memset(&q, 0, sizeof(q));
	q.max_tlp = D4_TLP_RED;
	struct d4_store_bs_qresult res;
	L->n = 0;
	ck_assert_int_eq(d4_store_bs_query(s, &q, last_cb, L, &res), 0);
	*min = UINT64_MAX;
	*max = 0;
	for (size_t i = 0; i < L->n; i++) {
		*min = L->v[i] < *min ? L->v[i] : *min;
		*max = L->v[i] > *max ? L->v[i] : *max;
	}
	return L->n;
}

/* [backscatter] retention: d4_analyze_bs_maintain removes exactly the
 * vectors whose last packet is older than retention before its wall clock,
 * at most once per expire_every_s; retention 0 keeps everything. */
START_TEST(test_retention)
{
	setup_tele();
	struct cap c;
	gen_capture(&c, 0);
	size_t n;
	uint8_t *pc = to_pcap(&c, &n);
	new_dir();
	struct d4_store *s = store_open(1);
	uint8_t u[1][16];
	test_uuid(u[0], 1);
	uint64_t sid = sess_open(s, u[0]);
	struct plog lg;
	memset(&lg, 0, sizeof(lg));
	uint8_t *bs[1] = {pc};
	post_streams(s, &lg, 1, &sid, (const uint8_t(*)[16])u, bs, &n, 700, 7);
	struct d4_analyze_bs_opts o;
	opts_for(&o, g_tele, 2, 0);
	drain(s, &o, NULL);
	static struct lasts all, now_l;
	uint64_t lo, hi, lo2, hi2;
	size_t total = count_lasts(s, &all, &lo, &hi);
	ck_assert_uint_ge(total, 5);
	ck_assert_uint_lt(lo / 1000000u, hi / 1000000u); /* vectors of different ages */
	const uint64_t ret = 86400;

	struct d4_analyze_bs *x = NULL;
	ck_assert_int_eq(d4_analyze_bs_new(s, &o, &x), 0); /* retention 0: keep */
	ck_assert_int_eq(d4_analyze_bs_maintain(x, hi / 1000000u + 10 * ret, 1), 0);
	d4_analyze_bs_free(x);
	ck_assert_uint_eq(count_lasts(s, &now_l, &lo2, &hi2), total);

	o.retention_s = ret;
	ck_assert_int_eq(d4_analyze_bs_new(s, &o, &x), 0);
	/* the oldest vector's last packet at the cutoff: kept */
	uint64_t t1 = lo / 1000000u + ret;
	ck_assert_int_eq(d4_analyze_bs_maintain(x, t1, 100 * ret), 0);
	ck_assert_uint_eq(count_lasts(s, &now_l, &lo2, &hi2), total);
	/* within expire_every_s of that run nothing is removed, even past every vector */
	ck_assert_int_eq(d4_analyze_bs_maintain(x, hi / 1000000u + 2 * ret, 100 * ret), 0);
	ck_assert_uint_eq(count_lasts(s, &now_l, &lo2, &hi2), total);
	d4_analyze_bs_free(x);
	/* a cutoff between the oldest and the newest: exactly the older ones go */
	ck_assert_int_eq(d4_analyze_bs_new(s, &o, &x), 0);
	uint64_t cut_s = (lo / 1000000u + hi / 1000000u) / 2 + 1, keep = 0;
	for (size_t i = 0; i < total; i++)
		keep += all.v[i] >= cut_s * 1000000u;
	ck_assert_uint_gt(keep, 0);
	ck_assert_uint_lt(keep, total);
	ck_assert_int_eq(d4_analyze_bs_maintain(x, cut_s + ret, 1), 0);
	ck_assert_uint_eq(count_lasts(s, &now_l, &lo2, &hi2), keep);
	ck_assert_uint_ge(lo2, cut_s * 1000000u);
	struct d4_analyze_bs_stats st;
	d4_analyze_bs_stats(x, &st);
	ck_assert_uint_eq(st.expired, total - keep);
	/* past the newest: none left */
	ck_assert_int_eq(d4_analyze_bs_maintain(x, hi / 1000000u + ret + 10, 1), 0);
	ck_assert_uint_eq(count_lasts(s, &now_l, &lo2, &hi2), 0);
	d4_analyze_bs_stats(x, &st);
	ck_assert_uint_eq(st.expired, total);
	d4_analyze_bs_free(x);
	plog_free(&lg);
	d4_store_close(s);
	rm_dir(g_dir);
	free(pc);
	free(c.p);
}
END_TEST

/* The property: random frame splits of the same capture, and the
 * packets in random order within minutes, give the same stored vectors
 * (every member but the count of ongoing updates, which depends on when a
 * vector first passed its thresholds). */
START_TEST(test_property_splits_order)
{
	setup_tele();
	struct cap c;
	gen_capture(&c, 0);
	struct d4_analyze_bs_opts o;
	opts_for(&o, g_tele, 2, 0);
	struct lines base;
	memset(&base, 0, sizeof(base));
	unsigned seed = 12345;
	for (unsigned run = 0; run < 6; run++) {
		struct cap r = c;
		r.p = malloc(c.n * sizeof(*c.p));
		memcpy(r.p, c.p, c.n * sizeof(*c.p));
		if (run >= 2)
			shuffle_within(&r, 10 + run * 20, &seed);
		size_t n;
		uint8_t *pc = to_pcap(&r, &n);
		new_dir();
		struct d4_store *s = store_open(1);
		uint8_t u[1][16];
		test_uuid(u[0], 1);
		uint64_t sid = sess_open(s, u[0]);
		uint8_t *bs[1] = {pc};
		unsigned maxcut = run == 0 ? (unsigned)n : run == 1 ? 3 : 50 + run * 300;
		post_streams(s, NULL, 1, &sid, (const uint8_t(*)[16])u, bs, &n, maxcut, seed + run);
		drain(s, &o, NULL);
		struct lines got;
		dump_store(s, 0, &got);
		ck_assert_uint_eq(got.n, 5);
		if (run == 0)
			base = got;
		else {
			lines_eq(&got, &base);
			lines_free(&got);
		}
		d4_store_close(s);
		rm_dir(g_dir);
		free(pc);
		free(r.p);
	}
	lines_free(&base);
	free(c.p);
}
END_TEST

/* Stops the consumer after every batch, as a kill -9 would (nothing but
 * the commits kept), over two interleaved sensors' streams in small random
 * frames: the same stored vectors (every member, ongoing updates included),
 * open-vector states and counters as one uninterrupted run. In live mode
 * too, where the table of our own flows is rebuilt from the frames of the
 * last live_window_s. */
static void restart_case(int live)
{
	setup_tele();
	struct cap c1, c2;
	gen_capture(&c1, live);
	gen_capture(&c2, live);
	/* the second sensor's stream is the first's shifted by 37 s */
	for (size_t i = 0; i < c2.n; i++)
		c2.p[i].ts_us += 37000000u;
	size_t n[2];
	uint8_t *b[2] = {to_pcap(&c1, &n[0]), to_pcap(&c2, &n[1])};
	new_dir();
	char base[256];
	d4_strlcpy(base, g_dir, sizeof(base));
	struct d4_store *s = store_open(1);
	uint8_t u[2][16];
	test_uuid(u[0], 1);
	test_uuid(u[1], 2);
	uint64_t sid[2] = {sess_open(s, u[0]), sess_open(s, u[1])};
	struct plog lg;
	memset(&lg, 0, sizeof(lg));
	post_streams(s, &lg, 2, sid, (const uint8_t(*)[16])u, b, n, 2000, 99);
	d4_store_close(s);

	struct d4_analyze_bs_opts o;
	opts_for(&o, live ? NULL : g_tele, live ? 0 : 2, live);
	o.batch = 300;
	o.frames_per_walk = 16;
	char dir1[300], dir2[300], cmd[700];
	snprintf(dir1, sizeof(dir1), "%s.one", base);
	snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s'", base, dir1);
	ck_assert_int_eq(system(cmd), 0);
	d4_strlcpy(g_dir, dir1, sizeof(g_dir));
	s = store_open(0);
	drain(s, &o, NULL);
	struct lines one;
	dump_store(s, 1, &one);
	struct lines want;
	reference(s, &o.agg, 1, &want, NULL);
	lines_eq(&one, &want);
	if (live) {
		/* the replies to our own connections are not an attack on V4B */
		struct d4_store_bs_counters cc;
		sum_counters(s, (const uint8_t(*)[16])u, 2, &cc);
		ck_assert_uint_eq(cc.by_reason[D4_BS_R_OWN_FLOW], 200);
	}
	struct d4_store_bs_counters c_one;
	sum_counters(s, (const uint8_t(*)[16])u, 2, &c_one);
	d4_store_close(s);
	rm_dir(dir1);

	snprintf(dir2, sizeof(dir2), "%s.k", base);
	snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s'", base, dir2);
	ck_assert_int_eq(system(cmd), 0);
	d4_strlcpy(g_dir, dir2, sizeof(g_dir));
	uint64_t replayed = 0, partial = 0;
	int idle = 0, rounds = 0;
	while (!idle) {
		s = store_open(0);
		struct d4_analyze_bs *x = NULL;
		ck_assert_int_eq(d4_analyze_bs_new(s, &o, &x), 0);
		int rc = d4_analyze_bs_step(x, 1, &idle);
		ck_assert_int_ge(rc, 0);
		struct d4_analyze_bs_stats st;
		d4_analyze_bs_stats(x, &st);
		replayed += st.replayed;
		if (st.replay_from <= st.cursor)
			partial++;
		d4_analyze_bs_free(x); /* what was read past the commit is dropped */
		d4_store_close(s);
		ck_assert_int_lt(++rounds, 100000);
	}
	ck_assert_int_gt(rounds, 10);
	ck_assert_uint_gt(replayed, 0);
	ck_assert_uint_gt(partial, 0);
	s = store_open(0);
	struct lines two;
	dump_store(s, 1, &two);
	lines_eq(&two, &one);
	struct d4_store_bs_counters c_two;
	sum_counters(s, (const uint8_t(*)[16])u, 2, &c_two);
	ck_assert(counters_eq(&c_one, &c_two));
	ck_assert_uint_eq(c_two.frames, lg.n);
	ck_assert_uint_eq(c_two.packets, c1.n + c2.n);
	d4_store_close(s);
	rm_dir(dir2);
	rm_dir(base);
	lines_free(&one);
	lines_free(&two);
	lines_free(&want);
	plog_free(&lg);
	free(b[0]);
	free(b[1]);
	free(c1.p);
	free(c2.p);
}

START_TEST(test_restart_every_batch)
{
	restart_case(0);
}
END_TEST

START_TEST(test_restart_every_batch_live)
{
	restart_case(1);
}
END_TEST

/* pcapng and garbage are refused once per stream, counted with a reason;
 * nanosecond big-endian pcap is read like the microsecond one. */
START_TEST(test_refused_streams)
{
	new_dir();
	struct d4_store *s = store_open(1);
	uint8_t u[1][16];
	test_uuid(u[0], 3);
	static const uint8_t ng[] = {0x0a, 0x0d, 0x0d, 0x0a, 0,	   0,	 0,    28,   0x1a, 0x2b, 0x3c, 0x4d, 0, 1,
				     0,	   0,	 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,    0,    0, 28};
	uint64_t a = sess_open(s, u[0]), g = sess_open(s, u[0]), ns = sess_open(s, u[0]);
	frame(s, NULL, a, u[0], ng, sizeof(ng));
	frame(s, NULL, a, u[0], ng, sizeof(ng));
	frame(s, NULL, g, u[0], (const uint8_t *)"GET / HTTP/1.0\r\n\r\n0123456789", 28);
	/* one SYN+ACK, nanosecond, big-endian */
	uint8_t b[24 + 16 + 40];
	memset(b, 0, sizeof(b));
	uint8_t hdr[24] = {0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 101};
	memcpy(b, hdr, 24);
	uint8_t rh[16] = {0x65, 0x53, 0xf1, 0x00, 0x3b, 0x9a, 0xc9, 0xff, 0, 0, 0, 40, 0, 0, 0, 40};
	memcpy(b + 24, rh, 16);
	struct pkt k;
	memset(&k, 0, sizeof(k));
	uint8_t l4[20], d[4];
	tele4(d, 5);
	ip4(&k, V4A, d, 6, l4, tcp(l4, 80, 1000, 0x12));
	memcpy(b + 40, k.b, 40);
	frame(s, NULL, ns, u[0], b, sizeof(b));
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
	struct d4_analyze_bs_opts o;
	opts_for(&o, NULL, 0, 0);
	struct d4_analyze_bs_stats st;
	drain(s, &o, &st);
	ck_assert_uint_eq(st.streams_refused[D4_PCAP_F_PCAPNG], 1);
	ck_assert_uint_eq(st.streams_refused[D4_PCAP_F_MAGIC], 1);
	ck_assert_uint_eq(st.packets, 1);
	ck_assert_uint_eq(st.backscatter, 1);
	ck_assert_uint_eq(st.by_kind[D4_BS_TCP_SYNACK], 1);
	struct d4_store_bs_counters c;
	ck_assert_int_eq(d4_store_bs_counters_get(s, u[0], &c), 0);
	ck_assert_uint_eq(c.frames, 4);
	ck_assert_uint_eq(c.bad_packets, 2);
	ck_assert_uint_eq(c.backscatter, 1);
	/* the open vector's state is stored: a new consumer restores it */
	struct d4_store_bs_info info;
	ck_assert_int_eq(d4_store_bs_info(s, &info), 0);
	ck_assert_uint_eq(info.states, 1);
	d4_store_close(s);
	rm_dir(g_dir);
}
END_TEST

/* a, b, a, b: one writer commit each (within a commit the writer groups
 * frames by session). */
static void interleave(struct d4_store *s, uint64_t a, uint64_t b, const uint8_t u[16], const uint8_t *head, size_t nh,
		       const uint8_t *rest, size_t nr)
{
	const uint64_t who[4] = {a, b, a, b};
	for (int i = 0; i < 4; i++) {
		frame(s, NULL, who[i], u, i < 2 ? head : rest, i < 2 ? nh : nr);
		ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
	}
}

/* Records held across frames are bounded over all streams: beyond
 * max_buffered the least recently used stream loses its state, and its next
 * frame is refused as not-pcap (counted). */
START_TEST(test_buffer_cap)
{
	new_dir();
	struct d4_store *s = store_open(1);
	uint8_t u[1][16];
	test_uuid(u[0], 4);
	uint64_t a = sess_open(s, u[0]), b = sess_open(s, u[0]);
	uint8_t head[24 + 16 + 100];
	memset(head, 0x45, sizeof(head));
	uint32_t g[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 101};
	memcpy(head, g, 24);
	uint32_t h[4] = {1700000000u, 0, 600, 600};
	memcpy(head + 24, h, 16);
	uint8_t rest[500];
	memset(rest, 0x45, sizeof(rest));
	interleave(s, a, b, u[0], head, sizeof(head), rest, sizeof(rest));
	struct d4_analyze_bs_opts o;
	opts_for(&o, NULL, 0, 0);
	o.max_buffered = 1000;
	struct d4_analyze_bs_stats st;
	drain(s, &o, &st);
	ck_assert_uint_eq(st.evictions, 1);
	ck_assert_uint_eq(st.streams_refused[D4_PCAP_F_MAGIC], 1);
	ck_assert_uint_eq(st.packets, 1); /* b's record, whole */
	/* with room for both, both records are read */
	d4_store_close(s);
	rm_dir(g_dir);
	new_dir();
	s = store_open(1);
	a = sess_open(s, u[0]);
	b = sess_open(s, u[0]);
	interleave(s, a, b, u[0], head, sizeof(head), rest, sizeof(rest));
	o.max_buffered = 1200;
	drain(s, &o, &st);
	ck_assert_uint_eq(st.evictions, 0);
	ck_assert_uint_eq(st.packets, 2);
	d4_store_close(s);
	rm_dir(g_dir);
}
END_TEST

/* [backscatter] telescope lists: prefixes and addresses, commas or blanks;
 * a bad item named in the message. */
START_TEST(test_telescope_parse)
{
	struct d4_bs_prefix p[4];
	size_t n = 0;
	char err[200];
	ck_assert_int_eq(
	    d4_analyze_bs_telescope_parse(" 198.18.0.0/15, 2001:db8::/32 192.0.2.1", p, 4, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(p[0].len, 96 + 15);
	ck_assert_uint_eq(p[1].len, 32);
	ck_assert_uint_eq(p[2].len, 128);
	ck_assert_int_eq(d4_analyze_bs_telescope_parse("", p, 4, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(d4_analyze_bs_telescope_parse("10.0.0.0/33", p, 4, &n, err, sizeof(err)), D4_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "10.0.0.0/33"));
	ck_assert_int_eq(d4_analyze_bs_telescope_parse("1.0.0.0/8,2.0.0.0/8,3.0.0.0/8,4.0.0.0/8,5.0.0.0/8", p, 4, &n,
						       err, sizeof(err)),
			 D4_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "too many"));
}
END_TEST

static Suite *suite(void)
{
	Suite *su = suite_create("bs_ingest");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_telescope_parse);
	tcase_add_test(tc, test_refused_streams);
	tcase_add_test(tc, test_buffer_cap);
	tcase_add_test(tc, test_vectors_exact);
	tcase_add_test(tc, test_retention);
	tcase_add_test(tc, test_property_splits_order);
	tcase_add_test(tc, test_restart_every_batch);
	tcase_add_test(tc, test_restart_every_batch_live);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
