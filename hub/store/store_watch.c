/* d4hub store — the ingest watch: events of connections that proved nothing
 * (no HMAC-verified packet), per source address and claimed uuid, in memory
 * (see d4_store.h). No LMDB: the table is bounded and rebuilt from nothing at
 * each start; the hub log keeps the history. */
#include "d4_error.h"
#include "d4_util.h"
#include "store_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define W_BUCKETS 2048u

struct w_ent {
	struct d4_watch_entry e;
	int next; /* bucket chain, -1 ends */
	int used;
};

struct store_watch {
	pthread_mutex_t lock;
	struct w_ent ent[D4_WATCH_MAX];
	int bucket[W_BUCKETS];
	size_t n;
	struct d4_watch_totals tot;
};

static const char *const extra_names[] = {"address-limit", "max-connections", "handshake-timeout", "displaced"};

const char *d4_store_watch_reason_name(unsigned reason)
{
	if (reason < D4_REJ_COUNT)
		return d4_store_reject_name((enum d4_reject)reason);
	if (reason < D4_WATCH_COUNT)
		return extra_names[reason - D4_REJ_COUNT];
	return NULL;
}

/* Created on first use: most stores (d4hubctl, tests) never need it. */
static struct store_watch *watch_of(struct d4_store *s)
{
	struct store_watch *w = atomic_load_explicit(&s->watch, memory_order_acquire);
	if (w)
		return w;
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	pthread_mutex_init(&w->lock, NULL);
	for (unsigned i = 0; i < W_BUCKETS; i++)
		w->bucket[i] = -1;
	struct store_watch *expected = NULL;
	if (!atomic_compare_exchange_strong_explicit(&s->watch, &expected, w, memory_order_acq_rel,
						     memory_order_acquire)) {
		pthread_mutex_destroy(&w->lock);
		free(w);
		return expected;
	}
	return w;
}

void store_watch_free(struct d4_store *s)
{
	struct store_watch *w = atomic_exchange(&s->watch, NULL);
	if (!w)
		return;
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static unsigned w_hash(const uint8_t addr[16], int has_uuid, const uint8_t uuid[16])
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	if (has_uuid)
		for (int i = 0; i < 16; i++)
			h = (h ^ uuid[i]) * 16777619u;
	return h % W_BUCKETS;
}

static int w_same(const struct d4_watch_entry *e, const uint8_t addr[16], int has_uuid, const uint8_t uuid[16])
{
	return e->has_uuid == has_uuid && memcmp(e->addr, addr, 16) == 0 &&
	       (!has_uuid || memcmp(e->uuid, uuid, 16) == 0);
}

static void w_unlink(struct store_watch *w, int idx)
{
	struct d4_watch_entry *e = &w->ent[idx].e;
	int *pp = &w->bucket[w_hash(e->addr, e->has_uuid, e->uuid)];
	while (*pp != idx && *pp >= 0)
		pp = &w->ent[*pp].next;
	if (*pp == idx)
		*pp = w->ent[idx].next;
	w->ent[idx].used = 0;
	w->n--;
}

void d4_store_watch_note(struct d4_store *s, const struct d4_watch_ev *ev)
{
	if (ev->reason >= D4_WATCH_COUNT)
		return;
	struct store_watch *w = watch_of(s);
	if (!w)
		return;
	int has = ev->has_uuid ? 1 : 0;
	static const uint8_t zero[16];
	const uint8_t *uuid = has ? ev->uuid : zero;
	unsigned b = w_hash(ev->addr, has, uuid);
	pthread_mutex_lock(&w->lock);
	w->tot.count[ev->reason]++;
	int idx = w->bucket[b];
	while (idx >= 0 && !w_same(&w->ent[idx].e, ev->addr, has, uuid))
		idx = w->ent[idx].next;
	if (idx < 0) {
		if (w->n == D4_WATCH_MAX) {
			/* full: drop the entry seen least recently */
			int old = 0;
			for (int i = 1; i < D4_WATCH_MAX; i++)
				if (w->ent[i].e.last_at < w->ent[old].e.last_at)
					old = i;
			w_unlink(w, old);
			w->tot.evicted++;
		}
		for (idx = 0; idx < D4_WATCH_MAX && w->ent[idx].used; idx++)
			;
		struct w_ent *ne = &w->ent[idx];
		memset(ne, 0, sizeof(*ne));
		ne->used = 1;
		memcpy(ne->e.addr, ev->addr, 16);
		ne->e.has_uuid = has;
		memcpy(ne->e.uuid, uuid, 16);
		ne->e.first_at = ev->when;
		ne->next = w->bucket[b];
		w->bucket[b] = idx;
		w->n++;
	}
	struct d4_watch_entry *e = &w->ent[idx].e;
	e->count[ev->reason]++;
	e->total++;
	e->last_at = ev->when;
	e->last_reason = ev->reason;
	d4_strlcpy(e->last_detail, ev->detail, sizeof(e->last_detail));
	pthread_mutex_unlock(&w->lock);
}

void d4_store_watch_ingest_set(struct d4_store *s, const struct d4_watch_ingest *in)
{
	struct store_watch *w = watch_of(s);
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->tot.ingest = *in;
	pthread_mutex_unlock(&w->lock);
}

int store_watch_ingest_running(struct d4_store *s)
{
	struct store_watch *w = atomic_load_explicit(&s->watch, memory_order_acquire);
	if (!w)
		return 0;
	pthread_mutex_lock(&w->lock);
	int running = w->tot.ingest.running;
	pthread_mutex_unlock(&w->lock);
	return running;
}

static int by_last_desc(const void *a, const void *b)
{
	const struct d4_watch_entry *x = a, *y = b;
	if (x->last_at != y->last_at)
		return x->last_at < y->last_at ? 1 : -1;
	int c = memcmp(x->addr, y->addr, 16);
	return c ? c : memcmp(x->uuid, y->uuid, 16);
}

int d4_store_watch_get(struct d4_store *s, struct d4_watch_entry *entries, size_t max, size_t *n,
		       struct d4_watch_totals *tot)
{
	*n = 0;
	struct store_watch *w = watch_of(s);
	if (!w) {
		memset(tot, 0, sizeof(*tot));
		return D4_ENOMEM;
	}
	struct d4_watch_entry *all = malloc(D4_WATCH_MAX * sizeof(*all));
	if (!all)
		return D4_ENOMEM;
	size_t k = 0;
	pthread_mutex_lock(&w->lock);
	*tot = w->tot;
	for (int i = 0; i < D4_WATCH_MAX; i++)
		if (w->ent[i].used)
			all[k++] = w->ent[i].e;
	pthread_mutex_unlock(&w->lock);
	qsort(all, k, sizeof(*all), by_last_desc);
	if (k > max)
		k = max;
	if (k)
		memcpy(entries, all, k * sizeof(*all));
	*n = k;
	free(all);
	return 0;
}
