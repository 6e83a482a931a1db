/* d4hub API — roles, bearer tokens, HTTP Basic credentials and the
 * failed-authentication rate limit. Token secrets are only hashed and looked up by the store; the text
 * is never logged. */
#include "api_core.h"
#include "d4_error.h"
#include "d4_reader.h"
#include "d4_store.h"
#include "d4_util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *d4_api_role_name(enum d4_role r)
{
	switch (r) {
	case D4_ROLE_ADMIN: return "admin";
	case D4_ROLE_USER: return "user";
	case D4_ROLE_SENSOR_REGISTER: return "sensor_register";
	case D4_ROLE_NONE: break;
	}
	return "none";
}

int d4_api_role_parse(const char *s, enum d4_role *out)
{
	if (!s || !out)
		return D4_EINVAL;
	if (!strcmp(s, "admin"))
		*out = D4_ROLE_ADMIN;
	else if (!strcmp(s, "user"))
		*out = D4_ROLE_USER;
	else if (!strcmp(s, "sensor_register"))
		*out = D4_ROLE_SENSOR_REGISTER;
	else
		return D4_EINVAL;
	return D4_OK;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t';
}

const char *d4_api_auth_token(const char *value, size_t *len)
{
	if (!value)
		return NULL;
	while (is_ws(*value))
		value++;
	/* d4-core clients send the bare token, and so do DNSDB clients in
	 * X-API-Key (the server passes that header's value when there is no
	 * Authorization); everyone else "Bearer T". */
	if (strncasecmp(value, "Bearer", 6) == 0 && is_ws(value[6])) {
		value += 6;
		while (is_ws(*value))
			value++;
	}
	size_t n = strlen(value);
	while (n && is_ws(value[n - 1]))
		n--;
	if (n == 0)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)value[i] <= 0x20 || (unsigned char)value[i] >= 0x7f)
			return NULL;
	*len = n;
	return value;
}

/* ---- credentials from an Authorization value -----------------------------
 * Parsed over the bytes with the bounded reader: a header is hostile input.
 * The decoded Basic credentials are the token in another form, so the
 * scratch buffer they pass through is wiped like the token itself. */

static int is_b64(uint8_t c, unsigned *v)
{
	if (c >= 'A' && c <= 'Z')
		*v = (unsigned)(c - 'A');
	else if (c >= 'a' && c <= 'z')
		*v = (unsigned)(c - 'a') + 26;
	else if (c >= '0' && c <= '9')
		*v = (unsigned)(c - '0') + 52;
	else if (c == '+')
		*v = 62;
	else if (c == '/')
		*v = 63;
	else
		return 0;
	return 1;
}

/* Strict RFC 4648 §4 (what every Basic client sends): padded to a multiple
 * of 4, '=' only at the end, unused bits zero, so one credential has one
 * spelling. Returns the decoded length or -1. */
static long b64_decode(const uint8_t *in, size_t n, uint8_t *out, size_t outsize)
{
	if (n == 0 || n % 4 != 0)
		return -1;
	size_t pad = in[n - 1] == '=' ? (in[n - 2] == '=' ? 2 : 1) : 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		unsigned v[4] = {0, 0, 0, 0};
		int last = i + 4 == n;
		for (size_t k = 0; k < 4; k++) {
			if (last && k >= 4 - pad)
				continue;
			if (!is_b64(in[i + k], &v[k]))
				return -1;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | v[3];
		size_t take = last ? 3 - pad : 3;
		if (last && ((pad == 1 && (v[2] & 3)) || (pad == 2 && (v[1] & 15))))
			return -1;
		if (o + take > outsize)
			return -1;
		for (size_t k = 0; k < take; k++)
			out[o++] = (uint8_t)(w >> (16 - 8 * k));
	}
	return (long)o;
}

static size_t skip_ws(struct d4_reader *r)
{
	size_t n = 0;
	while (d4_rd_left(r) && is_ws((char)r->p[r->off])) {
		d4_rd_skip(r, 1);
		n++;
	}
	return n;
}

