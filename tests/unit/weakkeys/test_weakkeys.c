/* Unit tests: weak keys (batch GCD, incremental runs, state, small factors,
 * exponents). Moduli are products of random primes made with GMP from fixed
 * seeds, with shared primes planted at known places. */
#include "d4_error.h"
#include "d4_weakkeys.h"

#include <check.h>
#include <gmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One finding as kept by the tests: the factor as lowercase hex. */
struct rec {
	int kind, reason;
	uint64_t id, other;
	char factor[4200];
};
struct recs {
	size_t n, cap;
	struct rec *v;
};

static int collect(const struct d4_weakkeys_finding *f, void *ud)
{
	struct recs *r = ud;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
		ck_assert_ptr_nonnull(r->v);
	}
	struct rec *x = &r->v[r->n++];
	memset(x, 0, sizeof(*x));
	x->kind = f->kind;
	x->reason = f->reason;
	x->id = f->id;
	x->other = f->other;
	ck_assert_uint_lt(f->factor_len * 2, sizeof(x->factor));
	ck_assert(f->factor_len == 0 || f->factor[0] != 0);
	for (size_t i = 0; i < f->factor_len; i++)
		sprintf(x->factor + 2 * i, "%02x", f->factor[i]);
	return 0;
}

/* Finds the pair (a, b) in either order; returns its index or -1. */
static long find_pair(const struct recs *r, int kind, uint64_t a, uint64_t b)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].kind == kind &&
		    ((r->v[i].id == a && r->v[i].other == b) || (r->v[i].id == b && r->v[i].other == a)))
			return (long)i;
	return -1;
}

static gmp_randstate_t rnd;

static void prime(mpz_t p, unsigned bits)
{
	mpz_urandomb(p, rnd, bits);
	mpz_setbit(p, bits - 1);
	mpz_nextprime(p, p);
}

/* n moduli of two primes of pbits each; primes[] keeps every prime
 * (2 per modulus) so that tests can plant shared ones. */
struct set {
	size_t n;
	mpz_t *p, *q, *m;
	uint8_t **bytes;
	size_t *len;
};

static void set_fill(struct set *s, size_t n, unsigned pbits, unsigned long seed)
{
	gmp_randinit_default(rnd);
	gmp_randseed_ui(rnd, seed);
	s->n = n;
	s->p = malloc(n * sizeof(mpz_t));
	s->q = malloc(n * sizeof(mpz_t));
	s->m = malloc(n * sizeof(mpz_t));
	s->bytes = calloc(n, sizeof(uint8_t *));
	s->len = calloc(n, sizeof(size_t));
	for (size_t i = 0; i < n; i++) {
		mpz_inits(s->p[i], s->q[i], s->m[i], NULL);
		prime(s->p[i], pbits);
		prime(s->q[i], pbits);
	}
	gmp_randclear(rnd);
}

/* Recomputes the moduli and their bytes from p and q. */
static void set_finish(struct set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		mpz_mul(s->m[i], s->p[i], s->q[i]);
		free(s->bytes[i]);
		s->bytes[i] = malloc((mpz_sizeinbase(s->m[i], 2) + 7) / 8);
		mpz_export(s->bytes[i], &s->len[i], 1, 1, 1, 0, s->m[i]);
	}
}

static void set_free(struct set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		mpz_clears(s->p[i], s->q[i], s->m[i], NULL);
		free(s->bytes[i]);
	}
	free(s->p);
	free(s->q);
	free(s->m);
	free(s->bytes);
	free(s->len);
}

static struct d4_weakkeys_modulus *mods_of(const struct set *s, uint64_t id_base)
{
	struct d4_weakkeys_modulus *m = calloc(s->n, sizeof(*m));
	for (size_t i = 0; i < s->n; i++) {
		m[i].id = id_base + i;
		m[i].n = s->bytes[i];
		m[i].len = s->len[i];
	}
	return m;
}

static void hex(char *out, const mpz_t v)
{
	mpz_get_str(out, 16, v);
}

/* 300 moduli of 2x256-bit primes; planted: 5~17 (one prime), 30~31~32 (the
 * same prime in three), 50 shares p with 51 and q with 52 (its own gcd with
 * the rest is itself), 60 == 61 (a duplicate key), 70 == 71 == 72. */
