/* d4_backscatter — backscatter classification and DoS attack vectors
 * (Moore et al., "Inferring Internet Denial-of-Service Activity", ACM TOCS
 * 2006; CAIDA corsaro "dos" plugin). A victim of a spoofed-source attack
 * replies to addresses that never talked to it (a telescope); those replies
 * are classified per packet and aggregated into one vector per
 * (victim address, kind of backscatter). See docs/backscatter.md.
 *
 * d4_bs_classify is a pure function over an already decoded packet
 * (analyzers/pkt). The aggregator owns all state: vectors in a hash table of
 * bounded size, the live-mode table of outbound 4-tuples (bounded), and
 * counters of every packet it did not count and why. No global state; one
 * aggregator is used by one thread at a time. Depends on hub/common and
 * analyzers/pkt only. */
#ifndef D4_BACKSCATTER_H
#define D4_BACKSCATTER_H

#include <stddef.h>
#include <stdint.h>

#include "d4_pkt.h"

/* Kind of backscatter. Values are stable (they may be stored). */
enum d4_bs_kind {
	D4_BS_NONE = 0, /* not backscatter */
	D4_BS_TCP_SYNACK = 1,
	D4_BS_TCP_RST = 2, /* RST with or without ACK */
	D4_BS_ICMP_ECHO_REPLY = 3,
	D4_BS_ICMP_UNREACH = 4,
	D4_BS_ICMP_TIME_EXCEEDED = 5,
	D4_BS_ICMP_SOURCE_QUENCH = 6,
	D4_BS_ICMP_PARAM_PROBLEM = 7,
	D4_BS_ICMP6_ECHO_REPLY = 8,
	D4_BS_ICMP6_UNREACH = 9,
	D4_BS_ICMP6_PACKET_TOO_BIG = 10,
	D4_BS_ICMP6_TIME_EXCEEDED = 11,
	D4_BS_ICMP6_PARAM_PROBLEM = 12,
	D4_BS_KIND_COUNT = 13
};

/* Why a packet is not backscatter (D4_BS_R_OK when it is). */
enum d4_bs_reason {
	D4_BS_R_OK = 0,
	D4_BS_R_SCAN = 1,	    /* TCP pure ACK (no payload), FIN alone, NULL, XMAS (FIN+PSH+URG) */
	D4_BS_R_NOT_REPLY = 2,	    /* request or ordinary traffic: TCP SYN, data, FIN+ACK, other flag mixes;
				       ICMP echo request, UDP, other IP protocols */
	D4_BS_R_ICMP_OTHER = 3,	    /* ICMP/ICMPv6 type that is neither a reply nor an error (redirect, ND, MLD...) */
	D4_BS_R_FRAGMENT = 4,	    /* IP fragment other than an IPv4 first fragment */
	D4_BS_R_MALFORMED = 5,	    /* transport header or quoted packet truncated or inconsistent */
	D4_BS_R_QUOTE_MISMATCH = 6, /* ICMP error whose quoted source is not the outer destination */
	D4_BS_R_NOT_TELESCOPE = 7,  /* destination outside every configured telescope prefix */
	D4_BS_R_OWN_FLOW = 8,	    /* live mode: reply to a 4-tuple seen leaving within the window */
	D4_BS_R_COUNT = 9
};

/* Classification of one packet. Addresses are 16 bytes, IPv4 as v4-mapped
 * IPv6 (::ffff:a.b.c.d) as in struct d4_pkt. */
struct d4_bs_class {
	uint8_t kind;	       /* enum d4_bs_kind; D4_BS_NONE when reason != D4_BS_R_OK */
	uint8_t reason;	       /* enum d4_bs_reason */
	uint8_t victim[16];    /* TCP/echo: the outer source; ICMP errors: the quoted packet's destination */
	uint8_t telescope[16]; /* the outer destination (the spoofed address the attacker used) */
	uint16_t port;	       /* attacked port of the victim: TCP source port; ICMP errors: quoted TCP/UDP
				  destination port (0 for other quoted protocols); echo reply: 0 */
	uint16_t tport;	       /* telescope side: TCP destination port, quoted source port, echo identifier */
	uint8_t proto;	       /* attacked protocol: 6 or 17 (or the quoted protocol), 1/58 for echo */
	uint32_t bytes;	       /* IP total length as declared by the outer header */
};

