/* d4_analyze — the hub's analyzers over the frame log, in-process.
 *
 * An analyzer follows the committed frame log in order from a persistent
 * cursor, turns the frames of the session types it handles into derived
 * records, and commits the records together with its cursor and counters in
 * ONE store transaction, so that a restart neither loses nor double-counts.
 * Partial per-session state (a line cut across frames, a pcap stream's global
 * header and TCP flows) is rebuilt after a restart by replaying from an
 * earlier point recorded in the cursor; what the replay re-derives from
 * frames already counted is discarded. docs/pdns.md "Ingest from the frame
 * log" describes the cursor.
 *
 * Passive DNS (types 1, 6, 8 and 254/pdns-cof) and backscatter (type 1:
 * attack vectors, docs/backscatter.md "In the hub") are the analyzers, each
 * a `d4_analyze_<name>` consumer with its own cursor name, started by
 * d4_analyze_start. Depends on hub/store, analyzers/pdns, analyzers/pkt and
 * analyzers/backscatter. */
#ifndef D4_ANALYZE_H
#define D4_ANALYZE_H

#include <stddef.h>
#include <stdint.h>

#include "d4_backscatter.h"
#include "d4_pkt.h"
#include "d4_tls.h"

struct d4_store;
struct d4_store_pdns_obs;

#define D4_ANALYZE_PDNS_CURSOR "pdns/frames" /* cursor name in the pDNS store */

/* Settings of the pDNS consumer ([pdns] in the hub config). Zero fields take
 * the defaults noted. */
struct d4_analyze_pdns_opts {
	const char *csv_fields;	       /* passivedns -f letters; NULL/"" = passivedns's default "SMcsCQTAtn" */
	const char *csv_separator;     /* NULL/"" = "||" */
	unsigned batch;		       /* observations per commit to start with (default 10,000; adapted, below) */
	unsigned batch_max;	       /* ... grown up to this while behind (default 16 x batch) */
	unsigned txn_ms;	       /* target duration of one store transaction (default 300 ms) */
	uint64_t retention_s;	       /* expire tuples whose time_last is older; 0 = keep */
	unsigned max_sessions;	       /* sessions with state (default 4096; least recently used evicted) */
	size_t max_line;	       /* bytes of one CSV/COF line (default 1 MiB + 1 KiB) */
	size_t max_buffered;	       /* line bytes buffered over all sessions (default 64 MiB) */
	size_t max_tcp_bytes;	       /* TCP reassembly bytes per pcap session (default 4 MiB) */
	uint64_t sessions_dead_before; /* seconds: sessions started earlier are dead (the hub's start; 0 = off) */
	unsigned idle_ms;	       /* worker: poll interval when caught up (default 20) */
	unsigned frames_per_walk;      /* frames read per read transaction (default 4096) */
	/* Sink mode (the federation source, docs/pdns.md "Ingest from the
	 * frame log"): when sink is set, each batch goes to sink instead of
	 * d4_store_pdns_apply_frames -- the observations obs[0..n) and the
	 * frame log seq of the frame each belongs to (frame_seq, 0 for the
	 * last lines below), borrowed for the call, and the cursor value after
	 * them -- and nothing is written to
	 * the store (neither tuples, nor counters, nor the cursor). The consumer
	 * starts from `cursor` (cursor_len 0: the start of the log) instead of
	 * the stored cursor, and batches hold exactly `batch` observations (the
	 * batch closes after the frame that fills it; no adaptation; batch_max
	 * and txn_ms are ignored). The first nfixed observations depend only on
	 * the starting cursor and the frames: every run from the same cursor
	 * produces them in the same order (or a prefix of them, when the log
	 * ended earlier). obs[nfixed..n) are the last lines of streams that
	 * ended, added when the consumer reached the end of the log: a run that
	 * finds more frames puts other observations before them. sink returns 0
	 * or a negative error (the batch is then dropped: free the consumer and
	 * start again from the cursor). d4_analyze_pdns_maintain is not for
	 * this mode: the consumer drops the state of ended sessions itself when
	 * it reaches the end of the log. */
	int (*sink)(void *ctx, const struct d4_store_pdns_obs *obs, const uint64_t *frame_seq, size_t n, size_t nfixed,
		    const uint8_t *cursor, size_t cursor_len);
	void *sink_ctx;
	const uint8_t *cursor; /* sink mode: the starting cursor value, copied by d4_analyze_pdns_new */
	size_t cursor_len;
};

