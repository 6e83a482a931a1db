/* d4hub store — the asynchronous writer.
 *
 * Ingest threads append items to one growable byte buffer under a mutex
 * (one memcpy per post). The writer thread swaps that buffer out whole,
 * applies it in a single write transaction and commits: frames are packed
 * into per-session chunks appended in key order (MDB_APPEND), and all
 * counters are aggregated in memory and merged once per commit. A batch
 * that fails (MDB_MAP_FULL...) is kept and re-applied from scratch later, so
 * nothing is half-applied and nothing is lost while the process lives. */
#include "store_internal.h"

#include "d4_error.h"
#include "d4_log.h"
#include "d4_reader.h"
#include "d4_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define Q_STREAM_MIN 4096u /* payload bytes from which q_copy_payload streams */

/* Q_FED carries a pointer to the caller's struct d4_store_fed_batch;
 * Q_SKIP is an item already finished without being applied (a received
 * batch that failed alone), kept in place so that offsets stay valid. */
enum qkind { Q_OPEN = 1, Q_META, Q_FRAME, Q_CLOSE, Q_REJECT, Q_FED, Q_SKIP };

struct qhdr {
	uint32_t kind;
	uint32_t pad;
	uint64_t len; /* whole item, 8-aligned */
};

struct q_close {
	uint64_t session, when;
	char reason[D4_ERRTEXT_MAX];
};

static size_t align8(size_t n)
{
	return (n + 7u) & ~(size_t)7u;
}

/* ---- tiny open-addressing hash map used for per-batch aggregation ---- */
#define HKEY_MAX 80
struct hent {
	uint64_t h;
	uint8_t klen;
	uint8_t key[HKEY_MAX];
	void *val;
};
struct hmap {
	struct hent *t;
	size_t cap, n;
};

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h | 1; /* 0 marks an empty slot */
}

static int hmap_grow(struct hmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 64;
	struct hent *nt = calloc(ncap, sizeof(*nt));
	if (!nt)
		return D4_ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->t[i].h)
			continue;
		size_t j = m->t[i].h & (ncap - 1);
		while (nt[j].h)
			j = (j + 1) & (ncap - 1);
		nt[j] = m->t[i];
	}
	free(m->t);
	m->t = nt;
	m->cap = ncap;
	return 0;
}

/* Returns the value slot for key (NULL on ENOMEM); *created when new. */
static void **hmap_slot(struct hmap *m, const void *key, size_t klen, int *created)
{
	*created = 0;
	if (klen > HKEY_MAX)
		abort();
	if ((m->n + 1) * 2 > m->cap && hmap_grow(m))
		return NULL;
	uint64_t h = hash_bytes(key, klen);
	size_t j = h & (m->cap - 1);
	while (m->t[j].h) {
		if (m->t[j].h == h && m->t[j].klen == klen && memcmp(m->t[j].key, key, klen) == 0)
			return &m->t[j].val;
		j = (j + 1) & (m->cap - 1);
	}
	m->t[j].h = h;
	m->t[j].klen = (uint8_t)klen;
	memcpy(m->t[j].key, key, klen);
	m->t[j].val = NULL;
	m->n++;
	*created = 1;
	return &m->t[j].val;
}

static void hmap_free(struct hmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->t[i].h)
			free(m->t[i].val);
	free(m->t);
	memset(m, 0, sizeof(*m));
}

/* ---- aggregation records ---- */
struct a_sensor {
	int exists, dirty, corrupt;
	struct d4_sensor sn;
};
struct a_stype {
	size_t klen;
	uint8_t key[HKEY_MAX];
	struct d4_sensor_type_stat st;
};
struct a_daily {
	uint8_t key[21];
	struct d4_daily_stat st;
};
#define NOREF ((size_t)-1)
struct a_session {
	int exists, dirty, listed;
	struct d4_session_info si;
	struct d4_store_fed_session fed; /* si.fed: the provenance, kept when rewritten */
	struct a_sensor *sensor;
	int sensor_loaded;
	struct a_stype *ts;
	uint8_t ts_type;
	struct a_daily *dl;
	uint32_t dl_day;
	uint8_t dl_type;
	size_t head, tail; /* frame refs of this batch */
};
struct fref {
	size_t off, next;
	const struct d4_store_fed_frame *ff; /* a received frame (caller's memory), else an item at off */
};

struct apply_ctx {
	struct d4_store *s;
	MDB_txn *txn;
	const uint8_t *buf;
	struct hmap sessions, sensors, stypes, daily;
	struct d4_totals tot;
	struct a_session *last;
	struct a_session **order; /* sessions with frames, first-frame order */
	size_t norder, order_cap;
	struct fref *refs;
	size_t nrefs, refs_cap;
	struct store_qcache *qc; /* analyzer queue filters (store_queue.c) */
	/* Corrupt records met by this attempt and not reported before (the
	 * count is persisted with the batch), and those already reported by
	 * this writer (a record stays corrupt until an admin acts). */
	unsigned ncorrupt_new;
	uint8_t corrupt_new[STORE_CORRUPT_SEEN][HKEY_MAX + 2];
	unsigned ncorrupt_seen;
	uint8_t corrupt_seen[STORE_CORRUPT_SEEN][HKEY_MAX + 2];
	int totals_rebuilt;
	struct store_replay *rp;    /* replay window of d4-ack/1 frames (store_replay.c) */
	struct store_fed_writer fw; /* received batches (store_fed.c) */
	/* Pages of the frame chunks put by this attempt, and the file ranges
	 * of committed chunks still left in the page cache, oldest first (see
	 * frames_uncache). */
	struct chunk_put {
		uint64_t seq, pgno, npages;
	} * puts;
	size_t nputs, puts_cap;
	struct fc_range {
		uint64_t off, len;
	} * fc;
	size_t fc_head, fc_n, fc_cap;
	uint64_t fc_bytes;
};

