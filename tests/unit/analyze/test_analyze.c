/* Check suite for hub/analyze: the pDNS ingest over a real temporary store.
 * Every expectation comes from parsing the same input directly with the
 * analyzers/pdns functions (what d4-pdns does), never from hard-coded sums. */
#include "d4_analyze.h"
#include "d4_error.h"
#include "d4_pdns.h"
#include "d4_policy.h"
#include "d4_reader.h"
#include "d4_store.h"
#include "d4_store_pdns.h"
#include "d4_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- reference: direct parsing into an aggregate ---- */

struct reftup {
	char *key; /* rrname \x01 type \x01 rdata */
	uint64_t count, tf, tl;
};
struct ref {
	struct reftup *t;
	size_t n, cap;
	uint64_t obs, bad_lines, bad_packets;
};

static int ref_emit(void *arg, const struct d4_pdns_obs *o)
{
	struct ref *r = arg;
	char key[4096];
	snprintf(key, sizeof(key), "%s\x01%u\x01%.*s", o->rrname, o->rrtype, (int)o->rdata_len, o->rdata);
	r->obs++;
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->t[i].key, key)) {
			r->t[i].count += o->count ? o->count : 1;
			if (o->time_first < r->t[i].tf)
				r->t[i].tf = o->time_first;
			if (o->time_last > r->t[i].tl)
				r->t[i].tl = o->time_last;
			return 0;
		}
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->t = realloc(r->t, r->cap * sizeof(*r->t));
		ck_assert_ptr_nonnull(r->t);
	}
	r->t[r->n].key = strdup(key);
	r->t[r->n].count = o->count ? o->count : 1;
	r->t[r->n].tf = o->time_first;
	r->t[r->n].tl = o->time_last;
	r->n++;
	return 0;
}

static void ref_free(struct ref *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->t[i].key);
	free(r->t);
	memset(r, 0, sizeof(*r));
}

/* Parses text as lines (CSV when spec, else COF), `times` times. */
static void ref_lines(struct ref *r, const struct d4_pdns_csv_spec *spec, const char *text, size_t len, unsigned times)
{
	for (unsigned k = 0; k < times; k++) {
		struct d4_pdns_stats st;
		memset(&st, 0, sizeof(st));
		size_t i = 0;
		while (i < len) {
			const char *nl = memchr(text + i, '\n', len - i);
			size_t end = nl ? (size_t)(nl - text) : len;
			if (!nl)
				break; /* an unterminated last line is not a line yet */
			size_t n = end - i;
			if (n && text[i + n - 1] == '\r')
				n--;
			if (n) {
				if (spec)
					d4_pdns_csv_line(spec, text + i, n, ref_emit, r, &st);
				else
					d4_pdns_cof_line(text + i, n, ref_emit, r, &st);
			}
			i = end + 1;
		}
		r->bad_lines += st.bad_lines;
	}
}

static void ref_pcap(struct ref *r, const uint8_t *p, size_t n, unsigned times)
{
	for (unsigned k = 0; k < times; k++) {
		struct d4_pdns_stats st;
		memset(&st, 0, sizeof(st));
		struct d4_pdns_pcap *x = d4_pdns_pcap_new(4u << 20, 0);
		struct d4_pdns_pcapstream *s = d4_pdns_pcapstream_new(x);
		d4_pdns_pcapstream_feed(s, p, n, ref_emit, r, &st);
		d4_pdns_pcapstream_free(s);
		d4_pdns_pcap_free(x);
		r->bad_packets += st.bad_packets;
	}
}

/* ---- the store side ---- */

static char g_dir[256];

static struct d4_store *store_open(int writer)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = g_dir;
	o.map_size = 256u << 20;
	o.no_sync = 1;
	o.commit_ms = 5;
	/* the pDNS layout of a new store: both run the same tests (CMakeLists.txt) */
	const char *lay = getenv("D4_TEST_PDNS_LAYOUT");
	o.pdns_layout = lay && !strcmp(lay, "id") ? D4_STORE_PDNS_LAYOUT_ID : D4_STORE_PDNS_LAYOUT_S4;
	struct d4_store *s = NULL;
	ck_assert_int_eq(d4_store_open(&o, &s), 0);
	if (writer)
		ck_assert_int_eq(d4_store_writer_start(s), 0);
	return s;
}

static void new_dir(void)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/d4test_analyze_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void rm_dir(const char *dir)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void test_uuid(uint8_t u[16], unsigned n)
{
	memset(u, 0, 16);
	u[0] = 0xa1;
	u[6] = 0x40;
	u[8] = 0x80;
	u[15] = (uint8_t)n;
}

static uint64_t sess_open(struct d4_store *s, const uint8_t u[16], uint8_t type, const char *ext)
{
	struct d4_session_open op;
	memset(&op, 0, sizeof(op));
	op.session = d4_store_session_id_new(s);
	memcpy(op.uuid, u, 16);
	op.type = type;
	op.when = d4_now_s();
	op.auto_create = 1;
	ck_assert_int_eq(d4_store_post_session_open(s, &op), 0);
	if (ext) {
		struct d4_session_meta m;
		memset(&m, 0, sizeof(m));
		m.session = op.session;
		d4_strlcpy(m.ext_type, ext, sizeof(m.ext_type));
		m.tlp = D4_TLP_AMBER;
		ck_assert_int_eq(d4_store_post_session_meta(s, &m), 0);
	}
	return op.session;
}

static void sess_close(struct d4_store *s, uint64_t sid)
{
	int rc;
	for (int i = 0; (rc = d4_store_post_session_close(s, sid, d4_now_s(), "eof")) == D4_EAGAIN && i < 10000; i++)
		usleep(500);
	ck_assert_int_eq(rc, 0);
}

static void frame(struct d4_store *s, uint64_t sid, const uint8_t u[16], uint8_t type, const void *p, size_t n,
		  uint64_t recv_ms)
{
	struct d4_frame_rec r;
	memset(&r, 0, sizeof(r));
	r.session = sid;
	memcpy(r.uuid, u, 16);
	r.type = type;
	r.version = 1;
	r.tlp = D4_TLP_GREEN;
	r.hdr_ts = d4_now_s();
	r.recv_ms = recv_ms ? recv_ms : d4_now_ms();
	r.size = (uint32_t)n;
	int rc;
	for (int i = 0; (rc = d4_store_post_frame(s, &r, p)) == D4_EAGAIN && i < 100000; i++)
		usleep(200);
	ck_assert_int_eq(rc, 0);
}

