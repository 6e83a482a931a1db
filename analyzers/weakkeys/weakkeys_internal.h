/* d4hub — weak keys, private: the set's chunks and the trees over GMP. */
#ifndef D4_WEAKKEYS_INTERNAL_H
#define D4_WEAKKEYS_INTERNAL_H

#include "d4_weakkeys.h"

#include <gmp.h>

/* Up to D4_WEAKKEYS_CHUNK moduli of the set and their product, so that a new
 * batch is checked against the product (one reduction) and only the chunks
 * that share something are scanned modulus by modulus. */
struct wk_chunk {
	size_t n;
	uint64_t *ids;
	mpz_t *mods;
	mpz_t prod;
};

struct d4_weakkeys {
	struct wk_chunk *chunks;
	size_t nchunks;
	size_t cap;
	size_t count;
};

/* Imports p (big-endian) into n and says why it is not a modulus, or
 * D4_WEAKKEYS_R_NONE. n must be initialised. */
enum d4_weakkeys_reason wk_classify(mpz_t n, const uint8_t *p, size_t len);
/* Adds moduli to the set without checking them against anything (load). */
int wk_append_raw(struct d4_weakkeys *wk, const struct d4_weakkeys_modulus *mods, size_t n);

/* Product tree: level 0 holds the leaves, the last level the root. */
struct wk_tree {
	size_t nlevels;
	size_t *len;
	mpz_t **lv;
};

int wk_tree_build(struct wk_tree *t, mpz_t *leaves, size_t n);
void wk_tree_free(struct wk_tree *t);
/* rem[i] = root_rem reduced down the tree to leaf i, modulo leaf i (squared
 * when square is set). rem has n initialised entries. */
int wk_tree_remainders(const struct wk_tree *t, const mpz_t root_rem, int square, mpz_t *rem);
/* Product of n numbers, through a balanced split (n > 0). */
void wk_product(mpz_t out, mpz_t *v, size_t n);
/* The product of the odd primes below 2^16 (computed once, never freed). */
const mpz_t *wk_small_primorial(void);

#endif