/* One telescope prefix. IPv4 prefixes are v4-mapped with len 96 + n. */
struct d4_bs_prefix {
	uint8_t addr[16];
	uint8_t len; /* 0..128 */
};

/* Options. Initialise with d4_bs_opts_default, then change what is needed. */
struct d4_bs_opts {
	/* Telescope prefixes (borrowed: must outlive the aggregator). Empty: every
	 * destination is accepted and the attack-rate estimate is not scaled
	 * (est_valid = 0 in the vectors). */
	const struct d4_bs_prefix *telescope;
	size_t n_telescope;
	/* Live-network mode: a reply whose 4-tuple matches a packet seen in the
	 * other direction within live_window_s is the answer to our own traffic. */
	int live;		 /* default 0 */
	uint32_t live_window_s;	 /* default 120 */
	uint32_t live_max_flows; /* table bound, default 65536 (rounded up to a power of 2) */
	/* Vector thresholds. */
	uint32_t idle_close_s;	 /* close after this long without packets, default 300 */
	uint32_t min_packets;	 /* report at >= , default 25 */
	uint32_t min_duration_s; /* last - first >= , default 60 */
	uint32_t min_peak_ppm;	 /* peak packets in one minute >= , default 30 */
	uint32_t update_s;	 /* ongoing reportable vectors emitted every, default 60 */
	/* Memory bounds. */
	uint32_t max_vectors;  /* open vectors, default 262144; beyond: packets counted as dropped */
	uint32_t distinct_cap; /* telescope addresses counted exactly up to this per vector (default
				  1024, at most 4096 so that a vector's state fits D4_BS_STATE_MAX), then
				  estimated (HyperLogLog, 1024 registers, ~3 % error) */
};

/* Fills *o with the defaults above (no telescope, live off). */
void d4_bs_opts_default(struct d4_bs_opts *o);

/* Parses "a.b.c.d/n", "a.b.c.d", "v6addr/n" or "v6addr" into *out (host bits
 * cleared). Returns 0 or D4_EINVAL. */
int d4_bs_prefix_parse(const char *s, struct d4_bs_prefix *out);

/* Classifies one decoded packet. Pure: reads *p (and the bytes it points
 * to, within p->l4 .. p->l4 + p->l4len) and the telescope prefixes of *o
 * (o may be NULL: no telescope filter). Live mode needs state and is applied
 * by the aggregator, not here. Always fills *out; returns out->kind. */
int d4_bs_classify(const struct d4_pkt *p, const struct d4_bs_opts *o, struct d4_bs_class *out);

/* Stable names: "tcp-synack", "tcp-rst", "icmp-echo-reply", "icmp-unreach",
 * "icmp-time-exceeded", "icmp-source-quench", "icmp-param-problem",
 * "icmp6-echo-reply", "icmp6-unreach", "icmp6-packet-too-big",
 * "icmp6-time-exceeded", "icmp6-param-problem"; "none". Static strings. */
const char *d4_bs_kind_name(int kind);
/* Parses a kind name; returns the kind or D4_BS_NONE. */
int d4_bs_kind_parse(const char *name);
/* "ok", "scan", "not-a-reply", "icmp-other", "fragment", "malformed",
 * "quote-mismatch", "not-telescope", "own-flow". Static strings. */
const char *d4_bs_reason_name(int reason);

#define D4_BS_TOP_PORTS	  10 /* ports reported per vector */
#define D4_BS_MAX_SENSORS 8  /* sensors listed per vector; more sets sensors_more */

struct d4_bs_port_count {
	uint16_t port;
	uint64_t packets;
};

enum d4_bs_state {
	D4_BS_ONGOING = 1, /* periodic update of an open vector */
	D4_BS_CLOSED = 2   /* final: idle for idle_close_s, or flushed */
};

/* An attack vector as emitted. Owned by the aggregator, valid only during
 * the emit callback. */
