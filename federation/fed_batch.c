/* d4hub — federation: the batch on the wire (docs/federation.md "The batch").
 *
 * Decoding is zero-copy through the bounded reader: every length is read
 * before its bytes and checked against what is left, every field against its
 * rule, and the first failure is sticky with a reason. Encoding writes each
 * record once: the header, whose `to` is only known at the end, is written
 * in front of the records into room reserved at begin, so no record is
 * copied twice. Every record added is decoded again from the bytes just
 * written, so the encoder can never produce a batch the decoder refuses
 * (a receiver would refuse it whole, forever). */
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_reader.h"
#include "d4_util.h"

#include <math.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* magic, version, kind, sender, u16 from_len, u16 to_len, u32 nrecords,
 * u16 nseals (version 2) */
#define HDR_FIXED (4u + 1u + 1u + 16u + 2u + 2u + 4u + 2u)
/* A seal on the wire: origin, u32 nleaves, root, sig, u8 flags. */
#define SEAL_SIZE (16u + 4u + 32u + 64u + 1u)
/* A record's reference to its seal: u16 seal, u32 leaf, u8 depth. */
#define SEALREF_SIZE (2u + 4u + 1u)
_Static_assert(D4_FED_PROOF_MAX <= D4_STORE_FED_PROOF_MAX, "a proof the store cannot keep");
/* The smallest record of each kind (every optional part absent, empty
 * strings): bounds nrecords against the bytes before any record is read. */
#define PROV_MIN  6u
#define FRAME_MIN (PROV_MIN + 8u + 1u + 1u + 8u + 8u + 4u)
#define PDNS_MIN  (PROV_MIN + 2u + 2u + 4u + 2u + 8u + 8u + 8u)
/* layout, victim, kind, state, first, last, packets, bytes, nports,
 * ports_distinct, ports_other, telescope_addrs, peak_ppm, 3 rates, flags,
 * updates; each port 2 + 8 */
#define VEC_FIXED   (1u + 16u + 1u + 1u + 8u + 8u + 8u + 8u + 1u + 4u + 8u + 8u + 4u + 24u + 1u + 4u)
#define VEC_MIN	    (PROV_MIN + VEC_FIXED)
#define VEC_PORT    10u
#define VEC_F_EXACT 0x01u /* telescope_exact */
#define VEC_F_EST   0x02u /* est_valid */
#define VEC_F_SMORE 0x04u /* sensors_more */
#define VEC_F_MIXED 0x08u /* org_mixed */
/* layout, server_ip, port, flags, ja3 len, ja3s len, sni len, ja4 len,
 * first, last, count, n_certs (md5s and strings when present; each
 * certificate u32 length + DER) */
#define CERT_FIXED    (1u + 16u + 2u + 1u + 2u + 2u + 1u + 1u + 24u + 1u)
#define CERT_MIN      (PROV_MIN + CERT_FIXED)
#define CERT_F_JA3    0x01u
#define CERT_F_JA3S   0x02u
#define EXT_MAX	      63u
#define RRNAME_MAX    1024u
#define RDATA_MAX     65536u /* D4_PDNS_STORE_RDATA_MAX: longer would be skipped by the store */
#define BAILIWICK_MAX 1024u
#define SENSORS_MAX   8u

