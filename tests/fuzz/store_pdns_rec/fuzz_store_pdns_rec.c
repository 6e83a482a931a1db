/* Fuzz target for the id-keyed pDNS layout's stored forms (docs/store.md
 * "Id-keyed pDNS layout"): the tuple record v5 and the name table value.
 * Nothing may crash; whatever decodes must encode back to the same bytes
 * (one encoding per value) within the encoder's bound. The first byte picks
 * the decoder: 'n' the name value, anything else the record. */
#include "d4_error.h"
#include "store_pdns_internal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[D4_PDNS_STORE_RDATA_MAX + 4096];
	if (size && data[0] == 'n') {
		uint32_t nid;
		uint8_t uses;
		if (store_pdns_nval_decode(data + 1, size - 1, &nid, &uses))
			return 0;
		if (!uses || uses > 3 || store_pdns_nval_encode(nid, uses, buf) != size - 1 ||
		    memcmp(buf, data + 1, size - 1))
			abort();
		return 0;
	}
	struct store_pdns_rec5 r;
	int rc = store_pdns_rec5_decode(data, size, &r);
	if (rc == D4_ECORRUPT)
		return 0;
	if (rc)
		abort();
	if (r.tl < r.tf || r.nsens > D4_PDNS_SENSORS_KEEP || r.nhubs > D4_PDNS_HUBS_KEEP || (r.mixed && r.has_org) ||
	    !r.namelen || r.name[r.namelen] != 0)
		abort();
	size_t bound = store_pdns_rec5_bound(&r);
	if (bound > sizeof(buf))
		abort();
	size_t m = store_pdns_rec5_encode(&r, buf);
	if (m > bound || m != size || memcmp(buf, data, size))
		abort();
	return 0;
}
