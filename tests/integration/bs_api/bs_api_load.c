/* bs_api_load — writes backscatter vectors and consumer counters into a
 * stopped hub's store through d4_store_bs_apply, for the API tests.
 *
 *   bs_api_load load STORE < LINES
 *
 * One record per line, fields separated by tabs:
 *   vec ORIGIN VICTIM KIND STATE FIRST_US LAST_US PACKETS BYTES TLP SENSORS PORTS ORG
 *     ORIGIN: - (this hub) or the producing hub's uuid (the vector is then a
 *     received one, sent by that hub); KIND a kind name; STATE ongoing|closed;
 *     TLP a tag; SENSORS - or uuids separated by commas; PORTS - or
 *     PORT:PACKETS separated by commas; ORG - or a uuid
 *   ctr SENSOR FRAMES PACKETS BAD BACKSCATTER DROPPED BY_KIND BY_REASON
 *     BY_KIND / BY_REASON: - or INDEX=COUNT separated by commas
 * Everything is applied in one write transaction per 500 records. */
#include "d4_backscatter.h"
#include "d4_error.h"
#include "d4_policy.h"
#include "d4_store.h"
#include "d4_store_bs.h"
#include "d4_util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 500

static int die(const char *what, unsigned long line)
{
	fprintf(stderr, "bs_api_load: line %lu: %s\n", line, what);
	return 1;
}

static int parse_addr(const char *s, uint8_t out[16])
{
	uint8_t v4[4];
	if (strchr(s, ':'))
		return inet_pton(AF_INET6, s, out) == 1 ? 0 : -1;
	if (inet_pton(AF_INET, s, v4) != 1)
		return -1;
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, v4, 4);
	return 0;
}

static int flush(struct d4_store *st, struct d4_store_bs_vec *v, size_t nv, struct d4_store_bs_counters *c, size_t nc)
{
	struct d4_store_bs_update u;
	memset(&u, 0, sizeof(u));
	u.vecs = v;
	u.nvecs = nv;
	u.deltas = c;
	u.ndeltas = nc;
	int rc = d4_store_bs_apply(st, &u);
	if (rc)
		fprintf(stderr, "bs_api_load: apply: %s\n", d4_strerror(rc));
	return rc;
}

int main(int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[1], "load") != 0) {
		fprintf(stderr, "usage: bs_api_load load STORE < LINES\n");
		return 2;
	}
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = argv[2];
	o.commit_ms = 20;
	struct d4_store *st = NULL;
	int rc = d4_store_open(&o, &st);
	if (rc) {
		fprintf(stderr, "bs_api_load: cannot open %s: %s\n", argv[2], d4_strerror(rc));
		return 1;
	}
	struct d4_store_bs_vec *vs = calloc(BATCH, sizeof(*vs));
	struct d4_store_bs_counters *cs = calloc(BATCH, sizeof(*cs));
	size_t nv = 0, nc = 0;
	unsigned long ln = 0;
	char line[8192];
	int ret = 0;
	while (!ret && fgets(line, sizeof(line), stdin)) {
		ln++;
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		char *f[16];
		int n = 0;
		for (char *p = line, *tok; n < 16 && (tok = strsep(&p, "\t")) != NULL;)
			f[n++] = tok;
		if (!strcmp(f[0], "vec")) {
			if (n != 13) {
				ret = die("vec: 13 fields expected", ln);
				break;
			}
			struct d4_store_bs_vec *v = &vs[nv];
			memset(v, 0, sizeof(*v));
			if (strcmp(f[1], "-")) {
				if (d4_uuid_parse(f[1], v->origin)) {
					ret = die("bad origin", ln);
					break;
				}
				v->received = 1;
				memcpy(v->sender, v->origin, 16);
			}
			int kind = d4_bs_kind_parse(f[3]);
			enum d4_tlp tlp = d4_policy_tlp_parse(f[9]);
			if (parse_addr(f[2], v->victim) || kind <= 0 || tlp == D4_TLP_NONE) {
				ret = die("bad victim, kind or tlp", ln);
				break;
			}
			v->kind = (uint8_t)kind;
			v->state = !strcmp(f[4], "closed") ? 2 : 1;
			v->first_us = strtoull(f[5], NULL, 10);
			v->last_us = strtoull(f[6], NULL, 10);
			v->packets = strtoull(f[7], NULL, 10);
			v->bytes = strtoull(f[8], NULL, 10);
			v->tlp = (uint8_t)tlp;
			if (strcmp(f[10], "-"))
				for (char *p = f[10], *t; (t = strsep(&p, ",")) && v->n_sensors < D4_STORE_BS_SENSORS;)
					if (d4_uuid_parse(t, v->sensors[v->n_sensors++])) {
						ret = die("bad sensor", ln);
						break;
					}
			if (strcmp(f[11], "-"))
				for (char *p = f[11], *t;
				     (t = strsep(&p, ",")) && v->n_ports < D4_STORE_BS_TOP_PORTS;) {
					v->ports[v->n_ports].port = (uint16_t)strtoul(t, &t, 10);
					v->ports[v->n_ports++].packets = strtoull(t + (*t == ':'), NULL, 10);
				}
			v->ports_distinct = v->n_ports;
			if (strcmp(f[12], "-") && d4_uuid_parse(f[12], v->org)) {
				ret = die("bad org", ln);
				break;
			}
			uint64_t dur = v->last_us > v->first_us ? (v->last_us - v->first_us) / 1000000u : 0;
			v->observed_pps = (double)v->packets / (double)(dur ? dur : 1);
			v->peak_ppm = (uint32_t)(v->packets < 60 ? v->packets : v->packets / 2);
			v->telescope_addrs = v->packets;
			v->telescope_exact = 1;
			nv++;
		} else if (!strcmp(f[0], "ctr")) {
			if (n != 9) {
				ret = die("ctr: 9 fields expected", ln);
				break;
			}
			struct d4_store_bs_counters *c = &cs[nc];
			memset(c, 0, sizeof(*c));
			if (d4_uuid_parse(f[1], c->sensor)) {
				ret = die("bad sensor", ln);
				break;
			}
			c->frames = strtoull(f[2], NULL, 10);
			c->packets = strtoull(f[3], NULL, 10);
			c->bad_packets = strtoull(f[4], NULL, 10);
			c->backscatter = strtoull(f[5], NULL, 10);
			c->dropped = strtoull(f[6], NULL, 10);
			for (int k = 7; k <= 8; k++) {
				if (!strcmp(f[k], "-"))
					continue;
				for (char *p = f[k], *t; (t = strsep(&p, ","));) {
					unsigned long i = strtoul(t, &t, 10);
					uint64_t val = strtoull(t + (*t == '='), NULL, 10);
					if (i < (k == 7 ? D4_STORE_BS_KINDS : D4_STORE_BS_REASONS))
						(k == 7 ? c->by_kind : c->by_reason)[i] = val;
				}
			}
			nc++;
		} else {
			ret = die("unknown record", ln);
			break;
		}
		if (nv == BATCH || nc == BATCH) {
			if (flush(st, vs, nv, cs, nc))
				ret = 1;
			nv = nc = 0;
		}
	}
	if (!ret && (nv || nc) && flush(st, vs, nv, cs, nc))
		ret = 1;
	free(vs);
	free(cs);
	d4_store_close(st);
	return ret;
}
