/* d4hub store — tuple record v5 and name table values of the id-keyed pDNS
 * layout (docs/store.md "Id-keyed pDNS layout"). Pure functions: the
 * fuzz target fuzz_store_pdns_rec drives the decoder. */
#include "store_pdns_internal.h"

#include "d4_error.h"
#include "d4_reader.h"

#include <string.h>

#define R5_TLP	  7u
#define R5_MIXED  8u
#define R5_ORG	  16u
#define R5_SKETCH 32u
#define R5_HUBS	  64u
#define R5_WIDE	  128u /* times and count as varints: one of them does not fit 32 bits */

static const uint8_t zero16[16];

size_t store_pdns_varint_put(uint8_t *b, uint64_t v)
{
	size_t o = 0;
	while (v >= 0x80) {
		b[o++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b[o++] = (uint8_t)v;
	return o;
}

uint64_t store_pdns_varint_rd(struct d4_reader *r)
{
	uint64_t v = 0;
	for (unsigned sh = 0; sh < 70; sh += 7) {
		uint8_t c = d4_rd_u8(r);
		if (d4_rd_error(r))
			return 0;
		if (sh == 63 && c > 1)
			break;
		v |= (uint64_t)(c & 0x7f) << sh;
		if (!(c & 0x80)) {
			if (c == 0 && sh)
				break;
			return v;
		}
	}
	d4_rd_fail(r, D4_ECORRUPT);
	return 0;
}

static int is_suffix(const struct store_pdns_rec5 *r)
{
	return r->bwlen && r->bwlen <= r->namelen && r->bw && !memcmp(r->name + r->namelen - r->bwlen, r->bw, r->bwlen);
}

static int wide(const struct store_pdns_rec5 *r)
{
	return r->tf > UINT32_MAX || r->tl - r->tf > UINT32_MAX || r->count > UINT32_MAX;
}

size_t store_pdns_rec5_bound(const struct store_pdns_rec5 *r)
{
	return 2u + 30u + 16u + 1u + 5u * D4_PDNS_SENSORS_KEEP + 8u + 2u + 10u + r->namelen + 1u + 1u + 10u + r->rdlen +
	       1u + 10u + r->bwlen + 1u + 1u + 16u * D4_PDNS_HUBS_KEEP;
}

size_t store_pdns_rec5_encode(const struct store_pdns_rec5 *r, uint8_t *b)
{
	size_t o = 0;
	int w = wide(r), sfx = r->bw_suffix || is_suffix(r);
	b[o++] = STORE_PDNS_REC_V5;
	b[o++] = (uint8_t)((r->tlp & R5_TLP) | (r->mixed ? R5_MIXED : 0) | (r->has_org ? R5_ORG : 0) |
			   (r->sketch ? R5_SKETCH : 0) | (r->nhubs ? R5_HUBS : 0) | (w ? R5_WIDE : 0));
	if (w) {
		o += store_pdns_varint_put(b + o, r->tf);
		o += store_pdns_varint_put(b + o, r->tl - r->tf);
		o += store_pdns_varint_put(b + o, r->count);
	} else {
		d4_put_u32be(b + o, (uint32_t)r->tf);
		d4_put_u32be(b + o + 4, (uint32_t)(r->tl - r->tf));
		d4_put_u32be(b + o + 8, (uint32_t)r->count);
		o += 12;
	}
	if (r->has_org) {
		memcpy(b + o, r->org, 16);
		o += 16;
	}
	b[o++] = r->nsens;
	for (unsigned i = 0; i < r->nsens; i++)
		o += store_pdns_varint_put(b + o, r->sens[i]);
	if (r->sketch) {
		d4_put_u64be(b + o, r->sketch);
		o += 8;
	}
	d4_put_u16be(b + o, r->rrtype);
	o += 2;
	o += store_pdns_varint_put(b + o, r->namelen);
	memcpy(b + o, r->name, r->namelen);
	o += r->namelen;
	b[o++] = 0; /* strings keep their NUL: readers hand out pointers into the page */
	b[o++] = r->rdform;
	if (r->rdform == STORE_PDNS_RD_A) {
		memcpy(b + o, r->addr, 4);
		o += 4;
	} else if (r->rdform == STORE_PDNS_RD_AAAA) {
		memcpy(b + o, r->addr, 16);
		o += 16;
	} else {
		o += store_pdns_varint_put(b + o, r->rdlen);
		if (r->rdlen)
			memcpy(b + o, r->rd, r->rdlen);
		o += r->rdlen;
		b[o++] = 0;
	}
	o += store_pdns_varint_put(b + o, (uint64_t)r->bwlen << 1 | (sfx && r->bwlen ? 1u : 0u));
	if (!sfx && r->bwlen) {
		memcpy(b + o, r->bw, r->bwlen);
		o += r->bwlen;
		b[o++] = 0;
	}
	if (r->nhubs) {
		b[o++] = r->nhubs;
		memcpy(b + o, r->hubs, 16u * r->nhubs);
		o += 16u * r->nhubs;
	}
	return o;
}

static const char *rd_str(struct d4_reader *r, size_t len)
{
	const uint8_t *p = d4_rd_ptr(r, len + 1);
	if (!p || p[len] != 0)
		return d4_rd_fail(r, D4_ECORRUPT), NULL;
	return (const char *)p;
}

int store_pdns_rec5_decode(const uint8_t *p, size_t n, struct store_pdns_rec5 *r)
{
	struct d4_reader rd;
	memset(r, 0, sizeof(*r));
	d4_rd_init(&rd, p, n);
	if (d4_rd_u8(&rd) != STORE_PDNS_REC_V5)
		return D4_ECORRUPT;
	uint8_t fl = d4_rd_u8(&rd);
	if (fl & R5_WIDE) {
		r->tf = store_pdns_varint_rd(&rd);
		uint64_t d = store_pdns_varint_rd(&rd);
		r->count = store_pdns_varint_rd(&rd);
		if (r->tf + d < r->tf)
			return D4_ECORRUPT;
		r->tl = r->tf + d;
		if (!d4_rd_error(&rd) && !wide(r))
			return D4_ECORRUPT; /* fits the narrow form */
	} else {
		r->tf = d4_rd_u32be(&rd);
		r->tl = r->tf + d4_rd_u32be(&rd);
		r->count = d4_rd_u32be(&rd);
	}
	r->tlp = fl & R5_TLP;
	r->mixed = (fl & R5_MIXED) ? 1 : 0;
	r->has_org = (fl & R5_ORG) ? 1 : 0;
	if (r->mixed && r->has_org)
		return D4_ECORRUPT;
	if (r->has_org) {
		d4_rd_copy(&rd, r->org, 16);
		if (!d4_rd_error(&rd) && !memcmp(r->org, zero16, 16))
			return D4_ECORRUPT;
	}
	r->nsens = d4_rd_u8(&rd);
	if (r->nsens > D4_PDNS_SENSORS_KEEP)
		return D4_ECORRUPT;
	for (unsigned i = 0; i < r->nsens; i++) {
		uint64_t v = store_pdns_varint_rd(&rd);
		if (v >= STORE_PDNS_SENSOR_NO)
			return D4_ECORRUPT;
		r->sens[i] = (uint32_t)v;
	}
	if (fl & R5_SKETCH) {
		r->sketch = d4_rd_u64be(&rd);
		if (!d4_rd_error(&rd) && !r->sketch)
			return D4_ECORRUPT;
	}
	r->rrtype = d4_rd_u16be(&rd);
	uint64_t nl = store_pdns_varint_rd(&rd);
	if (d4_rd_error(&rd) || nl == 0 || nl > STORE_PDNS_NAME_MAX)
		return D4_ECORRUPT;
	r->namelen = (size_t)nl;
	r->name = rd_str(&rd, r->namelen);
	r->rdform = d4_rd_u8(&rd);
	if (r->rdform == STORE_PDNS_RD_A) {
		d4_rd_copy(&rd, r->addr, 4);
	} else if (r->rdform == STORE_PDNS_RD_AAAA) {
		d4_rd_copy(&rd, r->addr, 16);
	} else if (r->rdform == STORE_PDNS_RD_TEXT) {
		uint64_t rl = store_pdns_varint_rd(&rd);
		if (d4_rd_error(&rd) || rl > D4_PDNS_STORE_RDATA_MAX)
			return D4_ECORRUPT;
		r->rdlen = (size_t)rl;
		r->rd = rd_str(&rd, r->rdlen);
	} else {
		return D4_ECORRUPT;
	}
	uint64_t bw = store_pdns_varint_rd(&rd);
	if (d4_rd_error(&rd) || bw >> 1 > STORE_PDNS_NAME_MAX || bw == 1)
		return D4_ECORRUPT;
	r->bwlen = (size_t)(bw >> 1);
	if (bw & 1) {
		if (r->bwlen > r->namelen)
			return D4_ECORRUPT;
		r->bw_suffix = 1;
		r->bw = r->name + r->namelen - r->bwlen;
	} else if (r->bwlen) {
		r->bw = rd_str(&rd, r->bwlen);
		if (!d4_rd_error(&rd) && is_suffix(r))
			return D4_ECORRUPT; /* written as a suffix */
	}
	if (fl & R5_HUBS) {
		r->nhubs = d4_rd_u8(&rd);
		if (r->nhubs == 0 || r->nhubs > D4_PDNS_HUBS_KEEP)
			return D4_ECORRUPT;
		d4_rd_copy(&rd, r->hubs, 16u * r->nhubs);
	}
	if (d4_rd_error(&rd) || d4_rd_left(&rd))
		return D4_ECORRUPT;
	return 0;
}

size_t store_pdns_nval_encode(uint32_t nid, uint8_t uses, uint8_t out[10])
{
	return store_pdns_varint_put(out, (uint64_t)nid << 2 | (uses & 3u));
}

int store_pdns_nval_decode(const uint8_t *p, size_t n, uint32_t *nid, uint8_t *uses)
{
	struct d4_reader r;
	d4_rd_init(&r, p, n);
	uint64_t v = store_pdns_varint_rd(&r);
	if (d4_rd_error(&r) || d4_rd_left(&r) || (v >> 2) > UINT32_MAX || !(v & 3u))
		return D4_ECORRUPT;
	*nid = (uint32_t)(v >> 2);
	*uses = (uint8_t)(v & 3u);
	return 0;
}
