/* d4hub API — sensors: list, detail, sessions, create, update, delete and
 * the state changes (approve, block, unblock, kick, rotate key). The rules
 * are d4hubctl's: unblock only a blocked sensor, approve refuses a blocked
 * one, kick sets ban_until (the ingest sees the epoch bump and closes live
 * sessions). A sensor's HMAC key leaves the hub only from createSensor (when
 * generated here) and rotateSensorKey; every record that held one is wiped. */
#include "d4_error.h"
#include "d4_hubconf.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_reader.h"
#include "d4_store_fed.h"
#include "d4_util.h"
#include "handlers.h"
#include "json_writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define LIMIT_MAX     1000
#define LIMIT_DEFAULT 100
#define GEN_KEY_BYTES 32
#define BAN_MAX	      (365u * 86400u)

static const char *const list_query[] = {"status", "limit", "cursor", NULL};
static const char *const page_query[] = {"limit", "cursor", NULL};

/* The sensor named by path parameter 0; 404 when absent. 0 or -1. */
static int load(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp, uint8_t uuid[16],
		struct d4_sensor *sn)
{
	char hex[D4_UUID_HEX_LEN + 1], what[48];
	if (d4_h_path_uuid(req, resp, 0, 1, uuid) != 0)
		return -1;
	int rc = d4_store_sensor_get(ctx->store, uuid, sn);
	if (rc == D4_OK)
		return 0;
	d4_uuid_hex(uuid, hex);
	snprintf(what, sizeof(what), "sensor %s", hex);
	d4_h_store_error(resp, rc, what);
	return -1;
}

static void save_error(struct d4_api_resp *resp, int rc, const uint8_t uuid[16])
{
	char hex[D4_UUID_HEX_LEN + 1], what[48];
	d4_uuid_hex(uuid, hex);
	snprintf(what, sizeof(what), "sensor %s", hex);
	d4_h_store_error(resp, rc, what);
}

static void send_detail(struct d4_api_ctx *ctx, struct d4_api_resp *resp, int status, const struct d4_sensor *sn,
			const char *key)
{
	yajl_gen g = d4_h_gen();
	if (!g) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	int rc = d4_h_j_sensor_detail(g, ctx->store, sn, key ? "key" : NULL, key);
	if (rc < 0) {
		yajl_gen_free(g);
		save_error(resp, rc, sn->uuid);
		return;
	}
	d4_h_send(resp, status, g, key != NULL);
}

static void send_summary(struct d4_api_ctx *ctx, struct d4_api_resp *resp, const struct d4_sensor *sn)
{
	yajl_gen g = d4_h_gen();
	if (g)
		d4_h_j_sensor_summary(g, ctx->store, sn);
	d4_h_send(resp, 200, g, 0);
}

/* ---- listSensors ------------------------------------------------------------
 * The hottest read of the API (dashboards poll it): the page is written by
 * the direct JSON writer from summary-only records, the store seeks to the
 * cursor, and rendered pages are cached under the store's commit generation
 * (docs/performance.md). */

struct list_ctx {
	uint8_t after[16];
	int has_after;
	int status; /* -1 = any */
	uint64_t limit, n;
	uint8_t last[16];
	int more;
};

/* The silent list keeps the full records (it needs the threshold rule of
 * the store) and the yajl serialiser. */
struct silent_list {
	struct list_ctx lc;
	struct d4_store *st;
	yajl_gen g;
	uint64_t now;
};

struct page_ctx {
	struct list_ctx lc;
	struct d4_store *st;
	struct d4_jw w;
};

static int page_cb(void *arg, const struct d4_sensor_summary *sm)
{
	struct page_ctx *pc = arg;
	struct list_ctx *lc = &pc->lc;
	if (lc->status >= 0 && sm->status != lc->status)
		return 0;
	if (lc->n == lc->limit) {
		lc->more = 1;
		return 1;
	}
	if (lc->n)
		D4_JW_LIT(&pc->w, ",");
	struct d4_live_info li;
	d4_jw_sensor_summary(&pc->w, sm, d4_store_live_get(pc->st, sm->uuid, &li) ? &li : NULL);
	memcpy(lc->last, sm->uuid, 16);
	lc->n++;
	return 0;
}

