/* Unit tests of hub/proto: header codec, HMAC, decoder, meta header. */
#include "d4_error.h"
#include "d4_proto.h"
#include "d4_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char vec_key[] = "private key to change";
/* DESIGN.md §3 test vector, byte for byte. */
static const char vec_hex[] = "0101"
			      "d42967c1f7ad464ebbc74464c653d7a6"
			      "c2f4066b00000000"
			      "df265a57a7ef73826cd1221a72e17169bde8cec1ce9289cdb3a07b90a4bd1753"
			      "09000000"
			      "68656c6c6f2064340a";

static size_t vec_bytes(uint8_t *out)
{
	size_t n = (sizeof(vec_hex) - 1) / 2;
	ck_assert_int_eq(d4_hex_decode(vec_hex, sizeof(vec_hex) - 1, out, n), 0);
	return n;
}

static void vec_hdr(struct d4_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->version = 1;
	h->type = 1;
	ck_assert_int_eq(d4_uuid_parse("d42967c1f7ad464ebbc74464c653d7a6", h->uuid), 0);
	h->timestamp = 0x6b06f4c2;
}

/* Frame with a deterministic payload of len bytes. Returns total length. */
static size_t mk_frame(uint8_t *out, size_t out_size, uint8_t type, size_t len, uint8_t seed)
{
	uint8_t *payload = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(payload);
	for (size_t i = 0; i < len; i++)
		payload[i] = (uint8_t)(seed + i * 7);
	struct d4_hdr h;
	vec_hdr(&h);
	h.type = type;
	h.timestamp += seed;
	int n = d4_proto_frame_build(&h, (const uint8_t *)vec_key, strlen(vec_key), payload, len, out, out_size);
	free(payload);
	ck_assert_int_eq(n, (int)(D4_HDR_LEN + len));
	return (size_t)n;
}

/* ---- header, HMAC, frame ------------------------------------------------- */

START_TEST(test_vector_build)
{
	uint8_t want[128], out[128];
	size_t n = vec_bytes(want);
	ck_assert_uint_eq(n, 62 + 9);
	struct d4_hdr h;
	vec_hdr(&h);
	memset(h.hmac, 0xaa, sizeof(h.hmac)); /* must be ignored and overwritten */
	h.size = 12345;
	int r = d4_proto_frame_build(&h, (const uint8_t *)vec_key, strlen(vec_key), (const uint8_t *)"hello d4\n", 9,
				     out, sizeof(out));
	ck_assert_int_eq(r, (int)n);
	ck_assert_mem_eq(out, want, n);
	ck_assert_uint_eq(h.size, 9);
	ck_assert_mem_eq(h.hmac, want + D4_HMAC_OFF, D4_HMAC_LEN);

	/* Same through the keyed context. */
	struct d4_hmac *hm = d4_proto_hmac_new((const uint8_t *)vec_key, strlen(vec_key));
	ck_assert_ptr_nonnull(hm);
	memset(out, 0, sizeof(out));
	vec_hdr(&h);
	r = d4_proto_frame_build_ctx(&h, hm, (const uint8_t *)"hello d4\n", 9, out, sizeof(out));
	ck_assert_int_eq(r, (int)n);
	ck_assert_mem_eq(out, want, n);
	d4_proto_hmac_free(hm);
}
END_TEST

START_TEST(test_vector_decode_verify)
{
	uint8_t buf[128];
	size_t n = vec_bytes(buf);
	struct d4_hdr h, ref;
	ck_assert_int_eq(d4_proto_hdr_decode(buf, n, &h), 0);
	vec_hdr(&ref);
	ck_assert_uint_eq(h.version, 1);
	ck_assert_uint_eq(h.type, 1);
	ck_assert_mem_eq(h.uuid, ref.uuid, 16);
	ck_assert_uint_eq(h.timestamp, 0x6b06f4c2u);
	ck_assert_uint_eq(h.size, 9);
	ck_assert_mem_eq(h.hmac, buf + D4_HMAC_OFF, 32);
	ck_assert_int_eq(d4_proto_hmac_verify((const uint8_t *)vec_key, strlen(vec_key), buf, buf + 62, 9), 0);
	uint8_t mac[32];
	ck_assert_int_eq(d4_proto_hmac((const uint8_t *)vec_key, strlen(vec_key), buf, buf + 62, 9, mac), 0);
	ck_assert_mem_eq(mac, buf + D4_HMAC_OFF, 32);

	struct d4_hmac *hm = d4_proto_hmac_new((const uint8_t *)vec_key, strlen(vec_key));
	ck_assert_ptr_nonnull(hm);
	/* The context is reset between uses: the result must not drift. */
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(d4_proto_hmac_verify_ctx(hm, buf, buf + 62, 9), 0);
	/* Key with the trailing newline of a key file is a different key. */
	ck_assert_int_eq(d4_proto_hmac_verify((const uint8_t *)"private key to change\n", 22, buf, buf + 62, 9),
			 D4_EHMAC);
	d4_proto_hmac_free(hm);
}
END_TEST

START_TEST(test_hdr_roundtrip)
{
	struct d4_hdr h = {.version = 7, .type = 254, .timestamp = 0x0102030405060708ull, .size = 0x0a0b0c0du};
	for (int i = 0; i < 16; i++)
		h.uuid[i] = (uint8_t)(0xf0 + i);
	for (int i = 0; i < 32; i++)
		h.hmac[i] = (uint8_t)i;
	uint8_t raw[62];
	d4_proto_hdr_encode(&h, raw);
	static const uint8_t ts_le[8] = {8, 7, 6, 5, 4, 3, 2, 1};
	static const uint8_t sz_le[4] = {0x0d, 0x0c, 0x0b, 0x0a};
	ck_assert_uint_eq(raw[0], 7);
	ck_assert_uint_eq(raw[1], 254);
	ck_assert_mem_eq(raw + 2, h.uuid, 16);
	ck_assert_mem_eq(raw + 18, ts_le, 8);
	ck_assert_mem_eq(raw + 26, h.hmac, 32);
	ck_assert_mem_eq(raw + 58, sz_le, 4);
	struct d4_hdr d;
	ck_assert_int_eq(d4_proto_hdr_decode(raw, 62, &d), 0);
	ck_assert_uint_eq(d.version, h.version);
	ck_assert_uint_eq(d.type, h.type);
	ck_assert_mem_eq(d.uuid, h.uuid, 16);
	ck_assert_uint_eq(d.timestamp, h.timestamp);
	ck_assert_mem_eq(d.hmac, h.hmac, 32);
	ck_assert_uint_eq(d.size, h.size);
	ck_assert_int_eq(d4_proto_hdr_decode(raw, 61, &d), D4_ETRUNC);
	ck_assert_int_eq(d4_proto_hdr_decode(raw, 0, &d), D4_ETRUNC);
}
END_TEST

