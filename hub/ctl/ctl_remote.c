/* d4hubctl — the commands as REST API operations (openapi/d4hub.yaml), in
 * both modes: over HTTPS with -H, in-process on the store otherwise
 * (ctl_http.c). Text output is the tables of docs/ctl.md; --json prints
 * the API's own JSON (lists: every page, as one array). Everything an
 * answer holds is data from the network or from sensors: text is passed
 * through ctl_clean before it reaches the terminal. */
#include "ctl_internal.h"
#include "d4_util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Path buffers: a path is a fixed prefix plus escaped segments of at most a
 * few hundred bytes (uuids, names of <= 63 bytes, CIDRs). */
#define PATH_MAX_LEN 1024
#define ESC_MAX	     (3 * 256 + 1)

/* Writes c->g to stdout, then wipes what it held (a key or a token may
 * have passed through it) before clearing it. */
static int flush_wipe(struct ctl *c)
{
	const unsigned char *buf;
	size_t len;
	int rc = CTL_OK;
	if (!c->g || yajl_gen_get_buf(c->g, &buf, &len) != yajl_gen_status_ok)
		return ctl_fail(c, "internal error: JSON generation failed");
	if (fwrite(buf, 1, len, stdout) != len || fputc('\n', stdout) == EOF)
		rc = ctl_fail(c, "cannot write output: %s", strerror(errno));
	d4_wipe((void *)buf, len);
	yajl_gen_clear(c->g);
	return rc;
}

static int print_tree(struct ctl *c, yajl_val v)
{
	ctl_j_tree(c, NULL, v);
	return flush_wipe(c);
}

/* One request whose JSON answer is printed with --json and dropped otherwise. */
static int call_print(struct ctl *c, const char *method, const char *path, yajl_gen body)
{
	yajl_val v = NULL;
	int rc = ctl_api(c, method, path, body, c->json ? &v : NULL);
	if (rc == CTL_OK && c->json && v)
		rc = print_tree(c, v);
	ctl_tree_free(v);
	return rc;
}

/* GET of an unpaged {"items": [...]} answer, item by item. */
static int list_plain(struct ctl *c, const char *path, int (*cb)(void *ctx, yajl_val item), void *ctx)
{
	yajl_val v = NULL;
	int rc = ctl_api(c, "GET", path, NULL, &v);
	if (rc != CTL_OK)
		return rc;
	yajl_val items = ctl_jget(v, "items");
	if (!items || !YAJL_IS_ARRAY(items))
		rc = ctl_fail(c, "the hub's answer has no list of items");
	for (size_t i = 0; rc == CTL_OK && i < items->u.array.len; i++)
		rc = cb(ctx, items->u.array.values[i]);
	ctl_tree_free(v);
	return rc;
}

/* A list command: with --json one array of every item (lib: paged or not). */
struct lst {
	struct ctl *c;
	unsigned n;
	int (*row)(struct lst *l, yajl_val item); /* text output of one item */
	void *arg;
};

static int lst_cb(void *ctx, yajl_val item)
{
	struct lst *l = ctx;
	int rc = CTL_OK;
	if (l->c->json)
		ctl_j_tree(l->c, NULL, item);
	else
		rc = l->row(l, item);
	l->n++;
	return rc;
}

static int run_list(struct ctl *c, const char *path, int paged, struct lst *l, const char *empty)
{
	int rc;
	if (c->json)
		ctl_j_arr_open(c, NULL);
	rc = paged ? ctl_api_list(c, path, lst_cb, l) : list_plain(c, path, lst_cb, l);
	if (rc != CTL_OK)
		return rc;
	if (c->json) {
		ctl_j_arr_close(c);
		return flush_wipe(c);
	}
	if (l->n == 0 && empty)
		printf("%s\n", empty);
	return CTL_OK;
}

static const char *jtext(yajl_val o, const char *k, char *out, size_t size)
{
	const char *s = ctl_jstr(o, k);
	if (!s || !*s)
		return "-";
	return ctl_clean(s, out, size);
}

/* Seconds since the epoch of an ISO time member, 0 if null. */
static uint64_t jepoch(yajl_val o, const char *k)
{
	const char *s = ctl_jstr(o, k);
	int y, mo, d, h, mi, se;
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) != 6 || mo < 1 || mo > 12)
		return 0;
	/* days from civil (H. Hinnant), so no timegm is needed */
	y -= mo <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	long days = era * 146097 + doe - 719468;
	if (days < 0)
		return 0;
	return (uint64_t)days * 86400u + (uint64_t)h * 3600u + (uint64_t)mi * 60u + (uint64_t)se;
}

static void print_rejections(yajl_val rej)
{
	int any = 0;
	printf("rejections:   ");
	if (rej && YAJL_IS_OBJECT(rej))
		for (size_t i = 0; i < rej->u.object.len; i++) {
			uint64_t n = ctl_ju64(rej, rej->u.object.keys[i]);
			char k[64];
			if (!n)
				continue;
			printf("%s %s %llu", any ? "," : "", ctl_clean(rej->u.object.keys[i], k, sizeof(k)),
			       (unsigned long long)n);
			any = 1;
		}
	printf("%s\n", any ? "" : " none");
}

/* ---- sensors ------------------------------------------------------------------------ */

static void j_key_str(yajl_gen g, const char *k, const char *v)
{
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
	yajl_gen_string(g, (const unsigned char *)v, strlen(v));
}

static void j_key_u64(yajl_gen g, const char *k, uint64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
	yajl_gen_number(g, num, (size_t)n);
}

static void j_key(yajl_gen g, const char *k)
{
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
}

