/* Unit tests of the hub configuration parser (hub/config). */
#include "d4_error.h"
#include "d4_hubconf.h"
#include "d4_policy.h"
#include "d4_util.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REQ                                                                                                            \
	"[hub]\n"                                                                                                      \
	"uuid = 0123456789abcdef0123456789abcdef\n"                                                                    \
	"org = fedcba98-7654-3210-fedc-ba9876543210\n"                                                                 \
	"[ingest]\n"                                                                                                   \
	"cert = hub.crt\n"                                                                                             \
	"key = hub.key\n"                                                                                              \
	"[store]\n"                                                                                                    \
	"path = ./store\n"
/* REQ is 8 lines long. */

static char tmpdir[PATH_MAX];
static char confpath[PATH_MAX + 32];
static char err[1024];
static struct d4_hubconf conf;

static void setup(void)
{
	const char *base = getenv("TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/d4conf.XXXXXX", base && *base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	/* The parser resolves the folder with realpath(); compare against that. */
	char *real = realpath(tmpdir, NULL);
	ck_assert_ptr_nonnull(real);
	snprintf(tmpdir, sizeof(tmpdir), "%s", real);
	free(real);
	snprintf(confpath, sizeof(confpath), "%s/hub.conf", tmpdir);
	err[0] = '\0';
}

static void teardown(void)
{
	unlink(confpath);
	rmdir(tmpdir);
}

static void write_conf(const char *text)
{
	FILE *f = fopen(confpath, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	ck_assert_int_eq(fclose(f), 0);
}

static int load(const char *text)
{
	write_conf(text);
	memset(&conf, 0xa5, sizeof(conf));
	return d4_hubconf_load(confpath, &conf, err, sizeof(err));
}

/* Asserts that loading text fails with "confpath:line: " followed by a
 * message containing needle. */
static void expect_error(const char *text, unsigned line, const char *needle)
{
	char prefix[PATH_MAX + 64];
	int rc = load(text);
	ck_assert_msg(rc == D4_ECONFIG, "expected D4_ECONFIG, got %d for:\n%s", rc, text);
	snprintf(prefix, sizeof(prefix), "%s:%u: ", confpath, line);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "error '%s' does not start with '%s'", err, prefix);
	ck_assert_msg(strstr(err, needle) != NULL, "error '%s' does not contain '%s'", err, needle);
}

START_TEST(test_defaults)
{
	memset(&conf, 0xa5, sizeof(conf));
	d4_hubconf_defaults(&conf);
	ck_assert_int_eq(conf.default_tlp, D4_TLP_AMBER_STRICT);
	ck_assert_str_eq(conf.log_level, "info");
	ck_assert_int_eq(conf.syslog, 0);
	ck_assert_str_eq(conf.pid_file, "");
	ck_assert_str_eq(conf.listen, "127.0.0.1:4443");
	ck_assert_str_eq(conf.cert, "");
	ck_assert_str_eq(conf.key, "");
	ck_assert_int_eq(conf.mode, D4_MODE_REGISTRATION);
	ck_assert_uint_eq(conf.shared_keylen, 0);
	ck_assert_uint_eq(conf.max_payload, 1000000);
	ck_assert_uint_eq(conf.preauth_max, 65536);
	ck_assert_uint_eq(conf.header_timeout, 30);
	ck_assert_uint_eq(conf.kick_ban, 30);
	ck_assert_uint_eq(conf.timestamp_window, 0);
	ck_assert_uint_eq(conf.max_backlog, 32ull << 20);
	ck_assert_uint_eq(conf.max_connections, 4096);
	ck_assert_uint_eq(conf.max_unverified_per_address, 32);
	ck_assert_uint_eq(conf.handshake_timeout, 10);
	ck_assert_str_eq(conf.store_path, "");
	ck_assert_uint_eq(conf.map_size, 1ull << 30);
	ck_assert_uint_eq(conf.commit_ms, 50);
	ck_assert_uint_eq(conf.commit_bytes, 16ull << 20);
	ck_assert_uint_eq(conf.queue_bytes, 64ull << 20);
	ck_assert_uint_eq(conf.frame_cache, 64ull << 20);
	ck_assert_uint_eq(conf.retention_age, 0);
	ck_assert_uint_eq(conf.retention_bytes, 0);
	static const uint8_t zero[16];
	ck_assert_mem_eq(conf.hub_uuid, zero, 16);
	ck_assert_mem_eq(conf.org, zero, 16);
}
END_TEST

START_TEST(test_minimal_keeps_defaults)
{
	char want[PATH_MAX + 64];
	uint8_t u[16];
	ck_assert_msg(load(REQ) == 0, "load failed: %s", err);
	ck_assert_int_eq(d4_uuid_parse("0123456789abcdef0123456789abcdef", u), 0);
	ck_assert_mem_eq(conf.hub_uuid, u, 16);
	ck_assert_int_eq(d4_uuid_parse("fedcba9876543210fedcba9876543210", u), 0);
	ck_assert_mem_eq(conf.org, u, 16);
	snprintf(want, sizeof(want), "%s/hub.crt", tmpdir);
	ck_assert_str_eq(conf.cert, want);
	snprintf(want, sizeof(want), "%s/hub.key", tmpdir);
	ck_assert_str_eq(conf.key, want);
	snprintf(want, sizeof(want), "%s/./store", tmpdir);
	ck_assert_str_eq(conf.store_path, want);
	/* Everything not in the file is the default. */
	ck_assert_int_eq(conf.default_tlp, D4_TLP_AMBER_STRICT);
	ck_assert_str_eq(conf.log_level, "info");
	ck_assert_str_eq(conf.listen, "127.0.0.1:4443");
	ck_assert_str_eq(conf.pid_file, "");
	ck_assert_int_eq(conf.mode, D4_MODE_REGISTRATION);
	ck_assert_uint_eq(conf.shared_keylen, 0);
	ck_assert_uint_eq(conf.max_payload, 1000000);
	ck_assert_uint_eq(conf.preauth_max, 65536);
	ck_assert_uint_eq(conf.header_timeout, 30);
	ck_assert_uint_eq(conf.kick_ban, 30);
	ck_assert_uint_eq(conf.max_backlog, 32ull << 20);
	ck_assert_uint_eq(conf.max_connections, 4096);
	ck_assert_uint_eq(conf.max_unverified_per_address, 32);
	ck_assert_uint_eq(conf.handshake_timeout, 10);
	ck_assert_uint_eq(conf.map_size, 1ull << 30);
	ck_assert_uint_eq(conf.commit_ms, 50);
	ck_assert_uint_eq(conf.commit_bytes, 16ull << 20);
	ck_assert_uint_eq(conf.queue_bytes, 64ull << 20);
	ck_assert_uint_eq(conf.retention_age, 0);
	ck_assert_uint_eq(conf.retention_bytes, 0);
}
END_TEST

START_TEST(test_every_key)
{
	const char *text = "# full configuration\n"
			   "; with both comment styles\n"
			   "\n"
			   "[hub]\n"
			   "uuid = 11111111-2222-4333-8444-555555555555\n"
			   "org = AAAAAAAABBBBCCCCDDDDEEEEEEEEEEEE\n"
			   "default_tlp = TLP:Green\n"
			   "log_level = debug\n"
			   "syslog = yes\n"
			   "pid_file = /run/d4hub.pid\n"
			   "[ingest]\n"
			   "listen = [::1]:5443\n"
			   "cert = /etc/d4/hub.crt\n"
			   "key = keys/hub.key\n"
			   "mode = shared-secret\n"
			   "shared_key = \"  my secret # not a comment \"\n"
			   "max_payload = 2M\n"
			   "preauth_max = 4K\n"
			   "header_timeout = 2m\n"
			   "kick_ban = 1h\n"
			   "timestamp_window = 1d\n"
			   "max_backlog = 1G\n"
			   "max_connections = 100\n"
			   "max_unverified_per_address = 4\n"
			   "handshake_timeout = 1m\n"
			   "[store]\n"
			   "path = /var/lib/d4hub\n"
			   "map_size = 2T\n"
			   "commit_ms = 10\n"
			   "commit_bytes = 512K\n"
			   "queue_bytes = 128M\n"
			   "frame_cache = 1G\n"
			   "retention_age = 7d\n"
			   "retention_size = 100G\n"
			   "pdns_id_layout = yes\n";
	char want[PATH_MAX + 64];
	uint8_t u[16];
	ck_assert_msg(load(text) == 0, "load failed: %s", err);
	ck_assert_int_eq(d4_uuid_parse("11111111222243338444555555555555", u), 0);
	ck_assert_mem_eq(conf.hub_uuid, u, 16);
	ck_assert_int_eq(d4_uuid_parse("aaaaaaaabbbbccccddddeeeeeeeeeeee", u), 0);
	ck_assert_mem_eq(conf.org, u, 16);
	ck_assert_int_eq(conf.default_tlp, D4_TLP_GREEN);
	ck_assert_str_eq(conf.log_level, "debug");
	ck_assert_int_eq(conf.syslog, 1);
	ck_assert_str_eq(conf.pid_file, "/run/d4hub.pid");
	ck_assert_str_eq(conf.listen, "[::1]:5443");
	ck_assert_str_eq(conf.cert, "/etc/d4/hub.crt");
	snprintf(want, sizeof(want), "%s/keys/hub.key", tmpdir);
	ck_assert_str_eq(conf.key, want);
	ck_assert_int_eq(conf.mode, D4_MODE_SHARED_SECRET);
	ck_assert_uint_eq(conf.shared_keylen, strlen("  my secret # not a comment "));
	ck_assert_mem_eq(conf.shared_key, "  my secret # not a comment ", conf.shared_keylen);
	ck_assert_uint_eq(conf.max_payload, 2u << 20);
	ck_assert_uint_eq(conf.preauth_max, 4096);
	ck_assert_uint_eq(conf.header_timeout, 120);
	ck_assert_uint_eq(conf.kick_ban, 3600);
	ck_assert_uint_eq(conf.timestamp_window, 86400);
	ck_assert_uint_eq(conf.max_backlog, 1ull << 30);
	ck_assert_uint_eq(conf.max_connections, 100);
	ck_assert_uint_eq(conf.max_unverified_per_address, 4);
	ck_assert_uint_eq(conf.handshake_timeout, 60);
	ck_assert_str_eq(conf.store_path, "/var/lib/d4hub");
	ck_assert_uint_eq(conf.map_size, 2ull << 40);
	ck_assert_int_eq(conf.pdns_id_layout, 1);
	ck_assert_uint_eq(conf.commit_ms, 10);
	ck_assert_uint_eq(conf.commit_bytes, 512u << 10);
	ck_assert_uint_eq(conf.queue_bytes, 128ull << 20);
	ck_assert_uint_eq(conf.frame_cache, 1ull << 30);
	ck_assert_uint_eq(conf.retention_age, 7u * 86400);
	ck_assert_uint_eq(conf.retention_bytes, 100ull << 30);
}
END_TEST

START_TEST(test_syntax_variants)
{
	/* Keys before any section are [hub]; whitespace, tabs, CRLF, a BOM,
	 * single quotes and comments after a quoted value are accepted. */
	const char *text = "\xef\xbb\xbfuuid=0123456789abcdef0123456789abcdef\r\n"
			   "  org\t=\t fedcba9876543210fedcba9876543210  \r\n"
			   "log_level = 'warning' # trailing comment\n"
			   "syslog = off\n"
			   "[ ingest ]  # comment after header\n"
			   "cert = \"with space.crt\"\n"
			   "key = hub.key\n"
			   "\t\n"
			   "[store]\n"
			   "path = s";
	char want[PATH_MAX + 64];
	ck_assert_msg(load(text) == 0, "load failed: %s", err);
	ck_assert_str_eq(conf.log_level, "warning");
	ck_assert_int_eq(conf.syslog, 0);
	snprintf(want, sizeof(want), "%s/with space.crt", tmpdir);
	ck_assert_str_eq(conf.cert, want);
	snprintf(want, sizeof(want), "%s/s", tmpdir);
	ck_assert_str_eq(conf.store_path, want);
	uint8_t u[16];
	ck_assert_int_eq(d4_uuid_parse("fedcba9876543210fedcba9876543210", u), 0);
	ck_assert_mem_eq(conf.org, u, 16);
}
END_TEST

START_TEST(test_tlp_values)
{
	static const struct {
		const char *text;
		int tlp;
	} cases[] = {{"tlp:red", D4_TLP_RED},	   {"tlp:amber+strict", D4_TLP_AMBER_STRICT},
		     {"tlp:amber", D4_TLP_AMBER},  {"tlp:green", D4_TLP_GREEN},
		     {"tlp:clear", D4_TLP_CLEAR},  {"TLP:WHITE", D4_TLP_CLEAR},
		     {"tlp:ex:chr", D4_TLP_EX_CHR}};
	char text[1024];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), REQ "[hub]\ndefault_tlp = %s\n", cases[i].text);
		/* [hub] reopened after [store]: allowed, keys stay distinct. */
		ck_assert_msg(load(text) == 0, "%s: %s", cases[i].text, err);
		ck_assert_int_eq(conf.default_tlp, cases[i].tlp);
	}
}
END_TEST

