/* Attack-vector aggregation: one vector per (victim, kind), closed after
 * idle_close_s without packets, reported when it passes every threshold
 * (Moore et al. 2006 §3.3 use 25 packets, 60 s, 30 packets/minute; so does
 * corsaro's dos plugin). Memory is bounded: at most max_vectors vectors,
 * per vector at most 64 counted ports, an exact set of telescope addresses
 * up to distinct_cap that then becomes a HyperLogLog sketch, a 16-minute
 * ring of per-minute counts, and a fixed-size live-mode table. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backscatter_internal.h"
#include "d4_backscatter.h"
#include "d4_error.h"
#include "d4_reader.h"
#include "d4_util.h"

#define PORT_SLOTS 64
#define RING	   16 /* minutes of exact per-minute counts behind the newest packet */
#define HLL_BITS   10
#define HLL_M	   (1u << HLL_BITS)
#define LIVE_WAYS  4
#define US	   1000000ull
/* Largest exact set: a vector's whole state must fit D4_BS_STATE_MAX. */
#define DISTINCT_MAX 4096u

struct port_slot {
	uint16_t port;
	uint64_t n;
};

struct vec {
	uint8_t victim[16];
	uint8_t kind;
	uint8_t emitted;
	uint8_t org_set, org_mixed;
	uint8_t tlp;
	uint8_t sensors_more;
	uint8_t n_sensors;
	uint64_t hash;
	uint64_t first, last, last_emit;
	uint32_t updates;
	uint64_t packets, bytes;
	struct port_slot *ports;
	uint32_t nports, ports_cap;
	uint64_t ports_other;
	/* distinct telescope addresses: exact open-addressing set of 64-bit
	 * hashes (0 = empty) until distinct_cap, then HLL registers */
	uint64_t *dset;
	uint32_t dslots, dn;
	uint8_t *hll;
	uint32_t ring_min[RING];
	uint32_t ring_cnt[RING];
	uint32_t newest_min;
	uint32_t peak_done;
	uint8_t org[16];
	uint8_t sensors[D4_BS_MAX_SENSORS][16];
	struct vec *next_closed;
	/* changed since the last d4_bs_agg_dirty: on the agg's dirty list */
	uint8_t dirty;
	struct vec *dnext, **dprev;
};

/* Key of a vector closed since the last d4_bs_agg_dirty. */
struct gone {
	uint8_t victim[16];
	uint8_t kind;
};

struct live_ent {
	uint64_t key; /* 0 = empty */
	uint64_t ts;
};

struct d4_bs_agg {
	struct d4_bs_opts o;
	uint64_t seed;
	struct vec **tab; /* linear probing, power-of-two size */
	size_t tab_size, n_open;
	struct vec *closed; /* closed by a later packet, emitted at the next tick */
	size_t n_closed;
	struct live_ent *live;
	size_t live_sets; /* live table: live_sets x LIVE_WAYS */
	double factor_v4, factor_v6;
	uint8_t valid_v4, valid_v6;
	struct d4_bs_stats st;
	/* persistence: vectors changed since the last d4_bs_agg_dirty (intrusive
	 * list) and keys closed since then. Closed keys are remembered only once
	 * states are in use (a d4_bs_agg_dirty or d4_bs_agg_restore call): before
	 * that nothing was reported that would need deleting. */
	struct vec *dirty;
	struct gone *gone;
	size_t n_gone, gone_cap;
	int track_gone;
	uint8_t *sbuf;	    /* D4_BS_STATE_MAX bytes, for d4_bs_agg_dirty */
	uint64_t *sscratch; /* DISTINCT_MAX members, sorted for the state */
};

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static uint64_t hash_addr(uint64_t seed, const uint8_t a[16])
{
	return mix64(mix64(seed ^ rd64(a)) ^ rd64(a + 8));
}

static uint64_t vec_hash(const struct d4_bs_agg *a, const uint8_t victim[16], uint8_t kind)
{
	return mix64(hash_addr(a->seed, victim) + kind);
}

static uint64_t tuple_key(const struct d4_bs_agg *a, const uint8_t src[16], uint16_t sport, const uint8_t dst[16],
			  uint16_t dport, uint8_t proto)
{
	uint64_t h = hash_addr(a->seed, src);
	h = mix64(h ^ hash_addr(a->seed + 1, dst));
	h = mix64(h ^ ((uint64_t)sport << 32 | (uint64_t)dport << 8 | proto));
	return h ? h : 1;
}

static double telescope_factor(const struct d4_bs_opts *o, int v4, uint8_t *valid)
{
	double covered = 0;
	for (size_t i = 0; i < o->n_telescope; i++) {
		const struct d4_bs_prefix *pf = &o->telescope[i];
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		int is4 = pf->len >= 96 && memcmp(pf->addr, mapped, 12) == 0;
		if (is4 == v4)
			covered += ldexp(1.0, 128 - pf->len);
	}
	*valid = covered > 0;
	if (!*valid)
		return 1.0;
	double f = ldexp(1.0, v4 ? 32 : 128) / covered;
	return f < 1.0 ? 1.0 : f;
}

