/* d4-fed-batch: writes one federation batch (docs/federation.md "The
 * batch") to stdout, made with the hub's own encoder, for tests that play a
 * partner hub with curl (it_hub_federation_inbox).
 *
 *   d4-fed-batch KIND SENDER FROM TO [RECORD...]
 *
 * KIND frames|pdns; SENDER a uuid; FROM and TO positions in hex ("-" is
 * empty). Each RECORD is key=value pairs separated by commas:
 *   every kind: tlp=1..6 (2), origin=UUID (the sender), via=UUID+UUID...
 *     (the hubs it came through after its origin, the sender last; none:
 *     the sender is the origin), org=UUID, sensor=UUID, stripped=1 (no origin, via, org,
 *     sensor)
 *   frames: type=N (254), ext=NAME, size=N (32 bytes of a pattern),
 *     session=N (1), ts=N (seconds of the header, 1700000000)
 *   pdns: rrname=NAME (www.example.com.), rrtype=N (1), rdata=TEXT
 *     (192.0.2.1), count=N (1), first=N, last=N (1700000000)
 *   signed=STORE: under a seal signed with the signing key kept in the hub
 *     store at path STORE (read-only), whatever the origin says (a forgery
 *     when the store is not the origin's); sig1=STORE: the same as the
 *     per-record signature of a version 1 batch (what older hubs sent and
 *     relaying hubs may still hold); onward=1: the ONWARD flag */
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_store.h"
#include "d4_store_partner.h"
#include "d4_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *m, const char *a)
{
	fprintf(stderr, "d4-fed-batch: %s%s\n", m, a ? a : "");
	exit(2);
}

static void uuid(const char *s, uint8_t out[16])
{
	if (d4_uuid_parse(s, out) != 0)
		die("not a uuid: ", s);
}

static size_t hex(const char *s, uint8_t *out, size_t cap)
{
	if (strcmp(s, "-") == 0)
		return 0;
	size_t n = strlen(s);
	if (n % 2 || n / 2 > cap || d4_hex_decode(s, n, out, n / 2) != 0)
		die("bad hex position: ", s);
	return n / 2;
}

/* The seal (or, v1, the signature) the key kept in store `path` makes over
 * r (as if this record's origin signed it): r is encoded once into a
 * scratch batch whose sender is its origin, so that the encoder signs it,
 * and decoded back. A seal of one leaf: the record needs no path. */
static void sign_with(const char *path, struct d4_fed_wrec *r, uint8_t kind, int v1)
{
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = path;
	o.read_only = 1;
	struct d4_store *s = NULL;
	uint8_t seed[32], pk[32], sk[64];
	if (d4_store_open(&o, &s) != 0 || d4_store_sign_seed_get(s, seed) != 0 || d4_fed_sign_keypair(seed, pk, sk))
		die("no signing key in the store ", path);
	d4_store_close(s);
	struct d4_fed_wbuf w;
	memset(&w, 0, sizeof(w));
	w.sign_sk = sk;
	r->prov.flags |= v1 ? D4_FED_F_SIGNED : D4_FED_F_SEALED;
	const uint8_t *out;
	size_t outlen;
	struct d4_fed_batch_hdr h;
	struct d4_fed_batch_it it;
	struct d4_fed_wrec back;
	if (d4_fed_wbuf_begin(&w, kind, r->prov.origin, NULL, 0) != 0 || d4_fed_wbuf_add(&w, r) != 0 ||
	    d4_fed_wbuf_finish(&w, NULL, 0, &out, &outlen) != 0 || d4_fed_batch_open(out, outlen, &h, &it) != 0 ||
	    d4_fed_batch_next(&it, &back) != 1)
		die("cannot sign a record", NULL);
	memcpy(r->prov.sig, back.prov.sig, 64);
	r->prov.seal = back.prov.seal;
	r->prov.seal.flags = 0;
	r->prov.leaf = 0;
	r->prov.depth = 0;
	d4_fed_wbuf_free(&w);
	d4_wipe(seed, sizeof(seed));
	d4_wipe(sk, sizeof(sk));
}

