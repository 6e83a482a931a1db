/* Unit tests of federation/fed_receive.c (a received batch made ready for
 * the store): what is kept and with which provenance, what is refused and
 * counted, the refusals of a whole batch, the type filter. Part of the
 * test_federation binary. */
#include "d4_error.h"
#include "d4_federation.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

TCase *receive_tcase(void);

static const uint8_t SENDER[16] = {0x5e, 0xd0, 9, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t SELF[16] = {0x5e, 0x1f, 9, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 2};
static const uint8_t ORIGIN[16] = {0xaa, 9, 1, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 3};
static const uint8_t ORG[16] = {0x0e, 0x0e, 9, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 5};
static const uint8_t SENSOR[16] = {0x5e, 0x50, 9, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 6};
static const uint8_t PAYLOAD[] = "payload bytes";

static struct d4_fed_self self_of(void)
{
	struct d4_fed_self s;
	memset(&s, 0, sizeof(s));
	memcpy(s.hub, SELF, 16);
	s.default_tlp = D4_TLP_AMBER_STRICT;
	return s;
}

static struct d4_partner *partner_new(uint8_t kinds)
{
	struct d4_partner *p = calloc(1, sizeof(*p));
	ck_assert_ptr_nonnull(p);
	strcpy(p->name, "peer-b");
	memcpy(p->hub, SENDER, 16);
	p->enabled = 1;
	p->in.kinds = kinds;
	p->in.max_tlp = D4_TLP_AMBER;
	return p;
}

/* A relayed frame: origin ORIGIN, via SENDER, sensor SENSOR, org ORG. */
static struct d4_fed_wrec frame(uint8_t tlp, uint8_t type, const char *ext)
{
	struct d4_fed_wrec r;
	memset(&r, 0, sizeof(r));
	r.prov.tlp = tlp;
	r.prov.has_org = 1;
	memcpy(r.prov.org, ORG, 16);
	r.prov.nsensors = 1;
	memcpy(r.prov.sensors[0], SENSOR, 16);
	r.prov.has_origin = 1;
	memcpy(r.prov.origin, ORIGIN, 16);
	r.prov.nvia = 1;
	memcpy(r.prov.via[0], SENDER, 16);
	r.origin_session = 42;
	r.type = type;
	r.ext_type = ext;
	r.ext_type_len = ext ? strlen(ext) : 0;
	r.hdr_ts = 1700000000;
	r.recv_ms = 1700000000123ull;
	r.payload = PAYLOAD;
	r.size = sizeof(PAYLOAD) - 1;
	return r;
}

static struct d4_fed_wrec tuple(uint8_t tlp, const char *bailiwick)
{
	struct d4_fed_wrec r = frame(tlp, 0, NULL);
	r.rrname = "www.example.com.";
	r.rrname_len = strlen(r.rrname);
	r.rrtype = 1;
	r.rdata = "192.0.2.1";
	r.rdata_len = strlen(r.rdata);
	r.bailiwick = bailiwick;
	r.bailiwick_len = bailiwick ? strlen(bailiwick) : 0;
	r.time_first = 1700000000;
	r.time_last = 1700000100;
	r.count = 3;
	return r;
}

/* Encodes recs into a malloc'ed batch of kind from sender, "01" -> "02". */
static uint8_t *encode(uint8_t kind, const uint8_t sender[16], const struct d4_fed_wrec *recs, size_t n, size_t *len)
{
	static const uint8_t from[1] = {1}, to[1] = {2};
	struct d4_fed_wbuf w;
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, kind, sender, from, 1), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(d4_fed_wbuf_add(&w, &recs[i]), 0);
	const uint8_t *out;
	ck_assert_int_eq(d4_fed_wbuf_finish(&w, to, 1, &out, len), 0);
	uint8_t *copy = malloc(*len);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, out, *len);
	d4_fed_wbuf_free(&w);
	return copy;
}

