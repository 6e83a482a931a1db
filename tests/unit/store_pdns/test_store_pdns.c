/* Check suite for the passive-DNS tuple store (hub/store/store_pdns.c): real
 * LMDB environments under a mkdtemp dir; every query form is compared with
 * a brute-force answer computed here, independently, over a generated set. */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_reader.h"
#include "d4_store.h"
#include "d4_store_pdns.h"
#include "store_internal.h"
#include "store_pdns_internal.h"

#include <arpa/inet.h>
#include <check.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];
static char storedir[300];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void setup(void)
{
	const char *lv = getenv("D4_TEST_LOG");
	enum d4_log_level level = D4_LOG_ERR;
	if (lv)
		d4_log_level_parse(lv, &level);
	d4_log_init("test_store_pdns", 0, level);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/d4pdns-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(storedir, sizeof(storedir), "%s/store", tmpdir);
}

static void teardown(void)
{
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* The pDNS layout a new store takes: the suite runs once per layout
 * (CMakeLists.txt); tests of one layout's own tables say which. */
static int test_layout(void)
{
	const char *l = getenv("D4_TEST_PDNS_LAYOUT");
	return l && !strcmp(l, "id") ? D4_STORE_PDNS_LAYOUT_ID : D4_STORE_PDNS_LAYOUT_S4;
}

static struct d4_store_opts base_opts(void)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.pdns_layout = test_layout();
	o.path = storedir;
	o.map_size = 1024u << 20;
	o.no_sync = 1;
	return o;
}

static struct d4_store *open_store(const struct d4_store_opts *o)
{
	struct d4_store *s = NULL;
	ck_assert_int_eq(d4_store_open(o, &s), 0);
	return s;
}

/* ---- deterministic random ---- */
static uint64_t rng_state;
static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}
static unsigned rndn(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* ---- model ---- */
struct mt {
	char *name;
	uint16_t type;
	char *rdata;
	size_t rdlen;
	char *bw;
	uint64_t tf, tl, count;
	uint8_t tlp;
	uint8_t org[16];
	int org_mixed, org_set;
	int seen; /* observations applied */
	int removed;
};

static struct mt *M;
static size_t NM;

static int mt_cmp(const char *na, uint16_t ta, const char *ra, size_t la, const char *nb, uint16_t tb, const char *rb,
		  size_t lb)
{
	int c = strcmp(na, nb);
	if (c)
		return c;
	if (ta != tb)
		return ta < tb ? -1 : 1;
	c = memcmp(ra, rb, la < lb ? la : lb);
	if (c)
		return c;
	return la < lb ? -1 : la > lb;
}

static int mt_qsort(const void *a, const void *b)
{
	const struct mt *x = a, *y = b;
	return mt_cmp(x->name, x->type, x->rdata, x->rdlen, y->name, y->type, y->rdata, y->rdlen);
}

static long mt_find(const char *n, uint16_t t, const char *r, size_t rl)
{
	size_t lo = 0, hi = NM;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = mt_cmp(M[mid].name, M[mid].type, M[mid].rdata, M[mid].rdlen, n, t, r, rl);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static const char *const vocab[] = {"a", "b", "www", "mail", "ns1", "cdn", "x1", "example", "test", "corp", "api", "m"};
static const char *const tlds[] = {"com", "org", "lu", "net"};

static char *gen_name(void)
{
	char b[1200];
	size_t o = 0;
	unsigned depth = 1 + rndn(rndn(8) == 0 ? 7 : 4);
	int longn = rndn(200) == 0;
	for (unsigned i = 0; i < depth; i++) {
		if (longn) {
			for (int j = 0; j < 60; j++)
				b[o++] = (char)('a' + rndn(26));
		} else {
			const char *l = vocab[rndn(sizeof(vocab) / sizeof(vocab[0]))];
			memcpy(b + o, l, strlen(l));
			o += strlen(l);
		}
		b[o++] = '.';
	}
	if (longn) /* deeper than the key cut */
		for (int r = 0; r < 2; r++) {
			for (int j = 0; j < 60; j++)
				b[o++] = (char)('a' + rndn(26));
			b[o++] = '.';
		}
	const char *t = tlds[rndn(4)];
	memcpy(b + o, t, strlen(t));
	o += strlen(t);
	b[o++] = '.';
	b[o] = 0;
	return strdup(b);
}

static const uint16_t gen_types[] = {1, 1, 1, 28, 28, 2, 5, 15, 33, 12, 6, 16, 16};

static void gen_tuple(struct mt *t)
{
	char b[4096];
	memset(t, 0, sizeof(*t));
	t->name = gen_name();
	t->type = gen_types[rndn(sizeof(gen_types) / sizeof(gen_types[0]))];
	char *n2 = gen_name();
	switch (t->type) {
	case 1: snprintf(b, sizeof(b), "10.%u.%u.%u", rndn(3), rndn(4), rndn(256)); break;
	case 28: snprintf(b, sizeof(b), "2001:db8:%x:%x::%x", rndn(3), rndn(4), rndn(65536)); break;
	case 2:
	case 5:
	case 12: snprintf(b, sizeof(b), "%s", n2); break;
	case 15: snprintf(b, sizeof(b), "%u %s", rndn(50), n2); break;
	case 33: snprintf(b, sizeof(b), "%u %u %u %s", rndn(5), rndn(5), rndn(65536), n2); break;
	case 6: snprintf(b, sizeof(b), "%s hostmaster.%s %u 7200 3600 1209600 300", n2, n2, rndn(100000)); break;
	default: { /* TXT, sometimes far longer than a key, two strings */
		unsigned len = rndn(4) == 0 ? 300 + rndn(3000) : 1 + rndn(40);
		size_t o = 0;
		b[o++] = '"';
		for (unsigned i = 0; i < len; i++)
			b[o++] = (char)('A' + rndn(52));
		b[o++] = '"';
		if (rndn(2))
			o += (size_t)snprintf(b + o, 20, " \"second\"");
		b[o] = 0;
	}
	}
	free(n2);
	t->rdata = strdup(b);
	t->rdlen = strlen(b);
	if (rndn(2)) {
		const char *dot = strchr(t->name, '.');
		t->bw = strdup(dot && dot[1] ? dot + 1 : t->name);
	}
}

static uint8_t sensors[12][16], orgs[3][16];

static void model_free(void)
{
	for (size_t i = 0; i < NM; i++) {
		free(M[i].name);
		free(M[i].rdata);
		free(M[i].bw);
	}
	free(M);
	M = NULL;
	NM = 0;
}

/* Generates ~n unique tuples and applies 1..3 observations each (shuffled,
 * in batches), keeping the expected merge in M. */
static void build_dataset(struct d4_store *s, size_t n, uint64_t seed)
{
	rng_state = seed;
	for (int i = 0; i < 12; i++)
		for (int j = 0; j < 16; j++)
			sensors[i][j] = (uint8_t)(i * 16 + j + 1);
	for (int i = 0; i < 3; i++)
		memset(orgs[i], 0xa0 + i, 16);
	M = calloc(n, sizeof(*M));
	ck_assert_ptr_nonnull(M);
	for (size_t i = 0; i < n; i++)
		gen_tuple(&M[i]);
	qsort(M, n, sizeof(*M), mt_qsort);
	NM = 0;
	for (size_t i = 0; i < n; i++) {
		if (NM && mt_qsort(&M[NM - 1], &M[i]) == 0) {
			free(M[i].name);
			free(M[i].rdata);
			free(M[i].bw);
			continue;
		}
		M[NM++] = M[i];
	}
	size_t nobs = 0, cap = NM * 3;
	struct d4_store_pdns_obs *obs = calloc(cap, sizeof(*obs));
	ck_assert_ptr_nonnull(obs);
	for (size_t i = 0; i < NM; i++) {
		unsigned k = 1 + rndn(3);
		for (unsigned j = 0; j < k; j++) {
			struct d4_store_pdns_obs *o = &obs[nobs++];
			o->rrname = M[i].name;
			o->rrtype = M[i].type;
			o->rdata = M[i].rdata;
			o->rdata_len = M[i].rdlen;
			o->bailiwick = M[i].bw;
			o->time_first = 1600000000 + rnd() % 100000000;
			o->time_last = o->time_first + rnd() % 10000000;
			o->count = 1 + rndn(5);
			o->has_sensor = 1;
			memcpy(o->sensor, sensors[rndn(12)], 16);
			o->tlp = (uint8_t)(1 + rndn(6));
			memcpy(o->org, orgs[rndn(4) == 0 ? rndn(3) : 0], 16);
			struct mt *t = &M[i];
			if (!t->seen || o->time_first < t->tf)
				t->tf = o->time_first;
			if (o->time_last > t->tl)
				t->tl = o->time_last;
			t->count += o->count;
			t->tlp = t->seen ? (uint8_t)d4_policy_tlp_max(t->tlp, o->tlp) : o->tlp;
			if (!t->seen)
				memcpy(t->org, o->org, 16);
			else if (memcmp(t->org, o->org, 16))
				t->org_mixed = 1;
			t->seen++;
		}
	}
	for (size_t i = nobs; i > 1; i--) {
		size_t j = rnd() % i;
		struct d4_store_pdns_obs x = obs[i - 1];
		obs[i - 1] = obs[j];
		obs[j] = x;
	}
	for (size_t i = 0; i < nobs; i += 1000)
		ck_assert_int_eq(d4_store_pdns_apply(s, obs + i, nobs - i < 1000 ? nobs - i : 1000, NULL), 0);
	free(obs);
}

/* ---- brute force ---- */

/* The name in rdata, by a reading of the presentation formats that shares
 * no code with the store. */
static int bf_rdata_name(const struct mt *t, char *out, size_t cap)
{
	char tok[6][1200];
	int nt = 0;
	/* passivedns's name-only MX and SRV: one field, the target */
	if ((t->type == 15 || t->type == 33) && !strchr(t->rdata, ' ') && !strchr(t->rdata, '\t'))
		return t->rdata[0] && strcmp(t->rdata, ".") && strspn(t->rdata, "0123456789") < strlen(t->rdata) &&
		       snprintf(out, cap, "%s", t->rdata) > 0;
	switch (t->type) {
	case 2:
	case 5:
	case 12: snprintf(out, cap, "%s", t->rdata); return 1;
	case 15:
		nt = sscanf(t->rdata, "%5s %1199s", tok[0], tok[1]);
		return nt == 2 && snprintf(out, cap, "%s", tok[1]) > 0;
	case 33:
		nt = sscanf(t->rdata, "%5s %5s %5s %1199s", tok[0], tok[1], tok[2], tok[3]);
		return nt == 4 && snprintf(out, cap, "%s", tok[3]) > 0;
	case 6: nt = sscanf(t->rdata, "%1199s", tok[0]); return nt == 1 && snprintf(out, cap, "%s", tok[0]) > 0;
	default: return 0;
	}
}

static int name_match(int how, const char *name, const char *q)
{
	size_t n = strlen(name), l = strlen(q);
	if (how == 0)
		return strcmp(name, q) == 0;
	if (how == 1) /* below q: ends with "." + q */
		return n > l && strcmp(name + n - l, q) == 0 && name[n - l - 1] == '.';
	return n > l && strncmp(name, q, l) == 0; /* q has its trailing dot: starts with q's labels */
}

struct bfq {
	struct d4_store_pdns_query q;
	char name[1200];
	int how;	  /* 0 exact, 1 left, 2 right */
	uint8_t base[16]; /* IP: CIDR base (v4-mapped) and prefix in 128-bit space, or a range */
	unsigned bits;
	int range;
	char rawbuf[4096]; /* RDATA_RAW: a case variant of a tuple's rdata */
};

static int bf_match(const struct bfq *b, const struct mt *t)
{
	const struct d4_store_pdns_query *q = &b->q;
	if (t->removed || t->tlp > q->max_tlp || (q->rrtype && t->type != q->rrtype))
		return 0;
	int tfb = q->time_first_before || (q->before_set & D4_PDNS_TF_BEFORE_SET);
	int tlb = q->time_last_before || (q->before_set & D4_PDNS_TL_BEFORE_SET);
	if ((tfb && t->tf > q->time_first_before) || (q->time_first_after && t->tf < q->time_first_after) ||
	    (tlb && t->tl > q->time_last_before) || (q->time_last_after && t->tl < q->time_last_after))
		return 0;
	if (q->bailiwick && (!t->bw || strcmp(t->bw, q->bailiwick)))
		return 0;
	switch (q->kind) {
	case D4_PDNS_Q_NAME:
	case D4_PDNS_Q_NAME_LEFT:
	case D4_PDNS_Q_NAME_RIGHT: return name_match(b->how, t->name, b->name);
	case D4_PDNS_Q_RDATA_NAME:
	case D4_PDNS_Q_RDATA_NAME_LEFT:
	case D4_PDNS_Q_RDATA_NAME_RIGHT: {
		char rn[1200];
		return bf_rdata_name(t, rn, sizeof(rn)) && name_match(b->how, rn, b->name);
	}
	case D4_PDNS_Q_RDATA_IP: {
		uint8_t a[16] = {0};
		if (q->ip_family == 4) {
			if (t->type != 1 || inet_pton(AF_INET, t->rdata, a + 12) != 1)
				return 0;
			a[10] = a[11] = 0xff;
		} else if (t->type != 28 || inet_pton(AF_INET6, t->rdata, a) != 1) {
			return 0;
		}
		if (b->range)
			return memcmp(a, q->ip_lo, 16) >= 0 && memcmp(a, q->ip_hi, 16) <= 0;
		for (unsigned i = 0; i < b->bits; i++)
			if (((a[i / 8] ^ b->base[i / 8]) >> (7 - i % 8)) & 1)
				return 0;
		return 1;
	}
	case D4_PDNS_Q_RDATA_RAW: {
		if (t->rdlen == q->raw_len && memcmp(t->rdata, q->raw, q->raw_len) == 0)
			return 1;
		/* an address matches its A/AAAA tuples however they spell it */
		char qa[64];
		uint8_t x[16], y[16];
		int af = t->type == 1 ? AF_INET : t->type == 28 ? AF_INET6 : 0;
		if (!af || q->raw_len >= sizeof(qa))
			return 0;
		memcpy(qa, q->raw, q->raw_len);
		qa[q->raw_len] = 0;
		return inet_pton(af, qa, x) == 1 && inet_pton(af, t->rdata, y) == 1 &&
		       memcmp(x, y, af == AF_INET ? 4 : 16) == 0;
	}
	}
	return 0;
}

struct collect {
	long *idx;
	size_t n, cap;
	int bad;
};

static int collect_cb(void *ctx, const struct d4_store_pdns_tuple *t)
{
	struct collect *c = ctx;
	long i = mt_find(t->rrname, t->rrtype, t->rdata, t->rdata_len);
	if (i < 0 || strlen(t->rrname) != t->rrname_len || t->rdata[t->rdata_len] != 0) {
		c->bad++;
		return 0;
	}
	const struct mt *m = &M[i];
	if (t->time_first != m->tf || t->time_last != m->tl || t->count != m->count || t->tlp != m->tlp ||
	    t->org_mixed != m->org_mixed || (!m->org_mixed && memcmp(t->org, m->org, 16)) ||
	    (m->bw ? !t->bailiwick || strcmp(t->bailiwick, m->bw) : t->bailiwick != NULL))
		c->bad++;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->idx = realloc(c->idx, c->cap * sizeof(long));
		ck_assert_ptr_nonnull(c->idx);
	}
	c->idx[c->n++] = i;
	return 0;
}

static int long_cmp(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return x < y ? -1 : x > y;
}

static unsigned queries_checked, results_checked;

/* Runs b's query in full and in pages of `page`, checks both against the
 * brute-force answer. */
static void check_query(struct d4_store *s, struct bfq *b, unsigned page)
{
	struct collect full = {0};
	struct d4_store_pdns_qresult res;
	b->q.limit = 0;
	b->q.resume = NULL;
	b->q.resume_len = 0;
	ck_assert_int_eq(d4_store_pdns_query(s, &b->q, collect_cb, &full, &res), 0);
	ck_assert_int_eq(full.bad, 0);
	ck_assert_int_eq(res.more, 0);
	ck_assert_uint_eq(res.returned, full.n);

	/* the same tuples as the brute force, each once */
	long *exp = malloc((NM + 1) * sizeof(long));
	size_t ne = 0;
	for (size_t i = 0; i < NM; i++)
		if (bf_match(b, &M[i]))
			exp[ne++] = (long)i;
	long *got = malloc((full.n + 1) * sizeof(long));
	if (full.n)
		memcpy(got, full.idx, full.n * sizeof(long));
	qsort(got, full.n, sizeof(long), long_cmp);
	if (ne != full.n)
		fprintf(stderr, "query kind %d name '%s' rrtype %u: expected %zu got %zu\n", b->q.kind, b->name,
			b->q.rrtype, ne, full.n);
	ck_assert_uint_eq(ne, full.n);
	for (size_t i = 0; i < ne; i++)
		ck_assert_int_eq(got[i], exp[i]); /* also: no duplicate */

	/* paging: exactly the full result, in order */
	struct collect paged = {0};
	uint8_t cur[D4_PDNS_RESUME_MAX];
	size_t curlen = 0;
	unsigned pages = 0;
	for (;;) {
		b->q.limit = page;
		b->q.resume = curlen ? cur : NULL;
		b->q.resume_len = curlen;
		size_t before = paged.n;
		ck_assert_int_eq(d4_store_pdns_query(s, &b->q, collect_cb, &paged, &res), 0);
		ck_assert_uint_eq(res.returned, paged.n - before);
		ck_assert_uint_le(res.returned, page);
		pages++;
		if (!res.more)
			break;
		ck_assert_uint_eq(res.returned, page);
		memcpy(cur, res.resume, res.resume_len);
		curlen = res.resume_len;
		ck_assert_uint_le(pages, full.n + 1);
	}
	ck_assert_uint_eq(paged.n, full.n);
	for (size_t i = 0; i < full.n; i++)
		ck_assert_int_eq(paged.idx[i], full.idx[i]);

	/* summarize agrees with the brute force */
	struct d4_store_pdns_summary sm;
	b->q.limit = 0;
	b->q.resume = NULL;
	b->q.resume_len = 0;
	ck_assert_int_eq(d4_store_pdns_summarize(s, &b->q, &sm), 0);
	uint64_t cnt = 0, tf = 0, tl = 0;
	for (size_t i = 0; i < ne; i++) {
		const struct mt *m = &M[exp[i]];
		cnt += m->count;
		if (!i || m->tf < tf)
			tf = m->tf;
		if (m->tl > tl)
			tl = m->tl;
	}
	ck_assert_uint_eq(sm.tuples, ne);
	ck_assert_uint_eq(sm.count, cnt);
	ck_assert_uint_eq(sm.time_first, tf);
	ck_assert_uint_eq(sm.time_last, tl);
	queries_checked++;
	results_checked += (unsigned)ne;
	free(exp);
	free(got);
	free(full.idx);
	free(paged.idx);
}

/* The first k labels of name (with their dots), or its last k labels. */
static void labels_head(const char *name, unsigned k, char *out)
{
	size_t o = 0;
	for (const char *p = name; *p && k; p++) {
		out[o++] = *p;
		if (*p == '.')
			k--;
	}
	out[o] = 0;
}
static void labels_tail(const char *name, unsigned k, char *out)
{
	size_t n = strlen(name);
	size_t i = n - 1; /* the final dot */
	while (i > 0 && k) {
		i--;
		if (name[i] == '.')
			k--;
	}
	strcpy(out, i == 0 && k ? name : name + (i ? i + 1 : 0));
}
static unsigned nlabels(const char *n)
{
	unsigned c = 0;
	for (; *n; n++)
		c += *n == '.';
	return c;
}

static void random_filters(struct bfq *b)
{
	b->q.max_tlp = rndn(3) ? 6 : (uint8_t)(1 + rndn(6));
	if (rndn(4) == 0)
		b->q.rrtype = gen_types[rndn(sizeof(gen_types) / sizeof(gen_types[0]))];
	if (rndn(5) == 0)
		b->q.time_first_after = 1600000000 + rnd() % 100000000;
	if (rndn(5) == 0)
		b->q.time_first_before = 1600000000 + rnd() % 100000000;
	if (rndn(5) == 0)
		b->q.time_last_after = 1600000000 + rnd() % 110000000;
	if (rndn(5) == 0)
		b->q.time_last_before = 1600000000 + rnd() % 110000000;
}

static char bwbuf[1200];

static void random_query(struct bfq *b, int kind)
{
	memset(b, 0, sizeof(*b));
	b->q.kind = kind;
	const struct mt *t = &M[rndn((unsigned)NM)];
	random_filters(b);
	char rn[1200];
	const char *src = t->name;
	if (kind >= D4_PDNS_Q_RDATA_NAME && kind <= D4_PDNS_Q_RDATA_NAME_RIGHT) {
		for (int tries = 0; tries < 1000 && !bf_rdata_name(t, rn, sizeof(rn)); tries++)
			t = &M[rndn((unsigned)NM)];
		if (!bf_rdata_name(t, rn, sizeof(rn)))
			strcpy(rn, "example.com.");
		src = rn;
	}
	switch (kind) {
	case D4_PDNS_Q_NAME:
	case D4_PDNS_Q_RDATA_NAME:
		b->how = 0;
		strcpy(b->name, src);
		if (kind == D4_PDNS_Q_NAME && t->bw && rndn(4) == 0) {
			strcpy(bwbuf, t->bw);
			b->q.bailiwick = bwbuf;
		}
		break;
	case D4_PDNS_Q_NAME_LEFT:
	case D4_PDNS_Q_RDATA_NAME_LEFT:
		b->how = 1;
		labels_tail(src, 1 + rndn(nlabels(src)), b->name);
		break;
	case D4_PDNS_Q_NAME_RIGHT:
	case D4_PDNS_Q_RDATA_NAME_RIGHT:
		b->how = 2;
		labels_head(src, 1 + rndn(nlabels(src)), b->name);
		break;
	case D4_PDNS_Q_RDATA_IP: {
		char text[128], a[64];
		int v6 = rndn(2);
		for (int tries = 0; tries < 1000 && t->type != (v6 ? 28 : 1); tries++)
			t = &M[rndn((unsigned)NM)];
		snprintf(a, sizeof(a), "%s", t->type == (v6 ? 28 : 1) ? t->rdata : (v6 ? "2001:db8::1" : "10.0.0.1"));
		unsigned form = rndn(3);
		if (form == 2) { /* range a-b around it */
			if (v6)
				snprintf(text, sizeof(text), "2001:db8:%x::-%s", rndn(3), a);
			else
				snprintf(text, sizeof(text), "10.%u.0.0-%s", rndn(2), a);
			b->range = 1;
			if (d4_store_pdns_parse_ip(text, &b->q)) { /* lo > hi: swap the ends */
				if (v6)
					snprintf(text, sizeof(text), "%s-2001:db8:2:ffff::", a);
				else
					snprintf(text, sizeof(text), "%s-10.2.3.255", a);
				ck_assert_int_eq(d4_store_pdns_parse_ip(text, &b->q), 0);
			}
		} else {
			static const unsigned v4p[] = {32, 24, 16, 8, 0, 30, 23};
			static const unsigned v6p[] = {128, 64, 48, 32, 0, 120, 47};
			unsigned p = v6 ? v6p[rndn(7)] : v4p[rndn(7)];
			snprintf(text, sizeof(text), "%s%c%u", a, form ? '/' : ',', p);
			ck_assert_int_eq(d4_store_pdns_parse_ip(text, &b->q), 0);
			memset(b->base, 0, 16);
			if (v6) {
				inet_pton(AF_INET6, a, b->base);
				b->bits = p;
			} else {
				b->base[10] = b->base[11] = 0xff;
				inet_pton(AF_INET, a, b->base + 12);
				b->bits = 96 + p;
			}
		}
		snprintf(b->name, sizeof(b->name), "%s", text);
		ck_assert_int_eq(b->q.ip_family, v6 ? 6 : 4);
		break;
	}
	case D4_PDNS_Q_RDATA_RAW:
		b->q.raw = (const uint8_t *)t->rdata;
		b->q.raw_len = t->rdlen;
		if (rndn(4) == 0 && t->rdlen < sizeof(b->rawbuf)) { /* same name or text in other case: other bytes */
			memcpy(b->rawbuf, t->rdata, t->rdlen);
			for (size_t i = 0; i < t->rdlen; i++)
				if (b->rawbuf[i] >= 'a' && b->rawbuf[i] <= 'z')
					b->rawbuf[i] = (char)(b->rawbuf[i] - 'a' + 'A');
			b->q.raw = (const uint8_t *)b->rawbuf;
		}
		break;
	}
	b->q.name = b->name;
}

START_TEST(test_queries_bruteforce)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	uint64_t seed = (uint64_t)time(NULL) | 1;
	const char *env = getenv("D4_TEST_SEED");
	if (env)
		seed = strtoull(env, NULL, 10);
	fprintf(stderr, "test_queries_bruteforce: seed %llu\n", (unsigned long long)seed);
	build_dataset(s, 30000, seed);
	struct d4_store_pdns_info info;
	ck_assert_int_eq(d4_store_pdns_info(s, &info), 0);
	ck_assert_uint_eq(info.tuples, NM);
	ck_assert_uint_gt(info.bytes, 0);
	queries_checked = results_checked = 0;
	for (int kind = D4_PDNS_Q_NAME; kind <= D4_PDNS_Q_RDATA_RAW; kind++) {
		for (int i = 0; i < 60; i++) {
			struct bfq b;
			random_query(&b, kind);
			check_query(s, &b, 1 + rndn(i < 10 ? 3 : 40));
		}
	}
	/* wildcards over everything: "*." and ".*" */
	struct bfq b;
	memset(&b, 0, sizeof(b));
	b.q.kind = D4_PDNS_Q_NAME_RIGHT;
	b.q.max_tlp = 6;
	b.q.rrtype = 28;
	strcpy(b.name, "");
	b.q.name = ".";
	b.how = 2;
	check_query(s, &b, 97);
	fprintf(stderr, "test_queries_bruteforce: %zu tuples, %u queries, %u results checked\n", NM, queries_checked,
		results_checked);
	ck_assert_uint_gt(results_checked, 1000);
	model_free();
	d4_store_close(s);
}
END_TEST