int main(int argc, char **argv)
{
	if (argc < 5)
		die("usage: d4-fed-batch KIND SENDER FROM TO [RECORD...]", NULL);
	int kind = d4_fed_kind_parse(argv[1]);
	if (kind != D4_FED_KIND_FRAMES && kind != D4_FED_KIND_PDNS)
		die("kind is frames or pdns: ", argv[1]);
	uint8_t sender[16];
	uuid(argv[2], sender);
	static uint8_t from[D4_FED_POS_MAX], to[D4_FED_POS_MAX];
	size_t from_len = hex(argv[3], from, sizeof(from)), to_len = hex(argv[4], to, sizeof(to));
	struct d4_fed_wbuf w;
	memset(&w, 0, sizeof(w));
	if (d4_fed_wbuf_begin(&w, (uint8_t)kind, sender, from, from_len) != 0)
		die("cannot begin the batch", NULL);
	static uint8_t payload[1 << 20];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	for (int a = 5; a < argc; a++) {
		struct d4_fed_wrec r;
		memset(&r, 0, sizeof(r));
		r.prov.tlp = D4_TLP_GREEN;
		r.prov.has_origin = 1;
		memcpy(r.prov.origin, sender, 16);
		r.type = 254;
		r.origin_session = 1;
		r.hdr_ts = 1700000000;
		r.recv_ms = 1700000000000ull;
		r.payload = payload;
		r.size = 32;
		r.rrname = "www.example.com.";
		r.rrtype = 1;
		r.rdata = "192.0.2.1";
		r.count = 1;
		r.time_first = r.time_last = 1700000000;
		const char *sign_store = NULL;
		int v1 = 0;
		char *spec = strdup(argv[a]), *save = NULL;
		if (!spec)
			die("out of memory", NULL);
		for (char *kv = strtok_r(spec, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
			char *v = strchr(kv, '=');
			if (!v)
				die("key=value expected: ", kv);
			*v++ = '\0';
			if (strcmp(kv, "tlp") == 0)
				r.prov.tlp = (uint8_t)atoi(v);
			else if (strcmp(kv, "origin") == 0)
				uuid(v, r.prov.origin);
			else if (strcmp(kv, "via") == 0) {
				r.prov.nvia = 0;
				for (char *s = v, *p; s && *s && r.prov.nvia < D4_FED_VIA_MAX; s = p) {
					p = strchr(s, '+');
					if (p)
						*p++ = '\0';
					uuid(s, r.prov.via[r.prov.nvia++]);
				}
			} else if (strcmp(kv, "org") == 0) {
				r.prov.has_org = 1;
				uuid(v, r.prov.org);
			} else if (strcmp(kv, "sensor") == 0) {
				r.prov.nsensors = 1;
				uuid(v, r.prov.sensors[0]);
			} else if (strcmp(kv, "stripped") == 0 && atoi(v)) {
				r.prov.flags |= D4_FED_F_STRIPPED;
				r.prov.has_origin = r.prov.has_org = 0;
				r.prov.nvia = r.prov.nsensors = 0;
				memset(r.prov.origin, 0, 16);
				memset(r.prov.via, 0, sizeof(r.prov.via));
				r.origin_session = 0;
			} else if (strcmp(kv, "type") == 0)
				r.type = (uint8_t)atoi(v);
			else if (strcmp(kv, "ext") == 0) {
				r.ext_type = v;
				r.ext_type_len = strlen(v);
			} else if (strcmp(kv, "size") == 0) {
				unsigned long n = strtoul(v, NULL, 10);
				if (n > sizeof(payload))
					die("size too large: ", v);
				r.size = (uint32_t)n;
			} else if (strcmp(kv, "session") == 0)
				r.origin_session = strtoull(v, NULL, 10);
			else if (strcmp(kv, "ts") == 0) {
				r.hdr_ts = strtoull(v, NULL, 10);
				r.recv_ms = r.hdr_ts * 1000u;
			} else if (strcmp(kv, "rrname") == 0)
				r.rrname = v;
			else if (strcmp(kv, "rrtype") == 0)
				r.rrtype = (uint16_t)atoi(v);
			else if (strcmp(kv, "rdata") == 0)
				r.rdata = v;
			else if (strcmp(kv, "count") == 0)
				r.count = strtoull(v, NULL, 10);
			else if (strcmp(kv, "first") == 0)
				r.time_first = strtoull(v, NULL, 10);
			else if (strcmp(kv, "last") == 0)
				r.time_last = strtoull(v, NULL, 10);
			else if (strcmp(kv, "signed") == 0 || strcmp(kv, "sig1") == 0) {
				sign_store = v;
				v1 = strcmp(kv, "sig1") == 0;
			} else if (strcmp(kv, "onward") == 0 && atoi(v))
				r.prov.flags |= D4_FED_F_ONWARD;
			else
				die("unknown key: ", kv);
		}
		r.rrname_len = strlen(r.rrname);
		r.rdata_len = strlen(r.rdata);
		if (sign_store)
			sign_with(sign_store, &r, (uint8_t)kind, v1);
		int rc = d4_fed_wbuf_add(&w, &r);
		if (rc != 0)
			die("the encoder refused a record: ", argv[a]);
		free(spec);
	}
	const uint8_t *out;
	size_t outlen;
	if (d4_fed_wbuf_finish(&w, to, to_len, &out, &outlen) != 0)
		die("cannot finish the batch", NULL);
	if (fwrite(out, 1, outlen, stdout) != outlen || fflush(stdout) != 0)
		die("write failed", NULL);
	d4_fed_wbuf_free(&w);
	return 0;
}