static MDB_val mval(const void *p, size_t n)
{
	return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

/* A record that does not decode is reported (error log naming the table and
 * key, the store's corrupt_records counter) and isolated by the caller: it is
 * never allowed to fail the batch. Reported once per record and writer. */
static void corrupt_found(struct apply_ctx *c, const char *table, const uint8_t *key, size_t klen, const char *what_now)
{
	uint8_t id[HKEY_MAX + 2];
	memset(id, 0, sizeof(id));
	id[0] = (uint8_t)strlen(table); /* the writer's five tables differ in name length */
	id[1] = (uint8_t)(klen > HKEY_MAX ? HKEY_MAX : klen);
	memcpy(id + 2, key, id[1]);
	for (unsigned i = 0; i < c->ncorrupt_seen; i++)
		if (!memcmp(c->corrupt_seen[i], id, sizeof(id)))
			return;
	for (unsigned i = 0; i < c->ncorrupt_new; i++)
		if (!memcmp(c->corrupt_new[i], id, sizeof(id)))
			return;
	if (c->ncorrupt_new < STORE_CORRUPT_SEEN)
		memcpy(c->corrupt_new[c->ncorrupt_new++], id, sizeof(id));
	char hex[2 * HKEY_MAX + 1];
	size_t n = klen > HKEY_MAX ? HKEY_MAX : klen;
	for (size_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	hex[2 * n] = '\0';
	d4_err("store: corrupt record in %s, key %s: %s", table, hex, what_now);
}

/* The totals record did not decode: rebuild what the other tables still
 * say (frames and bytes from the daily statistics, sessions from the session
 * table, rejections per reason from the sensors' counters — those without a
 * known sensor are lost) and mark the store (settings totals_rebuilt_at). */
static int totals_rebuild(struct apply_ctx *c, struct d4_totals *t)
{
	struct d4_store *s = c->s;
	MDB_cursor *cur;
	MDB_val k, v;
	memset(t, 0, sizeof(*t));
	int rc = mdb_cursor_open(c->txn, s->dbi[DBI_DAILY], &cur);
	if (rc)
		return store_rc(rc, "cursor");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct d4_daily_stat st;
		if (store_dec_daily(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &st) != 0)
			continue;
		t->frames += st.packets;
		t->bytes += st.bytes;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return store_rc(rc, "daily scan");
	/* sessions of this hub's sensors: received ones are not counted in the
	 * totals (docs/store.md "Federation") */
	if ((rc = mdb_cursor_open(c->txn, s->dbi[DBI_SESSIONS], &cur)) != 0)
		return store_rc(rc, "cursor");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct d4_session_info si;
		if (store_dec_session(v.mv_data, v.mv_size, 0, &si) != 0 || !si.fed)
			t->sessions++;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return store_rc(rc, "session scan");
	struct d4_sensor *sn = malloc(sizeof(*sn));
	if (!sn)
		return D4_ENOMEM;
	if ((rc = mdb_cursor_open(c->txn, s->dbi[DBI_SENSORS], &cur)) != 0) {
		free(sn);
		return store_rc(rc, "cursor");
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (store_dec_sensor(v.mv_data, v.mv_size, sn) != 0)
			continue;
		for (int r = 0; r < D4_REJ_COUNT; r++)
			t->rejects[r] += sn->rejects[r];
	}
	mdb_cursor_close(cur);
	d4_wipe(sn, sizeof(*sn));
	free(sn);
	if (rc != MDB_NOTFOUND)
		return store_rc(rc, "sensor scan");
	c->totals_rebuilt = 1;
	return 0;
}

static struct a_sensor *get_sensor(struct apply_ctx *c, const uint8_t uuid[16], int *err)
{
	int created;
	void **slot = hmap_slot(&c->sensors, uuid, 16, &created);
	if (!slot) {
		*err = D4_ENOMEM;
		return NULL;
	}
	if (!created)
		return *slot;
	struct a_sensor *a = calloc(1, sizeof(*a));
	if (!a) {
		*err = D4_ENOMEM;
		return NULL;
	}
	*slot = a;
	MDB_val k = mval(uuid, 16), v;
	int rc = mdb_get(c->txn, c->s->dbi[DBI_SENSORS], &k, &v);
	if (rc == 0) {
		if (store_dec_sensor(v.mv_data, v.mv_size, &a->sn) == 0) {
			a->exists = 1;
		} else {
			/* Left alone, never rewritten or re-created (its key and admin
			 * fields would be lost); the ingest refuses the sensor until
			 * an admin deletes and re-creates it. */
			memset(&a->sn, 0, sizeof(a->sn));
			a->corrupt = 1;
			corrupt_found(
			    c, "sensors", uuid, 16,
			    "sensor left untouched, its counters are not updated and its connections refused");
		}
	} else if (rc != MDB_NOTFOUND) {
		*err = store_rc(rc, "sensor get");
		return NULL;
	}
	memcpy(a->sn.uuid, uuid, 16);
	return a;
}

static struct a_session *get_session(struct apply_ctx *c, uint64_t id, int *err)
{
	if (c->last && c->last->si.session == id)
		return c->last;
	uint8_t key[8];
	d4_put_u64be(key, id);
	int created;
	void **slot = hmap_slot(&c->sessions, key, 8, &created);
	if (!slot) {
		*err = D4_ENOMEM;
		return NULL;
	}
	if (!created)
		return c->last = *slot;
	struct a_session *a = calloc(1, sizeof(*a));
	if (!a) {
		*err = D4_ENOMEM;
		return NULL;
	}
	*slot = a;
	a->head = a->tail = NOREF;
	a->si.session = id;
	MDB_val k = mval(key, 8), v;
	int rc = mdb_get(c->txn, c->s->dbi[DBI_SESSIONS], &k, &v);
	if (rc == 0) {
		if (store_dec_session_fed(v.mv_data, v.mv_size, id, &a->si, &a->fed) == 0) {
			a->exists = 1;
		} else {
			memset(&a->si, 0, sizeof(a->si));
			memset(&a->fed, 0, sizeof(a->fed));
			corrupt_found(c, "sessions", key, 8, "session record rewritten from this batch's events");
		}
		a->si.session = id;
	} else if (rc != MDB_NOTFOUND) {
		*err = store_rc(rc, "session get");
		return NULL;
	}
	return c->last = a;
}

static struct a_stype *get_stype(struct apply_ctx *c, const uint8_t uuid[16], uint8_t type, const char *ext, int *err)
{
	uint8_t key[HKEY_MAX];
	size_t klen = store_stype_key(uuid, type, ext, key);
	int created;
	void **slot = hmap_slot(&c->stypes, key, klen, &created);
	if (!slot) {
		*err = D4_ENOMEM;
		return NULL;
	}
	if (!created)
		return *slot;
	struct a_stype *a = calloc(1, sizeof(*a));
	if (!a) {
		*err = D4_ENOMEM;
		return NULL;
	}
	*slot = a;
	memcpy(a->key, key, klen);
	a->klen = klen;
	MDB_val k = mval(key, klen), v;
	int rc = mdb_get(c->txn, c->s->dbi[DBI_STYPES], &k, &v);
	if (rc == 0 && store_dec_stype(key, klen, v.mv_data, v.mv_size, &a->st) == 0)
		return a;
	if (rc == 0)
		corrupt_found(c, "sensor_types", key, klen, "per-type counters restarted from zero");
	if (rc != 0 && rc != MDB_NOTFOUND) {
		*err = store_rc(rc, "type stat get");
		return NULL;
	}
	memset(&a->st, 0, sizeof(a->st));
	a->st.type = type;
	memcpy(a->st.ext_type, key + 17, klen - 17);
	return a;
}

static struct a_daily *get_daily(struct apply_ctx *c, uint32_t day, const uint8_t *uuid, uint8_t type, int *err)
{
	uint8_t key[21];
	store_daily_key(day, uuid, type, key);
	int created;
	void **slot = hmap_slot(&c->daily, key, 21, &created);
	if (!slot) {
		*err = D4_ENOMEM;
		return NULL;
	}
	if (!created)
		return *slot;
	struct a_daily *a = calloc(1, sizeof(*a));
	if (!a) {
		*err = D4_ENOMEM;
		return NULL;
	}
	*slot = a;
	memcpy(a->key, key, 21);
	MDB_val k = mval(key, 21), v;
	int rc = mdb_get(c->txn, c->s->dbi[DBI_DAILY], &k, &v);
	if (rc == 0 && store_dec_daily(key, 21, v.mv_data, v.mv_size, &a->st) == 0)
		return a;
	if (rc == 0)
		corrupt_found(c, "daily", key, 21, "daily counters restarted from zero");
	if (rc != 0 && rc != MDB_NOTFOUND) {
		*err = store_rc(rc, "daily get");
		return NULL;
	}
	memset(&a->st, 0, sizeof(a->st));
	a->st.day = day;
	if (uuid)
		memcpy(a->st.uuid, uuid, 16);
	a->st.type = type;
	return a;
}

static void seen(uint64_t *first, uint64_t *last, uint64_t when)
{
	if (*first == 0 || when < *first)
		*first = when;
	if (when > *last)
		*last = when;
}

static void last_ips_push(struct d4_sensor *sn, const uint8_t addr[16], uint64_t when)
{
	unsigned n = sn->nlast_ips > D4_LAST_IPS ? D4_LAST_IPS : sn->nlast_ips, i;
	for (i = 0; i < n; i++)
		if (memcmp(sn->last_ips[i].addr, addr, 16) == 0)
			break;
	if (i == n && n < D4_LAST_IPS)
		n++;
	if (i == D4_LAST_IPS)
		i = D4_LAST_IPS - 1; /* drop the oldest */
	memmove(&sn->last_ips[1], &sn->last_ips[0], i * sizeof(sn->last_ips[0]));
	memcpy(sn->last_ips[0].addr, addr, 16);
	sn->last_ips[0].when = when;
	sn->nlast_ips = (uint8_t)n;
}

static int apply_open(struct apply_ctx *c, const struct d4_session_open *ev)
{
	int err = 0;
	struct a_session *a = get_session(c, ev->session, &err);
	if (!a)
		return err;
	size_t head = a->head, tail = a->tail;
	int listed = a->listed;
	memset(&a->si, 0, sizeof(a->si));
	a->si.session = ev->session;
	memcpy(a->si.uuid, ev->uuid, 16);
	a->si.type = ev->type;
	memcpy(a->si.addr, ev->addr, 16);
	a->si.port = ev->port;
	a->si.started = ev->when;
	a->dirty = 1;
	a->head = head;
	a->tail = tail;
	a->listed = listed;
	a->ts = NULL;
	c->tot.sessions++;
	struct a_sensor *sn = get_sensor(c, ev->uuid, &err);
	if (!sn)
		return err;
	a->sensor = sn;
	a->sensor_loaded = 1;
	if (!sn->exists && !sn->corrupt && ev->auto_create) {
		memset(&sn->sn, 0, sizeof(sn->sn));
		memcpy(sn->sn.uuid, ev->uuid, 16);
		sn->sn.status = D4_SENSOR_APPROVED;
		sn->sn.created = ev->when;
		sn->exists = 1;
	}
	if (!sn->exists)
		return 0;
	seen(&sn->sn.first_seen, &sn->sn.last_seen, ev->when);
	last_ips_push(&sn->sn, ev->addr, ev->when);
	sn->dirty = 1;
	struct a_stype *ts = get_stype(c, ev->uuid, ev->type, "", &err);
	if (!ts)
		return err;
	seen(&ts->st.first_seen, &ts->st.last_seen, ev->when);
	return 0;
}

static int apply_meta(struct apply_ctx *c, const struct d4_session_meta *ev)
{
	int err = 0;
	struct a_session *a = get_session(c, ev->session, &err);
	if (!a)
		return err;
	if (!a->exists && !a->dirty) {
		d4_debug("store: meta for unknown session %llu ignored", (unsigned long long)ev->session);
		return 0;
	}
	memcpy(a->si.ext_type, ev->ext_type, sizeof(a->si.ext_type));
	a->si.ext_type[sizeof(a->si.ext_type) - 1] = '\0';
	a->si.tlp = ev->tlp;
	memcpy(a->si.org, ev->org, 16);
	a->ts = NULL; /* the ext type keys the 254 stats */
	a->dirty = 1;
	return 0;
}

static int apply_close(struct apply_ctx *c, const struct q_close *ev)
{
	int err = 0;
	struct a_session *a = get_session(c, ev->session, &err);
	if (!a)
		return err;
	if (!a->exists && !a->dirty)
		return 0;
	a->si.ended = ev->when;
	memcpy(a->si.close_reason, ev->reason, sizeof(a->si.close_reason));
	a->si.close_reason[sizeof(a->si.close_reason) - 1] = '\0';
	a->dirty = 1;
	return 0;
}

static int chain_ref(struct apply_ctx *c, struct a_session *a, size_t off, const struct d4_store_fed_frame *ff);

static int apply_frame(struct apply_ctx *c, const struct d4_frame_rec *rec, size_t off)
{
	int err = 0;
	if (rec->replay_check && c->rp) {
		int dup = store_replay_check(c->rp, c->s, c->txn, rec);
		if (dup)
			return dup < 0 ? dup : 0; /* an exact replay: committed already, not counted again */
	}
	struct a_session *a = get_session(c, rec->session, &err);
	if (!a)
		return err;
	uint64_t when = rec->recv_ms / 1000u;
	if (!a->exists && !a->dirty) {
		/* Frames without a posted open (should not happen): keep a stub. */
		memcpy(a->si.uuid, rec->uuid, 16);
		a->si.type = rec->type;
		a->si.tlp = rec->tlp;
		memcpy(a->si.org, rec->org, 16);
		a->si.started = when;
	}
	a->si.frames++;
	a->si.bytes += rec->size;
	a->dirty = 1;
	if (!a->sensor_loaded) {
		a->sensor = get_sensor(c, rec->uuid, &err);
		if (!a->sensor)
			return err;
		a->sensor_loaded = 1;
	}
	struct a_sensor *sn = a->sensor;
	if (sn->exists) {
		sn->sn.packets++;
		sn->sn.bytes += rec->size;
		seen(&sn->sn.first_seen, &sn->sn.last_seen, when);
		sn->dirty = 1;
		if (!a->ts || a->ts_type != rec->type) {
			a->ts = get_stype(c, rec->uuid, rec->type, a->si.ext_type, &err);
			if (!a->ts)
				return err;
			a->ts_type = rec->type;
		}
		a->ts->st.packets++;
		a->ts->st.bytes += rec->size;
		seen(&a->ts->st.first_seen, &a->ts->st.last_seen, when);
	}
	uint32_t day = (uint32_t)(rec->recv_ms / 86400000u);
	if (!a->dl || a->dl_day != day || a->dl_type != rec->type) {
		a->dl = get_daily(c, day, rec->uuid, rec->type, &err);
		if (!a->dl)
			return err;
		a->dl_day = day;
		a->dl_type = rec->type;
	}
	a->dl->st.packets++;
	a->dl->st.bytes += rec->size;
	c->tot.frames++;
	c->tot.bytes += rec->size;
	return chain_ref(c, a, off, NULL);
}

/* Chains a frame onto its session for chunk packing. */
static int chain_ref(struct apply_ctx *c, struct a_session *a, size_t off, const struct d4_store_fed_frame *ff)
{
	if (c->nrefs == c->refs_cap) {
		size_t ncap = c->refs_cap ? c->refs_cap * 2 : 1024;
		struct fref *n = realloc(c->refs, ncap * sizeof(*n));
		if (!n)
			return D4_ENOMEM;
		c->refs = n;
		c->refs_cap = ncap;
	}
	size_t r = c->nrefs++;
	c->refs[r].off = off;
	c->refs[r].next = NOREF;
	c->refs[r].ff = ff;
	if (a->tail == NOREF)
		a->head = r;
	else
		c->refs[a->tail].next = r;
	a->tail = r;
	if (!a->listed) {
		if (c->norder == c->order_cap) {
			size_t ncap = c->order_cap ? c->order_cap * 2 : 64;
			struct a_session **n = realloc(c->order, ncap * sizeof(*n));
			if (!n)
				return D4_ENOMEM;
			c->order = n;
			c->order_cap = ncap;
		}
		c->order[c->norder++] = a;
		a->listed = 1;
	}
	return 0;
}

static int apply_reject(struct apply_ctx *c, const uint8_t *uuid, int has_uuid, unsigned reason, uint64_t count,
			uint64_t when, const char *detail)
{
	int err = 0;
	if (reason >= D4_REJ_COUNT)
		return 0;
	if (has_uuid) {
		struct a_sensor *sn = get_sensor(c, uuid, &err);
		if (!sn)
			return err;
		if (sn->exists) {
			sn->sn.rejects[reason] += count;
			snprintf(sn->sn.last_error, sizeof(sn->sn.last_error), "%s: %s",
				 d4_store_reject_name((enum d4_reject)reason), detail);
			sn->sn.last_error_at = when;
			sn->dirty = 1;
		}
	}
	c->tot.rejects[reason] += count;
	/* No identity, no daily row: the daily table is per sensor, and an
	 * all-zero uuid would read as a sensor of that name. Such events are in
	 * the totals and in the ingest watch (per source address). */
	if (!has_uuid)
		return 0;
	struct a_daily *dl = get_daily(c, (uint32_t)(when / 86400u), uuid, 0, &err);
	if (!dl)
		return err;
	dl->st.rejects += count;
	return 0;
}

/* A batch received from a partner hub: phase 1 (position rule, session
 * mapping, tuples, position) in store_fed.c; then its frames join their
 * local sessions here like ingested ones. Received frames count in their
 * session and in fed_in, not in the per-sensor, per-type, daily or total
 * statistics: those describe this hub's own sensors (docs/store.md). */
static int apply_fed(struct apply_ctx *c, struct d4_store_fed_batch *b)
{
	struct store_fed_writer *fw = &c->fw;
	if (fw->napplied == fw->capplied) {
		size_t ncap = fw->capplied ? fw->capplied * 2 : 16;
		struct d4_store_fed_batch **n = realloc(fw->applied, ncap * sizeof(*n));
		if (!n)
			return D4_ENOMEM;
		fw->applied = n;
		fw->capplied = ncap;
	}
	int rc = store_fed_apply(c->s, c->txn, fw, b);
	if (rc)
		return rc;
	fw->applied[fw->napplied++] = b;
	if (b->result != 0 || b->kind != 0)
		return 0;
	static const struct d4_store_fed_prov none;
	for (size_t i = 0; i < b->nframes; i++) {
		const struct d4_store_fed_frame *f = &b->frames[i];
		int err = 0;
		struct a_session *a = get_session(c, fw->local[i], &err);
		if (!a)
			return err;
		if (!a->exists && !a->dirty) {
			/* a new local session (or one whose record did not decode) */
			memset(&a->si, 0, sizeof(a->si));
			a->si.session = fw->local[i];
			memcpy(a->si.uuid, f->sensor, 16);
			a->si.type = f->type;
			d4_strlcpy(a->si.ext_type, f->ext_type ? f->ext_type : "", sizeof(a->si.ext_type));
			a->si.tlp = f->tlp;
			if (f->has_org)
				memcpy(a->si.org, f->org, 16);
			a->si.started = f->recv_ms / 1000u;
			a->si.fed = 1;
			memset(&a->fed, 0, sizeof(a->fed));
			d4_strlcpy(a->fed.partner, b->partner, sizeof(a->fed.partner));
			memcpy(a->fed.sender, b->sender, 16);
			a->fed.origin_session = f->origin_session;
			a->fed.prov = f->prov ? *f->prov : none;
			a->sensor_loaded = 1; /* no sensor of this hub */
		}
		a->si.frames++;
		a->si.bytes += f->size;
		a->dirty = 1;
		if ((rc = chain_ref(c, a, 0, f)) != 0)
			return rc;
	}
	return 0;
}

static const struct d4_frame_rec *item_frame(const uint8_t *buf, size_t off, struct d4_frame_rec *tmp,
					     const uint8_t **payload)
{
	memcpy(tmp, buf + off + sizeof(struct qhdr), sizeof(*tmp));
	*payload = buf + off + sizeof(struct qhdr) + sizeof(*tmp);
	return tmp;
}

/* The frame of ref r, from the queue buffer or a received batch. */
static void ref_frame(const struct apply_ctx *c, size_t r, struct d4_frame_rec *rec, const uint8_t **pl)
{
	const struct d4_store_fed_frame *f = c->refs[r].ff;
	if (!f) {
		item_frame(c->buf, c->refs[r].off, rec, pl);
		return;
	}
	memset(rec, 0, sizeof(*rec));
	memcpy(rec->uuid, f->sensor, 16);
	rec->type = f->type;
	rec->version = 1;
	rec->tlp = f->tlp;
	if (f->has_org)
		memcpy(rec->org, f->org, 16);
	rec->hdr_ts = f->hdr_ts;
	rec->recv_ms = f->recv_ms;
	rec->size = f->size;
	*pl = f->payload;
}

/* The pages of a chunk just reserved: a value of 2 pages or more is a run
 * of overflow pages of its own, and the reserved memory (the dirty copy
 * of the run) starts right after the run's page header — LMDB 0.9's file
 * format: page number (size_t), u16 pad, u16 flags (P_OVERFLOW 0x04),
 * u32 page count. Checked against the size; 0 if anything differs (the
 * chunk then stays in the page cache, nothing else). */
static int chunk_pages(const struct d4_store *s, const void *data, size_t size, struct chunk_put *out)
{
	enum { HDR = sizeof(size_t) + 8, P_OVERFLOW = 0x04 };
	if (size < 2 * (size_t)s->psize)
		return 0;
	const uint8_t *h = (const uint8_t *)data - HDR;
	size_t pgno;
	uint16_t flags;
	uint32_t pages;
	memcpy(&pgno, h, sizeof(pgno));
	memcpy(&flags, h + sizeof(size_t) + 2, sizeof(flags));
	memcpy(&pages, h + sizeof(size_t) + 4, sizeof(pages));
	if (!(flags & P_OVERFLOW) || pages != (size + HDR + s->psize - 1) / s->psize || pgno < 2)
		return 0;
	out->pgno = pgno;
	out->npages = pages;
	return 1;
}

static int write_chunks(struct apply_ctx *c, uint64_t *seq)
{
	struct d4_store *s = c->s;
	/* At most one chunk per frame: room for all, so that the loop below
	 * never allocates (a chunk left out only stays in the page cache). */
	c->nputs = 0;
	if (c->puts_cap < c->nrefs) {
		struct chunk_put *n = realloc(c->puts, c->nrefs * sizeof(*n));
		if (n) {
			c->puts = n;
			c->puts_cap = c->nrefs;
		}
	}
	for (size_t i = 0; i < c->norder; i++) {
		struct a_session *a = c->order[i];
		size_t r = a->head;
		while (r != NOREF) {
			struct d4_frame_rec rec;
			const uint8_t *pl;
			size_t size = STORE_CHUNK_HDR, j = r;
			struct store_chunk_hdr h = {0, a->si.session, *seq, UINT64_MAX, 0};
			while (j != NOREF) {
				ref_frame(c, j, &rec, &pl);
				size_t rs = STORE_FREC_HDR + rec.size;
				if (h.count > 0 && size + rs > STORE_CHUNK_MAX)
					break;
				size += rs;
				h.count++;
				if (rec.recv_ms < h.min_ms)
					h.min_ms = rec.recv_ms;
				if (rec.recv_ms > h.max_ms)
					h.max_ms = rec.recv_ms;
				j = c->refs[j].next;
			}
			uint8_t key[8];
			d4_put_u64be(key, h.first_seq);
			MDB_val k = mval(key, 8), v = {.mv_size = size, .mv_data = NULL};
			int rc = mdb_put(c->txn, s->dbi[DBI_FRAMES], &k, &v, MDB_RESERVE | MDB_APPEND);
			if (rc)
				return store_rc(rc, "frame chunk put");
			if (c->nputs < c->puts_cap && chunk_pages(s, v.mv_data, size, &c->puts[c->nputs]))
				c->puts[c->nputs++].seq = h.first_seq;
			uint8_t *out = v.mv_data;
			store_enc_chunk_hdr(&h, out);
			out += STORE_CHUNK_HDR;
			for (uint32_t n = 0; n < h.count; n++) {
				ref_frame(c, r, &rec, &pl);
				rec.seq = h.first_seq + n;
				rec.session = a->si.session;
				store_enc_frec(&rec, out);
				/* Queue entries ride in the same transaction as their frame. */
				if (c->qc && (rc = store_qcache_fanout(c->qc, &rec, a->si.ext_type)) != 0)
					return rc;
				if (rec.size)
					memcpy(out + STORE_FREC_HDR, pl, rec.size);
				out += STORE_FREC_HDR + rec.size;
				if (c->refs[r].ff && c->refs[r].ff->sig_flags &&
				    (rc = store_fed_sig_put(s, c->txn, rec.seq, c->refs[r].ff)) != 0)
					return rc;
				r = c->refs[r].next;
			}
			uint8_t ik[16];
			d4_put_u64be(ik, a->si.session);
			d4_put_u64be(ik + 8, h.first_seq);
			MDB_val ikv = mval(ik, 16), empty = mval("", 0);
			rc = mdb_put(c->txn, s->dbi[DBI_SESSIDX], &ikv, &empty, 0);
			if (rc)
				return store_rc(rc, "session index put");
			*seq += h.count;
		}
	}
	return 0;
}

static int write_aggregates(struct apply_ctx *c)
{
	struct d4_store *s = c->s;
	int rc = 0;
	for (size_t i = 0; i < c->sessions.cap && !rc; i++) {
		struct a_session *a = c->sessions.t[i].h ? c->sessions.t[i].val : NULL;
		if (!a || !a->dirty)
			continue;
		uint8_t key[8], buf[STORE_SESSION_MAX];
		d4_put_u64be(key, a->si.session);
		MDB_val k = mval(key, 8), v = mval(buf, store_enc_session_fed(&a->si, &a->fed, buf));
		rc = store_rc(mdb_put(c->txn, s->dbi[DBI_SESSIONS], &k, &v, 0), "session put");
	}
	for (size_t i = 0; i < c->sensors.cap && !rc; i++) {
		struct a_sensor *a = c->sensors.t[i].h ? c->sensors.t[i].val : NULL;
		if (!a || !a->dirty || !a->exists)
			continue;
		uint8_t buf[STORE_SENSOR_MAX];
		MDB_val k = mval(a->sn.uuid, 16), v = mval(buf, store_enc_sensor(&a->sn, buf));
		rc = store_rc(mdb_put(c->txn, s->dbi[DBI_SENSORS], &k, &v, 0), "sensor put");
		d4_wipe(buf, v.mv_size);
	}
	for (size_t i = 0; i < c->stypes.cap && !rc; i++) {
		struct a_stype *a = c->stypes.t[i].h ? c->stypes.t[i].val : NULL;
		if (!a)
			continue;
		uint8_t buf[33];
		MDB_val k = mval(a->key, a->klen), v = mval(buf, store_enc_stype(&a->st, buf));
		rc = store_rc(mdb_put(c->txn, s->dbi[DBI_STYPES], &k, &v, 0), "type stat put");
	}
	for (size_t i = 0; i < c->daily.cap && !rc; i++) {
		struct a_daily *a = c->daily.t[i].h ? c->daily.t[i].val : NULL;
		if (!a)
			continue;
		uint8_t buf[25];
		MDB_val k = mval(a->key, 21), v = mval(buf, store_enc_daily(&a->st, buf));
		rc = store_rc(mdb_put(c->txn, s->dbi[DBI_DAILY], &k, &v, 0), "daily put");
	}
	if (!rc) {
		uint8_t buf[26 + 8 * D4_REJ_COUNT];
		MDB_val k = mval("all", 3), v = mval(buf, store_enc_totals(&c->tot, buf));
		rc = store_rc(mdb_put(c->txn, s->dbi[DBI_TOTALS], &k, &v, 0), "totals put");
	}
	if (!rc && c->ncorrupt_new) {
		uint64_t n = 0;
		rc = store_settings_get_u64(s, c->txn, STORE_CORRUPT_KEY, &n);
		if (rc == D4_ECORRUPT)
			n = 0; /* the counter itself: start again rather than stall */
		if (rc == D4_ENOTFOUND || rc == D4_ECORRUPT)
			rc = 0;
		if (!rc)
			rc = store_settings_put_u64(s, c->txn, STORE_CORRUPT_KEY, n + c->ncorrupt_new);
	}
	if (!rc && c->totals_rebuilt)
		rc = store_settings_put_u64(s, c->txn, STORE_TOTALS_REBUILT_KEY, d4_now_s());
	return rc;
}

struct batch {
	struct store_buf buf;
	struct store_pending_rej pend[STORE_PENDING_REJ];
	unsigned npend;
	uint64_t overflow[D4_REJ_COUNT];
	uint64_t ctr;
	uint64_t frames, bytes;
	int has;
	/* Items [done, end) are the current attempt. A batch that does not fit
	 * in the free map space is committed in parts: done moves forward only
	 * after a commit, so no item is applied twice and none is skipped. */
	size_t done, end;
};

/* The item boundary at which an attempt of about want bytes from b->done
 * ends: at least one item, at most the whole rest. */
static size_t attempt_end(const struct batch *b, size_t want)
{
	size_t off = b->done;
	while (off < b->buf.len) {
		struct qhdr h;
		memcpy(&h, b->buf.p + off, sizeof(h));
		off += h.len;
		if (off - b->done >= want)
			break;
	}
	return off;
}

/* After a full map: an attempt of about half the failed one, or 0 when it
 * held a single item (nothing left to split). */
static size_t attempt_split(const struct batch *b)
{
	size_t span = b->end - b->done, e = attempt_end(b, span / 2);
	if (e >= b->end) {
		/* One item makes up more than half: try the ones before it. */
		size_t off = b->done, prev = b->done;
		while (off < b->end) {
			struct qhdr h;
			memcpy(&h, b->buf.p + off, sizeof(h));
			prev = off;
			off += h.len;
		}
		e = prev;
	}
	return e > b->done ? e : 0;
}

static int apply_items(struct apply_ctx *c, const struct batch *b)
{
	int rc = 0;
	size_t off = b->done;
	c->buf = b->buf.p;
	while (off < b->end && !rc) {
		struct qhdr h;
		memcpy(&h, b->buf.p + off, sizeof(h));
		const uint8_t *body = b->buf.p + off + sizeof(h);
		switch (h.kind) {
		case Q_OPEN: {
			struct d4_session_open ev;
			memcpy(&ev, body, sizeof(ev));
			rc = apply_open(c, &ev);
			break;
		}
		case Q_META: {
			struct d4_session_meta ev;
			memcpy(&ev, body, sizeof(ev));
			rc = apply_meta(c, &ev);
			break;
		}
		case Q_CLOSE: {
			struct q_close ev;
			memcpy(&ev, body, sizeof(ev));
			rc = apply_close(c, &ev);
			break;
		}
		case Q_FRAME: {
			struct d4_frame_rec rec;
			memcpy(&rec, body, sizeof(rec));
			rc = apply_frame(c, &rec, off);
			break;
		}
		case Q_REJECT: {
			struct d4_reject_ev ev;
			memcpy(&ev, body, sizeof(ev));
			ev.detail[sizeof(ev.detail) - 1] = '\0';
			rc = apply_reject(c, ev.uuid, ev.has_uuid, (unsigned)ev.reason, 1, ev.when, ev.detail);
			break;
		}
		case Q_FED: {
			struct d4_store_fed_batch *fb;
			memcpy(&fb, body, sizeof(fb));
			rc = apply_fed(c, fb);
			break;
		}
		case Q_SKIP: break;
		default: abort(); /* the queue is ours: a bad kind is memory corruption */
		}
		off += h.len;
	}
	if (b->end < b->buf.len)
		return rc; /* the aggregated rejections go with the last part */
	for (unsigned i = 0; i < b->npend && !rc; i++)
		rc = apply_reject(c, b->pend[i].uuid, b->pend[i].has_uuid, b->pend[i].reason, b->pend[i].count,
				  b->pend[i].when, b->pend[i].detail);
	for (unsigned r = 0; r < D4_REJ_COUNT && !rc; r++)
		if (b->overflow[r])
			rc = apply_reject(c, NULL, 0, r, b->overflow[r], d4_now_s(), "");
	return rc;
}

static void ctx_free(struct apply_ctx *c)
{
	c->ncorrupt_new = 0;
	c->totals_rebuilt = 0;
	hmap_free(&c->sessions);
	hmap_free(&c->sensors);
	hmap_free(&c->stypes);
	hmap_free(&c->daily);
	c->last = NULL;
	c->norder = 0;
	c->nrefs = 0;
}

/* ---- the frame log in the page cache ----
 *
 * Every committed chunk lands in pages the kernel must first find memory
 * for; the frame log is written once and read soon after (followers, live
 * views) or rarely. So the newest frame_cache bytes of chunks stay
 * cached and older chunk pages are dropped from the page cache once
 * durable (POSIX_FADV_DONTNEED): the kernel hands the same memory to the
 * next commit's pages, where fresh memory costs the writer far more (on a
 * VM whose free memory goes back to the host, a host fault per page;
 * elsewhere reclaim). Only a cache hint: the data are on disk already
 * (the commit's fdatasync), pages mapped by a reader or still dirty are
 * left alone by the kernel, and a dropped page is simply read back from
 * disk when wanted. Nothing here can change what a crash leaves. */
static void fc_advise(const uint8_t *map, int fd, uint64_t off, uint64_t len)
{
	/* Pages a reader of this process has touched stay mapped, and the
	 * kernel never drops a mapped page: unmap them first (the map is
	 * read-only and file-backed, so a later read maps them again). */
	if (map && madvise((void *)(map + off), len, MADV_DONTNEED) != 0)
		d4_debug("store: madvise on the frame log failed: %s", strerror(errno));
	int rc = posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
	if (rc)
		d4_debug("store: page cache advice on the frame log failed: %s", strerror(rc));
}

static void fc_push(struct apply_ctx *c, uint64_t off, uint64_t len)
{
	if (c->fc_n > c->fc_head) {
		struct fc_range *l = &c->fc[c->fc_n - 1];
		if (l->off + l->len == off) {
			l->len += len;
			c->fc_bytes += len;
			return;
		}
	}
	if (c->fc_n == c->fc_cap && c->fc_head) {
		memmove(c->fc, c->fc + c->fc_head, (c->fc_n - c->fc_head) * sizeof(*c->fc));
		c->fc_n -= c->fc_head;
		c->fc_head = 0;
	}
	if (c->fc_n == c->fc_cap) {
		size_t ncap = c->fc_cap ? 2 * c->fc_cap : 256;
		struct fc_range *n = realloc(c->fc, ncap * sizeof(*n));
		if (!n)
			return; /* left to the kernel's own caching */
		c->fc = n;
		c->fc_cap = ncap;
	}
	c->fc[c->fc_n++] = (struct fc_range){off, len};
	c->fc_bytes += len;
}

/* Where LMDB mapped the file: a committed chunk read back in a read
 * transaction sits at map + pgno * psize + its page header (LMDB reports
 * the address only for MDB_FIXEDMAP). NULL if that does not hold. */
static const uint8_t *map_base(struct d4_store *s, struct apply_ctx *c, size_t nputs)
{
	MDB_envinfo info;
	MDB_txn *txn;
	const uint8_t *base = NULL;
	if (mdb_env_info(s->env, &info) || store_txn_begin(s, 1, &txn))
		return NULL;
	const struct chunk_put *p = &c->puts[nputs - 1];
	uint8_t key[8];
	d4_put_u64be(key, p->seq);
	MDB_val k = mval(key, 8), v;
	if (mdb_get(txn, s->dbi[DBI_FRAMES], &k, &v) == 0) {
		uintptr_t a = (uintptr_t)v.mv_data - (sizeof(size_t) + 8) - (uintptr_t)(p->pgno * s->psize);
		if (a % s->psize == 0 && (uintptr_t)v.mv_data + v.mv_size <= a + info.me_mapsize)
			base = (const uint8_t *)a;
	}
	mdb_txn_abort(txn);
	return base;
}

/* After a durable commit: the pages beyond the newest frame_cache bytes of
 * chunks out of the page cache. */
static void frames_uncache(struct d4_store *s, struct apply_ctx *c)
{
	size_t nputs = c->nputs;
	c->nputs = 0;
	int fd;
	/* a cache as large as the store: nothing would ever be dropped, so
	 * nothing is tracked either */
	if (s->opts.frame_cache >= s->opts.map_size || nputs == 0 || mdb_env_get_fd(s->env, &fd))
		return;
	uint64_t ps = s->psize;
	for (size_t i = 0; i < nputs; i++)
		fc_push(c, c->puts[i].pgno * ps, c->puts[i].npages * ps);
	const uint8_t *map = map_base(s, c, nputs);
	while (c->fc_bytes > s->opts.frame_cache && c->fc_head < c->fc_n) {
		struct fc_range *r = &c->fc[c->fc_head];
		uint64_t excess = c->fc_bytes - s->opts.frame_cache;
		if (r->len <= excess) {
			fc_advise(map, fd, r->off, r->len);
			c->fc_bytes -= r->len;
			c->fc_head++;
			continue;
		}
		uint64_t cut = excess / ps * ps;
		if (cut == 0)
			break;
		fc_advise(map, fd, r->off, cut);
		r->off += cut;
		r->len -= cut;
		c->fc_bytes -= cut;
		break;
	}
	if (c->fc_head == c->fc_n)
		c->fc_head = c->fc_n = 0;
}

/* One attempt: everything in one transaction, all or nothing. */
static int apply_batch(struct d4_store *s, struct apply_ctx *c, struct batch *b)
{
	MDB_txn *txn;
	uint64_t t0 = d4_mono_ms();
	int rc = store_txn_begin(s, 0, &txn);
	if (rc)
		return rc;
	c->s = s;
	c->txn = txn;
	MDB_val k = mval("all", 3), v;
	rc = mdb_get(txn, s->dbi[DBI_TOTALS], &k, &v);
	if (rc == MDB_NOTFOUND) {
		memset(&c->tot, 0, sizeof(c->tot));
		rc = 0;
	} else if (rc == 0) {
		rc = store_dec_totals(v.mv_data, v.mv_size, &c->tot);
		if (rc == D4_ECORRUPT) {
			corrupt_found(
			    c, "totals", (const uint8_t *)"all", 3,
			    "rebuilt from the daily statistics, sessions and sensors (settings totals_rebuilt_at)");
			rc = totals_rebuild(c, &c->tot);
		}
	} else {
		rc = store_rc(rc, "totals get");
	}
	uint64_t frames0 = c->tot.frames, bytes0 = c->tot.bytes;
	uint64_t seq = s->seq_next;
	c->fw.try_next = c->fw.sid_next;
	c->fw.try_limit = c->fw.sid_limit;
	c->fw.napplied = 0;
	if (!rc && c->qc)
		rc = store_qcache_begin(c->qc, s, txn);
	if (c->rp)
		store_replay_begin(c->rp);
	if (!rc)
		rc = apply_items(c, b);
	uint64_t t1 = d4_mono_ms();
	if (!rc)
		rc = write_chunks(c, &seq);
	if (!rc && c->qc)
		rc = store_qcache_end(c->qc);
	if (!rc && c->rp)
		rc = store_replay_end(c->rp, s, txn);
	uint64_t t2 = d4_mono_ms();
	if (!rc)
		rc = write_aggregates(c);
	if (!rc && seq != s->seq_next)
		rc = store_settings_put_u64(s, txn, "seq_next", seq);
	b->frames = c->tot.frames - frames0;
	b->bytes = c->tot.bytes - bytes0;
	unsigned ncorrupt = c->ncorrupt_new;
	ctx_free(c);
	if (rc) {
		d4_debug("store: batch apply failed before commit: %s", d4_strerror(rc));
		mdb_txn_abort(txn);
		c->fw.napplied = 0; /* applied again by the next attempt */
		return rc;
	}
	uint64_t t3 = d4_mono_ms();
	rc = store_rc(mdb_txn_commit(txn), "commit");
	if (rc)
		d4_debug("store: batch commit failed: %s", d4_strerror(rc));
	else
		d4_debug("store: committed %llu frames, %llu bytes: items %llu ms, chunks %llu ms, aggregates %llu ms, "
			 "commit %llu ms",
			 (unsigned long long)b->frames, (unsigned long long)b->bytes, (unsigned long long)(t1 - t0),
			 (unsigned long long)(t2 - t1), (unsigned long long)(t3 - t2),
			 (unsigned long long)(d4_mono_ms() - t3));
	if (!rc) {
		s->seq_next = seq;
		/* Reported for good only once the count is committed. */
		for (unsigned i = 0; i < ncorrupt && c->ncorrupt_seen < STORE_CORRUPT_SEEN; i++)
			memcpy(c->corrupt_seen[c->ncorrupt_seen++], c->corrupt_new[i], sizeof(c->corrupt_new[i]));
	}
	if (!rc && c->rp)
		store_replay_committed(c->rp);
	if (!rc)
		frames_uncache(s, c);
	if (!rc) {
		c->fw.sid_next = c->fw.try_next;
		c->fw.sid_limit = c->fw.try_limit;
		for (size_t i = 0; i < c->fw.napplied; i++)
			store_fed_complete(c->fw.applied[i], c->fw.applied[i]->result);
	}
	c->fw.napplied = 0;
	return rc;
}

/* ---- queue and thread ---- */
static void wake_ingest(struct d4_store *s)
{
	uint64_t one = 1;
	if (s->efd >= 0 && write(s->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		d4_warn("store: eventfd write: %s", strerror(errno));
}

static void timed_wait(pthread_cond_t *cv, pthread_mutex_t *m, uint64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000u);
	ts.tv_nsec += (long)(ms % 1000u) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(cv, m, &ts);
}

static int have_pending(const struct d4_store *s)
{
	if (s->npend)
		return 1;
	for (int i = 0; i < D4_REJ_COUNT; i++)
		if (s->pend_overflow[i])
			return 1;
	return 0;
}

static void map_use(struct d4_store *s, uint64_t *size, uint64_t *used)
{
	MDB_envinfo info;
	mdb_env_info(s->env, &info);
	*size = info.me_mapsize;
	*used = ((uint64_t)info.me_last_pgno + 1) * s->psize;
}

/* The pause state is kept in the writer's memory; other processes
 * (d4hubctl on the same store) learn it from a small file in the store's
 * folder, written when the state changes. Not in LMDB: a full map is the
 * usual reason for a pause, and then nothing more can be written there. */
#define PAUSE_FILE "writer-paused"

static void pause_file_update(struct d4_store *s, int paused)
{
	char path[sizeof(s->path) + 32], tmp[sizeof(s->path) + 40];
	snprintf(path, sizeof(path), "%s/" PAUSE_FILE, s->path);
	if (!paused) {
		if (unlink(path) != 0 && errno != ENOENT)
			d4_warn("store: %s: %s", path, strerror(errno));
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		d4_warn("store: %s: %s", tmp, strerror(errno));
		return;
	}
	fprintf(f, "%ld %llu %s\n", (long)getpid(), (unsigned long long)d4_now_s(), s->pause_reason);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		d4_warn("store: %s: %s", path, strerror(errno));
		unlink(tmp);
	}
}

int store_pause_file_read(const struct d4_store *s, char *reason, size_t rlen)
{
	char path[sizeof(s->path) + 32], line[D4_ERRTEXT_MAX + 64];
	snprintf(path, sizeof(path), "%s/" PAUSE_FILE, s->path);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char *got = fgets(line, sizeof(line), f);
	fclose(f);
	long pid;
	unsigned long long since;
	int n = 0;
	if (!got || sscanf(line, "%ld %llu %n", &pid, &since, &n) < 2 || n <= 0 || pid <= 0)
		return 0;
	/* A file left by a hub that died (kill -9) says nothing. */
	if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
		return 0;
	line[strcspn(line, "\n")] = '\0';
	d4_strlcpy(reason, line + n, rlen);
	return 1;
}

static void run_retention(struct d4_store *s, uint64_t age, uint64_t bytes)
{
	uint64_t dropped;
	int rc = store_retention_txns(s, age, bytes, &dropped);
	if (rc)
		d4_warn("store: retention failed: %s", d4_strerror(rc));
}

/* Finishes every received batch still queued in b (from done on) and in
 * the posted buffer with rc, without applying it. Lock held. */
static void fed_fail_buf(uint8_t *p, size_t from, size_t len, int rc)
{
	for (size_t off = from; off < len;) {
		struct qhdr h;
		memcpy(&h, p + off, sizeof(h));
		if (h.kind == Q_FED) {
			struct d4_store_fed_batch *fb;
			memcpy(&fb, p + off + sizeof(h), sizeof(fb));
			h.kind = Q_SKIP;
			memcpy(p + off, &h, sizeof(h));
			store_fed_complete(fb, rc);
		}
		off += h.len;
	}
}

static void fed_fail_all(struct d4_store *s, struct batch *b, int rc)
{
	if (b->has)
		fed_fail_buf(b->buf.p, b->done, b->buf.len, rc);
	fed_fail_buf(s->in.p, 0, s->in.len, rc);
	s->fed_queued = 0;
}

/* After a full map on an attempt of one item: if it is a received batch,
 * it fails alone (D4_EFULL) and done moves past it and past every item
 * already finished that way (nothing of them was applied). 1 if so. */
static int fed_fail_first(struct batch *b)
{
	struct qhdr h;
	memcpy(&h, b->buf.p + b->done, sizeof(h));
	if (h.kind != Q_FED)
		return 0;
	struct d4_store_fed_batch *fb;
	memcpy(&fb, b->buf.p + b->done + sizeof(h), sizeof(fb));
	h.kind = Q_SKIP;
	memcpy(b->buf.p + b->done, &h, sizeof(h));
	d4_warn("store: a received batch of %zu records does not fit in the map: refused (the sender retries)",
		fb->nframes + fb->ntuples);
	store_fed_complete(fb, D4_EFULL);
	while (b->done < b->buf.len) {
		memcpy(&h, b->buf.p + b->done, sizeof(h));
		if (h.kind != Q_SKIP)
			break;
		b->done += h.len;
	}
	return 1;
}

static void *writer_main(void *arg)
{
	struct d4_store *s = arg;
	pthread_setname_np(pthread_self(), "d4-writer"); /* for top -H, perf, the ingest bench */
	struct batch *b = calloc(1, sizeof(*b));
	struct apply_ctx *c = calloc(1, sizeof(*c));
	struct store_qcache *qc = store_qcache_new();
	struct store_replay *rp = store_replay_new();
	uint64_t next_ret = d4_mono_ms() + STORE_RETENTION_EVERY_MS;
	pthread_mutex_lock(&s->lock);
	if (c) {
		c->qc = qc;
		c->rp = rp;
	}
	if (!b || !c || !qc || !rp) {
		/* Cannot run at all: refuse everything visibly rather than abort. */
		s->paused = 1;
		d4_strlcpy(s->pause_reason, "writer out of memory", sizeof(s->pause_reason));
		d4_err("store: writer out of memory");
		pthread_cond_broadcast(&s->cond_done);
		pthread_mutex_unlock(&s->lock);
		free(b);
		free(c);
		store_qcache_free(qc);
		store_replay_free(rp);
		return NULL;
	}
	{
		/* A totals record that does not decode is rebuilt by the first
		 * batch; run one at once (empty) so that readers see it repaired. */
		struct d4_totals t;
		if (d4_store_totals(s, &t) == D4_ECORRUPT) {
			b->has = 1;
			b->done = b->end = 0;
			b->ctr = s->committed_ctr; /* holds no posted item */
		}
	}
	for (;;) {
		uint64_t now = d4_mono_ms();
		int ret_on = s->retention_age_s || s->retention_bytes;
		if (!b->has) {
			int have = s->in.len || have_pending(s);
			if (!have) {
				if (s->stopping)
					break;
				if (ret_on && now >= next_ret) {
					uint64_t age = s->retention_age_s, bytes = s->retention_bytes;
					pthread_mutex_unlock(&s->lock);
					run_retention(s, age, bytes);
					pthread_mutex_lock(&s->lock);
					next_ret = d4_mono_ms() + STORE_RETENTION_EVERY_MS;
					continue;
				}
				timed_wait(&s->cond_work, &s->lock, 1000);
				continue;
			}
			uint64_t deadline = s->in_first_ms + s->opts.commit_ms;
			/* a received batch is committed at once: its sender waits for
			 * the answer before it sends the next one */
			if (!s->stopping && !s->sync_waiters && !s->fed_queued && s->in.len < s->opts.commit_bytes &&
			    now < deadline) {
				timed_wait(&s->cond_work, &s->lock, deadline - now);
				continue;
			}
			struct store_buf t = b->buf;
			b->buf = s->in;
			s->in = t;
			s->in.len = 0;
			s->fed_queued = 0;
			memcpy(b->pend, s->pend, sizeof(b->pend));
			b->npend = s->npend;
			memcpy(b->overflow, s->pend_overflow, sizeof(b->overflow));
			s->npend = 0;
			memset(s->pend_overflow, 0, sizeof(s->pend_overflow));
			b->ctr = s->posted_ctr;
			s->inflight_bytes = b->buf.len;
			b->has = 1;
			b->done = 0;
			b->end = b->buf.len;
		}
		uint64_t age = s->retention_age_s, rbytes = s->retention_bytes;
		int paused = s->paused;
		pthread_mutex_unlock(&s->lock);
		if (ret_on && (paused || now >= next_ret)) {
			run_retention(s, age, rbytes);
			next_ret = d4_mono_ms() + STORE_RETENTION_EVERY_MS;
		}
		int rc = apply_batch(s, c, b);
		pthread_mutex_lock(&s->lock);
		if (rc == 0 && b->end < b->buf.len) {
			/* A part committed: try twice as much next (halved again on
			 * a full map), so a batch never costs one commit per item
			 * once space is back. */
			size_t size = 2 * (b->end - b->done);
			s->st_frames += b->frames;
			s->st_bytes += b->bytes;
			s->st_commits++;
			b->done = b->end;
			b->end = attempt_end(b, size);
			s->inflight_bytes = b->buf.len - b->done;
			d4_debug("store: batch committed in parts: %zu of %zu bytes done", b->done, b->buf.len);
			wake_ingest(s);
			continue;
		}
		if (rc == D4_EFULL) {
			size_t e = attempt_split(b);
			if (e) {
				d4_debug("store: map full for %zu bytes of items; trying %zu", b->end - b->done,
					 e - b->done);
				b->end = e;
				continue;
			}
			/* A received batch that does not fit alone fails alone (its
			 * sender retries later); the writer goes on with the rest. */
			if (fed_fail_first(b)) {
				if (b->done < b->buf.len) {
					b->end = b->buf.len;
					continue;
				}
				/* every item is finished; the last attempt committed nothing */
				s->st_commits--;
				b->frames = b->bytes = 0;
				rc = 0;
			}
		}
		if (rc == 0) {
			s->committed_ctr = b->ctr;
			s->st_frames += b->frames;
			s->st_bytes += b->bytes;
			s->st_commits++;
			s->inflight_bytes = 0;
			b->has = 0;
			b->buf.len = 0;
			if (s->paused) {
				s->paused = 0;
				s->pause_reason[0] = '\0';
				pause_file_update(s, 0);
				d4_notice("store: writer resumed");
			}
			s->last_err = 0;
			pthread_cond_broadcast(&s->cond_done);
			wake_ingest(s);
			continue;
		}
		if (!s->paused) {
			uint64_t size, used;
			map_use(s, &size, &used);
			if (rc == D4_EFULL)
				snprintf(s->pause_reason, sizeof(s->pause_reason),
					 "storage map full (%llu of %llu bytes used)", (unsigned long long)used,
					 (unsigned long long)size);
			else
				snprintf(s->pause_reason, sizeof(s->pause_reason), "storage error: %s",
					 d4_strerror(rc));
			s->paused = 1;
			pause_file_update(s, 1);
			d4_err("store: writer paused: %s", s->pause_reason);
			wake_ingest(s);
		}
		s->last_err = rc;
		/* Received batches do not wait for the pause to end: their senders
		 * are answered now (503) and send them again later. */
		fed_fail_all(s, b, rc);
		/* The next try (after retention, in a second) starts whole again. */
		b->end = b->buf.len;
		pthread_cond_broadcast(&s->cond_done);
		if (s->stopping) {
			fed_fail_all(s, b, D4_ECLOSED);
			d4_err("store: stopping while paused: %llu queued bytes not committed",
			       (unsigned long long)(b->buf.len - b->done + s->in.len));
			b->has = 0;
			s->in.len = 0;
			s->inflight_bytes = 0;
			break;
		}
		timed_wait(&s->cond_work, &s->lock, 1000);
	}
	if (s->paused)
		pause_file_update(s, 0); /* stopped: no live writer is paused */
	pthread_mutex_unlock(&s->lock);
	free(b->buf.p);
	free(b);
	ctx_free(c);
	free(c->refs);
	free(c->order);
	free(c->fw.applied);
	free(c->fw.local);
	free(c->puts);
	free(c->fc);
	free(c);
	store_qcache_free(qc);
	store_replay_free(rp);
	return NULL;
}

void store_writer_init(struct d4_store *s)
{
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond_work, &ca);
	pthread_cond_init(&s->cond_done, &ca);
	pthread_condattr_destroy(&ca);
	s->efd = -1;
}

void store_writer_fini(struct d4_store *s)
{
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond_work);
	pthread_cond_destroy(&s->cond_done);
	if (s->efd >= 0)
		close(s->efd);
	s->efd = -1;
	free(s->in.p);
	s->in.p = NULL;
}

