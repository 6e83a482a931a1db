/* d4hub store — the live sessions: the sessions the ingest opened and has
 * not closed yet, in memory (see d4_store.h). Fed where the ingest posts a
 * session's open and close, so it never holds a session of an earlier run
 * (the session records of a crashed run keep ended 0 for ever). */
#include "d4_error.h"
#include "store_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct live_ent {
	uint64_t session;
	uint8_t uuid[16];
	uint64_t started;
};

/* One entry per open connection of a verified sensor: bounded by the
 * ingest's max_connections, so a linear scan under one lock is enough. */
struct store_live {
	pthread_mutex_t lock;
	struct live_ent *ent;
	size_t n, cap;
};

/* Created on first use: most stores (d4hubctl, tests) never need it. */
static struct store_live *live_of(struct d4_store *s)
{
	struct store_live *l = atomic_load_explicit(&s->live, memory_order_acquire);
	if (l)
		return l;
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	pthread_mutex_init(&l->lock, NULL);
	struct store_live *expected = NULL;
	if (!atomic_compare_exchange_strong_explicit(&s->live, &expected, l, memory_order_acq_rel,
						     memory_order_acquire)) {
		pthread_mutex_destroy(&l->lock);
		free(l);
		return expected;
	}
	return l;
}

void store_live_free(struct d4_store *s)
{
	struct store_live *l = atomic_exchange(&s->live, NULL);
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l->ent);
	free(l);
}

void store_live_open(struct d4_store *s, const struct d4_session_open *ev)
{
	struct store_live *l = live_of(s);
	if (!l)
		return; /* out of memory: the sensor only looks disconnected */
	pthread_mutex_lock(&l->lock);
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct live_ent *e = realloc(l->ent, cap * sizeof(*e));
		if (!e) {
			pthread_mutex_unlock(&l->lock);
			return;
		}
		l->ent = e;
		l->cap = cap;
	}
	struct live_ent *e = &l->ent[l->n++];
	e->session = ev->session;
	memcpy(e->uuid, ev->uuid, 16);
	e->started = ev->when;
	pthread_mutex_unlock(&l->lock);
}

void store_live_close(struct d4_store *s, uint64_t session)
{
	struct store_live *l = atomic_load_explicit(&s->live, memory_order_acquire);
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < l->n; i++)
		if (l->ent[i].session == session) {
			l->ent[i] = l->ent[--l->n];
			break;
		}
	pthread_mutex_unlock(&l->lock);
}

int d4_store_live_get(struct d4_store *s, const uint8_t uuid[16], struct d4_live_info *out)
{
	memset(out, 0, sizeof(*out));
	/* Only the hub's own store knows its connections: a store without a
	 * running ingest (d4hubctl, a stopped hub) cannot tell. */
	if (!store_watch_ingest_running(s))
		return 0;
	struct store_live *l = atomic_load_explicit(&s->live, memory_order_acquire);
	if (l) {
		pthread_mutex_lock(&l->lock);
		for (size_t i = 0; i < l->n; i++)
			if (!memcmp(l->ent[i].uuid, uuid, 16)) {
				out->sessions++;
				if (!out->since || l->ent[i].started < out->since)
					out->since = l->ent[i].started;
			}
		pthread_mutex_unlock(&l->lock);
	}
	return 1;
}
