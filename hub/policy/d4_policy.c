/* d4hub — TLP and provenance policy. */
#include "d4_policy.h"

#include <string.h>

static const struct {
	const char *name;
	enum d4_tlp level;
} tlp_names[] = {
    {"tlp:red", D4_TLP_RED},	   {"tlp:amber+strict", D4_TLP_AMBER_STRICT},
    {"tlp:amber", D4_TLP_AMBER},   {"tlp:green", D4_TLP_GREEN},
    {"tlp:clear", D4_TLP_CLEAR},   {"tlp:white", D4_TLP_CLEAR},
    {"tlp:ex:chr", D4_TLP_EX_CHR}, {"tlp:unclear", D4_TLP_UNCLEAR},
};

static const char no_sync_tag[] = "misp:should-not-sync";

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* Case-insensitive equality of tag[0..n) (no NUL inside) with a lower-case
 * literal. */
static int tag_is(const char *tag, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	if (n != l)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower(tag[i]) != lit[i])
			return 0;
	return 1;
}

static enum d4_tlp tlp_parse_n(const char *tag, size_t n)
{
	for (size_t i = 0; i < sizeof(tlp_names) / sizeof(tlp_names[0]); i++)
		if (tag_is(tag, n, tlp_names[i].name))
			return tlp_names[i].level;
	return D4_TLP_NONE;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Surrounding ASCII white space is a typing accident, never meaning. */
static void trim(const char **tag, size_t *n)
{
	while (*n && is_space(**tag)) {
		(*tag)++;
		(*n)--;
	}
	while (*n && is_space((*tag)[*n - 1]))
		(*n)--;
}

static int is_word(char c)
{
	c = lower(c);
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

enum d4_tlp d4_policy_tlp_tag(const char *tag, size_t n)
{
	if (!tag)
		return D4_TLP_NONE;
	trim(&tag, &n);
	enum d4_tlp t = tlp_parse_n(tag, n);
	if (t != D4_TLP_NONE)
		return t;
	/* In the tlp namespace but not a level we know: the sender meant to
	 * restrict something; the safest reading is the most restrictive. */
	if (n >= 3 && tag_is(tag, 3, "tlp") && (n == 3 || !is_word(tag[3])))
		return D4_TLP_RED;
	return D4_TLP_NONE;
}

int d4_policy_tag_no_sync(const char *tag, size_t n)
{
	if (!tag)
		return 0;
	trim(&tag, &n);
	size_t l = sizeof(no_sync_tag) - 1;
	return n >= l && tag_is(tag, l, no_sync_tag);
}

enum d4_tlp d4_policy_tlp_parse(const char *tag)
{
	if (!tag)
		return D4_TLP_NONE;
	return tlp_parse_n(tag, strlen(tag));
}

const char *d4_policy_tlp_name(enum d4_tlp tlp)
{
	switch (tlp) {
	case D4_TLP_NONE: return "none";
	case D4_TLP_CLEAR: return "tlp:clear";
	case D4_TLP_GREEN: return "tlp:green";
	case D4_TLP_EX_CHR: return "tlp:ex:chr";
	case D4_TLP_AMBER: return "tlp:amber";
	case D4_TLP_AMBER_STRICT: return "tlp:amber+strict";
	case D4_TLP_RED: return "tlp:red";
	case D4_TLP_UNCLEAR: return "tlp:unclear";
	}
	return "invalid";
}

static int is_real(enum d4_tlp t)
{
	return t >= D4_TLP_CLEAR && t <= D4_TLP_RED;
}

enum d4_tlp d4_policy_tlp_max(enum d4_tlp a, enum d4_tlp b)
{
	if (!is_real(a) && !is_real(b))
		/* Neither is a level; an explicit "unclear" says more than nothing. */
		return (a == D4_TLP_UNCLEAR || b == D4_TLP_UNCLEAR) ? D4_TLP_UNCLEAR : D4_TLP_NONE;
	if (!is_real(a))
		return b;
	if (!is_real(b))
		return a;
	return a > b ? a : b;
}

enum d4_tlp d4_policy_tlp_resolve(enum d4_tlp stream, enum d4_tlp sensor_default, enum d4_tlp hub_default)
{
	if (is_real(stream))
		return stream;
	if (is_real(sensor_default))
		return sensor_default;
	if (is_real(hub_default))
		return hub_default;
	/* A broken hub default must not let data leave: fail closed. */
	return D4_TLP_RED;
}

enum d4_tlp d4_policy_tlp_from_tags(const char (*tags)[128], unsigned ntags, int *no_sync)
{
	enum d4_tlp best = D4_TLP_NONE;
	int ns = 0;
	for (unsigned i = 0; tags && i < ntags; i++) {
		const char *t = tags[i];
		const char *end = memchr(t, '\0', 128);
		size_t n = end ? (size_t)(end - t) : 128;
		if (d4_policy_tag_no_sync(t, n))
			ns = 1;
		else
			best = d4_policy_tlp_max(best, d4_policy_tlp_tag(t, n));
	}
	if (no_sync)
		*no_sync = ns;
	else if (ns)
		best = D4_TLP_RED; /* caller cannot see the flag: keep its effect */
	return best;
}

int d4_policy_tlp_visible(enum d4_tlp clearance, enum d4_tlp record)
{
	if (!is_real(clearance))
		return 0;
	if (!is_real(record))
		record = D4_TLP_RED;
	return record <= clearance;
}