/* Page cache. A page depends only on the query (status, limit, cursor) and
 * on the store's content, which is identified by d4_store_generation(): any
 * committed write transaction — an ingest batch (counters), an admin change
 * from the API or from d4hubctl in another process — gives a new generation,
 * so a page is served from the cache only while the store is in exactly the
 * state it was rendered from. The role is part of the key although the page
 * does not depend on it today, so that a role-dependent field can never leak
 * through the cache. A few entries, bounded size, one lock (the API runs on
 * one thread; the lock only keeps the cache correct if that changes). */
#define PAGE_CACHE_N	   8
#define PAGE_CACHE_MAX_LEN (1u << 20)

struct page_key {
	const struct d4_store *store;
	uint64_t gen;
	int status;
	uint64_t limit;
	int has_after;
	uint8_t after[16];
	int role;
};

struct page_entry {
	struct page_key key;
	char *body;
	size_t len;
};

static pthread_mutex_t page_lock = PTHREAD_MUTEX_INITIALIZER;
static struct page_entry page_cache[PAGE_CACHE_N];
static unsigned page_next;
static pthread_once_t page_once = PTHREAD_ONCE_INIT;
static int page_cache_off;

/* D4HUB_LIST_CACHE=off turns the cache off, so that the benchmark can
 * measure the rendering path itself (tests/bench/api/run.sh --no-cache). */
static void page_cache_init(void)
{
	const char *v = getenv("D4HUB_LIST_CACHE");
	page_cache_off = v && !strcmp(v, "off");
}

static int key_eq(const struct page_key *a, const struct page_key *b)
{
	return a->store == b->store && a->gen == b->gen && a->status == b->status && a->limit == b->limit &&
	       a->has_after == b->has_after && (!a->has_after || !memcmp(a->after, b->after, 16)) && a->role == b->role;
}

/* Sends the cached page for k: 1 if sent (or a 500 was set), 0 on a miss. */
static int page_cache_send(struct d4_api_resp *resp, const struct page_key *k)
{
	int hit = 0, rc = 0;
	pthread_mutex_lock(&page_lock);
	for (unsigned i = 0; i < PAGE_CACHE_N; i++) {
		struct page_entry *e = &page_cache[i];
		if (e->body && key_eq(&e->key, k)) {
			rc = d4_api_body(resp, 200, "application/json", e->body, e->len);
			hit = 1;
			break;
		}
	}
	pthread_mutex_unlock(&page_lock);
	if (hit && rc != 0)
		d4_h_internal(resp, "out of memory");
	return hit;
}

static void page_cache_put(const struct page_key *k, const char *body, size_t len)
{
	if (k->gen == 0 || len > PAGE_CACHE_MAX_LEN)
		return;
	char *copy = malloc(len ? len : 1);
	if (!copy)
		return; /* the cache is an optimisation only */
	memcpy(copy, body, len);
	pthread_mutex_lock(&page_lock);
	struct page_entry *e = NULL;
	for (unsigned i = 0; i < PAGE_CACHE_N && !e; i++)
		if (page_cache[i].body && key_eq(&page_cache[i].key, k))
			e = &page_cache[i];
	if (!e) {
		/* Entries of an older generation can never match again: reuse
		 * one of those first, else round robin. */
		for (unsigned i = 0; i < PAGE_CACHE_N && !e; i++)
			if (!page_cache[i].body || page_cache[i].key.store != k->store ||
			    page_cache[i].key.gen != k->gen)
				e = &page_cache[i];
		if (!e)
			e = &page_cache[page_next++ % PAGE_CACHE_N];
	}
	free(e->body);
	e->key = *k;
	e->body = copy;
	e->len = len;
	pthread_mutex_unlock(&page_lock);
}

/* The query of both sensor lists: status filter, limit, cursor. Returns 0,
 * or -1 with the problem already in resp. */
static int list_params(const struct d4_api_req *req, struct d4_api_resp *resp, struct list_ctx *lc)
{
	lc->status = -1;
	if (d4_h_query_only(req, resp, list_query) ||
	    d4_h_query_uint(req, resp, "limit", 1, LIMIT_MAX, LIMIT_DEFAULT, &lc->limit))
		return -1;
	const char *st = d4_api_query(req, "status");
	if (st) {
		if (!strcmp(st, "pending"))
			lc->status = D4_SENSOR_PENDING;
		else if (!strcmp(st, "approved"))
			lc->status = D4_SENSOR_APPROVED;
		else if (!strcmp(st, "blocked"))
			lc->status = D4_SENSOR_BLOCKED;
		else {
			d4_h_bad_param(resp, "query parameter 'status' must be pending, approved or blocked");
			return -1;
		}
	}
	int c = d4_h_query_cursor(req, resp, lc->after, 16);
	if (c < 0)
		return -1;
	lc->has_after = c;
	return 0;
}

