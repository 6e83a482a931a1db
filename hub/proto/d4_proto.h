/* d4hub — the D4 wire protocol: 62-byte header codec, HMAC-SHA256 sign and
 * verify, an incremental stream decoder, and meta-header (type 2) parsing.
 * Shared by the hub and d4-sensor. Pure functions over bytes, no I/O.
 *
 * Wire: header(62) || payload(size). Offsets: version u8 @0, type u8 @1,
 * uuid[16] @2, timestamp u64 LE @18, hmac[32] @26, size u32 LE @58.
 * HMAC = HMAC-SHA256(key, header with hmac zeroed || payload). */
#ifndef D4_PROTO_H
#define D4_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define D4_HDR_LEN	       62
#define D4_HMAC_LEN	       32
#define D4_HMAC_OFF	       26
#define D4_DEFAULT_MAX_PAYLOAD 1000000u

enum d4_type {
	D4_TYPE_RESERVED = 0,
	D4_TYPE_PCAP = 1,
	D4_TYPE_META = 2,
	D4_TYPE_LOG = 3,
	D4_TYPE_DNSCAP = 4,
	D4_TYPE_PCAPNG = 5,
	D4_TYPE_NDJSON = 6,
	D4_TYPE_YAF = 7,
	D4_TYPE_PASSIVEDNS = 8,
	D4_TYPE_EXTENDED = 254
};

struct d4_hdr {
	uint8_t version;
	uint8_t type;
	uint8_t uuid[16];
	uint64_t timestamp;
	uint8_t hmac[D4_HMAC_LEN];
	uint32_t size;
};

/* Decodes the first 62 bytes of buf. Returns 0, or D4_ETRUNC if len < 62.
 * No field is validated here (policy belongs to the caller). */
int d4_proto_hdr_decode(const uint8_t *buf, size_t len, struct d4_hdr *out);
/* Encodes h into out[62] exactly as on the wire (hmac copied as given). */
void d4_proto_hdr_encode(const struct d4_hdr *h, uint8_t out[D4_HDR_LEN]);

/* Computes the packet HMAC over raw header bytes (its hmac field is treated
 * as zero whatever it holds) and payload. key is borrowed. Returns 0 or
 * D4_EIO (crypto library failure). */
int d4_proto_hmac(const uint8_t *key, size_t keylen, const uint8_t hdr[D4_HDR_LEN], const uint8_t *payload,
		  size_t payload_len, uint8_t mac[D4_HMAC_LEN]);
/* Verifies in constant time; returns 0 if the HMAC in hdr matches, else
 * D4_EHMAC (or D4_EIO). */
int d4_proto_hmac_verify(const uint8_t *key, size_t keylen, const uint8_t hdr[D4_HDR_LEN], const uint8_t *payload,
			 size_t payload_len);

/* ---- keyed HMAC context (hot path) ----------------------------------------
 * One-shot d4_proto_hmac() sets up a MAC context per call; ingest verifies
 * every frame, so it keeps one keyed context per sensor connection instead:
 * the key schedule (HMAC ipad/opad) is computed once in d4_proto_hmac_new()
 * and each sign/verify only resets the context (OpenSSL 3 EVP_MAC_init with
 * a NULL key re-uses the key), so the per-frame cost is the SHA-256 work.
 * A context is not thread-safe: one per connection (or per thread). */
struct d4_hmac;

/* Copies key (caller keeps ownership of its buffer; the copy is wiped by
 * d4_proto_hmac_free). keylen may be 0. Returns NULL on allocation or
 * crypto library failure. */
struct d4_hmac *d4_proto_hmac_new(const uint8_t *key, size_t keylen);
/* Wipes the key copy and frees the context; NULL is a no-op. */
void d4_proto_hmac_free(struct d4_hmac *h);
/* Same as d4_proto_hmac() with the context's key. Returns 0 or D4_EIO. */
int d4_proto_hmac_sign_ctx(struct d4_hmac *h, const uint8_t hdr[D4_HDR_LEN], const uint8_t *payload, size_t payload_len,
			   uint8_t mac[D4_HMAC_LEN]);
