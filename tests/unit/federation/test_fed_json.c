/* Unit tests of federation/fed_json.c: the Partner and DryRunRecord
 * documents (round trip, PATCH semantics, every refusal names its member).
 * Part of the test_federation binary. */
#include "d4_error.h"
#include "d4_federation.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TCase *json_tcase(void);

static yajl_val parse(const char *text)
{
	char e[256];
	yajl_val v = yajl_tree_parse(text, e, sizeof(e));
	ck_assert_msg(v != NULL, "test JSON: %s", e);
	return v;
}

static const char *const FULL =
    "{\"name\":\"hub-c\",\"url\":\"https://127.0.0.3:8444\",\"spki_sha256\":"
    "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\","
    "\"hub_uuid\":\"c1c1c1c1-0000-4000-8000-000000000001\",\"org_uuid\":\"02020202000040008000000000000002\","
    "\"relation\":\"partner\",\"direction\":\"both\",\"enabled\":true,"
    "\"outbound\":{\"pdns\":{\"enabled\":true,\"max_tlp\":\"tlp:amber\",\"allow_amber\":true,"
    "\"zones_deny\":[\"corp.example\"],\"rrtypes_allow\":[1,28],\"nets_allow\":[\"10.1.0.0/16\",\"2001:db8::/32\"],"
    "\"sensors_deny\":[\"5e000000000040008000000000000001\"]},"
    "\"frames\":{\"enabled\":true,\"max_tlp\":\"TLP:GREEN\",\"types_allow\":[8,254],\"ext_types_allow\":[\"ja3-jl\"]}},"
    "\"inbound\":{\"kinds\":[\"pdns\"],\"max_tlp\":\"tlp:green\",\"records_per_s\":1000,\"bytes_per_day\":1000000,"
    "\"fetch\":true},\"pubkey\":\"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=\",\"must_sign\":true,\"onward\":true}";

