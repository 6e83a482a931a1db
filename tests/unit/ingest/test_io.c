/* I/O tests of the ingest loop: a real TLS listener on 127.0.0.1 (ephemeral
 * port), a temporary LMDB store, a self-signed certificate made with the
 * openssl CLI, and an OpenSSL client that splits the stream at awkward
 * places. */
#include "test_ingest.h"

#include "d4_error.h"
#include "d4_hubconf.h"
#include "d4_ingest.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_proto.h"
#include "d4_store.h"
#include "d4_util.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char dir[256];
static struct d4_store *st;
static struct d4_ingest *ing;
static struct d4_hubconf conf;
static const char KEY[] = "private key to change";
static uint8_t U1[16];

static void io_setup(void)
{
	char cmd[1024];
	strcpy(dir, "/tmp/d4-test-ingest-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost "
		 "-keyout %s/hub.key -out %s/hub.crt >/dev/null 2>&1",
		 dir, dir);
	ck_assert_int_eq(system(cmd), 0);

	struct d4_store_opts so = {0};
	char spath[300];
	snprintf(spath, sizeof(spath), "%s/store", dir);
	so.path = spath;
	so.map_size = 256u << 20;
	so.commit_ms = 10;
	so.no_sync = 1;
	ck_assert_int_eq(d4_store_open(&so, &st), 0);
	ck_assert_int_eq(d4_store_writer_start(st), 0);

	d4_uuid_parse("d42967c1f7ad464ebbc74464c653d7a6", U1);
	struct d4_sensor sn;
	memset(&sn, 0, sizeof(sn));
	memcpy(sn.uuid, U1, 16);
	memcpy(sn.key, KEY, strlen(KEY));
	sn.keylen = (uint16_t)strlen(KEY);
	sn.status = D4_SENSOR_APPROVED;
	ck_assert_int_eq(d4_store_sensor_put(st, &sn), 0);

	d4_hubconf_defaults(&conf);
	snprintf(conf.listen, sizeof(conf.listen), "127.0.0.1:0");
	snprintf(conf.cert, sizeof(conf.cert), "%s/hub.crt", dir);
	snprintf(conf.key, sizeof(conf.key), "%s/hub.key", dir);
	d4_uuid_parse("11111111111141118111111111111111", conf.org);
	conf.default_tlp = D4_TLP_AMBER_STRICT;
	conf.max_payload = 1000000;
	conf.preauth_max = 65536;
	conf.header_timeout = 2;
}

static void io_start(void)
{
	char err[256] = "";
	int rc = d4_ingest_start(&conf, st, &ing, err, sizeof(err));
	ck_assert_msg(rc == 0, "ingest start: %s", err);
	ck_assert_uint_ne(d4_ingest_port(ing), 0);
}

