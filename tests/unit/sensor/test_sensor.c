/* Check suite for d4-sensor: config folder, pcap file source, follow source,
 * spool, and byte-exact stdout output. */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_proto.h"
#include "d4_sensor.h"
#include "d4_util.h"
#include "sensor_internal.h"

#include <check.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void mk_tmp(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/d4sensor-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void rm_tmp(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", tmpdir);
}

static void put_file(const char *dir, const char *name, const char *content, int flags)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | flags, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static const char *data_path(const char *rel, char *buf, size_t n)
{
	const char *d = getenv("D4_TEST_DATA");
	snprintf(buf, n, "%s/%s", d ? d : "tests/data", rel);
	return buf;
}

/* ---- config ---- */
START_TEST(config_with_newlines)
{
	mk_tmp();
	put_file(tmpdir, "uuid", "d42967c1-f7ad-464e-bbc7-4464c653d7a6\n", O_TRUNC);
	put_file(tmpdir, "key", "private key to change\n", O_TRUNC);
	put_file(tmpdir, "type", "8 \n", O_TRUNC);
	put_file(tmpdir, "destination", "127.0.0.1:4443\r\n", O_TRUNC);
	put_file(tmpdir, "snaplen", "8192\n", O_TRUNC);
	put_file(tmpdir, "source", "stdin\n", O_TRUNC);
	put_file(tmpdir, "metaheader.json", "{\"type\": \"ja3-jl\"}\n\n", O_TRUNC);
	put_file(tmpdir, "rootCA.crt", "x", O_TRUNC);
	struct d4_sensor_config c;
	d4_sensor_config_init(&c);
	ck_assert_int_eq(d4_sensor_config_load_dir(&c, tmpdir), 0);
	char hex[33];
	d4_uuid_hex(c.uuid, hex);
	ck_assert(c.has_uuid);
	ck_assert_str_eq(hex, "d42967c1f7ad464ebbc74464c653d7a6");
	ck_assert_uint_eq(c.keylen, strlen("private key to change"));
	ck_assert(memcmp(c.key, "private key to change", c.keylen) == 0);
	ck_assert_int_eq(c.type, 8);
	ck_assert_str_eq(c.destination, "127.0.0.1:4443");
	ck_assert_uint_eq(c.snaplen, 8192);
	ck_assert_str_eq(c.source, "stdin");
	ck_assert_uint_eq(c.metalen, strlen("{\"type\": \"ja3-jl\"}"));
	ck_assert_ptr_nonnull(strstr(c.ca, "rootCA.crt"));
	d4_sensor_config_free(&c);
	rm_tmp();
}
END_TEST

START_TEST(config_without_newlines_and_missing)
{
	mk_tmp();
	put_file(tmpdir, "uuid", "d42967c1f7ad464ebbc74464c653d7a6", O_TRUNC);
	put_file(tmpdir, "key", "k3y", O_TRUNC);
	struct d4_sensor_config c;
	d4_sensor_config_init(&c);
	ck_assert_int_eq(d4_sensor_config_load_dir(&c, tmpdir), 0);
	ck_assert(c.has_uuid);
	ck_assert_uint_eq(c.keylen, 3);
	ck_assert_int_eq(c.type, -1);
	ck_assert_str_eq(c.destination, "");
	ck_assert_uint_eq(c.snaplen, 0);
	ck_assert_ptr_null(c.meta);
	ck_assert_str_eq(c.ca, "");
	d4_sensor_config_free(&c);

	put_file(tmpdir, "type", "one\n", O_TRUNC);
	d4_sensor_config_init(&c);
	ck_assert_int_eq(d4_sensor_config_load_dir(&c, tmpdir), D4_ECONFIG);
	d4_sensor_config_free(&c);
	put_file(tmpdir, "type", "1\n", O_TRUNC);
	put_file(tmpdir, "uuid", "not-a-uuid\n", O_TRUNC);
	d4_sensor_config_init(&c);
	ck_assert_int_eq(d4_sensor_config_load_dir(&c, tmpdir), D4_ECONFIG);
	d4_sensor_config_free(&c);
	d4_sensor_config_init(&c);
	ck_assert_int_eq(d4_sensor_config_load_dir(&c, "/nonexistent/d4"), D4_ECONFIG);
	rm_tmp();
}
END_TEST