void d4_h_list_sensors(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	struct page_ctx pc;
	struct list_ctx *lc = &pc.lc;
	struct page_key key;
	memset(&pc, 0, sizeof(pc));
	memset(&key, 0, sizeof(key));
	if (list_params(req, resp, lc))
		return;

	pc.st = ctx->store;
	key.store = ctx->store;
	key.status = lc->status;
	key.limit = lc->limit;
	key.has_after = lc->has_after;
	memcpy(key.after, lc->after, 16);
	key.role = (int)req->role;
	pthread_once(&page_once, page_cache_init);
	if (!page_cache_off) {
		key.gen = d4_store_generation(ctx->store);
		if (key.gen && page_cache_send(resp, &key))
			return;
	}

	d4_jw_init(&pc.w);
	D4_JW_LIT(&pc.w, "{\"items\":[");
	/* The page is labelled with the generation of the snapshot it is
	 * read from, not the one checked above (a commit may lie between). */
	int rc = d4_store_sensor_summary_foreach(ctx->store, lc->has_after ? lc->after : NULL, &key.gen, page_cb, &pc);
	if (rc < 0) {
		d4_jw_free(&pc.w);
		d4_h_store_error(resp, rc, "sensor list");
		return;
	}
	D4_JW_LIT(&pc.w, "],\"next_cursor\":");
	if (lc->more) {
		char cur[32];
		d4_h_cursor_encode(lc->last, 16, cur, sizeof(cur));
		d4_jw_text(&pc.w, cur);
	} else {
		D4_JW_LIT(&pc.w, "null");
	}
	D4_JW_LIT(&pc.w, "}");
	if (pc.w.oom) {
		d4_jw_free(&pc.w);
		d4_h_internal(resp, "out of memory");
		return;
	}
	if (d4_api_body(resp, 200, "application/json", pc.w.p, pc.w.len) != 0)
		d4_h_internal(resp, "out of memory");
	else if (!page_cache_off)
		page_cache_put(&key, pc.w.p, pc.w.len);
	d4_jw_free(&pc.w);
}

/* ---- listSilentSensors --------------------------------------------------------
 * Monitored sensors (silence_threshold > 0) silent for longer than their
 * threshold, in uuid order, paged like listSensors. A sensor never seen
 * counts from its creation (the store's rule), so a new sensor that never
 * connects is reported too. */

static int silent_cb(void *arg, const struct d4_sensor *sn)
{
	struct silent_list *sc = arg;
	struct list_ctx *lc = &sc->lc;
	if (lc->has_after && memcmp(sn->uuid, lc->after, 16) <= 0)
		return 0;
	if (lc->status >= 0 && sn->status != lc->status)
		return 0;
	if (lc->n == lc->limit) {
		lc->more = 1;
		return 1;
	}
	d4_h_j_silent_sensor(sc->g, sc->st, sn, sc->now);
	memcpy(lc->last, sn->uuid, 16);
	lc->n++;
	return 0;
}

void d4_h_list_silent_sensors(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	struct silent_list sc;
	struct list_ctx *lc = &sc.lc;
	memset(&sc, 0, sizeof(sc));
	if (list_params(req, resp, lc))
		return;
	if (!(sc.g = d4_h_gen())) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	sc.now = d4_now_s();
	sc.st = ctx->store;
	yajl_gen_map_open(sc.g);
	d4_api_j_key(sc.g, "items");
	yajl_gen_array_open(sc.g);
	int rc = d4_store_sensors_silent(ctx->store, sc.now, silent_cb, &sc);
	if (rc < 0) {
		yajl_gen_free(sc.g);
		d4_h_store_error(resp, rc, "silent sensor list");
		return;
	}
	yajl_gen_array_close(sc.g);
	if (lc->more) {
		char cur[32];
		d4_h_cursor_encode(lc->last, 16, cur, sizeof(cur));
		d4_api_j_kv_str(sc.g, "next_cursor", cur);
	} else {
		d4_h_j_null(sc.g, "next_cursor");
	}
	yajl_gen_map_close(sc.g);
	d4_h_send(resp, 200, sc.g, 0);
}

/* ---- getSensor ----------------------------------------------------------------- */

void d4_h_get_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	struct d4_sensor *sn = malloc(sizeof(*sn));
	uint8_t uuid[16];
	if (!sn) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	if (d4_h_query_only(req, resp, NULL) == 0 && load(ctx, req, resp, uuid, sn) == 0)
		send_detail(ctx, resp, 200, sn, NULL);
	d4_wipe(sn, sizeof(*sn));
	free(sn);
}