/* Prints a key the hub generated (text: the bare key; --json: the answer). */
static int print_generated(struct ctl *c, yajl_val v)
{
	const char *key = ctl_jstr(v, "key");
	if (c->json)
		return print_tree(c, v);
	if (key)
		printf("%s\n", key);
	return CTL_OK;
}

int ctl_r_sensor_add(struct ctl *c, const char *uuid, const uint8_t *key, size_t keylen, const char *desc, int approve)
{
	yajl_gen b = ctl_body_new();
	yajl_val v = NULL;
	if (!b)
		return ctl_fail(c, "out of memory");
	yajl_gen_map_open(b);
	j_key_str(b, "uuid", uuid);
	if (key) {
		j_key(b, "key");
		yajl_gen_string(b, key, keylen);
	}
	if (desc)
		j_key_str(b, "description", desc);
	j_key(b, "approve");
	yajl_gen_bool(b, approve);
	yajl_gen_map_close(b);
	int rc = ctl_api(c, "POST", "/api/v1/sensors", b, &v);
	if (rc == CTL_OK)
		rc = key ? (c->json ? print_tree(c, v) : CTL_OK) : print_generated(c, v);
	ctl_tree_free(v);
	return rc;
}

int ctl_r_sensor_state(struct ctl *c, const char *verb, const char *uuid, int has_ban, uint64_t ban)
{
	char path[PATH_MAX_LEN];
	if (!strcmp(verb, "del")) {
		snprintf(path, sizeof(path), "/api/v1/sensors/%s", uuid);
		return ctl_api(c, "DELETE", path, NULL, NULL);
	}
	snprintf(path, sizeof(path), "/api/v1/sensors/%s/%s", uuid, verb);
	yajl_gen b = NULL;
	if (has_ban) {
		if (!(b = ctl_body_new()))
			return ctl_fail(c, "out of memory");
		yajl_gen_map_open(b);
		j_key_u64(b, "ban_seconds", ban);
		yajl_gen_map_close(b);
	}
	return call_print(c, "POST", path, b);
}

int ctl_r_sensor_refuse(struct ctl *c, const char *uuid, int block)
{
	char path[PATH_MAX_LEN];
	yajl_gen b = NULL;
	snprintf(path, sizeof(path), "/api/v1/sensors/%s/refuse", uuid);
	if (block) {
		if (!(b = ctl_body_new()))
			return ctl_fail(c, "out of memory");
		yajl_gen_map_open(b);
		j_key(b, "block");
		yajl_gen_bool(b, 1);
		yajl_gen_map_close(b);
	}
	return call_print(c, "POST", path, b);
}

int ctl_r_sensor_rotate(struct ctl *c, const char *uuid, const uint8_t *key, size_t keylen)
{
	char path[PATH_MAX_LEN];
	yajl_gen b = NULL;
	yajl_val v = NULL;
	snprintf(path, sizeof(path), "/api/v1/sensors/%s/rotate-key", uuid);
	if (key) {
		if (!(b = ctl_body_new()))
			return ctl_fail(c, "out of memory");
		yajl_gen_map_open(b);
		j_key(b, "key");
		yajl_gen_string(b, key, keylen);
		yajl_gen_map_close(b);
	}
	int rc = ctl_api(c, "POST", path, b, &v);
	/* The answer always carries the key; it is shown only when the hub
	 * generated it, as in local mode. */
	if (rc == CTL_OK && !key)
		rc = print_generated(c, v);
	ctl_tree_free(v);
	return rc;
}

int ctl_r_sensor_set(struct ctl *c, const char *uuid, const struct ctl_sensor_set *s)
{
	char path[PATH_MAX_LEN];
	yajl_gen b = ctl_body_new();
	if (!b)
		return ctl_fail(c, "out of memory");
	snprintf(path, sizeof(path), "/api/v1/sensors/%s", uuid);
	yajl_gen_map_open(b);
	if (s->desc)
		j_key_str(b, "description", s->desc);
	if (s->mail)
		j_key_str(b, "mail", s->mail);
	if (s->tlp) {
		j_key(b, "default_tlp");
		if (!strcmp(s->tlp, "none"))
			yajl_gen_null(b);
		else
			yajl_gen_string(b, (const unsigned char *)s->tlp, strlen(s->tlp));
	}
	if (s->org) {
		j_key(b, "default_org");
		if (!strcmp(s->org, "none"))
			yajl_gen_null(b);
		else
			yajl_gen_string(b, (const unsigned char *)s->org, strlen(s->org));
	}
	if (s->has_max_payload)
		j_key_u64(b, "max_payload", s->max_payload);
	if (s->has_max_backlog)
		j_key_u64(b, "max_backlog", s->max_backlog);
	if (s->has_silence)
		j_key_u64(b, "silence_threshold", s->silence);
	yajl_gen_map_close(b);
	return call_print(c, "PATCH", path, b);
}

static int sensor_row(struct lst *l, yajl_val s)
{
	char t[32], st[16], err[256], u[40];
	if (l->n == 0)
		printf("%-32s  %-8s  %10s  %14s  %-19s  %s\n", "UUID", "STATUS", "PACKETS", "BYTES", "LAST SEEN",
		       "LAST ERROR");
	printf("%-32s  %-8s  %10llu  %14llu  %-19s  %s\n", jtext(s, "uuid", u, sizeof(u)),
	       jtext(s, "status", st, sizeof(st)), (unsigned long long)ctl_ju64(s, "packets"),
	       (unsigned long long)ctl_ju64(s, "bytes"), ctl_jtime(s, "last_seen", t, sizeof(t)),
	       jtext(s, "last_error", err, sizeof(err)));
	return CTL_OK;
}

