/* Check suite for the run-time server settings of hub/store (store_server.c):
 * real LMDB environments under a mkdtemp dir. */
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
	d4_log_init("test_store_server", 0, D4_LOG_ERR);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/d4srv-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(storedir, sizeof(storedir), "%s/store", tmpdir);
}

static void teardown(void)
{
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static struct d4_store *open_store(int read_only)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = storedir;
	o.map_size = 64u << 20;
	o.no_sync = 1;
	o.read_only = read_only;
	struct d4_store *s = NULL;
	int rc = d4_store_open(&o, &s);
	ck_assert_msg(rc == 0, "open: %s", d4_strerror(rc));
	return s;
}

static struct d4_server_settings mk(int has_mode, int mode, const char *key)
{
	struct d4_server_settings st;
	memset(&st, 0, sizeof(st));
	st.has_mode = has_mode;
	st.mode = mode;
	if (key) {
		st.shared_keylen = strlen(key);
		memcpy(st.shared_key, key, st.shared_keylen);
	}
	return st;
}

static void expect(struct d4_store *s, int has_mode, int mode, const char *key)
{
	struct d4_server_settings got;
	memset(&got, 0xa5, sizeof(got));
	ck_assert_int_eq(d4_store_server_get(s, &got), D4_OK);
	ck_assert_int_eq(got.has_mode, has_mode);
	if (has_mode)
		ck_assert_int_eq(got.mode, mode);
	size_t kl = key ? strlen(key) : 0;
	ck_assert_uint_eq(got.shared_keylen, kl);
	if (kl)
		ck_assert(memcmp(got.shared_key, key, kl) == 0);
	d4_wipe(&got, sizeof(got));
}

START_TEST(t_fresh_store_has_nothing)
{
	struct d4_store *s = open_store(0);
	expect(s, 0, 0, NULL);
	d4_store_close(s);
}
END_TEST

START_TEST(t_set_get_and_epoch)
{
	struct d4_store *s = open_store(0);
	uint64_t e0 = d4_store_epoch(s);
	struct d4_server_settings in = mk(1, 1, "run-time secret");
	ck_assert_int_eq(d4_store_server_set(s, &in), D4_OK);
	ck_assert_uint_eq(d4_store_epoch(s), e0 + 1);
	expect(s, 1, 1, "run-time secret");
	/* registration: mode 0 is a real value, not "unset" */
	in = mk(1, 0, NULL);
	ck_assert_int_eq(d4_store_server_set(s, &in), D4_OK);
	ck_assert_uint_eq(d4_store_epoch(s), e0 + 2);
	expect(s, 1, 0, "run-time secret"); /* the key is kept */
	/* a key alone keeps the mode */
	in = mk(0, 0, "another one");
	ck_assert_int_eq(d4_store_server_set(s, &in), D4_OK);
	expect(s, 1, 0, "another one");
	/* a shorter key replaces a longer one entirely */
	in = mk(0, 0, "k");
	ck_assert_int_eq(d4_store_server_set(s, &in), D4_OK);
	expect(s, 1, 0, "k");
	d4_store_close(s);
}
END_TEST

START_TEST(t_full_length_binary_key)
{
	struct d4_store *s = open_store(0);
	struct d4_server_settings in = mk(1, 1, NULL);
	for (size_t i = 0; i < sizeof(in.shared_key); i++)
		in.shared_key[i] = (uint8_t)(i * 7 + 1);
	in.shared_key[10] = 0; /* bytes, not a C string */
	in.shared_keylen = sizeof(in.shared_key);
	ck_assert_int_eq(d4_store_server_set(s, &in), D4_OK);
	struct d4_server_settings got;
	ck_assert_int_eq(d4_store_server_get(s, &got), D4_OK);
	ck_assert_uint_eq(got.shared_keylen, sizeof(in.shared_key));
	ck_assert(memcmp(got.shared_key, in.shared_key, sizeof(in.shared_key)) == 0);
	d4_store_close(s);
}
END_TEST

START_TEST(t_invalid_changes_nothing)
{
	struct d4_store *s = open_store(0);
	struct d4_server_settings in = mk(1, 1, "ok");
	ck_assert_int_eq(d4_store_server_set(s, &in), D4_OK);
	uint64_t e = d4_store_epoch(s);
	in = mk(1, 2, NULL);
	ck_assert_int_eq(d4_store_server_set(s, &in), D4_EINVAL);
	in = mk(1, -1, NULL);
	ck_assert_int_eq(d4_store_server_set(s, &in), D4_EINVAL);
	in = mk(0, 0, "x");
	in.shared_keylen = sizeof(in.shared_key) + 1;
	ck_assert_int_eq(d4_store_server_set(s, &in), D4_EINVAL);
	ck_assert_int_eq(d4_store_server_set(s, NULL), D4_EINVAL);
	ck_assert_uint_eq(d4_store_epoch(s), e);
	expect(s, 1, 1, "ok");
	d4_store_close(s);
}
END_TEST

