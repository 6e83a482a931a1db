/* Check suite for hub/store: real LMDB environments under a mkdtemp dir. */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_reader.h"
#include "d4_store.h"
#include "d4_util.h"
#include "store_internal.h"

#include <check.h>
#include <openssl/evp.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/d4store-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(storedir, sizeof(storedir), "%s/store", tmpdir);
}

static void teardown(void)
{
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static struct d4_store_opts base_opts(void)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = storedir;
	o.map_size = 256u << 20;
	o.commit_ms = 5;
	o.no_sync = 1;
	return o;
}

static struct d4_store *open_store(const struct d4_store_opts *o)
{
	struct d4_store *s = NULL;
	int rc = d4_store_open(o, &s);
	ck_assert_msg(rc == 0, "open: %s", d4_strerror(rc));
	return s;
}

static void mkuuid(uint8_t u[16], unsigned n)
{
	memset(u, 0, 16);
	u[0] = 0xd4;
	u[6] = 0x40;
	u[8] = 0x80;
	u[15] = (uint8_t)n;
	u[14] = (uint8_t)(n >> 8);
}

static void v4(uint8_t a[16], unsigned x, unsigned y, unsigned z, unsigned w)
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	a[12] = (uint8_t)x;
	a[13] = (uint8_t)y;
	a[14] = (uint8_t)z;
	a[15] = (uint8_t)w;
}

/* Deterministic payload: byte i of frame (session, idx) */
static uint8_t pbyte(uint64_t session, uint64_t idx, size_t i)
{
	return (uint8_t)(session * 31 + idx * 7 + i * 13);
}
static uint32_t psize_of(uint64_t idx)
{
	return (uint32_t)((idx * 2654435761u) % 9000u + (idx % 97 == 0 ? 60000 : 0));
}

static uint8_t pbuf[1 << 20];

static void fill_payload(uint64_t session, uint64_t idx, uint32_t size)
{
	for (size_t i = 0; i < size; i++)
		pbuf[i] = pbyte(session, idx, i);
	if (size >= 8)
		d4_put_u64be(pbuf, idx);
}

static int check_payload(uint64_t session, uint64_t idx, const uint8_t *p, uint32_t size)
{
	if (size >= 8 && d4_get_u64be(p) != idx)
		return 0;
	for (size_t i = 8; i < size; i++)
		if (p[i] != pbyte(session, idx, i))
			return 0;
	return 1;
}

static int post_frame_retry(struct d4_store *s, const struct d4_frame_rec *r, const uint8_t *p)
{
	for (int i = 0; i < 20000; i++) {
		int rc = d4_store_post_frame(s, r, p);
		if (rc != D4_EAGAIN)
			return rc;
		usleep(500);
	}
	return D4_ETIMEOUT;
}

static struct d4_frame_rec mkrec(uint64_t session, const uint8_t uuid[16], uint8_t type, uint64_t idx, uint32_t size,
				 uint64_t recv_ms)
{
	struct d4_frame_rec r;
	memset(&r, 0, sizeof(r));
	r.session = session;
	memcpy(r.uuid, uuid, 16);
	r.type = type;
	r.version = 1;
	r.tlp = 4;
	r.org[0] = 0xaa;
	r.org[15] = (uint8_t)session;
	r.hdr_ts = 1700000000u + idx;
	r.recv_ms = recv_ms;
	r.size = size;
	return r;
}

/* ------------------------------------------------------------------------ */
START_TEST(test_reject_names)
{
	ck_assert_str_eq(d4_store_reject_name(D4_REJ_IP_BLOCKED), "ip-blocked");
	ck_assert_str_eq(d4_store_reject_name(D4_REJ_HMAC), "hmac-mismatch");
	ck_assert_str_eq(d4_store_reject_name(D4_REJ_TLS), "tls-handshake");
	ck_assert_str_eq(d4_store_reject_name(D4_REJ_TIMESTAMP), "timestamp-out-of-window");
	ck_assert_str_eq(d4_store_reject_name(D4_REJ_EXT_TYPE_NOT_ACCEPTED), "ext-type-not-accepted");
	ck_assert_str_eq(d4_store_reject_name(D4_REJ_COUNT), "unknown");
	for (int i = 0; i < D4_REJ_COUNT; i++)
		for (int j = i + 1; j < D4_REJ_COUNT; j++)
			ck_assert_str_ne(d4_store_reject_name(i), d4_store_reject_name(j));
	ck_assert_str_eq(d4_store_status_name(D4_SENSOR_APPROVED), "approved");
}
END_TEST

START_TEST(test_open_reopen)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	uint64_t e0 = d4_store_epoch(s);
	ck_assert_uint_ge(e0, 1);
	ck_assert_int_eq(d4_store_epoch_bump(s), 0);
	ck_assert_uint_eq(d4_store_epoch(s), e0 + 1);
	d4_store_close(s);
	s = open_store(&o);
	ck_assert_uint_eq(d4_store_epoch(s), e0 + 1);
	d4_store_close(s);
	/* map_size 0 adopts the larger size the store was written with */
	o.map_size = 3ull << 30;
	s = open_store(&o);
	ck_assert_int_eq(d4_store_epoch_bump(s), 0);
	d4_store_close(s);
	o.map_size = 0;
	s = open_store(&o);
	struct d4_store_status st;
	d4_store_status_get(s, &st);
	ck_assert_uint_eq(st.map_size, 3ull << 30);
	d4_store_close(s);
	/* read-only open of an existing store */
	o.read_only = 1;
	s = open_store(&o);
	uint8_t acc[256];
	ck_assert_int_eq(d4_store_types_get(s, acc), 0);
	ck_assert_int_eq(acc[1], 1);
	ck_assert_int_eq(d4_store_epoch_bump(s), D4_EPERM);
	ck_assert_int_eq(d4_store_writer_start(s), D4_EPERM);
	d4_store_close(s);
	/* read-only open of a missing store fails cleanly */
	char missing[400];
	snprintf(missing, sizeof(missing), "%s/nope", tmpdir);
	o.path = missing;
	struct d4_store *s2 = NULL;
	ck_assert_int_lt(d4_store_open(&o, &s2), 0);
	ck_assert_ptr_null(s2);
}
END_TEST

START_TEST(test_sensor_crud)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	struct d4_sensor sn, got;
	memset(&sn, 0, sizeof(sn));
	mkuuid(sn.uuid, 1);
	memcpy(sn.key, "secret", 6);
	sn.keylen = 6;
	sn.status = D4_SENSOR_APPROVED;
	strcpy(sn.description, "first sensor");
	strcpy(sn.mail, "a@example.org");
	sn.max_payload = 5000;
	ck_assert_int_eq(d4_store_sensor_get(s, sn.uuid, &got), D4_ENOTFOUND);
	uint64_t e = d4_store_epoch(s);
	ck_assert_int_eq(d4_store_sensor_put(s, &sn), 0);
	ck_assert_uint_eq(d4_store_epoch(s), e + 1);
	ck_assert_int_eq(d4_store_sensor_get(s, sn.uuid, &got), 0);
	ck_assert_int_eq(got.keylen, 6);
	ck_assert_mem_eq(got.key, "secret", 6);
	ck_assert_str_eq(got.description, "first sensor");
	ck_assert_str_eq(got.mail, "a@example.org");
	ck_assert_uint_eq(got.max_payload, 5000);
	ck_assert_uint_ne(got.created, 0);

	/* counters through the writer */
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	struct d4_session_open op = {.session = d4_store_session_id_new(s), .type = 1, .port = 1234, .when = 1000};
	memcpy(op.uuid, sn.uuid, 16);
	v4(op.addr, 127, 0, 0, 1);
	ck_assert_int_eq(d4_store_post_session_open(s, &op), 0);
	for (unsigned i = 0; i < 10; i++) {
		struct d4_frame_rec r = mkrec(op.session, sn.uuid, 1, i, 100, 2000000);
		fill_payload(op.session, i, 100);
		ck_assert_int_eq(d4_store_post_frame(s, &r, pbuf), 0);
	}
	struct d4_reject_ev rj = {.has_uuid = 1, .reason = D4_REJ_HMAC, .when = 3000};
	memcpy(rj.uuid, sn.uuid, 16);
	strcpy(rj.detail, "bad mac");
	d4_store_post_reject(s, &rj);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);

	/* admin update keeps counters */
	strcpy(sn.description, "renamed");
	sn.status = D4_SENSOR_BLOCKED;
	sn.packets = 999; /* ignored for an existing record */
	ck_assert_int_eq(d4_store_sensor_put(s, &sn), 0);
	ck_assert_int_eq(d4_store_sensor_get(s, sn.uuid, &got), 0);
	ck_assert_str_eq(got.description, "renamed");
	ck_assert_int_eq(got.status, D4_SENSOR_BLOCKED);
	ck_assert_uint_eq(got.packets, 10);
	ck_assert_uint_eq(got.bytes, 1000);
	ck_assert_uint_eq(got.first_seen, 1000);
	ck_assert_uint_eq(got.last_seen, 2000);
	ck_assert_uint_eq(got.rejects[D4_REJ_HMAC], 1);
	ck_assert_str_eq(got.last_error, "hmac-mismatch: bad mac");
	ck_assert_uint_eq(got.last_error_at, 3000);
	ck_assert_int_eq(got.nlast_ips, 1);

	/* bad status rejected */
	sn.status = 7;
	ck_assert_int_eq(d4_store_sensor_put(s, &sn), D4_EINVAL);

	ck_assert_int_eq(d4_store_sensor_del(s, sn.uuid), 0);
	ck_assert_int_eq(d4_store_sensor_get(s, sn.uuid, &got), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_sensor_del(s, sn.uuid), D4_ENOTFOUND);
	d4_store_close(s);
}
END_TEST

/* Live sessions: unknown without an ingest; counted from a posted open to a
 * posted close, per sensor, the oldest start kept; a close of an unknown
 * session changes nothing. */
START_TEST(test_live_sessions)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	uint8_t a[16], b[16];
	mkuuid(a, 1);
	mkuuid(b, 2);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	struct d4_live_info li;
	ck_assert_int_eq(d4_store_live_get(s, a, &li), 0); /* no ingest publishes: unknown */
	struct d4_session_open op[3];
	uint64_t when[3] = {1500, 1000, 2000};
	for (int i = 0; i < 3; i++) {
		memset(&op[i], 0, sizeof(op[i]));
		op[i].session = d4_store_session_id_new(s);
		memcpy(op[i].uuid, i < 2 ? a : b, 16);
		op[i].type = (uint8_t)(i + 1);
		op[i].when = when[i];
		v4(op[i].addr, 127, 0, 0, 1);
		ck_assert_int_eq(d4_store_post_session_open(s, &op[i]), 0);
	}
	ck_assert_int_eq(d4_store_live_get(s, a, &li), 0); /* still no ingest */
	ck_assert_uint_eq(li.sessions, 0);
	struct d4_watch_ingest wi = {.running = 1};
	d4_store_watch_ingest_set(s, &wi);
	ck_assert_int_eq(d4_store_live_get(s, a, &li), 1);
	ck_assert_uint_eq(li.sessions, 2);
	ck_assert_uint_eq(li.since, 1000);
	ck_assert_int_eq(d4_store_live_get(s, b, &li), 1);
	ck_assert_uint_eq(li.sessions, 1);
	ck_assert_uint_eq(li.since, 2000);
	ck_assert_int_eq(d4_store_post_session_close(s, op[1].session, 2500, "done"), 0);
	ck_assert_int_eq(d4_store_post_session_close(s, 999999, 2500, "unknown"), 0);
	ck_assert_int_eq(d4_store_live_get(s, a, &li), 1);
	ck_assert_uint_eq(li.sessions, 1);
	ck_assert_uint_eq(li.since, 1500);
	ck_assert_int_eq(d4_store_post_session_close(s, op[0].session, 2600, "done"), 0);
	ck_assert_int_eq(d4_store_live_get(s, a, &li), 1);
	ck_assert_uint_eq(li.sessions, 0);
	ck_assert_uint_eq(li.since, 0);
	ck_assert_int_eq(d4_store_live_get(s, b, &li), 1);
	ck_assert_uint_eq(li.sessions, 1);
	wi.running = 0; /* the ingest stopped */
	d4_store_watch_ingest_set(s, &wi);
	ck_assert_int_eq(d4_store_live_get(s, b, &li), 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	d4_store_close(s);
}
END_TEST

static int count_sensor_cb(void *ctx, const struct d4_sensor *sn)
{
	uint8_t *last = ctx;
	ck_assert_int_gt(memcmp(sn->uuid, last, 16), 0); /* uuid order */
	memcpy(last, sn->uuid, 16);
	return 0;
}

