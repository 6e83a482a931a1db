/* Corrupt records in a real store (written through the store's test hook):
 * reported (log, d4_store_health_get), isolated (the batch commits without
 * them) and never overwritten (a sensor record is left as it is). Part of
 * the test_store suite (tcase "corrupt"). */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_reader.h"
#include "d4_store.h"
#include "d4_util.h"
#include "store_internal.h"

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	const char *lv = getenv("D4_TEST_LOG");
	enum d4_log_level level = D4_LOG_ERR;
	if (lv)
		d4_log_level_parse(lv, &level);
	d4_log_init("test_store", 0, level);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/d4corrupt-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(storedir, sizeof(storedir), "%s/store", tmpdir);
}

static void teardown(void)
{
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static struct d4_store *open_rw(void)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = storedir;
	o.map_size = 64u << 20;
	o.commit_ms = 5;
	o.no_sync = 1;
	struct d4_store *s = NULL;
	ck_assert_int_eq(d4_store_open(&o, &s), 0);
	return s;
}

static void uuid_of(uint8_t u[16], unsigned n)
{
	memset(u, 0, 16);
	u[0] = 0xc0;
	u[6] = 0x40;
	u[8] = 0x80;
	u[15] = (uint8_t)n;
}

static void add_sensor(struct d4_store *s, unsigned n, const char *descr)
{
	struct d4_sensor sn;
	memset(&sn, 0, sizeof(sn));
	uuid_of(sn.uuid, n);
	memcpy(sn.key, "own key", 7);
	sn.keylen = 7;
	sn.status = D4_SENSOR_APPROVED;
	d4_strlcpy(sn.description, descr, sizeof(sn.description));
	ck_assert_int_eq(d4_store_sensor_add(s, &sn), 0);
}

static void post_frames(struct d4_store *s, uint64_t sess, const uint8_t u[16], unsigned n, int open, int auto_create)
{
	if (open) {
		struct d4_session_open op = {
		    .session = sess, .type = 1, .when = d4_now_s(), .auto_create = auto_create};
		memcpy(op.uuid, u, 16);
		ck_assert_int_eq(d4_store_post_session_open(s, &op), 0);
	}
	static const uint8_t pl[100];
	for (unsigned i = 0; i < n; i++) {
		struct d4_frame_rec r;
		memset(&r, 0, sizeof(r));
		r.session = sess;
		memcpy(r.uuid, u, 16);
		r.type = 1;
		r.version = 1;
		r.tlp = 4;
		r.hdr_ts = 1700000000u + i;
		r.recv_ms = d4_now_ms();
		r.size = sizeof(pl);
		ck_assert_int_eq(d4_store_post_frame(s, &r, pl), 0);
	}
}

static void reject(struct d4_store *s, const uint8_t u[16], enum d4_reject why)
{
	struct d4_reject_ev ev;
	memset(&ev, 0, sizeof(ev));
	memcpy(ev.uuid, u, 16);
	ev.has_uuid = 1;
	ev.reason = why;
	ev.when = d4_now_s();
	d4_strlcpy(ev.detail, "test", sizeof(ev.detail));
	d4_store_post_reject(s, &ev);
}

/* The raw value stored under a sensor's key (to prove it was not touched). */
static size_t raw_sensor(struct d4_store *s, const uint8_t u[16], uint8_t *out, size_t cap)
{
	MDB_txn *txn;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	MDB_val k = {16, (void *)u}, v;
	ck_assert_int_eq(mdb_get(txn, s->dbi[DBI_SENSORS], &k, &v), 0);
	ck_assert_uint_le(v.mv_size, cap);
	memcpy(out, v.mv_data, v.mv_size);
	mdb_txn_abort(txn);
	return v.mv_size;
}

static int count_cb(void *ctx, const struct d4_sensor *sn)
{
	(void)sn;
	++*(unsigned *)ctx;
	return 0;
}
static int count_sm_cb(void *ctx, const struct d4_sensor_summary *sm)
{
	(void)sm;
	++*(unsigned *)ctx;
	return 0;
}

