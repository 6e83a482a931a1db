/* d4-sensor: the main loop. Reads the source, frames, and sends to stdout or
 * to the hub over TLS, with reconnection and the optional spool.
 *
 * Every chunk is appended to the spool first and sent from it. A record
 * counts as delivered (and its segment may be deleted) only once it is
 * acknowledged: by the hub's ack records when the hub selected d4-ack/1
 * (the hub committed it durably; docs/protocol.md), else — plain D4 has no
 * acknowledgements — once the hub's TCP stack acknowledged the bytes that
 * carried it (SIOCOUTQ). On a connection loss, sending restarts at the first
 * unacknowledged record. On a d4-ack/1 connection the sensor first announces
 * how many of the records it sends are replays (sent before, not
 * acknowledged): the hub drops those it had committed, and only those. */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_proto.h"
#include "d4_util.h"
#include "sensor_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define ACK_TIMEOUT_MS 120000u	  /* d4-ack/1: no progress this long with frames unacked: reconnect */
#define SEND_BURST     (4u << 20) /* bytes sent from the spool before reading the source again */

static volatile sig_atomic_t stop_flag;

void d4_sensor_stop(void)
{
	stop_flag = 1;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return D4_EIO;
		p += w;
		n -= (size_t)w;
	}
	return D4_OK;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

struct runner {
	const struct d4_sensor_run_opts *o;
	uint64_t (*now)(void);
	struct d4_sensor_src *src;
	uint8_t *fbuf;
	size_t fcap;
	/* TLS */
	struct uplink up;
	int connected;
	uint64_t backoff, next_try, connected_at;
	struct d4_spool *sp;
	struct sent_ring sent; /* sent on this connection, not yet acknowledged */
	uint64_t frames, bytes;
	uint64_t conn_frames;  /* frames written on the current connection (meta header included) */
	uint64_t ack_progress; /* mono ms of the last ack that released records */
	/* d4-ack/1 replay announcement: records at the start of the
	 * unacknowledged part of the spool that were sent before (the next
	 * connection's count), records sent from the spool on this connection,
	 * and the spool's dropped-record count already taken into account. */
	uint64_t replay, conn_records, replay_dropped_seen;
};

/* Sends the meta header as type-2 frame(s) through emit(). */
static int send_meta(struct runner *r, int (*emit)(struct runner *, const uint8_t *, size_t))
{
	const struct d4_sensor_run_opts *o = r->o;
	for (size_t off = 0; off < o->metalen; off += D4S_META_CHUNK) {
		size_t n = o->metalen - off < D4S_META_CHUNK ? o->metalen - off : D4S_META_CHUNK;
		int len = d4_sensor_frame(&o->id, D4_TYPE_META, r->now(), o->meta + off, n, r->fbuf, r->fcap);
		if (len < 0)
			return len;
		int rc = emit(r, r->fbuf, (size_t)len);
		if (rc)
			return rc;
	}
	return D4_OK;
}

static int emit_stdout(struct runner *r, const uint8_t *p, size_t n)
{
	return write_all(r->o->out_fd, p, n);
}

static int run_stdout(struct runner *r)
{
	const struct d4_sensor_run_opts *o = r->o;
	if (o->meta && send_meta(r, emit_stdout) != 0)
		goto wfail;
	for (;;) {
		if (stop_flag)
			return D4S_EXIT_OK;
		const uint8_t *d;
		int n = d4_sensor_src_next(r->src, &d, 1000);
		if (n == 0)
			continue;
		if (n == D4_ECLOSED)
			break;
		if (n < 0) {
			d4_err("source: %s", d4_strerror(n));
			return D4S_EXIT_ERR;
		}
		int len = d4_sensor_frame(&o->id, o->type, r->now(), d, (size_t)n, r->fbuf, r->fcap);
		if (len < 0 || emit_stdout(r, r->fbuf, (size_t)len) != 0)
			goto wfail;
	}
	/* like the reference C client: an empty packet ends the stream */
	int len = d4_sensor_frame(&o->id, o->type, r->now(), NULL, 0, r->fbuf, r->fcap);
	if (len < 0 || emit_stdout(r, r->fbuf, (size_t)len) != 0)
		goto wfail;
	return D4S_EXIT_OK;
wfail:
	d4_err("write to stdout: %s", strerror(errno));
	return D4S_EXIT_ERR;
}

