/* d4-sensor library: one D4 client connection with its records in flight,
 * for callers that keep their own queue (the hub's upstream relay). The
 * same pieces as d4_sensor_run: the TLS uplink (uplink.c), the records in
 * flight and the d4-ack/1 replay count (sent.c), the backoff with jitter.
 * A record is confirmed once acknowledged: by the server's ack records
 * when it selected d4-ack/1, else by its TCP acknowledgement (SIOCOUTQ). */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_proto.h"
#include "d4_util.h"
#include "sensor_internal.h"

#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONN_ACK_TIMEOUT_MS 120000u /* as d4-sensor: no progress this long with records in flight */

struct d4_sensor_conn {
	struct uplink up;
	const struct d4_sensor_ident *id;
	char dest[512];
	unsigned bmin, bmax;
	int connected, lost;
	uint64_t backoff, next_try, connected_at, ack_progress;
	struct sent_ring sent;
	uint64_t conn_frames, conn_records, replay;
	/* confirmed since the last d4_sensor_conn_confirmed */
	int have_confirmed;
	struct d4_spool_pos confirmed;
	uint8_t *fbuf;
	size_t fcap;
	struct d4_sensor_conn_stats st;
};

int d4_sensor_conn_new(const struct d4_sensor_conn_opts *o, struct d4_sensor_conn **out)
{
	struct d4_sensor_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return D4_ENOMEM;
	c->fcap = D4_HDR_LEN + D4S_MAX_PAYLOAD;
	c->fbuf = malloc(c->fcap);
	if (!c->fbuf) {
		free(c);
		return D4_ENOMEM;
	}
	int rc = uplink_init(&c->up, o->dest, o->ca, o->server_name, o->insecure);
	if (rc) {
		uplink_free(&c->up);
		free(c->fbuf);
		free(c);
		return rc;
	}
	c->id = o->id;
	d4_strlcpy(c->dest, o->dest, sizeof(c->dest));
	c->bmin = o->backoff_min_ms ? o->backoff_min_ms : 500;
	c->bmax = o->backoff_max_ms ? o->backoff_max_ms : 30000;
	if (c->bmax < c->bmin)
		c->bmax = c->bmin;
	c->backoff = c->bmin;
	c->replay = o->replay < D4_ACK_MAX_REPLAY ? o->replay : D4_ACK_MAX_REPLAY;
	*out = c;
	return D4_OK;
}

static void release(struct d4_sensor_conn *c)
{
	if (!c->connected || !c->sent.count)
		return;
	struct d4_spool_pos last = {0, 0};
	if (c->up.ack) {
		if (sent_release(&c->sent, 1, c->up.acked_frames, &last)) {
			c->confirmed = last;
			c->have_confirmed = 1;
			c->ack_progress = d4_mono_ms();
		}
		return;
	}
	uint64_t q = uplink_unacked(&c->up), w = uplink_written(&c->up);
	if (q == UINT64_MAX || q > w)
		return;
	if (sent_release(&c->sent, 0, w - q, &last)) {
		c->confirmed = last;
		c->have_confirmed = 1;
	}
}

static void set_error(struct d4_sensor_conn *c, const char *what)
{
	snprintf(c->st.last_error, sizeof(c->st.last_error), "%s", what);
}

void d4_sensor_conn_close(struct d4_sensor_conn *c, int clean)
{
	if (!c->connected)
		return;
	if (c->up.ack)
		(void)uplink_read(&c->up, 1);
	release(c);
	c->replay = sent_replay_next(c->replay, c->conn_records, c->sent.count);
	uplink_close(&c->up, clean);
	c->connected = 0;
	c->sent.count = 0;
	c->lost = 1;
	uint64_t now = d4_mono_ms();
	if (clean) {
		c->next_try = now;
		return;
	}
	/* a server that accepts and then drops us (a rejection) is not
	 * hammered: only a connection that lasted resets the backoff */
	if (now - c->connected_at > 10000)
		c->backoff = c->bmin;
	c->next_try = now + c->backoff / 2;
	c->backoff = c->backoff * 2 > c->bmax ? c->bmax : c->backoff * 2;
}

static int emit(struct d4_sensor_conn *c, const uint8_t *p, size_t n)
{
	if (uplink_write(&c->up, p, n) != 0) {
		set_error(c, "connection lost while writing");
		d4_sensor_conn_close(c, 0);
		return D4_ECLOSED;
	}
	return D4_OK;
}

