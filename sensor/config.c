/* d4-sensor: the d4-goclient configuration folder. */
#include "d4_sensor.h"
#include "d4_error.h"
#include "d4_log.h"
#include "d4_util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void d4_sensor_config_init(struct d4_sensor_config *c)
{
	memset(c, 0, sizeof(*c));
	c->type = -1;
	c->version = -1;
}

void d4_sensor_config_free(struct d4_sensor_config *c)
{
	free(c->meta);
	c->meta = NULL;
	c->metalen = 0;
	d4_wipe(c->key, sizeof(c->key));
	c->keylen = 0;
}

int d4_sensor_read_trimmed(const char *path, size_t max, uint8_t **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? D4_ENOTFOUND : D4_EIO;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return D4_EIO;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return D4_ETOOBIG;
	}
	size_t n = (size_t)st.st_size;
	uint8_t *buf = malloc(n + 1);
	if (!buf) {
		close(fd);
		return D4_ENOMEM;
	}
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	while (got > 0 && isspace(buf[got - 1]))
		got--;
	buf[got] = 0;
	*out = buf;
	*len = got;
	return D4_OK;
}

/* Reads DIR/name; 1 if present, 0 if missing, negative on error. */
static int read_file(const char *dir, const char *name, size_t max, uint8_t **out, size_t *len)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return D4_ECONFIG;
	int rc = d4_sensor_read_trimmed(path, max, out, len);
	if (rc == D4_ENOTFOUND)
		return 0;
	if (rc < 0) {
		d4_err("config %s: %s", path, d4_strerror(rc));
		return D4_ECONFIG;
	}
	return 1;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	if (!*s || !isdigit((unsigned char)*s))
		return D4_EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return D4_EINVAL;
	*out = v;
	return D4_OK;
}

int d4_sensor_config_load_dir(struct d4_sensor_config *c, const char *dir)
{
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		d4_err("config folder %s: not a readable directory", dir);
		return D4_ECONFIG;
	}
	uint8_t *v;
	size_t n;
	unsigned long u;
	int rc;

	if ((rc = read_file(dir, "uuid", 256, &v, &n)) < 0)
		return rc;
	if (rc && n > 0) {
		int bad = d4_uuid_parse((const char *)v, c->uuid) != 0;
		free(v);
		if (bad) {
			d4_err("config %s/uuid: not a uuid", dir);
			return D4_ECONFIG;
		}
		c->has_uuid = 1;
	} else if (rc) {
		free(v);
	}

	if ((rc = read_file(dir, "key", D4S_KEY_MAX, &v, &n)) < 0)
		return rc;
	if (rc) {
		memcpy(c->key, v, n);
		c->keylen = n;
		c->has_key = n > 0;
		d4_wipe(v, n);
		free(v);
	}

	if ((rc = read_file(dir, "type", 64, &v, &n)) < 0)
		return rc;
	if (rc && n > 0) {
		int bad = parse_uint((const char *)v, 255, &u) != 0;
		free(v);
		if (bad) {
			d4_err("config %s/type: not a number 0..255", dir);
			return D4_ECONFIG;
		}
		c->type = (int)u;
	} else if (rc) {
		free(v);
	}

	if ((rc = read_file(dir, "version", 64, &v, &n)) < 0)
		return rc;
	if (rc && n > 0) {
		int bad = parse_uint((const char *)v, 255, &u) != 0;
		free(v);
		if (bad) {
			d4_err("config %s/version: not a number 0..255", dir);
			return D4_ECONFIG;
		}
		c->version = (int)u;
	} else if (rc) {
		free(v);
	}

	if ((rc = read_file(dir, "snaplen", 64, &v, &n)) < 0)
		return rc;
	if (rc && n > 0) {
		int bad = parse_uint((const char *)v, D4S_MAX_PAYLOAD, &u) != 0 || u == 0;
		free(v);
		if (bad) {
			d4_err("config %s/snaplen: not a number 1..%u", dir, D4S_MAX_PAYLOAD);
			return D4_ECONFIG;
		}
		c->snaplen = (unsigned)u;
	} else if (rc) {
		free(v);
	}

	if ((rc = read_file(dir, "destination", sizeof(c->destination) - 1, &v, &n)) < 0)
		return rc;
	if (rc) {
		memcpy(c->destination, v, n + 1);
		free(v);
	}

	if ((rc = read_file(dir, "source", sizeof(c->source) - 1, &v, &n)) < 0)
		return rc;
	if (rc) {
		memcpy(c->source, v, n + 1);
		free(v);
	}

	if ((rc = read_file(dir, "metaheader.json", D4S_MAX_PAYLOAD, &v, &n)) < 0)
		return rc;
	if (rc) {
		free(c->meta);
		c->meta = v;
		c->metalen = n;
	}

	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/rootCA.crt", dir) < (int)sizeof(path) && access(path, R_OK) == 0)
		d4_strlcpy(c->ca, path, sizeof(c->ca));
	return D4_OK;
}
