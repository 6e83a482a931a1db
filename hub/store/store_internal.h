/* d4hub store — private declarations shared by the store's source files.
 * The on-disk layout is described in docs/store.md; keep both in sync. */
#ifndef STORE_INTERNAL_H
#define STORE_INTERNAL_H

#include "d4_store.h"
#include "d4_store_bs.h"
#include "d4_store_fed.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Schema 2 added the users/tokens/token_ids tables and sensor values v2
 * (silence_threshold); schema 3 the passive-DNS tables (store_pdns.c);
 * schema 4 clustered the pDNS tuples by name (the schema-3 pDNS tables are
 * emptied and the ingest starts over from the frame log); schema 5 the
 * backscatter tables (store_bs.c). An older store is upgraded in place at a
 * writable open. */
#define STORE_SCHEMA_VERSION 5u
#define STORE_SCHEMA_PDNS    4u /* first schema with the current pDNS layout */
#define STORE_SCHEMA_BS	     5u /* first schema with the backscatter tables */
#define STORE_VAL_V1	     1u /* first byte of every stored value */
#define STORE_SENSOR_V2	     2u /* sensor values: v1 + u32 silence_threshold */
#define STORE_SESSION_V2     2u /* session values: v1 + u8 flags + federation provenance */

/* Chunk values are sized to fill whole overflow pages: LMDB puts a 16-byte
 * page header in front of an overflow value, so 256 KiB - 16 is exactly 64
 * pages of 4 KiB. */
#define STORE_CHUNK_MAX		 (256u * 1024u - 16u)
#define STORE_CHUNK_HDR		 37u /* ver u8, count u32, session u64, first_seq u64, min_ms u64, max_ms u64 */
#define STORE_FREC_HDR		 71u /* seq, session, uuid, type, version, tlp, org, hdr_ts, recv_ms, size */
#define STORE_SID_BLOCK		 1024u
#define STORE_RETENTION_EVERY_MS 10000u
/* Corrupt records the writer met (settings, u64) and when it last rebuilt
 * the totals record (settings, u64 seconds; absent = never). */
#define STORE_CORRUPT_KEY	 "corrupt_records"
#define STORE_TOTALS_REBUILT_KEY "totals_rebuilt_at"
#define STORE_CORRUPT_SEEN	 64