START_TEST(test_sensor_foreach_and_ips)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	for (unsigned i = 5; i > 0; i--) {
		struct d4_sensor sn;
		memset(&sn, 0, sizeof(sn));
		mkuuid(sn.uuid, i);
		sn.status = D4_SENSOR_APPROVED;
		ck_assert_int_eq(d4_store_sensor_put(s, &sn), 0);
	}
	uint8_t last[16] = {0};
	ck_assert_int_eq(d4_store_sensor_foreach(s, count_sensor_cb, last), 0);
	uint8_t u5[16];
	mkuuid(u5, 5);
	ck_assert_mem_eq(last, u5, 16);

	/* last IPs: most recent first, dedupe by moving to front, at most 16 */
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	uint8_t u1[16];
	mkuuid(u1, 1);
	unsigned seqips[] = {1, 2, 1, 3};
	for (unsigned i = 0; i < 4; i++) {
		struct d4_session_open op = {.session = d4_store_session_id_new(s), .type = 1, .when = 100 + i};
		memcpy(op.uuid, u1, 16);
		v4(op.addr, 10, 0, 0, seqips[i]);
		ck_assert_int_eq(d4_store_post_session_open(s, &op), 0);
	}
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	struct d4_sensor got;
	ck_assert_int_eq(d4_store_sensor_get(s, u1, &got), 0);
	ck_assert_int_eq(got.nlast_ips, 3);
	ck_assert_int_eq(got.last_ips[0].addr[15], 3);
	ck_assert_int_eq(got.last_ips[1].addr[15], 1);
	ck_assert_uint_eq(got.last_ips[1].when, 102);
	ck_assert_int_eq(got.last_ips[2].addr[15], 2);
	for (unsigned i = 0; i < 20; i++) {
		struct d4_session_open op = {.session = d4_store_session_id_new(s), .type = 1, .when = 200 + i};
		memcpy(op.uuid, u1, 16);
		v4(op.addr, 10, 1, 0, 100 + i);
		ck_assert_int_eq(d4_store_post_session_open(s, &op), 0);
	}
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	ck_assert_int_eq(d4_store_sensor_get(s, u1, &got), 0);
	ck_assert_int_eq(got.nlast_ips, 16);
	ck_assert_int_eq(got.last_ips[0].addr[15], 119);
	ck_assert_int_eq(got.last_ips[15].addr[15], 104);
	ck_assert_uint_eq(got.first_seen, 100);
	ck_assert_uint_eq(got.last_seen, 219);

	/* shared-secret auto-create */
	uint8_t u9[16];
	mkuuid(u9, 9);
	struct d4_session_open op = {.session = d4_store_session_id_new(s), .type = 1, .when = 500, .auto_create = 1};
	memcpy(op.uuid, u9, 16);
	v4(op.addr, 10, 9, 9, 9);
	ck_assert_int_eq(d4_store_post_session_open(s, &op), 0);
	/* without auto_create an unknown sensor is not created */
	uint8_t u10[16];
	mkuuid(u10, 10);
	op.session = d4_store_session_id_new(s);
	op.auto_create = 0;
	memcpy(op.uuid, u10, 16);
	ck_assert_int_eq(d4_store_post_session_open(s, &op), 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	ck_assert_int_eq(d4_store_sensor_get(s, u9, &got), 0);
	ck_assert_int_eq(got.status, D4_SENSOR_APPROVED);
	ck_assert_int_eq(got.keylen, 0);
	ck_assert_uint_eq(got.created, 500);
	ck_assert_int_eq(d4_store_sensor_get(s, u10, &got), D4_ENOTFOUND);
	d4_store_close(s);
}
END_TEST

static int count_block_cb(void *ctx, const struct d4_block_entry *e)
{
	(void)e;
	(*(int *)ctx)++;
	return 0;
}

START_TEST(test_blocklist)
{
	uint8_t a[16], p;
	char txt[64];
	/* parsing and formatting */
	ck_assert_int_eq(d4_store_parse_cidr("10.1.2.3/8", a, &p), 0);
	ck_assert_int_eq(p, 104);
	d4_store_format_cidr(a, p, txt, sizeof(txt));
	ck_assert_str_eq(txt, "10.0.0.0/8"); /* host bits masked */
	ck_assert_int_eq(d4_store_parse_cidr("192.168.1.1", a, &p), 0);
	ck_assert_int_eq(p, 128);
	d4_store_format_cidr(a, p, txt, sizeof(txt));
	ck_assert_str_eq(txt, "192.168.1.1");
	ck_assert_int_eq(d4_store_parse_cidr("2001:db8::1/32", a, &p), 0);
	d4_store_format_cidr(a, p, txt, sizeof(txt));
	ck_assert_str_eq(txt, "2001:db8::/32");
	ck_assert_int_eq(d4_store_parse_cidr("0.0.0.0/0", a, &p), 0);
	ck_assert_int_eq(p, 96);
	d4_store_format_cidr(a, p, txt, sizeof(txt));
	ck_assert_str_eq(txt, "0.0.0.0/0");
	ck_assert_int_eq(d4_store_parse_cidr("::1", a, &p), 0);
	d4_store_format_cidr(a, p, txt, sizeof(txt));
	ck_assert_str_eq(txt, "::1");
	ck_assert_int_eq(d4_store_parse_cidr("1.2.3.4/33", a, &p), D4_EINVAL);
	ck_assert_int_eq(d4_store_parse_cidr("::/129", a, &p), D4_EINVAL);
	ck_assert_int_eq(d4_store_parse_cidr("1.2.3.4/", a, &p), D4_EINVAL);
	ck_assert_int_eq(d4_store_parse_cidr("1.2.3.4/-1", a, &p), D4_EINVAL);
	ck_assert_int_eq(d4_store_parse_cidr("1.2.3/8", a, &p), D4_EINVAL);
	ck_assert_int_eq(d4_store_parse_cidr("host.example", a, &p), D4_EINVAL);
	ck_assert_int_eq(d4_store_parse_cidr("", a, &p), D4_EINVAL);

	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	struct d4_block_entry e;
	memset(&e, 0, sizeof(e));
	e.kind = D4_BLOCK_IP;
	ck_assert_int_eq(d4_store_parse_cidr("10.0.0.0/8", e.addr, &e.prefix), 0);
	uint64_t ep = d4_store_epoch(s);
	ck_assert_int_eq(d4_store_block_add(s, &e), 0);
	ck_assert_int_eq(d4_store_block_add(s, &e), 0); /* idempotent */
	ck_assert_uint_eq(d4_store_epoch(s), ep + 2);
	ck_assert_int_eq(d4_store_parse_cidr("2001:db8::/33", e.addr, &e.prefix), 0);
	ck_assert_int_eq(d4_store_block_add(s, &e), 0);
	ck_assert_int_eq(d4_store_parse_cidr("192.168.7.7", e.addr, &e.prefix), 0);
	ck_assert_int_eq(d4_store_block_add(s, &e), 0);

	uint8_t ip[16];
	v4(ip, 10, 255, 255, 255);
	ck_assert_int_eq(d4_store_ip_blocked(s, ip), 1);
	v4(ip, 10, 0, 0, 0);
	ck_assert_int_eq(d4_store_ip_blocked(s, ip), 1);
	v4(ip, 11, 0, 0, 0);
	ck_assert_int_eq(d4_store_ip_blocked(s, ip), 0);
	v4(ip, 9, 255, 255, 255);
	ck_assert_int_eq(d4_store_ip_blocked(s, ip), 0);
	v4(ip, 192, 168, 7, 7);
	ck_assert_int_eq(d4_store_ip_blocked(s, ip), 1);
	v4(ip, 192, 168, 7, 8);
	ck_assert_int_eq(d4_store_ip_blocked(s, ip), 0);
	ck_assert_int_eq(d4_store_parse_cidr("2001:db8:7fff:ffff::1", ip, &p), 0);
	ck_assert_int_eq(d4_store_ip_blocked(s, ip), 1);
	ck_assert_int_eq(d4_store_parse_cidr("2001:db8:8000::", ip, &p), 0); /* just outside /33 */
	ck_assert_int_eq(d4_store_ip_blocked(s, ip), 0);
	ck_assert_int_eq(d4_store_parse_cidr("2001:db9::", ip, &p), 0);
	ck_assert_int_eq(d4_store_ip_blocked(s, ip), 0);

	/* uuid kinds */
	memset(&e, 0, sizeof(e));
	e.kind = D4_BLOCK_UUID;
	mkuuid(e.uuid, 3);
	ck_assert_int_eq(d4_store_block_add(s, &e), 0);
	e.kind = D4_BLOCK_UUID_IPS;
	mkuuid(e.uuid, 4);
	ck_assert_int_eq(d4_store_block_add(s, &e), 0);
	uint8_t u[16];
	mkuuid(u, 3);
	ck_assert_int_eq(d4_store_uuid_blocked(s, u), 1);
	ck_assert_int_eq(d4_store_uuid_ips_blocked(s, u), 0);
	mkuuid(u, 4);
	ck_assert_int_eq(d4_store_uuid_blocked(s, u), 0);
	ck_assert_int_eq(d4_store_uuid_ips_blocked(s, u), 1);
	int n = 0;
	ck_assert_int_eq(d4_store_block_foreach(s, count_block_cb, &n), 0);
	ck_assert_int_eq(n, 5);

	/* ::/0 blocks every address, v4 too; deletion restores */
	memset(&e, 0, sizeof(e));
	e.kind = D4_BLOCK_IP;
	ck_assert_int_eq(d4_store_parse_cidr("::/0", e.addr, &e.prefix), 0);
	ck_assert_int_eq(d4_store_block_add(s, &e), 0);
	v4(ip, 8, 8, 8, 8);
	ck_assert_int_eq(d4_store_ip_blocked(s, ip), 1);
	ck_assert_int_eq(d4_store_block_del(s, &e), 0);
	ck_assert_int_eq(d4_store_ip_blocked(s, ip), 0);
	ck_assert_int_eq(d4_store_block_del(s, &e), D4_ENOTFOUND);
	/* delete with host bits set hits the canonical entry */
	ck_assert_int_eq(d4_store_parse_cidr("10.0.0.0/8", e.addr, &e.prefix), 0);
	e.addr[15] = 5;
	ck_assert_int_eq(d4_store_block_del(s, &e), 0);
	v4(ip, 10, 1, 1, 1);
	ck_assert_int_eq(d4_store_ip_blocked(s, ip), 0);
	e.kind = 9;
	ck_assert_int_eq(d4_store_block_add(s, &e), D4_EINVAL);
	d4_store_close(s);
}
END_TEST

static int ext_cb(void *ctx, const char *name)
{
	char *acc = ctx;
	strcat(acc, name);
	strcat(acc, ",");
	return 0;
}

START_TEST(test_types)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	uint8_t acc[256];
	ck_assert_int_eq(d4_store_types_get(s, acc), 0);
	for (int t = 0; t < 256; t++)
		ck_assert_int_eq(acc[t], t == 1 || t == 2 || t == 4 || t == 8 || t == 254);
	uint64_t ep = d4_store_epoch(s);
	ck_assert_int_eq(d4_store_type_set(s, 3, 1), 0);
	ck_assert_int_eq(d4_store_type_set(s, 4, 0), 0);
	ck_assert_uint_eq(d4_store_epoch(s), ep + 2);
	d4_store_close(s);
	s = open_store(&o);
	ck_assert_int_eq(d4_store_types_get(s, acc), 0);
	ck_assert_int_eq(acc[3], 1);
	ck_assert_int_eq(acc[4], 0);
	ck_assert_int_eq(acc[254], 1);

	/* ext types: empty list accepts everything */
	ck_assert_int_eq(d4_store_ext_type_accepted(s, "ja3-jl"), 1);
	ck_assert_int_eq(d4_store_ext_type_set(s, "ja3-jl", 1), 0);
	ck_assert_int_eq(d4_store_ext_type_set(s, "maltrail", 1), 0);
	ck_assert_int_eq(d4_store_ext_type_set(s, "maltrail", 1), 0);
	ck_assert_int_eq(d4_store_ext_type_accepted(s, "ja3-jl"), 1);
	ck_assert_int_eq(d4_store_ext_type_accepted(s, "other"), 0);
	ck_assert_int_eq(d4_store_ext_type_accepted(s, "ja3"), 0);
	char list[256] = "";
	ck_assert_int_eq(d4_store_ext_type_foreach(s, ext_cb, list), 0);
	ck_assert_str_eq(list, "ja3-jl,maltrail,");
	ck_assert_int_eq(d4_store_ext_type_set(s, "ja3-jl", 0), 0);
	ck_assert_int_eq(d4_store_ext_type_set(s, "maltrail", 0), 0);
	ck_assert_int_eq(d4_store_ext_type_accepted(s, "other"), 1);
	ck_assert_int_eq(d4_store_ext_type_set(s, "", 1), D4_EINVAL);
	ck_assert_int_eq(d4_store_ext_type_set(s, "has space", 1), D4_EINVAL);
	char longname[100];
	memset(longname, 'x', 99);
	longname[99] = '\0';
	ck_assert_int_eq(d4_store_ext_type_set(s, longname, 1), D4_EINVAL);
	d4_store_close(s);
}
END_TEST

/* ---- writer round trip ---- */
#define NSESS	6
#define NFRAMES 10000
struct rt {
	uint64_t sess[NSESS];
	uint64_t next_idx[NSESS]; /* per session expected next index */
	uint64_t count, last_seq;
	uint64_t only; /* session filter in effect, 0 = all */
};

static int sess_slot(struct rt *rt, uint64_t session)
{
	for (int i = 0; i < NSESS; i++)
		if (rt->sess[i] == session)
			return i;
	return -1;
}

/* Frame idx of the run belongs to session idx % NSESS except runs of 5. */
static int frame_sess(uint64_t idx)
{
	return (int)((idx / 5) % NSESS);
}
/* Sensor of session slot k: 0 -> {0,3}, 1 -> {1,4,5}, 2 (unknown) -> {2}. */
static int sens_of(int k)
{
	return k == 5 ? 1 : k % 3;
}

static int rt_cb(void *ctx, const struct d4_frame_rec *r, const uint8_t *payload)
{
	struct rt *rt = ctx;
	int k = sess_slot(rt, r->session);
	ck_assert_int_ge(k, 0);
	if (rt->only)
		ck_assert_uint_eq(r->session, rt->only);
	ck_assert_uint_gt(r->seq, rt->last_seq);
	rt->last_seq = r->seq;
	/* recover the global index from the payload / header timestamp */
	uint64_t idx = r->hdr_ts - 1700000000u;
	ck_assert_int_eq(frame_sess(idx), k);
	ck_assert_uint_ge(idx, rt->next_idx[k]); /* per-session order */
	rt->next_idx[k] = idx + 1;
	ck_assert_uint_eq(r->size, psize_of(idx));
	ck_assert_msg(check_payload(r->session, idx, payload, r->size), "payload of frame %llu",
		      (unsigned long long)idx);
	ck_assert_int_eq(r->version, 1);
	ck_assert_int_eq(r->tlp, 4);
	ck_assert_int_eq(r->org[15], (uint8_t)r->session);
	ck_assert_int_eq(r->type, k == 5 ? 254 : 1);
	ck_assert_uint_eq(r->recv_ms, 86400000ull * 20000 + idx);
	rt->count++;
	return 0;
}

