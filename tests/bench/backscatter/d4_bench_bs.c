/* Backscatter pipeline benchmark: the same read loop as d4-bench-pcap-read,
 * each packet copied out of libpcap's buffer (which the next read reuses)
 * and decoded (d4_pkt_decode), then classified and added to the vector
 * aggregator in batches of 64 (d4_bs_agg_add_batch), the aggregator ticked
 * every TICK seconds of capture time (default 1) before the first packet at
 * or past the tick, flushed at the end, as d4-backscatter does; vectors are
 * counted, not printed.
 * Prints "packets N seconds S pps R vectors V backscatter B" for the loop
 * (open and close excluded).
 *   d4-bench-bs FILE [REPEAT] [TICK] [TELESCOPE-PREFIX...] */
#include "d4_backscatter.h"
#include "d4_pkt.h"

#include <pcap/pcap.h>
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

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: d4-bench-bs FILE [REPEAT] [TICK] [TELESCOPE-PREFIX...]\n");
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
