/* d4hubctl — private declarations shared by the command files. */
#ifndef CTL_INTERNAL_H
#define CTL_INTERNAL_H

#include "d4_api.h"
#include "d4_store.h"

#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

/* Exit codes of the fixed CLI. */
enum { CTL_OK = 0, CTL_ERR = 1, CTL_USAGE = 2 };

struct ctl {
	const char *store_path;
	uint64_t map_size;
	int pdns_layout;   /* d4_store_opts.pdns_layout, from store.pdns_id_layout (a store ctl creates) */
	unsigned kick_ban; /* default --ban, from the config or 30 s */
	int json;
	struct d4_store *st; /* opened on demand by ctl_store() */
	int st_write;
	yajl_gen g;		   /* only with --json */
	const char *cmd;	   /* "sensor add", for messages */
	const char *conf_path;	   /* -c: the configuration (server mode) */
	int conf_mode;		   /* with -c: [ingest] mode */
	int conf_has_key;	   /* with -c: [ingest] shared_key is set */
	int has_identity;	   /* with -c: the hub's identity below (partner dry-run) */
	int hub_uuid_set, org_set; /* given in the config; else the store's (d4_store_identity_get) */
	uint8_t hub_uuid[16], org[16], default_tlp;
	char own_networks[2048]; /* federation.own_networks */
	/* Remote mode (-H URL or D4HUB_URL): the API's operations over HTTPS
	 * (ctl_http.c, ctl_remote.c); without it, in-process (api below). */
	const char *url;
	const char *cacert;
	int insecure;
	long timeout;	       /* --timeout seconds for one request; 0 = the default */
	char *token;	       /* owned, wiped and freed at exit */
	struct ctl_http *http; /* opened on demand by the first request */
	/* Local mode: the API's handlers in-process on st (ctl_http.c), and
	 * the configuration they see (-c's, or the defaults with -s). */
	struct d4_api_local *api;
	const struct d4_hubconf *conf;
};

/* Messages: "d4hubctl: <cmd>: <text>" on stderr. ctl_fail returns CTL_ERR,
 * ctl_usage returns CTL_USAGE. */
