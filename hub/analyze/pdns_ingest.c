/* The pDNS consumer of the frame log: frames of types 8 (passivedns CSV),
 * 6 and 254/pdns-cof (COF NDJSON) and 1 (pcap stream) become observations,
 * committed in batches with the cursor and the per-sensor counters in one
 * store transaction (d4_store_pdns_apply).
 *
 * Exact restarts (follow.c): every observation and every counted error
 * belongs to the frame that completes it, and only frames after done_seq
 * are counted. The cursor also records replay_from, the oldest frame that
 * the per-session state at done_seq depends on (the start of a buffered
 * line; for a pcap stream its last clean point, kept in the cursor with
 * the pcap header, else its first frame); after a restart the consumer
 * reads again from there, rebuilding that state while discarding what
 * those frames complete. docs/pdns.md "Ingest from the frame log". */
#include "analyze_internal.h"
#include "follow_internal.h"
#include "d4_error.h"
#include "d4_log.h"
#include "d4_reader.h"
#include "d4_pdns.h"
#include "d4_store.h"
#include "d4_store_pdns.h"
#include "d4_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEF_BATCH	    10000u
#define DEF_BATCH_GROW	    16u	 /* batch_max = 16 x batch */
#define DEF_TXN_MS	    300u /* a transaction holds LMDB's write lock (the frame writer waits) */
#define DEF_MAX_SESSIONS    4096u
#define DEF_MAX_LINE	    ((size_t)D4_PDNS_COF_LINE_MAX + 1024)
#define DEF_MAX_BUFFERED    ((size_t)64 << 20)
#define DEF_MAX_TCP	    ((size_t)4 << 20)
#define DEF_FRAMES_PER_WALK 4096u
#define CUR_V2		    2u /* with clean points (follow_internal.h) */

enum skind { K_CSV = 1, K_COF, K_PCAP, K_IGNORE };

/* h.first: pcap, the stream's start; h.last_rec: lines, the last frame
 * read; h.stream_end: an unterminated last line is complete. */
struct sess {
	struct d4_follow_sess h;
	uint8_t kind;		   /* enum skind */
	struct d4_follow_lines ln; /* lines */
	/* pcap */
	struct d4_pdns_pcap *px;
	struct d4_pdns_pcapstream *ps;
};

/* An observation of the batch: strings as offsets into the arena (it grows). */
struct bobs {
	size_t rr, rrlen, rd, rdlen, bw, bwlen; /* bw == SIZE_MAX: no bailiwick */
	uint16_t rrtype;
	uint8_t tlp;
	uint64_t tf, tl, count;
	uint8_t sensor[16];
	uint8_t org[16];
	uint64_t seq; /* the frame it belongs to; 0 for a last line of an ended stream (no side record) */
};

struct d4_analyze_pdns {
	struct d4_store *s;
	struct d4_analyze_pdns_opts o;
	struct d4_pdns_csv_spec spec;
	struct d4_follow *f; /* the log, the cursor and the sessions */
	struct d4_follow_lines_cfg lc;
	size_t buffered;
	/* open batch */
	struct bobs *obs;
	size_t nobs, capobs;
	char *arena;
	size_t alen, acap;
	size_t eff_batch;		/* observations per commit now (adapted to txn_ms) */
	struct d4_store_pdns_obs *sobs; /* built at commit */
	uint64_t *sseq;			/* ... with the frame of each */
	size_t capsobs;
	struct d4_analyze_pdns_stats pend; /* counters of the open batch */
	/* walk state */
	const struct d4_frame_rec *cur_rec;
	struct sess *cur_sess;	       /* lines: the session being fed */
	struct d4_pdns_stats *cur_fst; /* ... its frame's counters */
	int counting;
	int in_final;	   /* parsing a last line of an ended stream */
	size_t final_from; /* index of the first of those lines in the batch (SIZE_MAX: none) */
	/* stats */
	struct d4_analyze_pdns_stats st;
	uint64_t last_settle_ms; /* sink mode: sessions last looked up (monotonic) */
};

/* ---- sessions (follow.c calls these) ---- */

