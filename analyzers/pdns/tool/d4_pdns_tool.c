/* d4-pdns: offline passive DNS. Reads pcap/pcapng captures, passivedns CSV
 * and COF NDJSON, prints COF NDJSON: by default one object per tuple
 * (rrname, rrtype, rdata) aggregated in memory (time_first = min, time_last =
 * max, count = sum), sorted; with --raw one object per observation in input
 * order. See docs/pdns.md. */
#include "d4_error.h"
#include "d4_pdns.h"

#include <errno.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_TUPLES 10000000ull
#define LINE_CAP	   (2u << 20) /* longer text lines are bad lines */
#define OUT_CAP		   (512u << 10)
#define TCP_MEM		   (64u << 20)
#define TCP_IDLE	   60

enum in_kind { IN_PCAP, IN_CSV, IN_COF };

struct input {
	enum in_kind kind;
	const char *path;
	const char *fields, *sep;
};

/* One aggregated tuple; rrname and rdata follow the struct. */
struct tuple {
	uint64_t hash;
	uint64_t tf, tl, count;
	char *bailiwick, *sensor; /* NULL when unknown or when sources disagree */
	uint8_t bw_mixed, sensor_mixed;
	uint16_t rrtype;
	uint32_t name_len;
	char text[]; /* rrname NUL rdata NUL */
};

struct tool {
	int raw, quiet, strict;
	const char *sensor_id;
	uint64_t max_tuples;
	/* aggregation table: open addressing, power-of-two size */
	struct tuple **slots;
	size_t nslots, ntuples;
	int full;
	char *out;
	int out_err;
	uint64_t packets, too_long_out;
	struct d4_pdns_stats st;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: d4-pdns [-r FILE.pcap|.pcapng]... [--csv FILE [--fields SPEC] [--sep S]]... [--cof FILE]...\n"
		"               [--raw] [--sensor-id ID] [--max-tuples N] [--strict] [-q]\n"
		"  FILE may be '-' for standard input. Prints COF NDJSON on standard output:\n"
		"  aggregated tuples sorted by rrname, rrtype, rdata (default) or, with --raw,\n"
		"  one object per observation in input order. Statistics go to standard error.\n"
		"  --fields/--sep: passivedns -f letters and separator (default SMcsCQTAtn, ||) for\n"
		"  the --csv just before them and every later one.\n"
		"  --max-tuples N: distinct tuples kept in memory (default %llu).\n"
		"  --strict: exit 1 if any line was bad.\n",
		(unsigned long long)DEFAULT_MAX_TUPLES);
}

