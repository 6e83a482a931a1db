/* d4hub — the storage schema. The only module that calls LMDB (mdb_*).
 *
 * One environment (a directory) holds every table. All multi-byte keys are
 * big-endian so that key order is numeric/time order. Two kinds of access:
 *   - synchronous calls (reads from any thread; small admin writes from
 *     d4hubctl or the API, each its own write transaction — LMDB serialises
 *     them with the writer across threads and processes);
 *   - the asynchronous writer: ingest posts frames and events into a bounded
 *     in-memory queue; one writer thread applies them in batched write
 *     transactions (commit every commit_ms or commit_bytes, durable on
 *     commit). A frame is "committed" once its transaction is.
 * A full map (MDB_MAP_FULL) pauses the writer with a visible reason; the
 * batch is kept and retried after retention frees space; the file is never
 * left corrupt.
 *
 * Strings in records are NUL-terminated and truncated to their field size. */
#ifndef D4_STORE_H
#define D4_STORE_H

#include <stddef.h>
#include <stdint.h>

#define D4_KEY_MAX	256 /* HMAC key bytes */
#define D4_DESC_MAX	256 /* sensor description */
#define D4_EXT_TYPE_MAX 64
#define D4_LAST_IPS	16
#define D4_ERRTEXT_MAX	160

struct d4_store;

/* ---- rejection reasons (DESIGN.md §3 order) ----------------------------- */
enum d4_reject {
	D4_REJ_IP_BLOCKED = 0,	 /* source IP or CIDR on the blocklist */
	D4_REJ_UUID_IPS_BLOCKED, /* every IP of this uuid is blocked */
	D4_REJ_UUID_BLOCKED,	 /* uuid on the blocklist or sensor blocked */
	D4_REJ_UNKNOWN_SENSOR,	 /* registration mode, uuid not registered */
	D4_REJ_NOT_APPROVED,	 /* registration mode, sensor pending */
	D4_REJ_BANNED,		 /* temporary ban after a kick */
	D4_REJ_TOO_BIG,		 /* declared size above the payload limit */
	D4_REJ_PREAUTH_LIMIT,	 /* declared size above the pre-authentication limit */
	D4_REJ_UUID_NOT_V4,
	D4_REJ_TYPE_NOT_ACCEPTED,
	D4_REJ_DUPLICATE_SESSION, /* second connection for (uuid, type) */
	D4_REJ_FIRST_254,	  /* type 254 before any meta header */
	D4_REJ_TYPE_CHANGE,	  /* type change other than 2 -> 254 */
	D4_REJ_UUID_CHANGE,
	D4_REJ_HMAC,
	D4_REJ_BACKLOG,	       /* per-sensor backlog cap exceeded */
	D4_REJ_HEADER_TIMEOUT, /* no header within the timeout */
	D4_REJ_TIMESTAMP,      /* header timestamp outside the window */
	D4_REJ_META_INVALID,   /* meta header not valid JSON / no type */
	D4_REJ_EXT_TYPE_NOT_ACCEPTED,
	D4_REJ_VERSION, /* version byte not 1 */
	D4_REJ_TLS,	/* TLS handshake failed (per IP only) */
	D4_REJ_COUNT
};
/* Stable kebab-case name ("hmac-mismatch"...), static. */
const char *d4_store_reject_name(enum d4_reject r);

/* ---- open / close ------------------------------------------------------- */
struct d4_store_opts {
	const char *path;  /* directory, created if missing */
	uint64_t map_size; /* bytes; 0 = 1 GiB, or the size an existing store was
			    * last written with if larger. This is the storage quota. */
	int read_only;	   /* 1: no writer, no schema creation */
	/* writer */
	unsigned commit_ms;  /* max delay before a commit (default 50) */
	size_t commit_bytes; /* commit once this much payload is queued (default 16 MiB) */
	size_t queue_bytes;  /* in-memory queue cap (default 64 MiB) */
	/* Bytes of the newest frame chunks left in the kernel's page cache
	 * after their commit; older chunk pages are dropped from it
	 * (posix_fadvise DONTNEED) so that their memory serves the next
	 * writes. 0 = default 64 MiB; map_size or more = never drop. */
	uint64_t frame_cache;
	/* retention (0 = off) */
	uint64_t retention_age_s; /* drop frames received longer ago */
	uint64_t retention_bytes; /* keep the frame log under this size */
	int no_sync;		  /* tests/bench only: MDB_NOSYNC */
	/* passive-DNS layout of a store whose pDNS tables are empty and not yet
	 * marked (docs/store.md "Id-keyed pDNS layout"): 0 = the build's default,
	 * D4_STORE_PDNS_LAYOUT_S4 or D4_STORE_PDNS_LAYOUT_ID. A store already
	 * marked keeps its layout whatever this says. */
	int pdns_layout;
};
#define D4_STORE_PDNS_LAYOUT_S4 1
#define D4_STORE_PDNS_LAYOUT_ID 2

/* Opens (creating the schema on first use). *out owned by the caller,
 * release with d4_store_close(). Returns 0 or D4_ESTORE/D4_EIO/D4_ENOMEM. */
