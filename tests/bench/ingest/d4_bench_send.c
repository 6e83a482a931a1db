/* d4-bench-send — ingest load generator for the d4hub benchmark.
 *
 * All frames are built and signed before the clock starts, so that the
 * figures measure the hub (and TLS), not the sender's HMAC or RNG. Each
 * connection is a thread with its own sensor (uuid + key) and its own
 * contiguous buffer of consecutive frames; the buffer is written with large
 * SSL_write calls cut at arbitrary offsets (the hub's decoder must accept any
 * split anyway, and big writes keep the sender cheap).
 *
 * Output (stdout, one line, key=value, parsed by run.sh):
 *   d4-bench-send: conns=K frames=N bytes=B payload=P first_byte=T0 last_byte=T1 send_s=S mb_s=M frames_s=F
 * first_byte/last_byte are CLOCK_REALTIME seconds (so that a script can
 * relate them to other clocks); send_s is measured on CLOCK_MONOTONIC. */
#include "d4_error.h"
#include "d4_proto.h"
#include "d4_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS	     64
#define DEFAULT_BATCH	     (256u * 1024u)
#define DEFAULT_PREBUILD_MAX (2048ull * 1024u * 1024u)
#define KEY_MAX		     256 /* like D4_KEY_MAX of the store */

struct sensor_cred {
	uint8_t uuid[16];
	uint8_t key[KEY_MAX];
	size_t keylen;
};

struct opts {
	char host[128];
	char port[16];
	const char *ca_file;
	const char *server_name;
	int insecure;
	uint32_t payload;
	uint64_t frames;      /* per connection */
	uint64_t total_bytes; /* alternative to frames: bytes on the wire over all connections */
	unsigned conns;
	size_t batch;
	uint64_t prebuild_max; /* bytes of distinct frames per connection */
	uint8_t type;
	double rate; /* frames/s per connection, 0 = as fast as possible */
	int quiet;
};

struct conn {
	unsigned idx;
	const struct opts *o;
	SSL_CTX *ctx;
	struct sensor_cred cred;
	uint8_t *buf; /* distinct frames, back to back */
	size_t buflen;
	uint64_t wire_bytes; /* to send in total (a whole number of frames) */
	int fd;
	SSL *ssl;
	uint64_t sent;
	double t_first, t_last; /* monotonic */
	int failed;
	char err[512];
};

static pthread_barrier_t start_barrier;

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double real_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: d4-bench-send HOST:PORT (--ca FILE | --insecure) --sensors FILE\n"
	    "                     --size BYTES (--frames N | --bytes B) [--conns K]\n"
	    "  --sensors FILE     one sensor per line: UUID KEY (key = rest of the line, as bytes);\n"
	    "                     connection i uses line i (K lines needed)\n"
	    "  --uuid U --key K   single sensor instead of --sensors\n"
	    "  --size BYTES       payload size of every frame (default 4096)\n"
	    "  --frames N         frames per connection\n"
	    "  --bytes B          total bytes over all connections (K/M/G suffix), rounded up to whole frames\n"
	    "  --conns K          parallel connections, one thread each (default 1, max %d)\n"
	    "  --batch BYTES      bytes per SSL_write (default 256K)\n"
	    "  --prebuild-max B   distinct frames kept per connection; beyond, the buffer is replayed (default 2G)\n"
	    "  --type T           D4 type of the frames (default 1)\n"
	    "  --rate F           frames/s per connection, one frame per write at its due time (default: no limit)\n"
	    "  --server-name N    name checked in the certificate (default: host part)\n"
	    "  -q                 only the result line\n",
	    MAX_CONNS);
}

static int parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return D4_EINVAL;
	uint64_t mul = 1;
	switch (*end) {
	case '\0': break;
	case 'k':
	case 'K':
		mul = 1024ull;
		end++;
		break;
	case 'm':
	case 'M':
		mul = 1024ull * 1024;
		end++;
		break;
	case 'g':
	case 'G':
		mul = 1024ull * 1024 * 1024;
		end++;
		break;
	default: return D4_EINVAL;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end == 'B')
		end++;
	if (*end != '\0' || (v && mul > UINT64_MAX / v))
		return D4_EINVAL;
	*out = v * mul;
	return 0;
}