/* ---- merge ---- */

struct one {
	struct d4_store_pdns_tuple t;
	char name[1200], rdata[5000], bw[1200];
	int n;
};
static int one_cb(void *ctx, const struct d4_store_pdns_tuple *t)
{
	struct one *o = ctx;
	o->t = *t;
	snprintf(o->name, sizeof(o->name), "%s", t->rrname);
	snprintf(o->rdata, sizeof(o->rdata), "%s", t->rdata);
	snprintf(o->bw, sizeof(o->bw), "%s", t->bailiwick ? t->bailiwick : "");
	o->n++;
	return 0;
}

static int lookup(struct d4_store *s, const char *name, uint16_t type, struct one *o)
{
	struct d4_store_pdns_query q;
	struct d4_store_pdns_qresult res;
	memset(&q, 0, sizeof(q));
	memset(o, 0, sizeof(*o));
	q.kind = D4_PDNS_Q_NAME;
	q.name = name;
	q.rrtype = type;
	q.max_tlp = 6; /* tlp:red: everything */
	ck_assert_int_eq(d4_store_pdns_query(s, &q, one_cb, o, &res), 0);
	return o->n;
}

/* d4_store_pdns_seen: a tuple's count and sensors as the store keeps
 * them, whatever the name's case or final dot and the level; 0, 0 for a
 * tuple it does not hold, another rdata or rrtype, and a name that can
 * never be one. */
START_TEST(test_seen)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	struct d4_store_pdns_obs ob;
	memset(&ob, 0, sizeof(ob));
	ob.rrname = "www.example.com.";
	ob.rrtype = 1;
	ob.rdata = "192.0.2.1";
	ob.time_first = ob.time_last = 1000;
	ob.tlp = D4_TLP_RED;
	ob.has_sensor = 1;
	for (int i = 0; i < 3; i++) {
		ob.count = (uint64_t)i + 1;
		memset(ob.sensor, 0x10 + (i % 2), 16);
		ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	}
	struct d4_store_pdns_obs q[5];
	memset(q, 0, sizeof(q));
	q[0] = ob;
	q[0].rrname = "WWW.Example.COM";
	q[1] = ob;
	q[1].rdata = "192.0.2.2";
	q[2] = ob;
	q[2].rrtype = 28;
	q[3] = ob;
	q[3].rrname = "";
	q[4] = ob;
	uint64_t count[5];
	uint32_t nsens[5];
	ck_assert_int_eq(d4_store_pdns_seen(s, q, 5, count, nsens), 0);
	ck_assert_uint_eq(count[0], 6);
	ck_assert_uint_eq(nsens[0], 2);
	for (int i = 1; i < 4; i++) {
		ck_assert_uint_eq(count[i], 0);
		ck_assert_uint_eq(nsens[i], 0);
	}
	ck_assert_uint_eq(count[4], 6);
	ck_assert_uint_eq(nsens[4], 2);
	ck_assert_int_eq(d4_store_pdns_seen(s, q, 0, count, nsens), 0);
	ck_assert_int_eq(d4_store_pdns_seen(s, NULL, 1, count, nsens), D4_EINVAL);
	d4_store_close(s);
}
END_TEST

static int count_one(void *ctx, const struct d4_store_pdns_tuple *t)
{
	(void)t;
	(*(int *)ctx)++;
	return 0;
}

static int query_count(struct d4_store *s, struct d4_store_pdns_query *q)
{
	struct d4_store_pdns_qresult res;
	int n = 0;
	q->max_tlp = D4_TLP_RED;
	ck_assert_int_eq(d4_store_pdns_query(s, q, count_one, &n, &res), 0);
	return n;
}

/* passivedns prints MX and SRV as the target name alone: rdata-name lookups
 * find that form as well as the full one; a *_before bound of 0 is the epoch. */
START_TEST(test_name_only_forms)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	static const struct {
		const char *name, *rdata;
		uint16_t type;
	} in[] = {
	    {"a.example.", "mail.example.", 15},
	    {"b.example.", "10 mail.example.", 15},
	    {"_sip._tcp.example.", "sip.example.", 33},
	    {"_sip._udp.example.", "1 2 5060 sip.example.", 33},
	    {"c.example.", "10", 15},
	    {"d.example.", ".", 15},
	};
	struct d4_store_pdns_obs ob[6];
	memset(ob, 0, sizeof(ob));
	for (int i = 0; i < 6; i++) {
		ob[i].rrname = in[i].name;
		ob[i].rrtype = in[i].type;
		ob[i].rdata = in[i].rdata;
		ob[i].time_first = 1000;
		ob[i].time_last = 2000;
		ob[i].count = 1;
		ob[i].tlp = D4_TLP_GREEN;
	}
	ck_assert_int_eq(d4_store_pdns_apply(s, ob, 6, NULL), 0);
	struct d4_store_pdns_query q = {.kind = D4_PDNS_Q_RDATA_NAME, .name = "mail.example."};
	ck_assert_int_eq(query_count(s, &q), 2);
	q.rrtype = 15;
	ck_assert_int_eq(query_count(s, &q), 2);
	q = (struct d4_store_pdns_query){.kind = D4_PDNS_Q_RDATA_NAME, .name = "sip.example", .rrtype = 33};
	ck_assert_int_eq(query_count(s, &q), 2);
	q = (struct d4_store_pdns_query){.kind = D4_PDNS_Q_RDATA_NAME_LEFT, .name = "example."};
	ck_assert_int_eq(query_count(s, &q), 4);
	/* neither the root nor a preference without its target is a name */
	q = (struct d4_store_pdns_query){.kind = D4_PDNS_Q_RDATA_NAME, .name = "10."};
	ck_assert_int_eq(query_count(s, &q), 0);
	/* time fences: 0 = unset unless before_set says it is the epoch */
	q = (struct d4_store_pdns_query){.kind = D4_PDNS_Q_NAME_LEFT, .name = "example."};
	ck_assert_int_eq(query_count(s, &q), 6);
	q.before_set = D4_PDNS_TL_BEFORE_SET;
	ck_assert_int_eq(query_count(s, &q), 0);
	q.before_set = D4_PDNS_TF_BEFORE_SET;
	ck_assert_int_eq(query_count(s, &q), 0);
	q.time_first_before = 1000;
	ck_assert_int_eq(query_count(s, &q), 6);
	d4_store_close(s);
}
END_TEST