int d4_store_open(const struct d4_store_opts *opts, struct d4_store **out);
/* Stops the writer if running (flushing the queue), closes the env. */
void d4_store_close(struct d4_store *s);

/* ---- sensors ------------------------------------------------------------ */
enum d4_sensor_status { D4_SENSOR_PENDING = 0, D4_SENSOR_APPROVED = 1, D4_SENSOR_BLOCKED = 2 };
const char *d4_store_status_name(enum d4_sensor_status st);

struct d4_ip_seen {
	uint8_t addr[16]; /* IPv4 as v4-mapped IPv6 (::ffff:a.b.c.d) */
	uint64_t when;	  /* seconds */
};

struct d4_sensor {
	uint8_t uuid[16];
	uint8_t key[D4_KEY_MAX];
	uint16_t keylen; /* 0 = no own key (shared-secret mode) */
	uint8_t status;	 /* enum d4_sensor_status */
	char description[D4_DESC_MAX];
	char mail[128];
	uint8_t default_tlp; /* enum d4_tlp, 0 = none */
	uint8_t default_org[16];
	uint8_t has_default_org;
	uint32_t max_payload; /* 0 = hub default */
	uint64_t max_backlog; /* bytes queued for this sensor, 0 = hub default */
	uint64_t created;     /* seconds */
	uint64_t first_seen, last_seen;
	uint64_t ban_until;	 /* seconds; kicked sensors are refused until then */
	uint64_t packets, bytes; /* committed frames and payload bytes */
	uint64_t rejects[D4_REJ_COUNT];
	char last_error[D4_ERRTEXT_MAX];
	uint64_t last_error_at;
	struct d4_ip_seen last_ips[D4_LAST_IPS]; /* most recent first */
	uint8_t nlast_ips;
	/* Monitoring (admin field, kept by sensor_put like the other admin
	 * fields): seconds of silence after which the sensor is listed by
	 * d4_store_sensors_silent; 0 = not monitored. */
	uint32_t silence_threshold;
};

struct d4_sensor_type_stat {
	uint8_t type;
	char ext_type[D4_EXT_TYPE_MAX]; /* "" except for type 254 */
	uint64_t first_seen, last_seen;
	uint64_t packets, bytes;
};

/* Returns 0 and fills *out, D4_ENOTFOUND, or D4_ESTORE. */
int d4_store_sensor_get(struct d4_store *s, const uint8_t uuid[16], struct d4_sensor *out);
/* Inserts or replaces the admin fields of a sensor (key, status,
 * description, mail, defaults, limits, ban_until). Counters, seen times,
 * last IPs and errors of an existing record are kept. Bumps the control
 * epoch. Secrets in *in are not wiped (caller owns it). */
int d4_store_sensor_put(struct d4_store *s, const struct d4_sensor *in);
/* D4_ENOTFOUND if absent. Bumps the control epoch. */
int d4_store_sensor_del(struct d4_store *s, const uint8_t uuid[16]);
/* Calls cb for every sensor in uuid order; cb returns non-zero to stop.
 * *sn is valid during the call only. */
int d4_store_sensor_foreach(struct d4_store *s, int (*cb)(void *ctx, const struct d4_sensor *sn), void *ctx);
int d4_store_sensor_types(struct d4_store *s, const uint8_t uuid[16],
			  int (*cb)(void *ctx, const struct d4_sensor_type_stat *st), void *ctx);
/* Calls cb (in uuid order; non-zero stops) for every monitored sensor
 * (silence_threshold > 0) that has been silent for more than its threshold
 * at `now` (seconds): now - last_seen > silence_threshold, where a sensor
 * never seen counts from its `created` time. Status is not considered (the
 * caller filters). *sn is valid during the call only (it holds the key). */
int d4_store_sensors_silent(struct d4_store *s, uint64_t now, int (*cb)(void *ctx, const struct d4_sensor *sn),
			    void *ctx);
/* Creates the sensor only if its uuid is absent, in one write transaction
 * (no check-then-write race with another thread or process): D4_EEXIST and
 * nothing changed when it exists. Every field of *in is stored as given
 * (created 0 = now). Returns 0, D4_EEXIST, D4_EINVAL or a store error. Bumps
 * the control epoch. Secrets in *in are not wiped (caller owns it). */
int d4_store_sensor_add(struct d4_store *s, const struct d4_sensor *in);

/* The fields of a sensor that lists show (no key, no per-reason counters,
 * no last IPs). */
struct d4_sensor_summary {
	uint8_t uuid[16];
	uint8_t status; /* enum d4_sensor_status */
	char description[D4_DESC_MAX];
	uint64_t created, first_seen, last_seen;
	uint64_t packets, bytes;
	char last_error[D4_ERRTEXT_MAX];
	uint64_t last_error_at;
	uint32_t silence_threshold;
};
/* Calls cb in uuid order for every sensor whose uuid is greater than after
 * (after NULL: from the first), seeking straight to it; cb returns non-zero
 * to stop (negative: returned as the error). Decodes only the summary
 * fields. *gen_out (may be NULL) gets d4_store_generation() of the snapshot
 * the records were read from. *sm is valid during the call only. Returns 0,
 * cb's negative value, D4_ECORRUPT or a store error. */
