/* d4-craft — a scripted D4 test client. It connects over TLS to a hub and
 * sends exactly the bytes a script describes, including malformed ones the
 * real sensor never produces (bad HMAC, lying size field, type changes...),
 * then checks whether the server closed the connection. It drives the
 * integration tests of the hub's rejection paths.
 *
 * usage: d4-craft [--ca FILE | --insecure] [--bind ADDR] [--server-name NAME]
 *                 [-q] HOST:PORT [SCRIPT]        (SCRIPT default: stdin)
 *
 * Script, one command per line ('#' starts a comment):
 *   set [uuid=HEX32] [key=TEXT (escapes as text:)] [keyhex=HEX] [type=N] [version=N]
 *   frame [type=N] [uuid=HEX32] [key=TEXT|keyhex=HEX] [size=N]
 *         [payload=hex:HEX|text:TEXT] [payloadfile=PATH] [badhmac] [version=N]
 *         [ts=N|now|now+N|now-N] [declared_size=N] [headeronly] [count=N]
 *       Payload: given bytes, else size=N filler bytes ('a'..'z'). The header's
 *       size field is the payload length unless declared_size is given; the
 *       HMAC is computed over the header as sent. text: understands \n \t \s
 *       (space) \\ \xHH.
 *   meta JSON          one type-2 frame whose payload is the rest of the line
 *   raw HEX            raw bytes
 *   split N [MS]       later writes go out in N-byte pieces (0 = whole), with
 *                      MS milliseconds between pieces
 *   sleep MS
 *   wait-file PATH [S] wait up to S seconds (default 60) until PATH exists
 *                      (the test says when to go on: no guessed sleep); exit 1
 *                      if it does not
 *   expect-close [S]   wait up to S seconds (default 5) for the server to close;
 *                      exit 1 if it does not
 *   expect-open [S]    the connection must stay open for S seconds (default 1)
 *   close              shut the connection down ourselves
 *   reset              abort the connection: TCP RST (SO_LINGER 0), no close_notify
 *   wait-file PATH [S] wait up to S seconds (default 30) until PATH exists (the
 *                      test says when); exit 1 if it does not
 * Exit: 0 script done as expected, 1 expectation failed or unexpected close,
 * 2 usage, script or connection error. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "d4_error.h"
#include "d4_proto.h"
#include "d4_util.h"

#define LINE_MAX_LEN 1100000
#define KEY_MAX	     256

struct craft {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	int closed;	 /* the peer closed (or reset) the connection */
	int closed_seen; /* an expect-close acknowledged it */
	int quiet;
	size_t split; /* 0: whole writes */
	unsigned split_ms;
	uint64_t t0;
	uint64_t sent; /* bytes written */
	/* defaults for frames */
	uint8_t uuid[16];
	uint8_t key[KEY_MAX];
	size_t keylen;
	unsigned type;
	unsigned version;
};

static void say(struct craft *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct craft *c, const char *fmt, ...)
{
	va_list ap;

	if (c->quiet)
		return;
	printf("[%6llu ms] ", (unsigned long long)(d4_mono_ms() - c->t0));
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void ssl_errors(const char *what)
{
	unsigned long e;
	char buf[256];

	fprintf(stderr, "d4-craft: %s\n", what);
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		fprintf(stderr, "  %s\n", buf);
	}
}

/* Marks the connection closed by the peer; writes after that are skipped. */
static void peer_closed(struct craft *c, const char *how)
{
	if (!c->closed)
		say(c, "connection closed by server (%s) after %llu bytes sent", how, (unsigned long long)c->sent);
	c->closed = 1;
	ERR_clear_error();
}

static int write_all(struct craft *c, const uint8_t *p, size_t n)
{
	size_t piece = c->split ? c->split : n;

	while (n > 0 && !c->closed) {
		size_t k = n < piece ? n : piece;
		int r = SSL_write(c->ssl, p, (int)(k > 1 << 30 ? 1 << 30 : k));

		if (r <= 0) {
			int e = SSL_get_error(c->ssl, r);

			peer_closed(c, e == SSL_ERROR_SYSCALL ? strerror(errno) : "TLS error on write");
			return -1;
		}
		p += r;
		n -= (size_t)r;
		c->sent += (uint64_t)r;
		if (c->split && c->split_ms && n > 0)
			sleep_ms(c->split_ms);
	}
	return c->closed ? -1 : 0;
}