START_TEST(test_frames_kept_and_refused)
{
	struct d4_fed_self self = self_of();
	struct d4_partner *p = partner_new(1u << D4_FED_KIND_FRAMES);
	struct d4_fed_wrec recs[5];
	recs[0] = frame(D4_TLP_GREEN, 254, "pdns-cof");
	recs[1] = frame(D4_TLP_RED, 8, NULL);	/* red: never */
	recs[2] = frame(D4_TLP_GREEN, 8, NULL); /* loop: this hub is the origin */
	memcpy(recs[2].prov.origin, SELF, 16);
	recs[3] = frame(D4_TLP_AMBER_STRICT, 8, NULL); /* above the cap (amber) */
	recs[4] = frame(D4_TLP_CLEAR, 1, NULL);
	size_t len;
	uint8_t *b = encode(D4_FED_KIND_FRAMES, SENDER, recs, 5, &len);
	struct d4_fed_rx rx;
	char why[256];
	ck_assert_int_eq(d4_fed_receive_prepare(&self, p, D4_FED_KIND_FRAMES, b, len, &rx, why, sizeof(why)),
			 D4_FED_RX_OK);
	ck_assert_uint_eq(rx.nrecords, 5);
	ck_assert_uint_eq(rx.batch.nframes, 2);
	ck_assert_uint_eq(rx.batch.ntuples, 0);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_RED], 1);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_LOOP], 1);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_ABOVE_TLP], 1);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_STORED], 0);
	ck_assert_uint_eq(rx.batch.nrefused, D4_FED_IN_COUNT);
	ck_assert_mem_eq(rx.batch.sender, SENDER, 16);
	ck_assert_str_eq(rx.batch.partner, "peer-b");
	ck_assert_uint_eq(rx.batch.kind, D4_FED_KIND_FRAMES);
	ck_assert_uint_eq(rx.batch.from_len, 1);
	ck_assert_uint_eq(rx.batch.from[0], 1);
	ck_assert_uint_eq(rx.batch.to_len, 1);
	ck_assert_uint_eq(rx.batch.to[0], 2);
	ck_assert_uint_eq(rx.batch.bytes, len);
	ck_assert_int_eq(rx.batch.notify_fd, -1);
	const struct d4_store_fed_frame *f = &rx.batch.frames[0];
	ck_assert_uint_eq(f->type, 254);
	ck_assert_str_eq(f->ext_type, "pdns-cof");
	ck_assert_uint_eq(f->tlp, D4_TLP_GREEN);
	ck_assert_uint_eq(f->origin_session, 42);
	ck_assert_mem_eq(f->sensor, SENSOR, 16);
	ck_assert_int_eq(f->has_org, 1);
	ck_assert_mem_eq(f->org, ORG, 16);
	ck_assert_uint_eq(f->hdr_ts, 1700000000);
	ck_assert_uint_eq(f->recv_ms, 1700000000123ull);
	ck_assert_uint_eq(f->size, sizeof(PAYLOAD) - 1);
	ck_assert_mem_eq(f->payload, PAYLOAD, f->size);
	ck_assert_int_eq(f->prov->has_origin, 1);
	ck_assert_mem_eq(f->prov->origin, ORIGIN, 16);
	ck_assert_uint_eq(f->prov->nvia, 1);
	ck_assert_mem_eq(f->prov->via[0], SENDER, 16);
	ck_assert_int_eq(f->prov->stripped, 0);
	ck_assert_uint_eq(rx.batch.frames[1].type, 1);
	ck_assert_str_eq(rx.batch.frames[1].ext_type, "");
	d4_fed_rx_free(&rx);
	free(b);
	free(p);
}
END_TEST

START_TEST(test_stripped_and_tuples)
{
	struct d4_fed_self self = self_of();
	struct d4_partner *p = partner_new(1u << D4_FED_KIND_PDNS);
	struct d4_fed_wrec recs[2];
	recs[0] = tuple(D4_TLP_GREEN, "example.com.");
	recs[1] = tuple(D4_TLP_EX_CHR, NULL);
	memset(&recs[1].prov, 0, sizeof(recs[1].prov));
	recs[1].prov.tlp = D4_TLP_EX_CHR;
	recs[1].prov.flags = D4_FED_F_STRIPPED;
	size_t len;
	uint8_t *b = encode(D4_FED_KIND_PDNS, SENDER, recs, 2, &len);
	struct d4_fed_rx rx;
	ck_assert_int_eq(d4_fed_receive_prepare(&self, p, D4_FED_KIND_PDNS, b, len, &rx, NULL, 0), D4_FED_RX_OK);
	ck_assert_uint_eq(rx.batch.ntuples, 2);
	const struct d4_store_fed_tuple *t = &rx.batch.tuples[0];
	ck_assert_uint_eq(t->obs.rrname_len, strlen("www.example.com."));
	ck_assert_mem_eq(t->obs.rrname, "www.example.com.", t->obs.rrname_len);
	ck_assert_str_eq(t->obs.bailiwick, "example.com.");
	ck_assert_uint_eq(t->obs.count, 3);
	ck_assert_uint_eq(t->obs.time_first, 1700000000);
	ck_assert_uint_eq(t->obs.time_last, 1700000100);
	ck_assert_int_eq(t->obs.has_sensor, 1);
	ck_assert_mem_eq(t->obs.sensor, SENSOR, 16);
	ck_assert_mem_eq(t->obs.org, ORG, 16);
	ck_assert_mem_eq(t->prov->origin, ORIGIN, 16);
	t = &rx.batch.tuples[1];
	ck_assert_int_eq(t->prov->stripped, 1);
	ck_assert_int_eq(t->prov->has_origin, 0);
	ck_assert_uint_eq(t->prov->nvia, 0);
	ck_assert_int_eq(t->obs.has_sensor, 0);
	ck_assert_str_eq(t->obs.bailiwick, "");
	ck_assert_uint_eq(t->obs.tlp, D4_TLP_EX_CHR);
	d4_fed_rx_free(&rx);
	free(b);
	free(p);
}
END_TEST

