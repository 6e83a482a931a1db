/* d4hub store — private forms of the id-keyed passive-DNS layout
 * (docs/store.md "Id-keyed pDNS layout"): the tuple record v5 and the name
 * table value, as pure functions over bytes (store_pdns_rec.c), so that they
 * are fuzzed and unit-tested apart from LMDB. */
#ifndef D4_STORE_PDNS_INTERNAL_H
#define D4_STORE_PDNS_INTERNAL_H

#include "d4_store_pdns.h"

#include <stddef.h>
#include <stdint.h>

#define STORE_PDNS_REC_V5    5u
#define STORE_PDNS_RD_TEXT   0u /* rdata as its presentation text */
#define STORE_PDNS_RD_A	     4u /* A rdata as 4 address bytes (its text is inet_ntop's) */
#define STORE_PDNS_RD_AAAA   6u /* AAAA rdata as 16 address bytes */
#define STORE_PDNS_NAME_MAX  (D4_PDNS_STORE_NAME_MAX + 2u)
#define STORE_PDNS_SENSOR_NO 0xffffffffu /* sensor numbers: varints below this */

/* A tuple record v5, decoded. Pointers point into the decoded bytes (or,
 * for the encoder, the caller's strings); sens holds sensor numbers of the
 * store's dictionary (pdns_meta 'i'/'I'), in the order written. */
struct store_pdns_rec5 {
	const char *name;
	size_t namelen; /* 1 .. STORE_PDNS_NAME_MAX */
	uint16_t rrtype;
	uint8_t rdform; /* STORE_PDNS_RD_* */
	const char *rd; /* text form */
	size_t rdlen;
	uint8_t addr[16];  /* binary forms: the first 4 (A) or 16 (AAAA) bytes */
	const char *bw;	   /* NULL when bw_suffix or bwlen == 0 */
	size_t bwlen;	   /* 0: none */
	uint8_t bw_suffix; /* 1: the bailiwick is the name's last bwlen bytes */
	uint64_t tf, tl, count;
	uint8_t tlp;	 /* 0..7 */
	uint8_t mixed;	 /* sources disagreed on the org */
	uint8_t has_org; /* org set (never with mixed) */
	uint8_t org[16];
	uint8_t nsens; /* <= D4_PDNS_SENSORS_KEEP */
	uint32_t sens[D4_PDNS_SENSORS_KEEP];
	uint64_t sketch; /* 0: none */
	uint8_t nhubs;	 /* <= D4_PDNS_HUBS_KEEP */
	uint8_t hubs[D4_PDNS_HUBS_KEEP][16];
};

/* Bytes store_pdns_rec5_encode writes at most for r. */
size_t store_pdns_rec5_bound(const struct store_pdns_rec5 *r);
/* Encodes r (fields in range: the caller's normalised tuple) into out;
 * returns the length. The mutable fields (time_first, time_last − time_first,
 * count) are fixed 32-bit words when all three fit, so that a merge that
 * changes them rewrites the record at the same size (in place in its page). */
size_t store_pdns_rec5_encode(const struct store_pdns_rec5 *r, uint8_t *out);
/* Decodes a stored record v5 p[0..n) (untrusted). Strict: one encoding per
 * record (what the encoder writes), else D4_ECORRUPT. Strings point into p
 * and are followed by a NUL there. 0 or D4_ECORRUPT. */
int store_pdns_rec5_decode(const uint8_t *p, size_t n, struct store_pdns_rec5 *r);

/* Name table value (pdns_names, pdns_nrev): one varint of nid << 2 | uses
 * (bit 0 owner of a tuple, bit 1 name in a tuple's rdata). */
#define STORE_PDNS_USE_OWNER 1u
#define STORE_PDNS_USE_RDATA 2u
size_t store_pdns_nval_encode(uint32_t nid, uint8_t uses, uint8_t out[10]);
/* 0 or D4_ECORRUPT (not one minimal varint, nid above 2^32 − 1, no use). */
int store_pdns_nval_decode(const uint8_t *p, size_t n, uint32_t *nid, uint8_t *uses);

/* LEB128 varint, minimal, at most 10 bytes (one value, one encoding). */
size_t store_pdns_varint_put(uint8_t *b, uint64_t v);
/* Reads one; a malformed or non-minimal one fails the reader (D4_ECORRUPT). */
struct d4_reader;
uint64_t store_pdns_varint_rd(struct d4_reader *r);

#endif
