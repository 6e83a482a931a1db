/* d4-bench-pdns-gen — a seeded, realistic passivedns CSV feed for the pDNS
 * ingest bench (tests/bench/pdns/run_ingest.sh) and anyone who wants a
 * resolver-like dataset. Same seed, same options: byte-identical output.
 *
 *   d4-bench-pdns-gen [-n LINES] [-s SEED] [-d DOMAINS] [-z EXPONENT] [-o FILE] [-q]
 *
 * Writes LINES (default 1,000,000) lines in passivedns's default layout
 *   ts||client||server||IN||query||type||answer||ttl||count
 * and prints on stderr: lines, distinct tuples (rrname lower-cased, type,
 * canonical rdata: what the hub's tuple store counts), the distinct ratio and
 * the share of each shape. Shape of the feed:
 *
 * - Registered domains (DOMAINS, default LINES / 5: about 30 % distinct
 *   tuples per line at the default exponent) over 40 public suffixes with
 *   realistic weights (.com about 45 %), picked per response with a Zipf law
 *   of exponent EXPONENT (default 1.0) over their rank: a few very hot
 *   domains, most seen once or twice. Rank -> domain is a seeded hash, so
 *   names carry no rank.
 * - Each domain: 1-6 hosts (more for hot ones: www, mail, api, cdn, ...), an
 *   NS set of 2-4 at one of 60 DNS providers, 1-3 MX, 1-4 TXT (SPF, site
 *   verifications), one SOA, SRV records for a tenth of them, AAAA for about
 *   a third.
 * - A records: own addresses (one or two per host), or shared hosting (29 %
 *   of domains: one of 4,000 hosting addresses drawn with a steep skew, so
 *   the top addresses carry thousands of names: IPs shared by > 200 names).
 * - CDN-fronted domains (10 %): host CNAME -> per-domain edge name at one of
 *   8 CDNs, and the edge's A/AAAA from a 32-address pool of its cluster that
 *   rotates every 60 s of feed time (two lines per response).
 * - Fast-flux domains (0.5 %): 3-6 random addresses per response, TTL 0-300.
 * - Round-robin pools: 6 hot names with 250-420 addresses each; a response
 *   prints 8 of them.
 * - Owners in mixed case for 4 % of the lines (0x20 randomisation; the
 *   tuple is the same); `count` > 1 for the re-printed records of the 2,000
 *   hottest domains; time advances 1 s every 250 lines.
 *
 * Options: -n lines, -s seed (default 42), -d registered domains, -z Zipf
 * exponent, -o output file (default stdout), -q no statistics. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t g_seed = 42;

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* H(a, b): a seeded hash of two values, the identity of everything derived. */
static uint64_t H(uint64_t a, uint64_t b)
{
	return mix64(mix64(a + g_seed * 0x9e3779b97f4a7c15ull) ^ (b + 0x632be59bd9b4e019ull));
}

static uint64_t g_rng;
static uint64_t rnd(void)
{
	g_rng += 0x9e3779b97f4a7c15ull;
	return mix64(g_rng);
}
static unsigned rndn(unsigned n)
{
	return (unsigned)(((rnd() >> 32) * (uint64_t)n) >> 32);
}

/* ---- public suffixes, weighted (per mille) ---- */
static const struct {
	const char *s;
	unsigned w;
} suffixes[] = {
    {"com", 450},  {"net", 45},	 {"org", 40},  {"de", 35}, {"co.uk", 22}, {"ru", 22},	 {"com.br", 15}, {"fr", 15},
    {"nl", 14},	   {"info", 13}, {"it", 13},   {"pl", 12}, {"io", 12},	  {"jp", 11},	 {"cn", 11},	 {"com.au", 10},
    {"in", 10},	   {"eu", 9},	 {"es", 9},    {"ch", 8},  {"xyz", 8},	  {"top", 8},	 {"be", 7},	 {"se", 7},
    {"online", 7}, {"ca", 7},	 {"us", 6},    {"co", 6},  {"me", 6},	  {"cz", 6},	 {"at", 6},	 {"site", 5},
    {"dk", 5},	   {"tv", 4},	 {"co.kr", 4}, {"no", 4},  {"fi", 4},	  {"com.tw", 3}, {"ac.uk", 3},	 {"club", 3},
};
#define NSUFFIX (sizeof(suffixes) / sizeof(suffixes[0]))
static unsigned suffix_cum[NSUFFIX];

static const char *const hostlabels[] = {"www",	 "mail",    "api",    "cdn",   "m",    "static",  "smtp", "vpn",
					 "shop", "blog",    "img",    "login", "app",  "ftp",	  "dev",  "portal",
					 "news", "support", "auth",   "media", "mx",   "webmail", "docs", "status",
					 "beta", "store",   "secure", "cloud", "data", "assets"};
