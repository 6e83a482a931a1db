/* d4hub — federation: the one egress policy (DESIGN.md §5, §6).
 *
 * Every record that leaves the hub towards another hub -- push, pull and
 * every later path (relay, upstream) -- passes d4_fed_decide(). The
 * function is pure: it reads the hub's identity, the partner, the partner's
 * outbound rule for the record's kind and the record's provenance, and
 * returns release / release-stripped / refuse with a reason of stable name.
 * Hard rules (the TLP table of docs/federation.md) are applied first,
 * whatever the rule says; then the partner's rule. TLP levels are compared
 * only through hub/policy (d4_policy_tlp_visible, d4_policy_tlp_max).
 *
 * Dependencies: hub/common, hub/policy, hub/store. No library in hub/
 * depends on this one; the executables and api/ use it. */
#ifndef D4_FEDERATION_H
#define D4_FEDERATION_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "d4_policy.h"
#include "d4_store_bs.h"
#include "d4_store_fed.h"
#include "d4_store_partner.h"
#include "d4_store_pssl.h"

/* What the partner is to this hub. Values are stored (partners table):
 * never renumber. */
enum d4_fed_relation {
	D4_FED_REL_NONE = 0,	  /* invalid: every record is refused */
	D4_FED_REL_SAME_ORG = 1,  /* a hub of this hub's organisation */
	D4_FED_REL_PARTNER = 2,	  /* a bilateral partner (may be allowed amber) */
	D4_FED_REL_COMMUNITY = 3, /* a member of the configured community */
	D4_FED_REL_PUBLIC = 4	  /* a public server (upstream): tlp:clear only */
};

/* Kinds of data a rule covers. Stored: never renumber. */
enum d4_fed_kind {
	D4_FED_KIND_FRAMES = 0,	     /* raw D4 frames, by type and extended type */
	D4_FED_KIND_PDNS = 1,	     /* passive-DNS tuples */
	D4_FED_KIND_BACKSCATTER = 2, /* backscatter attack vectors (hub/store/d4_store_bs.h) */
	D4_FED_KIND_CERTS = 3,	     /* passive-SSL handshake tuples with their chains (hub/store/d4_store_pssl.h) */
	D4_FED_KIND_COUNT = 4
};

enum d4_fed_decision {
	D4_FED_REFUSE = 0,
	D4_FED_RELEASE = 1,
	D4_FED_RELEASE_STRIPPED = 2 /* content only: org, sensors, hub path removed */
};

/* Why. The names (d4_fed_reason_name) are part of the API and of /metrics:
 * never rename, only append. */
enum d4_fed_reason {
	D4_FED_R_RELEASED = 0,		 /* "released" */
	D4_FED_R_EX_CHR_STRIPPED,	 /* "ex-chr-stripped" */
	D4_FED_R_INVALID,		 /* "invalid": bad arguments, fail closed */
	D4_FED_R_PARTNER_DISABLED,	 /* "partner-disabled" */
	D4_FED_R_TLP_RED,		 /* "tlp-red" */
	D4_FED_R_NO_SYNC,		 /* "should-not-sync" */
	D4_FED_R_LOOP_ORIGIN,		 /* "loop-origin": partner is the origin */
	D4_FED_R_LOOP_VIA,		 /* "loop-via": partner is on the path */
	D4_FED_R_STRIPPED_NO_RELAY,	 /* "stripped-no-relay" */
	D4_FED_R_AMBER_STRICT_OTHER_ORG, /* "amber-strict-other-org" */
	D4_FED_R_AMBER_NOT_ALLOWED,	 /* "amber-not-allowed" */
	D4_FED_R_NOT_COMMUNITY,		 /* "not-community" (green, ex:chr to public) */
	D4_FED_R_KIND_NOT_SHARED,	 /* "kind-not-shared" */
	D4_FED_R_ABOVE_MAX_TLP,		 /* "above-max-tlp" */
	D4_FED_R_RELAY_NOT_ALLOWED,	 /* "relay-not-allowed" */
	D4_FED_R_SENSOR,		 /* "sensor-filtered" */
	D4_FED_R_TYPE,			 /* "type-filtered" */
	D4_FED_R_EXT_TYPE,		 /* "ext-type-filtered" */
	D4_FED_R_ORG,			 /* "org-filtered" */
	D4_FED_R_ZONE,			 /* "zone-filtered" */
	D4_FED_R_RRTYPE,		 /* "rrtype-filtered" */
	D4_FED_R_RDATA_NET,		 /* "rdata-filtered" */
	D4_FED_R_RDATA_PRIVATE,		 /* "rdata-private" */
	D4_FED_R_TOO_BIG,		 /* "too-big": larger than a batch may be (the source) */
	/* mixing (the rule's mix, docs/federation.md "Mixing before sharing") */
	D4_FED_R_MIX_THRESHOLD,	   /* "mix-below-threshold": pdns seen by < k sensors and < n times */
	D4_FED_R_MIX_PACKETS,	   /* "mix-below-packets": a vector of fewer packets */
	D4_FED_R_MIX_DURATION,	   /* "mix-below-duration": a vector shorter than the rule's minimum */
	D4_FED_R_RRNAME_PRIVATE,   /* "rrname-private": the reverse name of a private or own address */
	D4_FED_R_OWN_NETWORK,	   /* "own-network": an address in the hub's own networks */
	D4_FED_R_ORIGIN_NO_ONWARD, /* "origin-no-onward": the origin did not allow relaying it further */
	/* certs (docs/federation.md "Certificates") */
	D4_FED_R_ADDR_NET,     /* "address-filtered": the server address is denied, or not in the allowed nets */
	D4_FED_R_ADDR_PRIVATE, /* "address-private": a private or own server address no allow entry names */
	D4_FED_R_COUNT
};

#define D4_FED_VIA_MAX 16 /* hubs a record may have passed through */

/* The partner's outbound rule for one kind is struct d4_partner_rule and
 * its networks struct d4_partner_net (hub/store/d4_store_partner.h: the
 * store keeps them; this library reads them). */
_Static_assert(D4_FED_KIND_COUNT == D4_PARTNER_KINDS, "one stored rule per kind");
_Static_assert(D4_FED_REL_PUBLIC == D4_PARTNER_RELATION_MAX, "stored relations");

/* This hub. default_tlp is what a record without a real level counts as
 * (hub.default_tlp; a value that is not a real level counts as tlp:red). */
