/* d4hub API — the pure router, percent-decoding, query parsing and the JSON
 * pre-check that runs before any body reaches yajl. No h2o, no I/O: every
 * function here is fed hostile bytes by the fuzz target. */
#include "api_core.h"
#include "d4_error.h"
#include "d4_util.h"

#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int d4_api_pct_decode(const char *in, size_t len, char *out, size_t out_size, int plus_is_space)
{
	size_t o = 0;
	if (!in || !out || out_size == 0)
		return D4_EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= len)
				return D4_EINVAL;
			hi = hexval(in[i + 1]);
			lo = hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				return D4_EINVAL;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		/* A NUL would silently truncate the value for every C consumer. */
		if (c == '\0')
			return D4_EINVAL;
		if (o + 1 >= out_size)
			return D4_ETOOBIG;
		out[o++] = c;
	}
	out[o] = '\0';
	return D4_OK;
}

/* Next '/'-separated segment of [p, end): returns its length; *next is the
 * start of the following segment or end. */
static size_t segment(const char *p, const char *end, const char **next)
{
	const char *s = memchr(p, '/', (size_t)(end - p));
	if (!s) {
		*next = end;
		return (size_t)(end - p);
	}
	*next = s + 1;
	return (size_t)(s - p);
}

/* Matches the raw path against a template; on success stores the raw
 * capture spans. */
static int tmpl_match(const char *tmpl, const char *path, size_t plen, const char *cap[D4_API_MAX_PARAMS],
		      size_t caplen[D4_API_MAX_PARAMS], unsigned *ncap)
{
	const char *pend = path + plen, *tend = tmpl + strlen(tmpl);
	if (plen == 0 || path[0] != '/' || tmpl[0] != '/')
		return 0;
	const char *p = path + 1, *t = tmpl + 1;
	unsigned n = 0;
	for (;;) {
		const char *pn, *tn;
		int p_last, t_last;
		size_t pl = segment(p, pend, &pn), tl = segment(t, tend, &tn);
		p_last = (p + pl == pend);
		t_last = (t + tl == tend);
		if (tl >= 2 && t[0] == '{' && t[tl - 1] == '}') {
			if (pl == 0 || n >= D4_API_MAX_PARAMS)
				return 0;
			cap[n] = p;
			caplen[n] = pl;
			n++;
		} else if (tl != pl || memcmp(t, p, tl) != 0) {
			return 0;
		}
		/* Both must end together: "/health/" has one more (empty)
		 * segment than "/health" and does not match. */
		if (p_last || t_last) {
			if (p_last && t_last) {
				*ncap = n;
				return 1;
			}
			return 0;
		}
		p = pn;
		t = tn;
	}
}

static void allow_add(char *allow, size_t allow_size, const char *method)
{
	size_t ml = strlen(method), al = strlen(allow);
	/* duplicate methods (two templates matching the same path) once */
	const char *s = allow;
	while ((s = strstr(s, method)) != NULL) {
		if ((s == allow || s[-1] == ' ') && (s[ml] == ',' || s[ml] == '\0'))
			return;
		s += ml;
	}
	if (al + (al ? 2 : 0) + ml + 1 > allow_size)
		return;
	if (al) {
		memcpy(allow + al, ", ", 2);
		al += 2;
	}
	memcpy(allow + al, method, ml + 1);
}

