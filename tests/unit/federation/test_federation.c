/* Unit tests of federation/: the egress policy, one table of cases per TLP
 * row of the policy table, the partner's filters, and a seeded property
 * test over random configurations and records. */
#include "d4_error.h"
#include "d4_federation.h"
#include "fed_internal.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

TCase *json_tcase(void);
TCase *identity_tcase(void);
TCase *receive_tcase(void);
TCase *batch_tcase(void);
TCase *inbound_tcase(void);
TCase *mix_tcase(void);
TCase *seal_tcase(void);

static const uint8_t HUB_A[16] = {0xa1, 1};
static const uint8_t HUB_B[16] = {0xb1, 1};
static const uint8_t HUB_C[16] = {0xc1, 1};
static const uint8_t ORG_1[16] = {0x01, 0x0f};
static const uint8_t ORG_2[16] = {0x02, 0x0f};
static const uint8_t SENSOR_1[1][16] = {{0x5e, 1}};

static struct d4_fed_self self_a(void)
{
	struct d4_fed_self s;
	memset(&s, 0, sizeof(s));
	memcpy(s.hub, HUB_A, 16);
	memcpy(s.org, ORG_1, 16);
	s.default_tlp = D4_TLP_AMBER_STRICT;
	return s;
}

/* B: same organisation; C: another organisation. */
static struct d4_fed_partner partner(enum d4_fed_relation rel)
{
	struct d4_fed_partner p;
	memset(&p, 0, sizeof(p));
	memcpy(p.hub, rel == D4_FED_REL_SAME_ORG ? HUB_B : HUB_C, 16);
	memcpy(p.org, rel == D4_FED_REL_SAME_ORG ? ORG_1 : ORG_2, 16);
	p.relation = rel;
	p.enabled = 1;
	return p;
}

static struct d4_partner_rule *rule_open(enum d4_tlp max, int allow_amber)
{
	struct d4_partner_rule *r = calloc(1, sizeof(*r));
	ck_assert_ptr_nonnull(r);
	r->enabled = 1;
	r->max_tlp = (uint8_t)max;
	r->allow_amber = (uint8_t)allow_amber;
	return r;
}

static struct d4_fed_record frame(enum d4_tlp tlp)
{
	struct d4_fed_record r;
	memset(&r, 0, sizeof(r));
	r.kind = D4_FED_KIND_FRAMES;
	r.tlp = tlp;
	r.sensors = SENSOR_1;
	r.nsensors = 1;
	r.type = 254;
	r.ext_type = "ja3-jl";
	return r;
}

/* One row of the policy table: a record level, a partner relation, whether
 * the partner is allowed amber, its max TLP; what must happen. */
struct tlp_case {
	enum d4_tlp tlp;
	enum d4_fed_relation rel;
	int allow_amber;
	enum d4_tlp max;
	enum d4_fed_decision want;
	enum d4_fed_reason why;
};

static const struct tlp_case tlp_cases[] = {
    /* tlp:red: nobody, whatever the rule says */
    {D4_TLP_RED, D4_FED_REL_SAME_ORG, 1, D4_TLP_RED, D4_FED_REFUSE, D4_FED_R_TLP_RED},
    {D4_TLP_RED, D4_FED_REL_PARTNER, 1, D4_TLP_RED, D4_FED_REFUSE, D4_FED_R_TLP_RED},
    {D4_TLP_RED, D4_FED_REL_COMMUNITY, 1, D4_TLP_RED, D4_FED_REFUSE, D4_FED_R_TLP_RED},
    {D4_TLP_RED, D4_FED_REL_PUBLIC, 1, D4_TLP_RED, D4_FED_REFUSE, D4_FED_R_TLP_RED},
    /* tlp:amber+strict: hubs of the same organisation only */
    {D4_TLP_AMBER_STRICT, D4_FED_REL_SAME_ORG, 0, D4_TLP_AMBER_STRICT, D4_FED_RELEASE, D4_FED_R_RELEASED},
    {D4_TLP_AMBER_STRICT, D4_FED_REL_SAME_ORG, 0, D4_TLP_AMBER, D4_FED_REFUSE, D4_FED_R_ABOVE_MAX_TLP},
    {D4_TLP_AMBER_STRICT, D4_FED_REL_PARTNER, 1, D4_TLP_RED, D4_FED_REFUSE, D4_FED_R_AMBER_STRICT_OTHER_ORG},
    {D4_TLP_AMBER_STRICT, D4_FED_REL_COMMUNITY, 1, D4_TLP_RED, D4_FED_REFUSE, D4_FED_R_AMBER_STRICT_OTHER_ORG},
    {D4_TLP_AMBER_STRICT, D4_FED_REL_PUBLIC, 1, D4_TLP_RED, D4_FED_REFUSE, D4_FED_R_AMBER_STRICT_OTHER_ORG},
    /* tlp:amber: partners explicitly allowed amber (and the same org) */
    {D4_TLP_AMBER, D4_FED_REL_SAME_ORG, 0, D4_TLP_AMBER, D4_FED_RELEASE, D4_FED_R_RELEASED},
    {D4_TLP_AMBER, D4_FED_REL_PARTNER, 1, D4_TLP_AMBER, D4_FED_RELEASE, D4_FED_R_RELEASED},
    {D4_TLP_AMBER, D4_FED_REL_PARTNER, 0, D4_TLP_RED, D4_FED_REFUSE, D4_FED_R_AMBER_NOT_ALLOWED},
    {D4_TLP_AMBER, D4_FED_REL_PARTNER, 1, D4_TLP_GREEN, D4_FED_REFUSE, D4_FED_R_ABOVE_MAX_TLP},
    {D4_TLP_AMBER, D4_FED_REL_COMMUNITY, 1, D4_TLP_RED, D4_FED_REFUSE, D4_FED_R_AMBER_NOT_ALLOWED},
    {D4_TLP_AMBER, D4_FED_REL_PUBLIC, 1, D4_TLP_RED, D4_FED_REFUSE, D4_FED_R_AMBER_NOT_ALLOWED},
    /* tlp:green: the configured community (not a public server) */
    {D4_TLP_GREEN, D4_FED_REL_SAME_ORG, 0, D4_TLP_GREEN, D4_FED_RELEASE, D4_FED_R_RELEASED},
    {D4_TLP_GREEN, D4_FED_REL_PARTNER, 0, D4_TLP_GREEN, D4_FED_RELEASE, D4_FED_R_RELEASED},
    {D4_TLP_GREEN, D4_FED_REL_COMMUNITY, 0, D4_TLP_GREEN, D4_FED_RELEASE, D4_FED_R_RELEASED},
    {D4_TLP_GREEN, D4_FED_REL_COMMUNITY, 0, D4_TLP_CLEAR, D4_FED_REFUSE, D4_FED_R_ABOVE_MAX_TLP},
    {D4_TLP_GREEN, D4_FED_REL_PUBLIC, 0, D4_TLP_RED, D4_FED_REFUSE, D4_FED_R_NOT_COMMUNITY},
    /* tlp:clear: anyone, including the public upstream */
    {D4_TLP_CLEAR, D4_FED_REL_SAME_ORG, 0, D4_TLP_CLEAR, D4_FED_RELEASE, D4_FED_R_RELEASED},
    {D4_TLP_CLEAR, D4_FED_REL_PARTNER, 0, D4_TLP_CLEAR, D4_FED_RELEASE, D4_FED_R_RELEASED},
    {D4_TLP_CLEAR, D4_FED_REL_COMMUNITY, 0, D4_TLP_CLEAR, D4_FED_RELEASE, D4_FED_R_RELEASED},
    {D4_TLP_CLEAR, D4_FED_REL_PUBLIC, 0, D4_TLP_CLEAR, D4_FED_RELEASE, D4_FED_R_RELEASED},
    /* none / tlp:unclear: the hub default (amber+strict here) */
    {D4_TLP_NONE, D4_FED_REL_SAME_ORG, 0, D4_TLP_AMBER_STRICT, D4_FED_RELEASE, D4_FED_R_RELEASED},
    {D4_TLP_NONE, D4_FED_REL_PARTNER, 1, D4_TLP_RED, D4_FED_REFUSE, D4_FED_R_AMBER_STRICT_OTHER_ORG},
    {D4_TLP_UNCLEAR, D4_FED_REL_SAME_ORG, 0, D4_TLP_AMBER_STRICT, D4_FED_RELEASE, D4_FED_R_RELEASED},
    {D4_TLP_UNCLEAR, D4_FED_REL_COMMUNITY, 1, D4_TLP_RED, D4_FED_REFUSE, D4_FED_R_AMBER_STRICT_OTHER_ORG},
    /* tlp:ex:chr: content goes (green's audience), identity stripped */
    {D4_TLP_EX_CHR, D4_FED_REL_SAME_ORG, 0, D4_TLP_EX_CHR, D4_FED_RELEASE_STRIPPED, D4_FED_R_EX_CHR_STRIPPED},
    {D4_TLP_EX_CHR, D4_FED_REL_PARTNER, 0, D4_TLP_AMBER, D4_FED_RELEASE_STRIPPED, D4_FED_R_EX_CHR_STRIPPED},
    {D4_TLP_EX_CHR, D4_FED_REL_COMMUNITY, 0, D4_TLP_EX_CHR, D4_FED_RELEASE_STRIPPED, D4_FED_R_EX_CHR_STRIPPED},
    {D4_TLP_EX_CHR, D4_FED_REL_COMMUNITY, 0, D4_TLP_GREEN, D4_FED_REFUSE, D4_FED_R_ABOVE_MAX_TLP},
    {D4_TLP_EX_CHR, D4_FED_REL_PUBLIC, 0, D4_TLP_RED, D4_FED_REFUSE, D4_FED_R_NOT_COMMUNITY},
};

