/* d4hub store — environment, schema, synchronous reads and admin writes.
 * The asynchronous frame writer lives in store_writer.c. */
#include "store_internal.h"

#include "d4_error.h"
#include "d4_log.h"
#include "d4_reader.h"
#include "d4_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

static const char *const reject_names[D4_REJ_COUNT] = {
    "ip-blocked",	   "uuid-ips-blocked",	    "uuid-blocked",
    "unknown-sensor",	   "not-approved",	    "banned",
    "payload-too-big",	   "preauth-limit",	    "uuid-not-v4",
    "type-not-accepted",   "duplicate-session",	    "first-packet-254",
    "type-change",	   "uuid-change",	    "hmac-mismatch",
    "backlog-exceeded",	   "header-timeout",	    "timestamp-out-of-window",
    "meta-header-invalid", "ext-type-not-accepted", "bad-version",
    "tls-handshake",
};

const char *d4_store_reject_name(enum d4_reject r)
{
	if ((unsigned)r >= D4_REJ_COUNT)
		return "unknown";
	return reject_names[r];
}

const char *d4_store_status_name(enum d4_sensor_status st)
{
	switch (st) {
	case D4_SENSOR_PENDING: return "pending";
	case D4_SENSOR_APPROVED: return "approved";
	case D4_SENSOR_BLOCKED: return "blocked";
	}
	return "unknown";
}

int store_rc(int rc, const char *what)
{
	switch (rc) {
	case MDB_SUCCESS: return 0;
	case MDB_NOTFOUND: return D4_ENOTFOUND;
	case MDB_MAP_FULL: return D4_EFULL;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID: d4_err("store: %s: %s", what, mdb_strerror(rc)); return D4_ECORRUPT;
	case ENOMEM: return D4_ENOMEM;
	default: d4_err("store: %s: %s", what, mdb_strerror(rc)); return D4_ESTORE;
	}
}

int store_txn_begin(struct d4_store *s, int rdonly, MDB_txn **txn)
{
	if (!rdonly && s->opts.read_only)
		return D4_EPERM;
	int rc = mdb_txn_begin(s->env, NULL, rdonly ? MDB_RDONLY : 0, txn);
	if (rc == MDB_MAP_RESIZED) {
		/* Adopting the new size needs every transaction of this process
		 * closed, which a multi-threaded caller cannot promise here. */
		d4_err("store: the map was grown by another process beyond this one's map_size; reopen the store");
		return D4_ESTORE;
	}
	return store_rc(rc, "txn begin");
}

/* Every open store gets a serial of its own (kept as the LMDB env's user
 * context): two stores opened one after the other in a process can reach the
 * same transaction id, and a cache keyed by the generation must not mix them. */
static atomic_uint_fast64_t open_serial;

static MDB_val mval(const void *p, size_t n)
{
	return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

/* ---- settings ---- */
int store_settings_get_u64(struct d4_store *s, MDB_txn *txn, const char *name, uint64_t *out)
{
	MDB_val k = mval(name, strlen(name)), v;
	int rc = mdb_get(txn, s->dbi[DBI_SETTINGS], &k, &v);
	if (rc == MDB_NOTFOUND) {
		*out = 0;
		return 0;
	}
	if (rc)
		return store_rc(rc, "settings get");
	struct d4_reader r;
	d4_rd_init(&r, v.mv_data, v.mv_size);
	if (d4_rd_u8(&r) != STORE_VAL_V1)
		return D4_ECORRUPT;
	*out = d4_rd_u64be(&r);
	return (d4_rd_error(&r) || d4_rd_left(&r)) ? D4_ECORRUPT : 0;
}

int store_settings_put_u64(struct d4_store *s, MDB_txn *txn, const char *name, uint64_t v)
{
	uint8_t b[9];
	b[0] = STORE_VAL_V1;
	d4_put_u64be(b + 1, v);
	MDB_val k = mval(name, strlen(name)), d = mval(b, sizeof(b));
	return store_rc(mdb_put(txn, s->dbi[DBI_SETTINGS], &k, &d, 0), "settings put");
}

int store_epoch_bump_txn(struct d4_store *s, MDB_txn *txn)
{
	uint64_t e;
	int rc = store_settings_get_u64(s, txn, "epoch", &e);
	if (!rc)
		rc = store_settings_put_u64(s, txn, "epoch", e + 1);
	return rc;
}

static int commit(MDB_txn *txn)
{
	return store_rc(mdb_txn_commit(txn), "commit");
}

/* Runs fn inside one write transaction, bumping the epoch when asked. */
static int with_write(struct d4_store *s, int bump, int (*fn)(struct d4_store *s, MDB_txn *txn, const void *arg),
		      const void *arg)
{
	MDB_txn *txn;
	int rc = store_txn_begin(s, 0, &txn);
	if (rc)
		return rc;
	rc = fn(s, txn, arg);
	if (!rc && bump)
		rc = store_epoch_bump_txn(s, txn);
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	return commit(txn);
}

static const uint8_t default_types[] = {1, 2, 4, 8, 254};

static int types_put(struct d4_store *s, MDB_txn *txn, const uint8_t accepted[256])
{
	uint8_t b[33] = {STORE_VAL_V1};
	for (int t = 0; t < 256; t++)
		if (accepted[t])
			b[1 + t / 8] |= (uint8_t)(1u << (t % 8));
	MDB_val k = mval("types", 5), v = mval(b, sizeof(b));
	return store_rc(mdb_put(txn, s->dbi[DBI_SETTINGS], &k, &v, 0), "types put");
}

static int types_get_txn(struct d4_store *s, MDB_txn *txn, uint8_t accepted[256])
{
	MDB_val k = mval("types", 5), v;
	int rc = mdb_get(txn, s->dbi[DBI_SETTINGS], &k, &v);
	if (rc)
		return store_rc(rc, "types get");
	if (v.mv_size != 33 || ((uint8_t *)v.mv_data)[0] != STORE_VAL_V1)
		return D4_ECORRUPT;
	const uint8_t *b = (const uint8_t *)v.mv_data + 1;
	for (int t = 0; t < 256; t++)
		accepted[t] = (b[t / 8] >> (t % 8)) & 1;
	return 0;
}

/* Schema 3 -> 4: the pDNS tables changed layout (tuples clustered by name).
 * No store with pDNS data exists in the field, so they are emptied (names
 * reused), the two tables that went are deleted, and the ingest cursor goes
 * with pdns_meta: the pDNS worker rebuilds the tuples from the frames still
 * in the log. */
static int pdns_migrate_3(struct d4_store *s, MDB_txn *txn)
{
	for (int d = DBI_PDNS_TUPLES; d <= DBI_PDNS_META; d++) {
		int rc = mdb_drop(txn, s->dbi[d], 0);
		if (rc)
			return store_rc(rc, "pdns migrate");
	}
	static const char *const gone[] = {"pdns_ident", "pdns_name"};
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
		MDB_dbi d;
		int rc = mdb_dbi_open(txn, gone[i], 0, &d);
		if (rc == MDB_NOTFOUND)
			continue;
		if (!rc)
			rc = mdb_drop(txn, d, 1);
		if (rc)
			return store_rc(rc, "pdns migrate");
	}
	return 0;
}