/* A vector from ORIGIN relayed by SENDER (as frame()), content fixed. */
static struct d4_fed_wrec vector(uint8_t tlp, uint8_t state, uint64_t packets)
{
	struct d4_fed_wrec r = frame(tlp, 0, NULL);
	r.payload = NULL;
	r.size = 0;
	r.origin_session = 0;
	r.hdr_ts = r.recv_ms = 0;
	static const uint8_t victim[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 5};
	memcpy(r.vec.victim, victim, 16);
	r.vec.kind = 1;
	r.vec.state = state;
	r.vec.first_us = 1700000000000000ull;
	r.vec.last_us = r.vec.first_us + 120000000ull;
	r.vec.packets = packets;
	r.vec.bytes = packets * 44;
	r.vec.n_ports = 2;
	r.vec.ports[0].port = 80;
	r.vec.ports[0].packets = packets - 5;
	r.vec.ports[1].port = 8080;
	r.vec.ports[1].packets = 5;
	r.vec.ports_distinct = 2;
	r.vec.telescope_addrs = 17;
	r.vec.telescope_exact = 1;
	r.vec.peak_ppm = (uint32_t)(packets / 2);
	r.vec.observed_pps = (double)packets / 120.0;
	r.vec.est_pps = r.vec.observed_pps * 256.0;
	r.vec.est_peak_pps = r.vec.peak_ppm / 60.0 * 256.0;
	r.vec.est_valid = 1;
	r.vec.sensors_more = 1;
	r.vec.org_mixed = 0;
	r.vec.updates = 3;
	return r;
}