START_TEST(test_tlp_table)
{
	struct d4_fed_self s = self_a();
	for (size_t i = 0; i < sizeof(tlp_cases) / sizeof(tlp_cases[0]); i++) {
		const struct tlp_case *c = &tlp_cases[i];
		struct d4_fed_partner p = partner(c->rel);
		struct d4_partner_rule *r = rule_open(c->max, c->allow_amber);
		struct d4_fed_record rec = frame(c->tlp);
		struct d4_fed_verdict v;
		enum d4_fed_decision d = d4_fed_decide(&s, &p, r, &rec, &v);
		ck_assert_msg(d == c->want && v.decision == d && v.reason == c->why,
			      "case %zu (%s to %s, max %s): got %s/%s, want %s/%s", i, d4_policy_tlp_name(c->tlp),
			      d4_fed_relation_name(c->rel), d4_policy_tlp_name(c->max), d4_fed_decision_name(d),
			      d4_fed_reason_name(v.reason), d4_fed_decision_name(c->want), d4_fed_reason_name(c->why));
		free(r);
	}
}
END_TEST

/* A backscatter vector as the source describes it: level, org, the sensors
 * that saw it; no kind-specific field reaches the policy. */
static const uint8_t SENSORS_2[2][16] = {{0x5e, 1}, {0x5e, 2}};
static struct d4_fed_record vector(enum d4_tlp tlp)
{
	struct d4_fed_record r;
	memset(&r, 0, sizeof(r));
	r.kind = D4_FED_KIND_BACKSCATTER;
	r.tlp = tlp;
	r.sensors = SENSORS_2;
	r.nsensors = 2;
	return r;
}

/* Backscatter goes by the same table as every kind, through the same
 * function; the rule of the kind decides, not the rule of another. */
