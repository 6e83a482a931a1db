/* d4hub store — the field writer and reader helpers shared by the store's
 * value codecs (store_codec.c, store_partner.c). Private to hub/store. */
#ifndef D4_STORE_WIRE_INTERNAL_H
#define D4_STORE_WIRE_INTERNAL_H

#include "d4_error.h"
#include "d4_reader.h"
#include "d4_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct wb {
	uint8_t *p;
	size_t len, cap;
};

/* Overflowing an encoder buffer means a *_MAX constant is wrong: a broken
 * internal invariant, not bad input. */
static inline uint8_t *wb_room(struct wb *w, size_t n)
{
	if (w->cap - w->len < n)
		abort();
	uint8_t *q = w->p + w->len;
	w->len += n;
	return q;
}
static inline void wb_u8(struct wb *w, uint8_t v)
{
	*wb_room(w, 1) = v;
}
static inline void wb_u16(struct wb *w, uint16_t v)
{
	d4_put_u16be(wb_room(w, 2), v);
}
static inline void wb_u32(struct wb *w, uint32_t v)
{
	d4_put_u32be(wb_room(w, 4), v);
}
static inline void wb_u64(struct wb *w, uint64_t v)
{
	d4_put_u64be(wb_room(w, 8), v);
}
static inline void wb_bytes(struct wb *w, const void *b, size_t n)
{
	if (n)
		memcpy(wb_room(w, n), b, n);
}
/* u16 length + bytes; the field size bounds the length. */
static inline void wb_str(struct wb *w, const char *str, size_t field)
{
	size_t n = strnlen(str, field - 1);
	wb_u16(w, (uint16_t)n);
	wb_bytes(w, str, n);
}

static inline void rd_str(struct d4_reader *r, char *out, size_t field)
{
	uint16_t n = d4_rd_u16be(r);
	if (n >= field) {
		d4_rd_fail(r, D4_ECORRUPT);
		out[0] = '\0';
		return;
	}
	d4_rd_copy(r, out, n);
	out[n] = '\0';
	if (memchr(out, '\0', n))
		d4_rd_fail(r, D4_ECORRUPT);
}

/* Any reader error and any trailing byte make the value corrupt. */
static inline int rd_done(const struct d4_reader *r)
{
	return (d4_rd_error(r) || d4_rd_left(r)) ? D4_ECORRUPT : 0;
}

#endif