static int daily_cb(void *ctx, const struct d4_daily_stat *st)
{
	uint64_t *acc = ctx;
	acc[0] += st->packets;
	acc[1] += st->bytes;
	acc[2] += st->rejects;
	acc[3]++;
	return 0;
}

static int stype_cb(void *ctx, const struct d4_sensor_type_stat *st)
{
	struct d4_sensor_type_stat *out = ctx;
	for (int i = 0; i < 4; i++)
		if (out[i].type == 0 && out[i].packets == 0) {
			out[i] = *st;
			break;
		}
	return 0;
}

static int sess_cb(void *ctx, const struct d4_session_info *si)
{
	uint64_t *n = ctx;
	ck_assert_uint_gt(si->session, n[1]);
	n[1] = si->session;
	n[0]++;
	return 0;
}

/* Payloads of every length around the queue's streaming-copy threshold and
 * its 16-byte store width, read from every source misalignment, come back
 * byte for byte. */
static const uint32_t pc_sizes[] = {0,	  1,	15,   63,   64,	  65,	4031,  4095,  4096,
				    4097, 4111, 4112, 4159, 4160, 4161, 65536, 65549, 100003};
#define PC_NSIZES (sizeof(pc_sizes) / sizeof(pc_sizes[0]))
#define PC_NOFF	  17u

struct pc {
	uint64_t n;
	int bad;
};

static uint8_t pc_byte(uint64_t idx, size_t i)
{
	return (uint8_t)((idx * 131u + i * 7u + (i >> 8)) ^ 0x5a);
}

static int pc_cb(void *ctx, const struct d4_frame_rec *r, const uint8_t *payload)
{
	struct pc *pc = ctx;
	uint64_t idx = r->hdr_ts - 1700000000u;
	if (idx != pc->n || r->size != pc_sizes[idx / PC_NOFF])
		pc->bad++;
	else
		for (size_t i = 0; i < r->size; i++)
			if (payload[i] != pc_byte(idx, i)) {
				pc->bad++;
				break;
			}
	pc->n++;
	return 0;
}

START_TEST(test_writer_payload_copy)
{
	struct d4_store_opts o = base_opts();
	o.commit_ms = 20;
	struct d4_store *s = open_store(&o);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	uint8_t uuid[16];
	mkuuid(uuid, 7);
	uint64_t sess = d4_store_session_id_new(s);
	struct d4_session_open op = {.session = sess, .type = 1, .when = 86400u * 20000};
	memcpy(op.uuid, uuid, 16);
	v4(op.addr, 127, 0, 0, 1);
	ck_assert_int_eq(d4_store_post_session_open(s, &op), 0);
	uint64_t idx = 0;
	for (size_t z = 0; z < PC_NSIZES; z++)
		for (unsigned off = 0; off < PC_NOFF; off++, idx++) {
			uint32_t sz = pc_sizes[z];
			for (size_t i = 0; i < sz; i++)
				pbuf[off + i] = pc_byte(idx, i);
			struct d4_frame_rec r = mkrec(sess, uuid, 1, idx, sz, 86400000ull * 20000 + idx);
			ck_assert_int_eq(post_frame_retry(s, &r, pbuf + off), 0);
		}
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	struct pc pc = {0, 0};
	ck_assert_int_eq(d4_store_frame_foreach(s, 0, sess, pc_cb, &pc), 0);
	ck_assert_uint_eq(pc.n, idx);
	ck_assert_int_eq(pc.bad, 0);
	d4_store_writer_stop(s);
	d4_store_close(s);
}
END_TEST

START_TEST(test_writer_roundtrip)
{
	struct d4_store_opts o = base_opts();
	o.commit_ms = 20;
	struct d4_store *s = open_store(&o);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	ck_assert_int_ge(d4_store_writer_wakeup_fd(s), 0);
	uint8_t uuids[3][16];
	for (unsigned i = 0; i < 3; i++) {
		struct d4_sensor sn;
		memset(&sn, 0, sizeof(sn));
		mkuuid(uuids[i], 100 + i);
		memcpy(sn.uuid, uuids[i], 16);
		sn.status = D4_SENSOR_APPROVED;
		if (i < 2) /* the third sensor is unknown: frames stored, no sensor counters */
			ck_assert_int_eq(d4_store_sensor_put(s, &sn), 0);
	}
	struct rt rt;
	memset(&rt, 0, sizeof(rt));
	for (int k = 0; k < NSESS; k++) {
		rt.sess[k] = d4_store_session_id_new(s);
		ck_assert_uint_ne(rt.sess[k], 0);
		struct d4_session_open op = {.session = rt.sess[k], .type = k == 5 ? 2 : 1, .when = 86400u * 20000};
		memcpy(op.uuid, uuids[sens_of(k)], 16);
		v4(op.addr, 127, 0, 0, (unsigned)k + 1);
		op.port = (uint16_t)(40000 + k);
		ck_assert_int_eq(d4_store_post_session_open(s, &op), 0);
		if (k == 5) {
			struct d4_session_meta m = {.session = rt.sess[k], .tlp = 4};
			strcpy(m.ext_type, "ja3-jl");
			ck_assert_int_eq(d4_store_post_session_meta(s, &m), 0);
		}
	}
	uint64_t bytes_sess[NSESS] = {0}, frames_sess[NSESS] = {0}, bytes_total = 0;
	for (uint64_t idx = 0; idx < NFRAMES; idx++) {
		int k = frame_sess(idx);
		uint32_t sz = psize_of(idx);
		struct d4_frame_rec r =
		    mkrec(rt.sess[k], uuids[sens_of(k)], k == 5 ? 254 : 1, idx, sz, 86400000ull * 20000 + idx);
		fill_payload(rt.sess[k], idx, sz);
		ck_assert_int_eq(post_frame_retry(s, &r, pbuf), 0);
		bytes_sess[k] += sz;
		frames_sess[k]++;
		bytes_total += sz;
		if (idx == NFRAMES / 2)
			ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	}
	ck_assert_int_eq(d4_store_post_session_close(s, rt.sess[0], 86400u * 20000 + 50, "eof"), 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);

	struct d4_store_status st;
	d4_store_status_get(s, &st);
	ck_assert_int_eq(st.paused, 0);
	ck_assert_uint_eq(st.committed_frames, NFRAMES);
	ck_assert_uint_eq(st.committed_bytes, bytes_total);
	ck_assert_uint_ge(st.commits, 2);
	ck_assert_uint_eq(st.queued_bytes, 0);
	ck_assert_uint_gt(st.map_used, 0);

	/* every frame, in order, with payload and metadata */
	ck_assert_int_eq(d4_store_frame_foreach(s, 0, 0, rt_cb, &rt), 0);
	ck_assert_uint_eq(rt.count, NFRAMES);
	uint64_t last_seq = rt.last_seq;
	/* per session */
	uint64_t total = 0;
	for (int k = 0; k < NSESS; k++) {
		memset(rt.next_idx, 0, sizeof(rt.next_idx));
		rt.count = 0;
		rt.last_seq = 0;
		rt.only = rt.sess[k];
		ck_assert_int_eq(d4_store_frame_foreach(s, 0, rt.sess[k], rt_cb, &rt), 0);
		ck_assert_uint_eq(rt.count, frames_sess[k]);
		total += rt.count;
		struct d4_session_info si;
		ck_assert_int_eq(d4_store_session_get(s, rt.sess[k], &si), 0);
		ck_assert_uint_eq(si.frames, rt.count);
		ck_assert_uint_eq(si.bytes, bytes_sess[k]);
		ck_assert_int_eq(si.port, 40000 + k);
		ck_assert_uint_eq(si.started, 86400u * 20000);
		if (k == 0) {
			ck_assert_str_eq(si.close_reason, "eof");
			ck_assert_uint_eq(si.ended, 86400u * 20000 + 50);
		} else {
			ck_assert_uint_eq(si.ended, 0);
		}
		if (k == 5) {
			ck_assert_str_eq(si.ext_type, "ja3-jl");
			ck_assert_int_eq(si.type, 2);
		}
	}
	ck_assert_uint_eq(total, NFRAMES);
	/* from_seq in the middle of a chunk */
	memset(&rt.next_idx, 0, sizeof(rt.next_idx));
	rt.count = 0;
	rt.only = 0;
	rt.last_seq = last_seq - 100;
	ck_assert_int_eq(d4_store_frame_foreach(s, last_seq - 99, 0, rt_cb, &rt), 0);
	ck_assert_uint_eq(rt.count, 100);
	/* past the end */
	rt.count = 0;
	ck_assert_int_eq(d4_store_frame_foreach(s, last_seq + 1, 0, rt_cb, &rt), 0);
	ck_assert_uint_eq(rt.count, 0);
	/* per session from a seq */
	memset(&rt.next_idx, 0, sizeof(rt.next_idx));
	rt.count = 0;
	rt.only = rt.sess[2];
	rt.last_seq = last_seq / 2;
	ck_assert_int_eq(d4_store_frame_foreach(s, last_seq / 2 + 1, rt.sess[2], rt_cb, &rt), 0);
	ck_assert_uint_gt(rt.count, 0);
	ck_assert_uint_lt(rt.count, frames_sess[2]);

	/* counters */
	struct d4_totals t;
	ck_assert_int_eq(d4_store_totals(s, &t), 0);
	ck_assert_uint_eq(t.frames, NFRAMES);
	ck_assert_uint_eq(t.bytes, bytes_total);
	ck_assert_uint_eq(t.sessions, NSESS);
	struct d4_sensor sn;
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(d4_store_sensor_get(s, uuids[i], &sn), 0);
		uint64_t pk = 0, by = 0;
		for (int k = 0; k < NSESS; k++) {
			if (sens_of(k) != i)
				continue;
			pk += frames_sess[k];
			by += bytes_sess[k];
		}
		ck_assert_uint_eq(sn.packets, pk);
		ck_assert_uint_eq(sn.bytes, by);
		ck_assert_uint_eq(sn.first_seen, 86400u * 20000);
		ck_assert_uint_eq(sn.last_seen, 86400u * 20000 + (NFRAMES - 1) / 1000);
	}
	ck_assert_int_eq(d4_store_sensor_get(s, uuids[2], &sn), D4_ENOTFOUND);
	/* per-type stats: sensor 1 has sessions 1 (type 1) and 4 (type 1) */
	struct d4_sensor_type_stat ts[4];
	memset(ts, 0, sizeof(ts));
	ck_assert_int_eq(d4_store_sensor_types(s, uuids[2], stype_cb, ts), 0);
	ck_assert_uint_eq(ts[0].packets, 0); /* unknown sensor: none */
	memset(ts, 0, sizeof(ts));
	ck_assert_int_eq(d4_store_sensor_types(s, uuids[1], stype_cb, ts), 0);
	ck_assert_int_eq(ts[0].type, 1);
	ck_assert_str_eq(ts[0].ext_type, "");
	ck_assert_int_eq(d4_store_sensor_get(s, uuids[1], &sn), 0);
	ck_assert_uint_eq(ts[0].packets, frames_sess[1] + frames_sess[4]);
	ck_assert_uint_eq(ts[0].bytes, bytes_sess[1] + bytes_sess[4]);
	ck_assert_int_eq(ts[1].type, 2); /* session 5 opened with type 2 */
	ck_assert_uint_eq(ts[1].packets, 0);
	ck_assert_int_eq(ts[2].type, 254);
	ck_assert_str_eq(ts[2].ext_type, "ja3-jl");
	struct d4_session_info si5;
	d4_store_session_get(s, rt.sess[5], &si5);
	ck_assert_uint_eq(ts[2].packets, si5.frames);
	ck_assert_uint_eq(ts[0].packets + ts[2].packets, sn.packets);
	/* daily stats: all frames on day 20000 */
	uint64_t acc[4] = {0};
	ck_assert_int_eq(d4_store_daily_foreach(s, 20000, 20000, NULL, daily_cb, acc), 0);
	ck_assert_uint_eq(acc[0], NFRAMES);
	ck_assert_uint_eq(acc[1], bytes_total);
	memset(acc, 0, sizeof(acc));
	ck_assert_int_eq(d4_store_daily_foreach(s, 19000, 19999, NULL, daily_cb, acc), 0);
	ck_assert_uint_eq(acc[3], 0);
	memset(acc, 0, sizeof(acc));
	ck_assert_int_eq(d4_store_daily_foreach(s, 0, 30000, uuids[2], daily_cb, acc), 0);
	ck_assert_uint_eq(acc[0], frames_sess[2]); /* only the unknown sensor's rows */
	ck_assert_uint_eq(acc[1], bytes_sess[2]);
	/* sessions */
	uint64_t sc[2] = {0, 0};
	ck_assert_int_eq(d4_store_session_foreach(s, NULL, sess_cb, sc), 0);
	ck_assert_uint_eq(sc[0], NSESS);
	sc[0] = sc[1] = 0;
	ck_assert_int_eq(d4_store_session_foreach(s, uuids[0], sess_cb, sc), 0);
	ck_assert_uint_eq(sc[0], 2);
	d4_store_close(s);

	/* reopen keeps everything */
	s = open_store(&o);
	memset(&rt.next_idx, 0, sizeof(rt.next_idx));
	rt.count = 0;
	rt.only = 0;
	rt.last_seq = 0;
	ck_assert_int_eq(d4_store_frame_foreach(s, 0, 0, rt_cb, &rt), 0);
	ck_assert_uint_eq(rt.count, NFRAMES);
	ck_assert_int_eq(d4_store_totals(s, &t), 0);
	ck_assert_uint_eq(t.frames, NFRAMES);
	/* and new frames continue the seq numbering */
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	uint64_t xidx = 6 * NFRAMES; /* maps to session slot 0 */
	struct d4_frame_rec r = mkrec(rt.sess[0], uuids[0], 1, xidx, psize_of(xidx), 86400000ull * 20000 + xidx);
	fill_payload(rt.sess[0], xidx, psize_of(xidx));
	ck_assert_int_eq(d4_store_post_frame(s, &r, pbuf), 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	rt.count = 0;
	rt.last_seq = last_seq;
	memset(&rt.next_idx, 0, sizeof(rt.next_idx));
	ck_assert_int_eq(d4_store_frame_foreach(s, last_seq + 1, 0, rt_cb, &rt), 0);
	ck_assert_uint_eq(rt.count, 1);
	ck_assert_uint_eq(rt.last_seq, last_seq + 1);
	d4_store_writer_stop(s);
	d4_store_writer_stop(s); /* idempotent */
	ck_assert_int_eq(d4_store_post_frame(s, &r, pbuf), D4_ECLOSED);
	d4_store_close(s);
}
END_TEST