static int schema_init(struct d4_store *s, MDB_txn *txn)
{
	uint64_t ver;
	int rc = store_settings_get_u64(s, txn, "schema", &ver);
	if (rc)
		return rc;
	if (ver > STORE_SCHEMA_VERSION) {
		d4_err("store: schema version %llu is newer than this build (%u)", (unsigned long long)ver,
		       STORE_SCHEMA_VERSION);
		return D4_ESTORE;
	}
	if (ver == STORE_SCHEMA_VERSION)
		return 0;
	if (ver == 4) {
		/* 4 -> 5: the backscatter tables were just created by the open (empty) */
		d4_notice("store: upgrading schema 4 to %u (backscatter vector tables)", STORE_SCHEMA_VERSION);
		return store_settings_put_u64(s, txn, "schema", STORE_SCHEMA_VERSION);
	}
	if (ver == 3) {
		d4_notice("store: upgrading schema 3 to %u (passive DNS tables re-laid out: emptied, rebuilt from "
			  "the frame log by the pDNS ingest; backscatter vector tables)",
			  STORE_SCHEMA_VERSION);
		rc = pdns_migrate_3(s, txn);
		return rc ? rc : store_settings_put_u64(s, txn, "schema", STORE_SCHEMA_VERSION);
	}
	if (ver == 1 || ver == 2) {
		/* 1 -> 2 -> 5: the new tables were just created by the open (empty);
		 * sensor values stay v1 until rewritten (the decoder reads both). */
		d4_notice("store: upgrading schema %llu to %u (users and API tokens, sensor monitoring, passive DNS, "
			  "backscatter)",
			  (unsigned long long)ver, STORE_SCHEMA_VERSION);
		return store_settings_put_u64(s, txn, "schema", STORE_SCHEMA_VERSION);
	}
	uint8_t acc[256] = {0};
	for (size_t i = 0; i < sizeof(default_types); i++)
		acc[default_types[i]] = 1;
	rc = types_put(s, txn, acc);
	if (!rc)
		rc = store_settings_put_u64(s, txn, "epoch", 1);
	if (!rc)
		rc = store_settings_put_u64(s, txn, "sid_high", 0);
	if (!rc)
		rc = store_settings_put_u64(s, txn, "seq_next", 1);
	if (!rc)
		rc = store_settings_put_u64(s, txn, "schema", STORE_SCHEMA_VERSION);
	return rc;
}

static const char *const dbi_names[DBI_COUNT] = {
    "frames",	     "sessidx",	       "sessions",    "sensors",       "sensor_types",	  "blocklist",
    "settings",	     "daily",	       "totals",      "users",	       "tokens",	  "token_ids",
    "queues",	     "queue_entries",  "pdns_tuples", "pdns_rname",    "pdns_rdata_name", "pdns_rdata_rname",
    "pdns_rdata_ip", "pdns_rdata_raw", "pdns_time",   "pdns_meta",     "replay",	  "partners",
    "fed_out",	     "fed_in",	       "fed_sess",    "bs_vectors",    "bs_ident",	  "bs_victim",
    "bs_last",	     "bs_port",	       "bs_sensor",   "bs_change",     "bs_ongoing",	  "bs_states",
    "bs_meta",	     "fed_sig",	       "pdns_side",   "pssl_certs",    "pssl_der",	  "pssl_cert_idx",
    "pssl_keys",     "pssl_spki",      "pssl_mod",    "pssl_tuples",   "pssl_tuple_key",  "pssl_tuple_idx",
    "pssl_change",   "pssl_fp",	       "pssl_weak",   "pssl_weak_idx", "pssl_meta",	  "pdns_rec",
    "pdns_key",	     "pdns_names",     "pdns_nrev",   "pdns_rdn",      "pdns_ip",	  "pdns_raw",
    "pdns_tblk"};

/* seq_next is persisted each commit; the frame log's last chunk is the
 * fallback in case the setting lags (it never should). */
static int load_seq(struct d4_store *s, MDB_txn *txn)
{
	uint64_t next;
	int rc = store_settings_get_u64(s, txn, "seq_next", &next);
	if (rc)
		return rc;
	if (next == 0)
		next = 1;
	MDB_cursor *c;
	rc = mdb_cursor_open(txn, s->dbi[DBI_FRAMES], &c);
	if (rc)
		return store_rc(rc, "cursor");
	MDB_val k, v;
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == 0) {
		struct store_chunk_hdr h;
		if (store_dec_chunk_hdr(v.mv_data, v.mv_size, &h)) {
			mdb_cursor_close(c);
			return D4_ECORRUPT;
		}
		if (h.first_seq + h.count > next)
			next = h.first_seq + h.count;
		rc = 0;
	} else if (rc == MDB_NOTFOUND) {
		rc = 0;
	} else {
		rc = store_rc(rc, "frames last");
	}
	mdb_cursor_close(c);
	s->seq_next = next;
	return rc;
}

