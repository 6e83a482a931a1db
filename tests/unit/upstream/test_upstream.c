/* The upstream relay's pure parts: upstream.streams, the position file
 * (round trip, every truncation and one byte more refused, each field's
 * checks), the key file. The relay itself runs end to end in
 * tests/integration/federation/upstream.sh (it_fed_upstream). */
#include "d4_error.h"
#include "d4_upstream.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse(const char *s, struct d4_upstream_stream *st, unsigned *n, char *err)
{
	return d4_upstream_streams_parse(s, st, n, err, 200);
}

START_TEST(streams_ok)
{
	struct d4_upstream_stream st[D4_UPSTREAM_STREAMS_MAX];
	unsigned n;
	char err[200];
	ck_assert_int_eq(parse("8, 1 254:ja3-jl,4", st, &n, err), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(st[0].type, 8);
	ck_assert_str_eq(st[0].ext, "");
	ck_assert_uint_eq(st[1].type, 1);
	ck_assert_uint_eq(st[2].type, 254);
	ck_assert_str_eq(st[2].ext, "ja3-jl");
	ck_assert_uint_eq(st[3].type, 4);
	ck_assert_int_eq(parse("255", st, &n, err), 0);
	ck_assert_uint_eq(n, 1);
}
END_TEST

START_TEST(streams_refused)
{
	static const struct {
		const char *in, *msg;
	} cases[] = {
	    {"", "no stream"},
	    {" , ", "no stream"},
	    {"2", "not 2"},
	    {"0", "1..255"},
	    {"256", "1..255"},
	    {"-1", "1..255"},
	    {"8x", "1..255"},
	    {"254", "needs its extended type"},
	    {"8:foo", "only type 254"},
	    {"254:", "1..63 printable"},
	    {"254:a/b", "no space or /"},
	    {"254:0123456789012345678901234567890123456789012345678901234567890123", "1..63 printable"},
	    {"8, 8", "listed twice"},
	    {"254:a 254:b", "only one type-254 stream"},
	    {"1 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18", "more than 16"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct d4_upstream_stream st[D4_UPSTREAM_STREAMS_MAX];
		unsigned n;
		char err[200] = "";
		ck_assert_msg(parse(cases[i].in, st, &n, err) == D4_EINVAL, "accepted '%s'", cases[i].in);
		ck_assert_msg(strstr(err, cases[i].msg) != NULL, "'%s': '%s' lacks '%s'", cases[i].in, err,
			      cases[i].msg);
	}
}
END_TEST

static struct d4_upstream_position sample(int hdr)
{
	struct d4_upstream_position p;
	memset(&p, 0, sizeof(p));
	p.pos_seq = 18446744073709551615u;
	p.pos_skip = 7;
	p.frames = 123456789;
	p.bytes = 0;
	p.unacked = 4096;
	p.clean = 1;
	p.pcap_session = 42;
	p.has_pcap_hdr = hdr;
	if (hdr)
		for (unsigned i = 0; i < D4_UPSTREAM_PCAP_HDR; i++)
			p.pcap_hdr[i] = (uint8_t)(0xd4 + i * 37);
	return p;
}

START_TEST(position_round_trip)
{
	for (int hdr = 0; hdr <= 1; hdr++) {
		struct d4_upstream_position a = sample(hdr), b;
		char buf[512];
		int len = d4_upstream_position_format(&a, buf, sizeof(buf));
		ck_assert_int_gt(len, 0);
		memset(&b, 0xff, sizeof(b));
		ck_assert_int_eq(d4_upstream_position_parse((const uint8_t *)buf, (size_t)len, &b), 0);
		ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
		/* every proper prefix and one byte more are refused, *out untouched */
		for (int cut = 0; cut < len; cut++) {
			memset(&b, 0x5a, sizeof(b));
			ck_assert_int_eq(d4_upstream_position_parse((const uint8_t *)buf, (size_t)cut, &b),
					 D4_ECORRUPT);
			ck_assert_uint_eq(b.pos_seq, 0x5a5a5a5a5a5a5a5au);
		}
		buf[len] = '\n';
		ck_assert_int_eq(d4_upstream_position_parse((const uint8_t *)buf, (size_t)len + 1, &b), D4_ECORRUPT);
		ck_assert_int_eq(d4_upstream_position_format(&a, buf, 40), D4_ETOOBIG);
	}
}
END_TEST

START_TEST(position_fields)
{
	static const char *bad[] = {
	    "d4hub-upstream-position 2\nseq 1\nskip 0\nframes 0\nbytes 0\nunacked 0\nclean 0\npcap_session "
	    "0\npcap_header 0\n",
	    "d4hub-upstream-position 1\nseq 01\nskip 0\nframes 0\nbytes 0\nunacked 0\nclean 0\npcap_session "
	    "0\npcap_header 0\n",
	    "d4hub-upstream-position 1\nseq -1\nskip 0\nframes 0\nbytes 0\nunacked 0\nclean 0\npcap_session "
	    "0\npcap_header 0\n",
	    "d4hub-upstream-position 1\nseq 18446744073709551616\nskip 0\nframes 0\nbytes 0\nunacked 0\nclean "
	    "0\npcap_session 0\npcap_header 0\n",
	    "d4hub-upstream-position 1\nseq \nskip 0\nframes 0\nbytes 0\nunacked 0\nclean 0\npcap_session "
	    "0\npcap_header 0\n",
	    "d4hub-upstream-position 1\nskip 0\nseq 1\nframes 0\nbytes 0\nunacked 0\nclean 0\npcap_session "
	    "0\npcap_header 0\n",
	    "d4hub-upstream-position 1\nseq 1\nskip 0\nframes 0\nbytes 0\nunacked 0\nclean 2\npcap_session "
	    "0\npcap_header 0\n",
	    "d4hub-upstream-position 1\nseq 1\nskip 0\nframes 0\nbytes 0\nunacked 0\nclean 0\npcap_session "
	    "0\npcap_header 2\n",
	    "d4hub-upstream-position 1\nseq 1\nskip 0\nframes 0\nbytes 0\nunacked 0\nclean 0\npcap_session "
	    "0\npcap_header 1\n",
	    "d4hub-upstream-position 1\nseq 1\nskip 0\nframes 0\nbytes 0\nunacked 0\nclean 0\npcap_session "
	    "0\npcap_header 1\n"
	    "D4C3B2A1020004000000000000000000ffff000001000000\n",
	    "d4hub-upstream-position 1\nseq 1\nskip 0\nframes 0\nbytes 0\nunacked 0\nclean 0\npcap_session "
	    "0\npcap_header 1\n"
	    "d4c3b2a1020004000000000000000000ffff0000010000\n",
	    "d4hub-upstream-position 1\r\nseq 1\nskip 0\nframes 0\nbytes 0\nunacked 0\nclean 0\npcap_session "
	    "0\npcap_header 0\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct d4_upstream_position p;
		ck_assert_msg(d4_upstream_position_parse((const uint8_t *)bad[i], strlen(bad[i]), &p) == D4_ECORRUPT,
			      "accepted case %zu", i);
	}
	const char *ok =
	    "d4hub-upstream-position 1\nseq 1\nskip 0\nframes 0\nbytes 0\nunacked 0\nclean 0\npcap_session "
	    "9\npcap_header 1\nd4c3b2a1020004000000000000000000ffff000001000000\n";
	struct d4_upstream_position p;
	ck_assert_int_eq(d4_upstream_position_parse((const uint8_t *)ok, strlen(ok), &p), 0);
	ck_assert_uint_eq(p.pcap_hdr[0], 0xd4);
	ck_assert_uint_eq(p.pcap_hdr[20], 0x01);
	ck_assert_uint_eq(p.pcap_session, 9);
}
END_TEST

static void write_file(const char *path, const char *s, size_t n)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(s, 1, n, f), n);
	fclose(f);
}

