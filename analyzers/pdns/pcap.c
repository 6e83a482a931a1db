/* DNS responses from captured packets: UDP port 53 directly, TCP from port 53
 * through a per-flow reassembly, and a splitter for pcap byte streams cut at
 * arbitrary points (D4 type-1 payloads).
 *
 * TCP: only the direction from port 53 is reassembled (queries carry no
 * records). Each flow keeps one buffer of stream bytes starting at the first
 * byte not yet consumed, plus a short sorted list of the filled ranges, so
 * out-of-order segments within TCP_WIN are placed where they belong and
 * messages (2-byte length framing) are parsed as soon as they are contiguous.
 * A hole that cannot be filled (window or range list exceeded, reset, idle
 * expiry, memory pressure with data pending) abandons the flow and counts a
 * gap: DNS messages after a hole cannot be framed again reliably. */
#include "d4_pdns.h"

#include <stdlib.h>
#include <string.h>

#include "d4_error.h"
#include "d4_pkt.h"
#include "pdns_internal.h"

#define TCP_WIN	      (2 * 65537) /* buffered stream bytes per flow: two largest messages */
#define MAX_IVL	      16	  /* separate filled ranges per flow */
#define NBUCKET	      4096
#define DEF_MAX_BYTES ((size_t)64 << 20)
#define DEF_IDLE      60
#define MIN_BUF	      1024
#define PCAP_HARD_CAP 262144 /* largest record accepted from a pcap stream */

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04

struct flow {
	struct flow *hnext;
	struct flow *prev, *next; /* activity order, oldest first */
	uint8_t key[36];
	uint32_t hash;
	uint32_t base; /* sequence number of buf[0] */
	uint64_t last_ts;
	uint8_t *buf;
	size_t cap;
	uint32_t ivs[MAX_IVL], ive[MAX_IVL]; /* filled [s, e) relative to base; sorted, disjoint */
	unsigned niv;
	int fin;
	uint32_t fin_off; /* relative offset of the FIN */
};

struct d4_pdns_pcap {
	size_t max_bytes;
	size_t used;
	uint32_t idle;
	struct flow *bucket[NBUCKET];
	struct flow *oldest, *newest;
	struct pdns_work work;
};

struct d4_pdns_pcap *d4_pdns_pcap_new(size_t max_tcp_bytes, uint32_t tcp_idle)
{
	struct d4_pdns_pcap *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->max_bytes = max_tcp_bytes ? max_tcp_bytes : DEF_MAX_BYTES;
	x->idle = tcp_idle ? tcp_idle : DEF_IDLE;
	return x;
}

static void lru_unlink(struct d4_pdns_pcap *x, struct flow *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		x->oldest = f->next;
	if (f->next)
		f->next->prev = f->prev;
	else
		x->newest = f->prev;
	f->prev = f->next = NULL;
}

static void lru_append(struct d4_pdns_pcap *x, struct flow *f)
{
	f->prev = x->newest;
	f->next = NULL;
	if (x->newest)
		x->newest->next = f;
	else
		x->oldest = f;
	x->newest = f;
}

/* Frees a flow; data still pending means bytes were lost: a gap. */
static void flow_drop(struct d4_pdns_pcap *x, struct flow *f, struct d4_pdns_stats *st)
{
	if (f->niv && st)
		st->tcp_gaps++;
	struct flow **pp = &x->bucket[f->hash % NBUCKET];
	while (*pp != f)
		pp = &(*pp)->hnext;
	*pp = f->hnext;
	lru_unlink(x, f);
	x->used -= sizeof(*f) + f->cap;
	free(f->buf);
	free(f);
}

void d4_pdns_pcap_free(struct d4_pdns_pcap *x)
{
	if (!x)
		return;
	while (x->oldest)
		flow_drop(x, x->oldest, NULL);
	free(x);
}

static uint32_t key_hash(const uint8_t *k, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ k[i]) * 16777619u;
	return h;
}

