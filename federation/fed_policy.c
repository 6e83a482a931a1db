/* d4hub — federation egress policy: hard rules, then the partner's rule.
 * See docs/federation.md for the table this code implements. */
#include "d4_error.h"
#include "d4_federation.h"
#include "fed_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const reason_names[D4_FED_R_COUNT] = {
    [D4_FED_R_RELEASED] = "released",
    [D4_FED_R_EX_CHR_STRIPPED] = "ex-chr-stripped",
    [D4_FED_R_INVALID] = "invalid",
    [D4_FED_R_PARTNER_DISABLED] = "partner-disabled",
    [D4_FED_R_TLP_RED] = "tlp-red",
    [D4_FED_R_NO_SYNC] = "should-not-sync",
    [D4_FED_R_LOOP_ORIGIN] = "loop-origin",
    [D4_FED_R_LOOP_VIA] = "loop-via",
    [D4_FED_R_STRIPPED_NO_RELAY] = "stripped-no-relay",
    [D4_FED_R_AMBER_STRICT_OTHER_ORG] = "amber-strict-other-org",
    [D4_FED_R_AMBER_NOT_ALLOWED] = "amber-not-allowed",
    [D4_FED_R_NOT_COMMUNITY] = "not-community",
    [D4_FED_R_KIND_NOT_SHARED] = "kind-not-shared",
    [D4_FED_R_ABOVE_MAX_TLP] = "above-max-tlp",
    [D4_FED_R_RELAY_NOT_ALLOWED] = "relay-not-allowed",
    [D4_FED_R_SENSOR] = "sensor-filtered",
    [D4_FED_R_TYPE] = "type-filtered",
    [D4_FED_R_EXT_TYPE] = "ext-type-filtered",
    [D4_FED_R_ORG] = "org-filtered",
    [D4_FED_R_ZONE] = "zone-filtered",
    [D4_FED_R_RRTYPE] = "rrtype-filtered",
    [D4_FED_R_RDATA_NET] = "rdata-filtered",
    [D4_FED_R_RDATA_PRIVATE] = "rdata-private",
    [D4_FED_R_TOO_BIG] = "too-big",
    [D4_FED_R_MIX_THRESHOLD] = "mix-below-threshold",
    [D4_FED_R_MIX_PACKETS] = "mix-below-packets",
    [D4_FED_R_MIX_DURATION] = "mix-below-duration",
    [D4_FED_R_RRNAME_PRIVATE] = "rrname-private",
    [D4_FED_R_OWN_NETWORK] = "own-network",
    [D4_FED_R_ORIGIN_NO_ONWARD] = "origin-no-onward",
    [D4_FED_R_ADDR_NET] = "address-filtered",
    [D4_FED_R_ADDR_PRIVATE] = "address-private",
};

static const char *const relation_names[] = {"none", "same-org", "partner", "community", "public"};
static const char *const kind_names[D4_FED_KIND_COUNT] = {"frames", "pdns", "backscatter", "certs"};

const char *d4_fed_reason_name(enum d4_fed_reason r)
{
	return ((unsigned)r < D4_FED_R_COUNT) ? reason_names[r] : "invalid";
}

static int parse_name(const char *s, const char *const *names, int n, int first)
{
	if (!s)
		return -1;
	for (int i = first; i < n; i++)
		if (strcasecmp(s, names[i]) == 0)
			return i;
	return -1;
}

int d4_fed_reason_parse(const char *s)
{
	return parse_name(s, reason_names, D4_FED_R_COUNT, 0);
}

const char *d4_fed_decision_name(enum d4_fed_decision d)
{
	switch (d) {
	case D4_FED_REFUSE: return "refuse";
	case D4_FED_RELEASE: return "release";
	case D4_FED_RELEASE_STRIPPED: return "release-stripped";
	}
	return "invalid";
}

const char *d4_fed_relation_name(enum d4_fed_relation r)
{
	return ((unsigned)r <= D4_FED_REL_PUBLIC) ? relation_names[r] : "invalid";
}

int d4_fed_relation_parse(const char *s)
{
	/* "none" is not something an operator configures. */
	return parse_name(s, relation_names, D4_FED_REL_PUBLIC + 1, 1);
}

