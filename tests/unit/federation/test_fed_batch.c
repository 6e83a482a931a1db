/* Unit tests of federation/fed_batch.c (the batch on the wire) and
 * federation/fed_inbound.c (the inbound rule and quota). Part of the
 * test_federation binary.
 *
 * Malformed batches are built with a second, independent writer (`bb`
 * below, following docs/federation.md "The batch" byte by byte), so that
 * the layout of the documentation is checked as well as the codec.
 *
 * With D4_FED_CORPUS_OUT=DIR set, the valid batches made here are also
 * written to DIR (how tests/fuzz/federation_batch/corpus was made). */
#include "d4_error.h"
#include "d4_federation.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TCase *batch_tcase(void);
TCase *inbound_tcase(void);

static const uint8_t SENDER[16] = {0x5e, 0xd0, 1, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t SELF[16] = {0x5e, 0x1f, 1, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 2};
static const uint8_t HUB_X[16] = {0xaa, 1, 1, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 3};
static const uint8_t HUB_Y[16] = {0xbb, 2, 1, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 4};
static const uint8_t ORG[16] = {0x0e, 0x0e, 1, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 5};
static const uint8_t SENSOR[16] = {0x5e, 0x50, 1, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 6};

static void corpus_write(const char *name, const uint8_t *b, size_t n)
{
	const char *dir = getenv("D4_FED_CORPUS_OUT");
	if (!dir || !*dir)
		return;
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	ck_assert_msg(f != NULL, "%s", path);
	ck_assert_uint_eq(fwrite(b, 1, n, f), n);
	fclose(f);
}

/* ---- an independent writer, for malformed input ---- */

struct bb {
	uint8_t b[200000];
	size_t n;
};
static void b8(struct bb *b, unsigned v)
{
	b->b[b->n++] = (uint8_t)v;
}
static void b16(struct bb *b, unsigned v)
{
	b8(b, v >> 8);
	b8(b, v);
}
static void b32(struct bb *b, uint32_t v)
{
	b16(b, v >> 16);
	b16(b, v & 0xffff);
}
static void b64(struct bb *b, uint64_t v)
{
	b32(b, (uint32_t)(v >> 32));
	b32(b, (uint32_t)v);
}
static void bmem(struct bb *b, const void *p, size_t n)
{
	memcpy(b->b + b->n, p, n);
	b->n += n;
}
static void bhdr(struct bb *b, unsigned kind, uint32_t nrecords)
{
	b->n = 0;
	bmem(b, "D4FB", 4);
	b8(b, 1);
	b8(b, kind);
	bmem(b, SENDER, 16);
	b16(b, 8);
	b64(b, 10); /* from */
	b16(b, 8);
	b64(b, 12); /* to */
	b32(b, nrecords);
}

/* Provenance fields a malformed record may get wrong. */
struct rprov {
	unsigned tlp, flags, has_org, nsensors, has_origin, nvia;
	const uint8_t *origin; /* NULL: SENDER */
};
static const struct rprov PROV_OK = {D4_TLP_GREEN, 0, 1, 1, 1, 0, NULL};
static void bprov(struct bb *b, const struct rprov *p)
{
	b8(b, p->tlp);
	b8(b, p->flags);
	b8(b, p->has_org);
	if (p->has_org)
		bmem(b, ORG, 16);
	b8(b, p->nsensors);
	for (unsigned i = 0; i < p->nsensors; i++)
		bmem(b, SENSOR, 16);
	b8(b, p->has_origin);
	if (p->has_origin)
		bmem(b, p->origin ? p->origin : SENDER, 16);
	b8(b, p->nvia);
	for (unsigned i = 0; i < p->nvia; i++) {
		uint8_t u[16];
		memcpy(u, HUB_X, 16);
		u[15] = (uint8_t)(0x40 + i);
		bmem(b, u, 16);
	}
}
static void bframe(struct bb *b, const struct rprov *p, const char *ext, size_t extlen, uint32_t size)
{
	bprov(b, p);
	b64(b, 77);
	b8(b, 8);
	b8(b, (unsigned)extlen);
	bmem(b, ext, extlen);
	b64(b, 1700000000);
	b64(b, 1700000000123ull);
	b32(b, size);
	for (uint32_t i = 0; i < size; i++)
		b8(b, i & 0xff);
}
struct rpdns {
	const char *rrname;
	size_t rrname_len; /* 0: strlen */
	unsigned rrtype;
	const char *rdata;
	size_t rdata_len; /* 0: strlen */
	const char *bailiwick;
	uint64_t tf, tl, count;
};
static const struct rpdns PDNS_OK = {"www.example.com.", 0, 1, "192.0.2.1", 0, "example.com.", 100, 200, 3};
static void bpdns(struct bb *b, const struct rprov *p, const struct rpdns *d)
{
	bprov(b, p);
	size_t n = d->rrname_len ? d->rrname_len : strlen(d->rrname);
	b16(b, (unsigned)n);
	bmem(b, d->rrname, n);
	b16(b, d->rrtype);
	n = d->rdata_len ? d->rdata_len : strlen(d->rdata);
	b32(b, (uint32_t)n);
	bmem(b, d->rdata, n);
	n = strlen(d->bailiwick);
	b16(b, (unsigned)n);
	bmem(b, d->bailiwick, n);
	b64(b, d->tf);
	b64(b, d->tl);
	b64(b, d->count);
}

/* A backscatter vector as docs/federation.md lays it out (version 1). */
struct rvec {
	unsigned ver, kind, state;
	uint64_t first, last, packets, bytes;
	unsigned nports;
	uint16_t port[12];
	uint64_t port_packets[12];
	uint32_t distinct;
	uint64_t other, addrs;
	uint32_t peak;
	double rate[3];
	unsigned flags;
	uint32_t updates;
};
static const struct rvec VEC_OK = {1,
				   1,
				   2,
				   1700000000000000ull,
				   1700000300000000ull,
				   900,
				   54000,
				   2,
				   {80, 443},
				   {500, 300},
				   2,
				   100,
				   250,
				   120,
				   {3.0, 3.0e6, 2.0},
				   0x03,
				   5};
static void bvec(struct bb *b, const struct rprov *p, const struct rvec *v)
{
	static const uint8_t victim[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 7};
	bprov(b, p);
	b8(b, v->ver);
	bmem(b, victim, 16);
	b8(b, v->kind);
	b8(b, v->state);
	b64(b, v->first);
	b64(b, v->last);
	b64(b, v->packets);
	b64(b, v->bytes);
	b8(b, v->nports);
	for (unsigned i = 0; i < v->nports; i++) {
		b16(b, v->port[i]);
		b64(b, v->port_packets[i]);
	}
	b32(b, v->distinct);
	b64(b, v->other);
	b64(b, v->addrs);
	b32(b, v->peak);
	for (unsigned i = 0; i < 3; i++) {
		uint64_t bits;
		memcpy(&bits, &v->rate[i], 8);
		b64(b, bits);
	}
	b8(b, v->flags);
	b32(b, v->updates);
}

/* Opens and walks a batch: the first error, or 0 when it decodes to the end
 * with exactly *n records. */
static int walk(const uint8_t *buf, size_t len, unsigned *n, char *why, size_t whylen)
{
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	struct d4_fed_wrec r;
	*n = 0;
	int rc = d4_fed_batch_open(buf, len, &h, &it);
	if (rc == 0)
		while ((rc = d4_fed_batch_next(&it, &r)) == 1)
			(*n)++;
	if (why)
		snprintf(why, whylen, "%s", it.why);
	if (rc < 0) {
		/* sticky */
		ck_assert_int_eq(d4_fed_batch_next(&it, &r), rc);
		ck_assert_msg(it.why[0] != '\0', "an error without a reason");
	}
	return rc;
}

static int walk_bb(const struct bb *b, char *why)
{
	unsigned n;
	return walk(b->b, b->n, &n, why, 128);
}

/* ---- valid batches through the encoder ---- */

static uint8_t payload64k[65536];

static void frame_rec(struct d4_fed_wrec *r, unsigned i)
{
	memset(r, 0, sizeof(*r));
	r->prov.tlp = (uint8_t)(D4_TLP_CLEAR + i % 5); /* clear .. amber+strict */
	switch (i % 4) {
	case 0: /* this hub's own record, sent by its origin */
		r->prov.has_org = 1;
		memcpy(r->prov.org, ORG, 16);
		r->prov.nsensors = 1;
		memcpy(r->prov.sensors[0], SENSOR, 16);
		r->prov.has_origin = 1;
		memcpy(r->prov.origin, SENDER, 16);
		break;
	case 1: /* relayed: origin X, via [Y, sender] */
		r->prov.has_org = 1;
		memcpy(r->prov.org, ORG, 16);
		r->prov.has_origin = 1;
		memcpy(r->prov.origin, HUB_X, 16);
		r->prov.nvia = 2;
		memcpy(r->prov.via[0], HUB_Y, 16);
		memcpy(r->prov.via[1], SENDER, 16);
		break;
	case 2: /* stripped */
		r->prov.tlp = D4_TLP_EX_CHR;
		r->prov.flags = D4_FED_F_STRIPPED;
		break;
	default: /* the longest path */
		r->prov.has_origin = 1;
		memcpy(r->prov.origin, HUB_X, 16);
		r->prov.nvia = D4_FED_VIA_MAX;
		for (unsigned k = 0; k < D4_FED_VIA_MAX; k++) {
			memcpy(r->prov.via[k], HUB_Y, 16);
			r->prov.via[k][15] = (uint8_t)(0x80 + k);
		}
		memcpy(r->prov.via[D4_FED_VIA_MAX - 1], SENDER, 16);
	}
	r->origin_session = 1000 + i;
	r->type = (uint8_t)(i % 3 ? 8 : 254);
	static const char *const ext[] = {NULL, "ja3-jl", "passivedns", "x"};
	r->ext_type = ext[i % 4];
	r->ext_type_len = r->ext_type ? strlen(r->ext_type) : 0;
	r->hdr_ts = 1700000000 + i;
	r->recv_ms = 1700000000000ull + i;
	r->size = i % 5 == 4 ? 65536 : (uint32_t)(i * 37 % 300);
	r->payload = r->size ? payload64k + i : NULL;
	if (r->size == 65536)
		r->payload = payload64k;
}

static void pdns_rec(struct d4_fed_wrec *r, unsigned i, char *rr, size_t rrcap)
{
	frame_rec(r, i);
	r->prov.nsensors = 0;
	if (i % 4 == 0) {
		r->prov.nsensors = 8;
		for (unsigned k = 0; k < 8; k++) {
			memcpy(r->prov.sensors[k], SENSOR, 16);
			r->prov.sensors[k][15] = (uint8_t)(0x10 + k);
		}
	}
	r->size = 0;
	r->payload = NULL;
	r->ext_type = NULL;
	r->ext_type_len = 0;
	r->origin_session = 0;
	r->type = 0;
	r->hdr_ts = r->recv_ms = 0;
	snprintf(rr, rrcap, i % 6 == 5 ? "." : "h%u.\\032x\\.y.example.", i);
	r->rrname = rr;
	r->rrname_len = strlen(rr);
	static const uint16_t types[] = {1, 28, 5, 16, 65};
	static const char *const rdata[] = {"192.0.2.7", "2001:db8::7", "cname.example.",
					    "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", "1 . alpn=h2"};
	r->rrtype = types[i % 5];
	r->rdata = rdata[i % 5];
	r->rdata_len = strlen(r->rdata);
	r->bailiwick = i % 2 ? "example." : NULL;
	r->bailiwick_len = r->bailiwick ? strlen(r->bailiwick) : 0;
	r->time_first = 1600000000 + i;
	r->time_last = r->time_first + (i % 3) * 1000;
	r->count = 1 + (uint64_t)i * 1000003;
}

/* A vector per i: every kind and state, 0..10 ports, rates of several
 * magnitudes, IPv4 and IPv6 victims, the provenance of frame_rec (own,
 * relayed, stripped, longest path) with up to 8 sensors. */
static void vec_rec(struct d4_fed_wrec *r, unsigned i)
{
	frame_rec(r, i);
	r->size = 0;
	r->payload = NULL;
	r->ext_type = NULL;
	r->ext_type_len = 0;
	r->origin_session = 0;
	r->type = 0;
	r->hdr_ts = r->recv_ms = 0;
	r->prov.nsensors = 0;
	memset(r->prov.sensors, 0, sizeof(r->prov.sensors));
	if (!(r->prov.flags & D4_FED_F_STRIPPED)) {
		r->prov.nsensors = (uint8_t)(i % 9);
		for (unsigned k = 0; k < r->prov.nsensors; k++) {
			memcpy(r->prov.sensors[k], SENSOR, 16);
			r->prov.sensors[k][15] = (uint8_t)(0x20 + k);
		}
	}
	struct d4_fed_wvec *v = &r->vec;
	if (i % 2) {
		static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
		memcpy(v->victim, v6, 16);
	} else {
		static const uint8_t v4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 9};
		memcpy(v->victim, v4, 16);
	}
	v->victim[15] = (uint8_t)(v->victim[15] + i);
	v->kind = (uint8_t)(1 + i % 12);
	v->state = (uint8_t)(1 + i % 2);
	v->first_us = 1700000000000000ull + i * 1000003ull;
	v->last_us = v->first_us + (i % 3) * 60000000ull;
	v->n_ports = (uint8_t)(i % 11);
	v->packets = 25 + 1000ull * i;
	uint64_t left = v->packets;
	for (unsigned k = 0; k < v->n_ports; k++) {
		v->ports[k].port = (uint16_t)(k * 1000 + i);
		v->ports[k].packets = left / 4 + 1;
		left -= v->ports[k].packets;
	}
	v->ports_distinct = v->n_ports + (i % 3);
	v->ports_other = i % 3 ? left : 0;
	v->bytes = v->packets * 60;
	v->telescope_addrs = 1 + i * 7;
	v->telescope_exact = i % 5 != 0;
	v->peak_ppm = (uint32_t)(v->packets / 2);
	v->observed_pps = (double)v->packets / 61.0;
	v->est_valid = i % 4 != 3;
	v->est_pps = v->est_valid ? v->observed_pps * 65536.0 : v->observed_pps;
	v->est_peak_pps = v->peak_ppm / 60.0 * 65536.0;
	if (!(r->prov.flags & D4_FED_F_STRIPPED)) {
		v->sensors_more = i % 8 == 7;
		v->org_mixed = i % 3 == 1;
	}
	v->updates = i * 3;
}