static void expire(struct d4_pdns_pcap *x, uint64_t ts, struct d4_pdns_stats *st)
{
	while (x->oldest && x->oldest->last_ts + x->idle < ts)
		flow_drop(x, x->oldest, st);
}

/* Makes room for `need` more bytes of the budget by dropping the least
 * recently active flows other than `keep`. Returns 0 or D4_EFULL. */
static int make_room(struct d4_pdns_pcap *x, size_t need, struct flow *keep, struct d4_pdns_stats *st)
{
	while (x->used + need > x->max_bytes) {
		struct flow *v = x->oldest;
		if (v == keep)
			v = v->next;
		if (!v)
			return D4_EFULL;
		if (st && !v->niv)
			st->tcp_gaps++; /* abandoned for memory: counted even when nothing was pending */
		flow_drop(x, v, st);
	}
	return 0;
}

static int dns_msg(struct d4_pdns_pcap *x, const uint8_t *m, size_t n, uint64_t ts, d4_pdns_emit_fn emit, void *arg,
		   struct d4_pdns_stats *st)
{
	int rc = pdns_dns_parse_work(m, n, ts, &x->work, emit, arg, st);
	if (rc == D4_ENOTSUP) {
		st->not_dns++;
		return 0;
	}
	if (rc == D4_EPROTO || rc == D4_ETRUNC) {
		st->bad_packets++;
		return 0;
	}
	return rc;
}

/* Records [s, e) as filled. Returns 0 or -1 when the range list is full. */
static int iv_add(struct flow *f, uint32_t s, uint32_t e)
{
	unsigned i = 0;
	while (i < f->niv && f->ive[i] < s)
		i++;
	/* i: first range that ends at or after s: merge every range touching [s, e). */
	unsigned j = i;
	while (j < f->niv && f->ivs[j] <= e) {
		if (f->ivs[j] < s)
			s = f->ivs[j];
		if (f->ive[j] > e)
			e = f->ive[j];
		j++;
	}
	if (j == i) {
		if (f->niv == MAX_IVL)
			return -1;
		memmove(f->ivs + i + 1, f->ivs + i, (f->niv - i) * sizeof(f->ivs[0]));
		memmove(f->ive + i + 1, f->ive + i, (f->niv - i) * sizeof(f->ive[0]));
		f->niv++;
	} else if (j > i + 1) {
		memmove(f->ivs + i + 1, f->ivs + j, (f->niv - j) * sizeof(f->ivs[0]));
		memmove(f->ive + i + 1, f->ive + j, (f->niv - j) * sizeof(f->ive[0]));
		f->niv -= j - i - 1;
	}
	f->ivs[i] = s;
	f->ive[i] = e;
	return 0;
}

/* Parses every complete message at the front and shifts the rest down. */
static int deliver(struct d4_pdns_pcap *x, struct flow *f, uint64_t ts, d4_pdns_emit_fn emit, void *arg,
		   struct d4_pdns_stats *st)
{
	if (!f->niv || f->ivs[0] != 0)
		return 0;
	size_t contig = f->ive[0], pos = 0;
	int rc = 0;
	while (contig - pos >= 2 && rc == 0) {
		size_t ml = ((size_t)f->buf[pos] << 8) | f->buf[pos + 1];
		if (contig - pos - 2 < ml)
			break;
		if (ml == 0)
			st->bad_packets++;
		else
			rc = dns_msg(x, f->buf + pos + 2, ml, ts, emit, arg, st);
		pos += 2 + ml;
	}
	if (pos) {
		size_t top = f->ive[f->niv - 1];
		memmove(f->buf, f->buf + pos, top - pos);
		f->base += (uint32_t)pos;
		f->fin_off -= (uint32_t)pos;
		unsigned k = 0;
		for (unsigned i = 0; i < f->niv; i++) {
			if (f->ive[i] <= pos)
				continue;
			f->ivs[k] = f->ivs[i] > pos ? f->ivs[i] - (uint32_t)pos : 0;
			f->ive[k] = f->ive[i] - (uint32_t)pos;
			k++;
		}
		f->niv = k;
	}
	return rc;
}

