/* Unit tests of the seals (federation/fed_batch.c, fed_receive.c): one
 * Ed25519 signature per batch over the Merkle root of its records'
 * digests. The tree and its paths, the codec of seals and proofs, and what
 * a receiver makes of them: an origin's batch verified whole, a subset
 * relayed with paths verified at the next hub, a batch re-signed by the
 * relay as if from the origin refused record by record, tampered digests
 * and paths, a seal of another origin, missing and doubled leaves, cut and
 * hostile seal tables and stored proofs. Part of the test_federation
 * binary. */
#include "d4_error.h"
#include "d4_federation.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TCase *seal_tcase(void);

static const uint8_t HUB_A[16] = {0xaa, 7, 1, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1}; /* the origin */
static const uint8_t HUB_B[16] = {0xbb, 7, 1, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 2}; /* relays */
static const uint8_t HUB_C[16] = {0xcc, 7, 1, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 3}; /* receives */
static const uint8_t SENSOR[16] = {0x5e, 0x50, 7, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 6};
static uint8_t PK[3][32], SK[3][64]; /* A, B, C */

static void keys(void)
{
	for (int i = 0; i < 3; i++) {
		uint8_t seed[32];
		memset(seed, 0x21 * (i + 1), sizeof(seed));
		ck_assert_int_eq(d4_fed_sign_keypair(seed, PK[i], SK[i]), 0);
	}
}

/* The fuzz targets' corpora: batches (D4_FED_CORPUS_OUT, replayed by
 * fuzz_fed_batch and fuzz_fed_receive) and stored proofs
 * (D4_FED_PROOF_CORPUS_OUT, fuzz_fed_proof). */
static void corpus_write(const char *env, const char *name, const uint8_t *b, size_t n)
{
	const char *dir = getenv(env);
	if (!dir || !*dir)
		return;
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	ck_assert_msg(f != NULL, "%s", path);
	ck_assert_uint_eq(fwrite(b, 1, n, f), n);
	fclose(f);
}

static uint8_t PAYLOADS[8][16];

/* A's own frame i (0..7), sealed, with A's consent to relaying it. */
static struct d4_fed_wrec a_frame(unsigned i)
{
	struct d4_fed_wrec r;
	memset(&r, 0, sizeof(r));
	r.prov.tlp = D4_TLP_GREEN;
	r.prov.flags = D4_FED_F_SEALED | D4_FED_F_ONWARD;
	r.prov.nsensors = 1;
	memcpy(r.prov.sensors[0], SENSOR, 16);
	r.prov.has_origin = 1;
	memcpy(r.prov.origin, HUB_A, 16);
	r.origin_session = 100 + i;
	r.type = 8;
	r.hdr_ts = 1700000000 + i;
	r.recv_ms = 1700000000000ull + i;
	memset(PAYLOADS[i], (int)('a' + i), sizeof(PAYLOADS[i]));
	r.payload = PAYLOADS[i];
	r.size = sizeof(PAYLOADS[i]);
	return r;
}

/* recs encoded into a malloc'ed batch from sender, signed with sk (NULL:
 * none); *len its length. */
static uint8_t *enc(uint8_t kind, const uint8_t sender[16], const uint8_t *sk, const struct d4_fed_wrec *recs,
		    unsigned n, size_t *len)
{
	struct d4_fed_wbuf w;
	memset(&w, 0, sizeof(w));
	w.sign_sk = sk;
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, kind, sender, NULL, 0), 0);
	for (unsigned i = 0; i < n; i++)
		ck_assert_int_eq(d4_fed_wbuf_add(&w, &recs[i]), 0);
	const uint8_t *out;
	ck_assert_int_eq(d4_fed_wbuf_finish(&w, (const uint8_t *)"\x01", 1, &out, len), 0);
	uint8_t *b = malloc(*len);
	ck_assert_ptr_nonnull(b);
	memcpy(b, out, *len);
	d4_fed_wbuf_free(&w);
	return b;
}

static struct d4_partner *partner(const uint8_t hub[16], const uint8_t *pk, int must)
{
	struct d4_partner *p = calloc(1, sizeof(*p));
	ck_assert_ptr_nonnull(p);
	strcpy(p->name, "peer");
	memcpy(p->hub, hub, 16);
	p->enabled = 1;
	p->in.kinds = (1u << D4_FED_KIND_FRAMES) | (1u << D4_FED_KIND_BACKSCATTER);
	p->in.max_tlp = D4_TLP_AMBER;
	if (pk) {
		p->has_pubkey = 1;
		memcpy(p->pubkey, pk, 32);
	}
	p->must_sign = (uint8_t)must;
	return p;
}