static void sess_free_cb(void *ctx, struct d4_follow_sess *h)
{
	struct d4_analyze_pdns *x = ctx;
	struct sess *e = (struct sess *)h;
	d4_follow_lines_drop(&e->ln, &x->buffered, D4_FOLLOW_SKIP_NONE);
	d4_pdns_pcapstream_free(e->ps);
	d4_pdns_pcap_free(e->px);
	e->ps = NULL;
	e->px = NULL;
}

/* The oldest frame this session's current state depends on; 0 = none (a
 * pcap stream's clean point, when it has one, is the follower's). */
static uint64_t anchor_cb(void *ctx, const struct d4_follow_sess *h)
{
	(void)ctx;
	const struct sess *e = (const struct sess *)h;
	switch (e->kind) {
	case K_CSV:
	case K_COF: return d4_follow_lines_anchor(&e->ln);
	case K_PCAP: return e->ps ? e->h.first : 0;
	default: return 0;
	}
}

static struct sess *sess_get(struct d4_analyze_pdns *x, const struct d4_frame_rec *rec, uint8_t kind)
{
	struct sess *e = (struct sess *)d4_follow_sess_new(x->f, rec->session, rec->seq);
	if (e)
		e->kind = kind;
	return e;
}

/* A fresh extractor for a pcap stream. */
static int pcap_state_new(struct d4_analyze_pdns *x, struct sess *e)
{
	e->px = d4_pdns_pcap_new(x->o.max_tcp_bytes, 0);
	e->ps = e->px ? d4_pdns_pcapstream_new(e->px) : NULL;
	if (!e->ps) {
		d4_pdns_pcap_free(e->px);
		e->px = NULL;
		return D4_ENOMEM;
	}
	return 0;
}

/* A pcap stream rebuilt at its clean point: a fresh extractor is the same
 * as the empty one it had, past the global header. */
static int resume_cb(void *ctx, struct d4_follow_sess *h)
{
	struct d4_analyze_pdns *x = ctx;
	struct sess *e = (struct sess *)h;
	/* a cursor can come back from a partner (sink mode): it must not make
	 * this consumer read a stream it never reads as pcap, such as frames
	 * received from a partner hub */
	struct d4_session_info si;
	int rc = d4_store_session_get(x->s, h->id, &si);
	if (rc == 0 && (si.fed || si.type != 1))
		return D4_ECORRUPT;
	if (rc != 0 && rc != D4_ENOTFOUND)
		return rc;
	e->kind = K_PCAP;
	rc = pcap_state_new(x, e);
	if (!rc)
		d4_pdns_pcapstream_resume(e->ps, &e->h.info);
	return rc;
}

/* ---- batch ---- */

static int arena_put(struct d4_analyze_pdns *x, const char *p, size_t n, size_t *off)
{
	if (x->alen + n > x->acap) {
		size_t nc = x->acap ? x->acap : 1u << 20;
		while (nc < x->alen + n)
			nc *= 2;
		char *na = realloc(x->arena, nc);
		if (!na)
			return D4_ENOMEM;
		x->arena = na;
		x->acap = nc;
	}
	memcpy(x->arena + x->alen, p, n);
	*off = x->alen;
	x->alen += n;
	return 0;
}

static struct d4_store_pdns_counters *delta_for(struct d4_analyze_pdns *x, const uint8_t uuid[16])
{
	return d4_follow_delta(x->f, uuid);
}

