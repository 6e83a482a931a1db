/* d4hub API — response builders, JSON helpers and RFC 9457 problems. */
#include "api_core.h"
#include "d4_error.h"
#include "d4_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PROBLEM_BASE "https://d4hub.invalid/problems/"

void d4_api_resp_init(struct d4_api_resp *r)
{
	memset(r, 0, sizeof(*r));
}

static void clear_body(struct d4_api_resp *r)
{
	if (r->gen) {
		yajl_gen_free(r->gen);
		r->gen = NULL;
	}
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

void d4_api_resp_free(struct d4_api_resp *r)
{
	clear_body(r);
	for (unsigned i = 0; i < r->nhdr; i++) {
		free(r->hdr_name[i]);
		free(r->hdr_value[i]);
	}
	memset(r, 0, sizeof(*r));
}

/* A second response replaces the first: the last word wins, and the
 * dispatcher can overwrite a half-built answer with a problem. */
static void reset(struct d4_api_resp *r)
{
	if (r->status)
		d4_debug("api: response %d replaced", r->status);
	clear_body(r);
	r->status = 0;
	r->content_type = NULL;
	r->oom = 0;
}

static int set_body(struct d4_api_resp *r, const void *data, size_t len)
{
	r->body = malloc(len + 1);
	if (!r->body) {
		r->oom = 1;
		return D4_ENOMEM;
	}
	if (len)
		memcpy(r->body, data, len);
	r->body[len] = 0;
	r->body_len = len;
	return D4_OK;
}

yajl_gen d4_api_json_begin(struct d4_api_resp *resp, int status)
{
	reset(resp);
	resp->status = status;
	resp->content_type = "application/json";
	resp->gen = yajl_gen_alloc(NULL);
	if (!resp->gen) {
		resp->oom = 1;
		return NULL;
	}
	/* Never emit invalid JSON: bytes from the store that are not UTF-8 fail the call instead. */
	yajl_gen_config(resp->gen, yajl_gen_validate_utf8, 1);
	return resp->gen;
}

int d4_api_resp_finish(struct d4_api_resp *r)
{
	const unsigned char *buf;
	size_t len;
	if (!r->gen)
		return r->oom ? D4_ENOMEM : D4_OK;
	if (yajl_gen_get_buf(r->gen, &buf, &len) != yajl_gen_status_ok) {
		yajl_gen_free(r->gen);
		r->gen = NULL;
		return D4_EJSON;
	}
	int rc = set_body(r, buf, len);
	yajl_gen_free(r->gen);
	r->gen = NULL;
	return rc;
}

int d4_api_body(struct d4_api_resp *resp, int status, const char *content_type, const void *data, size_t len)
{
	reset(resp);
	resp->status = status;
	resp->content_type = content_type;
	return set_body(resp, data, len);
}

void d4_api_no_content(struct d4_api_resp *resp)
{
	reset(resp);
	resp->status = 204;
}

static void j_strn(yajl_gen g, const char *s, size_t n)
{
	yajl_gen_string(g, (const unsigned char *)s, n);
}

void d4_api_problem(struct d4_api_resp *resp, int status, const char *type, const char *title, const char *fmt, ...)
{
	char detail[512], url[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(url, sizeof(url), PROBLEM_BASE "%s", type);

	yajl_gen g = d4_api_json_begin(resp, status);
	resp->content_type = "application/problem+json";
	if (!g)
		return;
	yajl_gen_map_open(g);
	d4_api_j_kv_str(g, "type", url);
	d4_api_j_kv_str(g, "title", title);
	d4_api_j_kv_u64(g, "status", (uint64_t)status);
	/* Details may quote client input; yajl rejects invalid UTF-8, so
	 * replace the bytes it would refuse rather than lose the message. */
	for (char *p = detail; *p; p++)
		if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
			*p = '?';
	d4_api_j_kv_str(g, "detail", detail);
	yajl_gen_map_close(g);
}

int d4_api_header(struct d4_api_resp *resp, const char *name, const char *value)
{
	if (resp->nhdr >= D4_API_MAX_HEADERS)
		return D4_ETOOBIG;
	char *n = strdup(name), *v = strdup(value);
	if (!n || !v) {
		free(n);
		free(v);
		resp->oom = 1;
		return D4_ENOMEM;
	}
	resp->hdr_name[resp->nhdr] = n;
	resp->hdr_value[resp->nhdr] = v;
	resp->nhdr++;
	return D4_OK;
}

const char *d4_api_resp_header(const struct d4_api_resp *r, const char *name)
{
	for (unsigned i = 0; i < r->nhdr; i++)
		if (strcasecmp(r->hdr_name[i], name) == 0)
			return r->hdr_value[i];
	return NULL;
}

void d4_api_j_str(yajl_gen g, const char *s)
{
	if (!s)
		yajl_gen_null(g);
	else
		j_strn(g, s, strlen(s));
}

void d4_api_j_key(yajl_gen g, const char *k)
{
	j_strn(g, k, strlen(k));
}

void d4_api_j_kv_str(yajl_gen g, const char *k, const char *v)
{
	d4_api_j_key(g, k);
	d4_api_j_str(g, v);
}

void d4_api_j_kv_u64(yajl_gen g, const char *k, uint64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	d4_api_j_key(g, k);
	/* yajl_gen_integer takes a signed long long; counters may not fit. */
	yajl_gen_number(g, num, (size_t)n);
}

void d4_api_j_kv_bool(yajl_gen g, const char *k, int v)
{
	d4_api_j_key(g, k);
	yajl_gen_bool(g, v != 0);
}

void d4_api_j_kv_time(yajl_gen g, const char *k, uint64_t epoch_s)
{
	d4_api_j_key(g, k);
	if (epoch_s == 0) {
		yajl_gen_null(g);
		return;
	}
	struct tm tm;
	time_t t = (time_t)epoch_s;
	char buf[32];
	if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		yajl_gen_null(g);
		return;
	}
	d4_api_j_str(g, buf);
}
