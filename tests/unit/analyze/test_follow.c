/* Check suite for the shared frame-log follower (hub/analyze/follow.c),
 * driven by a toy consumer over a real temporary store.
 *
 * The toy reads streams of type-1 frames: a stream opens with "H<digit>"
 * (its header: the weight k), then letters, each '.' completing a unit
 * worth k x its length. Like a pcap stream, the state depends on the
 * stream's first frame (the header) until a clean point (no unit in
 * progress) lets a restart rebuild it from the cursor. Its commits go to a
 * "durable" area in memory: a restart is d4_follow_free, then
 * d4_follow_new with the value committed last. Every expectation comes
 * from the text itself, never from hard-coded sums. */
#include "d4_error.h"
#include "d4_reader.h"
#include "d4_store.h"
#include "d4_util.h"
#include "follow_internal.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the toy consumer ---- */

struct tsess {
	struct d4_follow_sess h;
	int have_hdr;
	unsigned k;
	size_t len; /* letters of the unit in progress */
	int skip;   /* lost frames: up to the next '.' */
};

struct tdelta {
	uint8_t sensor[16];
	uint64_t units;
};

struct durable {
	uint8_t cv[8192];
	size_t cvl;
	uint64_t total, units, delta_units, commits;
};

struct toy {
	struct d4_follow *f;
	struct durable *d;
	uint64_t btotal, bunits; /* the open batch */
	unsigned batch;		 /* units per batch */
	int fail_commits, not_now;
	unsigned gaps_seen, finished;
};

static void t_clear(void *ctx)
{
	struct toy *t = ctx;
	t->btotal = t->bunits = 0;
}

static int t_full(void *ctx)
{
	struct toy *t = ctx;
	return t->bunits >= t->batch;
}

static uint64_t t_anchor(void *ctx, const struct d4_follow_sess *h)
{
	(void)ctx;
	const struct tsess *e = (const struct tsess *)h;
	return e->have_hdr ? e->h.first : 0;
}

static void t_free(void *ctx, struct d4_follow_sess *h)
{
	(void)ctx;
	(void)h;
}

static void t_gap(void *ctx, struct d4_follow_sess *h)
{
	struct toy *t = ctx;
	struct tsess *e = (struct tsess *)h;
	t->gaps_seen++;
	if (e->len) {
		e->len = 0;
		e->skip = 1;
	}
}

static int t_resume(void *ctx, struct d4_follow_sess *h)
{
	(void)ctx;
	struct tsess *e = (struct tsess *)h;
	e->have_hdr = 1;
	e->k = e->h.info.linktype;
	return 0;
}

static int t_frame(void *ctx, const struct d4_frame_rec *rec, const uint8_t *p, int counting)
{
	struct toy *t = ctx;
	struct tsess *e = (struct tsess *)d4_follow_sess_find(t->f, rec->session);
	if (!e && !(e = (struct tsess *)d4_follow_sess_new(t->f, rec->session, rec->seq)))
		return D4_ENOMEM;
	e->h.last_seq = rec->seq;
	e->h.last_rec = *rec;
	if (d4_follow_skip(&e->h, rec->seq))
		return 0;
	size_t i = 0;
	if (!e->have_hdr) {
		ck_assert_uint_ge(rec->size, 2);
		ck_assert_int_eq(p[0], 'H');
		e->k = (unsigned)(p[1] - '0');
		e->have_hdr = 1;
		e->h.first = rec->seq;
		i = 2;
	}
	for (; i < rec->size; i++) {
		if (p[i] != '.') {
			e->len++;
			continue;
		}
		if (counting && !e->skip) {
			struct tdelta *d = d4_follow_delta(t->f, rec->uuid);
			if (!d)
				return D4_ENOMEM;
			d->units++;
			t->btotal += e->k * e->len;
			t->bunits++;
		}
		e->len = 0;
		e->skip = 0;
	}
	if (e->len == 0 && !e->skip) {
		struct d4_pcap_info pi = {e->k, 0, 0, 0};
		d4_follow_clean(&e->h, rec->seq, &pi);
	}
	return 0;
}

/* A session's end: its unit in progress counts as complete (once). */
static int t_finish(void *ctx, struct d4_follow_sess *h)
{
	struct toy *t = ctx;
	struct tsess *e = (struct tsess *)h;
	if (!e->len || e->skip || d4_follow_fin_add(t->f, h, "end not processed"))
		return 0;
	t->btotal += e->k * e->len;
	t->bunits++;
	t->finished++;
	e->len = 0;
	return 0;
}

