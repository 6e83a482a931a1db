/* d4hub — the hub configuration file, shared by d4hub and d4hubctl.
 *
 * Format: INI-like text, `key = value` lines, `#` or `;` comment lines, a
 * `#` after a blank ends an unquoted value (a comment), optional
 * `[section]` headers (keys are looked up as "section.key"; keys before any
 * section are in section "hub"). Unknown keys, bad values and duplicates are
 * errors with file:line in the message: a typo never silently falls back to
 * a default. Relative paths are resolved against the config file's folder. */
#ifndef D4_HUBCONF_H
#define D4_HUBCONF_H

#include <stddef.h>
#include <stdint.h>

#define D4_PATH_MAX 1024

enum d4_hub_mode { D4_MODE_REGISTRATION = 0, D4_MODE_SHARED_SECRET = 1 };

struct d4_hubconf {
	/* [hub] */
	uint8_t hub_uuid[16];	   /* hub.uuid; absent: generated once, kept in the store */
	uint8_t org[16];	   /* hub.org (misp:org of this hub); absent: generated once, kept in the store */
	int has_hub_uuid, has_org; /* 1 if given in the file */
	/* the federation signing key pair: not a setting, derived at start from
	 * the seed the store keeps (d4_store_sign_seed); secret, wiped at exit */
	uint8_t fed_sign_sk[64];
	uint8_t fed_sign_pk[32];
	int has_fed_sign;
	uint8_t default_tlp;	    /* hub.default_tlp, enum d4_tlp, default amber+strict */
	char log_level[16];	    /* hub.log_level: error|warning|notice|info|debug (info) */
	int syslog;		    /* hub.syslog = yes|no (no) */
	char pid_file[D4_PATH_MAX]; /* hub.pid_file, optional */
	/* [ingest] */
	char listen[128];	 /* ingest.listen "127.0.0.1:4443", "[::1]:4443", "*:4443" */
	char cert[D4_PATH_MAX];	 /* ingest.cert (PEM chain), required */
	char key[D4_PATH_MAX];	 /* ingest.key (PEM), required */
	int mode;		 /* ingest.mode = registration|shared-secret */
	uint8_t shared_key[256]; /* ingest.shared_key (shared-secret mode) */
	size_t shared_keylen;
	uint32_t max_payload;	   /* ingest.max_payload (1000000) */
	uint32_t preauth_max;	   /* ingest.preauth_max: size limit before the first verified packet (65536) */
	unsigned header_timeout;   /* ingest.header_timeout seconds (30) */
	unsigned kick_ban;	   /* ingest.kick_ban seconds (30) */
	uint64_t timestamp_window; /* ingest.timestamp_window seconds, 0 = off (0) */
	uint64_t max_backlog;	   /* ingest.max_backlog bytes per sensor queued (32 MiB) */
	unsigned max_connections;  /* ingest.max_connections (4096) */
	/* ingest.max_unverified_per_address (32): connections from one address
	 * (one /64 for IPv6) that have not sent an HMAC-verified packet yet,
	 * TLS handshakes included; more are closed right after accept */
	unsigned max_unverified_per_address;
	unsigned handshake_timeout; /* ingest.handshake_timeout seconds (10): TLS must complete in time */
	int ack;		    /* ingest.ack = on|off: acknowledged delivery, ALPN d4-ack/1 (on) */
	/* [store] */
	char store_path[D4_PATH_MAX]; /* store.path, required */
	uint64_t map_size;	      /* store.map_size, bytes with K/M/G/T suffix (1G) */
	unsigned commit_ms;	      /* store.commit_ms (50) */
	uint64_t commit_bytes;	      /* store.commit_bytes (16M) */
	uint64_t queue_bytes;	      /* store.queue_bytes (64M) */
	uint64_t frame_cache;	      /* store.frame_cache (64M): newest frame log left in the page cache */
	uint64_t retention_age;	      /* store.retention_age seconds, with s/m/h/d suffix, 0 = off */
	uint64_t retention_bytes;     /* store.retention_size, bytes, 0 = off */
	int pdns_id_layout;	      /* store.pdns_id_layout = yes|no: a new store's pDNS tables id-keyed (no) */
	/* [pdns] — passive-DNS ingest from the frame log (hub/analyze) */
	int pdns_enabled;	    /* pdns.enabled = yes|no (yes) */
	char pdns_csv_fields[32];   /* pdns.csv_fields: passivedns -f letters (SMcsCQTAtn) */
	char pdns_csv_separator[8]; /* pdns.csv_separator (||) */
	unsigned pdns_batch;	    /* pdns.batch: observations per commit (10000) */
	unsigned pdns_txn_ms;	    /* pdns.txn_ms: target duration of one pDNS store transaction (300) */
	uint64_t pdns_retention;    /* pdns.retention: expire tuples with older time_last, seconds, 0 = keep */
	/* [backscatter] — attack vectors from type-1 frames (hub/analyze, docs/backscatter.md "In the hub");
	 * the telescope list and the thresholds are checked by the consumer (d4hub -n too) */
	int bs_enabled;		  /* backscatter.enabled = yes|no (yes) */
	char bs_telescope[4096];  /* backscatter.telescope: prefixes, comma or blank separated ("" = none) */
	int bs_live;		  /* backscatter.live = yes|no (no) */
	unsigned bs_live_window;  /* backscatter.live_window seconds (120) */
	unsigned bs_idle;	  /* backscatter.idle: close a vector after this long without packets (300 s) */
	unsigned bs_min_packets;  /* backscatter.min_packets (25) */
	unsigned bs_min_duration; /* backscatter.min_duration seconds (60) */
	unsigned bs_min_peak;	  /* backscatter.min_peak packets in one minute (30) */
	unsigned bs_update;	  /* backscatter.update: ongoing vectors written every (60 s) */
	unsigned bs_max_vectors;  /* backscatter.max_vectors: open vectors (262144) */
	unsigned bs_batch;	  /* backscatter.batch: packets per store transaction (100000) */
	uint64_t bs_retention;	  /* backscatter.retention: expire vectors whose last packet is older, s, 0 = keep */
	/* [pssl] — passive SSL from type-1 frames and ja3-jl streams (hub/analyze,
	 * docs/passivessl.md "In the hub"); checked by the consumer (d4hub -n too) */
	int pssl_enabled;		 /* pssl.enabled = yes|no (yes) */
	unsigned pssl_batch;		 /* pssl.batch: handshakes per store transaction (1000) */
	uint64_t pssl_retention;	 /* pssl.retention: expire handshake tuples with older time_last, s, 0 = keep */
	unsigned pssl_max_sessions;	 /* pssl.max_sessions: sessions with state (1024) */
	uint64_t pssl_max_line;		 /* pssl.max_line: bytes of one ja3-jl line (1M) */
	uint64_t pssl_max_buffered;	 /* pssl.max_buffered: line and TLS bytes held over all sessions (256M) */
	unsigned pssl_tls_max_flows;	 /* pssl.tls_max_flows: TCP flows per type-1 session (65536) */
	uint32_t pssl_tls_max_dir_bytes; /* pssl.tls_max_dir_bytes: bytes per direction of a flow (256K) */
	uint64_t pssl_tls_max_bytes;	 /* pssl.tls_max_bytes: bytes held per type-1 session (64M) */
	unsigned pssl_tls_max_segments;	 /* pssl.tls_max_segments: out-of-order segments per direction (64) */
	unsigned pssl_tls_idle;		 /* pssl.tls_idle: a flow silent this long (capture time) ends (60 s) */
	/* [pssl] weak_* — the weak-key job (hub/analyze/pssl_weak.c, docs/passivessl.md "Weak keys") */
	int pssl_weak_enabled;	      /* pssl.weak_enabled = yes|no (yes) */
	unsigned pssl_weak_interval;  /* pssl.weak_interval: pause once caught up, seconds (60) */
	unsigned pssl_weak_batch;     /* pssl.weak_batch: keys per batch and transaction (4096, <= 65536) */
	unsigned pssl_weak_max_keys;  /* pssl.weak_max_keys: RSA moduli held in memory (1048576, <= 2^26) */
	uint64_t pssl_weak_max_bytes; /* pssl.weak_max_bytes: their bytes (512M; the set takes about twice) */
	unsigned pssl_weak_nice;      /* pssl.weak_nice: niceness of the job's thread, 0 = unchanged (10) */
	unsigned pssl_weak_rescan;    /* pssl.weak_rescan: shared-key sweep every, seconds, 0 = never (3600) */
	int pssl_weak_factor_admin;   /* pssl.weak_factor_admin = yes|no (no): the API shows factors to admins */
	/* [api] — the REST API (api/d4_api.h) */
	int api_enabled;		 /* api.enabled = yes|no (yes) */
	char api_listen[128];		 /* api.listen (127.0.0.1:8443); port 0 picks a free port */
	char api_cert[D4_PATH_MAX];	 /* api.cert (PEM chain), default ingest.cert */
	char api_key[D4_PATH_MAX];	 /* api.key (PEM), default ingest.key */
	char api_client_ca[D4_PATH_MAX]; /* api.client_ca: require client certificates from this CA ("" = off) */
	char api_web_root[D4_PATH_MAX];	 /* api.web_root: the web page's files ("" = built-in default) */
	char api_spec[D4_PATH_MAX];   /* api.spec: OpenAPI file served at /openapi.yaml (default D4_API_SPEC_DEFAULT) */
	int api_spec_set;	      /* 1 if api.spec was given in the file (then -n requires it) */
	uint64_t api_max_body;	      /* api.max_body: request body cap per operation, bytes (64K) */
	unsigned api_auth_fail_limit; /* api.auth_fail_limit: failed authentications per IP per minute (20) */
	/* What one peer can make the API hold (docs/security.md, docs/api.md "Limits") */
	unsigned api_max_connections;	       /* api.max_connections: open API connections in all (1024) */
	unsigned api_max_connections_per_addr; /* api.max_connections_per_addr (32) */
	unsigned api_max_streams;	       /* api.max_streams: concurrent HTTP/2 streams per connection (16) */
	unsigned api_threads;		       /* api.threads: event-loop threads of the API (0 = one per core) */
	uint64_t api_max_inflight_per_addr;    /* api.max_inflight_per_addr: request body bytes held per address (4M) */
	uint64_t api_max_inflight;	       /* api.max_inflight: request body bytes held in all (64M) */
	unsigned api_max_exports_per_addr;     /* api.max_exports_per_addr: concurrent streamed answers (8) */
	unsigned api_max_exports_per_user;     /* api.max_exports_per_user (8) */
	uint64_t api_export_buffer;	       /* api.export_buffer: bytes buffered per streamed answer (64K) */
	unsigned api_register_per_minute; /* api.register_per_minute: registrations per user and per address (30) */
	unsigned api_max_pending_sensors; /* api.max_pending_sensors: pending registrations (1000) */
	/* pDNS query clearance (api/h_pdns.c): the most restrictive TLP a caller of
	 * that role may see; tuples above it are left out of every answer */
	uint8_t api_max_tlp_user;      /* api.max_tlp_user, enum d4_tlp (tlp:amber+strict) */
	uint8_t api_max_tlp_admin;     /* api.max_tlp_admin, enum d4_tlp (tlp:red) */
	unsigned api_pdns_max_results; /* api.pdns_max_results: cap of limit/offset per pDNS query (10000) */
	/* [federation] — this hub towards partner hubs (docs/federation.md).
	 * federation.listen: the federation listener (api/fedlisten.c); d4hub -n checks the certificate. */
	char fed_listen[128];	    /* federation.listen HOST:PORT */
	char fed_cert[D4_PATH_MAX]; /* federation.cert: PEM, leaf first (EKU serverAuth+clientAuth, SAN urn:uuid:HUB) */
	char fed_key[D4_PATH_MAX];  /* federation.key */
	char fed_ca[D4_PATH_MAX];   /* federation.ca: the org CA the certificate must chain to */
	/* the sender thread (push to and fetch from partners), on when cert and key are set */
	unsigned fed_poll_ms;	     /* federation.poll_ms: idle poll of the log for new records (50) */
	unsigned fed_backoff_min_ms; /* federation.backoff_min_ms: first retry after a failure (500) */
	unsigned fed_backoff_max_ms; /* federation.backoff_max_ms: longest wait between retries (60000) */
	unsigned fed_timeout_ms;     /* federation.timeout_ms: one request to a partner, at most (30000) */
	unsigned fed_inflight;	     /* federation.inflight: batches in flight per partner and kind (3) */
	/* federation.own_networks: this organisation's networks, comma or blank
	 * separated CIDRs (at most 32); addresses in them never leave in pDNS
	 * unless a partner's rule names them ("" = none) */
	char fed_own_networks[2048];
	/* [upstream] — this hub as a D4 client of a public D4 server (docs/upstream.md); on when
	 * upstream.destination is set. d4hub -n checks the streams, the key file, the CA, the uuid. */
	char up_dest[512];	       /* upstream.destination HOST:PORT */
	uint8_t up_uuid[16];	       /* upstream.uuid: this hub's registered sensor uuid there (v4) */
	char up_key_file[D4_PATH_MAX]; /* upstream.key_file: its HMAC key */
	char up_ca[D4_PATH_MAX];       /* upstream.ca: CA of the server's certificate (else the system's) */
	char up_server_name[256];      /* upstream.server_name: name checked and sent as SNI */
	int up_insecure;	       /* upstream.insecure: no certificate check (no) */
	char up_streams[512];	       /* upstream.streams: "8, 1, 254:ja3-jl" */
	uint8_t up_max_tlp;	       /* upstream.max_tlp: tlp:green (community) or tlp:clear (public) */
	int up_relay;		       /* upstream.relay: frames received from partner hubs go up too (no) */
	char up_state[D4_PATH_MAX];    /* upstream.state: directory of the positions (STORE/upstream) */
	unsigned up_poll_ms;	       /* upstream.poll_ms: idle poll of the log (50) */
	unsigned up_backoff_min_ms;    /* upstream.backoff_min_ms (500) */
	unsigned up_backoff_max_ms;    /* upstream.backoff_max_ms (30000) */
};

