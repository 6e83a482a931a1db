/* Unit tests of hub/policy: TLP parsing, ordering and resolution. */
#include "d4_policy.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *tag;
	enum d4_tlp level;
} cases[] = {
    {"tlp:red", D4_TLP_RED},
    {"TLP:RED", D4_TLP_RED},
    {"tlp:amber+strict", D4_TLP_AMBER_STRICT},
    {"TLP:Amber+Strict", D4_TLP_AMBER_STRICT},
    {"tlp:amber", D4_TLP_AMBER},
    {"Tlp:AMBER", D4_TLP_AMBER},
    {"tlp:green", D4_TLP_GREEN},
    {"TLP:GREEN", D4_TLP_GREEN},
    {"tlp:clear", D4_TLP_CLEAR},
    {"TLP:CLEAR", D4_TLP_CLEAR},
    {"tlp:white", D4_TLP_CLEAR},
    {"TLP:WHITE", D4_TLP_CLEAR},
    {"tlp:ex:chr", D4_TLP_EX_CHR},
    {"TLP:EX:CHR", D4_TLP_EX_CHR},
    {"tlp:unclear", D4_TLP_UNCLEAR},
    {"TLP:Unclear", D4_TLP_UNCLEAR},
    /* Not TLP tags. */
    {"", D4_TLP_NONE},
    {"tlp:", D4_TLP_NONE},
    {"tlp:amber ", D4_TLP_NONE},
    {" tlp:amber", D4_TLP_NONE},
    {"tlp:amber+", D4_TLP_NONE},
    {"tlp:ambe", D4_TLP_NONE},
    {"tlp:redd", D4_TLP_NONE},
    {"tlp:black", D4_TLP_NONE},
    {"misp:should-not-sync", D4_TLP_NONE},
    {"misp:org=\"5a8a7e64-c0ac-4b5e-bc89-b1cbd3b2a0c1\"", D4_TLP_NONE},
    {"tlp-red", D4_TLP_NONE},
};

START_TEST(test_parse)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(d4_policy_tlp_parse(cases[i].tag) == cases[i].level, "tag '%s'", cases[i].tag);
	ck_assert_int_eq(d4_policy_tlp_parse(NULL), D4_TLP_NONE);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(d4_policy_tlp_name(D4_TLP_RED), "tlp:red");
	ck_assert_str_eq(d4_policy_tlp_name(D4_TLP_AMBER_STRICT), "tlp:amber+strict");
	ck_assert_str_eq(d4_policy_tlp_name(D4_TLP_AMBER), "tlp:amber");
	ck_assert_str_eq(d4_policy_tlp_name(D4_TLP_GREEN), "tlp:green");
	ck_assert_str_eq(d4_policy_tlp_name(D4_TLP_CLEAR), "tlp:clear");
	ck_assert_str_eq(d4_policy_tlp_name(D4_TLP_EX_CHR), "tlp:ex:chr");
	ck_assert_str_eq(d4_policy_tlp_name(D4_TLP_UNCLEAR), "tlp:unclear");
	ck_assert_str_eq(d4_policy_tlp_name(D4_TLP_NONE), "none");
	ck_assert_str_eq(d4_policy_tlp_name((enum d4_tlp)99), "invalid");
	/* Every real level round-trips through its name. */
	for (int t = D4_TLP_CLEAR; t <= D4_TLP_UNCLEAR; t++)
		ck_assert_int_eq(d4_policy_tlp_parse(d4_policy_tlp_name((enum d4_tlp)t)), t);
	/* white is an alias: its canonical name is clear. */
	ck_assert_str_eq(d4_policy_tlp_name(d4_policy_tlp_parse("tlp:white")), "tlp:clear");
}
END_TEST

START_TEST(test_order_max)
{
	static const enum d4_tlp order[] = {D4_TLP_CLEAR, D4_TLP_GREEN,	       D4_TLP_EX_CHR,
					    D4_TLP_AMBER, D4_TLP_AMBER_STRICT, D4_TLP_RED};
	size_t n = sizeof(order) / sizeof(order[0]);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			enum d4_tlp want = order[i > j ? i : j];
			ck_assert_int_eq(d4_policy_tlp_max(order[i], order[j]), want);
		}
		/* NONE and UNCLEAR lose against any real level, on either side. */
		ck_assert_int_eq(d4_policy_tlp_max(order[i], D4_TLP_NONE), order[i]);
		ck_assert_int_eq(d4_policy_tlp_max(D4_TLP_NONE, order[i]), order[i]);
		ck_assert_int_eq(d4_policy_tlp_max(order[i], D4_TLP_UNCLEAR), order[i]);
		ck_assert_int_eq(d4_policy_tlp_max(D4_TLP_UNCLEAR, order[i]), order[i]);
	}
	ck_assert_int_eq(d4_policy_tlp_max(D4_TLP_NONE, D4_TLP_NONE), D4_TLP_NONE);
	ck_assert_int_eq(d4_policy_tlp_max(D4_TLP_NONE, D4_TLP_UNCLEAR), D4_TLP_UNCLEAR);
	ck_assert_int_eq(d4_policy_tlp_max(D4_TLP_UNCLEAR, D4_TLP_NONE), D4_TLP_UNCLEAR);
	ck_assert_int_eq(d4_policy_tlp_max(d4_policy_tlp_parse("tlp:white"), d4_policy_tlp_parse("tlp:clear")),
			 D4_TLP_CLEAR);
}
END_TEST

