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
 * emitted by a tick (D4_EBUSY), the batch goes on to the next frame.
 *
 * The log, the cursor's header, the session table and the batches are the
 * shared follower's (follow.c). Its clean points are not used: a stream's
 * (frame, offset) point above is finer (any record boundary, the open
 * vectors being stored), and live mode needs the packets of the window
 * again, which a point after them would not give. */
#include "analyze_internal.h"
#include "d4_error.h"
#include "follow_internal.h"
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
#define DEF_MAX_BUFFERED    ((size_t)64 << 20)
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
#define CUR_HDR	     43u /* D4_FOLLOW_HDR, clock_us, next_tick_us, n */
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
	struct d4_follow_sess h;
	struct d4_pcapsplit *sp;
	int failed; /* refused stream: its frames are only counted */
	/* where the unit in progress began (0: at a boundary) */
	uint64_t unit_seq;
	uint32_t unit_off;
	/* replay after a restart: frames before start_seq are skipped, frame
	 * start_seq is read from start_off */
	uint64_t start_seq;
	uint32_t start_off;
	int resumed;   /* start point reached (or none needed) */
	int replaying; /* read again from its start point up to done_seq */
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
	int fresh;		       /* no cursor was stored: the first commit resets the stored states */
	struct d4_follow *f;	       /* the log, the cursor and the sessions */
	uint64_t clock_c, next_tick_c; /* as committed */
	/* reading */
	uint64_t clock_us, next_tick_us;
	int counting;
	const struct d4_frame_rec *cur_rec;
	uint64_t frame_max_ts;
	struct bsess *cur_sess;
	struct d4_store_bs_counters *cur_delta;
	size_t held; /* bytes of records cut across frames, over all streams */
	/* open batch */
	struct pvec *vecs;
	size_t nvecs, capvecs;
	uint64_t batch_packets;
	struct pstate *states;
	size_t nstates, capstates;
	uint8_t *sarena;
	size_t salen, sacap;
	struct d4_store_bs_state *sst; /* built at commit */
	size_t capsst;
	struct d4_analyze_bs_stats st, pend;
};

/* ---- sessions (follow.c calls these) ---- */

static void sess_free_cb(void *ctx, struct d4_follow_sess *h)
{
	struct d4_analyze_bs *x = ctx;
	struct bsess *e = (struct bsess *)h;
	if (e->sp) {
		x->held -= d4_pcapsplit_held(e->sp);
		d4_pcapsplit_free(e->sp);
		e->sp = NULL;
	}
}

