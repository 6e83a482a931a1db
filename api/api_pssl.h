/* d4hub API — passive-SSL queries: the parameters of the tuple and
 * certificate pivots, their sealed paging cursors, and the value parsers the
 * CIRCL-compatible operations share (api/pssl_query.c). Pure functions over
 * decoded query pairs, so that the unit tests and the fuzz target
 * (tests/fuzz/api_pssl) drive exactly what the handlers run (api/h_pssl.c).
 * docs/passivessl.md "API". Private to api/. */
#ifndef D4_API_PSSL_H
#define D4_API_PSSL_H

#include "d4_store_pssl.h"

#include <stddef.h>
#include <stdint.h>

#define D4_API_PSSL_LIMIT_MAX 1000u /* rows per page */
#define D4_API_PSSL_LIMIT_DEF 100u
#define D4_API_PSSL_MAC_LEN   16u
/* cursor bytes: version, resume, MAC; text: base64url without padding */
#define D4_API_PSSL_CURSOR_BYTES (1u + D4_PSSL_RESUME_MAX + D4_API_PSSL_MAC_LEN)
#define D4_API_PSSL_CURSOR_TEXT	 (4u * ((D4_API_PSSL_CURSOR_BYTES + 2u) / 3u) + 1u)
#define D4_API_PSSL_KEY_MAX	 D4_PSSL_MODULUS_MAX /* the largest pivot key (a modulus) */

enum d4_api_pssl_what { D4_API_PSSL_TUPLES = 0, D4_API_PSSL_CERTS = 1 };

/* A parsed list request. q.key points into key[], q.resume into resume[]
 * (after a struct copy: d4_api_pssl_fix). q.max_tlp is the caller's
 * clearance, q.limit the page size. */
struct d4_api_pssl_params {
	struct d4_store_pssl_query q;
	uint8_t key[D4_API_PSSL_KEY_MAX];
	uint8_t resume[D4_PSSL_RESUME_MAX];
};

/* Parses the n decoded query pairs of a tuple (what = D4_API_PSSL_TUPLES)
 * or certificate list for a caller of clearance max_tlp at now_s (relative
 * time fences). Unknown or repeated names, two pivots, malformed values
 * (hash length or hex, address, network, range, name), reversed ranges and
 * fences, a cursor that is not a sealed cursor of this very query and
 * clearance: D4_EINVAL with a sentence naming the parameter in err (never
 * the cursor's content). Returns 0 or D4_EINVAL. */
int d4_api_pssl_parse(enum d4_api_pssl_what what, const char *const *names, const char *const *values, unsigned n,
		      uint8_t max_tlp, uint64_t now_s, struct d4_api_pssl_params *out, char *err, size_t errsz);
/* Re-points q.key and q.resume into p's arrays (after a struct copy). */
void d4_api_pssl_fix(struct d4_api_pssl_params *p);

/* An address (IPv4 or IPv6), a network ADDR/LEN (host bits ignored) or,
 * with allow_range, a range ADDR-ADDR of one family with first <= last;
 * [lo, hi] as 16-byte addresses (IPv4 v4-mapped). s need not be
 * NUL-terminated. 0 or D4_EINVAL. */
int d4_api_pssl_parse_ip(const char *s, size_t n, int allow_range, uint8_t lo[16], uint8_t hi[16]);
/* Exactly nbytes bytes as 2 * nbytes hex digits (either case). 0 or D4_EINVAL. */
int d4_api_pssl_hex(const char *s, uint8_t *out, size_t nbytes);
/* Addresses in [lo, hi] (saturating at UINT64_MAX). */
uint64_t d4_api_pssl_span(const uint8_t lo[16], const uint8_t hi[16]);
/* An RFC 4514 name (most significant RDN last, ',' between RDNs, '\'
 * escapes) rewritten in OpenSSL's one-line order, most significant first,
 * RDNs joined by ", " (CIRCL's subjects): escapes are kept as they are.
 * out gets at most cap - 1 bytes and a NUL; returns the length written. */
size_t d4_api_pssl_name_oneline(const char *rfc4514, char *out, size_t cap);

/* The list's cursor for resume bytes r of query p (its pivot, key, filters
 * and clearance, not its limit): base64url of version || r || MAC, keyed
 * with a secret of this process. out: D4_API_PSSL_CURSOR_TEXT bytes. 0,
 * D4_EINVAL (r too long) or D4_EIO (no random key). */
int d4_api_pssl_cursor_seal(const struct d4_api_pssl_params *p, const uint8_t *r, size_t rlen, char *out);

#endif
