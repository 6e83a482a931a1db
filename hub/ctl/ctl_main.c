/* d4hubctl — administration of a d4hub store: sensors, blocklists, types,
 * and read-back of sessions, frames, statistics and status. Every command
 * the API has an operation for runs that operation (ctl_remote.c): with
 * -H URL over HTTPS, locally (-c/-s) in-process on the LMDB store through
 * the API's own dispatcher and handlers (ctl_http.c, api/local.c), with
 * synchronous store calls (never the writer), so it is safe to run while
 * d4hub is running: the hub notices changes through the store's control
 * epoch. The rest (status, the whole frame log, user role, server mode,
 * partners) reads the store directly in local mode. */
#include "ctl_internal.h"
#include "d4_error.h"
#include "d4_hubconf.h"
#include "d4_log.h"
#include "d4_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: d4hubctl (-c HUBCONF | -s STOREDIR) [--json] COMMAND ...\n"
    "       d4hubctl -H URL [--cacert FILE | --insecure] [--token-file FILE | -T TOKEN] [--timeout SECONDS]\n"
    "                [--json] COMMAND ...   (remote: through the hub's REST API)\n"
    "  -H URL also from $D4HUB_URL (when neither -c nor -s is given); the token also from $D4HUB_TOKEN.\n"
    "  Prefer --token-file or $D4HUB_TOKEN: a -T argument is visible to other users in ps.\n"
    "  sensor add UUID (--key KEY | --key-file FILE | --gen-key) [--desc TEXT] [--approve]\n"
    "  sensor approve|block|unblock|del UUID\n"
    "  sensor refuse UUID [--block]\n"
    "  sensor kick UUID [--ban SECONDS]\n"
    "  sensor rotate-key UUID [--key KEY | --key-file FILE]\n"
    "  sensor set UUID [--desc T] [--mail M] [--tlp TAG] [--org UUID] [--max-payload N] [--max-backlog N]\n"
    "             [--silence SECONDS]   (silence alert threshold, 0 = not monitored)\n"
    "  sensor list | sensor show UUID | sensor silent\n"
    "  block add|del ip CIDR | uuid UUID | uuid-ips UUID ;  block list\n"
    "  types list | types enable N | types disable N\n"
    "  ext-types list | ext-types add NAME | ext-types del NAME\n"
    "  sessions [UUID]\n"
    "  frames [--session ID] [--from SEQ] [--payload [--with-meta]]\n"
    "  stats [--days N]\n"
    "  status\n"
    "  user add NAME --role admin|user|sensor_register [--label L]   (prints the first API token once)\n"
    "  user list | user del NAME | user role NAME ROLE\n"
    "  token create USER [--label L]   (prints the token once) | token list [USER] | token revoke ID\n"
    "  server mode [registration|shared-secret [--shared-key-file FILE]]   (show or set the ingest mode)\n"
    "  partner list | partner show NAME | partner status NAME | partner del NAME\n"
    "  partner add NAME --url URL --hub UUID --org UUID --relation same-org|partner|community|public\n"
    "              [--direction push|pull|both] [--ca PEMFILE] [--pin SPKI_SHA256_HEX] [--enable|--disable]\n"
    "              [--file PARTNER.json]   (rules: docs/federation.md)\n"
    "  partner set NAME [the options of add] [--pin none]\n"
    "  partner dry-run NAME [--kind frames|pdns|backscatter|certs] [--tlp TAG] [--tags T,T] [--should-not-sync] [--org "
    "UUID]\n"
    "              [--sensors U,U] [--type N] [--ext-type S] [--origin UUID] [--via U,U] [--stripped]\n"
    "              [--rrname N --rrtype N --rdata S] [--seen-count N --seen-sensors N] [--packets N --duration S]\n"
    "              [--server ADDR --sni NAME --names N,N]\n"
    "              | --file RECORD.json   (local: needs -c HUBCONF)\n"
    "Exit status: 0 success, 1 error, 2 usage error.\n";

