/* d4hubctl — sensor commands. Keys are secrets: they are printed only when
 * generated here, and every buffer that held one is wiped. */
#include "ctl_internal.h"
#include "d4_error.h"
#include "d4_policy.h"
#include "d4_util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GEN_KEY_BYTES 32

struct keyarg {
	const char *key;      /* --key */
	const char *key_file; /* --key-file */
	int gen;	      /* --gen-key */
};

/* Reads a key file: the key is the file's bytes without one trailing
 * newline (DESIGN.md §3: d4-goclient key files end with "\n"). */
int ctl_read_key_file(struct ctl *c, const char *path, uint8_t *key, uint16_t *keylen)
{
	uint8_t buf[D4_KEY_MAX + 3];
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ctl_fail(c, "cannot open key file %s: %s", path, strerror(errno));
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			d4_wipe(buf, sizeof(buf));
			return ctl_fail(c, "cannot read key file %s: %s", path, strerror(e));
		}
		if (n == 0 || len + (size_t)n == sizeof(buf)) {
			len += (size_t)n;
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	if (len && buf[len - 1] == '\n') {
		len--;
		if (len && buf[len - 1] == '\r')
			len--;
	}
	int rc = CTL_OK;
	if (len == 0)
		rc = ctl_fail(c, "key file %s is empty", path);
	else if (len > D4_KEY_MAX)
		rc = ctl_fail(c, "key in %s is too long (max %d bytes)", path, D4_KEY_MAX);
	else {
		memcpy(key, buf, len);
		*keylen = (uint16_t)len;
	}
	d4_wipe(buf, sizeof(buf));
	return rc;
}

/* Fills key/keylen from the options; *generated set when a key was made
 * here (and must then be shown once). The --key argument is wiped in
 * argv as well, so it does not linger in /proc/PID/cmdline. */
static int get_key(struct ctl *c, struct keyarg *ka, int gen_default, uint8_t *key, uint16_t *keylen, int *generated)
{
	int n = (ka->key != NULL) + (ka->key_file != NULL) + ka->gen;
	*generated = 0;
	if (n > 1)
		return ctl_usage(c, "give only one of --key, --key-file%s", gen_default ? "" : " or --gen-key");
	if (n == 0 && !gen_default)
		return ctl_usage(c, "a key is required: --key KEY, --key-file FILE or --gen-key");
	if (ka->key) {
		size_t len = strlen(ka->key);
		if (len == 0)
			return ctl_usage(c, "--key is empty");
		if (len > D4_KEY_MAX)
			return ctl_usage(c, "--key is too long (max %d bytes)", D4_KEY_MAX);
		memcpy(key, ka->key, len);
		*keylen = (uint16_t)len;
		d4_wipe((char *)ka->key, len);
		return CTL_OK;
	}
	if (ka->key_file)
		return ctl_read_key_file(c, ka->key_file, key, keylen);
	/* D4 keys are text (the reference tools read them from text files),
	 * so the random bytes are stored as their 64 hex digits. */
	uint8_t raw[GEN_KEY_BYTES];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return ctl_fail(c, "cannot generate a key: random generator failed");
	char hex[2 * GEN_KEY_BYTES + 1];
	d4_hex_encode(raw, sizeof(raw), hex);
	memcpy(key, hex, 2 * GEN_KEY_BYTES);
	*keylen = 2 * GEN_KEY_BYTES;
	d4_wipe(raw, sizeof(raw));
	d4_wipe(hex, sizeof(hex));
	*generated = 1;
	return CTL_OK;
}

/* Prints a freshly generated key: JSON {"uuid", "key"} or the bare key
 * line (easy to redirect into a sensor's key file). */
static int print_key(struct ctl *c, const struct d4_sensor *sn)
{
	char key[D4_KEY_MAX + 1];
	memcpy(key, sn->key, sn->keylen);
	key[sn->keylen] = '\0';
	int rc = CTL_OK;
	if (c->json) {
		ctl_j_obj_open(c, NULL);
		ctl_j_uuid(c, "uuid", sn->uuid);
		ctl_j_str(c, "status", d4_store_status_name((enum d4_sensor_status)sn->status));
		ctl_j_str(c, "key", key);
		ctl_j_obj_close(c);
		rc = ctl_j_flush_secret(c); /* the generator's buffer held the key too */
	} else {
		printf("%s\n", key);
	}
	d4_wipe(key, sizeof(key));
	return rc;
}