static void try_connect(struct d4_sensor_conn *c, int *fresh)
{
	uint64_t now = d4_mono_ms();
	if (now < c->next_try)
		return;
	if (uplink_connect(&c->up) == 0) {
		c->connected = 1;
		c->connected_at = now;
		c->conn_frames = c->conn_records = 0;
		c->ack_progress = now;
		c->st.connects++;
		c->st.last_error[0] = '\0';
		if (c->up.ack) {
			/* the replay announcement: the first bytes of a d4-ack/1 connection */
			uint8_t rec[D4_ACK_REPLAY_LEN];
			if (c->replay > D4_ACK_MAX_REPLAY)
				c->replay = D4_ACK_MAX_REPLAY;
			d4_proto_ack_replay_encode(c->replay, rec);
			if (c->replay)
				d4_info("resending %" PRIu64 " unacknowledged record(s) first", c->replay);
			if (emit(c, rec, sizeof(rec)) != 0)
				return;
		}
		d4_notice("connected to %s%s", c->dest,
			  c->up.ack ? " (acknowledged delivery)" : " (plain D4: no acknowledgements from the hub)");
		*fresh = 1;
		return;
	}
	c->st.failures++;
	set_error(c, "connection or TLS handshake failed");
	uint32_t rnd = 0;
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (uint32_t)now;
	/* full jitter in [backoff/2, backoff] */
	uint64_t delay = c->backoff / 2 + rnd % (c->backoff / 2 + 1);
	c->next_try = now + delay;
	d4_warn("hub %s unreachable, next attempt in %" PRIu64 " ms", c->dest, delay);
	c->backoff = c->backoff * 2 > c->bmax ? c->bmax : c->backoff * 2;
}

int d4_sensor_conn_poll(struct d4_sensor_conn *c, int *fresh, int *rewind)
{
	*fresh = 0;
	*rewind = 0;
	if (c->connected && !uplink_alive(&c->up)) {
		set_error(c, c->up.ack_error ? "malformed acknowledgement" : "the server closed the connection");
		d4_sensor_conn_close(c, 0);
	}
	if (c->connected && c->up.ack && c->sent.count && d4_mono_ms() - c->ack_progress > CONN_ACK_TIMEOUT_MS) {
		d4_warn("hub %s: no acknowledgement for %u s; reconnecting", c->dest, CONN_ACK_TIMEOUT_MS / 1000u);
		set_error(c, "no acknowledgement for 120 s");
		d4_sensor_conn_close(c, 0);
	}
	if (c->connected)
		release(c);
	else
		try_connect(c, fresh);
	if (c->lost) {
		*rewind = 1;
		c->lost = 0;
	}
	return c->connected;
}

int d4_sensor_conn_meta(struct d4_sensor_conn *c, const uint8_t *json, size_t len, uint64_t ts)
{
	for (size_t off = 0; off < len; off += D4S_META_CHUNK) {
		size_t n = len - off < D4S_META_CHUNK ? len - off : D4S_META_CHUNK;
		int fl = d4_sensor_frame(c->id, D4_TYPE_META, ts, json + off, n, c->fbuf, c->fcap);
		if (fl < 0)
			return fl;
		int rc = emit(c, c->fbuf, (size_t)fl);
		if (rc)
			return rc;
		c->conn_frames++;
		c->st.frames++;
		c->st.bytes += (uint64_t)fl;
	}
	return D4_OK;
}

int d4_sensor_conn_room(struct d4_sensor_conn *c)
{
	return c->connected && c->sent.count < D4S_SENT_MAX;
}

int d4_sensor_conn_send(struct d4_sensor_conn *c, uint8_t type, uint64_t ts, const uint8_t *payload, size_t len,
			const struct d4_spool_pos *after)
{
	if (!c->connected)
		return D4_ECLOSED;
	if (len > D4S_MAX_PAYLOAD)
		return D4_ETOOBIG;
	int fl = d4_sensor_frame(c->id, type, ts, payload, len, c->fbuf, c->fcap);
	if (fl < 0)
		return fl;
	if (c->sent.count == 0)
		c->ack_progress = d4_mono_ms(); /* the ack clock starts with the first record in flight */
	int rc = emit(c, c->fbuf, (size_t)fl);
	if (rc)
		return rc;
	c->conn_frames++;
	c->conn_records++;
	sent_push(&c->sent, uplink_written(&c->up), c->conn_frames, after);
	c->st.frames++;
	c->st.bytes += (uint64_t)fl;
	return D4_OK;
}

int d4_sensor_conn_confirmed(struct d4_sensor_conn *c, struct d4_spool_pos *pos)
{
	release(c);
	if (!c->have_confirmed)
		return 0;
	*pos = c->confirmed;
	c->have_confirmed = 0;
	return 1;
}

unsigned d4_sensor_conn_inflight(struct d4_sensor_conn *c)
{
	return c->connected ? c->sent.count : 0;
}

void d4_sensor_conn_forget(struct d4_sensor_conn *c, uint64_t n)
{
	c->replay = n >= c->replay ? 0 : c->replay - n;
}

void d4_sensor_conn_stats(struct d4_sensor_conn *c, struct d4_sensor_conn_stats *st)
{
	*st = c->st;
	st->rx_bytes = c->up.rx_bytes;
	st->connected = c->connected;
	st->acked = c->connected && c->up.ack;
	st->next_try_ms = c->connected ? 0 : c->next_try;
}

void d4_sensor_conn_free(struct d4_sensor_conn *c)
{
	if (!c)
		return;
	d4_sensor_conn_close(c, 1);
	uplink_free(&c->up);
	free(c->fbuf);
	free(c);
}
