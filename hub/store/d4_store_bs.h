/* d4hub store — backscatter attack vectors (part of the store module; its
 * own header like d4_store_pdns.h). docs/backscatter.md "In the hub",
 * docs/store.md.
 *
 * A vector is identified by (origin hub, victim, kind, first_us): origin is
 * all-zero for vectors this hub derived itself, the producing hub's uuid for
 * vectors received from partners. Ongoing vectors are updated in place until
 * their final (closed) state; every write of a vector gives it a new change
 * sequence number, so that a reader (the federation source) can follow the
 * changes in order from a position.
 *
 * Besides the vectors the store keeps, for the hub's consumer of type-1
 * frames, the serialised state of its open vectors (opaque bytes keyed by
 * victim and kind, d4_bs_agg_dirty / d4_bs_agg_restore), its cursor and its
 * per-sensor counters, all written with the vectors in ONE write
 * transaction (d4_store_bs_apply): a restart resumes exactly where the last
 * commit ended.
 *
 * The store does not depend on analyzers/backscatter: kinds and states are
 * the numeric values of enum d4_bs_kind / d4_bs_state, stored as given. */
#ifndef D4_STORE_BS_H
#define D4_STORE_BS_H

#include "d4_store.h"

#include <stddef.h>
#include <stdint.h>

#define D4_STORE_BS_TOP_PORTS  10	    /* = D4_BS_TOP_PORTS */
#define D4_STORE_BS_SENSORS    8	    /* = D4_BS_MAX_SENSORS */
#define D4_STORE_BS_VIA_MAX    16u	    /* hubs a received vector came through */
#define D4_STORE_BS_STATE_MAX  (64u << 10)  /* bytes of one open vector's serialised state */
#define D4_STORE_BS_CURSOR_MAX (256u << 10) /* bytes of the consumer's cursor value */
#define D4_STORE_BS_REASONS    16u	    /* per-reason counters kept per sensor */
#define D4_STORE_BS_KINDS      16u	    /* per-kind counters kept per sensor */
#define D4_STORE_BS_RESUME_MAX 96u	    /* query resume cursor bytes */
#define D4_STORE_FED_PROOF_MAX 666u	    /* a received record's proof under its origin's seal (= D4_FED_PROOF_MAX) */

/* A vector as written and as read back (read: pointers none, every field a
 * copy). Field meanings: struct d4_bs_vector in d4_backscatter.h. */
struct d4_store_bs_vec {
	/* identity */
	uint8_t origin[16]; /* all-zero: this hub */
	uint8_t victim[16]; /* IPv4 v4-mapped */
	uint8_t kind;	    /* enum d4_bs_kind, 1..D4_STORE_BS_KINDS-1 */
	uint64_t first_us;
	/* state */
	uint8_t state; /* enum d4_bs_state: 1 ongoing, 2 closed */
	uint64_t last_us;
	uint64_t packets, bytes;
	struct {
		uint16_t port;
		uint64_t packets;
	} ports[D4_STORE_BS_TOP_PORTS];
	uint32_t n_ports;
	uint32_t ports_distinct;
	uint64_t ports_other;
	uint64_t telescope_addrs;
	uint8_t telescope_exact;
	uint32_t peak_ppm;
	double observed_pps, est_pps, est_peak_pps;
	uint8_t est_valid;
	uint8_t sensors[D4_STORE_BS_SENSORS][16];
	uint32_t n_sensors;
	uint8_t sensors_more;
	uint8_t tlp; /* enum d4_tlp, resolved; NONE/UNCLEAR/out of range stored as RED (fail closed) */
	uint8_t org[16];
	uint8_t org_mixed;
	uint32_t updates;
	/* provenance of a received vector (all zero for local ones) */
	uint8_t received;   /* 1: came from a partner */
	uint8_t stripped;   /* arrived stripped (tlp:ex:chr): no org, sensors, via */
	uint8_t sender[16]; /* the partner hub it came from */
	uint8_t nvia;	    /* hubs it came through, oldest first */
	uint8_t via[D4_STORE_BS_VIA_MAX][16];
	/* its origin's signature and consent to relaying, as it arrived
	 * (D4_STORE_FED_SIG_SIGNED 0x01, D4_STORE_FED_SIG_ONWARD 0x02) */
	uint8_t sig_flags;
	uint8_t sig[64];
	/* D4_STORE_FED_SIG_SEALED 0x04: its proof under its origin's seal
	 * (federation's d4_fed_proof_encode, opaque to the store) */
	uint16_t proof_len;
	uint8_t proof[D4_STORE_FED_PROOF_MAX];
	/* filled when read back (ignored on write) */
	uint64_t id;	     /* stable for the vector's life */
	uint64_t change_seq; /* sequence number of its last write */
	uint64_t stored_s;   /* wall-clock seconds of its last write */
};

