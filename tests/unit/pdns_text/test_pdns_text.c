/* Unit tests of the text side of analyzers/pdns: rrtype table, canonical
 * names/rdata, passivedns CSV (fixtures in tests/data/dns), COF parse/write. */
#include "d4_error.h"
#include "d4_pdns.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- observation collector ---- */

#define MAXOBS 256

struct cobs {
	char *rrname, *rdata, *bailiwick, *sensor;
	uint16_t rrtype, rrclass;
	size_t rdata_len;
	uint64_t tf, tl, count;
	uint32_t ttl;
};

struct coll {
	struct cobs o[MAXOBS];
	size_t n;
	int stop_at; /* return D4_EFULL on this call (1-based), 0 = never */
};

static char *dup_or_null(const char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	ck_assert_ptr_nonnull(d);
	return d;
}

static int collect(void *arg, const struct d4_pdns_obs *obs)
{
	struct coll *c = arg;
	ck_assert_uint_lt(c->n, MAXOBS);
	ck_assert_ptr_nonnull(obs->rrname);
	ck_assert_ptr_nonnull(obs->rdata);
	ck_assert_uint_eq(strlen(obs->rdata), obs->rdata_len);
	ck_assert_uint_ge(obs->count, 1);
	ck_assert_uint_le(obs->time_first, obs->time_last);
	struct cobs *o = &c->o[c->n++];
	o->rrname = dup_or_null(obs->rrname);
	o->rdata = dup_or_null(obs->rdata);
	o->bailiwick = dup_or_null(obs->bailiwick);
	o->sensor = dup_or_null(obs->sensor_id);
	o->rrtype = obs->rrtype;
	o->rrclass = obs->rrclass;
	o->rdata_len = obs->rdata_len;
	o->tf = obs->time_first;
	o->tl = obs->time_last;
	o->count = obs->count;
	o->ttl = obs->ttl;
	if (c->stop_at && (int)c->n == c->stop_at)
		return D4_EFULL;
	return 0;
}

static void coll_free(struct coll *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->o[i].rrname);
		free(c->o[i].rdata);
		free(c->o[i].bailiwick);
		free(c->o[i].sensor);
	}
	c->n = 0;
}

static char *read_fixture(const char *name, size_t *len)
{
	const char *dir = getenv("D4_TEST_DATA");
	char path[4096];
	snprintf(path, sizeof(path), "%s/dns/%s", dir ? dir : "tests/data", name);
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

/* Feeds every line of a fixture; returns the number of lines. */
static size_t csv_file(const char *name, const struct d4_pdns_csv_spec *spec, struct coll *c, struct d4_pdns_stats *st)
{
	size_t len, lines = 0;
	char *buf = read_fixture(name, &len);
	char *p = buf, *end = buf + len;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		int rc = d4_pdns_csv_line(spec, p, n, collect, c, st);
		ck_assert_msg(rc == 0, "%s line %zu: %d", name, lines + 1, rc);
		lines++;
		p += n + 1;
	}
	free(buf);
	return lines;
}

static int csv1(const char *line, struct coll *c, struct d4_pdns_stats *st)
{
	struct d4_pdns_csv_spec spec;
	ck_assert_int_eq(d4_pdns_csv_spec_parse(NULL, NULL, &spec), 0);
	return d4_pdns_csv_line(&spec, line, strlen(line), collect, c, st);
}

/* ---- rrtype table ---- */

START_TEST(test_type_roundtrip)
{
	char buf[16];
	unsigned named = 0;
	for (uint32_t t = 0; t <= 65535; t++) {
		const char *s = d4_pdns_type_name((uint16_t)t, buf, sizeof(buf));
		if (strncmp(s, "TYPE", 4) != 0)
			named++;
		uint16_t back = 0;
		ck_assert_int_eq(d4_pdns_type_parse(s, strlen(s), &back), 0);
		ck_assert_uint_eq(back, t);
		snprintf(buf, sizeof(buf), "TYPE%u", t);
		ck_assert_int_eq(d4_pdns_type_parse(buf, strlen(buf), &back), 0);
		ck_assert_uint_eq(back, t);
		snprintf(buf, sizeof(buf), "%u", t);
		ck_assert_int_eq(d4_pdns_type_parse(buf, strlen(buf), &back), 0);
		ck_assert_uint_eq(back, t);
	}
	ck_assert_uint_gt(named, 90);
	struct {
		uint16_t t;
		const char *n;
	} known[] = {{1, "A"},	   {28, "AAAA"},     {64, "SVCB"},   {65, "HTTPS"},	 {256, "URI"},
		     {257, "CAA"}, {23, "NSAP-PTR"}, {52, "TLSA"},   {51, "NSEC3PARAM"}, {99, "SPF"},
		     {255, "ANY"}, {32769, "DLV"},   {108, "EUI48"}, {63, "ZONEMD"},	 {61, "OPENPGPKEY"}};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		ck_assert_str_eq(d4_pdns_type_name(known[i].t, buf, sizeof(buf)), known[i].n);
	ck_assert_str_eq(d4_pdns_type_name(54, buf, sizeof(buf)), "TYPE54");
	ck_assert_str_eq(d4_pdns_type_name(65535, buf, sizeof(buf)), "TYPE65535");
	uint16_t v;
	const char *ok[] = {"https", "Https", "cname", "type65", "*", "nsap-ptr", "00065"};
	const uint16_t okv[] = {65, 65, 5, 65, 255, 23, 65};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_int_eq(d4_pdns_type_parse(ok[i], strlen(ok[i]), &v), 0);
		ck_assert_uint_eq(v, okv[i]);
	}
	const char *bad[] = {"",   "TYPE",   "TYPE65536", "65536",  "FOO", "A1",     "-1",  " A",
			     "A ", "TYPE-1", "TYPEA",	  "999999", "+5",  "CNAMEX", "HTTP"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(d4_pdns_type_parse(bad[i], strlen(bad[i]), &v) == D4_EINVAL, "%s", bad[i]);
	/* Only n bytes are read. */
	ck_assert_int_eq(d4_pdns_type_parse("MXZZ", 2, &v), 0);
	ck_assert_uint_eq(v, 15);
}
END_TEST