/* Waits up to ms for the peer to close. Returns 1 if closed, 0 if still
 * open when the time is up. Anything the server sends is discarded (a D4
 * server never writes). */
static int wait_close(struct craft *c, uint64_t ms)
{
	uint64_t end = d4_mono_ms() + ms;
	int fl = fcntl(c->fd, F_GETFL);
	uint8_t buf[4096];

	if (c->closed)
		return 1;
	(void)fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
	for (;;) {
		int r = SSL_read(c->ssl, buf, sizeof(buf));
		uint64_t now;

		if (r > 0)
			continue;
		switch (SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE: break;
		case SSL_ERROR_ZERO_RETURN: peer_closed(c, "TLS close_notify"); goto out;
		case SSL_ERROR_SYSCALL: peer_closed(c, errno ? strerror(errno) : "EOF"); goto out;
		default: peer_closed(c, "TLS error"); goto out;
		}
		now = d4_mono_ms();
		if (now >= end)
			break;
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		(void)poll(&pfd, 1, (int)(end - now));
	}
out:
	(void)fcntl(c->fd, F_SETFL, fl);
	return c->closed;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Decodes "text:" escapes in place semantics into out; returns length or -1. */
static long unescape(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (*s) {
		uint8_t ch = (uint8_t)*s++;

		if (ch == '\\') {
			switch (*s) {
			case 'n':
				ch = '\n';
				s++;
				break;
			case 't':
				ch = '\t';
				s++;
				break;
			case 'r':
				ch = '\r';
				s++;
				break;
			case 's':
				ch = ' ';
				s++;
				break;
			case '0':
				ch = 0;
				s++;
				break;
			case '\\':
				ch = '\\';
				s++;
				break;
			case 'x':
				if (d4_hex_decode(s + 1, 2, &ch, 1) != 0)
					return -1;
				s += 3;
				break;
			default: return -1;
			}
		}
		if (n >= cap)
			return -1;
		out[n++] = ch;
	}
	return (long)n;
}

static long hex_bytes(const char *s, uint8_t *out, size_t cap)
{
	size_t len = strlen(s);

	if (len % 2 || len / 2 > cap || d4_hex_decode(s, len, out, len / 2) != 0)
		return -1;
	return (long)(len / 2);
}

static long read_file(const char *path, uint8_t *out, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return -1;
	n = fread(out, 1, cap, f);
	if (ferror(f) || (n == cap && fgetc(f) != EOF)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	return (long)n;
}

static int parse_uuid(const char *s, uint8_t out[16])
{
	char hex[33];
	size_t n = 0;

	/* no v4 check on purpose: the tests send invalid uuids */
	for (; *s && n < 32; s++)
		if (*s != '-')
			hex[n++] = *s;
	if (n != 32 || *s)
		return -1;
	return d4_hex_decode(hex, 32, out, 16);
}

static int set_key(struct craft *c, const char *k, const char *v, uint8_t *key, size_t *keylen)
{
	long n;

	if (strcmp(k, "key") == 0) {
		n = unescape(v, key, KEY_MAX);
		if (n < 0)
			return -1;
	} else {
		n = hex_bytes(v, key, KEY_MAX);
		if (n < 0)
			return -1;
	}
	(void)c;
	*keylen = (size_t)n;
	return 0;
}

static uint8_t g_payload[LINE_MAX_LEN + D4_DEFAULT_MAX_PAYLOAD];
static uint8_t g_frame[D4_HDR_LEN + sizeof(g_payload)];

static int send_frame(struct craft *c, unsigned type, const uint8_t uuid[16], const uint8_t *key, size_t keylen,
		      unsigned version, uint64_t ts, const uint8_t *payload, size_t plen, long long declared,
		      int badhmac, int headeronly)
{
	struct d4_hdr h;
	uint8_t *hdr = g_frame;
	int rc;

	memset(&h, 0, sizeof(h));
	h.version = (uint8_t)version;
	h.type = (uint8_t)type;
	memcpy(h.uuid, uuid, 16);
	h.timestamp = ts;
	h.size = declared >= 0 ? (uint32_t)declared : (uint32_t)plen;
	d4_proto_hdr_encode(&h, hdr);
	rc = d4_proto_hmac(key, keylen, hdr, payload, plen, h.hmac);
	if (rc != 0) {
		fprintf(stderr, "d4-craft: hmac: %s\n", d4_strerror(rc));
		return -2;
	}
	if (badhmac)
		h.hmac[0] ^= 0x01;
	memcpy(hdr + D4_HMAC_OFF, h.hmac, D4_HMAC_LEN);
	if (!headeronly && plen)
		memcpy(hdr + D4_HDR_LEN, payload, plen);
	if (c->closed) {
		say(c, "skip frame type=%u size=%zu: connection closed", type, plen);
		return -1;
	}
	rc = write_all(c, hdr, D4_HDR_LEN + (headeronly ? 0 : plen));
	say(c, "%s frame v%u type=%u size=%zu declared=%u%s%s", rc == 0 ? "sent" : "FAILED", version, type, plen,
	    h.size, badhmac ? " badhmac" : "", headeronly ? " headeronly" : "");
	return rc;
}

static int cmd_frame(struct craft *c, char *args, int lineno)
{
	unsigned type = c->type, version = c->version;
	uint8_t uuid[16], key[KEY_MAX];
	size_t keylen = c->keylen;
	long plen = -1;
	unsigned long long size = 0, count = 1, v;
	long long declared = -1;
	uint64_t ts = d4_now_s();
	int badhmac = 0, headeronly = 0;
	char *tok, *save = NULL;

	memcpy(uuid, c->uuid, 16);
	memcpy(key, c->key, c->keylen);
	for (tok = strtok_r(args, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(tok, '=');
		const char *val = eq ? eq + 1 : "";

		if (eq)
			*eq = 0;
		if (strcmp(tok, "type") == 0 && parse_uint(val, 255, &v) == 0) {
			type = (unsigned)v;
		} else if (strcmp(tok, "version") == 0 && parse_uint(val, 255, &v) == 0) {
			version = (unsigned)v;
		} else if (strcmp(tok, "uuid") == 0 && parse_uuid(val, uuid) == 0) {
		} else if ((strcmp(tok, "key") == 0 || strcmp(tok, "keyhex") == 0) &&
			   set_key(c, tok, val, key, &keylen) == 0) {
		} else if (strcmp(tok, "size") == 0 && parse_uint(val, sizeof(g_payload), &size) == 0) {
		} else if (strcmp(tok, "count") == 0 && parse_uint(val, 1000000, &count) == 0) {
		} else if (strcmp(tok, "declared_size") == 0 && parse_uint(val, UINT32_MAX, &v) == 0) {
			declared = (long long)v;
		} else if (strcmp(tok, "ts") == 0) {
			if (strncmp(val, "now", 3) == 0 && (val[3] == '+' || val[3] == '-') &&
			    parse_uint(val + 4, 1ull << 40, &v) == 0)
				ts = val[3] == '+' ? d4_now_s() + v : d4_now_s() - v;
			else if (strcmp(val, "now") == 0)
				ts = d4_now_s();
			else if (parse_uint(val, UINT64_MAX, &v) == 0)
				ts = v;
			else
				goto bad;
		} else if (strcmp(tok, "payload") == 0 && strncmp(val, "hex:", 4) == 0) {
			if ((plen = hex_bytes(val + 4, g_payload, sizeof(g_payload))) < 0)
				goto bad;
		} else if (strcmp(tok, "payload") == 0 && strncmp(val, "text:", 5) == 0) {
			if ((plen = unescape(val + 5, g_payload, sizeof(g_payload))) < 0)
				goto bad;
		} else if (strcmp(tok, "payloadfile") == 0) {
			if ((plen = read_file(val, g_payload, sizeof(g_payload))) < 0) {
				fprintf(stderr, "d4-craft: line %d: cannot read %s\n", lineno, val);
				return -2;
			}
		} else if (strcmp(tok, "badhmac") == 0 && !eq) {
			badhmac = 1;
		} else if (strcmp(tok, "headeronly") == 0 && !eq) {
			headeronly = 1;
		} else {
			if (eq)
				*eq = '=';
			goto bad;
		}
		continue;
	bad:
		fprintf(stderr, "d4-craft: line %d: bad frame argument '%s'\n", lineno, tok);
		return -2;
	}
	if (plen < 0) {
		for (size_t i = 0; i < size; i++)
			g_payload[i] = (uint8_t)('a' + i % 26);
		plen = (long)size;
	}
	for (unsigned long long i = 0; i < count; i++) {
		int rc = send_frame(c, type, uuid, key, keylen, version, ts, g_payload, (size_t)plen, declared, badhmac,
				    headeronly);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int cmd_set(struct craft *c, char *args, int lineno)
{
	char *tok, *save = NULL;
	unsigned long long v;

	for (tok = strtok_r(args, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq)
			goto bad;
		*eq = 0;
		if (strcmp(tok, "uuid") == 0 && parse_uuid(eq + 1, c->uuid) == 0)
			continue;
		if ((strcmp(tok, "key") == 0 || strcmp(tok, "keyhex") == 0) &&
		    set_key(c, tok, eq + 1, c->key, &c->keylen) == 0)
			continue;
		if (strcmp(tok, "type") == 0 && parse_uint(eq + 1, 255, &v) == 0) {
			c->type = (unsigned)v;
			continue;
		}
		if (strcmp(tok, "version") == 0 && parse_uint(eq + 1, 255, &v) == 0) {
			c->version = (unsigned)v;
			continue;
		}
		*eq = '=';
	bad:
		fprintf(stderr, "d4-craft: line %d: bad set argument '%s'\n", lineno, tok);
		return -2;
	}
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
		*--e = 0;
	return s;
}

static int seconds_arg(const char *s, double def, uint64_t *ms)
{
	char *end;
	double d = def;

	if (*s) {
		d = strtod(s, &end);
		if (*end || d < 0 || d > 3600)
			return -1;
	}
	*ms = (uint64_t)(d * 1000.0);
	return 0;
}

/* Returns 0 to go on, 1 when an expectation failed, 2 on a script error. */
static int run_line(struct craft *c, char *line, int lineno)
{
	char *cmd = trim(line), *args;
	unsigned long long v, v2;
	uint64_t ms;

	if (!*cmd || *cmd == '#')
		return 0;
	args = cmd + strcspn(cmd, " \t");
	if (*args)
		*args++ = 0;
	args = trim(args);

	if (strcmp(cmd, "frame") == 0) {
		return cmd_frame(c, args, lineno) == -2 ? 2 : 0;
	} else if (strcmp(cmd, "set") == 0) {
		return cmd_set(c, args, lineno) ? 2 : 0;
	} else if (strcmp(cmd, "meta") == 0) {
		if (c->closed) {
			say(c, "skip meta: connection closed");
			return 0;
		}
		if (send_frame(c, D4_TYPE_META, c->uuid, c->key, c->keylen, c->version, d4_now_s(),
			       (const uint8_t *)args, strlen(args), -1, 0, 0) == -2)
			return 2;
		say(c, "meta %s", args);
		return 0;
	} else if (strcmp(cmd, "raw") == 0) {
		long n = hex_bytes(args, g_frame, sizeof(g_frame));

		if (n < 0) {
			fprintf(stderr, "d4-craft: line %d: bad hex\n", lineno);
			return 2;
		}
		if (!c->closed) {
			int rc = write_all(c, g_frame, (size_t)n);

			say(c, "%s %ld raw bytes", rc == 0 ? "sent" : "FAILED", n);
		}
		return 0;
	} else if (strcmp(cmd, "split") == 0) {
		char *sp = args + strcspn(args, " \t");
		if (*sp)
			*sp++ = 0;
		sp = trim(sp);
		if (parse_uint(args, 1 << 30, &v) != 0 || (*sp && parse_uint(sp, 60000, &v2) != 0)) {
			fprintf(stderr, "d4-craft: line %d: split N [MS]\n", lineno);
			return 2;
		}
		c->split = (size_t)v;
		c->split_ms = *sp ? (unsigned)v2 : 0;
		say(c, "split writes into %zu-byte pieces, %u ms apart", c->split, c->split_ms);
		return 0;
	} else if (strcmp(cmd, "sleep") == 0) {
		if (parse_uint(args, 600000, &v) != 0) {
			fprintf(stderr, "d4-craft: line %d: sleep MS\n", lineno);
			return 2;
		}
		sleep_ms((unsigned)v);
		return 0;
	} else if (strcmp(cmd, "wait-file") == 0) {
		char path[4096];
		const char *sp = strchr(args, ' ');
		size_t n = sp ? (size_t)(sp - args) : strlen(args);
		if (n == 0 || n >= sizeof(path) || seconds_arg(sp ? sp + 1 : "", 60, &ms) != 0) {
			fprintf(stderr, "d4-craft: line %d: wait-file PATH [SECONDS]\n", lineno);
			return 2;
		}
		memcpy(path, args, n);
		path[n] = 0;
		for (unsigned waited = 0; access(path, F_OK) != 0; waited += 20) {
			if (waited >= ms) {
				say(c, "EXPECTATION FAILED: %s did not appear within %.1f s", path,
				    (double)ms / 1000.0);
				return 1;
			}
			sleep_ms(20);
		}
		return 0;
	} else if (strcmp(cmd, "expect-close") == 0) {
		if (seconds_arg(args, 5, &ms) != 0) {
			fprintf(stderr, "d4-craft: line %d: expect-close [SECONDS]\n", lineno);
			return 2;
		}
		if (!wait_close(c, ms)) {
			say(c, "EXPECTATION FAILED: server did not close within %.1f s", (double)ms / 1000.0);
			return 1;
		}
		c->closed_seen = 1;
		say(c, "closed as expected");
		return 0;
	} else if (strcmp(cmd, "expect-open") == 0) {
		if (seconds_arg(args, 1, &ms) != 0) {
			fprintf(stderr, "d4-craft: line %d: expect-open [SECONDS]\n", lineno);
			return 2;
		}
		if (wait_close(c, ms)) {
			say(c, "EXPECTATION FAILED: server closed the connection");
			return 1;
		}
		say(c, "still open after %.1f s as expected", (double)ms / 1000.0);
		return 0;
	} else if (strcmp(cmd, "wait-file") == 0) {
		char *path = args, *secs = args + strcspn(args, " \t");
		if (*secs)
			*secs++ = 0;
		if (!*path || seconds_arg(trim(secs), 30, &ms) != 0) {
			fprintf(stderr, "d4-craft: line %d: wait-file PATH [SECONDS]\n", lineno);
			return 2;
		}
		uint64_t until = d4_mono_ms() + ms;
		while (access(path, F_OK) != 0) {
			if (d4_mono_ms() >= until) {
				say(c, "EXPECTATION FAILED: %s did not appear", path);
				return 1;
			}
			usleep(20000);
		}
		say(c, "%s appeared", path);
		return 0;
	} else if (strcmp(cmd, "reset") == 0) {
		if (!c->closed) {
			struct linger lg = {1, 0};
			setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(c->fd);
			c->fd = -1;
			SSL_free(c->ssl);
			c->ssl = NULL;
			c->closed = c->closed_seen = 1;
			say(c, "reset by us");
		}
		return 0;
	} else if (strcmp(cmd, "close") == 0) {
		if (!c->closed) {
			(void)SSL_shutdown(c->ssl);
			c->closed = c->closed_seen = 1;
			say(c, "closed by us");
		}
		return 0;
	}
	fprintf(stderr, "d4-craft: line %d: unknown command '%s'\n", lineno, cmd);
	return 2;
}

static int split_hostport(const char *dest, char *host, size_t hsize, char *port, size_t psize)
{
	const char *colon;
	size_t hl;

	if (dest[0] == '[') {
		const char *rb = strchr(dest, ']');
		if (!rb || rb[1] != ':')
			return -1;
		hl = (size_t)(rb - dest - 1);
		colon = rb + 1;
		dest++;
	} else {
		colon = strrchr(dest, ':');
		if (!colon)
			return -1;
		hl = (size_t)(colon - dest);
	}
	if (hl == 0 || hl >= hsize || strlen(colon + 1) == 0 || strlen(colon + 1) >= psize)
		return -1;
	memcpy(host, dest, hl);
	host[hl] = 0;
	strcpy(port, colon + 1);
	return 0;
}

/* Returns 0 connected, 1 the peer closed during the handshake, 2 error. */
static int connect_tls(struct craft *c, const char *dest, const char *ca, int insecure, const char *bind_addr,
		       const char *server_name)
{
	char host[256], port[16];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *ai = NULL;
	int one = 1, r;
	long vr;

	if (split_hostport(dest, host, sizeof(host), port, sizeof(port)) != 0) {
		fprintf(stderr, "d4-craft: bad destination '%s' (HOST:PORT)\n", dest);
		return 2;
	}
	if ((r = getaddrinfo(host, port, &hints, &ai)) != 0) {
		fprintf(stderr, "d4-craft: %s: %s\n", dest, gai_strerror(r));
		return 2;
	}
	c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		perror("d4-craft: socket");
		freeaddrinfo(ai);
		return 2;
	}
	if (bind_addr) {
		struct addrinfo *bi = NULL;
		struct addrinfo bh = {
		    .ai_family = ai->ai_family, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};

		if (getaddrinfo(bind_addr, "0", &bh, &bi) != 0 || bind(c->fd, bi->ai_addr, bi->ai_addrlen) != 0) {
			fprintf(stderr, "d4-craft: cannot bind %s: %s\n", bind_addr, strerror(errno));
			if (bi)
				freeaddrinfo(bi);
			freeaddrinfo(ai);
			return 2;
		}
		freeaddrinfo(bi);
	}
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		fprintf(stderr, "d4-craft: connect %s: %s\n", dest, strerror(errno));
		freeaddrinfo(ai);
		return 2;
	}
	freeaddrinfo(ai);
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	c->ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ctx) {
		ssl_errors("SSL_CTX_new");
		return 2;
	}
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	if (insecure) {
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
	} else {
		if (!ca || SSL_CTX_load_verify_locations(c->ctx, ca, NULL) != 1) {
			ssl_errors("cannot load CA (give --ca FILE or --insecure)");
			return 2;
		}
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	}
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		ssl_errors("SSL_new");
		return 2;
	}
	if (!server_name)
		server_name = host;
	if (!insecure) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
		struct in6_addr a6;

		if (inet_pton(AF_INET, server_name, &a6) == 1 || inet_pton(AF_INET6, server_name, &a6) == 1)
			r = X509_VERIFY_PARAM_set1_ip_asc(vp, server_name);
		else
			r = X509_VERIFY_PARAM_set1_host(vp, server_name, 0);
		if (r != 1) {
			ssl_errors("cannot set the name to verify");
			return 2;
		}
	}
	{
		struct in6_addr a6;
		if (inet_pton(AF_INET, server_name, &a6) != 1 && inet_pton(AF_INET6, server_name, &a6) != 1)
			SSL_set_tlsext_host_name(c->ssl, server_name);
	}
	r = SSL_connect(c->ssl);
	vr = SSL_get_verify_result(c->ssl);
	if (r != 1) {
		int e = SSL_get_error(c->ssl, r);

		if (!insecure && vr != X509_V_OK) {
			fprintf(stderr, "d4-craft: certificate verification failed: %s\n",
				X509_verify_cert_error_string(vr));
			return 2;
		}
		/* OpenSSL 3 reports an EOF during the handshake as an SSL error */
		if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN ||
		    (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
			peer_closed(c, "during the TLS handshake");
			return 1;
		}
		ssl_errors("TLS handshake failed");
		return 2;
	}
	say(c, "connected to %s (%s)%s%s", dest, SSL_get_version(c->ssl), bind_addr ? " from " : "",
	    bind_addr ? bind_addr : "");
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: d4-craft [--ca FILE | --insecure] [--bind ADDR] [--server-name NAME] [-q] "
			"HOST:PORT [SCRIPT]\n(script commands: see the comment at the top of d4_craft.c)\n");
}

