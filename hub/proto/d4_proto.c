/* d4hub — header codec, HMAC-SHA256 sign/verify and frame building. */
#include "d4_proto.h"
#include "d4_error.h"
#include "d4_reader.h"
#include "d4_util.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int d4_proto_hdr_decode(const uint8_t *buf, size_t len, struct d4_hdr *out)
{
	struct d4_reader r;
	d4_rd_init(&r, buf, len);
	if (!d4_rd_need(&r, D4_HDR_LEN))
		return D4_ETRUNC;
	out->version = d4_rd_u8(&r);
	out->type = d4_rd_u8(&r);
	d4_rd_copy(&r, out->uuid, sizeof(out->uuid));
	out->timestamp = d4_rd_u64le(&r);
	d4_rd_copy(&r, out->hmac, sizeof(out->hmac));
	out->size = d4_rd_u32le(&r);
	return d4_rd_error(&r);
}

void d4_proto_hdr_encode(const struct d4_hdr *h, uint8_t out[D4_HDR_LEN])
{
	out[0] = h->version;
	out[1] = h->type;
	memcpy(out + 2, h->uuid, 16);
	d4_put_u64le(out + 18, h->timestamp);
	memcpy(out + D4_HMAC_OFF, h->hmac, D4_HMAC_LEN);
	d4_put_u32le(out + 58, h->size);
}

/* ---- HMAC ---------------------------------------------------------------- */

/* Fetching the implementation walks the provider store under a lock: do it
 * once per process. The object lives until exit on purpose. */
static EVP_MAC *g_hmac_alg;
static pthread_once_t g_hmac_once = PTHREAD_ONCE_INIT;

