/* Fuzz target: bytes -> d4_bs_agg_restore (a stored vector state is
 * untrusted). A state it accepts must behave as a vector: emitted with
 * consistent fields, and its state written again after an update restores,
 * byte for byte what the input becomes with that update.
 * Input: byte 0 options (bit 0: rewrite the trailing check sum, so that the
 * field checks are reached; bit 1: distinct_cap 16 instead of 1024), then
 * the state. */
#include "d4_backscatter.h"
#include "d4_error.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                                       \
	do {                                                                                                           \
		if (!(c))                                                                                              \
			abort();                                                                                       \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void fix_check(uint8_t *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i + 8 < len; i++)
		h = (h ^ s[i]) * 0x100000001b3ull;
	put64(s + len - 8, h);
}

static int emit(const struct d4_bs_vector *v, void *ud)
{
	char buf[2048];
	CHECK(v->packets > 0 && v->first_us <= v->last_us);
	CHECK(v->kind > D4_BS_NONE && v->kind < D4_BS_KIND_COUNT);
	CHECK(v->n_ports >= 1 && v->n_ports <= D4_BS_TOP_PORTS && v->n_sensors <= D4_BS_MAX_SENSORS);
	uint64_t sum = v->ports_other;
	for (uint32_t i = 0; i < v->n_ports; i++)
		sum += v->ports[i].packets;
	CHECK(sum <= v->packets);
	CHECK(v->telescope_exact ? v->telescope_addrs >= 1 && v->telescope_addrs <= v->packets : 1);
	CHECK(v->peak_ppm >= 1 && v->peak_ppm <= v->packets);
	int n = d4_bs_vector_json(v, buf, sizeof(buf));
	CHECK(n > 0 && (size_t)n < sizeof(buf) && buf[n - 1] == '\n' && strlen(buf) == (size_t)n);
	((int *)ud)[v->state == D4_BS_CLOSED]++;
	return 0;
}

struct got {
	uint8_t *state;
	size_t len;
	int n, closed;
};

static int keep(void *ud, const uint8_t victim[16], uint8_t kind, const uint8_t *state, size_t len)
{
	struct got *g = ud;
	(void)victim;
	(void)kind;
	g->n++;
	if (!state) {
		CHECK(len == 0);
		g->closed++;
		return 0;
	}
	CHECK(len <= D4_BS_STATE_MAX && !g->state);
	g->state = malloc(len);
	CHECK(g->state);
	memcpy(g->state, state, len);
	g->len = len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size - 1 > D4_BS_STATE_MAX + 16)
		return 0;
	struct d4_bs_opts o;
	d4_bs_opts_default(&o);
	o.min_packets = 1;
	o.min_duration_s = 0;
	o.min_peak_ppm = 1;
	o.update_s = 1;
	if (data[0] & 2)
		o.distinct_cap = 16;
	size_t len = size - 1;
	/* exact-size heap copy: a read past the state is an ASan report */
	uint8_t *s = malloc(len ? len : 1);
	CHECK(s);
	memcpy(s, data + 1, len);
	if ((data[0] & 1) && len >= 8)
		fix_check(s, len);
	struct d4_bs_agg *a = d4_bs_agg_new(&o), *b = d4_bs_agg_new(&o);
	CHECK(a && b);
	int rc = d4_bs_agg_restore(a, s, len);
	CHECK(rc == 0 || rc == D4_ECORRUPT);
	if (rc == 0) {
		struct d4_bs_stats st;
		d4_bs_agg_stats(a, &st);
		CHECK(st.vectors_open == 1);
		CHECK(d4_bs_agg_restore(a, s, len) == D4_EEXIST);
		struct got g = {0};
		CHECK(d4_bs_agg_dirty(a, keep, &g) == 0 && g.n == 0); /* restored: not dirty */
		/* an update at the time of the last packet, if one is due (a time
		 * within idle_close_s of 2^64 wraps, and the tick closes it) */
		uint64_t last = get64(s + 32);
		int emitted[2] = {0, 0}; /* ongoing, closed */
		CHECK(d4_bs_agg_tick(a, last, emit, emitted) == 0);
		CHECK(d4_bs_agg_dirty(a, keep, &g) == 0 && g.n == emitted[0] + emitted[1] && g.closed == emitted[1]);
		if (emitted[0]) {
			/* the input with that update is what comes out */
			uint32_t upd = (uint32_t)s[56] << 24 | (uint32_t)s[57] << 16 | (uint32_t)s[58] << 8 | s[59];
			upd += upd < UINT32_MAX;
			s[56] = (uint8_t)(upd >> 24);
			s[57] = (uint8_t)(upd >> 16);
			s[58] = (uint8_t)(upd >> 8);
			s[59] = (uint8_t)upd;
			put64(s + 60, last);
			fix_check(s, len);
			CHECK(g.len == len && memcmp(g.state, s, len) == 0);
			CHECK(d4_bs_agg_restore(b, g.state, g.len) == 0);
		}
		free(g.state);
		if (!emitted[1]) {
			int fl[2] = {0, 0};
			CHECK(d4_bs_agg_flush(a, emit, fl) == 0 && fl[0] == 0 && fl[1] == 1);
			struct got z = {0};
			CHECK(d4_bs_agg_dirty(a, keep, &z) == 0 && z.n == 1 && z.closed == 1);
		}
		d4_bs_agg_stats(a, &st);
		CHECK(st.vectors_open == 0 && st.vectors_reported == 1);
	}
	d4_bs_agg_free(a);
	d4_bs_agg_free(b);
	free(s);
	return 0;
}