/* Posts text/bytes as frames of sizes drawn from cuts (cycled). */
static void frames_cut(struct d4_store *s, uint64_t sid, const uint8_t u[16], uint8_t type, const uint8_t *p, size_t n,
		       const size_t *cuts, size_t ncuts)
{
	size_t i = 0, k = 0;
	while (i < n) {
		size_t c = cuts[k++ % ncuts];
		if (c > n - i)
			c = n - i;
		frame(s, sid, u, type, p + i, c, 0);
		i += c;
	}
}

static uint8_t *slurp(const char *name, size_t *len)
{
	const char *dd = getenv("D4_TEST_DATA");
	char path[512];
	snprintf(path, sizeof(path), "%s/dns/%s", dd ? dd : "tests/data", name);
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	uint8_t *buf = malloc(1 << 20);
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

/* Every stored tuple of the names in ref, as sorted text lines. */
struct dump {
	char **l;
	size_t n, cap;
};

static int dump_cb(void *ctx, const struct d4_store_pdns_tuple *t)
{
	struct dump *d = ctx;
	char line[4200];
	snprintf(line, sizeof(line), "%.*s\x01%u\x01%.*s|%llu|%llu|%llu", (int)t->rrname_len, t->rrname, t->rrtype,
		 (int)t->rdata_len, t->rdata, (unsigned long long)t->count, (unsigned long long)t->time_first,
		 (unsigned long long)t->time_last);
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		d->l = realloc(d->l, d->cap * sizeof(*d->l));
	}
	d->l[d->n++] = strdup(line);
	return 0;
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void dump_store(struct d4_store *s, const struct ref *r, struct dump *d)
{
	memset(d, 0, sizeof(*d));
	/* distinct names of the reference */
	for (size_t i = 0; i < r->n; i++) {
		size_t nl = (size_t)(strchr(r->t[i].key, '\x01') - r->t[i].key);
		int seen = 0;
		for (size_t j = 0; j < i && !seen; j++)
			seen = !strncmp(r->t[j].key, r->t[i].key, nl) && r->t[j].key[nl] == '\x01';
		if (seen)
			continue;
		char name[1100];
		snprintf(name, sizeof(name), "%.*s", (int)nl, r->t[i].key);
		struct d4_store_pdns_query q;
		memset(&q, 0, sizeof(q));
		q.kind = D4_PDNS_Q_NAME;
		q.name = name;
		q.max_tlp = D4_TLP_RED;
		struct d4_store_pdns_qresult res;
		ck_assert_int_eq(d4_store_pdns_query(s, &q, dump_cb, d, &res), 0);
	}
	if (d->n)
		qsort(d->l, d->n, sizeof(*d->l), cmpstr);
}

static void dump_free(struct dump *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->l[i]);
	free(d->l);
}

/* The store holds exactly the reference tuples, each count scaled by mult. */
static void check_store_eq_ref(struct d4_store *s, const struct ref *r, uint64_t mult)
{
	struct dump d;
	dump_store(s, r, &d);
	struct d4_store_pdns_info info;
	ck_assert_int_eq(d4_store_pdns_info(s, &info), 0);
	ck_assert_uint_eq(info.tuples, r->n);
	ck_assert_uint_eq(d.n, r->n);
	char **want = calloc(r->n ? r->n : 1, sizeof(char *));
	for (size_t i = 0; i < r->n; i++) {
		char line[4200];
		snprintf(line, sizeof(line), "%s|%llu|%llu|%llu", r->t[i].key,
			 (unsigned long long)(r->t[i].count * mult), (unsigned long long)r->t[i].tf,
			 (unsigned long long)r->t[i].tl);
		want[i] = strdup(line);
	}
	qsort(want, r->n, sizeof(*want), cmpstr);
	for (size_t i = 0; i < r->n; i++)
		ck_assert_str_eq(d.l[i], want[i]);
	for (size_t i = 0; i < r->n; i++)
		free(want[i]);
	free(want);
	dump_free(&d);
}

static void drain(struct d4_store *s, const struct d4_analyze_pdns_opts *o, struct d4_analyze_pdns_stats *st)
{
	struct d4_analyze_pdns *x = NULL;
	ck_assert_int_eq(d4_analyze_pdns_new(s, o, &x), 0);
	int idle = 0;
	ck_assert_int_ge(d4_analyze_pdns_step(x, 0, &idle), 0);
	ck_assert_int_eq(idle, 1);
	ck_assert_int_eq(d4_analyze_pdns_maintain(x, d4_now_s(), 600), 0);
	if (st)
		d4_analyze_pdns_stats(x, st);
	d4_analyze_pdns_free(x);
}

static void counters(struct d4_store *s, const uint8_t u[16], struct d4_store_pdns_counters *c)
{
	int rc = d4_store_pdns_counters_get(s, u, c);
	if (rc == D4_ENOTFOUND)
		memset(c, 0, sizeof(*c));
	else
		ck_assert_int_eq(rc, 0);
}

/* ---- tests ---- */

static const char bad_csv[] = "not||a||line\n"
			      "1795618268.1||127.0.0.1||127.0.0.2||IN||odd.example.test.||A||192.0.2.99||60||2\n"
			      "garbage without separators\n";

/* CSV in frames cut at 1, 2, 3, 7 and 13 bytes and whole: every line and the
 * sum of counts as when parsed directly; bad lines counted per sensor. */
START_TEST(test_csv_cuts)
{
	new_dir();
	struct d4_store *s = store_open(1);
	size_t n;
	uint8_t *csv = slurp("local-dns.passivedns-alltypes.csv", &n);
	memcpy(csv + n, bad_csv, sizeof(bad_csv) - 1);
	n += sizeof(bad_csv) - 1;
	struct d4_pdns_csv_spec spec;
	ck_assert_int_eq(d4_pdns_csv_spec_parse(NULL, NULL, &spec), 0);
	static const size_t cuts[][3] = {{1, 1, 1}, {2, 3, 2}, {3, 3, 3}, {7, 1, 13}, {13, 13, 13}, {1 << 20, 1, 1}};
	const unsigned ncut = sizeof(cuts) / sizeof(cuts[0]);
	uint8_t u[16];
	test_uuid(u, 1);
	for (unsigned c = 0; c < ncut; c++) {
		uint64_t sid = sess_open(s, u, 8, NULL);
		frames_cut(s, sid, u, 8, csv, n, cuts[c], 3);
		sess_close(s, sid);
	}
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	struct d4_analyze_pdns_opts o;
	memset(&o, 0, sizeof(o));
	o.batch = 7;
	struct d4_analyze_pdns_stats st;
	drain(s, &o, &st);
	struct ref r;
	memset(&r, 0, sizeof(r));
	ref_lines(&r, &spec, (const char *)csv, n, ncut);
	ck_assert_uint_gt(r.n, 10);
	ck_assert_uint_ge(r.bad_lines, 2 * ncut);
	check_store_eq_ref(s, &r, 1);
	struct d4_store_pdns_counters c;
	counters(s, u, &c);
	ck_assert_uint_eq(c.observations, r.obs);
	ck_assert_uint_eq(c.bad_lines, r.bad_lines);
	ck_assert_uint_eq(st.observations, r.obs);
	ck_assert_uint_eq(st.sessions, 0); /* closed sessions dropped */
	ck_assert_uint_eq(st.lag, 0);
	ck_assert_uint_eq(st.replay_from, st.cursor + 1);
	/* web.example.test A 192.0.2.80: its count in the fixture, times the runs */
	struct d4_store_pdns_query q;
	memset(&q, 0, sizeof(q));
	q.kind = D4_PDNS_Q_NAME;
	q.name = "web.example.test.";
	q.rrtype = 1;
	q.max_tlp = D4_TLP_RED;
	struct dump d;
	memset(&d, 0, sizeof(d));
	struct d4_store_pdns_qresult res;
	ck_assert_int_eq(d4_store_pdns_query(s, &q, dump_cb, &d, &res), 0);
	ck_assert_uint_ge(d.n, 1);
	dump_free(&d);
	/* a second consumer on the same cursor finds nothing new */
	drain(s, &o, &st);
	ck_assert_uint_eq(st.frames, 0);
	check_store_eq_ref(s, &r, 1);
	ref_free(&r);
	free(csv);
	d4_store_close(s);
	rm_dir(g_dir);
}
END_TEST

