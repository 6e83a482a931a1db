/* d4-sensor: pcap/pcapng file and live capture sources. Both emit a classic
 * pcap stream (global header, then records), several whole records per
 * chunk: a frame boundary is always a record boundary. */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_util.h"
#include "sensor_internal.h"

#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

#define PCAP_GHDR_LEN	     24
#define PCAP_RHDR_LEN	     16
#define LIVE_SNAPLEN_DEFAULT 262144

struct src_pcap {
	struct d4_sensor_src base;
	pcap_t *p;
	int live;
	int fd; /* selectable fd (live) */
	int hdr_done;
	int eof;
	/* A packet that did not fit the previous chunk; pcap keeps its data
	 * valid until the next pcap_next_ex(), which we only call after it. */
	const u_char *pend_data;
	struct pcap_pkthdr pend_hdr;
	int has_pend;
	size_t max_chunk;
	size_t cap;
	size_t len;
	uint8_t *buf;
	uint64_t npkts; /* packets read so far (for the truncation warning) */
};

/* Native byte order, like a file written by libpcap on this host. */
static void put_u32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}
static void put_u16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void write_ghdr(struct src_pcap *s)
{
	uint8_t *g = s->buf + s->len;
	put_u32(g, 0xa1b2c3d4u);
	put_u16(g + 4, 2);
	put_u16(g + 6, 4);
	put_u32(g + 8, 0);
	put_u32(g + 12, 0);
	put_u32(g + 16, (uint32_t)pcap_snapshot(s->p));
	put_u32(g + 20, (uint32_t)pcap_datalink(s->p));
	s->len += PCAP_GHDR_LEN;
	s->hdr_done = 1;
}

/* 1 appended, 0 no room (chunk must be emitted first). */
static int append_rec(struct src_pcap *s, const struct pcap_pkthdr *h, const u_char *d)
{
	size_t need = PCAP_RHDR_LEN + h->caplen;
	if (s->len > 0 && s->len + need > s->max_chunk)
		return 0;
	if (s->len + need > s->cap)
		return 0; /* cannot happen: cap covers one header + snaplen */
	uint8_t *r = s->buf + s->len;
	put_u32(r, (uint32_t)h->ts.tv_sec);
	put_u32(r + 4, (uint32_t)h->ts.tv_usec);
	put_u32(r + 8, h->caplen);
	put_u32(r + 12, h->len);
	memcpy(r + PCAP_RHDR_LEN, d, h->caplen);
	s->len += need;
	return 1;
}

static int emit(struct src_pcap *s, const uint8_t **data)
{
	int n = (int)s->len;
	*data = s->buf;
	s->len = 0;
	return n;
}

static int pcap_src_next(struct d4_sensor_src *base, const uint8_t **data, int timeout_ms)
{
	struct src_pcap *s = (struct src_pcap *)base;
	if (s->eof)
		return D4_ECLOSED;
	if (!s->hdr_done)
		write_ghdr(s);
	if (s->has_pend) {
		s->has_pend = 0;
		append_rec(s, &s->pend_hdr, s->pend_data);
	}
	uint64_t deadline = d4_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		struct pcap_pkthdr *h;
		const u_char *d;
		int r = pcap_next_ex(s->p, &h, &d);
		if (r == 1) {
			if (h->caplen > (bpf_u_int32)(s->cap - PCAP_RHDR_LEN - PCAP_GHDR_LEN))
				continue; /* larger than the snaplen we sized for: libpcap bug guard */
			s->npkts++;
			if (!append_rec(s, h, d)) {
				s->pend_hdr = *h;
				s->pend_data = d;
				s->has_pend = 1;
				return emit(s, data);
			}
			continue;
		}
		if (r == PCAP_ERROR_BREAK) { /* end of file */
			s->eof = 1;
			if (s->len > 0)
				return emit(s, data);
			return D4_ECLOSED;
		}
		if (r == 0) { /* live, nothing buffered right now */
			if (s->len > 0)
				return emit(s, data);
			uint64_t now = d4_mono_ms();
			if (now >= deadline)
				return 0;
			int w = src_wait_fd(s->fd, (int)(deadline - now));
			if (w < 0)
				return w;
			if (w == 0 && d4_mono_ms() >= deadline)
				return 0;
			continue;
		}
		if (!s->live) {
			/* A capture cut inside a record (a writer killed, a copy
			 * taken while it grew): the complete packets before the
			 * cut are still evidence, so they are sent; the run goes
			 * on as at the end of the file. */
			d4_warn("pcap: %s; sending the %" PRIu64 " complete packets before it", pcap_geterr(s->p),
				s->npkts);
			s->eof = 1;
			if (s->len > 0)
				return emit(s, data);
			return D4_ECLOSED;
		}
		d4_err("pcap: %s", pcap_geterr(s->p));
		return D4_EIO;
	}
}

