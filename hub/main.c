/* d4hub — the hub daemon: D4 TLS ingest into the LMDB store.
 *
 *   d4hub -c FILE [-n] [-d] [-l LEVEL]
 *
 * -n checks the configuration and certificates and exits; -d stays in the
 * foreground and logs to stderr (otherwise: daemonize, log to syslog).
 * SIGTERM/SIGINT stop intake, commit everything accepted, exit 0. */
#include "d4_analyze.h"
#include "d4_api.h"
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_upstream.h"
#include "d4_hubconf.h"
#include "d4_ingest.h"
#include "d4_log.h"
#include "d4_store.h"
#include "d4_store_partner.h"
#include "d4_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: d4hub -c FILE [-n] [-d] [-l LEVEL]\n"
		   "  -c FILE   configuration file (every key: d4hub.conf.example)\n"
		   "  -n        check configuration and certificates, print the addresses\n"
		   "            d4hub would listen on, then exit\n"
		   "  -d        stay in the foreground, log to stderr\n"
		   "  -l LEVEL  log level: error|warning|notice|info|debug\n"
		   "  -h, --help  this text\n");
}

/* d4hub -n: what the hub would listen on and connect to, so that an
 * operator sees the ports before a start collides with another program. */
static void print_addresses(const struct d4_hubconf *conf)
{
	printf("D4 ingest:   %s (ingest.listen, D4 over TLS)\n", conf->listen);
	if (conf->api_enabled)
		printf("REST API:    %s (api.listen, HTTPS%s)\n", conf->api_listen,
		       strrchr(conf->api_listen, ':') && !strcmp(strrchr(conf->api_listen, ':'), ":0")
			   ? "; port 0: a free port, logged at start"
			   : "");
	else
		printf("REST API:    off (api.enabled = no)\n");
	if (conf->fed_listen[0])
		printf("federation:  %s (federation.listen, mutual TLS)\n", conf->fed_listen);
	else
		printf("federation:  not listening (federation.listen not set)\n");
	if (conf->up_dest[0])
		printf("upstream:    connects to %s (upstream.destination)\n", conf->up_dest);
}

