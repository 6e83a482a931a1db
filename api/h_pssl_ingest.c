/* d4hub API — the passive-SSL consumer (docs/passivessl.md "In the hub"):
 * GET /api/v1/pssl/info (user: the store's figures and what the consumer
 * read, skipped and why) and GET /api/v1/pssl/counters (admin: the
 * per-sensor counters), as /pdns/info and /api/v1/backscatter/counters.
 * Figures only: no row, so no TLP filtering is involved. */
#include "api_core.h"
#include "d4_analyze.h"
#include "d4_error.h"
#include "d4_log.h"
#include "d4_store_pssl.h"
#include "handlers.h"
#include "json_writer.h"

#include <string.h>

static void ingest_json(yajl_gen g)
{
	struct d4_analyze_pssl_stats ps;
	int running = d4_analyze_pssl_stats_global(&ps) == D4_OK;
	d4_api_j_key(g, "ingest");
	yajl_gen_map_open(g);
	d4_api_j_kv_bool(g, "running", running);
	if (running) {
		d4_api_j_kv_u64(g, "frames_read", ps.frames);
		d4_api_j_kv_u64(g, "frames_replayed", ps.replayed);
		d4_api_j_kv_u64(g, "streams_resumed", ps.resumed);
		d4_api_j_kv_u64(g, "handshakes", ps.handshakes);
		d4_api_j_kv_u64(g, "handshakes_pcap", ps.from_pcap);
		d4_api_j_kv_u64(g, "handshakes_lines", ps.from_lines);
		d4_api_j_kv_u64(g, "go_lines", ps.go_lines);
		d4_api_j_kv_u64(g, "certs", ps.certs);
		d4_api_j_kv_u64(g, "certs_new", ps.certs_new);
		d4_api_j_kv_u64(g, "bad_certs", ps.bad_certs);
		d4_api_j_kv_u64(g, "certs_refused", ps.certs_refused);
		d4_api_j_kv_u64(g, "certs_missing", ps.certs_missing);
		d4_api_j_kv_u64(g, "bad_lines", ps.bad_lines);
		d4_api_j_kv_u64(g, "bad_packets", ps.bad_packets);
		d4_api_j_kv_u64(g, "streams_refused", ps.streams_refused);
		d4_api_j_kv_u64(g, "tls_flows", ps.tls_flows);
		d4_api_j_kv_u64(g, "tls_not_tls", ps.tls_not_tls);
		d4_api_j_kv_u64(g, "tls_gaps", ps.tls_gaps);
		d4_api_j_kv_u64(g, "tls_limits", ps.tls_limits);
		d4_api_j_kv_u64(g, "tls_evicted", ps.tls_evicted);
		d4_api_j_kv_u64(g, "tls_errors", ps.tls_errors);
		d4_api_j_kv_u64(g, "frames_lost", ps.frames_lost);
		d4_api_j_kv_u64(g, "evictions", ps.evictions);
		d4_api_j_kv_u64(g, "commits", ps.commits);
		d4_api_j_kv_u64(g, "txn_ms_max", ps.txn_ms_max);
		d4_api_j_kv_u64(g, "expired", ps.expired);
		d4_api_j_kv_u64(g, "cursor", ps.cursor);
		d4_api_j_kv_u64(g, "lag_frames", ps.lag);
		d4_api_j_kv_u64(g, "sessions", ps.sessions);
		d4_api_j_kv_u64(g, "buffered", ps.buffered);
	}
	yajl_gen_map_close(g);
}

void d4_h_pssl_info(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	if (d4_h_query_only(req, resp, NULL))
		return;
	struct d4_store_pssl_info in;
	int rc = d4_store_pssl_info(ctx->store, &in);
	if (rc < 0) {
		d4_h_store_error(resp, rc, "passive SSL store");
		return;
	}
	yajl_gen g = d4_h_gen();
	if (!g) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	yajl_gen_map_open(g);
	d4_api_j_key(g, "store");
	yajl_gen_map_open(g);
	d4_api_j_kv_u64(g, "certs", in.certs);
	d4_api_j_kv_u64(g, "tuples", in.tuples);
	d4_api_j_kv_u64(g, "keys", in.keys);
	d4_api_j_kv_u64(g, "rsa_keys", in.rsa_keys);
	d4_api_j_kv_u64(g, "fingerprints", in.fingerprints);
	d4_api_j_kv_u64(g, "findings", in.findings);
	d4_api_j_kv_u64(g, "bytes", in.bytes);
	yajl_gen_map_close(g);
	ingest_json(g);
	yajl_gen_map_close(g);
	d4_h_send(resp, 200, g, 0);
}

static int counters_cb(void *arg, const struct d4_store_pssl_counters *c)
{
	yajl_gen g = arg;
	yajl_gen_map_open(g);
	d4_h_j_uuid(g, "sensor", c->sensor);
	d4_api_j_kv_u64(g, "frames", c->frames);
	d4_api_j_kv_u64(g, "handshakes", c->handshakes);
	d4_api_j_kv_u64(g, "certs", c->certs);
	d4_api_j_kv_u64(g, "certs_new", c->certs_new);
	d4_api_j_kv_u64(g, "bad_lines", c->bad_lines);
	d4_api_j_kv_u64(g, "bad_packets", c->bad_packets);
	d4_api_j_kv_u64(g, "bad_certs", c->bad_certs);
	yajl_gen_map_close(g);
	return 0;
}

void d4_h_pssl_counters(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	if (d4_h_query_only(req, resp, NULL))
		return;
	yajl_gen g = d4_h_gen();
	if (!g) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	yajl_gen_map_open(g);
	ingest_json(g);
	d4_api_j_key(g, "sensors");
	yajl_gen_array_open(g);
	int rc = d4_store_pssl_counters_foreach(ctx->store, counters_cb, g);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	if (rc < 0) {
		yajl_gen_free(g);
		d4_h_store_error(resp, rc, "passive SSL counters");
		return;
	}
	d4_h_send(resp, 200, g, 0);
}