START_TEST(test_error_unknown_key)
{
	expect_error(REQ "colour = blue\n", 9, "unknown key 'colour' in section [store]");
	expect_error("[hub]\nuuid = 0123456789abcdef0123456789abcdef\nlisten = 1.2.3.4:1\n", 3,
		     "unknown key 'listen' in section [hub]");
}
END_TEST

START_TEST(test_error_unknown_section)
{
	expect_error(REQ "\n[analyzers]\n", 10, "unknown section [analyzers]");
	/* the message names every section the parser knows */
	expect_error(REQ "[apis]\n", 9,
		     "(expected one of [hub], [ingest], [store], [api], [pdns], [backscatter], [federation], "
		     "[upstream], [pssl])");
	expect_error("[hub\n", 1, "section header without ']'");
	expect_error("[hub] x\n", 1, "unexpected text after section header");
}
END_TEST

/* Values end at a '#' after a blank (the docs' snippets comment that way);
 * quoted values and '#' inside a word are kept; ';' is a whole-line
 * comment only. An empty path is no path. */
START_TEST(test_inline_comments)
{
	ck_assert_int_eq(load(REQ "[api]\nmax_tlp_user = tlp:green   # role user\n"
				  "pdns_max_results = 500\t# cap\nclient_ca =   # none\n"
				  "[pdns]\ncsv_separator = ;\n"),
			 D4_OK);
	ck_assert_uint_eq(conf.api_max_tlp_user, D4_TLP_GREEN);
	ck_assert_uint_eq(conf.api_pdns_max_results, 500);
	ck_assert_str_eq(conf.api_client_ca, "");
	ck_assert_str_eq(conf.pdns_csv_separator, ";");
	ck_assert_int_eq(load(REQ "[ingest]\nmode = shared-secret\nshared_key = \"a #b\"  # quoted\n"), D4_OK);
	ck_assert_uint_eq(conf.shared_keylen, 4);
	ck_assert_mem_eq(conf.shared_key, "a #b", 4);
	ck_assert_int_eq(load(REQ "[ingest]\nmode = shared-secret\nshared_key = a#b\n"), D4_OK);
	ck_assert_uint_eq(conf.shared_keylen, 3);
	/* a value that is only a comment is empty: an error where a value is needed */
	expect_error(REQ "[api]\nmax_tlp_user = # none\n", 10, "max_tlp_user");
	expect_error("[hub]\n[ingest]\ncert =\nkey = k\n[store]\npath = s\n", 3, "ingest.cert: empty value");
}
END_TEST