struct d4_fed_self {
	uint8_t hub[16];
	uint8_t org[16];
	enum d4_tlp default_tlp;
	/* the hub's own networks ([federation] own_networks): A/AAAA rdata and
	 * reverse names in them never leave unless a rule names them, like the
	 * private ranges. Borrowed; NULL/0 = none. */
	const struct d4_partner_net *own_nets;
	unsigned n_own_nets;
	/* the hub's signing key (64 bytes, d4_fed_sign_keypair; borrowed, lives
	 * as long as this struct is used); NULL: this hub's records go unsigned */
	const uint8_t *sign_sk;
};

/* The partner as the policy sees it (identity checked at the TLS layer). */
struct d4_fed_partner {
	uint8_t hub[16]; /* expected hub uuid */
	uint8_t org[16]; /* expected org uuid */
	enum d4_fed_relation relation;
	int enabled;
};

/* One record's provenance and, for pDNS, its tuple. Every pointer is
 * borrowed for the duration of the call; absent fields are NULL / 0. */
struct d4_fed_record {
	enum d4_fed_kind kind;
	enum d4_tlp tlp;	 /* stored, resolved level */
	int no_sync;		 /* misp:should-not-sync seen at ingest */
	const char (*tags)[128]; /* tags as stored; re-read, fail closed */
	unsigned ntags;
	int has_org;
	uint8_t org[16];	      /* misp:org; absent = this hub's org */
	const uint8_t (*sensors)[16]; /* the sensor (frames) or sensor set (pdns) */
	unsigned nsensors;
	uint8_t type;	      /* D4 type (frames) */
	const char *ext_type; /* extended type (frames), NULL if none */
	int stripped;	      /* arrived stripped (ex:chr): origin unknown */
	int has_origin;	      /* 0: this hub is the origin */
	uint8_t origin[16];
	const uint8_t (*via)[16]; /* hubs it came through, oldest first */
	unsigned nvia;
	int onward;	    /* from another hub: its origin allowed relaying it further (signed, checked on receipt) */
	const char *rrname; /* pdns */
	uint16_t rrtype;
	const char *rdata;
	/* What this hub has seen of the record, for the rule's mix thresholds
	 * (filled by the source; the dry run takes them as given). */
	uint64_t seen_count;   /* pdns: the hub's count of the tuple */
	uint32_t seen_sensors; /* pdns: distinct sensors that saw it */
	uint64_t packets;      /* backscatter: packets of the vector */
	uint64_t duration_s;   /* backscatter: last - first, seconds */
	/* certs: the server's address (16 bytes, IPv4 as v4-mapped), the SNI
	 * and the server certificate's DNS names (its dNSName SANs and its
	 * subject's commonName), NUL-terminated */
	const uint8_t *server_ip;
	const char *sni;
	const char *const *names;
	unsigned nnames;
};

struct d4_fed_verdict {
	enum d4_fed_decision decision;
	enum d4_fed_reason reason;
	enum d4_tlp level; /* the level the decision was made on */
};

/* THE egress decision. rule is the partner's outbound rule for rec->kind
 * (NULL: the kind is not shared). Fills *out and returns out->decision.
 * Never fails open: a NULL or inconsistent argument is a refusal with
 * reason "invalid". Pure and thread-safe; everything is borrowed. */
enum d4_fed_decision d4_fed_decide(const struct d4_fed_self *self, const struct d4_fed_partner *partner,
				   const struct d4_partner_rule *rule, const struct d4_fed_record *rec,
				   struct d4_fed_verdict *out);

/* The provenance a released record carries to the partner: what a
 * serializer writes, and nothing else. For RELEASE: org (the record's, else
 * this hub's), sensors, origin (the record's, else this hub) and via (the
 * record's path followed by this hub). For RELEASE_STRIPPED: no org, no
 * sensors, no origin, no via, stripped = 1. For REFUSE: all empty.
 * via points into rec or at self; borrowed like them. */
struct d4_fed_out {
	int stripped;
	int has_org;
	uint8_t org[16];
	const uint8_t (*sensors)[16];
	unsigned nsensors;
	int has_origin;
	uint8_t origin[16];
	const uint8_t (*via)[16]; /* rec->via, or NULL */
	unsigned nvia;
	int append_self; /* 1: this hub's uuid follows via on the wire */
};
void d4_fed_outgoing(const struct d4_fed_self *self, const struct d4_fed_record *rec, const struct d4_fed_verdict *v,
		     struct d4_fed_out *out);

/* ---- mixing (fed_mix.c): what a rule's mix changes in what goes ----
 * The withholding is part of d4_fed_decide (reasons mix-*; rrname-private
 * and own-network whatever the mix); these are the rest of the one egress
 * path: when a record may be decided at all (the hold-back), and what a
 * released record looks like on the wire (times coarsened, sensor ids
 * replaced by the pool id). */

struct d4_fed_wrec;
/* 1 if a record seen at time seen_s (seconds; pdns: the tuple's time_last,
 * backscatter: when the vector was written) must still be held back at
 * now_s under rule (NULL or no mix: 0). */
int d4_fed_mix_held(const struct d4_partner_rule *rule, uint64_t seen_s, uint64_t now_s);
/* The pool id sensor ids are replaced with: the rule's, else one derived
 * from this hub's uuid (SHA-256, the uuid's version 4 bits set), the same
 * for every partner, never all-zero. */
void d4_fed_mix_pool(const struct d4_fed_self *self, const struct d4_partner_rule *rule, uint8_t out[16]);
/* Applies rule's mix to a released wire record of kind (in place): times
 * coarsened (pdns time_first/last, backscatter first_us/last_us rounded
 * down to a multiple of coarsen_s), sensor ids replaced by the pool id. A
 * rule without mix, another kind, or a refusal: nothing changes. */
void d4_fed_mix_apply(const struct d4_fed_self *self, const struct d4_partner_rule *rule, enum d4_fed_kind kind,
		      struct d4_fed_wrec *r);
/* Parses federation.own_networks (CIDRs or addresses, comma or blank
 * separated, at most cap) into out, *n of them. 0 or D4_EINVAL (err says
 * which entry). */
int d4_fed_nets_parse_list(const char *list, struct d4_partner_net *out, unsigned cap, unsigned *n, char *err,
			   size_t errlen);
#define D4_FED_OWN_NETS_MAX 32u

/* A new mix with the safe defaults of kind (docs/federation.md): what a
 * rule's "mix": {} means. */
void d4_fed_mix_defaults(enum d4_fed_kind kind, struct d4_partner_mix *m);

/* Decision counters of one partner, per kind and per reason. The caller
 * owns one per partner (zero it to start) and serialises access. */
