/* d4hub — hub configuration file parser (see d4_hubconf.h for the format). */
#include "d4_hubconf.h"
#include "d4_error.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* A config file is a few dozen lines; the cap only keeps a wrong path (a
 * device, a huge log) from being slurped. */
#define CONF_MAX_BYTES (1u << 20)

/* Where the OpenAPI description is when api.spec is not set: empty, the
 * copy built into the hub (no path of the build machine is compiled in). */
#ifndef D4_API_SPEC_DEFAULT
#define D4_API_SPEC_DEFAULT ""
#endif

enum kind {
	K_UUID,
	K_TLP,
	K_LOGLEVEL,
	K_BOOL,
	K_PATH,
	K_LISTEN,
	K_LISTEN0, /* like K_LISTEN, port 0 (any free port) allowed */
	K_MODE,
	K_SECRET,
	K_U32SIZE, /* bytes with suffix, into uint32_t */
	K_U64SIZE, /* bytes with suffix, into uint64_t */
	K_UDUR,	   /* seconds with suffix, into unsigned */
	K_U64DUR,  /* seconds with suffix, into uint64_t */
	K_UINT,	   /* plain integer, into unsigned */
	K_STR,	   /* text kept verbatim (not a path), into char[size] */
};

struct keydef {
	const char *name; /* "section.key" */
	enum kind kind;
	size_t off;
	size_t size; /* field size for strings/paths */
	uint64_t min, max;
	int required;
};

#define F(field) offsetof(struct d4_hubconf, field), sizeof(((struct d4_hubconf *)0)->field)

