/* d4hub — D4 TLS listener: one epoll thread, non-blocking OpenSSL, the
 * session state machine, and the store's asynchronous writer behind it.
 *
 * Why its own thread and not h2o's loop: the REST API runs h2o on a thread of
 * its own; a slow or hostile API client must never be able to stall intake.
 * The loop owns every connection, the (uuid, type) registry and the caches
 * (blocklists, accepted types); nothing here is shared with other threads
 * except the stop eventfd and the statistics counters. */
#include "d4_ingest.h"

#include "d4_error.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_proto.h"
#include "d4_session.h"
#include "d4_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_WINDOW  (256u * 1024u) /* bytes asked from the decoder per SSL_read window */
#define READ_BUDGET  (4u << 20)	    /* bytes per connection per turn before yielding to others */
#define TICK_MS	     1000u
#define MAX_EVENTS   256
#define ACCT_CKS     32 /* backlog checkpoints per sensor */
#define ACCT_BUCKETS 256u
#define ADDR_BUCKETS 1024u
#define ACK_CKS	     64 /* commit-mark checkpoints per d4-ack/1 connection */

enum conn_state { C_HANDSHAKE = 0, C_DATA = 1, C_DEAD = 2 };

/* Per-sensor backlog accounting: bytes posted but not yet committed. The
 * store's frame queue is FIFO, so a byte is committed once the store's
 * committed-bytes counter has passed the global position at which it was
 * posted. Checkpoints (global position, sensor total) every `interval` bytes
 * give the answer within one interval, with no per-frame store call. */
struct acct {
	struct acct *next;
	uint8_t uuid[16];
	unsigned refs;
	uint64_t posted;  /* this sensor's payload bytes posted */
	uint64_t next_ck; /* take a checkpoint once posted reaches this */
	struct {
		uint64_t gpos, cum;
	} ck[ACCT_CKS];
	unsigned head, n; /* ring: oldest at head */
};

/* Live unverified connections of one source address (one /64 for IPv6):
 * ingest.max_unverified_per_address. Entries exist while n > 0 (or while a
 * refusal is still to be logged). */
struct addr_cnt {
	struct addr_cnt *next;
	uint8_t key[16];
	char ip[INET6_ADDRSTRLEN + 2];
	unsigned n;
	uint64_t refused; /* refused since the last log line */
};

struct conn {
	struct conn *prev, *next; /* all live connections */
	struct conn *rnext;	  /* ready list (more to read without an event) */
	struct conn *pnext;	  /* paused list (waiting for store room) */
	struct conn *gnext;	  /* graveyard (freed after the event batch) */
	int fd;
	SSL *ssl;
	enum conn_state state;
	int in_ready, paused;
	uint32_t events; /* current epoll interest */
	struct d4_decoder *dec;
	uint32_t dec_max;
	struct d4_session *sess;
	struct acct *acct;
	uint8_t addr[16];
	uint16_t port;
	char ip[INET6_ADDRSTRLEN + 2];
	uint64_t deadline_ms;	 /* monotonic: next complete header due (unverified connections only) */
	uint64_t hs_deadline_ms; /* monotonic: TLS handshake due */
	struct addr_cnt *unv;	 /* counted as unverified against its address until verified or closed */
	int opened;		 /* session open posted */
	int throttled;		 /* paused: the sensor's backlog is over its cap */
	uint64_t throttle_since;
	struct d4_verdict v; /* last verdict; its actions not yet posted stay in v.actions */
	/* Acknowledged delivery (d4-ack/1, docs/protocol.md): frames posted and
	 * checkpoints (store mark, frames, bytes) not yet known committed. When
	 * the ring is full the newest checkpoint absorbs later frames: acks get
	 * coarser, never wrong. */
	int ack;			/* the sensor asked for acks and this hub gives them */
	int ack_failed;			/* a frame could not be posted: never ack past it */
	uint64_t ack_frames, ack_bytes; /* frames/bytes of this connection posted */
	/* The sensor's replay announcement (docs/protocol.md): read before the
	 * first D4 byte; then the number of data frames still to be checked
	 * against the replay window. Every later frame is only recorded. */
	int ann_wait;
	size_t ann_len;
	uint8_t ann[D4_ACK_REPLAY_LEN];
	uint64_t replay_left;
	struct {
		uint64_t mark, frames, bytes;
	} ack_ck[ACK_CKS];
	unsigned ack_head, ack_n;
	uint64_t ack_sent;   /* frames value of the last record written */
	int ack_out_pending; /* ack_out not fully written yet (retried as is) */
	uint8_t ack_out[D4_ACK_COMMIT_LEN];
	uint64_t ack_out_frames;
};

struct pending_close {
	struct pending_close *next;
	uint64_t session, when;
	char reason[64];
};

struct d4_ingest {
	struct d4_hubconf conf;
	struct d4_store *store;
	SSL_CTX *ctx;
	int lfd, ep, stopfd, wakefd;
	pthread_t thr;
	int started;
	char addrtext[INET6_ADDRSTRLEN + 8];
	uint16_t port;

	struct d4_session_env env;
	struct conn *conns, *ready, *paused, *grave;
	unsigned nconns;
	struct pending_close *closes;
	struct conn *cur; /* connection whose events are being fed to its session */
	uint64_t now_mono;

	/* caches refreshed on control-epoch change */
	uint64_t epoch;
	/* effective server mode and shared key: the run-time settings in the
	 * store (d4_store_server_get) override the config's; env points here */
	uint8_t skey[256];
	size_t skeylen;
	int mode_runtime; /* the mode comes from the run-time settings */
	struct d4_block_entry *blocks;
	size_t nblocks, capblocks;
	uint8_t types[256];

	/* backlog */
	struct acct *accts[ACCT_BUCKETS];
	uint64_t gposted;      /* payload bytes posted by this ingest */
	uint64_t committed0;   /* store committed_bytes at start */
	uint64_t committed;    /* committed since start, last read */
	uint64_t committed_at; /* mono ms of that read */
	uint64_t ck_interval;

	uint64_t refused_full; /* connections refused at max_connections since last warning */
	struct addr_cnt *addrs[ADDR_BUCKETS];
	uint64_t nunverified; /* live connections counted in addrs */

	_Atomic uint64_t st_accepted, st_live, st_rejected, st_frames, st_bytes, st_paused;
};

static const int TAG_LISTEN = 0, TAG_STOP = 0, TAG_WAKE = 0;
#define PTR_LISTEN ((void *)&TAG_LISTEN)
#define PTR_STOP   ((void *)&TAG_STOP)
#define PTR_WAKE   ((void *)&TAG_WAKE)

#define ST_ADD(in, f, n) atomic_fetch_add_explicit(&(in)->f, (n), memory_order_relaxed)

/* ---- TLS context --------------------------------------------------------- */

static void tls_errtext(char *err, size_t errsize, const char *what, const char *path)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errsize, "%s%s%s: %s", what, path ? " " : "", path ? path : "", e ? buf : "failed");
	ERR_clear_error();
}