START_TEST(test_backscatter_policy)
{
	struct d4_fed_self s = self_a();
	for (size_t i = 0; i < sizeof(tlp_cases) / sizeof(tlp_cases[0]); i++) {
		const struct tlp_case *c = &tlp_cases[i];
		struct d4_fed_partner p = partner(c->rel);
		struct d4_partner_rule *r = rule_open(c->max, c->allow_amber);
		struct d4_fed_record rec = vector(c->tlp);
		struct d4_fed_verdict v;
		enum d4_fed_decision d = d4_fed_decide(&s, &p, r, &rec, &v);
		ck_assert_msg(d == c->want && v.reason == c->why, "case %zu (%s to %s, max %s): got %s/%s, want %s/%s",
			      i, d4_policy_tlp_name(c->tlp), d4_fed_relation_name(c->rel), d4_policy_tlp_name(c->max),
			      d4_fed_decision_name(d), d4_fed_reason_name(v.reason), d4_fed_decision_name(c->want),
			      d4_fed_reason_name(c->why));
		struct d4_fed_out o;
		d4_fed_outgoing(&s, &rec, &v, &o);
		if (d == D4_FED_RELEASE) {
			/* a local vector leaves under this hub's org and uuid */
			ck_assert(o.has_org && !memcmp(o.org, ORG_1, 16) && o.has_origin &&
				  !memcmp(o.origin, HUB_A, 16));
			ck_assert(o.nsensors == 2 && o.nvia == 0 && !o.append_self && !o.stripped);
		} else if (d == D4_FED_RELEASE_STRIPPED) {
			ck_assert(o.stripped && !o.has_org && !o.has_origin && o.nsensors == 0 && o.nvia == 0);
		}
		free(r);
	}

	/* the partner's rule of the kind: another kind's rule shares nothing */
	struct d4_partner *pp = calloc(1, sizeof(*pp));
	ck_assert_ptr_nonnull(pp);
	d4_fed_partner_defaults(pp);
	pp->out[D4_FED_KIND_FRAMES].enabled = 1;
	pp->out[D4_FED_KIND_FRAMES].max_tlp = D4_TLP_RED;
	struct d4_fed_partner p = partner(D4_FED_REL_PARTNER);
	struct d4_fed_record rec = vector(D4_TLP_CLEAR);
	struct d4_fed_verdict v;
	d4_fed_decide(&s, &p, &pp->out[D4_FED_KIND_BACKSCATTER], &rec, &v);
	ck_assert_int_eq(v.reason, D4_FED_R_KIND_NOT_SHARED);
	struct d4_partner_rule *r = &pp->out[D4_FED_KIND_BACKSCATTER];
	r->enabled = 1;
	r->max_tlp = D4_TLP_GREEN;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_RELEASE);
	/* the frames-only and pDNS-only lists do not apply to vectors */
	r->type_allow[0] = 0x02; /* type 1 only */
	r->n_zone_allow = 1;
	strcpy(r->zone_allow[0], "example.");
	r->n_rrtype_allow = 1;
	r->rrtype_allow[0] = 28;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_RELEASE);
	/* sensors: every sensor of the vector must pass */
	r->n_sensor_deny = 1;
	memcpy(r->sensor_deny[0], SENSORS_2[1], 16);
	d4_fed_decide(&s, &p, r, &rec, &v);
	ck_assert_int_eq(v.reason, D4_FED_R_SENSOR);
	r->n_sensor_deny = 0;
	r->n_sensor_allow = 1;
	memcpy(r->sensor_allow[0], SENSORS_2[0], 16);
	d4_fed_decide(&s, &p, r, &rec, &v);
	ck_assert_int_eq(v.reason, D4_FED_R_SENSOR);
	memcpy(r->sensor_allow[1], SENSORS_2[1], 16);
	r->n_sensor_allow = 2;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_RELEASE);
	/* org: the vector's, else this hub's */
	r->n_org_deny = 1;
	memcpy(r->org_deny[0], ORG_1, 16);
	d4_fed_decide(&s, &p, r, &rec, &v);
	ck_assert_int_eq(v.reason, D4_FED_R_ORG);
	rec.has_org = 1;
	memcpy(rec.org, ORG_2, 16);
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_RELEASE);
	r->n_org_deny = 0;
	/* a received vector: relayed only where the rule allows it, with the
	 * path extended; never back to its origin; stripped never again */
	rec = vector(D4_TLP_GREEN);
	rec.has_origin = 1;
	memcpy(rec.origin, HUB_B, 16);
	d4_fed_decide(&s, &p, r, &rec, &v);
	ck_assert_int_eq(v.reason, D4_FED_R_RELAY_NOT_ALLOWED);
	r->allow_relay = 1;
	/* both rules: this hub's, and the origin's consent (onward) */
	d4_fed_decide(&s, &p, r, &rec, &v);
	ck_assert_int_eq(v.reason, D4_FED_R_ORIGIN_NO_ONWARD);
	rec.onward = 1;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_RELEASE);
	struct d4_fed_out o;
	d4_fed_outgoing(&s, &rec, &v, &o);
	ck_assert(o.has_origin && !memcmp(o.origin, HUB_B, 16) && o.append_self && o.nvia == 0);
	struct d4_fed_partner back = partner(D4_FED_REL_SAME_ORG); /* HUB_B */
	d4_fed_decide(&s, &back, r, &rec, &v);
	ck_assert_int_eq(v.reason, D4_FED_R_LOOP_ORIGIN);
	rec = vector(D4_TLP_EX_CHR);
	rec.stripped = 1;
	rec.nsensors = 0;
	d4_fed_decide(&s, &p, r, &rec, &v);
	ck_assert_int_eq(v.reason, D4_FED_R_STRIPPED_NO_RELAY);
	free(pp);
}
END_TEST

START_TEST(test_no_sync_and_tags)
{
	struct d4_fed_self s = self_a();
	struct d4_fed_partner p = partner(D4_FED_REL_SAME_ORG);
	struct d4_partner_rule *r = rule_open(D4_TLP_RED, 1);
	r->allow_relay = 1;
	struct d4_fed_verdict v;
	/* The flag alone. */
	struct d4_fed_record rec = frame(D4_TLP_CLEAR);
	rec.no_sync = 1;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_NO_SYNC);
	/* The tag alone, in any case, with the flag lost. */
	static const char tags[2][128] = {"tlp:clear", "MISP:Should-Not-Sync"};
	rec = frame(D4_TLP_CLEAR);
	rec.tags = tags;
	rec.ntags = 2;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_NO_SYNC);
	/* A stored level lower than its tags: the tags win (fail closed). */
	static const char red[1][128] = {"tlp:red"};
	rec = frame(D4_TLP_CLEAR);
	rec.tags = red;
	rec.ntags = 1;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_TLP_RED);
	/* A malformed tlp tag is red (hub/policy's rule). */
	static const char bad[1][128] = {"tlp:amber+strictx"};
	rec.tags = bad;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_TLP_RED);
	/* A broken hub default lets nothing without a level leave. */
	s.default_tlp = D4_TLP_NONE;
	rec = frame(D4_TLP_NONE);
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_TLP_RED);
	/* Hub default clear: an unlabelled record goes where clear goes. */
	s.default_tlp = D4_TLP_CLEAR;
	struct d4_fed_partner pub = partner(D4_FED_REL_PUBLIC);
	ck_assert_int_eq(d4_fed_decide(&s, &pub, r, &rec, &v), D4_FED_RELEASE);
	ck_assert_int_eq(v.level, D4_TLP_CLEAR);
	free(r);
}
END_TEST