static const struct keydef keys[] = {
    /* Optional: d4hub generates them once and keeps them in the store
     * (docs/federation.md "Identity"); a configured value wins. */
    {"hub.uuid", K_UUID, F(hub_uuid), 0, 0, 0},
    {"hub.org", K_UUID, F(org), 0, 0, 0},
    {"hub.default_tlp", K_TLP, F(default_tlp), 0, 0, 0},
    {"hub.log_level", K_LOGLEVEL, F(log_level), 0, 0, 0},
    {"hub.syslog", K_BOOL, F(syslog), 0, 0, 0},
    {"hub.pid_file", K_PATH, F(pid_file), 0, 0, 0},
    {"ingest.listen", K_LISTEN, F(listen), 0, 0, 0},
    {"ingest.cert", K_PATH, F(cert), 0, 0, 1},
    {"ingest.key", K_PATH, F(key), 0, 0, 1},
    {"ingest.mode", K_MODE, F(mode), 0, 0, 0},
    {"ingest.shared_key", K_SECRET, F(shared_key), 0, 0, 0},
    /* A D4 payload size is a u32 on the wire. */
    {"ingest.max_payload", K_U32SIZE, F(max_payload), 1, UINT32_MAX, 0},
    {"ingest.preauth_max", K_U32SIZE, F(preauth_max), 1, UINT32_MAX, 0},
    {"ingest.header_timeout", K_UDUR, F(header_timeout), 1, 86400, 0},
    {"ingest.kick_ban", K_UDUR, F(kick_ban), 0, 365u * 86400u, 0},
    {"ingest.timestamp_window", K_U64DUR, F(timestamp_window), 0, UINT32_MAX, 0},
    {"ingest.max_backlog", K_U64SIZE, F(max_backlog), 1, UINT64_MAX, 0},
    {"ingest.max_connections", K_UINT, F(max_connections), 1, 1000000, 0},
    {"ingest.max_unverified_per_address", K_UINT, F(max_unverified_per_address), 1, 1000000, 0},
    {"ingest.handshake_timeout", K_UDUR, F(handshake_timeout), 1, 3600, 0},
    {"ingest.ack", K_BOOL, F(ack), 0, 0, 0},
    {"store.path", K_PATH, F(store_path), 0, 0, 1},
    /* LMDB needs room for its meta pages and the schema; below 1 MiB
     * the store would be full before the first frame. */
    {"store.map_size", K_U64SIZE, F(map_size), 1u << 20, UINT64_MAX, 0},
    {"store.commit_ms", K_UINT, F(commit_ms), 1, 60000, 0},
    {"store.commit_bytes", K_U64SIZE, F(commit_bytes), 1, SIZE_MAX, 0},
    {"store.queue_bytes", K_U64SIZE, F(queue_bytes), 1, SIZE_MAX, 0},
    {"store.frame_cache", K_U64SIZE, F(frame_cache), 1, UINT64_MAX, 0},
    {"store.retention_age", K_U64DUR, F(retention_age), 0, UINT64_MAX, 0},
    {"store.retention_size", K_U64SIZE, F(retention_bytes), 0, UINT64_MAX, 0},
    {"store.pdns_id_layout", K_BOOL, F(pdns_id_layout), 0, 0, 0},
    /* [pdns]: field spec and separator are checked by the pDNS ingest (d4hub -n too) */
    {"pdns.enabled", K_BOOL, F(pdns_enabled), 0, 0, 0},
    {"pdns.csv_fields", K_STR, F(pdns_csv_fields), 0, 0, 0},
    {"pdns.csv_separator", K_STR, F(pdns_csv_separator), 0, 0, 0},
    {"pdns.batch", K_UINT, F(pdns_batch), 1, 1000000, 0},
    {"pdns.txn_ms", K_UINT, F(pdns_txn_ms), 10, 10000, 0},
    {"pdns.retention", K_U64DUR, F(pdns_retention), 0, UINT64_MAX, 0},
    /* [backscatter]: the telescope list is parsed by the consumer (d4hub -n too) */
    {"backscatter.enabled", K_BOOL, F(bs_enabled), 0, 0, 0},
    {"backscatter.telescope", K_STR, F(bs_telescope), 0, 0, 0},
    {"backscatter.live", K_BOOL, F(bs_live), 0, 0, 0},
    {"backscatter.live_window", K_UDUR, F(bs_live_window), 1, 86400, 0},
    {"backscatter.idle", K_UDUR, F(bs_idle), 1, 86400, 0},
    {"backscatter.min_packets", K_UINT, F(bs_min_packets), 1, 1000000000, 0},
    {"backscatter.min_duration", K_UDUR, F(bs_min_duration), 0, 86400 * 365, 0},
    {"backscatter.min_peak", K_UINT, F(bs_min_peak), 1, 1000000000, 0},
    {"backscatter.update", K_UDUR, F(bs_update), 1, 86400, 0},
    {"backscatter.max_vectors", K_UINT, F(bs_max_vectors), 1, 16777216, 0},
    {"backscatter.batch", K_UINT, F(bs_batch), 1, 10000000, 0},
    {"backscatter.retention", K_U64DUR, F(bs_retention), 0, UINT64_MAX, 0},
    /* [pssl]: the limits are checked by the consumer (d4hub -n too) */
    {"pssl.enabled", K_BOOL, F(pssl_enabled), 0, 0, 0},
    {"pssl.batch", K_UINT, F(pssl_batch), 1, 1000000, 0},
    {"pssl.retention", K_U64DUR, F(pssl_retention), 0, UINT64_MAX, 0},
    {"pssl.max_sessions", K_UINT, F(pssl_max_sessions), 1, 8192, 0},
    {"pssl.max_line", K_U64SIZE, F(pssl_max_line), 4096, 1u << 30, 0},
    {"pssl.max_buffered", K_U64SIZE, F(pssl_max_buffered), 4096, UINT64_MAX, 0},
    {"pssl.tls_max_flows", K_UINT, F(pssl_tls_max_flows), 1, 16777216, 0},
    {"pssl.tls_max_dir_bytes", K_U32SIZE, F(pssl_tls_max_dir_bytes), 16384, 1u << 30, 0},
    {"pssl.tls_max_bytes", K_U64SIZE, F(pssl_tls_max_bytes), 65536, UINT64_MAX, 0},
    {"pssl.tls_max_segments", K_UINT, F(pssl_tls_max_segments), 1, 65536, 0},
    {"pssl.tls_idle", K_UDUR, F(pssl_tls_idle), 1, 86400, 0},
    /* [pssl] weak_*: the weak-key job (docs/passivessl.md "Weak keys") */
    {"pssl.weak_enabled", K_BOOL, F(pssl_weak_enabled), 0, 0, 0},
    {"pssl.weak_interval", K_UDUR, F(pssl_weak_interval), 1, 86400, 0},
    {"pssl.weak_batch", K_UINT, F(pssl_weak_batch), 1, 65536, 0},
    {"pssl.weak_max_keys", K_UINT, F(pssl_weak_max_keys), 1, 1u << 26, 0},
    {"pssl.weak_max_bytes", K_U64SIZE, F(pssl_weak_max_bytes), 1u << 20, UINT64_MAX, 0},
    {"pssl.weak_nice", K_UINT, F(pssl_weak_nice), 0, 19, 0},
    {"pssl.weak_rescan", K_UDUR, F(pssl_weak_rescan), 0, 30u * 86400u, 0},
    {"pssl.weak_factor_admin", K_BOOL, F(pssl_weak_factor_admin), 0, 0, 0},
    {"api.enabled", K_BOOL, F(api_enabled), 0, 0, 0},
    {"api.listen", K_LISTEN0, F(api_listen), 0, 0, 0},
    {"api.cert", K_PATH, F(api_cert), 0, 0, 0},
    {"api.key", K_PATH, F(api_key), 0, 0, 0},
    {"api.client_ca", K_PATH, F(api_client_ca), 0, 0, 0},
    {"api.web_root", K_PATH, F(api_web_root), 0, 0, 0},
    {"api.spec", K_PATH, F(api_spec), 0, 0, 0},
    /* h2o buffers a whole body in memory before we see it: keep the cap modest. */
    {"api.max_body", K_U64SIZE, F(api_max_body), 1024, 256u << 20, 0},
    {"api.auth_fail_limit", K_UINT, F(api_auth_fail_limit), 1, 1000000, 0},
    {"api.max_connections", K_UINT, F(api_max_connections), 1, 1000000, 0},
    {"api.max_connections_per_addr", K_UINT, F(api_max_connections_per_addr), 1, 1000000, 0},
    /* h2o 2.2.5 itself never allows more than 100 */
    {"api.max_streams", K_UINT, F(api_max_streams), 1, 100, 0},
    /* 0 = one per online core */
    {"api.threads", K_UINT, F(api_threads), 0, 256, 0},
    {"api.max_inflight_per_addr", K_U64SIZE, F(api_max_inflight_per_addr), 1024, UINT64_MAX, 0},
    {"api.max_inflight", K_U64SIZE, F(api_max_inflight), 1024, UINT64_MAX, 0},
    {"api.max_exports_per_addr", K_UINT, F(api_max_exports_per_addr), 1, 1000000, 0},
    {"api.max_exports_per_user", K_UINT, F(api_max_exports_per_user), 1, 1000000, 0},
    /* a stream producer must fit a record header and some payload */
    {"api.export_buffer", K_U64SIZE, F(api_export_buffer), 4096, 16u << 20, 0},
    {"api.register_per_minute", K_UINT, F(api_register_per_minute), 1, 1000000, 0},
    {"api.max_pending_sensors", K_UINT, F(api_max_pending_sensors), 1, 10000000, 0},
    {"api.max_tlp_user", K_TLP, F(api_max_tlp_user), 0, 0, 0},
    {"api.max_tlp_admin", K_TLP, F(api_max_tlp_admin), 0, 0, 0},
    {"api.pdns_max_results", K_UINT, F(api_pdns_max_results), 1, 10000000, 0},
    /* [federation]: the hub's identity towards partner hubs and its federation port */
    {"federation.listen", K_LISTEN0, F(fed_listen), 0, 0, 0},
    {"federation.cert", K_PATH, F(fed_cert), 0, 0, 0},
    {"federation.key", K_PATH, F(fed_key), 0, 0, 0},
    {"federation.ca", K_PATH, F(fed_ca), 0, 0, 0},
    {"federation.poll_ms", K_UINT, F(fed_poll_ms), 1, 60000, 0},
    {"federation.backoff_min_ms", K_UINT, F(fed_backoff_min_ms), 10, 3600000, 0},
    {"federation.backoff_max_ms", K_UINT, F(fed_backoff_max_ms), 10, 3600000, 0},
    /* a 4 MiB batch must fit in it on a slow link */
    {"federation.timeout_ms", K_UINT, F(fed_timeout_ms), 1000, 3600000, 0},
    {"federation.inflight", K_UINT, F(fed_inflight), 1, 16, 0},
    {"federation.own_networks", K_STR, F(fed_own_networks), 0, 0, 0},
    /* [upstream]: the relay to a public D4 server (docs/upstream.md) */
    {"upstream.destination", K_STR, F(up_dest), 0, 0, 0},
    {"upstream.uuid", K_UUID, F(up_uuid), 0, 0, 0},
    {"upstream.key_file", K_PATH, F(up_key_file), 0, 0, 0},
    {"upstream.ca", K_PATH, F(up_ca), 0, 0, 0},
    {"upstream.server_name", K_STR, F(up_server_name), 0, 0, 0},
    {"upstream.insecure", K_BOOL, F(up_insecure), 0, 0, 0},
    {"upstream.streams", K_STR, F(up_streams), 0, 0, 0},
    {"upstream.max_tlp", K_TLP, F(up_max_tlp), 0, 0, 0},
    {"upstream.relay", K_BOOL, F(up_relay), 0, 0, 0},
    {"upstream.state", K_PATH, F(up_state), 0, 0, 0},
    {"upstream.poll_ms", K_UINT, F(up_poll_ms), 1, 60000, 0},
    {"upstream.backoff_min_ms", K_UINT, F(up_backoff_min_ms), 10, 3600000, 0},
    {"upstream.backoff_max_ms", K_UINT, F(up_backoff_max_ms), 10, 3600000, 0},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const sections[] = {"hub",	      "ingest",	    "store",	"api", "pdns",
				       "backscatter", "federation", "upstream", "pssl"};

const char *d4_hubconf_key_name(size_t i)
{
	return i < NKEYS ? keys[i].name : NULL;
}

void d4_hubconf_defaults(struct d4_hubconf *out)
{
	memset(out, 0, sizeof(*out));
	out->default_tlp = D4_TLP_AMBER_STRICT;
	d4_strlcpy(out->log_level, "info", sizeof(out->log_level));
	out->syslog = 0;
	d4_strlcpy(out->listen, "127.0.0.1:4443", sizeof(out->listen));
	out->mode = D4_MODE_REGISTRATION;
	out->max_payload = 1000000;
	out->preauth_max = 65536;
	out->header_timeout = 30;
	out->kick_ban = 30;
	out->timestamp_window = 0;
	out->max_backlog = 32ull << 20;
	out->max_connections = 4096;
	out->max_unverified_per_address = 32;
	out->handshake_timeout = 10;
	out->ack = 1;
	out->map_size = 1ull << 30;
	out->commit_ms = 50;
	out->commit_bytes = 16ull << 20;
	out->queue_bytes = 64ull << 20;
	out->frame_cache = 64ull << 20;
	out->retention_age = 0;
	out->retention_bytes = 0;
	out->pdns_enabled = 1;
	d4_strlcpy(out->pdns_csv_fields, "SMcsCQTAtn", sizeof(out->pdns_csv_fields));
	d4_strlcpy(out->pdns_csv_separator, "||", sizeof(out->pdns_csv_separator));
	out->pdns_batch = 10000;
	out->pdns_txn_ms = 300;
	out->pdns_retention = 0;
	out->bs_enabled = 1;
	out->bs_live = 0;
	out->bs_live_window = 120;
	out->bs_idle = 300;
	out->bs_min_packets = 25;
	out->bs_min_duration = 60;
	out->bs_min_peak = 30;
	out->bs_update = 60;
	out->bs_max_vectors = 262144;
	out->bs_batch = 100000;
	out->bs_retention = 0;
	out->pssl_enabled = 1;
	out->pssl_batch = 1000;
	out->pssl_retention = 0;
	out->pssl_max_sessions = 1024;
	out->pssl_max_line = 1u << 20;
	out->pssl_max_buffered = 256ull << 20;
	out->pssl_tls_max_flows = 65536;
	out->pssl_tls_max_dir_bytes = 256u << 10;
	out->pssl_tls_max_bytes = 64ull << 20;
	out->pssl_tls_max_segments = 64;
	out->pssl_tls_idle = 60;
	out->pssl_weak_enabled = 1;
	out->pssl_weak_interval = 60;
	out->pssl_weak_batch = 4096;
	out->pssl_weak_max_keys = 1048576;
	out->pssl_weak_max_bytes = 512ull << 20;
	out->pssl_weak_nice = 10;
	out->pssl_weak_rescan = 3600;
	out->pssl_weak_factor_admin = 0;
	out->api_enabled = 1;
	d4_strlcpy(out->api_listen, "127.0.0.1:8443", sizeof(out->api_listen));
	d4_strlcpy(out->api_spec, D4_API_SPEC_DEFAULT, sizeof(out->api_spec));
	out->api_max_body = 64u << 10;
	out->api_auth_fail_limit = 20;
	out->api_max_connections = 1024;
	out->api_max_connections_per_addr = 32;
	out->api_max_streams = 16;
	out->api_max_inflight_per_addr = 4u << 20;
	out->api_max_inflight = 64u << 20;
	out->api_max_exports_per_addr = 8;
	out->api_max_exports_per_user = 8;
	out->api_export_buffer = 64u << 10;
	out->api_register_per_minute = 30;
	out->api_max_pending_sensors = 1000;
	out->api_max_tlp_user = D4_TLP_AMBER_STRICT;
	out->api_max_tlp_admin = D4_TLP_RED;
	out->api_pdns_max_results = 10000;
	out->fed_poll_ms = 50;
	out->fed_backoff_min_ms = 500;
	out->fed_backoff_max_ms = 60000;
	out->fed_timeout_ms = 30000;
	out->fed_inflight = 3;
	out->up_max_tlp = D4_TLP_GREEN;
	out->up_poll_ms = 50;
	out->up_backoff_min_ms = 500;
	out->up_backoff_max_ms = 30000;
}

/* Shared by size and duration: digits, then at most one suffix from the
 * table (case-insensitive). Rejects signs, spaces and overflow, which
 * strtoull would silently accept or wrap. */
static int parse_suffixed(const char *s, const char *suffixes, const uint64_t *mult, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;
	if (*p < '0' || *p > '9')
		return D4_EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return D4_ETOOBIG;
		v = v * 10 + d;
	}
	uint64_t m = 1;
	if (*p) {
		const char *hit = NULL;
		for (const char *q = suffixes; *q; q++)
			if (*q == *p || *q == (*p | 0x20))
				hit = q;
		if (!hit || p[1] != '\0')
			return D4_EINVAL;
		m = mult[hit - suffixes];
	}
	if (m != 1 && v > UINT64_MAX / m)
		return D4_ETOOBIG;
	*out = v * m;
	return D4_OK;
}