START_TEST(t_persists_and_read_only)
{
	struct d4_store *s = open_store(0);
	struct d4_server_settings in = mk(1, 1, "persistent");
	ck_assert_int_eq(d4_store_server_set(s, &in), D4_OK);
	d4_store_close(s);
	s = open_store(0);
	expect(s, 1, 1, "persistent");
	d4_store_close(s);
	s = open_store(1);
	expect(s, 1, 1, "persistent");
	in = mk(1, 0, NULL);
	ck_assert_int_eq(d4_store_server_set(s, &in), D4_EPERM);
	ck_assert_int_eq(d4_store_server_clear(s), D4_EPERM);
	d4_store_close(s);
}
END_TEST

START_TEST(t_clear)
{
	struct d4_store *s = open_store(0);
	uint64_t e0 = d4_store_epoch(s);
	ck_assert_int_eq(d4_store_server_clear(s), D4_OK); /* nothing to clear: fine */
	ck_assert_uint_eq(d4_store_epoch(s), e0 + 1);
	struct d4_server_settings in = mk(1, 1, "gone soon");
	ck_assert_int_eq(d4_store_server_set(s, &in), D4_OK);
	ck_assert_int_eq(d4_store_server_clear(s), D4_OK);
	ck_assert_uint_eq(d4_store_epoch(s), e0 + 3);
	expect(s, 0, 0, NULL);
	d4_store_close(s);
}
END_TEST

/* Raw writes of damaged rows through the store's own write helper. */
struct raw_row {
	const char *name;
	const uint8_t *val;
	size_t len;
};

static int put_raw(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const struct raw_row *r = arg;
	MDB_val k = {.mv_size = strlen(r->name), .mv_data = (void *)r->name};
	MDB_val v = {.mv_size = r->len, .mv_data = (void *)r->val};
	return mdb_put(txn, s->dbi[DBI_SETTINGS], &k, &v, 0) ? D4_ESTORE : 0;
}

static void expect_corrupt(struct d4_store *s, const char *name, const uint8_t *val, size_t len)
{
	struct raw_row r = {name, val, len};
	ck_assert_int_eq(store_write(s, 0, put_raw, &r), 0);
	struct d4_server_settings got;
	memset(&got, 0x5a, sizeof(got));
	ck_assert_int_eq(d4_store_server_get(s, &got), D4_ECORRUPT);
	/* nothing half-read is left behind */
	ck_assert_int_eq(got.has_mode, 0);
	ck_assert_uint_eq(got.shared_keylen, 0);
}

START_TEST(t_corrupt_rows)
{
	struct d4_store *s = open_store(0);
	uint8_t mode5[9] = {1, 0, 0, 0, 0, 0, 0, 0, 5};
	expect_corrupt(s, "server_mode", mode5, sizeof(mode5));
	uint8_t mode_short[4] = {1, 0, 0, 0};
	expect_corrupt(s, "server_mode", mode_short, sizeof(mode_short));
	uint8_t mode_ok[9] = {1, 0, 0, 0, 0, 0, 0, 0, 1};
	struct raw_row r = {"server_mode", mode_ok, sizeof(mode_ok)};
	ck_assert_int_eq(store_write(s, 0, put_raw, &r), 0);
	uint8_t key_len_lies[6] = {1, 0, 5, 'a', 'b', 'c'};
	expect_corrupt(s, "server_key", key_len_lies, sizeof(key_len_lies));
	uint8_t key_empty[3] = {1, 0, 0};
	expect_corrupt(s, "server_key", key_empty, sizeof(key_empty));
	uint8_t key_badver[5] = {9, 0, 2, 'a', 'b'};
	expect_corrupt(s, "server_key", key_badver, sizeof(key_badver));
	uint8_t key_trailing[6] = {1, 0, 2, 'a', 'b', 'c'};
	expect_corrupt(s, "server_key", key_trailing, sizeof(key_trailing));
	/* a good write repairs it */
	struct d4_server_settings in = mk(0, 0, "fixed");
	ck_assert_int_eq(d4_store_server_set(s, &in), D4_OK);
	expect(s, 1, 1, "fixed");
	d4_store_close(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *su = suite_create("store_server");
	TCase *tc = tcase_create("server settings");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_fresh_store_has_nothing);
	tcase_add_test(tc, t_set_get_and_epoch);
	tcase_add_test(tc, t_full_length_binary_key);
	tcase_add_test(tc, t_invalid_changes_nothing);
	tcase_add_test(tc, t_persists_and_read_only);
	tcase_add_test(tc, t_clear);
	tcase_add_test(tc, t_corrupt_rows);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
