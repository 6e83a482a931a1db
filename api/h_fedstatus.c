/* d4hub API — what operators see of federation: the status of one partner
 * (GET /api/v1/partners/{name}/status, admin) and the federation series
 * of /metrics. Three sources, each what it alone knows:
 *  - the store: per kind, what the partner acknowledged (fed_out: position,
 *    decisions per reason, batches, last ack, a pull batch served and not
 *    yet confirmed) and what was received from its hub (fed_in: position,
 *    batches, records, duplicates, conflicts, refusals per reason);
 *  - the sender thread (push, and fetching from the partner): connected,
 *    lag, last try, failures, last error — live, not kept;
 *  - the federation port: batches refused whole since the start. */
#include "api_core.h"
#include "api_fed.h"
#include "api_limits.h"
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_util.h"
#include "handlers.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void j_hex(yajl_gen g, const char *k, const uint8_t *b, size_t n)
{
	char *s = malloc(n * 2 + 1);
	if (!s) {
		d4_h_j_null(g, k);
		return;
	}
	d4_hex_encode(b, n, s);
	s[n * 2] = '\0';
	d4_api_j_kv_str(g, k, s);
	free(s);
}

/* {reason: n} of the non-zero counters (names from name(i)). Read one by
 * one with relaxed atomic loads: the port's counters are bumped by the
 * federation listener's threads while this runs (fedops.c); for the store's
 * copies the loads cost nothing. */
static void j_reasons(yajl_gen g, const char *k, const uint64_t *n, unsigned count, const char *(*name)(unsigned))
{
	d4_api_j_key(g, k);
	yajl_gen_map_open(g);
	for (unsigned i = 0; i < count; i++) {
		uint64_t v = __atomic_load_n(&n[i], __ATOMIC_RELAXED);
		if (v)
			d4_api_j_kv_u64(g, name(i), v);
	}
	yajl_gen_map_close(g);
}

static const char *reason_name(unsigned i)
{
	return d4_fed_reason_name((enum d4_fed_reason)i);
}

static const char *in_reason_name(unsigned i)
{
	return d4_fed_in_reason_name((enum d4_fed_in_reason)i);
}

static const char *port_reason_name(unsigned i)
{
	return d4_api_fed_refusal_name((enum d4_api_fed_refusal)i);
}

static const char *direction_name(uint8_t d)
{
	return d == D4_PARTNER_PULL ? "pull" : d == D4_PARTNER_BOTH ? "both" : "push";
}

static struct d4_fed_sender *sender_of(struct d4_api_ctx *ctx)
{
	return ctx->fed_sender;
}

/* The port's counters of partner name, or NULL. */
static const struct d4_api_fed_peer_stats *port_stats(struct d4_api_ctx *ctx, const char *name)
{
	const char *names[256];
	const struct d4_api_fed_peer_stats *st[256];
	struct d4_api_fedops *ops = ctx->core ? d4_api_fed_ops(ctx->core->fed) : NULL;
	size_t n = d4_api_fedops_peers(ops, names, st, 256);
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return st[i];
	return NULL;
}

/* The sender thread's state of one job (push or fetch). */
static void j_sender(yajl_gen g, const char *k, const struct d4_fed_status *st)
{
	d4_api_j_key(g, k);
	yajl_gen_map_open(g);
	d4_api_j_kv_bool(g, "connected", st->connected);
	d4_api_j_kv_u64(g, "lag_records", st->lag_records);
	d4_api_j_kv_u64(g, "lag_seconds", st->lag_seconds);
	d4_api_j_kv_time(g, "last_ack", st->last_ack);
	d4_api_j_kv_time(g, "last_try", st->last_try);
	d4_api_j_kv_u64(g, "failures", st->failures);
	d4_h_j_kv_text(g, "last_error", st->last_error[0] ? st->last_error : NULL);
	yajl_gen_map_close(g);
}

static int kind_status(struct d4_api_ctx *ctx, yajl_gen g, const struct d4_partner *p, uint8_t kind,
		       struct d4_store_fed_out *o, struct d4_store_fed_in *in)
{
	d4_api_j_key(g, d4_fed_kind_name((enum d4_fed_kind)kind));
	yajl_gen_map_open(g);
	d4_api_j_kv_bool(g, "outbound", p->out[kind].enabled);
	d4_api_j_kv_bool(g, "inbound", (p->in.kinds >> kind) & 1u);