/* The pcap fixture cut in two at every byte (one session per cut) and in
 * one-byte frames: the same tuples as the whole file, once per session. */
START_TEST(test_pcap_cuts)
{
	new_dir();
	struct d4_store *s = store_open(1);
	size_t n;
	uint8_t *pc = slurp("local-dns.pcap", &n);
	uint8_t u[16];
	test_uuid(u, 2);
	for (size_t c = 1; c < n; c++) {
		uint64_t sid = sess_open(s, u, 1, NULL);
		frame(s, sid, u, 1, pc, c, 0);
		frame(s, sid, u, 1, pc + c, n - c, 0);
		sess_close(s, sid);
	}
	uint64_t sid = sess_open(s, u, 1, NULL);
	static const size_t one[] = {1};
	frames_cut(s, sid, u, 1, pc, n, one, 1);
	/* left open: its state is kept, and pins the replay point */
	ck_assert_int_eq(d4_store_writer_sync(s, 60000), 0);
	struct d4_analyze_pdns_opts o;
	memset(&o, 0, sizeof(o));
	o.max_sessions = 8192;
	struct d4_analyze_pdns_stats st;
	drain(s, &o, &st);
	struct ref r;
	memset(&r, 0, sizeof(r));
	ref_pcap(&r, pc, n, (unsigned)n);
	ck_assert_uint_gt(r.n, 10);
	check_store_eq_ref(s, &r, 1);
	struct d4_store_pdns_counters c;
	counters(s, u, &c);
	ck_assert_uint_eq(c.observations, r.obs);
	ck_assert_uint_eq(c.bad_packets, r.bad_packets);
	ck_assert_uint_eq(st.sessions, 1);
	ck_assert_uint_lt(st.replay_from, st.cursor + 1);
	ref_free(&r);
	free(pc);
	d4_store_close(s);
	rm_dir(g_dir);
}
END_TEST

struct cofw {
	char *buf;
	size_t len, cap;
};

static int cof_wr(void *arg, const struct d4_pdns_obs *o)
{
	struct cofw *w = arg;
	int k = d4_pdns_cof_write(o, w->buf + w->len, w->cap - w->len);
	ck_assert_int_gt(k, 0);
	w->len += (size_t)k;
	return 0;
}

static char *csv_to_cof(const uint8_t *csv, size_t n, size_t *len)
{
	struct d4_pdns_csv_spec spec;
	ck_assert_int_eq(d4_pdns_csv_spec_parse(NULL, NULL, &spec), 0);
	struct cofw w = {malloc(1 << 22), 0, 1 << 22};
	size_t i = 0;
	while (i < n) {
		const uint8_t *nl = memchr(csv + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - csv) : n;
		d4_pdns_csv_line(&spec, (const char *)csv + i, end - i, cof_wr, &w, NULL);
		i = end + 1;
	}
	*len = w.len;
	return w.buf;
}

