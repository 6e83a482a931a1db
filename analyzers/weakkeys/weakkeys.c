/* d4hub — weak keys: the incremental batch GCD, the state's encoding, the
 * small-factor and exponent checks. */
#include "d4_error.h"
#include "d4_reader.h"
#include "weakkeys_internal.h"

#include <stdlib.h>
#include <string.h>

struct d4_weakkeys *d4_weakkeys_new(void)
{
	(void)wk_small_primorial();
	return calloc(1, sizeof(struct d4_weakkeys));
}

static void chunk_clear(struct wk_chunk *c)
{
	for (size_t i = 0; i < c->n; i++)
		mpz_clear(c->mods[i]);
	free(c->mods);
	free(c->ids);
	mpz_clear(c->prod);
}

void d4_weakkeys_free(struct d4_weakkeys *wk)
{
	if (!wk)
		return;
	for (size_t i = 0; i < wk->nchunks; i++)
		chunk_clear(&wk->chunks[i]);
	free(wk->chunks);
	free(wk);
}

size_t d4_weakkeys_count(const struct d4_weakkeys *wk)
{
	return wk ? wk->count : 0;
}

/* A modulus as GMP sees it, or the reason it is not one. */
enum d4_weakkeys_reason wk_classify(mpz_t n, const uint8_t *p, size_t len)
{
	while (len > 0 && p[0] == 0) {
		p++;
		len--;
	}
	if (len == 0)
		return D4_WEAKKEYS_R_ZERO;
	if (len > D4_WEAKKEYS_MAX_BITS / 8 + 1)
		return D4_WEAKKEYS_R_TOO_LONG;
	mpz_import(n, len, 1, 1, 1, 0, p);
	if (mpz_cmp_ui(n, 1) == 0)
		return D4_WEAKKEYS_R_ONE;
	if (mpz_even_p(n))
		return D4_WEAKKEYS_R_EVEN;
	size_t bits = mpz_sizeinbase(n, 2);
	if (bits < D4_WEAKKEYS_MIN_BITS)
		return D4_WEAKKEYS_R_TOO_SHORT;
	if (bits > D4_WEAKKEYS_MAX_BITS)
		return D4_WEAKKEYS_R_TOO_LONG;
	return D4_WEAKKEYS_R_NONE;
}

/* Reports one finding; factor may be NULL (no factor). */
static int report(d4_weakkeys_cb cb, void *ud, int *count, enum d4_weakkeys_kind kind, enum d4_weakkeys_reason reason,
		  uint64_t id, uint64_t other, const mpz_t factor)
{
	struct d4_weakkeys_finding f = {.kind = kind, .reason = reason, .id = id, .other = other};
	uint8_t *buf = NULL;
	if (factor && mpz_sgn(factor) > 0) {
		size_t n = 0;
		buf = mpz_export(NULL, &n, 1, 1, 1, 0, factor);
		if (!buf)
			return D4_ENOMEM;
		f.factor = buf;
		f.factor_len = n;
	}
	int rc = cb ? cb(&f, ud) : 0;
	/* mpz_export allocates with GMP's allocator, the default being malloc. */
	void (*gfree)(void *, size_t);
	mp_get_memory_functions(NULL, NULL, &gfree);
	if (buf)
		gfree(buf, f.factor_len);
	if (*count < INT32_MAX)
		(*count)++;
	return rc;
}

/* The batch under check: valid moduli only, in batch order. */
struct batch {
	size_t n;
	mpz_t *mods;
	uint64_t *ids;
};

/* Pairs among the moduli flagged by the batch's own GCD. Flagged moduli
 * share with each other only (a partner of a flagged modulus is flagged),
 * so pairwise gcds among them find every pair; their number is capped. */
