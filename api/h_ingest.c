/* d4hub API — the ingest watch (getIngestUnverified): what connections that
 * proved no sensor key did, per source address and claimed uuid, with the
 * per-address limits in force. The table is the store's in-memory ingest
 * watch (d4_store_watch_*): none of these events is ever charged to the
 * sensor whose uuid they name. */
#include "d4_error.h"
#include "d4_util.h"
#include "handlers.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static void j_reasons(yajl_gen g, const char *k, const uint64_t *count)
{
	d4_api_j_key(g, k);
	yajl_gen_map_open(g);
	for (unsigned r = 0; r < D4_WATCH_COUNT; r++)
		if (count[r])
			d4_api_j_kv_u64(g, d4_store_watch_reason_name(r), count[r]);
	yajl_gen_map_close(g);
}

static const char *const unverified_query[] = {"limit", "address", "uuid", NULL};

/* "192.0.2.7" or "2001:db8::7" as the watch keys it (IPv4 v4-mapped). */
static int parse_addr(const char *s, uint8_t out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out + 12) == 1) {
		out[10] = out[11] = 0xff;
		return 0;
	}
	return inet_pton(AF_INET6, s, out) == 1 ? 0 : -1;
}

void d4_h_get_ingest_unverified(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	uint64_t limit = 0;
	uint8_t faddr[16], fuuid[16];
	if (d4_h_query_only(req, resp, unverified_query) ||
	    d4_h_query_uint(req, resp, "limit", 1, D4_WATCH_MAX, 200, &limit))
		return;
	/* who claimed this uuid / what came from this address */
	const char *qa = d4_api_query(req, "address"), *qu = d4_api_query(req, "uuid");
	if (qa && (strlen(qa) > 45 || parse_addr(qa, faddr) != 0)) {
		d4_h_bad_param(resp, "query parameter 'address' must be an IPv4 or IPv6 address");
		return;
	}
	if (qu && (strlen(qu) > 36 || d4_uuid_parse(qu, fuuid) != D4_OK)) {
		d4_h_bad_param(resp, "query parameter 'uuid' must be a uuid (32 hex digits)");
		return;
	}
	struct d4_watch_entry *e = malloc(D4_WATCH_MAX * sizeof(*e));
	struct d4_watch_totals t;
	size_t all = 0, n = 0;
	if (!e || d4_store_watch_get(ctx->store, e, D4_WATCH_MAX, &all, &t) != 0) {
		free(e);
		d4_h_internal(resp, "out of memory");
		return;
	}
	for (size_t i = 0; i < all && n < limit; i++) {
		if (qa && memcmp(e[i].addr, faddr, 16) != 0)
			continue;
		if (qu && (!e[i].has_uuid || memcmp(e[i].uuid, fuuid, 16) != 0))
			continue;
		e[n++] = e[i];
	}
	yajl_gen g = d4_h_gen();
	if (g) {
		char ip[64];
		yajl_gen_map_open(g);
		d4_api_j_key(g, "ingest");
		yajl_gen_map_open(g);
		d4_api_j_kv_bool(g, "running", t.ingest.running);
		d4_api_j_kv_u64(g, "connections", t.ingest.connections);
		d4_api_j_kv_u64(g, "unverified", t.ingest.unverified);
		d4_api_j_kv_u64(g, "paused", t.ingest.paused);
		d4_api_j_kv_u64(g, "addresses_at_limit", t.ingest.addresses_at_limit);
		d4_api_j_kv_u64(g, "max_connections", t.ingest.max_connections);
		d4_api_j_kv_u64(g, "max_unverified_per_address", t.ingest.max_unverified_per_address);
		d4_api_j_kv_u64(g, "handshake_timeout", t.ingest.handshake_timeout);
		d4_api_j_kv_u64(g, "header_timeout", t.ingest.header_timeout);
		yajl_gen_map_close(g);
		j_reasons(g, "totals", t.count);
		d4_api_j_kv_u64(g, "evicted", t.evicted);
		d4_api_j_key(g, "entries");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < n; i++) {
			yajl_gen_map_open(g);
			d4_api_j_kv_str(g, "address", d4_h_addr_text(e[i].addr, ip, sizeof(ip)));
			if (e[i].has_uuid)
				d4_h_j_uuid(g, "claimed_uuid", e[i].uuid);
			else
				d4_h_j_null(g, "claimed_uuid");
			d4_api_j_kv_u64(g, "total", e[i].total);
			j_reasons(g, "reasons", e[i].count);
			d4_api_j_kv_time(g, "first_at", e[i].first_at);
			d4_api_j_kv_time(g, "last_at", e[i].last_at);
			d4_api_j_kv_str(g, "last_reason", d4_store_watch_reason_name(e[i].last_reason));
			d4_h_j_kv_text(g, "last_detail", e[i].last_detail);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
	}
	free(e);
	d4_h_send(resp, 200, g, 0);
}