	struct d4_fed_sender *fs = sender_of(ctx);
	struct d4_fed_status st;
	/* no sender thread, or it does not serve this partner and kind */
	if (fs && d4_fed_sender_status(fs, p->name, kind, &st) == 0)
		j_sender(g, "sender", &st);
	else
		d4_h_j_null(g, "sender");
	if (fs && d4_fed_sender_fetch_status(fs, p->name, kind, &st) == 0)
		j_sender(g, "fetch", &st);
	else
		d4_h_j_null(g, "fetch");

	int rc = d4_store_fed_out_get(ctx->store, p->name, kind, o);
	if (rc != 0 && rc != D4_ENOTFOUND)
		return rc;
	d4_api_j_key(g, "acknowledged");
	yajl_gen_map_open(g);
	j_hex(g, "position", o->pos, o->pos_len);
	d4_api_j_kv_u64(g, "batches", o->batches);
	d4_api_j_kv_u64(g, "records", o->records);
	d4_api_j_kv_u64(g, "bytes", o->bytes);
	d4_api_j_kv_time(g, "last_ack", o->last_ack);
	j_reasons(g, "decisions", o->decisions, o->ndecisions < D4_FED_R_COUNT ? o->ndecisions : D4_FED_R_COUNT,
		  reason_name);
	yajl_gen_map_close(g);
	if (o->pend_len) {
		d4_api_j_key(g, "pending");
		yajl_gen_map_open(g);
		j_hex(g, "position", o->pend_pos, o->pend_len);
		d4_api_j_kv_u64(g, "records", o->pend_records);
		yajl_gen_map_close(g);
	} else {
		d4_h_j_null(g, "pending");
	}

	rc = d4_store_fed_in_get(ctx->store, p->hub, kind, in);
	if (rc != 0 && rc != D4_ENOTFOUND)
		return rc;
	if (rc == D4_ENOTFOUND)
		memset(in, 0, sizeof(*in));
	d4_api_j_key(g, "received");
	yajl_gen_map_open(g);
	j_hex(g, "position", in->pos, in->pos_len);
	d4_api_j_kv_u64(g, "batches", in->batches);
	d4_api_j_kv_u64(g, "records", in->records);
	d4_api_j_kv_u64(g, "bytes", in->bytes);
	d4_api_j_kv_u64(g, "duplicates", in->duplicates);
	d4_api_j_kv_u64(g, "conflicts", in->conflicts);
	j_reasons(g, "refused", in->refused, in->nrefused < D4_FED_IN_COUNT ? in->nrefused : D4_FED_IN_COUNT,
		  in_reason_name);
	d4_api_j_kv_time(g, "last_at", in->last_at);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	return 0;
}

void d4_h_partner_status(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	if (d4_h_query_only(req, resp, NULL))
		return;
	const char *name = req->nparams ? req->params[0] : "";
	if (!d4_store_partner_name_valid(name)) {
		d4_h_bad_param(resp, "partner name must be 1 to 63 characters of A-Z a-z 0-9 . _ -, starting with a "
				     "letter or digit");
		return;
	}
	struct d4_partner *p = malloc(sizeof(*p));
	struct d4_store_fed_out *o = malloc(sizeof(*o));
	struct d4_store_fed_in *in = malloc(sizeof(*in));
	yajl_gen g = p && o && in ? d4_h_gen() : NULL;
	if (!g) {
		free(p);
		free(o);
		free(in);
		d4_h_internal(resp, "out of memory");
		return;
	}
	char what[96];
	snprintf(what, sizeof(what), "partner '%s'", name);
	int rc = d4_store_partner_get(ctx->store, name, p);
	if (rc == 0) {
		yajl_gen_map_open(g);
		d4_api_j_kv_str(g, "name", p->name);
		d4_h_j_uuid(g, "hub_uuid", p->hub);
		d4_api_j_kv_bool(g, "enabled", p->enabled);
		d4_api_j_kv_str(g, "direction", direction_name(p->direction));
		d4_api_j_kv_bool(g, "sender_running", sender_of(ctx) != NULL);
		d4_api_j_key(g, "kinds");
		yajl_gen_map_open(g);
		for (uint8_t k = 0; k < D4_FED_KIND_COUNT && rc == 0; k++)
			rc = kind_status(ctx, g, p, k, o, in);
		yajl_gen_map_close(g);
		const struct d4_api_fed_peer_stats *ps = port_stats(ctx, p->name);
		static const uint64_t zero[D4_API_FED_REFUSAL_COUNT];
		d4_api_j_key(g, "port");
		yajl_gen_map_open(g);
		d4_api_j_kv_u64(g, "batches", ps ? __atomic_load_n(&ps->batches, __ATOMIC_RELAXED) : 0);
		d4_api_j_kv_u64(g, "stored", ps ? __atomic_load_n(&ps->stored, __ATOMIC_RELAXED) : 0);
		d4_api_j_kv_u64(g, "duplicates", ps ? __atomic_load_n(&ps->duplicates, __ATOMIC_RELAXED) : 0);
		d4_api_j_kv_u64(g, "conflicts", ps ? __atomic_load_n(&ps->conflicts, __ATOMIC_RELAXED) : 0);
		d4_api_j_kv_u64(g, "pulls", ps ? __atomic_load_n(&ps->pulls, __ATOMIC_RELAXED) : 0);
		j_reasons(g, "refused", ps ? ps->refused : zero, D4_API_FED_REFUSAL_COUNT, port_reason_name);
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
	}
	free(p);
	free(o);
	free(in);
	if (rc != 0) {
		yajl_gen_free(g);
		d4_h_store_error(resp, rc, what);
		return;
	}
	d4_h_send(resp, 200, g, 0);
}