static int pairs_within(const struct batch *b, const size_t *flag, size_t nflag, mpz_t *g, d4_weakkeys_cb cb, void *ud,
			int *count)
{
	int rc = 0;
	mpz_t x;
	mpz_init(x);
	if (nflag > D4_WEAKKEYS_MAX_PAIRED) {
		for (size_t k = 0; k < nflag && !rc; k++)
			rc = report(cb, ud, count, D4_WEAKKEYS_SHARED_UNPAIRED, 0, b->ids[flag[k]], D4_WEAKKEYS_NO_ID,
				    g[flag[k]]);
		mpz_clear(x);
		return rc;
	}
	for (size_t k = 1; k < nflag && !rc; k++) {
		size_t j = flag[k];
		for (size_t l = 0; l < k && !rc; l++) {
			size_t i = flag[l];
			if (mpz_cmp(b->mods[i], b->mods[j]) == 0) {
				rc = report(cb, ud, count, D4_WEAKKEYS_DUPLICATE, 0, b->ids[j], b->ids[i], NULL);
				continue;
			}
			mpz_gcd(x, b->mods[i], b->mods[j]);
			if (mpz_cmp_ui(x, 1) > 0)
				rc = report(cb, ud, count, D4_WEAKKEYS_SHARED, 0, b->ids[j], b->ids[i], x);
		}
	}
	mpz_clear(x);
	return rc;
}

/* Names the partners of new modulus i in chunk c: 4096 gcds. A new modulus
 * gets at most D4_WEAKKEYS_MAX_PAIRED partners from the set (partners[i]
 * counts them; past the cap one SHARED_UNPAIRED finding closes it), so that
 * a flood of one modulus costs a bounded number of findings. */
static int scan_chunk(const struct batch *b, size_t i, const struct wk_chunk *c, const mpz_t h, size_t *partners,
		      mpz_t x, d4_weakkeys_cb cb, void *ud, int *count)
{
	int rc = 0;
	for (size_t j = 0; j < c->n && !rc; j++) {
		if (partners[i] == D4_WEAKKEYS_MAX_PAIRED) {
			partners[i]++;
			return report(cb, ud, count, D4_WEAKKEYS_SHARED_UNPAIRED, 0, b->ids[i], D4_WEAKKEYS_NO_ID, h);
		}
		if (mpz_cmp(b->mods[i], c->mods[j]) == 0) {
			partners[i]++;
			rc = report(cb, ud, count, D4_WEAKKEYS_DUPLICATE, 0, b->ids[i], c->ids[j], NULL);
			continue;
		}
		mpz_gcd(x, b->mods[i], c->mods[j]);
		if (mpz_cmp_ui(x, 1) > 0) {
			partners[i]++;
			rc = report(cb, ud, count, D4_WEAKKEYS_SHARED, 0, b->ids[i], c->ids[j], x);
		}
	}
	return rc;
}

/* The batch against the whole set: the chunks' products, each reduced
 * modulo the batch's product and multiplied together modulo it, walked down
 * the batch's tree once give, per new modulus, what it shares with the set.
 * Only a new modulus with a hit looks for its chunk(s) (one reduction of each
 * chunk's product modulo that modulus) and scans them. */
static int against_set(const struct batch *b, const struct wk_tree *t, const struct d4_weakkeys *wk, mpz_t *rem,
		       size_t *partners, d4_weakkeys_cb cb, void *ud, int *count)
{
	int rc;
	const mpz_t *root = (const mpz_t *)&t->lv[t->nlevels - 1][0];
	mpz_t acc, r, x, h;
	mpz_inits(acc, r, x, h, NULL);
	mpz_set_ui(acc, 1);
	for (size_t c = 0; c < wk->nchunks; c++) {
		mpz_tdiv_r(r, wk->chunks[c].prod, *root);
		mpz_mul(acc, acc, r);
		mpz_tdiv_r(acc, acc, *root);
	}
	rc = wk_tree_remainders(t, acc, 0, rem);
	for (size_t i = 0; i < b->n && !rc; i++) {
		mpz_gcd(h, b->mods[i], rem[i]);
		if (mpz_cmp_ui(h, 1) == 0)
			continue;
		for (size_t c = 0; c < wk->nchunks && !rc && partners[i] <= D4_WEAKKEYS_MAX_PAIRED; c++) {
			mpz_tdiv_r(r, wk->chunks[c].prod, b->mods[i]);
			mpz_gcd(r, r, b->mods[i]);
			if (mpz_cmp_ui(r, 1) != 0)
				rc = scan_chunk(b, i, &wk->chunks[c], h, partners, x, cb, ud, count);
		}
	}
	mpz_clears(acc, r, x, h, NULL);
	return rc;
}

