/* Private declarations shared by the DNS-message parser (dns.c) and the
 * capture extractor (pcap.c). Not part of the public API. */
#ifndef PDNS_INTERNAL_H
#define PDNS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "d4_pdns.h"

/* Output buffers of one parse: the presentation strings handed to the emit
 * callback are built here, so a long-lived owner (the extractor) parses
 * without allocating and d4_pdns_dns_parse() keeps one on its stack. */
struct pdns_work {
	char rrname[D4_PDNS_NAME_MAX];
	char bailiwick[D4_PDNS_NAME_MAX];
	char rdata[D4_PDNS_RDATA_MAX];
};

/* d4_pdns_dns_parse() with caller-owned work buffers (borrowed for the call). */
int pdns_dns_parse_work(const uint8_t *msg, size_t n, uint64_t ts, struct pdns_work *w, d4_pdns_emit_fn emit, void *arg,
			struct d4_pdns_stats *st);

#endif
