/* d4_tls — passive TLS handshake extraction: bounded TCP reassembly, TLS
 * record and handshake reassembly, ClientHello / ServerHello / Certificate
 * parsing, JA3, JA3S and JA4 fingerprints. Shared by d4-sensor
 * (--extract tls) and the hub (type-1 pcap frames); see docs/passivessl.md.
 *
 * Two layers:
 *  - pure parsers and fingerprint functions over (const uint8_t *, size_t):
 *    no allocation, no global state, every declared length checked before it
 *    is used; results borrow from the caller's buffer;
 *  - an extractor (struct d4_tls, opaque) fed decoded packets in capture
 *    order; it calls back once per TLS handshake seen on a TCP flow.
 *
 * The parsers are thread-safe; an extractor is used by one thread at a time
 * (one per capture or per analyzer thread).
 *
 * Only what is visible on the wire is extracted: the hellos of every
 * version, and the server's Certificate for TLS <= 1.2 (TLS 1.3 encrypts it).
 */
#ifndef D4_TLS_H
#define D4_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "d4_pkt.h"

/* Handshake message types used here. */
enum {
	D4_TLS_HS_CLIENT_HELLO = 1,
	D4_TLS_HS_SERVER_HELLO = 2,
	D4_TLS_HS_CERTIFICATE = 11,
};

/* Longest list kept per ClientHello field (ciphers, extensions, groups,
 * signature algorithms, versions); longer lists are cut and the hello is
 * flagged D4_TLS_F_CLIPPED (its fingerprints then describe the kept part). */
#define D4_TLS_LIST_MAX	 128
#define D4_TLS_ECPF_MAX	 16   /* EC point formats */
#define D4_TLS_CERTS_MAX 16   /* certificates handed out per chain */
#define D4_TLS_JA3_MAX	 4096 /* room for any JA3/JA3S string built from the kept lists */
#define D4_TLS_JA4_LEN	 36   /* "t13d1516h2_8daaf6152771_e5627efa2ab1" */
#define D4_TLS_JA4R_MAX	 2048 /* room for any JA4_r string built from the kept lists */

/* Flags of a parsed hello / handshake (bit values are stable: logged). */
enum {
	D4_TLS_F_CLIPPED = 1u << 0,	 /* a list longer than the *_MAX above was cut */
	D4_TLS_F_HRR = 1u << 1,		 /* the ServerHello is a TLS 1.3 HelloRetryRequest */
	D4_TLS_F_CERT_TRUNC = 1u << 2,	 /* the Certificate message ended early: the chain is partial */
	D4_TLS_F_CERT_CLIPPED = 1u << 3, /* more than D4_TLS_CERTS_MAX certificates */
	D4_TLS_F_TLS13 = 1u << 4,	 /* the server selected TLS 1.3 (no certificate visible) */
	D4_TLS_F_GAP = 1u << 5,		 /* bytes were missing in a direction (capture loss, limit) */
	D4_TLS_F_NO_SYN = 1u << 6,	 /* the flow was picked up without its SYN */
};