START_TEST(test_cof)
{
	new_dir();
	struct d4_store *s = store_open(1);
	size_t n, cl;
	uint8_t *csv = slurp("local-dns.passivedns-alltypes.csv", &n);
	char *cof = csv_to_cof(csv, n, &cl);
	static const char bad[] = "{\"rrname\":\"x.test\"}\n[1,2]\n";
	memcpy(cof + cl, bad, sizeof(bad) - 1);
	cl += sizeof(bad) - 1;
	uint8_t u[16], u2[16];
	test_uuid(u, 3);
	test_uuid(u2, 4);
	static const size_t cuts[] = {5, 50, 1};
	uint64_t a = sess_open(s, u, 6, NULL);
	frames_cut(s, a, u, 6, (const uint8_t *)cof, cl, cuts, 3);
	uint64_t b = sess_open(s, u2, 2, "pdns-cof");
	frames_cut(s, b, u2, 254, (const uint8_t *)cof, cl, cuts + 1, 1);
	uint64_t c = sess_open(s, u2, 2, "ja3-jl");
	frames_cut(s, c, u2, 254, (const uint8_t *)cof, cl, cuts + 1, 1);
	uint64_t d = sess_open(s, u2, 4, NULL);
	frame(s, d, u2, 4, cof, cl, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	struct d4_analyze_pdns_stats st;
	drain(s, NULL, &st);
	struct ref r;
	memset(&r, 0, sizeof(r));
	ref_lines(&r, NULL, cof, cl, 2);
	ck_assert_uint_gt(r.n, 10);
	ck_assert_uint_eq(r.bad_lines, 4);
	check_store_eq_ref(s, &r, 1);
	struct d4_store_pdns_counters c1, c2;
	counters(s, u, &c1);
	counters(s, u2, &c2);
	ck_assert_uint_eq(c1.observations + c2.observations, r.obs);
	ck_assert_uint_eq(c1.observations, c2.observations);
	ck_assert_uint_eq(c1.bad_lines, 2);
	ck_assert_uint_eq(c2.bad_lines, 2);
	/* provenance: the frame's TLP and sensors */
	struct d4_store_pdns_query q;
	memset(&q, 0, sizeof(q));
	q.kind = D4_PDNS_Q_NAME;
	q.name = "web.example.test.";
	q.max_tlp = D4_TLP_CLEAR; /* the frames are green: nothing visible at clear */
	struct dump dd;
	memset(&dd, 0, sizeof(dd));
	struct d4_store_pdns_qresult res;
	ck_assert_int_eq(d4_store_pdns_query(s, &q, dump_cb, &dd, &res), 0);
	ck_assert_uint_eq(dd.n, 0);
	q.max_tlp = D4_TLP_GREEN;
	ck_assert_int_eq(d4_store_pdns_query(s, &q, dump_cb, &dd, &res), 0);
	ck_assert_uint_ge(dd.n, 1);
	dump_free(&dd);
	ref_free(&r);
	free(cof);
	free(csv);
	d4_store_close(s);
	rm_dir(g_dir);
}
END_TEST

/* The last line of a stream without a trailing newline: complete once the
 * sender ended the stream (session closed "peer closed"), parsed and counted
 * exactly once, also across a restart; a stream the hub cut ("hub stopping")
 * or that is still open keeps it waiting. */
static void close_as(struct d4_store *s, uint64_t sid, const char *why)
{
	ck_assert_int_eq(d4_store_post_session_close(s, sid, d4_now_s(), why), 0);
}

static uint64_t obs_of(struct d4_store *s, const uint8_t u[16])
{
	struct d4_store_pdns_counters c;
	counters(s, u, &c);
	return c.observations;
}

static uint64_t name_count(struct d4_store *s, const char *name)
{
	struct d4_store_pdns_query q;
	memset(&q, 0, sizeof(q));
	q.kind = D4_PDNS_Q_NAME;
	q.name = name;
	q.max_tlp = D4_TLP_RED;
	struct d4_store_pdns_qresult res;
	struct dump d;
	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(d4_store_pdns_query(s, &q, dump_cb, &d, &res), 0);
	uint64_t n = d.n;
	dump_free(&d);
	return n;
}

START_TEST(test_last_line_unterminated)
{
	new_dir();
	struct d4_store *s = store_open(1);
	static const char cof[] =
	    "{\"rrname\":\"a.example.test\",\"rrtype\":\"A\",\"rdata\":\"192.0.2.1\",\"time_first\":1700000000,"
	    "\"time_last\":1700000001}\n"
	    "{\"rrname\":\"last.example.test\",\"rrtype\":\"A\",\"rdata\":\"192.0.2.2\",\"time_first\":1700000000,"
	    "\"time_last\":1700000001}";
	static const char csv[] = "1700000000.1||127.0.0.1||127.0.0.2||IN||csv.example.test.||A||192.0.2.3||60||1";
	static const char bad[] = "{\"rrname\":\"cut.example.test\",\"rrtype\":\"A\"";
	uint8_t u1[16], u2[16], u3[16], u4[16], u5[16];
	test_uuid(u1, 11);
	test_uuid(u2, 12);
	test_uuid(u3, 13);
	test_uuid(u4, 14);
	test_uuid(u5, 15);
	static const size_t cuts[] = {7, 30};
	uint64_t a = sess_open(s, u1, 6, NULL); /* COF, ended by the sender */
	frames_cut(s, a, u1, 6, (const uint8_t *)cof, sizeof(cof) - 1, cuts, 2);
	close_as(s, a, "peer closed");
	uint64_t b = sess_open(s, u2, 8, NULL); /* CSV, ended by the sender */
	frame(s, b, u2, 8, csv, sizeof(csv) - 1, 0);
	close_as(s, b, "peer closed");
	uint64_t c = sess_open(s, u3, 6, NULL); /* cut by the hub: waits (a new session goes on) */
	frame(s, c, u3, 6, cof, sizeof(cof) - 1, 0);
	close_as(s, c, "hub stopping");
	uint64_t d = sess_open(s, u4, 6, NULL); /* still open */
	frame(s, d, u4, 6, cof, sizeof(cof) - 1, 0);
	uint64_t e = sess_open(s, u5, 6, NULL); /* an incomplete last line: a bad line */
	frame(s, e, u5, 6, bad, sizeof(bad) - 1, 0);
	close_as(s, e, "peer closed mid-packet");
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);

	/* the worker reads everything, then a restart before the commit of
	 * the last lines (the instance is dropped without a flush) */
	struct d4_analyze_pdns *x = NULL;
	ck_assert_int_eq(d4_analyze_pdns_new(s, NULL, &x), 0);
	int idle = 0;
	ck_assert_int_ge(d4_analyze_pdns_step(x, 0, &idle), 0);
	ck_assert_int_eq(d4_analyze_pdns_maintain(x, d4_now_s(), 600), 0);
	d4_analyze_pdns_free(x);
	ck_assert_uint_eq(obs_of(s, u1), 1);
	ck_assert_uint_eq(name_count(s, "last.example.test."), 0);

	/* again, to the end: each last line once */
	for (int round = 0; round < 2; round++) {
		ck_assert_int_eq(d4_analyze_pdns_new(s, NULL, &x), 0);
		ck_assert_int_ge(d4_analyze_pdns_step(x, 0, &idle), 0);
		ck_assert_int_eq(d4_analyze_pdns_maintain(x, d4_now_s(), 600), 0);
		ck_assert_int_ge(d4_analyze_pdns_step(x, 0, &idle), 0);
		ck_assert_int_eq(d4_analyze_pdns_maintain(x, d4_now_s(), 600), 0);
		ck_assert_int_ge(d4_analyze_pdns_step(x, 0, &idle), 0);
		d4_analyze_pdns_free(x);
		ck_assert_uint_eq(obs_of(s, u1), 2);
		ck_assert_uint_eq(name_count(s, "last.example.test."), 1);
		ck_assert_uint_eq(obs_of(s, u2), 1);
		ck_assert_uint_eq(name_count(s, "csv.example.test."), 1);
		ck_assert_uint_eq(obs_of(s, u3), 1); /* the first line only */
		ck_assert_uint_eq(obs_of(s, u4), 1);
		struct d4_store_pdns_counters c5;
		counters(s, u5, &c5);
		ck_assert_uint_eq(c5.observations, 0);
		ck_assert_uint_eq(c5.bad_lines, 1);
	}
	d4_store_close(s);
	rm_dir(g_dir);
}
END_TEST

/* ---- restart: a generated mixed log, consumed with interruptions ---- */

static char *gen_csv(unsigned lines, size_t *len)
{
	char *b = malloc((size_t)lines * 160 + 1);
	size_t o = 0;
	uint32_t x = 12345;
	for (unsigned i = 0; i < lines; i++) {
		x = x * 1103515245u + 12345u;
		unsigned name = (x >> 8) % 97, ip = (x >> 3) % 5;
		o +=
		    (size_t)sprintf(b + o, "%u.%06u||10.0.0.1||10.0.0.2||IN||h%u.gen.test.||A||198.51.100.%u||60||%u\n",
				    1700000000u + i, i % 1000000u, name, ip, 1 + (x >> 20) % 4);
		if (i % 500 == 250)
			o += (size_t)sprintf(b + o, "broken line %u\n", i);
	}
	*len = o;
	return b;
}

