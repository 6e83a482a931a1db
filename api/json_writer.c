/* d4hub API — direct JSON writer for list pages (json_writer.h). */
#include "json_writer.h"

#include "d4_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JW_MIN_CAP 4096

void d4_jw_init(struct d4_jw *w)
{
	memset(w, 0, sizeof(*w));
}

void d4_jw_free(struct d4_jw *w)
{
	free(w->p);
	memset(w, 0, sizeof(*w));
}

/* Slow path of room(): grows the buffer (doubling) or sets oom. */
static __attribute__((noinline)) char *grow(struct d4_jw *w, size_t n)
{
	if (w->oom)
		return NULL;
	size_t cap = w->cap ? w->cap : JW_MIN_CAP;
	while (cap - w->len < n) {
		if (cap > SIZE_MAX / 2) {
			w->oom = 1;
			return NULL;
		}
		cap *= 2;
	}
	char *p = realloc(w->p, cap);
	if (!p) {
		w->oom = 1;
		return NULL;
	}
	w->p = p;
	w->cap = cap;
	return w->p + w->len;
}

/* Room for n more bytes: the write position, or NULL (oom set). Inline:
 * it runs for every field of every item. */
static inline char *room(struct d4_jw *w, size_t n)
{
	if (w->p && w->cap - w->len >= n && !w->oom)
		return w->p + w->len;
	return grow(w, n);
}

char *d4_jw_room(struct d4_jw *w, size_t n)
{
	return room(w, n);
}

void d4_jw_raw(struct d4_jw *w, const char *s, size_t n)
{
	char *q = room(w, n);
	if (!q)
		return;
	memcpy(q, s, n);
	w->len += n;
}

void d4_jw_u64(struct d4_jw *w, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	d4_jw_raw(w, tmp + sizeof(tmp) - n, n);
}

static void two(char *q, unsigned v)
{
	q[0] = (char)('0' + v / 10);
	q[1] = (char)('0' + v % 10);
}

/* 10000-01-01T00:00:00Z: below it strftime's %Y has exactly four digits. */
#define YEAR_10000 253402300800ull

void d4_jw_time(struct d4_jw *w, uint64_t epoch_s)
{
	if (epoch_s == 0) {
		D4_JW_LIT(w, "null");
		return;
	}
	if (epoch_s >= YEAR_10000) {
		/* Rare enough to take the slow path of d4_api_j_kv_time itself,
		 * so that even odd values come out the same. */
		struct tm tm;
		time_t t = (time_t)epoch_s;
		char buf[32];
		if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
			D4_JW_LIT(w, "null");
			return;
		}
		d4_jw_text(w, buf);
		return;
	}
	/* Days to civil date (proleptic Gregorian; H. Hinnant's algorithm). */
	uint64_t days = epoch_s / 86400, sec = epoch_s % 86400;
	uint64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
	uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	unsigned d = (unsigned)(doy - (153 * mp + 2) / 5 + 1), m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	unsigned y = (unsigned)(yoe + era * 400 + (m <= 2));
	char *q = room(w, 22);
	if (!q)
		return;
	q[0] = '"';
	two(q + 1, y / 100);
	two(q + 3, y % 100);
	q[5] = '-';
	two(q + 6, m);
	q[8] = '-';
	two(q + 9, d);
	q[11] = 'T';
	two(q + 12, (unsigned)(sec / 3600));
	q[14] = ':';
	two(q + 15, (unsigned)(sec / 60 % 60));
	q[17] = ':';
	two(q + 18, (unsigned)(sec % 60));
	q[20] = 'Z';
	q[21] = '"';
	w->len += 22;
}

/* 1 for the bytes copied as they are: printable ASCII but '"' and '\'
 * (yajl leaves '/' and DEL alone too). */
static int plain(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

void d4_jw_text(struct d4_jw *w, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	if (!s) {
		D4_JW_LIT(w, "null");
		return;
	}
	const unsigned char *p = (const unsigned char *)s;
	D4_JW_LIT(w, "\"");
	while (*p) {
		const unsigned char *run = p;
		while (plain(*p))
			p++;
		if (p > run)
			d4_jw_raw(w, (const char *)run, (size_t)(p - run));
		if (!*p)
			break;
		unsigned char c = *p;
		if (c >= 0x80) {
			size_t n = d4_utf8_seq(p, 4); /* NUL-terminated */
			if (n == 0) {
				D4_JW_LIT(w, "\xef\xbf\xbd");
				p++;
			} else {
				d4_jw_raw(w, (const char *)p, n);
				p += n;
			}
			continue;
		}
		p++;
		switch (c) {
		case '"': D4_JW_LIT(w, "\\\""); break;
		case '\\': D4_JW_LIT(w, "\\\\"); break;
		case '\b': D4_JW_LIT(w, "\\b"); break;
		case '\f': D4_JW_LIT(w, "\\f"); break;
		case '\n': D4_JW_LIT(w, "\\n"); break;
		case '\r': D4_JW_LIT(w, "\\r"); break;
		case '\t': D4_JW_LIT(w, "\\t"); break;
		default: {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			d4_jw_raw(w, u, sizeof(u));
		}
		}
	}
	D4_JW_LIT(w, "\"");
}

void d4_jw_sensor_summary(struct d4_jw *w, const struct d4_sensor_summary *sm, const struct d4_live_info *live)
{
	static const char hex[] = "0123456789abcdef";
	char *q = room(w, 10 + 32 + 1);
	if (!q)
		return;
	memcpy(q, "{\"uuid\":\"", 9);
	for (unsigned i = 0; i < 16; i++) {
		q[9 + 2 * i] = hex[sm->uuid[i] >> 4];
		q[10 + 2 * i] = hex[sm->uuid[i] & 15];
	}
	q[41] = '"';
	w->len += 42;
	D4_JW_LIT(w, ",\"status\":");
	d4_jw_text(w, d4_store_status_name((enum d4_sensor_status)sm->status));
	D4_JW_LIT(w, ",\"description\":");
	d4_jw_text(w, sm->description);
	D4_JW_LIT(w, ",\"first_seen\":");
	d4_jw_time(w, sm->first_seen);
	D4_JW_LIT(w, ",\"last_seen\":");
	d4_jw_time(w, sm->last_seen);
	D4_JW_LIT(w, ",\"packets\":");
	d4_jw_u64(w, sm->packets);
	D4_JW_LIT(w, ",\"bytes\":");
	d4_jw_u64(w, sm->bytes);
	D4_JW_LIT(w, ",\"last_error\":");
	d4_jw_text(w, sm->last_error[0] ? sm->last_error : NULL);
	D4_JW_LIT(w, ",\"last_error_at\":");
	d4_jw_time(w, sm->last_error_at);
	if (!live) {
		D4_JW_LIT(w, ",\"connected\":null,\"live_sessions\":null,\"connected_since\":null}");
		return;
	}
	if (live->sessions)
		D4_JW_LIT(w, ",\"connected\":true,\"live_sessions\":");
	else
		D4_JW_LIT(w, ",\"connected\":false,\"live_sessions\":");
	d4_jw_u64(w, live->sessions);
	D4_JW_LIT(w, ",\"connected_since\":");
	d4_jw_time(w, live->since);
	D4_JW_LIT(w, "}");
}