int d4_store_sensor_summary_foreach(struct d4_store *s, const uint8_t *after, uint64_t *gen_out,
				    int (*cb)(void *ctx, const struct d4_sensor_summary *sm), void *ctx);
/* The store's commit generation: a value that changes with every committed
 * write transaction (ingest batches, admin changes, other processes such as
 * d4hubctl) and differs between two opened stores, so that derived data can
 * be cached under it. 0 on error (never a valid generation). */
uint64_t d4_store_generation(struct d4_store *s);

/* ---- blocklists --------------------------------------------------------- */
enum d4_block_kind { D4_BLOCK_IP = 0, D4_BLOCK_UUID = 1, D4_BLOCK_UUID_IPS = 2 };
struct d4_block_entry {
	uint8_t kind;	  /* enum d4_block_kind */
	uint8_t addr[16]; /* D4_BLOCK_IP: network (v4-mapped for IPv4) */
	uint8_t prefix;	  /* D4_BLOCK_IP: 0..128 in the v6 space (IPv4 /n = 96+n) */
	uint8_t uuid[16]; /* uuid kinds */
	uint64_t created;
};
/* Add/remove bump the control epoch; add is idempotent. */
int d4_store_block_add(struct d4_store *s, const struct d4_block_entry *e);
int d4_store_block_del(struct d4_store *s, const struct d4_block_entry *e);
int d4_store_block_foreach(struct d4_store *s, int (*cb)(void *ctx, const struct d4_block_entry *e), void *ctx);
/* Parses "1.2.3.4", "10.0.0.0/8", "2001:db8::/32" into addr/prefix. */
int d4_store_parse_cidr(const char *text, uint8_t addr[16], uint8_t *prefix);
/* Formats addr/prefix back to text (prefix omitted when a host). */
void d4_store_format_cidr(const uint8_t addr[16], uint8_t prefix, char *out, size_t size);
/* Lookups for the ingest (each a short read transaction; no ownership).
 * d4_store_ip_blocked: 1 if addr (v4-mapped for IPv4) lies in any blocked
 * CIDR, 0 if not, negative on error. d4_store_uuid_blocked /
 * d4_store_uuid_ips_blocked: 1 if the uuid has a D4_BLOCK_UUID /
 * D4_BLOCK_UUID_IPS entry, 0 if not, negative on error. The sensor's own
 * status (D4_SENSOR_BLOCKED) is not consulted here. */
int d4_store_ip_blocked(struct d4_store *s, const uint8_t addr[16]);
int d4_store_uuid_blocked(struct d4_store *s, const uint8_t uuid[16]);
int d4_store_uuid_ips_blocked(struct d4_store *s, const uint8_t uuid[16]);

/* ---- accepted types ------------------------------------------------------
 * Defaults on a new store: 1, 2, 4, 8, 254. Extended types: an empty list
 * accepts every extended type; otherwise only those listed. */
int d4_store_types_get(struct d4_store *s, uint8_t accepted[256]);
int d4_store_type_set(struct d4_store *s, uint8_t type, int accepted);
int d4_store_ext_type_set(struct d4_store *s, const char *name, int accepted);
int d4_store_ext_type_foreach(struct d4_store *s, int (*cb)(void *ctx, const char *name), void *ctx);
/* 1 if accepted (list empty or name listed), 0 if not, negative on error. */
int d4_store_ext_type_accepted(struct d4_store *s, const char *name);

/* ---- API users and tokens --------------------------------------------------
 * Users have one role; roles are ordered (admin > user > sensor_register,
 * each with every right of the lower ones) and their values are those of
 * enum d4_role in api/api_internal.h. Tokens are "d4h_" + base64url of 32
 * random bytes (43 characters, no padding); only their SHA-256 is stored, so
 * the text exists once, in the caller's buffer at creation. Every write
 * below bumps the control epoch (the API may cache). docs/api-auth.md. */
#define D4_STORE_ROLE_SENSOR_REGISTER 1
#define D4_STORE_ROLE_USER	      2
#define D4_STORE_ROLE_ADMIN	      3
#define D4_USER_NAME_MAX	      64 /* 1..63 chars of [A-Za-z0-9._@-] + NUL */
#define D4_TOKEN_LABEL_MAX	      64 /* up to 63 bytes, no control characters */
#define D4_TOKEN_TEXT_MAX	      64 /* "d4h_" + 43 + NUL = 48 used */
#define D4_TOKEN_TEXT_LEN	      47
#define D4_TOKEN_ID_HEX		      17 /* 16 lowercase hex digits + NUL */
#define D4_TOKEN_LAST_USED_EVERY      60 /* seconds between last_used writes of one token */

struct d4_user {
	char name[D4_USER_NAME_MAX];
	uint8_t role;	  /* D4_STORE_ROLE_* */
	uint64_t created; /* seconds */
};
struct d4_token_info {
	char id[D4_TOKEN_ID_HEX];
	char user[D4_USER_NAME_MAX];
	char label[D4_TOKEN_LABEL_MAX];
	uint64_t created;   /* seconds */
	uint64_t last_used; /* seconds, 0 = never; at most D4_TOKEN_LAST_USED_EVERY s behind */
};

