/* d4-bench-fed-mix — tuples/s through the federation egress path with the
 * partner's pDNS mixing off and on (docs/federation.md "Mixing before
 * sharing"; docs/performance.md "Federation").
 *
 *   d4-bench-fed-mix [--lines N] [--distinct D] [--skew] [--runs R] [--dir DIR]
 *
 * Makes a store in a new folder under DIR (default $TMPDIR or /tmp), posts
 * N passivedns lines (D distinct tuples, default N/4, drawn uniformly, or
 * with --skew as u^4 of a uniform u: a few popular tuples and a long tail,
 * as real resolver traffic; three sensors; 100 lines per frame) through the writer, runs the hub's pDNS consumer so
 * that the tuple store holds them (what the mix thresholds read), then
 * drains the whole log through d4_fed_source_next (the pDNS consumer in
 * sink mode, d4_fed_decide per observation, the batch encoder) for a
 * same-org partner, R times each, alternating:
 *   off   the pdns rule without mix
 *   on    the mix with the safe defaults but no hold-back (delay_s 0):
 *         thresholds (2 sensors or 10 times: decided from the side records
 *         the consumer wrote, one read per frame), times to the hour, the
 *         pool id
 *   on, no thresholds   the same without min_sensors and min_count
 *   on, n = 1   the same with min_count 1: every observation passes, so as
 *         many records are encoded as without the mix and the column shows
 *         what deciding the thresholds itself costs
 * Output: one line per run and a summary line
 *   off_tps=... on_tps=... cost_pct=... nothr_tps=... nothr_cost_pct=... n1_tps=... n1_cost_pct=...
 *   off_released=...
 * with the best run of each (the machine is shared: the best is the least
 * disturbed). Exit 0, or 2 on errors. */
#include "d4_analyze.h"
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_store.h"
#include "d4_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const uint8_t HUB_A[16] = {0xa1, 2, [6] = 0x40, [8] = 0x80};
static const uint8_t HUB_B[16] = {0xb1, 2, [6] = 0x40, [8] = 0x80};
static const uint8_t ORG_1[16] = {0x01, 0x0f, [6] = 0x40, [8] = 0x80};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds of this thread (user + system): on a machine shared with
 * other work, wall time measures the others as much as this code. */
static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t g_rng = 88172645463325252ULL;
static unsigned rnd(unsigned n)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (unsigned)(g_rng % n);
}

static int post_frame(struct d4_store *s, uint64_t sid, const uint8_t *sensor, const char *p, size_t n)
{
	struct d4_frame_rec r;
	memset(&r, 0, sizeof(r));
	r.session = sid;
	memcpy(r.uuid, sensor, 16);
	r.type = 8;
	r.version = 1;
	r.tlp = D4_TLP_CLEAR;
	r.hdr_ts = (uint64_t)time(NULL);
	r.recv_ms = d4_now_ms();
	r.size = (uint32_t)n;
	int rc;
	while ((rc = d4_store_post_frame(s, &r, (const uint8_t *)p)) == D4_EAGAIN)
		usleep(200);
	return rc;
}

