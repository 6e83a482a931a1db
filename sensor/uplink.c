/* d4-sensor: TLS connection to the hub (OpenSSL, TLS 1.2+). The server
 * certificate is verified against the CA with a host name or IP check unless
 * --insecure was asked for. The socket is non-blocking; every wait is a poll
 * with a deadline so that a dead hub cannot hang the sensor. */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_proto.h"
#include "d4_util.h"
#include "sensor_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 10000
#define IO_TIMEOUT_MS	   30000

static void log_ssl_errors(const char *what)
{
	unsigned long e;
	char buf[256];
	int any = 0;
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		d4_warn("%s: %s", what, buf);
		any = 1;
	}
	if (!any)
		d4_warn("%s: %s", what, errno ? strerror(errno) : "connection closed");
}

static int is_ip(const char *s)
{
	struct in6_addr a;
	return inet_pton(AF_INET, s, &a) == 1 || inet_pton(AF_INET6, s, &a) == 1;
}

int uplink_init(struct uplink *u, const char *dest, const char *ca, const char *server_name, int insecure)
{
	memset(u, 0, sizeof(*u));
	u->fd = -1;
	const char *colon;
	if (dest[0] == '[') {
		const char *rb = strchr(dest, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - dest - 1) >= sizeof(u->host))
			return D4_ECONFIG;
		memcpy(u->host, dest + 1, (size_t)(rb - dest - 1));
		colon = rb + 1;
	} else {
		colon = strrchr(dest, ':');
		if (!colon || colon == dest || (size_t)(colon - dest) >= sizeof(u->host))
			return D4_ECONFIG;
		memcpy(u->host, dest, (size_t)(colon - dest));
	}
	if (d4_strlcpy(u->port, colon + 1, sizeof(u->port)) != 0 || !u->port[0])
		return D4_ECONFIG;
	d4_strlcpy(u->name, server_name && *server_name ? server_name : u->host, sizeof(u->name));
	u->name_is_ip = is_ip(u->name);
	u->insecure = insecure;

	u->ctx = SSL_CTX_new(TLS_client_method());
	if (!u->ctx)
		return D4_ETLS;
	SSL_CTX_set_min_proto_version(u->ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(u->ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Acknowledged delivery: offered to every hub; a server that does not
	 * know it (d4-core) selects nothing and gets plain D4. */
	static const unsigned char alpn[] = "\x08" D4_ACK_ALPN;
	if (SSL_CTX_set_alpn_protos(u->ctx, alpn, sizeof(alpn) - 1) != 0)
		return D4_ETLS;
	if (insecure) {
		d4_warn("--insecure: the hub's certificate is NOT verified; anyone on the path can read and change the "
			"stream");
		SSL_CTX_set_verify(u->ctx, SSL_VERIFY_NONE, NULL);
		return D4_OK;
	}
	if (ca && *ca) {
		if (SSL_CTX_load_verify_locations(u->ctx, ca, NULL) != 1) {
			log_ssl_errors(ca);
			d4_err("cannot load CA file %s", ca);
			return D4_ECONFIG;
		}
	} else if (SSL_CTX_set_default_verify_paths(u->ctx) != 1) {
		return D4_ETLS;
	}
	SSL_CTX_set_verify(u->ctx, SSL_VERIFY_PEER, NULL);
	return D4_OK;
}

static int wait_fd(int fd, short ev, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = ev};
	for (;;) {
		int r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			return 0; /* let the caller see a stop request */
		if (r < 0)
			return D4_EIO;
		if (r == 0)
			return D4_ETIMEOUT;
		return 1;
	}
}

static int tcp_connect(struct uplink *u)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG}, *res, *ai;
	int g = getaddrinfo(u->host, u->port, &hints, &res);
	if (g != 0) {
		d4_warn("resolve %s:%s: %s", u->host, u->port, gai_strerror(g));
		return D4_EIO;
	}
	int fd = -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, CONNECT_TIMEOUT_MS) == 1) {
			int err = 0;
			socklen_t el = sizeof(err);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0)
				break;
			errno = err;
		}
		d4_warn("connect %s:%s: %s", u->host, u->port, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return D4_EIO;
	int one = 1, idle = 30, intvl = 10, cnt = 3;
	unsigned user_timeout = IO_TIMEOUT_MS;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	/* unacknowledged data for this long means the hub is gone */
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
	u->fd = fd;
	return D4_OK;
}

/* Waits as SSL asks; 0 to retry, negative to give up. */
static int ssl_wait(struct uplink *u, int r, int timeout_ms)
{
	int e = SSL_get_error(u->ssl, r);
	short ev;
	if (e == SSL_ERROR_WANT_READ)
		ev = POLLIN;
	else if (e == SSL_ERROR_WANT_WRITE)
		ev = POLLOUT;
	else
		return D4_ECLOSED;
	int w = wait_fd(u->fd, ev, timeout_ms);
	return w < 0 ? w : 0;
}