START_TEST(test_vectors)
{
	struct d4_fed_self self = self_of();
	struct d4_partner *p = partner_new(1u << D4_FED_KIND_BACKSCATTER);
	struct d4_fed_wrec recs[5];
	recs[0] = vector(D4_TLP_GREEN, 1, 100);	      /* relayed: origin ORIGIN, via [SENDER] */
	recs[1] = vector(D4_TLP_RED, 2, 100);	      /* red: never */
	recs[2] = vector(D4_TLP_AMBER_STRICT, 2, 50); /* above the cap */
	recs[3] = vector(D4_TLP_EX_CHR, 2, 60);	      /* stripped */
	memset(&recs[3].prov, 0, sizeof(recs[3].prov));
	recs[3].prov.tlp = D4_TLP_EX_CHR;
	recs[3].prov.flags = D4_FED_F_STRIPPED;
	recs[3].vec.sensors_more = 0;
	recs[4] = vector(D4_TLP_CLEAR, 2, 90); /* the sender's own */
	memcpy(recs[4].prov.origin, SENDER, 16);
	recs[4].prov.nvia = 0;
	size_t len;
	uint8_t *b = encode(D4_FED_KIND_BACKSCATTER, SENDER, recs, 5, &len);
	struct d4_fed_rx rx;
	char why[256];
	/* a partner that does not accept the kind: the whole batch */
	p->in.kinds = 1u << D4_FED_KIND_PDNS;
	ck_assert_int_eq(d4_fed_receive_prepare(&self, p, D4_FED_KIND_BACKSCATTER, b, len, &rx, why, sizeof(why)),
			 D4_FED_RX_NOT_ACCEPTED);
	ck_assert_int_eq(d4_fed_receive_prepare(&self, p, D4_FED_KIND_PDNS, b, len, &rx, why, sizeof(why)),
			 D4_FED_RX_KIND);
	p->in.kinds = 1u << D4_FED_KIND_BACKSCATTER;
	ck_assert_int_eq(d4_fed_receive_prepare(&self, p, D4_FED_KIND_BACKSCATTER, b, len, &rx, why, sizeof(why)),
			 D4_FED_RX_OK);
	ck_assert_uint_eq(rx.nrecords, 5);
	ck_assert_uint_eq(rx.batch.kind, D4_FED_KIND_BACKSCATTER);
	ck_assert_uint_eq(rx.batch.nvectors, 3);
	ck_assert_uint_eq(rx.batch.nframes + rx.batch.ntuples, 0);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_RED], 1);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_ABOVE_TLP], 1);
	static const uint8_t zero[16];
	const struct d4_store_bs_vec *v = &rx.batch.vectors[0];
	/* relayed: keyed under its origin, with the path and the sender */
	ck_assert(v->received == 1 && v->stripped == 0);
	ck_assert_int_eq(memcmp(v->origin, ORIGIN, 16), 0);
	ck_assert_int_eq(memcmp(v->sender, SENDER, 16), 0);
	ck_assert_uint_eq(v->nvia, 1);
	ck_assert_int_eq(memcmp(v->via[0], SENDER, 16), 0);
	ck_assert_uint_eq(v->tlp, D4_TLP_GREEN);
	ck_assert_int_eq(memcmp(v->org, ORG, 16), 0);
	ck_assert_uint_eq(v->n_sensors, 1);
	ck_assert_int_eq(memcmp(v->sensors[0], SENSOR, 16), 0);
	ck_assert_uint_eq(v->sensors_more, 1);
	ck_assert_uint_eq(v->kind, 1);
	ck_assert_uint_eq(v->state, 1);
	ck_assert_uint_eq(v->first_us, recs[0].vec.first_us);
	ck_assert_uint_eq(v->last_us, recs[0].vec.last_us);
	ck_assert_uint_eq(v->packets, 100);
	ck_assert_uint_eq(v->bytes, 4400);
	ck_assert_uint_eq(v->n_ports, 2);
	ck_assert_uint_eq(v->ports[0].port, 80);
	ck_assert_uint_eq(v->ports[0].packets, 95);
	ck_assert_uint_eq(v->ports[1].port, 8080);
	ck_assert_uint_eq(v->ports_distinct, 2);
	ck_assert_uint_eq(v->telescope_addrs, 17);
	ck_assert_uint_eq(v->peak_ppm, 50);
	ck_assert(v->est_pps == recs[0].vec.est_pps && v->est_valid == 1 && v->telescope_exact == 1);
	ck_assert_uint_eq(v->updates, 3);
	ck_assert_int_eq(memcmp(v->victim, recs[0].vec.victim, 16), 0);
	/* stripped: no org, sensors or path; keyed under the sender, never
	 * under the all-zero origin of this hub's own vectors */
	v = &rx.batch.vectors[1];
	ck_assert(v->received == 1 && v->stripped == 1);
	ck_assert_int_eq(memcmp(v->origin, SENDER, 16), 0);
	ck_assert_int_eq(memcmp(v->org, zero, 16), 0);
	ck_assert(v->n_sensors == 0 && v->nvia == 0 && v->sensors_more == 0);
	ck_assert_uint_eq(v->tlp, D4_TLP_EX_CHR);
	ck_assert_uint_eq(v->packets, 60);
	/* the sender's own */
	v = &rx.batch.vectors[2];
	ck_assert_int_eq(memcmp(v->origin, SENDER, 16), 0);
	ck_assert(v->nvia == 0 && v->stripped == 0 && v->tlp == D4_TLP_CLEAR);
	d4_fed_rx_free(&rx);
	ck_assert_ptr_null(rx.vectors);

	/* a vector that loops (this hub is its origin) is refused, counted */
	recs[0] = vector(D4_TLP_GREEN, 2, 100);
	memcpy(recs[0].prov.origin, SELF, 16);
	free(b);
	b = encode(D4_FED_KIND_BACKSCATTER, SENDER, recs, 1, &len);
	ck_assert_int_eq(d4_fed_receive_prepare(&self, p, D4_FED_KIND_BACKSCATTER, b, len, &rx, why, sizeof(why)),
			 D4_FED_RX_OK);
	ck_assert_uint_eq(rx.batch.nvectors, 0);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_LOOP], 1);
	d4_fed_rx_free(&rx);
	/* one bad record refuses the batch: a vector layout this hub does not
	 * read (the layout byte just after the provenance) */
	recs[0] = vector(D4_TLP_GREEN, 2, 100);
	free(b);
	b = encode(D4_FED_KIND_BACKSCATTER, SENDER, recs, 1, &len);
	size_t at = len - 108 - 2 * 10; /* the record's fixed part (105) + the ports, from the end */
	ck_assert_uint_eq(b[at + 3], 1);
	b[at + 3] = 9;
	ck_assert_int_eq(d4_fed_receive_prepare(&self, p, D4_FED_KIND_BACKSCATTER, b, len, &rx, why, sizeof(why)),
			 D4_FED_RX_MALFORMED);
	ck_assert_msg(strstr(why, "vector layout 9") != NULL, "%s", why);
	free(b);
	free(p);
}
END_TEST