/* The key lookup of the receiving hub: A's key (or `a_key`), never B's. */
static const uint8_t *a_key;
static int key_of(void *arg, const uint8_t hub[16], uint8_t pk[32], uint8_t *must_sign)
{
	(void)arg;
	if (!a_key || memcmp(hub, HUB_A, 16) != 0)
		return 0;
	memcpy(pk, a_key, 32);
	*must_sign = 1;
	return 1;
}

static int receive(const uint8_t self_hub[16], const struct d4_partner *p, uint8_t kind, const uint8_t *b, size_t len,
		   struct d4_fed_rx *rx, char *why)
{
	struct d4_fed_self self;
	memset(&self, 0, sizeof(self));
	memcpy(self.hub, self_hub, 16);
	self.default_tlp = D4_TLP_AMBER_STRICT;
	struct d4_fed_rx_filter f = {NULL, NULL, key_of};
	return d4_fed_receive_prepare_with(&self, p, kind, b, len, &f, rx, why, 128);
}

START_TEST(test_merkle)
{
	static uint8_t nodes[2 * 1100 + 64][32];
	uint8_t path[D4_FED_PATH_MAX][32], root[32];
	static const uint32_t sizes[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1000, 1025};
	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint32_t n = sizes[s];
		ck_assert_uint_le(d4_fed_merkle_nodes(n), sizeof(nodes) / 32);
		for (uint32_t i = 0; i < n; i++) {
			memset(nodes[i], 0, 32);
			memcpy(nodes[i], &i, sizeof(i));
			nodes[i][31] = (uint8_t)n;
		}
		d4_fed_merkle_build(nodes, n);
		const uint8_t *top = nodes[d4_fed_merkle_nodes(n) - 1];
		for (uint32_t i = 0; i < n; i++) {
			unsigned d = d4_fed_merkle_path((const uint8_t(*)[32])nodes, n, i, &path[0][0]);
			ck_assert_uint_eq(d, d4_fed_merkle_depth(i, n));
			ck_assert_uint_le(d, D4_FED_PATH_MAX);
			d4_fed_merkle_root_of(nodes[i], i, n, &path[0][0], root);
			ck_assert_mem_eq(root, top, 32);
			if (d == 0)
				continue;
			/* a changed sibling, another leaf's place: another root */
			path[d - 1][5] ^= 0x40;
			d4_fed_merkle_root_of(nodes[i], i, n, &path[0][0], root);
			ck_assert(memcmp(root, top, 32) != 0);
			path[d - 1][5] ^= 0x40;
			d4_fed_merkle_root_of(nodes[i], i ^ 1u, n, &path[0][0], root);
			if ((i ^ 1u) < n)
				ck_assert(memcmp(root, top, 32) != 0);
		}
	}
	/* the largest seal: 17 hashes at most */
	ck_assert_uint_eq(d4_fed_merkle_depth(0, D4_FED_LEAVES_MAX), D4_FED_PATH_MAX);
	ck_assert_uint_eq(d4_fed_merkle_depth(D4_FED_LEAVES_MAX - 1, D4_FED_LEAVES_MAX), D4_FED_PATH_MAX);
	/* a leaf and a node never hash alike: leaves are digests keyed with
	 * the record's context, nodes with their own */
	ck_assert_uint_eq(d4_fed_merkle_nodes(1), 1);
	ck_assert_uint_eq(d4_fed_merkle_nodes(5), 5 + 3 + 2 + 1);
}
END_TEST