static int load_sensor(struct ctl *c, const uint8_t uuid[16], struct d4_sensor *sn)
{
	char hex[D4_UUID_HEX_LEN + 1];
	int rc = d4_store_sensor_get(c->st, uuid, sn);
	if (rc == D4_OK)
		return CTL_OK;
	d4_uuid_hex(uuid, hex);
	if (rc == D4_ENOTFOUND)
		return ctl_fail(c, "no sensor %s", hex);
	return ctl_fail(c, "cannot read sensor %s: %s", hex, d4_strerror(rc));
}

static int save_sensor(struct ctl *c, const struct d4_sensor *sn)
{
	char hex[D4_UUID_HEX_LEN + 1];
	int rc = d4_store_sensor_put(c->st, sn);
	if (rc == D4_OK)
		return CTL_OK;
	d4_uuid_hex(sn->uuid, hex);
	return ctl_fail(c, "cannot save sensor %s: %s", hex, d4_strerror(rc));
}

static int cmd_add(struct ctl *c, int argc, char **argv)
{
	struct keyarg ka = {0};
	const char *desc = NULL, *pos[1];
	int approve = 0, rc, generated;
	const struct ctl_opt opts[] = {{"key", 1, &ka.key, NULL},      {"key-file", 1, &ka.key_file, NULL},
				       {"gen-key", 0, NULL, &ka.gen},  {"desc", 1, &desc, NULL},
				       {"approve", 0, NULL, &approve}, {NULL, 0, NULL, NULL}};
	/* Static: holds the key, wiped below on every path. */
	static struct d4_sensor sn;

	memset(&sn, 0, sizeof(sn));
	if ((rc = ctl_parse(c, argc, argv, opts, pos, 1, 1, NULL)) != CTL_OK)
		return rc;
	if ((rc = ctl_arg_uuid(c, "uuid", pos[0], sn.uuid)) != CTL_OK)
		return rc;
	if (!d4_uuid_is_v4(sn.uuid))
		return ctl_usage(c, "uuid %s is not a version 4 uuid: D4 sensors must use v4 uuids", pos[0]);
	if (desc && strlen(desc) >= sizeof(sn.description))
		return ctl_usage(c, "--desc is too long (max %zu bytes)", sizeof(sn.description) - 1);
	if ((rc = get_key(c, &ka, 0, sn.key, &sn.keylen, &generated)) != CTL_OK)
		goto out;
	if (c->url) {
		/* A key to generate is generated by the hub (and shown once). */
		char hex[D4_UUID_HEX_LEN + 1];
		d4_uuid_hex(sn.uuid, hex);
		rc = ctl_r_sensor_add(c, hex, generated ? NULL : sn.key, sn.keylen, desc, approve);
		goto out;
	}
	if ((rc = ctl_store(c, 1)) != CTL_OK)
		goto out;
	struct d4_sensor old;
	int g = d4_store_sensor_get(c->st, sn.uuid, &old);
	d4_wipe(&old, sizeof(old));
	if (g == D4_OK) {
		rc = ctl_fail(c, "sensor %s already exists (use 'sensor rotate-key' or 'sensor set')", pos[0]);
		goto out;
	}
	if (g != D4_ENOTFOUND) {
		rc = ctl_fail(c, "cannot read sensor %s: %s", pos[0], d4_strerror(g));
		goto out;
	}
	sn.status = approve ? D4_SENSOR_APPROVED : D4_SENSOR_PENDING;
	if (desc)
		d4_strlcpy(sn.description, desc, sizeof(sn.description));
	sn.created = d4_now_s();
	/* Put-if-absent: a sensor created since the check above (API, another
	 * d4hubctl) is never overwritten. */
	if ((g = d4_store_sensor_add(c->st, &sn)) != D4_OK) {
		rc = g == D4_EEXIST
			 ? ctl_fail(c, "sensor %s already exists (use 'sensor rotate-key' or 'sensor set')", pos[0])
			 : ctl_fail(c, "cannot save sensor %s: %s", pos[0], d4_strerror(g));
		goto out;
	}
	if (generated)
		rc = print_key(c, &sn);
	else if (c->json) {
		ctl_j_obj_open(c, NULL);
		ctl_j_uuid(c, "uuid", sn.uuid);
		ctl_j_str(c, "status", d4_store_status_name((enum d4_sensor_status)sn.status));
		ctl_j_obj_close(c);
		rc = ctl_j_flush(c);
	}
out:
	d4_wipe(&sn, sizeof(sn));
	return rc;
}

