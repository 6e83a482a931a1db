/* d4hub API — backscatter query parameters and sealed paging cursors (see
 * api_bs.h). Every value is checked here; the store gets a query it can run
 * as is.
 *
 * Cursors are sealed: the store's resume bytes only say where its order
 * continues, not which query they belong to, so that the cursor of another
 * query (another victim, another clearance) would be accepted by the store
 * and resume somewhere unrelated. The MAC binds the bytes to the filters and
 * the clearance they were made for; anything else is refused as a 400
 * (api/cursor.c, the mechanism of every query API's cursors). The key is
 * random per process: after a restart a client starts its walk again
 * (a 400 says so) rather than trusting bytes it could have edited. */
#include "api_bs.h"
#include "api_cursor.h"
#include "d4_backscatter.h"
#include "d4_error.h"
#include "d4_util.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CURSOR_VERSION 0xb1u

/* ---- values -------------------------------------------------------------- */

int d4_api_bs_parse_victim(const char *s, size_t n, uint8_t lo[16], uint8_t hi[16])
{
	char buf[64];
	if (!s || n == 0 || n >= sizeof(buf) || memchr(s, '\0', n))
		return D4_EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	char *slash = strchr(buf, '/');
	unsigned plen = 0;
	int has_len = slash != NULL;
	if (slash) {
		const char *d = slash + 1;
		size_t nd = strlen(d);
		if (nd == 0 || nd > 3 || strspn(d, "0123456789") != nd || (nd > 1 && d[0] == '0'))
			return D4_EINVAL;
		for (size_t i = 0; i < nd; i++)
			plen = plen * 10 + (unsigned)(d[i] - '0');
		*slash = '\0';
	}
	uint8_t a[16];
	unsigned bits;
	if (strchr(buf, ':')) {
		if (inet_pton(AF_INET6, buf, a) != 1)
			return D4_EINVAL;
		bits = 128;
		if (!has_len)
			plen = 128;
		if (plen > 128)
			return D4_EINVAL;
	} else {
		uint8_t v4[4];
		if (inet_pton(AF_INET, buf, v4) != 1)
			return D4_EINVAL;
		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
		memcpy(a + 12, v4, 4);
		bits = 32;
		if (!has_len)
			plen = 32;
		if (plen > 32)
			return D4_EINVAL;
		plen += 96;
	}
	(void)bits;
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = plen >= (i + 1) * 8 ? 8 : plen > i * 8 ? plen - i * 8 : 0;
		uint8_t mask = keep ? (uint8_t)(0xffu << (8 - keep)) : 0;
		lo[i] = a[i] & mask;
		hi[i] = (uint8_t)(a[i] | (uint8_t)~mask);
	}
	return D4_OK;
}

