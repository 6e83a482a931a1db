/* Check suite for the federation source (fed_source.c) over a real
 * temporary store, frames posted through the writer like the ingest does:
 * which records each partner gets, the decisions counted per reason,
 * batches cut by max_bytes / max_records that continue exactly, pDNS
 * batches equal to what the hub's own consumer stores, skip positions, lag.
 * Expectations are written from the policy table (docs/federation.md) and
 * from the store, never from the code under test. */
#include "d4_analyze.h"
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_reader.h"
#include "d4_store.h"
#include "d4_store_bs.h"
#include "d4_store_fed.h"
#include "d4_store_pdns.h"
#include "d4_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const uint8_t HUB_A[16] = {0xa1, 2};
static const uint8_t ORG_1[16] = {0x01, 0x0f};
static const uint8_t ORG_2[16] = {0x02, 0x0f};
static const uint8_t ORG_3[16] = {0x03, 0x0f};
static const uint8_t SENSOR_1[16] = {0x5e, 1, [6] = 0x40, [8] = 0x80};
static const uint8_t SENSOR_2[16] = {0x5e, 2, [6] = 0x40, [8] = 0x80};
static const uint8_t SENSOR_3[16] = {0x5e, 3, [6] = 0x40, [8] = 0x80};

/* ---- the store ---- */

static char g_dir[256];

static struct d4_store *store_new(void)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/d4test_fedsrc_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(g_dir));
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = g_dir;
	o.map_size = 512u << 20;
	o.no_sync = 1;
	o.commit_ms = 5;
	struct d4_store *s = NULL;
	ck_assert_int_eq(d4_store_open(&o, &s), 0);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	return s;
}

static void store_done(struct d4_store *s)
{
	d4_store_close(s);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	ck_assert_int_eq(system(cmd), 0);
}

struct sdef {
	enum d4_tlp tlp;
	const uint8_t *org; /* NULL: none */
	uint8_t type;
	const char *ext; /* NULL: none */
	const uint8_t *sensor;
};

static uint64_t sess_open(struct d4_store *s, const struct sdef *d)
{
	struct d4_session_open op;
	memset(&op, 0, sizeof(op));
	op.session = d4_store_session_id_new(s);
	memcpy(op.uuid, d->sensor, 16);
	op.type = d->type;
	op.when = d4_now_s();
	op.auto_create = 1;
	ck_assert_int_eq(d4_store_post_session_open(s, &op), 0);
	struct d4_session_meta m;
	memset(&m, 0, sizeof(m));
	m.session = op.session;
	if (d->ext)
		d4_strlcpy(m.ext_type, d->ext, sizeof(m.ext_type));
	m.tlp = (uint8_t)d->tlp;
	if (d->org)
		memcpy(m.org, d->org, 16);
	ck_assert_int_eq(d4_store_post_session_meta(s, &m), 0);
	return op.session;
}

static void sess_close(struct d4_store *s, uint64_t sid, const char *reason)
{
	int rc;
	for (int i = 0; (rc = d4_store_post_session_close(s, sid, d4_now_s(), reason)) == D4_EAGAIN && i < 10000; i++)
		usleep(500);
	ck_assert_int_eq(rc, 0);
}

static void frame(struct d4_store *s, uint64_t sid, const struct sdef *d, const void *p, size_t n, uint64_t recv_ms)
{
	struct d4_frame_rec r;
	memset(&r, 0, sizeof(r));
	r.session = sid;
	memcpy(r.uuid, d->sensor, 16);
	r.type = d->type;
	r.version = 1;
	r.tlp = (uint8_t)d->tlp;
	if (d->org)
		memcpy(r.org, d->org, 16);
	r.hdr_ts = 1700000000 + n;
	r.recv_ms = recv_ms ? recv_ms : d4_now_ms();
	r.size = (uint32_t)n;
	int rc;
	for (int i = 0; (rc = d4_store_post_frame(s, &r, p)) == D4_EAGAIN && i < 100000; i++)
		usleep(200);
	ck_assert_int_eq(rc, 0);
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

/* ---- partners ---- */

static struct d4_fed_self self_a(void)
{
	struct d4_fed_self s;
	memset(&s, 0, sizeof(s));
	memcpy(s.hub, HUB_A, 16);
	memcpy(s.org, ORG_1, 16);
	s.default_tlp = D4_TLP_AMBER_STRICT;
	return s;
}

static struct d4_partner *partner(const char *name, uint8_t hubbyte, const uint8_t org[16], enum d4_fed_relation rel,
				  enum d4_tlp max, int allow_amber)
{
	struct d4_partner *p = calloc(1, sizeof(*p));
	ck_assert_ptr_nonnull(p);
	d4_strlcpy(p->name, name, sizeof(p->name));
	p->hub[0] = hubbyte;
	p->hub[1] = 2;
	memcpy(p->org, org, 16);
	p->relation = (uint8_t)rel;
	p->direction = D4_PARTNER_PUSH;
	p->enabled = 1;
	for (int k = 0; k < 2; k++) {
		p->out[k].enabled = 1;
		p->out[k].max_tlp = (uint8_t)max;
		p->out[k].allow_amber = (uint8_t)allow_amber;
	}
	return p;
}

/* ---- decoded batches ---- */

/* One decoded record as a line of text: what the partner receives. */
struct recs {
	char **l;
	size_t n, cap;
};

static void recs_add(struct recs *r, const char *line)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->l = realloc(r->l, r->cap * sizeof(*r->l));
		ck_assert_ptr_nonnull(r->l);
	}
	r->l[r->n++] = strdup(line);
}

static void recs_free(struct recs *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->l[i]);
	free(r->l);
	memset(r, 0, sizeof(*r));
}

static void hex(char *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = 0;
}

static void prov_text(char *out, size_t cap, const struct d4_fed_wprov *p)
{
	char org[33] = "-", org2[33], sen[33] = "-", ori[33] = "-", via[16 * 33 + 1] = "";
	if (p->has_org)
		hex(org, p->org, 16);
	if (p->nsensors)
		hex(sen, p->sensors[0], 16);
	if (p->has_origin)
		hex(ori, p->origin, 16);
	for (unsigned i = 0; i < p->nvia; i++) {
		hex(org2, p->via[i], 16);
		strcat(via, org2);
		strcat(via, ",");
	}
	snprintf(out, cap, "tlp=%u f=%u org=%s ns=%u s=%s o=%s via=%s", p->tlp, p->flags, org, p->nsensors, sen, ori,
		 via);
}

/* Decodes a batch (every record checked as a receiver does), appends its
 * records to r and checks the header against what was asked. */
static void decode(const uint8_t *b, size_t n, uint8_t kind, const uint8_t *from, size_t from_len, struct recs *r,
		   struct d4_fed_batch_hdr *hout)
{
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	ck_assert_int_eq(d4_fed_batch_open(b, n, &h, &it), 0);
	ck_assert_uint_eq(h.kind, kind);
	ck_assert_mem_eq(h.sender, HUB_A, 16);
	ck_assert_uint_eq(h.from_len, from_len);
	if (from_len)
		ck_assert_mem_eq(h.from, from, from_len);
	struct d4_fed_wrec w;
	int rc;
	uint32_t k = 0;
	while ((rc = d4_fed_batch_next(&it, &w)) == 1) {
		char pv[1024], line[8192];
		prov_text(pv, sizeof(pv), &w.prov);
		if (kind == D4_FED_KIND_FRAMES)
			snprintf(line, sizeof(line), "%s os=%llu t=%u ext=%.*s ts=%llu rm=%llu p=%.*s", pv,
				 (unsigned long long)w.origin_session, w.type, (int)w.ext_type_len, w.ext_type,
				 (unsigned long long)w.hdr_ts, (unsigned long long)w.recv_ms,
				 (int)(w.size < 64 ? w.size : 64), (const char *)w.payload);
		else if (kind == D4_FED_KIND_BACKSCATTER) {
			char vic[33];
			hex(vic, w.vec.victim, 16);
			snprintf(line, sizeof(line),
				 "%s v=%s k=%u st=%u f=%llu l=%llu p=%llu b=%llu np=%u p0=%u:%llu pd=%u po=%llu "
				 "ta=%llu pk=%u est=%.3f flags=%u%u%u%u up=%u",
				 pv, vic, w.vec.kind, w.vec.state, (unsigned long long)w.vec.first_us,
				 (unsigned long long)w.vec.last_us, (unsigned long long)w.vec.packets,
				 (unsigned long long)w.vec.bytes, w.vec.n_ports, w.vec.ports[0].port,
				 (unsigned long long)w.vec.ports[0].packets, w.vec.ports_distinct,
				 (unsigned long long)w.vec.ports_other, (unsigned long long)w.vec.telescope_addrs,
				 w.vec.peak_ppm, w.vec.est_pps, w.vec.telescope_exact, w.vec.est_valid,
				 w.vec.sensors_more, w.vec.org_mixed, w.vec.updates);
		} else
			snprintf(line, sizeof(line), "%s %.*s|%u|%.*s|%.*s|%llu|%llu|%llu", pv, (int)w.rrname_len,
				 w.rrname, w.rrtype, (int)w.rdata_len, w.rdata, (int)w.bailiwick_len, w.bailiwick,
				 (unsigned long long)w.time_first, (unsigned long long)w.time_last,
				 (unsigned long long)w.count);
		recs_add(r, line);
		k++;
	}
	ck_assert_msg(rc == 0, "batch: %s", it.why);
	ck_assert_uint_eq(k, h.nrecords);
	if (hout)
		*hout = h;
}

static uint64_t total(const struct d4_fed_counters *c, uint8_t kind)
{
	uint64_t t = 0;
	for (int r = 0; r < D4_FED_R_COUNT; r++)
		t += c->n[kind][r];
	return t;
}

static void counters_add(struct d4_fed_counters *a, const struct d4_fed_counters *b)
{
	for (int k = 0; k < D4_FED_KIND_COUNT; k++)
		for (int r = 0; r < D4_FED_R_COUNT; r++)
			a->n[k][r] += b->n[k][r];
}

/* Every batch from `from` on until the source has nothing more, each built
 * by `src` (or, when src is NULL, by a new source per batch: no state
 * carried between batches, as after a restart). Positions chain: each
 * batch starts where the previous one ended. */