int d4_store_open(const struct d4_store_opts *opts, struct d4_store **out)
{
	*out = NULL;
	if (!opts || !opts->path || strlen(opts->path) >= sizeof(((struct d4_store *)0)->path))
		return D4_EINVAL;
	if (!opts->read_only && mkdir(opts->path, 0700) != 0 && errno != EEXIST) {
		d4_err("store: mkdir %s: %s", opts->path, strerror(errno));
		return D4_EIO;
	}
	struct d4_store *s = calloc(1, sizeof(*s));
	if (!s)
		return D4_ENOMEM;
	s->opts = *opts;
	d4_strlcpy(s->path, opts->path, sizeof(s->path));
	s->opts.path = s->path;
	if (!s->opts.map_size)
		s->opts.map_size = 1ull << 30;
	if (!s->opts.commit_ms)
		s->opts.commit_ms = 50;
	if (!s->opts.commit_bytes)
		s->opts.commit_bytes = 16u << 20;
	if (!s->opts.queue_bytes)
		s->opts.queue_bytes = 64u << 20;
	if (!s->opts.frame_cache)
		s->opts.frame_cache = 64u << 20;
	s->retention_age_s = s->opts.retention_age_s;
	s->retention_bytes = s->opts.retention_bytes;
	s->efd = -1;
	pthread_mutex_init(&s->sid_lock, NULL);
	store_writer_init(s);

	int rc = mdb_env_create(&s->env);
	if (rc) {
		rc = store_rc(rc, "env create");
		goto fail;
	}
	mdb_env_set_userctx(s->env, (void *)(uintptr_t)(atomic_fetch_add(&open_serial, 1) + 1));
	mdb_env_set_maxdbs(s->env, 64); /* DBI_COUNT plus room for later tables */
	mdb_env_set_mapsize(s->env, (size_t)s->opts.map_size);
	/* NOTLS: read transactions are started from several threads (and a
	 * callback may start a nested one); never NOSYNC/WRITEMAP in production
	 * so that a crash cannot lose or tear a committed transaction. */
	unsigned flags = MDB_NOTLS;
	if (s->opts.read_only)
		flags |= MDB_RDONLY;
	if (s->opts.no_sync)
		flags |= MDB_NOSYNC;
	rc = mdb_env_open(s->env, s->path, flags, 0600);
	if (rc) {
		d4_err("store: open %s: %s", s->path, mdb_strerror(rc));
		rc = rc == ENOENT || rc == EACCES ? D4_EIO : D4_ESTORE;
		goto fail;
	}
	/* map_size 0 (tools opening an existing store): adopt the size the
	 * store was last written with when that is larger than the default. */
	if (opts->map_size == 0) {
		MDB_envinfo info;
		mdb_env_info(s->env, &info);
		size_t cur = info.me_mapsize;
		if (mdb_env_set_mapsize(s->env, 0) == 0) {
			mdb_env_info(s->env, &info);
			if (info.me_mapsize < cur)
				mdb_env_set_mapsize(s->env, cur);
		}
	}
	int dead = 0;
	mdb_reader_check(s->env, &dead); /* free slots of crashed processes */
	MDB_stat st;
	mdb_env_stat(s->env, &st);
	s->psize = st.ms_psize;

	MDB_txn *txn;
	rc = store_rc(mdb_txn_begin(s->env, NULL, s->opts.read_only ? MDB_RDONLY : 0, &txn), "txn begin");
	if (rc)
		goto fail;
	for (int i = 0; i < DBI_COUNT && !rc; i++) {
		int r = mdb_dbi_open(txn, dbi_names[i], s->opts.read_only ? 0 : MDB_CREATE, &s->dbi[i]);
		if (r == MDB_NOTFOUND && s->opts.read_only && i >= STORE_FIRST_V2_DBI) {
			s->dbi_absent[i] = 1; /* an older store, not upgraded yet */
			continue;
		}
		rc = store_rc(r, dbi_names[i]);
	}
	if (!rc && !s->opts.read_only)
		rc = schema_init(s, txn);
	if (!rc && s->opts.read_only) {
		/* pDNS tables of an older layout read as absent (empty) until a
		 * writable open migrates them */
		uint64_t ver = 0;
		rc = store_settings_get_u64(s, txn, "schema", &ver);
		for (int d = DBI_PDNS_TUPLES; !rc && ver < STORE_SCHEMA_PDNS && d <= DBI_PDNS_META; d++)
			s->dbi_absent[d] = 1;
		for (int d = DBI_BS_VEC; !rc && ver < STORE_SCHEMA_BS && d <= DBI_BS_META; d++)
			s->dbi_absent[d] = 1;
	}
	if (!rc)
		rc = load_seq(s, txn);
	if (!rc)
		rc = store_pdns_layout_init(s, txn);
	if (rc) {
		mdb_txn_abort(txn);
		goto fail;
	}
	rc = commit(txn);
	if (rc)
		goto fail;
	*out = s;
	return 0;
fail:
	if (s->env)
		mdb_env_close(s->env);
	store_writer_fini(s);
	store_pdns_layout_free(s);
	pthread_mutex_destroy(&s->sid_lock);
	free(s);
	return rc;
}

void d4_store_close(struct d4_store *s)
{
	if (!s)
		return;
	d4_store_writer_stop(s);
	mdb_env_close(s->env);
	store_writer_fini(s);
	store_watch_free(s);
	store_live_free(s);
	store_pdns_layout_free(s);
	pthread_mutex_destroy(&s->sid_lock);
	free(s);
}

/* ---- sensors ---- */
int d4_store_sensor_get(struct d4_store *s, const uint8_t uuid[16], struct d4_sensor *out)
{
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	MDB_val k = mval(uuid, 16), v;
	rc = mdb_get(txn, s->dbi[DBI_SENSORS], &k, &v);
	rc = rc ? store_rc(rc, "sensor get") : store_dec_sensor(v.mv_data, v.mv_size, out);
	mdb_txn_abort(txn);
	return rc;
}

static int sensor_put_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const struct d4_sensor *in = arg;
	struct d4_sensor *sn = malloc(sizeof(*sn));
	if (!sn)
		return D4_ENOMEM;
	MDB_val k = mval(in->uuid, 16), v;
	int rc = mdb_get(txn, s->dbi[DBI_SENSORS], &k, &v);
	if (rc == 0) {
		rc = store_dec_sensor(v.mv_data, v.mv_size, sn);
		if (!rc) {
			memcpy(sn->key, in->key, sizeof(sn->key));
			sn->keylen = in->keylen > D4_KEY_MAX ? D4_KEY_MAX : in->keylen;
			sn->status = in->status;
			memcpy(sn->description, in->description, sizeof(sn->description));
			memcpy(sn->mail, in->mail, sizeof(sn->mail));
			sn->default_tlp = in->default_tlp;
			memcpy(sn->default_org, in->default_org, 16);
			sn->has_default_org = in->has_default_org ? 1 : 0;
			sn->max_payload = in->max_payload;
			sn->max_backlog = in->max_backlog;
			sn->ban_until = in->ban_until;
			sn->silence_threshold = in->silence_threshold;
		}
	} else if (rc == MDB_NOTFOUND) {
		*sn = *in;
		if (!sn->created)
			sn->created = d4_now_s();
		rc = 0;
	} else {
		rc = store_rc(rc, "sensor get");
	}
	if (!rc && sn->status > D4_SENSOR_BLOCKED)
		rc = D4_EINVAL;
	if (!rc) {
		uint8_t buf[STORE_SENSOR_MAX];
		size_t n = store_enc_sensor(sn, buf);
		MDB_val d = mval(buf, n);
		rc = store_rc(mdb_put(txn, s->dbi[DBI_SENSORS], &k, &d, 0), "sensor put");
		d4_wipe(buf, n);
	}
	d4_wipe(sn, sizeof(*sn));
	free(sn);
	return rc;
}

int store_write(struct d4_store *s, int bump, int (*fn)(struct d4_store *s, MDB_txn *txn, const void *arg),
		const void *arg)
{
	return with_write(s, bump, fn, arg);
}

int d4_store_sensor_put(struct d4_store *s, const struct d4_sensor *in)
{
	if (!in)
		return D4_EINVAL;
	return with_write(s, 1, sensor_put_fn, in);
}

static int del_prefix(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix, size_t plen)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, dbi, &c);
	if (rc)
		return store_rc(rc, "cursor");
	MDB_val k = mval(prefix, plen), v;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0) {
		rc = mdb_cursor_del(c, 0);
		if (rc)
			break;
		/* Re-seek rather than trust the cursor position after a delete. */
		k = mval(prefix, plen);
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : store_rc(rc, "delete range");
}

static int sensor_del_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const uint8_t *uuid = arg;
	MDB_val k = mval(uuid, 16);
	int rc = mdb_del(txn, s->dbi[DBI_SENSORS], &k, NULL);
	if (rc)
		return store_rc(rc, "sensor del");
	return del_prefix(txn, s->dbi[DBI_STYPES], uuid, 16);
}

int d4_store_sensor_del(struct d4_store *s, const uint8_t uuid[16])
{
	return with_write(s, 1, sensor_del_fn, uuid);
}