/* store.path must exist as a writable directory or be creatable. */
static int check_store_path(const char *path, char *err, size_t errsize)
{
	struct stat sb;
	if (stat(path, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode)) {
			snprintf(err, errsize, "store.path %s: not a directory", path);
			return -1;
		}
		if (access(path, W_OK | X_OK) != 0) {
			snprintf(err, errsize, "store.path %s: %s", path, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT) {
		snprintf(err, errsize, "store.path %s: %s", path, strerror(errno));
		return -1;
	}
	char tmp[D4_PATH_MAX];
	d4_strlcpy(tmp, path, sizeof(tmp));
	/* the nearest existing ancestor must let us create the rest */
	for (;;) {
		char *parent = dirname(tmp);
		if (stat(parent, &sb) == 0) {
			if (!S_ISDIR(sb.st_mode) || access(parent, W_OK | X_OK) != 0) {
				snprintf(err, errsize, "store.path %s: cannot create it in %s", path, parent);
				return -1;
			}
			return 0;
		}
		if (errno != ENOENT || strcmp(parent, "/") == 0 || strcmp(parent, ".") == 0) {
			snprintf(err, errsize, "store.path %s: %s", path, strerror(errno));
			return -1;
		}
		memmove(tmp, parent, strlen(parent) + 1);
	}
}

static void api_opts(const struct d4_hubconf *conf, struct d4_api_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->listen = conf->api_listen;
	o->cert = conf->api_cert;
	o->key = conf->api_key;
	o->client_ca = conf->api_client_ca;
	o->web_root = conf->api_web_root;
	o->spec_path = conf->api_spec;
	o->max_body = conf->api_max_body;
	o->auth_fail_limit = conf->api_auth_fail_limit;
}

/* federation.own_networks as the sender's policy reads them (checked by the
 * configuration's loader; lives as long as the process) */
static struct d4_partner_net g_own_nets[D4_FED_OWN_NETS_MAX];

static void sender_opts(const struct d4_hubconf *conf, struct d4_fed_sender_opts *o)
{
	memset(o, 0, sizeof(*o));
	memcpy(o->self.hub, conf->hub_uuid, 16);
	memcpy(o->self.org, conf->org, 16);
	o->self.default_tlp = (enum d4_tlp)conf->default_tlp;
	char err[128];
	if (d4_fed_nets_parse_list(conf->fed_own_networks, g_own_nets, D4_FED_OWN_NETS_MAX, &o->self.n_own_nets, err,
				   sizeof(err)) == 0)
		o->self.own_nets = g_own_nets;
	else
		o->self.n_own_nets = 0; /* the loader refused it already */
	o->self.sign_sk = conf->has_fed_sign ? conf->fed_sign_sk : NULL;
	o->cert = conf->fed_cert;
	o->key = conf->fed_key;
	o->pdns_csv_fields = conf->pdns_csv_fields;
	o->pdns_csv_separator = conf->pdns_csv_separator;
	o->poll_ms = conf->fed_poll_ms;
	o->backoff_min_ms = conf->fed_backoff_min_ms;
	o->backoff_max_ms = conf->fed_backoff_max_ms;
	o->timeout_ms = conf->fed_timeout_ms;
	o->inflight = conf->fed_inflight;
}

/* [upstream] into o: the streams parsed, the key read from its file into
 * key (the caller wipes it), the CA loadable. 0, or D4_ECONFIG with a
 * message in err (d4hub -n and the start say the same). */
static int upstream_opts(const struct d4_hubconf *conf, struct d4_upstream_opts *o, uint8_t *key, char *state,
			 size_t statelen, char *err, size_t errsize)
{
	memset(o, 0, sizeof(*o));
	memcpy(o->self.hub, conf->hub_uuid, 16);
	memcpy(o->self.org, conf->org, 16);
	o->self.default_tlp = (enum d4_tlp)conf->default_tlp;
	char why[200];
	if (d4_upstream_streams_parse(conf->up_streams, o->streams, &o->nstreams, why, sizeof(why)) != 0) {
		snprintf(err, errsize, "upstream.streams: %s", why);
		return D4_ECONFIG;
	}
	if (d4_upstream_key_read(conf->up_key_file, key, &o->keylen, err, errsize) != 0)
		return D4_ECONFIG;
	if (conf->up_ca[0] && d4_upstream_ca_check(conf->up_ca, err, errsize) != 0)
		return D4_ECONFIG;
	o->key = key;
	memcpy(o->uuid, conf->up_uuid, 16);
	o->dest = conf->up_dest;
	o->ca = conf->up_ca;
	o->server_name = conf->up_server_name;
	o->insecure = conf->up_insecure;
	o->max_tlp = conf->up_max_tlp;
	o->relay = conf->up_relay;
	if (conf->up_state[0])
		snprintf(state, statelen, "%s", conf->up_state);
	else
		snprintf(state, statelen, "%.*s/upstream", (int)(statelen > 16 ? statelen - 16 : 0), conf->store_path);
	o->state_dir = state;
	o->poll_ms = conf->up_poll_ms;
	o->backoff_min_ms = conf->up_backoff_min_ms;
	o->backoff_max_ms = conf->up_backoff_max_ms;
	return D4_OK;
}

static void pdns_opts(const struct d4_hubconf *conf, struct d4_analyze_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->pdns_enabled = conf->pdns_enabled;
	o->pdns.csv_fields = conf->pdns_csv_fields;
	o->pdns.csv_separator = conf->pdns_csv_separator;
	o->pdns.batch = conf->pdns_batch;
	o->pdns.txn_ms = conf->pdns_txn_ms;
	o->pdns.retention_s = conf->pdns_retention;
}

/* [pssl] weak_* into o->weak. */
static void weak_opts(const struct d4_hubconf *conf, struct d4_analyze_opts *o)
{
	memset(&o->weak, 0, sizeof(o->weak));
	o->weak_enabled = conf->pssl_weak_enabled;
	o->weak.interval_s = conf->pssl_weak_interval;
	o->weak.batch = conf->pssl_weak_batch;
	o->weak.max_keys = conf->pssl_weak_max_keys;
	o->weak.max_bytes = conf->pssl_weak_max_bytes;
	o->weak.nice = conf->pssl_weak_nice ? (int)conf->pssl_weak_nice : -1;
	o->weak.rescan_s = conf->pssl_weak_rescan;
}

/* [backscatter] into o->bs; the telescope prefixes go into tele (owned by
 * the caller, D4_ANALYZE_BS_TELESCOPE_MAX entries). 0 or D4_EINVAL with a
 * message. */
static int bs_opts(const struct d4_hubconf *conf, struct d4_analyze_opts *o, struct d4_bs_prefix *tele, char *err,
		   size_t errsize)
{
	o->bs_enabled = conf->bs_enabled;
	memset(&o->bs, 0, sizeof(o->bs));
	struct d4_bs_opts *a = &o->bs.agg;
	d4_bs_opts_default(a);
	size_t n = 0;
	if (d4_analyze_bs_telescope_parse(conf->bs_telescope, tele, D4_ANALYZE_BS_TELESCOPE_MAX, &n, err, errsize))
		return D4_EINVAL;
	a->telescope = n ? tele : NULL;
	a->n_telescope = n;
	a->live = conf->bs_live;
	a->live_window_s = conf->bs_live_window;
	a->idle_close_s = conf->bs_idle;
	a->min_packets = conf->bs_min_packets;
	a->min_duration_s = conf->bs_min_duration;
	a->min_peak_ppm = conf->bs_min_peak;
	a->update_s = conf->bs_update;
	a->max_vectors = conf->bs_max_vectors;
	o->bs.batch = conf->bs_batch;
	o->bs.retention_s = conf->bs_retention;
	return d4_analyze_bs_opts_check(&o->bs, err, errsize);
}

/* [pssl] into o->pssl. 0 or D4_EINVAL with a message. */
static int pssl_opts(const struct d4_hubconf *conf, struct d4_analyze_opts *o, char *err, size_t errsize)
{
	o->pssl_enabled = conf->pssl_enabled;
	memset(&o->pssl, 0, sizeof(o->pssl));
	struct d4_analyze_pssl_opts *p = &o->pssl;
	d4_tls_config_default(&p->tls);
	p->tls.max_flows = conf->pssl_tls_max_flows;
	p->tls.max_dir_bytes = conf->pssl_tls_max_dir_bytes;
	p->tls.max_bytes = conf->pssl_tls_max_bytes;
	p->tls.max_segments = conf->pssl_tls_max_segments;
	p->tls.idle_s = conf->pssl_tls_idle;
	p->batch = conf->pssl_batch;
	p->retention_s = conf->pssl_retention;
	p->max_sessions = conf->pssl_max_sessions;
	p->max_line = (size_t)conf->pssl_max_line;
	p->max_buffered = (size_t)conf->pssl_max_buffered;
	return d4_analyze_pssl_opts_check(p, err, errsize);
}

/* The hub uuid -n checks the federation certificate against: the
 * configuration's, else the one the store keeps (read-only; a store that
 * was never started has none yet). 0 or -1 with a message. */
static int check_hub_uuid(const struct d4_hubconf *conf, uint8_t hub[16])
{
	if (conf->has_hub_uuid) {
		memcpy(hub, conf->hub_uuid, 16);
		return 0;
	}
	struct d4_store_opts so;
	memset(&so, 0, sizeof(so));
	so.path = conf->store_path;
	so.read_only = 1;
	struct d4_store *st = NULL;
	uint8_t org[16];
	char mdb[D4_PATH_MAX + 16];
	snprintf(mdb, sizeof(mdb), "%s/data.mdb", conf->store_path);
	/* no store yet: say so without an open that would log its failure */
	int rc = access(mdb, R_OK) == 0 ? d4_store_open(&so, &st) : D4_ENOTFOUND;
	if (rc == 0) {
		rc = d4_store_identity_get(st, hub, org);
		d4_store_close(st);
	}
	if (rc != 0) {
		fprintf(stderr,
			"d4hub: federation.cert: cannot check its subjectAltName: hub.uuid is not in the configuration "
			"and the store %s %s (set hub.uuid, or start the hub once so that it generates one)\n",
			conf->store_path, rc == D4_ENOTFOUND ? "has none yet" : "cannot be read");
		return -1;
	}
	return 0;
}

/* d4hub -n: the federation certificate (EKU, SAN urn:uuid, key, validity,
 * chain to federation.ca). */
static int check_federation(const struct d4_hubconf *conf)
{
	uint8_t hub[16];
	char err[1024];
	if (check_hub_uuid(conf, hub) != 0)
		return -1;
	if (d4_fed_cert_check(conf->fed_cert, conf->fed_key, conf->fed_ca, hub, time(NULL), err, sizeof(err)) != 0) {
		fprintf(stderr, "d4hub: %s\n", err);
		return -1;
	}
	return 0;
}

static int check_config(const struct d4_hubconf *conf)
{
	char err[512];
	SSL_CTX *ctx = NULL;
	if (d4_ingest_tls_ctx(conf->cert, conf->key, &ctx, err, sizeof(err)) != 0) {
		fprintf(stderr, "d4hub: %s\n", err);
		return 1;
	}
	SSL_CTX_free(ctx);
	if (conf->api_enabled) {
		struct d4_api_opts ao;
		api_opts(conf, &ao);
		if (d4_api_check_tls(&ao, err, sizeof(err)) != 0) {
			fprintf(stderr, "d4hub: %s\n", err);
			return 1;
		}
		/* an explicit api.spec must be there (without one, the copy
		 * built into d4hub is served) */
		if (conf->api_spec[0] && access(conf->api_spec, R_OK) != 0) {
			if (conf->api_spec_set) {
				fprintf(stderr, "d4hub: api.spec %s: %s\n", conf->api_spec, strerror(errno));
				return 1;
			}
			fprintf(stderr, "d4hub: warning: %s: %s (/openapi.yaml will answer 404; set api.spec)\n",
				conf->api_spec, strerror(errno));
		}
	}
	if (check_store_path(conf->store_path, err, sizeof(err)) != 0) {
		fprintf(stderr, "d4hub: %s\n", err);
		return 1;
	}
	if (conf->fed_cert[0] && check_federation(conf) != 0)
		return 1;
	if (conf->up_dest[0]) {
		struct d4_upstream_opts uo;
		uint8_t key[D4_UPSTREAM_KEY_MAX];
		char state[D4_PATH_MAX + 16];
		int urc = upstream_opts(conf, &uo, key, state, sizeof(state), err, sizeof(err));
		d4_wipe(key, sizeof(key));
		if (urc != 0) {
			fprintf(stderr, "d4hub: %s\n", err);
			return 1;
		}
	}
	if (conf->pdns_enabled) {
		struct d4_analyze_opts ao;
		pdns_opts(conf, &ao);
		if (d4_analyze_pdns_opts_check(&ao.pdns, err, sizeof(err)) != 0) {
			fprintf(stderr, "d4hub: %s\n", err);
			return 1;
		}
	}
	if (conf->bs_enabled) {
		struct d4_analyze_opts ao;
		struct d4_bs_prefix tele[D4_ANALYZE_BS_TELESCOPE_MAX];
		memset(&ao, 0, sizeof(ao));
		if (bs_opts(conf, &ao, tele, err, sizeof(err)) != 0) {
			fprintf(stderr, "d4hub: %s\n", err);
			return 1;
		}
	}
	if (conf->pssl_enabled) {
		struct d4_analyze_opts ao;
		memset(&ao, 0, sizeof(ao));
		if (pssl_opts(conf, &ao, err, sizeof(err)) != 0) {
			fprintf(stderr, "d4hub: %s\n", err);
			return 1;
		}
	}
	if (conf->pssl_weak_enabled) {
		struct d4_analyze_opts ao;
		memset(&ao, 0, sizeof(ao));
		weak_opts(conf, &ao);
		if (d4_analyze_weak_opts_check(&ao.weak, err, sizeof(err)) != 0) {
			fprintf(stderr, "d4hub: %s\n", err);
			return 1;
		}
	}
	print_addresses(conf);
	printf("configuration OK\n");
	return 0;
}

/* Forks; the parent waits until the child reports that it is listening (or
 * failed) so that "d4hub -c FILE" returns a meaningful exit code. */
static int daemonize(int *notify_fd)
{
	int p[2];
	if (pipe(p) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		/* the child writes a status byte, then on failure its message */
		char buf[600];
		size_t got = 0;
		for (;;) {
			ssize_t n = read(p[0], buf + got, sizeof(buf) - 1 - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		buf[got] = 0;
		if (got >= 1 && buf[0] == 0)
			_exit(0);
		fprintf(stderr, "d4hub: %s\n", got > 1 ? buf + 1 : "failed to start (see syslog)");
		_exit(1);
	}
	close(p[0]);
	if (setsid() < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	umask(027);
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	*notify_fd = p[1];
	return 0;
}

static void notify(int *fd, char status, const char *msg)
{
	if (*fd < 0)
		return;
	char buf[600];
	int n = snprintf(buf, sizeof(buf), "%c%s", status, msg ? msg : "");
	if (n < 1)
		n = 1;
	if ((size_t)n >= sizeof(buf))
		n = (int)sizeof(buf) - 1;
	if (write(*fd, buf, (size_t)n) != n)
		d4_debug("cannot notify the parent process");
	close(*fd);
	*fd = -1;
}

static int write_pid(const char *path)
{
	char tmp[D4_PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *cfile = NULL, *level = NULL;
	int check = 0, foreground = 0, opt;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
	while ((opt = getopt(argc, argv, "c:ndl:h")) != -1) {
		switch (opt) {
		case 'c': cfile = optarg; break;
		case 'n': check = 1; break;
		case 'd': foreground = 1; break;
		case 'l': level = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!cfile || optind != argc) {
		usage(stderr);
		return 2;
	}

	static struct d4_hubconf conf;
	char err[512];
	if (d4_hubconf_load(cfile, &conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "d4hub: %s\n", err);
		return 1;
	}
	enum d4_log_level lvl = D4_LOG_INFO;
	if (d4_log_level_parse(level ? level : conf.log_level, &lvl) != 0) {
		fprintf(stderr, "d4hub: bad log level '%s'\n", level ? level : conf.log_level);
		return level ? 2 : 1;
	}
	if (check)
		return check_config(&conf);

	int notify_fd = -1;
	if (!foreground && daemonize(&notify_fd) != 0) {
		fprintf(stderr, "d4hub: cannot daemonize: %s\n", strerror(errno));
		return 1;
	}
	d4_log_init("d4hub", !foreground || conf.syslog, lvl);
	signal(SIGPIPE, SIG_IGN);

	/* Every thread inherits this mask; only the signalfd sees the signals. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0) {
		d4_err("cannot block signals");
		notify(&notify_fd, 1, "cannot block signals");
		return 1;
	}
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		d4_err("signalfd: %s", strerror(errno));
		notify(&notify_fd, 1, "signalfd failed");
		return 1;
	}

	struct d4_store_opts so;
	memset(&so, 0, sizeof(so));
	so.path = conf.store_path;
	so.map_size = conf.map_size;
	so.commit_ms = conf.commit_ms;
	so.commit_bytes = (size_t)conf.commit_bytes;
	so.queue_bytes = (size_t)conf.queue_bytes;
	so.frame_cache = conf.frame_cache;
	so.retention_age_s = conf.retention_age;
	so.retention_bytes = conf.retention_bytes;
	so.pdns_layout = conf.pdns_id_layout ? D4_STORE_PDNS_LAYOUT_ID : 0;
	struct d4_store *store = NULL;
	int rc = d4_store_open(&so, &store);
	if (rc != 0) {
		snprintf(err, sizeof(err), "cannot open the store %.400s: %s", conf.store_path, d4_strerror(rc));
		d4_err("%s", err);
		notify(&notify_fd, 1, err);
		return 1;
	}
	/* The hub's identity: configured, else kept in the store (generated
	 * at the first start). Ingest and API read it from conf. */
	unsigned id_changed = 0;
	rc = d4_store_identity(store, conf.has_hub_uuid ? conf.hub_uuid : NULL, conf.has_org ? conf.org : NULL,
			       conf.hub_uuid, conf.org, &id_changed);
	if (rc != 0) {
		snprintf(err, sizeof(err), "cannot read or keep the hub's identity in the store: %s", d4_strerror(rc));
		d4_err("%s", err);
		d4_store_close(store);
		notify(&notify_fd, 1, err);
		return 1;
	}
	{
		char hu[D4_UUID_HEX_LEN + 1], ou[D4_UUID_HEX_LEN + 1];
		d4_uuid_hex(conf.hub_uuid, hu);
		d4_uuid_hex(conf.org, ou);
		d4_notice("hub uuid %s (%s), org uuid %s (%s)", hu,
			  conf.has_hub_uuid ? "configured" : "kept in the store", ou,
			  conf.has_org ? "configured" : "kept in the store");
		if (id_changed)
			d4_warn("the configured %s differs from the one the store kept until now: the configuration's "
				"is used and kept; partner hubs that know the old one must be told",
				id_changed == 3	  ? "hub.uuid and hub.org"
				: id_changed == 1 ? "hub.uuid"
						  : "hub.org");
	}
	{
		/* The signing key of this hub's records (docs/federation.md "Signed
		 * provenance"): kept in the store like the identity. */
		uint8_t seed[32];
		int created = 0;
		rc = d4_store_sign_seed(store, seed, &created);
		if (rc == 0)
			rc = d4_fed_sign_keypair(seed, conf.fed_sign_pk, conf.fed_sign_sk);
		d4_wipe(seed, sizeof(seed));
		if (rc != 0) {
			snprintf(err, sizeof(err), "cannot read or keep the hub's signing key in the store: %s",
				 d4_strerror(rc));
			d4_err("%s", err);
			d4_store_close(store);
			notify(&notify_fd, 1, err);
			return 1;
		}
		conf.has_fed_sign = 1;
		char b64[D4_FED_PUBKEY_B64_LEN + 1];
		d4_fed_pubkey_b64(conf.fed_sign_pk, b64);
		d4_notice("federation signing key %s (%s)", b64,
			  created ? "generated, kept in the store" : "kept in the store");
	}
	rc = d4_store_writer_start(store);
	if (rc != 0) {
		snprintf(err, sizeof(err), "cannot start the store writer: %s", d4_strerror(rc));
		d4_err("%s", err);
		d4_store_close(store);
		notify(&notify_fd, 1, err);
		return 1;
	}
	/* The analyzers only read committed frames: started before intake so
	 * that sessions older than this start are known to be dead (their
	 * connections died with the previous process). */
	struct d4_analyze *ana = NULL;
	static struct d4_bs_prefix bs_tele[D4_ANALYZE_BS_TELESCOPE_MAX];
	if (conf.pdns_enabled || conf.bs_enabled || conf.pssl_enabled || conf.pssl_weak_enabled) {
		struct d4_analyze_opts ano;
		pdns_opts(&conf, &ano);
		weak_opts(&conf, &ano);
		ano.pdns.sessions_dead_before = d4_now_s();
		rc = bs_opts(&conf, &ano, bs_tele, err, sizeof(err)) == 0 ? 0 : D4_EINVAL;
		ano.bs.sessions_dead_before = ano.pdns.sessions_dead_before;
		if (rc == 0)
			rc = pssl_opts(&conf, &ano, err, sizeof(err)) == 0 ? 0 : D4_EINVAL;
		ano.pssl.sessions_dead_before = ano.pdns.sessions_dead_before;
		if (rc == 0)
			rc = d4_analyze_start(store, &ano, &ana);
		else
			d4_err("%s", err);
		if (rc != 0) {
			snprintf(err, sizeof(err),
				 "cannot start the analyzers (pDNS ingest, backscatter, passive SSL): %s",
				 d4_strerror(rc));
			d4_err("%s", err);
			d4_store_close(store);
			notify(&notify_fd, 1, err);
			return 1;
		}
	}
	struct d4_ingest *ing = NULL;
	rc = d4_ingest_start(&conf, store, &ing, err, sizeof(err));
	if (rc != 0) {
		d4_err("cannot start ingest: %s", err);
		d4_analyze_stop(ana);
		d4_store_close(store);
		notify(&notify_fd, 1, err);
		return 1;
	}
	/* The sender thread (push to and fetch from partners): with the hub's
	 * federation identity. It reads the log and submits received batches
	 * to the writer; the API reads its status, so it starts before the
	 * API and stops after it, before the writer. */
	struct d4_fed_sender *sender = NULL;
	if (conf.fed_cert[0] && conf.fed_key[0]) {
		struct d4_fed_sender_opts fo;
		sender_opts(&conf, &fo);
		rc = d4_fed_sender_start(store, &fo, &sender);
		if (rc != 0) {
			snprintf(err, sizeof(err), "cannot start the federation sender: %s", d4_strerror(rc));
			d4_err("%s", err);
			d4_ingest_stop(ing);
			d4_analyze_stop(ana);
			d4_store_close(store);
			notify(&notify_fd, 1, err);
			return 1;
		}
	}
	/* The upstream relay: reads the log like the sender; the API reads
	 * its status. */
	struct d4_upstream *upstream = NULL;
	if (conf.up_dest[0]) {
		struct d4_upstream_opts uo;
		uint8_t ukey[D4_UPSTREAM_KEY_MAX];
		char ustate[D4_PATH_MAX + 16];
		rc = upstream_opts(&conf, &uo, ukey, ustate, sizeof(ustate), err, sizeof(err));
		if (rc == 0 && (rc = d4_upstream_start(store, &uo, &upstream)) != 0)
			snprintf(err, sizeof(err), "cannot start the upstream relay: %s", d4_strerror(rc));
		d4_wipe(ukey, sizeof(ukey));
		if (rc != 0) {
			d4_err("%s", err);
			d4_fed_sender_stop(sender);
			d4_ingest_stop(ing);
			d4_analyze_stop(ana);
			d4_store_close(store);
			notify(&notify_fd, 1, err);
			return 1;
		}
	}
	struct d4_api *api = NULL;
	if (conf.api_enabled) {
		struct d4_api_opts ao;
		api_opts(&conf, &ao);
		ao.fed_sender = sender;
		ao.upstream = upstream;
		if (conf.api_spec[0] && access(conf.api_spec, R_OK) != 0)
			d4_warn("api.spec %s: %s (/openapi.yaml will answer 404)", conf.api_spec, strerror(errno));
		rc = d4_api_start(&ao, store, &conf, &api);
		if (rc != 0) {
			snprintf(err, sizeof(err), "cannot start the API on %.200s: %s", conf.api_listen,
				 d4_strerror(rc));
			d4_err("%s", err);
			d4_upstream_stop(upstream);
			d4_fed_sender_stop(sender);
			d4_ingest_stop(ing);
			d4_analyze_stop(ana);
			d4_store_close(store);
			notify(&notify_fd, 1, err);
			return 1;
		}
	}
	/* Ingest holds its own copy of the key. shared_keylen stays: the API
	 * reports whether the config has a shared key (never the key). */
	d4_wipe(conf.shared_key, sizeof(conf.shared_key));
	if (conf.pid_file[0] && write_pid(conf.pid_file) != 0)
		d4_warn("cannot write pid file %s: %s", conf.pid_file, strerror(errno));
	d4_notice("d4hub listening on %s", d4_ingest_addr(ing));
	notify(&notify_fd, 0, NULL);

	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n = read(sfd, &si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si)) {
			d4_err("signalfd read: %s", strerror(errno));
			break;
		}
		if (si.ssi_signo == SIGHUP) {
			d4_notice("SIGHUP: nothing to reload yet (admin changes apply through the store)");
			continue;
		}
		d4_notice("%s: stopping", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	}
	/* the API reads the store and may queue admin changes: stop it first */
	d4_api_stop(api);
	/* the sender may wait for the writer (a fetched batch): before it */
	d4_upstream_stop(upstream);
	d4_fed_sender_stop(sender);
	d4_ingest_stop(ing);
	d4_analyze_stop(ana);
	d4_store_writer_stop(store);
	struct d4_store_status st;
	d4_store_status_get(store, &st);
	d4_wipe(conf.fed_sign_sk, sizeof(conf.fed_sign_sk));
	d4_store_close(store);
	if (conf.pid_file[0])
		unlink(conf.pid_file);
	close(sfd);
	d4_notice("d4hub stopped: %" PRIu64 " frames committed", st.committed_frames);
	return 0;
}