int uplink_connect(struct uplink *u)
{
	ERR_clear_error();
	int rc = tcp_connect(u);
	if (rc)
		return rc;
	u->ssl = SSL_new(u->ctx);
	if (!u->ssl || SSL_set_fd(u->ssl, u->fd) != 1)
		goto tls_fail;
	if (!u->name_is_ip && SSL_set_tlsext_host_name(u->ssl, u->name) != 1)
		goto tls_fail;
	if (!u->insecure) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(u->ssl);
		int ok = u->name_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, u->name)
				       : X509_VERIFY_PARAM_set1_host(vp, u->name, 0);
		if (ok != 1)
			goto tls_fail;
	}
	uint64_t deadline = d4_mono_ms() + CONNECT_TIMEOUT_MS;
	for (;;) {
		int r = SSL_connect(u->ssl);
		if (r == 1)
			break;
		uint64_t now = d4_mono_ms();
		if (now >= deadline || ssl_wait(u, r, (int)(deadline - now)) < 0) {
			long v = SSL_get_verify_result(u->ssl);
			if (v != X509_V_OK)
				d4_warn("TLS to %s:%s: certificate not accepted: %s", u->host, u->port,
					X509_verify_cert_error_string(v));
			goto tls_fail;
		}
	}
	const unsigned char *sel = NULL;
	unsigned sl = 0;
	SSL_get0_alpn_selected(u->ssl, &sel, &sl);
	u->ack = sl == sizeof(D4_ACK_ALPN) - 1 && memcmp(sel, D4_ACK_ALPN, sl) == 0;
	u->ack_error = 0;
	u->acked_frames = u->acked_bytes = 0;
	u->alen = 0;
	d4_info("TLS to %s:%s: %s, %s, %s", u->host, u->port, SSL_get_version(u->ssl), SSL_get_cipher(u->ssl),
		u->ack ? "acknowledged delivery (" D4_ACK_ALPN ")" : "no acknowledgements (plain D4)");
	return D4_OK;
tls_fail:
	log_ssl_errors("TLS handshake");
	uplink_close(u, 0);
	return D4_ETLS;
}

int uplink_write(struct uplink *u, const uint8_t *p, size_t n)
{
	if (!u->ssl)
		return D4_ECLOSED;
	if (n == 0)
		return D4_OK;
	for (;;) {
		ERR_clear_error();
		int r = SSL_write(u->ssl, p, (int)n);
		if (r > 0)
			return D4_OK;
		if (ssl_wait(u, r, IO_TIMEOUT_MS) < 0) {
			log_ssl_errors("TLS write");
			return D4_ECLOSED;
		}
	}
}

/* Parses ack records out of what the hub sent. */
static int ack_feed(struct uplink *u, const uint8_t *p, size_t n)
{
	while (n) {
		size_t take = sizeof(u->abuf) - u->alen < n ? sizeof(u->abuf) - u->alen : n;
		memcpy(u->abuf + u->alen, p, take);
		u->alen += take;
		p += take;
		n -= take;
		size_t off = 0;
		for (;;) {
			struct d4_ack a;
			int rl = d4_proto_ack_parse(u->abuf + off, u->alen - off, &a);
			if (rl == D4_ETRUNC)
				break;
			if (rl < 0 || (a.kind == D4_ACK_KIND_COMMIT &&
				       (a.frames < u->acked_frames || a.bytes < u->acked_bytes))) {
				d4_warn("hub %s:%s: malformed acknowledgement (%s); reconnecting", u->host, u->port,
					rl < 0 ? d4_strerror(rl) : "goes backwards");
				u->ack_error = 1;
				return D4_EPROTO;
			}
			if (a.kind == D4_ACK_KIND_COMMIT) {
				u->acked_frames = a.frames;
				u->acked_bytes = a.bytes;
			}
			off += (size_t)rl;
		}
		memmove(u->abuf, u->abuf + off, u->alen - off);
		u->alen -= off;
	}
	return 0;
}

int uplink_alive(struct uplink *u)
{
	return uplink_read(u, 0);
}

int uplink_read(struct uplink *u, int quiet)
{
	if (!u->ssl)
		return 0;
	uint8_t buf[4096];
	for (;;) {
		ERR_clear_error();
		int r = SSL_read(u->ssl, buf, sizeof(buf));
		if (r > 0) {
			u->rx_bytes += (uint64_t)r;
			if (u->ack && ack_feed(u, buf, (size_t)r) != 0)
				return 0;
			continue; /* plain D4: the server never writes; discard */
		}
		int e = SSL_get_error(u->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return 1;
		if (quiet)
			ERR_clear_error();
		else if (e == SSL_ERROR_ZERO_RETURN)
			d4_warn("hub %s:%s closed the connection", u->host, u->port);
		else
			log_ssl_errors("TLS connection lost");
		return 0;
	}
}

uint64_t uplink_written(struct uplink *u)
{
	return u->ssl ? BIO_number_written(SSL_get_wbio(u->ssl)) : 0;
}

uint64_t uplink_unacked(struct uplink *u)
{
	int q = 0;
	if (u->fd < 0 || ioctl(u->fd, SIOCOUTQ, &q) != 0 || q < 0)
		return UINT64_MAX;
	return (uint64_t)q;
}

void uplink_close(struct uplink *u, int clean)
{
	if (u->ssl) {
		if (clean) {
			uint64_t deadline = d4_mono_ms() + 2000;
			int r;
			while ((r = SSL_shutdown(u->ssl)) < 0 && d4_mono_ms() < deadline)
				if (ssl_wait(u, r, 200) < 0 && SSL_get_error(u->ssl, r) != SSL_ERROR_WANT_READ)
					break;
		}
		SSL_free(u->ssl);
		u->ssl = NULL;
	}
	if (u->fd >= 0) {
		close(u->fd);
		u->fd = -1;
	}
}

void uplink_free(struct uplink *u)
{
	uplink_close(u, 0);
	SSL_CTX_free(u->ctx);
	u->ctx = NULL;
}