static int t_commit(void *ctx)
{
	struct toy *t = ctx;
	if (t->fail_commits) {
		t->fail_commits--;
		return D4_EIO;
	}
	if (t->not_now) {
		t->not_now--;
		return 1;
	}
	const uint8_t *cv;
	size_t len, nd;
	ck_assert_int_eq(d4_follow_cursor(t->f, &cv, &len), 0);
	ck_assert_uint_le(len, sizeof(t->d->cv));
	memcpy(t->d->cv, cv, len);
	t->d->cvl = len;
	struct tdelta *d = d4_follow_deltas(t->f, &nd);
	for (size_t i = 0; i < nd; i++)
		t->d->delta_units += d[i].units;
	t->d->total += t->btotal;
	t->d->units += t->bunits;
	t->d->commits++;
	return 0;
}

static const uint8_t t_types[] = {1};

static const struct d4_follow_ops t_ops = {
    .name = "toy",
    .sess_size = sizeof(struct tsess),
    .delta_size = sizeof(struct tdelta),
    .layout = D4_FOLLOW_FIN | D4_FOLLOW_CLEAN,
    .version = 2,
    .legacy_version = 1,
    .types = t_types,
    .ntypes = 1,
    .frame = t_frame,
    .batch_full = t_full,
    .commit = t_commit,
    .batch_clear = t_clear,
    .anchor = t_anchor,
    .sess_free = t_free,
    .gap_sess = t_gap,
    .finish = t_finish,
    .resume = t_resume,
};

static struct d4_follow_cfg t_cfg(unsigned max_sessions)
{
	struct d4_follow_cfg c;
	memset(&c, 0, sizeof(c));
	c.max_sessions = max_sessions;
	c.frames_per_walk = 5;
	c.cursor_max = 8192;
	c.clean_max = 64;
	return c;
}

static int toy_new(struct d4_store *s, struct toy *t, struct durable *d, const struct d4_follow_cfg *c)
{
	memset(t, 0, sizeof(*t));
	t->d = d;
	t->batch = 3;
	return d4_follow_new(s, &t_ops, t, c, d->cv, d->cvl, &t->f);
}

/* ---- the store ---- */

static char g_dir[256];

static struct d4_store *store_open(void)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/d4test_follow_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(g_dir));
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = g_dir;
	o.map_size = 64u << 20;
	o.no_sync = 1;
	o.commit_ms = 5;
	struct d4_store *s = NULL;
	ck_assert_int_eq(d4_store_open(&o, &s), 0);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	return s;
}