static int emit_tls(struct runner *r, const uint8_t *p, size_t n)
{
	int rc = uplink_write(&r->up, p, n);
	if (rc == 0)
		r->conn_frames++;
	return rc;
}

static void confirm_acked(struct runner *r);

static void disconnect(struct runner *r, int clean)
{
	if (!r->connected)
		return;
	/* What was acknowledged before the close counts as delivered: read the
	 * acks already received (d4-ack/1), or look at the TCP send queue one
	 * last time (plain D4; without it, a hub that stops right after reading
	 * our data gets it again from the rewound spool, seen as duplicates). */
	if (r->up.ack)
		(void)uplink_read(&r->up, 1);
	confirm_acked(r);
	r->replay = sent_replay_next(r->replay, r->conn_records, r->sent.count);
	uplink_close(&r->up, clean);
	r->connected = 0;
	r->sent.count = 0;
	if (r->sp)
		d4_sensor_spool_rewind(r->sp);
	if (!clean) {
		/* a hub that accepts and then drops us (rejection) must not be
		 * hammered: only a connection that lasted resets the backoff */
		uint64_t now = d4_mono_ms();
		if (now - r->connected_at > 10000)
			r->backoff = BACKOFF_MIN_MS;
		r->next_try = now + r->backoff / 2;
		r->backoff = r->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff * 2;
	}
}

/* d4-ack/1: the first bytes of the connection say how many of the records
 * that follow (after the meta header) are replays; the hub checks exactly
 * those against what it committed. Records the full spool dropped were the
 * oldest unacknowledged ones, the first to be replayed. */
static int announce_replay(struct runner *r)
{
	struct d4_spool_stats st;
	d4_sensor_spool_stats(r->sp, &st);
	uint64_t gone = st.dropped_frames - r->replay_dropped_seen;
	r->replay_dropped_seen = st.dropped_frames;
	r->replay = gone >= r->replay ? 0 : r->replay - gone;
	if (r->replay > D4_ACK_MAX_REPLAY) /* cannot happen: at most that many in flight */
		r->replay = D4_ACK_MAX_REPLAY;
	uint8_t rec[D4_ACK_REPLAY_LEN];
	d4_proto_ack_replay_encode(r->replay, rec);
	if (r->replay)
		d4_info("resending %" PRIu64 " unacknowledged record(s) first", r->replay);
	return uplink_write(&r->up, rec, sizeof(rec));
}

static void try_connect(struct runner *r)
{
	uint64_t now = d4_mono_ms();
	if (r->connected || now < r->next_try)
		return;
	if (uplink_connect(&r->up) == 0) {
		r->connected = 1;
		r->connected_at = now;
		r->conn_frames = 0;
		r->conn_records = 0;
		r->ack_progress = now;
		if (r->up.ack && announce_replay(r) != 0) {
			disconnect(r, 0);
			return;
		}
		if (r->o->meta && send_meta(r, emit_tls) != 0) {
			disconnect(r, 0);
			return;
		}
		d4_notice("connected to %s%s", r->o->dest,
			  r->up.ack ? " (acknowledged delivery)" : " (plain D4: no acknowledgements from the hub)");
		return;
	}
	/* full jitter in [backoff/2, backoff] spreads reconnecting sensors */
	uint32_t rnd = 0;
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (uint32_t)now;
	uint64_t delay = r->backoff / 2 + rnd % (r->backoff / 2 + 1);
	r->next_try = now + delay;
	d4_warn("hub %s unreachable, next attempt in %" PRIu64 " ms", r->o->dest, delay);
	r->backoff = r->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff * 2;
}

/* Confirms every spool record whose bytes the hub's TCP acknowledged. */
static void confirm_acked(struct runner *r)
{
	if (!r->connected || !r->sent.count)
		return;
	struct d4_spool_pos last = {0, 0};
	if (r->up.ack) {
		/* the hub committed the first acked_frames frames of this connection */
		if (sent_release(&r->sent, 1, r->up.acked_frames, &last)) {
			d4_sensor_spool_confirm(r->sp, &last);
			r->ack_progress = d4_mono_ms();
		}
		return;
	}
	uint64_t q = uplink_unacked(&r->up), w = uplink_written(&r->up);
	if (q == UINT64_MAX || q > w)
		return;
	uint64_t acked = w - q;
	if (sent_release(&r->sent, 0, acked, &last))
		d4_sensor_spool_confirm(r->sp, &last);
}