/* Counters of a pDNS consumer since it was created (the per-sensor totals
 * are in the store: d4_store_pdns_counters_*). */
struct d4_analyze_pdns_stats {
	uint64_t frames;       /* frames read past the cursor (replayed frames not included) */
	uint64_t replayed;     /* frames read again to rebuild partial state */
	uint64_t resumed;      /* pcap streams rebuilt at a clean point of the cursor (instead of their start) */
	uint64_t observations; /* observations committed */
	uint64_t bad_lines;    /* CSV/COF lines skipped (incl. overlong) */
	uint64_t bad_packets;  /* pcap records/streams not decodable */
	uint64_t not_dns;      /* packets/lines that were not DNS answers (not errors) */
	uint64_t too_long;     /* names/rdata over the caps */
	uint64_t tcp_gaps;     /* TCP flows abandoned */
	uint64_t frames_lost;  /* frames deleted by retention before they were read */
	uint64_t evictions;    /* session states dropped for the session or byte caps */
	uint64_t commits;      /* store transactions */
	uint64_t txn_ms_max;   /* longest store transaction (ms) */
	uint64_t batch;	       /* observations per commit now (adapted: [pdns] batch) */
	uint64_t expired;      /* tuples removed by [pdns] retention */
	uint64_t cursor;       /* last frame seq accounted for (done_seq) */
	uint64_t replay_from;  /* replay point recorded in the cursor */
	uint64_t last_seq;     /* last committed frame seq seen in the store */
	uint64_t lag;	       /* last_seq - cursor */
	uint64_t sessions;     /* sessions with state */
	uint64_t buffered;     /* line bytes buffered */
};

/* Checks csv_fields / csv_separator (d4hub -n). Returns 0 or D4_EINVAL with a
 * message in err. */
int d4_analyze_pdns_opts_check(const struct d4_analyze_pdns_opts *o, char *err, size_t errsize);

/* ---- one pDNS consumer, driven by the caller (tests, tools) ---- */
struct d4_analyze_pdns;
/* Loads the cursor from the store, or in sink mode takes o->cursor (a fresh
 * start reads the log from its first frame). *out owned by the caller, free with _free. The store must
 * stay open and writable meanwhile. Returns 0, D4_EINVAL (bad csv_fields /
 * separator), D4_ECORRUPT (cursor value unreadable), D4_ENOMEM or a store error. */
int d4_analyze_pdns_new(struct d4_store *s, const struct d4_analyze_pdns_opts *o, struct d4_analyze_pdns **out);
/* Reads and commits up to max_batches batches (0 = until caught up). *idle
 * (may be NULL) is set to 1 when no frame past the cursor was left. Returns
 * the number of batches committed or a negative error (the state is then
 * kept: calling again retries the same batch). */
int d4_analyze_pdns_step(struct d4_analyze_pdns *x, unsigned max_batches, int *idle);
/* Housekeeping the worker runs about once a second: drops the state of
 * sessions that ended and whose frames are all read; expires old tuples when
 * retention is set (at most every `expire_every_s`). Returns 0 or an error. */
int d4_analyze_pdns_maintain(struct d4_analyze_pdns *x, uint64_t now_s, uint64_t expire_every_s);
void d4_analyze_pdns_stats(struct d4_analyze_pdns *x, struct d4_analyze_pdns_stats *out);
/* Frees the in-memory state; nothing uncommitted is written. */
void d4_analyze_pdns_free(struct d4_analyze_pdns *x);
/* The last frame seq a cursor value accounts for (done_seq): 0 for an empty
 * value (the start of the log), or D4_ECORRUPT. Pure. */