static void run_all(struct d4_store *s, struct d4_fed_source *src, const struct d4_fed_source_opts *o, uint8_t kind,
		    const struct d4_partner *p, struct recs *r, struct d4_fed_counters *sum, unsigned *nbatches,
		    unsigned *nskips, uint8_t *end, size_t *end_len)
{
	uint8_t from[D4_FED_POS_MAX];
	size_t from_len = 0;
	memset(sum, 0, sizeof(*sum));
	*nbatches = 0;
	if (nskips)
		*nskips = 0;
	for (int guard = 0; guard < 100000; guard++) {
		struct d4_fed_source *x = src;
		if (!x)
			ck_assert_int_eq(d4_fed_source_new(s, o, kind, &x), 0);
		const uint8_t *out;
		size_t outlen;
		struct d4_fed_counters dec;
		uint32_t nrec;
		int more;
		ck_assert_int_eq(d4_fed_source_next(x, p, from, from_len, &out, &outlen, &dec, &nrec, &more), 0);
		struct d4_fed_batch_hdr h;
		size_t n0 = r->n;
		decode(out, outlen, kind, from, from_len, r, &h);
		ck_assert_uint_eq(r->n - n0, nrec);
		/* max_bytes is kept, but for one record that is alone */
		if (o->max_bytes && h.nrecords > 1)
			ck_assert_uint_le(outlen, o->max_bytes);
		if (o->max_records)
			ck_assert_uint_le(total(&dec, kind), o->max_records);
		counters_add(sum, &dec);
		if (getenv("FEDSRC_DEBUG"))
			fprintf(stderr, "batch %u: %zu bytes, %u records, %llu decided, to_len %zu more %d\n",
				*nbatches, outlen, nrec, (unsigned long long)total(&dec, kind), h.to_len, more);
		(*nbatches)++;
		if (nskips && kind == D4_FED_KIND_PDNS && h.to_len >= 4 && d4_get_u32be(h.to + h.to_len - 4) != 0)
			(*nskips)++;
		int same = h.to_len == from_len && !memcmp(h.to, from, from_len);
		memcpy(from, h.to, h.to_len);
		from_len = h.to_len;
		if (!src)
			d4_fed_source_free(x);
		if (!more) {
			/* one more call from the end: nothing, the position stays */
			struct d4_fed_source *y = src;
			if (!y)
				ck_assert_int_eq(d4_fed_source_new(s, o, kind, &y), 0);
			ck_assert_int_eq(d4_fed_source_next(y, p, from, from_len, &out, &outlen, &dec, &nrec, &more),
					 0);
			ck_assert_uint_eq(nrec, 0);
			ck_assert_uint_eq(total(&dec, kind), 0);
			ck_assert_int_eq(more, 0);
			struct recs none;
			memset(&none, 0, sizeof(none));
			decode(out, outlen, kind, from, from_len, &none, &h);
			ck_assert_uint_eq(h.to_len, from_len);
			ck_assert_mem_eq(h.to, from, from_len);
			recs_free(&none);
			if (!src)
				d4_fed_source_free(y);
			if (end) {
				memcpy(end, from, from_len);
				*end_len = from_len;
			}
			return;
		}
		ck_assert_msg(!same, "a batch with more to come must move the position");
	}
	ck_abort_msg("no end");
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void recs_eq(const struct recs *a, const struct recs *b)
{
	ck_assert_uint_eq(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		ck_assert_str_eq(a->l[i], b->l[i]);
}

/* ---- frames ---- */

/* The log of the frame tests: sessions of every level, several types and
 * extended types, three frames each, interleaved. */
#define NSESS 9
static const struct sdef g_sess[NSESS] = {
    {D4_TLP_CLEAR, NULL, 8, NULL, SENSOR_1},
    {D4_TLP_GREEN, NULL, 8, NULL, SENSOR_1},
    {D4_TLP_EX_CHR, NULL, 254, "ja3-jl", SENSOR_2},
    {D4_TLP_AMBER, NULL, 1, NULL, SENSOR_1},
    {D4_TLP_AMBER_STRICT, ORG_1, 2, NULL, SENSOR_2},
    {D4_TLP_AMBER_STRICT, ORG_2, 254, "pdns-cof", SENSOR_2},
    /* misp:should-not-sync: the ingest stores the stream as tlp:red */
    {D4_TLP_RED, NULL, 8, NULL, SENSOR_1},
    {D4_TLP_CLEAR, NULL, 254, "ja3-jl", SENSOR_1},
    {D4_TLP_GREEN, NULL, 1, NULL, SENSOR_2},
};
#define NFR 3

static uint64_t g_sid[NSESS];

static void frames_log(struct d4_store *s)
{
	for (int i = 0; i < NSESS; i++)
		g_sid[i] = sess_open(s, &g_sess[i]);
	for (int f = 0; f < NFR; f++)
		for (int i = 0; i < NSESS; i++) {
			char p[32];
			int n = snprintf(p, sizeof(p), "s%d-f%d", i, f);
			frame(s, g_sid[i], &g_sess[i], p, (size_t)n, 1700000000000ull + (uint64_t)(f * NSESS + i));
		}
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
}

#define REL D4_FED_R_RELEASED
#define CHR D4_FED_R_EX_CHR_STRIPPED

/* The record partner p must receive for frame f of session i (released or
 * stripped), as text. */
static void expect_frame(struct recs *r, int i, int f, enum d4_fed_reason why)
{
	const struct sdef *d = &g_sess[i];
	char org[33], sen[33], ori[33], line[1024];
	hex(org, d->org ? d->org : ORG_1, 16);
	hex(sen, d->sensor, 16);
	hex(ori, HUB_A, 16);
	char pv[512];
	if (why == CHR)
		snprintf(pv, sizeof(pv), "tlp=%u f=%u org=- ns=0 s=- o=- via=", d->tlp, D4_FED_F_STRIPPED);
	else
		snprintf(pv, sizeof(pv), "tlp=%u f=0 org=%s ns=1 s=%s o=%s via=", d->tlp, org, sen, ori);
	char p[32];
	snprintf(p, sizeof(p), "s%d-f%d", i, f);
	snprintf(line, sizeof(line), "%s os=%llu t=%u ext=%s ts=%llu rm=%llu p=%s", pv,
		 why == CHR ? 0ull : (unsigned long long)g_sid[i], d->type, d->ext ? d->ext : "",
		 (unsigned long long)(1700000000 + strlen(p)), (unsigned long long)(1700000000000ull + f * NSESS + i),
		 p);
	recs_add(r, line);
}

struct pcase {
	const char *name;
	uint8_t hub;
	const uint8_t *org;
	enum d4_fed_relation rel;
	enum d4_tlp max;
	int amber;
	enum d4_fed_reason want[NSESS];
};

/* Per partner, the reason for each session of g_sess (docs/federation.md,
 * the policy table and the order of the checks). */
static const struct pcase g_cases[] = {
    {"b-same-org",
     0xb1,
     ORG_1,
     D4_FED_REL_SAME_ORG,
     D4_TLP_AMBER_STRICT,
     0,
     {REL, REL, CHR, REL, REL, D4_FED_R_AMBER_STRICT_OTHER_ORG, D4_FED_R_TLP_RED, REL, REL}},
    {"c-partner",
     0xc1,
     ORG_2,
     D4_FED_REL_PARTNER,
     D4_TLP_AMBER,
     1,
     {REL, REL, CHR, REL, D4_FED_R_AMBER_STRICT_OTHER_ORG, D4_FED_R_AMBER_STRICT_OTHER_ORG, D4_FED_R_TLP_RED, REL,
      REL}},
    {"d-community",
     0xd1,
     ORG_3,
     D4_FED_REL_COMMUNITY,
     D4_TLP_AMBER,
     1,
     {REL, REL, CHR, D4_FED_R_AMBER_NOT_ALLOWED, D4_FED_R_AMBER_STRICT_OTHER_ORG, D4_FED_R_AMBER_STRICT_OTHER_ORG,
      D4_FED_R_TLP_RED, REL, REL}},
    {"p-public",
     0xe1,
     ORG_3,
     D4_FED_REL_PUBLIC,
     D4_TLP_CLEAR,
     0,
     {REL, D4_FED_R_NOT_COMMUNITY, D4_FED_R_NOT_COMMUNITY, D4_FED_R_AMBER_NOT_ALLOWED, D4_FED_R_AMBER_STRICT_OTHER_ORG,
      D4_FED_R_AMBER_STRICT_OTHER_ORG, D4_FED_R_TLP_RED, REL, D4_FED_R_NOT_COMMUNITY}},
};

static void check_partner(struct d4_store *s, struct d4_fed_source *src, const struct d4_partner *p,
			  const enum d4_fed_reason want[NSESS])
{
	const uint8_t *out;
	size_t outlen;
	struct d4_fed_counters dec;
	uint32_t nrec;
	int more = -1;
	(void)s;
	ck_assert_int_eq(d4_fed_source_next(src, p, NULL, 0, &out, &outlen, &dec, &nrec, &more), 0);
	struct recs got, exp;
	memset(&got, 0, sizeof(got));
	memset(&exp, 0, sizeof(exp));
	struct d4_fed_batch_hdr h;
	decode(out, outlen, D4_FED_KIND_FRAMES, NULL, 0, &got, &h);
	for (int f = 0; f < NFR; f++)
		for (int i = 0; i < NSESS; i++)
			if (want[i] == REL || want[i] == CHR)
				expect_frame(&exp, i, f, want[i]);
	/* the writer stores a commit's frames session by session: the log
	 * order is not the posting order (the cut tests check the order) */
	if (got.n)
		qsort(got.l, got.n, sizeof(*got.l), cmpstr);
	if (exp.n)
		qsort(exp.l, exp.n, sizeof(*exp.l), cmpstr);
	recs_eq(&got, &exp);
	ck_assert_uint_eq(nrec, exp.n);
	ck_assert_int_eq(more, 0);
	/* to = the next seq not yet decided: every frame was */
	ck_assert_uint_eq(h.to_len, 8);
	ck_assert_uint_eq(d4_get_u64be(h.to), NSESS * NFR + 1);
	/* every decision counted, with its reason */
	uint64_t wantc[D4_FED_R_COUNT] = {0};
	for (int i = 0; i < NSESS; i++)
		wantc[want[i]] += NFR;
	for (int r = 0; r < D4_FED_R_COUNT; r++)
		ck_assert_msg(dec.n[D4_FED_KIND_FRAMES][r] == wantc[r], "%s: reason %s: %llu, want %llu", p->name,
			      d4_fed_reason_name((enum d4_fed_reason)r),
			      (unsigned long long)dec.n[D4_FED_KIND_FRAMES][r], (unsigned long long)wantc[r]);
	ck_assert_uint_eq(total(&dec, D4_FED_KIND_PDNS), 0);
	recs_free(&got);
	recs_free(&exp);
}

START_TEST(test_frames_policy)
{
	struct d4_store *s = store_new();
	frames_log(s);
	struct d4_fed_self self = self_a();
	struct d4_fed_source_opts o;
	memset(&o, 0, sizeof(o));
	o.self = &self;
	struct d4_fed_source *src = NULL;
	ck_assert_int_eq(d4_fed_source_new(s, &o, D4_FED_KIND_FRAMES, &src), 0);
	for (size_t c = 0; c < sizeof(g_cases) / sizeof(g_cases[0]); c++) {
		const struct pcase *pc = &g_cases[c];
		struct d4_partner *p = partner(pc->name, pc->hub, pc->org, pc->rel, pc->max, pc->amber);
		check_partner(s, src, p, pc->want);
		free(p);
	}
	/* the partner's filters: types, extended types (after the level) */
	struct d4_partner *p = partner("f-filtered", 0xf1, ORG_2, D4_FED_REL_PARTNER, D4_TLP_GREEN, 0);
	p->out[0].type_deny[1 / 8] |= 1u << (1 % 8);
	d4_strlcpy(p->out[0].ext_deny[0], "JA3-JL", sizeof(p->out[0].ext_deny[0]));
	p->out[0].n_ext_deny = 1;
	static const enum d4_fed_reason want_f[NSESS] = {REL,
							 REL,
							 D4_FED_R_ABOVE_MAX_TLP,
							 D4_FED_R_AMBER_NOT_ALLOWED,
							 D4_FED_R_AMBER_STRICT_OTHER_ORG,
							 D4_FED_R_AMBER_STRICT_OTHER_ORG,
							 D4_FED_R_TLP_RED,
							 D4_FED_R_EXT_TYPE,
							 D4_FED_R_TYPE};
	check_partner(s, src, p, want_f);
	/* a disabled partner: red is still red, everything else partner-disabled */
	p->enabled = 0;
	static const enum d4_fed_reason want_x[NSESS] = {
	    D4_FED_R_PARTNER_DISABLED, D4_FED_R_PARTNER_DISABLED, D4_FED_R_PARTNER_DISABLED,
	    D4_FED_R_PARTNER_DISABLED, D4_FED_R_PARTNER_DISABLED, D4_FED_R_PARTNER_DISABLED,
	    D4_FED_R_TLP_RED,	       D4_FED_R_PARTNER_DISABLED, D4_FED_R_PARTNER_DISABLED};
	check_partner(s, src, p, want_x);
	free(p);
	/* a same-org hub whose rule does not share frames */
	p = partner("k-noframes", 0xb2, ORG_1, D4_FED_REL_SAME_ORG, D4_TLP_AMBER_STRICT, 0);
	p->out[D4_FED_KIND_FRAMES].enabled = 0;
	static const enum d4_fed_reason want_k[NSESS] = {
	    D4_FED_R_KIND_NOT_SHARED, D4_FED_R_KIND_NOT_SHARED, D4_FED_R_KIND_NOT_SHARED,
	    D4_FED_R_KIND_NOT_SHARED, D4_FED_R_KIND_NOT_SHARED, D4_FED_R_AMBER_STRICT_OTHER_ORG,
	    D4_FED_R_TLP_RED,	      D4_FED_R_KIND_NOT_SHARED, D4_FED_R_KIND_NOT_SHARED};
	check_partner(s, src, p, want_k);
	/* the partner is this hub (a misconfiguration): nothing, loop-origin */
	memcpy(p->hub, HUB_A, 16);
	p->out[D4_FED_KIND_FRAMES].enabled = 1;
	static const enum d4_fed_reason want_l[NSESS] = {
	    D4_FED_R_LOOP_ORIGIN, D4_FED_R_LOOP_ORIGIN, D4_FED_R_LOOP_ORIGIN,
	    D4_FED_R_LOOP_ORIGIN, D4_FED_R_LOOP_ORIGIN, D4_FED_R_LOOP_ORIGIN,
	    D4_FED_R_TLP_RED,	  D4_FED_R_LOOP_ORIGIN, D4_FED_R_LOOP_ORIGIN};
	check_partner(s, src, p, want_l);
	free(p);
	/* positions that are not this kind's */
	const uint8_t *out;
	size_t outlen;
	struct d4_fed_counters dec;
	uint32_t nrec;
	int more;
	static const uint8_t bad[5] = {0, 0, 0, 0, 1};
	p = partner("b", 0xb1, ORG_1, D4_FED_REL_SAME_ORG, D4_TLP_AMBER_STRICT, 0);
	ck_assert_int_eq(d4_fed_source_next(src, p, bad, 5, &out, &outlen, &dec, &nrec, &more), D4_EINVAL);
	static const uint8_t zero[8];
	ck_assert_int_eq(d4_fed_source_next(src, p, zero, 8, &out, &outlen, &dec, &nrec, &more), D4_EINVAL);
	free(p);
	d4_fed_source_free(src);
	store_done(s);
}
END_TEST

/* Batches cut by max_bytes and by max_records continue exactly: every
 * record once, none twice, in log order; a frame larger than max_bytes goes
 * alone; one larger than any batch is refused as too-big and skipped. */
START_TEST(test_frames_cuts)
{
	struct d4_store *s = store_new();
	frames_log(s);
	struct sdef big = {D4_TLP_GREEN, NULL, 8, NULL, SENSOR_1};
	uint64_t sid = sess_open(s, &big);
	size_t n20 = 20000, n5m = 5u << 20;
	uint8_t *pl = malloc(n5m);
	memset(pl, 'x', n5m);
	frame(s, sid, &big, pl, n20, 1700000000100ull);
	frame(s, sid, &big, pl, n5m, 1700000000101ull);
	frame(s, sid, &big, "after", 5, 1700000000102ull);
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
	free(pl);
	struct d4_fed_self self = self_a();
	struct d4_partner *p = partner("b", 0xb1, ORG_1, D4_FED_REL_SAME_ORG, D4_TLP_AMBER_STRICT, 0);
	struct d4_fed_source_opts o;
	memset(&o, 0, sizeof(o));
	o.self = &self;
	struct d4_fed_source *one = NULL;
	ck_assert_int_eq(d4_fed_source_new(s, &o, D4_FED_KIND_FRAMES, &one), 0);
	struct recs all;
	memset(&all, 0, sizeof(all));
	struct d4_fed_counters sum_all;
	unsigned nb;
	run_all(s, one, &o, D4_FED_KIND_FRAMES, p, &all, &sum_all, &nb, NULL, NULL, NULL);
	/* 21 of the 27 frames (see g_cases b-same-org) + 20 KB + "after"; the
	 * 5 MiB frame cannot cross */
	ck_assert_uint_eq(all.n, 7 * NFR + 2);
	ck_assert_uint_eq(sum_all.n[0][D4_FED_R_TOO_BIG], 1);
	ck_assert_uint_eq(total(&sum_all, 0), NSESS * NFR + 3);
	d4_fed_source_free(one);

	/* small batches: a header reserves room for any position (4200 bytes);
	 * a few records fit besides */
	static const size_t maxb[] = {4400, 4600, 5000};
	for (size_t k = 0; k < sizeof(maxb) / sizeof(maxb[0]); k++)
		for (int fresh = 0; fresh < 2; fresh++) {
			struct d4_fed_source_opts oc = o;
			oc.max_bytes = maxb[k];
			struct d4_fed_source *src = NULL;
			if (!fresh)
				ck_assert_int_eq(d4_fed_source_new(s, &oc, D4_FED_KIND_FRAMES, &src), 0);
			struct recs got;
			memset(&got, 0, sizeof(got));
			struct d4_fed_counters sum;
			run_all(s, src, &oc, D4_FED_KIND_FRAMES, p, &got, &sum, &nb, NULL, NULL, NULL);
			ck_assert_uint_gt(nb, 3);
			recs_eq(&got, &all);
			ck_assert_mem_eq(&sum, &sum_all, sizeof(sum));
			recs_free(&got);
			d4_fed_source_free(src);
		}
	/* max_records: at most that many decisions per batch */
	struct d4_fed_source_opts orr = o;
	orr.max_records = 4;
	struct recs got;
	memset(&got, 0, sizeof(got));
	struct d4_fed_counters sum;
	run_all(s, NULL, &orr, D4_FED_KIND_FRAMES, p, &got, &sum, &nb, NULL, NULL, NULL);
	ck_assert_uint_ge(nb, (NSESS * NFR + 3) / 4);
	recs_eq(&got, &all);
	ck_assert_mem_eq(&sum, &sum_all, sizeof(sum));
	recs_free(&got);
	recs_free(&all);
	free(p);
	store_done(s);
}
END_TEST

/* Lag: frames past the position and the age of the first of them. */
START_TEST(test_frames_lag)
{
	struct d4_store *s = store_new();
	struct sdef d = {D4_TLP_GREEN, NULL, 8, NULL, SENSOR_1};
	uint64_t sid = sess_open(s, &d);
	uint64_t now = d4_now_ms();
	for (int i = 0; i < 5; i++)
		frame(s, sid, &d, "abc", 3, now - 50000 + 10000 * (uint64_t)i); /* 50 s .. 10 s old */
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	struct d4_fed_self self = self_a();
	struct d4_fed_source_opts o;
	memset(&o, 0, sizeof(o));
	o.self = &self;
	struct d4_fed_source *src = NULL;
	ck_assert_int_eq(d4_fed_source_new(s, &o, D4_FED_KIND_FRAMES, &src), 0);
	uint64_t rec, sec;
	ck_assert_int_eq(d4_fed_source_lag(src, NULL, 0, &rec, &sec), 0);
	ck_assert_uint_eq(rec, 5);
	ck_assert_uint_ge(sec, 50);
	ck_assert_uint_lt(sec, 50 + 60);
	uint8_t pos[8];
	d4_put_u64be(pos, 3);
	ck_assert_int_eq(d4_fed_source_lag(src, pos, 8, &rec, &sec), 0);
	ck_assert_uint_eq(rec, 3);
	ck_assert_uint_ge(sec, 30);
	ck_assert_uint_lt(sec, 30 + 60);
	d4_put_u64be(pos, 6);
	ck_assert_int_eq(d4_fed_source_lag(src, pos, 8, &rec, &sec), 0);
	ck_assert_uint_eq(rec, 0);
	ck_assert_uint_eq(sec, 0);
	ck_assert_int_eq(d4_fed_source_lag(src, pos, 7, &rec, &sec), D4_EINVAL);
	d4_fed_source_free(src);
	store_done(s);
}
END_TEST

/* A source with a scope (an upstream stream) decides and counts only the
 * frames it can carry; the rest is passed over, a long run of them in
 * several calls, and the position still moves to the end. */
START_TEST(test_frames_scope)
{
	struct d4_store *s = store_new();
	static const struct sdef d8 = {D4_TLP_GREEN, NULL, 8, NULL, SENSOR_1};
	static const struct sdef d8red = {D4_TLP_RED, NULL, 8, NULL, SENSOR_1};
	static const struct sdef d3 = {D4_TLP_GREEN, NULL, 3, NULL, SENSOR_2};
	static const struct sdef da = {D4_TLP_GREEN, NULL, 254, "ext-a", SENSOR_3};
	static const struct sdef db = {D4_TLP_RED, NULL, 254, "ext-b", SENSOR_3};
	const struct sdef *defs[] = {&d8, &d8red, &d3, &da, &db};
	uint64_t sid[5];
	for (int i = 0; i < 5; i++)
		sid[i] = sess_open(s, defs[i]);
	for (int f = 0; f < 3; f++)
		for (int i = 0; i < 5; i++)
			frame(s, sid[i], defs[i], "x", 1, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	struct d4_fed_self self = self_a();
	struct d4_partner *p = partner("up", 0xf1, ORG_2, D4_FED_REL_COMMUNITY, D4_TLP_GREEN, 0);
	struct d4_fed_source_opts o;
	memset(&o, 0, sizeof(o));
	o.self = &self;
	struct recs r;
	struct d4_fed_counters sum;
	unsigned nb;
	uint8_t end[D4_FED_POS_MAX];
	size_t end_len;
	/* no scope: every frame decided */
	memset(&r, 0, sizeof(r));
	run_all(s, NULL, &o, D4_FED_KIND_FRAMES, p, &r, &sum, &nb, NULL, end, &end_len);
	ck_assert_uint_eq(total(&sum, D4_FED_KIND_FRAMES), 15);
	recs_free(&r);
	/* type 8 only: the green ones released, the red ones refused and counted */
	uint8_t t8[32] = {0};
	t8[1] = 1u << 0; /* type 8 */
	o.only_types = t8;
	memset(&r, 0, sizeof(r));
	run_all(s, NULL, &o, D4_FED_KIND_FRAMES, p, &r, &sum, &nb, NULL, end, &end_len);
	ck_assert_uint_eq(total(&sum, D4_FED_KIND_FRAMES), 6);
	ck_assert_uint_eq(sum.n[D4_FED_KIND_FRAMES][D4_FED_R_RELEASED], 3);
	ck_assert_uint_eq(sum.n[D4_FED_KIND_FRAMES][D4_FED_R_TLP_RED], 3);
	ck_assert_uint_eq(r.n, 3);
	ck_assert_uint_eq(end_len, 8);
	ck_assert_uint_eq(d4_get_u64be(end), 16);
	recs_free(&r);
	/* 254 of one extended type: the other one (red) is not counted */
	uint8_t t254[32] = {0};
	t254[254 / 8] = 1u << (254 % 8);
	o.only_types = t254;
	o.only_ext = "ext-a";
	memset(&r, 0, sizeof(r));
	run_all(s, NULL, &o, D4_FED_KIND_FRAMES, p, &r, &sum, &nb, NULL, end, &end_len);
	ck_assert_uint_eq(total(&sum, D4_FED_KIND_FRAMES), 3);
	ck_assert_uint_eq(sum.n[D4_FED_KIND_FRAMES][D4_FED_R_RELEASED], 3);
	ck_assert_uint_eq(r.n, 3);
	recs_free(&r);
	/* a long run out of scope: several calls, then the one frame in scope */
	for (int f = 0; f < 70000; f++)
		frame(s, sid[2], &d3, "y", 1, 0);
	frame(s, sid[0], &d8, "z", 1, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
	o.only_types = t8;
	o.only_ext = NULL;
	memset(&r, 0, sizeof(r));
	run_all(s, NULL, &o, D4_FED_KIND_FRAMES, p, &r, &sum, &nb, NULL, end, &end_len);
	ck_assert_uint_eq(total(&sum, D4_FED_KIND_FRAMES), 7);
	ck_assert_uint_eq(r.n, 4);
	ck_assert_uint_ge(nb, 2);
	ck_assert_uint_eq(d4_get_u64be(end), 16 + 70001);
	recs_free(&r);
	free(p);
	store_done(s);
}
END_TEST

static void pdns_store_consumer(struct d4_store *s);

/* Frames received from a partner carry their provenance on: never back to
 * their origin, relayed only where the rule allows it (with this hub
 * appended to the path), never when they arrived stripped; the pDNS
 * consumer does not turn them into observations (their tuples come as the
 * pdns kind). */
static void submit(struct d4_store *s, struct d4_store_fed_batch *b)
{
	ck_assert_int_eq(d4_store_fed_submit(s, b), 0);
	for (int i = 0; i < 20000 && !__atomic_load_n(&b->done, __ATOMIC_ACQUIRE); i++)
		usleep(500);
	ck_assert_int_ne(__atomic_load_n(&b->done, __ATOMIC_ACQUIRE), 0);
	ck_assert_int_eq(b->result, 0);
}

/* This hub's own records are signed for a partner it exchanged keys with
 * (the partner record holds its public key) and only then: the signature
 * verifies with this hub's public key and the partner's consent to relay
 * (onward) travels inside it. */
START_TEST(test_own_records_signed_with_key_exchange)
{
	struct d4_store *s = store_new();
	struct d4_fed_self self = self_a();
	uint8_t seed[32], pk[32], sk[64];
	memset(seed, 0x42, sizeof(seed));
	ck_assert_int_eq(d4_fed_sign_keypair(seed, pk, sk), 0);
	self.sign_sk = sk;
	struct sdef d = {D4_TLP_GREEN, NULL, 8, NULL, SENSOR_1};
	uint64_t sid = sess_open(s, &d);
	static const char line[] =
	    "1795618268.1||127.0.0.1||127.0.0.2||IN||signed.example.test.||A||192.0.2.1||60||1\n";
	frame(s, sid, &d, line, sizeof(line) - 1, 1700000000000ull);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	for (int with_key = 0; with_key < 2; with_key++) {
		struct d4_partner *pb = partner("b", 0xb1, ORG_1, D4_FED_REL_SAME_ORG, D4_TLP_AMBER_STRICT, 0);
		pb->onward = 1;
		if (with_key) {
			pb->has_pubkey = 1;
			memset(pb->pubkey, 0x11, 32);
		}
		struct d4_fed_source_opts o;
		memset(&o, 0, sizeof(o));
		o.self = &self;
		struct d4_fed_source *src = NULL;
		ck_assert_int_eq(d4_fed_source_new(s, &o, D4_FED_KIND_FRAMES, &src), 0);
		const uint8_t *out;
		size_t outlen;
		struct d4_fed_counters dec;
		uint32_t nrec;
		int more;
		ck_assert_int_eq(d4_fed_source_next(src, pb, NULL, 0, &out, &outlen, &dec, &nrec, &more), 0);
		ck_assert_uint_eq(nrec, 1);
		struct d4_fed_batch_hdr h;
		struct d4_fed_batch_it it;
		struct d4_fed_wrec r;
		ck_assert_int_eq(d4_fed_batch_open(out, outlen, &h, &it), 0);
		ck_assert_int_eq(d4_fed_batch_next(&it, &r), 1);
		if (with_key) {
			ck_assert(r.prov.flags & D4_FED_F_SIGNED);
			ck_assert(r.prov.flags & D4_FED_F_ONWARD);
			ck_assert_int_eq(d4_fed_record_verify(&r.prov, pk), 1);
			uint8_t other[32];
			memcpy(other, pk, 32);
			other[0] ^= 1;
			ck_assert_int_ne(d4_fed_record_verify(&r.prov, other), 1);
		} else {
			ck_assert(!(r.prov.flags & D4_FED_F_SIGNED));
		}
		d4_fed_source_free(src);
		free(pb);
	}
	store_done(s);
}
END_TEST

START_TEST(test_frames_received)
{
	struct d4_store *s = store_new();
	struct d4_partner *pc = partner("c", 0xc1, ORG_2, D4_FED_REL_PARTNER, D4_TLP_GREEN, 0);
	struct d4_partner *pb = partner("b", 0xb1, ORG_1, D4_FED_REL_SAME_ORG, D4_TLP_AMBER_STRICT, 0);
	struct d4_partner *pd = partner("d", 0xd1, ORG_3, D4_FED_REL_COMMUNITY, D4_TLP_GREEN, 0);
	pc->out[0].allow_relay = 1;
	pd->out[0].allow_relay = 1;
	pd->out[1].allow_relay = 1;
	/* one local CSV frame, then two received ones (from c: a CSV stream
	 * whose origin is c, and a stripped one) */
	struct sdef d = {D4_TLP_GREEN, NULL, 8, NULL, SENSOR_1};
	uint64_t sid = sess_open(s, &d);
	static const char line[] = "1795618268.1||127.0.0.1||127.0.0.2||IN||local.example.test.||A||192.0.2.1||60||1\n";
	frame(s, sid, &d, line, sizeof(line) - 1, 1700000000000ull);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	struct d4_store_fed_prov from_c, stripped;
	memset(&from_c, 0, sizeof(from_c));
	from_c.has_origin = 1;
	memcpy(from_c.origin, pc->hub, 16);
	from_c.nvia = 1;
	memcpy(from_c.via[0], pc->hub, 16);
	memset(&stripped, 0, sizeof(stripped));
	stripped.stripped = 1;
	static const char rline[] =
	    "1795618268.2||127.0.0.1||127.0.0.2||IN||remote.example.test.||A||192.0.2.2||60||1\n";
	struct d4_store_fed_frame fr[2];
	memset(fr, 0, sizeof(fr));
	fr[0].origin_session = 4242;
	memcpy(fr[0].sensor, SENSOR_2, 16);
	fr[0].type = 8;
	fr[0].ext_type = "";
	fr[0].tlp = D4_TLP_GREEN;
	fr[0].has_org = 1;
	memcpy(fr[0].org, ORG_2, 16);
	fr[0].hdr_ts = 1700000001;
	fr[0].recv_ms = 1700000001000ull;
	fr[0].payload = (const uint8_t *)rline;
	fr[0].size = sizeof(rline) - 1;
	fr[0].prov = &from_c;
	/* c's signature and consent to relaying, kept with the frame */
	fr[0].sig_flags = D4_STORE_FED_SIG_SIGNED | D4_STORE_FED_SIG_ONWARD;
	memset(fr[0].sig, 0x5a, 64);
	fr[1] = fr[0];
	fr[1].sig_flags = 0;
	fr[1].origin_session = 0;
	memset(fr[1].sensor, 0, 16);
	fr[1].tlp = D4_TLP_EX_CHR;
	fr[1].has_org = 0;
	memset(fr[1].org, 0, 16);
	fr[1].prov = &stripped;
	struct d4_store_fed_batch b;
	memset(&b, 0, sizeof(b));
	memcpy(b.sender, pc->hub, 16);
	strcpy(b.partner, "c");
	b.kind = D4_FED_KIND_FRAMES;
	b.from = (const uint8_t *)"";
	b.to = (const uint8_t *)"\0\0\0\0\0\0\0\3";
	b.to_len = 8;
	b.frames = fr;
	b.nframes = 2;
	b.notify_fd = -1;
	submit(s, &b);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);

	struct d4_fed_self self = self_a();
	struct d4_fed_source_opts o;
	memset(&o, 0, sizeof(o));
	o.self = &self;
	struct d4_fed_source *src = NULL;
	ck_assert_int_eq(d4_fed_source_new(s, &o, D4_FED_KIND_FRAMES, &src), 0);
	struct {
		struct d4_partner *p;
		enum d4_fed_reason recv, strip;
	} cases[] = {{pc, D4_FED_R_LOOP_ORIGIN, D4_FED_R_STRIPPED_NO_RELAY},
		     {pb, D4_FED_R_RELAY_NOT_ALLOWED, D4_FED_R_STRIPPED_NO_RELAY},
		     {pd, REL, D4_FED_R_STRIPPED_NO_RELAY}};
	for (int c = 0; c < 3; c++) {
		const uint8_t *out;
		size_t outlen;
		struct d4_fed_counters dec;
		uint32_t nrec;
		int more;
		ck_assert_int_eq(d4_fed_source_next(src, cases[c].p, NULL, 0, &out, &outlen, &dec, &nrec, &more), 0);
		ck_assert_uint_eq(total(&dec, 0), 3);
		ck_assert_uint_eq(dec.n[0][REL], 1 + (cases[c].recv == REL));
		ck_assert_uint_eq(dec.n[0][D4_FED_R_STRIPPED_NO_RELAY], 1);
		if (cases[c].recv != REL)
			ck_assert_uint_eq(dec.n[0][cases[c].recv], 1);
		struct recs got;
		memset(&got, 0, sizeof(got));
		decode(out, outlen, D4_FED_KIND_FRAMES, NULL, 0, &got, NULL);
		ck_assert_uint_eq(got.n, nrec);
		if (cases[c].recv == REL) {
			/* relayed: origin c, path c then this hub, the origin's session */
			char want[1024], org[33], sen[33], hc[33], ha[33];
			hex(org, ORG_2, 16);
			hex(sen, SENSOR_2, 16);
			hex(hc, pc->hub, 16);
			hex(ha, HUB_A, 16);
			snprintf(want, sizeof(want),
				 "tlp=2 f=6 org=%s ns=1 s=%s o=%s via=%s,%s, os=4242 t=8 ext= ts=1700000001 "
				 "rm=1700000001000 "
				 "p=%.64s",
				 org, sen, hc, hc, ha, rline);
			int found = 0;
			for (size_t i = 0; i < got.n; i++)
				found += !strcmp(got.l[i], want);
			ck_assert_msg(found == 1, "relayed record not found");
		}
		recs_free(&got);
	}
	d4_fed_source_free(src);

	/* pDNS: only the local line, in the source and in the hub's consumer */
	pb->out[1].allow_relay = 1;
	ck_assert_int_eq(d4_fed_source_new(s, &o, D4_FED_KIND_PDNS, &src), 0);
	const uint8_t *out;
	size_t outlen;
	struct d4_fed_counters dec;
	uint32_t nrec;
	int more;
	ck_assert_int_eq(d4_fed_source_next(src, pb, NULL, 0, &out, &outlen, &dec, &nrec, &more), 0);
	ck_assert_uint_eq(total(&dec, 1), 1);
	ck_assert_uint_eq(nrec, 1);
	struct recs got;
	memset(&got, 0, sizeof(got));
	decode(out, outlen, D4_FED_KIND_PDNS, NULL, 0, &got, NULL);
	ck_assert_ptr_nonnull(strstr(got.l[0], " local.example.test.|1|192.0.2.1|"));
	recs_free(&got);
	d4_fed_source_free(src);
	pdns_store_consumer(s);
	struct d4_store_pdns_info info;
	ck_assert_int_eq(d4_store_pdns_info(s, &info), 0);
	ck_assert_uint_eq(info.tuples, 1);
	free(pc);
	free(pb);
	free(pd);
	store_done(s);
}
END_TEST

/* ---- backscatter ---- */

/* A vector of this hub with `packets` packets, victim 192.0.2.<n>. */
static struct d4_store_bs_vec bs_vec(unsigned n, enum d4_tlp tlp, const uint8_t *org, uint8_t state, uint64_t packets)
{
	struct d4_store_bs_vec v;
	memset(&v, 0, sizeof(v));
	static const uint8_t v4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 0};
	memcpy(v.victim, v4, 16);
	v.victim[15] = (uint8_t)n;
	v.kind = (uint8_t)(1 + n % 12);
	v.first_us = 1700000000000000ull + n * 1000000ull;
	v.state = state;
	v.last_us = v.first_us + packets * 1000000ull;
	v.packets = packets;
	v.bytes = packets * 40;
	v.n_ports = 1;
	v.ports[0].port = (uint16_t)(80 + n);
	v.ports[0].packets = packets;
	v.ports_distinct = 1;
	v.telescope_addrs = n + 1;
	v.telescope_exact = 1;
	v.peak_ppm = (uint32_t)(packets < 60 ? packets : 60);
	v.observed_pps = 1.0;
	v.est_pps = 256.0;
	v.est_peak_pps = 256.0;
	v.est_valid = 1;
	memcpy(v.sensors[0], SENSOR_1, 16);
	memcpy(v.sensors[1], SENSOR_2, 16);
	v.n_sensors = 2;
	v.tlp = (uint8_t)tlp;
	if (org)
		memcpy(v.org, org, 16);
	v.updates = state == 1 ? 1 : 2;
	return v;
}

static void bs_apply(struct d4_store *s, const struct d4_store_bs_vec *v, size_t n)
{
	struct d4_store_bs_update u;
	memset(&u, 0, sizeof(u));
	u.vecs = v;
	u.nvecs = n;
	ck_assert_int_eq(d4_store_bs_apply(s, &u), 0);
}

/* One vector per TLP row (and one without a level), decided for each
 * relation exactly as the policy table says; received vectors (stored
 * through the receiver's path, d4_store_fed_submit) relayed only where the
 * rule allows it, never back to their origin, never when stripped; the
 * receiver upserts by identity (a resend is a duplicate, an update replaces
 * the state in place); batches cut by max_records chain to the same
 * records; a vector updated later is sent again, at its latest state. */
START_TEST(test_backscatter)
{
	struct d4_store *s = store_new();
	static const enum d4_tlp lv[7] = {D4_TLP_CLEAR,	       D4_TLP_GREEN, D4_TLP_EX_CHR, D4_TLP_AMBER,
					  D4_TLP_AMBER_STRICT, D4_TLP_RED,   D4_TLP_NONE};
	struct d4_store_bs_vec loc[7];
	for (unsigned i = 0; i < 7; i++)
		loc[i] = bs_vec(i + 1, lv[i], i == 3 ? ORG_1 : NULL, 1, 30 + i);
	bs_apply(s, loc, 7);

	struct d4_partner *pb = partner("b", 0xb1, ORG_1, D4_FED_REL_SAME_ORG, D4_TLP_AMBER_STRICT, 0);
	struct d4_partner *pc = partner("c", 0xc1, ORG_2, D4_FED_REL_PARTNER, D4_TLP_AMBER, 1);
	struct d4_partner *pd = partner("d", 0xd1, ORG_3, D4_FED_REL_COMMUNITY, D4_TLP_GREEN, 0);
	struct d4_partner *pp = partner("p", 0xe1, ORG_3, D4_FED_REL_PUBLIC, D4_TLP_CLEAR, 0);
	struct d4_partner *all[4] = {pb, pc, pd, pp};
	for (int k = 0; k < 4; k++)
		all[k]->out[D4_FED_KIND_BACKSCATTER] = all[k]->out[D4_FED_KIND_FRAMES];
	pd->out[D4_FED_KIND_BACKSCATTER].allow_relay = 1;

	/* received from c: one relayed by c (origin c), one stripped */
	struct d4_store_bs_vec rx[2];
	rx[0] = bs_vec(20, D4_TLP_GREEN, ORG_2, 1, 40);
	rx[0].received = 1;
	memcpy(rx[0].origin, pc->hub, 16);
	memcpy(rx[0].sender, pc->hub, 16);
	rx[0].sig_flags = D4_STORE_FED_SIG_ONWARD; /* c allows relaying it further */
	rx[1] = bs_vec(21, D4_TLP_EX_CHR, NULL, 2, 50);
	rx[1].received = 1;
	rx[1].stripped = 1;
	rx[1].n_sensors = 0;
	memcpy(rx[1].origin, pc->hub, 16);
	memcpy(rx[1].sender, pc->hub, 16);
	struct d4_store_fed_batch b;
	memset(&b, 0, sizeof(b));
	memcpy(b.sender, pc->hub, 16);
	strcpy(b.partner, "c");
	b.kind = D4_FED_KIND_BACKSCATTER;
	b.to = (const uint8_t *)"\0\0\0\0\0\0\0\2";
	b.to_len = 8;
	b.vectors = rx;
	b.nvectors = 2;
	b.notify_fd = -1;
	submit(s, &b);
	ck_assert_uint_eq(b.stored, 2);
	/* the same batch again: a duplicate, nothing stored twice */
	memset((void *)&b.done, 0, sizeof(b.done));
	ck_assert_int_eq(d4_store_fed_submit(s, &b), 0);
	for (int i = 0; i < 20000 && !__atomic_load_n(&b.done, __ATOMIC_ACQUIRE); i++)
		usleep(500);
	ck_assert_int_eq(b.result, D4_EEXIST);
	struct d4_store_bs_info info;
	ck_assert_int_eq(d4_store_bs_info(s, &info), 0);
	ck_assert_uint_eq(info.vectors, 9);

	struct d4_fed_self self = self_a();
	struct d4_fed_source_opts o;
	memset(&o, 0, sizeof(o));
	o.self = &self;
	struct d4_fed_source *src = NULL;
	ck_assert_int_eq(d4_fed_source_new(s, &o, D4_FED_KIND_BACKSCATTER, &src), 0);
	/* per partner: the reason of each local vector (in lv order), of the
	 * relayed one and of the stripped one; REL = released */
	const enum d4_fed_reason R = D4_FED_R_RELEASED, S = D4_FED_R_EX_CHR_STRIPPED;
	/* a vector without a level is stored as tlp:red (the store fails
	 * closed; the consumer resolves the hub's default before): red */
	const enum d4_fed_reason red = D4_FED_R_TLP_RED;
	const enum d4_fed_reason want[4][9] = {
	    {R, R, S, R, R, red, red, D4_FED_R_RELAY_NOT_ALLOWED, D4_FED_R_STRIPPED_NO_RELAY},
	    {R, R, S, R, D4_FED_R_AMBER_STRICT_OTHER_ORG, red, red, D4_FED_R_LOOP_ORIGIN, D4_FED_R_STRIPPED_NO_RELAY},
	    {R, R, D4_FED_R_ABOVE_MAX_TLP, D4_FED_R_AMBER_NOT_ALLOWED, D4_FED_R_AMBER_STRICT_OTHER_ORG, red, red, R,
	     D4_FED_R_STRIPPED_NO_RELAY},
	    {R, D4_FED_R_NOT_COMMUNITY, D4_FED_R_NOT_COMMUNITY, D4_FED_R_AMBER_NOT_ALLOWED,
	     D4_FED_R_AMBER_STRICT_OTHER_ORG, red, red, D4_FED_R_NOT_COMMUNITY, D4_FED_R_STRIPPED_NO_RELAY}};
	char ha[33], hc[33], o1[33], o2[33], s1[33], vic[33];
	hex(o2, ORG_2, 16);
	hex(ha, HUB_A, 16);
	hex(hc, pc->hub, 16);
	hex(o1, ORG_1, 16);
	hex(s1, SENSOR_1, 16);
	for (int k = 0; k < 4; k++) {
		struct d4_fed_counters exp;
		memset(&exp, 0, sizeof(exp));
		for (int i = 0; i < 9; i++)
			exp.n[D4_FED_KIND_BACKSCATTER][want[k][i]]++;
		struct recs got;
		memset(&got, 0, sizeof(got));
		struct d4_fed_counters dec;
		unsigned nb;
		uint8_t end[D4_FED_POS_MAX];
		size_t end_len;
		run_all(s, src, &o, D4_FED_KIND_BACKSCATTER, all[k], &got, &dec, &nb, NULL, end, &end_len);
		for (int r = 0; r < D4_FED_R_COUNT; r++)
			ck_assert_msg(dec.n[D4_FED_KIND_BACKSCATTER][r] == exp.n[D4_FED_KIND_BACKSCATTER][r],
				      "partner %s, %s: %llu, want %llu", all[k]->name, d4_fed_reason_name(r),
				      (unsigned long long)dec.n[D4_FED_KIND_BACKSCATTER][r],
				      (unsigned long long)exp.n[D4_FED_KIND_BACKSCATTER][r]);
		ck_assert_int_eq(memcmp(&dec, &exp, sizeof(dec)), 0);
		ck_assert_uint_eq(end_len, 8);
		ck_assert_uint_eq(d4_get_u64be(end), info.change_seq);
		/* what went, record by record (the store's change order is the
		 * order of writing: the local ones, then the received ones) */
		size_t g = 0;
		for (int i = 0; i < 9; i++) {
			if (want[k][i] != R && want[k][i] != S)
				continue;
			const struct d4_store_bs_vec *v = i < 7 ? &loc[i] : &rx[i - 7];
			ck_assert_uint_lt(g, got.n);
			hex(vic, v->victim, 16);
			char w[2048], pv[1024];
			enum d4_tlp level = lv[i < 7 ? i : 0];
			if (i == 7)
				level = D4_TLP_GREEN;
			if (want[k][i] == S)
				snprintf(pv, sizeof(pv), "tlp=%u f=1 org=- ns=0 s=- o=- via=", level);
			else if (i == 7) /* relayed: its org, origin c (which sent it), then this hub */
				snprintf(pv, sizeof(pv), "tlp=%u f=4 org=%s ns=2 s=%s o=%s via=%s,", level, o2, s1, hc,
					 ha);
			else /* this hub's own: its org (or the vector's), origin this hub */
				snprintf(pv, sizeof(pv), "tlp=%u f=0 org=%s ns=2 s=%s o=%s via=", level, o1, s1, ha);
			snprintf(w, sizeof(w), "%s v=%s k=%u st=%u f=%llu l=%llu p=%llu", pv, vic, v->kind, v->state,
				 (unsigned long long)v->first_us, (unsigned long long)v->last_us,
				 (unsigned long long)v->packets);
			ck_assert_msg(strncmp(got.l[g], w, strlen(w)) == 0, "partner %s, vector %d:\n %s\nwant\n %s",
				      all[k]->name, i, got.l[g], w);
			g++;
		}
		ck_assert_uint_eq(g, got.n);
		recs_free(&got);
	}

	/* the same records and decisions in batches of at most 2 decisions,
	 * with a new source per batch */
	struct d4_fed_source_opts oc = o;
	oc.max_records = 2;
	struct recs one, cut;
	memset(&one, 0, sizeof(one));
	memset(&cut, 0, sizeof(cut));
	struct d4_fed_counters d1, d2;
	unsigned nb1, nb2;
	run_all(s, src, &o, D4_FED_KIND_BACKSCATTER, pb, &one, &d1, &nb1, NULL, NULL, NULL);
	run_all(s, NULL, &oc, D4_FED_KIND_BACKSCATTER, pb, &cut, &d2, &nb2, NULL, NULL, NULL);
	ck_assert_uint_eq(nb1, 1);
	ck_assert_uint_eq(nb2, 5);
	recs_eq(&one, &cut);
	ck_assert_int_eq(memcmp(&d1, &d2, sizeof(d1)), 0);
	/* and in batches of a few hundred bytes */
	oc.max_records = 0;
	oc.max_bytes = 400;
	recs_free(&cut);
	run_all(s, NULL, &oc, D4_FED_KIND_BACKSCATTER, pb, &cut, &d2, &nb2, NULL, NULL, NULL);
	ck_assert_uint_gt(nb2, 3);
	recs_eq(&one, &cut);
	recs_free(&cut);
	recs_free(&one);

	/* lag: the vector writes since the position: all 9 from the start,
	 * 6 past the third, none from the end */
	uint64_t lr, ls;
	ck_assert_int_eq(d4_fed_source_lag(src, NULL, 0, &lr, &ls), 0);
	ck_assert_uint_eq(lr, 9);
	ck_assert_uint_le(ls, 60);
	uint8_t p3[8];
	d4_put_u64be(p3, 3);
	ck_assert_int_eq(d4_fed_source_lag(src, p3, 8, &lr, &ls), 0);
	ck_assert_uint_eq(lr, 6);
	uint8_t pos[8];
	d4_put_u64be(pos, info.change_seq);
	ck_assert_int_eq(d4_fed_source_lag(src, pos, 8, &lr, &ls), 0);
	ck_assert_uint_eq(lr, 0);
	ck_assert_int_eq(d4_fed_source_lag(src, pos, 7, &lr, &ls), D4_EINVAL);
	ck_assert_int_eq(d4_fed_source_lag(src, pos, 8, &lr, &ls), 0);
	ck_assert(lr == 0 && ls == 0);

	/* the clear vector closes with more packets: from the end, exactly it
	 * goes again, at its final state; the received one updated by its
	 * sender replaces its state in place */
	struct d4_store_bs_vec up = loc[0];
	up.state = 2;
	up.packets += 10;
	up.ports[0].packets = up.packets;
	up.last_us += 10000000ull;
	bs_apply(s, &up, 1);
	struct d4_store_bs_vec rup = rx[0];
	rup.state = 2;
	rup.packets += 5;
	rup.ports[0].packets = rup.packets;
	memset(&b, 0, sizeof(b));
	memcpy(b.sender, pc->hub, 16);
	strcpy(b.partner, "c");
	b.kind = D4_FED_KIND_BACKSCATTER;
	b.from = (const uint8_t *)"\0\0\0\0\0\0\0\2";
	b.from_len = 8;
	b.to = (const uint8_t *)"\0\0\0\0\0\0\0\3";
	b.to_len = 8;
	b.vectors = &rup;
	b.nvectors = 1;
	b.notify_fd = -1;
	submit(s, &b);
	ck_assert_int_eq(d4_store_bs_info(s, &info), 0);
	ck_assert_uint_eq(info.vectors, 9);
	ck_assert_uint_eq(info.ongoing, 6); /* 7 local ones ongoing, one closed since; the received closed */
	const uint8_t *out;
	size_t outlen;
	struct d4_fed_counters dec;
	uint32_t nrec;
	int more;
	ck_assert_int_eq(d4_fed_source_next(src, pd, pos, 8, &out, &outlen, &dec, &nrec, &more), 0);
	ck_assert_uint_eq(nrec, 2);
	ck_assert_uint_eq(total(&dec, D4_FED_KIND_BACKSCATTER), 2);
	struct recs got;
	memset(&got, 0, sizeof(got));
	decode(out, outlen, D4_FED_KIND_BACKSCATTER, pos, 8, &got, NULL);
	ck_assert_ptr_nonnull(strstr(got.l[0], " st=2 "));
	ck_assert_ptr_nonnull(strstr(got.l[0], " p=40 "));
	ck_assert_ptr_nonnull(strstr(got.l[1], " st=2 "));
	ck_assert_ptr_nonnull(strstr(got.l[1], " p=45 "));
	recs_free(&got);
	/* a position that is not 8 bytes is refused */
	ck_assert_int_eq(d4_fed_source_next(src, pd, pos, 5, &out, &outlen, &dec, &nrec, &more), D4_EINVAL);

	d4_fed_source_free(src);
	for (int k = 0; k < 4; k++)
		free(all[k]);
	store_done(s);
}
END_TEST

/* ---- pdns ---- */

/* Aggregates pdns record lines ("prov rrname|type|rdata|bw|tf|tl|count")
 * into tuples "rrname|type|rdata|count|tf|tl", sorted. */

static void aggregate(const struct recs *in, struct recs *out)
{
	struct agg {
		char key[4200];
		unsigned long long c, tf, tl;
	} *a = calloc(in->n + 1, sizeof(*a));
	size_t n = 0;
	for (size_t i = 0; i < in->n; i++) {
		const char *t = strstr(in->l[i], " via=");
		t = strchr(t + 1, ' ') + 1;
		/* rrname|type|rdata|bw|tf|tl|count: split from the right */
		char buf[8192];
		d4_strlcpy(buf, t, sizeof(buf));
		char *p3 = strrchr(buf, '|');
		*p3 = 0;
		char *p2 = strrchr(buf, '|');
		*p2 = 0;
		char *p1 = strrchr(buf, '|');
		*p1 = 0;
		char *p0 = strrchr(buf, '|'); /* bailiwick */
		*p0 = 0;
		unsigned long long tf = strtoull(p1 + 1, NULL, 10), tl = strtoull(p2 + 1, NULL, 10),
				   c = strtoull(p3 + 1, NULL, 10);
		size_t j;
		for (j = 0; j < n && strcmp(a[j].key, buf); j++)
			;
		if (j == n) {
			d4_strlcpy(a[n].key, buf, sizeof(a[n].key));
			a[n].tf = tf;
			a[n].tl = tl;
			n++;
		}
		a[j].c += c;
		if (tf < a[j].tf)
			a[j].tf = tf;
		if (tl > a[j].tl)
			a[j].tl = tl;
	}
	for (size_t j = 0; j < n; j++) {
		char line[4400];
		snprintf(line, sizeof(line), "%s|%llu|%llu|%llu", a[j].key, a[j].c, a[j].tf, a[j].tl);
		recs_add(out, line);
	}
	if (out->n)
		qsort(out->l, out->n, sizeof(*out->l), cmpstr);
	free(a);
}

static int dump_cb(void *ctx, const struct d4_store_pdns_tuple *t)
{
	struct recs *r = ctx;
	char line[4400];
	snprintf(line, sizeof(line), "%.*s|%u|%.*s|%llu|%llu|%llu", (int)t->rrname_len, t->rrname, t->rrtype,
		 (int)t->rdata_len, t->rdata, (unsigned long long)t->count, (unsigned long long)t->time_first,
		 (unsigned long long)t->time_last);
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->l[i], line))
			return 0; /* the same tuple found under another query */
	recs_add(r, line);
	return 0;
}

