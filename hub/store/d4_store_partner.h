/* d4hub store — federation partners and the hub's identity (part of the
 * store module; its own header like d4_store_pdns.h). A partner is another hub this hub exchanges
 * data with: identity, trust anchor, relation, direction, and one outbound
 * rule per kind of data plus one inbound rule. The store keeps and checks
 * the records; what the fields mean for egress is decided in federation/
 * (d4_fed_decide) and written in docs/federation.md. Layout: docs/store.md. */
#ifndef D4_STORE_PARTNER_H
#define D4_STORE_PARTNER_H

#include "d4_store.h"

#include <stddef.h>
#include <stdint.h>

#define D4_PARTNER_NAME_MAX 64	  /* 1..63 of [A-Za-z0-9._-], first alnum */
#define D4_PARTNER_URL_MAX  256	  /* https://host[:port][/path] */
#define D4_PARTNER_CA_MAX   16384 /* CA bundle, PEM text */
#define D4_PARTNER_LIST_MAX 32	  /* entries per allow or deny list */
#define D4_PARTNER_EXT_MAX  64	  /* extended type name, NUL included */
#define D4_PARTNER_ZONE_MAX 256	  /* zone suffix, NUL included */
#define D4_PARTNER_KINDS    4	  /* frames, pdns, backscatter, certs (enum d4_fed_kind) */
/* Relations 1..4 (enum d4_fed_relation: same-org, partner, community,
 * public) and directions are stored as u8 and checked on read. */
#define D4_PARTNER_RELATION_MAX 4
enum d4_partner_direction { D4_PARTNER_PUSH = 1, D4_PARTNER_PULL = 2, D4_PARTNER_BOTH = 3 };

/* An IP network of a rule. family 4 or 6; addr in network order (IPv4 in
 * the first 4 bytes); prefix 0..32 or 0..128; host bits zero. */
struct d4_partner_net {
	uint8_t family;
	uint8_t prefix;
	uint8_t addr[16];
};

/* Mixing before sharing (pdns and backscatter rules; docs/federation.md
 * "Mixing"). enabled 0: the records go as they are (the hard rules still
 * apply). Thresholds of 0 are not checked; min_sensors and min_count are
 * alternatives (a tuple passes when either is met). */
#define D4_PARTNER_MIX_DELAY_MAX   (7u * 86400u) /* delay_s */
#define D4_PARTNER_MIX_COARSEN_MAX 86400u	 /* coarsen_s */
struct d4_partner_mix {
	uint8_t enabled;
	uint8_t pool_sensors;	 /* 1: sensor ids replaced by the pool id */
	uint16_t min_sensors;	 /* pdns: seen by at least k sensors ... */
	uint32_t min_count;	 /* pdns: ... or at least n times */
	uint32_t delay_s;	 /* held back this long after it was seen */
	uint32_t coarsen_s;	 /* times rounded down to a multiple (0: exact) */
	uint64_t min_packets;	 /* backscatter: packets before a vector goes */
	uint32_t min_duration_s; /* backscatter: last - first before a vector goes */
	uint8_t pool[16];	 /* all-zero: derived from the hub uuid */
};

/* An outbound rule for one kind. An empty allow list allows everything; a
 * deny entry always wins. Plain data, no pointers. */
struct d4_partner_rule {
	uint8_t enabled;     /* 0: this kind is not shared with the partner */
	uint8_t allow_amber; /* 1: the partner is explicitly allowed tlp:amber */
	uint8_t allow_relay; /* 1: records that came from another hub may go on */
	uint8_t max_tlp;     /* enum d4_tlp: the partner's clearance */
	/* frames: D4 types (bit t%8 of byte t/8) and extended types */
	uint8_t type_allow[32], type_deny[32];
	uint8_t n_ext_allow, n_ext_deny;
	char ext_allow[D4_PARTNER_LIST_MAX][D4_PARTNER_EXT_MAX];
	char ext_deny[D4_PARTNER_LIST_MAX][D4_PARTNER_EXT_MAX];
	/* every kind: sensors and originator orgs */
	uint8_t n_sensor_allow, n_sensor_deny, n_org_allow, n_org_deny;
	uint8_t sensor_allow[D4_PARTNER_LIST_MAX][16], sensor_deny[D4_PARTNER_LIST_MAX][16];
	uint8_t org_allow[D4_PARTNER_LIST_MAX][16], org_deny[D4_PARTNER_LIST_MAX][16];
	/* pdns: zone suffixes of rrname, rrtypes, rdata networks */
	uint8_t n_zone_allow, n_zone_deny, n_rrtype_allow, n_rrtype_deny;
	char zone_allow[D4_PARTNER_LIST_MAX][D4_PARTNER_ZONE_MAX];
	char zone_deny[D4_PARTNER_LIST_MAX][D4_PARTNER_ZONE_MAX];
	uint16_t rrtype_allow[D4_PARTNER_LIST_MAX], rrtype_deny[D4_PARTNER_LIST_MAX];
	uint8_t n_net_allow, n_net_deny;
	struct d4_partner_net net_allow[D4_PARTNER_LIST_MAX], net_deny[D4_PARTNER_LIST_MAX];
	struct d4_partner_mix mix; /* pdns, backscatter: all-zero for the other kinds */
};