static void rec_eq(uint8_t kind, const struct d4_fed_wrec *a, const struct d4_fed_wrec *b)
{
	ck_assert_int_eq(memcmp(&a->prov, &b->prov, sizeof(a->prov)), 0);
	if (kind == D4_FED_KIND_FRAMES) {
		ck_assert_uint_eq(a->origin_session, b->origin_session);
		ck_assert_uint_eq(a->type, b->type);
		ck_assert_uint_eq(a->ext_type_len, b->ext_type_len);
		ck_assert(a->ext_type_len == 0 || memcmp(a->ext_type, b->ext_type, a->ext_type_len) == 0);
		ck_assert(b->ext_type_len || b->ext_type == NULL);
		ck_assert_uint_eq(a->hdr_ts, b->hdr_ts);
		ck_assert_uint_eq(a->recv_ms, b->recv_ms);
		ck_assert_uint_eq(a->size, b->size);
		ck_assert(a->size == 0 || memcmp(a->payload, b->payload, a->size) == 0);
	} else if (kind == D4_FED_KIND_BACKSCATTER) {
		const struct d4_fed_wvec *x = &a->vec, *y = &b->vec;
		ck_assert_int_eq(memcmp(x->victim, y->victim, 16), 0);
		ck_assert_uint_eq(x->kind, y->kind);
		ck_assert_uint_eq(x->state, y->state);
		ck_assert_uint_eq(x->first_us, y->first_us);
		ck_assert_uint_eq(x->last_us, y->last_us);
		ck_assert_uint_eq(x->packets, y->packets);
		ck_assert_uint_eq(x->bytes, y->bytes);
		ck_assert_uint_eq(x->n_ports, y->n_ports);
		for (unsigned k = 0; k < x->n_ports; k++) {
			ck_assert_uint_eq(x->ports[k].port, y->ports[k].port);
			ck_assert_uint_eq(x->ports[k].packets, y->ports[k].packets);
		}
		ck_assert_uint_eq(x->ports_distinct, y->ports_distinct);
		ck_assert_uint_eq(x->ports_other, y->ports_other);
		ck_assert_uint_eq(x->telescope_addrs, y->telescope_addrs);
		ck_assert_uint_eq(x->peak_ppm, y->peak_ppm);
		/* exactly: the bits of the doubles travel */
		ck_assert_int_eq(memcmp(&x->observed_pps, &y->observed_pps, 8), 0);
		ck_assert_int_eq(memcmp(&x->est_pps, &y->est_pps, 8), 0);
		ck_assert_int_eq(memcmp(&x->est_peak_pps, &y->est_peak_pps, 8), 0);
		ck_assert_uint_eq(x->telescope_exact, y->telescope_exact);
		ck_assert_uint_eq(x->est_valid, y->est_valid);
		ck_assert_uint_eq(x->sensors_more, y->sensors_more);
		ck_assert_uint_eq(x->org_mixed, y->org_mixed);
		ck_assert_uint_eq(x->updates, y->updates);
	} else {
		ck_assert_uint_eq(a->rrname_len, b->rrname_len);
		ck_assert_int_eq(memcmp(a->rrname, b->rrname, a->rrname_len), 0);
		ck_assert_uint_eq(a->rrtype, b->rrtype);
		ck_assert_uint_eq(a->rdata_len, b->rdata_len);
		ck_assert(a->rdata_len == 0 || memcmp(a->rdata, b->rdata, a->rdata_len) == 0);
		ck_assert_uint_eq(a->bailiwick_len, b->bailiwick_len);
		ck_assert(a->bailiwick_len == 0 || memcmp(a->bailiwick, b->bailiwick, a->bailiwick_len) == 0);
		ck_assert_uint_eq(a->time_first, b->time_first);
		ck_assert_uint_eq(a->time_last, b->time_last);
		ck_assert_uint_eq(a->count, b->count);
	}
}

