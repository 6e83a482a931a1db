/* Fuzz target: the federation source (d4_fed_source_next, d4_fed_source_lag)
 * from any position. A position comes back from partners (the pull
 * endpoint's ?from=, a receiver's answer to a mismatch), so it is hostile
 * input: it must be refused (D4_EINVAL) or served, never crash, never make a
 * batch the receiver's decoder refuses, and the position a batch ends at
 * must be accepted again. Input: byte 0 = kind (bit 2: backscatter, else
 * bit 0: pdns) and small batches (bit 1); the rest = the position. The store
 * is a temporary one made at the first input: a frames session, passivedns
 * CSV cut across frames, a stream ended with an unterminated last line,
 * backscatter vectors of every level, one of them updated. */
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_store.h"
#include "d4_store_bs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct d4_store *g_s;
static char g_dir[64];
static struct d4_fed_self g_self;
static struct d4_partner *g_p;

static void cleanup(void)
{
	d4_store_close(g_s);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", g_dir);
}

static void post_frame(uint64_t sid, uint8_t type, uint8_t tlp, const char *p, size_t n)
{
	struct d4_frame_rec r;
	memset(&r, 0, sizeof(r));
	r.session = sid;
	r.uuid[0] = 0x5e;
	r.uuid[6] = 0x40;
	r.uuid[8] = 0x80;
	r.type = type;
	r.version = 1;
	r.tlp = tlp;
	r.hdr_ts = 1700000000;
	r.recv_ms = 1700000000000ull;
	r.size = (uint32_t)n;
	while (d4_store_post_frame(g_s, &r, (const uint8_t *)p) == D4_EAGAIN)
		usleep(200);
}

static uint64_t open_session(uint8_t type)
{
	struct d4_session_open op;
	memset(&op, 0, sizeof(op));
	op.session = d4_store_session_id_new(g_s);
	op.uuid[0] = 0x5e;
	op.uuid[6] = 0x40;
	op.uuid[8] = 0x80;
	op.type = type;
	op.when = 1700000000;
	op.auto_create = 1;
	if (d4_store_post_session_open(g_s, &op) != 0)
		abort();
	return op.session;
}

static void setup(void)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/d4fuzz_fedsrc_XXXXXX");
	if (!mkdtemp(g_dir))
		abort();
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = g_dir;
	o.map_size = 64u << 20;
	o.no_sync = 1;
	o.commit_ms = 5;
	if (d4_store_open(&o, &g_s) != 0 || d4_store_writer_start(g_s) != 0)
		abort();
	atexit(cleanup);
	static const char csv[] =
	    "1795618268.1||127.0.0.1||127.0.0.2||IN||a.example.test.||A||192.0.2.1||60||1\n"
	    "1795618268.2||127.0.0.1||127.0.0.2||IN||b.example.test.||AAAA||2001:db8::1||60||2\n"
	    "1795618268.3||127.0.0.1||127.0.0.2||IN||c.example.test.||A||10.0.0.1||60||1\n"
	    "1795618268.4||127.0.0.1||127.0.0.2||IN||d.example.test.||CNAME||a.example.test.||60||1";
	uint64_t s1 = open_session(8), s2 = open_session(2);
	for (size_t i = 0; i < sizeof(csv) - 1; i += 17) {
		size_t n = sizeof(csv) - 1 - i < 17 ? sizeof(csv) - 1 - i : 17;
		post_frame(s1, 8, 2, csv + i, n);
		post_frame(s2, 2, (uint8_t)(1 + i % 6), "frame", 5);
	}
	while (d4_store_post_session_close(g_s, s1, 1700000001, "peer closed (eof)") == D4_EAGAIN)
		usleep(200);
	if (d4_store_writer_sync(g_s, 10000) != 0)
		abort();
	struct d4_store_bs_vec v[7];
	memset(v, 0, sizeof(v));
	for (unsigned i = 0; i < 7; i++) {
		v[i].victim[10] = v[i].victim[11] = 0xff;
		v[i].victim[12] = 192;
		v[i].victim[15] = (uint8_t)(1 + i);
		v[i].kind = (uint8_t)(1 + i);
		v[i].state = 1;
		v[i].first_us = 1700000000000000ull;
		v[i].last_us = v[i].first_us + 60000000ull;
		v[i].packets = v[i].peak_ppm = 30;
		v[i].n_ports = 1;
		v[i].ports[0].port = 80;
		v[i].ports[0].packets = 30;
		v[i].ports_distinct = 1;
		v[i].n_sensors = 1;
		v[i].sensors[0][0] = 0x5e;
		v[i].tlp = (uint8_t)(1 + i % 6);
	}
	struct d4_store_bs_update u;
	memset(&u, 0, sizeof(u));
	u.vecs = v;
	u.nvecs = 7;
	if (d4_store_bs_apply(g_s, &u) != 0)
		abort();
	v[1].state = 2; /* a later change of one of them */
	u.nvecs = 2;
	if (d4_store_bs_apply(g_s, &u) != 0)
		abort();
	memset(&g_self, 0, sizeof(g_self));
	g_self.hub[0] = 0xa1;
	g_self.org[0] = 0x01;
	g_self.default_tlp = D4_TLP_AMBER_STRICT;
	g_p = calloc(1, sizeof(*g_p));
	strcpy(g_p->name, "b");
	g_p->hub[0] = 0xb1;
	g_p->org[0] = 0x01;
	g_p->relation = D4_FED_REL_SAME_ORG;
	g_p->enabled = 1;
	for (int k = 0; k < 3; k++) {
		g_p->out[k].enabled = 1;
		g_p->out[k].max_tlp = D4_TLP_AMBER_STRICT;
	}
}