struct d4_fed_counters {
	uint64_t n[D4_FED_KIND_COUNT][D4_FED_R_COUNT];
};
/* Counts v for kind (an out-of-range kind is counted as frames, never
 * dropped: the total stays exact). */
void d4_fed_count(struct d4_fed_counters *c, enum d4_fed_kind kind, const struct d4_fed_verdict *v);

/* Stable names (static strings, never NULL; "invalid" for out of range)
 * and their inverse parsers (exact, case-insensitive; -1 if unknown). */
const char *d4_fed_reason_name(enum d4_fed_reason r);
int d4_fed_reason_parse(const char *s);
const char *d4_fed_decision_name(enum d4_fed_decision d);
const char *d4_fed_relation_name(enum d4_fed_relation r);
int d4_fed_relation_parse(const char *s);
const char *d4_fed_kind_name(enum d4_fed_kind k);
int d4_fed_kind_parse(const char *s);

/* Parses "10.0.0.0/8", "2001:db8::/32" or a bare address (full prefix)
 * into *out; host bits must be zero. 0 or D4_EINVAL. */
int d4_fed_net_parse(const char *s, struct d4_partner_net *out);
/* 1 if the address text s (IPv4 or IPv6) is in a range that never leaves
 * unless a rule names it: private, loopback, link-local, CGNAT, unique
 * local, unspecified, and IPv4-mapped forms of those. 0 otherwise, -1 if s
 * is not an address. */
int d4_fed_addr_special(const char *s);

/* Writes net as "10.0.0.0/8" or "2001:db8::/32" into buf (64 bytes are
 * always enough). */
void d4_fed_net_format(const struct d4_partner_net *net, char *buf, size_t len);

/* ---- identity (fed_identity.c) ---- */

/* Checks the hub's federation certificate: cert_path (PEM, leaf first,
 * then intermediates) and key_path readable, the key matches, valid at now,
 * EKU serverAuth and clientAuth both stated, a subjectAltName URI
 * urn:uuid:<hub> naming this hub, and, with ca_path (may be NULL or ""), a
 * chain to that CA. 0, or D4_ETLS with one message per failure in err.
 * Pure apart from reading the files. */
int d4_fed_cert_check(const char *cert_path, const char *key_path, const char *ca_path, const uint8_t hub[16],
		      time_t now, char *err, size_t errlen);
/* 1 if x has a subjectAltName URI urn:uuid:<hub> (36-character form, case
 * ignored), else 0. x is borrowed. */
struct x509_st;
int d4_fed_cert_names_hub(struct x509_st *x, const uint8_t hub[16]);

/* ---- JSON (fed_json.c): the documents of the API and d4hubctl ---- */

/* The top-level member names of the two documents (NULL-terminated). */
extern const char *const d4_fed_partner_members[];
extern const char *const d4_fed_record_members[];

/* A new partner's defaults: direction push, enabled, no outbound kind
 * enabled (each rule's max_tlp tlp:clear), inbound max_tlp tlp:amber, no
 * kind accepted, no quota, no fetch. */
void d4_fed_partner_defaults(struct d4_partner *p);
/* Applies the members present in obj (a parsed Partner document) onto *p:
 * for a creation start from d4_fed_partner_defaults (name required); for
 * an update start from the stored partner (a rule object replaces only the
 * members it names; "name" may only repeat the current one). Unknown or
 * repeated members, wrong types, out-of-range values and a result that
 * d4_store_partner_check refuses are D4_EINVAL with err naming the member
 * path ("outbound.pdns.nets_allow[2]: ..."). obj is borrowed. */
int d4_fed_partner_apply_json(yajl_val obj, struct d4_partner *p, int create, char *err, size_t errlen);
/* Writes p as a Partner document: LIST the list form (identity, relation,
 * direction, enabled, outbound kinds, times), FULL with ca_pem and every
 * rule, INPUT the full form without the output-only members (has_ca,
 * created, updated): what createPartner accepts. */
enum d4_fed_json_form { D4_FED_JSON_LIST = 0, D4_FED_JSON_FULL = 1, D4_FED_JSON_INPUT = 2 };
void d4_fed_partner_json(yajl_gen g, const struct d4_partner *p, enum d4_fed_json_form form);

/* A record described in JSON for a dry run; owns what rec points to
 * (strings point into the parsed tree, which must outlive it). */
struct d4_fed_dryrun {
	struct d4_fed_record rec;
	char (*tags)[128];
	uint8_t (*sensors)[16];
	uint8_t (*via)[16];
	uint8_t server[16]; /* certs: rec.server_ip points here */
	const char **names; /* certs: into the parsed tree */
};
/* Parses a DryRunRecord document. 0, D4_EINVAL (err names the member) or
 * D4_ENOMEM. Free with d4_fed_dryrun_free in every case. */
int d4_fed_dryrun_parse(yajl_val obj, struct d4_fed_dryrun *d, char *err, size_t errlen);
void d4_fed_dryrun_free(struct d4_fed_dryrun *d);
/* Writes a DryRunResult document: the decision v on rec for the partner
 * named partner, and the provenance the record would carry
 * (d4_fed_outgoing). Everything is borrowed. */
void d4_fed_dryrun_json(yajl_gen g, const char *partner, const struct d4_fed_self *self,
			const struct d4_fed_record *rec, const struct d4_fed_verdict *v);
/* The same with the partner's rule for the record's kind (NULL: none), so
 * that the answer explains the rule's mixing too ("mix": held back, times,
 * pool id, thresholds and what was seen; null when the rule does not mix)
 * and shows the pool id as the sensors a mixed record would carry. */
void d4_fed_dryrun_json_rule(yajl_gen g, const char *partner, const struct d4_fed_self *self,
			     const struct d4_partner_rule *rule, const struct d4_fed_record *rec,
			     const struct d4_fed_verdict *v);
/* One sentence per reason for people (static); the stable name is
 * d4_fed_reason_name. */
const char *d4_fed_reason_text(enum d4_fed_reason r);

/* ---- the listener's peer mapping (fed_peer.c) ----
 * Who is at the other end of a federation connection: the client
 * certificate mapped to exactly one enabled partner (docs/federation.md
 * "The federation listener"). Reasons have stable names (log, /metrics). */