#define NREC 12
static const uint8_t FROM_POS[8] = {0, 0, 0, 0, 0, 0, 0, 5};
static const uint8_t TO_POS[8] = {0, 0, 0, 0, 0, 0, 0, 17};

/* Encodes NREC records of kind into w; the batch in *out. */
static void build(struct d4_fed_wbuf *w, uint8_t kind, struct d4_fed_wrec *recs, char (*rr)[64], const uint8_t **out,
		  size_t *len)
{
	for (unsigned i = 0; i < sizeof(payload64k); i++)
		payload64k[i] = (uint8_t)(i * 7 + 3);
	ck_assert_int_eq(d4_fed_wbuf_begin(w, kind, SENDER, FROM_POS, sizeof(FROM_POS)), 0);
	for (unsigned i = 0; i < NREC; i++) {
		if (kind == D4_FED_KIND_FRAMES)
			frame_rec(&recs[i], i);
		else if (kind == D4_FED_KIND_BACKSCATTER)
			vec_rec(&recs[i], i);
		else
			pdns_rec(&recs[i], i, rr[i], sizeof(rr[i]));
		ck_assert_int_eq(d4_fed_wbuf_add(w, &recs[i]), 0);
	}
	ck_assert_int_eq(d4_fed_wbuf_finish(w, TO_POS, sizeof(TO_POS), out, len), 0);
}

static void roundtrip(uint8_t kind)
{
	struct d4_fed_wbuf w = {0};
	struct d4_fed_wrec recs[NREC], r;
	char rr[NREC][64];
	const uint8_t *out;
	size_t len;
	build(&w, kind, recs, rr, &out, &len);
	static const char *const names[] = {"frames_12.d4fb", "pdns_12.d4fb", "backscatter_12.d4fb"};
	corpus_write(names[kind], out, len);

	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	ck_assert_int_eq(d4_fed_batch_open(out, len, &h, &it), 0);
	ck_assert_uint_eq(h.kind, kind);
	ck_assert_int_eq(memcmp(h.sender, SENDER, 16), 0);
	ck_assert_uint_eq(h.from_len, 8);
	ck_assert_int_eq(memcmp(h.from, FROM_POS, 8), 0);
	ck_assert_uint_eq(h.to_len, 8);
	ck_assert_int_eq(memcmp(h.to, TO_POS, 8), 0);
	ck_assert_uint_eq(h.nrecords, NREC);
	for (unsigned i = 0; i < NREC; i++) {
		ck_assert_int_eq(d4_fed_batch_next(&it, &r), 1);
		rec_eq(kind, &recs[i], &r);
		/* zero-copy: pointers into the batch */
		if (r.size)
			ck_assert(r.payload > out && r.payload + r.size <= out + len);
		if (r.rrname_len)
			ck_assert(r.rrname > (const char *)out && r.rrname + r.rrname_len <= (const char *)out + len);
	}
	ck_assert_int_eq(d4_fed_batch_next(&it, &r), 0);
	ck_assert_int_eq(d4_fed_batch_next(&it, &r), 0);

	/* The buffer is reused: a second, empty batch from the start. */
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, kind, SENDER, NULL, 0), 0);
	ck_assert_int_eq(d4_fed_wbuf_finish(&w, TO_POS, 3, &out, &len), 0);
	ck_assert_uint_eq(len, 32 + 3);
	static const char *const empty[] = {"frames_empty.d4fb", "pdns_empty.d4fb", "backscatter_empty.d4fb"};
	corpus_write(empty[kind], out, len);
	ck_assert_int_eq(d4_fed_batch_open(out, len, &h, &it), 0);
	ck_assert(h.from == NULL && h.from_len == 0 && h.nrecords == 0);
	ck_assert_int_eq(d4_fed_batch_next(&it, &r), 0);
	d4_fed_wbuf_free(&w);
	ck_assert(w.buf == NULL);
}

START_TEST(test_roundtrip_frames)
{
	roundtrip(D4_FED_KIND_FRAMES);
}
END_TEST

START_TEST(test_roundtrip_pdns)
{
	roundtrip(D4_FED_KIND_PDNS);
}
END_TEST

START_TEST(test_roundtrip_backscatter)
{
	roundtrip(D4_FED_KIND_BACKSCATTER);
}
END_TEST

/* Every proper prefix of a valid batch is refused, and so is every batch
 * with one byte more. */
static void truncations(uint8_t kind)
{
	struct d4_fed_wbuf w = {0};
	struct d4_fed_wrec recs[NREC];
	char rr[NREC][64];
	const uint8_t *out;
	size_t len;
	build(&w, kind, recs, rr, &out, &len);
	unsigned n;
	ck_assert_int_eq(walk(out, len, &n, NULL, 0), 0);
	ck_assert_uint_eq(n, NREC);
	uint8_t *copy = malloc(len + 1);
	ck_assert_ptr_nonnull(copy);
	for (size_t cut = 0; cut < len; cut++) {
		/* a copy of exactly cut bytes, so ASan sees any read past it */
		uint8_t *p = malloc(cut ? cut : 1);
		ck_assert_ptr_nonnull(p);
		memcpy(p, out, cut);
		int rc = walk(p, cut, &n, NULL, 0);
		free(p);
		ck_assert_msg(rc < 0, "a batch cut at %zu of %zu decoded", cut, len);
		ck_assert_msg(rc == D4_ETRUNC || rc == D4_EPROTO, "cut at %zu: %d", cut, rc);
	}
	memcpy(copy, out, len);
	copy[len] = 0;
	char why[128];
	ck_assert_int_eq(walk(copy, len + 1, &n, why, sizeof(why)), D4_EPROTO);
	ck_assert_msg(strstr(why, "after the last record") != NULL, "%s", why);
	free(copy);
	d4_fed_wbuf_free(&w);
}

START_TEST(test_truncations)
{
	truncations(D4_FED_KIND_FRAMES);
	truncations(D4_FED_KIND_PDNS);
	truncations(D4_FED_KIND_BACKSCATTER);
}
END_TEST

static struct bb B;

#define EXPECT(rc_, frag_)                                                                                             \
	do {                                                                                                           \
		char why_[128];                                                                                        \
		int got_ = walk_bb(&B, why_);                                                                          \
		ck_assert_msg(got_ == (rc_), "line %d: %d (%s), expected %d", __LINE__, got_, why_, (rc_));            \
		ck_assert_msg(strstr(why_, (frag_)) != NULL, "line %d: reason '%s' lacks '%s'", __LINE__, why_,        \
			      (frag_));                                                                                \
	} while (0)