int d4_analyze_pdns_cursor_done(const uint8_t *cv, size_t len, uint64_t *done);

/* ---- the backscatter consumer (type-1 frames -> attack vectors) ----
 * docs/backscatter.md "In the hub". Every type-1 session is a pcap stream
 * (d4_pcapsplit); its packets go through one aggregator (d4_bs_agg) whose
 * clock is the log's: the largest packet timestamp read so far, with a tick
 * at the first packet of every new second. Emitted vectors, the states of
 * the vectors changed since the last commit, the cursor and the per-sensor
 * counters are committed in ONE d4_store_bs_apply. */
#define D4_ANALYZE_BS_CURSOR	    "bs/frames" /* cursor name in the backscatter store */
#define D4_ANALYZE_BS_TELESCOPE_MAX 256u	/* prefixes in [backscatter] telescope */

struct d4_analyze_bs_opts {
	/* aggregator options (d4_bs_opts_default, then [backscatter]); the
	 * telescope array is copied by d4_analyze_bs_new */
	struct d4_bs_opts agg;
	unsigned batch;		       /* packets per commit (default 100,000) */
	uint64_t retention_s;	       /* expire stored vectors whose last packet is older (wall clock); 0 = keep */
	unsigned max_sessions;	       /* pcap streams with state (default 4096; least recently used evicted) */
	size_t max_buffered;	       /* bytes of records cut across frames over all streams (default 64 MiB;
					  least recently used streams evicted beyond) */
	uint64_t sessions_dead_before; /* seconds: sessions started earlier are dead (the hub's start; 0 = off) */
	uint64_t future_s;	       /* packets stamped later than their frame's receive time + this are
					  refused (default 86400): one sensor's wrong clock would otherwise
					  move the shared clock and close every vector */
	unsigned frames_per_walk;      /* frames read per read transaction (default 4096) */
};

/* Counters of a backscatter consumer since it was created (per-sensor
 * totals: d4_store_bs_counters_*). */
struct d4_analyze_bs_stats {
	uint64_t frames;			   /* type-1 frames read past the cursor */
	uint64_t replayed;			   /* frames read again to rebuild state */
	uint64_t packets;			   /* pcap records read (counted frames) */
	uint64_t bad_packets;			   /* records not decodable, streams refused */
	uint64_t future;			   /* records refused for a timestamp in the future */
	uint64_t streams_refused[D4_PCAP_F_COUNT]; /* pcap streams failed, per enum d4_pcap_fail */
	uint64_t backscatter;			   /* counted in a vector */
	uint64_t by_kind[D4_BS_KIND_COUNT];	   /* backscatter per kind */
	uint64_t by_reason[D4_BS_R_COUNT];	   /* not backscatter, per reason */
	uint64_t dropped;			   /* backscatter not counted: vector table full */
	uint64_t vectors_open;			   /* open vectors now */
	uint64_t vectors_ongoing;		   /* ongoing updates written */
	uint64_t vectors_reported;		   /* vectors closed and reported */
	uint64_t vectors_unreported;		   /* closed below a threshold (since the last start) */
	uint64_t states_written;		   /* open-vector states written or deleted */
	uint64_t live_lossy;			   /* live-mode restart points given up (per-session cap) */
	uint64_t frames_lost;			   /* frames deleted by retention before they were read */
	uint64_t evictions;			   /* stream states dropped for the session cap */
	uint64_t commits;			   /* store transactions */
	uint64_t txn_ms_max;			   /* longest store transaction (ms) */
	uint64_t expired;			   /* vectors removed by [backscatter] retention */
	uint64_t clock_us;			   /* the log's clock: largest packet timestamp read */
	uint64_t cursor;			   /* last frame seq accounted for */
	uint64_t replay_from;			   /* replay point recorded in the cursor */
	uint64_t last_seq;			   /* last committed frame seq seen in the store */
	uint64_t lag;				   /* last_seq - cursor */
	uint64_t sessions;			   /* streams with state */
};