int d4_ingest_tls_ctx(const char *cert, const char *key, SSL_CTX **out, char *err, size_t errsize)
{
	static const unsigned char sid_ctx[] = "d4hub-ingest";
	*out = NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		tls_errtext(err, errsize, "SSL_CTX_new", NULL);
		return D4_ETLS;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Without it TLS 1.2 resumption fails the handshake (DESIGN.md §2). */
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	/* Fewer read(2) calls: OpenSSL pulls what the socket has, not one record. */
	SSL_CTX_set_read_ahead(ctx, 1);
	/* No TLS 1.3 session tickets and no session cache: sensors gain nothing
	 * from resumption, and a ticket is data the client must read — a client
	 * that only writes then closes (d4 | socat) would close with unread
	 * data, its kernel sends a reset, and the end of its stream is lost. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_errtext(err, errsize, "cannot load certificate", cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		tls_errtext(err, errsize, "cannot load private key", key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_errtext(err, errsize, "private key does not match the certificate", key);
		goto fail;
	}
	*out = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return D4_ETLS;
}

/* Selects d4-ack/1 when the client offers it; otherwise no ALPN at all, so
 * a plain D4 client sees exactly the handshake it always saw. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
		       unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	static const unsigned char id[] = D4_ACK_ALPN;
	for (unsigned i = 0; i < inlen;) {
		unsigned n = in[i];
		if (i + 1 + n > inlen)
			break;
		if (n == sizeof(id) - 1 && memcmp(in + i + 1, id, n) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

/* ---- caches and lookups for the session state machine -------------------- */

static int block_cb(void *ctx, const struct d4_block_entry *e)
{
	struct d4_ingest *in = ctx;
	if (in->nblocks == in->capblocks) {
		size_t ncap = in->capblocks ? in->capblocks * 2 : 32;
		struct d4_block_entry *nb = realloc(in->blocks, ncap * sizeof(*nb));
		if (!nb)
			return D4_ENOMEM;
		in->blocks = nb;
		in->capblocks = ncap;
	}
	in->blocks[in->nblocks++] = *e;
	return 0;
}

static int refresh_caches(struct d4_ingest *in)
{
	in->nblocks = 0;
	int rc = d4_store_block_foreach(in->store, block_cb, in);
	if (rc < 0) {
		d4_err("ingest: cannot load the blocklists: %s", d4_strerror(rc));
		return rc;
	}
	rc = d4_store_types_get(in->store, in->types);
	if (rc < 0) {
		d4_err("ingest: cannot load the accepted types: %s", d4_strerror(rc));
		return rc;
	}
	return 0;
}

static const char *mode_name(int mode)
{
	return mode == D4_MODE_SHARED_SECRET ? "shared-secret" : "registration";
}

/* Applies the run-time server settings over the config's. On a read error
 * the current values stay. The key is never logged. */
static int load_server_settings(struct d4_ingest *in, int at_start)
{
	struct d4_server_settings rt;
	int rc = d4_store_server_get(in->store, &rt);
	if (rc != 0) {
		d4_err("ingest: cannot read the run-time server mode: %s (keeping %s)", d4_strerror(rc),
		       mode_name(in->env.mode));
		return rc;
	}
	int rt_mode = rt.has_mode, rt_key = rt.shared_keylen > 0;
	int mode = rt_mode ? rt.mode : in->conf.mode;
	const uint8_t *key = rt_key ? rt.shared_key : in->conf.shared_key;
	size_t keylen = rt_key ? rt.shared_keylen : in->conf.shared_keylen;
	if (keylen > sizeof(in->skey))
		keylen = sizeof(in->skey);
	int key_changed = keylen != in->skeylen || (keylen && !d4_ct_equal(key, in->skey, keylen));
	int mode_changed = mode != in->env.mode || rt_mode != in->mode_runtime;
	if (key_changed) {
		d4_wipe(in->skey, sizeof(in->skey));
		memcpy(in->skey, key, keylen);
		in->skeylen = keylen;
		in->env.shared_keylen = keylen;
		in->env.shared_key_gen++;
	}
	d4_wipe(&rt, sizeof(rt));
	if (at_start) {
		if (rt_mode || rt_key)
			d4_notice("ingest: server mode %s (%s)%s", mode_name(mode),
				  rt_mode ? "run-time setting, overrides the config" : "config",
				  rt_key ? ", shared key set at run time" : "");
	} else {
		if (mode_changed)
			d4_notice("ingest: server mode changed to %s (%s)", mode_name(mode),
				  rt_mode ? "run-time setting" : "config");
		if (key_changed)
			d4_notice("ingest: the shared key was changed; connections that used the old one are closed");
	}
	in->env.mode = mode;
	in->mode_runtime = rt_mode;
	if (mode == D4_MODE_SHARED_SECRET && keylen == 0 && (mode_changed || key_changed || at_start))
		d4_warn("ingest: shared-secret mode without a shared key: only sensors with a key of their own are "
			"admitted");
	return 0;
}

/* The control epoch changed (admin action): reload the caches and the
 * server settings, then re-check every live session against them. */
static void check_epoch(struct d4_ingest *in);

static int prefix_match(const uint8_t net[16], unsigned prefix, const uint8_t a[16])
{
	if (prefix > 128)
		prefix = 128;
	unsigned full = prefix / 8, rest = prefix % 8;
	if (memcmp(net, a, full) != 0)
		return 0;
	if (rest) {
		uint8_t m = (uint8_t)(0xff << (8 - rest));
		if ((net[full] & m) != (a[full] & m))
			return 0;
	}
	return 1;
}

static int op_ip_blocked(void *u, const uint8_t addr[16])
{
	struct d4_ingest *in = u;
	for (size_t i = 0; i < in->nblocks; i++)
		if (in->blocks[i].kind == D4_BLOCK_IP && prefix_match(in->blocks[i].addr, in->blocks[i].prefix, addr))
			return 1;
	return 0;
}

static int uuid_listed(struct d4_ingest *in, uint8_t kind, const uint8_t uuid[16])
{
	for (size_t i = 0; i < in->nblocks; i++)
		if (in->blocks[i].kind == kind && memcmp(in->blocks[i].uuid, uuid, 16) == 0)
			return 1;
	return 0;
}

static int op_uuid_ips_blocked(void *u, const uint8_t uuid[16])
{
	return uuid_listed(u, D4_BLOCK_UUID_IPS, uuid);
}

static int op_uuid_blocked(void *u, const uint8_t uuid[16])
{
	return uuid_listed(u, D4_BLOCK_UUID, uuid);
}

static int op_sensor_get(void *u, const uint8_t uuid[16], struct d4_sensor *out)
{
	struct d4_ingest *in = u;
	return d4_store_sensor_get(in->store, uuid, out);
}

static int op_type_accepted(void *u, uint8_t type)
{
	return ((struct d4_ingest *)u)->types[type] != 0;
}

static int op_ext_type_accepted(void *u, const char *name)
{
	struct d4_ingest *in = u;
	return d4_store_ext_type_accepted(in->store, name);
}

static uint64_t op_session_id_new(void *u)
{
	struct d4_ingest *in = u;
	return d4_store_session_id_new(in->store);
}

static void refresh_committed(struct d4_ingest *in)
{
	struct d4_store_status st;
	d4_store_status_get(in->store, &st);
	in->committed = st.committed_bytes >= in->committed0 ? st.committed_bytes - in->committed0 : 0;
	in->committed_at = in->now_mono;
}

static uint64_t acct_backlog(struct d4_ingest *in, struct acct *a)
{
	if (in->committed >= in->gposted || a->n == 0)
		return 0;
	/* drop checkpoints that are wholly committed, keeping the newest such */
	while (a->n > 1 && a->ck[(a->head + 1) % ACCT_CKS].gpos <= in->committed) {
		a->head = (a->head + 1) % ACCT_CKS;
		a->n--;
	}
	return a->posted - a->ck[a->head].cum;
}

static struct acct *acct_find(struct d4_ingest *in, const uint8_t uuid[16])
{
	unsigned b = (unsigned)(uuid[0] ^ uuid[5] ^ uuid[10] ^ uuid[15]) % ACCT_BUCKETS;
	for (struct acct *a = in->accts[b]; a; a = a->next)
		if (memcmp(a->uuid, uuid, 16) == 0)
			return a;
	return NULL;
}

static uint64_t op_backlog(void *u, const uint8_t uuid[16])
{
	struct d4_ingest *in = u;
	struct acct *a = in->cur && in->cur->acct && memcmp(in->cur->acct->uuid, uuid, 16) == 0 ? in->cur->acct
												: acct_find(in, uuid);
	if (!a)
		return 0;
	uint64_t bl = acct_backlog(in, a);
	/* The committed counter is read lazily: only when it matters and at
	 * most every few milliseconds. */
	if (bl > in->ck_interval && in->now_mono - in->committed_at >= 5) {
		refresh_committed(in);
		bl = acct_backlog(in, a);
	}
	return bl;
}

static const struct d4_session_ops ingest_ops = {
    op_ip_blocked,    op_uuid_ips_blocked,  op_uuid_blocked, op_sensor_get,
    op_type_accepted, op_ext_type_accepted, op_backlog,	     op_session_id_new,
};

static struct acct *acct_ref(struct d4_ingest *in, const uint8_t uuid[16])
{
	struct acct *a = acct_find(in, uuid);
	if (!a) {
		a = calloc(1, sizeof(*a));
		if (!a)
			return NULL;
		memcpy(a->uuid, uuid, 16);
		unsigned b = (unsigned)(uuid[0] ^ uuid[5] ^ uuid[10] ^ uuid[15]) % ACCT_BUCKETS;
		a->next = in->accts[b];
		in->accts[b] = a;
	}
	a->refs++;
	return a;
}

static void acct_unref(struct d4_ingest *in, struct acct *a)
{
	if (!a || --a->refs > 0)
		return;
	unsigned b = (unsigned)(a->uuid[0] ^ a->uuid[5] ^ a->uuid[10] ^ a->uuid[15]) % ACCT_BUCKETS;
	struct acct **pp = &in->accts[b];
	while (*pp != a)
		pp = &(*pp)->next;
	*pp = a->next;
	free(a);
}

static void acct_posted(struct d4_ingest *in, struct acct *a, uint32_t size)
{
	in->gposted += size;
	if (!a)
		return;
	if (a->n == 0 || a->posted >= a->next_ck) {
		/* checkpoint: everything this sensor posted up to here ends at gposted - size */
		if (a->n == ACCT_CKS) {
			a->head = (a->head + 1) % ACCT_CKS;
			a->n--;
		}
		unsigned i = (a->head + a->n) % ACCT_CKS;
		a->ck[i].gpos = in->gposted - size;
		a->ck[i].cum = a->posted;
		a->n++;
		a->next_ck = a->posted + in->ck_interval;
	}
	a->posted += size;
}

/* ---- connections --------------------------------------------------------- */

static void set_events(struct d4_ingest *in, struct conn *c, uint32_t ev)
{
	if (c->events == ev)
		return;
	struct epoll_event e = {.events = ev, .data.ptr = c};
	if (epoll_ctl(in->ep, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
	else
		d4_err("ingest: epoll_ctl: %s", strerror(errno));
}

static void queue_close(struct d4_ingest *in, uint64_t session, const char *reason)
{
	int rc = d4_store_post_session_close(in->store, session, d4_now_s(), reason);
	if (rc != D4_EAGAIN) {
		if (rc != 0)
			d4_warn("ingest: cannot record the end of session %" PRIu64 ": %s", session, d4_strerror(rc));
		return;
	}
	struct pending_close *pc = calloc(1, sizeof(*pc));
	if (!pc) {
		d4_err("ingest: out of memory: end of session %" PRIu64 " not recorded", session);
		return;
	}
	pc->session = session;
	pc->when = d4_now_s();
	d4_strlcpy(pc->reason, reason, sizeof(pc->reason));
	pc->next = in->closes;
	in->closes = pc;
}

static void retry_closes(struct d4_ingest *in)
{
	struct pending_close **pp = &in->closes;
	while (*pp) {
		struct pending_close *pc = *pp;
		int rc = d4_store_post_session_close(in->store, pc->session, pc->when, pc->reason);
		if (rc == D4_EAGAIN) {
			pp = &pc->next;
			continue;
		}
		*pp = pc->next;
		free(pc);
	}
}

static void paused_remove(struct d4_ingest *in, struct conn *c)
{
	for (struct conn **pp = &in->paused; *pp; pp = &(*pp)->pnext)
		if (*pp == c) {
			*pp = c->pnext;
			break;
		}
	c->pnext = NULL;
	c->paused = 0;
}

/* ---- unverified connections: per-address limit and the watch ------------ */

/* IPv4 counts per address; IPv6 per /64, the least a site is given. */
static void addr_key(const uint8_t addr[16], uint8_t key[16])
{
	memcpy(key, addr, 16);
	if (!IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)addr))
		memset(key + 8, 0, 8);
}

static unsigned addr_hash(const uint8_t key[16])
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % ADDR_BUCKETS;
}