int d4_hubconf_parse_size(const char *s, uint64_t *out)
{
	static const uint64_t mult[] = {1ull << 10, 1ull << 20, 1ull << 30, 1ull << 40};
	if (!s || !out)
		return D4_EINVAL;
	return parse_suffixed(s, "kmgt", mult, out);
}

int d4_hubconf_parse_duration(const char *s, uint64_t *out)
{
	static const uint64_t mult[] = {1, 60, 3600, 86400};
	if (!s || !out)
		return D4_EINVAL;
	return parse_suffixed(s, "smhd", mult, out);
}

static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	if (!*s)
		return D4_EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return D4_EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return D4_EINVAL;
	}
	if (v == 0)
		return D4_EINVAL;
	*port = (uint16_t)v;
	return D4_OK;
}

int d4_hubconf_parse_listen(const char *s, char *host, size_t hostsize, uint16_t *port)
{
	const char *colon;
	const char *h;
	size_t hlen;
	if (!s || !host || !port || hostsize == 0)
		return D4_EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return D4_EINVAL;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
		if (hlen == 0)
			return D4_EINVAL;
		for (size_t i = 0; i < hlen; i++)
			if (!strchr("0123456789abcdefABCDEF:.", h[i]))
				return D4_EINVAL;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return D4_EINVAL;
		h = s;
		hlen = (size_t)(colon - s);
		if (hlen == 0)
			return D4_EINVAL;
		if (!(hlen == 1 && h[0] == '*'))
			for (size_t i = 0; i < hlen; i++) {
				char c = h[i];
				int ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
					 c == '-' || c == '.';
				if (!ok)
					return D4_EINVAL;
			}
	}
	if (hlen >= hostsize)
		return D4_ETOOBIG;
	uint16_t p;
	if (parse_port(colon + 1, &p) != D4_OK)
		return D4_EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = p;
	return D4_OK;
}