const char *d4_fed_kind_name(enum d4_fed_kind k)
{
	return ((unsigned)k < D4_FED_KIND_COUNT) ? kind_names[k] : "invalid";
}

int d4_fed_kind_parse(const char *s)
{
	return parse_name(s, kind_names, D4_FED_KIND_COUNT, 0);
}

void d4_fed_count(struct d4_fed_counters *c, enum d4_fed_kind kind, const struct d4_fed_verdict *v)
{
	if (!c || !v)
		return;
	unsigned k = (unsigned)kind < D4_FED_KIND_COUNT ? (unsigned)kind : 0;
	unsigned r = (unsigned)v->reason < D4_FED_R_COUNT ? (unsigned)v->reason : D4_FED_R_INVALID;
	c->n[k][r]++;
}

/* ---- networks ---------------------------------------------------------- */

int fed_addr_parse(const char *s, struct d4_partner_net *out)
{
	memset(out, 0, sizeof(*out));
	if (!s)
		return D4_EINVAL;
	if (inet_pton(AF_INET, s, out->addr) == 1) {
		out->family = 4;
		out->prefix = 32;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->addr) == 1) {
		out->family = 6;
		out->prefix = 128;
		return 0;
	}
	return D4_EINVAL;
}

int d4_fed_net_parse(const char *s, struct d4_partner_net *out)
{
	char buf[64];
	if (!s || !out || strlen(s) >= sizeof(buf))
		return D4_EINVAL;
	memcpy(buf, s, strlen(s) + 1);
	char *slash = strchr(buf, '/');
	long prefix = -1;
	if (slash) {
		*slash = '\0';
		char *end = NULL;
		if (slash[1] < '0' || slash[1] > '9')
			return D4_EINVAL;
		prefix = strtol(slash + 1, &end, 10);
		if (*end || prefix < 0)
			return D4_EINVAL;
	}
	if (fed_addr_parse(buf, out) != 0)
		return D4_EINVAL;
	long max = out->family == 4 ? 32 : 128;
	if (prefix > max)
		return D4_EINVAL;
	if (prefix >= 0)
		out->prefix = (uint8_t)prefix;
	/* Host bits set is almost always a typo ("10.1.2.3/8"): refuse it. */
	for (unsigned bit = out->prefix; bit < (unsigned)max; bit++)
		if (out->addr[bit / 8] & (0x80u >> (bit % 8)))
			return D4_EINVAL;
	return 0;
}

void d4_fed_net_format(const struct d4_partner_net *net, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	inet_ntop(net->family == 4 ? AF_INET : AF_INET6, net->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, net->prefix);
}

/* 1 if addr (a full address of net's family) is inside net. */
int fed_net_contains(const struct d4_partner_net *net, const struct d4_partner_net *addr)
{
	if (net->family != addr->family)
		return 0;
	unsigned full = net->prefix / 8, rest = net->prefix % 8;
	if (memcmp(net->addr, addr->addr, full) != 0)
		return 0;
	if (rest) {
		uint8_t mask = (uint8_t)(0xffu << (8 - rest));
		if ((net->addr[full] & mask) != (addr->addr[full] & mask))
			return 0;
	}
	return 1;
}

/* Ranges that never leave unless a rule names them (docs/federation.md),
 * as networks: parsed once by the compiler, not once per tuple. */
static const struct d4_partner_net special_nets[] = {
    {4, 8, {0}},	  /* 0.0.0.0/8 */
    {4, 8, {10}},	  /* 10.0.0.0/8 */
    {4, 10, {100, 64}},	  /* 100.64.0.0/10 */
    {4, 8, {127}},	  /* 127.0.0.0/8 */
    {4, 16, {169, 254}},  /* 169.254.0.0/16 */
    {4, 12, {172, 16}},	  /* 172.16.0.0/12 */
    {4, 16, {192, 168}},  /* 192.168.0.0/16 */
    {6, 128, {0}},	  /* ::/128 */
    {6, 128, {[15] = 1}}, /* ::1/128 */
    {6, 7, {0xfc}},	  /* fc00::/7 */
    {6, 10, {0xfe, 0x80}} /* fe80::/10 */
};
#define N_SPECIAL (sizeof(special_nets) / sizeof(special_nets[0]))

