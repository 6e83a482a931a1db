/* d4hub — TLP and provenance policy (DESIGN.md §5).
 * Levels are ordered from least to most restrictive so that "most
 * restrictive wins" is a max(). */
#ifndef D4_POLICY_H
#define D4_POLICY_H

#include <stddef.h>
#include <stdint.h>

enum d4_tlp {
	D4_TLP_NONE = 0,  /* no tag: resolves to the configured default */
	D4_TLP_CLEAR = 1, /* also legacy tlp:white */
	D4_TLP_GREEN = 2,
	D4_TLP_EX_CHR = 3, /* content may go, source identity stripped */
	D4_TLP_AMBER = 4,
	D4_TLP_AMBER_STRICT = 5,
	D4_TLP_RED = 6,
	D4_TLP_UNCLEAR = 7 /* explicit "unclear": resolves to the default */
};

/* Parses a level name an operator typed (config, d4hubctl, API input)
 * case-insensitively ("tlp:amber+strict", "TLP:WHITE"...). Returns the
 * level, or D4_TLP_NONE for anything else (and for NULL): exact match only,
 * so that a typo is an error the caller reports, never a guess. Stream tags
 * go through d4_policy_tlp_tag instead. */
enum d4_tlp d4_policy_tlp_parse(const char *tag);
/* Classifies one stream tag (tag[0..n), no NUL needed; matched
 * case-insensitively after trimming leading and trailing ASCII white space,
 * which is never part of a MISP tag). A tag that is exactly a level name is
 * that level; any other tag in the tlp namespace -- "tlp" followed by the
 * end or by a character that is not a letter, digit or '_' ("tlp:",
 * "tlp:red:extra", "tlp:amber+strictx", "tlp: red", "tlp-red") -- is
 * D4_TLP_RED, so that a malformed label makes a stream more restrictive,
 * never less; everything else is D4_TLP_NONE. Pure; tag is borrowed. */
enum d4_tlp d4_policy_tlp_tag(const char *tag, size_t n);
/* 1 if tag[0..n) is `misp:should-not-sync` (same trimming and case rule;
 * anything that begins with it, such as `misp:should-not-sync="true"`,
 * counts too: fail closed). Pure; tag is borrowed. */
int d4_policy_tag_no_sync(const char *tag, size_t n);
/* Canonical lower-case name ("tlp:clear" for white); static string.
 * D4_TLP_NONE gives "none", an out-of-range value "invalid". */
const char *d4_policy_tlp_name(enum d4_tlp tlp);
/* More restrictive of a and b; NONE/UNCLEAR lose against any real level
 * (between themselves UNCLEAR wins: it was stated explicitly). */
enum d4_tlp d4_policy_tlp_max(enum d4_tlp a, enum d4_tlp b);
/* Resolution chain: stream tag, else sensor default, else hub default. The
 * result is never NONE/UNCLEAR (hub_default must be a real level; if it is
 * not, D4_TLP_RED is returned: fail closed). */
enum d4_tlp d4_policy_tlp_resolve(enum d4_tlp stream, enum d4_tlp sensor_default, enum d4_tlp hub_default);
/* Scans tags (lower-cased; matched case-insensitively anyway, each read up
 * to its NUL or 128 bytes) for TLP tags (d4_policy_tlp_tag: a malformed one
 * counts as tlp:red) and returns the most restrictive,
 * and sets *no_sync to 1 if `misp:should-not-sync` is present, else 0.
 * no_sync may be NULL: the tag then makes the result D4_TLP_RED so that its
 * effect (shared with nobody) is not lost. tags is borrowed. */
enum d4_tlp d4_policy_tlp_from_tags(const char (*tags)[128], unsigned ntags, int *no_sync);

/* THE clearance rule: 1 if a reader whose clearance is `clearance` may see
 * a record labelled `record`, else 0. Every read path of the hub (API
 * exports, analyzer queues, session lists, passive DNS) and, later, every
 * egress decision to a partner (whose clearance is its sharing rule's
 * maximum TLP) asks this one function; nobody compares levels by hand.
 * A record is visible when its level is at or below the clearance in the
 * order of enum d4_tlp. Fails closed: a record without a real level (NONE,
 * UNCLEAR, out of range: never written by the ingest, so a damaged or
 * foreign record) counts as tlp:red, and a clearance that is not a real
 * level (NONE, UNCLEAR, out of range) sees nothing. Pure, no state. */
int d4_policy_tlp_visible(enum d4_tlp clearance, enum d4_tlp record);

#endif