/* A token as the store takes it: printable ASCII, no space. */
static int token_ok(const uint8_t *t, size_t n)
{
	if (n == 0 || n > D4_API_CRED_TOKEN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (t[i] <= 0x20 || t[i] >= 0x7f)
			return 0;
	return 1;
}

static int parse_basic(const uint8_t *b64, size_t n, struct d4_api_cred *out)
{
	if (n > D4_API_BASIC_B64_MAX)
		return D4_ETOOBIG;
	uint8_t dec[D4_API_BASIC_B64_MAX / 4 * 3];
	long dl = b64_decode(b64, n, dec, sizeof(dec));
	int rc = D4_EINVAL;
	if (dl < 0)
		goto out;
	/* RFC 7617: the user-id ends at the first colon, the password may hold
	 * more colons (a token never does, so it is simply not found) */
	const uint8_t *colon = memchr(dec, ':', (size_t)dl);
	if (!colon)
		goto out;
	size_t ul = (size_t)(colon - dec), pl = (size_t)dl - ul - 1;
	if (ul > D4_API_CRED_USER_MAX) {
		rc = D4_ETOOBIG;
		goto out;
	}
	for (size_t i = 0; i < ul; i++)
		if (dec[i] < 0x20 || dec[i] == 0x7f)
			goto out;
	if (!token_ok(colon + 1, pl))
		goto out;
	memcpy(out->user, dec, ul);
	out->user[ul] = '\0';
	memcpy(out->token, colon + 1, pl);
	out->token[pl] = '\0';
	out->token_len = pl;
	rc = D4_OK;
out:
	d4_wipe(dec, sizeof(dec));
	return rc;
}

int d4_api_auth_parse(const uint8_t *value, size_t len, struct d4_api_cred *out)
{
	memset(out, 0, sizeof(*out));
	out->scheme = D4_API_CRED_RAW;
	if (!value || len > D4_API_AUTH_VALUE_MAX)
		return value ? D4_ETOOBIG : D4_EINVAL;
	struct d4_reader r;
	d4_rd_init(&r, value, len);
	skip_ws(&r);
	/* trailing blanks are not part of any credential */
	size_t end = len;
	while (end > r.off && is_ws((char)value[end - 1]))
		end--;
	const uint8_t *p = value + r.off;
	size_t n = end - r.off;
	if (n >= 5 && strncasecmp((const char *)p, "Basic", 5) == 0 && (n == 5 || is_ws((char)p[5]))) {
		out->scheme = D4_API_CRED_BASIC;
		d4_rd_skip(&r, 5);
	} else if (n >= 6 && strncasecmp((const char *)p, "Bearer", 6) == 0 && (n == 6 || is_ws((char)p[6]))) {
		out->scheme = D4_API_CRED_BEARER;
		d4_rd_skip(&r, 6);
	}
	if (out->scheme != D4_API_CRED_RAW && !skip_ws(&r) && r.off < end)
		return D4_EINVAL;
	p = value + r.off;
	n = end > r.off ? end - r.off : 0;
	if (out->scheme == D4_API_CRED_BASIC)
		return parse_basic(p, n, out);
	/* Bearer and d4-core's bare token (or X-API-Key's value) */
	if (!token_ok(p, n))
		return n > D4_API_CRED_TOKEN_MAX ? D4_ETOOBIG : D4_EINVAL;
	memcpy(out->token, p, n);
	out->token[n] = '\0';
	out->token_len = n;
	return D4_OK;
}

void d4_api_auth_cred_wipe(struct d4_api_cred *c)
{
	d4_wipe(c, sizeof(*c));
}

int d4_api_auth_verify(struct d4_api_ctx *ctx, const char *token, char *user, size_t usersize, enum d4_role *role)
{
	char u[D4_USER_NAME_MAX];
	uint8_t r = 0;
	int rc = d4_store_token_verify(ctx->store, token, u, &r, NULL);
	if (rc != D4_OK)
		return rc;
	if (r < D4_ROLE_SENSOR_REGISTER || r > D4_ROLE_ADMIN)
		return D4_ENOTFOUND;
	d4_strlcpy(user, u, usersize);
	*role = (enum d4_role)r;
	return D4_OK;
}

/* ---- rate limit ------------------------------------------------------------
 * A fixed window per address in a small open-addressed table. When the
 * table is full the entry with the oldest window is reused: under a flood of
 * distinct addresses the limit degrades for the oldest, it never grows
 * memory. */
#define RL_SLOTS 4096
#define RL_PROBE 16

struct rl_slot {
	char addr[64];
	uint64_t window_start;
	unsigned count;
};

/* Shared by the API's event-loop threads: every call holds mu, so a limit
 * trips at exactly its count whichever threads served the attempts. */
struct d4_api_ratelimit {
	pthread_mutex_t mu;
	unsigned limit, window_s;
	struct rl_slot slot[RL_SLOTS];
};

struct d4_api_ratelimit *d4_api_ratelimit_new(unsigned limit, unsigned window_s)
{
	struct d4_api_ratelimit *rl = calloc(1, sizeof(*rl));
	if (!rl)
		return NULL;
	rl->limit = limit ? limit : 1;
	rl->window_s = window_s ? window_s : 60;
	pthread_mutex_init(&rl->mu, NULL);
	return rl;
}

void d4_api_ratelimit_free(struct d4_api_ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->mu);
	free(rl);
}

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 16777619u;
	}
	return h;
}

