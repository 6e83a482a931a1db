/* pdns_store_tool — test and benchmark helper for the hub's pDNS ingest.
 *
 *   pdns_store_tool query STORE name|left NAME   tuples (rrname, type, rdata, count, sensors), sorted
 *   pdns_store_tool counters STORE               per-sensor pDNS counters
 *   pdns_store_tool cursor STORE                 the ingest cursor (done_seq replay_from lost)
 *   pdns_store_tool info STORE                   tuples, bytes of the pDNS tables, observations and
 *                                                bad lines summed over the sensors (one line)
 *   pdns_store_tool load STORE FILE TYPE BYTES   appends FILE as frames of BYTES (cut at newlines
 *                                                for text types) of one session, through the writer
 *   pdns_store_tool drain STORE [BATCH]          runs the pDNS consumer until caught up and prints
 *                                                frames, observations, seconds and observations/s
 *   pdns_store_tool --no-sync COMMAND ...        opens the store with MDB_NOSYNC (benchmarks only)
 *   pdns_store_tool --layout s4|id COMMAND ...   the pDNS layout a new store takes (docs/store.md)
 *
 * query/counters/cursor open the store read-only (safe next to a running hub). */
#include "d4_analyze.h"
#include "d4_error.h"
#include "d4_pdns.h"
#include "d4_policy.h"
#include "d4_reader.h"
#include "d4_store.h"
#include "d4_store_pdns.h"
#include "d4_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int g_nosync, g_layout;

static int open_store(const char *path, int ro, struct d4_store **s)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.no_sync = g_nosync;
	o.pdns_layout = g_layout;
	o.path = path;
	o.read_only = ro;
	o.commit_ms = 20;
	int rc = d4_store_open(&o, s);
	if (rc)
		fprintf(stderr, "pdns_store_tool: cannot open %s: %s\n", path, d4_strerror(rc));
	return rc;
}

struct lines {
	char **l;
	size_t n, cap;
};