/* ---- /metrics ------------------------------------------------------------------- */

struct mctx {
	struct d4_api_ctx *ctx;
	FILE *f;
	int pass;
};

static int out_cb(void *arg, const char *partner, uint8_t kind, const struct d4_store_fed_out *o)
{
	struct mctx *m = arg;
	const char *k = d4_fed_kind_name((enum d4_fed_kind)kind);
	if (m->pass == 0) {
		for (unsigned i = 0; i < o->ndecisions && i < D4_FED_R_COUNT; i++)
			if (o->decisions[i])
				fprintf(m->f,
					"d4hub_federation_decisions_total{partner=\"%s\",kind=\"%s\",reason=\"%s\"} "
					"%" PRIu64 "\n",
					partner, k, d4_fed_reason_name((enum d4_fed_reason)i), o->decisions[i]);
	} else if (m->pass == 1) {
		fprintf(m->f, "d4hub_federation_sent_records_total{partner=\"%s\",kind=\"%s\"} %" PRIu64 "\n", partner,
			k, o->records);
	} else {
		struct d4_fed_sender *fs = sender_of(m->ctx);
		struct d4_fed_status st;
		if (fs && d4_fed_sender_status(fs, partner, kind, &st) == 0)
			fprintf(m->f,
				"d4hub_federation_lag_records{partner=\"%s\",kind=\"%s\"} %" PRIu64 "\n"
				"d4hub_federation_lag_seconds{partner=\"%s\",kind=\"%s\"} %" PRIu64 "\n",
				partner, k, st.lag_records, partner, k, st.lag_seconds);
	}
	return 0;
}

static int in_cb(void *arg, const uint8_t hub[16], uint8_t kind, const struct d4_store_fed_in *in)
{
	struct mctx *m = arg;
	char hex[D4_UUID_HEX_LEN + 1];
	const char *partner = in->partner;
	/* partner names are [A-Za-z0-9._-]: safe in a label; else the hub */
	if (!d4_store_partner_name_valid(partner)) {
		d4_uuid_hex(hub, hex);
		partner = hex;
	}
	const char *k = d4_fed_kind_name((enum d4_fed_kind)kind);
	if (m->pass == 0) {
		fprintf(
		    m->f,
		    "d4hub_federation_received_records_total{partner=\"%s\",kind=\"%s\"} %" PRIu64 "\n"
		    "d4hub_federation_received_batches_total{partner=\"%s\",kind=\"%s\",result=\"stored\"} %" PRIu64
		    "\n"
		    "d4hub_federation_received_batches_total{partner=\"%s\",kind=\"%s\",result=\"duplicate\"} %" PRIu64
		    "\n"
		    "d4hub_federation_received_batches_total{partner=\"%s\",kind=\"%s\",result=\"position-mismatch\"} "
		    "%" PRIu64 "\n",
		    partner, k, in->records, partner, k, in->batches, partner, k, in->duplicates, partner, k,
		    in->conflicts);
	} else {
		for (unsigned i = 1; i < in->nrefused && i < D4_FED_IN_COUNT; i++)
			if (in->refused[i])
				fprintf(
				    m->f,
				    "d4hub_federation_refused_records_total{partner=\"%s\",kind=\"%s\",reason=\"%s\"} "
				    "%" PRIu64 "\n",
				    partner, k, d4_fed_in_reason_name((enum d4_fed_in_reason)i), in->refused[i]);
	}
	return 0;
}

