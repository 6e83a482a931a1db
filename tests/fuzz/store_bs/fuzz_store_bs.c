/* Fuzz target for the stored backscatter vector record (store_bs_vec_decode):
 * nothing may crash; whatever decodes is within its bounds and encodes back
 * to the same bytes (the decoder is strict: one layout per record). */
#include "d4_error.h"
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct d4_store_bs_vec v;
	static uint8_t buf[STORE_BS_REC_MAX];
	int rc = store_bs_vec_decode(data, size, &v);
	if (rc == D4_ECORRUPT)
		return 0;
	if (rc != 0)
		abort();
	if (v.n_ports > D4_STORE_BS_TOP_PORTS || v.n_sensors > D4_STORE_BS_SENSORS || v.nvia > D4_STORE_BS_VIA_MAX ||
	    v.kind == 0 || v.kind >= D4_STORE_BS_KINDS || v.tlp < 1 || v.tlp > 6 || v.last_us < v.first_us)
		abort();
	size_t n = store_bs_vec_encode(&v, buf);
	if (n != size || memcmp(buf, data, n) != 0)
		abort();
	return 0;
}