struct d4_bs_agg *d4_bs_agg_new(const struct d4_bs_opts *o)
{
	if (!o || o->idle_close_s == 0 || o->max_vectors == 0 || (o->n_telescope && !o->telescope) ||
	    (o->live && (o->live_window_s == 0 || o->live_max_flows == 0)))
		return NULL;
	for (size_t i = 0; i < o->n_telescope; i++)
		if (o->telescope[i].len > 128)
			return NULL;
	struct d4_bs_agg *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->o = *o;
	if (a->o.distinct_cap == 0)
		a->o.distinct_cap = 1;
	if (a->o.distinct_cap > DISTINCT_MAX)
		a->o.distinct_cap = DISTINCT_MAX;
	/* The table layout only needs to be unpredictable to whoever chooses
	 * the spoofed victims; output order does not depend on it. */
	uint8_t rnd[16];
	if (d4_uuid_gen_v4(rnd) == 0)
		a->seed = rd64(rnd) ^ rd64(rnd + 8);
	a->tab_size = 1024;
	a->tab = calloc(a->tab_size, sizeof(*a->tab));
	if (o->live) {
		size_t want = (o->live_max_flows + LIVE_WAYS - 1) / LIVE_WAYS, s = 1;
		while (s < want)
			s <<= 1;
		a->live_sets = s;
		a->live = calloc(s * LIVE_WAYS, sizeof(*a->live));
	}
	if (!a->tab || (o->live && !a->live)) {
		free(a->tab);
		free(a->live);
		free(a);
		return NULL;
	}
	a->factor_v4 = telescope_factor(o, 1, &a->valid_v4);
	a->factor_v6 = telescope_factor(o, 0, &a->valid_v6);
	return a;
}

static void vec_free(struct vec *v)
{
	if (!v)
		return;
	free(v->ports);
	free(v->dset);
	free(v->hll);
	free(v);
}

void d4_bs_agg_free(struct d4_bs_agg *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->tab_size; i++)
		vec_free(a->tab[i]);
	while (a->closed) {
		struct vec *n = a->closed->next_closed;
		vec_free(a->closed);
		a->closed = n;
	}
	free(a->tab);
	free(a->live);
	free(a->gone);
	free(a->sbuf);
	free(a->sscratch);
	free(a);
}

/* ---- hash table of open vectors ---- */

static size_t tab_find(const struct d4_bs_agg *a, uint64_t h, const uint8_t victim[16], uint8_t kind)
{
	size_t m = a->tab_size - 1;
	for (size_t i = h & m;; i = (i + 1) & m) {
		struct vec *v = a->tab[i];
		if (!v || (v->hash == h && v->kind == kind && memcmp(v->victim, victim, 16) == 0))
			return i;
	}
}