START_TEST(test_hmac_bitflip)
{
	uint8_t buf[128];
	size_t n = vec_bytes(buf);
	struct d4_hmac *hm = d4_proto_hmac_new((const uint8_t *)vec_key, strlen(vec_key));
	ck_assert_ptr_nonnull(hm);
	for (size_t bit = 0; bit < n * 8; bit++) {
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		/* The size field is part of the MAC, but the verify length stays 9:
		 * a flipped size must still fail. */
		ck_assert_int_eq(d4_proto_hmac_verify((const uint8_t *)vec_key, strlen(vec_key), buf, buf + 62, 9),
				 D4_EHMAC);
		ck_assert_int_eq(d4_proto_hmac_verify_ctx(hm, buf, buf + 62, 9), D4_EHMAC);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	ck_assert_int_eq(d4_proto_hmac_verify_ctx(hm, buf, buf + 62, 9), 0);
	/* Wrong keys, including a one-byte difference and a truncated key. */
	ck_assert_int_eq(d4_proto_hmac_verify((const uint8_t *)"private key to chang", 20, buf, buf + 62, 9), D4_EHMAC);
	ck_assert_int_eq(d4_proto_hmac_verify((const uint8_t *)"Private key to change", 21, buf, buf + 62, 9),
			 D4_EHMAC);
	/* Shorter payload (truncated frame) fails. */
	ck_assert_int_eq(d4_proto_hmac_verify_ctx(hm, buf, buf + 62, 8), D4_EHMAC);
	d4_proto_hmac_free(hm);
}
END_TEST

START_TEST(test_hmac_ctx_matches_oneshot)
{
	size_t big = 1u << 20;
	uint8_t *p = malloc(big);
	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < big; i++)
		p[i] = (uint8_t)(i * 131 + 7);
	uint8_t hdr[62];
	memset(hdr, 0x5a, sizeof(hdr));
	static const uint8_t k2[] = "another key";
	struct d4_hmac *a = d4_proto_hmac_new((const uint8_t *)vec_key, strlen(vec_key));
	struct d4_hmac *b = d4_proto_hmac_new(k2, sizeof(k2) - 1);
	struct d4_hmac *e = d4_proto_hmac_new(NULL, 0);
	ck_assert(a && b && e);
	static const size_t lens[] = {0, 1, 9, 63, 64, 65, 4096, 65536, 1u << 20};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint8_t m1[32], m2[32], m3[32], m4[32], m5[32], m6[32];
		/* Interleave contexts: each keeps its own key. */
		ck_assert_int_eq(d4_proto_hmac_sign_ctx(a, hdr, p, lens[i], m1), 0);
		ck_assert_int_eq(d4_proto_hmac_sign_ctx(b, hdr, p, lens[i], m3), 0);
		ck_assert_int_eq(d4_proto_hmac_sign_ctx(e, hdr, p, lens[i], m5), 0);
		ck_assert_int_eq(d4_proto_hmac((const uint8_t *)vec_key, strlen(vec_key), hdr, p, lens[i], m2), 0);
		ck_assert_int_eq(d4_proto_hmac(k2, sizeof(k2) - 1, hdr, p, lens[i], m4), 0);
		ck_assert_int_eq(d4_proto_hmac((const uint8_t *)"", 0, hdr, p, lens[i], m6), 0);
		ck_assert_mem_eq(m1, m2, 32);
		ck_assert_mem_eq(m3, m4, 32);
		ck_assert_mem_eq(m5, m6, 32);
		ck_assert(memcmp(m1, m3, 32) != 0);
		ck_assert(memcmp(m1, m5, 32) != 0);
		/* The stored hmac field does not take part in the MAC. */
		memset(hdr + D4_HMAC_OFF, (int)i, 32);
		ck_assert_int_eq(d4_proto_hmac_sign_ctx(a, hdr, p, lens[i], m2), 0);
		ck_assert_mem_eq(m1, m2, 32);
		memset(hdr + D4_HMAC_OFF, 0x5a, 32);
	}
	d4_proto_hmac_free(a);
	d4_proto_hmac_free(b);
	d4_proto_hmac_free(e);
	d4_proto_hmac_free(NULL);
	free(p);
}
END_TEST

START_TEST(test_frame_build_limits)
{
	uint8_t out[128];
	struct d4_hdr h;
	vec_hdr(&h);
	ck_assert_int_eq(d4_proto_frame_build(&h, (const uint8_t *)vec_key, strlen(vec_key),
					      (const uint8_t *)"hello d4\n", 9, out, 70),
			 D4_ETOOBIG);
	ck_assert_int_eq(d4_proto_frame_build(&h, (const uint8_t *)vec_key, strlen(vec_key), NULL, 0, out, 62), 62);
	ck_assert_uint_eq(h.size, 0);
	ck_assert_int_eq(d4_proto_hmac_verify((const uint8_t *)vec_key, strlen(vec_key), out, NULL, 0), 0);
	/* In place: payload already at out + 62. */
	uint8_t want[128];
	size_t n = vec_bytes(want);
	memset(out, 0, sizeof(out));
	memcpy(out + 62, "hello d4\n", 9);
	vec_hdr(&h);
	ck_assert_int_eq(
	    d4_proto_frame_build(&h, (const uint8_t *)vec_key, strlen(vec_key), out + 62, 9, out, sizeof(out)), (int)n);
	ck_assert_mem_eq(out, want, n);
}
END_TEST

/* ---- decoder ------------------------------------------------------------- */

struct stream {
	uint8_t buf[4096];
	size_t len;
	size_t ends[64]; /* offset just past each frame */
	size_t starts[64];
	unsigned nframes;
};

static void stream_add(struct stream *s, uint8_t type, size_t plen, uint8_t seed)
{
	s->starts[s->nframes] = s->len;
	s->len += mk_frame(s->buf + s->len, sizeof(s->buf) - s->len, type, plen, seed);
	s->ends[s->nframes++] = s->len;
}

/* Check records a mark point (a write to its pipe) on every passing
 * ck_assert; loops that run many thousand times use this instead. */
#define REQ(c)                                                                                                         \
	do {                                                                                                           \
		if (!(c))                                                                                              \
			ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c);                                             \
	} while (0)

/* One keyed context per test process (Check forks per test). */
static struct d4_hmac *test_hmac(void)
{
	static struct d4_hmac *hm;
	if (!hm)
		hm = d4_proto_hmac_new((const uint8_t *)vec_key, strlen(vec_key));
	REQ(hm != NULL);
	return hm;
}

/* Drains the decoder, checking each event against the stream; returns the
 * number of frames completed so far (updated in *done). */
