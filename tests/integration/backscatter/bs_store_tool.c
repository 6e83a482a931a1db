/* bs_store_tool — test and benchmark helper for the hub's backscatter consumer.
 *
 *   bs_store_tool vectors STORE                  stored vectors as NDJSON (d4_bs_vector_json), sorted
 *   bs_store_tool reference STORE [--live] [PREFIX...]
 *                                                what one uninterrupted run over the type-1 frames of
 *                                                the log gives: every stream split with d4_pcapsplit,
 *                                                the packets through one aggregator with the tick rule
 *                                                of d4-backscatter (the first packet of every new
 *                                                second of the largest timestamp), the latest emission
 *                                                of every vector as NDJSON, sorted; on standard
 *                                                error "decoded N backscatter M"
 *   bs_store_tool cursor STORE                   done_seq replay_from clock_us of the consumer's cursor
 *   bs_store_tool counters STORE                 per-sensor counters (uuid frames packets bad backscatter
 *                                                own-flow)
 *   bs_store_tool load STORE FILE BYTES          appends FILE as type-1 frames of BYTES (cut anywhere)
 *                                                of one session, through the writer
 *   bs_store_tool drain STORE [BATCH]            runs the consumer until caught up: packets, vectors,
 *                                                seconds, packets/s
 *   bs_store_tool --no-sync COMMAND ...          MDB_NOSYNC (benchmarks only)
 *
 * vectors/reference/cursor/counters open the store read-only (safe next to
 * a running hub). */
#include "d4_analyze.h"
#include "d4_backscatter.h"
#include "d4_error.h"
#include "d4_pkt.h"
#include "d4_policy.h"
#include "d4_reader.h"
#include "d4_store.h"
#include "d4_store_bs.h"
#include "d4_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int g_nosync;

static int open_store(const char *path, int ro, struct d4_store **s)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.no_sync = g_nosync;
	o.path = path;
	o.read_only = ro;
	o.commit_ms = 20;
	int rc = d4_store_open(&o, s);
	if (rc)
		fprintf(stderr, "bs_store_tool: cannot open %s: %s\n", path, d4_strerror(rc));
	return rc;
}

struct lines {
	char **l;
	size_t n, cap;
};

