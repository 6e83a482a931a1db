/* d4hub — federation: the sender thread (d4_federation.h "the sender
 * thread"; docs/federation.md "Push and pull").
 *
 * One thread drives one libcurl multi handle: at most one connection per
 * partner (HTTP/2, every request of that partner multiplexed on it), the
 * partner authenticated in the handshake (fed_xport.c). Work is a list of
 * jobs, one per (partner, kind, direction): push builds the next batch from
 * the acknowledged position (d4_fed_source_next) and POSTs it to the
 * partner's inbox; fetch GETs the partner's pull endpoint from this hub's
 * receiver position and stores what arrives like a push. A push job has
 * up to [federation] inflight batches in flight (fed_window.c), each built
 * from the previous one's end and sent once the previous body is out;
 * positions only move on the partner's answers, in batch order, so nothing
 * is ever skipped, and the receiver's position rule makes every resend
 * harmless (a transfer cut at any point is simply built and sent again).
 *
 * Partners are read again when the store's control epoch moves; if any
 * partner changed, every transfer is dropped and every connection closed
 * (a connection's checks were made against the partner as it was), then
 * the jobs are made anew. Status is kept per (partner, kind, direction)
 * under a mutex and survives that. */
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_log.h"
#include "d4_util.h"
#include "fed_window.h"
#include "fed_xport.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#define PUSH_ANSWER_MAX	   (64u * 1024u)	      /* a JSON acknowledgement or problem */
#define PULL_ANSWER_MAX	   (D4_FED_BATCH_MAX + 4096u) /* one batch */
#define RETRY_AFTER_MAX_MS (3600u * 1000u)	      /* a partner cannot park us longer than that */
#define LAG_EVERY_MS	   200u	  /* the lag is read that often per idle push job (cheap: totals and one frame) */
#define EPOCH_EVERY_MS	   1000u  /* partner changes apply within a second */
#define HELLO_IDLE_MS	   60000u /* an idle push job says hello after that long without an answer */
#define FETCH_IDLE_FACTOR  20u	  /* an idle pull is asked again after poll_ms × this */
/* Batches pushed to one partner at once, all kinds together, beyond the
 * first of each kind: the partner's federation port takes the bodies of
 * four batches in flight per address (api/fedlisten.c), a fifth is
 * answered 429 */
#define PARTNER_BATCHES_MAX 4u

enum job_state { J_IDLE = 0, J_BUSY, J_SUBMITTED };

struct fs_partner {
	struct d4_partner *p;	   /* owned */
	struct d4_fed_quota quota; /* inbound quota of what is fetched from it */
	uint8_t *enc;		   /* the stored encoding: what "changed" means */
	size_t enc_len;
	struct fed_peer_tls tls;
	int up;	       /* -1 not known yet, 0 down, 1 up: logged on change */
	unsigned busy; /* batches pushed to it in flight, all kinds */
};

struct buf {
	uint8_t *p;
	size_t len, cap, max;
	int over;
};

struct fs_job;

/* One request of a job. Push: one per batch in flight (a slot of the
 * job's window, with its own handle and its own copy of the batch); the
 * job's own handle (hello, fetch) has one too, with ctl set. */
struct fs_req {
	struct fs_job *j;
	int ctl;
	CURL *e;
	struct buf answer;
	char errbuf[CURL_ERROR_SIZE];
	int active;   /* added to the multi handle */
	int uploaded; /* the body is handed over whole */
	uint8_t *body;
	size_t body_len, body_cap;
	struct d4_fed_counters dec;
	uint32_t records;
	int more;
};

struct fs_job {
	struct d4_fed_sender *fs;
	struct fs_partner *pt;
	uint8_t kind;
	int fetch;
	size_t st; /* index in fs->stat */
	enum job_state state;
	uint64_t next_ms; /* monotonic: not before */
	unsigned failures;
	uint64_t lag_at;
	uint64_t contact_ms; /* monotonic: the partner's last answer to this job */
	CURL *e;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	char *url; /* push: constant; fetch: per request */
	struct buf answer;
	struct fs_req ctl; /* what CURLOPT_PRIVATE of e points to */
	/* push: the batches in flight, oldest first (win), each in the slot
	 * rq[] of its ring index */
	struct fw *win;
	struct fs_req *rq; /* FW_MAX */
	int draining;	   /* a batch failed: no new one until the earlier ones are answered */
	struct d4_fed_source *src;
	struct d4_store_fed_out *out;
	char *hello_url;
	int probing; /* the request in flight is GET /federation/v1/hello */
	/* push: the acknowledged position and the end of the batch built
	 * last; fetch: the position asked from */
	uint8_t from[D4_FED_POS_MAX], to[D4_FED_POS_MAX];
	size_t from_len, to_len;
	int more; /* fetch: x-d4hub-more */
	/* fetch: this hub's receiver position for the partner, and the batch
	 * handed to the writer (its bytes are `answer`, untouched until done) */
	struct d4_store_fed_in *in;
	struct d4_fed_rx rx;
	int rx_live;
};

/* Status of one (partner, kind, direction). */
struct fs_stat {
	char name[D4_PARTNER_NAME_MAX];
	uint8_t kind;
	uint8_t fetch;
	struct d4_fed_status st;
};

struct d4_fed_sender {
	struct d4_store *s;
	struct d4_fed_self self;
	char *cert, *key;
	char *csv_fields, *csv_sep;
	unsigned poll_ms, backoff_min, backoff_max, timeout_ms, inflight;
	struct d4_fed_source_opts sopts;
	pthread_t thread;
	int started;
	int wake_fd; /* stop */
	int done_fd; /* the writer says a fetched batch is done */
	int stop;    /* __atomic */
	uint64_t rnd;

	/* sender thread only */
	CURLM *multi;
	struct fs_partner *pts;
	size_t npts;
	struct fs_job *jobs;
	size_t njobs;
	uint64_t epoch;
	int loaded;

	/* shared with d4_fed_sender_status */
	pthread_mutex_t mu;
	struct fs_stat *stat;
	size_t nstat;
};

/* ---- small helpers ---- */

static uint64_t rnd_next(struct d4_fed_sender *fs)
{
	/* xorshift64*: jitter only, nothing secret */
	uint64_t x = fs->rnd;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	fs->rnd = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static size_t buf_write(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t k = size * n;
	if (b->len + k > b->max) {
		b->over = 1;
		return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
	}
	if (b->len + k > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + k)
			cap *= 2;
		if (cap > b->max)
			cap = b->max;
		uint8_t *p = realloc(b->p, cap);
		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, k);
	b->len += k;
	return k;
}

static const char *job_dir(const struct fs_job *j)
{
	return j->fetch ? "fetch" : "push";
}

/* Copies the status of j under the lock: fn edits it. */
#define STAT_EDIT(j, stmt)                                                                                             \
	do {                                                                                                           \
		pthread_mutex_lock(&(j)->fs->mu);                                                                      \
		struct d4_fed_status *S = &(j)->fs->stat[(j)->st].st;                                                  \
		stmt;                                                                                                  \
		pthread_mutex_unlock(&(j)->fs->mu);                                                                    \
	} while (0)

/* The partner's URL for the log, without a userinfo part (user:password@)
 * should one have been configured. */
static void url_for_log(const char *url, char *out, size_t outlen)
{
	const char *auth = strstr(url, "://");
	auth = auth ? auth + 3 : url;
	size_t alen = strcspn(auth, "/?#");
	const char *at = memchr(auth, '@', alen);
	if (at)
		snprintf(out, outlen, "%.*s%s", (int)(auth - url), url, at + 1);
	else
		snprintf(out, outlen, "%s", url);
}

static void partner_up(struct fs_partner *pt)
{
	if (pt->up != 1) {
		char u[D4_PARTNER_URL_MAX];
		url_for_log(pt->p->url, u, sizeof(u));
		d4_notice("federation: partner %s up (%s)", pt->p->name, u);
	}
	pt->up = 1;
}

