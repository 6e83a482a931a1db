/* d4-bench-fed-watch — watches two hubs' stores (read-only, next to the
 * running hubs) and tells when records are committed at each: A's own
 * frames (its totals) and the frames B received from partners (the sum of
 * its fed_in records; B's totals count only its own sensors), or with
 * --pdns the pDNS tuples of each, are read every --interval-ms (default 2)
 * until B holds B_TARGET and A holds A_TARGET, or --timeout seconds
 * (default 600) pass.
 *
 *   d4-bench-fed-watch [--pdns] [--interval-ms MS] [--timeout S] STORE_A STORE_B A_TARGET B_TARGET
 *
 * Output (one line, key=value, CLOCK_REALTIME seconds so that a script can
 * relate them to its own clock):
 *   a0 b0 a1 b1          counts at the start and at the end
 *   t0                   the first poll
 *   ta_last              when A reached A_TARGET
 *   tb_first tb_last     when B's count first moved, when it reached B_TARGET
 *   lag_n lag_p50_ms lag_p90_ms lag_p99_ms lag_max_ms
 *                        committed at A -> committed at B of every record
 *                        from a0 on: the k-th record committed at A after
 *                        a0 is the k-th committed at B after b0 (one
 *                        sender, one partner, log order); its lag is the
 *                        first poll that saw it at B minus the first poll
 *                        that saw it at A (resolution: the interval)
 * Exit 0 when both targets were reached, 1 on timeout (the line is printed
 * anyway), 2 on usage or store errors. */
#include "d4_error.h"
#include "d4_store.h"
#include "d4_store_fed.h"
#include "d4_store_pdns.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct series {
	uint64_t *count;
	double *t;
	size_t n, cap;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int push(struct series *s, uint64_t c, double t)
{
	if (s->n && s->count[s->n - 1] == c)
		return 0;
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 4096;
		uint64_t *a = realloc(s->count, nc * sizeof(*a));
		if (!a)
			return D4_ENOMEM;
		s->count = a;
		double *b = realloc(s->t, nc * sizeof(*b));
		if (!b)
			return D4_ENOMEM;
		s->t = b;
		s->cap = nc;
	}
	s->count[s->n] = c;
	s->t[s->n] = t;
	s->n++;
	return 0;
}

/* The first time the series reached k (the series is non-decreasing). */
static double first_at(const struct series *s, size_t *i, uint64_t k)
{
	while (*i < s->n && s->count[*i] < k)
		(*i)++;
	return *i < s->n ? s->t[*i] : -1;
}

static int fed_in_cb(void *ctx, const uint8_t hub[16], uint8_t kind, const struct d4_store_fed_in *in)
{
	(void)hub;
	if (kind == 0) /* D4_FED_KIND_FRAMES */
		*(uint64_t *)ctx += in->records;
	return 0;
}

/* frames: A's own frames (the totals), B's frames received from partners
 * (fed_in: the totals count only a hub's own sensors); pdns: tuples. */
static int count_of(struct d4_store *s, int pdns, int received, uint64_t *out)
{
	if (received && !pdns) {
		*out = 0;
		return d4_store_fed_in_foreach(s, fed_in_cb, out);
	}
	if (pdns) {
		struct d4_store_pdns_info pi;
		int rc = d4_store_pdns_info(s, &pi);
		*out = pi.tuples;
		return rc;
	}
	struct d4_totals t;
	int rc = d4_store_totals(s, &t);
	*out = t.frames;
	return rc;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int open_ro(const char *path, struct d4_store **s)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = path;
	o.read_only = 1;
	int rc = d4_store_open(&o, s);
	if (rc)
		fprintf(stderr, "d4-bench-fed-watch: cannot open %s: %s\n", path, d4_strerror(rc));
	return rc;
}