START_TEST(key_file)
{
	char dir[] = "/tmp/test_upstream.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[256], err[256];
	snprintf(path, sizeof(path), "%s/key", dir);
	uint8_t key[D4_UPSTREAM_KEY_MAX];
	size_t kl = 0;
	write_file(path, "secret key \n\r\n", 14);
	ck_assert_int_eq(d4_upstream_key_read(path, key, &kl, err, sizeof(err)), 0);
	ck_assert_uint_eq(kl, 10);
	ck_assert(memcmp(key, "secret key", 10) == 0);
	write_file(path, " \n", 2);
	ck_assert_int_eq(d4_upstream_key_read(path, key, &kl, err, sizeof(err)), D4_ECONFIG);
	ck_assert(strstr(err, "empty key") != NULL);
	char *big = malloc(D4_UPSTREAM_KEY_MAX + 1);
	memset(big, 'k', D4_UPSTREAM_KEY_MAX + 1);
	write_file(path, big, D4_UPSTREAM_KEY_MAX);
	ck_assert_int_eq(d4_upstream_key_read(path, key, &kl, err, sizeof(err)), 0);
	ck_assert_uint_eq(kl, D4_UPSTREAM_KEY_MAX);
	write_file(path, big, D4_UPSTREAM_KEY_MAX + 1);
	ck_assert_int_eq(d4_upstream_key_read(path, key, &kl, err, sizeof(err)), D4_ECONFIG);
	ck_assert(strstr(err, "longer than 1024") != NULL);
	ck_assert(strstr(err, "kkkk") == NULL); /* never the key */
	free(big);
	unlink(path);
	ck_assert_int_eq(d4_upstream_key_read(path, key, &kl, err, sizeof(err)), D4_ECONFIG);
	ck_assert(strstr(err, "No such file") != NULL);
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("upstream");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, streams_ok);
	tcase_add_test(tc, streams_refused);
	tcase_add_test(tc, position_round_trip);
	tcase_add_test(tc, position_fields);
	tcase_add_test(tc, key_file);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