struct ctx {
	const char *file;
	char dir[D4_PATH_MAX]; /* absolute folder of the config file */
	char *err;
	size_t errsize;
	unsigned line;
	unsigned seen_line[NKEYS]; /* 0 = not set */
};

static int fail(struct ctx *c, unsigned line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct ctx *c, unsigned line, const char *fmt, ...)
{
	if (c->err && c->errsize) {
		char msg[512];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		if (line)
			snprintf(c->err, c->errsize, "%s:%u: %s", c->file, line, msg);
		else
			snprintf(c->err, c->errsize, "%s: %s", c->file, msg);
	}
	return D4_ECONFIG;
}

static int set_path(struct ctx *c, const struct keydef *k, const char *v, char *dst)
{
	int n;
	if (!v[0]) { /* unset, never the config folder */
		dst[0] = '\0';
		return D4_OK;
	}
	if (v[0] == '/')
		n = snprintf(dst, k->size, "%s", v);
	else
		n = snprintf(dst, k->size, "%s/%s", c->dir, v);
	if (n < 0 || (size_t)n >= k->size)
		return fail(c, c->line, "%s: path too long (max %zu bytes once resolved)", k->name, k->size - 1);
	return D4_OK;
}

static int set_size_or_dur(struct ctx *c, const struct keydef *k, const char *v, int is_dur, uint64_t *val)
{
	int rc = is_dur ? d4_hubconf_parse_duration(v, val) : d4_hubconf_parse_size(v, val);
	if (rc == D4_ETOOBIG)
		return fail(c, c->line, "%s: value '%s' is too large", k->name, v);
	if (rc != D4_OK)
		return fail(c, c->line, "%s: bad value '%s' (expected %s)", k->name, v,
			    is_dur ? "seconds, optionally with suffix s, m, h or d"
				   : "bytes, optionally with suffix K, M, G or T (1024-based)");
	if (*val < k->min || *val > k->max)
		return fail(c, c->line, "%s: value '%s' out of range [%llu, %llu]", k->name, v,
			    (unsigned long long)k->min, (unsigned long long)k->max);
	return D4_OK;
}

