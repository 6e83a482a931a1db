/* The passive-SSL tables (hub/store/store_pssl.c) are a part of the store
 * built on its own: while a tree does not have them, the API's passive-SSL
 * operations link against these stand-ins, which report the tables as
 * missing (D4_ENOTSUP, a 500 of the API). api/CMakeLists.txt adds this file
 * only when hub/store/store_pssl.c does not exist. */
#include "d4_error.h"
#include "d4_store_pssl.h"

int d4_store_pssl_query(struct d4_store *s, const struct d4_store_pssl_query *q,
			int (*cb)(void *ctx, const struct d4_store_pssl_tuple *t), void *ctx,
			struct d4_store_pssl_qresult *res)
{
	(void)s, (void)q, (void)cb, (void)ctx, (void)res;
	return D4_ENOTSUP;
}

int d4_store_pssl_query_certs(struct d4_store *s, const struct d4_store_pssl_query *q,
			      int (*cb)(void *ctx, const struct d4_store_pssl_cert *c), void *ctx,
			      struct d4_store_pssl_qresult *res)
{
	(void)s, (void)q, (void)cb, (void)ctx, (void)res;
	return D4_ENOTSUP;
}

int d4_store_pssl_cert_get(struct d4_store *s, const uint8_t sha1[20], uint8_t max_tlp,
			   int (*cb)(void *ctx, const struct d4_store_pssl_cert *c), void *ctx)
{
	(void)s, (void)sha1, (void)max_tlp, (void)cb, (void)ctx;
	return D4_ENOTSUP;
}

int d4_store_pssl_fp_get(struct d4_store *s, enum d4_store_pssl_by kind, const uint8_t md5[16], uint8_t max_tlp,
			 int (*cb)(void *ctx, const struct d4_store_pssl_fp *f), void *ctx)
{
	(void)s, (void)kind, (void)md5, (void)max_tlp, (void)cb, (void)ctx;
	return D4_ENOTSUP;
}