static struct addr_cnt *addr_get(struct d4_ingest *in, const uint8_t addr[16])
{
	uint8_t key[16];
	addr_key(addr, key);
	unsigned b = addr_hash(key);
	for (struct addr_cnt *a = in->addrs[b]; a; a = a->next)
		if (memcmp(a->key, key, 16) == 0)
			return a;
	struct addr_cnt *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	memcpy(a->key, key, 16);
	if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)key)) {
		inet_ntop(AF_INET, key + 12, a->ip, sizeof(a->ip));
	} else {
		inet_ntop(AF_INET6, key, a->ip, sizeof(a->ip) - 3);
		strcat(a->ip, "/64");
	}
	a->next = in->addrs[b];
	in->addrs[b] = a;
	return a;
}

static void addr_log_refused(struct d4_ingest *in, struct addr_cnt *a)
{
	if (!a->refused)
		return;
	d4_warn("ingest: %" PRIu64 " connection(s) from %s refused: address-limit: %u connections from this "
		"address have not sent a verified packet yet (ingest.max_unverified_per_address)",
		a->refused, a->ip, in->conf.max_unverified_per_address);
	a->refused = 0;
}

static void addr_drop(struct d4_ingest *in, struct addr_cnt *a)
{
	addr_log_refused(in, a);
	struct addr_cnt **pp = &in->addrs[addr_hash(a->key)];
	while (*pp != a)
		pp = &(*pp)->next;
	*pp = a->next;
	free(a);
}

/* The connection proved a sensor key, or is gone: it no longer counts
 * against its address. */
static void unv_release(struct d4_ingest *in, struct conn *c)
{
	struct addr_cnt *a = c->unv;
	if (!a)
		return;
	c->unv = NULL;
	in->nunverified--;
	if (--a->n == 0)
		addr_drop(in, a);
}

static void watch_note(struct d4_ingest *in, const uint8_t addr[16], const uint8_t *uuid, unsigned reason,
		       const char *detail)
{
	struct d4_watch_ev ev;
	memset(&ev, 0, sizeof(ev));
	memcpy(ev.addr, addr, 16);
	ev.has_uuid = uuid != NULL;
	if (uuid)
		memcpy(ev.uuid, uuid, 16);
	ev.reason = reason;
	ev.when = d4_now_s();
	d4_strlcpy(ev.detail, detail, sizeof(ev.detail));
	d4_store_watch_note(in->store, &ev);
}

/* The figures GET /api/v1/ingest/unverified and /metrics show. */
static void publish_watch(struct d4_ingest *in, uint64_t at_limit, uint64_t npaused)
{
	struct d4_watch_ingest w;
	memset(&w, 0, sizeof(w));
	w.running = 1;
	w.connections = in->nconns;
	w.unverified = in->nunverified;
	w.paused = npaused;
	w.addresses_at_limit = at_limit;
	w.max_connections = in->conf.max_connections;
	w.max_unverified_per_address = in->conf.max_unverified_per_address;
	w.handshake_timeout = in->conf.handshake_timeout;
	w.header_timeout = in->conf.header_timeout;
	d4_store_watch_ingest_set(in->store, &w);
}

/* Frees nothing the event batch may still point to: the conn goes to the
 * graveyard and is freed after the batch. */