static void store_gone(struct d4_store *s)
{
	d4_store_close(s);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void uuid_n(uint8_t u[16], unsigned n)
{
	memset(u, 0, 16);
	u[0] = 0xb2;
	u[6] = 0x40;
	u[8] = 0x80;
	u[15] = (uint8_t)n;
}

static uint64_t sess_open(struct d4_store *s, const uint8_t u[16])
{
	struct d4_session_open op;
	memset(&op, 0, sizeof(op));
	op.session = d4_store_session_id_new(s);
	memcpy(op.uuid, u, 16);
	op.type = 1;
	op.when = d4_now_s();
	op.auto_create = 1;
	ck_assert_int_eq(d4_store_post_session_open(s, &op), 0);
	return op.session;
}

static void sess_close(struct d4_store *s, uint64_t sid, const char *why)
{
	int rc;
	for (int i = 0; (rc = d4_store_post_session_close(s, sid, d4_now_s(), why)) == D4_EAGAIN && i < 10000; i++)
		usleep(500);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
}

static void frame(struct d4_store *s, uint64_t sid, const uint8_t u[16], uint8_t type, const char *p, size_t n,
		  uint64_t recv_ms)
{
	struct d4_frame_rec r;
	memset(&r, 0, sizeof(r));
	r.session = sid;
	memcpy(r.uuid, u, 16);
	r.type = type;
	r.version = 1;
	r.hdr_ts = d4_now_s();
	r.recv_ms = recv_ms ? recv_ms : d4_now_ms();
	r.size = (uint32_t)n;
	int rc;
	for (int i = 0; (rc = d4_store_post_frame(s, &r, (const uint8_t *)p)) == D4_EAGAIN && i < 100000; i++)
		usleep(200);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
}

/* What the text of a stream is worth read in full (the reference). */
static void ref_stream(const char *txt, uint64_t *total, uint64_t *units)
{
	unsigned k = (unsigned)(txt[1] - '0');
	size_t len = 0;
	for (const char *p = txt + 2; *p; p++) {
		if (*p != '.') {
			len++;
			continue;
		}
		*total += k * len;
		(*units)++;
		len = 0;
	}
}

static const char *streams[] = {
    "H3abc.de.fghij..k.lmnop.qr.stuvwx.yz.abcdefg.h.ij.",
    "H7xy.z.abcd.efg.hijk.lmn.opq.rstu.vw.xyz.",
    "H2aaaaaaaaaa.bbbbbbbbbbbbbb.c.dd.eee.ffff.ggggg.hhhhhh.",
};

/* The three streams interleaved in frames of 1..6 bytes (the first frame
 * of each holds its header); one stream is ended by its sender. */
static void post_streams(struct d4_store *s, uint64_t *total, uint64_t *units)
{
	uint64_t sid[3];
	size_t off[3] = {0, 0, 0};
	uint8_t u[3][16];
	for (unsigned i = 0; i < 3; i++) {
		uuid_n(u[i], i + 1);
		sid[i] = sess_open(s, u[i]);
		ref_stream(streams[i], total, units);
	}
	static const size_t cuts[] = {2, 5, 1, 6, 3, 4};
	for (unsigned k = 0, left = 3; left; k++) {
		left = 0;
		for (unsigned i = 0; i < 3; i++) {
			size_t n = strlen(streams[i]);
			if (off[i] >= n)
				continue;
			size_t c = cuts[(k + i) % 6];
			if (off[i] == 0 && c < 2)
				c = 2; /* the header in the first frame */
			if (c > n - off[i])
				c = n - off[i];
			frame(s, sid[i], u[i], 1, streams[i] + off[i], c, 0);
			off[i] += c;
			left += off[i] < n;
		}
	}
}

static void drain(struct d4_store *s, struct durable *d, struct d4_follow_stats *st)
{
	struct toy t;
	struct d4_follow_cfg c = t_cfg(16);
	ck_assert_int_eq(toy_new(s, &t, d, &c), 0);
	int idle = 0;
	ck_assert_int_ge(d4_follow_step(t.f, 0, 1, 0, &idle), 0);
	ck_assert_int_eq(idle, 1);
	ck_assert_int_eq(d4_follow_maintain(t.f, 0), 0);
	ck_assert_int_ge(d4_follow_step(t.f, 0, 1, 0, &idle), 0);
	if (st)
		d4_follow_stats(t.f, st);
	d4_follow_free(t.f);
}

/* ---- tests ---- */

/* Stopped after every k batches (what was read past the last commit is
 * lost, as in a crash) and started again from the committed value: the
 * same total as one uninterrupted run, streams rebuilt at their clean
 * points, the frames read again counted. */
START_TEST(test_exact_restarts)
{
	struct d4_store *s = store_open();
	uint64_t total = 0, units = 0;
	post_streams(s, &total, &units);
	struct durable one;
	memset(&one, 0, sizeof(one));
	struct d4_follow_stats st;
	drain(s, &one, &st);
	ck_assert_uint_eq(one.total, total);
	ck_assert_uint_eq(one.units, units);
	ck_assert_uint_eq(one.delta_units, units);
	ck_assert_uint_eq(st.replayed, 0);
	ck_assert_uint_eq(st.lag, 0);
	for (unsigned k = 1; k <= 3; k++) {
		struct durable d;
		memset(&d, 0, sizeof(d));
		uint64_t replayed = 0, resumed = 0;
		int idle = 0, rounds = 0;
		while (!idle) {
			struct toy t;
			struct d4_follow_cfg c = t_cfg(16);
			ck_assert_int_eq(toy_new(s, &t, &d, &c), 0);
			ck_assert_int_ge(d4_follow_step(t.f, k, 1, 0, &idle), 0);
			d4_follow_stats(t.f, &st);
			replayed += st.replayed;
			resumed += st.resumed;
			d4_follow_free(t.f);
			ck_assert_int_lt(++rounds, 10000);
		}
		ck_assert_uint_eq(d.total, total);
		ck_assert_uint_eq(d.units, units);
		ck_assert_uint_eq(d.delta_units, units);
		ck_assert_uint_gt(replayed, 0);
		ck_assert_uint_gt(resumed, 0);
	}
	store_gone(s);
}
END_TEST

/* A clean point moves the replay point past the stream's first frame; a
 * session's end is processed once, even when the follower is restarted
 * after its commit while a replay can still reach the session's frames. */
START_TEST(test_clean_point_and_fin)
{
	struct d4_store *s = store_open();
	uint8_t u[16], v[16];
	uuid_n(u, 9);
	uuid_n(v, 10);
	uint64_t a = sess_open(s, u);
	frame(s, a, u, 1, "H5ab.", 5, 0);
	frame(s, a, u, 1, "cd", 2, 0); /* in a unit: not clean */
	uint64_t b = sess_open(s, v);
	frame(s, b, v, 1, "H2xyz", 5, 0); /* never clean: the header frame pins b */
	struct durable d;
	memset(&d, 0, sizeof(d));
	struct d4_follow_stats st;
	drain(s, &d, &st);
	ck_assert_uint_eq(d.total, 5 * 2);
	ck_assert_uint_eq(st.done, 3);
	ck_assert_uint_eq(st.replay_from, 2); /* a clean after frame 1; b from its first frame, 3 */
	ck_assert_uint_eq(d.cv[0], 2);	      /* the form with clean points */
	frame(s, a, u, 1, "e.", 2, 0);
	struct toy t;
	struct d4_follow_cfg c = t_cfg(16);
	ck_assert_int_eq(toy_new(s, &t, &d, &c), 0);
	int idle = 0;
	ck_assert_int_ge(d4_follow_step(t.f, 0, 1, 0, &idle), 0);
	d4_follow_stats(t.f, &st);
	ck_assert_uint_eq(st.resumed, 1);
	ck_assert_uint_eq(st.replayed, 2); /* frames 2 (a) and 3 (b), not frame 1 */
	ck_assert_uint_eq(d.total, 5 * 2 + 5 * 3);
	ck_assert_uint_eq(st.replay_from, 3); /* a is clean after frame 4; b pins frame 3 */
	d4_follow_free(t.f);
	/* b ends with a unit in progress: finished once, listed in the cursor
	 * while a replay reaches b's frames */
	sess_close(s, b, "peer closed");
	frame(s, a, u, 1, "zz", 2, 0); /* a's unit in progress pins the replay at frame 5 */
	ck_assert_int_eq(toy_new(s, &t, &d, &c), 0);
	ck_assert_int_ge(d4_follow_step(t.f, 0, 1, 0, &idle), 0);
	ck_assert_int_eq(d4_follow_maintain(t.f, 0), 0);
	ck_assert_uint_eq(t.finished, 1);
	ck_assert_int_ge(d4_follow_step(t.f, 0, 1, 0, &idle), 0);
	ck_assert_uint_eq(d.total, 5 * 2 + 5 * 3 + 2 * 3);
	d4_follow_stats(t.f, &st);
	ck_assert_uint_eq(st.sessions, 1);
	ck_assert_uint_eq(st.replay_from, 5);
	d4_follow_free(t.f);
	/* started again: b's frame 3 is before the replay point, its entry goes;
	 * its end is not processed twice */
	ck_assert_int_eq(toy_new(s, &t, &d, &c), 0);
	ck_assert_int_ge(d4_follow_step(t.f, 0, 1, 0, &idle), 0);
	ck_assert_int_eq(d4_follow_maintain(t.f, 0), 0);
	ck_assert_uint_eq(t.finished, 0);
	d4_follow_free(t.f);
	ck_assert_uint_eq(d.total, 5 * 2 + 5 * 3 + 2 * 3);
	store_gone(s);
}
END_TEST

/* The same session's end when the restart comes before the replay point
 * passes its frames: listed in the cursor, not finished again. */
START_TEST(test_fin_listed)
{
	struct d4_store *s = store_open();
	uint8_t u[16];
	uuid_n(u, 11);
	uint64_t b = sess_open(s, u);
	frame(s, b, u, 1, "H1q", 3, 0); /* b pins the replay point at its frame 1 */
	uint64_t a = sess_open(s, u);
	frame(s, a, u, 1, "H4ab", 4, 0);
	sess_close(s, a, "peer closed");
	struct durable d;
	memset(&d, 0, sizeof(d));
	struct toy t;
	struct d4_follow_cfg c = t_cfg(16);
	ck_assert_int_eq(toy_new(s, &t, &d, &c), 0);
	int idle = 0;
	ck_assert_int_ge(d4_follow_step(t.f, 0, 1, 0, &idle), 0);
	ck_assert_int_eq(d4_follow_maintain(t.f, 0), 0);
	ck_assert_uint_eq(t.finished, 1);
	ck_assert_int_ge(d4_follow_step(t.f, 0, 1, 0, &idle), 0);
	d4_follow_free(t.f);
	ck_assert_uint_eq(d.total, 4 * 2);
	/* committed: version 2 or 1 (no clean point), one finished session */
	ck_assert_uint_eq(d.cvl, D4_FOLLOW_HDR + 1 + 16);
	ck_assert_uint_eq(d.cv[0], 1);
	ck_assert_uint_eq(d.cv[D4_FOLLOW_HDR], 1);
	ck_assert_uint_eq(d4_get_u64be(d.cv + D4_FOLLOW_HDR + 1), a);
	ck_assert_int_eq(toy_new(s, &t, &d, &c), 0);
	ck_assert_int_ge(d4_follow_step(t.f, 0, 1, 0, &idle), 0);
	ck_assert_int_eq(d4_follow_maintain(t.f, 0), 0);
	ck_assert_uint_eq(t.finished, 0); /* a was rebuilt by the replay, and is listed */
	ck_assert_int_ge(d4_follow_step(t.f, 0, 1, 0, &idle), 0);
	d4_follow_free(t.f);
	ck_assert_uint_eq(d.total, 4 * 2);
	store_gone(s);
}
END_TEST

/* Values that are not a cursor of this layout are refused. */
START_TEST(test_cursor_refused)
{
	struct d4_store *s = store_open();
	struct durable d;
	struct toy t;
	struct d4_follow_cfg c = t_cfg(16);
	uint8_t good[D4_FOLLOW_HDR + 3 + D4_FOLLOW_RES];
	memset(good, 0, sizeof(good));
	good[0] = 2;
	d4_put_u64be(good + 1, 10);
	d4_put_u64be(good + 9, 4);
	good[D4_FOLLOW_HDR + 2] = 1; /* one clean point */
	d4_put_u64be(good + D4_FOLLOW_HDR + 3, 77);
	d4_put_u64be(good + D4_FOLLOW_HDR + 11, 6);
	d4_put_u32be(good + D4_FOLLOW_HDR + 19, 3);
	memset(&d, 0, sizeof(d));
	memcpy(d.cv, good, sizeof(good));
	d.cvl = sizeof(good);
	ck_assert_int_eq(toy_new(s, &t, &d, &c), 0);
	struct d4_follow_stats st;
	d4_follow_stats(t.f, &st);
	ck_assert_uint_eq(st.done, 10);
	ck_assert_uint_eq(st.replay_from, 4);
	ck_assert_uint_eq(st.resumed, 1);
	struct tsess *e = (struct tsess *)d4_follow_sess_find(t.f, 77);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->k, 3);
	ck_assert_uint_eq(e->h.start_seq, 6);
	d4_follow_free(t.f);
	struct bad {
		size_t at;
		uint8_t v;
		size_t len;
	} bad[] = {
	    {0, 9, sizeof(good)},		    /* unknown version */
	    {0, 2, sizeof(good) - 1},		    /* short */
	    {0, 2, D4_FOLLOW_HDR},		    /* no lists */
	    {16, 12, sizeof(good)},		    /* replay_from > done + 1 */
	    {D4_FOLLOW_HDR + 18, 3, sizeof(good)},  /* clean point before replay_from */
	    {D4_FOLLOW_HDR + 18, 12, sizeof(good)}, /* clean point past done + 1 */
	    {D4_FOLLOW_HDR + 2, 2, sizeof(good)},   /* nres beyond the value */
	    {D4_FOLLOW_HDR, 1, sizeof(good)},	    /* nfin beyond the value */
	    {0, 1, sizeof(good)},		    /* the older form with lists of the newer */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(d.cv, good, sizeof(good));
		d.cv[bad[i].at] = bad[i].v;
		d.cvl = bad[i].len;
		ck_assert_msg(toy_new(s, &t, &d, &c) == D4_ECORRUPT, "case %zu", i);
		ck_assert_ptr_null(t.f);
	}
	/* the older form: header, then the finished sessions when any */
	memcpy(d.cv, good, D4_FOLLOW_HDR);
	d.cv[0] = 1;
	d.cvl = D4_FOLLOW_HDR;
	ck_assert_int_eq(toy_new(s, &t, &d, &c), 0);
	d4_follow_free(t.f);
	d.cv[D4_FOLLOW_HDR] = 1;
	d4_put_u64be(d.cv + D4_FOLLOW_HDR + 1, 5);
	d4_put_u64be(d.cv + D4_FOLLOW_HDR + 9, 8);
	d.cvl = D4_FOLLOW_HDR + 17;
	ck_assert_int_eq(toy_new(s, &t, &d, &c), 0);
	struct d4_follow_sess fake;
	memset(&fake, 0, sizeof(fake));
	fake.id = 5;
	ck_assert_int_eq(d4_follow_fin_add(t.f, &fake, "x"), 1); /* listed: done before */
	fake.id = 6;
	ck_assert_int_eq(d4_follow_fin_add(t.f, &fake, "x"), 0);
	ck_assert_int_eq(d4_follow_fin_add(t.f, &fake, "x"), 1);
	d4_follow_free(t.f);
	d.cvl = c.cursor_max + 1;
	ck_assert_int_eq(toy_new(s, &t, &d, &c), D4_ECORRUPT);
	store_gone(s);
}
END_TEST

