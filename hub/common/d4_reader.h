/* d4hub — bounded reader over a byte buffer with a sticky error.
 *
 * Every parser reads through this: after the first short read the reader
 * records D4_ETRUNC, returns zeros for all further reads, and the caller
 * checks d4_rd_error() once at the end. Declared sizes are checked with
 * d4_rd_need() before anything is copied. The reader never owns the buffer. */
#ifndef D4_READER_H
#define D4_READER_H

#include <stddef.h>
#include <stdint.h>

struct d4_reader {
	const uint8_t *p;
	size_t len;
	size_t off;
	int err;
};

static inline void d4_rd_init(struct d4_reader *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->err = 0;
}

static inline size_t d4_rd_left(const struct d4_reader *r)
{
	return r->err ? 0 : r->len - r->off;
}
static inline int d4_rd_error(const struct d4_reader *r)
{
	return r->err;
}

/* Sets the sticky error (if none yet) and returns it. */
static inline int d4_rd_fail(struct d4_reader *r, int err)
{
	if (!r->err)
		r->err = err;
	return r->err;
}

/* 1 if n more bytes are available, else sets D4_ETRUNC and returns 0. */
static inline int d4_rd_need(struct d4_reader *r, size_t n)
{
	if (r->err)
		return 0;
	if (r->len - r->off < n) {
		r->err = -4; /* D4_ETRUNC */
		return 0;
	}
	return 1;
}

/* Returns a pointer to the next n bytes and advances, or NULL (sticky error). */
static inline const uint8_t *d4_rd_ptr(struct d4_reader *r, size_t n)
{
	if (!d4_rd_need(r, n))
		return NULL;
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

static inline void d4_rd_skip(struct d4_reader *r, size_t n)
{
	(void)d4_rd_ptr(r, n);
}

static inline uint8_t d4_rd_u8(struct d4_reader *r)
{
	const uint8_t *p = d4_rd_ptr(r, 1);
	return p ? p[0] : 0;
}

static inline uint16_t d4_rd_u16be(struct d4_reader *r)
{
	const uint8_t *p = d4_rd_ptr(r, 2);
	return p ? (uint16_t)((p[0] << 8) | p[1]) : 0;
}

static inline uint32_t d4_rd_u32be(struct d4_reader *r)
{
	const uint8_t *p = d4_rd_ptr(r, 4);
	return p ? ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3] : 0;
}

static inline uint32_t d4_rd_u32le(struct d4_reader *r)
{
	const uint8_t *p = d4_rd_ptr(r, 4);
	return p ? ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0] : 0;
}

static inline uint64_t d4_rd_u64le(struct d4_reader *r)
{
	const uint8_t *p = d4_rd_ptr(r, 8);
	uint64_t v = 0;
	if (p)
		for (int i = 7; i >= 0; i--)
			v = (v << 8) | p[i];
	return v;
}

static inline uint64_t d4_rd_u64be(struct d4_reader *r)
{
	const uint8_t *p = d4_rd_ptr(r, 8);
	uint64_t v = 0;
	if (p)
		for (int i = 0; i < 8; i++)
			v = (v << 8) | p[i];
	return v;
}

/* Copies n bytes into dst (zero-filled on error). */
static inline void d4_rd_copy(struct d4_reader *r, void *dst, size_t n)
{
	const uint8_t *p = d4_rd_ptr(r, n);
	uint8_t *d = dst;
	for (size_t i = 0; i < n; i++)
		d[i] = p ? p[i] : 0;
}

/* Writers for the matching encodings; the caller guarantees room. */
static inline void d4_put_u16be(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void d4_put_u32be(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}
static inline void d4_put_u32le(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}
static inline void d4_put_u64be(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}
static inline void d4_put_u64le(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}
static inline uint64_t d4_get_u64be(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}
static inline uint32_t d4_get_u32be(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

#endif
