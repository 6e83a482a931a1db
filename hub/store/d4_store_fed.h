/* d4hub store — federation state (part of the store module; its own header
 * like d4_store_partner.h): the sender's positions and decision counters
 * per (partner, kind), the receiver's positions per (sending hub, kind), and
 * the application of a received batch to the frame log, the pDNS tuples or
 * the backscatter vectors in ONE write transaction of the writer thread together with the new
 * receiver position, so that a batch is either stored with its position or
 * not at all (docs/federation.md "Push and pull", docs/store.md).
 *
 * Positions are opaque to the store (the sender's log position: a frame
 * seq for frames, the pDNS source's cursor for pdns); the store only
 * compares them byte for byte. */
#ifndef D4_STORE_FED_H
#define D4_STORE_FED_H

#include "d4_store.h"
#include "d4_store_bs.h"
#include "d4_store_partner.h"
#include "d4_store_pdns.h"
#include "d4_store_pssl.h"

#include <stddef.h>
#include <stdint.h>

#define D4_FED_POS_MAX	       4200u /* position bytes (pDNS cursor + a u32 skip) */
#define D4_STORE_FED_REASONS   64u   /* decision / refusal counters kept per record */
#define D4_STORE_FED_VIA_MAX   16u   /* = D4_FED_VIA_MAX */
#define D4_STORE_FED_HUBS_KEEP 4u    /* origin hubs kept per pDNS tuple */

/* ---- sender side: table fed_out, key partner name ‖ 00 ‖ u8 kind ---- */
struct d4_store_fed_out {
	uint8_t pos[D4_FED_POS_MAX]; /* acknowledged position: the next batch starts here */
	size_t pos_len;		     /* 0 = from the start of the log */
	/* decisions acknowledged by the partner, per reason (enum d4_fed_reason
	 * order; the store keeps n counters and never interprets them) */
	uint64_t decisions[D4_STORE_FED_REASONS];
	uint8_t ndecisions;
	uint64_t batches, records, bytes; /* acknowledged */
	uint64_t last_ack;		  /* seconds, 0 = never */
	/* pull: the batch served and not yet confirmed (the partner confirms it
	 * by asking for the position it ended at): its end and its decisions */
	uint8_t pend_pos[D4_FED_POS_MAX];
	size_t pend_len; /* 0 = none */
	uint64_t pend_decisions[D4_STORE_FED_REASONS];
	uint8_t npend;
	uint64_t pend_records, pend_bytes;
};
/* 0 (filled), D4_ENOTFOUND (zeroed: never acknowledged), D4_EINVAL (bad
 * name or kind), D4_ECORRUPT. *out caller-owned. */
int d4_store_fed_out_get(struct d4_store *s, const char *partner, uint8_t kind, struct d4_store_fed_out *out);
/* Replaces the record in one small write transaction of its own (not the
 * writer's; no epoch bump), only while the partner exists (checked in that
 * transaction: a record never outlives its partner). 0, D4_EINVAL,
 * D4_ENOTFOUND (no such partner), D4_EFULL, store errors. */
int d4_store_fed_out_put(struct d4_store *s, const char *partner, uint8_t kind, const struct d4_store_fed_out *in);
/* Every record of one partner (partner NULL: all), in key order; cb
 * non-zero stops. Deleting a partner deletes its fed_out records in the
 * same transaction (d4_store_partner_del). */
int d4_store_fed_out_foreach(struct d4_store *s, const char *partner,
			     int (*cb)(void *ctx, const char *partner, uint8_t kind, const struct d4_store_fed_out *o),
			     void *ctx);

/* ---- receiver side: table fed_in, key sender hub[16] ‖ u8 kind ---- */
struct d4_store_fed_in {
	uint8_t pos[D4_FED_POS_MAX]; /* the sender's position after the last batch stored */
	size_t pos_len;
	uint8_t last_from[D4_FED_POS_MAX]; /* the last batch stored: its start (to recognise a resend) */
	size_t last_from_len;
	char partner[D4_PARTNER_NAME_MAX];	/* the partner it was mapped to, last time */
	uint64_t batches, records, bytes;	/* stored */
	uint64_t duplicates;			/* batches acknowledged without storing (resends) */
	uint64_t conflicts;			/* batches refused for a position mismatch */
	uint64_t refused[D4_STORE_FED_REASONS]; /* records refused on receipt, per reason (enum d4_fed_in_reason) */
	uint8_t nrefused;
	uint64_t last_at; /* seconds */
};
int d4_store_fed_in_get(struct d4_store *s, const uint8_t hub[16], uint8_t kind, struct d4_store_fed_in *out);
int d4_store_fed_in_foreach(struct d4_store *s,
			    int (*cb)(void *ctx, const uint8_t hub[16], uint8_t kind, const struct d4_store_fed_in *i),
			    void *ctx);

/* Where a received record came from, stored with it. */
struct d4_store_fed_prov {
	uint8_t stripped;   /* arrived stripped (tlp:ex:chr): no origin, org, sensors, via */
	uint8_t has_origin; /* origin hub known (always unless stripped) */
	uint8_t origin[16];
	uint8_t nvia; /* hubs it came through, oldest first; the sender is the last */
	uint8_t via[D4_STORE_FED_VIA_MAX][16];
};