static void build_mixed_log(struct d4_store *s, const char *csv, size_t csvn, const uint8_t *pc, size_t pcn,
			    const char *cof, size_t cofn)
{
	uint8_t u1[16], u2[16], u3[16];
	test_uuid(u1, 11);
	test_uuid(u2, 12);
	test_uuid(u3, 13);
	uint64_t a = sess_open(s, u1, 8, NULL), b = sess_open(s, u2, 1, NULL), c = sess_open(s, u3, 6, NULL);
	static const size_t ca[] = {97, 1000, 13, 4096, 1}, cb[] = {50, 333, 7}, cc[] = {64, 5};
	size_t ia = 0, ib = 0, ic = 0, k = 0;
	while (ia < csvn || ib < pcn || ic < cofn) {
		if (ia < csvn) {
			size_t z = ca[k % 5] < csvn - ia ? ca[k % 5] : csvn - ia;
			frame(s, a, u1, 8, csv + ia, z, 0);
			ia += z;
		}
		if (ib < pcn && k % 2 == 0) {
			size_t z = cb[k % 3] < pcn - ib ? cb[k % 3] : pcn - ib;
			frame(s, b, u2, 1, pc + ib, z, 0);
			ib += z;
		}
		if (ic < cofn) {
			size_t z = cc[k % 2] < cofn - ic ? cc[k % 2] : cofn - ic;
			frame(s, c, u3, 6, cof + ic, z, 0);
			ic += z;
		}
		k++;
	}
	sess_close(s, a);
	/* b and c stay open: their state at the end is partial too */
	ck_assert_int_eq(d4_store_writer_sync(s, 60000), 0);
}

static void sum_counters(struct d4_store *s, struct d4_store_pdns_counters *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 11; i <= 13; i++) {
		uint8_t u[16];
		struct d4_store_pdns_counters c;
		test_uuid(u, i);
		counters(s, u, &c);
		t->observations += c.observations;
		t->bad_lines += c.bad_lines;
		t->bad_packets += c.bad_packets;
	}
}

/* Every side record of the log (docs/store.md "pdns_side"), as seq ||
 * length || bytes: what the merges left, frame by frame. */
struct sides {
	uint8_t *p;
	size_t len, cap, n;
	const uint64_t *seqs;
};

static int sides_cb(void *ctx, size_t i, const uint8_t *val, size_t len)
{
	struct sides *d = ctx;
	if (d->len + 16 + len > d->cap) {
		d->cap = (d->len + 16 + len) * 2;
		d->p = realloc(d->p, d->cap);
		ck_assert_ptr_nonnull(d->p);
	}
	d4_put_u64be(d->p + d->len, d->seqs[i]);
	d4_put_u64be(d->p + d->len + 8, len);
	memcpy(d->p + d->len + 16, val, len);
	d->len += 16 + len;
	d->n++;
	return 0;
}

static void sides_dump(struct d4_store *s, struct sides *d)
{
	memset(d, 0, sizeof(*d));
	struct d4_totals t;
	ck_assert_int_eq(d4_store_totals(s, &t), 0);
	uint64_t *q = malloc((t.frames + 1) * sizeof(*q));
	for (uint64_t i = 0; i < t.frames; i++)
		q[i] = i + 1;
	d->seqs = q;
	ck_assert_int_eq(d4_store_pdns_side_read(s, q, t.frames, sides_cb, d), 0);
	free(q);
	d->seqs = NULL;
}

START_TEST(test_restart)
{
	size_t csvn, pcn, cofn, fx;
	char *csv = gen_csv(6000, &csvn);
	uint8_t *pc0 = slurp("local-dns.pcap", &pcn);
	/* the pcap's records 30 times after its global header */
	uint8_t *pc = malloc(24 + (pcn - 24) * 30);
	memcpy(pc, pc0, 24);
	for (int i = 0; i < 30; i++)
		memcpy(pc + 24 + (pcn - 24) * (size_t)i, pc0 + 24, pcn - 24);
	pcn = 24 + (pcn - 24) * 30;
	uint8_t *fxcsv = slurp("local-dns.passivedns-alltypes.csv", &fx);
	char *cof = csv_to_cof(fxcsv, fx, &cofn);

	struct d4_pdns_csv_spec spec;
	ck_assert_int_eq(d4_pdns_csv_spec_parse(NULL, NULL, &spec), 0);
	struct ref r;
	memset(&r, 0, sizeof(r));
	ref_lines(&r, &spec, csv, csvn, 1);
	ref_pcap(&r, pc, pcn, 1);
	ref_lines(&r, NULL, cof, cofn, 1);

	new_dir();
	char base[256];
	d4_strlcpy(base, g_dir, sizeof(base));
	struct d4_store *s = store_open(1);
	build_mixed_log(s, csv, csvn, pc, pcn, cof, cofn);
	d4_store_close(s);

	struct d4_analyze_pdns_opts o;
	memset(&o, 0, sizeof(o));
	o.batch = 200;
	o.frames_per_walk = 64;
	/* uninterrupted */
	char dir1[300];
	snprintf(dir1, sizeof(dir1), "%s.one", base);
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s'", base, dir1);
	ck_assert_int_eq(system(cmd), 0);
	d4_strlcpy(g_dir, dir1, sizeof(g_dir));
	s = store_open(0);
	drain(s, &o, NULL);
	check_store_eq_ref(s, &r, 1);
	struct d4_store_pdns_counters one;
	sum_counters(s, &one);
	ck_assert_uint_eq(one.observations, r.obs);
	ck_assert_uint_eq(one.bad_lines, r.bad_lines);
	ck_assert_uint_eq(one.bad_packets, r.bad_packets);
	struct sides side1;
	sides_dump(s, &side1);
	ck_assert_uint_gt(side1.n, 0);
	d4_store_close(s);
	rm_dir(dir1);

	/* stopped after k batches (what was read past them is dropped, as in
	 * a crash), reopened, continued: the same tuples and counters */
	static const unsigned ks[] = {1, 2, 5};
	for (unsigned t = 0; t < 3; t++) {
		char dir2[300];
		snprintf(dir2, sizeof(dir2), "%s.k%u", base, ks[t]);
		snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s'", base, dir2);
		ck_assert_int_eq(system(cmd), 0);
		d4_strlcpy(g_dir, dir2, sizeof(g_dir));
		uint64_t replayed = 0, partial = 0;
		int idle = 0, rounds = 0;
		while (!idle) {
			s = store_open(0);
			struct d4_analyze_pdns *x = NULL;
			ck_assert_int_eq(d4_analyze_pdns_new(s, &o, &x), 0);
			int rc = d4_analyze_pdns_step(x, ks[t], &idle);
			ck_assert_int_ge(rc, 0);
			struct d4_analyze_pdns_stats st;
			d4_analyze_pdns_stats(x, &st);
			replayed += st.replayed;
			if (st.replay_from <= st.cursor)
				partial++;
			d4_analyze_pdns_free(x);
			d4_store_close(s);
			ck_assert_int_lt(++rounds, 100000);
		}
		s = store_open(0);
		struct d4_store_pdns_counters two;
		sum_counters(s, &two);
		ck_assert_uint_eq(two.observations, one.observations);
		ck_assert_uint_eq(two.bad_lines, one.bad_lines);
		ck_assert_uint_eq(two.bad_packets, one.bad_packets);
		check_store_eq_ref(s, &r, 1);
		/* and the same side records, byte for byte: what each merge left
		 * does not depend on where the consumer stopped */
		struct sides side2;
		sides_dump(s, &side2);
		ck_assert_uint_eq(side2.n, side1.n);
		ck_assert_uint_eq(side2.len, side1.len);
		ck_assert_mem_eq(side2.p, side1.p, side1.len);
		free(side2.p);
		d4_store_close(s);
		ck_assert_uint_gt(replayed, 0); /* the replay was exercised */
		ck_assert_uint_gt(partial, 0);
		rm_dir(dir2);
	}
	rm_dir(base);
	free(side1.p);
	ref_free(&r);
	free(csv);
	free(pc);
	free(pc0);
	free(fxcsv);
	free(cof);
}
END_TEST