static int cmd_rotate(struct ctl *c, int argc, char **argv)
{
	struct keyarg ka = {0};
	const char *pos[1];
	int rc, generated;
	const struct ctl_opt opts[] = {
	    {"key", 1, &ka.key, NULL}, {"key-file", 1, &ka.key_file, NULL}, {NULL, 0, NULL, NULL}};
	static struct d4_sensor sn;
	uint8_t uuid[16], key[D4_KEY_MAX];
	uint16_t keylen = 0;

	if ((rc = ctl_parse(c, argc, argv, opts, pos, 1, 1, NULL)) != CTL_OK)
		return rc;
	if ((rc = ctl_arg_uuid(c, "uuid", pos[0], uuid)) != CTL_OK)
		return rc;
	if ((rc = get_key(c, &ka, 1, key, &keylen, &generated)) != CTL_OK)
		goto out;
	if (c->url) {
		char hex[D4_UUID_HEX_LEN + 1];
		d4_uuid_hex(uuid, hex);
		rc = ctl_r_sensor_rotate(c, hex, generated ? NULL : key, keylen);
		goto out;
	}
	if ((rc = ctl_store(c, 1)) != CTL_OK || (rc = load_sensor(c, uuid, &sn)) != CTL_OK)
		goto out;
	d4_wipe(sn.key, sizeof(sn.key));
	memcpy(sn.key, key, keylen);
	sn.keylen = keylen;
	if ((rc = save_sensor(c, &sn)) != CTL_OK)
		goto out;
	if (generated)
		rc = print_key(c, &sn);
out:
	d4_wipe(key, sizeof(key));
	d4_wipe(&sn, sizeof(sn));
	return rc;
}

/* approve | block | unblock | del | kick */
static int cmd_state(struct ctl *c, const char *verb, int argc, char **argv)
{
	const char *pos[1], *ban_s = NULL;
	int rc;
	uint8_t uuid[16];
	uint64_t ban = c->kick_ban;
	static struct d4_sensor sn;
	const struct ctl_opt kick_opts[] = {{"ban", 1, &ban_s, NULL}, {NULL, 0, NULL, NULL}};
	const struct ctl_opt none[] = {{NULL, 0, NULL, NULL}};
	int is_kick = !strcmp(verb, "kick");

	if ((rc = ctl_parse(c, argc, argv, is_kick ? kick_opts : none, pos, 1, 1, NULL)) != CTL_OK)
		return rc;
	if ((rc = ctl_arg_uuid(c, "uuid", pos[0], uuid)) != CTL_OK)
		return rc;
	if (ban_s && (rc = ctl_arg_duration(c, "--ban", ban_s, &ban)) != CTL_OK)
		return rc;
	if (c->url) {
		/* Without --ban the hub's own ingest.kick_ban applies. */
		char hex[D4_UUID_HEX_LEN + 1];
		d4_uuid_hex(uuid, hex);
		if (ban_s && ban > 31536000)
			return ctl_usage(c, "bad --ban '%s': at most 365 days over the API", ban_s);
		return ctl_r_sensor_state(c, verb, hex, ban_s != NULL, ban);
	}
	if ((rc = ctl_store(c, 1)) != CTL_OK)
		return rc;
	if (!strcmp(verb, "del")) {
		rc = d4_store_sensor_del(c->st, uuid);
		if (rc == D4_ENOTFOUND)
			return ctl_fail(c, "no sensor %s", pos[0]);
		if (rc != D4_OK)
			return ctl_fail(c, "cannot delete sensor %s: %s", pos[0], d4_strerror(rc));
		return CTL_OK;
	}
	if ((rc = load_sensor(c, uuid, &sn)) != CTL_OK)
		goto out;
	if (!strcmp(verb, "approve")) {
		if (sn.status == D4_SENSOR_BLOCKED) {
			rc = ctl_fail(c, "sensor %s is blocked; use 'sensor unblock'", pos[0]);
			goto out;
		}
		sn.status = D4_SENSOR_APPROVED;
	} else if (!strcmp(verb, "block")) {
		sn.status = D4_SENSOR_BLOCKED;
	} else if (!strcmp(verb, "unblock")) {
		/* Only a blocked sensor goes back to approved: unblock must
		 * never become a way to approve a pending sensor by accident. */
		if (sn.status != D4_SENSOR_BLOCKED) {
			rc = ctl_fail(c, "sensor %s is not blocked (status %s)", pos[0],
				      d4_store_status_name((enum d4_sensor_status)sn.status));
			goto out;
		}
		sn.status = D4_SENSOR_APPROVED;
	} else { /* kick: the ban makes the hub close live sessions (epoch bump) and refuse reconnects */
		sn.ban_until = d4_now_s() + ban;
	}
	rc = save_sensor(c, &sn);
	if (rc == CTL_OK && c->json) {
		ctl_j_obj_open(c, NULL);
		ctl_j_uuid(c, "uuid", sn.uuid);
		ctl_j_str(c, "status", d4_store_status_name((enum d4_sensor_status)sn.status));
		ctl_j_time(c, "ban_until", sn.ban_until);
		ctl_j_obj_close(c);
		rc = ctl_j_flush(c);
	}
out:
	d4_wipe(&sn, sizeof(sn));
	return rc;
}

