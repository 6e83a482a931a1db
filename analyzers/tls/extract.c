/* The extractor: TCP flows -> ordered byte streams -> TLS records ->
 * handshake messages -> one report per handshake.
 *
 * TCP: each direction's stream starts at the byte after its SYN (or, for a
 * flow picked up without one, at the first payload seen, which must then
 * begin with a TLS handshake record). In-order bytes go straight to the
 * record layer without a copy; a segment ahead of the next expected byte is
 * copied into a short list sorted by offset and replayed once the hole
 * before it is filled; bytes already received (retransmissions, overlaps)
 * are trimmed and counted. Offsets are 32-bit sequence differences, so
 * wrap-around needs no special case.
 *
 * TLS: record headers are checked (content type, major version 3, length);
 * handshake record payloads are appended to one buffer per direction, in
 * which messages are framed as they complete, so a record may carry several
 * messages and a message may span several records. A direction stops once
 * nothing visible is left in it: the client after its ClientHello, the
 * server after the message that follows its ServerHello (the Certificate for
 * TLS <= 1.2), or at the first non-handshake record (ChangeCipherSpec,
 * alert, application data: what follows is encrypted). Buffers are kept
 * until the report, which borrows the messages in place. */
#include "d4_tls.h"

#include <stdlib.h>
#include <string.h>

#include "d4_error.h"
#include "tls_internal.h"

#define NBUCKET_MIN 1024
#define HS_INIT	    2048

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

enum { DS_WAIT = 0, DS_OPEN, DS_DONE, DS_STOP };

struct seg {
	struct seg *next;
	uint32_t off; /* stream offset of data[0] */
	uint32_t len;
	uint8_t data[];
};

struct dir {
	uint8_t state;
	uint8_t fin;
	uint8_t any_record; /* a record header was accepted */
	uint8_t rh_have;
	uint8_t rh[5];
	uint8_t rec_type;
	uint32_t rec_left;
	uint32_t isn;  /* sequence number of stream offset 0 */
	uint32_t next; /* next expected stream offset */
	struct seg *ooo;
	uint32_t nseg;
	size_t ooo_bytes;
	uint8_t *hs;
	size_t hs_len, hs_cap, hs_off; /* hs_off: start of the next unframed message */
};

struct flow {
	struct flow *hnext;
	struct flow *prev, *next; /* activity order, oldest first */
	uint32_t hash;
	uint8_t ipver;
	uint8_t a[16], b[16]; /* d[0] carries a -> b */
	uint16_t pa, pb;
	struct dir d[2];
	int8_t client;	  /* direction of the ClientHello, -1 until known */
	int8_t server;	  /* direction of the ServerHello */
	uint8_t reported; /* reported, or found not to be TLS: only absorbs packets now */
	uint8_t limit;	  /* a direction stopped on a limit */
	uint32_t flags;
	uint64_t ts_first, ts_last, ts_ch, ts_sh;
	size_t ch_off, ch_len; /* body of the ClientHello in d[client].hs */
	size_t sh_off, sh_len; /* body of the ServerHello in d[server].hs */
	size_t ce_off, ce_len; /* body of the Certificate in d[server].hs */
	uint8_t have_ch, have_sh, have_ce;
	size_t held; /* bytes allocated for this flow's buffers */
};

struct d4_tls {
	struct d4_tls_config cfg;
	d4_tls_handshake_fn cb;
	void *ud;
	struct flow **bucket;
	uint32_t nbucket;
	struct flow *oldest, *newest;
	uint64_t now;
	int cb_err; /* a callback's error met while evicting for room, returned by the feeding call */
	struct d4_tls_stats st;
	/* report scratch: big, so not on the stack */
	struct d4_tls_client_hello ch;
	struct d4_tls_server_hello sh;
	struct d4_tls_cert certs[D4_TLS_CERTS_MAX];
	char ja3[D4_TLS_JA3_MAX], ja3s[D4_TLS_JA3_MAX];
	char ja3_md5[33], ja3s_md5[33], ja4[D4_TLS_JA4_LEN + 1];
};

void d4_tls_config_default(struct d4_tls_config *c)
{
	c->max_flows = 65536;
	c->max_dir_bytes = 256u << 10;
	c->max_bytes = (uint64_t)256 << 20;
	c->max_segments = 64;
	c->idle_s = 60;
}

