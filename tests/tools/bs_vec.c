/* d4-bs-vec: writes backscatter vectors into a hub's store, and lists the
 * vectors a store holds, for the federation tests (it_fed_backscatter) that
 * need vectors at a hub without sending it packets. The store may belong
 * to a running hub (LMDB serialises writers between processes).
 *
 *   d4-bs-vec STORE put      one vector per line on stdin, applied with
 *                            d4_store_bs_apply in transactions of 1,000
 *   d4-bs-vec STORE dump     every vector, one line each, sorted
 *
 * A put line is key=value pairs separated by spaces:
 *   victim=ADDR (required; IPv4 or IPv6), kind=N (1), state=1|2 (1),
 *   first=US (1700000000000000), last=US (first + 60 s), packets=N (100),
 *   port=N (80: all packets to it), tlp=TAG (tlp:green; a TLP tag),
 *   org=UUID (none), sensor=UUID (none), updates=N (0)
 * A vector with the same (victim, kind, first) replaces the stored one by
 * the store's rules (a closed vector stays closed, fewer packets is older).
 *
 * A dump line: victim kind first state packets last tlp origin received
 * stripped sender org nsensors nvia (uuids as 32 hex digits, or "-" when
 * all-zero). */
#include "d4_error.h"
#include "d4_policy.h"
#include "d4_store.h"
#include "d4_store_bs.h"
#include "d4_util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *m, const char *a)
{
	fprintf(stderr, "d4-bs-vec: %s%s\n", m, a ? a : "");
	exit(2);
}

static void addr(const char *s, uint8_t out[16])
{
	memset(out, 0, 16);
	uint8_t v4[4];
	if (inet_pton(AF_INET, s, v4) == 1) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, v4, 4);
	} else if (inet_pton(AF_INET6, s, out) != 1) {
		die("not an address: ", s);
	}
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end)
		die("not a number: ", s);
	return v;
}

static void parse(char *line, struct d4_store_bs_vec *v)
{
	memset(v, 0, sizeof(*v));
	v->kind = 1;
	v->state = 1;
	v->first_us = 1700000000000000ull;
	v->packets = 100;
	v->tlp = D4_TLP_GREEN;
	uint64_t last = 0, port = 80, updates = 0;
	int have_victim = 0;
	for (char *save = NULL, *t = strtok_r(line, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save)) {
		char *eq = strchr(t, '=');
		if (!eq)
			die("not key=value: ", t);
		*eq = '\0';
		const char *k = t, *val = eq + 1;
		if (!strcmp(k, "victim")) {
			addr(val, v->victim);
			have_victim = 1;
		} else if (!strcmp(k, "kind"))
			v->kind = (uint8_t)num(val);
		else if (!strcmp(k, "state"))
			v->state = (uint8_t)num(val);
		else if (!strcmp(k, "first"))
			v->first_us = num(val);
		else if (!strcmp(k, "last"))
			last = num(val);
		else if (!strcmp(k, "packets"))
			v->packets = num(val);
		else if (!strcmp(k, "port"))
			port = num(val);
		else if (!strcmp(k, "updates"))
			updates = num(val);
		else if (!strcmp(k, "tlp")) {
			v->tlp = (uint8_t)d4_policy_tlp_tag(val, strlen(val));
			if (v->tlp == D4_TLP_NONE)
				die("not a TLP tag: ", val);
		} else if (!strcmp(k, "org")) {
			if (d4_uuid_parse(val, v->org) != 0)
				die("not a uuid: ", val);
		} else if (!strcmp(k, "sensor")) {
			if (d4_uuid_parse(val, v->sensors[0]) != 0)
				die("not a uuid: ", val);
			v->n_sensors = 1;
		} else
			die("unknown key: ", k);
	}
	if (!have_victim)
		die("a vector needs victim=", NULL);
	v->last_us = last ? last : v->first_us + 60000000ull;
	v->bytes = v->packets * 40;
	v->n_ports = 1;
	v->ports[0].port = (uint16_t)port;
	v->ports[0].packets = v->packets;
	v->ports_distinct = 1;
	v->telescope_addrs = v->packets < 16 ? v->packets : 16;
	v->telescope_exact = 1;
	v->peak_ppm = (uint32_t)(v->packets < 1000 ? v->packets : 1000);
	double dur = (double)(v->last_us - v->first_us) / 1e6;
	v->observed_pps = (double)v->packets / (dur < 1.0 ? 1.0 : dur);
	v->est_pps = v->observed_pps * 256.0;
	v->est_peak_pps = v->peak_ppm / 60.0 * 256.0;
	v->est_valid = 1;
	v->updates = (uint32_t)updates;
}

