/* Backscatter pipeline benchmark. Two readers of the same capture:
 * - libpcap (default): the same read loop as d4-bench-pcap-read, each
 *   packet copied out of libpcap's buffer (which the next read reuses);
 * - --inplace: the file mapped and split in place by d4_pcapsplit (the
 *   reader the hub runs over type-1 frames; no copy, no stdio): mapping,
 *   page faults and unmapping are inside the measured time.
 * Each packet is decoded (d4_pkt_decode), then classified and added to the
 * vector aggregator in batches of 64 (d4_bs_agg_add_batch), the aggregator
 * ticked every TICK seconds of capture time (default 1) before the first
 * packet at or past the tick, flushed at the end, as d4-backscatter does;
 * vectors are counted, not printed. --read-only (with --inplace): the bare
 * in-place read loop, touching each record's length and first byte as
 * d4-bench-pcap-read does.
 * Prints "packets N seconds S pps R vectors V backscatter B" for the loop
 * (open and close excluded).
 *   d4-bench-bs [--inplace [--read-only]] FILE [REPEAT] [TICK] [TELESCOPE-PREFIX...] */
#include "d4_backscatter.h"
#include "d4_pkt.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define BATCH 64
#define ARENA (1u << 20) /* packet copies of one batch (a packet is at most 256 KiB) */

struct batch {
	struct d4_pkt pk[BATCH];
	uint64_t ts[BATCH];
	size_t n, used;
	uint8_t *arena;
};

static void batch_run(struct d4_bs_agg *a, struct batch *b)
{
	if (b->n)
		d4_bs_agg_add_batch(a, b->pk, b->n, b->ts, NULL, 0, NULL, NULL);
	b->n = b->used = 0;
}

static int count_vector(const struct d4_bs_vector *v, void *ud)
{
	(void)v;
	(*(uint64_t *)ud)++;
	return 0;
}

/* The in-place reader's state: records arrive from d4_pcapsplit_feed. */
struct inplace {
	struct d4_bs_agg *a;
	struct batch *b;
	uint64_t tick_us, next_tick, n, vectors, sum;
	const uint8_t *lo, *hi; /* the mapping: records inside it are not copied */
	int read_only;
};

static int on_record(void *ud, const struct d4_pcap_rec *r)
{
	struct inplace *x = ud;
	struct batch *b = x->b;
	x->n++;
	if (x->read_only) {
		x->sum += r->caplen + (r->caplen ? r->data[0] : 0u);
		return 0;
	}
	if (r->ts_us >= x->next_tick) {
		batch_run(x->a, b);
		d4_bs_agg_tick(x->a, r->ts_us, count_vector, &x->vectors);
		x->next_tick = (r->ts_us / x->tick_us + 1) * x->tick_us;
	}
	if (b->n == BATCH)
		batch_run(x->a, b);
	const uint8_t *d = r->data;
	if (d < x->lo || d + r->caplen > x->hi) { /* a record the splitter held: copy it */
		if (r->caplen > ARENA - b->used)
			batch_run(x->a, b);
		if (r->caplen > ARENA)
			return 0;
		memcpy(b->arena + b->used, d, r->caplen);
		d = b->arena + b->used;
		b->used += r->caplen;
	}
	if (d4_pkt_decode((int)r->linktype, d, r->caplen, &b->pk[b->n]) == 0)
		b->ts[b->n++] = r->ts_us;
	return 0;
}

