/* d4hub — weak keys: the set's encoding, the exponent policy, names.
 *
 * State layout (all integers big-endian):
 *   "D4WK" | u8 version (1) | u64 count | count x (u64 id | u16 len | len bytes)
 * Each modulus is written without leading zero bytes, in the set's order;
 * the chunk products are not stored (they are rebuilt on load, which costs a
 * product tree per chunk and keeps the parser free of trust in them). */
#include "d4_error.h"
#include "d4_reader.h"
#include "weakkeys_internal.h"

#include <stdlib.h>
#include <string.h>

#define WK_MAGIC   "D4WK"
#define WK_VERSION 1
#define WK_HEADER  13

int d4_weakkeys_save(const struct d4_weakkeys *wk, uint8_t **out, size_t *out_len)
{
	if (!wk || !out || !out_len)
		return D4_EINVAL;
	*out = NULL;
	*out_len = 0;
	size_t len = WK_HEADER;
	for (size_t c = 0; c < wk->nchunks; c++)
		for (size_t i = 0; i < wk->chunks[c].n; i++)
			len += 10 + (mpz_sizeinbase(wk->chunks[c].mods[i], 2) + 7) / 8;
	uint8_t *buf = malloc(len);
	if (!buf)
		return D4_ENOMEM;
	memcpy(buf, WK_MAGIC, 4);
	buf[4] = WK_VERSION;
	d4_put_u64be(buf + 5, wk->count);
	size_t off = WK_HEADER;
	for (size_t c = 0; c < wk->nchunks; c++)
		for (size_t i = 0; i < wk->chunks[c].n; i++) {
			size_t n = 0;
			d4_put_u64be(buf + off, wk->chunks[c].ids[i]);
			mpz_export(buf + off + 10, &n, 1, 1, 1, 0, wk->chunks[c].mods[i]);
			d4_put_u16be(buf + off + 8, (uint16_t)n);
			off += 10 + n;
		}
	*out = buf;
	*out_len = off;
	return D4_OK;
}

/* Cheapest encoding of one modulus: id, length, at least one byte. */
#define WK_MIN_ENTRY 11

int d4_weakkeys_load(const uint8_t *p, size_t len, struct d4_weakkeys **out)
{
	if (!out)
		return D4_EINVAL;
	*out = NULL;
	if (!p && len > 0)
		return D4_EINVAL;
	struct d4_reader r;
	d4_rd_init(&r, p, len);
	const uint8_t *magic = d4_rd_ptr(&r, 4);
	uint8_t version = d4_rd_u8(&r);
	uint64_t count = d4_rd_u64be(&r);
	if (d4_rd_error(&r))
		return d4_rd_error(&r);
	if (memcmp(magic, WK_MAGIC, 4) != 0 || version != WK_VERSION)
		return D4_EINVAL;
	if (count > D4_WEAKKEYS_MAX_MODULI)
		return D4_ETOOBIG;
	if (count > d4_rd_left(&r) / WK_MIN_ENTRY)
		return D4_ETRUNC;
	struct d4_weakkeys *wk = d4_weakkeys_new();
	struct d4_weakkeys_modulus *mods = malloc((count ? count : 1) * sizeof(*mods));
	if (!wk || !mods) {
		d4_weakkeys_free(wk);
		free(mods);
		return D4_ENOMEM;
	}
	int rc = D4_OK;
	mpz_t n, x;
	mpz_inits(n, x, NULL);
	for (uint64_t i = 0; i < count && !rc; i++) {
		mods[i].id = d4_rd_u64be(&r);
		mods[i].len = d4_rd_u16be(&r);
		mods[i].n = d4_rd_ptr(&r, mods[i].len);
		if (d4_rd_error(&r)) {
			rc = d4_rd_error(&r);
			break;
		}
		/* Canonical and acceptable as d4_weakkeys_add would accept it (the
		 * small factors are checked below, once per chunk). */
		if (mods[i].len == 0 || mods[i].n[0] == 0 || wk_classify(n, mods[i].n, mods[i].len) != 0) {
			rc = D4_EINVAL;
			break;
		}
	}
	if (!rc && d4_rd_left(&r) != 0)
		rc = D4_EINVAL;
	/* Rebuild the chunks without checking the moduli against each other:
	 * their findings were reported when they were added. */
	for (uint64_t i = 0; i < count && !rc; i += D4_WEAKKEYS_CHUNK) {
		size_t k = count - i < D4_WEAKKEYS_CHUNK ? (size_t)(count - i) : D4_WEAKKEYS_CHUNK;
		rc = wk_append_raw(wk, mods + i, k);
	}
	/* No small factor in any modulus: one gcd per chunk product instead of
	 * one per modulus (the products are there anyway). */
	for (size_t c = 0; c < wk->nchunks && !rc; c++) {
		mpz_gcd(x, wk->chunks[c].prod, *wk_small_primorial());
		if (mpz_cmp_ui(x, 1) != 0)
			rc = D4_EINVAL;
	}
	mpz_clears(n, x, NULL);
	free(mods);
	if (rc) {
		d4_weakkeys_free(wk);
		return rc;
	}
	*out = wk;
	return D4_OK;
}

unsigned d4_weakkeys_exponent_check(const uint8_t *e, size_t len)
{
	while (len > 0 && e && e[0] == 0) {
		e++;
		len--;
	}
	if (len == 0 || !e)
		return D4_WEAKKEYS_E_ZERO;
	if (len > 32)
		return D4_WEAKKEYS_E_HUGE | ((e[len - 1] & 1) ? 0 : D4_WEAKKEYS_E_EVEN);
	unsigned flags = 0;
	if (!(e[len - 1] & 1))
		flags |= D4_WEAKKEYS_E_EVEN;
	uint64_t v = 0;
	int big = len > 8;
	for (size_t i = big ? len - 8 : 0; i < len; i++)
		v = (v << 8) | e[i];
	if (!big && v == 1)
		return D4_WEAKKEYS_E_ONE;
	if (!big && v == 65537)
		return 0;
	if (!big && v < 65537)
		flags |= D4_WEAKKEYS_E_SMALL;
	else if (!(flags & D4_WEAKKEYS_E_EVEN))
		flags |= D4_WEAKKEYS_E_UNUSUAL;
	return flags;
}

const char *d4_weakkeys_kind_name(enum d4_weakkeys_kind kind)
{
	switch (kind) {
	case D4_WEAKKEYS_SHARED: return "shared";
	case D4_WEAKKEYS_SHARED_UNPAIRED: return "shared-unpaired";
	case D4_WEAKKEYS_DUPLICATE: return "duplicate";
	case D4_WEAKKEYS_SMALL_FACTOR: return "small-factor";
	case D4_WEAKKEYS_INVALID: return "invalid";
	}
	return "unknown";
}

const char *d4_weakkeys_reason_name(enum d4_weakkeys_reason reason)
{
	switch (reason) {
	case D4_WEAKKEYS_R_NONE: return "none";
	case D4_WEAKKEYS_R_ZERO: return "zero";
	case D4_WEAKKEYS_R_ONE: return "one";
	case D4_WEAKKEYS_R_EVEN: return "even";
	case D4_WEAKKEYS_R_TOO_SHORT: return "too-short";
	case D4_WEAKKEYS_R_TOO_LONG: return "too-long";
	}
	return "unknown";
}