/* ---- canonical names and rdata ---- */

START_TEST(test_name_canon)
{
	char out[D4_PDNS_NAME_MAX];
	struct {
		const char *in, *want;
	} ok[] = {
	    {"WWW.Example.COM", "www.example.com."},
	    {"www.example.com.", "www.example.com."},
	    {".", "."},
	    {"a\\.B.", "a\\.b."},
	    {"\\065bc", "abc."},
	    {"\\Xy", "xy."},
	    {"a\\032b", "a\\032b."},
	    {"a b", "a\\032b."},
	    {"\xc3\xa9t\xe9.fr", "\\195\\169t\\233.fr."},
	    {"x\\\\y", "x\\\\y."},
	    {"q\"(@$;).", "q\\\"\\(\\@\\$\\;\\)."},
	    {"_sip._TCP.example.test.", "_sip._tcp.example.test."},
	    {"*.Example.", "*.example."},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int n = d4_pdns_name_canon(ok[i].in, strlen(ok[i].in), out, sizeof(out));
		ck_assert_msg(n >= 0, "%s: %d", ok[i].in, n);
		ck_assert_str_eq(out, ok[i].want);
		ck_assert_uint_eq((size_t)n, strlen(ok[i].want));
		/* Idempotent. */
		char again[D4_PDNS_NAME_MAX];
		ck_assert_int_eq(d4_pdns_name_canon(out, (size_t)n, again, sizeof(again)), n);
		ck_assert_str_eq(again, out);
	}
	char l63[64], l64[65], big[400];
	memset(l63, 'a', 63);
	l63[63] = '\0';
	memset(l64, 'a', 64);
	l64[64] = '\0';
	ck_assert_int_eq(d4_pdns_name_canon(l63, 63, out, sizeof(out)), 64);
	/* 4 labels of 63 = 256 octets of wire form with the root: over 255. */
	snprintf(big, sizeof(big), "%s.%s.%s.%s", l63, l63, l63, l63);
	ck_assert_int_eq(d4_pdns_name_canon(big, strlen(big), out, sizeof(out)), D4_EINVAL);
	snprintf(big, sizeof(big), "%s.%s.%s.%.61s", l63, l63, l63, l63); /* 255: fits */
	ck_assert_int_eq(d4_pdns_name_canon(big, strlen(big), out, sizeof(out)), (int)strlen(big) + 1);
	const char *bad[] = {"", "a..b", ".a", "..", "a\\", "a\\25", "a\\256", "a\\2x5", l64};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(d4_pdns_name_canon(bad[i], strlen(bad[i]), out, sizeof(out)) == D4_EINVAL, "%s", bad[i]);
	/* Worst case expansion fits D4_PDNS_NAME_MAX; a small cap is reported. */
	char raw[260];
	size_t k = 0;
	for (int lab = 0; lab < 4; lab++) {
		for (int j = 0; j < (lab < 3 ? 63 : 61); j++)
			raw[k++] = (char)0xff;
		if (lab < 3)
			raw[k++] = '.';
	}
	ck_assert_int_gt(d4_pdns_name_canon(raw, k, out, sizeof(out)), 1000);
	ck_assert_int_eq(d4_pdns_name_canon("abc", 3, out, 4), D4_ETOOBIG);
	ck_assert_int_eq(d4_pdns_name_canon("abc", 3, out, 5), 4);
}
END_TEST

START_TEST(test_rdata_canon)
{
	char out[256];
	ck_assert_int_eq(d4_pdns_rdata_canon(5, "WEB.Example.", 12, out, sizeof(out)), 12);
	ck_assert_str_eq(out, "web.example.");
	ck_assert_int_eq(d4_pdns_rdata_canon(28, "2001:DB8::A", 11, out, sizeof(out)), 11);
	ck_assert_str_eq(out, "2001:db8::a");
	ck_assert_int_eq(d4_pdns_rdata_canon(16, "\"Hello World\"", 13, out, sizeof(out)), 13);
	ck_assert_str_eq(out, "\"Hello World\"");
	ck_assert_int_eq(d4_pdns_rdata_canon(5, "\\# 2 ABCD", 9, out, sizeof(out)), 9);
	ck_assert_str_eq(out, "\\# 2 ABCD");
	/* generic hex from any producer ends up upper-case, like the DNS parser's */
	ck_assert_int_eq(d4_pdns_rdata_canon(65, "\\# 3 0a0bFf", 11, out, sizeof(out)), 11);
	ck_assert_str_eq(out, "\\# 3 0A0BFF");
	ck_assert_int_eq(d4_pdns_rdata_canon(16, "\"a\tb\xff\"", 6, out, sizeof(out)), 12);
	ck_assert_str_eq(out, "\"a\\009b\\255\"");
	ck_assert_int_eq(d4_pdns_rdata_canon(16, "abc", 3, out, 3), D4_ETOOBIG);
}
END_TEST

/* ---- CSV ---- */

