/* d4hub API — the data operations of the federation port
 * (docs/federation.md "Push and pull"): a partner pushes a batch to
 * POST /federation/v1/inbox/{kind} or fetches one from
 * GET /federation/v1/pull/{kind}?from=<hex>.
 *
 * The inbox never blocks the loop on the disk: the batch is checked here
 * (d4_fed_receive_prepare), handed to the store's writer thread
 * (d4_store_fed_submit) with an eventfd of this port registered in the h2o
 * loop, and answered when the writer wrote to it. The body is copied out of
 * the request first: the client may reset its stream while the writer still
 * reads the batch, and the batch must outlive the request.
 *
 * The pull reads the log on the loop thread (LMDB reads, no disk write on
 * the read path) and commits the confirmation of the batch served before
 * with one small write transaction (d4_store_fed_out_put): a partner that
 * asks for the position the last batch ended at has stored that batch.
 *
 * API thread only, like every h2o object. */
#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "api_fed.h"
#include "api_guard.h"
#include "api_limits.h"
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_hubconf.h"
#include "d4_log.h"
#include "d4_store_fed.h"
#include "d4_util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define BATCH_CTYPE "application/vnd.d4hub.batch"
/* how long a stop waits for batches the writer has not finished */
#define STOP_WAIT_MS 5000

/* What this port knows of one partner: its quota state and the sources of
 * its pulls (in memory: a restart refills the quota's bucket). */
struct fpeer {
	char name[D4_PARTNER_NAME_MAX];
	struct d4_fed_quota quota;
	struct d4_fed_source *src[D4_FED_KIND_COUNT];
	struct d4_api_fed_peer_stats st;
};

/* One inbox batch at the writer. Owned by the list until done. */
struct pend {
	h2o_linklist_t link;
	h2o_req_t *req;	     /* NULL once the request went away */
	struct pend **ref;   /* in the request's pool, points back here */
	uint8_t *body;	     /* the batch, copied out of the request */
	struct d4_fed_rx rx; /* rx.batch points into body */
	struct fpeer *peer;
};

struct d4_api_fedops {
	struct d4_store *store;
	const struct d4_hubconf *conf;
	struct d4_fed_self self;
	struct d4_partner_net own_nets[D4_FED_OWN_NETS_MAX]; /* self.own_nets */
	int efd, efd_owned; /* the writer's eventfd (efd_owned: not yet handed to h2o) */
	h2o_socket_t *esock;
	h2o_linklist_t pending;
	/* grown on loop 0, listed by the status handlers on any loop thread:
	 * peers_mu guards the array (each fpeer is allocated once and never
	 * moves; its counters are added to atomically) */
	pthread_mutex_t peers_mu;
	struct fpeer **peers; /* each allocated once: pending batches point at theirs */
	size_t npeers;
};

/* ---- answers ------------------------------------------------------------------ */

static void answer(h2o_req_t *req, int status, const char *reason, const char *ctype, const char *body, size_t len)
{
	req->res.status = status;
	req->res.reason = reason;
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype, strlen(ctype));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
	req->res.content_length = len;
	h2o_send_inline(req, body, len);
}

/* problem+json; extra: further members (",\"a\":1"), or "". detail must
 * need no JSON escaping beyond what json_str does. */
static void json_str(char *out, size_t size, const char *s)
{
	size_t o = 0;
	for (; *s && o + 7 < size; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20 || ch >= 0x7f) {
			o += (size_t)snprintf(out + o, size - o, "\\u%04x", ch);
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o] = '\0';
}

static void problem(h2o_req_t *req, int status, const char *reason, const char *type, const char *detail,
		    const char *extra)
{
	char d[600];
	json_str(d, sizeof(d), detail);
	size_t cap = strlen(d) + strlen(extra ? extra : "") + 256;
	char *body = h2o_mem_alloc_pool(&req->pool, cap);
	int n = snprintf(
	    body, cap,
	    "{\"type\":\"https://d4hub.invalid/problems/%s\",\"title\":\"%s\",\"status\":%d,\"detail\":\"%s\"%s}", type,
	    reason, status, d, extra ? extra : "");
	answer(req, status, reason, "application/problem+json", body, (size_t)n);
}

static void retry_after(h2o_req_t *req, uint64_t seconds)
{
	char v[24];
	int n = snprintf(v, sizeof(v), "%" PRIu64, seconds ? seconds : 1);
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, h2o_strdup(&req->pool, v, n).base,
		       (size_t)n);
}

