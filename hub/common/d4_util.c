#include "d4_util.h"
#include "d4_error.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>
#include <time.h>

uint64_t d4_now_s(void)
{
	return (uint64_t)time(NULL);
}

uint64_t d4_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t d4_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void d4_hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int d4_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t n)
{
	if (inlen != 2 * n)
		return D4_EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return D4_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return D4_OK;
}

int d4_uuid_parse(const char *s, uint8_t out[16])
{
	char hex[33];
	size_t n = 0, len = strlen(s);
	if (len == 36) {
		for (size_t i = 0; i < len; i++) {
			if (i == 8 || i == 13 || i == 18 || i == 23) {
				if (s[i] != '-')
					return D4_EINVAL;
				continue;
			}
			hex[n++] = s[i];
		}
	} else if (len == 32) {
		memcpy(hex, s, 32);
		n = 32;
	} else {
		return D4_EINVAL;
	}
	return d4_hex_decode(hex, n, out, 16);
}

void d4_uuid_hex(const uint8_t uuid[16], char out[D4_UUID_HEX_LEN + 1])
{
	d4_hex_encode(uuid, 16, out);
}

int d4_uuid_is_v4(const uint8_t uuid[16])
{
	return (uuid[6] >> 4) == 4 && (uuid[8] & 0xc0) == 0x80;
}

int d4_uuid_gen_v4(uint8_t out[16])
{
	if (RAND_bytes(out, 16) != 1)
		return D4_EIO;
	out[6] = (uint8_t)((out[6] & 0x0f) | 0x40);
	out[8] = (uint8_t)((out[8] & 0x3f) | 0x80);
	return D4_OK;
}

int d4_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

void d4_wipe(void *p, size_t n)
{
	OPENSSL_cleanse(p, n);
}

int d4_strlcpy(char *dst, const char *src, size_t size)
{
	if (size == 0)
		return D4_ETOOBIG;
	size_t len = strlen(src);
	if (len >= size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return D4_ETOOBIG;
	}
	memcpy(dst, src, len + 1);
	return D4_OK;
}

int d4_json_depth_ok(const void *p, size_t n, unsigned max)
{
	const uint8_t *s = p;
	unsigned depth = 0;
	int in_str = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		if (in_str) {
			if (c == '\\')
				i++; /* the escaped byte cannot end the string */
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				return 0;
		} else if (c == ']' || c == '}') {
			if (depth == 0)
				return 0; /* a closer without an opener: never valid JSON */
			depth--;
		}
	}
	return 1;
}

size_t d4_utf8_seq(const uint8_t *s, size_t n)
{
	if (n == 0)
		return 0;
	uint8_t c = s[0];
	if (c < 0x80)
		return 1;
	size_t l;
	uint32_t cp, min;
	if (c >= 0xc2 && c <= 0xdf) {
		l = 2, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		l = 3, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		l = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < l)
		return 0;
	for (size_t i = 1; i < l; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return l;
}
