/* Unit tests of the pure session state machine (hub/ingest/d4_session.c),
 * driven with fake lookups. */
#include "test_ingest.h"

#include "d4_error.h"
#include "d4_hubconf.h"
#include "d4_policy.h"
#include "d4_proto.h"
#include "d4_session.h"
#include "d4_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fakes --------------------------------------------------------------- */

#define NSENS 4
static struct {
	uint8_t blocked_ip[16];
	int ip_blocked;
	uint8_t uuid_ips[16];
	int has_uuid_ips;
	uint8_t uuid_blk[16];
	int has_uuid_blk;
	struct d4_sensor sens[NSENS];
	int nsens;
	uint8_t types[256];
	char ext_deny[64];
	uint64_t backlog;
	uint64_t next_id;
	int sensor_gets;
} F;

static int f_ip_blocked(void *u, const uint8_t a[16])
{
	(void)u;
	return F.ip_blocked && memcmp(a, F.blocked_ip, 16) == 0;
}
static int f_uuid_ips(void *u, const uint8_t id[16])
{
	(void)u;
	return F.has_uuid_ips && memcmp(id, F.uuid_ips, 16) == 0;
}
static int f_uuid_blk(void *u, const uint8_t id[16])
{
	(void)u;
	return F.has_uuid_blk && memcmp(id, F.uuid_blk, 16) == 0;
}
static int f_sensor_get(void *u, const uint8_t id[16], struct d4_sensor *out)
{
	(void)u;
	F.sensor_gets++;
	for (int i = 0; i < F.nsens; i++)
		if (memcmp(F.sens[i].uuid, id, 16) == 0) {
			*out = F.sens[i];
			return 0;
		}
	return D4_ENOTFOUND;
}
static int f_type_ok(void *u, uint8_t t)
{
	(void)u;
	return F.types[t];
}
static int f_ext_ok(void *u, const char *name)
{
	(void)u;
	return strcmp(name, F.ext_deny) != 0;
}
static uint64_t f_backlog(void *u, const uint8_t id[16])
{
	(void)u;
	(void)id;
	return F.backlog;
}
static uint64_t f_id(void *u)
{
	(void)u;
	return ++F.next_id;
}

static const struct d4_session_ops fops = {f_ip_blocked, f_uuid_ips, f_uuid_blk, f_sensor_get,
					   f_type_ok,	 f_ext_ok,   f_backlog,	 f_id};