/* Same as d4_proto_hmac_verify() with the context's key: 0, D4_EHMAC or
 * D4_EIO. Constant-time compare. */
int d4_proto_hmac_verify_ctx(struct d4_hmac *h, const uint8_t hdr[D4_HDR_LEN], const uint8_t *payload,
			     size_t payload_len);

/* Builds a complete signed frame: writes 62 + payload_len bytes to out
 * (caller provides the room, out_size >= 62 + payload_len). h->size and
 * h->hmac are set from the payload and key. Returns bytes written or a
 * negative code. */
int d4_proto_frame_build(struct d4_hdr *h, const uint8_t *key, size_t keylen, const uint8_t *payload,
			 size_t payload_len, uint8_t *out, size_t out_size);
/* As d4_proto_frame_build() with a keyed context (sensor hot path). Both
 * return D4_ETOOBIG if out_size is short or payload_len > UINT32_MAX (or the
 * byte count does not fit an int), D4_EIO on crypto failure. payload may
 * already sit at out + 62 (built in place); otherwise it must not overlap
 * out. */
int d4_proto_frame_build_ctx(struct d4_hdr *h, struct d4_hmac *hm, const uint8_t *payload, size_t payload_len,
			     uint8_t *out, size_t out_size);

/* ---- incremental decoder -------------------------------------------------
 * Accepts any split of the byte stream: header split across reads, many
 * packets in one read, size-0 packets. The caller either copies input with
 * d4_proto_decoder_feed() or reads straight into the decoder's buffer
 * (d4_proto_decoder_wbuf() + d4_proto_decoder_commit()), then calls
 * d4_proto_decoder_next() until it returns D4_DEC_NEED_MORE.
 *
 * next() reports each packet twice: first D4_DEC_HEADER as soon as its 62
 * header bytes are there (the caller checks uuid, type, declared size ...
 * before any payload arrives and may drop the connection), then
 * D4_DEC_FRAME once the whole payload is there. The declared size is
 * checked against the decoder's max before D4_DEC_HEADER is returned:
 * a larger size returns D4_ETOOBIG with the header still readable through
 * out->hdr. Errors are sticky. The buffer grows on demand up to
 * max_payload + 62 and is reused: no allocation per frame. */
enum d4_dec_event { D4_DEC_NEED_MORE = 0, D4_DEC_HEADER = 1, D4_DEC_FRAME = 2 };

struct d4_frame {
	struct d4_hdr hdr;
	const uint8_t *raw_hdr; /* the 62 header bytes as received */
	const uint8_t *payload; /* hdr.size bytes; valid until the next call on the decoder */
};

struct d4_decoder;

/* Returns NULL on allocation failure. max_payload is the largest size
 * accepted (0 means D4_DEFAULT_MAX_PAYLOAD). */
struct d4_decoder *d4_proto_decoder_new(uint32_t max_payload);
void d4_proto_decoder_free(struct d4_decoder *d);
/* Changes the limit for headers not yet decoded (used to tighten the
 * limit before the first verified packet, then relax it). */
void d4_proto_decoder_set_max(struct d4_decoder *d, uint32_t max_payload);
/* Copies len bytes in (data is borrowed), all or nothing. Returns 0,
 * D4_ETOOBIG if that would exceed the buffer cap (not sticky: call next()
 * until NEED_MORE, then feed at most d4_proto_decoder_room() bytes at a
 * time), D4_ENOMEM, or the sticky error. */
int d4_proto_decoder_feed(struct d4_decoder *d, const uint8_t *data, size_t len);
/* How many bytes feed()/wbuf() accept right now: cap minus pending. The cap
 * is 62 + max (or 62 + the size of a frame already announced by HEADER, if
 * larger). Once next() has returned NEED_MORE the room is never 0, so a
 * reader loop "wbuf, read, commit, next until NEED_MORE" cannot stall. */
