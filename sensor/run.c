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
 * acknowledged): the hub drops those it had committed, and only those.
 * The connection, the records in flight and the backoff are conn.c's
 * (d4_sensor_conn), which the hub's upstream relay uses as well. */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_proto.h"
#include "d4_util.h"
#include "sensor_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
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
	/* TLS: the connection (conn.c: uplink, records in flight, d4-ack/1
	 * replay count, backoff) sends from the spool */
	struct d4_sensor_conn *c;
	int connected;
	struct d4_spool *sp;
	uint64_t frames, bytes;
	/* the spool's dropped-record count already taken off the replay count */
	uint64_t replay_dropped_seen;
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

/* Records a full spool dropped were the oldest unacknowledged ones, the
 * first to be replayed: taken off the next announcement. */
static void replay_forget_dropped(struct runner *r)
{
	struct d4_spool_stats st;
	d4_sensor_spool_stats(r->sp, &st);
	if (st.dropped_frames != r->replay_dropped_seen)
		d4_sensor_conn_forget(r->c, st.dropped_frames - r->replay_dropped_seen);
	r->replay_dropped_seen = st.dropped_frames;
}

/* Confirms every spool record the hub acknowledged (its ack records with
 * d4-ack/1, else its TCP acknowledgements). */
static void confirm_acked(struct runner *r)
{
	struct d4_spool_pos last;
	if (d4_sensor_conn_confirmed(r->c, &last))
		d4_sensor_spool_confirm(r->sp, &last);
}

/* Connects when due, reads acknowledgements; a lost connection rewinds
 * the spool to the first unacknowledged record, a new one starts with the
 * meta header. */
static void poll_conn(struct runner *r)
{
	int fresh, rewind;
	if (!r->connected)
		replay_forget_dropped(r);
	r->connected = d4_sensor_conn_poll(r->c, &fresh, &rewind);
	confirm_acked(r);
	if (rewind)
		d4_sensor_spool_rewind(r->sp);
	if (fresh && r->o->meta && d4_sensor_conn_meta(r->c, r->o->meta, r->o->metalen, r->now()) != 0) {
		confirm_acked(r);
		d4_sensor_spool_rewind(r->sp);
		r->connected = 0;
	} else if (fresh && r->o->meta) {
		/* the meta header frames count in the summary like data frames */
		uint64_t nf = (r->o->metalen + D4S_META_CHUNK - 1) / D4S_META_CHUNK;
		r->frames += nf;
		r->bytes += nf * D4_HDR_LEN + r->o->metalen;
	}
}

static void disconnect(struct runner *r, int clean)
{
	d4_sensor_conn_close(r->c, clean);
	confirm_acked(r);
	d4_sensor_spool_rewind(r->sp);
	r->connected = 0;
}

/* Sends from the spool; returns bytes sent. */
static size_t send_spool(struct runner *r)
{
	size_t sent = 0;
	while (r->connected && sent < SEND_BURST && d4_sensor_conn_room(r->c)) {
		uint8_t type;
		uint64_t ts;
		const uint8_t *d;
		size_t n;
		int rc = d4_sensor_spool_peek(r->sp, &type, &ts, &d, &n);
		if (rc <= 0)
			break;
		struct d4_spool_pos after;
		d4_sensor_spool_advance(r->sp, &after);
		rc = d4_sensor_conn_send(r->c, type, ts, d, n, &after);
		if (rc == D4_ECLOSED) {
			/* lost: from the first unacknowledged record again */
			confirm_acked(r);
			d4_sensor_spool_rewind(r->sp);
			r->connected = 0;
			break;
		}
		if (rc != 0) {
			d4_err("frame: %s", d4_strerror(rc));
			d4_sensor_spool_rewind(r->sp);
			break;
		}
		r->frames++;
		r->bytes += D4_HDR_LEN + n;
		sent += D4_HDR_LEN + n;
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
	int rc;
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
			return D4S_EXIT_ERR;
		}
	}
	if ((rc = d4_sensor_spool_open(spdir, o->spool_max, &r->sp)) != 0) {
		if (!o->spool_dir)
			remove_tree(spdir);
		return D4S_EXIT_ERR;
	}
	/* A spool from an earlier run: what it holds unacknowledged may have
	 * been sent (never more than one connection's worth in flight). */
	struct d4_spool_stats st0;
	d4_sensor_spool_stats(r->sp, &st0);
	r->replay_dropped_seen = st0.dropped_frames;
	struct d4_sensor_conn_opts co = {.id = &o->id,
					 .dest = o->dest,
					 .ca = o->ca,
					 .server_name = o->server_name,
					 .insecure = o->insecure,
					 .backoff_min_ms = BACKOFF_MIN_MS,
					 .backoff_max_ms = BACKOFF_MAX_MS,
					 .replay = st0.unconfirmed_at_open};
	if ((rc = d4_sensor_conn_new(&co, &r->c)) != 0) {
		d4_err("destination %s: %s", o->dest, d4_strerror(rc));
		d4_sensor_spool_close(r->sp);
		if (!o->spool_dir)
			remove_tree(spdir);
		return D4S_EXIT_ERR;
	}
	int src_done = 0, src_err = 0, code = D4S_EXIT_OK;
	uint64_t drain_deadline = 0, last_sync = d4_mono_ms();
	for (;;) {
		if (stop_flag) {
			d4_notice("stopping on signal");
			break;
		}
		poll_conn(r);
		size_t sent = 0;
		if (r->connected)
			sent = send_spool(r);
		uint64_t now = d4_mono_ms();
		int busy = r->connected && !d4_sensor_spool_empty(r->sp) && d4_sensor_conn_room(r->c);
		struct d4_sensor_conn_stats cs;
		d4_sensor_conn_stats(r->c, &cs);
		if (!src_done) {
			int timeout = busy ? 0 : 200;
			if (!r->connected && cs.next_try_ms > now && cs.next_try_ms - now < (uint64_t)timeout)
				timeout = (int)(cs.next_try_ms - now);
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
				     : (cs.next_try_ms > now ? (cs.next_try_ms - now < 200 ? cs.next_try_ms - now : 200)
							     : 0));
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
	struct d4_sensor_conn_stats cs;
	d4_sensor_conn_stats(r->c, &cs);
	d4_notice("sent %" PRIu64 " frames, %" PRIu64 " bytes; received %" PRIu64 " bytes from the hub", r->frames,
		  r->bytes, cs.rx_bytes);
	d4_sensor_spool_close(r->sp);
	if (!o->spool_dir)
		remove_tree(spdir);
	d4_sensor_conn_free(r->c);
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