/* ---- listSensorSessions ------------------------------------------------------
 * Newest first, but the store walks sessions oldest first: keep the newest
 * limit+1 sessions below the cursor in a ring (bounded memory), then emit
 * them backwards. */

struct sess_ctx {
	struct d4_session_info *ring;
	uint64_t *wh_after;  /* per ring slot: withheld sessions newer than it (and older than the next) */
	uint64_t cap, count; /* count: visible sessions seen below the cursor */
	uint64_t before;     /* only ids < before (0 = no cursor) */
	uint64_t wh_lead;    /* withheld sessions older than every visible one */
	enum d4_tlp clearance, untagged;
	int any; /* the sensor has a session at all */
};

static int sess_cb(void *arg, const struct d4_session_info *si)
{
	struct sess_ctx *sc = arg;
	sc->any = 1;
	if (sc->before && si->session >= sc->before)
		return 1; /* ids ascend: nothing further qualifies */
	if (!d4_api_may_see(sc->clearance, si->tlp ? si->tlp : (uint8_t)sc->untagged)) {
		/* left out; counted against the page it falls in */
		if (sc->count)
			sc->wh_after[(sc->count - 1) % sc->cap]++;
		else
			sc->wh_lead++;
		return 0;
	}
	sc->ring[sc->count % sc->cap] = *si;
	sc->wh_after[sc->count % sc->cap] = 0;
	sc->count++;
	return 0;
}

void d4_h_list_sensor_sessions(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	struct d4_sensor *sn = malloc(sizeof(*sn));
	struct sess_ctx sc;
	uint64_t limit;
	uint8_t uuid[16], cur[8];
	memset(&sc, 0, sizeof(sc));
	if (!sn) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	if (d4_h_query_only(req, resp, page_query) ||
	    d4_h_query_uint(req, resp, "limit", 1, LIMIT_MAX, LIMIT_DEFAULT, &limit))
		goto out;
	int c = d4_h_query_cursor(req, resp, cur, 8);
	if (c < 0)
		goto out;
	if (c) {
		sc.before = d4_get_u64be(cur);
		if (sc.before == 0) {
			d4_h_bad_param(resp, "invalid cursor: pass the next_cursor of the previous page unchanged");
			goto out;
		}
	}
	/* a sensor of another hub whose frames were received from partners
	 * is not registered here: its sessions are listed (404 if none) */
	if (d4_h_path_uuid(req, resp, 0, 1, uuid) != 0)
		goto out;
	int have_sn = d4_store_sensor_get(ctx->store, uuid, sn);
	if (have_sn != D4_OK && have_sn != D4_ENOTFOUND) {
		save_error(resp, have_sn, uuid);
		goto out;
	}
	if (have_sn == D4_ENOTFOUND) {
		memset(sn, 0, sizeof(*sn));
		memcpy(sn->uuid, uuid, 16);
	}
	sc.cap = limit + 1;
	sc.clearance = d4_api_clearance(ctx, req);
	sc.untagged = d4_api_untagged_tlp(ctx, sn);
	if (!(sc.ring = calloc(sc.cap, sizeof(*sc.ring))) || !(sc.wh_after = calloc(sc.cap, sizeof(*sc.wh_after)))) {
		d4_h_internal(resp, "out of memory");
		goto out;
	}
	int rc = d4_store_session_foreach(ctx->store, uuid, sess_cb, &sc);
	if (rc < 0) {
		d4_h_store_error(resp, rc, "session list");
		goto out;
	}
	if (have_sn == D4_ENOTFOUND && sc.count == 0 && sc.wh_lead == 0 && !sc.any) {
		save_error(resp, D4_ENOTFOUND, uuid);
		goto out;
	}
	yajl_gen g = d4_h_gen();
	if (!g) {
		d4_h_internal(resp, "out of memory");
		goto out;
	}
	uint64_t n = sc.count < limit ? sc.count : limit, last = 0;
	uint8_t fallback = ctx->conf ? ctx->conf->default_tlp : D4_TLP_AMBER_STRICT;
	if (sn->default_tlp != D4_TLP_NONE && sn->default_tlp != D4_TLP_UNCLEAR)
		fallback = sn->default_tlp;
	/* withheld: sessions between the cursor and this page's last item (all
	 * of the rest on the last page) */
	uint64_t withheld = sc.count > limit ? 0 : sc.wh_lead;
	yajl_gen_map_open(g);
	d4_api_j_key(g, "items");
	yajl_gen_array_open(g);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t slot = (sc.count - 1 - i) % sc.cap;
		const struct d4_session_info *si = &sc.ring[slot];
		struct d4_store_fed_session fs;
		int fed = si->fed && d4_store_fed_session_get(ctx->store, si->session, &fs) == 0;
		d4_h_j_session_fed(g, si, fallback, fed ? &fs : NULL);
		withheld += sc.wh_after[slot];
		last = si->session;
	}
	yajl_gen_array_close(g);
	d4_api_j_kv_u64(g, "withheld", withheld);
	d4_api_clearance_header(resp, sc.clearance);
	if (sc.count > limit) {
		char text[16];
		uint8_t key[8];
		d4_put_u64be(key, last);
		d4_h_cursor_encode(key, 8, text, sizeof(text));
		d4_api_j_kv_str(g, "next_cursor", text);
	} else {
		d4_h_j_null(g, "next_cursor");
	}
	yajl_gen_map_close(g);
	d4_h_send(resp, 200, g, 0);
