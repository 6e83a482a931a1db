/* d4hubctl — remote mode transport: libcurl over HTTP/2 + TLS to the hub's
 * REST API, JSON answers as yajl trees, problem+json as error messages.
 *
 * The token is a secret: it lives in one heap buffer (c->token) and in the
 * header list built here; both are wiped before they are freed, and
 * neither is ever printed. libcurl is never put in verbose mode, so it
 * does not log the Authorization header either. */
#include "ctl_internal.h"
#include "d4_api.h"
#include "d4_error.h"
#include "d4_util.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* JSON answers are small (a page is at most 1,000 items); this bounds what
 * a broken or hostile server can make us buffer. */
#define BODY_MAX (64u << 20)
/* Problems are short; a longer error body is cut. */
#define ERR_BODY_MAX (64u << 10)
/* yajl_tree_parse recurses per nesting level (DESIGN.md §2); the API's
 * documents are a few levels deep. */
#define JSON_DEPTH_MAX	  64
#define CONNECT_TIMEOUT_S 10L
#define REQUEST_TIMEOUT_S 120L
/* Exports may run for a long time: without an explicit --timeout they are
 * only stopped when they stall (less than 1 byte/s for this long). */
#define STALL_TIMEOUT_S 120L

struct ctl_http {
	CURL *curl;
	struct curl_slist *hdrs; /* Authorization (wiped), Accept */
	char errbuf[CURL_ERROR_SIZE];
};

struct buf {
	char *data;
	size_t len, cap, max;
	int over; /* more than max arrived (answer cut) */
};

static void buf_free(struct buf *b)
{
	if (b->data) {
		d4_wipe(b->data, b->cap);
		free(b->data);
	}
	memset(b, 0, sizeof(*b));
}

