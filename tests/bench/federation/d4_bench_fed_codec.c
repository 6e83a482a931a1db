/* d4-bench-fed-codec: the batch codec against NDJSON, in memory, one core.
 *
 *   d4-bench-fed-codec [SECONDS]   (default 2 per case)
 *
 * For 64 KiB frames, 4 KiB frames and pDNS tuples: builds full batches
 * (up to 4 MiB) with the binary codec (d4_fed_wbuf_*, every record checked
 * as the receiver will) and as NDJSON (one JSON object per record written
 * with yajl, payload in base64), then decodes them (d4_fed_batch_*; yajl
 * tree per line + base64 decoding of the payload). Prints records/s and
 * MB/s of encode + decode (MB of record content: payload or tuple strings)
 * and the bytes on the wire per batch. The figures are in
 * docs/federation.md "The batch". */
#include "d4_error.h"
#include "d4_federation.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const uint8_t SENDER[16] = {0x5e, 0xd0, 1, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t ORG[16] = {0x0e, 0x0e, 1, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 5};
static const uint8_t SENSOR[16] = {0x5e, 0x50, 1, 2, 3, 4, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 6};

static char rr[4096][48];

static void make_rec(int pdns, uint32_t size, const uint8_t *payload, unsigned i, struct d4_fed_wrec *r)
{
	memset(r, 0, sizeof(*r));
	r->prov.tlp = 2;
	r->prov.has_org = 1;
	memcpy(r->prov.org, ORG, 16);
	r->prov.nsensors = 1;
	memcpy(r->prov.sensors[0], SENSOR, 16);
	r->prov.has_origin = 1;
	memcpy(r->prov.origin, SENDER, 16);
	if (!pdns) {
		r->origin_session = 42;
		r->type = 8;
		r->ext_type = "passivedns";
		r->ext_type_len = 10;
		r->hdr_ts = 1700000000 + i;
		r->recv_ms = 1700000000000ull + i;
		r->size = size;
		r->payload = payload;
		return;
	}
	snprintf(rr[i % 4096], sizeof(rr[0]), "host-%u.sub.example.com.", i);
	r->rrname = rr[i % 4096];
	r->rrname_len = strlen(r->rrname);
	r->rrtype = 16;
	r->rdata = "\"v=spf1 include:_spf.example.com ~all\" \"caf\xc3\xa9\"";
	r->rdata_len = strlen(r->rdata);
	r->bailiwick = "example.com.";
	r->bailiwick_len = 12;
	r->time_first = 1600000000;
	r->time_last = 1600000000 + i;
	r->count = 1 + i;
}

static size_t content(const struct d4_fed_wrec *r, int pdns)
{
	return pdns ? r->rrname_len + r->rdata_len + r->bailiwick_len : r->size;
}

/* ---- NDJSON ---- */

static void gstr(yajl_gen g, const char *s, size_t n)
{
	yajl_gen_string(g, (const unsigned char *)s, n);
}
static void guuid(yajl_gen g, const uint8_t u[16])
{
	char h[33];
	for (int i = 0; i < 16; i++)
		snprintf(h + 2 * i, 3, "%02x", u[i]);
	gstr(g, h, 32);
}

static char *b64buf;

static void nd_encode(yajl_gen g, int pdns, const struct d4_fed_wrec *r)
{
	yajl_gen_map_open(g);
	gstr(g, "tlp", 3);
	yajl_gen_integer(g, r->prov.tlp);
	gstr(g, "org", 3);
	guuid(g, r->prov.org);
	gstr(g, "sensors", 7);
	yajl_gen_array_open(g);
	guuid(g, r->prov.sensors[0]);
	yajl_gen_array_close(g);
	gstr(g, "origin", 6);
	guuid(g, r->prov.origin);
	gstr(g, "via", 3);
	yajl_gen_array_open(g);
	yajl_gen_array_close(g);
	if (!pdns) {
		gstr(g, "session", 7);
		yajl_gen_integer(g, (long long)r->origin_session);
		gstr(g, "type", 4);
		yajl_gen_integer(g, r->type);
		gstr(g, "ext_type", 8);
		gstr(g, r->ext_type, r->ext_type_len);
		gstr(g, "hdr_ts", 6);
		yajl_gen_integer(g, (long long)r->hdr_ts);
		gstr(g, "recv_ms", 7);
		yajl_gen_integer(g, (long long)r->recv_ms);
		int n = EVP_EncodeBlock((unsigned char *)b64buf, r->payload, (int)r->size);
		gstr(g, "payload", 7);
		gstr(g, b64buf, (size_t)n);
	} else {
		gstr(g, "rrname", 6);
		gstr(g, r->rrname, r->rrname_len);
		gstr(g, "rrtype", 6);
		yajl_gen_integer(g, r->rrtype);
		gstr(g, "rdata", 5);
		gstr(g, r->rdata, r->rdata_len);
		gstr(g, "bailiwick", 9);
		gstr(g, r->bailiwick, r->bailiwick_len);
		gstr(g, "time_first", 10);
		yajl_gen_integer(g, (long long)r->time_first);
		gstr(g, "time_last", 9);
		yajl_gen_integer(g, (long long)r->time_last);
		gstr(g, "count", 5);
		yajl_gen_integer(g, (long long)r->count);
	}
	yajl_gen_map_close(g);
}