#define NHOSTLABEL (sizeof(hostlabels) / sizeof(hostlabels[0]))
static const char *const cdns[] = {"akamaiedge.net", "cloudfront.net",	   "fastly.net", "edgekey.net",
				   "azureedge.net",  "cdn.cloudflare.net", "b-cdn.net",	 "llnwd.net"};
#define NCDN	     8
#define CDN_CLUSTERS 64
#define CDN_POOL     32
#define SHARED_IPS   4000
#define NPOOLS	     6
#define POOL_SHOWN   8

/* ---- domains ---- */
struct dom {
	char name[48]; /* registered domain, lower case */
	size_t len;
	uint64_t h;	  /* its identity */
	unsigned rank;	  /* 0 = hottest */
	unsigned nhosts;  /* hosts besides the apex */
	unsigned kind;	  /* 0 own addresses, 1 shared hosting, 2 CDN, 3 fast flux, 4 round-robin pool */
	unsigned v6;	  /* has AAAA */
	unsigned poolsz;  /* round-robin pool size */
	unsigned mixcase; /* owners printed in mixed case */
};

static void dom_make(unsigned rank, struct dom *d)
{
	uint64_t h = H(1, rank);
	d->h = h;
	d->rank = rank;
	unsigned len = 3 + (unsigned)(h % 11);
	uint64_t b = H(2, h);
	size_t o = 0;
	for (unsigned i = 0; i < len; i++) {
		if ((i & 7) == 7)
			b = H(3, b);
		unsigned c = (unsigned)(b & 63);
		b >>= 6;
		char ch = (char)('a' + c % 26);
		if (c >= 58 && i > 0 && i + 1 < len)
			ch = c == 63 ? '-' : (char)('0' + c % 10);
		d->name[o++] = ch;
	}
	d->name[o++] = '.';
	unsigned sw = (unsigned)(H(4, h) % 1000);
	if (sw >= suffix_cum[NSUFFIX - 1])
		sw %= suffix_cum[NSUFFIX - 1];
	unsigned si = 0;
	while (suffix_cum[si] <= sw)
		si++;
	size_t sl = strlen(suffixes[si].s);
	memcpy(d->name + o, suffixes[si].s, sl);
	o += sl;
	d->name[o] = '\0';
	d->len = o;
	uint64_t a = H(5, h);
	d->nhosts = rank < 1000 ? 4 + (unsigned)(a % 27) : 1 + (unsigned)(a % 6);
	unsigned k = (unsigned)((a >> 8) % 1000);
	d->kind = k < 5 ? 3 : k < 105 ? 2 : k < 395 ? 1 : 0;
	/* the round-robin pools: a few hot names */
	static const unsigned pool_ranks[NPOOLS] = {3, 11, 29, 70, 160, 400};
	d->poolsz = 0;
	for (unsigned i = 0; i < NPOOLS; i++)
		if (rank == pool_ranks[i]) {
			d->kind = 4;
			d->poolsz = 250 + (unsigned)(H(6, h) % 171);
		}
	d->v6 = ((a >> 20) % 100) < 35;
	d->mixcase = ((a >> 28) % 100) < 2;
}

/* ---- output ---- */
static char *g_out;
static size_t g_on, g_ocap = 1 << 20;
static FILE *g_f;

static void out_flush(void)
{
	if (g_on && fwrite(g_out, 1, g_on, g_f) != g_on) {
		perror("d4-bench-pdns-gen: write");
		exit(1);
	}
	g_on = 0;
}

/* ---- distinct tuples: 64-bit hashes in an open-addressing set ---- */
static uint64_t *g_set;
static size_t g_setmask, g_distinct;
static int g_stats = 1;

static uint64_t hash_bytes(uint64_t h, const char *p, size_t n, int lower)
{
	for (size_t i = 0; i < n; i++) {
		unsigned c = (unsigned char)p[i];
		if (lower && c >= 'A' && c <= 'Z')
			c += 32;
		h = (h ^ c) * 0x100000001b3ull;
	}
	return h;
}