/* The slot of addr, or NULL; with create, a fresh or recycled slot. */
static struct rl_slot *rl_find(struct d4_api_ratelimit *rl, const char *addr, uint64_t now, int create)
{
	uint32_t h = fnv1a(addr);
	struct rl_slot *victim = NULL;
	int vrank = 3;
	for (unsigned i = 0; i < RL_PROBE; i++) {
		struct rl_slot *s = &rl->slot[(h + i) % RL_SLOTS];
		if (s->addr[0] && strcmp(s->addr, addr) == 0)
			return s;
		/* reuse order: empty, expired, then the oldest live window */
		int rank = !s->addr[0] ? 0 : now >= s->window_start + rl->window_s ? 1 : 2;
		if (!victim || rank < vrank || (rank == vrank && s->window_start < victim->window_start)) {
			victim = s;
			vrank = rank;
		}
	}
	if (!create)
		return NULL;
	d4_strlcpy(victim->addr, addr, sizeof(victim->addr));
	victim->window_start = now;
	victim->count = 0;
	return victim;
}

static unsigned rl_wait(struct d4_api_ratelimit *rl, const char *addr, uint64_t now_s)
{
	struct rl_slot *s = rl_find(rl, addr, now_s, 0);
	if (!s || now_s >= s->window_start + rl->window_s || s->count < rl->limit)
		return 0;
	uint64_t left = s->window_start + rl->window_s - now_s;
	return left ? (unsigned)left : 1;
}

static void rl_count(struct d4_api_ratelimit *rl, const char *addr, uint64_t now_s)
{
	struct rl_slot *s = rl_find(rl, addr, now_s, 1);
	if (now_s >= s->window_start + rl->window_s) {
		s->window_start = now_s;
		s->count = 0;
	}
	if (s->count < UINT32_MAX)
		s->count++;
}

unsigned d4_api_ratelimit_check(struct d4_api_ratelimit *rl, const char *addr, uint64_t now_s)
{
	pthread_mutex_lock(&rl->mu);
	unsigned w = rl_wait(rl, addr, now_s);
	pthread_mutex_unlock(&rl->mu);
	return w;
}

unsigned d4_api_ratelimit_fail(struct d4_api_ratelimit *rl, const char *addr, uint64_t now_s)
{
	pthread_mutex_lock(&rl->mu);
	/* another thread may have used the last allowed failure since this
	 * request's check: then this one is over the limit */
	unsigned w = rl_wait(rl, addr, now_s);
	rl_count(rl, addr, now_s);
	pthread_mutex_unlock(&rl->mu);
	return w;
}

unsigned d4_api_ratelimit_take2(struct d4_api_ratelimit *rl, const char *a, const char *b, uint64_t now_s)
{
	pthread_mutex_lock(&rl->mu);
	unsigned wa = rl_wait(rl, a, now_s), wb = rl_wait(rl, b, now_s);
	unsigned w = wa > wb ? wa : wb;
	if (w == 0) {
		rl_count(rl, a, now_s);
		rl_count(rl, b, now_s);
	}
	pthread_mutex_unlock(&rl->mu);
	return w;
}