START_TEST(test_merge)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	struct d4_store_pdns_obs ob;
	memset(&ob, 0, sizeof(ob));
	ob.rrname = "WWW.Example.COM"; /* lower-cased, made absolute */
	ob.rrtype = 1;
	ob.rdata = "192.0.2.1";
	ob.time_first = 1000;
	ob.time_last = 2000;
	ob.count = 3;
	ob.tlp = D4_TLP_GREEN;
	memset(ob.org, 0xaa, 16);
	ob.has_sensor = 1;
	memset(ob.sensor, 0x10, 16);
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	/* a second source: earlier first, later last, another sensor, amber, a bailiwick */
	ob.rrname = "www.example.com.";
	ob.time_first = 500;
	ob.time_last = 1500;
	ob.count = 4;
	ob.tlp = D4_TLP_AMBER;
	ob.bailiwick = "example.com";
	memset(ob.sensor, 0x05, 16);
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	struct one r;
	ck_assert_int_eq(lookup(s, "www.example.com.", 0, &r), 1);
	ck_assert_str_eq(r.name, "www.example.com.");
	ck_assert_str_eq(r.rdata, "192.0.2.1");
	ck_assert_uint_eq(r.t.time_first, 500);
	ck_assert_uint_eq(r.t.time_last, 2000);
	ck_assert_uint_eq(r.t.count, 7);
	ck_assert_uint_eq(r.t.tlp, D4_TLP_AMBER);
	ck_assert_str_eq(r.bw, "example.com.");
	ck_assert_uint_eq(r.t.nsensors, 2);
	ck_assert_uint_eq(r.t.sensor_count, 2);
	ck_assert_int_eq(r.t.sensors[0][0], 0x05); /* sorted */
	ck_assert_int_eq(r.t.sensors[1][0], 0x10);
	ck_assert_int_eq(r.t.org_mixed, 0);
	ck_assert_int_eq(r.t.org[0], 0xaa);
	/* same sensor again: not counted twice; a lower TLP does not lower it; a
	 * less specific bailiwick does not replace a more specific one */
	ob.tlp = D4_TLP_CLEAR;
	ob.bailiwick = "com.";
	ob.count = 0; /* counts as one */
	ob.time_first = ob.time_last = 1700;
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	ck_assert_int_eq(lookup(s, "www.example.com", 1, &r), 1);
	ck_assert_uint_eq(r.t.count, 8);
	ck_assert_uint_eq(r.t.tlp, D4_TLP_AMBER);
	ck_assert_uint_eq(r.t.sensor_count, 2);
	ck_assert_str_eq(r.bw, "example.com.");
	ck_assert_uint_eq(r.t.time_first, 500);
	ck_assert_uint_eq(r.t.time_last, 2000);
	/* every pair of levels merges like d4_policy_tlp_max; NONE/UNCLEAR fail closed */
	for (int a = 1; a <= 7; a++)
		for (int c = 0; c <= 7; c++) {
			char nm[64];
			snprintf(nm, sizeof(nm), "tlp%d-%d.test.", a, c);
			struct d4_store_pdns_obs two[2];
			memset(two, 0, sizeof(two));
			for (int i = 0; i < 2; i++) {
				two[i].rrname = nm;
				two[i].rrtype = 16;
				two[i].rdata = "\"x\"";
				two[i].time_first = two[i].time_last = 10;
			}
			two[0].tlp = (uint8_t)a;
			two[1].tlp = (uint8_t)c;
			ck_assert_int_eq(d4_store_pdns_apply(s, two, 2, NULL), 0);
			ck_assert_int_eq(lookup(s, nm, 16, &r), 1);
			int ea = (a >= 1 && a <= 6) ? a : 6, ec = (c >= 1 && c <= 6) ? c : 6;
			int want = (int)d4_policy_tlp_max((enum d4_tlp)ea, (enum d4_tlp)ec);
			ck_assert_int_eq(r.t.tlp, want);
			ck_assert_uint_eq(r.t.count, 2);
		}
	/* org: a disagreeing source makes it mixed (all-zero), for good */
	memset(ob.org, 0xbb, 16);
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	memset(ob.org, 0xaa, 16);
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	ck_assert_int_eq(lookup(s, "www.example.com.", 1, &r), 1);
	ck_assert_int_eq(r.t.org_mixed, 1);
	static const uint8_t zero[16];
	ck_assert_int_eq(memcmp(r.t.org, zero, 16), 0);
	/* sensors: 8 kept (the first ones), the rest estimated, repeats not counted */
	for (int rep = 0; rep < 3; rep++)
		for (int i = 0; i < 40; i++) {
			memset(ob.sensor, 0x40 + i, 16);
			ob.sensor[15] = (uint8_t)i;
			ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
		}
	ck_assert_int_eq(lookup(s, "www.example.com.", 1, &r), 1);
	ck_assert_uint_eq(r.t.nsensors, D4_PDNS_SENSORS_KEEP);
	ck_assert_int_eq(r.t.sensors[0][0], 0x05);
	ck_assert_int_eq(r.t.sensors[1][0], 0x10);
	/* 42 distinct: the estimate from 34 sensors hashed on 64 bits */
	ck_assert_uint_ge(r.t.sensor_count, 30);
	ck_assert_uint_le(r.t.sensor_count, 60);
	/* a tuple per type/rdata: same name, other rdata = another tuple */
	ob.rdata = "192.0.2.2";
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	ck_assert_int_eq(lookup(s, "www.example.com.", 1, &r), 2);
	/* time_last < time_first is taken as the other way round; skipped input */
	ob.rrname = "swap.test.";
	ob.time_first = 900;
	ob.time_last = 100;
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	ck_assert_int_eq(lookup(s, "swap.test.", 1, &r), 1);
	ck_assert_uint_eq(r.t.time_first, 100);
	ck_assert_uint_eq(r.t.time_last, 900);
	struct d4_store_pdns_info info0, info1;
	ck_assert_int_eq(d4_store_pdns_info(s, &info0), 0);
	ob.rrname = "";
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	ck_assert_int_eq(d4_store_pdns_info(s, &info1), 0);
	ck_assert_uint_eq(info0.tuples, info1.tuples);
	/* escaped dots stay inside their label for the wildcard index */
	ob.rrname = "a\\.b.example.com.";
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	struct d4_store_pdns_query q;
	struct d4_store_pdns_qresult res;
	memset(&q, 0, sizeof(q));
	q.kind = D4_PDNS_Q_NAME_LEFT;
	q.name = "b.example.com.";
	q.max_tlp = 6; /* tlp:red: everything */
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(d4_store_pdns_query(s, &q, one_cb, &r, &res), 0);
	ck_assert_int_eq(r.n, 0);
	q.name = "example.com";
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(d4_store_pdns_query(s, &q, one_cb, &r, &res), 0);
	ck_assert_int_eq(r.n, 3); /* www (2 tuples) and a\.b; not the apex */
	/* raw rdata is found through three indexes (raw hash, IP, whole-rdata
	 * name), each tuple once: an SOA whose one field is a name has a raw
	 * entry and an rdata-name entry; NS and A have one of the others */
	static const struct {
		const char *name;
		uint16_t type;
		const char *rdata;
	} rw[] = {{"soa.raw.test.", 6, "ns.raw.test."},	  {"ns.raw.test.", 2, "ns.raw.test."},
		  {"ns2.raw.test.", 2, "NS.raw.test."},	  {"a.raw.test.", 1, "192.0.2.77"},
		  {"a2.raw.test.", 1, "192.0.2.77"},	  {"t.raw.test.", 16, "192.0.2.77"},
		  {"aaaa.raw.test.", 28, "2001:db8::77"}, {"root.raw.test.", 2, "."}};
	for (size_t i = 0; i < sizeof(rw) / sizeof(rw[0]); i++) {
		ob.rrname = rw[i].name;
		ob.rrtype = rw[i].type;
		ob.rdata = rw[i].rdata;
		ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	}
	static const struct {
		const char *raw;
		int n;
	} rq[] = {{"ns.raw.test.", 2}, {"NS.raw.test.", 1}, {"192.0.2.77", 3}, {"2001:db8::77", 1}, {".", 1},
		  {"ns.raw.test", 0}};
	for (size_t i = 0; i < sizeof(rq) / sizeof(rq[0]); i++) {
		for (unsigned page = 0; page <= 1; page++) { /* all at once, then one per page */
			memset(&q, 0, sizeof(q));
			q.kind = D4_PDNS_Q_RDATA_RAW;
			q.raw = (const uint8_t *)rq[i].raw;
			q.raw_len = strlen(rq[i].raw);
			q.max_tlp = 6; /* tlp:red: everything */
			q.limit = page;
			int n = 0;
			uint8_t cur[D4_PDNS_RESUME_MAX];
			do {
				memset(&r, 0, sizeof(r));
				ck_assert_int_eq(d4_store_pdns_query(s, &q, one_cb, &r, &res), 0);
				if (r.n)
					ck_assert_str_eq(r.rdata, rq[i].raw);
				n += r.n;
				memcpy(cur, res.resume, res.resume_len);
				q.resume = cur;
				q.resume_len = res.resume_len;
			} while (res.more);
			ck_assert_int_eq(n, rq[i].n);
		}
	}
	d4_store_close(s);
}
END_TEST

/* A store written before record v4 keeps working: a v2 record (name and
 * rrtype in the record, fixed-width numbers) is read as it is and written
 * as v4 at the tuple's next merge, with the same tuple. */
