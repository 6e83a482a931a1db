/* d4-backscatter: offline backscatter analysis. Reads pcap/pcapng captures
 * (one time line, in the order given), decodes every packet with d4_pkt,
 * classifies and aggregates it into attack vectors (d4_backscatter) and
 * prints the vectors as NDJSON, or with --packets one CSV line per
 * backscatter packet. See docs/backscatter.md, section "d4-backscatter". */
#include "d4_backscatter.h"
#include "d4_error.h"
#include "d4_pkt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TELESCOPE 256

struct tool {
	struct d4_bs_agg *agg;
	int csv, ongoing, quiet;
	uint64_t next_tick_us; /* tick once per second of capture time */
	uint64_t frames, undecoded, vectors_out;
	int out_err;
	char json[4096];
};

static void usage(FILE *f)
{
	fprintf(f, "usage: d4-backscatter [options] FILE.pcap|FILE.pcapng ...\n"
		   "  FILE may be '-' for standard input. Files are read in the order given as one\n"
		   "  time line. Prints one NDJSON object per reported attack vector.\n"
		   "  -t, --telescope PREFIX  telescope prefix (a.b.c.d/n or v6addr/n), repeatable:\n"
		   "                          only packets to it are counted; scales est_pps\n"
		   "  --live                  live-network mode: ignore replies to our own outbound\n"
		   "                          4-tuples (--live-window S, default 120)\n"
		   "  --min-packets N         report at >= N packets (default 25)\n"
		   "  --min-duration S        report when last - first >= S seconds (default 60)\n"
		   "  --min-peak N            report at a peak of >= N packets/minute (default 30)\n"
		   "  --idle S                close a vector after S seconds without packets (default 300)\n"
		   "  --ongoing               also print ongoing updates (every --update S, default 60)\n"
		   "  --max-vectors N         open vectors kept in memory (default 262144)\n"
		   "  --packets               print one CSV line per backscatter packet instead\n"
		   "  -q                      no summary on standard error\n"
		   "  exit: 0 done, 1 an input could not be read completely (the rest is\n"
		   "  processed), 2 usage error, 3 out of memory or output error\n");
}

static int parse_u32(const char *s, uint32_t min, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > UINT32_MAX || v < min)
		return D4_EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int on_vector(const struct d4_bs_vector *v, void *ud)
{
	struct tool *t = ud;
	if (v->state != D4_BS_CLOSED && !t->ongoing)
		return 0;
	int n = d4_bs_vector_json(v, t->json, sizeof(t->json));
	if (n < 0)
		return n;
	if (fwrite(t->json, 1, (size_t)n, stdout) != (size_t)n) {
		t->out_err = 1;
		return D4_EIO;
	}
	t->vectors_out++;
	return 0;
}

static int print_packet(struct tool *t, const struct d4_pkt *pk, uint64_t ts_us)
{
	struct d4_bs_class c;
	char v[64], te[64];
	/* The aggregator already applied the telescope and live rules: classify
	 * again only to get the per-packet fields. */
	d4_bs_classify(pk, NULL, &c);
	if (printf("%" PRIu64 ".%06" PRIu64 ",%s,%s,%u,%u,%s,%u,%" PRIu32 "\n", ts_us / 1000000, ts_us % 1000000,
		   d4_bs_kind_name(c.kind), d4_pkt_addr_str(c.victim, v, sizeof(v)), c.port, c.proto,
		   d4_pkt_addr_str(c.telescope, te, sizeof(te)), c.tport, c.bytes) < 0) {
		t->out_err = 1;
		return D4_EIO;
	}
	return 0;
}

/* One packet of the time line: tick, decode, count. Returns 0 or a
 * negative code (stop: memory or output). */
static int one_packet(struct tool *t, int lt, const uint8_t *data, uint32_t caplen, uint64_t ts)
{
	int rc;
	struct d4_bs_stats before, after;
	t->frames++;
	if (ts >= t->next_tick_us) {
		rc = d4_bs_agg_tick(t->agg, ts, t->csv ? NULL : on_vector, t);
		if (rc < 0)
			return rc;
		t->next_tick_us = (ts / 1000000u + 1) * 1000000u;
	}
	struct d4_pkt pk;
	if (d4_pkt_decode(lt, data, caplen, &pk) != 0) {
		t->undecoded++;
		return 0;
	}
	if (t->csv)
		d4_bs_agg_stats(t->agg, &before);
	rc = d4_bs_agg_add(t->agg, &pk, ts, NULL, 0, NULL);
	if (rc == D4_EFULL)
		rc = 0; /* counted in dropped_full, reported in the summary */
	if (rc < 0)
		return rc;
	if (t->csv) {
		d4_bs_agg_stats(t->agg, &after);
		if (after.backscatter != before.backscatter)
			return print_packet(t, &pk, ts);
	}
	return 0;
}

