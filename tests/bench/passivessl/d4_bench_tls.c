/* Passive-SSL extraction benchmark: a capture mapped in place and split by
 * d4_pcapsplit (as the hub reads type-1 streams), each record through
 * d4_tls_frame (link/IP decode, TCP and TLS reassembly, ClientHello parse,
 * JA3 + MD5, JA4), handshakes counted, not printed; the extractor flushed at
 * the end. Mapping and page faults are inside the measured time.
 * Prints "packets N handshakes H with_ja4 J seconds S hps R cpu_seconds C
 * cpu_hps Q" (handshakes per second of wall clock and of this process's CPU
 * time: the second is the figure on a loaded machine) for REPEAT passes.
 *   d4-bench-tls FILE [REPEAT] */
#include "d4_pkt.h"
#include "d4_tls.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct ctx {
	struct d4_tls *t;
	uint64_t packets, handshakes, with_ja4;
};

static int on_hs(void *ud, const struct d4_tls_handshake *h)
{
	struct ctx *c = ud;
	c->handshakes++;
	c->with_ja4 += h->ja4[0] != 0;
	return 0;
}

static int on_record(void *ud, const struct d4_pcap_rec *r)
{
	struct ctx *c = ud;
	c->packets++;
	return d4_tls_frame(c->t, (int)r->linktype, r->ts_us, r->data, r->caplen);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: d4-bench-tls FILE [REPEAT]\n");
		return 2;
	}
	int repeat = argc > 2 ? atoi(argv[2]) : 1;
	struct ctx c = {0};
	double total = 0, cpu = 0;
	for (int i = 0; i < repeat; i++) {
		int fd = open(argv[1], O_RDONLY);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) != 0) {
			perror(argv[1]);
			return 1;
		}
		c.t = d4_tls_new(NULL, on_hs, &c);
		struct d4_pcapsplit *sp = d4_pcapsplit_new(0);
		if (!c.t || !sp)
			return 1;
		double t0 = now_s(), c0 = cpu_s();
		const uint8_t *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		if (m == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		int rc = d4_pcapsplit_feed(sp, m, (size_t)st.st_size, on_record, &c);
		d4_tls_flush(c.t);
		munmap((void *)m, (size_t)st.st_size);
		total += now_s() - t0;
		cpu += cpu_s() - c0;
		close(fd);
		if (rc != 0) {
			fprintf(stderr, "d4-bench-tls: feed: %d\n", rc);
			return 1;
		}
		d4_pcapsplit_free(sp);
		d4_tls_free(c.t);
	}
	printf("packets %llu handshakes %llu with_ja4 %llu seconds %.3f hps %.0f cpu_seconds %.3f cpu_hps %.0f\n",
	       (unsigned long long)c.packets, (unsigned long long)c.handshakes, (unsigned long long)c.with_ja4, total,
	       total > 0 ? (double)c.handshakes / total : 0.0, cpu, cpu > 0 ? (double)c.handshakes / cpu : 0.0);
	return 0;
}