enum store_dbi {
	DBI_FRAMES = 0,	  /* seq BE -> chunk */
	DBI_SESSIDX,	  /* session BE || first_seq BE -> "" */
	DBI_SESSIONS,	  /* session BE -> session */
	DBI_SENSORS,	  /* uuid -> sensor */
	DBI_STYPES,	  /* uuid || type || ext -> type stat */
	DBI_BLOCK,	  /* kind || (addr || prefix | uuid) -> created */
	DBI_SETTINGS,	  /* ascii name -> value */
	DBI_DAILY,	  /* day BE || uuid || type -> counters */
	DBI_TOTALS,	  /* "all" -> totals */
	DBI_USERS,	  /* name -> user (schema 2) */
	DBI_TOKENS,	  /* sha256(token text) -> token */
	DBI_TOKIDS,	  /* token id[8] -> sha256 */
	DBI_QUEUES,	  /* queue id BE -> queue (store_queue.c) */
	DBI_QENTRIES,	  /* queue id BE || position BE -> frame seq */
	DBI_PDNS_TUPLES,  /* schema 4, store_pdns.c: tuple key (name key || 00 || rrtype || H(rdata)) -> record v4 */
	DBI_PDNS_RNAME,	  /* reversed-label name key || 00 || rrtype || id -> H(rdata) (long names: tuple key) */
	DBI_PDNS_RDNAME,  /* rdata name key || 00 || rrtype || id -> tuple key */
	DBI_PDNS_RDRNAME, /* reversed rdata name key || 00 || rrtype || id -> tuple key */
	DBI_PDNS_RDIP,	  /* family || addr[16] || id -> tuple key */
	DBI_PDNS_RDRAW,	  /* H(rdata) || id -> tuple key */
	DBI_PDNS_TIME,	  /* day(time_last) BE || id -> tuple key */
	DBI_PDNS_META,	  /* 'c' cursor name | 's' sensor uuid -> cursor / counters */
	DBI_REPLAY,	  /* d4-ack/1 replay window (store_replay.c) */
	DBI_PARTNERS,	  /* partner name -> partner (store_partner.c) */
	DBI_FED_OUT,	  /* partner name || 00 || kind -> sender position (store_fed.c) */
	DBI_FED_IN,	  /* sender hub || kind -> receiver position */
	DBI_FED_SESS,	  /* sender || origin hub || origin session || attrs hash -> local session id */
	DBI_BS_VEC,	  /* schema 5, store_bs.c: id BE -> vector record */
	DBI_BS_IDENT,	  /* origin[16] || victim[16] || first_us BE || kind -> id BE */
	DBI_BS_VICTIM,	  /* victim[16] || first_us BE || id BE -> "" */
	DBI_BS_LAST,	  /* ~last_us BE || id BE -> "" (most recent first) */
	DBI_BS_PORT,	  /* port BE || ~last_us BE || id BE -> "" (each listed port) */
	DBI_BS_SENSOR,	  /* sensor[16] || ~last_us BE || id BE -> "" (each listed sensor) */
	DBI_BS_CHANGE,	  /* change_seq BE -> id BE (one entry per vector: its last write) */
	DBI_BS_ONGOING,	  /* ~last_us BE || id BE -> "" (ongoing vectors only) */
	DBI_BS_STATES,	  /* victim[16] || kind -> open-vector state */
	DBI_BS_META,	  /* 'c' cursor name | 's' sensor uuid -> cursor / counters */
	DBI_FED_SIG,	  /* frame seq BE -> u8 flags [|| origin's signature[64]] (received frames, store_fed.c) */
	DBI_PDNS_SIDE,	  /* frame seq BE || part -> per observation: tuple count, sensors after merge (store_pdns.c) */
	DBI_PSSL_CERT,	  /* passive SSL (store_pssl.c, docs/store.md "Passive SSL"): sha1[20] -> certificate row */
	DBI_PSSL_DER,	  /* sha1[20] -> the certificate's DER */
	DBI_PSSL_CIDX,	  /* kind || part || sha1[20] -> "" (certificate pivots) */
	DBI_PSSL_KEY,	  /* key id BE -> key row */
	DBI_PSSL_SPKI,	  /* spki_sha256[32] -> key id BE */
	DBI_PSSL_MOD,	  /* H(modulus)[16] || key id BE -> "" */
	DBI_PSSL_TUPLE,	  /* tuple id BE -> tuple row */
	DBI_PSSL_TKEY,	  /* ip[16] || port BE || H(natural key)[16] -> tuple id BE */
	DBI_PSSL_TIDX,	  /* kind || part || ip[16] || port BE || tuple id BE -> "" (tuple pivots) */
	DBI_PSSL_CHANGE,  /* change_seq BE -> tuple id BE (one entry per tuple: its last write) */
	DBI_PSSL_FP,	  /* kind (3 JA3, 4 JA3S) || md5[16] -> fingerprint row */
	DBI_PSSL_WEAK,	  /* kind || id BE || other BE -> finding */
	DBI_PSSL_WEAKIDX, /* key id BE || kind || id BE || other BE -> "" (both keys of a finding) */
	DBI_PSSL_META,	  /* 'c' cursor name | 's' sensor uuid -> cursor / counters */
	DBI_PID_REC,	  /* id-keyed pDNS layout (store_pdns_id.c): u40 id -> tuple record v5 */
	DBI_PID_KEY,	  /* u32 owner nid || rrtype || H(rdata)[4] || u40 id -> "" */
	DBI_PID_NAMES,	  /* name key -> varint nid << 2 | uses */
	DBI_PID_NREV,	  /* reversed-label name key -> varint nid << 2 | uses */
	DBI_PID_RDN,	  /* u32 rdata-name nid || rrtype || u40 id -> "" */
	DBI_PID_IP,	  /* 04 || addr[4] || u40 id  or  06 || addr[16] || u40 id -> "" */
	DBI_PID_RAW,	  /* H(rdata)[8] || u40 id -> "" */
	DBI_PID_TBLK,	  /* u32 day || u32 block (id >> 10) -> "" */
	DBI_COUNT
};
/* Tables added after schema 1: a read-only open of an older store (which
 * cannot create them) treats them as empty. */
#define STORE_FIRST_V2_DBI DBI_USERS

/* In-memory queue: a growable byte buffer of 8-aligned items. */
struct store_buf {
	uint8_t *p;
	size_t len, cap;
};

