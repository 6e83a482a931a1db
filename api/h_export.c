/* d4hub API — raw data export, streamed.
 *
 * The handlers validate everything, collect the list of sessions to walk
 * (one, or those of the sensor overlapping the time range: small metadata),
 * check pcap global headers of every session up front (a link-type clash
 * must be a 409 before the 200 is sent), then answer with a producer. The
 * producer resumes from (session index, next frame seq); each next() reads
 * the store in short read transactions that stop as soon as the chunk is
 * full, so no transaction outlives a call. A frame that does not fit the
 * rest of the chunk is formatted into a pending buffer (at most one frame's
 * output) that the following calls drain first. */
#include "h_export.h"

#include "api_core.h"
#include "d4_error.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_reader.h"
#include "d4_store_fed.h"
#include "d4_util.h"
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FED_MEMBER_MAX (256u + D4_STORE_FED_VIA_MAX * 36u)

/* Frames of one session are stored in receive order, so a frame received
 * after `to` ends that session's walk. */
#define FRAMES_PER_TXN 4096 /* bounds one read transaction even when nothing matches */

/* ---- pure helpers ---------------------------------------------------------- */

int d4_export_format_parse(const char *s, enum d4_export_format *out)
{
	static const char *const names[] = {"raw", "pcap", "text", "ndjson"};
	for (unsigned i = 0; s && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum d4_export_format)i;
			return D4_OK;
		}
	return D4_EINVAL;
}

const char *d4_export_content_type(enum d4_export_format f)
{
	switch (f) {
	case D4_EXPORT_PCAP: return "application/vnd.tcpdump.pcap";
	case D4_EXPORT_TEXT: return "text/plain; charset=utf-8";
	case D4_EXPORT_NDJSON: return "application/x-ndjson";
	default: return "application/octet-stream";
	}
}

static int is_text_type(unsigned t)
{
	return t == 2 || t == 3 || t == 6 || t == 8 || t == 254;
}

int d4_export_format_allows(enum d4_export_format f, unsigned type)
{
	switch (f) {
	case D4_EXPORT_PCAP: return type == 1;
	case D4_EXPORT_TEXT: return is_text_type(type);
	default: return type <= 255;
	}
}

