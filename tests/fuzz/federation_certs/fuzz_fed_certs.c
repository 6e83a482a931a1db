/* Fuzz target for a received certs batch (docs/federation.md
 * "Certificates"): any input goes through what the inbox and the fetching
 * sender do with it (d4_fed_receive_prepare: the decoder, the inbound rule,
 * the receiver's own parse of every certificate's DER with analyzers/x509).
 * Nothing may crash; what is kept must be what the store accepts: an
 * origin that is never this hub, a chain within bounds, each certificate's
 * SHA-1 the one of its DER (whatever the partner meant it to be). */
#include "d4_error.h"
#include "d4_federation.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct d4_fed_self self = {{0x5e, 0x1f, 1}, {0x0e, 1}, D4_TLP_GREEN, NULL, 0, NULL};
	static struct d4_partner p;
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	/* the partner is whoever the batch names: the sender check passes */
	if (d4_fed_batch_open(data, size, &h, &it) != 0)
		return 0;
	memcpy(p.hub, h.sender, 16);
	strcpy(p.name, "fuzz");
	p.enabled = 1;
	p.in.kinds = 1u << D4_FED_KIND_CERTS;
	p.in.max_tlp = D4_TLP_AMBER;
	struct d4_fed_rx rx;
	char why[160];
	int rc = d4_fed_receive_prepare(&self, &p, D4_FED_KIND_CERTS, data, size, &rx, why, sizeof(why));
	if (rc < 0)
		abort(); /* memory only: a fuzzer does not run out */
	if (rc != D4_FED_RX_OK) {
		if (!why[0] || (h.kind == D4_FED_KIND_CERTS && rc == D4_FED_RX_KIND))
			abort();
		return 0;
	}
	if (h.kind != D4_FED_KIND_CERTS || rx.batch.kind != D4_FED_KIND_CERTS || rx.batch.npssl > rx.nrecords)
		abort();
	static const uint8_t zero[16];
	for (size_t i = 0; i < rx.batch.npssl; i++) {
		const struct d4_store_pssl_obs *o = &rx.batch.pssl[i];
		if (!memcmp(o->origin, zero, 16) || o->n_certs > D4_PSSL_CHAIN_MAX || o->tlp == D4_TLP_RED ||
		    o->tlp > D4_TLP_AMBER || o->server_port == 0 || o->sni_len > D4_PSSL_SNI_MAX)
			abort();
		for (size_t k = 0; k < o->n_certs; k++) {
			const struct d4_store_pssl_cert *c = &o->certs[k];
			uint8_t d[20];
			unsigned l = 0;
			if (!c->der || !c->der_len || c->der_len > D4_PSSL_DER_MAX || c->n_san > D4_PSSL_SAN_MAX ||
			    !EVP_Digest(c->der, c->der_len, d, &l, EVP_sha1(), NULL) || memcmp(d, c->sha1, 20) != 0)
				abort();
		}
	}
	d4_fed_rx_free(&rx);
	return 0;
}
