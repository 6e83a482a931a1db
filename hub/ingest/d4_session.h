/* d4hub — the per-connection D4 session state machine (no I/O).
 *
 * The ingest loop feeds it the decoder's events; it answers with a verdict:
 * carry on (possibly with actions to post to the store: open the session,
 * set its meta, store a frame) or close the connection with a reason. Every
 * check of DESIGN.md §3 is here, in the reference server's order, so that a
 * packet failing two checks is reported with the reason the reference would
 * give. Lookups (blocklists, sensor records, accepted types, backlog) come
 * through a table of callbacks so that unit tests drive it with fakes.
 *
 * Checks, in order (a header is checked as soon as its 62 bytes are in,
 * before any payload byte is buffered):
 *   on connect: IP blocklist
 *   header:     uuid-ips list, uuid blocklist / sensor blocked, registration
 *               (unknown, pending, no key of its own), shared-secret mode
 *               without any shared key (only sensors with their own key),
 *               kick ban, payload limit, pre-auth limit,
 *               uuid v4, accepted type, [first packet: 254 first] / [later:
 *               type change other than 2->254 (and a duplicate (uuid,254)
 *               on that change), uuid change], version == 1, timestamp window
 *   frame:      HMAC (constant time), [first verified packet: duplicate
 *               (uuid, type) except type 2], per-sensor backlog (throttle, then
 *               close if it does not drain), then for type 2:
 *               meta-header reassembly, extended type accepted
 * The (uuid, type) slot is claimed only by a packet whose HMAC verified: a
 * connection that merely knows a uuid never keeps the sensor out, and its
 * rejections carry proven = 0 (never charged to the sensor).
 * The policy checks (blocklists, sensor status) run for the first header and
 * whenever the uuid differs from the one already verified; later headers of
 * the same uuid rely on d4_session_recheck(), which the loop calls when the
 * store's control epoch changes (admin action). */
#ifndef D4_SESSION_H
#define D4_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "d4_proto.h"
#include "d4_store.h"

/* Lookups supplied by the loop (or a test). u is env->u. */
struct d4_session_ops {
	/* 1 if the address (v4-mapped for IPv4) is on the IP/CIDR blocklist. */
	int (*ip_blocked)(void *u, const uint8_t addr[16]);
	/* 1 if uuid is on the "block every IP of this uuid" list. */
	int (*uuid_ips_blocked)(void *u, const uint8_t uuid[16]);
	/* 1 if uuid is on the uuid blocklist. */
	int (*uuid_blocked)(void *u, const uint8_t uuid[16]);
	/* 0 and *out filled, D4_ENOTFOUND, or another negative code. */
	int (*sensor_get)(void *u, const uint8_t uuid[16], struct d4_sensor *out);
	/* 1 if the type is accepted. */
	int (*type_accepted)(void *u, uint8_t type);
	/* 1 accepted, 0 not, negative on error (treated as not accepted). */
	int (*ext_type_accepted)(void *u, const char *name);
	/* Payload bytes of this sensor posted to the store and not committed. */
	uint64_t (*backlog)(void *u, const uint8_t uuid[16]);
	/* A fresh, never reused session id (non-zero). */
	uint64_t (*session_id_new)(void *u);
};

/* Live (uuid, type) claims of every session of one loop: the "one
 * connection per (uuid, type)" rule. Not thread-safe: one loop owns it. */
struct d4_session_registry;
struct d4_session_registry *d4_session_registry_new(void);
/* Every session using it must have been freed first. */
void d4_session_registry_free(struct d4_session_registry *r);
/* Number of live claims (tests, status). */
size_t d4_session_registry_count(const struct d4_session_registry *r);

/* Shared by all sessions of a loop; owned by the caller, must outlive them.
 * The loop updates now_s/now_ms before feeding events. */
struct d4_session_env {
	const struct d4_session_ops *ops;
	void *u;
	struct d4_session_registry *reg;
	int mode;		   /* enum d4_hub_mode */
	const uint8_t *shared_key; /* shared-secret mode key, borrowed */
	size_t shared_keylen;
	/* Bumped by the loop whenever the shared key changes (run-time server
	 * settings): d4_session_recheck() closes verified sessions that were
	 * keyed with an older shared key. */
	uint64_t shared_key_gen;
	uint32_t max_payload;	   /* hub limit (sensor's own limit wins if set) */
	uint32_t preauth_max;	   /* limit until the first verified packet */
	uint64_t timestamp_window; /* seconds, 0 = off */
	uint64_t max_backlog;	   /* bytes, hub default */
	uint8_t hub_tlp;	   /* enum d4_tlp, a real level */
	uint8_t hub_org[16];
	uint64_t now_s, now_ms;
};