/* Every tuple of the store whose name is one of the aggregated ones', and
 * the store's tuple count. */
static void store_tuples(struct d4_store *s, const struct recs *agg, struct recs *out, uint64_t *ntuples)
{
	for (size_t i = 0; i < agg->n; i++) {
		char name[1100];
		snprintf(name, sizeof(name), "%.*s", (int)(strchr(agg->l[i], '|') - agg->l[i]), agg->l[i]);
		struct d4_store_pdns_query q;
		memset(&q, 0, sizeof(q));
		q.kind = D4_PDNS_Q_NAME;
		q.name = name;
		q.max_tlp = D4_TLP_RED;
		struct d4_store_pdns_qresult res;
		ck_assert_int_eq(d4_store_pdns_query(s, &q, dump_cb, out, &res), 0);
	}
	if (out->n)
		qsort(out->l, out->n, sizeof(*out->l), cmpstr);
	struct d4_store_pdns_info info;
	ck_assert_int_eq(d4_store_pdns_info(s, &info), 0);
	*ntuples = info.tuples;
}

static const char extra_csv[] = "1795618270.5||127.0.0.1||127.0.0.2||IN||intra.example.test.||A||10.1.2.3||60||1\n"
				"1795618270.6||127.0.0.1||127.0.0.2||IN||web.example.test.||A||192.0.2.80||60||3\n";
