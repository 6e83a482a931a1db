/* The backscatter tables (hub/store/store_bs.c) are a part of the store
 * that is built on its own: while a tree does not have it, the API's
 * backscatter operations link against these stand-ins, which report the
 * tables as missing (D4_ENOTSUP, a 500 of the API). api/CMakeLists.txt adds
 * this file only when hub/store/store_bs.c does not exist. */
#include "d4_error.h"
#include "d4_store_bs.h"

int d4_store_bs_query(struct d4_store *s, const struct d4_store_bs_query *q,
		      int (*cb)(void *ctx, const struct d4_store_bs_vec *v), void *ctx, struct d4_store_bs_qresult *res)
{
	(void)s, (void)q, (void)cb, (void)ctx, (void)res;
	return D4_ENOTSUP;
}

int d4_store_bs_get(struct d4_store *s, uint64_t id, struct d4_store_bs_vec *out)
{
	(void)s, (void)id, (void)out;
	return D4_ENOTSUP;
}

int d4_store_bs_info(struct d4_store *s, struct d4_store_bs_info *out)
{
	(void)s, (void)out;
	return D4_ENOTSUP;
}

int d4_store_bs_counters_foreach(struct d4_store *s, int (*cb)(void *ctx, const struct d4_store_bs_counters *c),
				 void *ctx)
{
	(void)s, (void)cb, (void)ctx;
	return D4_ENOTSUP;
}
