/* d4-sensor --extract tls: a pcap file or live capture goes through the
 * TLS extractor (analyzers/tls) and the source yields ja3-jl lines, one per
 * handshake, packed into chunks that end at a line boundary (a line longer
 * than a chunk is cut; the receiver joins type-254 data at newlines). */
#include "d4_error.h"
#include "d4_log.h"
#include "d4_tls.h"
#include "d4_util.h"
#include "sensor_internal.h"

#include <stdlib.h>
#include <string.h>

/* Lines waiting to be sent are bounded: when the uplink is slower than the
 * capture, the source is not read (run.c spools what it returns), so this
 * only holds the lines of one burst of packets (an end-of-capture flush). */
#define TLS_PENDING_MAX (64u << 20)
/* The longest line: a chain of D4_TLS_CERTS_MAX certificates cut at the
 * extractor's per-direction limit, in base64, plus the fingerprints. */
#define TLS_LINE_MAX (2u << 20)
/* Live capture: quiet flows are ended at least this often (wall clock). */
#define TLS_EXPIRE_MS 1000

struct src_tls {
	struct d4_sensor_src base;
	pcap_t *p;
	int live, fd, linktype, eof, flushed;
	struct d4_tls *t;
	char *line;	 /* one rendered line (TLS_LINE_MAX) */
	uint8_t *pend;	 /* lines not yet handed out */
	size_t pend_off; /* start of what is not handed out yet */
	size_t pend_len; /* end of the data */
	size_t pend_cap;
	size_t max_chunk;
	uint64_t next_expire_ms;
	uint64_t lines, dropped_lines, dropped_bytes;
};

static int on_handshake(void *ud, const struct d4_tls_handshake *h)
{
	struct src_tls *s = ud;
	int n = d4_tls_jl_write(h, s->line, TLS_LINE_MAX);
	if (n < 0) {
		s->dropped_lines++;
		d4_warn("extract tls: a handshake's line is over %u bytes: dropped (%llu so far)", TLS_LINE_MAX,
			(unsigned long long)s->dropped_lines);
		return 0;
	}
	/* compact before growing: what was handed out is no longer needed */
	if (s->pend_off) {
		memmove(s->pend, s->pend + s->pend_off, s->pend_len - s->pend_off);
		s->pend_len -= s->pend_off;
		s->pend_off = 0;
	}
	if (s->pend_len + (size_t)n > s->pend_cap) {
		size_t cap = s->pend_cap ? s->pend_cap : 65536;
		while (cap < s->pend_len + (size_t)n)
			cap *= 2;
		uint8_t *b = cap <= TLS_PENDING_MAX ? realloc(s->pend, cap) : NULL;
		if (!b) {
			s->dropped_lines++;
			s->dropped_bytes += (uint64_t)n;
			d4_warn("extract tls: %zu bytes of lines pending: a line is dropped (%llu so far)", s->pend_len,
				(unsigned long long)s->dropped_lines);
			return 0;
		}
		s->pend = b;
		s->pend_cap = cap;
	}
	memcpy(s->pend + s->pend_len, s->line, (size_t)n);
	s->pend_len += (size_t)n;
	s->lines++;
	return 0;
}

/* Hands out up to max_chunk bytes ending at the last newline in them (or
 * max_chunk bytes of a longer line). The data stays valid until the next
 * call: compaction happens only when a line is appended. */
static int emit(struct src_tls *s, const uint8_t **data)
{
	size_t avail = s->pend_len - s->pend_off, n = avail;
	if (n > s->max_chunk) {
		n = s->max_chunk;
		const uint8_t *nl = NULL;
		for (size_t i = n; i > 0; i--)
			if (s->pend[s->pend_off + i - 1] == '\n') {
				nl = s->pend + s->pend_off + i - 1;
				break;
			}
		if (nl)
			n = (size_t)(nl - (s->pend + s->pend_off)) + 1;
	}
	*data = s->pend + s->pend_off;
	s->pend_off += n;
	if (s->pend_off == s->pend_len)
		s->pend_off = s->pend_len = 0; /* the next append starts at 0: *data stays intact until then */
	return (int)n;
}

static int has_pending(const struct src_tls *s)
{
	return s->pend_len > s->pend_off;
}