/* Actions (bit set in d4_verdict.actions), to be posted in this order. */
#define D4_ACT_OPEN	1u /* post_session_open(&v->open) */
#define D4_ACT_META	2u /* post_session_meta(&v->meta) */
#define D4_ACT_FRAME	4u /* post_frame(&v->rec, v->payload) */
#define D4_ACT_BLOCK_IP 8u /* add the peer address to the IP blocklist (uuid-ips rule) */
/* The sensor's store backlog is over its cap: post the frame, then stop
 * reading this connection until the backlog is under the cap again; if it
 * stays over for longer than the header timeout, close it with
 * d4_session_on_backlog_stall(). The reference closes at once; throttling
 * first loses nothing when the store is only briefly slower than the link. */
#define D4_ACT_THROTTLE 16u

struct d4_verdict {
	int close; /* 1: close the connection with reason/detail */
	enum d4_reject reason;
	int has_uuid;
	uint8_t uuid[16];
	/* On CLOSE: 1 if this connection proved uuid with a verified HMAC, so
	 * the rejection may be charged to that sensor (counters, last_error);
	 * 0: the uuid is only claimed, the event belongs to the ingest watch
	 * (per source address), never to the sensor. */
	int proven;
	char detail[D4_ERRTEXT_MAX];
	unsigned actions;
	struct d4_session_open open;
	struct d4_session_meta meta;
	struct d4_frame_rec rec;
	const uint8_t *payload; /* borrowed from the frame given to on_frame */
};

enum { D4_SESS_CONTINUE = 0, D4_SESS_CLOSE = 1 };

struct d4_session;

/* addr is the peer (v4-mapped for IPv4). Returns NULL on allocation failure.
 * The session borrows env. */
struct d4_session *d4_session_new(struct d4_session_env *env, const uint8_t addr[16], uint16_t port);
/* Releases registry claims, wipes the key copy, frees. NULL is a no-op. */
void d4_session_free(struct d4_session *s);

/* Each returns D4_SESS_CONTINUE or D4_SESS_CLOSE; *v is always set (actions
 * only on CONTINUE, except D4_ACT_BLOCK_IP which comes with a CLOSE). After
 * CLOSE the session must not be fed again. */
int d4_session_on_connect(struct d4_session *s, struct d4_verdict *v);
/* too_big: the decoder refused the declared size (its limit is
 * d4_session_max_payload()); the header is still checked in order so that an
 * earlier reason wins. */
int d4_session_on_header(struct d4_session *s, const struct d4_hdr *h, int too_big, struct d4_verdict *v);
/* f must be the frame whose header was accepted last. */
int d4_session_on_frame(struct d4_session *s, const struct d4_frame *f, struct d4_verdict *v);
/* No complete header within the timeout. Always CLOSE. */
int d4_session_on_timeout(struct d4_session *s, struct d4_verdict *v);
/* The sensor's backlog stayed over its cap too long. Always CLOSE. */
int d4_session_on_backlog_stall(struct d4_session *s, uint64_t backlog, struct d4_verdict *v);
/* Backlog cap of this connection's sensor (its own, else the hub's; 0 = off). */
uint64_t d4_session_backlog_cap(const struct d4_session *s);
/* The control epoch changed: refetch the sensor record and re-run the policy
 * checks (blocklists, status, registration, ban) under the env's current
 * mode and shared key: after a switch to registration a sensor without a key
 * of its own is closed; a verified session keyed with a shared key older
 * than env->shared_key_gen is closed (reason hmac-mismatch). */
int d4_session_recheck(struct d4_session *s, struct d4_verdict *v);

/* Payload limit the decoder must enforce now: the pre-auth limit until the
 * first verified packet, then the sensor's (or hub's) limit. */
uint32_t d4_session_max_payload(const struct d4_session *s);
/* Store session id, 0 until the first verified packet opened it. */
uint64_t d4_session_id(const struct d4_session *s);
/* The uuid of the first header (NULL before any header). */
const uint8_t *d4_session_uuid(const struct d4_session *s);
/* 1 once a packet of this connection passed the HMAC check. */
int d4_session_verified(const struct d4_session *s);
/* The session's type (first header's; 254 after a 2->254 change), 0 before
 * any header. Once verified, the session holds the (uuid, type) claim. */
uint8_t d4_session_type(const struct d4_session *s);

#endif
