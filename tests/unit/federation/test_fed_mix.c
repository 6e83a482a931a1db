/* Unit tests of mixing before sharing (docs/federation.md "Mixing before
 * sharing"): each rule withholds what it must, with its reason; what a
 * released record looks like; the mix in the partner JSON and in the dry
 * run; and a seeded property test over random tuples and mixes. Part of
 * the test_federation binary. */
#include "d4_error.h"
#include "d4_federation.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

TCase *mix_tcase(void);

static const uint8_t HUB_A[16] = {0xa1, 1};
static const uint8_t HUB_B[16] = {0xb1, 1};
static const uint8_t ORG_1[16] = {0x01, 0x0f};
static const uint8_t SENSORS[2][16] = {{0x5e, 1}, {0x5e, 2}};

static struct d4_fed_self self_a(void)
{
	struct d4_fed_self s;
	memset(&s, 0, sizeof(s));
	memcpy(s.hub, HUB_A, 16);
	memcpy(s.org, ORG_1, 16);
	s.default_tlp = D4_TLP_AMBER_STRICT;
	return s;
}

static struct d4_fed_partner partner_b(void)
{
	struct d4_fed_partner p;
	memset(&p, 0, sizeof(p));
	memcpy(p.hub, HUB_B, 16);
	memcpy(p.org, ORG_1, 16);
	p.relation = D4_FED_REL_SAME_ORG;
	p.enabled = 1;
	return p;
}

static struct d4_fed_record tuple(const char *rrname, uint16_t rrtype, const char *rdata, uint64_t count,
				  uint32_t sensors)
{
	struct d4_fed_record r;
	memset(&r, 0, sizeof(r));
	r.kind = D4_FED_KIND_PDNS;
	r.tlp = D4_TLP_GREEN;
	r.sensors = SENSORS;
	r.nsensors = 2;
	r.rrname = rrname;
	r.rrtype = rrtype;
	r.rdata = rdata;
	r.seen_count = count;
	r.seen_sensors = sensors;
	return r;
}

static void net(struct d4_partner_net *n, const char *s)
{
	ck_assert_int_eq(d4_fed_net_parse(s, n), 0);
}

static enum d4_fed_reason why(const struct d4_fed_self *self, const struct d4_partner_rule *rule,
			      const struct d4_fed_record *rec)
{
	struct d4_fed_partner p = partner_b();
	struct d4_fed_verdict v;
	enum d4_fed_decision d = d4_fed_decide(self, &p, rule, rec, &v);
	ck_assert_int_eq(d == D4_FED_REFUSE, v.reason != D4_FED_R_RELEASED);
	return v.reason;
}

#define WHY(rule, rec, want)                                                                                           \
	do {                                                                                                           \
		struct d4_fed_record r_ = (rec);                                                                       \
		enum d4_fed_reason got_ = why(&self, (rule), &r_);                                                     \
		ck_assert_msg(got_ == (want), "line %d: %s, want %s", __LINE__, d4_fed_reason_name(got_),              \
			      d4_fed_reason_name(want));                                                               \
	} while (0)

/* Each rule of the mix, one case either side of it, and the rules that
 * hold whatever the mix (reverse names, the hub's own networks). */