/* Index of the special range holding addr, or -1. IPv4-mapped IPv6
 * addresses are checked as the IPv4 address they carry. */
static int special_index(const struct d4_partner_net *addr, struct d4_partner_net *v4)
{
	const struct d4_partner_net *a = addr;
	memset(v4, 0, sizeof(*v4));
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (addr->family == 6 && memcmp(addr->addr, mapped, 12) == 0) {
		v4->family = 4;
		v4->prefix = 32;
		memcpy(v4->addr, addr->addr + 12, 4);
		a = v4;
	}
	for (size_t i = 0; i < N_SPECIAL; i++)
		if (fed_net_contains(&special_nets[i], a))
			return (int)i;
	return -1;
}

int d4_fed_addr_special(const char *s)
{
	struct d4_partner_net a, v4;
	if (fed_addr_parse(s, &a) != 0)
		return -1;
	return special_index(&a, &v4) >= 0;
}

/* ---- names ------------------------------------------------------------- */

/* 1 if name ends with zone at a label boundary (or equals it); both
 * compared case-insensitively, one trailing dot on either ignored. An
 * empty zone (or ".") is the root: it matches every name. */
int fed_zone_match(const char *name, const char *zone)
{
	size_t nl = strlen(name), zl = strlen(zone);
	if (nl && name[nl - 1] == '.')
		nl--;
	if (zl && zone[zl - 1] == '.')
		zl--;
	if (zl == 0)
		return 1;
	if (zl > nl)
		return 0;
	if (strncasecmp(name + nl - zl, zone, zl) != 0)
		return 0;
	return zl == nl || name[nl - zl - 1] == '.';
}

/* ---- the decision ------------------------------------------------------ */

static const uint8_t zero16[16];

static int uuid_eq(const uint8_t a[16], const uint8_t b[16])
{
	return memcmp(a, b, 16) == 0;
}

static int uuid_in(const uint8_t (*list)[16], unsigned n, const uint8_t u[16])
{
	for (unsigned i = 0; i < n; i++)
		if (uuid_eq(list[i], u))
			return 1;
	return 0;
}

static int bit(const uint8_t map[32], uint8_t t)
{
	return (map[t / 8] >> (t % 8)) & 1;
}

static int map_empty(const uint8_t map[32])
{
	for (int i = 0; i < 32; i++)
		if (map[i])
			return 0;
	return 1;
}

static int ext_in(const char (*list)[D4_PARTNER_EXT_MAX], unsigned n, const char *s)
{
	for (unsigned i = 0; i < n; i++)
		if (strncasecmp(list[i], s, D4_PARTNER_EXT_MAX) == 0)
			return 1;
	return 0;
}

static int zone_in(const char (*list)[D4_PARTNER_ZONE_MAX], unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++) {
		char z[D4_PARTNER_ZONE_MAX];
		memcpy(z, list[i], D4_PARTNER_ZONE_MAX);
		z[D4_PARTNER_ZONE_MAX - 1] = '\0';
		if (fed_zone_match(name, z))
			return 1;
	}
	return 0;
}

static int rrtype_in(const uint16_t *list, unsigned n, uint16_t t)
{
	for (unsigned i = 0; i < n; i++)
		if (list[i] == t)
			return 1;
	return 0;
}

static unsigned cap(unsigned n)
{
	return n > D4_PARTNER_LIST_MAX ? D4_PARTNER_LIST_MAX : n;
}

static enum d4_fed_decision verdict(struct d4_fed_verdict *out, enum d4_fed_decision d, enum d4_fed_reason r)
{
	out->decision = d;
	out->reason = r;
	return d;
}

static enum d4_fed_decision refuse(struct d4_fed_verdict *out, enum d4_fed_reason r)
{
	return verdict(out, D4_FED_REFUSE, r);
}

/* 1 if the record came from another hub. */
static int fed_foreign(const struct d4_fed_self *self, const struct d4_fed_record *rec)
{
	return (rec->has_origin && !uuid_eq(rec->origin, self->hub)) || rec->nvia;
}

/* The record's org: its misp:org, else this hub's (DESIGN §5). */
static const uint8_t *record_org(const struct d4_fed_self *self, const struct d4_fed_record *rec)
{
	return rec->has_org ? rec->org : self->org;
}