int ctl_r_sensor_list(struct ctl *c)
{
	struct lst l = {c, 0, sensor_row, NULL};
	return run_list(c, "/api/v1/sensors", 1, &l, "no sensors");
}

static int silent_row(struct lst *l, yajl_val s)
{
	char t[32], st[16], u[40], d[256];
	if (l->n == 0)
		printf("%-32s  %-8s  %-19s  %10s  %10s  %s\n", "UUID", "STATUS", "LAST SEEN", "THRESHOLD", "SILENT S",
		       "DESCRIPTION");
	printf("%-32s  %-8s  %-19s  %10llu  %10llu  %s\n", jtext(s, "uuid", u, sizeof(u)),
	       jtext(s, "status", st, sizeof(st)), ctl_jtime(s, "last_seen", t, sizeof(t)),
	       (unsigned long long)ctl_ju64(s, "silence_threshold"), (unsigned long long)ctl_ju64(s, "silent_for"),
	       jtext(s, "description", d, sizeof(d)));
	return CTL_OK;
}

int ctl_r_sensor_silent(struct ctl *c)
{
	struct lst l = {c, 0, silent_row, NULL};
	return run_list(c, "/api/v1/sensors/silent", 1, &l, "no silent sensors");
}

int ctl_r_sensor_show(struct ctl *c, const char *uuid)
{
	char path[PATH_MAX_LEN], txt[512], t[32], t2[32];
	yajl_val s = NULL;
	snprintf(path, sizeof(path), "/api/v1/sensors/%s", uuid);
	int rc = ctl_api(c, "GET", path, NULL, &s);
	if (rc != CTL_OK)
		return rc;
	if (c->json) {
		rc = print_tree(c, s);
		ctl_tree_free(s);
		return rc;
	}
	printf("uuid:          %s\n", jtext(s, "uuid", txt, sizeof(txt)));
	printf("status:        %s\n", jtext(s, "status", txt, sizeof(txt)));
	printf("description:   %s\n",
	       ctl_clean(ctl_jstr(s, "description") ? ctl_jstr(s, "description") : "", txt, sizeof(txt)));
	printf("mail:          %s\n", ctl_clean(ctl_jstr(s, "mail") ? ctl_jstr(s, "mail") : "", txt, sizeof(txt)));
	yajl_val hk = ctl_jget(s, "has_key");
	if (hk && YAJL_IS_TRUE(hk))
		printf("key:           set\n");
	else if (hk && YAJL_IS_FALSE(hk))
		printf("key:           none (shared secret)\n");
	else /* a hub whose API does not say */
		printf("key:           (not shown by the API)\n");
	if (ctl_jstr(s, "default_tlp"))
		printf("default tlp:   %s\n", jtext(s, "default_tlp", txt, sizeof(txt)));
	else
		printf("default tlp:   - (hub default)\n");
	if (ctl_jstr(s, "default_org"))
		printf("default org:   %s\n", jtext(s, "default_org", txt, sizeof(txt)));
	else
		printf("default org:   - (hub's org)\n");
	if (ctl_ju64(s, "max_payload"))
		printf("max payload:   %llu\n", (unsigned long long)ctl_ju64(s, "max_payload"));
	else
		printf("max payload:   - (hub default)\n");
	if (ctl_ju64(s, "max_backlog"))
		printf("max backlog:   %llu\n", (unsigned long long)ctl_ju64(s, "max_backlog"));
	else
		printf("max backlog:   - (hub default)\n");
	if (ctl_ju64(s, "silence_threshold"))
		printf("silence alert: after %llu s without data\n",
		       (unsigned long long)ctl_ju64(s, "silence_threshold"));
	else
		printf("silence alert: - (not monitored)\n");
	printf("created:       %s\n", ctl_jtime(s, "created", t, sizeof(t)));
	printf("first seen:    %s\n", ctl_jtime(s, "first_seen", t, sizeof(t)));
	printf("last seen:     %s\n", ctl_jtime(s, "last_seen", t, sizeof(t)));
	/* the live state: known by the hub's own ingest only (null locally) */
	yajl_val cn = ctl_jget(s, "connected");
	if (cn && YAJL_IS_TRUE(cn))
		printf("connected:     yes, %llu session(s) since %s\n",
		       (unsigned long long)ctl_ju64(s, "live_sessions"), ctl_jtime(s, "connected_since", t, sizeof(t)));
	else if (cn && YAJL_IS_FALSE(cn))
		printf("connected:     no\n");
	else
		printf("connected:     - (known by the running hub: ask it with -H)\n");
	if (jepoch(s, "ban_until") > d4_now_s())
		printf("banned until:  %s\n", ctl_jtime(s, "ban_until", t, sizeof(t)));
	else
		printf("banned until:  -\n");
	printf("packets:       %llu\n", (unsigned long long)ctl_ju64(s, "packets"));
	printf("bytes:         %llu\n", (unsigned long long)ctl_ju64(s, "bytes"));
	printf("replays:       %llu dropped (acknowledged delivery)\n",
	       (unsigned long long)ctl_ju64(s, "replays_dropped"));
	if (ctl_jstr(s, "last_error") && *ctl_jstr(s, "last_error"))
		printf("last error:    %s (%s)\n", jtext(s, "last_error", txt, sizeof(txt)),
		       ctl_jtime(s, "last_error_at", t, sizeof(t)));
	else
		printf("last error:    -\n");
	print_rejections(ctl_jget(s, "rejections"));
	printf("last ips:     ");
	yajl_val ips = ctl_jget(s, "last_ips");
	size_t nips = ips && YAJL_IS_ARRAY(ips) ? ips->u.array.len : 0;
	for (size_t i = 0; i < nips; i++) {
		yajl_val ip = ips->u.array.values[i];
		printf("%s %s (%s)", i ? "," : "", jtext(ip, "ip", txt, sizeof(txt)),
		       ctl_jtime(ip, "seen", t, sizeof(t)));
	}
	printf("%s\n", nips ? "" : " none");
	printf("types:\n");
	yajl_val ty = ctl_jget(s, "types");
	size_t nty = ty && YAJL_IS_ARRAY(ty) ? ty->u.array.len : 0;
	for (size_t i = 0; i < nty; i++) {
		yajl_val st = ty->u.array.values[i];
		if (i == 0)
			printf("  %-4s %-20s %-19s  %-19s  %10s  %14s\n", "TYPE", "EXT TYPE", "FIRST SEEN", "LAST SEEN",
			       "PACKETS", "BYTES");
		printf("  %-4llu %-20s %-19s  %-19s  %10llu  %14llu\n", (unsigned long long)ctl_ju64(st, "type"),
		       jtext(st, "ext_type", txt, sizeof(txt)), ctl_jtime(st, "first_seen", t, sizeof(t)),
		       ctl_jtime(st, "last_seen", t2, sizeof(t2)), (unsigned long long)ctl_ju64(st, "packets"),
		       (unsigned long long)ctl_ju64(st, "bytes"));
	}
	if (nty == 0)
		printf("  none\n");
	/* The API adds a 7-day history (oldest first). */
	yajl_val hi = ctl_jget(s, "history");
	if (hi && YAJL_IS_ARRAY(hi) && hi->u.array.len) {
		printf("history:\n  %-10s  %10s  %14s  %8s\n", "DAY", "PACKETS", "BYTES", "REJECTS");
		for (size_t i = 0; i < hi->u.array.len; i++) {
			yajl_val d = hi->u.array.values[i];
			printf("  %-10s  %10llu  %14llu  %8llu\n", jtext(d, "day", txt, 11),
			       (unsigned long long)ctl_ju64(d, "packets"), (unsigned long long)ctl_ju64(d, "bytes"),
			       (unsigned long long)ctl_ju64(d, "rejects"));
		}
	}
	ctl_tree_free(s);
	return CTL_OK;
}