/* deploy/d4hub.conf.example lists every key the parser knows, once, in its
 * section ("key = value" or commented "#key = value"), and nothing else; a
 * commented key shows its default (loading it changes nothing) unless its
 * line says "# example". */
START_TEST(test_example_lists_every_key)
{
	const char *data = getenv("D4_TEST_DATA");
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/../../deploy/d4hub.conf.example", data ? data : "tests/data");
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	size_t nkeys = 0;
	while (d4_hubconf_key_name(nkeys))
		nkeys++;
	ck_assert_uint_gt(nkeys, 100);
	unsigned *seen = calloc(nkeys, sizeof(*seen));
	ck_assert_ptr_nonnull(seen);
	static struct d4_hubconf base;
	ck_assert_int_eq(load(REQ), D4_OK);
	base = conf;
	char line[1024], section[32] = "hub";
	unsigned lineno = 0, defaults_checked = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '[') {
			ck_assert_int_eq(sscanf(line, "[%31[a-z]]", section), 1);
			continue;
		}
		const char *p = line[0] == '#' ? line + 1 : line;
		size_t kl = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
		const char *q = p + kl;
		while (*q == ' ')
			q++;
		if (kl == 0 || *q != '=')
			continue; /* prose */
		char name[96];
		snprintf(name, sizeof(name), "%s.%.*s", section, (int)kl, p);
		size_t i = 0;
		while (i < nkeys && strcmp(d4_hubconf_key_name(i), name) != 0)
			i++;
		ck_assert_msg(i < nkeys, "%s:%u: %s is no key of the parser", path, lineno, name);
		ck_assert_msg(!seen[i], "%s:%u: %s listed twice (line %u)", path, lineno, name, seen[i]);
		seen[i] = lineno;
		if (line[0] != '#' || strstr(q, "# example"))
			continue;
		/* the stated default: loading it gives the same configuration */
		char text[2048];
		snprintf(text, sizeof(text), REQ "[%s]\n%s\n", section, p);
		ck_assert_msg(load(text) == D4_OK, "%s:%u: %s: %s", path, lineno, name, err);
		ck_assert_msg(memcmp(&conf, &base, sizeof(conf)) == 0, "%s:%u: '%s' is not the default of %s", path,
			      lineno, p, name);
		defaults_checked++;
	}
	fclose(f);
	for (size_t i = 0; i < nkeys; i++)
		ck_assert_msg(seen[i], "%s does not list %s", path, d4_hubconf_key_name(i));
	ck_assert_uint_gt(defaults_checked, 80);
	free(seen);
}
END_TEST

/* man/d4hub.conf.5 documents every key the parser knows, each once, under
 * its section (".Ss [section]", then ".It Ic key" or ".It Ic key , Ic key2"),
 * and no key the parser does not know. */
START_TEST(test_manpage_lists_every_key)
{
	const char *data = getenv("D4_TEST_DATA");
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/../../man/d4hub.conf.5", data ? data : "tests/data");
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	size_t nkeys = 0;
	while (d4_hubconf_key_name(nkeys))
		nkeys++;
	unsigned *seen = calloc(nkeys, sizeof(*seen));
	ck_assert_ptr_nonnull(seen);
	char line[1024], section[32] = "";
	unsigned lineno = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, ".Ss [", 5)) {
			ck_assert_int_eq(sscanf(line, ".Ss [%31[a-z]]", section), 1);
			continue;
		}
		if (!section[0] || strncmp(line, ".It Ic ", 7) != 0)
			continue;
		for (const char *p = strstr(line, "Ic "); p; p = strstr(p, "Ic ")) {
			p += 3;
			size_t kl = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
			char name[96];
			snprintf(name, sizeof(name), "%s.%.*s", section, (int)kl, p);
			size_t i = 0;
			while (i < nkeys && strcmp(d4_hubconf_key_name(i), name) != 0)
				i++;
			ck_assert_msg(i < nkeys, "%s:%u: %s is no key of the parser", path, lineno, name);
			ck_assert_msg(!seen[i], "%s:%u: %s listed twice (line %u)", path, lineno, name, seen[i]);
			seen[i] = lineno;
		}
	}
	fclose(f);
	for (size_t i = 0; i < nkeys; i++)
		ck_assert_msg(seen[i], "%s does not document %s", path, d4_hubconf_key_name(i));
	free(seen);
}
END_TEST

START_TEST(test_error_duplicate)
{
	expect_error(REQ "[hub]\norg = fedcba9876543210fedcba9876543210\n", 10,
		     "duplicate key hub.org (first set on line 3)");
	expect_error("[store]\npath = a\n# c\npath = a\n", 4, "duplicate key store.path (first set on line 2)");
}
END_TEST