static int it_fail(struct d4_fed_batch_it *it, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int it_fail(struct d4_fed_batch_it *it, int err, const char *fmt, ...)
{
	if (it->err)
		return it->err;
	it->err = err;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(it->why, sizeof(it->why), fmt, ap);
	va_end(ap);
	return err;
}

static int is_zero16(const uint8_t *u)
{
	uint8_t a = 0;
	for (int i = 0; i < 16; i++)
		a |= u[i];
	return a == 0;
}

static int real_level(uint8_t t)
{
	return t >= D4_TLP_CLEAR && t <= D4_TLP_RED;
}

/* Valid UTF-8, no NUL. */
static int utf8_ok(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (s[i] == 0)
			return 0;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		size_t k = d4_utf8_seq(s + i, n - i);
		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

/* A canonical presentation name (analyzers/pdns: d4_pdns_name_canon's
 * output): printable ASCII 0x21..0x7e, no upper-case letter, escapes \DDD
 * (<= 255) or \X, absolute (ends with the label separator), no empty label
 * except the root ".", labels <= 63 and the name <= 255 octets in wire
 * form. Returns NULL or what is wrong. */
static const char *name_problem(const uint8_t *s, size_t n)
{
	if (n == 0)
		return "empty";
	if (n == 1 && s[0] == '.')
		return NULL;
	size_t label = 0, wire = 1;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		if (c < 0x21 || c > 0x7e)
			return "a byte outside printable ASCII";
		if (c >= 'A' && c <= 'Z')
			return "an upper-case letter (names are canonical)";
		if (c == '.') {
			if (label == 0)
				return "an empty label";
			wire += label + 1;
			label = 0;
			continue;
		}
		if (c == '\\') {
			if (i + 1 >= n)
				return "a bad escape";
			if (s[i + 1] >= '0' && s[i + 1] <= '9') {
				if (i + 3 >= n || s[i + 2] < '0' || s[i + 2] > '9' || s[i + 3] < '0' || s[i + 3] > '9')
					return "a bad escape";
				unsigned v = (unsigned)(s[i + 1] - '0') * 100 + (unsigned)(s[i + 2] - '0') * 10 +
					     (unsigned)(s[i + 3] - '0');
				if (v > 255)
					return "a bad escape";
				i += 3;
			} else {
				if (s[i + 1] >= 'A' && s[i + 1] <= 'Z')
					return "an upper-case letter (names are canonical)";
				i += 1;
			}
		}
		if (++label > 63)
			return "a label over 63 octets";
	}
	if (label != 0)
		return "not absolute (no final dot)";
	if (wire > 255)
		return "over 255 octets in wire form";
	return NULL;
}

static int rd_uuid_nonzero(struct d4_reader *r, uint8_t out[16])
{
	d4_rd_copy(r, out, 16);
	return !d4_rd_error(r) && !is_zero16(out);
}

static void seal_at(const uint8_t *tab, unsigned i, struct d4_fed_seal *s)
{
	const uint8_t *q = tab + (size_t)i * SEAL_SIZE;
	memcpy(s->origin, q, 16);
	s->nleaves = d4_get_u32be(q + 16);
	memcpy(s->root, q + 20, 32);
	memcpy(s->sig, q + 52, 64);
	s->flags = q[116];
}

static void seal_put(uint8_t *q, const struct d4_fed_seal *s)
{
	memcpy(q, s->origin, 16);
	d4_put_u32be(q + 16, s->nleaves);
	memcpy(q + 20, s->root, 32);
	memcpy(q + 52, s->sig, 64);
	q[116] = s->flags;
}

void d4_fed_batch_seal(const struct d4_fed_batch_hdr *h, unsigned i, struct d4_fed_seal *out)
{
	memset(out, 0, sizeof(*out));
	if (h && h->seals && i < h->nseals)
		seal_at(h->seals, i, out);
}

/* The provenance part of a record. *sig_at: the reader's offset of the
 * nvia byte (the signed part of prov ends there) and *content_at the offset
 * after via and the signature (the signed content starts there). */
static int dec_prov(struct d4_fed_batch_it *it, struct d4_reader *r, struct d4_fed_wprov *p, size_t *via_at,
		    size_t *content_at)
{
	p->tlp = d4_rd_u8(r);
	p->flags = d4_rd_u8(r);
	if (d4_rd_error(r))
		return d4_rd_error(r);
	if (!real_level(p->tlp))
		return it_fail(it, D4_EPROTO, "tlp %u is not a level", p->tlp);
	if (p->flags & ~(D4_FED_F_STRIPPED | D4_FED_F_SIGNED | D4_FED_F_ONWARD | D4_FED_F_SEALED))
		return it_fail(it, D4_EPROTO, "unknown flags 0x%02x", p->flags);
	if ((p->flags & D4_FED_F_SEALED) && it->version < 2)
		return it_fail(it, D4_EPROTO, "a sealed record in a version %u batch", it->version);
	if ((p->flags & D4_FED_F_SEALED) && (p->flags & D4_FED_F_SIGNED))
		return it_fail(it, D4_EPROTO, "a record both signed and sealed");
	int stripped = (p->flags & D4_FED_F_STRIPPED) != 0;

	p->has_org = d4_rd_u8(r);
	if (p->has_org > 1)
		return it_fail(it, D4_EPROTO, "has_org %u", p->has_org);
	if (p->has_org && !rd_uuid_nonzero(r, p->org))
		return d4_rd_error(r) ? d4_rd_error(r) : it_fail(it, D4_EPROTO, "org is the zero uuid");
	p->nsensors = d4_rd_u8(r);
	if (p->nsensors > (it->kind == D4_FED_KIND_FRAMES ? 1u : SENSORS_MAX))
		return it_fail(it, D4_ETOOBIG, "%u sensors", p->nsensors);
	for (unsigned i = 0; i < p->nsensors; i++)
		if (!rd_uuid_nonzero(r, p->sensors[i]))
			return d4_rd_error(r) ? d4_rd_error(r) : it_fail(it, D4_EPROTO, "sensor is the zero uuid");
	p->has_origin = d4_rd_u8(r);
	if (p->has_origin > 1)
		return it_fail(it, D4_EPROTO, "has_origin %u", p->has_origin);
	if (p->has_origin && !rd_uuid_nonzero(r, p->origin))
		return d4_rd_error(r) ? d4_rd_error(r) : it_fail(it, D4_EPROTO, "origin is the zero uuid");
	*via_at = r->off;
	p->nvia = d4_rd_u8(r);
	if (p->nvia > D4_FED_VIA_MAX)
		return it_fail(it, D4_ETOOBIG, "via of %u hubs (at most %u)", p->nvia, D4_FED_VIA_MAX);
	for (unsigned i = 0; i < p->nvia; i++)
		if (!rd_uuid_nonzero(r, p->via[i]))
			return d4_rd_error(r) ? d4_rd_error(r) : it_fail(it, D4_EPROTO, "via holds the zero uuid");
	if (p->flags & D4_FED_F_SIGNED)
		d4_rd_copy(r, p->sig, 64);
	if (p->flags & D4_FED_F_SEALED) {
		p->seal_idx = d4_rd_u16be(r);
		p->leaf = d4_rd_u32be(r);
		p->depth = d4_rd_u8(r);
		if (d4_rd_error(r))
			return d4_rd_error(r);
		if (p->seal_idx >= it->nseals)
			return it_fail(it, D4_EPROTO, "seal %u of %u", p->seal_idx, it->nseals);
		seal_at(it->seals, p->seal_idx, &p->seal);
		if (!p->has_origin || memcmp(p->seal.origin, p->origin, 16) != 0)
			return it_fail(it, D4_EPROTO, "seal %u is another origin's", p->seal_idx);
		if (p->leaf >= p->seal.nleaves)
			return it_fail(it, D4_EPROTO, "leaf %u under a seal of %u", p->leaf, p->seal.nleaves);
		unsigned want =
		    (p->seal.flags & D4_FED_SEAL_WHOLE) ? 0u : d4_fed_merkle_depth(p->leaf, p->seal.nleaves);
		if (p->depth != want)
			return it_fail(it, D4_EPROTO, "a path of %u hashes where %u lead to the root", p->depth, want);
		p->path = d4_rd_ptr(r, 32u * p->depth);
	}
	*content_at = r->off;
	if (d4_rd_error(r))
		return d4_rd_error(r);
	if (stripped && (p->has_org || p->nsensors || p->has_origin || p->nvia))
		return it_fail(it, D4_EPROTO, "a stripped record carries org, sensors, origin or via");
	/* a signature names its origin, which a stripped record must not */
	if (stripped && (p->flags & (D4_FED_F_SIGNED | D4_FED_F_ONWARD | D4_FED_F_SEALED)))
		return it_fail(it, D4_EPROTO, "a stripped record carries a signature or the onward flag");
	/* Only a stripped record has no origin: without it, loops cannot be
	 * recognised further on. */
	if (!stripped && !p->has_origin)
		return it_fail(it, D4_EPROTO, "a record that is not stripped names no origin");
	return 0;
}

static int dec_frame(struct d4_fed_batch_it *it, struct d4_reader *r, struct d4_fed_wrec *w)
{
	w->origin_session = d4_rd_u64be(r);
	w->type = d4_rd_u8(r);
	uint8_t n = d4_rd_u8(r);
	if (!d4_rd_error(r) && n > EXT_MAX)
		return it_fail(it, D4_ETOOBIG, "ext_type of %u bytes (at most %u)", n, EXT_MAX);
	const uint8_t *e = d4_rd_ptr(r, n);
	if (d4_rd_error(r))
		return d4_rd_error(r);
	for (unsigned i = 0; i < n; i++)
		if (e[i] < 0x21 || e[i] > 0x7e)
			return it_fail(it, D4_EPROTO, "ext_type byte 0x%02x is not printable ASCII", e[i]);
	w->ext_type = n ? (const char *)e : NULL;
	w->ext_type_len = n;
	w->hdr_ts = d4_rd_u64be(r);
	w->recv_ms = d4_rd_u64be(r);
	w->size = d4_rd_u32be(r);
	if (d4_rd_error(r))
		return d4_rd_error(r);
	if (w->size > d4_rd_left(r))
		return it_fail(it, D4_ETRUNC, "payload of %u bytes, %zu left", w->size, d4_rd_left(r));
	w->payload = d4_rd_ptr(r, w->size);
	return d4_rd_error(r);
}

static int dec_pdns(struct d4_fed_batch_it *it, struct d4_reader *r, struct d4_fed_wrec *w)
{
	uint16_t n = d4_rd_u16be(r);
	if (!d4_rd_error(r) && (n == 0 || n > RRNAME_MAX))
		return it_fail(it, n ? D4_ETOOBIG : D4_EPROTO, "rrname of %u bytes (1..%u)", n, RRNAME_MAX);
	const uint8_t *s = d4_rd_ptr(r, n);
	if (d4_rd_error(r))
		return d4_rd_error(r);
	const char *why = name_problem(s, n);
	if (why)
		return it_fail(it, D4_EPROTO, "rrname: %s", why);
	w->rrname = (const char *)s;
	w->rrname_len = n;
	w->rrtype = d4_rd_u16be(r);
	if (!d4_rd_error(r) && w->rrtype == 0)
		return it_fail(it, D4_EPROTO, "rrtype 0");
	uint32_t m = d4_rd_u32be(r);
	if (!d4_rd_error(r) && m > RDATA_MAX)
		return it_fail(it, D4_ETOOBIG, "rdata of %u bytes (at most %u)", m, RDATA_MAX);
	if (!d4_rd_error(r) && m > d4_rd_left(r))
		return it_fail(it, D4_ETRUNC, "rdata of %u bytes, %zu left", m, d4_rd_left(r));
	s = d4_rd_ptr(r, m);
	if (d4_rd_error(r))
		return d4_rd_error(r);
	if (!utf8_ok(s, m))
		return it_fail(it, D4_EPROTO, "rdata is not UTF-8 without NUL");
	w->rdata = (const char *)s;
	w->rdata_len = m;
	n = d4_rd_u16be(r);
	if (!d4_rd_error(r) && n > BAILIWICK_MAX)
		return it_fail(it, D4_ETOOBIG, "bailiwick of %u bytes (at most %u)", n, BAILIWICK_MAX);
	s = d4_rd_ptr(r, n);
	if (d4_rd_error(r))
		return d4_rd_error(r);
	if (!utf8_ok(s, n))
		return it_fail(it, D4_EPROTO, "bailiwick is not UTF-8 without NUL");
	w->bailiwick = n ? (const char *)s : NULL;
	w->bailiwick_len = n;
	w->time_first = d4_rd_u64be(r);
	w->time_last = d4_rd_u64be(r);
	w->count = d4_rd_u64be(r);
	if (d4_rd_error(r))
		return d4_rd_error(r);
	if (w->time_first > w->time_last)
		return it_fail(it, D4_EPROTO, "time_first %llu after time_last %llu", (unsigned long long)w->time_first,
			       (unsigned long long)w->time_last);
	if (w->count == 0)
		return it_fail(it, D4_EPROTO, "count 0");
	return 0;
}

static double rd_f64(struct d4_reader *r)
{
	uint64_t b = d4_rd_u64be(r);
	double d;
	memcpy(&d, &b, sizeof(d));
	return d;
}

static uint8_t *put_f64(uint8_t *q, double d)
{
	uint64_t b;
	memcpy(&b, &d, sizeof(b));
	d4_put_u64be(q, b);
	return q + 8;
}

/* A rate: finite and not negative (NaN, infinities and negative values
 * are no rate any aggregator writes). */
static int rate_ok(double d)
{
	return isfinite(d) && d >= 0.0;
}

/* A backscatter vector. Every field is checked against what an aggregator
 * can produce: a vector a receiver could not tell from a real one is
 * refused, whatever the sender's software did. */
static int dec_vec(struct d4_fed_batch_it *it, struct d4_reader *r, struct d4_fed_wrec *w)
{
	struct d4_fed_wvec *v = &w->vec;
	uint8_t ver = d4_rd_u8(r);
	if (!d4_rd_error(r) && ver != D4_FED_VEC_VER)
		return it_fail(it, D4_EPROTO, "vector layout %u (this hub reads %u)", ver, D4_FED_VEC_VER);
	d4_rd_copy(r, v->victim, 16);
	v->kind = d4_rd_u8(r);
	v->state = d4_rd_u8(r);
	if (d4_rd_error(r))
		return d4_rd_error(r);
	if (v->kind == 0 || v->kind >= D4_STORE_BS_KINDS)
		return it_fail(it, D4_EPROTO, "backscatter kind %u (1..%u)", v->kind, D4_STORE_BS_KINDS - 1);
	if (v->state != 1 && v->state != 2)
		return it_fail(it, D4_EPROTO, "vector state %u (1 ongoing, 2 closed)", v->state);
	v->first_us = d4_rd_u64be(r);
	v->last_us = d4_rd_u64be(r);
	v->packets = d4_rd_u64be(r);
	v->bytes = d4_rd_u64be(r);
	v->n_ports = d4_rd_u8(r);
	if (d4_rd_error(r))
		return d4_rd_error(r);
	if (v->first_us > v->last_us)
		return it_fail(it, D4_EPROTO, "first_us %llu after last_us %llu", (unsigned long long)v->first_us,
			       (unsigned long long)v->last_us);
	if (v->packets == 0)
		return it_fail(it, D4_EPROTO, "a vector of 0 packets");
	if (v->n_ports > D4_STORE_BS_TOP_PORTS)
		return it_fail(it, D4_ETOOBIG, "%u ports (at most %u)", v->n_ports, D4_STORE_BS_TOP_PORTS);
	/* every packet is counted once, at one port or in ports_other */
	uint64_t sum = 0;
	for (unsigned i = 0; i < v->n_ports; i++) {
		v->ports[i].port = d4_rd_u16be(r);
		v->ports[i].packets = d4_rd_u64be(r);
		if (d4_rd_error(r))
			return d4_rd_error(r);
		if (v->ports[i].packets == 0)
			return it_fail(it, D4_EPROTO, "port %u with 0 packets", v->ports[i].port);
		for (unsigned j = 0; j < i; j++)
			if (v->ports[j].port == v->ports[i].port)
				return it_fail(it, D4_EPROTO, "port %u listed twice", v->ports[i].port);
		if (v->ports[i].packets > v->packets - sum)
			return it_fail(it, D4_EPROTO, "port counts above the vector's packets");
		sum += v->ports[i].packets;
	}
	v->ports_distinct = d4_rd_u32be(r);
	v->ports_other = d4_rd_u64be(r);
	v->telescope_addrs = d4_rd_u64be(r);
	v->peak_ppm = d4_rd_u32be(r);
	v->observed_pps = rd_f64(r);
	v->est_pps = rd_f64(r);
	v->est_peak_pps = rd_f64(r);
	uint8_t f = d4_rd_u8(r);
	v->updates = d4_rd_u32be(r);
	if (d4_rd_error(r))
		return d4_rd_error(r);
	if (v->ports_distinct < v->n_ports || v->ports_distinct > 65536u)
		return it_fail(it, D4_EPROTO, "ports_distinct %u with %u ports listed", v->ports_distinct, v->n_ports);
	if (v->ports_other > v->packets - sum)
		return it_fail(it, D4_EPROTO, "ports_other above the vector's packets");
	if (v->peak_ppm > v->packets)
		return it_fail(it, D4_EPROTO, "peak of %u packets/minute in a vector of %llu packets", v->peak_ppm,
			       (unsigned long long)v->packets);
	if (!rate_ok(v->observed_pps) || !rate_ok(v->est_pps) || !rate_ok(v->est_peak_pps))
		return it_fail(it, D4_EPROTO, "a rate that is not a finite number >= 0");
	if (f & ~(VEC_F_EXACT | VEC_F_EST | VEC_F_SMORE | VEC_F_MIXED))
		return it_fail(it, D4_EPROTO, "unknown vector flags 0x%02x", f);
	v->telescope_exact = (f & VEC_F_EXACT) ? 1 : 0;
	v->est_valid = (f & VEC_F_EST) ? 1 : 0;
	v->sensors_more = (f & VEC_F_SMORE) ? 1 : 0;
	v->org_mixed = (f & VEC_F_MIXED) ? 1 : 0;
	/* that there were more sensors or orgs is about the source too */
	if ((w->prov.flags & D4_FED_F_STRIPPED) && (v->sensors_more || v->org_mixed))
		return it_fail(it, D4_EPROTO, "a stripped vector says sensors_more or org_mixed");
	return 0;
}

/* A JA3/JA3S string: decimal numbers joined by ',' and '-' (possibly
 * empty fields), and its MD5 the one the record gives. */
static int ja3_ok(const uint8_t *s, size_t n, const uint8_t md5[16])
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || s[i] == ',' || s[i] == '-'))
			return 0;
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned dl = 0;
	/* MD5 is what JA3 is defined with; a mismatch is a record that lies */
	if (!EVP_Digest(s, n, d, &dl, EVP_md5(), NULL) || dl != 16)
		return 0;
	return memcmp(d, md5, 16) == 0;
}