/* rdata filter of an A/AAAA tuple. Returns a refusal reason or
 * D4_FED_R_RELEASED. */
/* 1 if an allow entry of rule names addr inside range: an entry that lies
 * inside the range and contains the address (10.1.0.0/16 names 10.1.2.3 of
 * 10.0.0.0/8; 0.0.0.0/0 or ::/0 names nothing). addr of range's family. */
static int allow_names(const struct d4_partner_rule *rule, const struct d4_partner_net *range,
		       const struct d4_partner_net *addr)
{
	for (unsigned i = 0; i < cap(rule->n_net_allow); i++) {
		const struct d4_partner_net *n = &rule->net_allow[i];
		if (n->family == range->family && n->prefix >= range->prefix && fed_net_contains(range, n) &&
		    fed_net_contains(n, addr))
			return 1;
	}
	return 0;
}

/* The hub's own network holding addr (or its IPv4 form v4), or NULL. */
static const struct d4_partner_net *own_net(const struct d4_fed_self *self, const struct d4_partner_net *a,
					    const struct d4_partner_net *v4)
{
	for (unsigned i = 0; self->own_nets && i < self->n_own_nets; i++) {
		const struct d4_partner_net *n = &self->own_nets[i];
		if (fed_net_contains(n, a) || (v4->family == 4 && fed_net_contains(n, v4)))
			return n;
	}
	return NULL;
}

/* An address in the hub's own networks: D4_FED_R_OWN_NETWORK unless an
 * allow entry inside that network names it. */
static enum d4_fed_reason own_check(const struct d4_fed_self *self, const struct d4_partner_rule *rule,
				    const struct d4_partner_net *a, const struct d4_partner_net *v4)
{
	const struct d4_partner_net *own = own_net(self, a, v4);
	if (!own)
		return D4_FED_R_RELEASED;
	const struct d4_partner_net *probe = (a->family == 6 && own->family == 4) ? v4 : a;
	return allow_names(rule, own, probe) ? D4_FED_R_RELEASED : D4_FED_R_OWN_NETWORK;
}

static enum d4_fed_reason rdata_check(const struct d4_fed_self *self, const struct d4_partner_rule *rule,
				      const struct d4_fed_record *rec)
{
	if (rec->rrtype != 1 && rec->rrtype != 28)
		return D4_FED_R_RELEASED;
	struct d4_partner_net a, v4;
	if (!rec->rdata || fed_addr_parse(rec->rdata, &a) != 0 || (rec->rrtype == 1) != (a.family == 4))
		return D4_FED_R_INVALID; /* unreadable address: fail closed */
	/* An IPv4-mapped IPv6 address is matched as its IPv4 address too, so
	 * that ::ffff:192.0.2.1 cannot slip past a deny of 192.0.2.0/24. */
	int sp = special_index(&a, &v4);
	int mapped = a.family == 6 && v4.family == 4;
	for (unsigned i = 0; i < cap(rule->n_net_deny); i++)
		if (fed_net_contains(&rule->net_deny[i], &a) || (mapped && fed_net_contains(&rule->net_deny[i], &v4)))
			return D4_FED_R_RDATA_NET;
	int named = 0;
	for (unsigned i = 0; i < cap(rule->n_net_allow) && !named; i++)
		if (fed_net_contains(&rule->net_allow[i], &a) || (mapped && fed_net_contains(&rule->net_allow[i], &v4)))
			named = 1;
	if (rule->n_net_allow && !named)
		return D4_FED_R_RDATA_NET;
	enum d4_fed_reason own = own_check(self, rule, &a, &v4);
	if (own != D4_FED_R_RELEASED)
		return own;
	if (sp < 0)
		return D4_FED_R_RELEASED;
	/* A private address leaves only when an allow entry names private
	 * space: one inside the special range (10.1.0.0/16 names 10.1.2.3;
	 * 0.0.0.0/0 or ::/0 does not). */
	const struct d4_partner_net range = special_nets[sp];
	const struct d4_partner_net *probe = (a.family == 6 && range.family == 4) ? &v4 : &a;
	return allow_names(rule, &range, probe) ? D4_FED_R_RELEASED : D4_FED_R_RDATA_PRIVATE;
}