static int tcp_segment(struct d4_pdns_pcap *x, const struct d4_pkt *k, uint64_t ts, d4_pdns_emit_fn emit, void *arg,
		       struct d4_pdns_stats *st)
{
	uint8_t key[36];
	memcpy(key, k->src, 16);
	memcpy(key + 16, k->dst, 16);
	key[32] = (uint8_t)(k->sport >> 8);
	key[33] = (uint8_t)k->sport;
	key[34] = (uint8_t)(k->dport >> 8);
	key[35] = (uint8_t)k->dport;
	uint32_t h = key_hash(key, sizeof(key));
	struct flow *f = x->bucket[h % NBUCKET];
	while (f && (f->hash != h || memcmp(f->key, key, sizeof(key)) != 0))
		f = f->hnext;

	if (f && (k->tcp_flags & (TH_RST | TH_SYN))) { /* reset, or the 4-tuple reused for a new connection */
		flow_drop(x, f, st);
		f = NULL;
	}
	if (k->tcp_flags & TH_RST)
		return 0;
	if (!f) {
		if (!(k->tcp_flags & TH_SYN) && k->paylen == 0) {
			st->not_dns++;
			return 0;
		}
		if (make_room(x, sizeof(*f), NULL, st) != 0) {
			st->tcp_gaps++;
			return 0;
		}
		f = calloc(1, sizeof(*f));
		if (!f)
			return D4_ENOMEM;
		memcpy(f->key, key, sizeof(key));
		f->hash = h;
		/* Without the SYN the stream is picked up at this segment. */
		f->base = (k->tcp_flags & TH_SYN) ? k->tcp_seq + 1 : k->tcp_seq;
		f->hnext = x->bucket[h % NBUCKET];
		x->bucket[h % NBUCKET] = f;
		lru_append(x, f);
		x->used += sizeof(*f);
	}
	if (ts > f->last_ts)
		f->last_ts = ts;
	lru_unlink(x, f);
	lru_append(x, f);

	uint32_t seq = (k->tcp_flags & TH_SYN) ? k->tcp_seq + 1 : k->tcp_seq;
	const uint8_t *data = k->payload;
	size_t len = k->paylen;
	int32_t rel = (int32_t)(seq - f->base);
	if (rel < 0) { /* retransmission of consumed bytes: keep only what is new */
		size_t skip = (size_t)(-(int64_t)rel);
		if (skip >= len) {
			len = 0;
		} else {
			data += skip;
			len -= skip;
		}
		rel = 0;
	}
	if (k->tcp_flags & TH_FIN) {
		f->fin = 1;
		f->fin_off = (uint32_t)rel + (uint32_t)len;
	}
	if (len) {
		size_t endo = (size_t)rel + len;
		if (endo > TCP_WIN) {
			st->tcp_gaps++;
			flow_drop(x, f, NULL);
			return 0;
		}
		if (endo > f->cap) {
			size_t nc = f->cap ? f->cap : MIN_BUF;
			while (nc < endo)
				nc *= 2;
			if (nc > TCP_WIN)
				nc = TCP_WIN;
			if (make_room(x, nc - f->cap, f, st) != 0) {
				st->tcp_gaps++;
				flow_drop(x, f, NULL);
				return 0;
			}
			uint8_t *nb = realloc(f->buf, nc);
			if (!nb)
				return D4_ENOMEM;
			x->used += nc - f->cap;
			f->buf = nb;
			f->cap = nc;
		}
		memcpy(f->buf + rel, data, len);
		if (iv_add(f, (uint32_t)rel, (uint32_t)endo) != 0) {
			st->tcp_gaps++;
			flow_drop(x, f, NULL);
			return 0;
		}
	}
	int rc = deliver(x, f, ts, emit, arg, st);
	/* Every byte up to the FIN is here and parsed: nothing more can come (a
	 * partial message left over is a gap). */
	if (f->fin && (f->fin_off == 0 || (f->niv == 1 && f->ivs[0] == 0 && f->ive[0] >= f->fin_off)))
		flow_drop(x, f, st);
	return rc;
}

