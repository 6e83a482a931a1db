/* Parser throughput of the pDNS text inputs on one core: passivedns CSV lines
 * (default layout) through d4_pdns_csv_line including the callback, and COF
 * lines through d4_pdns_cof_write / d4_pdns_cof_line. The lines are generated
 * in memory first (mixed types, names drawn from a skewed pool), so only
 * parsing is timed. Usage: d4-bench-pdns-csv [LINES] (default 2000000). */
#include "d4_error.h"
#include "d4_pdns.h"

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

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct sink {
	uint64_t n, bytes, counts;
};

/* What a consumer does at least: look at every field once. */
static int sink_obs(void *arg, const struct d4_pdns_obs *o)
{
	struct sink *s = arg;
	s->n++;
	s->bytes += o->rdata_len + (size_t)(o->rrname[0] != 0) + o->rrtype;
	s->counts += o->count + o->time_first;
	return 0;
}

struct wbuf {
	char *b;
	size_t cap, len;
};

static int cof_out(void *arg, const struct d4_pdns_obs *o)
{
	struct wbuf *wc = arg;
	int n = d4_pdns_cof_write(o, wc->b, wc->cap);
	if (n < 0)
		return n;
	wc->len = (size_t)n;
	return 0;
}

int main(int argc, char **argv)
{
	size_t lines = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
	if (lines == 0)
		lines = 1;
	size_t cap = lines * 160;
	char *buf = malloc(cap);
	size_t *off = malloc((lines + 1) * sizeof(*off));
	if (!buf || !off)
		return 1;
	static const char *const tlds[] = {"com", "net", "org", "example", "test", "de", "lu"};
	size_t len = 0;
	for (size_t i = 0; i < lines; i++) {
		/* Skewed name popularity: small ids are far more frequent. */
		uint64_t r = rnd();
		unsigned id = (unsigned)((r % 1000003) * (r % 1000003) / 1000003 / 7);
		const char *tld = tlds[(r >> 40) % 7];
		char ans[128];
		const char *type;
		switch ((r >> 50) % 8) {
		case 0:
		case 1:
		case 2:
			type = "A";
			snprintf(ans, sizeof(ans), "192.0.%u.%u", (unsigned)(r >> 8) & 255, (unsigned)(r >> 16) & 255);
			break;
		case 3:
			type = "AAAA";
			snprintf(ans, sizeof(ans), "2001:db8:%x::%x", (unsigned)(r >> 8) & 0xffff,
				 (unsigned)(r >> 24) & 0xffff);
			break;
		case 4:
			type = "CNAME";
			snprintf(ans, sizeof(ans), "cdn%u.Edge.%s.", id % 97, tld);
			break;
		case 5:
			type = "TXT";
			snprintf(ans, sizeof(ans), "\"v=spf1 include:_spf.host%u.%s ~all\"", id, tld);
			break;
		case 6:
			type = "MX";
			snprintf(ans, sizeof(ans), "mail%u.host%u.%s.", id % 3, id, tld);
			break;
		default:
			type = "65";
			snprintf(ans, sizeof(ans), "\\# 7 0001000001000268");
			break;
		}
		off[i] = len;
		len += (size_t)snprintf(
		    buf + len, cap - len, "%u.%06u||10.%u.%u.%u||10.0.0.53||IN||www%u.Host%u.%s.||%s||%s||%u||%u\n",
		    1700000000u + (unsigned)(i / 50), (unsigned)(r % 1000000), (unsigned)(r >> 3) & 255,
		    (unsigned)(r >> 11) & 255, (unsigned)(r >> 19) & 255, id % 5, id, tld, type, ans,
		    (unsigned)(r >> 33) % 86400, 1 + (unsigned)(r >> 45) % 3);
	}
	off[lines] = len;

	struct d4_pdns_csv_spec spec;
	if (d4_pdns_csv_spec_parse(NULL, NULL, &spec) != 0)
		return 1;
	struct d4_pdns_stats st = {0};
	struct sink s = {0};
	double t0 = now_s();
	for (size_t i = 0; i < lines; i++)
		d4_pdns_csv_line(&spec, buf + off[i], off[i + 1] - off[i] - 1, sink_obs, &s, &st);
	double dt = now_s() - t0;
	if (st.records != lines || st.bad_lines) {
		fprintf(stderr, "unexpected: records %llu bad %llu\n", (unsigned long long)st.records,
			(unsigned long long)st.bad_lines);
		return 1;
	}
	printf("csv_parse: %zu lines, %.1f MB in %.3f s: %.0f lines/s, %.1f MB/s\n", lines, (double)len / 1e6, dt,
	       (double)lines / dt, (double)len / 1e6 / dt);

	/* COF: write every CSV observation as COF, then parse the COF lines. */
	size_t ccap = lines * 260, clen = 0;
	char *cof = malloc(ccap);
	size_t *coff = malloc((lines + 1) * sizeof(*coff));
	if (!cof || !coff)
		return 1;
	struct d4_pdns_stats st2 = {0};
	t0 = now_s();
	size_t k = 0;
	for (size_t i = 0; i < lines; i++) {
		struct wbuf wc = {cof + clen, ccap - clen, 0};
		d4_pdns_csv_line(&spec, buf + off[i], off[i + 1] - off[i] - 1, cof_out, &wc, &st2);
		coff[k++] = clen;
		clen += wc.len;
	}
	coff[k] = clen;
	double dtw = now_s() - t0;
	printf("csv_to_cof_write: %zu lines in %.3f s: %.0f lines/s (parse + write)\n", lines, dtw,
	       (double)lines / dtw);
	struct d4_pdns_stats st3 = {0};
	struct sink s2 = {0};
	t0 = now_s();
	for (size_t i = 0; i < k; i++)
		d4_pdns_cof_line(cof + coff[i], coff[i + 1] - coff[i] - 1, sink_obs, &s2, &st3);
	double dtc = now_s() - t0;
	if (st3.records != lines || st3.bad_lines) {
		fprintf(stderr, "unexpected COF: records %llu bad %llu\n", (unsigned long long)st3.records,
			(unsigned long long)st3.bad_lines);
		return 1;
	}
	printf("cof_parse: %zu lines, %.1f MB in %.3f s: %.0f lines/s\n", k, (double)clen / 1e6, dtc, (double)k / dtc);
	free(cof);
	free(coff);
	free(buf);
	free(off);
	return (int)(s.n + s2.n == 0);
}
