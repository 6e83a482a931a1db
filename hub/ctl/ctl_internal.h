/* d4hubctl — private declarations shared by the command files. */
#ifndef CTL_INTERNAL_H
#define CTL_INTERNAL_H

#include "d4_store.h"

#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>

/* Exit codes of the fixed CLI. */
enum { CTL_OK = 0, CTL_ERR = 1, CTL_USAGE = 2 };

struct ctl {
	const char *store_path;
	uint64_t map_size;
	unsigned kick_ban; /* default --ban, from the config or 30 s */
	int json;
	struct d4_store *st; /* opened on demand by ctl_store() */
	int st_write;
	yajl_gen g;	 /* only with --json */
	const char *cmd; /* "sensor add", for messages */
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

#endif