const char *d4_tls_end_name(int end)
{
	static const char *const n[D4_TLS_END_COUNT] = {"done", "closed", "idle", "evicted", "limit", "flush"};
	return end >= 0 && end < D4_TLS_END_COUNT ? n[end] : "unknown";
}

struct d4_tls *d4_tls_new(const struct d4_tls_config *cfg, d4_tls_handshake_fn cb, void *ud)
{
	struct d4_tls *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	struct d4_tls_config def;
	d4_tls_config_default(&def);
	t->cfg = def;
	if (cfg) {
		if (cfg->max_flows)
			t->cfg.max_flows = cfg->max_flows;
		if (cfg->max_dir_bytes)
			t->cfg.max_dir_bytes = cfg->max_dir_bytes;
		if (cfg->max_bytes)
			t->cfg.max_bytes = cfg->max_bytes;
		if (cfg->max_segments)
			t->cfg.max_segments = cfg->max_segments;
		if (cfg->idle_s)
			t->cfg.idle_s = cfg->idle_s;
	}
	if (t->cfg.max_dir_bytes < 64)
		t->cfg.max_dir_bytes = 64;
	uint32_t nb = NBUCKET_MIN;
	while (nb < t->cfg.max_flows && nb < (1u << 22))
		nb <<= 1;
	t->nbucket = nb;
	t->bucket = calloc(nb, sizeof(*t->bucket));
	if (!t->bucket) {
		free(t);
		return NULL;
	}
	t->cb = cb;
	t->ud = ud;
	return t;
}

void d4_tls_get_stats(const struct d4_tls *t, struct d4_tls_stats *out)
{
	*out = t->st;
}

/* ---- flow table ---- */

static void lru_unlink(struct d4_tls *t, struct flow *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		t->oldest = f->next;
	if (f->next)
		f->next->prev = f->prev;
	else
		t->newest = f->prev;
	f->prev = f->next = NULL;
}

static void lru_append(struct d4_tls *t, struct flow *f)
{
	f->prev = t->newest;
	f->next = NULL;
	if (t->newest)
		t->newest->next = f;
	else
		t->oldest = f;
	t->newest = f;
}

/* The same hash for both directions: the two endpoints in a fixed order. */
static uint32_t flow_hash(const uint8_t *a, uint16_t pa, const uint8_t *b, uint16_t pb)
{
	int sw = memcmp(a, b, 16);
	if (sw > 0 || (sw == 0 && pa > pb)) {
		const uint8_t *x = a;
		a = b;
		b = x;
		uint16_t y = pa;
		pa = pb;
		pb = y;
	}
	uint32_t h = 2166136261u;
	for (int i = 0; i < 16; i++)
		h = (h ^ a[i]) * 16777619u;
	for (int i = 0; i < 16; i++)
		h = (h ^ b[i]) * 16777619u;
	h = (h ^ pa) * 16777619u;
	h = (h ^ pb) * 16777619u;
	return h ^ (h >> 15);
}

/* Frees a direction's buffers (what it held leaves the budget). */
static void dir_release(struct d4_tls *t, struct flow *f, struct dir *d)
{
	size_t b = d->hs_cap;
	while (d->ooo) {
		struct seg *s = d->ooo;
		d->ooo = s->next;
		b += sizeof(*s) + s->len;
		free(s);
	}
	d->nseg = 0;
	d->ooo_bytes = 0;
	free(d->hs);
	d->hs = NULL;
	d->hs_len = d->hs_cap = d->hs_off = 0;
	f->held -= b;
	t->st.bytes_held -= b;
}

static void flow_release(struct d4_tls *t, struct flow *f)
{
	dir_release(t, f, &f->d[0]);
	dir_release(t, f, &f->d[1]);
}

static void flow_free(struct d4_tls *t, struct flow *f)
{
	struct flow **pp = &t->bucket[f->hash & (t->nbucket - 1)];
	while (*pp != f)
		pp = &(*pp)->hnext;
	*pp = f->hnext;
	lru_unlink(t, f);
	flow_release(t, f);
	free(f);
	t->st.flows_active--;
}

