/* d4_follow — the machinery the hub's consumers of the frame log share
 * (pdns_ingest.c, bs_ingest.c, pssl_ingest.c): per-session state in a
 * table with a cap (least recently used first out), the cursor (done_seq,
 * replay_from, frames lost to retention), reading the log in walks with
 * the replay of the frames the state at done_seq depends on, batches
 * committed by the consumer, the end of sessions (maintain), the lag, the
 * per-sensor counter deltas of a batch, and, per consumer, the list of
 * finished sessions and the clean points of pcap streams. Private to the
 * module. docs/architecture.md "Following the frame log".
 *
 * Exact restarts: every result and every counted error belongs to the
 * frame that completes it, and only frames after done_seq are counted
 * (the frame callback is told whether the frame counts). The cursor
 * records replay_from, the oldest frame the per-session state at done_seq
 * depends on (ops->anchor); after a restart the follower reads again from
 * there, and the consumer rebuilds that state while discarding what those
 * frames complete.
 *
 * Clean points (D4_FOLLOW_CLEAN): a pcap stream whose extractor was empty
 * at a record boundary after frame seq (d4_follow_clean) is recorded in the
 * cursor with its global header; a restart rebuilds it from frame seq + 1
 * with a fresh extractor (ops->resume) instead of reading it again from its
 * first frame. Only for consumers whose per-stream state is entirely in
 * the extractor: the backscatter consumer keeps its own stream positions
 * (frame, offset) in the cursor extension instead (bs_ingest.c). */
#ifndef FOLLOW_INTERNAL_H
#define FOLLOW_INTERNAL_H

#include "d4_pkt.h"
#include "d4_reader.h"
#include "d4_store.h"

#include <stddef.h>
#include <stdint.h>

/* Cursor layouts (all big-endian; the version byte is the consumer's):
 *   header: u8 version | u64 done_seq | u64 replay_from | u64 frames_lost
 * D4_FOLLOW_PLAIN: the header, then ops->cursor_put's bytes.
 * D4_FOLLOW_FIN (legacy_version, read and written when no clean point is
 *   recorded): the header, then only when not empty
 *   u8 nfin | nfin x (u64 session | u64 last frame seq).
 * D4_FOLLOW_FIN | D4_FOLLOW_CLEAN (version): the header, then
 *   u8 nfin | nfin x (u64 session | u64 last frame seq)
 *   | u16 nres | nres x (u64 session | u64 start_seq | u32 linktype
 *                       | u32 snaplen | u8 flags)
 *   flags: bit 0 big-endian, bit 1 nanoseconds. */
#define D4_FOLLOW_HDR	  25u
#define D4_FOLLOW_FIN_MAX 250u
#define D4_FOLLOW_RES	  25u
#define D4_FOLLOW_PLAIN	  0u
#define D4_FOLLOW_FIN	  1u /* finished sessions listed in the cursor */
#define D4_FOLLOW_CLEAN	  2u /* clean points of pcap streams in the cursor */
#define D4_FOLLOW_FIN_LEN (D4_FOLLOW_HDR + 1 + 16 * D4_FOLLOW_FIN_MAX)

/* The follower's part of a session: the first member of each consumer's
 * session struct (ops->sess_size bytes are allocated, zeroed). */
struct d4_follow_sess {
	struct d4_follow_sess *hnext;
	uint64_t id;
	uint64_t first;		      /* frame that created this state (the consumer may move it) */
	uint64_t last_seq;	      /* last frame fed (LRU order) */
	uint64_t drop_at;	      /* session ended: drop once read past this; 0 = live */
	uint8_t stream_end;	      /* the sender ended the stream (peer closed) */
	uint8_t ignore;		      /* holds no state: evicted first, not counted */
	struct d4_frame_rec last_rec; /* provenance of the last frame read (kept by the consumer) */
	/* clean point: the last frame after which the extractor was empty at a
	 * record boundary (0: none), with the stream's global header */
	uint64_t clean_after;
	struct d4_pcap_info info;
	uint64_t start_seq; /* rebuilt at a clean point: frames before this one are skipped */
	uint8_t in_cursor;  /* its clean point is in the cursor being written */
};