START_TEST(test_whole_batch_refusals)
{
	struct d4_fed_self self = self_of();
	struct d4_partner *p = partner_new(1u << D4_FED_KIND_FRAMES);
	struct d4_fed_wrec r = frame(D4_TLP_GREEN, 8, NULL);
	size_t len;
	uint8_t *b = encode(D4_FED_KIND_FRAMES, SENDER, &r, 1, &len);
	struct d4_fed_rx rx;
	char why[256];
	/* the path's kind is another */
	ck_assert_int_eq(d4_fed_receive_prepare(&self, p, D4_FED_KIND_PDNS, b, len, &rx, why, sizeof(why)),
			 D4_FED_RX_KIND);
	ck_assert_ptr_null(rx.frames);
	ck_assert(why[0]);
	/* cut short: malformed, with the record named */
	ck_assert_int_eq(d4_fed_receive_prepare(&self, p, D4_FED_KIND_FRAMES, b, len - 3, &rx, why, sizeof(why)),
			 D4_FED_RX_MALFORMED);
	ck_assert_ptr_nonnull(strstr(why, "record 1"));
	ck_assert_int_eq(d4_fed_receive_prepare(&self, p, D4_FED_KIND_FRAMES, b, 10, &rx, why, sizeof(why)),
			 D4_FED_RX_MALFORMED);
	/* another hub's name */
	uint8_t other[16];
	memcpy(other, ORIGIN, 16);
	struct d4_fed_wrec r2 = frame(D4_TLP_GREEN, 8, NULL);
	r2.prov.nvia = 0;
	size_t len2;
	uint8_t *b2 = encode(D4_FED_KIND_FRAMES, other, &r2, 1, &len2);
	ck_assert_int_eq(d4_fed_receive_prepare(&self, p, D4_FED_KIND_FRAMES, b2, len2, &rx, why, sizeof(why)),
			 D4_FED_RX_SENDER);
	/* a kind the partner's inbound rule does not take */
	p->in.kinds = 1u << D4_FED_KIND_PDNS;
	ck_assert_int_eq(d4_fed_receive_prepare(&self, p, D4_FED_KIND_FRAMES, b, len, &rx, why, sizeof(why)),
			 D4_FED_RX_NOT_ACCEPTED);
	ck_assert_int_eq(d4_fed_receive_prepare(&self, NULL, D4_FED_KIND_FRAMES, b, len, &rx, why, sizeof(why)),
			 D4_EINVAL);
	ck_assert_str_eq(d4_fed_rx_refusal_name(D4_FED_RX_SENDER), "wrong-sender");
	ck_assert_str_eq(d4_fed_rx_refusal_name(D4_FED_RX_COUNT), "invalid");
	free(b);
	free(b2);
	free(p);
}
END_TEST

static int only_type_8(void *arg, uint8_t type, const char *ext, size_t ext_len)
{
	(*(int *)arg)++;
	(void)ext;
	(void)ext_len;
	return type == 8;
}

START_TEST(test_type_filter)
{
	struct d4_fed_self self = self_of();
	struct d4_partner *p = partner_new(1u << D4_FED_KIND_FRAMES);
	struct d4_fed_wrec recs[3] = {frame(D4_TLP_GREEN, 8, NULL), frame(D4_TLP_GREEN, 3, NULL),
				      frame(D4_TLP_RED, 3, NULL)};
	size_t len;
	uint8_t *b = encode(D4_FED_KIND_FRAMES, SENDER, recs, 3, &len);
	int calls = 0;
	struct d4_fed_rx_filter f = {only_type_8, &calls, NULL};
	struct d4_fed_rx rx;
	ck_assert_int_eq(d4_fed_receive_prepare_with(&self, p, D4_FED_KIND_FRAMES, b, len, &f, &rx, NULL, 0),
			 D4_FED_RX_OK);
	ck_assert_uint_eq(rx.batch.nframes, 1);
	ck_assert_uint_eq(rx.batch.frames[0].type, 8);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_TYPE], 1);
	/* the inbound rule first: a red frame is refused as red, never asked about */
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_RED], 1);
	ck_assert_int_eq(calls, 2); /* both candidates, once: the second pass reuses the first's decisions */
	d4_fed_rx_free(&rx);
	/* everything refused: nothing to store, the position still moves */
	p->in.max_tlp = D4_TLP_CLEAR;
	ck_assert_int_eq(d4_fed_receive_prepare(&self, p, D4_FED_KIND_FRAMES, b, len, &rx, NULL, 0), D4_FED_RX_OK);
	ck_assert_uint_eq(rx.batch.nframes, 0);
	ck_assert_ptr_null(rx.batch.frames);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_ABOVE_TLP], 2);
	ck_assert_uint_eq(rx.batch.to_len, 1);
	d4_fed_rx_free(&rx);
	free(b);
	free(p);
}
END_TEST

/* ---- signed provenance ---- */

struct keys {
	uint8_t pk[3][32], sk[3][64]; /* 0 ORIGIN, 1 SENDER, 2 SELF */
};
static void keys_make(struct keys *k)
{
	for (int i = 0; i < 3; i++) {
		uint8_t seed[32];
		memset(seed, 0x11 * (i + 1), sizeof(seed));
		ck_assert_int_eq(d4_fed_sign_keypair(seed, k->pk[i], k->sk[i]), 0);
	}
}

