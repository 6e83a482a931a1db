/* d4hub API — backscatter attack vectors (docs/backscatter.md "Querying"):
 * the vector list (JSON pages or NDJSON, sealed cursors), one vector by id,
 * per-day summaries and the consumer's per-sensor counters.
 *
 * TLP: exactly the pDNS rule. The store applies d4_policy_tlp_visible with
 * the caller's clearance (api/clearance.c) to every vector before it counts
 * it, so that pages, cursors, "more" and every summary figure are computed
 * over what the caller may see; a vector above the clearance is a 404 by id,
 * with the text of a vector that does not exist. */
#include "api_bs.h"
#include "api_core.h"
#include "d4_backscatter.h"
#include "d4_error.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_store_bs.h"
#include "d4_util.h"
#include "handlers.h"
#include "json_writer.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH	   256u	   /* vectors per read transaction of a stream */
#define LINE_MAX   4096u   /* one vector's JSON */
#define SUM_MAX	   250000u /* vectors read by one summary (it runs on the API thread) */
#define NDJSON	   "application/x-ndjson"
#define ACCEPT_MAX 512u

/* ---- one vector ---------------------------------------------------------- */

static int zero16(const uint8_t *a)
{
	static const uint8_t z[16];
	return memcmp(a, z, 16) == 0;
}

static void jw_uuid(struct d4_jw *b, const uint8_t u[16])
{
	char hex[D4_UUID_HEX_LEN + 1];
	d4_uuid_hex(u, hex);
	d4_jw_raw(b, "\"", 1);
	d4_jw_raw(b, hex, strlen(hex));
	d4_jw_raw(b, "\"", 1);
}

/* The vector as d4-backscatter writes it (d4_bs_vector_json: tools read both
 * alike), plus its id, origin and, for a received one, how it came. A
 * tlp:ex:chr vector names no source: no sensors, org, origin or path. */
static void vec_json(struct d4_jw *b, const struct d4_store_bs_vec *sv)
{
	struct d4_bs_vector v;
	char line[LINE_MAX];
	int chr = sv->tlp == D4_TLP_EX_CHR;
	memset(&v, 0, sizeof(v));
	memcpy(v.victim, sv->victim, 16);
	v.kind = sv->kind;
	v.state = sv->state;
	v.first_us = sv->first_us;
	v.last_us = sv->last_us;
	v.packets = sv->packets;
	v.bytes = sv->bytes;
	v.n_ports = sv->n_ports < D4_BS_TOP_PORTS ? sv->n_ports : D4_BS_TOP_PORTS;
	for (uint32_t i = 0; i < v.n_ports; i++) {
		v.ports[i].port = sv->ports[i].port;
		v.ports[i].packets = sv->ports[i].packets;
	}
	v.ports_distinct = sv->ports_distinct;
	v.ports_other = sv->ports_other;
	v.telescope_addrs = sv->telescope_addrs;
	v.telescope_exact = sv->telescope_exact;
	v.peak_ppm = sv->peak_ppm;
	v.observed_pps = sv->observed_pps;
	v.est_pps = sv->est_pps;
	v.est_peak_pps = sv->est_peak_pps;
	v.est_valid = sv->est_valid;
	if (!chr) {
		v.n_sensors = sv->n_sensors < D4_BS_MAX_SENSORS ? sv->n_sensors : D4_BS_MAX_SENSORS;
		memcpy(v.sensors, sv->sensors, (size_t)v.n_sensors * 16);
		v.sensors_more = sv->sensors_more;
		memcpy(v.org, sv->org, 16);
		v.org_mixed = sv->org_mixed;
	}
	v.tlp = sv->tlp;
	v.updates = sv->updates;
	int n = d4_bs_vector_json(&v, line, sizeof(line));
	if (n < 3) {
		b->oom = 1; /* cannot happen with LINE_MAX: the caller answers 500 */
		return;
	}
	/* drop the closing "}\n" and add the hub's members */
	d4_jw_raw(b, "{\"id\":", 6);
	d4_jw_u64(b, sv->id);
	d4_jw_raw(b, ",", 1);
	d4_jw_raw(b, line + 1, (size_t)n - 3);
	D4_JW_LIT(b, ",\"origin\":");
	if (chr || zero16(sv->origin))
		D4_JW_LIT(b, "null");
	else
		jw_uuid(b, sv->origin);
	D4_JW_LIT(b, ",\"received\":");
	if (!sv->received) {
		D4_JW_LIT(b, "null");
	} else {
		D4_JW_LIT(b, "{\"sender\":");
		jw_uuid(b, sv->sender);
		D4_JW_LIT(b, ",\"stripped\":");
		if (sv->stripped)
			D4_JW_LIT(b, "true");
		else
			D4_JW_LIT(b, "false");
		D4_JW_LIT(b, ",\"via\":[");
		for (unsigned i = 0; !chr && i < sv->nvia && i < D4_STORE_BS_VIA_MAX; i++) {
			if (i)
				d4_jw_raw(b, ",", 1);
			jw_uuid(b, sv->via[i]);
		}
		D4_JW_LIT(b, "]}");
	}
	D4_JW_LIT(b, ",\"stored_at\":");
	d4_jw_time(b, sv->stored_s);
	D4_JW_LIT(b, "}");
}