/* The outer DER SEQUENCE of a certificate covers exactly n bytes (a
 * definite length in its minimal form); the receiver parses the rest. */
static int der_seq_ok(const uint8_t *d, size_t n)
{
	if (n < 2 || d[0] != 0x30)
		return 0;
	if (d[1] < 0x80)
		return (size_t)d[1] + 2 == n;
	unsigned k = d[1] & 0x7fu;
	if (k == 0 || k > 3 || n < 2u + k || d[2] == 0)
		return 0;
	size_t l = 0;
	for (unsigned i = 0; i < k; i++)
		l = (l << 8) | d[2 + i];
	if (l < 0x80)
		return 0;
	return l + 2u + k == n;
}

/* A certs record: a handshake tuple and its chain. Every length is
 * bounded by what the store keeps; a JA3 string must hash to its MD5; no
 * parsed certificate field travels (the receiver parses the DER). */
static int dec_cert(struct d4_fed_batch_it *it, struct d4_reader *r, struct d4_fed_wrec *w)
{
	struct d4_fed_wcert *c = &w->cert;
	uint8_t ver = d4_rd_u8(r);
	if (!d4_rd_error(r) && ver != D4_FED_CERT_VER)
		return it_fail(it, D4_EPROTO, "certs layout %u (this hub reads %u)", ver, D4_FED_CERT_VER);
	d4_rd_copy(r, c->server_ip, 16);
	c->server_port = d4_rd_u16be(r);
	uint8_t f = d4_rd_u8(r);
	if (d4_rd_error(r))
		return d4_rd_error(r);
	if (c->server_port == 0)
		return it_fail(it, D4_EPROTO, "server port 0");
	if (f & ~(CERT_F_JA3 | CERT_F_JA3S))
		return it_fail(it, D4_EPROTO, "unknown certs flags 0x%02x", f);
	c->has_ja3 = (f & CERT_F_JA3) ? 1 : 0;
	c->has_ja3s = (f & CERT_F_JA3S) ? 1 : 0;
	if (c->has_ja3)
		d4_rd_copy(r, c->ja3_md5, 16);
	if (c->has_ja3s)
		d4_rd_copy(r, c->ja3s_md5, 16);
	for (int k = 0; k < 2; k++) {
		uint16_t n = d4_rd_u16be(r);
		if (d4_rd_error(r))
			return d4_rd_error(r);
		int has = k ? c->has_ja3s : c->has_ja3;
		if (n > D4_FED_JA3_MAX)
			return it_fail(it, D4_ETOOBIG, "%s string of %u bytes (at most %u)", k ? "ja3s" : "ja3", n,
				       D4_FED_JA3_MAX);
		if (n && !has)
			return it_fail(it, D4_EPROTO, "a %s string without its MD5", k ? "ja3s" : "ja3");
		const uint8_t *p = d4_rd_ptr(r, n);
		if (d4_rd_error(r))
			return d4_rd_error(r);
		if (n && !ja3_ok(p, n, k ? c->ja3s_md5 : c->ja3_md5))
			return it_fail(it, D4_EPROTO, "the %s string is not one or not of its MD5", k ? "ja3s" : "ja3");
		if (k) {
			c->ja3s = n ? (const char *)p : NULL;
			c->ja3s_len = n;
		} else {
			c->ja3 = n ? (const char *)p : NULL;
			c->ja3_len = n;
		}
	}
	uint8_t n = d4_rd_u8(r);
	const uint8_t *p = d4_rd_ptr(r, n);
	if (d4_rd_error(r))
		return d4_rd_error(r);
	for (unsigned i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7e || (p[i] >= 'A' && p[i] <= 'Z'))
			return it_fail(it, D4_EPROTO, "sni byte 0x%02x (printable ASCII, lower case)", p[i]);
	c->sni = n ? (const char *)p : NULL;
	c->sni_len = n;
	n = d4_rd_u8(r);
	if (!d4_rd_error(r) && n > D4_FED_JA4_MAX)
		return it_fail(it, D4_ETOOBIG, "ja4 of %u bytes (at most %u)", n, D4_FED_JA4_MAX);
	p = d4_rd_ptr(r, n);
	if (d4_rd_error(r))
		return d4_rd_error(r);
	for (unsigned i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'z') || p[i] == '_'))
			return it_fail(it, D4_EPROTO, "ja4 byte 0x%02x (0-9, a-z, _)", p[i]);
	c->ja4 = n ? (const char *)p : NULL;
	c->ja4_len = n;
	c->time_first = d4_rd_u64be(r);
	c->time_last = d4_rd_u64be(r);
	c->count = d4_rd_u64be(r);
	c->n_certs = d4_rd_u8(r);
	if (d4_rd_error(r))
		return d4_rd_error(r);
	if (c->time_first > c->time_last)
		return it_fail(it, D4_EPROTO, "time_first %llu after time_last %llu", (unsigned long long)c->time_first,
			       (unsigned long long)c->time_last);
	if (c->count == 0)
		return it_fail(it, D4_EPROTO, "count 0");
	if (c->n_certs > D4_FED_CERT_CHAIN)
		return it_fail(it, D4_ETOOBIG, "a chain of %u certificates (at most %u)", c->n_certs,
			       D4_FED_CERT_CHAIN);
	for (unsigned i = 0; i < c->n_certs; i++) {
		uint32_t l = d4_rd_u32be(r);
		if (d4_rd_error(r))
			return d4_rd_error(r);
		if (l == 0 || l > D4_FED_CERT_DER)
			return it_fail(it, l ? D4_ETOOBIG : D4_EPROTO, "certificate %u of %u bytes (1..%u)", i, l,
				       D4_FED_CERT_DER);
		if (l > d4_rd_left(r))
			return it_fail(it, D4_ETRUNC, "certificate %u of %u bytes, %zu left", i, l, d4_rd_left(r));
		const uint8_t *d = d4_rd_ptr(r, l);
		if (d4_rd_error(r))
			return d4_rd_error(r);
		if (!der_seq_ok(d, l))
			return it_fail(it, D4_EPROTO, "certificate %u is not one DER SEQUENCE", i);
		c->certs[i].der = d;
		c->certs[i].len = l;
	}
	return 0;
}

