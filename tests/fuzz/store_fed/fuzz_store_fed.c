/* Fuzz target for the store's federation value decoders: the first byte
 * picks fed_out, fed_in, a session value (v1 / v2 with provenance) or a
 * pDNS tuple record (u16be key length, tuple key, record v2 / v3 / v4), the rest is the value. Nothing may crash;
 * whatever decodes must encode back to the same bytes (the decoders are strict: one layout per value). */
#include "d4_error.h"
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct d4_store_fed_out o;
	static struct d4_store_fed_in in;
	static uint8_t buf[STORE_FED_OUT_MAX + STORE_FED_IN_MAX];
	if (size < 1)
		return 0;
	const uint8_t *v = data + 1;
	size_t n = size - 1, m = 0;
	int known = 1; /* counter lists longer than this build's are shortened */
	switch (data[0] % 4) {
	case 0:
		if (store_dec_fed_out(v, n, &o) != 0)
			return 0;
		m = store_enc_fed_out(&o, buf);
		known = o.ndecisions < D4_STORE_FED_REASONS && o.npend < D4_STORE_FED_REASONS;
		break;
	case 1:
		if (store_dec_fed_in(v, n, &in) != 0)
			return 0;
		m = store_enc_fed_in(&in, buf);
		known = in.nrefused < D4_STORE_FED_REASONS;
		break;
	case 3: {
		/* u16be key length || tuple key || record */
		size_t kl = n >= 2 ? (size_t)(v[0] << 8 | v[1]) : 0;
		if (n < 2 || kl + 2 > n)
			return 0;
		const uint8_t *k = v + 2, *rec = v + 2 + kl;
		size_t rl = n - 2 - kl;
		struct d4_store_pdns_tuple t;
		if (store_pdns_tuple_decode(k, kl, rec, rl, &t) != 0)
			return 0;
		if (t.nhubs > D4_PDNS_HUBS_KEEP || t.rrname[t.rrname_len] || t.rdata[t.rdata_len] ||
		    (t.bailiwick && t.bailiwick[t.bailiwick_len]))
			abort();
		/* record v4 is strict: it comes back byte for byte */
		uint8_t *re = malloc(rl + 128);
		if (!re)
			return 0;
		m = store_pdns_tuple_recode(k, kl, rec, rl, re);
		if (!m || (rec[0] == 4 && (m != rl || memcmp(re, rec, rl) != 0)))
			abort();
		free(re);
		return 0;
	}
	default: {
		struct d4_session_info si;
		struct d4_store_fed_session fs;
		if (store_dec_session_fed(v, n, 1, &si, &fs) != 0)
			return 0;
		if (si.fed) {
			m = store_enc_session_fed(&si, &fs, buf);
		} else {
			m = store_enc_session(&si, buf);
			known = v[0] == 1; /* a v2 value without the flag is written as v1 */
		}
		break;
	}
	}
	if (known && (m != n || memcmp(buf, v, n) != 0))
		abort();
	return 0;
}