/* Generic ordered scan from a start key while keys share a prefix. */
typedef int (*scan_fn)(void *ctx, const MDB_val *k, const MDB_val *v);
static int scan(struct d4_store *s, enum store_dbi dbi, const void *start, size_t slen, const void *prefix, size_t plen,
		scan_fn fn, void *ctx)
{
	MDB_txn *txn;
	MDB_cursor *c;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	rc = mdb_cursor_open(txn, s->dbi[dbi], &c);
	if (rc) {
		mdb_txn_abort(txn);
		return store_rc(rc, "cursor");
	}
	MDB_val k = mval(start, slen), v;
	rc = mdb_cursor_get(c, &k, &v, slen ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0) {
		if (plen && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0))
			break;
		int r = fn(ctx, &k, &v);
		if (r) {
			rc = r < 0 ? r : 0;
			goto out;
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	rc = rc == MDB_NOTFOUND ? 0 : store_rc(rc, "scan");
out:
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc;
}

int store_scan(struct d4_store *s, enum store_dbi dbi, const void *start, size_t slen, const void *prefix, size_t plen,
	       scan_fn fn, void *ctx)
{
	if (s->dbi_absent[dbi])
		return 0;
	return scan(s, dbi, start, slen, prefix, plen, fn, ctx);
}

/* Lists skip a sensor record that does not decode (one bad record must not
 * hide every other sensor); the writer counts it (d4_store_health_get). */
static void sensor_corrupt_skipped(const MDB_val *k)
{
	char hex[33] = "?";
	if (k->mv_size == 16)
		d4_uuid_hex(k->mv_data, hex);
	d4_warn("store: sensor %s: record is corrupt; left out of the list (delete and re-create the sensor)", hex);
}

struct sensor_scan {
	int (*cb)(void *ctx, const struct d4_sensor *sn);
	void *ctx;
	uint64_t now; /* d4_store_sensors_silent only */
	int silent;
	struct d4_sensor sn;
};
static int sensor_scan_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct sensor_scan *ss = ctx;
	int rc = store_dec_sensor(v->mv_data, v->mv_size, &ss->sn);
	if (rc) {
		sensor_corrupt_skipped(k);
		return 0;
	}
	if (ss->silent) {
		const struct d4_sensor *sn = &ss->sn;
		/* Never seen: the silence counts from registration, so a sensor
		 * that never connects is reported once its threshold has passed. */
		uint64_t ref = sn->last_seen ? sn->last_seen : sn->created;
		if (!sn->silence_threshold || ss->now <= ref || ss->now - ref <= sn->silence_threshold)
			return 0;
	}
	return ss->cb(ss->ctx, &ss->sn) ? 1 : 0;
}

int d4_store_sensor_foreach(struct d4_store *s, int (*cb)(void *ctx, const struct d4_sensor *sn), void *ctx)
{
	struct sensor_scan *ss = malloc(sizeof(*ss));
	if (!ss)
		return D4_ENOMEM;
	ss->cb = cb;
	ss->ctx = ctx;
	ss->silent = 0;
	int rc = scan(s, DBI_SENSORS, NULL, 0, NULL, 0, sensor_scan_fn, ss);
	d4_wipe(&ss->sn, sizeof(ss->sn));
	free(ss);
	return rc;
}

int d4_store_sensors_silent(struct d4_store *s, uint64_t now, int (*cb)(void *ctx, const struct d4_sensor *sn),
			    void *ctx)
{
	struct sensor_scan *ss = malloc(sizeof(*ss));
	if (!ss)
		return D4_ENOMEM;
	ss->cb = cb;
	ss->ctx = ctx;
	ss->now = now;
	ss->silent = 1;
	int rc = scan(s, DBI_SENSORS, NULL, 0, NULL, 0, sensor_scan_fn, ss);
	d4_wipe(&ss->sn, sizeof(ss->sn));
	free(ss);
	return rc;
}

/* ---- sensor summaries (lists) ---- */
int store_dec_sensor_summary(const uint8_t *p, size_t len, struct d4_sensor_summary *sm);

static uint64_t generation_of(struct d4_store *s, MDB_txn *txn)
{
	uint64_t serial = (uint64_t)(uintptr_t)mdb_env_get_userctx(s->env);
	return (serial << 44) ^ (uint64_t)mdb_txn_id(txn);
}

uint64_t d4_store_generation(struct d4_store *s)
{
	MDB_txn *txn;
	if (store_txn_begin(s, 1, &txn))
		return 0;
	uint64_t g = generation_of(s, txn);
	mdb_txn_abort(txn);
	return g;
}

int d4_store_sensor_summary_foreach(struct d4_store *s, const uint8_t *after, uint64_t *gen_out,
				    int (*cb)(void *ctx, const struct d4_sensor_summary *sm), void *ctx)
{
	MDB_txn *txn;
	MDB_cursor *c;
	struct d4_sensor_summary sm;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	/* Read inside the same snapshot as the records: a generation taken
	 * before or after could label a page with a state it does not show. */
	if (gen_out)
		*gen_out = generation_of(s, txn);
	rc = mdb_cursor_open(txn, s->dbi[DBI_SENSORS], &c);
	if (rc) {
		mdb_txn_abort(txn);
		return store_rc(rc, "cursor");
	}
	/* Seek to the cursor key: a page costs its own records, not those of
	 * every page before it. */
	MDB_val k = mval(after, after ? 16 : 0), v;
	rc = mdb_cursor_get(c, &k, &v, after ? MDB_SET_RANGE : MDB_FIRST);
	if (rc == 0 && after && k.mv_size == 16 && memcmp(k.mv_data, after, 16) == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	while (rc == 0) {
		int r = store_dec_sensor_summary(v.mv_data, v.mv_size, &sm);
		if (r == 0) {
			r = cb(ctx, &sm);
		} else {
			sensor_corrupt_skipped(&k);
			r = 0;
		}
		if (r) {
			rc = r < 0 ? r : 0;
			goto out;
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	rc = rc == MDB_NOTFOUND ? 0 : store_rc(rc, "sensor scan");
out:
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc;
}

/* ---- put-if-absent ---- */
static int sensor_add_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const struct d4_sensor *in = arg;
	uint8_t *buf = malloc(STORE_SENSOR_MAX);
	struct d4_sensor *sn = malloc(sizeof(*sn));
	int rc = D4_ENOMEM;
	if (!buf || !sn)
		goto out;
	*sn = *in;
	if (sn->keylen > D4_KEY_MAX)
		sn->keylen = D4_KEY_MAX;
	if (!sn->created)
		sn->created = d4_now_s();
	size_t n = store_enc_sensor(sn, buf);
	MDB_val k = mval(in->uuid, 16), d = mval(buf, n);
	/* The existence check and the write are one step: LMDB refuses the
	 * put inside this transaction if any writer created the key first. */
	rc = mdb_put(txn, s->dbi[DBI_SENSORS], &k, &d, MDB_NOOVERWRITE);
	rc = rc == MDB_KEYEXIST ? D4_EEXIST : store_rc(rc, "sensor add");
	d4_wipe(buf, n);
out:
	if (sn)
		d4_wipe(sn, sizeof(*sn));
	free(sn);
	free(buf);
	return rc;
}

int d4_store_sensor_add(struct d4_store *s, const struct d4_sensor *in)
{
	if (!in || in->status > D4_SENSOR_BLOCKED)
		return D4_EINVAL;
	return with_write(s, 1, sensor_add_fn, in);
}

struct user_add {
	const char *name;
	uint8_t role;
};

static int user_add_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const struct user_add *ua = arg;
	struct d4_user u;
	size_t n = strlen(ua->name);
	memset(&u, 0, sizeof(u));
	memcpy(u.name, ua->name, n);
	u.role = ua->role;
	u.created = d4_now_s();
	uint8_t buf[STORE_USER_MAX];
	MDB_val k = mval(ua->name, n), d = mval(buf, store_enc_user(&u, buf));
	int rc = mdb_put(txn, s->dbi[DBI_USERS], &k, &d, MDB_NOOVERWRITE);
	return rc == MDB_KEYEXIST ? D4_EEXIST : store_rc(rc, "user add");
}

int d4_store_user_add(struct d4_store *s, const char *name, uint8_t role)
{
	if (!name || !d4_store_user_name_valid(name) || role < D4_STORE_ROLE_SENSOR_REGISTER ||
	    role > D4_STORE_ROLE_ADMIN)
		return D4_EINVAL;
	struct user_add ua = {name, role};
	return with_write(s, 1, user_add_fn, &ua);
}

struct stype_scan {
	int (*cb)(void *ctx, const struct d4_sensor_type_stat *st);
	void *ctx;
};
static int stype_scan_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct stype_scan *ss = ctx;
	struct d4_sensor_type_stat st;
	int rc = store_dec_stype(k->mv_data, k->mv_size, v->mv_data, v->mv_size, &st);
	if (rc)
		return rc;
	return ss->cb(ss->ctx, &st) ? 1 : 0;
}