START_TEST(test_csv_spec)
{
	struct d4_pdns_csv_spec s;
	ck_assert_int_eq(d4_pdns_csv_spec_parse(NULL, NULL, &s), 0);
	ck_assert_str_eq(s.fields, "ScsCQTAtn");
	ck_assert_uint_eq(s.nfields, 9);
	ck_assert_str_eq(s.sep, "||");
	ck_assert_uint_eq(s.seplen, 2);
	ck_assert_int_eq(d4_pdns_csv_spec_parse("SMcsCQTAtn", "||", &s), 0);
	ck_assert_str_eq(s.fields, "ScsCQTAtn");
	/* passivedns prints a fixed order: letter order does not matter. */
	ck_assert_int_eq(d4_pdns_csv_spec_parse("nAtTQCscMS", "", &s), 0);
	ck_assert_str_eq(s.fields, "ScsCQTAtn");
	ck_assert_int_eq(d4_pdns_csv_spec_parse("HhpQTAtn", NULL, &s), 0);
	ck_assert_str_eq(s.fields, "HhpQTAtn");
	ck_assert_uint_eq(s.nfields, 8);
	ck_assert_int_eq(d4_pdns_csv_spec_parse("HSMhcwsWpCQLTAltn", ",", &s), 0);
	ck_assert_str_eq(s.fields, "HhcwsWpCQLTAltn");
	ck_assert_str_eq(s.sep, ",");
	const char *bad[] = {"X", "QTAtn", "SQT", "SQA", "STA", "MQTA", "SQTAx", "SQTA "};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(d4_pdns_csv_spec_parse(bad[i], NULL, &s) == D4_EINVAL, "%s", bad[i]);
	ck_assert_int_eq(d4_pdns_csv_spec_parse(NULL, "12345678", &s), D4_EINVAL);
	ck_assert_int_eq(d4_pdns_csv_spec_parse(NULL, "|\n", &s), D4_EINVAL);
}
END_TEST

START_TEST(test_csv_default_file)
{
	struct d4_pdns_csv_spec spec;
	ck_assert_int_eq(d4_pdns_csv_spec_parse(NULL, NULL, &spec), 0);
	struct coll *c = calloc(1, sizeof(*c));
	struct d4_pdns_stats st = {0};
	size_t lines = csv_file("local-dns.passivedns-default.csv", &spec, c, &st);
	ck_assert_uint_eq(lines, 9);
	ck_assert_uint_eq(c->n, 9);
	ck_assert_uint_eq(st.records, 9);
	ck_assert_uint_eq(st.bad_lines, 0);
	ck_assert_str_eq(c->o[0].rrname, "example.test.");
	ck_assert_uint_eq(c->o[0].rrtype, 1);
	ck_assert_uint_eq(c->o[0].rrclass, 1);
	ck_assert_str_eq(c->o[0].rdata, "192.0.2.10");
	ck_assert_uint_eq(c->o[0].tf, 1795618268);
	ck_assert_uint_eq(c->o[0].tl, 1795618268);
	ck_assert_uint_eq(c->o[0].ttl, 3600);
	ck_assert_uint_eq(c->o[0].count, 1);
	ck_assert_ptr_null(c->o[0].sensor);
	ck_assert_ptr_null(c->o[0].bailiwick);
	ck_assert_uint_eq(c->o[1].rrtype, 28);
	ck_assert_str_eq(c->o[1].rdata, "2001:db8::10");
	ck_assert_uint_eq(c->o[2].rrtype, 5);
	ck_assert_str_eq(c->o[5].rrname, "_sip._tcp.example.test.");
	ck_assert_uint_eq(c->o[5].rrtype, 33);
	ck_assert_str_eq(c->o[6].rdata, "192.0.2.81");
	ck_assert_uint_eq(c->o[6].count, 2);
	ck_assert_uint_eq(c->o[6].tf, 1795618269);
	/* Summed count of web.example.test. A 192.0.2.80, as consumers aggregate. */
	uint64_t sum = 0;
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->o[i].rrname, "web.example.test.") && !strcmp(c->o[i].rdata, "192.0.2.80"))
			sum += c->o[i].count;
	ck_assert_uint_eq(sum, 3);
	coll_free(c);

	/* The other fixtures of the default layout parse without a bad line. */
	const char *more[] = {"local-dns.passivedns-alltypes.csv", "dpkt-dns_icmp.passivedns.csv",
			      "dpkt-http.passivedns.csv"};
	const size_t nlines[] = {14, 5, 4};
	for (size_t i = 0; i < 3; i++) {
		memset(&st, 0, sizeof(st));
		ck_assert_uint_eq(csv_file(more[i], &spec, c, &st), nlines[i]);
		ck_assert_uint_eq(st.records, nlines[i]);
		ck_assert_uint_eq(st.bad_lines, 0);
		if (i == 0) {
			ck_assert_str_eq(c->o[3].rdata, "\"v=spf1 -all\"");
			ck_assert_uint_eq(c->o[3].rrtype, 16);
			ck_assert_uint_eq(c->o[10].rdata_len, 122);
		}
		if (i == 1) /* names inside PTR rdata are lower-cased */
			ck_assert_str_eq(c->o[2].rdata, "b.resolvers.level3.net.");
		coll_free(c);
	}

	/* NXDOMAIN lines (passivedns -X) emit nothing and are not bad. */
	memset(&st, 0, sizeof(st));
	ck_assert_uint_eq(csv_file("local-dns.passivedns-nxdomain.csv", &spec, c, &st), 1);
	ck_assert_uint_eq(c->n, 0);
	ck_assert_uint_eq(st.records, 0);
	ck_assert_uint_eq(st.bad_lines, 0);
	ck_assert_uint_eq(st.not_dns, 1);
	free(c);
}
END_TEST

static int find_tuple(struct coll *c, const char *name, uint16_t type, const char *rdata)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->o[i].rrname, name) && c->o[i].rrtype == type && !strcmp(c->o[i].rdata, rdata))
			return (int)i;
	return -1;
}

/* The -X 4T -f HhpQTAtn capture of the same traffic: A and TXT only (passivedns
 * then also files the A answers of the CNAME chain under the query name
 * www.example.test.). Its tuples must be the alltypes file's A/TXT tuples
 * plus those, with the same times read from the H column as UTC. */