static void plant(struct set *s)
{
	mpz_set(s->p[17], s->p[5]);
	mpz_set(s->q[31], s->p[30]);
	mpz_set(s->p[32], s->p[30]);
	mpz_set(s->p[51], s->p[50]);
	mpz_set(s->q[52], s->q[50]);
	mpz_set(s->p[61], s->p[60]);
	mpz_set(s->q[61], s->q[60]);
	for (int i = 71; i <= 72; i++) {
		mpz_set(s->p[i], s->p[70]);
		mpz_set(s->q[i], s->q[70]);
	}
	set_finish(s);
}

static void check_planted(const struct set *s, const struct recs *r, uint64_t base)
{
	char h[200];
	struct {
		int a, b;
		const mpz_t *f;
	} want[] = {
	    {5, 17, &s->p[5]},	 {30, 31, &s->p[30]}, {30, 32, &s->p[30]},
	    {31, 32, &s->p[30]}, {50, 51, &s->p[50]}, {50, 52, &s->q[50]},
	};
	size_t nshared = 0, ndup = 0;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		long k = find_pair(r, D4_WEAKKEYS_SHARED, base + want[i].a, base + want[i].b);
		ck_assert_msg(k >= 0, "pair %d~%d not found", want[i].a, want[i].b);
		hex(h, *want[i].f);
		ck_assert_str_eq(r->v[k].factor, h);
	}
	ck_assert_int_ge(find_pair(r, D4_WEAKKEYS_DUPLICATE, base + 60, base + 61), 0);
	ck_assert_int_ge(find_pair(r, D4_WEAKKEYS_DUPLICATE, base + 70, base + 71), 0);
	ck_assert_int_ge(find_pair(r, D4_WEAKKEYS_DUPLICATE, base + 70, base + 72), 0);
	ck_assert_int_ge(find_pair(r, D4_WEAKKEYS_DUPLICATE, base + 71, base + 72), 0);
	for (size_t i = 0; i < r->n; i++) {
		nshared += r->v[i].kind == D4_WEAKKEYS_SHARED;
		ndup += r->v[i].kind == D4_WEAKKEYS_DUPLICATE;
		ck_assert(r->v[i].kind == D4_WEAKKEYS_SHARED || r->v[i].kind == D4_WEAKKEYS_DUPLICATE);
		/* Newer first: the id is never older than its partner. */
		ck_assert_uint_gt(r->v[i].id, r->v[i].other);
	}
	/* Exactly these: no false pair, nothing doubled. */
	ck_assert_uint_eq(nshared, 6);
	ck_assert_uint_eq(ndup, 4);
	ck_assert_uint_eq(r->n, 10);
}

START_TEST(one_shot_planted)
{
	struct set s;
	set_fill(&s, 300, 256, 1);
	plant(&s);
	struct d4_weakkeys_modulus *m = mods_of(&s, 1000);
	struct d4_weakkeys *wk = d4_weakkeys_new();
	struct recs r = {0};
	ck_assert_int_eq(d4_weakkeys_add(wk, m, s.n, collect, &r), 10);
	check_planted(&s, &r, 1000);
	ck_assert_uint_eq(d4_weakkeys_count(wk), 300);
	/* Nothing new against itself when no modulus is added: an empty batch. */
	ck_assert_int_eq(d4_weakkeys_add(wk, NULL, 0, collect, &r), 0);
	d4_weakkeys_free(wk);
	free(r.v);
	free(m);
	set_free(&s);
}
END_TEST

/* The same moduli in batches cut in several places (through the planted
 * groups: 50's partners one batch each, duplicates across batches): the
 * same findings as one run. */
START_TEST(incremental_equals_one_shot)
{
	struct set s;
	set_fill(&s, 300, 256, 1);
	plant(&s);
	struct d4_weakkeys_modulus *m = mods_of(&s, 1000);
	size_t cuts[][6] = {
	    {0, 1, 8, 58, 59, 300}, {0, 31, 32, 61, 71, 300}, {0, 150, 299, 300, 300, 300}, {0, 51, 52, 53, 62, 300}};
	for (size_t c = 0; c < 4; c++) {
		struct d4_weakkeys *wk = d4_weakkeys_new();
		struct recs r = {0};
		int total = 0;
		for (int k = 0; k < 5; k++) {
			int rc = d4_weakkeys_add(wk, m + cuts[c][k], cuts[c][k + 1] - cuts[c][k], collect, &r);
			ck_assert_int_ge(rc, 0);
			total += rc;
		}
		ck_assert_int_eq(total, 10);
		check_planted(&s, &r, 1000);
		d4_weakkeys_free(wk);
		free(r.v);
	}
	free(m);
	set_free(&s);
}
END_TEST