static int tab_grow(struct d4_bs_agg *a)
{
	size_t ns = a->tab_size * 2;
	struct vec **nt = calloc(ns, sizeof(*nt));
	if (!nt)
		return D4_ENOMEM;
	for (size_t i = 0; i < a->tab_size; i++) {
		struct vec *v = a->tab[i];
		if (!v)
			continue;
		size_t j = v->hash & (ns - 1);
		while (nt[j])
			j = (j + 1) & (ns - 1);
		nt[j] = v;
	}
	free(a->tab);
	a->tab = nt;
	a->tab_size = ns;
	return 0;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void tab_del(struct d4_bs_agg *a, size_t i)
{
	size_t m = a->tab_size - 1;
	a->tab[i] = NULL;
	for (size_t j = (i + 1) & m; a->tab[j]; j = (j + 1) & m) {
		size_t home = a->tab[j]->hash & m;
		/* move j into the hole at i when its home is not in (i, j] */
		if (((j - home) & m) >= ((j - i) & m)) {
			a->tab[i] = a->tab[j];
			a->tab[j] = NULL;
			i = j;
		}
	}
	a->n_open--;
}

/* ---- per-vector counters ---- */

static void hll_add(uint8_t *reg, uint64_t h)
{
	uint32_t idx = (uint32_t)(h >> (64 - HLL_BITS));
	uint64_t w = h << HLL_BITS;
	uint8_t rho = 1;
	while (rho <= 64 - HLL_BITS && !(w & (1ull << 63))) {
		rho++;
		w <<= 1;
	}
	if (rho > reg[idx])
		reg[idx] = rho;
}

static double hll_estimate(const uint8_t *reg)
{
	double sum = 0;
	unsigned zeros = 0;
	for (unsigned i = 0; i < HLL_M; i++) {
		sum += ldexp(1.0, -reg[i]);
		zeros += reg[i] == 0;
	}
	double m = HLL_M, e = (0.7213 / (1.0 + 1.079 / m)) * m * m / sum;
	if (e <= 2.5 * m && zeros)
		e = m * log(m / zeros);
	return e;
}

static int dset_insert(uint64_t *set, uint32_t slots, uint64_t h)
{
	for (uint32_t i = (uint32_t)h & (slots - 1);; i = (i + 1) & (slots - 1)) {
		if (set[i] == h)
			return 0;
		if (!set[i]) {
			set[i] = h;
			return 1;
		}
	}
}

/* Adds an address to the vector's distinct set. Fails (D4_ENOMEM) before
 * changing what the set holds, so that a packet is counted everywhere or
 * nowhere. */
static int distinct_add(const struct d4_bs_agg *a, struct vec *v, const uint8_t addr[16])
{
	/* Fixed hash (no seed): the estimate of a given set of addresses is then
	 * the same on every run. */
	uint64_t h = hash_addr(0x6a09e667f3bcc908ull, addr);
	if (!h)
		h = 1;
	if (v->hll) {
		hll_add(v->hll, h);
		return 0;
	}
	for (uint32_t i = (uint32_t)h & (v->dslots - 1); v->dslots; i = (i + 1) & (v->dslots - 1)) {
		if (v->dset[i] == h)
			return 0;
		if (!v->dset[i])
			break;
	}
	if (v->dn + 1 > a->o.distinct_cap) {
		/* The sketch is a function of the set alone, so switching over
		 * does not make the result depend on packet order. */
		uint8_t *reg = calloc(HLL_M, 1);
		if (!reg)
			return D4_ENOMEM;
		for (uint32_t i = 0; i < v->dslots; i++)
			if (v->dset[i])
				hll_add(reg, v->dset[i]);
		hll_add(reg, h);
		free(v->dset);
		v->dset = NULL;
		v->dslots = 0;
		v->dn = 0;
		v->hll = reg;
		return 0;
	}
	if ((uint64_t)(v->dn + 1) * 2 > v->dslots) {
		uint32_t ns = v->dslots ? v->dslots * 2 : 8;
		uint64_t *nset = calloc(ns, sizeof(*nset));
		if (!nset)
			return D4_ENOMEM;
		for (uint32_t i = 0; i < v->dslots; i++)
			if (v->dset[i])
				dset_insert(nset, ns, v->dset[i]);
		free(v->dset);
		v->dset = nset;
		v->dslots = ns;
	}
	v->dn += (uint32_t)dset_insert(v->dset, v->dslots, h);
	return 0;
}

/* Finds or makes the counter of a port without counting: returns its slot,
 * PORT_SLOTS when the packet goes to ports_other, or D4_ENOMEM. */
static int port_slot(struct vec *v, uint16_t port)
{
	for (uint32_t i = 0; i < v->nports; i++)
		if (v->ports[i].port == port)
			return (int)i;
	if (v->nports == PORT_SLOTS)
		return PORT_SLOTS;
	if (v->nports == v->ports_cap) {
		uint32_t nc = v->ports_cap ? v->ports_cap * 2 : 4;
		struct port_slot *np = realloc(v->ports, nc * sizeof(*np));
		if (!np)
			return D4_ENOMEM;
		v->ports = np;
		v->ports_cap = nc;
	}
	v->ports[v->nports].port = port;
	v->ports[v->nports].n = 0;
	return (int)v->nports;
}

static void port_count(struct vec *v, int slot)
{
	if (slot == PORT_SLOTS) {
		v->ports_other++;
		return;
	}
	if ((uint32_t)slot == v->nports)
		v->nports++;
	v->ports[slot].n++;
}

/* Per-minute counts in a ring of RING calendar minutes; a packet more than
 * RING-1 minutes older than the newest one of the vector is counted in the
 * totals but not in the peak (stats.late). */
static void minute_add(struct d4_bs_agg *a, struct vec *v, uint64_t ts)
{
	uint32_t mn = (uint32_t)(ts / (60 * US));
	if (v->packets > 1 && mn + RING <= v->newest_min) {
		a->st.late++;
		return;
	}
	if (v->packets <= 1 || mn > v->newest_min)
		v->newest_min = mn;
	unsigned s = mn % RING;
	if (v->ring_cnt[s] && v->ring_min[s] == mn) {
		v->ring_cnt[s]++;
		return;
	}
	if (v->ring_cnt[s] > v->peak_done)
		v->peak_done = v->ring_cnt[s];
	v->ring_min[s] = mn;
	v->ring_cnt[s] = 1;
}

static uint32_t vec_peak(const struct vec *v)
{
	uint32_t p = v->peak_done;
	for (unsigned i = 0; i < RING; i++)
		if (v->ring_cnt[i] > p)
			p = v->ring_cnt[i];
	return p;
}

static int reportable(const struct d4_bs_agg *a, const struct vec *v)
{
	return v->packets >= a->o.min_packets && v->last - v->first >= (uint64_t)a->o.min_duration_s * US &&
	       vec_peak(v) >= a->o.min_peak_ppm;
}

/* ---- live mode ---- */

static struct live_ent *live_set(const struct d4_bs_agg *a, uint64_t key)
{
	return &a->live[(mix64(key) & (a->live_sets - 1)) * LIVE_WAYS];
}

static int live_fresh(const struct d4_bs_agg *a, const struct live_ent *e, uint64_t ts)
{
	uint64_t w = (uint64_t)a->o.live_window_s * US;
	return e->key && (ts >= e->ts ? ts - e->ts <= w : e->ts - ts <= w);
}

static void live_record(struct d4_bs_agg *a, uint64_t key, uint64_t ts)
{
	struct live_ent *s = live_set(a, key), *victim = NULL;
	for (int i = 0; i < LIVE_WAYS; i++)
		if (s[i].key == key) {
			if (ts > s[i].ts)
				s[i].ts = ts;
			return;
		}
	for (int i = 0; i < LIVE_WAYS && !victim; i++)
		if (!s[i].key)
			victim = &s[i];
	for (int i = 0; i < LIVE_WAYS && !victim; i++)
		if (!live_fresh(a, &s[i], ts))
			victim = &s[i];
	if (!victim) {
		victim = &s[0];
		for (int i = 1; i < LIVE_WAYS; i++)
			if (s[i].ts < victim->ts)
				victim = &s[i];
		a->st.live_evicted++;
	}
	if (!victim->key)
		a->st.live_flows++;
	victim->key = key;
	victim->ts = ts;
}

static int live_seen(const struct d4_bs_agg *a, uint64_t key, uint64_t ts)
{
	const struct live_ent *s = live_set(a, key);
	for (int i = 0; i < LIVE_WAYS; i++)
		if (s[i].key == key && live_fresh(a, &s[i], ts))
			return 1;
	return 0;
}

/* Remembers what a packet that is not backscatter opens, seen from its
 * sender: a later reply in the other direction is then its answer. */
static void live_note(struct d4_bs_agg *a, const struct d4_pkt *p, uint64_t ts)
{
	uint16_t sp = p->sport, dp = p->dport;
	if (p->fragment)
		return;
	if ((p->proto == 1 && p->ipver == 4) || (p->proto == 58 && p->ipver == 6)) {
		if (!p->l4 || p->l4len < 8 || p->l4[0] != (p->ipver == 4 ? 8 : 128))
			return;
		sp = (uint16_t)((p->l4[4] << 8) | p->l4[5]);
		dp = 0;
	} else if (p->proto != 6 && p->proto != 17)
		return;
	live_record(a, tuple_key(a, p->src, sp, p->dst, dp, p->proto), ts);
}

/* ---- changed vectors (persistence) ---- */

static void mark_dirty(struct d4_bs_agg *a, struct vec *v)
{
	if (v->dirty)
		return;
	v->dirty = 1;
	v->dnext = a->dirty;
	if (a->dirty)
		a->dirty->dprev = &v->dnext;
	v->dprev = &a->dirty;
	a->dirty = v;
}

static void unmark_dirty(struct vec *v)
{
	if (!v->dirty)
		return;
	*v->dprev = v->dnext;
	if (v->dnext)
		v->dnext->dprev = v->dprev;
	v->dirty = 0;
}

/* ---- add ---- */

static struct vec *vec_new(const struct d4_bs_class *c, uint64_t h)
{
	struct vec *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	memcpy(v->victim, c->victim, 16);
	v->kind = c->kind;
	v->hash = h;
	return v;
}

int d4_bs_agg_add(struct d4_bs_agg *a, const struct d4_pkt *p, uint64_t ts_us, const uint8_t *sensor, uint8_t tlp,
		  const uint8_t *org)
{
	struct d4_bs_class c;
	return d4_bs_agg_add_class(a, p, ts_us, sensor, tlp, org, &c);
}

int d4_bs_agg_add_class(struct d4_bs_agg *a, const struct d4_pkt *p, uint64_t ts_us, const uint8_t *sensor, uint8_t tlp,
			const uint8_t *org, struct d4_bs_class *out)
{
	struct d4_bs_class tmp, *cp = out ? out : &tmp;
	a->st.packets++;
	if (d4_bs_classify(p, &a->o, cp) == D4_BS_NONE) {
		a->st.by_reason[cp->reason]++;
		if (a->live)
			live_note(a, p, ts_us);
		return 0;
	}
	if (a->live) {
		uint8_t proto = cp->proto;
		uint16_t dport = cp->port;
		if (cp->kind == D4_BS_ICMP_ECHO_REPLY || cp->kind == D4_BS_ICMP6_ECHO_REPLY)
			dport = 0;
		if (live_seen(a, tuple_key(a, cp->telescope, cp->tport, cp->victim, dport, proto), ts_us)) {
			a->st.by_reason[D4_BS_R_OWN_FLOW]++;
			cp->kind = D4_BS_NONE;
			cp->reason = D4_BS_R_OWN_FLOW;
			return 0;
		}
	}
	uint64_t h = vec_hash(a, cp->victim, cp->kind);
	size_t i = tab_find(a, h, cp->victim, cp->kind);
	struct vec *v = a->tab[i];
	if (v && ts_us >= v->last + (uint64_t)a->o.idle_close_s * US) {
		/* Idle long enough: that attack is over, this packet starts a new one. */
		tab_del(a, i);
		v->next_closed = a->closed;
		a->closed = v;
		a->n_closed++;
		v = NULL;
		i = tab_find(a, h, cp->victim, cp->kind);
	}
	if (!v) {
		if (a->n_open + a->n_closed >= a->o.max_vectors) {
			a->st.dropped_full++;
			return D4_EFULL;
		}
		if ((a->n_open + 1) * 2 > a->tab_size) {
			if (tab_grow(a) != 0)
				return D4_ENOMEM;
			i = tab_find(a, h, cp->victim, cp->kind);
		}
		v = vec_new(cp, h);
		if (!v)
			return D4_ENOMEM;
		v->first = v->last = ts_us;
		a->tab[i] = v;
		a->n_open++;
	}
	int slot = port_slot(v, cp->port), rc = slot < 0 ? slot : distinct_add(a, v, cp->telescope);
	if (rc != 0) {
		if (v->packets == 0) { /* the vector this packet opened: nothing of it is left */
			tab_del(a, tab_find(a, h, cp->victim, cp->kind));
			vec_free(v);
		}
		return rc;
	}
	port_count(v, slot);
	v->packets++;
	v->bytes += cp->bytes;
	if (ts_us < v->first)
		v->first = ts_us;
	if (ts_us > v->last)
		v->last = ts_us;
	minute_add(a, v, ts_us);
	if (tlp > v->tlp)
		v->tlp = tlp;
	if (org) {
		if (!v->org_set) {
			memcpy(v->org, org, 16);
			v->org_set = 1;
		} else if (!v->org_mixed && memcmp(v->org, org, 16) != 0) {
			v->org_mixed = 1;
			memset(v->org, 0, 16);
		}
	}
	if (sensor) {
		int found = 0;
		for (unsigned k = 0; k < v->n_sensors && !found; k++)
			found = memcmp(v->sensors[k], sensor, 16) == 0;
		if (!found) {
			if (v->n_sensors < D4_BS_MAX_SENSORS)
				memcpy(v->sensors[v->n_sensors++], sensor, 16);
			else
				v->sensors_more = 1;
		}
	}
	mark_dirty(a, v);
	a->st.backscatter++;
	a->st.by_kind[cp->kind]++;
	return 0;
}

/* ---- emission ---- */

static int port_cmp(const void *x, const void *y)
{
	const struct port_slot *a = x, *b = y;
	if (a->n != b->n)
		return a->n > b->n ? -1 : 1;
	return (a->port > b->port) - (a->port < b->port);
}

static void vec_export(const struct d4_bs_agg *a, struct vec *v, uint8_t state, struct d4_bs_vector *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->victim, v->victim, 16);
	out->kind = v->kind;
	out->state = state;
	out->first_us = v->first;
	out->last_us = v->last;
	out->packets = v->packets;
	out->bytes = v->bytes;
	if (v->nports > 1)
		qsort(v->ports, v->nports, sizeof(*v->ports), port_cmp);
	out->n_ports = v->nports < D4_BS_TOP_PORTS ? v->nports : D4_BS_TOP_PORTS;
	for (uint32_t i = 0; i < out->n_ports; i++) {
		out->ports[i].port = v->ports[i].port;
		out->ports[i].packets = v->ports[i].n;
	}
	out->ports_distinct = v->nports;
	out->ports_other = v->ports_other;
	if (v->hll) {
		out->telescope_addrs = (uint64_t)llround(hll_estimate(v->hll));
		out->telescope_exact = 0;
	} else {
		out->telescope_addrs = v->dn;
		out->telescope_exact = 1;
	}
	out->peak_ppm = vec_peak(v);
	double dur = (double)(v->last - v->first) / (double)US;
	out->observed_pps = (double)v->packets / (dur < 1.0 ? 1.0 : dur);
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	int v4 = memcmp(v->victim, mapped, 12) == 0;
	/* The victim answers every spoofed address alike; the telescope sees
	 * its share of the address space. */
	double f = v4 ? a->factor_v4 : a->factor_v6;
	out->est_valid = v4 ? a->valid_v4 : a->valid_v6;
	out->est_pps = out->observed_pps * f;
	out->est_peak_pps = out->peak_ppm / 60.0 * f;
	memcpy(out->sensors, v->sensors, sizeof(out->sensors));
	out->n_sensors = v->n_sensors;
	out->sensors_more = v->sensors_more;
	out->tlp = v->tlp;
	memcpy(out->org, v->org, 16);
	out->org_mixed = v->org_mixed;
	out->updates = v->updates;
}