size_t d4_proto_decoder_room(const struct d4_decoder *d);
/* Gives a writable window inside the decoder's buffer (owned by the
 * decoder) of at least min bytes, or of d4_proto_decoder_room() bytes if
 * that is less; *avail is set to its size (may exceed min). Compacts or
 * grows the buffer as needed. Returns NULL (*avail = 0) on D4_ENOMEM, the
 * sticky error, or when room is 0 (consume data with next() first). */
uint8_t *d4_proto_decoder_wbuf(struct d4_decoder *d, size_t min, size_t *avail);
/* Declares that n bytes were written into the window from the last wbuf().
 * The window is invalidated by any other call on the decoder. Committing
 * more than the window is a caller bug: sticky D4_EINVAL. */
void d4_proto_decoder_commit(struct d4_decoder *d, size_t n);
/* Returns a d4_dec_event (>= 0) or a negative error. On D4_DEC_HEADER and
 * D4_DEC_FRAME, *out is filled (HEADER: payload is NULL); pointers point
 * into the decoder's buffer and stay valid until the next call. A frame is
 * returned as soon as its last byte is in: a short tail never waits for
 * more input. Once a sticky error is set every call returns it (with
 * out->hdr refilled if a header had been decoded). The HMAC is not
 * checked here: the caller verifies FRAME events. */
int d4_proto_decoder_next(struct d4_decoder *d, struct d4_frame *out);
/* Bytes buffered but not yet returned as a frame. */
size_t d4_proto_decoder_pending(const struct d4_decoder *d);
/* Gives memory back after a burst of large frames (e.g. from an idle-timer):
 * if at most 16 KiB are pending, the buffer shrinks to 16 KiB (or is freed
 * when empty). Never fails; invalidates pointers like any call. */
void d4_proto_decoder_trim(struct d4_decoder *d);

/* ---- meta header -------------------------------------------------------- */
#define D4_META_MAX	  65536 /* reassembled meta-header cap, bytes */
#define D4_META_MAX_DEPTH 16
#define D4_META_TYPE_MAX  64
#define D4_META_MAX_TAGS  32
#define D4_META_TAG_MAX	  128

struct d4_meta {
	char type[D4_META_TYPE_MAX];		      /* extended type, required */
	char encoding[32];			      /* optional, "" if absent */
	char tags[D4_META_MAX_TAGS][D4_META_TAG_MAX]; /* lower-cased */
	unsigned ntags;
	uint8_t org[16]; /* misp:org */
	int has_org;
};

/* Parses one complete meta-header JSON object. Size (D4_META_MAX) and
 * nesting depth (D4_META_MAX_DEPTH) are checked before JSON parsing.
 * Returns 0; D4_ETRUNC if the text is a valid prefix of a JSON document
 * that is not complete yet (more type-2 packets may follow); D4_EJSON if
 * malformed, not an object, or `type` missing/not a string; D4_ETOOBIG.
 * `misp:org` may be given as a string uuid or inside `tags` as
 * `misp:org="uuid"`; an invalid org uuid is D4_EJSON. */
int d4_proto_meta_parse(const uint8_t *json, size_t len, struct d4_meta *out);

/* ---- acknowledged delivery (d4hub extension, docs/protocol.md) ------------
 * A sensor offers the ALPN id D4_ACK_ALPN; a hub that selects it writes ack
 * records back on the same TLS connection: magic 0xD4, kind, u16 length (BE,
 * whole record), then for kind 1 u64 frames and u64 payload bytes of this
 * connection durably committed (BE, cumulative, never decreasing). */
