/* store_bs_bench [DIR] [VECTORS] [BATCH]: the cost of the backscatter tables.
 * Writes VECTORS new ongoing vectors (default 200,000) in applies of BATCH
 * (default 1,000; durable commits), then updates every one of them once
 * (more packets, a later last packet, other ports: every index entry
 * moves), then closes them; prints vectors/s of each phase, then the time of
 * typical reads (the most recent page, a victim, a /16, a port, ongoing
 * only, a sensor) and the table size. Not a test: it measures the machine. */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_store.h"
#include "d4_store_bs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

#define T0 1700000000000000ull

static void make(struct d4_store_bs_vec *v, uint64_t i)
{
	memset(v, 0, sizeof(*v));
	v->victim[10] = v->victim[11] = 0xff;
	v->victim[12] = 10;
	v->victim[13] = (uint8_t)(i >> 16);
	v->victim[14] = (uint8_t)(i >> 8);
	v->victim[15] = (uint8_t)i;
	v->kind = (uint8_t)(1 + i % 4);
	v->first_us = T0 + i * 100000ull;
	v->last_us = v->first_us + 60000000ull;
	v->state = 1;
	v->packets = 100;
	v->bytes = 4000;
	v->n_ports = 3;
	for (int j = 0; j < 3; j++) {
		v->ports[j].port = (uint16_t)(rnd() % 1024);
		v->ports[j].packets = 30;
	}
	v->n_sensors = 1;
	v->sensors[0][0] = (uint8_t)(1 + i % 8);
	v->tlp = D4_TLP_GREEN;
	v->peak_ppm = 40;
}

static int count_cb(void *ctx, const struct d4_store_bs_vec *v)
{
	(void)v;
	(*(uint64_t *)ctx)++;
	return 0;
}

static void timed_query(struct d4_store *s, const char *what, struct d4_store_bs_query *q)
{
	struct d4_store_bs_qresult res;
	uint64_t n = 0;
	double t = now_s();
	int rc = d4_store_bs_query(s, q, count_cb, &n, &res);
	double dt = now_s() - t;
	printf("  %-34s %8llu vectors  %9.3f ms  (rc %d)\n", what, (unsigned long long)n, dt * 1e3, rc);
}

int main(int argc, char **argv)
{
	char tmpl[] = "/tmp/d4bs-bench-XXXXXX";
	const char *dir = argc > 1 ? argv[1] : mkdtemp(tmpl);
	uint64_t nvec = argc > 2 ? strtoull(argv[2], NULL, 10) : 200000;
	size_t batch = argc > 3 ? (size_t)strtoull(argv[3], NULL, 10) : 1000;
	if (!dir || !nvec || !batch)
		return 2;
	d4_log_init("store_bs_bench", 0, D4_LOG_WARN);
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = dir;
	o.map_size = 8ull << 30;
	struct d4_store *s;
	int rc = d4_store_open(&o, &s);
	if (rc) {
		fprintf(stderr, "open %s: %s\n", dir, d4_strerror(rc));
		return 1;
	}
	struct d4_store_bs_vec *v = malloc(batch * sizeof(*v));
	static const char *const phase[] = {"new", "update", "close"};
	for (int p = 0; p < 3; p++) {
		double t = now_s();
		for (uint64_t i = 0; i < nvec; i += batch) {
			size_t n = nvec - i < batch ? (size_t)(nvec - i) : batch;
			for (size_t j = 0; j < n; j++) {
				make(&v[j], i + j);
				v[j].packets += (uint64_t)p * 100;
				v[j].last_us += (uint64_t)p * 60000000ull;
				v[j].state = p == 2 ? 2 : 1;
			}
			struct d4_store_bs_update u;
			memset(&u, 0, sizeof(u));
			u.vecs = v;
			u.nvecs = n;
			if ((rc = d4_store_bs_apply(s, &u)) != 0) {
				fprintf(stderr, "apply: %s\n", d4_strerror(rc));
				return 1;
			}
		}
		double dt = now_s() - t;
		printf("%-7s %llu vectors in applies of %zu: %.2f s, %.0f vectors/s\n", phase[p],
		       (unsigned long long)nvec, batch, dt, (double)nvec / dt);
		if (p == 0) {
			/* reads while every vector is ongoing */
			struct d4_store_bs_query q;
			memset(&q, 0, sizeof(q));
			q.max_tlp = D4_TLP_RED;
			q.ongoing = 1;
			q.limit = 100;
			timed_query(s, "ongoing, first page of 100", &q);
			q.limit = 0;
			timed_query(s, "ongoing, all", &q);
		}
	}
	struct d4_store_bs_query q;
	memset(&q, 0, sizeof(q));
	q.max_tlp = D4_TLP_RED;
	q.limit = 100;
	timed_query(s, "most recent, page of 100", &q);
	q.limit = 0;
	q.since_us = T0 + (nvec - nvec / 10) * 100000ull;
	timed_query(s, "last 10 % of the time range", &q);
	q.since_us = 0;
	q.has_victim = 1;
	make(&v[0], nvec / 2);
	memcpy(q.victim_lo, v[0].victim, 16);
	memcpy(q.victim_hi, v[0].victim, 16);
	timed_query(s, "one victim", &q);
	q.victim_lo[14] = q.victim_lo[15] = 0;
	q.victim_hi[14] = q.victim_hi[15] = 0xff;
	timed_query(s, "a /16 of victims", &q);
	q.has_victim = 0;
	q.has_port = 1;
	q.port = 80;
	q.limit = 100;
	timed_query(s, "port 80, page of 100", &q);
	q.has_port = 0;
	q.has_sensor = 1;
	memset(q.sensor, 0, 16);
	q.sensor[0] = 3;
	timed_query(s, "a sensor, page of 100", &q);
	q.has_sensor = 0;
	q.ongoing = 1;
	q.limit = 0;
	timed_query(s, "ongoing (none left)", &q);
	struct d4_store_bs_info info;
	if (d4_store_bs_info(s, &info) == 0)
		printf("tables: %llu vectors, %.1f MiB (%.0f bytes per vector)\n", (unsigned long long)info.vectors,
		       (double)info.bytes / 1048576.0, (double)info.bytes / (double)info.vectors);
	double t = now_s();
	uint64_t removed = 0;
	rc = d4_store_bs_expire(s, UINT64_MAX, 0, &removed);
	printf("expire  %llu vectors: %.2f s (rc %d)\n", (unsigned long long)removed, now_s() - t, rc);
	d4_store_close(s);
	free(v);
	if (argc <= 1) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			return 1;
	}
	return 0;
}