int d4_store_sensor_types(struct d4_store *s, const uint8_t uuid[16],
			  int (*cb)(void *ctx, const struct d4_sensor_type_stat *st), void *ctx)
{
	struct stype_scan ss = {cb, ctx};
	return scan(s, DBI_STYPES, uuid, 16, uuid, 16, stype_scan_fn, &ss);
}

/* ---- blocklist ---- */
static void mask_prefix(uint8_t addr[16], unsigned prefix)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = prefix > 8 * i ? prefix - 8 * i : 0;
		if (bits >= 8)
			continue;
		addr[i] &= (uint8_t)(0xff00u >> bits);
	}
}

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int d4_store_parse_cidr(const char *text, uint8_t addr[16], uint8_t *prefix)
{
	if (!text)
		return D4_EINVAL;
	char buf[64];
	if (d4_strlcpy(buf, text, sizeof(buf)))
		return D4_EINVAL;
	char *slash = strchr(buf, '/');
	long plen = -1;
	if (slash) {
		*slash = '\0';
		const char *d = slash + 1;
		if (!*d || strlen(d) > 3)
			return D4_EINVAL;
		plen = 0;
		for (; *d; d++) {
			if (*d < '0' || *d > '9')
				return D4_EINVAL;
			plen = plen * 10 + (*d - '0');
		}
	}
	uint8_t a[16];
	struct in_addr v4;
	if (inet_pton(AF_INET, buf, &v4) == 1) {
		if (plen > 32)
			return D4_EINVAL;
		memcpy(a, v4mapped, 12);
		memcpy(a + 12, &v4, 4);
		plen = plen < 0 ? 128 : 96 + plen;
	} else if (inet_pton(AF_INET6, buf, a) == 1) {
		if (plen > 128)
			return D4_EINVAL;
		if (plen < 0)
			plen = 128;
	} else {
		return D4_EINVAL;
	}
	/* Host bits beyond the prefix are masked (10.1.2.3/8 is 10.0.0.0/8),
	 * as iptables does; the canonical network is what gets stored/shown. */
	mask_prefix(a, (unsigned)plen);
	memcpy(addr, a, 16);
	*prefix = (uint8_t)plen;
	return 0;
}

void d4_store_format_cidr(const uint8_t addr[16], uint8_t prefix, char *out, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	unsigned shown = prefix;
	if (size == 0)
		return;
	if (memcmp(addr, v4mapped, 12) == 0 && prefix >= 96 && prefix <= 128) {
		inet_ntop(AF_INET, addr + 12, ip, sizeof(ip));
		shown = prefix - 96u;
		if (prefix == 128)
			snprintf(out, size, "%s", ip);
		else
			snprintf(out, size, "%s/%u", ip, shown);
		return;
	}
	inet_ntop(AF_INET6, addr, ip, sizeof(ip));
	if (prefix >= 128)
		snprintf(out, size, "%s", ip);
	else
		snprintf(out, size, "%s/%u", ip, shown);
}

static int block_norm(const struct d4_block_entry *in, struct d4_block_entry *e)
{
	*e = *in;
	if (e->kind == D4_BLOCK_IP) {
		if (e->prefix > 128)
			return D4_EINVAL;
		mask_prefix(e->addr, e->prefix);
		memset(e->uuid, 0, 16);
	} else if (e->kind == D4_BLOCK_UUID || e->kind == D4_BLOCK_UUID_IPS) {
		memset(e->addr, 0, 16);
		e->prefix = 0;
	} else {
		return D4_EINVAL;
	}
	return 0;
}

static int block_add_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	struct d4_block_entry e;
	int rc = block_norm(arg, &e);
	if (rc)
		return rc;
	uint8_t key[18], val[9] = {STORE_VAL_V1};
	d4_put_u64be(val + 1, e.created ? e.created : d4_now_s());
	MDB_val k = mval(key, store_block_key(&e, key)), v = mval(val, sizeof(val));
	rc = mdb_put(txn, s->dbi[DBI_BLOCK], &k, &v, MDB_NOOVERWRITE);
	return rc == MDB_KEYEXIST ? 0 : store_rc(rc, "block add");
}

static int block_del_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	struct d4_block_entry e;
	int rc = block_norm(arg, &e);
	if (rc)
		return rc;
	uint8_t key[18];
	MDB_val k = mval(key, store_block_key(&e, key));
	return store_rc(mdb_del(txn, s->dbi[DBI_BLOCK], &k, NULL), "block del");
}

int d4_store_block_add(struct d4_store *s, const struct d4_block_entry *e)
{
	return with_write(s, 1, block_add_fn, e);
}
int d4_store_block_del(struct d4_store *s, const struct d4_block_entry *e)
{
	return with_write(s, 1, block_del_fn, e);
}

struct block_scan {
	int (*cb)(void *ctx, const struct d4_block_entry *e);
	void *ctx;
};
static int block_scan_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct block_scan *bs = ctx;
	struct d4_block_entry e;
	int rc = store_dec_block(k->mv_data, k->mv_size, v->mv_data, v->mv_size, &e);
	if (rc)
		return rc;
	return bs->cb(bs->ctx, &e) ? 1 : 0;
}

int d4_store_block_foreach(struct d4_store *s, int (*cb)(void *ctx, const struct d4_block_entry *e), void *ctx)
{
	struct block_scan bs = {cb, ctx};
	return scan(s, DBI_BLOCK, NULL, 0, NULL, 0, block_scan_fn, &bs);
}

static int prefix_match(const uint8_t net[16], unsigned prefix, const uint8_t addr[16])
{
	unsigned full = prefix / 8, rem = prefix % 8;
	if (memcmp(net, addr, full) != 0)
		return 0;
	if (rem == 0)
		return 1;
	uint8_t m = (uint8_t)(0xff00u >> rem);
	return (net[full] & m) == (addr[full] & m);
}

