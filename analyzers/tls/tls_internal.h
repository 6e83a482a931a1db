/* d4_tls private declarations shared by its source files. */
#ifndef D4_TLS_INTERNAL_H
#define D4_TLS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Largest TLS record payload accepted (RFC 8446 5.2: 2^14 + 256 for
 * TLSCiphertext; RFC 5246 allows 2^14 + 2048). */
#define TLS_RECORD_MAX (16384 + 2048)

/* Base64 of n bytes into out (room 4*((n+2)/3)+1); returns the length. */
size_t tls_b64(const uint8_t *in, size_t n, char *out);

/* SHA-256 of p[0..n) into out; 0 or D4_ENOMEM. */
int tls_sha256(const void *p, size_t n, uint8_t out[32]);

/* The name of flag bit `bit` (D4_TLS_F_*) as written in JSON, or NULL. */
const char *tls_flag_name(unsigned bit);

#endif
