/* d4_x509 — one DER X.509 certificate parsed with OpenSSL into a fixed-size
 * record: the fields the certificate store, the passive-SSL lookups and the
 * weak-key checks use (docs/passivessl.md, "Certificate parsing").
 *
 * Pure: d4_x509_parse reads (const uint8_t *, size_t) and fills a caller's
 * structure; nothing it returns needs freeing (OpenSSL's own objects live
 * and die inside the call). Thread-safe. Hostile input is refused with a
 * D4_E* code; a certificate OpenSSL decodes but whose fields are odd is
 * reported as far as it goes, with flags saying what was not.
 */
#ifndef D4_X509_H
#define D4_X509_H

#include <stddef.h>
#include <stdint.h>

#define D4_X509_DER_MAX	     (1u << 20) /* larger inputs: D4_ETOOBIG */
#define D4_X509_NAME_MAX     1024	/* subject / issuer, with the NUL */
#define D4_X509_SAN_MAX	     64		/* SANs kept; the others are only counted */
#define D4_X509_SAN_LEN	     256	/* a DNS name's bytes, with the NUL (DNS names have <= 253) */
#define D4_X509_SERIAL_MAX   64		/* serial bytes kept (RFC 5280 allows 20) */
#define D4_X509_MODULUS_MAX  2048	/* RSA modulus bytes kept: 16384 bits */
#define D4_X509_EXPONENT_MAX 64		/* RSA public exponent bytes kept */
#define D4_X509_OID_MAX	     128	/* algorithm names (a dotted OID when unnamed), with the NUL */
#define D4_X509_CURVE_MAX    64
#define D4_X509_CN_MAX	     256 /* the subject's commonName, with the NUL (ub-common-name is 64) */

/* Flags: what could not be reported as it is (stable bit values: stored). */
enum {
	D4_X509_F_SUBJECT_CLIPPED = 1u << 0,  /* subject longer than D4_X509_NAME_MAX - 1: cut */
	D4_X509_F_ISSUER_CLIPPED = 1u << 1,   /* issuer likewise */
	D4_X509_F_SAN_CLIPPED = 1u << 2,      /* more than D4_X509_SAN_MAX SANs (san_total has them all) */
	D4_X509_F_SAN_NAME_CLIPPED = 1u << 3, /* a DNS name longer than D4_X509_SAN_LEN - 1: cut */
	D4_X509_F_SAN_BAD = 1u << 4,	      /* subjectAltName present but not decodable (or twice) */
	D4_X509_F_SERIAL_CLIPPED = 1u << 5,   /* serial longer than D4_X509_SERIAL_MAX bytes: cut */
	D4_X509_F_MODULUS_CLIPPED = 1u << 6,  /* RSA modulus above 16384 bits: not copied */
	D4_X509_F_EXPONENT_CLIPPED = 1u << 7, /* RSA exponent above D4_X509_EXPONENT_MAX bytes: not copied */
	D4_X509_F_KEY_BAD = 1u << 8,	      /* the public key does not decode (type from its OID only) */
	D4_X509_F_NOT_BEFORE_BAD = 1u << 9,   /* notBefore is not a valid time (not_before is 0) */
	D4_X509_F_NOT_AFTER_BAD = 1u << 10,   /* notAfter likewise */
	D4_X509_F_NAME_BAD = 1u << 11,	      /* a name could not be printed (its string is empty) */
	D4_X509_F_BC_BAD = 1u << 12,	      /* basicConstraints present but not decodable (or twice) */
	D4_X509_F_CN_CLIPPED = 1u << 13,      /* commonName longer than D4_X509_CN_MAX - 1, or holding a NUL: cut */
};

enum d4_x509_key_type {
	D4_X509_KEY_OTHER = 0, /* key_alg names it */
	D4_X509_KEY_RSA = 1,   /* rsaEncryption and RSASSA-PSS keys */
	D4_X509_KEY_EC = 2,
	D4_X509_KEY_ED25519 = 3,
	D4_X509_KEY_DSA = 4,
};