static char *hex_of(h2o_mem_pool_t *pool, const uint8_t *b, size_t n)
{
	char *s = h2o_mem_alloc_pool(pool, n * 2 + 1);
	d4_hex_encode(b, n, s);
	s[n * 2] = '\0';
	return s;
}

/* ---- partners ------------------------------------------------------------------ */

static struct fpeer *peer_find_add(struct d4_api_fedops *o, const char *name)
{
	for (size_t i = 0; i < o->npeers; i++)
		if (strcmp(o->peers[i]->name, name) == 0)
			return o->peers[i];
	struct fpeer **n = realloc(o->peers, (o->npeers + 1) * sizeof(*n));
	if (!n)
		return NULL;
	o->peers = n;
	struct fpeer *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	d4_strlcpy(p->name, name, sizeof(p->name));
	o->peers[o->npeers++] = p;
	return p;
}

static struct fpeer *peer_of(struct d4_api_fedops *o, const char *name)
{
	pthread_mutex_lock(&o->peers_mu);
	struct fpeer *p = peer_find_add(o, name);
	pthread_mutex_unlock(&o->peers_mu);
	return p;
}

/* The partner as stored now (the connection was mapped at its handshake;
 * the rules may have changed since). NULL with an answer sent. */
static struct d4_partner *partner_now(struct d4_api_fedops *o, h2o_req_t *req, const char *name)
{
	struct d4_partner *p = malloc(sizeof(*p));
	if (!p) {
		problem(req, 500, "Internal Server Error", "internal", "out of memory", "");
		return NULL;
	}
	int rc = d4_store_partner_get(o->store, name, p);
	if (rc != 0 || !p->enabled) {
		free(p);
		problem(req, 403, "Forbidden", "forbidden",
			rc == 0 ? "the partner is disabled" : "the partner is no longer configured", "");
		return NULL;
	}
	return p;
}

/* ---- the inbox -------------------------------------------------------------------- */

static void refuse_batch(struct fpeer *fp, enum d4_api_fed_refusal r, const char *partner, const char *why)
{
	uint64_t n = fp ? __atomic_add_fetch(&fp->st.refused[r], 1, __ATOMIC_RELAXED) : 0;
	/* the 1st, 2nd, 4th... of each reason per partner: a partner in a
	 * loop of bad batches cannot fill the log */
	if (!fp || (n & (n - 1)) == 0)
		d4_notice("federation: batch from partner %s refused: %s (%s; %" PRIu64 " so far)", partner,
			  d4_api_fed_refusal_name(r), why, n);
}

static void ref_dispose(void *arg)
{
	struct pend **ref = arg;
	if (*ref) {
		(*ref)->req = NULL;
		(*ref)->ref = NULL;
	}
}

static void pend_free(struct pend *pd)
{
	if (h2o_linklist_is_linked(&pd->link))
		h2o_linklist_unlink(&pd->link);
	if (pd->ref)
		*pd->ref = NULL;
	d4_fed_rx_free(&pd->rx);
	free(pd->body);
	free(pd);
}

