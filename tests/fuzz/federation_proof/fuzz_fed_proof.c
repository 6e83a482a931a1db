/* Fuzz target for the proof a relaying hub keeps with a received frame or
 * vector and reads back from its store before sending the record on
 * (d4_fed_proof_decode: the origin's seal, the record's leaf and path; a
 * store is not trusted more than a partner). Nothing may crash; what
 * decodes must have a leaf inside its seal and exactly the path its leaf
 * needs, encode again byte for byte, and never verify against a key that
 * did not sign it. */
#include "d4_error.h"
#include "d4_federation.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t KEY[32] = {0x3b, 0x6a, 0x27, 0xbc, 0xce, 0xb6, 0xa4, 0x2d, 0x62, 0xa3, 0xa8,
				0xd0, 0x2a, 0x6f, 0x0d, 0x73, 0x65, 0x32, 0x15, 0x77, 0x1d, 0xe2,
				0x43, 0xa6, 0x3a, 0xc0, 0x48, 0xa1, 0x8b, 0x59, 0xda, 0x29};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct d4_fed_wprov p;
	memset(&p, 0, sizeof(p));
	int rc = d4_fed_proof_decode(data, size, &p);
	if (rc != 0) {
		if (rc != D4_EPROTO && rc != D4_ETRUNC)
			abort();
		return 0;
	}
	if (size > D4_FED_PROOF_MAX || p.seal.nleaves == 0 || p.seal.nleaves > D4_FED_LEAVES_MAX ||
	    p.leaf >= p.seal.nleaves || p.depth != d4_fed_merkle_depth(p.leaf, p.seal.nleaves) ||
	    p.depth > D4_FED_PATH_MAX || p.seal.flags != 0 ||
	    (p.depth && (p.path < data || p.path + 32u * p.depth > data + size)))
		abort();
	uint8_t out[D4_FED_PROOF_MAX];
	size_t n = d4_fed_proof_encode(&p, p.path, out);
	if (n != size || memcmp(out, data, size) != 0)
		abort();
	/* the record it proves: any digest; the root follows its path */
	p.flags = D4_FED_F_SEALED;
	memset(p.digest, 0x5a, 32);
	uint8_t root[32];
	d4_fed_merkle_root_of(p.digest, p.leaf, p.seal.nleaves, p.path, root);
	if (d4_fed_record_verify(&p, KEY) != 0)
		abort(); /* nobody holds KEY's secret: no input can verify */
	return 0;
}