/* A's batch of 5 frames to B; B relays frames 1 and 3 to C. */
START_TEST(test_origin_relay_subset)
{
	keys();
	struct d4_fed_wrec r[5];
	for (unsigned i = 0; i < 5; i++)
		r[i] = a_frame(i);
	size_t len;
	uint8_t *ab = enc(D4_FED_KIND_FRAMES, HUB_A, SK[0], r, 5, &len);
	corpus_write("D4_FED_CORPUS_OUT", "frames_sealed_whole.d4fb", ab, len);
	/* one seal, whole, signed once; the records carry no path */
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	struct d4_fed_wrec g;
	ck_assert_int_eq(d4_fed_batch_open(ab, len, &h, &it), 0);
	ck_assert_uint_eq(h.version, 2);
	ck_assert_uint_eq(h.nseals, 1);
	struct d4_fed_seal sl;
	d4_fed_batch_seal(&h, 0, &sl);
	ck_assert_uint_eq(sl.nleaves, 5);
	ck_assert_uint_eq(sl.flags, D4_FED_SEAL_WHOLE);
	ck_assert_mem_eq(sl.origin, HUB_A, 16);
	ck_assert(d4_fed_seal_verify(&sl, PK[0]));
	ck_assert(!d4_fed_seal_verify(&sl, PK[1]));
	for (unsigned i = 0; i < 5; i++) {
		ck_assert_int_eq(d4_fed_batch_next(&it, &g), 1);
		ck_assert_uint_eq(g.prov.flags, D4_FED_F_SEALED | D4_FED_F_ONWARD);
		ck_assert_uint_eq(g.prov.leaf, i);
		ck_assert_uint_eq(g.prov.depth, 0);
	}
	ck_assert_int_eq(d4_fed_batch_next(&it, &g), 0);

	/* B: A must sign, A's key known: all 5 kept with their proof and A's
	 * consent */
	struct d4_partner *pa = partner(HUB_A, PK[0], 1);
	struct d4_fed_rx rx;
	char why[128];
	ck_assert_int_eq(receive(HUB_B, pa, D4_FED_KIND_FRAMES, ab, len, &rx, why), D4_FED_RX_OK);
	ck_assert_uint_eq(rx.batch.nframes, 5);
	struct d4_fed_wrec rel[2];
	for (unsigned i = 0; i < 5; i++) {
		const struct d4_store_fed_frame *f = &rx.batch.frames[i];
		ck_assert_uint_eq(f->sig_flags, D4_STORE_FED_SIG_SEALED | D4_STORE_FED_SIG_ONWARD);
		ck_assert_uint_le(f->proof_len, D4_FED_PROOF_MAX);
		struct d4_fed_wrec q = a_frame(i);
		ck_assert_int_eq(d4_fed_proof_decode(f->proof, f->proof_len, &q.prov), 0);
		ck_assert_uint_eq(q.prov.leaf, i);
		ck_assert_uint_eq(q.prov.depth, d4_fed_merkle_depth(i, 5));
		ck_assert_uint_eq(q.prov.seal.flags, 0);
		ck_assert_mem_eq(q.prov.seal.root, sl.root, 32);
		char name[32];
		snprintf(name, sizeof(name), "proof_5_%u", i);
		corpus_write("D4_FED_PROOF_CORPUS_OUT", name, f->proof, f->proof_len);
		if (i == 1 || i == 3) {
			/* B relays it as the source does: A's proof unchanged,
			 * itself appended to via */
			q.prov.nvia = 1;
			memcpy(q.prov.via[0], HUB_B, 16);
			rel[i / 2] = q;
		}
	}
	/* the paths point into rx's proofs: encode before freeing */
	size_t blen;
	uint8_t *bb = enc(D4_FED_KIND_FRAMES, HUB_B, SK[1], rel, 2, &blen);
	d4_fed_rx_free(&rx);
	corpus_write("D4_FED_CORPUS_OUT", "frames_sealed_relayed.d4fb", bb, blen);
	ck_assert_int_eq(d4_fed_batch_open(bb, blen, &h, &it), 0);
	ck_assert_uint_eq(h.nseals, 1); /* A's seal once for both records */
	d4_fed_batch_seal(&h, 0, &sl);
	ck_assert_uint_eq(sl.flags, 0);
	ck_assert_uint_eq(sl.nleaves, 5);
	for (unsigned i = 0; i < 2; i++) {
		ck_assert_int_eq(d4_fed_batch_next(&it, &g), 1);
		ck_assert_uint_eq(g.prov.depth, d4_fed_merkle_depth(1 + 2 * i, 5));
		ck_assert(d4_fed_record_verify(&g.prov, PK[0]));
		ck_assert(!d4_fed_record_verify(&g.prov, PK[1]));
	}

	/* C: B must sign, A's key known: both verify as A's, the consent
	 * with them */
	struct d4_partner *pb = partner(HUB_B, PK[1], 1);
	a_key = PK[0];
	ck_assert_int_eq(receive(HUB_C, pb, D4_FED_KIND_FRAMES, bb, blen, &rx, why), D4_FED_RX_OK);
	ck_assert_uint_eq(rx.batch.nframes, 2);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_BAD_SIG], 0);
	for (unsigned i = 0; i < 2; i++) {
		ck_assert_uint_eq(rx.batch.frames[i].sig_flags, D4_STORE_FED_SIG_SEALED | D4_STORE_FED_SIG_ONWARD);
		ck_assert_uint_eq(rx.batch.frames[i].origin_session, 101 + 2 * i);
	}
	d4_fed_rx_free(&rx);
	/* A's key unknown at C: unknown-signer, record by record */
	a_key = NULL;
	ck_assert_int_eq(receive(HUB_C, pb, D4_FED_KIND_FRAMES, bb, blen, &rx, why), D4_FED_RX_OK);
	ck_assert_uint_eq(rx.batch.nframes, 0);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_UNKNOWN_KEY], 2);
	d4_fed_rx_free(&rx);
	/* a wrong key for A (B's): bad-signature */
	a_key = PK[1];
	ck_assert_int_eq(receive(HUB_C, pb, D4_FED_KIND_FRAMES, bb, blen, &rx, why), D4_FED_RX_OK);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_BAD_SIG], 2);
	d4_fed_rx_free(&rx);
	a_key = PK[0];

	/* a byte of a relayed record's path changed: that record refused,
	 * the other kept */
	ck_assert_int_eq(d4_fed_batch_open(bb, blen, &h, &it), 0);
	ck_assert_int_eq(d4_fed_batch_next(&it, &g), 1);
	ck_assert_uint_gt(g.prov.depth, 0);
	size_t at = (size_t)(g.prov.path - bb);
	bb[at + 7] ^= 1;
	ck_assert_int_eq(receive(HUB_C, pb, D4_FED_KIND_FRAMES, bb, blen, &rx, why), D4_FED_RX_OK);
	ck_assert_uint_eq(rx.batch.nframes, 1);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_BAD_SIG], 1);
	d4_fed_rx_free(&rx);
	bb[at + 7] ^= 1;
	/* a byte of the signed content changed (the payload): refused */
	ck_assert_int_eq(d4_fed_batch_open(bb, blen, &h, &it), 0);
	ck_assert_int_eq(d4_fed_batch_next(&it, &g), 1);
	ck_assert_int_eq(d4_fed_batch_next(&it, &g), 1);
	at = (size_t)(g.payload - bb);
	bb[at] ^= 1;
	ck_assert_int_eq(receive(HUB_C, pb, D4_FED_KIND_FRAMES, bb, blen, &rx, why), D4_FED_RX_OK);
	ck_assert_uint_eq(rx.batch.nframes, 1);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_BAD_SIG], 1);
	d4_fed_rx_free(&rx);
	bb[at] ^= 1;

	/* at B, A's whole batch with one payload byte changed: the root does
	 * not match, so no record of the seal is A's */
	ck_assert_int_eq(d4_fed_batch_open(ab, len, &h, &it), 0);
	ck_assert_int_eq(d4_fed_batch_next(&it, &g), 1);
	at = (size_t)(g.payload - ab);
	ab[at] ^= 1;
	ck_assert_int_eq(receive(HUB_B, pa, D4_FED_KIND_FRAMES, ab, len, &rx, why), D4_FED_RX_OK);
	ck_assert_uint_eq(rx.batch.nframes, 0);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_BAD_SIG], 5);
	d4_fed_rx_free(&rx);
	ab[at] ^= 1;
	/* the root itself changed: the signature fails */
	ab[len - 117 + 20] ^= 1;
	ck_assert_int_eq(receive(HUB_B, pa, D4_FED_KIND_FRAMES, ab, len, &rx, why), D4_FED_RX_OK);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_BAD_SIG], 5);
	d4_fed_rx_free(&rx);
	ab[len - 117 + 20] ^= 1;
	free(ab);
	free(bb);
	free(pa);
	free(pb);
}
END_TEST

