/* d4hub — weak RSA keys: shared primes found by an incremental batch GCD,
 * small factors, weak public exponents (docs/passivessl.md, "Weak keys").
 *
 * Pure computation over GMP, no I/O and no threads: the hub runs it in the
 * background and keeps its state (d4_weakkeys_save/_load) in the store.
 * Moduli are unsigned big-endian byte strings (leading zero bytes allowed),
 * each with a caller-chosen 64-bit id (the hub's certificate or key row);
 * findings name moduli by that id. A d4_weakkeys is not thread-safe: one
 * thread at a time. */
#ifndef D4_WEAKKEYS_H
#define D4_WEAKKEYS_H

#include <stddef.h>
#include <stdint.h>

/* Accepted modulus sizes, in significant bits. Below the minimum a modulus is
 * factorable outright and a batch GCD says nothing useful; above the maximum
 * (16384 bits, twice what any deployed RSA uses) it is hostile input. */
#define D4_WEAKKEYS_MIN_BITS 256u
#define D4_WEAKKEYS_MAX_BITS 16384u
/* Moduli kept per chunk of the old set (see d4_weakkeys_add). */
#define D4_WEAKKEYS_CHUNK 4096u
/* Above this many moduli flagged by one batch, pairs are no longer worked out
 * (each flagged modulus is still reported, with its shared factor); and a new
 * modulus is paired with at most this many moduli of the set (then one
 * SHARED_UNPAIRED finding), so that a flood of one key stays bounded. */
#define D4_WEAKKEYS_MAX_PAIRED 4096u
/* Most moduli a saved state may hold. */
#define D4_WEAKKEYS_MAX_MODULI (1u << 26)

/* No other modulus: a finding about one modulus alone. */
#define D4_WEAKKEYS_NO_ID UINT64_MAX

enum d4_weakkeys_kind {
	/* id and other share the prime(s) in factor (1 < factor < both moduli). */
	D4_WEAKKEYS_SHARED = 1,
	/* id shares factor with moduli that were not worked out (more than
	 * D4_WEAKKEYS_MAX_PAIRED flagged in one batch, or partners in the set);
	 * other = NO_ID; factor is what id shares with them (may be id itself). */
	D4_WEAKKEYS_SHARED_UNPAIRED,
	/* id and other are the same modulus (the same key in two certificates):
	 * not a shared prime, no factor is known; factor is empty. */
	D4_WEAKKEYS_DUPLICATE,
	/* id has prime factors below 2^16; factor is their product. The modulus is
	 * not added to the set (it would pair with every other such modulus). */
	D4_WEAKKEYS_SMALL_FACTOR,
	/* id is not a usable modulus (reason in d4_weakkeys_finding.reason); it is
	 * not added to the set. */
	D4_WEAKKEYS_INVALID,
};

enum d4_weakkeys_reason {
	D4_WEAKKEYS_R_NONE = 0,
	D4_WEAKKEYS_R_ZERO,	 /* 0 or empty */
	D4_WEAKKEYS_R_ONE,	 /* 1 */
	D4_WEAKKEYS_R_EVEN,	 /* even: 2 divides it */
	D4_WEAKKEYS_R_TOO_SHORT, /* below D4_WEAKKEYS_MIN_BITS */
	D4_WEAKKEYS_R_TOO_LONG,	 /* above D4_WEAKKEYS_MAX_BITS */
};

/* One finding. factor is big-endian without leading zeros; it and the
 * struct are valid only during the callback (copy what you keep). */
struct d4_weakkeys_finding {
	enum d4_weakkeys_kind kind;
	enum d4_weakkeys_reason reason; /* D4_WEAKKEYS_INVALID only */
	uint64_t id;
	uint64_t other;
	const uint8_t *factor;
	size_t factor_len;
};

/* Called once per finding; a non-zero return stops the run and is returned by
 * the caller of d4_weakkeys_add (the set is then left as before the call). */
typedef int (*d4_weakkeys_cb)(const struct d4_weakkeys_finding *f, void *ud);

