/* d4hub API — sealed paging cursors, shared by the query APIs.
 *
 * A store's resume bytes only say where its key order continues, not which
 * query they belong to: handed back with another query, another clearance
 * or altered, they would resume somewhere unrelated (repeating or skipping
 * rows, or showing a row's position to a reader without clearance for it).
 * A sealed cursor is base64url (no padding, canonical) of
 *   version (1 byte) | resume bytes | HMAC-SHA-256(key, bind | len16 | resume)[:16]
 * where key is random per process (cursors do not survive a restart) and
 * bind is the caller's canonical encoding of everything the cursor is bound
 * to (query, filters, clearance), starting with a domain string so that a
 * cursor of one API is never one of another. */
#ifndef D4_API_CURSOR_H
#define D4_API_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#define D4_API_CURSOR_MAC_LEN 16u
/* text length (with the NUL) of a sealed cursor over n resume bytes */
#define D4_API_CURSOR_TEXT(n) (4u * ((1u + (n) + D4_API_CURSOR_MAC_LEN + 2u) / 3u) + 1u)

/* Writes the sealed text of resume bytes r (1..1024 bytes) into out (cap
 * bytes, at least D4_API_CURSOR_TEXT(rlen)). Borrows every argument.
 * Returns 0, D4_EINVAL (bad sizes), D4_ENOMEM or D4_EIO (no key: the RNG failed). */
int d4_api_cursor_seal(uint8_t version, const uint8_t *bind, size_t bindlen, const uint8_t *r, size_t rlen, char *out,
		       size_t cap);

/* Opens text sealed by d4_api_cursor_seal with the same version and bind:
 * copies its resume bytes into r (cap bytes) and sets *rlen. Returns 0, or
 * D4_EINVAL for anything else (not canonical base64url, another version,
 * cut, altered, or sealed for another bind or by another process). */
int d4_api_cursor_open(uint8_t version, const uint8_t *bind, size_t bindlen, const char *text, uint8_t *r, size_t cap,
		       size_t *rlen);

#endif
