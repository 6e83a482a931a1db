/* d4hub — meta header (type 2) parsing.
 *
 * The JSON comes from an unauthenticated-until-verified sensor, so the text
 * is bounded first (size, then nesting depth by a cheap scan), and parsed
 * with yajl's event parser straight into struct d4_meta: no tree is built
 * (yajl_tree_parse recurses and allows comments, which would let a comment
 * hide brackets from the depth scan). The incremental parser also tells an
 * incomplete prefix (yajl_complete_parse fails after yajl_parse accepted
 * every byte) from malformed text (yajl_parse fails). */
#include "d4_proto.h"
#include "d4_error.h"
#include "d4_util.h"

#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

enum meta_key { K_OTHER = 0, K_TYPE, K_ENCODING, K_TAGS, K_ORG };

struct meta_ctx {
	struct d4_meta *m;
	int depth;
	int err;
	int started;
	int in_tags; /* inside the top-level "tags" array */
	enum meta_key key;
	unsigned seen; /* bit per enum meta_key: duplicates are ambiguous, refused */
	uint8_t tag_org[16];
	int has_tag_org;
};

static int fail(struct meta_ctx *c)
{
	c->err = D4_EJSON;
	return 0; /* cancels yajl */
}

/* Identifiers (type, encoding) end up in keys and logs: printable ASCII,
 * no spaces, non-empty. */
static int copy_ident(char *dst, size_t size, const unsigned char *s, size_t len)
{
	if (len == 0 || len >= size)
		return D4_EJSON;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return D4_EJSON;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return D4_OK;
}

static int parse_org(const char *s, size_t len, uint8_t out[16])
{
	char tmp[40];
	if (len >= sizeof(tmp))
		return D4_EJSON;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return d4_uuid_parse(tmp, out) == D4_OK ? D4_OK : D4_EJSON;
}

static int add_tag(struct meta_ctx *c, const unsigned char *s, size_t len)
{
	struct d4_meta *m = c->m;
	if (len == 0)
		return 1; /* carries nothing */
	if (len >= D4_META_TAG_MAX || m->ntags >= D4_META_MAX_TAGS || memchr(s, '\0', len))
		return fail(c);
	char *t = m->tags[m->ntags];
	for (size_t i = 0; i < len; i++)
		t[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : (char)s[i];
	t[len] = '\0';
	static const char pfx[] = "misp:org=";
	if (len > sizeof(pfx) - 1 && memcmp(t, pfx, sizeof(pfx) - 1) == 0) {
		const char *v = t + sizeof(pfx) - 1;
		size_t vlen = len - (sizeof(pfx) - 1);
		if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
			v++;
			vlen -= 2;
		}
		uint8_t org[16];
		if (parse_org(v, vlen, org) != D4_OK)
			return fail(c);
		if (c->has_tag_org && memcmp(org, c->tag_org, 16) != 0)
			return fail(c);
		memcpy(c->tag_org, org, 16);
		c->has_tag_org = 1;
	}
	m->ntags++;
	return 1;
}

/* Any scalar value. s/len is the string for strings, NULL otherwise. */
static int on_scalar(struct meta_ctx *c, const unsigned char *s, size_t len)
{
	if (c->depth == 0)
		return fail(c); /* top level must be an object */
	if (c->in_tags && c->depth == 2)
		return s ? add_tag(c, s, len) : fail(c);
	if (c->depth != 1)
		return 1;
	switch (c->key) {
	case K_TYPE:
		if (!s || copy_ident(c->m->type, sizeof(c->m->type), s, len) != D4_OK)
			return fail(c);
		return 1;
	case K_ENCODING:
		if (!s || copy_ident(c->m->encoding, sizeof(c->m->encoding), s, len) != D4_OK)
			return fail(c);
		return 1;
	case K_ORG:
		if (!s || parse_org((const char *)s, len, c->m->org) != D4_OK)
			return fail(c);
		c->m->has_org = 1;
		return 1;
	case K_TAGS: return fail(c);
	case K_OTHER: break;
	}
	return 1;
}