enum d4_fed_peer_reason {
	D4_FED_PEER_OK = 0,
	D4_FED_PEER_NO_CERT,	     /* no client certificate */
	D4_FED_PEER_UNKNOWN_CA,	     /* does not chain to a partner's CA (nor carries a pin) */
	D4_FED_PEER_EXPIRED,	     /* expired or not yet valid (the certificate or its chain) */
	D4_FED_PEER_NO_CLIENT_AUTH,  /* EKU clientAuth not stated */
	D4_FED_PEER_UNKNOWN_PARTNER, /* valid, but names no partner (SAN urn:uuid, pin) */
	D4_FED_PEER_DISABLED,	     /* the partner it maps to is disabled */
	D4_FED_PEER_PIN_MISMATCH,    /* the partner has a pin and the key is another */
	D4_FED_PEER_AMBIGUOUS,	     /* more than one enabled partner matches */
	D4_FED_PEER_HANDSHAKE,	     /* the TLS handshake failed otherwise */
	D4_FED_PEER_INTERNAL,	     /* cannot decide (memory, store, h2o layout): closed */
	D4_FED_PEER_COUNT
};
const char *d4_fed_peer_reason_name(enum d4_fed_peer_reason r);

/* The partners' trust anchors as the listener uses them: read from the
 * store, one entry per partner (enabled or not). Opaque; owned by the
 * caller (d4_fed_trust_free). */
struct d4_fed_trust;
/* Reads every partner from s. 0, D4_ENOMEM, store errors (a corrupt
 * partner record is skipped and counted in *skipped, may be NULL). A CA
 * bundle OpenSSL cannot read leaves that partner without a CA (then only
 * its pin, if any, can authenticate it). */
int d4_fed_trust_load(struct d4_store *s, struct d4_fed_trust **out, unsigned *skipped);
/* An empty set (NULL on allocation failure), and one partner added to it
 * (p borrowed; 0 or D4_ENOMEM): what d4_fed_trust_load does per partner. */
struct d4_fed_trust *d4_fed_trust_new(void);
int d4_fed_trust_add(struct d4_fed_trust *t, const struct d4_partner *p);
void d4_fed_trust_free(struct d4_fed_trust *t);
size_t d4_fed_trust_count(const struct d4_fed_trust *t);
/* The name of partner i (borrowed from t). */
const char *d4_fed_trust_name(const struct d4_fed_trust *t, size_t i);

/* Maps a client certificate (leaf, borrowed; chain: the untrusted
 * certificates the client sent, may be NULL) to a partner of t at time now.
 * OK with *idx set when exactly one enabled partner accepts it: its pin
 * matches, or its SAN urn:uuid is the partner's hub uuid; and it chains to
 * that partner's CA (when it has one; with a pin alone: valid now); and it
 * states EKU clientAuth; and, with a pin, carries the pinned key. Else the
 * reason of the candidate that came furthest, or for no candidate the
 * reason the chain fails against every partner's CA, else UNKNOWN_PARTNER.
 * Pure apart from OpenSSL; never fails open. */
struct stack_st_X509;
enum d4_fed_peer_reason d4_fed_peer_map(const struct d4_fed_trust *t, struct x509_st *leaf, struct stack_st_X509 *chain,
					time_t now, size_t *idx);

/* ---- the wire: batches between hubs (fed_batch.c) ----
 * A batch is what one push (POST /federation/v1/inbox/{kind}) or one pull
 * (GET /federation/v1/pull/{kind}) carries: records of one kind from one
 * sending hub, between two positions of the sender's log. Compact binary
 * framing (docs/federation.md "The batch"): every integer big-endian,
 * every length declared before its bytes and checked. At most
 * D4_FED_BATCH_MAX bytes. The batch id is (sender hub, kind, from, to). */
#define D4_FED_BATCH_MAX   (4u * 1024u * 1024u)
#define D4_FED_BATCH_MAGIC "D4FB"
#define D4_FED_BATCH_VER   2u	      /* written; version 1 (no seals) is still read */
#define D4_FED_F_STRIPPED  0x01u      /* record flag: source identity removed (tlp:ex:chr) */
#define D4_FED_F_SIGNED	   0x02u      /* record flag: the origin's per-record signature[64] follows via (version 1) */
#define D4_FED_F_ONWARD	   0x04u      /* record flag: the origin allows relaying it further (signed) */
#define D4_FED_F_SEALED	   0x08u      /* record flag: its proof under one of the batch's seals follows via */
#define D4_FED_SEALS_MAX   4096u      /* seals in one batch */
#define D4_FED_LEAVES_MAX  (1u << 17) /* records under one seal (more than a 4 MiB batch holds) */
#define D4_FED_PATH_MAX	   17u	      /* hashes in a record's path: log2 of D4_FED_LEAVES_MAX */
#define D4_FED_SEAL_WHOLE  0x01u      /* seal flag: all its records are in this batch, without path */
/* A stored proof (d4_fed_proof_encode): at most this many bytes. */
#define D4_FED_PROOF_MAX (1u + 16u + 4u + 32u + 64u + 4u + 1u + 32u * D4_FED_PATH_MAX)

/* A seal: the origin hub's one Ed25519 signature over the Merkle root of
 * the digests of records it sent in one batch (docs/federation.md "Signed
 * provenance"). */
struct d4_fed_seal {
	uint8_t origin[16];
	uint32_t nleaves; /* 1..D4_FED_LEAVES_MAX */
	uint8_t root[32];
	uint8_t sig[64];
	uint8_t flags; /* D4_FED_SEAL_WHOLE */
};

/* The provenance a record carries on the wire (what d4_fed_outgoing
 * released). */
struct d4_fed_wprov {
	uint8_t tlp; /* enum d4_tlp, a real level */
	uint8_t flags;
	uint8_t has_org;
	uint8_t org[16];
	uint8_t nsensors; /* 0..8 (frames: 0 or 1) */
	uint8_t sensors[8][16];
	uint8_t has_origin;
	uint8_t origin[16];
	uint8_t nvia; /* 0..D4_FED_VIA_MAX, including the sender when it appended itself */
	uint8_t via[D4_FED_VIA_MAX][16];
	/* flags & D4_FED_F_SIGNED: the origin's Ed25519 signature, and (decoded
	 * records) the digest it signs: everything of the record but via, the
	 * signature itself and the flags other than ONWARD */
	uint8_t sig[64];
	uint8_t digest[32];
	/* flags & D4_FED_F_SEALED: the seal (decoded: a copy of the batch's
	 * entry seal_idx; encoding a relayed record: the origin's seal, added
	 * to the batch's table once), the record's leaf under it and the
	 * sibling hashes from the leaf up (depth x 32 bytes: decoded, into the
	 * buffer; encoding, the caller's). The digest is computed then too. */
	struct d4_fed_seal seal;
	uint16_t seal_idx;
	uint32_t leaf;
	uint8_t depth;
	const uint8_t *path;
};