static int test_sink_nop(void *ctx, const struct d4_store_pdns_obs *obs, const uint64_t *frame_seq, size_t n,
			 size_t nfixed, const uint8_t *cursor, size_t cursor_len)
{
	(void)ctx;
	(void)obs;
	(void)frame_seq;
	(void)n;
	(void)nfixed;
	(void)cursor;
	(void)cursor_len;
	return 0;
}

/* Splits a little-endian pcap file into its global header + first record,
 * then one record per frame: the offsets where frames start (n + 1 of them,
 * the last is the file's length). */
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static size_t pcap_record_cuts(const uint8_t *p, size_t n, size_t *at, size_t cap)
{
	ck_assert_uint_ge(n, 24);
	ck_assert_uint_eq(le32(p), 0xa1b2c3d4u);
	size_t k = 0, off = 24;
	at[k++] = 0;
	while (off + 16 <= n) {
		off += 16 + le32(p + off + 8);
		ck_assert_uint_lt(k, cap);
		if (off <= n)
			at[k++] = off;
	}
	/* the first frame carries the global header with the first record */
	memmove(at + 1, at + 2, (k - 2) * sizeof(*at));
	return k - 1;
}

/* A pcap stream cut at record boundaries, the consumer stopped (as in a
 * crash) while a TCP flow holds state, then started again: the stream is
 * rebuilt at its last clean point (the extractor empty at a record
 * boundary, the pcap header kept in the cursor) and only the frames after
 * it are read again, not the stream from its first frame; the tuples and
 * counters are exact (nothing merged twice). Then the same with a cursor of
 * the older form (no clean points), as an older hub left it: read, the
 * stream replayed from its first frame, the same result. */
START_TEST(test_pcap_resume_clean_point)
{
	size_t n;
	uint8_t *pc = slurp("local-dns.pcap", &n);
	size_t at[256];
	size_t nf = pcap_record_cuts(pc, n, at, 256);
	ck_assert_uint_gt(nf, 20);
	/* where the first run stops: in the TCP flow of the fixture (a flow
	 * holds bytes until it expires, so the stream is not clean there) */
	struct d4_pdns_pcap *px = d4_pdns_pcap_new(4u << 20, 0);
	struct d4_pdns_pcapstream *ps = d4_pdns_pcapstream_new(px);
	struct ref scratch;
	memset(&scratch, 0, sizeof(scratch));
	size_t stop = 0, last_clean = 0;
	for (size_t i = 0; i < nf; i++) {
		struct d4_pdns_stats st;
		memset(&st, 0, sizeof(st));
		ck_assert_int_eq(d4_pdns_pcapstream_feed(ps, pc + at[i], at[i + 1] - at[i], ref_emit, &scratch, &st),
				 0);
		struct d4_pcap_info pi;
		int clean = d4_pdns_pcap_idle(px) && d4_pdns_pcapstream_boundary(ps, &pi) == 0;
		if (clean && !stop)
			last_clean = i + 1; /* frames 1..i+1 read: clean after frame i+1 */
		if (!clean && last_clean && !stop && i + 3 < nf)
			stop = i + 3; /* a few frames into the unclean part */
	}
	d4_pdns_pcapstream_free(ps);
	d4_pdns_pcap_free(px);
	ref_free(&scratch);
	ck_assert_uint_gt(last_clean, 1); /* a point past the stream's first frame */
	ck_assert_uint_gt(stop, last_clean);
	struct ref r;
	memset(&r, 0, sizeof(r));
	ref_pcap(&r, pc, n, 1);

	for (int legacy = 0; legacy < 2; legacy++) {
		new_dir();
		struct d4_store *s = store_open(1);
		uint8_t u[16];
		test_uuid(u, 40);
		uint64_t sid = sess_open(s, u, 1, NULL);
		for (size_t i = 0; i < stop; i++)
			frame(s, sid, u, 1, pc + at[i], at[i + 1] - at[i], 0);
		ck_assert_int_eq(d4_store_writer_sync(s, 60000), 0);
		struct d4_totals t;
		ck_assert_int_eq(d4_store_totals(s, &t), 0);
		uint64_t seq0 = t.frames - stop; /* the stream's frames are seq0 + 1 .. */
		struct d4_analyze_pdns_opts o;
		memset(&o, 0, sizeof(o));
		struct d4_analyze_pdns_stats st1;
		drain(s, &o, &st1);
		ck_assert_uint_eq(st1.cursor, seq0 + stop);
		ck_assert_uint_eq(st1.replay_from, seq0 + last_clean + 1);
		ck_assert_uint_eq(st1.resumed, 0);
		if (legacy) {
			/* the value an older hub wrote at the same point: version 1,
			 * replay from the stream's first frame */
			uint8_t cv[25];
			cv[0] = 1;
			d4_put_u64be(cv + 1, st1.cursor);
			d4_put_u64be(cv + 9, seq0 + 1);
			d4_put_u64be(cv + 17, 0);
			struct d4_store_pdns_cursor cur = {D4_ANALYZE_PDNS_CURSOR, cv, sizeof(cv), NULL, 0};
			ck_assert_int_eq(d4_store_pdns_apply_frames(s, NULL, NULL, 0, &cur), 0);
		}
		/* the rest of the stream arrives while the hub is down */
		for (size_t i = stop; i < nf; i++)
			frame(s, sid, u, 1, pc + at[i], at[i + 1] - at[i], 0);
		sess_close(s, sid);
		ck_assert_int_eq(d4_store_writer_sync(s, 60000), 0);
		struct d4_analyze_pdns_stats st2;
		drain(s, &o, &st2);
		if (legacy) {
			ck_assert_uint_eq(st2.resumed, 0);
			ck_assert_uint_eq(st2.replayed, stop);
		} else {
			ck_assert_uint_eq(st2.resumed, 1);
			ck_assert_uint_eq(st2.replayed, stop - last_clean);
		}
		ck_assert_uint_eq(st2.frames, nf - stop);
		ck_assert_uint_eq(st2.cursor, seq0 + nf);
		check_store_eq_ref(s, &r, 1);
		struct d4_store_pdns_counters c;
		counters(s, u, &c);
		ck_assert_uint_eq(c.observations, r.obs);
		ck_assert_uint_eq(c.bad_packets, r.bad_packets);
		d4_store_close(s);
		rm_dir(g_dir);
	}
	ref_free(&r);
	free(pc);
}
END_TEST