/* ---- blocklist, types ------------------------------------------------------------------ */

static int block_row(struct lst *l, yajl_val e)
{
	char k[16], v[80], t[32];
	if (l->n == 0)
		printf("%-9s %-43s %s\n", "KIND", "VALUE", "CREATED");
	printf("%-9s %-43s %s\n", jtext(e, "kind", k, sizeof(k)), jtext(e, "value", v, sizeof(v)),
	       ctl_jtime(e, "created", t, sizeof(t)));
	return CTL_OK;
}

int ctl_r_block_list(struct ctl *c)
{
	struct lst l = {c, 0, block_row, NULL};
	return run_list(c, "/api/v1/blocklist", 0, &l, "blocklist empty");
}

int ctl_r_block_change(struct ctl *c, int add, const char *kind, const char *value)
{
	char path[PATH_MAX_LEN], esc[ESC_MAX];
	if (add) {
		yajl_gen b = ctl_body_new();
		if (!b)
			return ctl_fail(c, "out of memory");
		yajl_gen_map_open(b);
		j_key_str(b, "kind", kind);
		j_key_str(b, "value", value);
		yajl_gen_map_close(b);
		return call_print(c, "POST", "/api/v1/blocklist", b);
	}
	if (!ctl_esc(value, esc, sizeof(esc)))
		return ctl_usage(c, "value too long");
	snprintf(path, sizeof(path), "/api/v1/blocklist/%s/%s", kind, esc);
	return ctl_api(c, "DELETE", path, NULL, NULL);
}

int ctl_r_types_list(struct ctl *c)
{
	yajl_val v = NULL;
	int rc = ctl_api(c, "GET", "/api/v1/types", NULL, &v);
	if (rc != CTL_OK)
		return rc;
	if (c->json) {
		rc = print_tree(c, v);
	} else {
		yajl_val acc = ctl_jget(v, "accepted");
		printf("%-5s %s\n", "TYPE", "NAME");
		for (size_t i = 0; acc && YAJL_IS_ARRAY(acc) && i < acc->u.array.len; i++) {
			yajl_val n = acc->u.array.values[i];
			if (!YAJL_IS_INTEGER(n) || YAJL_GET_INTEGER(n) < 0 || YAJL_GET_INTEGER(n) > 255)
				continue;
			printf("%-5u %s\n", (unsigned)YAJL_GET_INTEGER(n),
			       ctl_type_name((unsigned)YAJL_GET_INTEGER(n)));
		}
	}
	ctl_tree_free(v);
	return rc;
}

int ctl_r_types_set(struct ctl *c, unsigned type, int enable)
{
	char path[PATH_MAX_LEN];
	yajl_gen b = ctl_body_new();
	if (!b)
		return ctl_fail(c, "out of memory");
	snprintf(path, sizeof(path), "/api/v1/types/%u", type);
	yajl_gen_map_open(b);
	j_key(b, "accepted");
	yajl_gen_bool(b, enable);
	yajl_gen_map_close(b);
	return call_print(c, "PUT", path, b);
}