struct d4_bs_vector {
	uint8_t victim[16];
	uint8_t kind; /* enum d4_bs_kind */
	uint8_t state;
	uint64_t first_us, last_us; /* first and last packet timestamps (microseconds since the epoch) */
	uint64_t packets;
	uint64_t bytes; /* sum of declared IP total lengths */
	/* Top victim ports by packets (descending, ties by port ascending).
	 * Ports are counted exactly for the first 64 distinct ports of a vector;
	 * packets to further ports are in ports_other. */
	struct d4_bs_port_count ports[D4_BS_TOP_PORTS];
	uint32_t n_ports;	  /* entries used in ports[] */
	uint32_t ports_distinct;  /* distinct ports counted exactly (<= 64) */
	uint64_t ports_other;	  /* packets not attributed to a counted port */
	uint64_t telescope_addrs; /* distinct telescope (destination) addresses hit */
	uint8_t telescope_exact;  /* 1: exact count; 0: estimate (above distinct_cap) */
	uint32_t peak_ppm;	  /* most packets in one calendar minute (UTC, aligned to the minute) */
	double observed_pps;	  /* packets / max(1 s, last - first) */
	double est_pps;		  /* observed_pps x 2^(address bits not covered by the telescope) */
	double est_peak_pps;	  /* peak_ppm / 60 x the same factor */
	uint8_t est_valid;	  /* 0: no telescope prefix of this address family configured (factor 1) */
	uint8_t sensors[D4_BS_MAX_SENSORS][16]; /* sensor UUIDs, in order of first appearance */
	uint32_t n_sensors;
	uint8_t sensors_more; /* 1: more sensors contributed than listed */
	uint8_t tlp;	      /* enum d4_tlp (hub/policy), most restrictive (max) of its sources */
	uint8_t org[16];      /* all-zero: none, or sources of several orgs (org_mixed) */
	uint8_t org_mixed;
	uint32_t updates; /* ONGOING emissions before this one */
};

/* Aggregator counters. */
struct d4_bs_stats {
	uint64_t packets;		    /* d4_bs_agg_add calls */
	uint64_t backscatter;		    /* counted in a vector */
	uint64_t by_reason[D4_BS_R_COUNT];  /* not backscatter, per reason */
	uint64_t by_kind[D4_BS_KIND_COUNT]; /* backscatter, per kind */
	uint64_t dropped_full;		    /* backscatter not counted: vector table at max_vectors */
	uint64_t late;			    /* counted, but older than the vector's 16-minute peak window */
	uint64_t vectors_open;		    /* now */
	uint64_t vectors_reported;	    /* closed and reported */
	uint64_t vectors_unreported;	    /* closed below a threshold */
	uint64_t live_flows;		    /* entries in the live table now */
	uint64_t live_evicted;		    /* live entries replaced before they expired (table full) */
};

struct d4_bs_agg;

/* Creates an aggregator with a copy of *o (the telescope array itself is
 * borrowed). Returns NULL on allocation failure or invalid options (a
 * prefix len > 128, a zero threshold where one is needed). Free with
 * d4_bs_agg_free. */
struct d4_bs_agg *d4_bs_agg_new(const struct d4_bs_opts *o);
/* Frees everything; open vectors are dropped without being emitted (call
 * d4_bs_agg_flush first to get them). NULL is accepted. */
void d4_bs_agg_free(struct d4_bs_agg *a);

/* Adds one decoded packet seen at ts_us (microseconds since the epoch) by
 * sensor `sensor` (16-byte UUID, NULL: none) with TLP `tlp` (enum d4_tlp,
 * already resolved) and org `org` (16 bytes, NULL: none). Borrowed
 * arguments, nothing kept. A packet later than its vector's last packet by
 * idle_close_s or more closes that vector first (it is emitted at the next
 * tick). Returns 0 (counted or not backscatter: see the stats),
 * D4_EFULL (vector table full, counted in dropped_full) or D4_ENOMEM. */
int d4_bs_agg_add(struct d4_bs_agg *a, const struct d4_pkt *p, uint64_t ts_us, const uint8_t *sensor, uint8_t tlp,
		  const uint8_t *org);

/* As d4_bs_agg_add, and also fills *out (when not NULL) with the packet's
 * final classification: the live-mode verdict included (reason own-flow). For
 * a per-packet listing next to the vectors without classifying twice. */
int d4_bs_agg_add_class(struct d4_bs_agg *a, const struct d4_pkt *p, uint64_t ts_us, const uint8_t *sensor, uint8_t tlp,
			const uint8_t *org, struct d4_bs_class *out);

