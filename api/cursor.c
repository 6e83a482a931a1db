/* d4hub API — sealed paging cursors (see api_cursor.h). */
#include "api_cursor.h"
#include "d4_error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RESUME_MAX 1024u

static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64u[v >> 18];
		out[o++] = b64u[(v >> 12) & 63];
		out[o++] = b64u[(v >> 6) & 63];
		out[o++] = b64u[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = b64u[v >> 18];
		out[o++] = b64u[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = b64u[(v >> 6) & 63];
	}
	out[o] = '\0';
}

/* Canonical base64url only (no padding, unused bits zero): one cursor has
 * one text. 0 or -1. */
static int b64_decode(const char *s, uint8_t *out, size_t cap, size_t *n)
{
	size_t len = strnlen(s, 4 * ((cap + 2) / 3) + 1), o = 0;
	if (len == 0 || len % 4 == 1 || len > 4 * ((cap + 2) / 3))
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t v = 0;
		size_t k = len - i < 4 ? len - i : 4;
		for (size_t j = 0; j < 4; j++) {
			const char *p = j < k && s[i + j] ? strchr(b64u, s[i + j]) : NULL;
			if (j < k && !p)
				return -1;
			v = v << 6 | (uint32_t)(p ? p - b64u : 0);
		}
		uint8_t b[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
		size_t nb = k - 1;
		if ((nb < 3 && b[nb] != 0) || o + nb > cap)
			return -1;
		memcpy(out + o, b, nb);
		o += nb;
	}
	*n = o;
	return 0;
}

static uint8_t mac_key[32];
static int mac_key_ok;
static pthread_once_t mac_once = PTHREAD_ONCE_INIT;

static void mac_init(void)
{
	mac_key_ok = RAND_bytes(mac_key, sizeof(mac_key)) == 1;
}

static int cursor_mac(const uint8_t *bind, size_t bindlen, const uint8_t *r, size_t rlen,
		      uint8_t mac[D4_API_CURSOR_MAC_LEN])
{
	pthread_once(&mac_once, mac_init);
	if (!mac_key_ok)
		return D4_EIO;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	size_t n = bindlen + 2 + rlen;
	uint8_t *msg = malloc(n);
	if (!msg)
		return D4_ENOMEM;
	memcpy(msg, bind, bindlen);
	msg[bindlen] = (uint8_t)(rlen >> 8);
	msg[bindlen + 1] = (uint8_t)rlen;
	memcpy(msg + bindlen + 2, r, rlen);
	int ok = HMAC(EVP_sha256(), mac_key, sizeof(mac_key), msg, n, md, &mdlen) && mdlen >= D4_API_CURSOR_MAC_LEN;
	free(msg);
	if (!ok)
		return D4_EIO;
	memcpy(mac, md, D4_API_CURSOR_MAC_LEN);
	return D4_OK;
}

int d4_api_cursor_seal(uint8_t version, const uint8_t *bind, size_t bindlen, const uint8_t *r, size_t rlen, char *out,
		       size_t cap)
{
	uint8_t b[1 + RESUME_MAX + D4_API_CURSOR_MAC_LEN];
	if (!bind || !r || rlen == 0 || rlen > RESUME_MAX || !out || cap < D4_API_CURSOR_TEXT(rlen))
		return D4_EINVAL;
	b[0] = version;
	memcpy(b + 1, r, rlen);
	int rc = cursor_mac(bind, bindlen, r, rlen, b + 1 + rlen);
	if (rc)
		return rc;
	b64_encode(b, 1 + rlen + D4_API_CURSOR_MAC_LEN, out);
	return D4_OK;
}

int d4_api_cursor_open(uint8_t version, const uint8_t *bind, size_t bindlen, const char *text, uint8_t *r, size_t cap,
		       size_t *rlen)
{
	uint8_t b[1 + RESUME_MAX + D4_API_CURSOR_MAC_LEN], mac[D4_API_CURSOR_MAC_LEN];
	size_t n = 0;
	if (!bind || !text || !r || !rlen)
		return D4_EINVAL;
	if (b64_decode(text, b, sizeof(b), &n) || n < 1 + 1 + D4_API_CURSOR_MAC_LEN || b[0] != version)
		return D4_EINVAL;
	size_t len = n - 1 - D4_API_CURSOR_MAC_LEN;
	if (len > cap || cursor_mac(bind, bindlen, b + 1, len, mac) ||
	    CRYPTO_memcmp(mac, b + 1 + len, D4_API_CURSOR_MAC_LEN) != 0)
		return D4_EINVAL;
	memcpy(r, b + 1, len);
	*rlen = len;
	return D4_OK;
}