/* B re-signs A's records as if A had sealed them: refused at C, record by
 * record; B's own records in the same batch are kept. */
START_TEST(test_resigned_by_relay)
{
	keys();
	struct d4_fed_wrec r[4];
	for (unsigned i = 0; i < 4; i++)
		r[i] = a_frame(i);
	size_t len;
	/* "A's" batch, sealed with B's key */
	uint8_t *fb = enc(D4_FED_KIND_FRAMES, HUB_A, SK[1], r, 4, &len);
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	struct d4_fed_wrec g;
	static uint8_t nodes[16][32];
	struct d4_fed_wrec rel[5];
	static uint8_t paths[4][D4_FED_PATH_MAX][32];
	ck_assert_int_eq(d4_fed_batch_open(fb, len, &h, &it), 0);
	for (unsigned i = 0; i < 4; i++) {
		ck_assert_int_eq(d4_fed_batch_next(&it, &g), 1);
		memcpy(nodes[i], g.prov.digest, 32);
		rel[i] = g;
	}
	d4_fed_merkle_build(nodes, 4);
	for (unsigned i = 0; i < 4; i++) {
		rel[i].prov.seal.flags = 0;
		rel[i].prov.depth = (uint8_t)d4_fed_merkle_path((const uint8_t(*)[32])nodes, 4, i, &paths[i][0][0]);
		rel[i].prov.path = &paths[i][0][0];
		rel[i].prov.nvia = 1;
		memcpy(rel[i].prov.via[0], HUB_B, 16);
	}
	/* and B's own record, sealed by B */
	rel[4] = a_frame(5);
	memcpy(rel[4].prov.origin, HUB_B, 16);
	size_t blen;
	uint8_t *bb = enc(D4_FED_KIND_FRAMES, HUB_B, SK[1], rel, 5, &blen);
	corpus_write("D4_FED_CORPUS_OUT", "frames_sealed_resigned.d4fb", bb, blen);
	ck_assert_int_eq(d4_fed_batch_open(bb, blen, &h, &it), 0);
	ck_assert_uint_eq(h.nseals, 2);
	struct d4_partner *pb = partner(HUB_B, PK[1], 1);
	struct d4_fed_rx rx;
	char why[128];
	a_key = PK[0];
	ck_assert_int_eq(receive(HUB_C, pb, D4_FED_KIND_FRAMES, bb, blen, &rx, why), D4_FED_RX_OK);
	ck_assert_uint_eq(rx.batch.nframes, 1);
	ck_assert_mem_eq(rx.batch.frames[0].prov->origin, HUB_B, 16);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_BAD_SIG], 4);
	d4_fed_rx_free(&rx);
	/* C that does not know A's key, B not required to sign: stored
	 * unverified, without A's consent (a relay cannot grant it) */
	a_key = NULL;
	pb->must_sign = 0;
	ck_assert_int_eq(receive(HUB_C, pb, D4_FED_KIND_FRAMES, bb, blen, &rx, why), D4_FED_RX_OK);
	ck_assert_uint_eq(rx.batch.nframes, 5);
	for (unsigned i = 0; i < 4; i++)
		ck_assert_uint_eq(rx.batch.frames[i].sig_flags, D4_STORE_FED_SIG_SEALED);
	ck_assert_uint_eq(rx.batch.frames[4].sig_flags, D4_STORE_FED_SIG_SEALED | D4_STORE_FED_SIG_ONWARD);
	d4_fed_rx_free(&rx);
	a_key = PK[0];

	/* a seal of another origin than the record's: the encoder refuses to
	 * write it, the decoder to read it */
	struct d4_fed_wrec bad = rel[0];
	memcpy(bad.prov.seal.origin, HUB_B, 16);
	struct d4_fed_wbuf w;
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, D4_FED_KIND_FRAMES, HUB_B, NULL, 0), 0);
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &bad), D4_EINVAL);
	/* a path of the wrong length, a leaf outside the seal */
	bad = rel[0];
	bad.prov.depth = 1;
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &bad), D4_EINVAL);
	bad = rel[0];
	bad.prov.leaf = 4;
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &bad), D4_EINVAL);
	/* signed and sealed at once */
	bad = rel[0];
	bad.prov.flags |= D4_FED_F_SIGNED;
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &bad), D4_EINVAL);
	ck_assert_uint_eq(w.nrecords, 0);
	ck_assert_uint_eq(w.nseals, 0);
	d4_fed_wbuf_free(&w);
	free(fb);
	free(bb);
	free(pb);
}
END_TEST

