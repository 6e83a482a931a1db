/* d4-sensor: source dispatch. */
#include "d4_error.h"
#include "sensor_internal.h"

#include <errno.h>
#include <poll.h>

int src_wait_fd(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r = poll(&p, 1, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : D4_EIO;
	return r > 0;
}

int d4_sensor_src_open(const struct d4_sensor_src_opts *o, struct d4_sensor_src **out)
{
	switch (o->kind) {
	case D4S_SRC_STDIN: return src_stdin_open(o, out);
	case D4S_SRC_PCAP_FILE:
	case D4S_SRC_LIVE: return o->extract_tls ? src_tls_open(o, out) : src_pcap_open(o, out);
	case D4S_SRC_FOLLOW: return src_follow_open(o, out);
	}
	return D4_EINVAL;
}

int d4_sensor_src_next(struct d4_sensor_src *s, const uint8_t **data, int timeout_ms)
{
	return s->ops->next(s, data, timeout_ms);
}

uint64_t d4_sensor_src_drops(struct d4_sensor_src *s)
{
	return s->ops->drops ? s->ops->drops(s) : 0;
}

void d4_sensor_src_close(struct d4_sensor_src *s)
{
	if (s)
		s->ops->close(s);
}