START_TEST(test_error_missing_required)
{
	static const char *const lines[] = {"cert = ", "key = ", "path = "};
	static const char *const names[] = {"ingest.cert", "ingest.key", "store.path"};
	for (size_t i = 0; i < 3; i++) {
		/* Drop the one line from REQ; the error points at the last line. */
		char text[1024] = "";
		const char *p = REQ;
		unsigned n = 0;
		while (*p) {
			const char *nl = strchr(p, '\n');
			size_t l = (size_t)(nl - p) + 1;
			if (strncmp(p, lines[i], strlen(lines[i])) != 0) {
				strncat(text, p, l);
				n++;
			}
			p += l;
		}
		char needle[64];
		snprintf(needle, sizeof(needle), "missing required key %s", names[i]);
		expect_error(text, n, needle);
	}
	/* An empty file: line 1. */
	expect_error("", 1, "missing required key ingest.cert");
}
END_TEST

/* hub.uuid and hub.org are optional (the store keeps generated ones); the
 * flags say whether the file gave them. [federation] keys go together. */
START_TEST(test_identity_optional_and_federation)
{
	const char *text = "[ingest]\ncert = hub.crt\nkey = hub.key\n[store]\npath = ./store\n";
	ck_assert_int_eq(load(text), D4_OK);
	ck_assert_int_eq(conf.has_hub_uuid, 0);
	ck_assert_int_eq(conf.has_org, 0);
	ck_assert_int_eq(load(REQ), D4_OK);
	ck_assert_int_eq(conf.has_hub_uuid, 1);
	ck_assert_int_eq(conf.has_org, 1);
	ck_assert_int_eq(
	    load(REQ "[federation]\nlisten = 127.0.0.1:8444\ncert = fed.crt\nkey = fed.key\nca = org-ca.crt\n"), D4_OK);
	ck_assert_str_eq(conf.fed_listen, "127.0.0.1:8444");
	ck_assert_ptr_nonnull(strstr(conf.fed_cert, "fed.crt"));
	ck_assert_ptr_nonnull(strstr(conf.fed_ca, "org-ca.crt"));
	expect_error(REQ "[federation]\ncert = fed.crt\n", 10, "federation.cert and federation.key are given together");
	expect_error(REQ "[federation]\nkey = fed.key\n", 10, "federation.cert and federation.key are given together");
	expect_error(REQ "[federation]\nlisten = 127.0.0.1:8444\n", 10, "needs federation.cert and federation.key");
	expect_error(REQ "[federation]\nlisten = nowhere\n", 10, "federation.listen: bad address");
	expect_error(REQ "[federation]\nport = 1\n", 10, "unknown key 'port' in section [federation]");
	/* port 0 (any free one) like api.listen; the listener needs the API */
	ck_assert_int_eq(load(REQ "[federation]\nlisten = 127.0.0.1:0\ncert = fed.crt\nkey = fed.key\n"), D4_OK);
	expect_error(REQ "[api]\nenabled = false\n[federation]\nlisten = 127.0.0.1:8444\ncert = f.crt\nkey = f.key\n",
		     12, "federation.listen needs the API");
}
END_TEST

/* The sender's timing: defaults, values, ranges, and a minimum backoff
 * above the maximum is refused. */
START_TEST(test_federation_sender_timing)
{
	ck_assert_int_eq(load(REQ), D4_OK);
	ck_assert_uint_eq(conf.fed_poll_ms, 50);
	ck_assert_uint_eq(conf.fed_backoff_min_ms, 500);
	ck_assert_uint_eq(conf.fed_backoff_max_ms, 60000);
	ck_assert_uint_eq(conf.fed_timeout_ms, 30000);
	ck_assert_uint_eq(conf.fed_inflight, 3);
	ck_assert_int_eq(load(REQ "[federation]\ncert = f.crt\nkey = f.key\npoll_ms = 10\nbackoff_min_ms = 100\n"
				  "backoff_max_ms = 2000\ntimeout_ms = 5000\ninflight = 1\n"),
			 D4_OK);
	ck_assert_uint_eq(conf.fed_poll_ms, 10);
	ck_assert_uint_eq(conf.fed_backoff_min_ms, 100);
	ck_assert_uint_eq(conf.fed_backoff_max_ms, 2000);
	ck_assert_uint_eq(conf.fed_timeout_ms, 5000);
	ck_assert_uint_eq(conf.fed_inflight, 1);
	ck_assert_int_eq(load(REQ "[federation]\ninflight = 16\n"), D4_OK);
	ck_assert_uint_eq(conf.fed_inflight, 16);
	expect_error(REQ "[federation]\ninflight = 0\n", 10, "federation.inflight");
	expect_error(REQ "[federation]\ninflight = 17\n", 10, "federation.inflight");
	expect_error(REQ "[federation]\npoll_ms = 0\n", 10, "federation.poll_ms");
	expect_error(REQ "[federation]\ntimeout_ms = 999\n", 10, "federation.timeout_ms");
	expect_error(REQ "[federation]\nbackoff_min_ms = 5000\nbackoff_max_ms = 1000\n", 10,
		     "federation.backoff_min_ms (5000) must not exceed federation.backoff_max_ms (1000)");
	expect_error(REQ "[federation]\nbackoff_min_ms = 70000\n", 10,
		     "federation.backoff_min_ms (70000) must not exceed federation.backoff_max_ms (60000)");
}
END_TEST

/* federation.own_networks: CIDRs or addresses, comma or blank separated,
 * at most 32, host bits zero; each bad entry named. */
START_TEST(test_federation_own_networks)
{
	ck_assert_int_eq(load(REQ), D4_OK);
	ck_assert_str_eq(conf.fed_own_networks, "");
	ck_assert_int_eq(load(REQ "[federation]\nown_networks = 198.51.100.0/24, 2001:db8:5::/48 192.0.2.7\n"), D4_OK);
	ck_assert_str_eq(conf.fed_own_networks, "198.51.100.0/24, 2001:db8:5::/48 192.0.2.7");
	expect_error(REQ "[federation]\nown_networks = 198.51.100.1/24\n", 10,
		     "federation.own_networks: '198.51.100.1/24' is not a network");
	expect_error(REQ "[federation]\nown_networks = 10.0.0.0/33\n", 10, "'10.0.0.0/33' is not a network");
	expect_error(REQ "[federation]\nown_networks = corp.example\n", 10, "'corp.example' is not a network");
	expect_error(REQ "[federation]\nown_networks = 10.0.0.0/\n", 10, "'10.0.0.0/' is not a network");
	char many[2048] = REQ "[federation]\nown_networks = ";
	for (int i = 0; i < 33; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "10.%d.0.0/16,", i);
	strcat(many, "\n");
	expect_error(many, 10, "more than 32 networks");
}
END_TEST

/* [upstream]: off by default; a section names destination, uuid,
 * key_file and streams; the address, the uuid's version, the maximum TLP
 * and the backoff are checked here (streams, key file and CA by d4hub -n). */