static const char last_line[] = "1795618271.7||127.0.0.1||127.0.0.2||IN||fin.example.test.||A||192.0.2.77||60||1";

/* passivedns CSV in frames of a few bytes (lines cut across frames), one
 * stream with an unterminated last line ended by its sender, one red. */
static void pdns_log(struct d4_store *s, int with_red)
{
	size_t n1, n2;
	uint8_t *c1 = slurp("local-dns.passivedns-alltypes.csv", &n1);
	uint8_t *c2 = slurp("local-dns.passivedns-default.csv", &n2);
	memcpy(c1 + n1, extra_csv, sizeof(extra_csv) - 1);
	n1 += sizeof(extra_csv) - 1;
	memcpy(c2 + n2, last_line, sizeof(last_line) - 1);
	n2 += sizeof(last_line) - 1;
	struct sdef d1 = {D4_TLP_GREEN, NULL, 8, NULL, SENSOR_1};
	struct sdef d2 = {D4_TLP_CLEAR, ORG_1, 8, NULL, SENSOR_2};
	struct sdef d3 = {D4_TLP_RED, NULL, 8, NULL, SENSOR_3};
	struct sdef d4 = {D4_TLP_GREEN, NULL, 2, NULL, SENSOR_2}; /* not DNS */
	uint64_t s1 = sess_open(s, &d1), s2 = sess_open(s, &d2), s3 = with_red ? sess_open(s, &d3) : 0,
		 s4 = sess_open(s, &d4);
	static const size_t cuts[] = {7, 13, 3, 29};
	size_t i1 = 0, i2 = 0, k = 0;
	while (i1 < n1 || i2 < n2) {
		size_t c = cuts[k++ % 4];
		if (i1 < n1) {
			size_t m = c < n1 - i1 ? c : n1 - i1;
			frame(s, s1, &d1, c1 + i1, m, 0);
			if (s3)
				frame(s, s3, &d3, c1 + i1, m, 0);
			i1 += m;
		}
		if (i2 < n2) {
			size_t m = c < n2 - i2 ? c : n2 - i2;
			frame(s, s2, &d2, c2 + i2, m, 0);
			i2 += m;
		}
		if (k % 5 == 0)
			frame(s, s4, &d4, "not dns", 7, 0);
	}
	sess_close(s, s2, "peer closed (end of stream)");
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	free(c1);
	free(c2);
}

