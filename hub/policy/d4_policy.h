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

/* Parses a tag case-insensitively ("tlp:amber+strict", "TLP:WHITE"...).
 * Returns the level, or D4_TLP_NONE for any non-TLP tag (and for NULL).
 * Exact match only: no trimming, "tlp:amber " is not a TLP tag. */
enum d4_tlp d4_policy_tlp_parse(const char *tag);
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
 * to its NUL or 128 bytes) for TLP tags and returns the most restrictive,
 * and sets *no_sync to 1 if `misp:should-not-sync` is present, else 0.
 * no_sync may be NULL: the tag then makes the result D4_TLP_RED so that its
 * effect (shared with nobody) is not lost. tags is borrowed. */
enum d4_tlp d4_policy_tlp_from_tags(const char (*tags)[128], unsigned ntags, int *no_sync);

#endif
