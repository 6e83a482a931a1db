/* Bare libpcap read loop: the ceiling the backscatter benchmark compares
 * with. Reads a capture with pcap_next_ex, touches the first byte of each
 * packet and its length (so that the loop is not optimised away and the data
 * is really brought in), and prints "packets N seconds S pps R" for the
 * loop alone (open and close excluded).
 *   d4-bench-pcap-read FILE [REPEAT] */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: d4-bench-pcap-read FILE [REPEAT]\n");
		return 2;
	}
	int repeat = argc > 2 ? atoi(argv[2]) : 1;
	if (repeat < 1)
		repeat = 1;
	uint64_t n = 0, sum = 0;
	double total = 0;
	for (int k = 0; k < repeat; k++) {
		char errbuf[PCAP_ERRBUF_SIZE] = "";
		pcap_t *p = pcap_open_offline(argv[1], errbuf);
		if (!p) {
			fprintf(stderr, "d4-bench-pcap-read: %s: %s\n", argv[1], errbuf);
			return 1;
		}
		struct pcap_pkthdr *h;
		const u_char *data;
		int r;
		double t0 = now_s();
		while ((r = pcap_next_ex(p, &h, &data)) == 1) {
			n++;
			sum += h->caplen + (h->caplen ? data[0] : 0u);
		}
		total += now_s() - t0;
		if (r == PCAP_ERROR) {
			fprintf(stderr, "d4-bench-pcap-read: %s: %s\n", argv[1], pcap_geterr(p));
			pcap_close(p);
			return 1;
		}
		pcap_close(p);
	}
	printf("packets %llu seconds %.6f pps %.0f check %llu\n", (unsigned long long)n, total,
	       total > 0 ? (double)n / total : 0.0, (unsigned long long)sum);
	return 0;
}