START_TEST(test_header_checks)
{
	/* the independent writer agrees with the codec */
	bhdr(&B, D4_FED_KIND_FRAMES, 1);
	bframe(&B, &PROV_OK, "ja3", 3, 5);
	EXPECT(0, "");
	bhdr(&B, D4_FED_KIND_PDNS, 1);
	bpdns(&B, &PROV_OK, &PDNS_OK);
	EXPECT(0, "");
	corpus_write("pdns_manual.d4fb", B.b, B.n);

	bhdr(&B, D4_FED_KIND_FRAMES, 0);
	B.b[0] = 'X';
	EXPECT(D4_EPROTO, "magic");
	bhdr(&B, D4_FED_KIND_FRAMES, 0);
	B.b[4] = 3;
	EXPECT(D4_EPROTO, "version 3");
	bhdr(&B, D4_FED_KIND_FRAMES, 0);
	B.b[4] = 0;
	EXPECT(D4_EPROTO, "version 0");
	bhdr(&B, D4_FED_KIND_BACKSCATTER, 1);
	bvec(&B, &PROV_OK, &VEC_OK);
	EXPECT(0, "");
	corpus_write("backscatter_manual.d4fb", B.b, B.n);
	bhdr(&B, D4_FED_KIND_CERTS, 0); /* an empty certs batch (the layout: test_fed_certs.c) */
	EXPECT(0, "");
	bhdr(&B, D4_FED_KIND_COUNT, 0);
	EXPECT(D4_EPROTO, "kind 4");
	bhdr(&B, 200, 0);
	EXPECT(D4_EPROTO, "kind 200");
	bhdr(&B, D4_FED_KIND_FRAMES, 0);
	memset(B.b + 6, 0, 16);
	EXPECT(D4_EPROTO, "sender");
	/* positions above D4_FED_POS_MAX */
	B.n = 0;
	bmem(&B, "D4FB", 4);
	b8(&B, 1);
	b8(&B, 0);
	bmem(&B, SENDER, 16);
	b16(&B, D4_FED_POS_MAX + 1);
	for (unsigned i = 0; i < D4_FED_POS_MAX + 1; i++)
		b8(&B, 0);
	b16(&B, 0);
	b32(&B, 0);
	EXPECT(D4_ETOOBIG, "from position");
	B.n = 0;
	bmem(&B, "D4FB", 4);
	b8(&B, 1);
	b8(&B, 1);
	bmem(&B, SENDER, 16);
	b16(&B, 0);
	b16(&B, D4_FED_POS_MAX);
	for (unsigned i = 0; i < D4_FED_POS_MAX; i++)
		b8(&B, 0xff);
	b32(&B, 0);
	EXPECT(0, ""); /* the largest position is fine */
	B.b[22 + 2] = (D4_FED_POS_MAX + 1) >> 8;
	B.b[22 + 3] = (D4_FED_POS_MAX + 1) & 0xff;
	EXPECT(D4_ETOOBIG, "to position");

	/* record count mismatch, both ways */
	bhdr(&B, D4_FED_KIND_FRAMES, 2);
	bframe(&B, &PROV_OK, "", 0, 60);
	EXPECT(D4_ETRUNC, "");
	bhdr(&B, D4_FED_KIND_FRAMES, 2);
	bframe(&B, &PROV_OK, "", 0, 0);
	EXPECT(D4_ETRUNC, "record at byte 130: truncated");
	bhdr(&B, D4_FED_KIND_FRAMES, 3);
	bframe(&B, &PROV_OK, "", 0, 0);
	EXPECT(D4_ETRUNC, "cannot fit"); /* caught by the size bound at open */
	bhdr(&B, D4_FED_KIND_FRAMES, 1);
	bframe(&B, &PROV_OK, "", 0, 0);
	bframe(&B, &PROV_OK, "", 0, 0);
	EXPECT(D4_EPROTO, "after the last record");
	bhdr(&B, D4_FED_KIND_PDNS, 0);
	b8(&B, 0);
	EXPECT(D4_EPROTO, "1 bytes after the last record");
	bhdr(&B, D4_FED_KIND_PDNS, UINT32_MAX);
	EXPECT(D4_ETRUNC, "cannot fit");

	/* a batch above the limit is refused before anything is read */
	uint8_t *big = calloc(1, D4_FED_BATCH_MAX + 1);
	ck_assert_ptr_nonnull(big);
	unsigned n;
	ck_assert_int_eq(walk(big, D4_FED_BATCH_MAX + 1, &n, NULL, 0), D4_ETOOBIG);
	free(big);
	struct d4_fed_batch_it it;
	struct d4_fed_batch_hdr h;
	ck_assert_int_eq(d4_fed_batch_open(NULL, 5, &h, &it), D4_EINVAL);
	ck_assert_int_eq(d4_fed_batch_open(B.b, B.n, NULL, &it), D4_EINVAL);
	ck_assert_int_eq(d4_fed_batch_open(B.b, B.n, &h, NULL), D4_EINVAL);
}
END_TEST

START_TEST(test_prov_checks)
{
	struct rprov p;
#define PROV_CASE(field, value, rc, frag)                                                                              \
	do {                                                                                                           \
		p = PROV_OK;                                                                                           \
		p.field = (value);                                                                                     \
		bhdr(&B, D4_FED_KIND_FRAMES, 1);                                                                       \
		bframe(&B, &p, "", 0, 0);                                                                              \
		EXPECT(rc, frag);                                                                                      \
	} while (0)
	PROV_CASE(tlp, D4_TLP_NONE, D4_EPROTO, "tlp 0 is not a level");
	PROV_CASE(tlp, D4_TLP_UNCLEAR, D4_EPROTO, "tlp 7");
	PROV_CASE(tlp, 200, D4_EPROTO, "tlp 200");
	PROV_CASE(tlp, D4_TLP_RED, 0, ""); /* decodes: refusing it is the inbound rule's */
	PROV_CASE(flags, 0x10, D4_EPROTO, "unknown flags");
	PROV_CASE(flags, D4_FED_F_SEALED, D4_EPROTO, "a sealed record in a version 1 batch");
	PROV_CASE(flags, 0x81, D4_EPROTO, "unknown flags");
	/* SIGNED: the 64 bytes of the signature follow via (here: missing) */
	PROV_CASE(flags, D4_FED_F_SIGNED, D4_ETRUNC, "truncated");
	PROV_CASE(flags, D4_FED_F_ONWARD, 0, "");
	PROV_CASE(flags, D4_FED_F_STRIPPED, D4_EPROTO, "stripped");
	PROV_CASE(has_org, 2, D4_EPROTO, "has_org");
	PROV_CASE(has_origin, 2, D4_EPROTO, "has_origin");
	PROV_CASE(has_origin, 0, D4_EPROTO, "names no origin");
	PROV_CASE(nsensors, 2, D4_ETOOBIG, "2 sensors"); /* a frame has one sensor */
	PROV_CASE(nvia, D4_FED_VIA_MAX, 0, "");
	PROV_CASE(nvia, D4_FED_VIA_MAX + 1, D4_ETOOBIG, "via of 17");
	PROV_CASE(nvia, 255, D4_ETOOBIG, "via");

	/* stripped with each identifying part */
	static const struct rprov stripped = {D4_TLP_EX_CHR, D4_FED_F_STRIPPED, 0, 0, 0, 0, NULL};
	p = stripped;
	bhdr(&B, D4_FED_KIND_FRAMES, 1);
	bframe(&B, &p, "", 0, 0);
	EXPECT(0, "");
	corpus_write("frames_stripped.d4fb", B.b, B.n);
	for (int k = 0; k < 4; k++) {
		p = stripped;
		if (k == 0)
			p.has_org = 1;
		if (k == 1)
			p.nsensors = 1;
		if (k == 2)
			p.has_origin = 1;
		if (k == 3)
			p.nvia = 1;
		bhdr(&B, D4_FED_KIND_FRAMES, 1);
		bframe(&B, &p, "", 0, 0);
		EXPECT(D4_EPROTO, "a stripped record carries");
	}

	/* pdns: up to 8 sensors */
	p = PROV_OK;
	p.nsensors = 8;
	bhdr(&B, D4_FED_KIND_PDNS, 1);
	bpdns(&B, &p, &PDNS_OK);
	EXPECT(0, "");
	p.nsensors = 9;
	bhdr(&B, D4_FED_KIND_PDNS, 1);
	bpdns(&B, &p, &PDNS_OK);
	EXPECT(D4_ETOOBIG, "9 sensors");

	/* the zero uuid is nobody */
	p = PROV_OK;
	static const uint8_t zero[16] = {0};
	p.origin = zero;
	bhdr(&B, D4_FED_KIND_FRAMES, 1);
	bframe(&B, &p, "", 0, 0);
	EXPECT(D4_EPROTO, "origin is the zero uuid");
	bhdr(&B, D4_FED_KIND_FRAMES, 1);
	bframe(&B, &PROV_OK, "", 0, 0);
	memset(B.b + 46 + 3, 0, 16); /* the org, after the header (46) and tlp, flags, has_org */
	EXPECT(D4_EPROTO, "org is the zero uuid");
#undef PROV_CASE
}
END_TEST

START_TEST(test_frame_checks)
{
	char ext[80];
	memset(ext, 'a', sizeof(ext));
	bhdr(&B, D4_FED_KIND_FRAMES, 1);
	bframe(&B, &PROV_OK, ext, 63, 0);
	EXPECT(0, "");
	bhdr(&B, D4_FED_KIND_FRAMES, 1);
	bframe(&B, &PROV_OK, ext, 64, 0);
	EXPECT(D4_ETOOBIG, "ext_type of 64");
	static const char *const bad[] = {"a b", "a\tb", "caf\xc3\xa9", "x\x7f", "\x01"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bhdr(&B, D4_FED_KIND_FRAMES, 1);
		bframe(&B, &PROV_OK, bad[i], strlen(bad[i]), 0);
		EXPECT(D4_EPROTO, "not printable ASCII");
	}
	/* a NUL inside the declared length */
	bhdr(&B, D4_FED_KIND_FRAMES, 1);
	bframe(&B, &PROV_OK, "ab\0c", 4, 0);
	EXPECT(D4_EPROTO, "byte 0x00");
	/* a payload longer than what is left */
	bhdr(&B, D4_FED_KIND_FRAMES, 1);
	bframe(&B, &PROV_OK, "", 0, 100);
	B.n -= 1;
	EXPECT(D4_ETRUNC, "payload of 100 bytes, 99 left");
	bhdr(&B, D4_FED_KIND_FRAMES, 1);
	bframe(&B, &PROV_OK, "", 0, 0);
	B.b[B.n - 4] = 0xff; /* size 0xff000000 */
	EXPECT(D4_ETRUNC, "payload");
}
END_TEST