int ctl_r_ext_list(struct ctl *c)
{
	yajl_val v = NULL;
	char txt[256];
	int rc = ctl_api(c, "GET", "/api/v1/types", NULL, &v);
	if (rc != CTL_OK)
		return rc;
	yajl_val ext = ctl_jget(v, "ext_types");
	size_t n = ext && YAJL_IS_ARRAY(ext) ? ext->u.array.len : 0;
	if (c->json) {
		ctl_j_arr_open(c, NULL);
		for (size_t i = 0; i < n; i++)
			ctl_j_tree(c, NULL, ext->u.array.values[i]);
		ctl_j_arr_close(c);
		rc = flush_wipe(c);
	} else {
		for (size_t i = 0; i < n; i++)
			if (YAJL_IS_STRING(ext->u.array.values[i]))
				printf("%s\n", ctl_clean(ext->u.array.values[i]->u.string, txt, sizeof(txt)));
		if (n == 0)
			printf("no extended types listed: every extended type is accepted\n");
	}
	ctl_tree_free(v);
	return rc;
}

int ctl_r_ext_change(struct ctl *c, int add, const char *name)
{
	char path[PATH_MAX_LEN], esc[ESC_MAX];
	if (!ctl_esc(name, esc, sizeof(esc)))
		return ctl_usage(c, "extended type name too long");
	snprintf(path, sizeof(path), "/api/v1/ext-types/%s", esc);
	return call_print(c, add ? "PUT" : "DELETE", path, NULL);
}

/* ---- sessions ---------------------------------------------------------------------------- */

/* listSessions: in id order, oldest first, including the sessions of
 * deleted sensors and of partner hubs' sensors. */
static int session_row(struct lst *l, yajl_val s)
{
	char u[40], tlp[24], org[40], s1[32], s2[32], ext[80], why[256];
	if (l->n == 0)
		printf("%-8s %-32s %-4s %-12s %-16s %-32s %-19s  %-19s  %8s %12s  %s\n", "ID", "UUID", "TYPE",
		       "EXT TYPE", "TLP", "ORG", "STARTED", "ENDED", "FRAMES", "BYTES", "CLOSE REASON");
	printf("%-8llu %-32s %-4llu %-12s %-16s %-32s %-19s  %-19s  %8llu %12llu  %s\n",
	       (unsigned long long)ctl_ju64(s, "id"), jtext(s, "sensor", u, sizeof(u)),
	       (unsigned long long)ctl_ju64(s, "type"), jtext(s, "ext_type", ext, sizeof(ext)),
	       jtext(s, "tlp", tlp, sizeof(tlp)), jtext(s, "org", org, sizeof(org)),
	       ctl_jtime(s, "started", s1, sizeof(s1)),
	       ctl_jstr(s, "ended") ? ctl_jtime(s, "ended", s2, sizeof(s2)) : "open",
	       (unsigned long long)ctl_ju64(s, "frames"), (unsigned long long)ctl_ju64(s, "bytes"),
	       jtext(s, "close_reason", why, sizeof(why)));
	return CTL_OK;
}

int ctl_r_sessions(struct ctl *c, const char *uuid)
{
	char path[PATH_MAX_LEN];
	struct lst l = {c, 0, session_row, NULL};
	if (uuid)
		snprintf(path, sizeof(path), "/api/v1/sessions?sensor=%s", uuid);
	else
		snprintf(path, sizeof(path), "/api/v1/sessions");
	return run_list(c, path, 1, &l, "no sessions");
}

/* ---- frames (through the session export) --------------------------------------------- */

/* NDJSON lines can carry a whole payload in base64 (max_payload is at most
 * 4 GiB in theory, 1 MB by default): bounded so a broken stream cannot eat
 * the memory. */
#define LINE_MAX_BYTES (64u << 20)

struct fr {
	struct ctl *c;
	int payload;
	uint64_t from;
	char *line;
	size_t len, cap;
	unsigned long long n;
	int werr;
	int failed; /* message printed */
};