static void conn_close(struct d4_ingest *in, struct conn *c, const char *reason)
{
	if (c->state == C_DEAD)
		return;
	if (c->opened)
		queue_close(in, d4_session_id(c->sess), reason);
	if (c->paused)
		paused_remove(in, c);
	/* Closed after it was made ready (the tick resumes paused connections,
	 * then applies the control epoch): the graveyard frees it at the end
	 * of this turn, so it must not stay on the list the next turn reads. A
	 * connection on the list being walked right now is not found here; that
	 * walk ends before the graveyard is emptied. */
	if (c->in_ready)
		for (struct conn **pp = &in->ready; *pp; pp = &(*pp)->rnext)
			if (*pp == c) {
				*pp = c->rnext;
				c->in_ready = 0;
				break;
			}
	c->state = C_DEAD;
	if (c->ssl) {
		/* best effort close_notify; the server never writes otherwise */
		SSL_set_quiet_shutdown(c->ssl, 0);
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	ERR_clear_error();
	close(c->fd);
	c->fd = -1;
	d4_session_free(c->sess);
	c->sess = NULL;
	d4_proto_decoder_free(c->dec);
	c->dec = NULL;
	acct_unref(in, c->acct);
	c->acct = NULL;
	unv_release(in, c);
	if (c->prev)
		c->prev->next = c->next;
	else
		in->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	in->nconns--;
	ST_ADD(in, st_live, (uint64_t)-1);
	c->gnext = in->grave;
	in->grave = c;
}

/* A rejection. Charged to the sensor (counters, last_error) only when this
 * connection proved its uuid with a verified HMAC; otherwise the uuid is
 * only claimed: the event goes to the hub totals (no sensor) and to the
 * ingest watch under the source address and the claimed uuid, as
 * watch_reason (v->reason unless a more precise watch reason applies). */
static void conn_reject_as(struct d4_ingest *in, struct conn *c, const struct d4_verdict *v, unsigned watch_reason)
{
	const uint8_t *su = c->sess ? d4_session_uuid(c->sess) : NULL;
	int proven = v->has_uuid && (v->proven || (su && d4_session_verified(c->sess) && memcmp(su, v->uuid, 16) == 0));
	struct d4_reject_ev ev;
	memset(&ev, 0, sizeof(ev));
	ev.has_uuid = proven;
	memcpy(ev.uuid, v->uuid, 16);
	memcpy(ev.addr, c->addr, 16);
	ev.reason = v->reason;
	ev.when = d4_now_s();
	d4_strlcpy(ev.detail, v->detail, sizeof(ev.detail));
	d4_store_post_reject(in->store, &ev);
	char hex[D4_UUID_HEX_LEN + 1] = "-";
	if (v->has_uuid)
		d4_uuid_hex(v->uuid, hex);
	if (proven) {
		d4_warn("sensor %s from %s: %s: %s", hex, c->ip, d4_store_reject_name(v->reason), v->detail);
	} else {
		watch_note(in, c->addr, v->has_uuid ? v->uuid : NULL, watch_reason, v->detail);
		d4_warn("unverified connection from %s (claimed sensor %s): %s: %s", c->ip, hex,
			d4_store_watch_reason_name(watch_reason), v->detail);
	}
	if (v->actions & D4_ACT_BLOCK_IP) {
		struct d4_block_entry be;
		memset(&be, 0, sizeof(be));
		be.kind = D4_BLOCK_IP;
		memcpy(be.addr, c->addr, 16);
		be.prefix = 128;
		be.created = ev.when;
		int rc = d4_store_block_add(in->store, &be);
		if (rc != 0)
			d4_warn("ingest: cannot block %s: %s", c->ip, d4_strerror(rc));
		else
			d4_notice("ingest: %s blocked (every address of sensor %s)", c->ip, hex);
	}
	ST_ADD(in, st_rejected, 1);
	conn_close(in, c, d4_store_reject_name(v->reason));
}

static void conn_reject(struct d4_ingest *in, struct conn *c, const struct d4_verdict *v)
{
	conn_reject_as(in, c, v, (unsigned)v->reason);
}

/* c's first packet verified: it stops counting against its address, and it
 * now holds (uuid, type). Unverified connections that claim the same slot
 * lose it: they are closed (a forged header never keeps the sensor out). */
static void conn_verified(struct d4_ingest *in, struct conn *c)
{
	unv_release(in, c);
	const uint8_t *u = d4_session_uuid(c->sess);
	uint8_t t = d4_session_type(c->sess);
	if (!u || t == D4_TYPE_META)
		return;
	for (struct conn *o = in->conns, *n; o; o = n) {
		n = o->next;
		if (o == c || o->state == C_DEAD || !o->sess || d4_session_verified(o->sess))
			continue;
		const uint8_t *ou = d4_session_uuid(o->sess);
		if (!ou || memcmp(ou, u, 16) != 0 || d4_session_type(o->sess) != t)
			continue;
		struct d4_verdict v;
		memset(&v, 0, sizeof(v));
		v.close = 1;
		v.reason = D4_REJ_DUPLICATE_SESSION;
		v.has_uuid = 1;
		memcpy(v.uuid, ou, 16);
		snprintf(v.detail, sizeof(v.detail), "a verified connection from %s took this uuid and type %u", c->ip,
			 t);
		conn_reject_as(in, o, &v, D4_WATCH_DISPLACED);
	}
}

/* The peer of a paused connection hung up or reset. epoll reports that even
 * with an empty interest mask, so the connection must go now (the loop
 * would otherwise spin on it for as long as the store stays paused). What
 * it sent and was not posted yet (the frame waiting for store room, bytes
 * in the decoder and in the socket) is lost to this connection: a sensor
 * that uses the acknowledgement extension sends it again. */
static void conn_lost(struct d4_ingest *in, struct conn *c)
{
	int frame = (c->v.actions & D4_ACT_FRAME) != 0;
	size_t left = c->dec ? d4_proto_decoder_pending(c->dec) : 0;
	int unread = 0;
	if (ioctl(c->fd, FIONREAD, &unread) != 0)
		unread = 0;
	d4_warn("ingest: %s hung up while waiting for store room: %d accepted frame(s), %zu buffered and %d unread "
		"byte(s) not stored",
		c->ip, frame, left, unread);
	c->v.actions = 0;
	conn_close(in, c, "peer reset while intake was paused");
}

static void make_ready(struct d4_ingest *in, struct conn *c)
{
	if (c->in_ready || c->state == C_DEAD)
		return;
	c->in_ready = 1;
	c->rnext = in->ready;
	in->ready = c;
}

static void conn_pause(struct d4_ingest *in, struct conn *c)
{
	if (c->paused)
		return;
	c->paused = 1;
	c->pnext = in->paused;
	in->paused = c;
	set_events(in, c, 0);
	ST_ADD(in, st_paused, 1);
}

static void ack_posted(struct conn *c, uint64_t mark, uint32_t size);

/* Posts the actions of c->v still pending, in order. 0, 1 (posted, now
 * throttle the connection) or D4_EAGAIN. */
static int post_actions(struct d4_ingest *in, struct conn *c)
{
	struct d4_verdict *v = &c->v;
	int rc;
	if (v->actions & D4_ACT_OPEN) {
		rc = d4_store_post_session_open(in->store, &v->open);
		if (rc == D4_EAGAIN)
			return rc;
		if (rc != 0)
			d4_warn("ingest: session %" PRIu64 " not recorded: %s", v->open.session, d4_strerror(rc));
		else
			c->opened = 1;
		v->actions &= ~D4_ACT_OPEN;
	}
	if (v->actions & D4_ACT_META) {
		rc = d4_store_post_session_meta(in->store, &v->meta);
		if (rc == D4_EAGAIN)
			return rc;
		v->actions &= ~D4_ACT_META;
	}
	if (v->actions & D4_ACT_FRAME) {
		uint64_t mark = 0;
		rc = c->ack ? d4_store_post_frame_mark(in->store, &v->rec, v->payload, &mark)
			    : d4_store_post_frame(in->store, &v->rec, v->payload);
		if (rc == D4_EAGAIN)
			return rc;
		if (rc != 0) {
			d4_warn("ingest: frame of session %" PRIu64 " not stored: %s", v->rec.session, d4_strerror(rc));
			c->ack_failed = 1;
		} else {
			if (c->ack)
				ack_posted(c, mark, v->rec.size);
			acct_posted(in, c->acct, v->rec.size);
			ST_ADD(in, st_frames, 1);
			ST_ADD(in, st_bytes, v->rec.size);
		}
		v->actions &= ~D4_ACT_FRAME;
	}
	if (v->actions & D4_ACT_THROTTLE) {
		v->actions &= ~D4_ACT_THROTTLE;
		return 1;
	}
	return 0;
}

/* ---- acknowledged delivery ------------------------------------------------ */

static void ack_posted(struct conn *c, uint64_t mark, uint32_t size)
{
	c->ack_frames++;
	c->ack_bytes += size;
	unsigned i;
	if (c->ack_n < ACK_CKS) {
		i = (c->ack_head + c->ack_n) % ACK_CKS;
		c->ack_n++;
	} else {
		i = (c->ack_head + ACK_CKS - 1) % ACK_CKS;
	}
	c->ack_ck[i].mark = mark;
	c->ack_ck[i].frames = c->ack_frames;
	c->ack_ck[i].bytes = c->ack_bytes;
}

/* Writes the pending record. A socket that cannot take it now keeps it
 * pending (OpenSSL wants the same bytes again); it is retried at the next
 * commit or tick. A broken connection is left to the read path. */
static void ack_write(struct conn *c)
{
	if (!c->ack_out_pending || c->state != C_DATA)
		return;
	ERR_clear_error();
	int r = SSL_write(c->ssl, c->ack_out, (int)sizeof(c->ack_out));
	if (r > 0) {
		c->ack_out_pending = 0;
		c->ack_sent = c->ack_out_frames;
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
		d4_debug("ingest: %s: acknowledgement not sent (connection broken)", c->ip);
		c->ack_failed = 1;
		c->ack_out_pending = 0;
	}
	ERR_clear_error();
}

/* The writer committed (its wakeup fd fired) or a tick: tell every d4-ack/1
 * connection how far its frames are committed. One store call per round,
 * then per connection a walk over its own checkpoints: no lock, no
 * allocation, nothing per frame. */
static void ack_flush(struct d4_ingest *in)
{
	uint64_t cm = 0;
	int have_cm = 0;
	for (struct conn *c = in->conns; c; c = c->next) {
		if (!c->ack || c->ack_failed || c->state != C_DATA)
			continue;
		if (c->ack_out_pending) {
			ack_write(c);
			if (c->ack_out_pending)
				continue;
		}
		if (!c->ack_n)
			continue;
		if (!have_cm) {
			cm = d4_store_committed_mark(in->store);
			have_cm = 1;
		}
		uint64_t frames = 0, bytes = 0;
		while (c->ack_n && c->ack_ck[c->ack_head].mark <= cm) {
			frames = c->ack_ck[c->ack_head].frames;
			bytes = c->ack_ck[c->ack_head].bytes;
			c->ack_head = (c->ack_head + 1) % ACK_CKS;
			c->ack_n--;
		}
		if (frames <= c->ack_sent)
			continue;
		d4_proto_ack_encode(frames, bytes, c->ack_out);
		c->ack_out_frames = frames;
		c->ack_out_pending = 1;
		ack_write(c);
	}
}

static void decoder_limit(struct conn *c)
{
	uint32_t m = d4_session_max_payload(c->sess);
	if (m != c->dec_max) {
		d4_proto_decoder_set_max(c->dec, m);
		c->dec_max = m;
	}
}

/* Runs the decoder until it needs more bytes. Returns 0 (need more), 1
 * (paused for store room) or -1 (connection closed). */
static int conn_process(struct d4_ingest *in, struct conn *c)
{
	struct d4_frame f;
	for (;;) {
		if (c->v.actions) {
			int pr = post_actions(in, c);
			if (pr == 1 && !c->throttled) {
				c->throttled = 1;
				c->throttle_since = in->now_mono;
			}
			if (pr != 0) {
				conn_pause(in, c);
				return 1;
			}
		}
		int ev = d4_proto_decoder_next(c->dec, &f);
		int rc;
		if (ev == D4_DEC_NEED_MORE)
			return 0;
		if (ev == D4_DEC_HEADER) {
			rc = d4_session_on_header(c->sess, &f.hdr, 0, &c->v);
			if (rc == D4_SESS_CONTINUE && !c->acct) {
				c->acct = acct_ref(in, f.hdr.uuid);
				if (!c->acct)
					d4_warn("ingest: out of memory for backlog accounting of %s", c->ip);
			}
		} else if (ev == D4_DEC_FRAME) {
			in->cur = c;
			rc = d4_session_on_frame(c->sess, &f, &c->v);
			in->cur = NULL;
			if (rc == D4_SESS_CONTINUE) {
				decoder_limit(c);
				if (c->unv && d4_session_verified(c->sess))
					conn_verified(in, c);
			}
			if (rc == D4_SESS_CONTINUE && c->ack) {
				/* Only the data frames the sensor announced as replays
				 * are checked against the window (and dropped if
				 * committed already); every other frame is stored and
				 * remembered. Meta-header frames are made anew for each
				 * connection: never replays, not counted. */
				int replay = 0;
				if (f.hdr.type != D4_TYPE_META && c->replay_left) {
					c->replay_left--;
					replay = 1;
				}
				if (c->v.actions & D4_ACT_FRAME) {
					c->v.rec.replay_check = replay ? D4_REPLAY_CHECK : D4_REPLAY_RECORD;
					memcpy(c->v.rec.hmac, f.hdr.hmac, D4_HMAC_LEN);
				}
			}
		} else if (ev == D4_ETOOBIG) {
			rc = d4_session_on_header(c->sess, &f.hdr, 1, &c->v);
			if (rc == D4_SESS_CONTINUE) { /* cannot happen: the decoder uses the session's limit */
				c->v.close = 1;
				c->v.reason = D4_REJ_TOO_BIG;
				c->v.has_uuid = 1;
				memcpy(c->v.uuid, f.hdr.uuid, 16);
				snprintf(c->v.detail, sizeof(c->v.detail), "declared size %" PRIu32 " above the limit",
					 f.hdr.size);
				c->v.actions = 0;
				rc = D4_SESS_CLOSE;
			}
		} else {
			c->v.close = 1;
			c->v.reason = D4_REJ_TOO_BIG;
			c->v.has_uuid = d4_session_uuid(c->sess) != NULL;
			if (c->v.has_uuid)
				memcpy(c->v.uuid, d4_session_uuid(c->sess), 16);
			snprintf(c->v.detail, sizeof(c->v.detail), "stream decoder: %s", d4_strerror(ev));
			c->v.actions = 0;
			rc = D4_SESS_CLOSE;
		}
		if (rc != D4_SESS_CONTINUE) {
			conn_reject(in, c, &c->v);
			return -1;
		}
		c->deadline_ms = in->now_mono + (uint64_t)in->conf.header_timeout * 1000u;
	}
}

/* The first bytes of a d4-ack/1 connection are not a replay announcement:
 * a protocol violation, counted as bad-version (the stream does not follow
 * the protocol version negotiated by ALPN). No frame was read yet. */
static void ann_reject(struct d4_ingest *in, struct conn *c, int err)
{
	struct d4_verdict v;
	memset(&v, 0, sizeof(v));
	v.close = 1;
	v.reason = D4_REJ_VERSION;
	snprintf(v.detail, sizeof(v.detail), "%s: no valid replay announcement before the first frame (%s)",
		 D4_ACK_ALPN, d4_strerror(err));
	conn_reject(in, c, &v);
}

static void tls_fail(struct d4_ingest *in, struct conn *c, const char *what)
{
	struct d4_verdict v;
	memset(&v, 0, sizeof(v));
	v.close = 1;
	v.reason = D4_REJ_TLS;
	const uint8_t *u = c->sess ? d4_session_uuid(c->sess) : NULL;
	v.has_uuid = u != NULL;
	if (u)
		memcpy(v.uuid, u, 16);
	unsigned long e = ERR_get_error();
	char buf[128] = "";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(v.detail, sizeof(v.detail), "%s%s%s", what, e ? ": " : "", buf);
	ERR_clear_error();
	conn_reject(in, c, &v);
}

/* Handshake, then read into the decoder until OpenSSL wants the socket
 * again: SSL_pending data (the tail of a record) is always consumed, so a
 * short last record is never left behind. */
static void conn_io(struct d4_ingest *in, struct conn *c)
{
	if (c->state == C_DEAD || c->paused)
		return;
	if (c->state == C_HANDSHAKE) {
		ERR_clear_error();
		int r = SSL_do_handshake(c->ssl);
		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ)
				set_events(in, c, EPOLLIN);
			else if (e == SSL_ERROR_WANT_WRITE)
				set_events(in, c, EPOLLOUT);
			else
				tls_fail(in, c, "TLS handshake failed");
			return;
		}
		c->state = C_DATA;
		const unsigned char *alpn = NULL;
		unsigned alen = 0;
		SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
		c->ack = alen == sizeof(D4_ACK_ALPN) - 1 && memcmp(alpn, D4_ACK_ALPN, alen) == 0;
		c->ann_wait = c->ack;
		d4_debug("ingest: %s: %s %s%s", c->ip, SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl),
			 c->ack ? ", acknowledged delivery (" D4_ACK_ALPN ")" : "");
	}
	size_t budget = READ_BUDGET;
	for (;;) {
		if (conn_process(in, c) != 0)
			return;
		if (budget == 0) {
			make_ready(in, c);
			return;
		}
		size_t avail = 0;
		uint8_t *p;
		if (c->ann_wait) {
			/* exactly the record: the D4 bytes after it go to the decoder */
			p = c->ann + c->ann_len;
			avail = sizeof(c->ann) - c->ann_len;
		} else {
			p = d4_proto_decoder_wbuf(c->dec, READ_WINDOW, &avail);
		}
		if (!p || avail == 0) {
			struct d4_verdict v;
			memset(&v, 0, sizeof(v));
			v.close = 1;
			v.reason = D4_REJ_TOO_BIG;
			snprintf(v.detail, sizeof(v.detail), "stream decoder has no room (out of memory?)");
			conn_reject(in, c, &v);
			return;
		}
		if (avail > INT32_MAX)
			avail = INT32_MAX;
		ERR_clear_error();
		errno = 0;
		int n = SSL_read(c->ssl, p, (int)avail);
		int read_errno = errno;
		if (n > 0 && c->ann_wait) {
			c->ann_len += (size_t)n;
			budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
			uint64_t count;
			int ar = d4_proto_ack_replay_parse(c->ann, c->ann_len, &count);
			if (ar == D4_ETRUNC)
				continue;
			if (ar < 0) {
				ann_reject(in, c, ar);
				return;
			}
			c->ann_wait = 0;
			c->replay_left = count;
			if (count)
				d4_debug("ingest: %s: the sensor announces %" PRIu64 " replayed frame(s)", c->ip,
					 count);
			continue;
		}
		if (n > 0) {
			d4_proto_decoder_commit(c->dec, (size_t)n);
			budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
			continue;
		}
		if (!c->ann_wait)
			d4_proto_decoder_commit(c->dec, 0);
		int e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_READ) {
			set_events(in, c, EPOLLIN);
			return;
		}
		if (e == SSL_ERROR_WANT_WRITE) {
			set_events(in, c, EPOLLOUT);
			return;
		}
		if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && read_errno != 0) {
			/* A reset (or another socket error) is not a close: what
			 * the peer had sent after the last byte read is lost. */
			size_t left = d4_proto_decoder_pending(c->dec);
			d4_info("ingest: %s: %s%s (%zu bytes of a partial packet dropped)", c->ip,
				read_errno == ECONNRESET ? "connection reset by peer" : strerror(read_errno),
				left ? " inside a packet" : "", left);
			char reason[64];
			snprintf(reason, sizeof(reason), "%s%s",
				 read_errno == ECONNRESET ? "connection reset by peer" : "connection error",
				 left ? " mid-packet" : "");
			conn_close(in, c, reason);
			return;
		}
		if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
			size_t left = d4_proto_decoder_pending(c->dec);
			if (left)
				d4_info("ingest: %s closed the connection inside a packet (%zu bytes dropped)", c->ip,
					left);
			else
				d4_debug("ingest: %s closed the connection", c->ip);
			conn_close(in, c, left ? "peer closed mid-packet" : "peer closed");
			return;
		}
		if (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			conn_close(in, c, "peer closed without close_notify");
			return;
		}
		tls_fail(in, c, "TLS read failed");
		return;
	}
}