START_TEST(test_record_v2_compat)
{
	struct d4_store_opts o = base_opts();
	o.pdns_layout = D4_STORE_PDNS_LAYOUT_S4; /* schema 4's own tables */
	struct d4_store *s = open_store(&o);
	struct d4_store_pdns_obs ob;
	memset(&ob, 0, sizeof(ob));
	ob.rrname = "www.example.com.";
	ob.rrtype = 1;
	ob.rdata = "192.0.2.7";
	ob.time_first = 1000;
	ob.time_last = 2000;
	ob.count = 3;
	ob.tlp = D4_TLP_GREEN;
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	/* rewrite the record in the v2 layout */
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_cursor_open(txn, s->dbi[DBI_PDNS_TUPLES], &c), 0);
	ck_assert_int_eq(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
	struct d4_store_pdns_tuple t;
	ck_assert_int_eq(store_pdns_tuple_decode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &t), 0);
	uint8_t rec[256], *p = rec, key[64];
	ck_assert_uint_le(k.mv_size, sizeof(key));
	memcpy(key, k.mv_data, k.mv_size);
	size_t klen = k.mv_size;
	*p++ = 2;
	d4_put_u64be(p, t.id), p += 8;
	d4_put_u16be(p, 1), p += 2;
	d4_put_u64be(p, 900), p += 8;  /* time_first */
	d4_put_u64be(p, 2500), p += 8; /* time_last */
	d4_put_u64be(p, 5), p += 8;    /* count */
	*p++ = D4_TLP_AMBER;
	*p++ = 0;
	memset(p, 0, 16), p += 16;
	*p++ = 0; /* no sensor */
	d4_put_u64be(p, 0), p += 8;
	d4_put_u16be(p, 12), p += 2;
	memcpy(p, "example.com.", 13), p += 13;
	d4_put_u16be(p, 16), p += 2;
	memcpy(p, "www.example.com.", 17), p += 17;
	d4_put_u32be(p, 9), p += 4;
	memcpy(p, "192.0.2.7", 10), p += 10;
	MDB_val nk = {klen, key}, nv = {(size_t)(p - rec), rec};
	ck_assert_int_eq(mdb_put(txn, s->dbi[DBI_PDNS_TUPLES], &nk, &nv, 0), 0);
	mdb_cursor_close(c);
	/* and its name entry as older versions wrote it: the whole tuple key */
	ck_assert_int_eq(mdb_cursor_open(txn, s->dbi[DBI_PDNS_RNAME], &c), 0);
	ck_assert_int_eq(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
	ck_assert_uint_eq(v.mv_size, 16);
	MDB_val fv = {klen, key};
	ck_assert_int_eq(mdb_cursor_put(c, &k, &fv, MDB_CURRENT), 0);
	mdb_cursor_close(c);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	struct one r;
	ck_assert_int_eq(lookup(s, "www.example.com.", 1, &r), 1);
	ck_assert_uint_eq(r.t.time_first, 900);
	ck_assert_uint_eq(r.t.time_last, 2500);
	ck_assert_uint_eq(r.t.count, 5);
	ck_assert_str_eq(r.bw, "example.com.");
	ck_assert_uint_eq(r.t.tlp, D4_TLP_AMBER);
	struct d4_store_pdns_query q;
	struct d4_store_pdns_qresult res;
	memset(&q, 0, sizeof(q));
	q.kind = D4_PDNS_Q_NAME_LEFT;
	q.name = "example.com.";
	q.max_tlp = 6;
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(d4_store_pdns_query(s, &q, one_cb, &r, &res), 0);
	ck_assert_int_eq(r.n, 1);
	ck_assert_str_eq(r.name, "www.example.com.");
	ck_assert_uint_eq(r.t.count, 5);
	/* merged: written as v4 */
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	ck_assert_int_eq(lookup(s, "www.example.com.", 1, &r), 1);
	ck_assert_uint_eq(r.t.time_first, 900);
	ck_assert_uint_eq(r.t.time_last, 2500);
	ck_assert_uint_eq(r.t.count, 8);
	ck_assert_str_eq(r.bw, "example.com.");
	ck_assert_uint_eq(r.t.tlp, D4_TLP_AMBER);
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	nk = (MDB_val){klen, key};
	ck_assert_int_eq(mdb_get(txn, s->dbi[DBI_PDNS_TUPLES], &nk, &v), 0);
	ck_assert_int_eq(((const uint8_t *)v.mv_data)[0], 4);
	ck_assert_uint_lt(v.mv_size, (size_t)(p - rec));
	mdb_txn_abort(txn);
	/* a name whose labels do not reverse back to it (an escape that takes
	 * the final dot): its name entry keeps the whole tuple key */
	ob.rrname = "x\\12";
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	ck_assert_int_eq(lookup(s, "x\\12.", 1, &r), 1);
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(mdb_cursor_open(txn, s->dbi[DBI_PDNS_RNAME], &c), 0);
	int full = 0;
	for (int rr = mdb_cursor_get(c, &k, &v, MDB_FIRST); rr == 0; rr = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		full += v.mv_size > 16;
	ck_assert_int_eq(full, 2); /* this one and the older entry rewritten above */
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	d4_store_close(s);
}
END_TEST

struct collect_tup {
	unsigned n;
	char rdata[4][64];
	uint8_t nsens[4];
	uint8_t sens0[4][16];
};

static int keep_tup_cb(void *ctx, const struct d4_store_pdns_tuple *t)
{
	struct collect_tup *c = ctx;
	if (c->n < 4) {
		snprintf(c->rdata[c->n], sizeof(c->rdata[0]), "%.*s", (int)t->rdata_len, t->rdata);
		c->nsens[c->n] = t->nsensors;
		memcpy(c->sens0[c->n], t->sensors[0], 16);
	}
	c->n++;
	return 0;
}

/* Record v5 and the name value (id-keyed layout): what is encoded decodes
 * to the same fields; every shorter or longer value, and the forms the
 * encoder never writes, are refused. */
static void rec5_roundtrip(const struct store_pdns_rec5 *r)
{
	static uint8_t b[4096], b2[4096];
	size_t n = store_pdns_rec5_encode(r, b);
	ck_assert_uint_le(n, store_pdns_rec5_bound(r));
	struct store_pdns_rec5 d;
	ck_assert_int_eq(store_pdns_rec5_decode(b, n, &d), 0);
	ck_assert_uint_eq(d.namelen, r->namelen);
	ck_assert_int_eq(memcmp(d.name, r->name, r->namelen), 0);
	ck_assert_int_eq(d.name[d.namelen], 0);
	ck_assert_uint_eq(d.rrtype, r->rrtype);
	ck_assert_uint_eq(d.rdform, r->rdform);
	if (r->rdform)
		ck_assert_int_eq(memcmp(d.addr, r->addr, r->rdform == 4 ? 4 : 16), 0);
	else
		ck_assert(d.rdlen == r->rdlen && !memcmp(d.rd, r->rd, r->rdlen) && d.rd[d.rdlen] == 0);
	ck_assert_uint_eq(d.bwlen, r->bwlen);
	if (r->bwlen)
		ck_assert_int_eq(memcmp(d.bw, r->bw, r->bwlen), 0);
	ck_assert(d.tf == r->tf && d.tl == r->tl && d.count == r->count);
	ck_assert(d.tlp == r->tlp && d.mixed == r->mixed && d.has_org == r->has_org);
	if (r->has_org)
		ck_assert_int_eq(memcmp(d.org, r->org, 16), 0);
	ck_assert_uint_eq(d.nsens, r->nsens);
	for (unsigned i = 0; i < r->nsens; i++)
		ck_assert_uint_eq(d.sens[i], r->sens[i]);
	ck_assert_uint_eq(d.sketch, r->sketch);
	ck_assert_uint_eq(d.nhubs, r->nhubs);
	ck_assert_int_eq(memcmp(d.hubs, r->hubs, 16u * r->nhubs), 0);
	/* one encoding: the decoded fields encode to the same bytes */
	ck_assert_uint_eq(store_pdns_rec5_encode(&d, b2), n);
	ck_assert_int_eq(memcmp(b, b2, n), 0);
	for (size_t cut = 0; cut < n; cut++)
		ck_assert_int_eq(store_pdns_rec5_decode(b, cut, &d), D4_ECORRUPT);
	b[n] = 0;
	ck_assert_int_eq(store_pdns_rec5_decode(b, n + 1, &d), D4_ECORRUPT);
}

START_TEST(test_rec5_codec)
{
	struct store_pdns_rec5 r;
	memset(&r, 0, sizeof(r));
	r.name = "www.example.com.";
	r.namelen = strlen(r.name);
	r.rrtype = 1;
	r.rdform = STORE_PDNS_RD_A;
	memcpy(r.addr, "\xc0\x00\x02\x07", 4);
	r.tf = 1700000000;
	r.tl = 1700003600;
	r.count = 5;
	r.tlp = 3;
	r.nsens = 1;
	r.sens[0] = 0;
	rec5_roundtrip(&r);
	uint8_t b[512];
	/* a merge that moves times and count keeps the size (rewritten in place) */
	size_t n1 = store_pdns_rec5_encode(&r, b);
	r.tl += 86400 * 30;
	r.count = 4000000000u;
	ck_assert_uint_eq(store_pdns_rec5_encode(&r, b), n1);
	/* wide: a count beyond 32 bits, times near 2^64 */
	r.count = 1ull << 40;
	r.tf = UINT64_MAX - 5;
	r.tl = UINT64_MAX;
	rec5_roundtrip(&r);
	r.tf = 0;
	r.tl = 1ull << 33;
	r.count = 1;
	rec5_roundtrip(&r);
	/* text rdata, org, several sensors with large numbers, sketch, hubs, bailiwick as a suffix */
	r.rrtype = 5;
	r.rdform = STORE_PDNS_RD_TEXT;
	r.rd = "cdn.example.net.";
	r.rdlen = strlen(r.rd);
	r.has_org = 1;
	memset(r.org, 0x42, 16);
	r.nsens = 8;
	for (unsigned i = 0; i < 8; i++)
		r.sens[i] = i * 40000u;
	r.sketch = 0x8000000000000001ull;
	r.nhubs = 2;
	memset(r.hubs[0], 0x11, 16);
	memset(r.hubs[1], 0x22, 16);
	r.bw = "example.com.";
	r.bwlen = strlen(r.bw);
	rec5_roundtrip(&r);
	/* ... a bailiwick that is not the name's suffix, empty rdata, AAAA */
	r.bw = "net.";
	r.bwlen = 4;
	r.rd = "";
	r.rdlen = 0;
	r.has_org = 0;
	r.mixed = 1;
	rec5_roundtrip(&r);
	r.rrtype = 28;
	r.rdform = STORE_PDNS_RD_AAAA;
	for (unsigned i = 0; i < 16; i++)
		r.addr[i] = (uint8_t)(0x20 + i);
	rec5_roundtrip(&r);
	/* refused: the wide form of numbers that fit, org with mixed, an unknown rdata form */
	memset(&r, 0, sizeof(r));
	r.name = "a.";
	r.namelen = 2;
	r.tf = 1;
	r.tl = 2;
	r.count = 1;
	size_t n = store_pdns_rec5_encode(&r, b);
	struct store_pdns_rec5 d;
	ck_assert_int_eq(store_pdns_rec5_decode(b, n, &d), 0);
	uint8_t w[64] = {5, 0x80, 1, 1, 1, 0, 0, 0, 1, 2, 'a', '.', 0, 0, 0, 0, 0};
	ck_assert_int_eq(store_pdns_rec5_decode(w, 17, &d), D4_ECORRUPT);
	w[1] = 0;
	ck_assert_int_eq(store_pdns_rec5_decode(b, n, &d), 0);
	b[1] |= 8 | 16; /* mixed and org */
	ck_assert_int_eq(store_pdns_rec5_decode(b, n, &d), D4_ECORRUPT);
	b[1] &= (uint8_t) ~(8 | 16);
	b[n - 2] = 9; /* rdata form */
	ck_assert_int_eq(store_pdns_rec5_decode(b, n, &d), D4_ECORRUPT);
	b[0] = 4;
	ck_assert_int_eq(store_pdns_rec5_decode(b, n, &d), D4_ECORRUPT);
	/* name values */
	uint8_t nv[10];
	uint32_t nid;
	uint8_t uses;
	size_t nl = store_pdns_nval_encode(7, 1, nv);
	ck_assert_uint_eq(nl, 1);
	ck_assert_int_eq(store_pdns_nval_decode(nv, nl, &nid, &uses), 0);
	ck_assert(nid == 7 && uses == 1);
	nl = store_pdns_nval_encode(UINT32_MAX, 3, nv);
	ck_assert_int_eq(store_pdns_nval_decode(nv, nl, &nid, &uses), 0);
	ck_assert(nid == UINT32_MAX && uses == 3);
	ck_assert_int_eq(store_pdns_nval_decode(nv, nl - 1, &nid, &uses), D4_ECORRUPT);
	nl = store_pdns_nval_encode(7, 0, nv); /* no use: never stored */
	ck_assert_int_eq(store_pdns_nval_decode(nv, nl, &nid, &uses), D4_ECORRUPT);
	uint8_t nm[2] = {0x84, 0x00}; /* not minimal */
	ck_assert_int_eq(store_pdns_nval_decode(nm, 2, &nid, &uses), D4_ECORRUPT);
}
END_TEST

/* The layout mark: a new store takes the layout asked for, a store holding
 * tuples keeps its own whatever a later open asks, and the id-keyed layout
 * keeps each sensor as a number of the store's dictionary. */
static unsigned count_query(struct d4_store *s, struct d4_store_pdns_query *q);

START_TEST(test_layout_mark)
{
	struct d4_store_opts o = base_opts();
	o.pdns_layout = D4_STORE_PDNS_LAYOUT_S4;
	struct d4_store *s = open_store(&o);
	ck_assert_uint_eq(s->pdns_layout, STORE_PDNS_LAYOUT_S4);
	struct d4_store_pdns_obs ob;
	memset(&ob, 0, sizeof(ob));
	ob.rrname = "a.example.";
	ob.rrtype = 1;
	ob.rdata = "192.0.2.1";
	ob.time_first = ob.time_last = 1000;
	ob.has_sensor = 1;
	memset(ob.sensor, 0xab, 16);
	ob.tlp = D4_TLP_GREEN;
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	d4_store_close(s);
	o.pdns_layout = D4_STORE_PDNS_LAYOUT_ID;
	s = open_store(&o);
	ck_assert_uint_eq(s->pdns_layout, STORE_PDNS_LAYOUT_S4); /* it holds schema-4 tuples */
	struct d4_store_pdns_query q;
	memset(&q, 0, sizeof(q));
	q.kind = D4_PDNS_Q_NAME;
	q.name = "a.example.";
	ck_assert_uint_eq(count_query(s, &q), 1);
	d4_store_close(s);
	/* a read-only open reads the mark */
	o.read_only = 1;
	s = open_store(&o);
	ck_assert_uint_eq(s->pdns_layout, STORE_PDNS_LAYOUT_S4);
	d4_store_close(s);
	teardown();
	setup();
	o = base_opts();
	o.pdns_layout = D4_STORE_PDNS_LAYOUT_ID;
	s = open_store(&o);
	ck_assert_uint_eq(s->pdns_layout, STORE_PDNS_LAYOUT_ID);
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	memset(ob.sensor, 0x01, 16);
	ob.rdata = "192.0.2.2";
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	d4_store_close(s);
	o.pdns_layout = D4_STORE_PDNS_LAYOUT_S4;
	s = open_store(&o);
	ck_assert_uint_eq(s->pdns_layout, STORE_PDNS_LAYOUT_ID); /* marked: kept */
	struct collect_tup ct;
	memset(&ct, 0, sizeof(ct));
	struct d4_store_pdns_qresult res;
	q.max_tlp = 6;
	ck_assert_int_eq(d4_store_pdns_query(s, &q, keep_tup_cb, &ct, &res), 0);
	ck_assert_uint_eq(res.returned, 2);
	/* two sensors, numbers 0 and 1 in the dictionary, uuids back in the results */
	ck_assert_uint_eq(ct.n, 2);
	for (unsigned i = 0; i < 2; i++) {
		ck_assert_uint_eq(ct.nsens[i], 1);
		ck_assert_int_eq(ct.sens0[i][0], !strcmp(ct.rdata[i], "192.0.2.1") ? 0xab : 0x01);
	}
	MDB_txn *txn;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	uint8_t ik[5] = {'I', 0, 0, 0, 1};
	MDB_val k = {5, ik}, v;
	ck_assert_int_eq(mdb_get(txn, s->dbi[DBI_PDNS_META], &k, &v), 0);
	ck_assert_uint_eq(v.mv_size, 17);
	ck_assert_int_eq(((const uint8_t *)v.mv_data)[1], 0x01);
	mdb_txn_abort(txn);
	/* a schema-4 cursor is refused by the id-keyed layout */
	uint8_t old[8] = {2, D4_PDNS_Q_NAME, 0, 'a', '.', 0, 0, 1};
	q.resume = old;
	q.resume_len = sizeof(old);
	ck_assert_int_eq(d4_store_pdns_query(s, &q, keep_tup_cb, &ct, &res), D4_EINVAL);
	d4_store_close(s);
}
END_TEST

START_TEST(test_parse_ip)
{
	struct d4_store_pdns_query q;
	memset(&q, 0, sizeof(q));
	ck_assert_int_eq(d4_store_pdns_parse_ip("10.1.2.3/8", &q), 0);
	ck_assert_int_eq(q.ip_family, 4);
	ck_assert_int_eq(q.ip_lo[12], 10);
	ck_assert_int_eq(q.ip_lo[13], 0);
	ck_assert_int_eq(q.ip_hi[13], 255);
	ck_assert_int_eq(q.ip_hi[15], 255);
	ck_assert_int_eq(q.ip_lo[10], 0xff);
	ck_assert_int_eq(q.ip_hi[10], 0xff);
	ck_assert_int_eq(d4_store_pdns_parse_ip("10.0.0.0,24", &q), 0);
	ck_assert_int_eq(q.ip_hi[14], 0);
	ck_assert_int_eq(q.ip_hi[15], 255);
	ck_assert_int_eq(d4_store_pdns_parse_ip("2001:db8::/32", &q), 0);
	ck_assert_int_eq(q.ip_family, 6);
	ck_assert_int_eq(q.ip_hi[4], 0xff);
	ck_assert_int_eq(q.ip_lo[4], 0);
	ck_assert_int_eq(d4_store_pdns_parse_ip("::/0", &q), 0);
	ck_assert_int_eq(d4_store_pdns_parse_ip("0.0.0.0/0", &q), 0);
	ck_assert_int_eq(q.ip_lo[10], 0xff); /* still v4 space only */
	ck_assert_int_eq(d4_store_pdns_parse_ip("1.2.3.4-1.2.3.9", &q), 0);
	ck_assert_int_eq(q.ip_lo[15], 4);
	ck_assert_int_eq(q.ip_hi[15], 9);
	ck_assert_int_eq(d4_store_pdns_parse_ip("1.2.3.9-1.2.3.4", &q), D4_EINVAL);
	ck_assert_int_eq(d4_store_pdns_parse_ip("1.2.3.4-::1", &q), D4_EINVAL);
	ck_assert_int_eq(d4_store_pdns_parse_ip("1.2.3.4/33", &q), D4_EINVAL);
	ck_assert_int_eq(d4_store_pdns_parse_ip("::1/129", &q), D4_EINVAL);
	ck_assert_int_eq(d4_store_pdns_parse_ip("1.2.3.4/", &q), D4_EINVAL);
	ck_assert_int_eq(d4_store_pdns_parse_ip("1.2.3.4/x", &q), D4_EINVAL);
	ck_assert_int_eq(d4_store_pdns_parse_ip("example.com", &q), D4_EINVAL);
	ck_assert_int_eq(d4_store_pdns_parse_ip("", &q), D4_EINVAL);
}
END_TEST

/* ---- consistency of every index with the tuples ---- */

static uint64_t id40(const uint8_t *p)
{
	return (uint64_t)p[0] << 32 | d4_get_u32be(p + 1);
}

static int has_prefix(MDB_txn *txn, MDB_dbi dbi, const void *pfx, size_t n)
{
	MDB_cursor *c;
	ck_assert_int_eq(mdb_cursor_open(txn, dbi, &c), 0);
	MDB_val k = {n, (void *)pfx}, v;
	int r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	int yes = r == 0 && k.mv_size >= n && memcmp(k.mv_data, pfx, n) == 0;
	mdb_cursor_close(c);
	return yes;
}

/* The id-keyed layout's invariants: one record and one pdns_key entry per
 * tuple, one rdata entry (IP, rdata name or raw) per tuple as the elision
 * rule says, every index entry leads to a record, each record has the block
 * entry of its time_last day, and the name tables hold exactly the names in
 * use (both tables alike, each use bit backed by an entry). */
static void check_consistency_id(struct d4_store *s, uint64_t expect_tuples)
{
	MDB_txn *txn;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	MDB_stat st;
	ck_assert_int_eq(mdb_stat(txn, s->dbi[DBI_PDNS_TUPLES], &st), 0);
	ck_assert_uint_eq(st.ms_entries, 0);
	ck_assert_int_eq(mdb_stat(txn, s->dbi[DBI_PID_REC], &st), 0);
	ck_assert_uint_eq(st.ms_entries, expect_tuples);
	uint64_t nip = 0, nwhole = 0, nrdn = 0;
	MDB_cursor *c;
	MDB_val k, v;
	ck_assert_int_eq(mdb_cursor_open(txn, s->dbi[DBI_PID_REC], &c), 0);
	for (int r = mdb_cursor_get(c, &k, &v, MDB_FIRST); r == 0; r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct store_pdns_rec5 rec;
		ck_assert_uint_eq(k.mv_size, 5);
		ck_assert_int_eq(store_pdns_rec5_decode(v.mv_data, v.mv_size, &rec), 0);
		uint64_t id = id40(k.mv_data);
		uint8_t tb[8];
		d4_put_u32be(tb, (uint32_t)(rec.tl / 86400));
		d4_put_u32be(tb + 4, (uint32_t)(id >> 10));
		MDB_val tk = {8, tb}, tv;
		ck_assert_int_eq(mdb_get(txn, s->dbi[DBI_PID_TBLK], &tk, &tv), 0);
		uint16_t t = rec.rrtype;
		int ip = (t == 1 || t == 28) && (rec.rdform != 0 || rec.rdlen > 0);
		nip += rec.rdform != 0;
		nwhole += t == 2 || t == 3 || t == 4 || t == 5 || t == 7 || t == 8 || t == 9 || t == 12 || t == 39;
		(void)ip;
	}
	mdb_cursor_close(c);
	/* every index entry's id has a record */
	static const enum store_dbi idx[] = {DBI_PID_KEY, DBI_PID_RDN, DBI_PID_IP, DBI_PID_RAW};
	uint64_t nent[4] = {0};
	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(mdb_cursor_open(txn, s->dbi[idx[i]], &c), 0);
		for (int r = mdb_cursor_get(c, &k, &v, MDB_FIRST); r == 0; r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			ck_assert_uint_eq(v.mv_size, 0);
			ck_assert_uint_ge(k.mv_size, 6);
			uint8_t ik[5];
			memcpy(ik, (const uint8_t *)k.mv_data + k.mv_size - 5, 5);
			MDB_val rk = {5, ik}, rv;
			ck_assert_int_eq(mdb_get(txn, s->dbi[DBI_PID_REC], &rk, &rv), 0);
			nent[i]++;
		}
		mdb_cursor_close(c);
	}
	nrdn = nent[1];
	ck_assert_uint_eq(nent[0], expect_tuples);
	ck_assert_uint_ge(nent[2], nip); /* addresses kept as text (other spellings) are in it too */
	ck_assert_uint_le(nent[3] + nent[2] + nwhole, expect_tuples + nrdn);
	ck_assert_uint_le(nent[2] + nrdn + nent[3], expect_tuples + nrdn);
	/* name tables: the same entries in both, every use backed */
	MDB_stat st2;
	ck_assert_int_eq(mdb_stat(txn, s->dbi[DBI_PID_NAMES], &st), 0);
	ck_assert_int_eq(mdb_stat(txn, s->dbi[DBI_PID_NREV], &st2), 0);
	ck_assert_uint_eq(st.ms_entries, st2.ms_entries);
	ck_assert_int_eq(mdb_cursor_open(txn, s->dbi[DBI_PID_NAMES], &c), 0);
	for (int r = mdb_cursor_get(c, &k, &v, MDB_FIRST); r == 0; r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		uint32_t nid;
		uint8_t uses, pfx[4];
		ck_assert_int_eq(store_pdns_nval_decode(v.mv_data, v.mv_size, &nid, &uses), 0);
		d4_put_u32be(pfx, nid);
		ck_assert_int_eq(has_prefix(txn, s->dbi[DBI_PID_KEY], pfx, 4), (uses & 1) != 0);
		ck_assert_int_eq(has_prefix(txn, s->dbi[DBI_PID_RDN], pfx, 4), (uses & 2) != 0);
	}
	mdb_cursor_close(c);
	if (!expect_tuples) {
		ck_assert_uint_eq(st.ms_entries, 0);
		for (size_t i = 0; i < 4; i++)
			ck_assert_uint_eq(nent[i], 0);
	}
	mdb_txn_abort(txn);
}