/* Rejections that did not fit in the queue, aggregated per (uuid, reason). */
#define STORE_PENDING_REJ 64
struct store_pending_rej {
	uint8_t uuid[16];
	int has_uuid;
	uint8_t reason;
	uint64_t count;
	uint64_t when;
	char detail[D4_ERRTEXT_MAX];
};

struct d4_store {
	MDB_env *env;
	MDB_dbi dbi[DBI_COUNT];
	uint8_t dbi_absent[DBI_COUNT]; /* read-only open of an older schema */
	_Atomic uint8_t pdns_layout;   /* STORE_PDNS_LAYOUT_*: the pDNS tables in use (pdns_meta 'u') */
	void *pdns_sensors;	       /* id-keyed layout: sensor number -> uuid, filled as read */
	struct d4_store_opts opts;
	char path[4096];
	unsigned psize;

	pthread_mutex_t sid_lock;
	uint64_t sid_next, sid_limit;

	/* writer state, guarded by lock */
	pthread_mutex_t lock;
	pthread_cond_t cond_work; /* writer waits on it */
	pthread_cond_t cond_done; /* syncers wait on it */
	int running, stopping, thread_started;
	pthread_t thread;
	int efd;
	struct store_buf in;	/* posted, not yet taken by the writer */
	uint64_t in_first_ms;	/* mono time of the first item in `in` */
	size_t inflight_bytes;	/* taken by the writer, not committed yet */
	uint64_t posted_ctr;	/* items accepted (incl. pending rejects) */
	uint64_t committed_ctr; /* items committed */
	int sync_waiters;
	struct store_pending_rej pend[STORE_PENDING_REJ];
	unsigned npend;
	uint64_t pend_overflow[D4_REJ_COUNT]; /* pending array full: totals only */
	unsigned fed_queued;		      /* received batches posted: commit without waiting */
	int paused;
	char pause_reason[D4_ERRTEXT_MAX];
	int last_err;
	uint64_t st_frames, st_bytes, st_commits;
	uint64_t retention_age_s, retention_bytes;

	/* writer-thread only */
	uint64_t seq_next;

	/* the ingest watch (store_watch.c), created on first use */
	_Atomic(struct store_watch *) watch;
	/* the live sessions (store_live.c), created on first use */
	_Atomic(struct store_live *) live;
};
void store_watch_free(struct d4_store *s);
/* 1 while an ingest publishes its figures into this store's watch. */
int store_watch_ingest_running(struct d4_store *s);
/* The live sessions: an open posted, a close posted (store_writer.c). */
void store_live_open(struct d4_store *s, const struct d4_session_open *ev);
void store_live_close(struct d4_store *s, uint64_t session);
void store_live_free(struct d4_store *s);

/* ---- helpers (d4_store.c) ---- */
int store_rc(int mdb_rc, const char *what);
int store_txn_begin(struct d4_store *s, int rdonly, MDB_txn **txn);
int store_settings_get_u64(struct d4_store *s, MDB_txn *txn, const char *name, uint64_t *out);
int store_settings_put_u64(struct d4_store *s, MDB_txn *txn, const char *name, uint64_t v);
int store_epoch_bump_txn(struct d4_store *s, MDB_txn *txn);
int store_retention_txns(struct d4_store *s, uint64_t age_s, uint64_t max_bytes, uint64_t *dropped);
/* One write transaction around fn, bumping the epoch when asked. */
int store_write(struct d4_store *s, int bump, int (*fn)(struct d4_store *s, MDB_txn *txn, const void *arg),
		const void *arg);
/* Ordered read-only scan of dbi from start (slen 0: first key) while keys
 * start with prefix (plen 0: no limit); fn returns non-zero to stop (a
 * negative value is returned as the error). */
int store_scan(struct d4_store *s, enum store_dbi dbi, const void *start, size_t slen, const void *prefix, size_t plen,
	       int (*fn)(void *ctx, const MDB_val *k, const MDB_val *v), void *ctx);
/* Token verification at a given time (tests drive the last_used rule). */
int store_token_verify_at(struct d4_store *s, const char *token_text, uint64_t now, char user_out[D4_USER_NAME_MAX],
			  uint8_t *role_out, char id_out[D4_TOKEN_ID_HEX]);

/* ---- value codecs (store_codec.c). enc_* write into buf (room given by the
 * *_MAX sizes) and return the length; dec_* return 0 or D4_ECORRUPT. ---- */