static int digits(const char *s, unsigned n, unsigned *out)
{
	unsigned v = 0;
	for (unsigned i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), no libc time zone. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* Fraction digits after '.', up to milliseconds (more digits ignored).
 * Returns the number of characters consumed, -1 if none. */
static int fraction_ms(const char *s, unsigned *ms)
{
	int n = 0;
	unsigned v = 0, scale = 100;
	while (s[n] >= '0' && s[n] <= '9') {
		v += (unsigned)(s[n] - '0') * scale;
		scale /= 10;
		n++;
		if (n > 9)
			return -1;
	}
	*ms = v;
	return n ? n : -1;
}

int d4_export_time_parse(const char *s, uint64_t *ms_out)
{
	if (!s || !*s)
		return D4_EINVAL;
	size_t len = strlen(s);
	if (len > 40)
		return D4_EINVAL;
	/* epoch seconds: digits, optionally '.' and more digits */
	size_t ni = strspn(s, "0123456789");
	if (ni > 0 && (s[ni] == '\0' || s[ni] == '.')) {
		if (ni > 11)
			return D4_EINVAL; /* beyond year 5138 */
		uint64_t sec = 0;
		for (size_t i = 0; i < ni; i++)
			sec = sec * 10 + (uint64_t)(s[i] - '0');
		unsigned ms = 0;
		if (s[ni] == '.') {
			int n = fraction_ms(s + ni + 1, &ms);
			if (n < 0 || s[ni + 1 + (size_t)n] != '\0')
				return D4_EINVAL;
		}
		*ms_out = sec * 1000 + ms;
		return D4_OK;
	}
	unsigned y, mo, d, h = 0, mi = 0, se = 0, ms = 0;
	if (len < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d))
		return D4_EINVAL;
	const char *p = s + 10;
	if (*p) {
		if ((*p != 'T' && *p != 't') || strlen(p) < 9 || digits(p + 1, 2, &h) || p[3] != ':' ||
		    digits(p + 4, 2, &mi) || p[6] != ':' || digits(p + 7, 2, &se))
			return D4_EINVAL;
		p += 9;
		if (*p == '.') {
			int n = fraction_ms(p + 1, &ms);
			if (n < 0)
				return D4_EINVAL;
			p += 1 + n;
		}
		if (!((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') && strcmp(p, "+00:00") != 0)
			return D4_EINVAL;
	}
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
		return D4_EINVAL;
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo == 2 && d == 29 && !leap)
		return D4_EINVAL;
	int64_t days = days_from_civil(y, mo, d);
	*ms_out = ((uint64_t)days * 86400 + h * 3600u + mi * 60u + se) * 1000 + ms;
	return D4_OK;
}

size_t d4_export_ndjson_max(size_t payload_len)
{
	/* fixed members (uuids, names, numbers, ISO time) stay well under 512;
	 * ext_type: 63 bytes, each at most 6 escaped */
	return 512 + 6 * D4_EXT_TYPE_MAX + 4 * ((payload_len + 2) / 3);
}

static size_t b64(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	return o;
}

size_t d4_export_ndjson_line(const struct d4_frame_rec *rec, const char *ext_type, const uint8_t *payload, char *out,
			     size_t cap)
{
	if (cap < d4_export_ndjson_max(rec->size))
		return 0;
	char sensor[D4_UUID_HEX_LEN + 1], org[D4_UUID_HEX_LEN + 1], ts[40], ext[6 * D4_EXT_TYPE_MAX + 3];
	d4_uuid_hex(rec->uuid, sensor);
	d4_uuid_hex(rec->org, org);
	time_t t = (time_t)(rec->recv_ms / 1000);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		ts[0] = '\0';
	size_t e = 0;
	if (ext_type && ext_type[0]) {
		ext[e++] = '"';
		for (const unsigned char *p = (const unsigned char *)ext_type; *p && e + 8 < sizeof(ext); p++) {
			if (*p == '"' || *p == '\\') {
				ext[e++] = '\\';
				ext[e++] = (char)*p;
			} else if (*p < 0x20 || *p >= 0x7f) {
				/* store strings may come from hostile meta headers */
				e += (size_t)snprintf(ext + e, sizeof(ext) - e, "\\u%04x", *p < 0x20 ? *p : 0xfffd);
			} else {
				ext[e++] = (char)*p;
			}
		}
		ext[e++] = '"';
	} else {
		memcpy(ext, "null", 4);
		e = 4;
	}
	ext[e] = '\0';
	int n = snprintf(out, cap,
			 "{\"seq\":%llu,\"session\":%llu,\"sensor\":\"%s\",\"type\":%u,\"version\":%u,\"ext_type\":%s,"
			 "\"tlp\":\"%s\","
			 "\"org\":\"%s\",\"hdr_ts\":%llu,\"recv_ts\":\"%s.%03uZ\",\"size\":%u,\"payload_b64\":\"",
			 (unsigned long long)rec->seq, (unsigned long long)rec->session, sensor, rec->type,
			 rec->version, ext, d4_policy_tlp_name((enum d4_tlp)rec->tlp), org,
			 (unsigned long long)rec->hdr_ts, ts, (unsigned)(rec->recv_ms % 1000), rec->size);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	size_t o = (size_t)n;
	o += b64(payload, rec->size, out + o);
	memcpy(out + o, "\"}\n", 3);
	return o + 3;
}

/* ---- pcap ------------------------------------------------------------------ */

static uint32_t rd32(const uint8_t *p, int be)
{
	return be ? d4_get_u32be(p)
		  : (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int d4_pcap_ghdr_parse(const uint8_t hdr[D4_PCAP_GHDR], uint32_t *linktype, uint32_t *snaplen, int *big_endian)
{
	uint32_t le = rd32(hdr, 0);
	int be;
	if (le == 0xa1b2c3d4u || le == 0xa1b23c4du)
		be = 0;
	else if (le == 0xd4c3b2a1u || le == 0x4d3cb2a1u)
		be = 1;
	else
		return 0;
	unsigned major = be ? (unsigned)hdr[4] << 8 | hdr[5] : (unsigned)hdr[5] << 8 | hdr[4];
	if (major != 2)
		return 0;
	*big_endian = be;
	*snaplen = rd32(hdr + 16, be);
	*linktype = rd32(hdr + 20, be) & 0x0fffffffu; /* the top bits are FCS flags */
	return 1;
}

void d4_pcap_split_init(struct d4_pcap_split *s)
{
	memset(s, 0, sizeof(*s));
}

void d4_pcap_split_free(struct d4_pcap_split *s)
{
	free(s->rec);
	d4_pcap_split_init(s);
}

int d4_pcap_split_feed(struct d4_pcap_split *s, const uint8_t *p, size_t n, int keep,
		       int (*emit)(void *ctx, const uint8_t *rec, size_t len), void *ctx)
{
	while (n > 0) {
		if (s->ghave < D4_PCAP_GHDR) {
			size_t k = D4_PCAP_GHDR - s->ghave < n ? D4_PCAP_GHDR - s->ghave : n;
			memcpy(s->ghdr + s->ghave, p, k);
			s->ghave += (unsigned)k;
			p += k;
			n -= k;
			if (s->ghave == D4_PCAP_GHDR) {
				uint32_t lt, sl;
				if (!d4_pcap_ghdr_parse(s->ghdr, &lt, &sl, &s->big_endian))
					return D4_ECORRUPT;
			}
			continue;
		}
		if (!s->rec) {
			s->rcap = 64 * 1024;
			if (!(s->rec = malloc(s->rcap)))
				return D4_ENOMEM;
		}
		if (s->rhave == 0)
			s->keep = keep; /* the frame in which the record begins decides */
		size_t need = s->rhave < D4_PCAP_RHDR ? D4_PCAP_RHDR : s->rneed;
		size_t k = need - s->rhave < n ? need - s->rhave : n;
		memcpy(s->rec + s->rhave, p, k);
		s->rhave += k;
		p += k;
		n -= k;
		if (s->rhave == D4_PCAP_RHDR && need == D4_PCAP_RHDR) {
			uint32_t incl = rd32(s->rec + 8, s->big_endian);
			if (incl > D4_PCAP_RECORD_MAX)
				return D4_ECORRUPT;
			s->rneed = D4_PCAP_RHDR + (size_t)incl;
			if (s->rneed > s->rcap) {
				uint8_t *nr = realloc(s->rec, s->rneed);
				if (!nr)
					return D4_ENOMEM;
				s->rec = nr;
				s->rcap = s->rneed;
			}
		}
		if (s->rhave >= D4_PCAP_RHDR && s->rhave == s->rneed) {
			int r = s->keep ? emit(ctx, s->rec, s->rhave) : 0;
			s->rhave = s->rneed = 0;
			if (r)
				return r;
		}
	}
	return D4_OK;
}

/* ---- the producer ---------------------------------------------------------- */

struct export_prod {
	struct d4_api_producer super;
	struct d4_store *st;
	enum d4_export_format fmt;
	uint64_t *sess; /* sessions to walk, in id (= time) order */
	size_t nsess, si;
	uint64_t next_seq; /* cursor in sess[si] */
	int type;	   /* frames of this type only; -1 all */
	uint64_t from_ms, to_ms;
	char ext_type[D4_EXT_TYPE_MAX]; /* of sess[si], for ndjson */
	/* of sess[si] when it was received from a partner hub: the member
	 * ndjson adds to its frames ("" for a local session) */
	char fed[FED_MEMBER_MAX];
	int sess_loaded;
	/* TLP: the caller's clearance, the level of sess[si] (its frames are
	 * checked too), the level of a session without one yet */
	enum d4_tlp clearance;
	uint8_t sess_tlp, untagged_tlp;
	uint64_t withheld; /* frames left out, for the log */
	struct d4_pcap_split split;
	uint8_t ghdr[D4_PCAP_GHDR];
	int ghdr_pending;
	/* output of the current call, and what did not fit */
	uint8_t *out;
	size_t cap, used;
	uint8_t *pend;
	size_t pend_len, pend_off, pend_cap;
	char *line; /* ndjson scratch */
	size_t line_cap;
	/* walk state of one read transaction */
	unsigned seen;
	int stopped, session_done, err;
};

/* ,"federation":{...} of a received session (docs/api.md "Raw data
 * export"): the partner it came from, that partner's hub, the origin hub,
 * the hubs it came through, and whether it arrived stripped. */
static void fed_member(const struct d4_store_fed_session *fs, char *out, size_t cap)
{
	char sender[D4_UUID_HEX_LEN + 1], origin[D4_UUID_HEX_LEN + 3], hex[D4_UUID_HEX_LEN + 1];
	d4_uuid_hex(fs->sender, sender);
	if (fs->prov.has_origin && !fs->prov.stripped) {
		d4_uuid_hex(fs->prov.origin, hex);
		snprintf(origin, sizeof(origin), "\"%s\"", hex);
	} else {
		d4_strlcpy(origin, "null", sizeof(origin));
	}
	/* partner names are [A-Za-z0-9._-] (checked by the store): no escaping */
	int n = snprintf(out, cap,
			 ",\"federation\":{\"partner\":\"%s\",\"sender\":\"%s\",\"origin\":%s,\"stripped\":%s,"
			 "\"via\":[",
			 d4_store_partner_name_valid(fs->partner) ? fs->partner : "", sender, origin,
			 fs->prov.stripped ? "true" : "false");
	size_t o = n > 0 && (size_t)n < cap ? (size_t)n : 0;
	for (unsigned i = 0; i < fs->prov.nvia && i < D4_STORE_FED_VIA_MAX && o + 40 < cap; i++) {
		d4_uuid_hex(fs->prov.via[i], hex);
		o += (size_t)snprintf(out + o, cap - o, "%s\"%s\"", i ? "," : "", hex);
	}
	if (o + 3 < cap)
		memcpy(out + o, "]}", 3);
	else
		out[0] = '\0';
}

static int sink(void *ctx, const uint8_t *data, size_t len)
{
	struct export_prod *x = ctx;
	size_t k = x->cap - x->used < len ? x->cap - x->used : len;
	memcpy(x->out + x->used, data, k);
	x->used += k;
	data += k;
	len -= k;
	if (len == 0)
		return 0;
	if (x->pend_len + len > x->pend_cap) {
		size_t nc = x->pend_len + len;
		uint8_t *np = realloc(x->pend, nc);
		if (!np)
			return D4_ENOMEM;
		x->pend = np;
		x->pend_cap = nc;
	}
	memcpy(x->pend + x->pend_len, data, len);
	x->pend_len += len;
	return 0;
}

static int frame_cb(void *ctx, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	struct export_prod *x = ctx;
	x->next_seq = rec->seq + 1;
	x->seen++;
	if (rec->recv_ms > x->to_ms) {
		x->session_done = 1; /* a session's frames are in receive order */
		return 1;
	}
	int match = (x->type < 0 || rec->type == x->type) && rec->recv_ms >= x->from_ms;
	/* Sessions above the clearance were never listed; a frame can still
	 * be above it alone (meta-header fragments stored before the tags were
	 * known carry the default). pcap keeps feeding the record splitter so
	 * that boundaries stay right. */
	if (match && !(d4_api_may_see(x->clearance, rec->tlp) && d4_api_may_see(x->clearance, x->sess_tlp))) {
		match = 0;
		x->withheld++;
	}
	int r = 0;
	switch (x->fmt) {
	case D4_EXPORT_PCAP:
		/* every type-1 frame keeps the record boundaries; only the
		 * matching ones contribute records */
		if (rec->type == 1)
			r = d4_pcap_split_feed(&x->split, payload, rec->size, match, sink, x);
		if (r == D4_ECORRUPT) {
			d4_warn("api: export: session %llu is not a valid pcap stream at seq %llu; rest skipped",
				(unsigned long long)rec->session, (unsigned long long)rec->seq);
			x->session_done = 1;
			return 1;
		}
		break;
	case D4_EXPORT_NDJSON:
		if (!match)
			break;
		if (d4_export_ndjson_max(rec->size) + sizeof(x->fed) > x->line_cap) {
			size_t nc = d4_export_ndjson_max(rec->size) + sizeof(x->fed);
			char *nl = realloc(x->line, nc);
			if (!nl) {
				r = D4_ENOMEM;
				break;
			}
			x->line = nl;
			x->line_cap = nc;
		}
		{
			size_t n = d4_export_ndjson_line(rec, x->ext_type, payload, x->line, x->line_cap);
			size_t f = strlen(x->fed);
			if (n >= 2 && f) {
				/* the line ends with "}\n": the member goes before */
				memcpy(x->line + n - 2, x->fed, f);
				memcpy(x->line + n - 2 + f, "}\n", 2);
				n += f;
			}
			r = n ? sink(x, (const uint8_t *)x->line, n) : D4_EINVAL;
		}
		break;
	default:
		if (match)
			r = sink(x, payload, rec->size);
	}
	if (r) {
		x->err = r;
		return 1;
	}
	if (x->pend_len || x->used == x->cap || x->seen >= FRAMES_PER_TXN) {
		x->stopped = 1;
		return 1;
	}
	return 0;
}

static void drain(struct export_prod *x)
{
	size_t k = x->pend_len - x->pend_off;
	if (k > x->cap - x->used)
		k = x->cap - x->used;
	memcpy(x->out + x->used, x->pend + x->pend_off, k);
	x->used += k;
	x->pend_off += k;
	if (x->pend_off == x->pend_len)
		x->pend_off = x->pend_len = 0;
}

static long prod_next(struct d4_api_producer *p, uint8_t *buf, size_t cap)
{
	struct export_prod *x = (struct export_prod *)p;
	x->out = buf;
	x->cap = cap;
	x->used = 0;
	if (x->pend_len) {
		drain(x);
		if (x->pend_len)
			return (long)x->used;
	}
	if (x->ghdr_pending) {
		x->ghdr_pending = 0;
		if (sink(x, x->ghdr, sizeof(x->ghdr)))
			return D4_ENOMEM;
	}
	while (x->used < x->cap && !x->pend_len && x->si < x->nsess) {
		if (!x->sess_loaded) {
			struct d4_session_info si;
			int rc = d4_store_session_get(x->st, x->sess[x->si], &si);
			if (rc < 0 && rc != D4_ENOTFOUND)
				return rc;
			d4_strlcpy(x->ext_type, rc == 0 ? si.ext_type : "", sizeof(x->ext_type));
			x->sess_tlp = rc == 0 && si.tlp ? si.tlp : x->untagged_tlp;
			x->fed[0] = '\0';
			struct d4_store_fed_session fs;
			if (rc == 0 && si.fed && x->fmt == D4_EXPORT_NDJSON &&
			    d4_store_fed_session_get(x->st, x->sess[x->si], &fs) == 0)
				fed_member(&fs, x->fed, sizeof(x->fed));
			x->sess_loaded = 1;
		}
		x->seen = 0;
		x->stopped = x->session_done = 0;
		int rc = d4_store_frame_foreach(x->st, x->next_seq, x->sess[x->si], frame_cb, x);
		if (rc < 0)
			return rc;
		if (x->err)
			return x->err;
		if (!x->stopped || x->session_done) {
			/* this session is exhausted (a record cut at its end is dropped) */
			x->si++;
			x->next_seq = 0;
			x->sess_loaded = 0;
			d4_pcap_split_free(&x->split);
		}
	}
	return (long)x->used;
}

static void prod_free(struct d4_api_producer *p)
{
	struct export_prod *x = (struct export_prod *)p;
	if (x->withheld)
		d4_info("api: export: %llu frame(s) above the caller's clearance %s withheld",
			(unsigned long long)x->withheld, d4_policy_tlp_name(x->clearance));
	d4_pcap_split_free(&x->split);
	free(x->sess);
	free(x->pend);
	free(x->line);
	free(x);
}

/* ---- handlers -------------------------------------------------------------- */

/* The first 24 bytes of a session's type-1 stream. */
struct ghdr_read {
	uint8_t b[D4_PCAP_GHDR];
	unsigned have;
};

static int ghdr_cb(void *ctx, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	struct ghdr_read *g = ctx;
	if (rec->type != 1)
		return 0;
	size_t k = D4_PCAP_GHDR - g->have < rec->size ? D4_PCAP_GHDR - g->have : rec->size;
	memcpy(g->b + g->have, payload, k);
	g->have += (unsigned)k;
	return g->have == D4_PCAP_GHDR;
}

/* Checks the pcap headers of every session and prepares the output's:
 * the first session's, with the largest snaplen of all (readers refuse
 * records longer than the file's snaplen). Sessions with no data are
 * dropped from the list. Returns 0 or -1 with the problem set. */
static int pcap_prepare(struct export_prod *x, struct d4_api_resp *resp)
{
	size_t keep = 0;
	uint32_t lt0 = 0, sl_max = 0;
	uint8_t magic0[4];
	for (size_t i = 0; i < x->nsess; i++) {
		struct ghdr_read g = {.have = 0};
		int rc = d4_store_frame_foreach(x->st, 0, x->sess[i], ghdr_cb, &g);
		if (rc < 0) {
			d4_h_store_error(resp, rc, "frames");
			return -1;
		}
		if (g.have == 0)
			continue;
		uint32_t lt, sl;
		int be;
		if (g.have < D4_PCAP_GHDR || !d4_pcap_ghdr_parse(g.b, &lt, &sl, &be)) {
			d4_h_unprocessable(resp,
					   "session %llu does not hold a pcap stream (pcapng or other data); export it "
					   "as raw",
					   (unsigned long long)x->sess[i]);
			return -1;
		}
		if (keep == 0) {
			memcpy(x->ghdr, g.b, D4_PCAP_GHDR);
			memcpy(magic0, g.b, 4);
			lt0 = lt;
		} else if (lt != lt0 || memcmp(magic0, g.b, 4) != 0) {
			d4_h_conflict(resp,
				      "sessions %llu and %llu have different pcap link types (%u, %u) or formats; one "
				      "pcap file cannot hold both: export them one session at a time",
				      (unsigned long long)x->sess[0], (unsigned long long)x->sess[i], lt0, lt);
			return -1;
		}
		if (sl > sl_max)
			sl_max = sl;
		x->sess[keep++] = x->sess[i];
	}
	x->nsess = keep;
	if (keep == 0) {
		/* nothing to export: still one valid, empty file (Ethernet,
		 * microseconds, little-endian) */
		static const uint8_t empty[D4_PCAP_GHDR] = {0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0,
							    0,	  0,	0,    0,    0, 0, 4, 0, 1, 0, 0, 0};
		memcpy(x->ghdr, empty, sizeof(empty));
	} else {
		int be;
		uint32_t lt, sl;
		d4_pcap_ghdr_parse(x->ghdr, &lt, &sl, &be);
		if (sl_max > sl) {
			uint8_t *q = x->ghdr + 16;
			if (be)
				d4_put_u32be(q, sl_max);
			else
				for (int k = 0; k < 4; k++)
					q[k] = (uint8_t)(sl_max >> (8 * k));
		}
	}
	x->ghdr_pending = 1;
	return 0;
}

static struct export_prod *prod_new(struct d4_api_ctx *ctx, const struct d4_api_req *req, enum d4_export_format fmt,
				    const struct d4_sensor *sn)
{
	struct export_prod *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->super.next = prod_next;
	x->super.free = prod_free;
	x->st = ctx->store;
	x->fmt = fmt;
	x->type = -1;
	x->to_ms = UINT64_MAX;
	x->clearance = d4_api_clearance(ctx, req);
	x->untagged_tlp = (uint8_t)d4_api_untagged_tlp(ctx, sn);
	d4_pcap_split_init(&x->split);
	return x;
}

static int parse_format(const struct d4_api_req *req, struct d4_api_resp *resp, enum d4_export_format *fmt)
{
	const char *f = d4_api_query(req, "format");
	if (!f) {
		*fmt = D4_EXPORT_RAW;
		return 0;
	}
	if (d4_export_format_parse(f, fmt) != D4_OK) {
		d4_h_bad_param(resp, "query parameter 'format' must be raw, pcap, text or ndjson");
		return -1;
	}
	return 0;
}

static void send_stream(struct export_prod *x, struct d4_api_resp *resp, const char *filename)
{
	char cd[128];
	snprintf(cd, sizeof(cd), "attachment; filename=\"%s.%s\"", filename,
		 x->fmt == D4_EXPORT_PCAP     ? "pcap"
		 : x->fmt == D4_EXPORT_TEXT   ? "txt"
		 : x->fmt == D4_EXPORT_NDJSON ? "ndjson"
					      : "bin");
	d4_api_header(resp, "content-disposition", cd);
	d4_api_stream(resp, 200, d4_export_content_type(x->fmt), &x->super);
}

static const char *const session_query[] = {"format", NULL};

void d4_h_export_session(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	enum d4_export_format fmt;
	if (d4_h_query_only(req, resp, session_query) || parse_format(req, resp, &fmt))
		return;
	const char *ids = req->nparams ? req->params[0] : "";
	uint64_t id = 0;
	size_t n = strspn(ids, "0123456789");
	if (n == 0 || n > 19 || ids[n] != '\0') {
		d4_h_bad_param(resp, "session id must be a positive decimal integer");
		return;
	}
	for (size_t i = 0; i < n; i++)
		id = id * 10 + (uint64_t)(ids[i] - '0');
	struct d4_session_info si;
	char what[48];
	snprintf(what, sizeof(what), "session %llu", (unsigned long long)id);
	int rc = id ? d4_store_session_get(ctx->store, id, &si) : D4_ENOTFOUND;
	if (rc < 0) {
		d4_h_store_error(resp, rc, what);
		return;
	}
	/* The session's level decides (its sensor may be gone: then the hub's
	 * default stands for a session without one). A named record the caller
	 * may not read is a 403 that says why, not a 404: ids are sequential,
	 * so hiding existence would hide nothing, and a 404 would make an
	 * analyst believe the data is gone. */
	struct d4_sensor *sn = malloc(sizeof(*sn));
	if (!sn) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	int have_sn = d4_store_sensor_get(ctx->store, si.uuid, sn) == D4_OK;
	d4_wipe(sn->key, sizeof(sn->key));
	enum d4_tlp clear = d4_api_clearance(ctx, req);
	enum d4_tlp level = d4_api_session_tlp(ctx, &si, have_sn ? sn : NULL);
	d4_api_clearance_header(resp, clear);
	if (!d4_api_may_see(clear, (uint8_t)level)) {
		free(sn);
		d4_api_problem(resp, 403, "forbidden", "Forbidden", "%s is %s, above your clearance (%s)", what,
			       d4_policy_tlp_name(level), d4_policy_tlp_name(clear));
		return;
	}
	/* a 2 -> 254 session carries its meta header as a type-2 frame: the
	 * data is the 254 stream */
	unsigned dtype = si.type == 2 && si.ext_type[0] ? 254 : si.type;
	if (!d4_export_format_allows(fmt, dtype)) {
		d4_h_unprocessable(resp, "format %s does not apply to session %llu of type %u (%s)",
				   d4_api_query(req, "format"), (unsigned long long)id, dtype,
				   fmt == D4_EXPORT_PCAP ? "pcap is for type 1 only"
							 : "text is for the line types 2, 3, 6, 8 and 254");
		free(sn);
		return;
	}
	struct export_prod *x = prod_new(ctx, req, fmt, have_sn ? sn : NULL);
	free(sn);
	if (!x || !(x->sess = malloc(sizeof(uint64_t)))) {
		free(x);
		d4_h_internal(resp, "out of memory");
		return;
	}
	x->sess[0] = id;
	x->nsess = 1;
	if (fmt != D4_EXPORT_NDJSON)
		x->type = (int)dtype; /* the meta header frame is not data */
	if (fmt == D4_EXPORT_PCAP && pcap_prepare(x, resp)) {
		prod_free(&x->super);
		return;
	}
	char fname[48];
	snprintf(fname, sizeof(fname), "d4-session-%llu", (unsigned long long)id);
	send_stream(x, resp, fname);
}

struct sess_collect {
	struct export_prod *x;
	unsigned type;
	uint64_t from_ms, to_ms;
	size_t cap;
	uint64_t withheld; /* sessions above the clearance */
	int err;
	int any; /* the sensor has a session at all */
};

static int sess_cb(void *ctx, const struct d4_session_info *si)
{
	struct sess_collect *c = ctx;
	c->any = 1;
	if (!(si->type == c->type || (c->type == 254 && si->type == 2)))
		return 0;
	if (si->started * 1000 > c->to_ms || (si->ended && si->ended * 1000 + 999 < c->from_ms))
		return 0;
	struct export_prod *x = c->x;
	if (!d4_api_may_see(x->clearance, si->tlp ? si->tlp : x->untagged_tlp)) {
		c->withheld++;
		return 0;
	}
	if (x->nsess == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 16;
		uint64_t *ns = realloc(x->sess, nc * sizeof(*ns));
		if (!ns) {
			c->err = D4_ENOMEM;
			return 1;
		}
		x->sess = ns;
		c->cap = nc;
	}
	x->sess[x->nsess++] = si->session;
	return 0;
}

static const char *const range_query[] = {"sensor", "type", "from", "to", "format", NULL};

void d4_h_export_range(struct d4_api_ctx *ctx, const struct d4_api_req *req, struct d4_api_resp *resp)
{
	enum d4_export_format fmt;
	uint8_t uuid[16];
	uint64_t type, from_ms = 0, to_ms = UINT64_MAX;
	if (d4_h_query_only(req, resp, range_query) || parse_format(req, resp, &fmt))
		return;
	const char *sensor = d4_api_query(req, "sensor");
	if (!sensor) {
		d4_h_bad_param(resp, "query parameter 'sensor' is required");
		return;
	}
	if (strlen(sensor) > 36 || d4_uuid_parse(sensor, uuid) != D4_OK) {
		d4_h_bad_param(resp, "query parameter 'sensor' must be a uuid (32 hex digits)");
		return;
	}
	if (!d4_api_query(req, "type")) {
		d4_h_bad_param(resp, "query parameter 'type' is required");
		return;
	}
	if (d4_h_query_uint(req, resp, "type", 0, 255, 0, &type))
		return;
	const char *names[2] = {"from", "to"};
	uint64_t *dst[2] = {&from_ms, &to_ms};
	for (int i = 0; i < 2; i++) {
		const char *v = d4_api_query(req, names[i]);
		if (v && d4_export_time_parse(v, dst[i]) != D4_OK) {
			d4_h_bad_param(resp,
				       "query parameter '%s' must be epoch seconds or an ISO-8601 UTC time "
				       "(2026-11-25T17:00:00Z)",
				       names[i]);
			return;
		}
	}
	if (from_ms > to_ms) {
		d4_h_bad_param(resp, "'from' is after 'to'");
		return;
	}
	if (!d4_export_format_allows(fmt, (unsigned)type)) {
		d4_h_unprocessable(resp, "format %s does not apply to type %u (%s)", d4_api_query(req, "format"),
				   (unsigned)type,
				   fmt == D4_EXPORT_PCAP ? "pcap is for type 1 only"
							 : "text is for the line types 2, 3, 6, 8 and 254");
		return;
	}
	struct d4_sensor sn;
	char what[64], hex[D4_UUID_HEX_LEN + 1];
	d4_uuid_hex(uuid, hex);
	snprintf(what, sizeof(what), "sensor %s", hex);
	int rc = d4_store_sensor_get(ctx->store, uuid, &sn);
	d4_wipe(sn.key, sizeof(sn.key));
	/* a sensor of another hub whose frames were received from a partner
	 * is not registered here: its sessions are what there is of it */
	int have_sn = rc == 0;
	if (rc < 0 && rc != D4_ENOTFOUND) {
		d4_h_store_error(resp, rc, what);
		return;
	}
	struct export_prod *x = prod_new(ctx, req, fmt, have_sn ? &sn : NULL);
	if (!x) {
		d4_h_internal(resp, "out of memory");
		return;
	}
	x->type = (int)type;
	x->from_ms = from_ms;
	x->to_ms = to_ms;
	struct sess_collect c = {.x = x, .type = (unsigned)type, .from_ms = from_ms, .to_ms = to_ms};
	rc = d4_store_session_foreach(ctx->store, uuid, sess_cb, &c);
	if (rc < 0 || c.err || (!have_sn && !c.any)) {
		prod_free(&x->super);
		if (c.err)
			d4_h_internal(resp, "out of memory");
		else
			d4_h_store_error(resp, rc < 0 ? rc : D4_ENOTFOUND, rc < 0 ? "sessions" : what);
		return;
	}
	if (fmt == D4_EXPORT_PCAP && pcap_prepare(x, resp)) {
		prod_free(&x->super);
		return;
	}
	/* Sessions are the unit a range export leaves out: say how many, so
	 * that a client can tell "nothing there" from "nothing for you". */
	char num[24];
	snprintf(num, sizeof(num), "%llu", (unsigned long long)c.withheld);
	d4_api_header(resp, "d4-withheld-sessions", num);
	d4_api_clearance_header(resp, x->clearance);
	char fname[64];
	snprintf(fname, sizeof(fname), "d4-%s-type%u", hex, (unsigned)type);
	send_stream(x, resp, fname);
}