int d4_pdns_pcap_packet(struct d4_pdns_pcap *x, int linktype, uint64_t ts_sec, const uint8_t *p, size_t n,
			d4_pdns_emit_fn emit, void *arg, struct d4_pdns_stats *st)
{
	struct d4_pdns_stats dummy;
	if (!st)
		st = &dummy;
	expire(x, ts_sec, st);
	struct d4_pkt k;
	int rc = d4_pkt_decode(linktype, p, n, &k);
	if (rc == D4_ENOTSUP) {
		st->not_dns++;
		return 0;
	}
	if (rc) {
		st->bad_packets++;
		return 0;
	}
	if (!k.payload || (k.sport != 53 && k.dport != 53)) {
		st->not_dns++;
		return 0;
	}
	if (k.proto == 17)
		return dns_msg(x, k.payload, k.paylen, ts_sec, emit, arg, st);
	if (k.proto == 6 && k.sport == 53 && !k.fragment)
		return tcp_segment(x, &k, ts_sec, emit, arg, st);
	st->not_dns++;
	return 0;
}

/* ---- pcap byte stream ---- */

enum { S_GLOBAL, S_RECHDR, S_BODY, S_FAILED };

struct d4_pdns_pcapstream {
	struct d4_pdns_pcap *x;
	int state;
	int swap; /* 1: file written big-endian */
	int linktype;
	uint32_t snaplen;
	uint8_t hdr[24];
	size_t hlen;
	uint64_t ts;
	size_t caplen;
	size_t rlen;
	uint8_t *rec; /* records split across feeds; grows (never shrinks) up to PCAP_HARD_CAP */
	size_t reccap;
};

struct d4_pdns_pcapstream *d4_pdns_pcapstream_new(struct d4_pdns_pcap *x)
{
	struct d4_pdns_pcapstream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->x = x;
	return s;
}

void d4_pdns_pcapstream_free(struct d4_pdns_pcapstream *s)
{
	if (!s)
		return;
	free(s->rec);
	free(s);
}

void d4_pdns_pcapstream_reset(struct d4_pdns_pcapstream *s)
{
	s->state = S_GLOBAL;
	s->hlen = 0;
	s->rlen = 0;
}

int d4_pdns_pcap_idle(const struct d4_pdns_pcap *x)
{
	return x->oldest == NULL;
}

int d4_pdns_pcapstream_boundary(const struct d4_pdns_pcapstream *s, struct d4_pcap_info *out)
{
	if (s->state != S_RECHDR || s->hlen != 0)
		return D4_EAGAIN;
	memset(out, 0, sizeof(*out));
	out->linktype = (uint32_t)s->linktype;
	out->snaplen = s->snaplen;
	out->be = s->swap != 0;
	return 0;
}

void d4_pdns_pcapstream_resume(struct d4_pdns_pcapstream *s, const struct d4_pcap_info *h)
{
	s->state = S_RECHDR;
	s->hlen = 0;
	s->rlen = 0;
	s->swap = h->be != 0;
	s->snaplen = h->snaplen;
	s->linktype = (int)(h->linktype & 0xffff);
}