/* The address a reverse name stands for ("4.3.2.1.in-addr.arpa." is
 * 1.2.3.4; 32 nibbles under ip6.arpa an IPv6 address). 1 with *a filled,
 * 0 when name is not the reverse name of one whole address. */
static int reverse_addr(const char *name, struct d4_partner_net *a)
{
	size_t nl = strlen(name);
	if (nl && name[nl - 1] == '.')
		nl--;
	memset(a, 0, sizeof(*a));
	static const char v4sfx[] = ".in-addr.arpa", v6sfx[] = ".ip6.arpa";
	if (nl > sizeof(v4sfx) - 1 && strncasecmp(name + nl - (sizeof(v4sfx) - 1), v4sfx, sizeof(v4sfx) - 1) == 0) {
		size_t end = nl - (sizeof(v4sfx) - 1);
		unsigned octets[4], n = 0, v = 0, digits = 0;
		for (size_t i = 0; i <= end; i++) {
			if (i == end || name[i] == '.') {
				if (!digits || n == 4 || v > 255)
					return 0;
				octets[n++] = v;
				v = digits = 0;
			} else if (name[i] >= '0' && name[i] <= '9' && digits < 3) {
				v = v * 10 + (unsigned)(name[i] - '0');
				digits++;
			} else {
				return 0;
			}
		}
		if (n != 4)
			return 0;
		a->family = 4;
		a->prefix = 32;
		for (unsigned k = 0; k < 4; k++)
			a->addr[k] = (uint8_t)octets[3 - k];
		return 1;
	}
	/* 32 times "x." then "ip6.arpa": the suffix's dot is the last nibble's */
	if (nl == 63 + sizeof(v6sfx) - 1 && strncasecmp(name + 63, v6sfx, sizeof(v6sfx) - 1) == 0) {
		for (unsigned k = 0; k < 32; k++) {
			char c = name[2 * k];
			if (name[2 * k + 1] != '.')
				return 0;
			unsigned v;
			if (c >= '0' && c <= '9')
				v = (unsigned)(c - '0');
			else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
				v = (unsigned)((c | 0x20) - 'a' + 10);
			else
				return 0;
			/* nibble k counts from the end of the address */
			unsigned byte = 15 - k / 2;
			a->addr[byte] |= (uint8_t)(k % 2 ? v << 4 : v);
		}
		a->family = 6;
		a->prefix = 128;
		return 1;
	}
	return 0;
}

/* The reverse name of a private or own address says which address a client
 * or server inside has (a PTR lookup for a host in 10/8): it never leaves
 * unless an allow entry names the address, like rdata. */
static enum d4_fed_reason rrname_check(const struct d4_fed_self *self, const struct d4_partner_rule *rule,
				       const struct d4_fed_record *rec)
{
	struct d4_partner_net a, v4;
	if (!reverse_addr(rec->rrname, &a))
		return D4_FED_R_RELEASED;
	int sp = special_index(&a, &v4);
	if (own_check(self, rule, &a, &v4) != D4_FED_R_RELEASED)
		return D4_FED_R_RRNAME_PRIVATE;
	if (sp >= 0) {
		const struct d4_partner_net range = special_nets[sp];
		const struct d4_partner_net *probe = (a.family == 6 && range.family == 4) ? &v4 : &a;
		if (!allow_names(rule, &range, probe))
			return D4_FED_R_RRNAME_PRIVATE;
	}
	return D4_FED_R_RELEASED;
}

/* The server address of a certs record, as rdata: the rule's nets (deny,
 * then allow), and a private or own address only when an allow entry
 * inside its range names it. */
