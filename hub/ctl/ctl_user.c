/* d4hubctl — API users and tokens. A token's text exists only in the
 * store call's output buffer: it is printed once here and wiped, like a
 * generated sensor key. */
#include "ctl_internal.h"
#include "d4_error.h"
#include "d4_util.h"

#include <stdio.h>
#include <string.h>

#define FIRST_TOKEN_LABEL "initial"

static int arg_user(struct ctl *c, const char *s)
{
	if (!d4_store_user_name_valid(s))
		return ctl_usage(c, "bad user name '%s': 1-63 characters of A-Z a-z 0-9 . _ @ -", s);
	return CTL_OK;
}

static int arg_role(struct ctl *c, const char *s, uint8_t *role)
{
	if (!s)
		return ctl_usage(c, "--role is required: admin, user or sensor_register");
	if (d4_store_role_parse(s, role) != D4_OK)
		return ctl_usage(c, "bad role '%s': expected admin, user or sensor_register", s);
	return CTL_OK;
}

static int arg_label(struct ctl *c, const char *s)
{
	if (strlen(s) >= D4_TOKEN_LABEL_MAX)
		return ctl_usage(c, "--label is too long (max %d bytes)", D4_TOKEN_LABEL_MAX - 1);
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return ctl_usage(c, "--label must not contain control characters");
	return CTL_OK;
}

/* Wipes what the JSON generator's buffer holds (it had a token in it). */
static int user_missing(struct ctl *c, const char *name, int rc)
{
	if (rc == D4_ENOTFOUND)
		return ctl_fail(c, "no user %s", name);
	return ctl_fail(c, "cannot read user %s: %s", name, d4_strerror(rc));
}

/* Creates a token and prints it once (bare line, or JSON with extras). */
static int new_token(struct ctl *c, const struct d4_user *u, const char *label)
{
	char tok[D4_TOKEN_TEXT_MAX], id[D4_TOKEN_ID_HEX];
	int rc = d4_store_token_create(c->st, u->name, label, tok, id);
	if (rc != D4_OK)
		return ctl_fail(c, "cannot create a token for %s: %s", u->name, d4_strerror(rc));
	if (c->json) {
		ctl_j_obj_open(c, NULL);
		ctl_j_str(c, "user", u->name);
		ctl_j_str(c, "role", d4_store_role_name(u->role));
		ctl_j_str(c, "id", id);
		ctl_j_str(c, "label", label ? label : "");
		ctl_j_str(c, "token", tok);
		ctl_j_obj_close(c);
		rc = ctl_j_flush_secret(c);
	} else {
		/* The bare token, so that scripts can capture it: TOKEN=$(...) */
		printf("%s\n", tok);
		rc = CTL_OK;
	}
	d4_wipe(tok, sizeof(tok));
	return rc;
}

static int cmd_user_add(struct ctl *c, int argc, char **argv)
{
	const char *pos[1], *role_s = NULL, *label = FIRST_TOKEN_LABEL;
	const struct ctl_opt opts[] = {{"role", 1, &role_s, NULL}, {"label", 1, &label, NULL}, {NULL, 0, NULL, NULL}};
	uint8_t role;
	int rc;
	if ((rc = ctl_parse(c, argc, argv, opts, pos, 1, 1, NULL)) != CTL_OK)
		return rc;
	if ((rc = arg_user(c, pos[0])) != CTL_OK || (rc = arg_role(c, role_s, &role)) != CTL_OK ||
	    (rc = arg_label(c, label)) != CTL_OK)
		return rc;
	if (c->url)
		return ctl_r_user_add(c, pos[0], d4_store_role_name(role), label);
	if ((rc = ctl_store(c, 1)) != CTL_OK)
		return rc;
	struct d4_user u;
	int g = d4_store_user_get(c->st, pos[0], &u);
	if (g == D4_OK)
		return ctl_fail(c, "user %s already exists (use 'user role' or 'token create')", pos[0]);
	if (g != D4_ENOTFOUND)
		return user_missing(c, pos[0], g);
	/* Put-if-absent: never changes the role of a user created since the
	 * check above. */
	if ((g = d4_store_user_add(c->st, pos[0], role)) == D4_EEXIST)
		return ctl_fail(c, "user %s already exists (use 'user role' or 'token create')", pos[0]);
	if (g != D4_OK)
		return ctl_fail(c, "cannot create user %s: %s", pos[0], d4_strerror(g));
	if ((g = d4_store_user_get(c->st, pos[0], &u)) != D4_OK)
		return user_missing(c, pos[0], g);
	rc = new_token(c, &u, label);
	if (rc != CTL_OK)
		fprintf(stderr, "d4hubctl: %s: user %s was created without a token; run 'token create %s'\n", c->cmd,
			pos[0], pos[0]);
	return rc;
}

