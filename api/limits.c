/* d4hub API — per-address and global limits (api_limits.h).
 *
 * Entries exist only while something is counted in them, so the tables
 * never hold more entries than there are live connections and streamed
 * answers, both of which are capped: a flood of distinct addresses cannot
 * grow them past max_conns.
 *
 * The API's event-loop threads share one table set: every call takes the
 * table's mutex, so a cap holds exactly whichever thread serves the peer.
 * Peer entries are only ever changed under it. */
#include "api_limits.h"

#include "d4_util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 1024

struct d4_api_peer {
	char key[72];
	unsigned conns, exports;
	uint64_t inflight;
	struct d4_api_peer *next;
};

struct table {
	struct d4_api_peer *b[NBUCKETS];
	uint64_t n;
};

struct d4_api_limits {
	pthread_mutex_t mu;
	struct d4_api_limits_conf c;
	struct table addrs, users;
	uint64_t conns, inflight, exports;
	uint64_t hits[D4_LIM_COUNT];
};

static const char *const names[D4_LIM_COUNT] = {
    [D4_LIM_CONN_ADDR] = "conn_per_addr",	    [D4_LIM_CONN_TOTAL] = "conn_total",
    [D4_LIM_STREAMS] = "streams_per_conn",	    [D4_LIM_BODY_SIZE] = "body_size",
    [D4_LIM_INFLIGHT_ADDR] = "inflight_per_addr",   [D4_LIM_INFLIGHT_TOTAL] = "inflight_total",
    [D4_LIM_EARLY_REFUSAL] = "refused_before_body", [D4_LIM_EXPORTS_ADDR] = "exports_per_addr",
    [D4_LIM_EXPORTS_USER] = "exports_per_user",	    [D4_LIM_REGISTER_RATE] = "register_rate",
    [D4_LIM_PENDING_SENSORS] = "pending_sensors",   [D4_LIM_AUTH_FAIL] = "auth_fail_rate",
    [D4_LIM_URI_TOO_LONG] = "uri_too_long",
};

#define LOCK(l)	  pthread_mutex_lock(&((struct d4_api_limits *)(l))->mu)
#define UNLOCK(l) pthread_mutex_unlock(&((struct d4_api_limits *)(l))->mu)

const char *d4_api_limit_name(enum d4_api_limit l)
{
	return (unsigned)l < D4_LIM_COUNT ? names[l] : "unknown";
}

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 16777619u;
	}
	return h % NBUCKETS;
}

static struct d4_api_peer *find(struct table *t, const char *key, int create)
{
	uint32_t h = hash(key);
	for (struct d4_api_peer *p = t->b[h]; p; p = p->next)
		if (strcmp(p->key, key) == 0)
			return p;
	if (!create)
		return NULL;
	struct d4_api_peer *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	d4_strlcpy(p->key, key, sizeof(p->key));
	p->next = t->b[h];
	t->b[h] = p;
	t->n++;
	return p;
}

/* Drops p from t once nothing is counted in it. */
static void maybe_drop(struct table *t, struct d4_api_peer *p)
{
	if (p->conns || p->exports || p->inflight)
		return;
	struct d4_api_peer **pp = &t->b[hash(p->key)];
	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = p->next;
		t->n--;
		free(p);
	}
}

static void table_free(struct table *t)
{
	for (unsigned i = 0; i < NBUCKETS; i++)
		while (t->b[i]) {
			struct d4_api_peer *p = t->b[i];
			t->b[i] = p->next;
			free(p);
		}
}

struct d4_api_limits *d4_api_limits_new(const struct d4_api_limits_conf *conf)
{
	struct d4_api_limits *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->c = *conf;
	pthread_mutex_init(&l->mu, NULL);
	return l;
}