static enum d4_fed_reason server_check(const struct d4_fed_self *self, const struct d4_partner_rule *rule,
				       const struct d4_fed_record *rec)
{
	if (!rec->server_ip)
		return D4_FED_R_INVALID;
	struct d4_partner_net a, v4;
	memset(&a, 0, sizeof(a));
	a.family = 6;
	a.prefix = 128;
	memcpy(a.addr, rec->server_ip, 16);
	int sp = special_index(&a, &v4);
	const struct d4_partner_net *probe_any = v4.family == 4 ? &v4 : &a;
	for (unsigned i = 0; i < cap(rule->n_net_deny); i++)
		if (fed_net_contains(&rule->net_deny[i], &a) || fed_net_contains(&rule->net_deny[i], probe_any))
			return D4_FED_R_ADDR_NET;
	int named = 0;
	for (unsigned i = 0; i < cap(rule->n_net_allow) && !named; i++)
		if (fed_net_contains(&rule->net_allow[i], &a) || fed_net_contains(&rule->net_allow[i], probe_any))
			named = 1;
	if (rule->n_net_allow && !named)
		return D4_FED_R_ADDR_NET;
	if (own_check(self, rule, &a, &v4) != D4_FED_R_RELEASED)
		return D4_FED_R_ADDR_PRIVATE;
	if (sp < 0)
		return D4_FED_R_RELEASED;
	const struct d4_partner_net range = special_nets[sp];
	const struct d4_partner_net *probe = (a.family == 6 && range.family == 4) ? &v4 : &a;
	return allow_names(rule, &range, probe) ? D4_FED_R_RELEASED : D4_FED_R_ADDR_PRIVATE;
}

/* The names of a certs record against the rule's zones: the SNI and the
 * server certificate's names. A denied zone holding any of them refuses
 * the record (sharing the certificate shares every name in it); with an
 * allow list, every name must be in an allowed zone, and a record with no
 * name at all cannot be vouched for. */
static enum d4_fed_reason cert_zone_check(const struct d4_partner_rule *rule, const struct d4_fed_record *rec)
{
	if (!rule->n_zone_deny && !rule->n_zone_allow)
		return D4_FED_R_RELEASED;
	unsigned total = 0;
	for (unsigned i = 0; i <= rec->nnames; i++) {
		const char *n = i == 0 ? rec->sni : rec->names ? rec->names[i - 1] : NULL;
		if (!n || !*n)
			continue;
		total++;
		if (zone_in(rule->zone_deny, cap(rule->n_zone_deny), n))
			return D4_FED_R_ZONE;
		if (rule->n_zone_allow && !zone_in(rule->zone_allow, cap(rule->n_zone_allow), n))
			return D4_FED_R_ZONE;
	}
	if (rule->n_zone_allow && total == 0)
		return D4_FED_R_ZONE;
	return D4_FED_R_RELEASED;
}

/* Mixing of a pdns tuple that passed every filter of the rule. */
static enum d4_fed_reason mix_pdns(const struct d4_partner_rule *rule, const struct d4_fed_record *rec)
{
	const struct d4_partner_mix *m = &rule->mix;
	if (m->min_sensors || m->min_count) {
		int ok = (m->min_sensors && rec->seen_sensors >= m->min_sensors) ||
			 (m->min_count && rec->seen_count >= m->min_count);
		if (!ok)
			return D4_FED_R_MIX_THRESHOLD;
	}
	return D4_FED_R_RELEASED;
}