START_TEST(test_mix_rules)
{
	struct d4_fed_self self = self_a();
	struct d4_partner_rule *rule = calloc(1, sizeof(*rule));
	rule->enabled = 1;
	rule->max_tlp = D4_TLP_GREEN;
	/* no mix: seen by nobody, released */
	WHY(rule, tuple("www.example.", 1, "192.0.2.1", 0, 0), D4_FED_R_RELEASED);
	d4_fed_mix_defaults(D4_FED_KIND_PDNS, &rule->mix);
	ck_assert_uint_eq(rule->mix.min_sensors, 2);
	ck_assert_uint_eq(rule->mix.min_count, 10);
	WHY(rule, tuple("www.example.", 1, "192.0.2.1", 0, 0), D4_FED_R_MIX_THRESHOLD);
	WHY(rule, tuple("www.example.", 1, "192.0.2.1", 9, 1), D4_FED_R_MIX_THRESHOLD);
	WHY(rule, tuple("www.example.", 1, "192.0.2.1", 10, 1), D4_FED_R_RELEASED);
	WHY(rule, tuple("www.example.", 1, "192.0.2.1", 1, 2), D4_FED_R_RELEASED);
	/* k alone: a tuple seen 1000 times by one sensor stays */
	rule->mix.min_count = 0;
	WHY(rule, tuple("www.example.", 1, "192.0.2.1", 1000, 1), D4_FED_R_MIX_THRESHOLD);
	WHY(rule, tuple("www.example.", 16, "v=spf1", 1, 2), D4_FED_R_RELEASED);
	/* n alone */
	rule->mix.min_sensors = 0;
	rule->mix.min_count = 3;
	WHY(rule, tuple("www.example.", 1, "192.0.2.1", 2, 8), D4_FED_R_MIX_THRESHOLD);
	WHY(rule, tuple("www.example.", 1, "192.0.2.1", 3, 1), D4_FED_R_RELEASED);
	/* no threshold: everything the other rules let go */
	rule->mix.min_count = 0;
	WHY(rule, tuple("www.example.", 1, "192.0.2.1", 0, 0), D4_FED_R_RELEASED);
	/* the hard rules and the other filters come first */
	rule->mix.min_count = 5;
	struct d4_fed_record red = tuple("www.example.", 1, "192.0.2.1", 0, 0);
	red.tlp = D4_TLP_RED;
	WHY(rule, red, D4_FED_R_TLP_RED);
	WHY(rule, tuple("www.example.", 1, "10.1.2.3", 0, 0), D4_FED_R_RDATA_PRIVATE);
	/* a disabled mix withholds nothing */
	rule->mix.enabled = 0;
	WHY(rule, tuple("www.example.", 1, "192.0.2.1", 0, 0), D4_FED_R_RELEASED);

	/* reverse names of private addresses, mix or not */
	WHY(rule, tuple("4.3.2.10.in-addr.arpa.", 12, "host.corp.", 99, 9), D4_FED_R_RRNAME_PRIVATE);
	WHY(rule, tuple("4.3.2.10.IN-ADDR.ARPA", 12, "host.corp.", 99, 9), D4_FED_R_RRNAME_PRIVATE);
	WHY(rule, tuple("1.0.0.127.in-addr.arpa.", 12, "localhost.", 99, 9), D4_FED_R_RRNAME_PRIVATE);
	WHY(rule, tuple("8.8.8.8.in-addr.arpa.", 12, "dns.google.", 99, 9), D4_FED_R_RELEASED);
	WHY(rule, tuple("2.10.in-addr.arpa.", 12, "x.", 99, 9), D4_FED_R_RELEASED);	  /* not one address */
	WHY(rule, tuple("300.3.2.10.in-addr.arpa.", 12, "x.", 99, 9), D4_FED_R_RELEASED); /* not an address */
	WHY(rule, tuple("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa.", 12, "x.", 9, 9),
	    D4_FED_R_RRNAME_PRIVATE);
	WHY(rule, tuple("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", 12, "x.", 9, 9),
	    D4_FED_R_RELEASED);
	/* ... unless an allow entry inside the range names it */
	net(&rule->net_allow[0], "10.2.0.0/16");
	rule->n_net_allow = 1;
	WHY(rule, tuple("4.3.2.10.in-addr.arpa.", 12, "host.corp.", 99, 9), D4_FED_R_RELEASED);
	WHY(rule, tuple("4.3.1.10.in-addr.arpa.", 12, "host.corp.", 99, 9), D4_FED_R_RRNAME_PRIVATE);
	rule->n_net_allow = 0;

	/* the hub's own networks, mix or not: rdata and reverse names */
	struct d4_partner_net own[2];
	net(&own[0], "198.51.100.0/24");
	net(&own[1], "2001:db8:5::/48");
	self.own_nets = own;
	self.n_own_nets = 2;
	WHY(rule, tuple("www.example.", 1, "198.51.100.7", 99, 9), D4_FED_R_OWN_NETWORK);
	WHY(rule, tuple("www.example.", 28, "::ffff:198.51.100.7", 99, 9), D4_FED_R_OWN_NETWORK);
	WHY(rule, tuple("www.example.", 28, "2001:db8:5::1", 99, 9), D4_FED_R_OWN_NETWORK);
	WHY(rule, tuple("www.example.", 28, "2001:db8:6::1", 99, 9), D4_FED_R_RELEASED);
	WHY(rule, tuple("7.100.51.198.in-addr.arpa.", 12, "gw.example.", 99, 9), D4_FED_R_RRNAME_PRIVATE);
	net(&rule->net_allow[0], "0.0.0.0/0"); /* a wildcard names nothing of our own */
	rule->n_net_allow = 1;
	WHY(rule, tuple("www.example.", 1, "198.51.100.7", 99, 9), D4_FED_R_OWN_NETWORK);
	net(&rule->net_allow[1], "198.51.100.0/25");
	rule->n_net_allow = 2;
	WHY(rule, tuple("www.example.", 1, "198.51.100.7", 99, 9), D4_FED_R_RELEASED);
	WHY(rule, tuple("www.example.", 1, "198.51.100.200", 99, 9), D4_FED_R_OWN_NETWORK);
	rule->n_net_allow = 0;
	self.n_own_nets = 0;

	/* backscatter: packets and duration */
	memset(&rule->mix, 0, sizeof(rule->mix));
	struct d4_fed_record vec;
	memset(&vec, 0, sizeof(vec));
	vec.kind = D4_FED_KIND_BACKSCATTER;
	vec.tlp = D4_TLP_CLEAR;
	vec.packets = 1;
	WHY(rule, vec, D4_FED_R_RELEASED);
	d4_fed_mix_defaults(D4_FED_KIND_BACKSCATTER, &rule->mix);
	WHY(rule, vec, D4_FED_R_MIX_PACKETS);
	vec.packets = 99;
	vec.duration_s = 1000;
	WHY(rule, vec, D4_FED_R_MIX_PACKETS);
	vec.packets = 100;
	WHY(rule, vec, D4_FED_R_RELEASED);
	vec.duration_s = 59;
	WHY(rule, vec, D4_FED_R_MIX_DURATION);
	vec.duration_s = 60;
	WHY(rule, vec, D4_FED_R_RELEASED);
	/* frames have no mix: a frame is never mixed */
	struct d4_fed_record fr;
	memset(&fr, 0, sizeof(fr));
	fr.kind = D4_FED_KIND_FRAMES;
	fr.tlp = D4_TLP_CLEAR;
	WHY(rule, fr, D4_FED_R_RELEASED);
	free(rule);
}
END_TEST

