/* d4hub API — sensor self-registration, compatible with d4-core's
 * POST /api/v1/add/sensor/register: same body {uuid, hmac_key, mail?,
 * description?, third_party?}, other members ignored as d4-core ignores
 * them, same checks in the same order and the same status codes
 * (200 {"uuid"}, 400 invalid uuid, 409 already registered, 400 missing
 * hmac_key). The sensor is created PENDING: an admin approves it.
 *
 * Deliberate differences from d4-core:
 *  - the key is stored as the bytes sent (up to 256; longer is a 422):
 *    d4-core HTML-escaped it and cut it to 100 characters, so a key with
 *    '&', '<', '"'... or over 100 characters silently differed from the
 *    sensor's and its HMAC never matched;
 *  - errors are application/problem+json; the d4-core text is kept in an
 *    extra "reason" member (d4-core: {"status":"error","reason":...});
 *  - the members d4hub reads must have the right JSON type (422), where
 *    d4-core answered 500; unknown members are ignored, as d4-core does
 *    (its clients and later versions add members; a duplicate member is
 *    still a 422, its meaning being ambiguous);
 *  - description is stored as the sensor's description (d4-core's API
 *    documented it but dropped it);
 *  - third_party is accepted (boolean) but not stored: d4hub has no
 *    third-party sensor notion yet;
 *  - registrations are rate-limited per user and per address ([api]
 *    register_per_minute) and refused while [api] max_pending_sensors
 *    sensors wait for approval: 429 with Retry-After (d4-core had no
 *    limit: one token created 755 pending sensors a second). */
#include "api_core.h"
#include "api_limits.h"
#include "d4_error.h"
#include "d4_log.h"
#include "d4_util.h"
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reg_problem(struct d4_api_resp *resp, int status, const char *slug, const char *title, const char *detail,
			const char *reason)
{
	char type[96];
	snprintf(type, sizeof(type), "https://d4hub.invalid/problems/%s", slug);
	yajl_gen g = d4_h_gen();
	if (!g) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	yajl_gen_map_open(g);
	d4_api_j_kv_str(g, "type", type);
	d4_api_j_kv_str(g, "title", title);
	d4_api_j_kv_u64(g, "status", (uint64_t)status);
	d4_api_j_kv_str(g, "detail", detail);
	d4_api_j_kv_str(g, "reason", reason);
	yajl_gen_map_close(g);
	const unsigned char *buf;
	size_t len;
	if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok ||
	    d4_api_body(resp, status, "application/problem+json", buf, len) != 0)
		d4_h_internal(resp, "cannot build the response");
	yajl_gen_free(g);
}

#define REG_MEMBERS_MAX 64 /* members of a registration body */

struct pending_count {
	unsigned n, cap;
};

static int count_pending(void *arg, const struct d4_sensor *sn)
{
	struct pending_count *pc = arg;
	if (sn->status == D4_SENSOR_PENDING)
		pc->n++;
	return pc->n >= pc->cap;
}

/* 0 when this registration may go on, else a 429 is set. */
static int reg_limits(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	struct d4_api_core *core = d4_api_core_of(ctx);
	if (!core)
		return 0;
	char ku[80], ka[80], ra[16];
	snprintf(ku, sizeof(ku), "user:%s", req->user);
	snprintf(ka, sizeof(ka), "addr:%s", req->peer);
	uint64_t now = d4_now_s();
	/* checked and counted in one step: exact whichever loop threads serve
	 * the user's and the address's registrations */
	unsigned wait = core->reg_rl ? d4_api_ratelimit_take2(core->reg_rl, ku, ka, now) : 0;
	if (wait) {
		if (core->limits)
			d4_api_limits_hit(core->limits, D4_LIM_REGISTER_RATE);
		d4_notice("api: registration by %s from %s: 429, too many registrations (retry in %u s)", req->user,
			  req->peer, wait);
		snprintf(ra, sizeof(ra), "%u", wait);
		d4_api_problem(resp, 429, "too-many-requests", "Too Many Requests",
			       "too many sensor registrations from this user or address; retry in %u s", wait);
		d4_api_header(resp, "Retry-After", ra);
		return -1;
	}
	if (core->max_pending) {
		struct pending_count pc = {0, core->max_pending};
		int rc = d4_store_sensor_foreach(ctx->store, count_pending, &pc);
		if (rc < 0) {
			d4_h_store_error(resp, rc, "sensors");
			return -1;
		}
		if (pc.n >= core->max_pending) {
			if (core->limits)
				d4_api_limits_hit(core->limits, D4_LIM_PENDING_SENSORS);
			d4_notice("api: registration by %s from %s: 429, %u sensors are pending approval", req->user,
				  req->peer, pc.n);
			d4_api_problem(resp, 429, "too-many-requests", "Too Many Requests",
				       "%u sensors wait for approval already; retry once an admin has handled them",
				       pc.n);
			d4_api_header(resp, "Retry-After", "60");
			return -1;
		}
	}
	return 0;
}

