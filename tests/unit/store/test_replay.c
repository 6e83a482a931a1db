/* Check case for the replay window of acknowledged delivery (d4-ack/1):
 * exact replays of committed frames are dropped and counted, frames not
 * flagged are never checked, the window is bounded per (uuid, type) and
 * survives a reopen, and the commit marks tell when a frame is durable.
 * Part of the test_store suite binary. */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_reader.h"
#include "d4_store.h"
#include "d4_util.h"

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TCase *replay_tcase(void);

static char tmpdir[256];
static char storedir[300];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void setup(void)
{
	d4_log_init("test_replay", 0, D4_LOG_ERR);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/d4replay-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(storedir, sizeof(storedir), "%s/store", tmpdir);
}

static void teardown(void)
{
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static struct d4_store *open_started(void)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = storedir;
	o.map_size = 256u << 20;
	o.commit_ms = 5;
	o.no_sync = 1;
	struct d4_store *s = NULL;
	ck_assert_int_eq(d4_store_open(&o, &s), 0);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	return s;
}

static const uint8_t U1[16] = {0xd4, 1, 2, 3, 4, 5, 0x40, 7, 0x80, 9, 10, 11, 12, 13, 14, 1};
static const uint8_t U2[16] = {0xd4, 1, 2, 3, 4, 5, 0x40, 7, 0x80, 9, 10, 11, 12, 13, 14, 2};

static void add_sensor(struct d4_store *s, const uint8_t u[16])
{
	struct d4_sensor sn;
	memset(&sn, 0, sizeof(sn));
	memcpy(sn.uuid, u, 16);
	sn.status = D4_SENSOR_APPROVED;
	ck_assert_int_eq(d4_store_sensor_put(s, &sn), 0);
}

/* Frame i: timestamp 1000 + i / 3 (several frames per second), hmac from i. */
static struct d4_frame_rec rec_of(uint64_t session, const uint8_t u[16], uint8_t type, unsigned i, int check)
{
	struct d4_frame_rec r;
	memset(&r, 0, sizeof(r));
	r.session = session;
	memcpy(r.uuid, u, 16);
	r.type = type;
	r.version = 1;
	r.tlp = 4;
	r.hdr_ts = 1000 + i / 3;
	r.recv_ms = 1700000000000ull;
	r.size = 4;
	r.replay_check = (uint8_t)check;
	/* check = 1: D4_REPLAY_CHECK, 2: D4_REPLAY_RECORD */
	memset(r.hmac, 0x5a, 32);
	d4_put_u32be(r.hmac, i);
	return r;
}

static void post(struct d4_store *s, const struct d4_frame_rec *r, uint64_t *mark)
{
	uint8_t pl[4];
	d4_put_u32be(pl, (uint32_t)d4_get_u32be(r->hmac));
	int rc;
	while ((rc = d4_store_post_frame_mark(s, r, pl, mark)) == D4_EAGAIN)
		usleep(1000);
	ck_assert_int_eq(rc, 0);
}

static int count_cb(void *ctx, const struct d4_frame_rec *r, const uint8_t *p)
{
	(void)r;
	(void)p;
	(*(uint64_t *)ctx)++;
	return 0;
}

static uint64_t frames_stored(struct d4_store *s)
{
	uint64_t n = 0;
	ck_assert_int_eq(d4_store_frame_foreach(s, 1, 0, count_cb, &n), 0);
	return n;
}

START_TEST(test_replay_dropped_and_counted)
{
	struct d4_store *s = open_started();
	add_sensor(s, U1);
	uint64_t m1 = 0, m2 = 0;
	for (unsigned i = 0; i < 10; i++) {
		struct d4_frame_rec r = rec_of(1, U1, 8, i, 1);
		post(s, &r, &m1);
	}
	ck_assert_uint_gt(m1, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	ck_assert_uint_ge(d4_store_committed_mark(s), m1);
	/* a second connection replays frames 5..9, then sends 10..14; the
	 * replays are dropped even inside one batch with their originals */
	for (unsigned i = 5; i < 15; i++) {
		struct d4_frame_rec r = rec_of(2, U1, 8, i, 1);
		post(s, &r, &m2);
	}
	ck_assert_uint_gt(m2, m1);
	struct d4_frame_rec again = rec_of(3, U1, 8, 14, 1);
	post(s, &again, NULL);
	/* same timestamp and hmac, other type or other sensor: not a replay */
	struct d4_frame_rec t2 = rec_of(3, U1, 1, 14, 1);
	post(s, &t2, NULL);
	add_sensor(s, U2);
	struct d4_frame_rec u2 = rec_of(4, U2, 8, 14, 1);
	post(s, &u2, NULL);
	/* frames of plain D4 connections are never checked: stored twice */
	struct d4_frame_rec p1 = rec_of(5, U1, 8, 3, 0);
	post(s, &p1, NULL);
	/* a frame not announced as a replay is stored even if identical */
	struct d4_frame_rec p2 = rec_of(5, U1, 8, 4, D4_REPLAY_RECORD);
	post(s, &p2, NULL);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	ck_assert_uint_ge(d4_store_committed_mark(s), m2);
	ck_assert_uint_eq(frames_stored(s), 10 + 5 + 1 + 1 + 1 + 1);
	struct d4_replay_stats st;
	ck_assert_int_eq(d4_store_replay_stats(s, U1, &st), 0);
	ck_assert_uint_eq(st.dropped, 5 + 1);
	ck_assert_uint_eq(st.window, 15 + 1);
	ck_assert_int_eq(d4_store_replay_stats(s, U2, &st), 0);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.window, 1);
	struct d4_sensor sn;
	ck_assert_int_eq(d4_store_sensor_get(s, U1, &sn), 0);
	ck_assert_uint_eq(sn.packets, 10 + 5 + 1 + 1 + 1); /* replays are not counted as traffic */
	d4_store_close(s);

	/* the window survives a reopen: a replay after a restart is dropped */
	s = open_started();
	struct d4_frame_rec r = rec_of(6, U1, 8, 0, 1);
	post(s, &r, NULL);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	ck_assert_uint_eq(frames_stored(s), 19);
	ck_assert_int_eq(d4_store_replay_stats(s, U1, &st), 0);
	ck_assert_uint_eq(st.dropped, 7);
	d4_store_close(s);
}
END_TEST