static void partner_down(struct fs_partner *pt, const char *why)
{
	if (pt->up != 0)
		d4_notice("federation: partner %s down: %s", pt->p->name, why);
	pt->up = 0;
}

/* The delay before the next try after `failures` consecutive failures:
 * exponential from backoff_min, capped at backoff_max, half of it random
 * so that hubs restarted together do not retry in step. */
static uint64_t backoff_ms(struct d4_fed_sender *fs, unsigned failures)
{
	uint64_t b = fs->backoff_min;
	for (unsigned i = 1; i < failures && b < fs->backoff_max; i++)
		b *= 2;
	if (b > fs->backoff_max)
		b = fs->backoff_max;
	uint64_t half = b / 2;
	return b - half + (half ? rnd_next(fs) % (half + 1) : 0);
}

/* Where a try failed: here (store, memory: the partner's state is not
 * known anew), at the partner (it answered: it is up), or on the way (no
 * answer: it is down). */
enum fail_at { F_LOCAL = 0, F_PARTNER, F_LINK };

/* A failed try: counted, logged at the first of a series, retried after
 * the backoff (or after retry_ms when the partner said so). */
static void job_fail(struct fs_job *j, enum fail_at at, uint64_t retry_ms, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void job_fail(struct fs_job *j, enum fail_at at, uint64_t retry_ms, const char *fmt, ...)
{
	char why[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	j->failures++;
	uint64_t delay = retry_ms ? retry_ms : backoff_ms(j->fs, j->failures);
	uint64_t now = d4_mono_ms();
	j->next_ms = now + delay;
	j->state = J_IDLE;
	if (at == F_LINK)
		partner_down(j->pt, why);
	else if (at == F_PARTNER) {
		j->contact_ms = now;
		partner_up(j->pt);
	}
	if (j->failures == 1 && at != F_LINK)
		d4_notice("federation: partner %s, %s %s: %s (retrying in %" PRIu64 " ms)", j->pt->p->name, job_dir(j),
			  d4_fed_kind_name(j->kind), why, delay);
	else
		d4_debug("federation: partner %s, %s %s: %s (failure %u, retrying in %" PRIu64 " ms)", j->pt->p->name,
			 job_dir(j), d4_fed_kind_name(j->kind), why, j->failures, delay);
	STAT_EDIT(j, {
		if (at != F_LOCAL)
			S->connected = at == F_PARTNER;
		S->failures = j->failures;
		S->next_try_ms = j->next_ms;
		d4_strlcpy(S->last_error, why, sizeof(S->last_error));
	});
}

/* A try that got what it asked for. */
static void job_ok(struct fs_job *j, uint64_t next_ms, int acked)
{
	if (j->failures)
		d4_notice("federation: partner %s, %s %s: working again after %u failure%s", j->pt->p->name, job_dir(j),
			  d4_fed_kind_name(j->kind), j->failures, j->failures == 1 ? "" : "s");
	j->failures = 0;
	j->next_ms = next_ms;
	j->state = J_IDLE;
	j->contact_ms = d4_mono_ms();
	partner_up(j->pt);
	uint64_t now_s = d4_now_s();
	STAT_EDIT(j, {
		S->connected = 1;
		S->failures = 0;
		S->next_try_ms = next_ms;
		S->last_error[0] = 0; /* the current error: none */
		if (acked)
			S->last_ack = now_s;
	});
}

/* ---- push ---- */

static void push_lag(struct fs_job *j, int force)
{
	uint64_t now = d4_mono_ms();
	if (!force && now < j->lag_at + LAG_EVERY_MS)
		return;
	j->lag_at = now;
	uint64_t rec = 0, sec = 0;
	if (d4_fed_source_lag(j->src, j->out->pos, j->out->pos_len, &rec, &sec) != 0)
		return;
	STAT_EDIT(j, {
		S->lag_records = rec;
		S->lag_seconds = sec;
	});
}

/* Commits position to (and, with r, that batch's decisions and counts)
 * into fed_out, read again first (the pull endpoint writes the same
 * record's pending fields from the API thread). 0 or a store error. */
static int push_commit(struct fs_job *j, const uint8_t *to, size_t to_len, const struct fs_req *r, uint32_t nbatches)
{
	struct d4_store_fed_out *o = j->out;
	int rc = d4_store_fed_out_get(j->fs->s, j->pt->p->name, j->kind, o);
	if (rc != 0 && rc != D4_ENOTFOUND)
		return rc;
	memcpy(o->pos, to, to_len);
	o->pos_len = to_len;
	if (r) {
		unsigned n = D4_FED_R_COUNT < D4_STORE_FED_REASONS ? D4_FED_R_COUNT : D4_STORE_FED_REASONS;
		for (unsigned k = 0; k < n; k++)
			o->decisions[k] += r->dec.n[j->kind][k];
		if (o->ndecisions < n)
			o->ndecisions = (uint8_t)n;
		if (r->records || r->body_len) {
			o->batches += nbatches;
			o->records += r->records;
			o->bytes += r->body_len;
			o->last_ack = d4_now_s();
		}
	}
	return d4_store_fed_out_put(j->fs->s, j->pt->p->name, j->kind, o);
}

/* GET /federation/v1/hello on the job's handle. */
static void probe_start(struct fs_job *j)
{
	j->answer.len = 0;
	j->answer.over = 0;
	j->answer.max = PUSH_ANSWER_MAX;
	j->pt->tls.why[0] = 0;
	j->errbuf[0] = 0;
	CURLcode cr = curl_easy_setopt(j->e, CURLOPT_URL, j->hello_url);
	if (cr == CURLE_OK)
		cr = curl_easy_setopt(j->e, CURLOPT_HTTPGET, 1L);
	if (cr != CURLE_OK || curl_multi_add_handle(j->fs->multi, j->e) != CURLM_OK) {
		job_fail(j, F_LOCAL, 0, "cannot start the request: %s", curl_easy_strerror(cr));
		return;
	}
	j->probing = 1;
	j->state = J_BUSY;
	uint64_t now_s = d4_now_s();
	STAT_EDIT(j, S->last_try = now_s);
}

/* Upload progress of a batch: the next batch's request starts once this
 * one's body is handed over whole, so that the partner's inbox gets the
 * batches in the order they were built (HTTP/2 would interleave two
 * bodies, and the later one could reach the partner's writer first). */
static int req_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	struct fs_req *r = arg;
	if (ultotal > 0 && ulnow >= ultotal)
		r->uploaded = 1;
	return 0;
}

/* The easy handle of a batch slot, made at its first use. */
static int req_handle(struct fs_job *j, struct fs_req *r)
{
	if (r->e)
		return 0;
	r->j = j;
	r->e = curl_easy_init();
	if (!r->e)
		return D4_ENOMEM;
	int rc = fed_xport_setup(r->e, &j->pt->tls, j->fs->cert, j->fs->key, j->fs->timeout_ms, r->errbuf);
	if (rc != 0)
		return rc;
	if (curl_easy_setopt(r->e, CURLOPT_HTTPHEADER, j->hdrs) != CURLE_OK ||
	    curl_easy_setopt(r->e, CURLOPT_URL, j->url) != CURLE_OK ||
	    curl_easy_setopt(r->e, CURLOPT_WRITEFUNCTION, buf_write) != CURLE_OK ||
	    curl_easy_setopt(r->e, CURLOPT_WRITEDATA, &r->answer) != CURLE_OK ||
	    curl_easy_setopt(r->e, CURLOPT_XFERINFOFUNCTION, req_progress) != CURLE_OK ||
	    curl_easy_setopt(r->e, CURLOPT_XFERINFODATA, r) != CURLE_OK ||
	    curl_easy_setopt(r->e, CURLOPT_NOPROGRESS, 0L) != CURLE_OK ||
	    curl_easy_setopt(r->e, CURLOPT_PRIVATE, r) != CURLE_OK)
		return D4_ENOMEM;
	return 0;
}

/* Drops the batch at ring index i and every newer one (their transfers
 * are cut; nothing of them is counted). */
static void push_drop_from(struct fs_job *j, unsigned i)
{
	struct fw *w = j->win;
	int rank = fw_rank(w, i);
	if (rank < 0)
		return;
	for (unsigned k = (unsigned)rank; k < w->n; k++) {
		struct fs_req *r = &j->rq[fw_at(w, k)];
		if (r->active) {
			curl_multi_remove_handle(j->fs->multi, r->e);
			j->pt->busy--;
		}
		r->active = 0;
	}
	fw_drop_from(w, i);
}

/* Builds the batch after position from into slot r (its own copy of the
 * body): 0, or an error already reported through job_fail. *nrec gets the
 * records it holds, to/to_len its end. */
static int push_build(struct fs_job *j, struct fs_req *r, const uint8_t *from, size_t from_len, uint32_t *nrec,
		      uint8_t *to, size_t *to_len)
{
	const uint8_t *body = NULL;
	size_t len = 0;
	memset(&r->dec, 0, sizeof(r->dec));
	r->records = 0;
	r->more = 0;
	int rc = d4_fed_source_next(j->src, j->pt->p, from, from_len, &body, &len, &r->dec, &r->records, &r->more);
	if (rc != 0) {
		job_fail(j, F_LOCAL, 0, "cannot build a batch from the acknowledged position: %s", d4_strerror(rc));
		return rc;
	}
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	rc = d4_fed_batch_open(body, len, &h, &it);
	if (rc != 0 || h.to_len > D4_FED_POS_MAX) {
		job_fail(j, F_LOCAL, 0, "the batch built is malformed: %s", rc ? it.why : "position too long");
		return rc ? rc : D4_EINVAL;
	}
	if (len > r->body_cap) {
		uint8_t *p = realloc(r->body, len);
		if (!p) {
			job_fail(j, F_LOCAL, 0, "out of memory");
			return D4_ENOMEM;
		}
		r->body = p;
		r->body_cap = len;
	}
	memcpy(r->body, body, len);
	r->body_len = len;
	memcpy(to, h.to, h.to_len);
	*to_len = h.to_len;
	*nrec = h.nrecords;
	return 0;
}

/* Starts the request of the batch in slot r: 0 or an error already reported. */
static int push_send(struct fs_job *j, struct fs_req *r)
{
	r->answer.len = 0;
	r->answer.over = 0;
	r->answer.max = PUSH_ANSWER_MAX;
	r->uploaded = 0;
	r->errbuf[0] = 0;
	j->pt->tls.why[0] = 0;
	int rc = req_handle(j, r);
	CURLcode cr = rc == 0 ? curl_easy_setopt(r->e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len)
			      : CURLE_OUT_OF_MEMORY;
	if (cr == CURLE_OK)
		cr = curl_easy_setopt(r->e, CURLOPT_POSTFIELDS, r->body);
	if (cr != CURLE_OK || curl_multi_add_handle(j->fs->multi, r->e) != CURLM_OK) {
		job_fail(j, F_LOCAL, 0, "cannot start the request: %s", curl_easy_strerror(cr));
		return D4_EIO;
	}
	r->active = 1;
	j->pt->busy++;
	uint64_t now_s = d4_now_s();
	STAT_EDIT(j, S->last_try = now_s);
	return 0;
}

/* Nothing in flight: the first batch from the acknowledged position. */
static void push_start(struct fs_job *j)
{
	struct d4_fed_sender *fs = j->fs;
	uint64_t now = d4_mono_ms();
	struct fw *w = j->win;
	fw_init(w, fs->inflight);
	j->draining = 0;
	int rc = d4_store_fed_out_get(fs->s, j->pt->p->name, j->kind, j->out);
	if (rc != 0 && rc != D4_ENOTFOUND) {
		job_fail(j, F_LOCAL, 0, "cannot read the acknowledged position: %s", d4_strerror(rc));
		return;
	}
	memcpy(j->from, j->out->pos, j->out->pos_len);
	j->from_len = j->out->pos_len;
	/* also while the partner cannot be reached: the lag is what grows */
	if (j->lag_at == 0) {
		/* the last acknowledgement before this start */
		uint64_t acked = j->out->last_ack;
		STAT_EDIT(j, if (!S->last_ack) S->last_ack = acked);
	}
	push_lag(j, j->lag_at == 0);
	unsigned i = fw_at(w, 0);
	struct fs_req *r = &j->rq[i];
	uint32_t nrec = 0;
	if (push_build(j, r, j->from, j->from_len, &nrec, j->to, &j->to_len) != 0)
		return;
	int moved = !(j->to_len == j->from_len && memcmp(j->to, j->from, j->to_len) == 0);
	/* A batch that releases nothing but moves the position (everything
	 * refused) is committed here without a request only while the partner
	 * holds no position from this hub (it never acknowledged a batch: it
	 * takes the next one from wherever it starts). Otherwise it is sent like
	 * any other, so that the partner's position moves with ours: else the
	 * next batch would be answered 409 with the old position, and its
	 * records decided, and counted, a second time. */
	if (nrec == 0 && moved && j->out->batches == 0) {
		r->body_len = 0;
		rc = push_commit(j, j->to, j->to_len, r, 1);
		if (rc != 0) {
			job_fail(j, F_LOCAL, 0, "cannot commit the position: %s", d4_strerror(rc));
			return;
		}
	}
	if (nrec == 0 && (!moved || j->out->batches == 0)) {
		push_lag(j, moved);
		j->state = J_IDLE;
		j->next_ms = r->more ? now : now + fs->poll_ms;
		STAT_EDIT(j, S->next_try_ms = j->next_ms);
		/* nothing to say, and the partner not known to be up: say hello,
		 * so that the status (and the log) tells a partner that cannot be
		 * reached, or is not who it should be, before data waits for it */
		if (!moved && (j->pt->up != 1 || now >= j->contact_ms + HELLO_IDLE_MS))
			probe_start(j);
		return;
	}
	fw_add(w, j->from, j->from_len, j->to, j->to_len);
	if (push_send(j, r) != 0)
		fw_drop_from(w, i);
}

/* Batches in flight: the next one, built from the newest one's end, once
 * there is room, the log holds more and the newest one's body is sent. */
static void push_more(struct fs_job *j)
{
	struct fw *w = j->win;
	while (w->n > 0 && w->n < w->cap && !j->draining) {
		unsigned last = fw_at(w, w->n - 1);
		struct fs_req *lr = &j->rq[last];
		if (!lr->more || !lr->active || !lr->uploaded || j->pt->busy >= PARTNER_BATCHES_MAX)
			return;
		unsigned i = fw_at(w, w->n);
		struct fs_req *r = &j->rq[i];
		const struct fw_slot *ls = &w->s[last];
		uint32_t nrec = 0;
		if (push_build(j, r, ls->to, ls->to_len, &nrec, j->to, &j->to_len) != 0) {
			j->draining = 1; /* restarts from the acknowledged position */
			return;
		}
		if (nrec == 0 && j->to_len == ls->to_len && memcmp(j->to, ls->to, ls->to_len) == 0) {
			lr->more = 0; /* nothing decided: nothing to send */
			return;
		}
		fw_add(w, ls->to, ls->to_len, j->to, j->to_len);
		if (push_send(j, r) != 0) {
			fw_drop_from(w, i);
			j->draining = 1;
			return;
		}
	}
}

/* A push job's turn in the loop. */
static void push_pump(struct fs_job *j)
{
	if (j->state != J_IDLE)
		return; /* a hello in flight */
	if (j->win->n == 0) {
		j->draining = 0;
		if (d4_mono_ms() >= j->next_ms)
			push_start(j);
	} else {
		push_more(j);
	}
}

/* The JSON answer's string member name, copied into out; 0 or -1. */
static int answer_str(const struct buf *b, const char *name, char *out, size_t outlen)
{
	out[0] = 0;
	if (b->len == 0 || !d4_json_depth_ok(b->p, b->len, 8))
		return -1;
	char *txt = malloc(b->len + 1);
	if (!txt)
		return -1;
	memcpy(txt, b->p, b->len);
	txt[b->len] = 0;
	yajl_val v = yajl_tree_parse(txt, NULL, 0);
	free(txt);
	if (!v)
		return -1;
	const char *path[] = {name, NULL};
	yajl_val s = yajl_tree_get(v, path, yajl_t_string);
	const char *str = s ? YAJL_GET_STRING(s) : NULL;
	int rc = -1;
	if (str && strlen(str) < outlen) {
		d4_strlcpy(out, str, outlen);
		rc = 0;
	}
	yajl_tree_free(v);
	return rc;
}

/* "HTTP 403: <the problem's detail or title>" */
static void http_problem(const struct buf *ans, long code, char *out, size_t outlen)
{
	char d[128];
	for (size_t i = 0; i < 2; i++) {
		if (answer_str(ans, i == 0 ? "detail" : "title", d, sizeof(d)) == 0 && d[0]) {
			/* a partner's words: keep them printable */
			for (char *c = d; *c; c++)
				if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
					*c = '?';
			snprintf(out, outlen, "HTTP %ld: %s", code, d);
			return;
		}
	}
	snprintf(out, outlen, "HTTP %ld", code);
}

/* The position of an answer (hex) into pos; 0 or -1. */
static int answer_pos(const struct buf *ans, uint8_t *pos, size_t *pos_len)
{
	char *hex = malloc(2 * D4_FED_POS_MAX + 2);
	if (!hex)
		return -1;
	int rc = answer_str(ans, "position", hex, 2 * D4_FED_POS_MAX + 2);
	size_t n = rc == 0 ? strlen(hex) : 0;
	if (rc == 0 && (n % 2 || n / 2 > D4_FED_POS_MAX || d4_hex_decode(hex, n, pos, n / 2) != 0))
		rc = -1;
	free(hex);
	*pos_len = n / 2;
	return rc;
}

static uint64_t retry_after_ms(struct fs_job *j, CURL *e)
{
	curl_off_t ra = 0;
	if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &ra) != CURLE_OK || ra <= 0)
		return 0;
	uint64_t ms = (uint64_t)ra * 1000u;
	if (ms > RETRY_AFTER_MAX_MS)
		ms = RETRY_AFTER_MAX_MS;
	if (ms < j->fs->backoff_min)
		ms = j->fs->backoff_min;
	return ms;
}

