/* The hub's analyzer thread: runs every enabled consumer of the frame log
 * (pDNS, backscatter, passive SSL) until stopped. The store has no commit notification for
 * readers, so the thread polls: while frames are waiting it reads them back
 * to back; once caught up it sleeps idle_ms between looks (a look that finds
 * nothing is one short read transaction). */
#include "analyze_internal.h"
#include "d4_error.h"
#include "d4_log.h"
#include "d4_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAINTAIN_EVERY_MS 1000u
#define EXPIRE_EVERY_S	  600u
#define MIN_COMMIT_MS	  100u /* a trickle of frames is committed at most this often */
#define BATCHES_PER_STEP  8u

struct d4_analyze {
	struct d4_store *s;
	struct d4_analyze_pdns *pdns;
	struct d4_analyze_bs *bs;
	struct d4_analyze_pssl *pssl;
	unsigned idle_ms;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
};

/* What /metrics reads: a copy refreshed by the worker after each step, so
 * that the API thread never touches the consumer itself. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_pdns_running;
static struct d4_analyze_pdns_stats g_pdns;
static int g_bs_running;
static struct d4_analyze_bs_stats g_bs;
static int g_pssl_running;
static struct d4_analyze_pssl_stats g_pssl;

static void publish(struct d4_analyze *a, int running)
{
	struct d4_analyze_pdns_stats st;
	struct d4_analyze_bs_stats bst;
	struct d4_analyze_pssl_stats pst;
	memset(&st, 0, sizeof(st));
	memset(&bst, 0, sizeof(bst));
	memset(&pst, 0, sizeof(pst));
	if (a->pdns)
		d4_analyze_pdns_stats(a->pdns, &st);
	if (a->bs)
		d4_analyze_bs_stats(a->bs, &bst);
	if (a->pssl)
		d4_analyze_pssl_stats(a->pssl, &pst);
	pthread_mutex_lock(&g_mu);
	g_pdns = st;
	g_pdns_running = running && a->pdns;
	g_bs = bst;
	g_bs_running = running && a->bs;
	g_pssl = pst;
	g_pssl_running = running && a->pssl;
	pthread_mutex_unlock(&g_mu);
}

int d4_analyze_pssl_stats_global(struct d4_analyze_pssl_stats *out)
{
	pthread_mutex_lock(&g_mu);
	int rc = g_pssl_running ? 0 : D4_ENOTFOUND;
	if (!rc)
		*out = g_pssl;
	pthread_mutex_unlock(&g_mu);
	return rc;
}

int d4_analyze_bs_stats_global(struct d4_analyze_bs_stats *out)
{
	pthread_mutex_lock(&g_mu);
	int rc = g_bs_running ? 0 : D4_ENOTFOUND;
	if (!rc)
		*out = g_bs;
	pthread_mutex_unlock(&g_mu);
	return rc;
}

int d4_analyze_pdns_stats_global(struct d4_analyze_pdns_stats *out)
{
	pthread_mutex_lock(&g_mu);
	int rc = g_pdns_running ? 0 : D4_ENOTFOUND;
	if (!rc)
		*out = g_pdns;
	pthread_mutex_unlock(&g_mu);
	return rc;
}

/* Sleeps up to ms; returns 1 when asked to stop. */
static int wait_ms(struct d4_analyze *a, unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&a->mu);
	while (!a->stop)
		if (pthread_cond_timedwait(&a->cv, &a->mu, &ts) == ETIMEDOUT)
			break;
	int stop = a->stop;
	pthread_mutex_unlock(&a->mu);
	return stop;
}

static int stopping(struct d4_analyze *a)
{
	pthread_mutex_lock(&a->mu);
	int stop = a->stop;
	pthread_mutex_unlock(&a->mu);
	return stop;
}

/* Logs a consumer's step error once a minute at most (per kind of error). */
struct errlog {
	int last;
	uint64_t at;
};

static void log_err(struct errlog *l, const char *what, int rc)
{
	uint64_t now = d4_now_ms();
	if (rc != l->last || now - l->at >= 60000) {
		d4_warn("%s: ingest: %s (retrying)", what, d4_strerror(rc));
		l->last = rc;
		l->at = now;
	}
}