/* Appends the batch to the set: fills the last chunk, then new ones. All
 * memory is reserved first, so that a failure leaves the set as it was. */
static int append(struct d4_weakkeys *wk, const struct batch *b)
{
	size_t room = wk->nchunks ? D4_WEAKKEYS_CHUNK - wk->chunks[wk->nchunks - 1].n : 0;
	size_t extra = b->n > room ? (b->n - room + D4_WEAKKEYS_CHUNK - 1) / D4_WEAKKEYS_CHUNK : 0;
	if (wk->nchunks + extra > wk->cap) {
		size_t cap = wk->cap ? wk->cap : 8;
		while (cap < wk->nchunks + extra)
			cap *= 2;
		struct wk_chunk *nc = realloc(wk->chunks, cap * sizeof(*nc));
		if (!nc)
			return D4_ENOMEM;
		wk->chunks = nc;
		wk->cap = cap;
	}
	for (size_t k = 0; k < extra; k++) {
		struct wk_chunk *c = &wk->chunks[wk->nchunks + k];
		memset(c, 0, sizeof(*c));
		c->mods = malloc(D4_WEAKKEYS_CHUNK * sizeof(mpz_t));
		c->ids = malloc(D4_WEAKKEYS_CHUNK * sizeof(uint64_t));
		if (!c->mods || !c->ids) {
			for (size_t j = 0; j <= k; j++) {
				if (j < k)
					mpz_clear(wk->chunks[wk->nchunks + j].prod);
				free(wk->chunks[wk->nchunks + j].mods);
				free(wk->chunks[wk->nchunks + j].ids);
			}
			return D4_ENOMEM;
		}
		mpz_init_set_ui(c->prod, 1);
	}
	wk->nchunks += extra;
	size_t done = 0, ci = wk->nchunks - extra - (room ? 1 : 0);
	mpz_t p;
	mpz_init(p);
	for (; done < b->n; ci++) {
		struct wk_chunk *c = &wk->chunks[ci];
		size_t k = D4_WEAKKEYS_CHUNK - c->n;
		if (k > b->n - done)
			k = b->n - done;
		for (size_t i = 0; i < k; i++) {
			mpz_init_set(c->mods[c->n + i], b->mods[done + i]);
			c->ids[c->n + i] = b->ids[done + i];
		}
		wk_product(p, b->mods + done, k);
		mpz_mul(c->prod, c->prod, p);
		c->n += k;
		done += k;
	}
	wk->count += b->n;
	mpz_clear(p);
	return D4_OK;
}

int wk_append_raw(struct d4_weakkeys *wk, const struct d4_weakkeys_modulus *mods, size_t n)
{
	struct batch b = {0};
	int rc = D4_ENOMEM;
	b.mods = malloc((n ? n : 1) * sizeof(mpz_t));
	b.ids = malloc((n ? n : 1) * sizeof(uint64_t));
	if (b.mods && b.ids) {
		for (; b.n < n; b.n++) {
			mpz_init(b.mods[b.n]);
			mpz_import(b.mods[b.n], mods[b.n].len, 1, 1, 1, 0, mods[b.n].n);
			b.ids[b.n] = mods[b.n].id;
		}
		rc = append(wk, &b);
	}
	for (size_t i = 0; i < b.n; i++)
		mpz_clear(b.mods[i]);
	free(b.mods);
	free(b.ids);
	return rc;
}