static int buf_add(struct buf *b, const char *p, size_t n)
{
	if (b->len + n > b->max) {
		b->over = 1;
		n = b->max > b->len ? b->max - b->len : 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = malloc(cap);
		if (!d)
			return -1;
		if (b->data) {
			memcpy(d, b->data, b->len);
			/* The old copy may hold a key or token: wipe before free. */
			d4_wipe(b->data, b->cap);
			free(b->data);
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/* ---- JSON trees ---------------------------------------------------------------- */

yajl_val ctl_tree_parse(const char *text, size_t len)
{
	if (!text || strlen(text) != len || !d4_json_depth_ok(text, len, JSON_DEPTH_MAX))
		return NULL;
	return yajl_tree_parse(text, NULL, 0);
}

static void tree_wipe(yajl_val v)
{
	if (!v)
		return;
	if (YAJL_IS_STRING(v) && v->u.string)
		d4_wipe(v->u.string, strlen(v->u.string));
	else if (YAJL_IS_OBJECT(v))
		for (size_t i = 0; i < v->u.object.len; i++)
			tree_wipe(v->u.object.values[i]);
	else if (YAJL_IS_ARRAY(v))
		for (size_t i = 0; i < v->u.array.len; i++)
			tree_wipe(v->u.array.values[i]);
}

void ctl_tree_free(yajl_val v)
{
	if (!v)
		return;
	tree_wipe(v);
	yajl_tree_free(v);
}

yajl_val ctl_jget(yajl_val obj, const char *key)
{
	if (!obj || !YAJL_IS_OBJECT(obj))
		return NULL;
	for (size_t i = 0; i < obj->u.object.len; i++)
		if (!strcmp(obj->u.object.keys[i], key))
			return obj->u.object.values[i];
	return NULL;
}

const char *ctl_jstr(yajl_val obj, const char *key)
{
	yajl_val v = ctl_jget(obj, key);
	return v && YAJL_IS_STRING(v) ? v->u.string : NULL;
}

uint64_t ctl_ju64(yajl_val obj, const char *key)
{
	yajl_val v = ctl_jget(obj, key);
	if (!v || !YAJL_IS_NUMBER(v) || !v->u.number.r)
		return 0;
	/* From the text, so counters above 2^63 survive. */
	const char *r = v->u.number.r;
	uint64_t n = 0;
	for (; *r >= '0' && *r <= '9'; r++)
		n = n * 10 + (uint64_t)(*r - '0');
	return *r ? 0 : n;
}

int ctl_jbool(yajl_val obj, const char *key)
{
	yajl_val v = ctl_jget(obj, key);
	return v && YAJL_IS_TRUE(v);
}

const char *ctl_jtime(yajl_val obj, const char *key, char *out, size_t size)
{
	const char *s = ctl_jstr(obj, key);
	/* "2024-01-02T03:04:05Z" -> "2024-01-02 03:04:05", the local format. */
	if (!s || strlen(s) < 19 || s[10] != 'T') {
		snprintf(out, size, "-");
		return out;
	}
	snprintf(out, size, "%.10s %.8s", s, s + 11);
	return ctl_clean(out, out, size);
}

void ctl_j_tree(struct ctl *c, const char *k, yajl_val v)
{
	ctl_j_key(c, k);
	if (!c->g && !(c->g = yajl_gen_alloc(NULL)))
		return;
	yajl_gen g = c->g;
	if (!v || YAJL_IS_NULL(v)) {
		yajl_gen_null(g);
	} else if (YAJL_IS_STRING(v)) {
		/* Strings of a tree are valid UTF-8 (yajl validated them). */
		yajl_gen_string(g, (const unsigned char *)v->u.string, strlen(v->u.string));
	} else if (YAJL_IS_NUMBER(v)) {
		const char *r = v->u.number.r ? v->u.number.r : "0";
		yajl_gen_number(g, r, strlen(r));
	} else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
		yajl_gen_bool(g, YAJL_IS_TRUE(v));
	} else if (YAJL_IS_OBJECT(v)) {
		yajl_gen_map_open(g);
		for (size_t i = 0; i < v->u.object.len; i++) {
			const char *key = v->u.object.keys[i];
			yajl_gen_string(g, (const unsigned char *)key, strlen(key));
			ctl_j_tree(c, NULL, v->u.object.values[i]);
		}
		yajl_gen_map_close(g);
	} else if (YAJL_IS_ARRAY(v)) {
		yajl_gen_array_open(g);
		for (size_t i = 0; i < v->u.array.len; i++)
			ctl_j_tree(c, NULL, v->u.array.values[i]);
		yajl_gen_array_close(g);
	}
}

yajl_gen ctl_body_new(void)
{
	return yajl_gen_alloc(NULL);
}

const char *ctl_esc(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		int plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			    ch == '-' || ch == '.' || ch == '_' || ch == '~';
		if (o + (plain ? 1 : 3) + 1 > size)
			return NULL;
		if (plain) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	if (o + 1 > size)
		return NULL;
	out[o] = '\0';
	return out;
}

/* ---- the connection ------------------------------------------------------------- */

static size_t write_buf(char *p, size_t sz, size_t n, void *ud)
{
	struct buf *b = ud;
	if (buf_add(b, p, sz * n) != 0)
		return 0;
	return sz * n;
}

static int http_setup(struct ctl *c);

/* Sets the handle up once; a half-made one is freed, so that a later call
 * never sees it. */
static int http_open(struct ctl *c)
{
	if (c->http)
		return CTL_OK;
	int rc = http_setup(c);
	if (rc != CTL_OK)
		ctl_http_close(c);
	return rc;
}

static int http_setup(struct ctl *c)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return ctl_fail(c, "cannot initialise libcurl");
	struct ctl_http *h = calloc(1, sizeof(*h));
	if (!h)
		return ctl_fail(c, "out of memory");
	c->http = h;
	if (!(h->curl = curl_easy_init()))
		return ctl_fail(c, "cannot initialise libcurl");
	/* The token goes in only this header; the slist copy is wiped in
	 * ctl_http_close. */
	size_t tl = strlen(c->token);
	char *auth = malloc(tl + 32);
	if (!auth)
		return ctl_fail(c, "out of memory");
	snprintf(auth, tl + 32, "Authorization: Bearer %s", c->token);
	struct curl_slist *l = curl_slist_append(NULL, auth);
	d4_wipe(auth, tl + 32);
	free(auth);
	if (!l)
		return ctl_fail(c, "out of memory");
	h->hdrs = l;
	if (!(l = curl_slist_append(h->hdrs, "Accept: application/json, application/problem+json, */*")))
		return ctl_fail(c, "out of memory");
	h->hdrs = l;
	CURL *e = h->curl;
	int bad = 0;
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->insecure ? 0L : 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->insecure ? 0L : 2L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdrs) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "d4hubctl") != CURLE_OK;
	if (c->cacert)
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO, c->cacert) != CURLE_OK;
	if (bad)
		return ctl_fail(c, "libcurl lacks a required feature (HTTP/2 over TLS)");
	return CTL_OK;
}

