/* d4hub store — passive SSL: certificates, handshake tuples and their
 * pivots, public keys and the weak-key findings (part of the store module;
 * its own header like d4_store_pdns.h). docs/passivessl.md "Store".
 *
 * Rows:
 * - a certificate, by SHA-1 (the key CIRCL's passive SSL uses): its DER,
 *   what the hub parsed of it (struct d4_store_pssl_cert), first/last seen,
 *   sensors, TLP/org, and the id of its public key;
 * - a public key, by the SHA-256 of its SubjectPublicKeyInfo: an id
 *   (ascending from 1, in order of first sight), its type and, for RSA, its
 *   modulus and exponent; the certificates carrying it are found through
 *   the key pivot. The weak-key job reads keys in id order;
 * - a handshake tuple: (server address, server port, SNI, JA3 MD5, JA3S
 *   MD5, JA4, the server's own certificate SHA-1 — every part optional but
 *   the address) with first/last seen, count, sensors, TLP/org and the
 *   chain seen last. Every pivot over handshakes returns tuples;
 * - fingerprints: JA3 and JA3S MD5 -> the full string, first/last, count;
 * - weak-key findings (written by the hub's weak-key job) and the job's
 *   position in the key order;
 * - the consumer's cursor and per-sensor counters, written with the rows in
 *   ONE write transaction (d4_store_pssl_apply).
 *
 * TLP/org follow the pDNS rule: a row's TLP is the most restrictive of the
 * observations merged into it (NONE/UNCLEAR/out of range stored as RED,
 * fail closed), its org the sources' org while they agree (org_mixed once
 * they differ). Readers pass their clearance (max_tlp, as
 * d4_store_pdns_query.max_tlp): invisible rows are skipped, not counted.
 *
 * The store depends on neither analyzers/tls nor analyzers/x509: the caller
 * fills the parsed fields; strings are stored as given (bounded below).
 * Addresses are 16 bytes, IPv4 as v4-mapped (::ffff:a.b.c.d). */
#ifndef D4_STORE_PSSL_H
#define D4_STORE_PSSL_H

#include "d4_store.h"

#include <stddef.h>
#include <stdint.h>

#define D4_PSSL_SENSORS_KEEP 8		  /* sensor uuids kept per row (then only counted) */
#define D4_PSSL_HUBS_KEEP    4		  /* origin hubs kept per row received from partners */
#define D4_PSSL_DER_MAX	     (64u << 10)  /* bytes of one certificate's DER */
#define D4_PSSL_CHAIN_MAX    16		  /* certificates of a chain (the server's own first) */
#define D4_PSSL_SNI_MAX	     255	  /* SNI bytes (longer: stored cut, flagged) */
#define D4_PSSL_JA4_MAX	     40		  /* JA4 string bytes ("t13d1516h2_8daaf6152771_e5627efa2ab1" = 36) */
#define D4_PSSL_JA3_STR_MAX  4096	  /* bytes of a JA3/JA3S string kept (longer: cut) */
#define D4_PSSL_NAME_MAX     1024	  /* subject/issuer bytes kept (NUL excluded) */
#define D4_PSSL_SAN_MAX	     64		  /* SANs kept per certificate */
#define D4_PSSL_SAN_LEN	     255	  /* bytes of one SAN value */
#define D4_PSSL_MODULUS_MAX  2048	  /* RSA modulus bytes (16384 bits) */
#define D4_PSSL_EXPONENT_MAX 512	  /* RSA exponent bytes */
#define D4_PSSL_CURSOR_MAX   (256u << 10) /* the consumer's cursor value */
#define D4_PSSL_FACTOR_MAX   2048	  /* bytes of a finding's factor */
#define D4_PSSL_RESUME_MAX   128	  /* query resume cursor bytes */

/* ---- writing (the hub's consumer) ---- */

struct d4_store_pssl_san {
	uint8_t type; /* 1 DNS name, 2 IP address (= D4_X509_SAN_DNS / _IP) */
	uint16_t len; /* DNS: bytes (<= D4_PSSL_SAN_LEN); IP: 4 or 16 */
	const uint8_t *value;
};