#define STORE_SENSOR_MAX  2048
#define STORE_SESSION_MAX 1024
size_t store_enc_sensor(const struct d4_sensor *sn, uint8_t *buf);
int store_dec_sensor(const uint8_t *p, size_t len, struct d4_sensor *sn);
/* Sessions: v1 for local ones; v2 (si->fed and fed given) appends the
 * federation provenance. The decoders read both; fed (may be NULL) gets the
 * provenance of a v2 value (zeroed otherwise). */
size_t store_enc_session(const struct d4_session_info *si, uint8_t *buf);
size_t store_enc_session_fed(const struct d4_session_info *si, const struct d4_store_fed_session *fed, uint8_t *buf);
int store_dec_session(const uint8_t *p, size_t len, uint64_t id, struct d4_session_info *si);
int store_dec_session_fed(const uint8_t *p, size_t len, uint64_t id, struct d4_session_info *si,
			  struct d4_store_fed_session *fed);
/* The provenance of a received record, field by field (store_codec.c):
 * u8 stripped | u8 has_origin | origin[16] (zero without one) | u8 nvia |
 * nvia x hub[16]. The reader is strict (flags 0/1, nvia <= 16). */
struct wb;
struct d4_reader;
void store_wb_fed_prov(struct wb *w, const struct d4_store_fed_prov *pv);
void store_rd_fed_prov(struct d4_reader *r, struct d4_store_fed_prov *pv);
/* Federation values (store_fed.c): encoders write into buf of the *_MAX
 * size; decoders are strict (D4_ECORRUPT). */
#define STORE_FED_OUT_MAX (1u + 2u * (2u + D4_FED_POS_MAX) + 2u * (1u + 8u * D4_STORE_FED_REASONS) + 6u * 8u)
#define STORE_FED_IN_MAX                                                                                               \
	(1u + 2u * (2u + D4_FED_POS_MAX) + 2u + D4_PARTNER_NAME_MAX + 5u * 8u + 1u + 8u * D4_STORE_FED_REASONS + 8u)
size_t store_enc_fed_out(const struct d4_store_fed_out *o, uint8_t *buf);
int store_dec_fed_out(const uint8_t *p, size_t len, struct d4_store_fed_out *o);
size_t store_enc_fed_in(const struct d4_store_fed_in *in, uint8_t *buf);
int store_dec_fed_in(const uint8_t *p, size_t len, struct d4_store_fed_in *in);
size_t store_enc_stype(const struct d4_sensor_type_stat *st, uint8_t *buf);
int store_dec_stype(const uint8_t *key, size_t klen, const uint8_t *p, size_t len, struct d4_sensor_type_stat *st);
size_t store_stype_key(const uint8_t uuid[16], uint8_t type, const char *ext, uint8_t *key);
size_t store_enc_daily(const struct d4_daily_stat *st, uint8_t *buf);
int store_dec_daily(const uint8_t *key, size_t klen, const uint8_t *p, size_t len, struct d4_daily_stat *st);
void store_daily_key(uint32_t day, const uint8_t uuid[16], uint8_t type, uint8_t key[21]);
size_t store_enc_totals(const struct d4_totals *t, uint8_t *buf);
int store_dec_totals(const uint8_t *p, size_t len, struct d4_totals *t);
#define STORE_USER_MAX	 16
#define STORE_TOKEN_MAX	 160
#define STORE_TOKEN_HASH 32
#define STORE_TOKEN_ID	 8
size_t store_enc_user(const struct d4_user *u, uint8_t *buf);
int store_dec_user(const uint8_t *key, size_t klen, const uint8_t *p, size_t len, struct d4_user *u);
/* Token value: id bytes + info (id text filled from them). */
size_t store_enc_token(const uint8_t id[STORE_TOKEN_ID], const struct d4_token_info *t, uint8_t *buf);
int store_dec_token(const uint8_t *p, size_t len, uint8_t id[STORE_TOKEN_ID], struct d4_token_info *t);
size_t store_block_key(const struct d4_block_entry *e, uint8_t key[18]);
int store_dec_block(const uint8_t *key, size_t klen, const uint8_t *p, size_t len, struct d4_block_entry *e);

