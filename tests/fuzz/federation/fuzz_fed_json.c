/* Fuzz target for the federation documents that come from outside: a
 * Partner (createPartner, updatePartner, d4hubctl partner add/set) and a
 * DryRunRecord, then the egress decision on the result, and the store's
 * partner value decoder on the raw bytes. Nothing may crash; whatever is
 * accepted must pass the store's checks and survive encode/decode. */
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_util.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct d4_partner p, q;
	/* the stored value decoder, on the raw input */
	(void)d4_store_partner_decode((const uint8_t *)"fuzz", 4, data, size, &q);

	/* The API caps body size and nesting before yajl (yajl_tree_parse
	 * recurses); do the same. */
	if (size > 65536 || !d4_json_depth_ok(data, size, 16))
		return 0;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	yajl_val v = yajl_tree_parse(text, NULL, 0);
	free(text);
	if (!v)
		return 0;
	char err[256];
	d4_fed_partner_defaults(&p);
	if (d4_fed_partner_apply_json(v, &p, 1, err, sizeof(err)) == 0) {
		if (d4_store_partner_check(&p, NULL, 0) != 0)
			abort();
		static uint8_t buf[D4_PARTNER_ENC_MAX];
		size_t n = d4_store_partner_encode(&p, buf);
		if (d4_store_partner_decode((const uint8_t *)p.name, strlen(p.name), buf, n, &q) != 0)
			abort();
		yajl_gen g = yajl_gen_alloc(NULL);
		if (g) {
			d4_fed_partner_json(g, &p, D4_FED_JSON_FULL);
			yajl_gen_free(g);
		}
	}
	struct d4_fed_dryrun d;
	if (d4_fed_dryrun_parse(v, &d, err, sizeof(err)) == 0) {
		struct d4_fed_self self = {{1}, {2}, D4_TLP_AMBER_STRICT, NULL, 0, NULL};
		struct d4_fed_partner fp = {{3}, {2}, D4_FED_REL_SAME_ORG, 1};
		struct d4_fed_verdict vd;
		for (int k = 0; k < D4_PARTNER_KINDS; k++) {
			p.out[k].enabled = 1;
			p.out[k].max_tlp = D4_TLP_RED;
		}
		d4_fed_decide(&self, &fp, &p.out[d.rec.kind], &d.rec, &vd);
		if (vd.level == D4_TLP_RED && vd.decision != D4_FED_REFUSE)
			abort();
		/* and with the kind's mix (when it has one): the explanation too */
		if (d.rec.kind == D4_FED_KIND_PDNS || d.rec.kind == D4_FED_KIND_BACKSCATTER)
			d4_fed_mix_defaults(d.rec.kind, &p.out[d.rec.kind].mix);
		d4_fed_decide(&self, &fp, &p.out[d.rec.kind], &d.rec, &vd);
		if (vd.decision != D4_FED_REFUSE && d.rec.kind == D4_FED_KIND_PDNS && d.rec.seen_count < 10 &&
		    d.rec.seen_sensors < 2)
			abort(); /* below the default thresholds: never released */
		yajl_gen g = yajl_gen_alloc(NULL);
		if (g) {
			d4_fed_dryrun_json_rule(g, "p", &self, &p.out[d.rec.kind], &d.rec, &vd);
			yajl_gen_free(g);
		}
	}
	d4_fed_dryrun_free(&d);
	yajl_tree_free(v);
	return 0;
}
