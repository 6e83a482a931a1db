/* d4-tls: reads pcap/pcapng captures and prints one JSON line per TLS
 * handshake (d4_tls_handshake_json); the extractor's counters go to
 * standard error. See docs/passivessl.md. */
#include "d4_error.h"
#include "d4_tls.h"

#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_CAP (4u << 20)

struct ctx {
	char *out;
	uint64_t too_long;
};

static int emit(void *ud, const struct d4_tls_handshake *h)
{
	struct ctx *c = ud;
	int n = d4_tls_handshake_json(h, c->out, OUT_CAP);
	if (n < 0) {
		c->too_long++;
		return 0;
	}
	fwrite(c->out, 1, (size_t)n, stdout);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: d4-tls [--max-flows N] [--max-dir-bytes N] [--idle S] [-q] FILE.pcap|.pcapng|-...\n"
		   "  Prints one JSON line per TLS handshake seen in the captures (in order,\n"
		   "  as one capture); the extractor's counters go to standard error unless -q.\n");
}

static unsigned long num(const char *s)
{
	char *e;
	unsigned long v = strtoul(s, &e, 10);
	if (!*s || *e) {
		fprintf(stderr, "d4-tls: not a number: %s\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct d4_tls_config cfg;
	d4_tls_config_default(&cfg);
	int quiet = 0, nfiles = 0;
	char **files = calloc((size_t)argc, sizeof(*files));
	if (!files)
		return 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "-q")) {
			quiet = 1;
		} else if (!strcmp(argv[i], "--max-flows") && i + 1 < argc) {
			cfg.max_flows = (uint32_t)num(argv[++i]);
		} else if (!strcmp(argv[i], "--max-dir-bytes") && i + 1 < argc) {
			cfg.max_dir_bytes = (uint32_t)num(argv[++i]);
		} else if (!strcmp(argv[i], "--idle") && i + 1 < argc) {
			cfg.idle_s = (uint32_t)num(argv[++i]);
		} else if (argv[i][0] == '-' && argv[i][1]) {
			usage(stderr);
			return 2;
		} else {
			files[nfiles++] = argv[i];
		}
	}
	if (!nfiles) {
		usage(stderr);
		return 2;
	}
	struct ctx c = {malloc(OUT_CAP), 0};
	struct d4_tls *t = d4_tls_new(&cfg, emit, &c);
	if (!c.out || !t) {
		fprintf(stderr, "d4-tls: out of memory\n");
		return 1;
	}
	int rc = 0;
	for (int i = 0; i < nfiles; i++) {
		char err[PCAP_ERRBUF_SIZE];
		pcap_t *pc = pcap_open_offline(files[i], err);
		if (!pc) {
			fprintf(stderr, "d4-tls: %s: %s\n", files[i], err);
			rc = 1;
			continue;
		}
		int lt = pcap_datalink(pc);
		struct pcap_pkthdr *ph;
		const u_char *data;
		int r;
		while ((r = pcap_next_ex(pc, &ph, &data)) == 1)
			d4_tls_frame(t, lt, (uint64_t)ph->ts.tv_sec * 1000000u + (uint64_t)ph->ts.tv_usec, data,
				     ph->caplen);
		if (r == PCAP_ERROR) {
			fprintf(stderr, "d4-tls: %s: %s\n", files[i], pcap_geterr(pc));
			rc = 1;
		}
		pcap_close(pc);
	}
	d4_tls_flush(t);
	fflush(stdout);
	if (!quiet) {
		struct d4_tls_stats s;
		d4_tls_get_stats(t, &s);
		fprintf(stderr,
			"d4-tls: packets %llu not_tcp %llu undecodable %llu flows %llu no_syn %llu evicted %llu "
			"mem_evicted %llu idle %llu not_tls %llu retrans_bytes %llu ooo_segments %llu seg_limit %llu "
			"dir_limit %llu gaps %llu alloc_failures %llu hello_errors %llu cert_errors %llu "
			"handshakes %llu json_too_long %llu\n",
			(unsigned long long)s.packets, (unsigned long long)s.not_tcp, (unsigned long long)s.undecodable,
			(unsigned long long)s.flows, (unsigned long long)s.flows_no_syn,
			(unsigned long long)s.flows_evicted, (unsigned long long)s.flows_mem_evicted,
			(unsigned long long)s.flows_idle, (unsigned long long)s.not_tls,
			(unsigned long long)s.retrans_bytes, (unsigned long long)s.ooo_segments,
			(unsigned long long)s.seg_limit, (unsigned long long)s.dir_limit, (unsigned long long)s.gaps,
			(unsigned long long)s.alloc_failures, (unsigned long long)s.hello_errors,
			(unsigned long long)s.cert_errors, (unsigned long long)s.handshakes,
			(unsigned long long)c.too_long);
	}
	d4_tls_free(t);
	free(c.out);
	free(files);
	return rc;
}
