/* d4hub store — the passive-DNS tuple store (part of the store module; its
 * own header so that it stays apart from the frame-log API in d4_store.h).
 *
 * A tuple is (rrname, rrtype, rdata) with time_first = min, time_last = max,
 * count = sum over its observations, a bounded set of sensors, a bailiwick,
 * a TLP (most restrictive of its sources) and an org. Names are expected in
 * the canonical presentation form of analyzers/pdns (lower-case, absolute);
 * the store lower-cases ASCII and adds a missing trailing dot itself so that
 * keys never depend on the caller getting that right. Layout, merge rules
 * and limits: docs/pdns.md "Storage and indexes", docs/store.md. */
#ifndef D4_STORE_PDNS_H
#define D4_STORE_PDNS_H

#include "d4_store.h"

#include <stddef.h>
#include <stdint.h>

#define D4_PDNS_SENSORS_KEEP	 8     /* sensor uuids kept per tuple (then only counted) */
#define D4_PDNS_HUBS_KEEP	 4     /* origin hubs kept per tuple received from partners */
#define D4_PDNS_STORE_NAME_MAX	 1025  /* presentation name incl. \DDD escapes + NUL */
#define D4_PDNS_STORE_RDATA_MAX	 65536 /* presentation rdata bytes */
#define D4_PDNS_CURSOR_NAME_MAX	 64    /* ingest cursor name: 1..63 bytes */
#define D4_PDNS_CURSOR_VALUE_MAX 4096  /* opaque ingest cursor value */
#define D4_PDNS_RESUME_MAX	 520   /* query resume cursor bytes */

/* One observation to merge. Strings are borrowed for the call; rrname and
 * rdata need not be NUL-terminated when their lengths are given (len 0 =
 * strlen). tlp is a resolved enum d4_tlp; NONE/UNCLEAR/out of range are
 * stored as RED (fail closed: the store cannot know the defaults). */
struct d4_store_pdns_obs {
	const char *rrname;
	size_t rrname_len;
	uint16_t rrtype;
	const char *rdata;
	size_t rdata_len;
	const char *bailiwick;		/* NULL or "" when unknown */
	uint64_t time_first, time_last; /* seconds; time_last < time_first is swapped */
	uint64_t count;			/* 0 counts as 1 */
	uint8_t sensor[16];
	uint8_t has_sensor;
	uint8_t tlp;
	uint8_t org[16]; /* all-zero = no org */
};

/* Per-sensor pDNS counters (deltas in apply, totals when read). */
struct d4_store_pdns_counters {
	uint8_t sensor[16];
	uint64_t observations; /* observations applied */
	uint64_t bad_lines;    /* CSV/COF lines skipped */
	uint64_t bad_packets;  /* frames/packets not decodable */
};

/* The ingest's position, committed with the observations it produced. */
struct d4_store_pdns_cursor {
	const char *name;     /* 1..63 bytes, e.g. "pdns/frames" */
	const uint8_t *value; /* opaque to the store, <= D4_PDNS_CURSOR_VALUE_MAX */
	size_t value_len;
	const struct d4_store_pdns_counters *deltas; /* added to the per-sensor totals */
	size_t ndeltas;
};

/* Merges obs[0..n) and, when cur is not NULL, writes the cursor and adds the
 * counter deltas — all in ONE write transaction: either everything is
 * committed or nothing (a restart then resumes from the previous cursor and
 * neither loses nor double-counts). Observations with an empty rrname or
 * one longer than D4_PDNS_STORE_NAME_MAX-1 / rdata above
 * D4_PDNS_STORE_RDATA_MAX are skipped (not an error; *skipped may be NULL).
 * Returns 0, D4_EINVAL (bad cursor), D4_EFULL (map full: nothing applied),
 * D4_EPERM (read-only store) or a store error. Nothing is retained. */
int d4_store_pdns_apply(struct d4_store *s, const struct d4_store_pdns_obs *obs, size_t n,
			const struct d4_store_pdns_cursor *cur);
/* As d4_store_pdns_apply, and with side records for the mixing thresholds
 * of the federation source (docs/store.md "pdns_side"): frame_seq[i] is the
 * frame log seq of the frame obs[i] belongs to, 0 for none. The
 * observations of one frame are consecutive; for each frame the same write
 * transaction records, in order, what the merge of each of them left in its
 * tuple (struct d4_store_pdns_side_obs; all zero for one the store skips),
 * with d4_store_pdns_side_fp of the frame's observations. frame_seq
 * borrowed; NULL = d4_store_pdns_apply. */
int d4_store_pdns_apply_frames(struct d4_store *s, const struct d4_store_pdns_obs *obs, const uint64_t *frame_seq,
			       size_t n, const struct d4_store_pdns_cursor *cur);