/* A whole seal whose records are not all there, or one twice: the batch is
 * malformed (the root cannot be computed). */
START_TEST(test_whole_seal_leaves)
{
	keys();
	struct d4_fed_wrec r[3];
	for (unsigned i = 0; i < 3; i++)
		r[i] = a_frame(i);
	size_t len;
	uint8_t *ab = enc(D4_FED_KIND_FRAMES, HUB_A, SK[0], r, 3, &len);
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	struct d4_fed_wrec g[3];
	ck_assert_int_eq(d4_fed_batch_open(ab, len, &h, &it), 0);
	for (unsigned i = 0; i < 3; i++)
		ck_assert_int_eq(d4_fed_batch_next(&it, &g[i]), 1);
	struct d4_partner *pa = partner(HUB_A, PK[0], 1);
	struct d4_fed_rx rx;
	char why[128];
	/* records 0 and 1 of the 3 under A's whole seal (no signing key: the
	 * seal is copied as given), and an unsealed one; with only the two, the
	 * header is refused already (a whole seal of more leaves than records) */
	size_t l2;
	uint8_t *b2 = enc(D4_FED_KIND_FRAMES, HUB_A, NULL, g, 2, &l2);
	ck_assert_int_eq(receive(HUB_B, pa, D4_FED_KIND_FRAMES, b2, l2, &rx, why), D4_FED_RX_MALFORMED);
	ck_assert_msg(strstr(why, "whole seals of 3 leaves in a batch of 2 records") != NULL, "%s", why);
	free(b2);
	struct d4_fed_wrec part[3] = {g[0], g[1], a_frame(4)};
	part[2].prov.flags = 0;
	b2 = enc(D4_FED_KIND_FRAMES, HUB_A, NULL, part, 3, &l2);
	ck_assert_int_eq(receive(HUB_B, pa, D4_FED_KIND_FRAMES, b2, l2, &rx, why), D4_FED_RX_MALFORMED);
	ck_assert_msg(strstr(why, "leaf 2 missing") != NULL, "%s", why);
	free(b2);
	/* record 0 twice, record 2 */
	struct d4_fed_wrec twice[3] = {g[0], g[0], g[2]};
	b2 = enc(D4_FED_KIND_FRAMES, HUB_A, NULL, twice, 3, &l2);
	ck_assert_int_eq(receive(HUB_B, pa, D4_FED_KIND_FRAMES, b2, l2, &rx, why), D4_FED_RX_MALFORMED);
	ck_assert_msg(strstr(why, "twice") != NULL, "%s", why);
	free(b2);
	/* all three, in another order: the same root, kept */
	struct d4_fed_wrec order[3] = {g[2], g[0], g[1]};
	b2 = enc(D4_FED_KIND_FRAMES, HUB_A, NULL, order, 3, &l2);
	ck_assert_int_eq(receive(HUB_B, pa, D4_FED_KIND_FRAMES, b2, l2, &rx, why), D4_FED_RX_OK);
	ck_assert_uint_eq(rx.batch.nframes, 3);
	d4_fed_rx_free(&rx);
	free(b2);
	free(ab);
	free(pa);
}
END_TEST