/* What the hub parsed of a certificate (analyzers/x509 fields). On write
 * every pointer is borrowed for the call; on read they point into the read
 * transaction (valid during the callback only). Strings NUL-terminated. */
struct d4_store_pssl_cert {
	uint8_t sha1[20], sha256[32], spki_sha256[32];
	const uint8_t *der; /* the certificate's DER (<= D4_PSSL_DER_MAX) */
	size_t der_len;
	uint8_t parsed;		      /* 0: the DER did not parse (only sha1/sha256 and der are set) */
	uint32_t x509_flags;	      /* D4_X509_F_* as given */
	uint8_t version;	      /* 0 = v1 ... 2 = v3 */
	const char *subject, *issuer; /* RFC 4514 (<= D4_PSSL_NAME_MAX bytes) */
	int64_t not_before, not_after;
	const char *serial;	       /* lowercase hex */
	const char *sig_alg, *key_alg; /* e.g. "sha256WithRSAEncryption", "rsaEncryption" */
	uint8_t key_type;	       /* enum d4_x509_key_type */
	uint32_t key_bits;
	const uint8_t *modulus; /* RSA, big-endian, no leading zero; NULL otherwise */
	size_t modulus_len;
	const uint8_t *exponent; /* RSA */
	size_t exponent_len;
	const char *curve; /* EC named curve or "" */
	uint8_t is_ca;
	const char *cn; /* the subject's last commonName, NULL when none (indexed for CERTS_BY_NAME) */
	const struct d4_store_pssl_san *san; /* n_san <= D4_PSSL_SAN_MAX, in certificate order */
	size_t n_san;
	/* read back only (ignored on write) */
	uint64_t key_id;		       /* its public key's row; 0 when unparsed */
	uint64_t first_seen, last_seen, count; /* seconds; count = handshakes carrying it */
	uint8_t tlp;
	uint8_t org[16];
	uint8_t org_mixed;
	uint8_t nsensors;
	uint8_t sensors[D4_PSSL_SENSORS_KEEP][16];
	uint32_t sensor_count;
	uint8_t nhubs;
	uint8_t hubs[D4_PSSL_HUBS_KEEP][16];
};

/* One handshake to merge. Everything borrowed for the call. The chain's
 * certificates are merged as rows of their own (first/last seen, TLP and
 * sensors of this handshake); certs[0] is the server's own certificate and
 * the tuple's certificate part. A certificate already stored needs only its
 * sha1 (der NULL): use d4_store_pssl_cert_known to parse only new ones. */
struct d4_store_pssl_obs {
	uint8_t server_ip[16];
	uint16_t server_port;
	const uint8_t *sni; /* NULL/0: none; raw bytes, lower-cased ASCII by the store */
	size_t sni_len;
	uint8_t has_ja3, has_ja3s;
	uint8_t ja3_md5[16], ja3s_md5[16];
	const char *ja3, *ja3s;			/* the full strings (NULL: unknown), stored in the fingerprint rows */
	const char *ja4;			/* NULL/"": none */
	const struct d4_store_pssl_cert *certs; /* n_certs <= D4_PSSL_CHAIN_MAX */
	size_t n_certs;
	uint64_t time_first, time_last; /* seconds; swapped when reversed */
	uint64_t count;			/* 0 counts as 1 */
	uint8_t sensor[16];
	uint8_t has_sensor;
	uint8_t tlp;	    /* enum d4_tlp, resolved */
	uint8_t org[16];    /* all-zero: none */
	uint8_t origin[16]; /* all-zero: this hub; else the partner hub that produced it */
};