/* What the hub's own consumer stores from the same log. */
static void pdns_store_consumer(struct d4_store *s)
{
	struct d4_analyze_pdns *x = NULL;
	struct d4_analyze_pdns_opts po;
	memset(&po, 0, sizeof(po));
	ck_assert_int_eq(d4_analyze_pdns_new(s, &po, &x), 0);
	int idle = 0;
	ck_assert_int_ge(d4_analyze_pdns_step(x, 0, &idle), 0);
	ck_assert_int_eq(d4_analyze_pdns_maintain(x, d4_now_s(), 600), 0);
	ck_assert_int_ge(d4_analyze_pdns_step(x, 0, &idle), 0);
	d4_analyze_pdns_free(x);
}

static uint64_t store_observations(struct d4_store *s)
{
	uint64_t n = 0;
	struct d4_store_pdns_counters c;
	if (d4_store_pdns_counters_get(s, SENSOR_1, &c) == 0)
		n += c.observations;
	if (d4_store_pdns_counters_get(s, SENSOR_2, &c) == 0)
		n += c.observations;
	if (d4_store_pdns_counters_get(s, SENSOR_3, &c) == 0)
		n += c.observations;
	return n;
}

/* A same-org partner whose rule names the private range of the test line
 * gets every tuple the hub stores: the same tuples, counts and times. */