/* The ingest watch: per (address, claimed uuid) counters in memory, bounded,
 * newest first, the least recently seen entry evicted when full. */
START_TEST(test_watch)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = NULL;
	ck_assert_int_eq(d4_store_open(&o, &s), 0);
	ck_assert_str_eq(d4_store_watch_reason_name(D4_REJ_HMAC), "hmac-mismatch");
	ck_assert_str_eq(d4_store_watch_reason_name(D4_WATCH_ADDRESS_LIMIT), "address-limit");
	ck_assert_str_eq(d4_store_watch_reason_name(D4_WATCH_MAX_CONNECTIONS), "max-connections");
	ck_assert_str_eq(d4_store_watch_reason_name(D4_WATCH_HANDSHAKE_TIMEOUT), "handshake-timeout");
	ck_assert_str_eq(d4_store_watch_reason_name(D4_WATCH_DISPLACED), "displaced");
	ck_assert_ptr_null(d4_store_watch_reason_name(D4_WATCH_COUNT));

	struct d4_watch_ev ev;
	memset(&ev, 0, sizeof(ev));
	ev.addr[10] = ev.addr[11] = 0xff;
	ev.addr[12] = 127;
	ev.addr[15] = 2;
	ev.has_uuid = 1;
	mkuuid(ev.uuid, 9);
	ev.reason = D4_REJ_HMAC;
	ev.when = 100;
	strcpy(ev.detail, "HMAC does not match");
	d4_store_watch_note(s, &ev);
	d4_store_watch_note(s, &ev);
	ev.has_uuid = 0;
	ev.reason = D4_WATCH_ADDRESS_LIMIT;
	ev.when = 101;
	d4_store_watch_note(s, &ev);
	ev.reason = D4_WATCH_COUNT; /* out of range: ignored */
	d4_store_watch_note(s, &ev);

	struct d4_watch_ingest wi = {.running = 1, .unverified = 3, .max_unverified_per_address = 4};
	d4_store_watch_ingest_set(s, &wi);
	struct d4_watch_entry *e = calloc(D4_WATCH_MAX, sizeof(*e));
	ck_assert_ptr_nonnull(e);
	struct d4_watch_totals t;
	size_t n = 0;
	ck_assert_int_eq(d4_store_watch_get(s, e, D4_WATCH_MAX, &n, &t), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(e[0].has_uuid, 0); /* newest first */
	ck_assert_uint_eq(e[0].count[D4_WATCH_ADDRESS_LIMIT], 1);
	ck_assert_int_eq(e[1].has_uuid, 1);
	ck_assert_uint_eq(e[1].count[D4_REJ_HMAC], 2);
	ck_assert_uint_eq(e[1].total, 2);
	ck_assert_uint_eq(e[1].first_at, 100);
	ck_assert_str_eq(e[1].last_detail, "HMAC does not match");
	ck_assert_uint_eq(t.count[D4_REJ_HMAC], 2);
	ck_assert_uint_eq(t.count[D4_WATCH_ADDRESS_LIMIT], 1);
	ck_assert_uint_eq(t.ingest.unverified, 3);
	ck_assert_uint_eq(t.ingest.max_unverified_per_address, 4);

	/* full: the least recently seen entry goes first */
	ev.reason = D4_REJ_HEADER_TIMEOUT;
	for (unsigned i = 0; i < D4_WATCH_MAX; i++) {
		ev.addr[13] = (uint8_t)(i >> 8);
		ev.addr[14] = (uint8_t)i;
		ev.addr[15] = 7;
		ev.when = 200 + i;
		d4_store_watch_note(s, &ev);
	}
	ck_assert_int_eq(d4_store_watch_get(s, e, D4_WATCH_MAX, &n, &t), 0);
	ck_assert_uint_eq(n, D4_WATCH_MAX);
	ck_assert_uint_eq(t.evicted, 2);
	ck_assert_uint_eq(t.count[D4_REJ_HEADER_TIMEOUT], D4_WATCH_MAX);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_ge(e[i].last_at, 200);
	ck_assert_int_eq(d4_store_watch_get(s, e, 3, &n, &t), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(e[0].last_at, 200 + D4_WATCH_MAX - 1);
	free(e);
	d4_store_close(s);
}
END_TEST

START_TEST(test_rejects)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	struct d4_sensor sn;
	memset(&sn, 0, sizeof(sn));
	mkuuid(sn.uuid, 7);
	ck_assert_int_eq(d4_store_sensor_put(s, &sn), 0);
	struct d4_reject_ev ev;
	memset(&ev, 0, sizeof(ev));
	ev.when = 86400u * 20001 + 5;
	ev.reason = D4_REJ_TLS; /* no uuid */
	strcpy(ev.detail, "handshake failure");
	d4_store_post_reject(s, &ev);
	d4_store_post_reject(s, &ev);
	ev.has_uuid = 1;
	memcpy(ev.uuid, sn.uuid, 16);
	ev.reason = D4_REJ_NOT_APPROVED;
	strcpy(ev.detail, "pending");
	d4_store_post_reject(s, &ev);
	mkuuid(ev.uuid, 8); /* unknown sensor */
	ev.reason = D4_REJ_UNKNOWN_SENSOR;
	d4_store_post_reject(s, &ev);
	ev.reason = D4_REJ_COUNT; /* out of range: ignored */
	d4_store_post_reject(s, &ev);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	struct d4_totals t;
	ck_assert_int_eq(d4_store_totals(s, &t), 0);
	ck_assert_uint_eq(t.rejects[D4_REJ_TLS], 2);
	ck_assert_uint_eq(t.rejects[D4_REJ_NOT_APPROVED], 1);
	ck_assert_uint_eq(t.rejects[D4_REJ_UNKNOWN_SENSOR], 1);
	struct d4_sensor got;
	ck_assert_int_eq(d4_store_sensor_get(s, sn.uuid, &got), 0);
	ck_assert_uint_eq(got.rejects[D4_REJ_NOT_APPROVED], 1);
	ck_assert_str_eq(got.last_error, "not-approved: pending");
	ck_assert_uint_eq(got.last_error_at, 86400u * 20001 + 5);
	uint64_t acc[4] = {0};
	ck_assert_int_eq(d4_store_daily_foreach(s, 20001, 20001, NULL, daily_cb, acc), 0);
	/* events without a sensor identity are in the totals only: no daily
	 * row is charged to a made-up (all-zero) sensor */
	ck_assert_uint_eq(acc[2], 2);
	ck_assert_uint_eq(acc[3], 2); /* rows: sensor 7, sensor 8 */
	d4_store_close(s);
}
END_TEST

START_TEST(test_queue_full)
{
	struct d4_store_opts o = base_opts();
	o.queue_bytes = 512 * 1024;
	o.commit_ms = 300;
	o.commit_bytes = 64u << 20;
	struct d4_store *s = open_store(&o);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	int efd = d4_store_writer_wakeup_fd(s);
	uint8_t u[16];
	mkuuid(u, 1);
	uint64_t sess = d4_store_session_id_new(s);
	uint64_t idx = 0, posted = 0;
	int rc = 0;
	for (; idx < 100; idx++) {
		struct d4_frame_rec r = mkrec(sess, u, 1, idx, 65536, 1000);
		fill_payload(sess, idx, 65536);
		rc = d4_store_post_frame(s, &r, pbuf);
		if (rc)
			break;
		posted++;
	}
	ck_assert_int_eq(rc, D4_EAGAIN);
	ck_assert_uint_ge(posted, 6);
	ck_assert_uint_le(posted, 8);
	struct d4_reject_ev ev = {.reason = D4_REJ_BACKLOG, .when = 1};
	d4_store_post_reject(s, &ev); /* never refused: pending counter */
	d4_store_post_reject(s, &ev);
	/* more distinct (uuid, reason) pairs than the pending table holds */
	struct d4_reject_ev ev2 = {.reason = D4_REJ_HMAC, .when = 1, .has_uuid = 1};
	for (unsigned i = 0; i < 100; i++) {
		mkuuid(ev2.uuid, 1000 + i);
		d4_store_post_reject(s, &ev2);
	}
	struct pollfd pfd = {.fd = efd, .events = POLLIN};
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	uint64_t v;
	ck_assert_int_eq(read(efd, &v, sizeof(v)), sizeof(v));
	/* room again: the refused frame goes through now */
	struct d4_frame_rec r = mkrec(sess, u, 1, idx, 65536, 1000);
	fill_payload(sess, idx, 65536);
	ck_assert_int_eq(d4_store_post_frame(s, &r, pbuf), 0);
	posted++;
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	struct d4_totals t;
	ck_assert_int_eq(d4_store_totals(s, &t), 0);
	ck_assert_uint_eq(t.frames, posted);
	ck_assert_uint_eq(t.rejects[D4_REJ_BACKLOG], 2);
	ck_assert_uint_eq(t.rejects[D4_REJ_HMAC], 100);
	d4_store_close(s);
}
END_TEST

/* ---- the frame log and the page cache (store.frame_cache) ---- */
/* Bytes of path in the page cache (mincore over a mapping never touched). */
static uint64_t file_resident(const char *path)
{
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	long ps = sysconf(_SC_PAGESIZE);
	size_t n = ((size_t)st.st_size + (size_t)ps - 1) / (size_t)ps;
	uint64_t res = 0;
	if (n) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
		ck_assert_ptr_ne(m, MAP_FAILED);
		unsigned char *vec = malloc(n);
		ck_assert_ptr_nonnull(vec);
		ck_assert_int_eq(mincore(m, (size_t)st.st_size, vec), 0);
		for (size_t i = 0; i < n; i++)
			res += (vec[i] & 1) ? (uint64_t)ps : 0;
		free(vec);
		munmap(m, (size_t)st.st_size);
	}
	close(fd);
	return res;
}

/* Whether the filesystem of tmpdir drops clean pages on advice (tmpfs
 * does not: its pages are the data). */
static int fadvise_drops(void)
{
	char p[400];
	snprintf(p, sizeof(p), "%s/probe", tmpdir);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	memset(pbuf, 0x5a, sizeof(pbuf));
	ck_assert_int_eq(write(fd, pbuf, sizeof(pbuf)), (ssize_t)sizeof(pbuf));
	ck_assert_int_eq(fdatasync(fd), 0);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	int drops = file_resident(p) < sizeof(pbuf) / 2;
	unlink(p);
	return drops;
}

struct fc_check {
	uint64_t sess, n;
	int bad;
};
static int fc_cb(void *ctx, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	struct fc_check *k = ctx;
	if (rec->session != k->sess || rec->size != 65536 || !check_payload(k->sess, k->n, payload, rec->size))
		k->bad++;
	k->n++;
	return 0;
}

/* 16 MiB of 64 KiB frames in durable commits of 1 MiB; returns the bytes of
 * the data file left in the page cache, after checking every frame. */
