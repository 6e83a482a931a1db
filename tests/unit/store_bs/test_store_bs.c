/* Check suite for the backscatter vector store (hub/store/store_bs.c): real
 * LMDB environments under a mkdtemp dir; every query is compared with a
 * brute-force answer computed here, independently, over a generated set,
 * and every index is checked against the records after each change. */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_reader.h"
#include "d4_store.h"
#include "d4_store_bs.h"
#include "store_internal.h"

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
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
	d4_log_init("test_store_bs", 0, level);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/d4bs-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(storedir, sizeof(storedir), "%s/store", tmpdir);
}

static void teardown(void)
{
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static struct d4_store_opts base_opts(void)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = storedir;
	o.map_size = 256u << 20;
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
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
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

/* ---- generated vectors ---- */
#define NVICTIMS 150
#define NPORTS	 12
#define NSENS	 6
#define T0	 1700000000000000ull

static uint8_t victims[NVICTIMS][16];
static const uint16_t port_pool[NPORTS] = {0, 22, 53, 80, 123, 443, 3389, 8080, 65535, 1, 25, 993};
static uint8_t sens_pool[NSENS][16];
static uint8_t origin_pool[3][16];

static void pools_init(void)
{
	for (int i = 0; i < NVICTIMS; i++) {
		memset(victims[i], 0, 16);
		if (i % 3) { /* IPv4, v4-mapped, in a few /24s */
			victims[i][10] = victims[i][11] = 0xff;
			victims[i][12] = 192;
			victims[i][13] = 0;
			victims[i][14] = (uint8_t)(2 + i % 4);
			victims[i][15] = (uint8_t)(i * 7);
		} else {
			victims[i][0] = 0x20;
			victims[i][1] = 0x01;
			victims[i][2] = 0x0d;
			victims[i][3] = 0xb8;
			victims[i][15] = (uint8_t)i;
			victims[i][14] = (uint8_t)(i % 2);
		}
	}
	for (int i = 0; i < NSENS; i++) {
		memset(sens_pool[i], 0, 16);
		sens_pool[i][0] = (uint8_t)(0x10 * (i + 1));
		sens_pool[i][15] = (uint8_t)i;
	}
	memset(origin_pool, 0, sizeof(origin_pool));
	memset(origin_pool[1], 0xa1, 16);
	memset(origin_pool[2], 0x3c, 16);
}

static void gen_lists(struct d4_store_bs_vec *v)
{
	v->n_ports = rndn(5);
	unsigned start = rndn(NPORTS);
	for (uint32_t j = 0; j < v->n_ports; j++) {
		v->ports[j].port = port_pool[(start + j * 5) % NPORTS];
		v->ports[j].packets = 1 + rndn(100);
	}
	v->n_sensors = rndn(4);
	start = rndn(NSENS);
	for (uint32_t j = 0; j < v->n_sensors; j++)
		memcpy(v->sensors[j], sens_pool[(start + j) % NSENS], 16);
}

static void gen_vec(struct d4_store_bs_vec *v, unsigned i)
{
	memset(v, 0, sizeof(*v));
	memcpy(v->origin, origin_pool[rndn(4) == 0 ? 1 + rndn(2) : 0], 16);
	memcpy(v->victim, victims[rndn(NVICTIMS)], 16);
	v->kind = (uint8_t)(1 + rndn(6));
	v->first_us = T0 + (uint64_t)i * 1000003ull + rndn(1000); /* unique identities */
	v->last_us = v->first_us + (uint64_t)rndn(4000) * 1000000ull;
	if (rndn(20) == 0)
		v->last_us = v->first_us; /* ties on last_us happen too */
	v->state = (uint8_t)(1 + rndn(2));
	v->packets = 25 + rndn(10000);
	v->bytes = v->packets * 40;
	gen_lists(v);
	v->ports_distinct = v->n_ports;
	v->telescope_addrs = 1 + rndn(500);
	v->telescope_exact = (uint8_t)rndn(2);
	v->peak_ppm = 30 + rndn(1000);
	v->observed_pps = (double)v->packets / 100.0;
	v->est_pps = v->observed_pps * 256;
	v->est_peak_pps = v->peak_ppm * 256.0 / 60.0;
	v->est_valid = 1;
	v->tlp = (uint8_t)(1 + rndn(6));
	memset(v->org, (int)rndn(3), 16);
	v->updates = rndn(10);
	if (memcmp(v->origin, origin_pool[0], 16)) {
		v->received = 1;
		memcpy(v->sender, v->origin, 16);
		v->nvia = (uint8_t)rndn(3);
		for (unsigned j = 0; j < v->nvia; j++)
			memset(v->via[j], (int)(0x50 + j), 16);
	}
}

static void apply_vecs(struct d4_store *s, const struct d4_store_bs_vec *v, size_t n)
{
	struct d4_store_bs_update u;
	memset(&u, 0, sizeof(u));
	u.vecs = v;
	u.nvecs = n;
	ck_assert_int_eq(d4_store_bs_apply(s, &u), 0);
}

/* The fields a read returns must be the written ones (flags 0/1, lists). */
static void vec_eq(const struct d4_store_bs_vec *a, const struct d4_store_bs_vec *b)
{
	ck_assert_mem_eq(a->origin, b->origin, 16);
	ck_assert_mem_eq(a->victim, b->victim, 16);
	ck_assert_uint_eq(a->kind, b->kind);
	ck_assert_uint_eq(a->first_us, b->first_us);
	ck_assert_uint_eq(a->last_us, b->last_us);
	ck_assert_uint_eq(a->state, b->state);
	ck_assert_uint_eq(a->packets, b->packets);
	ck_assert_uint_eq(a->bytes, b->bytes);
	ck_assert_uint_eq(a->n_ports, b->n_ports);
	for (uint32_t i = 0; i < a->n_ports; i++) {
		ck_assert_uint_eq(a->ports[i].port, b->ports[i].port);
		ck_assert_uint_eq(a->ports[i].packets, b->ports[i].packets);
	}
	ck_assert_uint_eq(a->n_sensors, b->n_sensors);
	ck_assert_mem_eq(a->sensors, b->sensors, 16u * a->n_sensors);
	ck_assert_uint_eq(a->telescope_addrs, b->telescope_addrs);
	ck_assert_uint_eq(a->telescope_exact, b->telescope_exact);
	ck_assert_uint_eq(a->peak_ppm, b->peak_ppm);
	ck_assert(a->observed_pps == b->observed_pps && a->est_pps == b->est_pps && a->est_peak_pps == b->est_peak_pps);
	ck_assert_uint_eq(a->tlp, b->tlp);
	ck_assert_mem_eq(a->org, b->org, 16);
	ck_assert_uint_eq(a->updates, b->updates);
	ck_assert_uint_eq(a->received, b->received);
	ck_assert_mem_eq(a->sender, b->sender, 16);
	ck_assert_uint_eq(a->nvia, b->nvia);
	ck_assert_mem_eq(a->via, b->via, 16u * a->nvia);
}

/* ---- consistency of every index with the records ---- */

static uint64_t dbi_entries(struct d4_store *s, enum store_dbi d)
{
	MDB_txn *txn;
	MDB_stat st;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(mdb_stat(txn, s->dbi[d], &st), 0);
	mdb_txn_abort(txn);
	return st.ms_entries;
}

static int has_key(struct d4_store *s, enum store_dbi d, const uint8_t *k, size_t kl)
{
	MDB_txn *txn;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	MDB_val key = {kl, (void *)k}, v;
	int rc = mdb_get(txn, s->dbi[d], &key, &v);
	mdb_txn_abort(txn);
	return rc == 0;
}

static void recent_key(const void *pre, size_t pl, uint64_t last, uint64_t id, uint8_t *k)
{
	if (pl)
		memcpy(k, pre, pl);
	d4_put_u64be(k + pl, ~last);
	d4_put_u64be(k + pl + 8, id);
}

/* The model M[0..n) with ids; removed entries have id 0. */
static void check_consistency(struct d4_store *s, const struct d4_store_bs_vec *M, size_t n)
{
	uint64_t nv = 0, nong = 0, nports = 0, nsens = 0;
	for (size_t i = 0; i < n; i++) {
		const struct d4_store_bs_vec *m = &M[i];
		if (!m->id)
			continue;
		nv++;
		struct d4_store_bs_vec g;
		ck_assert_int_eq(d4_store_bs_get(s, m->id, &g), 0);
		vec_eq(&g, m);
		uint8_t k[48];
		recent_key(NULL, 0, g.last_us, g.id, k);
		ck_assert(has_key(s, DBI_BS_LAST, k, 16));
		ck_assert_int_eq(has_key(s, DBI_BS_ONGOING, k, 16), g.state == 1);
		nong += g.state == 1;
		for (uint32_t j = 0; j < g.n_ports; j++) {
			uint8_t pb[2];
			d4_put_u16be(pb, g.ports[j].port);
			recent_key(pb, 2, g.last_us, g.id, k);
			ck_assert(has_key(s, DBI_BS_PORT, k, 18));
		}
		for (uint32_t j = 0; j < g.n_sensors; j++) {
			recent_key(g.sensors[j], 16, g.last_us, g.id, k);
			ck_assert(has_key(s, DBI_BS_SENSOR, k, 32));
		}
		memcpy(k, g.victim, 16);
		d4_put_u64be(k + 16, g.first_us);
		d4_put_u64be(k + 24, g.id);
		ck_assert(has_key(s, DBI_BS_VICTIM, k, 32));
		d4_put_u64be(k, g.change_seq);
		ck_assert(has_key(s, DBI_BS_CHANGE, k, 8));
		nports += g.n_ports;
		nsens += g.n_sensors;
	}
	/* and nothing else: every table holds exactly the entries of the records */
	ck_assert_uint_eq(dbi_entries(s, DBI_BS_VEC), nv);
	ck_assert_uint_eq(dbi_entries(s, DBI_BS_IDENT), nv);
	ck_assert_uint_eq(dbi_entries(s, DBI_BS_VICTIM), nv);
	ck_assert_uint_eq(dbi_entries(s, DBI_BS_LAST), nv);
	ck_assert_uint_eq(dbi_entries(s, DBI_BS_CHANGE), nv);
	ck_assert_uint_eq(dbi_entries(s, DBI_BS_ONGOING), nong);
	ck_assert_uint_eq(dbi_entries(s, DBI_BS_PORT), nports);
	ck_assert_uint_eq(dbi_entries(s, DBI_BS_SENSOR), nsens);
	struct d4_store_bs_info info;
	ck_assert_int_eq(d4_store_bs_info(s, &info), 0);
	ck_assert_uint_eq(info.vectors, nv);
	ck_assert_uint_eq(info.ongoing, nong);
}

/* ---- the oracle ---- */

static const struct d4_store_bs_vec *ORD_M;
static int ord_victim(const void *a, const void *b)
{
	const struct d4_store_bs_vec *x = &ORD_M[*(const size_t *)a], *y = &ORD_M[*(const size_t *)b];
	int c = memcmp(x->victim, y->victim, 16);
	if (c)
		return c;
	if (x->first_us != y->first_us)
		return x->first_us < y->first_us ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}
static int ord_recent(const void *a, const void *b)
{
	const struct d4_store_bs_vec *x = &ORD_M[*(const size_t *)a], *y = &ORD_M[*(const size_t *)b];
	if (x->last_us != y->last_us)
		return x->last_us > y->last_us ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int oracle_match(const struct d4_store_bs_query *q, const struct d4_store_bs_vec *v)
{
	if (!v->id || !d4_policy_tlp_visible((enum d4_tlp)q->max_tlp, (enum d4_tlp)v->tlp))
		return 0;
	if (q->since_us && v->last_us < q->since_us)
		return 0;
	if (q->until_us && v->first_us > q->until_us)
		return 0;
	if (q->has_victim && (memcmp(v->victim, q->victim_lo, 16) < 0 || memcmp(v->victim, q->victim_hi, 16) > 0))
		return 0;
	if (q->kind && q->kind != v->kind)
		return 0;
	if (q->ongoing && v->state != 1)
		return 0;
	if (q->has_origin && memcmp(q->origin, v->origin, 16))
		return 0;
	int ok = !q->has_port;
	for (uint32_t j = 0; j < v->n_ports; j++)
		ok |= v->ports[j].port == q->port;
	if (!ok)
		return 0;
	ok = !q->has_sensor;
	for (uint32_t j = 0; j < v->n_sensors; j++)
		ok |= !memcmp(v->sensors[j], q->sensor, 16);
	return ok;
}

static size_t oracle(const struct d4_store_bs_query *q, const struct d4_store_bs_vec *M, size_t n, uint64_t *ids)
{
	size_t *ix = malloc((n + 1) * sizeof(*ix)), k = 0;
	for (size_t i = 0; i < n; i++)
		if (oracle_match(q, &M[i]))
			ix[k++] = i;
	ORD_M = M;
	qsort(ix, k, sizeof(*ix), q->has_victim ? ord_victim : ord_recent);
	for (size_t i = 0; i < k; i++)
		ids[i] = M[ix[i]].id;
	free(ix);
	return k;
}

struct collect {
	uint64_t *ids;
	size_t n, cap;
	const struct d4_store_bs_vec *M;
};

static int collect_cb(void *ctx, const struct d4_store_bs_vec *v)
{
	struct collect *c = ctx;
	ck_assert_uint_lt(c->n, c->cap);
	if (c->M) /* every field read back as written */
		vec_eq(v, &c->M[v->id - 1]);
	c->ids[c->n++] = v->id;
	return 0;
}

/* How many checked queries had a non-empty answer, and a long one: the
 * generated set must give the comparisons something to compare. */
static unsigned q_nonempty, q_long, q_total;

/* Full query and paged query against the oracle. */
static void check_query(struct d4_store *s, struct d4_store_bs_query *q, const struct d4_store_bs_vec *M, size_t n)
{
	uint64_t *want = malloc((n + 1) * sizeof(*want));
	uint64_t *got = malloc((n + 1) * sizeof(*got));
	size_t nw = oracle(q, M, n, want);
	q_total++;
	q_nonempty += nw > 0;
	q_long += nw > 100;
	struct collect c = {got, 0, n + 1, M};
	struct d4_store_bs_qresult res;
	q->limit = 0;
	q->resume = NULL;
	q->resume_len = 0;
	ck_assert_int_eq(d4_store_bs_query(s, q, collect_cb, &c, &res), 0);
	ck_assert_uint_eq(c.n, nw);
	ck_assert_uint_eq(res.returned, nw);
	ck_assert_int_eq(res.more, 0);
	ck_assert(nw == 0 || memcmp(got, want, nw * sizeof(*got)) == 0);

	/* paging: the pages concatenated are exactly the list; more on all but the last */
	uint32_t lim = nw > 40 ? (uint32_t)(nw / (2 + rndn(8))) : 1 + rndn(5);
	uint8_t cur[D4_STORE_BS_RESUME_MAX];
	size_t curlen = 0;
	c.n = 0;
	c.M = NULL;
	for (int page = 0;; page++) {
		ck_assert_int_lt(page, 1000);
		q->limit = lim;
		q->resume = curlen ? cur : NULL;
		q->resume_len = curlen;
		size_t before = c.n;
		ck_assert_int_eq(d4_store_bs_query(s, q, collect_cb, &c, &res), 0);
		ck_assert_uint_eq(res.returned, c.n - before);
		ck_assert_uint_le(res.returned, lim);
		if (!res.more)
			break;
		ck_assert_uint_eq(res.returned, lim);
		ck_assert_uint_gt(res.resume_len, 0);
		memcpy(cur, res.resume, res.resume_len);
		curlen = res.resume_len;
	}
	ck_assert_uint_eq(c.n, nw);
	ck_assert(nw == 0 || memcmp(got, want, nw * sizeof(*got)) == 0);
	q->limit = 0;
	q->resume = NULL;
	q->resume_len = 0;
	free(want);
	free(got);
}

static void random_query(struct d4_store_bs_query *q, unsigned mask)
{
	memset(q, 0, sizeof(*q));
	q->max_tlp = rndn(8) ? (uint8_t)(1 + rndn(6)) : D4_TLP_RED;
	if (mask & 1) {
		uint64_t span = 3000ull * 1000003ull;
		uint64_t a = T0 + rnd() % span, b = a + rnd() % (span / 4);
		switch (rndn(3)) {
		case 0: q->since_us = a; break;
		case 1: q->until_us = a; break;
		default: q->since_us = a; q->until_us = b;
		}
	}
	if (mask & 2) {
		q->has_victim = 1;
		memcpy(q->victim_lo, victims[rndn(NVICTIMS)], 16);
		memcpy(q->victim_hi, q->victim_lo, 16);
		unsigned bits = rndn(3) == 0 ? 0 : 1 + rndn(24); /* host, or a CIDR of up to /104 */
		for (unsigned b = 0; b < bits; b++) {
			q->victim_lo[15 - b / 8] &= (uint8_t) ~(1u << (b % 8));
			q->victim_hi[15 - b / 8] |= (uint8_t)(1u << (b % 8));
		}
	}
	if (mask & 4) {
		q->has_port = 1;
		q->port = port_pool[rndn(NPORTS)];
	}
	if (mask & 8)
		q->kind = (uint8_t)(1 + rndn(6));
	if (mask & 16) {
		q->has_sensor = 1;
		memcpy(q->sensor, sens_pool[rndn(NSENS)], 16);
	}
	if (mask & 32) {
		q->has_origin = 1;
		memcpy(q->origin, origin_pool[rndn(3)], 16);
	}
	if (mask & 64)
		q->ongoing = 1;
}

#define NGEN 3000

struct all_chg {
	uint64_t *seq, *id;
	size_t n;
	const struct d4_store_bs_vec *M;
};
static int all_chg_cb(void *ctx, const struct d4_store_bs_vec *v)
{
	struct all_chg *c = ctx;
	ck_assert_uint_lt(c->n, NGEN);
	vec_eq(v, &c->M[v->id - 1]); /* the latest write */
	c->seq[c->n] = v->change_seq;
	c->id[c->n++] = v->id;
	return 0;
}

START_TEST(test_queries_bruteforce)
{
	pools_init();
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	struct d4_store_bs_vec *M = calloc(NGEN, sizeof(*M));
	for (unsigned i = 0; i < NGEN; i++)
		gen_vec(&M[i], i);
	for (unsigned i = 0; i < NGEN; i += 500)
		apply_vecs(s, M + i, NGEN - i < 500 ? NGEN - i : 500);
	for (unsigned i = 0; i < NGEN; i++)
		M[i].id = i + 1; /* ids in order of first write */
	check_consistency(s, M, NGEN);

	/* updates: a third of the ongoing vectors move (more packets, later
	 * last_us, other ports and sensors, some closed); late and
	 * after-close writes are ignored */
	struct d4_store_bs_vec *U = calloc(NGEN, sizeof(*U));
	size_t nu = 0, nu_applied = 0;
	for (unsigned i = 0; i < NGEN; i++) {
		struct d4_store_bs_vec w = M[i];
		if (rndn(3))
			continue;
		if (M[i].state == 2 || rndn(5) == 0) { /* ignored: closed is final, or fewer packets */
			if (M[i].state == 1)
				w.packets = M[i].packets - 1;
			else
				w.packets += 1000;
			w.last_us += 1000000;
			w.state = 1;
			U[nu++] = w;
			continue;
		}
		w.packets += rndn(2) ? 0 : 1 + rndn(100);
		w.last_us += (uint64_t)rndn(3000) * 1000000ull;
		w.state = (uint8_t)(1 + rndn(2));
		gen_lists(&w);
		w.tlp = (uint8_t)(1 + rndn(6));
		w.updates++;
		U[nu++] = w;
		M[i] = w;
		nu_applied++;
	}
	apply_vecs(s, U, nu);
	check_consistency(s, M, NGEN);

	/* changes: every vector once, ascending, at its latest write; from a
	 * position, exactly the later ones */
	struct all_chg ac = {calloc(NGEN + 1, sizeof(uint64_t)), calloc(NGEN + 1, sizeof(uint64_t)), 0, M};
	uint64_t last = 0;
	ck_assert_int_eq(d4_store_bs_changes(s, 0, all_chg_cb, &ac, &last), 0);
	ck_assert_uint_eq(ac.n, NGEN);
	ck_assert_uint_eq(last, NGEN + nu_applied);
	ck_assert_uint_eq(ac.seq[NGEN - 1], last);
	uint64_t *seen = calloc(NGEN + 1, sizeof(uint64_t));
	for (size_t i = 0; i < ac.n; i++) {
		ck_assert(i == 0 || ac.seq[i] > ac.seq[i - 1]);
		ck_assert_uint_eq(seen[ac.id[i]]++, 0);
	}
	uint64_t mid = ac.seq[NGEN / 2];
	size_t before = ac.n;
	ac.n = 0;
	ck_assert_int_eq(d4_store_bs_changes(s, mid, all_chg_cb, &ac, NULL), 0);
	ck_assert_uint_eq(ac.n, before - NGEN / 2 - 1);
	free(ac.seq);
	free(ac.id);
	free(seen);

	for (unsigned mask = 0; mask < 128; mask++)
		for (int rep = 0; rep < 4; rep++) {
			struct d4_store_bs_query q;
			random_query(&q, mask);
			check_query(s, &q, M, NGEN);
		}
	/* a clearance that is no level sees nothing */
	struct d4_store_bs_query q;
	memset(&q, 0, sizeof(q));
	q.max_tlp = D4_TLP_NONE;
	check_query(s, &q, M, NGEN);
	ck_assert_uint_gt(q_nonempty, q_total / 3);
	ck_assert_uint_gt(q_long, q_total / 20);
	/* the same after a close and a reopen, and read-only */
	d4_store_close(s);
	o.read_only = 1;
	s = open_store(&o);
	for (unsigned mask = 0; mask < 128; mask += 9) {
		random_query(&q, mask);
		check_query(s, &q, M, NGEN);
	}
	check_consistency(s, M, NGEN);
	d4_store_close(s);
	free(M);
	free(U);
}
END_TEST

static int count_cb(void *ctx, const struct d4_store_bs_vec *v)
{
	(void)v;
	(*(unsigned *)ctx)++;
	return 0;
}

START_TEST(test_resume_checked)
{
	pools_init();
	struct d4_store *s;
	struct d4_store_opts o = base_opts();
	s = open_store(&o);
	struct d4_store_bs_vec *M = calloc(200, sizeof(*M));
	for (unsigned i = 0; i < 200; i++) {
		gen_vec(&M[i], i);
		M[i].n_ports = 1;
		M[i].ports[0].port = 80;
		M[i].tlp = 1;
	}
	apply_vecs(s, M, 200);
	struct d4_store_bs_query q, q2;
	struct d4_store_bs_qresult res, res2;
	unsigned n = 0;
	memset(&q, 0, sizeof(q));
	q.max_tlp = D4_TLP_RED;
	q.has_port = 1;
	q.port = 80;
	q.limit = 10;
	ck_assert_int_eq(d4_store_bs_query(s, &q, count_cb, &n, &res), 0);
	ck_assert_uint_eq(res.returned, 10);
	ck_assert_int_eq(res.more, 1);
	/* a good cursor works */
	q.resume = res.resume;
	q.resume_len = res.resume_len;
	ck_assert_int_eq(d4_store_bs_query(s, &q, count_cb, &n, &res2), 0);
	ck_assert_uint_eq(res2.returned, 10);
	/* truncated, extended, another version */
	for (size_t l = 0; l < res.resume_len; l++) {
		q.resume_len = l;
		ck_assert_int_eq(d4_store_bs_query(s, &q, count_cb, &n, &res2), l ? D4_EINVAL : 0);
	}
	uint8_t bad[D4_STORE_BS_RESUME_MAX];
	memcpy(bad, res.resume, res.resume_len);
	q.resume = bad;
	q.resume_len = res.resume_len + 1;
	ck_assert_int_eq(d4_store_bs_query(s, &q, count_cb, &n, &res2), D4_EINVAL);
	q.resume_len = res.resume_len;
	bad[0] ^= 0x80;
	ck_assert_int_eq(d4_store_bs_query(s, &q, count_cb, &n, &res2), D4_EINVAL);
	bad[0] ^= 0x80;
	/* another port (same order, other range) */
	q2 = q;
	q2.port = 443;
	ck_assert_int_eq(d4_store_bs_query(s, &q2, count_cb, &n, &res2), D4_EINVAL);
	/* another order: the same cursor in a time query, a victim query, a sensor query */
	q2 = q;
	q2.has_port = 0;
	ck_assert_int_eq(d4_store_bs_query(s, &q2, count_cb, &n, &res2), D4_EINVAL);
	q2.has_victim = 1;
	memset(q2.victim_hi, 0xff, 16);
	ck_assert_int_eq(d4_store_bs_query(s, &q2, count_cb, &n, &res2), D4_EINVAL);
	q2 = q;
	q2.has_sensor = 1;
	ck_assert_int_eq(d4_store_bs_query(s, &q2, count_cb, &n, &res2), D4_EINVAL);
	/* another filter of the same order (kind) */
	q2 = q;
	q2.kind = 3;
	ck_assert_int_eq(d4_store_bs_query(s, &q2, count_cb, &n, &res2), D4_EINVAL);
	/* a different limit is the same query */
	q2 = q;
	q2.limit = 3;
	ck_assert_int_eq(d4_store_bs_query(s, &q2, count_cb, &n, &res2), 0);
	ck_assert_uint_eq(res2.returned, 3);
	/* bad queries */
	memset(&q2, 0, sizeof(q2));
	q2.kind = D4_STORE_BS_KINDS;
	ck_assert_int_eq(d4_store_bs_query(s, &q2, count_cb, &n, &res2), D4_EINVAL);
	q2.kind = 0;
	q2.since_us = 2;
	q2.until_us = 1;
	ck_assert_int_eq(d4_store_bs_query(s, &q2, count_cb, &n, &res2), D4_EINVAL);
	q2.since_us = q2.until_us = 0;
	q2.has_victim = 1;
	q2.victim_lo[0] = 1;
	ck_assert_int_eq(d4_store_bs_query(s, &q2, count_cb, &n, &res2), D4_EINVAL);
	q2.has_victim = 0;
	q2.resume_len = 5;
	ck_assert_int_eq(d4_store_bs_query(s, &q2, count_cb, &n, &res2), D4_EINVAL);
	d4_store_close(s);
	free(M);
}
END_TEST

static int stop_cb(void *ctx, const struct d4_store_bs_vec *v)
{
	(void)v;
	return ++(*(unsigned *)ctx) == 2 ? 1 : 0;
}
static int abort_cb(void *ctx, const struct d4_store_bs_vec *v)
{
	(void)ctx;
	(void)v;
	return D4_EIO;
}

struct chg {
	uint64_t seq[64], id[64];
	unsigned n;
};
static int chg_cb(void *ctx, const struct d4_store_bs_vec *v)
{
	struct chg *c = ctx;
	ck_assert_uint_lt(c->n, 64);
	c->seq[c->n] = v->change_seq;
	c->id[c->n++] = v->id;
	return 0;
}

START_TEST(test_upsert_rules)
{
	pools_init();
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	struct d4_store_bs_vec v, g, M[2];
	gen_vec(&v, 1);
	memset(v.origin, 0, 16);
	v.received = 0;
	memset(v.sender, 0, 16);
	v.nvia = 0;
	v.state = 1;
	v.packets = 100;
	v.n_ports = 1;
	v.ports[0].port = 80;
	v.n_sensors = 1;
	memcpy(v.sensors[0], sens_pool[0], 16);
	v.tlp = 0; /* NONE is stored as RED */
	apply_vecs(s, &v, 1);
	ck_assert_int_eq(d4_store_bs_get(s, 1, &g), 0);
	ck_assert_uint_eq(g.tlp, D4_TLP_RED);
	ck_assert_uint_eq(g.change_seq, 1);
	ck_assert_uint_gt(g.stored_s, 1600000000);
	v.tlp = D4_TLP_RED;
	M[0] = v;
	M[0].id = 1;
	check_consistency(s, M, 1);

	/* fewer packets: ignored (no new change either) */
	struct d4_store_bs_vec w = v;
	w.packets = 99;
	w.last_us += 5000000;
	apply_vecs(s, &w, 1);
	check_consistency(s, M, 1);
	ck_assert_int_eq(d4_store_bs_get(s, 1, &g), 0);
	ck_assert_uint_eq(g.change_seq, 1);

	/* same packets, later last_us, other port and sensor: applied, the
	 * index entries move */
	w = v;
	w.last_us += 7000000;
	w.ports[0].port = 443;
	memcpy(w.sensors[0], sens_pool[1], 16);
	apply_vecs(s, &w, 1);
	M[0] = w;
	M[0].id = 1;
	check_consistency(s, M, 1);
	struct d4_store_bs_query q;
	struct d4_store_bs_qresult res;
	unsigned n = 0;
	memset(&q, 0, sizeof(q));
	q.max_tlp = D4_TLP_RED;
	q.has_port = 1;
	q.port = 80;
	ck_assert_int_eq(d4_store_bs_query(s, &q, count_cb, &n, &res), 0);
	ck_assert_uint_eq(n, 0);
	q.port = 443;
	ck_assert_int_eq(d4_store_bs_query(s, &q, count_cb, &n, &res), 0);
	ck_assert_uint_eq(n, 1);

	/* a second vector, then closing the first: change order follows writes */
	struct d4_store_bs_vec x;
	gen_vec(&x, 2);
	x.tlp = 1;
	apply_vecs(s, &x, 1);
	M[1] = x;
	M[1].id = 2;
	w.state = 2;
	w.packets = 150;
	apply_vecs(s, &w, 1);
	M[0] = w;
	M[0].id = 1;
	check_consistency(s, M, 2);
	struct chg c = {{0}, {0}, 0};
	uint64_t last = 0;
	ck_assert_int_eq(d4_store_bs_changes(s, 0, chg_cb, &c, &last), 0);
	ck_assert_uint_eq(c.n, 2); /* each vector once, at its latest write */
	ck_assert_uint_eq(c.id[0], 2);
	ck_assert_uint_eq(c.seq[0], 3);
	ck_assert_uint_eq(c.id[1], 1);
	ck_assert_uint_eq(c.seq[1], 4);
	ck_assert_uint_eq(last, 4);
	c.n = 0;
	ck_assert_int_eq(d4_store_bs_changes(s, 3, chg_cb, &c, NULL), 0);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_uint_eq(c.id[0], 1);
	c.n = 0;
	ck_assert_int_eq(d4_store_bs_changes(s, 4, chg_cb, &c, &last), 0);
	ck_assert_uint_eq(c.n, 0);
	ck_assert_int_eq(d4_store_bs_changes(s, 0, abort_cb, NULL, NULL), D4_EIO);

	/* closed is final: more packets, ongoing again, nothing changes */
	struct d4_store_bs_vec y = w;
	y.state = 1;
	y.packets = 10000;
	y.last_us += 100000000;
	apply_vecs(s, &y, 1);
	check_consistency(s, M, 2);
	struct d4_store_bs_info info;
	ck_assert_int_eq(d4_store_bs_info(s, &info), 0);
	ck_assert_uint_eq(info.change_seq, 4);
	ck_assert_uint_eq(info.ongoing, M[1].state == 1);

	/* the same identity from another origin is another vector */
	y = v;
	memset(y.origin, 0x77, 16);
	y.received = 1;
	apply_vecs(s, &y, 1);
	ck_assert_int_eq(d4_store_bs_get(s, 3, &g), 0);
	ck_assert_mem_eq(g.origin, y.origin, 16);

	/* callback stop / abort */
	memset(&q, 0, sizeof(q));
	q.max_tlp = D4_TLP_RED;
	n = 0;
	ck_assert_int_eq(d4_store_bs_query(s, &q, stop_cb, &n, &res), 0);
	ck_assert_uint_eq(res.returned, 2);
	ck_assert_int_eq(d4_store_bs_query(s, &q, abort_cb, NULL, &res), D4_EIO);
	ck_assert_int_eq(d4_store_bs_get(s, 99, &g), D4_ENOTFOUND);

	/* bad vectors: the whole update refused, nothing applied */
	struct d4_store_bs_vec bad[2];
	gen_vec(&bad[0], 10);
	gen_vec(&bad[1], 11);
	uint8_t *fields[] = {&bad[1].kind, &bad[1].kind, &bad[1].state, &bad[1].state};
	uint8_t vals[] = {0, D4_STORE_BS_KINDS, 0, 3};
	for (int i = 0; i < 6; i++) {
		gen_vec(&bad[1], 11);
		if (i < 4)
			*fields[i] = vals[i];
		else if (i == 4)
			bad[1].n_ports = D4_STORE_BS_TOP_PORTS + 1;
		else
			bad[1].last_us = bad[1].first_us - 1;
		struct d4_store_bs_update u;
		memset(&u, 0, sizeof(u));
		u.vecs = bad;
		u.nvecs = 2;
		ck_assert_int_eq(d4_store_bs_apply(s, &u), D4_EINVAL);
	}
	ck_assert_int_eq(d4_store_bs_info(s, &info), 0);
	ck_assert_uint_eq(info.vectors, 3);
	d4_store_close(s);

	/* read-only: refused */
	o.read_only = 1;
	s = open_store(&o);
	struct d4_store_bs_update u;
	memset(&u, 0, sizeof(u));
	u.vecs = &v;
	u.nvecs = 1;
	ck_assert_int_eq(d4_store_bs_apply(s, &u), D4_EPERM);
	ck_assert_int_eq(d4_store_bs_expire(s, UINT64_MAX, 0, NULL), D4_EPERM);
	d4_store_close(s);
}
END_TEST

/* store_bs_vec_put_txn in a caller's transaction: applied with it, gone
 * with its abort; a corrupt stored record is reported, never guessed over. */
START_TEST(test_put_txn_and_corrupt)
{
	pools_init();
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	struct d4_store_bs_vec v[2], g;
	gen_vec(&v[0], 1);
	gen_vec(&v[1], 2);
	MDB_txn *txn;
	ck_assert_int_eq(store_txn_begin(s, 0, &txn), 0);
	ck_assert_int_eq(store_bs_vec_put_txn(s, txn, &v[0]), 0);
	mdb_txn_abort(txn);
	ck_assert_int_eq(d4_store_bs_get(s, 1, &g), D4_ENOTFOUND);
	ck_assert_uint_eq(dbi_entries(s, DBI_BS_IDENT), 0);
	ck_assert_int_eq(store_txn_begin(s, 0, &txn), 0);
	ck_assert_int_eq(store_bs_vec_put_txn(s, txn, &v[0]), 0);
	ck_assert_int_eq(store_bs_vec_put_txn(s, txn, &v[1]), 0);
	struct d4_store_bs_vec bad = v[1];
	bad.kind = 0;
	ck_assert_int_eq(store_bs_vec_put_txn(s, txn, &bad), D4_EINVAL);
	bad = v[1];
	bad.n_sensors = D4_STORE_BS_SENSORS + 1;
	ck_assert_int_eq(store_bs_vec_put_txn(s, txn, &bad), D4_EINVAL);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	v[0].id = 1;
	v[1].id = 2;
	check_consistency(s, v, 2);

	/* a damaged record: reads say so, the upsert refuses to overwrite it */
	uint8_t k[8], junk[5] = {1, 2, 3, 4, 5};
	d4_put_u64be(k, 2);
	ck_assert_int_eq(d4_store_test_put_raw(s, "bs_vectors", k, 8, junk, sizeof(junk)), 0);
	ck_assert_int_eq(d4_store_bs_get(s, 2, &g), D4_ECORRUPT);
	struct d4_store_bs_query q;
	struct d4_store_bs_qresult res;
	unsigned n = 0;
	memset(&q, 0, sizeof(q));
	q.max_tlp = D4_TLP_RED;
	ck_assert_int_eq(d4_store_bs_query(s, &q, count_cb, &n, &res), D4_ECORRUPT);
	struct d4_store_bs_update u;
	memset(&u, 0, sizeof(u));
	u.vecs = &v[1];
	u.nvecs = 1;
	ck_assert_int_eq(d4_store_bs_apply(s, &u), D4_ECORRUPT);
	ck_assert_int_eq(d4_store_bs_get(s, 1, &g), 0);
	d4_store_close(s);
}
END_TEST

/* ---- consumer state ---- */

struct st_list {
	uint8_t victim[8][16], kind[8];
	size_t len[8];
	uint8_t first[8];
	unsigned n;
};
static int st_cb(void *ctx, const uint8_t victim[16], uint8_t kind, const uint8_t *state, size_t len)
{
	struct st_list *l = ctx;
	ck_assert_uint_lt(l->n, 8);
	memcpy(l->victim[l->n], victim, 16);
	l->kind[l->n] = kind;
	l->len[l->n] = len;
	l->first[l->n] = len ? state[0] : 0;
	l->n++;
	return 0;
}

struct cnt_list {
	struct d4_store_bs_counters c[8];
	unsigned n;
};
static int cnt_cb(void *ctx, const struct d4_store_bs_counters *c)
{
	struct cnt_list *l = ctx;
	ck_assert_uint_lt(l->n, 8);
	l->c[l->n++] = *c;
	return 0;
}

START_TEST(test_state_cursor_counters)
{
	pools_init();
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	uint8_t buf[64];
	size_t len = 7;
	ck_assert_int_eq(d4_store_bs_cursor_get(s, "bs/frames", buf, sizeof(buf), &len), D4_ENOTFOUND);
	ck_assert_uint_eq(len, 0);

	uint8_t *big = calloc(1, D4_STORE_BS_STATE_MAX + 1);
	memset(big, 0xab, D4_STORE_BS_STATE_MAX);
	struct d4_store_bs_state st[4];
	memset(st, 0, sizeof(st));
	for (int i = 0; i < 3; i++) {
		memcpy(st[i].victim, victims[2 - i], 16);
		st[i].kind = (uint8_t)(1 + i);
		st[i].state = big;
		st[i].len = i == 0 ? D4_STORE_BS_STATE_MAX : (size_t)(10 * i);
	}
	st[2].len = 0; /* an empty state is a state */
	struct d4_store_bs_counters d[2];
	memset(d, 0, sizeof(d));
	memcpy(d[0].sensor, sens_pool[3], 16);
	memcpy(d[1].sensor, sens_pool[1], 16);
	d[0].frames = 5;
	d[0].packets = 100;
	d[0].by_kind[3] = 7;
	d[0].by_reason[15] = 2;
	d[1].bad_packets = 1;
	d[1].dropped = 4;
	d[1].backscatter = 9;
	const uint8_t cv[5] = {1, 2, 3, 4, 5};
	struct d4_store_bs_update u;
	memset(&u, 0, sizeof(u));
	u.states = st;
	u.nstates = 3;
	u.cursor_name = "bs/frames";
	u.cursor = cv;
	u.cursor_len = sizeof(cv);
	u.deltas = d;
	u.ndeltas = 2;
	ck_assert_int_eq(d4_store_bs_apply(s, &u), 0);
	ck_assert_int_eq(d4_store_bs_cursor_get(s, "bs/frames", buf, sizeof(buf), &len), 0);
	ck_assert_uint_eq(len, 5);
	ck_assert_mem_eq(buf, cv, 5);
	ck_assert_int_eq(d4_store_bs_cursor_get(s, "bs/frames", buf, 4, &len), D4_ETOOBIG);
	ck_assert_int_eq(d4_store_bs_cursor_get(s, "other", buf, sizeof(buf), &len), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_bs_cursor_get(s, "", buf, sizeof(buf), &len), D4_EINVAL);
	struct st_list l;
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(d4_store_bs_states_foreach(s, st_cb, &l), 0);
	ck_assert_uint_eq(l.n, 3);
	/* key order: victim, kind */
	for (unsigned i = 1; i < l.n; i++)
		ck_assert_int_lt(memcmp(l.victim[i - 1], l.victim[i], 16), 0);
	size_t tot = 0;
	for (unsigned i = 0; i < l.n; i++)
		tot += l.len[i];
	ck_assert_uint_eq(tot, D4_STORE_BS_STATE_MAX + 10);

	/* deltas add up; a state deleted; the cursor moves */
	d[0].frames = 1;
	d[1].sensor[0] ^= 0xff; /* a third sensor */
	st[0].state = NULL;
	st[0].len = 0;
	u.states = st;
	u.nstates = 1;
	const uint8_t cv2[1] = {9};
	u.cursor = cv2;
	u.cursor_len = 1;
	ck_assert_int_eq(d4_store_bs_apply(s, &u), 0);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(d4_store_bs_states_foreach(s, st_cb, &l), 0);
	ck_assert_uint_eq(l.n, 2);
	struct d4_store_bs_counters c;
	ck_assert_int_eq(d4_store_bs_counters_get(s, sens_pool[3], &c), 0);
	ck_assert_uint_eq(c.frames, 6);
	ck_assert_uint_eq(c.packets, 200);
	ck_assert_uint_eq(c.by_kind[3], 14);
	ck_assert_uint_eq(c.by_reason[15], 4);
	ck_assert_int_eq(d4_store_bs_counters_get(s, sens_pool[1], &c), 0);
	ck_assert_uint_eq(c.dropped, 4);
	ck_assert_uint_eq(c.backscatter, 9);
	ck_assert_uint_eq(c.bad_packets, 1);
	ck_assert_int_eq(d4_store_bs_counters_get(s, sens_pool[5], &c), D4_ENOTFOUND);
	struct cnt_list cl;
	memset(&cl, 0, sizeof(cl));
	ck_assert_int_eq(d4_store_bs_counters_foreach(s, cnt_cb, &cl), 0);
	ck_assert_uint_eq(cl.n, 3);
	for (unsigned i = 1; i < cl.n; i++)
		ck_assert_int_lt(memcmp(cl.c[i - 1].sensor, cl.c[i].sensor, 16), 0);

	/* reset: every state goes, then the update's own states are put */
	st[0].state = big;
	st[0].len = 3;
	u.states = st;
	u.nstates = 1;
	u.states_reset = 1;
	u.ndeltas = 0;
	ck_assert_int_eq(d4_store_bs_apply(s, &u), 0);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(d4_store_bs_states_foreach(s, st_cb, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.len[0], 3);
	ck_assert_uint_eq(l.first[0], 0xab);
	struct d4_store_bs_info info;
	ck_assert_int_eq(d4_store_bs_info(s, &info), 0);
	ck_assert_uint_eq(info.states, 1);
	ck_assert_uint_gt(info.bytes, 0);

	/* bad updates: nothing applied */
	u.states_reset = 0;
	st[0].len = D4_STORE_BS_STATE_MAX + 1;
	ck_assert_int_eq(d4_store_bs_apply(s, &u), D4_EINVAL);
	st[0].len = 3;
	st[0].kind = 0;
	ck_assert_int_eq(d4_store_bs_apply(s, &u), D4_EINVAL);
	st[0].kind = 1;
	u.cursor_len = D4_STORE_BS_CURSOR_MAX + 1;
	ck_assert_int_eq(d4_store_bs_apply(s, &u), D4_EINVAL);
	u.cursor_len = 1;
	char longname[80];
	memset(longname, 'a', sizeof(longname));
	longname[64] = 0;
	u.cursor_name = longname;
	ck_assert_int_eq(d4_store_bs_apply(s, &u), D4_EINVAL);
	longname[63] = 0; /* 63 bytes: fine */
	ck_assert_int_eq(d4_store_bs_apply(s, &u), 0);
	u.cursor_name = "bad\nname";
	ck_assert_int_eq(d4_store_bs_apply(s, &u), D4_EINVAL);
	d4_store_close(s);

	/* all of it survives a reopen */
	s = open_store(&o);
	ck_assert_int_eq(d4_store_bs_cursor_get(s, "bs/frames", buf, sizeof(buf), &len), 0);
	ck_assert_uint_eq(len, 1);
	ck_assert_uint_eq(buf[0], 9);
	ck_assert_int_eq(d4_store_bs_counters_get(s, sens_pool[3], &c), 0);
	ck_assert_uint_eq(c.frames, 6);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(d4_store_bs_states_foreach(s, st_cb, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	d4_store_close(s);
	free(big);
}
END_TEST

/* A full map: the apply that does not fit leaves nothing of itself. */
START_TEST(test_full_map)
{
	pools_init();
	struct d4_store_opts o = base_opts();
	o.map_size = 2u << 20;
	struct d4_store *s = open_store(&o);
	struct d4_store_bs_vec *v = calloc(200, sizeof(*v));
	uint8_t *cur = calloc(1, D4_STORE_BS_CURSOR_MAX);
	struct d4_store_bs_counters d;
	memset(&d, 0, sizeof(d));
	memcpy(d.sensor, sens_pool[0], 16);
	d.frames = 1;
	int rc = 0;
	unsigned round = 0, i = 0;
	for (; round < 1000; round++) {
		for (unsigned j = 0; j < 200; j++)
			gen_vec(&v[j], i++);
		memset(cur, (int)round, D4_STORE_BS_CURSOR_MAX);
		struct d4_store_bs_update u;
		memset(&u, 0, sizeof(u));
		u.vecs = v;
		u.nvecs = 200;
		u.cursor_name = "bs/frames";
		u.cursor = cur;
		u.cursor_len = D4_STORE_BS_CURSOR_MAX;
		u.deltas = &d;
		u.ndeltas = 1;
		rc = d4_store_bs_apply(s, &u);
		if (rc)
			break;
	}
	ck_assert_int_eq(rc, D4_EFULL);
	ck_assert_uint_gt(round, 0);
	struct d4_store_bs_info info;
	ck_assert_int_eq(d4_store_bs_info(s, &info), 0);
	ck_assert_uint_eq(info.vectors, 200u * round);
	ck_assert_uint_eq(info.change_seq, 200u * round);
	struct d4_store_bs_counters c;
	ck_assert_int_eq(d4_store_bs_counters_get(s, sens_pool[0], &c), 0);
	ck_assert_uint_eq(c.frames, round);
	size_t len;
	ck_assert_int_eq(d4_store_bs_cursor_get(s, "bs/frames", cur, D4_STORE_BS_CURSOR_MAX, &len), 0);
	ck_assert_uint_eq(len, D4_STORE_BS_CURSOR_MAX);
	ck_assert_uint_eq(cur[0], (round - 1) & 0xff);
	ck_assert_uint_eq(cur[len - 1], (round - 1) & 0xff);
	/* expiring makes room again */
	uint64_t removed = 0;
	ck_assert_int_eq(d4_store_bs_expire(s, UINT64_MAX, 50, &removed), 0);
	ck_assert_uint_eq(removed, 200u * round);
	ck_assert_int_eq(d4_store_bs_info(s, &info), 0);
	ck_assert_uint_eq(info.vectors, 0);
	d4_store_close(s);
	free(v);
	free(cur);
}
END_TEST

START_TEST(test_expire)
{
	pools_init();
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	size_t n = 700;
	struct d4_store_bs_vec *M = calloc(n, sizeof(*M));
	for (unsigned i = 0; i < n; i++)
		gen_vec(&M[i], i);
	apply_vecs(s, M, n);
	for (unsigned i = 0; i < n; i++)
		M[i].id = i + 1;
	uint64_t cutoff = T0 + 1500ull * 1000003ull;
	uint64_t want = 0;
	for (unsigned i = 0; i < n; i++)
		if (M[i].last_us < cutoff) {
			M[i].id = 0;
			want++;
		}
	ck_assert_uint_gt(want, 50);
	uint64_t removed = 0;
	ck_assert_int_eq(d4_store_bs_expire(s, cutoff, 7, &removed), 0); /* many small transactions */
	ck_assert_uint_eq(removed, want);
	check_consistency(s, M, n);
	ck_assert_int_eq(d4_store_bs_expire(s, cutoff, 0, &removed), 0);
	ck_assert_uint_eq(removed, 0);
	struct d4_store_bs_query q;
	for (unsigned mask = 0; mask < 128; mask += 5) {
		random_query(&q, mask);
		check_query(s, &q, M, n);
	}
	/* the change sequence never goes back after an expire */
	struct d4_store_bs_info info;
	ck_assert_int_eq(d4_store_bs_info(s, &info), 0);
	ck_assert_uint_eq(info.change_seq, n);
	struct d4_store_bs_vec x;
	gen_vec(&x, 5000);
	apply_vecs(s, &x, 1);
	ck_assert_int_eq(d4_store_bs_get(s, n + 1, &x), 0);
	ck_assert_uint_eq(x.change_seq, n + 1);
	d4_store_close(s);
	free(M);
}
END_TEST

/* ---- kill -9 during applies: the store holds whole applies only ---- */

/* Apply k: the vector A at k packets, a new vector N_k, the state of N_k,
 * cursor k, one frame counted. Continues from the stored cursor. */
static void k9_child(int fd)
{
	struct d4_store_opts o = base_opts();
	o.no_sync = 0;
	struct d4_store *s = NULL;
	if (d4_store_open(&o, &s))
		_exit(2);
	uint8_t cv[8];
	size_t len = 0;
	uint64_t k = 0;
	if (d4_store_bs_cursor_get(s, "k9", cv, sizeof(cv), &len) == 0 && len == 8)
		k = d4_get_u64be(cv);
	struct d4_store_bs_vec v[2];
	struct d4_store_bs_counters d;
	memset(&d, 0, sizeof(d));
	memcpy(d.sensor, sens_pool[0], 16);
	d.frames = 1;
	uint8_t stb[32];
	memset(stb, 0x5a, sizeof(stb));
	for (int told = 0;; told = 1) {
		k++;
		gen_vec(&v[0], 0);
		memset(v[0].origin, 0, 16);
		memcpy(v[0].victim, victims[0], 16);
		v[0].kind = 1;
		v[0].first_us = T0;
		v[0].last_us = T0 + k;
		v[0].state = 1;
		v[0].packets = k;
		gen_vec(&v[1], (unsigned)k);
		struct d4_store_bs_state st;
		memcpy(st.victim, v[1].victim, 16);
		st.kind = v[1].kind;
		st.state = stb;
		st.len = sizeof(stb);
		/* kinds differ per victim pool entry and k: make the state key unique */
		st.victim[0] = (uint8_t)(k >> 8);
		st.victim[1] = (uint8_t)k;
		st.victim[2] = (uint8_t)(k >> 16);
		d4_put_u64be(cv, k);
		struct d4_store_bs_update u;
		memset(&u, 0, sizeof(u));
		u.vecs = v;
		u.nvecs = 2;
		u.states = &st;
		u.nstates = 1;
		u.cursor_name = "k9";
		u.cursor = cv;
		u.cursor_len = 8;
		u.deltas = &d;
		u.ndeltas = 1;
		if (d4_store_bs_apply(s, &u))
			_exit(3);
		if (!told && write(fd, "x", 1) != 1)
			_exit(4);
	}
}

START_TEST(test_kill9)
{
	pools_init();
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
		ck_assert_int_eq(read(pfd[0], &ch, 1), 1); /* at least one apply committed */
		close(pfd[0]);
		usleep(20000 + 60000 * (unsigned)round); /* the kill lands anywhere in an apply */
		kill(pid, SIGKILL);
		int st;
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert(WIFSIGNALED(st));
		struct d4_store_opts o = base_opts();
		struct d4_store *s = open_store(&o);
		uint8_t cv[8];
		size_t len;
		ck_assert_int_eq(d4_store_bs_cursor_get(s, "k9", cv, sizeof(cv), &len), 0);
		ck_assert_uint_eq(len, 8);
		uint64_t k = d4_get_u64be(cv);
		ck_assert_uint_gt(k, 0);
		/* vectors, change sequence, states and counters of exactly k applies */
		struct d4_store_bs_info info;
		ck_assert_int_eq(d4_store_bs_info(s, &info), 0);
		ck_assert_uint_eq(info.vectors, k + 1);
		ck_assert_uint_eq(info.change_seq, 2 * k);
		ck_assert_uint_eq(info.states, k);
		struct d4_store_bs_vec a;
		ck_assert_int_eq(d4_store_bs_get(s, 1, &a), 0);
		ck_assert_uint_eq(a.packets, k);
		ck_assert_uint_eq(a.last_us, T0 + k);
		struct d4_store_bs_counters c;
		ck_assert_int_eq(d4_store_bs_counters_get(s, sens_pool[0], &c), 0);
		ck_assert_uint_eq(c.frames, k);
		fprintf(stderr, "test_kill9: round %d: killed after apply %llu\n", round, (unsigned long long)k);
		d4_store_close(s);
	}
}
END_TEST

/* ---- schema: a store from before the backscatter tables ---- */

START_TEST(test_schema_upgrade)
{
	pools_init();
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	MDB_txn *txn;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	ck_assert_int_eq(store_settings_put_u64(s, txn, "schema", 4), 0);
	for (int d = DBI_BS_VEC; d <= DBI_BS_META; d++)
		ck_assert_int_eq(mdb_drop(txn, s->dbi[d], 1), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	d4_store_close(s);

	/* read-only, not upgraded: every read answers with nothing */
	o.read_only = 1;
	s = open_store(&o);
	struct d4_store_bs_query q;
	struct d4_store_bs_qresult res;
	unsigned n = 0;
	memset(&q, 0, sizeof(q));
	q.max_tlp = D4_TLP_RED;
	ck_assert_int_eq(d4_store_bs_query(s, &q, count_cb, &n, &res), 0);
	ck_assert_uint_eq(res.returned, 0);
	struct d4_store_bs_info info;
	ck_assert_int_eq(d4_store_bs_info(s, &info), 0);
	ck_assert_uint_eq(info.vectors, 0);
	uint8_t buf[8];
	size_t len;
	ck_assert_int_eq(d4_store_bs_cursor_get(s, "bs/frames", buf, sizeof(buf), &len), D4_ENOTFOUND);
	struct cnt_list cl;
	memset(&cl, 0, sizeof(cl));
	ck_assert_int_eq(d4_store_bs_counters_foreach(s, cnt_cb, &cl), 0);
	ck_assert_uint_eq(cl.n, 0);
	struct st_list l;
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(d4_store_bs_states_foreach(s, st_cb, &l), 0);
	ck_assert_uint_eq(l.n, 0);
	struct d4_store_bs_vec v;
	ck_assert_int_eq(d4_store_bs_get(s, 1, &v), D4_ENOTFOUND);
	struct chg c = {{0}, {0}, 0};
	uint64_t last = 9;
	ck_assert_int_eq(d4_store_bs_changes(s, 0, chg_cb, &c, &last), 0);
	ck_assert_uint_eq(last, 0);
	struct d4_store_bs_counters cnt;
	ck_assert_int_eq(d4_store_bs_counters_get(s, sens_pool[0], &cnt), D4_ENOTFOUND);
	gen_vec(&v, 1);
	struct d4_store_bs_update u;
	memset(&u, 0, sizeof(u));
	u.vecs = &v;
	u.nvecs = 1;
	ck_assert_int_eq(d4_store_bs_apply(s, &u), D4_EPERM);
	d4_store_close(s);

	/* writable: upgraded to the current schema, tables created, usable */
	o.read_only = 0;
	s = open_store(&o);
	uint64_t ver = 0;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(store_settings_get_u64(s, txn, "schema", &ver), 0);
	mdb_txn_abort(txn);
	ck_assert_uint_eq(ver, STORE_SCHEMA_VERSION);
	ck_assert_uint_eq(ver, 5);
	ck_assert_int_eq(d4_store_bs_apply(s, &u), 0);
	d4_store_close(s);

	o.read_only = 1;
	s = open_store(&o);
	n = 0;
	ck_assert_int_eq(d4_store_bs_query(s, &q, count_cb, &n, &res), 0);
	ck_assert_uint_eq(n, v.tlp ? 1 : 0);
	struct d4_store_bs_vec g;
	ck_assert_int_eq(d4_store_bs_get(s, 1, &g), 0);
	d4_store_close(s);
}
END_TEST

/* ---- the record codec ---- */

START_TEST(test_record_codec)
{
	pools_init();
	uint8_t b[STORE_BS_REC_MAX + 1], b2[STORE_BS_REC_MAX];
	for (int round = 0; round < 200; round++) {
		struct d4_store_bs_vec v, g;
		gen_vec(&v, (unsigned)round);
		v.id = 1 + rndn(1000);
		v.change_seq = 1 + rndn(1000);
		v.stored_s = rnd();
		if (round == 0) { /* every list full */
			v.n_ports = D4_STORE_BS_TOP_PORTS;
			v.n_sensors = D4_STORE_BS_SENSORS;
			v.nvia = D4_STORE_BS_VIA_MAX;
			v.sig_flags = 0x07; /* signed, onward, sealed: all of it kept */
			memset(v.sig, 0xa5, sizeof(v.sig));
			v.proof_len = D4_STORE_FED_PROOF_MAX;
			memset(v.proof, 0x3c, sizeof(v.proof));
		} else if (round % 3 == 2) {
			v.sig_flags = 0x06; /* sealed, onward: the proof kept */
			v.proof_len = (uint16_t)(1 + rndn(D4_STORE_FED_PROOF_MAX));
			for (unsigned k = 0; k < v.proof_len; k++)
				v.proof[k] = (uint8_t)rnd();
		} else if (round % 3 == 1) {
			v.sig_flags = 0x02; /* onward, unsigned */
		}
		size_t n = store_bs_vec_encode(&v, b);
		ck_assert_uint_le(n, STORE_BS_REC_MAX);
		if (round == 0)
			ck_assert_uint_eq(n, STORE_BS_REC_MAX);
		ck_assert_int_eq(store_bs_vec_decode(b, n, &g), 0);
		ck_assert_uint_eq(g.id, v.id);
		ck_assert_uint_eq(g.change_seq, v.change_seq);
		ck_assert_uint_eq(g.stored_s, v.stored_s);
		ck_assert_uint_eq(g.sig_flags, v.sig_flags);
		if (v.sig_flags & 0x01)
			ck_assert_mem_eq(g.sig, v.sig, 64);
		if (v.sig_flags & 0x04) {
			ck_assert_uint_eq(g.proof_len, v.proof_len);
			ck_assert_mem_eq(g.proof, v.proof, v.proof_len);
		}
		if (round) /* round 0 lists beyond what gen_vec filled */
			vec_eq(&g, &v);
		ck_assert_uint_eq(store_bs_vec_encode(&g, b2), n);
		ck_assert_mem_eq(b, b2, n);
		/* every cut, a byte more, another version: corrupt */
		for (size_t l = 0; l < n; l++)
			ck_assert_int_eq(store_bs_vec_decode(b, l, &g), D4_ECORRUPT);
		b[n] = 0;
		ck_assert_int_eq(store_bs_vec_decode(b, n + 1, &g), D4_ECORRUPT);
		uint8_t ver = b[0];
		b[0] = 4;
		ck_assert_int_eq(store_bs_vec_decode(b, n, &g), D4_ECORRUPT);
		for (uint8_t o = 1; o <= 3; o++) { /* another layout */
			if (o == ver)
				continue;
			b[0] = o;
			ck_assert_int_eq(store_bs_vec_decode(b, n, &g), D4_ECORRUPT);
		}
		b[0] = ver;
		/* a flag that is not 0/1, a kind or state out of range */
		size_t off_kind = 33, off_state = 1 + 41 + 24;
		b[off_kind] = 0;
		ck_assert_int_eq(store_bs_vec_decode(b, n, &g), D4_ECORRUPT);
		b[off_kind] = v.kind;
		b[off_state] = 3;
		ck_assert_int_eq(store_bs_vec_decode(b, n, &g), D4_ECORRUPT);
		b[off_state] = v.state;
		ck_assert_int_eq(store_bs_vec_decode(b, n, &g), 0);
	}
}
END_TEST

/* The fuzz corpus's seeds: the valid ones decode, the broken ones do not
 * (the seeds are written by tests/fuzz/store_bs/gen_corpus.py from the
 * documented layout, independently of the encoder). */
START_TEST(test_corpus_seeds)
{
	const char *data = getenv("D4_TEST_DATA");
	ck_assert_ptr_nonnull(data);
	static const struct {
		const char *name;
		int rc;
	} seeds[] = {{"min", 0},
		     {"two_ports", 0},
		     {"full", 0},
		     {"closed_icmp", 0},
		     {"received", 0},
		     {"bad_kind", D4_ECORRUPT},
		     {"bad_state", D4_ECORRUPT},
		     {"bad_flag", D4_ECORRUPT},
		     {"bad_lists", D4_ECORRUPT},
		     {"last_before_first", D4_ECORRUPT}};
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/../fuzz/store_bs/corpus/%s", data, seeds[i].name);
		FILE *f = fopen(path, "rb");
		ck_assert_msg(f != NULL, "%s", path);
		uint8_t b[STORE_BS_REC_MAX + 16];
		size_t n = fread(b, 1, sizeof(b), f);
		fclose(f);
		struct d4_store_bs_vec v;
		ck_assert_msg(store_bs_vec_decode(b, n, &v) == seeds[i].rc, "%s", seeds[i].name);
		if (seeds[i].rc == 0) {
			uint8_t e[STORE_BS_REC_MAX];
			ck_assert_uint_eq(store_bs_vec_encode(&v, e), n);
			ck_assert_mem_eq(e, b, n);
			ck_assert_uint_eq(v.victim[15], 10);
			ck_assert_uint_eq(v.packets, 100);
		}
	}
}
END_TEST

static Suite *bs_suite(void)
{
	Suite *su = suite_create("store_bs");
	TCase *tc = tcase_create("bs");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_record_codec);
	tcase_add_test(tc, test_corpus_seeds);
	tcase_add_test(tc, test_upsert_rules);
	tcase_add_test(tc, test_put_txn_and_corrupt);
	tcase_add_test(tc, test_resume_checked);
	tcase_add_test(tc, test_state_cursor_counters);
	tcase_add_test(tc, test_schema_upgrade);
	tcase_add_test(tc, test_expire);
	tcase_add_test(tc, test_full_map);
	tcase_add_test(tc, test_queries_bruteforce);
	tcase_add_test(tc, test_kill9);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(bs_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