static void check_consistency(struct d4_store *s, uint64_t expect_tuples)
{
	if (s->pdns_layout == STORE_PDNS_LAYOUT_ID) {
		check_consistency_id(s, expect_tuples);
		return;
	}
	MDB_txn *txn;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	MDB_stat st;
	ck_assert_int_eq(mdb_stat(txn, s->dbi[DBI_PDNS_TUPLES], &st), 0);
	uint64_t ntup = st.ms_entries;
	ck_assert_uint_eq(ntup, expect_tuples);
	/* tuples with an IP / a name in rdata: from the record's rrtype; the
	 * tuple key ends in rrtype || H(rdata) */
	uint64_t nip = 0;
	MDB_cursor *c;
	MDB_val k, v;
	ck_assert_int_eq(mdb_cursor_open(txn, s->dbi[DBI_PDNS_TUPLES], &c), 0);
	for (int r = mdb_cursor_get(c, &k, &v, MDB_FIRST); r == 0; r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *kp = k.mv_data;
		struct d4_store_pdns_tuple t;
		ck_assert_uint_ge(v.mv_size, 11);
		ck_assert_int_eq(((const uint8_t *)v.mv_data)[0], 4);
		ck_assert_int_eq(store_pdns_tuple_decode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &t), 0);
		uint16_t type = t.rrtype;
		ck_assert_uint_ge(k.mv_size, 20);
		ck_assert_uint_eq((uint16_t)(kp[k.mv_size - 18] << 8 | kp[k.mv_size - 17]), type);
		ck_assert_int_eq(kp[k.mv_size - 19], 0);
		nip += type == 1 || type == 28;
	}
	mdb_cursor_close(c);
	static const enum store_dbi one_each[] = {DBI_PDNS_RNAME, DBI_PDNS_TIME};
	for (size_t i = 0; i < sizeof(one_each) / sizeof(one_each[0]); i++) {
		ck_assert_int_eq(mdb_stat(txn, s->dbi[one_each[i]], &st), 0);
		ck_assert_uint_eq(st.ms_entries, ntup);
	}
	ck_assert_int_eq(mdb_stat(txn, s->dbi[DBI_PDNS_RDIP], &st), 0);
	ck_assert_uint_eq(st.ms_entries, nip);
	MDB_stat st2;
	ck_assert_int_eq(mdb_stat(txn, s->dbi[DBI_PDNS_RDNAME], &st), 0);
	ck_assert_int_eq(mdb_stat(txn, s->dbi[DBI_PDNS_RDRNAME], &st2), 0);
	ck_assert_uint_eq(st.ms_entries, st2.ms_entries);
	/* a raw-rdata entry for every tuple that neither its address nor its
	 * whole rdata as a name (NS, CNAME, PTR, ...) can find */
	uint64_t nwhole = 0;
	ck_assert_int_eq(mdb_cursor_open(txn, s->dbi[DBI_PDNS_RDNAME], &c), 0);
	for (int r = mdb_cursor_get(c, &k, &v, MDB_FIRST); r == 0; r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		MDB_val tk = v, tv;
		ck_assert_int_eq(mdb_get(txn, s->dbi[DBI_PDNS_TUPLES], &tk, &tv), 0);
		struct d4_store_pdns_tuple t;
		ck_assert_int_eq(store_pdns_tuple_decode(v.mv_data, v.mv_size, tv.mv_data, tv.mv_size, &t), 0);
		uint16_t type = t.rrtype;
		nwhole += type == 2 || type == 3 || type == 4 || type == 5 || type == 7 || type == 8 || type == 9 ||
			  type == 12 || type == 39;
	}
	mdb_cursor_close(c);
	ck_assert_int_eq(mdb_stat(txn, s->dbi[DBI_PDNS_RDRAW], &st), 0);
	ck_assert_uint_eq(st.ms_entries + nip + nwhole, ntup);
	/* every index entry holds the key of an existing tuple, whose id ends
	 * the entry's key */
	static const enum store_dbi idx[] = {DBI_PDNS_RNAME, DBI_PDNS_RDNAME, DBI_PDNS_RDRNAME,
					     DBI_PDNS_RDIP,  DBI_PDNS_RDRAW,  DBI_PDNS_TIME};
	for (size_t i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
		ck_assert_int_eq(mdb_cursor_open(txn, s->dbi[idx[i]], &c), 0);
		for (int r = mdb_cursor_get(c, &k, &v, MDB_FIRST); r == 0; r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			ck_assert_uint_ge(k.mv_size, 9);
			uint8_t tkb[512];
			size_t tkl;
			ck_assert_int_eq(store_pdns_index_tuple_key((int)idx[i], k.mv_data, k.mv_size, v.mv_data,
								    v.mv_size, tkb, &tkl),
					 0);
			MDB_val tk = {tkl, tkb}, tv;
			ck_assert_int_eq(mdb_get(txn, s->dbi[DBI_PDNS_TUPLES], &tk, &tv), 0);
			struct d4_store_pdns_tuple t;
			ck_assert_int_eq(store_pdns_tuple_decode(tkb, tkl, tv.mv_data, tv.mv_size, &t), 0);
			ck_assert_uint_eq(t.id, d4_get_u64be((const uint8_t *)k.mv_data + k.mv_size - 8));
			/* a name entry holds H(rdata) alone, or the whole tuple key when
			 * the name is cut in keys (or does not reverse back to itself) */
			if (idx[i] == DBI_PDNS_RNAME) {
				ck_assert(v.mv_size == 16 || v.mv_size == tkl);
				if (t.rrname_len > 400)
					ck_assert_uint_eq(v.mv_size, tkl);
			}
		}
		mdb_cursor_close(c);
	}
	mdb_txn_abort(txn);
}

static int count_cb(void *ctx, const struct d4_store_pdns_tuple *t)
{
	(void)t;
	(*(unsigned *)ctx)++;
	return 0;
}

static int count_cb_c(void *ctx, const struct d4_store_pdns_counters *c)
{
	(void)c;
	(*(unsigned *)ctx)++;
	return 0;
}

static unsigned count_query(struct d4_store *s, struct d4_store_pdns_query *q)
{
	unsigned n = 0;
	struct d4_store_pdns_qresult res;
	q->max_tlp = 6; /* tlp:red: everything */
	ck_assert_int_eq(d4_store_pdns_query(s, q, count_cb, &n, &res), 0);
	return n;
}

START_TEST(test_expire)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	build_dataset(s, 8000, 12345);
	check_consistency(s, NM);
	uint64_t cutoff = 1650000000, expect = 0;
	for (size_t i = 0; i < NM; i++)
		if (M[i].tl < cutoff) {
			M[i].removed = 1;
			expect++;
		}
	ck_assert_uint_gt(expect, 100);
	ck_assert_uint_lt(expect, NM);
	uint64_t removed = 0;
	ck_assert_int_eq(d4_store_pdns_expire(s, cutoff, 7, &removed), 0); /* many small transactions */
	ck_assert_uint_eq(removed, expect);
	check_consistency(s, NM - expect);
	ck_assert_int_eq(d4_store_pdns_expire(s, cutoff, 0, &removed), 0);
	ck_assert_uint_eq(removed, 0);
	/* nothing of an expired tuple is found by any index; the others are */
	unsigned checked = 0;
	for (size_t i = 0; i < NM && checked < 600; i += 7, checked++) {
		const struct mt *m = &M[i];
		struct d4_store_pdns_query q;
		memset(&q, 0, sizeof(q));
		q.kind = D4_PDNS_Q_RDATA_RAW;
		q.raw = (const uint8_t *)m->rdata;
		q.raw_len = m->rdlen;
		q.rrtype = m->type;
		/* raw rdata may be shared by tuples of other names: count them in the model */
		unsigned want = 0;
		for (size_t j = 0; j < NM; j++)
			want += !M[j].removed && M[j].type == m->type && M[j].rdlen == m->rdlen &&
				memcmp(M[j].rdata, m->rdata, m->rdlen) == 0;
		ck_assert_uint_eq(count_query(s, &q), want);
		memset(&q, 0, sizeof(q));
		q.kind = D4_PDNS_Q_NAME;
		q.name = m->name;
		q.rrtype = m->type;
		want = 0;
		for (size_t j = 0; j < NM; j++)
			want += !M[j].removed && M[j].type == m->type && strcmp(M[j].name, m->name) == 0;
		ck_assert_uint_eq(count_query(s, &q), want);
	}
	/* full-range scans of every index kind agree with the model */
	struct bfq b;
	memset(&b, 0, sizeof(b));
	b.q.kind = D4_PDNS_Q_NAME_LEFT;
	b.q.name = ".";
	unsigned left_all = count_query(s, &b.q);
	b.q.kind = D4_PDNS_Q_NAME_RIGHT;
	unsigned right_all = count_query(s, &b.q);
	ck_assert_uint_eq(left_all, NM - expect);
	ck_assert_uint_eq(right_all, NM - expect);
	ck_assert_int_eq(d4_store_pdns_parse_ip("::/0", &b.q), 0);
	b.q.kind = D4_PDNS_Q_RDATA_IP;
	unsigned v6 = count_query(s, &b.q), v6m = 0;
	for (size_t j = 0; j < NM; j++)
		v6m += !M[j].removed && M[j].type == 28;
	ck_assert_uint_eq(v6, v6m);
	/* everything goes, and with it every index entry and name */
	ck_assert_int_eq(d4_store_pdns_expire(s, UINT64_MAX, 13, &removed), 0);
	ck_assert_uint_eq(removed, NM - expect);
	check_consistency(s, 0);
	ck_assert_uint_eq(count_query(s, &b.q), 0);
	model_free();
	d4_store_close(s);
}
END_TEST

/* ---- a batch with repeats == the same observations one at a time ---- */

struct snap {
	char key[1400];
	struct d4_store_pdns_tuple t;
	char bw[1100];
};
struct snaps {
	struct snap *v;
	size_t n, cap;
};

static int snap_cb(void *ctx, const struct d4_store_pdns_tuple *t)
{
	struct snaps *ss = ctx;
	if (ss->n == ss->cap) {
		ss->cap = ss->cap ? ss->cap * 2 : 256;
		ss->v = realloc(ss->v, ss->cap * sizeof(*ss->v));
		ck_assert_ptr_nonnull(ss->v);
	}
	struct snap *x = &ss->v[ss->n++];
	snprintf(x->key, sizeof(x->key), "%s|%u|%s", t->rrname, t->rrtype, t->rdata);
	x->t = *t;
	snprintf(x->bw, sizeof(x->bw), "%s", t->bailiwick ? t->bailiwick : "");
	return 0;
}

static int snap_cmp(const void *a, const void *b)
{
	return strcmp(((const struct snap *)a)->key, ((const struct snap *)b)->key);
}

static void snapshot(struct d4_store *s, struct snaps *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct d4_store_pdns_query q;
	memset(&q, 0, sizeof(q));
	q.kind = D4_PDNS_Q_NAME_RIGHT;
	q.name = ".";
	q.max_tlp = 6; /* tlp:red: everything */
	struct d4_store_pdns_qresult res;
	ck_assert_int_eq(d4_store_pdns_query(s, &q, snap_cb, ss, &res), 0);
	qsort(ss->v, ss->n, sizeof(*ss->v), snap_cmp);
}

/* Zipf-like observations of few tuples: names in varying case, with and
 * without the trailing dot, 12 sensors (beyond the 8 kept), TLPs including
 * NONE/invalid, orgs, bailiwicks, swapped times, counts of 0. */
static void gen_repeats(struct d4_store_pdns_obs *obs, size_t n, char (*names)[64], char (*rdata)[64], char (*bws)[64])
{
	for (size_t i = 0; i < n; i++) {
		struct d4_store_pdns_obs *o = &obs[i];
		memset(o, 0, sizeof(*o));
		unsigned r = (unsigned)(rnd() % 1000);
		r = r < 500 ? r % 5 : r < 800 ? r % 40 : r % 300; /* a few hot tuples, a tail */
		snprintf(names[i], 64, "%s%u.Agg.Test%s", rndn(2) ? "H" : "h", r % 97, rndn(2) ? "." : "");
		o->rrname = names[i];
		o->rrtype = r % 3 == 0 ? 1 : r % 3 == 1 ? 16 : 5;
		if (o->rrtype == 1)
			snprintf(rdata[i], 64, "192.0.2.%u", r % 7);
		else if (o->rrtype == 16)
			snprintf(rdata[i], 64, "\"t%u\"", r % 5);
		else
			snprintf(rdata[i], 64, "c%u.cdn.test.", r % 4);
		o->rdata = rdata[i];
		unsigned b = rndn(4);
		snprintf(bws[i], 64, b == 0 ? "" : b == 1 ? "test." : b == 2 ? "agg.test." : "Other.");
		o->bailiwick = bws[i];
		o->time_first = 1600000000 + rnd() % 1000000;
		o->time_last = rndn(8) ? o->time_first + rnd() % 300000 : o->time_first - rnd() % 1000;
		o->count = rndn(5);
		o->tlp = (uint8_t)rndn(9);
		o->has_sensor = rndn(10) != 0;
		memcpy(o->sensor, sensors[rndn(12)], 16);
		memcpy(o->org, orgs[rndn(6) == 0 ? rndn(3) : 0], 16);
	}
}

START_TEST(test_batch_repeats)
{
	rng_state = 777;
	for (int i = 0; i < 12; i++)
		for (int j = 0; j < 16; j++)
			sensors[i][j] = (uint8_t)(i * 16 + j + 1);
	for (int i = 0; i < 3; i++)
		memset(orgs[i], 0xa0 + i, 16);
	struct d4_store_opts o = base_opts();
	struct d4_store *a = open_store(&o);
	char dir2[320];
	snprintf(dir2, sizeof(dir2), "%s/store2", tmpdir);
	struct d4_store_opts o2 = base_opts();
	o2.path = dir2;
	struct d4_store *b = open_store(&o2);
	enum { N = 6000 };
	struct d4_store_pdns_obs *obs = calloc(N, sizeof(*obs));
	char(*names)[64] = calloc(N, 64), (*rdata)[64] = calloc(N, 64), (*bws)[64] = calloc(N, 64);
	ck_assert(obs && names && rdata && bws);
	/* two rounds: new tuples, then repeats of stored ones with new ones */
	for (int round = 0; round < 2; round++) {
		gen_repeats(obs, N, names, rdata, bws);
		ck_assert_int_eq(d4_store_pdns_apply(a, obs, N, NULL), 0);
		for (size_t i = 0; i < N; i++)
			ck_assert_int_eq(d4_store_pdns_apply(b, &obs[i], 1, NULL), 0);
	}
	struct snaps sa, sb;
	snapshot(a, &sa);
	snapshot(b, &sb);
	ck_assert_uint_gt(sa.n, 100);
	ck_assert_uint_eq(sa.n, sb.n);
	unsigned many_sensors = 0;
	for (size_t i = 0; i < sa.n; i++) {
		const struct d4_store_pdns_tuple *x = &sa.v[i].t, *y = &sb.v[i].t;
		ck_assert_str_eq(sa.v[i].key, sb.v[i].key);
		ck_assert_uint_eq(x->time_first, y->time_first);
		ck_assert_uint_eq(x->time_last, y->time_last);
		ck_assert_uint_eq(x->count, y->count);
		ck_assert_uint_eq(x->tlp, y->tlp);
		ck_assert_int_eq(x->org_mixed, y->org_mixed);
		ck_assert_int_eq(memcmp(x->org, y->org, 16), 0);
		ck_assert_uint_eq(x->nsensors, y->nsensors);
		ck_assert_int_eq(memcmp(x->sensors, y->sensors, sizeof(x->sensors)), 0);
		ck_assert_uint_eq(x->sensor_count, y->sensor_count);
		ck_assert_str_eq(sa.v[i].bw, sb.v[i].bw);
		many_sensors += x->nsensors == D4_PDNS_SENSORS_KEEP && x->sensor_count > D4_PDNS_SENSORS_KEEP;
	}
	ck_assert_uint_gt(many_sensors, 0); /* the sketch was exercised */
	/* the indexes of the batched store are whole */
	check_consistency(a, sa.n);
	check_consistency(b, sb.n);
	free(sa.v);
	free(sb.v);
	free(obs);
	free(names);
	free(rdata);
	free(bws);
	d4_store_close(a);
	d4_store_close(b);
}
END_TEST