out:
	free(sc.ring);
	free(sc.wh_after);
	d4_wipe(sn, sizeof(*sn));
	free(sn);
}

/* ---- createSensor ------------------------------------------------------------ */

static const char *const create_fields[] = {"uuid", "key", "description", "mail", "approve", NULL};

/* Validates description and mail members into sn; 0 or -1. */
static int text_fields(const struct d4_api_req *req, struct d4_api_resp *resp, struct d4_sensor *sn)
{
	const char *s;
	int r = d4_h_json_str(req, resp, "description", D4_DESC_MAX - 1, 1, NULL, &s);
	if (r < 0)
		return -1;
	if (r > 0) {
		if (!d4_h_printable(s)) {
			d4_h_unprocessable(resp, "member 'description' must not contain control characters");
			return -1;
		}
		d4_strlcpy(sn->description, s, sizeof(sn->description));
	}
	r = d4_h_json_str(req, resp, "mail", sizeof(sn->mail) - 1, 1, NULL, &s);
	if (r < 0)
		return -1;
	if (r > 0) {
		if (!d4_h_printable(s) || strchr(s, ' ')) {
			d4_h_unprocessable(resp, "member 'mail' must not contain spaces or control characters");
			return -1;
		}
		d4_strlcpy(sn->mail, s, sizeof(sn->mail));
	}
	return 0;
}

/* Keys are text lines in the sensors' key files: no control characters. */
static int key_check(struct d4_api_resp *resp, const char *key)
{
	if (d4_h_printable(key))
		return 0;
	d4_h_unprocessable(resp, "member 'key' must not contain control characters");
	return -1;
}

/* D4 keys are text (the reference tools read them from text files), so a
 * generated key is 64 hex digits of 32 random bytes, as d4hubctl makes. */
static int gen_key(struct d4_sensor *sn)
{
	uint8_t raw[GEN_KEY_BYTES];
	char hex[2 * GEN_KEY_BYTES + 1];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return D4_EIO;
	d4_hex_encode(raw, sizeof(raw), hex);
	memcpy(sn->key, hex, 2 * GEN_KEY_BYTES);
	sn->keylen = 2 * GEN_KEY_BYTES;
	d4_wipe(raw, sizeof(raw));
	d4_wipe(hex, sizeof(hex));
	return 0;
}