struct pending {
	struct vec *v;
	size_t slot; /* table slot, or SIZE_MAX for an already-removed (closed) vector */
	int close;
};

static int pend_cmp(const void *x, const void *y)
{
	const struct vec *a = ((const struct pending *)x)->v, *b = ((const struct pending *)y)->v;
	if (a->first != b->first)
		return a->first < b->first ? -1 : 1;
	int c = memcmp(a->victim, b->victim, 16);
	if (c)
		return c;
	return (a->kind > b->kind) - (a->kind < b->kind);
}

static int run(struct d4_bs_agg *a, uint64_t now_us, int flush, d4_bs_emit_fn emit, void *ud)
{
	size_t n = 0, cap = a->n_closed + a->n_open;
	struct pending *pl = cap ? calloc(cap, sizeof(*pl)) : NULL;
	if (cap && !pl)
		return D4_ENOMEM;
	for (struct vec *v = a->closed; v; v = v->next_closed)
		pl[n++] = (struct pending){v, SIZE_MAX, 1};
	uint64_t idle = (uint64_t)a->o.idle_close_s * US, upd = (uint64_t)a->o.update_s * US;
	for (size_t i = 0; i < a->tab_size; i++) {
		struct vec *v = a->tab[i];
		if (!v)
			continue;
		if (flush || now_us >= v->last + idle)
			pl[n++] = (struct pending){v, i, 1};
		else if (reportable(a, v) && (!v->emitted || now_us >= v->last_emit + upd))
			pl[n++] = (struct pending){v, i, 0};
	}
	if (a->track_gone) {
		/* room for every key this call may close, taken before anything
		 * changes: a vector is never freed without its key being kept */
		size_t nclose = 0;
		for (size_t k = 0; k < n; k++)
			nclose += (size_t)pl[k].close;
		if (a->n_gone + nclose > a->gone_cap) {
			size_t nc = a->gone_cap ? a->gone_cap : 64;
			while (nc < a->n_gone + nclose)
				nc *= 2;
			struct gone *ng = realloc(a->gone, nc * sizeof(*ng));
			if (!ng) {
				free(pl);
				return D4_ENOMEM;
			}
			a->gone = ng;
			a->gone_cap = nc;
		}
	}
	/* Remove closing vectors from the table before emitting (deletion moves
	 * slots, so the slot numbers are not used after this point). */
	for (size_t k = 0; k < n; k++)
		if (pl[k].close && pl[k].slot != SIZE_MAX) {
			size_t i = tab_find(a, pl[k].v->hash, pl[k].v->victim, pl[k].v->kind);
			tab_del(a, i);
			pl[k].v->next_closed = a->closed;
			a->closed = pl[k].v;
			a->n_closed++;
		}
	if (n > 1)
		qsort(pl, n, sizeof(*pl), pend_cmp);
	int rc = 0;
	struct d4_bs_vector out;
	size_t k = 0;
	for (; k < n && rc == 0; k++) {
		struct vec *v = pl[k].v;
		if (pl[k].close) {
			if (reportable(a, v)) {
				if (emit) {
					vec_export(a, v, D4_BS_CLOSED, &out);
					rc = emit(&out, ud);
					if (rc != 0)
						break;
				}
				a->st.vectors_reported++;
			} else
				a->st.vectors_unreported++;
			unmark_dirty(v);
			if (a->track_gone) {
				memcpy(a->gone[a->n_gone].victim, v->victim, 16);
				a->gone[a->n_gone++].kind = v->kind;
			}
			vec_free(v); /* the closed list is rebuilt below */
		} else {
			if (emit) {
				vec_export(a, v, D4_BS_ONGOING, &out);
				rc = emit(&out, ud);
				if (rc != 0)
					break;
			}
			v->emitted = 1;
			v->last_emit = now_us;
			if (v->updates < UINT32_MAX)
				v->updates++;
			mark_dirty(a, v);
		}
	}
	/* Every closed vector is in pl; those not handled (an emit error
	 * stopped the loop at k) stay closed for the next call. Rebuilding the
	 * list once keeps a tick linear in the vectors it closes. */
	a->closed = NULL;
	a->n_closed = 0;
	for (size_t j = k; j < n; j++)
		if (pl[j].close) {
			pl[j].v->next_closed = a->closed;
			a->closed = pl[j].v;
			a->n_closed++;
		}
	free(pl);
	return rc;
}

