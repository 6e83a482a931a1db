/* Check suite for the server-mode rules of the ingest session state machine
 * (hub/ingest/d4_session.c) that the run-time switch relies on: keyless
 * sensors in registration mode, shared-secret mode without a key, and the
 * re-check after a mode switch or a new shared key. Fake lookups, no I/O. */
#include "d4_error.h"
#include "d4_hubconf.h"
#include "d4_proto.h"
#include "d4_session.h"
#include "d4_util.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static struct d4_sensor sens[2];
static int nsens;
static uint64_t next_id;

static int f_no(void *u, const uint8_t x[16])
{
	(void)u;
	(void)x;
	return 0;
}
static int f_sensor_get(void *u, const uint8_t id[16], struct d4_sensor *out)
{
	(void)u;
	for (int i = 0; i < nsens; i++)
		if (memcmp(sens[i].uuid, id, 16) == 0) {
			*out = sens[i];
			return 0;
		}
	return D4_ENOTFOUND;
}
static int f_type_ok(void *u, uint8_t t)
{
	(void)u;
	return t == 1 || t == 2 || t == 8 || t == 254;
}
static int f_ext_ok(void *u, const char *name)
{
	(void)u;
	(void)name;
	return 1;
}
static uint64_t f_backlog(void *u, const uint8_t id[16])
{
	(void)u;
	(void)id;
	return 0;
}
static uint64_t f_id(void *u)
{
	(void)u;
	return ++next_id;
}
static const struct d4_session_ops fops = {f_no, f_no, f_no, f_sensor_get, f_type_ok, f_ext_ok, f_backlog, f_id};