/* Account n more (or fewer, n negative) bytes held by f. */
static void held_add(struct d4_tls *t, struct flow *f, long long n)
{
	f->held = (size_t)((long long)f->held + n);
	t->st.bytes_held = (uint64_t)((long long)t->st.bytes_held + n);
}

static int make_room(struct d4_tls *t, size_t need, struct flow *keep);

/* ---- report ---- */

static int report(struct d4_tls *t, struct flow *f, int end)
{
	if (f->reported)
		return 0;
	f->reported = 1;
	if (!f->have_ch && !f->have_sh) {
		flow_release(t, f);
		return 0;
	}
	struct d4_tls_handshake h;
	memset(&h, 0, sizeof(h));
	int cdir = f->client >= 0 ? f->client : (f->server >= 0 ? 1 - f->server : 0);
	h.ipver = f->ipver;
	memcpy(h.client_ip, cdir == 0 ? f->a : f->b, 16);
	memcpy(h.server_ip, cdir == 0 ? f->b : f->a, 16);
	h.client_port = cdir == 0 ? f->pa : f->pb;
	h.server_port = cdir == 0 ? f->pb : f->pa;
	h.ts_first_us = f->ts_first;
	h.ts_client_us = f->ts_ch;
	h.ts_server_us = f->ts_sh;
	h.ts_last_us = f->ts_last;
	h.flags = f->flags;
	h.end = (uint8_t)(f->limit ? D4_TLS_END_LIMIT : end);
	h.ja3 = h.ja3_md5 = h.ja3s = h.ja3s_md5 = h.ja4 = "";
	if (f->have_ch) {
		const struct dir *d = &f->d[f->client];
		if (d4_tls_client_hello_parse(d->hs + f->ch_off, f->ch_len, &t->ch) == 0) {
			h.client = &t->ch;
			h.flags |= t->ch.flags;
			if (d4_tls_ja3(&t->ch, t->ja3, sizeof(t->ja3)) >= 0 &&
			    d4_tls_md5_hex(t->ja3, strlen(t->ja3), t->ja3_md5) == 0) {
				h.ja3 = t->ja3;
				h.ja3_md5 = t->ja3_md5;
			}
			if (d4_tls_ja4(&t->ch, t->ja4, NULL, 0) == 0)
				h.ja4 = t->ja4;
		} else {
			t->st.hello_errors++;
		}
	}
	if (f->have_sh) {
		const struct dir *d = &f->d[f->server];
		if (d4_tls_server_hello_parse(d->hs + f->sh_off, f->sh_len, &t->sh) == 0) {
			h.server = &t->sh;
			h.flags |= t->sh.flags;
			if (d4_tls_server_version(&t->sh) == 0x0304)
				h.flags |= D4_TLS_F_TLS13;
			if (d4_tls_ja3s(&t->sh, t->ja3s, sizeof(t->ja3s)) >= 0 &&
			    d4_tls_md5_hex(t->ja3s, strlen(t->ja3s), t->ja3s_md5) == 0) {
				h.ja3s = t->ja3s;
				h.ja3s_md5 = t->ja3s_md5;
			}
		} else {
			t->st.hello_errors++;
		}
		/* a Certificate still incomplete in the buffer: its complete certificates */
		if (!f->have_ce && h.server && !(h.flags & D4_TLS_F_TLS13) && d->hs_len >= d->hs_off + 4 &&
		    d->hs[d->hs_off] == D4_TLS_HS_CERTIFICATE) {
			f->ce_off = d->hs_off + 4;
			f->ce_len = d->hs_len - f->ce_off;
			f->have_ce = 1;
		}
		if (f->have_ce && h.server) {
			uint32_t cf = 0;
			int rc = d4_tls_certificate_parse(d->hs + f->ce_off, f->ce_len, 0, t->certs, D4_TLS_CERTS_MAX,
							  &h.n_certs, &cf);
			if (rc != 0)
				t->st.cert_errors++;
			h.certs = t->certs;
			h.flags |= cf;
		}
	}
	int rc = 0;
	if (h.client || h.server) { /* hellos that did not parse are counted, not reported */
		t->st.handshakes++;
		t->st.by_end[h.end]++;
		rc = t->cb ? t->cb(t->ud, &h) : 0;
	}
	flow_release(t, f);
	f->d[0].state = f->d[1].state = DS_STOP;
	return rc;
}