/* Sends from the spool; returns bytes sent. */
static size_t send_spool(struct runner *r)
{
	size_t sent = 0;
	while (r->connected && sent < SEND_BURST && r->sent.count < D4S_SENT_MAX) {
		uint8_t type;
		uint64_t ts;
		const uint8_t *d;
		size_t n;
		int rc = d4_sensor_spool_peek(r->sp, &type, &ts, &d, &n);
		if (rc <= 0)
			break;
		int len = d4_sensor_frame(&r->o->id, type, ts, d, n, r->fbuf, r->fcap);
		if (len < 0) {
			d4_err("frame: %s", d4_strerror(len));
			break;
		}
		if (r->sent.count == 0)
			r->ack_progress = d4_mono_ms(); /* the ack clock starts with the first record in flight */
		if (uplink_write(&r->up, r->fbuf, (size_t)len) != 0) {
			disconnect(r, 0);
			break;
		}
		r->conn_frames++;
		r->conn_records++;
		struct d4_spool_pos after;
		d4_sensor_spool_advance(r->sp, &after);
		sent_push(&r->sent, uplink_written(&r->up), r->conn_frames, &after);
		r->frames++;
		r->bytes += (size_t)len;
		sent += (size_t)len;
	}
	return sent;
}

static int delivered(struct runner *r)
{
	confirm_acked(r);
	return d4_sensor_spool_all_confirmed(r->sp);
}

/* Removes the files of a private spool directory and the directory. */
static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		char p[PATH_MAX + 300];
		while ((e = readdir(d)))
			if (e->d_name[0] != '.') {
				snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
				unlink(p);
			}
		closedir(d);
	}
	rmdir(dir);
}