static void hmac_alg_fetch(void)
{
	g_hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static EVP_MAC_CTX *mac_ctx_new(const uint8_t *key, size_t keylen)
{
	static const uint8_t empty;
	pthread_once(&g_hmac_once, hmac_alg_fetch);
	if (!g_hmac_alg)
		return NULL;
	EVP_MAC_CTX *c = EVP_MAC_CTX_new(g_hmac_alg);
	if (!c)
		return NULL;
	OSSL_PARAM params[2];
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	/* A NULL key would mean "re-use the previous key", which a fresh context
	 * does not have: an empty key must be passed as a non-NULL pointer. */
	if (EVP_MAC_init(c, keylen ? key : &empty, keylen, params) != 1) {
		EVP_MAC_CTX_free(c);
		return NULL;
	}
	return c;
}

/* Feeds header-with-zeroed-hmac || payload and finalises. The context must
 * be freshly initialised. */
static int mac_run(EVP_MAC_CTX *c, const uint8_t hdr[D4_HDR_LEN], const uint8_t *payload, size_t payload_len,
		   uint8_t mac[D4_HMAC_LEN])
{
	static const uint8_t zero[D4_HMAC_LEN];
	size_t outl = 0;
	if (EVP_MAC_update(c, hdr, D4_HMAC_OFF) != 1 || EVP_MAC_update(c, zero, D4_HMAC_LEN) != 1 ||
	    EVP_MAC_update(c, hdr + D4_HMAC_OFF + D4_HMAC_LEN, D4_HDR_LEN - D4_HMAC_OFF - D4_HMAC_LEN) != 1)
		return D4_EIO;
	if (payload_len && EVP_MAC_update(c, payload, payload_len) != 1)
		return D4_EIO;
	if (EVP_MAC_final(c, mac, &outl, D4_HMAC_LEN) != 1 || outl != D4_HMAC_LEN)
		return D4_EIO;
	return D4_OK;
}

int d4_proto_hmac(const uint8_t *key, size_t keylen, const uint8_t hdr[D4_HDR_LEN], const uint8_t *payload,
		  size_t payload_len, uint8_t mac[D4_HMAC_LEN])
{
	EVP_MAC_CTX *c = mac_ctx_new(key, keylen);
	if (!c)
		return D4_EIO;
	int rc = mac_run(c, hdr, payload, payload_len, mac);
	EVP_MAC_CTX_free(c);
	return rc;
}

static int mac_check(const uint8_t hdr[D4_HDR_LEN], const uint8_t mac[D4_HMAC_LEN])
{
	return d4_ct_equal(hdr + D4_HMAC_OFF, mac, D4_HMAC_LEN) ? D4_OK : D4_EHMAC;
}

int d4_proto_hmac_verify(const uint8_t *key, size_t keylen, const uint8_t hdr[D4_HDR_LEN], const uint8_t *payload,
			 size_t payload_len)
{
	uint8_t mac[D4_HMAC_LEN];
	int rc = d4_proto_hmac(key, keylen, hdr, payload, payload_len, mac);
	if (rc == D4_OK)
		rc = mac_check(hdr, mac);
	d4_wipe(mac, sizeof(mac));
	return rc;
}

struct d4_hmac {
	EVP_MAC_CTX *ctx;
	int fresh; /* ctx initialised and not used since: no reset needed */
	size_t keylen;
	uint8_t *key;
};

struct d4_hmac *d4_proto_hmac_new(const uint8_t *key, size_t keylen)
{
	struct d4_hmac *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->key = malloc(keylen ? keylen : 1);
	if (!h->key) {
		free(h);
		return NULL;
	}
	if (keylen)
		memcpy(h->key, key, keylen);
	h->keylen = keylen;
	h->ctx = mac_ctx_new(h->key, keylen);
	if (!h->ctx) {
		d4_proto_hmac_free(h);
		return NULL;
	}
	h->fresh = 1;
	return h;
}

void d4_proto_hmac_free(struct d4_hmac *h)
{
	if (!h)
		return;
	EVP_MAC_CTX_free(h->ctx); /* cleanses its key schedule */
	if (h->key) {
		d4_wipe(h->key, h->keylen);
		free(h->key);
	}
	d4_wipe(h, sizeof(*h));
	free(h);
}

static int hmac_reset(struct d4_hmac *h)
{
	if (h->fresh) {
		h->fresh = 0;
		return D4_OK;
	}
	if (EVP_MAC_init(h->ctx, NULL, 0, NULL) == 1)
		return D4_OK;
	/* Providers that cannot re-use the key: set it again (slower, correct). */
	static const uint8_t empty;
	if (EVP_MAC_init(h->ctx, h->keylen ? h->key : &empty, h->keylen, NULL) == 1)
		return D4_OK;
	return D4_EIO;
}

int d4_proto_hmac_sign_ctx(struct d4_hmac *h, const uint8_t hdr[D4_HDR_LEN], const uint8_t *payload, size_t payload_len,
			   uint8_t mac[D4_HMAC_LEN])
{
	int rc = hmac_reset(h);
	if (rc != D4_OK)
		return rc;
	return mac_run(h->ctx, hdr, payload, payload_len, mac);
}

int d4_proto_hmac_verify_ctx(struct d4_hmac *h, const uint8_t hdr[D4_HDR_LEN], const uint8_t *payload,
			     size_t payload_len)
{
	uint8_t mac[D4_HMAC_LEN];
	int rc = d4_proto_hmac_sign_ctx(h, hdr, payload, payload_len, mac);
	if (rc == D4_OK)
		rc = mac_check(hdr, mac);
	d4_wipe(mac, sizeof(mac));
	return rc;
}

/* ---- frames -------------------------------------------------------------- */

static int frame_prepare(struct d4_hdr *h, size_t payload_len, size_t out_size)
{
	if (payload_len > UINT32_MAX || payload_len > (size_t)INT32_MAX - D4_HDR_LEN)
		return D4_ETOOBIG;
	if (out_size < D4_HDR_LEN + payload_len)
		return D4_ETOOBIG;
	h->size = (uint32_t)payload_len;
	memset(h->hmac, 0, sizeof(h->hmac));
	return D4_OK;
}

static int frame_finish(struct d4_hdr *h, const uint8_t *payload, size_t payload_len, uint8_t *out)
{
	if (payload_len && payload != out + D4_HDR_LEN)
		memmove(out + D4_HDR_LEN, payload, payload_len);
	memcpy(out + D4_HMAC_OFF, h->hmac, D4_HMAC_LEN);
	return (int)(D4_HDR_LEN + payload_len);
}

int d4_proto_frame_build(struct d4_hdr *h, const uint8_t *key, size_t keylen, const uint8_t *payload,
			 size_t payload_len, uint8_t *out, size_t out_size)
{
	int rc = frame_prepare(h, payload_len, out_size);
	if (rc != D4_OK)
		return rc;
	d4_proto_hdr_encode(h, out);
	rc = d4_proto_hmac(key, keylen, out, payload, payload_len, h->hmac);
	if (rc != D4_OK)
		return rc;
	return frame_finish(h, payload, payload_len, out);
}

int d4_proto_frame_build_ctx(struct d4_hdr *h, struct d4_hmac *hm, const uint8_t *payload, size_t payload_len,
			     uint8_t *out, size_t out_size)
{
	int rc = frame_prepare(h, payload_len, out_size);
	if (rc != D4_OK)
		return rc;
	d4_proto_hdr_encode(h, out);
	rc = d4_proto_hmac_sign_ctx(hm, out, payload, payload_len, h->hmac);
	if (rc != D4_OK)
		return rc;
	return frame_finish(h, payload, payload_len, out);
}

/* ---- acknowledged delivery ----------------------------------------------- */

void d4_proto_ack_encode(uint64_t frames, uint64_t bytes, uint8_t out[D4_ACK_COMMIT_LEN])
{
	out[0] = D4_ACK_MAGIC;
	out[1] = D4_ACK_KIND_COMMIT;
	d4_put_u16be(out + 2, D4_ACK_COMMIT_LEN);
	d4_put_u64be(out + 4, frames);
	d4_put_u64be(out + 12, bytes);
}

int d4_proto_ack_parse(const uint8_t *buf, size_t len, struct d4_ack *out)
{
	struct d4_reader r;
	memset(out, 0, sizeof(*out));
	d4_rd_init(&r, buf, len);
	uint8_t magic = d4_rd_u8(&r);
	if (len >= 1 && magic != D4_ACK_MAGIC)
		return D4_EPROTO; /* fail fast: a stream that is not ours */
	uint8_t kind = d4_rd_u8(&r);
	uint16_t rlen = d4_rd_u16be(&r);
	if (d4_rd_error(&r))
		return D4_ETRUNC;
	if (rlen < D4_ACK_MIN_LEN || rlen > D4_ACK_MAX_LEN || (kind == D4_ACK_KIND_COMMIT && rlen != D4_ACK_COMMIT_LEN))
		return D4_EPROTO;
	if (len < rlen)
		return D4_ETRUNC;
	out->kind = kind;
	if (kind == D4_ACK_KIND_COMMIT) {
		out->frames = d4_rd_u64be(&r);
		out->bytes = d4_rd_u64be(&r);
	}
	return rlen;
}

void d4_proto_ack_replay_encode(uint64_t count, uint8_t out[D4_ACK_REPLAY_LEN])
{
	out[0] = D4_ACK_MAGIC;
	out[1] = D4_ACK_KIND_REPLAY;
	d4_put_u16be(out + 2, D4_ACK_REPLAY_LEN);
	d4_put_u64be(out + 4, count);
}

int d4_proto_ack_replay_parse(const uint8_t *buf, size_t len, uint64_t *count)
{
	*count = 0;
	/* Fail fast on every byte that is already wrong: a plain D4 frame (its
	 * first byte is the version, 1) is refused at its first byte. */
	if (len >= 1 && buf[0] != D4_ACK_MAGIC)
		return D4_EPROTO;
	if (len >= 2 && buf[1] != D4_ACK_KIND_REPLAY)
		return D4_EPROTO;
	if (len >= 4 && ((uint16_t)(buf[2] << 8) | buf[3]) != D4_ACK_REPLAY_LEN)
		return D4_EPROTO;
	if (len < D4_ACK_REPLAY_LEN)
		return D4_ETRUNC;
	struct d4_reader r;
	d4_rd_init(&r, buf + 4, 8);
	uint64_t n = d4_rd_u64be(&r);
	if (d4_rd_error(&r) || n > D4_ACK_MAX_REPLAY)
		return D4_EPROTO;
	*count = n;
	return D4_ACK_REPLAY_LEN;
}
