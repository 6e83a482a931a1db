/* d4-pdns-load: loads passive-DNS observations into a store with
 * d4_store_pdns_apply, for tests and benchmarks that need a known dataset
 * before the hub starts (no sensor, no ingest).
 *
 * Input (stdin): one observation per line, tab-separated:
 *   rrname  rrtype(number)  rdata  bailiwick|-  time_first  time_last  count  tlp  sensor|-
 * tlp is a tag ("tlp:red") or its number; sensor 32 hex digits. rdata is
 * presentation text as the analyzers store it (it never holds a tab).
 *
 * Usage: d4-pdns-load -s STOREDIR [-m MAPSIZE_MB] [-b BATCH]
 * Prints "loaded N observations (M bad lines)" and exits 0, or 1 on error. */
#include "d4_error.h"
#include "d4_policy.h"
#include "d4_store.h"
#include "d4_store_pdns.h"
#include "d4_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FIELDS 9

struct slot {
	struct d4_store_pdns_obs o;
	char *line; /* owns the strings o points into */
};

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (!*s)
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static int parse_line(char *line, struct d4_store_pdns_obs *o)
{
	char *f[MAX_FIELDS];
	size_t n = 0;
	char *p = line;
	while (n < MAX_FIELDS) {
		f[n++] = p;
		char *t = strchr(p, '\t');
		if (!t)
			break;
		*t = '\0';
		p = t + 1;
	}
	if (n != MAX_FIELDS)
		return -1;
	uint64_t type, tf, tl, count, tlp;
	memset(o, 0, sizeof(*o));
	if (parse_u64(f[1], &type) || type == 0 || type > 65535 || parse_u64(f[4], &tf) || parse_u64(f[5], &tl) ||
	    parse_u64(f[6], &count))
		return -1;
	if (parse_u64(f[7], &tlp)) {
		tlp = (uint64_t)d4_policy_tlp_parse(f[7]);
		if (tlp == D4_TLP_NONE)
			return -1;
	}
	o->rrname = f[0];
	o->rrtype = (uint16_t)type;
	o->rdata = f[2];
	o->bailiwick = strcmp(f[3], "-") ? f[3] : NULL;
	o->time_first = tf;
	o->time_last = tl;
	o->count = count;
	o->tlp = (uint8_t)tlp;
	if (strcmp(f[8], "-")) {
		if (d4_uuid_parse(f[8], o->sensor) != D4_OK)
			return -1;
		o->has_sensor = 1;
	}
	return 0;
}

static int flush(struct d4_store *st, struct slot *b, size_t *n)
{
	struct d4_store_pdns_obs *obs = malloc(*n * sizeof(*obs) + 1);
	if (!obs)
		return D4_ENOMEM;
	for (size_t i = 0; i < *n; i++)
		obs[i] = b[i].o;
	int rc = d4_store_pdns_apply(st, obs, *n, NULL);
	free(obs);
	for (size_t i = 0; i < *n; i++)
		free(b[i].line);
	*n = 0;
	return rc;
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	unsigned long map_mb = 1024, batch = 20000;
	int c, layout = 0;
	while ((c = getopt(argc, argv, "s:m:b:L:")) != -1) {
		switch (c) {
		case 's': dir = optarg; break;
		case 'L': /* the pDNS layout of a new store (the bench's comparison of both) */
			layout = !strcmp(optarg, "s4")	 ? D4_STORE_PDNS_LAYOUT_S4
				 : !strcmp(optarg, "id") ? D4_STORE_PDNS_LAYOUT_ID
							 : -1;
			break;
		case 'm': map_mb = strtoul(optarg, NULL, 10); break;
		case 'b': batch = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: d4-pdns-load -s STOREDIR [-m MAPSIZE_MB] [-b BATCH] [-L s4|id]\n");
			return 2;
		}
	}
	if (!dir || batch == 0 || map_mb == 0 || layout < 0) {
		fprintf(stderr, "usage: d4-pdns-load -s STOREDIR [-m MAPSIZE_MB] [-b BATCH] [-L s4|id]\n");
		return 2;
	}
	struct d4_store_opts so = {
	    .path = dir, .map_size = (uint64_t)map_mb << 20, .no_sync = 1, .pdns_layout = layout};
	struct d4_store *st;
	int rc = d4_store_open(&so, &st);
	if (rc) {
		fprintf(stderr, "d4-pdns-load: %s: %s\n", dir, d4_strerror(rc));
		return 1;
	}
	struct slot *b = calloc(batch, sizeof(*b));
	if (!b) {
		d4_store_close(st);
		return 1;
	}
	size_t n = 0, cap = 0;
	uint64_t loaded = 0, bad = 0;
	char *line = NULL;
	ssize_t len;
	while ((len = getline(&line, &cap, stdin)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0)
			continue;
		char *copy = strdup(line);
		if (!copy) {
			rc = D4_ENOMEM;
			break;
		}
		if (parse_line(copy, &b[n].o)) {
			free(copy);
			bad++;
			continue;
		}
		b[n++].line = copy;
		loaded++;
		if (n == batch && (rc = flush(st, b, &n)))
			break;
	}
	if (!rc && n)
		rc = flush(st, b, &n);
	for (size_t i = 0; i < n; i++)
		free(b[i].line);
	free(line);
	free(b);
	d4_store_close(st);
	if (rc) {
		fprintf(stderr, "d4-pdns-load: apply: %s\n", d4_strerror(rc));
		return 1;
	}
	printf("loaded %llu observations (%llu bad lines)\n", (unsigned long long)loaded, (unsigned long long)bad);
	return 0;
}