static void vmsg(struct ctl *c, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void vmsg(struct ctl *c, const char *fmt, va_list ap)
{
	char buf[1024];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (c && c->cmd)
		fprintf(stderr, "d4hubctl: %s: %s\n", c->cmd, buf);
	else
		fprintf(stderr, "d4hubctl: %s\n", buf);
}

int ctl_fail(struct ctl *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(c, fmt, ap);
	va_end(ap);
	return CTL_ERR;
}

int ctl_usage(struct ctl *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(c, fmt, ap);
	va_end(ap);
	fputs("Run 'd4hubctl --help' for usage.\n", stderr);
	return CTL_USAGE;
}

int ctl_store(struct ctl *c, int write)
{
	if (c->st && (c->st_write || !write))
		return CTL_OK;
	if (c->st) {
		d4_api_local_free(c->api); /* it holds the old handle */
		c->api = NULL;
		d4_store_close(c->st);
		c->st = NULL;
	}
	struct stat sb;
	if (!write && stat(c->store_path, &sb) != 0)
		return ctl_fail(c, "cannot open store %s: %s", c->store_path, strerror(errno));
	struct d4_store_opts o;
	memset(&o, 0, sizeof(o));
	o.path = c->store_path;
	o.map_size = c->map_size;
	o.pdns_layout = c->pdns_layout;
	o.read_only = !write;
	int rc = d4_store_open(&o, &c->st);
	if (rc != D4_OK) {
		c->st = NULL;
		return ctl_fail(c, "cannot open store %s%s: %s", c->store_path, write ? "" : " (read-only)",
				d4_strerror(rc));
	}
	c->st_write = write;
	return CTL_OK;
}

int ctl_parse(struct ctl *c, int argc, char **argv, const struct ctl_opt *defs, const char **pos, int minpos,
	      int maxpos, int *npos)
{
	int n = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--json")) {
			c->json = 1;
			continue;
		}
		if (a[0] == '-' && a[1] == '-' && a[2]) {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t nl = eq ? (size_t)(eq - name) : strlen(name);
			const struct ctl_opt *d = defs;
			for (; d && d->name; d++)
				if (strlen(d->name) == nl && !strncmp(d->name, name, nl))
					break;
			if (!d || !d->name)
				return ctl_usage(c, "unknown option '%s'", a);
			if (d->has_arg) {
				if (eq)
					*d->val = eq + 1;
				else if (i + 1 < argc)
					*d->val = argv[++i];
				else
					return ctl_usage(c, "option --%s needs a value", d->name);
			} else {
				if (eq)
					return ctl_usage(c, "option --%s takes no value", d->name);
				*d->flag = 1;
			}
			continue;
		}
		if (n >= maxpos)
			return ctl_usage(c, "unexpected argument '%s'", a);
		pos[n++] = a;
	}
	if (n < minpos)
		return ctl_usage(c, "missing argument (see usage)");
	if (npos)
		*npos = n;
	return CTL_OK;
}

int ctl_arg_uuid(struct ctl *c, const char *what, const char *s, uint8_t out[16])
{
	if (d4_uuid_parse(s, out) != D4_OK)
		return ctl_usage(c, "bad %s '%s': expected 32 hex digits (dashes optional)", what, s);
	return CTL_OK;
}

int ctl_arg_u64(struct ctl *c, const char *what, const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return ctl_usage(c, "bad %s '': expected a number", what);
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return ctl_usage(c, "bad %s '%s': expected a number", what, s);
		unsigned d = (unsigned)(*p - '0');
		if (v > (max - d) / 10)
			return ctl_usage(c, "bad %s '%s': larger than %llu", what, s, (unsigned long long)max);
		v = v * 10 + d;
	}
	*out = v;
	return CTL_OK;
}

int ctl_arg_size(struct ctl *c, const char *what, const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v;
	if (d4_hubconf_parse_size(s, &v) != D4_OK)
		return ctl_usage(c, "bad %s '%s': expected bytes with optional K/M/G/T suffix", what, s);
	if (v > max)
		return ctl_usage(c, "bad %s '%s': larger than %llu", what, s, (unsigned long long)max);
	*out = v;
	return CTL_OK;
}

int ctl_arg_duration(struct ctl *c, const char *what, const char *s, uint64_t *out)
{
	if (d4_hubconf_parse_duration(s, out) != D4_OK)
		return ctl_usage(c, "bad %s '%s': expected seconds with optional s/m/h/d suffix", what, s);
	return CTL_OK;
}

static const struct {
	const char *name;
	int (*fn)(struct ctl *c, int argc, char **argv);
} commands[] = {
    {"sensor", ctl_cmd_sensor},	      {"block", ctl_cmd_block},	      {"types", ctl_cmd_types},
    {"ext-types", ctl_cmd_ext_types}, {"sessions", ctl_cmd_sessions}, {"frames", ctl_cmd_frames},
    {"stats", ctl_cmd_stats},	      {"status", ctl_cmd_status},     {"user", ctl_cmd_user},
    {"token", ctl_cmd_token},	      {"server", ctl_cmd_server},     {"partner", ctl_cmd_partner},
};