/* ---- cursor + apply atomicity ---- */

START_TEST(test_cursor_atomic)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	uint8_t buf[64];
	size_t len = 0;
	ck_assert_int_eq(d4_store_pdns_cursor_get(s, "pdns/frames", buf, sizeof(buf), &len), D4_ENOTFOUND);
	struct d4_store_pdns_obs ob[3];
	memset(ob, 0, sizeof(ob));
	const char *names[3] = {"a.test.", "b.test.", "a.test."};
	for (int i = 0; i < 3; i++) {
		ob[i].rrname = names[i];
		ob[i].rrtype = 1;
		ob[i].rdata = "192.0.2.7";
		ob[i].time_first = ob[i].time_last = 100 + (uint64_t)i;
		ob[i].count = 2;
		ob[i].tlp = D4_TLP_GREEN;
	}
	struct d4_store_pdns_counters d[2];
	memset(d, 0, sizeof(d));
	memset(d[0].sensor, 1, 16);
	d[0].observations = 3;
	d[0].bad_lines = 2;
	memset(d[1].sensor, 2, 16);
	d[1].bad_packets = 5;
	uint8_t v1[8] = {0, 0, 0, 0, 0, 0, 0, 42};
	struct d4_store_pdns_cursor cur = {"pdns/frames", v1, 8, d, 2};
	ck_assert_int_eq(d4_store_pdns_apply(s, ob, 3, &cur), 0);
	d4_store_close(s);

	/* after a restart: the cursor and the counts of exactly one apply */
	s = open_store(&o);
	ck_assert_int_eq(d4_store_pdns_cursor_get(s, "pdns/frames", buf, sizeof(buf), &len), 0);
	ck_assert_uint_eq(len, 8);
	ck_assert_int_eq(memcmp(buf, v1, 8), 0);
	ck_assert_int_eq(d4_store_pdns_cursor_get(s, "pdns/frames", buf, 4, &len), D4_ETOOBIG);
	struct d4_store_pdns_counters c;
	ck_assert_int_eq(d4_store_pdns_counters_get(s, d[0].sensor, &c), 0);
	ck_assert_uint_eq(c.observations, 3);
	ck_assert_uint_eq(c.bad_lines, 2);
	ck_assert_int_eq(d4_store_pdns_counters_get(s, d[1].sensor, &c), 0);
	ck_assert_uint_eq(c.bad_packets, 5);
	uint8_t none[16] = {9};
	ck_assert_int_eq(d4_store_pdns_counters_get(s, none, &c), D4_ENOTFOUND);
	struct one r;
	ck_assert_int_eq(lookup(s, "a.test.", 1, &r), 1);
	ck_assert_uint_eq(r.t.count, 4);
	/* a second batch adds once */
	v1[7] = 43;
	ck_assert_int_eq(d4_store_pdns_apply(s, ob, 1, &cur), 0);
	ck_assert_int_eq(d4_store_pdns_counters_get(s, d[0].sensor, &c), 0);
	ck_assert_uint_eq(c.observations, 6);
	ck_assert_int_eq(lookup(s, "a.test.", 1, &r), 1);
	ck_assert_uint_eq(r.t.count, 6);
	unsigned nc = 0;
	ck_assert_int_eq(d4_store_pdns_counters_foreach(s, count_cb_c, &nc), 0);
	ck_assert_uint_eq(nc, 2);
	/* a failing batch (bad cursor) changes nothing */
	struct d4_store_pdns_cursor bad = {"", v1, 8, d, 2};
	ck_assert_int_eq(d4_store_pdns_apply(s, ob, 3, &bad), D4_EINVAL);
	d4_store_close(s);

	/* map full in the middle of a batch: nothing of it is committed */
	o.map_size = 2u << 20;
	s = open_store(&o);
	size_t nbig = 20000;
	struct d4_store_pdns_obs *big = calloc(nbig, sizeof(*big));
	char(*nm)[32] = calloc(nbig, 32);
	for (size_t i = 0; i < nbig; i++) {
		snprintf(nm[i], 32, "n%zu.full.test.", i);
		big[i].rrname = nm[i];
		big[i].rrtype = 16;
		big[i].rdata = "\"some text to fill pages with\"";
		big[i].time_first = big[i].time_last = 1;
	}
	v1[7] = 99;
	ck_assert_int_eq(d4_store_pdns_apply(s, big, nbig, &cur), D4_EFULL);
	ck_assert_int_eq(d4_store_pdns_cursor_get(s, "pdns/frames", buf, sizeof(buf), &len), 0);
	ck_assert_int_eq(buf[7], 43);
	ck_assert_int_eq(d4_store_pdns_counters_get(s, d[0].sensor, &c), 0);
	ck_assert_uint_eq(c.observations, 6);
	struct d4_store_pdns_info info;
	ck_assert_int_eq(d4_store_pdns_info(s, &info), 0);
	ck_assert_uint_eq(info.tuples, 2);
	check_consistency(s, 2);
	free(big);
	free(nm);
	d4_store_close(s);
}
END_TEST

/* ---- side records (docs/store.md "pdns_side") ---- */

START_TEST(test_side_codec)
{
	rng_state = 0x51de;
	static struct d4_store_pdns_side_obs e[300], e2[300];
	static uint8_t b[D4_PDNS_SIDE_LEN(300)];
	for (int round = 0; round < 200; round++) {
		size_t n = rndn(300);
		for (size_t i = 0; i < n; i++) {
			unsigned k = rndn(4);
			struct d4_store_pdns_side_obs *x = &e[i];
			x->count = k == 0 ? rndn(3) : k == 1 ? rnd() : k == 2 ? UINT64_MAX : rndn(1u << 20);
			x->sensors = rndn(3) ? rndn(9) : (rndn(2) ? UINT32_MAX : (uint32_t)rnd());
			x->sensors_before = x->sensors ? x->sensors - rndn(2) : 0;
			x->tf_delta = rndn(2) ? 0 : rndn(3) ? rndn(86400) : rnd();
			x->tl_delta = rndn(2) ? 0 : rnd() >> rndn(64);
			x->tlp = (uint8_t)rndn(8);
			x->org_mixed = (uint8_t)rndn(2);
			x->received = (uint8_t)rndn(2);
		}
		uint64_t fp = rnd(), fp2;
		size_t len = d4_store_pdns_side_encode(fp, e, n, b), n2;
		ck_assert_uint_le(len, D4_PDNS_SIDE_LEN(n));
		ck_assert_int_eq(d4_store_pdns_side_decode(b, len, &fp2, e2, 300, &n2), 0);
		ck_assert_uint_eq(fp2, fp);
		ck_assert_uint_eq(n2, n);
		for (size_t i = 0; i < n; i++) {
			ck_assert_mem_eq(&e2[i], &e[i], sizeof(e[i]));
		}
		/* too small a buffer: the count, nothing else */
		if (n) {
			ck_assert_int_eq(d4_store_pdns_side_decode(b, len, &fp2, e2, n - 1, &n2), D4_ETOOBIG);
			ck_assert_uint_eq(n2, n);
		}
		/* every truncation, a trailing byte, another version: corrupt */
		for (size_t l = 0; l < len; l++)
			ck_assert_int_eq(d4_store_pdns_side_decode(b, l, &fp2, e2, 300, &n2), D4_ECORRUPT);
		b[len] = 0;
		ck_assert_int_eq(d4_store_pdns_side_decode(b, len + 1, &fp2, e2, 300, &n2), D4_ECORRUPT);
		b[0] = 2;
		ck_assert_int_eq(d4_store_pdns_side_decode(b, len, &fp2, e2, 300, &n2), D4_ECORRUPT);
	}
	/* one value, one encoding: no over-long or overflowing varint */
	uint64_t fp;
	size_t n;
	static const uint8_t overlong[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x81, 0x00, 0x01, 0, 0, 0, 1};
	ck_assert_int_eq(d4_store_pdns_side_decode(overlong, sizeof(overlong), &fp, e2, 300, &n), D4_ECORRUPT);
	static const uint8_t big[] = {1,    0,	  0,	0,    0,    0,	  0,	0,    0, 1, 0xff, 0xff, 0xff,
				      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0, 0, 0,	  1};
	ck_assert_int_eq(d4_store_pdns_side_decode(big, sizeof(big), &fp, e2, 300, &n), D4_ECORRUPT);
	static const uint8_t sens33[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 0, 0, 1};
	ck_assert_int_eq(d4_store_pdns_side_decode(sens33, sizeof(sens33), &fp, e2, 300, &n), D4_ECORRUPT);
	/* more sensors before than after; an unknown flag */
	static const uint8_t before[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 5, 2, 3, 0, 0, 1};
	ck_assert_int_eq(d4_store_pdns_side_decode(before, sizeof(before), &fp, e2, 300, &n), D4_ECORRUPT);
	static const uint8_t flag[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 5, 2, 1, 0, 0, 0x21};
	ck_assert_int_eq(d4_store_pdns_side_decode(flag, sizeof(flag), &fp, e2, 300, &n), D4_ECORRUPT);
	static const uint8_t good[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 5, 2, 1, 3, 4, 0x1c};
	ck_assert_int_eq(d4_store_pdns_side_decode(good, sizeof(good), &fp, e2, 300, &n), 0);
	ck_assert(n == 1 && e2[0].count == 5 && e2[0].sensors == 2 && e2[0].sensors_before == 1 &&
		  e2[0].tf_delta == 3 && e2[0].tl_delta == 4 && e2[0].tlp == 4 && e2[0].org_mixed && e2[0].received);
	static const uint8_t many[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 1, 1, 0, 0, 0, 1};
	ck_assert_int_eq(d4_store_pdns_side_decode(many, sizeof(many), &fp, e2, 300, &n), D4_ECORRUPT);
	static const uint8_t empty[] = {1, 0, 0, 0, 0, 0, 0, 0, 7, 0};
	ck_assert_int_eq(d4_store_pdns_side_decode(empty, sizeof(empty), &fp, e2, 0, &n), 0);
	ck_assert_uint_eq(fp, 7);
	ck_assert_uint_eq(n, 0);
}
END_TEST

struct side_got {
	uint64_t fp[8];
	size_t n[8];
	struct d4_store_pdns_side_obs e[8][16];
	int found[8];
};

static int side_got_cb(void *ctx, size_t i, const uint8_t *val, size_t len)
{
	struct side_got *g = ctx;
	ck_assert_uint_lt(i, 8);
	ck_assert_int_eq(d4_store_pdns_side_decode(val, len, &g->fp[i], g->e[i], 16, &g->n[i]), 0);
	g->found[i] = 1;
	return 0;
}

static void side_get(struct d4_store *s, const uint64_t *seqs, size_t n, struct side_got *g)
{
	memset(g, 0, sizeof(*g));
	ck_assert_int_eq(d4_store_pdns_side_read(s, seqs, n, side_got_cb, g), 0);
}

static void side_ob(struct d4_store_pdns_obs *o, const char *name, const char *rdata, uint64_t count, uint8_t sensor)
{
	memset(o, 0, sizeof(*o));
	o->rrname = name;
	o->rrname_len = strlen(name);
	o->rrtype = 1;
	o->rdata = rdata;
	o->rdata_len = strlen(rdata);
	o->time_first = o->time_last = 1000;
	o->count = count;
	o->tlp = D4_TLP_GREEN;
	if (sensor) {
		o->has_sensor = 1;
		memset(o->sensor, sensor, 16);
	}
}

struct side_big {
	struct d4_store_pdns_side_obs e[1500];
	size_t n[4];
	uint64_t fp[4];
	int found[4];
};

static int side_big_cb(void *ctx, size_t i, const uint8_t *val, size_t len)
{
	struct side_big *g = ctx;
	ck_assert_uint_lt(i, 4);
	ck_assert_int_eq(d4_store_pdns_side_decode(val, len, &g->fp[i], g->e, 1500, &g->n[i]), 0);
	g->found[i] = 1;
	return 0;
}

struct side_huge {
	struct d4_store_pdns_side_obs *e;
	size_t n;
	uint64_t fp;
};

static int side_huge_cb(void *ctx, size_t i, const uint8_t *val, size_t len)
{
	struct side_huge *g = ctx;
	ck_assert_uint_eq(i, 0);
	ck_assert_int_eq(d4_store_pdns_side_decode(val, len, &g->fp, g->e, 80000, &g->n), 0);
	return 0;
}

/* Side records of frames with many observations are stored in parts that
 * fit a leaf (seq || part) and read back whole; a whole record under seq
 * alone (an older store's) reads as before; a rewrite, a frame met twice
 * and retention's trim take every part. */