static int tls_src_next(struct d4_sensor_src *base, const uint8_t **data, int timeout_ms)
{
	struct src_tls *s = (struct src_tls *)base;
	if (has_pending(s) && (s->pend_len - s->pend_off >= s->max_chunk || s->eof))
		return emit(s, data);
	if (s->eof) {
		if (!s->flushed) {
			s->flushed = 1;
			int rc = d4_tls_flush(s->t);
			if (rc)
				return rc;
			if (has_pending(s))
				return emit(s, data);
		}
		return D4_ECLOSED;
	}
	uint64_t deadline = d4_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		struct pcap_pkthdr *h;
		const u_char *d;
		int r = pcap_next_ex(s->p, &h, &d);
		if (r == 1) {
			uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
			int rc = d4_tls_frame(s->t, s->linktype, ts, d, h->caplen);
			if (rc)
				return rc;
			if (s->pend_len - s->pend_off >= s->max_chunk)
				return emit(s, data);
			/* a link that is never quiet still gets its lines out within the timeout */
			if (s->live && has_pending(s) && d4_mono_ms() >= deadline)
				return emit(s, data);
			continue;
		}
		if (r == PCAP_ERROR_BREAK) { /* end of file */
			s->eof = 1;
			return tls_src_next(base, data, timeout_ms);
		}
		if (r == 0) { /* live, nothing buffered right now */
			uint64_t now = d4_mono_ms();
			if (now >= s->next_expire_ms) {
				/* quiet flows end on wall-clock time: a live capture's timestamps follow it */
				int rc = d4_tls_expire(s->t, d4_now_ms() * 1000);
				if (rc)
					return rc;
				s->next_expire_ms = now + TLS_EXPIRE_MS;
			}
			if (has_pending(s))
				return emit(s, data);
			if (now >= deadline)
				return 0;
			uint64_t until = deadline < s->next_expire_ms ? deadline : s->next_expire_ms;
			int w = src_wait_fd(s->fd, (int)(until - now));
			if (w < 0)
				return w;
			continue;
		}
		d4_err("pcap: %s", pcap_geterr(s->p));
		return D4_EIO;
	}
}

static uint64_t tls_src_drops(struct d4_sensor_src *base)
{
	struct src_tls *s = (struct src_tls *)base;
	struct pcap_stat st;
	if (!s->live || pcap_stats(s->p, &st) != 0)
		return 0;
	return (uint64_t)st.ps_drop + st.ps_ifdrop;
}

static void tls_src_close(struct d4_sensor_src *base)
{
	struct src_tls *s = (struct src_tls *)base;
	if (s->t) {
		struct d4_tls_stats st;
		d4_tls_get_stats(s->t, &st);
		d4_notice(
		    "extract tls: %llu packets, %llu flows (%llu without SYN, %llu evicted, %llu by memory), "
		    "%llu not TLS, %llu handshakes, %llu lines, %llu lines dropped; hello errors %llu, "
		    "certificate errors %llu, gaps %llu, limits %llu+%llu, allocation failures %llu",
		    (unsigned long long)st.packets, (unsigned long long)st.flows, (unsigned long long)st.flows_no_syn,
		    (unsigned long long)st.flows_evicted, (unsigned long long)st.flows_mem_evicted,
		    (unsigned long long)st.not_tls, (unsigned long long)st.handshakes, (unsigned long long)s->lines,
		    (unsigned long long)s->dropped_lines, (unsigned long long)st.hello_errors,
		    (unsigned long long)st.cert_errors, (unsigned long long)st.gaps, (unsigned long long)st.dir_limit,
		    (unsigned long long)st.seg_limit, (unsigned long long)st.alloc_failures);
		d4_tls_free(s->t);
	}
	if (s->p)
		pcap_close(s->p);
	free(s->line);
	free(s->pend);
	free(s);
}

static const struct src_ops tls_ops = {.next = tls_src_next, .drops = tls_src_drops, .close = tls_src_close};

int src_tls_open(const struct d4_sensor_src_opts *o, struct d4_sensor_src **out)
{
	struct src_tls *s = calloc(1, sizeof(*s));
	if (!s)
		return D4_ENOMEM;
	s->base.ops = &tls_ops;
	s->live = o->kind == D4S_SRC_LIVE;
	int rc = src_pcap_handle_open(o, &s->p, &s->fd);
	if (rc)
		goto fail;
	s->linktype = pcap_datalink(s->p);
	s->max_chunk = o->max_chunk ? o->max_chunk : D4S_PCAP_CHUNK;
	if (s->max_chunk > D4S_MAX_PAYLOAD)
		s->max_chunk = D4S_MAX_PAYLOAD;
	s->line = malloc(TLS_LINE_MAX);
	s->t = d4_tls_new(NULL, on_handshake, s);
	if (!s->line || !s->t) {
		rc = D4_ENOMEM;
		goto fail;
	}
	*out = &s->base;
	return D4_OK;
fail:
	tls_src_close(&s->base);
	return rc;
}