static void set_add(uint64_t h)
{
	if (!h)
		h = 1;
	size_t i = (size_t)mix64(h) & g_setmask;
	while (g_set[i]) {
		if (g_set[i] == h)
			return;
		i = (i + 1) & g_setmask;
	}
	g_set[i] = h;
	g_distinct++;
	if (g_distinct * 2 > g_setmask) { /* grow: keep the load under one half */
		size_t ocap = g_setmask + 1;
		uint64_t *old = g_set;
		g_setmask = ocap * 2 - 1;
		g_set = calloc(ocap * 2, sizeof(*g_set));
		if (!g_set) {
			perror("d4-bench-pdns-gen");
			exit(1);
		}
		for (size_t j = 0; j < ocap; j++)
			if (old[j]) {
				size_t k = (size_t)mix64(old[j]) & g_setmask;
				while (g_set[k])
					k = (k + 1) & g_setmask;
				g_set[k] = old[j];
			}
		free(old);
	}
}

/* ---- one line ---- */
static unsigned long long g_lines, g_target;
static unsigned g_ts = 1700000000, g_tick;
static unsigned long long g_shape[8];

enum { SH_OWN, SH_SHARED, SH_CDN, SH_FLUX, SH_POOL, SH_ZONE, SH_MIXCASE, SH_COUNT };

static void emit(const char *owner, size_t olen, const char *type, const char *rdata, size_t rlen, unsigned ttl,
		 unsigned count, int mixcase, int name_rdata)
{
	if (g_lines >= g_target)
		return;
	if (g_on + olen + rlen + 160 > g_ocap)
		out_flush();
	char *o = g_out + g_on;
	int n = sprintf(o, "%u.%06u||10.%u.%u.%u||10.53.0.%u||IN||", g_ts, (unsigned)(g_lines * 7919u % 1000000u),
			rndn(4), rndn(256), rndn(256), 1 + (unsigned)(g_lines % 3));
	o += n;
	for (size_t i = 0; i < olen; i++) {
		char c = owner[i];
		if (mixcase && c >= 'a' && c <= 'z' && (rnd() & 1))
			c = (char)(c - 32);
		*o++ = c;
	}
	n = sprintf(o, "||%s||", type);
	o += n;
	memcpy(o, rdata, rlen);
	o += rlen;
	n = sprintf(o, "||%u||%u\n", ttl, count);
	o += n;
	g_on = (size_t)(o - g_out);
	if (g_stats) {
		uint64_t h = hash_bytes(0xcbf29ce484222325ull, owner, olen, 1);
		h = hash_bytes(h, "|", 1, 0);
		h = hash_bytes(h, type, strlen(type), 0);
		h = hash_bytes(h, "|", 1, 0);
		set_add(hash_bytes(h, rdata, rlen, name_rdata));
	}
	g_lines++;
	g_shape[SH_MIXCASE] += mixcase != 0;
	g_shape[SH_COUNT] += count > 1;
	if (++g_tick == 250) {
		g_tick = 0;
		g_ts++;
	}
}

static size_t ip4(char *o, uint64_t v)
{
	/* public-looking unicast: first octet 11..223 without 127 */
	unsigned a = 11 + (unsigned)(v % 212);
	if (a == 127)
		a = 128;
	return (size_t)sprintf(o, "%u.%u.%u.%u", a, (unsigned)(v >> 8) & 255, (unsigned)(v >> 16) & 255,
			       1 + (unsigned)((v >> 24) % 254));
}

static size_t ip6(char *o, uint64_t v)
{
	return (size_t)sprintf(o, "2a0%x:%x:%x::%x", (unsigned)(v & 15), (unsigned)(v >> 4) & 0xffff,
			       (unsigned)(v >> 20) & 0xffff, (unsigned)(v >> 36) & 0xffff);
}

/* owner = host label (or apex) + domain */
static size_t owner_of(const struct dom *d, unsigned host, char *o)
{
	if (host == 0) {
		memcpy(o, d->name, d->len);
		o[d->len] = '.';
		o[d->len + 1] = '\0';
		return d->len + 1;
	}
	const char *l = hostlabels[(H(7, d->h) + host) % NHOSTLABEL];
	int n = host <= NHOSTLABEL ? sprintf(o, "%s.%s.", l, d->name) : sprintf(o, "%s%u.%s.", l, host, d->name);
	return (size_t)n;
}

static unsigned hot_count(const struct dom *d)
{
	if (d->rank < 100 && rndn(2) == 0)
		return 2 + rndn(40);
	if (d->rank < 2000 && rndn(4) == 0)
		return 2 + rndn(6);
	return 1;
}