START_TEST(test_amber_strict_orgs)
{
	struct d4_fed_self s = self_a();
	struct d4_partner_rule *r = rule_open(D4_TLP_RED, 1);
	r->allow_relay = 1;
	struct d4_fed_verdict v;
	struct d4_fed_record rec = frame(D4_TLP_AMBER_STRICT);
	/* A "same-org" partner whose org uuid is not ours gets no trust. */
	struct d4_fed_partner p = partner(D4_FED_REL_SAME_ORG);
	memcpy(p.org, ORG_2, 16);
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_AMBER_STRICT_OTHER_ORG);
	/* ... nor for amber without an explicit allowance on a partner. */
	rec = frame(D4_TLP_AMBER);
	r->allow_amber = 0;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_AMBER_NOT_ALLOWED);
	/* A record of another org held here stays inside that org. */
	p = partner(D4_FED_REL_SAME_ORG);
	rec = frame(D4_TLP_AMBER_STRICT);
	rec.has_org = 1;
	memcpy(rec.org, ORG_2, 16);
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_AMBER_STRICT_OTHER_ORG);
	/* Our org explicitly: goes to the same-org hub. */
	memcpy(rec.org, ORG_1, 16);
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_RELEASE);
	/* A hub with no org uuid has no "same organisation". */
	memset(s.org, 0, 16);
	memset(p.org, 0, 16);
	rec.has_org = 0;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	free(r);
}
END_TEST

START_TEST(test_loops_and_relay)
{
	struct d4_fed_self s = self_a();
	struct d4_fed_partner p = partner(D4_FED_REL_PARTNER);
	struct d4_partner_rule *r = rule_open(D4_TLP_CLEAR, 0);
	struct d4_fed_verdict v;
	struct d4_fed_record rec = frame(D4_TLP_CLEAR);
	/* Never back to the origin. */
	rec.has_origin = 1;
	memcpy(rec.origin, HUB_C, 16);
	r->allow_relay = 1;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_LOOP_ORIGIN);
	/* Never to a hub on the path. */
	static const uint8_t via[2][16] = {{0xb1, 1}, {0xc1, 1}};
	memcpy(rec.origin, HUB_B, 16);
	rec.via = via;
	rec.nvia = 2;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_LOOP_VIA);
	/* Not relayed unless the rule says so, and the origin too. */
	rec.nvia = 1;
	d4_fed_decide(&s, &p, r, &rec, &v);
	ck_assert_int_eq(v.reason, D4_FED_R_ORIGIN_NO_ONWARD);
	rec.onward = 1;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_RELEASE);
	struct d4_fed_out o;
	d4_fed_outgoing(&s, &rec, &v, &o);
	ck_assert(o.has_origin && memcmp(o.origin, HUB_B, 16) == 0);
	ck_assert_uint_eq(o.nvia, 1);
	ck_assert_int_eq(o.append_self, 1);
	r->allow_relay = 0;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_RELAY_NOT_ALLOWED);
	/* A record that arrived stripped has no path to guard: never relayed. */
	rec = frame(D4_TLP_CLEAR);
	rec.stripped = 1;
	r->allow_relay = 1;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_STRIPPED_NO_RELAY);
	/* A partner configured with our own uuid. */
	rec = frame(D4_TLP_CLEAR);
	memcpy(p.hub, HUB_A, 16);
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_LOOP_ORIGIN);
	/* Our own record, released: origin is us, nothing appended. */
	p = partner(D4_FED_REL_PARTNER);
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_RELEASE);
	d4_fed_outgoing(&s, &rec, &v, &o);
	ck_assert(memcmp(o.origin, HUB_A, 16) == 0 && o.has_org && memcmp(o.org, ORG_1, 16) == 0);
	ck_assert_uint_eq(o.nvia, 0);
	ck_assert_int_eq(o.append_self, 0);
	ck_assert_uint_eq(o.nsensors, 1);
	free(r);
}
END_TEST

START_TEST(test_disabled_and_invalid)
{
	struct d4_fed_self s = self_a();
	struct d4_fed_partner p = partner(D4_FED_REL_PARTNER);
	struct d4_partner_rule *r = rule_open(D4_TLP_CLEAR, 0);
	struct d4_fed_verdict v;
	struct d4_fed_record rec = frame(D4_TLP_CLEAR);
	p.enabled = 0;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_PARTNER_DISABLED);
	p.enabled = 1;
	ck_assert_int_eq(d4_fed_decide(&s, &p, NULL, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_KIND_NOT_SHARED);
	r->enabled = 0;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_KIND_NOT_SHARED);
	r->enabled = 1;
	ck_assert_int_eq(d4_fed_decide(NULL, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_INVALID);
	ck_assert_int_eq(d4_fed_decide(&s, NULL, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, NULL, &v), D4_FED_REFUSE);
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, NULL), D4_FED_RELEASE);
	p.relation = (enum d4_fed_relation)9;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_INVALID);
	p.relation = D4_FED_REL_NONE;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	p = partner(D4_FED_REL_PARTNER);
	rec.kind = D4_FED_KIND_COUNT;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_INVALID);
	rec = frame(D4_TLP_CLEAR);
	rec.nvia = 1; /* a path without an origin */
	static const uint8_t via[1][16] = {{0xb1, 1}};
	rec.via = via;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_INVALID);
	/* A rule's max_tlp that is not a real level sees nothing. */
	rec = frame(D4_TLP_CLEAR);
	r->max_tlp = D4_TLP_NONE;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_ABOVE_MAX_TLP);
	free(r);
}
END_TEST

static void set_bit(uint8_t map[32], uint8_t t)
{
	map[t / 8] |= (uint8_t)(1u << (t % 8));
}

START_TEST(test_frame_filters)
{
	struct d4_fed_self s = self_a();
	struct d4_fed_partner p = partner(D4_FED_REL_PARTNER);
	struct d4_fed_verdict v;
	struct d4_fed_record rec = frame(D4_TLP_CLEAR);
	struct d4_partner_rule *r = rule_open(D4_TLP_CLEAR, 0);
	/* sensors */
	memcpy(r->sensor_deny[0], SENSOR_1[0], 16);
	r->n_sensor_deny = 1;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_SENSOR);
	r->n_sensor_deny = 0;
	r->sensor_allow[0][0] = 0x77;
	r->n_sensor_allow = 1;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	memcpy(r->sensor_allow[1], SENSOR_1[0], 16);
	r->n_sensor_allow = 2;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_RELEASE);
	r->n_sensor_allow = 0;
	/* types */
	set_bit(r->type_allow, 1);
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_TYPE);
	set_bit(r->type_allow, 254);
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_RELEASE);
	set_bit(r->type_deny, 254);
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_TYPE);
	memset(r->type_deny, 0, 32);
	/* extended types, case-insensitive */
	strcpy(r->ext_deny[0], "JA3-JL");
	r->n_ext_deny = 1;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_EXT_TYPE);
	r->n_ext_deny = 0;
	strcpy(r->ext_allow[0], "maltrail");
	r->n_ext_allow = 1;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_EXT_TYPE);
	r->n_ext_allow = 0;
	/* orgs: a record without misp:org is the hub's org */
	memcpy(r->org_deny[0], ORG_1, 16);
	r->n_org_deny = 1;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_ORG);
	rec.has_org = 1;
	memcpy(rec.org, ORG_2, 16);
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_RELEASE);
	r->n_org_deny = 0;
	memcpy(r->org_allow[0], ORG_1, 16);
	r->n_org_allow = 1;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_ORG);
	free(r);
}
END_TEST

