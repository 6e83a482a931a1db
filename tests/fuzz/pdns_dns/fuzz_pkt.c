/* Fuzz target: packet decoding over every link type and the capture
 * extractor (UDP, TCP reassembly, pcap stream splitter).
 * Input: byte 0 picks the link type, byte 1 the mode (low 2 bits) and a cut
 * size; the rest is
 *   mode 0: one packet for d4_pkt_decode (pointers checked against the buffer);
 *   mode 1: packets for the extractor, each as [len hi][len lo][ts delta][bytes];
 *   mode 2: a pcap byte stream fed to the splitter in cuts of (byte1 >> 2) + 1. */
#include "d4_error.h"
#include "d4_pdns.h"
#include "d4_pkt.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                                       \
	do {                                                                                                           \
		if (!(c))                                                                                              \
			abort();                                                                                       \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int links[] = {D4_LINK_NULL, D4_LINK_ETHERNET,  D4_LINK_RAW,  12,		 14,
			    D4_LINK_LOOP, D4_LINK_LINUX_SLL, D4_LINK_IPV4, D4_LINK_IPV6, D4_LINK_LINUX_SLL2};

static int sink(void *arg, const struct d4_pdns_obs *o)
{
	(void)arg;
	CHECK(strlen(o->rdata) == o->rdata_len);
	CHECK(o->rrname[0] != '\0');
	return 0;
}

static void one_packet(int lt, const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	if (!c)
		return;
	memcpy(c, p, n);
	struct d4_pkt k;
	int rc = d4_pkt_decode(lt, c, n, &k);
	CHECK(rc == 0 || rc == D4_ENOTSUP || rc == D4_EPROTO);
	if (rc == 0) {
		CHECK(k.ipver == 4 || k.ipver == 6);
		CHECK(k.l3 >= c && k.l3len <= n && k.l3 + k.l3len <= c + n);
		if (k.l4)
			CHECK(k.l4 >= k.l3 && k.l4 + k.l4len <= k.l3 + k.l3len);
		if (k.payload)
			CHECK(k.payload >= k.l4 && k.payload + k.paylen <= k.l4 + k.l4len);
		char a[64];
		d4_pkt_addr_str(k.src, a, sizeof(a));
		CHECK(strlen(a) > 0);
	}
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	int lt = links[data[0] % (sizeof(links) / sizeof(links[0]))];
	int mode = data[1] & 3;
	size_t cut = (size_t)(data[1] >> 2) + 1;
	data += 2;
	size_t n = size - 2;
	if (mode == 0) {
		one_packet(lt, data, n);
		return 0;
	}
	/* a small memory cap so that eviction paths run too */
	struct d4_pdns_pcap *x = d4_pdns_pcap_new(mode == 1 ? 8192 : 0, 30);
	if (!x)
		return 0;
	struct d4_pdns_stats st = {0};
	if (mode == 1) {
		uint64_t ts = 1;
		size_t o = 0;
		while (n - o >= 3) {
			size_t l = ((size_t)data[o] << 8) | data[o + 1];
			ts += data[o + 2];
			o += 3;
			if (l > n - o)
				l = n - o;
			uint8_t *c = malloc(l ? l : 1);
			if (!c)
				break;
			memcpy(c, data + o, l);
			CHECK(d4_pdns_pcap_packet(x, lt, ts, c, l, sink, NULL, &st) == 0);
			free(c);
			o += l;
		}
	} else {
		struct d4_pdns_pcapstream *s = d4_pdns_pcapstream_new(x);
		if (s) {
			for (size_t o = 0; o < n; o += cut) {
				size_t l = cut < n - o ? cut : n - o;
				int rc = d4_pdns_pcapstream_feed(s, data + o, l, sink, NULL, &st);
				CHECK(rc == 0 || rc == D4_EPROTO || rc == D4_ETOOBIG || rc == D4_ENOTSUP);
			}
			d4_pdns_pcapstream_free(s);
		}
	}
	d4_pdns_pcap_free(x);
	return 0;
}