static void live_expire(struct d4_bs_agg *a, uint64_t now_us)
{
	if (!a->live)
		return;
	for (size_t i = 0; i < a->live_sets * LIVE_WAYS; i++)
		if (a->live[i].key && !live_fresh(a, &a->live[i], now_us) && a->live[i].ts < now_us) {
			a->live[i].key = 0;
			a->st.live_flows--;
		}
}

int d4_bs_agg_tick(struct d4_bs_agg *a, uint64_t now_us, d4_bs_emit_fn emit, void *ud)
{
	live_expire(a, now_us);
	return run(a, now_us, 0, emit, ud);
}

int d4_bs_agg_flush(struct d4_bs_agg *a, d4_bs_emit_fn emit, void *ud)
{
	return run(a, 0, 1, emit, ud);
}

void d4_bs_agg_stats(const struct d4_bs_agg *a, struct d4_bs_stats *st)
{
	*st = a->st;
	st->vectors_open = a->n_open + a->n_closed;
}

/* ---- state of an open vector (docs/backscatter.md "State persistence") ----
 * Big-endian, version 1:
 *   "D4BS" u8 version | victim[16] u8 kind u8 flags u8 tlp |
 *   u64 first u64 last u64 packets u64 bytes | u32 updates u64 last_emit |
 *   u32 newest_min u32 peak_done 16 x (u32 minute u32 count) |
 *   u64 ports_other u8 n_ports n_ports x (u16 port u64 packets), ports ascending |
 *   u8 n_sensors n_sensors x [16] | org[16] |
 *   sketched: 1024 HLL registers; exact: u32 n, n x u64 members ascending |
 *   u64 FNV-1a of every byte before.
 * flags: 1 sketched, 2 org set, 4 org mixed, 8 sensors_more.
 * The form is canonical (sorted ports and members): the same vector gives the
 * same bytes whatever the seed or the history of its tables. */