static int frame_line(struct fr *f, const char *text, size_t len)
{
	struct ctl *c = f->c;
	if (len == 0)
		return 0;
	yajl_val r = ctl_tree_parse(text, len);
	if (!r || !YAJL_IS_OBJECT(r)) {
		ctl_tree_free(r);
		ctl_fail(c, "the hub sent an export line that is not a JSON object");
		f->failed = 1;
		return 1;
	}
	int rc = 0;
	if (ctl_ju64(r, "seq") < f->from)
		goto out;
	/* In a 2 -> 254 session the type-2 frame is the meta header, not data:
	 * --payload leaves it out, as the raw export and the local mode do. */
	if (f->payload == 1 && ctl_ju64(r, "type") == 2 && ctl_jstr(r, "ext_type") && *ctl_jstr(r, "ext_type"))
		goto out;
	f->n++;
	if (f->payload) {
		const char *b64 = ctl_jstr(r, "payload_b64");
		size_t bl = b64 ? strlen(b64) : 0;
		if (bl % 4 || bl > INT32_MAX) {
			ctl_fail(c, "the hub sent a frame without a valid payload_b64");
			f->failed = 1;
			rc = 1;
			goto out;
		}
		unsigned char *out = malloc(bl / 4 * 3 + 1);
		if (!out) {
			ctl_fail(c, "out of memory");
			f->failed = 1;
			rc = 1;
			goto out;
		}
		int n = bl ? EVP_DecodeBlock(out, (const unsigned char *)b64, (int)bl) : 0;
		if (n < 0) {
			free(out);
			ctl_fail(c, "the hub sent a frame without a valid payload_b64");
			f->failed = 1;
			rc = 1;
			goto out;
		}
		/* EVP_DecodeBlock counts the padding as zero bytes. */
		for (size_t i = bl; i > 0 && b64[i - 1] == '=' && n > 0; i--)
			n--;
		if (n && fwrite(out, 1, (size_t)n, stdout) != (size_t)n) {
			f->werr = errno ? errno : EIO;
			rc = 1;
		}
		free(out);
		goto out;
	}
	if (c->json) {
		ctl_j_obj_open(c, NULL);
		for (size_t i = 0; i < r->u.object.len; i++)
			if (strcmp(r->u.object.keys[i], "payload_b64") != 0)
				ctl_j_tree(c, r->u.object.keys[i], r->u.object.values[i]);
		ctl_j_obj_close(c);
		goto out;
	}
	char u[40], org[40], tlp[24], ht[32], rt[40], rr[32], ver[8] = "-";
	if (f->n == 1)
		printf("%-10s %-8s %-32s %-4s %-3s %-16s %-32s %-19s  %-23s  %s\n", "SEQ", "SESSION", "UUID", "TYPE",
		       "VER", "TLP", "ORG", "HEADER TIME", "RECEIVED", "SIZE");
	/* recv_ts has milliseconds: "2024-01-02T03:04:05.123Z" */
	const char *recv = ctl_jstr(r, "recv_ts");
	if (recv && strlen(recv) >= 23)
		snprintf(rt, sizeof(rt), "%s.%.3s", ctl_jtime(r, "recv_ts", rr, sizeof(rr)), recv + 20);
	else
		snprintf(rt, sizeof(rt), "-");
	/* "version" is in exports since the header version was added to them */
	yajl_val v = ctl_jget(r, "version");
	if (v && YAJL_IS_INTEGER(v))
		snprintf(ver, sizeof(ver), "%llu", (unsigned long long)ctl_ju64(r, "version") & 0xffu);
	if (printf("%-10llu %-8llu %-32s %-4llu %-3s %-16s %-32s %-19s  %-23s  %llu\n",
		   (unsigned long long)ctl_ju64(r, "seq"), (unsigned long long)ctl_ju64(r, "session"),
		   jtext(r, "sensor", u, sizeof(u)), (unsigned long long)ctl_ju64(r, "type"), ver,
		   jtext(r, "tlp", tlp, sizeof(tlp)), jtext(r, "org", org, sizeof(org)),
		   ctl_time(ctl_ju64(r, "hdr_ts"), ht, sizeof(ht)), ctl_clean(rt, rt, sizeof(rt)),
		   (unsigned long long)ctl_ju64(r, "size")) < 0) {
		f->werr = errno ? errno : EIO;
		rc = 1;
	}
out:
	ctl_tree_free(r);
	return rc;
}

static int ndjson_cb(void *ctx, const char *data, size_t len)
{
	struct fr *f = ctx;
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n') {
			if (f->line)
				f->line[f->len] = '\0';
			if (frame_line(f, f->line ? f->line : "", f->len))
				return 1;
			f->len = 0;
			continue;
		}
		if (f->len + 2 > f->cap) {
			if (f->len + 2 > LINE_MAX_BYTES) {
				ctl_fail(f->c, "the hub sent an export line longer than %u bytes", LINE_MAX_BYTES);
				f->failed = 1;
				return 1;
			}
			size_t cap = f->cap ? f->cap * 2 : 65536;
			char *p = realloc(f->line, cap);
			if (!p) {
				ctl_fail(f->c, "out of memory");
				f->failed = 1;
				return 1;
			}
			f->line = p;
			f->cap = cap;
		}
		f->line[f->len++] = data[i];
	}
	return 0;
}

static int raw_cb(void *ctx, const char *data, size_t len)
{
	struct fr *f = ctx;
	if (len && fwrite(data, 1, len, stdout) != len) {
		f->werr = errno ? errno : EIO;
		return 1;
	}
	return 0;
}

int ctl_r_frames(struct ctl *c, int has_session, uint64_t session, uint64_t from, int payload)
{
	char path[PATH_MAX_LEN];
	struct fr f;
	/* The API exports a session, or a sensor's type over a time range:
	 * walking the whole frame log is only possible on the hub. */
	if (!has_session)
		return ctl_fail(c, "%s", CTL_NOT_REMOTE);
	memset(&f, 0, sizeof(f));
	f.c = c;
	f.payload = payload;
	f.from = from;
	int raw = payload == 1 && from == 0; /* raw leaves the meta header out */
	snprintf(path, sizeof(path), "/api/v1/sessions/%llu/export?format=%s", (unsigned long long)session,
		 raw ? "raw" : "ndjson");
	if (c->json && !payload)
		ctl_j_arr_open(c, NULL);
	errno = 0;
	int rc = ctl_api_stream(c, path, raw ? raw_cb : ndjson_cb, &f);
	if (rc == CTL_OK && !raw && f.len) /* a last line without its newline */
		rc = frame_line(&f, (f.line[f.len] = '\0', f.line), f.len) ? CTL_ERR : CTL_OK;
	free(f.line);
	if (f.werr)
		return ctl_fail(c, "cannot write output: %s", strerror(f.werr));
	if (rc != CTL_OK || f.failed)
		return CTL_ERR;
	if (payload)
		return CTL_OK;
	if (c->json) {
		ctl_j_arr_close(c);
		return flush_wipe(c);
	}
	if (f.n == 0)
		printf("no frames\n");
	return CTL_OK;
}

/* ---- stats, status -------------------------------------------------------------------------- */

static int stats_row(struct lst *l, yajl_val d)
{
	char day[16], u[40];
	if (l->n == 0)
		printf("%-10s  %-32s %-4s %10s %14s %8s\n", "DAY", "UUID", "TYPE", "PACKETS", "BYTES", "REJECTS");
	printf("%-10s  %-32s %-4llu %10llu %14llu %8llu\n", jtext(d, "day", day, sizeof(day)),
	       jtext(d, "sensor", u, sizeof(u)), (unsigned long long)ctl_ju64(d, "type"),
	       (unsigned long long)ctl_ju64(d, "packets"), (unsigned long long)ctl_ju64(d, "bytes"),
	       (unsigned long long)ctl_ju64(d, "rejects"));
	return CTL_OK;
}