int main(int argc, char **argv)
{
	static struct craft c;
	const char *ca = NULL, *bind_addr = NULL, *server_name = NULL, *dest = NULL, *script = NULL;
	int insecure = 0, rc = 0, lineno = 0, expects_close = 0;
	char *line;
	FILE *f;

	c.fd = -1;
	c.type = 1;
	c.version = 1;
	c.t0 = d4_mono_ms();
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc)
			ca = argv[++i];
		else if (strcmp(argv[i], "--insecure") == 0)
			insecure = 1;
		else if (strcmp(argv[i], "--bind") == 0 && i + 1 < argc)
			bind_addr = argv[++i];
		else if (strcmp(argv[i], "--server-name") == 0 && i + 1 < argc)
			server_name = argv[++i];
		else if (strcmp(argv[i], "-q") == 0)
			c.quiet = 1;
		else if (argv[i][0] == '-' && argv[i][1]) {
			usage();
			return 2;
		} else if (!dest)
			dest = argv[i];
		else if (!script)
			script = argv[i];
		else {
			usage();
			return 2;
		}
	}
	if (!dest) {
		usage();
		return 2;
	}
	f = script && strcmp(script, "-") != 0 ? fopen(script, "r") : stdin;
	if (!f) {
		fprintf(stderr, "d4-craft: %s: %s\n", script, strerror(errno));
		return 2;
	}
	line = malloc(LINE_MAX_LEN);
	if (!line) {
		fprintf(stderr, "d4-craft: out of memory\n");
		return 2;
	}
	/* The whole script is read first so that we know whether a close is
	 * expected at all (then a close during the handshake is an outcome, not
	 * a connection error). */
	char *text = NULL;
	size_t tlen = 0;
	FILE *mem = open_memstream(&text, &tlen);
	if (!mem) {
		fprintf(stderr, "d4-craft: out of memory\n");
		return 2;
	}
	while (fgets(line, LINE_MAX_LEN, f)) {
		if (strncmp(line + strspn(line, " \t"), "expect-close", 12) == 0)
			expects_close = 1;
		fputs(line, mem);
	}
	fclose(mem);
	if (f != stdin)
		fclose(f);

	signal(SIGPIPE, SIG_IGN);
	SSL_library_init();
	rc = connect_tls(&c, dest, ca, insecure, bind_addr, server_name);
	if (rc == 2 || (rc == 1 && !expects_close)) {
		rc = 2;
		goto out;
	}
	rc = 0;
	mem = fmemopen(text, tlen, "r");
	if (!mem) {
		rc = 2;
		goto out;
	}
	while (rc == 0 && fgets(line, LINE_MAX_LEN, mem)) {
		lineno++;
		rc = run_line(&c, line, lineno);
	}
	fclose(mem);
	/* a close right after our last write only shows on the next read */
	if (rc == 0 && !c.closed)
		(void)wait_close(&c, 200);
	if (rc == 0 && c.closed && !c.closed_seen) {
		say(&c, "UNEXPECTED: the server closed the connection");
		rc = 1;
	}
	if (rc == 0 && !c.closed) {
		(void)SSL_shutdown(c.ssl);
		say(&c, "done, %llu bytes sent", (unsigned long long)c.sent);
	}
out:
	free(text);
	free(line);
	if (c.ssl)
		SSL_free(c.ssl);
	if (c.ctx)
		SSL_CTX_free(c.ctx);
	if (c.fd >= 0)
		close(c.fd);
	return rc;
}
