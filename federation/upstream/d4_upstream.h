/* d4hub — the upstream relay (docs/upstream.md): the hub as a D4 client of
 * a public D4 server (CIRCL's, or another d4hub), under its own registered
 * sensor uuid and key. Selected streams of the hub's frame log -- by D4
 * type, extended type and TLP -- pass the federation's one egress function
 * (d4_fed_decide, through d4_fed_source) as a `community` partner (max TLP
 * tlp:green) or a `public` one (tlp:clear), and go out as plain D4 frames
 * (the meta header first for type 254) through the sensor library's
 * connection (d4_sensor_conn: TLS, d4-ack/1, replay announcement,
 * reconnection with backoff). The hub's log is the spool: each stream keeps
 * the position of the last frame the server acknowledged in a file,
 * written atomically, so that a restart neither loses nor doubles. One
 * thread and one connection per stream (a D4 server admits one connection
 * per sensor uuid and type). */
#ifndef D4_UPSTREAM_H
#define D4_UPSTREAM_H

#include "d4_federation.h"
#include "d4_store.h"

#include <stddef.h>
#include <stdint.h>

#define D4_UPSTREAM_STREAMS_MAX 16
#define D4_UPSTREAM_KEY_MAX	1024

struct d4_upstream_stream {
	uint8_t type; /* D4 type; 2 is never a stream (the meta header) */
	char ext[64]; /* type 254: the extended type (required), else "" */
};

/* Parses upstream.streams: "8, 1, 254:ja3-jl" (comma or space separated,
 * each a type 1..255 other than 2, 254 with ":EXT", EXT 1..63 printable
 * non-space ASCII; no stream twice; at most one 254 stream: a D4 server
 * admits one connection per (uuid, type), so two extended types would
 * keep kicking each other). 0, or D4_EINVAL with a message in err. */
int d4_upstream_streams_parse(const char *s, struct d4_upstream_stream *out, unsigned *n, char *err, size_t errlen);

/* What a stream keeps across restarts, in STATE_DIR/upstream-TYPE.pos or
 * upstream-254-EXT.pos (text, replaced atomically): the acknowledged
 * position (pos_seq: the source's batch it is in, pos_skip: its released
 * frames delivered), the acknowledged counters, the records in flight when
 * written and whether the stop was clean (after a crash up to a window of
 * records may have been committed unacknowledged: they are announced as
 * possible replays), and for type 1 the pcap global header of the session
 * being relayed (a connection that starts inside it sends it first). */
#define D4_UPSTREAM_PCAP_HDR 24u
struct d4_upstream_position {
	uint64_t pos_seq, pos_skip;
	uint64_t frames, bytes;
	uint64_t unacked;
	int clean;
	uint64_t pcap_session;
	uint8_t pcap_hdr[D4_UPSTREAM_PCAP_HDR];
	int has_pcap_hdr;
};
/* Pure, over the file's bytes: exactly the format d4_upstream_position_format
 * writes (every line, in order, decimal values without sign or leading zero,
 * the header as 48 lower-case hex digits, nothing after). 0 or D4_ECORRUPT
 * (*out untouched). */
int d4_upstream_position_parse(const uint8_t *buf, size_t len, struct d4_upstream_position *out);
/* Writes the file's text into out (n bytes; 512 are always enough). Its
 * length, or D4_ETOOBIG. */
int d4_upstream_position_format(const struct d4_upstream_position *s, char *out, size_t n);

struct d4_upstream_opts {
	struct d4_fed_self self;
	const char *dest;	 /* HOST:PORT of the D4 server */
	const char *ca;		 /* CA file ("" / NULL: the system's) */
	const char *server_name; /* NULL / "": host of dest */
	int insecure;
	uint8_t uuid[16];   /* this hub's sensor uuid at the server (v4) */
	const uint8_t *key; /* its HMAC key, borrowed until d4_upstream_start returns (copied) */
	size_t keylen;
	struct d4_upstream_stream streams[D4_UPSTREAM_STREAMS_MAX];
	unsigned nstreams;
	uint8_t max_tlp;			 /* enum d4_tlp: tlp:green (community) or tlp:clear (public) */
	int relay;				 /* frames received from partner hubs go up too (allow_relay) */
	const char *state_dir;			 /* position files (created) */
	unsigned poll_ms;			 /* idle poll of the log (0 = 50) */
	unsigned backoff_min_ms, backoff_max_ms; /* 0 = 500 / 30000 */
};

/* Reads a key file (trailing whitespace stripped, 1..D4_UPSTREAM_KEY_MAX
 * bytes) into key. 0 or D4_ECONFIG with a message (never the key). */
int d4_upstream_key_read(const char *path, uint8_t *key, size_t *keylen, char *err, size_t errlen);

struct d4_upstream;
/* Starts one thread per stream. store and the strings of o borrowed for
 * the relay's life. 0 or an error (a position file that cannot be read or
 * made, a destination that does not parse, a CA that does not load). */
int d4_upstream_start(struct d4_store *s, const struct d4_upstream_opts *o, struct d4_upstream **out);
/* Stops the threads: each waits briefly (2 s) for the acknowledgement of
 * what is in flight, keeps its position and closes. NULL is a no-op. */
void d4_upstream_stop(struct d4_upstream *u);

/* The status of stream i (thread-safe copy). */
struct d4_upstream_status {
	char name[80]; /* "8", "254:ja3-jl" */
	uint8_t type;
	char ext[64];
	int connected, acked;		   /* acked: the server selected d4-ack/1 */
	uint64_t frames, bytes;		   /* acknowledged by the server (payload bytes), kept across restarts */
	uint64_t sent_frames, sent_bytes;  /* written since the start (resends included; D4 frame bytes) */
	uint64_t lag_records, lag_seconds; /* frames of the log past the acknowledged position */
	uint64_t pos_seq, pos_skip;	   /* the acknowledged position */
	uint64_t connects, failures, reconnects_stream; /* reconnects for a new meta header / pcap session */
	uint64_t last_ack;				/* seconds, 0 = never since the start */
	uint64_t decisions[D4_FED_R_COUNT];		/* egress decisions since the start, per reason */
	char last_error[160];
};
unsigned d4_upstream_count(const struct d4_upstream *u);
int d4_upstream_status(struct d4_upstream *u, unsigned i, struct d4_upstream_status *out);
/* The destination (for the status document). */
const char *d4_upstream_dest(const struct d4_upstream *u);

#endif