int ctl_r_stats(struct ctl *c, uint64_t days)
{
	char path[PATH_MAX_LEN], empty[64];
	struct lst l = {c, 0, stats_row, NULL};
	snprintf(path, sizeof(path), "/api/v1/stats/daily?days=%llu", (unsigned long long)days);
	snprintf(empty, sizeof(empty), "no statistics in the last %llu day(s)", (unsigned long long)days);
	return run_list(c, path, 0, &l, empty);
}

int ctl_r_status(struct ctl *c)
{
	yajl_val h = NULL, t = NULL;
	char txt[512];
	int rc = ctl_api(c, "GET", "/health", NULL, &h);
	if (rc == CTL_OK)
		rc = ctl_api(c, "GET", "/api/v1/stats/totals", NULL, &t);
	if (rc != CTL_OK)
		goto out;
	if (!h || !YAJL_IS_OBJECT(h) || !t || !YAJL_IS_OBJECT(t)) {
		rc = ctl_fail(c, "the hub's answer is not a JSON object");
		goto out;
	}
	yajl_val st = ctl_jget(h, "store");
	if (c->json) {
		/* The totals' members, plus the health answer as "health". */
		ctl_j_obj_open(c, NULL);
		for (size_t i = 0; i < t->u.object.len; i++)
			ctl_j_tree(c, t->u.object.keys[i], t->u.object.values[i]);
		ctl_j_tree(c, "health", h);
		ctl_j_obj_close(c);
		rc = flush_wipe(c);
		goto out;
	}
	uint64_t size = ctl_ju64(st, "map_size"), used = ctl_ju64(st, "map_used");
	printf("hub:           %s\n", ctl_clean(c->url, txt, sizeof(txt)));
	printf("health:        %s", jtext(h, "status", txt, sizeof(txt)));
	printf(" (version %s, up %llu s)\n", jtext(h, "version", txt, sizeof(txt)),
	       (unsigned long long)ctl_ju64(h, "uptime_s"));
	printf("writer:        %s", ctl_jbool(st, "paused") ? "paused" : "not paused");
	if (ctl_jbool(st, "paused") && ctl_jstr(st, "pause_reason"))
		printf(": %s", jtext(st, "pause_reason", txt, sizeof(txt)));
	printf("\n");
	printf("frames:        %llu\n", (unsigned long long)ctl_ju64(t, "frames"));
	printf("bytes:         %llu\n", (unsigned long long)ctl_ju64(t, "bytes"));
	printf("sessions:      %llu\n", (unsigned long long)ctl_ju64(t, "sessions"));
	printf("map:           %llu of %llu bytes used (%.1f%%)\n", (unsigned long long)used, (unsigned long long)size,
	       size ? 100.0 * (double)used / (double)size : 0.0);
	print_rejections(ctl_jget(t, "rejections"));
out:
	ctl_tree_free(h);
	ctl_tree_free(t);
	return rc;
}

/* ---- users and tokens ------------------------------------------------------------------------ */

/* Prints a created token: the bare text, or with --json the answer plus
 * the user's role (the shape local mode prints). */
static int print_token(struct ctl *c, yajl_val v, const char *role)
{
	const char *tok = ctl_jstr(v, "token");
	if (!tok)
		return ctl_fail(c, "the hub's answer has no token");
	if (!c->json) {
		printf("%s\n", tok);
		return CTL_OK;
	}
	ctl_j_obj_open(c, NULL);
	for (size_t i = 0; YAJL_IS_OBJECT(v) && i < v->u.object.len; i++)
		ctl_j_tree(c, v->u.object.keys[i], v->u.object.values[i]);
	if (role && !ctl_jget(v, "role"))
		ctl_j_str(c, "role", role);
	ctl_j_obj_close(c);
	return flush_wipe(c);
}

static int create_token(struct ctl *c, const char *user, const char *label, const char *role)
{
	char path[PATH_MAX_LEN], esc[ESC_MAX];
	yajl_val v = NULL;
	yajl_gen b = ctl_body_new();
	if (!b)
		return ctl_fail(c, "out of memory");
	if (!ctl_esc(user, esc, sizeof(esc))) {
		yajl_gen_free(b);
		return ctl_usage(c, "user name too long");
	}
	snprintf(path, sizeof(path), "/api/v1/users/%s/tokens", esc);
	yajl_gen_map_open(b);
	j_key_str(b, "label", label);
	yajl_gen_map_close(b);
	int rc = ctl_api(c, "POST", path, b, &v);
	if (rc == CTL_OK)
		rc = print_token(c, v, role);
	ctl_tree_free(v);
	return rc;
}

int ctl_r_user_add(struct ctl *c, const char *name, const char *role, const char *label)
{
	yajl_gen b = ctl_body_new();
	if (!b)
		return ctl_fail(c, "out of memory");
	yajl_gen_map_open(b);
	j_key_str(b, "name", name);
	j_key_str(b, "role", role);
	yajl_gen_map_close(b);
	int rc = ctl_api(c, "POST", "/api/v1/users", b, NULL);
	if (rc != CTL_OK)
		return rc;
	rc = create_token(c, name, label, role);
	if (rc != CTL_OK)
		fprintf(stderr, "d4hubctl: %s: user %s was created without a token; run 'token create %s'\n", c->cmd,
			name, name);
	return rc;
}

struct ucount {
	struct ctl *c;
	unsigned n;
};