/* The writer is done with pd: the answer, if anyone still waits for it. */
static void pend_finish(struct pend *pd)
{
	struct d4_store_fed_batch *b = &pd->rx.batch;
	struct fpeer *fp = pd->peer;
	h2o_req_t *req = pd->req;
	if (pd->ref) {
		*pd->ref = NULL;
		pd->ref = NULL;
	}
	if (b->result == 0 || b->result == D4_EEXIST) {
		__atomic_fetch_add(&fp->st.batches, 1, __ATOMIC_RELAXED);
		if (b->result == 0)
			__atomic_fetch_add(&fp->st.stored, b->stored, __ATOMIC_RELAXED);
		else
			__atomic_fetch_add(&fp->st.duplicates, 1, __ATOMIC_RELAXED);
	} else if (b->result == D4_EBUSY) {
		__atomic_fetch_add(&fp->st.conflicts, 1, __ATOMIC_RELAXED);
	}
	if (!req) {
		pend_free(pd);
		return;
	}
	char *pos = hex_of(&req->pool, b->pos, b->pos_len);
	if (b->result == 0 || b->result == D4_EEXIST) {
		char refused[D4_FED_IN_COUNT * 48 + 4];
		size_t off = 0;
		refused[0] = '\0';
		for (unsigned k = 1; k < D4_FED_IN_COUNT; k++)
			if (b->refused[k])
				off += (size_t)snprintf(refused + off, sizeof(refused) - off, "%s\"%s\":%" PRIu64,
							off ? "," : "", d4_fed_in_reason_name((enum d4_fed_in_reason)k),
							b->refused[k]);
		size_t cap = strlen(pos) + off + 160;
		char *body = h2o_mem_alloc_pool(&req->pool, cap);
		int n = snprintf(body, cap,
				 "{\"result\":\"%s\",\"position\":\"%s\",\"stored\":%" PRIu64 ",\"refused\":{%s}}\n",
				 b->result == 0 ? "stored" : "duplicate", pos, b->result == 0 ? b->stored : 0, refused);
		answer(req, 200, "OK", "application/json", body, (size_t)n);
	} else if (b->result == D4_EBUSY) {
		size_t cap = strlen(pos) + 64;
		char *extra = h2o_mem_alloc_pool(&req->pool, cap);
		snprintf(extra, cap, ",\"result\":\"position-mismatch\",\"position\":\"%s\"", pos);
		d4_info("federation: batch from partner %s: position mismatch, answered where this hub is", fp->name);
		problem(req, 409, "Conflict", "position-mismatch",
			"the batch does not start at the position this hub stored last: continue from `position`",
			extra);
	} else if (b->result == D4_EFULL || b->result == D4_EAGAIN) {
		refuse_batch(fp, D4_API_FED_BUSY, fp->name, d4_strerror(b->result));
		retry_after(req, 5);
		problem(req, 503, "Service Unavailable", "store-unavailable",
			"the store cannot take the batch now (full or paused); retry later", "");
	} else {
		d4_warn("federation: batch from partner %s: the store failed: %s", fp->name, d4_strerror(b->result));
		problem(req, 500, "Internal Server Error", "internal", d4_strerror(b->result), "");
	}
	pend_free(pd);
}

static void on_event(h2o_socket_t *sock, const char *err)
{
	struct d4_api_fedops *o = sock->data;
	(void)err;
	h2o_buffer_consume(&sock->input, sock->input->size);
	h2o_linklist_t *n = o->pending.next;
	while (n != &o->pending) {
		struct pend *pd = H2O_STRUCT_FROM_MEMBER(struct pend, link, n);
		n = n->next;
		if (__atomic_load_n(&pd->rx.batch.done, __ATOMIC_ACQUIRE))
			pend_finish(pd);
	}
}

static int kind_of(const char *s, size_t len, uint8_t *out)
{
	char k[24];
	if (len == 0 || len >= sizeof(k))
		return -1;
	memcpy(k, s, len);
	k[len] = '\0';
	int v = d4_fed_kind_parse(k);
	if (v < 0)
		return -1;
	*out = (uint8_t)v;
	return 0;
}

