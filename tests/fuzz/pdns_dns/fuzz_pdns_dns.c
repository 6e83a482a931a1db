/* Fuzz target: the DNS message parser. Every observation must be in the
 * canonical form of d4_pdns.h (printable ASCII, absolute lower-case names,
 * rdata_len == strlen); the return code is one of the documented ones. */
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

static void check_name(const char *s)
{
	size_t l = strlen(s);
	CHECK(l > 0 && l < D4_PDNS_NAME_MAX && s[l - 1] == '.');
	for (size_t i = 0; i < l; i++)
		CHECK(s[i] > 0x20 && s[i] < 0x7f && !(s[i] >= 'A' && s[i] <= 'Z'));
}

static int check(void *arg, const struct d4_pdns_obs *o)
{
	(*(size_t *)arg)++;
	check_name(o->rrname);
	if (o->bailiwick)
		check_name(o->bailiwick);
	CHECK(strlen(o->rdata) == o->rdata_len && o->rdata_len < D4_PDNS_RDATA_MAX);
	for (size_t i = 0; i < o->rdata_len; i++)
		CHECK(o->rdata[i] >= 0x20 && o->rdata[i] < 0x7f);
	CHECK(o->rrclass == 1 && o->count == 1 && o->time_first == 42 && o->time_last == 42);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy so that ASan sees a read one past the end */
	uint8_t *m = malloc(size ? size : 1);
	if (!m)
		return 0;
	memcpy(m, data, size);
	size_t n = 0;
	struct d4_pdns_stats st = {0};
	int rc = d4_pdns_dns_parse(m, size, 42, check, &n, &st);
	CHECK(rc == 0 || rc == D4_ENOTSUP || rc == D4_EPROTO || rc == D4_ETRUNC);
	CHECK(st.records == n);
	if (rc == D4_ENOTSUP)
		CHECK(n == 0);
	free(m);
	return 0;
}
