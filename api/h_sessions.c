/* d4hub API — listSessions: the store's sessions in id order (oldest
 * first), all of them or one sensor's, whether the sensor is registered,
 * was deleted, or belongs to a partner hub. It is what `d4hubctl sessions`
 * reads, locally and remotely. Pages resume after the last id through the
 * store's session table directly (d4_store_session_foreach_from), and every
 * session goes through the caller's TLP clearance (api/clearance.c). */
#include "d4_error.h"
#include "d4_hubconf.h"
#include "d4_policy.h"
#include "d4_reader.h"
#include "d4_store_fed.h"
#include "d4_util.h"
#include "handlers.h"

#include <stdlib.h>
#include <string.h>

#define LIMIT_MAX     1000
#define LIMIT_DEFAULT 100

static const char *const query_names[] = {"sensor", "limit", "cursor", NULL};

struct ls {
	struct d4_api_ctx *ctx;
	yajl_gen g;
	enum d4_tlp clearance;
	uint64_t limit, n, last;
	uint64_t withheld; /* left out up to the last item written */
	uint64_t pending;  /* left out since then */
	int more;	   /* a visible session follows the page */
	int err;	   /* a store error while reading a sensor */
	/* the sensor of the previous session without a TLP of its own: its
	 * default is that session's level (d4_api_session_tlp) */
	struct d4_sensor *sn;
	int sn_state; /* 0 none read, 1 read, 2 not registered */
};

/* The sensor record for si's fallback level, read once per sensor in a row. */
static const struct d4_sensor *sensor_of(struct ls *l, const struct d4_session_info *si)
{
	if (l->sn_state && memcmp(l->sn->uuid, si->uuid, 16) == 0)
		return l->sn_state == 1 ? l->sn : NULL;
	int rc = d4_store_sensor_get(l->ctx->store, si->uuid, l->sn);
	if (rc != D4_OK && rc != D4_ENOTFOUND) {
		l->err = rc;
		return NULL;
	}
	if (rc == D4_ENOTFOUND)
		memset(l->sn, 0, sizeof(*l->sn));
	memcpy(l->sn->uuid, si->uuid, 16);
	l->sn_state = rc == D4_OK ? 1 : 2;
	return l->sn_state == 1 ? l->sn : NULL;
}

static int ls_cb(void *arg, const struct d4_session_info *si)
{
	struct ls *l = arg;
	const struct d4_sensor *sn = si->tlp ? NULL : sensor_of(l, si);
	if (l->err)
		return 1;
	enum d4_tlp level = d4_api_session_tlp(l->ctx, si, sn);
	if (!d4_api_may_see(l->clearance, (uint8_t)level)) {
		l->pending++;
		return 0;
	}
	if (l->n == l->limit) {
		l->more = 1;
		return 1;
	}
	struct d4_store_fed_session fs;
	int fed = si->fed && d4_store_fed_session_get(l->ctx->store, si->session, &fs) == 0;
	d4_h_j_session_fed(l->g, si, (uint8_t)level, fed ? &fs : NULL);
	l->withheld += l->pending;
	l->pending = 0;
	l->last = si->session;
	l->n++;
	return 0;
}

void d4_h_list_sessions(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	struct ls l;
	uint8_t uuid[16], cur[8];
	uint64_t from = 0;
	memset(&l, 0, sizeof(l));
	if (d4_h_query_only(req, resp, query_names) ||
	    d4_h_query_uint(req, resp, "limit", 1, LIMIT_MAX, LIMIT_DEFAULT, &l.limit))
		return;
	const char *sensor = d4_api_query(req, "sensor");
	if (sensor && (strlen(sensor) > 36 || d4_uuid_parse(sensor, uuid) != D4_OK)) {
		d4_h_bad_param(resp, "query parameter 'sensor' must be a uuid (32 hex digits)");
		return;
	}
	int c = d4_h_query_cursor(req, resp, cur, 8);
	if (c < 0)
		return;
	if (c) {
		/* the last id of the previous page */
		uint64_t after = d4_get_u64be(cur);
		if (after == 0 || after == UINT64_MAX) {
			d4_h_bad_param(resp, "invalid cursor: pass the next_cursor of the previous page unchanged");
			return;
		}
		from = after + 1;
	}
	l.ctx = ctx;
	l.clearance = d4_api_clearance(ctx, req);
	if (!(l.sn = malloc(sizeof(*l.sn))) || !(l.g = d4_h_gen())) {
		free(l.sn);
		d4_h_internal(resp, "out of memory");
		return;
	}
	yajl_gen_map_open(l.g);
	d4_api_j_key(l.g, "items");
	yajl_gen_array_open(l.g);
	int rc = d4_store_session_foreach_from(ctx->store, sensor ? uuid : NULL, from, ls_cb, &l);
	d4_wipe(l.sn, sizeof(*l.sn)); /* a sensor record holds its key */
	free(l.sn);
	if (rc < 0 || l.err) {
		yajl_gen_free(l.g);
		d4_h_store_error(resp, rc < 0 ? rc : l.err, "session list");
		return;
	}
	yajl_gen_array_close(l.g);
	/* the last page counts every session left out after its last item */
	d4_api_j_kv_u64(l.g, "withheld", l.more ? l.withheld : l.withheld + l.pending);
	if (l.more) {
		char text[16];
		uint8_t key[8];
		d4_put_u64be(key, l.last);
		d4_h_cursor_encode(key, 8, text, sizeof(text));
		d4_api_j_kv_str(l.g, "next_cursor", text);
	} else {
		d4_h_j_null(l.g, "next_cursor");
	}
	yajl_gen_map_close(l.g);
	d4_api_clearance_header(resp, l.clearance);
	d4_h_send(resp, 200, l.g, 0);
}
