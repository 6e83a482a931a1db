/* d4hub API — resource handlers (sensors, blocklist, types, stats, users,
 * registration) and the helpers they share: request validation, store error
 * mapping, opaque cursors and the JSON serialisers of the common schemas
 * (SensorSummary, SensorDetail, Session, BlockEntry, the types document).
 * Private to api/. Every handler validates every parameter and body field
 * before use and sets exactly one response. */
#ifndef D4_API_HANDLERS_H
#define D4_API_HANDLERS_H

#include "api_internal.h"
#include "d4_policy.h"
#include "d4_store.h"

#include <stddef.h>
#include <stdint.h>

/* ---- handlers ------------------------------------------------------------ */
void d4_h_list_sensors(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_get_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_list_sensor_sessions(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_create_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_update_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_delete_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_approve_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_block_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_unblock_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_kick_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_refuse_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_rotate_sensor_key(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
/* every session, or one sensor's, oldest first (api/h_sessions.c) */
void d4_h_list_sessions(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
/* monitoring (api/h_sensors.c) */
void d4_h_list_silent_sensors(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);

void d4_h_list_blocklist(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_add_block(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_delete_block(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);

void d4_h_get_types(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_set_type(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_add_ext_type(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_delete_ext_type(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);

void d4_h_get_stats_totals(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_get_stats_daily(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);

void d4_h_list_users(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_create_user(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_update_user(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_delete_user(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_list_tokens(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_create_token(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_revoke_token(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);

void d4_h_register_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);

/* federation partners and the egress dry run (api/h_partners.c) */
void d4_h_list_partners(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_federation_identity(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_get_partner(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_create_partner(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_update_partner(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_delete_partner(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_dry_run_partner(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
/* api/h_fedstatus.c: a partner's federation status; the federation series
 * of /metrics (malloc'ed text, NULL on failure) */
void d4_h_partner_status(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
char *d4_h_fed_metrics(struct d4_api_ctx *ctx);
/* api/h_upstream.c: the upstream relay's status; its series of /metrics
 * (malloc'ed text, NULL on failure) */
void d4_h_get_upstream(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
char *d4_h_upstream_metrics(struct d4_api_ctx *ctx);

/* the ingest watch: unverified connections per address (api/h_ingest.c) */
void d4_h_get_ingest_unverified(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
/* server (ingest) mode (api/h_server.c) */
void d4_h_get_server(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_set_server(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);

/* passive DNS queries (api/h_pdns.c): CIRCL COF and DNSDB API v2 */
void d4_h_pdns_query(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_pdns_info(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_dnsdb_lookup_rrset_name(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_dnsdb_lookup_rdata_name(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_dnsdb_lookup_rdata_ip(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_dnsdb_lookup_rdata_raw(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_dnsdb_summarize_rrset_name(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_dnsdb_summarize_rdata_name(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_dnsdb_summarize_rdata_ip(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_dnsdb_summarize_rdata_raw(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_dnsdb_rate_limit(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_dnsdb_ping(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);

/* backscatter attack vectors (api/h_bs.c) */
void d4_h_bs_list_vectors(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_bs_get_vector(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_bs_summary(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_bs_counters(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);

/* passive SSL (api/h_pssl.c): CIRCL /v2pssl lookups and the pivots */
void d4_h_v2pssl_query(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_v2pssl_cquery(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_v2pssl_cfetch(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_pssl_list_tuples(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_pssl_list_certs(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_pssl_get_cert(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_pssl_get_fingerprint(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
/* passive SSL: the consumer's figures (api/h_pssl_ingest.c) */
void d4_h_pssl_info(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_pssl_counters(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);

void d4_h_list_queues(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_create_queue(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_get_queue(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_update_queue(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_delete_queue(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_flush_queue(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_preview_queue(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_pop_queue(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_ack_queue(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
void d4_h_follow_queue(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);

/* ---- validation (api/json_out.c) -------------------------------------------
 * Each check returns 0 when the input is acceptable, or -1 after setting the
 * problem response (the handler then just returns). */

/* Path parameter idx as a uuid (32 hex, dashes allowed); with want_v4 the
 * version/variant must be those of a v4 uuid, as every D4 sensor id is.
 * 400 invalid-parameter otherwise. */
int d4_h_path_uuid(const struct d4_api_req *req, struct d4_api_resp *resp, unsigned idx, int want_v4, uint8_t out[16]);
/* Every query parameter must be one of the NULL-terminated names, and appear
 * once: 400 invalid-parameter naming the offender. names may be NULL. */
int d4_h_query_only(const struct d4_api_req *req, struct d4_api_resp *resp, const char *const *names);
/* Query integer in [min, max], *out = def when absent; 400 otherwise. */
int d4_h_query_uint(const struct d4_api_req *req, struct d4_api_resp *resp, const char *name, uint64_t min,
		    uint64_t max, uint64_t def, uint64_t *out);

/* Opaque list cursors: base64url (no padding) of exactly n key bytes. decode
 * gives 1 with *out filled when the cursor parameter is present, 0 when
 * absent, -1 (400 invalid-parameter set) when malformed. */
void d4_h_cursor_encode(const uint8_t *key, size_t n, char *out, size_t out_size);
int d4_h_query_cursor(const struct d4_api_req *req, struct d4_api_resp *resp, uint8_t *out, size_t n);

/* JSON body: with required, a missing body is 400 bad-request; a body that
 * is not an object, a member not listed in allowed (NULL-terminated), a
 * repeated member, or a string with an embedded NUL (\u0000: C strings would
 * silently cut it) is 422 unprocessable naming the member. Returns 1 when an
 * object is present, 0 when absent (optional body), -1 on error. */
int d4_h_body(const struct d4_api_req *req, struct d4_api_resp *resp, int required, const char *const *allowed);
/* Member getters on req->json: return 1 present (value in *out), 0 absent,
 * -1 wrong type/range/length (422 set naming the member). Strings: max_len
 * bytes at most (1..max_len unless allow_empty); *out borrowed from the
 * parsed tree. For nullable members *is_null is set and *out untouched. */
int d4_h_json_str(const struct d4_api_req *req, struct d4_api_resp *resp, const char *name, size_t max_len,
		  int allow_empty, int *is_null, const char **out);
int d4_h_json_int(const struct d4_api_req *req, struct d4_api_resp *resp, const char *name, int64_t min, int64_t max,
		  int64_t *out);
int d4_h_json_bool(const struct d4_api_req *req, struct d4_api_resp *resp, const char *name, int *out);
/* 422 "missing required member NAME". Always -1. */
int d4_h_missing(struct d4_api_resp *resp, const char *name);

/* Maps a store error to a problem response: D4_ENOTFOUND 404 not-found,
 * D4_EEXIST 409 conflict, D4_EINVAL 422 unprocessable, D4_EFULL 503
 * storage-full (Retry-After),
 * anything else 500 internal (logged). what names the object, e.g.
 * "sensor 0123...". */
void d4_h_store_error(struct d4_api_resp *resp, int rc, const char *what);

/* 400 invalid-parameter / 422 unprocessable / 409 conflict shorthands. */
void d4_h_bad_param(struct d4_api_resp *resp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void d4_h_unprocessable(struct d4_api_resp *resp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void d4_h_conflict(struct d4_api_resp *resp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 500 internal: allocation of the response failed or the like. */
void d4_h_internal(struct d4_api_resp *resp, const char *what);

/* Text checks: 1 if s has no control characters (< 0x20, 0x7f). */
int d4_h_printable(const char *s);

/* Handlers build JSON in a generator of their own and send it only once it
 * is complete, so that a store error half way can still become a problem
 * response. d4_h_gen: NULL on allocation failure. d4_h_send: sends g's
 * document as application/json with status and frees g (NULL g -> 500);
 * with wipe the generator's buffer is wiped first (it held a secret; the
 * response copy is the server's). */
yajl_gen d4_h_gen(void);
void d4_h_send(struct d4_api_resp *resp, int status, yajl_gen g, int wipe);

/* ---- serialisers (api/json_out.c) ------------------------------------------
 * Each writes one JSON value into g. Strings from the store may come from
 * hostile peers or d4hubctl arguments: they go through d4_h_j_text. */
void d4_h_j_uuid(yajl_gen g, const char *k, const uint8_t uuid[16]);
/* k: s as a JSON string made valid UTF-8 (invalid bytes become U+FFFD);
 * for every string that comes from the store (NULL -> null). */
void d4_h_j_kv_text(yajl_gen g, const char *k, const char *s);
void d4_h_j_text(yajl_gen g, const char *s);
void d4_h_j_null(yajl_gen g, const char *k);
const char *d4_h_addr_text(const uint8_t addr[16], char *out, size_t size);
/* SensorSummary object. st (may be NULL: unknown) gives the connection
 * state: d4_store_live_get, written as connected, live_sessions and
 * connected_since (null when unknown). */
void d4_h_j_sensor_summary(yajl_gen g, struct d4_store *st, const struct d4_sensor *sn);
/* SilentSensor object: SensorSummary + silence_threshold + silent_for
 * (seconds since last_seen, or since created when never seen, at now). */
void d4_h_j_silent_sensor(yajl_gen g, struct d4_store *st, const struct d4_sensor *sn, uint64_t now);
/* SensorDetail object (summary + detail + types + 7-day history); reads the
 * store; extra_key/extra_val (both or neither NULL) add one more string
 * member, e.g. the generated key of createSensor. Returns 0 or a store
 * error (the generator then holds a partial document: discard it). */
int d4_h_j_sensor_detail(yajl_gen g, struct d4_store *st, const struct d4_sensor *sn, const char *extra_key,
			 const char *extra_val);
/* ---- TLP clearance (api/clearance.c) ----------------------------------------
 * The caller's clearance by role (api.max_tlp_admin, api.max_tlp_user;
 * sensor_register and anonymous callers: none), and the one rule every read
 * path applies to a record before handing it out (hub/policy
 * d4_policy_tlp_visible). docs/api-auth.md "TLP clearance per role".
 * Pointers are borrowed for the call; nothing is kept or allocated. */
enum d4_tlp d4_api_clearance(const struct d4_api_ctx *ctx, const struct d4_api_req *req);
/* 1 if a caller of this clearance may see a record labelled record_tlp. */
int d4_api_may_see(enum d4_tlp clearance, uint8_t record_tlp);
/* Adds "D4-Clearance: <level>" so that a client can tell a filtered answer. */
void d4_api_clearance_header(struct d4_api_resp *resp, enum d4_tlp clearance);
/* The level of a stream without tags: the sensor's default (sn may be
 * NULL), else the hub's. */
enum d4_tlp d4_api_untagged_tlp(const struct d4_api_ctx *ctx, const struct d4_sensor *sn);
/* The TLP a session's records carry: its resolved level, or while it has
 * none yet d4_api_untagged_tlp. */
enum d4_tlp d4_api_session_tlp(const struct d4_api_ctx *ctx, const struct d4_session_info *si,
			       const struct d4_sensor *sn);

/* Session object; fallback_tlp is shown while the session has no TLP yet. */
void d4_h_j_session(yajl_gen g, const struct d4_session_info *si, uint8_t fallback_tlp);
/* The same with "federation": {partner, sender, origin, stripped, via} for
 * a session received from a partner hub (fs NULL: none, a local session). */
struct d4_store_fed_session;
void d4_h_j_session_fed(yajl_gen g, const struct d4_session_info *si, uint8_t fallback_tlp,
			const struct d4_store_fed_session *fs);
/* BlockEntry object. */
const char *d4_h_block_kind_name(unsigned kind);
void d4_h_j_block_entry(yajl_gen g, const struct d4_block_entry *e);
/* Rejection reasons object {reason-name: count} over D4_REJ_COUNT counters. */
void d4_h_j_rejections(yajl_gen g, const char *k, const uint64_t *counts);
/* The getTypes document. Returns 0 or a store error. */
int d4_h_j_types(yajl_gen g, struct d4_store *st);
/* "YYYY-MM-DD" of a day number (days since the epoch). */
void d4_h_day_text(uint32_t day, char out[16]);

#endif