static void drain(struct d4_decoder *d, const struct stream *s, unsigned *done, int *hdr_seen)
{
	struct d4_frame f;
	for (;;) {
		int ev = d4_proto_decoder_next(d, &f);
		REQ(ev >= 0);
		if (ev == D4_DEC_NEED_MORE)
			return;
		REQ(*done < s->nframes);
		const uint8_t *raw = s->buf + s->starts[*done];
		size_t plen = s->ends[*done] - s->starts[*done] - 62;
		REQ(memcmp(f.raw_hdr, raw, 62) == 0);
		REQ(f.hdr.size == plen);
		if (ev == D4_DEC_HEADER) {
			REQ(!*hdr_seen);
			REQ(f.payload == NULL);
			*hdr_seen = 1;
			continue;
		}
		REQ(ev == D4_DEC_FRAME);
		REQ(*hdr_seen);
		*hdr_seen = 0;
		if (plen)
			REQ(memcmp(f.payload, raw + 62, plen) == 0);
		REQ(d4_proto_hmac_verify_ctx(test_hmac(), f.raw_hdr, f.payload, f.hdr.size) == 0);
		(*done)++;
	}
}

/* Frames whose last byte has been fed must all be out, whatever came in. */
static unsigned frames_ending_before(const struct stream *s, size_t fed)
{
	unsigned n = 0;
	while (n < s->nframes && s->ends[n] <= fed)
		n++;
	return n;
}

static void three_frames(struct stream *s)
{
	memset(s, 0, sizeof(*s));
	stream_add(s, 1, 9, 1);
	stream_add(s, 1, 0, 2); /* size-0 packet, as clients send at the end */
	stream_add(s, 2, 40, 3);
}

START_TEST(test_dec_one_byte_feeds)
{
	struct stream s;
	three_frames(&s);
	stream_add(&s, 1, 0, 4);
	struct d4_decoder *d = d4_proto_decoder_new(0);
	ck_assert_ptr_nonnull(d);
	unsigned done = 0;
	int hs = 0;
	for (size_t i = 0; i < s.len; i++) {
		ck_assert_int_eq(d4_proto_decoder_feed(d, s.buf + i, 1), 0);
		drain(d, &s, &done, &hs);
		ck_assert_uint_eq(done, frames_ending_before(&s, i + 1));
		/* HEADER is announced as soon as the 62nd header byte is in. */
		size_t at = done < s.nframes ? s.starts[done] : s.len;
		ck_assert_int_eq(hs, done < s.nframes && i + 1 >= at + 62);
	}
	ck_assert_uint_eq(done, s.nframes);
	ck_assert_uint_eq(d4_proto_decoder_pending(d), 0);
	d4_proto_decoder_free(d);
}
END_TEST

START_TEST(test_dec_all_splits)
{
	struct stream s;
	three_frames(&s);
	/* Every pair of split points: three chunks, including empty ones. */
	for (size_t i = 0; i <= s.len; i++) {
		for (size_t j = i; j <= s.len; j++) {
			/* Cap 62 + 300 holds the whole stream: one feed may carry it all. */
			struct d4_decoder *d = d4_proto_decoder_new(300);
			REQ(d != NULL);
			unsigned done = 0;
			int hs = 0;
			size_t cuts[4] = {0, i, j, s.len};
			for (int c = 0; c < 3; c++) {
				REQ(d4_proto_decoder_feed(d, s.buf + cuts[c], cuts[c + 1] - cuts[c]) == 0);
				drain(d, &s, &done, &hs);
				REQ(done == frames_ending_before(&s, cuts[c + 1]));
			}
			REQ(done == 3);
			REQ(d4_proto_decoder_pending(d) == 0);
			d4_proto_decoder_free(d);
		}
	}
}
END_TEST

START_TEST(test_dec_tiny_tail)
{
	/* The last 10 bytes of a packet arrive alone (a short final TLS record):
	 * the frame must come out at once, not wait for the next packet. */
	uint8_t buf[2048];
	size_t n = mk_frame(buf, sizeof(buf), 1, 1000, 9);
	struct d4_decoder *d = d4_proto_decoder_new(0);
	struct d4_frame f;
	ck_assert_int_eq(d4_proto_decoder_feed(d, buf, n - 10), 0);
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_DEC_HEADER);
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_DEC_NEED_MORE);
	ck_assert_int_eq(d4_proto_decoder_feed(d, buf + n - 10, 10), 0);
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_DEC_FRAME);
	ck_assert_uint_eq(f.hdr.size, 1000);
	ck_assert_mem_eq(f.payload, buf + 62, 1000);
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_DEC_NEED_MORE);
	/* A whole header in a short record: the size-0 packet needs no more. */
	n = mk_frame(buf, sizeof(buf), 1, 0, 1);
	ck_assert_int_eq(d4_proto_decoder_feed(d, buf, 52), 0);
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_DEC_NEED_MORE);
	ck_assert_int_eq(d4_proto_decoder_feed(d, buf + 52, 10), 0);
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_DEC_HEADER);
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_DEC_FRAME);
	ck_assert_uint_eq(f.hdr.size, 0);
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_DEC_NEED_MORE);
	d4_proto_decoder_free(d);
}
END_TEST

START_TEST(test_dec_many_per_feed)
{
	struct stream s;
	memset(&s, 0, sizeof(s));
	for (unsigned i = 0; i < 40; i++)
		stream_add(&s, 1, (i * 13) % 30, (uint8_t)i);
	struct d4_decoder *d = d4_proto_decoder_new(0);
	unsigned done = 0;
	int hs = 0;
	ck_assert_int_eq(d4_proto_decoder_feed(d, s.buf, s.len), 0);
	drain(d, &s, &done, &hs);
	ck_assert_uint_eq(done, 40);
	/* Again, with the buffer already holding a partial header. */
	done = 0;
	ck_assert_int_eq(d4_proto_decoder_feed(d, s.buf, 30), 0);
	drain(d, &s, &done, &hs);
	ck_assert_int_eq(d4_proto_decoder_feed(d, s.buf + 30, s.len - 30), 0);
	drain(d, &s, &done, &hs);
	ck_assert_uint_eq(done, 40);
	d4_proto_decoder_free(d);
}
END_TEST

START_TEST(test_dec_wbuf_commit)
{
	struct stream s;
	memset(&s, 0, sizeof(s));
	for (unsigned i = 0; i < 30; i++)
		stream_add(&s, 1, (i * 37) % 90, (uint8_t)i);
	struct d4_decoder *d = d4_proto_decoder_new(100);
	unsigned done = 0;
	int hs = 0;
	size_t off = 0, step = 0;
	while (off < s.len) {
		size_t want = 1 + (step * 29) % 200, avail = 0;
		uint8_t *w = d4_proto_decoder_wbuf(d, want, &avail);
		ck_assert_ptr_nonnull(w);
		size_t room = d4_proto_decoder_room(d);
		ck_assert_uint_ge(avail, want < room ? want : room);
		ck_assert_uint_le(avail, room);
		/* Write less than the window, like a short read. */
		size_t n = 1 + (step * 17) % avail;
		if (n > s.len - off)
			n = s.len - off;
		memcpy(w, s.buf + off, n);
		d4_proto_decoder_commit(d, n);
		off += n;
		drain(d, &s, &done, &hs);
		ck_assert_uint_eq(done, frames_ending_before(&s, off));
		step++;
	}
	ck_assert_uint_eq(done, 30);
	/* Committing past the window is a caller bug: sticky error. */
	size_t avail;
	ck_assert_ptr_nonnull(d4_proto_decoder_wbuf(d, 1, &avail));
	d4_proto_decoder_commit(d, avail + 1);
	struct d4_frame f;
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_EINVAL);
	ck_assert_int_eq(d4_proto_decoder_feed(d, s.buf, 1), D4_EINVAL);
	ck_assert_ptr_null(d4_proto_decoder_wbuf(d, 1, &avail));
	ck_assert_uint_eq(avail, 0);
	d4_proto_decoder_free(d);
}
END_TEST