int d4_store_writer_start(struct d4_store *s)
{
	if (s->opts.read_only)
		return D4_EPERM;
	pthread_mutex_lock(&s->lock);
	if (s->running || s->thread_started) {
		int rc = s->running ? 0 : D4_ECLOSED;
		pthread_mutex_unlock(&s->lock);
		return rc;
	}
	if (s->efd < 0) {
		s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (s->efd < 0) {
			pthread_mutex_unlock(&s->lock);
			return D4_EIO;
		}
	}
	/* LMDB mallocs every dirty overflow run (a 256 KiB chunk) and frees it at
	 * commit; with glibc's defaults those come from fresh mmap/brk pages and
	 * the writer spends most of its time in page faults (measured ~3x
	 * slower). Keep such memory in the heap: process-wide, but only the
	 * hub starts a writer. */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	s->running = 1;
	s->stopping = 0;
	if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
		s->running = 0;
		pthread_mutex_unlock(&s->lock);
		return D4_ENOMEM;
	}
	s->thread_started = 1;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void d4_store_writer_stop(struct d4_store *s)
{
	pthread_mutex_lock(&s->lock);
	if (!s->running) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	s->stopping = 1;
	pthread_cond_signal(&s->cond_work);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_mutex_lock(&s->lock);
	s->running = 0;
	pthread_cond_broadcast(&s->cond_done);
	pthread_mutex_unlock(&s->lock);
}