START_TEST(test_csv_custom_layout)
{
	struct d4_pdns_csv_spec def, cus;
	ck_assert_int_eq(d4_pdns_csv_spec_parse(NULL, NULL, &def), 0);
	ck_assert_int_eq(d4_pdns_csv_spec_parse("HhpQTAtn", "||", &cus), 0);
	struct coll *a = calloc(1, sizeof(*a)), *x = calloc(1, sizeof(*x));
	struct d4_pdns_stats st = {0};
	csv_file("local-dns.passivedns-alltypes.csv", &def, a, &st);
	memset(&st, 0, sizeof(st));
	ck_assert_uint_eq(csv_file("local-dns.passivedns-X4T-fHhpQTAtn.csv", &cus, x, &st), 9);
	ck_assert_uint_eq(st.bad_lines, 0);
	ck_assert_uint_eq(x->n, 9);
	for (size_t i = 0; i < x->n; i++) {
		ck_assert_str_eq(x->o[i].sensor, "sensor1");
		ck_assert_uint_eq(x->o[i].ttl, 3600);
	}
	/* Every A/TXT tuple of the full capture is in the custom one... */
	size_t both = 0;
	for (size_t i = 0; i < a->n; i++) {
		if (a->o[i].rrtype != 1 && a->o[i].rrtype != 16)
			continue;
		int j = find_tuple(x, a->o[i].rrname, a->o[i].rrtype, a->o[i].rdata);
		ck_assert_msg(j >= 0, "missing %s %s", a->o[i].rrname, a->o[i].rdata);
		both++;
	}
	ck_assert_uint_eq(both, 7);
	/* ...and the custom one has nothing else but the flattened chain. */
	for (size_t i = 0; i < x->n; i++) {
		if (!strcmp(x->o[i].rrname, "www.example.test."))
			continue;
		ck_assert_int_ge(find_tuple(a, x->o[i].rrname, x->o[i].rrtype, x->o[i].rdata), 0);
	}
	/* Times: H (UTC) equals S of the same packets. */
	int ia = find_tuple(a, "example.test.", 1, "192.0.2.10"), ix = find_tuple(x, "example.test.", 1, "192.0.2.10");
	ck_assert_uint_eq(a->o[ia].tf, x->o[ix].tf);
	ia = find_tuple(a, "example.test.", 16, "\"v=spf1 -all\"");
	ix = find_tuple(x, "example.test.", 16, "\"v=spf1 -all\"");
	ck_assert_uint_eq(a->o[ia].tf, x->o[ix].tf);
	ck_assert_uint_eq(x->o[ix].tf, 1795618268);
	ia = find_tuple(a, "big.example.test.", 16, a->o[10].rdata);
	ix = find_tuple(x, "big.example.test.", 16, a->o[10].rdata);
	ck_assert_int_ge(ix, 0);
	ck_assert_uint_eq(a->o[ia].tf, x->o[ix].tf);
	ck_assert_uint_eq(x->o[ix].tf, 1795618269);
	coll_free(a);
	coll_free(x);
	free(a);
	free(x);
}
END_TEST

START_TEST(test_csv_types_and_text)
{
	struct coll *c = calloc(1, sizeof(*c));
	struct d4_pdns_stats st = {0};
	ck_assert_int_eq(
	    csv1("1700000000.000001||10.0.0.1||10.0.0.2||IN||Svc.Example.||TYPE65||\\# 3 0A0B0C||300||5", c, &st), 0);
	ck_assert_uint_eq(c->n, 1);
	ck_assert_str_eq(c->o[0].rrname, "svc.example.");
	ck_assert_uint_eq(c->o[0].rrtype, 65);
	ck_assert_str_eq(c->o[0].rdata, "\\# 3 0A0B0C");
	ck_assert_uint_eq(c->o[0].count, 5);
	ck_assert_uint_eq(c->o[0].tf, 1700000000);
	/* Numeric type (what passivedns prints for types it has no name for), mnemonic, no fraction. */
	ck_assert_int_eq(csv1("1700000001||c||s||IN||svc.example||65||1 . alpn=h2||300||1", c, &st), 0);
	ck_assert_uint_eq(c->o[1].rrtype, 65);
	ck_assert_str_eq(c->o[1].rrname, "svc.example.");
	ck_assert_str_eq(c->o[1].rdata, "1 . alpn=h2");
	ck_assert_int_eq(csv1("1700000002.5||c||s||in||a.example.||https||1 . alpn=h2||300||1", c, &st), 0);
	ck_assert_uint_eq(c->o[2].rrtype, 65);
	ck_assert_int_eq(csv1("1700000003.000000||c||s||IN||a.example.||TYPE4660||\\# 0||0||1", c, &st), 0);
	ck_assert_uint_eq(c->o[3].rrtype, 4660);
	ck_assert_str_eq(c->o[3].rdata, "\\# 0");
	/* TXT verbatim: case kept, separator inside the answer, CRLF. */
	ck_assert_int_eq(csv1("1700000004.1||c||s||IN||T.Example.||TXT||\"Hello||World\" \"X\"||60||7\r", c, &st), 0);
	ck_assert_str_eq(c->o[4].rdata, "\"Hello||World\" \"X\"");
	ck_assert_str_eq(c->o[4].rrname, "t.example.");
	ck_assert_uint_eq(c->o[4].ttl, 60);
	ck_assert_uint_eq(c->o[4].count, 7);
	/* Root and big numbers. */
	ck_assert_int_eq(
	    csv1("4102444800||c||s||IN||.||NS||A.ROOT-SERVERS.NET.||4294967295||18446744073709551615", c, &st), 0);
	ck_assert_str_eq(c->o[5].rrname, ".");
	ck_assert_str_eq(c->o[5].rdata, "a.root-servers.net.");
	ck_assert_uint_eq(c->o[5].ttl, 4294967295u);
	ck_assert_uint_eq(c->o[5].count, UINT64_MAX);
	/* Classes other than IN: nothing, not bad. */
	ck_assert_int_eq(csv1("1700000000||c||s||CH||version.bind.||TXT||\"x\"||0||1", c, &st), 0);
	ck_assert_int_eq(csv1("1700000000||c||s||CLASS3||version.bind.||TXT||\"x\"||0||1", c, &st), 0);
	ck_assert_int_eq(csv1("1700000000||c||s||CLASS1||x.example.||A||192.0.2.1||0||1", c, &st), 0);
	ck_assert_uint_eq(c->n, 7);
	ck_assert_uint_eq(st.not_dns, 2);
	ck_assert_uint_eq(st.bad_lines, 0);
	ck_assert_uint_eq(st.records, 7);
	/* Other error answers of passivedns -X. */
	ck_assert_int_eq(csv1("1700000000||c||s||IN||x.example.||1||SERVFAIL||0||1", c, &st), 0);
	ck_assert_int_eq(csv1("1700000000||c||s||IN||x.example.||1||UNKNOWN-ERROR-11||0||1", c, &st), 0);
	ck_assert_uint_eq(st.not_dns, 4);
	ck_assert_uint_eq(c->n, 7);
	/* Layout without count: count 1; custom separator; H with no fraction. */
	struct d4_pdns_csv_spec sp;
	ck_assert_int_eq(d4_pdns_csv_spec_parse("HQTA", "\t", &sp), 0);
	const char *l = "2000-02-29 23:59:59\tX.example.\tMX\t10 MAIL.example.";
	ck_assert_int_eq(d4_pdns_csv_line(&sp, l, strlen(l), collect, c, &st), 0);
	ck_assert_uint_eq(c->o[7].count, 1);
	ck_assert_uint_eq(c->o[7].tf, 951868799);
	ck_assert_str_eq(c->o[7].rdata, "10 mail.example.");
	/* Callback error stops and is returned. */
	c->stop_at = (int)c->n + 1;
	ck_assert_int_eq(csv1("1700000000||c||s||IN||x.example.||A||192.0.2.1||0||1", c, &st), D4_EFULL);
	/* Empty line: nothing, not bad. */
	ck_assert_int_eq(csv1("", c, &st), 0);
	ck_assert_uint_eq(st.bad_lines, 0);
	coll_free(c);
	free(c);
}
END_TEST