static void *worker(void *arg)
{
	struct d4_analyze *a = arg;
	uint64_t last_maint = 0, bs_retry_at = 0, pdns_retry_at = 0, pssl_retry_at = 0;
	struct errlog pe = {0, 0}, be = {0, 0}, se = {0, 0};
	while (!stopping(a)) {
		int idle = 1;
		uint64_t now = d4_now_ms();
		if (a->pdns && now >= pdns_retry_at) {
			int pidle = 1;
			int rc = analyze_pdns_step(a->pdns, BATCHES_PER_STEP, 0, MIN_COMMIT_MS, &pidle);
			if (rc < 0) {
				/* map full or a store error: keep the batch, retry later */
				log_err(&pe, "pdns", rc);
				pdns_retry_at = now + 1000;
			} else {
				pe.last = 0;
				idle &= pidle;
			}
		}
		if (a->bs && now >= bs_retry_at) {
			int bidle = 1;
			int rc = analyze_bs_step(a->bs, BATCHES_PER_STEP, 0, MIN_COMMIT_MS, &bidle);
			if (rc < 0) {
				/* the consumer went back to its last commit */
				log_err(&be, "backscatter", rc);
				bs_retry_at = now + 1000;
			} else {
				be.last = 0;
				idle &= bidle;
			}
		}
		if (a->pssl && now >= pssl_retry_at) {
			int sidle = 1;
			int rc = analyze_pssl_step(a->pssl, BATCHES_PER_STEP, 0, MIN_COMMIT_MS, &sidle);
			if (rc < 0) {
				/* map full or a store error: the batch is kept (or, after an
				 * error inside a frame, read again from the last commit) */
				log_err(&se, "pssl", rc);
				pssl_retry_at = now + 1000;
			} else {
				se.last = 0;
				idle &= sidle;
			}
		}
		now = d4_now_ms();
		if (now - last_maint >= MAINTAIN_EVERY_MS) {
			if (a->pdns) {
				int rc = d4_analyze_pdns_maintain(a->pdns, now / 1000, EXPIRE_EVERY_S);
				if (rc)
					d4_warn("pdns: maintenance: %s", d4_strerror(rc));
			}
			if (a->bs) {
				int rc = d4_analyze_bs_maintain(a->bs, now / 1000, EXPIRE_EVERY_S);
				if (rc)
					d4_warn("backscatter: maintenance: %s", d4_strerror(rc));
			}
			if (a->pssl) {
				int rc = d4_analyze_pssl_maintain(a->pssl, now / 1000, EXPIRE_EVERY_S);
				if (rc)
					d4_warn("pssl: maintenance: %s", d4_strerror(rc));
			}
			last_maint = now;
		}
		publish(a, 1);
		if (idle && wait_ms(a, a->idle_ms))
			break;
	}
	/* a batch not yet committed is dropped: the cursor replays it */
	return NULL;
}

int d4_analyze_start(struct d4_store *s, const struct d4_analyze_opts *o, struct d4_analyze **out)
{
	*out = NULL;
	struct d4_analyze *a = calloc(1, sizeof(*a));
	if (!a)
		return D4_ENOMEM;
	a->s = s;
	a->idle_ms = o->pdns.idle_ms ? o->pdns.idle_ms : 20;
	if (o->pdns_enabled) {
		int rc = d4_analyze_pdns_new(s, &o->pdns, &a->pdns);
		if (rc) {
			free(a);
			return rc;
		}
	}
	if (o->bs_enabled) {
		int rc = d4_analyze_bs_new(s, &o->bs, &a->bs);
		if (rc) {
			d4_analyze_pdns_free(a->pdns);
			free(a);
			return rc;
		}
	}
	if (o->pssl_enabled) {
		int rc = d4_analyze_pssl_new(s, &o->pssl, &a->pssl);
		if (rc) {
			d4_analyze_pdns_free(a->pdns);
			d4_analyze_bs_free(a->bs);
			free(a);
			return rc;
		}
	}
	pthread_mutex_init(&a->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cv, &ca);
	pthread_condattr_destroy(&ca);
	publish(a, 1);
	if (pthread_create(&a->th, NULL, worker, a) != 0) {
		publish(a, 0);
		d4_analyze_pdns_free(a->pdns);
		d4_analyze_bs_free(a->bs);
		d4_analyze_pssl_free(a->pssl);
		pthread_cond_destroy(&a->cv);
		pthread_mutex_destroy(&a->mu);
		free(a);
		return D4_ENOMEM;
	}
	*out = a;
	return 0;
}

void d4_analyze_stop(struct d4_analyze *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->stop = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->th, NULL);
	/* commit what was read: a clean stop leaves nothing to replay but the
	 * partial state's */
	if (a->pdns) {
		int rc = analyze_pdns_flush(a->pdns);
		if (rc)
			d4_warn("pdns: last batch not committed (%s): it is read again at the next start",
				d4_strerror(rc));
	}
	if (a->bs) {
		int rc = analyze_bs_flush(a->bs);
		if (rc)
			d4_warn("backscatter: last batch not committed (%s): it is read again at the next start",
				d4_strerror(rc));
	}
	if (a->pssl) {
		int rc = analyze_pssl_flush(a->pssl);
		if (rc)
			d4_warn("pssl: last batch not committed (%s): it is read again at the next start",
				d4_strerror(rc));
	}
	publish(a, 0);
	d4_analyze_pdns_free(a->pdns);
	d4_analyze_bs_free(a->bs);
	d4_analyze_pssl_free(a->pssl);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
}