/* Decodes the batch as a receiver does: it must be valid. */
static void check(const uint8_t *b, size_t n, uint8_t kind, uint32_t nrec, uint8_t *to, size_t *to_len)
{
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	if (d4_fed_batch_open(b, n, &h, &it) != 0 || h.kind != kind || h.nrecords != nrec)
		abort();
	struct d4_fed_wrec r;
	int rc;
	while ((rc = d4_fed_batch_next(&it, &r)) == 1)
		;
	if (rc != 0)
		abort();
	memcpy(to, h.to, h.to_len);
	*to_len = h.to_len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!g_s)
		setup();
	if (size < 1)
		return 0;
	uint8_t kind = (data[0] & 4) ? D4_FED_KIND_BACKSCATTER : (data[0] & 1) ? D4_FED_KIND_PDNS : D4_FED_KIND_FRAMES;
	struct d4_fed_source_opts o;
	memset(&o, 0, sizeof(o));
	o.self = &g_self;
	if (data[0] & 2)
		o.max_bytes = 4600;
	struct d4_fed_source *src = NULL;
	if (d4_fed_source_new(g_s, &o, kind, &src) != 0)
		abort();
	const uint8_t *pos = data + 1;
	size_t pos_len = size - 1;
	uint8_t to[D4_FED_POS_MAX];
	size_t to_len = 0;
	for (int round = 0; round < 2; round++) {
		const uint8_t *out;
		size_t outlen;
		struct d4_fed_counters dec;
		uint32_t nrec;
		int more;
		int rc = d4_fed_source_next(src, g_p, pos, pos_len, &out, &outlen, &dec, &nrec, &more);
		if (rc == D4_EINVAL && round == 0)
			break; /* not a position of this kind */
		if (rc != 0)
			abort(); /* a position the source made must be accepted */
		check(out, outlen, kind, nrec, to, &to_len);
		uint64_t lr, ls;
		rc = d4_fed_source_lag(src, to, to_len, &lr, &ls);
		if (rc != 0 && rc != D4_EINVAL)
			abort();
		pos = to;
		pos_len = to_len;
	}
	uint64_t lr, ls;
	(void)d4_fed_source_lag(src, data + 1, size - 1, &lr, &ls);
	d4_fed_source_free(src);
	return 0;
}