START_TEST(test_csv_bad_lines)
{
	const char *bad[] = {
	    "1700000000||c||s||IN||x.example.||A||192.0.2.1||0",		       /* one column short */
	    "1700000000||c||s||IN||x.example.||A",				       /* several short */
	    "garbage",								       /* no separator */
	    "abc||c||s||IN||x.example.||A||192.0.2.1||0||1",			       /* time */
	    "1700000000.||c||s||IN||x.example.||A||192.0.2.1||0||1",		       /* time fraction empty */
	    "1700000000.1234567890||c||s||IN||x.example.||A||192.0.2.1||0||1",	       /* fraction too long */
	    "-1||c||s||IN||x.example.||A||192.0.2.1||0||1",			       /* negative time */
	    "99999999999999999999999||c||s||IN||x.example.||A||1.2.3.4||0||1",	       /* huge time */
	    "||c||s||IN||x.example.||A||192.0.2.1||0||1",			       /* empty time */
	    "1700000000||c||s||XX||x.example.||A||192.0.2.1||0||1",		       /* class */
	    "1700000000||c||s||CLASS99999||x.example.||A||1.2.3.4||0||1",	       /* class number */
	    "1700000000||c||s||IN||x.example.||FOO||192.0.2.1||0||1",		       /* type */
	    "1700000000||c||s||IN||x.example.||TYPE70000||1.2.3.4||0||1",	       /* type number */
	    "1700000000||c||s||IN||x.example.||A||192.0.2.1||-1||1",		       /* ttl */
	    "1700000000||c||s||IN||x.example.||A||192.0.2.1||4294967296||1",	       /* ttl range */
	    "1700000000||c||s||IN||x.example.||A||192.0.2.1||0||0",		       /* count 0 */
	    "1700000000||c||s||IN||x.example.||A||192.0.2.1||0||x",		       /* count */
	    "1700000000||c||s||IN||x.example.||A||192.0.2.1||0||18446744073709551616", /* count range */
	    "1700000000||c||s||IN||x.example.||A||||0||1",			       /* empty answer */
	    "1700000000||c||s||IN||||A||192.0.2.1||0||1",			       /* empty name */
	    "1700000000||c||s||IN||a..example.||A||192.0.2.1||0||1",		       /* empty label */
	    "1700000000||c||s||IN||a\\||A||192.0.2.1||0||1",			       /* dangling escape */
	    "1700000000||c||s||IN||aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x.||A||1.2.3.4||0|"
	    "|1",
	};
	struct coll *c = calloc(1, sizeof(*c));
	struct d4_pdns_stats st = {0};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(csv1(bad[i], c, &st) == D4_EINVAL, "accepted: %s", bad[i]);
		ck_assert_uint_eq(st.bad_lines, i + 1);
	}
	size_t nb = sizeof(bad) / sizeof(bad[0]);
	/* An embedded NUL. */
	const char nul[] = "1700000000||c||s||IN||x.example.||A||192.0.2\0.1||0||1";
	struct d4_pdns_csv_spec def;
	ck_assert_int_eq(d4_pdns_csv_spec_parse(NULL, NULL, &def), 0);
	ck_assert_int_eq(d4_pdns_csv_line(&def, nul, sizeof(nul) - 1, collect, c, &st), D4_EINVAL);
	/* H column: bad dates and forms. */
	struct d4_pdns_csv_spec h;
	ck_assert_int_eq(d4_pdns_csv_spec_parse("HhQTA", NULL, &h), 0);
	const char *badh[] = {
	    "2026-13-01 00:00:00||h||x.||A||1.2.3.4", "2026-02-29 00:00:00||h||x.||A||1.2.3.4",
	    "1900-02-28 00:00:00||h||x.||A||1.2.3.4", "2026-01-01 24:00:00||h||x.||A||1.2.3.4",
	    "2026-01-01T00:00:00||h||x.||A||1.2.3.4", "2026-01-01 00:00:00.||h||x.||A||1.2.3.4",
	    "2026-1-01 00:00:00||h||x.||A||1.2.3.4",  "1700000000||h||x.||A||1.2.3.4",
	    "2026-01-01 00:00:00||||x.||A||1.2.3.4", /* empty host name */
	};
	for (size_t i = 0; i < sizeof(badh) / sizeof(badh[0]); i++)
		ck_assert_msg(d4_pdns_csv_line(&h, badh[i], strlen(badh[i]), collect, c, &st) == D4_EINVAL, "%s",
			      badh[i]);
	ck_assert_uint_eq(st.bad_lines, nb + 1 + sizeof(badh) / sizeof(badh[0]));
	ck_assert_uint_eq(c->n, 0);
	ck_assert_uint_eq(st.records, 0);
	/* A NULL stats pointer is allowed. */
	ck_assert_int_eq(d4_pdns_csv_line(&def, "x", 1, collect, c, NULL), D4_EINVAL);
	free(c);
}
END_TEST