int d4_fed_batch_open(const uint8_t *buf, size_t len, struct d4_fed_batch_hdr *h, struct d4_fed_batch_it *it)
{
	if (!it)
		return D4_EINVAL;
	memset(it, 0, sizeof(*it));
	if (h)
		memset(h, 0, sizeof(*h));
	if (!h || (!buf && len))
		return it_fail(it, D4_EINVAL, "no buffer");
	if (len > D4_FED_BATCH_MAX)
		return it_fail(it, D4_ETOOBIG, "%zu bytes (at most %u)", len, D4_FED_BATCH_MAX);
	struct d4_reader r;
	d4_rd_init(&r, buf, len);
	const uint8_t *m = d4_rd_ptr(&r, 4);
	if (m && memcmp(m, D4_FED_BATCH_MAGIC, 4) != 0)
		return it_fail(it, D4_EPROTO, "not a batch (magic)");
	uint8_t ver = d4_rd_u8(&r);
	if (!d4_rd_error(&r) && (ver < 1 || ver > D4_FED_BATCH_VER))
		return it_fail(it, D4_EPROTO, "version %u (this hub reads 1 and %u)", ver, D4_FED_BATCH_VER);
	h->version = ver;
	h->kind = d4_rd_u8(&r);
	if (!d4_rd_error(&r) && h->kind != D4_FED_KIND_FRAMES && h->kind != D4_FED_KIND_PDNS &&
	    h->kind != D4_FED_KIND_BACKSCATTER && h->kind != D4_FED_KIND_CERTS)
		return it_fail(it, D4_EPROTO, "kind %u has no record layout", h->kind);
	d4_rd_copy(&r, h->sender, 16);
	if (!d4_rd_error(&r) && is_zero16(h->sender))
		return it_fail(it, D4_EPROTO, "sender is the zero uuid");
	h->from_len = d4_rd_u16be(&r);
	if (!d4_rd_error(&r) && h->from_len > D4_FED_POS_MAX)
		return it_fail(it, D4_ETOOBIG, "from position of %zu bytes", h->from_len);
	h->from = d4_rd_ptr(&r, h->from_len);
	h->to_len = d4_rd_u16be(&r);
	if (!d4_rd_error(&r) && h->to_len > D4_FED_POS_MAX)
		return it_fail(it, D4_ETOOBIG, "to position of %zu bytes", h->to_len);
	h->to = d4_rd_ptr(&r, h->to_len);
	h->nrecords = d4_rd_u32be(&r);
	h->nseals = ver >= 2 ? d4_rd_u16be(&r) : 0;
	if (d4_rd_error(&r))
		return it_fail(it, d4_rd_error(&r), "header truncated");
	if (h->from_len == 0)
		h->from = NULL;
	if (h->nseals > D4_FED_SEALS_MAX)
		return it_fail(it, D4_ETOOBIG, "%u seals (at most %u)", h->nseals, D4_FED_SEALS_MAX);
	if ((size_t)h->nseals * SEAL_SIZE > d4_rd_left(&r))
		return it_fail(it, D4_ETRUNC, "%u seals cannot fit in %zu bytes", h->nseals, d4_rd_left(&r));
	size_t end = len - (size_t)h->nseals * SEAL_SIZE;
	h->seals = h->nseals ? buf + end : NULL;
	/* Each record is under one seal at most: the leaves of the seals
	 * whose records all travel here cannot outnumber the records. */
	uint64_t whole = 0;
	for (unsigned i = 0; i < h->nseals; i++) {
		struct d4_fed_seal sl;
		seal_at(h->seals, i, &sl);
		if (is_zero16(sl.origin))
			return it_fail(it, D4_EPROTO, "seal %u: origin is the zero uuid", i);
		if (sl.nleaves == 0 || sl.nleaves > D4_FED_LEAVES_MAX)
			return it_fail(it, D4_EPROTO, "seal %u: %u leaves (1..%u)", i, sl.nleaves, D4_FED_LEAVES_MAX);
		if (sl.flags & ~D4_FED_SEAL_WHOLE)
			return it_fail(it, D4_EPROTO, "seal %u: unknown flags 0x%02x", i, sl.flags);
		if (sl.flags & D4_FED_SEAL_WHOLE)
			whole += sl.nleaves;
	}
	if (whole > h->nrecords)
		return it_fail(it, D4_EPROTO, "whole seals of %llu leaves in a batch of %u records",
			       (unsigned long long)whole, h->nrecords);
	size_t min = h->kind == D4_FED_KIND_FRAMES  ? FRAME_MIN
		     : h->kind == D4_FED_KIND_PDNS  ? PDNS_MIN
		     : h->kind == D4_FED_KIND_CERTS ? CERT_MIN
						    : VEC_MIN;
	if ((uint64_t)h->nrecords * min > end - r.off)
		return it_fail(it, D4_ETRUNC, "%u records cannot fit in %zu bytes", h->nrecords, end - r.off);
	it->buf = buf;
	it->len = end;
	it->off = r.off;
	it->kind = h->kind;
	it->left = h->nrecords;
	it->seals = h->seals;
	it->nseals = h->nseals;
	it->version = ver;
	return 0;
}