/* ---- parameters ------------------------------------------------------------- */

/* NDJSON when asked by format=, else when Accept names application/x-ndjson
 * before (or without) application/json. */
static int wants_ndjson(const struct d4_api_req *req)
{
	const char *a = req->accept;
	if (!a || !*a)
		return 0;
	const char *nd = strstr(a, NDJSON), *js = strstr(a, "application/json");
	return nd && (!js || nd < js);
}

static int parse(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp,
		 enum d4_api_bs_what what, struct d4_api_bs_params *p)
{
	char err[320];
	uint8_t clr = (uint8_t)d4_api_clearance(ctx, req);
	int rc = d4_api_bs_parse(what, req->qname, req->qvalue, req->nquery, clr, d4_now_s(), p, err, sizeof(err));
	if (rc) {
		d4_h_bad_param(resp, "%s", err);
		return -1;
	}
	if (what == D4_API_BS_LIST && !p->format_given)
		p->ndjson = wants_ndjson(req);
	d4_api_clearance_header(resp, (enum d4_tlp)clr);
	return 0;
}

static void query_error(struct d4_api_resp *resp, int rc, const struct d4_api_bs_params *p)
{
	if (rc == D4_EINVAL && p->q.resume)
		d4_h_bad_param(resp, "query parameter 'cursor' does not belong to this query");
	else
		d4_h_store_error(resp, rc, "backscatter vectors");
}

/* ---- a page (JSON, or NDJSON with limit/cursor) --------------------------------- */

struct page {
	struct d4_jw b;
	int ndjson;
	uint32_t n;
};

static int page_cb(void *ctx, const struct d4_store_bs_vec *v)
{
	struct page *pg = ctx;
	if (!pg->ndjson && pg->n)
		d4_jw_raw(&pg->b, ",", 1);
	vec_json(&pg->b, v);
	if (pg->ndjson)
		d4_jw_raw(&pg->b, "\n", 1);
	pg->n++;
	return pg->b.oom ? D4_ENOMEM : 0;
}

/* One page in one read transaction: the rows and the next cursor come from
 * the same snapshot, so that the next page starts right after this one's
 * last row (nothing repeated, whatever is written in between). */