/* ---- pcap file source ---- */
static int count_packets(const char *path)
{
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, eb);
	ck_assert_msg(p != NULL, "%s", eb);
	struct pcap_pkthdr *h;
	const u_char *d;
	int n = 0, r;
	while ((r = pcap_next_ex(p, &h, &d)) == 1)
		n++;
	ck_assert_int_eq(r, PCAP_ERROR_BREAK);
	pcap_close(p);
	return n;
}

static void check_pcap_source(size_t max_chunk)
{
	char path[512];
	data_path("dns/local-dns.pcap", path, sizeof(path));
	int expect = count_packets(path);
	ck_assert_int_gt(expect, 5);

	struct d4_sensor_src_opts o = {.kind = D4S_SRC_PCAP_FILE, .path = path, .max_chunk = max_chunk};
	struct d4_sensor_src *s;
	ck_assert_int_eq(d4_sensor_src_open(&o, &s), 0);
	mk_tmp();
	char out[512];
	snprintf(out, sizeof(out), "%s/out.pcap", tmpdir);
	FILE *f = fopen(out, "wb");
	ck_assert_ptr_nonnull(f);
	int chunks = 0, recs = 0, n;
	const uint8_t *d;
	while ((n = d4_sensor_src_next(s, &d, 1000)) > 0) {
		size_t off = 0;
		if (chunks == 0) {
			uint32_t magic;
			memcpy(&magic, d, 4);
			ck_assert_uint_eq(magic, 0xa1b2c3d4u);
			off = 24;
		}
		/* every chunk holds whole records only, and several only up to the max */
		int in_chunk = 0;
		while (off < (size_t)n) {
			uint32_t caplen;
			ck_assert_uint_le(off + 16, (size_t)n);
			memcpy(&caplen, d + off + 8, 4);
			off += 16 + caplen;
			recs++;
			in_chunk++;
		}
		if (in_chunk > 1)
			ck_assert_uint_le((size_t)n, max_chunk ? max_chunk : D4S_PCAP_CHUNK);
		ck_assert_uint_eq(off, (size_t)n);
		ck_assert_uint_eq(fwrite(d, 1, (size_t)n, f), (size_t)n);
		chunks++;
	}
	ck_assert_int_eq(n, D4_ECLOSED);
	ck_assert_int_eq(d4_sensor_src_next(s, &d, 0), D4_ECLOSED);
	fclose(f);
	d4_sensor_src_close(s);
	ck_assert_int_eq(recs, expect);
	ck_assert_int_eq(count_packets(out), expect);
	if (max_chunk && max_chunk < 1024)
		ck_assert_int_gt(chunks, 2);
	rm_tmp();
}

START_TEST(pcap_file_small_chunks)
{
	check_pcap_source(300);
}
END_TEST

START_TEST(pcap_file_default_chunks)
{
	check_pcap_source(0);
}
END_TEST

/* --extract tls: the chunks put together are the ja3-jl lines of the
 * fixture capture (tests/data/tls/ja3-jl/openssl-lo.d4hub.jsonl); a chunk
 * ends at a newline unless one line is longer than the chunk size. */