/* Parses a telescope list ("198.18.0.0/15, 2001:db8::/32": prefixes or
 * addresses, separated by commas and/or blanks) into out[0..*n). Returns 0,
 * or D4_EINVAL with a message in err (the bad item, or too many). */
int d4_analyze_bs_telescope_parse(const char *list, struct d4_bs_prefix *out, size_t cap, size_t *n, char *err,
				  size_t errsize);
/* Checks the options (d4hub -n): thresholds, prefixes. 0 or D4_EINVAL with a
 * message in err. */
int d4_analyze_bs_opts_check(const struct d4_analyze_bs_opts *o, char *err, size_t errsize);

struct d4_analyze_bs;
/* Loads the cursor and the open vectors' states from the store (a fresh
 * start reads the log from its first frame). *out owned by the caller, free
 * with _free; the store must stay open and writable meanwhile. Returns 0,
 * D4_EINVAL (options), D4_ECORRUPT (cursor or a state unreadable), D4_ENOMEM
 * or a store error. */
int d4_analyze_bs_new(struct d4_store *s, const struct d4_analyze_bs_opts *o, struct d4_analyze_bs **out);
/* Reads and commits up to max_batches batches (0 = until caught up). *idle
 * (may be NULL) is set to 1 when no frame past the cursor was left. Returns
 * the number of batches committed or a negative error (the consumer then
 * went back to its last commit: calling again reads the same frames). */
int d4_analyze_bs_step(struct d4_analyze_bs *x, unsigned max_batches, int *idle);
/* Housekeeping, about once a second: drops the state of streams that ended
 * and are read to their end; expires old vectors when retention is set (at
 * most every expire_every_s). Returns 0 or an error. */
int d4_analyze_bs_maintain(struct d4_analyze_bs *x, uint64_t now_s, uint64_t expire_every_s);
void d4_analyze_bs_stats(struct d4_analyze_bs *x, struct d4_analyze_bs_stats *out);
/* Frees the in-memory state; nothing uncommitted is written. */
void d4_analyze_bs_free(struct d4_analyze_bs *x);
/* Counters of the running worker's backscatter consumer (for /metrics).
 * 0, or D4_ENOTFOUND when none runs in this process. Thread-safe. */
int d4_analyze_bs_stats_global(struct d4_analyze_bs_stats *out);

/* ---- the passive-SSL consumer (handshakes and certificates) ----
 * docs/passivessl.md "In the hub". Type-1 sessions are pcap streams
 * (d4_pcapsplit) read by one TLS extractor each (analyzers/tls); type-254
 * sessions of extended type ja3-jl are lines (d4_tls_jl_parse, both
 * producers). Each handshake becomes one d4_store_pssl_obs; certificates
 * the store does not know yet are parsed with analyzers/x509. Handshakes,
 * the cursor and the per-sensor counters are committed in ONE
 * d4_store_pssl_apply. */
#define D4_ANALYZE_PSSL_CURSOR "pssl/frames" /* cursor name in the passive-SSL store */

struct d4_analyze_pssl_opts {
	struct d4_tls_config tls;      /* the extractor's limits, per type-1 session (0 fields: d4_tls defaults) */
	unsigned batch;		       /* handshakes per commit (default 1,000) */
	uint64_t retention_s;	       /* expire tuples whose time_last is older (wall clock); 0 = keep */
	unsigned max_sessions;	       /* sessions with state (default 1024, at most 8192; least recently used
					  evicted) */
	size_t max_line;	       /* bytes of one ja3-jl line (default 1 MiB) */
	size_t max_buffered;	       /* line and extractor bytes over all sessions (default 256 MiB; least
					  recently used sessions evicted beyond) */
	uint64_t sessions_dead_before; /* seconds: sessions started earlier are dead (the hub's start; 0 = off) */
	unsigned frames_per_walk;      /* frames read per read transaction (default 4096) */
};

