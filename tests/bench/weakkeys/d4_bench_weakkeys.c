/* Batch-GCD benchmark: the time to check N 2048-bit moduli for shared primes
 * in one run of d4_weakkeys_add, then the time to check a further batch of
 * new moduli against that set (the hub's steady state), with the peak RSS
 * and the load average. The moduli are made with GMP from a seed (products
 * of PRIMES random primes, exactly 2048 bits; 8 primes of ~256 bits by
 * default because 2 primes of 1024 bits take about 8x longer to make, and
 * the batch GCD's cost depends on the moduli's size, not on how many primes
 * they hold), with PLANT pairs sharing a prime, and cached in DIR so that a
 * second run skips the generation; its time is printed apart.
 *
 *   d4-bench-weakkeys DIR [N] [NEW] [PRIMES] [SEED]
 */
#include "d4_weakkeys.h"

#include <gmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BYTES 256 /* 2048 bits */
#define PLANT 10

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void load(char *out, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "r");
	out[0] = 0;
	if (f) {
		if (!fgets(out, (int)len, f))
			out[0] = 0;
		fclose(f);
	}
	out[strcspn(out, "\n")] = 0;
}

/* One modulus of exactly 2048 bits: k-1 random primes of 256 bits, and a last
 * prime chosen so that the product lands in [2^2047, 2^2048). */
static void modulus(mpz_t m, gmp_randstate_t r, int k, mpz_t first_prime)
{
	mpz_t p, t;
	mpz_inits(p, t, NULL);
	unsigned pbits = 2048 / (unsigned)k;
	mpz_set_ui(m, 1);
	for (int i = 0; i < k - 1; i++) {
		mpz_urandomb(p, r, pbits);
		mpz_setbit(p, pbits - 1);
		mpz_nextprime(p, p);
		if (i == 0 && first_prime)
			mpz_set(first_prime, p);
		mpz_mul(m, m, p);
	}
	mpz_set_ui(t, 0);
	mpz_setbit(t, 2047);
	mpz_cdiv_q(t, t, m); /* smallest q with q*m >= 2^2047 */
	mpz_urandomm(p, r, t);
	mpz_tdiv_q_2exp(p, p, 1);
	mpz_add(p, p, t);
	mpz_nextprime(p, p);
	mpz_mul(m, m, p);
	if (mpz_sizeinbase(m, 2) != 2048) {
		fprintf(stderr, "bench: a modulus of %zu bits\n", mpz_sizeinbase(m, 2));
		exit(1);
	}
	mpz_clears(p, t, NULL);
}

/* Generates n moduli (the first PLANT pairs sharing a prime: modulus 2i+1's
 * first prime is modulus 2i's), or reads them from the cache file. */
static uint8_t *moduli(const char *dir, size_t n, int k, unsigned long seed, double *gen_s)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/moduli-%zu-%d-%lu.bin", dir, n, k, seed);
	uint8_t *buf = malloc(n * BYTES);
	if (!buf)
		exit(1);
	FILE *f = fopen(path, "rb");
	if (f) {
		size_t got = fread(buf, BYTES, n, f);
		fclose(f);
		if (got == n) {
			*gen_s = -1;
			return buf;
		}
	}
	double t0 = now();
	gmp_randstate_t r;
	gmp_randinit_default(r);
	gmp_randseed_ui(r, seed);
	mpz_t m, p0, p1;
	mpz_inits(m, p0, p1, NULL);
	for (size_t i = 0; i < n; i++) {
		if (i < 2 * PLANT && (i & 1)) {
			/* The same first prime as the previous modulus: replace one. */
			modulus(m, r, k, p1);
			mpz_divexact(m, m, p1);
			mpz_mul(m, m, p0);
			if (mpz_sizeinbase(m, 2) != 2048) {
				i--;
				continue;
			}
		} else {
			modulus(m, r, k, p0);
		}
		size_t len = 0;
		memset(buf + i * BYTES, 0, BYTES);
		mpz_export(buf + i * BYTES, &len, 1, 1, 1, 0, m);
	}
	mpz_clears(m, p0, p1, NULL);
	gmp_randclear(r);
	*gen_s = now() - t0;
	f = fopen(path, "wb");
	if (f) {
		if (fwrite(buf, BYTES, n, f) != n)
			fprintf(stderr, "bench: could not cache %s\n", path);
		fclose(f);
	}
	return buf;
}