/* r signed with sk as if by its origin (whatever it is): encoded once
 * into a batch whose sender is r's origin, decoded back. */
static void sign_as(struct d4_fed_wrec *r, uint8_t kind, const uint8_t sk[64])
{
	struct d4_fed_wbuf w;
	memset(&w, 0, sizeof(w));
	w.sign_sk = sk;
	r->prov.flags |= D4_FED_F_SIGNED;
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, kind, r->prov.origin, NULL, 0), 0);
	ck_assert_int_eq(d4_fed_wbuf_add(&w, r), 0);
	const uint8_t *out;
	size_t len;
	ck_assert_int_eq(d4_fed_wbuf_finish(&w, NULL, 0, &out, &len), 0);
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	struct d4_fed_wrec back;
	ck_assert_int_eq(d4_fed_batch_open(out, len, &h, &it), 0);
	ck_assert_int_eq(d4_fed_batch_next(&it, &back), 1);
	memcpy(r->prov.sig, back.prov.sig, 64);
	d4_fed_wbuf_free(&w);
}

/* The filter's key lookup: ORIGIN's key (pk[0]) when known. */
struct kl {
	const struct keys *k;
	int known, must;
	const uint8_t *wrong; /* a key to answer instead */
};
static int key_of(void *arg, const uint8_t hub[16], uint8_t pk[32], uint8_t *must_sign)
{
	struct kl *l = arg;
	if (!l->known || memcmp(hub, ORIGIN, 16) != 0)
		return 0;
	memcpy(pk, l->wrong ? l->wrong : l->k->pk[0], 32);
	*must_sign = (uint8_t)l->must;
	return 1;
}

/* prepare with the key lookup; the refusal counts in ref[] */
static uint32_t rx_run(const struct d4_partner *p, struct kl *l, const uint8_t *b, size_t len, uint64_t *ref,
		       struct d4_fed_rx *rx)
{
	struct d4_fed_self self = self_of();
	struct d4_fed_rx_filter f = {NULL, l, key_of};
	ck_assert_int_eq(d4_fed_receive_prepare_with(&self, p, D4_FED_KIND_FRAMES, b, len, &f, rx, NULL, 0),
			 D4_FED_RX_OK);
	for (int i = 0; i < D4_FED_IN_COUNT; i++)
		ref[i] = rx->batch.refused[i];
	return (uint32_t)rx->batch.nframes;
}

START_TEST(test_signed_codec)
{
	struct keys k;
	keys_make(&k);
	/* the sender's own record, signed by the encoder; the path is not signed */
	struct d4_fed_wrec r = frame(D4_TLP_GREEN, 254, "x");
	memcpy(r.prov.origin, SENDER, 16);
	r.prov.nvia = 0;
	r.prov.flags = D4_FED_F_SIGNED | D4_FED_F_ONWARD;
	struct d4_fed_wbuf w;
	memset(&w, 0, sizeof(w));
	w.sign_sk = k.sk[1];
	ck_assert_int_eq(d4_fed_wbuf_begin(&w, D4_FED_KIND_FRAMES, SENDER, NULL, 0), 0);
	ck_assert_int_eq(d4_fed_wbuf_add(&w, &r), 0);
	const uint8_t *out;
	size_t len;
	ck_assert_int_eq(d4_fed_wbuf_finish(&w, NULL, 0, &out, &len), 0);
	uint8_t *b = malloc(len);
	memcpy(b, out, len);
	d4_fed_wbuf_free(&w);
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	struct d4_fed_wrec g;
	ck_assert_int_eq(d4_fed_batch_open(b, len, &h, &it), 0);
	ck_assert_int_eq(d4_fed_batch_next(&it, &g), 1);
	ck_assert_uint_eq(g.prov.flags, D4_FED_F_SIGNED | D4_FED_F_ONWARD);
	ck_assert(d4_fed_record_verify(&g.prov, k.pk[1]));
	ck_assert(!d4_fed_record_verify(&g.prov, k.pk[0]));
	/* every byte of the record changed: refused by the decoder or by the
	 * signature, except the path's and the signature's own bytes (the
	 * signature bytes fail verification too) */
	/* the record starts after the header (magic .. nrecords, empty positions) */
	size_t start = 4 + 1 + 1 + 16 + 2 + 2 + 4;
	size_t verified_ok = 0;
	for (size_t i = start; i < len; i++) {
		b[i] ^= 0x01;
		struct d4_fed_wrec t;
		int ok = d4_fed_batch_open(b, len, &h, &it) == 0 && d4_fed_batch_next(&it, &t) == 1 &&
			 d4_fed_batch_next(&it, &t) == 0;
		if (ok && (t.prov.flags & D4_FED_F_SIGNED) && d4_fed_record_verify(&t.prov, k.pk[1]))
			verified_ok++;
		b[i] ^= 0x01;
	}
	ck_assert_uint_eq(verified_ok, 0);
	/* the same record relayed with a longer path still verifies */
	g.prov.nvia = 2;
	memcpy(g.prov.via[0], SENDER, 16);
	memcpy(g.prov.via[1], SELF, 16);
	struct d4_fed_wbuf w2;
	memset(&w2, 0, sizeof(w2));
	w2.sign_sk = k.sk[2]; /* the relaying hub's key: not used, the origin is another */
	ck_assert_int_eq(d4_fed_wbuf_begin(&w2, D4_FED_KIND_FRAMES, SELF, NULL, 0), 0);
	ck_assert_int_eq(d4_fed_wbuf_add(&w2, &g), 0);
	ck_assert_int_eq(d4_fed_wbuf_finish(&w2, NULL, 0, &out, &len), 0);
	ck_assert_int_eq(d4_fed_batch_open(out, len, &h, &it), 0);
	ck_assert_int_eq(d4_fed_batch_next(&it, &g), 1);
	ck_assert(d4_fed_record_verify(&g.prov, k.pk[1]));
	d4_fed_wbuf_free(&w2);
	/* the key's text form */
	char b64[D4_FED_PUBKEY_B64_LEN + 1];
	uint8_t back[32];
	d4_fed_pubkey_b64(k.pk[0], b64);
	ck_assert_uint_eq(strlen(b64), D4_FED_PUBKEY_B64_LEN);
	ck_assert_int_eq(d4_fed_pubkey_parse(b64, back), 0);
	ck_assert_mem_eq(back, k.pk[0], 32);
	b64[10] = '*';
	ck_assert_int_eq(d4_fed_pubkey_parse(b64, back), D4_EINVAL);
	ck_assert_int_eq(d4_fed_pubkey_parse("AAAA", back), D4_EINVAL);
	free(b);
}
END_TEST