static int tup_cb(void *ctx, const struct d4_store_pdns_tuple *t)
{
	struct lines *L = ctx;
	char tn[16];
	const char *type = d4_pdns_type_name(t->rrtype, tn, sizeof(tn));
	size_t need = t->rrname_len + t->rdata_len + 128;
	char *line = malloc(need);
	if (!line)
		return D4_ENOMEM;
	snprintf(line, need, "%.*s\t%s\t%.*s\t%llu\t%u", (int)t->rrname_len, t->rrname, type, (int)t->rdata_len,
		 t->rdata, (unsigned long long)t->count, t->sensor_count);
	if (L->n == L->cap) {
		L->cap = L->cap ? L->cap * 2 : 256;
		char **nl = realloc(L->l, L->cap * sizeof(*nl));
		if (!nl)
			return D4_ENOMEM;
		L->l = nl;
	}
	L->l[L->n++] = line;
	return 0;
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_query(const char *path, const char *kind, const char *name)
{
	struct d4_store *s;
	if (open_store(path, 1, &s))
		return 1;
	struct d4_store_pdns_query q;
	memset(&q, 0, sizeof(q));
	q.kind = !strcmp(kind, "left") ? D4_PDNS_Q_NAME_LEFT : D4_PDNS_Q_NAME;
	q.name = name;
	q.max_tlp = D4_TLP_RED;
	struct lines L = {NULL, 0, 0};
	struct d4_store_pdns_qresult res;
	int rc = d4_store_pdns_query(s, &q, tup_cb, &L, &res);
	d4_store_close(s);
	if (rc) {
		fprintf(stderr, "pdns_store_tool: query: %s\n", d4_strerror(rc));
		return 1;
	}
	if (L.n)
		qsort(L.l, L.n, sizeof(*L.l), cmpstr);
	for (size_t i = 0; i < L.n; i++) {
		puts(L.l[i]);
		free(L.l[i]);
	}
	free(L.l);
	return 0;
}

static int cnt_cb(void *ctx, const struct d4_store_pdns_counters *c)
{
	(void)ctx;
	char u[D4_UUID_HEX_LEN + 1];
	d4_uuid_hex(c->sensor, u);
	printf("%s\t%llu\t%llu\t%llu\n", u, (unsigned long long)c->observations, (unsigned long long)c->bad_lines,
	       (unsigned long long)c->bad_packets);
	return 0;
}

static int cmd_counters(const char *path)
{
	struct d4_store *s;
	if (open_store(path, 1, &s))
		return 1;
	int rc = d4_store_pdns_counters_foreach(s, cnt_cb, NULL);
	d4_store_close(s);
	return rc ? 1 : 0;
}

static int sum_cb(void *ctx, const struct d4_store_pdns_counters *c)
{
	unsigned long long *sum = ctx;
	sum[0] += c->observations;
	sum[1] += c->bad_lines;
	return 0;
}

static int cmd_info(const char *path)
{
	struct d4_store *s;
	if (open_store(path, 1, &s))
		return 1;
	struct d4_store_pdns_info in;
	unsigned long long sum[2] = {0, 0};
	int rc = d4_store_pdns_info(s, &in);
	if (!rc)
		rc = d4_store_pdns_counters_foreach(s, sum_cb, sum);
	d4_store_close(s);
	if (rc)
		return 1;
	printf("tuples %llu bytes %llu observations %llu bad_lines %llu\n", (unsigned long long)in.tuples,
	       (unsigned long long)in.bytes, sum[0], sum[1]);
	return 0;
}

static int cmd_cursor(const char *path)
{
	struct d4_store *s;
	if (open_store(path, 1, &s))
		return 1;
	uint8_t v[D4_PDNS_CURSOR_VALUE_MAX];
	size_t n = 0;
	int rc = d4_store_pdns_cursor_get(s, D4_ANALYZE_PDNS_CURSOR, v, sizeof(v), &n);
	d4_store_close(s);
	if (rc == D4_ENOTFOUND) {
		puts("0 1 0");
		return 0;
	}
	if (rc || n < 25)
		return 1;
	printf("%llu %llu %llu\n", (unsigned long long)d4_get_u64be(v + 1), (unsigned long long)d4_get_u64be(v + 9),
	       (unsigned long long)d4_get_u64be(v + 17));
	return 0;
}

static int cmd_load(const char *path, const char *file, int type, size_t bytes)
{
	FILE *f = fopen(file, "rb");
	if (!f) {
		perror(file);
		return 1;
	}
	struct d4_store *s;
	if (open_store(path, 0, &s) || d4_store_writer_start(s)) {
		fclose(f);
		return 1;
	}
	uint8_t u[16];
	d4_uuid_gen_v4(u);
	struct d4_session_open op;
	memset(&op, 0, sizeof(op));
	op.session = d4_store_session_id_new(s);
	memcpy(op.uuid, u, 16);
	op.type = (uint8_t)type;
	op.when = d4_now_s();
	op.auto_create = 1;
	d4_store_post_session_open(s, &op);
	uint8_t *buf = malloc(bytes + 1);
	size_t have = 0, frames = 0, total = 0;
	int text = type != 1;
	for (;;) {
		size_t got = fread(buf + have, 1, bytes - have, f);
		have += got;
		if (have == 0)
			break;
		size_t cut = have;
		if (text && got && have == bytes) { /* whole lines per frame, like a line-buffered sensor */
			while (cut > 0 && buf[cut - 1] != '\n')
				cut--;
			if (cut == 0)
				cut = have;
		}
		struct d4_frame_rec r;
		memset(&r, 0, sizeof(r));
		r.session = op.session;
		memcpy(r.uuid, u, 16);
		r.type = (uint8_t)type;
		r.version = 1;
		r.tlp = D4_TLP_AMBER;
		r.hdr_ts = d4_now_s();
		r.recv_ms = d4_now_ms();
		r.size = (uint32_t)cut;
		int rc;
		while ((rc = d4_store_post_frame(s, &r, buf)) == D4_EAGAIN)
			usleep(1000);
		if (rc) {
			fprintf(stderr, "pdns_store_tool: post: %s\n", d4_strerror(rc));
			break;
		}
		frames++;
		total += cut;
		memmove(buf, buf + cut, have - cut);
		have -= cut;
		if (got == 0 && have == 0)
			break;
	}
	d4_store_post_session_close(s, op.session, d4_now_s(), "eof");
	int rc = d4_store_writer_sync(s, 600000);
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
	struct d4_analyze_pdns_opts o;
	memset(&o, 0, sizeof(o));
	o.batch = batch;
	/* the bench compares transaction bounds: D4_PDNS_TXN_MS overrides the default */
	const char *tm = getenv("D4_PDNS_TXN_MS");
	if (tm && *tm)
		o.txn_ms = (unsigned)strtoul(tm, NULL, 10);
	struct d4_analyze_pdns *x = NULL;
	int rc = d4_analyze_pdns_new(s, &o, &x);
	if (rc) {
		fprintf(stderr, "pdns_store_tool: %s\n", d4_strerror(rc));
		d4_store_close(s);
		return 1;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int idle = 0;
	rc = d4_analyze_pdns_step(x, 0, &idle);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	struct d4_analyze_pdns_stats st;
	d4_analyze_pdns_stats(x, &st);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
		     (double)ru.ru_stime.tv_usec / 1e6;
	double sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	double lines = (double)(st.observations + st.bad_lines);
	printf("frames %llu observations %llu bad_lines %llu commits %llu seconds %.3f cpu_seconds %.3f obs_per_s %.0f "
	       "obs_per_cpu_s %.0f\n",
	       (unsigned long long)st.frames, (unsigned long long)st.observations, (unsigned long long)st.bad_lines,
	       (unsigned long long)st.commits, sec, cpu, sec > 0 ? lines / sec : 0.0, cpu > 0 ? lines / cpu : 0.0);
	d4_analyze_pdns_free(x);
	d4_store_close(s);
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	for (;;) {
		if (argc >= 2 && !strcmp(argv[1], "--no-sync")) {
			g_nosync = 1;
			argv++;
			argc--;
		} else if (argc >= 3 && !strcmp(argv[1], "--layout")) {
			g_layout = !strcmp(argv[2], "s4") ? D4_STORE_PDNS_LAYOUT_S4 : D4_STORE_PDNS_LAYOUT_ID;
			argv += 2;
			argc -= 2;
		} else {
			break;
		}
	}
	if (argc >= 5 && !strcmp(argv[1], "query"))
		return cmd_query(argv[2], argv[3], argv[4]);
	if (argc == 3 && !strcmp(argv[1], "counters"))
		return cmd_counters(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "info"))
		return cmd_info(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "cursor"))
		return cmd_cursor(argv[2]);
	if (argc == 6 && !strcmp(argv[1], "load"))
		return cmd_load(argv[2], argv[3], atoi(argv[4]), (size_t)strtoull(argv[5], NULL, 10));
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "drain"))
		return cmd_drain(argv[2], argc == 4 ? (unsigned)atoi(argv[3]) : 0);
	fprintf(stderr,
		"usage: pdns_store_tool query STORE name|left NAME | counters STORE | cursor STORE | info STORE |\n"
		"       load STORE FILE TYPE BYTES | drain STORE [BATCH]\n");
	return 2;
}