/* Across chunks: more moduli than one chunk holds (small ones, to stay
 * quick), shared primes planted across the chunk boundary, added one-shot
 * and in batches that straddle it; and the saved state reloads to the same
 * set. */
START_TEST(chunks_and_state)
{
	size_t n = D4_WEAKKEYS_CHUNK + 900;
	struct set s;
	set_fill(&s, n, 160, 7);
	mpz_set(s.p[D4_WEAKKEYS_CHUNK + 10], s.p[3]);
	mpz_set(s.q[D4_WEAKKEYS_CHUNK + 20], s.q[D4_WEAKKEYS_CHUNK - 1]);
	mpz_set(s.p[n - 1], s.q[D4_WEAKKEYS_CHUNK + 5]);
	set_finish(&s);
	struct d4_weakkeys_modulus *m = mods_of(&s, 0);
	size_t cuts[] = {0, 100, D4_WEAKKEYS_CHUNK - 3, D4_WEAKKEYS_CHUNK + 15, n};
	struct d4_weakkeys *wk = d4_weakkeys_new();
	struct recs r = {0};
	for (int k = 0; k < 4; k++)
		ck_assert_int_ge(d4_weakkeys_add(wk, m + cuts[k], cuts[k + 1] - cuts[k], collect, &r), 0);
	ck_assert_uint_eq(r.n, 3);
	ck_assert_int_ge(find_pair(&r, D4_WEAKKEYS_SHARED, 3, D4_WEAKKEYS_CHUNK + 10), 0);
	ck_assert_int_ge(find_pair(&r, D4_WEAKKEYS_SHARED, D4_WEAKKEYS_CHUNK - 1, D4_WEAKKEYS_CHUNK + 20), 0);
	ck_assert_int_ge(find_pair(&r, D4_WEAKKEYS_SHARED, D4_WEAKKEYS_CHUNK + 5, n - 1), 0);

	/* One shot gives the same three. */
	struct d4_weakkeys *one = d4_weakkeys_new();
	struct recs r1 = {0};
	ck_assert_int_eq(d4_weakkeys_add(one, m, n, collect, &r1), 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_ge(find_pair(&r, r1.v[i].kind, r1.v[i].id, r1.v[i].other), 0);

	/* Saved, loaded, saved again: the same bytes; and the loaded set finds
	 * the same partners for a new modulus as the original. */
	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	ck_assert_int_eq(d4_weakkeys_save(wk, &a, &alen), 0);
	struct d4_weakkeys *back = NULL;
	ck_assert_int_eq(d4_weakkeys_load(a, alen, &back), 0);
	ck_assert_uint_eq(d4_weakkeys_count(back), n);
	ck_assert_int_eq(d4_weakkeys_save(back, &b, &blen), 0);
	ck_assert_uint_eq(alen, blen);
	ck_assert_mem_eq(a, b, alen);
	/* Different lengths of state, each with its own bytes: one-shot and
	 * incremental sets hold the same moduli in the same order. */
	uint8_t *c = NULL;
	size_t clen = 0;
	ck_assert_int_eq(d4_weakkeys_save(one, &c, &clen), 0);
	ck_assert_uint_eq(alen, clen);
	ck_assert_mem_eq(a, c, alen);

	mpz_t x;
	mpz_init(x);
	mpz_mul(x, s.p[7], s.q[D4_WEAKKEYS_CHUNK + 100]);
	uint8_t xb[64];
	size_t xl = 0;
	mpz_export(xb, &xl, 1, 1, 1, 0, x);
	struct d4_weakkeys_modulus nm = {.id = 99999, .n = xb, .len = xl};
	struct recs r2 = {0}, r3 = {0};
	ck_assert_int_eq(d4_weakkeys_add(wk, &nm, 1, collect, &r2), 2);
	ck_assert_int_eq(d4_weakkeys_add(back, &nm, 1, collect, &r3), 2);
	ck_assert_int_ge(find_pair(&r3, D4_WEAKKEYS_SHARED, 99999, 7), 0);
	ck_assert_int_ge(find_pair(&r3, D4_WEAKKEYS_SHARED, 99999, D4_WEAKKEYS_CHUNK + 100), 0);
	ck_assert_int_ge(find_pair(&r2, D4_WEAKKEYS_SHARED, 99999, 7), 0);
	mpz_clear(x);
	free(a);
	free(b);
	free(c);
	free(r.v);
	free(r1.v);
	free(r2.v);
	free(r3.v);
	d4_weakkeys_free(back);
	d4_weakkeys_free(one);
	d4_weakkeys_free(wk);
	free(m);
	set_free(&s);
}
END_TEST

START_TEST(hostile_moduli)
{
	struct set s;
	set_fill(&s, 4, 256, 3);
	mpz_mul_ui(s.q[2], s.q[2], 65521); /* a small prime factor (odd) */
	set_finish(&s);
	static uint8_t zero[4], one[] = {0, 0, 1}, even[64], shortm[] = {0xff, 0xfd};
	static uint8_t huge[D4_WEAKKEYS_MAX_BITS / 8 + 8];
	memset(even, 0xff, sizeof(even));
	even[63] = 0xfe;
	memset(huge, 0xff, sizeof(huge));
	uint8_t lead[80] = {0};
	memcpy(lead + 80 - s.len[0], s.bytes[0], s.len[0]);
	struct d4_weakkeys_modulus m[] = {
	    {.id = 1, .n = zero, .len = sizeof(zero)},
	    {.id = 2, .n = NULL, .len = 10},
	    {.id = 3, .n = one, .len = 0},
	    {.id = 4, .n = one, .len = sizeof(one)},
	    {.id = 5, .n = even, .len = sizeof(even)},
	    {.id = 6, .n = shortm, .len = sizeof(shortm)},
	    {.id = 7, .n = huge, .len = sizeof(huge)},
	    {.id = 8, .n = s.bytes[2], .len = s.len[2]},
	    {.id = 9, .n = s.bytes[0], .len = s.len[0]},
	    {.id = 10, .n = lead, .len = sizeof(lead)}, /* the same as 9, with leading zeros */
	    {.id = 11, .n = s.bytes[1], .len = s.len[1]},
	};
	struct d4_weakkeys *wk = d4_weakkeys_new();
	struct recs r = {0};
	ck_assert_int_eq(d4_weakkeys_add(wk, m, sizeof(m) / sizeof(m[0]), collect, &r), 9);
	int want[][2] = {{D4_WEAKKEYS_INVALID, D4_WEAKKEYS_R_ZERO},	{D4_WEAKKEYS_INVALID, D4_WEAKKEYS_R_ZERO},
			 {D4_WEAKKEYS_INVALID, D4_WEAKKEYS_R_ZERO},	{D4_WEAKKEYS_INVALID, D4_WEAKKEYS_R_ONE},
			 {D4_WEAKKEYS_INVALID, D4_WEAKKEYS_R_EVEN},	{D4_WEAKKEYS_INVALID, D4_WEAKKEYS_R_TOO_SHORT},
			 {D4_WEAKKEYS_INVALID, D4_WEAKKEYS_R_TOO_LONG}, {D4_WEAKKEYS_SMALL_FACTOR, 0}};
	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(r.v[i].kind, want[i][0]);
		ck_assert_int_eq(r.v[i].reason, want[i][1]);
		ck_assert_uint_eq(r.v[i].id, (uint64_t)i + 1);
		ck_assert_uint_eq(r.v[i].other, D4_WEAKKEYS_NO_ID);
	}
	ck_assert_str_eq(r.v[7].factor, "fff1");
	ck_assert_int_eq(r.v[8].kind, D4_WEAKKEYS_DUPLICATE);
	ck_assert_uint_eq(r.v[8].id, 10);
	ck_assert_uint_eq(r.v[8].other, 9);
	ck_assert_uint_eq(d4_weakkeys_count(wk), 3);
	ck_assert_int_eq(d4_weakkeys_add(NULL, m, 1, collect, &r), D4_EINVAL);
	ck_assert_int_eq(d4_weakkeys_add(wk, NULL, 1, collect, &r), D4_EINVAL);
	ck_assert_str_eq(d4_weakkeys_kind_name(D4_WEAKKEYS_SMALL_FACTOR), "small-factor");
	ck_assert_str_eq(d4_weakkeys_reason_name(D4_WEAKKEYS_R_EVEN), "even");
	d4_weakkeys_free(wk);
	free(r.v);
	set_free(&s);
}
END_TEST