static struct d4_fed_record tuple(const char *rrname, uint16_t rrtype, const char *rdata)
{
	struct d4_fed_record r = frame(D4_TLP_CLEAR);
	r.kind = D4_FED_KIND_PDNS;
	r.rrname = rrname;
	r.rrtype = rrtype;
	r.rdata = rdata;
	return r;
}

static enum d4_fed_reason pdns_reason(const struct d4_partner_rule *r, const char *rrname, uint16_t rrtype,
				      const char *rdata)
{
	struct d4_fed_self s = self_a();
	struct d4_fed_partner p = partner(D4_FED_REL_PARTNER);
	struct d4_fed_record rec = tuple(rrname, rrtype, rdata);
	struct d4_fed_verdict v;
	d4_fed_decide(&s, &p, r, &rec, &v);
	return v.reason;
}

START_TEST(test_pdns_filters)
{
	struct d4_partner_rule *r = rule_open(D4_TLP_CLEAR, 0);
	ck_assert_int_eq(pdns_reason(r, "www.example.com", 1, "192.0.2.1"), D4_FED_R_RELEASED);
	ck_assert_int_eq(pdns_reason(r, "www.example.com", 28, "2001:db8::1"), D4_FED_R_RELEASED);
	ck_assert_int_eq(pdns_reason(r, "www.example.com", 5, "other.example.net"), D4_FED_R_RELEASED);
	/* private, loopback, link-local, CGNAT, ULA never leave by default */
	static const char *priv4[] = {"10.1.2.3",  "172.16.0.1",  "172.31.255.255", "192.168.1.1",
				      "127.0.0.1", "169.254.1.1", "100.64.0.1",	    "0.0.0.0"};
	for (size_t i = 0; i < sizeof(priv4) / sizeof(priv4[0]); i++)
		ck_assert_msg(pdns_reason(r, "a.example.com", 1, priv4[i]) == D4_FED_R_RDATA_PRIVATE, "%s", priv4[i]);
	static const char *priv6[] = {"::1", "fe80::1", "fd00::1", "fc12::1", "::", "::ffff:10.0.0.1"};
	for (size_t i = 0; i < sizeof(priv6) / sizeof(priv6[0]); i++)
		ck_assert_msg(pdns_reason(r, "a.example.com", 28, priv6[i]) == D4_FED_R_RDATA_PRIVATE, "%s", priv6[i]);
	ck_assert_int_eq(pdns_reason(r, "a.example.com", 1, "172.32.0.1"), D4_FED_R_RELEASED);
	/* unreadable address, or one of the wrong family: fail closed */
	ck_assert_int_eq(pdns_reason(r, "a.example.com", 1, "not-an-ip"), D4_FED_R_INVALID);
	ck_assert_int_eq(pdns_reason(r, "a.example.com", 1, "2001:db8::1"), D4_FED_R_INVALID);
	ck_assert_int_eq(pdns_reason(r, "a.example.com", 1, NULL), D4_FED_R_INVALID);
	ck_assert_int_eq(pdns_reason(r, NULL, 1, "192.0.2.1"), D4_FED_R_INVALID);
	/* a wildcard allow does not name private space... */
	ck_assert_int_eq(d4_fed_net_parse("0.0.0.0/0", &r->net_allow[0]), 0);
	r->n_net_allow = 1;
	ck_assert_int_eq(pdns_reason(r, "a.example.com", 1, "10.1.2.3"), D4_FED_R_RDATA_PRIVATE);
	ck_assert_int_eq(pdns_reason(r, "a.example.com", 1, "192.0.2.1"), D4_FED_R_RELEASED);
	/* ...a rule inside the range does */
	ck_assert_int_eq(d4_fed_net_parse("10.1.0.0/16", &r->net_allow[1]), 0);
	r->n_net_allow = 2;
	ck_assert_int_eq(pdns_reason(r, "a.example.com", 1, "10.1.2.3"), D4_FED_R_RELEASED);
	ck_assert_int_eq(pdns_reason(r, "a.example.com", 1, "10.2.0.1"), D4_FED_R_RDATA_PRIVATE);
	ck_assert_int_eq(pdns_reason(r, "a.example.com", 28, "::ffff:10.1.2.3"), D4_FED_R_RELEASED);
	ck_assert_int_eq(pdns_reason(r, "a.example.com", 28, "::ffff:10.2.0.1"), D4_FED_R_RDATA_PRIVATE);
	/* an allow list leaves out what it does not name */
	r->n_net_allow = 0;
	ck_assert_int_eq(d4_fed_net_parse("198.51.100.0/24", &r->net_allow[0]), 0);
	r->n_net_allow = 1;
	ck_assert_int_eq(pdns_reason(r, "a.example.com", 1, "192.0.2.1"), D4_FED_R_RDATA_NET);
	ck_assert_int_eq(pdns_reason(r, "a.example.com", 1, "198.51.100.7"), D4_FED_R_RELEASED);
	r->n_net_allow = 0;
	ck_assert_int_eq(d4_fed_net_parse("192.0.2.0/25", &r->net_deny[0]), 0);
	r->n_net_deny = 1;
	ck_assert_int_eq(pdns_reason(r, "a.example.com", 1, "192.0.2.1"), D4_FED_R_RDATA_NET);
	ck_assert_int_eq(pdns_reason(r, "a.example.com", 1, "192.0.2.129"), D4_FED_R_RELEASED);
	ck_assert_int_eq(pdns_reason(r, "a.example.com", 28, "::ffff:192.0.2.1"), D4_FED_R_RDATA_NET);
	r->n_net_deny = 0;
	/* zones: label boundary, case, trailing dots */
	strcpy(r->zone_deny[0], "Corp.Example.");
	r->n_zone_deny = 1;
	ck_assert_int_eq(pdns_reason(r, "corp.example", 5, "x.test"), D4_FED_R_ZONE);
	ck_assert_int_eq(pdns_reason(r, "a.b.CORP.example.", 5, "x.test"), D4_FED_R_ZONE);
	ck_assert_int_eq(pdns_reason(r, "notcorp.example", 5, "x.test"), D4_FED_R_RELEASED);
	r->n_zone_deny = 0;
	strcpy(r->zone_allow[0], "example.com");
	r->n_zone_allow = 1;
	ck_assert_int_eq(pdns_reason(r, "www.example.org", 5, "x.test"), D4_FED_R_ZONE);
	ck_assert_int_eq(pdns_reason(r, "www.example.com", 5, "x.test"), D4_FED_R_RELEASED);
	r->n_zone_allow = 0;
	/* rrtypes */
	r->rrtype_deny[0] = 16;
	r->n_rrtype_deny = 1;
	ck_assert_int_eq(pdns_reason(r, "a.example.com", 16, "\"v=spf1\""), D4_FED_R_RRTYPE);
	r->n_rrtype_deny = 0;
	r->rrtype_allow[0] = 1;
	r->n_rrtype_allow = 1;
	ck_assert_int_eq(pdns_reason(r, "a.example.com", 28, "2001:db8::1"), D4_FED_R_RRTYPE);
	ck_assert_int_eq(pdns_reason(r, "a.example.com", 1, "192.0.2.1"), D4_FED_R_RELEASED);
	/* pDNS tuples of several sensors: every one must pass */
	static const uint8_t two[2][16] = {{0x5e, 1}, {0x5e, 2}};
	struct d4_fed_self s = self_a();
	struct d4_fed_partner p = partner(D4_FED_REL_PARTNER);
	struct d4_fed_record rec = tuple("a.example.com", 1, "192.0.2.1");
	rec.sensors = two;
	rec.nsensors = 2;
	memcpy(r->sensor_allow[0], two[0], 16);
	r->n_sensor_allow = 1;
	struct d4_fed_verdict v;
	ck_assert_int_eq(d4_fed_decide(&s, &p, r, &rec, &v), D4_FED_REFUSE);
	ck_assert_int_eq(v.reason, D4_FED_R_SENSOR);
	free(r);
}
END_TEST

