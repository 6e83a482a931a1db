/* sensor_verify KEY STREAM [PAYLOADS]: decodes a captured D4 stream with
 * d4proto, checks every HMAC, prints "frames N", "type T N" per type and the
 * meta header; writes the concatenated payloads of non-meta frames to
 * PAYLOADS. Exit 1 on a bad HMAC or a trailing partial frame. */
#include "d4_error.h"
#include "d4_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: sensor_verify KEY STREAM [PAYLOADS]\n");
		return 2;
	}
	const uint8_t *key = (const uint8_t *)argv[1];
	size_t keylen = strlen(argv[1]);
	FILE *in = fopen(argv[2], "rb");
	FILE *pout = argc > 3 ? fopen(argv[3], "wb") : NULL;
	if (!in || (argc > 3 && !pout)) {
		perror("open");
		return 2;
	}
	struct d4_decoder *d = d4_proto_decoder_new(0);
	unsigned long frames = 0, per_type[256] = {0};
	uint8_t buf[65536];
	size_t n;
	int bad = 0;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
		if (d4_proto_decoder_feed(d, buf, n) != 0) {
			fprintf(stderr, "decoder feed failed\n");
			return 1;
		}
		struct d4_frame f;
		int ev;
		while ((ev = d4_proto_decoder_next(d, &f)) > 0) {
			if (ev != D4_DEC_FRAME)
				continue;
			if (d4_proto_hmac_verify(key, keylen, f.raw_hdr, f.payload, f.hdr.size) != 0) {
				fprintf(stderr, "frame %lu: bad HMAC\n", frames);
				bad = 1;
			}
			if (f.hdr.version != 1)
				bad = 1;
			frames++;
			per_type[f.hdr.type]++;
			if (f.hdr.type == D4_TYPE_META)
				printf("meta %.*s\n", (int)f.hdr.size, (const char *)f.payload);
			else if (pout && f.hdr.size)
				fwrite(f.payload, 1, f.hdr.size, pout);
		}
		if (ev < 0) {
			fprintf(stderr, "decoder: %s\n", d4_strerror(ev));
			return 1;
		}
	}
	if (d4_proto_decoder_pending(d)) {
		fprintf(stderr, "%zu trailing bytes\n", d4_proto_decoder_pending(d));
		bad = 1;
	}
	printf("frames %lu\n", frames);
	for (int t = 0; t < 256; t++)
		if (per_type[t])
			printf("type %d %lu\n", t, per_type[t]);
	d4_proto_decoder_free(d);
	fclose(in);
	if (pout)
		fclose(pout);
	return bad;
}