static int cb_null(void *ctx)
{
	return on_scalar(ctx, NULL, 0);
}
static int cb_bool(void *ctx, int v)
{
	(void)v;
	return on_scalar(ctx, NULL, 0);
}
static int cb_number(void *ctx, const char *v, size_t len)
{
	(void)v;
	(void)len;
	return on_scalar(ctx, NULL, 0);
}
static int cb_string(void *ctx, const unsigned char *s, size_t len)
{
	return on_scalar(ctx, s, len);
}

static int open_container(struct meta_ctx *c, int is_array)
{
	if (c->depth == 0) {
		if (is_array || c->started)
			return fail(c);
		c->started = 1;
	} else if (c->in_tags && c->depth == 2) {
		return fail(c); /* a tag must be a string */
	} else if (c->depth == 1 && c->key != K_OTHER) {
		if (!(is_array && c->key == K_TAGS))
			return fail(c);
		c->in_tags = 1;
	}
	if (++c->depth > D4_META_MAX_DEPTH)
		return fail(c);
	return 1;
}

static int cb_start_map(void *ctx)
{
	return open_container(ctx, 0);
}
static int cb_start_array(void *ctx)
{
	return open_container(ctx, 1);
}

static int cb_end(void *ctx)
{
	struct meta_ctx *c = ctx;
	c->depth--;
	if (c->depth == 1)
		c->in_tags = 0;
	return 1;
}

static int cb_map_key(void *ctx, const unsigned char *k, size_t len)
{
	struct meta_ctx *c = ctx;
	if (c->depth != 1)
		return 1;
	c->key = K_OTHER;
	if (len == 4 && memcmp(k, "type", 4) == 0)
		c->key = K_TYPE;
	else if (len == 8 && memcmp(k, "encoding", 8) == 0)
		c->key = K_ENCODING;
	else if (len == 4 && memcmp(k, "tags", 4) == 0)
		c->key = K_TAGS;
	else if (len == 8 && memcmp(k, "misp:org", 8) == 0)
		c->key = K_ORG;
	if (c->key != K_OTHER) {
		if (c->seen & (1u << c->key))
			return fail(c);
		c->seen |= 1u << c->key;
	}
	return 1;
}

static const yajl_callbacks meta_callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_bool,
    .yajl_number = cb_number, /* raw numbers: no overflow errors on huge ints */
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end,
};