/* Reports a flow if nothing visible is left in either direction. */
static int check_done(struct d4_tls *t, struct flow *f)
{
	if (f->reported)
		return 0;
	int s0 = f->d[0].state, s1 = f->d[1].state;
	if ((s0 == DS_DONE || s0 == DS_STOP) && (s1 == DS_DONE || s1 == DS_STOP))
		return report(t, f, D4_TLS_END_DONE);
	return 0;
}

/* Ends a flow: its report (if any) with reason `end`, then frees it. */
static int flow_end(struct d4_tls *t, struct flow *f, int end)
{
	int rc = report(t, f, end);
	flow_free(t, f);
	return rc;
}

/* ---- TLS layer ---- */

/* A direction stops abnormally: what it holds stays for the report. */
static void dir_stop(struct flow *f, struct dir *d, uint32_t flag)
{
	d->state = DS_STOP;
	f->flags |= flag;
}

/* One complete handshake message at d->hs + off (header included). */
static void hs_message(struct d4_tls *t, struct flow *f, int di, size_t off, size_t len, uint64_t ts)
{
	struct dir *d = &f->d[di];
	uint8_t type = d->hs[off];
	switch (type) {
	case 0: /* HelloRequest: no content, nothing to learn */ return;
	case D4_TLS_HS_CLIENT_HELLO:
		if (f->have_ch || f->server == di) {
			d->state = DS_DONE;
			return;
		}
		f->have_ch = 1;
		f->client = (int8_t)di;
		f->ch_off = off + 4;
		f->ch_len = len;
		f->ts_ch = ts;
		d->state = DS_DONE; /* nothing else of the client is needed */
		return;
	case D4_TLS_HS_SERVER_HELLO: {
		if (f->have_sh || f->client == di) {
			d->state = DS_DONE;
			return;
		}
		f->have_sh = 1;
		f->server = (int8_t)di;
		f->sh_off = off + 4;
		f->sh_len = len;
		f->ts_sh = ts;
		if (d4_tls_server_hello_parse(d->hs + off + 4, len, &t->sh) != 0 || (t->sh.flags & D4_TLS_F_HRR) ||
		    d4_tls_server_version(&t->sh) == 0x0304)
			d->state = DS_DONE; /* TLS 1.3: the rest is encrypted */
		return;
	}
	case D4_TLS_HS_CERTIFICATE:
		if (f->have_sh && f->server == di && !f->have_ce) {
			f->have_ce = 1;
			f->ce_off = off + 4;
			f->ce_len = len;
		}
		d->state = DS_DONE;
		return;
	default:
		d->state = DS_DONE; /* ServerKeyExchange, ServerHelloDone...: no certificate follows */
		return;
	}
}

/* Appends handshake bytes; frames complete messages. Returns 0 or D4_EFULL
 * (the direction's byte limit) or D4_ENOMEM. */
static int hs_append(struct d4_tls *t, struct flow *f, int di, const uint8_t *p, size_t n, uint64_t ts)
{
	struct dir *d = &f->d[di];
	if (d->hs_len + n + d->ooo_bytes > t->cfg.max_dir_bytes) {
		size_t room = t->cfg.max_dir_bytes > d->hs_len + d->ooo_bytes
				  ? t->cfg.max_dir_bytes - d->hs_len - d->ooo_bytes
				  : 0;
		if (room < n) {
			/* keep what fits: a Certificate cut here still yields its complete entries */
			if (room)
				hs_append(t, f, di, p, room, ts);
			return D4_EFULL;
		}
	}
	if (d->hs_len + n > d->hs_cap) {
		size_t cap = d->hs_cap ? d->hs_cap : HS_INIT;
		while (cap < d->hs_len + n)
			cap *= 2;
		if (cap > t->cfg.max_dir_bytes)
			cap = t->cfg.max_dir_bytes;
		if (make_room(t, cap - d->hs_cap, f) < 0)
			return D4_EFULL;
		uint8_t *nb = realloc(d->hs, cap);
		if (!nb)
			return D4_ENOMEM;
		held_add(t, f, (long long)cap - (long long)d->hs_cap);
		d->hs = nb;
		d->hs_cap = cap;
	}
	memcpy(d->hs + d->hs_len, p, n);
	d->hs_len += n;
	while (d->state == DS_OPEN && d->hs_len - d->hs_off >= 4) {
		const uint8_t *m = d->hs + d->hs_off;
		size_t len = ((size_t)m[1] << 16) | ((size_t)m[2] << 8) | m[3];
		if (d->hs_len - d->hs_off - 4 < len)
			break;
		size_t off = d->hs_off;
		d->hs_off += 4 + len;
		hs_message(t, f, di, off, len, ts);
	}
	return 0;
}