void ctl_http_close(struct ctl *c)
{
	struct ctl_http *h = c->http;
	if (!h)
		return;
	for (struct curl_slist *l = h->hdrs; l; l = l->next)
		if (l->data)
			d4_wipe(l->data, strlen(l->data));
	curl_slist_free_all(h->hdrs);
	if (h->curl)
		curl_easy_cleanup(h->curl);
	free(h);
	c->http = NULL;
	curl_global_cleanup();
}

static void url_of(struct ctl *c, const char *path, char *out, size_t size)
{
	size_t n = strlen(c->url);
	while (n && c->url[n - 1] == '/')
		n--;
	snprintf(out, size, "%.*s%s", (int)n, c->url, path);
}

/* Prints what an error answer says: the problem's title and detail, or the
 * bare status, plus a hint for the authentication statuses. */
static int http_error(struct ctl *c, long status, const char *ctype, const struct buf *b)
{
	char title[256], detail[1024];
	int rc;
	yajl_val v = NULL;
	if (ctype && !strncmp(ctype, "application/problem+json", 24) && b->data && !b->over)
		v = ctl_tree_parse(b->data, b->len);
	const char *t = ctl_jstr(v, "title"), *d = ctl_jstr(v, "detail");
	if (t)
		rc = ctl_fail(c, "%s: %s (HTTP %ld)", ctl_clean(t, title, sizeof(title)),
			      d ? ctl_clean(d, detail, sizeof(detail)) : "-", status);
	else if (status >= 300 && status < 400)
		rc = ctl_fail(c,
			      "the hub answered with a redirect (HTTP %ld), which d4hubctl does not follow: "
			      "check the URL",
			      status);
	else
		rc = ctl_fail(c, "unexpected answer from the hub (HTTP %ld%s%s)", status, ctype ? ", " : "",
			      ctype ? ctl_clean(ctype, title, sizeof(title)) : "");
	ctl_tree_free(v);
	if (status == 401)
		fprintf(stderr, "d4hubctl: hint: the token was refused (wrong, revoked, or its user deleted): check "
				"--token-file / D4HUB_TOKEN\n");
	else if (status == 403)
		fprintf(stderr, "d4hubctl: hint: the token's role is too low for this command (changes need the "
				"admin role)\n");
	else if (status == 429)
		fprintf(stderr, "d4hubctl: hint: too many failed authentications from this address; wait and "
				"retry\n");
	return rc;
}

static int curl_error(struct ctl *c, CURLcode cc, const char *url)
{
	const char *msg = c->http->errbuf[0] ? c->http->errbuf : curl_easy_strerror(cc);
	char clean[CURL_ERROR_SIZE + 8], u[512];
	return ctl_fail(c, "%s: %s", ctl_clean(url, u, sizeof(u)), ctl_clean(msg, clean, sizeof(clean)));
}

struct stream {
	struct ctl *c;
	int (*cb)(void *ctx, const char *data, size_t len);
	void *ctx;
	struct buf err; /* the body of a non-2xx answer */
	int aborted;
};

/* ---- local mode: the same requests, dispatched in-process ------------------------
 * Without -H, a request does not leave the process: d4_api_local_request
 * runs it through the API's dispatcher and handlers on the store opened
 * here (read-only for GET, for writing otherwise), as the admin operator.
 * What comes back is handled exactly like an answer from the network. */

struct local_sink {
	struct ctl *c;
	long status;
	char *ctype;
	size_t ctsize;
	struct buf *b;	  /* buffered answer (perform), or the error body (stream) */
	struct stream *s; /* streamed answer: 2xx bodies go to its callback */
};

static int local_head(void *ud, const struct d4_api_local_head *h)
{
	struct local_sink *k = ud;
	k->status = h->status;
	snprintf(k->ctype, k->ctsize, "%s", h->content_type);
	return 0;
}

static int stream_body(struct stream *s, long status, const char *p, size_t n);