static int emit(void *arg, const struct d4_pdns_obs *o)
{
	struct d4_analyze_pdns *x = arg;
	if (!x->counting)
		return 0; /* replay: this frame was counted before the restart */
	if (x->nobs == x->capobs) {
		size_t nc = x->capobs ? x->capobs * 2 : 1024;
		struct bobs *nb = realloc(x->obs, nc * sizeof(*nb));
		if (!nb)
			return D4_ENOMEM;
		x->obs = nb;
		x->capobs = nc;
	}
	const struct d4_frame_rec *rec = x->cur_rec;
	struct bobs *b = &x->obs[x->nobs];
	size_t rrlen = strlen(o->rrname);
	if (arena_put(x, o->rrname, rrlen, &b->rr) || arena_put(x, o->rdata, o->rdata_len, &b->rd))
		return D4_ENOMEM;
	b->rrlen = rrlen;
	b->rdlen = o->rdata_len;
	b->bw = SIZE_MAX;
	b->bwlen = 0;
	if (o->bailiwick && o->bailiwick[0]) {
		b->bwlen = strlen(o->bailiwick);
		if (arena_put(x, o->bailiwick, b->bwlen + 1, &b->bw)) /* with its NUL: the store takes a C string */
			return D4_ENOMEM;
	}
	b->rrtype = o->rrtype;
	b->tf = o->time_first;
	b->tl = o->time_last;
	b->count = o->count ? o->count : 1;
	memcpy(b->sensor, rec->uuid, 16);
	memcpy(b->org, rec->org, 16);
	b->tlp = rec->tlp;
	b->seq = x->in_final ? 0 : rec->seq;
	x->nobs++;
	return 0;
}

static void batch_clear_cb(void *ctx)
{
	struct d4_analyze_pdns *x = ctx;
	x->nobs = 0;
	x->alen = 0;
	memset(&x->pend, 0, sizeof(x->pend));
	x->final_from = SIZE_MAX;
}

static int batch_full_cb(void *ctx)
{
	struct d4_analyze_pdns *x = ctx;
	return x->nobs >= x->eff_batch;
}

/* The batch size follows the duration of the store transaction: it holds
 * LMDB's single write lock, so the frame writer waits for it (aim: under
 * txn_ms), while each commit costs an fsync and the writes of every page it
 * touched, nearly the same for a small batch as for a large one (so commit
 * rarely: the repeats of a batch are also merged into one write). With a
 * fixed cost F and a cost v per observation, the next size n * txn_ms / ms
 * converges to the n where F + v n = txn_ms. It grows only after a full
 * batch (the log is behind), at most x2 per step up to batch_max; it
 * shrinks at most /2 per step, never below `batch` (when F alone exceeds
 * the target, smaller batches would only cost more commits). The merge does
 * not depend on the batch size (test_analyze: restarts after any batch). */
static void adapt_batch(struct d4_analyze_pdns *x, uint64_t ms)
{
	if (ms == 0)
		ms = 1;
	double next = (double)x->eff_batch * x->o.txn_ms / (double)ms;
	if (next > 2.0 * (double)x->eff_batch)
		next = 2.0 * (double)x->eff_batch;
	if (next < 0.5 * (double)x->eff_batch)
		next = 0.5 * (double)x->eff_batch;
	if (next > (double)x->eff_batch && x->nobs < x->eff_batch)
		return; /* caught up: nothing says a larger batch would fit */
	if (next > (double)x->o.batch_max)
		next = x->o.batch_max;
	if (next < (double)x->o.batch)
		next = x->o.batch;
	x->eff_batch = (size_t)next;
}

/* Commits the open batch: observations, cursor and counter deltas in one
 * transaction. On failure the batch stays for a retry. */
