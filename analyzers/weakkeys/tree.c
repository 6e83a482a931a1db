/* d4hub — weak keys: product and remainder trees (Bernstein), and the small
 * primes' product. */
#include "d4_error.h"
#include "weakkeys_internal.h"

#include <pthread.h>
#include <stdlib.h>

void wk_tree_free(struct wk_tree *t)
{
	for (size_t l = 0; l < t->nlevels; l++) {
		for (size_t i = 0; i < t->len[l]; i++)
			mpz_clear(t->lv[l][i]);
		free(t->lv[l]);
	}
	free(t->lv);
	free(t->len);
	t->lv = NULL;
	t->len = NULL;
	t->nlevels = 0;
}

int wk_tree_build(struct wk_tree *t, mpz_t *leaves, size_t n)
{
	t->nlevels = 0;
	t->len = NULL;
	t->lv = NULL;
	if (n == 0)
		return D4_EINVAL;
	size_t levels = 1;
	for (size_t k = n; k > 1; k = (k + 1) / 2)
		levels++;
	t->len = calloc(levels, sizeof(*t->len));
	t->lv = calloc(levels, sizeof(*t->lv));
	if (!t->len || !t->lv)
		goto nomem;
	for (size_t l = 0; l < levels; l++) {
		size_t k = l == 0 ? n : (t->len[l - 1] + 1) / 2;
		t->lv[l] = malloc(k * sizeof(mpz_t));
		if (!t->lv[l])
			goto nomem;
		t->nlevels = l + 1;
		for (size_t i = 0; i < k; i++) {
			mpz_init(t->lv[l][i]);
			t->len[l] = i + 1;
			if (l == 0)
				mpz_set(t->lv[0][i], leaves[i]);
			else if (2 * i + 1 < t->len[l - 1])
				mpz_mul(t->lv[l][i], t->lv[l - 1][2 * i], t->lv[l - 1][2 * i + 1]);
			else
				mpz_set(t->lv[l][i], t->lv[l - 1][2 * i]);
		}
	}
	return D4_OK;
nomem:
	wk_tree_free(t);
	return D4_ENOMEM;
}

/* Walks down one level at a time, keeping only two levels of remainders: the
 * tree itself is the memory peak (about log2(n) copies of the product). */
int wk_tree_remainders(const struct wk_tree *t, const mpz_t root_rem, int square, mpz_t *rem)
{
	size_t top = t->nlevels - 1;
	mpz_t *cur = malloc(sizeof(mpz_t)), *next = NULL;
	size_t ncur = 1;
	mpz_t m;
	if (!cur)
		return D4_ENOMEM;
	mpz_init_set(cur[0], root_rem);
	mpz_init(m);
	for (size_t l = top; l-- > 0;) {
		size_t k = t->len[l];
		next = l == 0 ? rem : malloc(k * sizeof(mpz_t));
		if (!next) {
			for (size_t i = 0; i < ncur; i++)
				mpz_clear(cur[i]);
			free(cur);
			mpz_clear(m);
			return D4_ENOMEM;
		}
		for (size_t i = 0; i < k; i++) {
			if (l != 0)
				mpz_init(next[i]);
			if (square) {
				mpz_mul(m, t->lv[l][i], t->lv[l][i]);
				mpz_tdiv_r(next[i], cur[i / 2], m);
			} else {
				mpz_tdiv_r(next[i], cur[i / 2], t->lv[l][i]);
			}
		}
		for (size_t i = 0; i < ncur; i++)
			mpz_clear(cur[i]);
		free(cur);
		cur = next;
		ncur = k;
	}
	if (top == 0) {
		/* One leaf: the root is the leaf. */
		if (square) {
			mpz_mul(m, t->lv[0][0], t->lv[0][0]);
			mpz_tdiv_r(rem[0], cur[0], m);
		} else {
			mpz_tdiv_r(rem[0], cur[0], t->lv[0][0]);
		}
		mpz_clear(cur[0]);
		free(cur);
	}
	mpz_clear(m);
	return D4_OK;
}

void wk_product(mpz_t out, mpz_t *v, size_t n)
{
	if (n == 1) {
		mpz_set(out, v[0]);
		return;
	}
	mpz_t b;
	mpz_init(b);
	wk_product(out, v, n / 2);
	wk_product(b, v + n / 2, n - n / 2);
	mpz_mul(out, out, b);
	mpz_clear(b);
}

static mpz_t primorial;
static pthread_once_t primorial_once = PTHREAD_ONCE_INIT;

static void primorial_init(void)
{
	/* Sieve of Eratosthenes up to 2^16; 2 is left out (even moduli are
	 * rejected on their own, with their own reason). */
	static uint8_t composite[1u << 16];
	mpz_t *ps = malloc(6542 * sizeof(mpz_t));
	size_t n = 0;
	for (uint32_t i = 2; i < (1u << 16); i++) {
		if (composite[i])
			continue;
		for (uint32_t j = i * i; j < (1u << 16); j += i)
			composite[j] = 1;
		if (i != 2 && ps)
			mpz_init_set_ui(ps[n++], i);
	}
	mpz_init_set_ui(primorial, 1);
	if (ps) {
		wk_product(primorial, ps, n);
		for (size_t i = 0; i < n; i++)
			mpz_clear(ps[i]);
		free(ps);
	} else {
		/* Out of memory: one multiplication at a time. */
		for (uint32_t i = 3; i < (1u << 16); i += 2)
			if (!composite[i])
				mpz_mul_ui(primorial, primorial, i);
	}
}

const mpz_t *wk_small_primorial(void)
{
	pthread_once(&primorial_once, primorial_init);
	return (const mpz_t *)&primorial;
}