char *d4_h_fed_metrics(struct d4_api_ctx *ctx)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	struct mctx m = {ctx, f, 0};
	fprintf(f, "# HELP d4hub_federation_decisions_total Egress decisions acknowledged by the partner, by kind "
		   "and reason (docs/federation.md).\n# TYPE d4hub_federation_decisions_total counter\n");
	d4_store_fed_out_foreach(ctx->store, NULL, out_cb, &m);
	m.pass = 1;
	fprintf(f, "# HELP d4hub_federation_sent_records_total Records the partner acknowledged.\n"
		   "# TYPE d4hub_federation_sent_records_total counter\n");
	d4_store_fed_out_foreach(ctx->store, NULL, out_cb, &m);
	m.pass = 2;
	fprintf(f, "# HELP d4hub_federation_lag_records Records of the log past the partner's acknowledged position "
		   "(sender thread).\n# TYPE d4hub_federation_lag_records gauge\n"
		   "# HELP d4hub_federation_lag_seconds Age of the oldest record not acknowledged.\n"
		   "# TYPE d4hub_federation_lag_seconds gauge\n");
	d4_store_fed_out_foreach(ctx->store, NULL, out_cb, &m);
	m.pass = 0;
	fprintf(f, "# HELP d4hub_federation_received_records_total Records stored from a partner hub.\n"
		   "# TYPE d4hub_federation_received_records_total counter\n"
		   "# HELP d4hub_federation_received_batches_total Batches received from a partner hub, by result.\n"
		   "# TYPE d4hub_federation_received_batches_total counter\n");
	d4_store_fed_in_foreach(ctx->store, in_cb, &m);
	m.pass = 1;
	fprintf(f, "# HELP d4hub_federation_refused_records_total Records received from a partner hub and refused "
		   "by the inbound rule, by reason.\n# TYPE d4hub_federation_refused_records_total counter\n");
	d4_store_fed_in_foreach(ctx->store, in_cb, &m);

	struct d4_api_fedops *ops = ctx->core ? d4_api_fed_ops(ctx->core->fed) : NULL;
	if (ops) {
		const char *names[256];
		const struct d4_api_fed_peer_stats *st[256];
		size_t n = d4_api_fedops_peers(ops, names, st, 256);
		fprintf(f, "# HELP d4hub_federation_batches_refused_total Batches refused whole on the federation port "
			   "(nothing stored), by partner and reason.\n"
			   "# TYPE d4hub_federation_batches_refused_total counter\n");
		for (size_t i = 0; i < n; i++)
			for (unsigned r = 0; r < D4_API_FED_REFUSAL_COUNT; r++)
				if (__atomic_load_n(&st[i]->refused[r], __ATOMIC_RELAXED))
					fprintf(f,
						"d4hub_federation_batches_refused_total{partner=\"%s\",reason=\"%s\"} "
						"%" PRIu64 "\n",
						names[i], d4_api_fed_refusal_name((enum d4_api_fed_refusal)r),
						__atomic_load_n(&st[i]->refused[r], __ATOMIC_RELAXED));
	}
	const struct d4_api_limits *lim = ctx->core ? d4_api_fed_limits(ctx->core->fed) : NULL;
	if (lim) {
		/* the connection guard in front of the port: its own caps */
		fprintf(f,
			"# HELP d4hub_federation_limit_hits_total Connections and requests refused by a limit of the "
			"federation port (docs/federation.md).\n# TYPE d4hub_federation_limit_hits_total counter\n");
		for (int i = 0; i < D4_LIM_COUNT; i++)
			fprintf(f, "d4hub_federation_limit_hits_total{limit=\"%s\"} %" PRIu64 "\n",
				d4_api_limit_name((enum d4_api_limit)i), d4_api_limits_hits(lim, (enum d4_api_limit)i));
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