struct ip_scan {
	const uint8_t *addr;
	int hit;
};
static int ip_scan_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct ip_scan *is = ctx;
	(void)v;
	const uint8_t *key = k->mv_data;
	if (k->mv_size != 18 || key[17] > 128)
		return D4_ECORRUPT;
	if (prefix_match(key + 1, key[17], is->addr)) {
		is->hit = 1;
		return 1;
	}
	return 0;
}

int d4_store_ip_blocked(struct d4_store *s, const uint8_t addr[16])
{
	uint8_t kind = D4_BLOCK_IP;
	struct ip_scan is = {addr, 0};
	int rc = scan(s, DBI_BLOCK, &kind, 1, &kind, 1, ip_scan_fn, &is);
	return rc ? rc : is.hit;
}

static int block_has(struct d4_store *s, uint8_t kind, const uint8_t uuid[16])
{
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	uint8_t key[17];
	key[0] = kind;
	memcpy(key + 1, uuid, 16);
	MDB_val k = mval(key, 17), v;
	rc = mdb_get(txn, s->dbi[DBI_BLOCK], &k, &v);
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return 0;
	return rc ? store_rc(rc, "block get") : 1;
}

int d4_store_uuid_blocked(struct d4_store *s, const uint8_t uuid[16])
{
	return block_has(s, D4_BLOCK_UUID, uuid);
}
int d4_store_uuid_ips_blocked(struct d4_store *s, const uint8_t uuid[16])
{
	return block_has(s, D4_BLOCK_UUID_IPS, uuid);
}

/* ---- accepted types ---- */
int d4_store_types_get(struct d4_store *s, uint8_t accepted[256])
{
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	rc = types_get_txn(s, txn, accepted);
	mdb_txn_abort(txn);
	return rc;
}

struct type_set {
	uint8_t type;
	int accepted;
};
static int type_set_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const struct type_set *ts = arg;
	uint8_t acc[256];
	int rc = types_get_txn(s, txn, acc);
	if (rc)
		return rc;
	acc[ts->type] = ts->accepted ? 1 : 0;
	return types_put(s, txn, acc);
}

int d4_store_type_set(struct d4_store *s, uint8_t type, int accepted)
{
	struct type_set ts = {type, accepted};
	return with_write(s, 1, type_set_fn, &ts);
}

#define EXT_PREFIX "ext/"
static int ext_key(const char *name, char key[4 + D4_EXT_TYPE_MAX])
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n >= D4_EXT_TYPE_MAX)
		return D4_EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] <= 0x20 || (unsigned char)name[i] >= 0x7f)
			return D4_EINVAL;
	memcpy(key, EXT_PREFIX, 4);
	memcpy(key + 4, name, n);
	return (int)(4 + n);
}

struct ext_set {
	const char *name;
	int accepted;
};
static int ext_set_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const struct ext_set *es = arg;
	char key[4 + D4_EXT_TYPE_MAX];
	int n = ext_key(es->name, key);
	if (n < 0)
		return n;
	MDB_val k = mval(key, (size_t)n), v = mval("\x01", 1);
	int rc =
	    es->accepted ? mdb_put(txn, s->dbi[DBI_SETTINGS], &k, &v, 0) : mdb_del(txn, s->dbi[DBI_SETTINGS], &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : store_rc(rc, "ext type set");
}

int d4_store_ext_type_set(struct d4_store *s, const char *name, int accepted)
{
	struct ext_set es = {name, accepted};
	return with_write(s, 1, ext_set_fn, &es);
}

struct ext_scan {
	int (*cb)(void *ctx, const char *name);
	void *ctx;
	const char *want;
	int count, found;
};
static int ext_scan_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct ext_scan *es = ctx;
	char name[D4_EXT_TYPE_MAX];
	(void)v;
	size_t n = k->mv_size - 4;
	if (n == 0 || n >= sizeof(name))
		return D4_ECORRUPT;
	memcpy(name, (const char *)k->mv_data + 4, n);
	name[n] = '\0';
	es->count++;
	if (es->want) {
		if (strcmp(es->want, name) == 0) {
			es->found = 1;
			return 1;
		}
		return 0;
	}
	return es->cb(es->ctx, name) ? 1 : 0;
}

int d4_store_ext_type_foreach(struct d4_store *s, int (*cb)(void *ctx, const char *name), void *ctx)
{
	struct ext_scan es = {cb, ctx, NULL, 0, 0};
	return scan(s, DBI_SETTINGS, EXT_PREFIX, 4, EXT_PREFIX, 4, ext_scan_fn, &es);
}

int d4_store_ext_type_accepted(struct d4_store *s, const char *name)
{
	struct ext_scan es = {NULL, NULL, name ? name : "", 0, 0};
	int rc = scan(s, DBI_SETTINGS, EXT_PREFIX, 4, EXT_PREFIX, 4, ext_scan_fn, &es);
	if (rc)
		return rc;
	return es.count == 0 || es.found;
}

/* ---- epoch ---- */
uint64_t d4_store_epoch(struct d4_store *s)
{
	MDB_txn *txn;
	uint64_t e = 0;
	if (store_txn_begin(s, 1, &txn))
		return 0;
	if (store_settings_get_u64(s, txn, "epoch", &e))
		e = 0;
	mdb_txn_abort(txn);
	return e;
}

static int nop_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	(void)s;
	(void)txn;
	(void)arg;
	return 0;
}
int d4_store_epoch_bump(struct d4_store *s)
{
	return with_write(s, 1, nop_fn, NULL);
}

/* ---- session ids ---- */
uint64_t d4_store_session_id_new(struct d4_store *s)
{
	uint64_t id = 0;
	pthread_mutex_lock(&s->sid_lock);
	if (s->sid_next == 0 || s->sid_next >= s->sid_limit) {
		/* Reserve a block: a crash skips at most the rest of it, and
		 * another process opening the store reserves above it. */
		MDB_txn *txn;
		uint64_t high = 0;
		int rc = store_txn_begin(s, 0, &txn);
		if (!rc) {
			rc = store_settings_get_u64(s, txn, "sid_high", &high);
			if (!rc)
				rc = store_settings_put_u64(s, txn, "sid_high", high + STORE_SID_BLOCK);
			if (rc)
				mdb_txn_abort(txn);
			else
				rc = commit(txn);
		}
		if (rc) {
			d4_err("store: cannot reserve session ids: %s", d4_strerror(rc));
			pthread_mutex_unlock(&s->sid_lock);
			return 0;
		}
		s->sid_next = high + 1;
		s->sid_limit = high + STORE_SID_BLOCK + 1;
	}
	id = s->sid_next++;
	pthread_mutex_unlock(&s->sid_lock);
	return id;
}

/* ---- reading back ---- */
int d4_store_totals(struct d4_store *s, struct d4_totals *out)
{
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	MDB_val k = mval("all", 3), v;
	rc = mdb_get(txn, s->dbi[DBI_TOTALS], &k, &v);
	if (rc == MDB_NOTFOUND) {
		memset(out, 0, sizeof(*out));
		rc = 0;
	} else {
		rc = rc ? store_rc(rc, "totals get") : store_dec_totals(v.mv_data, v.mv_size, out);
	}
	mdb_txn_abort(txn);
	return rc;
}

