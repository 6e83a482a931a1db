/* d4hubctl — server (ingest) mode: show it, or override the configuration's
 * mode and shared key at run time. Locally through the store's settings
 * (d4_store_server_get/set), remotely through GET/PUT /api/v1/server. The
 * shared key is a secret: read from a file, never from the command line,
 * never printed, and every copy is wiped. */
#include "ctl_internal.h"
#include "d4_error.h"
#include "d4_hubconf.h"
#include "d4_util.h"

#include <stdio.h>
#include <string.h>

static const char *mode_name(int mode)
{
	return mode == D4_MODE_SHARED_SECRET ? "shared-secret" : "registration";
}

/* Prints the state in both modes' common shape (the API's ServerMode). */
static int print_state(struct ctl *c, const char *mode, const char *source, int key_set, const char *key_note)
{
	if (c->json) {
		ctl_j_obj_open(c, NULL);
		if (mode)
			ctl_j_str(c, "mode", mode);
		else
			ctl_j_null(c, "mode");
		if (source)
			ctl_j_str(c, "mode_source", source);
		else
			ctl_j_null(c, "mode_source");
		ctl_j_bool(c, "shared_key_set", key_set);
		ctl_j_obj_close(c);
		return ctl_j_flush(c);
	}
	if (mode)
		printf("mode:          %s (%s)\n", mode,
		       !strcmp(source, "runtime") ? "set at run time" : "from the configuration");
	else
		printf("mode:          not set (the configuration decides)\n");
	printf("shared key:    %s\n", key_note ? key_note : key_set ? "set" : "not set");
	return CTL_OK;
}

static int local_show(struct ctl *c, const struct d4_server_settings *ss)
{
	if (ss->has_mode)
		return print_state(c, mode_name(ss->mode), "runtime", ss->shared_keylen || c->conf_has_key, NULL);
	if (c->conf_path)
		return print_state(c, mode_name(c->conf_mode), "config", ss->shared_keylen || c->conf_has_key, NULL);
	/* -s: the configuration is unknown here. */
	return print_state(c, NULL, NULL, ss->shared_keylen > 0,
			   ss->shared_keylen ? "set at run time"
					     : "none set at run time (the configuration may have one)");
}

static int remote_show(struct ctl *c, yajl_val v)
{
	const char *mode = ctl_jstr(v, "mode"), *src = ctl_jstr(v, "mode_source");
	char m[32], s[32];
	if (c->json) {
		ctl_j_tree(c, NULL, v);
		return ctl_j_flush(c);
	}
	if (!mode || !src)
		return ctl_fail(c, "the hub's answer has no mode");
	return print_state(c, ctl_clean(mode, m, sizeof(m)), ctl_clean(src, s, sizeof(s)),
			   ctl_jbool(v, "shared_key_set"), NULL);
}

int ctl_cmd_server(struct ctl *c, int argc, char **argv)
{
	const char *pos[2] = {NULL, NULL}, *key_file = NULL;
	const struct ctl_opt opts[] = {{"shared-key-file", 1, &key_file, NULL}, {NULL, 0, NULL, NULL}};
	int n = 0, rc, mode = -1;
	static struct d4_server_settings ss; /* holds the key: wiped on every path */
	uint8_t key[D4_KEY_MAX];
	uint16_t keylen = 0;

	if (argc < 1 || strcmp(argv[0], "mode") != 0)
		return ctl_usage(c, "expected 'server mode [registration|shared-secret [--shared-key-file FILE]]'");
	c->cmd = "server mode";
	if ((rc = ctl_parse(c, argc - 1, argv + 1, opts, pos, 0, 1, &n)) != CTL_OK)
		return rc;
	if (n) {
		if (!strcmp(pos[0], "registration"))
			mode = D4_MODE_REGISTRATION;
		else if (!strcmp(pos[0], "shared-secret"))
			mode = D4_MODE_SHARED_SECRET;
		else
			return ctl_usage(c, "bad mode '%s': expected registration or shared-secret", pos[0]);
	} else if (key_file) {
		return ctl_usage(c, "--shared-key-file needs a mode (registration or shared-secret)");
	}
	memset(&ss, 0, sizeof(ss));
	if (key_file && (rc = ctl_read_key_file(c, key_file, key, &keylen)) != CTL_OK)
		goto out;

	if (c->url) {
		yajl_val v = NULL;
		yajl_gen b = NULL;
		if (mode >= 0) {
			if (!(b = ctl_body_new())) {
				rc = ctl_fail(c, "out of memory");
				goto out;
			}
			yajl_gen_map_open(b);
			yajl_gen_string(b, (const unsigned char *)"mode", 4);
			yajl_gen_string(b, (const unsigned char *)mode_name(mode), strlen(mode_name(mode)));
			if (keylen) {
				yajl_gen_string(b, (const unsigned char *)"shared_key", 10);
				yajl_gen_string(b, key, keylen);
			}
			yajl_gen_map_close(b);
		}
		rc = ctl_api(c, mode >= 0 ? "PUT" : "GET", "/api/v1/server", b, &v);
		if (rc == CTL_OK)
			rc = remote_show(c, v);
		ctl_tree_free(v);
		goto out;
	}

	if ((rc = ctl_store(c, mode >= 0)) != CTL_OK)
		goto out;
	int g = d4_store_server_get(c->st, &ss);
	if (g != D4_OK) {
		rc = ctl_fail(c, "cannot read the server settings: %s", d4_strerror(g));
		goto out;
	}
	if (mode < 0) {
		rc = local_show(c, &ss);
		goto out;
	}
	/* As the API: shared-secret needs a key somewhere (given now, set
	 * earlier at run time, or in the configuration with -c). */
	if (mode == D4_MODE_SHARED_SECRET && !keylen && !ss.shared_keylen && !c->conf_has_key) {
		rc = ctl_fail(c, "shared-secret mode needs a shared key: give --shared-key-file FILE%s",
			      c->conf_path ? "" : " (with -s the configuration's key is not known)");
		goto out;
	}
	struct d4_server_settings in;
	memset(&in, 0, sizeof(in));
	in.has_mode = 1;
	in.mode = mode;
	if (keylen) {
		memcpy(in.shared_key, key, keylen);
		in.shared_keylen = keylen;
	}
	g = d4_store_server_set(c->st, &in);
	d4_wipe(&in, sizeof(in));
	if (g != D4_OK) {
		rc = ctl_fail(c, "cannot save the server settings: %s", d4_strerror(g));
		goto out;
	}
	d4_wipe(&ss, sizeof(ss));
	if ((g = d4_store_server_get(c->st, &ss)) != D4_OK) {
		rc = ctl_fail(c, "cannot read the server settings: %s", d4_strerror(g));
		goto out;
	}
	rc = local_show(c, &ss);
out:
	d4_wipe(key, sizeof(key));
	d4_wipe(&ss, sizeof(ss));
	return rc;
}