static int cmd_set(struct ctl *c, int argc, char **argv)
{
	const char *pos[1], *desc = NULL, *mail = NULL, *tlp = NULL, *org = NULL, *mp = NULL, *mb = NULL,
			    *silence = NULL;
	const struct ctl_opt opts[] = {{"desc", 1, &desc, NULL},       {"mail", 1, &mail, NULL},
				       {"tlp", 1, &tlp, NULL},	       {"org", 1, &org, NULL},
				       {"max-payload", 1, &mp, NULL},  {"max-backlog", 1, &mb, NULL},
				       {"silence", 1, &silence, NULL}, {NULL, 0, NULL, NULL}};
	static struct d4_sensor sn;
	uint8_t uuid[16], org_uuid[16];
	uint64_t max_payload = 0, max_backlog = 0, silence_s = 0;
	enum d4_tlp t = D4_TLP_NONE;
	int rc;

	if ((rc = ctl_parse(c, argc, argv, opts, pos, 1, 1, NULL)) != CTL_OK)
		return rc;
	if ((rc = ctl_arg_uuid(c, "uuid", pos[0], uuid)) != CTL_OK)
		return rc;
	if (!desc && !mail && !tlp && !org && !mp && !mb && !silence)
		return ctl_usage(c,
				 "nothing to set: give --desc, --mail, --tlp, --org, --max-payload, --max-backlog or "
				 "--silence");
	if (desc && strlen(desc) >= sizeof(sn.description))
		return ctl_usage(c, "--desc is too long (max %zu bytes)", sizeof(sn.description) - 1);
	if (mail && strlen(mail) >= sizeof(sn.mail))
		return ctl_usage(c, "--mail is too long (max %zu bytes)", sizeof(sn.mail) - 1);
	/* "none" clears a default so that the hub's applies again. */
	if (tlp && strcmp(tlp, "none") != 0) {
		t = d4_policy_tlp_parse(tlp);
		if (t == D4_TLP_NONE || t == D4_TLP_UNCLEAR)
			return ctl_usage(c,
					 "bad --tlp '%s': expected tlp:red, tlp:amber+strict, tlp:amber, tlp:green, "
					 "tlp:ex:chr, tlp:clear or none",
					 tlp);
	}
	if (org && strcmp(org, "none") != 0 && (rc = ctl_arg_uuid(c, "--org", org, org_uuid)) != CTL_OK)
		return rc;
	if (mp && (rc = ctl_arg_size(c, "--max-payload", mp, UINT32_MAX, &max_payload)) != CTL_OK)
		return rc;
	if (mb && (rc = ctl_arg_size(c, "--max-backlog", mb, UINT64_MAX, &max_backlog)) != CTL_OK)
		return rc;
	/* 0 turns monitoring off. */
	if (silence && (rc = ctl_arg_duration(c, "--silence", silence, &silence_s)) != CTL_OK)
		return rc;
	if (silence && silence_s > UINT32_MAX)
		return ctl_usage(c, "bad --silence '%s': larger than %u seconds", silence, UINT32_MAX);
	if (c->url) {
		char hex[D4_UUID_HEX_LEN + 1], orghex[D4_UUID_HEX_LEN + 1];
		struct ctl_sensor_set ss = {.desc = desc,
					    .mail = mail,
					    .has_max_payload = mp != NULL,
					    .has_max_backlog = mb != NULL,
					    .has_silence = silence != NULL,
					    .max_payload = max_payload,
					    .max_backlog = max_backlog,
					    .silence = silence_s};
		if (tlp)
			ss.tlp = strcmp(tlp, "none") ? d4_policy_tlp_name(t) : "none";
		if (org) {
			if (strcmp(org, "none") != 0)
				d4_uuid_hex(org_uuid, orghex);
			ss.org = strcmp(org, "none") ? orghex : "none";
		}
		d4_uuid_hex(uuid, hex);
		return ctl_r_sensor_set(c, hex, &ss);
	}
	if ((rc = ctl_store(c, 1)) != CTL_OK || (rc = load_sensor(c, uuid, &sn)) != CTL_OK)
		goto out;
	if (desc)
		d4_strlcpy(sn.description, desc, sizeof(sn.description));
	if (mail)
		d4_strlcpy(sn.mail, mail, sizeof(sn.mail));
	if (tlp)
		sn.default_tlp = (uint8_t)t;
	if (org) {
		sn.has_default_org = strcmp(org, "none") != 0;
		if (sn.has_default_org)
			memcpy(sn.default_org, org_uuid, 16);
		else
			memset(sn.default_org, 0, 16);
	}
	if (mp)
		sn.max_payload = (uint32_t)max_payload;
	if (mb)
		sn.max_backlog = max_backlog;
	if (silence)
		sn.silence_threshold = (uint32_t)silence_s;
	rc = save_sensor(c, &sn);
out:
	d4_wipe(&sn, sizeof(sn));
	return rc;
}

