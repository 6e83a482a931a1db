/* d4hubctl — API users and tokens, through the API's operations in both
 * modes (ctl_remote.c). A token's text is printed once and every buffer
 * that held it is wiped, like a generated sensor key. */
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
	return ctl_r_user_add(c, pos[0], d4_store_role_name(role), label);
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
	return ctl_r_user_role(c, pos[0], d4_store_role_name(role));
}

static int cmd_user_del(struct ctl *c, int argc, char **argv)
{
	const char *pos[1];
	int rc;
	if ((rc = ctl_parse(c, argc, argv, NULL, pos, 1, 1, NULL)) != CTL_OK)
		return rc;
	if ((rc = arg_user(c, pos[0])) != CTL_OK)
		return rc;
	return ctl_r_user_del(c, pos[0]);
}

/* Lists go through the API's operations in both modes (ctl_remote.c). */
static int cmd_user_list(struct ctl *c, int argc, char **argv)
{
	int rc;
	if ((rc = ctl_parse(c, argc, argv, NULL, NULL, 0, 0, NULL)) != CTL_OK)
		return rc;
	return ctl_r_user_list(c);
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
	return ctl_r_token_create(c, pos[0], label);
}

static int cmd_token_list(struct ctl *c, int argc, char **argv)
{
	const char *pos[1] = {NULL};
	int rc, npos = 0;
	if ((rc = ctl_parse(c, argc, argv, NULL, pos, 0, 1, &npos)) != CTL_OK)
		return rc;
	if (npos && (rc = arg_user(c, pos[0])) != CTL_OK)
		return rc;
	return ctl_r_token_list(c, npos ? pos[0] : NULL);
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
	return ctl_r_token_revoke(c, id);
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