struct store_chunk_hdr {
	uint32_t count;
	uint64_t session, first_seq, min_ms, max_ms;
};
int store_dec_chunk_hdr(const uint8_t *p, size_t len, struct store_chunk_hdr *h);
void store_enc_chunk_hdr(const struct store_chunk_hdr *h, uint8_t *p);
void store_enc_frec(const struct d4_frame_rec *r, uint8_t *p);
/* Walks the records of one chunk; cb as in d4_store_frame_foreach. Returns 0,
 * 1 if cb stopped, or D4_ECORRUPT. */
int store_chunk_walk(const uint8_t *p, size_t len, uint64_t from_seq,
		     int (*cb)(void *ctx, const struct d4_frame_rec *rec, const uint8_t *payload), void *ctx);

/* ---- passive-DNS merge inside a caller's transaction (store_pdns.c) ----
 * prep computes the tuple keys (pure CPU, before any transaction); hubs
 * (may be NULL; entries NULL for none) gives each observation's origin hub,
 * added to the tuple's bounded set. merge_txn applies them in txn with the
 * usual min/max/sum rules and may be run again on a fresh transaction after
 * an abort. obs and hubs are borrowed until free. */
struct store_pdns_merge;
#define STORE_PDNS_LAYOUT_S4 1u /* schema 4: pdns_tuples clustered by name, index values = tuple key */
#define STORE_PDNS_LAYOUT_ID 2u /* id-keyed: pdns_rec by id, id-only indexes, name tables */
/* Reads (or, on a writable open of a store without it, decides and writes)
 * the pDNS layout mark in txn; sets s->pdns_layout. */
int store_pdns_layout_init(struct d4_store *s, MDB_txn *txn);
void store_pdns_layout_free(struct d4_store *s);
int store_pdns_merge_prep(const struct d4_store_pdns_obs *obs, const uint8_t *const *hubs, size_t n,
			  struct store_pdns_merge **out);
size_t store_pdns_merge_count(const struct store_pdns_merge *m); /* observations merged (not skipped) */
int store_pdns_merge_txn(struct d4_store *s, MDB_txn *txn, struct store_pdns_merge *m);
void store_pdns_merge_free(struct store_pdns_merge *m);
/* Strict decoder of a stored tuple record p[0..n) under its key
 * key[0..klen) (v2, v3 with origin hubs, or v4, whose name and rrtype are
 * the key's): 0 or D4_ECORRUPT; *out points into key and p (tests, fuzzing). */
int store_pdns_tuple_decode(const uint8_t *key, size_t klen, const uint8_t *p, size_t n,
			    struct d4_store_pdns_tuple *out);
/* Decodes a record as store_pdns_tuple_decode and writes it again as this
 * build does (record v4) into out (n + 64 bytes, at least 128): its length,
 * 0 when it does not decode (fuzzing: a v4 record comes back unchanged). */
/* The tuple key an entry (k, v) of pDNS index dbi leads to, into out
 * (PDNS key size: 419 bytes): the value itself, or for pdns_rname entries
 * whose value is only H(rdata), the name and rrtype of the entry's key
 * with it. 0 or D4_ECORRUPT. */
int store_pdns_index_tuple_key(int dbi, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen, uint8_t *out,
			       size_t *outlen);
size_t store_pdns_tuple_recode(const uint8_t *key, size_t klen, const uint8_t *p, size_t n, uint8_t *out);

/* ---- backscatter vectors (store_bs.c) ----
 * The upsert d4_store_bs_apply does per vector, inside the caller's write
 * transaction txn (the federation receiver applies received vectors with
 * its position): identity lookup, the CLOSED-is-final and fewer-packets
 * rules (an ignored write returns 0 and changes nothing), a new change
 * sequence number and the index entries moved with the record. Returns 0,
 * D4_EINVAL (a field out of range: kind 0 or >= D4_STORE_BS_KINDS, state
 * not 1/2, a list longer than its array, last_us < first_us), D4_EPERM
 * (read-only handle), D4_EFULL or a store error; on an error the caller
 * aborts txn. v is borrowed for the call. */
int store_bs_vec_put_txn(struct d4_store *s, MDB_txn *txn, const struct d4_store_bs_vec *v);
/* Stored vector record v1 (docs/store.md "Backscatter"): encode writes at
 * most STORE_BS_REC_MAX bytes into buf and returns the length; decode is
 * strict (0 or D4_ECORRUPT), pure over the bytes, and fills every field of
 * out (unlisted entries zero). Tests and fuzzing use both. */