/* In-order stream bytes of direction di. */
static int tls_bytes(struct d4_tls *t, struct flow *f, int di, const uint8_t *p, size_t n, uint64_t ts)
{
	struct dir *d = &f->d[di];
	while (n > 0 && d->state == DS_OPEN) {
		if (d->rh_have < 5) {
			size_t k = 5 - d->rh_have;
			if (k > n)
				k = n;
			memcpy(d->rh + d->rh_have, p, k);
			d->rh_have = (uint8_t)(d->rh_have + k);
			p += k;
			n -= k;
			if (d->rh_have < 5)
				break;
			uint8_t type = d->rh[0];
			size_t len = ((size_t)d->rh[3] << 8) | d->rh[4];
			int ok = type >= 20 && type <= 24 && d->rh[1] == 3 && d->rh[2] <= 4 && len <= TLS_RECORD_MAX;
			if (!d->any_record && type != 22)
				ok = 0; /* a TLS stream starts with a handshake record */
			if (!ok) {
				if (!d->any_record) {
					/* not TLS (or a stream picked up mid-way): the whole flow is */
					t->st.not_tls++;
					dir_stop(f, d, 0);
					dir_stop(f, &f->d[1 - di], 0);
				} else {
					dir_stop(f, d, D4_TLS_F_GAP);
				}
				break;
			}
			d->any_record = 1;
			if (type != 22) {
				d->state = DS_DONE; /* what follows is encrypted, or an alert */
				break;
			}
			d->rec_type = type;
			d->rec_left = (uint32_t)len;
			if (len == 0)
				d->rh_have = 0;
			continue;
		}
		size_t k = d->rec_left < n ? d->rec_left : n;
		int rc = hs_append(t, f, di, p, k, ts);
		if (rc == D4_EFULL) {
			t->st.dir_limit++;
			f->limit = 1;
			dir_stop(f, d, D4_TLS_F_GAP);
			break;
		}
		if (rc < 0) {
			t->st.alloc_failures++;
			dir_stop(f, d, D4_TLS_F_GAP);
			break;
		}
		p += k;
		n -= k;
		d->rec_left -= (uint32_t)k;
		if (d->rec_left == 0)
			d->rh_have = 0;
	}
	return check_done(t, f);
}

/* ---- TCP layer ---- */

/* Stream bytes at offset off (relative to the ISN) of direction di. */
static int tcp_data(struct d4_tls *t, struct flow *f, int di, uint32_t off, const uint8_t *p, size_t n, uint64_t ts)
{
	struct dir *d = &f->d[di];
	int32_t delta = (int32_t)(off - d->next);
	if (delta <= 0) {
		size_t dup = (size_t)(-(int64_t)delta);
		if (dup >= n) {
			t->st.retrans_bytes += n;
			return 0;
		}
		t->st.retrans_bytes += dup;
		p += dup;
		n -= dup;
		d->next += (uint32_t)n;
		int rc = tls_bytes(t, f, di, p, n, ts);
		/* the segments held that are now reached */
		while (rc == 0 && d->ooo && d->state == DS_OPEN && (int32_t)(d->ooo->off - d->next) <= 0) {
			struct seg *s = d->ooo;
			d->ooo = s->next;
			d->nseg--;
			d->ooo_bytes -= s->len;
			uint32_t skip = d->next - s->off;
			if (skip < s->len) {
				t->st.retrans_bytes += skip;
				d->next += s->len - skip;
				rc = tls_bytes(t, f, di, s->data + skip, s->len - skip, ts);
			} else {
				t->st.retrans_bytes += s->len;
			}
			held_add(t, f, -(long long)(sizeof(*s) + s->len));
			free(s);
		}
		return rc;
	}
	/* ahead of the stream: hold a copy */
	if (d->nseg >= t->cfg.max_segments) {
		t->st.seg_limit++;
		f->limit = 1;
		dir_stop(f, d, D4_TLS_F_GAP);
		return check_done(t, f);
	}
	if ((uint64_t)delta + n > t->cfg.max_dir_bytes || d->hs_len + d->ooo_bytes + n > t->cfg.max_dir_bytes) {
		t->st.dir_limit++;
		f->limit = 1;
		dir_stop(f, d, D4_TLS_F_GAP);
		return check_done(t, f);
	}
	if (make_room(t, sizeof(struct seg) + n, f) < 0) {
		t->st.dir_limit++;
		f->limit = 1;
		dir_stop(f, d, D4_TLS_F_GAP);
		return check_done(t, f);
	}
	struct seg *s = malloc(sizeof(*s) + n);
	if (!s) {
		t->st.alloc_failures++;
		dir_stop(f, d, D4_TLS_F_GAP);
		return check_done(t, f);
	}
	s->off = off;
	s->len = (uint32_t)n;
	memcpy(s->data, p, n);
	struct seg **pp = &d->ooo;
	while (*pp && (int32_t)((*pp)->off - off) <= 0)
		pp = &(*pp)->next;
	s->next = *pp;
	*pp = s;
	d->nseg++;
	d->ooo_bytes += n;
	held_add(t, f, (long long)(sizeof(*s) + n));
	t->st.ooo_segments++;
	return 0;
}