/* What the origin signs of a record (rec: its first byte; via_at, content_at
 * and end: offsets in it): a context, the kind, the level, the ONWARD flag,
 * org, sensors and origin, and the content; not the path, which grows at
 * every hop, nor the signature. BLAKE2b-256. */
static const char sig_ctx[] = "d4hub federation record v1";

static void record_digest(uint8_t kind, const uint8_t *rec, size_t via_at, size_t content_at, size_t end,
			  uint8_t out[32])
{
	crypto_generichash_state st;
	uint8_t head[3] = {kind, rec[0], (uint8_t)(rec[1] & D4_FED_F_ONWARD)};
	crypto_generichash_init(&st, (const uint8_t *)sig_ctx, sizeof(sig_ctx) - 1, 32);
	crypto_generichash_update(&st, head, 3);
	crypto_generichash_update(&st, rec + 2, via_at - 2);
	crypto_generichash_update(&st, rec + content_at, end - content_at);
	crypto_generichash_final(&st, out, 32);
}

int d4_fed_batch_next(struct d4_fed_batch_it *it, struct d4_fed_wrec *w)
{
	if (!it)
		return D4_EINVAL;
	if (it->err)
		return it->err;
	if (!w)
		return it_fail(it, D4_EINVAL, "no record");
	if (it->left == 0) {
		if (it->off != it->len)
			return it_fail(it, D4_EPROTO, "%zu bytes after the last record", it->len - it->off);
		return 0;
	}
	memset(w, 0, sizeof(*w));
	struct d4_reader r;
	d4_rd_init(&r, it->buf + it->off, it->len - it->off);
	size_t via_at = 0, content_at = 0;
	int rc = dec_prov(it, &r, &w->prov, &via_at, &content_at);
	if (rc == 0)
		rc = it->kind == D4_FED_KIND_FRAMES  ? dec_frame(it, &r, w)
		     : it->kind == D4_FED_KIND_PDNS  ? dec_pdns(it, &r, w)
		     : it->kind == D4_FED_KIND_CERTS ? dec_cert(it, &r, w)
						     : dec_vec(it, &r, w);
	if (rc == 0 &&
	    ((w->prov.flags & D4_FED_F_SIGNED) || ((w->prov.flags & D4_FED_F_SEALED) && !it->no_seal_digest)))
		record_digest(it->kind, it->buf + it->off, via_at, content_at, r.off, w->prov.digest);
	if (rc != 0) {
		/* Say where: the reason of the field, prefixed with the record. */
		char why[sizeof(it->why)];
		snprintf(why, sizeof(why), "%s", it->err ? it->why : "truncated");
		it->err = 0;
		return it_fail(it, rc, "record at byte %zu: %s", it->off, why);
	}
	it->off += r.off;
	it->left--;
	return 1;
}

/* ---- encoding ---- */

static size_t hdr_reserve(size_t from_len)
{
	return HDR_FIXED + from_len + D4_FED_POS_MAX;
}

static size_t max_of(const struct d4_fed_wbuf *w)
{
	return w->max_bytes && w->max_bytes < D4_FED_BATCH_MAX ? w->max_bytes : D4_FED_BATCH_MAX;
}

static int grow(struct d4_fed_wbuf *w, size_t need)
{
	if (need <= w->cap)
		return 0;
	size_t c = w->cap ? w->cap : 65536;
	while (c < need)
		c *= 2;
	uint8_t *b = realloc(w->buf, c);
	if (!b)
		return D4_ENOMEM;
	w->buf = b;
	w->cap = c;
	return 0;
}

int d4_fed_wbuf_begin(struct d4_fed_wbuf *w, uint8_t kind, const uint8_t sender[16], const uint8_t *from,
		      size_t from_len)
{
	if (!w || !sender ||
	    (kind != D4_FED_KIND_FRAMES && kind != D4_FED_KIND_PDNS && kind != D4_FED_KIND_BACKSCATTER &&
	     kind != D4_FED_KIND_CERTS) ||
	    from_len > D4_FED_POS_MAX || (from_len && !from) || is_zero16(sender))
		return D4_EINVAL;
	/* Copied before the buffer may move: from (and sender) may point into
	 * the batch made before, in w->buf (its `to`). */
	if (from_len)
		memmove(w->from, from, from_len);
	memmove(w->sender, sender, 16);
	w->from_len = from_len;
	w->kind = kind;
	int rc = grow(w, hdr_reserve(from_len));
	if (rc) {
		w->len = 0; /* not begun: add and finish refuse */
		return rc;
	}
	w->nrecords = 0;
	w->start = 0;
	w->len = hdr_reserve(from_len);
	w->nseals = 0;
	w->own_seal = 0;
	w->nleaves = 0;
	return 0;
}

/* The exact size of a record's encoding. */
static size_t rec_size(uint8_t kind, const struct d4_fed_wrec *r)
{
	const struct d4_fed_wprov *p = &r->prov;
	size_t n = PROV_MIN + (p->has_org ? 16u : 0u) + 16 * (size_t)p->nsensors + (p->has_origin ? 16u : 0u) +
		   16 * (size_t)p->nvia + ((p->flags & D4_FED_F_SIGNED) ? 64u : 0u) +
		   ((p->flags & D4_FED_F_SEALED) ? SEALREF_SIZE + 32u * (size_t)p->depth : 0u);
	if (kind == D4_FED_KIND_FRAMES)
		return n + FRAME_MIN - PROV_MIN + r->ext_type_len + r->size;
	if (kind == D4_FED_KIND_BACKSCATTER)
		return n + VEC_FIXED + VEC_PORT * (size_t)r->vec.n_ports;
	if (kind == D4_FED_KIND_CERTS) {
		const struct d4_fed_wcert *c = &r->cert;
		n += CERT_FIXED + (c->has_ja3 ? 16u : 0u) + (c->has_ja3s ? 16u : 0u) + c->ja3_len + c->ja3s_len +
		     c->sni_len + c->ja4_len;
		for (unsigned i = 0; i < c->n_certs && i < D4_FED_CERT_CHAIN; i++)
			n += 4u + c->certs[i].len;
		return n;
	}
	return n + PDNS_MIN - PROV_MIN + r->rrname_len + r->rdata_len + r->bailiwick_len;
}

/* The lengths of a certs record fit their fields (the decoder checks the
 * content): nothing is written otherwise. */
static int cert_lengths_ok(const struct d4_fed_wcert *c)
{
	if (c->ja3_len > D4_FED_JA3_MAX || c->ja3s_len > D4_FED_JA3_MAX || c->sni_len > D4_FED_SNI_MAX ||
	    c->ja4_len > D4_FED_JA4_MAX || c->n_certs > D4_FED_CERT_CHAIN || (c->ja3_len && !c->ja3) ||
	    (c->ja3s_len && !c->ja3s) || (c->sni_len && !c->sni) || (c->ja4_len && !c->ja4))
		return 0;
	for (unsigned i = 0; i < c->n_certs; i++)
		if (c->certs[i].len > D4_FED_CERT_DER || (c->certs[i].len && !c->certs[i].der))
			return 0;
	return 1;
}