/* A cursor that names a clean point of a stream this consumer does not read
 * as pcap (a partner could send such a position) is refused; one of a pcap
 * stream is taken. */
START_TEST(test_forged_clean_point)
{
	new_dir();
	struct d4_store *s = store_open(1);
	uint8_t u[16];
	test_uuid(u, 41);
	uint64_t csv = sess_open(s, u, 8, NULL), pc = sess_open(s, u, 1, NULL);
	frame(s, csv, u, 8, "x\n", 2, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 60000), 0);
	for (int i = 0; i < 2; i++) {
		uint8_t cv[25 + 3 + 25];
		memset(cv, 0, sizeof(cv));
		cv[0] = 2;
		d4_put_u64be(cv + 1, 1);
		d4_put_u64be(cv + 9, 1);
		cv[27] = 1;
		d4_put_u64be(cv + 28, i ? pc : csv);
		d4_put_u64be(cv + 36, 2);
		d4_put_u32be(cv + 44, 1);
		struct d4_analyze_pdns_opts o;
		memset(&o, 0, sizeof(o));
		o.sink = test_sink_nop;
		o.cursor = cv;
		o.cursor_len = sizeof(cv);
		struct d4_analyze_pdns *x = NULL;
		ck_assert_int_eq(d4_analyze_pdns_new(s, &o, &x), i ? 0 : D4_ECORRUPT);
		if (x) {
			struct d4_analyze_pdns_stats st;
			d4_analyze_pdns_stats(x, &st);
			ck_assert_uint_eq(st.resumed, 1);
		}
		d4_analyze_pdns_free(x);
	}
	d4_store_close(s);
	rm_dir(g_dir);
}
END_TEST

/* The federation reads done_seq from a position of either cursor form. */
START_TEST(test_cursor_done_forms)
{
	uint8_t cv[28];
	memset(cv, 0, sizeof(cv));
	uint64_t done = 1;
	ck_assert_int_eq(d4_analyze_pdns_cursor_done(cv, 0, &done), 0);
	ck_assert_uint_eq(done, 0);
	for (uint8_t v = 1; v <= 2; v++) {
		cv[0] = v;
		d4_put_u64be(cv + 1, 77);
		ck_assert_int_eq(d4_analyze_pdns_cursor_done(cv, v == 1 ? 25 : 28, &done), 0);
		ck_assert_uint_eq(done, 77);
	}
	cv[0] = 3;
	ck_assert_int_eq(d4_analyze_pdns_cursor_done(cv, 28, &done), D4_ECORRUPT);
	cv[0] = 1;
	ck_assert_int_eq(d4_analyze_pdns_cursor_done(cv, 24, &done), D4_ECORRUPT);
}
END_TEST

/* Retention removes the side records of the frames it deletes, in the
 * same transaction, and leaves the others. */
