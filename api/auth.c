/* d4hub API — roles, bearer tokens and the failed-authentication rate
 * limit. Token secrets are only hashed and looked up by the store; the text
 * is never logged. */
#include "api_core.h"
#include "d4_error.h"
#include "d4_store.h"
#include "d4_util.h"

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

struct d4_api_ratelimit {
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
	return rl;
}

void d4_api_ratelimit_free(struct d4_api_ratelimit *rl)
{
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

unsigned d4_api_ratelimit_check(struct d4_api_ratelimit *rl, const char *addr, uint64_t now_s)
{
	struct rl_slot *s = rl_find(rl, addr, now_s, 0);
	if (!s || now_s >= s->window_start + rl->window_s || s->count < rl->limit)
		return 0;
	uint64_t left = s->window_start + rl->window_s - now_s;
	return left ? (unsigned)left : 1;
}

void d4_api_ratelimit_fail(struct d4_api_ratelimit *rl, const char *addr, uint64_t now_s)
{
	struct rl_slot *s = rl_find(rl, addr, now_s, 1);
	if (now_s >= s->window_start + rl->window_s) {
		s->window_start = now_s;
		s->count = 0;
	}
	if (s->count < UINT32_MAX)
		s->count++;
}