static int count_cb(void *ctx, yajl_val item)
{
	(void)item;
	((struct ucount *)ctx)->n++;
	return CTL_OK;
}

static int user_row(struct lst *l, yajl_val u)
{
	char name[80], role[24], t[32], path[PATH_MAX_LEN], esc[ESC_MAX];
	const char *n = ctl_jstr(u, "name");
	struct ucount uc = {l->c, 0};
	/* The user list has no token count: one request per user. */
	if (!n || !ctl_esc(n, esc, sizeof(esc)))
		return ctl_fail(l->c, "the hub listed a user without a valid name");
	snprintf(path, sizeof(path), "/api/v1/users/%s/tokens", esc);
	int rc = list_plain(l->c, path, count_cb, &uc);
	if (rc != CTL_OK)
		return rc;
	if (l->n == 0)
		printf("%-32s  %-15s  %-19s  %s\n", "NAME", "ROLE", "CREATED", "TOKENS");
	printf("%-32s  %-15s  %-19s  %u\n", ctl_clean(n, name, sizeof(name)), jtext(u, "role", role, sizeof(role)),
	       ctl_jtime(u, "created", t, sizeof(t)), uc.n);
	return CTL_OK;
}

int ctl_r_user_list(struct ctl *c)
{
	struct lst l = {c, 0, user_row, NULL};
	return run_list(c, "/api/v1/users", 0, &l, "no users");
}

int ctl_r_user_role(struct ctl *c, const char *name, const char *role)
{
	char path[PATH_MAX_LEN], esc[ESC_MAX];
	if (!ctl_esc(name, esc, sizeof(esc)))
		return ctl_usage(c, "user name too long");
	yajl_gen b = ctl_body_new();
	if (!b)
		return ctl_fail(c, "out of memory");
	snprintf(path, sizeof(path), "/api/v1/users/%s", esc);
	yajl_gen_map_open(b);
	j_key_str(b, "role", role);
	yajl_gen_map_close(b);
	return call_print(c, "PATCH", path, b);
}

int ctl_r_user_del(struct ctl *c, const char *name)
{
	char path[PATH_MAX_LEN], esc[ESC_MAX];
	if (!ctl_esc(name, esc, sizeof(esc)))
		return ctl_usage(c, "user name too long");
	snprintf(path, sizeof(path), "/api/v1/users/%s", esc);
	return ctl_api(c, "DELETE", path, NULL, NULL);
}

int ctl_r_token_create(struct ctl *c, const char *user, const char *label)
{
	return create_token(c, user, label, NULL);
}

static int token_row(struct lst *l, yajl_val t)
{
	char id[24], user[80], cr[32], lu[32], lbl[80];
	if (l->n == 0)
		printf("%-16s  %-24s  %-19s  %-19s  %s\n", "ID", "USER", "CREATED", "LAST USED", "LABEL");
	printf("%-16s  %-24s  %-19s  %-19s  %s\n", jtext(t, "id", id, sizeof(id)), jtext(t, "user", user, sizeof(user)),
	       ctl_jtime(t, "created", cr, sizeof(cr)), ctl_jtime(t, "last_used", lu, sizeof(lu)),
	       jtext(t, "label", lbl, sizeof(lbl)));
	return CTL_OK;
}

struct names {
	struct ctl *c;
	char (*v)[64];
	size_t n, cap;
};

static int name_cb(void *ctx, yajl_val item)
{
	struct names *nm = ctx;
	const char *s = ctl_jstr(item, "name");
	if (!s || strlen(s) >= sizeof(nm->v[0]))
		return ctl_fail(nm->c, "the hub listed a user without a valid name");
	if (nm->n == nm->cap) {
		size_t cap = nm->cap ? nm->cap * 2 : 32;
		void *p = realloc(nm->v, cap * sizeof(*nm->v));
		if (!p)
			return ctl_fail(nm->c, "out of memory");
		nm->v = p;
		nm->cap = cap;
	}
	d4_strlcpy(nm->v[nm->n++], s, sizeof(nm->v[0]));
	return CTL_OK;
}

int ctl_r_token_list(struct ctl *c, const char *user)
{
	struct lst l = {c, 0, token_row, NULL};
	struct names nm = {c, NULL, 0, 0};
	char path[PATH_MAX_LEN], esc[ESC_MAX];
	int rc = CTL_OK;
	/* Tokens are listed per user: without one, every user's. */
	if (user) {
		if (!(nm.v = malloc(sizeof(*nm.v))))
			return ctl_fail(c, "out of memory");
		d4_strlcpy(nm.v[0], user, sizeof(nm.v[0]));
		nm.n = 1;
	} else {
		rc = list_plain(c, "/api/v1/users", name_cb, &nm);
	}
	if (rc == CTL_OK && c->json)
		ctl_j_arr_open(c, NULL);
	for (size_t i = 0; rc == CTL_OK && i < nm.n; i++) {
		if (!ctl_esc(nm.v[i], esc, sizeof(esc))) {
			rc = ctl_fail(c, "user name too long");
			break;
		}
		snprintf(path, sizeof(path), "/api/v1/users/%s/tokens", esc);
		rc = list_plain(c, path, lst_cb, &l);
	}
	free(nm.v);
	if (rc != CTL_OK)
		return rc;
	if (c->json) {
		ctl_j_arr_close(c);
		return flush_wipe(c);
	}
	if (l.n == 0)
		printf("no tokens\n");
	return CTL_OK;
}

int ctl_r_token_revoke(struct ctl *c, const char *id)
{
	char path[PATH_MAX_LEN];
	snprintf(path, sizeof(path), "/api/v1/tokens/%s", id);
	return ctl_api(c, "DELETE", path, NULL, NULL);
}