enum { D4_X509_SAN_DNS = 1, D4_X509_SAN_IP = 2 };

struct d4_x509_san {
	uint8_t type; /* D4_X509_SAN_DNS or D4_X509_SAN_IP */
	uint16_t len; /* DNS: bytes kept; IP: 4 or 16 (another length: as found, at most 16) */
	/* DNS: the name's bytes as in the certificate (not checked, may hold any
	 * byte) followed by a NUL; IP: the address bytes in network order. */
	uint8_t value[D4_X509_SAN_LEN];
};

struct d4_x509 {
	uint32_t flags; /* D4_X509_F_* */
	uint8_t sha1[20], sha256[32];
	uint8_t spki_sha256[32]; /* SHA-256 of the SubjectPublicKeyInfo (DER) */
	long version;		 /* 0 for v1 ... 2 for v3, as encoded */
	/* RFC 4514 strings (most significant RDN last, UTF-8, special and control
	 * characters escaped), NUL-terminated, cut at a character boundary. */
	char subject[D4_X509_NAME_MAX];
	char issuer[D4_X509_NAME_MAX];
	/* The subject's last commonName (the most specific one, the one TLS
	 * clients fall back to), as UTF-8 without any escaping, NUL-terminated;
	 * has_cn 0 and "" when the subject has none or it does not decode. */
	char cn[D4_X509_CN_MAX];
	uint8_t has_cn;
	int64_t not_before, not_after;		 /* Unix seconds, UTC (negative before 1970; up to 9999-12-31) */
	char serial[2 * D4_X509_SERIAL_MAX + 2]; /* lowercase hex of the magnitude, "-" first if negative */
	char sig_alg[D4_X509_OID_MAX];		 /* e.g. "sha256WithRSAEncryption" */
	int key_type;				 /* enum d4_x509_key_type */
	char key_alg[D4_X509_OID_MAX];		 /* the key's algorithm, e.g. "rsaEncryption", "id-ecPublicKey" */
	int key_bits;				 /* OpenSSL's size in bits (Ed25519: 256); 0 when unknown */
	/* RSA: modulus and exponent, big-endian, no leading zero byte. */
	uint8_t modulus[D4_X509_MODULUS_MAX];
	size_t modulus_len;
	uint8_t exponent[D4_X509_EXPONENT_MAX];
	size_t exponent_len;
	uint64_t exponent_u64; /* the exponent when it fits in 64 bits, else 0 */
	/* EC: the named curve, e.g. "prime256v1", and its NIST name ("P-256") when it has one;
	 * empty for explicit parameters. */
	char curve[D4_X509_CURVE_MAX];
	char curve_nist[16];
	uint8_t has_bc;	  /* basicConstraints present */
	uint8_t is_ca;	  /* basicConstraints cA = TRUE */
	long pathlen;	  /* pathLenConstraint, -1 when absent */
	size_t n_san;	  /* SANs in san[] (DNS and IP only, in certificate order) */
	size_t san_total; /* DNS and IP SANs in the certificate: above n_san when clipped */
	struct d4_x509_san san[D4_X509_SAN_MAX];
};

/* Parses exactly one DER certificate der[0..len) into *out (about 21 KiB:
 * keep it off small stacks). Returns 0, or
 *   D4_EINVAL  der or out NULL;
 *   D4_ETRUNC  the input ends before the certificate's declared length (every
 *              strict prefix of a certificate gives this);
 *   D4_ETOOBIG len above D4_X509_DER_MAX;
 *   D4_EPROTO  not a certificate OpenSSL decodes, or bytes after it;
 *   D4_ENOMEM.
 * On error *out is zeroed. Ownership: nothing is kept from der; *out owns
 * every byte it holds. */
int d4_x509_parse(const uint8_t *der, size_t len, struct d4_x509 *out);

/* "other", "rsa", "ec", "ed25519", "dsa". Static strings. */
const char *d4_x509_key_type_name(int key_type);

#endif