START_TEST(test_side_parts)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	static struct d4_store_pdns_obs ob[1500];
	static char names[1500][32];
	static uint64_t seq[1500];
	for (int i = 0; i < 1500; i++) {
		snprintf(names[i], sizeof(names[i]), "h%d.parts.test.", i % 700);
		side_ob(&ob[i], names[i], "192.0.2.9", (uint64_t)(i % 5 + 1), (uint8_t)(i % 3 + 1));
		seq[i] = i < 1200 ? 30 : 31; /* 1,200 observations (≈ 5 parts), then 300 (1–2) */
	}
	ck_assert_int_eq(d4_store_pdns_apply_frames(s, ob, seq, 1500, NULL), 0);
	/* the parts, as stored: seq || 0, 1, ... each small enough for a leaf */
	MDB_txn *txn;
	MDB_cursor *c;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(mdb_cursor_open(txn, s->dbi[DBI_PDNS_SIDE], &c), 0);
	MDB_val k, v;
	unsigned parts30 = 0, parts31 = 0;
	size_t total30 = 0;
	int r = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	for (; r == 0; r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		ck_assert_uint_eq(k.mv_size, 9);
		ck_assert_uint_le(v.mv_size, 2000);
		uint64_t sq = d4_get_u64be(k.mv_data);
		unsigned part = ((const uint8_t *)k.mv_data)[8];
		ck_assert(sq == 30 || sq == 31);
		ck_assert_uint_eq(part, sq == 30 ? parts30++ : parts31++);
		if (sq == 30)
			total30 += v.mv_size;
	}
	ck_assert_int_eq(r, MDB_NOTFOUND);
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	ck_assert_uint_ge(parts30, 3);
	ck_assert_uint_ge(parts31, 1);
	ck_assert_uint_gt(total30, 2 * 2000);

	static struct side_big g;
	uint64_t q[3] = {30, 31, 32};
	memset(&g, 0, sizeof(g));
	ck_assert_int_eq(d4_store_pdns_side_read(s, q, 3, side_big_cb, &g), 0);
	ck_assert(g.found[0] && g.found[1] && !g.found[2]);
	ck_assert_uint_eq(g.n[0], 1200);
	ck_assert_uint_eq(g.fp[0], d4_store_pdns_side_fp(ob, 1200));
	ck_assert_uint_eq(g.n[1], 300);
	ck_assert_uint_eq(g.fp[1], d4_store_pdns_side_fp(ob + 1200, 300));
	/* frame 31's last observation: h99, seen 3 times in 1,500 (i = 99, 799, 1499)
	 * with counts 5, 5, 5 */
	ck_assert_uint_eq(g.e[299].count, 15);
	/* each one read alone: the same record (a single part from the page) */
	memset(&g, 0, sizeof(g));
	ck_assert_int_eq(d4_store_pdns_side_read(s, q + 1, 1, side_big_cb, &g), 0);
	ck_assert(g.found[0] && g.n[0] == 300 && g.fp[0] == d4_store_pdns_side_fp(ob + 1200, 300));

	/* an older store's whole record under seq alone reads as it is */
	uint8_t rec[D4_PDNS_SIDE_LEN(2)];
	struct d4_store_pdns_side_obs e2[2] = {{.count = 4, .sensors = 1},
					       {.count = 9, .sensors = 2, .sensors_before = 1}};
	size_t rl = d4_store_pdns_side_encode(77, e2, 2, rec);
	uint8_t k8[8];
	d4_put_u64be(k8, 25);
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	k = (MDB_val){8, k8};
	v = (MDB_val){rl, rec};
	ck_assert_int_eq(mdb_put(txn, s->dbi[DBI_PDNS_SIDE], &k, &v, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	uint64_t q25[2] = {25, 30};
	memset(&g, 0, sizeof(g));
	ck_assert_int_eq(d4_store_pdns_side_read(s, q25, 2, side_big_cb, &g), 0);
	ck_assert(g.found[0] && g.found[1]);
	ck_assert_uint_eq(g.fp[0], 77);
	ck_assert_uint_eq(g.n[0], 2);
	ck_assert_uint_eq(g.n[1], 1200);

	/* a frame met again in a later batch: its record rewritten whole (3
	 * observations now: one part, the old parts gone) */
	uint64_t s30[3] = {30, 30, 30};
	ck_assert_int_eq(d4_store_pdns_apply_frames(s, ob, s30, 3, NULL), 0);
	memset(&g, 0, sizeof(g));
	ck_assert_int_eq(d4_store_pdns_side_read(s, q, 1, side_big_cb, &g), 0);
	ck_assert(g.found[0] && g.n[0] == 3 && g.fp[0] == d4_store_pdns_side_fp(ob, 3));
	/* a frame met twice in one call: every part of its record goes */
	uint64_t tw[3] = {31, 40, 31};
	ck_assert_int_eq(d4_store_pdns_apply_frames(s, ob, tw, 3, NULL), 0);
	memset(&g, 0, sizeof(g));
	ck_assert_int_eq(d4_store_pdns_side_read(s, q + 1, 1, side_big_cb, &g), 0);
	ck_assert(!g.found[0]);

	/* retention's trim: whole records and parts below the first kept frame */
	ck_assert_int_eq(d4_store_pdns_apply_frames(s, ob + 1200, seq + 1200, 300, NULL), 0); /* 31 again */
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	ck_assert_int_eq(store_trim_by_seq(s, txn, DBI_PDNS_SIDE, 31, "pdns side"), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	memset(&g, 0, sizeof(g));
	ck_assert_int_eq(d4_store_pdns_side_read(s, q25, 2, side_big_cb, &g), 0);
	ck_assert(!g.found[0] && !g.found[1]);
	memset(&g, 0, sizeof(g));
	ck_assert_int_eq(d4_store_pdns_side_read(s, q + 1, 1, side_big_cb, &g), 0);
	ck_assert(g.found[0] && g.n[0] == 300);

	/* a frame beyond 256 parts of 2,000 bytes: 256 larger ones */
	enum { NHUGE = 80000 };
	struct d4_store_pdns_obs *hb = calloc(NHUGE, sizeof(*hb));
	uint64_t *hs = calloc(NHUGE, sizeof(*hs));
	struct d4_store_pdns_side_obs *he = calloc(NHUGE, sizeof(*he));
	ck_assert(hb && hs && he);
	for (int i = 0; i < NHUGE; i++) {
		side_ob(&hb[i], "huge.parts.test.", "192.0.2.10", 1, 1);
		hs[i] = 50;
	}
	ck_assert_int_eq(d4_store_pdns_apply_frames(s, hb, hs, NHUGE, NULL), 0);
	uint8_t k50[8];
	d4_put_u64be(k50, 50);
	unsigned hparts = 0;
	size_t htotal = 0;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(mdb_cursor_open(txn, s->dbi[DBI_PDNS_SIDE], &c), 0);
	k = (MDB_val){8, k50};
	for (r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); r == 0 && !memcmp(k.mv_data, k50, 8);
	     r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		ck_assert_uint_eq(k.mv_size, 9);
		ck_assert_uint_eq(((const uint8_t *)k.mv_data)[8], hparts);
		hparts++;
		htotal += v.mv_size;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	ck_assert_uint_eq(hparts, 256);
	ck_assert_uint_gt(htotal, 256 * 2000);
	struct side_huge hg = {he, 0, 0};
	ck_assert_int_eq(d4_store_pdns_side_read(s, (uint64_t[]){50}, 1, side_huge_cb, &hg), 0);
	ck_assert_uint_eq(hg.n, NHUGE);
	ck_assert_uint_eq(hg.fp, d4_store_pdns_side_fp(hb, NHUGE));
	ck_assert_uint_eq(he[NHUGE - 1].count, NHUGE);
	free(hb);
	free(hs);
	free(he);
	d4_store_close(s);
}
END_TEST

/* Each observation's tuple count and distinct sensors right after its
 * merge, per frame, in the merge's transaction: repeats inside a batch,
 * across batches, sensors beyond the kept set, observations the store
 * skips; a frame whose observations are not consecutive gets none;
 * retention's trim; a store without the table (an older build's). */
START_TEST(test_side_apply)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	struct d4_store_pdns_obs ob[8];
	side_ob(&ob[0], "a.side.test.", "192.0.2.1", 1, 1);
	side_ob(&ob[1], "b.side.test.", "192.0.2.2", 2, 1);
	side_ob(&ob[2], "A.side.test", "192.0.2.1", 1, 2); /* the same tuple as ob[0] once normalised */
	side_ob(&ob[3], "a.side.test.", "192.0.2.1", 3, 1);
	side_ob(&ob[4], "c.side.test.", "192.0.2.3", 1, 3);
	side_ob(&ob[5], "", "192.0.2.4", 1, 3); /* skipped by the store */
	side_ob(&ob[6], "d.side.test.", "192.0.2.4", 1, 3);
	uint64_t seq[7] = {10, 10, 10, 11, 11, 11, 0};
	ck_assert_int_eq(d4_store_pdns_apply_frames(s, ob, seq, 7, NULL), 0);
	struct side_got g;
	uint64_t q[4] = {10, 11, 12, 0};
	side_get(s, q, 4, &g);
	ck_assert(g.found[0] && g.found[1] && !g.found[2] && !g.found[3]);
	ck_assert_uint_eq(g.n[0], 3);
	ck_assert_uint_eq(g.fp[0], d4_store_pdns_side_fp(ob, 3));
	ck_assert_uint_eq(g.e[0][0].count, 1);
	ck_assert_uint_eq(g.e[0][0].sensors, 1);
	ck_assert_uint_eq(g.e[0][1].count, 2);
	ck_assert_uint_eq(g.e[0][1].sensors, 1);
	ck_assert_uint_eq(g.e[0][2].count, 2);
	ck_assert_uint_eq(g.e[0][2].sensors, 2);
	ck_assert_uint_eq(g.n[1], 3);
	ck_assert_uint_eq(g.fp[1], d4_store_pdns_side_fp(ob + 3, 3));
	ck_assert_uint_eq(g.e[1][0].count, 5);
	ck_assert_uint_eq(g.e[1][0].sensors, 2);
	ck_assert_uint_eq(g.e[1][1].count, 1);
	ck_assert_uint_eq(g.e[1][1].sensors, 1);
	ck_assert_uint_eq(g.e[1][2].count, 0); /* not a tuple */
	ck_assert_uint_eq(g.e[1][2].sensors, 0);
	/* the fingerprint is of the observations as handed over, in order */
	ck_assert_uint_ne(d4_store_pdns_side_fp(ob, 3), d4_store_pdns_side_fp(ob + 1, 3));
	struct d4_store_pdns_obs sw[2] = {ob[1], ob[0]};
	ck_assert_uint_ne(d4_store_pdns_side_fp(ob, 2), d4_store_pdns_side_fp(sw, 2));

	/* the next batch goes on from the stored tuple; sensors beyond the
	 * eight kept are estimated, as the tuple's sensor_count */
	struct d4_store_pdns_obs nb[12];
	uint64_t nseq[12];
	for (int i = 0; i < 12; i++) {
		side_ob(&nb[i], "a.side.test.", "192.0.2.1", 1, (uint8_t)(10 + i));
		nseq[i] = 12;
	}
	ck_assert_int_eq(d4_store_pdns_apply_frames(s, nb, nseq, 12, NULL), 0);
	uint64_t q12 = 12;
	side_get(s, &q12, 1, &g);
	ck_assert(g.found[0]);
	ck_assert_uint_eq(g.n[0], 12);
	uint64_t cnt;
	uint32_t sens;
	ck_assert_int_eq(d4_store_pdns_seen(s, &ob[0], 1, &cnt, &sens), 0);
	for (int i = 0; i < 12; i++)
		ck_assert_uint_eq(g.e[0][i].count, 6 + (uint64_t)i);
	ck_assert_uint_eq(g.e[0][11].count, cnt);
	ck_assert_uint_eq(g.e[0][11].sensors, sens);
	ck_assert_uint_eq(g.e[0][5].sensors, 8); /* 2 + 6 new: still exact */
	for (int i = 1; i < 12; i++)
		ck_assert_uint_ge(g.e[0][i].sensors, g.e[0][i - 1].sensors);

	/* times, level, org and received origin of the tuple so far */
	struct d4_store_pdns_obs xb[3];
	side_ob(&xb[0], "e.side.test.", "192.0.2.5", 1, 1);
	xb[0].time_first = 900; /* swapped: 500..900 */
	xb[0].time_last = 500;
	xb[0].tlp = D4_TLP_CLEAR;
	side_ob(&xb[1], "e.side.test.", "192.0.2.5", 1, 2);
	xb[1].time_first = 700;
	xb[1].time_last = 1200;
	xb[1].tlp = D4_TLP_RED;
	memset(xb[1].org, 9, 16);
	side_ob(&xb[2], "e.side.test.", "192.0.2.5", 1, 1);
	xb[2].time_first = 600;
	xb[2].time_last = 650;
	xb[2].tlp = D4_TLP_CLEAR;
	uint64_t xs[3] = {16, 16, 16};
	ck_assert_int_eq(d4_store_pdns_apply_frames(s, xb, xs, 3, NULL), 0);
	uint64_t q16 = 16;
	side_get(s, &q16, 1, &g);
	ck_assert(g.found[0] && g.n[0] == 3);
	const struct d4_store_pdns_side_obs *x = g.e[0];
	ck_assert(x[0].count == 1 && x[0].sensors == 1 && x[0].sensors_before == 0 && x[0].tf_delta == 0 &&
		  x[0].tl_delta == 0 && x[0].tlp == D4_TLP_CLEAR && !x[0].org_mixed && !x[0].received);
	ck_assert(x[1].count == 2 && x[1].sensors == 2 && x[1].sensors_before == 1 && x[1].tf_delta == 200 &&
		  x[1].tl_delta == 0 && x[1].tlp == D4_TLP_RED && x[1].org_mixed && !x[1].received);
	ck_assert(x[2].count == 3 && x[2].sensors == 2 && x[2].sensors_before == 2 && x[2].tf_delta == 100 &&
		  x[2].tl_delta == 550 && x[2].tlp == D4_TLP_RED && x[2].org_mixed);
	/* a tuple that holds observations received from a partner */
	static const uint8_t hub[16] = {0xa1, 2};
	const uint8_t *hubs[1] = {hub};
	struct store_pdns_merge *mg;
	ck_assert_int_eq(store_pdns_merge_prep(&xb[0], hubs, 1, &mg), 0);
	MDB_txn *mt;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, 0, &mt), 0);
	ck_assert_int_eq(store_pdns_merge_txn(s, mt, mg), 0);
	ck_assert_int_eq(mdb_txn_commit(mt), 0);
	store_pdns_merge_free(mg);
	uint64_t x17 = 17;
	ck_assert_int_eq(d4_store_pdns_apply_frames(s, &xb[2], &x17, 1, NULL), 0);
	side_get(s, &x17, 1, &g);
	ck_assert(g.found[0] && g.n[0] == 1 && g.e[0][0].received && g.e[0][0].count == 5);

	/* a frame met twice in one call: no record (and an earlier one goes) */
	uint64_t tw[3] = {13, 14, 13};
	ck_assert_int_eq(d4_store_pdns_apply_frames(s, ob, tw, 3, NULL), 0);
	uint64_t q2[2] = {13, 14};
	side_get(s, q2, 2, &g);
	ck_assert(!g.found[0] && g.found[1]);
	/* without frames: nothing recorded */
	uint64_t q15 = 15;
	ck_assert_int_eq(d4_store_pdns_apply(s, ob, 3, NULL), 0);
	side_get(s, &q15, 1, &g);
	ck_assert(!g.found[0]);

	/* retention's part: records before the first frame kept */
	MDB_txn *txn;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	ck_assert_int_eq(store_trim_by_seq(s, txn, DBI_PDNS_SIDE, 12, "pdns side"), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	uint64_t q3[3] = {10, 11, 12};
	side_get(s, q3, 3, &g);
	ck_assert(!g.found[0] && !g.found[1] && g.found[2]);

	/* an older store: no table. Read-only, it reads as none; a writable
	 * open creates it (no schema step: nothing else changes) */
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_drop(txn, s->dbi[DBI_PDNS_SIDE], 1), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	d4_store_close(s);
	o.read_only = 1;
	s = open_store(&o);
	side_get(s, q3, 3, &g);
	ck_assert(!g.found[0] && !g.found[1] && !g.found[2]);
	d4_store_close(s);
	o.read_only = 0;
	s = open_store(&o);
	ck_assert_int_eq(d4_store_pdns_apply_frames(s, ob, seq, 7, NULL), 0);
	side_get(s, q, 2, &g);
	ck_assert(g.found[0] && g.found[1]);
	d4_store_close(s);
}
END_TEST

/* ---- kill -9 in the middle of applies ---- */

#define K9_BATCH 500

static void k9_child(int wfd)
{
	struct d4_store_opts o = base_opts();
	o.no_sync = 0; /* durable commits, like the hub */
	struct d4_store *s;
	if (d4_store_open(&o, &s))
		_exit(2);
	static struct d4_store_pdns_obs ob[K9_BATCH];
	static char nm[K9_BATCH][48], rd[K9_BATCH][48];
	uint8_t v0[8];
	size_t l0 = 0;
	uint64_t b0 = 0; /* continue after the previous round's last committed batch */
	if (d4_store_pdns_cursor_get(s, "k9", v0, sizeof(v0), &l0) == 0 && l0 == 8)
		b0 = d4_get_u64be(v0);
	for (uint64_t b = b0 + 1;; b++) {
		for (unsigned i = 0; i < K9_BATCH; i++) {
			/* half repeat earlier tuples, half are new */
			uint64_t t = (i & 1) ? b * K9_BATCH + i : (uint64_t)i;
			snprintf(nm[i], sizeof(nm[i]), "h%llu.k9.test.", (unsigned long long)(t % 977));
			snprintf(rd[i], sizeof(rd[i]), "10.%u.%u.%u", (unsigned)(t >> 16 & 255),
				 (unsigned)(t >> 8 & 255), (unsigned)(t & 255));
			memset(&ob[i], 0, sizeof(ob[i]));
			ob[i].rrname = nm[i];
			ob[i].rrtype = 1;
			ob[i].rdata = rd[i];
			ob[i].time_first = ob[i].time_last = 1000 + b;
			ob[i].count = 1;
			ob[i].tlp = D4_TLP_GREEN;
		}
		uint8_t v[8];
		d4_put_u64be(v, b);
		struct d4_store_pdns_counters d;
		memset(&d, 0, sizeof(d));
		memset(d.sensor, 7, 16);
		d.observations = K9_BATCH;
		struct d4_store_pdns_cursor cur = {"k9", v, 8, &d, 1};
		/* five frames of 100 observations per batch, with side records */
		static uint64_t fs[K9_BATCH];
		for (unsigned i = 0; i < K9_BATCH; i++)
			fs[i] = (b - 1) * 5 + i / 100 + 1;
		if (d4_store_pdns_apply_frames(s, ob, fs, K9_BATCH, &cur))
			_exit(3);
		if (wfd >= 0) { /* tell the parent that one batch is committed */
			if (write(wfd, "c", 1) != 1)
				_exit(4);
			close(wfd);
			wfd = -1;
		}
	}
}