/* What this hub accepts from the partner. 0 in a quota = no quota. */
struct d4_partner_inbound {
	uint8_t kinds;	 /* bit k: kind k accepted */
	uint8_t max_tlp; /* enum d4_tlp: records above are refused */
	uint32_t records_per_s;
	uint64_t bytes_per_day;
	uint8_t fetch; /* 1: this hub fetches from the partner's pull endpoint */
};

/* One partner. Large (the rules hold fixed arrays): allocate it. */
struct d4_partner {
	char name[D4_PARTNER_NAME_MAX];
	char url[D4_PARTNER_URL_MAX];
	char ca_pem[D4_PARTNER_CA_MAX]; /* "" = no CA: the pin alone */
	uint8_t has_pin;
	uint8_t spki_sha256[32];
	uint8_t hub[16]; /* expected hub uuid */
	uint8_t org[16]; /* expected org uuid */
	uint8_t relation;
	uint8_t direction;
	uint8_t enabled;
	struct d4_partner_rule out[D4_PARTNER_KINDS];
	struct d4_partner_inbound in;
	uint64_t created, updated; /* seconds, set by the store */
	/* signed provenance (docs/federation.md "Signed provenance") */
	uint8_t has_pubkey;
	uint8_t pubkey[32]; /* the partner hub's Ed25519 public key */
	uint8_t must_sign;  /* 1: its records must carry a valid signature (needs pubkey) */
	uint8_t onward;	    /* 1: it may pass this hub's own records on to its partners */
};

/* 1 if name is a valid partner name, else 0. */
int d4_store_partner_name_valid(const char *name);
/* Checks a partner record as the store would refuse it (name, URL scheme
 * and characters, a trust anchor present, relation, direction, list
 * counts, TLP values, strings NUL-terminated and printable, nets well
 * formed). Returns 0 or D4_EINVAL and, if why is given, a short reason. */
int d4_store_partner_check(const struct d4_partner *p, char *why, size_t whylen);
/* Creates the partner only if its name is absent (D4_EEXIST otherwise),
 * in one write transaction that bumps the control epoch; created and
 * updated are set to now. p is borrowed. 0, D4_EINVAL, D4_EEXIST, store
 * errors. */
int d4_store_partner_add(struct d4_store *s, const struct d4_partner *p);
/* Replaces an existing partner (D4_ENOTFOUND if absent), keeping its
 * creation time; updated = now. */
int d4_store_partner_update(struct d4_store *s, const struct d4_partner *p);
/* Reads one partner into *out (caller-owned). 0, D4_ENOTFOUND,
 * D4_ECORRUPT, D4_EINVAL (bad name). */
int d4_store_partner_get(struct d4_store *s, const char *name, struct d4_partner *out);
/* Deletes one partner. 0 or D4_ENOTFOUND. */
int d4_store_partner_del(struct d4_store *s, const char *name);
/* Calls cb for every partner in name order; p is valid during the call
 * only. A corrupt record stops the scan with D4_ECORRUPT. cb returns
 * non-zero to stop. */
int d4_store_partner_foreach(struct d4_store *s, int (*cb)(void *ctx, const struct d4_partner *p), void *ctx);

/* ---- the hub's identity (settings hub_uuid, org_uuid) ----
 * The configuration's hub.uuid / hub.org win: given (non-NULL), they are
 * used and kept, replacing a different stored value (*changed gets bit 0
 * for the hub, bit 1 for the org, so the caller can say so loudly: partners
 * know the old one). Absent, the stored value is used, or a random v4 uuid
 * is generated and kept, in the same write transaction. A damaged stored
 * value is D4_ECORRUPT unless configured (then replaced, reported as a
 * change): an identity is never silently made anew. A zero uuid is
 * D4_EINVAL; a read-only store D4_EPERM. changed may be NULL. */
int d4_store_identity(struct d4_store *s, const uint8_t *cfg_hub, const uint8_t *cfg_org, uint8_t hub[16],
		      uint8_t org[16], unsigned *changed);
/* Reads the kept identity: 0, D4_ENOTFOUND (never kept: the hub never
 * started), D4_ECORRUPT. */
int d4_store_identity_get(struct d4_store *s, uint8_t hub[16], uint8_t org[16]);

/* ---- the hub's signing key (setting fed_sign_seed) ----
 * The 32-byte Ed25519 seed of the hub's federation signing key (the key
 * pair is derived from it with libsodium by federation/). Secret: never
 * logged; callers wipe their copy. d4_store_sign_seed reads it, or
 * generates a random one and keeps it in the same write transaction
 * (*created = 1, may be NULL); a damaged value is D4_ECORRUPT (a key
 * partners know is never silently made anew); a read-only store D4_EPERM.
 * d4_store_sign_seed_get only reads: 0, D4_ENOTFOUND, D4_ECORRUPT. */
int d4_store_sign_seed(struct d4_store *s, uint8_t seed[32], int *created);
int d4_store_sign_seed_get(struct d4_store *s, uint8_t seed[32]);

/* Value codec (exposed for the unit tests and fuzzing): enc writes at most
 * D4_PARTNER_ENC_MAX bytes into buf and returns the length; dec is strict
 * (0 or D4_ECORRUPT) and fills *out from the key (name) and value. */
#define D4_PARTNER_ENC_MAX (64u * 1024u + 4u * 24u * 1024u)
size_t d4_store_partner_encode(const struct d4_partner *p, uint8_t *buf);
int d4_store_partner_decode(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, struct d4_partner *out);

#endif