START_TEST(test_dec_toobig)
{
	uint8_t buf[512];
	size_t n = mk_frame(buf, sizeof(buf), 1, 101, 5);
	struct d4_decoder *d = d4_proto_decoder_new(100);
	struct d4_frame f;
	/* Only the header: the size is refused before any payload byte. */
	ck_assert_int_eq(d4_proto_decoder_feed(d, buf, 62), 0);
	memset(&f, 0, sizeof(f));
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_ETOOBIG);
	ck_assert_uint_eq(f.hdr.size, 101);
	ck_assert_uint_eq(f.hdr.type, 1);
	ck_assert_ptr_nonnull(f.raw_hdr);
	ck_assert_mem_eq(f.raw_hdr, buf, 62);
	/* Sticky. */
	memset(&f, 0, sizeof(f));
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_ETOOBIG);
	ck_assert_uint_eq(f.hdr.size, 101);
	ck_assert_int_eq(d4_proto_decoder_feed(d, buf + 62, n - 62), D4_ETOOBIG);
	ck_assert_uint_eq(d4_proto_decoder_room(d), 0);
	d4_proto_decoder_free(d);

	/* Exactly max is fine. */
	d = d4_proto_decoder_new(101);
	ck_assert_int_eq(d4_proto_decoder_feed(d, buf, n), 0);
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_DEC_HEADER);
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_DEC_FRAME);
	d4_proto_decoder_free(d);

	/* A huge declared size (0xffffffff) never allocates anything. */
	d = d4_proto_decoder_new(0);
	memset(buf + 58, 0xff, 4);
	ck_assert_int_eq(d4_proto_decoder_feed(d, buf, 62), 0);
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_ETOOBIG);
	ck_assert_uint_eq(f.hdr.size, 0xffffffffu);
	d4_proto_decoder_free(d);
}
END_TEST

START_TEST(test_dec_feed_cap)
{
	struct stream s;
	memset(&s, 0, sizeof(s));
	for (unsigned i = 0; i < 5; i++)
		stream_add(&s, 1, 50, (uint8_t)i);
	struct d4_decoder *d = d4_proto_decoder_new(50);
	ck_assert_uint_eq(d4_proto_decoder_room(d), 112);
	/* More than the cap at once: refused, not sticky. */
	ck_assert_int_eq(d4_proto_decoder_feed(d, s.buf, s.len), D4_ETOOBIG);
	unsigned done = 0;
	int hs = 0;
	size_t off = 0;
	while (off < s.len) {
		size_t room = d4_proto_decoder_room(d);
		ck_assert_uint_gt(room, 0);
		size_t n = room < s.len - off ? room : s.len - off;
		ck_assert_int_eq(d4_proto_decoder_feed(d, s.buf + off, n), 0);
		off += n;
		drain(d, &s, &done, &hs);
	}
	ck_assert_uint_eq(done, 5);
	d4_proto_decoder_free(d);
}
END_TEST

START_TEST(test_dec_set_max)
{
	uint8_t a[512], b[512];
	size_t na = mk_frame(a, sizeof(a), 1, 200, 1);
	size_t nb = mk_frame(b, sizeof(b), 1, 200, 2);
	struct d4_frame f;

	/* Tightened before the header: refused. */
	struct d4_decoder *d = d4_proto_decoder_new(0);
	d4_proto_decoder_set_max(d, 100);
	ck_assert_int_eq(d4_proto_decoder_feed(d, a, 62), 0);
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_ETOOBIG);
	d4_proto_decoder_free(d);

	/* Tightened after HEADER: the announced frame still completes, the
	 * next one is checked against the new limit. */
	d = d4_proto_decoder_new(1000);
	ck_assert_int_eq(d4_proto_decoder_feed(d, a, 62), 0);
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_DEC_HEADER);
	d4_proto_decoder_set_max(d, 100);
	ck_assert_int_eq(d4_proto_decoder_feed(d, a + 62, na - 62), 0);
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_DEC_FRAME);
	ck_assert_uint_eq(f.hdr.size, 200);
	ck_assert_int_eq(d4_proto_decoder_feed(d, b, nb), D4_ETOOBIG); /* over the new cap, not sticky */
	ck_assert_int_eq(d4_proto_decoder_feed(d, b, 62), 0);
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_ETOOBIG);
	d4_proto_decoder_free(d);

	/* Tight before the first verified frame, relaxed after. */
	d = d4_proto_decoder_new(1000);
	d4_proto_decoder_set_max(d, 100);
	d4_proto_decoder_set_max(d, 1000);
	ck_assert_int_eq(d4_proto_decoder_feed(d, a, na), 0);
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_DEC_HEADER);
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_DEC_FRAME);
	d4_proto_decoder_free(d);
	d4_proto_decoder_free(NULL);
}
END_TEST