/* ---- COF ---- */

static int cof1(const char *line, struct coll *c, struct d4_pdns_stats *st)
{
	return d4_pdns_cof_line(line, strlen(line), collect, c, st);
}

START_TEST(test_cof_parse)
{
	struct coll *c = calloc(1, sizeof(*c));
	struct d4_pdns_stats st = {0};
	ck_assert_int_eq(
	    cof1("{\"rrname\":\"WWW.Example.COM\",\"rrtype\":\"A\",\"rdata\":[\"192.0.2.1\",\"192.0.2.2\"],"
		 "\"time_first\":1700000000,\"time_last\":1700000100,\"count\":42,\"x\":{\"y\":[1,{}]},"
		 "\"bailiwick\":\"example.com\",\"sensor_id\":\"s\\u00e9nsor\"}",
		 c, &st),
	    0);
	ck_assert_uint_eq(c->n, 2);
	ck_assert_str_eq(c->o[0].rrname, "www.example.com.");
	ck_assert_str_eq(c->o[0].rdata, "192.0.2.1");
	ck_assert_str_eq(c->o[1].rdata, "192.0.2.2");
	ck_assert_uint_eq(c->o[1].tf, 1700000000);
	ck_assert_uint_eq(c->o[1].tl, 1700000100);
	ck_assert_uint_eq(c->o[1].count, 42);
	ck_assert_str_eq(c->o[1].bailiwick, "example.com.");
	ck_assert_str_eq(c->o[1].sensor, "s\xc3\xa9nsor");
	ck_assert_uint_eq(st.records, 2);
	/* rrtype as number, count absent -> 1, null optional fields, float times truncated,
	 * rdata canonicalised for the type once it is known (rrtype after rdata). */
	ck_assert_int_eq(cof1("{\"rdata\":\"Web.Example.\",\"rrtype\":5,\"rrname\":\"a.\",\"time_first\":1.5,"
			      "\"time_last\":2.0,\"count\":null,\"bailiwick\":null}",
			      c, &st),
			 0);
	ck_assert_uint_eq(c->o[2].rrtype, 5);
	ck_assert_str_eq(c->o[2].rdata, "web.example.");
	ck_assert_uint_eq(c->o[2].count, 1);
	ck_assert_uint_eq(c->o[2].tf, 1);
	ck_assert_uint_eq(c->o[2].tl, 2);
	ck_assert_ptr_null(c->o[2].bailiwick);
	ck_assert_ptr_null(c->o[2].sensor);
	ck_assert_int_eq(cof1("{\"rrname\":\"h.\",\"rrtype\":\"TYPE65\",\"rdata\":\"\\\\# 1 00\",\"time_first\":0,"
			      "\"time_last\":0}",
			      c, &st),
			 0);
	ck_assert_uint_eq(c->o[3].rrtype, 65);
	ck_assert_str_eq(c->o[3].rdata, "\\# 1 00");
	/* JSON control escapes and raw UTF-8 become \DDD. */
	ck_assert_int_eq(cof1("{\"rrname\":\"t.\",\"rrtype\":\"TXT\",\"rdata\":\"\\\"a\\tb\\u0000\xc3\xa9\\\"\","
			      "\"time_first\":1,\"time_last\":1}",
			      c, &st),
			 0);
	ck_assert_str_eq(c->o[4].rdata, "\"a\\009b\\000\\195\\169\"");
	ck_assert_int_eq(cof1("   \r\n", c, &st), 0); /* blank: nothing */
	ck_assert_uint_eq(c->n, 5);
	ck_assert_uint_eq(st.bad_lines, 0);

	const char *bad[] = {
	    "{",
	    "[]",
	    "\"x\"",
	    "{}",
	    "{\"rrname\":\"a.\",\"rrtype\":\"A\",\"rdata\":\"1.2.3.4\",\"time_first\":1}", /* no time_last */
	    "{\"rrtype\":\"A\",\"rdata\":\"1.2.3.4\",\"time_first\":1,\"time_last\":1}",   /* no rrname */
	    "{\"rrname\":\"a.\",\"rdata\":\"1.2.3.4\",\"time_first\":1,\"time_last\":1}",  /* no rrtype */
	    "{\"rrname\":\"a.\",\"rrtype\":\"A\",\"time_first\":1,\"time_last\":1}",	   /* no rdata */
	    "{\"rrname\":\"a.\",\"rrtype\":\"A\",\"rdata\":\"1.2.3.4\",\"time_first\":2,\"time_last\":1}",
	    "{\"rrname\":\"a.\",\"rrtype\":\"A\",\"rdata\":\"1.2.3.4\",\"time_first\":1,\"time_last\":1,\"count\":0}",
	    "{\"rrname\":\"a.\",\"rrtype\":\"A\",\"rdata\":\"1.2.3.4\",\"time_first\":-1,\"time_last\":1}",
	    "{\"rrname\":\"a.\",\"rrtype\":\"A\",\"rdata\":\"1.2.3.4\",\"time_first\":1e3,\"time_last\":1}",
	    "{\"rrname\":\"a.\",\"rrtype\":\"A\",\"rdata\":\"1.2.3.4\",\"time_first\":\"1\",\"time_last\":1}",
	    "{\"rrname\":\"a.\",\"rrtype\":\"BOGUS\",\"rdata\":\"1.2.3.4\",\"time_first\":1,\"time_last\":1}",
	    "{\"rrname\":\"a.\",\"rrtype\":70000,\"rdata\":\"1.2.3.4\",\"time_first\":1,\"time_last\":1}",
	    "{\"rrname\":\"a..\",\"rrtype\":\"A\",\"rdata\":\"1.2.3.4\",\"time_first\":1,\"time_last\":1}",
	    "{\"rrname\":\"a.\",\"rrtype\":\"A\",\"rdata\":[],\"time_first\":1,\"time_last\":1}",
	    "{\"rrname\":\"a.\",\"rrtype\":\"A\",\"rdata\":[\"1.2.3.4\",5],\"time_first\":1,\"time_last\":1}",
	    "{\"rrname\":\"a.\",\"rrtype\":\"A\",\"rdata\":[[\"x\"]],\"time_first\":1,\"time_last\":1}",
	    "{\"rrname\":\"a.\",\"rrtype\":\"A\",\"rdata\":\"\",\"time_first\":1,\"time_last\":1}",
	    "{\"rrname\":\"a.\",\"rrname\":\"b.\",\"rrtype\":\"A\",\"rdata\":\"1\",\"time_first\":1,\"time_last\":1}",
	    "{\"rrname\":1,\"rrtype\":\"A\",\"rdata\":\"1.2.3.4\",\"time_first\":1,\"time_last\":1}",
	    "{\"rrname\":\"a.\",\"rrtype\":true,\"rdata\":\"1.2.3.4\",\"time_first\":1,\"time_last\":1}",
	    "{\"rrname\":\"a.\",\"rrtype\":\"A\",\"rdata\":\"1.2.3.4\",\"time_first\":1,\"time_last\":1} {}",
	    "{\"rrname\":\"a.\",\"rrtype\":\"A\",\"rdata\":\"1.2.3.4\",\"time_first\":1,\"time_last\":1,}",
	    "{\"rrname\":\"a.\",\"rrtype\":\"A\",\"rdata\":\"1.2.3.4\",\"time_first\":1,\"time_last\":1,\"o\":[[[[1]]]]"
	    "}",
	    "{\"rrname\":\"\xff.\",\"rrtype\":\"A\",\"rdata\":\"1.2.3.4\",\"time_first\":1,\"time_last\":1}",
	    "{\"rrname\":\"a.\",\"rrtype\":\"A\",\"rdata\":\"1.2.3.4\",\"time_first\":1,\"time_last\":1,\"sensor_id\":"
	    "\"\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = cof1(bad[i], c, &st);
		ck_assert_msg(rc == D4_EINVAL || rc == D4_EJSON, "accepted (%d): %s", rc, bad[i]);
		ck_assert_uint_eq(st.bad_lines, i + 1);
	}
	ck_assert_uint_eq(c->n, 5);
	/* Hostile nesting is refused before yajl sees it. */
	size_t deep = 200000;
	char *d = malloc(deep * 2 + 1);
	for (size_t i = 0; i < deep; i++) {
		d[i] = '[';
		d[deep + i] = ']';
	}
	d[2 * deep] = '\0';
	ck_assert_int_eq(cof1(d, c, &st), D4_EJSON);
	/* Over the size cap. */
	char *big = malloc(D4_PDNS_COF_LINE_MAX + 2);
	memset(big, ' ', D4_PDNS_COF_LINE_MAX + 1);
	big[0] = '{';
	big[D4_PDNS_COF_LINE_MAX] = '}';
	big[D4_PDNS_COF_LINE_MAX + 1] = '\0';
	ck_assert_int_eq(cof1(big, c, &st), D4_EINVAL);
	free(big);
	free(d);
	/* rdata over the cap: counted too_long, others still emitted. */
	size_t rl = D4_PDNS_RDATA_MAX + 10;
	char *line = malloc(rl + 200);
	int k =
	    sprintf(line, "{\"rrname\":\"a.\",\"rrtype\":\"TXT\",\"time_first\":1,\"time_last\":1,\"rdata\":[\"x\",\"");
	memset(line + k, 'y', rl);
	strcpy(line + k + rl, "\"]}");
	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(cof1(line, c, &st), 0);
	ck_assert_uint_eq(st.too_long, 1);
	ck_assert_uint_eq(st.records, 1);
	free(line);
	/* The callback's error stops the array. */
	c->stop_at = (int)c->n + 1;
	ck_assert_int_eq(
	    cof1("{\"rrname\":\"a.\",\"rrtype\":\"A\",\"rdata\":[\"1.1.1.1\",\"2.2.2.2\"],\"time_first\":1,"
		 "\"time_last\":1}",
		 c, &st),
	    D4_EFULL);
	ck_assert_uint_eq(c->n, 7);
	coll_free(c);
	free(c);
}
END_TEST