/* The failures a probe and a fetch share: no answer (link, TLS, an answer
 * over its cap: `what` names it, NULL for curl's own words) and an answer
 * other than 200 (429 and 503 honour Retry-After). 1 when the job was
 * failed, 0 for a 200. */
static int answer_failed(struct fs_job *j, CURLcode cr, long code, const char *what, unsigned max)
{
	char why[160];
	if (cr != CURLE_OK || code == 0) {
		if (j->answer.over && what)
			snprintf(why, sizeof(why), "the partner's %s is larger than %u bytes", what, max);
		else
			fed_xport_error(&j->pt->tls, cr, j->errbuf, why, sizeof(why));
		job_fail(j, j->answer.over ? F_PARTNER : F_LINK, 0, "%s", why);
		return 1;
	}
	if (code != 200) {
		http_problem(&j->answer, code, why, sizeof(why));
		job_fail(j, F_PARTNER, code == 429 || code == 503 ? retry_after_ms(j, j->e) : 0, "%s", why);
		return 1;
	}
	return 0;
}

static void probe_done(struct fs_job *j, CURLcode cr)
{
	long code = 0;
	curl_easy_getinfo(j->e, CURLINFO_RESPONSE_CODE, &code);
	if (answer_failed(j, cr, code, NULL, 0))
		return;
	/* the handshake already checked the certificate; the answer must
	 * agree (a proxy or a misrouted port would not) */
	char hub[64];
	uint8_t u[16];
	if (answer_str(&j->answer, "hub_uuid", hub, sizeof(hub)) != 0 || d4_uuid_parse(hub, u) != 0 ||
	    !d4_ct_equal(u, j->pt->p->hub, 16)) {
		job_fail(j, F_PARTNER, 0, "the partner's hello does not name its hub uuid");
		return;
	}
	job_ok(j, d4_mono_ms() + j->fs->poll_ms, 0);
}