static void inbox(struct d4_api_fedops *o, h2o_req_t *req, const char *partner, uint8_t kind)
{
	int lim = d4_api_guard_refused(req);
	if (lim) {
		/* the guard stopped reading the body */
		struct fpeer *fp = peer_of(o, partner);
		if (lim == D4_LIM_BODY_SIZE) {
			refuse_batch(fp, D4_API_FED_TOO_LARGE, partner, "body over the cap");
			problem(req, 413, "Payload Too Large", "too-large", "a batch is at most 4 MiB", "");
		} else if (lim == D4_LIM_INFLIGHT_TOTAL) {
			retry_after(req, 1);
			problem(req, 503, "Service Unavailable", "busy", "too many request bytes in flight", "");
		} else if (lim == D4_LIM_INFLIGHT_ADDR) {
			retry_after(req, 1);
			problem(req, 429, "Too Many Requests", "too-many-requests",
				"too many request bytes in flight for this address", "");
		} else {
			problem(req, 400, "Bad Request", "bad-request", "request refused before its body", "");
		}
		return;
	}
	ssize_t ct = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
	h2o_iovec_t ctv = ct >= 0 ? req->headers.entries[ct].value : h2o_iovec_init(NULL, 0);
	if (!(ctv.len >= sizeof(BATCH_CTYPE) - 1 &&
	      h2o_lcstris(ctv.base, sizeof(BATCH_CTYPE) - 1, H2O_STRLIT(BATCH_CTYPE)) &&
	      (ctv.len == sizeof(BATCH_CTYPE) - 1 || ctv.base[sizeof(BATCH_CTYPE) - 1] == ';'))) {
		problem(req, 415, "Unsupported Media Type", "unsupported-media-type", "the body must be " BATCH_CTYPE,
			"");
		return;
	}
	size_t len = req->entity.base ? req->entity.len : 0;
	struct fpeer *fp = peer_of(o, partner);
	if (!fp) {
		problem(req, 500, "Internal Server Error", "internal", "out of memory", "");
		return;
	}
	if (len > d4_api_fedops_body_limit()) {
		refuse_batch(fp, D4_API_FED_TOO_LARGE, partner, "body over the cap");
		problem(req, 413, "Payload Too Large", "too-large", "a batch is at most 4 MiB", "");
		return;
	}
	struct d4_partner *p = partner_now(o, req, partner);
	if (!p)
		return;
	struct pend *pd = calloc(1, sizeof(*pd));
	uint8_t *body = pd ? malloc(len ? len : 1) : NULL;
	if (!body) {
		free(pd);
		free(p);
		problem(req, 500, "Internal Server Error", "internal", "out of memory", "");
		return;
	}
	if (len)
		memcpy(body, req->entity.base, len);
	pd->body = body;
	pd->peer = fp;
	char why[256];
	struct d4_fed_store_types tc;
	struct d4_fed_rx_filter filter;
	d4_fed_store_types_init(&tc, o->store, &filter);
	int rc = d4_fed_receive_prepare_with(&o->self, p, kind, body, len, &filter, &pd->rx, why, sizeof(why));
	if (rc != D4_FED_RX_OK) {
		free(p);
		pend_free(pd);
		if (rc < 0) {
			problem(req, 500, "Internal Server Error", "internal", d4_strerror(rc), "");
			return;
		}
		enum d4_api_fed_refusal r = rc == D4_FED_RX_SENDER	   ? D4_API_FED_SENDER
					    : rc == D4_FED_RX_NOT_ACCEPTED ? D4_API_FED_KIND
					    : rc == D4_FED_RX_KIND	   ? D4_API_FED_WRONG_KIND
									   : D4_API_FED_MALFORMED;
		refuse_batch(fp, r, partner, why);
		int forbidden = r == D4_API_FED_SENDER || r == D4_API_FED_KIND;
		problem(req, forbidden ? 403 : 400, forbidden ? "Forbidden" : "Bad Request", d4_api_fed_refusal_name(r),
			why, "");
		return;
	}
	uint64_t retry_ms = 0;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	enum d4_fed_in_reason q =
	    d4_fed_quota_take(&fp->quota, p, pd->rx.nrecords, len,
			      (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u, &retry_ms);
	free(p);
	if (q != D4_FED_IN_STORED) {
		pend_free(pd);
		enum d4_api_fed_refusal r =
		    q == D4_FED_IN_QUOTA_BYTES ? D4_API_FED_QUOTA_BYTES : D4_API_FED_QUOTA_RECORDS;
		refuse_batch(fp, r, partner, d4_fed_in_reason_name(q));
		retry_after(req, (retry_ms + 999) / 1000);
		problem(req, 429, "Too Many Requests", d4_fed_in_reason_name(q),
			q == D4_FED_IN_QUOTA_BYTES ? "the partner's inbound quota of bytes per day is used up"
						   : "the partner's inbound quota of records per second is used up",
			"");
		return;
	}
	pd->rx.batch.notify_fd = o->efd;
	rc = d4_store_fed_submit(o->store, &pd->rx.batch);
	if (rc != 0) {
		pend_free(pd);
		refuse_batch(fp, D4_API_FED_BUSY, partner, d4_strerror(rc));
		if (rc == D4_EAGAIN || rc == D4_ECLOSED) {
			retry_after(req, 1);
			problem(req, 503, "Service Unavailable", "store-unavailable",
				"the store's writer cannot take the batch now; retry later", "");
		} else {
			problem(req, 500, "Internal Server Error", "internal", d4_strerror(rc), "");
		}
		return;
	}
	pd->req = req;
	pd->ref = h2o_mem_alloc_shared(&req->pool, sizeof(*pd->ref), ref_dispose);
	*pd->ref = pd;
	h2o_linklist_insert(&o->pending, &pd->link);
	/* the writer may already be done: its eventfd write is seen at the next turn */
}

/* ---- the pull ------------------------------------------------------------------------ */

/* from=<hex> of the query (absent: the start of the log). 0 or -1. */
static int query_from(h2o_req_t *req, uint8_t *out, size_t *outlen)
{
	*outlen = 0;
	if (req->query_at == SIZE_MAX)
		return 0;
	const char *q = req->path.base + req->query_at + 1;
	size_t qlen = req->path.len - req->query_at - 1;
	int seen = 0;
	while (qlen) {
		const char *amp = memchr(q, '&', qlen);
		size_t plen = amp ? (size_t)(amp - q) : qlen;
		if (plen >= 5 && memcmp(q, "from=", 5) == 0 && !seen) {
			size_t h = plen - 5;
			if (h % 2 || h / 2 > D4_FED_POS_MAX || (h && d4_hex_decode(q + 5, h, out, h / 2) != 0))
				return -1;
			*outlen = h / 2;
			seen = 1;
		} else if (plen) {
			return -1;
		}
		if (!amp)
			break;
		qlen -= plen + 1;
		q = amp + 1;
	}
	return 0;
}

static void pull(struct d4_api_fedops *o, h2o_req_t *req, const char *partner, uint8_t kind)
{
	uint8_t from[D4_FED_POS_MAX];
	size_t from_len = 0;
	if (query_from(req, from, &from_len) != 0) {
		problem(req, 400, "Bad Request", "bad-request",
			"the query is from=<hex> (an even number of hex digits, at most 4200 bytes), nothing else", "");
		return;
	}
	struct fpeer *fp = peer_of(o, partner);
	struct d4_partner *p = fp ? partner_now(o, req, partner) : NULL;
	if (!fp) {
		problem(req, 500, "Internal Server Error", "internal", "out of memory", "");
		return;
	}
	if (!p)
		return;
	if (p->direction != D4_PARTNER_PULL && p->direction != D4_PARTNER_BOTH) {
		free(p);
		refuse_batch(fp, D4_API_FED_NO_PULL, partner, "direction is push");
		problem(req, 403, "Forbidden", "pull-not-allowed", "this partner's direction is push: it does not pull",
			"");
		return;
	}
	int rc = 0;
	if (!fp->src[kind]) {
		struct d4_fed_source_opts so;
		memset(&so, 0, sizeof(so));
		so.self = &o->self;
		so.pdns_csv_fields = o->conf ? o->conf->pdns_csv_fields : NULL;
		so.pdns_csv_separator = o->conf ? o->conf->pdns_csv_separator : NULL;
		rc = d4_fed_source_new(o->store, &so, kind, &fp->src[kind]);
	}
	struct d4_store_fed_out *fo = rc == 0 ? malloc(sizeof(*fo)) : NULL;
	struct d4_fed_counters *dec = fo ? calloc(1, sizeof(*dec)) : NULL;
	if (!dec) {
		free(fo);
		free(p);
		problem(req, 500, "Internal Server Error", "internal", rc ? d4_strerror(rc) : "out of memory", "");
		return;
	}
	rc = d4_store_fed_out_get(o->store, partner, kind, fo);
	if (rc == D4_ENOTFOUND)
		rc = 0;
	int dirty = 0;
	if (rc == 0 && fo->pend_len && fo->pend_len == from_len && memcmp(fo->pend_pos, from, from_len) == 0) {
		/* the partner asks for where the batch served last ended: it
		 * has that batch; its decisions and position are acknowledged */
		memcpy(fo->pos, fo->pend_pos, fo->pend_len);
		fo->pos_len = fo->pend_len;
		if (fo->ndecisions < fo->npend)
			fo->ndecisions = fo->npend;
		uint64_t any = fo->pend_records;
		for (unsigned i = 0; i < fo->npend && i < D4_STORE_FED_REASONS; i++) {
			fo->decisions[i] += fo->pend_decisions[i];
			any += fo->pend_decisions[i];
		}
		if (any) {
			fo->batches++;
			fo->records += fo->pend_records;
			fo->bytes += fo->pend_bytes;
		}
		fo->last_ack = (uint64_t)time(NULL);
		fo->pend_len = 0;
		fo->npend = 0;
		fo->pend_records = fo->pend_bytes = 0;
		memset(fo->pend_decisions, 0, sizeof(fo->pend_decisions));
		dirty = 1;
	}
	const uint8_t *out = NULL;
	size_t outlen = 0;
	uint32_t records = 0;
	int more = 0;
	if (rc == 0)
		rc = d4_fed_source_next(fp->src[kind], p, from, from_len, &out, &outlen, dec, &records, &more);
	free(p);
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	if (rc == 0 && d4_fed_batch_open(out, outlen, &h, &it) < 0)
		rc = D4_EINVAL; /* our own encoder's output: cannot happen */
	if (rc == 0) {
		memcpy(fo->pend_pos, h.to, h.to_len);
		fo->pend_len = h.to_len;
		fo->npend = D4_FED_R_COUNT;
		for (unsigned i = 0; i < D4_FED_R_COUNT; i++)
			fo->pend_decisions[i] = dec->n[kind][i];
		fo->pend_records = records;
		fo->pend_bytes = outlen;
		dirty = 1;
	}
	if (dirty) {
		int prc = d4_store_fed_out_put(o->store, partner, kind, fo);
		if (rc == 0)
			rc = prc;
	}
	free(fo);
	free(dec);
	if (rc != 0) {
		d4_warn("federation: pull of %s by partner %s failed: %s", d4_fed_kind_name((enum d4_fed_kind)kind),
			partner, d4_strerror(rc));
		if (rc == D4_EFULL || rc == D4_EAGAIN) {
			retry_after(req, 5);
			problem(req, 503, "Service Unavailable", "store-unavailable", d4_strerror(rc), "");
		} else {
			problem(req, 500, "Internal Server Error", "internal", d4_strerror(rc), "");
		}
		return;
	}
	__atomic_fetch_add(&fp->st.pulls, 1, __ATOMIC_RELAXED);
	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-d4hub-more"), 0, NULL, more ? "1" : "0", 1);
	/* h2o_send_inline copies: the source's buffer is reused by the next pull */
	answer(req, 200, "OK", BATCH_CTYPE, (const char *)out, outlen);
}

/* ---- routing and life cycle ------------------------------------------------------------ */

int d4_api_fedops_handle(struct d4_api_fedops *o, h2o_req_t *req, const char *partner)
{
	static const char inbox_p[] = "/federation/v1/inbox/", pull_p[] = "/federation/v1/pull/";
	h2o_iovec_t p = req->path_normalized;
	int is_inbox = p.len > sizeof(inbox_p) - 1 && memcmp(p.base, inbox_p, sizeof(inbox_p) - 1) == 0;
	int is_pull = p.len > sizeof(pull_p) - 1 && memcmp(p.base, pull_p, sizeof(pull_p) - 1) == 0;
	if (!o || (!is_inbox && !is_pull))
		return -1;
	size_t skip = is_inbox ? sizeof(inbox_p) - 1 : sizeof(pull_p) - 1;
	uint8_t kind;
	if (memchr(p.base + skip, '/', p.len - skip) || kind_of(p.base + skip, p.len - skip, &kind) != 0)
		return -1;
	if (kind >= D4_FED_KIND_COUNT) {
		/* a kind of the model without data (none since certs) */
		problem(req, 404, "Not Found", "kind-not-served", "this hub exchanges no records of this kind yet", "");
		return 0;
	}
	const char *want = is_inbox ? "POST" : "GET";
	if (!h2o_memis(req->method.base, req->method.len, want, strlen(want))) {
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, want, strlen(want));
		problem(req, 405, "Method Not Allowed", "method-not-allowed", is_inbox ? "POST only" : "GET only", "");
		return 0;
	}
	if (is_inbox)
		inbox(o, req, partner, kind);
	else
		pull(o, req, partner, kind);
	return 0;
}

