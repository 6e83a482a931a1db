/* d4-bench-fed-sign: what signed provenance costs per record, in process,
 * in CPU time (so that other load on the machine changes it little).
 *
 *   d4-bench-fed-sign [RECORDS]   (default 200,000 pDNS tuples)
 *
 * For pDNS tuples and 4 KiB frames, three ways: unsigned, one Ed25519
 * signature per record (what version 1 batches carried) and one seal per
 * batch (version 2). Measures, per record, the origin's encoding of full
 * batches (up to 4 MiB: the encoder checks every record as the receiver
 * will, and signs) and the receiver's preparation of them
 * (d4_fed_receive_prepare_with with the origin's key known and must_sign:
 * decoding, the inbound rule, verification). For frames also a relay: the
 * receiver's kept proofs sent on by a second hub, one record in three (a
 * subset, under the origin's seal with their paths), prepared by a third
 * hub that knows the origin's key. Prints µs of CPU per record and records
 * per CPU second. The figures are in docs/performance.md "Signed
 * provenance". */
#include "d4_error.h"
#include "d4_federation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const uint8_t HUB_A[16] = {0xaa, 0xd0, 1, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t HUB_B[16] = {0xbb, 0xd0, 1, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 2};
static const uint8_t HUB_C[16] = {0xcc, 0xd0, 1, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 3};
static const uint8_t SENSOR[16] = {0x5e, 0x50, 1, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 6};
static uint8_t PK[32], SK[64];
static uint8_t payload[4096];
static char rr[64];

static void make_rec(int pdns, unsigned i, uint8_t flags, struct d4_fed_wrec *r)
{
	memset(r, 0, sizeof(*r));
	r->prov.tlp = 2;
	r->prov.flags = flags;
	r->prov.nsensors = 1;
	memcpy(r->prov.sensors[0], SENSOR, 16);
	r->prov.has_origin = 1;
	memcpy(r->prov.origin, HUB_A, 16);
	if (!pdns) {
		r->origin_session = 42;
		r->type = 8;
		r->hdr_ts = 1700000000 + i;
		r->recv_ms = 1700000000000ull + i;
		r->size = sizeof(payload);
		r->payload = payload;
		return;
	}
	snprintf(rr, sizeof(rr), "host-%u.sub.example.com.", i);
	r->rrname = rr;
	r->rrname_len = strlen(rr);
	r->rrtype = 1;
	r->rdata = "192.0.2.1";
	r->rdata_len = 9;
	r->time_first = 1700000000;
	r->time_last = 1700000100 + i;
	r->count = 1 + i % 7;
}

static int must;
static int key_of(void *arg, const uint8_t hub[16], uint8_t pk[32], uint8_t *must_sign)
{
	(void)arg;
	if (memcmp(hub, HUB_A, 16) != 0)
		return 0;
	memcpy(pk, PK, 32);
	*must_sign = (uint8_t)must;
	return 1;
}

static struct d4_partner *partner(const uint8_t hub[16])
{
	struct d4_partner *p = calloc(1, sizeof(*p));
	if (!p)
		exit(1);
	strcpy(p->name, "bench");
	memcpy(p->hub, hub, 16);
	p->enabled = 1;
	p->in.kinds = 0x0f;
	p->in.max_tlp = 6;
	return p;
}

/* Encodes n records from A into full batches; each batch prepared at B.
 * Adds the CPU seconds of each side. With relay (frames), B's kept proofs
 * of one record in three go on to C in one batch per batch of A. */