static void answer_page(struct d4_api_ctx *ctx, struct d4_api_resp *resp, struct d4_api_bs_params *p)
{
	struct page pg = {.ndjson = p->ndjson};
	struct d4_store_bs_qresult res;
	memset(&res, 0, sizeof(res));
	d4_jw_init(&pg.b);
	if (!pg.ndjson)
		D4_JW_LIT(&pg.b, "{\"items\":[");
	p->q.limit = p->limit;
	int rc = d4_store_bs_query(ctx->store, &p->q, page_cb, &pg, &res);
	if (rc < 0) {
		d4_jw_free(&pg.b);
		if (rc == D4_ENOMEM)
			d4_h_internal(resp, "out of memory");
		else
			query_error(resp, rc, p);
		return;
	}
	char cur[D4_API_BS_CURSOR_TEXT];
	int has_next = res.more && res.returned > 0 && res.resume_len > 0;
	if (has_next && (rc = d4_api_bs_cursor_seal(p, res.resume, res.resume_len, cur)) != 0) {
		d4_jw_free(&pg.b);
		d4_h_internal(resp, "no key for the paging cursors");
		return;
	}
	if (has_next)
		d4_api_header(resp, "D4-Next-Cursor", cur);
	if (!pg.ndjson) {
		D4_JW_LIT(&pg.b, "],\"next_cursor\":");
		if (has_next) {
			d4_jw_raw(&pg.b, "\"", 1);
			d4_jw_raw(&pg.b, cur, strlen(cur));
			d4_jw_raw(&pg.b, "\"", 1);
		} else {
			D4_JW_LIT(&pg.b, "null");
		}
		D4_JW_LIT(&pg.b, "}");
	}
	if (pg.b.oom)
		d4_h_internal(resp, "out of memory");
	else
		d4_api_body(resp, 200, pg.ndjson ? NDJSON : "application/json", pg.b.p ? pg.b.p : "", pg.b.len);
	d4_jw_free(&pg.b);
}

/* ---- every matching vector as an NDJSON stream ------------------------------------ */

struct bs_prod {
	struct d4_api_producer super;
	struct d4_store *st;
	struct d4_api_bs_params p;
	struct d4_jw pend; /* rendered lines not handed out yet */
	size_t off;
	int done;
};

static int stream_cb(void *ctx, const struct d4_store_bs_vec *v)
{
	struct bs_prod *x = ctx;
	vec_json(&x->pend, v);
	d4_jw_raw(&x->pend, "\n", 1);
	return x->pend.oom ? D4_ENOMEM : 0;
}

/* Each call reads at most BATCH vectors in one read transaction and goes on
 * from the store's resume position: no transaction outlives a call, and a
 * vector is written at most once (the order is by key; a vector updated
 * meanwhile moves before the position in the default order, not after it). */
static long prod_next(struct d4_api_producer *sp, uint8_t *buf, size_t cap)
{
	struct bs_prod *x = (struct bs_prod *)sp;
	if (x->off == x->pend.len && !x->done) {
		struct d4_store_bs_qresult res;
		memset(&res, 0, sizeof(res));
		x->pend.len = x->off = 0;
		x->p.q.limit = BATCH;
		int rc = d4_store_bs_query(x->st, &x->p.q, stream_cb, x, &res);
		if (rc < 0)
			return rc;
		if (res.returned && res.resume_len) {
			memcpy(x->p.resume, res.resume, res.resume_len);
			x->p.q.resume = x->p.resume;
			x->p.q.resume_len = res.resume_len;
		}
		if (!res.more || !res.returned)
			x->done = 1;
	}
	size_t k = x->pend.len - x->off;
	if (k > cap)
		k = cap;
	memcpy(buf, x->pend.p + x->off, k);
	x->off += k;
	return (long)k;
}

static void prod_free(struct d4_api_producer *sp)
{
	struct bs_prod *x = (struct bs_prod *)sp;
	d4_jw_free(&x->pend);
	free(x);
}

static int probe_cb(void *ctx, const struct d4_store_bs_vec *v)
{
	(void)ctx;
	(void)v;
	return 0;
}