START_TEST(test_nets_and_zones)
{
	struct d4_partner_net n;
	ck_assert_int_eq(d4_fed_net_parse("10.0.0.0/8", &n), 0);
	ck_assert_int_eq(n.family, 4);
	ck_assert_int_eq(n.prefix, 8);
	ck_assert_int_eq(d4_fed_net_parse("2001:db8::/32", &n), 0);
	ck_assert_int_eq(n.prefix, 32);
	ck_assert_int_eq(d4_fed_net_parse("192.0.2.1", &n), 0);
	ck_assert_int_eq(n.prefix, 32);
	static const char *bad[] = {"10.1.2.3/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x",
				    "::/129",	  "example",	 "",	      "10.0.0.0/+8", "10.0.0.0/ 8"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(d4_fed_net_parse(bad[i], &n) == D4_EINVAL, "%s", bad[i]);
	ck_assert_int_eq(d4_fed_net_parse(NULL, &n), D4_EINVAL);
	ck_assert_int_eq(d4_fed_addr_special("192.168.0.1"), 1);
	ck_assert_int_eq(d4_fed_addr_special("8.8.8.8"), 0);
	ck_assert_int_eq(d4_fed_addr_special("nope"), -1);
	/* every range that never leaves: its first and last address inside,
	 * the addresses just outside it not (docs/federation.md) */
	static const struct {
		const char *a;
		int special;
	} edge[] = {
	    {"0.0.0.0", 1},
	    {"0.255.255.255", 1},
	    {"1.0.0.0", 0},
	    {"9.255.255.255", 0},
	    {"10.0.0.0", 1},
	    {"10.255.255.255", 1},
	    {"11.0.0.0", 0},
	    {"100.63.255.255", 0},
	    {"100.64.0.0", 1},
	    {"100.127.255.255", 1},
	    {"100.128.0.0", 0},
	    {"126.255.255.255", 0},
	    {"127.0.0.0", 1},
	    {"127.255.255.255", 1},
	    {"128.0.0.0", 0},
	    {"169.253.255.255", 0},
	    {"169.254.0.0", 1},
	    {"169.254.255.255", 1},
	    {"169.255.0.0", 0},
	    {"172.15.255.255", 0},
	    {"172.16.0.0", 1},
	    {"172.31.255.255", 1},
	    {"172.32.0.0", 0},
	    {"192.167.255.255", 0},
	    {"192.168.0.0", 1},
	    {"192.168.255.255", 1},
	    {"192.169.0.0", 0},
	    {"::", 1},
	    {"::1", 1},
	    {"::2", 0},
	    {"fbff:ffff::", 0},
	    {"fc00::", 1},
	    {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1},
	    {"fe00::", 0},
	    {"fe7f:ffff::", 0},
	    {"fe80::", 1},
	    {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1},
	    {"fec0::", 0},
	    {"::ffff:10.1.2.3", 1},
	    {"::ffff:8.8.8.8", 0},
	    {"2001:db8::1", 0},
	};
	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
		ck_assert_msg(d4_fed_addr_special(edge[i].a) == edge[i].special, "%s", edge[i].a);
	ck_assert_int_eq(fed_zone_match("example.com", "."), 1);
	ck_assert_int_eq(fed_zone_match("example.com", "com"), 1);
	ck_assert_int_eq(fed_zone_match("example.com", "xample.com"), 0);
	ck_assert_int_eq(fed_zone_match("com", "example.com"), 0);
}
END_TEST

START_TEST(test_names_and_counters)
{
	for (int r = 0; r < D4_FED_R_COUNT; r++) {
		const char *n = d4_fed_reason_name((enum d4_fed_reason)r);
		ck_assert_ptr_nonnull(n);
		ck_assert_int_eq(d4_fed_reason_parse(n), r);
		for (int q = 0; q < r; q++)
			ck_assert_str_ne(n, d4_fed_reason_name((enum d4_fed_reason)q));
	}
	ck_assert_str_eq(d4_fed_reason_name(D4_FED_R_COUNT), "invalid");
	/* Stable names: these are API and metrics labels. */
	ck_assert_str_eq(d4_fed_reason_name(D4_FED_R_TLP_RED), "tlp-red");
	ck_assert_str_eq(d4_fed_reason_name(D4_FED_R_NO_SYNC), "should-not-sync");
	ck_assert_str_eq(d4_fed_reason_name(D4_FED_R_EX_CHR_STRIPPED), "ex-chr-stripped");
	ck_assert_str_eq(d4_fed_decision_name(D4_FED_RELEASE_STRIPPED), "release-stripped");
	ck_assert_int_eq(d4_fed_relation_parse("Same-Org"), D4_FED_REL_SAME_ORG);
	ck_assert_int_eq(d4_fed_relation_parse("none"), -1);
	ck_assert_int_eq(d4_fed_relation_parse(NULL), -1);
	ck_assert_int_eq(d4_fed_kind_parse("pdns"), D4_FED_KIND_PDNS);
	ck_assert_int_eq(d4_fed_kind_parse("dns"), -1);
	ck_assert_str_eq(d4_fed_kind_name(D4_FED_KIND_COUNT), "invalid");
	struct d4_fed_counters c;
	memset(&c, 0, sizeof(c));
	struct d4_fed_verdict v = {D4_FED_REFUSE, D4_FED_R_TLP_RED, D4_TLP_RED};
	d4_fed_count(&c, D4_FED_KIND_PDNS, &v);
	d4_fed_count(&c, D4_FED_KIND_PDNS, &v);
	v.reason = (enum d4_fed_reason)99;
	d4_fed_count(&c, (enum d4_fed_kind)99, &v);
	ck_assert_uint_eq(c.n[D4_FED_KIND_PDNS][D4_FED_R_TLP_RED], 2);
	ck_assert_uint_eq(c.n[D4_FED_KIND_FRAMES][D4_FED_R_INVALID], 1);
}
END_TEST

/* ---- property test ------------------------------------------------------ */

static uint64_t rng_state;
static uint32_t rnd(void)
{
	/* xorshift64*: reproducible from the printed seed on every platform */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}
static unsigned pick(unsigned n)
{
	return rnd() % n;
}

static const char *const tag_pool[] = {"tlp:red",
				       "tlp:amber+strict",
				       "tlp:amber",
				       "tlp:green",
				       "tlp:clear",
				       "tlp:white",
				       "tlp:ex:chr",
				       "tlp:unclear",
				       "TLP:RED",
				       "misp:should-not-sync",
				       "Misp:Should-Not-Sync",
				       "tlp:amberx",
				       "osint:source-type=\"blog\"",
				       "tlp:",
				       " tlp:green "};
static const char *const rdata_pool[] = {"192.0.2.1",	       "10.0.0.1",     "127.0.0.1", "2001:db8::1",  "fe80::1",
					 "::ffff:192.168.1.1", "198.51.100.3", "garbage",   "x.example.net"};
static const char *const name_pool[] = {"www.example.com", "corp.example", "a.corp.example", "host.test."};
static const char *const net_pool[] = {"0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/16", "192.0.2.0/24",
				       "::/0",	    "fe80::/10",  "127.0.0.0/8", "192.168.0.0/16"};

static void uuid_pick(uint8_t out[16], const uint8_t *const *pool, unsigned n)
{
	memcpy(out, pool[pick(n)], 16);
}

START_TEST(test_property)
{
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
	const char *env = getenv("D4_FED_SEED");
	if (env && *env)
		seed = strtoull(env, NULL, 0);
	if (!seed)
		seed = 1;
	rng_state = seed;
	printf("test_property: seed %llu (D4_FED_SEED=%llu to replay)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	fflush(stdout);
	static const uint8_t *const hubs[] = {HUB_A, HUB_B, HUB_C};
	static const uint8_t ORG_NONE[16];
	static const uint8_t *const orgs[] = {ORG_1, ORG_2, ORG_NONE};
	static const uint8_t sensors[3][16] = {{0x5e, 1}, {0x5e, 2}, {0x5e, 3}};
	struct d4_partner_rule *rule = calloc(1, sizeof(*rule));
	ck_assert_ptr_nonnull(rule);
	unsigned long released = 0, stripped = 0, checked = 0;
	for (unsigned cfg = 0; cfg < 4000; cfg++) {
		struct d4_fed_self s;
		memset(&s, 0, sizeof(s));
		memcpy(s.hub, HUB_A, 16);
		uuid_pick(s.org, orgs, 3);
		s.default_tlp = (enum d4_tlp)pick(9); /* includes NONE, UNCLEAR, out of range */
		struct d4_fed_partner p;
		memset(&p, 0, sizeof(p));
		uuid_pick(p.hub, hubs, 3);
		uuid_pick(p.org, orgs, 3);
		p.relation = (enum d4_fed_relation)pick(6);
		p.enabled = pick(8) != 0;
		memset(rule, 0, sizeof(*rule));
		rule->enabled = pick(8) != 0;
		rule->allow_amber = (uint8_t)pick(2);
		rule->allow_relay = (uint8_t)pick(2);
		rule->max_tlp = (uint8_t)pick(9);
		if (pick(4) == 0)
			set_bit(rule->type_allow, (uint8_t)(pick(2) ? 254 : 8));
		if (pick(4) == 0) {
			memcpy(rule->sensor_allow[0], sensors[pick(3)], 16);
			rule->n_sensor_allow = 1;
		}
		if (pick(4) == 0) {
			uuid_pick(rule->org_deny[0], orgs, 3);
			rule->n_org_deny = 1;
		}
		if (pick(3) == 0) {
			rule->n_net_allow = (uint8_t)(1 + pick(3));
			for (unsigned i = 0; i < rule->n_net_allow; i++)
				ck_assert_int_eq(d4_fed_net_parse(net_pool[pick(8)], &rule->net_allow[i]), 0);
		}
		if (pick(4) == 0) {
			strcpy(rule->zone_deny[0], "corp.example");
			rule->n_zone_deny = 1;
		}
		const struct d4_partner_rule *use = pick(10) ? rule : NULL;
		for (unsigned k = 0; k < 8; k++) {
			char tags[4][128];
			memset(tags, 0, sizeof(tags));
			unsigned ntags = pick(5);
			for (unsigned i = 0; i < ntags; i++)
				snprintf(tags[i], sizeof(tags[i]), "%s",
					 tag_pool[pick(sizeof(tag_pool) / sizeof(tag_pool[0]))]);
			uint8_t via[3][16];
			struct d4_fed_record rec;
			memset(&rec, 0, sizeof(rec));
			rec.kind = (enum d4_fed_kind)pick(D4_FED_KIND_COUNT);
			rec.tlp = (enum d4_tlp)pick(9);
			rec.no_sync = pick(6) == 0;
			rec.tags = (const char(*)[128])tags;
			rec.ntags = ntags;
			rec.has_org = (int)pick(2);
			uuid_pick(rec.org, orgs, 3);
			rec.sensors = sensors;
			rec.nsensors = pick(4);
			rec.type = (uint8_t)(pick(2) ? 254 : 8);
			rec.ext_type = pick(2) ? "ja3-jl" : NULL;
			rec.stripped = pick(10) == 0;
			rec.has_origin = (int)pick(2);
			uuid_pick(rec.origin, hubs, 3);
			if (rec.has_origin) {
				rec.nvia = pick(4);
				for (unsigned i = 0; i < rec.nvia; i++)
					uuid_pick(via[i], hubs, 3);
				rec.via = (const uint8_t(*)[16])via;
			}
			rec.onward = (int)pick(2);
			rec.rrname = name_pool[pick(4)];
			rec.rrtype = pick(2) ? 1 : (pick(2) ? 28 : 5);
			rec.rdata = rdata_pool[pick(sizeof(rdata_pool) / sizeof(rdata_pool[0]))];

			struct d4_fed_verdict v;
			enum d4_fed_decision d = d4_fed_decide(&s, &p, use, &rec, &v);
			checked++;
			ck_assert_int_eq(d, v.decision);
			/* Deterministic. */
			struct d4_fed_verdict v2;
			ck_assert_int_eq(d4_fed_decide(&s, &p, use, &rec, &v2), d);
			ck_assert_int_eq(v2.reason, v.reason);
			int tag_no_sync = 0, tag_red = 0, tag_strict = 0, tag_chr = 0;
			for (unsigned i = 0; i < ntags; i++) {
				tag_no_sync |= d4_policy_tag_no_sync(tags[i], strlen(tags[i]));
				enum d4_tlp t = d4_policy_tlp_tag(tags[i], strlen(tags[i]));
				tag_red |= t == D4_TLP_RED;
				tag_strict |= t == D4_TLP_AMBER_STRICT;
				tag_chr |= t == D4_TLP_EX_CHR;
			}
			int red = rec.tlp == D4_TLP_RED || tag_red;
			int strict = rec.tlp == D4_TLP_AMBER_STRICT || tag_strict;
			int chr = rec.tlp == D4_TLP_EX_CHR || tag_chr;
			if (d == D4_FED_REFUSE) {
				ck_assert_int_ne(v.reason, D4_FED_R_RELEASED);
				ck_assert_int_ne(v.reason, D4_FED_R_EX_CHR_STRIPPED);
				continue;
			}
			released++;
			/* The invariants. */
			ck_assert_msg(!red, "seed %llu: red record released", (unsigned long long)seed);
			ck_assert_msg(!rec.no_sync && !tag_no_sync, "seed %llu: should-not-sync released",
				      (unsigned long long)seed);
			ck_assert_msg(v.level != D4_TLP_RED, "seed %llu", (unsigned long long)seed);
			if (strict || v.level == D4_TLP_AMBER_STRICT) {
				const uint8_t *ro = rec.has_org ? rec.org : s.org;
				ck_assert_msg(p.relation == D4_FED_REL_SAME_ORG && memcmp(p.org, s.org, 16) == 0 &&
						  memcmp(ro, s.org, 16) == 0 && memcmp(s.org, orgs[2], 16) != 0,
					      "seed %llu: amber+strict crossed organisations",
					      (unsigned long long)seed);
			}
			ck_assert_msg(!rec.stripped, "seed %llu: stripped record relayed", (unsigned long long)seed);
			/* relayed only with the origin's consent (and the rule's) */
			if ((rec.has_origin && memcmp(rec.origin, s.hub, 16) != 0) || rec.nvia)
				ck_assert_msg(rec.onward && use->allow_relay, "seed %llu: relayed without consent",
					      (unsigned long long)seed);
			ck_assert(!rec.has_origin || memcmp(rec.origin, p.hub, 16) != 0);
			for (unsigned i = 0; i < rec.nvia; i++)
				ck_assert(memcmp(rec.via[i], p.hub, 16) != 0);
			ck_assert(p.enabled && use && use->enabled);
			ck_assert(d4_policy_tlp_visible((enum d4_tlp)use->max_tlp, v.level));
			struct d4_fed_out o;
			d4_fed_outgoing(&s, &rec, &v, &o);
			if (chr || v.level == D4_TLP_EX_CHR) {
				/* ex:chr is the most restrictive level here only if
				 * nothing stricter was present; either way a released
				 * ex:chr record never carries source identity. */
				if (v.level == D4_TLP_EX_CHR) {
					ck_assert_int_eq(d, D4_FED_RELEASE_STRIPPED);
					stripped++;
				}
			}
			if (d == D4_FED_RELEASE_STRIPPED) {
				ck_assert_int_eq(v.level, D4_TLP_EX_CHR);
				ck_assert(o.stripped && !o.has_org && !o.has_origin && o.nsensors == 0 &&
					  o.sensors == NULL && o.nvia == 0 && o.via == NULL && !o.append_self);
			} else {
				ck_assert(!o.stripped && o.has_org && o.has_origin);
			}
		}
	}
	free(rule);
	printf("test_property: %lu records checked, %lu released, %lu of them stripped\n", checked, released, stripped);
	/* The generator must reach the interesting cases, or it proves nothing. */
	ck_assert_uint_gt(released, 100);
	ck_assert_uint_gt(stripped, 10);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("federation");
	TCase *tc = tcase_create("policy");
	tcase_add_test(tc, test_tlp_table);
	tcase_add_test(tc, test_backscatter_policy);
	tcase_add_test(tc, test_no_sync_and_tags);
	tcase_add_test(tc, test_amber_strict_orgs);
	tcase_add_test(tc, test_loops_and_relay);
	tcase_add_test(tc, test_disabled_and_invalid);
	tcase_add_test(tc, test_frame_filters);
	tcase_add_test(tc, test_pdns_filters);
	tcase_add_test(tc, test_nets_and_zones);
	tcase_add_test(tc, test_names_and_counters);
	tcase_add_test(tc, test_property);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, json_tcase());
	suite_add_tcase(s, mix_tcase());
	suite_add_tcase(s, identity_tcase());
	suite_add_tcase(s, batch_tcase());
	suite_add_tcase(s, inbound_tcase());
	suite_add_tcase(s, receive_tcase());
	suite_add_tcase(s, seal_tcase());
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
