/* Fuzz target: COF NDJSON lines. Every observation must be canonical and
 * survive write -> parse unchanged; bad lines are counted exactly once. */
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

struct again {
	const struct d4_pdns_obs *want;
	int n;
};

static int same(void *arg, const struct d4_pdns_obs *o)
{
	struct again *a = arg;
	const struct d4_pdns_obs *w = a->want;
	a->n++;
	CHECK(!strcmp(o->rrname, w->rrname) && o->rrtype == w->rrtype && !strcmp(o->rdata, w->rdata));
	CHECK(o->time_first == w->time_first && o->time_last == w->time_last && o->count == w->count);
	CHECK((o->bailiwick == NULL) == (w->bailiwick == NULL));
	CHECK(!o->bailiwick || !strcmp(o->bailiwick, w->bailiwick));
	CHECK((o->sensor_id == NULL) == (w->sensor_id == NULL));
	return 0;
}

static int check_obs(void *arg, const struct d4_pdns_obs *o)
{
	(void)arg;
	size_t nl = strlen(o->rrname);
	CHECK(nl > 0 && o->rrname[nl - 1] == '.');
	CHECK(strlen(o->rdata) == o->rdata_len && o->rdata_len > 0);
	CHECK(o->count >= 1 && o->time_first <= o->time_last);
	static char out[8 * D4_PDNS_RDATA_MAX];
	int n = d4_pdns_cof_write(o, out, sizeof(out));
	CHECK(n > 0 && out[n - 1] == '\n');
	for (int i = 0; i < n; i++)
		CHECK(out[i] != '\0');
	struct again a = {o, 0};
	struct d4_pdns_stats st = {0};
	CHECK(d4_pdns_cof_line(out, (size_t)n - 1, same, &a, &st) == 0);
	CHECK(a.n == 1 && st.bad_lines == 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct d4_pdns_stats st = {0};
	int rc = d4_pdns_cof_line((const char *)data, size, check_obs, NULL, &st);
	CHECK(rc == 0 || rc == D4_EINVAL || rc == D4_EJSON);
	CHECK(st.bad_lines == (rc < 0 ? 1u : 0u));
	return 0;
}