uint64_t d4_api_fedops_body_limit(void)
{
	/* a batch, and room for a header at its largest (two positions) */
	return (uint64_t)D4_FED_BATCH_MAX + 16384u;
}

struct d4_api_fedops *d4_api_fedops_new(struct d4_store *store, const struct d4_hubconf *conf)
{
	struct d4_api_fedops *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->store = store;
	o->conf = conf;
	o->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (o->efd < 0) {
		free(o);
		return NULL;
	}
	pthread_mutex_init(&o->peers_mu, NULL);
	o->efd_owned = 1;
	if (conf) {
		memcpy(o->self.hub, conf->hub_uuid, 16);
		memcpy(o->self.org, conf->org, 16);
		o->self.default_tlp = (enum d4_tlp)conf->default_tlp;
		char err[128];
		if (d4_fed_nets_parse_list(conf->fed_own_networks, o->own_nets, D4_FED_OWN_NETS_MAX,
					   &o->self.n_own_nets, err, sizeof(err)) == 0)
			o->self.own_nets = o->own_nets;
		else
			o->self.n_own_nets = 0;
		o->self.sign_sk = conf->has_fed_sign ? conf->fed_sign_sk : NULL;
	} else {
		o->self.default_tlp = D4_TLP_RED;
	}
	h2o_linklist_init_anchor(&o->pending);
	return o;
}