START_TEST(test_vector_checks)
{
	struct rvec v;
#define VEC_CASE(stmt, rc, frag)                                                                                       \
	do {                                                                                                           \
		v = VEC_OK;                                                                                            \
		stmt;                                                                                                  \
		bhdr(&B, D4_FED_KIND_BACKSCATTER, 1);                                                                  \
		bvec(&B, &PROV_OK, &v);                                                                                \
		EXPECT(rc, frag);                                                                                      \
	} while (0)
	VEC_CASE((void)0, 0, "");
	VEC_CASE(v.ver = 2, D4_EPROTO, "vector layout 2");
	VEC_CASE(v.ver = 0, D4_EPROTO, "vector layout 0");
	VEC_CASE(v.kind = 0, D4_EPROTO, "backscatter kind 0");
	VEC_CASE(v.kind = D4_STORE_BS_KINDS, D4_EPROTO, "backscatter kind 16");
	VEC_CASE(v.kind = D4_STORE_BS_KINDS - 1, 0, "");
	VEC_CASE(v.state = 0, D4_EPROTO, "vector state 0");
	VEC_CASE(v.state = 3, D4_EPROTO, "vector state 3");
	VEC_CASE(v.state = 1, 0, "");
	VEC_CASE(v.first = v.last + 1, D4_EPROTO, "after last_us");
	VEC_CASE(v.first = v.last, 0, "");
	VEC_CASE((v.packets = 0, v.nports = 0, v.other = 0, v.peak = 0), D4_EPROTO, "0 packets");
	VEC_CASE(v.nports = 11, D4_ETOOBIG, "11 ports");
	VEC_CASE(v.port_packets[1] = 0, D4_EPROTO, "port 443 with 0 packets");
	VEC_CASE(v.port[1] = 80, D4_EPROTO, "port 80 listed twice");
	VEC_CASE(v.port_packets[1] = 401, D4_EPROTO, "port counts above");
	VEC_CASE((v.port_packets[1] = 400, v.other = 0), 0, "");
	VEC_CASE((v.port_packets[0] = UINT64_MAX, v.port_packets[1] = 2), D4_EPROTO, "port counts above");
	VEC_CASE(v.other = 101, D4_EPROTO, "ports_other above");
	VEC_CASE(v.distinct = 1, D4_EPROTO, "ports_distinct 1 with 2");
	VEC_CASE(v.distinct = 65537, D4_EPROTO, "ports_distinct 65537");
	VEC_CASE(v.distinct = 65536, 0, "");
	VEC_CASE(v.peak = 901, D4_EPROTO, "peak of 901");
	VEC_CASE(v.rate[0] = -1.0, D4_EPROTO, "rate");
	VEC_CASE(v.rate[1] = 1.0 / 0.0, D4_EPROTO, "rate");
	VEC_CASE(v.rate[2] = 0.0 / 0.0, D4_EPROTO, "rate");
	VEC_CASE(v.rate[2] = 0.0, 0, "");
	VEC_CASE(v.flags = 0x10, D4_EPROTO, "unknown vector flags 0x10");
	VEC_CASE(v.flags = 0x0f, 0, "");
	/* a stripped vector says nothing of its sources */
	struct rprov strip = {D4_TLP_EX_CHR, D4_FED_F_STRIPPED, 0, 0, 0, 0, NULL};
	v = VEC_OK;
	bhdr(&B, D4_FED_KIND_BACKSCATTER, 1);
	bvec(&B, &strip, &v);
	EXPECT(0, "");
	for (unsigned f = 0x04; f <= 0x08; f <<= 1) {
		v.flags = f;
		bhdr(&B, D4_FED_KIND_BACKSCATTER, 1);
		bvec(&B, &strip, &v);
		EXPECT(D4_EPROTO, "stripped vector");
	}
	/* up to 8 sensors, as pDNS */
	struct rprov ps = PROV_OK;
	ps.nsensors = 8;
	v = VEC_OK;
	bhdr(&B, D4_FED_KIND_BACKSCATTER, 1);
	bvec(&B, &ps, &v);
	EXPECT(0, "");
	ps.nsensors = 9;
	bhdr(&B, D4_FED_KIND_BACKSCATTER, 1);
	bvec(&B, &ps, &v);
	EXPECT(D4_ETOOBIG, "9 sensors");
	/* a count that cannot fit: refused before any record is read */
	bhdr(&B, D4_FED_KIND_BACKSCATTER, 4);
	bvec(&B, &PROV_OK, &VEC_OK);
	bvec(&B, &PROV_OK, &VEC_OK);
	EXPECT(D4_ETRUNC, "4 records cannot fit");
	/* the encoder refuses what the decoder would, and adds nothing */
	struct d4_fed_wbuf w = {0};
	struct d4_fed_wrec r;
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, D4_FED_KIND_BACKSCATTER, SENDER, NULL, 0), 0);
	vec_rec(&r, 5);
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &r), 0);
	size_t len = w.len;
	vec_rec(&r, 6);
	r.vec.est_pps = -0.5;
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &r), D4_EINVAL);
	vec_rec(&r, 6);
	r.vec.n_ports = 11;
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &r), D4_EINVAL);
	vec_rec(&r, 6);
	r.vec.kind = 0;
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &r), D4_EINVAL);
	vec_rec(&r, 2); /* stripped */
	r.vec.org_mixed = 1;
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &r), D4_EINVAL);
	ck_assert_uint_eq(w.len, len);
	ck_assert_uint_eq(w.nrecords, 1);
	d4_fed_wbuf_free(&w);
#undef VEC_CASE
}
END_TEST

START_TEST(test_pdns_checks)
{
	struct rpdns d;
#define PDNS_CASE(field, value, rc, frag)                                                                              \
	do {                                                                                                           \
		d = PDNS_OK;                                                                                           \
		d.field = (value);                                                                                     \
		bhdr(&B, D4_FED_KIND_PDNS, 1);                                                                         \
		bpdns(&B, &PROV_OK, &d);                                                                               \
		EXPECT(rc, frag);                                                                                      \
	} while (0)
	/* rrname */
	PDNS_CASE(rrname, ".", 0, "");
	PDNS_CASE(rrname, "\\032x\\.y\\\\z.example.", 0, "");
	PDNS_CASE(rrname, "_dmarc.ex-ample.", 0, "");
	PDNS_CASE(rrname, "a b.example.", D4_EPROTO, "printable ASCII");
	PDNS_CASE(rrname, "caf\xc3\xa9.example.", D4_EPROTO, "printable ASCII");
	PDNS_CASE(rrname, "WWW.example.", D4_EPROTO, "upper-case");
	PDNS_CASE(rrname, "a\\Bc.", D4_EPROTO, "upper-case");
	PDNS_CASE(rrname, "www.example", D4_EPROTO, "absolute");
	PDNS_CASE(rrname, "a..example.", D4_EPROTO, "empty label");
	PDNS_CASE(rrname, ".example.", D4_EPROTO, "empty label");
	PDNS_CASE(rrname, "a\\25x.", D4_EPROTO, "escape");
	PDNS_CASE(rrname, "a\\256.", D4_EPROTO, "escape");
	PDNS_CASE(rrname, "a\\", D4_EPROTO, "escape");
	d = PDNS_OK;
	d.rrname = "a\0b.";
	d.rrname_len = 4;
	bhdr(&B, D4_FED_KIND_PDNS, 1);
	bpdns(&B, &PROV_OK, &d);
	EXPECT(D4_EPROTO, "printable ASCII");
	{
		char lab[80], name[1100];
		memset(lab, 'a', 64);
		lab[64] = 0;
		snprintf(name, sizeof(name), "%s.", lab);
		PDNS_CASE(rrname, name, D4_EPROTO, "label over 63");
		lab[63] = 0;
		/* 4 labels of 63: 257 octets in wire form */
		snprintf(name, sizeof(name), "%s.%s.%s.%s.", lab, lab, lab, lab);
		PDNS_CASE(rrname, name, D4_EPROTO, "255 octets");
		/* 1024 bytes of escapes: the largest length, within 255 octets */
		size_t k = 0;
		for (int l = 0; l < 4 && k < 1000; l++) {
			for (int j = 0; j < 62; j++) {
				memcpy(name + k, "\\255", 4);
				k += 4;
			}
			name[k++] = '.';
		}
		while (k < 1023)
			name[k++] = 'b';
		name[k++] = '.';
		name[k] = 0;
		ck_assert_uint_eq(k, 1024);
		PDNS_CASE(rrname, name, D4_EPROTO, "255 octets"); /* 1024 bytes are read, then judged */
		memset(name, 'a', 1025);
		name[1025] = 0;
		PDNS_CASE(rrname, name, D4_ETOOBIG, "rrname of 1025");
	}
	d = PDNS_OK;
	d.rrname = "";
	bhdr(&B, D4_FED_KIND_PDNS, 1);
	bpdns(&B, &PROV_OK, &d);
	EXPECT(D4_EPROTO, "rrname of 0");

	PDNS_CASE(rrtype, 0, D4_EPROTO, "rrtype 0");
	PDNS_CASE(rrtype, 65535, 0, "");

	/* rdata: UTF-8 without NUL */
	PDNS_CASE(rdata, "\"caf\xc3\xa9\"", 0, "");
	PDNS_CASE(rdata, "\xc3", D4_EPROTO, "rdata is not UTF-8");
	PDNS_CASE(rdata, "\xc0\x80", D4_EPROTO, "rdata is not UTF-8");	   /* overlong NUL */
	PDNS_CASE(rdata, "\xed\xa0\x80", D4_EPROTO, "rdata is not UTF-8"); /* surrogate */
	PDNS_CASE(rdata, "\xf4\x90\x80\x80", D4_EPROTO, "rdata is not UTF-8");
	PDNS_CASE(rdata, "\xff", D4_EPROTO, "rdata is not UTF-8");
	d = PDNS_OK;
	d.rdata = "a\0b";
	d.rdata_len = 3;
	bhdr(&B, D4_FED_KIND_PDNS, 1);
	bpdns(&B, &PROV_OK, &d);
	EXPECT(D4_EPROTO, "rdata is not UTF-8 without NUL");
	d = PDNS_OK;
	d.rdata = "";
	bhdr(&B, D4_FED_KIND_PDNS, 1);
	bpdns(&B, &PROV_OK, &d);
	EXPECT(0, "");
	{
		static char big[65538];
		memset(big, 'x', sizeof(big) - 1);
		big[65536] = 0;
		PDNS_CASE(rdata, big, 0, ""); /* 65536: the store's limit */
		big[65536] = 'x';
		PDNS_CASE(rdata, big, D4_ETOOBIG, "rdata of 65537");
	}
	PDNS_CASE(bailiwick, "\xe2\x82", D4_EPROTO, "bailiwick is not UTF-8");
	PDNS_CASE(bailiwick, "", 0, "");

	PDNS_CASE(tf, 201, D4_EPROTO, "time_first 201 after time_last 200");
	PDNS_CASE(tf, 200, 0, "");
	PDNS_CASE(count, 0, D4_EPROTO, "count 0");
	PDNS_CASE(count, UINT64_MAX, 0, "");
#undef PDNS_CASE
}
END_TEST

