/* d4hub API — system operations: getHealth, getOpenapi, getMetrics, getMe. */
#include "api_core.h"
#include "api_limits.h"
#include "api_web.h"
#include "handlers.h"
#include "d4_analyze.h"
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_log.h"
#include "d4_store.h"
#include "d4_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef D4HUB_VERSION
#define D4HUB_VERSION "0.0.0"
#endif

/* The spec is a few hundred KB at most; the cap keeps a wrong path (a
 * device, a huge file) from being served. */
#define SPEC_MAX (16u << 20)

void d4_api_h_health(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	(void)req;
	struct d4_store_status st;
	memset(&st, 0, sizeof(st));
	d4_store_status_get(ctx->store, &st);
	uint64_t now = d4_now_s(), started = ctx->core ? ctx->core->metrics.started_s : now;
	yajl_gen g = d4_api_json_begin(resp, 200);
	if (!g)
		return;
	yajl_gen_map_open(g);
	d4_api_j_kv_str(g, "status", st.paused ? "degraded" : "ok");
	d4_api_j_kv_str(g, "version", D4HUB_VERSION);
	d4_api_j_kv_u64(g, "uptime_s", now > started ? now - started : 0);
	d4_api_j_key(g, "store");
	yajl_gen_map_open(g);
	d4_api_j_kv_bool(g, "paused", st.paused);
	d4_api_j_kv_str(g, "pause_reason", st.paused && st.pause_reason[0] ? st.pause_reason : NULL);
	d4_api_j_kv_u64(g, "map_size", st.map_size);
	d4_api_j_kv_u64(g, "map_used", st.map_used);
	struct d4_store_health h;
	if (d4_store_health_get(ctx->store, &h) == D4_OK) {
		d4_api_j_kv_u64(g, "corrupt_records", h.corrupt_records);
		if (h.totals_rebuilt_at)
			d4_api_j_kv_u64(g, "totals_rebuilt_at", h.totals_rebuilt_at);
	}
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
}

void d4_api_h_openapi(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	(void)req;
	const char *path = ctx->core ? ctx->core->spec_path : NULL;
	if (!path || !path[0]) {
		/* no api.spec: the copy built into the hub */
		d4_api_body(resp, 200, "application/yaml", d4_api_spec_yaml, d4_api_spec_yaml_len);
		return;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > SPEC_MAX) {
		d4_warn("api: cannot serve the API description %s: %s", path,
			fd < 0 ? strerror(errno) : "not a regular file of a sane size");
		if (fd >= 0)
			close(fd);
		d4_api_problem(resp, 404, "not-found", "Not Found", "the API description is not available");
		return;
	}
	size_t len = (size_t)sb.st_size, got = 0;
	char *buf = malloc(len ? len : 1);
	if (!buf) {
		close(fd);
		d4_api_problem(resp, 500, "internal", "Internal Server Error", "out of memory");
		return;
	}
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	d4_api_body(resp, 200, "application/yaml", buf, got);
	free(buf);
}