static int set_value(struct ctx *c, struct d4_hubconf *out, const struct keydef *k, const char *v, size_t vlen)
{
	uint8_t *base = (uint8_t *)out + k->off;
	uint64_t val = 0;
	int rc;

	/* "key =" leaves an optional path unset (the example's "#client_ca =") */
	if (vlen == 0 && k->kind != K_SECRET && (k->kind != K_PATH || k->required))
		return fail(c, c->line, "%s: empty value", k->name);
	switch (k->kind) {
	case K_UUID:
		if (d4_uuid_parse(v, base) != D4_OK)
			return fail(c, c->line, "%s: bad uuid '%s' (expected 32 hex digits, dashes optional)", k->name,
				    v);
		return D4_OK;
	case K_TLP: {
		enum d4_tlp t = d4_policy_tlp_parse(v);
		/* The hub default is the end of the resolution chain: it must
		 * be a real level, never "no tag" or "unclear". */
		if (t == D4_TLP_NONE || t == D4_TLP_UNCLEAR)
			return fail(c, c->line,
				    "%s: bad value '%s' (expected tlp:red, tlp:amber+strict, tlp:amber, tlp:green, "
				    "tlp:ex:chr or tlp:clear)",
				    k->name, v);
		*base = (uint8_t)t;
		return D4_OK;
	}
	case K_LOGLEVEL: {
		enum d4_log_level l;
		if (d4_log_level_parse(v, &l) != D4_OK)
			return fail(c, c->line, "%s: bad value '%s' (expected error, warning, notice, info or debug)",
				    k->name, v);
		d4_strlcpy((char *)base, v, k->size);
		return D4_OK;
	}
	case K_BOOL: {
		int b;
		if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcasecmp(v, "on") || !strcmp(v, "1"))
			b = 1;
		else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcasecmp(v, "off") || !strcmp(v, "0"))
			b = 0;
		else
			return fail(c, c->line, "%s: bad value '%s' (expected yes or no)", k->name, v);
		memcpy(base, &b, sizeof(b));
		return D4_OK;
	}
	case K_PATH: return set_path(c, k, v, (char *)base);
	case K_LISTEN:
	case K_LISTEN0: {
		char host[128], tmp[160];
		uint16_t port;
		const char *colon = strrchr(v, ':');
		/* "HOST:0" is checked as "HOST:1": same syntax, any port */
		if (k->kind == K_LISTEN0 && colon && !strcmp(colon, ":0") && vlen < sizeof(tmp)) {
			snprintf(tmp, sizeof(tmp), "%.*s:1", (int)(colon - v), v);
			rc = d4_hubconf_parse_listen(tmp, host, sizeof(host), &port);
		} else {
			rc = d4_hubconf_parse_listen(v, host, sizeof(host), &port);
		}
		if (rc != D4_OK || vlen >= k->size)
			return fail(c, c->line, "%s: bad address '%s' (expected HOST:PORT, [IPV6]:PORT or *:PORT)",
				    k->name, v);
		d4_strlcpy((char *)base, v, k->size);
		return D4_OK;
	}
	case K_MODE: {
		int m;
		if (!strcmp(v, "registration"))
			m = D4_MODE_REGISTRATION;
		else if (!strcmp(v, "shared-secret"))
			m = D4_MODE_SHARED_SECRET;
		else
			return fail(c, c->line, "%s: bad value '%s' (expected registration or shared-secret)", k->name,
				    v);
		memcpy(base, &m, sizeof(m));
		return D4_OK;
	}
	case K_SECRET:
		/* Never echo the value: it is a secret. */
		if (vlen == 0)
			return fail(c, c->line, "%s: empty key", k->name);
		if (vlen > k->size)
			return fail(c, c->line, "%s: key too long (%zu bytes, max %zu)", k->name, vlen, k->size);
		d4_wipe(base, k->size);
		memcpy(base, v, vlen);
		out->shared_keylen = vlen;
		return D4_OK;
	case K_U32SIZE:
		if ((rc = set_size_or_dur(c, k, v, 0, &val)) != D4_OK)
			return rc;
		{
			uint32_t u = (uint32_t)val;
			memcpy(base, &u, sizeof(u));
		}
		return D4_OK;
	case K_U64SIZE:
		if ((rc = set_size_or_dur(c, k, v, 0, &val)) != D4_OK)
			return rc;
		memcpy(base, &val, sizeof(val));
		return D4_OK;
	case K_UDUR:
		if ((rc = set_size_or_dur(c, k, v, 1, &val)) != D4_OK)
			return rc;
		{
			unsigned u = (unsigned)val;
			memcpy(base, &u, sizeof(u));
		}
		return D4_OK;
	case K_U64DUR:
		if ((rc = set_size_or_dur(c, k, v, 1, &val)) != D4_OK)
			return rc;
		memcpy(base, &val, sizeof(val));
		return D4_OK;
	case K_STR:
		if (vlen >= k->size)
			return fail(c, c->line, "%s: value too long (max %zu bytes)", k->name, k->size - 1);
		d4_strlcpy((char *)base, v, k->size);
		return D4_OK;
	case K_UINT: {
		const char *p = v;
		for (; *p >= '0' && *p <= '9'; p++) {
			val = val * 10 + (uint64_t)(*p - '0');
			if (val > k->max)
				break;
		}
		if (*p && !(*p >= '0' && *p <= '9'))
			return fail(c, c->line, "%s: bad value '%s' (expected an integer)", k->name, v);
		if (val < k->min || val > k->max)
			return fail(c, c->line, "%s: value '%s' out of range [%llu, %llu]", k->name, v,
				    (unsigned long long)k->min, (unsigned long long)k->max);
		unsigned u = (unsigned)val;
		memcpy(base, &u, sizeof(u));
		return D4_OK;
	}
	}
	abort();
}