START_TEST(test_partner_roundtrip)
{
	struct d4_partner *p = malloc(sizeof(*p)), *q = malloc(sizeof(*q));
	char err[256] = "";
	d4_fed_partner_defaults(p);
	yajl_val v = parse(FULL);
	ck_assert_msg(d4_fed_partner_apply_json(v, p, 1, err, sizeof(err)) == 0, "%s", err);
	yajl_tree_free(v);
	ck_assert_str_eq(p->name, "hub-c");
	ck_assert_int_eq(p->relation, D4_FED_REL_PARTNER);
	ck_assert_int_eq(p->direction, D4_PARTNER_BOTH);
	ck_assert_int_eq(p->out[D4_FED_KIND_PDNS].max_tlp, D4_TLP_AMBER);
	ck_assert_int_eq(p->out[D4_FED_KIND_FRAMES].max_tlp, D4_TLP_GREEN);
	ck_assert_int_eq(p->out[D4_FED_KIND_CERTS].enabled, 0);
	ck_assert_int_eq(p->out[D4_FED_KIND_PDNS].n_net_allow, 2);
	ck_assert_int_eq(p->in.kinds, 1u << D4_FED_KIND_PDNS);
	ck_assert_int_eq(p->in.fetch, 1);
	ck_assert_int_eq(p->has_pubkey, 1);
	ck_assert_uint_eq(p->pubkey[0], 0x3b);
	ck_assert_uint_eq(p->pubkey[31], 0x29);
	ck_assert_int_eq(p->must_sign, 1);
	ck_assert_int_eq(p->onward, 1);
	/* Print the full document and read it back: the same partner. */
	yajl_gen g = yajl_gen_alloc(NULL);
	d4_fed_partner_json(g, p, D4_FED_JSON_INPUT);
	const unsigned char *buf;
	size_t len;
	yajl_gen_get_buf(g, &buf, &len);
	char *text = strndup((const char *)buf, len);
	yajl_gen_free(g);
	v = parse(text);
	/* created/updated/has_ca are output only: drop them for the input. */
	for (size_t i = 0; i < v->u.object.len;) {
		const char *k = v->u.object.keys[i];
		if (!strcmp(k, "created") || !strcmp(k, "updated") || !strcmp(k, "has_ca")) {
			free((char *)v->u.object.keys[i]);
			yajl_tree_free(v->u.object.values[i]);
			memmove(&v->u.object.keys[i], &v->u.object.keys[i + 1],
				(v->u.object.len - i - 1) * sizeof(v->u.object.keys[0]));
			memmove(&v->u.object.values[i], &v->u.object.values[i + 1],
				(v->u.object.len - i - 1) * sizeof(v->u.object.values[0]));
			v->u.object.len--;
		} else {
			i++;
		}
	}
	d4_fed_partner_defaults(q);
	ck_assert_msg(d4_fed_partner_apply_json(v, q, 1, err, sizeof(err)) == 0, "%s: %s", err, text);
	ck_assert_int_eq(memcmp(p, q, sizeof(*p)), 0);
	yajl_tree_free(v);
	free(text);
	/* PATCH: only what is named changes. */
	v = parse("{\"enabled\":false,\"outbound\":{\"pdns\":{\"max_tlp\":\"tlp:green\"}},\"spki_sha256\":null,"
		  "\"ca_pem\":\"\"}");
	memcpy(q, p, sizeof(*p));
	/* without a pin and a CA there is no trust anchor: refused whole */
	ck_assert_int_eq(d4_fed_partner_apply_json(v, q, 0, err, sizeof(err)), D4_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "trust"));
	yajl_tree_free(v);
	v = parse("{\"enabled\":false,\"outbound\":{\"pdns\":{\"max_tlp\":\"tlp:green\"}}}");
	memcpy(q, p, sizeof(*p));
	ck_assert_int_eq(d4_fed_partner_apply_json(v, q, 0, err, sizeof(err)), 0);
	ck_assert_int_eq(q->enabled, 0);
	ck_assert_int_eq(q->out[D4_FED_KIND_PDNS].max_tlp, D4_TLP_GREEN);
	ck_assert_int_eq(q->out[D4_FED_KIND_PDNS].n_net_allow, 2); /* kept */
	ck_assert_int_eq(q->out[D4_FED_KIND_PDNS].allow_amber, 1); /* kept */
	yajl_tree_free(v);
	/* inbound.fetch alone: the rest of the inbound rule is kept */
	v = parse("{\"inbound\":{\"fetch\":false}}");
	memcpy(q, p, sizeof(*p));
	ck_assert_int_eq(d4_fed_partner_apply_json(v, q, 0, err, sizeof(err)), 0);
	ck_assert_int_eq(q->in.fetch, 0);
	ck_assert_int_eq(q->in.kinds, 1u << D4_FED_KIND_PDNS);
	ck_assert_int_eq(q->in.records_per_s, 1000);
	yajl_tree_free(v);
	/* a new partner does not fetch */
	d4_fed_partner_defaults(q);
	ck_assert_int_eq(q->in.fetch, 0);
	free(p);
	free(q);
}
END_TEST