static int commit_cb(void *ctx)
{
	struct d4_analyze_pdns *x = ctx;
	if (x->nobs > x->capsobs) {
		struct d4_store_pdns_obs *ns = realloc(x->sobs, x->nobs * sizeof(*ns));
		if (!ns)
			return D4_ENOMEM;
		x->sobs = ns;
		uint64_t *nq = realloc(x->sseq, x->nobs * sizeof(*nq));
		if (!nq)
			return D4_ENOMEM;
		x->sseq = nq;
		x->capsobs = x->nobs;
	}
	for (size_t i = 0; i < x->nobs; i++) {
		const struct bobs *b = &x->obs[i];
		struct d4_store_pdns_obs *so = &x->sobs[i];
		memset(so, 0, sizeof(*so));
		so->rrname = x->arena + b->rr;
		so->rrname_len = b->rrlen;
		so->rrtype = b->rrtype;
		so->rdata = x->arena + b->rd;
		so->rdata_len = b->rdlen;
		so->bailiwick = b->bw == SIZE_MAX ? NULL : x->arena + b->bw;
		so->time_first = b->tf;
		so->time_last = b->tl;
		so->count = b->count;
		memcpy(so->sensor, b->sensor, 16);
		so->has_sensor = 1;
		so->tlp = b->tlp;
		memcpy(so->org, b->org, 16);
		x->sseq[i] = b->seq;
	}
	const uint8_t *cv;
	size_t cvl, nd;
	d4_follow_cursor(x->f, &cv, &cvl);
	struct d4_store_pdns_counters *deltas = d4_follow_deltas(x->f, &nd);
	struct d4_store_pdns_cursor cur = {D4_ANALYZE_PDNS_CURSOR, cv, cvl, deltas, nd};
	uint64_t t0 = d4_mono_ms();
	/* with each observation's frame: the store records per frame the
	 * tuples' counts right after their merge (the federation source's
	 * mixing thresholds, docs/federation.md) */
	int rc = x->o.sink ? x->o.sink(x->o.sink_ctx, x->sobs, x->sseq, x->nobs,
				       x->final_from < x->nobs ? x->final_from : x->nobs, cv, cvl)
			   : d4_store_pdns_apply_frames(x->s, x->sobs, x->sseq, x->nobs, &cur);
	if (rc != 0)
		return rc;
	uint64_t ms = d4_mono_ms() - t0;
	if (ms > x->st.txn_ms_max)
		x->st.txn_ms_max = ms;
	d4_debug("pdns: %zu observations committed in %llu ms (batch %zu)", x->nobs, (unsigned long long)ms,
		 x->eff_batch);
	/* a sink's batches are part of its positions: they never change size */
	if (!x->o.sink)
		adapt_batch(x, ms);
	x->st.batch = x->eff_batch;
	x->st.observations += x->pend.observations;
	x->st.bad_lines += x->pend.bad_lines;
	x->st.bad_packets += x->pend.bad_packets;
	return 0;
}

/* ---- lines (CSV, COF) ---- */

static int line_parse(struct d4_analyze_pdns *x, struct sess *e, const char *p, size_t n, struct d4_pdns_stats *fst)
{
	if (n && p[n - 1] == '\r')
		n--;
	if (n == 0)
		return 0; /* blank lines separate nothing and are not errors */
	int rc =
	    e->kind == K_CSV ? d4_pdns_csv_line(&x->spec, p, n, emit, x, fst) : d4_pdns_cof_line(p, n, emit, x, fst);
	return rc == D4_ENOMEM ? rc : 0; /* parse errors are counted by the parsers */
}

static int line_cb(void *ctx, const char *p, size_t n)
{
	struct d4_analyze_pdns *x = ctx;
	return line_parse(x, x->cur_sess, p, n, x->cur_fst);
}

/* Lines over max_line (or over the global buffer cap) are skipped up to
 * their newline and count as bad. */
static void bad_line_cb(void *ctx)
{
	struct d4_analyze_pdns *x = ctx;
	x->cur_fst->bad_lines++;
}

/* ---- frames ---- */

/* The kind of a session met for the first time. Frames received from a
 * partner hub (si.fed) are not turned into observations: their tuples
 * arrive as the pdns kind, filtered by the origin's egress rule for pDNS;
 * deriving them again here would count them twice and pass tuples that
 * rule refused (docs/pdns.md, docs/federation.md "Provenance"). */
static uint8_t session_kind(struct d4_analyze_pdns *x, uint64_t session, uint8_t kind)
{
	struct d4_session_info si;
	if (d4_store_session_get(x->s, session, &si) != 0)
		return kind ? kind : K_IGNORE;
	if (si.fed)
		return K_IGNORE;
	if (kind == 0)
		return !strcmp(si.ext_type, "pdns-cof") ? K_COF : K_IGNORE;
	return kind;
}

static int count_frame(struct d4_analyze_pdns *x, const struct d4_frame_rec *rec, size_t nobs0,
		       const struct d4_pdns_stats *fst);