/* ---- COF write / round trip ---- */

static void check_roundtrip(const struct d4_pdns_obs *o)
{
	static char buf[8 * D4_PDNS_RDATA_MAX];
	int n = d4_pdns_cof_write(o, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq(strlen(buf), (size_t)n);
	ck_assert_int_eq(buf[n - 1], '\n');
	ck_assert_ptr_null(memchr(buf, '\n', (size_t)n - 1));
	struct coll *c = calloc(1, sizeof(*c));
	struct d4_pdns_stats st = {0};
	ck_assert_msg(d4_pdns_cof_line(buf, (size_t)n - 1, collect, c, &st) == 0, "unparsable: %s", buf);
	ck_assert_uint_eq(c->n, 1);
	ck_assert_str_eq(c->o[0].rrname, o->rrname);
	ck_assert_uint_eq(c->o[0].rrtype, o->rrtype);
	ck_assert_str_eq(c->o[0].rdata, o->rdata);
	ck_assert_uint_eq(c->o[0].tf, o->time_first);
	ck_assert_uint_eq(c->o[0].tl, o->time_last);
	ck_assert_uint_eq(c->o[0].count, o->count);
	if (o->bailiwick)
		ck_assert_str_eq(c->o[0].bailiwick, o->bailiwick);
	else
		ck_assert_ptr_null(c->o[0].bailiwick);
	if (o->sensor_id)
		ck_assert_str_eq(c->o[0].sensor, o->sensor_id);
	else
		ck_assert_ptr_null(c->o[0].sensor);
	/* Too small a buffer is reported at every size short of the need. */
	for (size_t cap = 0; cap <= (size_t)n; cap += (size_t)n / 7 + 1)
		ck_assert_int_eq(d4_pdns_cof_write(o, buf, cap), D4_ETOOBIG);
	ck_assert_int_eq(d4_pdns_cof_write(o, buf, (size_t)n), D4_ETOOBIG);
	ck_assert_int_eq(d4_pdns_cof_write(o, buf, (size_t)n + 1), n);
	coll_free(c);
	free(c);
}

START_TEST(test_cof_write_fixed)
{
	char buf[1024];
	struct d4_pdns_obs o = {.rrname = "www.example.com.",
				.rrtype = 1,
				.rrclass = 1,
				.rdata = "192.0.2.1",
				.rdata_len = 9,
				.time_first = 1,
				.time_last = 2,
				.count = 3};
	int n = d4_pdns_cof_write(&o, buf, sizeof(buf));
	const char *want = "{\"rrname\":\"www.example.com.\",\"rrtype\":\"A\",\"rdata\":\"192.0.2.1\",\"time_first\":1,"
			   "\"time_last\":2,\"count\":3}\n";
	ck_assert_str_eq(buf, want);
	ck_assert_int_eq(n, (int)strlen(want));
	o.rrtype = 4660;
	o.sensor_id = "a\"b\\c\x01\x7f\xc3\xa9\xff\xed\xa0\x80\xf0\x9f\x98\x80";
	o.bailiwick = "example.com.";
	d4_pdns_cof_write(&o, buf, sizeof(buf));
	ck_assert_str_eq(buf, "{\"rrname\":\"www.example.com.\",\"rrtype\":\"TYPE4660\",\"rdata\":\"192.0.2.1\","
			      "\"time_first\":1,\"time_last\":2,\"count\":3,\"bailiwick\":\"example.com.\","
			      "\"sensor_id\":\"a\\\"b\\\\c\\u0001\\u007f\xc3\xa9\\ufffd\\ufffd\\ufffd\\ufffd"
			      "\xf0\x9f\x98\x80\"}\n");
	/* Non-canonical bytes in DNS strings are written as \DDD: ASCII output. */
	o.rrname = "a\x01\xff.";
	o.rdata = "\"q\"\t\\\x80";
	o.rdata_len = strlen(o.rdata);
	o.sensor_id = NULL;
	o.bailiwick = NULL;
	d4_pdns_cof_write(&o, buf, sizeof(buf));
	ck_assert_str_eq(buf,
			 "{\"rrname\":\"a\\\\001\\\\255.\",\"rrtype\":\"TYPE4660\",\"rdata\":\"\\\"q\\\"\\\\009\\\\"
			 "\\\\128\",\"time_first\":1,\"time_last\":2,\"count\":3}\n");
	ck_assert_int_eq(d4_pdns_cof_write(NULL, buf, sizeof(buf)), D4_EINVAL);
}
END_TEST

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Random hostile observations, canonicalised, must survive write -> parse. */
START_TEST(test_cof_roundtrip_random)
{
	static const char alphabet[] = "aZ.\\\"09 -_*\t\x01\x7f\x80\xff\xc3\xa9{}[],:";
	char raw[300], name[D4_PDNS_NAME_MAX], bw[D4_PDNS_NAME_MAX], rdata[2048], sensor[64];
	unsigned done = 0;
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = 1 + rnd() % 40;
		for (size_t i = 0; i < n; i++)
			raw[i] = alphabet[rnd() % (sizeof(alphabet) - 1)];
		if (d4_pdns_name_canon(raw, n, name, sizeof(name)) < 0)
			continue;
		uint16_t type = (uint16_t)(rnd() % 4 == 0 ? rnd() : (rnd() % 3 == 0 ? 16 : 5));
		n = 1 + rnd() % 200;
		for (size_t i = 0; i < n; i++)
			raw[i] = rnd() % 5 == 0 ? (char)(rnd() & 0xff) : alphabet[rnd() % (sizeof(alphabet) - 1)];
		int rl = d4_pdns_rdata_canon(type, raw, n, rdata, sizeof(rdata));
		ck_assert_int_gt(rl, 0);
		struct d4_pdns_obs o = {.rrname = name,
					.rrtype = type,
					.rrclass = 1,
					.rdata = rdata,
					.rdata_len = (size_t)rl,
					.time_first = rnd() >> 34,
					.count = 1 + (rnd() >> 1)};
		o.time_last = o.time_first + (rnd() & 0xffff);
		if (rnd() & 1) {
			if (d4_pdns_name_canon(raw, 1 + rnd() % 10, bw, sizeof(bw)) >= 0)
				o.bailiwick = bw;
		}
		if (rnd() & 1) {
			size_t sl = 1 + rnd() % 20;
			for (size_t i = 0; i < sl; i++)
				sensor[i] = "ab\"\\\t\xc3\xa9-"[rnd() % 8];
			sensor[sl] = '\0';
			/* Valid UTF-8 only: invalid bytes are replaced by design. */
			if (strchr(sensor, '\xc3') == NULL && strchr(sensor, '\xa9') == NULL && !strchr(sensor, '\t'))
				o.sensor_id = sensor;
		}
		check_roundtrip(&o);
		done++;
	}
	ck_assert_uint_gt(done, 1000);
}
END_TEST

static Suite *pdns_text_suite(void)
{
	Suite *s = suite_create("pdns_text");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_type_roundtrip);
	tcase_add_test(tc, test_name_canon);
	tcase_add_test(tc, test_rdata_canon);
	tcase_add_test(tc, test_csv_spec);
	tcase_add_test(tc, test_csv_default_file);
	tcase_add_test(tc, test_csv_custom_layout);
	tcase_add_test(tc, test_csv_types_and_text);
	tcase_add_test(tc, test_csv_bad_lines);
	tcase_add_test(tc, test_cof_parse);
	tcase_add_test(tc, test_cof_write_fixed);
	tcase_add_test(tc, test_cof_roundtrip_random);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pdns_text_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