/* Per-sensor counters of the hub's consumer (deltas in apply, totals when read). */
struct d4_store_bs_counters {
	uint8_t sensor[16];
	uint64_t frames;			 /* type-1 frames read */
	uint64_t packets;			 /* packets decoded */
	uint64_t bad_packets;			 /* records / packets not decodable, pcap streams refused */
	uint64_t backscatter;			 /* counted in a vector */
	uint64_t by_kind[D4_STORE_BS_KINDS];	 /* backscatter per kind (enum d4_bs_kind) */
	uint64_t by_reason[D4_STORE_BS_REASONS]; /* not backscatter, per reason (enum d4_bs_reason) */
	uint64_t dropped;			 /* backscatter not counted (vector table full) */
};

/* One open vector's serialised state, or its removal (state NULL, len 0). */
struct d4_store_bs_state {
	uint8_t victim[16];
	uint8_t kind;
	const uint8_t *state; /* borrowed; <= D4_STORE_BS_STATE_MAX */
	size_t len;
};

/* One commit of the consumer. Everything borrowed for the call. */
struct d4_store_bs_update {
	const struct d4_store_bs_vec *vecs; /* upserted by identity (origin, victim, kind, first_us) */
	size_t nvecs;
	const struct d4_store_bs_state *states; /* put / deleted */
	size_t nstates;
	int states_reset;	 /* 1: delete every stored state first (a consumer starting over) */
	const char *cursor_name; /* NULL: no cursor; else 1..63 bytes, e.g. "bs/frames" */
	const uint8_t *cursor;	 /* opaque, <= D4_STORE_BS_CURSOR_MAX */
	size_t cursor_len;
	const struct d4_store_bs_counters *deltas; /* added to the per-sensor totals */
	size_t ndeltas;
};

/* Applies u in ONE write transaction: everything or nothing. A vector that
 * is already stored CLOSED is not changed by a later write of the same
 * identity (a final state is final); a write with fewer packets than the
 * stored one is ignored (an older update arriving late). Returns 0,
 * D4_EINVAL (bad sizes, kind 0 or >= D4_STORE_BS_KINDS, bad cursor name),
 * D4_EFULL (map full: nothing applied), D4_EPERM (read-only) or a store
 * error. Nothing is retained. */
int d4_store_bs_apply(struct d4_store *s, const struct d4_store_bs_update *u);

/* The consumer's cursor: copies it into buf (cap bytes), *len its length.
 * 0, D4_ENOTFOUND, D4_ETOOBIG, store errors. */
int d4_store_bs_cursor_get(struct d4_store *s, const char *name, uint8_t *buf, size_t cap, size_t *len);
/* Every stored open-vector state (key order: victim, kind); cb non-zero
 * stops (returned). Bytes valid during the call only. */
int d4_store_bs_states_foreach(struct d4_store *s,
			       int (*cb)(void *ctx, const uint8_t victim[16], uint8_t kind, const uint8_t *state,
					 size_t len),
			       void *ctx);