static const uint8_t PEER[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
static const uint64_t NOW = 1700000000;
static const char OWN[] = "own key";
static uint8_t UOWN[16], UAUTO[16], UNEW[16];
static uint8_t skey[256];
static struct d4_session_env env;
static uint8_t fbuf[4096];

static void set_key(const char *k)
{
	memset(skey, 0, sizeof(skey));
	memcpy(skey, k, strlen(k));
	env.shared_keylen = strlen(k);
	env.shared_key_gen++;
}

static void setup(void)
{
	memset(&env, 0, sizeof(env));
	memset(sens, 0, sizeof(sens));
	d4_uuid_parse("d42967c1f7ad464ebbc74464c653d7a6", UOWN);
	d4_uuid_parse("5b7e1a3c9d0f4e2a8b6c0d1e2f3a4b5c", UAUTO);
	d4_uuid_parse("0f0e0d0c0b0a4908a706050403020100", UNEW);
	/* a registered sensor with its own key, and one auto-created in shared-secret mode (no key) */
	memcpy(sens[0].uuid, UOWN, 16);
	memcpy(sens[0].key, OWN, strlen(OWN));
	sens[0].keylen = (uint16_t)strlen(OWN);
	sens[0].status = D4_SENSOR_APPROVED;
	memcpy(sens[1].uuid, UAUTO, 16);
	sens[1].status = D4_SENSOR_APPROVED;
	nsens = 2;
	env.ops = &fops;
	env.reg = d4_session_registry_new();
	ck_assert_ptr_nonnull(env.reg);
	env.shared_key = skey;
	env.max_payload = 1000000;
	env.preauth_max = 65536;
	env.max_backlog = 32u << 20;
	env.hub_tlp = 1;
	env.now_s = NOW;
	env.now_ms = NOW * 1000;
}

static void teardown(void)
{
	ck_assert_uint_eq(d4_session_registry_count(env.reg), 0);
	d4_session_registry_free(env.reg);
}

static struct d4_frame mk(const uint8_t uuid[16], const char *key, size_t keylen)
{
	struct d4_hdr h = {0};
	h.version = 1;
	h.type = 8;
	memcpy(h.uuid, uuid, 16);
	h.timestamp = NOW;
	int n =
	    d4_proto_frame_build(&h, (const uint8_t *)key, keylen, (const uint8_t *)"line\n", 5, fbuf, sizeof(fbuf));
	ck_assert_int_eq(n, D4_HDR_LEN + 5);
	struct d4_frame f;
	ck_assert_int_eq(d4_proto_hdr_decode(fbuf, (size_t)n, &f.hdr), 0);
	f.raw_hdr = fbuf;
	f.payload = fbuf + D4_HDR_LEN;
	return f;
}

static int feed(struct d4_session *s, const uint8_t uuid[16], const char *key, size_t keylen, struct d4_verdict *v)
{
	struct d4_frame f = mk(uuid, key, keylen);
	int rc = d4_session_on_header(s, &f.hdr, 0, v);
	if (rc != D4_SESS_CONTINUE)
		return rc;
	return d4_session_on_frame(s, &f, v);
}

static struct d4_session *sess(void)
{
	struct d4_verdict v;
	struct d4_session *s = d4_session_new(&env, PEER, 40000);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(d4_session_on_connect(s, &v), D4_SESS_CONTINUE);
	return s;
}

static void expect_closed(int rc, const struct d4_verdict *v, enum d4_reject why, const char *detail)
{
	ck_assert_int_eq(rc, D4_SESS_CLOSE);
	ck_assert_msg(v->reason == why, "reason %d (%s), expected %d", v->reason, v->detail, why);
	ck_assert_msg(strstr(v->detail, detail) != NULL, "detail '%s' lacks '%s'", v->detail, detail);
}

START_TEST(t_registration_refuses_keyless)
{
	env.mode = D4_MODE_REGISTRATION;
	set_key("shared");
	struct d4_verdict v;
	struct d4_session *s = sess();
	/* an empty-key HMAC is computable by anyone: it must not get in */
	expect_closed(feed(s, UAUTO, "", 0, &v), &v, D4_REJ_UNKNOWN_SENSOR, "no key of its own");
	d4_session_free(s);
	s = sess();
	expect_closed(feed(s, UAUTO, "shared", 6, &v), &v, D4_REJ_UNKNOWN_SENSOR, "no key of its own");
	d4_session_free(s);
	s = sess();
	ck_assert_int_eq(feed(s, UOWN, OWN, strlen(OWN), &v), D4_SESS_CONTINUE);
	d4_session_free(s);
}
END_TEST

START_TEST(t_shared_secret_without_key)
{
	env.mode = D4_MODE_SHARED_SECRET;
	env.shared_keylen = 0;
	struct d4_verdict v;
	struct d4_session *s = sess();
	expect_closed(feed(s, UNEW, "", 0, &v), &v, D4_REJ_UNKNOWN_SENSOR, "without a shared key");
	d4_session_free(s);
	s = sess();
	expect_closed(feed(s, UAUTO, "", 0, &v), &v, D4_REJ_UNKNOWN_SENSOR, "without a shared key");
	d4_session_free(s);
	s = sess();
	ck_assert_int_eq(feed(s, UOWN, OWN, strlen(OWN), &v), D4_SESS_CONTINUE);
	d4_session_free(s);
}
END_TEST

START_TEST(t_switch_to_registration_closes_keyless)
{
	env.mode = D4_MODE_SHARED_SECRET;
	set_key("shared");
	struct d4_verdict v;
	struct d4_session *a = sess(), *n = sess(), *o = sess();
	ck_assert_int_eq(feed(a, UAUTO, "shared", 6, &v), D4_SESS_CONTINUE);
	ck_assert_int_eq(feed(n, UNEW, "shared", 6, &v), D4_SESS_CONTINUE);
	ck_assert_int_eq(v.open.auto_create, 1);
	ck_assert_int_eq(feed(o, UOWN, OWN, strlen(OWN), &v), D4_SESS_CONTINUE);
	/* nothing changed: every session stays */
	ck_assert_int_eq(d4_session_recheck(a, &v), D4_SESS_CONTINUE);
	ck_assert_int_eq(d4_session_recheck(n, &v), D4_SESS_CONTINUE);
	ck_assert_int_eq(d4_session_recheck(o, &v), D4_SESS_CONTINUE);
	env.mode = D4_MODE_REGISTRATION;
	expect_closed(d4_session_recheck(a, &v), &v, D4_REJ_UNKNOWN_SENSOR, "no key of its own");
	expect_closed(d4_session_recheck(n, &v), &v, D4_REJ_UNKNOWN_SENSOR, "not registered");
	ck_assert_int_eq(d4_session_recheck(o, &v), D4_SESS_CONTINUE);
	ck_assert_int_eq(feed(o, UOWN, OWN, strlen(OWN), &v), D4_SESS_CONTINUE);
	d4_session_free(a);
	d4_session_free(n);
	d4_session_free(o);
}
END_TEST

START_TEST(t_new_shared_key_closes_old_provers)
{
	env.mode = D4_MODE_SHARED_SECRET;
	set_key("old shared");
	struct d4_verdict v;
	struct d4_session *a = sess(), *o = sess(), *p = sess();
	ck_assert_int_eq(feed(a, UAUTO, "old shared", 10, &v), D4_SESS_CONTINUE);
	ck_assert_int_eq(feed(o, UOWN, OWN, strlen(OWN), &v), D4_SESS_CONTINUE);
	/* p has a header in but no verified frame yet */
	struct d4_frame f = mk(UNEW, "new shared", 10);
	ck_assert_int_eq(d4_session_on_header(p, &f.hdr, 0, &v), D4_SESS_CONTINUE);
	set_key("new shared");
	expect_closed(d4_session_recheck(a, &v), &v, D4_REJ_HMAC, "shared key was changed");
	ck_assert_int_eq(d4_session_recheck(o, &v), D4_SESS_CONTINUE);
	/* not verified yet: re-keyed, and its frame signed with the new key passes */
	ck_assert_int_eq(d4_session_recheck(p, &v), D4_SESS_CONTINUE);
	f = mk(UNEW, "new shared", 10);
	ck_assert_int_eq(d4_session_on_frame(p, &f, &v), D4_SESS_CONTINUE);
	/* and once verified with the new key, a further re-check keeps it */
	ck_assert_int_eq(d4_session_recheck(p, &v), D4_SESS_CONTINUE);
	d4_session_free(a);
	d4_session_free(o);
	d4_session_free(p);
}
END_TEST

static Suite *suite(void)
{
	Suite *su = suite_create("server_session");
	TCase *tc = tcase_create("server mode rules");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_registration_refuses_keyless);
	tcase_add_test(tc, t_shared_secret_without_key);
	tcase_add_test(tc, t_switch_to_registration_closes_keyless);
	tcase_add_test(tc, t_new_shared_key_closes_old_provers);
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