static uint64_t frame_cache_run(uint64_t frame_cache)
{
	struct d4_store_opts o = base_opts();
	o.no_sync = 0;
	o.commit_ms = 10000; /* commits at 1 MiB and at each sync only: the same in every build */
	o.commit_bytes = 1u << 20;
	o.frame_cache = frame_cache;
	struct d4_store *s = open_store(&o);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	uint8_t u[16];
	mkuuid(u, 1);
	uint64_t sess = d4_store_session_id_new(s);
	for (uint64_t idx = 0; idx < 256; idx++) {
		struct d4_frame_rec r = mkrec(sess, u, 1, idx, 65536, 1000 + idx);
		fill_payload(sess, idx, 65536);
		ck_assert_int_eq(post_frame_retry(s, &r, pbuf), 0);
		if (idx % 16 == 15)
			ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	}
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	char data[400];
	snprintf(data, sizeof(data), "%s/data.mdb", storedir);
	uint64_t res = file_resident(data);
	/* dropped pages read back from disk, intact */
	struct fc_check k = {sess, 0, 0};
	ck_assert_int_eq(d4_store_frame_foreach(s, 0, 0, fc_cb, &k), 0);
	ck_assert_uint_eq(k.n, 256);
	ck_assert_int_eq(k.bad, 0);
	d4_store_close(s);
	nftw(storedir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return res;
}

START_TEST(test_frame_cache)
{
	if (!fadvise_drops()) {
		fprintf(stderr, "test_frame_cache: %s keeps advised pages (tmpfs?): page cache not checked\n", tmpdir);
		frame_cache_run(1u << 20);
		return;
	}
	/* the kernel's own caching keeps the whole log: the check below can fail */
	uint64_t all = frame_cache_run(UINT64_MAX);
	ck_assert_msg(all >= (14u << 20), "control: %llu bytes cached", (unsigned long long)all);
	/* 1 MiB of the newest chunks kept; the tree pages and meta are small */
	uint64_t kept = frame_cache_run(1u << 20);
	fprintf(stderr, "test_frame_cache: %llu bytes cached with the kernel's caching, %llu with frame_cache 1M\n",
		(unsigned long long)all, (unsigned long long)kept);
	ck_assert_msg(kept <= (4u << 20), "frame_cache 1M: %llu bytes of the store still cached",
		      (unsigned long long)kept);
}
END_TEST

/* ---- admin writes racing the writer thread ---- */
struct race {
	struct d4_store *s;
	uint8_t uuid[16];
	uint64_t sess;
	unsigned n;
};
static void *race_poster(void *arg)
{
	struct race *ra = arg;
	static uint8_t small[64];
	for (unsigned i = 0; i < ra->n; i++) {
		struct d4_frame_rec r = mkrec(ra->sess, ra->uuid, 1, i, sizeof(small), 1000);
		if (post_frame_retry(ra->s, &r, small))
			return (void *)1;
		if (i % 500 == 0)
			usleep(1000);
	}
	return NULL;
}

START_TEST(test_admin_race)
{
	struct d4_store_opts o = base_opts();
	o.commit_ms = 1;
	struct d4_store *s = open_store(&o);
	struct race ra = {.s = s, .n = 20000};
	mkuuid(ra.uuid, 42);
	struct d4_sensor sn;
	memset(&sn, 0, sizeof(sn));
	memcpy(sn.uuid, ra.uuid, 16);
	sn.status = D4_SENSOR_APPROVED;
	ck_assert_int_eq(d4_store_sensor_put(s, &sn), 0);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	ra.sess = d4_store_session_id_new(s);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, race_poster, &ra), 0);
	for (unsigned i = 0; i < 200; i++) {
		snprintf(sn.description, sizeof(sn.description), "rev %u", i);
		ck_assert_int_eq(d4_store_sensor_put(s, &sn), 0);
		struct d4_sensor got;
		ck_assert_int_eq(d4_store_sensor_get(s, ra.uuid, &got), 0);
		ck_assert_str_eq(got.description, sn.description);
	}
	void *ret;
	pthread_join(th, &ret);
	ck_assert_ptr_null(ret);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	struct d4_sensor got;
	ck_assert_int_eq(d4_store_sensor_get(s, ra.uuid, &got), 0);
	ck_assert_str_eq(got.description, "rev 199"); /* no admin write lost */
	ck_assert_uint_eq(got.packets, ra.n);	      /* no counter lost */
	ck_assert_uint_eq(got.bytes, ra.n * 64ull);
	d4_store_close(s);
}
END_TEST

/* ---- map full ---- */
struct cnt {
	uint64_t n, first_idx, last_idx, session;
	int bad;
};
static int cnt_cb(void *ctx, const struct d4_frame_rec *r, const uint8_t *payload)
{
	struct cnt *c = ctx;
	uint64_t idx = r->hdr_ts - 1700000000u;
	if (c->n == 0)
		c->first_idx = idx;
	else if (idx != c->last_idx + 1)
		c->bad++;
	c->last_idx = idx;
	if (!check_payload(r->session, idx, payload, r->size))
		c->bad++;
	c->n++;
	return 0;
}

/* Posts 8 KiB frames until the writer pauses; returns frames posted. */
static uint64_t fill_until_paused(struct d4_store *s, uint64_t sess, const uint8_t u[16], uint64_t *idx)
{
	struct d4_store_status st;
	for (int round = 0; round < 2000; round++) {
		for (int i = 0; i < 8; i++) {
			struct d4_frame_rec r = mkrec(sess, u, 1, *idx, 8192, d4_now_ms());
			fill_payload(sess, *idx, 8192);
			int rc = d4_store_post_frame(s, &r, pbuf);
			if (rc == D4_EAGAIN)
				break;
			ck_assert_int_eq(rc, 0);
			(*idx)++;
		}
		int rc = d4_store_writer_sync(s, 5000);
		if (rc == D4_EFULL) {
			d4_store_status_get(s, &st);
			ck_assert_int_eq(st.paused, 1);
			return *idx;
		}
		ck_assert_int_eq(rc, 0);
	}
	ck_abort_msg("map never filled");
	return 0;
}

START_TEST(test_map_full)
{
	struct d4_store_opts o = base_opts();
	o.map_size = 1u << 20;
	struct d4_store *s = open_store(&o);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	uint8_t u[16];
	mkuuid(u, 1);
	uint64_t sess = d4_store_session_id_new(s), idx = 0;
	fill_until_paused(s, sess, u, &idx);
	struct d4_store_status st;
	d4_store_status_get(s, &st);
	ck_assert_msg(strstr(st.pause_reason, "storage map full (") != NULL, "reason: %s", st.pause_reason);
	ck_assert_uint_eq(st.map_size, 1u << 20);
	/* while paused: frames refused, other posts still fine */
	struct d4_frame_rec r = mkrec(sess, u, 1, idx, 10, d4_now_ms());
	ck_assert_int_eq(d4_store_post_frame(s, &r, pbuf), D4_EAGAIN);
	struct d4_reject_ev ev = {.reason = D4_REJ_HMAC, .when = 1};
	d4_store_post_reject(s, &ev);
	struct cnt c0;
	memset(&c0, 0, sizeof(c0));
	ck_assert_int_eq(d4_store_frame_foreach(s, 0, 0, cnt_cb, &c0), 0);
	ck_assert_int_eq(c0.bad, 0);
	ck_assert_uint_gt(c0.n, 0);
	ck_assert_uint_lt(c0.n, idx); /* the pending batch is not in */

	/* make room by enabling retention: the writer resumes by itself */
	d4_store_retention_set(s, 0, 300 * 1024);
	int resumed = 0;
	for (int i = 0; i < 100 && !resumed; i++) {
		usleep(100000);
		d4_store_status_get(s, &st);
		resumed = !st.paused;
	}
	ck_assert_msg(resumed, "still paused: %s", st.pause_reason);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	struct cnt c1;
	memset(&c1, 0, sizeof(c1));
	ck_assert_int_eq(d4_store_frame_foreach(s, 0, 0, cnt_cb, &c1), 0);
	ck_assert_int_eq(c1.bad, 0);
	ck_assert_uint_eq(c1.last_idx, idx - 1); /* the kept batch got committed */
	ck_assert_uint_gt(c1.first_idx, 0);	 /* oldest dropped */
	struct d4_totals t;
	ck_assert_int_eq(d4_store_totals(s, &t), 0);
	ck_assert_uint_eq(t.frames, idx);
	ck_assert_uint_eq(t.rejects[D4_REJ_HMAC], 1);
	/* and it keeps accepting */
	r = mkrec(sess, u, 1, idx, 10, d4_now_ms());
	fill_payload(sess, idx, 10);
	ck_assert_int_eq(d4_store_post_frame(s, &r, pbuf), 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	d4_store_close(s);
}
END_TEST

/* One batch larger than all the free map space (issue: "storage map full"
 * that never cleared, the whole queue being retried as one transaction):
 * the writer commits what fits, waits for space for the rest, and resumes
 * when retention makes room; every frame is stored exactly once, in order. */
START_TEST(test_map_full_big_batch)
{
	struct d4_store_opts o = base_opts();
	o.map_size = 1u << 20;
	o.commit_ms = 600000; /* one batch: only the sync below swaps it in */
	struct d4_store *s = open_store(&o);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	uint8_t u[16];
	mkuuid(u, 1);
	uint64_t sess = d4_store_session_id_new(s);
	const uint64_t n = 200; /* 200 x 8 KiB: well over the 1 MiB map */
	for (uint64_t i = 0; i < n; i++) {
		struct d4_frame_rec r = mkrec(sess, u, 1, i, 8192, d4_now_ms());
		fill_payload(sess, i, 8192);
		ck_assert_int_eq(d4_store_post_frame(s, &r, pbuf), 0);
	}
	struct d4_reject_ev ev = {.reason = D4_REJ_HMAC, .when = 1};
	d4_store_post_reject(s, &ev);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), D4_EFULL);
	struct d4_store_status st;
	d4_store_status_get(s, &st);
	ck_assert_int_eq(st.paused, 1);
	/* what fitted is committed: a prefix of the batch, nothing twice */
	ck_assert_uint_gt(st.committed_frames, 0);
	ck_assert_uint_lt(st.committed_frames, n);
	struct cnt c0;
	memset(&c0, 0, sizeof(c0));
	ck_assert_int_eq(d4_store_frame_foreach(s, 0, 0, cnt_cb, &c0), 0);
	ck_assert_int_eq(c0.bad, 0);
	ck_assert_uint_eq(c0.first_idx, 0);
	ck_assert_uint_eq(c0.n, st.committed_frames);
	/* other processes see the pause (d4hubctl status reads this file) */
	char why[D4_ERRTEXT_MAX];
	ck_assert_int_eq(store_pause_file_read(s, why, sizeof(why)), 1);
	ck_assert_str_eq(why, st.pause_reason);

	/* room appears (retention): the rest goes in, the pause clears */
	d4_store_retention_set(s, 0, 256 * 1024);
	int resumed = 0;
	for (int i = 0; i < 300 && !resumed; i++) {
		usleep(100000);
		d4_store_status_get(s, &st);
		resumed = !st.paused;
	}
	ck_assert_msg(resumed, "still paused: %s", st.pause_reason);
	ck_assert_int_eq(d4_store_writer_sync(s, 10000), 0);
	d4_store_status_get(s, &st);
	ck_assert_uint_eq(st.committed_frames, n);
	struct cnt c1;
	memset(&c1, 0, sizeof(c1));
	ck_assert_int_eq(d4_store_frame_foreach(s, 0, 0, cnt_cb, &c1), 0);
	ck_assert_int_eq(c1.bad, 0);
	ck_assert_uint_eq(c1.last_idx, n - 1);
	struct d4_totals t;
	ck_assert_int_eq(d4_store_totals(s, &t), 0);
	ck_assert_uint_eq(t.frames, n);
	ck_assert_uint_eq(t.bytes, n * 8192);
	ck_assert_uint_eq(t.rejects[D4_REJ_HMAC], 1);
	struct d4_session_info si;
	ck_assert_int_eq(d4_store_session_get(s, sess, &si), 0);
	ck_assert_uint_eq(si.frames, n);
	ck_assert_int_eq(store_pause_file_read(s, why, sizeof(why)), 0);
	d4_store_close(s);

	/* a state file left by a writer that died says nothing */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	char path[400];
	snprintf(path, sizeof(path), "%s/writer-paused", storedir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "%ld 1 storage map full (1 of 2 bytes used)\n", (long)pid);
	fclose(f);
	o.read_only = 1;
	s = open_store(&o);
	d4_store_status_get(s, &st);
	ck_assert_int_eq(st.paused, 0);
	d4_store_close(s);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "%ld 1 storage map full (1 of 2 bytes used)\n", (long)getpid());
	fclose(f);
	s = open_store(&o);
	d4_store_status_get(s, &st);
	ck_assert_int_eq(st.paused, 1);
	ck_assert_str_eq(st.pause_reason, "storage map full (1 of 2 bytes used)");
	d4_store_close(s);
}
END_TEST

START_TEST(test_map_full_reopen_bigger)
{
	struct d4_store_opts o = base_opts();
	o.map_size = 1u << 20;
	struct d4_store *s = open_store(&o);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	uint8_t u[16];
	mkuuid(u, 1);
	uint64_t sess = d4_store_session_id_new(s), idx = 0;
	fill_until_paused(s, sess, u, &idx);
	struct cnt c0;
	memset(&c0, 0, sizeof(c0));
	ck_assert_int_eq(d4_store_frame_foreach(s, 0, 0, cnt_cb, &c0), 0);
	d4_store_close(s); /* drops the uncommitted batch, logged */
	o.map_size = 8u << 20;
	s = open_store(&o);
	struct cnt c1;
	memset(&c1, 0, sizeof(c1));
	ck_assert_int_eq(d4_store_frame_foreach(s, 0, 0, cnt_cb, &c1), 0);
	ck_assert_int_eq(c1.bad, 0);
	ck_assert_uint_eq(c1.n, c0.n);
	ck_assert_uint_eq(c1.first_idx, 0);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	uint64_t idx2 = c1.last_idx + 1;
	for (int i = 0; i < 64; i++, idx2++) {
		struct d4_frame_rec r = mkrec(sess, u, 1, idx2, 8192, d4_now_ms());
		fill_payload(sess, idx2, 8192);
		ck_assert_int_eq(post_frame_retry(s, &r, pbuf), 0);
	}
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	struct d4_store_status st;
	d4_store_status_get(s, &st);
	ck_assert_int_eq(st.paused, 0);
	memset(&c1, 0, sizeof(c1));
	ck_assert_int_eq(d4_store_frame_foreach(s, 0, 0, cnt_cb, &c1), 0);
	ck_assert_int_eq(c1.bad, 0);
	ck_assert_uint_eq(c1.n, c0.n + 64);
	d4_store_close(s);
}
END_TEST