/* One observation in a side record: its tuple right after its merge. */
struct d4_store_pdns_side_obs {
	uint64_t count;		 /* the tuple's count (0: the store skipped the observation) */
	uint32_t sensors;	 /* its distinct sensors (as sensor_count) */
	uint32_t sensors_before; /* ... before this merge (<= sensors) */
	uint64_t tf_delta;	 /* the observation's time_first minus the tuple's (both after normalising) */
	uint64_t tl_delta;	 /* the tuple's time_last minus the observation's */
	uint8_t tlp;		 /* the tuple's TLP (the most restrictive of its sources so far) */
	uint8_t org_mixed;	 /* its sources disagreed on the org */
	uint8_t received;	 /* it holds observations received from partner hubs */
};

/* A fingerprint of n observations (rrname, rrtype, rdata and count of each,
 * in order): what tells a reader of a side record that the frame's
 * observations it has are the ones the record was made from. Not
 * cryptographic (a check against two consumers disagreeing, docs/store.md). */
uint64_t d4_store_pdns_side_fp(const struct d4_store_pdns_obs *obs, size_t n);

/* Bytes d4_store_pdns_side_encode needs at most for n observations. */
#define D4_PDNS_SIDE_LEN(n) (1u + 8u + 10u + (size_t)(n)*41u)
/* Encodes a side record (version 1: u8 1 || u64be fp || varint n || n x
 * (varint count, varint sensors, varint sensors - sensors_before, varint
 * tf_delta, varint tl_delta, u8 tlp | org_mixed << 3 | received << 4))
 * into out (D4_PDNS_SIDE_LEN(n) bytes); returns its length. */
size_t d4_store_pdns_side_encode(uint64_t fp, const struct d4_store_pdns_side_obs *e, size_t n, uint8_t *out);
/* Decodes a side record (stored bytes: untrusted): *fp, *n and, when *n <=
 * cap, e[0..n). Pure; one encoding per record (minimal varints, no unknown
 * flag). Returns 0, D4_ETOOBIG (more than cap observations; *n is set) or
 * D4_ECORRUPT. */
int d4_store_pdns_side_decode(const uint8_t *p, size_t len, uint64_t *fp, struct d4_store_pdns_side_obs *e, size_t cap,
			      size_t *n);
/* The side records of frames seqs[0..n), in one read transaction: cb(ctx,
 * i, value, len) for each one stored (value valid during the call; cb
 * non-zero stops with that value). 0 or a store error. */
int d4_store_pdns_side_read(struct d4_store *s, const uint64_t *seqs, size_t n,
			    int (*cb)(void *ctx, size_t i, const uint8_t *val, size_t len), void *ctx);

/* Copies the value of cursor `name` into buf (cap bytes), *len gets its
 * length. Returns 0, D4_ENOTFOUND, D4_ETOOBIG (cap too small) or an error. */
int d4_store_pdns_cursor_get(struct d4_store *s, const char *name, uint8_t *buf, size_t cap, size_t *len);
/* Counter totals of one sensor (0, D4_ENOTFOUND) or of all in uuid order
 * (cb non-zero stops; *c valid during the call). */
int d4_store_pdns_counters_get(struct d4_store *s, const uint8_t sensor[16], struct d4_store_pdns_counters *out);
int d4_store_pdns_counters_foreach(struct d4_store *s, int (*cb)(void *ctx, const struct d4_store_pdns_counters *c),
				   void *ctx);

/* A stored tuple as handed to query callbacks: every pointer is valid during
 * the callback only (they point into the read transaction's pages). */
struct d4_store_pdns_tuple {
	uint64_t id; /* internal, stable for the tuple's life */
	const char *rrname;
	size_t rrname_len;
	uint16_t rrtype;
	const char *rdata;
	size_t rdata_len;
	const char *bailiwick; /* NULL when unknown */
	size_t bailiwick_len;
	uint64_t time_first, time_last, count;
	uint8_t tlp;
	uint8_t org[16];			   /* all-zero: none, or sources of several orgs (org_mixed) */
	uint8_t org_mixed;			   /* 1 when sources disagreed on the org */
	uint8_t nsensors;			   /* uuids kept (<= D4_PDNS_SENSORS_KEEP) */
	uint8_t sensors[D4_PDNS_SENSORS_KEEP][16]; /* sorted */
	uint32_t sensor_count;			   /* distinct sensors: exact up to KEEP, an estimate beyond */
	/* origin hubs of the observations received from partner hubs (sorted;
	 * local observations add none; beyond KEEP further hubs are not kept) */
	uint8_t nhubs;
	uint8_t hubs[D4_PDNS_HUBS_KEEP][16];
};

enum d4_store_pdns_qkind {
	D4_PDNS_Q_NAME = 1,	   /* rrname exact */
	D4_PDNS_Q_NAME_LEFT,	   /* rrname below `name` ("*.example.com." -> name "example.com.") */
	D4_PDNS_Q_NAME_RIGHT,	   /* rrname starting with the labels of `name` ("www.example.*" -> "www.example") */
	D4_PDNS_Q_RDATA_NAME,	   /* a name inside rdata (NS, CNAME, PTR, MX, SRV, DNAME, SOA mname, ...) */
	D4_PDNS_Q_RDATA_NAME_LEFT, /* ... below `name` */
	D4_PDNS_Q_RDATA_NAME_RIGHT,
	D4_PDNS_Q_RDATA_IP,  /* A/AAAA rdata in [ip_lo, ip_hi] of ip_family */
	D4_PDNS_Q_RDATA_RAW, /* rdata bytes equal to raw */
};