static void check_tls_source(size_t max_chunk)
{
	char path[512], want_path[512];
	data_path("tls/openssl-lo.pcap", path, sizeof(path));
	data_path("tls/ja3-jl/openssl-lo.d4hub.jsonl", want_path, sizeof(want_path));
	static char want[1 << 16], got[1 << 16];
	FILE *f = fopen(want_path, "rb");
	ck_assert_ptr_nonnull(f);
	size_t wn = fread(want, 1, sizeof(want), f);
	fclose(f);
	ck_assert_uint_gt(wn, 0);
	struct d4_sensor_src_opts o = {
	    .kind = D4S_SRC_PCAP_FILE, .path = path, .max_chunk = max_chunk, .extract_tls = 1};
	struct d4_sensor_src *s;
	ck_assert_int_eq(d4_sensor_src_open(&o, &s), 0);
	size_t gn = 0;
	int n, chunks = 0;
	const uint8_t *d;
	while ((n = d4_sensor_src_next(s, &d, 1000)) > 0) {
		ck_assert_uint_le((size_t)n, max_chunk ? max_chunk : D4S_PCAP_CHUNK);
		ck_assert_uint_le(gn + (size_t)n, sizeof(got));
		/* a chunk not ending at a newline is all one line */
		if (d[n - 1] != '\n')
			ck_assert_ptr_null(memchr(d, '\n', (size_t)n));
		memcpy(got + gn, d, (size_t)n);
		gn += (size_t)n;
		chunks++;
	}
	ck_assert_int_eq(n, D4_ECLOSED);
	ck_assert_int_eq(d4_sensor_src_next(s, &d, 0), D4_ECLOSED);
	d4_sensor_src_close(s);
	ck_assert_uint_eq(gn, wn);
	ck_assert(memcmp(got, want, wn) == 0);
	if (max_chunk)
		ck_assert_int_gt(chunks, (int)(wn / max_chunk));
	else
		ck_assert_int_eq(chunks, 1);
}

START_TEST(tls_extract_chunks)
{
	check_tls_source(0);
	check_tls_source(1500); /* shorter than the lines with an RSA certificate */
	check_tls_source(100);
}
END_TEST

START_TEST(pcap_file_missing)
{
	struct d4_sensor_src_opts o = {.kind = D4S_SRC_PCAP_FILE, .path = "/nonexistent.pcap"};
	struct d4_sensor_src *s;
	ck_assert_int_lt(d4_sensor_src_open(&o, &s), 0);
}
END_TEST

/* ---- follow ---- */
/* Collects chunks until `want` bytes came or 3 s passed. */
static void expect_follow(struct d4_sensor_src *s, const char *want)
{
	char got[4096] = "";
	size_t len = 0;
	uint64_t end = d4_mono_ms() + 3000;
	while (len < strlen(want) && d4_mono_ms() < end) {
		const uint8_t *d;
		int n = d4_sensor_src_next(s, &d, 100);
		ck_assert_int_ge(n, 0);
		if (n > 0) {
			ck_assert_uint_lt(len + (size_t)n, sizeof(got));
			/* a chunk always ends a line (lines here are short) */
			ck_assert_msg(d[n - 1] == '\n', "chunk does not end with a newline");
			memcpy(got + len, d, (size_t)n);
			len += (size_t)n;
			got[len] = 0;
		}
	}
	ck_assert_str_eq(got, want);
}