START_TEST(test_signatures_on_receipt)
{
	struct keys k;
	keys_make(&k);
	struct d4_partner *p = partner_new(1u << D4_FED_KIND_FRAMES);
	p->in.max_tlp = D4_TLP_AMBER;
	/* records relayed by SENDER from ORIGIN: 0 signed by the origin (onward),
	 * 1 re-signed by the sender as if from the origin, 2 unsigned, 3 signed
	 * by the origin and then changed (its payload), 4 the sender's own,
	 * signed by it, 5 the sender's own, unsigned */
	static const uint8_t other[] = "another payload";
	struct d4_fed_wrec r[6];
	for (int i = 0; i < 6; i++)
		r[i] = frame(D4_TLP_GREEN, 8, NULL);
	r[0].prov.flags = D4_FED_F_ONWARD;
	sign_as(&r[0], D4_FED_KIND_FRAMES, k.sk[0]);
	sign_as(&r[1], D4_FED_KIND_FRAMES, k.sk[1]);
	sign_as(&r[3], D4_FED_KIND_FRAMES, k.sk[0]);
	r[3].payload = other;
	r[3].size = sizeof(other) - 1;
	for (int i = 4; i < 6; i++) {
		memcpy(r[i].prov.origin, SENDER, 16);
		r[i].prov.nvia = 0;
	}
	r[4].prov.flags = D4_FED_F_ONWARD;
	sign_as(&r[4], D4_FED_KIND_FRAMES, k.sk[1]);
	size_t len;
	uint8_t *b = encode(D4_FED_KIND_FRAMES, SENDER, r, 6, &len);
	uint64_t ref[D4_FED_IN_COUNT];
	struct d4_fed_rx rx;

	/* nothing required, no key known: everything kept, the signatures with
	 * it; onward believed only where the sender is the origin */
	struct kl l = {&k, 0, 0, NULL};
	ck_assert_uint_eq(rx_run(p, &l, b, len, ref, &rx), 6);
	ck_assert_uint_eq(rx.batch.frames[0].sig_flags, D4_STORE_FED_SIG_SIGNED); /* unverified: no onward */
	ck_assert_mem_eq(rx.batch.frames[0].sig, r[0].prov.sig, 64);
	ck_assert_uint_eq(rx.batch.frames[2].sig_flags, 0);
	ck_assert_uint_eq(rx.batch.frames[4].sig_flags, D4_STORE_FED_SIG_SIGNED | D4_STORE_FED_SIG_ONWARD);
	d4_fed_rx_free(&rx);

	/* the origin's key known (not required): the forged and the changed
	 * records refused, the unsigned kept, onward of a verified one kept */
	l.known = 1;
	ck_assert_uint_eq(rx_run(p, &l, b, len, ref, &rx), 4);
	ck_assert_uint_eq(ref[D4_FED_IN_BAD_SIG], 2);
	ck_assert_uint_eq(rx.batch.frames[0].sig_flags, D4_STORE_FED_SIG_SIGNED | D4_STORE_FED_SIG_ONWARD);
	d4_fed_rx_free(&rx);

	/* the sender must sign and its key is known: the unsigned ones refused too */
	p->has_pubkey = 1;
	memcpy(p->pubkey, k.pk[1], 32);
	p->must_sign = 1;
	ck_assert_uint_eq(rx_run(p, &l, b, len, ref, &rx), 2);
	ck_assert_uint_eq(ref[D4_FED_IN_BAD_SIG], 2);
	ck_assert_uint_eq(ref[D4_FED_IN_UNSIGNED], 2);
	d4_fed_rx_free(&rx);

	/* ... and the origin's key unknown: its signed records cannot be
	 * checked, refused (unknown-signer) */
	l.known = 0;
	ck_assert_uint_eq(rx_run(p, &l, b, len, ref, &rx), 1);
	ck_assert_uint_eq(ref[D4_FED_IN_UNKNOWN_KEY], 3);
	ck_assert_uint_eq(ref[D4_FED_IN_UNSIGNED], 2);
	d4_fed_rx_free(&rx);

	/* a wrong key for the origin (the sender's): the origin's own
	 * signatures fail, the forgery by the sender "verifies" -- which is why
	 * keys are exchanged out of band, never learnt from a relaying hub */
	l.known = 1;
	l.wrong = k.pk[1];
	ck_assert_uint_eq(rx_run(p, &l, b, len, ref, &rx), 2);
	ck_assert_uint_eq(ref[D4_FED_IN_BAD_SIG], 2);
	d4_fed_rx_free(&rx);

	/* the origin must sign (its key's record says so), the sender not:
	 * the unsigned relayed record refused, the sender's unsigned own kept */
	l.wrong = NULL;
	l.must = 1;
	p->must_sign = 0;
	ck_assert_uint_eq(rx_run(p, &l, b, len, ref, &rx), 3);
	ck_assert_uint_eq(ref[D4_FED_IN_BAD_SIG], 2);
	ck_assert_uint_eq(ref[D4_FED_IN_UNSIGNED], 1);
	d4_fed_rx_free(&rx);

	/* a vector: its signature and the verified consent kept with it (the
	 * store's vector record v2), so that it can be relayed as it came */
	struct d4_partner *pv = partner_new(1u << D4_FED_KIND_BACKSCATTER);
	pv->has_pubkey = 1;
	memcpy(pv->pubkey, k.pk[1], 32);
	pv->must_sign = 1;
	struct d4_fed_wrec v[2] = {vector(D4_TLP_GREEN, 1, 100), vector(D4_TLP_GREEN, 2, 100)};
	v[0].prov.flags = D4_FED_F_ONWARD;
	sign_as(&v[0], D4_FED_KIND_BACKSCATTER, k.sk[0]); /* the origin's */
	sign_as(&v[1], D4_FED_KIND_BACKSCATTER, k.sk[1]); /* forged by the sender */
	size_t vlen;
	uint8_t *vb = encode(D4_FED_KIND_BACKSCATTER, SENDER, v, 2, &vlen);
	struct d4_fed_self self = self_of();
	struct kl lv = {&k, 1, 0, NULL};
	struct d4_fed_rx_filter fv = {NULL, &lv, key_of};
	ck_assert_int_eq(d4_fed_receive_prepare_with(&self, pv, D4_FED_KIND_BACKSCATTER, vb, vlen, &fv, &rx, NULL, 0),
			 D4_FED_RX_OK);
	ck_assert_uint_eq(rx.batch.nvectors, 1);
	ck_assert_uint_eq(rx.batch.refused[D4_FED_IN_BAD_SIG], 1);
	ck_assert_uint_eq(rx.batch.vectors[0].sig_flags, D4_STORE_FED_SIG_SIGNED | D4_STORE_FED_SIG_ONWARD);
	ck_assert_mem_eq(rx.batch.vectors[0].sig, v[0].prov.sig, 64);
	d4_fed_rx_free(&rx);
	free(vb);
	free(pv);

	/* a wrong key for the sender itself: its own signed record refused */
	memcpy(p->pubkey, k.pk[2], 32);
	ck_assert_uint_eq(rx_run(p, &l, b, len, ref, &rx), 2);
	ck_assert_uint_eq(ref[D4_FED_IN_BAD_SIG], 3);
	d4_fed_rx_free(&rx);
	free(b);
	free(p);
}
END_TEST

TCase *receive_tcase(void)
{
	TCase *tc = tcase_create("receive");
	tcase_add_test(tc, test_frames_kept_and_refused);
	tcase_add_test(tc, test_stripped_and_tuples);
	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_whole_batch_refusals);
	tcase_add_test(tc, test_type_filter);
	tcase_add_test(tc, test_signed_codec);
	tcase_add_test(tc, test_signatures_on_receipt);
	return tc;
}
