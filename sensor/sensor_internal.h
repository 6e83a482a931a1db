/* d4-sensor private definitions shared by the library's files. */
#ifndef SENSOR_INTERNAL_H
#define SENSOR_INTERNAL_H

#include "d4_sensor.h"

struct src_ops {
	int (*next)(struct d4_sensor_src *s, const uint8_t **data, int timeout_ms);
	uint64_t (*drops)(struct d4_sensor_src *s);
	void (*close)(struct d4_sensor_src *s);
};

/* Every source starts with this; the rest is private to its file. */
struct d4_sensor_src {
	const struct src_ops *ops;
};

int src_stdin_open(const struct d4_sensor_src_opts *o, struct d4_sensor_src **out);
int src_pcap_open(const struct d4_sensor_src_opts *o, struct d4_sensor_src **out);
int src_follow_open(const struct d4_sensor_src_opts *o, struct d4_sensor_src **out);
/* --extract tls over a pcap file or a live capture (src_tls.c). */
int src_tls_open(const struct d4_sensor_src_opts *o, struct d4_sensor_src **out);
/* Opens the pcap file or live capture of o (LIVE: non-blocking, *fd its
 * selectable fd; else *fd = -1) with o->bpf applied. Owned by the caller. */
#include <pcap/pcap.h>
int src_pcap_handle_open(const struct d4_sensor_src_opts *o, pcap_t **out, int *fd);

/* Waits up to timeout_ms for fd to become readable: 1 ready, 0 timeout or
 * interrupted by a signal, negative on error. */
int src_wait_fd(int fd, int timeout_ms);

/* ---- records in flight (sent.c) ----
 * Records sent on the current connection, not yet acknowledged, oldest
 * first: the TLS bytes written up to each (plain D4: released once the hub's
 * TCP acknowledged them) and the connection's frame count up to each
 * (d4-ack/1: released once an ack record covers it), with the spool
 * position after it. At most D4S_SENT_MAX: the sender waits for acks. */
#include "d4_proto.h"
#define D4S_SENT_MAX D4_ACK_MAX_INFLIGHT
struct sent_ring {
	struct {
		uint64_t cipher_end, conn_frames;
		struct d4_spool_pos pos;
	} e[D4S_SENT_MAX];
	unsigned head, count;
};
/* Caller checks count < D4S_SENT_MAX. */
void sent_push(struct sent_ring *r, uint64_t cipher_end, uint64_t conn_frames, const struct d4_spool_pos *pos);
/* Drops every record covered by acked (frames when by_frames, else TLS
 * bytes); returns 1 and the spool position after the last one in *last if
 * any was, else 0. Clearing a ring for a new connection: count = 0. */
int sent_release(struct sent_ring *r, int by_frames, uint64_t acked, struct d4_spool_pos *last);
/* d4-ack/1 replay announcement: records are sent in spool order from the
 * first unacknowledged one, the first `replay` of them sent before. After a
 * connection that sent `sent_here` records of which `unacked_here` were not
 * acknowledged, returns how many of the unacknowledged records have been
 * sent before: the next connection's count. */
uint64_t sent_replay_next(uint64_t replay, uint64_t sent_here, uint64_t unacked_here);

/* ---- TLS uplink (uplink.c) ---- */
#include <openssl/ssl.h>

struct uplink {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	char host[256];
	char port[16];
	char name[256]; /* checked name / SNI */
	int name_is_ip;
	int insecure;
	/* acknowledged delivery (d4-ack/1): the hub selected it at the handshake */
	int ack;
	int ack_error;			    /* the hub sent something that is not an ack record */
	uint64_t acked_frames, acked_bytes; /* this connection, from the hub's records */
	uint64_t rx_bytes;		    /* application bytes received from hubs, all connections */
	uint8_t abuf[2 * 1024];		    /* a partial record */
	size_t alen;
};

/* Parses HOST:PORT or [V6]:PORT and prepares the TLS context. */
int uplink_init(struct uplink *u, const char *dest, const char *ca, const char *server_name, int insecure);
/* TCP connect + TLS handshake with timeouts; 0 or a negative code. */
int uplink_connect(struct uplink *u);
/* Writes all n bytes; 0, or D4_ECLOSED when the connection is gone. */
int uplink_write(struct uplink *u, const uint8_t *p, size_t n);
/* 1 while the peer has not closed the connection. Reads what the hub sent:
 * with d4-ack/1, ack records update acked_frames/acked_bytes (a malformed or
 * decreasing record ends the connection: 0); otherwise it is discarded. */
int uplink_alive(struct uplink *u);
/* The same; quiet: a dead connection is not logged (already known). */
int uplink_read(struct uplink *u, int quiet);
/* Ciphertext bytes handed to the socket so far, and not yet acknowledged
 * by the peer's TCP (SIOCOUTQ). */
uint64_t uplink_written(struct uplink *u);
uint64_t uplink_unacked(struct uplink *u);
/* clean: send close_notify first. */
void uplink_close(struct uplink *u, int clean);
void uplink_free(struct uplink *u);

#endif