/* One modulus of a batch; the bytes stay owned by the caller. */
struct d4_weakkeys_modulus {
	uint64_t id;
	const uint8_t *n;
	size_t len;
};

struct d4_weakkeys;

/* A new, empty set. Returns NULL when out of memory. Caller frees with
 * d4_weakkeys_free. */
struct d4_weakkeys *d4_weakkeys_new(void);
/* Frees the set and everything it holds; NULL is a no-op. */
void d4_weakkeys_free(struct d4_weakkeys *wk);

/* Checks a batch of moduli against each other and against every modulus
 * already in the set, reports each finding through cb, then adds the valid
 * moduli to the set. Every pair is reported once, id being the newer modulus
 * (the later one in the batch, or the batch's one against the set's). When
 * one modulus divides another (hostile input) the shared factor is the
 * smaller modulus itself. Cost: a product and remainder tree over the batch
 * (O(M(n) log n) for n moduli), plus, per chunk of the set, one reduction of
 * the chunk's product modulo the batch's product, and one remainder walk down
 * the batch's tree for the whole set; only a new modulus that shares
 * something scans the chunk(s) holding its partners. The set is never put in
 * a tree again (docs/passivessl.md). Returns the number of findings (>= 0,
 * saturating at INT32_MAX),
 * D4_ENOMEM, D4_EINVAL (wk NULL, or mods NULL with n > 0), or cb's non-zero
 * return; on any error the set is unchanged. The batch stays owned by the
 * caller. */
int d4_weakkeys_add(struct d4_weakkeys *wk, const struct d4_weakkeys_modulus *mods, size_t n, d4_weakkeys_cb cb,
		    void *ud);

/* Number of moduli in the set. */
size_t d4_weakkeys_count(const struct d4_weakkeys *wk);

/* Serialises the set into a new buffer (*out, *out_len), owned by the caller
 * (free()). The encoding is canonical: loading and saving again gives the same
 * bytes. Returns 0, D4_EINVAL or D4_ENOMEM. */
int d4_weakkeys_save(const struct d4_weakkeys *wk, uint8_t **out, size_t *out_len);

/* Parses a saved state (pure function of the bytes; the bytes stay owned by
 * the caller) into a new set *out, owned by the caller. Every modulus is
 * checked as d4_weakkeys_add would check it. Returns 0, D4_EINVAL (bad
 * magic, version, modulus or trailing bytes), D4_ETRUNC, D4_ETOOBIG or
 * D4_ENOMEM; *out is NULL on error. */
int d4_weakkeys_load(const uint8_t *p, size_t len, struct d4_weakkeys **out);

/* Public exponent policy (docs/passivessl.md): flags of a big-endian e. */
enum {
	D4_WEAKKEYS_E_ZERO = 1 << 0,	/* 0 or empty: not a key */
	D4_WEAKKEYS_E_ONE = 1 << 1,	/* 1: encryption is the identity */
	D4_WEAKKEYS_E_EVEN = 1 << 2,	/* even: not invertible, no RSA key */
	D4_WEAKKEYS_E_SMALL = 1 << 3,	/* 1 < e < 65537, e.g. 3: low-exponent attacks */
	D4_WEAKKEYS_E_UNUSUAL = 1 << 4, /* odd, > 65537 but not 65537: legal, but unusual */
	D4_WEAKKEYS_E_HUGE = 1 << 5,	/* above 2^256: hostile or a swapped d/e */
};
/* Returns 0 for e = 65537 (or any leading-zero form of it), else a mask of
 * D4_WEAKKEYS_E_* flags. Pure; the bytes stay owned by the caller. */
unsigned d4_weakkeys_exponent_check(const uint8_t *e, size_t len);

/* Name of a kind / reason for logs and the API ("shared", "invalid"...);
 * static strings, never NULL. */
const char *d4_weakkeys_kind_name(enum d4_weakkeys_kind kind);
const char *d4_weakkeys_reason_name(enum d4_weakkeys_reason reason);

#endif
