/* d4_pkt — splitting a classic pcap byte stream cut in arbitrary pieces
 * into records (see d4_pkt.h). The stream is a sequence of units: the
 * 24-byte global header, then records (16-byte header and caplen bytes). A
 * unit cut across pieces is completed in a buffer; a unit inside one piece
 * is passed without a copy. */
#include "d4_pkt.h"

#include <stdlib.h>
#include <string.h>

#include "d4_error.h"

enum { S_GLOBAL, S_RECHDR, S_BODY, S_FAILED };

struct d4_pcapsplit {
	int state;
	int fail; /* enum d4_pcap_fail once S_FAILED */
	int have; /* a global header was read */
	struct d4_pcap_info info;
	size_t max_record;
	uint8_t hdr[24]; /* global or record header in progress */
	size_t hlen;
	uint64_t ts_us;
	uint32_t caplen, origlen;
	uint8_t *rec; /* body of a record cut across pieces */
	size_t rlen, reccap;
};

struct d4_pcapsplit *d4_pcapsplit_new(size_t max_record)
{
	struct d4_pcapsplit *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->max_record = max_record == 0 || max_record > D4_PCAP_RECORD_MAX ? D4_PCAP_RECORD_MAX : max_record;
	return s;
}

void d4_pcapsplit_free(struct d4_pcapsplit *s)
{
	if (!s)
		return;
	free(s->rec);
	free(s);
}

size_t d4_pcapsplit_held(const struct d4_pcapsplit *s)
{
	return s->reccap;
}

void d4_pcapsplit_reset(struct d4_pcapsplit *s)
{
	free(s->rec);
	s->rec = NULL;
	s->reccap = 0;
	s->state = S_GLOBAL;
	s->fail = D4_PCAP_F_NONE;
	s->have = 0;
	memset(&s->info, 0, sizeof(s->info));
	s->hlen = 0;
	s->rlen = 0;
}

void d4_pcapsplit_resume(struct d4_pcapsplit *s, const struct d4_pcap_info *h)
{
	d4_pcapsplit_reset(s);
	s->info = *h;
	s->have = 1;
	s->state = S_RECHDR;
}

int d4_pcapsplit_info(const struct d4_pcapsplit *s, struct d4_pcap_info *out)
{
	if (!s->have)
		return D4_EAGAIN;
	*out = s->info;
	return 0;
}

size_t d4_pcapsplit_pending(const struct d4_pcapsplit *s)
{
	switch (s->state) {
	case S_GLOBAL:
	case S_RECHDR: return s->hlen;
	case S_BODY: return 16 + s->rlen;
	default: return 0;
	}
}

int d4_pcapsplit_failed(const struct d4_pcapsplit *s)
{
	return s->state == S_FAILED ? s->fail : D4_PCAP_F_NONE;
}

const char *d4_pcap_fail_name(int f)
{
	switch (f) {
	case D4_PCAP_F_NONE: return "none";
	case D4_PCAP_F_PCAPNG: return "pcapng";
	case D4_PCAP_F_MAGIC: return "not-pcap";
	case D4_PCAP_F_TOOBIG: return "record-too-big";
	default: return "?";
	}
}

