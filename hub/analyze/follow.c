/* d4_follow: reading the frame log for one consumer, with exact restarts.
 * follow_internal.h describes the contract; docs/architecture.md
 * "Following the frame log" the behaviour. */
#include "follow_internal.h"
#include "d4_error.h"
#include "d4_log.h"
#include "d4_util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 1024u /* session hash buckets (power of two) */

struct fin {
	uint64_t session, last_seq;
};

struct d4_follow {
	struct d4_store *s;
	const struct d4_follow_ops *ops;
	void *ctx;
	struct d4_follow_cfg cfg;
	uint8_t want[256]; /* frame types read */
	/* cursor (committed) */
	uint64_t done, replay_from, lost_total;
	uint8_t *cv, *cv_c; /* value being written; as committed (for a rewind) */
	size_t cvl_c;
	/* reading */
	uint64_t next, pending_done, pending_lost;
	int pend_final;
	unsigned walked;
	int walk_err;
	/* sessions */
	struct d4_follow_sess *bucket[NBUCKETS];
	unsigned nsess;
	/* finished sessions while a replay can reach their frames (fin:
	 * committed and pending; fin_c: as committed) */
	struct fin fin[D4_FOLLOW_FIN_MAX], fin_c[D4_FOLLOW_FIN_MAX];
	unsigned nfin, nfin_c;
	/* counters of the open batch */
	uint8_t *deltas;
	size_t ndeltas, capdeltas;
	uint64_t rf_pending; /* replay point of the cursor being written */
	size_t cvl_pending;
	struct d4_follow_stats st;
	uint64_t last_commit_ms, last_expire_s;
};

/* ---- sessions ---- */

static uint32_t sess_hash(uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return (uint32_t)id & (NBUCKETS - 1);
}

struct d4_follow_sess *d4_follow_sess_find(struct d4_follow *f, uint64_t id)
{
	for (struct d4_follow_sess *e = f->bucket[sess_hash(id)]; e; e = e->hnext)
		if (e->id == id)
			return e;
	return NULL;
}

static struct d4_follow_sess *sess_insert(struct d4_follow *f, uint64_t id, uint64_t seq)
{
	struct d4_follow_sess *e = calloc(1, f->ops->sess_size);
	if (!e)
		return NULL;
	e->id = id;
	e->first = seq;
	e->last_seq = seq;
	uint32_t h = sess_hash(id);
	e->hnext = f->bucket[h];
	f->bucket[h] = e;
	f->nsess++;
	return e;
}