START_TEST(test_encoder_limits)
{
	struct d4_fed_wbuf w = {0};
	struct d4_fed_wrec r;
	const uint8_t *out;
	size_t len;
	for (unsigned i = 0; i < sizeof(payload64k); i++)
		payload64k[i] = (uint8_t)i;
	/* max_bytes: the header counts at its largest (any `to`) */
	w.max_bytes = 32 + 8 + D4_FED_POS_MAX + 3 * 1000;
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, D4_FED_KIND_FRAMES, SENDER, FROM_POS, 8), 0);
	frame_rec(&r, 0); /* origin SENDER, one sensor, no ext */
	r.ext_type = NULL;
	r.ext_type_len = 0;
	/* 6 + 16 + 16 + 16 provenance + 30 frame + payload = 1000 */
	r.size = 1000 - 84;
	r.payload = payload64k;
	unsigned added = 0;
	int rc;
	while ((rc = d4_fed_wbuf_add(&w, &r)) == 0)
		added++;
	ck_assert_int_eq(rc, D4_ETOOBIG);
	ck_assert_uint_eq(added, 3);
	ck_assert_uint_eq(w.nrecords, 3);
	size_t before = w.len;
	r.size = 0; /* a smaller record still fits? no: exactly full */
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &r), D4_ETOOBIG);
	ck_assert_uint_eq(w.len, before);
	ck_assert_int_eq(d4_fed_wbuf_finish(&w, TO_POS, 8, &out, &len), 0);
	ck_assert_uint_le(len, w.max_bytes);
	ck_assert_uint_eq(len, 32 + 8 + 8 + 3000);
	unsigned n;
	ck_assert_int_eq(walk(out, len, &n, NULL, 0), 0);
	ck_assert_uint_eq(n, 3);
	/* A record that can never fit: ETOOBIG on an empty batch. */
	w.max_bytes = 1000;
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, D4_FED_KIND_FRAMES, SENDER, NULL, 0), 0);
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &r), D4_ETOOBIG);
	ck_assert_uint_eq(w.nrecords, 0);
	/* max_bytes above the batch limit is the batch limit: 63 frames of
	 * 64 KiB fit in 4 MiB, the 64th does not */
	w.max_bytes = 0;
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, D4_FED_KIND_FRAMES, SENDER, NULL, 0), 0);
	r.size = 65536;
	added = 0;
	while ((rc = d4_fed_wbuf_add(&w, &r)) == 0)
		added++;
	ck_assert_int_eq(rc, D4_ETOOBIG);
	ck_assert_uint_eq(added, 63);
	ck_assert_int_eq(d4_fed_wbuf_finish(&w, TO_POS, 8, &out, &len), 0);
	ck_assert_uint_le(len, D4_FED_BATCH_MAX);
	ck_assert_int_eq(walk(out, len, &n, NULL, 0), 0);
	ck_assert_uint_eq(n, 63);

	/* The encoder refuses what the decoder would, and adds nothing. */
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, D4_FED_KIND_PDNS, SENDER, NULL, 0), 0);
	char rr[64];
	pdns_rec(&r, 1, rr, sizeof(rr));
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &r), 0);
	before = w.len;
	struct d4_fed_wrec bad = r;
	bad.count = 0;
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &bad), D4_EINVAL);
	bad = r;
	bad.rrname = "UPPER.";
	bad.rrname_len = 6;
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &bad), D4_EINVAL);
	bad = r;
	bad.prov.tlp = D4_TLP_NONE;
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &bad), D4_EINVAL);
	bad = r;
	bad.prov.nvia = D4_FED_VIA_MAX + 1;
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &bad), D4_EINVAL);
	bad = r;
	bad.rdata_len = 65537;
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &bad), D4_EINVAL);
	ck_assert_uint_eq(w.len, before);
	ck_assert_uint_eq(w.nrecords, 1);
	ck_assert_int_eq(d4_fed_wbuf_finish(&w, NULL, 0, &out, &len), 0);
	ck_assert_int_eq(walk(out, len, &n, NULL, 0), 0);
	ck_assert_uint_eq(n, 1);
	/* arguments */
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, D4_FED_KIND_COUNT, SENDER, NULL, 0), D4_EINVAL);
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, D4_FED_KIND_PDNS, SENDER, NULL, D4_FED_POS_MAX + 1), D4_EINVAL);
	static const uint8_t zero[16] = {0};
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, D4_FED_KIND_PDNS, zero, NULL, 0), D4_EINVAL);
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, D4_FED_KIND_PDNS, SENDER, NULL, 0), 0);
	ck_assert_int_eq(d4_fed_wbuf_finish(&w, TO_POS, D4_FED_POS_MAX + 1, &out, &len), D4_EINVAL);
	/* the largest positions, both ends */
	static uint8_t pos[D4_FED_POS_MAX];
	memset(pos, 0xa5, sizeof(pos));
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, D4_FED_KIND_PDNS, SENDER, pos, sizeof(pos)), 0);
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &r), 0);
	ck_assert_int_eq(d4_fed_wbuf_finish(&w, pos, sizeof(pos), &out, &len), 0);
	ck_assert_int_eq(walk(out, len, &n, NULL, 0), 0);
	corpus_write("pdns_long_positions.d4fb", out, len);
	/* the next batch starts where this one ended: `to` taken from the
	 * batch itself, inside the buffer begin reuses */
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	ck_assert_int_eq(d4_fed_batch_open(out, len, &h, &it), 0);
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, D4_FED_KIND_PDNS, h.sender, h.to, h.to_len), 0);
	ck_assert_int_eq(d4_fed_wbuf_finish(&w, TO_POS, 8, &out, &len), 0);
	ck_assert_int_eq(d4_fed_batch_open(out, len, &h, &it), 0);
	ck_assert_uint_eq(h.from_len, sizeof(pos));
	ck_assert_int_eq(memcmp(h.from, pos, sizeof(pos)), 0);
	ck_assert_int_eq(memcmp(h.sender, SENDER, 16), 0);
	d4_fed_wbuf_free(&w);
	d4_fed_wbuf_free(&w); /* twice is harmless */
}
END_TEST