struct d4_follow_ops {
	const char *name;  /* log prefix */
	size_t sess_size;  /* >= sizeof(struct d4_follow_sess) */
	size_t delta_size; /* per-sensor counters: uint8_t sensor[16] first; 0: none */
	unsigned layout;   /* D4_FOLLOW_* */
	uint8_t version;   /* cursor version written */
	uint8_t legacy_version;
	const uint8_t *types; /* frame types read (NULL: all); the others only advance the cursor */
	size_t ntypes;
	int evict_debug; /* evictions logged at debug level (frequent by design) */
	/* One frame of a wanted type, in order; counting: it is past done_seq.
	 * 0 or a negative error (the walk stops, the follower goes back to the
	 * last commit). */
	int (*frame)(void *ctx, const struct d4_frame_rec *rec, const uint8_t *payload, int counting);
	/* The open batch is full: the walk stops, the batch is committed. */
	int (*batch_full)(void *ctx);
	/* Commits the open batch with d4_follow_cursor's value: 0 committed,
	 * 1 not now (the batch goes on), < 0 error (the batch stays). */
	int (*commit)(void *ctx);
	/* Empties the consumer's part of the batch (after a commit, a rewind). */
	void (*batch_clear)(void *ctx);
	/* The oldest frame this session's state depends on; 0 = none. */
	uint64_t (*anchor)(void *ctx, const struct d4_follow_sess *e);
	/* Frees the consumer's state of e (not e itself). */
	void (*sess_free)(void *ctx, struct d4_follow_sess *e);
	/* Optional: frames of unknown sessions were deleted: what e buffers. */
	void (*gap_sess)(void *ctx, struct d4_follow_sess *e);
	/* Optional: an ended session read to its end, before its state goes. */
	int (*finish)(void *ctx, struct d4_follow_sess *e);
	/* Optional: the walk reached the end of the log, before the commit. */
	int (*caught_up)(void *ctx);
	/* D4_FOLLOW_CLEAN: builds a fresh extractor for e at its clean point
	 * (e->info, e->start_seq set). 0 or D4_ENOMEM. */
	int (*resume)(void *ctx, struct d4_follow_sess *e);
	/* D4_FOLLOW_PLAIN: the bytes after the header, and their reading
	 * (present 0: no cursor, a fresh start). */
	size_t (*cursor_put)(void *ctx, uint8_t *out, size_t cap);
	int (*cursor_load)(void *ctx, const uint8_t *p, size_t n, int present);
	/* Optional: removes the derived data last seen before before_s
	 * (seconds), *removed set; expire_what ends the log line, e.g. "tuples
	 * expired (time_last". */
	int (*expire)(void *ctx, uint64_t before_s, uint64_t *removed);
	const char *expire_what;
};

struct d4_follow_cfg {
	unsigned max_sessions;
	unsigned frames_per_walk;
	size_t cursor_max;  /* bytes of a cursor value at most */
	unsigned clean_max; /* clean points in a cursor at most (also bounded by cursor_max) */
	int quiet;	    /* no log line about the replay at creation */
};

struct d4_follow_stats {
	uint64_t done, replay_from, lost_total;
	uint64_t frames;   /* frames of the wanted types read past the cursor */
	uint64_t replayed; /* ... read again to rebuild state */
	uint64_t resumed;  /* streams rebuilt at a clean point */
	uint64_t frames_lost, evictions, commits;
	uint64_t last_seq, lag, sessions;
};

/* The follower's part of a consumer's public statistics (the same field
 * names in d4_analyze.h's three structs). */
#define D4_FOLLOW_STATS_PUT(out, fs)                                                                                   \
	do {                                                                                                           \
		(out)->replayed = (fs).replayed;                                                                       \
		(out)->frames_lost = (fs).frames_lost;                                                                 \
		(out)->evictions = (fs).evictions;                                                                     \
		(out)->commits = (fs).commits;                                                                         \
		(out)->cursor = (fs).done;                                                                             \
		(out)->replay_from = (fs).replay_from;                                                                 \
		(out)->last_seq = (fs).last_seq;                                                                       \
		(out)->lag = (fs).lag;                                                                                 \
		(out)->sessions = (fs).sessions;                                                                       \
	} while (0)

struct d4_follow;

/* Creates a follower at the cursor value cv (len 0: the start of the log;
 * copied). ops and ctx are borrowed and must outlive it; ctx is passed to
 * every callback. Returns 0, D4_ECORRUPT (cursor unreadable), D4_ENOMEM or
 * a callback's error. *out owned by the caller: d4_follow_free. */
int d4_follow_new(struct d4_store *s, const struct d4_follow_ops *ops, void *ctx, const struct d4_follow_cfg *cfg,
		  const uint8_t *cv, size_t len, struct d4_follow **out);
void d4_follow_free(struct d4_follow *f); /* NULL accepted; frees every session (ops->sess_free) */

/* Reads and commits up to max_batches batches (0: until caught up). A batch
 * that is not full is committed once caught up only when force, when
 * min_commit_ms is 0 or when the last commit is at least that old.
 * *idle = 1 when caught up. Returns the batches committed or an error
 * (after an error of a frame the follower is back at its last commit). */
int d4_follow_step(struct d4_follow *f, unsigned max_batches, int force, unsigned min_commit_ms, int *idle);
/* Commits the open batch now: 0, 1 (not now) or an error. */
int d4_follow_flush(struct d4_follow *f);
/* Drops the state and the open batch and goes back to the last commit. */
int d4_follow_rewind(struct d4_follow *f);
/* Drops the state of sessions that ended (or started before dead_before,
 * seconds; 0: none) once every frame of theirs is read, after ops->finish;
 * only when caught up with the replay. Refreshes the lag. */