struct k9side {
	uint64_t n, last;
};

static int k9side_cb(void *ctx, size_t i, const uint8_t *val, size_t len)
{
	struct k9side *k = ctx;
	static struct d4_store_pdns_side_obs e[100];
	uint64_t fp;
	size_t n;
	ck_assert_int_eq(d4_store_pdns_side_decode(val, len, &fp, e, 100, &n), 0);
	ck_assert_uint_eq(n, 100);
	k->n++;
	k->last = i + 1;
	return 0;
}

START_TEST(test_kill9)
{
	for (int round = 0; round < 3; round++) {
		int pfd[2];
		ck_assert_int_eq(pipe(pfd), 0);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(pfd[0]);
			k9_child(pfd[1]);
		}
		close(pfd[1]);
		char ch;
		ck_assert_int_eq(read(pfd[0], &ch, 1), 1); /* at least one batch committed */
		close(pfd[0]);
		usleep(50000 + 100000 * (unsigned)round);
		kill(pid, SIGKILL);
		int st;
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert(WIFSIGNALED(st));
		struct d4_store_opts o = base_opts();
		struct d4_store *s = open_store(&o);
		uint8_t v[8];
		size_t len;
		ck_assert_int_eq(d4_store_pdns_cursor_get(s, "k9", v, sizeof(v), &len), 0);
		uint64_t b = d4_get_u64be(v);
		ck_assert_uint_gt(b, 0);
		struct d4_store_pdns_counters c;
		uint8_t sn[16];
		memset(sn, 7, 16);
		ck_assert_int_eq(d4_store_pdns_counters_get(s, sn, &c), 0);
		/* counters, cursor and tuples from the same transactions */
		struct d4_store_pdns_query q;
		memset(&q, 0, sizeof(q));
		q.kind = D4_PDNS_Q_NAME_RIGHT;
		q.name = ".";
		q.max_tlp = 6; /* tlp:red: everything */
		struct d4_store_pdns_summary sm;
		ck_assert_int_eq(d4_store_pdns_summarize(s, &q, &sm), 0);
		ck_assert_uint_eq(c.observations, sm.count);
		ck_assert_uint_eq(sm.time_last, 1000 + b);
		struct d4_store_pdns_info info;
		ck_assert_int_eq(d4_store_pdns_info(s, &info), 0);
		ck_assert_uint_eq(info.tuples, sm.tuples);
		check_consistency(s, sm.tuples);
		/* a side record for every frame of the committed batches, none
		 * after them: from the same transactions */
		struct k9side ks = {0, 0};
		uint64_t *qs = malloc((5 * b + 10) * sizeof(*qs));
		for (uint64_t f = 0; f < 5 * b + 10; f++)
			qs[f] = f + 1;
		ck_assert_int_eq(d4_store_pdns_side_read(s, qs, 5 * b + 10, k9side_cb, &ks), 0);
		free(qs);
		ck_assert_uint_eq(ks.n, 5 * b);
		ck_assert_uint_eq(ks.last, 5 * b);
		fprintf(stderr, "test_kill9: round %d: killed after batch %llu (%llu tuples)\n", round,
			(unsigned long long)b, (unsigned long long)sm.tuples);
		d4_store_close(s);
	}
}
END_TEST

/* ---- schema: an older store ---- */

START_TEST(test_schema_upgrade)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	/* make it a schema-2 store: schema = 2 and no pDNS table */
	MDB_txn *txn;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	ck_assert_int_eq(store_settings_put_u64(s, txn, "schema", 2), 0);
	for (int d = DBI_PDNS_TUPLES; d <= DBI_PDNS_META; d++)
		ck_assert_int_eq(mdb_drop(txn, s->dbi[d], 1), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	d4_store_close(s);

	/* read-only, not migrated: opens, pDNS reads are empty, writes refused */
	o.read_only = 1;
	s = open_store(&o);
	struct d4_store_pdns_query q;
	memset(&q, 0, sizeof(q));
	q.kind = D4_PDNS_Q_NAME;
	q.name = "a.test.";
	ck_assert_uint_eq(count_query(s, &q), 0);
	struct d4_store_pdns_info info;
	ck_assert_int_eq(d4_store_pdns_info(s, &info), 0);
	ck_assert_uint_eq(info.tuples, 0);
	uint8_t buf[8];
	size_t len;
	ck_assert_int_eq(d4_store_pdns_cursor_get(s, "x", buf, sizeof(buf), &len), D4_ENOTFOUND);
	unsigned nc = 0;
	ck_assert_int_eq(d4_store_pdns_counters_foreach(s, count_cb_c, &nc), 0);
	struct d4_store_pdns_obs ob;
	memset(&ob, 0, sizeof(ob));
	ob.rrname = "a.test.";
	ob.rrtype = 1;
	ob.rdata = "192.0.2.1";
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), D4_EPERM);
	d4_store_close(s);

	/* writable: upgraded to 4, tables created, usable */
	o.read_only = 0;
	s = open_store(&o);
	uint64_t ver = 0;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(store_settings_get_u64(s, txn, "schema", &ver), 0);
	mdb_txn_abort(txn);
	ck_assert_uint_eq(ver, STORE_SCHEMA_VERSION);
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	d4_store_close(s);

	/* read-only on the migrated store sees the data */
	o.read_only = 1;
	s = open_store(&o);
	ck_assert_uint_eq(count_query(s, &q), 1);
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), D4_EPERM);
	d4_store_close(s);

	/* a newer schema is refused with a clear error */
	o.read_only = 0;
	s = open_store(&o);
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	ck_assert_int_eq(store_settings_put_u64(s, txn, "schema", STORE_SCHEMA_VERSION + 1), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	d4_store_close(s);
	ck_assert_int_eq(d4_store_open(&o, &s), D4_ESTORE);
}
END_TEST

/* Schema 3 (the first pDNS layout) -> 4: the pDNS tables are emptied, the
 * two that went deleted, the ingest cursor and counters reset; the frame
 * log and everything else stay. */
START_TEST(test_schema_3_to_4)
{
	struct d4_store_opts o = base_opts();
	o.pdns_layout = D4_STORE_PDNS_LAYOUT_S4; /* schema 4's own tables */
	struct d4_store *s = open_store(&o);
	struct d4_store_pdns_obs ob;
	memset(&ob, 0, sizeof(ob));
	ob.rrname = "a.test.";
	ob.rrtype = 1;
	ob.rdata = "192.0.2.1";
	struct d4_store_pdns_counters d;
	memset(&d, 0, sizeof(d));
	memset(d.sensor, 7, 16);
	d.observations = 1;
	const uint8_t cv[3] = {1, 2, 3};
	struct d4_store_pdns_cursor cur = {"pdns/frames", cv, sizeof(cv), &d, 1};
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, &cur), 0);
	/* make it look like a schema-3 store: schema 3 and its two extra tables */
	MDB_txn *txn;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	ck_assert_int_eq(store_settings_put_u64(s, txn, "test_kept", 42), 0); /* not pDNS: stays */
	ck_assert_int_eq(store_settings_put_u64(s, txn, "schema", 3), 0);
	static const char *const gone[] = {"pdns_ident", "pdns_name"};
	for (int i = 0; i < 2; i++) {
		MDB_dbi dbi;
		ck_assert_int_eq(mdb_dbi_open(txn, gone[i], MDB_CREATE, &dbi), 0);
		MDB_val k = {3, (void *)"abc"}, v = {0, (void *)""};
		ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	}
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	d4_store_close(s);

	/* read-only, not migrated: the old-layout tables read as empty */
	o.read_only = 1;
	s = open_store(&o);
	struct d4_store_pdns_query q;
	memset(&q, 0, sizeof(q));
	q.kind = D4_PDNS_Q_NAME;
	q.name = "a.test.";
	ck_assert_uint_eq(count_query(s, &q), 0);
	uint8_t buf[8];
	size_t len;
	ck_assert_int_eq(d4_store_pdns_cursor_get(s, "pdns/frames", buf, sizeof(buf), &len), D4_ENOTFOUND);
	d4_store_close(s);

	/* writable: migrated */
	o.read_only = 0;
	s = open_store(&o);
	uint64_t ver = 0;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(store_settings_get_u64(s, txn, "schema", &ver), 0);
	uint64_t kept = 0;
	ck_assert_int_eq(store_settings_get_u64(s, txn, "test_kept", &kept), 0);
	ck_assert_uint_eq(kept, 42);
	for (int i = 0; i < 2; i++) {
		MDB_dbi dbi;
		ck_assert_int_eq(mdb_dbi_open(txn, gone[i], 0, &dbi), MDB_NOTFOUND);
	}
	mdb_txn_abort(txn);
	ck_assert_uint_eq(ver, STORE_SCHEMA_VERSION);
	ck_assert_uint_eq(count_query(s, &q), 0);
	ck_assert_int_eq(d4_store_pdns_cursor_get(s, "pdns/frames", buf, sizeof(buf), &len), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_pdns_counters_get(s, d.sensor, &d), D4_ENOTFOUND);
	check_consistency(s, 0);
	ck_assert_int_eq(d4_store_pdns_apply(s, &ob, 1, NULL), 0);
	ck_assert_uint_eq(count_query(s, &q), 1);
	check_consistency(s, 1);
	d4_store_close(s);
}
END_TEST

/* Name queries hand their results out in index-key order whatever the order
 * of the tuple ids (the id-keyed layout fetches the records of a block of
 * entries in ascending id order, then emits them in key order): a name
 * whose tuples were created with falling rrtypes (so ids and key order run
 * opposite ways), over several blocks, paged at limits around the block
 * size, and stopped by the callback inside a block, gives the same list. */
#define BLK_N 600
struct blk_list {
	char e[BLK_N + 16][48];
	size_t n;
	size_t stop_at; /* the callback asks to stop after this many (0: never) */
};

static int blk_cb(void *ctx, const struct d4_store_pdns_tuple *t)
{
	struct blk_list *l = ctx;
	ck_assert_uint_lt(l->n, BLK_N + 16);
	snprintf(l->e[l->n++], sizeof(l->e[0]), "%s|%u|%.*s", t->rrname, t->rrtype, (int)t->rdata_len, t->rdata);
	return l->stop_at && l->n == l->stop_at ? 1 : 0;
}

static void blk_run(struct d4_store *s, struct d4_store_pdns_query *q, unsigned limit, size_t stop_at,
		    struct blk_list *out)
{
	uint8_t cur[D4_PDNS_RESUME_MAX];
	struct d4_store_pdns_qresult res;
	memset(out, 0, sizeof(*out));
	q->limit = limit;
	q->resume = NULL;
	q->resume_len = 0;
	for (int pages = 0;; pages++) {
		ck_assert_int_lt(pages, 2 * BLK_N + 10);
		size_t before = out->n;
		out->stop_at = stop_at ? before + stop_at : 0;
		ck_assert_int_eq(d4_store_pdns_query(s, q, blk_cb, out, &res), 0);
		ck_assert_uint_eq(res.returned, out->n - before);
		if (!res.more && !(stop_at && res.returned == stop_at))
			break;
		ck_assert_uint_gt(res.returned, 0);
		memcpy(cur, res.resume, res.resume_len);
		q->resume = cur;
		q->resume_len = res.resume_len;
	}
}

START_TEST(test_query_blocks)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	static const uint16_t types[] = {16, 2, 1}; /* created in this order: ids fall against key order */
	char rd[64];
	struct d4_store_pdns_obs ob[50];
	for (unsigned ti = 0; ti < 3; ti++)
		for (unsigned b = 0; b < BLK_N / 3; b += 50) {
			static char rds[50][64];
			memset(ob, 0, sizeof(ob));
			for (unsigned i = 0; i < 50; i++) {
				unsigned k = b + i;
				if (types[ti] == 1)
					snprintf(rds[i], sizeof(rds[i]), "198.51.%u.%u", k / 200, k % 200 + 1);
				else if (types[ti] == 2)
					snprintf(rds[i], sizeof(rds[i]), "ns%u.blocks.test.", k);
				else
					snprintf(rds[i], sizeof(rds[i]), "\"t%u\"", k);
				ob[i].rrname = "big.blocks.test.";
				ob[i].rrtype = types[ti];
				ob[i].rdata = rds[i];
				ob[i].time_first = 1000;
				ob[i].time_last = 2000;
				ob[i].count = 1;
				ob[i].tlp = D4_TLP_GREEN;
			}
			ck_assert_int_eq(d4_store_pdns_apply(s, ob, 50, NULL), 0);
			/* other names between the batches: ids of one name apart */
			memset(ob, 0, sizeof(ob));
			snprintf(rd, sizeof(rd), "192.0.2.%u", ti * 10 + b / 50 + 1);
			ob[0].rrname = "small.blocks.test.";
			ob[0].rrtype = 1;
			ob[0].rdata = rd;
			ob[0].time_first = 1000;
			ob[0].time_last = 2000;
			ob[0].count = 1;
			ob[0].tlp = D4_TLP_GREEN;
			ck_assert_int_eq(d4_store_pdns_apply(s, ob, 1, NULL), 0);
		}
	static struct blk_list full, paged;
	struct d4_store_pdns_query q;
	memset(&q, 0, sizeof(q));
	q.max_tlp = 6;
	static const struct {
		int kind;
		const char *name;
		uint16_t rrtype;
		size_t n;
	} qs[] = {{D4_PDNS_Q_NAME, "big.blocks.test.", 0, BLK_N},
		  {D4_PDNS_Q_NAME, "big.blocks.test.", 2, BLK_N / 3},
		  {D4_PDNS_Q_NAME_LEFT, "blocks.test.", 0, BLK_N + 12}};
	static const unsigned limits[] = {1, 7, 255, 256, 257, 599, 600, 1000};
	for (size_t qi = 0; qi < sizeof(qs) / sizeof(qs[0]); qi++) {
		q.kind = qs[qi].kind;
		q.name = qs[qi].name;
		q.rrtype = qs[qi].rrtype;
		blk_run(s, &q, 0, 0, &full);
		ck_assert_uint_eq(full.n, qs[qi].n);
		/* key order: rrtype rises within a name (the ids fall) */
		unsigned prev = 0;
		for (size_t i = 0; i < full.n; i++) {
			const char *t = strchr(full.e[i], '|');
			unsigned ty = (unsigned)strtoul(t + 1, NULL, 10);
			if (i && strncmp(full.e[i], full.e[i - 1], (size_t)(t - full.e[i]) + 1))
				prev = 0; /* the next name */
			ck_assert_uint_ge(ty, prev);
			prev = ty;
			for (size_t j = 0; j < i; j++)
				ck_assert_str_ne(full.e[i], full.e[j]);
		}
		for (size_t li = 0; li < sizeof(limits) / sizeof(limits[0]); li++) {
			blk_run(s, &q, limits[li], 0, &paged);
			ck_assert_uint_eq(paged.n, full.n);
			for (size_t i = 0; i < full.n; i++)
				ck_assert_str_eq(paged.e[i], full.e[i]);
		}
		/* the callback stops inside a block; the resume goes on after it */
		blk_run(s, &q, 0, 37, &paged);
		ck_assert_uint_eq(paged.n, full.n);
		for (size_t i = 0; i < full.n; i++)
			ck_assert_str_eq(paged.e[i], full.e[i]);
	}
	d4_store_close(s);
}
END_TEST

static Suite *pdns_suite(void)
{
	Suite *su = suite_create("store_pdns");
	TCase *tc = tcase_create("pdns");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_merge);
	tcase_add_test(tc, test_seen);
	tcase_add_test(tc, test_name_only_forms);
	tcase_add_test(tc, test_batch_repeats);
	tcase_add_test(tc, test_parse_ip);
	tcase_add_test(tc, test_rec5_codec);
	tcase_add_test(tc, test_layout_mark);
	tcase_add_test(tc, test_record_v2_compat);
	tcase_add_test(tc, test_cursor_atomic);
	tcase_add_test(tc, test_schema_upgrade);
	tcase_add_test(tc, test_schema_3_to_4);
	tcase_add_test(tc, test_expire);
	tcase_add_test(tc, test_queries_bruteforce);
	tcase_add_test(tc, test_query_blocks);
	tcase_add_test(tc, test_kill9);
	tcase_add_test(tc, test_side_codec);
	tcase_add_test(tc, test_side_apply);
	tcase_add_test(tc, test_side_parts);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(pdns_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