int d4_store_writer_wakeup_fd(struct d4_store *s)
{
	return s->efd;
}

/* Caller holds the lock. Reserves room for an item; NULL with *err set. */
static uint8_t *q_reserve(struct d4_store *s, size_t need, int force, int *err)
{
	size_t used = s->in.len + s->inflight_bytes;
	/* A single item larger than the cap still passes through an empty queue. */
	if (!force && used > 0 && used + need > s->opts.queue_bytes) {
		*err = D4_EAGAIN;
		return NULL;
	}
	if (s->in.cap - s->in.len < need) {
		size_t ncap = s->in.cap ? s->in.cap : 65536;
		while (ncap - s->in.len < need)
			ncap *= 2;
		uint8_t *n = realloc(s->in.p, ncap);
		if (!n) {
			*err = D4_ENOMEM;
			return NULL;
		}
		s->in.p = n;
		s->in.cap = ncap;
	}
	if (s->in.len == 0 && !have_pending(s)) {
		s->in_first_ms = d4_mono_ms();
		pthread_cond_signal(&s->cond_work);
	}
	uint8_t *p = s->in.p + s->in.len;
	s->in.len += need;
	if (s->in.len >= s->opts.commit_bytes && s->in.len - need < s->opts.commit_bytes)
		pthread_cond_signal(&s->cond_work);
	return p;
}