/* A released record's shape: coarse times, the pool id; the hold-back. */
START_TEST(test_mix_apply)
{
	struct d4_fed_self self = self_a();
	struct d4_partner_rule *rule = calloc(1, sizeof(*rule));
	rule->enabled = 1;
	struct d4_fed_wrec w;
	memset(&w, 0, sizeof(w));
	w.time_first = 1795003599;
	w.time_last = 1795007201;
	w.prov.nsensors = 2;
	memcpy(w.prov.sensors[0], SENSORS[0], 16);
	memcpy(w.prov.sensors[1], SENSORS[1], 16);
	struct d4_fed_wrec w0 = w;
	d4_fed_mix_apply(&self, rule, D4_FED_KIND_PDNS, &w); /* no mix: unchanged */
	ck_assert_int_eq(memcmp(&w, &w0, sizeof(w)), 0);
	d4_fed_mix_defaults(D4_FED_KIND_PDNS, &rule->mix);
	d4_fed_mix_apply(&self, rule, D4_FED_KIND_FRAMES, &w); /* not a mixed kind */
	ck_assert_int_eq(memcmp(&w, &w0, sizeof(w)), 0);
	d4_fed_mix_apply(&self, rule, D4_FED_KIND_PDNS, &w);
	ck_assert_uint_eq(w.time_first,
			  1795000000 - 1795000000 % 3600 + (1795003599 / 3600 - 1795000000 / 3600) * 3600);
	ck_assert_uint_eq(w.time_first % 3600, 0);
	ck_assert_uint_eq(w.time_last, 1795007201 - 1795007201 % 3600);
	ck_assert_uint_le(w.time_first, w.time_last);
	uint8_t pool[16];
	d4_fed_mix_pool(&self, rule, pool);
	ck_assert_uint_eq(w.prov.nsensors, 1);
	ck_assert_mem_eq(w.prov.sensors[0], pool, 16);
	/* the derived pool: a v4 uuid, stable, per hub, never a hub or sensor id */
	ck_assert_uint_eq(pool[6] >> 4, 4);
	ck_assert_uint_eq(pool[8] >> 6, 2);
	uint8_t again[16];
	d4_fed_mix_pool(&self, rule, again);
	ck_assert_mem_eq(pool, again, 16);
	ck_assert_int_ne(memcmp(pool, HUB_A, 16), 0);
	struct d4_fed_self other = self;
	other.hub[0] ^= 1;
	d4_fed_mix_pool(&other, rule, again);
	ck_assert_int_ne(memcmp(pool, again, 16), 0);
	/* the rule's pool wins */
	rule->mix.pool[0] = 0x77;
	d4_fed_mix_pool(&self, rule, again);
	ck_assert_uint_eq(again[0], 0x77);
	/* pooling off: sensors as they are; exact times */
	w = w0;
	rule->mix.pool_sensors = 0;
	rule->mix.coarsen_s = 0;
	d4_fed_mix_apply(&self, rule, D4_FED_KIND_PDNS, &w);
	ck_assert_int_eq(memcmp(&w, &w0, sizeof(w)), 0);
	/* a stripped record has no sensor: none is added */
	rule->mix.pool_sensors = 1;
	w.prov.nsensors = 0;
	d4_fed_mix_apply(&self, rule, D4_FED_KIND_PDNS, &w);
	ck_assert_uint_eq(w.prov.nsensors, 0);
	/* backscatter: microseconds, sensors_more goes with the sensors */
	memset(&w, 0, sizeof(w));
	w.vec.first_us = 1795003599123456ull;
	w.vec.last_us = 1795003600999999ull;
	w.vec.sensors_more = 1;
	w.prov.nsensors = 8;
	d4_fed_mix_defaults(D4_FED_KIND_BACKSCATTER, &rule->mix);
	d4_fed_mix_apply(&self, rule, D4_FED_KIND_BACKSCATTER, &w);
	ck_assert_uint_eq(w.vec.first_us, 1795003599123456ull - 1795003599123456ull % 3600000000ull);
	ck_assert_uint_eq(w.vec.last_us, 1795003600999999ull - 1795003600999999ull % 3600000000ull);
	ck_assert_uint_eq(w.vec.sensors_more, 0);
	ck_assert_uint_eq(w.prov.nsensors, 1);
	/* the hold-back */
	rule->mix.delay_s = 600;
	ck_assert_int_eq(d4_fed_mix_held(rule, 1000, 1599), 1);
	ck_assert_int_eq(d4_fed_mix_held(rule, 1000, 1600), 0);
	ck_assert_int_eq(d4_fed_mix_held(rule, 5000, 1600), 1); /* ahead of the clock */
	ck_assert_int_eq(d4_fed_mix_held(NULL, 1000, 1000), 0);
	rule->mix.delay_s = 0;
	ck_assert_int_eq(d4_fed_mix_held(rule, 1000, 1000), 0);
	rule->mix.delay_s = 600;
	rule->mix.enabled = 0;
	ck_assert_int_eq(d4_fed_mix_held(rule, 1000, 1000), 0);
	free(rule);
}
END_TEST

