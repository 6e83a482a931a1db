/* Fuzz target for the stream-tag classifier (d4_policy_tlp_tag,
 * d4_policy_tlp_from_tags) and the clearance rule. Tags come from hostile
 * meta headers; the properties checked are the fail-closed ones: a tag in
 * the tlp namespace is never "no label", adding a tag never makes a stream
 * less restrictive, and a record is never visible above a clearance.
 * Input: tags separated by '\n' (at most 32, each cut at 127 bytes), as the
 * meta-header parser hands them over. */
#include "d4_policy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int real(enum d4_tlp t)
{
	return t >= D4_TLP_CLEAR && t <= D4_TLP_RED;
}

/* Restrictiveness for comparison: NONE < UNCLEAR < real levels. */
static int rank(enum d4_tlp t)
{
	if (t == D4_TLP_NONE)
		return 0;
	if (t == D4_TLP_UNCLEAR)
		return 1;
	return 1 + (int)t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char tags[32][128];
	unsigned n = 0;
	size_t i = 0;
	memset(tags, 0, sizeof(tags));
	while (i < size && n < 32) {
		size_t j = i;
		while (j < size && data[j] != '\n')
			j++;
		size_t len = j - i < 127 ? j - i : 127;
		memcpy(tags[n], data + i, len);
		/* an embedded NUL ends the tag, as C strings do */
		n++;
		i = j + 1;
	}
	enum d4_tlp prev = D4_TLP_NONE;
	for (unsigned k = 0; k < n; k++) {
		const char *t = tags[k];
		size_t len = strnlen(t, 128);
		enum d4_tlp one = d4_policy_tlp_tag(t, len);
		if (one != D4_TLP_NONE && !real(one) && one != D4_TLP_UNCLEAR)
			abort();
		/* in the tlp namespace (after trimming): never "no label" */
		size_t a = 0, b = len;
		while (a < b && strchr(" \t\n\r\v\f", t[a]) && t[a])
			a++;
		while (b > a && strchr(" \t\n\r\v\f", t[b - 1]) && t[b - 1])
			b--;
		if (b - a >= 3 && (t[a] | 32) == 't' && (t[a + 1] | 32) == 'l' && (t[a + 2] | 32) == 'p') {
			char c = b - a > 3 ? t[a + 3] : ':';
			int word =
			    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
			if (!word && one == D4_TLP_NONE)
				abort();
		}
		/* the operator parser accepts only what the stream classifier
		 * gives the same level */
		char z[128];
		memcpy(z, t, len);
		z[len < 127 ? len : 127] = '\0';
		enum d4_tlp strict = d4_policy_tlp_parse(z);
		if (strict != D4_TLP_NONE && strict != one)
			abort();
		/* adding a tag never lowers the result */
		int ns;
		enum d4_tlp cur = d4_policy_tlp_from_tags((const char(*)[128])tags, k + 1, &ns);
		if (rank(cur) < rank(prev) || rank(cur) < rank(one))
			abort();
		/* without the flag pointer, should-not-sync is red */
		enum d4_tlp folded = d4_policy_tlp_from_tags((const char(*)[128])tags, k + 1, NULL);
		if (ns ? folded != D4_TLP_RED : folded != cur)
			abort();
		prev = cur;
	}
	/* the clearance rule over the first two bytes as raw values */
	if (size >= 2) {
		enum d4_tlp c = (enum d4_tlp)data[0], r = (enum d4_tlp)data[1];
		int v = d4_policy_tlp_visible(c, r);
		if (v && !real(c))
			abort();
		if (v && real(r) && r > c)
			abort();
		if (v && !real(r) && c != D4_TLP_RED)
			abort();
	}
	return 0;
}
