/* Fuzz target for the batch a partner sends (POST /federation/v1/inbox,
 * GET /federation/v1/pull): opens and walks any input with the decoder,
 * runs the inbound rule on every record, re-encodes what decodes and checks
 * that the copy decodes to the same header and records, byte for byte the
 * same batch (frames, pDNS tuples, backscatter vectors, certs handshakes). Nothing may crash;
 * an error must be sticky and have a reason. */
#include "d4_error.h"
#include "d4_federation.h"

#include <stdlib.h>
#include <string.h>

static void same(uint8_t kind, const struct d4_fed_wrec *a, const struct d4_fed_wrec *b)
{
	/* the same provenance, the seal compared by content (its index in
	 * the table may differ: the encoder writes each seal once) */
	struct d4_fed_wprov pa = a->prov, pb = b->prov;
	if (pa.depth != pb.depth || (pa.depth && memcmp(pa.path, pb.path, 32u * pa.depth) != 0))
		abort();
	pa.path = pb.path = NULL;
	pa.seal_idx = pb.seal_idx = 0;
	if (memcmp(&pa, &pb, sizeof(pa)) != 0)
		abort();
	if (kind == D4_FED_KIND_FRAMES) {
		if (a->origin_session != b->origin_session || a->type != b->type ||
		    a->ext_type_len != b->ext_type_len || a->hdr_ts != b->hdr_ts || a->recv_ms != b->recv_ms ||
		    a->size != b->size)
			abort();
		if ((a->ext_type_len && memcmp(a->ext_type, b->ext_type, a->ext_type_len)) ||
		    (a->size && memcmp(a->payload, b->payload, a->size)))
			abort();
	} else if (kind == D4_FED_KIND_BACKSCATTER) {
		/* both decoded from zeroed structs: padding compares too */
		if (memcmp(&a->vec, &b->vec, sizeof(a->vec)) != 0)
			abort();
		const struct d4_fed_wvec *v = &a->vec;
		uint64_t sum = v->ports_other;
		for (unsigned i = 0; i < v->n_ports; i++)
			sum += v->ports[i].packets;
		if (v->first_us > v->last_us || v->packets == 0 || v->n_ports > D4_STORE_BS_TOP_PORTS ||
		    sum > v->packets || v->peak_ppm > v->packets || !(v->est_pps >= 0.0))
			abort();
		if ((a->prov.flags & D4_FED_F_STRIPPED) && (v->sensors_more || v->org_mixed))
			abort();
	} else if (kind == D4_FED_KIND_CERTS) {
		const struct d4_fed_wcert *x = &a->cert, *y = &b->cert;
		if (memcmp(x->server_ip, y->server_ip, 16) || x->server_port != y->server_port ||
		    x->has_ja3 != y->has_ja3 || x->has_ja3s != y->has_ja3s || x->ja3_len != y->ja3_len ||
		    x->ja3s_len != y->ja3s_len || x->sni_len != y->sni_len || x->ja4_len != y->ja4_len ||
		    x->time_first != y->time_first || x->time_last != y->time_last || x->count != y->count ||
		    x->n_certs != y->n_certs)
			abort();
		if ((x->has_ja3 && memcmp(x->ja3_md5, y->ja3_md5, 16)) ||
		    (x->has_ja3s && memcmp(x->ja3s_md5, y->ja3s_md5, 16)) ||
		    (x->ja3_len && memcmp(x->ja3, y->ja3, x->ja3_len)) ||
		    (x->ja3s_len && memcmp(x->ja3s, y->ja3s, x->ja3s_len)) ||
		    (x->sni_len && memcmp(x->sni, y->sni, x->sni_len)) ||
		    (x->ja4_len && memcmp(x->ja4, y->ja4, x->ja4_len)))
			abort();
		if (x->server_port == 0 || x->time_first > x->time_last || x->count == 0 ||
		    x->n_certs > D4_FED_CERT_CHAIN || x->ja4_len > D4_FED_JA4_MAX || x->ja3_len > D4_FED_JA3_MAX ||
		    (x->ja3_len && !x->has_ja3))
			abort();
		for (unsigned i = 0; i < x->n_certs; i++)
			if (x->certs[i].len != y->certs[i].len || x->certs[i].len == 0 ||
			    x->certs[i].len > D4_FED_CERT_DER ||
			    memcmp(x->certs[i].der, y->certs[i].der, x->certs[i].len))
				abort();
	} else {
		if (a->rrname_len != b->rrname_len || a->rrtype != b->rrtype || a->rdata_len != b->rdata_len ||
		    a->bailiwick_len != b->bailiwick_len || a->time_first != b->time_first ||
		    a->time_last != b->time_last || a->count != b->count)
			abort();
		if (memcmp(a->rrname, b->rrname, a->rrname_len) ||
		    (a->rdata_len && memcmp(a->rdata, b->rdata, a->rdata_len)) ||
		    (a->bailiwick_len && memcmp(a->bailiwick, b->bailiwick, a->bailiwick_len)))
			abort();
		if (a->time_first > a->time_last || a->count == 0 || a->rrtype == 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct d4_fed_wbuf w;
	static struct d4_partner p;
	static const struct d4_fed_self self = {{0x5e, 0x1f, 1}, {0x0e, 1}, D4_TLP_GREEN, NULL, 0, NULL};
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	struct d4_fed_wrec r;
	int rc = d4_fed_batch_open(data, size, &h, &it);
	if (rc != 0) {
		if (rc > 0 || it.err != rc || !it.why[0] || d4_fed_batch_next(&it, &r) != rc)
			abort();
		return 0;
	}
	memcpy(p.hub, h.sender, 16);
	p.in.kinds = 0x0f;
	p.in.max_tlp = D4_TLP_AMBER;
	if (d4_fed_wbuf_begin(&w, h.kind, h.sender, h.from, h.from_len) != 0)
		abort();
	uint32_t n = 0;
	/* the encoder writes the seals in the order records first use them,
	 * each once: only such a batch is encoded again byte for byte */
	unsigned next_seal = 0;
	int canonical = h.version == D4_FED_BATCH_VER;
	while ((rc = d4_fed_batch_next(&it, &r)) == 1) {
		n++;
		if (r.prov.flags & D4_FED_F_SEALED) {
			if (r.prov.seal_idx == next_seal)
				next_seal++;
			else if (r.prov.seal_idx > next_seal)
				canonical = 0;
		}
		enum d4_fed_in_reason in = d4_fed_inbound(&self, &p, h.kind, &r);
		if (in >= D4_FED_IN_COUNT || (r.prov.tlp == D4_TLP_RED && in == D4_FED_IN_STORED))
			abort();
		/* What decodes, encodes. The encoder counts the header at its
		 * largest (any `to`), so a batch within D4_FED_POS_MAX of the
		 * limit may not fit again: that is the only refusal allowed. */
		int arc = d4_fed_wbuf_add(&w, &r);
		if (arc == D4_ETOOBIG && size > D4_FED_BATCH_MAX - D4_FED_POS_MAX - 64)
			return 0;
		if (arc != 0)
			abort();
	}
	if (rc < 0) {
		if (!it.why[0] || d4_fed_batch_next(&it, &r) != rc)
			abort();
		return 0;
	}
	if (n != h.nrecords)
		abort();
	const uint8_t *out;
	size_t len;
	if (d4_fed_wbuf_finish(&w, h.to, h.to_len, &out, &len) != 0)
		abort();
	for (unsigned i = 0; canonical && i < h.nseals; i++)
		for (unsigned j = 0; j < i; j++)
			if (!memcmp(h.seals + 117u * i, h.seals + 117u * j, 117))
				canonical = 0; /* the same seal twice: written once */
	/* One encoding per batch: the copy is the input. */
	if (canonical && next_seal == h.nseals && (len != size || memcmp(out, data, size) != 0))
		abort();
	struct d4_fed_batch_hdr h2;
	struct d4_fed_batch_it it2, it3;
	struct d4_fed_wrec r2;
	if (d4_fed_batch_open(out, len, &h2, &it2) != 0 || h2.kind != h.kind || h2.nrecords != h.nrecords)
		abort();
	if (d4_fed_batch_open(data, size, &h, &it3) != 0)
		abort();
	while ((rc = d4_fed_batch_next(&it2, &r2)) == 1) {
		if (d4_fed_batch_next(&it3, &r) != 1)
			abort();
		same(h.kind, &r, &r2);
	}
	if (rc != 0 || d4_fed_batch_next(&it3, &r) != 0)
		abort();
	return 0;
}