static const struct {
	const char *json;
	const char *err; /* a substring of the message */
} bad_partners[] = {
    {"[]", "JSON object"},
    {"{\"url\":\"https://x\"}", "name: required"},
    {"{\"name\":\"a/b\"}", "name:"},
    {"{\"name\":\"x\",\"bogus\":1}", "bogus: unknown member"},
    {"{\"name\":\"x\",\"name\":\"y\"}", "name: repeated"},
    {"{\"name\":\"x\",\"url\":5}", "url: must be a string"},
    {"{\"name\":\"x\",\"relation\":\"friend\"}", "relation:"},
    {"{\"name\":\"x\",\"relation\":\"none\"}", "relation:"},
    {"{\"name\":\"x\",\"direction\":\"sideways\"}", "direction:"},
    {"{\"name\":\"x\",\"enabled\":1}", "enabled: must be true or false"},
    {"{\"name\":\"x\",\"hub_uuid\":\"zz\"}", "hub_uuid: must be a uuid"},
    {"{\"name\":\"x\",\"spki_sha256\":\"abcd\"}", "spki_sha256:"},
    {"{\"name\":\"x\",\"outbound\":[]}", "outbound: must be an object"},
    {"{\"name\":\"x\",\"outbound\":{\"dns\":{}}}", "outbound.dns: unknown kind"},
    {"{\"name\":\"x\",\"outbound\":{\"PDNS\":{}}}", "outbound.PDNS: unknown kind"},
    {"{\"name\":\"x\",\"outbound\":{\"pdns\":{\"max\":1}}}", "outbound.pdns.max: unknown member"},
    {"{\"name\":\"x\",\"outbound\":{\"pdns\":{\"max_tlp\":\"tlp:unclear\"}}}", "outbound.pdns.max_tlp"},
    {"{\"name\":\"x\",\"outbound\":{\"pdns\":{\"max_tlp\":\"amber\"}}}", "outbound.pdns.max_tlp"},
    {"{\"name\":\"x\",\"outbound\":{\"pdns\":{\"nets_allow\":[\"10.1.2.3/8\"]}}}", "outbound.pdns.nets_allow[0]"},
    {"{\"name\":\"x\",\"outbound\":{\"frames\":{\"types_allow\":[256]}}}", "outbound.frames.types_allow[0]"},
    {"{\"name\":\"x\",\"outbound\":{\"frames\":{\"ext_types_deny\":[\"a b\"]}}}", "ext_types_deny[0]"},
    {"{\"name\":\"x\",\"outbound\":{\"pdns\":{\"rrtypes_deny\":[-1]}}}", "rrtypes_deny[0]"},
    {"{\"name\":\"x\",\"outbound\":{\"pdns\":{\"sensors_allow\":[\"x\"]}}}", "sensors_allow[0]"},
    {"{\"name\":\"x\",\"inbound\":{\"kinds\":[\"x\"]}}", "inbound.kinds[0]"},
    {"{\"name\":\"x\",\"inbound\":{\"records_per_s\":-1}}", "inbound.records_per_s"},
    {"{\"name\":\"x\",\"inbound\":{\"quota\":1}}", "inbound.quota: unknown member"},
    {"{\"name\":\"x\",\"inbound\":{\"fetch\":1}}", "inbound.fetch: must be true or false"},
    {"{\"name\":\"x\",\"pubkey\":\"abc\"}", "pubkey: the partner hub's Ed25519 public key"},
    {"{\"name\":\"x\",\"pubkey\":\"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik\"}", "pubkey:"},
    {"{\"name\":\"x\",\"pubkey\":32}", "pubkey:"},
    {"{\"name\":\"x\",\"must_sign\":1}", "must_sign: must be true or false"},
    {"{\"name\":\"x\",\"onward\":\"yes\"}", "onward: must be true or false"},
    {"{\"name\":\"x\",\"url\":\"https://"
     "x\",\"spki_sha256\":\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\","
     "\"hub_uuid\":\"c1c1c1c1000040008000000000000001\",\"org_uuid\":\"02020202000040008000000000000002\","
     "\"relation\":\"partner\",\"must_sign\":true}",
     "must_sign needs the partner's pubkey"},
    /* valid members, but the record is incomplete: the store's checks */
    {"{\"name\":\"x\"}", "url:"},
    {"{\"name\":\"x\",\"url\":\"https://x\"}", "trust:"},
};