START_TEST(test_retention)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	uint8_t u[16];
	mkuuid(u, 1);
	uint64_t old_s = d4_store_session_id_new(s), new_s = d4_store_session_id_new(s);
	uint64_t now = d4_now_ms(), old_ms = now - 3 * 86400000ull;
	for (uint64_t i = 0; i < 300; i++) {
		struct d4_frame_rec r = mkrec(old_s, u, 1, i, 1000, old_ms + i);
		fill_payload(old_s, i, 1000);
		ck_assert_int_eq(post_frame_retry(s, &r, pbuf), 0);
	}
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	for (uint64_t i = 300; i < 500; i++) {
		struct d4_frame_rec r = mkrec(new_s, u, 1, i, 1000, now);
		fill_payload(new_s, i, 1000);
		ck_assert_int_eq(post_frame_retry(s, &r, pbuf), 0);
	}
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	/* nothing configured: nothing dropped */
	ck_assert_int_eq(d4_store_retention_run(s), 0);
	d4_store_retention_set(s, 86400, 0);
	ck_assert_int_eq(d4_store_retention_run(s), 300);
	ck_assert_int_eq(d4_store_retention_run(s), 0);
	struct cnt c;
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(d4_store_frame_foreach(s, 0, 0, cnt_cb, &c), 0);
	ck_assert_uint_eq(c.n, 200);
	ck_assert_uint_eq(c.first_idx, 300);
	ck_assert_int_eq(c.bad, 0);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(d4_store_frame_foreach(s, 0, old_s, cnt_cb, &c), 0);
	ck_assert_uint_eq(c.n, 0);

	/* by size: ~4 MiB of 16 KiB frames, keep under 1 MiB */
	uint64_t big_s = d4_store_session_id_new(s);
	for (uint64_t i = 500; i < 756; i++) {
		struct d4_frame_rec r = mkrec(big_s, u, 1, i, 16384, now);
		fill_payload(big_s, i, 16384);
		ck_assert_int_eq(post_frame_retry(s, &r, pbuf), 0);
		if (i % 32 == 0)
			ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	}
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	d4_store_retention_set(s, 0, 1u << 20);
	int dropped = d4_store_retention_run(s);
	ck_assert_int_gt(dropped, 200);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(d4_store_frame_foreach(s, 0, 0, cnt_cb, &c), 0);
	ck_assert_int_eq(c.bad, 0);
	ck_assert_uint_eq(c.last_idx, 755); /* the newest survive */
	ck_assert_uint_le(c.n * 16384, 1u << 20);
	ck_assert_uint_ge(c.n * 16384, 512u * 1024); /* not more than needed */
	d4_store_close(s);
}
END_TEST

START_TEST(test_session_ids)
{
	struct d4_store_opts o = base_opts();
	uint64_t seen[3000];
	unsigned n = 0;
	for (int round = 0; round < 3; round++) {
		struct d4_store *s = open_store(&o);
		unsigned k = round == 1 ? 1500 : 10; /* crosses a reserved block */
		for (unsigned i = 0; i < k; i++) {
			uint64_t id = d4_store_session_id_new(s);
			ck_assert_uint_ne(id, 0);
			for (unsigned j = 0; j < n; j++)
				ck_assert_uint_ne(seen[j], id);
			seen[n++] = id;
		}
		d4_store_close(s);
	}
}
END_TEST

/* ---- codec robustness ---- */
START_TEST(test_codec_corrupt)
{
	struct d4_sensor sn, out;
	memset(&sn, 0, sizeof(sn));
	mkuuid(sn.uuid, 1);
	sn.keylen = 10;
	strcpy(sn.description, "desc");
	sn.nlast_ips = 2;
	sn.rejects[D4_REJ_TLS] = 77;
	uint8_t buf[STORE_SENSOR_MAX];
	size_t n = store_enc_sensor(&sn, buf);
	ck_assert_int_eq(store_dec_sensor(buf, n, &out), 0);
	ck_assert_str_eq(out.description, "desc");
	ck_assert_uint_eq(out.rejects[D4_REJ_TLS], 77);
	for (size_t cut = 0; cut < n; cut++)
		ck_assert_int_eq(store_dec_sensor(buf, cut, &out), D4_ECORRUPT);
	uint8_t longer[STORE_SENSOR_MAX + 1];
	memcpy(longer, buf, n);
	longer[n] = 0;
	ck_assert_int_eq(store_dec_sensor(longer, n + 1, &out), D4_ECORRUPT);
	buf[0] = 9;
	ck_assert_int_eq(store_dec_sensor(buf, n, &out), D4_ECORRUPT);

	struct d4_session_info si, so;
	memset(&si, 0, sizeof(si));
	strcpy(si.close_reason, "eof");
	uint8_t sb[STORE_SESSION_MAX];
	n = store_enc_session(&si, sb);
	ck_assert_int_eq(store_dec_session(sb, n, 5, &so), 0);
	ck_assert_uint_eq(so.session, 5);
	for (size_t cut = 0; cut < n; cut++)
		ck_assert_int_eq(store_dec_session(sb, cut, 5, &so), D4_ECORRUPT);

	/* a chunk of two records, then every truncation */
	uint8_t chunk[STORE_CHUNK_HDR + 2 * STORE_FREC_HDR + 8];
	struct store_chunk_hdr h = {2, 9, 100, 1, 2};
	store_enc_chunk_hdr(&h, chunk);
	struct d4_frame_rec r;
	memset(&r, 0, sizeof(r));
	r.session = 9;
	r.seq = 100;
	r.size = 5;
	store_enc_frec(&r, chunk + STORE_CHUNK_HDR);
	memcpy(chunk + STORE_CHUNK_HDR + STORE_FREC_HDR, "hello", 5);
	r.seq = 101;
	r.size = 3;
	store_enc_frec(&r, chunk + STORE_CHUNK_HDR + STORE_FREC_HDR + 5);
	memcpy(chunk + STORE_CHUNK_HDR + 2 * STORE_FREC_HDR + 5, "abc", 3);
	struct cnt c;
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(store_chunk_walk(chunk, sizeof(chunk), 0, cnt_cb, &c) >= 0, 1);
	for (size_t cut = 0; cut < sizeof(chunk); cut++)
		ck_assert_int_eq(store_chunk_walk(chunk, cut, 0, cnt_cb, &c), D4_ECORRUPT);
	/* wrong seq inside */
	d4_put_u64be(chunk + STORE_CHUNK_HDR, 555);
	ck_assert_int_eq(store_chunk_walk(chunk, sizeof(chunk), 0, cnt_cb, &c), D4_ECORRUPT);
}
END_TEST

struct names {
	char buf[512];
	int n, stop_after;
};
static int user_names_cb(void *ctx, const struct d4_user *u)
{
	struct names *nm = ctx;
	char one[96];
	snprintf(one, sizeof(one), "%s:%d,", u->name, u->role);
	strcat(nm->buf, one);
	nm->n++;
	return nm->stop_after && nm->n >= nm->stop_after;
}

/* ---- users and API tokens ---- */
START_TEST(test_users)
{
	char longname[80];
	memset(longname, 'a', 63);
	longname[63] = '\0';
	ck_assert_int_eq(d4_store_user_name_valid("admin"), 1);
	ck_assert_int_eq(d4_store_user_name_valid("a"), 1);
	ck_assert_int_eq(d4_store_user_name_valid("Ops.team_1@example-org"), 1);
	ck_assert_int_eq(d4_store_user_name_valid(longname), 1);
	longname[63] = 'a';
	longname[64] = '\0';
	ck_assert_int_eq(d4_store_user_name_valid(longname), 0);
	const char *bad[] = {"", "a b", "a/b", "caf\xc3\xa9", "a:b", "tab\t", "semi;colon", "quote\"", NULL};
	for (int i = 0; bad[i]; i++)
		ck_assert_msg(d4_store_user_name_valid(bad[i]) == 0, "'%s' accepted", bad[i]);
	ck_assert_int_eq(d4_store_user_name_valid(NULL), 0);

	uint8_t r = 0;
	ck_assert_int_eq(d4_store_role_parse("admin", &r), 0);
	ck_assert_int_eq(r, D4_STORE_ROLE_ADMIN);
	ck_assert_int_eq(d4_store_role_parse("sensor_register", &r), 0);
	ck_assert_int_eq(r, D4_STORE_ROLE_SENSOR_REGISTER);
	ck_assert_int_eq(d4_store_role_parse("Admin", &r), D4_EINVAL);
	ck_assert_int_eq(d4_store_role_parse("root", &r), D4_EINVAL);
	ck_assert_str_eq(d4_store_role_name(D4_STORE_ROLE_USER), "user");
	ck_assert_str_eq(d4_store_role_name(0), "unknown");
	ck_assert_str_eq(d4_store_role_name(4), "unknown");

	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	struct d4_user u;
	ck_assert_int_eq(d4_store_user_get(s, "alice", &u), D4_ENOTFOUND);
	uint64_t e = d4_store_epoch(s);
	ck_assert_int_eq(d4_store_user_put(s, "alice", D4_STORE_ROLE_USER), 0);
	ck_assert_uint_eq(d4_store_epoch(s), e + 1);
	ck_assert_int_eq(d4_store_user_get(s, "alice", &u), 0);
	ck_assert_str_eq(u.name, "alice");
	ck_assert_int_eq(u.role, D4_STORE_ROLE_USER);
	uint64_t created = u.created;
	ck_assert_uint_ge(created, d4_now_s() - 5);
	/* role change keeps the creation time */
	sleep(1);
	ck_assert_int_eq(d4_store_user_put(s, "alice", D4_STORE_ROLE_ADMIN), 0);
	ck_assert_int_eq(d4_store_user_get(s, "alice", &u), 0);
	ck_assert_int_eq(u.role, D4_STORE_ROLE_ADMIN);
	ck_assert_uint_eq(u.created, created);
	/* bad input */
	ck_assert_int_eq(d4_store_user_put(s, "bob", 0), D4_EINVAL);
	ck_assert_int_eq(d4_store_user_put(s, "bob", 4), D4_EINVAL);
	ck_assert_int_eq(d4_store_user_put(s, "b b", D4_STORE_ROLE_USER), D4_EINVAL);
	ck_assert_int_eq(d4_store_user_put(s, longname, D4_STORE_ROLE_USER), D4_EINVAL);
	ck_assert_int_eq(d4_store_user_get(s, "b b", &u), D4_EINVAL);
	ck_assert_int_eq(d4_store_user_get(s, "bob", &u), D4_ENOTFOUND);
	e = d4_store_epoch(s);
	ck_assert_int_eq(d4_store_user_put(s, "zed", D4_STORE_ROLE_SENSOR_REGISTER), 0);
	ck_assert_int_eq(d4_store_user_put(s, "bob", D4_STORE_ROLE_USER), 0);
	ck_assert_uint_eq(d4_store_epoch(s), e + 2);
	struct names n;
	memset(&n, 0, sizeof(n));
	ck_assert_int_eq(d4_store_user_foreach(s, user_names_cb, &n), 0);
	ck_assert_str_eq(n.buf, "alice:3,bob:2,zed:1,");
	/* the callback can stop the walk */
	memset(&n, 0, sizeof(n));
	n.stop_after = 1;
	ck_assert_int_eq(d4_store_user_foreach(s, user_names_cb, &n), 0);
	ck_assert_str_eq(n.buf, "alice:3,");
	e = d4_store_epoch(s);
	ck_assert_int_eq(d4_store_user_del(s, "bob"), 0);
	ck_assert_uint_eq(d4_store_epoch(s), e + 1);
	ck_assert_int_eq(d4_store_user_get(s, "bob", &u), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_user_del(s, "bob"), D4_ENOTFOUND);
	ck_assert_uint_eq(d4_store_epoch(s), e + 1); /* a failed write does not bump */
	ck_assert_int_eq(d4_store_user_del(s, "b/b"), D4_EINVAL);
	memset(&n, 0, sizeof(n));
	ck_assert_int_eq(d4_store_user_foreach(s, user_names_cb, &n), 0);
	ck_assert_str_eq(n.buf, "alice:3,zed:1,");
	d4_store_close(s);
}
END_TEST

struct tok_list {
	char ids[16][D4_TOKEN_ID_HEX];
	char users[16][D4_USER_NAME_MAX];
	char labels[16][D4_TOKEN_LABEL_MAX];
	uint64_t last_used[16];
	int n;
};
static int tok_list_cb(void *ctx, const struct d4_token_info *t)
{
	struct tok_list *tl = ctx;
	ck_assert_int_lt(tl->n, 16);
	ck_assert_int_eq(strlen(t->id), 16);
	if (tl->n)
		ck_assert_str_gt(t->id, tl->ids[tl->n - 1]); /* id order */
	strcpy(tl->ids[tl->n], t->id);
	strcpy(tl->users[tl->n], t->user);
	strcpy(tl->labels[tl->n], t->label);
	tl->last_used[tl->n] = t->last_used;
	tl->n++;
	return 0;
}

static int tok_find(const struct tok_list *tl, const char *id)
{
	for (int i = 0; i < tl->n; i++)
		if (!strcmp(tl->ids[i], id))
			return i;
	return -1;
}

/* 1 if needle occurs in any key or value of any table of the store. */
static int store_contains(struct d4_store *s, const void *needle, size_t nlen)
{
	MDB_txn *txn;
	int found = 0;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	for (int d = 0; d < DBI_COUNT && !found; d++) {
		MDB_cursor *c;
		MDB_val k, v;
		ck_assert_int_eq(mdb_cursor_open(txn, s->dbi[d], &c), 0);
		for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && !found;
		     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
			found =
			    memmem(k.mv_data, k.mv_size, needle, nlen) || memmem(v.mv_data, v.mv_size, needle, nlen);
		mdb_cursor_close(c);
	}
	mdb_txn_abort(txn);
	return found;
}