int d4_api_bs_parse_time_us(const char *s, uint64_t *us)
{
	if (!s || !*s || strlen(s) > 40)
		return D4_EINVAL;
	/* epoch seconds with up to six fraction digits (the vectors' precision) */
	size_t ni = strspn(s, "0123456789");
	if (ni > 0 && (s[ni] == '\0' || s[ni] == '.')) {
		if (ni > 11)
			return D4_EINVAL;
		uint64_t sec = 0, frac = 0, scale = 100000;
		for (size_t i = 0; i < ni; i++)
			sec = sec * 10 + (uint64_t)(s[i] - '0');
		if (s[ni] == '.') {
			const char *f = s + ni + 1;
			size_t nf = strspn(f, "0123456789");
			if (nf == 0 || nf > 6 || f[nf] != '\0')
				return D4_EINVAL;
			for (size_t i = 0; i < nf; i++, scale /= 10)
				frac += (uint64_t)(f[i] - '0') * scale;
		}
		*us = sec * 1000000u + frac;
		return D4_OK;
	}
	/* YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+00:00): UTC only, every
	 * field checked by converting back (timegm would roll 02-30 over) */
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	for (size_t i = 0; i < 19 && (i < 10 || s[10]); i++) {
		char c = s[i];
		if (shape[i] == 'd' ? (c < '0' || c > '9') : shape[i] == 'T' ? (c != 'T' && c != 't') : c != shape[i])
			return D4_EINVAL;
	}
	struct tm tm, back;
	memset(&tm, 0, sizeof(tm));
	const char *p = strptime(s, "%Y-%m-%d", &tm);
	uint64_t frac = 0;
	if (!p || p - s != 10)
		return D4_EINVAL;
	if (*p) {
		if ((*p != 'T' && *p != 't') || strlen(p) < 9)
			return D4_EINVAL;
		const char *t = strptime(p + 1, "%H:%M:%S", &tm);
		if (!t || t - p != 9)
			return D4_EINVAL;
		p = t;
		if (*p == '.') {
			size_t nf = strspn(p + 1, "0123456789");
			if (nf == 0 || nf > 6)
				return D4_EINVAL;
			uint64_t scale = 100000;
			for (size_t i = 0; i < nf; i++, scale /= 10)
				frac += (uint64_t)(p[1 + i] - '0') * scale;
			p += 1 + nf;
		}
		if (!((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') && strcmp(p, "+00:00") != 0)
			return D4_EINVAL;
	}
	if (tm.tm_year < 70)
		return D4_EINVAL;
	struct tm want = tm; /* timegm normalises its argument */
	time_t tt = timegm(&tm);
	if (tt < 0 || !gmtime_r(&tt, &back) || back.tm_year != want.tm_year || back.tm_mon != want.tm_mon ||
	    back.tm_mday != want.tm_mday || back.tm_hour != want.tm_hour || back.tm_min != want.tm_min ||
	    back.tm_sec != want.tm_sec)
		return D4_EINVAL;
	*us = (uint64_t)tt * 1000000u + frac;
	return D4_OK;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	size_t n = strlen(s);
	if (n == 0 || n > 20 || strspn(s, "0123456789") != n || (n > 1 && s[0] == '0'))
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int parse_bool(const char *s, uint8_t *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "1")) {
		*out = 1;
		return 0;
	}
	if (!strcmp(s, "false") || !strcmp(s, "0")) {
		*out = 0;
		return 0;
	}
	return -1;
}

/* ---- cursors ----------------------------------------------------------- */

/* What a cursor is bound to: every filter and the clearance. */
static size_t canon(const struct d4_store_bs_query *q, uint8_t *b)
{
	size_t o = 0;
	memcpy(b + o, "d4hub-bs-cursor", 15);
	o += 15;
	for (int i = 7; i >= 0; i--)
		b[o++] = (uint8_t)(q->since_us >> (i * 8));
	for (int i = 7; i >= 0; i--)
		b[o++] = (uint8_t)(q->until_us >> (i * 8));
	b[o++] = q->has_victim;
	memcpy(b + o, q->victim_lo, 16);
	o += 16;
	memcpy(b + o, q->victim_hi, 16);
	o += 16;
	b[o++] = q->has_port;
	b[o++] = (uint8_t)(q->port >> 8);
	b[o++] = (uint8_t)q->port;
	b[o++] = q->kind;
	b[o++] = q->has_sensor;
	memcpy(b + o, q->sensor, 16);
	o += 16;
	b[o++] = q->has_origin;
	memcpy(b + o, q->origin, 16);
	o += 16;
	b[o++] = q->ongoing;
	b[o++] = q->max_tlp;
	return o;
}

int d4_api_bs_cursor_seal(const struct d4_api_bs_params *p, const uint8_t *r, size_t rlen, char *out)
{
	uint8_t bind[128];
	if (!p || !r || rlen == 0 || rlen > D4_STORE_BS_RESUME_MAX || !out)
		return D4_EINVAL;
	size_t n = canon(&p->q, bind);
	return d4_api_cursor_seal(CURSOR_VERSION, bind, n, r, rlen, out, D4_API_BS_CURSOR_TEXT);
}

/* 0 with p->resume filled, or -1: not a cursor of this query. */
static int cursor_open(struct d4_api_bs_params *p, const char *text)
{
	uint8_t bind[128];
	size_t n = canon(&p->q, bind), rlen = 0;
	if (d4_api_cursor_open(CURSOR_VERSION, bind, n, text, p->resume, sizeof(p->resume), &rlen))
		return -1;
	p->q.resume = p->resume;
	p->q.resume_len = rlen;
	return 0;
}

void d4_api_bs_fix(struct d4_api_bs_params *p)
{
	if (p->q.resume)
		p->q.resume = p->resume;
}

/* ---- the request --------------------------------------------------------- */

static int fail(char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errsz, const char *fmt, ...)
{
	if (err && errsz) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return D4_EINVAL;
}

static const char *const list_names[] = {"since",  "until",   "victim", "port",	  "kind",   "sensor",
					 "origin", "ongoing", "limit",	"cursor", "format", NULL};
static const char *const summary_names[] = {"from", "to",     "top",	"victim",  "port",
					    "kind", "sensor", "origin", "ongoing", NULL};

static int known(const char *const *names, const char *n)
{
	for (; *names; names++)
		if (!strcmp(*names, n))
			return 1;
	return 0;
}

static uint32_t day_of_us(uint64_t us)
{
	return (uint32_t)(us / 1000000u / 86400u);
}

int d4_api_bs_parse(enum d4_api_bs_what what, const char *const *names, const char *const *values, unsigned n,
		    uint8_t max_tlp, uint64_t now_s, struct d4_api_bs_params *out, char *err, size_t errsz)
{
	const char *const *allowed = what == D4_API_BS_LIST ? list_names : summary_names;
	const char *cursor = NULL, *from = NULL, *to = NULL;
	memset(out, 0, sizeof(*out));
	out->limit = D4_API_BS_LIMIT_DEF;
	out->top = D4_API_BS_TOP_DEF;
	if (err && errsz)
		err[0] = '\0';
	for (unsigned i = 0; i < n; i++) {
		const char *k = names[i], *v = values[i];
		if (!k || !v)
			return fail(err, errsz, "%s", "bad query");
		if (!known(allowed, k))
			return fail(err, errsz, "unknown query parameter '%.40s'", k);
		for (unsigned j = 0; j < i; j++)
			if (names[j] && !strcmp(names[j], k))
				return fail(err, errsz, "query parameter '%.40s' given more than once", k);
		uint64_t u;
		if (!strcmp(k, "since") || !strcmp(k, "until")) {
			if (d4_api_bs_parse_time_us(v, &u) || u == 0)
				return fail(
				    err, errsz,
				    "query parameter '%s' must be epoch seconds, an ISO-8601 UTC time or a date", k);
			*(k[0] == 's' ? &out->q.since_us : &out->q.until_us) = u;
		} else if (!strcmp(k, "victim")) {
			if (d4_api_bs_parse_victim(v, strlen(v), out->q.victim_lo, out->q.victim_hi))
				return fail(err, errsz,
					    "query parameter '%s' must be an IPv4 or IPv6 address or a CIDR (ADDR/LEN)",
					    k);
			out->q.has_victim = 1;
		} else if (!strcmp(k, "port")) {
			if (parse_u64(v, 65535, &u))
				return fail(err, errsz, "query parameter '%s' must be a port number 0-65535", k);
			out->q.has_port = 1;
			out->q.port = (uint16_t)u;
		} else if (!strcmp(k, "kind")) {
			int kd = strlen(v) < 40 ? d4_bs_kind_parse(v) : D4_BS_NONE;
			if (kd <= D4_BS_NONE || kd >= D4_BS_KIND_COUNT || kd >= (int)D4_STORE_BS_KINDS)
				return fail(err, errsz,
					    "query parameter '%s' must be a kind of backscatter (tcp-synack, tcp-rst, "
					    "icmp-echo-reply, icmp-unreach, ...)",
					    k);
			out->q.kind = (uint8_t)kd;
		} else if (!strcmp(k, "sensor")) {
			if (d4_uuid_parse(v, out->q.sensor) != D4_OK)
				return fail(err, errsz, "query parameter '%s' must be a uuid (32 hex digits)", k);
			out->q.has_sensor = 1;
		} else if (!strcmp(k, "origin")) {
			if (!strcmp(v, "local"))
				memset(out->q.origin, 0, 16);
			else if (d4_uuid_parse(v, out->q.origin) != D4_OK ||
				 !memcmp(out->q.origin, (const uint8_t[16]){0}, 16))
				return fail(err, errsz, "query parameter '%s' must be 'local' or a hub uuid", k);
			out->q.has_origin = 1;
		} else if (!strcmp(k, "ongoing")) {
			if (parse_bool(v, &out->q.ongoing))
				return fail(err, errsz, "query parameter '%s' must be true or false", k);
		} else if (!strcmp(k, "limit")) {
			if (parse_u64(v, D4_API_BS_LIMIT_MAX, &u) || u == 0)
				return fail(err, errsz, "query parameter '%s' must be an integer 1-1000", k);
			out->limit = (uint32_t)u;
			out->paging = 1;
		} else if (!strcmp(k, "format")) {
			if (!strcmp(v, "ndjson"))
				out->ndjson = 1;
			else if (strcmp(v, "json") != 0)
				return fail(err, errsz, "query parameter '%s' must be json or ndjson", k);
			out->format_given = 1;
		} else if (!strcmp(k, "cursor")) {
			cursor = v;
			out->paging = 1;
		} else if (!strcmp(k, "top")) {
			if (parse_u64(v, D4_API_BS_TOP_MAX, &u) || u == 0)
				return fail(err, errsz, "query parameter '%s' must be an integer 1-100", k);
			out->top = (uint32_t)u;
		} else if (!strcmp(k, "from")) {
			from = v;
		} else if (!strcmp(k, "to")) {
			to = v;
		}
	}
	if (out->q.since_us && out->q.until_us && out->q.since_us > out->q.until_us)
		return fail(err, errsz, "%s", "'since' is after 'until'");
	out->q.max_tlp = max_tlp;
	if (what == D4_API_BS_SUMMARY) {
		uint64_t us;
		out->day_to = (uint32_t)(now_s / 86400u);
		if (to) {
			if (d4_api_bs_parse_time_us(to, &us))
				return fail(err, errsz, "query parameter '%s' must be a date (YYYY-MM-DD)", "to");
			out->day_to = day_of_us(us);
		}
		out->day_from = out->day_to >= D4_API_BS_DAYS_DEF - 1 ? out->day_to - (D4_API_BS_DAYS_DEF - 1) : 0;
		if (from) {
			if (d4_api_bs_parse_time_us(from, &us))
				return fail(err, errsz, "query parameter '%s' must be a date (YYYY-MM-DD)", "from");
			out->day_from = day_of_us(us);
		}
		if (out->day_from > out->day_to)
			return fail(err, errsz, "%s", "'from' is after 'to'");
		if (out->day_to - out->day_from >= D4_API_BS_DAYS_MAX)
			return fail(err, errsz, "%s", "a summary covers at most 31 days: narrow 'from' and 'to'");
		return D4_OK;
	}
	if (cursor && cursor_open(out, cursor))
		return fail(err, errsz, "%s",
			    "query parameter 'cursor' is not a cursor of this query: pass the next_cursor of the "
			    "previous page unchanged, with the same filters (cursors do not survive a restart of "
			    "the hub)");
	return D4_OK;
}