/* The checks made once the object is complete; rc is the parse result. */
static int meta_finish(struct meta_ctx *c, struct d4_meta *out, int rc)
{
	if (rc == D4_OK) {
		if (!c->started || out->type[0] == '\0')
			rc = D4_EJSON;
		else if (c->has_tag_org && out->has_org && memcmp(c->tag_org, out->org, 16) != 0)
			rc = D4_EJSON; /* two different originators: refuse to guess */
		else if (c->has_tag_org && !out->has_org) {
			memcpy(out->org, c->tag_org, 16);
			out->has_org = 1;
		}
	}
	if (rc != D4_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

int d4_proto_meta_parse(const uint8_t *json, size_t len, struct d4_meta *out)
{
	memset(out, 0, sizeof(*out));
	if (len > D4_META_MAX)
		return D4_ETOOBIG;
	if (!d4_json_depth_ok(json, len, D4_META_MAX_DEPTH))
		return D4_EJSON;

	struct meta_ctx c = {.m = out};
	yajl_handle h = yajl_alloc(&meta_callbacks, NULL, &c);
	if (!h)
		return D4_ENOMEM;
	int rc = D4_OK;
	yajl_status st = len ? yajl_parse(h, json, len) : yajl_status_ok;
	if (st == yajl_status_ok) {
		st = yajl_complete_parse(h);
		if (st == yajl_status_error)
			rc = D4_ETRUNC; /* every byte was acceptable, only the end is missing */
	} else if (st == yajl_status_error) {
		rc = D4_EJSON;
	}
	if (st == yajl_status_client_canceled)
		rc = c.err ? c.err : D4_EJSON;
	yajl_free(h);
	return meta_finish(&c, out, rc);
}

/* ---- incremental reassembly ----
 * A meta header may arrive in any number of type-2 packets. Re-parsing the
 * whole text at each packet is quadratic (a 64 KiB header in 4-byte packets
 * is 16,384 parses of up to 64 KiB). Here every byte is scanned once for
 * JSON string state, and handed to yajl once: only up to the last
 * structural character ({ } [ ] , :) outside a string, so yajl never sees a
 * token cut by a packet boundary (its lexer re-reads a partial token from
 * its start at every call, quadratic again for a long string). Errors show
 * at the next structural character; completion when the top-level object
 * has closed. */
struct d4_meta_parser {
	struct meta_ctx c;
	struct d4_meta m;
	yajl_handle h;
	uint8_t buf[D4_META_MAX];
	size_t len, fed;
	int in_str, esc;
	int rc; /* D4_ETRUNC while open, then the final result */
	struct d4_meta_parser_stats st;
};

int d4_proto_meta_parser_new(struct d4_meta_parser **out)
{
	*out = NULL;
	struct d4_meta_parser *p = malloc(sizeof(*p));
	if (!p)
		return D4_ENOMEM;
	memset(&p->c, 0, sizeof(p->c));
	memset(&p->m, 0, sizeof(p->m));
	memset(&p->st, 0, sizeof(p->st));
	p->c.m = &p->m;
	p->len = p->fed = 0;
	p->in_str = p->esc = 0;
	p->rc = D4_ETRUNC;
	p->h = yajl_alloc(&meta_callbacks, NULL, &p->c);
	if (!p->h) {
		free(p);
		return D4_ENOMEM;
	}
	*out = p;
	return D4_OK;
}

void d4_proto_meta_parser_free(struct d4_meta_parser *p)
{
	if (!p)
		return;
	yajl_free(p->h);
	free(p);
}

void d4_proto_meta_parser_stats(const struct d4_meta_parser *p, struct d4_meta_parser_stats *out)
{
	*out = p->st;
}

/* Hands buf[fed, end) to yajl; D4_OK or the final error. */
static int meta_feed_yajl(struct d4_meta_parser *p, size_t end)
{
	if (end <= p->fed)
		return D4_OK;
	p->st.parser_calls++;
	p->st.bytes_parsed += end - p->fed;
	yajl_status st = yajl_parse(p->h, p->buf + p->fed, end - p->fed);
	p->fed = end;
	if (st == yajl_status_client_canceled)
		return p->c.err ? p->c.err : D4_EJSON;
	return st == yajl_status_ok ? D4_OK : D4_EJSON;
}

int d4_proto_meta_parser_feed(struct d4_meta_parser *p, const uint8_t *data, size_t len, struct d4_meta *out)
{
	if (p->rc != D4_ETRUNC)
		goto done;
	if (len > D4_META_MAX - p->len) {
		p->rc = D4_ETOOBIG;
		goto done;
	}
	if (len)
		memcpy(p->buf + p->len, data, len);
	size_t end = p->fed; /* one past the last structural byte seen */
	for (size_t i = p->len; i < p->len + len; i++) {
		uint8_t ch = p->buf[i];
		if (p->in_str) {
			if (p->esc)
				p->esc = 0;
			else if (ch == '\\')
				p->esc = 1;
			else if (ch == '"')
				p->in_str = 0;
		} else if (ch == '"') {
			p->in_str = 1;
		} else if (ch == '{' || ch == '}' || ch == '[' || ch == ']' || ch == ',' || ch == ':') {
			end = i + 1;
		}
	}
	p->st.bytes_scanned += len;
	p->len += len;
	int rc = meta_feed_yajl(p, end);
	if (rc == D4_OK && p->c.started && p->c.depth == 0) {
		/* The object closed: whatever follows must be white space. */
		rc = meta_feed_yajl(p, p->len);
		if (rc == D4_OK) {
			p->st.completions++;
			yajl_status st = yajl_complete_parse(p->h);
			if (st == yajl_status_client_canceled)
				rc = p->c.err ? p->c.err : D4_EJSON;
			else if (st != yajl_status_ok)
				rc = D4_EJSON;
		}
		p->rc = meta_finish(&p->c, &p->m, rc);
	} else if (rc != D4_OK) {
		p->rc = rc;
	}
done:
	if (p->rc == D4_OK)
		*out = p->m;
	else
		memset(out, 0, sizeof(*out));
	return p->rc;
}
