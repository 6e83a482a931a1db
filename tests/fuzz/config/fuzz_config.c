/* Fuzz target for the hub configuration parser (d4_hubconf_load) and its
 * value parsers. The file is operator input, but a typo or a truncated file
 * must give an error with its line, never a crash. The input is handed over
 * as an anonymous in-memory file (memfd), read through /proc/self/fd. */
#include "d4_error.h"
#include "d4_hubconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the value parsers on the first line of the input */
	char line[64];
	size_t n = 0;
	while (n < size && n < sizeof(line) - 1 && data[n] != '\n')
		n++;
	memcpy(line, data, n);
	line[n] = '\0';
	uint64_t v;
	char host[128];
	uint16_t port;
	(void)d4_hubconf_parse_size(line, &v);
	(void)d4_hubconf_parse_duration(line, &v);
	(void)d4_hubconf_parse_listen(line, host, sizeof(host), &port);

	int fd = memfd_create("d4hub.conf", 0);
	if (fd < 0)
		return 0;
	size_t off = 0;
	while (off < size) {
		ssize_t w = write(fd, data + off, size - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	char path[64], err[512];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct d4_hubconf *c = malloc(sizeof(*c));
	if (c) {
		int rc = d4_hubconf_load(path, c, err, sizeof(err));
		/* a refused file always says why */
		if (rc != D4_OK && err[0] == '\0')
			abort();
		free(c);
	}
	close(fd);
	return 0;
}