static int on_record(void *ud, const struct d4_pcap_rec *r)
{
	return one_packet(ud, (int)r->linktype, r->data, r->caplen, r->ts_us);
}

/* The classic pcap magic numbers, microseconds or nanoseconds, either byte
 * order (pcapng and anything else go to libpcap). */
static int is_pcap_magic(const uint8_t m[4])
{
	static const uint8_t k[4][4] = {
	    {0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0xc3, 0xd4}, {0x4d, 0x3c, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d}};
	for (int i = 0; i < 4; i++)
		if (memcmp(m, k[i], 4) == 0)
			return 1;
	return 0;
}

/* A regular file in the classic pcap format is mapped and split in place
 * (d4_pcapsplit, the hub's reader of type-1 streams: no copy, no stdio);
 * libpcap reads everything else (pcapng, standard input, pipes). Returns 0,
 * 1 (the file could not be read completely), a negative code (stop), or
 * D4_ENOTSUP when the file is not for this reader (nothing was read). */
static int run_mapped(struct tool *t, const char *path)
{
	if (strcmp(path, "-") == 0)
		return D4_ENOTSUP;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return D4_ENOTSUP; /* libpcap says why */
	struct stat st;
	uint8_t magic[4];
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 24 || pread(fd, magic, 4, 0) != 4 ||
	    !is_pcap_magic(magic) || (uint64_t)st.st_size > SIZE_MAX) {
		close(fd);
		return D4_ENOTSUP;
	}
	size_t len = (size_t)st.st_size;
	void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return D4_ENOTSUP;
	madvise(m, len, MADV_SEQUENTIAL);
	struct d4_pcapsplit *sp = d4_pcapsplit_new(0);
	int ret = 0, rc = sp ? d4_pcapsplit_feed(sp, m, len, on_record, t) : D4_ENOMEM;
	if (rc < 0 && sp && d4_pcapsplit_failed(sp) != D4_PCAP_F_NONE) {
		fprintf(stderr, "d4-backscatter: %s: %s: %s (after %" PRIu64 " packets in all)\n", path,
			d4_pcap_fail_name(d4_pcapsplit_failed(sp)), d4_strerror(rc), t->frames);
		ret = 1;
	} else if (rc < 0)
		ret = rc; /* memory, the aggregator or the output: stop */
	else if (d4_pcapsplit_pending(sp) != 0) {
		fprintf(stderr,
			"d4-backscatter: %s: truncated dump file: the last record is cut (after %" PRIu64
			" packets in all)\n",
			path, t->frames);
		ret = 1;
	}
	d4_pcapsplit_free(sp);
	munmap(m, len);
	return ret;
}

/* Returns 0, 1 (the file could not be read completely) or a negative code
 * (stop: memory or output). */