void d4_api_fedops_run(struct d4_api_fedops *o, h2o_evloop_t *loop)
{
	if (!o)
		return;
	o->esock = h2o_evloop_socket_create(loop, o->efd, H2O_SOCKET_FLAG_DONT_READ);
	o->efd_owned = 0; /* h2o closes it now; batches still carry its number for the writer */
	o->esock->data = o;
	h2o_socket_read_start(o->esock, on_event);
}

void d4_api_fedops_stop(struct d4_api_fedops *o, h2o_evloop_t *loop)
{
	if (!o || !o->esock)
		return;
	/* batches at the writer point into memory of ours: wait for them */
	uint64_t deadline = d4_mono_ms() + STOP_WAIT_MS;
	while (!h2o_linklist_is_empty(&o->pending) && d4_mono_ms() < deadline)
		h2o_evloop_run(loop, 50);
	h2o_socket_read_stop(o->esock);
	if (!h2o_linklist_is_empty(&o->pending)) {
		/* The writer still holds them, and will write to the eventfd: the
		 * socket leaves the loop (which is destroyed after this) but the
		 * descriptor stays open, so that its number is never reused for
		 * something else the writer would write into. The batches and
		 * the descriptor are left to the exit. */
		h2o_socket_export_t ex;
		if (h2o_socket_export(o->esock, &ex) == 0 && ex.input)
			h2o_buffer_dispose(&ex.input);
		d4_notice("federation: batches still at the store's writer at stop; left to it");
		o->esock = NULL;
		return;
	}
	h2o_socket_close(o->esock);
	o->esock = NULL;
}