static int lines_add(struct lines *L, const char *s)
{
	if (L->n == L->cap) {
		L->cap = L->cap ? L->cap * 2 : 256;
		char **nl = realloc(L->l, L->cap * sizeof(*nl));
		if (!nl)
			return D4_ENOMEM;
		L->l = nl;
	}
	L->l[L->n] = strdup(s);
	return L->l[L->n++] ? 0 : D4_ENOMEM;
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void lines_print(struct lines *L)
{
	if (L->n)
		qsort(L->l, L->n, sizeof(*L->l), cmpstr);
	for (size_t i = 0; i < L->n; i++) {
		fputs(L->l[i], stdout);
		free(L->l[i]);
	}
	free(L->l);
}

static void from_store(const struct d4_store_bs_vec *s, struct d4_bs_vector *v)
{
	memset(v, 0, sizeof(*v));
	memcpy(v->victim, s->victim, 16);
	v->kind = s->kind;
	v->state = s->state;
	v->first_us = s->first_us;
	v->last_us = s->last_us;
	v->packets = s->packets;
	v->bytes = s->bytes;
	v->n_ports = s->n_ports;
	for (uint32_t i = 0; i < s->n_ports && i < D4_BS_TOP_PORTS; i++) {
		v->ports[i].port = s->ports[i].port;
		v->ports[i].packets = s->ports[i].packets;
	}
	v->ports_distinct = s->ports_distinct;
	v->ports_other = s->ports_other;
	v->telescope_addrs = s->telescope_addrs;
	v->telescope_exact = s->telescope_exact;
	v->peak_ppm = s->peak_ppm;
	v->observed_pps = s->observed_pps;
	v->est_pps = s->est_pps;
	v->est_peak_pps = s->est_peak_pps;
	v->est_valid = s->est_valid;
	v->n_sensors = s->n_sensors;
	memcpy(v->sensors, s->sensors, sizeof(v->sensors));
	v->sensors_more = s->sensors_more;
	v->tlp = s->tlp;
	memcpy(v->org, s->org, 16);
	v->org_mixed = s->org_mixed;
	v->updates = s->updates;
}

static int vec_cb(void *ctx, const struct d4_store_bs_vec *sv)
{
	struct d4_bs_vector v;
	from_store(sv, &v);
	char buf[2048];
	if (d4_bs_vector_json(&v, buf, sizeof(buf)) < 0)
		return D4_ETOOBIG;
	return lines_add(ctx, buf);
}

static int cmd_vectors(const char *path)
{
	struct d4_store *s;
	if (open_store(path, 1, &s))
		return 1;
	struct lines L;
	memset(&L, 0, sizeof(L));
	struct d4_store_bs_query q;
	memset(&q, 0, sizeof(q));
	q.max_tlp = D4_TLP_RED;
	struct d4_store_bs_qresult res;
	int rc = d4_store_bs_query(s, &q, vec_cb, &L, &res);
	d4_store_close(s);
	if (rc) {
		fprintf(stderr, "bs_store_tool: query: %s\n", d4_strerror(rc));
		return 1;
	}
	lines_print(&L);
	return 0;
}

/* ---- reference run ---- */

struct rvec {
	struct d4_bs_vector v;
};

struct ref {
	struct d4_bs_agg *agg;
	uint64_t next_tick;
	const struct d4_frame_rec *rec;
	struct rvec *v;
	size_t n, cap;
	uint64_t decoded;
	struct {
		uint64_t id;
		struct d4_pcapsplit *sp;
	} sess[4096];
	size_t nsess;
};

static int ref_emit(const struct d4_bs_vector *v, void *ud)
{
	struct ref *r = ud;
	for (size_t i = 0; i < r->n; i++)
		if (!memcmp(r->v[i].v.victim, v->victim, 16) && r->v[i].v.kind == v->kind &&
		    r->v[i].v.first_us == v->first_us) {
			r->v[i].v = *v;
			return 0;
		}
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 256;
		struct rvec *nv = realloc(r->v, r->cap * sizeof(*nv));
		if (!nv)
			return D4_ENOMEM;
		r->v = nv;
	}
	r->v[r->n++].v = *v;
	return 0;
}

static int ref_rec(void *ud, const struct d4_pcap_rec *pr)
{
	struct ref *r = ud;
	/* the consumer's rule: a timestamp a day past the frame's arrival is refused */
	if (pr->ts_us > r->rec->recv_ms * 1000u + 86400000000ull)
		return 0;
	if (pr->ts_us >= r->next_tick) {
		int rc = d4_bs_agg_tick(r->agg, pr->ts_us, ref_emit, r);
		if (rc)
			return rc;
		r->next_tick = (pr->ts_us / 1000000u + 1) * 1000000u;
	}
	struct d4_pkt pk;
	if (d4_pkt_decode((int)pr->linktype, pr->data, pr->caplen, &pk) != 0)
		return 0;
	r->decoded++;
	static const uint8_t zero[16];
	const uint8_t *org = memcmp(r->rec->org, zero, 16) ? r->rec->org : NULL;
	int rc = d4_bs_agg_add(r->agg, &pk, pr->ts_us, r->rec->uuid, r->rec->tlp, org);
	return rc == D4_EFULL ? 0 : rc;
}

static int ref_frame(void *ctx, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	struct ref *r = ctx;
	if (rec->type != 1)
		return 0;
	size_t k = 0;
	while (k < r->nsess && r->sess[k].id != rec->session)
		k++;
	if (k == r->nsess) {
		if (k == sizeof(r->sess) / sizeof(r->sess[0]))
			return D4_ETOOBIG;
		r->sess[k].id = rec->session;
		r->sess[k].sp = d4_pcapsplit_new(0);
		if (!r->sess[k].sp)
			return D4_ENOMEM;
		r->nsess++;
	}
	r->rec = rec;
	int rc = d4_pcapsplit_feed(r->sess[k].sp, payload, rec->size, ref_rec, r);
	return rc == D4_ENOMEM || (rc < 0 && rc != D4_ENOTSUP && rc != D4_EPROTO && rc != D4_ETOOBIG) ? rc : 0;
}