int d4_weakkeys_add(struct d4_weakkeys *wk, const struct d4_weakkeys_modulus *mods, size_t n, d4_weakkeys_cb cb,
		    void *ud)
{
	if (!wk || (!mods && n > 0))
		return D4_EINVAL;
	int count = 0, rc = 0;
	struct batch b = {0};
	struct wk_tree t = {0};
	mpz_t *rem = NULL, *g = NULL;
	size_t *flag = NULL, nflag = 0, *partners = NULL;
	mpz_t x, q;
	mpz_inits(x, q, NULL);
	const mpz_t *small = wk_small_primorial();

	b.mods = malloc((n ? n : 1) * sizeof(mpz_t));
	b.ids = malloc((n ? n : 1) * sizeof(uint64_t));
	if (!b.mods || !b.ids) {
		rc = D4_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		mpz_init(b.mods[b.n]);
		enum d4_weakkeys_reason why = wk_classify(b.mods[b.n], mods[i].n, mods[i].n ? mods[i].len : 0);
		if (why != D4_WEAKKEYS_R_NONE) {
			mpz_clear(b.mods[b.n]);
			rc = report(cb, ud, &count, D4_WEAKKEYS_INVALID, why, mods[i].id, D4_WEAKKEYS_NO_ID, NULL);
			continue;
		}
		/* Trial division by every prime below 2^16 as one gcd. */
		mpz_gcd(x, b.mods[b.n], *small);
		if (mpz_cmp_ui(x, 1) > 0) {
			mpz_clear(b.mods[b.n]);
			rc = report(cb, ud, &count, D4_WEAKKEYS_SMALL_FACTOR, 0, mods[i].id, D4_WEAKKEYS_NO_ID, x);
			continue;
		}
		b.ids[b.n++] = mods[i].id;
	}
	if (rc || b.n == 0)
		goto out;

	rem = malloc(b.n * sizeof(mpz_t));
	g = malloc(b.n * sizeof(mpz_t));
	flag = malloc(b.n * sizeof(size_t));
	partners = calloc(b.n, sizeof(size_t));
	if (!rem || !g || !flag || !partners) {
		free(rem);
		free(g);
		rem = g = NULL;
		rc = D4_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < b.n; i++) {
		mpz_init(rem[i]);
		mpz_init(g[i]);
	}
	rc = wk_tree_build(&t, b.mods, b.n);
	if (rc)
		goto out;

	/* Within the batch: P mod N_i^2, divided by N_i, shares with N_i exactly
	 * the primes N_i shares with the other moduli of the batch. */
	if (b.n > 1) {
		rc = wk_tree_remainders(&t, t.lv[t.nlevels - 1][0], 1, rem);
		if (rc)
			goto out;
		for (size_t i = 0; i < b.n; i++) {
			mpz_divexact(q, rem[i], b.mods[i]);
			mpz_gcd(g[i], b.mods[i], q);
			if (mpz_cmp_ui(g[i], 1) > 0)
				flag[nflag++] = i;
		}
		rc = pairs_within(&b, flag, nflag, g, cb, ud, &count);
		if (rc)
			goto out;
	}
	if (wk->nchunks)
		rc = against_set(&b, &t, wk, rem, partners, cb, ud, &count);
	if (!rc)
		rc = append(wk, &b);
out:
	wk_tree_free(&t);
	if (rem)
		for (size_t i = 0; i < b.n; i++) {
			mpz_clear(rem[i]);
			mpz_clear(g[i]);
		}
	free(rem);
	free(g);
	free(flag);
	free(partners);
	for (size_t i = 0; i < b.n; i++)
		mpz_clear(b.mods[i]);
	free(b.mods);
	free(b.ids);
	mpz_clears(x, q, NULL);
	return rc ? rc : count;
}
