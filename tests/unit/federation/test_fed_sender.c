/* Unit tests of federation/fed_sender.c: the sender thread against a TLS
 * server of the test on 127.0.0.1 (tls_peer.c), with a real store holding
 * the partner. A partner whose certificate names another hub is refused in
 * the handshake (the server sees no request), the status says why, and the
 * retries back off exponentially with jitter within their bounds; a change
 * of the partner in the store applies without a restart and the partner
 * comes up (GET /federation/v1/hello, the answer's hub uuid checked); an
 * unreachable partner is down with the reason; unknown jobs have no
 * status. */
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_store.h"
#include "d4_store_partner.h"
#include "d4_util.h"
#include "fed_window.h"
#include "tls_peer.h"

#include <check.h>
#include <curl/curl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THIRD_URN  "URI:urn:uuid:99999999-8888-4777-8666-555555555555"
#define THIRD_TEXT "99999999-8888-4777-8666-555555555555"
static const uint8_t THIRD[16] = {0x99, 0x99, 0x99, 0x99, 0x88, 0x88, 0x47, 0x77,
				  0x86, 0x66, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55};
static const char HELLO[] = "{\"hub_uuid\":\"" THIRD_TEXT "\",\"org_uuid\":\"" THIRD_TEXT "\",\"partner\":\"self\"}";