START_TEST(test_replay_window_bounded)
{
	struct d4_store *s = open_started();
	add_sensor(s, U1);
	unsigned n = D4_REPLAY_WINDOW + 1000;
	for (unsigned i = 0; i < n; i++) {
		struct d4_frame_rec r = rec_of(1, U1, 8, i, 1);
		post(s, &r, NULL);
	}
	ck_assert_int_eq(d4_store_writer_sync(s, 30000), 0);
	struct d4_replay_stats st;
	ck_assert_int_eq(d4_store_replay_stats(s, U1, &st), 0);
	ck_assert_uint_eq(st.window, D4_REPLAY_WINDOW);
	ck_assert_uint_eq(st.dropped, 0);
	/* the newest D4_REPLAY_WINDOW are remembered: replaying the last one is
	 * dropped; the oldest fell out of the window and is stored again */
	struct d4_frame_rec last = rec_of(2, U1, 8, n - 1, 1);
	post(s, &last, NULL);
	struct d4_frame_rec edge = rec_of(2, U1, 8, n - D4_REPLAY_WINDOW + 3, 1);
	post(s, &edge, NULL);
	struct d4_frame_rec first = rec_of(2, U1, 8, 0, 1);
	post(s, &first, NULL);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	ck_assert_int_eq(d4_store_replay_stats(s, U1, &st), 0);
	ck_assert_uint_eq(st.dropped, 2);
	ck_assert_uint_eq(st.window, D4_REPLAY_WINDOW);
	ck_assert_uint_eq(frames_stored(s), n + 1);
	d4_store_close(s);
}
END_TEST

/* Replays come first on a connection: once a (session, type) sent a frame
 * that is not in the window, identical frames after it are new data. */
START_TEST(test_replay_phase)
{
	struct d4_store *s = open_started();
	add_sensor(s, U1);
	/* session 1: constant data, the same frame three times (same second) */
	for (int k = 0; k < 3; k++) {
		struct d4_frame_rec r = rec_of(1, U1, 8, 0, D4_REPLAY_CHECK);
		post(s, &r, NULL);
	}
	struct d4_frame_rec r1 = rec_of(1, U1, 8, 1, D4_REPLAY_CHECK);
	post(s, &r1, NULL);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	ck_assert_uint_eq(frames_stored(s), 4);
	/* session 2 replays frames 0 and 1, then sends 2, then 0 again (new
	 * data identical to an old frame): only the first two are replays */
	unsigned seq[] = {0, 1, 2, 0, 1};
	for (unsigned k = 0; k < 5; k++) {
		struct d4_frame_rec r = rec_of(2, U1, 8, seq[k], D4_REPLAY_CHECK);
		post(s, &r, NULL);
	}
	/* its type-2 frames are checked on their own */
	struct d4_frame_rec m = rec_of(2, U1, 2, 7, D4_REPLAY_CHECK);
	post(s, &m, NULL);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	ck_assert_uint_eq(frames_stored(s), 4 + 3 + 1);
	struct d4_replay_stats st;
	ck_assert_int_eq(d4_store_replay_stats(s, U1, &st), 0);
	ck_assert_uint_eq(st.dropped, 2);
	/* session 3 of type 2 replays the meta frame: dropped */
	struct d4_frame_rec m3 = rec_of(3, U1, 2, 7, D4_REPLAY_CHECK);
	post(s, &m3, NULL);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	ck_assert_uint_eq(frames_stored(s), 8);
	ck_assert_int_eq(d4_store_replay_stats(s, U1, &st), 0);
	ck_assert_uint_eq(st.dropped, 3);
	d4_store_close(s);
}
END_TEST

TCase *replay_tcase(void)
{
	TCase *tc = tcase_create("replay");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_replay_dropped_and_counted);
	tcase_add_test(tc, test_replay_window_bounded);
	tcase_add_test(tc, test_replay_phase);
	return tc;
}