static int cmd_reference(const char *path, int argc, char **argv)
{
	struct d4_bs_opts o;
	d4_bs_opts_default(&o);
	static struct d4_bs_prefix tele[D4_ANALYZE_BS_TELESCOPE_MAX];
	size_t nt = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--live")) {
			o.live = 1;
			continue;
		}
		if (nt == D4_ANALYZE_BS_TELESCOPE_MAX || d4_bs_prefix_parse(argv[i], &tele[nt]) != 0) {
			fprintf(stderr, "bs_store_tool: bad prefix %s\n", argv[i]);
			return 2;
		}
		nt++;
	}
	o.telescope = nt ? tele : NULL;
	o.n_telescope = nt;
	struct d4_store *s;
	if (open_store(path, 1, &s))
		return 1;
	struct ref *r = calloc(1, sizeof(*r));
	r->agg = d4_bs_agg_new(&o);
	int rc = r->agg ? d4_store_frame_foreach(s, 1, 0, ref_frame, r) : D4_ENOMEM;
	d4_store_close(s);
	if (rc) {
		fprintf(stderr, "bs_store_tool: reference: %s\n", d4_strerror(rc));
		return 1;
	}
	struct lines L;
	memset(&L, 0, sizeof(L));
	for (size_t i = 0; i < r->n; i++) {
		char buf[2048];
		if (d4_bs_vector_json(&r->v[i].v, buf, sizeof(buf)) < 0 || lines_add(&L, buf))
			return 1;
	}
	lines_print(&L);
	struct d4_bs_stats st;
	d4_bs_agg_stats(r->agg, &st);
	fprintf(stderr, "decoded %llu backscatter %llu\n", (unsigned long long)r->decoded,
		(unsigned long long)st.backscatter);
	for (size_t k = 0; k < r->nsess; k++)
		d4_pcapsplit_free(r->sess[k].sp);
	d4_bs_agg_free(r->agg);
	free(r->v);
	free(r);
	return 0;
}

static int cmd_cursor(const char *path)
{
	struct d4_store *s;
	if (open_store(path, 1, &s))
		return 1;
	uint8_t *cv = malloc(D4_STORE_BS_CURSOR_MAX);
	size_t len = 0;
	int rc = cv ? d4_store_bs_cursor_get(s, D4_ANALYZE_BS_CURSOR, cv, D4_STORE_BS_CURSOR_MAX, &len) : D4_ENOMEM;
	d4_store_close(s);
	if (rc == D4_ENOTFOUND) {
		printf("0 1 0\n");
		free(cv);
		return 0;
	}
	if (rc || len < 41) {
		fprintf(stderr, "bs_store_tool: cursor: %s\n", rc ? d4_strerror(rc) : "short");
		free(cv);
		return 1;
	}
	printf("%llu %llu %llu\n", (unsigned long long)d4_get_u64be(cv + 1), (unsigned long long)d4_get_u64be(cv + 9),
	       (unsigned long long)d4_get_u64be(cv + 25));
	free(cv);
	return 0;
}

static int cnt_cb(void *ctx, const struct d4_store_bs_counters *c)
{
	(void)ctx;
	for (int i = 0; i < 16; i++)
		printf("%02x", c->sensor[i]);
	printf(" %llu %llu %llu %llu %llu\n", (unsigned long long)c->frames, (unsigned long long)c->packets,
	       (unsigned long long)c->bad_packets, (unsigned long long)c->backscatter,
	       (unsigned long long)c->by_reason[D4_BS_R_OWN_FLOW]);
	return 0;
}

static int cmd_counters(const char *path)
{
	struct d4_store *s;
	if (open_store(path, 1, &s))
		return 1;
	int rc = d4_store_bs_counters_foreach(s, cnt_cb, NULL);
	d4_store_close(s);
	return rc ? 1 : 0;
}