int ctl_fail(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ctl_usage(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Opens the store (read-only unless write) once; returns CTL_OK or CTL_ERR
 * with a message. A read-only handle is reopened for writing if needed. */
int ctl_store(struct ctl *c, int write);

/* Option parsing for sub-commands. Each def names a long option; with
 * has_arg the value is stored in *val ("--opt V" or "--opt=V"), otherwise
 * *flag is set to 1. Positional arguments go to pos[0..maxpos). "--json"
 * is accepted anywhere. Returns CTL_OK or CTL_USAGE (message printed). */
struct ctl_opt {
	const char *name;
	int has_arg;
	const char **val;
	int *flag;
};
int ctl_parse(struct ctl *c, int argc, char **argv, const struct ctl_opt *defs, const char **pos, int minpos,
	      int maxpos, int *npos);

/* Argument parsers; each prints a usage error naming what and returns
 * CTL_USAGE on bad input. */
int ctl_arg_uuid(struct ctl *c, const char *what, const char *s, uint8_t out[16]);
int ctl_arg_u64(struct ctl *c, const char *what, const char *s, uint64_t max, uint64_t *out);
int ctl_arg_size(struct ctl *c, const char *what, const char *s, uint64_t max, uint64_t *out);
int ctl_arg_duration(struct ctl *c, const char *what, const char *s, uint64_t *out);

/* Text helpers. Strings from the store can come from hostile peers
 * (meta headers, close reasons): ctl_clean() replaces control bytes so
 * they cannot drive the terminal. Buffers are the caller's. */
const char *ctl_clean(const char *in, char *out, size_t size);
const char *ctl_time(uint64_t t, char *out, size_t size); /* "2024-01-02 03:04:05" or "-" */
const char *ctl_iso(uint64_t t, char *out, size_t size);  /* "2024-01-02T03:04:05Z" */
const char *ctl_addr(const uint8_t addr[16], char *out, size_t size);
const char *ctl_type_name(unsigned type);

/* JSON helpers over c->g. Strings are made valid UTF-8 first (invalid
 * bytes become U+FFFD) so output always parses. */
void ctl_j_key(struct ctl *c, const char *k);
void ctl_j_str(struct ctl *c, const char *k, const char *v);
void ctl_j_u64(struct ctl *c, const char *k, uint64_t v);
void ctl_j_bool(struct ctl *c, const char *k, int v);
void ctl_j_null(struct ctl *c, const char *k);
void ctl_j_uuid(struct ctl *c, const char *k, const uint8_t uuid[16]);
/* k as epoch seconds plus k_iso (null when t is 0). */
void ctl_j_time(struct ctl *c, const char *k, uint64_t t);
void ctl_j_obj_open(struct ctl *c, const char *k);
void ctl_j_obj_close(struct ctl *c);
void ctl_j_arr_open(struct ctl *c, const char *k);
void ctl_j_arr_close(struct ctl *c);
/* Writes the generated document and a newline to stdout; CTL_OK/CTL_ERR. */
int ctl_j_flush(struct ctl *c);

int ctl_cmd_sensor(struct ctl *c, int argc, char **argv);
int ctl_cmd_block(struct ctl *c, int argc, char **argv);
int ctl_cmd_types(struct ctl *c, int argc, char **argv);
int ctl_cmd_ext_types(struct ctl *c, int argc, char **argv);
int ctl_cmd_sessions(struct ctl *c, int argc, char **argv);
int ctl_cmd_frames(struct ctl *c, int argc, char **argv);
int ctl_cmd_stats(struct ctl *c, int argc, char **argv);
int ctl_cmd_status(struct ctl *c, int argc, char **argv);
int ctl_cmd_user(struct ctl *c, int argc, char **argv);
int ctl_cmd_token(struct ctl *c, int argc, char **argv);
int ctl_cmd_server(struct ctl *c, int argc, char **argv);
int ctl_cmd_partner(struct ctl *c, int argc, char **argv); /* ctl_partner.c, local and remote */

/* Reads a key file (the file's bytes without one trailing newline, at most
 * D4_KEY_MAX) into key; CTL_OK or CTL_ERR with a message. */
int ctl_read_key_file(struct ctl *c, const char *path, uint8_t *key, uint16_t *keylen);

/* ---- API requests, both modes (ctl_http.c) ----------------------------------
 * Remote: one libcurl easy handle per run (HTTP/2 over TLS, verification on
 * unless --insecure, redirects not followed), so the requests of one command
 * reuse the connection. Local: the same request through
 * d4_api_local_request on c->st. Every failure prints its message
 * ("d4hubctl: CMD: ...") and returns CTL_ERR; a problem+json answer is shown
 * as "<title>: <detail> (HTTP <status>)" in both modes. */

/* The message for commands that have no API operation. */
#define CTL_NOT_REMOTE "not available over the API; run on the hub host with -c/-s"

/* Request with an optional JSON body; the body generator is consumed (its
 * buffer wiped, as it may hold a key). On 2xx, *out (if out) is the parsed
 * answer or NULL when there is none (204); free it with ctl_tree_free. */
int ctl_api(struct ctl *c, const char *method, const char *path, yajl_gen body, yajl_val *out);
/* GET of a paged list: follows next_cursor to the end and calls cb for
 * every item; a non-zero return from cb stops with that value. */
int ctl_api_list(struct ctl *c, const char *path, int (*cb)(void *ctx, yajl_val item), void *ctx);
/* GET whose 2xx body is passed to cb chunk by chunk as it arrives (exports);
 * cb returns 0 to go on, non-zero to abort (then its errno-style code is
 * reported by the caller). */
int ctl_api_stream(struct ctl *c, const char *path, int (*cb)(void *ctx, const char *data, size_t len), void *ctx);
/* Percent-encodes one path segment or query value into out (size >= 3*len+1);
 * NULL if it does not fit. */
const char *ctl_esc(const char *s, char *out, size_t size);
void ctl_http_close(struct ctl *c);
/* A fresh generator for a request body, NULL on allocation failure. */
yajl_gen ctl_body_new(void);

/* JSON trees from the API: lookups return NULL/0 for absent or mistyped
 * members (the hub is trusted to follow its spec, but never blindly). */
yajl_val ctl_jget(yajl_val obj, const char *key);
const char *ctl_jstr(yajl_val obj, const char *key); /* NULL unless a string */
uint64_t ctl_ju64(yajl_val obj, const char *key);
int ctl_jbool(yajl_val obj, const char *key);
/* An ISO time member as "2024-01-02 03:04:05" (like ctl_time), "-" if null. */
const char *ctl_jtime(yajl_val obj, const char *key, char *out, size_t size);
/* Parses a JSON text (depth capped before parsing); NULL if it is not JSON. */
yajl_val ctl_tree_parse(const char *text, size_t len);
/* Wipes every string of the tree (keys and tokens pass through), frees it. */
void ctl_tree_free(yajl_val v);
/* Copies a tree into c->g under key k (NULL inside arrays / at the top). */
void ctl_j_tree(struct ctl *c, const char *k, yajl_val v);

/* ---- the commands as API operations, both modes (ctl_remote.c) -------------
 * Called by the command files after argument parsing. */
struct ctl_sensor_set {
	const char *desc, *mail, *tlp, *org; /* tlp/org: "none" clears */
	int has_max_payload, has_max_backlog, has_silence;
	uint64_t max_payload, max_backlog, silence;
};
int ctl_r_sensor_add(struct ctl *c, const char *uuid, const uint8_t *key, size_t keylen, const char *desc, int approve);
int ctl_r_sensor_state(struct ctl *c, const char *verb, const char *uuid, int has_ban, uint64_t ban);
int ctl_r_sensor_refuse(struct ctl *c, const char *uuid, int block);
int ctl_r_sensor_rotate(struct ctl *c, const char *uuid, const uint8_t *key, size_t keylen);
int ctl_r_sensor_set(struct ctl *c, const char *uuid, const struct ctl_sensor_set *s);
int ctl_r_sensor_list(struct ctl *c);
int ctl_r_sensor_show(struct ctl *c, const char *uuid);
int ctl_r_sensor_silent(struct ctl *c);
int ctl_r_block_list(struct ctl *c);
int ctl_r_block_change(struct ctl *c, int add, const char *kind, const char *value);
int ctl_r_types_list(struct ctl *c);
int ctl_r_types_set(struct ctl *c, unsigned type, int enable);
int ctl_r_ext_list(struct ctl *c);
int ctl_r_ext_change(struct ctl *c, int add, const char *name);
int ctl_r_sessions(struct ctl *c, const char *uuid);
/* payload: 0 the listing, 1 the data payloads, 2 the meta-header frames' too */
int ctl_r_frames(struct ctl *c, int has_session, uint64_t session, uint64_t from, int payload);
int ctl_r_stats(struct ctl *c, uint64_t days);
int ctl_r_status(struct ctl *c);
int ctl_r_user_add(struct ctl *c, const char *name, const char *role, const char *label);
int ctl_r_user_list(struct ctl *c);
int ctl_r_user_role(struct ctl *c, const char *name, const char *role);
int ctl_r_user_del(struct ctl *c, const char *name);
int ctl_r_token_create(struct ctl *c, const char *user, const char *label);
int ctl_r_token_list(struct ctl *c, const char *user);
int ctl_r_token_revoke(struct ctl *c, const char *id);

#endif