/* ---- Prometheus text format -------------------------------------------- */
struct mbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void mprintf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mprintf(struct mbuf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->p && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = (b->cap ? b->cap * 2 : 8192) + (size_t)n;
		char *np = realloc(b->p, ncap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

static int count_status(void *c, const struct d4_sensor *sn)
{
	uint64_t *by = c;
	if (sn->status <= D4_SENSOR_BLOCKED)
		by[sn->status]++;
	return 0;
}

/* The ingest watch: connections that proved no sensor key, and the
 * per-address limits (the store's in-memory table, bounded). */
static void metrics_watch(struct d4_api_ctx *ctx, struct mbuf *b)
{
	struct d4_watch_entry *e = malloc(D4_WATCH_MAX * sizeof(*e));
	struct d4_watch_totals t;
	size_t n = 0;
	if (!e || d4_store_watch_get(ctx->store, e, D4_WATCH_MAX, &n, &t) != 0) {
		free(e);
		return;
	}
	const struct {
		const char *name, *type, *help;
		uint64_t v;
	} gm[] = {
	    {"d4hub_ingest_connections", "gauge", "Ingest connections open.", t.ingest.connections},
	    {"d4hub_ingest_unverified_connections", "gauge",
	     "Ingest connections open that have not sent an HMAC-verified packet yet.", t.ingest.unverified},
	    {"d4hub_ingest_paused_connections", "gauge",
	     "Ingest connections waiting for store room (writer paused or queue full) or throttled.", t.ingest.paused},
	    {"d4hub_ingest_addresses_at_limit", "gauge", "Source addresses at ingest.max_unverified_per_address now.",
	     t.ingest.addresses_at_limit},
	    {"d4hub_ingest_max_unverified_per_address", "gauge", "ingest.max_unverified_per_address.",
	     t.ingest.max_unverified_per_address},
	    {"d4hub_ingest_max_connections", "gauge", "ingest.max_connections.", t.ingest.max_connections},
	    {"d4hub_ingest_handshake_timeout_seconds", "gauge", "ingest.handshake_timeout.",
	     t.ingest.handshake_timeout},
	    {"d4hub_ingest_unverified_evicted_total", "counter",
	     "Entries dropped from the bounded unverified-connection table.", t.evicted},
	};
	for (size_t i = 0; i < sizeof(gm) / sizeof(gm[0]); i++)
		mprintf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", gm[i].name, gm[i].help, gm[i].name,
			gm[i].type, gm[i].name, gm[i].v);
	mprintf(b, "# HELP d4hub_ingest_unverified_total Events of connections without a verified packet, by "
		   "reason (never charged to the sensor they name).\n"
		   "# TYPE d4hub_ingest_unverified_total counter\n");
	for (unsigned r = 0; r < D4_WATCH_COUNT; r++)
		mprintf(b, "d4hub_ingest_unverified_total{reason=\"%s\"} %" PRIu64 "\n", d4_store_watch_reason_name(r),
			t.count[r]);
	mprintf(b, "# HELP d4hub_ingest_unverified_by_source_total The same per source address and claimed "
		   "uuid (\"\" before a complete header), since the hub started.\n"
		   "# TYPE d4hub_ingest_unverified_by_source_total counter\n");
	for (size_t i = 0; i < n; i++) {
		char ip[64], hex[D4_UUID_HEX_LEN + 1] = "";
		d4_h_addr_text(e[i].addr, ip, sizeof(ip));
		if (e[i].has_uuid)
			d4_uuid_hex(e[i].uuid, hex);
		for (unsigned r = 0; r < D4_WATCH_COUNT; r++)
			if (e[i].count[r])
				mprintf(b,
					"d4hub_ingest_unverified_by_source_total{address=\"%s\",claimed_uuid=\"%s\","
					"reason=\"%s\"} %" PRIu64 "\n",
					ip, hex, d4_store_watch_reason_name(r), e[i].count[r]);
	}
	free(e);
}

void d4_api_h_metrics(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	(void)req;
	struct d4_totals t;
	struct d4_store_status st;
	uint64_t by_status[3] = {0, 0, 0};
	memset(&t, 0, sizeof(t));
	memset(&st, 0, sizeof(st));
	int rc = d4_store_totals(ctx->store, &t);
	if (rc == D4_OK)
		rc = d4_store_sensor_foreach(ctx->store, count_status, by_status);
	if (rc != D4_OK) {
		d4_warn("api: metrics: %s", d4_strerror(rc));
		d4_api_problem(resp, 500, "internal", "Internal Server Error", "the store could not be read");
		return;
	}
	d4_store_status_get(ctx->store, &st);

	struct mbuf b = {NULL, 0, 0, 0};
	mprintf(&b,
		"# HELP d4hub_frames_total Frames committed to the store.\n# TYPE d4hub_frames_total counter\n"
		"d4hub_frames_total %" PRIu64 "\n",
		t.frames);
	mprintf(&b,
		"# HELP d4hub_bytes_total Payload bytes committed.\n# TYPE d4hub_bytes_total counter\n"
		"d4hub_bytes_total %" PRIu64 "\n",
		t.bytes);
	mprintf(&b, "# HELP d4hub_rejections_total Rejected connections or packets by reason.\n"
		    "# TYPE d4hub_rejections_total counter\n");
	for (int r = 0; r < D4_REJ_COUNT; r++)
		mprintf(&b, "d4hub_rejections_total{reason=\"%s\"} %" PRIu64 "\n",
			d4_store_reject_name((enum d4_reject)r), t.rejects[r]);
	mprintf(&b,
		"# HELP d4hub_sessions_total Sensor sessions opened.\n# TYPE d4hub_sessions_total counter\n"
		"d4hub_sessions_total %" PRIu64 "\n",
		t.sessions);
	mprintf(&b,
		"# HELP d4hub_store_map_bytes LMDB map size (the storage quota).\n# TYPE d4hub_store_map_bytes gauge\n"
		"d4hub_store_map_bytes %" PRIu64 "\n",
		st.map_size);
	mprintf(&b,
		"# HELP d4hub_store_used_bytes Bytes of the map in use.\n# TYPE d4hub_store_used_bytes gauge\n"
		"d4hub_store_used_bytes %" PRIu64 "\n",
		st.map_used);
	mprintf(&b,
		"# HELP d4hub_store_paused 1 while the writer is paused.\n# TYPE d4hub_store_paused gauge\n"
		"d4hub_store_paused %d\n",
		st.paused ? 1 : 0);
	struct d4_store_health h;
	if (d4_store_health_get(ctx->store, &h) == D4_OK)
		mprintf(&b,
			"# HELP d4hub_store_corrupt_records_total Records found corrupt by the writer (isolated, "
			"logged with their key).\n# TYPE d4hub_store_corrupt_records_total counter\n"
			"d4hub_store_corrupt_records_total %" PRIu64 "\n",
			h.corrupt_records);
	mprintf(&b, "# HELP d4hub_sensors Registered sensors by status.\n# TYPE d4hub_sensors gauge\n");
	for (int s = 0; s < 3; s++)
		mprintf(&b, "d4hub_sensors{status=\"%s\"} %" PRIu64 "\n",
			d4_store_status_name((enum d4_sensor_status)s), by_status[s]);
	metrics_watch(ctx, &b);
	struct d4_analyze_pdns_stats ps;
	if (d4_analyze_pdns_stats_global(&ps) == D4_OK) {
		/* the pDNS ingest worker (per-sensor totals: the store's pDNS counters) */
		const struct {
			const char *name, *type, *help;
			uint64_t v;
		} pm[] = {
		    {"d4hub_pdns_frames_read_total", "counter", "Frames read by the pDNS ingest past its cursor.",
		     ps.frames},
		    {"d4hub_pdns_observations_total", "counter", "pDNS observations committed.", ps.observations},
		    {"d4hub_pdns_bad_lines_total", "counter", "CSV/COF lines skipped.", ps.bad_lines},
		    {"d4hub_pdns_bad_packets_total", "counter", "pcap records not decodable.", ps.bad_packets},
		    {"d4hub_pdns_frames_lost_total", "counter",
		     "Frames deleted by retention before the pDNS ingest read them.", ps.frames_lost},
		    {"d4hub_pdns_lag_frames", "gauge", "Committed frames not yet read by the pDNS ingest.", ps.lag},
		    {"d4hub_pdns_cursor", "gauge", "Last frame sequence number accounted for by the pDNS ingest.",
		     ps.cursor},
		    {"d4hub_pdns_commits_total", "counter", "pDNS store transactions committed.", ps.commits},
		    {"d4hub_pdns_streams_resumed_total", "counter",
		     "pcap streams rebuilt at a clean point of the cursor after a restart (not from their start).",
		     ps.resumed},
		    {"d4hub_pdns_txn_ms_max", "gauge",
		     "Longest pDNS store transaction in ms (the frame writer waits that long; [pdns] txn_ms).",
		     ps.txn_ms_max},
		    {"d4hub_pdns_batch", "gauge", "Observations per pDNS store transaction now (adapted to txn_ms).",
		     ps.batch},
		};
		for (size_t i = 0; i < sizeof(pm) / sizeof(pm[0]); i++)
			mprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", pm[i].name, pm[i].help, pm[i].name,
				pm[i].type, pm[i].name, pm[i].v);
	}
	struct d4_analyze_bs_stats bs;
	if (d4_analyze_bs_stats_global(&bs) == D4_OK) {
		/* the backscatter consumer (per-sensor totals: the store's backscatter counters) */
		const struct {
			const char *name, *type, *help;
			uint64_t v;
		} bm[] = {
		    {"d4hub_backscatter_frames_read_total", "counter",
		     "Type-1 frames read by the backscatter consumer past its cursor.", bs.frames},
		    {"d4hub_backscatter_packets_total", "counter", "pcap records read by the backscatter consumer.",
		     bs.packets},
		    {"d4hub_backscatter_bad_packets_total", "counter",
		     "Records not decodable, stamped in the future, or pcap streams refused.", bs.bad_packets},
		    {"d4hub_backscatter_future_packets_total", "counter",
		     "Records refused for a timestamp a day or more past their frame's receive time.", bs.future},
		    {"d4hub_backscatter_packets_backscatter_total", "counter", "Packets counted in an attack vector.",
		     bs.backscatter},
		    {"d4hub_backscatter_dropped_total", "counter",
		     "Backscatter not counted: the table of open vectors was full.", bs.dropped},
		    {"d4hub_backscatter_vectors_open", "gauge", "Attack vectors open now.", bs.vectors_open},
		    {"d4hub_backscatter_vectors_reported_total", "counter", "Attack vectors closed and reported.",
		     bs.vectors_reported},
		    {"d4hub_backscatter_vector_updates_total", "counter", "Ongoing vector updates written.",
		     bs.vectors_ongoing},
		    {"d4hub_backscatter_vectors_unreported_total", "counter",
		     "Vectors closed below a threshold since the consumer started.", bs.vectors_unreported},
		    {"d4hub_backscatter_frames_lost_total", "counter",
		     "Frames deleted by retention before the backscatter consumer read them.", bs.frames_lost},
		    {"d4hub_backscatter_lag_frames", "gauge",
		     "Committed frames not yet read by the backscatter consumer.", bs.lag},
		    {"d4hub_backscatter_cursor", "gauge",
		     "Last frame sequence number accounted for by the backscatter consumer.", bs.cursor},
		    {"d4hub_backscatter_clock_seconds", "gauge",
		     "The backscatter consumer's clock: the latest packet timestamp read (seconds).",
		     bs.clock_us / 1000000u},
		    {"d4hub_backscatter_commits_total", "counter", "Backscatter store transactions committed.",
		     bs.commits},
		    {"d4hub_backscatter_txn_ms_max", "gauge", "Longest backscatter store transaction in ms.",
		     bs.txn_ms_max},
		};
		for (size_t i = 0; i < sizeof(bm) / sizeof(bm[0]); i++)
			mprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", bm[i].name, bm[i].help, bm[i].name,
				bm[i].type, bm[i].name, bm[i].v);
		mprintf(&b, "# HELP d4hub_backscatter_packets_by_kind_total Backscatter packets by kind.\n"
			    "# TYPE d4hub_backscatter_packets_by_kind_total counter\n");
		for (int k = 1; k < D4_BS_KIND_COUNT; k++)
			mprintf(&b, "d4hub_backscatter_packets_by_kind_total{kind=\"%s\"} %" PRIu64 "\n",
				d4_bs_kind_name(k), bs.by_kind[k]);
		mprintf(&b, "# HELP d4hub_backscatter_not_counted_total Packets that are not backscatter, by reason.\n"
			    "# TYPE d4hub_backscatter_not_counted_total counter\n");
		for (int r = 1; r < D4_BS_R_COUNT; r++)
			mprintf(&b, "d4hub_backscatter_not_counted_total{reason=\"%s\"} %" PRIu64 "\n",
				d4_bs_reason_name(r), bs.by_reason[r]);
		mprintf(&b, "# HELP d4hub_backscatter_streams_refused_total pcap streams refused, by reason.\n"
			    "# TYPE d4hub_backscatter_streams_refused_total counter\n");
		for (int f = 1; f < D4_PCAP_F_COUNT; f++)
			mprintf(&b, "d4hub_backscatter_streams_refused_total{reason=\"%s\"} %" PRIu64 "\n",
				d4_pcap_fail_name(f), bs.streams_refused[f]);
	}
	struct d4_analyze_pssl_stats pss;
	if (d4_analyze_pssl_stats_global(&pss) == D4_OK) {
		/* the passive-SSL consumer (per-sensor totals: the store's pssl counters) */
		const struct {
			const char *name, *type, *help;
			uint64_t v;
		} sm[] = {
		    {"d4hub_pssl_frames_read_total", "counter",
		     "Type-1 and ja3-jl frames read by the passive-SSL consumer past its cursor.", pss.frames},
		    {"d4hub_pssl_handshakes_total", "counter", "TLS handshakes committed.", pss.handshakes},
		    {"d4hub_pssl_certs_total", "counter", "Certificates in the committed handshakes.", pss.certs},
		    {"d4hub_pssl_certs_new_total", "counter", "Certificates first seen (parsed).", pss.certs_new},
		    {"d4hub_pssl_bad_certs_total", "counter", "New certificates that did not parse (stored unparsed).",
		     pss.bad_certs},
		    {"d4hub_pssl_bad_lines_total", "counter", "ja3-jl lines refused.", pss.bad_lines},
		    {"d4hub_pssl_bad_packets_total", "counter", "pcap records not decodable, pcap streams refused.",
		     pss.bad_packets},
		    {"d4hub_pssl_frames_lost_total", "counter",
		     "Frames deleted by retention before the passive-SSL consumer read them.", pss.frames_lost},
		    {"d4hub_pssl_evictions_total", "counter", "Session states dropped for the session or byte caps.",
		     pss.evictions},
		    {"d4hub_pssl_lag_frames", "gauge", "Committed frames not yet read by the passive-SSL consumer.",
		     pss.lag},
		    {"d4hub_pssl_commits_total", "counter", "Passive-SSL store transactions committed.", pss.commits},
		    {"d4hub_pssl_streams_resumed_total", "counter",
		     "pcap streams rebuilt at a clean point of the cursor after a restart (not from their start).",
		     pss.resumed},
		    {"d4hub_pssl_txn_ms_max", "gauge", "Longest passive-SSL store transaction in ms.", pss.txn_ms_max},
		};
		for (size_t i = 0; i < sizeof(sm) / sizeof(sm[0]); i++)
			mprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", sm[i].name, sm[i].help, sm[i].name,
				sm[i].type, sm[i].name, sm[i].v);
	}
	struct d4_analyze_weak_stats wks;
	if (d4_analyze_weak_stats_global(&wks) == D4_OK) {
		/* the weak-key job (docs/passivessl.md "Weak keys") */
		const struct {
			const char *name, *type, *help;
			uint64_t v;
		} wm[] = {
		    {"d4hub_pssl_weak_running", "gauge", "1 while the weak-key job runs (0: starting, full or failed).",
		     wks.state == D4_ANALYZE_WEAK_RUNNING},
		    {"d4hub_pssl_weak_full", "gauge",
		     "1 when the weak-key set reached pssl.weak_max_keys (job stopped).",
		     wks.state == D4_ANALYZE_WEAK_FULL},
		    {"d4hub_pssl_weak_position", "gauge", "Highest public-key id the weak-key job processed.",
		     wks.position},
		    {"d4hub_pssl_weak_set_moduli", "gauge", "RSA moduli in the weak-key job's set.", wks.set_size},
		    {"d4hub_pssl_weak_keys_total", "counter", "Public keys processed by the weak-key job.", wks.keys},
		    {"d4hub_pssl_weak_findings_total", "counter", "Weak-key findings written.", wks.findings},
		    {"d4hub_pssl_weak_batches_total", "counter", "Weak-key batches committed.", wks.batches},
		    {"d4hub_pssl_weak_errors_total", "counter", "Weak-key batches that failed (retried).", wks.errors},
		    {"d4hub_pssl_weak_refused_full_total", "counter",
		     "Weak-key batches refused for pssl.weak_max_keys.", wks.refused_full},
		    {"d4hub_pssl_weak_batch_ms_max", "gauge", "Longest weak-key batch in ms.", wks.batch_ms_max},
		};
		for (size_t i = 0; i < sizeof(wm) / sizeof(wm[0]); i++)
			mprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", wm[i].name, wm[i].help, wm[i].name,
				wm[i].type, wm[i].name, wm[i].v);
	}
	if (ctx->core) {
		const struct d4_api_metrics *m = &ctx->core->metrics;
		mprintf(&b, "# HELP d4hub_api_requests_total API requests by response status.\n"
			    "# TYPE d4hub_api_requests_total counter\n");
		/* this request is counted once answered; show at least the
		 * series so that a first scrape is not empty */
		int any = 0;
		/* the loop threads add with atomics: each value is read whole */
		for (int c = 100; c < 600; c++) {
			uint64_t n = __atomic_load_n(&m->by_status[c], __ATOMIC_RELAXED);
			if (n) {
				mprintf(&b, "d4hub_api_requests_total{code=\"%d\"} %" PRIu64 "\n", c, n);
				any = 1;
			}
		}
		if (!any)
			mprintf(&b, "d4hub_api_requests_total{code=\"200\"} 0\n");
		mprintf(&b, "# HELP d4hub_api_request_duration_seconds Time to handle an API request.\n"
			    "# TYPE d4hub_api_request_duration_seconds histogram\n");
		uint64_t cum = 0;
		for (int i = 0; i < D4_API_LAT_BUCKETS; i++) {
			cum += __atomic_load_n(&m->lat_bucket[i], __ATOMIC_RELAXED);
			mprintf(&b, "d4hub_api_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
				d4_api_lat_bounds[i], cum);
		}
		cum += __atomic_load_n(&m->lat_bucket[D4_API_LAT_BUCKETS], __ATOMIC_RELAXED);
		mprintf(&b, "d4hub_api_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
		double lat_sum;
		__atomic_load(&m->lat_sum, &lat_sum, __ATOMIC_RELAXED);
		mprintf(&b, "d4hub_api_request_duration_seconds_sum %.6f\n", lat_sum);
		mprintf(&b, "d4hub_api_request_duration_seconds_count %" PRIu64 "\n",
			__atomic_load_n(&m->lat_count, __ATOMIC_RELAXED));
		if (ctx->core->loop_requests) {
			/* how the connections spread over the event-loop threads */
			mprintf(&b, "# HELP d4hub_api_loop_requests_total API requests received by each event-loop "
				    "thread ([api] threads).\n# TYPE d4hub_api_loop_requests_total counter\n");
			for (unsigned i = 0; i < ctx->core->nloops; i++)
				mprintf(&b, "d4hub_api_loop_requests_total{loop=\"%u\"} %" PRIu64 "\n", i,
					__atomic_load_n(&ctx->core->loop_requests[i], __ATOMIC_RELAXED));
		}
	}
	if (ctx->core && ctx->core->fed_counts) {
		/* the federation listener (docs/federation.md): every connection,
		 * accepted or refused in the TLS handshake, by reason */
		mprintf(&b, "# HELP d4hub_federation_connections_total Connections to the federation port by outcome: "
			    "accepted, or the reason of the refusal in the TLS handshake.\n"
			    "# TYPE d4hub_federation_connections_total counter\n");
		for (int i = 0; i < D4_FED_PEER_COUNT; i++)
			mprintf(&b, "d4hub_federation_connections_total{result=\"%s\"} %" PRIu64 "\n",
				d4_fed_peer_reason_name((enum d4_fed_peer_reason)i),
				__atomic_load_n(&ctx->core->fed_counts[i], __ATOMIC_RELAXED));
	}
	{
		/* partners: decisions, received, refused, lag (api/h_fedstatus.c) */
		char *fed = d4_h_fed_metrics(ctx);
		if (fed)
			mprintf(&b, "%s", fed);
		else
			b.oom = 1;
		free(fed);
	}
	{
		/* the upstream relay (api/h_upstream.c) */
		char *up = d4_h_upstream_metrics(ctx);
		if (up)
			mprintf(&b, "%s", up);
		else
			b.oom = 1;
		free(up);
	}
	if (ctx->core && ctx->core->limits) {
		const struct d4_api_limits *l = ctx->core->limits;
		mprintf(&b, "# HELP d4hub_api_limit_hits_total Requests and connections refused by an API limit "
			    "(docs/api.md \"Limits\").\n"
			    "# TYPE d4hub_api_limit_hits_total counter\n");
		for (int i = 0; i < D4_LIM_COUNT; i++)
			mprintf(&b, "d4hub_api_limit_hits_total{limit=\"%s\"} %" PRIu64 "\n",
				d4_api_limit_name((enum d4_api_limit)i), d4_api_limits_hits(l, (enum d4_api_limit)i));
		struct d4_api_limits_stats ls;
		d4_api_limits_stats(l, &ls);
		mprintf(
		    &b,
		    "# HELP d4hub_api_connections Open API connections.\n# TYPE d4hub_api_connections gauge\n"
		    "d4hub_api_connections %" PRIu64 "\n"
		    "# HELP d4hub_api_inflight_body_bytes Request body bytes held before their handler runs (HTTP/2).\n"
		    "# TYPE d4hub_api_inflight_body_bytes gauge\nd4hub_api_inflight_body_bytes %" PRIu64 "\n"
		    "# HELP d4hub_api_streamed_answers Streamed answers (exports, queue follows, pDNS lookups) in "
		    "progress.\n"
		    "# TYPE d4hub_api_streamed_answers gauge\nd4hub_api_streamed_answers %" PRIu64 "\n",
		    ls.conns, ls.inflight, ls.exports);
	}
	if (b.oom) {
		free(b.p);
		d4_api_problem(resp, 500, "internal", "Internal Server Error", "out of memory");
		return;
	}
	d4_api_body(resp, 200, "text/plain; version=0.0.4", b.p, b.len);
	free(b.p);
}

void d4_api_h_me(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	(void)ctx;
	yajl_gen g = d4_api_json_begin(resp, 200);
	if (!g)
		return;
	yajl_gen_map_open(g);
	d4_api_j_kv_str(g, "user", req->user);
	d4_api_j_kv_str(g, "role", d4_api_role_name(req->role));
	yajl_gen_map_close(g);
}
