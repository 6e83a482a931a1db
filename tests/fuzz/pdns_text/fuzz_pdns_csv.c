/* Fuzz target: passivedns CSV lines. The first byte picks a layout and
 * separator, the rest is one line. Checks the observation invariants (the
 * canonical forms of d4_pdns.h) and that bad lines are counted exactly once. */
#include "d4_error.h"
#include "d4_pdns.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                                       \
	do {                                                                                                           \
		if (!(c))                                                                                              \
			abort();                                                                                       \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_obs(void *arg, const struct d4_pdns_obs *o)
{
	(void)arg;
	size_t nl = strlen(o->rrname);
	CHECK(nl > 0 && nl < D4_PDNS_NAME_MAX && o->rrname[nl - 1] == '.');
	for (size_t i = 0; i < nl; i++) {
		unsigned char c = (unsigned char)o->rrname[i];
		CHECK(c >= 0x21 && c <= 0x7e && !(c >= 'A' && c <= 'Z'));
	}
	CHECK(strlen(o->rdata) == o->rdata_len && o->rdata_len > 0 && o->rdata_len < D4_PDNS_RDATA_MAX);
	for (size_t i = 0; i < o->rdata_len; i++)
		CHECK((unsigned char)o->rdata[i] >= 0x20 && (unsigned char)o->rdata[i] <= 0x7e);
	CHECK(o->count >= 1 && o->time_first == o->time_last && o->rrclass == 1);
	/* What the parser produced is canonical: canonicalising again is the identity. */
	char again[D4_PDNS_NAME_MAX];
	CHECK(d4_pdns_name_canon(o->rrname, nl, again, sizeof(again)) == (int)nl && !strcmp(again, o->rrname));
	/* And it can be written as COF. */
	static char out[8 * D4_PDNS_RDATA_MAX];
	CHECK(d4_pdns_cof_write(o, out, sizeof(out)) > 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *layouts[] = {"SMcsCQTAtn", "HhpQTAtn", "SQTA", "HSMhcwsWpCQLTAltn", "STAQ", "HQTAn"};
	static const char *seps[] = {"||", "|", ",", "\t"};
	if (size < 1)
		return 0;
	struct d4_pdns_csv_spec spec;
	CHECK(d4_pdns_csv_spec_parse(layouts[data[0] % 6], seps[(data[0] >> 4) % 4], &spec) == 0);
	struct d4_pdns_stats st = {0};
	int rc = d4_pdns_csv_line(&spec, (const char *)data + 1, size - 1, check_obs, NULL, &st);
	CHECK(rc == 0 || rc == D4_EINVAL);
	CHECK(st.bad_lines == (rc == D4_EINVAL ? 1u : 0u));
	CHECK(st.records <= 1 && st.records + st.bad_lines + st.not_dns + st.too_long <= 1);
	return 0;
}