#define UP_OK                                                                                                          \
	"[upstream]\n"                                                                                                 \
	"destination = d4.example.org:4443\n"                                                                          \
	"uuid = 3f0c6d1e-7b2a-4c5d-9e8f-0a1b2c3d4e5f\n"                                                                \
	"key_file = up.key\n"                                                                                          \
	"streams = 8, 254:ja3-jl\n"
START_TEST(test_upstream_section)
{
	ck_assert_int_eq(load(REQ), 0);
	ck_assert_str_eq(conf.up_dest, "");
	ck_assert_uint_eq(conf.up_max_tlp, D4_TLP_GREEN);
	ck_assert_uint_eq(conf.up_poll_ms, 50);
	ck_assert_int_eq(load(REQ UP_OK), 0);
	ck_assert_str_eq(conf.up_dest, "d4.example.org:4443");
	ck_assert_str_eq(conf.up_streams, "8, 254:ja3-jl");
	ck_assert_ptr_nonnull(strstr(conf.up_key_file, "up.key"));
	ck_assert_uint_eq(conf.up_uuid[0], 0x3f);
	ck_assert_int_eq(conf.up_relay, 0);
	ck_assert_int_eq(load(REQ UP_OK "max_tlp = tlp:clear\nrelay = yes\n"), 0);
	ck_assert_uint_eq(conf.up_max_tlp, D4_TLP_CLEAR);
	ck_assert_int_eq(conf.up_relay, 1);
	expect_error(REQ "[upstream]\ndestination = d4.example.org:4443\n", 10,
		     "the [upstream] section needs upstream.uuid");
	expect_error(REQ "[upstream]\nstreams = 8\n", 10, "the [upstream] section needs upstream.destination");
	expect_error(REQ "[upstream]\ndestination = nowhere\nuuid = 3f0c6d1e7b2a4c5d9e8f0a1b2c3d4e5f\nkey_file = k\n"
			 "streams = 8\n",
		     10, "upstream.destination: bad address 'nowhere'");
	expect_error(REQ "[upstream]\ndestination = *:4443\nuuid = 3f0c6d1e7b2a4c5d9e8f0a1b2c3d4e5f\nkey_file = k\n"
			 "streams = 8\n",
		     10, "upstream.destination: bad address");
	expect_error(REQ "[upstream]\ndestination = h:1\nuuid = 00000000000000000000000000000001\nkey_file = k\n"
			 "streams = 8\n",
		     11, "upstream.uuid: not a version 4 uuid");
	expect_error(REQ UP_OK "max_tlp = tlp:amber\n", 14, "only tlp:clear or tlp:green go to a public server");
	expect_error(REQ UP_OK "backoff_min_ms = 5000\nbackoff_max_ms = 1000\n", 14,
		     "upstream.backoff_min_ms (5000) must not exceed upstream.backoff_max_ms (1000)");
	expect_error(REQ UP_OK "port = 1\n", 14, "unknown key 'port' in section [upstream]");
}
END_TEST

START_TEST(test_error_shared_secret_needs_key)
{
	expect_error(REQ "[ingest]\nmode = shared-secret\n", 10,
		     "ingest.shared_key is required when ingest.mode = shared-secret");
	ck_assert_int_eq(load(REQ "[ingest]\nmode = shared-secret\nshared_key = abc\n"), 0);
	ck_assert_uint_eq(conf.shared_keylen, 3);
	ck_assert_mem_eq(conf.shared_key, "abc", 3);
	/* Registration mode ignores a configured shared key. */
	ck_assert_int_eq(load(REQ "[ingest]\nshared_key = abc\n"), 0);
	ck_assert_int_eq(conf.mode, D4_MODE_REGISTRATION);
}
END_TEST

START_TEST(test_error_bad_values)
{
	static const struct {
		const char *line;
		const char *needle;
	} cases[] = {
	    {"[hub]\nuuid = 0123", "hub.uuid: bad uuid '0123'"},
	    {"[hub]\nuuid = 0123456789abcdef0123456789abcdeg", "hub.uuid: bad uuid"},
	    {"[hub]\ndefault_tlp = tlp:purple", "hub.default_tlp: bad value 'tlp:purple'"},
	    {"[hub]\ndefault_tlp = tlp:unclear", "hub.default_tlp: bad value 'tlp:unclear'"},
	    {"[hub]\nlog_level = loud", "hub.log_level: bad value 'loud'"},
	    {"[hub]\nsyslog = maybe", "hub.syslog: bad value 'maybe'"},
	    {"[hub]\nlog_level =", "hub.log_level: empty value"},
	    {"[ingest]\nlisten = 127.0.0.1", "ingest.listen: bad address '127.0.0.1'"},
	    {"[ingest]\nlisten = 127.0.0.1:0", "ingest.listen: bad address"},
	    {"[ingest]\nlisten = 127.0.0.1:65536", "ingest.listen: bad address"},
	    {"[ingest]\nlisten = [::1:80", "ingest.listen: bad address"},
	    {"[ingest]\nlisten = a b:80", "ingest.listen: bad address"},
	    {"[ingest]\nmode = open", "ingest.mode: bad value 'open'"},
	    {"[ingest]\nshared_key = \"\"", "ingest.shared_key: empty key"},
	    {"[ingest]\nmax_payload = 0", "ingest.max_payload: value '0' out of range"},
	    {"[ingest]\nmax_payload = 4G", "ingest.max_payload: value '4G' out of range"},
	    {"[ingest]\nmax_payload = 12X", "ingest.max_payload: bad value '12X'"},
	    {"[ingest]\nmax_payload = -1", "ingest.max_payload: bad value '-1'"},
	    {"[ingest]\npreauth_max = 1 K", "ingest.preauth_max: bad value '1 K'"},
	    {"[ingest]\nheader_timeout = 0", "ingest.header_timeout: value '0' out of range"},
	    {"[ingest]\nmax_unverified_per_address = 0", "ingest.max_unverified_per_address: value '0' out of range"},
	    {"[ingest]\nhandshake_timeout = 0", "ingest.handshake_timeout: value '0' out of range"},
	    {"[ingest]\nhandshake_timeout = 2h", "ingest.handshake_timeout: value '2h' out of range"},
	    {"[ingest]\nheader_timeout = 30x", "ingest.header_timeout: bad value '30x'"},
	    {"[ingest]\nkick_ban = 1w", "ingest.kick_ban: bad value '1w'"},
	    {"[ingest]\ntimestamp_window = 99999999999999999999", "ingest.timestamp_window: value "
								  "'99999999999999999999' is too large"},
	    {"[ingest]\nmax_backlog = 0", "ingest.max_backlog: value '0' out of range"},
	    {"[ingest]\nmax_connections = 0", "ingest.max_connections: value '0' out of range"},
	    {"[ingest]\nmax_connections = 10k", "ingest.max_connections: bad value '10k'"},
	    {"[ingest]\nmax_connections = 99999999999999999999999", "ingest.max_connections: value"},
	    {"[store]\nmap_size = 1K", "store.map_size: value '1K' out of range"},
	    {"[store]\nmap_size = 17179869184T", "store.map_size: value '17179869184T' is too large"},
	    {"[store]\ncommit_ms = 0", "store.commit_ms: value '0' out of range"},
	    {"[store]\ncommit_ms = 50ms", "store.commit_ms: bad value '50ms'"},
	    {"[store]\ncommit_bytes = none", "store.commit_bytes: bad value 'none'"},
	    {"[store]\nretention_age = 1.5d", "store.retention_age: bad value '1.5d'"},
	    {"[store]\nretention_size = 1MB", "store.retention_size: bad value '1MB'"},
	    {"[store]\nqueue_bytes = 1000000", "store.queue_bytes (1000000) must exceed ingest.max_payload"},
	    {"[store]\npath", "expected 'key = value'"},
	    {"[store]\n = x", "missing key name before '='"},
	    {"[store]\ncommit_ms = \"5", "unterminated quoted value"},
	    {"[store]\ncommit_ms = \"5\" 6", "unexpected text after quoted value"},
	    {"[store]\ncommit_ms = 5#no blank before the '#'", "store.commit_ms: bad value"},
	};
	char text[2048];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* The bad line is line 10: after REQ (8 lines) and a section
		 * header. hub.uuid is already set in REQ: comment it out there. */
		snprintf(text, sizeof(text), REQ "%s\n# trailer\n", cases[i].line);
		if (strstr(cases[i].line, "uuid ="))
			memcpy(strstr(text, "uuid ="), "#", 1);
		expect_error(text, 10, cases[i].needle);
	}
}
END_TEST

