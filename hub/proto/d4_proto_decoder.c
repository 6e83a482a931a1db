/* d4hub — incremental D4 stream decoder.
 *
 * One contiguous buffer [rd, wr) of bytes not yet returned as a frame. It
 * grows geometrically up to 62 + max (the largest frame) and is compacted
 * in place, so a long-lived connection stops allocating once its buffer
 * has reached the size of the largest frame it has seen. Frames are handed
 * out as pointers into the buffer; they stay valid until the next call
 * because only feed()/wbuf() move or overwrite data. */
#include "d4_proto.h"
#include "d4_error.h"

#include <stdlib.h>
#include <string.h>

#define D4_DEC_INITIAL 16384u

struct d4_decoder {
	uint8_t *buf;
	size_t cap;  /* allocated bytes */
	size_t rd;   /* first byte not yet returned as a frame */
	size_t wr;   /* end of valid data */
	size_t wwin; /* bytes still committable in the last wbuf() window */
	uint32_t max;
	int err;      /* sticky */
	int have_hdr; /* HEADER returned (or rejected): hdr describes buf + rd */
	struct d4_hdr hdr;
};

struct d4_decoder *d4_proto_decoder_new(uint32_t max_payload)
{
	struct d4_decoder *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->max = max_payload ? max_payload : D4_DEFAULT_MAX_PAYLOAD;
	return d;
}

void d4_proto_decoder_free(struct d4_decoder *d)
{
	if (!d)
		return;
	free(d->buf);
	free(d);
}

void d4_proto_decoder_set_max(struct d4_decoder *d, uint32_t max_payload)
{
	d->max = max_payload ? max_payload : D4_DEFAULT_MAX_PAYLOAD;
}

/* The cap also covers a frame whose header was accepted under an older,
 * larger limit: tightening must not strand a frame half-way. */
static size_t dec_limit(const struct d4_decoder *d)
{
	uint32_t m = d->max;
	if (d->have_hdr && d->hdr.size > m)
		m = d->hdr.size;
	return (size_t)D4_HDR_LEN + m;
}

size_t d4_proto_decoder_pending(const struct d4_decoder *d)
{
	return d->wr - d->rd;
}

size_t d4_proto_decoder_room(const struct d4_decoder *d)
{
	size_t lim = dec_limit(d), pending = d->wr - d->rd;
	if (d->err || pending >= lim)
		return 0;
	return lim - pending;
}

/* Makes at least want bytes writable at buf + wr (want <= room). */
static int dec_reserve(struct d4_decoder *d, size_t want, size_t lim)
{
	size_t pending = d->wr - d->rd;
	if (pending == 0)
		d->rd = d->wr = 0;
	/* Compact when the tail is too short, or when moving the pending bytes
	 * costs no more than the space it wins back. */
	if (d->rd > 0 && (d->cap - d->wr < want || pending <= d->rd)) {
		memmove(d->buf, d->buf + d->rd, pending);
		d->rd = 0;
		d->wr = pending;
	}
	if (d->cap - d->wr >= want)
		return D4_OK;
	size_t ncap = d->cap ? d->cap * 2 : D4_DEC_INITIAL;
	if (ncap < d->wr + want)
		ncap = d->wr + want;
	if (ncap > lim)
		ncap = lim;
	uint8_t *nb = realloc(d->buf, ncap);
	if (!nb)
		return D4_ENOMEM;
	d->buf = nb;
	d->cap = ncap;
	return D4_OK;
}

uint8_t *d4_proto_decoder_wbuf(struct d4_decoder *d, size_t min, size_t *avail)
{
	size_t room = d4_proto_decoder_room(d);
	*avail = 0;
	d->wwin = 0;
	if (room == 0)
		return NULL;
	size_t want = min ? min : 1;
	if (want > room)
		want = room;
	if (dec_reserve(d, want, dec_limit(d)) != D4_OK)
		return NULL;
	size_t win = d->cap - d->wr;
	if (win > room)
		win = room;
	*avail = win;
	d->wwin = win;
	return d->buf + d->wr;
}

void d4_proto_decoder_commit(struct d4_decoder *d, size_t n)
{
	if (d->err)
		return;
	if (n > d->wwin) {
		/* The caller wrote past the window it was given: nothing in the
		 * buffer can be trusted any more. */
		d->err = D4_EINVAL;
		return;
	}
	d->wr += n;
	d->wwin -= n;
}

int d4_proto_decoder_feed(struct d4_decoder *d, const uint8_t *data, size_t len)
{
	if (d->err)
		return d->err;
	d->wwin = 0;
	if (len == 0)
		return D4_OK;
	if (len > d4_proto_decoder_room(d))
		return D4_ETOOBIG;
	int rc = dec_reserve(d, len, dec_limit(d));
	if (rc != D4_OK)
		return rc;
	memcpy(d->buf + d->wr, data, len);
	d->wr += len;
	return D4_OK;
}

int d4_proto_decoder_next(struct d4_decoder *d, struct d4_frame *out)
{
	d->wwin = 0;
	if (d->err) {
		if (d->have_hdr) {
			out->hdr = d->hdr;
			out->raw_hdr = d->buf + d->rd;
			out->payload = NULL;
		}
		return d->err;
	}
	size_t pending = d->wr - d->rd;
	if (!d->have_hdr) {
		if (pending < D4_HDR_LEN)
			return D4_DEC_NEED_MORE;
		d4_proto_hdr_decode(d->buf + d->rd, pending, &d->hdr);
		d->have_hdr = 1;
		out->hdr = d->hdr;
		out->raw_hdr = d->buf + d->rd;
		out->payload = NULL;
		if (d->hdr.size > d->max) {
			d->err = D4_ETOOBIG;
			return d->err;
		}
		return D4_DEC_HEADER;
	}
	size_t need = (size_t)D4_HDR_LEN + d->hdr.size;
	if (pending < need)
		return D4_DEC_NEED_MORE;
	out->hdr = d->hdr;
	out->raw_hdr = d->buf + d->rd;
	out->payload = d->buf + d->rd + D4_HDR_LEN;
	d->rd += need;
	d->have_hdr = 0;
	return D4_DEC_FRAME;
}

void d4_proto_decoder_trim(struct d4_decoder *d)
{
	size_t pending = d->wr - d->rd;
	d->wwin = 0;
	if (pending == 0) {
		free(d->buf);
		d->buf = NULL;
		d->cap = d->rd = d->wr = 0;
		return;
	}
	if (pending > D4_DEC_INITIAL || d->cap <= D4_DEC_INITIAL)
		return;
	memmove(d->buf, d->buf + d->rd, pending);
	d->rd = 0;
	d->wr = pending;
	uint8_t *nb = realloc(d->buf, D4_DEC_INITIAL);
	if (nb) { /* on failure the larger buffer simply stays */
		d->buf = nb;
		d->cap = D4_DEC_INITIAL;
	}
}