START_TEST(test_pdns_equal)
{
	struct d4_store *s = store_new();
	pdns_log(s, 0);
	struct d4_fed_self self = self_a();
	struct d4_partner *p = partner("b", 0xb1, ORG_1, D4_FED_REL_SAME_ORG, D4_TLP_AMBER_STRICT, 0);
	struct d4_partner_rule *r = &p->out[D4_FED_KIND_PDNS];
	ck_assert_int_eq(d4_fed_net_parse("10.1.0.0/16", &r->net_allow[0]), 0);
	ck_assert_int_eq(d4_fed_net_parse("0.0.0.0/0", &r->net_allow[1]), 0);
	ck_assert_int_eq(d4_fed_net_parse("::/0", &r->net_allow[2]), 0);
	r->n_net_allow = 3;
	struct d4_fed_source_opts o;
	memset(&o, 0, sizeof(o));
	o.self = &self;
	struct recs got, agg, want;
	memset(&got, 0, sizeof(got));
	memset(&agg, 0, sizeof(agg));
	memset(&want, 0, sizeof(want));
	struct d4_fed_counters sum;
	unsigned nb;
	uint8_t end[D4_FED_POS_MAX];
	size_t end_len = 0;
	run_all(s, NULL, &o, D4_FED_KIND_PDNS, p, &got, &sum, &nb, NULL, end, &end_len);
	aggregate(&got, &agg);
	pdns_store_consumer(s);
	uint64_t ntuples;
	store_tuples(s, &agg, &want, &ntuples);
	ck_assert_uint_eq(ntuples, agg.n);
	recs_eq(&agg, &want);
	/* the unterminated last line of the ended stream is there */
	int fin = 0;
	for (size_t i = 0; i < agg.n; i++)
		fin += !strncmp(agg.l[i], "fin.example.test.|1|192.0.2.77|1|", 33);
	ck_assert_int_eq(fin, 1);
	/* every observation decided once, all released */
	ck_assert_uint_eq(total(&sum, D4_FED_KIND_PDNS), store_observations(s));
	ck_assert_uint_eq(sum.n[D4_FED_KIND_PDNS][D4_FED_R_RELEASED], got.n);
	ck_assert_uint_eq(got.n, store_observations(s));
	/* lag: none at the end, every frame from the start */
	struct d4_fed_source *src = NULL;
	ck_assert_int_eq(d4_fed_source_new(s, &o, D4_FED_KIND_PDNS, &src), 0);
	uint64_t lr, ls;
	ck_assert_int_eq(d4_fed_source_lag(src, end, end_len, &lr, &ls), 0);
	ck_assert_uint_eq(lr, 0);
	ck_assert_uint_eq(ls, 0);
	struct d4_totals t;
	ck_assert_int_eq(d4_store_totals(s, &t), 0);
	ck_assert_int_eq(d4_fed_source_lag(src, NULL, 0, &lr, &ls), 0);
	ck_assert_uint_eq(lr, t.frames);
	ck_assert_uint_lt(ls, 600);
	d4_fed_source_free(src);
	recs_free(&got);
	recs_free(&agg);
	recs_free(&want);
	free(p);
	store_done(s);
}
END_TEST

/* pDNS decisions per reason, and batches cut inside consumer batches
 * (skip positions) that continue exactly, with one source and with a new
 * source per batch (the consumer run again from the cursor). */
START_TEST(test_pdns_cuts)
{
	struct d4_store *s = store_new();
	pdns_log(s, 1);
	pdns_store_consumer(s);
	uint64_t nobs = store_observations(s);
	struct d4_fed_self self = self_a();
	struct d4_partner *p = partner("c", 0xc1, ORG_2, D4_FED_REL_PARTNER, D4_TLP_GREEN, 0);
	struct d4_fed_source_opts o;
	memset(&o, 0, sizeof(o));
	o.self = &self;
	struct recs all;
	memset(&all, 0, sizeof(all));
	struct d4_fed_counters sum_all;
	unsigned nb;
	run_all(s, NULL, &o, D4_FED_KIND_PDNS, p, &all, &sum_all, &nb, NULL, NULL, NULL);
	/* the red stream's observations (its own sensor) */
	struct d4_store_pdns_counters c3;
	ck_assert_int_eq(d4_store_pdns_counters_get(s, SENSOR_3, &c3), 0);
	uint64_t red = c3.observations;
	ck_assert_uint_gt(red, 10);
	ck_assert_uint_eq(sum_all.n[1][D4_FED_R_TLP_RED], red);
	ck_assert_uint_eq(sum_all.n[1][D4_FED_R_RDATA_PRIVATE], 1);
	ck_assert_uint_eq(total(&sum_all, 1), nobs);
	ck_assert_uint_eq(sum_all.n[1][D4_FED_R_RELEASED], all.n);
	ck_assert_uint_eq(all.n, nobs - red - 1);

	static const size_t maxb[] = {4600, 5000, 6000};
	unsigned skips_seen = 0;
	for (size_t k = 0; k < sizeof(maxb) / sizeof(maxb[0]); k++)
		for (int fresh = 0; fresh < 2; fresh++) {
			struct d4_fed_source_opts oc = o;
			oc.max_bytes = maxb[k];
			struct d4_fed_source *src = NULL;
			if (!fresh)
				ck_assert_int_eq(d4_fed_source_new(s, &oc, D4_FED_KIND_PDNS, &src), 0);
			struct recs got;
			memset(&got, 0, sizeof(got));
			struct d4_fed_counters sum;
			unsigned nskips = 0;
			run_all(s, src, &oc, D4_FED_KIND_PDNS, p, &got, &sum, &nb, &nskips, NULL, NULL);
			ck_assert_uint_ge(nb, 2);
			skips_seen += nskips;
			recs_eq(&got, &all);
			ck_assert_mem_eq(&sum, &sum_all, sizeof(sum));
			recs_free(&got);
			d4_fed_source_free(src);
		}
	ck_assert_uint_gt(skips_seen, 0);
	struct d4_fed_source_opts orr = o;
	orr.max_records = 5;
	struct recs got;
	memset(&got, 0, sizeof(got));
	struct d4_fed_counters sum;
	unsigned nskips = 0;
	run_all(s, NULL, &orr, D4_FED_KIND_PDNS, p, &got, &sum, &nb, &nskips, NULL, NULL);
	ck_assert_uint_gt(nskips, 0);
	recs_eq(&got, &all);
	ck_assert_mem_eq(&sum, &sum_all, sizeof(sum));
	recs_free(&got);

	/* a skip position: the same consumer batch with its first k decided */
	struct d4_fed_source *src = NULL;
	ck_assert_int_eq(d4_fed_source_new(s, &o, D4_FED_KIND_PDNS, &src), 0);
	uint8_t pos[4] = {0, 0, 0, 0};
	for (uint32_t skip = 0; skip < 40; skip += 13) {
		d4_put_u32be(pos, skip);
		const uint8_t *out;
		size_t outlen;
		struct d4_fed_counters dec;
		uint32_t nrec;
		int more;
		ck_assert_int_eq(d4_fed_source_next(src, p, pos, 4, &out, &outlen, &dec, &nrec, &more), 0);
		ck_assert_uint_eq(total(&dec, 1), nobs - skip);
	}
	d4_fed_source_free(src);
	recs_free(&all);
	free(p);
	store_done(s);
}
END_TEST

/* The log grows while batches are taken, each by a new source (the
 * consumer run again from the position's cursor every time), in batches
 * small enough to be cut inside consumer batches and around the last lines
 * of ended streams: in the end the partner holds exactly what the hub's
 * own consumer stores. */