START_TEST(test_resolve)
{
	ck_assert_int_eq(d4_policy_tlp_resolve(D4_TLP_GREEN, D4_TLP_RED, D4_TLP_AMBER_STRICT), D4_TLP_GREEN);
	ck_assert_int_eq(d4_policy_tlp_resolve(D4_TLP_NONE, D4_TLP_AMBER, D4_TLP_AMBER_STRICT), D4_TLP_AMBER);
	ck_assert_int_eq(d4_policy_tlp_resolve(D4_TLP_UNCLEAR, D4_TLP_CLEAR, D4_TLP_AMBER_STRICT), D4_TLP_CLEAR);
	ck_assert_int_eq(d4_policy_tlp_resolve(D4_TLP_NONE, D4_TLP_NONE, D4_TLP_AMBER_STRICT), D4_TLP_AMBER_STRICT);
	ck_assert_int_eq(d4_policy_tlp_resolve(D4_TLP_UNCLEAR, D4_TLP_UNCLEAR, D4_TLP_GREEN), D4_TLP_GREEN);
	ck_assert_int_eq(d4_policy_tlp_resolve(D4_TLP_EX_CHR, D4_TLP_NONE, D4_TLP_RED), D4_TLP_EX_CHR);
	/* A bad hub default fails closed. */
	ck_assert_int_eq(d4_policy_tlp_resolve(D4_TLP_NONE, D4_TLP_NONE, D4_TLP_NONE), D4_TLP_RED);
	ck_assert_int_eq(d4_policy_tlp_resolve(D4_TLP_NONE, D4_TLP_UNCLEAR, D4_TLP_UNCLEAR), D4_TLP_RED);
	ck_assert_int_eq(d4_policy_tlp_resolve(D4_TLP_NONE, D4_TLP_NONE, (enum d4_tlp)42), D4_TLP_RED);
	/* An out-of-range stream value is not a level either. */
	ck_assert_int_eq(d4_policy_tlp_resolve((enum d4_tlp)42, D4_TLP_NONE, D4_TLP_GREEN), D4_TLP_GREEN);
}
END_TEST

START_TEST(test_from_tags)
{
	char tags[6][128];
	memset(tags, 0, sizeof(tags));
	strcpy(tags[0], "foo:bar");
	strcpy(tags[1], "tlp:green");
	strcpy(tags[2], "tlp:amber");
	strcpy(tags[3], "tlp:clear");
	int ns = -1;
	ck_assert_int_eq(d4_policy_tlp_from_tags((const char(*)[128])tags, 4, &ns), D4_TLP_AMBER);
	ck_assert_int_eq(ns, 0);
	ck_assert_int_eq(d4_policy_tlp_from_tags((const char(*)[128])tags, 2, &ns), D4_TLP_GREEN);
	ck_assert_int_eq(d4_policy_tlp_from_tags((const char(*)[128])tags, 1, &ns), D4_TLP_NONE);
	ck_assert_int_eq(d4_policy_tlp_from_tags((const char(*)[128])tags, 0, &ns), D4_TLP_NONE);
	ck_assert_int_eq(d4_policy_tlp_from_tags(NULL, 3, &ns), D4_TLP_NONE);
	/* Upper-case input is matched too. */
	strcpy(tags[4], "TLP:RED");
	ck_assert_int_eq(d4_policy_tlp_from_tags((const char(*)[128])tags, 5, &ns), D4_TLP_RED);
	/* unclear does not beat a real level; alone it stays unclear. */
	strcpy(tags[0], "tlp:unclear");
	ck_assert_int_eq(d4_policy_tlp_from_tags((const char(*)[128])tags, 1, &ns), D4_TLP_UNCLEAR);
	ck_assert_int_eq(d4_policy_tlp_from_tags((const char(*)[128])tags, 2, &ns), D4_TLP_GREEN);
	/* should-not-sync: flag set, level unchanged; folded into RED without a flag pointer. */
	strcpy(tags[5], "MISP:should-not-sync");
	ck_assert_int_eq(d4_policy_tlp_from_tags((const char(*)[128])tags + 5, 1, &ns), D4_TLP_NONE);
	ck_assert_int_eq(ns, 1);
	ck_assert_int_eq(d4_policy_tlp_from_tags((const char(*)[128])tags + 1, 1, &ns), D4_TLP_GREEN);
	ck_assert_int_eq(ns, 0);
	ck_assert_int_eq(d4_policy_tlp_from_tags((const char(*)[128])tags + 5, 1, NULL), D4_TLP_RED);
	ck_assert_int_eq(d4_policy_tlp_from_tags((const char(*)[128])tags, 2, NULL), D4_TLP_GREEN);
	/* A tag filling all 128 bytes without NUL is read within bounds. */
	memset(tags[0], 'a', 128);
	ck_assert_int_eq(d4_policy_tlp_from_tags((const char(*)[128])tags, 2, &ns), D4_TLP_GREEN);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("tlp");
	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_order_max);
	tcase_add_test(tc, test_resolve);
	tcase_add_test(tc, test_from_tags);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