START_TEST(test_dec_large_frames)
{
	/* Frames near the default limit, fed in 16 KiB reads through wbuf. */
	size_t plen = D4_DEFAULT_MAX_PAYLOAD, n = 62 + plen;
	uint8_t *fr = malloc(2 * n);
	ck_assert_ptr_nonnull(fr);
	uint8_t *payload = malloc(plen);
	ck_assert_ptr_nonnull(payload);
	for (size_t i = 0; i < plen; i++)
		payload[i] = (uint8_t)(i ^ (i >> 8));
	struct d4_hdr h;
	vec_hdr(&h);
	ck_assert_int_eq(d4_proto_frame_build(&h, (const uint8_t *)vec_key, 21, payload, plen, fr, n), (int)n);
	memcpy(fr + n, fr, n);
	struct d4_decoder *d = d4_proto_decoder_new(0);
	struct d4_hmac *hm = d4_proto_hmac_new((const uint8_t *)vec_key, 21);
	unsigned frames = 0;
	size_t off = 0;
	while (off < 2 * n) {
		size_t avail;
		uint8_t *w = d4_proto_decoder_wbuf(d, 16384, &avail);
		ck_assert_ptr_nonnull(w);
		size_t k = avail < 16384 ? avail : 16384;
		if (k > 2 * n - off)
			k = 2 * n - off;
		memcpy(w, fr + off, k);
		d4_proto_decoder_commit(d, k);
		off += k;
		struct d4_frame f;
		int ev;
		while ((ev = d4_proto_decoder_next(d, &f)) > 0) {
			if (ev == D4_DEC_FRAME) {
				ck_assert_int_eq(d4_proto_hmac_verify_ctx(hm, f.raw_hdr, f.payload, f.hdr.size), 0);
				frames++;
			}
		}
		ck_assert_int_eq(ev, D4_DEC_NEED_MORE);
	}
	ck_assert_uint_eq(frames, 2);
	/* Trim with a partial frame pending keeps it; the frame still completes. */
	d4_proto_decoder_trim(d);
	ck_assert_int_eq(d4_proto_decoder_feed(d, fr, 100), 0);
	d4_proto_decoder_trim(d);
	ck_assert_uint_eq(d4_proto_decoder_pending(d), 100);
	ck_assert_int_eq(d4_proto_decoder_feed(d, fr + 100, 16000), 0);
	struct d4_frame f;
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_DEC_HEADER);
	d4_proto_decoder_trim(d); /* 16100 pending: shrinks to 16 KiB */
	ck_assert_int_eq(d4_proto_decoder_feed(d, fr + 16100, n - 16100), 0);
	ck_assert_int_eq(d4_proto_decoder_next(d, &f), D4_DEC_FRAME);
	ck_assert_int_eq(d4_proto_hmac_verify_ctx(hm, f.raw_hdr, f.payload, f.hdr.size), 0);
	d4_proto_hmac_free(hm);
	d4_proto_decoder_free(d);
	free(payload);
	free(fr);
}
END_TEST

/* ---- meta header --------------------------------------------------------- */

static int meta(const char *s, struct d4_meta *m)
{
	return d4_proto_meta_parse((const uint8_t *)s, strlen(s), m);
}

static const char org_hex[] = "5a8a7e64c0ac4b5ebc89b1cbd3b2a0c1";