static void addr_of(const struct sockaddr_storage *ss, uint8_t addr[16], uint16_t *port, char *text, size_t size)
{
	memset(addr, 0, 16);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, &s4->sin_addr, 4);
		*port = ntohs(s4->sin_port);
		inet_ntop(AF_INET, &s4->sin_addr, text, (socklen_t)size);
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		memcpy(addr, &s6->sin6_addr, 16);
		*port = ntohs(s6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, addr + 12, text, (socklen_t)size);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, text, (socklen_t)size);
	}
}

static void do_accept(struct d4_ingest *in)
{
	/* A new connection must see an admin change made just before it (e.g.
	 * the server mode), not up to a tick later: one short read per batch. */
	check_epoch(in);
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(in->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
				return;
			/* EMFILE and friends: stop accepting until the next tick */
			d4_warn("ingest: accept: %s", strerror(errno));
			struct epoll_event e = {.events = 0, .data.ptr = PTR_LISTEN};
			epoll_ctl(in->ep, EPOLL_CTL_MOD, in->lfd, &e);
			return;
		}
		ST_ADD(in, st_accepted, 1);
		uint8_t a16[16];
		uint16_t port;
		char ip[INET6_ADDRSTRLEN + 2];
		addr_of(&ss, a16, &port, ip, sizeof(ip));
		if (in->nconns >= in->conf.max_connections) {
			in->refused_full++;
			watch_note(in, a16, NULL, D4_WATCH_MAX_CONNECTIONS, "ingest.max_connections reached");
			close(fd);
			continue;
		}
		/* Before any TLS work: one address cannot hold every slot with
		 * connections that prove nothing. */
		struct addr_cnt *ac = addr_get(in, a16);
		if (!ac || ac->n >= in->conf.max_unverified_per_address) {
			if (ac) {
				ac->refused++;
				watch_note(in, a16, NULL, D4_WATCH_ADDRESS_LIMIT,
					   "too many connections from this address without a verified packet");
			}
			close(fd);
			continue;
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			if (ac->n == 0)
				addr_drop(in, ac);
			close(fd);
			continue;
		}
		c->fd = fd;
		memcpy(c->addr, a16, 16);
		c->port = port;
		memcpy(c->ip, ip, sizeof(c->ip));
		ac->n++;
		c->unv = ac;
		in->nunverified++;
		/* An idle verified sensor stays connected (as with the reference
		 * server): keep-alive finds peers that vanished without a FIN. */
		int one = 1, idle = 60, intvl = 10, cnt = 6;
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
		/* Keep-alive does not probe while sent data is unacknowledged, and
		 * the hub writes ack records (d4-ack/1): without a bound, a record
		 * written to a vanished sensor is retransmitted for ~15 min
		 * (tcp_retries2) while the dead connection keeps the sensor's slot
		 * and its reconnections are refused. The same 120 s as keep-alive. */
		int user_timeout_ms = (idle + intvl * cnt) * 1000;
		setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms));
		c->sess = d4_session_new(&in->env, c->addr, c->port);
		c->dec_max = in->conf.preauth_max < in->conf.max_payload ? in->conf.preauth_max : in->conf.max_payload;
		c->dec = d4_proto_decoder_new(c->dec_max);
		c->ssl = SSL_new(in->ctx);
		c->deadline_ms = in->now_mono + (uint64_t)in->conf.header_timeout * 1000u;
		c->hs_deadline_ms = in->now_mono + (uint64_t)in->conf.handshake_timeout * 1000u;
		c->next = in->conns;
		if (in->conns)
			in->conns->prev = c;
		in->conns = c;
		in->nconns++;
		ST_ADD(in, st_live, 1);
		if (!c->sess || !c->dec || !c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
			d4_err("ingest: out of memory for a connection from %s", c->ip);
			conn_close(in, c, "out of memory");
			continue;
		}
		SSL_set_accept_state(c->ssl);
		if (d4_session_on_connect(c->sess, &c->v) != D4_SESS_CONTINUE) {
			conn_reject(in, c, &c->v);
			continue;
		}
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(in->ep, EPOLL_CTL_ADD, fd, &e) != 0) {
			d4_err("ingest: epoll_ctl add: %s", strerror(errno));
			conn_close(in, c, "internal error");
			continue;
		}
		c->events = EPOLLIN;
		d4_debug("ingest: connection from %s port %u", c->ip, c->port);
	}
}