START_TEST(test_wprov_from_out)
{
	struct d4_fed_self self = {{0}, {0}, D4_TLP_GREEN, NULL, 0, NULL};
	memcpy(self.hub, SELF, 16);
	memcpy(self.org, ORG, 16);
	uint8_t via[2][16];
	memcpy(via[0], HUB_X, 16);
	memcpy(via[1], HUB_Y, 16);
	const uint8_t sensors[1][16] = {{0x5e, 0x50, 9}};
	/* a relayed record: self appended after its path */
	struct d4_fed_record rec = {.kind = D4_FED_KIND_FRAMES,
				    .tlp = D4_TLP_GREEN,
				    .has_origin = 1,
				    .via = (const uint8_t(*)[16])via,
				    .nvia = 2,
				    .sensors = sensors,
				    .nsensors = 1};
	memcpy(rec.origin, HUB_X, 16);
	rec.origin[0] = 0x77;
	struct d4_fed_verdict v = {D4_FED_RELEASE, D4_FED_R_RELEASED, D4_TLP_GREEN};
	struct d4_fed_out o;
	struct d4_fed_wprov p;
	d4_fed_outgoing(&self, &rec, &v, &o);
	ck_assert_int_eq(d4_fed_wprov_from_out(&self, &o, &v, &p), 0);
	ck_assert_uint_eq(p.tlp, D4_TLP_GREEN);
	ck_assert_uint_eq(p.flags, 0);
	ck_assert_uint_eq(p.has_org, 1);
	ck_assert_int_eq(memcmp(p.org, ORG, 16), 0);
	ck_assert_uint_eq(p.nsensors, 1);
	ck_assert_int_eq(memcmp(p.sensors[0], sensors[0], 16), 0);
	ck_assert_uint_eq(p.has_origin, 1);
	ck_assert_int_eq(memcmp(p.origin, rec.origin, 16), 0);
	ck_assert_uint_eq(p.nvia, 3);
	ck_assert_int_eq(memcmp(p.via[0], HUB_X, 16), 0);
	ck_assert_int_eq(memcmp(p.via[1], HUB_Y, 16), 0);
	ck_assert_int_eq(memcmp(p.via[2], SELF, 16), 0);

	/* this hub's own record: origin self, empty path */
	struct d4_fed_record own = {.kind = D4_FED_KIND_FRAMES, .tlp = D4_TLP_CLEAR};
	d4_fed_outgoing(&self, &own, &v, &o);
	ck_assert_int_eq(d4_fed_wprov_from_out(&self, &o, &v, &p), 0);
	ck_assert_uint_eq(p.has_origin, 1);
	ck_assert_int_eq(memcmp(p.origin, SELF, 16), 0);
	ck_assert_uint_eq(p.nvia, 0);
	/* ... which the partner receives as coming straight from its origin */
	struct d4_partner *part = calloc(1, sizeof(*part));
	ck_assert_ptr_nonnull(part);
	part->in.kinds = 1;
	part->in.max_tlp = D4_TLP_AMBER;
	memcpy(part->hub, SELF, 16);
	struct d4_fed_self other = {{0xcc}, {0xcc}, D4_TLP_GREEN, NULL, 0, NULL};
	struct d4_fed_wrec w = {.prov = p};
	ck_assert_int_eq(d4_fed_inbound(&other, part, D4_FED_KIND_FRAMES, &w), D4_FED_IN_STORED);
	free(part);

	/* stripped: the flag and the level, nothing else */
	struct d4_fed_verdict vs = {D4_FED_RELEASE_STRIPPED, D4_FED_R_EX_CHR_STRIPPED, D4_TLP_EX_CHR};
	d4_fed_outgoing(&self, &rec, &vs, &o);
	ck_assert_int_eq(d4_fed_wprov_from_out(&self, &o, &vs, &p), 0);
	struct d4_fed_wprov want = {.tlp = D4_TLP_EX_CHR, .flags = D4_FED_F_STRIPPED};
	ck_assert_int_eq(memcmp(&p, &want, sizeof(p)), 0);

	/* a path that cannot take this hub any more */
	uint8_t longvia[D4_FED_VIA_MAX][16];
	for (unsigned i = 0; i < D4_FED_VIA_MAX; i++) {
		memcpy(longvia[i], HUB_Y, 16);
		longvia[i][15] = (uint8_t)i;
	}
	rec.via = (const uint8_t(*)[16])longvia;
	rec.nvia = D4_FED_VIA_MAX;
	d4_fed_outgoing(&self, &rec, &v, &o);
	ck_assert_int_eq(d4_fed_wprov_from_out(&self, &o, &v, &p), D4_ETOOBIG);
	/* a refusal carries nothing */
	struct d4_fed_verdict vr = {D4_FED_REFUSE, D4_FED_R_TLP_RED, D4_TLP_RED};
	d4_fed_outgoing(&self, &rec, &vr, &o);
	ck_assert_int_eq(d4_fed_wprov_from_out(&self, &o, &vr, &p), D4_EINVAL);
	ck_assert_uint_eq(p.tlp, 0);
}
END_TEST

TCase *batch_tcase(void)
{
	TCase *tc = tcase_create("batch");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_roundtrip_frames);
	tcase_add_test(tc, test_roundtrip_pdns);
	tcase_add_test(tc, test_roundtrip_backscatter);
	tcase_add_test(tc, test_truncations);
	tcase_add_test(tc, test_header_checks);
	tcase_add_test(tc, test_prov_checks);
	tcase_add_test(tc, test_frame_checks);
	tcase_add_test(tc, test_pdns_checks);
	tcase_add_test(tc, test_vector_checks);
	tcase_add_test(tc, test_encoder_limits);
	tcase_add_test(tc, test_wprov_from_out);
	return tc;
}

/* ---- the inbound rule ---- */

static struct d4_partner *inbound_partner(void)
{
	struct d4_partner *p = calloc(1, sizeof(*p));
	ck_assert_ptr_nonnull(p);
	d4_fed_partner_defaults(p);
	memcpy(p->hub, SENDER, 16);
	p->in.kinds = (1u << D4_FED_KIND_FRAMES) | (1u << D4_FED_KIND_PDNS);
	p->in.max_tlp = D4_TLP_AMBER;
	return p;
}

START_TEST(test_inbound_table)
{
	struct d4_fed_self self = {{0}, {0}, D4_TLP_GREEN, NULL, 0, NULL};
	memcpy(self.hub, SELF, 16);
	struct d4_partner *p = inbound_partner();
	struct d4_fed_wrec base = {0};
	base.prov.tlp = D4_TLP_GREEN;
	base.prov.has_origin = 1;
	memcpy(base.prov.origin, SENDER, 16);

	struct {
		const char *name;
		uint8_t kind;
		unsigned tlp;
		int stripped;
		int has_origin;
		const uint8_t *origin;
		const uint8_t *via[D4_FED_VIA_MAX + 1];
		unsigned nvia;
		enum d4_fed_in_reason want;
	} cases[] = {
	    {"from its origin", 0, D4_TLP_GREEN, 0, 1, SENDER, {NULL}, 0, D4_FED_IN_STORED},
	    {"pdns", 1, D4_TLP_CLEAR, 0, 1, SENDER, {NULL}, 0, D4_FED_IN_STORED},
	    {"relayed by the sender", 0, D4_TLP_GREEN, 0, 1, HUB_X, {SENDER}, 1, D4_FED_IN_STORED},
	    {"relayed twice", 0, D4_TLP_EX_CHR, 0, 1, HUB_X, {HUB_Y, SENDER}, 2, D4_FED_IN_STORED},
	    {"amber at the cap", 0, D4_TLP_AMBER, 0, 1, SENDER, {NULL}, 0, D4_FED_IN_STORED},
	    {"stripped", 0, D4_TLP_EX_CHR, 1, 0, NULL, {NULL}, 0, D4_FED_IN_STORED},
	    {"kind backscatter", 2, D4_TLP_GREEN, 0, 1, SENDER, {NULL}, 0, D4_FED_IN_KIND},
	    {"kind certs", 3, D4_TLP_GREEN, 0, 1, SENDER, {NULL}, 0, D4_FED_IN_KIND},
	    {"kind out of range", 9, D4_TLP_GREEN, 0, 1, SENDER, {NULL}, 0, D4_FED_IN_KIND},
	    {"red", 0, D4_TLP_RED, 0, 1, SENDER, {NULL}, 0, D4_FED_IN_RED},
	    {"red stripped", 0, D4_TLP_RED, 1, 0, NULL, {NULL}, 0, D4_FED_IN_RED},
	    {"no level", 0, D4_TLP_NONE, 0, 1, SENDER, {NULL}, 0, D4_FED_IN_RED},
	    {"unclear", 0, D4_TLP_UNCLEAR, 0, 1, SENDER, {NULL}, 0, D4_FED_IN_RED},
	    {"amber+strict above the cap", 0, D4_TLP_AMBER_STRICT, 0, 1, SENDER, {NULL}, 0, D4_FED_IN_ABOVE_TLP},
	    {"origin is this hub", 0, D4_TLP_GREEN, 0, 1, SELF, {SENDER}, 1, D4_FED_IN_LOOP},
	    {"this hub on the path", 0, D4_TLP_GREEN, 0, 1, HUB_X, {SELF, SENDER}, 2, D4_FED_IN_LOOP},
	    {"last hop not the sender", 0, D4_TLP_GREEN, 0, 1, HUB_X, {HUB_Y}, 1, D4_FED_IN_PATH},
	    {"another origin, no path", 0, D4_TLP_GREEN, 0, 1, HUB_X, {NULL}, 0, D4_FED_IN_PATH},
	    {"sender not last", 0, D4_TLP_GREEN, 0, 1, HUB_X, {SENDER, HUB_Y}, 2, D4_FED_IN_PATH},
	    {"no origin", 0, D4_TLP_GREEN, 0, 0, NULL, {SENDER}, 1, D4_FED_IN_PATH},
	    {"path repeats a hub", 0, D4_TLP_GREEN, 0, 1, HUB_X, {HUB_Y, HUB_Y, SENDER}, 3, D4_FED_IN_PATH},
	    {"origin on its own path", 0, D4_TLP_GREEN, 0, 1, HUB_X, {HUB_X, SENDER}, 2, D4_FED_IN_PATH},
	    {"stripped with a path", 0, D4_TLP_EX_CHR, 1, 0, NULL, {SENDER}, 1, D4_FED_IN_PATH},
	    {"stripped with an origin", 0, D4_TLP_EX_CHR, 1, 1, SENDER, {NULL}, 0, D4_FED_IN_PATH},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct d4_fed_wrec r = base;
		r.prov.tlp = (uint8_t)cases[i].tlp;
		r.prov.flags = cases[i].stripped ? D4_FED_F_STRIPPED : 0;
		r.prov.has_origin = (uint8_t)cases[i].has_origin;
		memset(r.prov.origin, 0, 16);
		if (cases[i].origin)
			memcpy(r.prov.origin, cases[i].origin, 16);
		r.prov.nvia = (uint8_t)cases[i].nvia;
		for (unsigned k = 0; k < cases[i].nvia; k++)
			memcpy(r.prov.via[k], cases[i].via[k], 16);
		enum d4_fed_in_reason got = d4_fed_inbound(&self, p, cases[i].kind, &r);
		ck_assert_msg(got == cases[i].want, "%s: %s, expected %s", cases[i].name, d4_fed_in_reason_name(got),
			      d4_fed_in_reason_name(cases[i].want));
	}

	/* a path longer than any decoder lets through */
	struct d4_fed_wrec r = base;
	memcpy(r.prov.origin, HUB_X, 16);
	r.prov.nvia = D4_FED_VIA_MAX + 1;
	for (unsigned k = 0; k < r.prov.nvia && k < D4_FED_VIA_MAX; k++) {
		memcpy(r.prov.via[k], HUB_Y, 16);
		r.prov.via[k][15] = (uint8_t)k;
	}
	ck_assert_int_eq(d4_fed_inbound(&self, p, 0, &r), D4_FED_IN_PATH);

	/* the partner's rule decides the kind and the cap */
	r = base;
	p->in.kinds = 1u << D4_FED_KIND_PDNS;
	ck_assert_int_eq(d4_fed_inbound(&self, p, D4_FED_KIND_FRAMES, &r), D4_FED_IN_KIND);
	ck_assert_int_eq(d4_fed_inbound(&self, p, D4_FED_KIND_PDNS, &r), D4_FED_IN_STORED);
	p->in.max_tlp = D4_TLP_CLEAR;
	ck_assert_int_eq(d4_fed_inbound(&self, p, D4_FED_KIND_PDNS, &r), D4_FED_IN_ABOVE_TLP);
	r.prov.tlp = D4_TLP_CLEAR;
	ck_assert_int_eq(d4_fed_inbound(&self, p, D4_FED_KIND_PDNS, &r), D4_FED_IN_STORED);
	p->in.max_tlp = D4_TLP_RED; /* a cap of red still never takes red */
	r.prov.tlp = D4_TLP_RED;
	ck_assert_int_eq(d4_fed_inbound(&self, p, D4_FED_KIND_PDNS, &r), D4_FED_IN_RED);
	r.prov.tlp = D4_TLP_AMBER_STRICT;
	ck_assert_int_eq(d4_fed_inbound(&self, p, D4_FED_KIND_PDNS, &r), D4_FED_IN_STORED);
	p->in.max_tlp = D4_TLP_NONE; /* not a level: nothing passes */
	r.prov.tlp = D4_TLP_CLEAR;
	ck_assert_int_eq(d4_fed_inbound(&self, p, D4_FED_KIND_PDNS, &r), D4_FED_IN_ABOVE_TLP);
	/* fail closed on missing arguments */
	ck_assert_int_eq(d4_fed_inbound(NULL, p, 1, &r), D4_FED_IN_KIND);
	ck_assert_int_eq(d4_fed_inbound(&self, NULL, 1, &r), D4_FED_IN_KIND);
	ck_assert_int_eq(d4_fed_inbound(&self, p, 1, NULL), D4_FED_IN_KIND);
	free(p);
}
END_TEST