/* One pass of the in-place reader over path; adds to *x's totals. */
static int inplace_pass(const char *path, struct inplace *x, double *secs)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0) {
		perror(path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct d4_pcapsplit *sp = d4_pcapsplit_new(0);
	if (!sp) {
		close(fd);
		return -1;
	}
	double t0 = now_s();
	size_t len = (size_t)st.st_size;
	const uint8_t *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		d4_pcapsplit_free(sp);
		close(fd);
		return -1;
	}
	madvise((void *)m, len, MADV_SEQUENTIAL);
	x->lo = m;
	x->hi = m + len;
	x->next_tick = 0;
	int rc = d4_pcapsplit_feed(sp, m, len, on_record, x);
	if (!x->read_only) {
		batch_run(x->a, x->b);
		d4_bs_agg_flush(x->a, count_vector, &x->vectors);
	}
	munmap((void *)m, len);
	*secs += now_s() - t0;
	d4_pcapsplit_free(sp);
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	int inplace = 0, read_only = 0;
	while (argc > 1 && argv[1][0] == '-' && argv[1][1] == '-') {
		if (strcmp(argv[1], "--inplace") == 0)
			inplace = 1;
		else if (strcmp(argv[1], "--read-only") == 0)
			read_only = 1;
		else
			break;
		argv++;
		argc--;
	}
	if (argc < 2) {
		fprintf(stderr,
			"usage: d4-bench-bs [--inplace [--read-only]] FILE [REPEAT] [TICK] [TELESCOPE-PREFIX...]\n");
		return 2;
	}
	int repeat = argc > 2 ? atoi(argv[2]) : 1;
	if (repeat < 1)
		repeat = 1;
	uint64_t tick_us = argc > 3 ? 1000000u * (uint64_t)strtoul(argv[3], NULL, 10) : 1000000u;
	if (tick_us == 0)
		tick_us = 1000000u;
	struct d4_bs_prefix tele[16];
	size_t ntele = 0;
	for (int i = 4; i < argc && ntele < 16; i++)
		if (d4_bs_prefix_parse(argv[i], &tele[ntele++]) != 0) {
			fprintf(stderr, "d4-bench-bs: bad prefix %s\n", argv[i]);
			return 2;
		}
	uint64_t n = 0, vectors = 0, backscatter = 0;
	double total = 0;
	static struct batch b;
	b.arena = malloc(ARENA);
	if (!b.arena)
		return 1;
	if (inplace) {
		struct inplace x = {.b = &b, .tick_us = tick_us, .read_only = read_only};
		for (int k = 0; k < repeat; k++) {
			struct d4_bs_opts o;
			d4_bs_opts_default(&o);
			o.telescope = tele;
			o.n_telescope = ntele;
			x.a = read_only ? NULL : d4_bs_agg_new(&o);
			if (!read_only && !x.a)
				return 1;
			if (inplace_pass(argv[1], &x, &total) != 0) {
				fprintf(stderr, "d4-bench-bs: %s: not read completely\n", argv[1]);
				return 1;
			}
			if (x.a) {
				struct d4_bs_stats st;
				d4_bs_agg_stats(x.a, &st);
				backscatter += st.backscatter;
				d4_bs_agg_free(x.a);
			}
		}
		n = x.n;
		vectors = x.vectors;
		if (read_only) {
			printf("packets %llu seconds %.6f pps %.0f check %llu\n", (unsigned long long)n, total,
			       total > 0 ? (double)n / total : 0.0, (unsigned long long)x.sum);
			return 0;
		}
		printf("packets %llu seconds %.6f pps %.0f vectors %llu backscatter %llu\n", (unsigned long long)n,
		       total, total > 0 ? (double)n / total : 0.0, (unsigned long long)vectors,
		       (unsigned long long)backscatter);
		return 0;
	}
	for (int k = 0; k < repeat; k++) {
		struct d4_bs_opts o;
		d4_bs_opts_default(&o);
		o.telescope = tele;
		o.n_telescope = ntele;
		struct d4_bs_agg *a = d4_bs_agg_new(&o);
		char errbuf[PCAP_ERRBUF_SIZE] = "";
		pcap_t *p = a ? pcap_open_offline(argv[1], errbuf) : NULL;
		if (!p) {
			fprintf(stderr, "d4-bench-bs: %s: %s\n", argv[1], a ? errbuf : "aggregator");
			d4_bs_agg_free(a);
			return 1;
		}
		int lt = pcap_datalink(p), r;
		struct pcap_pkthdr *h;
		const u_char *data;
		uint64_t next_tick = 0;
		double t0 = now_s();
		while ((r = pcap_next_ex(p, &h, &data)) == 1) {
			n++;
			uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
			if (ts >= next_tick) {
				batch_run(a, &b);
				d4_bs_agg_tick(a, ts, count_vector, &vectors);
				next_tick = (ts / tick_us + 1) * tick_us;
			}
			if (h->caplen > ARENA - b.used || b.n == BATCH)
				batch_run(a, &b);
			if (h->caplen > ARENA)
				continue;
			uint8_t *c = b.arena + b.used;
			memcpy(c, data, h->caplen);
			if (d4_pkt_decode(lt, c, h->caplen, &b.pk[b.n]) == 0) {
				b.ts[b.n++] = ts;
				b.used += h->caplen;
			}
		}
		batch_run(a, &b);
		d4_bs_agg_flush(a, count_vector, &vectors);
		total += now_s() - t0;
		struct d4_bs_stats st;
		d4_bs_agg_stats(a, &st);
		backscatter += st.backscatter;
		d4_bs_agg_free(a);
		pcap_close(p);
		if (r == PCAP_ERROR)
			return 1;
	}
	printf("packets %llu seconds %.6f pps %.0f vectors %llu backscatter %llu\n", (unsigned long long)n, total,
	       total > 0 ? (double)n / total : 0.0, (unsigned long long)vectors, (unsigned long long)backscatter);
	return 0;
}
