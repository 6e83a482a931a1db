/* Measures HMAC verify throughput: keyed context vs one-shot, and the
 * decoder + verify path, for a given payload size (default 64 KiB).
 * Usage: bench_proto_hmac [payload_bytes] [seconds] */
#include "d4_error.h"
#include "d4_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	size_t plen = argc > 1 ? strtoul(argv[1], NULL, 10) : 65536;
	double secs = argc > 2 ? strtod(argv[2], NULL) : 1.0;
	static const uint8_t key[] = "private key to change";
	size_t klen = sizeof(key) - 1;
	uint8_t *frame = malloc(D4_HDR_LEN + plen);
	uint8_t *payload = malloc(plen ? plen : 1);
	if (!frame || !payload)
		return 1;
	for (size_t i = 0; i < plen; i++)
		payload[i] = (uint8_t)i;
	struct d4_hdr h = {.version = 1, .type = 1, .timestamp = 1};
	h.uuid[6] = 0x40;
	h.uuid[8] = 0x80;
	if (d4_proto_frame_build(&h, key, klen, payload, plen, frame, D4_HDR_LEN + plen) < 0)
		return 1;
	struct d4_hmac *hm = d4_proto_hmac_new(key, klen);
	if (!hm)
		return 1;

	unsigned long n = 0;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 16; i++, n++)
			if (d4_proto_hmac_verify_ctx(hm, frame, frame + D4_HDR_LEN, plen) != 0)
				return 2;
	} while ((t = now() - t0) < secs);
	printf("ctx verify     %8zu B: %10.0f frames/s %8.1f MB/s\n", plen, n / t, n * (double)(plen + 62) / t / 1e6);

	n = 0;
	t0 = now();
	do {
		for (int i = 0; i < 16; i++, n++)
			if (d4_proto_hmac_verify(key, klen, frame, frame + D4_HDR_LEN, plen) != 0)
				return 2;
	} while ((t = now() - t0) < secs);
	printf("oneshot verify %8zu B: %10.0f frames/s %8.1f MB/s\n", plen, n / t, n * (double)(plen + 62) / t / 1e6);

	/* Decoder + verify, as ingest does it: 16 KiB reads. */
	struct d4_decoder *d = d4_proto_decoder_new(plen > D4_DEFAULT_MAX_PAYLOAD ? (uint32_t)plen : 0);
	size_t flen = D4_HDR_LEN + plen, off = 0;
	n = 0;
	t0 = now();
	do {
		size_t avail;
		uint8_t *w = d4_proto_decoder_wbuf(d, 16384, &avail);
		if (!w)
			return 3;
		size_t k = avail < 16384 ? avail : 16384;
		for (size_t j = 0; j < k; j++) {
			/* copy the endless stream of identical frames */
			size_t chunk = flen - off < k - j ? flen - off : k - j;
			memcpy(w + j, frame + off, chunk);
			j += chunk - 1;
			off = (off + chunk) % flen;
		}
		d4_proto_decoder_commit(d, k);
		struct d4_frame f;
		int ev;
		while ((ev = d4_proto_decoder_next(d, &f)) > 0)
			if (ev == D4_DEC_FRAME) {
				if (d4_proto_hmac_verify_ctx(hm, f.raw_hdr, f.payload, f.hdr.size) != 0)
					return 2;
				n++;
			}
		if (ev < 0)
			return 4;
	} while ((t = now() - t0) < secs);
	printf("decode+verify  %8zu B: %10.0f frames/s %8.1f MB/s\n", plen, n / t, n * (double)flen / t / 1e6);
	d4_proto_decoder_free(d);
	d4_proto_hmac_free(hm);
	free(frame);
	free(payload);
	return 0;
}
