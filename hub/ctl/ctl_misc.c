/* d4hubctl — blocklists, accepted types, sessions, frames, stats, status. */
#include "ctl_internal.h"
#include "d4_error.h"
#include "d4_policy.h"
#include "d4_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_cmd(struct ctl *c, const char *group, const char *sub)
{
	static char name[48];
	snprintf(name, sizeof(name), "%s %s", group, sub);
	c->cmd = name;
}

/* ---- block ---------------------------------------------------------------- */

int ctl_cmd_block(struct ctl *c, int argc, char **argv)
{
	const char *pos[3];
	int n, rc;
	if (argc < 1)
		return ctl_usage(c, "missing sub-command (add, del, list)");
	set_cmd(c, "block", argv[0]);
	if (!strcmp(argv[0], "list")) {
		if ((rc = ctl_parse(c, argc - 1, argv + 1, NULL, NULL, 0, 0, NULL)) != CTL_OK)
			return rc;
		return ctl_r_block_list(c);
	}
	int add = !strcmp(argv[0], "add");
	if (!add && strcmp(argv[0], "del") != 0)
		return ctl_usage(c, "unknown sub-command (expected add, del or list)");
	if ((rc = ctl_parse(c, argc - 1, argv + 1, NULL, pos, 2, 2, &n)) != CTL_OK)
		return rc;
	struct d4_block_entry e;
	memset(&e, 0, sizeof(e));
	if (!strcmp(pos[0], "ip")) {
		e.kind = D4_BLOCK_IP;
		if (d4_store_parse_cidr(pos[1], e.addr, &e.prefix) != D4_OK)
			return ctl_usage(c, "bad address '%s': expected an IPv4/IPv6 address or CIDR", pos[1]);
	} else if (!strcmp(pos[0], "uuid") || !strcmp(pos[0], "uuid-ips")) {
		e.kind = pos[0][4] ? D4_BLOCK_UUID_IPS : D4_BLOCK_UUID;
		if ((rc = ctl_arg_uuid(c, "uuid", pos[1], e.uuid)) != CTL_OK)
			return rc;
	} else {
		return ctl_usage(c, "bad kind '%s': expected ip, uuid or uuid-ips", pos[0]);
	}
	char hex[D4_UUID_HEX_LEN + 1];
	if (e.kind != D4_BLOCK_IP)
		d4_uuid_hex(e.uuid, hex);
	return ctl_r_block_change(c, add, pos[0], e.kind == D4_BLOCK_IP ? pos[1] : hex);
}

/* ---- types / ext-types -------------------------------------------------- */

int ctl_cmd_types(struct ctl *c, int argc, char **argv)
{
	const char *pos[1];
	int rc;
	if (argc < 1)
		return ctl_usage(c, "missing sub-command (list, enable, disable)");
	set_cmd(c, "types", argv[0]);
	if (!strcmp(argv[0], "list")) {
		if ((rc = ctl_parse(c, argc - 1, argv + 1, NULL, NULL, 0, 0, NULL)) != CTL_OK)
			return rc;
		return ctl_r_types_list(c);
	}
	int enable = !strcmp(argv[0], "enable");
	if (!enable && strcmp(argv[0], "disable") != 0)
		return ctl_usage(c, "unknown sub-command (expected list, enable or disable)");
	if ((rc = ctl_parse(c, argc - 1, argv + 1, NULL, pos, 1, 1, NULL)) != CTL_OK)
		return rc;
	uint64_t t;
	if ((rc = ctl_arg_u64(c, "type", pos[0], 255, &t)) != CTL_OK)
		return rc;
	if (t == 0 && enable)
		return ctl_usage(c, "type 0 is reserved by the D4 protocol");
	return ctl_r_types_set(c, (unsigned)t, enable);
}