/* Per-sensor counters of the consumer (deltas in apply, totals when read). */
struct d4_store_pssl_counters {
	uint8_t sensor[16];
	uint64_t frames;      /* frames read (type 1 and 254/ja3-jl) */
	uint64_t handshakes;  /* handshakes merged */
	uint64_t certs;	      /* certificates seen (chains included) */
	uint64_t certs_new;   /* ... of which first seen */
	uint64_t bad_lines;   /* ja3-jl lines refused */
	uint64_t bad_packets; /* pcap records/streams not decodable */
	uint64_t bad_certs;   /* certificates that did not parse (stored unparsed) */
};

/* One commit of the consumer. Everything borrowed for the call. */
struct d4_store_pssl_update {
	const struct d4_store_pssl_obs *obs;
	size_t nobs;
	const char *cursor_name; /* NULL: no cursor; else 1..63 bytes, e.g. "pssl/frames" */
	const uint8_t *cursor;	 /* opaque, <= D4_PSSL_CURSOR_MAX */
	size_t cursor_len;
	const struct d4_store_pssl_counters *deltas;
	size_t ndeltas;
};

/* Merges u's handshakes (their certificates, keys, fingerprints, tuples and
 * every pivot entry) and writes the cursor and counter deltas in ONE write
 * transaction: everything or nothing. A certificate given with der NULL that
 * is not stored is counted in *missing (may be NULL) and left out of the
 * tuple's chain (not an error: the caller raced a retention). Returns 0,
 * D4_EINVAL (bad sizes, bad cursor name), D4_EFULL (map full: nothing
 * applied), D4_EPERM (read-only) or a store error. Nothing is retained. */
int d4_store_pssl_apply(struct d4_store *s, const struct d4_store_pssl_update *u, uint64_t *missing);

/* known[i] = 1 when the certificate sha1s[i] (20 bytes each) is stored,
 * else 0. One read transaction. 0 or a store error. */
int d4_store_pssl_cert_known(struct d4_store *s, const uint8_t (*sha1s)[20], size_t n, uint8_t *known);

/* The consumer's cursor (0, D4_ENOTFOUND, D4_ETOOBIG) and counter totals,
 * as in d4_store_bs.h. */
int d4_store_pssl_cursor_get(struct d4_store *s, const char *name, uint8_t *buf, size_t cap, size_t *len);
int d4_store_pssl_counters_get(struct d4_store *s, const uint8_t sensor[16], struct d4_store_pssl_counters *out);
int d4_store_pssl_counters_foreach(struct d4_store *s, int (*cb)(void *ctx, const struct d4_store_pssl_counters *c),
				   void *ctx);

/* ---- reading ---- */

/* A stored handshake tuple (pointers valid during the callback only). */
struct d4_store_pssl_tuple {
	uint64_t id;	     /* stable for the tuple's life */
	uint64_t change_seq; /* of its last write */
	uint8_t server_ip[16];
	uint16_t server_port;
	const char *sni; /* NULL when none; NUL-terminated */
	size_t sni_len;
	uint8_t has_ja3, has_ja3s, has_cert;
	uint8_t ja3_md5[16], ja3s_md5[16];
	const char *ja4;  /* NULL when none */
	uint8_t cert[20]; /* the server's own certificate (has_cert) */
	uint8_t n_chain;  /* the chain seen last, server's own first (certs[0] == cert) */
	uint8_t chain[D4_PSSL_CHAIN_MAX][20];
	uint64_t time_first, time_last, count;
	uint8_t tlp;
	uint8_t org[16];
	uint8_t org_mixed;
	uint8_t nsensors;
	uint8_t sensors[D4_PSSL_SENSORS_KEEP][16];
	uint32_t sensor_count;
	uint8_t nhubs;
	uint8_t hubs[D4_PSSL_HUBS_KEEP][16];
	uint8_t sni_cut; /* 1: the SNI was longer than D4_PSSL_SNI_MAX and is stored cut */
};