START_TEST(test_corrupt_totals)
{
	struct d4_store *s = open_rw();
	add_sensor(s, 1, "one");
	uint8_t u[16];
	uuid_of(u, 1);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	post_frames(s, d4_store_session_id_new(s), u, 10, 1, 0);
	reject(s, u, D4_REJ_HMAC);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	struct d4_totals t;
	ck_assert_int_eq(d4_store_totals(s, &t), 0);
	ck_assert_uint_eq(t.frames, 10);

	/* a totals record that does not decode */
	ck_assert_int_eq(d4_store_test_put_raw(s, "totals", "all", 3, "\x01garbage", 8), 0);
	ck_assert_int_eq(d4_store_totals(s, &t), D4_ECORRUPT);
	struct d4_store_health h;
	ck_assert_int_eq(d4_store_health_get(s, &h), 0);
	ck_assert_uint_eq(h.corrupt_records, 0);
	ck_assert_uint_eq(h.totals_rebuilt_at, 0);

	/* intake goes on: the batch commits, the totals are rebuilt */
	post_frames(s, d4_store_session_id_new(s), u, 5, 1, 0);
	reject(s, u, D4_REJ_HMAC);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	struct d4_store_status st;
	d4_store_status_get(s, &st);
	ck_assert_int_eq(st.paused, 0);
	ck_assert_int_eq(d4_store_totals(s, &t), 0);
	ck_assert_uint_eq(t.frames, 15);
	ck_assert_uint_eq(t.bytes, 1500);
	ck_assert_uint_eq(t.sessions, 2);
	ck_assert_uint_eq(t.rejects[D4_REJ_HMAC], 2);
	ck_assert_int_eq(d4_store_health_get(s, &h), 0);
	ck_assert_uint_eq(h.corrupt_records, 1);
	ck_assert_uint_ge(h.totals_rebuilt_at, d4_now_s() - 60);

	/* counted once, and later batches add up normally */
	post_frames(s, d4_store_session_id_new(s), u, 1, 1, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	ck_assert_int_eq(d4_store_totals(s, &t), 0);
	ck_assert_uint_eq(t.frames, 16);
	ck_assert_int_eq(d4_store_health_get(s, &h), 0);
	ck_assert_uint_eq(h.corrupt_records, 1);
	d4_store_close(s);

	/* corrupt while the hub is down: repaired as soon as the writer starts */
	s = open_rw();
	ck_assert_int_eq(d4_store_test_put_raw(s, "totals", "all", 3, "\x07", 1), 0);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	int ok = 0;
	for (int i = 0; i < 100 && !ok; i++) {
		ok = d4_store_totals(s, &t) == 0;
		if (!ok)
			usleep(50000);
	}
	ck_assert_msg(ok, "totals not rebuilt at writer start");
	ck_assert_uint_eq(t.frames, 16);
	ck_assert_uint_eq(t.sessions, 3);
	ck_assert_int_eq(d4_store_health_get(s, &h), 0);
	ck_assert_uint_eq(h.corrupt_records, 2);
	d4_store_close(s);
}
END_TEST

START_TEST(test_corrupt_sensor)
{
	struct d4_store *s = open_rw();
	add_sensor(s, 1, "admin note one");
	add_sensor(s, 2, "admin note two");
	uint8_t u1[16], u2[16];
	uuid_of(u1, 1);
	uuid_of(u2, 2);
	static const uint8_t bad[] = {0x02, 0xc0, 0x00, 0x00, 0x00, 0x40, 0xde, 0xad};
	ck_assert_int_eq(d4_store_test_put_raw(s, "sensors", u1, 16, bad, sizeof(bad)), 0);
	struct d4_sensor got;
	ck_assert_int_eq(d4_store_sensor_get(s, u1, &got), D4_ECORRUPT);

	/* events for it (a shared-secret open that would auto-create it,
	 * frames, a rejection) and for a healthy sensor, in one batch */
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	post_frames(s, d4_store_session_id_new(s), u1, 3, 1, 1);
	reject(s, u1, D4_REJ_HMAC);
	post_frames(s, d4_store_session_id_new(s), u2, 4, 1, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	struct d4_store_status st;
	d4_store_status_get(s, &st);
	ck_assert_int_eq(st.paused, 0);

	/* the corrupt record is exactly as it was: not re-created, not updated */
	uint8_t raw[STORE_SENSOR_MAX];
	size_t n = raw_sensor(s, u1, raw, sizeof(raw));
	ck_assert_uint_eq(n, sizeof(bad));
	ck_assert_mem_eq(raw, bad, sizeof(bad));
	ck_assert_int_eq(d4_store_sensor_get(s, u1, &got), D4_ECORRUPT);
	/* the healthy one got its counters, the totals everything */
	ck_assert_int_eq(d4_store_sensor_get(s, u2, &got), 0);
	ck_assert_uint_eq(got.packets, 4);
	ck_assert_str_eq(got.description, "admin note two");
	struct d4_totals t;
	ck_assert_int_eq(d4_store_totals(s, &t), 0);
	ck_assert_uint_eq(t.frames, 7);
	ck_assert_uint_eq(t.rejects[D4_REJ_HMAC], 1);
	/* reported once, however many batches meet it */
	struct d4_store_health h;
	ck_assert_int_eq(d4_store_health_get(s, &h), 0);
	ck_assert_uint_eq(h.corrupt_records, 1);
	reject(s, u1, D4_REJ_HMAC);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	ck_assert_int_eq(d4_store_health_get(s, &h), 0);
	ck_assert_uint_eq(h.corrupt_records, 1);
	ck_assert_uint_eq(raw_sensor(s, u1, raw, sizeof(raw)), sizeof(bad));
	ck_assert_mem_eq(raw, bad, sizeof(bad));

	/* lists go on without it */
	unsigned cnt = 0;
	ck_assert_int_eq(d4_store_sensor_foreach(s, count_cb, &cnt), 0);
	ck_assert_uint_eq(cnt, 1);
	cnt = 0;
	ck_assert_int_eq(d4_store_sensor_summary_foreach(s, NULL, NULL, count_sm_cb, &cnt), 0);
	ck_assert_uint_eq(cnt, 1);

	/* an admin can remove and re-create it */
	ck_assert_int_eq(d4_store_sensor_del(s, u1), 0);
	add_sensor(s, 1, "re-created");
	ck_assert_int_eq(d4_store_sensor_get(s, u1, &got), 0);
	ck_assert_str_eq(got.description, "re-created");
	d4_store_close(s);
}
END_TEST

START_TEST(test_corrupt_counters)
{
	/* per-type, daily and session records: reported, restarted, never a
	 * failed batch */
	struct d4_store *s = open_rw();
	add_sensor(s, 1, "one");
	uint8_t u[16];
	uuid_of(u, 1);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	uint64_t sess = d4_store_session_id_new(s);
	post_frames(s, sess, u, 2, 1, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	uint8_t skey[8];
	d4_put_u64be(skey, sess);
	ck_assert_int_eq(d4_store_test_put_raw(s, "sessions", skey, 8, "\x01x", 2), 0);
	uint8_t tkey[80];
	size_t tk = store_stype_key(u, 1, "", tkey);
	ck_assert_int_eq(d4_store_test_put_raw(s, "sensor_types", tkey, tk, "\x01", 1), 0);
	uint8_t dkey[21];
	store_daily_key((uint32_t)(d4_now_ms() / 86400000u), u, 1, dkey);
	ck_assert_int_eq(d4_store_test_put_raw(s, "daily", dkey, 21, "", 0), 0);
	post_frames(s, sess, u, 3, 0, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	struct d4_store_status st;
	d4_store_status_get(s, &st);
	ck_assert_int_eq(st.paused, 0);
	struct d4_store_health h;
	ck_assert_int_eq(d4_store_health_get(s, &h), 0);
	ck_assert_uint_eq(h.corrupt_records, 3);
	struct d4_session_info si;
	ck_assert_int_eq(d4_store_session_get(s, sess, &si), 0);
	ck_assert_uint_eq(si.frames, 3);
	struct d4_totals t;
	ck_assert_int_eq(d4_store_totals(s, &t), 0);
	ck_assert_uint_eq(t.frames, 5);
	d4_store_close(s);
}
END_TEST

TCase *corrupt_tcase(void)
{
	TCase *tc = tcase_create("corrupt");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_corrupt_totals);
	tcase_add_test(tc, test_corrupt_sensor);
	tcase_add_test(tc, test_corrupt_counters);
	return tc;
}
