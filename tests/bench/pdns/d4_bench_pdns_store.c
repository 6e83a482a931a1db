/* d4-bench-pdns-store — the passive-DNS tuple store at the store level (no
 * HTTP): batched upserts on one core until the store holds N tuples (names
 * drawn from a Zipf-like distribution), then single-threaded lookups with
 * p50/p99 latency for exact name, rdata IP, CIDR /24 and left wildcard.
 *
 * usage: d4-bench-pdns-store [-d DIR] [-n TUPLES] [-b BATCH] [-q QUERIES] [-S] [-F] [-L s4|id]
 *   -S: MDB_NOSYNC (default: durable commits, one fdatasync per batch)
 *   -F: as the hub's pDNS consumer applies: with the side records of the
 *       frames (100 observations per frame; d4_store_pdns_apply_frames)
 *   -L: the pDNS layout of the new store (default: the build's, docs/store.md) */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_store.h"
#include "d4_store_pdns.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}
static double urand(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define UNIVERSE 1000000u /* distinct owner names */

/* Zipf-like (s ~ 1): log-uniform rank, P(r) ~ 1/r. */
static uint32_t zipf(void)
{
	uint32_t r = (uint32_t)pow((double)UNIVERSE, urand());
	return r >= UNIVERSE ? UNIVERSE - 1 : r;
}

static int name_of(uint32_t r, char *b, size_t cap)
{
	return snprintf(b, cap, "%sh%u.d%u.example%u.com.", r % 3 ? "" : "www.", r, r % 5000, r % 13);
}

#define NSAMPLE 20000
static uint32_t sample_ip[NSAMPLE];
static unsigned nsample_ip;

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int nop_cb(void *ctx, const struct d4_store_pdns_tuple *t)
{
	(void)t;
	(*(uint64_t *)ctx)++;
	return 0;
}

static void run_queries(struct d4_store *s, const char *label, unsigned nq, int kind)
{
	double *lat = malloc(nq * sizeof(double));
	char name[128], text[64];
	uint64_t results = 0;
	unsigned errors = 0;
	double t0 = now_s(), c0 = cpu_s();
	for (unsigned i = 0; i < nq; i++) {
		struct d4_store_pdns_query q;
		memset(&q, 0, sizeof(q));
		q.kind = kind;
		q.max_tlp = 6;
		q.limit = 100; /* one API page */
		uint32_t ip = sample_ip[rnd() % nsample_ip];
		switch (kind) {
		case D4_PDNS_Q_NAME:
			name_of(zipf(), name, sizeof(name));
			q.name = name;
			break;
		case D4_PDNS_Q_NAME_LEFT: {
			uint32_t r = zipf();
			snprintf(name, sizeof(name), "d%u.example%u.com.", r % 5000, r % 13);
			q.name = name;
			break;
		}
		case D4_PDNS_Q_RDATA_IP:
			if (label[0] == 'C')
				snprintf(text, sizeof(text), "%u.%u.%u.0/24", ip >> 24, ip >> 16 & 255, ip >> 8 & 255);
			else
				snprintf(text, sizeof(text), "%u.%u.%u.%u", ip >> 24, ip >> 16 & 255, ip >> 8 & 255,
					 ip & 255);
			if (d4_store_pdns_parse_ip(text, &q))
				errors++;
			break;
		default: break;
		}
		struct d4_store_pdns_qresult res;
		double a = now_s();
		if (d4_store_pdns_query(s, &q, nop_cb, &results, &res))
			errors++;
		lat[i] = now_s() - a;
	}
	double el = now_s() - t0, cpu = cpu_s() - c0;
	qsort(lat, nq, sizeof(double), cmp_d);
	/* CPU per lookup beside the wall figures: on a shared machine it is the one the load moves least */
	printf("%-16s %8u queries  %9.0f lookups/s  p50 %7.1f us  p99 %7.1f us  max %8.1f us  cpu %6.1f us/lookup  avg "
	       "results %.1f%s\n",
	       label, nq, nq / el, lat[nq / 2] * 1e6, lat[(size_t)(nq * 0.99)] * 1e6, lat[nq - 1] * 1e6, cpu * 1e6 / nq,
	       (double)results / nq, errors ? "  ERRORS" : "");
	free(lat);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	uint64_t target = 5000000;
	unsigned batch = 10000, nq = 20000;
	int nosync = 0, frames = 0, layout = 0, opt;
	while ((opt = getopt(argc, argv, "d:n:b:q:SFL:")) != -1) {
		switch (opt) {
		case 'd': dir = optarg; break;
		case 'n': target = strtoull(optarg, NULL, 10); break;
		case 'b': batch = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'q': nq = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'S': nosync = 1; break;
		case 'F': frames = 1; break;
		case 'L': layout = strcmp(optarg, "s4") ? D4_STORE_PDNS_LAYOUT_ID : D4_STORE_PDNS_LAYOUT_S4; break;
		default:
			fprintf(stderr, "usage: %s [-d DIR] [-n TUPLES] [-b BATCH] [-q QUERIES] [-S] [-F] [-L s4|id]\n",
				argv[0]);
			return 2;
		}
	}
	if (!batch || !nq)
		return 2;
	d4_log_init("bench-pdns", 0, D4_LOG_WARN);
	char tmp[] = "/tmp/d4-bench-pdns-XXXXXX";
	int own = !dir;
	if (own && !(dir = mkdtemp(tmp))) {
		perror("mkdtemp");
		return 1;
	}
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = dir;
	o.map_size = 32ull << 30;
	o.no_sync = nosync;
	o.pdns_layout = layout;
	struct d4_store *s;
	int rc = d4_store_open(&o, &s);
	if (rc) {
		fprintf(stderr, "open %s: %s\n", dir, d4_strerror(rc));
		return 1;
	}
	struct d4_store_pdns_obs *obs = calloc(batch, sizeof(*obs));
	char(*names)[64] = calloc(batch, 64);
	char(*rdata)[96] = calloc(batch, 96);
	uint64_t *fseq = calloc(batch, sizeof(*fseq));
	if (!obs || !names || !rdata || !fseq)
		return 1;
	static const uint8_t tlps[] = {1, 2, 2, 4, 4, 5};
	uint64_t nobs = 0, tuples = 0;
	double t_apply = 0, c_apply = 0, t0 = now_s(), t_report = t0;
	uint64_t base_t = 1700000000;
	while (tuples < target) {
		for (unsigned i = 0; i < batch; i++) {
			uint32_t r = zipf();
			struct d4_store_pdns_obs *x = &obs[i];
			memset(x, 0, sizeof(*x));
			name_of(r, names[i], 64);
			unsigned k = (unsigned)(rnd() % 100);
			/* 40 %: the name's stable answer (repeats), else a fresh one */
			uint64_t v = rnd() % 100 < 40 ? (uint64_t)r * 2654435761u : rnd();
			if (k < 60) {
				x->rrtype = 1;
				uint32_t ip = (uint32_t)(v >> 8);
				ip = (ip & 0x00ffffffu) | (10u + (ip >> 24) % 4) << 24; /* 10-13.x.y.z: dense /24s */
				snprintf(rdata[i], 96, "%u.%u.%u.%u", ip >> 24, ip >> 16 & 255, ip >> 8 & 255,
					 ip & 255);
				if (nsample_ip < NSAMPLE)
					sample_ip[nsample_ip++] = ip;
				else if (rnd() % 64 == 0)
					sample_ip[rnd() % NSAMPLE] = ip;
			} else if (k < 75) {
				x->rrtype = 28;
				snprintf(rdata[i], 96, "2001:db8:%x:%x::%x", (unsigned)(v & 0xffff),
					 (unsigned)(v >> 16 & 0xffff), (unsigned)(v >> 32 & 0xffff));
			} else if (k < 85) {
				x->rrtype = 5;
				snprintf(rdata[i], 96, "c%u.cdn%u.net.", (unsigned)(v % 100000), (unsigned)(v % 7));
			} else if (k < 90) {
				x->rrtype = 2;
				snprintf(rdata[i], 96, "ns%u.dns%u.net.", (unsigned)(v % 4), (unsigned)(v % 1000));
			} else if (k < 95) {
				x->rrtype = 15;
				snprintf(rdata[i], 96, "10 mx%u.example%u.com.", (unsigned)(v % 10), r % 13);
			} else {
				x->rrtype = 16;
				snprintf(rdata[i], 96, "\"v=spf1 include:_spf%llu.example.com ~all\"",
					 (unsigned long long)(v % 1000000));
			}
			x->rrname = names[i];
			x->rdata = rdata[i];
			x->time_first = base_t + nobs / 1000;
			x->time_last = x->time_first + rnd() % 600;
			x->count = 1 + rnd() % 3;
			x->tlp = tlps[rnd() % 6];
			x->has_sensor = 1;
			memset(x->sensor, (int)(rnd() % 4) + 1, 16);
			fseq[i] = 1 + nobs / 100;
			nobs++;
		}
		double a = now_s(), ac = cpu_s();
		rc = d4_store_pdns_apply_frames(s, obs, frames ? fseq : NULL, batch, NULL);
		t_apply += now_s() - a;
		c_apply += cpu_s() - ac;
		if (rc) {
			fprintf(stderr, "apply: %s\n", d4_strerror(rc));
			return 1;
		}
		struct d4_store_pdns_info info;
		d4_store_pdns_info(s, &info);
		tuples = info.tuples;
		if (now_s() - t_report > 10) {
			t_report = now_s();
			fprintf(stderr, "  %llu observations, %llu tuples, %.0f obs/s (apply time)\n",
				(unsigned long long)nobs, (unsigned long long)tuples, nobs / t_apply);
		}
	}
	struct d4_store_pdns_info info;
	d4_store_pdns_info(s, &info);
	printf("load: %llu observations -> %llu tuples in %.1f s wall (%.1f s in apply), batch %u, %s commits%s\n",
	       (unsigned long long)nobs, (unsigned long long)info.tuples, now_s() - t0, t_apply, batch,
	       nosync ? "no-sync" : "durable", frames ? ", with side records" : "");
	printf("upserts:         %9.0f observations/s (one core, apply time only), %.0f per CPU second\n",
	       nobs / t_apply, nobs / c_apply);
	printf("store size:      %.2f GiB in the pDNS tables (%.0f bytes/tuple)\n", info.bytes / 1073741824.0,
	       (double)info.bytes / (double)info.tuples);
	run_queries(s, "exact name", nq, D4_PDNS_Q_NAME);
	run_queries(s, "rdata IP", nq, D4_PDNS_Q_RDATA_IP);
	run_queries(s, "CIDR /24", nq, D4_PDNS_Q_RDATA_IP);
	run_queries(s, "left wildcard", nq, D4_PDNS_Q_NAME_LEFT);
	d4_store_close(s);
	free(obs);
	free(names);
	free(rdata);
	free(fseq);
	if (own)
		nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
