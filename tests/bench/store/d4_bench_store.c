/* d4-bench-store — the store's writer alone, without TLS or ingest: posts
 * pre-built frames of one session as fast as the queue takes them and waits
 * until everything is committed (durable unless --nosync). Separates "the
 * store is the limit" from "the ingest is the limit" in the ingest bench.
 *
 * Output (stdout, one line, key=value):
 *   d4-bench-store: frames=N payload=P bytes=B secs=S frames_s=F mb_s=M cpu_s=C commits=K */
#include "d4_error.h"
#include "d4_store.h"
#include "d4_util.h"

#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_now(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: d4-bench-store --dir DIR [--size BYTES] [--frames N] [--map-size GIB] [--nosync]\n"
		   "  DIR must not hold a store yet (a fresh one is created)\n");
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	unsigned long size = 4096, frames = 100000, map_gib = 16;
	int nosync = 0;
	static const struct option lo[] = {
	    {"dir", required_argument, NULL, 'D'},
	    {"size", required_argument, NULL, 's'},
	    {"frames", required_argument, NULL, 'n'},
	    {"map-size", required_argument, NULL, 'm'},
	    {"nosync", no_argument, NULL, 'N'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'D': dir = optarg; break;
		case 's': size = strtoul(optarg, NULL, 10); break;
		case 'n': frames = strtoul(optarg, NULL, 10); break;
		case 'm': map_gib = strtoul(optarg, NULL, 10); break;
		case 'N': nosync = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!dir || size == 0 || size > 16ul * 1024 * 1024 || frames == 0 || map_gib == 0) {
		usage(stderr);
		return 2;
	}
	struct d4_store_opts so = {.path = dir, .map_size = (uint64_t)map_gib << 30, .no_sync = nosync};
	struct d4_store *s = NULL;
	int rc = d4_store_open(&so, &s);
	if (rc) {
		fprintf(stderr, "d4-bench-store: open %s: %s\n", dir, d4_strerror(rc));
		return 1;
	}
	struct d4_sensor sn;
	memset(&sn, 0, sizeof(sn));
	sn.keylen = 8;
	memcpy(sn.key, "benchkey", 8);
	sn.status = D4_SENSOR_APPROVED;
	if (d4_uuid_gen_v4(sn.uuid) || d4_store_sensor_put(s, &sn) || d4_store_writer_start(s)) {
		fprintf(stderr, "d4-bench-store: setup failed\n");
		d4_store_close(s);
		return 1;
	}
	uint8_t *payload = malloc(size);
	if (!payload) {
		d4_store_close(s);
		return 1;
	}
	for (unsigned long i = 0; i < size; i++)
		payload[i] = (uint8_t)(i * 131u + 7u);
	struct d4_session_open op = {.session = d4_store_session_id_new(s), .type = 1, .when = d4_now_s()};
	memcpy(op.uuid, sn.uuid, 16);
	op.addr[10] = op.addr[11] = 0xff;
	op.addr[12] = 127;
	op.addr[15] = 1;
	struct d4_frame_rec rec = {.session = op.session, .type = 1, .version = 1, .tlp = 2, .size = (uint32_t)size};
	memcpy(rec.uuid, sn.uuid, 16);
	int wfd = d4_store_writer_wakeup_fd(s);

	double c0 = cpu_now(), t0 = mono_now();
	while ((rc = d4_store_post_session_open(s, &op)) == D4_EAGAIN)
		usleep(1000);
	for (unsigned long i = 0; i < frames && rc == 0;) {
		rec.hdr_ts = d4_now_s();
		rec.recv_ms = d4_now_ms();
		memcpy(payload, &i, sizeof(i)); /* distinct payloads */
		rc = d4_store_post_frame(s, &rec, payload);
		if (rc == D4_EAGAIN) {
			struct pollfd pfd = {.fd = wfd, .events = POLLIN};
			poll(&pfd, 1, 100);
			uint64_t junk;
			if (wfd >= 0 && (pfd.revents & POLLIN))
				(void)!read(wfd, &junk, sizeof(junk));
			rc = 0;
			continue;
		}
		i++;
	}
	if (rc == 0)
		rc = d4_store_post_session_close(s, op.session, d4_now_s(), "bench done");
	if (rc == 0)
		rc = d4_store_writer_sync(s, 600000);
	double secs = mono_now() - t0, cpu = cpu_now() - c0;
	struct d4_store_status st;
	d4_store_status_get(s, &st);
	if (rc) {
		fprintf(stderr, "d4-bench-store: %s%s%s\n", d4_strerror(rc), st.paused ? ": " : "",
			st.paused ? st.pause_reason : "");
	} else {
		double bytes = (double)frames * (double)size;
		printf("d4-bench-store: frames=%lu payload=%lu bytes=%.0f secs=%.3f frames_s=%.0f mb_s=%.1f cpu_s=%.2f "
		       "commits=%llu sync=%s map_used=%llu\n",
		       frames, size, bytes, secs, (double)frames / secs, bytes / 1e6 / secs, cpu,
		       (unsigned long long)st.commits, nosync ? "no" : "yes", (unsigned long long)st.map_used);
	}
	free(payload);
	d4_store_close(s);
	return rc ? 1 : 0;
}