START_TEST(test_error_secret_not_echoed)
{
	char text[1024];
	char big[300];
	memset(big, 'S', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(text, sizeof(text), REQ "[ingest]\nshared_key = %s\n", big);
	expect_error(text, 10, "ingest.shared_key: key too long (299 bytes, max 256)");
	ck_assert_ptr_null(strstr(err, "SSSS"));
	ck_assert_uint_eq(conf.shared_keylen, 0);
}
END_TEST

START_TEST(test_error_nul_byte)
{
	static const char text[] = "[hub]\nuuid = 01\0x\n";
	FILE *f = fopen(confpath, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fwrite(text, 1, sizeof(text) - 1, f), sizeof(text) - 1);
	fclose(f);
	ck_assert_int_eq(d4_hubconf_load(confpath, &conf, err, sizeof(err)), D4_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, ":2: NUL byte"));
}
END_TEST

START_TEST(test_error_file)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/absent.conf", tmpdir);
	ck_assert_int_eq(d4_hubconf_load(path, &conf, err, sizeof(err)), D4_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "absent.conf: cannot open: No such file"));
	/* A folder is not a config file. */
	ck_assert_int_eq(d4_hubconf_load(tmpdir, &conf, err, sizeof(err)), D4_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
	/* A tiny error buffer is truncated, never overrun. */
	char small[8];
	memset(small, 'x', sizeof(small));
	ck_assert_int_eq(d4_hubconf_load(path, &conf, small, sizeof(small)), D4_ECONFIG);
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
	ck_assert_int_eq(d4_hubconf_load(path, &conf, NULL, 0), D4_ECONFIG);
}
END_TEST

START_TEST(test_parse_size)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t v;
	} cases[] = {
	    {"0", 0, 0},
	    {"1000000", 0, 1000000},
	    {"64K", 0, 65536},
	    {"64k", 0, 65536},
	    {"1M", 0, 1048576},
	    {"16m", 0, 16777216},
	    {"1G", 0, 1073741824},
	    {"3g", 0, 3221225472ull},
	    {"1T", 0, 1099511627776ull},
	    {"16777215T", 0, 16777215ull << 40},
	    {"18446744073709551615", 0, UINT64_MAX},
	    {"18446744073709551616", D4_ETOOBIG, 0},
	    {"16777216T", D4_ETOOBIG, 0},
	    {"", D4_EINVAL, 0},
	    {"K", D4_EINVAL, 0},
	    {"1P", D4_EINVAL, 0},
	    {"1KB", D4_EINVAL, 0},
	    {"1s", D4_EINVAL, 0},
	    {"+1", D4_EINVAL, 0},
	    {"-1", D4_EINVAL, 0},
	    {" 1", D4_EINVAL, 0},
	    {"1 ", D4_EINVAL, 0},
	    {"0x10", D4_EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;
		int rc = d4_hubconf_parse_size(cases[i].s, &v);
		ck_assert_msg(rc == cases[i].rc, "'%s': rc %d, want %d", cases[i].s, rc, cases[i].rc);
		if (rc == 0)
			ck_assert_msg(v == cases[i].v, "'%s': %llu, want %llu", cases[i].s, (unsigned long long)v,
				      (unsigned long long)cases[i].v);
		else
			ck_assert_uint_eq(v, 12345); /* untouched on error */
	}
	ck_assert_int_eq(d4_hubconf_parse_size(NULL, &(uint64_t){0}), D4_EINVAL);
}
END_TEST

START_TEST(test_parse_duration)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t v;
	} cases[] = {
	    {"0", 0, 0},
	    {"30", 0, 30},
	    {"30s", 0, 30},
	    {"30S", 0, 30},
	    {"5m", 0, 300},
	    {"12h", 0, 43200},
	    {"7d", 0, 604800},
	    {"2D", 0, 172800},
	    {"1w", D4_EINVAL, 0},
	    {"1ms", D4_EINVAL, 0},
	    {"1.5h", D4_EINVAL, 0},
	    {"", D4_EINVAL, 0},
	    {"d", D4_EINVAL, 0},
	    {"-5s", D4_EINVAL, 0},
	    {"213503982334601d", 0, 213503982334601ull * 86400},
	    {"213503982334602d", D4_ETOOBIG, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 777;
		int rc = d4_hubconf_parse_duration(cases[i].s, &v);
		ck_assert_msg(rc == cases[i].rc, "'%s': rc %d, want %d", cases[i].s, rc, cases[i].rc);
		if (rc == 0)
			ck_assert_msg(v == cases[i].v, "'%s': %llu", cases[i].s, (unsigned long long)v);
	}
}
END_TEST