START_TEST(test_inbound_names)
{
	static const char *const names[] = {
	    "stored",	     "kind-not-accepted", "above-tlp-cap",     "tlp-red",	"loop",	    "bad-path",
	    "quota-records", "quota-bytes",	  "type-not-accepted", "bad-signature", "unsigned", "unknown-signer"};
	ck_assert_uint_eq(sizeof(names) / sizeof(names[0]), D4_FED_IN_COUNT);
	for (int i = 0; i < D4_FED_IN_COUNT; i++)
		ck_assert_str_eq(d4_fed_in_reason_name((enum d4_fed_in_reason)i), names[i]);
	ck_assert_str_eq(d4_fed_in_reason_name(D4_FED_IN_COUNT), "invalid");
	ck_assert_str_eq(d4_fed_in_reason_name((enum d4_fed_in_reason) - 1), "invalid");
}
END_TEST

START_TEST(test_quota)
{
	struct d4_partner *p = inbound_partner();
	struct d4_fed_quota q = {0};
	uint64_t retry = 99;
	const uint64_t T = 1765000000000ull; /* a UTC day starts at T - T % 86400000 */
	/* no quota: anything passes */
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1000000, 1ull << 40, T, &retry), D4_FED_IN_STORED);
	ck_assert_uint_eq(retry, 0);

	/* 100 records/s: a fresh bucket holds one second */
	memset(&q, 0, sizeof(q));
	p->in.records_per_s = 100;
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 100, 0, T, &retry), D4_FED_IN_STORED);
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1, 0, T, &retry), D4_FED_IN_QUOTA_RATE);
	ck_assert_uint_ge(retry, 10);
	ck_assert_uint_le(retry, 11);
	/* the refusal took nothing: after 10 ms exactly one record passes */
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1, 0, T + 10, &retry), D4_FED_IN_STORED);
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1, 0, T + 10, &retry), D4_FED_IN_QUOTA_RATE);
	/* refills up to one second, never more */
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 50, 0, T + 60000, &retry), D4_FED_IN_STORED);
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 50, 0, T + 60000, &retry), D4_FED_IN_STORED);
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1, 0, T + 60000, &retry), D4_FED_IN_QUOTA_RATE);
	/* a batch above one second of rate: only on a full bucket, and it
	 * leaves a debt (250 at 100/s: the next record waits 1.5 s more) */
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 250, 0, T + 60500, &retry), D4_FED_IN_QUOTA_RATE);
	ck_assert_uint_ge(retry, 500);
	ck_assert_uint_le(retry, 501);
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 250, 0, T + 61000, &retry), D4_FED_IN_STORED);
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1, 0, T + 62000, &retry), D4_FED_IN_QUOTA_RATE);
	ck_assert_uint_ge(retry, 510);
	ck_assert_uint_le(retry, 511);
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1, 0, T + 62510, &retry), D4_FED_IN_STORED);
	/* a clock that goes back refills nothing */
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1, 0, T, &retry), D4_FED_IN_QUOTA_RATE);
	/* a lowered quota caps what was saved */
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 0, 0, T + 70000, &retry), D4_FED_IN_STORED);
	p->in.records_per_s = 10;
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 10, 0, T + 70000, &retry), D4_FED_IN_STORED);
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1, 0, T + 70000, &retry), D4_FED_IN_QUOTA_RATE);

	/* bytes per UTC day */
	memset(&q, 0, sizeof(q));
	p->in.records_per_s = 0;
	p->in.bytes_per_day = 1000;
	uint64_t day0 = T - T % 86400000ull;
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1, 600, day0 + 5000, &retry), D4_FED_IN_STORED);
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1, 401, day0 + 6000, &retry), D4_FED_IN_QUOTA_BYTES);
	ck_assert_uint_eq(retry, 86400000ull - 6000);
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1, 400, day0 + 7000, &retry), D4_FED_IN_STORED); /* exactly 1000 */
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1, 1, day0 + 8000, &retry), D4_FED_IN_QUOTA_BYTES);
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1, 0, day0 + 8000, &retry), D4_FED_IN_STORED);
	/* the next UTC day starts afresh */
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1, 1000, day0 + 86400000ull, &retry), D4_FED_IN_STORED);
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1, 1, day0 + 86400001ull, &retry), D4_FED_IN_QUOTA_BYTES);
	/* a batch above a whole day passes as the first of a day only */
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1, 5000, day0 + 2 * 86400000ull, &retry), D4_FED_IN_STORED);
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1, 1, day0 + 2 * 86400000ull + 1, &retry), D4_FED_IN_QUOTA_BYTES);

	/* both: a rate refusal takes no bytes, a byte refusal no records */
	memset(&q, 0, sizeof(q));
	p->in.records_per_s = 10;
	p->in.bytes_per_day = 100;
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 10, 50, day0, &retry), D4_FED_IN_STORED);
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 1, 50, day0, &retry), D4_FED_IN_QUOTA_RATE);
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 10, 51, day0 + 1000, &retry), D4_FED_IN_QUOTA_BYTES);
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 10, 50, day0 + 1000, &retry), D4_FED_IN_STORED);
	/* fail closed, and retry may be NULL */
	ck_assert_int_eq(d4_fed_quota_take(NULL, p, 1, 1, day0, &retry), D4_FED_IN_QUOTA_RATE);
	ck_assert_uint_gt(retry, 0);
	ck_assert_int_eq(d4_fed_quota_take(&q, p, 0, 0, day0 + 5000, NULL), D4_FED_IN_STORED);
	free(p);
}
END_TEST

TCase *inbound_tcase(void)
{
	TCase *tc = tcase_create("inbound");
	tcase_add_test(tc, test_inbound_table);
	tcase_add_test(tc, test_inbound_names);
	tcase_add_test(tc, test_quota);
	return tc;
}