void d4_h_create_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	struct d4_sensor *sn = calloc(1, sizeof(*sn));
	const char *uuid_s, *key;
	char keytext[D4_KEY_MAX + 1], hex[D4_UUID_HEX_LEN + 1];
	int approve = 0, generated = 0, r;
	if (!sn) {
		d4_h_internal(resp, "out of memory");
		goto out;
	}
	if (d4_h_query_only(req, resp, NULL) || d4_h_body(req, resp, 1, create_fields) < 0)
		goto out;
	if ((r = d4_h_json_str(req, resp, "uuid", 36, 0, NULL, &uuid_s)) <= 0) {
		if (r == 0)
			d4_h_missing(resp, "uuid");
		goto out;
	}
	if (d4_uuid_parse(uuid_s, sn->uuid) != D4_OK) {
		d4_h_unprocessable(resp, "member 'uuid' must be 32 hex digits (dashes allowed)");
		goto out;
	}
	if (!d4_uuid_is_v4(sn->uuid)) {
		d4_h_unprocessable(resp, "member 'uuid' is not a version 4 uuid: D4 sensors must use v4 uuids");
		goto out;
	}
	if ((r = d4_h_json_str(req, resp, "key", D4_KEY_MAX, 0, NULL, &key)) < 0 || (r > 0 && key_check(resp, key)))
		goto out;
	if (text_fields(req, resp, sn) || d4_h_json_bool(req, resp, "approve", &approve) < 0)
		goto out;
	d4_uuid_hex(sn->uuid, hex);
	if (r > 0) {
		sn->keylen = (uint16_t)strlen(key);
		memcpy(sn->key, key, sn->keylen);
	} else if (gen_key(sn) != 0) {
		d4_h_internal(resp, "cannot generate a key: random source failed");
		goto out;
	} else {
		generated = 1;
	}
	sn->status = approve ? D4_SENSOR_APPROVED : D4_SENSOR_PENDING;
	sn->created = d4_now_s();
	/* Put-if-absent in one transaction: a sensor created meanwhile by
	 * another request or d4hubctl is never overwritten. */
	int rc = d4_store_sensor_add(ctx->store, sn);
	if (rc == D4_EEXIST) {
		d4_h_conflict(resp, "sensor %s already exists (rotate its key or update it instead)", hex);
		goto out;
	}
	if (rc != D4_OK) {
		save_error(resp, rc, sn->uuid);
		goto out;
	}
	char loc[64];
	snprintf(loc, sizeof(loc), "/api/v1/sensors/%s", hex);
	d4_api_header(resp, "location", loc);
	if (generated) {
		memcpy(keytext, sn->key, sn->keylen);
		keytext[sn->keylen] = '\0';
	}
	send_detail(ctx, resp, 201, sn, generated ? keytext : NULL);
out:
	d4_wipe(keytext, sizeof(keytext));
	if (sn)
		d4_wipe(sn, sizeof(*sn));
	free(sn);
}

/* ---- updateSensor ------------------------------------------------------------- */

static const char *const update_fields[] = {"description", "mail",	  "default_tlp",       "default_org",
					    "max_payload", "max_backlog", "silence_threshold", NULL};

void d4_h_update_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	struct d4_sensor *sn = malloc(sizeof(*sn));
	uint8_t uuid[16], org[16];
	const char *tlp_s = NULL, *org_s = NULL;
	int tlp_null = 0, org_null = 0, has_tlp, has_org, has_mp, has_mb, has_st;
	int64_t mp = 0, mb = 0, silence = 0;
	enum d4_tlp tlp = D4_TLP_NONE;
	if (!sn) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	/* Everything is validated before the record is read, so a bad request
	 * never depends on the sensor's existence. */
	if (d4_h_query_only(req, resp, NULL) || d4_h_path_uuid(req, resp, 0, 1, uuid) ||
	    d4_h_body(req, resp, 1, update_fields) < 0)
		goto out;
	if (req->json->u.object.len == 0) {
		d4_h_unprocessable(resp, "nothing to update: give at least one member");
		goto out;
	}
	if ((has_tlp = d4_h_json_str(req, resp, "default_tlp", 32, 0, &tlp_null, &tlp_s)) < 0)
		goto out;
	if (has_tlp && !tlp_null) {
		tlp = d4_policy_tlp_parse(tlp_s);
		/* tlp:unclear is kept as stated: it resolves to the hub's default. */
		if (tlp == D4_TLP_NONE) {
			d4_h_unprocessable(resp, "member 'default_tlp' must be tlp:red, tlp:amber+strict, tlp:amber, "
						 "tlp:green, tlp:ex:chr, tlp:clear, tlp:unclear or null");
			goto out;
		}
	}
	if ((has_org = d4_h_json_str(req, resp, "default_org", 36, 0, &org_null, &org_s)) < 0)
		goto out;
	if (has_org && !org_null && d4_uuid_parse(org_s, org) != D4_OK) {
		d4_h_unprocessable(resp, "member 'default_org' must be a uuid (32 hex digits) or null");
		goto out;
	}
	if ((has_mp = d4_h_json_int(req, resp, "max_payload", 0, UINT32_MAX, &mp)) < 0 ||
	    (has_mb = d4_h_json_int(req, resp, "max_backlog", 0, INT64_MAX, &mb)) < 0 ||
	    (has_st = d4_h_json_int(req, resp, "silence_threshold", 0, UINT32_MAX, &silence)) < 0)
		goto out;
	/* text_fields() writes straight into the record: validate on a scratch
	 * copy first, then reload and apply. */
	memset(sn, 0, sizeof(*sn));
	if (text_fields(req, resp, sn))
		goto out;
	char desc[D4_DESC_MAX], mail[sizeof(sn->mail)];
	memcpy(desc, sn->description, sizeof(desc));
	memcpy(mail, sn->mail, sizeof(mail));
	if (load(ctx, req, resp, uuid, sn) != 0)
		goto out;
	const char *dummy;
	if (d4_h_json_str(req, resp, "description", D4_DESC_MAX - 1, 1, NULL, &dummy) > 0)
		memcpy(sn->description, desc, sizeof(desc));
	if (d4_h_json_str(req, resp, "mail", sizeof(mail) - 1, 1, NULL, &dummy) > 0)
		memcpy(sn->mail, mail, sizeof(mail));
	if (has_tlp)
		sn->default_tlp = (uint8_t)tlp;
	if (has_org) {
		sn->has_default_org = !org_null;
		if (org_null)
			memset(sn->default_org, 0, 16);
		else
			memcpy(sn->default_org, org, 16);
	}
	if (has_mp)
		sn->max_payload = (uint32_t)mp;
	if (has_mb)
		sn->max_backlog = (uint64_t)mb;
	if (has_st)
		sn->silence_threshold = (uint32_t)silence;
	int rc = d4_store_sensor_put(ctx->store, sn);
	if (rc != D4_OK)
		save_error(resp, rc, uuid);
	else
		send_detail(ctx, resp, 200, sn, NULL);