static struct flow *flow_find(struct d4_tls *t, const struct d4_pkt *p, uint32_t h, int *di)
{
	for (struct flow *f = t->bucket[h & (t->nbucket - 1)]; f; f = f->hnext) {
		if (f->hash != h)
			continue;
		if (f->pa == p->sport && f->pb == p->dport && !memcmp(f->a, p->src, 16) && !memcmp(f->b, p->dst, 16)) {
			*di = 0;
			return f;
		}
		if (f->pb == p->sport && f->pa == p->dport && !memcmp(f->b, p->src, 16) && !memcmp(f->a, p->dst, 16)) {
			*di = 1;
			return f;
		}
	}
	return NULL;
}

/* Evicts the least recently active flows holding bytes until `need` more
 * fit the global budget (never `keep`). Returns 0, or D4_EFULL when only
 * `keep` is left to evict. A callback error is kept in t->cb_err. */
static int make_room(struct d4_tls *t, size_t need, struct flow *keep)
{
	while (t->st.bytes_held + need > t->cfg.max_bytes) {
		struct flow *v = t->oldest;
		while (v && (v == keep || v->held == 0))
			v = v->next;
		if (!v)
			return D4_EFULL;
		t->st.flows_mem_evicted++;
		int r = flow_end(t, v, D4_TLS_END_EVICTED);
		if (r < 0 && t->cb_err == 0)
			t->cb_err = r;
	}
	return 0;
}

int d4_tls_expire(struct d4_tls *t, uint64_t now_us)
{
	int rc = 0;
	if (now_us > t->now)
		t->now = now_us;
	uint64_t idle = (uint64_t)t->cfg.idle_s * 1000000u;
	while (t->oldest && t->oldest->ts_last + idle < t->now) {
		struct flow *f = t->oldest;
		t->st.flows_idle++;
		int r = flow_end(t, f, D4_TLS_END_IDLE);
		if (r < 0 && rc == 0)
			rc = r;
	}
	return rc;
}

int d4_tls_flush(struct d4_tls *t)
{
	int rc = 0;
	while (t->oldest) {
		int r = flow_end(t, t->oldest, D4_TLS_END_FLUSH);
		if (r < 0 && rc == 0)
			rc = r;
	}
	return rc;
}

void d4_tls_free(struct d4_tls *t)
{
	if (!t)
		return;
	while (t->oldest)
		flow_free(t, t->oldest);
	free(t->bucket);
	free(t);
}

