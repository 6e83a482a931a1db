/* Fuzz target: bytes -> d4_pkt_decode (one of a few link types) ->
 * d4_bs_classify -> aggregator (live mode and telescope prefixes on or off,
 * thresholds low so that vectors are emitted) -> NDJSON.
 * Input: byte 0 picks the link type, byte 1 the options (bit 0 live mode,
 * bit 1 telescope prefixes, bit 2 a small distinct cap, bit 3 a small vector
 * table); the rest is packets, each as [len hi][len lo][ts delta, seconds][bytes]. */
#include "d4_backscatter.h"
#include "d4_error.h"
#include "d4_pkt.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                                       \
	do {                                                                                                           \
		if (!(c))                                                                                              \
			abort();                                                                                       \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int links[] = {D4_LINK_RAW, D4_LINK_ETHERNET, D4_LINK_LINUX_SLL, D4_LINK_NULL, D4_LINK_LINUX_SLL2};

static int emit(const struct d4_bs_vector *v, void *ud)
{
	(void)ud;
	char buf[2048];
	CHECK(v->packets > 0 && v->first_us <= v->last_us);
	CHECK(v->kind > D4_BS_NONE && v->kind < D4_BS_KIND_COUNT);
	CHECK(v->n_ports <= D4_BS_TOP_PORTS && v->n_sensors <= D4_BS_MAX_SENSORS);
	uint64_t sum = v->ports_other;
	for (uint32_t i = 0; i < v->n_ports; i++)
		sum += v->ports[i].packets;
	CHECK(sum <= v->packets);
	CHECK(v->telescope_exact ? v->telescope_addrs <= v->packets : 1);
	CHECK(v->peak_ppm <= v->packets);
	int n = d4_bs_vector_json(v, buf, sizeof(buf));
	CHECK(n > 0 && (size_t)n < sizeof(buf) && buf[n - 1] == '\n' && strlen(buf) == (size_t)n);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	int lt = links[data[0] % (sizeof(links) / sizeof(links[0]))];
	uint8_t fl = data[1];
	struct d4_bs_prefix pf[2];
	CHECK(d4_bs_prefix_parse("10.0.0.0/8", &pf[0]) == 0);
	CHECK(d4_bs_prefix_parse("2001:db8::/32", &pf[1]) == 0);
	struct d4_bs_opts o;
	d4_bs_opts_default(&o);
	o.live = fl & 1;
	o.live_max_flows = 64;
	if (fl & 2) {
		o.telescope = pf;
		o.n_telescope = 2;
	}
	if (fl & 4)
		o.distinct_cap = 2;
	if (fl & 8)
		o.max_vectors = 4;
	o.min_packets = 1;
	o.min_duration_s = 0;
	o.min_peak_ppm = 1;
	struct d4_bs_agg *a = d4_bs_agg_new(&o);
	if (!a)
		return 0;
	uint64_t ts = 1700000000ull * 1000000;
	uint8_t sensor[16] = {1};
	size_t off = 2;
	while (off + 3 <= size) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		ts += (uint64_t)data[off + 2] * 1000000;
		off += 3;
		if (len > size - off)
			len = size - off;
		/* exact-size heap copy: a read past the packet is an ASan report */
		uint8_t *c = malloc(len ? len : 1);
		if (!c)
			break;
		memcpy(c, data + off, len);
		off += len;
		struct d4_pkt p;
		memset(&p, 0, sizeof(p));
		if (d4_pkt_decode(lt, c, len, &p) == 0) {
			struct d4_bs_class cl;
			int k = d4_bs_classify(&p, o.n_telescope ? &o : NULL, &cl);
			CHECK(k == cl.kind && k >= 0 && k < D4_BS_KIND_COUNT && cl.reason < D4_BS_R_COUNT);
			CHECK((k == D4_BS_NONE) == (cl.reason != D4_BS_R_OK));
			int rc = d4_bs_agg_add(a, &p, ts, sensor, (uint8_t)(fl >> 5), NULL);
			CHECK(rc == 0 || rc == D4_EFULL);
		}
		free(c);
		if (data[off - len - 1] & 0x80) /* some deltas also tick */
			CHECK(d4_bs_agg_tick(a, ts, emit, NULL) == 0);
	}
	CHECK(d4_bs_agg_flush(a, emit, NULL) == 0);
	struct d4_bs_stats st;
	d4_bs_agg_stats(a, &st);
	CHECK(st.vectors_open == 0);
	uint64_t not_bs = 0;
	for (int i = 0; i < D4_BS_R_COUNT; i++)
		not_bs += st.by_reason[i];
	CHECK(st.backscatter + not_bs + st.dropped_full == st.packets);
	d4_bs_agg_free(a);
	return 0;
}