/* Copies a payload into the queue with streaming stores. The queue is far
 * larger than the caches and its lines are cold: a plain memcpy reads each
 * destination line in before overwriting it (read-for-ownership), a
 * streaming store does not. The writer reads the batch later anyway, after
 * up to commit_bytes of other frames. Measured on the 64 KiB ingest bench:
 * the ingest thread's CPU per GB falls by ~0.04 s (docs/performance.md).
 * The fence orders the streamed lines before the caller's unlock publishes
 * the item to the writer. Small payloads take memcpy (nothing to gain). */
static void q_copy_payload(uint8_t *dst, const uint8_t *src, size_t n)
{
#if defined(__SSE2__)
	if (n >= Q_STREAM_MIN) {
		size_t head = (16u - ((uintptr_t)dst & 15u)) & 15u;
		memcpy(dst, src, head);
		dst += head;
		src += head;
		n -= head;
		for (size_t k = n / 64; k; k--) {
			__m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + 0));
			__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(src + 16));
			__m128i c = _mm_loadu_si128((const __m128i *)(const void *)(src + 32));
			__m128i d = _mm_loadu_si128((const __m128i *)(const void *)(src + 48));
			_mm_stream_si128((__m128i *)(void *)(dst + 0), a);
			_mm_stream_si128((__m128i *)(void *)(dst + 16), b);
			_mm_stream_si128((__m128i *)(void *)(dst + 32), c);
			_mm_stream_si128((__m128i *)(void *)(dst + 48), d);
			src += 64;
			dst += 64;
		}
		n &= 63u;
		_mm_sfence();
	}