void d4_api_limits_free(struct d4_api_limits *l)
{
	if (!l)
		return;
	table_free(&l->addrs);
	table_free(&l->users);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

void d4_api_limits_hit(struct d4_api_limits *l, enum d4_api_limit which)
{
	if ((unsigned)which < D4_LIM_COUNT) {
		LOCK(l);
		l->hits[which]++;
		UNLOCK(l);
	}
}

uint64_t d4_api_limits_hits(const struct d4_api_limits *l, enum d4_api_limit which)
{
	if ((unsigned)which >= D4_LIM_COUNT)
		return 0;
	LOCK(l);
	uint64_t n = l->hits[which];
	UNLOCK(l);
	return n;
}

static struct d4_api_peer *conn_open(struct d4_api_limits *l, const char *addr, enum d4_api_limit *why)
{
	if (l->c.max_conns && l->conns >= l->c.max_conns) {
		*why = D4_LIM_CONN_TOTAL;
		l->hits[*why]++;
		return NULL;
	}
	struct d4_api_peer *p = find(&l->addrs, addr, 1);
	if (!p) {
		*why = D4_LIM_COUNT;
		return NULL;
	}
	if (l->c.max_conns_per_addr && p->conns >= l->c.max_conns_per_addr) {
		*why = D4_LIM_CONN_ADDR;
		l->hits[*why]++;
		return NULL;
	}
	p->conns++;
	l->conns++;
	return p;
}

struct d4_api_peer *d4_api_limits_conn_open(struct d4_api_limits *l, const char *addr, enum d4_api_limit *why)
{
	LOCK(l);
	struct d4_api_peer *p = conn_open(l, addr, why);
	UNLOCK(l);
	return p;
}

void d4_api_limits_conn_close(struct d4_api_limits *l, struct d4_api_peer *p)
{
	if (!p)
		return;
	LOCK(l);
	if (p->conns)
		p->conns--;
	if (l->conns)
		l->conns--;
	maybe_drop(&l->addrs, p);
	UNLOCK(l);
}

static int body_add(struct d4_api_limits *l, struct d4_api_peer *p, uint64_t n)
{
	int why = -1;
	if (l->c.max_inflight && (l->inflight + n < l->inflight || l->inflight + n > l->c.max_inflight))
		why = D4_LIM_INFLIGHT_TOTAL;
	else if (l->c.max_inflight_per_addr &&
		 (p->inflight + n < p->inflight || p->inflight + n > l->c.max_inflight_per_addr))
		why = D4_LIM_INFLIGHT_ADDR;
	if (why >= 0) {
		l->hits[why]++;
		return why;
	}
	p->inflight += n;
	l->inflight += n;
	return 0;
}

int d4_api_limits_body_add(struct d4_api_limits *l, struct d4_api_peer *p, uint64_t n)
{
	LOCK(l);
	int why = body_add(l, p, n);
	UNLOCK(l);
	return why;
}

void d4_api_limits_body_release(struct d4_api_limits *l, struct d4_api_peer *p, uint64_t n)
{
	LOCK(l);
	p->inflight = p->inflight >= n ? p->inflight - n : 0;
	l->inflight = l->inflight >= n ? l->inflight - n : 0;
	maybe_drop(&l->addrs, p);
	UNLOCK(l);
}

static int export_open(struct d4_api_limits *l, const char *addr, const char *user)
{
	struct d4_api_peer *a = find(&l->addrs, addr, 1);
	struct d4_api_peer *u = a ? find(&l->users, user ? user : "", 1) : NULL;
	int why = -1;
	if (!a || !u)
		why = D4_LIM_COUNT;
	else if (l->c.max_exports_per_addr && a->exports >= l->c.max_exports_per_addr)
		why = D4_LIM_EXPORTS_ADDR;
	else if (l->c.max_exports_per_user && u->exports >= l->c.max_exports_per_user)
		why = D4_LIM_EXPORTS_USER;
	if (why >= 0) {
		if (why < D4_LIM_COUNT)
			l->hits[why]++;
		if (a)
			maybe_drop(&l->addrs, a);
		if (u)
			maybe_drop(&l->users, u);
		return why;
	}
	a->exports++;
	u->exports++;
	l->exports++;
	return 0;
}

int d4_api_limits_export_open(struct d4_api_limits *l, const char *addr, const char *user)
{
	LOCK(l);
	int why = export_open(l, addr, user);
	UNLOCK(l);
	return why;
}

void d4_api_limits_export_close(struct d4_api_limits *l, const char *addr, const char *user)
{
	LOCK(l);
	struct d4_api_peer *a = find(&l->addrs, addr, 0);
	struct d4_api_peer *u = find(&l->users, user ? user : "", 0);
	if (a && a->exports) {
		a->exports--;
		maybe_drop(&l->addrs, a);
	}
	if (u && u->exports) {
		u->exports--;
		maybe_drop(&l->users, u);
	}
	if (l->exports)
		l->exports--;
	UNLOCK(l);
}

void d4_api_limits_stats(const struct d4_api_limits *l, struct d4_api_limits_stats *out)
{
	LOCK(l);
	out->conns = l->conns;
	out->inflight = l->inflight;
	out->exports = l->exports;
	out->peers = l->addrs.n;
	UNLOCK(l);
}

void d4_api_limits_peer_stats(const struct d4_api_limits *l, const char *addr, unsigned *conns, uint64_t *inflight,
			      unsigned *exports)
{
	LOCK(l);
	const struct d4_api_peer *p = find((struct table *)&l->addrs, addr, 0);
	*conns = p ? p->conns : 0;
	*inflight = p ? p->inflight : 0;
	*exports = p ? p->exports : 0;
	UNLOCK(l);
}