/* The content of a backscatter vector on the wire (layout version 1):
 * every field of struct d4_store_bs_vec but its provenance (in the record's
 * prov: TLP, org, sensors, origin, via) and its local bookkeeping (id,
 * change_seq, stored_s, received, sender). No telescope (destination)
 * address is in it, only their count: the record never says where a
 * telescope is. */
#define D4_FED_VEC_VER 1u
struct d4_fed_wvec {
	uint8_t victim[16]; /* IPv4 as v4-mapped IPv6 */
	uint8_t kind;	    /* enum d4_bs_kind: 1..D4_STORE_BS_KINDS-1 */
	uint8_t state;	    /* 1 ongoing, 2 closed */
	uint64_t first_us, last_us;
	uint64_t packets, bytes;
	struct {
		uint16_t port;
		uint64_t packets;
	} ports[D4_STORE_BS_TOP_PORTS];
	uint8_t n_ports;
	uint32_t ports_distinct;
	uint64_t ports_other;
	uint64_t telescope_addrs;
	uint32_t peak_ppm;
	double observed_pps, est_pps, est_peak_pps;
	uint8_t telescope_exact, est_valid, sensors_more, org_mixed; /* 0 or 1 */
	uint32_t updates;
};

/* The content of a certs record on the wire (layout version 1): one
 * passive-SSL handshake tuple as this hub stores it (d4_store_pssl_tuple)
 * with the JA3/JA3S strings and the DER of the chain seen last, the server's
 * own certificate first. Never a parsed field: the receiver parses the DER
 * itself. Pointers into the batch buffer; strings not NUL-terminated. */
#define D4_FED_CERT_VER	  1u
#define D4_FED_CERT_CHAIN D4_PSSL_CHAIN_MAX /* certificates of a record */
#define D4_FED_CERT_DER	  D4_PSSL_DER_MAX   /* bytes of one certificate */
#define D4_FED_JA3_MAX	  D4_PSSL_JA3_STR_MAX
#define D4_FED_SNI_MAX	  D4_PSSL_SNI_MAX
#define D4_FED_JA4_MAX	  D4_PSSL_JA4_MAX
struct d4_fed_wcert {
	uint8_t server_ip[16]; /* IPv4 as v4-mapped IPv6 */
	uint16_t server_port;  /* not 0 */
	uint8_t has_ja3, has_ja3s;
	uint8_t ja3_md5[16], ja3s_md5[16];
	const char *ja3, *ja3s; /* the full strings; length 0: not given (else their MD5 is checked) */
	size_t ja3_len, ja3s_len;
	const char *sni; /* 0..D4_FED_SNI_MAX bytes of a host name, lower case */
	size_t sni_len;
	const char *ja4; /* 0..D4_FED_JA4_MAX of [0-9a-z_] */
	size_t ja4_len;
	uint64_t time_first, time_last, count;
	uint8_t n_certs;
	struct {
		const uint8_t *der; /* one DER SEQUENCE, exactly len bytes */
		uint32_t len;	    /* 1..D4_FED_CERT_DER */
	} certs[D4_FED_CERT_CHAIN];
};

/* One record of a batch as decoded: pointers into the batch buffer (valid
 * while it is). Strings are NOT NUL-terminated: use the lengths. */
struct d4_fed_wrec {
	struct d4_fed_wprov prov;
	/* frames */
	uint64_t origin_session;
	uint8_t type;
	const char *ext_type;
	size_t ext_type_len;
	uint64_t hdr_ts, recv_ms;
	const uint8_t *payload;
	uint32_t size;
	/* pdns */
	const char *rrname;
	size_t rrname_len;
	uint16_t rrtype;
	const char *rdata;
	size_t rdata_len;
	const char *bailiwick;
	size_t bailiwick_len;
	uint64_t time_first, time_last, count;
	/* backscatter: a copy (fixed size, nothing points into the buffer) */
	struct d4_fed_wvec vec;
	/* certs: pointers into the buffer */
	struct d4_fed_wcert cert;
};

struct d4_fed_batch_hdr {
	uint8_t kind; /* enum d4_fed_kind */
	uint8_t sender[16];
	const uint8_t *from; /* positions, into the buffer */
	size_t from_len;
	const uint8_t *to;
	size_t to_len;
	uint32_t nrecords;
	uint8_t version; /* 1 or 2 */
	uint16_t nseals; /* version 2: seals at the end of the batch */
	const uint8_t *seals;
};

/* Decoding: d4_fed_batch_open checks the header (magic, version, kind,
 * lengths, position sizes <= D4_FED_POS_MAX) and positions *it at the first
 * record; d4_fed_batch_next decodes one record into *r and returns 1, 0 at
 * the end (after exactly nrecords records and no trailing byte), or a
 * negative error (D4_ETRUNC, D4_EPROTO, D4_ETOOBIG, D4_EINVAL) with a reason
 * in it->err; the error is sticky. Every field is checked: sizes, counts,
 * the level a real one, flags known, a stripped record without org, sensors,
 * origin or via, ext_type 0..63 printable ASCII, rrname 1..1024 bytes of a
 * presentation name, rdata and bailiwick valid UTF-8 without NUL, rrtype not
 * 0, time_first <= time_last, count >= 1; a vector as docs/federation.md
 * "The batch" lists. Pure; nothing is allocated. */
struct d4_fed_batch_it {
	const uint8_t *buf;
	size_t len, off; /* len: where the records end (the seals follow) */
	uint8_t kind;
	uint32_t left;
	int err;
	char why[128];
	const uint8_t *seals; /* the batch's seal table (wire form) */
	uint16_t nseals;
	uint8_t version;
	/* set by the caller after open: sealed records get no digest (a
	 * receiver's later passes over a batch whose seals it checked) */
	uint8_t no_seal_digest;
};
/* Seal i of a batch opened by d4_fed_batch_open (i < h->nseals; checked
 * there). */
void d4_fed_batch_seal(const struct d4_fed_batch_hdr *h, unsigned i, struct d4_fed_seal *out);
int d4_fed_batch_open(const uint8_t *buf, size_t len, struct d4_fed_batch_hdr *h, struct d4_fed_batch_it *it);
int d4_fed_batch_next(struct d4_fed_batch_it *it, struct d4_fed_wrec *r);

/* Encoding into a caller-owned growable buffer (no allocation per record
 * once warmed up). begin reserves the header; add_* append one record
 * (D4_ETOOBIG when the batch would pass max_bytes, the header counted at its
 * largest: the record is not added, the batch is complete -- on an empty
 * batch the record can never fit; D4_EINVAL when the record fails the
 * decoder's checks: not added, so a batch a partner would refuse is never
 * written); finish writes the header (with `to`) in front of the records and
 * returns the batch's first byte and length (into w->buf, valid until the
 * next begin). Zero the struct (and set max_bytes) before the first begin;
 * free with d4_fed_wbuf_free. */