static void response(const struct dom *d)
{
	char owner[160], rd[300], o2[160];
	size_t ol, rl;
	int mc = d->mixcase || rndn(100) < 3;
	unsigned cnt = hot_count(d);
	unsigned u = rndn(100);
	if (d->kind == 4 && u < 80) { /* round-robin pool name */
		ol = owner_of(d, 0, owner);
		for (unsigned i = 0; i < POOL_SHOWN; i++) {
			rl = ip4(rd, H(8, d->h * 1000 + rndn(d->poolsz)));
			emit(owner, ol, "A", rd, rl, 60, cnt, mc, 0);
		}
		g_shape[SH_POOL]++;
		return;
	}
	if (u < 66) { /* address of a host */
		unsigned host = rndn(3) == 0 ? 0 : rndn(d->nhosts + 1);
		int v6 = d->v6 && rndn(100) < 30;
		ol = owner_of(d, host, owner);
		if (d->kind == 3) { /* fast flux: fresh addresses every time */
			unsigned k = 3 + rndn(4);
			for (unsigned i = 0; i < k; i++) {
				rl = ip4(rd, rnd());
				emit(owner, ol, "A", rd, rl, rndn(301), 1, mc, 0);
			}
			g_shape[SH_FLUX]++;
			return;
		}
		if (d->kind == 2 && host != 0) { /* CDN: CNAME to the edge, the edge's rotating pool */
			uint64_t e = H(9, d->h * 64 + host);
			unsigned cdn = (unsigned)(e % NCDN), cl = (unsigned)((e >> 8) % CDN_CLUSTERS);
			rl = (size_t)sprintf(rd, "%s%u-%x.%s.", d->name, host, (unsigned)(e >> 20) & 0xfff, cdns[cdn]);
			emit(owner, ol, "CNAME", rd, rl, 300, cnt, mc, 1);
			memcpy(o2, rd, rl + 1);
			size_t l2 = rl;
			uint64_t slot = (H(10, e) + g_ts / 60 + rndn(2)) % CDN_POOL;
			uint64_t base = H(11, (uint64_t)cdn * CDN_CLUSTERS + cl);
			if (v6)
				rl = ip6(rd, base + slot);
			else
				rl = ip4(rd, (base & ~0xff000000ull) | (slot + 1) << 24);
			emit(o2, l2, v6 ? "AAAA" : "A", rd, rl, 20, cnt, 0, 0);
			g_shape[SH_CDN]++;
			return;
		}
		unsigned k = 1 + (unsigned)(H(12, d->h + host) % 100 < 20);
		for (unsigned i = 0; i < k; i++) {
			if (v6)
				rl = ip6(rd, H(13, d->h * 64 + host * 4 + i));
			else if (d->kind == 1) { /* shared hosting: a few addresses carry most names */
				double x = (double)(H(14, d->h + i) >> 11) / 9007199254740992.0;
				rl = ip4(rd, H(15, (uint64_t)(SHARED_IPS * x * x * x)));
			} else
				rl = ip4(rd, H(16, d->h * 64 + host * 4 + i));
			emit(owner, ol, v6 ? "AAAA" : "A", rd, rl, 3600, cnt, mc, 0);
		}
		g_shape[d->kind == 1 ? SH_SHARED : SH_OWN]++;
		return;
	}
	ol = owner_of(d, 0, owner);
	g_shape[SH_ZONE]++;
	uint64_t p = H(17, d->h);
	if (u < 76) { /* NS set at a DNS provider */
		unsigned k = 2 + (unsigned)(p % 3), prov = (unsigned)((p >> 8) % 60);
		for (unsigned i = 0; i < k; i++) {
			rl = (size_t)sprintf(rd, "ns%u.dnsprov%u.net.", 1 + i, prov);
			emit(owner, ol, "NS", rd, rl, 86400, cnt, mc, 1);
		}
	} else if (u < 84) { /* MX: own or at a mail provider */
		unsigned k = 1 + (unsigned)(p >> 16) % 3;
		for (unsigned i = 0; i < k; i++) {
			if ((p >> 24) % 3)
				rl = (size_t)sprintf(rd, "mx%u.%s.", i + 1, d->name);
			else
				rl = (size_t)sprintf(rd, "mx%u.mailhost%u.com.", i + 1, (unsigned)(p >> 32) % 40);
			emit(owner, ol, "MX", rd, rl, 3600, cnt, mc, 1);
		}
	} else if (u < 92) { /* TXT: SPF and site verifications */
		unsigned k = 1 + (unsigned)(p >> 40) % 4;
		unsigned i = rndn(k);
		if (i == 0)
			rl = (size_t)sprintf(rd, "\"v=spf1 include:_spf.mailhost%u.com ~all\"",
					     (unsigned)(p >> 32) % 40);
		else
			rl = (size_t)sprintf(rd, "\"site-verification=%016llx%08x\"",
					     (unsigned long long)H(18, d->h + i), (unsigned)H(19, i));
		emit(owner, ol, "TXT", rd, rl, 300, cnt, mc, 0);
	} else if (u < 96) { /* SOA */
		rl = (size_t)sprintf(rd, "ns1.dnsprov%u.net. hostmaster.%s. %u 7200 3600 1209600 300",
				     (unsigned)((p >> 8) % 60), d->name, 2023000000u + (unsigned)(p % 100000));
		emit(owner, ol, "SOA", rd, rl, 3600, cnt, mc, 1);
	} else if (u < 98 && (p >> 48) % 10 == 0) { /* SRV */
		static const char *const srv[] = {"_sip._tcp", "_xmpp-server._tcp", "_autodiscover._tcp", "_ldap._tcp"};
		unsigned i = (unsigned)(p >> 52) % 4;
		ol = (size_t)sprintf(owner, "%s.%s.", srv[i], d->name);
		rl = (size_t)sprintf(rd, "10 5 %u %s.%s.", 5060 + i * 100, hostlabels[i], d->name);
		emit(owner, ol, "SRV", rd, rl, 3600, cnt, mc, 1);
	} else { /* www -> apex */
		ol = owner_of(d, 1, owner);
		rl = (size_t)sprintf(rd, "%s.", d->name);
		emit(owner, ol, "CNAME", rd, rl, 3600, cnt, mc, 1);
	}
}