void d4_h_register_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	struct d4_sensor *sn = calloc(1, sizeof(*sn)), *old = malloc(sizeof(*sn));
	const char *uuid_s = NULL, *key = NULL, *mail = NULL, *desc = NULL;
	int third = 0, r;
	char hex[D4_UUID_HEX_LEN + 1];
	if (!sn || !old) {
		d4_h_internal(resp, "out of memory");
		goto out;
	}
	if (reg_limits(ctx, req, resp) != 0)
		goto out;
	if (d4_h_query_only(req, resp, NULL))
		goto out;
	/* Every member is allowed (unknown ones are ignored, as by d4-core);
	 * d4_h_body still checks the object, duplicates and NUL escapes. */
	const char *members[REG_MEMBERS_MAX + 1] = {0};
	if (req->json && YAJL_IS_OBJECT(req->json)) {
		if (req->json->u.object.len > REG_MEMBERS_MAX) {
			d4_h_unprocessable(resp, "a registration has at most %d members", REG_MEMBERS_MAX);
			goto out;
		}
		for (size_t i = 0; i < req->json->u.object.len; i++)
			members[i] = req->json->u.object.keys[i];
	}
	if (d4_h_body(req, resp, 1, members) < 0)
		goto out;
	/* Types and lengths first (our additions), then d4-core's checks in
	 * d4-core's order: uuid, already registered, key. */
	if (d4_h_json_str(req, resp, "mail", sizeof(sn->mail) - 1, 1, NULL, &mail) < 0 ||
	    d4_h_json_bool(req, resp, "third_party", &third) < 0)
		goto out;
	int desc_null = 0; /* null: no description */
	if (d4_h_json_str(req, resp, "description", D4_DESC_MAX - 1, 1, &desc_null, &desc) < 0)
		goto out;
	if (desc && !d4_h_printable(desc)) {
		d4_h_unprocessable(resp, "member 'description' must not contain control characters");
		goto out;
	}
	if (mail && !d4_h_printable(mail)) {
		d4_h_unprocessable(resp, "member 'mail' must not contain control characters");
		goto out;
	}
	if ((r = d4_h_json_str(req, resp, "hmac_key", D4_KEY_MAX, 1, NULL, &key)) < 0)
		goto out;
	if (r > 0 && !d4_h_printable(key)) {
		d4_h_unprocessable(resp, "member 'hmac_key' must not contain control characters");
		goto out;
	}
	yajl_val v = NULL;
	for (size_t i = 0; i < req->json->u.object.len; i++)
		if (!strcmp(req->json->u.object.keys[i], "uuid"))
			v = req->json->u.object.values[i];
	if (v && YAJL_IS_STRING(v) && strlen(v->u.string) <= 36)
		uuid_s = v->u.string;
	if (!uuid_s || d4_uuid_parse(uuid_s, sn->uuid) != D4_OK || !d4_uuid_is_v4(sn->uuid)) {
		reg_problem(resp, 400, "invalid-parameter", "Invalid Parameter",
			    "member 'uuid' must be a version 4 uuid (32 hex digits, dashes allowed)", "Invalid uuid");
		goto out;
	}
	d4_uuid_hex(sn->uuid, hex);
	int rc = d4_store_sensor_get(ctx->store, sn->uuid, old);
	if (rc == D4_OK) {
		reg_problem(resp, 409, "conflict", "Conflict", "this sensor uuid is already registered",
			    "Sensor already registred");
		goto out;
	}
	if (rc != D4_ENOTFOUND) {
		d4_h_store_error(resp, rc, "sensor");
		goto out;
	}
	if (!key || !*key) {
		reg_problem(resp, 400, "invalid-parameter", "Invalid Parameter", "member 'hmac_key' is required",
			    "Mandatory parameter(s) not provided");
		goto out;
	}
	sn->keylen = (uint16_t)strlen(key);
	memcpy(sn->key, key, sn->keylen);
	sn->status = D4_SENSOR_PENDING;
	sn->created = d4_now_s();
	if (mail)
		d4_strlcpy(sn->mail, mail, sizeof(sn->mail));
	if (desc)
		d4_strlcpy(sn->description, desc, sizeof(sn->description));
	/* The check above keeps d4-core's order of answers; the add itself is
	 * put-if-absent, so a registration racing with another one (or with
	 * d4hubctl) gets the same 409 instead of overwriting it. */
	rc = d4_store_sensor_add(ctx->store, sn);
	if (rc == D4_EEXIST) {
		reg_problem(resp, 409, "conflict", "Conflict", "this sensor uuid is already registered",
			    "Sensor already registred");
		goto out;
	}
	if (rc != D4_OK) {
		d4_h_store_error(resp, rc, "sensor");
		goto out;
	}
	yajl_gen g = d4_h_gen();
	if (g) {
		yajl_gen_map_open(g);
		d4_api_j_kv_str(g, "uuid", hex);
		yajl_gen_map_close(g);
	}
	d4_h_send(resp, 200, g, 0);
out:
	if (sn)
		d4_wipe(sn, sizeof(*sn));
	if (old)
		d4_wipe(old, sizeof(*old));
	free(sn);
	free(old);
}