#define ST_MAGIC       "D4BS"
#define ST_VERSION     1
#define ST_F_SKETCH    1
#define ST_F_ORG_SET   2
#define ST_F_ORG_MIX   4
#define ST_F_SENS_MORE 8
#define ST_FIXED       (4 + 1 + 16 + 1 + 1 + 1 + 32 + 4 + 8 + 8 + RING * 8 + 8 + 1 + 1 + 16)
#define ST_CHECK       8

static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static int u64_cmp(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return (a > b) - (a < b);
}

static int slot_port_cmp(const void *x, const void *y)
{
	const struct port_slot *a = x, *b = y;
	return (a->port > b->port) - (a->port < b->port);
}

/* Writes v's state into buf (D4_BS_STATE_MAX bytes); returns its length. */
static size_t vec_save(struct d4_bs_agg *a, const struct vec *v, uint8_t *buf)
{
	uint8_t *p = buf;
	memcpy(p, ST_MAGIC, 4);
	p[4] = ST_VERSION;
	memcpy(p + 5, v->victim, 16);
	p[21] = v->kind;
	p[22] = (uint8_t)((v->hll ? ST_F_SKETCH : 0) | (v->org_set ? ST_F_ORG_SET : 0) |
			  (v->org_mixed ? ST_F_ORG_MIX : 0) | (v->sensors_more ? ST_F_SENS_MORE : 0));
	p[23] = v->tlp;
	p += 24;
	d4_put_u64be(p, v->first);
	d4_put_u64be(p + 8, v->last);
	d4_put_u64be(p + 16, v->packets);
	d4_put_u64be(p + 24, v->bytes);
	d4_put_u32be(p + 32, v->updates);
	d4_put_u64be(p + 36, v->last_emit);
	d4_put_u32be(p + 44, v->newest_min);
	d4_put_u32be(p + 48, v->peak_done);
	p += 52;
	for (unsigned i = 0; i < RING; i++, p += 8) {
		d4_put_u32be(p, v->ring_min[i]);
		d4_put_u32be(p + 4, v->ring_cnt[i]);
	}
	d4_put_u64be(p, v->ports_other);
	p[8] = (uint8_t)v->nports;
	p += 9;
	struct port_slot ps[PORT_SLOTS];
	memcpy(ps, v->ports, v->nports * sizeof(*ps));
	qsort(ps, v->nports, sizeof(*ps), slot_port_cmp);
	for (uint32_t i = 0; i < v->nports; i++, p += 10) {
		d4_put_u16be(p, ps[i].port);
		d4_put_u64be(p + 2, ps[i].n);
	}
	*p++ = v->n_sensors;
	memcpy(p, v->sensors, (size_t)v->n_sensors * 16);
	p += (size_t)v->n_sensors * 16;
	memcpy(p, v->org, 16);
	p += 16;
	if (v->hll) {
		memcpy(p, v->hll, HLL_M);
		p += HLL_M;
	} else {
		uint32_t n = 0;
		for (uint32_t i = 0; i < v->dslots; i++)
			if (v->dset[i])
				a->sscratch[n++] = v->dset[i];
		qsort(a->sscratch, n, sizeof(*a->sscratch), u64_cmp);
		d4_put_u32be(p, n);
		p += 4;
		for (uint32_t i = 0; i < n; i++, p += 8)
			d4_put_u64be(p, a->sscratch[i]);
	}
	d4_put_u64be(p, fnv1a64(buf, (size_t)(p - buf)));
	p += ST_CHECK;
	return (size_t)(p - buf);
}