/* The seal table at the end of the batch: cut, too many, hostile fields. */
START_TEST(test_seal_table_checks)
{
	keys();
	struct d4_fed_wrec r[2] = {a_frame(0), a_frame(1)};
	size_t len;
	uint8_t *ab = enc(D4_FED_KIND_FRAMES, HUB_A, SK[0], r, 2, &len);
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	struct d4_fed_wrec g;
	/* every cut of the batch is refused, by open or by a record */
	for (size_t l = 0; l < len; l++) {
		int rc = d4_fed_batch_open(ab, l, &h, &it);
		while (rc == 0 && (rc = d4_fed_batch_next(&it, &g)) == 1)
			;
		ck_assert_msg(rc < 0, "a batch cut at %zu of %zu decodes", l, len);
		ck_assert(it.why[0]);
	}
	/* the nseals field (after nrecords): the header is magic 4, version,
	 * kind, sender 16, from (2 + 0), to (2 + 1), nrecords 4 */
	size_t ns = 4 + 1 + 1 + 16 + 2 + 2 + 1 + 4;
	ck_assert_uint_eq(ab[ns], 0);
	ck_assert_uint_eq(ab[ns + 1], 1);
	ab[ns + 1] = 2; /* two seals: the records are cut into */
	ck_assert_int_lt(d4_fed_batch_open(ab, len, &h, &it), 0);
	ab[ns] = 0x10; /* 4097 seals */
	ab[ns + 1] = 0x01;
	ck_assert_int_eq(d4_fed_batch_open(ab, len, &h, &it), D4_ETOOBIG);
	ab[ns] = 0;
	ab[ns + 1] = 0; /* no seal: the seal's bytes follow the records */
	ck_assert_int_eq(d4_fed_batch_open(ab, len, &h, &it), 0);
	ck_assert_int_eq(d4_fed_batch_next(&it, &g), D4_EPROTO);
	ck_assert_msg(strstr(it.why, "seal 0 of 0") != NULL, "%s", it.why);
	ab[ns + 1] = 1;
	/* the seal's fields: origin zero, 0 leaves, too many, unknown flags,
	 * whole with more leaves than records */
	uint8_t *s = ab + len - 117;
	uint8_t keep[117];
	memcpy(keep, s, 117);
	memset(s, 0, 16);
	ck_assert_int_eq(d4_fed_batch_open(ab, len, &h, &it), D4_EPROTO);
	ck_assert_msg(strstr(it.why, "zero uuid") != NULL, "%s", it.why);
	memcpy(s, keep, 117);
	memset(s + 16, 0, 4);
	ck_assert_int_eq(d4_fed_batch_open(ab, len, &h, &it), D4_EPROTO);
	s[16] = 0xff;
	ck_assert_int_eq(d4_fed_batch_open(ab, len, &h, &it), D4_EPROTO);
	memcpy(s, keep, 117);
	s[116] = 0x03;
	ck_assert_int_eq(d4_fed_batch_open(ab, len, &h, &it), D4_EPROTO);
	memcpy(s, keep, 117);
	s[19] = 3;
	ck_assert_int_eq(d4_fed_batch_open(ab, len, &h, &it), D4_EPROTO);
	ck_assert_msg(strstr(it.why, "whole seals") != NULL, "%s", it.why);
	/* not whole: the records, without a path, are refused */
	s[19] = 2;
	s[116] = 0;
	ck_assert_int_eq(d4_fed_batch_open(ab, len, &h, &it), 0);
	ck_assert_int_eq(d4_fed_batch_next(&it, &g), D4_EPROTO);
	ck_assert_msg(strstr(it.why, "path of 0 hashes where 1") != NULL, "%s", it.why);
	memcpy(s, keep, 117);
	/* a version 1 batch (no nseals) still reads; with a sealed record not */
	ck_assert_int_eq(d4_fed_batch_open(ab, len, &h, &it), 0);
	free(ab);
}
END_TEST