static int run_file(struct tool *t, const char *path)
{
	int ret = run_mapped(t, path);
	if (ret != D4_ENOTSUP)
		return ret;
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
	if (!p) {
		fprintf(stderr, "d4-backscatter: %s: %s\n", path, errbuf);
		return 1;
	}
	int lt = pcap_datalink(p), r, rc = 0;
	struct pcap_pkthdr *h;
	const u_char *data;
	while ((r = pcap_next_ex(p, &h, &data)) == 1) {
		uint64_t ts = h->ts.tv_sec < 0 ? 0 : (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
		if ((rc = one_packet(t, lt, data, h->caplen, ts)) < 0)
			break;
	}
	ret = 0;
	if (rc < 0)
		ret = rc;
	else if (r == PCAP_ERROR) {
		fprintf(stderr, "d4-backscatter: %s: %s (after %" PRIu64 " packets in all)\n", path, pcap_geterr(p),
			t->frames);
		ret = 1;
	}
	pcap_close(p);
	return ret;
}

static void summary(const struct tool *t)
{
	struct d4_bs_stats s;
	d4_bs_agg_stats(t->agg, &s);
	fprintf(stderr,
		"d4-backscatter: frames %" PRIu64 ", undecoded %" PRIu64 ", backscatter %" PRIu64
		", dropped_full %" PRIu64 ", late %" PRIu64 ", vectors reported %" PRIu64 ", unreported %" PRIu64
		", printed %" PRIu64 "\n",
		t->frames, t->undecoded, s.backscatter, s.dropped_full, s.late, s.vectors_reported,
		s.vectors_unreported, t->vectors_out);
	fprintf(stderr, "d4-backscatter: not backscatter:");
	for (int i = 1; i < D4_BS_R_COUNT; i++)
		fprintf(stderr, " %s %" PRIu64, d4_bs_reason_name(i), s.by_reason[i]);
	fprintf(stderr, "\nd4-backscatter: by kind:");
	for (int i = 1; i < D4_BS_KIND_COUNT; i++)
		fprintf(stderr, " %s %" PRIu64, d4_bs_kind_name(i), s.by_kind[i]);
	fputc('\n', stderr);
}

int main(int argc, char **argv)
{
	static struct d4_bs_prefix tele[MAX_TELESCOPE];
	struct d4_bs_opts o;
	struct tool t = {0};
	const char **files = calloc((size_t)argc, sizeof(*files));
	size_t nfiles = 0, ntele = 0;
	if (!files)
		return 3;
	d4_bs_opts_default(&o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has_val = !strcmp(a, "-t") || !strcmp(a, "--telescope") || !strcmp(a, "--live-window") ||
			      !strcmp(a, "--min-packets") || !strcmp(a, "--min-duration") || !strcmp(a, "--min-peak") ||
			      !strcmp(a, "--idle") || !strcmp(a, "--update") || !strcmp(a, "--max-vectors");
		if (has_val && i + 1 >= argc) {
			fprintf(stderr, "d4-backscatter: %s needs a value\n", a);
			usage(stderr);
			free(files);
			return 2;
		}
		const char *v = has_val ? argv[++i] : NULL;
		int bad = 0;
		if (!strcmp(a, "-t") || !strcmp(a, "--telescope")) {
			if (ntele == MAX_TELESCOPE || d4_bs_prefix_parse(v, &tele[ntele]) != 0)
				bad = 1;
			else
				ntele++;
		} else if (!strcmp(a, "--live-window"))
			bad = parse_u32(v, 1, &o.live_window_s);
		else if (!strcmp(a, "--min-packets"))
			bad = parse_u32(v, 1, &o.min_packets);
		else if (!strcmp(a, "--min-duration"))
			bad = parse_u32(v, 0, &o.min_duration_s);
		else if (!strcmp(a, "--min-peak"))
			bad = parse_u32(v, 0, &o.min_peak_ppm);
		else if (!strcmp(a, "--idle"))
			bad = parse_u32(v, 1, &o.idle_close_s);
		else if (!strcmp(a, "--update"))
			bad = parse_u32(v, 1, &o.update_s);
		else if (!strcmp(a, "--max-vectors"))
			bad = parse_u32(v, 1, &o.max_vectors);
		else if (!strcmp(a, "--live"))
			o.live = 1;
		else if (!strcmp(a, "--ongoing"))
			t.ongoing = 1;
		else if (!strcmp(a, "--packets"))
			t.csv = 1;
		else if (!strcmp(a, "-q"))
			t.quiet = 1;
		else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			free(files);
			return 0;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "d4-backscatter: unknown option '%s'\n", a);
			usage(stderr);
			free(files);
			return 2;
		} else
			files[nfiles++] = a;
		if (bad) {
			fprintf(stderr, "d4-backscatter: bad value '%s' for %s\n", v, a);
			free(files);
			return 2;
		}
	}
	if (nfiles == 0) {
		fprintf(stderr, "d4-backscatter: no input file\n");
		usage(stderr);
		free(files);
		return 2;
	}
	o.telescope = tele;
	o.n_telescope = ntele;
	t.agg = d4_bs_agg_new(&o);
	if (!t.agg) {
		fprintf(stderr, "d4-backscatter: cannot create the aggregator (options or memory)\n");
		free(files);
		return 2;
	}
	if (t.csv && printf("ts,kind,victim,port,proto,telescope,tport,bytes\n") < 0)
		t.out_err = 1;
	int code = 0, rc = 0;
	for (size_t i = 0; i < nfiles && rc >= 0; i++) {
		rc = run_file(&t, files[i]);
		if (rc == 1)
			code = 1;
	}
	if (rc >= 0)
		rc = d4_bs_agg_flush(t.agg, t.csv ? NULL : on_vector, &t);
	if (rc < 0 || fflush(stdout) != 0 || t.out_err) {
		fprintf(stderr, "d4-backscatter: %s\n", t.out_err ? "output error" : d4_strerror(rc));
		code = 3;
	}
	if (!t.quiet)
		summary(&t);
	d4_bs_agg_free(t.agg);
	free(files);
	return code;
}