/* 1 if name is a valid user name (1..63 chars of [A-Za-z0-9._@-]), else 0. */
int d4_store_user_name_valid(const char *name);
/* "admin", "user", "sensor_register" (static), or "unknown". */
const char *d4_store_role_name(uint8_t role);
/* Parses one of the names above into *out. Returns 0 or D4_EINVAL. */
int d4_store_role_parse(const char *name, uint8_t *out);

/* Creates the user, or changes the role of an existing one (created kept).
 * Returns 0, D4_EINVAL (bad name or role), or a store error. */
int d4_store_user_put(struct d4_store *s, const char *name, uint8_t role);
/* Creates the user only if the name is absent, in one write transaction:
 * D4_EEXIST (nothing changed) when it exists, whatever its role. Returns 0,
 * D4_EEXIST, D4_EINVAL (bad name or role) or a store error. */
int d4_store_user_add(struct d4_store *s, const char *name, uint8_t role);
/* Fills *out (caller's). Returns 0, D4_ENOTFOUND, D4_EINVAL or an error. */
int d4_store_user_get(struct d4_store *s, const char *name, struct d4_user *out);
/* Deletes the user and every token of the user in one transaction.
 * Returns 0, D4_ENOTFOUND, D4_EINVAL or an error. */
int d4_store_user_del(struct d4_store *s, const char *name);
/* Users in name (byte) order; cb returns non-zero to stop. *u is valid during
 * the call only. */
int d4_store_user_foreach(struct d4_store *s, int (*cb)(void *ctx, const struct d4_user *u), void *ctx);

/* Creates a token for an existing user. label may be NULL (""). On success
 * token_out holds the NUL-terminated text (D4_TOKEN_TEXT_LEN chars): it is
 * the only copy anywhere — show it once and d4_wipe() it. id_out gets the
 * token's public id (16 hex). Returns 0, D4_ENOTFOUND (no such user),
 * D4_EINVAL (bad label), D4_EIO (random generator) or a store error; on
 * failure both outputs are emptied. */
int d4_store_token_create(struct d4_store *s, const char *user, const char *label, char token_out[D4_TOKEN_TEXT_MAX],
			  char id_out[D4_TOKEN_ID_HEX]);
/* Authenticates a presented token text (not retained, not modified): hashes
 * it and looks the hash up, so no secret is compared byte by byte. Returns 0
 * and fills the outputs (each may be NULL), D4_ENOTFOUND for anything that
 * is not a live token (malformed, unknown, revoked, or whose user was
 * deleted), or a store error. On success it also records last_used, written
 * at most once per D4_TOKEN_LAST_USED_EVERY seconds per token in a small
 * transaction of its own (no epoch bump; skipped on a read-only store; a
 * failed write is logged and does not fail the verification). */
int d4_store_token_verify(struct d4_store *s, const char *token_text, char user_out[D4_USER_NAME_MAX],
			  uint8_t *role_out, char id_out[D4_TOKEN_ID_HEX]);
/* Tokens in id order, all users (user NULL) or one user's; never the secret.
 * *t is valid during the call only; cb returns non-zero to stop. */
int d4_store_token_foreach(struct d4_store *s, const char *user, int (*cb)(void *ctx, const struct d4_token_info *t),
			   void *ctx);
/* Revokes (deletes) the token with this 16-hex id. Returns 0, D4_ENOTFOUND,
 * D4_EINVAL (not 16 hex digits) or an error. */
int d4_store_token_revoke(struct d4_store *s, const char *id);

/* ---- control epoch -------------------------------------------------------
 * A counter bumped by every admin change; the ingest polls it to refresh
 * caches and re-check live sessions (kick, block) without a side channel. */
uint64_t d4_store_epoch(struct d4_store *s);
int d4_store_epoch_bump(struct d4_store *s);

/* ---- asynchronous writer (hub only) -------------------------------------- */
/* Starts the writer thread. Returns 0 or an error. */
int d4_store_writer_start(struct d4_store *s);
/* Drains the queue, commits, joins the thread. Idempotent. */
void d4_store_writer_stop(struct d4_store *s);
/* An fd (eventfd) that becomes readable when queue space is freed or the
 * pause state changes; for the ingest loop's backpressure. Read it to reset. */
int d4_store_writer_wakeup_fd(struct d4_store *s);

/* Session ids are unique for the life of the store (persisted high mark,
 * reserved in blocks of 1024 so that a crash never reuses one). Returns 0
 * (never a valid id) when the reservation cannot be written. Thread-safe. */
uint64_t d4_store_session_id_new(struct d4_store *s);