/* 1 if v is one of the 16 GREASE values of RFC 8701 (0x0a0a ... 0xfafa). */
static inline int d4_tls_is_grease(uint16_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* ---- parsers (pure) ---- */

/* A ClientHello. Lists keep the wire order, GREASE values included (the
 * fingerprint functions drop them). Pointers borrow from the parsed buffer. */
struct d4_tls_client_hello {
	uint16_t version; /* legacy_version (client_version) */
	uint16_t n_ciphers, n_exts, n_groups, n_sigalgs, n_versions;
	uint8_t n_ecpf;
	uint8_t has_sni;  /* the server_name extension is present (JA4 "d") */
	uint8_t has_alpn; /* the ALPN extension is present */
	uint32_t flags;	  /* D4_TLS_F_CLIPPED */
	uint16_t ciphers[D4_TLS_LIST_MAX];
	uint16_t exts[D4_TLS_LIST_MAX];
	uint16_t groups[D4_TLS_LIST_MAX];   /* supported_groups (10) */
	uint16_t sigalgs[D4_TLS_LIST_MAX];  /* signature_algorithms (13) */
	uint16_t versions[D4_TLS_LIST_MAX]; /* supported_versions (43) */
	uint8_t ecpf[D4_TLS_ECPF_MAX];	    /* ec_point_formats (11) */
	const uint8_t *sni; /* first host_name of server_name (not NUL-terminated, raw bytes), or NULL */
	size_t sni_len;
	const uint8_t *alpn; /* ALPN protocol_name_list without its length: (len, bytes)*, or NULL */
	size_t alpn_len;
};

/* Parses a ClientHello message body (after the 4-byte handshake header).
 * Returns 0, D4_ETRUNC (a declared length runs past the end) or D4_EPROTO
 * (inconsistent lengths, an extension block that does not add up). On error
 * *out is unspecified. Pure: *out borrows from body. */
int d4_tls_client_hello_parse(const uint8_t *body, size_t n, struct d4_tls_client_hello *out);

struct d4_tls_server_hello {
	uint16_t version;	   /* legacy_version (server_version) */
	uint16_t cipher;	   /* selected cipher suite */
	uint16_t selected_version; /* supported_versions (43), 0 when absent */
	uint16_t n_exts;
	uint32_t flags; /* D4_TLS_F_CLIPPED, D4_TLS_F_HRR */
	uint16_t exts[D4_TLS_LIST_MAX];
	const uint8_t *alpn; /* the selected protocol (bytes, not NUL-terminated), or NULL */
	size_t alpn_len;
};

/* Parses a ServerHello message body. Same contract as the ClientHello. */
int d4_tls_server_hello_parse(const uint8_t *body, size_t n, struct d4_tls_server_hello *out);

/* The version the server chose: selected_version when present, else the
 * legacy version. */
static inline uint16_t d4_tls_server_version(const struct d4_tls_server_hello *sh)
{
	return sh->selected_version ? sh->selected_version : sh->version;
}

/* One certificate of a chain: a DER slice borrowed from the message. */
struct d4_tls_cert {
	const uint8_t *der;
	size_t len;
};

/* Parses a Certificate message body; tls13 selects the TLS 1.3 layout
 * (request context, per-entry extensions). Stores up to `max` certificates
 * in wire order (the server's own first) and their number in *count.
 * A body cut short (a partial capture, a message over the buffer limit)
 * still yields every certificate that is complete: the return value is then
 * D4_ETRUNC with *count certificates valid. *flags gets D4_TLS_F_CERT_TRUNC
 * and/or D4_TLS_F_CERT_CLIPPED. Returns 0, D4_ETRUNC or D4_EPROTO. Pure. */
int d4_tls_certificate_parse(const uint8_t *body, size_t n, int tls13, struct d4_tls_cert *certs, size_t max,
			     size_t *count, uint32_t *flags);

/* ---- fingerprints (pure) ----
 * JA3 (Salesforce): "SSLVersion,Ciphers,Extensions,EllipticCurves,
 * EllipticCurvePointFormats", decimal values joined by '-', GREASE values
 * removed from ciphers, extensions and curves. JA3S: "SSLVersion,Cipher,
 * Extensions". The hash is the MD5 of the string in lowercase hex.
 * Each writes a NUL-terminated string into buf and returns its length, or
 * D4_ETOOBIG if cap is too small (D4_TLS_JA3_MAX always suffices). */
int d4_tls_ja3(const struct d4_tls_client_hello *ch, char *buf, size_t cap);
int d4_tls_ja3s(const struct d4_tls_server_hello *sh, char *buf, size_t cap);
/* MD5 of s[0..n) as 32 lowercase hex digits + NUL. Returns 0 or D4_ENOMEM. */
int d4_tls_md5_hex(const char *s, size_t n, char out[33]);

/* JA4 (FoxIO, BSD-3-Clause specification; TLS over TCP only, so the first
 * character is always 't'): writes the 36-character fingerprint + NUL into
 * out. If raw is not NULL, also writes JA4_r (the sorted lists before
 * hashing) into raw (cap rawcap; D4_TLS_JA4R_MAX always suffices).
 * Returns 0, D4_ETOOBIG (rawcap too small) or D4_ENOMEM. */
int d4_tls_ja4(const struct d4_tls_client_hello *ch, char out[D4_TLS_JA4_LEN + 1], char *raw, size_t rawcap);

/* ---- extractor ---- */

struct d4_tls_config {
	uint32_t max_flows;	/* TCP flows tracked at once (default 65536); the least recently
				 * active is evicted to make room */
	uint32_t max_dir_bytes; /* bytes buffered per direction of a flow, out-of-order segments and
				 * handshake messages together (default 256 KiB) */
	uint64_t max_bytes;	/* bytes buffered by all flows (default 256 MiB); the least recently
				 * active flows are evicted to stay under it */
	uint32_t max_segments;	/* out-of-order segments held per direction (default 64) */
	uint32_t idle_s;	/* a flow silent this long (capture time) ends (default 60) */
};

/* Fills the defaults above. */
void d4_tls_config_default(struct d4_tls_config *c);

/* Why a handshake was reported (stable values). */
enum d4_tls_end {
	D4_TLS_END_DONE = 0,	/* everything visible was seen */
	D4_TLS_END_CLOSED = 1,	/* the flow ended (FIN from both sides or RST) before that */
	D4_TLS_END_IDLE = 2,	/* idle expiry */
	D4_TLS_END_EVICTED = 3, /* evicted (flow table or memory limit) */
	/* a per-direction byte or segment limit was hit (reported as such whatever ended the flow) */
	D4_TLS_END_LIMIT = 4,
	D4_TLS_END_FLUSH = 5, /* d4_tls_flush (end of the capture) */
	D4_TLS_END_COUNT = 6
};

/* One handshake (at most one per TCP connection: the first ClientHello and
 * ServerHello). Everything is borrowed for the duration of the callback.
 * client / server are NULL when that hello was not seen (a flow ending after
 * the ClientHello, or picked up after it); the fingerprint strings are then
 * empty. */
struct d4_tls_handshake {
	uint8_t ipver;			      /* 4 or 6 */
	uint8_t client_ip[16], server_ip[16]; /* IPv4 as v4-mapped IPv6 */
	uint16_t client_port, server_port;
	uint64_t ts_first_us;  /* first packet of the flow */
	uint64_t ts_client_us; /* packet that completed the ClientHello (0: none) */
	uint64_t ts_server_us; /* packet that completed the ServerHello (0: none) */
	uint64_t ts_last_us;   /* last packet seen before the report */
	uint32_t flags;	       /* D4_TLS_F_* of the handshake and its hellos */
	uint8_t end;	       /* enum d4_tls_end */
	const struct d4_tls_client_hello *client;
	const struct d4_tls_server_hello *server;
	const char *ja3, *ja3_md5;	 /* "" without a ClientHello */
	const char *ja3s, *ja3s_md5;	 /* "" without a ServerHello */
	const char *ja4;		 /* "" without a ClientHello */
	const struct d4_tls_cert *certs; /* the server's chain in wire order (TLS <= 1.2) */
	size_t n_certs;
};

/* Returns 0 to go on, a negative D4_E* to make the feeding call return it. */
typedef int (*d4_tls_handshake_fn)(void *ud, const struct d4_tls_handshake *h);

/* Counters (monotonic). Every limit hit and every input dropped is counted. */
struct d4_tls_stats {
	uint64_t packets;	    /* packets given to d4_tls_packet / d4_tls_frame */
	uint64_t not_tcp;	    /* not TCP, or an IP fragment (not reassembled) */
	uint64_t undecodable;	    /* d4_tls_frame: the link/IP layers did not decode */
	uint64_t flows;		    /* flows created */
	uint64_t flows_no_syn;	    /* ... picked up without a SYN */
	uint64_t flows_evicted;	    /* evicted to honour max_flows */
	uint64_t flows_mem_evicted; /* evicted to honour max_bytes */
	uint64_t flows_idle;	    /* ended by idle expiry */
	uint64_t not_tls;	    /* directions whose bytes are not TLS records */
	uint64_t retrans_bytes;	    /* payload bytes already received (retransmission, overlap) */
	uint64_t ooo_segments;	    /* segments held out of order */
	uint64_t seg_limit;	    /* directions abandoned at max_segments */
	uint64_t dir_limit;	    /* directions abandoned at max_dir_bytes */
	uint64_t gaps;		    /* directions abandoned at a hole (truncated capture, lost bytes) */
	uint64_t alloc_failures;
	uint64_t hello_errors; /* ClientHello/ServerHello that did not parse */
	uint64_t cert_errors;  /* Certificate messages that did not parse completely */
	uint64_t handshakes;   /* reported */
	uint64_t by_end[D4_TLS_END_COUNT];
	uint64_t bytes_held;   /* now buffered (gauge) */
	uint64_t flows_active; /* now tracked (gauge) */
};

struct d4_tls;

/* cfg NULL: the defaults. Values of 0 take the default. NULL on allocation
 * failure. Owned by the caller: d4_tls_free. */
struct d4_tls *d4_tls_new(const struct d4_tls_config *cfg, d4_tls_handshake_fn cb, void *ud);
/* Frees every flow without reporting (NULL accepted). */
void d4_tls_free(struct d4_tls *t);

/* Feeds one decoded packet (captured at ts_us, capture order). The packet
 * and its payload are only read during the call. Returns 0 or the
 * callback's negative code. Hostile input is never an error. */
int d4_tls_packet(struct d4_tls *t, uint64_t ts_us, const struct d4_pkt *p);
/* Decodes a captured frame of link type `linktype` with d4_pkt_decode, then
 * d4_tls_packet. */
int d4_tls_frame(struct d4_tls *t, int linktype, uint64_t ts_us, const uint8_t *p, size_t n);
/* Ends the flows idle for idle_s at capture time now_us (d4_tls_packet does
 * this as time passes; call it when the capture is quiet). */
int d4_tls_expire(struct d4_tls *t, uint64_t now_us);
/* Reports every pending handshake (end D4_TLS_END_FLUSH) and drops every
 * flow: end of a capture. */
int d4_tls_flush(struct d4_tls *t);
void d4_tls_get_stats(const struct d4_tls *t, struct d4_tls_stats *out);

/* "done", "closed", "idle", "evicted", "limit", "flush". Static strings. */
const char *d4_tls_end_name(int end);

/* One JSON line (with '\n', NUL-terminated) describing h: addresses, ports,
 * timestamps, fingerprints, SNI, ALPN, versions, certificates as base64 DER.
 * Returns its length, or D4_ETOOBIG if cap is too small. */
int d4_tls_handshake_json(const struct d4_tls_handshake *h, char *buf, size_t cap);

/* ---- ja3-jl: the line format of the D4 TLS sensor ----
 * The JSON line the original D4 TLS sensor (sensor-d4-tls-fingerprinting,
 * Go) sends as type 254 with the meta header {"type":"ja3-jl"}, which D4's
 * analyzers consume (docs/passivessl.md gives its shape and sources):
 * members ServerIP, ServerPort, ClientIP, ClientPort (strings), TLSH,
 * Timestamp (RFC 3339), JA3, JA3Digest, JA3S, JA3SDigest and Certificates
 * (objects whose "Raw" is the DER in base64, "CertHash" its SHA-256).
 * d4hub's lines add lowercase members the Go format lacks (producer, ja4,
 * sni, alpn, ...), none of which matches a Go member name even ignoring case
 * (Go's decoder does), so a consumer of the original format reads them. */

/* Writes h as one ja3-jl line (with '\n', NUL-terminated) into buf.
 * Returns its length, or D4_ETOOBIG if cap is too small. */
int d4_tls_jl_write(const struct d4_tls_handshake *h, char *buf, size_t cap);

#define D4_TLS_JL_SNI_MAX  256 /* longer SNIs are cut (sni_clipped; DNS names have <= 253) */
#define D4_TLS_JL_ALPN_MAX 256 /* the server's ALPN */
#define D4_TLS_JL_TLSH_MAX 80

/* Who wrote a parsed line. */
enum { D4_TLS_JL_GO = 0, D4_TLS_JL_D4HUB = 1 };

/* A parsed ja3-jl line. Strings are NUL-terminated copies; certificates
 * point into the caller's DER buffer. Fields a line lacks are zero/empty. */
struct d4_tls_jl {
	int producer;			      /* D4_TLS_JL_D4HUB when "producer":"d4hub", else D4_TLS_JL_GO */
	uint8_t client_ipver, server_ipver;   /* 4 or 6 */
	uint8_t client_ip[16], server_ip[16]; /* IPv4 as v4-mapped IPv6 */
	uint16_t client_port, server_port;
	uint64_t ts_us; /* Timestamp, UTC microseconds since the epoch */
	char ja3[D4_TLS_JA3_MAX], ja3s[D4_TLS_JA3_MAX];
	char ja3_md5[33], ja3s_md5[33]; /* lowercase hex, or "" */
	char tlsh[D4_TLS_JL_TLSH_MAX];
	/* d4hub members (empty / 0 in Go lines) */
	char ja4[D4_TLS_JA4_LEN + 1];
	uint8_t sni[D4_TLS_JL_SNI_MAX]; /* raw bytes (the JSON \u00XX escapes decoded) */
	size_t sni_len;
	uint8_t has_sni;
	uint8_t sni_clipped; /* the SNI (or the server's ALPN) was longer than its field: cut */
	uint8_t server_alpn[D4_TLS_JL_ALPN_MAX];
	size_t server_alpn_len;
	uint16_t client_version, server_version, cipher;
	uint32_t flags; /* D4_TLS_F_* named in "flags" (unknown names ignored) */
	size_t n_certs;
	struct d4_tls_cert certs[D4_TLS_CERTS_MAX]; /* DER, in line order */
	uint8_t cert_sha256[D4_TLS_CERTS_MAX][32];  /* "CertHash" when given (has_hash) */
	uint8_t cert_has_hash[D4_TLS_CERTS_MAX];
};

/* Parses one ja3-jl record (one JSON object; trailing newlines allowed,
 * and newlines inside, as in the Go sensor's indented output) from the Go
 * sensor or from d4hub into *out. Certificates are base64-decoded into der
 * (cap dercap; n bytes always suffice) and point there; members of a
 * certificate object other than Raw and CertHash are skipped, whatever
 * their depth and size (Go writes every x509.Certificate field: big
 * integers as long JSON numbers, nested names...). Unknown top-level
 * members are skipped. Returns 0, or D4_EPROTO (not JSON, nesting deeper
 * than 16, a duplicate member, a missing or malformed address, port or
 * timestamp, a digest that is not 32 hex digits, bad base64, a CertHash
 * that is not the SHA-256 of its Raw, more than D4_TLS_CERTS_MAX
 * certificates, a fingerprint longer than its field), D4_ETOOBIG (dercap too
 * small) or D4_ENOMEM. Pure: no global state; *out is unspecified on error. */
int d4_tls_jl_parse(const uint8_t *line, size_t n, struct d4_tls_jl *out, uint8_t *der, size_t dercap);

#endif