int d4_fed_wbuf_add(struct d4_fed_wbuf *w, const struct d4_fed_wrec *r)
{
	if (!w || !r || !w->buf || w->len < hdr_reserve(w->from_len))
		return D4_EINVAL;
	const struct d4_fed_wprov *p = &r->prov;
	/* Lengths that do not fit their field are refused before anything is
	 * written (the decoder pass below checks the rest). */
	if (p->nsensors > SENSORS_MAX || p->nvia > D4_FED_VIA_MAX || r->ext_type_len > EXT_MAX ||
	    r->rrname_len > RRNAME_MAX || r->rdata_len > RDATA_MAX || r->bailiwick_len > BAILIWICK_MAX ||
	    r->vec.n_ports > D4_STORE_BS_TOP_PORTS || (r->ext_type_len && !r->ext_type) || (r->size && !r->payload) ||
	    (w->kind == D4_FED_KIND_CERTS && !cert_lengths_ok(&r->cert)) || (r->rrname_len && !r->rrname) ||
	    (r->rdata_len && !r->rdata) || (r->bailiwick_len && !r->bailiwick))
		return D4_EINVAL;
	if (w->nrecords == UINT32_MAX)
		return D4_ETOOBIG;
	/* A sealed record: this hub's own goes under the batch's own seal
	 * (signed at finish), any other under the seal given, which the batch
	 * carries once. */
	int sealed = (p->flags & D4_FED_F_SEALED) != 0;
	int own = sealed && w->sign_sk && p->has_origin && !memcmp(p->origin, w->sender, 16);
	struct d4_fed_wrec rs;
	uint32_t sidx = 0;
	int new_seal = 0;
	if (sealed) {
		if (!own && p->depth && !p->path)
			return D4_EINVAL;
		if (own) {
			if (w->nleaves >= D4_FED_LEAVES_MAX)
				return D4_ETOOBIG;
			rs = *r; /* the path the own seal needs: none */
			rs.prov.depth = 0;
			rs.prov.leaf = w->nleaves;
			r = &rs;
			p = &rs.prov;
			new_seal = w->own_seal == 0;
			sidx = new_seal ? w->nseals : w->own_seal - 1;
		} else {
			uint8_t e[SEAL_SIZE];
			seal_put(e, &p->seal);
			sidx = w->nseals;
			/* the records of one origin's batch come in runs: the
			 * last seal first */
			for (uint32_t k = w->nseals; k-- > 0;)
				if (!memcmp(w->seals + (size_t)k * SEAL_SIZE, e, SEAL_SIZE)) {
					sidx = k;
					break;
				}
			new_seal = sidx == w->nseals;
		}
		if (new_seal && w->nseals >= D4_FED_SEALS_MAX)
			return D4_ETOOBIG;
	}
	/* The header is counted at its largest (any `to`), so that finish
	 * always fits, and so are the seals. */
	size_t n = rec_size(w->kind, r);
	size_t tab = ((size_t)w->nseals + (new_seal ? 1u : 0u)) * SEAL_SIZE;
	if (n + tab > max_of(w) || w->len > max_of(w) - n - tab)
		return D4_ETOOBIG; /* not added: the batch is complete */
	if (grow(w, w->len + n))
		return D4_ENOMEM;
	if (new_seal && w->seals_cap < tab) {
		size_t c = w->seals_cap ? w->seals_cap * 2 : 16u * SEAL_SIZE;
		while (c < tab)
			c *= 2;
		uint8_t *t = realloc(w->seals, c);
		if (!t)
			return D4_ENOMEM;
		w->seals = t;
		w->seals_cap = c;
	}
	if (own && w->leaves_cap <= w->nleaves) {
		size_t c = w->leaves_cap ? w->leaves_cap * 2 : 1024;
		uint8_t(*l)[32] = realloc(w->leaves, c * 32);
		if (!l)
			return D4_ENOMEM;
		w->leaves = l;
		w->leaves_cap = c;
	}
	if (sealed) {
		/* the entry as the decoder below must see it: the own seal's
		 * count of leaves is provisional until finish */
		struct d4_fed_seal sl = p->seal;
		if (own) {
			memset(&sl, 0, sizeof(sl));
			memcpy(sl.origin, w->sender, 16);
			sl.nleaves = w->nleaves + 1;
			sl.flags = D4_FED_SEAL_WHOLE;
		}
		if (new_seal || own)
			seal_put(w->seals + (size_t)sidx * SEAL_SIZE, &sl);
	}
	uint8_t *q = w->buf + w->len, *q0 = q;
	*q++ = p->tlp;
	*q++ = p->flags;
	*q++ = p->has_org ? 1 : 0;
	if (p->has_org) {
		memcpy(q, p->org, 16);
		q += 16;
	}
	*q++ = p->nsensors;
	memcpy(q, p->sensors, 16 * (size_t)p->nsensors);
	q += 16 * (size_t)p->nsensors;
	*q++ = p->has_origin ? 1 : 0;
	if (p->has_origin) {
		memcpy(q, p->origin, 16);
		q += 16;
	}
	*q++ = p->nvia;
	memcpy(q, p->via, 16 * (size_t)p->nvia);
	q += 16 * (size_t)p->nvia;
	/* this hub's own record is signed below, once the bytes are written */
	int sign_here =
	    (p->flags & D4_FED_F_SIGNED) && w->sign_sk && p->has_origin && !memcmp(p->origin, w->sender, 16);
	uint8_t *sig_at = q;
	if (p->flags & D4_FED_F_SIGNED) {
		memcpy(q, p->sig, 64);
		q += 64;
	}
	if (sealed) {
		d4_put_u16be(q, (uint16_t)sidx);
		d4_put_u32be(q + 2, p->leaf);
		q[6] = p->depth;
		q += SEALREF_SIZE;
		if (p->depth)
			memcpy(q, p->path, 32u * (size_t)p->depth);
		q += 32u * (size_t)p->depth;
	}
	if (w->kind == D4_FED_KIND_FRAMES) {
		d4_put_u64be(q, r->origin_session);
		q += 8;
		*q++ = r->type;
		*q++ = (uint8_t)r->ext_type_len;
		if (r->ext_type_len)
			memcpy(q, r->ext_type, r->ext_type_len);
		q += r->ext_type_len;
		d4_put_u64be(q, r->hdr_ts);
		d4_put_u64be(q + 8, r->recv_ms);
		d4_put_u32be(q + 16, r->size);
		q += 20;
		if (r->size)
			memcpy(q, r->payload, r->size);
		q += r->size;
	} else if (w->kind == D4_FED_KIND_BACKSCATTER) {
		const struct d4_fed_wvec *v = &r->vec;
		*q++ = D4_FED_VEC_VER;
		memcpy(q, v->victim, 16);
		q += 16;
		*q++ = v->kind;
		*q++ = v->state;
		d4_put_u64be(q, v->first_us);
		d4_put_u64be(q + 8, v->last_us);
		d4_put_u64be(q + 16, v->packets);
		d4_put_u64be(q + 24, v->bytes);
		q += 32;
		*q++ = v->n_ports;
		for (unsigned i = 0; i < v->n_ports; i++) {
			d4_put_u16be(q, v->ports[i].port);
			d4_put_u64be(q + 2, v->ports[i].packets);
			q += VEC_PORT;
		}
		d4_put_u32be(q, v->ports_distinct);
		d4_put_u64be(q + 4, v->ports_other);
		d4_put_u64be(q + 12, v->telescope_addrs);
		d4_put_u32be(q + 20, v->peak_ppm);
		q += 24;
		q = put_f64(q, v->observed_pps);
		q = put_f64(q, v->est_pps);
		q = put_f64(q, v->est_peak_pps);
		*q++ = (uint8_t)((v->telescope_exact ? VEC_F_EXACT : 0u) | (v->est_valid ? VEC_F_EST : 0u) |
				 (v->sensors_more ? VEC_F_SMORE : 0u) | (v->org_mixed ? VEC_F_MIXED : 0u));
		d4_put_u32be(q, v->updates);
		q += 4;
	} else if (w->kind == D4_FED_KIND_CERTS) {
		const struct d4_fed_wcert *c = &r->cert;
		*q++ = D4_FED_CERT_VER;
		memcpy(q, c->server_ip, 16);
		d4_put_u16be(q + 16, c->server_port);
		q += 18;
		*q++ = (uint8_t)((c->has_ja3 ? CERT_F_JA3 : 0u) | (c->has_ja3s ? CERT_F_JA3S : 0u));
		if (c->has_ja3) {
			memcpy(q, c->ja3_md5, 16);
			q += 16;
		}
		if (c->has_ja3s) {
			memcpy(q, c->ja3s_md5, 16);
			q += 16;
		}
		d4_put_u16be(q, (uint16_t)c->ja3_len);
		q += 2;
		if (c->ja3_len)
			memcpy(q, c->ja3, c->ja3_len);
		q += c->ja3_len;
		d4_put_u16be(q, (uint16_t)c->ja3s_len);
		q += 2;
		if (c->ja3s_len)
			memcpy(q, c->ja3s, c->ja3s_len);
		q += c->ja3s_len;
		*q++ = (uint8_t)c->sni_len;
		if (c->sni_len)
			memcpy(q, c->sni, c->sni_len);
		q += c->sni_len;
		*q++ = (uint8_t)c->ja4_len;
		if (c->ja4_len)
			memcpy(q, c->ja4, c->ja4_len);
		q += c->ja4_len;
		d4_put_u64be(q, c->time_first);
		d4_put_u64be(q + 8, c->time_last);
		d4_put_u64be(q + 16, c->count);
		q += 24;
		*q++ = c->n_certs;
		for (unsigned i = 0; i < c->n_certs; i++) {
			d4_put_u32be(q, c->certs[i].len);
			q += 4;
			if (c->certs[i].len)
				memcpy(q, c->certs[i].der, c->certs[i].len);
			q += c->certs[i].len;
		}
	} else {
		d4_put_u16be(q, (uint16_t)r->rrname_len);
		q += 2;
		if (r->rrname_len)
			memcpy(q, r->rrname, r->rrname_len);
		q += r->rrname_len;
		d4_put_u16be(q, r->rrtype);
		d4_put_u32be(q + 2, (uint32_t)r->rdata_len);
		q += 6;
		if (r->rdata_len)
			memcpy(q, r->rdata, r->rdata_len);
		q += r->rdata_len;
		d4_put_u16be(q, (uint16_t)r->bailiwick_len);
		q += 2;
		if (r->bailiwick_len)
			memcpy(q, r->bailiwick, r->bailiwick_len);
		q += r->bailiwick_len;
		d4_put_u64be(q, r->time_first);
		d4_put_u64be(q + 8, r->time_last);
		d4_put_u64be(q + 16, r->count);
		q += 24;
	}
	if ((size_t)(q - q0) != n)
		abort(); /* rec_size and the writer disagree: a broken invariant */
	/* What the receiver will do to it. */
	struct d4_fed_batch_it it = {.buf = q0,
				     .len = n,
				     .off = 0,
				     .kind = w->kind,
				     .left = 1,
				     .seals = w->seals,
				     .nseals = (uint16_t)(w->nseals + (new_seal ? 1u : 0u)),
				     .version = D4_FED_BATCH_VER,
				     .no_seal_digest = (uint8_t)!own}; /* only the own seal needs it */
	struct d4_fed_wrec chk;
	if (d4_fed_batch_next(&it, &chk) != 1 || it.off != n)
		return D4_EINVAL; /* a new entry is not counted; the own one is rewritten by finish */
	if (new_seal) {
		w->nseals++;
		if (own)
			w->own_seal = sidx + 1;
	}
	if (own)
		memcpy(w->leaves[w->nleaves++], chk.prov.digest, 32);
	if (sign_here) {
		uint8_t msg[sizeof(sig_ctx) - 1 + 32];
		memcpy(msg, sig_ctx, sizeof(sig_ctx) - 1);
		memcpy(msg + sizeof(sig_ctx) - 1, chk.prov.digest, 32);
		if (crypto_sign_ed25519_detached(sig_at, NULL, msg, sizeof(msg), w->sign_sk) != 0)
			return D4_EIO;
	}
	w->len += n;
	w->nrecords++;
	return 0;
}