int d4_store_session_get(struct d4_store *s, uint64_t session, struct d4_session_info *out)
{
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	uint8_t key[8];
	d4_put_u64be(key, session);
	MDB_val k = mval(key, 8), v;
	rc = mdb_get(txn, s->dbi[DBI_SESSIONS], &k, &v);
	rc = rc ? store_rc(rc, "session get") : store_dec_session(v.mv_data, v.mv_size, session, out);
	mdb_txn_abort(txn);
	return rc;
}

struct sess_scan {
	const uint8_t *uuid;
	int (*cb)(void *ctx, const struct d4_session_info *si);
	void *ctx;
};
static int sess_scan_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct sess_scan *ss = ctx;
	struct d4_session_info si;
	if (k->mv_size != 8)
		return D4_ECORRUPT;
	int rc = store_dec_session(v->mv_data, v->mv_size, d4_get_u64be(k->mv_data), &si);
	if (rc)
		return rc;
	if (ss->uuid && memcmp(ss->uuid, si.uuid, 16) != 0)
		return 0;
	return ss->cb(ss->ctx, &si) ? 1 : 0;
}

int d4_store_session_foreach(struct d4_store *s, const uint8_t *uuid,
			     int (*cb)(void *ctx, const struct d4_session_info *si), void *ctx)
{
	struct sess_scan ss = {uuid, cb, ctx};
	return scan(s, DBI_SESSIONS, NULL, 0, NULL, 0, sess_scan_fn, &ss);
}

int d4_store_session_foreach_from(struct d4_store *s, const uint8_t *uuid, uint64_t from_id,
				  int (*cb)(void *ctx, const struct d4_session_info *si), void *ctx)
{
	struct sess_scan ss = {uuid, cb, ctx};
	uint8_t key[8];
	d4_put_u64be(key, from_id);
	return scan(s, DBI_SESSIONS, key, sizeof(key), NULL, 0, sess_scan_fn, &ss);
}

/* Positions c on the chunk that may hold from_seq: the last key <= from_seq,
 * else the first key. */
static int frames_seek(MDB_cursor *c, uint64_t from_seq, MDB_val *k, MDB_val *v)
{
	uint8_t key[8];
	d4_put_u64be(key, from_seq);
	*k = mval(key, 8);
	int rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
	if (rc == 0 && d4_get_u64be(k->mv_data) == from_seq)
		return 0;
	if (rc == 0 || rc == MDB_NOTFOUND) {
		int r2 = mdb_cursor_get(c, k, v, rc == 0 ? MDB_PREV : MDB_LAST);
		if (r2 == MDB_NOTFOUND)
			return rc == 0 ? mdb_cursor_get(c, k, v, MDB_FIRST) : MDB_NOTFOUND;
		return r2;
	}
	return rc;
}

int d4_store_frame_foreach(struct d4_store *s, uint64_t from_seq, uint64_t session,
			   int (*cb)(void *ctx, const struct d4_frame_rec *rec, const uint8_t *payload), void *ctx)
{
	MDB_txn *txn;
	MDB_cursor *c = NULL;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	MDB_val k, v;
	if (session == 0) {
		rc = mdb_cursor_open(txn, s->dbi[DBI_FRAMES], &c);
		if (rc)
			goto out_rc;
		rc = frames_seek(c, from_seq, &k, &v);
		while (rc == 0) {
			if (k.mv_size != 8) {
				rc = D4_ECORRUPT;
				goto out;
			}
			int r = store_chunk_walk(v.mv_data, v.mv_size, from_seq, cb, ctx);
			if (r) {
				rc = r < 0 ? r : 0;
				goto out;
			}
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
		}
		goto out_rc;
	}
	/* One session: walk its index entries (session || first_seq). */
	rc = mdb_cursor_open(txn, s->dbi[DBI_SESSIDX], &c);
	if (rc)
		goto out_rc;
	uint8_t key[16];
	d4_put_u64be(key, session);
	d4_put_u64be(key + 8, from_seq);
	k = mval(key, 16);
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	/* The chunk holding from_seq may start before it. */
	if (rc == 0 || rc == MDB_NOTFOUND) {
		int exact = rc == 0 && k.mv_size == 16 && memcmp(k.mv_data, key, 16) == 0;
		if (!exact) {
			int r2 = mdb_cursor_get(c, &k, &v, rc == 0 ? MDB_PREV : MDB_LAST);
			if (r2 == 0 && (k.mv_size != 16 || d4_get_u64be(k.mv_data) != session))
				r2 = mdb_cursor_get(c, &k, &v, MDB_NEXT);
			else if (r2 == MDB_NOTFOUND && rc == 0)
				r2 = mdb_cursor_get(c, &k, &v, MDB_FIRST);
			rc = r2;
		}
	}
	while (rc == 0) {
		if (k.mv_size != 16) {
			rc = D4_ECORRUPT;
			goto out;
		}
		if (d4_get_u64be(k.mv_data) != session)
			break;
		MDB_val fk = mval((const uint8_t *)k.mv_data + 8, 8), fv;
		rc = mdb_get(txn, s->dbi[DBI_FRAMES], &fk, &fv);
		if (rc == 0) {
			int r = store_chunk_walk(fv.mv_data, fv.mv_size, from_seq, cb, ctx);
			if (r) {
				rc = r < 0 ? r : 0;
				goto out;
			}
		} else if (rc != MDB_NOTFOUND) {
			goto out_rc;
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
out_rc:
	rc = (rc == MDB_NOTFOUND || rc == 0) ? 0 : store_rc(rc, "frame scan");
out:
	if (c)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc;
}

struct daily_scan {
	uint32_t to_day;
	const uint8_t *uuid;
	int (*cb)(void *ctx, const struct d4_daily_stat *st);
	void *ctx;
};
static int daily_scan_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct daily_scan *ds = ctx;
	struct d4_daily_stat st;
	int rc = store_dec_daily(k->mv_data, k->mv_size, v->mv_data, v->mv_size, &st);
	if (rc)
		return rc;
	if (st.day > ds->to_day)
		return 1;
	if (ds->uuid && memcmp(ds->uuid, st.uuid, 16) != 0)
		return 0;
	return ds->cb(ds->ctx, &st) ? 1 : 0;
}

int d4_store_daily_foreach(struct d4_store *s, uint32_t from_day, uint32_t to_day, const uint8_t *uuid,
			   int (*cb)(void *ctx, const struct d4_daily_stat *st), void *ctx)
{
	uint8_t start[4];
	d4_put_u32be(start, from_day);
	struct daily_scan ds = {to_day, uuid, cb, ctx};
	return scan(s, DBI_DAILY, start, 4, NULL, 0, daily_scan_fn, &ds);
}

/* ---- retention ---- */
static uint64_t frames_log_bytes(struct d4_store *s, MDB_txn *txn)
{
	MDB_stat st;
	if (mdb_stat(txn, s->dbi[DBI_FRAMES], &st))
		return 0;
	return (uint64_t)(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize;
}

/* One loop for every per-frame table beside the log. */
int store_trim_by_seq(struct d4_store *s, MDB_txn *txn, enum store_dbi dbi, uint64_t first_seq, const char *what)
{
	if (s->dbi_absent[dbi])
		return 0;
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, s->dbi[dbi], &c);
	if (rc)
		return store_rc(rc, what);
	MDB_val k, v;
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
		if (k.mv_size < 8 || d4_get_u64be(k.mv_data) >= first_seq) /* seq, or seq || part */
			break;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
	}
	mdb_cursor_close(c);
	return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : store_rc(rc, what);
}

