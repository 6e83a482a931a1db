/* Fuzz target for the pDNS side record decoder (stored bytes, docs/store.md
 * "pdns_side"): nothing may crash; whatever decodes must encode back to the
 * same bytes (one encoding per record), and a smaller buffer is refused
 * with the count. */
#include "d4_error.h"
#include "d4_store_pdns.h"

#include <stdlib.h>
#include <string.h>

#define CAP 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct d4_store_pdns_side_obs e[CAP];
	static uint8_t buf[D4_PDNS_SIDE_LEN(CAP)];
	uint64_t fp;
	size_t n;
	int rc = d4_store_pdns_side_decode(data, size, &fp, e, CAP, &n);
	if (rc == D4_ETOOBIG) {
		if (n <= CAP)
			abort();
		return 0;
	}
	if (rc == D4_ECORRUPT)
		return 0;
	if (rc != 0 || n > CAP)
		abort();
	for (size_t i = 0; i < n; i++)
		if (e[i].sensors_before > e[i].sensors || e[i].tlp > 7)
			abort();
	size_t m = d4_store_pdns_side_encode(fp, e, n, buf);
	if (m != size || memcmp(buf, data, size))
		abort();
	if (n && d4_store_pdns_side_decode(data, size, &fp, e, n - 1, &m) != D4_ETOOBIG)
		abort();
	return 0;
}