static void resume_paused(struct d4_ingest *in)
{
	struct conn *list = in->paused;
	in->paused = NULL;
	int fresh = 0;
	while (list) {
		struct conn *c = list;
		list = c->pnext;
		c->pnext = NULL;
		if (c->throttled && c->acct) {
			if (!fresh) {
				refresh_committed(in);
				fresh = 1;
			}
			uint64_t cap = d4_session_backlog_cap(c->sess);
			if (cap && acct_backlog(in, c->acct) > cap) {
				c->pnext = in->paused; /* still over its cap: stay paused */
				in->paused = c;
				continue;
			}
		}
		c->paused = 0;
		c->throttled = 0;
		/* waiting for the store is not the sensor's silence */
		c->deadline_ms = in->now_mono + (uint64_t)in->conf.header_timeout * 1000u;
		set_events(in, c, EPOLLIN);
		make_ready(in, c);
	}
}

static void check_epoch(struct d4_ingest *in)
{
	uint64_t ep = d4_store_epoch(in->store);
	if (ep == in->epoch)
		return;
	in->epoch = ep;
	if (refresh_caches(in) != 0)
		return;
	(void)load_server_settings(in, 0);
	for (struct conn *c = in->conns, *n; c; c = n) {
		n = c->next;
		if (c->state != C_DEAD && d4_session_recheck(c->sess, &c->v) != D4_SESS_CONTINUE)
			conn_reject(in, c, &c->v);
	}
	/* Shows an operator (and the integration tests, lib.sh hub_sync) that an
	 * admin change took effect: live connections were re-checked and every
	 * later one is judged by it. */
	d4_info("ingest: control epoch %" PRIu64 " applied", ep);
}