struct d4_fed_wbuf {
	uint8_t *buf;
	size_t cap, len, start;
	size_t max_bytes; /* 0 = D4_FED_BATCH_MAX */
	uint8_t kind;
	uint8_t sender[16];
	uint8_t from[D4_FED_POS_MAX];
	size_t from_len;
	uint32_t nrecords;
	/* the sender's signing key (64 bytes, libsodium; borrowed; NULL = none):
	 * every record whose origin is the batch's sender and flags SEALED goes
	 * under the batch's own seal, signed once by finish (one signature per
	 * batch); other SEALED records carry the seal and path given (the seal
	 * written once per batch). A record whose origin is the sender and
	 * flags SIGNED is signed alone (version 1's per-record signature: kept
	 * for tests of what older hubs sent); other SIGNED records carry the
	 * prov.sig given. */
	const uint8_t *sign_sk;
	/* the seal table and the own records' digests (internal) */
	uint8_t *seals;
	size_t seals_cap;
	uint16_t nseals;
	uint32_t own_seal; /* index + 1 of the own seal, 0 none yet */
	uint8_t (*leaves)[32];
	size_t leaves_cap;
	uint32_t nleaves;
};
int d4_fed_wbuf_begin(struct d4_fed_wbuf *w, uint8_t kind, const uint8_t sender[16], const uint8_t *from,
		      size_t from_len);
int d4_fed_wbuf_add(struct d4_fed_wbuf *w, const struct d4_fed_wrec *r);
int d4_fed_wbuf_finish(struct d4_fed_wbuf *w, const uint8_t *to, size_t to_len, const uint8_t **out, size_t *outlen);
void d4_fed_wbuf_free(struct d4_fed_wbuf *w);
/* Fills r->prov from what d4_fed_outgoing gives for a released record
 * (level = v->level; stripped sets the flag and nothing else; append_self
 * appends self->hub to via, which is why self is needed). 0, D4_EINVAL (a
 * refusal, NULL), D4_ETOOBIG (more than 8 sensors, or the path with this
 * hub appended longer than D4_FED_VIA_MAX: the record cannot go). */
int d4_fed_wprov_from_out(const struct d4_fed_self *self, const struct d4_fed_out *o, const struct d4_fed_verdict *v,
			  struct d4_fed_wprov *p);

/* ---- signed provenance (fed_batch.c) ----
 * Each hub has an Ed25519 key pair (libsodium) derived from a 32-byte seed
 * the store keeps (d4_store_sign_seed). The origin hub signs the records it
 * sends once per batch: a seal over the Merkle root of their digests (the
 * digest in struct d4_fed_wprov); a hub that relays a record sends the
 * origin's seal and the record's path unchanged (or, kept from a version 1
 * batch, the origin's per-record signature), so any hub that knows the
 * origin's public key can tell who produced it (docs/federation.md "Signed
 * provenance"). */
#define D4_FED_PUBKEY_B64_LEN 44 /* base64 of 32 bytes, without the NUL */
/* Derives the key pair from seed: 0 or D4_EIO (libsodium unusable). sk is
 * secret (64 bytes): the caller wipes it (sodium_memzero). */
int d4_fed_sign_keypair(const uint8_t seed[32], uint8_t pk[32], uint8_t sk[64]);
/* 1 when p (a decoded record with D4_FED_F_SIGNED) carries a valid
 * signature by pk over its digest, else 0. A SEALED record: 1 when its
 * path leads from its digest to the seal's root and the seal's signature
 * verifies with pk (a record of a WHOLE seal has no path: the receiver
 * checks the seal's root from all its records, fed_receive.c). Pure. */
int d4_fed_record_verify(const struct d4_fed_wprov *p, const uint8_t pk[32]);
/* The seal's signature, made with sk into s->sig / checked against pk,
 * over a context, the origin, the number of leaves and the root (the kind
 * is in every leaf). sign: 0 or D4_EIO; verify: 1 or 0. Pure. */
int d4_fed_seal_sign(struct d4_fed_seal *s, const uint8_t sk[64]);
int d4_fed_seal_verify(const struct d4_fed_seal *s, const uint8_t pk[32]);
/* The Merkle tree over a seal's leaves (the records' digests): each level
 * pairs neighbours (BLAKE2b-256 keyed with its own context), a last node
 * without a neighbour goes up unchanged. nodes holds
 * d4_fed_merkle_nodes(n) entries, the n leaves first; build fills the
 * rest, the root last. path writes the sibling hashes of leaf (exactly
 * d4_fed_merkle_depth(leaf, n) of them, into path[D4_FED_PATH_MAX][32]) and
 * returns their count; root_of computes the root from a leaf's digest and
 * path. n in 1..D4_FED_LEAVES_MAX, leaf < n. Pure. */
size_t d4_fed_merkle_nodes(uint32_t n);
unsigned d4_fed_merkle_depth(uint32_t leaf, uint32_t n);
void d4_fed_merkle_build(uint8_t (*nodes)[32], uint32_t n);
unsigned d4_fed_merkle_path(const uint8_t (*nodes)[32], uint32_t n, uint32_t leaf, uint8_t *path);
void d4_fed_merkle_root_of(const uint8_t digest[32], uint32_t leaf, uint32_t n, const uint8_t *path, uint8_t root[32]);
/* A record's proof as a relaying hub keeps it (a received frame's fed_sig,
 * a received vector): version | seal (origin, nleaves, root, sig) | leaf |
 * depth | path. encode writes at most D4_FED_PROOF_MAX bytes into out and
 * returns the length (p: a decoded SEALED record whose path is given, never
 * WHOLE). decode is the strict parser (hostile bytes: a store is not
 * trusted more than a partner): 0 with p's SEALED fields set (seal not
 * WHOLE, p->path into b), or D4_EPROTO / D4_ETRUNC. Pure. */
size_t d4_fed_proof_encode(const struct d4_fed_wprov *p, const uint8_t *path, uint8_t *out);
int d4_fed_proof_decode(const uint8_t *b, size_t n, struct d4_fed_wprov *p);
/* pk as standard base64 (out: D4_FED_PUBKEY_B64_LEN + 1 bytes), and back:
 * 0 or D4_EINVAL (not exactly 32 bytes of base64). */
