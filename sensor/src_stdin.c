/* d4-sensor: stdin source. One read() per chunk like the reference C client,
 * so that stdout output is byte-identical for the same read boundaries. */
#include "d4_error.h"
#include "sensor_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

struct src_stdin {
	struct d4_sensor_src base;
	int fd;
	size_t cap;
	uint8_t buf[];
};

static int stdin_next(struct d4_sensor_src *s, const uint8_t **data, int timeout_ms)
{
	struct src_stdin *st = (struct src_stdin *)s;
	int w = src_wait_fd(st->fd, timeout_ms);
	if (w <= 0)
		return w;
	ssize_t r = read(st->fd, st->buf, st->cap);
	if (r < 0)
		return (errno == EINTR || errno == EAGAIN) ? 0 : D4_EIO;
	if (r == 0)
		return D4_ECLOSED;
	*data = st->buf;
	return (int)r;
}

static void stdin_close(struct d4_sensor_src *s)
{
	free(s);
}

static const struct src_ops stdin_ops = {.next = stdin_next, .close = stdin_close};

int src_stdin_open(const struct d4_sensor_src_opts *o, struct d4_sensor_src **out)
{
	size_t cap = o->max_chunk ? o->max_chunk : D4S_DEFAULT_SNAPLEN;
	if (cap > D4S_MAX_PAYLOAD)
		return D4_EINVAL;
	struct src_stdin *st = malloc(sizeof(*st) + cap);
	if (!st)
		return D4_ENOMEM;
	st->base.ops = &stdin_ops;
	st->fd = o->fd;
	st->cap = cap;
	*out = &st->base;
	return D4_OK;
}