static yajl_val parse(const char *text)
{
	char e[256];
	yajl_val v = yajl_tree_parse(text, e, sizeof(e));
	ck_assert_msg(v != NULL, "test JSON: %s", e);
	return v;
}

static int apply(struct d4_partner *p, const char *text, int create, char *err, size_t errlen)
{
	yajl_val v = parse(text);
	int rc = d4_fed_partner_apply_json(v, p, create, err, errlen);
	yajl_tree_free(v);
	return rc;
}

static const char *const BASE = "{\"name\":\"b\",\"url\":\"https://127.0.0.2:1\",\"spki_sha256\":"
				"\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\","
				"\"hub_uuid\":\"b1010000-0000-4000-8000-000000000000\","
				"\"org_uuid\":\"010f0000-0000-4000-8000-000000000000\",\"relation\":\"same-org\"}";

/* The "mix" member of the pdns and backscatter rules. */
START_TEST(test_mix_json)
{
	struct d4_partner *p = malloc(sizeof(*p)), *q = malloc(sizeof(*q));
	char err[256] = "";
	d4_fed_partner_defaults(p);
	ck_assert_msg(apply(p, BASE, 1, err, sizeof(err)) == 0, "%s", err);
	for (int k = 0; k < D4_PARTNER_KINDS; k++)
		ck_assert_uint_eq(p->out[k].mix.enabled, 0);
	/* {} is the safe defaults */
	ck_assert_msg(apply(p, "{\"outbound\":{\"pdns\":{\"enabled\":true,\"mix\":{}},\"backscatter\":{\"mix\":{}}}}",
			    0, err, sizeof(err)) == 0,
		      "%s", err);
	struct d4_partner_mix want;
	d4_fed_mix_defaults(D4_FED_KIND_PDNS, &want);
	ck_assert_int_eq(memcmp(&p->out[1].mix, &want, sizeof(want)), 0);
	d4_fed_mix_defaults(D4_FED_KIND_BACKSCATTER, &want);
	ck_assert_int_eq(memcmp(&p->out[2].mix, &want, sizeof(want)), 0);
	ck_assert_int_eq(d4_store_partner_check(p, err, sizeof(err)), 0);
	/* a member changes itself only */
	ck_assert_msg(apply(p,
			    "{\"outbound\":{\"pdns\":{\"mix\":{\"min_count\":3,\"pool_id\":"
			    "\"77000000-0000-4000-8000-000000000001\"}}}}",
			    0, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(p->out[1].mix.min_count, 3);
	ck_assert_uint_eq(p->out[1].mix.min_sensors, 2);
	ck_assert_uint_eq(p->out[1].mix.delay_s, 3600);
	ck_assert_uint_eq(p->out[1].mix.pool[0], 0x77);
	/* off, and on again with what it had */
	ck_assert(apply(p, "{\"outbound\":{\"pdns\":{\"mix\":{\"enabled\":false}}}}", 0, err, sizeof(err)) == 0);
	ck_assert_uint_eq(p->out[1].mix.enabled, 0);
	ck_assert_uint_eq(p->out[1].mix.min_count, 3);
	ck_assert(apply(p, "{\"outbound\":{\"pdns\":{\"mix\":{\"pool_id\":null}}}}", 0, err, sizeof(err)) == 0);
	ck_assert_uint_eq(p->out[1].mix.enabled, 1);
	ck_assert_uint_eq(p->out[1].mix.min_count, 3);
	ck_assert_uint_eq(p->out[1].mix.pool[0], 0);
	/* the printed document reads back as the same partner */
	yajl_gen g = yajl_gen_alloc(NULL);
	d4_fed_partner_json(g, p, D4_FED_JSON_INPUT);
	const unsigned char *buf;
	size_t len;
	yajl_gen_get_buf(g, &buf, &len);
	char *text = strndup((const char *)buf, len);
	yajl_gen_free(g);
	ck_assert_ptr_nonnull(strstr(text, "\"mix\":{\"enabled\":true,\"delay_s\":3600"));
	ck_assert_ptr_nonnull(strstr(text, "\"min_packets\":100"));
	d4_fed_partner_defaults(q);
	ck_assert_msg(apply(q, text, 1, err, sizeof(err)) == 0, "%s", err);
	free(text);
	q->created = p->created;
	q->updated = p->updated;
	ck_assert_int_eq(memcmp(p->out, q->out, sizeof(p->out)), 0);
	/* refusals, each naming its member; nothing changes */
	static const struct {
		const char *doc, *msg;
	} bad[] = {
	    {"{\"outbound\":{\"frames\":{\"mix\":{}}}}",
	     "outbound.frames.mix: only the pdns and backscatter rules mix"},
	    {"{\"outbound\":{\"certs\":{\"mix\":{}}}}", "outbound.certs.mix: only the pdns and backscatter rules mix"},
	    {"{\"outbound\":{\"pdns\":{\"mix\":[]}}}", "outbound.pdns.mix: must be an object"},
	    {"{\"outbound\":{\"pdns\":{\"mix\":{\"min_packets\":1}}}}", "outbound.pdns.mix.min_packets"},
	    {"{\"outbound\":{\"backscatter\":{\"mix\":{\"min_count\":1}}}}", "outbound.backscatter.mix.min_count"},
	    {"{\"outbound\":{\"pdns\":{\"mix\":{\"delay_s\":604801}}}}", "outbound.pdns.mix.delay_s"},
	    {"{\"outbound\":{\"pdns\":{\"mix\":{\"coarsen_s\":86401}}}}", "outbound.pdns.mix.coarsen_s"},
	    {"{\"outbound\":{\"pdns\":{\"mix\":{\"min_sensors\":-1}}}}", "outbound.pdns.mix.min_sensors"},
	    {"{\"outbound\":{\"pdns\":{\"mix\":{\"pool_id\":\"x\"}}}}", "outbound.pdns.mix.pool_id"},
	    {"{\"outbound\":{\"pdns\":{\"mix\":{\"pool_sensors\":1}}}}", "outbound.pdns.mix.pool_sensors"},
	};
	memcpy(q, p, sizeof(*p));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		ck_assert_msg(apply(p, bad[i].doc, 0, err, sizeof(err)) == D4_EINVAL, "%s accepted", bad[i].doc);
		ck_assert_msg(strncmp(err, bad[i].msg, strlen(bad[i].msg)) == 0, "%s: %s", bad[i].doc, err);
	}
	free(p);
	free(q);
}
END_TEST

static char *dryrun(const struct d4_fed_self *self, const struct d4_partner_rule *rule, const char *doc,
		    struct d4_fed_verdict *v)
{
	char err[256];
	yajl_val t = parse(doc);
	struct d4_fed_dryrun d;
	ck_assert_msg(d4_fed_dryrun_parse(t, &d, err, sizeof(err)) == 0, "%s", err);
	struct d4_fed_partner p = partner_b();
	d4_fed_decide(self, &p, rule, &d.rec, v);
	yajl_gen g = yajl_gen_alloc(NULL);
	d4_fed_dryrun_json_rule(g, "b", self, rule, &d.rec, v);
	const unsigned char *buf;
	size_t len;
	yajl_gen_get_buf(g, &buf, &len);
	char *text = strndup((const char *)buf, len);
	yajl_gen_free(g);
	d4_fed_dryrun_free(&d);
	yajl_tree_free(t);
	return text;
}

/* The dry run explains the mix: what was seen against the thresholds, the
 * hold-back, the times, and the pool id the record would carry. */
START_TEST(test_mix_dryrun)
{
	struct d4_fed_self self = self_a();
	struct d4_partner_rule *rule = calloc(1, sizeof(*rule));
	rule->enabled = 1;
	rule->max_tlp = D4_TLP_GREEN;
	struct d4_fed_verdict v;
	static const char *const doc =
	    "{\"kind\":\"pdns\",\"tlp\":\"tlp:green\",\"rrname\":\"www.example.\","
	    "\"rrtype\":1,\"rdata\":\"192.0.2.1\",\"sensors\":[\"5e010000000040008000000000000000\"],"
	    "\"seen_count\":4,\"seen_sensors\":1}";
	char *t = dryrun(&self, rule, doc, &v);
	ck_assert_int_eq(v.reason, D4_FED_R_RELEASED);
	ck_assert_ptr_nonnull(strstr(t, "\"mix\":null"));
	ck_assert_ptr_nonnull(strstr(t, "\"sensors\":[\"5e010000000040008000000000000000\"]"));
	free(t);
	d4_fed_mix_defaults(D4_FED_KIND_PDNS, &rule->mix);
	t = dryrun(&self, rule, doc, &v);
	ck_assert_int_eq(v.reason, D4_FED_R_MIX_THRESHOLD);
	ck_assert_ptr_nonnull(strstr(t, "\"reason\":\"mix-below-threshold\""));
	ck_assert_ptr_nonnull(strstr(t, "\"min_sensors\":2,\"min_count\":10,\"seen_sensors\":1,\"seen_count\":4"));
	ck_assert_ptr_nonnull(strstr(t, "\"explanation\":\"withheld: mixing:"));
	free(t);
	rule->mix.min_count = 4;
	t = dryrun(&self, rule, doc, &v);
	ck_assert_int_eq(v.reason, D4_FED_R_RELEASED);
	uint8_t pool[16];
	d4_fed_mix_pool(&self, rule, pool);
	char want[128];
	snprintf(want, sizeof(want),
		 "\"sensors\":[\"%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x\"]", pool[0], pool[1],
		 pool[2], pool[3], pool[4], pool[5], pool[6], pool[7], pool[8], pool[9], pool[10], pool[11], pool[12],
		 pool[13], pool[14], pool[15]);
	ck_assert_msg(strstr(t, want), "%s", t);
	ck_assert_ptr_nonnull(strstr(t, "would go 3600 s after it was last seen"));
	free(t);
	/* backscatter */
	d4_fed_mix_defaults(D4_FED_KIND_BACKSCATTER, &rule->mix);
	t = dryrun(&self, rule, "{\"kind\":\"backscatter\",\"tlp\":\"tlp:clear\",\"packets\":500,\"duration_s\":30}",
		   &v);
	ck_assert_int_eq(v.reason, D4_FED_R_MIX_DURATION);
	ck_assert_ptr_nonnull(strstr(t, "\"min_packets\":100,\"min_duration_s\":60,\"packets\":500,\"duration_s\":30"));
	free(t);
	free(rule);
}
END_TEST

static uint64_t g_rng;
static unsigned rnd(unsigned n)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return n ? (unsigned)(g_rng % n) : 0;
}