static uint32_t rd32(const struct d4_pdns_pcapstream *s, const uint8_t *p)
{
	if (s->swap)
		return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
	return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

/* 0: not a pcap magic; 1: little-endian file; 2: big-endian file. */
static int pcap_magic(const uint8_t *p)
{
	uint32_t le = ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
	uint32_t be = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
	if (le == 0xa1b2c3d4 || le == 0xa1b23c4d)
		return 1;
	if (be == 0xa1b2c3d4 || be == 0xa1b23c4d)
		return 2;
	return 0;
}

static int fail(struct d4_pdns_pcapstream *s, struct d4_pdns_stats *st, int rc)
{
	s->state = S_FAILED;
	st->bad_packets++;
	return rc;
}

int d4_pdns_pcapstream_feed(struct d4_pdns_pcapstream *s, const uint8_t *p, size_t n, d4_pdns_emit_fn emit, void *arg,
			    struct d4_pdns_stats *st)
{
	struct d4_pdns_stats dummy;
	if (!st)
		st = &dummy;
	while (n > 0) {
		switch (s->state) {
		case S_FAILED: return D4_EPROTO;
		case S_GLOBAL:
		case S_RECHDR: {
			size_t want = s->state == S_GLOBAL ? 24 : 16;
			size_t k = want - s->hlen < n ? want - s->hlen : n;
			memcpy(s->hdr + s->hlen, p, k);
			s->hlen += k;
			p += k;
			n -= k;
			if (s->hlen < want)
				break;
			if (s->state == S_RECHDR && pcap_magic(s->hdr)) {
				/* A new global header (a restarted capture) where a record was expected. */
				s->state = S_GLOBAL;
				break;
			}
			if (s->state == S_GLOBAL) {
				int m = pcap_magic(s->hdr);
				if (!m) {
					uint32_t ng = ((uint32_t)s->hdr[0] << 24) | ((uint32_t)s->hdr[1] << 16) |
						      ((uint32_t)s->hdr[2] << 8) | s->hdr[3];
					return fail(s, st, ng == 0x0a0d0d0a ? D4_ENOTSUP : D4_EPROTO);
				}
				s->swap = m == 2;
				s->snaplen = rd32(s, s->hdr + 16);
				s->linktype = (int)(rd32(s, s->hdr + 20) & 0xffff);
				s->hlen = 0;
				s->state = S_RECHDR;
				break;
			}
			s->ts = rd32(s, s->hdr);
			s->caplen = rd32(s, s->hdr + 8);
			s->hlen = 0;
			size_t lim = s->snaplen && s->snaplen < PCAP_HARD_CAP ? s->snaplen : PCAP_HARD_CAP;
			if (s->caplen > lim)
				return fail(s, st, D4_ETOOBIG);
			s->rlen = 0;
			s->state = S_BODY;
			if (s->caplen == 0) {
				s->state = S_RECHDR;
				st->bad_packets++;
			}
			break;
		}
		case S_BODY: {
			if (s->rlen == 0 && n >= s->caplen) { /* whole record in this cut: no copy */
				const uint8_t *rp = p;
				p += s->caplen;
				n -= s->caplen;
				s->state = S_RECHDR;
				int rc = d4_pdns_pcap_packet(s->x, s->linktype, s->ts, rp, s->caplen, emit, arg, st);
				if (rc < 0)
					return rc;
				break;
			}
			if (s->caplen > s->reccap) {
				size_t nc = s->caplen < 65536 ? 65536 : PCAP_HARD_CAP;
				uint8_t *nb = realloc(s->rec, nc);
				if (!nb)
					return D4_ENOMEM;
				s->rec = nb;
				s->reccap = nc;
			}
			size_t k = s->caplen - s->rlen < n ? s->caplen - s->rlen : n;
			memcpy(s->rec + s->rlen, p, k);
			s->rlen += k;
			p += k;
			n -= k;
			if (s->rlen == s->caplen) {
				s->state = S_RECHDR;
				int rc =
				    d4_pdns_pcap_packet(s->x, s->linktype, s->ts, s->rec, s->caplen, emit, arg, st);
				if (rc < 0)
					return rc;
			}
			break;
		}
		}
	}
	return s->state == S_FAILED ? D4_EPROTO : 0;
}
