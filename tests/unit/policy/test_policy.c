/* Unit tests of hub/policy: TLP parsing, ordering and resolution. */
#include "d4_policy.h"

#include <check.h>
#include <stdarg.h>
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

/* Stream tags (d4_policy_tlp_tag): a tag in the tlp namespace that is not
 * exactly a level must never make a stream less restrictive. */
static const struct {
	const char *tag;
	enum d4_tlp level;
} tag_cases[] = {
    /* exact names, any case */
    {"tlp:red", D4_TLP_RED},
    {"TLP:RED", D4_TLP_RED},
    {"tlp:amber+strict", D4_TLP_AMBER_STRICT},
    {"TLP:Amber+Strict", D4_TLP_AMBER_STRICT},
    {"tlp:amber", D4_TLP_AMBER},
    {"tlp:green", D4_TLP_GREEN},
    {"tlp:clear", D4_TLP_CLEAR},
    {"tlp:white", D4_TLP_CLEAR},
    {"TLP:White", D4_TLP_CLEAR},
    {"tlp:ex:chr", D4_TLP_EX_CHR},
    {"TLP:EX:CHR", D4_TLP_EX_CHR},
    {"tlp:unclear", D4_TLP_UNCLEAR},
    /* surrounding ASCII white space is trimmed: the level the sender typed */
    {"tlp:red ", D4_TLP_RED},
    {" tlp:red", D4_TLP_RED},
    {"\ttlp:red\r\n", D4_TLP_RED},
    {"  tlp:clear  ", D4_TLP_CLEAR},
    {"tlp:green\t", D4_TLP_GREEN},
    {" TLP:Amber+Strict ", D4_TLP_AMBER_STRICT},
    {"tlp:white ", D4_TLP_CLEAR},
    /* malformed or unknown, inside the tlp namespace: red */
    {"tlp:", D4_TLP_RED},
    {"tlp: ", D4_TLP_RED},
    {"tlp", D4_TLP_RED},
    {"TLP", D4_TLP_RED},
    {"tlp:red:extra", D4_TLP_RED},
    {"tlp:clear:extra", D4_TLP_RED},
    {"tlp:amber+strictx", D4_TLP_RED},
    {"tlp:amber+", D4_TLP_RED},
    {"tlp:amber+strict+", D4_TLP_RED},
    {"tlp:ambe", D4_TLP_RED},
    {"tlp:redd", D4_TLP_RED},
    {"tlp:black", D4_TLP_RED},
    {"tlp:unclearx", D4_TLP_RED},
    {"tlp:un clear", D4_TLP_RED},
    {"tlp:ex", D4_TLP_RED},
    {"tlp:ex:", D4_TLP_RED},
    {"tlp:ex:chrx", D4_TLP_RED},
    {"tlp: red", D4_TLP_RED},
    {"tlp :red", D4_TLP_RED},
    {"tlp:\tclear", D4_TLP_RED},
    {"tlp:cl ear", D4_TLP_RED},
    {"tlp:clear\xc2\xa0", D4_TLP_RED}, /* no-break space is not trimmed */
    {"tlp:\"clear\"", D4_TLP_RED},
    {"tlp=\"clear\"", D4_TLP_RED},
    {"tlp-red", D4_TLP_RED},
    {"tlp-clear", D4_TLP_RED},
    {"tlp.clear", D4_TLP_RED},
    {"tlp:2.0:clear", D4_TLP_RED},
    /* not in the tlp namespace */
    {"", D4_TLP_NONE},
    {" ", D4_TLP_NONE},
    {"tlpx:red", D4_TLP_NONE},
    {"tlp_red", D4_TLP_NONE},
    {"tlp2:clear", D4_TLP_NONE},
    {"xtlp:clear", D4_TLP_NONE},
    {"misp:should-not-sync", D4_TLP_NONE},
    {"misp:org=\"5a8a7e64-c0ac-4b5e-bc89-b1cbd3b2a0c1\"", D4_TLP_NONE},
    {"foo:tlp:clear", D4_TLP_NONE},
};

