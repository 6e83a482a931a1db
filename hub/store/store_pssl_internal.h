/* d4hub store — passive SSL: the stored rows' codecs (store_pssl.c), shared
 * with the unit tests and the fuzz target. Layout: docs/store.md "Passive
 * SSL". Every decoder is strict (one encoding per value: what decodes
 * encodes back to the same bytes), pure over (p, n), and returns 0 or
 * D4_ECORRUPT; the pointers it fills point into p. */
#ifndef STORE_PSSL_INTERNAL_H
#define STORE_PSSL_INTERNAL_H

#include "d4_store_pssl.h"

#include <stddef.h>
#include <stdint.h>

/* The part every merged row has: times, count, TLP/org, sensors, hubs. */
struct pssl_meta {
	uint64_t first, last, count;
	uint8_t tlp, org[16], org_mixed;
	uint8_t nsens;
	uint8_t sens[D4_PSSL_SENSORS_KEEP][16];
	uint64_t sketch; /* one bit per sensor beyond the kept ones */
	uint8_t nhubs;
	uint8_t hubs[D4_PSSL_HUBS_KEEP][16];
};

/* A certificate row (its DER lives in its own table). */
struct pssl_crec {
	uint8_t parsed, is_ca, has_cn;
	uint8_t sha256[32];
	struct pssl_meta m;
	uint64_t key_id;
	uint32_t x509_flags;
	uint8_t version;
	int64_t not_before, not_after;
	const char *subject, *issuer, *serial, *sig_alg, *cn;
	size_t n_san;
	struct d4_store_pssl_san san[D4_PSSL_SAN_MAX];
};

/* A public key row. */
#define PSSL_SUBJ_KEEP 8
struct pssl_krec {
	uint8_t key_type;
	uint32_t key_bits;
	uint8_t spki[32];
	uint64_t first_seen, certs;
	uint8_t nsubj;
	uint64_t subj[PSSL_SUBJ_KEEP]; /* 64-bit hashes of the distinct subjects */
	uint64_t subj_sketch;	       /* beyond them */
	const char *key_alg, *curve;
	const uint8_t *modulus, *exponent;
	size_t modulus_len, exponent_len;
};

/* A handshake tuple row (the id is its key). */
struct pssl_trec {
	uint8_t ip[16];
	uint16_t port;
	uint64_t change_seq;
	uint8_t has_ja3, has_ja3s, has_cert, has_sni, has_ja4, sni_cut;
	uint8_t ja3[16], ja3s[16];
	const char *sni, *ja4;
	size_t sni_len, ja4_len;
	uint8_t n_chain;
	uint8_t chain[D4_PSSL_CHAIN_MAX][20]; /* chain[0] is the tuple's certificate when has_cert */
	struct pssl_meta m;
};

/* A JA3/JA3S fingerprint row. */
struct pssl_frec {
	uint64_t first, last, count;
	uint8_t tlp;
	const char *str; /* NULL: never given */
	size_t str_len;
};

/* Upper bounds of the encoders' output. */
#define PSSL_META_MAX (30u + 2u + 16u + 1u + 16u * D4_PSSL_SENSORS_KEEP + 8u + 1u + 16u * D4_PSSL_HUBS_KEEP)
#define PSSL_CREC_MAX                                                                                                  \
	(2u + 32u + PSSL_META_MAX + 10u + 5u + 1u + 20u + 5u * (3u + D4_PSSL_NAME_MAX + 1u) + 1u +                     \
	 D4_PSSL_SAN_MAX * (2u + D4_PSSL_SAN_LEN))
#define PSSL_KREC_MAX                                                                                                  \
	(2u + 5u + 32u + 20u + 1u + 8u * PSSL_SUBJ_KEEP + 9u + 2u * (3u + 128u) + 3u + D4_PSSL_MODULUS_MAX + 3u +      \
	 D4_PSSL_EXPONENT_MAX)
#define PSSL_TREC_MAX                                                                                                  \
	(2u + 16u + 2u + 10u + 32u + 3u + D4_PSSL_SNI_MAX + 1u + 2u + D4_PSSL_JA4_MAX + 1u + 1u +                      \
	 20u * D4_PSSL_CHAIN_MAX + PSSL_META_MAX)
#define PSSL_FREC_MAX (1u + 30u + 1u + 1u + 3u + D4_PSSL_JA3_STR_MAX + 1u)
#define PSSL_FIND_MAX (1u + 3u + 10u + 3u + D4_PSSL_FACTOR_MAX)
#define PSSL_CNT_MAX  (1u + 7u * 10u)

size_t store_pssl_crec_encode(const struct pssl_crec *c, uint8_t *buf);
int store_pssl_crec_decode(const uint8_t *p, size_t n, struct pssl_crec *c);
size_t store_pssl_krec_encode(const struct pssl_krec *k, uint8_t *buf);
int store_pssl_krec_decode(const uint8_t *p, size_t n, struct pssl_krec *k);
size_t store_pssl_trec_encode(const struct pssl_trec *t, uint8_t *buf);
int store_pssl_trec_decode(const uint8_t *p, size_t n, struct pssl_trec *t);
size_t store_pssl_frec_encode(const struct pssl_frec *f, uint8_t *buf);
int store_pssl_frec_decode(const uint8_t *p, size_t n, struct pssl_frec *f);
/* Findings: the key (kind || id || other) and the value. */
size_t store_pssl_find_encode(const struct d4_store_pssl_finding *f, uint8_t *buf);
int store_pssl_find_decode(const uint8_t *k, size_t kn, const uint8_t *p, size_t n, struct d4_store_pssl_finding *f);
/* Per-sensor counters (the sensor is the key's). */
size_t store_pssl_cnt_encode(const struct d4_store_pssl_counters *c, uint8_t *buf);
int store_pssl_cnt_decode(const uint8_t *p, size_t n, struct d4_store_pssl_counters *c);

/* d4_store_pssl_apply in the caller's write transaction (store_fed.c: a
 * received certs batch with its position). 0 or an error; the caller
 * aborts its transaction on error. */
#include <lmdb.h>
struct d4_store;
int store_pssl_apply_txn(struct d4_store *s, MDB_txn *txn, const struct d4_store_pssl_update *u, uint64_t *missing);
/* Received handshakes (store_pssl_fed.c): each a tuple's state as its
 * origin hub holds it, merged as what is new since the last state from
 * that origin. *stored: the handshakes that brought something new. */
int store_pssl_fed_apply_txn(struct d4_store *s, MDB_txn *txn, const struct d4_store_pssl_obs *obs, size_t n,
			     uint64_t *stored);

#endif