static void sensor_json(struct ctl *c, const struct d4_sensor *sn)
{
	char buf[64];
	ctl_j_uuid(c, "uuid", sn->uuid);
	ctl_j_str(c, "status", d4_store_status_name((enum d4_sensor_status)sn->status));
	ctl_j_str(c, "description", sn->description);
	ctl_j_str(c, "mail", sn->mail);
	ctl_j_bool(c, "has_key", sn->keylen > 0);
	if (sn->default_tlp)
		ctl_j_str(c, "default_tlp", d4_policy_tlp_name((enum d4_tlp)sn->default_tlp));
	else
		ctl_j_null(c, "default_tlp");
	if (sn->has_default_org)
		ctl_j_uuid(c, "default_org", sn->default_org);
	else
		ctl_j_null(c, "default_org");
	ctl_j_u64(c, "max_payload", sn->max_payload);
	ctl_j_u64(c, "max_backlog", sn->max_backlog);
	ctl_j_u64(c, "silence_threshold", sn->silence_threshold);
	ctl_j_time(c, "created", sn->created);
	ctl_j_time(c, "first_seen", sn->first_seen);
	ctl_j_time(c, "last_seen", sn->last_seen);
	ctl_j_time(c, "ban_until", sn->ban_until);
	ctl_j_u64(c, "packets", sn->packets);
	ctl_j_u64(c, "bytes", sn->bytes);
	ctl_j_str(c, "last_error", sn->last_error);
	ctl_j_time(c, "last_error_at", sn->last_error_at);
	ctl_j_obj_open(c, "rejects");
	for (int r = 0; r < D4_REJ_COUNT; r++)
		ctl_j_u64(c, d4_store_reject_name((enum d4_reject)r), sn->rejects[r]);
	ctl_j_obj_close(c);
	struct d4_replay_stats rs;
	if (!c->st || d4_store_replay_stats(c->st, sn->uuid, &rs) != 0)
		memset(&rs, 0, sizeof(rs));
	ctl_j_u64(c, "replays_dropped", rs.dropped);
	ctl_j_arr_open(c, "last_ips");
	for (unsigned i = 0; i < sn->nlast_ips && i < D4_LAST_IPS; i++) {
		ctl_j_obj_open(c, NULL);
		ctl_j_str(c, "addr", ctl_addr(sn->last_ips[i].addr, buf, sizeof(buf)));
		ctl_j_time(c, "when", sn->last_ips[i].when);
		ctl_j_obj_close(c);
	}
	ctl_j_arr_close(c);
}

struct list_ctx {
	struct ctl *c;
	unsigned n;
};

static int list_cb(void *ctx, const struct d4_sensor *sn)
{
	struct list_ctx *lc = ctx;
	struct ctl *c = lc->c;
	char hex[D4_UUID_HEX_LEN + 1], t[32], err[D4_ERRTEXT_MAX];
	if (c->json) {
		ctl_j_obj_open(c, NULL);
		sensor_json(c, sn);
		ctl_j_obj_close(c);
	} else {
		if (lc->n == 0)
			printf("%-32s  %-8s  %10s  %14s  %-19s  %s\n", "UUID", "STATUS", "PACKETS", "BYTES",
			       "LAST SEEN", "LAST ERROR");
		d4_uuid_hex(sn->uuid, hex);
		printf("%-32s  %-8s  %10llu  %14llu  %-19s  %s\n", hex,
		       d4_store_status_name((enum d4_sensor_status)sn->status), (unsigned long long)sn->packets,
		       (unsigned long long)sn->bytes, ctl_time(sn->last_seen, t, sizeof(t)),
		       sn->last_error[0] ? ctl_clean(sn->last_error, err, sizeof(err)) : "-");
	}
	lc->n++;
	return 0;
}

