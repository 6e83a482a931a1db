/* Fuzz target: the pcap stream splitter (d4_pcapsplit_*). Input: byte 0
 * seeds the cuts, byte 1 the record cap, the rest is the stream. The same
 * stream fed whole, byte by byte and in pseudo-random pieces gives the same
 * records (count, timestamps, lengths, a hash of the bytes) and the same
 * failure; a stream resumed at a record boundary from its header info gives
 * the same records after that boundary; pending() agrees with the cuts. */
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

struct sum {
	uint64_t n, h;
	uint64_t ts_last;
};

static int on_rec(void *ud, const struct d4_pcap_rec *r)
{
	struct sum *s = ud;
	CHECK(r->caplen <= D4_PCAP_RECORD_MAX);
	CHECK(r->caplen == 0 || r->data != NULL);
	uint64_t h = s->h ^ (r->ts_us * 31 + r->caplen * 7 + r->origlen + r->linktype);
	for (uint32_t i = 0; i < r->caplen; i++)
		h = (h ^ r->data[i]) * 0x100000001b3ULL;
	s->h = h;
	s->n++;
	s->ts_last = r->ts_us;
	struct d4_pkt pk;
	(void)d4_pkt_decode((int)r->linktype, r->data, r->caplen, &pk);
	return 0;
}

static int run(const uint8_t *p, size_t n, size_t cap, unsigned seed, int mode, struct sum *out, int *fail)
{
	struct d4_pcapsplit *s = d4_pcapsplit_new(cap);
	if (!s)
		return D4_ENOMEM;
	memset(out, 0, sizeof(*out));
	size_t off = 0;
	int rc = 0;
	while (off < n) {
		size_t k = mode == 0 ? n - off : mode == 1 ? 1 : 1 + (seed = seed * 1103515245u + 12345u) % 97u;
		if (k > n - off)
			k = n - off;
		rc = d4_pcapsplit_feed(s, p + off, k, on_rec, out);
		size_t pend = d4_pcapsplit_pending(s);
		CHECK(rc != 0 || pend <= off + k);
		off += k;
		if (rc == D4_ENOMEM)
			break;
	}
	*fail = d4_pcapsplit_failed(s);
	d4_pcapsplit_free(s);
	return rc == D4_ENOMEM ? rc : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned seed = data[0];
	size_t cap = data[1] & 1 ? 64 : 0;
	const uint8_t *p = data + 2;
	size_t n = size - 2;
	struct sum a, b, c;
	int fa, fb, fc;
	if (run(p, n, cap, seed, 0, &a, &fa) || run(p, n, cap, seed, 1, &b, &fb) || run(p, n, cap, seed, 2, &c, &fc))
		return 0;
	CHECK(a.n == b.n && a.h == b.h && fa == fb);
	CHECK(a.n == c.n && a.h == c.h && fa == fc);
	CHECK(strcmp(d4_pcap_fail_name(fa), "?") != 0);

	/* resume: split at the first record boundary after the header, then
	 * start a second splitter there from the header info */
	struct d4_pcapsplit *s = d4_pcapsplit_new(cap);
	if (!s)
		return 0;
	struct sum first;
	memset(&first, 0, sizeof(first));
	size_t off = 0;
	struct d4_pcap_info info;
	int have = 0;
	while (off < n && !have) {
		if (d4_pcapsplit_feed(s, p + off, 1, on_rec, &first) != 0)
			break;
		off++;
		have = d4_pcapsplit_pending(s) == 0 && d4_pcapsplit_info(s, &info) == 0;
	}
	if (have) {
		struct sum rest = first;
		d4_pcapsplit_reset(s);
		d4_pcapsplit_resume(s, &info);
		(void)d4_pcapsplit_feed(s, p + off, n - off, on_rec, &rest);
		CHECK(rest.n == a.n && rest.h == a.h);
		CHECK(d4_pcapsplit_failed(s) == fa);
	}
	d4_pcapsplit_free(s);
	return 0;
}