static int is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Parses one line in place (s is NUL-terminated, no '\n'). */
static int parse_line(struct ctx *c, struct d4_hubconf *out, char *s, char *section, size_t secsize)
{
	while (is_space(*s))
		s++;
	size_t len = strlen(s);
	while (len && is_space(s[len - 1]))
		s[--len] = '\0';
	if (len == 0 || s[0] == '#' || s[0] == ';')
		return D4_OK;

	if (s[0] == '[') {
		char *close = strchr(s, ']');
		if (!close)
			return fail(c, c->line, "section header without ']'");
		char *after = close + 1;
		while (is_space(*after))
			after++;
		if (*after && *after != '#' && *after != ';')
			return fail(c, c->line, "unexpected text after section header");
		*close = '\0';
		char *name = s + 1;
		while (is_space(*name))
			name++;
		size_t nl = strlen(name);
		while (nl && is_space(name[nl - 1]))
			name[--nl] = '\0';
		for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
			if (!strcmp(name, sections[i])) {
				d4_strlcpy(section, name, secsize);
				return D4_OK;
			}
		char list[256];
		size_t o = 0;
		for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]) && o < sizeof(list); i++)
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s[%s]", i ? ", " : "", sections[i]);
		return fail(c, c->line, "unknown section [%s] (expected one of %s)", name, list);
	}

	char *eq = strchr(s, '=');
	if (!eq)
		return fail(c, c->line, "expected 'key = value'");
	char *kend = eq;
	while (kend > s && is_space(kend[-1]))
		kend--;
	*kend = '\0';
	if (kend == s)
		return fail(c, c->line, "missing key name before '='");
	char *v = eq + 1;
	while (is_space(*v))
		v++;
	size_t vlen = strlen(v);
	if (vlen && (v[0] == '"' || v[0] == '\'')) {
		char q = v[0];
		char *endq = strchr(v + 1, q);
		if (!endq)
			return fail(c, c->line, "unterminated quoted value");
		char *after = endq + 1;
		while (is_space(*after))
			after++;
		if (*after && *after != '#' && *after != ';')
			return fail(c, c->line, "unexpected text after quoted value");
		*endq = '\0';
		v++;
		vlen = (size_t)(endq - v);
	} else {
		/* An unquoted value ends at a comment: a '#' after a blank
		 * ("max_tlp_user = tlp:amber  # role user"), as the snippets in
		 * docs/ write them. A value that starts with '#' or holds " #" is
		 * quoted. ';' starts whole-line comments only: it is a CSV
		 * separator people use. */
		for (char *q = v; *q; q++)
			if (*q == '#' && (q == v || is_space(q[-1]))) {
				*q = '\0';
				break;
			}
		vlen = strlen(v);
		while (vlen && is_space(v[vlen - 1]))
			v[--vlen] = '\0';
	}

	char full[160];
	if ((size_t)snprintf(full, sizeof(full), "%s.%s", section, s) >= sizeof(full))
		return fail(c, c->line, "unknown key '%.40s...' in section [%s]", s, section);
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(full, keys[i].name) != 0)
			continue;
		if (c->seen_line[i])
			return fail(c, c->line, "duplicate key %s (first set on line %u)", full, c->seen_line[i]);
		c->seen_line[i] = c->line;
		return set_value(c, out, &keys[i], v, vlen);
	}
	return fail(c, c->line, "unknown key '%s' in section [%s]", s, section);
}