/* The partner stands at pos, ahead of the acknowledged position from: with
 * several batches in flight it may have stored some whose answers never
 * came (this hub killed, the connection cut). Built again from `from`,
 * batch by batch, at most `cap` of them: if their ends lead to pos exactly,
 * they are what the partner holds, and their decisions are counted as a
 * duplicate's would be (with one batch in flight the resent batch is
 * answered "duplicate" and counted). Else nothing is counted. 0 or an
 * error; *counted 1 when the chain was found and committed. */
static int push_catch_up(struct fs_job *j, const uint8_t *from, size_t from_len, const uint8_t *pos, size_t pos_len,
			 int *counted)
{
	*counted = 0;
	struct fs_req *acc = calloc(1, sizeof(*acc));
	uint8_t *cur = malloc(D4_FED_POS_MAX);
	if (!acc || !cur) {
		free(acc);
		free(cur);
		return D4_ENOMEM;
	}
	memcpy(cur, from, from_len);
	size_t cur_len = from_len;
	uint32_t nb = 0;
	int rc = 0;
	for (unsigned k = 0; k < j->win->cap; k++) {
		const uint8_t *body = NULL;
		size_t len = 0;
		struct d4_fed_counters dec;
		uint32_t recs = 0;
		int more = 0;
		memset(&dec, 0, sizeof(dec));
		rc = d4_fed_source_next(j->src, j->pt->p, cur, cur_len, &body, &len, &dec, &recs, &more);
		if (rc != 0)
			break;
		struct d4_fed_batch_hdr h;
		struct d4_fed_batch_it it;
		if (d4_fed_batch_open(body, len, &h, &it) != 0 || h.to_len > D4_FED_POS_MAX ||
		    (h.to_len == cur_len && memcmp(h.to, cur, cur_len) == 0))
			break; /* no progress: the partner is not on this chain */
		for (unsigned r = 0; r < D4_FED_R_COUNT; r++)
			acc->dec.n[j->kind][r] += dec.n[j->kind][r];
		if (h.nrecords) {
			acc->records += recs;
			acc->body_len += len;
			nb++;
		}
		memcpy(cur, h.to, h.to_len);
		cur_len = h.to_len;
		if (cur_len == pos_len && memcmp(cur, pos, pos_len) == 0) {
			rc = push_commit(j, pos, pos_len, acc, nb);
			*counted = rc == 0;
			break;
		}
	}
	free(acc);
	free(cur);
	return rc;
}