int d4_follow_maintain(struct d4_follow *f, uint64_t dead_before);
/* 1 when the retention job is due (and notes now_s as its last run). */
int d4_follow_expire_due(struct d4_follow *f, uint64_t now_s, uint64_t every_s, uint64_t retention_s);
/* When due, ops->expire of what is older than retention_s (0: never),
 * logged. 0 or its error. */
int d4_follow_expire(struct d4_follow *f, uint64_t now_s, uint64_t every_s, uint64_t retention_s);
void d4_follow_refresh_lag(struct d4_follow *f);
void d4_follow_stats(const struct d4_follow *f, struct d4_follow_stats *out);

/* ---- for the callbacks ---- */

/* The cursor value of the open batch: replay point computed from the
 * sessions now, finished sessions no replay reaches dropped. Points into
 * the follower, valid until the next call. */
int d4_follow_cursor(struct d4_follow *f, const uint8_t **cv, size_t *len);
/* The per-sensor counters of the open batch (ops->delta_size bytes each,
 * zeroed when new); NULL on allocation failure. */
void *d4_follow_delta(struct d4_follow *f, const uint8_t uuid[16]);
void *d4_follow_deltas(struct d4_follow *f, size_t *n);
uint64_t d4_follow_done(const struct d4_follow *f);	   /* last committed frame */
uint64_t d4_follow_replay_from(const struct d4_follow *f); /* as committed */
uint64_t d4_follow_next(const struct d4_follow *f);	   /* next frame to read */
uint64_t d4_follow_batch_lost(const struct d4_follow *f);  /* frames of the open batch lost to retention */
uint64_t d4_follow_last_commit_ms(const struct d4_follow *f);

/* Sessions. new evicts first at the session cap (NULL: no memory). */
struct d4_follow_sess *d4_follow_sess_find(struct d4_follow *f, uint64_t id);
struct d4_follow_sess *d4_follow_sess_new(struct d4_follow *f, uint64_t id, uint64_t seq);
void d4_follow_sess_remove(struct d4_follow *f, struct d4_follow_sess *e);
/* In table order (stable for the same history); NULL at the end. */
struct d4_follow_sess *d4_follow_sess_first(struct d4_follow *f);
struct d4_follow_sess *d4_follow_sess_next(struct d4_follow *f, const struct d4_follow_sess *e);
unsigned d4_follow_nsess(const struct d4_follow *f);
/* Drops the least recently used session other than keep: 1 done, 0 none. */
int d4_follow_evict(struct d4_follow *f, const struct d4_follow_sess *keep, const char *why);

/* An ended session's end is processed now: 0 go on (listed in the cursor
 * until no replay reaches its frames; the batch is committed even without
 * a new frame), 1 skip it (done before a restart, or the list is full:
 * `what` is logged). */
int d4_follow_fin_add(struct d4_follow *f, const struct d4_follow_sess *e, const char *what);
/* The stream's extractor is empty at a record boundary after frame seq. */
void d4_follow_clean(struct d4_follow_sess *e, uint64_t seq, const struct d4_pcap_info *h);
/* 1: a frame before the clean point the stream was rebuilt at (skip it). */
int d4_follow_skip(struct d4_follow_sess *e, uint64_t seq);

/* ---- lines cut across frames (text streams) ---- */

enum { D4_FOLLOW_SKIP_NONE = 0, D4_FOLLOW_SKIP_COUNT, D4_FOLLOW_SKIP_SILENT };

/* A session's line in progress: part of the consumer's session struct. */
struct d4_follow_lines {
	char *buf;
	size_t len, cap;
	uint64_t line_seq; /* frame where the buffered (or skipped) line began */
	uint8_t skipping;  /* D4_FOLLOW_SKIP_*: discard up to the next newline */
};

struct d4_follow_lines_cfg {
	size_t max_line, max_buffered;
	size_t first_cap;				 /* first buffer size */
	size_t *buffered;				 /* bytes buffered over all sessions (updated) */
	int (*line)(void *ctx, const char *p, size_t n); /* a complete line, no newline: 0 or an error */
	void (*bad)(void *ctx);				 /* a line over a cap, skipped */
	void *ctx;
};

/* Feeds a frame's bytes (frame seq): complete lines go to c->line, the
 * rest is buffered. A line over max_line (or over max_buffered over all
 * sessions) is skipped up to its newline and reported to c->bad. 0, a
 * callback's error or D4_ENOMEM. */
int d4_follow_lines_feed(struct d4_follow_lines *l, const struct d4_follow_lines_cfg *c, const uint8_t *p, size_t n,
			 uint64_t seq);
/* Frees the buffer; the line then skips as said (D4_FOLLOW_SKIP_*). */
void d4_follow_lines_drop(struct d4_follow_lines *l, size_t *buffered, uint8_t skipping);
/* The frame the line in progress began in; 0: none. */
uint64_t d4_follow_lines_anchor(const struct d4_follow_lines *l);

#endif