int d4_fed_wbuf_finish(struct d4_fed_wbuf *w, const uint8_t *to, size_t to_len, const uint8_t **out, size_t *outlen)
{
	if (!w || !out || !outlen || !w->buf || to_len > D4_FED_POS_MAX || (to_len && !to) ||
	    w->len < hdr_reserve(w->from_len))
		return D4_EINVAL;
	size_t h = HDR_FIXED + w->from_len + to_len;
	size_t tab = (size_t)w->nseals * SEAL_SIZE;
	if (w->own_seal) {
		/* the one signature of this hub's records in the batch, over the
		 * root of their digests */
		size_t nn = d4_fed_merkle_nodes(w->nleaves);
		if (w->leaves_cap < nn) {
			uint8_t(*l)[32] = realloc(w->leaves, nn * 32);
			if (!l)
				return D4_ENOMEM;
			w->leaves = l;
			w->leaves_cap = nn;
		}
		d4_fed_merkle_build(w->leaves, w->nleaves);
		struct d4_fed_seal sl;
		memset(&sl, 0, sizeof(sl));
		memcpy(sl.origin, w->sender, 16);
		sl.nleaves = w->nleaves;
		memcpy(sl.root, w->leaves[nn - 1], 32);
		sl.flags = D4_FED_SEAL_WHOLE;
		if (d4_fed_seal_sign(&sl, w->sign_sk) != 0)
			return D4_EIO;
		seal_put(w->seals + (size_t)(w->own_seal - 1) * SEAL_SIZE, &sl);
	}
	if (grow(w, w->len + tab))
		return D4_ENOMEM;
	if (tab)
		memcpy(w->buf + w->len, w->seals, tab);
	w->start = hdr_reserve(w->from_len) - h;
	uint8_t *q = w->buf + w->start;
	memcpy(q, D4_FED_BATCH_MAGIC, 4);
	q[4] = D4_FED_BATCH_VER;
	q[5] = w->kind;
	memcpy(q + 6, w->sender, 16);
	q += 22;
	d4_put_u16be(q, (uint16_t)w->from_len);
	if (w->from_len)
		memcpy(q + 2, w->from, w->from_len);
	q += 2 + w->from_len;
	d4_put_u16be(q, (uint16_t)to_len);
	if (to_len)
		memcpy(q + 2, to, to_len);
	q += 2 + to_len;
	d4_put_u32be(q, w->nrecords);
	d4_put_u16be(q + 4, w->nseals);
	*out = w->buf + w->start;
	*outlen = w->len + tab - w->start;
	return 0;
}

void d4_fed_wbuf_free(struct d4_fed_wbuf *w)
{
	if (!w)
		return;
	free(w->buf);
	free(w->seals);
	free(w->leaves);
	w->buf = NULL;
	w->seals = NULL;
	w->leaves = NULL;
	w->cap = w->len = w->start = w->seals_cap = w->leaves_cap = 0;
	w->nrecords = w->nleaves = w->own_seal = 0;
	w->nseals = 0;
}

int d4_fed_wprov_from_out(const struct d4_fed_self *self, const struct d4_fed_out *o, const struct d4_fed_verdict *v,
			  struct d4_fed_wprov *p)
{
	if (!p)
		return D4_EINVAL;
	memset(p, 0, sizeof(*p));
	if (!self || !o || !v || v->decision == D4_FED_REFUSE)
		return D4_EINVAL;
	p->tlp = (uint8_t)v->level;
	if (o->stripped) {
		p->flags = D4_FED_F_STRIPPED;
		return 0;
	}
	if (o->nsensors > SENSORS_MAX || o->nvia + (o->append_self ? 1u : 0u) > D4_FED_VIA_MAX ||
	    (o->nvia && !o->via) || (o->nsensors && !o->sensors))
		return D4_ETOOBIG;
	p->has_org = o->has_org ? 1 : 0;
	if (o->has_org)
		memcpy(p->org, o->org, 16);
	p->nsensors = (uint8_t)o->nsensors;
	if (o->nsensors)
		memcpy(p->sensors, o->sensors, 16 * (size_t)o->nsensors);
	p->has_origin = o->has_origin ? 1 : 0;
	if (o->has_origin)
		memcpy(p->origin, o->origin, 16);
	if (o->nvia)
		memcpy(p->via, o->via, 16 * (size_t)o->nvia);
	p->nvia = (uint8_t)o->nvia;
	if (o->append_self)
		memcpy(p->via[p->nvia++], self->hub, 16);
	return 0;
}

/* ---- signed provenance ---- */

static int sodium_ready(void)
{
	/* idempotent and thread-safe; cheap once done */
	return sodium_init() >= 0;
}