static int run_tls(struct runner *r)
{
	const struct d4_sensor_run_opts *o = r->o;
	int rc = uplink_init(&r->up, o->dest, o->ca, o->server_name, o->insecure);
	if (rc) {
		d4_err("destination %s: %s", o->dest, d4_strerror(rc));
		return D4S_EXIT_ERR;
	}
	/* Without --spool a private spool that lives as long as this process
	 * keeps the source flowing (and its end visible) while the hub is away. */
	char spdir[PATH_MAX];
	if (o->spool_dir) {
		d4_strlcpy(spdir, o->spool_dir, sizeof(spdir));
	} else {
		const char *tmp = getenv("TMPDIR");
		snprintf(spdir, sizeof(spdir), "%s/d4-sensor-spool-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(spdir)) {
			d4_err("temporary spool %s: %s", spdir, strerror(errno));
			uplink_free(&r->up);
			return D4S_EXIT_ERR;
		}
	}
	if ((rc = d4_sensor_spool_open(spdir, o->spool_max, &r->sp)) != 0) {
		if (!o->spool_dir)
			remove_tree(spdir);
		uplink_free(&r->up);
		return D4S_EXIT_ERR;
	}
	/* A spool from an earlier run: what it holds unacknowledged may have
	 * been sent (never more than one connection's worth in flight). */
	struct d4_spool_stats st0;
	d4_sensor_spool_stats(r->sp, &st0);
	r->replay = st0.unconfirmed_at_open < D4_ACK_MAX_REPLAY ? st0.unconfirmed_at_open : D4_ACK_MAX_REPLAY;
	r->replay_dropped_seen = st0.dropped_frames;
	r->backoff = BACKOFF_MIN_MS;
	int src_done = 0, src_err = 0, code = D4S_EXIT_OK;
	uint64_t drain_deadline = 0, last_sync = d4_mono_ms();
	for (;;) {
		if (stop_flag) {
			d4_notice("stopping on signal");
			break;
		}
		try_connect(r);
		if (r->connected && !uplink_alive(&r->up))
			disconnect(r, 0);
		if (r->connected && r->up.ack && r->sent.count && d4_mono_ms() - r->ack_progress > ACK_TIMEOUT_MS) {
			d4_warn("hub %s: no acknowledgement for %u s; reconnecting", o->dest, ACK_TIMEOUT_MS / 1000u);
			disconnect(r, 0);
		}
		size_t sent = 0;
		if (r->connected) {
			confirm_acked(r);
			sent = send_spool(r);
		}
		uint64_t now = d4_mono_ms();
		int busy = r->connected && !d4_sensor_spool_empty(r->sp) && r->sent.count < D4S_SENT_MAX;
		if (!src_done) {
			int timeout = busy ? 0 : 200;
			if (!r->connected && r->next_try > now && r->next_try - now < (uint64_t)timeout)
				timeout = (int)(r->next_try - now);
			const uint8_t *d;
			int n = d4_sensor_src_next(r->src, &d, timeout);
			if (n > 0) {
				uint64_t ts = r->now();
				d4_sensor_spool_append(r->sp, o->type, ts, d, (size_t)n);
			} else if (n < 0) {
				if (n != D4_ECLOSED) {
					d4_err("source: %s", d4_strerror(n));
					src_err = 1;
				} else {
					d4_info("source ended; delivering what is left (up to %u s)", o->drain_timeout);
				}
				src_done = 1;
				drain_deadline = d4_mono_ms() + (uint64_t)o->drain_timeout * 1000u;
			}
		} else if (!busy && !sent) {
			sleep_ms(r->connected
				     ? 20
				     : (r->next_try > now ? (r->next_try - now < 200 ? r->next_try - now : 200) : 0));
		}
		/* appends sync once a second while data flows; this covers the
		 * last data before the source went quiet */
		if (d4_mono_ms() - last_sync >= 1000) {
			d4_sensor_spool_sync(r->sp);
			last_sync = d4_mono_ms();
		}
		if (src_done) {
			if (d4_sensor_spool_empty(r->sp) && r->connected && delivered(r)) {
				disconnect(r, 1);
				d4_sensor_spool_confirm(r->sp, &(struct d4_spool_pos){UINT64_MAX, 0});
				code = src_err ? D4S_EXIT_ERR : D4S_EXIT_OK;
				break;
			}
			if (d4_mono_ms() >= drain_deadline) {
				d4_warn("drain timeout: data not delivered to %s %s", o->dest,
					o->spool_dir ? "remains in the spool" : "is lost (no --spool)");
				code = D4S_EXIT_SPOOLED;
				break;
			}
		}
	}
	confirm_acked(r);
	struct d4_spool_stats st;
	d4_sensor_spool_stats(r->sp, &st);
	if (!d4_sensor_spool_all_confirmed(r->sp)) {
		if (o->spool_dir)
			d4_notice("spool keeps %" PRIu64 " bytes for the next run", st.bytes);
		else
			d4_warn("%" PRIu64 " bytes not delivered are lost (no --spool)", st.bytes);
	}
	if (st.dropped_frames)
		d4_warn("spool dropped %" PRIu64 " frames (%" PRIu64 " bytes) in total", st.dropped_frames,
			st.dropped_bytes);
	disconnect(r, 1);
	d4_notice("sent %" PRIu64 " frames, %" PRIu64 " bytes; received %" PRIu64 " bytes from the hub", r->frames,
		  r->bytes, r->up.rx_bytes);
	d4_sensor_spool_close(r->sp);
	if (!o->spool_dir)
		remove_tree(spdir);
	uplink_free(&r->up);
	return code;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

int d4_sensor_run(const struct d4_sensor_run_opts *o)
{
	struct runner *r = calloc(1, sizeof(*r));
	if (!r)
		return D4S_EXIT_ERR;
	r->o = o;
	r->now = o->now ? o->now : d4_now_s;
	r->fcap = D4_HDR_LEN + D4S_MAX_PAYLOAD;
	r->fbuf = malloc(r->fcap);
	stop_flag = 0;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: blocking waits return */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	int code = D4S_EXIT_ERR;
	if (!r->fbuf)
		goto out;
	int rc = d4_sensor_src_open(&o->src, &r->src);
	if (rc) {
		d4_err("source: %s", d4_strerror(rc));
		goto out;
	}
	if (!o->dest || strcmp(o->dest, "stdout") == 0)
		code = run_stdout(r);
	else
		code = run_tls(r);
out:
	d4_sensor_src_close(r->src);
	free(r->fbuf);
	free(r);
	return code;
}
