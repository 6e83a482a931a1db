/* The passive-SSL tables (hub/store/store_pssl.c) are a part of the store
 * built on its own: while a tree does not have it, the passive-SSL consumer
 * and its API operations link against these stand-ins, which report the
 * tables as missing (D4_ENOTSUP: the worker then runs without the consumer,
 * the API answers 500). hub/analyze/CMakeLists.txt adds this file only when
 * hub/store/store_pssl.c does not exist. */
#include "d4_error.h"
#include "d4_store_pssl.h"

int d4_store_pssl_apply(struct d4_store *s, const struct d4_store_pssl_update *u, uint64_t *missing)
{
	(void)s, (void)u, (void)missing;
	return D4_ENOTSUP;
}

int d4_store_pssl_cert_known(struct d4_store *s, const uint8_t (*sha1s)[20], size_t n, uint8_t *known)
{
	(void)s, (void)sha1s, (void)n, (void)known;
	return D4_ENOTSUP;
}

int d4_store_pssl_cursor_get(struct d4_store *s, const char *name, uint8_t *buf, size_t cap, size_t *len)
{
	(void)s, (void)name, (void)buf, (void)cap, (void)len;
	return D4_ENOTSUP;
}

int d4_store_pssl_counters_get(struct d4_store *s, const uint8_t sensor[16], struct d4_store_pssl_counters *out)
{
	(void)s, (void)sensor, (void)out;
	return D4_ENOTSUP;
}

int d4_store_pssl_counters_foreach(struct d4_store *s, int (*cb)(void *ctx, const struct d4_store_pssl_counters *c),
				   void *ctx)
{
	(void)s, (void)cb, (void)ctx;
	return D4_ENOTSUP;
}

int d4_store_pssl_info(struct d4_store *s, struct d4_store_pssl_info *out)
{
	(void)s, (void)out;
	return D4_ENOTSUP;
}

int d4_store_pssl_expire(struct d4_store *s, uint64_t cutoff, unsigned max_per_txn, uint64_t *removed)
{
	(void)s, (void)cutoff, (void)max_per_txn, (void)removed;
	return D4_ENOTSUP;
}