static int count_cb(const struct d4_weakkeys_finding *f, void *ud)
{
	size_t *c = ud;
	c[f->kind]++;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [N] [NEW] [PRIMES] [SEED]\n", argv[0]);
		return 2;
	}
	size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
	size_t nnew = argc > 3 ? strtoul(argv[3], NULL, 10) : 1000;
	int k = argc > 4 ? atoi(argv[4]) : 8;
	unsigned long seed = argc > 5 ? strtoul(argv[5], NULL, 10) : 1;
	if (n < 2 * PLANT || k < 2 || k > 8) {
		fprintf(stderr, "bench: N >= %d, 2 <= PRIMES <= 8\n", 2 * PLANT);
		return 2;
	}
	/* Each line as soon as it is known: a long run is watched through a pipe. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	char la[128];
	load(la, sizeof(la));
	printf("# load before: %s\n", la);
	double gen_s = 0;
	/* The new batch comes from another seed: it shares nothing with the old
	 * set, and its own PLANT pairs are found within it. */
	uint8_t *old = moduli(argv[1], n, k, seed, &gen_s);
	double gen2_s = 0;
	uint8_t *nw = nnew ? moduli(argv[1], nnew, k, seed + 1000003, &gen2_s) : NULL;
	if (gen_s >= 0)
		printf("generation: %zu moduli (%d primes each) in %.1f s\n", n, k, gen_s);
	else
		printf("generation: %zu moduli read from the cache\n", n);
	struct d4_weakkeys_modulus *m = malloc((n + nnew) * sizeof(*m));
	for (size_t i = 0; i < n; i++)
		m[i] = (struct d4_weakkeys_modulus){.id = i, .n = old + i * BYTES, .len = BYTES};
	for (size_t i = 0; i < nnew; i++)
		m[n + i] = (struct d4_weakkeys_modulus){.id = n + i, .n = nw + i * BYTES, .len = BYTES};

	struct d4_weakkeys *wk = d4_weakkeys_new();
	size_t c[8] = {0};
	double t0 = now();
	int rc = d4_weakkeys_add(wk, m, n, count_cb, c);
	double one_s = now() - t0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	load(la, sizeof(la));
	printf("batch gcd: %zu moduli of 2048 bits in %.1f s (%d findings: %zu shared, %zu duplicate, "
	       "%zu small-factor, %zu invalid; %d planted), peak RSS %ld MiB, load %s\n",
	       n, one_s, rc, c[D4_WEAKKEYS_SHARED], c[D4_WEAKKEYS_DUPLICATE], c[D4_WEAKKEYS_SMALL_FACTOR],
	       c[D4_WEAKKEYS_INVALID], PLANT, ru.ru_maxrss / 1024, la);
	if (rc != PLANT || c[D4_WEAKKEYS_SHARED] != PLANT)
		fprintf(stderr, "bench: expected exactly %d shared pairs\n", PLANT);
	if (nnew) {
		memset(c, 0, sizeof(c));
		t0 = now();
		rc = d4_weakkeys_add(wk, m + n, nnew, count_cb, c);
		double inc_s = now() - t0;
		getrusage(RUSAGE_SELF, &ru);
		load(la, sizeof(la));
		printf("incremental: %zu new moduli against %zu in %.2f s (%d findings), peak RSS %ld MiB, load %s\n",
		       nnew, n, inc_s, rc, ru.ru_maxrss / 1024, la);
	}
	uint8_t *state = NULL;
	size_t slen = 0;
	t0 = now();
	d4_weakkeys_save(wk, &state, &slen);
	double save_s = now() - t0;
	struct d4_weakkeys *back = NULL;
	t0 = now();
	rc = d4_weakkeys_load(state, slen, &back);
	printf("state: %zu bytes, saved in %.2f s, loaded (chunk products rebuilt) in %.2f s (rc %d)\n", slen, save_s,
	       now() - t0, rc);
	d4_weakkeys_free(back);
	free(state);
	d4_weakkeys_free(wk);
	free(m);
	free(old);
	free(nw);
	return 0;
}