/* Applies the answers of the oldest batches, in order. */
static void push_settle(struct fs_job *j)
{
	struct d4_fed_sender *fs = j->fs;
	struct fw *w = j->win;
	int acked = 0, more = 0;
	for (;;) {
		enum fw_act a = fw_step(w);
		if (a == FW_NONE)
			break;
		unsigned i = w->head;
		struct fw_slot *sl = &w->s[i];
		struct fs_req *r = &j->rq[i];
		if (a == FW_COMMIT) {
			int rc = push_commit(j, sl->to, sl->to_len, r, 1);
			if (rc != 0) {
				push_drop_from(j, i);
				job_fail(j, F_LOCAL, 0, "cannot commit the acknowledged position: %s", d4_strerror(rc));
				return;
			}
			fw_pop(w);
			acked = 1;
			more = r->more;
			continue;
		}
		if (a == FW_RESEND) {
			/* the partner had not stored the batch before this one
			 * yet: this one is built and sent again from there */
			d4_debug("federation: partner %s, push %s: a batch reached the partner before the one "
				 "before it was stored: sent again",
				 j->pt->p->name, d4_fed_kind_name(j->kind));
			push_drop_from(j, i);
			if (!j->draining)
				j->next_ms = 0;
			break;
		}
		if (a == FW_FAIL_SAME) {
			/* it says it is where we started: not a mismatch we can
			 * resolve; do not spin */
			push_drop_from(j, i);
			job_fail(j, F_PARTNER, 0, "HTTP 409 at the position the batch started from");
			return;
		}
		/* FW_ADOPT: the partner stands elsewhere; continue from there */
		int was_ack = sl->ans == FW_A_ACK;
		uint8_t *pos = malloc(D4_FED_POS_MAX);
		size_t pos_len = sl->pos_len;
		if (pos)
			memcpy(pos, sl->pos, pos_len);
		push_drop_from(j, i);
		int counted = 0;
		int rc = pos ? 0 : D4_ENOMEM;
		if (rc == 0 && !was_ack && j->win->cap > 1)
			push_catch_up(j, sl->from, sl->from_len, pos, pos_len, &counted);
		if (rc == 0 && !counted)
			rc = push_commit(j, pos, pos_len, NULL, 0);
		free(pos);
		if (rc != 0) {
			job_fail(j, F_LOCAL, 0, "cannot adopt the partner's position: %s", d4_strerror(rc));
			return;
		}
		if (was_ack)
			d4_notice("federation: partner %s, push %s: acknowledged at another position than the "
				  "batch's end: continuing from the partner's",
				  j->pt->p->name, d4_fed_kind_name(j->kind));
		else
			d4_info("federation: partner %s, push %s: position mismatch, continuing from the partner's "
				"position",
				j->pt->p->name, d4_fed_kind_name(j->kind));
		push_lag(j, 1);
		if (!j->draining)
			job_ok(j, d4_mono_ms(), was_ack);
		return;
	}
	if (!acked)
		return;
	push_lag(j, 1);
	if (j->draining) {
		/* a batch after these failed: the failure stands, but the
		 * partner did acknowledge these */
		uint64_t now_s = d4_now_s();
		j->contact_ms = d4_mono_ms();
		STAT_EDIT(j, S->last_ack = now_s);
		return;
	}
	uint64_t now = d4_mono_ms();
	job_ok(j, more || w->n ? now : now + fs->poll_ms, 1);
}

/* The answer to the batch in slot r. */
static void push_done(struct fs_req *r, CURLcode cr)
{
	struct fs_job *j = r->j;
	struct fw *w = j->win;
	unsigned i = (unsigned)(r - j->rq);
	if (r->active)
		j->pt->busy--;
	r->active = 0;
	r->uploaded = 1;
	if (fw_rank(w, i) < 0)
		return; /* dropped meanwhile */
	long code = 0;
	curl_easy_getinfo(r->e, CURLINFO_RESPONSE_CODE, &code);
	char why[160];
	enum fail_at at = F_PARTNER;
	uint64_t retry = 0;
	uint8_t *pos = NULL;
	size_t pos_len = 0;
	if (cr != CURLE_OK || code == 0) {
		if (r->answer.over)
			snprintf(why, sizeof(why), "the partner's answer is larger than %u bytes", PUSH_ANSWER_MAX);
		else
			fed_xport_error(&j->pt->tls, cr, r->errbuf, why, sizeof(why));
		/* an answer that came but was too large still reached the partner */
		at = r->answer.over ? F_PARTNER : F_LINK;
		goto fail;
	}
	pos = malloc(D4_FED_POS_MAX);
	if (!pos) {
		at = F_LOCAL;
		snprintf(why, sizeof(why), "out of memory");
		goto fail;
	}
	if (code == 200) {
		char result[32];
		if (answer_str(&r->answer, "result", result, sizeof(result)) != 0 ||
		    (strcmp(result, "stored") != 0 && strcmp(result, "duplicate") != 0) ||
		    answer_pos(&r->answer, pos, &pos_len) != 0) {
			snprintf(why, sizeof(why),
				 "the partner's acknowledgement is not one (HTTP 200 without result and position)");
			goto fail;
		}
		fw_answer(w, i, FW_A_ACK, pos, pos_len);
	} else if (code == 409) {
		if (answer_pos(&r->answer, pos, &pos_len) != 0) {
			snprintf(why, sizeof(why), "HTTP 409 without a position");
			goto fail;
		}
		fw_answer(w, i, FW_A_MISMATCH, pos, pos_len);
	} else {
		http_problem(&r->answer, code, why, sizeof(why));
		if (code == 429 || code == 503)
			retry = retry_after_ms(j, r->e);
		goto fail;
	}
	free(pos);
	push_settle(j);
	return;
fail:
	free(pos);
	/* this batch and every later one are dropped (a later one cannot be
	 * stored before this one); earlier ones still count when answered */
	push_drop_from(j, i);
	j->draining = 1;
	job_fail(j, at, retry, "%s", why);
	push_settle(j);
}

/* ---- fetch ---- */

static void fetch_start(struct d4_fed_sender *fs, struct fs_job *j)
{
	int rc = d4_store_fed_in_get(fs->s, j->pt->p->hub, j->kind, j->in);
	if (rc == D4_ENOTFOUND) {
		memset(j->in, 0, sizeof(*j->in));
		rc = 0;
	}
	if (rc != 0) {
		job_fail(j, F_LOCAL, 0, "cannot read this hub's position: %s", d4_strerror(rc));
		return;
	}
	memcpy(j->from, j->in->pos, j->in->pos_len);
	j->from_len = j->in->pos_len;
	const char *base = j->pt->p->url;
	size_t bl = strlen(base);
	while (bl && base[bl - 1] == '/')
		bl--;
	const char *kn = d4_fed_kind_name(j->kind);
	size_t n = bl + strlen("/federation/v1/pull/") + strlen(kn) + strlen("?from=") + 2 * j->from_len + 1;
	char *url = malloc(n);
	if (!url) {
		job_fail(j, F_LOCAL, 0, "out of memory");
		return;
	}
	int k = snprintf(url, n, "%.*s/federation/v1/pull/%s?from=", (int)bl, base, kn);
	d4_hex_encode(j->from, j->from_len, url + k);
	CURLcode cr = curl_easy_setopt(j->e, CURLOPT_URL, url); /* copied by curl */
	free(url);
	j->answer.len = 0;
	j->answer.over = 0;
	j->answer.max = PULL_ANSWER_MAX;
	j->pt->tls.why[0] = 0;
	j->errbuf[0] = 0;
	if (cr != CURLE_OK || curl_multi_add_handle(fs->multi, j->e) != CURLM_OK) {
		job_fail(j, F_LOCAL, 0, "cannot start the request: %s", curl_easy_strerror(cr));
		return;
	}
	j->state = J_BUSY;
	uint64_t now_s = d4_now_s();
	STAT_EDIT(j, S->last_try = now_s);
}