static void tick(struct d4_ingest *in)
{
	if (in->refused_full) {
		d4_warn("ingest: %" PRIu64 " connection(s) refused: max_connections (%u) reached", in->refused_full,
			in->conf.max_connections);
		in->refused_full = 0;
	}
	/* re-arm the listener in case accept() failed with EMFILE */
	struct epoll_event le = {.events = EPOLLIN, .data.ptr = PTR_LISTEN};
	epoll_ctl(in->ep, EPOLL_CTL_MOD, in->lfd, &le);
	refresh_committed(in);
	retry_closes(in);
	/* counted before the retry below: a connection still without room is
	 * back on the list by the end of this turn */
	uint64_t npaused = 0;
	for (struct conn *c = in->paused; c; c = c->pnext)
		npaused++;
	if (in->paused)
		resume_paused(in);
	ack_flush(in);

	check_epoch(in);
	uint64_t stall_ms = (uint64_t)in->conf.header_timeout * 1000u;
	for (struct conn *c = in->conns, *n; c; c = n) {
		n = c->next;
		if (c->throttled && in->now_mono - c->throttle_since > stall_ms) {
			d4_session_on_backlog_stall(c->sess, c->acct ? acct_backlog(in, c->acct) : 0, &c->v);
			conn_reject(in, c, &c->v);
			continue;
		}
		if (c->state == C_HANDSHAKE && in->now_mono >= c->hs_deadline_ms) {
			struct d4_verdict v;
			memset(&v, 0, sizeof(v));
			v.close = 1;
			v.reason = D4_REJ_TLS;
			snprintf(v.detail, sizeof(v.detail), "TLS handshake not completed within %u s",
				 in->conf.handshake_timeout);
			conn_reject_as(in, c, &v, D4_WATCH_HANDSHAKE_TIMEOUT);
			continue;
		}
		/* Only a connection that never proved a key is closed for silence:
		 * a verified sensor following a quiet source stays connected
		 * (DESIGN.md §3), and its silence is no rejection. */
		if (!c->paused && !d4_session_verified(c->sess) && in->now_mono >= c->deadline_ms) {
			d4_session_on_timeout(c->sess, &c->v);
			if (c->ann_wait)
				snprintf(c->v.detail, sizeof(c->v.detail), "%s: no replay announcement within %u s",
					 D4_ACK_ALPN, in->conf.header_timeout);
			else
				snprintf(c->v.detail, sizeof(c->v.detail), "no complete header within %u s",
					 in->conf.header_timeout);
			conn_reject(in, c, &c->v);
		}
	}
	uint64_t at_limit = 0;
	for (unsigned b = 0; b < ADDR_BUCKETS; b++)
		for (struct addr_cnt *a = in->addrs[b]; a; a = a->next) {
			addr_log_refused(in, a);
			if (a->n >= in->conf.max_unverified_per_address)
				at_limit++;
		}
	publish_watch(in, at_limit, npaused);
}

static void bury(struct d4_ingest *in)
{
	while (in->grave) {
		struct conn *c = in->grave;
		in->grave = c->gnext;
		free(c);
	}
}

/* Shutdown: post every frame already accepted (waiting for the writer if its
 * queue is full), then close every connection. */
static void drain_and_close(struct d4_ingest *in)
{
	uint64_t until = d4_mono_ms() + 30000;
	for (struct conn *c = in->conns; c; c = c->next) {
		while (c->v.actions && post_actions(in, c) == D4_EAGAIN && d4_mono_ms() < until) {
			/* A paused writer (map full) frees no room before it stops:
			 * waiting would only delay the documented recovery (stop,
			 * larger map, restart). Unacknowledged frames are sent again
			 * by sensors with acknowledged delivery. */
			struct d4_store_status st;
			d4_store_status_get(in->store, &st);
			if (st.paused)
				break;
			struct pollfd pfd = {.fd = in->wakefd, .events = POLLIN};
			if (poll(&pfd, 1, 100) > 0) {
				uint64_t x;
				if (read(in->wakefd, &x, sizeof(x)) < 0 && errno != EAGAIN)
					break;
			}
		}
		if (c->v.actions)
			d4_err("ingest: store not accepting: frames of %s dropped at shutdown%s", c->ip,
			       c->ack ? " (not acknowledged: the sensor sends them again)" : "");
	}
	while (in->conns)
		conn_close(in, in->conns, "hub stopping");
	while (in->closes && d4_mono_ms() < until) {
		retry_closes(in);
		if (in->closes)
			usleep(10000);
	}
	bury(in);
	struct d4_watch_ingest w;
	memset(&w, 0, sizeof(w));
	d4_store_watch_ingest_set(in->store, &w);
}

static void *loop(void *arg)
{
	struct d4_ingest *in = arg;
	struct epoll_event evs[MAX_EVENTS];
	uint64_t next_tick = d4_mono_ms() + TICK_MS;
	/* named for top -H, perf and the ingest bench's per-thread CPU */
	pthread_setname_np(pthread_self(), "d4-ingest");
	for (;;) {
		in->now_mono = d4_mono_ms();
		int timeout = in->ready ? 0 : (int)(next_tick > in->now_mono ? next_tick - in->now_mono : 0);
		int n = epoll_wait(in->ep, evs, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			d4_err("ingest: epoll_wait: %s", strerror(errno));
			break;
		}
		in->now_mono = d4_mono_ms();
		in->env.now_s = d4_now_s();
		in->env.now_ms = d4_now_ms();
		int stop = 0;
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == PTR_LISTEN) {
				do_accept(in);
			} else if (p == PTR_STOP) {
				stop = 1;
			} else if (p == PTR_WAKE) {
				uint64_t x;
				if (read(in->wakefd, &x, sizeof(x)) < 0 && errno != EAGAIN)
					d4_debug("ingest: wakeup fd: %s", strerror(errno));
				retry_closes(in);
				resume_paused(in);
				ack_flush(in);
			} else {
				struct conn *c = p;
				if (c->paused && (evs[i].events & (EPOLLERR | EPOLLHUP)))
					conn_lost(in, c);
				else
					conn_io(in, c);
			}
		}
		if (stop)
			break;
		/* connections that hit their read budget or were resumed */
		struct conn *r = in->ready;
		in->ready = NULL;
		while (r) {
			struct conn *c = r;
			r = c->rnext;
			c->in_ready = 0;
			conn_io(in, c);
		}
		if (in->now_mono >= next_tick) {
			tick(in);
			next_tick = in->now_mono + TICK_MS;
		}
		bury(in);
	}
	close(in->lfd);
	in->lfd = -1;
	drain_and_close(in);
	return NULL;
}

/* ---- start / stop -------------------------------------------------------- */

/* "host:port", "[v6]:port", "*:port"; port 0 allowed (tests: ephemeral). */
static int split_listen(const char *s, char *host, size_t hsize, char *port, size_t psize)
{
	const char *colon;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':' || (size_t)(end - s - 1) >= hsize)
			return D4_EINVAL;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = 0;
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= hsize)
			return D4_EINVAL;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = 0;
	}
	return d4_strlcpy(port, colon + 1, psize) == 0 && port[0] ? 0 : D4_EINVAL;
}