/* One transaction deleting at most max_chunks of the oldest chunks that are
 * past the age limit or needed to get under the size limit. *more is set when
 * it stopped because of max_chunks. */
static int retention_txn(struct d4_store *s, uint64_t age_s, uint64_t max_bytes, unsigned max_chunks, uint64_t *dropped,
			 int *more)
{
	MDB_txn *txn;
	MDB_cursor *c;
	*more = 0;
	int rc = store_txn_begin(s, 0, &txn);
	if (rc)
		return rc;
	rc = mdb_cursor_open(txn, s->dbi[DBI_FRAMES], &c);
	if (rc) {
		mdb_txn_abort(txn);
		return store_rc(rc, "cursor");
	}
	uint64_t size = max_bytes ? frames_log_bytes(s, txn) : 0;
	uint64_t cutoff_ms = age_s ? d4_now_ms() - age_s * 1000u : 0;
	uint64_t n = 0;
	unsigned chunks = 0;
	MDB_val k, v;
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	while (rc == 0) {
		struct store_chunk_hdr h;
		if (store_dec_chunk_hdr(v.mv_data, v.mv_size, &h)) {
			rc = D4_ECORRUPT;
			break;
		}
		int too_old = age_s && h.max_ms < cutoff_ms;
		int too_big = max_bytes && size > max_bytes;
		if (!too_old && !too_big) {
			rc = MDB_NOTFOUND;
			break;
		}
		if (chunks == max_chunks) {
			*more = 1;
			rc = MDB_NOTFOUND;
			break;
		}
		uint64_t pages = v.mv_size > s->psize / 2 ? (v.mv_size + 16 + s->psize - 1) / s->psize : 0;
		uint8_t ik[16];
		d4_put_u64be(ik, h.session);
		d4_put_u64be(ik + 8, h.first_seq);
		MDB_val ikv = mval(ik, 16);
		rc = mdb_cursor_del(c, 0);
		if (rc)
			break;
		rc = mdb_del(txn, s->dbi[DBI_SESSIDX], &ikv, NULL);
		if (rc && rc != MDB_NOTFOUND)
			break;
		n += h.count;
		chunks++;
		size = size > pages * s->psize ? size - pages * s->psize : 0;
		/* the signatures of received frames and the pDNS side records of
		 * their observations go with their frames */
		if ((rc = store_trim_by_seq(s, txn, DBI_FED_SIG, h.first_seq + h.count, "fed_sig")) != 0 ||
		    (rc = store_trim_by_seq(s, txn, DBI_PDNS_SIDE, h.first_seq + h.count, "pdns side")) != 0)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	}
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	else
		rc = rc < 0 ? rc : store_rc(rc, "retention");
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	d4_debug("store: retention txn: %u chunks, log %llu bytes after", chunks, (unsigned long long)size);
	if (chunks == 0) {
		mdb_txn_abort(txn);
		return 0;
	}
	rc = commit(txn);
	if (!rc)
		*dropped += n;
	return rc;
}

/* Deletes in small transactions: each needs only a few free pages, so that
 * retention can still make room when the map is completely full. */
int store_retention_txns(struct d4_store *s, uint64_t age_s, uint64_t max_bytes, uint64_t *dropped)
{
	unsigned step = 256;
	int more = 1, rc = 0;
	*dropped = 0;
	if (!age_s && !max_bytes)
		return 0;
	while (more) {
		rc = retention_txn(s, age_s, max_bytes, step, dropped, &more);
		if (rc == D4_EFULL && step > 1) {
			step = 1;
			more = 1;
			continue;
		}
		if (rc)
			break;
	}
	if (*dropped) {
		d4_info("store: retention dropped %llu frames", (unsigned long long)*dropped);
		/* LMDB reuses pages freed by transaction T only from T+2 on (T-1
		 * stays a valid snapshot until T+1 commits). A tiny commit here makes
		 * the space usable by the writer's very next batch, which matters
		 * when it is waiting on a full map. */
		MDB_txn *txn;
		if (store_txn_begin(s, 0, &txn) == 0) {
			if (store_settings_put_u64(s, txn, "retention_at", d4_now_s()) == 0)
				commit(txn);
			else
				mdb_txn_abort(txn);
		}
	}
	return rc;
}

int d4_store_retention_run(struct d4_store *s)
{
	uint64_t dropped = 0;
	pthread_mutex_lock(&s->lock);
	uint64_t age = s->retention_age_s, bytes = s->retention_bytes;
	pthread_mutex_unlock(&s->lock);
	int rc = store_retention_txns(s, age, bytes, &dropped);
	if (rc)
		return rc;
	return dropped > INT_MAX ? INT_MAX : (int)dropped;
}

void d4_store_retention_set(struct d4_store *s, uint64_t age_s, uint64_t max_bytes)
{
	pthread_mutex_lock(&s->lock);
	s->retention_age_s = age_s;
	s->retention_bytes = max_bytes;
	pthread_cond_signal(&s->cond_work);
	pthread_mutex_unlock(&s->lock);
}

int d4_store_health_get(struct d4_store *s, struct d4_store_health *out)
{
	MDB_txn *txn;
	memset(out, 0, sizeof(*out));
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	rc = store_settings_get_u64(s, txn, STORE_CORRUPT_KEY, &out->corrupt_records);
	if (rc == 0 || rc == D4_ENOTFOUND)
		rc = store_settings_get_u64(s, txn, STORE_TOTALS_REBUILT_KEY, &out->totals_rebuilt_at);
	mdb_txn_abort(txn);
	return rc == D4_ENOTFOUND ? 0 : rc;
}

struct raw_put {
	enum store_dbi dbi;
	MDB_val k, v;
};
static int raw_put_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const struct raw_put *r = arg;
	MDB_val k = r->k, v = r->v;
	return store_rc(mdb_put(txn, s->dbi[r->dbi], &k, &v, 0), "raw put");
}

int d4_store_test_put_raw(struct d4_store *s, const char *table, const void *key, size_t klen, const void *val,
			  size_t vlen)
{
	static const struct {
		const char *name;
		enum store_dbi dbi;
	} t[] = {{"sensors", DBI_SENSORS},     {"sessions", DBI_SESSIONS},	{"sensor_types", DBI_STYPES},
		 {"daily", DBI_DAILY},	       {"totals", DBI_TOTALS},		{"settings", DBI_SETTINGS},
		 {"fed_in", DBI_FED_IN},       {"fed_out", DBI_FED_OUT},	{"fed_sess", DBI_FED_SESS},
		 {"bs_vectors", DBI_BS_VEC},   {"bs_meta", DBI_BS_META},	{"pssl_certs", DBI_PSSL_CERT},
		 {"pssl_keys", DBI_PSSL_KEY},  {"pssl_tuples", DBI_PSSL_TUPLE}, {"pssl_fp", DBI_PSSL_FP},
		 {"pssl_weak", DBI_PSSL_WEAK}, {"pssl_meta", DBI_PSSL_META}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(table, t[i].name)) {
			struct raw_put r = {t[i].dbi, mval(key, klen), mval(val, vlen)};
			return with_write(s, 0, raw_put_fn, &r);
		}
	return D4_EINVAL;
}