static void io_teardown(void)
{
	char cmd[300];
	d4_ingest_stop(ing);
	ing = NULL;
	d4_store_close(st);
	st = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

struct client {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

static void cli_open_alpn(struct client *c, int ack)
{
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons(d4_ingest_port(ing));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(c->fd, 0);
	ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	c->ctx = SSL_CTX_new(TLS_client_method());
	ck_assert_ptr_nonnull(c->ctx);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
	if (ack)
		ck_assert_int_eq(SSL_CTX_set_alpn_protos(c->ctx, (const unsigned char *)"\x08" D4_ACK_ALPN, 9), 0);
	c->ssl = SSL_new(c->ctx);
	SSL_set_fd(c->ssl, c->fd);
	ck_assert_int_eq(SSL_connect(c->ssl), 1);
}

static void cli_open(struct client *c)
{
	cli_open_alpn(c, 0);
}

static void cli_write(struct client *c, const uint8_t *p, size_t n)
{
	/* each SSL_write is one TLS record: the split points are the test */
	ck_assert_int_eq(SSL_write(c->ssl, p, (int)n), (int)n);
}

static void cli_close(struct client *c)
{
	SSL_shutdown(c->ssl);
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
	close(c->fd);
}

/* 1 once the server closed the connection (read returns EOF/error). */
static int cli_closed_by_peer(struct client *c, int timeout_s)
{
	struct timeval tv = {timeout_s, 0};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint8_t b[16];
	int n = SSL_read(c->ssl, b, sizeof(b));
	return n <= 0 && SSL_get_error(c->ssl, n) != SSL_ERROR_WANT_READ;
}

static size_t build(uint8_t *out, size_t room, uint8_t type, const char *key, const uint8_t *pl, size_t len)
{
	struct d4_hdr h = {0};
	h.version = 1;
	h.type = type;
	memcpy(h.uuid, U1, 16);
	h.timestamp = d4_now_s();
	int n = d4_proto_frame_build(&h, (const uint8_t *)key, strlen(key), pl, len, out, room);
	ck_assert_int_gt(n, 0);
	return (size_t)n;
}

static void wait_frames(uint64_t n)
{
	struct d4_ingest_stats s;
	for (int i = 0; i < 1000; i++) {
		d4_ingest_stats_get(ing, &s);
		if (s.frames >= n)
			break;
		usleep(10000);
	}
	d4_ingest_stats_get(ing, &s);
	ck_assert_uint_eq(s.frames, n);
	ck_assert_int_eq(d4_store_writer_sync(st, 5000), 0);
}

struct seen {
	unsigned n;
	uint32_t sizes[64];
	uint8_t first[64];
	uint64_t session;
	int bad;
};

static int frame_cb(void *ctx, const struct d4_frame_rec *r, const uint8_t *payload)
{
	struct seen *s = ctx;
	if (s->n < 64) {
		s->sizes[s->n] = r->size;
		s->first[s->n] = r->size ? payload[0] : 0;
		/* payload byte i of frame k is (k * 7 + i) & 0xff */
		for (uint32_t i = 0; i < r->size; i++)
			if (payload[i] != (uint8_t)(s->n * 7 + i))
				s->bad++;
		if (memcmp(r->uuid, U1, 16) != 0 || r->tlp != D4_TLP_AMBER_STRICT)
			s->bad++;
	}
	s->session = r->session;
	s->n++;
	return 0;
}

static uint8_t stream[3 << 20];

START_TEST(t_io_splits)
{
	io_start();
	/* sizes: tiny, empty, one above the pre-auth limit once verified,
	 * several TLS records long, and small ones for the tail */
	static const uint32_t sizes[] = {9, 0, 1, 70000, 200000, 16384, 3, 50, 0, 40, 1, 999999, 5};
	const unsigned nf = sizeof(sizes) / sizeof(sizes[0]);
	static uint8_t pl[1000000];
	size_t len = 0;
	for (unsigned k = 0; k < nf; k++) {
		for (uint32_t i = 0; i < sizes[k]; i++)
			pl[i] = (uint8_t)(k * 7 + i);
		len += build(stream + len, sizeof(stream) - len, 1, KEY, pl, sizes[k]);
	}
	struct client c;
	cli_open(&c);
	size_t off = 0;
	/* the first two packets (header split everywhere) byte by byte */
	for (; off < 62 + 9 + 62 + 5; off++)
		cli_write(&c, stream + off, 1);
	/* then uneven chunks, including ones that end just inside a header */
	static const size_t chunks[] = {61, 1, 63, 7000, 16384, 100, 65536, 131072, 33, 250000};
	for (unsigned i = 0; off < len - 60; i++) {
		size_t n = chunks[i % (sizeof(chunks) / sizeof(chunks[0]))];
		if (n > len - 60 - off)
			n = len - 60 - off;
		cli_write(&c, stream + off, n);
		off += n;
	}
	/* a last record under 62 bytes, alone: the reference loses it */
	ck_assert_uint_lt(len - off, 62);
	cli_write(&c, stream + off, len - off);
	wait_frames(nf);

	struct seen s = {0};
	ck_assert_int_eq(d4_store_frame_foreach(st, 0, 0, frame_cb, &s), 0);
	ck_assert_uint_eq(s.n, nf);
	ck_assert_int_eq(s.bad, 0);
	for (unsigned k = 0; k < nf; k++)
		ck_assert_uint_eq(s.sizes[k], sizes[k]);
	/* the connection stays open: the session is not closed yet */
	struct d4_session_info si;
	ck_assert_int_eq(d4_store_session_get(st, s.session, &si), 0);
	ck_assert_uint_eq(si.type, 1);
	ck_assert_uint_eq(si.tlp, D4_TLP_AMBER_STRICT);
	cli_close(&c);
	for (int i = 0; i < 200; i++) {
		struct d4_ingest_stats is;
		d4_ingest_stats_get(ing, &is);
		if (is.live == 0)
			break;
		usleep(10000);
	}
	ck_assert_int_eq(d4_store_writer_sync(st, 5000), 0);
	ck_assert_int_eq(d4_store_session_get(st, s.session, &si), 0);
	ck_assert_uint_ne(si.ended, 0);
	ck_assert_uint_eq(si.frames, nf);
}
END_TEST

START_TEST(t_io_bad_hmac)
{
	io_start();
	uint8_t buf[3][200];
	uint8_t pl[100];
	for (int i = 0; i < 100; i++)
		pl[i] = (uint8_t)i; /* frame 0: (0 * 7 + i) */
	size_t n0 = build(buf[0], sizeof(buf[0]), 1, KEY, pl, 100);
	size_t n1 = build(buf[1], sizeof(buf[1]), 1, "not the key", pl, 100);
	size_t n2 = build(buf[2], sizeof(buf[2]), 1, KEY, pl, 100);
	struct client c;
	cli_open(&c);
	cli_write(&c, buf[0], n0);
	cli_write(&c, buf[1], n1);
	cli_write(&c, buf[2], n2);
	ck_assert(cli_closed_by_peer(&c, 5));
	cli_close(&c);
	ck_assert_int_eq(d4_store_writer_sync(st, 5000), 0);
	struct seen s = {0};
	ck_assert_int_eq(d4_store_frame_foreach(st, 0, 0, frame_cb, &s), 0);
	ck_assert_uint_eq(s.n, 1);
	struct d4_totals t;
	ck_assert_int_eq(d4_store_totals(st, &t), 0);
	ck_assert_uint_eq(t.rejects[D4_REJ_HMAC], 1);
	struct d4_sensor sn;
	ck_assert_int_eq(d4_store_sensor_get(st, U1, &sn), 0);
	ck_assert_uint_eq(sn.rejects[D4_REJ_HMAC], 1);
}
END_TEST

START_TEST(t_io_reject_and_timeout)
{
	io_start();
	uint8_t buf[200];
	uint8_t pl[10] = {0};
	struct client c;
	/* not registered in registration mode */
	uint8_t save[16];
	memcpy(save, U1, 16);
	d4_uuid_parse("0f0e0d0c0b0a4908a706050403020100", U1);
	size_t n = build(buf, sizeof(buf), 1, KEY, pl, sizeof(pl));
	memcpy(U1, save, 16);
	cli_open(&c);
	cli_write(&c, buf, n);
	ck_assert(cli_closed_by_peer(&c, 5));
	cli_close(&c);
	/* half a header, then silence: closed after header_timeout (2 s) */
	cli_open(&c);
	n = build(buf, sizeof(buf), 1, KEY, pl, sizeof(pl));
	cli_write(&c, buf, 30);
	ck_assert(cli_closed_by_peer(&c, 6));
	cli_close(&c);
	ck_assert_int_eq(d4_store_writer_sync(st, 5000), 0);
	struct d4_totals t;
	ck_assert_int_eq(d4_store_totals(st, &t), 0);
	ck_assert_uint_eq(t.rejects[D4_REJ_UNKNOWN_SENSOR], 1);
	ck_assert_uint_eq(t.rejects[D4_REJ_HEADER_TIMEOUT], 1);
	ck_assert_uint_eq(t.frames, 0);
}
END_TEST

START_TEST(t_io_kick)
{
	io_start();
	uint8_t buf[200];
	uint8_t pl[10];
	for (int i = 0; i < 10; i++)
		pl[i] = (uint8_t)i;
	struct client c;
	cli_open(&c);
	size_t n = build(buf, sizeof(buf), 1, KEY, pl, sizeof(pl));
	cli_write(&c, buf, n);
	wait_frames(1);
	/* what d4hubctl sensor kick does: a ban in the record (bumps the epoch) */
	struct d4_sensor sn;
	ck_assert_int_eq(d4_store_sensor_get(st, U1, &sn), 0);
	sn.ban_until = d4_now_s() + 30;
	ck_assert_int_eq(d4_store_sensor_put(st, &sn), 0);
	ck_assert(cli_closed_by_peer(&c, 5));
	cli_close(&c);
	ck_assert_int_eq(d4_store_writer_sync(st, 5000), 0);
	struct d4_totals t;
	ck_assert_int_eq(d4_store_totals(st, &t), 0);
	ck_assert_uint_eq(t.rejects[D4_REJ_BANNED], 1);
}
END_TEST

/* A kick while the connection waits for store room: the 1 s tick puts a
 * paused connection on the ready list and then applies the control epoch,
 * which closes it. The closed connection must not stay on the ready list
 * (it is freed at the end of the turn; the next turn would read it). */
START_TEST(t_io_kick_paused)
{
	/* a queue that holds one frame and a writer that waits 4 s before it
	 * commits: the second frame waits for room across several ticks */
	d4_store_close(st);
	struct d4_store_opts so = {0};
	char spath[300];
	snprintf(spath, sizeof(spath), "%s/store", dir);
	so.path = spath;
	so.map_size = 256u << 20;
	so.commit_ms = 4000;
	so.commit_bytes = 1u << 20;
	so.queue_bytes = 4096;
	so.no_sync = 1;
	ck_assert_int_eq(d4_store_open(&so, &st), 0);
	ck_assert_int_eq(d4_store_writer_start(st), 0);
	io_start();
	static uint8_t buf[3 * 3100];
	uint8_t pl[3000];
	memset(pl, 0x5a, sizeof(pl));
	size_t n = 0;
	for (int i = 0; i < 3; i++)
		n += build(buf + n, sizeof(buf) - n, 1, KEY, pl, sizeof(pl));
	struct client c;
	cli_open(&c);
	cli_write(&c, buf, n);
	struct d4_ingest_stats s;
	for (int i = 0; i < 1000; i++) {
		d4_ingest_stats_get(ing, &s);
		if (s.paused >= 1)
			break;
		usleep(10000);
	}
	ck_assert_uint_ge(s.paused, 1);
	struct d4_sensor sn;
	ck_assert_int_eq(d4_store_sensor_get(st, U1, &sn), 0);
	sn.ban_until = d4_now_s() + 30;
	ck_assert_int_eq(d4_store_sensor_put(st, &sn), 0);
	ck_assert(cli_closed_by_peer(&c, 10));
	cli_close(&c);
	/* the loop still runs: a new connection is served (and refused: banned) */
	struct client c2;
	cli_open(&c2);
	n = build(buf, sizeof(buf), 1, KEY, pl, 10);
	cli_write(&c2, buf, n);
	ck_assert(cli_closed_by_peer(&c2, 10));
	cli_close(&c2);
	ck_assert_int_eq(d4_store_writer_sync(st, 10000), 0);
	struct d4_totals t;
	ck_assert_int_eq(d4_store_totals(st, &t), 0);
	ck_assert_uint_eq(t.rejects[D4_REJ_BANNED], 2);
}
END_TEST

/* The hub's socket of a client connection (found by its peer's port). */
static int server_fd_of(struct client *c)
{
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);
	ck_assert_int_eq(getsockname(c->fd, (struct sockaddr *)&me, &ml), 0);
	for (int fd = 3; fd < 1024; fd++) {
		struct sockaddr_in peer, local;
		socklen_t pl = sizeof(peer), ll = sizeof(local);
		if (fd == c->fd || getpeername(fd, (struct sockaddr *)&peer, &pl) != 0 ||
		    getsockname(fd, (struct sockaddr *)&local, &ll) != 0 || peer.sin_family != AF_INET)
			continue;
		if (peer.sin_port == me.sin_port && local.sin_port == htons(d4_ingest_port(ing)))
			return fd;
	}
	return -1;
}

/* A verified session may stay idle, so a peer that vanished (no FIN, no
 * reset) is found by TCP: keep-alive while the hub has nothing unsent, and
 * — since the hub writes acknowledgement records — a bound on data the peer
 * never acknowledges. Without TCP_USER_TIMEOUT an ack written to a vanished
 * sensor is retransmitted for ~15 min (tcp_retries2), keep-alive does not
 * probe while data is outstanding, and the connection keeps the sensor's
 * (uuid, type) slot: its reconnections are refused as duplicate-session. */
START_TEST(t_io_dead_peer_bound)
{
	conf.ack = 1;
	io_start();
	struct client c;
	cli_open(&c);
	int sfd = -1;
	for (int i = 0; i < 500 && sfd < 0; i++) {
		sfd = server_fd_of(&c);
		if (sfd < 0)
			usleep(10000);
	}
	ck_assert_int_ge(sfd, 0);
	int on = 0, ut = 0;
	socklen_t l = sizeof(on);
	ck_assert_int_eq(getsockopt(sfd, SOL_SOCKET, SO_KEEPALIVE, &on, &l), 0);
	ck_assert_int_eq(on, 1);
	l = sizeof(ut);
	ck_assert_int_eq(getsockopt(sfd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, &l), 0);
	ck_assert_msg(ut > 0 && ut <= 120000, "TCP_USER_TIMEOUT %d ms", ut);
	cli_close(&c);
}
END_TEST

/* ---- d4-ack/1: the replay announcement ---- */

static int count_cb(void *ctx, const struct d4_frame_rec *r, const uint8_t *p)
{
	(void)r;
	(void)p;
	(*(uint64_t *)ctx)++;
	return 0;
}

static uint64_t stored(void)
{
	uint64_t n = 0;
	ck_assert_int_eq(d4_store_writer_sync(st, 5000), 0);
	ck_assert_int_eq(d4_store_frame_foreach(st, 0, 0, count_cb, &n), 0);
	return n;
}

/* Waits until no connection is live and the writer committed. */
static void wait_idle(void)
{
	struct d4_ingest_stats is;
	for (int i = 0; i < 500; i++) {
		d4_ingest_stats_get(ing, &is);
		if (is.live == 0)
			break;
		usleep(10000);
	}
	ck_assert_uint_eq(is.live, 0);
	ck_assert_int_eq(d4_store_writer_sync(st, 5000), 0);
}

/* One d4-ack/1 connection: the announcement (count), cut in pieces of
 * `piece` bytes, then the frames; waits until the ingest read them all,
 * closes and waits until the session is committed. */
static void ack_session(uint64_t count, size_t piece, const uint8_t *frames, size_t len, uint64_t nframes)
{
	struct d4_ingest_stats before, now;
	d4_ingest_stats_get(ing, &before);
	struct client c;
	cli_open_alpn(&c, 1);
	const unsigned char *sel = NULL;
	unsigned sl = 0;
	SSL_get0_alpn_selected(c.ssl, &sel, &sl);
	ck_assert_uint_eq(sl, strlen(D4_ACK_ALPN));
	uint8_t ann[D4_ACK_REPLAY_LEN];
	d4_proto_ack_replay_encode(count, ann);
	for (size_t off = 0; off < sizeof(ann); off += piece)
		cli_write(&c, ann + off, sizeof(ann) - off < piece ? sizeof(ann) - off : piece);
	cli_write(&c, frames, len);
	for (int i = 0; i < 500; i++) {
		d4_ingest_stats_get(ing, &now);
		if (now.frames >= before.frames + nframes)
			break;
		usleep(10000);
	}
	ck_assert_uint_eq(now.frames, before.frames + nframes);
	cli_close(&c);
	wait_idle();
}

START_TEST(t_io_ack_announced_count)
{
	io_start();
	/* three frames of one second: byte-identical on every connection */
	uint8_t f[600];
	uint8_t pl[3][100];
	size_t len = 0;
	for (int k = 0; k < 3; k++) {
		memset(pl[k], 'a' + k, sizeof(pl[k]));
		len += build(f + len, sizeof(f) - len, 1, KEY, pl[k], sizeof(pl[k]));
	}
	ack_session(0, 1, f, len, 3);
	ck_assert_uint_eq(stored(), 3);
	/* the same frames again, announced as new data (count 0): all stored */
	ack_session(0, D4_ACK_REPLAY_LEN, f, len, 3);
	ck_assert_uint_eq(stored(), 6);
	/* two announced replays: exactly those two are dropped, the third is
	 * stored although it is identical to committed frames too */
	ack_session(2, 5, f, len, 3);
	ck_assert_uint_eq(stored(), 7);
	struct d4_replay_stats rs;
	ck_assert_int_eq(d4_store_replay_stats(st, U1, &rs), 0);
	ck_assert_uint_eq(rs.dropped, 2);
	/* a plain D4 client (no ALPN) sends no announcement: all stored */
	struct client c;
	cli_open(&c);
	cli_write(&c, f, len);
	cli_close(&c);
	for (int i = 0; i < 500 && stored() < 10; i++)
		usleep(10000);
	ck_assert_uint_eq(stored(), 10);
	wait_idle();
	ck_assert_int_eq(d4_store_replay_stats(st, U1, &rs), 0);
	ck_assert_uint_eq(rs.dropped, 2);
}
END_TEST

START_TEST(t_io_ack_announcement_bad)
{
	io_start();
	uint8_t buf[200];
	uint8_t pl[10] = {0};
	size_t n = build(buf, sizeof(buf), 1, KEY, pl, sizeof(pl));
	struct client c;
	/* a D4 frame where the announcement belongs */
	cli_open_alpn(&c, 1);
	cli_write(&c, buf, n);
	ck_assert(cli_closed_by_peer(&c, 5));
	cli_close(&c);
	/* a count above what a sensor can have in flight */
	uint8_t ann[D4_ACK_REPLAY_LEN];
	d4_proto_ack_replay_encode(D4_ACK_MAX_REPLAY + 1, ann);
	cli_open_alpn(&c, 1);
	cli_write(&c, ann, sizeof(ann));
	cli_write(&c, buf, n);
	ck_assert(cli_closed_by_peer(&c, 5));
	cli_close(&c);
	/* half an announcement, then silence: closed after header_timeout (2 s) */
	cli_open_alpn(&c, 1);
	cli_write(&c, ann, 6);
	ck_assert(cli_closed_by_peer(&c, 6));
	cli_close(&c);
	wait_idle();
	struct d4_totals t;
	ck_assert_int_eq(d4_store_totals(st, &t), 0);
	ck_assert_uint_eq(t.rejects[D4_REJ_VERSION], 2);
	ck_assert_uint_eq(t.rejects[D4_REJ_HEADER_TIMEOUT], 1);
	ck_assert_uint_eq(t.frames, 0);
}
END_TEST

void add_io_tests(Suite *su)
{
	d4_log_init("test_ingest", 0, D4_LOG_WARN);
	TCase *tc = tcase_create("io");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, io_setup, io_teardown);
	tcase_add_test(tc, t_io_splits);
	tcase_add_test(tc, t_io_bad_hmac);
	tcase_add_test(tc, t_io_reject_and_timeout);
	tcase_add_test(tc, t_io_kick);
	tcase_add_test(tc, t_io_kick_paused);
	tcase_add_test(tc, t_io_dead_peer_bound);
	tcase_add_test(tc, t_io_ack_announced_count);
	tcase_add_test(tc, t_io_ack_announcement_bad);
	suite_add_tcase(su, tc);
}