int d4_fed_sign_keypair(const uint8_t seed[32], uint8_t pk[32], uint8_t sk[64])
{
	if (!seed || !pk || !sk)
		return D4_EINVAL;
	if (!sodium_ready() || crypto_sign_ed25519_seed_keypair(pk, sk, seed) != 0)
		return D4_EIO;
	return 0;
}

int d4_fed_record_verify(const struct d4_fed_wprov *p, const uint8_t pk[32])
{
	if (p && pk && (p->flags & D4_FED_F_SEALED)) {
		if (p->seal.nleaves == 0 || p->seal.nleaves > D4_FED_LEAVES_MAX || p->leaf >= p->seal.nleaves ||
		    p->depth != d4_fed_merkle_depth(p->leaf, p->seal.nleaves) || (p->depth && !p->path))
			return 0; /* a WHOLE seal's record: checked with all of them */
		uint8_t root[32];
		d4_fed_merkle_root_of(p->digest, p->leaf, p->seal.nleaves, p->path, root);
		return sodium_memcmp(root, p->seal.root, 32) == 0 && d4_fed_seal_verify(&p->seal, pk);
	}
	if (!p || !pk || !(p->flags & D4_FED_F_SIGNED) || !sodium_ready())
		return 0;
	uint8_t msg[sizeof(sig_ctx) - 1 + 32];
	memcpy(msg, sig_ctx, sizeof(sig_ctx) - 1);
	memcpy(msg + sizeof(sig_ctx) - 1, p->digest, 32);
	return crypto_sign_ed25519_verify_detached(p->sig, msg, sizeof(msg), pk) == 0;
}

void d4_fed_pubkey_b64(const uint8_t pk[32], char *out)
{
	sodium_bin2base64(out, D4_FED_PUBKEY_B64_LEN + 1, pk, 32, sodium_base64_VARIANT_ORIGINAL);
}

int d4_fed_pubkey_parse(const char *s, uint8_t pk[32])
{
	size_t n = 0;
	const char *end = NULL;
	if (!s || !pk || strlen(s) != D4_FED_PUBKEY_B64_LEN || !sodium_ready())
		return D4_EINVAL;
	if (sodium_base642bin(pk, 32, s, D4_FED_PUBKEY_B64_LEN, NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    n != 32 || *end)
		return D4_EINVAL;
	return 0;
}

/* ---- seals: one signature per batch over the Merkle root of its records'
 * digests (docs/federation.md "Signed provenance") ---- */

static const char seal_ctx[] = "d4hub federation seal v1";
static const char node_ctx[] = "d4hub federation merkle node";

static void node_hash(const uint8_t l[32], const uint8_t r[32], uint8_t out[32])
{
	uint8_t in[64];
	memcpy(in, l, 32);
	memcpy(in + 32, r, 32);
	crypto_generichash(out, 32, in, 64, (const uint8_t *)node_ctx, sizeof(node_ctx) - 1);
}

size_t d4_fed_merkle_nodes(uint32_t n)
{
	size_t t = n;
	while (n > 1) {
		n = (n + 1) / 2;
		t += n;
	}
	return t;
}

unsigned d4_fed_merkle_depth(uint32_t leaf, uint32_t n)
{
	unsigned d = 0;
	while (n > 1) {
		if ((leaf & 1u) || leaf + 1 < n)
			d++;
		leaf >>= 1;
		n = (n + 1) / 2;
	}
	return d;
}

void d4_fed_merkle_build(uint8_t (*nodes)[32], uint32_t n)
{
	size_t off = 0;
	while (n > 1) {
		uint32_t up = (n + 1) / 2;
		for (uint32_t i = 0; i < up; i++) {
			if (2 * i + 1 < n)
				node_hash(nodes[off + 2 * i], nodes[off + 2 * i + 1], nodes[off + n + i]);
			else
				memcpy(nodes[off + n + i], nodes[off + 2 * i], 32);
		}
		off += n;
		n = up;
	}
}

unsigned d4_fed_merkle_path(const uint8_t (*nodes)[32], uint32_t n, uint32_t leaf, uint8_t *path)
{
	size_t off = 0;
	unsigned k = 0;
	while (n > 1) {
		if (leaf & 1u)
			memcpy(path + 32u * k++, nodes[off + leaf - 1], 32);
		else if (leaf + 1 < n)
			memcpy(path + 32u * k++, nodes[off + leaf + 1], 32);
		off += n;
		n = (n + 1) / 2;
		leaf >>= 1;
	}
	return k;
}

void d4_fed_merkle_root_of(const uint8_t digest[32], uint32_t leaf, uint32_t n, const uint8_t *path, uint8_t root[32])
{
	uint8_t h[32];
	memcpy(h, digest, 32);
	unsigned k = 0;
	while (n > 1) {
		if (leaf & 1u)
			node_hash(path + 32u * k++, h, h);
		else if (leaf + 1 < n)
			node_hash(h, path + 32u * k++, h);
		leaf >>= 1;
		n = (n + 1) / 2;
	}
	memcpy(root, h, 32);
}

/* The kind is in every leaf (the record digest): not repeated here. */
static void seal_msg(const struct d4_fed_seal *s, uint8_t *m)
{
	memcpy(m, seal_ctx, sizeof(seal_ctx) - 1);
	m += sizeof(seal_ctx) - 1;
	memcpy(m, s->origin, 16);
	d4_put_u32be(m + 16, s->nleaves);
	memcpy(m + 20, s->root, 32);
}
#define SEAL_MSG_LEN (sizeof(seal_ctx) - 1 + 16 + 4 + 32)

int d4_fed_seal_sign(struct d4_fed_seal *s, const uint8_t sk[64])
{
	uint8_t m[SEAL_MSG_LEN];
	if (!s || !sk || !sodium_ready())
		return D4_EIO;
	seal_msg(s, m);
	return crypto_sign_ed25519_detached(s->sig, NULL, m, sizeof(m), sk) == 0 ? 0 : D4_EIO;
}

int d4_fed_seal_verify(const struct d4_fed_seal *s, const uint8_t pk[32])
{
	uint8_t m[SEAL_MSG_LEN];
	if (!s || !pk || !sodium_ready())
		return 0;
	seal_msg(s, m);
	return crypto_sign_ed25519_verify_detached(s->sig, m, sizeof(m), pk) == 0;
}

#define PROOF_FIXED (1u + 16u + 4u + 32u + 64u + 4u + 1u)

size_t d4_fed_proof_encode(const struct d4_fed_wprov *p, const uint8_t *path, uint8_t *out)
{
	uint8_t *q = out;
	*q++ = 1; /* the proof's layout */
	memcpy(q, p->seal.origin, 16);
	d4_put_u32be(q + 16, p->seal.nleaves);
	memcpy(q + 20, p->seal.root, 32);
	memcpy(q + 52, p->seal.sig, 64);
	d4_put_u32be(q + 116, p->leaf);
	q[120] = p->depth;
	q += 121;
	if (p->depth)
		memcpy(q, path, 32u * (size_t)p->depth);
	return PROOF_FIXED + 32u * (size_t)p->depth;
}

int d4_fed_proof_decode(const uint8_t *b, size_t n, struct d4_fed_wprov *p)
{
	if (!b || !p)
		return D4_EINVAL;
	if (n < PROOF_FIXED)
		return D4_ETRUNC;
	if (b[0] != 1)
		return D4_EPROTO;
	struct d4_fed_seal sl;
	memset(&sl, 0, sizeof(sl));
	memcpy(sl.origin, b + 1, 16);
	sl.nleaves = d4_get_u32be(b + 17);
	memcpy(sl.root, b + 21, 32);
	memcpy(sl.sig, b + 53, 64);
	uint32_t leaf = d4_get_u32be(b + 117);
	uint8_t depth = b[121];
	if (is_zero16(sl.origin) || sl.nleaves == 0 || sl.nleaves > D4_FED_LEAVES_MAX || leaf >= sl.nleaves ||
	    depth != d4_fed_merkle_depth(leaf, sl.nleaves))
		return D4_EPROTO;
	if (n != PROOF_FIXED + 32u * (size_t)depth)
		return n < PROOF_FIXED + 32u * (size_t)depth ? D4_ETRUNC : D4_EPROTO;
	p->seal = sl;
	p->seal_idx = 0;
	p->leaf = leaf;
	p->depth = depth;
	p->path = depth ? b + PROOF_FIXED : NULL;
	return 0;
}