int ctl_cmd_ext_types(struct ctl *c, int argc, char **argv)
{
	const char *pos[1];
	int rc;
	if (argc < 1)
		return ctl_usage(c, "missing sub-command (list, add, del)");
	set_cmd(c, "ext-types", argv[0]);
	if (!strcmp(argv[0], "list")) {
		if ((rc = ctl_parse(c, argc - 1, argv + 1, NULL, NULL, 0, 0, NULL)) != CTL_OK)
			return rc;
		return ctl_r_ext_list(c);
	}
	int add = !strcmp(argv[0], "add");
	if (!add && strcmp(argv[0], "del") != 0)
		return ctl_usage(c, "unknown sub-command (expected list, add or del)");
	if ((rc = ctl_parse(c, argc - 1, argv + 1, NULL, pos, 1, 1, NULL)) != CTL_OK)
		return rc;
	size_t len = strlen(pos[0]);
	if (len == 0 || len >= D4_EXT_TYPE_MAX)
		return ctl_usage(c, "bad extended type name: 1 to %d bytes", D4_EXT_TYPE_MAX - 1);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)pos[0][i] <= 0x20 || (unsigned char)pos[0][i] == 0x7f)
			return ctl_usage(c, "bad extended type name '%s': no spaces or control characters", pos[0]);
	return ctl_r_ext_change(c, add, pos[0]);
}

/* ---- sessions ------------------------------------------------------------ */

int ctl_cmd_sessions(struct ctl *c, int argc, char **argv)
{
	const char *pos[1];
	int n = 0, rc;
	uint8_t uuid[16];
	char hex[D4_UUID_HEX_LEN + 1];
	if ((rc = ctl_parse(c, argc, argv, NULL, pos, 0, 1, &n)) != CTL_OK)
		return rc;
	if (n && (rc = ctl_arg_uuid(c, "uuid", pos[0], uuid)) != CTL_OK)
		return rc;
	if (n)
		d4_uuid_hex(uuid, hex);
	return ctl_r_sessions(c, n ? hex : NULL);
}

/* ---- frames ---------------------------------------------------------------- */

struct frame_ctx {
	struct ctl *c;
	int payload;
	int werr; /* errno of a failed write */
	unsigned long long n;
	uint64_t *meta; /* --payload: the 2 -> 254 sessions, in id order */
	size_t nmeta, capmeta;
	int oom;
};

/* A 2 -> 254 session keeps its meta header as a type-2 frame: with
 * --payload only the data is written, as the API's raw export does. */
static int meta_sess_cb(void *ctx, const struct d4_session_info *si)
{
	struct frame_ctx *fc = ctx;
	if (si->type != 2 || !si->ext_type[0])
		return 0;
	if (fc->nmeta == fc->capmeta) {
		size_t cap = fc->capmeta ? fc->capmeta * 2 : 64;
		void *p = realloc(fc->meta, cap * sizeof(*fc->meta));
		if (!p) {
			fc->oom = 1;
			return 1;
		}
		fc->meta = p;
		fc->capmeta = cap;
	}
	fc->meta[fc->nmeta++] = si->session;
	return 0;
}