/* Counter totals of one sensor (0, D4_ENOTFOUND) or all in uuid order. */
int d4_store_bs_counters_get(struct d4_store *s, const uint8_t sensor[16], struct d4_store_bs_counters *out);
int d4_store_bs_counters_foreach(struct d4_store *s, int (*cb)(void *ctx, const struct d4_store_bs_counters *c),
				 void *ctx);

/* ---- queries ---- */

/* Which vectors. Every set field must match (AND). Times in microseconds,
 * 0 = unset. A vector matches the time range when it overlaps it:
 * first_us <= until_us and last_us >= since_us. */
struct d4_store_bs_query {
	uint64_t since_us, until_us;
	uint8_t has_victim; /* victim range [victim_lo, victim_hi] (an address or a CIDR) */
	uint8_t victim_lo[16], victim_hi[16];
	uint8_t has_port;
	uint16_t port; /* among the vector's listed ports */
	uint8_t kind;  /* 0 = any */
	uint8_t has_sensor;
	uint8_t sensor[16]; /* among the vector's listed sensors */
	uint8_t has_origin;
	uint8_t origin[16];    /* all-zero = local vectors only */
	uint8_t ongoing;       /* 1: state ongoing only */
	uint8_t max_tlp;       /* the reader's clearance, as d4_store_pdns_query.max_tlp: a vector is
				* visible when d4_policy_tlp_visible(max_tlp, tlp); others are skipped */
	uint32_t limit;	       /* 0 = no limit */
	const uint8_t *resume; /* from a previous call's result (same query), NULL = from the start */
	size_t resume_len;
};

/* Result of a query call. */
struct d4_store_bs_qresult {
	uint32_t returned;
	int more; /* 1: at least one more visible vector matches after the last returned */
	uint8_t resume[D4_STORE_BS_RESUME_MAX];
	size_t resume_len; /* valid when returned > 0 */
};

/* Runs q in one read transaction; cb gets each visible matching vector
 * (valid during the call) in a deterministic order: victim range given:
 * by (victim, first_us); sensor given: by (sensor, last_us desc); port
 * given: by (port, last_us desc); otherwise by last_us descending (most
 * recent activity first); ties by id. cb returns 0 to go on, > 0 to stop
 * after this vector (counted), < 0 to abort with that code. Returns 0,
 * D4_EINVAL (bad query or a resume cursor not from this query's order) or a
 * store error. */
int d4_store_bs_query(struct d4_store *s, const struct d4_store_bs_query *q,
		      int (*cb)(void *ctx, const struct d4_store_bs_vec *v), void *ctx,
		      struct d4_store_bs_qresult *res);

/* One vector by id: 0, D4_ENOTFOUND. */
int d4_store_bs_get(struct d4_store *s, uint64_t id, struct d4_store_bs_vec *out);

/* Vectors in change order, each at its latest write: those with change_seq
 * > after, ascending; cb non-zero stops (returned). For the federation
 * source (positions are change sequence numbers). *last (may be NULL)
 * gets the highest change_seq stored. */
int d4_store_bs_changes(struct d4_store *s, uint64_t after, int (*cb)(void *ctx, const struct d4_store_bs_vec *v),
			void *ctx, uint64_t *last);

struct d4_store_bs_info {
	uint64_t vectors;    /* stored */
	uint64_t ongoing;    /* of which ongoing */
	uint64_t states;     /* open-vector states stored */
	uint64_t bytes;	     /* pages of the backscatter tables x page size */
	uint64_t change_seq; /* highest */
};
int d4_store_bs_info(struct d4_store *s, struct d4_store_bs_info *out);

/* Removes vectors whose last_us < cutoff_us (closed or not), in write
 * transactions of at most max_per_txn (0 = 10,000). *removed may be NULL. */
int d4_store_bs_expire(struct d4_store *s, uint64_t cutoff_us, unsigned max_per_txn, uint64_t *removed);

#endif