START_TEST(test_side_retention)
{
	new_dir();
	struct d4_store *s = store_open(1);
	uint8_t u[16];
	test_uuid(u, 22);
	static const char gone[] = "1795618268.1||127.0.0.1||127.0.0.2||IN||gone.test.||A||192.0.2.1||60||1\n";
	static const char kept[] = "1795618268.1||127.0.0.1||127.0.0.2||IN||kept.test.||A||192.0.2.2||60||1\n";
	uint64_t old = sess_open(s, u, 8, NULL);
	uint64_t old_ms = d4_now_ms() - 10ull * 86400 * 1000;
	for (int i = 0; i < 5; i++)
		frame(s, old, u, 8, gone, strlen(gone), old_ms);
	sess_close(s, old);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	uint64_t live = sess_open(s, u, 8, NULL);
	for (int i = 0; i < 3; i++)
		frame(s, live, u, 8, kept, strlen(kept), 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	struct d4_analyze_pdns_stats st;
	drain(s, NULL, &st);
	struct sides d;
	sides_dump(s, &d);
	ck_assert_uint_eq(d.n, 8);
	free(d.p);
	d4_store_retention_set(s, 86400, 0);
	ck_assert_int_eq(d4_store_retention_run(s), 5);
	sides_dump(s, &d);
	ck_assert_uint_eq(d.n, 3);
	/* the first one left is the first live frame's */
	ck_assert_uint_eq(d4_get_u64be(d.p), 6);
	free(d.p);
	d4_store_close(s);
	rm_dir(g_dir);
}
END_TEST

/* Frames deleted by retention before the consumer read them: skipped,
 * counted, and what follows is read normally. */
START_TEST(test_retention_gap)
{
	new_dir();
	struct d4_store *s = store_open(1);
	size_t n;
	uint8_t *csv = slurp("local-dns.passivedns-alltypes.csv", &n);
	uint8_t u[16];
	test_uuid(u, 21);
	uint64_t old = sess_open(s, u, 8, NULL);
	uint64_t old_ms = d4_now_ms() - 10ull * 86400 * 1000;
	for (int i = 0; i < 5; i++)
		frame(s, old, u, 8, "1795618268.1||127.0.0.1||127.0.0.2||IN||gone.test.||A||192.0.2.1||60||1\n", 73,
		      old_ms);
	sess_close(s, old);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	uint64_t live = sess_open(s, u, 8, NULL);
	static const size_t cuts[] = {40};
	frames_cut(s, live, u, 8, csv, n, cuts, 1);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	d4_store_retention_set(s, 86400, 0);
	ck_assert_int_gt(d4_store_retention_run(s), 0);
	struct d4_analyze_pdns_stats st;
	drain(s, NULL, &st);
	ck_assert_uint_eq(st.frames_lost, 5);
	struct d4_pdns_csv_spec spec;
	ck_assert_int_eq(d4_pdns_csv_spec_parse(NULL, NULL, &spec), 0);
	struct ref r;
	memset(&r, 0, sizeof(r));
	ref_lines(&r, &spec, (const char *)csv, n, 1);
	check_store_eq_ref(s, &r, 1); /* gone.test. never stored */
	ref_free(&r);
	free(csv);
	d4_store_close(s);
	rm_dir(g_dir);
}
END_TEST

/* A bad field layout is refused; a custom layout and separator are used. */
START_TEST(test_layout)
{
	struct d4_analyze_pdns_opts o;
	memset(&o, 0, sizeof(o));
	o.csv_fields = "SMcsCQTAtnZ";
	char err[200];
	ck_assert_int_eq(d4_analyze_pdns_opts_check(&o, err, sizeof(err)), D4_EINVAL);
	new_dir();
	struct d4_store *s = store_open(1);
	struct d4_analyze_pdns *x = NULL;
	ck_assert_int_eq(d4_analyze_pdns_new(s, &o, &x), D4_EINVAL);
	size_t n;
	uint8_t *csv = slurp("local-dns.passivedns-X4T-fHhpQTAtn.csv", &n);
	uint8_t u[16];
	test_uuid(u, 31);
	uint64_t sid = sess_open(s, u, 8, NULL);
	static const size_t cuts[] = {3};
	frames_cut(s, sid, u, 8, csv, n, cuts, 1);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	o.csv_fields = "HhpQTAtn";
	ck_assert_int_eq(d4_analyze_pdns_opts_check(&o, err, sizeof(err)), 0);
	drain(s, &o, NULL);
	struct d4_pdns_csv_spec spec;
	ck_assert_int_eq(d4_pdns_csv_spec_parse("HhpQTAtn", NULL, &spec), 0);
	struct ref r;
	memset(&r, 0, sizeof(r));
	ref_lines(&r, &spec, (const char *)csv, n, 1);
	ck_assert_uint_gt(r.n, 3);
	check_store_eq_ref(s, &r, 1);
	ref_free(&r);
	free(csv);
	d4_store_close(s);
	rm_dir(g_dir);
}
END_TEST

/* Batch sizing: while the log is behind and transactions are short, the
 * batch doubles from `batch` up to batch_max (fewer commits), never more
 * than batch_max observations per transaction; the tuples are the same. */
START_TEST(test_batch_adapt)
{
	size_t csvn;
	char *csv = gen_csv(20000, &csvn);
	struct d4_pdns_csv_spec spec;
	ck_assert_int_eq(d4_pdns_csv_spec_parse(NULL, NULL, &spec), 0);
	struct ref r;
	memset(&r, 0, sizeof(r));
	ref_lines(&r, &spec, csv, csvn, 1);
	for (int grow = 0; grow < 2; grow++) {
		new_dir();
		struct d4_store *s = store_open(1);
		uint8_t u[16];
		test_uuid(u, 51);
		uint64_t sid = sess_open(s, u, 8, NULL);
		static const size_t cuts[] = {4096};
		frames_cut(s, sid, u, 8, (const uint8_t *)csv, csvn, cuts, 1);
		ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
		struct d4_analyze_pdns_opts o;
		memset(&o, 0, sizeof(o));
		o.batch = 200;
		o.batch_max = grow ? 1600 : 200;
		o.txn_ms = 60000; /* every transaction is "short" */
		struct d4_analyze_pdns_stats st;
		drain(s, &o, &st);
		ck_assert_uint_eq(st.observations, r.obs);
		/* a batch closes after the frame that fills it: at most batch_max
		 * observations plus one frame's (4096 bytes: < 100 lines) */
		ck_assert_uint_ge(st.commits, r.obs / (o.batch_max + 100));
		if (grow)
			ck_assert_uint_le(st.commits, r.obs / 1600 + 6);
		else
			ck_assert_uint_ge(st.commits, r.obs / 300);
		check_store_eq_ref(s, &r, 1);
		d4_store_close(s);
		rm_dir(g_dir);
	}
	ref_free(&r);
	free(csv);
}
END_TEST

/* The worker thread: frames committed while it runs are ingested; stop
 * commits what it read; the global stats follow it. */
START_TEST(test_worker)
{
	new_dir();
	struct d4_store *s = store_open(1);
	struct d4_analyze_opts ao;
	memset(&ao, 0, sizeof(ao));
	ao.pdns_enabled = 1;
	struct d4_analyze *a = NULL;
	struct d4_analyze_pdns_stats st;
	ck_assert_int_eq(d4_analyze_pdns_stats_global(&st), D4_ENOTFOUND);
	ck_assert_int_eq(d4_analyze_start(s, &ao, &a), 0);
	size_t n;
	uint8_t *csv = slurp("local-dns.passivedns-alltypes.csv", &n);
	uint8_t u[16];
	test_uuid(u, 41);
	uint64_t sid = sess_open(s, u, 8, NULL);
	static const size_t cuts[] = {11};
	frames_cut(s, sid, u, 8, csv, n, cuts, 1);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	struct d4_pdns_csv_spec spec;
	ck_assert_int_eq(d4_pdns_csv_spec_parse(NULL, NULL, &spec), 0);
	struct ref r;
	memset(&r, 0, sizeof(r));
	ref_lines(&r, &spec, (const char *)csv, n, 1);
	int ok = 0;
	for (int i = 0; i < 500 && !ok; i++) {
		usleep(10000);
		ok = d4_analyze_pdns_stats_global(&st) == 0 && st.observations == r.obs;
	}
	ck_assert_msg(ok, "worker did not ingest the frames");
	d4_analyze_stop(a);
	ck_assert_int_eq(d4_analyze_pdns_stats_global(&st), D4_ENOTFOUND);
	check_store_eq_ref(s, &r, 1);
	ref_free(&r);
	free(csv);
	d4_store_close(s);
	rm_dir(g_dir);
}
END_TEST

static Suite *suite(void)
{
	Suite *su = suite_create("analyze");
	TCase *tc = tcase_create("pdns");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_csv_cuts);
	tcase_add_test(tc, test_pcap_cuts);
	tcase_add_test(tc, test_cof);
	tcase_add_test(tc, test_last_line_unterminated);
	tcase_add_test(tc, test_restart);
	tcase_add_test(tc, test_pcap_resume_clean_point);
	tcase_add_test(tc, test_cursor_done_forms);
	tcase_add_test(tc, test_forged_clean_point);
	tcase_add_test(tc, test_retention_gap);
	tcase_add_test(tc, test_side_retention);
	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_batch_adapt);
	tcase_add_test(tc, test_worker);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