out:
	d4_wipe(sn, sizeof(*sn));
	free(sn);
}

/* ---- deleteSensor ---------------------------------------------------------------- */

void d4_h_delete_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	uint8_t uuid[16];
	if (d4_h_query_only(req, resp, NULL) || d4_h_path_uuid(req, resp, 0, 1, uuid))
		return;
	int rc = d4_store_sensor_del(ctx->store, uuid);
	if (rc != D4_OK)
		save_error(resp, rc, uuid);
	else
		d4_api_no_content(resp);
}

/* ---- approve / block / unblock / kick ------------------------------------------------ */

enum verb { V_APPROVE, V_BLOCK, V_UNBLOCK, V_KICK };

static const char *const kick_fields[] = {"ban_seconds", NULL};

static void state_change(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp, enum verb v)
{
	struct d4_sensor *sn = malloc(sizeof(*sn));
	uint8_t uuid[16];
	char hex[D4_UUID_HEX_LEN + 1];
	int64_t ban = ctx->conf ? ctx->conf->kick_ban : 30;
	if (!sn) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	if (d4_h_query_only(req, resp, NULL) || d4_h_path_uuid(req, resp, 0, 1, uuid))
		goto out;
	/* Only kick takes a body; the routes of the others take none. */
	if (v == V_KICK &&
	    (d4_h_body(req, resp, 0, kick_fields) < 0 || d4_h_json_int(req, resp, "ban_seconds", 0, BAN_MAX, &ban) < 0))
		goto out;
	/* The hub closes a session while ban_until lies ahead: a kick without
	 * a ban still needs one second to take effect. */
	if (ban == 0)
		ban = 1;
	if (load(ctx, req, resp, uuid, sn) != 0)
		goto out;
	d4_uuid_hex(uuid, hex);
	switch (v) {
	case V_APPROVE:
		if (sn->status == D4_SENSOR_BLOCKED) {
			d4_h_conflict(resp, "sensor %s is blocked: unblock it instead", hex);
			goto out;
		}
		sn->status = D4_SENSOR_APPROVED;
		break;
	case V_BLOCK: sn->status = D4_SENSOR_BLOCKED; break;
	case V_UNBLOCK:
		/* Unblock must never become a way to approve a pending sensor. */
		if (sn->status != D4_SENSOR_BLOCKED) {
			d4_h_conflict(resp, "sensor %s is not blocked (status %s)", hex,
				      d4_store_status_name((enum d4_sensor_status)sn->status));
			goto out;
		}
		sn->status = D4_SENSOR_APPROVED;
		break;
	case V_KICK:
		/* The ban makes the hub close live sessions (epoch bump) and
		 * refuse reconnects until it expires. */
		sn->ban_until = d4_now_s() + (uint64_t)ban;
		break;
	}
	int rc = d4_store_sensor_put(ctx->store, sn);
	if (rc != D4_OK)
		save_error(resp, rc, uuid);
	else
		send_summary(ctx, resp, sn);
out:
	d4_wipe(sn, sizeof(*sn));
	free(sn);
}

