/* d4-sensor: follow a text file like `tail -F`. Lines are packed into chunks
 * up to the maximum; a chunk ends at a newline unless a single line is longer
 * than the maximum. Truncation (size below our offset) restarts at 0;
 * rotation (another inode at the path) finishes the old file, then reads the
 * new one from its start. */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_util.h"
#include "sensor_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct src_follow {
	struct d4_sensor_src base;
	char *path;
	int fd;
	dev_t dev;
	ino_t ino;
	uint64_t off; /* bytes of the current file read so far */
	unsigned poll_ms;
	size_t cap;
	size_t len;	 /* bytes in buf */
	size_t consumed; /* returned by the previous call, dropped at the next */
	int warned_missing;
	uint8_t *buf;
};

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int reopen(struct src_follow *s, int at_end)
{
	int fd = open(s->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? D4_ENOTFOUND : D4_EIO;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return D4_EIO;
	}
	s->fd = fd;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->off = 0;
	if (at_end) {
		off_t e = lseek(fd, 0, SEEK_END);
		s->off = e > 0 ? (uint64_t)e : 0;
	}
	s->warned_missing = 0;
	return D4_OK;
}

/* Returns the length of the chunk to emit: up to the last newline; the
 * whole buffer if it is full without one or if force is set. */
static size_t cut(struct src_follow *s, int force)
{
	if (s->len == 0)
		return 0;
	if (force || s->len == s->cap) {
		uint8_t *nl = memrchr(s->buf, '\n', s->len);
		return (nl && !force) ? (size_t)(nl - s->buf) + 1 : s->len;
	}
	uint8_t *nl = memrchr(s->buf, '\n', s->len);
	return nl ? (size_t)(nl - s->buf) + 1 : 0;
}

static int ret_chunk(struct src_follow *s, size_t n, const uint8_t **data)
{
	s->consumed = n;
	*data = s->buf;
	return (int)n;
}

static int follow_next(struct d4_sensor_src *base, const uint8_t **data, int timeout_ms)
{
	struct src_follow *s = (struct src_follow *)base;
	if (s->consumed) {
		memmove(s->buf, s->buf + s->consumed, s->len - s->consumed);
		s->len -= s->consumed;
		s->consumed = 0;
	}
	uint64_t deadline = d4_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		if (s->fd < 0) {
			int rc = reopen(s, 0);
			if (rc == D4_EIO)
				return rc;
			if (rc != 0 && !s->warned_missing) {
				d4_info("follow %s: waiting for the file to appear", s->path);
				s->warned_missing = 1;
			}
		}
		if (s->fd >= 0) {
			ssize_t r = read(s->fd, s->buf + s->len, s->cap - s->len);
			if (r < 0 && errno != EINTR) {
				d4_err("follow %s: read: %s", s->path, strerror(errno));
				return D4_EIO;
			}
			if (r > 0) {
				s->len += (size_t)r;
				s->off += (uint64_t)r;
				if (s->len == s->cap)
					return ret_chunk(s, cut(s, 0), data);
				continue;
			}
			if (r == 0) {
				size_t n = cut(s, 0);
				if (n)
					return ret_chunk(s, n, data);
				struct stat st;
				int gone = stat(s->path, &st) != 0;
				if (gone || st.st_ino != s->ino || st.st_dev != s->dev) {
					/* Rotated: the old file is complete, a partial last line
					 * will never be finished. */
					d4_info("follow %s: rotated", s->path);
					close(s->fd);
					s->fd = -1;
					if (s->len)
						return ret_chunk(s, cut(s, 1), data);
					continue;
				}
				if ((uint64_t)st.st_size < s->off) {
					d4_info("follow %s: truncated", s->path);
					lseek(s->fd, 0, SEEK_SET);
					s->off = 0;
					if (s->len)
						return ret_chunk(s, cut(s, 1), data);
					continue;
				}
			}
		}
		uint64_t now = d4_mono_ms();
		if (now >= deadline)
			return 0;
		uint64_t wait = deadline - now;
		sleep_ms(wait < s->poll_ms ? (unsigned)wait : s->poll_ms);
	}
}

static void follow_close(struct d4_sensor_src *base)
{
	struct src_follow *s = (struct src_follow *)base;
	if (s->fd >= 0)
		close(s->fd);
	free(s->path);
	free(s->buf);
	free(s);
}

static const struct src_ops follow_ops = {.next = follow_next, .close = follow_close};

int src_follow_open(const struct d4_sensor_src_opts *o, struct d4_sensor_src **out)
{
	if (!o->path)
		return D4_EINVAL;
	struct src_follow *s = calloc(1, sizeof(*s));
	if (!s)
		return D4_ENOMEM;
	s->base.ops = &follow_ops;
	s->fd = -1;
	s->poll_ms = o->poll_ms ? o->poll_ms : 200;
	s->cap = o->max_chunk ? o->max_chunk : D4S_PCAP_CHUNK;
	if (s->cap > D4S_MAX_PAYLOAD)
		s->cap = D4S_MAX_PAYLOAD;
	s->path = strdup(o->path);
	s->buf = malloc(s->cap);
	if (!s->path || !s->buf) {
		follow_close(&s->base);
		return D4_ENOMEM;
	}
	int rc = reopen(s, !o->from_start);
	if (rc == D4_EIO) {
		d4_err("follow %s: %s", o->path, strerror(errno));
		follow_close(&s->base);
		return rc;
	}
	*out = &s->base;
	return D4_OK;
}