static uint64_t pcap_src_drops(struct d4_sensor_src *base)
{
	struct src_pcap *s = (struct src_pcap *)base;
	struct pcap_stat st;
	if (!s->live || pcap_stats(s->p, &st) != 0)
		return 0;
	return (uint64_t)st.ps_drop + st.ps_ifdrop;
}

static void pcap_src_close(struct d4_sensor_src *base)
{
	struct src_pcap *s = (struct src_pcap *)base;
	if (s->p)
		pcap_close(s->p);
	free(s->buf);
	free(s);
}

static const struct src_ops pcap_ops = {.next = pcap_src_next, .drops = pcap_src_drops, .close = pcap_src_close};

static int set_filter(pcap_t *p, const char *bpf)
{
	struct bpf_program prog;
	if (pcap_compile(p, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		d4_err("BPF filter '%s': %s", bpf, pcap_geterr(p));
		return D4_ECONFIG;
	}
	int rc = pcap_setfilter(p, &prog);
	pcap_freecode(&prog);
	if (rc != 0) {
		d4_err("BPF filter: %s", pcap_geterr(p));
		return D4_ECONFIG;
	}
	return D4_OK;
}

int src_pcap_handle_open(const struct d4_sensor_src_opts *o, pcap_t **out, int *fd)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	pcap_t *p = NULL;
	int rc = D4_ECONFIG;
	*fd = -1;
	if (o->kind == D4S_SRC_LIVE) {
		unsigned snap = o->snaplen ? o->snaplen : LIVE_SNAPLEN_DEFAULT;
		p = pcap_create(o->iface, errbuf);
		if (!p) {
			d4_err("capture on %s: %s", o->iface, errbuf);
			goto fail;
		}
		pcap_set_snaplen(p, (int)snap);
		pcap_set_promisc(p, 1);
		pcap_set_timeout(p, 100); /* bounded latency on quiet links */
		int a = pcap_activate(p);
		if (a < 0) {
			d4_err("capture on %s: %s", o->iface, pcap_geterr(p));
			goto fail;
		}
		if (a > 0)
			d4_warn("capture on %s: %s", o->iface, pcap_statustostr(a));
		if (pcap_setnonblock(p, 1, errbuf) != 0) {
			d4_err("capture on %s: %s", o->iface, errbuf);
			goto fail;
		}
		*fd = pcap_get_selectable_fd(p);
		if (*fd < 0) {
			d4_err("capture on %s: no selectable fd", o->iface);
			goto fail;
		}
	} else {
		p = pcap_open_offline(o->path, errbuf);
		if (!p) {
			d4_err("pcap file %s: %s", o->path, errbuf);
			goto fail;
		}
	}
	if (o->bpf && *o->bpf && (rc = set_filter(p, o->bpf)) != 0)
		goto fail;
	*out = p;
	return D4_OK;
fail:
	if (p)
		pcap_close(p);
	return rc;
}

int src_pcap_open(const struct d4_sensor_src_opts *o, struct d4_sensor_src **out)
{
	struct src_pcap *s = calloc(1, sizeof(*s));
	if (!s)
		return D4_ENOMEM;
	s->base.ops = &pcap_ops;
	s->live = o->kind == D4S_SRC_LIVE;
	int rc = src_pcap_handle_open(o, &s->p, &s->fd);
	if (rc)
		goto fail;
	s->max_chunk = o->max_chunk ? o->max_chunk : D4S_PCAP_CHUNK;
	if (s->max_chunk > D4S_MAX_PAYLOAD)
		s->max_chunk = D4S_MAX_PAYLOAD;
	size_t snap = (size_t)pcap_snapshot(s->p);
	s->cap =
	    s->max_chunk > PCAP_GHDR_LEN + PCAP_RHDR_LEN + snap ? s->max_chunk : PCAP_GHDR_LEN + PCAP_RHDR_LEN + snap;
	s->buf = malloc(s->cap);
	if (!s->buf) {
		rc = D4_ENOMEM;
		goto fail;
	}
	*out = &s->base;
	return D4_OK;
fail:
	pcap_src_close(&s->base);
	return rc;
}