/* A callback that stops the run leaves the set as it was. */
static int stop(const struct d4_weakkeys_finding *f, void *ud)
{
	(void)f;
	(void)ud;
	return -100;
}

START_TEST(callback_stops)
{
	struct set s;
	set_fill(&s, 300, 256, 1);
	plant(&s);
	struct d4_weakkeys_modulus *m = mods_of(&s, 0);
	struct d4_weakkeys *wk = d4_weakkeys_new();
	ck_assert_int_eq(d4_weakkeys_add(wk, m, 100, stop, NULL), -100);
	ck_assert_uint_eq(d4_weakkeys_count(wk), 0);
	struct recs r = {0};
	ck_assert_int_eq(d4_weakkeys_add(wk, m, 100, collect, &r), r.n);
	ck_assert_uint_eq(d4_weakkeys_count(wk), 100);
	d4_weakkeys_free(wk);
	free(r.v);
	free(m);
	set_free(&s);
}
END_TEST

START_TEST(hostile_state)
{
	struct d4_weakkeys *wk = NULL;
	uint8_t *a = NULL;
	size_t alen = 0;
	struct d4_weakkeys *e = d4_weakkeys_new();
	ck_assert_int_eq(d4_weakkeys_save(e, &a, &alen), 0);
	ck_assert_uint_eq(alen, 13);
	ck_assert_int_eq(d4_weakkeys_load(a, alen, &wk), 0);
	ck_assert_uint_eq(d4_weakkeys_count(wk), 0);
	d4_weakkeys_free(wk);
	free(a);
	d4_weakkeys_free(e);

	struct set s;
	set_fill(&s, 3, 256, 5);
	set_finish(&s);
	struct d4_weakkeys_modulus *m = mods_of(&s, 40);
	e = d4_weakkeys_new();
	ck_assert_int_eq(d4_weakkeys_add(e, m, 3, NULL, NULL), 0);
	ck_assert_int_eq(d4_weakkeys_save(e, &a, &alen), 0);
	/* Every truncation fails, never crashes. */
	for (size_t l = 0; l < alen; l++) {
		ck_assert_int_lt(d4_weakkeys_load(a, l, &wk), 0);
		ck_assert_ptr_null(wk);
	}
	uint8_t *b = malloc(alen + 1);
	memcpy(b, a, alen);
	b[alen] = 0;
	ck_assert_int_eq(d4_weakkeys_load(b, alen + 1, &wk), D4_EINVAL); /* trailing byte */
	b[0] = 'X';
	ck_assert_int_eq(d4_weakkeys_load(b, alen, &wk), D4_EINVAL); /* magic */
	memcpy(b, a, alen);
	b[4] = 2;
	ck_assert_int_eq(d4_weakkeys_load(b, alen, &wk), D4_EINVAL); /* version */
	memcpy(b, a, alen);
	b[5] = 0xff;
	ck_assert_int_eq(d4_weakkeys_load(b, alen, &wk), D4_ETOOBIG); /* count */
	memcpy(b, a, alen);
	b[12] = 200;
	ck_assert_int_eq(d4_weakkeys_load(b, alen, &wk), D4_ETRUNC); /* count above what the bytes hold */
	memcpy(b, a, alen);
	b[13 + 10 + s.len[0] - 1] ^= 1; /* the first modulus made even */
	ck_assert_int_eq(d4_weakkeys_load(b, alen, &wk), D4_EINVAL);
	ck_assert_ptr_null(wk);
	/* A modulus with a factor 3: refused as d4_weakkeys_add refuses it. */
	mpz_t t;
	mpz_init(t);
	mpz_mul_ui(t, s.m[1], 3);
	uint8_t st[13 + 10 + 80] = {'D', '4', 'W', 'K', 1, 0, 0, 0, 0, 0, 0, 0, 1};
	size_t tl = 0;
	mpz_export(st + 23, &tl, 1, 1, 1, 0, t);
	st[21] = (uint8_t)(tl >> 8);
	st[22] = (uint8_t)tl;
	ck_assert_int_eq(d4_weakkeys_load(st, 23 + tl, &wk), D4_EINVAL);
	mpz_set(t, s.m[1]);
	mpz_export(st + 23, &tl, 1, 1, 1, 0, t);
	st[21] = (uint8_t)(tl >> 8);
	st[22] = (uint8_t)tl;
	ck_assert_int_eq(d4_weakkeys_load(st, 23 + tl, &wk), 0);
	d4_weakkeys_free(wk);
	mpz_clear(t);
	ck_assert_int_eq(d4_weakkeys_load(NULL, 5, &wk), D4_EINVAL);
	ck_assert_int_eq(d4_weakkeys_load(a, alen, NULL), D4_EINVAL);
	ck_assert_int_eq(d4_weakkeys_load(a, alen, &wk), 0);
	ck_assert_uint_eq(d4_weakkeys_count(wk), 3);
	d4_weakkeys_free(wk);
	free(a);
	free(b);
	free(m);
	d4_weakkeys_free(e);
	set_free(&s);
}
END_TEST