void d4_follow_sess_remove(struct d4_follow *f, struct d4_follow_sess *e)
{
	struct d4_follow_sess **pp = &f->bucket[sess_hash(e->id)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	f->ops->sess_free(f->ctx, e);
	free(e);
	f->nsess--;
}

static void sess_clear_all(struct d4_follow *f)
{
	for (unsigned b = 0; b < NBUCKETS; b++)
		while (f->bucket[b])
			d4_follow_sess_remove(f, f->bucket[b]);
}

struct d4_follow_sess *d4_follow_sess_first(struct d4_follow *f)
{
	for (unsigned b = 0; b < NBUCKETS; b++)
		if (f->bucket[b])
			return f->bucket[b];
	return NULL;
}

struct d4_follow_sess *d4_follow_sess_next(struct d4_follow *f, const struct d4_follow_sess *e)
{
	if (e->hnext)
		return e->hnext;
	for (unsigned b = sess_hash(e->id) + 1; b < NBUCKETS; b++)
		if (f->bucket[b])
			return f->bucket[b];
	return NULL;
}

unsigned d4_follow_nsess(const struct d4_follow *f)
{
	return f->nsess;
}

/* Sessions without state go first, and their eviction is not counted;
 * then the least recently fed (ties: the smaller id, so that the choice
 * does not depend on the table's layout). */
int d4_follow_evict(struct d4_follow *f, const struct d4_follow_sess *keep, const char *why)
{
	struct d4_follow_sess *victim = NULL;
	for (unsigned b = 0; b < NBUCKETS; b++)
		for (struct d4_follow_sess *e = f->bucket[b]; e; e = e->hnext) {
			if (e == keep)
				continue;
			int better =
			    !victim || e->ignore > victim->ignore ||
			    (e->ignore == victim->ignore && (e->last_seq < victim->last_seq ||
							     (e->last_seq == victim->last_seq && e->id < victim->id)));
			if (better)
				victim = e;
		}
	if (!victim)
		return 0;
	if (!victim->ignore) {
		f->st.evictions++;
		if (f->ops->evict_debug)
			d4_debug("%s: session %" PRIu64 " state evicted (%s)", f->ops->name, victim->id, why);
		else
			d4_info("%s: session %" PRIu64 " state evicted (%s)", f->ops->name, victim->id, why);
	}
	d4_follow_sess_remove(f, victim);
	return 1;
}

struct d4_follow_sess *d4_follow_sess_new(struct d4_follow *f, uint64_t id, uint64_t seq)
{
	if (f->nsess >= f->cfg.max_sessions)
		d4_follow_evict(f, NULL, "session cap");
	return sess_insert(f, id, seq);
}

void d4_follow_clean(struct d4_follow_sess *e, uint64_t seq, const struct d4_pcap_info *h)
{
	e->clean_after = seq;
	e->info = *h;
}

int d4_follow_skip(struct d4_follow_sess *e, uint64_t seq)
{
	if (!e->start_seq)
		return 0;
	/* rebuilt from the cursor at a clean point: what came before it is
	 * not needed (and was counted before the restart) */
	if (seq < e->start_seq)
		return 1;
	e->start_seq = 0;
	return 0;
}

int d4_follow_fin_add(struct d4_follow *f, const struct d4_follow_sess *e, const char *what)
{
	for (unsigned i = 0; i < f->nfin; i++)
		if (f->fin[i].session == e->id)
			return 1; /* finished and committed before a restart: a replay rebuilt it */
	if (f->nfin == D4_FOLLOW_FIN_MAX) {
		/* cannot be recorded: finishing it could count it twice after a restart */
		d4_info("%s: session %" PRIu64 ": %s (too many pending)", f->ops->name, e->id, what);
		return 1;
	}
	f->fin[f->nfin].session = e->id;
	f->fin[f->nfin].last_seq = e->last_rec.seq;
	f->nfin++;
	f->pend_final = 1;
	return 0;
}

/* ---- batch ---- */

void *d4_follow_delta(struct d4_follow *f, const uint8_t uuid[16])
{
	size_t sz = f->ops->delta_size;
	/* a batch touches few sensors, usually the last one again */
	for (size_t i = f->ndeltas; i-- > 0;)
		if (!memcmp(f->deltas + i * sz, uuid, 16))
			return f->deltas + i * sz;
	if (f->ndeltas == f->capdeltas) {
		size_t nc = f->capdeltas ? f->capdeltas * 2 : 16;
		uint8_t *nd = realloc(f->deltas, nc * sz);
		if (!nd)
			return NULL;
		f->deltas = nd;
		f->capdeltas = nc;
	}
	uint8_t *d = f->deltas + f->ndeltas++ * sz;
	memset(d, 0, sz);
	memcpy(d, uuid, 16);
	return d;
}

void *d4_follow_deltas(struct d4_follow *f, size_t *n)
{
	*n = f->ndeltas;
	return f->deltas;
}

static void batch_clear(struct d4_follow *f)
{
	f->ndeltas = 0;
	f->pending_lost = 0;
	f->pend_final = 0;
	f->ops->batch_clear(f->ctx);
}

/* Chooses the clean points the cursor can hold (the others replay their
 * stream from its first frame) and returns the replay point. */
static uint64_t replay_point(struct d4_follow *f, uint64_t done, unsigned budget)
{
	uint64_t r = done + 1;
	unsigned nres = 0;
	for (unsigned b = 0; b < NBUCKETS; b++)
		for (struct d4_follow_sess *e = f->bucket[b]; e; e = e->hnext) {
			uint64_t a = f->ops->anchor(f->ctx, e);
			e->in_cursor = 0;
			if (a && e->clean_after && nres < budget) {
				e->in_cursor = 1;
				nres++;
				a = e->clean_after + 1;
			}
			if (a && a < r)
				r = a;
		}
	return r;
}

int d4_follow_cursor(struct d4_follow *f, const uint8_t **cv, size_t *len)
{
	const struct d4_follow_ops *o = f->ops;
	size_t max = f->cfg.cursor_max;
	unsigned budget = 0;
	if (o->layout & D4_FOLLOW_CLEAN) {
		size_t fixed = D4_FOLLOW_HDR + 1 + 16 * (size_t)f->nfin + 2;
		size_t room = max > fixed ? (max - fixed) / D4_FOLLOW_RES : 0;
		budget = room < f->cfg.clean_max ? (unsigned)room : f->cfg.clean_max;
	}
	uint64_t rf = replay_point(f, f->pending_done, budget);
	if (o->layout & D4_FOLLOW_FIN) {
		/* a session whose frames no replay reaches needs no entry */
		unsigned nf = 0;
		for (unsigned i = 0; i < f->nfin; i++)
			if (f->fin[i].last_seq >= rf)
				f->fin[nf++] = f->fin[i];
		f->nfin = nf;
	}
	uint8_t *out = f->cv;
	d4_put_u64be(out + 1, f->pending_done);
	d4_put_u64be(out + 9, rf);
	d4_put_u64be(out + 17, f->lost_total + f->pending_lost);
	size_t off = D4_FOLLOW_HDR;
	size_t nres = 0;
	if (o->layout & D4_FOLLOW_CLEAN)
		for (struct d4_follow_sess *e = d4_follow_sess_first(f); e; e = d4_follow_sess_next(f, e))
			nres += e->in_cursor;
	if (o->layout == D4_FOLLOW_PLAIN) {
		out[0] = o->version;
		off += o->cursor_put(f->ctx, out + off, max - off);
	} else if (nres == 0 && o->legacy_version) {
		/* the older layout while nothing needs the newer one: the value
		 * stays readable by an older hub */
		out[0] = o->legacy_version;
		if (f->nfin) {
			out[off++] = (uint8_t)f->nfin;
			for (unsigned i = 0; i < f->nfin; i++, off += 16) {
				d4_put_u64be(out + off, f->fin[i].session);
				d4_put_u64be(out + off + 8, f->fin[i].last_seq);
			}
		}
	} else {
		out[0] = o->version;
		out[off++] = (uint8_t)f->nfin;
		for (unsigned i = 0; i < f->nfin; i++, off += 16) {
			d4_put_u64be(out + off, f->fin[i].session);
			d4_put_u64be(out + off + 8, f->fin[i].last_seq);
		}
		out[off++] = (uint8_t)(nres >> 8);
		out[off++] = (uint8_t)nres;
		for (struct d4_follow_sess *e = d4_follow_sess_first(f); e; e = d4_follow_sess_next(f, e)) {
			if (!e->in_cursor)
				continue;
			d4_put_u64be(out + off, e->id);
			d4_put_u64be(out + off + 8, e->clean_after + 1);
			d4_put_u32be(out + off + 16, e->info.linktype);
			d4_put_u32be(out + off + 20, e->info.snaplen);
			out[off + 24] = (uint8_t)((e->info.be ? 1 : 0) | (e->info.nsec ? 2 : 0));
			off += D4_FOLLOW_RES;
		}
	}
	f->rf_pending = rf;
	f->cvl_pending = off;
	*cv = out;
	*len = off;
	return 0;
}

/* 0 committed, 1 not now, < 0 error. */
static int commit(struct d4_follow *f)
{
	if (f->pending_done <= f->done && !f->pend_final)
		return 0;
	int rc = f->ops->commit(f->ctx);
	if (rc)
		return rc;
	f->done = f->pending_done;
	f->replay_from = f->rf_pending;
	memcpy(f->fin_c, f->fin, f->nfin * sizeof(f->fin[0]));
	f->nfin_c = f->nfin;
	memcpy(f->cv_c, f->cv, f->cvl_pending);
	f->cvl_c = f->cvl_pending;
	f->lost_total += f->pending_lost;
	f->st.frames_lost += f->pending_lost;
	f->st.commits++;
	f->last_commit_ms = d4_now_ms();
	batch_clear(f);
	return 0;
}

/* ---- the cursor read back ---- */

/* The state of a commit: done, replay point, finished sessions, the
 * streams rebuilt at their clean points, the consumer's part. Sessions
 * and the open batch are dropped first. 0, D4_ECORRUPT, D4_ENOMEM or a
 * callback's error. */
static int load(struct d4_follow *f, const uint8_t *cv, size_t cl)
{
	const struct d4_follow_ops *o = f->ops;
	sess_clear_all(f);
	batch_clear(f);
	f->nfin = f->nfin_c = 0;
	f->done = 0;
	f->replay_from = 1;
	f->lost_total = 0;
	f->pending_done = 0;
	f->next = 1;
	int rc = 0;
	if (cl == 0) {
		if (o->layout == D4_FOLLOW_PLAIN)
			rc = o->cursor_load(f->ctx, NULL, 0, 0);
		return rc;
	}
	if (cl < D4_FOLLOW_HDR)
		return D4_ECORRUPT;
	f->done = d4_get_u64be(cv + 1);
	f->replay_from = d4_get_u64be(cv + 9);
	f->lost_total = d4_get_u64be(cv + 17);
	if (f->replay_from == 0 || f->replay_from > f->done + 1)
		return D4_ECORRUPT;
	f->pending_done = f->done;
	f->next = f->replay_from;
	size_t off = D4_FOLLOW_HDR;
	unsigned nf = 0;
	size_t nres = 0;
	if (o->layout == D4_FOLLOW_PLAIN) {
		if (cv[0] != o->version)
			return D4_ECORRUPT;
		return o->cursor_load(f->ctx, cv + off, cl - off, 1);
	} else if (o->legacy_version && cv[0] == o->legacy_version) {
		nf = cl > off ? cv[off] : 0;
		if (nf > D4_FOLLOW_FIN_MAX || cl != (nf ? off + 1 + 16 * (size_t)nf : off))
			return D4_ECORRUPT;
		off++;
	} else if ((o->layout & D4_FOLLOW_CLEAN) && cv[0] == o->version) {
		if (cl < off + 3)
			return D4_ECORRUPT;
		nf = cv[off++];
		if (nf > D4_FOLLOW_FIN_MAX || cl < off + 16 * (size_t)nf + 2)
			return D4_ECORRUPT;
		nres = ((size_t)cv[off + 16 * nf] << 8) | cv[off + 16 * nf + 1];
		if (nres > f->cfg.clean_max || cl != off + 16 * (size_t)nf + 2 + D4_FOLLOW_RES * nres)
			return D4_ECORRUPT;
	} else {
		return D4_ECORRUPT;
	}
	for (unsigned i = 0; i < nf; i++, off += 16) {
		f->fin[i].session = d4_get_u64be(cv + off);
		f->fin[i].last_seq = d4_get_u64be(cv + off + 8);
	}
	f->nfin = f->nfin_c = nf;
	memcpy(f->fin_c, f->fin, nf * sizeof(f->fin[0]));
	off += 2;
	for (size_t i = 0; i < nres; i++, off += D4_FOLLOW_RES) {
		uint64_t id = d4_get_u64be(cv + off);
		uint64_t start = d4_get_u64be(cv + off + 8);
		if (d4_follow_sess_find(f, id) || start < f->replay_from || start > f->done + 1)
			return D4_ECORRUPT;
		/* not through the session cap: the committed state held them all */
		struct d4_follow_sess *e = sess_insert(f, id, start);
		if (!e)
			return D4_ENOMEM;
		e->last_seq = start - 1;
		e->clean_after = start - 1;
		e->start_seq = start;
		e->info.linktype = d4_get_u32be(cv + off + 16);
		e->info.snaplen = d4_get_u32be(cv + off + 20);
		e->info.be = (cv[off + 24] & 1) != 0;
		e->info.nsec = (cv[off + 24] & 2) != 0;
		if ((rc = o->resume(f->ctx, e)) != 0)
			return rc;
		f->st.resumed++;
	}
	return 0;
}

int d4_follow_rewind(struct d4_follow *f)
{
	/* the committed value was accepted when it was read or written */
	int rc = load(f, f->cv_c, f->cvl_c);
	if (rc)
		d4_warn("%s: the committed cursor could not be loaded again: %s", f->ops->name, d4_strerror(rc));
	return rc;
}

/* ---- reading ---- */

/* Frames [from, to) are gone (retention): counted; which sessions they
 * belonged to is not known, so every session is told. */
static void gap(struct d4_follow *f, uint64_t from, uint64_t to)
{
	uint64_t counted_from = from > f->done + 1 ? from : f->done + 1;
	if (to > counted_from) {
		uint64_t n = to - counted_from;
		f->pending_lost += n;
		if (f->pending_done < to - 1)
			f->pending_done = to - 1;
		d4_warn("%s: %" PRIu64 " frames (seq %" PRIu64 "..%" PRIu64 ") were deleted by retention before "
			"they were read; skipped",
			f->ops->name, n, counted_from, to - 1);
	}
	if (f->ops->gap_sess)
		for (unsigned b = 0; b < NBUCKETS; b++)
			for (struct d4_follow_sess *e = f->bucket[b]; e; e = e->hnext)
				f->ops->gap_sess(f->ctx, e);
}

static int walk_cb(void *ctx, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	struct d4_follow *f = ctx;
	if (rec->seq < f->next)
		return 0;
	if (rec->seq > f->next)
		gap(f, f->next, rec->seq);
	int counting = rec->seq > f->done;
	if (f->want[rec->type]) {
		int rc = f->ops->frame(f->ctx, rec, payload, counting);
		if (rc) {
			f->walk_err = rc;
			return rc;
		}
		if (counting)
			f->st.frames++;
		else
			f->st.replayed++;
	}
	f->next = rec->seq + 1;
	f->walked++;
	if (counting)
		f->pending_done = rec->seq;
	if (f->ops->batch_full(f->ctx) || f->walked >= f->cfg.frames_per_walk)
		return 1;
	return 0;
}

int d4_follow_step(struct d4_follow *f, unsigned max_batches, int force, unsigned min_commit_ms, int *idle)
{
	int batches = 0;
	if (idle)
		*idle = 0;
	for (;;) {
		/* a full batch (left over by a commit that failed or had to
		 * wait) goes first */
		if (f->ops->batch_full(f->ctx)) {
			int rc = commit(f);
			if (rc < 0)
				return rc;
			if (rc == 0) {
				batches++;
				if (max_batches && (unsigned)batches >= max_batches)
					return batches;
			}
		}
		f->walked = 0;
		f->walk_err = 0;
		int rc = d4_store_frame_foreach(f->s, f->next, 0, walk_cb, f);
		if (rc < 0) {
			/* the state may hold part of a frame */
			if (f->walk_err)
				d4_follow_rewind(f);
			return rc;
		}
		if (f->ops->batch_full(f->ctx) || f->walked >= f->cfg.frames_per_walk)
			continue;
		if (f->ops->caught_up && (rc = f->ops->caught_up(f->ctx)) != 0)
			return rc;
		if ((f->pending_done > f->done || f->pend_final) &&
		    (force || min_commit_ms == 0 || d4_now_ms() - f->last_commit_ms >= min_commit_ms)) {
			rc = commit(f);
			if (rc < 0)
				return rc;
			if (rc == 0)
				batches++;
		}
		if (idle)
			*idle = 1;
		return batches;
	}
}

int d4_follow_flush(struct d4_follow *f)
{
	return commit(f);
}

int d4_follow_maintain(struct d4_follow *f, uint64_t dead_before)
{
	/* only once caught up with the replay: a session dropped in the middle
	 * of it would lose state that frames after done_seq still need */
	if (f->next <= f->done)
		return 0;
	struct d4_totals t;
	int rc = d4_store_totals(f->s, &t);
	if (rc)
		return rc;
	for (unsigned b = 0; b < NBUCKETS; b++) {
		struct d4_follow_sess *e = f->bucket[b];
		while (e) {
			struct d4_follow_sess *nx = e->hnext;
			if (!e->drop_at) {
				struct d4_session_info si;
				rc = d4_store_session_get(f->s, e->id, &si);
				if (rc == D4_ENOTFOUND ||
				    (rc == 0 && (si.ended || (dead_before && si.started < dead_before))))
					e->drop_at = t.frames; /* its frames are all committed by now */
				else if (rc)
					return rc;
				/* ended by the sender, not cut by a reset or by the hub
				 * (the sensor then goes on in a new session) */
				if (rc == 0 && si.ended && !strncmp(si.close_reason, "peer closed", 11))
					e->stream_end = 1;
			}
			/* every frame of it has been read: nothing will need this state
			 * (the open batch already holds what it completed) */
			if (e->drop_at && f->next > e->drop_at) {
				if (f->ops->finish && (rc = f->ops->finish(f->ctx, e)) != 0)
					return rc;
				d4_follow_sess_remove(f, e);
			}
			e = nx;
		}
	}
	f->st.last_seq = t.frames;
	return 0;
}

int d4_follow_expire_due(struct d4_follow *f, uint64_t now_s, uint64_t every_s, uint64_t retention_s)
{
	if (!retention_s || now_s <= retention_s)
		return 0;
	if (f->last_expire_s != 0 && now_s - f->last_expire_s < every_s)
		return 0;
	f->last_expire_s = now_s;
	return 1;
}

int d4_follow_expire(struct d4_follow *f, uint64_t now_s, uint64_t every_s, uint64_t retention_s)
{
	if (!f->ops->expire || !d4_follow_expire_due(f, now_s, every_s, retention_s))
		return 0;
	uint64_t removed = 0;
	int rc = f->ops->expire(f->ctx, now_s - retention_s, &removed);
	if (removed)
		d4_info("%s: %" PRIu64 " %s older than %" PRIu64 " s)", f->ops->name, removed, f->ops->expire_what,
			retention_s);
	return rc;
}

void d4_follow_refresh_lag(struct d4_follow *f)
{
	struct d4_totals t;
	if (d4_store_totals(f->s, &t) == 0)
		f->st.last_seq = t.frames;
}

void d4_follow_stats(const struct d4_follow *f, struct d4_follow_stats *out)
{
	*out = f->st;
	out->done = f->done;
	out->replay_from = f->replay_from;
	out->lost_total = f->lost_total;
	out->lag = f->st.last_seq > f->done ? f->st.last_seq - f->done : 0;
	out->sessions = f->nsess;
}

uint64_t d4_follow_done(const struct d4_follow *f)
{
	return f->done;
}

uint64_t d4_follow_replay_from(const struct d4_follow *f)
{
	return f->replay_from;
}

uint64_t d4_follow_next(const struct d4_follow *f)
{
	return f->next;
}

uint64_t d4_follow_batch_lost(const struct d4_follow *f)
{
	return f->pending_lost;
}

uint64_t d4_follow_last_commit_ms(const struct d4_follow *f)
{
	return f->last_commit_ms;
}

/* ---- lines cut across frames ---- */

void d4_follow_lines_drop(struct d4_follow_lines *l, size_t *buffered, uint8_t skipping)
{
	*buffered -= l->cap;
	free(l->buf);
	l->buf = NULL;
	l->len = l->cap = 0;
	l->skipping = skipping;
}

uint64_t d4_follow_lines_anchor(const struct d4_follow_lines *l)
{
	return (l->len || l->skipping) ? l->line_seq : 0;
}

/* Appends a piece of the current line; a line over max_line (or over the
 * global buffer cap) is skipped up to its newline. */
static int lines_append(struct d4_follow_lines *l, const struct d4_follow_lines_cfg *c, const uint8_t *p, size_t n,
			uint64_t seq)
{
	if (l->len == 0 && l->skipping == D4_FOLLOW_SKIP_NONE)
		l->line_seq = seq;
	if (l->skipping)
		return 0;
	size_t need = l->len + n;
	if (need > c->max_line || (need > l->cap && *c->buffered - l->cap + need > c->max_buffered)) {
		d4_follow_lines_drop(l, c->buffered, D4_FOLLOW_SKIP_COUNT);
		return 0;
	}
	if (need > l->cap) {
		size_t nc = l->cap ? l->cap : c->first_cap;
		while (nc < need)
			nc *= 2;
		if (nc > c->max_line)
			nc = c->max_line;
		char *nb = realloc(l->buf, nc);
		if (!nb)
			return D4_ENOMEM;
		*c->buffered += nc - l->cap;
		l->buf = nb;
		l->cap = nc;
	}
	memcpy(l->buf + l->len, p, n);
	l->len = need;
	return 0;
}

int d4_follow_lines_feed(struct d4_follow_lines *l, const struct d4_follow_lines_cfg *c, const uint8_t *p, size_t n,
			 uint64_t seq)
{
	size_t i = 0;
	while (i < n) {
		const uint8_t *nl = memchr(p + i, '\n', n - i);
		if (!nl)
			return lines_append(l, c, p + i, n - i, seq);
		size_t end = (size_t)(nl - p);
		int rc = 0;
		if (l->skipping) {
			if (l->skipping == D4_FOLLOW_SKIP_COUNT)
				c->bad(c->ctx);
			l->skipping = D4_FOLLOW_SKIP_NONE;
		} else if (l->len) {
			rc = lines_append(l, c, p + i, end - i, seq);
			if (!rc && l->skipping) { /* this last piece made it too long */
				c->bad(c->ctx);
				l->skipping = D4_FOLLOW_SKIP_NONE;
			} else if (!rc) {
				rc = c->line(c->ctx, l->buf, l->len);
			}
			l->len = 0;
		} else if (end - i > c->max_line) {
			c->bad(c->ctx);
		} else {
			rc = c->line(c->ctx, (const char *)p + i, end - i);
		}
		if (rc)
			return rc;
		/* buffers stay small between long lines */
		if (l->cap > 65536 && l->len == 0)
			d4_follow_lines_drop(l, c->buffered, l->skipping);
		i = end + 1;
	}
	return 0;
}

/* ---- life ---- */

int d4_follow_new(struct d4_store *s, const struct d4_follow_ops *ops, void *ctx, const struct d4_follow_cfg *cfg,
		  const uint8_t *cv, size_t len, struct d4_follow **out)
{
	*out = NULL;
	if (len > cfg->cursor_max || (len && !cv))
		return D4_ECORRUPT;
	struct d4_follow *f = calloc(1, sizeof(*f));
	if (!f)
		return D4_ENOMEM;
	f->s = s;
	f->ops = ops;
	f->ctx = ctx;
	f->cfg = *cfg;
	if (ops->types)
		for (size_t i = 0; i < ops->ntypes; i++)
			f->want[ops->types[i]] = 1;
	else
		memset(f->want, 1, sizeof(f->want));
	f->cv = malloc(cfg->cursor_max);
	f->cv_c = malloc(cfg->cursor_max);
	if (!f->cv || !f->cv_c) {
		d4_follow_free(f);
		return D4_ENOMEM;
	}
	if (len)
		memcpy(f->cv_c, cv, len);
	f->cvl_c = len;
	*out = f; /* the callbacks of the load may already use it */
	int rc = load(f, f->cv_c, len);
	if (rc) {
		*out = NULL;
		d4_follow_free(f);
		return rc;
	}
	f->last_commit_ms = d4_now_ms();
	if (f->replay_from <= f->done && !cfg->quiet)
		d4_info("%s: resuming after frame %" PRIu64 ", replaying from %" PRIu64 " to rebuild partial state",
			ops->name, f->done, f->replay_from);
	d4_follow_refresh_lag(f);
	return 0;
}

void d4_follow_free(struct d4_follow *f)
{
	if (!f)
		return;
	sess_clear_all(f);
	free(f->deltas);
	free(f->cv);
	free(f->cv_c);
	free(f);
}