static int local_body(void *ud, const uint8_t *data, size_t len)
{
	struct local_sink *k = ud;
	if (k->s)
		return stream_body(k->s, k->status, (const char *)data, len);
	return buf_add(k->b, (const char *)data, len) != 0;
}

static int local_open(struct ctl *c, int write)
{
	struct d4_store *before = c->st;
	int rc = ctl_store(c, write);
	if (rc != CTL_OK)
		return rc;
	if (c->api && c->st == before)
		return CTL_OK;
	d4_api_local_free(c->api);
	c->api = NULL;
	if (d4_api_local_new(c->st, c->conf, "local operator", &c->api) != D4_OK)
		return ctl_fail(c, "out of memory");
	return CTL_OK;
}

static int local_perform(struct ctl *c, const char *method, const char *path, const unsigned char *body, size_t bodylen,
			 struct buf *b, long *status, char *ctype, size_t ctsize)
{
	struct local_sink k = {c, 0, ctype, ctsize, b, NULL};
	int rc = local_open(c, strcmp(method, "GET") != 0);
	if (rc != CTL_OK)
		return rc;
	rc = d4_api_local_request(c->api, method, path, body, bodylen, local_head, local_body, &k);
	if (rc != 0)
		return ctl_fail(c, "%s %s: %s", method, path, rc > 0 ? "out of memory" : d4_strerror(rc));
	*status = k.status;
	return CTL_OK;
}

/* One request; the answer's body goes to b. */
static int perform(struct ctl *c, const char *method, const char *path, const unsigned char *body, size_t bodylen,
		   struct buf *b, long *status, char *ctype, size_t ctsize)
{
	char url[4096];
	int rc;
	if (!c->url)
		return local_perform(c, method, path, body, bodylen, b, status, ctype, ctsize);
	if ((rc = http_open(c)) != CTL_OK)
		return rc;
	CURL *e = c->http->curl;
	url_of(c, path, url, sizeof(url));
	c->http->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, c->timeout > 0 ? c->timeout : REQUEST_TIMEOUT_S);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 0L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_buf);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
	/* Reset what an earlier request of this handle set. */
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
	struct curl_slist *hdrs = c->http->hdrs, *extra = NULL;
	if (body || strcmp(method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? bodylen : 0));
		/* A JSON body says so; without one, "Content-Type:" stops libcurl
		 * from adding its form type to an empty POST. Put in front of
		 * the shared list, unlinked again below. */
		extra = curl_slist_append(NULL, body ? "Content-Type: application/json" : "Content-Type:");
		if (!extra)
			return ctl_fail(c, "out of memory");
		extra->next = c->http->hdrs;
		hdrs = extra;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	CURLcode cc = curl_easy_perform(e);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->http->hdrs);
	if (extra) {
		extra->next = NULL;
		curl_slist_free_all(extra);
	}
	if (cc != CURLE_OK)
		return curl_error(c, cc, url);
	char *ct = NULL;
	*status = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
	curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
	snprintf(ctype, ctsize, "%s", ct ? ct : "");
	return CTL_OK;
}

int ctl_api(struct ctl *c, const char *method, const char *path, yajl_gen body, yajl_val *out)
{
	const unsigned char *bb = NULL;
	size_t bl = 0;
	struct buf b = {NULL, 0, 0, BODY_MAX, 0};
	long status = 0;
	char ctype[128];
	int rc;
	if (out)
		*out = NULL;
	if (body && yajl_gen_get_buf(body, &bb, &bl) != yajl_gen_status_ok) {
		yajl_gen_free(body);
		return ctl_fail(c, "internal error: cannot build the request");
	}
	rc = perform(c, method, path, bb, bl, &b, &status, ctype, sizeof(ctype));
	if (body) {
		d4_wipe((void *)bb, bl);
		yajl_gen_free(body);
	}
	if (rc != CTL_OK)
		goto out;
	if (status < 200 || status >= 300) {
		rc = http_error(c, status, ctype, &b);
		goto out;
	}
	if (b.over) {
		rc = ctl_fail(c, "the hub's answer is larger than %u bytes", BODY_MAX);
		goto out;
	}
	if (out && b.len) {
		if (!(*out = ctl_tree_parse(b.data, b.len)))
			rc = ctl_fail(c, "the hub's answer is not valid JSON (HTTP %ld)", status);
	}
out:
	buf_free(&b);
	return rc;
}