static int cred_parse(const char *uuid, const char *key, struct sensor_cred *c)
{
	if (d4_uuid_parse(uuid, c->uuid) != 0)
		return D4_EINVAL;
	size_t n = strlen(key);
	if (n == 0 || n > sizeof(c->key))
		return D4_EINVAL;
	memcpy(c->key, key, n);
	c->keylen = n;
	return 0;
}

/* Reads up to max "UUID KEY" lines; returns the count or a negative code. */
static int creds_load(const char *path, struct sensor_cred *out, unsigned max)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "d4-bench-send: %s: %s\n", path, strerror(errno));
		return D4_EIO;
	}
	char line[1024];
	unsigned n = 0, lineno = 0;
	int rc = 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		lineno++;
		size_t len = strcspn(line, "\r\n");
		line[len] = '\0';
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		char *sp = p + strcspn(p, " \t");
		if (*sp == '\0') {
			fprintf(stderr, "d4-bench-send: %s:%u: expected UUID KEY\n", path, lineno);
			rc = D4_EINVAL;
			break;
		}
		*sp++ = '\0';
		while (*sp == ' ' || *sp == '\t')
			sp++;
		if (cred_parse(p, sp, &out[n]) != 0) {
			fprintf(stderr, "d4-bench-send: %s:%u: bad uuid or key\n", path, lineno);
			rc = D4_EINVAL;
			break;
		}
		n++;
	}
	d4_wipe(line, sizeof(line));
	fclose(f);
	return rc < 0 ? rc : (int)n;
}

/* xorshift64*: the payload only has to be incompressible-looking and
 * distinct per frame; a CSPRNG would dominate the build time. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static int conn_build(struct conn *c)
{
	const struct opts *o = c->o;
	size_t flen = (size_t)D4_HDR_LEN + o->payload;
	uint64_t nframes = o->frames;
	uint64_t nbuild = o->prebuild_max / flen;
	if (nbuild == 0)
		nbuild = 1;
	if (nbuild > nframes)
		nbuild = nframes;
	c->wire_bytes = nframes * flen;
	c->buflen = (size_t)(nbuild * flen);
	/* Huge pages: faulting in a GiB of 4 KiB pages costs seconds on a VM. */
	void *mem = NULL;
	if (posix_memalign(&mem, 2u << 20, c->buflen) == 0) {
		c->buf = mem;
		madvise(mem, c->buflen, MADV_HUGEPAGE);
	}
	uint8_t *payload = malloc(o->payload ? o->payload : 1);
	if (!c->buf || !payload) {
		free(payload);
		snprintf(c->err, sizeof(c->err), "out of memory for %zu bytes of frames", c->buflen);
		return D4_ENOMEM;
	}
	uint64_t seed = 0x9E3779B97F4A7C15ull ^ ((uint64_t)c->idx << 32) ^ (uint64_t)time(NULL);
	uint64_t ts = d4_now_s();
	for (uint64_t i = 0; i < nbuild; i++) {
		for (size_t j = 0; j < o->payload; j += 8) {
			uint64_t r = rng_next(&seed);
			size_t k = o->payload - j < 8 ? o->payload - j : 8;
			memcpy(payload + j, &r, k);
		}
		struct d4_hdr h = {.version = 1, .type = o->type, .timestamp = ts};
		memcpy(h.uuid, c->cred.uuid, 16);
		int n =
		    d4_proto_frame_build(&h, c->cred.key, c->cred.keylen, payload, o->payload, c->buf + i * flen, flen);
		if (n < 0 || (size_t)n != flen) {
			free(payload);
			snprintf(c->err, sizeof(c->err), "d4_proto_frame_build: %s", d4_strerror(n < 0 ? n : D4_EIO));
			return n < 0 ? n : D4_EIO;
		}
	}
	free(payload);
	return 0;
}

static void ssl_errstr(char *out, size_t size, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[200] = "";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else if (errno)
		snprintf(buf, sizeof(buf), "%s", strerror(errno));
	else
		snprintf(buf, sizeof(buf), "connection closed by peer");
	snprintf(out, size, "%s: %s", what, buf);
	ERR_clear_error();
}

