/* d4hub — d4-sensor library: configuration (d4-goclient folder + flags),
 * data sources, D4 framing, the on-disk spool and the uplink loop.
 * main.c only parses the command line and calls d4_sensor_run(). */
#ifndef D4_SENSOR_H
#define D4_SENSOR_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define D4S_KEY_MAX	    1024
#define D4S_DEFAULT_SNAPLEN 4096	/* read size of the reference C client */
#define D4S_PCAP_CHUNK	    65536	/* pcap records packed per frame, bytes */
#define D4S_META_CHUNK	    4096	/* split of the type-2 meta header */
#define D4S_MAX_PAYLOAD	    1000000u	/* the hub's default limit */
#define D4S_SPOOL_DEFAULT   (64u << 20) /* --spool-max default */

/* Exit codes of d4-sensor. */
enum { D4S_EXIT_OK = 0, D4S_EXIT_ERR = 1, D4S_EXIT_USAGE = 2, D4S_EXIT_SPOOLED = 3 };

/* ---- configuration ---------------------------------------------------------
 * Values from the d4-goclient config folder; flags are merged on top by the
 * caller (main.c). "unset" is has_* == 0, type < 0, empty strings, snaplen 0. */
struct d4_sensor_config {
	uint8_t uuid[16];
	int has_uuid;
	uint8_t key[D4S_KEY_MAX];
	size_t keylen;
	int has_key;
	int type;    /* -1 unset */
	int version; /* -1 unset */
	char destination[512];
	char source[64];
	unsigned snaplen;
	uint8_t *meta; /* metaheader.json, owned, NUL-terminated */
	size_t metalen;
	char ca[PATH_MAX]; /* DIR/rootCA.crt if it exists */
};

void d4_sensor_config_init(struct d4_sensor_config *c);
/* Reads the folder: each file is trimmed of trailing whitespace; a missing
 * file leaves the value unset. Returns 0, D4_ECONFIG (message logged) on an
 * unreadable folder or a malformed value. */
int d4_sensor_config_load_dir(struct d4_sensor_config *c, const char *dir);
/* Frees meta and wipes the key. */
void d4_sensor_config_free(struct d4_sensor_config *c);
/* Reads a whole (small) file, strips trailing whitespace; *out is malloc'ed
 * and NUL-terminated, caller frees. D4_ENOTFOUND if it does not exist. */
int d4_sensor_read_trimmed(const char *path, size_t max, uint8_t **out, size_t *len);

/* ---- sources ----------------------------------------------------------------
 * Uniform interface: next() returns the next chunk with natural boundaries
 * (one read() for stdin, whole pcap records, whole lines). */
enum d4_sensor_src_kind { D4S_SRC_STDIN, D4S_SRC_PCAP_FILE, D4S_SRC_LIVE, D4S_SRC_FOLLOW };

struct d4_sensor_src_opts {
	enum d4_sensor_src_kind kind;
	int fd;		   /* STDIN: the fd to read (default 0) */
	const char *path;  /* PCAP_FILE, FOLLOW */
	const char *iface; /* LIVE */
	const char *bpf;   /* LIVE (and PCAP_FILE): optional filter */
	unsigned snaplen;  /* LIVE capture length (default 262144) */
	size_t max_chunk;  /* largest chunk (default: 4096 stdin, 64 KiB others) */
	int from_start;	   /* FOLLOW: read existing content first */
	unsigned poll_ms;  /* FOLLOW: how often to look for growth/rotation (default 200) */
	int extract_tls;   /* PCAP_FILE, LIVE: send one ja3-jl line per TLS handshake instead of
			    * the packets (d4_tls.h; max_chunk bounds a chunk of whole lines) */
};

struct d4_sensor_src;

/* Opens a source; *out is owned by the caller (d4_sensor_src_close). */
int d4_sensor_src_open(const struct d4_sensor_src_opts *o, struct d4_sensor_src **out);
/* Waits at most timeout_ms for data. Returns the chunk length (> 0) with
 * *data pointing into the source's buffer (valid until the next call), 0 if
 * nothing arrived in time, D4_ECLOSED at the end of a finite source, or a
 * negative error. */
