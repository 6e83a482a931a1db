/* Fuzz target: the d4-ack/1 record parser, driven the way d4-sensor drives
 * it (records back to back in one buffer). Checks that a parsed length is
 * within the buffer and the limits, that a commit record re-encodes to the
 * same bytes, and that every proper prefix of a record asks for more.
 * The same input is also read the way d4hub reads the first bytes of a
 * d4-ack/1 connection: as a replay announcement (kind 2). */
#include "d4_error.h"
#include "d4_proto.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                                       \
	do {                                                                                                           \
		if (!(c))                                                                                              \
			abort();                                                                                       \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void replay_announcement(const uint8_t *data, size_t size)
{
	uint64_t count;
	int n = d4_proto_ack_replay_parse(data, size, &count);
	CHECK(n == D4_ACK_REPLAY_LEN || n == D4_ETRUNC || n == D4_EPROTO);
	if (n == D4_ETRUNC)
		CHECK(size < D4_ACK_REPLAY_LEN && count == 0);
	if (n != D4_ACK_REPLAY_LEN)
		return;
	CHECK(count <= D4_ACK_MAX_REPLAY);
	uint8_t re[D4_ACK_REPLAY_LEN];
	d4_proto_ack_replay_encode(count, re);
	CHECK(memcmp(re, data, D4_ACK_REPLAY_LEN) == 0);
	/* the common parser sees a record of a kind to skip, of the same length */
	struct d4_ack a;
	CHECK(d4_proto_ack_parse(data, size, &a) == D4_ACK_REPLAY_LEN && a.kind == D4_ACK_KIND_REPLAY);
	for (size_t cut = 0; cut < D4_ACK_REPLAY_LEN; cut++)
		CHECK(d4_proto_ack_replay_parse(data, cut, &count) == D4_ETRUNC);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	replay_announcement(data, size);
	size_t off = 0;
	while (off < size) {
		struct d4_ack a;
		int n = d4_proto_ack_parse(data + off, size - off, &a);
		CHECK(n > 0 || n == D4_ETRUNC || n == D4_EPROTO);
		if (n <= 0)
			break;
		CHECK((size_t)n <= size - off && n >= D4_ACK_MIN_LEN && n <= D4_ACK_MAX_LEN);
		if (a.kind == D4_ACK_KIND_COMMIT) {
			uint8_t re[D4_ACK_COMMIT_LEN];
			CHECK(n == D4_ACK_COMMIT_LEN);
			d4_proto_ack_encode(a.frames, a.bytes, re);
			CHECK(memcmp(re, data + off, D4_ACK_COMMIT_LEN) == 0);
		} else {
			CHECK(a.frames == 0 && a.bytes == 0);
		}
		for (size_t cut = 0; cut < (size_t)n; cut += 1 + cut / 2) {
			struct d4_ack p;
			CHECK(d4_proto_ack_parse(data + off, cut, &p) == D4_ETRUNC);
		}
		off += (size_t)n;
	}
	return 0;
}