START_TEST(follow_append_truncate_rotate)
{
	mk_tmp();
	char path[512], old[512];
	snprintf(path, sizeof(path), "%s/log", tmpdir);
	snprintf(old, sizeof(old), "%s/log.1", tmpdir);
	put_file(tmpdir, "log", "existing line\n", O_TRUNC);
	struct d4_sensor_src_opts o = {.kind = D4S_SRC_FOLLOW, .path = path, .poll_ms = 20};
	struct d4_sensor_src *s;
	ck_assert_int_eq(d4_sensor_src_open(&o, &s), 0);
	const uint8_t *d;
	ck_assert_int_eq(d4_sensor_src_next(s, &d, 100), 0); /* existing content skipped */

	put_file(tmpdir, "log", "a\nb\npart", O_APPEND);
	expect_follow(s, "a\nb\n");
	ck_assert_int_eq(d4_sensor_src_next(s, &d, 100), 0); /* partial line is held back */
	put_file(tmpdir, "log", "ial\n", O_APPEND);
	expect_follow(s, "partial\n");

	/* truncation: the file restarts shorter than what was read */
	put_file(tmpdir, "log", "t\n", O_TRUNC);
	expect_follow(s, "t\n");

	/* rotation: the last lines of the old file, then the new file */
	int ofd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_ge(ofd, 0);
	ck_assert_int_eq(rename(path, old), 0);
	ck_assert_int_eq(write(ofd, "late\n", 5), 5);
	close(ofd);
	put_file(tmpdir, "log", "new1\nnew2\n", O_TRUNC);
	expect_follow(s, "late\nnew1\nnew2\n");
	put_file(tmpdir, "log", "new3\n", O_APPEND);
	expect_follow(s, "new3\n");
	d4_sensor_src_close(s);

	/* --from-start reads what is there; a line longer than the max is cut */
	put_file(tmpdir, "long", "0123456789abcdefghijXYZ\nok\n", O_TRUNC);
	snprintf(path, sizeof(path), "%s/long", tmpdir);
	struct d4_sensor_src_opts o2 = {
	    .kind = D4S_SRC_FOLLOW, .path = path, .poll_ms = 20, .from_start = 1, .max_chunk = 16};
	ck_assert_int_eq(d4_sensor_src_open(&o2, &s), 0);
	int n = d4_sensor_src_next(s, &d, 500);
	ck_assert_int_eq(n, 16);
	ck_assert(memcmp(d, "0123456789abcdef", 16) == 0);
	n = d4_sensor_src_next(s, &d, 500);
	ck_assert_int_eq(n, 11);
	ck_assert(memcmp(d, "ghijXYZ\nok\n", 11) == 0);
	d4_sensor_src_close(s);
	rm_tmp();
}
END_TEST

/* ---- spool ---- */
static void rec_payload(unsigned i, uint8_t *buf, size_t n)
{
	for (size_t k = 0; k < n; k++)
		buf[k] = (uint8_t)(i * 7 + k);
	memcpy(buf, &i, sizeof(i));
}

static unsigned peek_index(struct d4_spool *sp, size_t expect_len)
{
	uint8_t type;
	uint64_t ts;
	const uint8_t *d;
	size_t n;
	ck_assert_int_eq(d4_sensor_spool_peek(sp, &type, &ts, &d, &n), 1);
	ck_assert_uint_eq(n, expect_len);
	unsigned i;
	memcpy(&i, d, sizeof(i));
	uint8_t want[2000];
	rec_payload(i, want, n);
	ck_assert(memcmp(want, d, n) == 0);
	ck_assert_uint_eq(type, (uint8_t)(i % 250 + 1));
	ck_assert_uint_eq(ts, 1700000000u + i);
	return i;
}

static void append_n(struct d4_spool *sp, unsigned from, unsigned to, size_t len)
{
	uint8_t buf[2000];
	for (unsigned i = from; i < to; i++) {
		rec_payload(i, buf, len);
		ck_assert_int_eq(d4_sensor_spool_append(sp, (uint8_t)(i % 250 + 1), 1700000000u + i, buf, len), 0);
	}
}

START_TEST(spool_order_and_confirm)
{
	mk_tmp();
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/spool", tmpdir);
	struct d4_spool *sp;
	ck_assert_int_eq(d4_sensor_spool_open(dir, 1u << 20, &sp), 0);
	ck_assert(d4_sensor_spool_empty(sp));
	append_n(sp, 0, 300, 1000); /* several 64 KiB segments */
	struct d4_spool_stats st;
	d4_sensor_spool_stats(sp, &st);
	ck_assert_uint_gt(st.segments, 3);
	struct d4_spool_pos pos;
	for (unsigned i = 0; i < 300; i++) {
		ck_assert_uint_eq(peek_index(sp, 1000), i);
		d4_sensor_spool_advance(sp, &pos);
		if (i == 199)
			ck_assert_int_eq(d4_sensor_spool_confirm(sp, &pos), 0);
	}
	ck_assert(d4_sensor_spool_empty(sp));
	ck_assert(!d4_sensor_spool_all_confirmed(sp));
	/* connection lost: resend starts after the last confirmed record */
	d4_sensor_spool_rewind(sp);
	ck_assert_uint_eq(peek_index(sp, 1000), 200);
	struct d4_spool_stats st2;
	d4_sensor_spool_stats(sp, &st2);
	ck_assert_uint_lt(st2.segments, st.segments); /* delivered segments deleted */
	ck_assert_uint_eq(st2.dropped_frames, 0);
	for (unsigned i = 200; i < 300; i++) {
		ck_assert_uint_eq(peek_index(sp, 1000), i);
		d4_sensor_spool_advance(sp, &pos);
	}
	ck_assert_int_eq(d4_sensor_spool_confirm(sp, &pos), 0);
	ck_assert(d4_sensor_spool_all_confirmed(sp));
	d4_sensor_spool_close(sp);
	rm_tmp();
}
END_TEST