/* The stored proof: round trip and its strict parser. */
START_TEST(test_proof_codec)
{
	keys();
	struct d4_fed_wprov p;
	memset(&p, 0, sizeof(p));
	memcpy(p.seal.origin, HUB_A, 16);
	p.seal.nleaves = 1000;
	memset(p.seal.root, 0x77, 32);
	memset(p.seal.sig, 0x55, 64);
	p.leaf = 999;
	p.depth = (uint8_t)d4_fed_merkle_depth(999, 1000);
	uint8_t path[D4_FED_PATH_MAX * 32];
	for (unsigned i = 0; i < sizeof(path); i++)
		path[i] = (uint8_t)i;
	uint8_t b[D4_FED_PROOF_MAX + 1];
	size_t n = d4_fed_proof_encode(&p, path, b);
	ck_assert_uint_le(n, D4_FED_PROOF_MAX);
	struct d4_fed_wprov q;
	memset(&q, 0, sizeof(q));
	ck_assert_int_eq(d4_fed_proof_decode(b, n, &q), 0);
	ck_assert_mem_eq(&q.seal, &p.seal, sizeof(p.seal));
	ck_assert_uint_eq(q.leaf, 999);
	ck_assert_uint_eq(q.depth, p.depth);
	ck_assert_mem_eq(q.path, path, 32u * p.depth);
	for (size_t l = 0; l < n; l++)
		ck_assert_int_lt(d4_fed_proof_decode(b, l, &q), 0);
	b[n] = 0;
	ck_assert_int_eq(d4_fed_proof_decode(b, n + 1, &q), D4_EPROTO);
	b[0] = 2;
	ck_assert_int_eq(d4_fed_proof_decode(b, n, &q), D4_EPROTO);
	b[0] = 1;
	b[117 + 3] = 0xe8; /* leaf 1000 of 1000 */
	b[117 + 2] = 0x03;
	ck_assert_int_eq(d4_fed_proof_decode(b, n, &q), D4_EPROTO);
	d4_fed_proof_encode(&p, path, b);
	b[121]++; /* a hash more than the leaf needs */
	ck_assert_int_lt(d4_fed_proof_decode(b, n, &q), 0);
	d4_fed_proof_encode(&p, path, b);
	memset(b + 1, 0, 16);
	ck_assert_int_eq(d4_fed_proof_decode(b, n, &q), D4_EPROTO);
	/* the largest proof fits the store */
	p.seal.nleaves = D4_FED_LEAVES_MAX;
	p.leaf = 0;
	p.depth = D4_FED_PATH_MAX;
	ck_assert_uint_eq(d4_fed_proof_encode(&p, path, b), D4_FED_PROOF_MAX);
	corpus_write("D4_FED_PROOF_CORPUS_OUT", "proof_largest", b, D4_FED_PROOF_MAX);
	ck_assert_uint_le(D4_FED_PROOF_MAX, D4_STORE_FED_PROOF_MAX);
	ck_assert_int_eq(d4_fed_proof_decode(b, D4_FED_PROOF_MAX, &q), 0);
}
END_TEST