static int gone_cmp(const void *x, const void *y)
{
	const struct gone *a = x, *b = y;
	int c = memcmp(a->victim, b->victim, 16);
	return c ? c : (a->kind > b->kind) - (a->kind < b->kind);
}

int d4_bs_agg_dirty(struct d4_bs_agg *a, d4_bs_state_fn cb, void *ud)
{
	if (!a || !cb)
		return D4_EINVAL;
	if (a->n_closed)
		return D4_EBUSY;
	if (!a->sbuf) {
		a->sbuf = malloc(D4_BS_STATE_MAX);
		a->sscratch = malloc(DISTINCT_MAX * sizeof(*a->sscratch));
		if (!a->sbuf || !a->sscratch) {
			free(a->sbuf);
			free(a->sscratch);
			a->sbuf = NULL;
			a->sscratch = NULL;
			return D4_ENOMEM;
		}
	}
	/* A key closed and open again is reported by its new state alone; a key
	 * closed twice, once. */
	if (a->n_gone > 1)
		qsort(a->gone, a->n_gone, sizeof(*a->gone), gone_cmp);
	for (size_t k = 0; k < a->n_gone; k++) {
		const struct gone *g = &a->gone[k];
		if (k && gone_cmp(g, g - 1) == 0)
			continue;
		if (a->tab[tab_find(a, vec_hash(a, g->victim, g->kind), g->victim, g->kind)])
			continue;
		int rc = cb(ud, g->victim, g->kind, NULL, 0);
		if (rc != 0)
			return rc;
	}
	for (struct vec *v = a->dirty; v; v = v->dnext) {
		size_t len = vec_save(a, v, a->sbuf);
		int rc = cb(ud, v->victim, v->kind, a->sbuf, len);
		if (rc != 0)
			return rc;
	}
	for (struct vec *v = a->dirty, *n; v; v = n) {
		n = v->dnext;
		v->dirty = 0;
	}
	a->dirty = NULL;
	a->n_gone = 0;
	a->track_gone = 1;
	return 0;
}

/* Parses and checks a state into a new vector (NULL: corrupt or no memory,
 * *err says which). Every invariant the aggregator keeps is checked, so that
 * a restored vector is one d4_bs_agg_add could have built. */