static int cmd_load(const char *path, const char *file, size_t bytes)
{
	FILE *f = fopen(file, "rb");
	if (!f || bytes == 0) {
		fprintf(stderr, "bs_store_tool: cannot read %s\n", file);
		return 1;
	}
	struct d4_store *s;
	if (open_store(path, 0, &s) || d4_store_writer_start(s)) {
		fclose(f);
		return 1;
	}
	/* a fixed version-4 uuid: the bench's sensor */
	uint8_t u[16] = {0xb5, 0xbe, 0x1c, 0x00, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1};
	struct d4_session_open op;
	memset(&op, 0, sizeof(op));
	op.session = d4_store_session_id_new(s);
	memcpy(op.uuid, u, 16);
	op.type = 1;
	op.when = d4_now_s();
	op.auto_create = 1;
	int rc;
	while ((rc = d4_store_post_session_open(s, &op)) == D4_EAGAIN)
		usleep(1000);
	uint8_t *buf = malloc(bytes);
	size_t got, frames = 0, total = 0;
	while (!rc && (got = fread(buf, 1, bytes, f)) > 0) {
		struct d4_frame_rec r;
		memset(&r, 0, sizeof(r));
		r.session = op.session;
		memcpy(r.uuid, u, 16);
		r.type = 1;
		r.version = 1;
		r.tlp = D4_TLP_AMBER;
		r.hdr_ts = d4_now_s();
		r.recv_ms = d4_now_ms();
		r.size = (uint32_t)got;
		while ((rc = d4_store_post_frame(s, &r, buf)) == D4_EAGAIN)
			usleep(1000);
		frames++;
		total += got;
	}
	d4_store_post_session_close(s, op.session, d4_now_s(), "eof");
	if (!rc)
		rc = d4_store_writer_sync(s, 600000);
	d4_store_close(s);
	free(buf);
	fclose(f);
	printf("%zu frames %zu bytes\n", frames, total);
	return rc ? 1 : 0;
}

static int cmd_drain(const char *path, unsigned batch)
{
	struct d4_store *s;
	if (open_store(path, 0, &s))
		return 1;
	struct d4_analyze_bs_opts o;
	memset(&o, 0, sizeof(o));
	d4_bs_opts_default(&o.agg);
	static struct d4_bs_prefix tele[2];
	d4_bs_prefix_parse("198.18.0.0/16", &tele[0]);
	d4_bs_prefix_parse("2001:db8:ffff::/48", &tele[1]);
	o.agg.telescope = tele;
	o.agg.n_telescope = 2;
	o.batch = batch;
	struct d4_analyze_bs *x = NULL;
	int rc = d4_analyze_bs_new(s, &o, &x);
	if (rc) {
		fprintf(stderr, "bs_store_tool: %s\n", d4_strerror(rc));
		d4_store_close(s);
		return 1;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int idle = 0;
	rc = d4_analyze_bs_step(x, 0, &idle);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	struct d4_analyze_bs_stats st;
	d4_analyze_bs_stats(x, &st);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
		     (double)ru.ru_stime.tv_usec / 1e6;
	double sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("frames %llu packets %llu backscatter %llu vector_writes %llu states %llu commits %llu seconds %.3f "
	       "cpu_seconds %.3f packets_per_s %.0f packets_per_cpu_s %.0f\n",
	       (unsigned long long)st.frames, (unsigned long long)st.packets, (unsigned long long)st.backscatter,
	       (unsigned long long)(st.vectors_ongoing + st.vectors_reported), (unsigned long long)st.states_written,
	       (unsigned long long)st.commits, sec, cpu, sec > 0 ? (double)st.packets / sec : 0.0,
	       cpu > 0 ? (double)st.packets / cpu : 0.0);
	d4_analyze_bs_free(x);
	d4_store_close(s);
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "--no-sync")) {
		g_nosync = 1;
		argv++;
		argc--;
	}
	if (argc == 3 && !strcmp(argv[1], "vectors"))
		return cmd_vectors(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "reference"))
		return cmd_reference(argv[2], argc - 3, argv + 3);
	if (argc == 3 && !strcmp(argv[1], "cursor"))
		return cmd_cursor(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "counters"))
		return cmd_counters(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "load"))
		return cmd_load(argv[2], argv[3], (size_t)strtoull(argv[4], NULL, 10));
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "drain"))
		return cmd_drain(argv[2], argc == 4 ? (unsigned)atoi(argv[3]) : 0);
	fprintf(stderr, "usage: bs_store_tool vectors STORE | reference STORE [--live] [PREFIX...] | cursor STORE |\n"
			"       counters STORE | load STORE FILE BYTES | drain STORE [BATCH]\n");
	return 2;
}