static int packet(struct d4_tls *t, uint64_t ts, const struct d4_pkt *p)
{
	t->st.packets++;
	if (p->proto != 6 || !p->l4 || p->fragment) {
		/* IP fragments are not reassembled: a first fragment's TCP payload
		 * is incomplete, so its bytes become a hole like any lost segment */
		t->st.not_tcp++;
		return 0;
	}
	int rc = d4_tls_expire(t, ts);
	uint8_t fl = p->tcp_flags;
	uint32_t h = flow_hash(p->src, p->sport, p->dst, p->dport);
	int di = 0;
	struct flow *f = flow_find(t, p, h, &di);
	int syn = (fl & (TH_SYN | TH_ACK)) == TH_SYN;
	if (f && syn && f->d[di].state != DS_WAIT && f->d[di].isn != p->tcp_seq + 1) {
		/* the same 4-tuple starts a new connection */
		int r = flow_end(t, f, D4_TLS_END_CLOSED);
		if (r < 0 && rc == 0)
			rc = r;
		f = NULL;
	}
	if (!f) {
		if (!(fl & TH_SYN) && p->paylen == 0)
			return rc; /* nothing to start a flow with */
		if (fl & TH_RST)
			return rc;
		if (t->st.flows_active >= t->cfg.max_flows && t->oldest) {
			t->st.flows_evicted++;
			int r = flow_end(t, t->oldest, D4_TLS_END_EVICTED);
			if (r < 0 && rc == 0)
				rc = r;
		}
		f = calloc(1, sizeof(*f));
		if (!f) {
			t->st.alloc_failures++;
			return rc;
		}
		f->hash = h;
		f->ipver = p->ipver;
		memcpy(f->a, p->src, 16);
		memcpy(f->b, p->dst, 16);
		f->pa = p->sport;
		f->pb = p->dport;
		f->client = f->server = -1;
		f->ts_first = ts;
		f->hnext = t->bucket[h & (t->nbucket - 1)];
		t->bucket[h & (t->nbucket - 1)] = f;
		lru_append(t, f);
		t->st.flows++;
		t->st.flows_active++;
		di = 0;
	} else {
		lru_unlink(t, f);
		lru_append(t, f);
	}
	f->ts_last = ts;
	struct dir *d = &f->d[di];
	if (fl & TH_SYN) {
		if (d->state == DS_WAIT) {
			d->isn = p->tcp_seq + 1;
			d->state = f->reported ? DS_STOP : DS_OPEN;
		}
	} else if (p->paylen && d->state == DS_WAIT) {
		/* picked up without the SYN: this segment is taken as the start */
		d->isn = p->tcp_seq;
		d->state = f->reported ? DS_STOP : DS_OPEN;
		if (!(f->flags & D4_TLS_F_NO_SYN)) {
			f->flags |= D4_TLS_F_NO_SYN;
			t->st.flows_no_syn++;
		}
	}
	if (p->paylen && d->state == DS_OPEN) {
		size_t n = p->paylen;
		int r;
		/* data on a SYN (TCP Fast Open) starts after the SYN's sequence number */
		uint32_t seq = p->tcp_seq + ((fl & TH_SYN) ? 1u : 0u);
		r = tcp_data(t, f, di, seq - d->isn, p->payload, n, ts);
		if (r < 0 && rc == 0)
			rc = r;
		if (p->truncated && d->state == DS_OPEN) {
			/* the capture cut this segment: the stream has a hole from here */
			t->st.gaps++;
			dir_stop(f, d, D4_TLS_F_GAP);
			r = check_done(t, f);
			if (r < 0 && rc == 0)
				rc = r;
		}
	}
	if (fl & TH_RST) {
		int r = flow_end(t, f, D4_TLS_END_CLOSED);
		return rc ? rc : r;
	}
	if (fl & TH_FIN) {
		d->fin = 1;
		if (f->d[1 - di].fin) {
			int r = flow_end(t, f, D4_TLS_END_CLOSED);
			return rc ? rc : r;
		}
	}
	return rc;
}

int d4_tls_packet(struct d4_tls *t, uint64_t ts, const struct d4_pkt *p)
{
	t->cb_err = 0;
	int rc = packet(t, ts, p);
	return rc ? rc : t->cb_err;
}

int d4_tls_frame(struct d4_tls *t, int linktype, uint64_t ts_us, const uint8_t *p, size_t n)
{
	struct d4_pkt pk;
	if (d4_pkt_decode(linktype, p, n, &pk) != 0) {
		t->st.packets++;
		t->st.undecodable++;
		return 0;
	}
	return d4_tls_packet(t, ts_us, &pk);
}