static struct bsess *sess_new(struct d4_analyze_bs *x, uint64_t id, uint64_t seq)
{
	struct bsess *e = (struct bsess *)d4_follow_sess_new(x->f, id, seq);
	if (!e)
		return NULL;
	e->sp = d4_pcapsplit_new(0);
	if (!e->sp) {
		d4_follow_sess_remove(x->f, &e->h);
		return NULL;
	}
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

static uint64_t anchor_cb(void *ctx, const struct d4_follow_sess *h)
{
	(void)ctx;
	uint64_t seq;
	uint32_t off;
	sess_anchor((const struct bsess *)h, &seq, &off);
	return seq;
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
	return d4_follow_delta(x->f, uuid);
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

static void batch_clear_cb(void *ctx)
{
	struct d4_analyze_bs *x = ctx;
	x->nvecs = 0;
	x->nstates = 0;
	x->salen = 0;
	x->batch_packets = 0;
	memset(&x->pend, 0, sizeof(x->pend));
}

static int batch_full_cb(void *ctx)
{
	const struct d4_analyze_bs *x = ctx;
	return x->batch_packets >= x->o.batch;
}

/* The cursor after its header:
 *   u64 clock_us | u64 next_tick_us | u16 n | n x session (CUR_SESS) */
static size_t cursor_put_cb(void *ctx, uint8_t *c, size_t cap)
{
	struct d4_analyze_bs *x = ctx;
	(void)cap; /* max_sessions <= CUR_SESS_MAX */
	d4_put_u64be(c, x->clock_us);
	d4_put_u64be(c + 8, x->next_tick_us);
	size_t n = 0, off = CUR_HDR - D4_FOLLOW_HDR;
	for (struct d4_follow_sess *h = d4_follow_sess_first(x->f); h; h = d4_follow_sess_next(x->f, h)) {
		struct bsess *e = (struct bsess *)h;
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
		d4_put_u64be(c + off, e->h.id);
		c[off + 8] = fl;
		d4_put_u32be(c + off + 9, in.linktype);
		d4_put_u32be(c + off + 13, in.snaplen);
		d4_put_u64be(c + off + 17, aseq);
		d4_put_u32be(c + off + 25, aoff);
		d4_put_u64be(c + off + 29, e->h.last_seq);
		off += CUR_SESS;
		n++;
	}
	c[16] = (uint8_t)(n >> 8);
	c[17] = (uint8_t)n;
	return off;
}

/* Commits the open batch. 1: not now (a vector closed by a packet awaits
 * its tick: the batch goes on); 0 committed; < 0 error (the caller goes
 * back to the last commit). */
static int commit_cb(void *ctx)
{
	struct d4_analyze_bs *x = ctx;
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
		for (struct d4_follow_sess *h = d4_follow_sess_first(x->f); h; h = d4_follow_sess_next(x->f, h))
			live_trim(x, (struct bsess *)h);
	const uint8_t *cv;
	size_t cvl;
	d4_follow_cursor(x->f, &cv, &cvl);
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
	u.cursor = cv;
	u.cursor_len = cvl;
	u.deltas = d4_follow_deltas(x->f, &u.ndeltas);
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
	x->clock_c = x->clock_us;
	x->next_tick_c = x->next_tick_us;
	x->st.states_written += x->nstates;
	x->st.vectors_ongoing += x->pend.vectors_ongoing;
	x->st.vectors_reported += x->pend.vectors_reported;
	add_read_counters(&x->st, &x->pend);
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
	struct bsess *e = (struct bsess *)d4_follow_sess_find(x->f, rec->session);
	if (!x->counting) {
		/* replay: only streams that hold state at done_seq, from their point */
		if (!e || e->failed)
			return 0;
		if (e->resumed ? !e->replaying : rec->seq < e->start_seq)
			return 0;
	} else if (!e) {
		if (!session_wanted(x, rec->session))
			return 0;
		if (!(e = sess_new(x, rec->session, rec->seq)))
			return D4_ENOMEM;
		e->resumed = 1;
	}
	if (rec->seq > e->h.last_seq)
		e->h.last_seq = rec->seq;
	uint32_t off = 0;
	if (!e->resumed) {
		/* the frame a replay starts in (a counted frame here means the
		 * start point was deleted by retention: the stream then fails) */
		if (rec->seq == e->start_seq)
			off = e->start_off <= rec->size ? e->start_off : rec->size;
		e->resumed = 1;
		e->replaying = !x->counting;
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
	size_t held0 = d4_pcapsplit_held(e->sp);
	int rc = d4_pcapsplit_feed(e->sp, payload + off, n, on_record, x);
	x->held += d4_pcapsplit_held(e->sp) - held0;
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
			d4_info("backscatter: session %" PRIu64 ": pcap stream refused (%s)", e->h.id,
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
	/* Records held across frames are bounded over all streams (a sensor
	 * opening many sessions, each with a large record left unfinished,
	 * would pin max_sessions x 256 KiB). Not during a replay: the state at
	 * done_seq was within the bound, and the replay rebuilds it. */
	while (x->counting && x->held > x->o.max_buffered && d4_follow_nsess(x->f) > 1 &&
	       d4_follow_evict(x->f, &e->h, "record buffer cap"))
		;
	return 0;
}

static int frame_cb(void *ctx, const struct d4_frame_rec *rec, const uint8_t *payload, int counting)
{
	struct d4_analyze_bs *x = ctx;
	x->counting = counting;
	return frame_process(x, rec, payload);
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
	size_t ext = CUR_HDR - D4_FOLLOW_HDR;
	if (len < ext)
		return D4_ECORRUPT;
	size_t n = ((size_t)c[16] << 8) | c[17];
	if (len != ext + n * CUR_SESS || n > x->o.max_sessions)
		return D4_ECORRUPT;
	x->clock_us = d4_get_u64be(c);
	x->next_tick_us = d4_get_u64be(c + 8);
	uint64_t done = d4_follow_done(x->f), replay_from = d4_follow_replay_from(x->f);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = c + ext + i * CUR_SESS;
		uint64_t id = d4_get_u64be(p);
		uint8_t fl = p[8];
		uint64_t aseq = d4_get_u64be(p + 17);
		if (d4_follow_sess_find(x->f, id) || (aseq && (aseq < replay_from || aseq > done)))
			return D4_ECORRUPT;
		uint64_t last = d4_get_u64be(p + 29);
		if (last > done)
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

/* The in-memory state of the last commit, after the follower's part: a
 * fresh aggregator with the stored open vectors, the streams of the
 * cursor. */
static int cursor_load_cb(void *ctx, const uint8_t *p, size_t n, int present)
{
	struct d4_analyze_bs *x = ctx;
	d4_bs_agg_free(x->agg);
	x->agg = d4_bs_agg_new(&x->o.agg);
	if (!x->agg)
		return D4_ENOMEM;
	x->fresh = !present;
	x->clock_us = 0;
	x->next_tick_us = 0;
	int rc = 0;
	if (present) {
		if ((rc = parse_cursor(x, p, n)) != 0)
			return rc;
		/* the states of a consumer that never committed are leftovers */
		if ((rc = d4_store_bs_states_foreach(x->s, restore_cb, x)) != 0)
			return rc;
	}
	x->clock_c = x->clock_us;
	x->next_tick_c = x->next_tick_us;
	return 0;
}

/* Reads and commits; on an error the aggregator may hold part of a frame,
 * so the consumer starts again from its last commit (the next call
 * reloads it). */
int analyze_bs_step(struct d4_analyze_bs *x, unsigned max_batches, int force, unsigned min_commit_ms, int *idle)
{
	if (idle)
		*idle = 0;
	int rc = x->agg ? 0 : d4_follow_rewind(x->f);
	if (!rc)
		rc = d4_follow_step(x->f, max_batches, force, min_commit_ms, idle);
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
	int rc = d4_follow_flush(x->f);
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
	if (!o->max_buffered)
		o->max_buffered = DEF_MAX_BUFFERED;
}

static int expire_cb(void *ctx, uint64_t before_s, uint64_t *removed)
{
	struct d4_analyze_bs *x = ctx;
	int rc = d4_store_bs_expire(x->s, before_s * 1000000u, 0, removed);
	x->st.expired += *removed;
	return rc;
}

static const uint8_t bs_types[] = {1};

static const struct d4_follow_ops bs_ops = {
    .name = "backscatter",
    .sess_size = sizeof(struct bsess),
    .delta_size = sizeof(struct d4_store_bs_counters),
    .layout = D4_FOLLOW_PLAIN,
    .version = CUR_V1,
    .types = bs_types,
    .ntypes = sizeof(bs_types),
    .frame = frame_cb,
    .batch_full = batch_full_cb,
    .commit = commit_cb,
    .batch_clear = batch_clear_cb,
    .anchor = anchor_cb,
    .sess_free = sess_free_cb,
    .cursor_put = cursor_put_cb,
    .cursor_load = cursor_load_cb,
    .expire = expire_cb,
    .expire_what = "vectors expired (last packet",
};

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
	uint8_t *cv = malloc(D4_STORE_BS_CURSOR_MAX);
	if (x->o.agg.n_telescope) {
		x->tele = malloc(x->o.agg.n_telescope * sizeof(*x->tele));
		if (x->tele)
			memcpy(x->tele, o->agg.telescope, x->o.agg.n_telescope * sizeof(*x->tele));
	}
	if (!cv || (x->o.agg.n_telescope && !x->tele)) {
		free(cv);
		d4_analyze_bs_free(x);
		return D4_ENOMEM;
	}
	x->o.agg.telescope = x->tele;
	char err[256];
	if (d4_analyze_bs_opts_check(&x->o, err, sizeof(err)) != 0) {
		d4_warn("%s", err);
		free(cv);
		d4_analyze_bs_free(x);
		return D4_EINVAL;
	}
	size_t cl = 0;
	int rc = d4_store_bs_cursor_get(x->s, D4_ANALYZE_BS_CURSOR, cv, D4_STORE_BS_CURSOR_MAX, &cl);
	if (rc == D4_ENOTFOUND) {
		cl = 0;
		rc = 0;
	}
	struct d4_follow_cfg fc;
	memset(&fc, 0, sizeof(fc));
	fc.max_sessions = x->o.max_sessions;
	fc.frames_per_walk = x->o.frames_per_walk;
	fc.cursor_max = D4_STORE_BS_CURSOR_MAX;
	if (!rc)
		rc = d4_follow_new(s, &bs_ops, x, &fc, cv, cl, &x->f);
	free(cv);
	if (rc) {
		d4_analyze_bs_free(x);
		return rc;
	}
	*out = x;
	return 0;
}

int d4_analyze_bs_step(struct d4_analyze_bs *x, unsigned max_batches, int *idle)
{
	int rc = analyze_bs_step(x, max_batches, 1, 0, idle);
	d4_follow_refresh_lag(x->f);
	return rc;
}

int d4_analyze_bs_maintain(struct d4_analyze_bs *x, uint64_t now_s, uint64_t expire_every_s)
{
	if (x->agg) {
		/* read to its end: a partial record will never complete, and
		 * live mode's restart points are of no use without new frames
		 * of this stream (its flows are in the table already) */
		int rc = d4_follow_maintain(x->f, x->o.sessions_dead_before);
		if (rc)
			return rc;
	}
	return d4_follow_expire(x->f, now_s, expire_every_s, x->o.retention_s);
}

void d4_analyze_bs_stats(struct d4_analyze_bs *x, struct d4_analyze_bs_stats *out)
{
	/* counters of committed batches only: a batch dropped by a restart or
	 * an error is read again */
	struct d4_follow_stats fs;
	d4_follow_stats(x->f, &fs);
	*out = x->st;
	if (x->agg) {
		struct d4_bs_stats as;
		d4_bs_agg_stats(x->agg, &as);
		out->vectors_open = as.vectors_open;
		out->vectors_unreported = as.vectors_unreported;
	}
	D4_FOLLOW_STATS_PUT(out, fs);
	out->frames = fs.frames;
	out->clock_us = x->clock_us;
}

void d4_analyze_bs_free(struct d4_analyze_bs *x)
{
	if (!x)
		return;
	d4_follow_free(x->f);
	d4_bs_agg_free(x->agg);
	free(x->tele);
	free(x->vecs);
	free(x->states);
	free(x->sarena);
	free(x->sst);
	free(x);
}