static void answer_stream(struct d4_api_ctx *ctx, struct d4_api_resp *resp, const struct d4_api_bs_params *p)
{
	/* refuse a bad query before the status is sent */
	struct d4_store_bs_qresult res;
	struct d4_api_bs_params probe = *p;
	d4_api_bs_fix(&probe);
	probe.q.limit = 1;
	int rc = d4_store_bs_query(ctx->store, &probe.q, probe_cb, NULL, &res);
	if (rc < 0) {
		query_error(resp, rc, p);
		return;
	}
	struct bs_prod *x = calloc(1, sizeof(*x));
	if (!x) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	x->super.next = prod_next;
	x->super.free = prod_free;
	x->st = ctx->store;
	x->p = *p;
	d4_api_bs_fix(&x->p);
	d4_jw_init(&x->pend);
	d4_api_stream(resp, 200, NDJSON, &x->super);
}

void d4_h_bs_list_vectors(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	struct d4_api_bs_params *p = calloc(1, sizeof(*p));
	if (!p) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	if (parse(ctx, req, resp, D4_API_BS_LIST, p) == 0) {
		if (p->ndjson && !p->paging)
			answer_stream(ctx, resp, p);
		else
			answer_page(ctx, resp, p);
	}
	free(p);
}

/* ---- one vector -------------------------------------------------------------------- */

void d4_h_bs_get_vector(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	if (d4_h_query_only(req, resp, NULL))
		return;
	const char *s = req->nparams ? req->params[0] : "";
	size_t n = strlen(s);
	uint64_t id = 0;
	int ok = n > 0 && n <= 20 && strspn(s, "0123456789") == n && s[0] != '0';
	for (size_t i = 0; ok && i < n; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');
		if (id > (UINT64_MAX - d) / 10)
			ok = 0;
		else
			id = id * 10 + d;
	}
	if (!ok) {
		d4_h_bad_param(resp, "bad vector id in the path: a positive integer");
		return;
	}
	enum d4_tlp clr = d4_api_clearance(ctx, req);
	d4_api_clearance_header(resp, clr);
	struct d4_store_bs_vec v;
	int rc = d4_store_bs_get(ctx->store, id, &v);
	/* above the clearance: the very answer of a vector that does not exist */
	if (rc == D4_ENOTFOUND || (rc == 0 && !d4_api_may_see(clr, v.tlp))) {
		d4_api_problem(resp, 404, "not-found", "Not Found", "no backscatter vector %llu",
			       (unsigned long long)id);
		return;
	}
	if (rc < 0) {
		d4_h_store_error(resp, rc, "backscatter vector");
		return;
	}
	struct d4_jw b;
	d4_jw_init(&b);
	vec_json(&b, &v);
	if (b.oom)
		d4_h_internal(resp, "out of memory");
	else
		d4_api_body(resp, 200, "application/json", b.p, b.len);
	d4_jw_free(&b);
}

/* ---- per-day summaries -------------------------------------------------------------- */

struct net_row {
	uint8_t net[16];
	uint8_t victim[16];
	uint64_t packets;
};

struct net_agg {
	uint8_t net[16];
	uint64_t victims, vectors, packets;
};

struct day_acc {
	uint64_t vectors, ongoing, packets, bytes;
	uint64_t kind_vec[D4_STORE_BS_KINDS], kind_pk[D4_STORE_BS_KINDS];
	uint64_t *port_pk;  /* [65536] */
	uint32_t *port_vec; /* [65536] */
	struct net_row *rows;
	size_t nrows, caprows;
	uint64_t visited; /* over the whole request */
	int truncated, oom;
};

