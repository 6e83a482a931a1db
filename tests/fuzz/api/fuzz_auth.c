/* Fuzz target for the Authorization value parser (Bearer, bare token,
 * Basic): whatever the bytes, the result is one of three codes, and an
 * accepted credential is a token the store can take and a user-id without
 * control bytes. The Basic form must also decode to exactly what a client
 * encoded: the parser's base64 is checked against an independent encoder. */
#include "api_core.h"
#include "d4_error.h"

#include <stdlib.h>
#include <string.h>

static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64(const uint8_t *p, size_t n, char *out)
{
	size_t e = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t w =
		    (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
		out[e++] = al[w >> 18 & 63];
		out[e++] = al[w >> 12 & 63];
		out[e++] = i + 1 < n ? al[w >> 6 & 63] : '=';
		out[e++] = i + 2 < n ? al[w & 63] : '=';
	}
	return e;
}

static void check(const struct d4_api_cred *c, int rc)
{
	if (rc != D4_OK && rc != D4_EINVAL && rc != D4_ETOOBIG)
		abort();
	if (rc != D4_OK)
		return;
	if (c->token_len == 0 || c->token_len > D4_API_CRED_TOKEN_MAX || strlen(c->token) != c->token_len)
		abort();
	for (size_t i = 0; i < c->token_len; i++)
		if ((unsigned char)c->token[i] <= 0x20 || (unsigned char)c->token[i] >= 0x7f)
			abort();
	size_t ul = strnlen(c->user, sizeof(c->user));
	if (ul >= sizeof(c->user) || (c->scheme != D4_API_CRED_BASIC && ul))
		abort();
	for (size_t i = 0; i < ul; i++)
		if ((unsigned char)c->user[i] < 0x20 || c->user[i] == 0x7f || c->user[i] == ':')
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct d4_api_cred c;
	check(&c, d4_api_auth_parse(data, size, &c));
	d4_api_auth_cred_wipe(&c);

	/* the input as the decoded "user:password" of a Basic header: accepted
	 * exactly when it is well-formed, and read back unchanged */
	if (size > D4_API_BASIC_B64_MAX / 4 * 3)
		return 0;
	char hdr[6 + D4_API_BASIC_B64_MAX + 1];
	memcpy(hdr, "Basic ", 6);
	size_t n = 6 + b64(data, size, hdr + 6);
	int rc = d4_api_auth_parse((const uint8_t *)hdr, n, &c);
	check(&c, rc);
	const uint8_t *colon = memchr(data, ':', size);
	if (rc == D4_OK) {
		size_t ul = (size_t)(colon - data);
		if (!colon || strlen(c.user) != ul || memcmp(c.user, data, ul) != 0 || c.token_len != size - ul - 1 ||
		    memcmp(c.token, colon + 1, c.token_len) != 0)
			abort();
	} else if (colon && size - (size_t)(colon - data) - 1 > 0 && (size_t)(colon - data) <= D4_API_CRED_USER_MAX) {
		/* refused: the user-id or the password must hold a bad byte */
		int badbyte = 0;
		for (const uint8_t *q = data; q < colon; q++)
			badbyte |= *q < 0x20 || *q == 0x7f;
		for (const uint8_t *q = colon + 1; q < data + size; q++)
			badbyte |= *q <= 0x20 || *q >= 0x7f;
		if (!badbyte && size - (size_t)(colon - data) - 1 <= D4_API_CRED_TOKEN_MAX)
			abort();
	}
	d4_api_auth_cred_wipe(&c);
	return 0;
}