/* A token is sent in an HTTP header: only visible ASCII, so that nothing
 * read from a file or the environment can add a header line. */
static int token_ok(const char *t)
{
	if (!*t || strlen(t) > 1024)
		return 0;
	for (; *t; t++)
		if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f)
			return 0;
	return 1;
}

/* Takes a token (from -T or the environment) into a heap copy and wipes
 * the source, which stays readable in /proc otherwise. */
static int take_token(struct ctl *c, char *src, const char *from)
{
	int ok = token_ok(src);
	if (ok && !(c->token = strdup(src))) {
		d4_wipe(src, strlen(src));
		return ctl_fail(NULL, "out of memory");
	}
	d4_wipe(src, strlen(src));
	if (!ok)
		return ctl_usage(NULL, "the token from %s is empty or has spaces or control characters", from);
	return CTL_OK;
}

static int read_token_file(struct ctl *c, const char *path)
{
	char buf[1100];
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
	if (fd < 0)
		return ctl_fail(NULL, "cannot open token file %s: %s", path, strerror(errno));
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			d4_wipe(buf, sizeof(buf));
			return ctl_fail(NULL, "cannot read token file %s: %s", path, strerror(e));
		}
		len += (size_t)n;
		if (n == 0 || len == sizeof(buf) - 1)
			break;
	}
	close(fd);
	/* Files usually end with a newline. */
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	buf[len] = '\0';
	if (strlen(buf) != len) {
		d4_wipe(buf, sizeof(buf));
		return ctl_fail(NULL, "token file %s holds binary data", path);
	}
	rc = take_token(c, buf, path);
	if (rc == CTL_USAGE)
		rc = CTL_ERR;
	d4_wipe(buf, sizeof(buf));
	return rc;
}

static int ascii_prefix(const char *s, const char *prefix)
{
	for (; *prefix; s++, prefix++)
		if (*s != *prefix && !(*s >= 'A' && *s <= 'Z' && *s + 32 == *prefix))
			return 0;
	return 1;
}

/* Remote-mode options (all need -H URL / D4HUB_URL), then the token. */
struct remote_opts {
	const char *url, *cacert, *token_file, *timeout;
	char *token_arg;
	int insecure, any;
};

/* A -T argument is wiped at exit whatever the path (usage errors included);
 * normally take_token has wiped it long before. */
static char *argv_token;
static void wipe_argv_token(void)
{
	if (argv_token)
		d4_wipe(argv_token, strlen(argv_token));
}

static int setup_remote(struct ctl *c, struct remote_opts *ro)
{
	int rc;
	if (!ascii_prefix(ro->url, "https://") || !ro->url[8])
		return ctl_usage(NULL, "the hub URL must start with https:// (got '%s')", ro->url);
	if (ro->cacert && ro->insecure)
		return ctl_usage(NULL, "give only one of --cacert or --insecure");
	if (ro->token_arg && ro->token_file)
		return ctl_usage(NULL, "give only one of -T or --token-file");
	if (ro->timeout) {
		uint64_t t;
		if (ctl_arg_duration(c, "--timeout", ro->timeout, &t) != CTL_OK)
			return CTL_USAGE;
		if (t == 0 || t > 86400)
			return ctl_usage(NULL, "bad --timeout '%s': 1 second to 1 day", ro->timeout);
		c->timeout = (long)t;
	}
	c->url = ro->url;
	c->cacert = ro->cacert;
	c->insecure = ro->insecure;
	if (ro->token_arg)
		return take_token(c, ro->token_arg, "-T");
	if (ro->token_file)
		return read_token_file(c, ro->token_file);
	char *env = getenv("D4HUB_TOKEN");
	if (env && *env) {
		rc = take_token(c, env, "D4HUB_TOKEN");
		unsetenv("D4HUB_TOKEN");
		return rc;
	}
	return ctl_usage(NULL, "no API token: give --token-file FILE or -T TOKEN, or set D4HUB_TOKEN");
}