int main(int argc, char **argv)
{
	unsigned long long lines = 1000000, domains = 0;
	double zexp = 1.0;
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-q")) {
			g_stats = 0;
			continue;
		}
		if (i + 1 >= argc)
			goto usage;
		const char *v = argv[++i];
		if (!strcmp(a, "-n"))
			lines = strtoull(v, NULL, 10);
		else if (!strcmp(a, "-s"))
			g_seed = strtoull(v, NULL, 10);
		else if (!strcmp(a, "-d"))
			domains = strtoull(v, NULL, 10);
		else if (!strcmp(a, "-z"))
			zexp = strtod(v, NULL);
		else if (!strcmp(a, "-o"))
			path = v;
		else
			goto usage;
	}
	if (!domains)
		domains = lines / 5 + 1;
	if (lines == 0 || domains > 100000000ull || zexp <= 0)
		goto usage;
	g_f = path ? fopen(path, "wb") : stdout;
	if (!g_f) {
		perror(path);
		return 1;
	}
	for (size_t i = 0, c = 0; i < NSUFFIX; i++) {
		c += suffixes[i].w;
		suffix_cum[i] = (unsigned)c;
	}
	/* Zipf by inversion of the cumulative weights */
	double *cdf = malloc(domains * sizeof(*cdf));
	g_out = malloc(g_ocap);
	g_setmask = (1u << 20) - 1;
	g_set = calloc(g_setmask + 1, sizeof(*g_set));
	if (!cdf || !g_out || !g_set) {
		perror("d4-bench-pdns-gen");
		return 1;
	}
	double acc = 0;
	for (unsigned long long r = 0; r < domains; r++) {
		acc += pow((double)(r + 1), -zexp);
		cdf[r] = acc;
	}
	g_rng = H(0, 0);
	g_target = lines;
	struct dom d;
	while (g_lines < lines) {
		double x = (double)(rnd() >> 11) / 9007199254740992.0 * acc;
		size_t lo = 0, hi = domains - 1;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (cdf[mid] < x)
				lo = mid + 1;
			else
				hi = mid;
		}
		dom_make((unsigned)lo, &d);
		response(&d);
	}
	out_flush();
	if (path && fclose(g_f)) {
		perror(path);
		return 1;
	}
	if (g_stats) {
		fprintf(stderr,
			"lines %llu distinct_tuples %zu distinct_ratio %.4f domains %llu zipf %.2f seed %llu\n"
			"responses: own %llu shared_hosting %llu cdn %llu fast_flux %llu rr_pool %llu zone %llu; "
			"lines mixed_case %llu count_gt1 %llu\n",
			g_lines, g_distinct, (double)g_distinct / (double)g_lines, domains, zexp,
			(unsigned long long)g_seed, g_shape[SH_OWN], g_shape[SH_SHARED], g_shape[SH_CDN],
			g_shape[SH_FLUX], g_shape[SH_POOL], g_shape[SH_ZONE], g_shape[SH_MIXCASE], g_shape[SH_COUNT]);
	}
	free(cdf);
	free(g_out);
	free(g_set);
	return 0;
usage:
	fprintf(stderr, "usage: d4-bench-pdns-gen [-n LINES] [-s SEED] [-d DOMAINS] [-z EXPONENT] [-o FILE] [-q]\n");
	return 2;
}