#define STORE_BS_REC_MAX                                                                                               \
	(1u + 41u + 24u + 25u + 1u + 10u * D4_STORE_BS_TOP_PORTS + 25u + 25u + 2u + 16u * D4_STORE_BS_SENSORS + 22u +  \
	 19u + 16u * D4_STORE_BS_VIA_MAX + 65u + 2u + D4_STORE_FED_PROOF_MAX)
size_t store_bs_vec_encode(const struct d4_store_bs_vec *v, uint8_t *buf);
int store_bs_vec_decode(const uint8_t *p, size_t n, struct d4_store_bs_vec *out);

/* ---- federation in the writer (store_fed.c) ----
 * Checks a submitted batch (0 or D4_EINVAL). */
int store_fed_batch_check(const struct d4_store_fed_batch *b);
/* Writer state for received batches: the local session ids it hands out
 * (reserved inside the batch's transaction) and the batches applied by the
 * current attempt, completed after its commit. */
struct store_fed_writer {
	uint64_t sid_next, sid_limit; /* committed reservation */
	uint64_t try_next, try_limit; /* the current attempt's */
	struct d4_store_fed_batch **applied;
	size_t napplied, capplied;
	uint64_t *local; /* per frame of the batch being applied: its local session */
	size_t caplocal;
};
/* Phase 1 of a received batch, in a child of the batch's transaction: the
 * position rule, the session mapping (local[i] per frame), the tuples, the
 * new position. Returns 0 (b->result says what happened; frames to add
 * when b->result == 0) or a writer error (D4_EFULL, D4_ENOMEM, store
 * errors) that fails the whole attempt. */
int store_fed_apply(struct d4_store *s, MDB_txn *txn, struct store_fed_writer *fw, struct d4_store_fed_batch *b);
/* The signed provenance of received frame seq, in the writer's txn. */
int store_fed_sig_put(struct d4_store *s, MDB_txn *txn, uint64_t seq, const struct d4_store_fed_frame *f);
/* Retention's part: the entries of a table keyed by u64 frame seq (fed_sig;
 * pdns_side: seq || part) below first_seq, in txn; an absent table is nothing to do. */
int store_trim_by_seq(struct d4_store *s, MDB_txn *txn, enum store_dbi dbi, uint64_t first_seq, const char *what);
/* Deletes every fed_out record of a partner in txn (d4_store_partner_del). */
int store_fed_out_del_partner(struct d4_store *s, MDB_txn *txn, const char *partner);
/* Sets result, done and the eventfd of a batch. */
void store_fed_complete(struct d4_store_fed_batch *b, int result);

/* ---- writer (store_writer.c) ---- */
void store_writer_init(struct d4_store *s);
void store_writer_fini(struct d4_store *s);
/* 1 and the reason when a live process's writer on this store is paused
 * (the state file its writer keeps in the store folder), else 0. */
int store_pause_file_read(const struct d4_store *s, char *reason, size_t rlen);

/* ---- analyzer queue fan-out in the writer (store_queue.c) ----
 * The writer owns one cache of queue filters, reloaded when the control
 * epoch read inside its transaction differs from the cached one. Per batch:
 * begin (inside the batch's write transaction), one fanout per committed
 * frame in seq order, end (writes the touched queue records). A failed batch
 * simply begins again: nothing is kept across attempts but the filters. */
struct store_qcache;
struct store_qcache *store_qcache_new(void);
void store_qcache_free(struct store_qcache *qc);
int store_qcache_begin(struct store_qcache *qc, struct d4_store *s, MDB_txn *txn);
int store_qcache_fanout(struct store_qcache *qc, const struct d4_frame_rec *rec, const char *ext_type);
int store_qcache_end(struct store_qcache *qc);

/* ---- replay window of acknowledged delivery (store_replay.c) ----
 * Per batch: begin, one check per frame with replay_check set, in item
 * order (1: an exact replay of a committed frame, drop it; 0: new, now
 * remembered; negative: error), end (prunes to the window, writes the
 * counters). All inside the batch's write transaction. */
struct store_replay;
struct store_replay *store_replay_new(void);
void store_replay_free(struct store_replay *rp);
void store_replay_begin(struct store_replay *rp);
int store_replay_check(struct store_replay *rp, struct d4_store *s, MDB_txn *txn, const struct d4_frame_rec *rec);
int store_replay_end(struct store_replay *rp, struct d4_store *s, MDB_txn *txn);
/* After the batch's commit: its decisions become the writer's memory. */
void store_replay_committed(struct store_replay *rp);

#endif
