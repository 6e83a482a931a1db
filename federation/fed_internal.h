/* d4hub — federation internals shared by the library's files and its unit
 * tests. Not part of the public interface. */
#ifndef D4_FED_INTERNAL_H
#define D4_FED_INTERNAL_H

#include "d4_federation.h"

/* A single address (full prefix) from its text; 0 or D4_EINVAL. */
int fed_addr_parse(const char *s, struct d4_partner_net *out);
/* 1 if addr (a full address) is inside net (same family), else 0. */
int fed_net_contains(const struct d4_partner_net *net, const struct d4_partner_net *addr);
/* Zone-suffix match at a label boundary, case-insensitive. */
int fed_zone_match(const char *name, const char *zone);
/* The level a decision is made on (record level and tags, most restrictive;
 * else the hub default; never NONE/UNCLEAR) and the should-not-sync flag. */
enum d4_tlp fed_effective_level(const struct d4_fed_self *self, const struct d4_fed_record *rec, int *no_sync);

#endif
