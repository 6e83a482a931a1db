/* Fuzz target: the client-supplied parts of passive-DNS queries over a small
 * real store — the API's path and query parsing for every pDNS route (names
 * and wildcards, IP / CIDR / range text, rrtype, bailiwick, raw hex, times,
 * limit/offset, the sealed cursor) through the real dispatcher and handlers,
 * each answer drained to its end; and the store's query with a raw resume
 * cursor and name (api/h_pdns.c, hub/store/store_pdns.c).
 *
 * Input: byte 0 picks the mode. Bit 7 clear: API — byte 0 % 10 picks a route
 * prefix, the rest is appended as path and "?query". Bit 7 set: store — byte
 * 1 picks the query kind, then "name\0cursor bytes". Never aborts on bad
 * input; aborts only on a broken invariant (status, more tuples than the
 * limit, a cursor that does not continue strictly after the page). A page
 * that hands out a next cursor is asked again with it (200) and with it
 * altered at a position the input picks, or cut (400: cursors are sealed). */
#include "api_core.h"
#include "d4_error.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_store.h"
#include "d4_store_pdns.h"
#include "d4_util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c)                                                                                                       \
	do {                                                                                                           \
		if (!(c))                                                                                              \
			abort();                                                                                       \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static struct d4_store *store;
static struct d4_api_ctx actx;
static struct d4_api_core core;

static void cleanup(void)
{
	d4_store_close(store);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_pdns_query: could not remove %s\n", dir);
}

static int verify_admin(struct d4_api_ctx *ctx, const char *token, char *user, size_t usersize, enum d4_role *role)
{
	(void)ctx;
	(void)token;
	d4_strlcpy(user, "fuzz", usersize);
	*role = D4_ROLE_ADMIN;
	return 0;
}

static void obs(struct d4_store_pdns_obs *o, const char *name, uint16_t type, const char *rdata, uint64_t t,
		uint8_t tlp)
{
	memset(o, 0, sizeof(*o));
	o->rrname = name;
	o->rrname_len = strlen(name);
	o->rrtype = type;
	o->rdata = rdata;
	o->rdata_len = strlen(rdata);
	o->bailiwick = "example.test.";
	o->time_first = t;
	o->time_last = t + 100;
	o->count = 1;
	o->has_sensor = 1;
	o->sensor[0] = (uint8_t)type;
	o->tlp = tlp;
}

static void init(void)
{
	d4_log_init("fuzz_pdns_query", 0, D4_LOG_ERR);
	snprintf(dir, sizeof(dir), "/tmp/d4fuzz-pdnsq-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = dir;
	o.map_size = 32u << 20;
	o.no_sync = 1;
	/* the replay runs once per pDNS layout (CMakeLists.txt) */
	const char *lay = getenv("D4_TEST_PDNS_LAYOUT");
	o.pdns_layout = lay && !strcmp(lay, "s4") ? D4_STORE_PDNS_LAYOUT_S4 : D4_STORE_PDNS_LAYOUT_ID;
	CHECK(d4_store_open(&o, &store) == 0);
	atexit(cleanup);
	struct d4_store_pdns_obs v[24];
	size_t n = 0;
	static const char *names[] = {"www.example.test.", "a.b.example.test.", "mail.example.test.", "x.other.test.",
				      "example.test."};
	char buf[16][64];
	for (unsigned i = 0; i < 5; i++) {
		obs(&v[n++], names[i], 1, i % 2 ? "192.0.2.1" : "198.51.100.7", 1700000000u + i, (uint8_t)(1 + i % 6));
		obs(&v[n++], names[i], 28, "2001:db8::1", 1700000000u + i, 2);
	}
	for (unsigned i = 0; i < 8; i++) {
		snprintf(buf[i], sizeof(buf[i]), "192.0.2.%u", 10 + i);
		obs(&v[n++], "range.example.test.", 1, buf[i], 1700001000u + i, 1);
	}
	obs(&v[n++], "example.test.", 2, "ns1.example.test.", 1700000500u, 1);
	obs(&v[n++], "example.test.", 15, "10 mail.example.test.", 1700000600u, 1);
	obs(&v[n++], "www.example.test.", 5, "web.example.test.", 1700000700u, 1);
	obs(&v[n++], "t.example.test.", 16, "\"v=spf1 -all\" \"a\\\\b\"", 1700000800u, 6);
	obs(&v[n++], "\\000.weird\\.name.test.", 99, "\\# 3 0A0B0C", 1700000900u, 1);
	static const uint8_t cv[] = {1, 2, 3};
	struct d4_store_pdns_cursor cur = {"fuzz/cursor", cv, sizeof(cv), NULL, 0};
	CHECK(d4_store_pdns_apply(store, v, n, &cur) == 0);
	actx.store = store;
	actx.core = &core;
	core.routes = d4_api_routes;
	core.nroutes = d4_api_nroutes;
	core.ctx = &actx;
	core.max_body = 1000;
	core.verify = verify_admin;
	core.rl = d4_api_ratelimit_new(1000000, 60);
	CHECK(core.rl != NULL);
}

static void drain(struct d4_api_resp *r)
{
	static uint8_t out[16384];
	if (r->producer) {
		long got;
		int guard = 0;
		while ((got = r->producer->next(r->producer, out, sizeof(out))) > 0 && guard++ < 100000)
			CHECK((size_t)got <= sizeof(out));
		d4_api_stream_release(r);
	}
}

static const char *const prefixes[] = {
    "/pdns/query/",
    "/dnsdb/v2/lookup/rrset/name/",
    "/dnsdb/v2/lookup/rdata/name/",
    "/dnsdb/v2/lookup/rdata/ip/",
    "/dnsdb/v2/lookup/rdata/raw/",
    "/dnsdb/v2/summarize/rrset/name/",
    "/dnsdb/v2/summarize/rdata/name/",
    "/dnsdb/v2/summarize/rdata/ip/",
    "/dnsdb/v2/summarize/rdata/raw/",
    "/pdns/info?",
};

static void api_mode(const uint8_t *data, size_t size)
{
	const char *pre = prefixes[data[0] % 10];
	size_t pl = strlen(pre);
	char *target = malloc(pl + size);
	if (!target)
		return;
	memcpy(target, pre, pl);
	memcpy(target + pl, data + 1, size - 1);
	target[pl + size - 1] = '\0'; /* an embedded NUL shortens it, as the server's C string would */
	struct d4_api_raw raw = {"GET", target, NULL, 0, "", "Bearer fuzz", "192.0.2.9", 0, NULL, NULL, NULL, NULL};
	struct d4_api_resp r;
	d4_api_resp_init(&r);
	d4_api_dispatch(&core, &raw, &r);
	if (getenv("FUZZ_PDNS_DEBUG"))
		fprintf(stderr, "%d %s %s\n", r.status, target,
			d4_api_resp_header(&r, "D4-Next-Cursor") ? d4_api_resp_header(&r, "D4-Next-Cursor") : "");
	CHECK(r.status >= 200 && r.status < 600);
	CHECK(r.status != 500); /* a client cannot make the handlers fail */
	drain(&r);
	const char *next = d4_api_resp_header(&r, "D4-Next-Cursor");
	if (next && !strstr(target, "cursor=") && !strchr(target, '%')) {
		size_t tl = strlen(target), cl = strlen(next);
		char *t2 = malloc(tl + cl + 16);
		if (t2) {
			int has_q = strchr(target, '?') != NULL;
			for (int k = 0; k < 3; k++) {
				int n = snprintf(t2, tl + cl + 16, "%s%ccursor=%s", target, has_q ? '&' : '?', next);
				size_t at = (size_t)n - cl + (size > 1 ? data[1] : 0) % cl;
				if (k == 1)
					t2[at] = t2[at] == 'A' ? 'B' : 'A'; /* altered */
				else if (k == 2)
					t2[at] = '\0'; /* cut */
				struct d4_api_raw raw2 = {"GET",       t2, NULL, 0,    "",   "Bearer fuzz",
							  "192.0.2.9", 0,  NULL, NULL, NULL, NULL};
				struct d4_api_resp r2;
				d4_api_resp_init(&r2);
				d4_api_dispatch(&core, &raw2, &r2);
				CHECK(k == 0 ? r2.status == 200 : r2.status == 400);
				drain(&r2);
				d4_api_resp_free(&r2);
			}
			free(t2);
		}
	}
	d4_api_resp_free(&r);
	free(target);
}

struct qcount {
	uint32_t n;
};
static int qcb(void *ctx, const struct d4_store_pdns_tuple *t)
{
	struct qcount *c = ctx;
	CHECK(t->rrname_len > 0 && t->rrname[t->rrname_len] == '\0');
	c->n++;
	return 0;
}

static void store_mode(const uint8_t *data, size_t size)
{
	if (size < 2)
		return;
	static const enum d4_store_pdns_qkind kinds[] = {
	    D4_PDNS_Q_NAME,	  D4_PDNS_Q_NAME_LEFT,	     D4_PDNS_Q_NAME_RIGHT,
	    D4_PDNS_Q_RDATA_NAME, D4_PDNS_Q_RDATA_NAME_LEFT, D4_PDNS_Q_RDATA_NAME_RIGHT,
	    D4_PDNS_Q_RDATA_IP,	  D4_PDNS_Q_RDATA_RAW};
	const uint8_t *rest = data + 2;
	size_t rl = size - 2;
	const uint8_t *z = memchr(rest, 0, rl);
	size_t nl = z ? (size_t)(z - rest) : rl;
	char *name = malloc(nl + 1);
	if (!name)
		return;
	memcpy(name, rest, nl);
	name[nl] = '\0';
	struct d4_store_pdns_query q;
	memset(&q, 0, sizeof(q));
	q.kind = kinds[data[1] % 8];
	q.rrtype = (uint16_t)(data[1] >> 3 & 1 ? 1 : 0);
	q.max_tlp = D4_TLP_RED;
	q.limit = (uint32_t)(data[1] >> 4);
	if (q.kind == D4_PDNS_Q_RDATA_IP) {
		if (d4_store_pdns_parse_ip(name, &q) != 0) {
			free(name);
			return;
		}
	} else if (q.kind == D4_PDNS_Q_RDATA_RAW) {
		q.raw = (const uint8_t *)name;
		q.raw_len = nl;
	} else {
		q.name = name;
	}
	if (z) {
		q.resume = z + 1;
		q.resume_len = rl - nl - 1;
	}
	struct qcount c = {0};
	struct d4_store_pdns_qresult res;
	uint8_t again[D4_PDNS_RESUME_MAX]; /* the summary below may resume from it too */
	int rc = d4_store_pdns_query(store, &q, qcb, &c, &res);
	CHECK(rc == 0 || rc == D4_EINVAL);
	if (rc == 0 && q.limit)
		CHECK(c.n <= q.limit);
	if (rc == 0 && res.returned && res.more) {
		/* the cursor the store hands out is always accepted */
		struct d4_store_pdns_qresult res2;
		memcpy(again, res.resume, res.resume_len);
		q.resume = again;
		q.resume_len = res.resume_len;
		c.n = 0;
		CHECK(d4_store_pdns_query(store, &q, qcb, &c, &res2) == 0);
		CHECK(c.n > 0);
	}
	struct d4_store_pdns_summary sum;
	rc = d4_store_pdns_summarize(store, &q, &sum);
	CHECK(rc == 0 || rc == D4_EINVAL);
	free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!store)
		init();
	if (size == 0)
		return 0;
	if (data[0] & 0x80)
		store_mode(data, size);
	else
		api_mode(data, size);
	return 0;
}
