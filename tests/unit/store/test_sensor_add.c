/* Check cases for the put-if-absent creations (d4_store_sensor_add,
 * d4_store_user_add), the summary scan used by sensor lists and the commit
 * generation. Part of the test_store suite binary. */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_store.h"
#include "d4_util.h"
#include "store_internal.h"

#include <check.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TCase *add_tcase(void);
int store_dec_sensor_summary(const uint8_t *p, size_t len, struct d4_sensor_summary *sm);

static char tmpdir[256];
static char storedir[300];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void a_setup(void)
{
	d4_log_init("test_store", 0, D4_LOG_ERR);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/d4store-add-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(storedir, sizeof(storedir), "%s/store", tmpdir);
}

static void a_teardown(void)
{
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static struct d4_store *a_open(const char *path)
{
	struct d4_store_opts o;
	struct d4_store *s = NULL;
	memset(&o, 0, sizeof(o));
	o.path = path;
	o.map_size = 64u << 20;
	o.no_sync = 1;
	int rc = d4_store_open(&o, &s);
	ck_assert_msg(rc == 0, "open: %s", d4_strerror(rc));
	return s;
}

static void uuid_n(uint8_t u[16], unsigned n)
{
	memset(u, 0, 16);
	u[0] = 0xd4;
	u[6] = 0x40;
	u[8] = 0x80;
	u[14] = (uint8_t)(n >> 8);
	u[15] = (uint8_t)n;
}

static void make_sensor(struct d4_sensor *sn, unsigned n, const char *key, const char *desc)
{
	memset(sn, 0, sizeof(*sn));
	uuid_n(sn->uuid, n);
	sn->keylen = (uint16_t)strlen(key);
	memcpy(sn->key, key, sn->keylen);
	d4_strlcpy(sn->description, desc, sizeof(sn->description));
	sn->status = D4_SENSOR_PENDING;
}

START_TEST(test_sensor_add_once)
{
	struct d4_store *s = a_open(storedir);
	struct d4_sensor *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b)), *got = calloc(1, sizeof(*got));
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(got);
	make_sensor(a, 1, "first-key", "first");
	a->status = D4_SENSOR_APPROVED;
	a->packets = 7; /* a new record is stored as given */
	ck_assert_int_eq(d4_store_sensor_add(s, a), 0);
	uint64_t e1 = d4_store_epoch(s);

	make_sensor(b, 1, "second-key-longer", "second");
	b->status = D4_SENSOR_BLOCKED;
	ck_assert_int_eq(d4_store_sensor_add(s, b), D4_EEXIST);
	/* the refused add changed nothing, not even the epoch */
	ck_assert_uint_eq(d4_store_epoch(s), e1);
	ck_assert_int_eq(d4_store_sensor_get(s, a->uuid, got), 0);
	ck_assert_uint_eq(got->keylen, 9);
	ck_assert_int_eq(memcmp(got->key, "first-key", 9), 0);
	ck_assert_str_eq(got->description, "first");
	ck_assert_uint_eq(got->status, D4_SENSOR_APPROVED);
	ck_assert_uint_eq(got->packets, 7);
	ck_assert_uint_ne(got->created, 0);

	/* a sensor made by put is "present" for add too */
	make_sensor(b, 2, "k2", "via put");
	ck_assert_int_eq(d4_store_sensor_put(s, b), 0);
	make_sensor(a, 2, "k2-other", "via add");
	ck_assert_int_eq(d4_store_sensor_add(s, a), D4_EEXIST);
	ck_assert_int_eq(d4_store_sensor_get(s, b->uuid, got), 0);
	ck_assert_str_eq(got->description, "via put");

	/* deleted: can be added again */
	ck_assert_int_eq(d4_store_sensor_del(s, b->uuid), 0);
	ck_assert_int_eq(d4_store_sensor_add(s, a), 0);
	ck_assert_int_eq(d4_store_sensor_get(s, a->uuid, got), 0);
	ck_assert_str_eq(got->description, "via add");

	/* invalid status is refused before any write */
	make_sensor(a, 3, "k3", "bad");
	a->status = 9;
	ck_assert_int_eq(d4_store_sensor_add(s, a), D4_EINVAL);
	ck_assert_int_eq(d4_store_sensor_get(s, a->uuid, got), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_sensor_add(s, NULL), D4_EINVAL);
	free(a);
	free(b);
	free(got);
	d4_store_close(s);
}
END_TEST