static struct d4_session_env env;
static const char KEY[] = "private key to change";
static const char SHARED[] = "shared secret";
static uint8_t U1[16], U2[16], UBAD[16], UNKNOWN[16], HUBORG[16], SORG[16], MORG[16];
static const uint8_t PEER[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
static const uint64_t NOW = 1700000000;

static struct d4_sensor *add_sensor(const uint8_t uuid[16], int status)
{
	struct d4_sensor *s = &F.sens[F.nsens++];
	memset(s, 0, sizeof(*s));
	memcpy(s->uuid, uuid, 16);
	memcpy(s->key, KEY, strlen(KEY));
	s->keylen = (uint16_t)strlen(KEY);
	s->status = (uint8_t)status;
	return s;
}

static void setup(void)
{
	memset(&F, 0, sizeof(F));
	for (int t = 0; t < 256; t++)
		F.types[t] = t == 1 || t == 2 || t == 4 || t == 8 || t == 254;
	d4_uuid_parse("d42967c1f7ad464ebbc74464c653d7a6", U1);
	d4_uuid_parse("5b7e1a3c9d0f4e2a8b6c0d1e2f3a4b5c", U2);
	d4_uuid_parse("5b7e1a3c9d0f1e2a8b6c0d1e2f3a4b5c", UBAD); /* version nibble 1 */
	d4_uuid_parse("0f0e0d0c0b0a4908a706050403020100", UNKNOWN);
	d4_uuid_parse("11111111111141118111111111111111", HUBORG);
	d4_uuid_parse("22222222222242228222222222222222", SORG);
	d4_uuid_parse("33333333333343338333333333333333", MORG);
	add_sensor(U1, D4_SENSOR_APPROVED);
	add_sensor(U2, D4_SENSOR_APPROVED);
	add_sensor(UBAD, D4_SENSOR_APPROVED);
	memset(&env, 0, sizeof(env));
	env.ops = &fops;
	env.reg = d4_session_registry_new();
	ck_assert_ptr_nonnull(env.reg);
	env.mode = D4_MODE_REGISTRATION;
	env.shared_key = (const uint8_t *)SHARED;
	env.shared_keylen = strlen(SHARED);
	env.max_payload = 1000000;
	env.preauth_max = 65536;
	env.max_backlog = 32u << 20;
	env.hub_tlp = D4_TLP_AMBER_STRICT;
	memcpy(env.hub_org, HUBORG, 16);
	env.now_s = NOW;
	env.now_ms = NOW * 1000;
}

static void teardown(void)
{
	ck_assert_uint_eq(d4_session_registry_count(env.reg), 0);
	d4_session_registry_free(env.reg);
}

/* ---- helpers ------------------------------------------------------------- */

static uint8_t fbuf[2][2100000];

struct pkt {
	uint8_t *buf;
	size_t len;
	struct d4_frame f;
};

/* Builds a signed packet into slot 0; tweak lets a test alter the header
 * after signing (wrong hmac etc.). */
static struct pkt mk_full(int slot, uint8_t version, uint8_t type, const uint8_t uuid[16], uint64_t ts, const void *pl,
			  size_t len, const char *key)
{
	struct pkt p;
	struct d4_hdr h = {0};
	h.version = version;
	h.type = type;
	memcpy(h.uuid, uuid, 16);
	h.timestamp = ts;
	int n = d4_proto_frame_build(&h, (const uint8_t *)key, strlen(key), pl, len, fbuf[slot], sizeof(fbuf[slot]));
	ck_assert_int_eq(n, (int)(D4_HDR_LEN + len));
	p.buf = fbuf[slot];
	p.len = (size_t)n;
	ck_assert_int_eq(d4_proto_hdr_decode(p.buf, p.len, &p.f.hdr), 0);
	p.f.raw_hdr = p.buf;
	p.f.payload = p.buf + D4_HDR_LEN;
	return p;
}

static struct pkt mk(uint8_t type, const uint8_t uuid[16], const void *pl, size_t len)
{
	return mk_full(0, 1, type, uuid, NOW, pl, len, KEY);
}

/* Header then frame; returns the verdict of the step that decided. */
static int feed(struct d4_session *s, const struct pkt *p, struct d4_verdict *v)
{
	int rc = d4_session_on_header(s, &p->f.hdr, 0, v);
	if (rc != D4_SESS_CONTINUE)
		return rc;
	return d4_session_on_frame(s, &p->f, v);
}

static struct d4_session *new_sess(void)
{
	struct d4_verdict v;
	struct d4_session *s = d4_session_new(&env, PEER, 40000);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(d4_session_on_connect(s, &v), D4_SESS_CONTINUE);
	return s;
}

static void expect_reject(struct d4_session *s, const struct pkt *p, enum d4_reject why)
{
	struct d4_verdict v;
	int rc = feed(s, p, &v);
	ck_assert_int_eq(rc, D4_SESS_CLOSE);
	ck_assert_msg(v.reason == why, "reason %d (%s), expected %d", v.reason, v.detail, why);
	ck_assert(v.detail[0] != '\0');
}

static void expect_ok(struct d4_session *s, const struct pkt *p, unsigned actions)
{
	struct d4_verdict v;
	int rc = feed(s, p, &v);
	ck_assert_msg(rc == D4_SESS_CONTINUE, "rejected: %d %s", v.reason, v.detail);
	ck_assert_uint_eq(v.actions, actions);
}

/* ---- tests --------------------------------------------------------------- */

START_TEST(t_accept_type1)
{
	struct d4_session *s = new_sess();
	struct pkt p = mk(1, U1, "hello d4\n", 9);
	struct d4_verdict v;
	ck_assert_int_eq(d4_session_max_payload(s), 65536);
	ck_assert_int_eq(feed(s, &p, &v), D4_SESS_CONTINUE);
	ck_assert_uint_eq(v.actions, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	ck_assert_uint_eq(v.open.session, 1);
	ck_assert_uint_eq(v.open.type, 1);
	ck_assert_int_eq(v.open.auto_create, 0);
	ck_assert_mem_eq(v.open.uuid, U1, 16);
	ck_assert_uint_eq(v.meta.tlp, D4_TLP_AMBER_STRICT);
	ck_assert_mem_eq(v.meta.org, HUBORG, 16);
	ck_assert_str_eq(v.meta.ext_type, "");
	ck_assert_uint_eq(v.rec.session, 1);
	ck_assert_uint_eq(v.rec.size, 9);
	ck_assert_uint_eq(v.rec.type, 1);
	ck_assert_uint_eq(v.rec.hdr_ts, NOW);
	ck_assert_uint_eq(v.rec.tlp, D4_TLP_AMBER_STRICT);
	ck_assert_mem_eq(v.payload, "hello d4\n", 9);
	ck_assert_int_eq(d4_session_verified(s), 1);
	ck_assert_int_eq(d4_session_max_payload(s), 1000000);
	ck_assert_uint_eq(d4_session_id(s), 1);
	int gets = F.sensor_gets;
	for (int i = 0; i < 3; i++) {
		p = mk(1, U1, "x", 1);
		expect_ok(s, &p, D4_ACT_FRAME);
	}
	/* the sensor record is cached per connection */
	ck_assert_int_eq(F.sensor_gets, gets);
	/* the C client ends every stream with an empty packet */
	p = mk(1, U1, "", 0);
	expect_ok(s, &p, D4_ACT_FRAME);
	d4_session_free(s);
}
END_TEST

START_TEST(t_ip_blocked)
{
	struct d4_verdict v;
	F.ip_blocked = 1;
	memcpy(F.blocked_ip, PEER, 16);
	struct d4_session *s = d4_session_new(&env, PEER, 1);
	ck_assert_int_eq(d4_session_on_connect(s, &v), D4_SESS_CLOSE);
	ck_assert_int_eq(v.reason, D4_REJ_IP_BLOCKED);
	ck_assert_int_eq(v.has_uuid, 0);
	d4_session_free(s);
}
END_TEST

START_TEST(t_uuid_ips_blocked)
{
	F.has_uuid_ips = 1;
	memcpy(F.uuid_ips, U1, 16);
	F.has_uuid_blk = 1; /* also on the uuid list: uuid-ips comes first */
	memcpy(F.uuid_blk, U1, 16);
	struct d4_session *s = new_sess();
	struct pkt p = mk(1, U1, "a", 1);
	struct d4_verdict v;
	ck_assert_int_eq(feed(s, &p, &v), D4_SESS_CLOSE);
	ck_assert_int_eq(v.reason, D4_REJ_UUID_IPS_BLOCKED);
	ck_assert_uint_eq(v.actions, D4_ACT_BLOCK_IP);
	ck_assert_int_eq(v.has_uuid, 1);
	ck_assert_mem_eq(v.uuid, U1, 16);
	d4_session_free(s);
}
END_TEST

START_TEST(t_uuid_blocked_before_type)
{
	F.has_uuid_blk = 1;
	memcpy(F.uuid_blk, U1, 16);
	struct d4_session *s = new_sess();
	struct pkt p = mk(3, U1, "a", 1); /* type 3 not accepted either */
	expect_reject(s, &p, D4_REJ_UUID_BLOCKED);
	d4_session_free(s);
	/* the sensor's own status "blocked" is the same reason */
	F.has_uuid_blk = 0;
	F.sens[1].status = D4_SENSOR_BLOCKED;
	s = new_sess();
	p = mk(1, U2, "a", 1);
	expect_reject(s, &p, D4_REJ_UUID_BLOCKED);
	d4_session_free(s);
}
END_TEST

START_TEST(t_registration)
{
	struct d4_session *s = new_sess();
	struct pkt p = mk(1, UNKNOWN, "a", 1);
	expect_reject(s, &p, D4_REJ_UNKNOWN_SENSOR);
	d4_session_free(s);
	F.sens[0].status = D4_SENSOR_PENDING;
	s = new_sess();
	p = mk(3, U1, "a", 1); /* pending wins over the type check */
	expect_reject(s, &p, D4_REJ_NOT_APPROVED);
	d4_session_free(s);
}
END_TEST

START_TEST(t_shared_secret)
{
	env.mode = D4_MODE_SHARED_SECRET;
	struct d4_session *s = new_sess();
	struct pkt p = mk_full(0, 1, 1, UNKNOWN, NOW, "abc", 3, SHARED);
	struct d4_verdict v;
	ck_assert_int_eq(feed(s, &p, &v), D4_SESS_CONTINUE);
	ck_assert(v.actions & D4_ACT_OPEN);
	ck_assert_int_eq(v.open.auto_create, 1);
	d4_session_free(s);
	/* unknown sensor signing with anything else */
	s = new_sess();
	p = mk_full(0, 1, 1, UNKNOWN, NOW, "abc", 3, KEY);
	expect_reject(s, &p, D4_REJ_HMAC);
	d4_session_free(s);
	/* a registered sensor keeps its own key; pending is fine in this mode */
	F.sens[0].status = D4_SENSOR_PENDING;
	s = new_sess();
	p = mk(1, U1, "abc", 3);
	ck_assert_int_eq(feed(s, &p, &v), D4_SESS_CONTINUE);
	ck_assert_int_eq(v.open.auto_create, 0);
	d4_session_free(s);
}
END_TEST

START_TEST(t_banned)
{
	F.sens[0].ban_until = NOW + 30;
	struct d4_session *s = new_sess();
	struct pkt p = mk(3, U1, "a", 1);
	expect_reject(s, &p, D4_REJ_BANNED);
	d4_session_free(s);
	env.now_s = NOW + 31;
	s = new_sess();
	p = mk(1, U1, "a", 1);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	d4_session_free(s);
}
END_TEST

START_TEST(t_too_big_before_v4)
{
	/* size limit comes before the uuid-v4 check: header only */
	struct d4_session *s = new_sess();
	struct d4_hdr h = {.version = 1, .type = 1, .timestamp = NOW, .size = 1000001};
	memcpy(h.uuid, UBAD, 16);
	struct d4_verdict v;
	ck_assert_int_eq(d4_session_on_header(s, &h, 1, &v), D4_SESS_CLOSE);
	ck_assert_int_eq(v.reason, D4_REJ_TOO_BIG);
	d4_session_free(s);
	/* the sensor's own limit wins over the hub's */
	F.sens[0].max_payload = 1000;
	s = new_sess();
	h.size = 1001;
	memcpy(h.uuid, U1, 16);
	ck_assert_int_eq(d4_session_max_payload(s), 65536);
	ck_assert_int_eq(d4_session_on_header(s, &h, 0, &v), D4_SESS_CLOSE);
	ck_assert_int_eq(v.reason, D4_REJ_TOO_BIG);
	d4_session_free(s);
}
END_TEST

static uint8_t big[200000];

START_TEST(t_preauth)
{
	struct d4_session *s = new_sess();
	struct pkt p = mk(1, U1, big, 70000);
	expect_reject(s, &p, D4_REJ_PREAUTH_LIMIT);
	d4_session_free(s);

	s = new_sess();
	p = mk(1, U1, big, 100);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	/* relaxed after the first verified packet */
	ck_assert_uint_eq(d4_session_max_payload(s), 1000000);
	p = mk(1, U1, big, 150000);
	expect_ok(s, &p, D4_ACT_FRAME);
	d4_session_free(s);

	/* a first packet with a bad HMAC never relaxes the limit */
	s = new_sess();
	p = mk_full(0, 1, 1, U1, NOW, big, 100, "wrong");
	expect_reject(s, &p, D4_REJ_HMAC);
	ck_assert_uint_eq(d4_session_max_payload(s), 65536);
	d4_session_free(s);
}
END_TEST

START_TEST(t_not_v4_and_type)
{
	struct d4_session *s = new_sess();
	struct pkt p = mk(3, UBAD, "a", 1);
	expect_reject(s, &p, D4_REJ_UUID_NOT_V4);
	d4_session_free(s);
	s = new_sess();
	p = mk(3, U1, "a", 1);
	expect_reject(s, &p, D4_REJ_TYPE_NOT_ACCEPTED);
	d4_session_free(s);
	F.types[3] = 1; /* enabling type 3 makes it pass */
	s = new_sess();
	p = mk(3, U1, "a", 1);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	d4_session_free(s);
}
END_TEST

START_TEST(t_duplicate)
{
	struct d4_session *a = new_sess();
	struct pkt p = mk(1, U1, "a", 1);
	expect_ok(a, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	struct d4_session *b = new_sess();
	expect_reject(b, &p, D4_REJ_DUPLICATE_SESSION);
	d4_session_free(b);
	/* the first is kept and goes on */
	p = mk(1, U1, "b", 1);
	expect_ok(a, &p, D4_ACT_FRAME);
	/* another type of the same sensor is fine */
	b = new_sess();
	p = mk(8, U1, "c", 1);
	expect_ok(b, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	d4_session_free(b);
	/* type 2 may have several connections */
	struct d4_session *m1 = new_sess(), *m2 = new_sess();
	p = mk(2, U1, "{", 1);
	expect_ok(m1, &p, D4_ACT_OPEN | D4_ACT_FRAME);
	expect_ok(m2, &p, D4_ACT_OPEN | D4_ACT_FRAME);
	d4_session_free(m1);
	d4_session_free(m2);
	d4_session_free(a);
	/* released on free */
	a = new_sess();
	p = mk(1, U1, "a", 1);
	expect_ok(a, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	d4_session_free(a);
}
END_TEST

START_TEST(t_first_254)
{
	struct d4_session *s = new_sess();
	struct pkt p = mk(254, U1, "a", 1);
	expect_reject(s, &p, D4_REJ_FIRST_254);
	d4_session_free(s);
}
END_TEST

START_TEST(t_type_change_rejected)
{
	struct d4_session *s = new_sess();
	struct pkt p = mk(1, U1, "a", 1);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	p = mk(8, U1, "a", 1);
	expect_reject(s, &p, D4_REJ_TYPE_CHANGE);
	d4_session_free(s);
}
END_TEST

START_TEST(t_meta_split_and_254)
{
	char org[33];
	char json[512];
	d4_uuid_hex(MORG, org);
	int n =
	    snprintf(json, sizeof(json), "{\"type\": \"ja3-jl\", \"tags\": [\"TLP:RED\"], \"misp:org\": \"%s\"}", org);
	struct d4_session *s = new_sess();
	struct d4_verdict v;
	/* three type-2 packets: the meta header is complete only with the last */
	int cut1 = 7, cut2 = 30;
	struct pkt p = mk(2, U1, json, (size_t)cut1);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_FRAME);
	p = mk(2, U1, json + cut1, (size_t)(cut2 - cut1));
	expect_ok(s, &p, D4_ACT_FRAME);
	/* 254 before the meta header is complete would be refused (tested below) */
	p = mk(2, U1, json + cut2, (size_t)(n - cut2));
	ck_assert_int_eq(feed(s, &p, &v), D4_SESS_CONTINUE);
	ck_assert_uint_eq(v.actions, D4_ACT_META | D4_ACT_FRAME);
	ck_assert_str_eq(v.meta.ext_type, "ja3-jl");
	ck_assert_uint_eq(v.meta.tlp, D4_TLP_RED);
	ck_assert_mem_eq(v.meta.org, MORG, 16);
	ck_assert_uint_eq(v.rec.tlp, D4_TLP_RED);
	/* 2 -> 254 is the one allowed change */
	p = mk(254, U1, "line\n", 5);
	ck_assert_int_eq(feed(s, &p, &v), D4_SESS_CONTINUE);
	ck_assert_uint_eq(v.actions, D4_ACT_FRAME);
	ck_assert_uint_eq(v.rec.type, 254);
	ck_assert_uint_eq(v.rec.tlp, D4_TLP_RED);
	ck_assert_mem_eq(v.rec.org, MORG, 16);
	/* and 254 -> 2 is not */
	p = mk(2, U1, "{}", 2);
	expect_reject(s, &p, D4_REJ_TYPE_CHANGE);
	d4_session_free(s);
}
END_TEST

START_TEST(t_meta_errors)
{
	struct d4_session *s = new_sess();
	struct pkt p = mk(2, U1, "{\"type\":", 8);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_FRAME);
	p = mk(254, U1, "x", 1);
	expect_reject(s, &p, D4_REJ_META_INVALID);
	d4_session_free(s);

	s = new_sess();
	p = mk(2, U1, "[1,2]", 5);
	expect_reject(s, &p, D4_REJ_META_INVALID);
	d4_session_free(s);
	/* the packet's HMAC verified before the meta header was judged: the
	 * rejection belongs to the sensor */
	struct d4_verdict mv;
	s = new_sess();
	ck_assert_int_eq(feed(s, &p, &mv), D4_SESS_CLOSE);
	ck_assert_int_eq(mv.proven, 1);
	d4_session_free(s);

	strcpy(F.ext_deny, "maltrail");
	s = new_sess();
	p = mk(2, U1, "{\"type\":\"maltrail\"}", 19);
	expect_reject(s, &p, D4_REJ_EXT_TYPE_NOT_ACCEPTED);
	d4_session_free(s);

	/* a second 254 connection of the same sensor is a duplicate */
	struct d4_session *a = new_sess(), *b = new_sess();
	p = mk(2, U1, "{\"type\":\"ja3-jl\"}", 17);
	expect_ok(a, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	expect_ok(b, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	p = mk(254, U1, "x", 1);
	expect_ok(a, &p, D4_ACT_FRAME);
	expect_reject(b, &p, D4_REJ_DUPLICATE_SESSION);
	d4_session_free(a);
	d4_session_free(b);
}
END_TEST

START_TEST(t_sensor_defaults)
{
	F.sens[0].default_tlp = D4_TLP_GREEN;
	memcpy(F.sens[0].default_org, SORG, 16);
	F.sens[0].has_default_org = 1;
	struct d4_session *s = new_sess();
	struct pkt p = mk(2, U1, "{\"type\":\"ja3-jl\"}", 17);
	struct d4_verdict v;
	ck_assert_int_eq(feed(s, &p, &v), D4_SESS_CONTINUE);
	ck_assert_uint_eq(v.meta.tlp, D4_TLP_GREEN);
	ck_assert_mem_eq(v.meta.org, SORG, 16);
	d4_session_free(s);
}
END_TEST

START_TEST(t_uuid_change)
{
	struct d4_session *s = new_sess();
	struct pkt p = mk(1, U1, "a", 1);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	p = mk(1, U2, "a", 1);
	struct d4_verdict v;
	ck_assert_int_eq(feed(s, &p, &v), D4_SESS_CLOSE);
	ck_assert_int_eq(v.reason, D4_REJ_UUID_CHANGE);
	/* charged to the session's owner, never to the unverified new uuid */
	ck_assert_int_eq(v.has_uuid, 1);
	ck_assert_mem_eq(v.uuid, U1, 16);
	d4_session_free(s);
	/* a change to a blocked uuid reports the block, as the reference would */
	F.has_uuid_blk = 1;
	memcpy(F.uuid_blk, U2, 16);
	s = new_sess();
	p = mk(1, U1, "a", 1);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	p = mk(1, U2, "a", 1);
	expect_reject(s, &p, D4_REJ_UUID_BLOCKED);
	d4_session_free(s);
}
END_TEST

START_TEST(t_hmac)
{
	struct d4_session *s = new_sess();
	struct pkt p = mk(1, U1, "hello", 5);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	p = mk(1, U1, "hello", 5);
	p.buf[D4_HDR_LEN] ^= 1; /* payload altered after signing */
	expect_reject(s, &p, D4_REJ_HMAC);
	d4_session_free(s);
	s = new_sess();
	p = mk(1, U1, "hello", 5);
	p.buf[D4_HMAC_OFF + 31] ^= 0x80;
	expect_reject(s, &p, D4_REJ_HMAC);
	d4_session_free(s);
}
END_TEST

START_TEST(t_backlog)
{
	env.max_backlog = 1000;
	F.backlog = 990;
	struct d4_session *s = new_sess();
	struct pkt p = mk(1, U1, big, 10);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	/* over the cap: the verified frame is kept, the connection throttled */
	p = mk(1, U1, big, 11);
	expect_ok(s, &p, D4_ACT_FRAME | D4_ACT_THROTTLE);
	ck_assert_uint_eq(d4_session_backlog_cap(s), 1000);
	struct d4_verdict v;
	ck_assert_int_eq(d4_session_on_backlog_stall(s, 1001, &v), D4_SESS_CLOSE);
	ck_assert_int_eq(v.reason, D4_REJ_BACKLOG);
	ck_assert_mem_eq(v.uuid, U1, 16);
	d4_session_free(s);
	/* the sensor's own cap wins */
	F.sens[0].max_backlog = 5000;
	s = new_sess();
	p = mk(1, U1, big, 11);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	ck_assert_uint_eq(d4_session_backlog_cap(s), 5000);
	d4_session_free(s);
}
END_TEST

START_TEST(t_timestamp_and_version)
{
	env.timestamp_window = 60;
	struct d4_session *s = new_sess();
	struct pkt p = mk_full(0, 1, 1, U1, NOW - 59, "a", 1, KEY);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	p = mk_full(0, 1, 1, U1, NOW + 61, "a", 1, KEY);
	expect_reject(s, &p, D4_REJ_TIMESTAMP);
	d4_session_free(s);
	env.timestamp_window = 0; /* off by default: anything goes */
	s = new_sess();
	p = mk_full(0, 1, 1, U1, 5, "a", 1, KEY);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	p = mk_full(0, 2, 1, U1, NOW, "a", 1, KEY);
	expect_reject(s, &p, D4_REJ_VERSION);
	d4_session_free(s);
}
END_TEST

START_TEST(t_recheck)
{
	struct d4_verdict v;
	struct d4_session *s = new_sess();
	struct pkt p = mk(1, U1, "a", 1);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	ck_assert_int_eq(d4_session_recheck(s, &v), D4_SESS_CONTINUE);
	/* key rotation is picked up on the next epoch */
	memcpy(F.sens[0].key, "new key", 7);
	F.sens[0].keylen = 7;
	ck_assert_int_eq(d4_session_recheck(s, &v), D4_SESS_CONTINUE);
	p = mk(1, U1, "a", 1);
	expect_reject(s, &p, D4_REJ_HMAC);
	d4_session_free(s);
	memcpy(F.sens[0].key, KEY, strlen(KEY));
	F.sens[0].keylen = (uint16_t)strlen(KEY);

	s = new_sess();
	p = mk(1, U1, "a", 1);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	F.sens[0].ban_until = NOW + 30; /* kick */
	ck_assert_int_eq(d4_session_recheck(s, &v), D4_SESS_CLOSE);
	ck_assert_int_eq(v.reason, D4_REJ_BANNED);
	ck_assert_str_eq(v.detail, "banned");
	d4_session_free(s);
	F.sens[0].ban_until = 0;

	s = new_sess();
	p = mk(1, U1, "a", 1);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	F.sens[0].status = D4_SENSOR_BLOCKED;
	ck_assert_int_eq(d4_session_recheck(s, &v), D4_SESS_CLOSE);
	ck_assert_int_eq(v.reason, D4_REJ_UUID_BLOCKED);
	d4_session_free(s);
	F.sens[0].status = D4_SENSOR_APPROVED;

	s = new_sess();
	p = mk(1, U1, "a", 1);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	F.ip_blocked = 1;
	memcpy(F.blocked_ip, PEER, 16);
	ck_assert_int_eq(d4_session_recheck(s, &v), D4_SESS_CLOSE);
	ck_assert_int_eq(v.reason, D4_REJ_IP_BLOCKED);
	d4_session_free(s);
}
END_TEST

/* uuid squatting: headers and forged packets of a connection that only knows
 * the uuid claim nothing; the real sensor gets its slot, and every rejection
 * of the squatter says proven = 0 (never charged to the sensor). */
START_TEST(t_squat)
{
	struct d4_verdict v;
	struct d4_session *sq[3];
	struct pkt p = mk_full(0, 1, 1, U1, NOW, "forged", 6, "not the key");
	for (int i = 0; i < 3; i++) {
		sq[i] = new_sess();
		/* the header alone: accepted, no claim */
		ck_assert_int_eq(d4_session_on_header(sq[i], &p.f.hdr, 0, &v), D4_SESS_CONTINUE);
		ck_assert_uint_eq(d4_session_type(sq[i]), 1);
		ck_assert_int_eq(d4_session_verified(sq[i]), 0);
	}
	ck_assert_uint_eq(d4_session_registry_count(env.reg), 0);
	/* the real sensor, while the three wait for their payloads */
	struct d4_session *real = new_sess();
	struct pkt r = mk(1, U1, "real", 4);
	expect_ok(real, &r, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	ck_assert_uint_eq(d4_session_registry_count(env.reg), 1);
	/* a forged payload: hmac-mismatch, not proven */
	ck_assert_int_eq(d4_session_on_frame(sq[0], &p.f, &v), D4_SESS_CLOSE);
	ck_assert_int_eq(v.reason, D4_REJ_HMAC);
	ck_assert_int_eq(v.has_uuid, 1);
	ck_assert_mem_eq(v.uuid, U1, 16);
	ck_assert_int_eq(v.proven, 0);
	/* silence: header-timeout, not proven either */
	ck_assert_int_eq(d4_session_on_timeout(sq[1], &v), D4_SESS_CLOSE);
	ck_assert_int_eq(v.reason, D4_REJ_HEADER_TIMEOUT);
	ck_assert_int_eq(v.proven, 0);
	for (int i = 0; i < 3; i++)
		d4_session_free(sq[i]);
	/* the real sensor's session goes on */
	r = mk(1, U1, "more", 4);
	expect_ok(real, &r, D4_ACT_FRAME);
	ck_assert_uint_eq(d4_session_registry_count(env.reg), 1);

	/* a second connection that proves the key is a genuine duplicate,
	 * found after its HMAC verified: proven, charged to the sensor */
	struct d4_session *dup = new_sess();
	r = mk(1, U1, "dup", 3);
	ck_assert_int_eq(feed(dup, &r, &v), D4_SESS_CLOSE);
	ck_assert_int_eq(v.reason, D4_REJ_DUPLICATE_SESSION);
	ck_assert_int_eq(v.proven, 1);
	ck_assert_int_eq(d4_session_verified(dup), 0);
	d4_session_free(dup);
	/* a later bad packet of the verified session is charged to it */
	r = mk(1, U1, "evil", 4);
	r.buf[D4_HDR_LEN] ^= 1;
	ck_assert_int_eq(feed(real, &r, &v), D4_SESS_CLOSE);
	ck_assert_int_eq(v.reason, D4_REJ_HMAC);
	ck_assert_int_eq(v.proven, 1);
	d4_session_free(real);
	ck_assert_uint_eq(d4_session_registry_count(env.reg), 0);
}
END_TEST

/* Policy rejections before any verified packet are not proven; a verified
 * session sending another sensor's (blocked) uuid is not charged to it. */
START_TEST(t_unproven_policy)
{
	struct d4_verdict v;
	F.sens[0].ban_until = NOW + 10;
	struct d4_session *s = new_sess();
	struct pkt p = mk(1, U1, "x", 1);
	ck_assert_int_eq(feed(s, &p, &v), D4_SESS_CLOSE);
	ck_assert_int_eq(v.reason, D4_REJ_BANNED);
	ck_assert_int_eq(v.proven, 0);
	d4_session_free(s);
	F.sens[0].ban_until = 0;
	/* verified as U1, then a header of the blocked U2: the block is
	 * reported under U2, which this connection never proved */
	F.has_uuid_blk = 1;
	memcpy(F.uuid_blk, U2, 16);
	s = new_sess();
	p = mk(1, U1, "a", 1);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	p = mk(1, U2, "a", 1);
	ck_assert_int_eq(feed(s, &p, &v), D4_SESS_CLOSE);
	ck_assert_int_eq(v.reason, D4_REJ_UUID_BLOCKED);
	ck_assert_mem_eq(v.uuid, U2, 16);
	ck_assert_int_eq(v.proven, 0);
	/* while a uuid-change of the session itself is charged to its owner */
	d4_session_free(s);
	F.has_uuid_blk = 0;
	s = new_sess();
	p = mk(1, U1, "a", 1);
	expect_ok(s, &p, D4_ACT_OPEN | D4_ACT_META | D4_ACT_FRAME);
	p = mk(1, U2, "a", 1);
	ck_assert_int_eq(feed(s, &p, &v), D4_SESS_CLOSE);
	ck_assert_int_eq(v.reason, D4_REJ_UUID_CHANGE);
	ck_assert_int_eq(v.proven, 1);
	d4_session_free(s);
}
END_TEST

START_TEST(t_timeout)
{
	struct d4_verdict v;
	struct d4_session *s = new_sess();
	ck_assert_int_eq(d4_session_on_timeout(s, &v), D4_SESS_CLOSE);
	ck_assert_int_eq(v.reason, D4_REJ_HEADER_TIMEOUT);
	ck_assert_int_eq(v.has_uuid, 0);
	d4_session_free(s);
}
END_TEST

void add_session_tests(Suite *su)
{
	TCase *tc = tcase_create("session");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_accept_type1);
	tcase_add_test(tc, t_ip_blocked);
	tcase_add_test(tc, t_uuid_ips_blocked);
	tcase_add_test(tc, t_uuid_blocked_before_type);
	tcase_add_test(tc, t_registration);
	tcase_add_test(tc, t_shared_secret);
	tcase_add_test(tc, t_banned);
	tcase_add_test(tc, t_too_big_before_v4);
	tcase_add_test(tc, t_preauth);
	tcase_add_test(tc, t_not_v4_and_type);
	tcase_add_test(tc, t_duplicate);
	tcase_add_test(tc, t_first_254);
	tcase_add_test(tc, t_type_change_rejected);
	tcase_add_test(tc, t_meta_split_and_254);
	tcase_add_test(tc, t_meta_errors);
	tcase_add_test(tc, t_sensor_defaults);
	tcase_add_test(tc, t_uuid_change);
	tcase_add_test(tc, t_hmac);
	tcase_add_test(tc, t_backlog);
	tcase_add_test(tc, t_timestamp_and_version);
	tcase_add_test(tc, t_recheck);
	tcase_add_test(tc, t_timeout);
	tcase_add_test(tc, t_squat);
	tcase_add_test(tc, t_unproven_policy);
	suite_add_tcase(su, tc);
}