/* Acknowledged delivery: records are released only by an ack covering them
 * (frames of the connection, the meta header included); a reconnect replays
 * everything not released, in order; a restart of the sensor too. */
START_TEST(sent_replay_count)
{
	/* a fresh sensor: 50 sent, 20 acknowledged -> 30 to announce */
	ck_assert_uint_eq(sent_replay_next(0, 50, 30), 30);
	/* the next connection dies while replaying: 10 of the 30 resent, 4
	 * acknowledged -> the 26 others were all sent before */
	ck_assert_uint_eq(sent_replay_next(30, 10, 6), 26);
	/* it got past its replays: 40 sent (26 replays + 14 new), 30 acknowledged */
	ck_assert_uint_eq(sent_replay_next(26, 40, 10), 10);
	/* everything acknowledged, or nothing sent at all */
	ck_assert_uint_eq(sent_replay_next(26, 40, 0), 0);
	ck_assert_uint_eq(sent_replay_next(7, 0, 0), 7);
}
END_TEST

START_TEST(spool_ack_release_replay)
{
	mk_tmp();
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/spool", tmpdir);
	struct d4_spool *sp;
	ck_assert_int_eq(d4_sensor_spool_open(dir, 1u << 20, &sp), 0);
	struct d4_spool_stats st0;
	d4_sensor_spool_stats(sp, &st0);
	ck_assert_uint_eq(st0.unconfirmed_at_open, 0); /* a fresh sensor announces no replay */
	append_n(sp, 0, 100, 1000);
	static struct sent_ring ring;
	memset(&ring, 0, sizeof(ring));
	/* connection 1: one meta-header frame, then records 0..59 */
	uint64_t conn_frames = 1;
	struct d4_spool_pos pos, last;
	for (unsigned i = 0; i < 60; i++) {
		ck_assert_uint_eq(peek_index(sp, 1000), i);
		d4_sensor_spool_advance(sp, &pos);
		sent_push(&ring, 0, ++conn_frames, &pos);
	}
	ck_assert_uint_eq(ring.count, 60);
	/* an ack for the meta header alone releases no record */
	ck_assert_int_eq(sent_release(&ring, 1, 1, &last), 0);
	ck_assert_uint_eq(ring.count, 60);
	/* 21 frames committed = meta + records 0..19 */
	ck_assert_int_eq(sent_release(&ring, 1, 21, &last), 1);
	ck_assert_uint_eq(ring.count, 40);
	ck_assert_int_eq(d4_sensor_spool_confirm(sp, &last), 0);
	/* the same ack again releases nothing more */
	ck_assert_int_eq(sent_release(&ring, 1, 21, &last), 0);
	/* the connection breaks (kick, reset, hub restart): replay from 20 */
	ring.count = 0;
	d4_sensor_spool_rewind(sp);
	ck_assert(!d4_sensor_spool_all_confirmed(sp));
	conn_frames = 1;
	for (unsigned i = 20; i < 100; i++) {
		ck_assert_uint_eq(peek_index(sp, 1000), i);
		d4_sensor_spool_advance(sp, &pos);
		sent_push(&ring, 0, ++conn_frames, &pos);
	}
	ck_assert(d4_sensor_spool_empty(sp));
	/* ack of 51 frames = meta + records 20..69; then the sensor stops */
	ck_assert_int_eq(sent_release(&ring, 1, 51, &last), 1);
	ck_assert_int_eq(d4_sensor_spool_confirm(sp, &last), 0);
	d4_sensor_spool_close(sp);
	/* the next run sends 70..99 again, nothing before, and announces them
	 * as replays: exactly the 30 records the spool holds unacknowledged */
	ck_assert_int_eq(d4_sensor_spool_open(dir, 1u << 20, &sp), 0);
	struct d4_spool_stats sst;
	d4_sensor_spool_stats(sp, &sst);
	ck_assert_uint_eq(sst.unconfirmed_at_open, 30);
	memset(&ring, 0, sizeof(ring));
	for (unsigned i = 70; i < 100; i++) {
		ck_assert_uint_eq(peek_index(sp, 1000), i);
		d4_sensor_spool_advance(sp, &pos);
		sent_push(&ring, 0, i - 69, &pos);
	}
	ck_assert(d4_sensor_spool_empty(sp));
	ck_assert_int_eq(sent_release(&ring, 1, 30, &last), 1);
	ck_assert_uint_eq(ring.count, 0);
	ck_assert_int_eq(d4_sensor_spool_confirm(sp, &last), 0);
	ck_assert(d4_sensor_spool_all_confirmed(sp));
	/* plain D4 releases by TLS bytes acknowledged by TCP instead */
	sent_push(&ring, 1000, 0, &last);
	sent_push(&ring, 2000, 0, &last);
	ck_assert_int_eq(sent_release(&ring, 0, 1999, &last), 1);
	ck_assert_uint_eq(ring.count, 1);
	d4_sensor_spool_close(sp);
	rm_tmp();
}
END_TEST

