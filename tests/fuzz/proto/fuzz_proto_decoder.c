/* Fuzz target: the incremental D4 decoder fed in chunks whose sizes come
 * from the input bytes, alternating feed() and wbuf()/commit(), with the
 * limit changed mid-stream. Every frame is checked against the input bytes
 * it came from and its HMAC verified (fixed key) by the keyed context and
 * the one-shot function, which must agree; type-2 payloads go through the
 * meta parser. Invariant violations abort(). */
#include "d4_error.h"
#include "d4_proto.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t key[] = "private key to change";

#define CHECK(c)                                                                                                       \
	do {                                                                                                           \
		if (!(c))                                                                                              \
			abort();                                                                                       \
	} while (0)

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t maxes[] = {0, 256, 16, 70000};
	static struct d4_hmac *hm;
	if (!hm)
		hm = d4_proto_hmac_new(key, sizeof(key) - 1);
	CHECK(hm);

	uint32_t max = maxes[size % 4];
	struct d4_decoder *d = d4_proto_decoder_new(max);
	if (!d)
		return 0;
	size_t off = 0, frame_start = 0;
	unsigned step = 0;
	int in_hdr = 0, err = 0;
	while (off < size && !err) {
		uint8_t b = data[off];
		size_t chunk = 1 + (b * 7u + step * 13u) % 97u;
		if (chunk > size - off)
			chunk = size - off;
		size_t room = d4_proto_decoder_room(d);
		CHECK(room > 0); /* never stalls after NEED_MORE */
		if (chunk > room)
			chunk = room;
		if (b & 1) {
			CHECK(d4_proto_decoder_feed(d, data + off, chunk) == 0);
		} else {
			size_t avail = 0;
			uint8_t *w = d4_proto_decoder_wbuf(d, chunk, &avail);
			CHECK(w && avail >= chunk && avail <= room);
			memcpy(w, data + off, chunk);
			d4_proto_decoder_commit(d, chunk);
		}
		off += chunk;
		if (step % 5 == 4) {
			max = maxes[b % 4];
			d4_proto_decoder_set_max(d, max);
		}
		if (step % 7 == 6)
			d4_proto_decoder_trim(d); /* the frame pointers of earlier calls are gone anyway */
		step++;

		for (;;) {
			struct d4_frame f;
			int ev = d4_proto_decoder_next(d, &f);
			if (ev == D4_DEC_NEED_MORE)
				break;
			if (ev < 0) {
				CHECK(ev == D4_ETOOBIG && !in_hdr);
				CHECK(f.hdr.size > (max ? max : D4_DEFAULT_MAX_PAYLOAD));
				struct d4_frame g;
				CHECK(d4_proto_decoder_next(d, &g) == ev); /* sticky */
				CHECK(d4_proto_decoder_feed(d, data, 1) == ev);
				err = ev;
				break;
			}
			CHECK(frame_start + D4_HDR_LEN <= off);
			CHECK(memcmp(f.raw_hdr, data + frame_start, D4_HDR_LEN) == 0);
			CHECK(f.hdr.size == le32(data + frame_start + 58));
			if (ev == D4_DEC_HEADER) {
				CHECK(!in_hdr && !f.payload);
				CHECK(f.hdr.size <= (max ? max : D4_DEFAULT_MAX_PAYLOAD));
				in_hdr = 1;
				continue;
			}
			CHECK(ev == D4_DEC_FRAME && in_hdr);
			in_hdr = 0;
			size_t flen = D4_HDR_LEN + (size_t)f.hdr.size;
			CHECK(frame_start + flen <= off);
			CHECK(memcmp(f.payload, data + frame_start + D4_HDR_LEN, f.hdr.size) == 0);
			int v1 = d4_proto_hmac_verify_ctx(hm, f.raw_hdr, f.payload, f.hdr.size);
			int v2 = d4_proto_hmac_verify(key, sizeof(key) - 1, f.raw_hdr, f.payload, f.hdr.size);
			CHECK(v1 == v2 && (v1 == 0 || v1 == D4_EHMAC));
			if (f.hdr.type == D4_TYPE_META) {
				struct d4_meta m;
				(void)d4_proto_meta_parse(f.payload, f.hdr.size, &m);
			}
			frame_start += flen;
		}
		if (err)
			break;
		/* Nothing complete may be left waiting for more input. */
		size_t rem = off - frame_start;
		CHECK(rem == d4_proto_decoder_pending(d));
		if (rem >= D4_HDR_LEN)
			CHECK(in_hdr && rem < D4_HDR_LEN + (size_t)le32(data + frame_start + 58));
		else
			CHECK(!in_hdr);
	}
	d4_proto_decoder_free(d);
	return 0;
}