/* Two threads add the same uuids at the same time, each with its own
 * description: every uuid must be created exactly once, and the stored
 * record must be the winner's (nobody overwrote it afterwards). */
#define RACE_N 150
struct racer {
	struct d4_store *s;
	char tag;
	int won[RACE_N];
	int err;
};

static void *race_fn(void *arg)
{
	struct racer *r = arg;
	struct d4_sensor *sn = calloc(1, sizeof(*sn));
	if (!sn) {
		r->err = 1;
		return NULL;
	}
	for (unsigned i = 0; i < RACE_N; i++) {
		char desc[8] = {r->tag, 0};
		make_sensor(sn, 100 + i, desc, desc);
		int rc = d4_store_sensor_add(r->s, sn);
		if (rc == 0)
			r->won[i] = 1;
		else if (rc != D4_EEXIST)
			r->err = 1;
	}
	free(sn);
	return NULL;
}

START_TEST(test_sensor_add_race)
{
	struct d4_store *s = a_open(storedir);
	struct racer ra, rb;
	memset(&ra, 0, sizeof(ra));
	memset(&rb, 0, sizeof(rb));
	ra.s = rb.s = s;
	ra.tag = 'a';
	rb.tag = 'b';
	pthread_t ta, tb;
	ck_assert_int_eq(pthread_create(&ta, NULL, race_fn, &ra), 0);
	ck_assert_int_eq(pthread_create(&tb, NULL, race_fn, &rb), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ck_assert_int_eq(ra.err, 0);
	ck_assert_int_eq(rb.err, 0);
	struct d4_sensor *got = calloc(1, sizeof(*got));
	ck_assert_ptr_nonnull(got);
	for (unsigned i = 0; i < RACE_N; i++) {
		ck_assert_msg(ra.won[i] + rb.won[i] == 1, "uuid %u created %d times", i, ra.won[i] + rb.won[i]);
		uint8_t u[16];
		uuid_n(u, 100 + i);
		ck_assert_int_eq(d4_store_sensor_get(s, u, got), 0);
		ck_assert_str_eq(got->description, ra.won[i] ? "a" : "b");
	}
	free(got);
	d4_store_close(s);
}
END_TEST

START_TEST(test_user_add_once)
{
	struct d4_store *s = a_open(storedir);
	struct d4_user u;
	ck_assert_int_eq(d4_store_user_add(s, "alice", D4_STORE_ROLE_USER), 0);
	ck_assert_int_eq(d4_store_user_get(s, "alice", &u), 0);
	uint64_t created = u.created;
	ck_assert_uint_ne(created, 0);
	uint64_t e1 = d4_store_epoch(s);
	ck_assert_int_eq(d4_store_user_add(s, "alice", D4_STORE_ROLE_ADMIN), D4_EEXIST);
	ck_assert_uint_eq(d4_store_epoch(s), e1);
	ck_assert_int_eq(d4_store_user_get(s, "alice", &u), 0);
	ck_assert_uint_eq(u.role, D4_STORE_ROLE_USER);
	ck_assert_uint_eq(u.created, created);
	/* a token of the first user survives the refused add */
	char tok[D4_TOKEN_TEXT_MAX], id[D4_TOKEN_ID_HEX], who[D4_USER_NAME_MAX];
	uint8_t role = 0;
	ck_assert_int_eq(d4_store_token_create(s, "alice", "t", tok, id), 0);
	ck_assert_int_eq(d4_store_user_add(s, "alice", D4_STORE_ROLE_SENSOR_REGISTER), D4_EEXIST);
	ck_assert_int_eq(d4_store_token_verify(s, tok, who, &role, NULL), 0);
	ck_assert_str_eq(who, "alice");
	ck_assert_uint_eq(role, D4_STORE_ROLE_USER);
	d4_wipe(tok, sizeof(tok));

	ck_assert_int_eq(d4_store_user_add(s, "bad name", D4_STORE_ROLE_USER), D4_EINVAL);
	ck_assert_int_eq(d4_store_user_add(s, "bob", 0), D4_EINVAL);
	ck_assert_int_eq(d4_store_user_add(s, "bob", 4), D4_EINVAL);
	ck_assert_int_eq(d4_store_user_add(s, NULL, D4_STORE_ROLE_USER), D4_EINVAL);
	ck_assert_int_eq(d4_store_user_get(s, "bob", &u), D4_ENOTFOUND);
	/* deleted: can be added again, with the new role */
	ck_assert_int_eq(d4_store_user_del(s, "alice"), 0);
	ck_assert_int_eq(d4_store_user_add(s, "alice", D4_STORE_ROLE_ADMIN), 0);
	ck_assert_int_eq(d4_store_user_get(s, "alice", &u), 0);
	ck_assert_uint_eq(u.role, D4_STORE_ROLE_ADMIN);
	d4_store_close(s);
}
END_TEST

struct collect {
	unsigned n, stop_at;
	uint8_t uuids[64][16];
	struct d4_sensor_summary sm[64];
};

static int collect_cb(void *ctx, const struct d4_sensor_summary *sm)
{
	struct collect *c = ctx;
	if (c->n == c->stop_at)
		return 1;
	if (c->n < 64) {
		memcpy(c->uuids[c->n], sm->uuid, 16);
		c->sm[c->n] = *sm;
	}
	c->n++;
	return 0;
}

START_TEST(test_summary_foreach)
{
	struct d4_store *s = a_open(storedir);
	struct d4_sensor *sn = calloc(1, sizeof(*sn)), *full = calloc(1, sizeof(*full));
	ck_assert_ptr_nonnull(sn);
	ck_assert_ptr_nonnull(full);
	/* uuids 10, 20, ..., 100 with every summary field set */
	for (unsigned i = 1; i <= 10; i++) {
		char d[32];
		snprintf(d, sizeof(d), "sensor \"%u\"\n", i);
		make_sensor(sn, i * 10, "k", d);
		sn->status = (uint8_t)(i % 3);
		sn->created = 1000 + i;
		sn->first_seen = 2000 + i;
		sn->last_seen = 3000 + i;
		sn->packets = 1ull << (i + 40);
		sn->bytes = UINT64_MAX - i;
		sn->rejects[D4_REJ_HMAC] = i;
		snprintf(sn->last_error, sizeof(sn->last_error), "err %u", i);
		sn->last_error_at = 4000 + i;
		sn->nlast_ips = (uint8_t)(i % 4);
		sn->silence_threshold = i * 60;
		ck_assert_int_eq(d4_store_sensor_put(s, sn), 0);
	}
	struct collect c;
	uint64_t gen = 0;
	memset(&c, 0, sizeof(c));
	c.stop_at = 100;
	ck_assert_int_eq(d4_store_sensor_summary_foreach(s, NULL, &gen, collect_cb, &c), 0);
	ck_assert_uint_eq(c.n, 10);
	ck_assert_uint_ne(gen, 0);
	ck_assert_uint_eq(gen, d4_store_generation(s));
	for (unsigned i = 0; i < 10; i++) {
		/* the summary equals the full decoder's fields */
		ck_assert_int_eq(d4_store_sensor_get(s, c.uuids[i], full), 0);
		const struct d4_sensor_summary *m = &c.sm[i];
		ck_assert_int_eq(memcmp(m->uuid, full->uuid, 16), 0);
		ck_assert_uint_eq(m->status, full->status);
		ck_assert_str_eq(m->description, full->description);
		ck_assert_uint_eq(m->created, full->created);
		ck_assert_uint_eq(m->first_seen, full->first_seen);
		ck_assert_uint_eq(m->last_seen, full->last_seen);
		ck_assert_uint_eq(m->packets, full->packets);
		ck_assert_uint_eq(m->bytes, full->bytes);
		ck_assert_str_eq(m->last_error, full->last_error);
		ck_assert_uint_eq(m->last_error_at, full->last_error_at);
		ck_assert_uint_eq(m->silence_threshold, full->silence_threshold);
		ck_assert_uint_eq(m->packets, 1ull << (i + 41));
	}
	/* seek: strictly after an existing uuid, after a missing one, past the end */
	uint8_t after[16];
	uuid_n(after, 30);
	memset(&c, 0, sizeof(c));
	c.stop_at = 100;
	ck_assert_int_eq(d4_store_sensor_summary_foreach(s, after, NULL, collect_cb, &c), 0);
	ck_assert_uint_eq(c.n, 7);
	uuid_n(after, 40);
	ck_assert_int_eq(memcmp(c.uuids[0], after, 16), 0);
	uuid_n(after, 35);
	memset(&c, 0, sizeof(c));
	c.stop_at = 2;
	ck_assert_int_eq(d4_store_sensor_summary_foreach(s, after, NULL, collect_cb, &c), 0);
	ck_assert_uint_eq(c.n, 2);
	uuid_n(after, 40);
	ck_assert_int_eq(memcmp(c.uuids[0], after, 16), 0);
	uuid_n(after, 100);
	memset(&c, 0, sizeof(c));
	c.stop_at = 100;
	ck_assert_int_eq(d4_store_sensor_summary_foreach(s, after, NULL, collect_cb, &c), 0);
	ck_assert_uint_eq(c.n, 0);
	memset(after, 0xff, 16);
	ck_assert_int_eq(d4_store_sensor_summary_foreach(s, after, NULL, collect_cb, &c), 0);
	ck_assert_uint_eq(c.n, 0);

	/* the generation moves with every commit, and only then */
	uint64_t g1 = d4_store_generation(s);
	ck_assert_uint_eq(g1, d4_store_generation(s));
	make_sensor(sn, 5, "k", "new");
	ck_assert_int_eq(d4_store_sensor_add(s, sn), 0);
	uint64_t g2 = d4_store_generation(s);
	ck_assert_uint_ne(g2, g1);
	ck_assert_int_eq(d4_store_sensor_add(s, sn), D4_EEXIST); /* aborted: no commit */
	ck_assert_uint_eq(d4_store_generation(s), g2);
	ck_assert_int_eq(d4_store_epoch_bump(s), 0);
	ck_assert_uint_ne(d4_store_generation(s), g2);
	/* another store (same process) never shares a generation */
	char other[320];
	snprintf(other, sizeof(other), "%s/other", tmpdir);
	struct d4_store *s2 = a_open(other);
	ck_assert_uint_ne(d4_store_generation(s2), d4_store_generation(s));
	d4_store_close(s2);
	free(sn);
	free(full);
	d4_store_close(s);
}
END_TEST

/* The summary decoder refuses exactly what the full decoder refuses. */
START_TEST(test_summary_codec)
{
	struct d4_sensor *sn = calloc(1, sizeof(*sn)), *full = calloc(1, sizeof(*full));
	struct d4_sensor_summary sm;
	uint8_t buf[STORE_SENSOR_MAX];
	ck_assert_ptr_nonnull(sn);
	ck_assert_ptr_nonnull(full);
	make_sensor(sn, 1, "0123456789abcdef", "desc");
	d4_strlcpy(sn->mail, "a@b.c", sizeof(sn->mail));
	d4_strlcpy(sn->last_error, "hmac mismatch", sizeof(sn->last_error));
	sn->nlast_ips = 3;
	sn->has_default_org = 1;
	size_t n = store_enc_sensor(sn, buf);
	ck_assert_int_eq(store_dec_sensor_summary(buf, n, &sm), 0);
	for (size_t len = 0; len < n; len++) {
		ck_assert_int_eq(store_dec_sensor(buf, len, full), D4_ECORRUPT);
		ck_assert_int_eq(store_dec_sensor_summary(buf, len, &sm), D4_ECORRUPT);
	}
	/* every single-byte change: both decoders agree on ok / corrupt */
	for (size_t i = 0; i < n; i++) {
		uint8_t save = buf[i];
		for (unsigned v = 0; v < 256; v += 17) {
			buf[i] = (uint8_t)v;
			int a = store_dec_sensor(buf, n, full), b = store_dec_sensor_summary(buf, n, &sm);
			ck_assert_msg(a == b, "byte %zu = %u: full %d, summary %d", i, v, a, b);
		}
		buf[i] = save;
	}
	free(sn);
	free(full);
}
END_TEST

TCase *add_tcase(void)
{
	TCase *tc = tcase_create("add");
	tcase_add_checked_fixture(tc, a_setup, a_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_sensor_add_once);
	tcase_add_test(tc, test_sensor_add_race);
	tcase_add_test(tc, test_user_add_once);
	tcase_add_test(tc, test_summary_foreach);
	tcase_add_test(tc, test_summary_codec);
	return tc;
}