/* 1 if addr lies in cidr. */
static int in_cidr(const char *addr, const char *cidr)
{
	struct d4_partner_net n, a;
	ck_assert_int_eq(d4_fed_net_parse(cidr, &n), 0);
	if (d4_fed_net_parse(addr, &a) != 0 || a.family != n.family)
		return 0;
	unsigned full = n.prefix / 8, rest = n.prefix % 8;
	if (memcmp(n.addr, a.addr, full))
		return 0;
	return !rest || !((n.addr[full] ^ a.addr[full]) & (0xff << (8 - rest)));
}

/* Property over random tuples and mixes: a released tuple is never below
 * its k/n thresholds, its A/AAAA rdata or reverse name is never a private
 * or own address that no allow entry inside the range names. The seed is
 * printed; D4_FED_SEED replays it. */
START_TEST(test_mix_property)
{
	const char *env = getenv("D4_FED_SEED");
	g_rng = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	if (!g_rng)
		g_rng = 7;
	fprintf(stderr, "test_mix_property: D4_FED_SEED=%llu\n", (unsigned long long)g_rng);
	static const char *const addrs[] = {"192.0.2.1",   "10.1.2.3",	 "10.9.9.9",	 "192.168.1.1", "127.0.0.1",
					    "169.254.1.1", "100.64.0.1", "198.51.100.9", "8.8.8.8",	"172.16.5.4"};
	static const char *const addrs6[] = {"2001:db8::1",	    "fe80::1",	    "fd00::1", "::1", "::ffff:10.1.2.3",
					     "::ffff:198.51.100.9", "2001:db8:5::1"};
	static const char *const allows[] = {"10.1.0.0/16",	"0.0.0.0/0", "::/0",
					     "198.51.100.0/25", "fd00::/8",  "192.0.2.0/24"};
	struct d4_partner_net own[2];
	net(&own[0], "198.51.100.0/24");
	net(&own[1], "2001:db8:5::/48");
	struct d4_partner_rule *rule = calloc(1, sizeof(*rule));
	unsigned long released = 0, withheld = 0;
	for (unsigned cfg = 0; cfg < 3000; cfg++) {
		struct d4_fed_self self = self_a();
		if (rnd(2)) {
			self.own_nets = own;
			self.n_own_nets = 2;
		}
		memset(rule, 0, sizeof(*rule));
		rule->enabled = 1;
		rule->max_tlp = D4_TLP_GREEN;
		rule->n_net_allow = (uint8_t)rnd(3);
		for (unsigned i = 0; i < rule->n_net_allow; i++)
			net(&rule->net_allow[i], allows[rnd(6)]);
		rule->mix.enabled = (uint8_t)(rnd(4) != 0);
		rule->mix.min_sensors = (uint16_t)rnd(5);
		rule->mix.min_count = rnd(50);
		for (unsigned t = 0; t < 8; t++) {
			char name[128], rd[64];
			unsigned kind = rnd(3);
			const char *addr;
			uint16_t rrtype;
			if (kind == 0) {
				addr = addrs[rnd(10)];
				snprintf(rd, sizeof(rd), "%s", addr);
				snprintf(name, sizeof(name), "h%u.example.", rnd(9));
				rrtype = 1;
			} else if (kind == 1) {
				addr = addrs6[rnd(7)];
				snprintf(rd, sizeof(rd), "%s", addr);
				snprintf(name, sizeof(name), "h%u.example.", rnd(9));
				rrtype = 28;
			} else {
				addr = addrs[rnd(10)];
				unsigned a, b, c, d;
				ck_assert_int_eq(sscanf(addr, "%u.%u.%u.%u", &a, &b, &c, &d), 4);
				snprintf(name, sizeof(name), "%u.%u.%u.%u.in-addr.arpa.", d, c, b, a);
				snprintf(rd, sizeof(rd), "host.example.");
				rrtype = 12;
			}
			uint64_t count = rnd(60);
			uint32_t sensors = rnd(6);
			struct d4_fed_record rec = tuple(name, rrtype, rd, count, sensors);
			struct d4_fed_partner p = partner_b();
			struct d4_fed_verdict v;
			if (d4_fed_decide(&self, &p, rule, &rec, &v) == D4_FED_REFUSE) {
				withheld++;
				continue;
			}
			released++;
			/* the address without its IPv4-mapped prefix */
			const char *plain = strncmp(addr, "::ffff:", 7) == 0 ? addr + 7 : addr;
			int named = 0;
			for (unsigned i = 0; i < rule->n_net_allow; i++) {
				char cidr[64];
				d4_fed_net_format(&rule->net_allow[i], cidr, sizeof(cidr));
				if (rule->net_allow[i].prefix > 0 && (in_cidr(plain, cidr) || in_cidr(addr, cidr)))
					named = 1;
			}
			ck_assert_msg(d4_fed_addr_special(addr) == 0 || named, "private %s (%s) released", addr, name);
			int ownaddr =
			    self.n_own_nets && (in_cidr(plain, "198.51.100.0/24") || in_cidr(addr, "2001:db8:5::/48"));
			ck_assert_msg(!ownaddr || (named && in_cidr(plain, "198.51.100.0/25")), "own %s (%s) released",
				      addr, name);
			if (rule->mix.enabled && (rule->mix.min_sensors || rule->mix.min_count))
				ck_assert_msg((rule->mix.min_sensors && sensors >= rule->mix.min_sensors) ||
						  (rule->mix.min_count && count >= rule->mix.min_count),
					      "below k %u / n %u: %u sensors, %llu times", rule->mix.min_sensors,
					      rule->mix.min_count, sensors, (unsigned long long)count);
		}
	}
	ck_assert_uint_gt(released, 1000);
	ck_assert_uint_gt(withheld, 1000);
	free(rule);
}
END_TEST