START_TEST(test_pdns_growing)
{
	struct d4_store *s = store_new();
	pdns_log(s, 0);
	/* a second stream ended by its sender with an unterminated last line */
	size_t n5;
	uint8_t *c5 = slurp("dpkt-http.passivedns.csv", &n5);
	static const char last5[] = "1795618272.1||127.0.0.1||127.0.0.2||IN||fin5.example.test.||A||192.0.2.55||60||1";
	memcpy(c5 + n5, last5, sizeof(last5) - 1);
	n5 += sizeof(last5) - 1;
	struct sdef d5 = {D4_TLP_GREEN, NULL, 8, NULL, SENSOR_2};
	uint64_t s5 = sess_open(s, &d5);
	frame(s, s5, &d5, c5, n5, 0);
	sess_close(s, s5, "peer closed (end of stream)");
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	free(c5);
	struct sdef d6 = {D4_TLP_CLEAR, NULL, 8, NULL, SENSOR_1};
	uint64_t s6 = sess_open(s, &d6);
	struct d4_fed_self self = self_a();
	struct d4_partner *p = partner("b", 0xb1, ORG_1, D4_FED_REL_SAME_ORG, D4_TLP_AMBER_STRICT, 0);
	struct d4_partner_rule *r = &p->out[D4_FED_KIND_PDNS];
	ck_assert_int_eq(d4_fed_net_parse("10.1.0.0/16", &r->net_allow[0]), 0);
	ck_assert_int_eq(d4_fed_net_parse("0.0.0.0/0", &r->net_allow[1]), 0);
	ck_assert_int_eq(d4_fed_net_parse("::/0", &r->net_allow[2]), 0);
	r->n_net_allow = 3;
	struct d4_fed_source_opts o;
	memset(&o, 0, sizeof(o));
	o.self = &self;
	o.max_bytes = 4600;
	uint8_t from[D4_FED_POS_MAX];
	size_t from_len = 0;
	struct recs got;
	memset(&got, 0, sizeof(got));
	struct d4_fed_counters sum;
	memset(&sum, 0, sizeof(sum));
	unsigned added = 0, idle = 0;
	for (int guard = 0; guard < 10000 && idle < 2; guard++) {
		struct d4_fed_source *src = NULL;
		ck_assert_int_eq(d4_fed_source_new(s, &o, D4_FED_KIND_PDNS, &src), 0);
		const uint8_t *out;
		size_t outlen;
		struct d4_fed_counters dec;
		uint32_t nrec;
		int more;
		ck_assert_int_eq(d4_fed_source_next(src, p, from, from_len, &out, &outlen, &dec, &nrec, &more), 0);
		struct d4_fed_batch_hdr h;
		decode(out, outlen, D4_FED_KIND_PDNS, from, from_len, &got, &h);
		counters_add(&sum, &dec);
		memcpy(from, h.to, h.to_len);
		from_len = h.to_len;
		d4_fed_source_free(src);
		/* one more line after every batch, for a while, some cut in two */
		if (added < 30) {
			char line[160];
			int n = snprintf(
			    line, sizeof(line),
			    "1795618280.%u||127.0.0.1||127.0.0.2||IN||g%u.example.test.||A||192.0.2.%u||60||1\n", added,
			    added % 7, added % 5);
			if (added % 3 == 0) {
				frame(s, s6, &d6, line, 10, 0);
				frame(s, s6, &d6, line + 10, (size_t)n - 10, 0);
			} else {
				frame(s, s6, &d6, line, (size_t)n, 0);
			}
			ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
			added++;
			idle = 0;
		} else if (!more) {
			idle++;
		}
	}
	ck_assert_uint_eq(added, 30);
	struct recs agg, want;
	memset(&agg, 0, sizeof(agg));
	memset(&want, 0, sizeof(want));
	aggregate(&got, &agg);
	pdns_store_consumer(s);
	uint64_t ntuples;
	store_tuples(s, &agg, &want, &ntuples);
	if (getenv("FEDSRC_DEBUG")) {
		for (size_t i = 0; i < agg.n; i++)
			fprintf(stderr, "got  %s\n", agg.l[i]);
		for (size_t i = 0; i < want.n; i++)
			fprintf(stderr, "want %s\n", want.l[i]);
	}
	ck_assert_uint_eq(ntuples, agg.n);
	recs_eq(&agg, &want);
	ck_assert_uint_eq(total(&sum, D4_FED_KIND_PDNS), store_observations(s));
	ck_assert_uint_eq(got.n, store_observations(s));
	recs_free(&got);
	recs_free(&agg);
	recs_free(&want);
	free(p);
	store_done(s);
}
END_TEST

/* ---- mixing (docs/federation.md "Mixing before sharing") ---- */

static uint64_t g_clock;
static uint64_t test_clock(void *arg)
{
	(void)arg;
	return g_clock;
}

static uint64_t g_rng;
static unsigned rnd(unsigned n)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return n ? (unsigned)(g_rng % n) : 0;
}

struct tseen {
	const char *rdata;
	uint64_t count;
	uint32_t sensors;
};

static int tseen_cb(void *ctx, const struct d4_store_pdns_tuple *t)
{
	struct tseen *ts = ctx;
	if (t->rdata_len == strlen(ts->rdata) && !memcmp(t->rdata, ts->rdata, t->rdata_len)) {
		ts->count += t->count;
		if (t->sensor_count > ts->sensors)
			ts->sensors = t->sensor_count;
	}
	return 0;
}

/* What the hub's tuple store holds of a tuple (the test's own lookup). */
static void store_seen(struct d4_store *s, const char *rrname, uint16_t rrtype, const char *rdata, uint64_t *count,
		       uint32_t *sensors)
{
	struct d4_store_pdns_query q;
	memset(&q, 0, sizeof(q));
	q.kind = D4_PDNS_Q_NAME;
	q.name = rrname;
	q.rrtype = rrtype;
	q.max_tlp = D4_TLP_RED;
	struct tseen ts = {rdata, 0, 0};
	struct d4_store_pdns_qresult res;
	ck_assert_int_eq(d4_store_pdns_query(s, &q, tseen_cb, &ts, &res), 0);
	*count = ts.count;
	*sensors = ts.sensors;
}

/* A released tuple as the partner got it, from a decoded line. */
struct mrec {
	char sensor[33];
	char rrname[300];
	unsigned rrtype;
	char rdata[300];
	unsigned long long tf, tl, count;
};

static void mrec_parse(const char *line, struct mrec *m)
{
	memset(m, 0, sizeof(*m));
	const char *sp = strstr(line, " s=");
	ck_assert_ptr_nonnull(sp);
	memcpy(m->sensor, sp + 3, 32);
	m->sensor[sp[3] == '-' ? 1 : 32] = 0;
	const char *v = strstr(line, " via=");
	ck_assert_ptr_nonnull(v);
	const char *t = strchr(v + 1, ' ');
	ck_assert_ptr_nonnull(t);
	/* rrname|rrtype|rdata|bailiwick|tf|tl|count; the bailiwick may be empty */
	const char *f[7];
	size_t fl[7];
	const char *c = t + 1;
	for (int i = 0; i < 7; i++) {
		const char *e = i < 6 ? strchr(c, '|') : c + strlen(c);
		ck_assert_ptr_nonnull(e);
		f[i] = c;
		fl[i] = (size_t)(e - c);
		c = e + 1;
	}
	ck_assert_uint_lt(fl[0], sizeof(m->rrname));
	ck_assert_uint_lt(fl[2], sizeof(m->rdata));
	memcpy(m->rrname, f[0], fl[0]);
	memcpy(m->rdata, f[2], fl[2]);
	m->rrtype = (unsigned)strtoul(f[1], NULL, 10);
	m->tf = strtoull(f[4], NULL, 10);
	m->tl = strtoull(f[5], NULL, 10);
	m->count = strtoull(f[6], NULL, 10);
}

/* The reverse name's address text, or "" when it is none ("5.1.1.10.in-addr.arpa." -> "10.1.1.5"). */
static void rev_addr(const char *name, char *out)
{
	unsigned a, b, c, d;
	char tail[64];
	out[0] = 0;
	if (sscanf(name, "%u.%u.%u.%u.%63s", &d, &c, &b, &a, tail) == 5 && !strcmp(tail, "in-addr.arpa."))
		sprintf(out, "%u.%u.%u.%u", a, b, c, d);
}

static int in_net(const char *addr, const char *cidr)
{
	struct d4_partner_net n, a;
	ck_assert_int_eq(d4_fed_net_parse(cidr, &n), 0);
	if (d4_fed_net_parse(addr, &a) != 0 || a.family != n.family)
		return 0;
	unsigned full = n.prefix / 8, rest = n.prefix % 8;
	if (memcmp(n.addr, a.addr, full))
		return 0;
	return !rest || !((n.addr[full] ^ a.addr[full]) & (0xff << (8 - rest)));
}

/* Property: over random passivedns lines (clients in 198.51.100.0/24 and
 * 2001:db8:c1::/48, resolver 203.0.113.53, rdata public, private or in the
 * hub's own network, reverse names of private and public addresses, three
 * sensors) and random mixes, what a partner receives never holds a client
 * or resolver address, a private or own rdata or reverse name that no
 * allow entry names, or a tuple the hub's store has seen fewer than
 * min_sensors sensors and fewer than min_count times; times are multiples
 * of coarsen_s, the sensor is the pool id when pooled; every observation is
 * decided once. D4_FED_SEED=<seed> replays a run. */
START_TEST(test_pdns_mix_property)
{
	const char *env = getenv("D4_FED_SEED");
	g_rng = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) * 2654435761u + (uint64_t)getpid();
	if (!g_rng)
		g_rng = 1;
	fprintf(stderr, "test_pdns_mix_property: D4_FED_SEED=%llu\n", (unsigned long long)g_rng);
	struct d4_store *s = store_new();
	const uint8_t *sensors[3] = {SENSOR_1, SENSOR_2, SENSOR_3};
	struct sdef d[3];
	uint64_t sid[3];
	for (int i = 0; i < 3; i++) {
		d[i] = (struct sdef){D4_TLP_CLEAR, NULL, 8, NULL, sensors[i]};
		sid[i] = sess_open(s, &d[i]);
	}
	static const char *names[] = {"a.mix.test.", "b.mix.test.", "c.mix.test.", "www.mix.test.", "mail.mix.test."};
	static const char *ptrs[] = {"5.1.1.10.in-addr.arpa.", "7.0.168.192.in-addr.arpa.", "9.2.0.192.in-addr.arpa.",
				     "3.0.2.192.in-addr.arpa."};
	unsigned nlines = 700;
	for (unsigned i = 0; i < nlines; i++) {
		char client[64], rdata[64], line[512];
		const char *name, *type;
		if (rnd(2))
			snprintf(client, sizeof(client), "198.51.100.%u", 1 + rnd(200));
		else
			snprintf(client, sizeof(client), "2001:db8:c1::%x", 1 + rnd(200));
		unsigned k = rnd(10);
		if (k < 7) {
			name = names[rnd(5)];
			type = "A";
			static const char *pfx[] = {"192.0.2", "10.1.2", "192.168.7", "100.64.1"};
			/* 192.0.2.0/28 is the hub's own network in some rounds */
			snprintf(rdata, sizeof(rdata), "%s.%u", pfx[rnd(4)], rnd(3) ? 16 + rnd(4) : rnd(4));
		} else if (k < 9) {
			name = names[rnd(5)];
			type = "AAAA";
			static const char *pfx6[] = {"2001:db8:aa", "fe80:", "fd00:"};
			snprintf(rdata, sizeof(rdata), "%s::%x", pfx6[rnd(3)], 1 + rnd(3));
		} else {
			name = ptrs[rnd(4)];
			type = "PTR";
			snprintf(rdata, sizeof(rdata), "host%u.mix.test.", rnd(2));
		}
		snprintf(line, sizeof(line), "%u.%u||%s||203.0.113.53||IN||%s||%s||%s||60||%u\n",
			 1795000000 + rnd(86400), rnd(10), client, name, type, rdata, 1 + rnd(3));
		int w = (int)rnd(3);
		frame(s, sid[w], &d[w], line, strlen(line), 0);
	}
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	pdns_store_consumer(s);
	uint64_t nobs = store_observations(s);
	ck_assert_uint_eq(nobs, nlines);

	uint64_t released = 0, below = 0, priv = 0, rrpriv = 0, own = 0;
	for (unsigned round = 0; round < 30; round++) {
		struct d4_fed_self self = self_a();
		struct d4_partner_net ownnet;
		ck_assert_int_eq(d4_fed_net_parse("192.0.2.0/28", &ownnet), 0);
		int with_own = (int)rnd(2);
		if (with_own) {
			self.own_nets = &ownnet;
			self.n_own_nets = 1;
		}
		struct d4_partner *p = partner("b", 0xb0, ORG_1, D4_FED_REL_SAME_ORG, D4_TLP_GREEN, 0);
		p->out[0].enabled = 0;
		struct d4_partner_rule *rule = &p->out[1];
		int named10 = (int)rnd(2);
		if (named10) {
			ck_assert_int_eq(d4_fed_net_parse("10.1.0.0/16", &rule->net_allow[0]), 0);
			ck_assert_int_eq(d4_fed_net_parse("0.0.0.0/0", &rule->net_allow[1]), 0);
			ck_assert_int_eq(d4_fed_net_parse("::/0", &rule->net_allow[2]), 0);
			rule->n_net_allow = 3;
		}
		struct d4_partner_mix *m = &rule->mix;
		m->enabled = rnd(5) != 0;
		m->min_sensors = (uint16_t)rnd(4);
		m->min_count = rnd(3) ? rnd(40) : 0;
		static const uint32_t coarse[] = {0, 60, 3600};
		m->coarsen_s = coarse[rnd(3)];
		m->pool_sensors = (uint8_t)rnd(2);
		if (rnd(2))
			m->pool[0] = 0x77;
		uint8_t pool[16];
		d4_fed_mix_pool(&self, rule, pool);
		char poolhex[33];
		hex(poolhex, pool, 16);
		struct d4_fed_source_opts o;
		memset(&o, 0, sizeof(o));
		o.self = &self;
		o.max_records = 1 + rnd(300);
		o.now = test_clock;
		g_clock = d4_now_s();
		struct recs r;
		memset(&r, 0, sizeof(r));
		struct d4_fed_counters sum;
		unsigned nb;
		run_all(s, NULL, &o, D4_FED_KIND_PDNS, p, &r, &sum, &nb, NULL, NULL, NULL);
		ck_assert_uint_eq(total(&sum, D4_FED_KIND_PDNS), nobs);
		ck_assert_uint_eq(sum.n[1][D4_FED_R_RELEASED], r.n);
		released += r.n;
		below += sum.n[1][D4_FED_R_MIX_THRESHOLD];
		priv += sum.n[1][D4_FED_R_RDATA_PRIVATE];
		rrpriv += sum.n[1][D4_FED_R_RRNAME_PRIVATE];
		own += sum.n[1][D4_FED_R_OWN_NETWORK];
		if (!m->enabled)
			ck_assert_uint_eq(sum.n[1][D4_FED_R_MIX_THRESHOLD], 0);
		for (size_t i = 0; i < r.n; i++) {
			const char *line = r.l[i];
			ck_assert_msg(!strstr(line, "198.51.100.") && !strstr(line, "2001:db8:c1:") &&
					  !strstr(line, "203.0.113."),
				      "a client or resolver address left: %s", line);
			struct mrec mr;
			mrec_parse(line, &mr);
			char ra[64];
			rev_addr(mr.rrname, ra);
			const char *addr = (mr.rrtype == 1 || mr.rrtype == 28) ? mr.rdata : ra;
			if (addr[0]) {
				int special = d4_fed_addr_special(addr);
				ck_assert_int_ge(special, 0);
				int named = named10 && in_net(addr, "10.1.0.0/16");
				ck_assert_msg(!special || named, "private address left: %s", line);
				ck_assert_msg(!with_own || !in_net(addr, "192.0.2.0/28"), "own address left: %s", line);
			}
			if (m->enabled && (m->min_sensors || m->min_count)) {
				uint64_t cnt;
				uint32_t sens;
				store_seen(s, mr.rrname, (uint16_t)mr.rrtype, mr.rdata, &cnt, &sens);
				ck_assert_msg((m->min_sensors && sens >= m->min_sensors) ||
						  (m->min_count && cnt >= m->min_count),
					      "below its thresholds (k %u, n %u; seen by %u, %llu times): %s",
					      m->min_sensors, m->min_count, sens, (unsigned long long)cnt, line);
			}
			if (m->enabled && m->coarsen_s)
				ck_assert(mr.tf % m->coarsen_s == 0 && mr.tl % m->coarsen_s == 0);
			if (m->enabled && m->pool_sensors)
				ck_assert_str_eq(mr.sensor, poolhex);
			else
				ck_assert_str_ne(mr.sensor, poolhex);
		}
		recs_free(&r);
		free(p);
	}
	/* the run exercised both sides of every rule */
	ck_assert_uint_gt(released, 0);
	ck_assert_uint_gt(below, 0);
	ck_assert_uint_gt(priv, 0);
	ck_assert_uint_gt(rrpriv, 0);
	ck_assert_uint_gt(own, 0);
	store_done(s);
}
END_TEST