/* Counters of a passive-SSL consumer since it was created (per-sensor
 * totals: d4_store_pssl_counters_*). Counters of committed batches only. */
struct d4_analyze_pssl_stats {
	uint64_t frames;	  /* type-1 and ja3-jl frames read past the cursor */
	uint64_t replayed;	  /* frames read again to rebuild state */
	uint64_t resumed;	  /* pcap streams rebuilt at a clean point of the cursor (instead of their start) */
	uint64_t handshakes;	  /* handshakes committed */
	uint64_t from_pcap;	  /* ... extracted from type-1 streams */
	uint64_t from_lines;	  /* ... read from ja3-jl lines */
	uint64_t go_lines;	  /* ... of which lines of the original Go sensor */
	uint64_t certs;		  /* certificates in those handshakes (chains included) */
	uint64_t certs_new;	  /* ... not stored before (parsed) */
	uint64_t bad_certs;	  /* new certificates that did not parse (stored unparsed) */
	uint64_t certs_refused;	  /* certificates left out of a chain: empty or over D4_PSSL_DER_MAX */
	uint64_t certs_missing;	  /* known certificates the store no longer had (d4_store_pssl_apply) */
	uint64_t bad_lines;	  /* ja3-jl lines refused (incl. overlong) */
	uint64_t bad_packets;	  /* pcap records not decodable, streams refused */
	uint64_t streams_refused; /* pcap streams failed (not pcap, pcapng, record too big) */
	uint64_t tls_flows;	  /* TCP flows the extractors created */
	uint64_t tls_not_tls;	  /* directions that were not TLS */
	uint64_t tls_gaps;	  /* directions abandoned at a hole */
	uint64_t tls_limits;	  /* directions abandoned at max_dir_bytes / max_segments */
	uint64_t tls_evicted;	  /* flows evicted (max_flows, max_bytes) */
	uint64_t tls_errors;	  /* hellos and Certificate messages that did not parse */
	uint64_t frames_lost;	  /* frames deleted by retention before they were read */
	uint64_t evictions;	  /* session states dropped for the session or byte caps */
	uint64_t commits;	  /* store transactions */
	uint64_t txn_ms_max;	  /* longest store transaction (ms) */
	uint64_t expired;	  /* tuples removed by [pssl] retention */
	uint64_t cursor;	  /* last frame seq accounted for */
	uint64_t replay_from;	  /* replay point recorded in the cursor */
	uint64_t last_seq;	  /* last committed frame seq seen in the store */
	uint64_t lag;		  /* last_seq - cursor */
	uint64_t sessions;	  /* sessions with state */
	uint64_t buffered;	  /* line and extractor bytes held */
};

/* Checks the options (d4hub -n). 0 or D4_EINVAL with a message in err. */
int d4_analyze_pssl_opts_check(const struct d4_analyze_pssl_opts *o, char *err, size_t errsize);

struct d4_analyze_pssl;
/* Loads the cursor (a fresh start reads the log from its first frame).
 * *out owned by the caller, free with _free; the store must stay open and
 * writable meanwhile. Returns 0, D4_EINVAL, D4_ECORRUPT (cursor value
 * unreadable), D4_ENOMEM or a store error. */
int d4_analyze_pssl_new(struct d4_store *s, const struct d4_analyze_pssl_opts *o, struct d4_analyze_pssl **out);
/* Reads and commits up to max_batches batches (0 = until caught up). *idle
 * (may be NULL) is set to 1 when no frame past the cursor was left. Returns
 * the number of batches committed or a negative error (the consumer then
 * went back to its last commit: calling again reads the same frames). */
int d4_analyze_pssl_step(struct d4_analyze_pssl *x, unsigned max_batches, int *idle);
/* Housekeeping, about once a second: sessions that ended and are read to
 * their end are finished (their extractor flushed, an unterminated last
 * line of a stream its sender closed parsed) and dropped; expires old
 * tuples when retention is set (at most every expire_every_s). Returns 0 or
 * an error. */