START_TEST(spool_full_drops_oldest)
{
	mk_tmp();
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/spool", tmpdir);
	struct d4_spool *sp;
	const uint64_t max = 256 * 1024;
	ck_assert_int_eq(d4_sensor_spool_open(dir, max, &sp), 0);
	append_n(sp, 0, 1000, 1000); /* ~1 MB into 256 KiB */
	struct d4_spool_stats st;
	d4_sensor_spool_stats(sp, &st);
	ck_assert_uint_le(st.bytes, max);
	ck_assert_uint_gt(st.dropped_frames, 0);
	ck_assert_uint_eq(st.dropped_bytes, st.dropped_frames * 1016);
	/* what is left is the newest data, in order, and nothing vanished uncounted */
	unsigned first = peek_index(sp, 1000), i = first, left = 0;
	ck_assert_uint_eq(first, st.dropped_frames);
	struct d4_spool_pos pos;
	while (!d4_sensor_spool_empty(sp)) {
		ck_assert_uint_eq(peek_index(sp, 1000), i);
		d4_sensor_spool_advance(sp, &pos);
		i++;
		left++;
	}
	ck_assert_uint_eq(i, 1000);
	ck_assert_uint_eq(left + st.dropped_frames, 1000);
	/* a record larger than the whole spool is refused and counted */
	static uint8_t big[300 * 1024];
	ck_assert_int_eq(d4_sensor_spool_append(sp, 1, 1, big, sizeof(big)), D4_ETOOBIG);
	struct d4_spool_stats st2;
	d4_sensor_spool_stats(sp, &st2);
	ck_assert_uint_eq(st2.dropped_frames, st.dropped_frames + 1);
	d4_sensor_spool_close(sp);
	rm_tmp();
}
END_TEST