/* FNV-1a over the tuple key. */
static uint64_t hash_key(const char *name, uint16_t type, const char *rdata, size_t rlen)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	h = (h ^ (type & 0xff)) * 0x100000001b3ull;
	h = (h ^ (type >> 8)) * 0x100000001b3ull;
	for (size_t i = 0; i < rlen; i++)
		h = (h ^ (unsigned char)rdata[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

static int grow(struct tool *t)
{
	size_t n = t->nslots ? t->nslots * 2 : 1024;
	struct tuple **s = calloc(n, sizeof(*s));
	if (!s)
		return D4_ENOMEM;
	for (size_t i = 0; i < t->nslots; i++) {
		struct tuple *e = t->slots[i];
		if (!e)
			continue;
		size_t j = (size_t)e->hash & (n - 1);
		while (s[j])
			j = (j + 1) & (n - 1);
		s[j] = e;
	}
	free(t->slots);
	t->slots = s;
	t->nslots = n;
	return 0;
}

/* Keeps a value while every source agrees on it; NULL once they differ. */
static int merge_opt(char **cur, uint8_t *mixed, const char *v, int first)
{
	if (*mixed)
		return 0;
	if (first) {
		if (v && !(*cur = strdup(v)))
			return D4_ENOMEM;
		return 0;
	}
	if ((*cur == NULL) != (v == NULL) || (v && strcmp(*cur, v) != 0)) {
		free(*cur);
		*cur = NULL;
		*mixed = 1;
	}
	return 0;
}

static int aggregate(struct tool *t, const struct d4_pdns_obs *o, const char *sensor)
{
	if (t->ntuples * 10 >= t->nslots * 7 && grow(t) != 0)
		return D4_ENOMEM;
	uint64_t h = hash_key(o->rrname, o->rrtype, o->rdata, o->rdata_len);
	size_t j = (size_t)h & (t->nslots - 1);
	size_t nl = strlen(o->rrname);
	struct tuple *e;
	while ((e = t->slots[j]) != NULL) {
		if (e->hash == h && e->rrtype == o->rrtype && e->name_len == nl &&
		    memcmp(e->text, o->rrname, nl) == 0 && strcmp(e->text + nl + 1, o->rdata) == 0)
			break;
		j = (j + 1) & (t->nslots - 1);
	}
	int first = e == NULL;
	if (first) {
		if (t->ntuples >= t->max_tuples) {
			t->full = 1;
			return D4_EFULL;
		}
		e = malloc(sizeof(*e) + nl + 1 + o->rdata_len + 1);
		if (!e)
			return D4_ENOMEM;
		memset(e, 0, sizeof(*e));
		e->hash = h;
		e->rrtype = o->rrtype;
		e->name_len = (uint32_t)nl;
		memcpy(e->text, o->rrname, nl + 1);
		memcpy(e->text + nl + 1, o->rdata, o->rdata_len + 1);
		e->tf = o->time_first;
		e->tl = o->time_last;
		t->slots[j] = e;
		t->ntuples++;
	} else {
		if (o->time_first < e->tf)
			e->tf = o->time_first;
		if (o->time_last > e->tl)
			e->tl = o->time_last;
	}
	e->count = o->count > UINT64_MAX - e->count ? UINT64_MAX : e->count + o->count;
	if (merge_opt(&e->bailiwick, &e->bw_mixed, o->bailiwick, first) != 0 ||
	    merge_opt(&e->sensor, &e->sensor_mixed, sensor, first) != 0)
		return D4_ENOMEM;
	return 0;
}

static void write_obs(struct tool *t, const struct d4_pdns_obs *o)
{
	int n = d4_pdns_cof_write(o, t->out, OUT_CAP);
	if (n < 0) {
		t->too_long_out++;
		return;
	}
	if (fwrite(t->out, 1, (size_t)n, stdout) != (size_t)n)
		t->out_err = 1;
}

static int on_obs(void *arg, const struct d4_pdns_obs *obs)
{
	struct tool *t = arg;
	const char *sensor = t->sensor_id ? t->sensor_id : obs->sensor_id;
	if (t->raw) {
		struct d4_pdns_obs o = *obs;
		o.sensor_id = sensor;
		write_obs(t, &o);
		return t->out_err ? D4_EIO : 0;
	}
	return aggregate(t, obs, sensor);
}

/* Parser outcome of one line: bad lines are counted by the parser and
 * skipped; anything else negative stops the input. */
static int line_rc(int rc)
{
	return rc == D4_EINVAL || rc == D4_EJSON ? 0 : rc;
}

struct text_ctx {
	struct tool *t;
	enum in_kind kind;
	struct d4_pdns_csv_spec spec;
};

static int text_line(struct text_ctx *x, const char *line, size_t n)
{
	if (x->kind == IN_CSV)
		return line_rc(d4_pdns_csv_line(&x->spec, line, n, on_obs, x->t, &x->t->st));
	return line_rc(d4_pdns_cof_line(line, n, on_obs, x->t, &x->t->st));
}

/* Reads newline-separated lines through a fixed buffer: a line longer than
 * LINE_CAP is skipped and counted as bad. Returns 0, D4_EIO or a stop code. */
static int read_text(struct text_ctx *x, FILE *f)
{
	char *buf = malloc(LINE_CAP);
	if (!buf)
		return D4_ENOMEM;
	size_t len = 0;
	int skipping = 0, rc = 0;
	for (;;) {
		size_t got = fread(buf + len, 1, LINE_CAP - len, f);
		if (got == 0)
			break;
		len += got;
		size_t start = 0;
		char *nl;
		while (rc == 0 && (nl = memchr(buf + start, '\n', len - start)) != NULL) {
			size_t end = (size_t)(nl - buf);
			if (skipping)
				skipping = 0;
			else
				rc = text_line(x, buf + start, end - start);
			start = end + 1;
		}
		if (rc != 0)
			break;
		memmove(buf, buf + start, len - start);
		len -= start;
		if (len == LINE_CAP) { /* no newline in a full buffer */
			if (!skipping)
				x->t->st.bad_lines++;
			skipping = 1;
			len = 0;
		}
	}
	if (rc == 0 && ferror(f))
		rc = D4_EIO;
	if (rc == 0 && len > 0 && !skipping)
		rc = text_line(x, buf, len);
	free(buf);
	return rc;
}

static int run_text(struct tool *t, const struct input *in)
{
	struct text_ctx x = {.t = t, .kind = in->kind};
	if (in->kind == IN_CSV && d4_pdns_csv_spec_parse(in->fields, in->sep, &x.spec) != 0) {
		fprintf(stderr, "d4-pdns: bad CSV field spec '%s' or separator\n", in->fields ? in->fields : "");
		return 2;
	}
	int is_stdin = strcmp(in->path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(in->path, "rb");
	if (!f) {
		fprintf(stderr, "d4-pdns: %s: %s\n", in->path, strerror(errno));
		return 1;
	}
	int rc = read_text(&x, f);
	if (!is_stdin)
		fclose(f);
	if (rc == D4_EIO) {
		fprintf(stderr, "d4-pdns: %s: read error\n", in->path);
		return 1;
	}
	return rc < 0 ? -1 : 0;
}

static int run_pcap(struct tool *t, const struct input *in)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	pcap_t *p = pcap_open_offline(in->path, errbuf);
	if (!p) {
		fprintf(stderr, "d4-pdns: %s: %s\n", in->path, errbuf);
		return 1;
	}
	struct d4_pdns_pcap *x = d4_pdns_pcap_new(TCP_MEM, TCP_IDLE);
	if (!x) {
		pcap_close(p);
		fprintf(stderr, "d4-pdns: out of memory\n");
		return -1;
	}
	int lt = pcap_datalink(p), r, rc = 0;
	struct pcap_pkthdr *h;
	const u_char *data;
	while ((r = pcap_next_ex(p, &h, &data)) == 1) {
		t->packets++;
		uint64_t ts = h->ts.tv_sec < 0 ? 0 : (uint64_t)h->ts.tv_sec;
		rc = d4_pdns_pcap_packet(x, lt, ts, data, h->caplen, on_obs, t, &t->st);
		if (rc < 0)
			break;
	}
	int ret = 0;
	if (rc < 0)
		ret = -1;
	else if (r == PCAP_ERROR) {
		fprintf(stderr, "d4-pdns: %s: %s\n", in->path, pcap_geterr(p));
		ret = 1;
	}
	d4_pdns_pcap_free(x);
	pcap_close(p);
	return ret;
}

static int cmp_tuple(const void *a, const void *b)
{
	const struct tuple *x = *(const struct tuple *const *)a, *y = *(const struct tuple *const *)b;
	int c = strcmp(x->text, y->text);
	if (c)
		return c;
	if (x->rrtype != y->rrtype)
		return x->rrtype < y->rrtype ? -1 : 1;
	return strcmp(x->text + x->name_len + 1, y->text + y->name_len + 1);
}

static void flush_tuples(struct tool *t)
{
	struct tuple **v = malloc((t->ntuples ? t->ntuples : 1) * sizeof(*v));
	size_t k = 0;
	if (!v) {
		fprintf(stderr, "d4-pdns: out of memory\n");
		t->out_err = 1;
		return;
	}
	for (size_t i = 0; i < t->nslots; i++)
		if (t->slots[i])
			v[k++] = t->slots[i];
	qsort(v, k, sizeof(*v), cmp_tuple);
	for (size_t i = 0; i < k && !t->out_err; i++) {
		struct tuple *e = v[i];
		struct d4_pdns_obs o = {
		    .rrname = e->text,
		    .rrtype = e->rrtype,
		    .rrclass = 1,
		    .rdata = e->text + e->name_len + 1,
		    .rdata_len = strlen(e->text + e->name_len + 1),
		    .bailiwick = e->bailiwick,
		    .time_first = e->tf,
		    .time_last = e->tl,
		    .count = e->count,
		    .sensor_id = e->sensor,
		};
		write_obs(t, &o);
	}
	free(v);
}

static void free_tuples(struct tool *t)
{
	for (size_t i = 0; i < t->nslots; i++) {
		struct tuple *e = t->slots[i];
		if (e) {
			free(e->bailiwick);
			free(e->sensor);
			free(e);
		}
	}
	free(t->slots);
}

static int parse_max(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v == 0 || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

static int run(struct tool *t, struct input *ins, int argc, char **argv)
{
	size_t nin = 0;
	const char *fields = NULL, *sep = NULL;
	struct input *last_csv = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has_val = !strcmp(a, "-r") || !strcmp(a, "--csv") || !strcmp(a, "--cof") ||
			      !strcmp(a, "--fields") || !strcmp(a, "--sep") || !strcmp(a, "--sensor-id") ||
			      !strcmp(a, "--max-tuples");
		if (has_val && i + 1 >= argc) {
			fprintf(stderr, "d4-pdns: %s needs a value\n", a);
			usage(stderr);
			return 2;
		}
		const char *v = has_val ? argv[++i] : NULL;
		if (!strcmp(a, "-r"))
			ins[nin++] = (struct input){IN_PCAP, v, NULL, NULL};
		else if (!strcmp(a, "--csv")) {
			ins[nin] = (struct input){IN_CSV, v, fields, sep};
			last_csv = &ins[nin++];
		} else if (!strcmp(a, "--cof"))
			ins[nin++] = (struct input){IN_COF, v, NULL, NULL};
		else if (!strcmp(a, "--fields")) {
			fields = v;
			if (last_csv)
				last_csv->fields = v;
		} else if (!strcmp(a, "--sep")) {
			sep = v;
			if (last_csv)
				last_csv->sep = v;
		} else if (!strcmp(a, "--sensor-id"))
			t->sensor_id = v;
		else if (!strcmp(a, "--max-tuples")) {
			if (parse_max(v, &t->max_tuples) != 0) {
				fprintf(stderr, "d4-pdns: bad --max-tuples '%s'\n", v);
				return 2;
			}
		} else if (!strcmp(a, "--raw"))
			t->raw = 1;
		else if (!strcmp(a, "--strict"))
			t->strict = 1;
		else if (!strcmp(a, "-q"))
			t->quiet = 1;
		else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "d4-pdns: unknown argument '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (nin == 0) {
		fprintf(stderr, "d4-pdns: no input\n");
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < nin; i++) {
		struct d4_pdns_csv_spec sp;
		if (ins[i].kind == IN_CSV && d4_pdns_csv_spec_parse(ins[i].fields, ins[i].sep, &sp) != 0) {
			fprintf(stderr,
				"d4-pdns: bad CSV layout '%s' (passivedns -f letters with Q, T, A and H or S)\n",
				ins[i].fields ? ins[i].fields : "");
			return 2;
		}
	}
	t->out = malloc(OUT_CAP);
	if (!t->out)
		return 1;
	static char obuf[1 << 16];
	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));

	int exit_code = 0, stopped = 0;
	for (size_t i = 0; i < nin && !stopped; i++) {
		int r = ins[i].kind == IN_PCAP ? run_pcap(t, &ins[i]) : run_text(t, &ins[i]);
		if (r > 0)
			exit_code = r == 2 ? 2 : 1;
		else if (r < 0)
			stopped = 1;
	}
	if (t->full) {
		fprintf(stderr,
			"d4-pdns: more than %" PRIu64
			" distinct tuples: raise --max-tuples or use --raw; nothing written\n",
			t->max_tuples);
		exit_code = 1;
	} else if (stopped && !t->out_err) {
		fprintf(stderr, "d4-pdns: stopped: out of memory\n");
		exit_code = 1;
	} else if (!t->raw)
		flush_tuples(t);
	if (fflush(stdout) != 0 || t->out_err) {
		fprintf(stderr, "d4-pdns: write error on standard output\n");
		exit_code = 1;
	}
	if (!t->quiet)
		fprintf(stderr,
			"d4-pdns: records %" PRIu64 ", tuples %zu, bad_lines %" PRIu64 ", bad_packets %" PRIu64
			", not_dns %" PRIu64 ", too_long %" PRIu64 ", tcp_gaps %" PRIu64 ", packets %" PRIu64 "\n",
			t->st.records, t->raw ? (size_t)0 : t->ntuples, t->st.bad_lines, t->st.bad_packets,
			t->st.not_dns, t->st.too_long + t->too_long_out, t->st.tcp_gaps, t->packets);
	if (t->strict && t->st.bad_lines > 0 && exit_code == 0)
		exit_code = 1;
	return exit_code;
}

int main(int argc, char **argv)
{
	static struct tool t;
	t.max_tuples = DEFAULT_MAX_TUPLES;
	struct input *ins = calloc((size_t)argc, sizeof(*ins));
	if (!ins)
		return 1;
	int rc = run(&t, ins, argc, argv);
	free_tuples(&t);
	free(t.out);
	free(ins);
	return rc;
}
