/* d4hub — small helpers shared by every module: time, hex, uuid text,
 * constant-time compare and secret wiping. */
#ifndef D4_UTIL_H
#define D4_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define D4_UUID_HEX_LEN 32 /* 32 lowercase hex digits, no dashes */

/* Wall clock in seconds / milliseconds since the epoch. */
uint64_t d4_now_s(void);
uint64_t d4_now_ms(void);
/* Monotonic clock in milliseconds (timeouts, rates). */
uint64_t d4_mono_ms(void);

/* Writes 2*n lowercase hex digits and a NUL into out (room 2*n+1). */
void d4_hex_encode(const uint8_t *in, size_t n, char *out);
/* Decodes exactly 2*n hex digits (either case); returns 0 or D4_EINVAL. */
int d4_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t n);

/* uuid text: 32 hex digits, with or without the 4 RFC 4122 dashes. */
int d4_uuid_parse(const char *s, uint8_t out[16]);
void d4_uuid_hex(const uint8_t uuid[16], char out[D4_UUID_HEX_LEN + 1]);
/* 1 if version nibble is 4 and variant is RFC 4122 (10xx). */
int d4_uuid_is_v4(const uint8_t uuid[16]);
/* Fills a fresh random v4 uuid. Returns 0 or D4_EIO. */
int d4_uuid_gen_v4(uint8_t out[16]);

/* Constant-time equality of two n-byte buffers: 1 equal, 0 different. */
int d4_ct_equal(const void *a, const void *b, size_t n);
/* Wipes a secret so that the compiler cannot elide it. */
void d4_wipe(void *p, size_t n);

/* Bounded string copy that always NUL-terminates; returns D4_ETOOBIG if cut. */
int d4_strlcpy(char *dst, const char *src, size_t size);

/* Length (1..4) of the well-formed UTF-8 sequence at s, 0 if it is not one
 * (overlong forms, surrogates and code points above U+10FFFF are not). n is
 * the number of bytes available; at most 4 are read, and a NUL (never a
 * continuation byte) ends a sequence, so NUL-terminated text may pass 4. */
size_t d4_utf8_seq(const uint8_t *s, size_t n);

/* 1 if the JSON text p[0..n) never nests arrays/objects deeper than max
 * outside strings, else 0. A cheap scan run before a JSON parser sees hostile
 * text (yajl itself accepts any depth). A closing bracket without an opener
 * also gives 0; anything else is left for the parser to judge. */
int d4_json_depth_ok(const void *p, size_t n, unsigned max);

#endif