/* The partner's rule, once every hard rule has passed. */
static enum d4_fed_reason rule_check(const struct d4_fed_self *self, const struct d4_partner_rule *rule,
				     const struct d4_fed_record *rec, enum d4_tlp level)
{
	if (!d4_policy_tlp_visible((enum d4_tlp)rule->max_tlp, level))
		return D4_FED_R_ABOVE_MAX_TLP;
	if (fed_foreign(self, rec) && !rule->allow_relay)
		return D4_FED_R_RELAY_NOT_ALLOWED;
	/* transitive relay needs the origin's consent too (its partner record
	 * of the hub it sent to says onward), carried signed with the record */
	if (fed_foreign(self, rec) && !rec->onward)
		return D4_FED_R_ORIGIN_NO_ONWARD;
	/* Sensors: with a set (a pDNS tuple seen by several), every sensor must
	 * pass: the tuple's counts and times carry each sensor's observations. */
	for (unsigned i = 0; i < rec->nsensors; i++) {
		if (uuid_in(rule->sensor_deny, cap(rule->n_sensor_deny), rec->sensors[i]))
			return D4_FED_R_SENSOR;
		if (rule->n_sensor_allow && !uuid_in(rule->sensor_allow, cap(rule->n_sensor_allow), rec->sensors[i]))
			return D4_FED_R_SENSOR;
	}
	if (rule->n_sensor_allow && rec->nsensors == 0)
		return D4_FED_R_SENSOR; /* an allow list cannot vouch for an unknown source */
	const uint8_t *org = record_org(self, rec);
	if (uuid_in(rule->org_deny, cap(rule->n_org_deny), org))
		return D4_FED_R_ORG;
	if (rule->n_org_allow && !uuid_in(rule->org_allow, cap(rule->n_org_allow), org))
		return D4_FED_R_ORG;
	if (rec->kind == D4_FED_KIND_FRAMES) {
		if (bit(rule->type_deny, rec->type) ||
		    (!map_empty(rule->type_allow) && !bit(rule->type_allow, rec->type)))
			return D4_FED_R_TYPE;
		const char *ext = rec->ext_type ? rec->ext_type : "";
		if (ext_in(rule->ext_deny, cap(rule->n_ext_deny), ext))
			return D4_FED_R_EXT_TYPE;
		if (rule->n_ext_allow && !ext_in(rule->ext_allow, cap(rule->n_ext_allow), ext))
			return D4_FED_R_EXT_TYPE;
	}
	if (rec->kind == D4_FED_KIND_PDNS) {
		if (!rec->rrname)
			return D4_FED_R_INVALID;
		if (zone_in(rule->zone_deny, cap(rule->n_zone_deny), rec->rrname))
			return D4_FED_R_ZONE;
		if (rule->n_zone_allow && !zone_in(rule->zone_allow, cap(rule->n_zone_allow), rec->rrname))
			return D4_FED_R_ZONE;
		if (rrtype_in(rule->rrtype_deny, cap(rule->n_rrtype_deny), rec->rrtype))
			return D4_FED_R_RRTYPE;
		if (rule->n_rrtype_allow && !rrtype_in(rule->rrtype_allow, cap(rule->n_rrtype_allow), rec->rrtype))
			return D4_FED_R_RRTYPE;
		enum d4_fed_reason r = rdata_check(self, rule, rec);
		if (r == D4_FED_R_RELEASED)
			r = rrname_check(self, rule, rec);
		if (r != D4_FED_R_RELEASED || !rule->mix.enabled)
			return r;
		return mix_pdns(rule, rec);
	}
	if (rec->kind == D4_FED_KIND_CERTS) {
		enum d4_fed_reason r = server_check(self, rule, rec);
		return r == D4_FED_R_RELEASED ? cert_zone_check(rule, rec) : r;
	}
	if (rec->kind == D4_FED_KIND_BACKSCATTER && rule->mix.enabled) {
		if (rec->packets < rule->mix.min_packets)
			return D4_FED_R_MIX_PACKETS;
		if (rec->duration_s < rule->mix.min_duration_s)
			return D4_FED_R_MIX_DURATION;
	}
	return D4_FED_R_RELEASED;
}

enum d4_tlp fed_effective_level(const struct d4_fed_self *self, const struct d4_fed_record *rec, int *no_sync)
{
	int tag_no_sync = 0;
	enum d4_tlp level = rec->tlp;
	if (rec->tags && rec->ntags)
		level = d4_policy_tlp_max(level, d4_policy_tlp_from_tags(rec->tags, rec->ntags, &tag_no_sync));
	*no_sync = rec->no_sync || tag_no_sync;
	/* No real level: the hub's default; a broken default gives tlp:red. */
	return d4_policy_tlp_resolve(level, D4_TLP_NONE, self->default_tlp);
}

enum d4_fed_decision d4_fed_decide(const struct d4_fed_self *self, const struct d4_fed_partner *partner,
				   const struct d4_partner_rule *rule, const struct d4_fed_record *rec,
				   struct d4_fed_verdict *out)
{
	static struct d4_fed_verdict sink;
	if (!out)
		out = &sink;
	out->level = D4_TLP_RED;
	if (!self || !partner || !rec || (unsigned)rec->kind >= D4_FED_KIND_COUNT || rec->nvia > D4_FED_VIA_MAX ||
	    (rec->nvia && (!rec->via || !rec->has_origin)) || (rec->nsensors && !rec->sensors) ||
	    (rec->nnames && !rec->names) || (unsigned)partner->relation < D4_FED_REL_SAME_ORG ||
	    (unsigned)partner->relation > D4_FED_REL_PUBLIC)
		return refuse(out, D4_FED_R_INVALID);
	int no_sync = 0;
	enum d4_tlp level = fed_effective_level(self, rec, &no_sync);
	out->level = level;

