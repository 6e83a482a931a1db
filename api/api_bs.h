/* d4hub API — backscatter queries: the parameters of the vector list and the
 * per-day summary, and the list's paging cursors (api/bs_query.c). Pure
 * functions over the decoded query pairs, so that the unit tests and the
 * fuzz target (tests/fuzz/api_bs) drive exactly what the handlers run
 * (api/h_bs.c). docs/backscatter.md "Querying". Private to api/. */
#ifndef D4_API_BS_H
#define D4_API_BS_H

#include "d4_store_bs.h"

#include <stddef.h>
#include <stdint.h>

#define D4_API_BS_LIMIT_MAX 1000u /* vectors per page */
#define D4_API_BS_LIMIT_DEF 100u
#define D4_API_BS_DAYS_MAX  31u /* days of one summary */
#define D4_API_BS_DAYS_DEF  7u
#define D4_API_BS_TOP_MAX   100u
#define D4_API_BS_TOP_DEF   10u
#define D4_API_BS_MAC_LEN   16u
/* cursor bytes: version, resume, MAC; text: base64url without padding */
#define D4_API_BS_CURSOR_BYTES (1u + D4_STORE_BS_RESUME_MAX + D4_API_BS_MAC_LEN)
#define D4_API_BS_CURSOR_TEXT  (4u * ((D4_API_BS_CURSOR_BYTES + 2u) / 3u) + 1u)

enum d4_api_bs_what { D4_API_BS_LIST = 0, D4_API_BS_SUMMARY = 1 };

/* A parsed request. q.max_tlp is the caller's clearance (given to the
 * parser); q.resume points into resume[] when a cursor was given. Copying
 * the struct needs d4_api_bs_fix after the copy. */
struct d4_api_bs_params {
	struct d4_store_bs_query q;
	uint32_t limit;		   /* list: page size (1..D4_API_BS_LIMIT_MAX) */
	int paging;		   /* list: limit or cursor given */
	int ndjson;		   /* list: format=ndjson (or Accept, decided by the caller) */
	int format_given;	   /* list: format= present (it wins over Accept) */
	uint32_t day_from, day_to; /* summary: days since the epoch, inclusive */
	uint32_t top;		   /* summary: entries of each top list */
	uint8_t resume[D4_STORE_BS_RESUME_MAX];
};

/* Parses the n decoded query pairs of a list (what = D4_API_BS_LIST) or
 * summary request, for a caller of clearance max_tlp, at now_s (the
 * summary's default days). Unknown or repeated names, malformed values,
 * since after until, a cursor that is not a sealed cursor of this very
 * query and clearance: D4_EINVAL with a reason in err (a sentence naming
 * the parameter; never the cursor's content). Returns 0 or D4_EINVAL. */
int d4_api_bs_parse(enum d4_api_bs_what what, const char *const *names, const char *const *values, unsigned n,
		    uint8_t max_tlp, uint64_t now_s, struct d4_api_bs_params *out, char *err, size_t errsz);
/* Re-points out->q.resume into out->resume (after a struct copy). */
void d4_api_bs_fix(struct d4_api_bs_params *p);

/* A victim: an IPv4 or IPv6 address, or a CIDR (address/len, host bits
 * ignored); [lo, hi] as 16-byte addresses (IPv4 v4-mapped). s need not be
 * NUL-terminated. 0 or D4_EINVAL. */
int d4_api_bs_parse_victim(const char *s, size_t n, uint8_t lo[16], uint8_t hi[16]);
/* A time: epoch seconds (fraction up to microseconds), an ISO-8601 UTC time
 * or a date (midnight UTC), as the export's from/to. 0 or D4_EINVAL. */
int d4_api_bs_parse_time_us(const char *s, uint64_t *us);

/* The list's cursor for resume bytes r of query p (its filters and
 * clearance, not its limit or format): base64url of version || r || MAC,
 * the MAC keyed with a secret of this process (random at its first use).
 * out: D4_API_BS_CURSOR_TEXT bytes. 0, D4_EINVAL (r too long) or D4_EIO
 * when no random key could be made. */
int d4_api_bs_cursor_seal(const struct d4_api_bs_params *p, const uint8_t *r, size_t rlen, char *out);

#endif