static int cmd_list(struct ctl *c, int argc, char **argv)
{
	struct list_ctx lc = {c, 0};
	int rc;
	if ((rc = ctl_parse(c, argc, argv, NULL, NULL, 0, 0, NULL)) != CTL_OK)
		return rc;
	if (c->url)
		return ctl_r_sensor_list(c);
	if ((rc = ctl_store(c, 0)) != CTL_OK)
		return rc;
	if (c->json)
		ctl_j_arr_open(c, NULL);
	rc = d4_store_sensor_foreach(c->st, list_cb, &lc);
	if (rc < 0)
		return ctl_fail(c, "cannot list sensors: %s", d4_strerror(rc));
	if (c->json) {
		ctl_j_arr_close(c);
		return ctl_j_flush(c);
	}
	if (lc.n == 0)
		printf("no sensors\n");
	return CTL_OK;
}

struct types_ctx {
	struct ctl *c;
	unsigned n;
};

static int types_cb(void *ctx, const struct d4_sensor_type_stat *st)
{
	struct types_ctx *tc = ctx;
	struct ctl *c = tc->c;
	char f[32], l[32], e[D4_EXT_TYPE_MAX];
	if (c->json) {
		ctl_j_obj_open(c, NULL);
		ctl_j_u64(c, "type", st->type);
		ctl_j_str(c, "ext_type", st->ext_type);
		ctl_j_time(c, "first_seen", st->first_seen);
		ctl_j_time(c, "last_seen", st->last_seen);
		ctl_j_u64(c, "packets", st->packets);
		ctl_j_u64(c, "bytes", st->bytes);
		ctl_j_obj_close(c);
	} else {
		if (tc->n == 0)
			printf("  %-4s %-20s %-19s  %-19s  %10s  %14s\n", "TYPE", "EXT TYPE", "FIRST SEEN", "LAST SEEN",
			       "PACKETS", "BYTES");
		printf("  %-4u %-20s %-19s  %-19s  %10llu  %14llu\n", st->type,
		       st->ext_type[0] ? ctl_clean(st->ext_type, e, sizeof(e)) : "-",
		       ctl_time(st->first_seen, f, sizeof(f)), ctl_time(st->last_seen, l, sizeof(l)),
		       (unsigned long long)st->packets, (unsigned long long)st->bytes);
	}
	tc->n++;
	return 0;
}

/* A sensor's last days of statistics, summed over types (sensor show). */
#define HISTORY_DAYS 7
struct hist {
	uint32_t first;
	uint64_t packets[HISTORY_DAYS], bytes[HISTORY_DAYS], rejects[HISTORY_DAYS];
};

static int hist_cb(void *ctx, const struct d4_daily_stat *st)
{
	struct hist *h = ctx;
	if (st->day >= h->first && st->day - h->first < HISTORY_DAYS) {
		unsigned i = st->day - h->first;
		h->packets[i] += st->packets;
		h->bytes[i] += st->bytes;
		h->rejects[i] += st->rejects;
	}
	return 0;
}