static int frame_process(struct d4_analyze_pdns *x, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	uint8_t kind;
	switch (rec->type) {
	case 1: kind = K_PCAP; break;
	case 6: kind = K_COF; break;
	case 8: kind = K_CSV; break;
	case 254: kind = 0; break;
	default: return 0; /* not for this analyzer: no state */
	}
	struct sess *e = (struct sess *)d4_follow_sess_find(x->f, rec->session);
	if (!e)
		kind = session_kind(x, rec->session, kind);
	if (!e) {
		e = sess_get(x, rec, kind);
		if (!e)
			return D4_ENOMEM;
	}
	e->h.last_seq = rec->seq;
	if (e->kind == K_IGNORE || d4_follow_skip(&e->h, rec->seq))
		return 0;
	struct d4_pdns_stats fst;
	memset(&fst, 0, sizeof(fst));
	x->cur_rec = rec;
	size_t nobs0 = x->nobs;
	int rc = 0;
	if (e->kind == K_PCAP) {
		if (!e->ps) {
			if ((rc = pcap_state_new(x, e)) != 0)
				return rc;
			e->h.first = rec->seq;
		}
		rc = d4_pdns_pcapstream_feed(e->ps, payload, rec->size, emit, x, &fst);
		if (rc != D4_ENOMEM)
			rc = 0; /* a failed stream is counted (bad_packets) and then ignores its input */
		/* Empty at a record boundary: a restart can rebuild this stream
		 * from its next frame. The rule depends on the frames only, so a
		 * replay finds the same points. */
		struct d4_pcap_info pi;
		if (!rc && d4_pdns_pcap_idle(e->px) && d4_pdns_pcapstream_boundary(e->ps, &pi) == 0)
			d4_follow_clean(&e->h, rec->seq, &pi);
	} else {
		x->cur_sess = e;
		x->cur_fst = &fst;
		rc = d4_follow_lines_feed(&e->ln, &x->lc, payload, rec->size, rec->seq);
	}
	if (rc)
		return rc;
	if (e->kind != K_PCAP)
		e->h.last_rec = *rec;
	return x->counting ? count_frame(x, rec, nobs0, &fst) : 0;
}

/* Adds what a frame (or a stream's last line) produced to the open batch's
 * counters, for its sensor. */
static int count_frame(struct d4_analyze_pdns *x, const struct d4_frame_rec *rec, size_t nobs0,
		       const struct d4_pdns_stats *fst)
{
	struct d4_store_pdns_counters *d = delta_for(x, rec->uuid);
	if (!d)
		return D4_ENOMEM;
	uint64_t nobs = x->nobs - nobs0;
	d->observations += nobs;
	d->bad_lines += fst->bad_lines;
	d->bad_packets += fst->bad_packets;
	x->pend.observations += nobs;
	x->pend.bad_lines += fst->bad_lines;
	x->pend.bad_packets += fst->bad_packets;
	x->st.not_dns += fst->not_dns;
	x->st.too_long += fst->too_long;
	x->st.tcp_gaps += fst->tcp_gaps;
	return 0;
}

/* A line stream ended by its sender (the session closed with "peer closed
 * ...") whose every frame has been read: its unterminated last line is
 * complete, parsed and counted now (a file without a final newline). It
 * belongs to the session's last frame; the batch is committed even if no
 * frame was added (pend_final). Idempotent across restarts: until that
 * commit the cursor's replay_from still covers the line, so a restart
 * rebuilds it and finalises it once; after it the session holds no state. */