/* A query. Time filters are absolute seconds, 0 = not set, inclusive:
 * *_before = T keeps tuples with time <= T, *_after = T those with time >= T. */
#define D4_PDNS_TF_BEFORE_SET 1u
#define D4_PDNS_TL_BEFORE_SET 2u
struct d4_store_pdns_query {
	enum d4_store_pdns_qkind kind;
	const char *name;   /* name kinds: without the "*." / ".*" (trailing dot optional) */
	const uint8_t *raw; /* RDATA_RAW */
	size_t raw_len;
	uint8_t ip_family; /* RDATA_IP: 4 (A, addresses v4-mapped) or 6 (AAAA) */
	uint8_t ip_lo[16], ip_hi[16];
	uint16_t rrtype;       /* 0 = any */
	const char *bailiwick; /* NULL = any */
	uint64_t time_first_before, time_first_after, time_last_before, time_last_after;
	/* D4_PDNS_TF_BEFORE_SET / D4_PDNS_TL_BEFORE_SET: that *_before bound
	 * applies even when 0 (the epoch: only tuples at time 0 pass) */
	uint8_t before_set;
	uint8_t max_tlp;       /* enum d4_tlp, the reader's clearance: a tuple is visible when
				* d4_policy_tlp_visible(max_tlp, tlp); others are skipped (not counted); 0 = none visible */
	uint32_t limit;	       /* 0 = no limit */
	const uint8_t *resume; /* NULL/0: from the start; else a cursor from a previous call */
	size_t resume_len;
};

/* Result of a query call. */
struct d4_store_pdns_qresult {
	uint32_t returned;		    /* tuples passed to cb */
	int more;			    /* 1: at least one more tuple matches after the resume cursor */
	uint8_t resume[D4_PDNS_RESUME_MAX]; /* valid when returned > 0: continues right after the last one */
	size_t resume_len;
};

/* Runs q in one read transaction, calling cb for each visible matching tuple
 * in the index's key order (deterministic: see docs/pdns.md) until limit;
 * cb returns 0 to go on, positive to stop after this tuple (it counts as
 * returned), negative to abort with that code. A resume cursor must come
 * from the same query kind and key (else D4_EINVAL). Returns 0, D4_EINVAL
 * (bad query or cursor) or a store error. A store opened read-only before
 * its pDNS tables existed answers every query with no tuple. */
int d4_store_pdns_query(struct d4_store *s, const struct d4_store_pdns_query *q,
			int (*cb)(void *ctx, const struct d4_store_pdns_tuple *t), void *ctx,
			struct d4_store_pdns_qresult *res);

/* What the store holds of the tuples of n observations (federation's
 * mixing thresholds): count[i] the tuple's count and sensors[i] its
 * distinct sensors (as sensor_count of a query: exact up to KEEP, an
 * estimate beyond), 0 and 0 when the store holds no such tuple, whatever
 * its level. One read transaction, exact-key lookups. obs, count and
 * sensors (n entries each) borrowed. 0 or a store error. */
int d4_store_pdns_seen(struct d4_store *s, const struct d4_store_pdns_obs *obs, size_t n, uint64_t *count,
		       uint32_t *sensors);

struct d4_store_pdns_summary {
	uint64_t tuples;     /* visible tuples matched (up to limit when set) */
	uint64_t time_first; /* min over them, 0 when none */
	uint64_t time_last;  /* max */
	uint64_t count;	     /* sum of counts */
};
/* Aggregates over the same tuples d4_store_pdns_query would return
 * (q->limit caps the tuples summarised; resume is honoured). */
int d4_store_pdns_summarize(struct d4_store *s, const struct d4_store_pdns_query *q, struct d4_store_pdns_summary *out);

struct d4_store_pdns_info {
	uint64_t tuples;
	uint64_t bytes;	  /* pages of the pDNS tables (side records included) x page size */
	uint64_t next_id; /* ids handed out so far + 1 */
};
int d4_store_pdns_info(struct d4_store *s, struct d4_store_pdns_info *out);

/* Parses an IP query: "1.2.3.4", "1.2.3.0/24" or "1.2.3.0,24" (DNSDB),
 * "1.2.3.4-1.2.3.9", and the same with IPv6. Fills q->ip_family, ip_lo,
 * ip_hi (IPv4 as v4-mapped). Returns 0 or D4_EINVAL (bad text, prefix out
 * of range, mixed families, lo > hi). Host bits beyond a prefix are ignored. */
int d4_store_pdns_parse_ip(const char *text, struct d4_store_pdns_query *q);

/* Removes every tuple with time_last < cutoff and all its index entries,
 * in write transactions of at most max_per_txn tuples (0 = 10,000). *removed
 * (may be NULL) gets the number removed. Returns 0 or an error (tuples of the
 * transactions committed before it stay removed). */
int d4_store_pdns_expire(struct d4_store *s, uint64_t cutoff, unsigned max_per_txn, uint64_t *removed);

#endif