static int cmd_show(struct ctl *c, int argc, char **argv)
{
	const char *pos[1];
	uint8_t uuid[16];
	static struct d4_sensor sn;
	int rc;
	char hex[D4_UUID_HEX_LEN + 1], t[32], txt[D4_DESC_MAX];

	if ((rc = ctl_parse(c, argc, argv, NULL, pos, 1, 1, NULL)) != CTL_OK)
		return rc;
	if ((rc = ctl_arg_uuid(c, "uuid", pos[0], uuid)) != CTL_OK)
		return rc;
	if (c->url) {
		d4_uuid_hex(uuid, hex);
		return ctl_r_sensor_show(c, hex);
	}
	if ((rc = ctl_store(c, 0)) != CTL_OK || (rc = load_sensor(c, uuid, &sn)) != CTL_OK)
		goto out;
	d4_wipe(sn.key, sizeof(sn.key)); /* never shown */
	struct types_ctx tc = {c, 0};
	if (c->json) {
		ctl_j_obj_open(c, NULL);
		sensor_json(c, &sn);
		ctl_j_arr_open(c, "types");
		rc = d4_store_sensor_types(c->st, uuid, types_cb, &tc);
		ctl_j_arr_close(c);
		ctl_j_obj_close(c);
		if (rc < 0) {
			rc = ctl_fail(c, "cannot read types of sensor %s: %s", pos[0], d4_strerror(rc));
			goto out;
		}
		rc = ctl_j_flush(c);
		goto out;
	}
	d4_uuid_hex(sn.uuid, hex);
	printf("uuid:          %s\n", hex);
	printf("status:        %s\n", d4_store_status_name((enum d4_sensor_status)sn.status));
	printf("description:   %s\n", ctl_clean(sn.description, txt, sizeof(txt)));
	printf("mail:          %s\n", ctl_clean(sn.mail, txt, sizeof(txt)));
	printf("key:           %s\n", sn.keylen ? "set" : "none (shared secret)");
	printf("default tlp:   %s\n",
	       sn.default_tlp ? d4_policy_tlp_name((enum d4_tlp)sn.default_tlp) : "- (hub default)");
	if (sn.has_default_org)
		d4_uuid_hex(sn.default_org, hex);
	printf("default org:   %s\n", sn.has_default_org ? hex : "- (hub's org)");
	if (sn.max_payload)
		printf("max payload:   %u\n", sn.max_payload);
	else
		printf("max payload:   - (hub default)\n");
	if (sn.max_backlog)
		printf("max backlog:   %llu\n", (unsigned long long)sn.max_backlog);
	else
		printf("max backlog:   - (hub default)\n");
	if (sn.silence_threshold)
		printf("silence alert: after %u s without data\n", sn.silence_threshold);
	else
		printf("silence alert: - (not monitored)\n");
	printf("created:       %s\n", ctl_time(sn.created, t, sizeof(t)));
	printf("first seen:    %s\n", ctl_time(sn.first_seen, t, sizeof(t)));
	printf("last seen:     %s\n", ctl_time(sn.last_seen, t, sizeof(t)));
	if (sn.ban_until > d4_now_s())
		printf("banned until:  %s\n", ctl_time(sn.ban_until, t, sizeof(t)));
	else
		printf("banned until:  -\n");
	printf("packets:       %llu\n", (unsigned long long)sn.packets);
	printf("bytes:         %llu\n", (unsigned long long)sn.bytes);
	struct d4_replay_stats rs;
	if (!c->st || d4_store_replay_stats(c->st, sn.uuid, &rs) != 0)
		memset(&rs, 0, sizeof(rs));
	printf("replays:       %llu dropped (acknowledged delivery)\n", (unsigned long long)rs.dropped);
	if (sn.last_error[0])
		printf("last error:    %s (%s)\n", ctl_clean(sn.last_error, txt, sizeof(txt)),
		       ctl_time(sn.last_error_at, t, sizeof(t)));
	else
		printf("last error:    -\n");
	printf("rejections:   ");
	int any = 0;
	for (int r = 0; r < D4_REJ_COUNT; r++)
		if (sn.rejects[r]) {
			printf("%s %s %llu", any ? "," : "", d4_store_reject_name((enum d4_reject)r),
			       (unsigned long long)sn.rejects[r]);
			any = 1;
		}
	printf("%s\n", any ? "" : " none");
	printf("last ips:     ");
	for (unsigned i = 0; i < sn.nlast_ips && i < D4_LAST_IPS; i++)
		printf("%s %s (%s)", i ? "," : "", ctl_addr(sn.last_ips[i].addr, txt, sizeof(txt)),
		       ctl_time(sn.last_ips[i].when, t, sizeof(t)));
	printf("%s\n", sn.nlast_ips ? "" : " none");
	printf("types:\n");
	rc = d4_store_sensor_types(c->st, uuid, types_cb, &tc);
	if (rc < 0) {
		rc = ctl_fail(c, "cannot read types of sensor %s: %s", pos[0], d4_strerror(rc));
		goto out;
	}
	if (tc.n == 0)
		printf("  none\n");
	/* the same 7 days (oldest first, today included) as the API's history */
	struct hist h;
	memset(&h, 0, sizeof(h));
	h.first = (uint32_t)(d4_now_s() / 86400) - (HISTORY_DAYS - 1);
	rc = d4_store_daily_foreach(c->st, h.first, h.first + HISTORY_DAYS - 1, uuid, hist_cb, &h);
	if (rc < 0) {
		rc = ctl_fail(c, "cannot read the statistics of sensor %s: %s", pos[0], d4_strerror(rc));
		goto out;
	}
	printf("history:\n  %-10s  %10s  %14s  %8s\n", "DAY", "PACKETS", "BYTES", "REJECTS");
	for (unsigned i = 0; i < HISTORY_DAYS; i++) {
		char day[32];
		ctl_iso((uint64_t)(h.first + i) * 86400u, day, sizeof(day));
		day[10] = '\0'; /* the date of "YYYY-MM-DDT00:00:00Z" */
		printf("  %-10s  %10llu  %14llu  %8llu\n", day, (unsigned long long)h.packets[i],
		       (unsigned long long)h.bytes[i], (unsigned long long)h.rejects[i]);
	}
	rc = CTL_OK;
out:
	d4_wipe(&sn, sizeof(sn));
	return rc;
}