static void fetch_done(struct d4_fed_sender *fs, struct fs_job *j, CURLcode cr)
{
	uint64_t now = d4_mono_ms();
	long code = 0;
	curl_easy_getinfo(j->e, CURLINFO_RESPONSE_CODE, &code);
	if (answer_failed(j, cr, code, "batch", PULL_ANSWER_MAX))
		return;
	j->more = 0;
	struct curl_header *h = NULL;
	if (curl_easy_header(j->e, "x-d4hub-more", 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h && h->value &&
	    strcmp(h->value, "1") == 0)
		j->more = 1;
	char rwhy[128];
	/* the D4 types this hub accepts, as the inbox applies them to a push */
	struct d4_fed_store_types tc;
	struct d4_fed_rx_filter filter;
	d4_fed_store_types_init(&tc, fs->s, &filter);
	int r = d4_fed_receive_prepare_with(&fs->self, j->pt->p, j->kind, j->answer.p, j->answer.len, &filter, &j->rx,
					    rwhy, sizeof(rwhy));
	if (r != D4_FED_RX_OK) {
		if (r < 0)
			job_fail(j, F_LOCAL, 0, "cannot take the partner's batch: %s", d4_strerror(r));
		else
			job_fail(j, F_PARTNER, 0, "the partner's batch is refused (%s): %s",
				 d4_fed_rx_refusal_name((enum d4_fed_rx_refusal)r), rwhy);
		return;
	}
	j->rx_live = 1;
	const struct d4_store_fed_batch *b = &j->rx.batch;
	/* empty positions are NULL: memcmp is not asked about them */
	if (j->rx.nrecords == 0 && b->from_len == b->to_len &&
	    (b->to_len == 0 || memcmp(b->from, b->to, b->to_len) == 0)) {
		/* nothing new at the partner */
		d4_fed_rx_free(&j->rx);
		j->rx_live = 0;
		job_ok(j, now + (uint64_t)fs->poll_ms * FETCH_IDLE_FACTOR, 0);
		return;
	}
	uint64_t retry = 0;
	enum d4_fed_in_reason q =
	    d4_fed_quota_take(&j->pt->quota, j->pt->p, j->rx.nrecords, j->answer.len, d4_now_ms(), &retry);
	if (q != D4_FED_IN_STORED) {
		/* over this hub's own quota for the partner: nothing stored, the
		 * same batch is asked for again later */
		d4_fed_rx_free(&j->rx);
		j->rx_live = 0;
		job_ok(j, now + (retry ? retry : fs->backoff_min), 0);
		d4_debug("federation: partner %s, fetch %s: over the inbound quota (%s), waiting %" PRIu64 " ms",
			 j->pt->p->name, d4_fed_kind_name(j->kind), d4_fed_in_reason_name(q), retry);
		return;
	}
	j->rx.batch.notify_fd = fs->done_fd;
	int rc = d4_store_fed_submit(fs->s, &j->rx.batch);
	if (rc != 0) {
		d4_fed_rx_free(&j->rx);
		j->rx_live = 0;
		job_fail(j, F_LOCAL, 0, "cannot hand the batch to the writer: %s", d4_strerror(rc));
		return;
	}
	partner_up(j->pt);
	j->state = J_SUBMITTED;
}

/* A fetched batch the writer is done with. */
static void fetch_stored(struct d4_fed_sender *fs, struct fs_job *j)
{
	uint64_t now = d4_mono_ms();
	int res = j->rx.batch.result;
	d4_fed_rx_free(&j->rx);
	j->rx_live = 0;
	j->state = J_IDLE;
	if (res == 0 || res == D4_EEXIST)
		job_ok(j, j->more ? now : now + (uint64_t)fs->poll_ms * FETCH_IDLE_FACTOR, 1);
	else if (res == D4_EBUSY)
		/* this hub's position moved meanwhile (the partner pushes the
		 * same kind too): asked again from where it stands */
		job_fail(j, F_LOCAL, 0, "position mismatch: the batch does not start where this hub stands");
	else
		job_fail(j, F_LOCAL, 0, "the store did not take the batch: %s", d4_strerror(res));
}

/* Waits for a batch still with the writer (at stop, at a partner change):
 * the writer keeps pointers into it. */
static void fetch_wait(struct fs_job *j)
{
	if (!j->rx_live)
		return;
	if (j->state == J_SUBMITTED)
		while (!__atomic_load_n(&j->rx.batch.done, __ATOMIC_ACQUIRE)) {
			struct pollfd pf = {.fd = j->fs->done_fd, .events = POLLIN};
			poll(&pf, 1, 100);
		}
	d4_fed_rx_free(&j->rx);
	j->rx_live = 0;
}

/* ---- jobs ---- */

static void job_free(struct fs_job *j)
{
	if (j->e) {
		if (j->state == J_BUSY && j->fs->multi)
			curl_multi_remove_handle(j->fs->multi, j->e);
		curl_easy_cleanup(j->e);
	}
	fetch_wait(j);
	for (unsigned i = 0; j->rq && i < FW_MAX; i++) {
		struct fs_req *r = &j->rq[i];
		if (r->e) {
			if (r->active && j->fs->multi)
				curl_multi_remove_handle(j->fs->multi, r->e);
			curl_easy_cleanup(r->e);
		}
		free(r->body);
		free(r->answer.p);
	}
	free(j->rq);
	free(j->win);
	curl_slist_free_all(j->hdrs);
	d4_fed_source_free(j->src);
	free(j->out);
	free(j->in);
	free(j->url);
	free(j->hello_url);
	free(j->answer.p);
	memset(j, 0, sizeof(*j));
}

static int url_join(char **out, const char *base, const char *path)
{
	size_t bl = strlen(base);
	while (bl && base[bl - 1] == '/')
		bl--;
	size_t n = bl + strlen(path) + 1;
	*out = malloc(n);
	if (!*out)
		return D4_ENOMEM;
	snprintf(*out, n, "%.*s%s", (int)bl, base, path);
	return 0;
}

static int job_init(struct d4_fed_sender *fs, struct fs_job *j, struct fs_partner *pt, uint8_t kind, int fetch)
{
	memset(j, 0, sizeof(*j));
	j->fs = fs;
	j->ctl.j = j;
	j->ctl.ctl = 1;
	j->pt = pt;
	j->kind = kind;
	j->fetch = fetch;
	j->e = curl_easy_init();
	if (!j->e)
		return D4_ENOMEM;
	int rc = fed_xport_setup(j->e, &pt->tls, fs->cert, fs->key, fs->timeout_ms, j->errbuf);
	if (rc != 0)
		return rc;
	char path[96];
	if (!fetch) {
		rc = d4_fed_source_new(fs->s, &fs->sopts, kind, &j->src);
		if (rc != 0)
			return rc;
		j->out = calloc(1, sizeof(*j->out));
		j->win = malloc(sizeof(*j->win));
		j->rq = calloc(FW_MAX, sizeof(*j->rq));
		if (!j->out || !j->win || !j->rq)
			return D4_ENOMEM;
		fw_init(j->win, fs->inflight);
		snprintf(path, sizeof(path), "/federation/v1/inbox/%s", d4_fed_kind_name(kind));
		if (url_join(&j->url, pt->p->url, path) != 0 ||
		    url_join(&j->hello_url, pt->p->url, "/federation/v1/hello") != 0)
			return D4_ENOMEM;
		j->hdrs = curl_slist_append(NULL, "Content-Type: application/vnd.d4hub.batch");
		/* HTTP/1.1 fallback: no 100-continue round trip */
		struct curl_slist *h2 = j->hdrs ? curl_slist_append(j->hdrs, "Expect:") : NULL;
		if (!h2)
			return D4_ENOMEM;
		j->hdrs = h2;
		if (curl_easy_setopt(j->e, CURLOPT_HTTPHEADER, j->hdrs) != CURLE_OK)
			return D4_ENOMEM;
	}
	if (fetch) {
		j->in = calloc(1, sizeof(*j->in));
		if (!j->in || curl_easy_setopt(j->e, CURLOPT_HTTPGET, 1L) != CURLE_OK)
			return D4_ENOMEM;
		j->rx.batch.notify_fd = -1;
	}
	if (curl_easy_setopt(j->e, CURLOPT_WRITEFUNCTION, buf_write) != CURLE_OK ||
	    curl_easy_setopt(j->e, CURLOPT_WRITEDATA, &j->answer) != CURLE_OK ||
	    curl_easy_setopt(j->e, CURLOPT_PRIVATE, &j->ctl) != CURLE_OK)
		return D4_ENOMEM;
	return 0;
}

static int wants_fetch(const struct d4_partner *p)
{
	return p->in.fetch != 0;
}

static void job_done(struct fs_req *r, CURLcode cr)
{
	struct fs_job *j = r->j;
	if (!r->ctl) {
		curl_multi_remove_handle(j->fs->multi, r->e);
		push_done(r, cr);
		return;
	}
	curl_multi_remove_handle(j->fs->multi, j->e);
	j->state = J_IDLE;
	if (j->fetch)
		fetch_done(j->fs, j, cr);
	else
		probe_done(j, cr);
}

/* ---- partners ---- */

struct load_ctx {
	struct fs_partner *v;
	size_t n, cap;
	uint8_t *enc;
	int err;
};

static int load_cb(void *arg, const struct d4_partner *p)
{
	struct load_ctx *c = arg;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct fs_partner *v = realloc(c->v, cap * sizeof(*v));
		if (!v) {
			c->err = D4_ENOMEM;
			return 1;
		}
		c->v = v;
		c->cap = cap;
	}
	struct fs_partner *pt = &c->v[c->n];
	memset(pt, 0, sizeof(*pt));
	pt->up = -1;
	size_t len = d4_store_partner_encode(p, c->enc);
	pt->p = malloc(sizeof(*pt->p));
	pt->enc = malloc(len ? len : 1);
	if (!pt->p || !pt->enc) {
		free(pt->p);
		free(pt->enc);
		c->err = D4_ENOMEM;
		return 1;
	}
	memcpy(pt->p, p, sizeof(*p));
	memcpy(pt->enc, c->enc, len);
	pt->enc_len = len;
	c->n++;
	return 0;
}