static int token_text_ok(const char *t)
{
	if (strlen(t) != 47 || strncmp(t, "d4h_", 4) != 0)
		return 0;
	for (const char *p = t + 4; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_'))
			return 0;
	return 1;
}

START_TEST(test_tokens)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	char tok[D4_TOKEN_TEXT_MAX], tok2[D4_TOKEN_TEXT_MAX], id[D4_TOKEN_ID_HEX], id2[D4_TOKEN_ID_HEX];
	char idv[D4_TOKEN_ID_HEX];
	char user[D4_USER_NAME_MAX];
	uint8_t role = 0;

	/* no such user: nothing created, outputs emptied */
	memset(tok, 'x', sizeof(tok));
	memset(id, 'x', sizeof(id));
	ck_assert_int_eq(d4_store_token_create(s, "alice", "l", tok, id), D4_ENOTFOUND);
	ck_assert_str_eq(tok, "");
	ck_assert_str_eq(id, "");
	ck_assert_int_eq(d4_store_user_put(s, "alice", D4_STORE_ROLE_ADMIN), 0);
	ck_assert_int_eq(d4_store_user_put(s, "bob", D4_STORE_ROLE_USER), 0);
	/* bad labels */
	char longlabel[80];
	memset(longlabel, 'l', 64);
	longlabel[64] = '\0';
	ck_assert_int_eq(d4_store_token_create(s, "alice", longlabel, tok, id), D4_EINVAL);
	ck_assert_int_eq(d4_store_token_create(s, "alice", "new\nline", tok, id), D4_EINVAL);
	ck_assert_int_eq(d4_store_token_create(s, "a b", "", tok, id), D4_EINVAL);
	longlabel[63] = '\0';

	uint64_t e = d4_store_epoch(s);
	ck_assert_int_eq(d4_store_token_create(s, "alice", "laptop", tok, id), 0);
	ck_assert_uint_eq(d4_store_epoch(s), e + 1);
	ck_assert_msg(token_text_ok(tok), "bad token text '%s'", tok);
	ck_assert_int_eq(strlen(id), 16);
	ck_assert_int_eq(strspn(id, "0123456789abcdef"), 16);
	ck_assert_int_eq(d4_store_token_create(s, "alice", longlabel, tok2, id2), 0);
	ck_assert_msg(token_text_ok(tok2), "bad token text '%s'", tok2);
	ck_assert_str_ne(tok, tok2);
	ck_assert_str_ne(id, id2);
	char btok[D4_TOKEN_TEXT_MAX], bid[D4_TOKEN_ID_HEX];
	ck_assert_int_eq(d4_store_token_create(s, "bob", NULL, btok, bid), 0);

	/* verify */
	ck_assert_int_eq(d4_store_token_verify(s, tok, user, &role, idv), 0);
	ck_assert_str_eq(user, "alice");
	ck_assert_int_eq(role, D4_STORE_ROLE_ADMIN);
	ck_assert_str_eq(idv, id);
	ck_assert_int_eq(d4_store_token_verify(s, tok2, NULL, NULL, idv), 0);
	ck_assert_str_eq(idv, id2);
	ck_assert_int_eq(d4_store_token_verify(s, btok, user, &role, NULL), 0);
	ck_assert_str_eq(user, "bob");
	ck_assert_int_eq(role, D4_STORE_ROLE_USER);
	ck_assert_int_eq(d4_store_token_verify(s, btok, NULL, NULL, NULL), 0);
	/* wrong tokens: one character changed, truncated, extended, other prefix, garbage */
	char bad[D4_TOKEN_TEXT_MAX + 8];
	strcpy(bad, tok);
	bad[20] = bad[20] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(d4_store_token_verify(s, bad, user, &role, NULL), D4_ENOTFOUND);
	strcpy(bad, tok);
	bad[46] = '\0';
	ck_assert_int_eq(d4_store_token_verify(s, bad, user, &role, NULL), D4_ENOTFOUND);
	strcpy(bad, tok);
	strcat(bad, "A");
	ck_assert_int_eq(d4_store_token_verify(s, bad, user, &role, NULL), D4_ENOTFOUND);
	strcpy(bad, tok);
	bad[0] = 'D';
	ck_assert_int_eq(d4_store_token_verify(s, bad, user, &role, NULL), D4_ENOTFOUND);
	strcpy(bad, tok);
	bad[10] = '+'; /* not base64url */
	ck_assert_int_eq(d4_store_token_verify(s, bad, user, &role, NULL), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_token_verify(s, "", user, &role, NULL), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_token_verify(s, "Bearer x", user, &role, NULL), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_token_verify(s, NULL, user, &role, NULL), D4_EINVAL);

	/* only the hash is stored: the text (and its random part) is nowhere in
	 * the store, its SHA-256 is a key of the tokens table */
	ck_assert_int_eq(store_contains(s, tok, strlen(tok)), 0);
	ck_assert_int_eq(store_contains(s, tok + 4, strlen(tok) - 4), 0);
	ck_assert_int_eq(store_contains(s, btok + 4, strlen(btok) - 4), 0);
	uint8_t h[32];
	unsigned hl = 0;
	ck_assert_int_eq(EVP_Digest(tok, strlen(tok), h, &hl, EVP_sha256(), NULL), 1);
	ck_assert_int_eq(store_contains(s, h, sizeof(h)), 1);
	MDB_txn *txn;
	MDB_val k = {sizeof(h), h}, v;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(mdb_get(txn, s->dbi[DBI_TOKENS], &k, &v), 0);
	mdb_txn_abort(txn);

	/* list: all, per user; never the secret */
	struct tok_list tl;
	memset(&tl, 0, sizeof(tl));
	ck_assert_int_eq(d4_store_token_foreach(s, NULL, tok_list_cb, &tl), 0);
	ck_assert_int_eq(tl.n, 3);
	int i = tok_find(&tl, id);
	ck_assert_int_ge(i, 0);
	ck_assert_str_eq(tl.users[i], "alice");
	ck_assert_str_eq(tl.labels[i], "laptop");
	ck_assert_int_ge(tok_find(&tl, bid), 0);
	memset(&tl, 0, sizeof(tl));
	ck_assert_int_eq(d4_store_token_foreach(s, "alice", tok_list_cb, &tl), 0);
	ck_assert_int_eq(tl.n, 2);
	ck_assert_int_lt(tok_find(&tl, bid), 0);
	ck_assert_str_eq(tl.labels[tok_find(&tl, id2)], longlabel);
	memset(&tl, 0, sizeof(tl));
	ck_assert_int_eq(d4_store_token_foreach(s, "nobody", tok_list_cb, &tl), 0);
	ck_assert_int_eq(tl.n, 0);
	ck_assert_int_eq(d4_store_token_foreach(s, "no body", tok_list_cb, &tl), D4_EINVAL);

	/* a role change applies to existing tokens */
	ck_assert_int_eq(d4_store_user_put(s, "bob", D4_STORE_ROLE_SENSOR_REGISTER), 0);
	ck_assert_int_eq(d4_store_token_verify(s, btok, user, &role, NULL), 0);
	ck_assert_int_eq(role, D4_STORE_ROLE_SENSOR_REGISTER);

	/* revoke */
	ck_assert_int_eq(d4_store_token_revoke(s, "xyz"), D4_EINVAL);
	ck_assert_int_eq(d4_store_token_revoke(s, "0123456789abcdeg"), D4_EINVAL);
	ck_assert_int_eq(d4_store_token_revoke(s, "0123456789abcdef0"), D4_EINVAL);
	e = d4_store_epoch(s);
	ck_assert_int_eq(d4_store_token_revoke(s, id), 0);
	ck_assert_uint_eq(d4_store_epoch(s), e + 1);
	ck_assert_int_eq(d4_store_token_verify(s, tok, user, &role, NULL), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_token_verify(s, tok2, user, &role, NULL), 0); /* the other one still works */
	ck_assert_int_eq(d4_store_token_revoke(s, id), D4_ENOTFOUND);
	ck_assert_int_eq(store_contains(s, h, sizeof(h)), 0);
	memset(&tl, 0, sizeof(tl));
	ck_assert_int_eq(d4_store_token_foreach(s, NULL, tok_list_cb, &tl), 0);
	ck_assert_int_eq(tl.n, 2);
	ck_assert_int_lt(tok_find(&tl, id), 0);

	/* deleting the user deletes its tokens; a new user of the same name
	 * does not bring them back */
	ck_assert_int_eq(d4_store_user_del(s, "alice"), 0);
	ck_assert_int_eq(d4_store_token_verify(s, tok2, user, &role, NULL), D4_ENOTFOUND);
	memset(&tl, 0, sizeof(tl));
	ck_assert_int_eq(d4_store_token_foreach(s, NULL, tok_list_cb, &tl), 0);
	ck_assert_int_eq(tl.n, 1);
	ck_assert_str_eq(tl.ids[0], bid);
	ck_assert_int_eq(d4_store_user_put(s, "alice", D4_STORE_ROLE_ADMIN), 0);
	ck_assert_int_eq(d4_store_token_verify(s, tok2, user, &role, NULL), D4_ENOTFOUND);
	ck_assert_int_eq(d4_store_token_verify(s, btok, user, &role, NULL), 0);
	d4_store_close(s);

	/* survives a reopen; read-only handles verify too */
	o.read_only = 1;
	s = open_store(&o);
	ck_assert_int_eq(d4_store_token_verify(s, btok, user, &role, NULL), 0);
	ck_assert_str_eq(user, "bob");
	ck_assert_int_eq(d4_store_token_create(s, "bob", NULL, tok, id), D4_EPERM);
	d4_store_close(s);
	d4_wipe(tok, sizeof(tok));
	d4_wipe(tok2, sizeof(tok2));
	d4_wipe(btok, sizeof(btok));
}
END_TEST

static uint64_t token_last_used(struct d4_store *s, const char *id)
{
	struct tok_list tl;
	memset(&tl, 0, sizeof(tl));
	ck_assert_int_eq(d4_store_token_foreach(s, NULL, tok_list_cb, &tl), 0);
	int i = tok_find(&tl, id);
	ck_assert_int_ge(i, 0);
	return tl.last_used[i];
}

START_TEST(test_token_last_used)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	char tok[D4_TOKEN_TEXT_MAX], id[D4_TOKEN_ID_HEX];
	ck_assert_int_eq(d4_store_user_put(s, "api", D4_STORE_ROLE_USER), 0);
	ck_assert_int_eq(d4_store_token_create(s, "api", "", tok, id), 0);
	ck_assert_uint_eq(token_last_used(s, id), 0);
	uint64_t e = d4_store_epoch(s);
	ck_assert_int_eq(store_token_verify_at(s, tok, 100000, NULL, NULL, NULL), 0);
	ck_assert_uint_eq(token_last_used(s, id), 100000);
	/* within the minute: not written again */
	ck_assert_int_eq(store_token_verify_at(s, tok, 100000 + D4_TOKEN_LAST_USED_EVERY - 1, NULL, NULL, NULL), 0);
	ck_assert_uint_eq(token_last_used(s, id), 100000);
	ck_assert_int_eq(store_token_verify_at(s, tok, 100000 + D4_TOKEN_LAST_USED_EVERY, NULL, NULL, NULL), 0);
	ck_assert_uint_eq(token_last_used(s, id), 100000 + D4_TOKEN_LAST_USED_EVERY);
	/* last_used is bookkeeping, not an admin change */
	ck_assert_uint_eq(d4_store_epoch(s), e);
	/* the real clock */
	ck_assert_int_eq(d4_store_token_verify(s, tok, NULL, NULL, NULL), 0);
	ck_assert_uint_ge(token_last_used(s, id), d4_now_s() - 5);
	d4_store_close(s);
	/* a read-only handle verifies but does not write */
	o.read_only = 1;
	s = open_store(&o);
	uint64_t lu = token_last_used(s, id);
	ck_assert_int_eq(store_token_verify_at(s, tok, lu + 1000, NULL, NULL, NULL), 0);
	ck_assert_uint_eq(token_last_used(s, id), lu);
	d4_store_close(s);
	d4_wipe(tok, sizeof(tok));
}
END_TEST

/* A sensor value exactly as schema 1 wrote it (docs/store.md, v1 layout),
 * built here field by field, independent of the current encoder. */
static size_t sensor_v1_bytes(const uint8_t uuid[16], uint8_t *b)
{
	size_t o = 0;
	b[o++] = 1;
	memcpy(b + o, uuid, 16);
	o += 16;
	d4_put_u16be(b + o, 3); /* keylen */
	o += 2;
	memcpy(b + o, "abc", 3);
	o += 3;
	b[o++] = D4_SENSOR_APPROVED;
	d4_put_u16be(b + o, 6);
	o += 2;
	memcpy(b + o, "old v1", 6);
	o += 6;
	d4_put_u16be(b + o, 0); /* mail */
	o += 2;
	b[o++] = 0; /* default_tlp */
	b[o++] = 0; /* has_default_org */
	memset(b + o, 0, 16);
	o += 16;
	d4_put_u32be(b + o, 0); /* max_payload */
	o += 4;
	const uint64_t u64s[] = {0 /* max_backlog */, 1000 /* created */, 2000, 3000 /* seen */,
				 0 /* ban */,	      42 /* packets */,	  4200 /* bytes */};
	for (size_t i = 0; i < sizeof(u64s) / sizeof(u64s[0]); i++, o += 8)
		d4_put_u64be(b + o, u64s[i]);
	b[o++] = 22; /* nrej (schema 1 had 22 reasons) */
	for (int i = 0; i < 22; i++, o += 8)
		d4_put_u64be(b + o, i == D4_REJ_HMAC ? 5 : 0);
	d4_put_u16be(b + o, 0); /* last_error */
	o += 2;
	d4_put_u64be(b + o, 0); /* last_error_at */
	o += 8;
	b[o++] = 0; /* nips */
	return o;
}