/* One received frame. Pointers borrowed until the batch is done. */
struct d4_store_fed_frame {
	uint64_t origin_session; /* the session id at the origin hub (0 if stripped) */
	uint8_t sensor[16];	 /* origin sensor, all-zero if stripped */
	uint8_t type;
	const char *ext_type; /* NUL-terminated, "" if none */
	uint8_t tlp;	      /* real level as it arrived (checked by the caller) */
	uint8_t has_org;
	uint8_t org[16];
	uint64_t hdr_ts, recv_ms; /* at the origin */
	const uint8_t *payload;
	uint32_t size;
	const struct d4_store_fed_prov *prov;
	/* signed provenance, kept with the frame so that it can go on as it came */
	uint8_t sig_flags;    /* D4_STORE_FED_SIG_* */
	uint8_t sig[64];      /* the origin hub's signature (D4_STORE_FED_SIG_SIGNED) */
	const uint8_t *proof; /* D4_STORE_FED_SIG_SEALED: its proof (opaque), proof_len bytes */
	uint16_t proof_len;   /* <= D4_STORE_FED_PROOF_MAX */
};
#define D4_STORE_FED_SIG_SIGNED 0x01u /* it carries its origin's signature (a version 1 batch) */
#define D4_STORE_FED_SIG_ONWARD 0x02u /* its origin allows relaying it further (checked on receipt) */
#define D4_STORE_FED_SIG_SEALED 0x04u /* it carries its proof under its origin's seal */

/* One received pDNS tuple (merged with the usual min/max/sum rules) and
 * where it came from: obs carries sensor (has_sensor 0 if stripped), tlp
 * and org; prov the origin hub and path. */
struct d4_store_fed_tuple {
	struct d4_store_pdns_obs obs;
	const struct d4_store_fed_prov *prov;
};

/* A received batch, handed to the writer thread. The caller owns it and
 * everything it points to, and keeps it alive (untouched) until `done`
 * becomes non-zero. */
struct d4_store_fed_batch {
	/* in */
	uint8_t sender[16];		   /* the partner hub that sent it (mapped by mTLS) */
	char partner[D4_PARTNER_NAME_MAX]; /* its partner name */
	uint8_t kind;			   /* enum d4_fed_kind */
	const uint8_t *from;		   /* the sender's position before / after the batch */
	size_t from_len;
	const uint8_t *to;
	size_t to_len;
	const struct d4_store_fed_frame *frames; /* kind frames */
	size_t nframes;
	const struct d4_store_fed_tuple *tuples; /* kind pdns */
	size_t ntuples;
	/* kind backscatter: vectors with their provenance (received = 1,
	 * sender, origin, stripped, via), upserted by identity (origin,
	 * victim, kind, first_us): an update replaces the stored state */
	const struct d4_store_bs_vec *vectors;
	size_t nvectors;
	/* kind certs: passive-SSL handshakes with the certificates the
	 * receiver parsed itself, origin set (never all-zero: that is this
	 * hub), merged like the hub's own (d4_store_pssl_apply) */
	const struct d4_store_pssl_obs *pssl;
	size_t npssl;
	uint64_t bytes;				/* wire bytes of the batch, counted */
	uint64_t refused[D4_STORE_FED_REASONS]; /* records the caller refused (inbound rule), added */
	uint8_t nrefused;
	int notify_fd; /* -1, or an eventfd the writer writes 1 to when done (just after
			* setting done: keep it open until that write has been read) */
	/* out, valid once done != 0 */
	int result; /* 0 stored; D4_EEXIST a resend of the last batch stored: acknowledged, nothing stored;
		     * D4_EBUSY position mismatch: nothing stored, `pos` is where the receiver is;
		     * D4_EFULL map full / paused; other store errors */
	uint8_t pos[D4_FED_POS_MAX]; /* the receiver's position for (sender, kind) after the call */
	size_t pos_len;
	uint64_t stored;   /* records stored */
	volatile int done; /* set last, with release semantics (__atomic) */
};
/* Queues b for the writer thread (never blocks on the disk). Position rule,
 * checked inside the writer's transaction: no position stored yet, or
 * from == stored position → stored, position := to; to == stored position
 * and from == the last batch's start → D4_EEXIST; otherwise D4_EBUSY.
 * Returns 0 (queued: wait for done) or D4_EAGAIN (queue full / paused),
 * D4_ECLOSED, D4_EINVAL (then done is not set). */
int d4_store_fed_submit(struct d4_store *s, struct d4_store_fed_batch *b);

/* Federation provenance of a stored session: sessions that were received
 * from a partner (d4_session_info.fed = 1) carry it. 0, D4_ENOTFOUND (no
 * such session, or a local one), store errors. */
struct d4_store_fed_session {
	char partner[D4_PARTNER_NAME_MAX]; /* the partner it arrived from */
	uint8_t sender[16];		   /* that partner's hub */
	uint64_t origin_session;
	struct d4_store_fed_prov prov;
};
int d4_store_fed_session_get(struct d4_store *s, uint64_t session, struct d4_store_fed_session *out);

/* The signed provenance a received frame arrived with (table fed_sig, key
 * the frame's seq): *flags D4_STORE_FED_SIG_*, sig the origin's signature
 * when SIGNED. 0, D4_ENOTFOUND (nothing kept: a local frame, or one received
 * without either), D4_ECORRUPT, store errors. Entries older than the frame
 * log's first frame are removed with the log's retention. */
int d4_store_fed_sig_get(struct d4_store *s, uint64_t seq, uint8_t *flags, uint8_t sig[64]);
/* The same with the proof of a SEALED frame: proof (D4_STORE_FED_PROOF_MAX
 * bytes, caller's) gets *proof_len bytes (0 when not SEALED). Values
 * written before proofs existed (flags, [signature]) read as they were. */
int d4_store_fed_sig_read(struct d4_store *s, uint64_t seq, uint8_t *flags, uint8_t sig[64], uint8_t *proof,
			  size_t *proof_len);

#endif