static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint32_t le32(const uint8_t *p)
{
	return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

static uint32_t rd32(const struct d4_pcapsplit *s, const uint8_t *p)
{
	return s->info.be ? be32(p) : le32(p);
}

/* Reads a global header's magic: 0 not pcap, else 1 and *be, *nsec. */
static int magic(const uint8_t *p, uint8_t *be, uint8_t *nsec)
{
	uint32_t l = le32(p), b = be32(p);
	if (l == 0xa1b2c3d4 || l == 0xa1b23c4d) {
		*be = 0;
		*nsec = l == 0xa1b23c4d;
		return 1;
	}
	if (b == 0xa1b2c3d4 || b == 0xa1b23c4d) {
		*be = 1;
		*nsec = b == 0xa1b23c4d;
		return 1;
	}
	return 0;
}

static int fail(struct d4_pcapsplit *s, int why)
{
	s->state = S_FAILED;
	s->fail = why;
	return why == D4_PCAP_F_PCAPNG ? D4_ENOTSUP : why == D4_PCAP_F_TOOBIG ? D4_ETOOBIG : D4_EPROTO;
}

static int failed_rc(const struct d4_pcapsplit *s)
{
	return s->fail == D4_PCAP_F_PCAPNG ? D4_ENOTSUP : s->fail == D4_PCAP_F_TOOBIG ? D4_ETOOBIG : D4_EPROTO;
}

/* A complete record header in s->hdr: checks it and enters S_BODY. */
static int record_header(struct d4_pcapsplit *s)
{
	uint32_t sec = rd32(s, s->hdr), frac = rd32(s, s->hdr + 4);
	s->ts_us = (uint64_t)sec * 1000000u + (s->info.nsec ? frac / 1000u : frac);
	s->caplen = rd32(s, s->hdr + 8);
	s->origlen = rd32(s, s->hdr + 12);
	size_t lim = s->info.snaplen && s->info.snaplen < s->max_record ? s->info.snaplen : s->max_record;
	if (s->caplen > lim)
		return fail(s, D4_PCAP_F_TOOBIG);
	s->state = S_BODY;
	s->hlen = 16;
	s->rlen = 0;
	return 0;
}

static int deliver(struct d4_pcapsplit *s, const uint8_t *data, d4_pcap_rec_fn cb, void *ud)
{
	struct d4_pcap_rec r = {s->ts_us, s->caplen, s->origlen, data, s->info.linktype};
	s->state = S_RECHDR;
	s->hlen = 0;
	s->rlen = 0;
	return cb ? cb(ud, &r) : 0;
}

int d4_pcapsplit_feed(struct d4_pcapsplit *s, const uint8_t *p, size_t n, d4_pcap_rec_fn cb, void *ud)
{
	while (n > 0) {
		switch (s->state) {
		case S_FAILED: return failed_rc(s);
		case S_GLOBAL:
		case S_RECHDR: {
			size_t want = s->state == S_GLOBAL ? 24 : 16;
			size_t k = want - s->hlen < n ? want - s->hlen : n;
			if (k == 16 && s->hlen == 0)
				memcpy(s->hdr, p, 16); /* the usual whole record header: a fixed-size copy, inlined */
			else
				memcpy(s->hdr + s->hlen, p, k);
			s->hlen += k;
			p += k;
			n -= k;
			if (s->hlen < want)
				break;
			uint8_t be, nsec;
			if (s->state == S_RECHDR) {
				if (magic(s->hdr, &be, &nsec)) {
					s->state = S_GLOBAL; /* a restarted capture: 8 more bytes of header */
					break;
				}
				int rc = record_header(s);
				if (rc)
					return rc;
				if (s->caplen == 0 && (rc = deliver(s, NULL, cb, ud)) != 0)
					return rc;
				break;
			}
			if (!magic(s->hdr, &be, &nsec))
				return fail(s, be32(s->hdr) == 0x0a0d0d0a ? D4_PCAP_F_PCAPNG : D4_PCAP_F_MAGIC);
			s->info.be = be;
			s->info.nsec = nsec;
			s->info.snaplen = rd32(s, s->hdr + 16);
			s->info.linktype = rd32(s, s->hdr + 20) & 0xffff;
			s->have = 1;
			s->hlen = 0;
			s->state = S_RECHDR;
			break;
		}
		case S_BODY: {
			if (s->rlen == 0 && n >= s->caplen) { /* whole body in this piece: no copy */
				const uint8_t *rp = p;
				p += s->caplen;
				n -= s->caplen;
				int rc = deliver(s, rp, cb, ud);
				if (rc)
					return rc;
				break;
			}
			if (s->caplen > s->reccap) {
				/* exactly the record: what a stream holds is what it has
				 * pending (d4_pcapsplit_held), freed once delivered */
				size_t nc = s->caplen;
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
				int rc = deliver(s, s->rec, cb, ud);
				free(s->rec);
				s->rec = NULL;
				s->reccap = 0;
				if (rc)
					return rc;
			}
			break;
		}
		}
	}
	return s->state == S_FAILED ? failed_rc(s) : 0;
}