START_TEST(test_meta_valid)
{
	struct d4_meta m;
	const char *j = "{\"type\": \"ja3-jl\", \"encoding\": \"utf-8\", \"tags\": [\"TLP:Amber\", \"Foo:Bar\"],"
			" \"misp:org\": \"5a8a7e64-c0ac-4b5e-bc89-b1cbd3b2a0c1\", \"other\": {\"x\": [1, 2.5e300,"
			" 123456789012345678901234567890, null, true]}}";
	ck_assert_int_eq(meta(j, &m), 0);
	ck_assert_str_eq(m.type, "ja3-jl");
	ck_assert_str_eq(m.encoding, "utf-8");
	ck_assert_uint_eq(m.ntags, 2);
	ck_assert_str_eq(m.tags[0], "tlp:amber");
	ck_assert_str_eq(m.tags[1], "foo:bar");
	ck_assert_int_eq(m.has_org, 1);
	char hex[33];
	d4_uuid_hex(m.org, hex);
	ck_assert_str_eq(hex, org_hex);

	ck_assert_int_eq(meta("{\"type\":\"maltrail\"}", &m), 0);
	ck_assert_str_eq(m.type, "maltrail");
	ck_assert_str_eq(m.encoding, "");
	ck_assert_uint_eq(m.ntags, 0);
	ck_assert_int_eq(m.has_org, 0);
	/* Without dashes, trailing whitespace. */
	ck_assert_int_eq(meta("{\"type\":\"x\",\"misp:org\":\"5A8A7E64C0AC4B5EBC89B1CBD3B2A0C1\"}\n  ", &m), 0);
	ck_assert_int_eq(m.has_org, 1);
	d4_uuid_hex(m.org, hex);
	ck_assert_str_eq(hex, org_hex);
	/* Type at the size limit (63 chars) is fine, 64 is not. */
	char buf[200];
	snprintf(buf, sizeof(buf), "{\"type\":\"%.63s\"}",
		 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
	ck_assert_int_eq(meta(buf, &m), 0);
	ck_assert_uint_eq(strlen(m.type), 63);
	snprintf(buf, sizeof(buf), "{\"type\":\"%.64s\"}",
		 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
	ck_assert_int_eq(meta(buf, &m), D4_EJSON);
}
END_TEST

START_TEST(test_meta_truncated)
{
	const char *j = "{\"type\": \"ja3-jl\", \"tags\": [\"tlp:green\", \"misp:org=\\\"" /* escaped quotes */
			"5a8a7e64-c0ac-4b5e-bc89-b1cbd3b2a0c1\\\"\"], \"n\": -12.5e3, \"b\": true, \"z\": null}";
	size_t len = strlen(j);
	struct d4_meta m;
	ck_assert_int_eq(d4_proto_meta_parse((const uint8_t *)j, len, &m), 0);
	ck_assert_int_eq(m.has_org, 1);
	/* Every proper prefix is an incomplete document, not an error. */
	for (size_t i = 0; i < len; i++) {
		int rc = d4_proto_meta_parse((const uint8_t *)j, i, &m);
		ck_assert_msg(rc == D4_ETRUNC, "prefix %zu: %d", i, rc);
		ck_assert_str_eq(m.type, ""); /* nothing half-filled on error */
	}
	ck_assert_int_eq(meta("", &m), D4_ETRUNC);
	ck_assert_int_eq(meta("   ", &m), D4_ETRUNC);
}
END_TEST

START_TEST(test_meta_malformed)
{
	struct d4_meta m;
	static const char *bad[] = {
	    "{\"type\":}",
	    "{\"type\":\"x\",}",
	    "[\"type\"]",
	    "\"type\"",
	    "42",
	    "null",
	    "{\"type\":\"x\"}}",
	    "{\"type\":\"x\"} {\"type\":\"y\"}",
	    "{'type':'x'}",
	    "{\"type\":\"x\" /* c */}",
	    "{type:\"x\"}",
	    "{\"type\":\"x\"]",
	    "\xff{\"type\":\"x\"}",
	    "{\"type\":\"x\",\"e\":\"\xc3\x28\"}", /* invalid UTF-8 */
	    "{\"type\":\"x\" x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(meta(bad[i], &m) == D4_EJSON, "case %zu: %s", i, bad[i]);
}
END_TEST

START_TEST(test_meta_schema)
{
	struct d4_meta m;
	static const char *bad[] = {
	    "{}",
	    "{\"tags\":[\"tlp:red\"]}",
	    "{\"type\":5}",
	    "{\"type\":null}",
	    "{\"type\":[\"x\"]}",
	    "{\"type\":{\"a\":1}}",
	    "{\"type\":\"\"}",
	    "{\"type\":\"has space\"}",
	    "{\"type\":\"nul\\u0000\"}",
	    "{\"type\":\"x\",\"type\":\"y\"}",
	    "{\"type\":\"x\",\"encoding\":1}",
	    "{\"type\":\"x\",\"tags\":\"tlp:red\"}",
	    "{\"type\":\"x\",\"tags\":[1]}",
	    "{\"type\":\"x\",\"tags\":[[\"a\"]]}",
	    "{\"type\":\"x\",\"tags\":[{\"a\":1}]}",
	    "{\"type\":\"x\",\"tags\":[\"a\\u0000b\"]}",
	    "{\"type\":\"x\",\"misp:org\":\"not-a-uuid\"}",
	    "{\"type\":\"x\",\"misp:org\":\"5a8a7e64c0ac4b5ebc89b1cbd3b2a0c\"}",
	    "{\"type\":\"x\",\"misp:org\":\"5a8a7e64-c0ac4b5e-bc89-b1cbd3b2a0c1\"}",
	    "{\"type\":\"x\",\"misp:org\":5}",
	    "{\"type\":\"x\",\"tags\":[\"misp:org=\\\"zz8a7e64-c0ac-4b5e-bc89-b1cbd3b2a0c1\\\"\"]}",
	    /* Two different originators. */
	    "{\"type\":\"x\",\"misp:org\":\"5a8a7e64c0ac4b5ebc89b1cbd3b2a0c1\","
	    "\"tags\":[\"misp:org=\\\"11111111-c0ac-4b5e-bc89-b1cbd3b2a0c1\\\"\"]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(meta(bad[i], &m) == D4_EJSON, "case %zu: %s", i, bad[i]);
}
END_TEST

START_TEST(test_meta_tags_org)
{
	struct d4_meta m;
	char hex[33];
	ck_assert_int_eq(
	    meta("{\"type\":\"x\",\"tags\":[\"TLP:RED\",\"MISP:ORG=\\\"5A8A7E64-C0AC-4B5E-BC89-B1CBD3B2A0C1\\\"\"]}",
		 &m),
	    0);
	ck_assert_uint_eq(m.ntags, 2);
	ck_assert_str_eq(m.tags[0], "tlp:red");
	ck_assert_str_eq(m.tags[1], "misp:org=\"5a8a7e64-c0ac-4b5e-bc89-b1cbd3b2a0c1\"");
	ck_assert_int_eq(m.has_org, 1);
	d4_uuid_hex(m.org, hex);
	ck_assert_str_eq(hex, org_hex);
	/* Unquoted value, and the same org given both ways. */
	ck_assert_int_eq(meta("{\"type\":\"x\",\"misp:org\":\"5a8a7e64c0ac4b5ebc89b1cbd3b2a0c1\","
			      "\"tags\":[\"misp:org=5a8a7e64c0ac4b5ebc89b1cbd3b2a0c1\"]}",
			      &m),
			 0);
	d4_uuid_hex(m.org, hex);
	ck_assert_str_eq(hex, org_hex);

	/* 32 tags fit, 33 do not; a 127-byte tag fits, 128 does not. */
	char buf[4096];
	size_t o = (size_t)snprintf(buf, sizeof(buf), "{\"type\":\"x\",\"tags\":[");
	for (int i = 0; i < 32; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\"T%d\"", i ? "," : "", i);
	snprintf(buf + o, sizeof(buf) - o, "]}");
	ck_assert_int_eq(meta(buf, &m), 0);
	ck_assert_uint_eq(m.ntags, 32);
	ck_assert_str_eq(m.tags[31], "t31");
	snprintf(buf + o, sizeof(buf) - o, ",\"t32\"]}");
	ck_assert_int_eq(meta(buf, &m), D4_EJSON);

	char tag[130];
	memset(tag, 'a', sizeof(tag));
	tag[127] = '\0';
	snprintf(buf, sizeof(buf), "{\"type\":\"x\",\"tags\":[\"%s\"]}", tag);
	ck_assert_int_eq(meta(buf, &m), 0);
	ck_assert_uint_eq(strlen(m.tags[0]), 127);
	tag[127] = 'a';
	tag[128] = '\0';
	snprintf(buf, sizeof(buf), "{\"type\":\"x\",\"tags\":[\"%s\"]}", tag);
	ck_assert_int_eq(meta(buf, &m), D4_EJSON);
}
END_TEST

START_TEST(test_meta_depth_size)
{
	struct d4_meta m;
	size_t n = 100000;
	uint8_t *p = malloc(D4_META_MAX + 2);
	ck_assert_ptr_nonnull(p);
	/* Depth bomb under the size cap, and over it. */
	memset(p, '[', D4_META_MAX);
	ck_assert_int_eq(d4_proto_meta_parse(p, D4_META_MAX, &m), D4_EJSON);
	free(p);
	p = malloc(n);
	ck_assert_ptr_nonnull(p);
	memset(p, '[', n);
	ck_assert_int_eq(d4_proto_meta_parse(p, n, &m), D4_ETOOBIG);
	memset(p, '{', 1000);
	ck_assert_int_eq(d4_proto_meta_parse(p, 1000, &m), D4_EJSON);
	free(p);

	/* Nesting up to D4_META_MAX_DEPTH (16) is accepted, 17 is not. */
	char buf[512];
	int o = snprintf(buf, sizeof(buf), "{\"type\":\"x\",\"a\":");
	for (int i = 0; i < 15; i++)
		buf[o++] = '[';
	for (int i = 0; i < 15; i++)
		buf[o++] = ']';
	buf[o++] = '}';
	buf[o] = '\0';
	ck_assert_int_eq(meta(buf, &m), 0);
	o = snprintf(buf, sizeof(buf), "{\"type\":\"x\",\"a\":");
	for (int i = 0; i < 16; i++)
		buf[o++] = '[';
	for (int i = 0; i < 16; i++)
		buf[o++] = ']';
	buf[o++] = '}';
	buf[o] = '\0';
	ck_assert_int_eq(meta(buf, &m), D4_EJSON);
	/* Brackets inside strings (with escaped quotes) do not count. */
	ck_assert_int_eq(meta("{\"type\":\"x\",\"s\":\"\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\\\"}", &m), 0);

	/* Size: exactly D4_META_MAX with padding is parsed, one more is not. */
	char *big = malloc(D4_META_MAX + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, ' ', D4_META_MAX + 1);
	memcpy(big, "{\"type\":\"x\"}", 12);
	ck_assert_int_eq(d4_proto_meta_parse((const uint8_t *)big, D4_META_MAX, &m), 0);
	ck_assert_int_eq(d4_proto_meta_parse((const uint8_t *)big, D4_META_MAX + 1, &m), D4_ETOOBIG);
	free(big);
}
END_TEST

/* ---- ack records (d4-ack/1) ---- */
START_TEST(test_ack_roundtrip)
{
	uint8_t b[D4_ACK_COMMIT_LEN];
	d4_proto_ack_encode(0x0102030405060708ull, 42, b);
	static const uint8_t want[D4_ACK_COMMIT_LEN] = {0xd4, 1, 0, 20, 1, 2, 3, 4, 5, 6,
							7,    8, 0, 0,	0, 0, 0, 0, 0, 42};
	ck_assert_mem_eq(b, want, sizeof(want));
	struct d4_ack a;
	ck_assert_int_eq(d4_proto_ack_parse(b, sizeof(b), &a), D4_ACK_COMMIT_LEN);
	ck_assert_uint_eq(a.kind, D4_ACK_KIND_COMMIT);
	ck_assert_uint_eq(a.frames, 0x0102030405060708ull);
	ck_assert_uint_eq(a.bytes, 42);
	/* every proper prefix needs more bytes, never misparses */
	for (size_t n = 0; n < sizeof(b); n++)
		ck_assert_int_eq(d4_proto_ack_parse(b, n, &a), D4_ETRUNC);
	/* two records back to back: one at a time */
	uint8_t two[2 * D4_ACK_COMMIT_LEN];
	d4_proto_ack_encode(1, 10, two);
	d4_proto_ack_encode(2, 20, two + D4_ACK_COMMIT_LEN);
	ck_assert_int_eq(d4_proto_ack_parse(two, sizeof(two), &a), D4_ACK_COMMIT_LEN);
	ck_assert_uint_eq(a.frames, 1);
	ck_assert_int_eq(d4_proto_ack_parse(two + D4_ACK_COMMIT_LEN, D4_ACK_COMMIT_LEN, &a), D4_ACK_COMMIT_LEN);
	ck_assert_uint_eq(a.frames, 2);
	ck_assert_uint_eq(a.bytes, 20);
}
END_TEST

START_TEST(test_ack_malformed)
{
	struct d4_ack a;
	uint8_t b[D4_ACK_COMMIT_LEN];
	d4_proto_ack_encode(1, 1, b);
	b[0] = 0x01; /* not our magic: refused from the first byte */
	ck_assert_int_eq(d4_proto_ack_parse(b, 1, &a), D4_EPROTO);
	d4_proto_ack_encode(1, 1, b);
	b[3] = 21; /* kind 1 with another length */
	ck_assert_int_eq(d4_proto_ack_parse(b, sizeof(b), &a), D4_EPROTO);
	b[3] = 3; /* below the minimum */
	b[1] = 9;
	ck_assert_int_eq(d4_proto_ack_parse(b, sizeof(b), &a), D4_EPROTO);
	b[2] = 0x04; /* 1027 > max */
	b[3] = 0x03;
	ck_assert_int_eq(d4_proto_ack_parse(b, sizeof(b), &a), D4_EPROTO);
	/* unknown kind of a valid length is returned to be skipped */
	uint8_t u[6] = {0xd4, 7, 0, 6, 0xaa, 0xbb};
	ck_assert_int_eq(d4_proto_ack_parse(u, sizeof(u), &a), 6);
	ck_assert_uint_eq(a.kind, 7);
	ck_assert_uint_eq(a.frames, 0);
	ck_assert_int_eq(d4_proto_ack_parse(u, 5, &a), D4_ETRUNC);
}
END_TEST

/* ---- replay announcement (d4-ack/1, sensor -> hub) ---- */
START_TEST(test_ack_replay_roundtrip)
{
	uint8_t b[D4_ACK_REPLAY_LEN];
	uint64_t n = 99;
	d4_proto_ack_replay_encode(0, b);
	const uint8_t zero[D4_ACK_REPLAY_LEN] = {0xd4, 2, 0, 12};
	ck_assert_mem_eq(b, zero, sizeof(b));
	ck_assert_int_eq(d4_proto_ack_replay_parse(b, sizeof(b), &n), D4_ACK_REPLAY_LEN);
	ck_assert_uint_eq(n, 0);
	d4_proto_ack_replay_encode(D4_ACK_MAX_REPLAY, b);
	ck_assert_int_eq(d4_proto_ack_replay_parse(b, sizeof(b), &n), D4_ACK_REPLAY_LEN);
	ck_assert_uint_eq(n, D4_ACK_MAX_REPLAY);
	/* every proper prefix asks for more; bytes after the record are not its */
	for (size_t k = 0; k < sizeof(b); k++)
		ck_assert_int_eq(d4_proto_ack_replay_parse(b, k, &n), D4_ETRUNC);
	uint8_t more[D4_ACK_REPLAY_LEN + 3];
	d4_proto_ack_replay_encode(7, more);
	more[12] = 1; /* a D4 frame's version byte follows */
	ck_assert_int_eq(d4_proto_ack_replay_parse(more, sizeof(more), &n), D4_ACK_REPLAY_LEN);
	ck_assert_uint_eq(n, 7);
}
END_TEST

START_TEST(test_ack_replay_malformed)
{
	uint8_t b[D4_ACK_REPLAY_LEN];
	uint64_t n;
	/* a plain D4 frame (version 1) where the record belongs: refused at its first byte */
	const uint8_t d4[1] = {1};
	ck_assert_int_eq(d4_proto_ack_replay_parse(d4, 1, &n), D4_EPROTO);
	d4_proto_ack_replay_encode(1, b);
	b[1] = D4_ACK_KIND_COMMIT; /* another kind: refused at its second byte */
	ck_assert_int_eq(d4_proto_ack_replay_parse(b, 2, &n), D4_EPROTO);
	d4_proto_ack_replay_encode(1, b);
	b[3] = 20; /* another length */
	ck_assert_int_eq(d4_proto_ack_replay_parse(b, 4, &n), D4_EPROTO);
	d4_proto_ack_replay_encode(D4_ACK_MAX_REPLAY + 1, b); /* more than a sensor can have */
	ck_assert_int_eq(d4_proto_ack_replay_parse(b, sizeof(b), &n), D4_EPROTO);
	d4_proto_ack_replay_encode(UINT64_MAX, b);
	ck_assert_int_eq(d4_proto_ack_replay_parse(b, sizeof(b), &n), D4_EPROTO);
	ck_assert_int_eq(d4_proto_ack_replay_parse(b, 0, &n), D4_ETRUNC);
}
END_TEST

/* Feeds j in pieces of n bytes to a fresh incremental parser. */
static int meta_inc(const char *j, size_t len, size_t n, struct d4_meta *m, struct d4_meta_parser_stats *st)
{
	struct d4_meta_parser *p;
	ck_assert_int_eq(d4_proto_meta_parser_new(&p), 0);
	int rc = D4_ETRUNC;
	for (size_t off = 0; off < len && rc == D4_ETRUNC; off += n)
		rc = d4_proto_meta_parser_feed(p, (const uint8_t *)j + off, len - off < n ? len - off : n, m);
	if (st)
		d4_proto_meta_parser_stats(p, st);
	d4_proto_meta_parser_free(p);
	return rc;
}

/* What re-parsing the whole text at every piece gave (the former session
 * code): the first result other than ETRUNC. */
static int meta_reparse(const char *j, size_t len, size_t n, struct d4_meta *m)
{
	int rc = D4_ETRUNC;
	for (size_t end = n < len ? n : len; rc == D4_ETRUNC; end = end + n < len ? end + n : len) {
		rc = d4_proto_meta_parse((const uint8_t *)j, end, m);
		if (end == len)
			break;
	}
	return rc;
}

/* The incremental parser agrees with re-parsing at every piece, for every
 * piece size, on valid, truncated, malformed and trailing-garbage headers. */
START_TEST(test_meta_incremental_same)
{
	static const char *docs[] = {
	    "{\"type\": \"ja3-jl\", \"encoding\": \"utf-8\", \"tags\": [\"TLP:Amber\", "
	    "\"misp:org=\\\"5a8a7e64-c0ac-4b5e-"
	    "bc89-b1cbd3b2a0c1\\\"\"], \"o\": {\"x\": [1, 2.5e300, null, true, \"a,b}\\\\\"]}} \n",
	    "{\"type\":\"x\"}",
	    "{\"type\":\"x\"} x",
	    "{\"type\":\"x\",]",
	    "{\"type\":\"x\", \"n\": 12x}",
	    "[\"type\"]",
	    "{\"type\":\"x\",\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}",
	    "{\"encoding\":\"x\"}",
	    "{\"type\":\"x\",\"misp:org\":\"nope\"}",
	    "{\"type\":\"x\",\"a\":\"unterminated",
	};
	for (size_t d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
		size_t len = strlen(docs[d]);
		struct d4_meta one, inc;
		for (size_t n = 1; n <= len; n++) {
			int rc = meta_reparse(docs[d], len, n, &one);
			int irc = meta_inc(docs[d], len, n, &inc, NULL);
			/* one-shot may see an error in a tail the incremental parser
			 * has not handed on yet (no structural byte after it) */
			if (!(rc == D4_EJSON && irc == D4_ETRUNC))
				ck_assert_msg(irc == rc, "doc %zu, pieces of %zu: %d vs %d", d, n, irc, rc);
			if (rc == 0)
				ck_assert_mem_eq(&inc, &one, sizeof(one));
		}
	}
	/* errors are final, and reported before the object closes */
	struct d4_meta_parser *p;
	struct d4_meta m;
	ck_assert_int_eq(d4_proto_meta_parser_new(&p), 0);
	ck_assert_int_eq(d4_proto_meta_parser_feed(p, (const uint8_t *)"{\"type\":", 8, &m), D4_ETRUNC);
	ck_assert_int_eq(d4_proto_meta_parser_feed(p, (const uint8_t *)"1,", 2, &m), D4_EJSON);
	ck_assert_int_eq(d4_proto_meta_parser_feed(p, (const uint8_t *)"}", 1, &m), D4_EJSON);
	d4_proto_meta_parser_free(p);
	d4_proto_meta_parser_free(NULL);
}
END_TEST

/* A 64 KiB header in 4-byte packets (16,384 of them) costs linear work:
 * every byte scanned once and handed to the JSON parser once, one
 * completion check. Before, each packet re-parsed everything so far. */
START_TEST(test_meta_incremental_linear)
{
	char *j = malloc(D4_META_MAX + 1);
	ck_assert_ptr_nonnull(j);
	for (int form = 0; form < 2; form++) {
		const char *head = form ? "{\"type\":\"big\",\"pad\":[1" : "{\"type\":\"big\",\"pad\":\"";
		const char *tail = form ? "]}" : "\"}";
		size_t hl = strlen(head), n = hl;
		memcpy(j, head, hl);
		while (n < D4_META_MAX - 2) {
			if (form) {
				j[n++] = ',';
				j[n++] = '1';
			} else {
				j[n++] = 'x';
			}
		}
		memcpy(j + D4_META_MAX - 2, tail, 2);
		struct d4_meta m;
		struct d4_meta_parser_stats st;
		ck_assert_int_eq(meta_inc(j, D4_META_MAX, 4, &m, &st), 0);
		ck_assert_str_eq(m.type, "big");
		ck_assert_uint_eq(st.bytes_scanned, D4_META_MAX);
		ck_assert_uint_eq(st.bytes_parsed, D4_META_MAX);
		ck_assert_uint_le(st.parser_calls, D4_META_MAX / 4);
		ck_assert_uint_eq(st.completions, 1);
		/* one byte more than the cap */
		struct d4_meta_parser *p;
		ck_assert_int_eq(d4_proto_meta_parser_new(&p), 0);
		for (size_t off = 0; off < D4_META_MAX - 2; off += 4)
			ck_assert_int_eq(
			    d4_proto_meta_parser_feed(p, (const uint8_t *)j + off,
						      D4_META_MAX - 2 - off < 4 ? D4_META_MAX - 2 - off : 4, &m),
			    D4_ETRUNC);
		ck_assert_int_eq(d4_proto_meta_parser_feed(p, (const uint8_t *)"   ", 3, &m), D4_ETOOBIG);
		d4_proto_meta_parser_free(p);
	}
	free(j);
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("codec");
	tcase_add_test(tc, test_vector_build);
	tcase_add_test(tc, test_vector_decode_verify);
	tcase_add_test(tc, test_hdr_roundtrip);
	tcase_add_test(tc, test_hmac_bitflip);
	tcase_add_test(tc, test_hmac_ctx_matches_oneshot);
	tcase_add_test(tc, test_frame_build_limits);
	suite_add_tcase(s, tc);
	tc = tcase_create("decoder");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_dec_one_byte_feeds);
	tcase_add_test(tc, test_dec_all_splits);
	tcase_add_test(tc, test_dec_tiny_tail);
	tcase_add_test(tc, test_dec_many_per_feed);
	tcase_add_test(tc, test_dec_wbuf_commit);
	tcase_add_test(tc, test_dec_toobig);
	tcase_add_test(tc, test_dec_feed_cap);
	tcase_add_test(tc, test_dec_set_max);
	tcase_add_test(tc, test_dec_large_frames);
	suite_add_tcase(s, tc);
	tc = tcase_create("meta");
	tcase_add_test(tc, test_meta_valid);
	tcase_add_test(tc, test_meta_truncated);
	tcase_add_test(tc, test_meta_malformed);
	tcase_add_test(tc, test_meta_incremental_same);
	tcase_add_test(tc, test_meta_incremental_linear);
	tcase_add_test(tc, test_meta_schema);
	tcase_add_test(tc, test_meta_tags_org);
	tcase_add_test(tc, test_meta_depth_size);
	suite_add_tcase(s, tc);
	tc = tcase_create("ack");
	tcase_add_test(tc, test_ack_roundtrip);
	tcase_add_test(tc, test_ack_malformed);
	tcase_add_test(tc, test_ack_replay_roundtrip);
	tcase_add_test(tc, test_ack_replay_malformed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
