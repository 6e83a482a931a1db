/* d4hub store — the server (ingest) mode and shared key set at run time.
 *
 * Two rows of the settings table:
 *   "server_mode"  01 | u64 mode          (absent: the config's mode applies)
 *   "server_key"   01 | u16 len | key     (absent: the config's key applies)
 * The key is stored as the sensors' keys are (the hub needs it to verify
 * HMACs); every buffer here that held it is wiped. */
#include "store_internal.h"

#include "d4_error.h"
#include "d4_reader.h"
#include "d4_util.h"

#include <string.h>

#define SERVER_MODE_KEY "server_mode"
#define SERVER_KEY_KEY	"server_key"
#define SERVER_KEY_ROOM (1 + 2 + sizeof(((struct d4_server_settings *)0)->shared_key))

static MDB_val sval(const void *p, size_t n)
{
	return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

static int key_get(struct d4_store *s, MDB_txn *txn, struct d4_server_settings *out)
{
	MDB_val k = sval(SERVER_KEY_KEY, strlen(SERVER_KEY_KEY)), v;
	int rc = mdb_get(txn, s->dbi[DBI_SETTINGS], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return store_rc(rc, "server key get");
	struct d4_reader r;
	d4_rd_init(&r, v.mv_data, v.mv_size);
	uint8_t ver = d4_rd_u8(&r);
	uint16_t len = d4_rd_u16be(&r);
	if (d4_rd_error(&r) || ver != STORE_VAL_V1 || len == 0 || len > sizeof(out->shared_key) ||
	    d4_rd_left(&r) != len)
		return D4_ECORRUPT;
	memcpy(out->shared_key, (const uint8_t *)v.mv_data + 3, len);
	out->shared_keylen = len;
	return 0;
}

static int get_txn(struct d4_store *s, MDB_txn *txn, struct d4_server_settings *out)
{
	memset(out, 0, sizeof(*out));
	/* The u64 helper reads an absent row as 0, which is a valid mode: look
	 * for the row itself first. */
	MDB_val k = sval(SERVER_MODE_KEY, strlen(SERVER_MODE_KEY)), v;
	int rc = mdb_get(txn, s->dbi[DBI_SETTINGS], &k, &v);
	if (rc == 0) {
		uint64_t m;
		rc = store_settings_get_u64(s, txn, SERVER_MODE_KEY, &m);
		if (rc)
			return rc;
		if (m > 1)
			return D4_ECORRUPT;
		out->has_mode = 1;
		out->mode = (int)m;
	} else if (rc != MDB_NOTFOUND) {
		return store_rc(rc, "server mode get");
	}
	return key_get(s, txn, out);
}

int d4_store_server_get(struct d4_store *s, struct d4_server_settings *out)
{
	MDB_txn *txn;
	memset(out, 0, sizeof(*out));
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	rc = get_txn(s, txn, out);
	mdb_txn_abort(txn);
	if (rc)
		d4_wipe(out, sizeof(*out));
	return rc;
}

static int set_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const struct d4_server_settings *in = arg;
	int rc = 0;
	if (in->has_mode)
		rc = store_settings_put_u64(s, txn, SERVER_MODE_KEY, (uint64_t)in->mode);
	if (!rc && in->shared_keylen > 0) {
		uint8_t b[SERVER_KEY_ROOM];
		b[0] = STORE_VAL_V1;
		d4_put_u16be(b + 1, (uint16_t)in->shared_keylen);
		memcpy(b + 3, in->shared_key, in->shared_keylen);
		MDB_val k = sval(SERVER_KEY_KEY, strlen(SERVER_KEY_KEY)), v = sval(b, 3 + in->shared_keylen);
		rc = store_rc(mdb_put(txn, s->dbi[DBI_SETTINGS], &k, &v, 0), "server key put");
		/* LMDB copied it into its page; this copy is ours to wipe. */
		d4_wipe(b, sizeof(b));
	}
	return rc;
}

int d4_store_server_set(struct d4_store *s, const struct d4_server_settings *in)
{
	if (!in || (in->has_mode && in->mode != 0 && in->mode != 1) || in->shared_keylen > sizeof(in->shared_key))
		return D4_EINVAL;
	return store_write(s, 1, set_fn, in);
}

static int clear_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	(void)arg;
	static const char *const names[] = {SERVER_MODE_KEY, SERVER_KEY_KEY};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		MDB_val k = sval(names[i], strlen(names[i]));
		int rc = mdb_del(txn, s->dbi[DBI_SETTINGS], &k, NULL);
		if (rc && rc != MDB_NOTFOUND)
			return store_rc(rc, "server settings clear");
	}
	return 0;
}

int d4_store_server_clear(struct d4_store *s)
{
	return store_write(s, 1, clear_fn, NULL);
}