/* A flood of one key: bounded findings, each kind as documented. */
START_TEST(flood_capped)
{
	struct set s;
	set_fill(&s, 1, 256, 9);
	set_finish(&s);
	size_t n = D4_WEAKKEYS_MAX_PAIRED + 5;
	struct d4_weakkeys_modulus *m = calloc(n + 1, sizeof(*m));
	for (size_t i = 0; i <= n; i++)
		m[i] = (struct d4_weakkeys_modulus){.id = i, .n = s.bytes[0], .len = s.len[0]};
	struct d4_weakkeys *wk = d4_weakkeys_new();
	struct recs r = {0};
	ck_assert_int_eq(d4_weakkeys_add(wk, m, n, collect, &r), (int)n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(r.v[i].kind, D4_WEAKKEYS_SHARED_UNPAIRED);
		ck_assert_uint_eq(r.v[i].other, D4_WEAKKEYS_NO_ID);
	}
	r.n = 0;
	ck_assert_int_eq(d4_weakkeys_add(wk, m + n, 1, collect, &r), D4_WEAKKEYS_MAX_PAIRED + 1);
	for (size_t i = 0; i < D4_WEAKKEYS_MAX_PAIRED; i++) {
		ck_assert_int_eq(r.v[i].kind, D4_WEAKKEYS_DUPLICATE);
		ck_assert_uint_eq(r.v[i].id, n);
	}
	ck_assert_int_eq(r.v[D4_WEAKKEYS_MAX_PAIRED].kind, D4_WEAKKEYS_SHARED_UNPAIRED);
	d4_weakkeys_free(wk);
	free(r.v);
	free(m);
	set_free(&s);
}
END_TEST