static int conn_connect(struct conn *c)
{
	const struct opts *o = c->o;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
	int rc = getaddrinfo(o->host, o->port, &hints, &ai);
	if (rc != 0) {
		snprintf(c->err, sizeof(c->err), "%s:%s: %s", o->host, o->port, gai_strerror(rc));
		return D4_EIO;
	}
	c->fd = -1;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		c->fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (c->fd < 0)
			continue;
		if (connect(c->fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		close(c->fd);
		c->fd = -1;
	}
	freeaddrinfo(ai);
	if (c->fd < 0) {
		snprintf(c->err, sizeof(c->err), "connect %s:%s: %s", o->host, o->port, strerror(errno));
		return D4_EIO;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		ssl_errstr(c->err, sizeof(c->err), "SSL_new");
		return D4_ETLS;
	}
	const char *name = o->server_name ? o->server_name : o->host;
	struct in6_addr tmp;
	int is_ip = inet_pton(AF_INET, name, &tmp) == 1 || inet_pton(AF_INET6, name, &tmp) == 1;
	if (!is_ip)
		SSL_set_tlsext_host_name(c->ssl, name);
	if (!o->insecure) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
		int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, name) : X509_VERIFY_PARAM_set1_host(vp, name, 0);
		if (ok != 1) {
			ssl_errstr(c->err, sizeof(c->err), "setting the expected server name");
			return D4_ETLS;
		}
	}
	if (SSL_connect(c->ssl) != 1) {
		ssl_errstr(c->err, sizeof(c->err), "TLS handshake");
		long vr = SSL_get_verify_result(c->ssl);
		if (vr != X509_V_OK) {
			size_t l = strlen(c->err);
			snprintf(c->err + l, sizeof(c->err) - l, " (%s)", X509_verify_cert_error_string(vr));
		}
		return D4_ETLS;
	}
	return 0;
}

/* Closing with unread bytes in the receive buffer (TLS 1.3 session tickets
 * the server sent after the handshake) makes the kernel send RST, and the
 * peer then loses whatever it had not read yet. So: close_notify, then read
 * until the server closes (it has read everything by then). */
static void conn_finish(struct conn *c)
{
	struct timeval tv = {.tv_sec = 300};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (SSL_shutdown(c->ssl) < 0) {
		ERR_clear_error();
		return;
	}
	char sink[4096];
	while (SSL_read(c->ssl, sink, sizeof(sink)) > 0)
		;
	ERR_clear_error();
}

static void *conn_run(void *arg)
{
	struct conn *c = arg;
	int rc = conn_connect(c);
	if (rc != 0)
		c->failed = 1;
	/* Everyone waits here even on failure, so that the barrier never hangs. */
	pthread_barrier_wait(&start_barrier);
	if (c->failed)
		return NULL;
	size_t off = 0;
	c->t_first = mono_now();
	size_t flen = (size_t)D4_HDR_LEN + c->o->payload;
	while (c->sent < c->wire_bytes) {
		size_t n = c->o->batch;
		if (c->o->rate > 0) {
			/* A steady rate: one whole frame per write, each at its due
			 * time from the first (late frames go at once: no catching up
			 * by skipping). */
			n = flen - (size_t)(c->sent % flen);
			double due = c->t_first + (double)(c->sent / flen) / c->o->rate, now = mono_now();
			if (due > now) {
				double w = due - now;
				struct timespec ts = {.tv_sec = (time_t)w,
						      .tv_nsec = (long)((w - (double)(time_t)w) * 1e9)};
				nanosleep(&ts, NULL);
			}
		}
		if (n > c->buflen - off)
			n = c->buflen - off;
		if (n > c->wire_bytes - c->sent)
			n = (size_t)(c->wire_bytes - c->sent);
		int w = SSL_write(c->ssl, c->buf + off, (int)n);
		if (w <= 0) {
			char what[64];
			snprintf(what, sizeof(what), "SSL_write after %llu bytes", (unsigned long long)c->sent);
			ssl_errstr(c->err, sizeof(c->err), what);
			c->failed = 1;
			break;
		}
		c->sent += (uint64_t)w;
		off += (size_t)w;
		if (off == c->buflen)
			off = 0;
	}
	c->t_last = mono_now();
	if (!c->failed)
		conn_finish(c);
	return NULL;
}