int main(int argc, char **argv)
{
	struct ctl c;
	const char *conf_path = NULL, *store_dir = NULL;
	struct remote_opts ro;
	int i;

	memset(&ro, 0, sizeof(ro));
	atexit(wipe_argv_token);

	memset(&c, 0, sizeof(c));
	c.kick_ban = 30;
	/* Store and writer diagnostics go to stderr; only warnings and up. */
	d4_log_init("d4hubctl", 0, D4_LOG_WARN);

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			return CTL_OK;
		} else if (!strcmp(a, "--json")) {
			c.json = 1;
		} else if (!strcmp(a, "-c") || !strcmp(a, "-s")) {
			if (i + 1 >= argc)
				return ctl_usage(NULL, "option %s needs a value", a);
			if (a[1] == 'c')
				conf_path = argv[++i];
			else
				store_dir = argv[++i];
		} else if (!strcmp(a, "-H") || !strcmp(a, "--cacert") || !strcmp(a, "--token-file") ||
			   !strcmp(a, "-T") || !strcmp(a, "--timeout")) {
			if (i + 1 >= argc)
				return ctl_usage(NULL, "option %s needs a value", a);
			char *v = argv[++i];
			const char **dst = a[1] == 'H'			? &ro.url
					   : a[1] == 'T'		? (const char **)&ro.token_arg
					   : !strcmp(a, "--cacert")	? &ro.cacert
					   : !strcmp(a, "--token-file") ? &ro.token_file
									: &ro.timeout;
			if (*dst) {
				/* Either copy of a token would stay readable in /proc. */
				if (a[1] == 'T') {
					d4_wipe(v, strlen(v));
					d4_wipe(ro.token_arg, strlen(ro.token_arg));
				}
				return ctl_usage(NULL, "option %s given twice", a);
			}
			*dst = v;
			if (a[1] == 'T')
				argv_token = v;
			if (a[1] != 'H')
				ro.any = 1;
		} else if (!strcmp(a, "--insecure")) {
			ro.insecure = ro.any = 1;
		} else if (a[0] == '-') {
			return ctl_usage(NULL, "unknown option '%s'", a);
		} else {
			break;
		}
	}
	if (!conf_path && !store_dir && !ro.url) {
		const char *env = getenv("D4HUB_URL");
		if (env && *env)
			ro.url = env;
	}
	if ((conf_path != NULL) + (store_dir != NULL) + (ro.url != NULL) != 1)
		return ctl_usage(NULL, "give exactly one of -c HUBCONF or -s STOREDIR, or -H URL for a remote hub");
	if (!ro.url && ro.any)
		return ctl_usage(NULL, "--cacert, --insecure, --token-file, -T and --timeout need -H URL");
	if (i >= argc)
		return ctl_usage(NULL, "missing command");

	int (*fn)(struct ctl *, int, char **) = NULL;
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (!strcmp(argv[i], commands[k].name))
			fn = commands[k].fn;
	if (!fn)
		return ctl_usage(NULL, "unknown command '%s'", argv[i]);

	/* Static so that the config's secrets can be wiped at exit without
	 * a large struct on the stack. */
	static struct d4_hubconf conf;
	if (ro.url) {
		int r = setup_remote(&c, &ro);
		if (r != CTL_OK) {
			if (c.token) {
				d4_wipe(c.token, strlen(c.token));
				free(c.token);
			}
			return r;
		}
	} else if (conf_path) {
		char err[1200];
		if (d4_hubconf_load(conf_path, &conf, err, sizeof(err)) != D4_OK) {
			fprintf(stderr, "d4hubctl: %s\n", err);
			return CTL_ERR;
		}
		/* Only the store settings (and whether a key is set) are needed here. */
		c.conf_mode = conf.mode;
		c.conf_has_key = conf.shared_keylen > 0;
		c.has_identity = 1;
		c.hub_uuid_set = conf.has_hub_uuid;
		c.org_set = conf.has_org;
		memcpy(c.hub_uuid, conf.hub_uuid, 16);
		memcpy(c.org, conf.org, 16);
		c.default_tlp = conf.default_tlp;
		d4_strlcpy(c.own_networks, conf.fed_own_networks, sizeof(c.own_networks));
		d4_wipe(conf.shared_key, sizeof(conf.shared_key));
		c.conf_path = conf_path;
		c.store_path = conf.store_path;
		c.map_size = conf.map_size;
		c.pdns_layout = conf.pdns_id_layout ? D4_STORE_PDNS_LAYOUT_ID : 0;
		c.kick_ban = conf.kick_ban;
	} else {
		d4_hubconf_defaults(&conf);
		c.store_path = store_dir;
	}
	c.conf = &conf;

	c.cmd = argv[i];
	int rc = fn(&c, argc - i - 1, argv + i + 1);
	d4_api_local_free(c.api);
	if (c.st)
		d4_store_close(c.st);
	ctl_http_close(&c);
	if (c.token) {
		d4_wipe(c.token, strlen(c.token));
		free(c.token);
	}
	if (c.g)
		yajl_gen_free(c.g);
	if (fflush(stdout) != 0 && rc == CTL_OK)
		rc = ctl_fail(&c, "cannot write output: %s", strerror(errno));
	return rc;
}