int main(int argc, char **argv)
{
	int pdns = 0, ai = 1;
	unsigned interval_ms = 2;
	double timeout = 600;
	for (; ai < argc && argv[ai][0] == '-'; ai++) {
		if (!strcmp(argv[ai], "--pdns"))
			pdns = 1;
		else if (!strcmp(argv[ai], "--interval-ms") && ai + 1 < argc)
			interval_ms = (unsigned)strtoul(argv[++ai], NULL, 10);
		else if (!strcmp(argv[ai], "--timeout") && ai + 1 < argc)
			timeout = strtod(argv[++ai], NULL);
		else
			break;
	}
	if (argc - ai != 4 || interval_ms == 0 || interval_ms > 1000 || timeout <= 0) {
		fprintf(stderr, "usage: d4-bench-fed-watch [--pdns] [--interval-ms MS] [--timeout S] STORE_A STORE_B "
				"A_TARGET B_TARGET\n");
		return 2;
	}
	uint64_t a_target = strtoull(argv[ai + 2], NULL, 10), b_target = strtoull(argv[ai + 3], NULL, 10);
	struct d4_store *sa, *sb;
	if (open_ro(argv[ai], &sa) || open_ro(argv[ai + 1], &sb))
		return 2;
	struct series A = {0}, B = {0};
	uint64_t a = 0, b = 0, a0, b0;
	double t0 = now_s(), deadline = t0 + timeout;
	if (count_of(sa, pdns, 0, &a0) || count_of(sb, pdns, 1, &b0)) {
		fprintf(stderr, "d4-bench-fed-watch: cannot read the counts\n");
		return 2;
	}
	a = a0;
	b = b0;
	push(&A, a0, t0);
	push(&B, b0, t0);
	int reached = 0;
	struct timespec iv = {.tv_sec = 0, .tv_nsec = (long)interval_ms * 1000000L};
	for (;;) {
		double t = now_s();
		if (count_of(sa, pdns, 0, &a) || count_of(sb, pdns, 1, &b) || push(&A, a, t) || push(&B, b, t)) {
			fprintf(stderr, "d4-bench-fed-watch: cannot read the counts\n");
			return 2;
		}
		if (a >= a_target && b >= b_target) {
			reached = 1;
			break;
		}
		if (t > deadline)
			break;
		nanosleep(&iv, NULL);
	}
	size_t ia = 0, ib = 0;
	double ta_last = first_at(&A, &ia, a_target);
	ib = 0;
	double tb_first = first_at(&B, &ib, b0 + 1);
	ib = 0;
	double tb_last = first_at(&B, &ib, b_target);
	/* lags of the records committed at A after a0 that B committed */
	uint64_t n = a - a0 < b - b0 ? a - a0 : b - b0;
	double *lag = n ? malloc(n * sizeof(*lag)) : NULL;
	if (n && !lag)
		return 2;
	ia = ib = 0;
	for (uint64_t k = 1; k <= n; k++) {
		double ta = first_at(&A, &ia, a0 + k), tb = first_at(&B, &ib, b0 + k);
		lag[k - 1] = (tb - ta) * 1000.0;
	}
	double p50 = 0, p90 = 0, p99 = 0, mx = 0;
	if (n) {
		qsort(lag, n, sizeof(*lag), cmp_d);
		p50 = lag[(n - 1) * 50 / 100];
		p90 = lag[(n - 1) * 90 / 100];
		p99 = lag[(n - 1) * 99 / 100];
		mx = lag[n - 1];
	}
	printf("d4-bench-fed-watch: a0=%llu b0=%llu a1=%llu b1=%llu t0=%.6f ta_last=%.6f tb_first=%.6f tb_last=%.6f "
	       "lag_n=%llu lag_p50_ms=%.1f lag_p90_ms=%.1f lag_p99_ms=%.1f lag_max_ms=%.1f\n",
	       (unsigned long long)a0, (unsigned long long)b0, (unsigned long long)a, (unsigned long long)b, t0,
	       ta_last, tb_first, tb_last, (unsigned long long)n, p50, p90, p99, mx);
	free(lag);
	free(A.count);
	free(A.t);
	free(B.count);
	free(B.t);
	d4_store_close(sa);
	d4_store_close(sb);
	return reached ? 0 : 1;
}