static int key_index(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].name, name))
			return (int)i;
	abort(); /* only called with names from the table */
}

/* federation.own_networks: up to 32 CIDRs (or bare addresses), comma or
 * blank separated, host bits zero (the same rule as a partner's networks,
 * d4_fed_net_parse, which the federation code reads them with). NULL if
 * fine, else what is wrong (in buf). */
static const char *own_networks_problem(const char *list, char *buf, size_t len)
{
	unsigned n = 0;
	const char *p = list;
	while (*p) {
		size_t sep = strspn(p, ", \t");
		p += sep;
		size_t tl = strcspn(p, ", \t");
		if (!tl)
			break;
		char tok[64];
		if (tl >= sizeof(tok) || ++n > 32) {
			if (tl >= sizeof(tok))
				snprintf(buf, len, "'%.40s...' is not a network", p);
			else
				snprintf(buf, len, "more than 32 networks");
			return buf;
		}
		memcpy(tok, p, tl);
		tok[tl] = 0;
		p += tl;
		char *slash = strchr(tok, '/');
		long prefix = -1;
		if (slash) {
			*slash = 0;
			char *end;
			prefix = slash[1] >= '0' && slash[1] <= '9' ? strtol(slash + 1, &end, 10) : -1;
			if (prefix < 0 || *end)
				goto bad;
		}
		unsigned char a[16];
		int fam = inet_pton(AF_INET, tok, a) == 1 ? 4 : inet_pton(AF_INET6, tok, a) == 1 ? 6 : 0;
		long max = fam == 4 ? 32 : 128;
		if (!fam || prefix > max)
			goto bad;
		for (long bit = prefix < 0 ? max : prefix; bit < max; bit++)
			if (a[bit / 8] & (0x80u >> (bit % 8)))
				goto bad;
		continue;
	bad:
		if (slash)
			*slash = '/';
		snprintf(buf, len, "'%s' is not a network (address/prefix, host bits zero)", tok);
		return buf;
	}
	return NULL;
}

static int check_whole(struct ctx *c, struct d4_hubconf *out, unsigned lastline)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].required && !c->seen_line[i])
			return fail(c, lastline, "missing required key %s", keys[i].name);
	/* The API uses the ingest certificate unless told otherwise. */
	if (!out->api_cert[0])
		d4_strlcpy(out->api_cert, out->cert, sizeof(out->api_cert));
	if (!out->api_key[0])
		d4_strlcpy(out->api_key, out->key, sizeof(out->api_key));
	out->api_spec_set = c->seen_line[key_index("api.spec")] != 0;
	out->has_hub_uuid = c->seen_line[key_index("hub.uuid")] != 0;
	out->has_org = c->seen_line[key_index("hub.org")] != 0;
	/* The federation certificate and its key go together. */
	if (!out->fed_cert[0] != !out->fed_key[0]) {
		int ci = key_index("federation.cert"), ki = key_index("federation.key");
		return fail(c, c->seen_line[ci] ? c->seen_line[ci] : c->seen_line[ki],
			    "federation.cert and federation.key are given together");
	}
	if ((out->fed_listen[0] || out->fed_ca[0]) && !out->fed_cert[0]) {
		int li = key_index("federation.listen"), ai = key_index("federation.ca");
		return fail(c, c->seen_line[li] ? c->seen_line[li] : c->seen_line[ai],
			    "the [federation] section needs federation.cert and federation.key");
	}
	if (out->fed_listen[0] && !out->api_enabled)
		/* the listener runs on the API's thread and h2o context */
		return fail(
		    c, c->seen_line[key_index("federation.listen")],
		    "federation.listen needs the API (api.enabled = true): the federation port is served by its "
		    "thread");
	char why[128];
	if (own_networks_problem(out->fed_own_networks, why, sizeof(why)))
		return fail(c, c->seen_line[key_index("federation.own_networks")], "federation.own_networks: %s", why);
	if (out->fed_backoff_min_ms > out->fed_backoff_max_ms) {
		int mi = key_index("federation.backoff_min_ms"), xi = key_index("federation.backoff_max_ms");
		return fail(c, c->seen_line[mi] ? c->seen_line[mi] : c->seen_line[xi],
			    "federation.backoff_min_ms (%u) must not exceed federation.backoff_max_ms (%u)",
			    out->fed_backoff_min_ms, out->fed_backoff_max_ms);
	}
	if (out->up_dest[0] || c->seen_line[key_index("upstream.streams")]) {
		/* the rest (streams, key file, CA) is checked by d4hub -n and at start-up */
		unsigned di = c->seen_line[key_index("upstream.destination")];
		unsigned si = c->seen_line[key_index("upstream.streams")];
		const char *need = !out->up_dest[0]			       ? "upstream.destination"
				   : !c->seen_line[key_index("upstream.uuid")] ? "upstream.uuid"
				   : !out->up_key_file[0]		       ? "upstream.key_file"
				   : !out->up_streams[0]		       ? "upstream.streams"
									       : NULL;
		if (need)
			return fail(c, di ? di : si, "the [upstream] section needs %s", need);
		char host[256];
		uint16_t port;
		if (d4_hubconf_parse_listen(out->up_dest, host, sizeof(host), &port) != D4_OK || !strcmp(host, "*") ||
		    port == 0)
			return fail(c, di, "upstream.destination: bad address '%s' (expected HOST:PORT or [IPV6]:PORT)",
				    out->up_dest);
		if (!d4_uuid_is_v4(out->up_uuid))
			return fail(c, c->seen_line[key_index("upstream.uuid")],
				    "upstream.uuid: not a version 4 uuid (a D4 server refuses it)");
		if (out->up_max_tlp != D4_TLP_CLEAR && out->up_max_tlp != D4_TLP_GREEN)
			return fail(c, c->seen_line[key_index("upstream.max_tlp")],
				    "upstream.max_tlp: only tlp:clear or tlp:green go to a public server");
		if (out->up_backoff_min_ms > out->up_backoff_max_ms)
			return fail(c, c->seen_line[key_index("upstream.backoff_min_ms")],
				    "upstream.backoff_min_ms (%u) must not exceed upstream.backoff_max_ms (%u)",
				    out->up_backoff_min_ms, out->up_backoff_max_ms);
	}
	if (out->mode == D4_MODE_SHARED_SECRET && out->shared_keylen == 0)
		return fail(c, c->seen_line[key_index("ingest.mode")],
			    "ingest.shared_key is required when ingest.mode = shared-secret");
	/* A frame larger than the writer queue could never be posted and
	 * its connection would stall forever. */
	if (out->queue_bytes < (uint64_t)out->max_payload + 62) {
		int qi = key_index("store.queue_bytes"), mi = key_index("ingest.max_payload");
		unsigned line = c->seen_line[qi] ? c->seen_line[qi] : c->seen_line[mi];
		return fail(c, line, "store.queue_bytes (%llu) must exceed ingest.max_payload (%u) plus a header",
			    (unsigned long long)out->queue_bytes, out->max_payload);
	}
	return D4_OK;
}

