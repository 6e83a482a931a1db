/* The backscatter consumer of the frame log: type-1 frames (pcap streams)
 * become attack vectors (analyzers/backscatter), committed with the states
 * of the open vectors, the cursor and the per-sensor counters in ONE store
 * transaction (d4_store_bs_apply). docs/backscatter.md "In the hub".
 *
 * Exact restarts rest on three rules:
 * - a packet belongs to the frame that completes its record, and only
 *   frames after done_seq are counted;
 * - the aggregator's clock is the log's, never the wall clock: the largest
 *   packet timestamp read so far, with a tick (at that packet's timestamp)
 *   at the first packet of every new second, exactly as d4-backscatter does
 *   over a file. Where a commit falls therefore changes nothing;
 * - the cursor records, per stream with state, its global header and the
 *   point (frame, offset) where the unit in progress began -- in live mode
 *   the earlier point from which the packets of the last live_window_s can
 *   be read again, to rebuild the table of our own flows with
 *   d4_bs_agg_live_note. After a restart the consumer restores the open
 *   vectors from their stored states and reads again from the smallest such
 *   point (replay_from); what frames up to done_seq complete is not counted.
 *
 * A commit is made only right after the aggregator reported its changed
 * vectors (d4_bs_agg_dirty); when a vector was closed by a packet and not yet
 * emitted by a tick (D4_EBUSY), the batch goes on to the next frame. */
#include "analyze_internal.h"
#include "d4_error.h"
#include "d4_log.h"
#include "d4_reader.h"
#include "d4_store.h"
#include "d4_store_bs.h"
#include "d4_util.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEF_BATCH	    100000u
#define DEF_MAX_SESSIONS    4096u
#define DEF_FUTURE_S	    86400u
#define DEF_FRAMES_PER_WALK 4096u
#define NBUCKETS	    1024u
#define LIVE_CP_MAX	    64u /* live-mode restart points kept per stream */
#define LIVE_CP_SLICES	    8u	/* ... at most one per live_window_s / 8 of packet time */

/* Cursor value (version 1, big-endian):
 *   u8 version | u64 done_seq | u64 replay_from | u64 frames_lost
 *   | u64 clock_us | u64 next_tick_us | u16 n
 *   then n x (u64 session | u8 flags | u32 linktype | u32 snaplen
 *             | u64 from_seq | u32 from_off | u64 last_seq)
 * flags: bit 0 global header known, bit 1 big-endian, bit 2 nanoseconds,
 * bit 3 stream failed. from_seq 0: the stream is at a record boundary after
 * done_seq and nothing needs reading again. last_seq: the stream's last
 * frame, its place in the least-recently-used order of the session cap. */
#define CUR_V1	     1u
#define CUR_HDR	     43u
#define CUR_SESS     37u
#define F_HAVE	     1u
#define F_BE	     2u
#define F_NSEC	     4u
#define F_FAILED     8u
#define CUR_SESS_MAX ((D4_STORE_BS_CURSOR_MAX - CUR_HDR) / CUR_SESS)

struct livecp {
	uint64_t seq; /* resynchronisation point: a unit starts here */
	uint32_t off;
	uint64_t max_ts; /* newest packet of the frames since (0: none yet) */
};

struct bsess {
	struct bsess *hnext;
	uint64_t id;
	uint64_t last_seq; /* LRU order */
	uint64_t drop_at;  /* ended: drop once read past this; 0 = live */
	struct d4_pcapsplit *sp;
	int failed; /* refused stream: its frames are only counted */
	/* where the unit in progress began (0: at a boundary) */
	uint64_t unit_seq;
	uint32_t unit_off;
	/* replay after a restart: frames before start_seq are skipped, frame
	 * start_seq is read from start_off */
	uint64_t start_seq;
	uint32_t start_off;
	int resumed; /* start point reached (or none needed) */
	/* live mode */
	struct livecp cp[LIVE_CP_MAX];
	unsigned ncp;
};

struct pvec {
	struct d4_store_bs_vec v;
};

struct pstate {
	uint8_t victim[16];
	uint8_t kind;
	size_t off, len; /* into the state arena; len 0: deleted */
	int del;
};

