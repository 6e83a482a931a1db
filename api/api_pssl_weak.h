/* d4hub API — the weak-key reports (api/h_pssl_weak.c, docs/passivessl.md
 * "Weak keys"): the findings of the hub's weak-key job, paged with sealed
 * cursors, one key's or one certificate's findings, and the job's status.
 * Private to api/. */
#ifndef D4_API_PSSL_WEAK_H
#define D4_API_PSSL_WEAK_H

#include "api_internal.h"

#include <stddef.h>
#include <stdint.h>

#define D4_API_WEAK_LIMIT_MAX	    1000u /* findings per page */
#define D4_API_WEAK_LIMIT_DEF	    100u
#define D4_API_WEAK_SCAN_MAX	    5000u /* findings looked at by one request (the rest: next_cursor) */
#define D4_API_WEAK_CERTS_LIST	    10u	  /* certificates shown per key in a list */
#define D4_API_WEAK_CERTS_DETAIL    100u  /* ... in one key's detail */
#define D4_API_WEAK_DETAIL_FINDINGS 1000u

/* GET /api/v1/pssl/weak: kind, key, cert, limit, cursor. */
void d4_h_pssl_weak_list(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
/* GET /api/v1/pssl/weak/keys/{id}: one key, its certificates and findings. */
void d4_h_pssl_weak_key(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
/* GET /api/v1/pssl/weak/certs/{sha1}: the same for a certificate's key. */
void d4_h_pssl_weak_cert(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);
/* GET /api/v1/pssl/weak/status: the job (admin). */
void d4_h_pssl_weak_status(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp);

/* Sealed paging cursor (pure, exposed for the unit tests): the store's
 * resume bytes r bound to the query (kind, key) and the clearance by an
 * HMAC keyed with a secret of this process. out: D4_API_WEAK_CURSOR_TEXT
 * bytes. 0, D4_EINVAL or D4_EIO (no random key). open: 0 with the resume
 * bytes in r (cap bytes), or D4_EINVAL (not a cursor of this query). */
#define D4_API_WEAK_CURSOR_TEXT 256u
int d4_api_weak_cursor_seal(unsigned kind, uint64_t key, uint8_t clearance, const uint8_t *r, size_t rlen,
			    char out[D4_API_WEAK_CURSOR_TEXT]);
int d4_api_weak_cursor_open(unsigned kind, uint64_t key, uint8_t clearance, const char *text, uint8_t *r, size_t cap,
			    size_t *rlen);

#endif