START_TEST(exponents)
{
	uint8_t e65537[] = {0x01, 0x00, 0x01}, lead[] = {0, 0, 0x01, 0x00, 0x01}, three[] = {3}, one[] = {1},
		two[] = {2}, big[] = {0x01, 0x00, 0x03}, bigeven[] = {0x01, 0x00, 0x04}, zero[] = {0, 0};
	uint8_t huge[40];
	memset(huge, 0x11, sizeof(huge));
	uint8_t nine[9] = {1, 0, 0, 0, 0, 0, 0, 0, 1};
	ck_assert_uint_eq(d4_weakkeys_exponent_check(e65537, 3), 0);
	ck_assert_uint_eq(d4_weakkeys_exponent_check(lead, 5), 0);
	ck_assert_uint_eq(d4_weakkeys_exponent_check(three, 1), D4_WEAKKEYS_E_SMALL);
	ck_assert_uint_eq(d4_weakkeys_exponent_check(one, 1), D4_WEAKKEYS_E_ONE);
	ck_assert_uint_eq(d4_weakkeys_exponent_check(two, 1), D4_WEAKKEYS_E_EVEN | D4_WEAKKEYS_E_SMALL);
	ck_assert_uint_eq(d4_weakkeys_exponent_check(big, 3), D4_WEAKKEYS_E_UNUSUAL);
	ck_assert_uint_eq(d4_weakkeys_exponent_check(bigeven, 3), D4_WEAKKEYS_E_EVEN);
	ck_assert_uint_eq(d4_weakkeys_exponent_check(zero, 2), D4_WEAKKEYS_E_ZERO);
	ck_assert_uint_eq(d4_weakkeys_exponent_check(NULL, 0), D4_WEAKKEYS_E_ZERO);
	ck_assert_uint_eq(d4_weakkeys_exponent_check(huge, sizeof(huge)), D4_WEAKKEYS_E_HUGE);
	ck_assert_uint_eq(d4_weakkeys_exponent_check(nine, sizeof(nine)), D4_WEAKKEYS_E_UNUSUAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("weakkeys");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, one_shot_planted);
	tcase_add_test(tc, incremental_equals_one_shot);
	tcase_add_test(tc, chunks_and_state);
	tcase_add_test(tc, hostile_moduli);
	tcase_add_test(tc, callback_stops);
	tcase_add_test(tc, hostile_state);
	tcase_add_test(tc, flood_capped);
	tcase_add_test(tc, exponents);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