/* The session cap: the least recently fed goes (counted), a session marked
 * as holding no state goes first (not counted); the byte cap's eviction
 * keeps the session being fed. */
START_TEST(test_lru)
{
	struct d4_store *s = store_open();
	struct durable d;
	memset(&d, 0, sizeof(d));
	struct toy t;
	struct d4_follow_cfg c = t_cfg(2);
	ck_assert_int_eq(toy_new(s, &t, &d, &c), 0);
	struct d4_follow_sess *a = d4_follow_sess_new(t.f, 1, 10);
	struct d4_follow_sess *b = d4_follow_sess_new(t.f, 2, 11);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	a->last_seq = 12; /* a fed after b */
	ck_assert_ptr_nonnull(d4_follow_sess_new(t.f, 3, 13));
	ck_assert_ptr_null(d4_follow_sess_find(t.f, 2));
	ck_assert_ptr_nonnull(d4_follow_sess_find(t.f, 1));
	struct d4_follow_stats st;
	d4_follow_stats(t.f, &st);
	ck_assert_uint_eq(st.evictions, 1);
	ck_assert_uint_eq(st.sessions, 2);
	d4_follow_sess_find(t.f, 3)->ignore = 1;
	ck_assert_ptr_nonnull(d4_follow_sess_new(t.f, 4, 14));
	ck_assert_ptr_null(d4_follow_sess_find(t.f, 3)); /* the stateless one, though newer than 1 */
	d4_follow_stats(t.f, &st);
	ck_assert_uint_eq(st.evictions, 1);
	struct d4_follow_sess *keep = d4_follow_sess_find(t.f, 1);
	ck_assert_int_eq(d4_follow_evict(t.f, keep, "test"), 1);
	ck_assert_ptr_nonnull(d4_follow_sess_find(t.f, 1));
	ck_assert_int_eq(d4_follow_evict(t.f, keep, "test"), 0); /* only keep is left */
	unsigned n = 0;
	for (struct d4_follow_sess *e = d4_follow_sess_first(t.f); e; e = d4_follow_sess_next(t.f, e))
		n++;
	ck_assert_uint_eq(n, d4_follow_nsess(t.f));
	ck_assert_uint_eq(n, 1);
	d4_follow_free(t.f);
	store_gone(s);
}
END_TEST