struct d4_session_open {
	uint64_t session;
	uint8_t uuid[16];
	uint8_t type;	  /* first packet's type */
	uint8_t addr[16]; /* peer, v4-mapped for IPv4 */
	uint16_t port;
	uint64_t when;	 /* seconds */
	int auto_create; /* shared-secret mode: create an approved sensor without key if unknown */
};
struct d4_session_meta {
	uint64_t session;
	char ext_type[D4_EXT_TYPE_MAX];
	uint8_t tlp; /* resolved enum d4_tlp */
	uint8_t org[16];
};
struct d4_frame_rec {
	uint64_t session;
	uint8_t uuid[16];
	uint8_t type;
	uint8_t version;
	uint8_t tlp; /* resolved, never NONE */
	uint8_t org[16];
	uint64_t hdr_ts;  /* header timestamp, seconds */
	uint64_t recv_ms; /* hub receive time */
	uint32_t size;	  /* payload length */
	/* posting only, not stored: a frame of a d4-ack/1 connection is added to
	 * the replay window by (uuid, type, hdr_ts, hmac); D4_REPLAY_CHECK: and
	 * dropped if already there (D4_REPLAY_RECORD: remembered only) */
	uint8_t replay_check;
	uint8_t hmac[32];
	/* filled by the store when read back: */
	uint64_t seq; /* position in the frame log */
};
struct d4_reject_ev {
	uint8_t uuid[16];
	int has_uuid; /* 0 when the uuid is not known (TLS failure, IP blocked before a header) */
	uint8_t addr[16];
	enum d4_reject reason;
	uint64_t when;
	char detail[D4_ERRTEXT_MAX];
};

/* Each post copies its arguments into the queue and returns immediately:
 * 0, or D4_EAGAIN when the queue is full or the writer is paused (retry
 * after the wakeup fd fires), or D4_ECLOSED before start / after stop.
 * Only frames are refused while paused; the other events still queue while
 * there is room. Frames of one session keep their order. post_frame copies
 * rec->size bytes of payload (D4_EINVAL if payload is NULL and size > 0). */
int d4_store_post_session_open(struct d4_store *s, const struct d4_session_open *ev);
int d4_store_post_session_meta(struct d4_store *s, const struct d4_session_meta *ev);
int d4_store_post_frame(struct d4_store *s, const struct d4_frame_rec *rec, const uint8_t *payload);
int d4_store_post_session_close(struct d4_store *s, uint64_t session, uint64_t when, const char *reason);
/* Commit notification for acknowledged delivery. d4_store_post_frame_mark
 * is d4_store_post_frame that also returns the frame's mark on success. The
 * queue is FIFO and marks grow with every post, so a frame is durably
 * committed (or dropped as an exact replay of a committed frame) once
 * d4_store_committed_mark() >= its mark. The committed mark changes only
 * after a commit, which also fires the wakeup fd: read it once per wakeup.
 * Thread-safe. */
int d4_store_post_frame_mark(struct d4_store *s, const struct d4_frame_rec *rec, const uint8_t *payload,
			     uint64_t *mark);
uint64_t d4_store_committed_mark(struct d4_store *s);
/* Replay window (docs/protocol.md, acknowledged delivery): the most recent
 * D4_REPLAY_WINDOW frames of each (sensor, type) from d4-ack/1 connections. */
#define D4_REPLAY_WINDOW 8192u
#define D4_REPLAY_CHECK	 1 /* d4_frame_rec.replay_check: check and remember */
#define D4_REPLAY_RECORD 2 /* remember only: not announced as a replay by the sensor */
struct d4_replay_stats {
	uint64_t dropped; /* exact replays of committed frames not stored again, all types */
	uint64_t window;  /* entries currently in the window, all types */
};
/* Fills *out for one sensor (zeros if none). Returns 0 or a store error. */
int d4_store_replay_stats(struct d4_store *s, const uint8_t uuid[16], struct d4_replay_stats *out);
/* Rejections are never refused for lack of space: when the queue is full
 * they are counted in memory and merged at the next commit. */
void d4_store_post_reject(struct d4_store *s, const struct d4_reject_ev *ev);
/* Blocks until everything posted before the call is committed (tests,
 * shutdown). Returns 0 or the writer's error (D4_EFULL while paused). */
int d4_store_writer_sync(struct d4_store *s, unsigned timeout_ms);

struct d4_store_status {
	int paused; /* 1 while intake is paused */
	char pause_reason[D4_ERRTEXT_MAX];
	uint64_t committed_frames; /* since open (all-time totals in d4_store_totals) */
	uint64_t committed_bytes;
	uint64_t commits;
	uint64_t queued_bytes;
	uint64_t map_size, map_used; /* bytes */
};
void d4_store_status_get(struct d4_store *s, struct d4_store_status *out);

/* What the writer found wrong in the store (persisted, so other processes
 * see it): records that did not decode — reported in the log with their
 * table and key, isolated, never rewritten for a sensor — and the time the
 * totals record was last rebuilt because it was corrupt (0 = never). One
 * read transaction. */
struct d4_store_health {
	uint64_t corrupt_records;
	uint64_t totals_rebuilt_at;
};
int d4_store_health_get(struct d4_store *s, struct d4_store_health *out);

/* Tests only: writes a raw value into one of the tables "sensors",
 * "sessions", "sensor_types", "daily", "totals", "settings", "fed_in",
 * "fed_out", "fed_sess", "bs_vectors", "bs_meta" (to make corrupt records in
 * a real store). Bypasses every check; never used by the hub. */
int d4_store_test_put_raw(struct d4_store *s, const char *table, const void *key, size_t klen, const void *val,
			  size_t vlen);