static int is_meta_frame(const struct frame_ctx *fc, const struct d4_frame_rec *rec)
{
	size_t lo = 0, hi = fc->nmeta;
	if (rec->type != 2)
		return 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (fc->meta[mid] == rec->session)
			return 1;
		if (fc->meta[mid] < rec->session)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static int frame_cb(void *ctx, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	struct frame_ctx *fc = ctx;
	struct ctl *c = fc->c;
	char hex[D4_UUID_HEX_LEN + 1], org[D4_UUID_HEX_LEN + 1], t[32];
	const char *tlp = rec->tlp ? d4_policy_tlp_name((enum d4_tlp)rec->tlp) : "-";
	if (fc->payload && is_meta_frame(fc, rec))
		return 0;
	fc->n++;
	if (fc->payload) {
		if (rec->size && fwrite(payload, 1, rec->size, stdout) != rec->size) {
			fc->werr = errno ? errno : EIO;
			return 1;
		}
		return 0;
	}
	if (c->json) {
		ctl_j_obj_open(c, NULL);
		ctl_j_u64(c, "seq", rec->seq);
		ctl_j_u64(c, "session", rec->session);
		ctl_j_uuid(c, "uuid", rec->uuid);
		ctl_j_u64(c, "type", rec->type);
		ctl_j_u64(c, "version", rec->version);
		ctl_j_str(c, "tlp", tlp);
		ctl_j_uuid(c, "org", rec->org);
		ctl_j_time(c, "hdr_ts", rec->hdr_ts);
		ctl_j_u64(c, "recv_ms", rec->recv_ms);
		ctl_j_time(c, "recv", rec->recv_ms / 1000);
		ctl_j_u64(c, "size", rec->size);
		ctl_j_obj_close(c);
		return 0;
	}
	if (fc->n == 1)
		printf("%-10s %-8s %-32s %-4s %-3s %-16s %-32s %-19s  %-23s  %s\n", "SEQ", "SESSION", "UUID", "TYPE",
		       "VER", "TLP", "ORG", "HEADER TIME", "RECEIVED", "SIZE");
	d4_uuid_hex(rec->uuid, hex);
	d4_uuid_hex(rec->org, org);
	char recv[40], r0[32];
	snprintf(recv, sizeof(recv), "%s.%03u", ctl_time(rec->recv_ms / 1000, r0, sizeof(r0)),
		 (unsigned)(rec->recv_ms % 1000));
	if (printf("%-10llu %-8llu %-32s %-4u %-3u %-16s %-32s %-19s  %-23s  %u\n", (unsigned long long)rec->seq,
		   (unsigned long long)rec->session, hex, rec->type, rec->version, tlp, org,
		   ctl_time(rec->hdr_ts, t, sizeof(t)), recv, rec->size) < 0) {
		fc->werr = errno ? errno : EIO;
		return 1;
	}
	return 0;
}

int ctl_cmd_frames(struct ctl *c, int argc, char **argv)
{
	const char *sess_s = NULL, *from_s = NULL;
	int payload = 0, with_meta = 0, rc;
	uint64_t session = 0, from = 0;
	const struct ctl_opt opts[] = {{"session", 1, &sess_s, NULL},
				       {"from", 1, &from_s, NULL},
				       {"payload", 0, NULL, &payload},
				       {"with-meta", 0, NULL, &with_meta},
				       {NULL, 0, NULL, NULL}};
	if ((rc = ctl_parse(c, argc, argv, opts, NULL, 0, 0, NULL)) != CTL_OK)
		return rc;
	if (with_meta && !payload)
		return ctl_usage(c, "--with-meta goes with --payload");
	if (with_meta)
		payload = 2; /* the meta-header frames too */
	if (sess_s && (rc = ctl_arg_u64(c, "--session", sess_s, UINT64_MAX, &session)) != CTL_OK)
		return rc;
	if (sess_s && session == 0)
		return ctl_usage(c, "bad --session '0': session ids start at 1");
	if (from_s && (rc = ctl_arg_u64(c, "--from", from_s, UINT64_MAX, &from)) != CTL_OK)
		return rc;
	/* One session goes through the API's session export in both modes;
	 * every frame of the log (no --session) has no API operation: the
	 * store, locally (docs/ctl.md). */
	if (c->url || sess_s)
		return ctl_r_frames(c, sess_s != NULL, session, from, payload);
	if ((rc = ctl_store(c, 0)) != CTL_OK)
		return rc;
	struct frame_ctx fc = {c, payload, 0, 0, NULL, 0, 0, 0};
	if (payload == 1) {
		/* session ids come in id order: the list stays sorted */
		rc = d4_store_session_foreach(c->st, NULL, meta_sess_cb, &fc);
		if (fc.oom) {
			free(fc.meta);
			return ctl_fail(c, "out of memory");
		}
		if (rc < 0) {
			free(fc.meta);
			return ctl_fail(c, "cannot read sessions: %s", d4_strerror(rc));
		}
	}
	if (c->json && !payload)
		ctl_j_arr_open(c, NULL);
	errno = 0;
	rc = d4_store_frame_foreach(c->st, from, 0, frame_cb, &fc);
	free(fc.meta);
	if (fc.werr)
		return ctl_fail(c, "cannot write output: %s", strerror(fc.werr));
	if (rc < 0)
		return ctl_fail(c, "cannot read frames: %s", d4_strerror(rc));
	if (payload)
		return CTL_OK;
	if (c->json) {
		ctl_j_arr_close(c);
		return ctl_j_flush(c);
	}
	if (fc.n == 0)
		printf("no frames\n");
	return CTL_OK;
}

/* ---- stats -------------------------------------------------------------------- */

int ctl_cmd_stats(struct ctl *c, int argc, char **argv)
{
	const char *days_s = NULL;
	uint64_t days = 7;
	int rc;
	const struct ctl_opt opts[] = {{"days", 1, &days_s, NULL}, {NULL, 0, NULL, NULL}};
	if ((rc = ctl_parse(c, argc, argv, opts, NULL, 0, 0, NULL)) != CTL_OK)
		return rc;
	if (days_s && (rc = ctl_arg_u64(c, "--days", days_s, 366, &days)) != CTL_OK)
		return rc;
	if (days == 0)
		return ctl_usage(c, "bad --days '0': at least 1 (today)");
	return ctl_r_stats(c, days);
}

/* ---- status ---------------------------------------------------------------------- */

int ctl_cmd_status(struct ctl *c, int argc, char **argv)
{
	int rc;
	struct d4_store_status st;
	struct d4_totals tot;
	char why[D4_ERRTEXT_MAX];
	if ((rc = ctl_parse(c, argc, argv, NULL, NULL, 0, 0, NULL)) != CTL_OK)
		return rc;
	if (c->url)
		return ctl_r_status(c);
	if ((rc = ctl_store(c, 0)) != CTL_OK)
		return rc;
	memset(&st, 0, sizeof(st));
	d4_store_status_get(c->st, &st);
	memset(&tot, 0, sizeof(tot));
	if ((rc = d4_store_totals(c->st, &tot)) != D4_OK)
		return ctl_fail(c, "cannot read totals: %s", d4_strerror(rc));
	struct d4_store_health h;
	if ((rc = d4_store_health_get(c->st, &h)) != D4_OK)
		return ctl_fail(c, "cannot read the store's health: %s", d4_strerror(rc));
	if (c->json) {
		ctl_j_obj_open(c, NULL);
		ctl_j_str(c, "store", c->store_path);
		ctl_j_bool(c, "paused", st.paused);
		ctl_j_str(c, "pause_reason", st.pause_reason);
		ctl_j_u64(c, "frames", tot.frames);
		ctl_j_u64(c, "bytes", tot.bytes);
		ctl_j_u64(c, "sessions", tot.sessions);
		ctl_j_obj_open(c, "rejects");
		for (int r = 0; r < D4_REJ_COUNT; r++)
			ctl_j_u64(c, d4_store_reject_name((enum d4_reject)r), tot.rejects[r]);
		ctl_j_obj_close(c);
		ctl_j_u64(c, "map_size", st.map_size);
		ctl_j_u64(c, "map_used", st.map_used);
		ctl_j_u64(c, "control_epoch", d4_store_epoch(c->st));
		ctl_j_u64(c, "corrupt_records", h.corrupt_records);
		ctl_j_u64(c, "totals_rebuilt_at", h.totals_rebuilt_at);
		ctl_j_obj_close(c);
		return ctl_j_flush(c);
	}
	printf("store:         %s\n", ctl_clean(c->store_path, why, sizeof(why)));
	printf("writer:        %s%s%s\n", st.paused ? "paused" : "not paused",
	       st.paused && st.pause_reason[0] ? ": " : "",
	       st.paused ? ctl_clean(st.pause_reason, why, sizeof(why)) : "");
	printf("frames:        %llu\n", (unsigned long long)tot.frames);
	printf("bytes:         %llu\n", (unsigned long long)tot.bytes);
	printf("sessions:      %llu\n", (unsigned long long)tot.sessions);
	printf("map:           %llu of %llu bytes used (%.1f%%)\n", (unsigned long long)st.map_used,
	       (unsigned long long)st.map_size, st.map_size ? 100.0 * (double)st.map_used / (double)st.map_size : 0.0);
	printf("control epoch: %llu\n", (unsigned long long)d4_store_epoch(c->st));
	printf("corrupt:       %llu records%s\n", (unsigned long long)h.corrupt_records,
	       h.corrupt_records ? " (see the hub's log for their tables and keys)" : "");
	if (h.totals_rebuilt_at)
		printf("totals:        rebuilt at %llu (the record was corrupt; earlier rejections without a sensor "
		       "are not counted)\n",
		       (unsigned long long)h.totals_rebuilt_at);
	printf("rejections:   ");
	int any = 0;
	for (int r = 0; r < D4_REJ_COUNT; r++)
		if (tot.rejects[r]) {
			printf("%s %s %llu", any ? "," : "", d4_store_reject_name((enum d4_reject)r),
			       (unsigned long long)tot.rejects[r]);
			any = 1;
		}
	printf("%s\n", any ? "" : " none");
	return CTL_OK;
}