int d4_sensor_src_next(struct d4_sensor_src *s, const uint8_t **data, int timeout_ms);
/* Live capture: packets dropped by the kernel/interface (0 otherwise). */
uint64_t d4_sensor_src_drops(struct d4_sensor_src *s);
void d4_sensor_src_close(struct d4_sensor_src *s);

/* ---- framing ------------------------------------------------------------ */
struct d4_sensor_ident {
	uint8_t uuid[16];
	const uint8_t *key; /* borrowed */
	size_t keylen;
	uint8_t version;
};

/* Builds one signed frame into out (room >= 62 + len). Returns its length
 * or a negative code. */
int d4_sensor_frame(const struct d4_sensor_ident *id, uint8_t type, uint64_t ts, const uint8_t *payload, size_t len,
		    uint8_t *out, size_t cap);

/* ---- spool ------------------------------------------------------------------
 * Append-only segment files in a directory. Records are (type, original
 * timestamp, payload), not signed frames: they are signed when sent, so a
 * key rotation while data waits does not make the hub reject it forever. */
struct d4_spool;
struct d4_spool_pos {
	uint64_t seq;
	uint64_t off;
};
struct d4_spool_stats {
	uint64_t bytes;		 /* on disk, all segments */
	uint64_t dropped_frames; /* oldest data dropped because the spool was full */
	uint64_t dropped_bytes;
	unsigned segments;
	uint64_t unconfirmed_at_open; /* records not confirmed found by d4_sensor_spool_open */
};

/* Opens (creating) dir; data from an earlier run is kept and delivered
 * first. max_bytes bounds the disk use. *out owned by caller. */
int d4_sensor_spool_open(const char *dir, uint64_t max_bytes, struct d4_spool **out);
/* Appends one record; drops the oldest segments (counted, logged at warning)
 * when full. Returns 0 or a negative code. */
int d4_sensor_spool_append(struct d4_spool *sp, uint8_t type, uint64_t ts, const uint8_t *data, size_t len);
/* Next record at the read position without consuming it: 1 and the fields
 * (payload valid until the next spool call), 0 if empty, or negative. */
int d4_sensor_spool_peek(struct d4_spool *sp, uint8_t *type, uint64_t *ts, const uint8_t **data, size_t *len);
/* Consumes the peeked record; *after is the position after it. */
void d4_sensor_spool_advance(struct d4_spool *sp, struct d4_spool_pos *after);
/* Everything before pos is delivered: fully delivered segments are deleted
 * and the position is remembered for a restart. */
int d4_sensor_spool_confirm(struct d4_spool *sp, const struct d4_spool_pos *pos);
/* Connection lost: reading restarts at the last confirmed position. */
void d4_sensor_spool_rewind(struct d4_spool *sp);
/* 1 if nothing is left to send (read position at the end). */
int d4_sensor_spool_empty(struct d4_spool *sp);
/* 1 if nothing is left unconfirmed. */
int d4_sensor_spool_all_confirmed(struct d4_spool *sp);
/* fsync of the active segment and the cursor. */
int d4_sensor_spool_sync(struct d4_spool *sp);
void d4_sensor_spool_stats(struct d4_spool *sp, struct d4_spool_stats *st);
/* Syncs and closes. */
void d4_sensor_spool_close(struct d4_spool *sp);

/* ---- run --------------------------------------------------------------- */
struct d4_sensor_run_opts {
	struct d4_sensor_ident id;
	uint8_t type;	     /* data type (254 when a meta header is used) */
	const uint8_t *meta; /* meta header JSON sent first as type 2, or NULL */
	size_t metalen;
	struct d4_sensor_src_opts src;
	const char *dest;	 /* "stdout" or HOST:PORT */
	int out_fd;		 /* stdout destination fd (default 1) */
	const char *ca;		 /* CA file; NULL = system default */
	const char *server_name; /* name checked/SNI; NULL = host part of dest */
	int insecure;
	const char *spool_dir; /* NULL: no spool (the source waits while down) */
	uint64_t spool_max;
	unsigned drain_timeout; /* seconds */
	uint64_t (*now)(void);	/* header clock (tests); NULL = d4_now_s */
};

/* Runs until the source ends (and the data is delivered or drain_timeout
 * passes) or SIGTERM/SIGINT. Returns a D4S_EXIT_* code. */