START_TEST(test_parse_listen)
{
	char host[64];
	uint16_t port = 0;
	ck_assert_int_eq(d4_hubconf_parse_listen("127.0.0.1:4443", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_uint_eq(port, 4443);
	ck_assert_int_eq(d4_hubconf_parse_listen("[::1]:1", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_uint_eq(port, 1);
	ck_assert_int_eq(d4_hubconf_parse_listen("*:65535", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "*");
	ck_assert_uint_eq(port, 65535);
	ck_assert_int_eq(d4_hubconf_parse_listen("localhost:80", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "localhost");
	ck_assert_int_eq(d4_hubconf_parse_listen("::1:80", host, sizeof(host), &port), D4_EINVAL);
	ck_assert_int_eq(d4_hubconf_parse_listen(":80", host, sizeof(host), &port), D4_EINVAL);
	ck_assert_int_eq(d4_hubconf_parse_listen("[]:80", host, sizeof(host), &port), D4_EINVAL);
	ck_assert_int_eq(d4_hubconf_parse_listen("[::1]80", host, sizeof(host), &port), D4_EINVAL);
	ck_assert_int_eq(d4_hubconf_parse_listen("h:", host, sizeof(host), &port), D4_EINVAL);
	ck_assert_int_eq(d4_hubconf_parse_listen("h:8a", host, sizeof(host), &port), D4_EINVAL);
	ck_assert_int_eq(d4_hubconf_parse_listen("127.0.0.1:80", host, 4, &port), D4_ETOOBIG);
}
END_TEST

START_TEST(test_path_resolution)
{
	char want[PATH_MAX + 64];
	/* Relative config path: resolved against the file's folder, not
	 * against where it was named from, and made absolute. */
	char sub[PATH_MAX + 16];
	snprintf(sub, sizeof(sub), "%s/etc", tmpdir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	char subconf[PATH_MAX + 32];
	snprintf(subconf, sizeof(subconf), "%s/hub.conf", sub);
	FILE *f = fopen(subconf, "w");
	ck_assert_ptr_nonnull(f);
	fputs(REQ "[hub]\npid_file = ../run/d4.pid\n", f);
	fclose(f);
	ck_assert_int_eq(chdir(tmpdir), 0);
	ck_assert_msg(d4_hubconf_load("etc/hub.conf", &conf, err, sizeof(err)) == 0, "%s", err);
	snprintf(want, sizeof(want), "%s/etc/hub.crt", tmpdir);
	ck_assert_str_eq(conf.cert, want);
	snprintf(want, sizeof(want), "%s/etc/../run/d4.pid", tmpdir);
	ck_assert_str_eq(conf.pid_file, want);
	ck_assert_int_eq(chdir(sub), 0);
	ck_assert_msg(d4_hubconf_load("hub.conf", &conf, err, sizeof(err)) == 0, "%s", err);
	snprintf(want, sizeof(want), "%s/etc/./store", tmpdir);
	ck_assert_str_eq(conf.store_path, want);
	ck_assert_int_eq(chdir("/"), 0);
	unlink(subconf);
	rmdir(sub);

	/* Absolute values are kept as they are. */
	ck_assert_int_eq(load(REQ "[ingest]\n"), 0);
	ck_assert_int_eq(load("[hub]\nuuid = 0123456789abcdef0123456789abcdef\norg = 0123456789abcdef0123456789abcdef\n"
			      "[ingest]\ncert = /a/b.crt\nkey = /c.key\n[store]\npath = /\n"),
			 0);
	ck_assert_str_eq(conf.cert, "/a/b.crt");
	ck_assert_str_eq(conf.key, "/c.key");
	ck_assert_str_eq(conf.store_path, "/");

	/* A path that does not fit once resolved is an error, not a cut. */
	char text[4096], longname[D4_PATH_MAX];
	memset(longname, 'p', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	longname[D4_PATH_MAX - 10] = '\0';
	snprintf(text, sizeof(text), REQ "[store]\nretention_age = 0\n[ingest]\nshared_key = x\n[hub]\npid_file = %s\n",
		 longname);
	expect_error(text, 14, "hub.pid_file: path too long");
}
END_TEST

START_TEST(test_backscatter_section)
{
	/* defaults: on, no telescope, live off, the thresholds of Moore et al. */
	ck_assert_msg(load(REQ) == 0, "load failed: %s", err);
	ck_assert_int_eq(conf.bs_enabled, 1);
	ck_assert_str_eq(conf.bs_telescope, "");
	ck_assert_int_eq(conf.bs_live, 0);
	ck_assert_uint_eq(conf.bs_live_window, 120);
	ck_assert_uint_eq(conf.bs_idle, 300);
	ck_assert_uint_eq(conf.bs_min_packets, 25);
	ck_assert_uint_eq(conf.bs_min_duration, 60);
	ck_assert_uint_eq(conf.bs_min_peak, 30);
	ck_assert_uint_eq(conf.bs_update, 60);
	ck_assert_uint_eq(conf.bs_max_vectors, 262144);
	ck_assert_uint_eq(conf.bs_batch, 100000);
	ck_assert_uint_eq(conf.bs_retention, 0);
	ck_assert_msg(load(REQ "[backscatter]\nenabled = no\ntelescope = 198.18.0.0/15, 2001:db8::/32\nlive = yes\n"
			       "live_window = 2m\nidle = 10m\nmin_packets = 10\nmin_duration = 30\nmin_peak = 5\n"
			       "update = 1m\nmax_vectors = 1000\nbatch = 5000\nretention = 90d\n") == 0,
		      "load failed: %s", err);
	ck_assert_int_eq(conf.bs_enabled, 0);
	ck_assert_str_eq(conf.bs_telescope, "198.18.0.0/15, 2001:db8::/32");
	ck_assert_int_eq(conf.bs_live, 1);
	ck_assert_uint_eq(conf.bs_live_window, 120);
	ck_assert_uint_eq(conf.bs_idle, 600);
	ck_assert_uint_eq(conf.bs_min_packets, 10);
	ck_assert_uint_eq(conf.bs_min_duration, 30);
	ck_assert_uint_eq(conf.bs_min_peak, 5);
	ck_assert_uint_eq(conf.bs_update, 60);
	ck_assert_uint_eq(conf.bs_max_vectors, 1000);
	ck_assert_uint_eq(conf.bs_batch, 5000);
	ck_assert_uint_eq(conf.bs_retention, 90ull * 86400);
	expect_error(REQ "[backscatter]\nmin_packets = 0\n", 10, "backscatter.min_packets: value '0' out of range");
	expect_error(REQ "[backscatter]\nidle = 0\n", 10, "backscatter.idle");
	expect_error(REQ "[backscatter]\ntelescopes = 10.0.0.0/8\n", 10,
		     "unknown key 'telescopes' in section [backscatter]");
}
END_TEST

START_TEST(test_api_section)
{
	char want[PATH_MAX + 64];
	/* defaults: enabled on 127.0.0.1:8443 with the ingest certificate */
	ck_assert_msg(load(REQ) == 0, "load failed: %s", err);
	ck_assert_int_eq(conf.api_enabled, 1);
	ck_assert_str_eq(conf.api_listen, "127.0.0.1:8443");
	ck_assert_str_eq(conf.api_cert, conf.cert);
	ck_assert_str_eq(conf.api_key, conf.key);
	ck_assert_str_eq(conf.api_client_ca, "");
	ck_assert_str_eq(conf.api_web_root, "");
	ck_assert_int_eq(conf.api_spec_set, 0);
	ck_assert_str_eq(conf.api_spec, ""); /* the built-in copy */
	ck_assert_uint_eq(conf.api_max_body, 64u << 10);
	ck_assert_uint_eq(conf.api_auth_fail_limit, 20);
	/* what one peer can make the API hold */
	ck_assert_uint_eq(conf.api_max_connections, 1024);
	ck_assert_uint_eq(conf.api_max_connections_per_addr, 32);
	ck_assert_uint_eq(conf.api_max_streams, 16);
	ck_assert_uint_eq(conf.api_threads, 0); /* one per core */
	ck_assert_uint_eq(conf.api_max_inflight_per_addr, 4u << 20);
	ck_assert_uint_eq(conf.api_max_inflight, 64u << 20);
	ck_assert_uint_eq(conf.api_max_exports_per_addr, 8);
	ck_assert_uint_eq(conf.api_max_exports_per_user, 8);
	ck_assert_uint_eq(conf.api_export_buffer, 64u << 10);
	ck_assert_uint_eq(conf.api_register_per_minute, 30);
	ck_assert_uint_eq(conf.api_max_pending_sensors, 1000);

	ck_assert_msg(load(REQ "[api]\nenabled = no\nlisten = [::1]:0\ncert = api.crt\nkey = /k/api.key\n"
			       "client_ca = ca.crt\nweb_root = web\nspec = spec.yaml\nmax_body = 64K\n"
			       "auth_fail_limit = 5\n") == 0,
		      "load failed: %s", err);
	ck_assert_int_eq(conf.api_enabled, 0);
	ck_assert_str_eq(conf.api_listen, "[::1]:0");
	snprintf(want, sizeof(want), "%s/api.crt", tmpdir);
	ck_assert_str_eq(conf.api_cert, want);
	ck_assert_str_eq(conf.api_key, "/k/api.key");
	snprintf(want, sizeof(want), "%s/ca.crt", tmpdir);
	ck_assert_str_eq(conf.api_client_ca, want);
	snprintf(want, sizeof(want), "%s/web", tmpdir);
	ck_assert_str_eq(conf.api_web_root, want);
	snprintf(want, sizeof(want), "%s/spec.yaml", tmpdir);
	ck_assert_str_eq(conf.api_spec, want);
	ck_assert_int_eq(conf.api_spec_set, 1);
	ck_assert_uint_eq(conf.api_max_body, 64u << 10);
	ck_assert_uint_eq(conf.api_auth_fail_limit, 5);

	ck_assert_msg(load(REQ "[api]\nmax_connections = 10\nmax_connections_per_addr = 2\nmax_streams = 4\n"
			       "max_inflight_per_addr = 1M\nmax_inflight = 8M\nmax_exports_per_addr = 3\n"
			       "max_exports_per_user = 5\nexport_buffer = 16K\nregister_per_minute = 6\n"
			       "max_pending_sensors = 50\nthreads = 3\n") == 0,
		      "load failed: %s", err);
	ck_assert_uint_eq(conf.api_max_connections, 10);
	ck_assert_uint_eq(conf.api_max_connections_per_addr, 2);
	ck_assert_uint_eq(conf.api_max_streams, 4);
	ck_assert_uint_eq(conf.api_max_inflight_per_addr, 1u << 20);
	ck_assert_uint_eq(conf.api_max_inflight, 8u << 20);
	ck_assert_uint_eq(conf.api_max_exports_per_addr, 3);
	ck_assert_uint_eq(conf.api_max_exports_per_user, 5);
	ck_assert_uint_eq(conf.api_export_buffer, 16u << 10);
	ck_assert_uint_eq(conf.api_register_per_minute, 6);
	ck_assert_uint_eq(conf.api_max_pending_sensors, 50);
	ck_assert_uint_eq(conf.api_threads, 3);
	expect_error(REQ "[api]\nthreads = 257\n", 10, "api.threads: value '257' out of range");
	expect_error(REQ "[api]\nmax_streams = 101\n", 10, "api.max_streams: value '101' out of range");
	expect_error(REQ "[api]\nmax_streams = 0\n", 10, "api.max_streams: value '0' out of range");
	expect_error(REQ "[api]\nexport_buffer = 1K\n", 10, "api.export_buffer: value '1K' out of range");
	expect_error(REQ "[api]\nmax_connections_per_addr = 0\n", 10,
		     "api.max_connections_per_addr: value '0' out of range");
	expect_error(REQ "[api]\nregister_per_minute = 0\n", 10, "api.register_per_minute: value '0' out of range");

	/* port 0 only for the API; ranges; unknown keys */
	expect_error(REQ "[ingest]\nlisten = 127.0.0.1:0\n", 10, "ingest.listen: bad address");
	expect_error(REQ "[api]\nlisten = 127.0.0.1\n", 10, "api.listen: bad address");
	expect_error(REQ "[api]\nmax_body = 100\n", 10, "api.max_body: value '100' out of range");
	expect_error(REQ "[api]\nauth_fail_limit = 0\n", 10, "api.auth_fail_limit: value '0' out of range");
	expect_error(REQ "[api]\nenabled = maybe\n", 10, "api.enabled: bad value");
	expect_error(REQ "[api]\nport = 1\n", 10, "unknown key 'port' in section [api]");
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_minimal_keeps_defaults);
	tcase_add_test(tc, test_every_key);
	tcase_add_test(tc, test_syntax_variants);
	tcase_add_test(tc, test_tlp_values);
	tcase_add_test(tc, test_error_unknown_key);
	tcase_add_test(tc, test_error_unknown_section);
	tcase_add_test(tc, test_error_duplicate);
	tcase_add_test(tc, test_inline_comments);
	tcase_add_test(tc, test_example_lists_every_key);
	tcase_add_test(tc, test_manpage_lists_every_key);
	tcase_add_test(tc, test_error_missing_required);
	tcase_add_test(tc, test_identity_optional_and_federation);
	tcase_add_test(tc, test_federation_sender_timing);
	tcase_add_test(tc, test_federation_own_networks);
	tcase_add_test(tc, test_upstream_section);
	tcase_add_test(tc, test_error_shared_secret_needs_key);
	tcase_add_test(tc, test_error_bad_values);
	tcase_add_test(tc, test_error_secret_not_echoed);
	tcase_add_test(tc, test_error_nul_byte);
	tcase_add_test(tc, test_error_file);
	tcase_add_test(tc, test_parse_size);
	tcase_add_test(tc, test_parse_duration);
	tcase_add_test(tc, test_parse_listen);
	tcase_add_test(tc, test_path_resolution);
	tcase_add_test(tc, test_api_section);
	tcase_add_test(tc, test_backscatter_section);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