START_TEST(test_partner_refusals)
{
	struct d4_partner *p = malloc(sizeof(*p));
	for (size_t i = 0; i < sizeof(bad_partners) / sizeof(bad_partners[0]); i++) {
		char err[256] = "";
		d4_fed_partner_defaults(p);
		yajl_val v = parse(bad_partners[i].json);
		ck_assert_msg(d4_fed_partner_apply_json(v, p, 1, err, sizeof(err)) == D4_EINVAL, "%s accepted",
			      bad_partners[i].json);
		ck_assert_msg(strstr(err, bad_partners[i].err) != NULL, "%s: '%s' lacks '%s'", bad_partners[i].json,
			      err, bad_partners[i].err);
		yajl_tree_free(v);
	}
	/* An update cannot rename. */
	char err[256];
	d4_fed_partner_defaults(p);
	yajl_val v = parse(FULL);
	ck_assert_int_eq(d4_fed_partner_apply_json(v, p, 1, err, sizeof(err)), 0);
	yajl_tree_free(v);
	v = parse("{\"name\":\"other\"}");
	ck_assert_int_eq(d4_fed_partner_apply_json(v, p, 0, err, sizeof(err)), D4_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "renamed"));
	yajl_tree_free(v);
	ck_assert_int_eq(d4_fed_partner_apply_json(NULL, p, 0, err, sizeof(err)), D4_EINVAL);
	free(p);
}
END_TEST

START_TEST(test_dryrun_parse)
{
	struct d4_fed_dryrun d;
	char err[256];
	yajl_val v =
	    parse("{\"kind\":\"pdns\",\"tlp\":\"TLP:AMBER\",\"tags\":[\"misp:should-not-sync\"],"
		  "\"org\":\"02020202000040008000000000000002\",\"sensors\":[\"5e000000000040008000000000000001\"],"
		  "\"origin\":\"b1000000000040008000000000000001\",\"via\":[\"c1000000000040008000000000000001\"],"
		  "\"rrname\":\"www.example.com\",\"rrtype\":1,\"rdata\":\"192.0.2.1\"}");
	ck_assert_msg(d4_fed_dryrun_parse(v, &d, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(d.rec.kind, D4_FED_KIND_PDNS);
	ck_assert_int_eq(d.rec.tlp, D4_TLP_AMBER);
	ck_assert_uint_eq(d.rec.ntags, 1);
	ck_assert_int_eq(d.rec.has_org, 1);
	ck_assert_uint_eq(d.rec.nsensors, 1);
	ck_assert_uint_eq(d.rec.nvia, 1);
	ck_assert_str_eq(d.rec.rdata, "192.0.2.1");
	d4_fed_dryrun_free(&d);
	yajl_tree_free(v);
	static const char *bad[] = {
	    "{\"kind\":\"dns\"}",
	    "{\"tlp\":\"amber\"}",
	    "{\"tags\":[1]}",
	    "{\"type\":300}",
	    "{\"via\":[\"b1000000000040008000000000000001\"]}",
	    "{\"kind\":\"pdns\"}",
	    "{\"x\":1}",
	    "{\"sensors\":[\"nope\"]}",
	    "{\"should_not_sync\":\"yes\"}",
	    "3",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = parse(bad[i]);
		ck_assert_msg(d4_fed_dryrun_parse(v, &d, err, sizeof(err)) == D4_EINVAL, "%s accepted", bad[i]);
		d4_fed_dryrun_free(&d);
		yajl_tree_free(v);
	}
	/* A malformed tlp tag is red, as at ingest. */
	v = parse("{\"tlp\":\"tlp:amber+strictx\"}");
	ck_assert_int_eq(d4_fed_dryrun_parse(v, &d, err, sizeof(err)), 0);
	ck_assert_int_eq(d.rec.tlp, D4_TLP_RED);
	d4_fed_dryrun_free(&d);
	yajl_tree_free(v);
	for (int r = 0; r < D4_FED_R_COUNT; r++)
		ck_assert_str_ne(d4_fed_reason_text((enum d4_fed_reason)r), "invalid");
}
END_TEST

TCase *json_tcase(void)
{
	TCase *tc = tcase_create("json");
	tcase_add_test(tc, test_partner_roundtrip);
	tcase_add_test(tc, test_partner_refusals);
	tcase_add_test(tc, test_dryrun_parse);
	return tc;
}