START_TEST(test_tag)
{
	for (size_t i = 0; i < sizeof(tag_cases) / sizeof(tag_cases[0]); i++) {
		const char *t = tag_cases[i].tag;
		ck_assert_msg(d4_policy_tlp_tag(t, strlen(t)) == tag_cases[i].level, "tag '%s': %d, want %d", t,
			      d4_policy_tlp_tag(t, strlen(t)), tag_cases[i].level);
	}
	ck_assert_int_eq(d4_policy_tlp_tag(NULL, 5), D4_TLP_NONE);
	/* only n bytes are read: a prefix of a longer buffer */
	ck_assert_int_eq(d4_policy_tlp_tag("tlp:clearXYZ", 9), D4_TLP_CLEAR);
	ck_assert_int_eq(d4_policy_tlp_tag("tlp:clearXYZ", 10), D4_TLP_RED);
	/* the operator-input parser stays exact: a typo is an error there */
	ck_assert_int_eq(d4_policy_tlp_parse("tlp:red "), D4_TLP_NONE);
	ck_assert_int_eq(d4_policy_tlp_parse("tlp:red:extra"), D4_TLP_NONE);
}
END_TEST

START_TEST(test_no_sync)
{
	static const char *yes[] = {"misp:should-not-sync", "MISP:Should-Not-Sync", " misp:should-not-sync ",
				    "misp:should-not-sync=\"true\"", "misp:should-not-sync:x"};
	static const char *no[] = {"misp:should-sync", "misp:should-not-syn", "should-not-sync", "", "tlp:red"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(d4_policy_tag_no_sync(yes[i], strlen(yes[i])), "'%s'", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(!d4_policy_tag_no_sync(no[i], strlen(no[i])), "'%s'", no[i]);
	ck_assert_int_eq(d4_policy_tag_no_sync(NULL, 3), 0);
}
END_TEST

/* Mixtures as a meta header carries them: the most restrictive wins and a
 * malformed tlp tag is red whatever else is there. */
static enum d4_tlp mix(int *ns, int n, ...)
{
	char tags[8][128];
	memset(tags, 0, sizeof(tags));
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		strncpy(tags[i], va_arg(ap, const char *), 127);
	va_end(ap);
	return d4_policy_tlp_from_tags((const char(*)[128])tags, (unsigned)n, ns);
}

START_TEST(test_mixtures)
{
	int ns = -1;
	ck_assert_int_eq(mix(&ns, 2, "tlp:red:extra", "tlp:clear"), D4_TLP_RED);
	ck_assert_int_eq(mix(&ns, 2, "tlp:clear", "tlp:red:extra"), D4_TLP_RED);
	ck_assert_int_eq(mix(&ns, 1, "tlp:red "), D4_TLP_RED);
	ck_assert_int_eq(mix(&ns, 2, "tlp:red ", "tlp:clear"), D4_TLP_RED);
	ck_assert_int_eq(mix(&ns, 2, "tlp:green", "tlp:"), D4_TLP_RED);
	ck_assert_int_eq(mix(&ns, 2, "tlp:amber+strictx", "tlp:green"), D4_TLP_RED);
	ck_assert_int_eq(mix(&ns, 2, "tlp:amber+strict", "tlp:green"), D4_TLP_AMBER_STRICT);
	ck_assert_int_eq(mix(&ns, 2, "tlp:white", "tlp:green"), D4_TLP_GREEN);
	ck_assert_int_eq(mix(&ns, 2, "tlp:white", "tlp:clear"), D4_TLP_CLEAR);
	ck_assert_int_eq(mix(&ns, 2, "tlp:ex:chr", "tlp:green"), D4_TLP_EX_CHR);
	ck_assert_int_eq(mix(&ns, 2, "tlp:ex:chr", "tlp:amber"), D4_TLP_AMBER);
	ck_assert_int_eq(mix(&ns, 1, "tlp:ex:chr "), D4_TLP_EX_CHR);
	/* unclear alone resolves to the default later; a real level beats it;
	 * a malformed one is red */
	ck_assert_int_eq(mix(&ns, 1, "tlp:unclear"), D4_TLP_UNCLEAR);
	ck_assert_int_eq(mix(&ns, 2, "tlp:unclear", "tlp:clear"), D4_TLP_CLEAR);
	ck_assert_int_eq(mix(&ns, 2, "tlp:unclear", "tlp:unclear:x"), D4_TLP_RED);
	ck_assert_int_eq(d4_policy_tlp_resolve(mix(&ns, 1, "tlp:unclear"), D4_TLP_NONE, D4_TLP_AMBER_STRICT),
			 D4_TLP_AMBER_STRICT);
	ck_assert_int_eq(d4_policy_tlp_resolve(mix(&ns, 1, "tlp:"), D4_TLP_CLEAR, D4_TLP_CLEAR), D4_TLP_RED);
	/* no TLP tag at all: the defaults decide */
	ck_assert_int_eq(mix(&ns, 2, "foo:bar", "tlpx:clear"), D4_TLP_NONE);
	ck_assert_int_eq(ns, 0);
	/* should-not-sync: flagged, and red for a caller that cannot see the flag */
	ck_assert_int_eq(mix(&ns, 2, "misp:should-not-sync", "tlp:clear"), D4_TLP_CLEAR);
	ck_assert_int_eq(ns, 1);
	ck_assert_int_eq(mix(NULL, 2, "misp:should-not-sync", "tlp:clear"), D4_TLP_RED);
	ck_assert_int_eq(mix(NULL, 2, " MISP:Should-Not-Sync ", "tlp:clear"), D4_TLP_RED);
	ck_assert_int_eq(mix(NULL, 1, "misp:should-not-sync=\"true\""), D4_TLP_RED);
	/* the ingest's chain: stream tags, then defaults */
	ck_assert_int_eq(d4_policy_tlp_resolve(mix(NULL, 2, "tlp:red:extra", "tlp:clear"), D4_TLP_CLEAR, D4_TLP_CLEAR),
			 D4_TLP_RED);
}
END_TEST

/* The one clearance rule, for every pair of levels and every odd value. */
START_TEST(test_visible)
{
	static const enum d4_tlp order[] = {D4_TLP_CLEAR, D4_TLP_GREEN,	       D4_TLP_EX_CHR,
					    D4_TLP_AMBER, D4_TLP_AMBER_STRICT, D4_TLP_RED};
	size_t n = sizeof(order) / sizeof(order[0]);
	for (size_t c = 0; c < n; c++) {
		for (size_t r = 0; r < n; r++)
			ck_assert_msg(d4_policy_tlp_visible(order[c], order[r]) == (r <= c), "clearance %s, record %s",
				      d4_policy_tlp_name(order[c]), d4_policy_tlp_name(order[r]));
		/* a record without a real level counts as red */
		int red = order[c] == D4_TLP_RED;
		ck_assert_int_eq(d4_policy_tlp_visible(order[c], D4_TLP_NONE), red);
		ck_assert_int_eq(d4_policy_tlp_visible(order[c], D4_TLP_UNCLEAR), red);
		ck_assert_int_eq(d4_policy_tlp_visible(order[c], (enum d4_tlp)200), red);
		/* a clearance that is not a level sees nothing */
		ck_assert_int_eq(d4_policy_tlp_visible(D4_TLP_NONE, order[c]), 0);
		ck_assert_int_eq(d4_policy_tlp_visible(D4_TLP_UNCLEAR, order[c]), 0);
		ck_assert_int_eq(d4_policy_tlp_visible((enum d4_tlp)200, order[c]), 0);
	}
	/* the defaults of the roles: user (amber+strict) does not see red */
	ck_assert_int_eq(d4_policy_tlp_visible(D4_TLP_AMBER_STRICT, D4_TLP_RED), 0);
	ck_assert_int_eq(d4_policy_tlp_visible(D4_TLP_AMBER_STRICT, D4_TLP_AMBER_STRICT), 1);
	ck_assert_int_eq(d4_policy_tlp_visible(D4_TLP_RED, D4_TLP_RED), 1);
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
	tcase_add_test(tc, test_tag);
	tcase_add_test(tc, test_no_sync);
	tcase_add_test(tc, test_mixtures);
	tcase_add_test(tc, test_visible);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