int d4_analyze_pssl_maintain(struct d4_analyze_pssl *x, uint64_t now_s, uint64_t expire_every_s);
void d4_analyze_pssl_stats(struct d4_analyze_pssl *x, struct d4_analyze_pssl_stats *out);
/* Frees the in-memory state; nothing uncommitted is written. */
void d4_analyze_pssl_free(struct d4_analyze_pssl *x);
/* Counters of the running worker's passive-SSL consumer (API, /metrics).
 * 0, or D4_ENOTFOUND when none runs in this process. Thread-safe. */
int d4_analyze_pssl_stats_global(struct d4_analyze_pssl_stats *out);
/* ---- the weak-key job (pssl_weak.c, docs/passivessl.md "Weak keys") ----
 * Follows the passive-SSL store's public keys in id order from the job's
 * position (d4_store_pssl_weak_position) in batches: the RSA moduli go
 * through the incremental batch GCD (analyzers/weakkeys), every RSA key
 * through the exponent policy, every key carried by several subjects
 * through the shared-key check; the findings of a batch and the new
 * position are written in ONE d4_store_pssl_weak_apply. The set of moduli
 * lives in memory only: it is rebuilt from the stored keys up to the
 * position when the job starts (no saved state). Runs on its own thread,
 * niced, never on the frame log's path. */
#define D4_ANALYZE_WEAK_KIND_EXPONENT	33u /* reason: D4_WEAKKEYS_E_* flags */
#define D4_ANALYZE_WEAK_KIND_SHARED_KEY 34u /* one SPKI under unrelated subjects; reason: subject groups */
#define D4_ANALYZE_WEAK_BATCH_MAX	65536u
#define D4_ANALYZE_WEAK_CERTS_MAX	64u /* certificates of one key read by the shared-key check */
/* Modulus bytes of one batch: a batch ends before the key that would pass
 * it (its product tree holds about log2(n) + 1 copies of that much). */
#define D4_ANALYZE_WEAK_BATCH_BYTES (4u << 20)

struct d4_analyze_weak_opts {
	unsigned interval_s; /* pause between looks once caught up (default 60) */
	unsigned batch;	     /* keys per batch and transaction (default 4096, <= D4_ANALYZE_WEAK_BATCH_MAX) */
	uint64_t max_keys;   /* RSA moduli the set may hold (default 1,048,576; <= 2^26): above, the job stops */
	uint64_t max_bytes;  /* modulus bytes the set may hold (default 512 MiB; the set takes about twice): the same */
	int nice;	     /* niceness added to the job's thread (default 10; -1 = none) */
	unsigned rescan_s;   /* shared-key sweep over every stored key (default 3600; 0 = never) */
	unsigned pause_ms;   /* pause between two batches while behind (default 50) */
};

enum d4_analyze_weak_state {
	D4_ANALYZE_WEAK_STARTING = 0, /* rebuilding the set */
	D4_ANALYZE_WEAK_RUNNING,      /* caught up or working */
	D4_ANALYZE_WEAK_FULL,	      /* stopped: max_keys or max_bytes reached (raise it and restart) */
	D4_ANALYZE_WEAK_FAILED,	      /* stopped: the set could not be rebuilt (last_error) */
};

struct d4_analyze_weak_stats {
	int state;	       /* enum d4_analyze_weak_state */
	int last_error;	       /* last D4_E* code of a batch or the rebuild (0: none) */
	uint64_t position;     /* highest key id processed (committed) */
	uint64_t set_size;     /* moduli in the set */
	uint64_t set_bytes;    /* their bytes */
	uint64_t rebuilt;      /* moduli loaded from the store at the start */
	uint64_t rebuild_ms;   /* duration of that rebuild */
	uint64_t keys;	       /* keys processed since the start */
	uint64_t rsa;	       /* ... of which RSA moduli given to the batch GCD */
	uint64_t findings;     /* findings written since the start */
	uint64_t batches;      /* batches committed */
	uint64_t batch_ms_max; /* longest batch (GCD + checks + commit) */
	uint64_t sweeps;       /* shared-key sweeps done */
	uint64_t last_batch_s; /* wall clock of the last committed batch (0: none) */
	uint64_t errors;       /* batches that failed (retried) */
	uint64_t refused_full; /* batches refused for max_keys or max_bytes */
};