int d4_sensor_run(const struct d4_sensor_run_opts *o);
/* Asks d4_sensor_run to stop (async-signal-safe). */
void d4_sensor_stop(void);

/* ---- a D4 client connection for other clients of this project -------------
 * The uplink of d4_sensor_run (TLS, d4-ack/1 with its replay announcement,
 * the records in flight, reconnection with backoff and jitter) for a caller
 * that keeps its own queue: the hub's upstream relay (federation/upstream),
 * whose queue is the hub's frame log, and d4_sensor_run itself, whose queue
 * is the spool. Every record is sent with an opaque
 * position (struct d4_spool_pos) that d4_sensor_conn_confirmed hands back
 * once the server acknowledged the record (its d4-ack/1 commit, else its
 * TCP acknowledgement). Not thread-safe: one thread owns a connection. */
struct d4_sensor_conn;
struct d4_sensor_conn_opts {
	const struct d4_sensor_ident *id; /* borrowed for the connection's life */
	const char *dest;		  /* HOST:PORT or [V6]:PORT */
	const char *ca;			  /* CA file; NULL = system default */
	const char *server_name;	  /* NULL = host of dest */
	int insecure;
	unsigned backoff_min_ms, backoff_max_ms; /* 0 = 500 / 30000, as d4-sensor */
	uint64_t replay;			 /* records of the queue that may have been sent before (a restart) */
};
/* *out owned by the caller (d4_sensor_conn_free). 0, D4_ECONFIG (dest),
 * D4_ETLS, D4_ENOMEM. */
int d4_sensor_conn_new(const struct d4_sensor_conn_opts *o, struct d4_sensor_conn **out);
/* Connects when due (backoff), checks a live connection (peer closed,
 * malformed ack, no ack progress for 120 s) and reads acknowledgements.
 * Returns 1 connected, 0 not (then every record not confirmed must be sent
 * again: *rewind is set to 1 once after a connection was lost). After a
 * new connection, *fresh is 1 (the caller sends the meta header first). */
int d4_sensor_conn_poll(struct d4_sensor_conn *c, int *fresh, int *rewind);
/* Meta header JSON as type-2 frames of at most D4S_META_CHUNK bytes (not
 * counted as records). 0, or D4_ECLOSED (connection lost: rewind). */
int d4_sensor_conn_meta(struct d4_sensor_conn *c, const uint8_t *json, size_t len, uint64_t ts);
/* 1 if one more record may be sent now (fewer than the d4-ack/1 window in
 * flight). */
int d4_sensor_conn_room(struct d4_sensor_conn *c);
/* Signs and writes one record; after: its queue position. 0, or D4_ECLOSED
 * (connection lost: rewind), D4_ETOOBIG (payload above D4S_MAX_PAYLOAD). */
int d4_sensor_conn_send(struct d4_sensor_conn *c, uint8_t type, uint64_t ts, const uint8_t *payload, size_t len,
			const struct d4_spool_pos *after);
/* 1 and the position after the last record acknowledged since the last
 * call, else 0. */
int d4_sensor_conn_confirmed(struct d4_sensor_conn *c, struct d4_spool_pos *pos);
/* Records sent on this connection and not yet acknowledged. */
unsigned d4_sensor_conn_inflight(struct d4_sensor_conn *c);
/* Closes the connection (clean: close_notify, and the next connect is not
 * delayed); what is acknowledged is confirmed first (read it with
 * d4_sensor_conn_confirmed), the rest must be sent again. */
void d4_sensor_conn_close(struct d4_sensor_conn *c, int clean);
/* n records the caller will never send (a full spool dropped the oldest):
 * taken off the next replay announcement, whose first records they were.
 * Call it while not connected. */
void d4_sensor_conn_forget(struct d4_sensor_conn *c, uint64_t n);
struct d4_sensor_conn_stats {
	int connected, acked;			    /* acked: the server selected d4-ack/1 */
	uint64_t connects, failures, frames, bytes; /* frames/bytes written (meta header included) */
	uint64_t rx_bytes;			    /* application bytes received from the server, all connections */
	uint64_t next_try_ms;			    /* monotonic, when not connected */
	char last_error[160];
};
void d4_sensor_conn_stats(struct d4_sensor_conn *c, struct d4_sensor_conn_stats *st);
void d4_sensor_conn_free(struct d4_sensor_conn *c);

#endif