static int finish_cb(void *ctx, struct d4_follow_sess *h)
{
	struct d4_analyze_pdns *x = ctx;
	struct sess *e = (struct sess *)h;
	if ((e->kind != K_CSV && e->kind != K_COF) || !e->h.stream_end || e->ln.skipping || e->ln.len == 0)
		return 0;
	/* parsed and committed before a restart (a replay rebuilt it), or not
	 * recordable: parsing it could count it twice after a restart */
	if (d4_follow_fin_add(x->f, &e->h, "unterminated last line not parsed"))
		return 0;
	if (x->final_from == SIZE_MAX)
		x->final_from = x->nobs;
	struct d4_pdns_stats fst;
	memset(&fst, 0, sizeof(fst));
	x->cur_rec = &e->h.last_rec;
	x->counting = 1;
	size_t nobs0 = x->nobs;
	x->in_final = 1;
	int rc = line_parse(x, e, e->ln.buf, e->ln.len, &fst);
	x->in_final = 0;
	e->ln.len = 0;
	if (!rc)
		rc = count_frame(x, &e->h.last_rec, nobs0, &fst);
	x->cur_rec = NULL; /* e goes away next */
	return rc;
}

/* Frames [from, to) are gone (retention; counted by the follower). Which
 * sessions they belonged to is not known: a buffered partial line is
 * dropped and its session skips to the next newline (not counted as bad:
 * the frames are counted as lost); a session without a partial line carries
 * on (its next frame starts a line, or starts with a fragment that then
 * fails to parse). pcap state is kept: a stream that lost frames fails on
 * its next record header (counted). */
static void gap_sess_cb(void *ctx, struct d4_follow_sess *h)
{
	struct d4_analyze_pdns *x = ctx;
	struct sess *e = (struct sess *)h;
	if ((e->kind == K_CSV || e->kind == K_COF) && (e->ln.len || e->ln.skipping != D4_FOLLOW_SKIP_NONE))
		d4_follow_lines_drop(&e->ln, &x->buffered, D4_FOLLOW_SKIP_SILENT);
}

static int frame_cb(void *ctx, const struct d4_frame_rec *rec, const uint8_t *payload, int counting)
{
	struct d4_analyze_pdns *x = ctx;
	x->counting = counting;
	return frame_process(x, rec, payload);
}

/* Sink mode, at the end of the log: what d4_analyze_pdns_maintain does for
 * the worker, at a point that depends on the log rather than on a clock.
 * Sessions that ended and whose frames are all read lose their state (their
 * last line parsed first when the sender ended the stream), so that they no
 * longer hold replay_from back. A session seen ended has all its frames
 * committed by then (they are committed before its end), so the frame count
 * read after seeing it is a bound (drop_at) that x->next must pass. The last
 * lines go at the end of the batch (final_from), after every observation of
 * the frames read, in session id order. The store is asked about live
 * sessions at most once a second (a source polled every few ms would
 * otherwise look every session up each time); when it is, it changes only
 * how soon a stream's last line comes, never where in a batch. */
#define SETTLE_EVERY_MS 1000u

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int sink_settle(struct d4_analyze_pdns *x)
{
	unsigned nsess = d4_follow_nsess(x->f);
	if (!nsess)
		return 0;
	uint64_t *ids = malloc(nsess * sizeof(*ids));
	if (!ids)
		return D4_ENOMEM;
	size_t nseen = 0, nready = 0;
	int rc = 0;
	uint64_t now = d4_mono_ms();
	int look = x->last_settle_ms == 0 || now - x->last_settle_ms >= SETTLE_EVERY_MS;
	if (look)
		x->last_settle_ms = now ? now : 1;
	for (struct d4_follow_sess *e = look ? d4_follow_sess_first(x->f) : NULL; e && !rc;
	     e = d4_follow_sess_next(x->f, e)) {
		if (e->drop_at)
			continue;
		struct d4_session_info si;
		rc = d4_store_session_get(x->s, e->id, &si);
		if (rc == D4_ENOTFOUND || (rc == 0 && si.ended)) {
			e->stream_end = rc == 0 && !strncmp(si.close_reason, "peer closed", 11);
			ids[nseen++] = e->id;
			rc = 0;
		}
	}
	if (!rc && nseen) {
		struct d4_totals t;
		rc = d4_store_totals(x->s, &t);
		for (size_t i = 0; i < nseen && !rc; i++)
			d4_follow_sess_find(x->f, ids[i])->drop_at = t.frames ? t.frames : 1;
	}
	uint64_t next = d4_follow_next(x->f);
	for (struct d4_follow_sess *e = rc ? NULL : d4_follow_sess_first(x->f); e; e = d4_follow_sess_next(x->f, e))
		if (e->drop_at && next > e->drop_at)
			ids[nready++] = e->id;
	if (!rc && nready)
		qsort(ids, nready, sizeof(*ids), cmp_u64);
	for (size_t i = 0; i < nready && !rc; i++) {
		struct d4_follow_sess *e = d4_follow_sess_find(x->f, ids[i]);
		rc = finish_cb(x, e);
		if (!rc)
			d4_follow_sess_remove(x->f, e);
	}
	free(ids);
	return rc;
}