static int read_file(struct ctx *c, const char *path, char **bufp, size_t *lenp)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(c, 0, "cannot open: %s", strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(c, 0, "not a regular file");
	}
	if ((uint64_t)st.st_size > CONF_MAX_BYTES) {
		close(fd);
		return fail(c, 0, "file too large (%lld bytes, max %u)", (long long)st.st_size, CONF_MAX_BYTES);
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *buf = malloc(cap);
	if (!buf) {
		close(fd);
		return fail(c, 0, "out of memory");
	}
	for (;;) {
		if (len + 1 >= cap) /* the file grew while read: stop at the stat size */
			break;
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			d4_wipe(buf, len);
			free(buf);
			close(fd);
			return fail(c, 0, "read error: %s", strerror(e));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return D4_OK;
}

static int resolve_dir(struct ctx *c, const char *path)
{
	char tmp[D4_PATH_MAX];
	if (d4_strlcpy(tmp, path, sizeof(tmp)) != D4_OK)
		return fail(c, 0, "config path too long");
	char *slash = strrchr(tmp, '/');
	const char *d = ".";
	if (slash == tmp)
		d = "/";
	else if (slash) {
		*slash = '\0';
		d = tmp;
	}
	char *abs = realpath(d, NULL);
	if (!abs)
		return fail(c, 0, "cannot resolve folder '%s': %s", d, strerror(errno));
	int rc = d4_strlcpy(c->dir, strcmp(abs, "/") == 0 ? "" : abs, sizeof(c->dir));
	free(abs);
	if (rc != D4_OK)
		return fail(c, 0, "config folder path too long");
	return D4_OK;
}

int d4_hubconf_load(const char *path, struct d4_hubconf *out, char *err, size_t errsize)
{
	struct ctx c;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(&c, 0, sizeof(c));
	c.file = path ? path : "(null)";
	c.err = err;
	c.errsize = errsize;
	if (err && errsize)
		err[0] = '\0';
	if (!path || !out)
		return fail(&c, 0, "no config file given");
	d4_hubconf_defaults(out);
	if ((rc = resolve_dir(&c, path)) != D4_OK)
		return rc;
	if ((rc = read_file(&c, path, &buf, &len)) != D4_OK)
		return rc;

	char section[16] = "hub";
	char *p = buf, *end = buf + len;
	/* Editors on other systems may prepend a UTF-8 byte order mark. */
	if (len >= 3 && (uint8_t)p[0] == 0xef && (uint8_t)p[1] == 0xbb && (uint8_t)p[2] == 0xbf)
		p += 3;
	rc = D4_OK;
	while (p < end && rc == D4_OK) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *lend = nl ? nl : end;
		c.line++;
		if (memchr(p, '\0', (size_t)(lend - p))) {
			rc = fail(&c, c.line, "NUL byte in line");
			break;
		}
		*lend = '\0';
		rc = parse_line(&c, out, p, section, sizeof(section));
		p = lend + 1;
	}
	if (rc == D4_OK)
		rc = check_whole(&c, out, c.line ? c.line : 1);
	/* The buffer held the shared key in clear. */
	d4_wipe(buf, len);
	free(buf);
	if (rc != D4_OK) {
		d4_wipe(out->shared_key, sizeof(out->shared_key));
		out->shared_keylen = 0;
	}
	return rc;
}