/* ---- reading back --------------------------------------------------------- */
struct d4_totals {
	uint64_t frames, bytes, sessions;
	uint64_t rejects[D4_REJ_COUNT]; /* including those without a known sensor */
};
int d4_store_totals(struct d4_store *s, struct d4_totals *out);

struct d4_session_info {
	uint64_t session;
	uint8_t uuid[16];
	uint8_t type;
	char ext_type[D4_EXT_TYPE_MAX];
	uint8_t tlp;
	uint8_t org[16];
	uint8_t addr[16];
	uint16_t port;
	uint64_t started, ended; /* ended 0 while open (or after a crash) */
	uint64_t frames, bytes;
	char close_reason[D4_ERRTEXT_MAX];
	/* 1: the session holds frames received from a partner hub (its
	 * provenance: d4_store_fed_session_get in d4_store_fed.h); such frames
	 * are not this hub's observations (the pDNS worker skips them) */
	uint8_t fed;
};
int d4_store_session_get(struct d4_store *s, uint64_t session, struct d4_session_info *out);
/* Sessions in id order, newest last; uuid may be NULL for all. */
int d4_store_session_foreach(struct d4_store *s, const uint8_t *uuid,
			     int (*cb)(void *ctx, const struct d4_session_info *si), void *ctx);
/* The same from session id from_id (inclusive) on, so that a paged list
 * resumes after its last id without walking the sessions before it. */
int d4_store_session_foreach_from(struct d4_store *s, const uint8_t *uuid, uint64_t from_id,
				  int (*cb)(void *ctx, const struct d4_session_info *si), void *ctx);
/* Frames in log order from from_seq (inclusive). session 0 = all sessions.
 * rec and payload are valid during the call only. */
int d4_store_frame_foreach(struct d4_store *s, uint64_t from_seq, uint64_t session,
			   int (*cb)(void *ctx, const struct d4_frame_rec *rec, const uint8_t *payload), void *ctx);

struct d4_daily_stat {
	uint32_t day; /* days since the epoch (UTC) */
	uint8_t uuid[16];
	uint8_t type;
	uint64_t packets, bytes, rejects;
};
/* Daily statistics for days [from_day, to_day], uuid NULL for all sensors. */
int d4_store_daily_foreach(struct d4_store *s, uint32_t from_day, uint32_t to_day, const uint8_t *uuid,
			   int (*cb)(void *ctx, const struct d4_daily_stat *st), void *ctx);

/* Runs retention now (the writer also runs it periodically). Returns the
 * number of frames dropped or a negative code. */
int d4_store_retention_run(struct d4_store *s);
/* Changes the retention limits at run time (config reload, or making room
 * while the writer is paused on a full map); 0 turns a limit off. The
 * writer applies them at its next retention pass (within about a second
 * while paused). */
void d4_store_retention_set(struct d4_store *s, uint64_t age_s, uint64_t max_bytes);

/* ---- analyzer queues --------------------------------------------------------
 * A queue is a bounded FIFO of references to frames of one type (or one
 * extended type of 254), optionally only from a group of sensors. Entries
 * are frame seqs, never payload copies: the frame log is the single copy.
 * The writer appends to every matching queue in the same write transaction
 * that commits the frames; a full queue drops its oldest entry (counted,
 * alert raised). Entries whose frame retention already deleted are skipped
 * by readers and counted as expired. Positions are u64, never reused within
 * a queue; depth = tail - head. docs/store.md "Analyzer queues". */
#define D4_QUEUE_NAME_MAX    64 /* 1..63 bytes, no control characters */
#define D4_QUEUE_GROUP_MAX   64 /* sensors in a group; 0 = every sensor */
#define D4_QUEUE_ENTRIES_MAX 10000000u
#define D4_QUEUE_POP_SKIP    4096u /* expired entries one pop may skip beyond max */

struct d4_queue {
	uint32_t id; /* assigned at creation, never reused */
	char name[D4_QUEUE_NAME_MAX];
	uint8_t type;			/* 1..255 */
	char ext_type[D4_EXT_TYPE_MAX]; /* only for type 254; "" = every extended type */
	uint32_t max_entries;		/* 1..D4_QUEUE_ENTRIES_MAX */
	uint8_t ngroup;
	uint8_t group[D4_QUEUE_GROUP_MAX][16]; /* sorted, unique */
	uint64_t created;		       /* seconds */
	uint64_t head, tail;		       /* entries are positions [head, tail) */
	uint64_t enqueued;		       /* entries ever appended */
	uint64_t dropped;		       /* oldest evicted because the queue was full (or shrunk) */
	uint64_t consumed;		       /* delivered by pop/ack */
	uint64_t flushed;		       /* removed by flush */
	uint64_t expired;		       /* skipped by pop/ack: frame already deleted by retention */
	uint64_t withheld;     /* consumed by a pop without delivery: TLP above the popper's clearance */
	uint8_t alert;	       /* set by a drop when full; see d4_store_queue_update */
	uint64_t last_drop_at; /* seconds, 0 = never */
};