static int caught_up_cb(void *ctx)
{
	struct d4_analyze_pdns *x = ctx;
	return x->o.sink ? sink_settle(x) : 0;
}

int analyze_pdns_step(struct d4_analyze_pdns *x, unsigned max_batches, int force, unsigned min_commit_ms, int *idle)
{
	return d4_follow_step(x->f, max_batches, force, min_commit_ms, idle);
}

int analyze_pdns_flush(struct d4_analyze_pdns *x)
{
	return d4_follow_flush(x->f);
}

int d4_analyze_pdns_opts_check(const struct d4_analyze_pdns_opts *o, char *err, size_t errsize)
{
	struct d4_pdns_csv_spec spec;
	if (d4_pdns_csv_spec_parse(o->csv_fields, o->csv_separator, &spec) != 0) {
		snprintf(err, errsize, "pdns.csv_fields '%s' / pdns.csv_separator '%s': not a passivedns field layout",
			 o->csv_fields ? o->csv_fields : "", o->csv_separator ? o->csv_separator : "");
		return D4_EINVAL;
	}
	return 0;
}

int d4_analyze_pdns_step(struct d4_analyze_pdns *x, unsigned max_batches, int *idle)
{
	int rc = analyze_pdns_step(x, max_batches, 1, 0, idle);
	d4_follow_refresh_lag(x->f);
	return rc;
}

static int expire_cb(void *ctx, uint64_t before_s, uint64_t *removed)
{
	struct d4_analyze_pdns *x = ctx;
	int rc = d4_store_pdns_expire(x->s, before_s, 0, removed);
	x->st.expired += *removed;
	return rc;
}

int d4_analyze_pdns_maintain(struct d4_analyze_pdns *x, uint64_t now_s, uint64_t expire_every_s)
{
	int rc = d4_follow_maintain(x->f, x->o.sessions_dead_before);
	if (rc)
		return rc;
	return d4_follow_expire(x->f, now_s, expire_every_s, x->o.retention_s);
}

void d4_analyze_pdns_stats(struct d4_analyze_pdns *x, struct d4_analyze_pdns_stats *out)
{
	struct d4_follow_stats fs;
	d4_follow_stats(x->f, &fs);
	*out = x->st;
	D4_FOLLOW_STATS_PUT(out, fs);
	out->frames = fs.frames;
	out->resumed = fs.resumed;
	out->buffered = x->buffered;
}

static void opts_defaults(struct d4_analyze_pdns_opts *o)
{
	if (!o->batch)
		o->batch = DEF_BATCH;
	if (!o->batch_max)
		o->batch_max = o->batch > UINT32_MAX / DEF_BATCH_GROW ? UINT32_MAX : o->batch * DEF_BATCH_GROW;
	if (o->batch_max < o->batch || o->sink)
		o->batch_max = o->batch;
	if (!o->txn_ms)
		o->txn_ms = DEF_TXN_MS;
	if (!o->max_sessions)
		o->max_sessions = DEF_MAX_SESSIONS;
	if (!o->max_line)
		o->max_line = DEF_MAX_LINE;
	if (!o->max_buffered)
		o->max_buffered = DEF_MAX_BUFFERED;
	if (!o->max_tcp_bytes)
		o->max_tcp_bytes = DEF_MAX_TCP;
	if (!o->idle_ms)
		o->idle_ms = 20;
	if (!o->frames_per_walk)
		o->frames_per_walk = DEF_FRAMES_PER_WALK;
}