/* One drain of the whole log: observations decided and released. */
static int drain(struct d4_store *s, const struct d4_fed_self *self, const struct d4_partner *p, uint64_t *decided,
		 uint64_t *released, double *secs, double *cpu)
{
	struct d4_fed_source_opts o;
	memset(&o, 0, sizeof(o));
	o.self = self;
	struct d4_fed_source *src;
	int rc = d4_fed_source_new(s, &o, D4_FED_KIND_PDNS, &src);
	if (rc)
		return rc;
	uint8_t from[D4_FED_POS_MAX];
	size_t from_len = 0;
	*decided = *released = 0;
	double t0 = now_s(), c0 = cpu_s();
	for (;;) {
		const uint8_t *out;
		size_t outlen;
		struct d4_fed_counters dec;
		uint32_t nrec;
		int more;
		rc = d4_fed_source_next(src, p, from, from_len, &out, &outlen, &dec, &nrec, &more);
		if (rc)
			break;
		for (int r = 0; r < D4_FED_R_COUNT; r++)
			*decided += dec.n[D4_FED_KIND_PDNS][r];
		*released += nrec;
		/* the batch's `to` is where the next one starts */
		struct d4_fed_batch_hdr h;
		struct d4_fed_batch_it it;
		if ((rc = d4_fed_batch_open(out, outlen, &h, &it)) != 0)
			break;
		memcpy(from, h.to, h.to_len);
		from_len = h.to_len;
		if (!more)
			break;
	}
	*secs = now_s() - t0;
	*cpu = cpu_s() - c0;
	d4_fed_source_free(src);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned lines = 200000, distinct = 0, runs = 3;
	int skew = 0;
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--lines") && i + 1 < argc)
			lines = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--distinct") && i + 1 < argc)
			distinct = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--skew"))
			skew = 1;
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir = argv[++i];
		else {
			fprintf(stderr,
				"usage: d4-bench-fed-mix [--lines N] [--distinct D] [--skew] [--runs R] [--dir DIR]\n");
			return 2;
		}
	}
	if (!lines || !runs)
		return 2;
	if (!distinct)
		distinct = lines / 4 ? lines / 4 : 1;
	char path[512];
	snprintf(path, sizeof(path), "%s/d4bench_fedmix_XXXXXX", dir);
	if (!mkdtemp(path)) {
		perror("mkdtemp");
		return 2;
	}
	struct d4_store_opts so;
	memset(&so, 0, sizeof(so));
	so.path = path;
	so.map_size = 4ull << 30;
	so.no_sync = 1;
	struct d4_store *s = NULL;
	int rc = d4_store_open(&so, &s);
	if (rc || (rc = d4_store_writer_start(s)) != 0) {
		fprintf(stderr, "store: %s\n", d4_strerror(rc));
		return 2;
	}
	static uint8_t sensors[3][16];
	uint64_t sid[3];
	for (int i = 0; i < 3; i++) {
		sensors[i][0] = 0x5e;
		sensors[i][1] = (uint8_t)(i + 1);
		sensors[i][6] = 0x40;
		sensors[i][8] = 0x80;
		struct d4_session_open op;
		memset(&op, 0, sizeof(op));
		op.session = sid[i] = d4_store_session_id_new(s);
		memcpy(op.uuid, sensors[i], 16);
		op.type = 8;
		op.when = d4_now_s();
		op.auto_create = 1;
		struct d4_session_meta m;
		memset(&m, 0, sizeof(m));
		m.session = op.session;
		m.tlp = D4_TLP_CLEAR;
		if ((rc = d4_store_post_session_open(s, &op)) || (rc = d4_store_post_session_meta(s, &m))) {
			fprintf(stderr, "session: %s\n", d4_strerror(rc));
			return 2;
		}
	}
	/* 100 lines per frame, each frame from one sensor */
	char *buf = malloc(100 * 256);
	uint64_t t = (uint64_t)time(NULL) - 86400;
	for (unsigned i = 0; i < lines;) {
		size_t n = 0;
		unsigned w = rnd(3);
		for (unsigned k = 0; k < 100 && i < lines; k++, i++) {
			unsigned d = rnd(distinct);
			if (skew) {
				double u = (double)rnd(1u << 30) / (double)(1u << 30);
				d = (unsigned)((double)distinct * u * u * u * u);
			}
			n += (size_t)snprintf(buf + n, 256,
					      "%llu.%u||198.51.100.%u||203.0.113.53||IN||h%u.z%u.bench.example.||A||"
					      "192.0.%u.%u||300||1\n",
					      (unsigned long long)(t + i / 10), rnd(1000), 1 + rnd(250), d, d % 97,
					      (d >> 8) & 255, d & 255);
		}
		if ((rc = post_frame(s, sid[w], sensors[w], buf, n)) != 0) {
			fprintf(stderr, "frame: %s\n", d4_strerror(rc));
			return 2;
		}
	}
	free(buf);
	if ((rc = d4_store_writer_sync(s, 600000)) != 0) {
		fprintf(stderr, "sync: %s\n", d4_strerror(rc));
		return 2;
	}
	/* the hub's own consumer fills the tuple store */
	struct d4_analyze_pdns *x = NULL;
	struct d4_analyze_pdns_opts po;
	memset(&po, 0, sizeof(po));
	if ((rc = d4_analyze_pdns_new(s, &po, &x)) != 0) {
		fprintf(stderr, "consumer: %s\n", d4_strerror(rc));
		return 2;
	}
	int idle = 0;
	double c0 = now_s();
	while (!idle && (rc = d4_analyze_pdns_step(x, 0, &idle)) >= 0)
		;
	/* with the side records of every frame, which the thresholds read */
	printf("consumer: %u lines merged in %.3f s (%.0f lines/s)\n", lines, now_s() - c0,
	       (double)lines / (now_s() - c0));
	d4_analyze_pdns_free(x);
	if (rc < 0 || (rc = d4_store_writer_sync(s, 600000)) != 0) {
		fprintf(stderr, "consumer: %s\n", d4_strerror(rc));
		return 2;
	}

	struct d4_fed_self self;
	memset(&self, 0, sizeof(self));
	memcpy(self.hub, HUB_A, 16);
	memcpy(self.org, ORG_1, 16);
	self.default_tlp = D4_TLP_AMBER_STRICT;
	struct d4_partner *p = calloc(1, sizeof(*p));
	memcpy(p->hub, HUB_B, 16);
	memcpy(p->org, ORG_1, 16);
	p->relation = D4_FED_REL_SAME_ORG;
	p->direction = D4_PARTNER_PUSH;
	p->enabled = 1;
	p->out[D4_FED_KIND_PDNS].enabled = 1;
	p->out[D4_FED_KIND_PDNS].max_tlp = D4_TLP_GREEN;
	double best[4] = {0, 0, 0, 0}, bestc[4] = {0, 0, 0, 0};
	uint64_t rel[4] = {0, 0, 0, 0}, decided_n[4] = {0, 0, 0, 0};
	static const char *const names[4] = {"off", "on ", "on, no thresholds", "on, n = 1"};
	for (unsigned r = 0; r < runs; r++) {
		for (int on = 0; on < 4; on++) {
			if (on) {
				d4_fed_mix_defaults(D4_FED_KIND_PDNS, &p->out[D4_FED_KIND_PDNS].mix);
				p->out[D4_FED_KIND_PDNS].mix.delay_s = 0;
				if (on == 2)
					p->out[D4_FED_KIND_PDNS].mix.min_sensors = 0,
					p->out[D4_FED_KIND_PDNS].mix.min_count = 0;
				if (on == 3)
					p->out[D4_FED_KIND_PDNS].mix.min_count = 1;
			} else {
				memset(&p->out[D4_FED_KIND_PDNS].mix, 0, sizeof(p->out[0].mix));
			}
			uint64_t decided, released;
			double secs, cpu;
			if ((rc = drain(s, &self, p, &decided, &released, &secs, &cpu)) != 0) {
				fprintf(stderr, "source: %s\n", d4_strerror(rc));
				return 2;
			}
			double tps = (double)decided / secs, ctps = cpu > 0 ? (double)decided / cpu : 0;
			printf(
			    "run %u mix %s: %llu tuples decided, %llu released in %.3f s (%.3f s CPU): %.0f tuples/s, "
			    "%.0f per CPU second\n",
			    r + 1, names[on], (unsigned long long)decided, (unsigned long long)released, secs, cpu, tps,
			    ctps);
			if (ctps > bestc[on])
				bestc[on] = ctps;
			fflush(stdout);
			if (tps > best[on])
				best[on] = tps;
			rel[on] = released;
			decided_n[on] = decided;
		}
	}
	printf("lines=%u distinct=%u skew=%d off_tps=%.0f on_tps=%.0f cost_pct=%.1f nothr_tps=%.0f nothr_cost_pct=%.1f "
	       "n1_tps=%.0f n1_cost_pct=%.1f off_released=%llu on_released=%llu n1_released=%llu decided=%llu\n",
	       lines, distinct, skew, best[0], best[1], 100.0 * (1.0 - best[1] / best[0]), best[2],
	       100.0 * (1.0 - best[2] / best[0]), best[3], 100.0 * (1.0 - best[3] / best[0]),
	       (unsigned long long)rel[0], (unsigned long long)rel[1], (unsigned long long)rel[3],
	       (unsigned long long)decided_n[1]);
	printf("per CPU second: off_cpu_tps=%.0f on_cpu_tps=%.0f cpu_cost_pct=%.1f nothr_cpu_tps=%.0f "
	       "nothr_cpu_cost_pct=%.1f "
	       "n1_cpu_tps=%.0f n1_cpu_cost_pct=%.1f\n",
	       bestc[0], bestc[1], 100.0 * (1.0 - bestc[1] / bestc[0]), bestc[2], 100.0 * (1.0 - bestc[2] / bestc[0]),
	       bestc[3], 100.0 * (1.0 - bestc[3] / bestc[0]));
	free(p);
	d4_store_close(s);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", path);
	return 0;
}