#endif
	memcpy(dst, src, n);
}

static int post(struct d4_store *s, uint32_t kind, const void *body, size_t blen, const void *payload, size_t plen,
		uint64_t *mark)
{
	size_t need = align8(sizeof(struct qhdr) + blen + plen);
	int err = 0;
	pthread_mutex_lock(&s->lock);
	if (!s->running || s->stopping) {
		pthread_mutex_unlock(&s->lock);
		return D4_ECLOSED;
	}
	if ((kind == Q_FRAME || kind == Q_FED) && s->paused) {
		pthread_mutex_unlock(&s->lock);
		return D4_EAGAIN;
	}
	uint8_t *p = q_reserve(s, need, 0, &err);
	if (!p) {
		pthread_mutex_unlock(&s->lock);
		return err;
	}
	struct qhdr h = {kind, 0, need};
	memcpy(p, &h, sizeof(h));
	memcpy(p + sizeof(h), body, blen);
	if (plen)
		q_copy_payload(p + sizeof(h) + blen, payload, plen);
	s->posted_ctr++;
	if (mark)
		*mark = s->posted_ctr;
	if (kind == Q_FED) {
		s->fed_queued++;
		pthread_cond_signal(&s->cond_work);
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int d4_store_fed_submit(struct d4_store *s, struct d4_store_fed_batch *b)
{
	if (!s || store_fed_batch_check(b))
		return D4_EINVAL;
	b->result = 0;
	b->pos_len = 0;
	b->stored = 0;
	__atomic_store_n(&b->done, 0, __ATOMIC_RELAXED);
	return post(s, Q_FED, &b, sizeof(b), NULL, 0, NULL);
}

int d4_store_post_session_open(struct d4_store *s, const struct d4_session_open *ev)
{
	int rc = post(s, Q_OPEN, ev, sizeof(*ev), NULL, 0, NULL);
	if (rc == 0)
		store_live_open(s, ev);
	return rc;
}

int d4_store_post_session_meta(struct d4_store *s, const struct d4_session_meta *ev)
{
	return post(s, Q_META, ev, sizeof(*ev), NULL, 0, NULL);
}

int d4_store_post_frame(struct d4_store *s, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	if (rec->size && !payload)
		return D4_EINVAL;
	return post(s, Q_FRAME, rec, sizeof(*rec), payload, rec->size, NULL);
}

int d4_store_post_frame_mark(struct d4_store *s, const struct d4_frame_rec *rec, const uint8_t *payload, uint64_t *mark)
{
	if (rec->size && !payload)
		return D4_EINVAL;
	return post(s, Q_FRAME, rec, sizeof(*rec), payload, rec->size, mark);
}

uint64_t d4_store_committed_mark(struct d4_store *s)
{
	pthread_mutex_lock(&s->lock);
	uint64_t m = s->committed_ctr;
	pthread_mutex_unlock(&s->lock);
	return m;
}

int d4_store_post_session_close(struct d4_store *s, uint64_t session, uint64_t when, const char *reason)
{
	struct q_close ev;
	/* The connection is gone whether or not its end is recorded now (the
	 * ingest retries a D4_EAGAIN). */
	store_live_close(s, session);
	memset(&ev, 0, sizeof(ev));
	ev.session = session;
	ev.when = when;
	if (reason)
		d4_strlcpy(ev.reason, reason, sizeof(ev.reason));
	return post(s, Q_CLOSE, &ev, sizeof(ev), NULL, 0, NULL);
}

void d4_store_post_reject(struct d4_store *s, const struct d4_reject_ev *ev)
{
	if ((unsigned)ev->reason >= D4_REJ_COUNT)
		return;
	pthread_mutex_lock(&s->lock);
	if (!s->running || s->stopping) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	int err = 0;
	size_t need = align8(sizeof(struct qhdr) + sizeof(*ev));
	uint8_t *p = q_reserve(s, need, 0, &err);
	if (p) {
		struct qhdr h = {Q_REJECT, 0, need};
		memcpy(p, &h, sizeof(h));
		memcpy(p + sizeof(h), ev, sizeof(*ev));
	} else {
		if (!s->in.len && !have_pending(s)) {
			s->in_first_ms = d4_mono_ms();
			pthread_cond_signal(&s->cond_work);
		}
		unsigned i;
		int has = ev->has_uuid ? 1 : 0;
		for (i = 0; i < s->npend; i++) {
			struct store_pending_rej *pr = &s->pend[i];
			if (pr->reason == ev->reason && pr->has_uuid == has &&
			    (!has || !memcmp(pr->uuid, ev->uuid, 16)))
				break;
		}
		if (i == s->npend && s->npend < STORE_PENDING_REJ) {
			struct store_pending_rej *pr = &s->pend[s->npend++];
			memset(pr, 0, sizeof(*pr));
			pr->has_uuid = has;
			if (has)
				memcpy(pr->uuid, ev->uuid, 16);
			pr->reason = (uint8_t)ev->reason;
		}
		if (i < s->npend) {
			struct store_pending_rej *pr = &s->pend[i];
			pr->count++;
			pr->when = ev->when;
			d4_strlcpy(pr->detail, ev->detail, sizeof(pr->detail));
		} else {
			s->pend_overflow[ev->reason]++;
		}
	}
	s->posted_ctr++;
	pthread_mutex_unlock(&s->lock);
}

int d4_store_writer_sync(struct d4_store *s, unsigned timeout_ms)
{
	int rc = 0;
	uint64_t end = d4_mono_ms() + timeout_ms;
	pthread_mutex_lock(&s->lock);
	uint64_t target = s->posted_ctr;
	s->sync_waiters++;
	pthread_cond_signal(&s->cond_work);
	while (s->committed_ctr < target) {
		if (!s->running) {
			rc = D4_ECLOSED;
			break;
		}
		if (s->paused) {
			rc = s->last_err ? s->last_err : D4_EFULL;
			break;
		}
		uint64_t now = d4_mono_ms();
		if (now >= end) {
			rc = D4_ETIMEOUT;
			break;
		}
		timed_wait(&s->cond_done, &s->lock, end - now);
	}
	s->sync_waiters--;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void d4_store_status_get(struct d4_store *s, struct d4_store_status *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->lock);
	out->paused = s->paused;
	d4_strlcpy(out->pause_reason, s->pause_reason, sizeof(out->pause_reason));
	/* Another process's writer (the hub, seen from d4hubctl). */
	if (!s->thread_started)
		out->paused = store_pause_file_read(s, out->pause_reason, sizeof(out->pause_reason));
	out->committed_frames = s->st_frames;
	out->committed_bytes = s->st_bytes;
	out->commits = s->st_commits;
	out->queued_bytes = s->in.len + s->inflight_bytes;
	pthread_mutex_unlock(&s->lock);
	map_use(s, &out->map_size, &out->map_used);
}