/* 1 if name is a valid queue name (1..63 bytes, no control characters). */
int d4_store_queue_name_valid(const char *name);
/* Creates a queue from q's name, type, ext_type, max_entries and group
 * (counters ignored); fills q->id, created and zero counters. Group uuids are
 * sorted and deduplicated. Returns 0, D4_EINVAL (bad name, type 0, ext_type
 * on a type other than 254, bad size, group too big) or a store error.
 * Bumps the control epoch (the writer reloads its queue cache). */
int d4_store_queue_create(struct d4_store *s, struct d4_queue *q);
/* Fills *out. 0, D4_ENOTFOUND or an error. */
int d4_store_queue_get(struct d4_store *s, uint32_t id, struct d4_queue *out);

struct d4_queue_update {
	const char *name;     /* NULL = keep */
	uint32_t max_entries; /* 0 = keep; shrinking below the depth drops the oldest (counted, no alert) */
	int set_group;	      /* 1 = replace the group with the one below */
	uint8_t ngroup;
	const uint8_t (*group)[16];
	int clear_alert; /* 1 = clear the alert flag */
};
/* Applies u in one transaction, *out (may be NULL) gets the result. Returns
 * 0, D4_ENOTFOUND, D4_EINVAL or an error. Bumps the control epoch. The
 * alert flag is cleared by this call (clear_alert), by a flush, and by a pop
 * or ack that empties the queue (the consumer caught up). */
int d4_store_queue_update(struct d4_store *s, uint32_t id, const struct d4_queue_update *u, struct d4_queue *out);
/* Deletes the queue and all its entries (not the frames). Bumps the epoch. */
int d4_store_queue_del(struct d4_store *s, uint32_t id);
/* Queues in id order; cb returns non-zero to stop; *q valid during the call. */
int d4_store_queue_foreach(struct d4_store *s, int (*cb)(void *ctx, const struct d4_queue *q), void *ctx);
/* Removes every entry (head = tail), counting them in flushed, and clears the
 * alert. Works the same for every type. *out may be NULL. */
int d4_store_queue_flush(struct d4_store *s, uint32_t id, struct d4_queue *out);

/* Entry callback: pos is the entry's position; rec/payload are the frame
 * (valid during the call only), or NULL when the frame is gone (retention).
 * Return non-zero to stop (negative: error, returned by the caller). */
typedef int (*d4_queue_entry_cb)(void *ctx, uint64_t pos, const struct d4_frame_rec *rec, const uint8_t *payload);
/* Preview: up to max entries from max(from_pos, head), in order, read-only
 * (expired entries are reported with rec NULL). Returns 0, D4_ENOTFOUND or
 * an error. */
int d4_store_queue_peek(struct d4_store *s, uint32_t id, uint64_t from_pos, unsigned max, d4_queue_entry_cb cb,
			void *ctx);
/* Consume: up to max frames from the head, in one write transaction that
 * advances head past every entry handed to cb and past expired entries
 * (skipped, at most D4_QUEUE_POP_SKIP of them beyond max, not passed to cb).
 * cb is called inside the transaction: if it returns negative, nothing is
 * consumed and that value is returned; D4_QUEUE_WITHHOLD: that frame is
 * consumed (counted in withheld) but not delivered and does not count
 * against max -- the caller's TLP clearance is below the frame's -- with at
 * most D4_QUEUE_POP_SKIP withheld and expired entries together beyond max;
 * another positive value: that frame is consumed and the pop ends there (a
 * byte budget). *out (may be NULL) gets the queue after the pop. Returns the
 * number of frames delivered or a negative code. */
#define D4_QUEUE_WITHHOLD 2
int d4_store_queue_pop(struct d4_store *s, uint32_t id, unsigned max, d4_queue_entry_cb cb, void *ctx,
		       struct d4_queue *out);
/* Acknowledge (followers): advances head to pos (pos == head is a no-op),
 * counting the entries as consumed (the follower already skipped expired
 * ones; they are not told apart here). pos below head is a no-op too (an
 * older ack, or entries dropped meanwhile); above tail D4_EINVAL. *out may
 * be NULL. */
int d4_store_queue_ack(struct d4_store *s, uint32_t id, uint64_t pos, struct d4_queue *out);

/* ---- server (ingest) mode set at run time -----------------------------------
 * The ingest mode and shared key of the config file ([ingest] mode,
 * shared_key) can be overridden at run time (API PUT /api/v1/server,
 * d4hubctl server mode). The values are kept in the settings table
 * ("server_mode", "server_key") and survive restarts; the ingest reloads
 * them when the control epoch changes. The shared key is a secret: callers
 * wipe their copies (d4_wipe) and never log or return it. */
struct d4_server_settings {
	int has_mode;		 /* 0: no run-time mode (the config's applies) */
	int mode;		 /* enum d4_hub_mode: 0 registration, 1 shared-secret */
	uint8_t shared_key[256]; /* run-time shared key */
	size_t shared_keylen;	 /* 0: none set at run time (the config's applies) */
};
/* Fills *out (caller's; wipe it after use). has_mode 0 and shared_keylen 0
 * when never set. Returns D4_OK, D4_ECORRUPT or a store error. */