static void run(int pdns, uint8_t flags, unsigned n, int relay, double *enc_s, double *rx_s, double *relay_s,
		unsigned *relayed)
{
	static struct d4_fed_wbuf w, wb;
	struct d4_partner *pa = partner(HUB_A), *pb = partner(HUB_B);
	pa->has_pubkey = 1;
	memcpy(pa->pubkey, PK, 32);
	pa->must_sign = flags != 0;
	pb->must_sign = flags != 0;
	must = flags != 0;
	struct d4_fed_self sb, sc;
	memset(&sb, 0, sizeof(sb));
	memset(&sc, 0, sizeof(sc));
	memcpy(sb.hub, HUB_B, 16);
	memcpy(sc.hub, HUB_C, 16);
	sb.default_tlp = sc.default_tlp = 2;
	struct d4_fed_rx_filter f = {NULL, NULL, key_of};
	w.sign_sk = SK;
	unsigned i = 0;
	*enc_s = *rx_s = *relay_s = 0;
	*relayed = 0;
	while (i < n) {
		double t0 = cpu_s();
		if (d4_fed_wbuf_begin(&w, pdns ? D4_FED_KIND_PDNS : D4_FED_KIND_FRAMES, HUB_A, NULL, 0) != 0)
			exit(1);
		struct d4_fed_wrec r;
		int rc = 0;
		while (i < n) {
			make_rec(pdns, i, flags, &r);
			if ((rc = d4_fed_wbuf_add(&w, &r)) != 0)
				break;
			i++;
		}
		if (rc && rc != D4_ETOOBIG)
			exit(1);
		const uint8_t *out;
		size_t len;
		if (d4_fed_wbuf_finish(&w, (const uint8_t *)"\1", 1, &out, &len) != 0)
			exit(1);
		double t1 = cpu_s();
		struct d4_fed_rx rx;
		char why[128];
		if (d4_fed_receive_prepare_with(&sb, pa, pdns ? D4_FED_KIND_PDNS : D4_FED_KIND_FRAMES, out, len, &f,
						&rx, why, sizeof(why)) != D4_FED_RX_OK ||
		    rx.batch.nframes + rx.batch.ntuples != w.nrecords) {
			fprintf(stderr, "bench: the batch was not kept whole (%s)\n", why);
			exit(1);
		}
		double t2 = cpu_s();
		*enc_s += t1 - t0;
		*rx_s += t2 - t1;
		if (relay) {
			/* B relays one frame in three as the source does: the kept
			 * proof (or signature) unchanged, itself on the path */
			if (d4_fed_wbuf_begin(&wb, D4_FED_KIND_FRAMES, HUB_B, NULL, 0) != 0)
				exit(1);
			wb.sign_sk = SK;
			unsigned k0 = *relayed;
			for (size_t k = 0; k < rx.batch.nframes; k += 3) {
				const struct d4_store_fed_frame *fr = &rx.batch.frames[k];
				make_rec(0, 0, 0, &r);
				r.origin_session = fr->origin_session;
				r.hdr_ts = fr->hdr_ts;
				r.recv_ms = fr->recv_ms;
				r.payload = fr->payload;
				r.size = fr->size;
				r.prov.nvia = 1;
				memcpy(r.prov.via[0], HUB_B, 16);
				if (fr->sig_flags & D4_STORE_FED_SIG_SEALED) {
					r.prov.flags |= D4_FED_F_SEALED;
					if (d4_fed_proof_decode(fr->proof, fr->proof_len, &r.prov) != 0)
						exit(1);
				} else if (fr->sig_flags & D4_STORE_FED_SIG_SIGNED) {
					r.prov.flags |= D4_FED_F_SIGNED;
					memcpy(r.prov.sig, fr->sig, 64);
				}
				if (d4_fed_wbuf_add(&wb, &r) != 0)
					exit(1);
				(*relayed)++;
			}
			if (d4_fed_wbuf_finish(&wb, (const uint8_t *)"\1", 1, &out, &len) != 0)
				exit(1);
			struct d4_fed_rx rc2;
			if (d4_fed_receive_prepare_with(&sc, pb, D4_FED_KIND_FRAMES, out, len, &f, &rc2, why,
							sizeof(why)) != D4_FED_RX_OK ||
			    rc2.batch.nframes != *relayed - k0) {
				fprintf(stderr, "bench: the relayed batch was not kept whole (%s)\n", why);
				exit(1);
			}
			d4_fed_rx_free(&rc2);
			*relay_s += cpu_s() - t2;
		}
		d4_fed_rx_free(&rx);
	}
	free(pa);
	free(pb);
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 200000;
	if (n == 0)
		n = 200000;
	uint8_t seed[32];
	memset(seed, 0x42, sizeof(seed));
	if (d4_fed_sign_keypair(seed, PK, SK) != 0)
		return 1;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	static const struct {
		const char *name;
		uint8_t flags;
	} modes[] = {{"unsigned", 0}, {"per record (v1)", D4_FED_F_SIGNED}, {"per batch (seal)", D4_FED_F_SEALED}};
	for (int pdns = 1; pdns >= 0; pdns--) {
		unsigned m = pdns ? n : n / 20;
		printf("%s, %u records, CPU µs per record (records per CPU second):\n",
		       pdns ? "pDNS tuples" : "4 KiB frames", m);
		for (unsigned k = 0; k < 3; k++) {
			double e, r, rl;
			unsigned nrel;
			run(pdns, modes[k].flags, m, !pdns, &e, &r, &rl, &nrel);
			printf("  %-17s origin encodes %7.2f (%9.0f/s)  receiver prepares %7.2f (%9.0f/s)",
			       modes[k].name, e * 1e6 / m, m / e, r * 1e6 / m, m / r);
			if (!pdns)
				printf("  relay of 1 in 3 (B encodes, C prepares) %7.2f per relayed record",
				       rl * 1e6 / (nrel ? nrel : 1));
			printf("\n");
		}
	}
	return 0;
}
