/* d4hubctl — output helpers: sanitised text, times, addresses, JSON. */
#include "ctl_internal.h"
#include "d4_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const char *ctl_clean(const char *in, char *out, size_t size)
{
	size_t o = 0;
	if (size == 0)
		return "";
	for (; *in && o + 1 < size; in++) {
		unsigned char ch = (unsigned char)*in;
		out[o++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	out[o] = '\0';
	return out;
}

static const char *fmt_time(uint64_t t, int iso, char *out, size_t size)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (t == 0 || t > (uint64_t)253402300799ull /* 9999-12-31 */ || !gmtime_r(&tt, &tm))
		snprintf(out, size, "-");
	else if (strftime(out, size, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(out, size, "-");
	return out;
}

const char *ctl_time(uint64_t t, char *out, size_t size)
{
	return fmt_time(t, 0, out, size);
}
const char *ctl_iso(uint64_t t, char *out, size_t size)
{
	return fmt_time(t, 1, out, size);
}

const char *ctl_addr(const uint8_t addr[16], char *out, size_t size)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const char *r;
	if (!memcmp(addr, mapped, 12))
		r = inet_ntop(AF_INET, addr + 12, out, (socklen_t)size);
	else
		r = inet_ntop(AF_INET6, addr, out, (socklen_t)size);
	if (!r)
		snprintf(out, size, "?");
	return out;
}

const char *ctl_type_name(unsigned type)
{
	switch (type) {
	case 0: return "reserved";
	case 1: return "pcap";
	case 2: return "meta-header";
	case 3: return "log-line";
	case 4: return "dnscap";
	case 5: return "pcapng";
	case 6: return "ndjson";
	case 7: return "yaf";
	case 8: return "passivedns";
	case 254: return "extended";
	default: return "";
	}
}

static yajl_gen gen(struct ctl *c)
{
	if (!c->g)
		c->g = yajl_gen_alloc(NULL);
	return c->g;
}

/* Copies valid UTF-8 through and replaces each invalid byte with U+FFFD,
 * so that names taken from the wire never make yajl fail mid-document. */
static void j_string(struct ctl *c, const char *s)
{
	yajl_gen g = gen(c);
	unsigned char buf[3 * 256 + 4];
	size_t o = 0, len = strlen(s);
	if (!g)
		return;
	for (size_t i = 0; i < len;) {
		const unsigned char *p = (const unsigned char *)s + i;
		size_t n = 0;
		if (p[0] < 0x80)
			n = 1;
		else if (p[0] >= 0xc2 && p[0] <= 0xdf && i + 1 < len && (p[1] & 0xc0) == 0x80)
			n = 2;
		else if (p[0] >= 0xe0 && p[0] <= 0xef && i + 2 < len && (p[1] & 0xc0) == 0x80 &&
			 (p[2] & 0xc0) == 0x80 && !(p[0] == 0xe0 && p[1] < 0xa0) && !(p[0] == 0xed && p[1] > 0x9f))
			n = 3;
		else if (p[0] >= 0xf0 && p[0] <= 0xf4 && i + 3 < len && (p[1] & 0xc0) == 0x80 &&
			 (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80 && !(p[0] == 0xf0 && p[1] < 0x90) &&
			 !(p[0] == 0xf4 && p[1] > 0x8f))
			n = 4;
		if (o + 4 > sizeof(buf)) {
			yajl_gen_string(g, buf, o);
			/* Strings are bounded by their record fields (< 256
			 * bytes); a longer one is cut rather than split. */
			return;
		}
		if (n) {
			memcpy(buf + o, p, n);
			o += n;
			i += n;
		} else {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	yajl_gen_string(g, buf, o);
}

void ctl_j_key(struct ctl *c, const char *k)
{
	if (k)
		j_string(c, k);
}

void ctl_j_str(struct ctl *c, const char *k, const char *v)
{
	ctl_j_key(c, k);
	j_string(c, v);
}

void ctl_j_u64(struct ctl *c, const char *k, uint64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	ctl_j_key(c, k);
	if (gen(c))
		yajl_gen_number(c->g, num, (size_t)n);
}

void ctl_j_bool(struct ctl *c, const char *k, int v)
{
	ctl_j_key(c, k);
	if (gen(c))
		yajl_gen_bool(c->g, v);
}

void ctl_j_null(struct ctl *c, const char *k)
{
	ctl_j_key(c, k);
	if (gen(c))
		yajl_gen_null(c->g);
}

void ctl_j_uuid(struct ctl *c, const char *k, const uint8_t uuid[16])
{
	char hex[D4_UUID_HEX_LEN + 1];
	d4_uuid_hex(uuid, hex);
	ctl_j_str(c, k, hex);
}

void ctl_j_time(struct ctl *c, const char *k, uint64_t t)
{
	char key[64], iso[32];
	ctl_j_u64(c, k, t);
	snprintf(key, sizeof(key), "%s_iso", k);
	if (t == 0)
		ctl_j_null(c, key);
	else
		ctl_j_str(c, key, ctl_iso(t, iso, sizeof(iso)));
}

void ctl_j_obj_open(struct ctl *c, const char *k)
{
	ctl_j_key(c, k);
	if (gen(c))
		yajl_gen_map_open(c->g);
}

void ctl_j_obj_close(struct ctl *c)
{
	if (gen(c))
		yajl_gen_map_close(c->g);
}

void ctl_j_arr_open(struct ctl *c, const char *k)
{
	ctl_j_key(c, k);
	if (gen(c))
		yajl_gen_array_open(c->g);
}

void ctl_j_arr_close(struct ctl *c)
{
	if (gen(c))
		yajl_gen_array_close(c->g);
}

static int j_flush(struct ctl *c, int secret)
{
	const unsigned char *buf;
	size_t len;
	if (!gen(c))
		return ctl_fail(c, "out of memory");
	if (yajl_gen_get_buf(c->g, &buf, &len) != yajl_gen_status_ok)
		return ctl_fail(c, "internal error: JSON generation failed");
	int rc = CTL_OK;
	if (fwrite(buf, 1, len, stdout) != len || fputc('\n', stdout) == EOF)
		rc = ctl_fail(c, "cannot write output: %s", strerror(errno));
	/* Clearing only resets the length: wipe first, while the length is known. */
	if (secret)
		d4_wipe((void *)buf, len);
	yajl_gen_clear(c->g);
	return rc;
}

int ctl_j_flush(struct ctl *c)
{
	return j_flush(c, 0);
}