void d4_fed_pubkey_b64(const uint8_t pk[32], char *out);
int d4_fed_pubkey_parse(const char *s, uint8_t pk[32]);

/* ---- receiving: the inbound rule (fed_inbound.c) ----
 * Reasons a received record is refused (stable names, API and /metrics;
 * never renamed, only appended). */
enum d4_fed_in_reason {
	D4_FED_IN_STORED = 0,  /* "stored" */
	D4_FED_IN_KIND,	       /* "kind-not-accepted" */
	D4_FED_IN_ABOVE_TLP,   /* "above-tlp-cap" */
	D4_FED_IN_RED,	       /* "tlp-red": red never crosses hubs, whatever the sender did */
	D4_FED_IN_LOOP,	       /* "loop": this hub is the origin or on the path */
	D4_FED_IN_PATH,	       /* "bad-path": the sender is not the last hop of via, or the path is too long */
	D4_FED_IN_QUOTA_RATE,  /* "quota-records" */
	D4_FED_IN_QUOTA_BYTES, /* "quota-bytes" */
	D4_FED_IN_TYPE,	       /* "type-not-accepted": a D4 type or extended type this hub does not accept */
	D4_FED_IN_BAD_SIG,     /* "bad-signature": its signature does not verify with its origin's key */
	D4_FED_IN_UNSIGNED,    /* "unsigned": no signature where the sender or the origin must sign */
	D4_FED_IN_UNKNOWN_KEY, /* "unknown-signer": from a partner that must sign, an origin whose key is unknown */
	D4_FED_IN_COUNT
};
const char *d4_fed_in_reason_name(enum d4_fed_in_reason r);
/* Decides one received record r of kind `kind` from partner p (whose hub
 * uuid is the sender) at this hub: D4_FED_IN_STORED or the refusal reason,
 * in this order: kind (also for a NULL argument: fail closed), red (or not a
 * level), above the cap, loop, path (docs/federation.md "Receiving: the
 * inbound rule"). Never D4_FED_IN_TYPE: the accepted D4 types are the
 * hub's settings, which the caller checks. Pure; everything borrowed. */
enum d4_fed_in_reason d4_fed_inbound(const struct d4_fed_self *self, const struct d4_partner *p, uint8_t kind,
				     const struct d4_fed_wrec *r);
/* The per-partner quota (inbound records/s as a token bucket with one
 * second of burst, bytes per UTC day), applied to a whole batch: a batch
 * over quota is refused whole (HTTP 429 with Retry-After; nothing stored,
 * nothing lost: the sender retries). Caller-owned, zero it to start. */
struct d4_fed_quota {
	double tokens;
	uint64_t last_ms;
	uint32_t day;
	uint64_t day_bytes;
};
/* Takes nrecords / bytes from q for partner p's quota at now_ms (wall
 * clock ms): D4_FED_IN_STORED (taken), D4_FED_IN_QUOTA_RATE or
 * D4_FED_IN_QUOTA_BYTES (nothing taken; *retry_ms how long to wait). A
 * batch larger than a whole second of rate is taken when the bucket is
 * full (so that it can pass at all). Pure apart from *q. */
enum d4_fed_in_reason d4_fed_quota_take(struct d4_fed_quota *q, const struct d4_partner *p, uint32_t nrecords,
					uint64_t bytes, uint64_t now_ms, uint64_t *retry_ms);

/* ---- receiving a batch (fed_receive.c) ----
 * What the inbox (api/fedlisten.c, a push) and the fetching sender (a pull
 * from a partner) both do with a batch that arrived from partner p before
 * the store sees it: every record decoded and checked, the inbound rule
 * applied per record (refusals counted per reason, not stored), and the
 * rest turned into a struct d4_store_fed_batch with provenance, ready for
 * d4_store_fed_submit. One code path, so that a pushed and a pulled batch
 * are stored alike. */
struct d4_fed_rx {
	struct d4_store_fed_batch batch; /* in: ready for d4_store_fed_submit (notify_fd -1) */
	uint32_t nrecords;		 /* records in the batch (stored + refused) */
	/* owned arrays batch points to */
	struct d4_store_fed_frame *frames;
	struct d4_store_fed_tuple *tuples;
	struct d4_store_bs_vec *vectors;
	struct d4_store_fed_prov *provs;
	char *strings;	 /* NUL-terminated copies (extended types, bailiwicks) */
	uint8_t *proofs; /* received frames' proofs (d4_fed_proof_encode) */
	/* certs: the handshakes, their certificates as this hub parsed them
	 * (analyzers/x509) and the memory those point into */
	struct d4_store_pssl_obs *pssl;
	void **allocs;
	size_t nallocs;
	uint64_t certs_unparsed; /* received certificates that did not parse (stored unparsed, as at ingest) */
};
/* Why a whole batch is refused (nothing of it is stored). */
enum d4_fed_rx_refusal {
	D4_FED_RX_OK = 0,
	D4_FED_RX_MALFORMED,	/* "malformed": the batch or a record fails its checks (HTTP 400) */
	D4_FED_RX_KIND,		/* "wrong-kind": the batch is of another kind than asked (HTTP 400) */
	D4_FED_RX_SENDER,	/* "wrong-sender": its sender is not the partner's hub uuid (HTTP 403) */
	D4_FED_RX_NOT_ACCEPTED, /* "kind-not-accepted": the partner's inbound rule does not take the kind (HTTP 403) */
	D4_FED_RX_COUNT
};
const char *d4_fed_rx_refusal_name(enum d4_fed_rx_refusal r);
/* Decodes and checks the batch buf (len bytes; borrowed: rx->batch points
 * into it, keep it untouched until the store is done with the batch) from
 * partner p (borrowed for the call) at this hub self, expected to be of
 * kind `kind`. On D4_FED_RX_OK rx is filled (free with d4_fed_rx_free);
 * otherwise rx holds nothing to free and why says what is wrong. The
 * partner's quota is not taken here (d4_fed_quota_take, by the caller).
 * D4_ENOMEM is returned as a negative value. */
int d4_fed_receive_prepare(const struct d4_fed_self *self, const struct d4_partner *p, uint8_t kind, const uint8_t *buf,
			   size_t len, struct d4_fed_rx *rx, char *why, size_t whylen);
/* The same with the D4 types this hub accepts (its accepted-types
 * settings, which d4_fed_inbound does not see): type_ok(arg, type, ext,
 * ext_len) is asked for every frame the inbound rule keeps and must answer
 * the same for the same arguments during the call (1 accepted, 0 not: the
 * frame is refused "type-not-accepted"). d4_fed_receive_prepare is this
 * with no filter. */