int d4_store_server_get(struct d4_store *s, struct d4_server_settings *out);
/* One synchronous write transaction that bumps the control epoch. Merges:
 * the mode is written when has_mode is 1 (kept otherwise), the key when
 * shared_keylen > 0 (kept otherwise), so switching modes never loses a key.
 * Returns D4_OK, D4_EINVAL (mode not 0/1, key longer than 256 bytes),
 * D4_EPERM (read-only store) or a store error. *in is not wiped (caller's). */
int d4_store_server_set(struct d4_store *s, const struct d4_server_settings *in);
/* Removes both run-time values (the config's apply again); bumps the epoch. */
int d4_store_server_clear(struct d4_store *s);

/* ---- ingest watch: connections that proved nothing (memory only) ------------
 * A connection counts as *unverified* until one of its packets passes the
 * HMAC check. What such a connection does can never be charged to the sensor
 * whose uuid it claims (its counters, last_error, daily rows): anyone who
 * knows a uuid could otherwise write into them. The ingest notes every event
 * of an unverified connection here instead, keyed by source address and
 * claimed uuid (none before a complete header), with a counter per reason;
 * the API (GET /api/v1/ingest/unverified) and /metrics show the table. It
 * lives in memory since the hub started (the hub log has every event); at
 * most D4_WATCH_MAX entries, the least recently seen one is dropped first
 * (counted in `evicted`). Thread-safe. */
#define D4_WATCH_MAX 1024
/* Reasons beyond enum d4_reject, only in the watch. */
enum d4_watch_reason {
	D4_WATCH_ADDRESS_LIMIT = D4_REJ_COUNT, /* refused at accept: ingest.max_unverified_per_address */
	D4_WATCH_MAX_CONNECTIONS,	       /* refused at accept: ingest.max_connections */
	D4_WATCH_HANDSHAKE_TIMEOUT,	       /* TLS not completed within ingest.handshake_timeout */
	D4_WATCH_DISPLACED, /* closed: an HMAC-verified connection took the (uuid, type) it claimed */
	D4_WATCH_COUNT
};
/* Stable kebab-case name of a reason (d4_store_reject_name for the first
 * D4_REJ_COUNT, then "address-limit", "max-connections", "handshake-timeout",
 * "displaced"); NULL when out of range. */
const char *d4_store_watch_reason_name(unsigned reason);

struct d4_watch_ev {
	uint8_t addr[16]; /* v4-mapped for IPv4 */
	int has_uuid;	  /* a complete header claimed uuid */
	uint8_t uuid[16];
	unsigned reason; /* enum d4_reject or enum d4_watch_reason */
	uint64_t when;	 /* seconds */
	char detail[D4_ERRTEXT_MAX];
};
/* Counts one event (copies *ev). Never fails: out of memory only loses it. */
void d4_store_watch_note(struct d4_store *s, const struct d4_watch_ev *ev);

struct d4_watch_entry {
	uint8_t addr[16];
	int has_uuid;
	uint8_t uuid[16];
	uint64_t count[D4_WATCH_COUNT];
	uint64_t total;
	uint64_t first_at, last_at;
	unsigned last_reason;
	char last_detail[D4_ERRTEXT_MAX];
};
/* Live figures the ingest publishes about itself (every second and on
 * change): the limits in force and what they did. */
struct d4_watch_ingest {
	int running;			     /* an ingest published figures */
	uint64_t connections;		     /* open now */
	uint64_t unverified;		     /* open now, no verified packet yet */
	uint64_t paused;		     /* open now, waiting for store room or throttled */
	uint64_t addresses_at_limit;	     /* addresses at max_unverified_per_address now */
	unsigned max_connections;	     /* ingest.max_connections */
	unsigned max_unverified_per_address; /* ingest.max_unverified_per_address */
	unsigned handshake_timeout;	     /* ingest.handshake_timeout, s */
	unsigned header_timeout;	     /* ingest.header_timeout, s */
};
void d4_store_watch_ingest_set(struct d4_store *s, const struct d4_watch_ingest *in);
/* Snapshot of the table (entries most recently seen first; *n entries, at
 * most max) and of the totals per reason since start, the ingest figures and
 * the number of entries evicted. entries may be NULL (max 0). Returns 0 or
 * D4_ENOMEM. */
struct d4_watch_totals {
	uint64_t count[D4_WATCH_COUNT];
	uint64_t evicted;
	struct d4_watch_ingest ingest;
};
int d4_store_watch_get(struct d4_store *s, struct d4_watch_entry *entries, size_t max, size_t *n,
		       struct d4_watch_totals *tot);

/* ---- live sessions -------------------------------------------------------
 * Whether a sensor is connected now: the sessions whose open the ingest
 * posted (d4_store_post_session_open succeeded) and whose close it has not
 * posted yet, kept in memory since the store was opened. Session records
 * cannot tell (a crashed run leaves them open), and only the process that
 * runs the ingest knows: d4_store_live_get returns 0 (unknown, *out zeroed)
 * when no ingest publishes into this store (d4_store_watch_ingest_set), 1
 * with the figures otherwise. Thread-safe. */
struct d4_live_info {
	unsigned sessions; /* open now (one per connection) */
	uint64_t since;	   /* start of the oldest of them, seconds; 0 if none */
};
int d4_store_live_get(struct d4_store *s, const uint8_t uuid[16], struct d4_live_info *out);

#endif
