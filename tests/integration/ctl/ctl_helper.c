/* Test helper for the d4hubctl script test: does through the store API
 * what d4hubctl must not or cannot do, so that the script can check the
 * tool's effects independently.
 *   ctl_helper key STORE UUID           prints the stored key as hex (or "none")
 *   ctl_helper fill STORE UUID OUTFILE  writes one session with known frames
 *                                       through the writer; OUTFILE gets the
 *                                       concatenated payloads
 *   ctl_helper verify STORE TOKEN       prints "USER ROLE ID" of a live API
 *                                       token, or exits 1 */
#include "d4_error.h"
#include "d4_policy.h"
#include "d4_store.h"
#include "d4_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct d4_store *open_store(const char *path)
{
	struct d4_store_opts o;
	struct d4_store *s = NULL;
	memset(&o, 0, sizeof(o));
	o.path = path;
	o.no_sync = 1;
	int rc = d4_store_open(&o, &s);
	if (rc != D4_OK) {
		fprintf(stderr, "ctl_helper: open %s: %s\n", path, d4_strerror(rc));
		exit(1);
	}
	return s;
}

static int cmd_key(const char *path, const uint8_t uuid[16])
{
	struct d4_store *s = open_store(path);
	static struct d4_sensor sn;
	int rc = d4_store_sensor_get(s, uuid, &sn);
	if (rc != D4_OK) {
		fprintf(stderr, "ctl_helper: sensor_get: %s\n", d4_strerror(rc));
		return 1;
	}
	if (sn.keylen == 0) {
		printf("none\n");
	} else {
		char hex[2 * D4_KEY_MAX + 1];
		d4_hex_encode(sn.key, sn.keylen, hex);
		printf("%s\n", hex);
	}
	d4_store_close(s);
	return 0;
}

static int cmd_fill(const char *path, const uint8_t uuid[16], const char *out)
{
	struct d4_store *s = open_store(path);
	uint8_t bin[256];
	for (int i = 0; i < 256; i++)
		bin[i] = (uint8_t)i;
	const struct {
		const uint8_t *p;
		uint32_t n;
	} payloads[] = {{(const uint8_t *)"first frame\n", 12},
			{bin, 256},
			{(const uint8_t *)"", 0},
			{(const uint8_t *)"last\n", 5}};
	int rc = d4_store_writer_start(s);
	if (rc != D4_OK) {
		fprintf(stderr, "ctl_helper: writer_start: %s\n", d4_strerror(rc));
		return 1;
	}
	uint64_t now = d4_now_s();
	struct d4_session_open so;
	memset(&so, 0, sizeof(so));
	so.session = d4_store_session_id_new(s);
	memcpy(so.uuid, uuid, 16);
	so.type = 1;
	so.addr[10] = so.addr[11] = 0xff;
	so.addr[12] = 127;
	so.addr[15] = 1;
	so.port = 40000;
	so.when = now;
	if ((rc = d4_store_post_session_open(s, &so)) != D4_OK) {
		fprintf(stderr, "ctl_helper: session_open: %s\n", d4_strerror(rc));
		return 1;
	}
	FILE *f = fopen(out, "wb");
	if (!f) {
		perror(out);
		return 1;
	}
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		struct d4_frame_rec fr;
		memset(&fr, 0, sizeof(fr));
		fr.session = so.session;
		memcpy(fr.uuid, uuid, 16);
		fr.type = 1;
		fr.version = 1;
		fr.tlp = D4_TLP_AMBER;
		fr.hdr_ts = now;
		fr.recv_ms = now * 1000 + i;
		fr.size = payloads[i].n;
		if ((rc = d4_store_post_frame(s, &fr, payloads[i].p)) != D4_OK) {
			fprintf(stderr, "ctl_helper: post_frame: %s\n", d4_strerror(rc));
			return 1;
		}
		fwrite(payloads[i].p, 1, payloads[i].n, f);
	}
	fclose(f);
	if ((rc = d4_store_post_session_close(s, so.session, now, "test done")) != D4_OK) {
		fprintf(stderr, "ctl_helper: session_close: %s\n", d4_strerror(rc));
		return 1;
	}
	if ((rc = d4_store_writer_sync(s, 10000)) != D4_OK) {
		fprintf(stderr, "ctl_helper: sync: %s\n", d4_strerror(rc));
		return 1;
	}
	d4_store_writer_stop(s);
	d4_store_close(s);
	printf("%llu\n", (unsigned long long)so.session);
	return 0;
}

static int cmd_verify(const char *path, const char *token)
{
	struct d4_store *s = open_store(path);
	char user[D4_USER_NAME_MAX], id[D4_TOKEN_ID_HEX];
	uint8_t role = 0;
	int rc = d4_store_token_verify(s, token, user, &role, id);
	d4_store_close(s);
	if (rc != D4_OK) {
		fprintf(stderr, "ctl_helper: verify: %s\n", d4_strerror(rc));
		return 1;
	}
	printf("%s %s %s\n", user, d4_store_role_name(role), id);
	return 0;
}

int main(int argc, char **argv)
{
	uint8_t uuid[16];
	if (argc == 4 && !strcmp(argv[1], "verify"))
		return cmd_verify(argv[2], argv[3]);
	if (argc < 4 || d4_uuid_parse(argv[3], uuid) != D4_OK) {
		fprintf(stderr, "usage: ctl_helper key STORE UUID | fill STORE UUID OUTFILE | verify STORE TOKEN\n");
		return 2;
	}
	if (!strcmp(argv[1], "key"))
		return cmd_key(argv[2], uuid);
	if (!strcmp(argv[1], "fill") && argc == 5)
		return cmd_fill(argv[2], uuid, argv[4]);
	fprintf(stderr, "usage: ctl_helper key STORE UUID | fill STORE UUID OUTFILE | verify STORE TOKEN\n");
	return 2;
}