static int do_listen(struct d4_ingest *in, char *err, size_t errsize)
{
	char host[128], port[16];
	if (split_listen(in->conf.listen, host, sizeof(host), port, sizeof(port)) != 0) {
		snprintf(err, errsize, "ingest.listen: bad address '%s'", in->conf.listen);
		return D4_ECONFIG;
	}
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int gr = getaddrinfo(strcmp(host, "*") ? host : NULL, port, &hints, &res);
	if (gr != 0) {
		snprintf(err, errsize, "ingest.listen %s: %s", in->conf.listen, gai_strerror(gr));
		return D4_ECONFIG;
	}
	int fd = -1;
	int saved = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errsize, "ingest.listen %s: %s", in->conf.listen, strerror(saved));
		return D4_EIO;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	uint8_t a[16];
	char ip[INET6_ADDRSTRLEN];
	addr_of(&ss, a, &in->port, ip, sizeof(ip));
	if (ss.ss_family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a))
		snprintf(in->addrtext, sizeof(in->addrtext), "[%s]:%u", ip, in->port);
	else
		snprintf(in->addrtext, sizeof(in->addrtext), "%s:%u", ip, in->port);
	in->lfd = fd;
	return 0;
}

static void free_ingest(struct d4_ingest *in)
{
	if (in->lfd >= 0)
		close(in->lfd);
	if (in->ep >= 0)
		close(in->ep);
	if (in->stopfd >= 0)
		close(in->stopfd);
	SSL_CTX_free(in->ctx);
	if (in->env.reg)
		d4_session_registry_free(in->env.reg);
	for (unsigned b = 0; b < ACCT_BUCKETS; b++)
		while (in->accts[b]) {
			struct acct *a = in->accts[b];
			in->accts[b] = a->next;
			free(a);
		}
	for (unsigned b = 0; b < ADDR_BUCKETS; b++)
		while (in->addrs[b]) {
			struct addr_cnt *a = in->addrs[b];
			in->addrs[b] = a->next;
			free(a);
		}
	free(in->blocks);
	d4_wipe(in->conf.shared_key, sizeof(in->conf.shared_key));
	d4_wipe(in->skey, sizeof(in->skey));
	free(in);
}

int d4_ingest_start(const struct d4_hubconf *conf, struct d4_store *store, struct d4_ingest **out, char *err,
		    size_t errsize)
{
	*out = NULL;
	struct d4_ingest *in = calloc(1, sizeof(*in));
	if (!in) {
		snprintf(err, errsize, "out of memory");
		return D4_ENOMEM;
	}
	in->lfd = in->ep = in->stopfd = -1;
	in->conf = *conf;
	in->store = store;
	if (in->conf.header_timeout == 0)
		in->conf.header_timeout = 30;
	if (in->conf.max_connections == 0)
		in->conf.max_connections = 4096;
	if (in->conf.max_unverified_per_address == 0)
		in->conf.max_unverified_per_address = 32;
	if (in->conf.handshake_timeout == 0)
		in->conf.handshake_timeout = 10;
	if (in->conf.max_payload == 0)
		in->conf.max_payload = D4_DEFAULT_MAX_PAYLOAD;
	if (in->conf.preauth_max == 0)
		in->conf.preauth_max = in->conf.max_payload;
	in->ck_interval = in->conf.max_backlog / 32 > 65536 ? in->conf.max_backlog / 32 : 65536;

	int rc = d4_ingest_tls_ctx(conf->cert, conf->key, &in->ctx, err, errsize);
	if (rc != 0)
		goto fail;
	if (in->conf.ack)
		SSL_CTX_set_alpn_select_cb(in->ctx, alpn_select, NULL);
	rc = D4_EIO;
	in->ep = epoll_create1(EPOLL_CLOEXEC);
	in->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	in->wakefd = d4_store_writer_wakeup_fd(store);
	if (in->ep < 0 || in->stopfd < 0 || in->wakefd < 0) {
		snprintf(err, errsize, "cannot set up the event loop: %s", strerror(errno));
		goto fail;
	}
	in->env.reg = d4_session_registry_new();
	if (!in->env.reg) {
		snprintf(err, errsize, "out of memory");
		rc = D4_ENOMEM;
		goto fail;
	}
	in->env.ops = &ingest_ops;
	in->env.u = in;
	in->env.mode = in->conf.mode;
	memcpy(in->skey, in->conf.shared_key, in->conf.shared_keylen);
	in->skeylen = in->conf.shared_keylen;
	in->env.shared_key = in->skey;
	in->env.shared_keylen = in->skeylen;
	in->env.max_payload = in->conf.max_payload;
	in->env.preauth_max = in->conf.preauth_max;
	in->env.timestamp_window = in->conf.timestamp_window;
	in->env.max_backlog = in->conf.max_backlog;
	in->env.hub_tlp = in->conf.default_tlp ? in->conf.default_tlp : D4_TLP_AMBER_STRICT;
	memcpy(in->env.hub_org, in->conf.org, 16);
	in->env.now_s = d4_now_s();
	in->env.now_ms = d4_now_ms();

	in->epoch = d4_store_epoch(store);
	rc = refresh_caches(in);
	if (rc != 0) {
		snprintf(err, errsize, "cannot load blocklists/types from the store: %s", d4_strerror(rc));
		goto fail;
	}
	d4_info("ingest: control epoch %" PRIu64 " applied (at start)", in->epoch);
	rc = load_server_settings(in, 1);
	if (rc != 0) {
		snprintf(err, errsize, "cannot load the run-time server mode from the store: %s", d4_strerror(rc));
		goto fail;
	}
	struct d4_store_status st;
	d4_store_status_get(store, &st);
	in->committed0 = st.committed_bytes;

	rc = do_listen(in, err, errsize);
	if (rc != 0)
		goto fail;
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = PTR_LISTEN};
	struct epoll_event es = {.events = EPOLLIN, .data.ptr = PTR_STOP};
	struct epoll_event ew = {.events = EPOLLIN, .data.ptr = PTR_WAKE};
	if (epoll_ctl(in->ep, EPOLL_CTL_ADD, in->lfd, &e) != 0 ||
	    epoll_ctl(in->ep, EPOLL_CTL_ADD, in->stopfd, &es) != 0 ||
	    epoll_ctl(in->ep, EPOLL_CTL_ADD, in->wakefd, &ew) != 0) {
		snprintf(err, errsize, "epoll_ctl: %s", strerror(errno));
		rc = D4_EIO;
		goto fail;
	}
	publish_watch(in, 0, 0);
	int pr = pthread_create(&in->thr, NULL, loop, in);
	if (pr != 0) {
		snprintf(err, errsize, "cannot start the ingest thread: %s", strerror(pr));
		rc = D4_EIO;
		goto fail;
	}
	in->started = 1;
	*out = in;
	return 0;
fail:
	free_ingest(in);
	return rc;
}

const char *d4_ingest_addr(const struct d4_ingest *in)
{
	return in->addrtext;
}

uint16_t d4_ingest_port(const struct d4_ingest *in)
{
	return in->port;
}

void d4_ingest_stats_get(struct d4_ingest *in, struct d4_ingest_stats *out)
{
	out->accepted = atomic_load_explicit(&in->st_accepted, memory_order_relaxed);
	out->live = atomic_load_explicit(&in->st_live, memory_order_relaxed);
	out->rejected = atomic_load_explicit(&in->st_rejected, memory_order_relaxed);
	out->frames = atomic_load_explicit(&in->st_frames, memory_order_relaxed);
	out->bytes = atomic_load_explicit(&in->st_bytes, memory_order_relaxed);
	out->paused = atomic_load_explicit(&in->st_paused, memory_order_relaxed);
}

void d4_ingest_stop(struct d4_ingest *in)
{
	if (!in)
		return;
	if (in->started) {
		uint64_t one = 1;
		if (write(in->stopfd, &one, sizeof(one)) != sizeof(one))
			d4_err("ingest: cannot signal the loop to stop: %s", strerror(errno));
		pthread_join(in->thr, NULL);
	}
	free_ingest(in);
}