enum d4_store_pssl_by {
	/* tuples */
	D4_PSSL_BY_IP = 1, /* server address in [ip_lo, ip_hi]; order (ip, port, id) */
	D4_PSSL_BY_CERT,   /* key = certificate sha1 (20): tuples whose chain holds it; order (ip, port, id) */
	D4_PSSL_BY_JA3,	   /* key = JA3 MD5 (16) */
	D4_PSSL_BY_JA3S,   /* key = JA3S MD5 (16) */
	D4_PSSL_BY_JA4,	   /* key = JA4 string */
	D4_PSSL_BY_SNI,	   /* key = SNI (lower-cased by the store) */
	D4_PSSL_BY_RECENT, /* no key: every tuple, last write first (change_seq descending) */
	/* certificates */
	D4_PSSL_CERTS_BY_SPKI = 32, /* key = SPKI SHA-256 (32) */
	D4_PSSL_CERTS_BY_KEY,	    /* key = key id (u64 big-endian, 8) */
	D4_PSSL_CERTS_BY_MODULUS,   /* key = the RSA modulus bytes (no leading zero) */
	D4_PSSL_CERTS_BY_NAME,	    /* key = a DNS name: certificates with it as a DNS SAN or as cn (lower-cased) */
	D4_PSSL_CERTS_BY_NAME_LEFT, /* key = a name: SANs/CNs equal to it or below it ("*.example.com" -> "example.com")
				     */
	D4_PSSL_CERTS_BY_SHA256,    /* key = certificate SHA-256 (32) */
	D4_PSSL_CERTS_BY_ISSUER,    /* key = issuer string, exact */
	D4_PSSL_CERTS_RECENT,	    /* no key: last seen first */
};

/* A query. Time fences in seconds, 0 = unset, inclusive, on the row's
 * first/last seen as in d4_store_pdns_query. Every pivot orders its results
 * deterministically (documented in docs/passivessl.md) so paging is stable. */
struct d4_store_pssl_query {
	enum d4_store_pssl_by by;
	const uint8_t *key; /* see the enum */
	size_t key_len;
	uint8_t ip_lo[16], ip_hi[16]; /* BY_IP */
	uint8_t has_port;
	uint16_t port; /* tuple queries: only this server port */
	uint64_t first_before, first_after, last_before, last_after;
	uint8_t max_tlp;       /* the reader's clearance */
	uint32_t limit;	       /* 0 = no limit */
	const uint8_t *resume; /* NULL: from the start; else a previous result's cursor (same query) */
	size_t resume_len;
};

struct d4_store_pssl_qresult {
	uint32_t returned;
	int more; /* 1: at least one more visible row matches after the last returned */
	uint8_t resume[D4_PSSL_RESUME_MAX];
	size_t resume_len; /* valid when returned > 0 */
};

/* Tuple pivots (by < 32): cb gets each visible matching tuple; cb returns 0
 * to go on, > 0 to stop after it (counted), < 0 to abort with that value.
 * Returns 0, D4_EINVAL (bad query, a certificate pivot, a resume cursor of
 * another query) or a store error. One read transaction. */
int d4_store_pssl_query(struct d4_store *s, const struct d4_store_pssl_query *q,
			int (*cb)(void *ctx, const struct d4_store_pssl_tuple *t), void *ctx,
			struct d4_store_pssl_qresult *res);
/* Certificate pivots (by >= 32), the same way. */
int d4_store_pssl_query_certs(struct d4_store *s, const struct d4_store_pssl_query *q,
			      int (*cb)(void *ctx, const struct d4_store_pssl_cert *c), void *ctx,
			      struct d4_store_pssl_qresult *res);

/* One certificate by SHA-1, with its DER: cb called once when it is stored
 * and visible at max_tlp. 0 (cb's value when non-zero), D4_ENOTFOUND (not
 * stored, or not visible: the same answer, so existence does not leak). */
int d4_store_pssl_cert_get(struct d4_store *s, const uint8_t sha1[20], uint8_t max_tlp,
			   int (*cb)(void *ctx, const struct d4_store_pssl_cert *c), void *ctx);