/* Fills *out with defaults (required fields empty). */
void d4_hubconf_defaults(struct d4_hubconf *out);
/* Loads path over the defaults. On error returns D4_ECONFIG and writes a
 * message "file:line: what is wrong" into err (errsize bytes). Checks
 * required keys and value ranges; does not open certificates (the daemon's
 * -n does that). The shared key is wiped from any temporary buffer. */
int d4_hubconf_load(const char *path, struct d4_hubconf *out, char *err, size_t errsize);
/* The i-th key the parser knows, as "section.key" (a static string), or
 * NULL past the last: what deploy/d4hub.conf.example is checked against. */
const char *d4_hubconf_key_name(size_t i);
/* Parses "64K", "1G", "1000000" -> bytes; "30s", "7d", "12h" -> seconds. */
int d4_hubconf_parse_size(const char *s, uint64_t *out);
int d4_hubconf_parse_duration(const char *s, uint64_t *out);
/* Splits an ingest.listen value ("127.0.0.1:4443", "[::1]:4443",
 * "*:4443", "localhost:4443") into host (brackets removed; "*" kept) and
 * port 1..65535. Syntax only, no name resolution. Returns 0, D4_EINVAL or
 * D4_ETOOBIG (host does not fit hostsize). */
int d4_hubconf_parse_listen(const char *s, char *host, size_t hostsize, uint16_t *port);

#endif