START_TEST(spool_restart)
{
	mk_tmp();
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/spool", tmpdir);
	struct d4_spool *sp;
	struct d4_spool_pos pos;
	ck_assert_int_eq(d4_sensor_spool_open(dir, 1u << 20, &sp), 0);
	append_n(sp, 0, 100, 1500);
	for (unsigned i = 0; i < 60; i++) {
		ck_assert_uint_eq(peek_index(sp, 1500), i);
		d4_sensor_spool_advance(sp, &pos);
		if (i == 39)
			d4_sensor_spool_confirm(sp, &pos);
	}
	d4_sensor_spool_close(sp);

	/* the second run delivers from the first unconfirmed record (40) */
	ck_assert_int_eq(d4_sensor_spool_open(dir, 1u << 20, &sp), 0);
	append_n(sp, 100, 120, 1500);
	for (unsigned i = 40; i < 120; i++) {
		ck_assert_uint_eq(peek_index(sp, 1500), i);
		d4_sensor_spool_advance(sp, &pos);
	}
	ck_assert(d4_sensor_spool_empty(sp));
	d4_sensor_spool_confirm(sp, &pos);
	d4_sensor_spool_close(sp);

	/* all confirmed: a third run has nothing to send */
	ck_assert_int_eq(d4_sensor_spool_open(dir, 1u << 20, &sp), 0);
	ck_assert(d4_sensor_spool_empty(sp));
	append_n(sp, 200, 205, 1500);
	d4_sensor_spool_close(sp);

	/* a torn record at the end (crash while writing) is cut off */
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "f=$(ls %s/seg-* | sort | tail -n1); printf 'D4S\\001\\377\\377' >> $f", dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(d4_sensor_spool_open(dir, 1u << 20, &sp), 0);
	for (unsigned i = 200; i < 205; i++) {
		ck_assert_uint_eq(peek_index(sp, 1500), i);
		d4_sensor_spool_advance(sp, &pos);
	}
	ck_assert(d4_sensor_spool_empty(sp));
	d4_sensor_spool_close(sp);
	rm_tmp();
}
END_TEST

/* ---- stdout destination ---- */
static uint64_t fixed_clock(void)
{
	return 1700000000u;
}

static const char *KEY = "private key to change";

/* Frame built with d4proto directly, independent of the sensor code. */
static size_t ref_frame(uint8_t type, const uint8_t *p, size_t n, uint8_t *out)
{
	struct d4_hdr h;
	memset(&h, 0, sizeof(h));
	h.version = 1;
	h.type = type;
	ck_assert_int_eq(d4_uuid_parse("d42967c1f7ad464ebbc74464c653d7a6", h.uuid), 0);
	h.timestamp = 1700000000u;
	int len = d4_proto_frame_build(&h, (const uint8_t *)KEY, strlen(KEY), p, n, out, 62 + n);
	ck_assert_int_eq(len, (int)(62 + n));
	return (size_t)len;
}