static int cmd_user_role(struct ctl *c, int argc, char **argv)
{
	const char *pos[2];
	uint8_t role;
	int rc;
	if ((rc = ctl_parse(c, argc, argv, NULL, pos, 2, 2, NULL)) != CTL_OK)
		return rc;
	if ((rc = arg_user(c, pos[0])) != CTL_OK || (rc = arg_role(c, pos[1], &role)) != CTL_OK)
		return rc;
	/* The API has no operation that changes a role. */
	if (c->url)
		return ctl_fail(c, "%s", CTL_NOT_REMOTE);
	if ((rc = ctl_store(c, 1)) != CTL_OK)
		return rc;
	struct d4_user u;
	int g = d4_store_user_get(c->st, pos[0], &u);
	if (g != D4_OK)
		return user_missing(c, pos[0], g);
	if ((g = d4_store_user_put(c->st, pos[0], role)) != D4_OK)
		return ctl_fail(c, "cannot change user %s: %s", pos[0], d4_strerror(g));
	if (c->json) {
		ctl_j_obj_open(c, NULL);
		ctl_j_str(c, "name", pos[0]);
		ctl_j_str(c, "role", d4_store_role_name(role));
		ctl_j_obj_close(c);
		return ctl_j_flush(c);
	}
	return CTL_OK;
}

static int cmd_user_del(struct ctl *c, int argc, char **argv)
{
	const char *pos[1];
	int rc;
	if ((rc = ctl_parse(c, argc, argv, NULL, pos, 1, 1, NULL)) != CTL_OK)
		return rc;
	if ((rc = arg_user(c, pos[0])) != CTL_OK)
		return rc;
	if (c->url)
		return ctl_r_user_del(c, pos[0]);
	if ((rc = ctl_store(c, 1)) != CTL_OK)
		return rc;
	int g = d4_store_user_del(c->st, pos[0]);
	if (g == D4_ENOTFOUND)
		return ctl_fail(c, "no user %s", pos[0]);
	if (g != D4_OK)
		return ctl_fail(c, "cannot delete user %s: %s", pos[0], d4_strerror(g));
	return CTL_OK;
}

static int count_cb(void *ctx, const struct d4_token_info *t)
{
	(void)t;
	(*(unsigned *)ctx)++;
	return 0;
}

struct ulist {
	struct ctl *c;
	unsigned n;
	int err;
};
static int user_list_cb(void *ctx, const struct d4_user *u)
{
	struct ulist *ul = ctx;
	struct ctl *c = ul->c;
	unsigned ntok = 0;
	char t[32];
	int rc = d4_store_token_foreach(c->st, u->name, count_cb, &ntok);
	if (rc < 0) {
		ul->err = rc;
		return 1;
	}
	if (c->json) {
		ctl_j_obj_open(c, NULL);
		ctl_j_str(c, "name", u->name);
		ctl_j_str(c, "role", d4_store_role_name(u->role));
		ctl_j_time(c, "created", u->created);
		ctl_j_u64(c, "tokens", ntok);
		ctl_j_obj_close(c);
	} else {
		if (ul->n == 0)
			printf("%-32s  %-15s  %-19s  %s\n", "NAME", "ROLE", "CREATED", "TOKENS");
		printf("%-32s  %-15s  %-19s  %u\n", u->name, d4_store_role_name(u->role),
		       ctl_time(u->created, t, sizeof(t)), ntok);
	}
	ul->n++;
	return 0;
}

static int cmd_user_list(struct ctl *c, int argc, char **argv)
{
	struct ulist ul = {c, 0, 0};
	int rc;
	if ((rc = ctl_parse(c, argc, argv, NULL, NULL, 0, 0, NULL)) != CTL_OK)
		return rc;
	if (c->url)
		return ctl_r_user_list(c);
	if ((rc = ctl_store(c, 0)) != CTL_OK)
		return rc;
	if (c->json)
		ctl_j_arr_open(c, NULL);
	rc = d4_store_user_foreach(c->st, user_list_cb, &ul);
	if (rc < 0 || ul.err)
		return ctl_fail(c, "cannot list users: %s", d4_strerror(rc < 0 ? rc : ul.err));
	if (c->json) {
		ctl_j_arr_close(c);
		return ctl_j_flush(c);
	}
	if (ul.n == 0)
		printf("no users\n");
	return CTL_OK;
}

int ctl_cmd_user(struct ctl *c, int argc, char **argv)
{
	static char cmdname[48];
	if (argc < 1)
		return ctl_usage(c, "missing sub-command (add, list, del, role)");
	const char *sub = argv[0];
	snprintf(cmdname, sizeof(cmdname), "user %s", sub);
	c->cmd = cmdname;
	if (!strcmp(sub, "add"))
		return cmd_user_add(c, argc - 1, argv + 1);
	if (!strcmp(sub, "list"))
		return cmd_user_list(c, argc - 1, argv + 1);
	if (!strcmp(sub, "del"))
		return cmd_user_del(c, argc - 1, argv + 1);
	if (!strcmp(sub, "role"))
		return cmd_user_role(c, argc - 1, argv + 1);
	c->cmd = "user";
	return ctl_usage(c, "unknown sub-command '%s'", sub);
}

