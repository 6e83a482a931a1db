/* Check tests for the store's analyzer queues (hub/store/store_queue.c):
 * fan-out by type / extended type / sensor group in the writer, drops when
 * full, flush, pop order, ack, persistence across reopen, retention. Part of
 * the test_store binary (queue_tcase). */
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

TCase *queue_tcase(void);

static char qtmp[256];
static char qdir[300];

static int q_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void q_setup(void)
{
	d4_log_init("test_queues", 0, D4_LOG_ERR);
	snprintf(qtmp, sizeof(qtmp), "/tmp/d4queue-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(qtmp));
	snprintf(qdir, sizeof(qdir), "%s/store", qtmp);
}

static void q_teardown(void)
{
	nftw(qtmp, q_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static struct d4_store *q_open(void)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = qdir;
	o.map_size = 128u << 20;
	o.commit_ms = 5;
	o.no_sync = 1;
	struct d4_store *s = NULL;
	int rc = d4_store_open(&o, &s);
	ck_assert_msg(rc == 0, "open: %s", d4_strerror(rc));
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	return s;
}

static void q_uuid(uint8_t u[16], unsigned n)
{
	memset(u, 0, 16);
	u[0] = 0x51;
	u[6] = 0x40;
	u[8] = 0x80;
	u[15] = (uint8_t)n;
}

static uint64_t q_session(struct d4_store *s, const uint8_t u[16], uint8_t type, const char *ext)
{
	struct d4_session_open op;
	memset(&op, 0, sizeof(op));
	op.session = d4_store_session_id_new(s);
	memcpy(op.uuid, u, 16);
	op.type = type;
	op.when = d4_now_s();
	ck_assert_int_eq(d4_store_post_session_open(s, &op), 0);
	if (ext) {
		struct d4_session_meta m;
		memset(&m, 0, sizeof(m));
		m.session = op.session;
		d4_strlcpy(m.ext_type, ext, sizeof(m.ext_type));
		m.tlp = 4;
		ck_assert_int_eq(d4_store_post_session_meta(s, &m), 0);
	}
	return op.session;
}

/* Payload "<tag>:<n>" so that a reader can tell which frame it got. */
static void q_frame(struct d4_store *s, uint64_t sess, const uint8_t u[16], uint8_t type, unsigned tag, unsigned n,
		    uint64_t recv_ms)
{
	char p[32];
	int len = snprintf(p, sizeof(p), "%u:%u", tag, n);
	struct d4_frame_rec r;
	memset(&r, 0, sizeof(r));
	r.session = sess;
	memcpy(r.uuid, u, 16);
	r.type = type;
	r.version = 1;
	r.tlp = 4;
	r.hdr_ts = 1700000000u + n;
	r.recv_ms = recv_ms ? recv_ms : d4_now_ms();
	r.size = (uint32_t)len;
	int rc;
	for (int i = 0; (rc = d4_store_post_frame(s, &r, (const uint8_t *)p)) == D4_EAGAIN && i < 10000; i++)
		usleep(500);
	ck_assert_int_eq(rc, 0);
}

static uint32_t q_create(struct d4_store *s, const char *name, uint8_t type, const char *ext, uint32_t max,
			 unsigned ngroup, const uint8_t (*group)[16])
{
	struct d4_queue q;
	memset(&q, 0, sizeof(q));
	d4_strlcpy(q.name, name, sizeof(q.name));
	q.type = type;
	if (ext)
		d4_strlcpy(q.ext_type, ext, sizeof(q.ext_type));
	q.max_entries = max;
	q.ngroup = (uint8_t)ngroup;
	if (ngroup)
		memcpy(q.group, group, ngroup * 16u);
	int rc = d4_store_queue_create(s, &q);
	ck_assert_msg(rc == 0, "create %s: %s", name, d4_strerror(rc));
	ck_assert_uint_gt(q.id, 0);
	return q.id;
}

static struct d4_queue q_get(struct d4_store *s, uint32_t id)
{
	struct d4_queue q;
	int rc = d4_store_queue_get(s, id, &q);
	ck_assert_msg(rc == 0, "get %u: %s", id, d4_strerror(rc));
	return q;
}

#define Q_MAXSEEN 256
struct seen {
	unsigned n, missing;
	uint64_t pos[Q_MAXSEEN];
	char text[Q_MAXSEEN][32];
	uint8_t type[Q_MAXSEEN];
	uint8_t uuid[Q_MAXSEEN][16];
	int stop_after; /* 0 = never */
	int fail_at;	/* 1-based: return an error at that call */
	int withhold;	/* payload number (after "1:") to withhold: odd ones when 1 */
	unsigned withheld;
};

static int seen_cb(void *ctx, uint64_t pos, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	struct seen *sn = ctx;
	if (sn->fail_at && (int)(sn->n + sn->missing + 1) == sn->fail_at)
		return D4_ENOMEM;
	if (!rec) {
		sn->missing++;
		return 0;
	}
	/* the payload is "tag:n" (not NUL-terminated): n is odd if its last digit is */
	if (sn->withhold && rec->size > 2 && (payload[rec->size - 1] - '0') % 2 == 1) {
		sn->withheld++;
		return D4_QUEUE_WITHHOLD;
	}
	ck_assert_uint_lt(sn->n, Q_MAXSEEN);
	sn->pos[sn->n] = pos;
	sn->type[sn->n] = rec->type;
	memcpy(sn->uuid[sn->n], rec->uuid, 16);
	size_t l = rec->size < 31 ? rec->size : 31;
	memcpy(sn->text[sn->n], payload, l);
	sn->text[sn->n][l] = '\0';
	sn->n++;
	return sn->stop_after && (int)sn->n >= sn->stop_after;
}

START_TEST(test_queue_crud)
{
	struct d4_store *s = q_open();
	struct d4_queue q;
	memset(&q, 0, sizeof(q));
	q.type = 8;
	q.max_entries = 10;
	ck_assert_int_eq(d4_store_queue_create(s, &q), D4_EINVAL); /* no name */
	d4_strlcpy(q.name, "bad\nname", sizeof(q.name));
	ck_assert_int_eq(d4_store_queue_create(s, &q), D4_EINVAL);
	d4_strlcpy(q.name, "dns", sizeof(q.name));
	q.type = 0;
	ck_assert_int_eq(d4_store_queue_create(s, &q), D4_EINVAL);
	q.type = 8;
	d4_strlcpy(q.ext_type, "ja3-jl", sizeof(q.ext_type));
	ck_assert_int_eq(d4_store_queue_create(s, &q), D4_EINVAL); /* ext only with 254 */
	q.ext_type[0] = '\0';
	q.max_entries = 0;
	ck_assert_int_eq(d4_store_queue_create(s, &q), D4_EINVAL);
	q.max_entries = D4_QUEUE_ENTRIES_MAX + 1;
	ck_assert_int_eq(d4_store_queue_create(s, &q), D4_EINVAL);

	uint8_t g[3][16];
	q_uuid(g[0], 9);
	q_uuid(g[1], 2);
	q_uuid(g[2], 9); /* duplicate */
	uint64_t e0 = d4_store_epoch(s);
	uint32_t a = q_create(s, "dns", 8, NULL, 10, 3, (const uint8_t(*)[16])g);
	ck_assert_uint_gt(d4_store_epoch(s), e0);
	uint32_t b = q_create(s, "tls", 254, "ja3-jl", 5, 0, NULL);
	ck_assert_uint_ne(a, b);
	q = q_get(s, a);
	ck_assert_str_eq(q.name, "dns");
	ck_assert_uint_eq(q.type, 8);
	ck_assert_uint_eq(q.max_entries, 10);
	ck_assert_uint_eq(q.ngroup, 2); /* deduplicated, sorted */
	ck_assert_int_eq(memcmp(q.group[0], g[1], 16), 0);
	ck_assert_int_eq(memcmp(q.group[1], g[0], 16), 0);
	ck_assert_uint_eq(q.head, q.tail);
	ck_assert_uint_gt(q.created, 0);
	q = q_get(s, b);
	ck_assert_str_eq(q.ext_type, "ja3-jl");

	struct d4_queue_update u;
	memset(&u, 0, sizeof(u));
	u.name = "dns2";
	u.max_entries = 20;
	u.set_group = 1; /* empty group: every sensor */
	ck_assert_int_eq(d4_store_queue_update(s, a, &u, &q), 0);
	ck_assert_str_eq(q.name, "dns2");
	ck_assert_uint_eq(q.max_entries, 20);
	ck_assert_uint_eq(q.ngroup, 0);
	u.name = "";
	ck_assert_int_eq(d4_store_queue_update(s, a, &u, &q), D4_EINVAL);
	u.name = NULL;
	ck_assert_int_eq(d4_store_queue_update(s, 999, &u, &q), D4_ENOTFOUND);

	ck_assert_int_eq(d4_store_queue_del(s, a), 0);
	ck_assert_int_eq(d4_store_queue_del(s, a), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_queue_get(s, a, &q), D4_ENOTFOUND);
	uint32_t c = q_create(s, "again", 8, NULL, 10, 0, NULL);
	ck_assert_uint_gt(c, b); /* ids are never reused */
	ck_assert_int_eq(d4_store_queue_flush(s, 999, NULL), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_queue_pop(s, 999, 5, seen_cb, NULL, NULL), D4_ENOTFOUND);
	d4_store_close(s);
}
END_TEST

static int count_q_cb(void *ctx, const struct d4_queue *q)
{
	(void)q;
	(*(unsigned *)ctx)++;
	return 0;
}

START_TEST(test_queue_fanout)
{
	struct d4_store *s = q_open();
	uint8_t u1[16], u2[16];
	q_uuid(u1, 1);
	q_uuid(u2, 2);
	/* Created while the writer runs: the writer must notice (epoch). */
	uint32_t all8 = q_create(s, "all8", 8, NULL, 100, 0, NULL);
	uint32_t g8 = q_create(s, "u1-8", 8, NULL, 100, 1, (const uint8_t(*)[16])u1);
	uint32_t ja3 = q_create(s, "ja3", 254, "ja3-jl", 100, 0, NULL);
	uint32_t any254 = q_create(s, "any254", 254, NULL, 100, 0, NULL);
	uint32_t t3 = q_create(s, "t3", 3, NULL, 100, 0, NULL);
	uint32_t meta = q_create(s, "meta", 2, NULL, 100, 0, NULL);
	unsigned nq = 0;
	ck_assert_int_eq(d4_store_queue_foreach(s, count_q_cb, &nq), 0);
	ck_assert_uint_eq(nq, 6);

	uint64_t s1 = q_session(s, u1, 8, NULL), s2 = q_session(s, u2, 8, NULL);
	uint64_t s3 = q_session(s, u1, 2, NULL), s4 = q_session(s, u2, 2, NULL);
	for (unsigned i = 0; i < 5; i++) {
		q_frame(s, s1, u1, 8, 1, i, 0);
		if (i < 3)
			q_frame(s, s2, u2, 8, 2, i, 0);
	}
	q_frame(s, s3, u1, 2, 3, 0, 0);
	q_frame(s, s4, u2, 2, 4, 0, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	struct d4_session_meta m;
	memset(&m, 0, sizeof(m));
	m.session = s3;
	d4_strlcpy(m.ext_type, "ja3-jl", sizeof(m.ext_type));
	ck_assert_int_eq(d4_store_post_session_meta(s, &m), 0);
	m.session = s4;
	d4_strlcpy(m.ext_type, "maltrail", sizeof(m.ext_type));
	ck_assert_int_eq(d4_store_post_session_meta(s, &m), 0);
	for (unsigned i = 1; i <= 4; i++)
		q_frame(s, s3, u1, 254, 3, i, 0);
	for (unsigned i = 1; i <= 2; i++)
		q_frame(s, s4, u2, 254, 4, i, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);

	struct d4_queue q = q_get(s, all8);
	ck_assert_uint_eq(q.tail - q.head, 8);
	ck_assert_uint_eq(q.enqueued, 8);
	ck_assert_uint_eq(q.dropped, 0);
	ck_assert_uint_eq(q.alert, 0);
	q = q_get(s, g8);
	ck_assert_uint_eq(q.tail - q.head, 5);
	q = q_get(s, ja3);
	ck_assert_uint_eq(q.tail - q.head, 4);
	q = q_get(s, any254);
	ck_assert_uint_eq(q.tail - q.head, 6);
	q = q_get(s, t3);
	ck_assert_uint_eq(q.tail - q.head, 0);
	q = q_get(s, meta);
	ck_assert_uint_eq(q.tail - q.head, 2);

	/* Preview in order, with provenance; peek does not consume. */
	struct seen sn;
	memset(&sn, 0, sizeof(sn));
	ck_assert_int_eq(d4_store_queue_peek(s, g8, 0, 100, seen_cb, &sn), 0);
	ck_assert_uint_eq(sn.n, 5);
	for (unsigned i = 0; i < 5; i++) {
		char want[16];
		snprintf(want, sizeof(want), "1:%u", i);
		ck_assert_str_eq(sn.text[i], want);
		ck_assert_int_eq(memcmp(sn.uuid[i], u1, 16), 0);
		ck_assert_uint_eq(sn.type[i], 8);
		if (i)
			ck_assert_uint_eq(sn.pos[i], sn.pos[i - 1] + 1);
	}
	memset(&sn, 0, sizeof(sn));
	ck_assert_int_eq(d4_store_queue_peek(s, ja3, 0, 100, seen_cb, &sn), 0);
	ck_assert_uint_eq(sn.n, 4);
	for (unsigned i = 0; i < 4; i++) {
		char want[16];
		snprintf(want, sizeof(want), "3:%u", i + 1);
		ck_assert_str_eq(sn.text[i], want);
		ck_assert_uint_eq(sn.type[i], 254);
	}
	/* from_pos and max bound the preview */
	q = q_get(s, all8);
	memset(&sn, 0, sizeof(sn));
	ck_assert_int_eq(d4_store_queue_peek(s, all8, q.head + 6, 100, seen_cb, &sn), 0);
	ck_assert_uint_eq(sn.n, 2);
	memset(&sn, 0, sizeof(sn));
	ck_assert_int_eq(d4_store_queue_peek(s, all8, 0, 3, seen_cb, &sn), 0);
	ck_assert_uint_eq(sn.n, 3);
	ck_assert_uint_eq(q_get(s, all8).tail - q_get(s, all8).head, 8);

	/* A deleted queue gets nothing more and does not disturb the writer. */
	ck_assert_int_eq(d4_store_queue_del(s, all8), 0);
	q_frame(s, s1, u1, 8, 1, 5, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	ck_assert_uint_eq(q_get(s, g8).tail - q_get(s, g8).head, 6);
	/* Changing a group applies to the next frames. */
	struct d4_queue_update up;
	memset(&up, 0, sizeof(up));
	up.set_group = 1;
	up.ngroup = 1;
	up.group = (const uint8_t(*)[16])u2;
	ck_assert_int_eq(d4_store_queue_update(s, g8, &up, NULL), 0);
	q_frame(s, s1, u1, 8, 1, 6, 0);
	q_frame(s, s2, u2, 8, 2, 3, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	ck_assert_uint_eq(q_get(s, g8).tail - q_get(s, g8).head, 7);
	d4_store_close(s);
}
END_TEST

START_TEST(test_queue_full_pop)
{
	struct d4_store *s = q_open();
	uint8_t u[16];
	q_uuid(u, 1);
	uint32_t id = q_create(s, "small", 8, NULL, 10, 0, NULL);
	uint64_t ss = q_session(s, u, 8, NULL);
	for (unsigned i = 0; i < 25; i++) {
		q_frame(s, ss, u, 8, 1, i, 0);
		if (i == 12)
			ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0); /* two batches */
	}
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	struct d4_queue q = q_get(s, id);
	ck_assert_uint_eq(q.tail - q.head, 10);
	ck_assert_uint_eq(q.enqueued, 25);
	ck_assert_uint_eq(q.dropped, 15);
	ck_assert_uint_eq(q.alert, 1);
	ck_assert_uint_gt(q.last_drop_at, 0);

	/* The oldest went: the queue holds 15..24, popped in order. */
	struct seen sn;
	memset(&sn, 0, sizeof(sn));
	ck_assert_int_eq(d4_store_queue_pop(s, id, 4, seen_cb, &sn, &q), 4);
	ck_assert_uint_eq(sn.n, 4);
	for (unsigned i = 0; i < 4; i++) {
		char want[16];
		snprintf(want, sizeof(want), "1:%u", 15 + i);
		ck_assert_str_eq(sn.text[i], want);
	}
	ck_assert_uint_eq(q.tail - q.head, 6);
	ck_assert_uint_eq(q.consumed, 4);
	ck_assert_uint_eq(q.alert, 1); /* not caught up yet */

	/* A callback error consumes nothing. */
	memset(&sn, 0, sizeof(sn));
	sn.fail_at = 3;
	ck_assert_int_eq(d4_store_queue_pop(s, id, 5, seen_cb, &sn, NULL), D4_ENOMEM);
	ck_assert_uint_eq(q_get(s, id).tail - q_get(s, id).head, 6);

	/* A positive return takes that frame and ends the pop (byte budget). */
	memset(&sn, 0, sizeof(sn));
	sn.stop_after = 1;
	ck_assert_int_eq(d4_store_queue_pop(s, id, 5, seen_cb, &sn, &q), 1);
	ck_assert_str_eq(sn.text[0], "1:19");
	ck_assert_uint_eq(q.tail - q.head, 5);

	/* Withheld frames (TLP above the consumer's clearance) are consumed
	 * without delivery and do not count against max: 20..24 with the odd
	 * ones withheld, max 2 -> 20 and 22 delivered, 21 withheld. */
	memset(&sn, 0, sizeof(sn));
	sn.withhold = 1;
	ck_assert_int_eq(d4_store_queue_pop(s, id, 2, seen_cb, &sn, &q), 2);
	ck_assert_str_eq(sn.text[0], "1:20");
	ck_assert_str_eq(sn.text[1], "1:22");
	ck_assert_uint_eq(sn.withheld, 1);
	ck_assert_uint_eq(q.tail - q.head, 2);
	ck_assert_uint_eq(q.consumed, 7);
	ck_assert_uint_eq(q.withheld, 1);

	memset(&sn, 0, sizeof(sn));
	ck_assert_int_eq(d4_store_queue_pop(s, id, 100, seen_cb, &sn, &q), 2);
	ck_assert_str_eq(sn.text[0], "1:23");
	ck_assert_str_eq(sn.text[1], "1:24");
	ck_assert_uint_eq(q.head, q.tail);
	ck_assert_uint_eq(q.consumed, 9);
	ck_assert_uint_eq(q.withheld, 1);
	ck_assert_uint_eq(q_get(s, id).withheld, 1); /* persisted */
	ck_assert_uint_eq(q.alert, 0);		     /* caught up */
	ck_assert_int_eq(d4_store_queue_pop(s, id, 100, seen_cb, &sn, &q), 0);

	/* Explicit clear; shrink drops the oldest without an alert. */
	for (unsigned i = 25; i < 40; i++)
		q_frame(s, ss, u, 8, 1, i, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	q = q_get(s, id);
	ck_assert_uint_eq(q.alert, 1);
	ck_assert_uint_eq(q.dropped, 20);
	struct d4_queue_update up;
	memset(&up, 0, sizeof(up));
	up.clear_alert = 1;
	ck_assert_int_eq(d4_store_queue_update(s, id, &up, &q), 0);
	ck_assert_uint_eq(q.alert, 0);
	up.clear_alert = 0;
	up.max_entries = 4;
	ck_assert_int_eq(d4_store_queue_update(s, id, &up, &q), 0);
	ck_assert_uint_eq(q.tail - q.head, 4);
	ck_assert_uint_eq(q.dropped, 26);
	ck_assert_uint_eq(q.alert, 0);
	memset(&sn, 0, sizeof(sn));
	ck_assert_int_eq(d4_store_queue_peek(s, id, 0, 100, seen_cb, &sn), 0);
	ck_assert_uint_eq(sn.n, 4);
	ck_assert_str_eq(sn.text[0], "1:36");

	/* ack: below head no-op, beyond tail refused, else advances */
	ck_assert_int_eq(d4_store_queue_ack(s, id, q.head - 1, NULL), 0);
	ck_assert_int_eq(d4_store_queue_ack(s, id, q.tail + 1, NULL), D4_EINVAL);
	uint64_t c0 = q.consumed;
	ck_assert_int_eq(d4_store_queue_ack(s, id, q.head + 3, &q), 0);
	ck_assert_uint_eq(q.tail - q.head, 1);
	ck_assert_uint_eq(q.consumed, c0 + 3);
	memset(&sn, 0, sizeof(sn));
	ck_assert_int_eq(d4_store_queue_pop(s, id, 10, seen_cb, &sn, &q), 1);
	ck_assert_str_eq(sn.text[0], "1:39");
	d4_store_close(s);
}
END_TEST

START_TEST(test_queue_flush_254_and_reopen)
{
	struct d4_store *s = q_open();
	uint8_t u[16];
	q_uuid(u, 3);
	uint32_t id = q_create(s, "maltrail", 254, "maltrail", 1000, 0, NULL);
	uint32_t keep = q_create(s, "keep", 254, NULL, 1000, 0, NULL);
	uint64_t ss = q_session(s, u, 2, "maltrail");
	for (unsigned i = 0; i < 7; i++)
		q_frame(s, ss, u, 254, 5, i, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	struct d4_queue q;
	ck_assert_int_eq(d4_store_queue_flush(s, id, &q), 0); /* the reference's 254 flush did nothing */
	ck_assert_uint_eq(q.head, q.tail);
	ck_assert_uint_eq(q.flushed, 7);
	struct seen sn;
	memset(&sn, 0, sizeof(sn));
	ck_assert_int_eq(d4_store_queue_peek(s, id, 0, 100, seen_cb, &sn), 0);
	ck_assert_uint_eq(sn.n + sn.missing, 0);
	q_frame(s, ss, u, 254, 5, 7, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	d4_store_close(s);

	/* Reopen: contents, counters and filters survive; a new writer fans out. */
	s = q_open();
	q = q_get(s, id);
	ck_assert_uint_eq(q.tail - q.head, 1);
	ck_assert_uint_eq(q.flushed, 7);
	ck_assert_uint_eq(q.enqueued, 8);
	ck_assert_uint_eq(q_get(s, keep).tail - q_get(s, keep).head, 8);
	uint64_t s2 = q_session(s, u, 2, "maltrail");
	q_frame(s, s2, u, 254, 6, 0, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	memset(&sn, 0, sizeof(sn));
	ck_assert_int_eq(d4_store_queue_pop(s, id, 10, seen_cb, &sn, &q), 2);
	ck_assert_str_eq(sn.text[0], "5:7");
	ck_assert_str_eq(sn.text[1], "6:0");
	ck_assert_uint_eq(q.head, q.tail);
	d4_store_close(s);
}
END_TEST

START_TEST(test_queue_retention)
{
	struct d4_store *s = q_open();
	uint8_t u[16];
	q_uuid(u, 4);
	uint32_t id = q_create(s, "pcap", 1, NULL, 1000, 0, NULL);
	uint64_t old_s = q_session(s, u, 1, NULL);
	uint64_t old_ms = d4_now_ms() - 3 * 86400000ull;
	for (unsigned i = 0; i < 6; i++)
		q_frame(s, old_s, u, 1, 7, i, old_ms + i);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	uint64_t new_s = q_session(s, u, 1, NULL);
	for (unsigned i = 0; i < 3; i++)
		q_frame(s, new_s, u, 1, 8, i, 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	d4_store_retention_set(s, 86400, 0);
	ck_assert_int_eq(d4_store_retention_run(s), 6);

	struct seen sn;
	memset(&sn, 0, sizeof(sn));
	ck_assert_int_eq(d4_store_queue_peek(s, id, 0, 100, seen_cb, &sn), 0);
	ck_assert_uint_eq(sn.missing, 6);
	ck_assert_uint_eq(sn.n, 3);
	memset(&sn, 0, sizeof(sn));
	struct d4_queue q;
	ck_assert_int_eq(d4_store_queue_pop(s, id, 2, seen_cb, &sn, &q), 2);
	ck_assert_uint_eq(sn.missing, 0); /* pop never hands out a gone frame */
	ck_assert_str_eq(sn.text[0], "8:0");
	ck_assert_str_eq(sn.text[1], "8:1");
	ck_assert_uint_eq(q.expired, 6);
	ck_assert_uint_eq(q.consumed, 2);
	ck_assert_uint_eq(q.tail - q.head, 1);
	d4_store_close(s);
}
END_TEST

/* Queue records written before the withheld counter (v1) still read, with
 * withheld 0, and are rewritten as v2 by the next change; a cut v2 record
 * is corrupt, never misread. */
static void q_raw(struct d4_store *s, uint32_t id, uint8_t *buf, size_t *len, int put)
{
	uint8_t k4[4];
	d4_put_u32be(k4, id);
	MDB_txn *txn;
	MDB_val k = {4, k4}, v = {*len, buf};
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, put ? 0 : MDB_RDONLY, &txn), 0);
	if (put) {
		ck_assert_int_eq(mdb_put(txn, s->dbi[DBI_QUEUES], &k, &v, 0), 0);
		ck_assert_int_eq(mdb_txn_commit(txn), 0);
		return;
	}
	ck_assert_int_eq(mdb_get(txn, s->dbi[DBI_QUEUES], &k, &v), 0);
	ck_assert_uint_le(v.mv_size, 4096);
	memcpy(buf, v.mv_data, v.mv_size);
	*len = v.mv_size;
	mdb_txn_abort(txn);
}

START_TEST(test_queue_record_v1)
{
	struct d4_store *s = q_open();
	uint8_t g[1][16];
	memset(g, 0x42, sizeof(g));
	uint32_t id = q_create(s, "old", 8, NULL, 10, 1, (const uint8_t(*)[16])g);
	uint8_t b[4096];
	size_t n = 0;
	q_raw(s, id, b, &n, 0);
	ck_assert_int_eq(b[0], 2);
	/* every cut of the v2 record is corrupt */
	struct d4_queue q;
	for (size_t cut = 1; cut <= 8; cut++) {
		size_t m = n - cut;
		q_raw(s, id, b, &m, 1);
		ck_assert_int_eq(d4_store_queue_get(s, id, &q), D4_ECORRUPT);
	}
	/* v1: no trailing counter */
	b[0] = 1;
	size_t m = n - 8;
	q_raw(s, id, b, &m, 1);
	ck_assert_int_eq(d4_store_queue_get(s, id, &q), 0);
	ck_assert_str_eq(q.name, "old");
	ck_assert_uint_eq(q.ngroup, 1);
	ck_assert_uint_eq(q.withheld, 0);
	/* a change writes v2 */
	struct d4_queue_update up;
	memset(&up, 0, sizeof(up));
	up.name = "renamed";
	ck_assert_int_eq(d4_store_queue_update(s, id, &up, &q), 0);
	q_raw(s, id, b, &n, 0);
	ck_assert_int_eq(b[0], 2);
	ck_assert_int_eq(d4_store_queue_get(s, id, &q), 0);
	ck_assert_str_eq(q.name, "renamed");
	ck_assert_uint_eq(q.withheld, 0);
	d4_store_close(s);
}
END_TEST

TCase *queue_tcase(void)
{
	TCase *tc = tcase_create("queues");
	tcase_add_checked_fixture(tc, q_setup, q_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_queue_crud);
	tcase_add_test(tc, test_queue_fanout);
	tcase_add_test(tc, test_queue_full_pop);
	tcase_add_test(tc, test_queue_flush_254_and_reopen);
	tcase_add_test(tc, test_queue_retention);
	tcase_add_test(tc, test_queue_record_v1);
	return tc;
}
