/* Micro-benchmark (not a test): frames/s through d4_store_post_frame + the
 * writer's durable commits (fsync per commit, production settings).
 * usage: store_bench [DIR] [SECONDS]   (DIR default: a fresh mkdtemp dir, removed afterwards) */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_store.h"
#include "d4_util.h"

#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int run(const char *dir, uint32_t size, double seconds, int sessions)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = dir;
	o.map_size = 16ull << 30;
	struct d4_store *s;
	int rc = d4_store_open(&o, &s);
	if (rc || (rc = d4_store_writer_start(s))) {
		fprintf(stderr, "open: %s\n", d4_strerror(rc));
		return 1;
	}
	uint8_t *payload = malloc(size);
	if (!payload)
		return 1;
	for (uint32_t i = 0; i < size; i++)
		payload[i] = (uint8_t)(i * 7);
	uint64_t sess[64];
	struct d4_frame_rec r;
	memset(&r, 0, sizeof(r));
	d4_uuid_gen_v4(r.uuid);
	for (int i = 0; i < sessions; i++)
		sess[i] = d4_store_session_id_new(s);
	r.type = 1;
	r.version = 1;
	r.tlp = 4;
	r.size = size;
	int efd = d4_store_writer_wakeup_fd(s);
	uint64_t t0 = d4_mono_ms(), n = 0, stalls = 0;
	uint64_t end = t0 + (uint64_t)(seconds * 1000);
	while (d4_mono_ms() < end) {
		for (int k = 0; k < 64; k++) {
			r.session = sess[n % (uint64_t)sessions];
			r.recv_ms = d4_now_ms();
			r.hdr_ts = r.recv_ms / 1000;
			rc = d4_store_post_frame(s, &r, payload);
			if (rc == D4_EAGAIN) {
				struct pollfd pfd = {.fd = efd, .events = POLLIN};
				uint64_t v;
				stalls++;
				if (poll(&pfd, 1, 100) > 0 && read(efd, &v, sizeof(v)) < 0)
					perror("read");
				continue;
			}
			if (rc) {
				fprintf(stderr, "post: %s\n", d4_strerror(rc));
				return 1;
			}
			n++;
		}
	}
	rc = d4_store_writer_sync(s, 60000);
	uint64_t t1 = d4_mono_ms();
	struct d4_store_status st;
	d4_store_status_get(s, &st);
	double secs = (double)(t1 - t0) / 1000.0;
	printf("%6u B frames, %d session(s): %8.0f frames/s  %7.1f MB/s  (%llu frames, %llu commits, %llu queue-full "
	       "waits, sync %s, %.2f s)\n",
	       size, sessions, (double)n / secs, (double)n * size / secs / 1e6, (unsigned long long)n,
	       (unsigned long long)st.commits, (unsigned long long)stalls, rc ? d4_strerror(rc) : "ok", secs);
	free(payload);
	d4_store_close(s);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	char tmp[] = "/tmp/d4store-bench-XXXXXX";
	const char *base = argc > 1 ? argv[1] : NULL;
	double seconds = argc > 2 ? atof(argv[2]) : 4.0;
	enum d4_log_level level = D4_LOG_WARN;
	if (getenv("D4_BENCH_LOG"))
		d4_log_level_parse(getenv("D4_BENCH_LOG"), &level);
	d4_log_init("store_bench", 0, level);
	if (!base) {
		if (!mkdtemp(tmp)) {
			perror("mkdtemp");
			return 1;
		}
		base = tmp;
	}
	static const uint32_t sizes[] = {4096, 65536};
	static const int nsess[] = {1, 16};
	int rc = 0;
	for (unsigned i = 0; i < 2; i++)
		for (unsigned j = 0; j < 2; j++) {
			char dir[512];
			snprintf(dir, sizeof(dir), "%s/b%u-%u", base, i, j);
			rc |= run(dir, sizes[i], seconds, nsess[j]);
			nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
		}
	if (base == tmp)
		rmdir(tmp);
	return rc;
}
