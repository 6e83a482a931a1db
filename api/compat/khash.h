/* d4hub — a stand-in for klib's khash.h, which <h2o/http2_internal.h>
 * (h2o 2.2.5) includes but Debian's libh2o-dev does not ship.
 *
 * Only api/guard.c includes it, to read h2o's HTTP/2 connection: the
 * table type must have khash's layout (n_buckets, size, n_occupied,
 * upper_bound, flags, keys, vals; two flag bits per bucket, "empty" and
 * "deleted"), which is the same in every khash 0.2.x. Lookups scan the
 * buckets instead of probing, so they do not depend on the hash function
 * or the probing order h2o was built with. Read-only: nothing here ever
 * inserts or deletes (h2o does that in its own code). */
#ifndef D4_COMPAT_KHASH_H
#define D4_COMPAT_KHASH_H

#include <stdint.h>

typedef uint32_t khint32_t;
typedef uint64_t khint64_t;
typedef khint32_t khint_t;
typedef khint_t khiter_t;

#define d4_kh_iseither(flag, i) ((flag[(i) >> 4] >> (((i)&0xfU) << 1)) & 3)

#define KHASH_MAP_INIT_INT64(name, khval_t)                                                                            \
	typedef struct kh_##name##_s {                                                                                 \
		khint_t n_buckets, size, n_occupied, upper_bound;                                                      \
		khint32_t *flags;                                                                                      \
		khint64_t *keys;                                                                                       \
		khval_t *vals;                                                                                         \
	} kh_##name##_t;                                                                                               \
	static inline khint_t kh_get_##name(const kh_##name##_t *h, khint64_t key)                                     \
	{                                                                                                              \
		for (khint_t i = 0; i < h->n_buckets; i++)                                                             \
			if (!d4_kh_iseither(h->flags, i) && h->keys[i] == key)                                         \
				return i;                                                                              \
		return h->n_buckets;                                                                                   \
	}

#define khash_t(name)	   kh_##name##_t
#define kh_get(name, h, k) kh_get_##name(h, k)
#define kh_end(h)	   ((h)->n_buckets)
#define kh_val(h, x)	   ((h)->vals[x])

#endif