/* The network a victim is counted in: its /24 (IPv4) or /48 (IPv6). */
static void victim_net(const uint8_t a[16], uint8_t net[16])
{
	static const uint8_t v4m[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	memcpy(net, a, 16);
	if (!memcmp(a, v4m, 12))
		net[15] = 0;
	else
		memset(net + 6, 0, 10);
}

static int sum_cb(void *ctx, const struct d4_store_bs_vec *v)
{
	struct day_acc *d = ctx;
	if (d->visited >= SUM_MAX) {
		d->truncated = 1;
		return 1;
	}
	d->visited++;
	d->vectors++;
	d->ongoing += v->state == D4_BS_ONGOING;
	d->packets += v->packets;
	d->bytes += v->bytes;
	if (v->kind < D4_STORE_BS_KINDS) {
		d->kind_vec[v->kind]++;
		d->kind_pk[v->kind] += v->packets;
	}
	for (uint32_t i = 0; i < v->n_ports && i < D4_STORE_BS_TOP_PORTS; i++) {
		d->port_pk[v->ports[i].port] += v->ports[i].packets;
		d->port_vec[v->ports[i].port]++;
	}
	if (d->nrows == d->caprows) {
		size_t nc = d->caprows ? d->caprows * 2 : 1024;
		struct net_row *r = realloc(d->rows, nc * sizeof(*r));
		if (!r) {
			d->oom = 1;
			return D4_ENOMEM;
		}
		d->rows = r;
		d->caprows = nc;
	}
	struct net_row *r = &d->rows[d->nrows++];
	victim_net(v->victim, r->net);
	memcpy(r->victim, v->victim, 16);
	r->packets = v->packets;
	return 0;
}

static int row_cmp(const void *a, const void *b)
{
	const struct net_row *x = a, *y = b;
	int c = memcmp(x->net, y->net, 16);
	return c ? c : memcmp(x->victim, y->victim, 16);
}

/* Top first: packets, then vectors, then the network. */
static int net_cmp(const void *a, const void *b)
{
	const struct net_agg *x = a, *y = b;
	if (x->packets != y->packets)
		return x->packets > y->packets ? -1 : 1;
	if (x->vectors != y->vectors)
		return x->vectors > y->vectors ? -1 : 1;
	return memcmp(x->net, y->net, 16);
}

static void net_text(const uint8_t net[16], char *out, size_t cap)
{
	static const uint8_t v4m[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char a[INET6_ADDRSTRLEN];
	if (!memcmp(net, v4m, 12)) {
		inet_ntop(AF_INET, net + 12, a, sizeof(a));
		snprintf(out, cap, "%s/24", a);
	} else {
		inet_ntop(AF_INET6, net, a, sizeof(a));
		snprintf(out, cap, "%s/48", a);
	}
}

static void day_json(yajl_gen g, uint32_t day, struct day_acc *d, uint32_t top)
{
	char txt[64];
	d4_h_day_text(day, txt);
	/* victims and networks from the rows sorted by (network, victim) */
	if (d->nrows) /* qsort wants a valid pointer even for no element */
		qsort(d->rows, d->nrows, sizeof(*d->rows), row_cmp);
	size_t nnet = 0;
	uint64_t victims = 0;
	struct net_agg *nets = d->nrows ? calloc(d->nrows, sizeof(*nets)) : NULL;
	if (d->nrows && !nets) {
		d->oom = 1;
		return;
	}
	for (size_t i = 0; i < d->nrows; i++) {
		int new_net = i == 0 || memcmp(d->rows[i].net, d->rows[i - 1].net, 16) != 0;
		int new_victim = new_net || memcmp(d->rows[i].victim, d->rows[i - 1].victim, 16) != 0;
		if (new_net)
			memcpy(nets[nnet++].net, d->rows[i].net, 16);
		struct net_agg *a = &nets[nnet - 1];
		a->vectors++;
		a->packets += d->rows[i].packets;
		a->victims += new_victim;
		victims += new_victim;
	}
	yajl_gen_map_open(g);
	d4_api_j_kv_str(g, "day", txt);
	d4_api_j_kv_u64(g, "vectors", d->vectors);
	d4_api_j_kv_u64(g, "ongoing", d->ongoing);
	d4_api_j_kv_u64(g, "victims", victims);
	d4_api_j_kv_u64(g, "packets", d->packets);
	d4_api_j_kv_u64(g, "bytes", d->bytes);
	d4_api_j_key(g, "by_kind");
	yajl_gen_array_open(g);
	for (unsigned k = 1; k < D4_STORE_BS_KINDS; k++) {
		if (!d->kind_vec[k])
			continue;
		yajl_gen_map_open(g);
		d4_api_j_kv_str(g, "kind", d4_bs_kind_name((int)k));
		d4_api_j_kv_u64(g, "vectors", d->kind_vec[k]);
		d4_api_j_kv_u64(g, "packets", d->kind_pk[k]);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	/* top ports: packets, then vectors, then the port number */
	d4_api_j_key(g, "top_ports");
	yajl_gen_array_open(g);
	uint8_t *taken = calloc(65536, 1);
	for (uint32_t t = 0; taken && t < top; t++) {
		int best = -1;
		for (unsigned port = 0; port < 65536; port++) {
			if (!d->port_vec[port] || taken[port])
				continue;
			if (best < 0 || d->port_pk[port] > d->port_pk[best] ||
			    (d->port_pk[port] == d->port_pk[best] && d->port_vec[port] > d->port_vec[best]))
				best = (int)port;
		}
		if (best < 0)
			break;
		taken[best] = 1;
		yajl_gen_map_open(g);
		d4_api_j_kv_u64(g, "port", (uint64_t)best);
		d4_api_j_kv_u64(g, "vectors", d->port_vec[best]);
		d4_api_j_kv_u64(g, "packets", d->port_pk[best]);
		yajl_gen_map_close(g);
	}
	if (!taken)
		d->oom = 1;
	free(taken);
	yajl_gen_array_close(g);
	d4_api_j_key(g, "top_networks");
	yajl_gen_array_open(g);
	if (nnet)
		qsort(nets, nnet, sizeof(*nets), net_cmp);
	for (size_t i = 0; i < nnet && i < top; i++) {
		net_text(nets[i].net, txt, sizeof(txt));
		yajl_gen_map_open(g);
		d4_api_j_kv_str(g, "network", txt);
		d4_api_j_kv_u64(g, "victims", nets[i].victims);
		d4_api_j_kv_u64(g, "vectors", nets[i].vectors);
		d4_api_j_kv_u64(g, "packets", nets[i].packets);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	free(nets);
}

void d4_h_bs_summary(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	struct d4_api_bs_params *p = calloc(1, sizeof(*p));
	struct day_acc d;
	memset(&d, 0, sizeof(d));
	d.port_pk = calloc(65536, sizeof(*d.port_pk));
	d.port_vec = calloc(65536, sizeof(*d.port_vec));
	yajl_gen g = NULL;
	if (!p || !d.port_pk || !d.port_vec) {
		d4_h_internal(resp, "out of memory");
		goto out;
	}
	if (parse(ctx, req, resp, D4_API_BS_SUMMARY, p))
		goto out;
	g = d4_h_gen();
	if (!g) {
		d4_h_internal(resp, "out of memory");
		goto out;
	}
	char txt[16];
	yajl_gen_map_open(g);
	d4_h_day_text(p->day_from, txt);
	d4_api_j_kv_str(g, "from", txt);
	d4_h_day_text(p->day_to, txt);
	d4_api_j_kv_str(g, "to", txt);
	d4_api_j_kv_str(g, "clearance", d4_policy_tlp_name((enum d4_tlp)p->q.max_tlp));
	d4_api_j_key(g, "days");
	yajl_gen_array_open(g);
	/* a vector counts on every day it was active (it overlaps the day) */
	uint64_t since = p->q.since_us, until = p->q.until_us;
	for (uint32_t day = p->day_from; day <= p->day_to; day++) {
		uint64_t d0 = (uint64_t)day * 86400000000ull, d1 = d0 + 86400000000ull - 1;
		memset(d.kind_vec, 0, sizeof(d.kind_vec));
		memset(d.kind_pk, 0, sizeof(d.kind_pk));
		memset(d.port_pk, 0, 65536 * sizeof(*d.port_pk));
		memset(d.port_vec, 0, 65536 * sizeof(*d.port_vec));
		d.vectors = d.ongoing = d.packets = d.bytes = 0;
		d.nrows = 0;
		struct d4_store_bs_qresult res;
		p->q.since_us = since > d0 ? since : d0;
		p->q.until_us = until && until < d1 ? until : d1;
		p->q.limit = 0;
		p->q.resume = NULL;
		p->q.resume_len = 0;
		int rc = 0;
		if (p->q.since_us <= p->q.until_us && !d.truncated)
			rc = d4_store_bs_query(ctx->store, &p->q, sum_cb, &d, &res);
		if (rc < 0 || d.oom) {
			yajl_gen_free(g);
			g = NULL;
			if (d.oom || rc == D4_ENOMEM)
				d4_h_internal(resp, "out of memory");
			else
				d4_h_store_error(resp, rc, "backscatter vectors");
			goto out;
		}
		day_json(g, day, &d, p->top);
		if (d.oom) {
			yajl_gen_free(g);
			g = NULL;
			d4_h_internal(resp, "out of memory");
			goto out;
		}
	}
	yajl_gen_array_close(g);
	d4_api_j_kv_bool(g, "truncated", d.truncated);
	yajl_gen_map_close(g);
	d4_h_send(resp, 200, g, 0);
	g = NULL;
out:
	free(d.port_pk);
	free(d.port_vec);
	free(d.rows);
	free(p);
}

/* ---- the consumer's counters ----------------------------------------------------------- */

static int counters_cb(void *arg, const struct d4_store_bs_counters *c)
{
	yajl_gen g = arg;
	yajl_gen_map_open(g);
	d4_h_j_uuid(g, "sensor", c->sensor);
	d4_api_j_kv_u64(g, "frames", c->frames);
	d4_api_j_kv_u64(g, "packets", c->packets);
	d4_api_j_kv_u64(g, "bad_packets", c->bad_packets);
	d4_api_j_kv_u64(g, "backscatter", c->backscatter);
	d4_api_j_kv_u64(g, "dropped", c->dropped);
	d4_api_j_key(g, "by_kind");
	yajl_gen_map_open(g);
	for (int k = 1; k < D4_BS_KIND_COUNT && k < (int)D4_STORE_BS_KINDS; k++)
		d4_api_j_kv_u64(g, d4_bs_kind_name(k), c->by_kind[k]);
	yajl_gen_map_close(g);
	d4_api_j_key(g, "by_reason");
	yajl_gen_map_open(g);
	for (int r = 1; r < D4_BS_R_COUNT && r < (int)D4_STORE_BS_REASONS; r++)
		d4_api_j_kv_u64(g, d4_bs_reason_name(r), c->by_reason[r]);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	return 0;
}

void d4_h_bs_counters(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	if (d4_h_query_only(req, resp, NULL))
		return;
	struct d4_store_bs_info in;
	int rc = d4_store_bs_info(ctx->store, &in);
	if (rc < 0) {
		d4_h_store_error(resp, rc, "backscatter store");
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
	d4_api_j_kv_u64(g, "vectors", in.vectors);
	d4_api_j_kv_u64(g, "ongoing", in.ongoing);
	d4_api_j_kv_u64(g, "open_states", in.states);
	d4_api_j_kv_u64(g, "bytes", in.bytes);
	yajl_gen_map_close(g);
	d4_api_j_key(g, "sensors");
	yajl_gen_array_open(g);
	rc = d4_store_bs_counters_foreach(ctx->store, counters_cb, g);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	if (rc < 0) {
		yajl_gen_free(g);
		d4_h_store_error(resp, rc, "backscatter counters");
		return;
	}
	d4_h_send(resp, 200, g, 0);
}