static int put(struct d4_store *s)
{
	enum { CHUNK = 1000 };
	struct d4_store_bs_vec *v = calloc(CHUNK, sizeof(*v));
	if (!v)
		die("out of memory", NULL);
	char line[1024];
	size_t n = 0;
	uint64_t total = 0;
	for (;;) {
		int eof = !fgets(line, sizeof(line), stdin);
		if (!eof && line[strspn(line, " \t\n")] != '\0')
			parse(line, &v[n++]);
		if (n && (n == CHUNK || eof)) {
			struct d4_store_bs_update u;
			memset(&u, 0, sizeof(u));
			u.vecs = v;
			u.nvecs = n;
			int rc = d4_store_bs_apply(s, &u);
			if (rc)
				die("apply: ", d4_strerror(rc));
			total += n;
			n = 0;
		}
		if (eof)
			break;
	}
	free(v);
	fprintf(stderr, "d4-bs-vec: %llu vectors applied\n", (unsigned long long)total);
	return 0;
}

struct lines {
	char **l;
	size_t n, cap;
};

static void uuid_or_dash(const uint8_t u[16], char out[D4_UUID_HEX_LEN + 1])
{
	static const uint8_t zero[16];
	if (!memcmp(u, zero, 16))
		strcpy(out, "-");
	else
		d4_uuid_hex(u, out);
}

static int dump_cb(void *ctx, const struct d4_store_bs_vec *v)
{
	struct lines *ls = ctx;
	char vic[INET6_ADDRSTRLEN], origin[D4_UUID_HEX_LEN + 1], sender[D4_UUID_HEX_LEN + 1], org[D4_UUID_HEX_LEN + 1],
	    line[512];
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (!memcmp(v->victim, mapped, 12))
		inet_ntop(AF_INET, v->victim + 12, vic, sizeof(vic));
	else
		inet_ntop(AF_INET6, v->victim, vic, sizeof(vic));
	uuid_or_dash(v->origin, origin);
	uuid_or_dash(v->sender, sender);
	uuid_or_dash(v->org, org);
	snprintf(line, sizeof(line), "%s %u %llu %u %llu %llu %s %s %u %u %s %s %u %u", vic, v->kind,
		 (unsigned long long)v->first_us, v->state, (unsigned long long)v->packets,
		 (unsigned long long)v->last_us, d4_policy_tlp_name((enum d4_tlp)v->tlp), origin, v->received,
		 v->stripped, sender, org, v->n_sensors, v->nvia);
	if (ls->n == ls->cap) {
		ls->cap = ls->cap ? 2 * ls->cap : 1024;
		ls->l = realloc(ls->l, ls->cap * sizeof(*ls->l));
		if (!ls->l)
			die("out of memory", NULL);
	}
	ls->l[ls->n] = strdup(line);
	if (!ls->l[ls->n++])
		die("out of memory", NULL);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int dump(struct d4_store *s)
{
	struct lines ls = {0};
	int rc = d4_store_bs_changes(s, 0, dump_cb, &ls, NULL);
	if (rc)
		die("changes: ", d4_strerror(rc));
	qsort(ls.l, ls.n, sizeof(*ls.l), cmp);
	for (size_t i = 0; i < ls.n; i++) {
		puts(ls.l[i]);
		free(ls.l[i]);
	}
	free(ls.l);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[2], "put") && strcmp(argv[2], "dump")))
		die("usage: d4-bs-vec STORE put|dump", NULL);
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = argv[1];
	o.read_only = !strcmp(argv[2], "dump");
	struct d4_store *s = NULL;
	int rc = d4_store_open(&o, &s);
	if (rc)
		die("cannot open the store: ", d4_strerror(rc));
	rc = o.read_only ? dump(s) : put(s);
	d4_store_close(s);
	return rc;
}
