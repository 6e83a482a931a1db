/* d4hub API — statistics: all-time totals and daily counters per sensor
 * and type. */
#include "d4_error.h"
#include "d4_util.h"
#include "handlers.h"

#include <string.h>

#define DAYS_MAX     366
#define DAYS_DEFAULT 7

void d4_h_get_stats_totals(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	struct d4_totals t;
	if (d4_h_query_only(req, resp, NULL))
		return;
	int rc = d4_store_totals(ctx->store, &t);
	if (rc < 0) {
		d4_h_store_error(resp, rc, "totals");
		return;
	}
	yajl_gen g = d4_h_gen();
	if (g) {
		yajl_gen_map_open(g);
		d4_api_j_kv_u64(g, "frames", t.frames);
		d4_api_j_kv_u64(g, "bytes", t.bytes);
		d4_api_j_kv_u64(g, "sessions", t.sessions);
		d4_h_j_rejections(g, "rejections", t.rejects);
		yajl_gen_map_close(g);
	}
	d4_h_send(resp, 200, g, 0);
}

static int daily_cb(void *ctx, const struct d4_daily_stat *st)
{
	yajl_gen g = ctx;
	static const uint8_t nobody[16];
	/* Stores written before uuid-less rejections stopped getting daily
	 * rows keep such rows under an all-zero uuid: no sensor has it (not a
	 * v4 uuid), so it is not listed as one. Those rejections are in the
	 * totals. */
	if (memcmp(st->uuid, nobody, 16) == 0)
		return 0;
	char day[16];
	d4_h_day_text(st->day, day);
	yajl_gen_map_open(g);
	d4_api_j_kv_str(g, "day", day);
	d4_h_j_uuid(g, "sensor", st->uuid);
	d4_api_j_kv_u64(g, "type", st->type);
	d4_api_j_kv_u64(g, "packets", st->packets);
	d4_api_j_kv_u64(g, "bytes", st->bytes);
	d4_api_j_kv_u64(g, "rejects", st->rejects);
	yajl_gen_map_close(g);
	return 0;
}

static const char *const daily_query[] = {"days", "sensor", NULL};

void d4_h_get_stats_daily(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	uint64_t days;
	uint8_t uuid[16];
	const char *sensor;
	if (d4_h_query_only(req, resp, daily_query) ||
	    d4_h_query_uint(req, resp, "days", 1, DAYS_MAX, DAYS_DEFAULT, &days))
		return;
	if ((sensor = d4_api_query(req, "sensor")) != NULL &&
	    (strlen(sensor) > 36 || d4_uuid_parse(sensor, uuid) != D4_OK || !d4_uuid_is_v4(uuid))) {
		d4_h_bad_param(resp, "query parameter 'sensor' must be a version 4 uuid (32 hex digits)");
		return;
	}
	uint32_t today = (uint32_t)(d4_now_s() / 86400);
	yajl_gen g = d4_h_gen();
	if (!g) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	yajl_gen_map_open(g);
	d4_api_j_key(g, "items");
	yajl_gen_array_open(g);
	int rc =
	    d4_store_daily_foreach(ctx->store, today - (uint32_t)(days - 1), today, sensor ? uuid : NULL, daily_cb, g);
	if (rc < 0) {
		yajl_gen_free(g);
		d4_h_store_error(resp, rc, "daily statistics");
		return;
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	d4_h_send(resp, 200, g, 0);
}