/* ---- tokens ---- */
static int cmd_token_create(struct ctl *c, int argc, char **argv)
{
	const char *pos[1], *label = "";
	const struct ctl_opt opts[] = {{"label", 1, &label, NULL}, {NULL, 0, NULL, NULL}};
	int rc;
	if ((rc = ctl_parse(c, argc, argv, opts, pos, 1, 1, NULL)) != CTL_OK)
		return rc;
	if ((rc = arg_user(c, pos[0])) != CTL_OK || (rc = arg_label(c, label)) != CTL_OK)
		return rc;
	if (c->url)
		return ctl_r_token_create(c, pos[0], label);
	if ((rc = ctl_store(c, 1)) != CTL_OK)
		return rc;
	struct d4_user u;
	int g = d4_store_user_get(c->st, pos[0], &u);
	if (g != D4_OK)
		return user_missing(c, pos[0], g);
	return new_token(c, &u, label);
}

static int token_list_cb(void *ctx, const struct d4_token_info *t)
{
	struct ulist *tl = ctx;
	struct ctl *c = tl->c;
	char cr[32], lu[32], lbl[D4_TOKEN_LABEL_MAX];
	if (c->json) {
		ctl_j_obj_open(c, NULL);
		ctl_j_str(c, "id", t->id);
		ctl_j_str(c, "user", t->user);
		ctl_j_str(c, "label", t->label);
		ctl_j_time(c, "created", t->created);
		ctl_j_time(c, "last_used", t->last_used);
		ctl_j_obj_close(c);
	} else {
		if (tl->n == 0)
			printf("%-16s  %-24s  %-19s  %-19s  %s\n", "ID", "USER", "CREATED", "LAST USED", "LABEL");
		printf("%-16s  %-24s  %-19s  %-19s  %s\n", t->id, t->user, ctl_time(t->created, cr, sizeof(cr)),
		       ctl_time(t->last_used, lu, sizeof(lu)),
		       t->label[0] ? ctl_clean(t->label, lbl, sizeof(lbl)) : "-");
	}
	tl->n++;
	return 0;
}

static int cmd_token_list(struct ctl *c, int argc, char **argv)
{
	const char *pos[1] = {NULL};
	struct ulist tl = {c, 0, 0};
	int rc, npos = 0;
	if ((rc = ctl_parse(c, argc, argv, NULL, pos, 0, 1, &npos)) != CTL_OK)
		return rc;
	if (npos && (rc = arg_user(c, pos[0])) != CTL_OK)
		return rc;
	if (c->url)
		return ctl_r_token_list(c, npos ? pos[0] : NULL);
	if ((rc = ctl_store(c, 0)) != CTL_OK)
		return rc;
	if (npos) {
		struct d4_user u;
		int g = d4_store_user_get(c->st, pos[0], &u);
		if (g != D4_OK)
			return user_missing(c, pos[0], g);
	}
	if (c->json)
		ctl_j_arr_open(c, NULL);
	rc = d4_store_token_foreach(c->st, npos ? pos[0] : NULL, token_list_cb, &tl);
	if (rc < 0)
		return ctl_fail(c, "cannot list tokens: %s", d4_strerror(rc));
	if (c->json) {
		ctl_j_arr_close(c);
		return ctl_j_flush(c);
	}
	if (tl.n == 0)
		printf("no tokens\n");
	return CTL_OK;
}

static int cmd_token_revoke(struct ctl *c, int argc, char **argv)
{
	const char *pos[1];
	uint8_t raw[8];
	int rc;
	if ((rc = ctl_parse(c, argc, argv, NULL, pos, 1, 1, NULL)) != CTL_OK)
		return rc;
	if (strlen(pos[0]) != 16 || d4_hex_decode(pos[0], 16, raw, sizeof(raw)) != D4_OK)
		return ctl_usage(c, "bad token id '%s': expected 16 hex digits (see 'token list')", pos[0]);
	/* Ids are shown in lowercase; accept what the user typed either way. */
	char id[D4_TOKEN_ID_HEX];
	d4_hex_encode(raw, sizeof(raw), id);
	if (c->url)
		return ctl_r_token_revoke(c, id);
	if ((rc = ctl_store(c, 1)) != CTL_OK)
		return rc;
	int g = d4_store_token_revoke(c->st, id);
	if (g == D4_ENOTFOUND)
		return ctl_fail(c, "no token %s", id);
	if (g != D4_OK)
		return ctl_fail(c, "cannot revoke token %s: %s", id, d4_strerror(g));
	return CTL_OK;
}

int ctl_cmd_token(struct ctl *c, int argc, char **argv)
{
	static char cmdname[48];
	if (argc < 1)
		return ctl_usage(c, "missing sub-command (create, list, revoke)");
	const char *sub = argv[0];
	snprintf(cmdname, sizeof(cmdname), "token %s", sub);
	c->cmd = cmdname;
	if (!strcmp(sub, "create"))
		return cmd_token_create(c, argc - 1, argv + 1);
	if (!strcmp(sub, "list"))
		return cmd_token_list(c, argc - 1, argv + 1);
	if (!strcmp(sub, "revoke"))
		return cmd_token_revoke(c, argc - 1, argv + 1);
	c->cmd = "token";
	return ctl_usage(c, "unknown sub-command '%s'", sub);
}