/* Per-sensor deltas: one entry per sensor, zeroed when new, emptied by a
 * commit; a commit that fails keeps the batch, one that cannot be made yet
 * is not counted and the batch goes on. */
START_TEST(test_batches)
{
	struct d4_store *s = store_open();
	uint8_t u[16];
	uuid_n(u, 12);
	uint64_t a = sess_open(s, u);
	frame(s, a, u, 1, "H1a.b.c.d.e.f.g.", 16, 0);
	frame(s, a, u, 2, "other type", 10, 0);
	struct durable d;
	memset(&d, 0, sizeof(d));
	struct toy t;
	struct d4_follow_cfg c = t_cfg(16);
	ck_assert_int_eq(toy_new(s, &t, &d, &c), 0);
	uint8_t w[16];
	uuid_n(w, 13);
	struct tdelta *x1 = d4_follow_delta(t.f, w);
	x1->units = 5;
	ck_assert_ptr_eq(d4_follow_delta(t.f, w), x1);
	size_t nd;
	d4_follow_deltas(t.f, &nd);
	ck_assert_uint_eq(nd, 1);
	x1->units = 0;
	t.batch = 100;
	t.fail_commits = 1;
	int idle = 0;
	ck_assert_int_eq(d4_follow_step(t.f, 0, 1, 0, &idle), D4_EIO);
	ck_assert_uint_eq(d.commits, 0);
	t.not_now = 1;
	ck_assert_int_eq(d4_follow_step(t.f, 0, 1, 0, &idle), 0); /* not now: no batch */
	ck_assert_int_eq(idle, 1);
	ck_assert_uint_eq(d.commits, 0);
	ck_assert_int_eq(d4_follow_flush(t.f), 0);
	ck_assert_uint_eq(d.commits, 1);
	ck_assert_uint_eq(d.total, 7);
	ck_assert_uint_eq(d.delta_units, 7);
	d4_follow_deltas(t.f, &nd);
	ck_assert_uint_eq(nd, 0);
	struct d4_follow_stats st;
	d4_follow_stats(t.f, &st);
	ck_assert_uint_eq(st.done, 2);
	ck_assert_uint_eq(st.frames, 1); /* the type-2 frame only advances the cursor */
	ck_assert_uint_eq(st.commits, 1);
	ck_assert_int_eq(d4_follow_flush(t.f), 0); /* nothing pending: no commit */
	ck_assert_uint_eq(d.commits, 1);
	ck_assert_int_eq(d4_follow_expire_due(t.f, 100, 600, 0), 0);
	ck_assert_int_eq(d4_follow_expire_due(t.f, 1000, 600, 100), 1);
	ck_assert_int_eq(d4_follow_expire_due(t.f, 1500, 600, 100), 0);
	ck_assert_int_eq(d4_follow_expire_due(t.f, 1600, 600, 100), 1);
	d4_follow_free(t.f);
	store_gone(s);
}
END_TEST