/* Vectors: the proof kept in the vector, relayed, verified. */
START_TEST(test_vector_proof)
{
	keys();
	struct d4_fed_wrec v[3];
	for (unsigned i = 0; i < 3; i++) {
		memset(&v[i], 0, sizeof(v[i]));
		v[i].prov.tlp = D4_TLP_GREEN;
		v[i].prov.flags = D4_FED_F_SEALED;
		v[i].prov.has_origin = 1;
		memcpy(v[i].prov.origin, HUB_A, 16);
		v[i].vec.victim[15] = (uint8_t)(i + 1);
		v[i].vec.kind = 1;
		v[i].vec.state = 1;
		v[i].vec.first_us = 1000 + i;
		v[i].vec.last_us = 2000;
		v[i].vec.packets = 10;
		v[i].vec.ports_distinct = 0;
	}
	size_t len;
	uint8_t *ab = enc(D4_FED_KIND_BACKSCATTER, HUB_A, SK[0], v, 3, &len);
	corpus_write("D4_FED_CORPUS_OUT", "backscatter_sealed_whole.d4fb", ab, len);
	struct d4_partner *pa = partner(HUB_A, PK[0], 1);
	struct d4_fed_rx rx;
	char why[128];
	ck_assert_int_eq(receive(HUB_B, pa, D4_FED_KIND_BACKSCATTER, ab, len, &rx, why), D4_FED_RX_OK);
	ck_assert_uint_eq(rx.batch.nvectors, 3);
	const struct d4_store_bs_vec *sv = &rx.batch.vectors[2];
	ck_assert_uint_eq(sv->sig_flags, D4_STORE_FED_SIG_SEALED);
	struct d4_fed_wrec q = v[2];
	ck_assert_int_eq(d4_fed_proof_decode(sv->proof, sv->proof_len, &q.prov), 0);
	q.prov.nvia = 1;
	memcpy(q.prov.via[0], HUB_B, 16);
	size_t blen;
	uint8_t *bb = enc(D4_FED_KIND_BACKSCATTER, HUB_B, SK[1], &q, 1, &blen);
	corpus_write("D4_FED_CORPUS_OUT", "backscatter_sealed_relayed.d4fb", bb, blen);
	d4_fed_rx_free(&rx);
	struct d4_partner *pb = partner(HUB_B, PK[1], 1);
	a_key = PK[0];
	ck_assert_int_eq(receive(HUB_C, pb, D4_FED_KIND_BACKSCATTER, bb, blen, &rx, why), D4_FED_RX_OK);
	ck_assert_uint_eq(rx.batch.nvectors, 1);
	ck_assert_mem_eq(rx.batch.vectors[0].origin, HUB_A, 16);
	d4_fed_rx_free(&rx);
	free(ab);
	free(bb);
	free(pa);
	free(pb);
}
END_TEST

TCase *seal_tcase(void)
{
	TCase *tc = tcase_create("seal");
	tcase_add_test(tc, test_merkle);
	tcase_add_test(tc, test_origin_relay_subset);
	tcase_add_test(tc, test_resigned_by_relay);
	tcase_add_test(tc, test_whole_seal_leaves);
	tcase_add_test(tc, test_seal_table_checks);
	tcase_add_test(tc, test_proof_codec);
	tcase_add_test(tc, test_vector_proof);
	return tc;
}
