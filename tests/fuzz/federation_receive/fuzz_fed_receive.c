/* Fuzz target for what the inbox does with a partner's batch before the
 * store sees it (d4_fed_receive_prepare_with: every record checked, the
 * inbound rule and a type filter per record, the store's batch built with
 * its provenance), for frames, pDNS tuples and backscatter vectors. Nothing
 * may crash; the store's batch must be consistent with what was decoded:
 * every kept record points into the input, the counts add up to the records
 * of the batch. */
#include "d4_error.h"
#include "d4_federation.h"

#include <stdlib.h>
#include <string.h>

static int odd_types(void *arg, uint8_t type, const char *ext, size_t ext_len)
{
	(void)arg;
	(void)ext;
	return (type & 1) || ext_len > 3;
}

/* Origin keys: a fixed key for origins whose first byte is odd (so that
 * signatures are checked, and fail), none for the others. */
static const uint8_t KEY[32] = {0x3b, 0x6a, 0x27, 0xbc, 0xce, 0xb6, 0xa4, 0x2d, 0x62, 0xa3, 0xa8,
				0xd0, 0x2a, 0x6f, 0x0d, 0x73, 0x65, 0x32, 0x15, 0x77, 0x1d, 0xe2,
				0x43, 0xa6, 0x3a, 0xc0, 0x48, 0xa1, 0x8b, 0x59, 0xda, 0x29};
static int key_of(void *arg, const uint8_t hub[16], uint8_t pk[32], uint8_t *must_sign)
{
	(void)arg;
	if (!(hub[0] & 1))
		return 0;
	memcpy(pk, KEY, 32);
	*must_sign = hub[1] & 1;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct d4_partner p;
	static const struct d4_fed_self self = {{0x5e, 0x1f, 1}, {0x0e, 1}, D4_TLP_GREEN, NULL, 0, NULL};
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	if (d4_fed_batch_open(data, size, &h, &it) == 0)
		memcpy(p.hub, h.sender, 16); /* else: any sender, the batch is refused anyway */
	p.enabled = 1;
	p.in.kinds = size & 1 ? 0x0f : 0x01;
	p.in.max_tlp = D4_TLP_AMBER;
	/* signed provenance: the sender's key and must_sign, origin keys */
	p.has_pubkey = (size & 4) ? 1 : 0;
	memcpy(p.pubkey, KEY, 32);
	p.must_sign = (size & 12) == 12;
	struct d4_fed_rx_filter f = {odd_types, NULL, key_of};
	for (uint8_t kind = 0; kind < 3; kind++) {
		struct d4_fed_rx rx;
		char why[256];
		int rc = d4_fed_receive_prepare_with(&self, &p, kind, data, size, size & 2 ? &f : NULL, &rx, why,
						     sizeof(why));
		if (rc < 0)
			abort(); /* only memory could fail, and these batches are small */
		if (rc != D4_FED_RX_OK) {
			if (rc >= D4_FED_RX_COUNT || !why[0] || rx.frames || rx.tuples || rx.vectors || rx.provs)
				abort();
			continue;
		}
		uint64_t n = rx.batch.nframes + rx.batch.ntuples + rx.batch.nvectors;
		for (unsigned i = 0; i < D4_FED_IN_COUNT; i++)
			n += rx.batch.refused[i];
		if (n != rx.nrecords || rx.batch.kind != kind || memcmp(rx.batch.sender, p.hub, 16) != 0)
			abort();
		for (size_t i = 0; i < rx.batch.nframes; i++) {
			const struct d4_store_fed_frame *fr = &rx.batch.frames[i];
			if (fr->size && (fr->payload < data || fr->payload + fr->size > data + size))
				abort();
			if (strlen(fr->ext_type) > 63 || !fr->prov)
				abort();
			/* a stripped frame keeps no signature; onward only from the sender
			 * itself here (no signature verifies with KEY) */
			if ((fr->prov->stripped && fr->sig_flags) ||
			    ((fr->sig_flags & D4_STORE_FED_SIG_ONWARD) && memcmp(fr->prov->origin, p.hub, 16) != 0))
				abort();
			/* a sealed frame keeps a proof its relay can read back */
			struct d4_fed_wprov pr;
			memset(&pr, 0, sizeof(pr));
			if ((fr->sig_flags & D4_STORE_FED_SIG_SEALED) &&
			    (fr->proof_len > D4_FED_PROOF_MAX ||
			     d4_fed_proof_decode(fr->proof, fr->proof_len, &pr) != 0 ||
			     memcmp(pr.seal.origin, fr->prov->origin, 16) != 0))
				abort();
		}
		for (size_t i = 0; i < rx.batch.ntuples; i++) {
			const struct d4_store_fed_tuple *t = &rx.batch.tuples[i];
			if (t->obs.rrname < (const char *)data ||
			    t->obs.rrname + t->obs.rrname_len > (const char *)data + size)
				abort();
			if (!t->prov || t->obs.time_first > t->obs.time_last)
				abort();
		}
		static const uint8_t zero[16];
		for (size_t i = 0; i < rx.batch.nvectors; i++) {
			const struct d4_store_bs_vec *v = &rx.batch.vectors[i];
			/* received, never in this hub's own (all-zero) origin, and
			 * a stripped one with nothing of its sources */
			if (!v->received || !memcmp(v->origin, zero, 16) || memcmp(v->sender, p.hub, 16) != 0 ||
			    v->kind == 0 || v->kind >= D4_STORE_BS_KINDS || v->first_us > v->last_us)
				abort();
			struct d4_fed_wprov pr;
			memset(&pr, 0, sizeof(pr));
			if ((v->sig_flags & D4_STORE_FED_SIG_SEALED) &&
			    (v->proof_len > D4_FED_PROOF_MAX || d4_fed_proof_decode(v->proof, v->proof_len, &pr) != 0))
				abort();
			if (v->stripped && (v->n_sensors || v->nvia || memcmp(v->org, zero, 16) || v->sensors_more ||
					    v->org_mixed || memcmp(v->origin, p.hub, 16)))
				abort();
		}
		d4_fed_rx_free(&rx);
	}
	return 0;
}