static const struct d4_follow_ops pdns_ops = {
    .name = "pdns",
    .sess_size = sizeof(struct sess),
    .delta_size = sizeof(struct d4_store_pdns_counters),
    .layout = D4_FOLLOW_FIN | D4_FOLLOW_CLEAN,
    .version = CUR_V2,
    .legacy_version = ANALYZE_CURSOR_V1,
    .evict_debug = 1,
    .frame = frame_cb,
    .batch_full = batch_full_cb,
    .commit = commit_cb,
    .batch_clear = batch_clear_cb,
    .anchor = anchor_cb,
    .sess_free = sess_free_cb,
    .gap_sess = gap_sess_cb,
    .finish = finish_cb,
    .caught_up = caught_up_cb,
    .resume = resume_cb,
    .expire = expire_cb,
    .expire_what = "tuples expired (time_last",
};

int d4_analyze_pdns_new(struct d4_store *s, const struct d4_analyze_pdns_opts *o, struct d4_analyze_pdns **out)
{
	*out = NULL;
	struct d4_analyze_pdns *x = calloc(1, sizeof(*x));
	if (!x)
		return D4_ENOMEM;
	x->s = s;
	if (o)
		x->o = *o;
	opts_defaults(&x->o);
	x->eff_batch = x->o.batch;
	x->final_from = SIZE_MAX;
	x->lc.max_line = x->o.max_line;
	x->lc.max_buffered = x->o.max_buffered;
	x->lc.first_cap = 256;
	x->lc.buffered = &x->buffered;
	x->lc.line = line_cb;
	x->lc.bad = bad_line_cb;
	x->lc.ctx = x;
	int rc = d4_pdns_csv_spec_parse(x->o.csv_fields, x->o.csv_separator, &x->spec);
	if (rc) {
		free(x);
		return D4_EINVAL;
	}
	/* the caller's strings need not outlive this call */
	x->o.csv_fields = NULL;
	x->o.csv_separator = NULL;
	x->o.cursor = NULL;
	x->o.cursor_len = 0;
	uint8_t cv[D4_PDNS_CURSOR_VALUE_MAX];
	size_t cl = 0;
	if (x->o.sink) {
		/* the caller's position, never the store's cursor */
		cl = o->cursor_len;
		if (cl > sizeof(cv) || (cl && !o->cursor)) {
			free(x);
			return D4_ECORRUPT;
		}
		if (cl)
			memcpy(cv, o->cursor, cl);
		rc = 0;
	} else {
		rc = d4_store_pdns_cursor_get(s, D4_ANALYZE_PDNS_CURSOR, cv, sizeof(cv), &cl);
		if (rc == D4_ENOTFOUND) {
			cl = 0;
			rc = 0;
		}
	}
	struct d4_follow_cfg fc;
	memset(&fc, 0, sizeof(fc));
	fc.max_sessions = x->o.max_sessions;
	fc.frames_per_walk = x->o.frames_per_walk;
	fc.cursor_max = D4_PDNS_CURSOR_VALUE_MAX;
	fc.clean_max = UINT16_MAX; /* bounded by the value's size */
	fc.quiet = x->o.sink != NULL;
	if (!rc)
		rc = d4_follow_new(s, &pdns_ops, x, &fc, cv, cl, &x->f);
	if (rc) {
		d4_analyze_pdns_free(x);
		return rc;
	}
	*out = x;
	return 0;
}

void d4_analyze_pdns_free(struct d4_analyze_pdns *x)
{
	if (!x)
		return;
	d4_follow_free(x->f);
	free(x->obs);
	free(x->arena);
	free(x->sobs);
	free(x->sseq);
	free(x);
}

int d4_analyze_pdns_cursor_done(const uint8_t *cv, size_t len, uint64_t *done)
{
	*done = 0;
	if (len == 0)
		return 0;
	if (!cv || len < ANALYZE_CURSOR_LEN || (cv[0] != ANALYZE_CURSOR_V1 && cv[0] != CUR_V2))
		return D4_ECORRUPT;
	*done = d4_get_u64be(cv + 1);
	return 0;
}