static void partners_free(struct fs_partner *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fed_peer_tls_free(&v[i].tls);
		free(v[i].p);
		free(v[i].enc);
	}
	free(v);
}

static void jobs_free(struct d4_fed_sender *fs)
{
	for (size_t i = 0; i < fs->njobs; i++)
		job_free(&fs->jobs[i]);
	free(fs->jobs);
	fs->jobs = NULL;
	fs->njobs = 0;
}

static CURLM *multi_new(void)
{
	CURLM *m = curl_multi_init();
	if (!m)
		return NULL;
	curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 1L);
	return m;
}

static ssize_t stat_find(struct fs_stat *v, size_t n, const char *name, uint8_t kind, int fetch)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].kind == kind && v[i].fetch == (uint8_t)fetch && strcmp(v[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* Reads the partners; when anything changed, drops every transfer and
 * connection and makes the jobs anew (status kept by key). */
static int reload(struct d4_fed_sender *fs)
{
	struct load_ctx c = {0};
	c.enc = malloc(D4_PARTNER_ENC_MAX);
	if (!c.enc)
		return D4_ENOMEM;
	int rc = d4_store_partner_foreach(fs->s, load_cb, &c);
	free(c.enc);
	if (rc == 0)
		rc = c.err;
	if (rc != 0) {
		partners_free(c.v, c.n);
		return rc;
	}
	int same = fs->loaded && c.n == fs->npts;
	for (size_t i = 0; same && i < c.n; i++)
		same = c.v[i].enc_len == fs->pts[i].enc_len && memcmp(c.v[i].enc, fs->pts[i].enc, c.v[i].enc_len) == 0;
	if (same) {
		partners_free(c.v, c.n);
		return 0;
	}
	/* keep the up/down state of partners that stay, so that a change of
	 * one partner does not log every other one as coming up again */
	for (size_t i = 0; i < c.n; i++)
		for (size_t k = 0; k < fs->npts; k++)
			if (strcmp(c.v[i].p->name, fs->pts[k].p->name) == 0)
				c.v[i].up = fs->pts[k].up;
	jobs_free(fs);
	if (fs->multi)
		curl_multi_cleanup(fs->multi);
	fs->multi = multi_new();
	partners_free(fs->pts, fs->npts);
	fs->pts = c.v;
	fs->npts = c.n;
	fs->loaded = 1;
	if (!fs->multi)
		return D4_ENOMEM;

	size_t cap = 0;
	for (size_t i = 0; i < fs->npts; i++)
		cap += 2 * D4_FED_KIND_COUNT;
	fs->jobs = cap ? calloc(cap, sizeof(*fs->jobs)) : NULL;
	struct fs_stat *nst = cap ? calloc(cap, sizeof(*nst)) : NULL;
	if (cap && (!fs->jobs || !nst)) {
		free(nst);
		return D4_ENOMEM;
	}
	size_t nj = 0;
	pthread_mutex_lock(&fs->mu);
	for (size_t i = 0; i < fs->npts; i++) {
		struct fs_partner *pt = &fs->pts[i];
		const struct d4_partner *p = pt->p;
		if (!p->enabled)
			continue;
		if (fed_peer_tls_init(&pt->tls, p) != 0) {
			d4_warn("federation: partner %s: no usable trust anchor: nothing is exchanged with it",
				p->name);
			continue;
		}
		for (int fetch = 0; fetch < 2; fetch++) {
			for (uint8_t k = 0; k < D4_FED_KIND_COUNT; k++) {
				if (!fetch && !((p->direction & D4_PARTNER_PUSH) && p->out[k].enabled))
					continue;
				if (fetch && !(wants_fetch(p) && (p->in.kinds & (1u << k))))
					continue;
				struct fs_job *j = &fs->jobs[nj];
				rc = job_init(fs, j, pt, k, fetch);
				if (rc != 0) {
					if (!fetch && (rc == D4_ENOTSUP || rc == D4_EINVAL))
						/* a kind without a source yet
						 * (certs) */
						d4_info("federation: partner %s: %s cannot be sent (no source for it)",
							p->name, d4_fed_kind_name(k));
					else
						d4_warn("federation: partner %s, %s %s: cannot set up: %s", p->name,
							fetch ? "fetch" : "push", d4_fed_kind_name(k), d4_strerror(rc));
					job_free(j);
					continue;
				}
				ssize_t old = stat_find(fs->stat, fs->nstat, p->name, k, fetch);
				d4_strlcpy(nst[nj].name, p->name, sizeof(nst[nj].name));
				nst[nj].kind = k;
				nst[nj].fetch = (uint8_t)fetch;
				if (old >= 0) {
					nst[nj].st = fs->stat[old].st;
					nst[nj].st.next_try_ms = 0;
				}
				j->st = nj;
				nj++;
			}
		}
	}
	free(fs->stat);
	fs->stat = nst;
	fs->nstat = nj;
	pthread_mutex_unlock(&fs->mu);
	fs->njobs = nj;
	d4_info("federation: %zu partner%s, %zu job%s", fs->npts, fs->npts == 1 ? "" : "s", nj, nj == 1 ? "" : "s");
	return 0;
}

/* ---- the thread ---- */

static int stopping(struct d4_fed_sender *fs)
{
	return __atomic_load_n(&fs->stop, __ATOMIC_ACQUIRE);
}

static void *sender_main(void *arg)
{
	struct d4_fed_sender *fs = arg;
	uint64_t epoch_at = 0;
	while (!stopping(fs)) {
		uint64_t now = d4_mono_ms();
		if (now >= epoch_at) {
			epoch_at = now + EPOCH_EVERY_MS;
			uint64_t e = d4_store_epoch(fs->s);
			if (!fs->loaded || e != fs->epoch) {
				int rc = reload(fs);
				if (rc != 0)
					d4_warn("federation: cannot read the partners: %s (trying again in %u ms)",
						d4_strerror(rc), EPOCH_EVERY_MS);
				else
					fs->epoch = e;
			}
		}
		for (size_t i = 0; i < fs->njobs && !stopping(fs); i++) {
			struct fs_job *j = &fs->jobs[i];
			if (j->fetch) {
				if (j->state == J_IDLE && d4_mono_ms() >= j->next_ms)
					fetch_start(fs, j);
				continue;
			}
			int idle = j->state == J_IDLE && j->win->n == 0 && d4_mono_ms() < j->next_ms;
			push_pump(j);
			/* a job waiting out its backoff still shows the lag
			 * growing (every LAG_EVERY_MS; the position is the one
			 * it last read) */
			if (idle && j->lag_at)
				push_lag(j, 0);
		}
		if (!fs->multi) {
			/* reload failed before a multi handle existed */
			struct pollfd pf = {.fd = fs->wake_fd, .events = POLLIN};
			poll(&pf, 1, (int)EPOCH_EVERY_MS);
			continue;
		}
		for (size_t i = 0; i < fs->njobs; i++)
			if (!fs->jobs[i].fetch)
				fw_turn(fs->jobs[i].win);
		int running = 0;
		curl_multi_perform(fs->multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(fs->multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			struct fs_req *r = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
			CURLcode cr = m->data.result;
			if (r)
				job_done(r, cr);
		}
		/* a batch whose body went out whole lets the next one start */
		for (size_t i = 0; i < fs->njobs && !stopping(fs); i++)
			if (!fs->jobs[i].fetch && fs->jobs[i].win->n)
				push_pump(&fs->jobs[i]);
		for (size_t i = 0; i < fs->njobs; i++) {
			struct fs_job *j = &fs->jobs[i];
			if (j->state == J_SUBMITTED && __atomic_load_n(&j->rx.batch.done, __ATOMIC_ACQUIRE))
				fetch_stored(fs, j);
		}
		now = d4_mono_ms();
		uint64_t wait = epoch_at > now ? epoch_at - now : 0;
		for (size_t i = 0; i < fs->njobs; i++) {
			const struct fs_job *j = &fs->jobs[i];
			/* batches in flight: their answers wake the loop */
			if (j->state != J_IDLE || (!j->fetch && j->win->n))
				continue;
			uint64_t w = j->next_ms > now ? j->next_ms - now : 0;
			if (w < wait)
				wait = w;
			if (!j->fetch && j->lag_at) {
				/* the lag while waiting out a backoff */
				w = j->lag_at + LAG_EVERY_MS > now ? j->lag_at + LAG_EVERY_MS - now : 0;
				if (w < wait)
					wait = w;
			}
		}
		if (wait == 0)
			continue;
		/* the writer's eventfd is shared by every fetched batch: it
		 * wakes the loop, which looks at each batch's done flag */
		struct curl_waitfd wfd[2] = {{.fd = fs->wake_fd, .events = CURL_WAIT_POLLIN},
					     {.fd = fs->done_fd, .events = CURL_WAIT_POLLIN}};
		curl_multi_poll(fs->multi, wfd, 2, (int)(wait > 60000 ? 60000 : wait), NULL);
		uint64_t drain;
		if (wfd[1].revents && read(fs->done_fd, &drain, sizeof(drain)) < 0 && errno != EAGAIN)
			d4_debug("federation: eventfd: %s", strerror(errno));
	}
	jobs_free(fs);
	if (fs->multi)
		curl_multi_cleanup(fs->multi);
	fs->multi = NULL;
	partners_free(fs->pts, fs->npts);
	fs->pts = NULL;
	fs->npts = 0;
	return NULL;
}

/* ---- public ---- */

static void sender_free(struct d4_fed_sender *fs)
{
	if (fs->wake_fd >= 0)
		close(fs->wake_fd);
	if (fs->done_fd >= 0)
		close(fs->done_fd);
	free(fs->cert);
	free(fs->key);
	free(fs->csv_fields);
	free(fs->csv_sep);
	free(fs->stat);
	pthread_mutex_destroy(&fs->mu);
	free(fs);
}

int d4_fed_sender_start(struct d4_store *s, const struct d4_fed_sender_opts *o, struct d4_fed_sender **out)
{
	*out = NULL;
	if (!s || !o || !o->cert || !o->key || !o->cert[0] || !o->key[0])
		return D4_EINVAL;
	struct d4_fed_sender *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return D4_ENOMEM;
	pthread_mutex_init(&fs->mu, NULL);
	fs->s = s;
	fs->self = o->self;
	fs->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fs->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fs->cert = strdup(o->cert);
	fs->key = strdup(o->key);
	fs->csv_fields = o->pdns_csv_fields ? strdup(o->pdns_csv_fields) : NULL;
	fs->csv_sep = o->pdns_csv_separator ? strdup(o->pdns_csv_separator) : NULL;
	fs->poll_ms = o->poll_ms ? o->poll_ms : 50;
	fs->backoff_min = o->backoff_min_ms ? o->backoff_min_ms : 500;
	fs->backoff_max = o->backoff_max_ms ? o->backoff_max_ms : 60000;
	if (fs->backoff_max < fs->backoff_min)
		fs->backoff_max = fs->backoff_min;
	fs->timeout_ms = o->timeout_ms ? o->timeout_ms : 30000;
	fs->inflight = o->inflight ? o->inflight : D4_FED_INFLIGHT_DEFAULT;
	if (fs->inflight > FW_MAX)
		fs->inflight = FW_MAX;
	fs->rnd = d4_mono_ms() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ULL;
	if (!fs->rnd)
		fs->rnd = 1;
	fs->sopts.self = &fs->self;
	fs->sopts.pdns_csv_fields = fs->csv_fields;
	fs->sopts.pdns_csv_separator = fs->csv_sep;
	if (fs->wake_fd < 0 || fs->done_fd < 0 || !fs->cert || !fs->key || (o->pdns_csv_fields && !fs->csv_fields) ||
	    (o->pdns_csv_separator && !fs->csv_sep)) {
		sender_free(fs);
		return D4_ENOMEM;
	}
	/* before any thread of ours uses curl; d4hub has no other curl user */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		sender_free(fs);
		return D4_ENOMEM;
	}
	if (pthread_create(&fs->thread, NULL, sender_main, fs) != 0) {
		curl_global_cleanup();
		sender_free(fs);
		return D4_EIO;
	}
	fs->started = 1;
	*out = fs;
	return 0;
}

void d4_fed_sender_stop(struct d4_fed_sender *fs)
{
	if (!fs)
		return;
	__atomic_store_n(&fs->stop, 1, __ATOMIC_RELEASE);
	uint64_t one = 1;
	if (write(fs->wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		d4_debug("federation: cannot wake the sender thread: %s", strerror(errno));
	if (fs->started)
		pthread_join(fs->thread, NULL);
	curl_global_cleanup();
	sender_free(fs);
}

static int status_get(struct d4_fed_sender *fs, const char *partner, uint8_t kind, int fetch, struct d4_fed_status *out)
{
	if (!fs || !partner || !out)
		return D4_EINVAL;
	pthread_mutex_lock(&fs->mu);
	ssize_t i = stat_find(fs->stat, fs->nstat, partner, kind, fetch);
	if (i >= 0)
		*out = fs->stat[i].st;
	pthread_mutex_unlock(&fs->mu);
	return i >= 0 ? 0 : D4_ENOTFOUND;
}

int d4_fed_sender_status(struct d4_fed_sender *fs, const char *partner, uint8_t kind, struct d4_fed_status *out)
{
	return status_get(fs, partner, kind, 0, out);
}

int d4_fed_sender_fetch_status(struct d4_fed_sender *fs, const char *partner, uint8_t kind, struct d4_fed_status *out)
{
	return status_get(fs, partner, kind, 1, out);
}