#define D4_ACK_ALPN	    "d4-ack/1"
#define D4_ACK_MAGIC	    0xD4
#define D4_ACK_KIND_COMMIT  1
#define D4_ACK_COMMIT_LEN   20
#define D4_ACK_MIN_LEN	    4
#define D4_ACK_MAX_LEN	    1024
#define D4_ACK_MAX_INFLIGHT 4096u /* frames a sensor keeps unacknowledged on one connection */
/* Sensor -> hub, first thing on a d4-ack/1 connection (before any D4 frame):
 * magic 0xD4, kind 2, u16 length 12, u64 count (BE) = how many of the
 * connection's data frames (meta-header frames, type 2, not counted) are
 * replays of frames sent before and not acknowledged. At most
 * D4_ACK_MAX_REPLAY: a sensor never has more unacknowledged. */
#define D4_ACK_KIND_REPLAY 2
#define D4_ACK_REPLAY_LEN  12
#define D4_ACK_MAX_REPLAY  D4_ACK_MAX_INFLIGHT

struct d4_ack {
	uint8_t kind;	 /* D4_ACK_KIND_COMMIT, or another kind (skipped) */
	uint64_t frames; /* kind 1 only */
	uint64_t bytes;	 /* kind 1 only */
};

/* Writes a kind-1 record (D4_ACK_COMMIT_LEN bytes) to out. */
void d4_proto_ack_encode(uint64_t frames, uint64_t bytes, uint8_t out[D4_ACK_COMMIT_LEN]);
/* Parses one record at the start of buf. Returns the record's length (> 0,
 * *out filled; out->kind tells whether it is a commit ack or a record of an
 * unknown kind to skip), D4_ETRUNC when more bytes are needed, or D4_EPROTO
 * (bad magic, length out of range, kind-1 length not 20). Pure, no state:
 * the caller checks that acks never decrease. */
int d4_proto_ack_parse(const uint8_t *buf, size_t len, struct d4_ack *out);
/* Writes the replay announcement (D4_ACK_REPLAY_LEN bytes) to out. */
void d4_proto_ack_replay_encode(uint64_t count, uint8_t out[D4_ACK_REPLAY_LEN]);
/* Parses the replay announcement at the start of buf (the first bytes of a
 * d4-ack/1 connection). Returns D4_ACK_REPLAY_LEN with *count set,
 * D4_ETRUNC when more bytes are needed, or D4_EPROTO as soon as the bytes
 * seen cannot start one (bad magic, a kind other than 2, a length other than
 * 12, a count above D4_ACK_MAX_REPLAY). Pure, no state. */
int d4_proto_ack_replay_parse(const uint8_t *buf, size_t len, uint64_t *count);

/* Incremental meta header, for a header that arrives in several type-2
 * packets: each call appends one packet's bytes and costs time linear in
 * them (every byte is scanned once and parsed once), however the header is
 * cut. Returns D4_ETRUNC while the object is not complete (feed more),
 * then for good: 0 with *out filled, D4_EJSON (same rules as
 * d4_proto_meta_parse; malformed text is reported at the latest at its next
 * structural character, and anything but white space after the closed object
 * at once), D4_ETOOBIG past D4_META_MAX bytes in all. The
 * parser is owned by the caller (one per session); free with
 * d4_proto_meta_parser_free (NULL is fine). */
struct d4_meta_parser;
int d4_proto_meta_parser_new(struct d4_meta_parser **out);
int d4_proto_meta_parser_feed(struct d4_meta_parser *p, const uint8_t *data, size_t len, struct d4_meta *out);
void d4_proto_meta_parser_free(struct d4_meta_parser *p);
/* Work done so far, for tests: bytes scanned, bytes handed to the JSON
 * parser and in how many calls, complete-object checks. */
struct d4_meta_parser_stats {
	uint64_t bytes_scanned, bytes_parsed, parser_calls, completions;
};
void d4_proto_meta_parser_stats(const struct d4_meta_parser *p, struct d4_meta_parser_stats *out);

#endif