static char sdir[128];
static struct d4_store *st;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void setup(void)
{
	tp_setup();
	snprintf(sdir, sizeof(sdir), "/tmp/d4fedsnd-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(sdir));
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = sdir;
	o.no_sync = 1;
	ck_assert_int_eq(d4_store_open(&o, &st), 0);
}

static void teardown(void)
{
	d4_store_close(st);
	nftw(sdir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	tp_teardown();
}

/* Partner "b" at port, expecting hub `hub`, trusting the test CA, frames
 * pushed. */
static struct d4_partner *partner(uint16_t port, const uint8_t hub[16])
{
	struct d4_partner *p = calloc(1, sizeof(*p));
	d4_fed_partner_defaults(p);
	snprintf(p->name, sizeof(p->name), "b");
	snprintf(p->url, sizeof(p->url), "https://127.0.0.1:%u/", port);
	char *pem = pem_of(ca);
	snprintf(p->ca_pem, sizeof(p->ca_pem), "%s", pem);
	free(pem);
	memcpy(p->hub, hub, 16);
	memcpy(p->org, THIRD, 16);
	p->relation = D4_FED_REL_PARTNER;
	p->direction = D4_PARTNER_PUSH;
	p->out[D4_FED_KIND_FRAMES].enabled = 1;
	p->out[D4_FED_KIND_FRAMES].max_tlp = D4_TLP_CLEAR;
	char why[128] = "";
	ck_assert_msg(d4_store_partner_check(p, why, sizeof(why)) == 0, "partner: %s", why);
	return p;
}

static struct d4_fed_sender *sender(unsigned bmin, unsigned bmax)
{
	struct d4_fed_sender_opts o;
	memset(&o, 0, sizeof(o));
	memcpy(o.self.hub, OTHER, 16);
	memcpy(o.self.org, OTHER, 16);
	o.self.default_tlp = D4_TLP_AMBER_STRICT;
	o.cert = cli_crt;
	o.key = cli_key;
	o.poll_ms = 20;
	o.backoff_min_ms = bmin;
	o.backoff_max_ms = bmax;
	o.timeout_ms = 5000;
	struct d4_fed_sender *fs = NULL;
	ck_assert_int_eq(d4_fed_sender_start(st, &o, &fs), 0);
	return fs;
}

static int status(struct d4_fed_sender *fs, struct d4_fed_status *s)
{
	return d4_fed_sender_status(fs, "b", D4_FED_KIND_FRAMES, s);
}

static void nap(void)
{
	struct timespec ts = {0, 2 * 1000 * 1000};
	nanosleep(&ts, NULL);
}

/* Waits (bounded) until cond holds on the status. */
#define WAIT_STATUS(fs, s, secs, cond)                                                                                 \
	do {                                                                                                           \
		uint64_t until_ = d4_mono_ms() + (secs)*1000u;                                                         \
		int ok_ = 0;                                                                                           \
		while (d4_mono_ms() < until_) {                                                                        \
			if (status(fs, &(s)) == 0 && (cond)) {                                                         \
				ok_ = 1;                                                                               \
				break;                                                                                 \
			}                                                                                              \
			nap();                                                                                         \
		}                                                                                                      \
		ck_assert_msg(ok_, "timed out waiting for " #cond " (failures %llu, error '%s')",                      \
			      (unsigned long long)(s).failures, (s).last_error);                                       \
	} while (0)

#define WAIT_FETCH(fs, s, secs, cond)                                                                                  \
	do {                                                                                                           \
		uint64_t until_ = d4_mono_ms() + (secs)*1000u;                                                         \
		int ok_ = 0;                                                                                           \
		while (d4_mono_ms() < until_) {                                                                        \
			if (d4_fed_sender_fetch_status(fs, "b", D4_FED_KIND_FRAMES, &(s)) == 0 && (cond)) {            \
				ok_ = 1;                                                                               \
				break;                                                                                 \
			}                                                                                              \
			nap();                                                                                         \
		}                                                                                                      \
		ck_assert_msg(ok_, "timed out waiting for " #cond " (failures %llu, error '%s')",                      \
			      (unsigned long long)(s).failures, (s).last_error);                                       \
	} while (0)

START_TEST(wrong_hub_backoff_then_fixed)
{
	X509 *leaf = mkcert(srvkey, ca, cakey, 0, "serverAuth,clientAuth", THIRD_URN, -60, 86400);
	struct server sv;
	server_start(&sv, leaf, HELLO);
	struct d4_partner *p = partner(sv.port, HUB);
	ck_assert_int_eq(d4_store_partner_add(st, p), 0);

	enum { BMIN = 100, BMAX = 800, N = 6 };
	struct d4_fed_sender *fs = sender(BMIN, BMAX);
	struct d4_fed_status s;
	/* the first failure says why, and no request reached the server */
	WAIT_STATUS(fs, s, 20, s.failures >= 1);
	ck_assert_msg(strstr(s.last_error, "names another hub") != NULL, "last_error: %s", s.last_error);
	ck_assert_int_eq(s.connected, 0);
	ck_assert_uint_gt(s.last_try, 0);

	/* the retries: the n-th failure waits b(n) = min(BMAX, BMIN * 2^(n-1)),
	 * of which a random half. Seen from here: the next try after failure n
	 * is at most b(n) after we saw it, and at least b(n)/2 after the try
	 * before it was due (the try only starts once due). */
	uint64_t next[N + 1] = {0}, seen[N + 1] = {0};
	unsigned last = 0;
	uint64_t until = d4_mono_ms() + 60000;
	while (last < N && d4_mono_ms() < until) {
		if (status(fs, &s) == 0 && s.failures > last && s.failures <= N) {
			last = (unsigned)s.failures;
			seen[last] = d4_mono_ms();
			next[last] = s.next_try_ms;
			ck_assert_msg(strstr(s.last_error, "names another hub") != NULL, "last_error: %s",
				      s.last_error);
		}
		nap();
	}
	ck_assert_uint_eq(last, N);
	unsigned jitter = 0;
	for (unsigned n = 1; n <= N; n++) {
		if (!seen[n])
			continue; /* a failure gone by between two looks */
		uint64_t b = BMIN;
		for (unsigned i = 1; i < n && b < BMAX; i++)
			b *= 2;
		if (b > BMAX)
			b = BMAX;
		ck_assert_msg(next[n] <= seen[n] + b, "failure %u: next try %llu ms after it was seen, backoff %llu", n,
			      (unsigned long long)(next[n] - seen[n]), (unsigned long long)b);
		if (n > 1 && seen[n - 1])
			ck_assert_msg(next[n] >= next[n - 1] + b / 2,
				      "failure %u: next try %llu ms after the previous one, backoff %llu", n,
				      (unsigned long long)(next[n] - next[n - 1]), (unsigned long long)b);
		/* without jitter every wait would be b, seen a few ms late; with
		 * it, six waits all in the top tenth happen once in 15,000 runs */
		if (next[n] - seen[n] < b * 9 / 10)
			jitter = 1;
	}
	ck_assert_msg(jitter, "no jitter seen in %d retries", N);
	ck_assert_int_eq(server_requests(&sv), 0);
	ck_assert_int_eq(server_handshakes(&sv), 0);

	/* the partner as it should be: applied without a restart */
	memcpy(p->hub, THIRD, 16);
	ck_assert_int_eq(d4_store_partner_update(st, p), 0);
	WAIT_STATUS(fs, s, 20, s.connected == 1);
	ck_assert_uint_eq(s.failures, 0);
	ck_assert_str_eq(s.last_error, "");
	ck_assert_int_ge(server_requests(&sv), 1);
	pthread_mutex_lock(&sv.mu);
	ck_assert_str_eq(sv.last_path, "/federation/v1/hello");
	pthread_mutex_unlock(&sv.mu);

	/* unknown jobs */
	ck_assert_int_eq(d4_fed_sender_status(fs, "nobody", D4_FED_KIND_FRAMES, &s), D4_ENOTFOUND);
	ck_assert_int_eq(d4_fed_sender_status(fs, "b", D4_FED_KIND_PDNS, &s), D4_ENOTFOUND);
	ck_assert_int_eq(d4_fed_sender_fetch_status(fs, "b", D4_FED_KIND_FRAMES, &s), D4_ENOTFOUND);

	d4_fed_sender_stop(fs);
	server_stop(&sv);
	free(p);
	X509_free(leaf);
}
END_TEST

/* A hello whose hub uuid is not the partner's: refused although the
 * certificate passed. */
START_TEST(hello_of_another_hub)
{
	X509 *leaf = mkcert(srvkey, ca, cakey, 0, "serverAuth,clientAuth", HUB_URN, -60, 86400);
	struct server sv;
	server_start(&sv, leaf, HELLO); /* says THIRD */
	struct d4_partner *p = partner(sv.port, HUB);
	ck_assert_int_eq(d4_store_partner_add(st, p), 0);
	struct d4_fed_sender *fs = sender(100, 200);
	struct d4_fed_status s;
	WAIT_STATUS(fs, s, 20, s.failures >= 1);
	ck_assert_msg(strstr(s.last_error, "hello does not name its hub") != NULL, "last_error: %s", s.last_error);
	ck_assert_int_ge(server_requests(&sv), 1);
	d4_fed_sender_stop(fs);
	server_stop(&sv);
	free(p);
	X509_free(leaf);
}
END_TEST

START_TEST(unreachable)
{
	/* a port nothing listens on: bound, then closed */
	X509 *leaf = mkcert(srvkey, ca, cakey, 0, "serverAuth,clientAuth", HUB_URN, -60, 86400);
	struct server sv;
	server_start(&sv, leaf, HELLO);
	uint16_t port = sv.port;
	server_stop(&sv);
	X509_free(leaf);
	struct d4_partner *p = partner(port, HUB);
	ck_assert_int_eq(d4_store_partner_add(st, p), 0);
	struct d4_fed_sender *fs = sender(100, 200);
	struct d4_fed_status s;
	WAIT_STATUS(fs, s, 20, s.failures >= 2);
	ck_assert_int_eq(s.connected, 0);
	ck_assert_msg(strcasestr(s.last_error, "connect") != NULL, "last_error: %s", s.last_error);
	d4_fed_sender_stop(fs);
	free(p);
}
END_TEST

/* ---- fetch: a partner whose inbound rule says fetch serves a batch of
 * three frames from the start of its log, then nothing more ---- */

struct pull {
	struct d4_fed_wbuf w;
	const uint8_t *batch, *empty;
	size_t batch_len, empty_len;
	uint8_t empty_buf[256];
};

static void pull_respond(struct server *sv, const char *path, struct answer *a)
{
	struct pull *pl = sv->arg;
	a->ctype = "application/vnd.d4hub.batch";
	a->headers = "x-d4hub-more: 0\r\n";
	if (strcmp(path, "/federation/v1/pull/frames?from=") == 0) {
		a->body = pl->batch;
		a->len = pl->batch_len;
	} else {
		/* asked from where the batch ended: nothing new */
		a->body = pl->empty;
		a->len = pl->empty_len;
	}
}

static void pull_batches(struct pull *pl)
{
	memset(pl, 0, sizeof(*pl));
	ck_assert_int_eq(d4_fed_wbuf_begin(&pl->w, D4_FED_KIND_FRAMES, HUB, NULL, 0), 0);
	for (unsigned i = 0; i < 3; i++) {
		struct d4_fed_wrec r;
		memset(&r, 0, sizeof(r));
		r.prov.tlp = D4_TLP_GREEN;
		r.prov.has_org = 1;
		memcpy(r.prov.org, THIRD, 16);
		r.prov.nsensors = 1;
		memset(r.prov.sensors[0], 0x42, 16);
		r.prov.has_origin = 1; /* the partner's own records: it is the last hop */
		memcpy(r.prov.origin, HUB, 16);
		r.origin_session = 7;
		r.type = 254;
		r.hdr_ts = 1764000000 + i;
		r.recv_ms = 1764000000000ull + i;
		static const uint8_t payload[] = "fetched\n";
		r.payload = payload;
		r.size = sizeof(payload) - 1;
		ck_assert_int_eq(d4_fed_wbuf_add(&pl->w, &r), 0);
	}
	uint8_t to[8] = {0, 0, 0, 0, 0, 0, 0, 3};
	const uint8_t *out;
	size_t len;
	ck_assert_int_eq(d4_fed_wbuf_finish(&pl->w, to, 8, &out, &len), 0);
	uint8_t *copy = malloc(len);
	memcpy(copy, out, len);
	pl->batch = copy;
	pl->batch_len = len;
	struct d4_fed_wbuf e;
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(d4_fed_wbuf_begin(&e, D4_FED_KIND_FRAMES, HUB, to, 8), 0);
	ck_assert_int_eq(d4_fed_wbuf_finish(&e, to, 8, &out, &len), 0);
	ck_assert_uint_le(len, sizeof(pl->empty_buf));
	memcpy(pl->empty_buf, out, len);
	pl->empty = pl->empty_buf;
	pl->empty_len = len;
	d4_fed_wbuf_free(&e);
}

START_TEST(fetch_stores_and_confirms)
{
	ck_assert_int_eq(d4_store_writer_start(st), 0);
	struct pull pl;
	pull_batches(&pl);
	X509 *leaf = mkcert(srvkey, ca, cakey, 0, "serverAuth,clientAuth", HUB_URN, -60, 86400);
	struct server sv;
	server_start_fn(&sv, leaf, pull_respond, &pl);
	struct d4_partner *p = partner(sv.port, HUB);
	p->out[D4_FED_KIND_FRAMES].enabled = 0; /* nothing pushed */
	p->in.kinds = 1u << D4_FED_KIND_FRAMES;
	p->in.max_tlp = D4_TLP_AMBER;
	p->in.fetch = 1;
	ck_assert_int_eq(d4_store_partner_add(st, p), 0);
	struct d4_fed_sender *fs = sender(100, 200);
	struct d4_fed_status s;
	ck_assert_int_eq(d4_fed_sender_status(fs, "b", D4_FED_KIND_FRAMES, &s), D4_ENOTFOUND);
	/* stored: this hub's position for the partner is the batch's end */
	struct d4_store_fed_in in;
	uint64_t until = d4_mono_ms() + 20000;
	int stored = 0;
	while (!stored && d4_mono_ms() < until) {
		stored =
		    d4_store_fed_in_get(st, HUB, D4_FED_KIND_FRAMES, &in) == 0 && in.pos_len == 8 && in.pos[7] == 3;
		nap();
	}
	ck_assert_msg(stored, "the fetched batch was not stored");
	ck_assert_uint_eq(in.records, 3);
	ck_assert_uint_eq(in.batches, 1);
	/* then asked again from there (which confirms the batch to the
	 * partner), and nothing new is not an error */
	until = d4_mono_ms() + 20000;
	int asked = 0;
	while (!asked && d4_mono_ms() < until) {
		pthread_mutex_lock(&sv.mu);
		asked = strcmp(sv.last_path, "/federation/v1/pull/frames?from=0000000000000003") == 0;
		pthread_mutex_unlock(&sv.mu);
		nap();
	}
	ck_assert_msg(asked, "not asked from the batch's end");
	ck_assert_int_eq(d4_fed_sender_fetch_status(fs, "b", D4_FED_KIND_FRAMES, &s), 0);
	WAIT_FETCH(fs, s, 20, s.connected == 1 && s.last_ack > 0);
	ck_assert_uint_eq(s.failures, 0);
	ck_assert_str_eq(s.last_error, "");
	ck_assert_int_eq(d4_store_fed_in_get(st, HUB, D4_FED_KIND_FRAMES, &in), 0);
	ck_assert_uint_eq(in.records, 3); /* nothing stored twice */
	d4_fed_sender_stop(fs);
	server_stop(&sv);
	d4_fed_wbuf_free(&pl.w);
	free((void *)pl.batch);
	free(p);
	X509_free(leaf);
}
END_TEST

/* ---- push: three frames in the log; the partner answers the first
 * batch 429 with Retry-After: 1, the second 409 at position 2, the third
 * is stored ---- */

struct script {
	int posts;
	uint64_t at[8];	   /* monotonic ms of each POST */
	char from[8][32];  /* hex of each batch's start */
	uint32_t nrecs[8]; /* records in each batch */
	char answer[256];
};

static const char HELLO_HUB[] =
    "{\"hub_uuid\":\"6f1c2b3a-4958-4766-8594-a3b2c1d0effe\",\"org_uuid\":\"" THIRD_TEXT "\",\"partner\":\"self\"}";

static void push_respond(struct server *sv, const char *path, struct answer *a)
{
	struct script *sc = sv->arg;
	if (strcmp(path, "/federation/v1/hello") == 0) {
		a->body = (const uint8_t *)HELLO_HUB;
		a->len = strlen(HELLO_HUB);
		return;
	}
	if (strcmp(path, "/federation/v1/inbox/frames") != 0 || sc->posts >= 8) {
		a->status = 404;
		return;
	}
	int n = sc->posts++;
	sc->at[n] = d4_mono_ms();
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	char to[32] = "?";
	if (d4_fed_batch_open(sv->req_body, sv->req_len, &h, &it) == 0 && h.from_len <= 8 && h.to_len <= 8) {
		d4_hex_encode(h.from, h.from_len, sc->from[n]);
		d4_hex_encode(h.to, h.to_len, to);
		sc->nrecs[n] = h.nrecords;
	}
	if (n == 0) {
		a->status = 429;
		a->ctype = "application/problem+json";
		a->headers = "Retry-After: 1\r\n";
		snprintf(sc->answer, sizeof(sc->answer),
			 "{\"title\":\"Too Many Requests\",\"detail\":\"the inbound quota is used up\"}");
	} else if (n == 1) {
		a->status = 409;
		snprintf(sc->answer, sizeof(sc->answer),
			 "{\"result\":\"position-mismatch\",\"position\":\"0000000000000002\"}");
	} else {
		snprintf(sc->answer, sizeof(sc->answer),
			 "{\"result\":\"stored\",\"position\":\"%s\",\"stored\":%u,\"refused\":{}}", to, sc->nrecs[n]);
	}
	a->body = (const uint8_t *)sc->answer;
	a->len = strlen(sc->answer);
}

/* Three tlp:clear frames of one session, committed. */
static void three_frames(void)
{
	static const uint8_t sensor[16] = {0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
					   0x82, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42};
	struct d4_session_open op;
	memset(&op, 0, sizeof(op));
	op.session = d4_store_session_id_new(st);
	memcpy(op.uuid, sensor, 16);
	op.type = 254;
	op.when = d4_now_s();
	op.auto_create = 1;
	ck_assert_int_eq(d4_store_post_session_open(st, &op), 0);
	struct d4_session_meta m;
	memset(&m, 0, sizeof(m));
	m.session = op.session;
	m.tlp = D4_TLP_CLEAR;
	ck_assert_int_eq(d4_store_post_session_meta(st, &m), 0);
	for (unsigned i = 0; i < 3; i++) {
		struct d4_frame_rec r;
		memset(&r, 0, sizeof(r));
		r.session = op.session;
		memcpy(r.uuid, sensor, 16);
		r.type = 254;
		r.version = 1;
		r.tlp = D4_TLP_CLEAR;
		r.hdr_ts = 1764000000 + i;
		r.recv_ms = d4_now_ms();
		r.size = 6;
		int rc;
		for (int k = 0;
		     (rc = d4_store_post_frame(st, &r, (const uint8_t *)"frame\n")) == D4_EAGAIN && k < 10000; k++)
			nap();
		ck_assert_int_eq(rc, 0);
	}
	uint64_t until = d4_mono_ms() + 20000;
	struct d4_store_status ss;
	do {
		d4_store_status_get(st, &ss);
		if (ss.committed_frames >= 3)
			break;
		nap();
	} while (d4_mono_ms() < until);
	ck_assert_uint_eq(ss.committed_frames, 3);
}

START_TEST(push_retry_after_mismatch_stored)
{
	ck_assert_int_eq(d4_store_writer_start(st), 0);
	three_frames();
	struct script sc;
	memset(&sc, 0, sizeof(sc));
	X509 *leaf = mkcert(srvkey, ca, cakey, 0, "serverAuth,clientAuth", HUB_URN, -60, 86400);
	struct server sv;
	server_start_fn(&sv, leaf, push_respond, &sc);
	struct d4_partner *p = partner(sv.port, HUB);
	ck_assert_int_eq(d4_store_partner_add(st, p), 0);
	struct d4_fed_sender *fs = sender(100, 200);
	struct d4_fed_status s;

	/* 429: the next try waits for Retry-After (1 s), not for the backoff
	 * (100..200 ms) */
	WAIT_STATUS(fs, s, 20, s.failures >= 1);
	uint64_t seen = d4_mono_ms();
	ck_assert_msg(strstr(s.last_error, "HTTP 429: the inbound quota is used up") != NULL, "last_error: %s",
		      s.last_error);
	ck_assert_int_eq(s.connected, 1); /* the partner answered */
	ck_assert_uint_ge(s.lag_records, 3);

	/* stored at the end: the position is the batch's end (after frame 3),
	 * from the position the 409 named */
	struct d4_store_fed_out o;
	uint64_t until = d4_mono_ms() + 20000;
	int done = 0;
	while (!done && d4_mono_ms() < until) {
		done = d4_store_fed_out_get(st, "b", D4_FED_KIND_FRAMES, &o) == 0 && o.pos_len == 8 && o.pos[7] == 4;
		nap();
	}
	ck_assert_msg(done, "the position never reached the end of the log");
	ck_assert_uint_ge(sc.at[1], sc.at[0] + 1000);
	ck_assert_uint_ge(s.next_try_ms, sc.at[0] + 1000);
	ck_assert_uint_le(s.next_try_ms, seen + 1000);
	ck_assert_int_eq(sc.posts, 3);
	ck_assert_str_eq(sc.from[0], "");
	ck_assert_str_eq(sc.from[1], "");
	ck_assert_str_eq(sc.from[2], "0000000000000002");
	ck_assert_uint_eq(sc.nrecs[0], 3);
	ck_assert_uint_eq(sc.nrecs[2], 2);
	/* what was acknowledged: one batch of two records, their decisions */
	ck_assert_uint_eq(o.batches, 1);
	ck_assert_uint_eq(o.records, 2);
	ck_assert_uint_eq(o.decisions[D4_FED_R_RELEASED], 2);
	ck_assert_uint_gt(o.last_ack, 0);
	WAIT_STATUS(fs, s, 20, s.lag_records == 0 && s.failures == 0);
	ck_assert_int_eq(s.connected, 1);
	ck_assert_str_eq(s.last_error, "");
	ck_assert_uint_gt(s.last_ack, 0);
	/* nothing more is sent: the log is at its end */
	ck_assert_int_eq(sc.posts, 3);

	d4_fed_sender_stop(fs);
	server_stop(&sv);
	free(p);
	X509_free(leaf);
}
END_TEST

/* ---- several batches in flight (fed_window.c): the answers applied in
 * batch order, the acknowledged position only at the end of the longest
 * acknowledged prefix ---- */

/* Position n (8 bytes, big-endian: a frames position). */
static const uint8_t *P(uint64_t n)
{
	static uint8_t b[4][8];
	static unsigned k;
	uint8_t *p = b[k++ % 4];
	for (int i = 7; i >= 0; i--, n >>= 8)
		p[i] = (uint8_t)n;
	return p;
}

/* Three batches [0,10) [10,20) [20,30) in flight. */
static void three_in_flight(struct fw *w, unsigned idx[3])
{
	fw_init(w, 3);
	fw_turn(w);
	for (unsigned k = 0; k < 3; k++) {
		idx[k] = fw_add(w, P(10 * k), 8, P(10 * k + 10), 8);
		ck_assert_uint_eq(w->n, k + 1);
	}
}

/* Applies what fw_step says as the sender does, adding the batches
 * committed (counted) into *acked; the position committed into *pos. */
static enum fw_act settle(struct fw *w, unsigned *acked, uint64_t *pos)
{
	for (;;) {
		enum fw_act a = fw_step(w);
		const struct fw_slot *s = &w->s[w->head];
		uint64_t at = 0;
		if (a == FW_COMMIT) {
			for (unsigned i = 0; i < 8; i++)
				at = at << 8 | s->to[i];
			*pos = at;
			(*acked)++;
			fw_pop(w);
			continue;
		}
		if (a == FW_ADOPT) {
			for (unsigned i = 0; i < s->pos_len; i++)
				at = at << 8 | s->pos[i];
			*pos = at;
			fw_drop_from(w, w->head);
		} else if (a == FW_RESEND || a == FW_FAIL_SAME || a == FW_FAIL)
			fw_drop_from(w, w->head);
		return a;
	}
}

START_TEST(window_answers_out_of_order)
{
	struct fw *w = malloc(sizeof(*w));
	unsigned i[3], acked = 0;
	uint64_t pos = 0;
	three_in_flight(w, i);
	/* the last, then the middle: nothing moves while the first is out */
	fw_answer(w, i[2], FW_A_ACK, P(30), 8);
	ck_assert_int_eq(settle(w, &acked, &pos), FW_NONE);
	fw_turn(w);
	fw_answer(w, i[1], FW_A_ACK, P(20), 8);
	ck_assert_int_eq(settle(w, &acked, &pos), FW_NONE);
	ck_assert_uint_eq(acked, 0);
	ck_assert_uint_eq(w->n, 3);
	/* the first: all three, in order, the position at the end */
	fw_turn(w);
	fw_answer(w, i[0], FW_A_ACK, P(10), 8);
	ck_assert_int_eq(settle(w, &acked, &pos), FW_NONE);
	ck_assert_uint_eq(acked, 3);
	ck_assert_uint_eq(pos, 30);
	ck_assert_uint_eq(w->n, 0);

	/* the second acknowledged first, the first then: two, at 20; the
	 * third still in flight */
	three_in_flight(w, i);
	acked = 0;
	fw_answer(w, i[1], FW_A_ACK, P(20), 8);
	ck_assert_int_eq(settle(w, &acked, &pos), FW_NONE);
	fw_turn(w);
	fw_answer(w, i[0], FW_A_ACK, P(10), 8);
	settle(w, &acked, &pos);
	ck_assert_uint_eq(acked, 2);
	ck_assert_uint_eq(pos, 20);
	ck_assert_uint_eq(w->n, 1);
	ck_assert_uint_eq(w->head, i[2]);
	/* an answer for a batch no longer in flight is ignored */
	fw_answer(w, i[0], FW_A_ACK, P(10), 8);
	ck_assert_uint_eq(w->n, 1);
	free(w);
}
END_TEST

START_TEST(window_mismatch_behind_in_flight)
{
	struct fw *w = malloc(sizeof(*w));
	unsigned i[3], acked = 0;
	uint64_t pos = 0;
	/* the second reached the partner before the first was stored: 409
	 * at the first's start. Not a rewind: once the first is
	 * acknowledged, the second is sent again from the first's end */
	three_in_flight(w, i);
	fw_answer(w, i[1], FW_A_MISMATCH, P(0), 8);
	ck_assert_int_eq(settle(w, &acked, &pos), FW_NONE);
	fw_turn(w);
	fw_answer(w, i[0], FW_A_ACK, P(10), 8);
	ck_assert_int_eq(settle(w, &acked, &pos), FW_RESEND);
	ck_assert_uint_eq(acked, 1); /* only the first counted */
	ck_assert_uint_eq(pos, 10);
	ck_assert_uint_eq(w->n, 0); /* the second and third: built again from 10 */

	/* both answers in the same turn, the first's taken first: the 409
	 * came while the first was not acknowledged yet either */
	three_in_flight(w, i);
	acked = 0;
	fw_turn(w);
	fw_answer(w, i[0], FW_A_ACK, P(10), 8);
	settle(w, &acked, &pos);
	fw_answer(w, i[1], FW_A_MISMATCH, P(0), 8);
	ck_assert_int_eq(settle(w, &acked, &pos), FW_RESEND);
	ck_assert_uint_eq(acked, 1);
	ck_assert_uint_eq(pos, 10);

	/* the 409 for the second comes a turn after the first's 200, naming
	 * the first's start (the partner's writer took the second first):
	 * sent again from the first's end, not a rewind to its start (which
	 * would send the first again, answered "duplicate", counted twice) */
	three_in_flight(w, i);
	acked = 0;
	fw_turn(w);
	fw_answer(w, i[0], FW_A_ACK, P(10), 8);
	settle(w, &acked, &pos);
	fw_turn(w);
	fw_answer(w, i[1], FW_A_MISMATCH, P(0), 8);
	ck_assert_int_eq(settle(w, &acked, &pos), FW_RESEND);
	ck_assert_uint_eq(acked, 1);
	ck_assert_uint_eq(pos, 10);

	/* a 409 for the oldest batch with nothing before it: the partner's
	 * position, everything in flight dropped, nothing counted */
	three_in_flight(w, i);
	acked = 0;
	fw_turn(w);
	fw_answer(w, i[2], FW_A_MISMATCH, P(7), 8);
	fw_turn(w);
	fw_answer(w, i[0], FW_A_MISMATCH, P(7), 8);
	ck_assert_int_eq(settle(w, &acked, &pos), FW_ADOPT);
	ck_assert_uint_eq(acked, 0);
	ck_assert_uint_eq(pos, 7);
	ck_assert_uint_eq(w->n, 0);

	/* ... naming the batch's own start: a failure, not a loop */
	three_in_flight(w, i);
	fw_turn(w);
	fw_answer(w, i[0], FW_A_MISMATCH, P(0), 8);
	ck_assert_int_eq(settle(w, &acked, &pos), FW_FAIL_SAME);
	ck_assert_uint_eq(w->n, 0);

	/* acknowledged at another position than its end: adopted, not counted */
	three_in_flight(w, i);
	acked = 0;
	fw_turn(w);
	fw_answer(w, i[0], FW_A_ACK, P(12), 8);
	ck_assert_int_eq(settle(w, &acked, &pos), FW_ADOPT);
	ck_assert_uint_eq(acked, 0);
	ck_assert_uint_eq(pos, 12);
	free(w);
}
END_TEST

START_TEST(window_error_in_the_middle)
{
	struct fw *w = malloc(sizeof(*w));
	unsigned i[3], acked = 0;
	uint64_t pos = 0;
	/* the second fails: it and the third are dropped at once (the
	 * sender does so on the failure); the first still counts when it
	 * is acknowledged, and the position stops at its end */
	three_in_flight(w, i);
	fw_answer(w, i[1], FW_A_FAIL, NULL, 0);
	ck_assert_uint_eq(fw_drop_from(w, i[1]), 2);
	ck_assert_uint_eq(w->n, 1);
	/* the third's answer comes anyway: ignored */
	fw_answer(w, i[2], FW_A_ACK, P(30), 8);
	ck_assert_uint_eq(w->n, 1);
	fw_turn(w);
	fw_answer(w, i[0], FW_A_ACK, P(10), 8);
	ck_assert_int_eq(settle(w, &acked, &pos), FW_NONE);
	ck_assert_uint_eq(acked, 1);
	ck_assert_uint_eq(pos, 10);
	ck_assert_uint_eq(w->n, 0);

	/* the first fails: nothing counted, everything dropped */
	three_in_flight(w, i);
	acked = 0;
	fw_answer(w, i[2], FW_A_ACK, P(30), 8);
	fw_answer(w, i[0], FW_A_FAIL, NULL, 0);
	ck_assert_int_eq(settle(w, &acked, &pos), FW_FAIL);
	ck_assert_uint_eq(acked, 0);
	ck_assert_uint_eq(w->n, 0);

	/* the ring wraps: 40 batches through a window of 3 */
	fw_init(w, 3);
	acked = 0;
	uint64_t next = 0;
	unsigned sent = 0;
	while (sent < 40 || w->n) {
		while (w->n < w->cap && sent < 40) {
			fw_add(w, P(next), 8, P(next + 1), 8);
			next++;
			sent++;
		}
		fw_turn(w);
		/* newest first */
		for (unsigned k = w->n; k-- > 0;) {
			unsigned x = fw_at(w, k);
			fw_answer(w, x, FW_A_ACK, w->s[x].to, 8);
		}
		settle(w, &acked, &pos);
	}
	ck_assert_uint_eq(acked, 40);
	ck_assert_uint_eq(pos, 40);
	free(w);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("fed_sender");
	TCase *tc = tcase_create("sender");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, wrong_hub_backoff_then_fixed);
	tcase_add_test(tc, hello_of_another_hub);
	tcase_add_test(tc, unreachable);
	tcase_add_test(tc, fetch_stores_and_confirms);
	tcase_add_test(tc, push_retry_after_mismatch_stored);
	tcase_add_test(tc, window_answers_out_of_order);
	tcase_add_test(tc, window_mismatch_behind_in_flight);
	tcase_add_test(tc, window_error_in_the_middle);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