struct d4_analyze_bs {
	struct d4_store *s;
	struct d4_analyze_bs_opts o;
	struct d4_bs_prefix *tele; /* owned copy of o.agg.telescope */
	struct d4_bs_agg *agg;
	int fresh; /* no cursor was stored: the first commit resets the stored states */
	/* committed cursor */
	uint64_t done, replay_from, lost_total, clock_c, next_tick_c;
	/* reading */
	uint64_t next, pending_done, pending_lost;
	uint64_t clock_us, next_tick_us;
	int counting;
	const struct d4_frame_rec *cur_rec;
	uint64_t frame_max_ts;
	struct bsess *cur_sess;
	struct d4_store_bs_counters *cur_delta;
	/* sessions */
	struct bsess *bucket[NBUCKETS];
	unsigned nsess;
	/* open batch */
	struct pvec *vecs;
	size_t nvecs, capvecs;
	struct d4_store_bs_counters *deltas;
	size_t ndeltas, capdeltas;
	uint64_t batch_packets;
	struct pstate *states;
	size_t nstates, capstates;
	uint8_t *sarena;
	size_t salen, sacap;
	struct d4_store_bs_state *sst; /* built at commit */
	size_t capsst;
	uint8_t *cv; /* cursor value buffer, D4_STORE_BS_CURSOR_MAX */
	unsigned walked;
	int walk_err;
	struct d4_analyze_bs_stats st, pend;
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

static struct bsess *sess_find(struct d4_analyze_bs *x, uint64_t id)
{
	for (struct bsess *e = x->bucket[sess_hash(id)]; e; e = e->hnext)
		if (e->id == id)
			return e;
	return NULL;
}

static void sess_remove(struct d4_analyze_bs *x, struct bsess *e)
{
	struct bsess **pp = &x->bucket[sess_hash(e->id)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	d4_pcapsplit_free(e->sp);
	free(e);
	x->nsess--;
}

static void sess_clear_all(struct d4_analyze_bs *x)
{
	for (unsigned b = 0; b < NBUCKETS; b++)
		while (x->bucket[b])
			sess_remove(x, x->bucket[b]);
}

static struct bsess *sess_new(struct d4_analyze_bs *x, uint64_t id, uint64_t seq)
{
	if (x->nsess >= x->o.max_sessions) {
		struct bsess *victim = NULL;
		for (unsigned b = 0; b < NBUCKETS; b++)
			for (struct bsess *e = x->bucket[b]; e; e = e->hnext)
				if (!victim || e->last_seq < victim->last_seq)
					victim = e;
		if (victim) {
			x->st.evictions++;
			d4_debug("backscatter: session %" PRIu64 " state evicted (session cap)", victim->id);
			sess_remove(x, victim);
		}
	}
	struct bsess *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->sp = d4_pcapsplit_new(0);
	if (!e->sp) {
		free(e);
		return NULL;
	}
	e->id = id;
	e->last_seq = seq;
	uint32_t h = sess_hash(id);
	e->hnext = x->bucket[h];
	x->bucket[h] = e;
	x->nsess++;
	return e;
}

/* Where a replay of this stream has to start (0: nowhere). */
static void sess_anchor(const struct bsess *e, uint64_t *seq, uint32_t *off)
{
	*seq = 0;
	*off = 0;
	if (e->failed)
		return;
	if (e->ncp) {
		*seq = e->cp[0].seq;
		*off = e->cp[0].off;
	} else if (e->unit_seq) {
		*seq = e->unit_seq;
		*off = e->unit_off;
	}
}

/* Live mode: restart points whose packets all left the window are not
 * needed any more. */
static void live_trim(struct d4_analyze_bs *x, struct bsess *e)
{
	uint64_t win = (uint64_t)x->o.agg.live_window_s * 1000000u;
	unsigned k = 0;
	while (k < e->ncp && e->cp[k].max_ts + win < x->clock_us)
		k++;
	if (k) {
		memmove(e->cp, e->cp + k, (e->ncp - k) * sizeof(e->cp[0]));
		e->ncp -= k;
	}
}

/* ---- batch ---- */

static struct d4_store_bs_counters *delta_for(struct d4_analyze_bs *x, const uint8_t uuid[16])
{
	for (size_t i = x->ndeltas; i-- > 0;)
		if (!memcmp(x->deltas[i].sensor, uuid, 16))
			return &x->deltas[i];
	if (x->ndeltas == x->capdeltas) {
		size_t nc = x->capdeltas ? x->capdeltas * 2 : 16;
		struct d4_store_bs_counters *nd = realloc(x->deltas, nc * sizeof(*nd));
		if (!nd)
			return NULL;
		x->deltas = nd;
		x->capdeltas = nc;
	}
	struct d4_store_bs_counters *d = &x->deltas[x->ndeltas++];
	memset(d, 0, sizeof(*d));
	memcpy(d->sensor, uuid, 16);
	return d;
}

static void vec_to_store(const struct d4_bs_vector *v, struct d4_store_bs_vec *o)
{
	memset(o, 0, sizeof(*o));
	memcpy(o->victim, v->victim, 16);
	o->kind = v->kind;
	o->first_us = v->first_us;
	o->state = v->state;
	o->last_us = v->last_us;
	o->packets = v->packets;
	o->bytes = v->bytes;
	o->n_ports = v->n_ports <= D4_STORE_BS_TOP_PORTS ? v->n_ports : D4_STORE_BS_TOP_PORTS;
	for (uint32_t i = 0; i < o->n_ports; i++) {
		o->ports[i].port = v->ports[i].port;
		o->ports[i].packets = v->ports[i].packets;
	}
	o->ports_distinct = v->ports_distinct;
	o->ports_other = v->ports_other;
	o->telescope_addrs = v->telescope_addrs;
	o->telescope_exact = v->telescope_exact;
	o->peak_ppm = v->peak_ppm;
	o->observed_pps = v->observed_pps;
	o->est_pps = v->est_pps;
	o->est_peak_pps = v->est_peak_pps;
	o->est_valid = v->est_valid;
	o->n_sensors = v->n_sensors <= D4_STORE_BS_SENSORS ? v->n_sensors : D4_STORE_BS_SENSORS;
	memcpy(o->sensors, v->sensors, (size_t)o->n_sensors * 16);
	o->sensors_more = v->sensors_more;
	o->tlp = v->tlp;
	memcpy(o->org, v->org, 16);
	o->org_mixed = v->org_mixed;
	o->updates = v->updates;
}

static int on_vector(const struct d4_bs_vector *v, void *ud)
{
	struct d4_analyze_bs *x = ud;
	if (x->nvecs == x->capvecs) {
		size_t nc = x->capvecs ? x->capvecs * 2 : 256;
		struct pvec *nv = realloc(x->vecs, nc * sizeof(*nv));
		if (!nv)
			return D4_ENOMEM;
		x->vecs = nv;
		x->capvecs = nc;
	}
	vec_to_store(v, &x->vecs[x->nvecs++].v);
	if (v->state == D4_BS_CLOSED)
		x->pend.vectors_reported++;
	else
		x->pend.vectors_ongoing++;
	return 0;
}

static int on_state(void *ud, const uint8_t victim[16], uint8_t kind, const uint8_t *state, size_t len)
{
	struct d4_analyze_bs *x = ud;
	if (len > D4_STORE_BS_STATE_MAX)
		return D4_ETOOBIG;
	if (x->nstates == x->capstates) {
		size_t nc = x->capstates ? x->capstates * 2 : 256;
		struct pstate *ns = realloc(x->states, nc * sizeof(*ns));
		if (!ns)
			return D4_ENOMEM;
		x->states = ns;
		x->capstates = nc;
	}
	if (x->salen + len > x->sacap) {
		size_t nc = x->sacap ? x->sacap : 1u << 16;
		while (nc < x->salen + len)
			nc *= 2;
		uint8_t *na = realloc(x->sarena, nc);
		if (!na)
			return D4_ENOMEM;
		x->sarena = na;
		x->sacap = nc;
	}
	struct pstate *p = &x->states[x->nstates++];
	memcpy(p->victim, victim, 16);
	p->kind = kind;
	p->off = x->salen;
	p->len = state ? len : 0;
	p->del = state == NULL;
	if (state && len)
		memcpy(x->sarena + x->salen, state, len);
	x->salen += p->len;
	return 0;
}

/* The per-packet counters of a batch (what it read). */
static void add_read_counters(struct d4_analyze_bs_stats *to, const struct d4_analyze_bs_stats *b)
{
	to->packets += b->packets;
	to->bad_packets += b->bad_packets;
	to->future += b->future;
	to->backscatter += b->backscatter;
	to->dropped += b->dropped;
	for (unsigned i = 0; i < D4_PCAP_F_COUNT; i++)
		to->streams_refused[i] += b->streams_refused[i];
	for (unsigned i = 0; i < D4_BS_KIND_COUNT; i++)
		to->by_kind[i] += b->by_kind[i];
	for (unsigned i = 0; i < D4_BS_R_COUNT; i++)
		to->by_reason[i] += b->by_reason[i];
}

static void batch_clear(struct d4_analyze_bs *x)
{
	x->nvecs = 0;
	x->ndeltas = 0;
	x->nstates = 0;
	x->salen = 0;
	x->batch_packets = 0;
	x->pending_lost = 0;
	memset(&x->pend, 0, sizeof(x->pend));
}

static size_t put_cursor(struct d4_analyze_bs *x, uint64_t done, uint64_t rf, uint64_t lost)
{
	uint8_t *c = x->cv;
	c[0] = CUR_V1;
	d4_put_u64be(c + 1, done);
	d4_put_u64be(c + 9, rf);
	d4_put_u64be(c + 17, lost);
	d4_put_u64be(c + 25, x->clock_us);
	d4_put_u64be(c + 33, x->next_tick_us);
	size_t n = 0, off = CUR_HDR;
	for (unsigned b = 0; b < NBUCKETS; b++)
		for (struct bsess *e = x->bucket[b]; e; e = e->hnext) {
			struct d4_pcap_info in;
			memset(&in, 0, sizeof(in));
			uint8_t fl = 0;
			if (d4_pcapsplit_info(e->sp, &in) == 0)
				fl |= F_HAVE | (in.be ? F_BE : 0) | (in.nsec ? F_NSEC : 0);
			if (e->failed)
				fl |= F_FAILED;
			uint64_t aseq;
			uint32_t aoff;
			sess_anchor(e, &aseq, &aoff);
			d4_put_u64be(c + off, e->id);
			c[off + 8] = fl;
			d4_put_u32be(c + off + 9, in.linktype);
			d4_put_u32be(c + off + 13, in.snaplen);
			d4_put_u64be(c + off + 17, aseq);
			d4_put_u32be(c + off + 25, aoff);
			d4_put_u64be(c + off + 29, e->last_seq);
			off += CUR_SESS;
			n++;
		}
	c[41] = (uint8_t)(n >> 8);
	c[42] = (uint8_t)n;
	return off;
}

static uint64_t replay_point(struct d4_analyze_bs *x, uint64_t done)
{
	uint64_t r = done + 1;
	for (unsigned b = 0; b < NBUCKETS; b++)
		for (struct bsess *e = x->bucket[b]; e; e = e->hnext) {
			uint64_t a;
			uint32_t o;
			sess_anchor(e, &a, &o);
			if (a && a < r)
				r = a;
		}
	return r;
}

/* Commits the open batch. 1: not now (a vector closed by a packet awaits
 * its tick: the batch goes on); 0 committed; < 0 error (the caller goes
 * back to the last commit). */
static int batch_commit(struct d4_analyze_bs *x)
{
	if (x->pending_done <= x->done)
		return 0;
	x->nstates = 0;
	x->salen = 0;
	int rc = d4_bs_agg_dirty(x->agg, on_state, x);
	if (rc == D4_EBUSY)
		return 1;
	if (rc)
		return rc;
	if (x->nstates > x->capsst) {
		struct d4_store_bs_state *ns = realloc(x->sst, x->nstates * sizeof(*ns));
		if (!ns)
			return D4_ENOMEM;
		x->sst = ns;
		x->capsst = x->nstates;
	}
	for (size_t i = 0; i < x->nstates; i++) {
		memcpy(x->sst[i].victim, x->states[i].victim, 16);
		x->sst[i].kind = x->states[i].kind;
		x->sst[i].state = x->states[i].del ? NULL : x->sarena + x->states[i].off;
		x->sst[i].len = x->states[i].len;
	}
	if (x->o.agg.live)
		for (unsigned b = 0; b < NBUCKETS; b++)
			for (struct bsess *e = x->bucket[b]; e; e = e->hnext)
				live_trim(x, e);
	uint64_t rf = replay_point(x, x->pending_done);
	size_t cvl = put_cursor(x, x->pending_done, rf, x->lost_total + x->pending_lost);
	struct d4_store_bs_vec *vs = NULL;
	if (x->nvecs) {
		vs = malloc(x->nvecs * sizeof(*vs));
		if (!vs)
			return D4_ENOMEM;
		for (size_t i = 0; i < x->nvecs; i++)
			vs[i] = x->vecs[i].v;
	}
	struct d4_store_bs_update u;
	memset(&u, 0, sizeof(u));
	u.vecs = vs;
	u.nvecs = x->nvecs;
	u.states = x->sst;
	u.nstates = x->nstates;
	u.states_reset = x->fresh;
	u.cursor_name = D4_ANALYZE_BS_CURSOR;
	u.cursor = x->cv;
	u.cursor_len = cvl;
	u.deltas = x->deltas;
	u.ndeltas = x->ndeltas;
	uint64_t t0 = d4_mono_ms();
	rc = d4_store_bs_apply(x->s, &u);
	free(vs);
	if (rc)
		return rc;
	uint64_t ms = d4_mono_ms() - t0;
	if (ms > x->st.txn_ms_max)
		x->st.txn_ms_max = ms;
	d4_debug("backscatter: %" PRIu64 " packets, %zu vector writes, %zu states committed in %" PRIu64 " ms",
		 x->batch_packets, x->nvecs, x->nstates, ms);
	x->fresh = 0;
	x->done = x->pending_done;
	x->replay_from = rf;
	x->clock_c = x->clock_us;
	x->next_tick_c = x->next_tick_us;
	x->lost_total += x->pending_lost;
	x->st.frames_lost += x->pending_lost;
	x->st.states_written += x->nstates;
	x->st.vectors_ongoing += x->pend.vectors_ongoing;
	x->st.vectors_reported += x->pend.vectors_reported;
	add_read_counters(&x->st, &x->pend);
	x->st.commits++;
	x->last_commit_ms = d4_now_ms();
	batch_clear(x);
	return 0;
}

/* ---- packets ---- */

static int on_record(void *ud, const struct d4_pcap_rec *r)
{
	struct d4_analyze_bs *x = ud;
	const struct d4_frame_rec *rec = x->cur_rec;
	uint64_t ts = r->ts_us;
	uint64_t limit = rec->recv_ms * 1000u + x->o.future_s * 1000000u;
	if (ts <= limit && ts > x->frame_max_ts)
		x->frame_max_ts = ts;
	if (!x->counting) {
		/* replay: rebuild the table of our own flows only */
		if (x->o.agg.live && ts <= limit && ts + (uint64_t)x->o.agg.live_window_s * 1000000u >= x->clock_us) {
			struct d4_pkt pk;
			if (d4_pkt_decode((int)r->linktype, r->data, r->caplen, &pk) == 0)
				d4_bs_agg_live_note(x->agg, &pk, ts);
		}
		return 0;
	}
	struct d4_store_bs_counters *d = x->cur_delta;
	x->pend.packets++;
	x->batch_packets++;
	if (ts > limit) {
		x->pend.future++;
		x->pend.bad_packets++;
		d->bad_packets++;
		return 0;
	}
	if (ts > x->clock_us)
		x->clock_us = ts;
	if (ts >= x->next_tick_us) {
		int rc = d4_bs_agg_tick(x->agg, ts, on_vector, x);
		if (rc)
			return rc;
		x->next_tick_us = (ts / 1000000u + 1) * 1000000u;
	}
	struct d4_pkt pk;
	if (d4_pkt_decode((int)r->linktype, r->data, r->caplen, &pk) != 0) {
		x->pend.bad_packets++;
		d->bad_packets++;
		return 0;
	}
	d->packets++;
	struct d4_bs_class c;
	static const uint8_t zero[16];
	const uint8_t *org = memcmp(rec->org, zero, 16) ? rec->org : NULL; /* all-zero: no org */
	int rc = d4_bs_agg_add_class(x->agg, &pk, ts, rec->uuid, rec->tlp, org, &c);
	if (rc == D4_EFULL) {
		x->pend.dropped++;
		d->dropped++;
		return 0;
	}
	if (rc)
		return rc;
	if (c.kind != D4_BS_NONE) {
		x->pend.backscatter++;
		d->backscatter++;
		if (c.kind < D4_BS_KIND_COUNT) {
			x->pend.by_kind[c.kind]++;
			if (c.kind < D4_STORE_BS_KINDS)
				d->by_kind[c.kind]++;
		}
	} else if (c.reason < D4_BS_R_COUNT) {
		x->pend.by_reason[c.reason]++;
		if (c.reason < D4_STORE_BS_REASONS)
			d->by_reason[c.reason]++;
	}
	return 0;
}

/* ---- frames ---- */

/* A session met for the first time: a stream of this hub's sensors? Frames
 * received from partner hubs are not read: their vectors arrive as the
 * backscatter kind of the federation, filtered by the origin's rule. */
static int session_wanted(struct d4_analyze_bs *x, uint64_t session)
{
	struct d4_session_info si;
	if (d4_store_session_get(x->s, session, &si) != 0)
		return 1;
	return !si.fed;
}

static int frame_process(struct d4_analyze_bs *x, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	if (rec->type != 1)
		return 0;
	struct bsess *e = sess_find(x, rec->session);
	if (!x->counting) {
		/* replay: only streams that hold state at done_seq, from their point */
		if (!e || e->failed || e->resumed || !e->start_seq || rec->seq < e->start_seq)
			return 0;
	} else if (!e) {
		if (!session_wanted(x, rec->session))
			return 0;
		if (!(e = sess_new(x, rec->session, rec->seq)))
			return D4_ENOMEM;
		e->resumed = 1;
	}
	if (rec->seq > e->last_seq)
		e->last_seq = rec->seq;
	uint32_t off = 0;
	if (!e->resumed) {
		/* the frame a replay starts in (a counted frame here means the
		 * start point was deleted by retention: the stream then fails) */
		if (rec->seq == e->start_seq)
			off = e->start_off <= rec->size ? e->start_off : rec->size;
		e->resumed = 1;
	}
	if (x->counting) {
		x->cur_delta = delta_for(x, rec->uuid);
		if (!x->cur_delta)
			return D4_ENOMEM;
		x->cur_delta->frames++;
	}
	if (e->failed)
		return 0;
	int live = x->o.agg.live;
	if (live) {
		/* a restart point at this frame (merged below into the previous
		 * one when it adds nothing): the unit in progress, or this frame */
		if (e->ncp == LIVE_CP_MAX) {
			memmove(e->cp, e->cp + 1, (LIVE_CP_MAX - 1) * sizeof(e->cp[0]));
			e->ncp--;
			x->st.live_lossy++;
		}
		struct livecp *cp = &e->cp[e->ncp++];
		cp->seq = e->unit_seq ? e->unit_seq : rec->seq;
		cp->off = e->unit_seq ? e->unit_off : off;
		cp->max_ts = 0;
	}
	x->cur_rec = rec;
	x->frame_max_ts = 0;
	size_t n = rec->size - off;
	int rc = d4_pcapsplit_feed(e->sp, payload + off, n, on_record, x);
	x->cur_rec = NULL;
	if (rc == D4_ENOMEM)
		return rc;
	if (live) {
		/* one restart point per slice of packet time is enough: the
		 * rule depends on the frames only, so a replay rebuilds the
		 * same points */
		uint64_t slice = (uint64_t)x->o.agg.live_window_s * 1000000u / LIVE_CP_SLICES;
		if (slice == 0)
			slice = 1;
		struct livecp *cp = &e->cp[e->ncp - 1];
		cp->max_ts = x->frame_max_ts;
		if (e->ncp >= 2) {
			struct livecp *pv = cp - 1;
			if (cp->max_ts == 0 || pv->max_ts == 0 || pv->max_ts / slice == cp->max_ts / slice) {
				if (cp->max_ts > pv->max_ts)
					pv->max_ts = cp->max_ts;
				e->ncp--;
			}
		}
	}
	int why = d4_pcapsplit_failed(e->sp);
	if (why != D4_PCAP_F_NONE) {
		e->failed = 1;
		e->ncp = 0;
		e->unit_seq = 0;
		if (x->counting) {
			x->pend.streams_refused[why]++;
			x->pend.bad_packets++;
			x->cur_delta->bad_packets++;
			d4_info("backscatter: session %" PRIu64 ": pcap stream refused (%s)", e->id,
				d4_pcap_fail_name(why));
		}
		return 0;
	}
	if (rc < 0)
		return rc; /* the aggregator's error */
	size_t pend = d4_pcapsplit_pending(e->sp);
	if (pend == 0) {
		e->unit_seq = 0;
	} else if (pend <= n) {
		e->unit_seq = rec->seq;
		e->unit_off = (uint32_t)(off + n - pend);
	}
	return 0;
}

/* Frames [from, to) were deleted by retention before they were read:
 * counted; a stream that lost frames fails on its next record header. */
static void gap(struct d4_analyze_bs *x, uint64_t from, uint64_t to)
{
	uint64_t counted_from = from > x->done + 1 ? from : x->done + 1;
	if (to <= counted_from)
		return;
	uint64_t n = to - counted_from;
	x->pending_lost += n;
	if (x->pending_done < to - 1)
		x->pending_done = to - 1;
	d4_warn("backscatter: %" PRIu64 " frames (seq %" PRIu64 "..%" PRIu64 ") were deleted by retention before "
		"they were read; skipped",
		n, counted_from, to - 1);
}

static int walk_cb(void *ctx, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	struct d4_analyze_bs *x = ctx;
	if (rec->seq < x->next)
		return 0;
	if (rec->seq > x->next)
		gap(x, x->next, rec->seq);
	x->counting = rec->seq > x->done;
	int rc = frame_process(x, rec, payload);
	if (rc) {
		x->walk_err = rc;
		return rc;
	}
	x->next = rec->seq + 1;
	x->walked++;
	if (x->counting) {
		x->pending_done = rec->seq;
		if (rec->type == 1)
			x->pend.frames++;
	} else if (rec->type == 1) {
		x->st.replayed++;
	}
	if (x->batch_packets >= x->o.batch || x->walked >= x->o.frames_per_walk)
		return 1;
	return 0;
}

/* ---- loading the committed state ---- */

static int restore_cb(void *ctx, const uint8_t victim[16], uint8_t kind, const uint8_t *state, size_t len)
{
	(void)victim;
	(void)kind;
	struct d4_analyze_bs *x = ctx;
	int rc = d4_bs_agg_restore(x->agg, state, len);
	if (rc)
		d4_warn("backscatter: a stored vector state could not be restored: %s", d4_strerror(rc));
	return rc;
}

static int parse_cursor(struct d4_analyze_bs *x, const uint8_t *c, size_t len)
{
	if (len < CUR_HDR || c[0] != CUR_V1)
		return D4_ECORRUPT;
	size_t n = ((size_t)c[41] << 8) | c[42];
	if (len != CUR_HDR + n * CUR_SESS || n > x->o.max_sessions)
		return D4_ECORRUPT;
	x->done = d4_get_u64be(c + 1);
	x->replay_from = d4_get_u64be(c + 9);
	x->lost_total = d4_get_u64be(c + 17);
	x->clock_us = d4_get_u64be(c + 25);
	x->next_tick_us = d4_get_u64be(c + 33);
	if (x->replay_from == 0 || x->replay_from > x->done + 1)
		return D4_ECORRUPT;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = c + CUR_HDR + i * CUR_SESS;
		uint64_t id = d4_get_u64be(p);
		uint8_t fl = p[8];
		uint64_t aseq = d4_get_u64be(p + 17);
		if (sess_find(x, id) || (aseq && (aseq < x->replay_from || aseq > x->done)))
			return D4_ECORRUPT;
		uint64_t last = d4_get_u64be(p + 29);
		if (last > x->done)
			return D4_ECORRUPT;
		struct bsess *e = sess_new(x, id, last);
		if (!e)
			return D4_ENOMEM;
		e->failed = (fl & F_FAILED) != 0;
		if (fl & F_HAVE) {
			struct d4_pcap_info in = {d4_get_u32be(p + 9), d4_get_u32be(p + 13), (fl & F_BE) != 0,
						  (fl & F_NSEC) != 0};
			d4_pcapsplit_resume(e->sp, &in);
		} else if (!aseq && !e->failed) {
			return D4_ECORRUPT; /* a stream without a header is in its header */
		}
		e->start_seq = aseq;
		e->start_off = d4_get_u32be(p + 25);
		e->resumed = aseq == 0;
		/* a replay from a stream's first frame reads its header again */
		if (aseq && !(fl & F_HAVE))
			d4_pcapsplit_reset(e->sp);
	}
	return 0;
}

/* Builds the in-memory state of the last commit: a fresh aggregator with
 * the stored open vectors, the streams of the cursor, reading from
 * replay_from. */
static int load(struct d4_analyze_bs *x)
{
	sess_clear_all(x);
	batch_clear(x);
	d4_bs_agg_free(x->agg);
	x->agg = d4_bs_agg_new(&x->o.agg);
	if (!x->agg)
		return D4_ENOMEM;
	size_t cl = 0;
	int rc = d4_store_bs_cursor_get(x->s, D4_ANALYZE_BS_CURSOR, x->cv, D4_STORE_BS_CURSOR_MAX, &cl);
	x->fresh = rc == D4_ENOTFOUND;
	if (rc == D4_ENOTFOUND) {
		x->done = 0;
		x->replay_from = 1;
		x->lost_total = 0;
		x->clock_us = 0;
		x->next_tick_us = 0;
	} else if (rc) {
		return rc;
	} else {
		if ((rc = parse_cursor(x, x->cv, cl)) != 0)
			return rc;
		/* the states of a consumer that never committed are leftovers */
		if ((rc = d4_store_bs_states_foreach(x->s, restore_cb, x)) != 0)
			return rc;
	}
	x->clock_c = x->clock_us;
	x->next_tick_c = x->next_tick_us;
	x->pending_done = x->done;
	x->next = x->replay_from;
	return 0;
}

static void refresh_lag(struct d4_analyze_bs *x)
{
	struct d4_totals t;
	if (d4_store_totals(x->s, &t) == 0)
		x->st.last_seq = t.frames;
}

/* Back to the last commit after an error in the middle of a batch. */
static int rewind_to_commit(struct d4_analyze_bs *x)
{
	int rc = load(x);
	if (rc)
		d4_warn("backscatter: reloading the committed state: %s", d4_strerror(rc));
	return rc;
}

/* Reads and commits; on an error the aggregator may hold part of a frame,
 * so the consumer starts again from its last commit (the next call
 * reloads it). */
static int bs_step(struct d4_analyze_bs *x, unsigned max_batches, int force, unsigned min_commit_ms, int *idle)
{
	int batches = 0;
	for (;;) {
		if (x->batch_packets >= x->o.batch) {
			int rc = batch_commit(x);
			if (rc < 0)
				return rc;
			if (rc == 0) {
				batches++;
				if (max_batches && (unsigned)batches >= max_batches)
					return batches;
			}
		}
		x->walked = 0;
		x->walk_err = 0;
		uint64_t frames0 = x->pend.frames;
		int rc = d4_store_frame_foreach(x->s, x->next, 0, walk_cb, x);
		x->st.frames += x->pend.frames - frames0;
		if (rc < 0)
			return rc;
		int caught_up = x->batch_packets < x->o.batch && x->walked < x->o.frames_per_walk;
		if (!caught_up)
			continue;
		if (x->pending_done > x->done &&
		    (force || min_commit_ms == 0 || d4_now_ms() - x->last_commit_ms >= min_commit_ms)) {
			rc = batch_commit(x);
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

int analyze_bs_step(struct d4_analyze_bs *x, unsigned max_batches, int force, unsigned min_commit_ms, int *idle)
{
	if (idle)
		*idle = 0;
	int rc = x->agg ? 0 : rewind_to_commit(x);
	if (!rc)
		rc = bs_step(x, max_batches, force, min_commit_ms, idle);
	if (rc < 0) {
		d4_bs_agg_free(x->agg);
		x->agg = NULL;
	}
	return rc;
}

int analyze_bs_flush(struct d4_analyze_bs *x)
{
	if (!x->agg)
		return 0;
	int rc = batch_commit(x);
	return rc > 0 ? D4_EBUSY : rc;
}

/* ---- options ---- */

int d4_analyze_bs_telescope_parse(const char *list, struct d4_bs_prefix *out, size_t cap, size_t *n, char *err,
				  size_t errsize)
{
	*n = 0;
	const char *p = list ? list : "";
	while (*p) {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		size_t k = 0;
		while (p[k] && p[k] != ',' && !isspace((unsigned char)p[k]))
			k++;
		char item[64];
		if (k >= sizeof(item) || *n >= cap) {
			snprintf(err, errsize, "backscatter.telescope: %s",
				 *n >= cap ? "too many prefixes" : "an item is too long");
			return D4_EINVAL;
		}
		memcpy(item, p, k);
		item[k] = 0;
		if (d4_bs_prefix_parse(item, &out[*n]) != 0) {
			snprintf(err, errsize,
				 "backscatter.telescope: '%s' is not an address or prefix (a.b.c.d/n, v6addr/n)", item);
			return D4_EINVAL;
		}
		(*n)++;
		p += k;
	}
	return 0;
}

int d4_analyze_bs_opts_check(const struct d4_analyze_bs_opts *o, char *err, size_t errsize)
{
	const struct d4_bs_opts *a = &o->agg;
	for (size_t i = 0; i < a->n_telescope; i++)
		if (a->telescope[i].len > 128) {
			snprintf(err, errsize, "backscatter.telescope: a prefix length over 128");
			return D4_EINVAL;
		}
	if (a->live && a->live_window_s == 0) {
		snprintf(err, errsize, "backscatter.live_window must be at least 1 s in live mode");
		return D4_EINVAL;
	}
	if (a->min_peak_ppm > a->min_packets && a->min_packets) {
		snprintf(err, errsize,
			 "backscatter.min_peak (%u) above backscatter.min_packets (%u): a vector with min_peak "
			 "packets in one minute already has more than min_packets",
			 a->min_peak_ppm, a->min_packets);
		return D4_EINVAL;
	}
	struct d4_bs_agg *t = d4_bs_agg_new(a);
	if (!t) {
		snprintf(err, errsize, "backscatter: the thresholds are not accepted by the aggregator");
		return D4_EINVAL;
	}
	d4_bs_agg_free(t);
	return 0;
}

static void opts_defaults(struct d4_analyze_bs_opts *o)
{
	if (!o->batch)
		o->batch = DEF_BATCH;
	if (!o->max_sessions)
		o->max_sessions = DEF_MAX_SESSIONS;
	if (o->max_sessions > CUR_SESS_MAX)
		o->max_sessions = CUR_SESS_MAX;
	if (!o->future_s)
		o->future_s = DEF_FUTURE_S;
	if (!o->frames_per_walk)
		o->frames_per_walk = DEF_FRAMES_PER_WALK;
}

int d4_analyze_bs_new(struct d4_store *s, const struct d4_analyze_bs_opts *o, struct d4_analyze_bs **out)
{
	*out = NULL;
	struct d4_analyze_bs *x = calloc(1, sizeof(*x));
	if (!x)
		return D4_ENOMEM;
	x->s = s;
	if (o)
		x->o = *o;
	else
		d4_bs_opts_default(&x->o.agg);
	opts_defaults(&x->o);
	x->cv = malloc(D4_STORE_BS_CURSOR_MAX);
	if (x->o.agg.n_telescope) {
		x->tele = malloc(x->o.agg.n_telescope * sizeof(*x->tele));
		if (x->tele)
			memcpy(x->tele, o->agg.telescope, x->o.agg.n_telescope * sizeof(*x->tele));
	}
	if (!x->cv || (x->o.agg.n_telescope && !x->tele)) {
		d4_analyze_bs_free(x);
		return D4_ENOMEM;
	}
	x->o.agg.telescope = x->tele;
	char err[256];
	if (d4_analyze_bs_opts_check(&x->o, err, sizeof(err)) != 0) {
		d4_warn("%s", err);
		d4_analyze_bs_free(x);
		return D4_EINVAL;
	}
	int rc = load(x);
	if (rc) {
		d4_analyze_bs_free(x);
		return rc;
	}
	x->last_commit_ms = d4_now_ms();
	if (x->replay_from <= x->done)
		d4_info("backscatter: resuming after frame %" PRIu64 ", replaying from %" PRIu64
			" to rebuild partial state",
			x->done, x->replay_from);
	refresh_lag(x);
	*out = x;
	return 0;
}

int d4_analyze_bs_step(struct d4_analyze_bs *x, unsigned max_batches, int *idle)
{
	int rc = analyze_bs_step(x, max_batches, 1, 0, idle);
	refresh_lag(x);
	return rc;
}

int d4_analyze_bs_maintain(struct d4_analyze_bs *x, uint64_t now_s, uint64_t expire_every_s)
{
	if (x->agg && x->next > x->done) {
		struct d4_totals t;
		int rc = d4_store_totals(x->s, &t);
		if (rc)
			return rc;
		for (unsigned b = 0; b < NBUCKETS; b++) {
			struct bsess *e = x->bucket[b];
			while (e) {
				struct bsess *nx = e->hnext;
				if (!e->drop_at) {
					struct d4_session_info si;
					rc = d4_store_session_get(x->s, e->id, &si);
					if (rc == D4_ENOTFOUND ||
					    (rc == 0 && (si.ended || (x->o.sessions_dead_before &&
								      si.started < x->o.sessions_dead_before))))
						e->drop_at = t.frames;
					else if (rc)
						return rc;
				}
				/* read to its end: a partial record will never complete, and
				 * live mode's restart points are of no use without new frames
				 * of this stream (its flows are in the table already) */
				if (e->drop_at && x->next > e->drop_at)
					sess_remove(x, e);
				e = nx;
			}
		}
		x->st.last_seq = t.frames;
	}
	if (x->o.retention_s && now_s > x->o.retention_s &&
	    (x->last_expire_s == 0 || now_s - x->last_expire_s >= expire_every_s)) {
		uint64_t removed = 0;
		int rc = d4_store_bs_expire(x->s, (now_s - x->o.retention_s) * 1000000u, 0, &removed);
		x->last_expire_s = now_s;
		x->st.expired += removed;
		if (removed)
			d4_info("backscatter: %" PRIu64 " vectors expired (last packet older than %" PRIu64 " s)",
				removed, x->o.retention_s);
		if (rc)
			return rc;
	}
	return 0;
}

void d4_analyze_bs_stats(struct d4_analyze_bs *x, struct d4_analyze_bs_stats *out)
{
	/* counters of committed batches only: a batch dropped by a restart or
	 * an error is read again */
	*out = x->st;
	if (x->agg) {
		struct d4_bs_stats as;
		d4_bs_agg_stats(x->agg, &as);
		out->vectors_open = as.vectors_open;
		out->vectors_unreported = as.vectors_unreported;
	}
	out->clock_us = x->clock_us;
	out->cursor = x->done;
	out->replay_from = x->replay_from;
	out->lag = x->st.last_seq > x->done ? x->st.last_seq - x->done : 0;
	out->sessions = x->nsess;
}

void d4_analyze_bs_free(struct d4_analyze_bs *x)
{
	if (!x)
		return;
	sess_clear_all(x);
	d4_bs_agg_free(x->agg);
	free(x->tele);
	free(x->vecs);
	free(x->deltas);
	free(x->states);
	free(x->sarena);
	free(x->sst);
	free(x->cv);
	free(x);
}
