/* Fuzz target for the passive-SSL store's row codecs (stored bytes,
 * docs/store.md "Passive SSL"): the first input byte picks the row kind
 * (0 certificate, 1 key, 2 tuple, 3 fingerprint, 4 finding — its 17-byte
 * key first —, 5 counters), the rest is the stored value. Nothing may
 * crash; whatever decodes is within its bounds and encodes back to the
 * same bytes (the decoders are strict: one encoding per row). */
#include "d4_error.h"
#include "store_pssl_internal.h"

#include <stdlib.h>
#include <string.h>

static uint8_t buf[PSSL_CREC_MAX + PSSL_KREC_MAX + PSSL_TREC_MAX + PSSL_FREC_MAX + PSSL_FIND_MAX];

static void same(const uint8_t *p, size_t n, size_t m)
{
	if (m != n || memcmp(buf, p, n))
		abort();
}

static void meta_ok(const struct pssl_meta *m)
{
	if (m->last < m->first || m->tlp < 1 || m->tlp > 6 || m->nsens > D4_PSSL_SENSORS_KEEP ||
	    m->nhubs > D4_PSSL_HUBS_KEEP)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	switch (data[0]) {
	case 0: {
		static struct pssl_crec c;
		if (store_pssl_crec_decode(p, n, &c))
			return 0;
		meta_ok(&c.m);
		if (c.n_san > D4_PSSL_SAN_MAX || (!c.parsed && (c.n_san || c.key_id || c.has_cn)))
			abort();
		for (size_t i = 0; i < c.n_san; i++)
			if ((c.san[i].type != 1 && c.san[i].type != 2) || c.san[i].len > D4_PSSL_SAN_LEN)
				abort();
		same(p, n, store_pssl_crec_encode(&c, buf));
		break;
	}
	case 1: {
		static struct pssl_krec k;
		if (store_pssl_krec_decode(p, n, &k))
			return 0;
		if (k.nsubj > PSSL_SUBJ_KEEP || k.modulus_len > D4_PSSL_MODULUS_MAX ||
		    k.exponent_len > D4_PSSL_EXPONENT_MAX)
			abort();
		same(p, n, store_pssl_krec_encode(&k, buf));
		break;
	}
	case 2: {
		static struct pssl_trec t;
		if (store_pssl_trec_decode(p, n, &t))
			return 0;
		meta_ok(&t.m);
		if (t.n_chain > D4_PSSL_CHAIN_MAX || (t.has_cert && !t.n_chain) || t.sni_len > D4_PSSL_SNI_MAX ||
		    t.ja4_len > D4_PSSL_JA4_MAX)
			abort();
		same(p, n, store_pssl_trec_encode(&t, buf));
		break;
	}
	case 3: {
		struct pssl_frec f;
		if (store_pssl_frec_decode(p, n, &f))
			return 0;
		if (f.last < f.first || f.tlp < 1 || f.tlp > 6 || f.str_len > D4_PSSL_JA3_STR_MAX)
			abort();
		same(p, n, store_pssl_frec_encode(&f, buf));
		break;
	}
	case 4: {
		struct d4_store_pssl_finding f;
		if (n < 17 || store_pssl_find_decode(p, 17, p + 17, n - 17, &f))
			return 0;
		if (f.factor_len > D4_PSSL_FACTOR_MAX)
			abort();
		same(p + 17, n - 17, store_pssl_find_encode(&f, buf));
		break;
	}
	case 5: {
		struct d4_store_pssl_counters c;
		if (store_pssl_cnt_decode(p, n, &c))
			return 0;
		same(p, n, store_pssl_cnt_encode(&c, buf));
		break;
	}
	}
	return 0;
}