int main(int argc, char **argv)
{
	struct opts o = {.payload = 4096,
			 .conns = 1,
			 .batch = DEFAULT_BATCH,
			 .prebuild_max = DEFAULT_PREBUILD_MAX,
			 .type = D4_TYPE_PCAP};
	const char *sensors_file = NULL, *one_uuid = NULL, *one_key = NULL;
	enum {
		O_CA = 256,
		O_INSECURE,
		O_SENSORS,
		O_UUID,
		O_KEY,
		O_SIZE,
		O_FRAMES,
		O_BYTES,
		O_CONNS,
		O_BATCH,
		O_PREBUILD,
		O_TYPE,
		O_RATE,
		O_SNI
	};
	static const struct option lo[] = {
	    {"ca", required_argument, NULL, O_CA},
	    {"insecure", no_argument, NULL, O_INSECURE},
	    {"sensors", required_argument, NULL, O_SENSORS},
	    {"uuid", required_argument, NULL, O_UUID},
	    {"key", required_argument, NULL, O_KEY},
	    {"size", required_argument, NULL, O_SIZE},
	    {"frames", required_argument, NULL, O_FRAMES},
	    {"bytes", required_argument, NULL, O_BYTES},
	    {"conns", required_argument, NULL, O_CONNS},
	    {"batch", required_argument, NULL, O_BATCH},
	    {"prebuild-max", required_argument, NULL, O_PREBUILD},
	    {"type", required_argument, NULL, O_TYPE},
	    {"rate", required_argument, NULL, O_RATE},
	    {"server-name", required_argument, NULL, O_SNI},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;
	uint64_t v;
	while ((ch = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
		switch (ch) {
		case O_CA: o.ca_file = optarg; break;
		case O_INSECURE: o.insecure = 1; break;
		case O_SENSORS: sensors_file = optarg; break;
		case O_UUID: one_uuid = optarg; break;
		case O_KEY: one_key = optarg; break;
		case O_SNI: o.server_name = optarg; break;
		case O_SIZE:
			if (parse_bytes(optarg, &v) || v > D4_DEFAULT_MAX_PAYLOAD * 16ull)
				goto bad;
			o.payload = (uint32_t)v;
			break;
		case O_FRAMES:
			if (parse_bytes(optarg, &o.frames) || o.frames == 0)
				goto bad;
			break;
		case O_BYTES:
			if (parse_bytes(optarg, &o.total_bytes) || o.total_bytes == 0)
				goto bad;
			break;
		case O_CONNS:
			if (parse_bytes(optarg, &v) || v == 0 || v > MAX_CONNS)
				goto bad;
			o.conns = (unsigned)v;
			break;
		case O_BATCH:
			if (parse_bytes(optarg, &v) || v == 0 || v > (1u << 30))
				goto bad;
			o.batch = (size_t)v;
			break;
		case O_PREBUILD:
			if (parse_bytes(optarg, &o.prebuild_max) || o.prebuild_max == 0)
				goto bad;
			break;
		case O_TYPE:
			if (parse_bytes(optarg, &v) || v > 255)
				goto bad;
			o.type = (uint8_t)v;
			break;
		case O_RATE:
			if (parse_bytes(optarg, &v) || v == 0 || v > 10000000)
				goto bad;
			o.rate = (double)v;
			break;
		case 'q': o.quiet = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind + 1 != argc || (!o.ca_file && !o.insecure) || (!o.frames == !o.total_bytes) ||
	    (!sensors_file == !(one_uuid && one_key)))
		goto bad;
	/* A hub that drops the connection must give an error message, not a
	 * silent death by SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	const char *dest = argv[optind];
	const char *colon = strrchr(dest, ':');
	if (!colon || colon == dest || strlen(colon + 1) >= sizeof(o.port))
		goto bad;
	size_t hl = (size_t)(colon - dest);
	if (dest[0] == '[' && hl >= 2 && dest[hl - 1] == ']') {
		dest++;
		hl -= 2;
	}
	if (hl >= sizeof(o.host))
		goto bad;
	memcpy(o.host, dest, hl);
	o.host[hl] = '\0';
	strcpy(o.port, colon + 1);

	size_t flen = (size_t)D4_HDR_LEN + o.payload;
	if (o.total_bytes) {
		uint64_t per_conn = (o.total_bytes + o.conns - 1) / o.conns;
		o.frames = (per_conn + flen - 1) / flen;
	}

	static struct sensor_cred creds[MAX_CONNS];
	if (sensors_file) {
		int n = creds_load(sensors_file, creds, o.conns);
		if (n < 0)
			return 1;
		if ((unsigned)n < o.conns) {
			fprintf(stderr, "d4-bench-send: %s has %d sensor(s), --conns %u needs as many\n", sensors_file,
				n, o.conns);
			return 1;
		}
	} else {
		if (o.conns != 1 || cred_parse(one_uuid, one_key, &creds[0]) != 0) {
			fprintf(stderr, "d4-bench-send: --uuid/--key: bad value (or --conns > 1 without --sensors)\n");
			return 2;
		}
	}

	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		fprintf(stderr, "d4-bench-send: SSL_CTX_new failed\n");
		return 1;
	}
	if (!o.insecure) {
		if (SSL_CTX_load_verify_locations(ctx, o.ca_file, NULL) != 1) {
			char e[256];
			ssl_errstr(e, sizeof(e), o.ca_file);
			fprintf(stderr, "d4-bench-send: %s\n", e);
			SSL_CTX_free(ctx);
			return 1;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}

	struct conn *conns = calloc(o.conns, sizeof(*conns));
	if (!conns) {
		fprintf(stderr, "d4-bench-send: out of memory\n");
		SSL_CTX_free(ctx);
		return 1;
	}
	int status = 0;
	double b0 = mono_now();
	for (unsigned i = 0; i < o.conns; i++) {
		conns[i] = (struct conn){.idx = i, .o = &o, .ctx = ctx, .cred = creds[i], .fd = -1};
		d4_wipe(&creds[i], sizeof(creds[i]));
		if (conn_build(&conns[i]) != 0) {
			fprintf(stderr, "d4-bench-send: %s\n", conns[i].err);
			status = 1;
			goto out;
		}
	}
	if (!o.quiet)
		fprintf(stderr, "d4-bench-send: built %llu distinct frame(s) of %u B per connection in %.2f s\n",
			(unsigned long long)(conns[0].buflen / flen), o.payload, mono_now() - b0);

	pthread_barrier_init(&start_barrier, NULL, o.conns + 1);
	pthread_t th[MAX_CONNS];
	unsigned started = 0;
	for (; started < o.conns; started++) {
		if (pthread_create(&th[started], NULL, conn_run, &conns[started]) != 0)
			break;
	}
	if (started < o.conns) {
		/* The barrier counts every thread; without them all it would hang. */
		fprintf(stderr, "d4-bench-send: cannot start thread %u\n", started);
		abort();
	}
	pthread_barrier_wait(&start_barrier);
	double r0 = real_now();
	double m0 = mono_now();
	for (unsigned i = 0; i < o.conns; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start_barrier);

	uint64_t bytes = 0, frames = 0;
	double t_first = 0, t_last = 0;
	for (unsigned i = 0; i < o.conns; i++) {
		struct conn *c = &conns[i];
		if (c->failed) {
			fprintf(stderr, "d4-bench-send: connection %u: %s\n", i, c->err);
			status = 1;
		}
		bytes += c->sent;
		frames += c->sent / flen;
		if (c->t_first > 0 && (t_first == 0 || c->t_first < t_first))
			t_first = c->t_first;
		if (c->t_last > t_last)
			t_last = c->t_last;
	}
	if (t_first == 0)
		t_first = t_last = m0;
	double secs = t_last - t_first;
	double first_real = r0 + (t_first - m0);
	printf("d4-bench-send: conns=%u frames=%llu bytes=%llu payload=%u first_byte=%.6f last_byte=%.6f send_s=%.6f "
	       "mb_s=%.1f frames_s=%.0f\n",
	       o.conns, (unsigned long long)frames, (unsigned long long)bytes, o.payload, first_real, first_real + secs,
	       secs, secs > 0 ? (double)bytes / 1e6 / secs : 0.0, secs > 0 ? (double)frames / secs : 0.0);
	fflush(stdout);
out:
	for (unsigned i = 0; i < o.conns; i++) {
		if (conns[i].ssl)
			SSL_free(conns[i].ssl);
		if (conns[i].fd >= 0)
			close(conns[i].fd);
		free(conns[i].buf);
		d4_wipe(&conns[i].cred, sizeof(conns[i].cred));
	}
	free(conns);
	SSL_CTX_free(ctx);
	return status;
bad:
	usage(stderr);
	return 2;
}