/* A JA3 or JA3S fingerprint row (kind 3 = JA3, 4 = JA3S, as the pivots). */
struct d4_store_pssl_fp {
	uint8_t md5[16];
	const char *str; /* the full string, NULL when never given */
	uint64_t first_seen, last_seen, count;
	uint8_t tlp;
};
int d4_store_pssl_fp_get(struct d4_store *s, enum d4_store_pssl_by kind, const uint8_t md5[16], uint8_t max_tlp,
			 int (*cb)(void *ctx, const struct d4_store_pssl_fp *f), void *ctx);

/* Tuples in change order, each at its latest write: change_seq > after,
 * ascending; cb non-zero stops (returned). For federation. *last (may be
 * NULL) gets the highest change_seq stored. */
int d4_store_pssl_changes(struct d4_store *s, uint64_t after, int (*cb)(void *ctx, const struct d4_store_pssl_tuple *t),
			  void *ctx, uint64_t *last);

/* ---- public keys and the weak-key job ---- */

struct d4_store_pssl_key {
	uint64_t id;
	uint8_t spki_sha256[32];
	uint8_t key_type;
	uint32_t key_bits;
	const uint8_t *modulus; /* RSA; NULL otherwise */
	size_t modulus_len;
	const uint8_t *exponent;
	size_t exponent_len;
	uint64_t first_seen;
	uint64_t certs;	   /* certificates carrying it */
	uint64_t subjects; /* distinct subjects among them (saturating, an estimate beyond 8) */
};
/* Keys with id > after in id order, at most max (0 = all); cb non-zero stops. */
int d4_store_pssl_keys_after(struct d4_store *s, uint64_t after, uint64_t max,
			     int (*cb)(void *ctx, const struct d4_store_pssl_key *k), void *ctx);
int d4_store_pssl_key_get(struct d4_store *s, uint64_t id, int (*cb)(void *ctx, const struct d4_store_pssl_key *k),
			  void *ctx);

/* A finding of the weak-key job. kind: the job's own numbering (enum
 * d4_weakkeys_kind values, and job-level kinds above 32, e.g. a key shared
 * by unrelated subjects); other = 0 when none. */
struct d4_store_pssl_finding {
	uint8_t kind;
	uint64_t id, other;    /* key ids */
	uint16_t reason;       /* kind-specific (invalid: which check; exponent: flags) */
	const uint8_t *factor; /* NULL/0 when none; <= D4_PSSL_FACTOR_MAX */
	size_t factor_len;
	uint64_t found_s; /* read back: when it was written */
};
/* Writes findings (upsert by (kind, id, other)) and the job's position
 * (the highest key id it has processed) in ONE write transaction. */
int d4_store_pssl_weak_apply(struct d4_store *s, const struct d4_store_pssl_finding *f, size_t n, uint64_t position);
int d4_store_pssl_weak_position(struct d4_store *s, uint64_t *position);
/* Findings, kind 0 = every kind, in (kind, id, other) order; for one key
 * (id != 0) the findings naming it as id or other. Paging as the queries
 * (limit, resume, res). Visibility is the caller's: a finding is shown when
 * a certificate carrying its key is visible (CERTS_BY_KEY). */
int d4_store_pssl_weak_query(struct d4_store *s, uint8_t kind, uint64_t id, uint32_t limit, const uint8_t *resume,
			     size_t resume_len, int (*cb)(void *ctx, const struct d4_store_pssl_finding *f), void *ctx,
			     struct d4_store_pssl_qresult *res);

/* ---- housekeeping ---- */

struct d4_store_pssl_info {
	uint64_t certs, tuples, keys, rsa_keys, findings, fingerprints;
	uint64_t bytes;	     /* pages of the passive-SSL tables x page size */
	uint64_t change_seq; /* highest */
	uint64_t weak_position;
};
int d4_store_pssl_info(struct d4_store *s, struct d4_store_pssl_info *out);

/* Removes tuples whose time_last < cutoff (and their pivot entries), in
 * write transactions of at most max_per_txn (0 = 10,000). Certificates,
 * keys and findings are kept (the weak-key set needs every key). */
int d4_store_pssl_expire(struct d4_store *s, uint64_t cutoff, unsigned max_per_txn, uint64_t *removed);

#endif