struct silent_ctx {
	struct ctl *c;
	uint64_t now;
	unsigned n;
};

static int silent_cb(void *ctx, const struct d4_sensor *sn)
{
	struct silent_ctx *sc = ctx;
	struct ctl *c = sc->c;
	char hex[D4_UUID_HEX_LEN + 1], t[32], txt[D4_DESC_MAX];
	uint64_t since = sn->last_seen ? sn->last_seen : sn->created;
	uint64_t silent_for = sc->now > since ? sc->now - since : 0;
	if (c->json) {
		ctl_j_obj_open(c, NULL);
		ctl_j_uuid(c, "uuid", sn->uuid);
		ctl_j_str(c, "status", d4_store_status_name((enum d4_sensor_status)sn->status));
		ctl_j_str(c, "description", sn->description);
		ctl_j_time(c, "last_seen", sn->last_seen);
		ctl_j_u64(c, "silence_threshold", sn->silence_threshold);
		ctl_j_u64(c, "silent_for", silent_for);
		ctl_j_obj_close(c);
	} else {
		if (sc->n == 0)
			printf("%-32s  %-8s  %-19s  %10s  %10s  %s\n", "UUID", "STATUS", "LAST SEEN", "THRESHOLD",
			       "SILENT S", "DESCRIPTION");
		d4_uuid_hex(sn->uuid, hex);
		printf("%-32s  %-8s  %-19s  %10u  %10llu  %s\n", hex,
		       d4_store_status_name((enum d4_sensor_status)sn->status), ctl_time(sn->last_seen, t, sizeof(t)),
		       sn->silence_threshold, (unsigned long long)silent_for,
		       sn->description[0] ? ctl_clean(sn->description, txt, sizeof(txt)) : "-");
	}
	sc->n++;
	return 0;
}

static int cmd_silent(struct ctl *c, int argc, char **argv)
{
	struct silent_ctx sc = {c, d4_now_s(), 0};
	int rc;
	if ((rc = ctl_parse(c, argc, argv, NULL, NULL, 0, 0, NULL)) != CTL_OK)
		return rc;
	if (c->url)
		return ctl_r_sensor_silent(c);
	if ((rc = ctl_store(c, 0)) != CTL_OK)
		return rc;
	if (c->json)
		ctl_j_arr_open(c, NULL);
	rc = d4_store_sensors_silent(c->st, sc.now, silent_cb, &sc);
	if (rc < 0)
		return ctl_fail(c, "cannot list silent sensors: %s", d4_strerror(rc));
	if (c->json) {
		ctl_j_arr_close(c);
		return ctl_j_flush(c);
	}
	if (sc.n == 0)
		printf("no silent sensors\n");
	return CTL_OK;
}

int ctl_cmd_sensor(struct ctl *c, int argc, char **argv)
{
	static char cmdname[48];
	if (argc < 1)
		return ctl_usage(c, "missing sub-command (add, approve, block, unblock, del, kick, rotate-key, set, "
				    "list, show, silent)");
	const char *sub = argv[0];
	snprintf(cmdname, sizeof(cmdname), "sensor %s", sub);
	c->cmd = cmdname;
	argc--;
	argv++;
	if (!strcmp(sub, "add"))
		return cmd_add(c, argc, argv);
	if (!strcmp(sub, "approve") || !strcmp(sub, "block") || !strcmp(sub, "unblock") || !strcmp(sub, "del") ||
	    !strcmp(sub, "kick"))
		return cmd_state(c, sub, argc, argv);
	if (!strcmp(sub, "rotate-key"))
		return cmd_rotate(c, argc, argv);
	if (!strcmp(sub, "set"))
		return cmd_set(c, argc, argv);
	if (!strcmp(sub, "list"))
		return cmd_list(c, argc, argv);
	if (!strcmp(sub, "show"))
		return cmd_show(c, argc, argv);
	if (!strcmp(sub, "silent"))
		return cmd_silent(c, argc, argv);
	c->cmd = "sensor";
	return ctl_usage(c, "unknown sub-command '%s'", sub);
}