int ctl_api_list(struct ctl *c, const char *path, int (*cb)(void *ctx, yajl_val item), void *ctx)
{
	char p[2048], cur[1024];
	const char *sep = strchr(path, '?') ? "&" : "?";
	char *cursor = NULL;
	int rc = CTL_OK;
	for (;;) {
		if (cursor) {
			if (!ctl_esc(cursor, cur, sizeof(cur))) {
				rc = ctl_fail(c, "the hub sent an over-long cursor");
				break;
			}
			snprintf(p, sizeof(p), "%s%slimit=1000&cursor=%s", path, sep, cur);
		} else {
			snprintf(p, sizeof(p), "%s%slimit=1000", path, sep);
		}
		free(cursor);
		cursor = NULL;
		yajl_val page = NULL;
		if ((rc = ctl_api(c, "GET", p, NULL, &page)) != CTL_OK)
			break;
		yajl_val items = ctl_jget(page, "items");
		if (!items || !YAJL_IS_ARRAY(items)) {
			ctl_tree_free(page);
			rc = ctl_fail(c, "the hub's answer has no list of items");
			break;
		}
		for (size_t i = 0; i < items->u.array.len && rc == CTL_OK; i++)
			rc = cb(ctx, items->u.array.values[i]);
		const char *next = ctl_jstr(page, "next_cursor");
		if (rc == CTL_OK && next && *next && !(cursor = strdup(next)))
			rc = ctl_fail(c, "out of memory");
		ctl_tree_free(page);
		if (rc != CTL_OK || !cursor)
			break;
	}
	free(cursor);
	return rc;
}

/* 0 to go on, 1 when the callback stopped the transfer. */
static int stream_body(struct stream *s, long status, const char *p, size_t n)
{
	if (status < 200 || status >= 300) {
		/* An error answer is short (problem+json): keep it for the message. */
		buf_add(&s->err, p, n);
		return 0;
	}
	if (s->cb(s->ctx, p, n) != 0) {
		s->aborted = 1;
		return 1;
	}
	return 0;
}

static size_t write_stream(char *p, size_t sz, size_t n, void *ud)
{
	struct stream *s = ud;
	long status = 0;
	curl_easy_getinfo(s->c->http->curl, CURLINFO_RESPONSE_CODE, &status);
	return stream_body(s, status, p, sz * n) ? 0 : sz * n;
}

static int local_stream(struct ctl *c, const char *path, struct stream *s)
{
	char ctype[128];
	struct local_sink k = {c, 0, ctype, sizeof(ctype), &s->err, s};
	int rc = local_open(c, 0);
	if (rc != CTL_OK)
		return rc;
	rc = d4_api_local_request(c->api, "GET", path, NULL, 0, local_head, local_body, &k);
	if (s->aborted)
		return CTL_ERR; /* the callback reported its own error */
	if (rc != 0)
		return ctl_fail(c, "%s: %s", path, rc > 0 ? "out of memory" : d4_strerror(rc));
	if (k.status < 200 || k.status >= 300)
		return http_error(c, k.status, ctype, &s->err);
	return CTL_OK;
}

int ctl_api_stream(struct ctl *c, const char *path, int (*cb)(void *ctx, const char *data, size_t len), void *ctx)
{
	struct stream s = {c, cb, ctx, {NULL, 0, 0, ERR_BODY_MAX, 0}, 0};
	char url[4096], ctype[128];
	char *ct = NULL;
	long status = 0;
	int rc;
	if (!c->url) {
		rc = local_stream(c, path, &s);
		buf_free(&s.err);
		return rc;
	}
	if ((rc = http_open(c)) != CTL_OK)
		return rc;
	CURL *e = c->http->curl;
	url_of(c, path, url, sizeof(url));
	c->http->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, c->timeout > 0 ? c->timeout : 0L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, STALL_TIMEOUT_S);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_stream);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &s);
	CURLcode cc = curl_easy_perform(e);
	if (s.aborted) {
		rc = CTL_ERR; /* the callback reported its own error */
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = curl_error(c, cc, url);
		goto out;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
	snprintf(ctype, sizeof(ctype), "%s", ct ? ct : "");
	if (status < 200 || status >= 300)
		rc = http_error(c, status, ctype, &s.err);
out:
	buf_free(&s.err);
	return rc;
}
