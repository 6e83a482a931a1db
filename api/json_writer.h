/* d4hub API — a direct JSON writer for the hot list pages (listSensors).
 *
 * yajl escapes every key and value byte by byte through its buffer and has
 * no u64 or time helpers (snprintf + strftime per field): building a page of
 * 100 SensorSummary objects that way was over half of the hub's CPU under
 * load (docs/performance.md). This writer appends pre-escaped key literals
 * with one memcpy, numbers and times with arithmetic, and escapes only the
 * strings that come from the store. Its output is byte for byte the one of
 * the yajl serialisers (d4_h_j_sensor_summary, no beautify): tests/unit/api
 * compares both on hostile strings. Private to api/. */
#ifndef D4_API_JSON_WRITER_H
#define D4_API_JSON_WRITER_H

#include "d4_store.h"

#include <stddef.h>
#include <stdint.h>

/* A growable output buffer. Appends never fail visibly: on allocation
 * failure oom is set and later appends are ignored (check it once at the
 * end). p is owned by the buffer: d4_jw_free() releases it. */
struct d4_jw {
	char *p;
	size_t len, cap;
	int oom;
};

void d4_jw_init(struct d4_jw *w);
void d4_jw_free(struct d4_jw *w);
/* Room for n more bytes at p + len (the caller writes there, then adds what
 * it wrote to len), or NULL (oom set) when the buffer cannot grow. */
char *d4_jw_room(struct d4_jw *w, size_t n);
/* Raw bytes, already valid JSON (literals, punctuation). */
void d4_jw_raw(struct d4_jw *w, const char *s, size_t n);
#define D4_JW_LIT(w, lit) d4_jw_raw((w), (lit), sizeof(lit) - 1)
/* Unsigned decimal. */
void d4_jw_u64(struct d4_jw *w, uint64_t v);
/* "YYYY-MM-DDTHH:MM:SSZ" (UTC), or null for 0 — as d4_api_j_kv_time. */
void d4_jw_time(struct d4_jw *w, uint64_t epoch_s);
/* A store string as a JSON string: invalid UTF-8 bytes become U+FFFD and
 * the rest is escaped as yajl does — as d4_h_j_text. NULL -> null. */
void d4_jw_text(struct d4_jw *w, const char *s);
/* One SensorSummary object — as d4_h_j_sensor_summary; live NULL: the
 * connection state is unknown (nulls). */
void d4_jw_sensor_summary(struct d4_jw *w, const struct d4_sensor_summary *sm, const struct d4_live_info *live);

#endif