static struct vec *vec_load(const struct d4_bs_agg *a, const uint8_t *state, size_t len, int *err)
{
	*err = D4_ECORRUPT;
	if (len < ST_FIXED + ST_CHECK || len > D4_BS_STATE_MAX || memcmp(state, ST_MAGIC, 4) != 0 ||
	    state[4] != ST_VERSION || d4_get_u64be(state + len - ST_CHECK) != fnv1a64(state, len - ST_CHECK))
		return NULL;
	struct vec *v = calloc(1, sizeof(*v));
	if (!v) {
		*err = D4_ENOMEM;
		return NULL;
	}
	struct d4_reader r;
	d4_rd_init(&r, state + 5, len - 5 - ST_CHECK);
	d4_rd_copy(&r, v->victim, 16);
	v->kind = d4_rd_u8(&r);
	uint8_t fl = d4_rd_u8(&r);
	v->tlp = d4_rd_u8(&r);
	v->first = d4_rd_u64be(&r);
	v->last = d4_rd_u64be(&r);
	v->packets = d4_rd_u64be(&r);
	v->bytes = d4_rd_u64be(&r);
	v->updates = d4_rd_u32be(&r);
	v->last_emit = d4_rd_u64be(&r);
	v->emitted = v->updates > 0;
	v->newest_min = d4_rd_u32be(&r);
	v->peak_done = d4_rd_u32be(&r);
	uint64_t ring_sum = 0;
	int bad = v->kind == D4_BS_NONE || v->kind >= D4_BS_KIND_COUNT ||
		  (fl & ~(ST_F_SKETCH | ST_F_ORG_SET | ST_F_ORG_MIX | ST_F_SENS_MORE)) || v->tlp > 7 ||
		  v->packets == 0 || v->first > v->last || v->bytes / v->packets > UINT32_MAX ||
		  (!v->updates && v->last_emit) || v->peak_done > v->packets;
	/* Minutes are 32-bit as minute_add keeps them; the ordering checks hold
	 * for any time this side of year 10000. */
	uint64_t fmin = v->first / (60 * US), lmin = v->last / (60 * US);
	int ordered = lmin + RING < UINT32_MAX;
	if (ordered && v->newest_min != lmin)
		bad = 1;
	for (unsigned i = 0; i < RING; i++) {
		v->ring_min[i] = d4_rd_u32be(&r);
		v->ring_cnt[i] = d4_rd_u32be(&r);
		ring_sum += v->ring_cnt[i];
		if (!v->ring_cnt[i]
			? v->ring_min[i] != 0
			: v->ring_min[i] % RING != i || (ordered && (v->ring_min[i] < fmin || v->ring_min[i] > lmin)))
			bad = 1;
	}
	if (ring_sum == 0 || ring_sum > v->packets || v->peak_done > v->packets - ring_sum)
		bad = 1;
	v->ports_other = d4_rd_u64be(&r);
	uint32_t np = d4_rd_u8(&r);
	if (np == 0 || np > PORT_SLOTS || (v->ports_other && np < PORT_SLOTS))
		bad = 1;
	uint64_t psum = v->ports_other;
	if (!bad) {
		v->ports_cap = np < 4 ? 4 : np;
		v->ports = malloc(v->ports_cap * sizeof(*v->ports));
		if (!v->ports) {
			*err = D4_ENOMEM;
			goto fail;
		}
		for (uint32_t i = 0; i < np; i++) {
			v->ports[i].port = d4_rd_u16be(&r);
			v->ports[i].n = d4_rd_u64be(&r);
			if (v->ports[i].n == 0 || (i && v->ports[i].port <= v->ports[i - 1].port) ||
			    v->ports[i].n > v->packets)
				bad = 1;
			psum += v->ports[i].n;
		}
		v->nports = np;
		if (psum != v->packets)
			bad = 1;
	}
	v->n_sensors = d4_rd_u8(&r);
	if (v->n_sensors > D4_BS_MAX_SENSORS || ((fl & ST_F_SENS_MORE) && v->n_sensors < D4_BS_MAX_SENSORS))
		bad = 1;
	if (!bad) {
		d4_rd_copy(&r, v->sensors, (size_t)v->n_sensors * 16);
		for (unsigned i = 0; i < v->n_sensors; i++)
			for (unsigned j = 0; j < i; j++)
				if (memcmp(v->sensors[i], v->sensors[j], 16) == 0)
					bad = 1;
	}
	v->sensors_more = (fl & ST_F_SENS_MORE) != 0;
	d4_rd_copy(&r, v->org, 16);
	v->org_set = (fl & ST_F_ORG_SET) != 0;
	v->org_mixed = (fl & ST_F_ORG_MIX) != 0;
	static const uint8_t zero[16];
	if ((v->org_mixed && !v->org_set) || ((!v->org_set || v->org_mixed) && memcmp(v->org, zero, 16) != 0))
		bad = 1;
	if (bad)
		goto fail;
	if (fl & ST_F_SKETCH) {
		/* more distinct addresses than the exact set holds were seen */
		if (v->packets <= a->o.distinct_cap)
			goto fail;
		if (!(v->hll = malloc(HLL_M))) {
			*err = D4_ENOMEM;
			goto fail;
		}
		d4_rd_copy(&r, v->hll, HLL_M);
		unsigned used = 0;
		for (unsigned i = 0; i < HLL_M; i++) {
			if (v->hll[i] > 64 - HLL_BITS + 1)
				bad = 1;
			used += v->hll[i] != 0;
		}
		if (used == 0)
			bad = 1;
	} else {
		uint32_t n = d4_rd_u32be(&r);
		if (n == 0 || n > a->o.distinct_cap || n > v->packets || d4_rd_left(&r) != (size_t)n * 8)
			goto fail;
		uint32_t slots = 8;
		while ((uint64_t)(n + 1) * 2 > slots)
			slots *= 2;
		if (!(v->dset = calloc(slots, sizeof(*v->dset)))) {
			*err = D4_ENOMEM;
			goto fail;
		}
		v->dslots = slots;
		uint64_t prev = 0;
		for (uint32_t i = 0; i < n; i++) {
			uint64_t h = d4_rd_u64be(&r);
			if (h <= prev) { /* ascending: nonzero and distinct */
				bad = 1;
				break;
			}
			prev = h;
			dset_insert(v->dset, v->dslots, h);
		}
		v->dn = n;
	}
	if (bad || d4_rd_error(&r) || d4_rd_left(&r) != 0)
		goto fail;
	*err = 0;
	return v;
fail:
	vec_free(v);
	return NULL;
}

int d4_bs_agg_restore(struct d4_bs_agg *a, const uint8_t *state, size_t len)
{
	if (!a || (!state && len))
		return D4_EINVAL;
	int err;
	struct vec *v = vec_load(a, state, len, &err);
	if (!v)
		return err;
	v->hash = vec_hash(a, v->victim, v->kind);
	size_t i = tab_find(a, v->hash, v->victim, v->kind);
	if (a->tab[i] || a->n_open + a->n_closed >= a->o.max_vectors) {
		int rc = a->tab[i] ? D4_EEXIST : D4_EFULL;
		vec_free(v);
		return rc;
	}
	if ((a->n_open + 1) * 2 > a->tab_size) {
		if (tab_grow(a) != 0) {
			vec_free(v);
			return D4_ENOMEM;
		}
		i = tab_find(a, v->hash, v->victim, v->kind);
	}
	a->tab[i] = v;
	a->n_open++;
	a->track_gone = 1;
	return 0;
}

int d4_bs_agg_live_note(struct d4_bs_agg *a, const struct d4_pkt *p, uint64_t ts_us)
{
	struct d4_bs_class c;
	/* d4_bs_agg_add records exactly the packets that are not backscatter */
	if (a && p && a->live && d4_bs_classify(p, &a->o, &c) == D4_BS_NONE)
		live_note(a, p, ts_us);
	return 0;
}