/* Receives a vector; return 0 to continue, a negative D4_E* code to stop
 * (the tick returns it; vectors not yet visited are kept as they were). */
typedef int (*d4_bs_emit_fn)(const struct d4_bs_vector *v, void *ud);

/* Advances time to now_us: vectors idle for idle_close_s are closed (emitted
 * as D4_BS_CLOSED if they meet every threshold, counted as unreported
 * otherwise, then freed); open vectors meeting every threshold are emitted
 * as D4_BS_ONGOING when update_s has passed since their last emission (or
 * they were never emitted). Expires the live table. Order of emission:
 * by (first_us, victim, kind). emit may be NULL (vectors are then dropped
 * silently). Returns 0 or the callback's error. */
int d4_bs_agg_tick(struct d4_bs_agg *a, uint64_t now_us, d4_bs_emit_fn emit, void *ud);

/* Closes every open vector (end of input): emitted as D4_BS_CLOSED when
 * reportable, in the order of d4_bs_agg_tick. Returns 0 or the callback's
 * error. */
int d4_bs_agg_flush(struct d4_bs_agg *a, d4_bs_emit_fn emit, void *ud);

/* Copies the counters into *st. */
void d4_bs_agg_stats(const struct d4_bs_agg *a, struct d4_bs_stats *st);

/* ---- persistence of open vectors (exact restarts of the hub's consumer) ----
 * The whole state of an open vector (counters, ports, the exact address set
 * or the sketch, the minute ring, sensors, TLP/org, emission state) as a
 * self-contained, versioned byte string. The hub commits the states of the
 * vectors changed since its last commit together with its cursor, and a
 * restarted consumer restores them into a fresh aggregator made with the
 * same options: the vectors then come out as if the run had not stopped. */
#define D4_BS_STATE_MAX (64u << 10) /* bytes of one vector's state, upper bound */

/* Receives one changed vector's key and state (bytes valid during the call
 * only), or, with state NULL and len 0, a vector that was closed (its stored
 * state is to be deleted). Return 0 to go on, a negative D4_E* to stop. */
typedef int (*d4_bs_state_fn)(void *ud, const uint8_t victim[16], uint8_t kind, const uint8_t *state, size_t len);

/* Reports every vector changed (a packet added, an emission) or closed since
 * the previous call (or since the aggregator was created or restored into),
 * then clears those marks; a vector opened and closed in between is
 * reported once as closed. Call right after d4_bs_agg_tick: vectors closed
 * by a packet and not yet emitted by a tick are not reported and the call
 * returns D4_EBUSY without clearing anything. Returns 0, D4_EBUSY, D4_ENOMEM
 * or the callback's error (marks then kept: the call can be repeated).
 * Closed vectors are remembered from the first call of d4_bs_agg_dirty or
 * d4_bs_agg_restore on: a vector closed before either was never reported, so
 * there is no state of it to delete. */
int d4_bs_agg_dirty(struct d4_bs_agg *a, d4_bs_state_fn cb, void *ud);

/* Adds one vector from its state (untrusted bytes: every field checked;
 * nothing kept). The aggregator must have the options the state was made
 * with (the thresholds are not stored). Returns 0, D4_ECORRUPT (bad or
 * foreign bytes), D4_EEXIST (that victim and kind is already open),
 * D4_EFULL (max_vectors) or D4_ENOMEM. A restored vector is not dirty. */
int d4_bs_agg_restore(struct d4_bs_agg *a, const uint8_t *state, size_t len);

/* Live mode only: records packet p seen at ts_us in the table of our own
 * flows exactly as d4_bs_agg_add would, without counting or classifying it
 * into a vector (the hub rebuilds the table after a restart by replaying
 * the frames of the last live_window_s). Returns 0. */
int d4_bs_agg_live_note(struct d4_bs_agg *a, const struct d4_pkt *p, uint64_t ts_us);

/* Writes the vector as one NDJSON object with a trailing '\n' into buf
 * (addresses in text, times as seconds with microseconds, kind and state by
 * name, sensors and org as UUID strings). Returns the length written
 * (excluding the NUL) or D4_ETOOBIG when cap is too small (2048 is always
 * enough). */
int d4_bs_vector_json(const struct d4_bs_vector *v, char *buf, size_t cap);

#endif