/* Frames deleted by retention before they were read: counted once in the
 * cursor's lost frames, every session told (its partial unit dropped). */
START_TEST(test_retention_gap)
{
	struct d4_store *s = store_open();
	uint8_t u[16];
	uuid_n(u, 14);
	uint64_t a = sess_open(s, u);
	uint64_t old = d4_now_ms() - 10ull * 86400 * 1000;
	frame(s, a, u, 1, "H2ab.c", 6, old);
	struct durable d;
	memset(&d, 0, sizeof(d));
	struct toy t;
	struct d4_follow_cfg c = t_cfg(16);
	ck_assert_int_eq(toy_new(s, &t, &d, &c), 0);
	int idle = 0;
	ck_assert_int_ge(d4_follow_step(t.f, 0, 1, 0, &idle), 0);
	ck_assert_uint_eq(d.total, 4);
	frame(s, a, u, 1, "dd", 2, old);
	frame(s, a, u, 1, "e.", 2, old);
	d4_store_retention_set(s, 86400, 0);
	ck_assert_int_eq(d4_store_retention_run(s), 3);
	d4_store_retention_set(s, 0, 0);
	frame(s, a, u, 1, "fg.h.", 5, 0);
	ck_assert_int_ge(d4_follow_step(t.f, 0, 1, 0, &idle), 0);
	ck_assert_uint_eq(t.gaps_seen, 1);
	struct d4_follow_stats st;
	d4_follow_stats(t.f, &st);
	ck_assert_uint_eq(st.frames_lost, 2);
	ck_assert_uint_eq(st.lost_total, 2);
	ck_assert_uint_eq(st.done, 4);
	d4_follow_free(t.f);
	/* the unit cut by the gap is not counted ("c", lost frames, "fg."),
	 * the next one is */
	ck_assert_uint_eq(d.total, 4 + 2);
	ck_assert_uint_eq(d4_get_u64be(d.cv + 17), 2);
	store_gone(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("follow");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_exact_restarts);
	tcase_add_test(tc, test_clean_point_and_fin);
	tcase_add_test(tc, test_fin_listed);
	tcase_add_test(tc, test_cursor_refused);
	tcase_add_test(tc, test_lru);
	tcase_add_test(tc, test_batches);
	tcase_add_test(tc, test_retention_gap);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