void d4_api_fedops_free(struct d4_api_fedops *o)
{
	if (!o)
		return;
	if (!h2o_linklist_is_empty(&o->pending))
		return; /* still in the writer's hands: see d4_api_fedops_stop */
	if (o->efd_owned)
		close(o->efd);
	for (size_t i = 0; i < o->npeers; i++) {
		for (unsigned k = 0; k < D4_FED_KIND_COUNT; k++)
			d4_fed_source_free(o->peers[i]->src[k]);
		free(o->peers[i]);
	}
	free(o->peers);
	pthread_mutex_destroy(&o->peers_mu);
	free(o);
}

size_t d4_api_fedops_peers(const struct d4_api_fedops *o, const char **names,
			   const struct d4_api_fed_peer_stats **stats, size_t max)
{
	size_t n = 0;
	if (!o)
		return 0;
	pthread_mutex_lock((pthread_mutex_t *)&o->peers_mu);
	for (size_t i = 0; i < o->npeers && n < max; i++, n++) {
		names[n] = o->peers[i]->name;
		stats[n] = &o->peers[i]->st;
	}
	pthread_mutex_unlock((pthread_mutex_t *)&o->peers_mu);
	return n;
}

const char *d4_api_fed_refusal_name(enum d4_api_fed_refusal r)
{
	switch (r) {
	case D4_API_FED_MALFORMED: return "malformed";
	case D4_API_FED_WRONG_KIND: return "wrong-kind";
	case D4_API_FED_SENDER: return "wrong-sender";
	case D4_API_FED_KIND: return "kind-not-accepted";
	case D4_API_FED_QUOTA_RECORDS: return "quota-records";
	case D4_API_FED_QUOTA_BYTES: return "quota-bytes";
	case D4_API_FED_TOO_LARGE: return "too-large";
	case D4_API_FED_BUSY: return "store-unavailable";
	case D4_API_FED_NO_PULL: return "pull-not-allowed";
	default: return "invalid";
	}
}