void d4_h_approve_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	state_change(ctx, req, resp, V_APPROVE);
}
void d4_h_block_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	state_change(ctx, req, resp, V_BLOCK);
}
void d4_h_unblock_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	state_change(ctx, req, resp, V_UNBLOCK);
}
void d4_h_kick_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	state_change(ctx, req, resp, V_KICK);
}

/* ---- refuseSensor --------------------------------------------------------------------------
 * d4-core's "delete pending sensor": a registration an admin does not want.
 * Only a pending sensor can be refused, so that a stale page (the sensor was
 * approved meanwhile, in another tab or with d4hubctl) never deletes a
 * sensor in use. The registration is deleted (the sensor may register
 * again), or with {"block": true} kept as blocked, so that it can neither
 * register again nor connect. */

static const char *const refuse_fields[] = {"block", NULL};

void d4_h_refuse_sensor(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	struct d4_sensor *sn = malloc(sizeof(*sn));
	uint8_t uuid[16];
	char hex[D4_UUID_HEX_LEN + 1];
	int block = 0, rc;
	if (!sn) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	if (d4_h_query_only(req, resp, NULL) || d4_h_path_uuid(req, resp, 0, 1, uuid) ||
	    d4_h_body(req, resp, 0, refuse_fields) < 0 || d4_h_json_bool(req, resp, "block", &block) < 0)
		goto out;
	if (load(ctx, req, resp, uuid, sn) != 0)
		goto out;
	d4_uuid_hex(uuid, hex);
	if (sn->status != D4_SENSOR_PENDING) {
		d4_h_conflict(
		    resp,
		    "sensor %s is not pending (status %s): only a registration waiting for approval can be refused",
		    hex, d4_store_status_name((enum d4_sensor_status)sn->status));
		goto out;
	}
	if (block) {
		sn->status = D4_SENSOR_BLOCKED;
		rc = d4_store_sensor_put(ctx->store, sn);
	} else {
		rc = d4_store_sensor_del(ctx->store, uuid);
	}
	if (rc != D4_OK) {
		save_error(resp, rc, uuid);
		goto out;
	}
	d4_notice("api: %s refused the registration of sensor %s%s", req->user[0] ? req->user : "?", hex,
		  block ? " and blocked it" : "");
	d4_api_no_content(resp);
out:
	d4_wipe(sn, sizeof(*sn));
	free(sn);
}

/* ---- rotateSensorKey -------------------------------------------------------------------- */

static const char *const rotate_fields[] = {"key", NULL};

void d4_h_rotate_sensor_key(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	struct d4_sensor *sn = malloc(sizeof(*sn));
	uint8_t uuid[16];
	const char *key = NULL;
	char keytext[D4_KEY_MAX + 1];
	int r;
	if (!sn) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	memset(keytext, 0, sizeof(keytext));
	if (d4_h_query_only(req, resp, NULL) || d4_h_path_uuid(req, resp, 0, 1, uuid) ||
	    d4_h_body(req, resp, 0, rotate_fields) < 0 ||
	    (r = d4_h_json_str(req, resp, "key", D4_KEY_MAX, 0, NULL, &key)) < 0 || (r > 0 && key_check(resp, key)))
		goto out;
	if (load(ctx, req, resp, uuid, sn) != 0)
		goto out;
	d4_wipe(sn->key, sizeof(sn->key));
	if (r > 0) {
		sn->keylen = (uint16_t)strlen(key);
		memcpy(sn->key, key, sn->keylen);
	} else if (gen_key(sn) != 0) {
		d4_h_internal(resp, "cannot generate a key: random source failed");
		goto out;
	}
	int rc = d4_store_sensor_put(ctx->store, sn);
	if (rc != D4_OK) {
		save_error(resp, rc, uuid);
		goto out;
	}
	memcpy(keytext, sn->key, sn->keylen);
	keytext[sn->keylen] = '\0';
	yajl_gen g = d4_h_gen();
	if (g) {
		yajl_gen_map_open(g);
		d4_h_j_uuid(g, "uuid", uuid);
		d4_api_j_kv_str(g, "key", keytext);
		yajl_gen_map_close(g);
	}
	d4_h_send(resp, 200, g, 1);
out:
	d4_wipe(keytext, sizeof(keytext));
	d4_wipe(sn, sizeof(*sn));
	free(sn);
}