/* Kind names of the API ("shared-prime", "weak-exponent"...) and back
 * (0 for an unknown name). Static strings. */
const char *d4_analyze_weak_kind_name(unsigned kind);
unsigned d4_analyze_weak_kind_parse(const char *name);
/* Checks the options (d4hub -n). 0 or D4_EINVAL with a message in err. */
int d4_analyze_weak_opts_check(const struct d4_analyze_weak_opts *o, char *err, size_t errsize);

struct d4_analyze_weak;
/* Rebuilds the set from the keys stored up to the job's position (the keys
 * the batch GCD did not add -- invalid and small-factor findings -- left
 * out). *out owned by the caller, free with _free; the store must stay
 * open and writable meanwhile. Returns 0, D4_EINVAL (options), D4_ETOOBIG
 * (more moduli or modulus bytes stored than max_keys / max_bytes: message
 * logged), D4_ENOMEM or a store error. */
int d4_analyze_weak_new(struct d4_store *s, const struct d4_analyze_weak_opts *o, struct d4_analyze_weak **out);
/* Processes up to max_batches batches (0 = until caught up); *idle (may be
 * NULL) = 1 when no key was left past the position. Returns the number of
 * batches committed or a negative error: D4_ETOOBIG when the next batch
 * would take the set above max_keys or max_bytes (nothing written, the
 * position stays), or a store error (D4_EFULL: the map is full) or memory
 * error (the set is rebuilt from the store before the next batch, the batch
 * is read again). */
int d4_analyze_weak_step(struct d4_analyze_weak *x, unsigned max_batches, int *idle);
/* The shared-key check again over every key up to the position that is
 * carried by several subjects (a certificate of another subject may have
 * come after the key was processed): writes the findings not yet stored.
 * *found (may be NULL) gets their number. 0 or an error. */
int d4_analyze_weak_sweep(struct d4_analyze_weak *x, uint64_t *found);
void d4_analyze_weak_stats(struct d4_analyze_weak *x, struct d4_analyze_weak_stats *out);
void d4_analyze_weak_free(struct d4_analyze_weak *x);
/* The running job's counters (API, /metrics). 0, or D4_ENOTFOUND when no
 * job runs in this process. Thread-safe. */
int d4_analyze_weak_stats_global(struct d4_analyze_weak_stats *out);

/* ---- the hub's analyzer worker ---- */
struct d4_analyze_opts {
	int pdns_enabled;
	struct d4_analyze_pdns_opts pdns;
	int bs_enabled;
	struct d4_analyze_bs_opts bs;
	int pssl_enabled;
	struct d4_analyze_pssl_opts pssl;
	int weak_enabled; /* the weak-key job, on a thread of its own */
	struct d4_analyze_weak_opts weak;
};
struct d4_analyze;
/* Starts one worker thread running every enabled analyzer. *out owned by the
 * caller, stop with d4_analyze_stop (NULL is a no-op). The worker registers
 * itself for d4_analyze_pdns_stats_global and d4_analyze_bs_stats_global.
 * Returns 0 or an error. */
int d4_analyze_start(struct d4_store *s, const struct d4_analyze_opts *o, struct d4_analyze **out);
/* Stops the thread after its current batch (committed or dropped whole) and
 * frees everything. */
void d4_analyze_stop(struct d4_analyze *a);
/* Counters of the running worker's pDNS consumer (for /metrics). Returns 0,
 * or D4_ENOTFOUND when no worker runs pDNS in this process. Thread-safe. */
int d4_analyze_pdns_stats_global(struct d4_analyze_pdns_stats *out);

#endif