struct result {
	double recs_s, mb_s;
	size_t wire, nrec;
};

static void bench(const char *name, int pdns, uint32_t size, double secs)
{
	static uint8_t payload[65536];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 131 + (i >> 8));
	struct d4_fed_wrec r, d;
	struct result bin = {0}, nd = {0};

	/* binary */
	struct d4_fed_wbuf w = {0};
	uint64_t recs = 0, bytes = 0;
	double t0 = now_s(), t;
	do {
		d4_fed_wbuf_begin(&w, pdns, SENDER, NULL, 0);
		unsigned i = 0;
		for (;; i++) {
			make_rec(pdns, size, payload, i, &r);
			if (d4_fed_wbuf_add(&w, &r) != 0)
				break;
			bytes += content(&r, pdns);
		}
		const uint8_t *out;
		size_t len;
		uint8_t to[8] = {0};
		d4_fed_wbuf_finish(&w, to, 8, &out, &len);
		struct d4_fed_batch_hdr h;
		struct d4_fed_batch_it it;
		if (d4_fed_batch_open(out, len, &h, &it) != 0)
			abort();
		while (d4_fed_batch_next(&it, &d) == 1)
			recs++;
		if (it.err)
			abort();
		bin.wire = len;
		bin.nrec = i;
	} while ((t = now_s() - t0) < secs);
	bin.recs_s = (double)recs / t;
	bin.mb_s = (double)bytes / t / 1e6;
	d4_fed_wbuf_free(&w);

	/* NDJSON, the same records in batches of the same record count */
	b64buf = malloc(65536 / 3 * 4 + 8);
	char *batch = malloc(32u << 20), *line = malloc(1u << 20);
	uint8_t *raw = malloc(65536 + 4);
	recs = bytes = 0;
	t0 = now_s();
	yajl_gen g = yajl_gen_alloc(NULL);
	yajl_gen_config(g, yajl_gen_validate_utf8, 1); /* what a receiver must check anyway */
	do {
		size_t len = 0;
		for (unsigned i = 0; i < bin.nrec; i++) {
			make_rec(pdns, size, payload, i, &r);
			const unsigned char *buf;
			size_t n;
			nd_encode(g, pdns, &r);
			yajl_gen_get_buf(g, &buf, &n);
			memcpy(batch + len, buf, n);
			len += n;
			batch[len++] = '\n';
			bytes += content(&r, pdns);
			yajl_gen_clear(g);
			yajl_gen_reset(g, NULL);
		}
		nd.wire = len;
		/* decode: one tree per line, payload from base64 */
		char *p = batch, *end = batch + len;
		while (p < end) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			memcpy(line, p, (size_t)(nl - p));
			line[nl - p] = 0;
			yajl_val v = yajl_tree_parse(line, NULL, 0);
			if (!v)
				abort();
			const char *path_payload[] = {"payload", NULL}, *path_rdata[] = {"rdata", NULL};
			yajl_val s = yajl_tree_get(v, pdns ? path_rdata : path_payload, yajl_t_string);
			if (!s)
				abort();
			if (!pdns &&
			    EVP_DecodeBlock(raw, (const unsigned char *)s->u.string, (int)strlen(s->u.string)) < 0)
				abort();
			yajl_tree_free(v);
			recs++;
			p = nl + 1;
		}
	} while ((t = now_s() - t0) < secs);
	yajl_gen_free(g);
	nd.recs_s = (double)recs / t;
	nd.mb_s = (double)bytes / t / 1e6;
	nd.nrec = bin.nrec;
	free(b64buf);
	free(batch);
	free(line);
	free(raw);
	printf("%-14s binary: %10.0f records/s %8.1f MB/s  %7zu bytes/batch (%zu records)\n", name, bin.recs_s,
	       bin.mb_s, bin.wire, bin.nrec);
	printf("%-14s NDJSON: %10.0f records/s %8.1f MB/s  %7zu bytes/batch\n", "", nd.recs_s, nd.mb_s, nd.wire);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0;
	if (secs <= 0)
		secs = 2.0;
	bench("frames 64 KiB", 0, 65536, secs);
	bench("frames 4 KiB", 0, 4096, secs);
	bench("pdns tuples", 1, 0, secs);
	return 0;
}