	/* Hard rules, whatever the configuration says. */
	if (level == D4_TLP_RED)
		return refuse(out, D4_FED_R_TLP_RED);
	if (no_sync)
		return refuse(out, D4_FED_R_NO_SYNC);
	if (!partner->enabled)
		return refuse(out, D4_FED_R_PARTNER_DISABLED);
	/* A partner configured with this hub's own uuid is the origin of
	 * everything this hub holds. */
	if ((rec->has_origin && uuid_eq(rec->origin, partner->hub)) || uuid_eq(partner->hub, self->hub))
		return refuse(out, D4_FED_R_LOOP_ORIGIN);
	if (rec->nvia && uuid_in(rec->via, rec->nvia, partner->hub))
		return refuse(out, D4_FED_R_LOOP_VIA);
	if (rec->stripped)
		return refuse(out, D4_FED_R_STRIPPED_NO_RELAY);
	/* A same-org partner is one only if its org uuid is ours: a relation
	 * that says otherwise is a configuration error and gets no trust. */
	int same_org =
	    partner->relation == D4_FED_REL_SAME_ORG && !uuid_eq(self->org, zero16) && uuid_eq(partner->org, self->org);
	int strip = 0;
	switch (level) {
	case D4_TLP_AMBER_STRICT:
		/* Stays inside the originating organisation. */
		if (!same_org || !uuid_eq(record_org(self, rec), self->org))
			return refuse(out, D4_FED_R_AMBER_STRICT_OTHER_ORG);
		break;
	case D4_TLP_AMBER:
		if (!same_org && !(partner->relation == D4_FED_REL_PARTNER && rule && rule->allow_amber))
			return refuse(out, D4_FED_R_AMBER_NOT_ALLOWED);
		break;
	case D4_TLP_EX_CHR:
	case D4_TLP_GREEN:
		/* ex:chr content has green's audience, without its source. */
		strip = level == D4_TLP_EX_CHR;
		if (partner->relation == D4_FED_REL_PUBLIC)
			return refuse(out, D4_FED_R_NOT_COMMUNITY);
		break;
	case D4_TLP_CLEAR: break;
	default:
		/* fed_effective_level only returns real levels; anything else
		 * means memory is not what this code believes: refuse. */
		return refuse(out, D4_FED_R_INVALID);
	}

	/* The partner's rule. */
	if (!rule || !rule->enabled)
		return refuse(out, D4_FED_R_KIND_NOT_SHARED);
	enum d4_fed_reason r = rule_check(self, rule, rec, level);
	if (r != D4_FED_R_RELEASED)
		return refuse(out, r);
	if (strip)
		return verdict(out, D4_FED_RELEASE_STRIPPED, D4_FED_R_EX_CHR_STRIPPED);
	return verdict(out, D4_FED_RELEASE, D4_FED_R_RELEASED);
}

void d4_fed_outgoing(const struct d4_fed_self *self, const struct d4_fed_record *rec, const struct d4_fed_verdict *v,
		     struct d4_fed_out *out)
{
	memset(out, 0, sizeof(*out));
	if (!self || !rec || !v)
		return;
	if (v->decision == D4_FED_RELEASE_STRIPPED) {
		out->stripped = 1;
		return;
	}
	if (v->decision != D4_FED_RELEASE)
		return;
	out->has_org = 1;
	memcpy(out->org, record_org(self, rec), 16);
	out->sensors = rec->sensors;
	out->nsensors = rec->nsensors;
	out->has_origin = 1;
	int foreign = fed_foreign(self, rec);
	memcpy(out->origin, foreign && rec->has_origin ? rec->origin : self->hub, 16);
	out->via = rec->nvia ? rec->via : NULL;
	out->nvia = rec->nvia;
	/* The origin is not repeated on the path. */
	out->append_self = foreign;
}