START_TEST(test_sensor_v1_compat)
{
	uint8_t uuid[16], b[STORE_SENSOR_MAX];
	mkuuid(uuid, 7);
	size_t n = sensor_v1_bytes(uuid, b);
	struct d4_sensor sn;
	ck_assert_int_eq(store_dec_sensor(b, n, &sn), 0);
	ck_assert_str_eq(sn.description, "old v1");
	ck_assert_uint_eq(sn.packets, 42);
	ck_assert_uint_eq(sn.rejects[D4_REJ_HMAC], 5);
	ck_assert_uint_eq(sn.silence_threshold, 0);
	/* a v1 value is exactly the v1 fields: the v2 tail is not accepted with a v1 version byte */
	memset(b + n, 0, 4);
	ck_assert_int_eq(store_dec_sensor(b, n + 4, &sn), D4_ECORRUPT);
	/* and v2 needs its tail */
	b[0] = 2;
	ck_assert_int_eq(store_dec_sensor(b, n, &sn), D4_ECORRUPT);
	d4_put_u32be(b + n, 900);
	ck_assert_int_eq(store_dec_sensor(b, n + 4, &sn), 0);
	ck_assert_uint_eq(sn.silence_threshold, 900);
	/* every truncation of a current (v2) encoding is corrupt */
	sn.silence_threshold = 77;
	uint8_t e2[STORE_SENSOR_MAX];
	size_t n2 = store_enc_sensor(&sn, e2);
	ck_assert_int_eq(e2[0], 2);
	for (size_t cut = 0; cut < n2; cut++)
		ck_assert_int_eq(store_dec_sensor(e2, cut, &sn), D4_ECORRUPT);
	ck_assert_int_eq(store_dec_sensor(e2, n2, &sn), 0);
	ck_assert_uint_eq(sn.silence_threshold, 77);

	/* Make a schema-1 store: the v1 sensor value, schema = 1, and none of
	 * the tables added by schema 2. */
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	n = sensor_v1_bytes(uuid, b);
	MDB_txn *txn;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	MDB_val k = {16, uuid}, v = {n, b};
	ck_assert_int_eq(mdb_put(txn, s->dbi[DBI_SENSORS], &k, &v, 0), 0);
	ck_assert_int_eq(store_settings_put_u64(s, txn, "schema", 1), 0);
	for (int d = STORE_FIRST_V2_DBI; d < DBI_COUNT; d++)
		ck_assert_int_eq(mdb_drop(txn, s->dbi[d], 1), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	uint64_t epoch = d4_store_epoch(s);
	d4_store_close(s);

	/* read-only (d4hubctl list) on the old store: the new tables read as empty */
	o.read_only = 1;
	s = open_store(&o);
	ck_assert_int_eq(d4_store_sensor_get(s, uuid, &sn), 0);
	ck_assert_str_eq(sn.description, "old v1");
	ck_assert_uint_eq(sn.silence_threshold, 0);
	struct d4_user u;
	ck_assert_int_eq(d4_store_user_get(s, "admin", &u), D4_ENOTFOUND);
	struct names nm;
	memset(&nm, 0, sizeof(nm));
	ck_assert_int_eq(d4_store_user_foreach(s, user_names_cb, &nm), 0);
	ck_assert_str_eq(nm.buf, "");
	struct tok_list tl;
	memset(&tl, 0, sizeof(tl));
	ck_assert_int_eq(d4_store_token_foreach(s, NULL, tok_list_cb, &tl), 0);
	ck_assert_int_eq(tl.n, 0);
	ck_assert_int_eq(d4_store_token_verify(s, "d4h_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, NULL, NULL),
			 D4_ENOTFOUND);
	d4_store_close(s);

	/* a writable open upgrades in place: data kept, current schema, new tables usable */
	o.read_only = 0;
	s = open_store(&o);
	uint64_t ver = 0;
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(store_settings_get_u64(s, txn, "schema", &ver), 0);
	ck_assert_int_eq(mdb_get(txn, s->dbi[DBI_SENSORS], &k, &v), 0);
	ck_assert_int_eq(((uint8_t *)v.mv_data)[0], 1); /* not rewritten by the upgrade */
	mdb_txn_abort(txn);
	ck_assert_uint_eq(ver, STORE_SCHEMA_VERSION);
	ck_assert_uint_eq(d4_store_epoch(s), epoch); /* settings untouched */
	uint8_t acc[256];
	ck_assert_int_eq(d4_store_types_get(s, acc), 0);
	ck_assert_int_eq(acc[254], 1);
	ck_assert_int_eq(d4_store_sensor_get(s, uuid, &sn), 0);
	ck_assert_uint_eq(sn.packets, 42);
	sn.silence_threshold = 3600;
	ck_assert_int_eq(d4_store_sensor_put(s, &sn), 0);
	ck_assert_int_eq(d4_store_sensor_get(s, uuid, &sn), 0);
	ck_assert_uint_eq(sn.silence_threshold, 3600);
	ck_assert_uint_eq(sn.packets, 42);
	ck_assert_uint_eq(sn.rejects[D4_REJ_HMAC], 5);
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(mdb_get(txn, s->dbi[DBI_SENSORS], &k, &v), 0);
	ck_assert_int_eq(((uint8_t *)v.mv_data)[0], 2);
	mdb_txn_abort(txn);
	ck_assert_int_eq(d4_store_user_put(s, "admin", D4_STORE_ROLE_ADMIN), 0);
	char tok[D4_TOKEN_TEXT_MAX], id[D4_TOKEN_ID_HEX];
	ck_assert_int_eq(d4_store_token_create(s, "admin", "", tok, id), 0);
	ck_assert_int_eq(d4_store_token_verify(s, tok, NULL, NULL, NULL), 0);
	/* a store from a newer build is refused */
	ck_assert_int_eq(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	ck_assert_int_eq(store_settings_put_u64(s, txn, "schema", STORE_SCHEMA_VERSION + 1), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	d4_store_close(s);
	struct d4_store *s2 = NULL;
	ck_assert_int_eq(d4_store_open(&o, &s2), D4_ESTORE);
	ck_assert_ptr_null(s2);
}
END_TEST

struct silent_list {
	unsigned ids[16];
	int n;
};
static int silent_cb(void *ctx, const struct d4_sensor *sn)
{
	struct silent_list *sl = ctx;
	ck_assert_int_lt(sl->n, 16);
	sl->ids[sl->n++] = sn->uuid[15];
	return 0;
}

START_TEST(test_sensors_silent)
{
	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	const uint64_t now = 1700000000;
	const struct {
		uint32_t thr;
		uint64_t created, last_seen;
	} cases[] = {
	    {0, now - 9000, now - 5000},    /* 1: not monitored */
	    {60, now - 9000, now - 30},	    /* 2: seen recently */
	    {60, now - 9000, now - 61},	    /* 3: silent */
	    {60, now - 9000, now - 60},	    /* 4: exactly at the threshold: not yet */
	    {60, now - 1000, 0},	    /* 5: never seen, registered long ago: silent */
	    {60, now - 10, 0},		    /* 6: never seen, registered recently */
	    {3600, now - 9000, now - 3601}, /* 7: silent */
	    {60, now - 9000, now + 100},    /* 8: clock skew: last_seen in the future */
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct d4_sensor sn;
		memset(&sn, 0, sizeof(sn));
		mkuuid(sn.uuid, i + 1);
		sn.status = D4_SENSOR_APPROVED;
		sn.silence_threshold = cases[i].thr;
		sn.created = cases[i].created;
		sn.last_seen = cases[i].last_seen;
		ck_assert_int_eq(d4_store_sensor_put(s, &sn), 0);
	}
	struct silent_list sl;
	memset(&sl, 0, sizeof(sl));
	ck_assert_int_eq(d4_store_sensors_silent(s, now, silent_cb, &sl), 0);
	ck_assert_int_eq(sl.n, 3);
	ck_assert_uint_eq(sl.ids[0], 3);
	ck_assert_uint_eq(sl.ids[1], 5);
	ck_assert_uint_eq(sl.ids[2], 7);

	/* the threshold is an admin field: sensor_put changes it, the writer keeps it */
	struct d4_sensor sn;
	uint8_t u3[16];
	mkuuid(u3, 3);
	ck_assert_int_eq(d4_store_sensor_get(s, u3, &sn), 0);
	ck_assert_uint_eq(sn.silence_threshold, 60);
	sn.silence_threshold = 0;
	ck_assert_int_eq(d4_store_sensor_put(s, &sn), 0);
	uint8_t u7[16];
	mkuuid(u7, 7);
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	struct d4_session_open op = {.session = d4_store_session_id_new(s), .type = 1, .port = 1, .when = now};
	memcpy(op.uuid, u7, 16);
	v4(op.addr, 127, 0, 0, 1);
	ck_assert_int_eq(d4_store_post_session_open(s, &op), 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	ck_assert_int_eq(d4_store_sensor_get(s, u7, &sn), 0);
	ck_assert_uint_eq(sn.last_seen, now);
	ck_assert_uint_eq(sn.silence_threshold, 3600);
	memset(&sl, 0, sizeof(sl));
	ck_assert_int_eq(d4_store_sensors_silent(s, now, silent_cb, &sl), 0);
	ck_assert_int_eq(sl.n, 1);
	ck_assert_uint_eq(sl.ids[0], 5);
	/* an hour later every monitored sensor is silent, 7 included again;
	 * 3 is no longer monitored and 1 never was */
	memset(&sl, 0, sizeof(sl));
	ck_assert_int_eq(d4_store_sensors_silent(s, now + 3601, silent_cb, &sl), 0);
	ck_assert_int_eq(sl.n, 6);
	const unsigned want[] = {2, 4, 5, 6, 7, 8};
	for (int i = 0; i < 6; i++)
		ck_assert_uint_eq(sl.ids[i], want[i]);
	d4_store_close(s);
}
END_TEST

/* ---- crash safety: a child killed with SIGKILL mid-stream ---- */
START_TEST(test_kill9)
{
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(pfd[0]);
		struct d4_store_opts o = base_opts();
		o.no_sync = 0; /* durable, as in production */
		o.commit_ms = 2;
		struct d4_store *s = NULL;
		if (d4_store_open(&o, &s) || d4_store_writer_start(s))
			_exit(2);
		uint8_t u[16];
		mkuuid(u, 1);
		uint64_t sess = d4_store_session_id_new(s), idx = 0;
		for (;;) {
			for (int i = 0; i < 50; i++, idx++) {
				uint32_t sz = psize_of(idx);
				struct d4_frame_rec r = mkrec(sess, u, 1, idx, sz, 1000 + idx);
				fill_payload(sess, idx, sz);
				if (post_frame_retry(s, &r, pbuf))
					_exit(3);
			}
			if (d4_store_writer_sync(s, 10000))
				_exit(4);
			/* everything up to idx is committed now */
			if (write(pfd[1], &idx, sizeof(idx)) != sizeof(idx))
				_exit(5);
		}
	}
	close(pfd[1]);
	uint64_t committed = 0, v;
	while (committed < 3000 && read(pfd[0], &v, sizeof(v)) == sizeof(v))
		committed = v;
	ck_assert_uint_ge(committed, 3000);
	usleep(3000); /* kill it somewhere in a later batch */
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	ck_assert(WIFSIGNALED(status));
	while (read(pfd[0], &v, sizeof(v)) == sizeof(v))
		committed = v;
	close(pfd[0]);

	struct d4_store_opts o = base_opts();
	struct d4_store *s = open_store(&o);
	struct cnt c;
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(d4_store_frame_foreach(s, 0, 0, cnt_cb, &c), 0);
	ck_assert_int_eq(c.bad, 0);
	ck_assert_uint_eq(c.first_idx, 0);
	ck_assert_uint_ge(c.n, committed);
	ck_assert_uint_eq(c.last_idx + 1, c.n); /* no gaps */
	struct d4_totals t;
	ck_assert_int_eq(d4_store_totals(s, &t), 0);
	ck_assert_uint_eq(t.frames, c.n); /* counters committed with the frames */
	/* the store still works after the crash */
	ck_assert_int_eq(d4_store_writer_start(s), 0);
	uint8_t u[16];
	mkuuid(u, 1);
	struct d4_frame_rec r = mkrec(d4_store_session_id_new(s), u, 1, c.n, 10, 1);
	fill_payload(r.session, c.n, 10);
	ck_assert_int_eq(d4_store_post_frame(s, &r, pbuf), 0);
	ck_assert_int_eq(d4_store_writer_sync(s, 5000), 0);
	d4_store_close(s);
}
END_TEST

TCase *queue_tcase(void);   /* test_queues.c */
TCase *add_tcase(void);	    /* test_sensor_add.c */
TCase *corrupt_tcase(void); /* test_corrupt.c */

TCase *replay_tcase(void);

static Suite *store_suite(void)
{
	Suite *su = suite_create("store");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_reject_names);
	tcase_add_test(tc, test_watch);
	tcase_add_test(tc, test_open_reopen);
	tcase_add_test(tc, test_sensor_crud);
	tcase_add_test(tc, test_live_sessions);
	tcase_add_test(tc, test_sensor_foreach_and_ips);
	tcase_add_test(tc, test_blocklist);
	tcase_add_test(tc, test_types);
	tcase_add_test(tc, test_writer_roundtrip);
	tcase_add_test(tc, test_writer_payload_copy);
	tcase_add_test(tc, test_rejects);
	tcase_add_test(tc, test_admin_race);
	tcase_add_test(tc, test_queue_full);
	tcase_add_test(tc, test_frame_cache);
	tcase_add_test(tc, test_map_full);
	tcase_add_test(tc, test_map_full_reopen_bigger);
	tcase_add_test(tc, test_map_full_big_batch);
	tcase_add_test(tc, test_retention);
	tcase_add_test(tc, test_session_ids);
	tcase_add_test(tc, test_codec_corrupt);
	tcase_add_test(tc, test_kill9);
	tcase_add_test(tc, test_users);
	tcase_add_test(tc, test_tokens);
	tcase_add_test(tc, test_token_last_used);
	tcase_add_test(tc, test_sensor_v1_compat);
	tcase_add_test(tc, test_sensors_silent);
	suite_add_tcase(su, tc);
	suite_add_tcase(su, queue_tcase());
	suite_add_tcase(su, corrupt_tcase());
	suite_add_tcase(su, add_tcase());
	suite_add_tcase(su, replay_tcase());
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(store_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