/* The hold-back: an observation goes only delay_s after its time; the
 * position stops before the first one held (nothing decided past it, the
 * batch says no more), and the rest goes once the clock has passed. */
START_TEST(test_pdns_mix_hold)
{
	struct d4_store *s = store_new();
	struct sdef d = {D4_TLP_CLEAR, NULL, 8, NULL, SENSOR_1};
	uint64_t sid = sess_open(s, &d);
	const uint64_t T = 1795000000;
	char line[256];
	for (unsigned i = 0; i < 6; i++) {
		snprintf(line, sizeof(line),
			 "%llu.0||198.51.100.7||203.0.113.53||IN||h%u.mix.test.||A||192.0.2.%u||60||1\n",
			 (unsigned long long)(T + (i < 4 ? 0 : 1000)), i, 40 + i);
		frame(s, sid, &d, line, strlen(line), 0);
	}
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	struct d4_fed_self self = self_a();
	struct d4_partner *p = partner("b", 0xb0, ORG_1, D4_FED_REL_SAME_ORG, D4_TLP_GREEN, 0);
	p->out[1].mix = (struct d4_partner_mix){.enabled = 1, .delay_s = 600};
	struct d4_fed_source_opts o;
	memset(&o, 0, sizeof(o));
	o.self = &self;
	o.now = test_clock;
	struct d4_fed_source *src;
	ck_assert_int_eq(d4_fed_source_new(s, &o, D4_FED_KIND_PDNS, &src), 0);
	const uint8_t *out;
	size_t outlen;
	struct d4_fed_counters dec;
	uint32_t nrec;
	int more;
	struct d4_fed_batch_hdr h;
	struct recs r;
	memset(&r, 0, sizeof(r));
	/* every one too young: nothing decided, the start stays */
	g_clock = T + 599;
	ck_assert_int_eq(d4_fed_source_next(src, p, NULL, 0, &out, &outlen, &dec, &nrec, &more), 0);
	decode(out, outlen, D4_FED_KIND_PDNS, NULL, 0, &r, &h);
	ck_assert_uint_eq(nrec, 0);
	ck_assert_uint_eq(total(&dec, 1), 0);
	ck_assert_int_eq(more, 0);
	ck_assert_uint_eq(h.to_len, 0);
	/* the first four are old enough, the last two wait */
	g_clock = T + 600;
	ck_assert_int_eq(d4_fed_source_next(src, p, NULL, 0, &out, &outlen, &dec, &nrec, &more), 0);
	decode(out, outlen, D4_FED_KIND_PDNS, NULL, 0, &r, &h);
	ck_assert_uint_eq(nrec, 4);
	ck_assert_uint_eq(dec.n[1][D4_FED_R_RELEASED], 4);
	ck_assert_int_eq(more, 0);
	uint8_t pos[D4_FED_POS_MAX];
	size_t pos_len = h.to_len;
	memcpy(pos, h.to, pos_len);
	ck_assert_uint_eq(d4_get_u32be(pos + pos_len - 4), 4);
	/* again from there, still too early: nothing, the position stays */
	ck_assert_int_eq(d4_fed_source_next(src, p, pos, pos_len, &out, &outlen, &dec, &nrec, &more), 0);
	decode(out, outlen, D4_FED_KIND_PDNS, pos, pos_len, &r, &h);
	ck_assert_uint_eq(nrec, 0);
	ck_assert_uint_eq(h.to_len, pos_len);
	ck_assert_mem_eq(h.to, pos, pos_len);
	/* later: the rest, from a new source (as after a restart) */
	d4_fed_source_free(src);
	ck_assert_int_eq(d4_fed_source_new(s, &o, D4_FED_KIND_PDNS, &src), 0);
	g_clock = T + 1600;
	ck_assert_int_eq(d4_fed_source_next(src, p, pos, pos_len, &out, &outlen, &dec, &nrec, &more), 0);
	decode(out, outlen, D4_FED_KIND_PDNS, pos, pos_len, &r, &h);
	ck_assert_uint_eq(nrec, 2);
	ck_assert_uint_eq(r.n, 6);
	for (unsigned i = 0; i < 6; i++) {
		char want[64];
		snprintf(want, sizeof(want), " h%u.mix.test.|1|192.0.2.%u|", i, 40 + i);
		ck_assert_msg(strstr(r.l[i], want), "%s", r.l[i]);
	}
	/* without a mix nothing is held */
	p->out[1].mix.enabled = 0;
	g_clock = T;
	ck_assert_int_eq(d4_fed_source_next(src, p, NULL, 0, &out, &outlen, &dec, &nrec, &more), 0);
	ck_assert_uint_eq(nrec, 6);
	recs_free(&r);
	d4_fed_source_free(src);
	free(p);
	store_done(s);
}
END_TEST

/* Backscatter: vectors below min_packets or min_duration_s are withheld
 * and counted per reason; what goes has coarse times, the pool id as its
 * one sensor and no sensors_more; a vector written less than delay_s ago
 * waits, and goes again once it grew past the thresholds. */
START_TEST(test_backscatter_mix)
{
	struct d4_store *s = store_new();
	struct d4_store_bs_vec v[6];
	static const uint64_t packets[6] = {50, 99, 100, 400, 5000, 120};
	for (unsigned i = 0; i < 6; i++)
		v[i] = bs_vec(i, D4_TLP_CLEAR, NULL, 1, packets[i]);
	v[5].last_us = v[5].first_us + 30000000ull; /* 120 packets in 30 s */
	v[4].sensors_more = 1;
	bs_apply(s, v, 6);
	struct d4_fed_self self = self_a();
	struct d4_partner *p = partner("b", 0xb0, ORG_1, D4_FED_REL_SAME_ORG, D4_TLP_GREEN, 0);
	p->out[2].enabled = 1;
	p->out[2].max_tlp = D4_TLP_GREEN;
	d4_fed_mix_defaults(D4_FED_KIND_BACKSCATTER, &p->out[2].mix);
	ck_assert_uint_eq(p->out[2].mix.min_packets, 100);
	ck_assert_uint_eq(p->out[2].mix.min_duration_s, 60);
	ck_assert_uint_eq(p->out[2].mix.delay_s, 300);
	struct d4_fed_source_opts o;
	memset(&o, 0, sizeof(o));
	o.self = &self;
	o.now = test_clock;
	struct d4_fed_source *src;
	ck_assert_int_eq(d4_fed_source_new(s, &o, D4_FED_KIND_BACKSCATTER, &src), 0);
	const uint8_t *out;
	size_t outlen;
	struct d4_fed_counters dec;
	uint32_t nrec;
	int more;
	struct d4_fed_batch_hdr h;
	struct recs r;
	memset(&r, 0, sizeof(r));
	g_clock = d4_now_s(); /* just written: held */
	ck_assert_int_eq(d4_fed_source_next(src, p, NULL, 0, &out, &outlen, &dec, &nrec, &more), 0);
	ck_assert_uint_eq(nrec, 0);
	ck_assert_uint_eq(total(&dec, 2), 0);
	ck_assert_int_eq(more, 0);
	g_clock += 400;
	ck_assert_int_eq(d4_fed_source_next(src, p, NULL, 0, &out, &outlen, &dec, &nrec, &more), 0);
	decode(out, outlen, D4_FED_KIND_BACKSCATTER, NULL, 0, &r, &h);
	ck_assert_uint_eq(nrec, 3);
	ck_assert_uint_eq(dec.n[2][D4_FED_R_RELEASED], 3);
	ck_assert_uint_eq(dec.n[2][D4_FED_R_MIX_PACKETS], 2);
	ck_assert_uint_eq(dec.n[2][D4_FED_R_MIX_DURATION], 1);
	uint8_t pool[16];
	d4_fed_mix_pool(&self, &p->out[2], pool);
	char poolhex[33], want[64];
	hex(poolhex, pool, 16);
	snprintf(want, sizeof(want), "ns=1 s=%s ", poolhex);
	for (size_t i = 0; i < r.n; i++) {
		ck_assert_msg(strstr(r.l[i], want), "%s", r.l[i]);
		ck_assert_msg(strstr(r.l[i], "flags=1100"), "%s", r.l[i]);
		unsigned long long f, l;
		const char *t = strstr(r.l[i], " st=");
		ck_assert_ptr_nonnull(t);
		ck_assert_int_eq(sscanf(t, " st=%*u f=%llu l=%llu", &f, &l), 2);
		ck_assert_uint_eq(f % 3600000000ull, 0);
		ck_assert_uint_eq(l % 3600000000ull, 0);
	}
	uint8_t pos[8];
	memcpy(pos, h.to, 8);
	/* the 50-packet vector grows past the threshold: it goes, once held */
	v[0].packets = 150;
	v[0].ports[0].packets = 150;
	v[0].last_us = v[0].first_us + 150000000ull;
	v[0].updates = 2;
	bs_apply(s, v, 1);
	g_clock = d4_now_s() + 10;
	ck_assert_int_eq(d4_fed_source_next(src, p, pos, 8, &out, &outlen, &dec, &nrec, &more), 0);
	ck_assert_uint_eq(nrec, 0);
	g_clock += 400;
	ck_assert_int_eq(d4_fed_source_next(src, p, pos, 8, &out, &outlen, &dec, &nrec, &more), 0);
	ck_assert_uint_eq(nrec, 1);
	ck_assert_uint_eq(dec.n[2][D4_FED_R_RELEASED], 1);
	recs_free(&r);
	d4_fed_source_free(src);
	free(p);
	store_done(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *su = suite_create("fed_source");
	TCase *tc = tcase_create("source");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_frames_policy);
	tcase_add_test(tc, test_frames_cuts);
	tcase_add_test(tc, test_frames_lag);
	tcase_add_test(tc, test_frames_scope);
	tcase_add_test(tc, test_own_records_signed_with_key_exchange);
	tcase_add_test(tc, test_frames_received);
	tcase_add_test(tc, test_backscatter);
	tcase_add_test(tc, test_pdns_equal);
	tcase_add_test(tc, test_pdns_cuts);
	tcase_add_test(tc, test_pdns_growing);
	tcase_add_test(tc, test_pdns_mix_property);
	tcase_add_test(tc, test_pdns_mix_hold);
	tcase_add_test(tc, test_backscatter_mix);
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