static uint8_t *run_stdout(const uint8_t *in, size_t inlen, uint8_t type, const char *meta, size_t *outlen)
{
	mk_tmp();
	char ip[512], op[512];
	snprintf(ip, sizeof(ip), "%s/in", tmpdir);
	snprintf(op, sizeof(op), "%s/out", tmpdir);
	FILE *f = fopen(ip, "wb");
	ck_assert_uint_eq(fwrite(in, 1, inlen, f), inlen);
	fclose(f);
	int ifd = open(ip, O_RDONLY), ofd = open(op, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct d4_sensor_run_opts o;
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(d4_uuid_parse("d42967c1f7ad464ebbc74464c653d7a6", o.id.uuid), 0);
	o.id.key = (const uint8_t *)KEY;
	o.id.keylen = strlen(KEY);
	o.id.version = 1;
	o.type = type;
	o.meta = (const uint8_t *)meta;
	o.metalen = meta ? strlen(meta) : 0;
	o.src.kind = D4S_SRC_STDIN;
	o.src.fd = ifd;
	o.src.max_chunk = D4S_DEFAULT_SNAPLEN;
	o.dest = "stdout";
	o.out_fd = ofd;
	o.now = fixed_clock;
	ck_assert_int_eq(d4_sensor_run(&o), D4S_EXIT_OK);
	close(ifd);
	close(ofd);
	struct stat st;
	ck_assert_int_eq(stat(op, &st), 0);
	uint8_t *out = malloc((size_t)st.st_size + 1);
	f = fopen(op, "rb");
	ck_assert_uint_eq(fread(out, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	fclose(f);
	*outlen = (size_t)st.st_size;
	rm_tmp();
	return out;
}

START_TEST(stdout_byte_exact)
{
	static uint8_t in[10000];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 31 + 7);
	size_t outlen;
	uint8_t *out = run_stdout(in, sizeof(in), 1, NULL, &outlen);
	/* reference client: 4096-byte reads, then an empty packet */
	static uint8_t want[20000];
	size_t wl = 0;
	wl += ref_frame(1, in, 4096, want + wl);
	wl += ref_frame(1, in + 4096, 4096, want + wl);
	wl += ref_frame(1, in + 8192, 10000 - 8192, want + wl);
	wl += ref_frame(1, NULL, 0, want + wl);
	ck_assert_uint_eq(outlen, wl);
	ck_assert(memcmp(out, want, wl) == 0);
	/* and the hub side accepts every HMAC */
	size_t off = 0;
	int frames = 0;
	while (off < outlen) {
		struct d4_hdr h;
		ck_assert_int_eq(d4_proto_hdr_decode(out + off, outlen - off, &h), 0);
		ck_assert_int_eq(
		    d4_proto_hmac_verify((const uint8_t *)KEY, strlen(KEY), out + off, out + off + 62, h.size), 0);
		off += 62 + h.size;
		frames++;
	}
	ck_assert_int_eq(frames, 4);
	free(out);
}
END_TEST

START_TEST(stdout_meta_first)
{
	const char *meta = "{\"type\": \"maltrail\"}";
	const uint8_t in[] = "line one\nline two\n";
	size_t outlen;
	uint8_t *out = run_stdout(in, sizeof(in) - 1, D4_TYPE_EXTENDED, meta, &outlen);
	static uint8_t want[1000];
	size_t wl = 0;
	wl += ref_frame(2, (const uint8_t *)meta, strlen(meta), want + wl);
	wl += ref_frame(254, in, sizeof(in) - 1, want + wl);
	wl += ref_frame(254, NULL, 0, want + wl);
	ck_assert_uint_eq(outlen, wl);
	ck_assert(memcmp(out, want, wl) == 0);
	free(out);
}
END_TEST

START_TEST(frame_test_vector)
{
	/* DESIGN.md test vector through the sensor's framing */
	struct d4_sensor_ident id = {.key = (const uint8_t *)KEY, .keylen = strlen(KEY), .version = 1};
	ck_assert_int_eq(d4_uuid_parse("d42967c1f7ad464ebbc74464c653d7a6", id.uuid), 0);
	uint8_t out[128];
	int n = d4_sensor_frame(&id, 1, 0x6b06f4c2, (const uint8_t *)"hello d4\n", 9, out, sizeof(out));
	ck_assert_int_eq(n, 71);
	char hex[200];
	d4_hex_encode(out, 71, hex);
	ck_assert_str_eq(hex,
			 "0101d42967c1f7ad464ebbc74464c653d7a6c2f4066b00000000df265a57a7ef73826cd1221a72e17169bde8cec1"
			 "ce9289cdb3a07b90a4bd17530900000068656c6c6f2064340a");
}
END_TEST

static Suite *sensor_suite(void)
{
	Suite *s = suite_create("sensor");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, config_with_newlines);
	tcase_add_test(tc, config_without_newlines_and_missing);
	tcase_add_test(tc, pcap_file_small_chunks);
	tcase_add_test(tc, pcap_file_default_chunks);
	tcase_add_test(tc, pcap_file_missing);
	tcase_add_test(tc, tls_extract_chunks);
	tcase_add_test(tc, follow_append_truncate_rotate);
	tcase_add_test(tc, spool_order_and_confirm);
	tcase_add_test(tc, spool_ack_release_replay);
	tcase_add_test(tc, sent_replay_count);
	tcase_add_test(tc, spool_full_drops_oldest);
	tcase_add_test(tc, spool_restart);
	tcase_add_test(tc, stdout_byte_exact);
	tcase_add_test(tc, stdout_meta_first);
	tcase_add_test(tc, frame_test_vector);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	d4_log_init("test_sensor", 0, D4_LOG_WARN);
	SRunner *sr = srunner_create(sensor_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