const struct d4_api_route *d4_api_route_match(const struct d4_api_route *routes, size_t n, const char *method,
					      const char *path, char *scratch, size_t scratch_size,
					      const char *params[D4_API_MAX_PARAMS], unsigned *nparams, int *status,
					      char *allow, size_t allow_size)
{
	const char *cap[D4_API_MAX_PARAMS];
	size_t caplen[D4_API_MAX_PARAMS];
	unsigned ncap = 0;
	const struct d4_api_route *hit = NULL;
	size_t plen = path ? strlen(path) : 0;

	*nparams = 0;
	*status = 404;
	if (allow && allow_size)
		allow[0] = '\0';
	if (!path || !method)
		return NULL;
	/* The path belongs to the templates with the fewest captures that
	 * match it, whatever the table order: "/sensors/silent" is not the
	 * sensor "silent", and its Allow lists only its own methods. */
	unsigned best = D4_API_MAX_PARAMS + 1;
	for (size_t i = 0; i < n; i++) {
		unsigned nc = 0;
		const char *c[D4_API_MAX_PARAMS];
		size_t cl[D4_API_MAX_PARAMS];
		if (tmpl_match(routes[i].tmpl, path, plen, c, cl, &nc) && nc < best)
			best = nc;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned nc = 0;
		const char *c[D4_API_MAX_PARAMS];
		size_t cl[D4_API_MAX_PARAMS];
		if (!tmpl_match(routes[i].tmpl, path, plen, c, cl, &nc) || nc != best)
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			if (!hit) {
				hit = &routes[i];
				ncap = nc;
				memcpy(cap, c, sizeof(c));
				memcpy(caplen, cl, sizeof(cl));
			}
		}
		*status = 405;
		if (allow && allow_size)
			allow_add(allow, allow_size, routes[i].method);
	}
	if (!hit)
		return NULL;
	size_t used = 0;
	for (unsigned i = 0; i < ncap; i++) {
		if (used >= scratch_size ||
		    d4_api_pct_decode(cap[i], caplen[i], scratch + used, scratch_size - used, 0) != D4_OK) {
			*status = 400;
			*nparams = 0;
			return NULL;
		}
		params[i] = scratch + used;
		used += strlen(scratch + used) + 1;
	}
	*nparams = ncap;
	*status = 200;
	return hit;
}

int d4_api_query_parse(const char *qs, size_t len, char *scratch, size_t scratch_size, struct d4_api_req *req)
{
	size_t used = 0;
	const char *p = qs, *end = qs + len;
	req->nquery = 0;
	if (!qs)
		return D4_OK;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;
		if (pe > p) {
			const char *eq = memchr(p, '=', (size_t)(pe - p));
			const char *ne = eq ? eq : pe, *vs = eq ? eq + 1 : pe;
			int rc;
			if (req->nquery >= D4_API_MAX_QUERY)
				return D4_ETOOBIG;
			if (used >= scratch_size)
				return D4_ETOOBIG;
			rc = d4_api_pct_decode(p, (size_t)(ne - p), scratch + used, scratch_size - used, 1);
			if (rc != D4_OK)
				return rc;
			req->qname[req->nquery] = scratch + used;
			used += strlen(scratch + used) + 1;
			if (used >= scratch_size)
				return D4_ETOOBIG;
			rc = d4_api_pct_decode(vs, (size_t)(pe - vs), scratch + used, scratch_size - used, 1);
			if (rc != D4_OK)
				return rc;
			req->qvalue[req->nquery] = scratch + used;
			used += strlen(scratch + used) + 1;
			req->nquery++;
		}
		p = amp ? amp + 1 : end;
	}
	return D4_OK;
}

const char *d4_api_query(const struct d4_api_req *req, const char *name)
{
	for (unsigned i = 0; i < req->nquery; i++)
		if (strcmp(req->qname[i], name) == 0)
			return req->qvalue[i];
	return NULL;
}

int d4_api_json_precheck(const uint8_t *body, size_t len, size_t max_len, unsigned max_depth)
{
	if (len > max_len)
		return D4_ETOOBIG;
	if (!body)
		return len ? D4_EJSON : D4_OK;
	/* yajl_tree_parse takes a C string: a NUL would cut the text. */
	if (memchr(body, 0, len))
		return D4_EJSON;
	/* yajl_tree_parse accepts comments, which JSON does not have: a '/'
	 * outside a string is refused here, before yajl sees the text. */
	int in_str = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = body[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '/') {
			return D4_EJSON;
		}
	}
	return d4_json_depth_ok(body, len, max_depth) ? D4_OK : D4_EJSON;
}
