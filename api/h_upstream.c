/* d4hub API — the upstream relay as operators see it (docs/upstream.md):
 * GET /api/v1/upstream (admin) and the d4hub_upstream_* series of /metrics.
 * Everything comes from the relay's threads (d4_upstream_status): the
 * acknowledged counters and positions are kept in its position files,
 * the decisions and connection counters since the start. */
#include "api_core.h"
#include "d4_federation.h"
#include "d4_upstream.h"
#include "handlers.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

void d4_h_get_upstream(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	(void)req;
	struct d4_upstream *u = ctx->upstream;
	yajl_gen g = d4_h_gen();
	if (!g) {
		d4_h_send(resp, 500, NULL, 0);
		return;
	}
	yajl_gen_map_open(g);
	d4_api_j_kv_bool(g, "enabled", u != NULL);
	if (u)
		d4_h_j_kv_text(g, "destination", d4_upstream_dest(u));
	else
		d4_h_j_null(g, "destination");
	d4_api_j_key(g, "streams");
	yajl_gen_array_open(g);
	for (unsigned i = 0; i < d4_upstream_count(u); i++) {
		struct d4_upstream_status st;
		if (d4_upstream_status(u, i, &st) != 0)
			continue;
		yajl_gen_map_open(g);
		d4_h_j_kv_text(g, "stream", st.name);
		d4_api_j_kv_u64(g, "type", st.type);
		if (st.ext[0])
			d4_h_j_kv_text(g, "ext_type", st.ext);
		else
			d4_h_j_null(g, "ext_type");
		d4_api_j_kv_bool(g, "connected", st.connected);
		d4_api_j_kv_bool(g, "acknowledged_delivery", st.acked);
		d4_api_j_kv_u64(g, "frames", st.frames);
		d4_api_j_kv_u64(g, "bytes", st.bytes);
		d4_api_j_kv_u64(g, "sent_frames", st.sent_frames);
		d4_api_j_kv_u64(g, "sent_bytes", st.sent_bytes);
		d4_api_j_kv_u64(g, "lag_records", st.lag_records);
		d4_api_j_kv_u64(g, "lag_seconds", st.lag_seconds);
		d4_api_j_key(g, "position");
		yajl_gen_map_open(g);
		d4_api_j_kv_u64(g, "seq", st.pos_seq);
		d4_api_j_kv_u64(g, "skip", st.pos_skip);
		yajl_gen_map_close(g);
		d4_api_j_kv_u64(g, "connects", st.connects);
		d4_api_j_kv_u64(g, "failures", st.failures);
		d4_api_j_kv_u64(g, "stream_reconnects", st.reconnects_stream);
		d4_api_j_kv_time(g, "last_ack", st.last_ack);
		if (st.last_error[0])
			d4_h_j_kv_text(g, "last_error", st.last_error);
		else
			d4_h_j_null(g, "last_error");
		d4_api_j_key(g, "decisions");
		yajl_gen_map_open(g);
		for (unsigned r = 0; r < D4_FED_R_COUNT; r++)
			if (st.decisions[r])
				d4_api_j_kv_u64(g, d4_fed_reason_name((enum d4_fed_reason)r), st.decisions[r]);
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	d4_h_send(resp, 200, g, 0);
}

/* Stream names are "TYPE" or "254:EXT", EXT printable ASCII without space;
 * a quote or backslash is escaped for the label. */
static void label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
}

char *d4_h_upstream_metrics(struct d4_api_ctx *ctx)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	struct d4_upstream *u = ctx->upstream;
	unsigned n = d4_upstream_count(u);
	struct d4_upstream_status *st = calloc(n ? n : 1, sizeof(*st));
	if (!st) {
		fclose(f);
		free(text);
		return NULL;
	}
	for (unsigned i = 0; i < n; i++)
		if (d4_upstream_status(u, i, &st[i]) != 0)
			st[i].name[0] = '\0';
	static const struct {
		const char *name, *type, *help;
	} series[] = {
	    {"d4hub_upstream_connected", "gauge", "1 while the stream's connection to the upstream D4 server is up."},
	    {"d4hub_upstream_frames_total", "counter", "Frames the upstream server acknowledged, per stream."},
	    {"d4hub_upstream_bytes_total", "counter", "Payload bytes the upstream server acknowledged, per stream."},
	    {"d4hub_upstream_sent_bytes_total", "counter",
	     "D4 bytes written to the upstream server (resends included)."},
	    {"d4hub_upstream_lag_records", "gauge", "Frames of the log past the stream's acknowledged position."},
	    {"d4hub_upstream_lag_seconds", "gauge", "Age of the oldest frame not yet acknowledged."},
	    {"d4hub_upstream_connect_failures_total", "counter", "Failed connection attempts to the upstream server."},
	};
	for (unsigned k = 0; k < sizeof(series) / sizeof(series[0]); k++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", series[k].name, series[k].help, series[k].name,
			series[k].type);
		for (unsigned i = 0; i < n; i++) {
			if (!st[i].name[0])
				continue;
			uint64_t v = k == 0   ? (uint64_t)st[i].connected
				     : k == 1 ? st[i].frames
				     : k == 2 ? st[i].bytes
				     : k == 3 ? st[i].sent_bytes
				     : k == 4 ? st[i].lag_records
				     : k == 5 ? st[i].lag_seconds
					      : st[i].failures;
			fprintf(f, "%s{stream=\"", series[k].name);
			label(f, st[i].name);
			fprintf(f, "\"} %" PRIu64 "\n", v);
		}
	}
	fprintf(f, "# HELP d4hub_upstream_decisions_total Egress decisions on frames for the upstream, per stream "
		   "and reason (since the start).\n# TYPE d4hub_upstream_decisions_total counter\n");
	for (unsigned i = 0; i < n; i++)
		for (unsigned r = 0; st[i].name[0] && r < D4_FED_R_COUNT; r++)
			if (st[i].decisions[r]) {
				fprintf(f, "d4hub_upstream_decisions_total{stream=\"");
				label(f, st[i].name);
				fprintf(f, "\",reason=\"%s\"} %" PRIu64 "\n", d4_fed_reason_name((enum d4_fed_reason)r),
					st[i].decisions[r]);
			}
	free(st);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