/* federation.own_networks as the hub reads it. */
START_TEST(test_own_networks_list)
{
	struct d4_partner_net n[3];
	unsigned k = 9;
	char err[128];
	ck_assert_int_eq(d4_fed_nets_parse_list("", n, 3, &k, err, sizeof(err)), 0);
	ck_assert_uint_eq(k, 0);
	ck_assert_int_eq(
	    d4_fed_nets_parse_list(" 198.51.100.0/24,2001:db8:5::/48  192.0.2.7 ", n, 3, &k, err, sizeof(err)), 0);
	ck_assert_uint_eq(k, 3);
	ck_assert_uint_eq(n[0].prefix, 24);
	ck_assert_uint_eq(n[1].family, 6);
	ck_assert_uint_eq(n[2].prefix, 32);
	ck_assert_int_eq(
	    d4_fed_nets_parse_list("10.0.0.0/8 10.0.0.0/8 10.0.0.0/8 10.0.0.0/8", n, 3, &k, err, sizeof(err)),
	    D4_EINVAL);
	ck_assert_str_eq(err, "more than 3 networks");
	ck_assert_int_eq(d4_fed_nets_parse_list("10.1.0.0/8", n, 3, &k, err, sizeof(err)), D4_EINVAL);
	ck_assert_str_eq(err, "'10.1.0.0/8' is not a network (address/prefix, host bits zero)");
}
END_TEST

TCase *mix_tcase(void)
{
	TCase *tc = tcase_create("mix");
	tcase_add_test(tc, test_mix_rules);
	tcase_add_test(tc, test_mix_apply);
	tcase_add_test(tc, test_mix_json);
	tcase_add_test(tc, test_mix_dryrun);
	tcase_add_test(tc, test_mix_property);
	tcase_add_test(tc, test_own_networks_list);
	return tc;
}