struct d4_fed_rx_filter {
	int (*type_ok)(void *arg, uint8_t type, const char *ext, size_t ext_len);
	void *arg;
	/* The public key this hub knows for origin hub `hub` (a partner's
	 * pubkey): 1 with pk and *must_sign set, 0 unknown. NULL: only the
	 * sending partner's own key is known. Same arg. */
	int (*key_of)(void *arg, const uint8_t hub[16], uint8_t pk[32], uint8_t *must_sign);
};
int d4_fed_receive_prepare_with(const struct d4_fed_self *self, const struct d4_partner *p, uint8_t kind,
				const uint8_t *buf, size_t len, const struct d4_fed_rx_filter *filter,
				struct d4_fed_rx *rx, char *why, size_t whylen);
/* The filter of this hub's accepted types and extended types as the store
 * keeps them (d4_store_types_get, d4_store_ext_type_accepted; read once per
 * batch and remembered, so that both passes get the same answers; a store
 * error refuses the frame). t is caller-owned (on the stack is fine) and
 * lives as long as f is used; s borrowed. */
struct d4_fed_store_types {
	struct d4_store *store;
	int loaded, failed;
	uint8_t accepted[256];
	unsigned n;
	char ext[8][D4_EXT_TYPE_MAX];
	int ext_ok[8];
	/* origin keys looked up in the partners, remembered for the batch */
	struct {
		uint8_t hub[16], pk[32];
		uint8_t found, must_sign;
	} keys[8];
	unsigned nkeys;
};
void d4_fed_store_types_init(struct d4_fed_store_types *t, struct d4_store *s, struct d4_fed_rx_filter *f);
void d4_fed_rx_free(struct d4_fed_rx *rx);

/* ---- the source: batches from this hub's log (fed_source.c) ----
 * Builds the next batch of one kind for one partner from a position: reads
 * the frame log (frames: position = u64 next seq; pdns: the pDNS consumer's
 * cursor, run with a sink instead of the store, + u32 observations to skip),
 * passes every record through d4_fed_decide and encodes what is released.
 * Used by the push sender and by the pull endpoint alike: the same records,
 * the same decisions. Not thread-safe; one per (partner, kind) user. */
struct d4_fed_source;
struct d4_fed_source_opts {
	const struct d4_fed_self *self;
	size_t max_bytes;				  /* 0 = D4_FED_BATCH_MAX */
	unsigned max_records;				  /* 0 = 100,000 */
	const char *pdns_csv_fields, *pdns_csv_separator; /* the hub's [pdns] settings */
	/* the clock (seconds) a rule's mix hold-back is decided on; NULL: the
	 * wall clock (tests set it) */
	uint64_t (*now)(void *arg);
	void *now_arg;
	/* frames only: the frames this source's reader can carry at all (a bit
	 * per D4 type, NULL = every type; for type 254 only_ext, NULL = any).
	 * Others are passed over undecided and uncounted: an upstream stream
	 * of one type is not told about every frame of the other types. The
	 * decision of what is in scope is d4_fed_decide's, unchanged. */
	const uint8_t *only_types; /* 32 bytes */
	const char *only_ext;
};
/* store and opts (and what they point to) borrowed for the source's life. */
int d4_fed_source_new(struct d4_store *s, const struct d4_fed_source_opts *o, uint8_t kind, struct d4_fed_source **out);
void d4_fed_source_free(struct d4_fed_source *src);
/* The next batch after position from (from_len 0 = the start) for partner p
 * (borrowed): out and outlen point into the source's buffer, valid until the
 * next call. decisions gets the count of every decision made (per
 * reason, zeroed first); *records the records released. A batch may hold
 * no record (everything refused) and still move the position; *more is 1
 * when the log holds more past `to`. 0 or an error. */
int d4_fed_source_next(struct d4_fed_source *src, const struct d4_partner *p, const uint8_t *from, size_t from_len,
		       const uint8_t **out, size_t *outlen, struct d4_fed_counters *decisions, uint32_t *records,
		       int *more);
/* The lag of position pos: records (frames) in the log past it and the age
 * in seconds of the first one (0, 0 when caught up). */
int d4_fed_source_lag(struct d4_fed_source *src, const uint8_t *pos, size_t pos_len, uint64_t *records,
		      uint64_t *seconds);

/* ---- the sender thread (fed_sender.c): push to partners, pull from them ----
 * One thread, libcurl multi: one multiplexed HTTP/2 connection per partner,
 * mutual TLS with the hub's certificate, the partner's CA bundle and/or pin,
 * and its SAN urn:uuid checked against the partner's hub uuid. Per partner
 * and kind: push when direction is push or both; fetch when the partner's
 * inbound rule says so. Retries with exponential backoff and jitter. */
struct d4_fed_sender;
struct d4_fed_sender_opts {
	struct d4_fed_self self;
	const char *cert, *key; /* federation.cert / key */
	const char *pdns_csv_fields, *pdns_csv_separator;
	unsigned poll_ms;			 /* idle poll of the log (default 50) */
	unsigned backoff_min_ms, backoff_max_ms; /* default 500 ms .. 60 s */
	unsigned timeout_ms;			 /* per request (default 30 s) */
	unsigned inflight;			 /* batches in flight per (partner, kind), 1..16 (0: default 3) */
};
#define D4_FED_INFLIGHT_DEFAULT 3u
int d4_fed_sender_start(struct d4_store *s, const struct d4_fed_sender_opts *o, struct d4_fed_sender **out);
void d4_fed_sender_stop(struct d4_fed_sender *fs); /* NULL is a no-op */
/* Status of one partner, per kind (thread-safe copy). */
struct d4_fed_status {
	int connected;	      /* the last request reached the partner */
	uint64_t lag_records; /* records past the acknowledged position */
	uint64_t lag_seconds;
	uint64_t last_ack; /* seconds */
	uint64_t last_try;
	uint64_t next_try_ms; /* backoff: not before (monotonic ms), 0 = now */
	uint64_t failures;    /* consecutive */
	char last_error[160];
};
int d4_fed_sender_status(struct d4_fed_sender *fs, const char *partner, uint8_t kind, struct d4_fed_status *out);
/* The same for fetching kind from the partner (its inbound.fetch): lag is
 * not known on this side (0). Both: 0, D4_ENOTFOUND (no such job: partner
 * unknown or disabled, kind not exchanged in that direction), D4_EINVAL. */
int d4_fed_sender_fetch_status(struct d4_fed_sender *fs, const char *partner, uint8_t kind, struct d4_fed_status *out);

#endif
