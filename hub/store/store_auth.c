/* d4hub store — API users and bearer tokens (docs/api-auth.md).
 *
 * A token's text is never stored: the `tokens` table is keyed by its SHA-256,
 * so verification is one hash and one B-tree lookup, and nothing secret is
 * compared byte by byte (the lookup compares hashes of the presented text,
 * which tell an attacker nothing about a stored token). `token_ids` maps the
 * public 8-byte id to the hash for listing and revocation. */
#include "store_internal.h"

#include "d4_error.h"
#include "d4_log.h"
#include "d4_util.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_PREFIX	 "d4h_"
#define TOKEN_PREFIX_LEN 4
#define TOKEN_RAND	 32

static MDB_val mval(const void *p, size_t n)
{
	return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

int d4_store_user_name_valid(const char *name)
{
	if (!name)
		return 0;
	size_t n = strnlen(name, D4_USER_NAME_MAX);
	if (n == 0 || n >= D4_USER_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		      ch == '_' || ch == '@' || ch == '-'))
			return 0;
	}
	return 1;
}

const char *d4_store_role_name(uint8_t role)
{
	switch (role) {
	case D4_STORE_ROLE_SENSOR_REGISTER: return "sensor_register";
	case D4_STORE_ROLE_USER: return "user";
	case D4_STORE_ROLE_ADMIN: return "admin";
	}
	return "unknown";
}

int d4_store_role_parse(const char *name, uint8_t *out)
{
	for (uint8_t r = D4_STORE_ROLE_SENSOR_REGISTER; name && r <= D4_STORE_ROLE_ADMIN; r++)
		if (!strcmp(name, d4_store_role_name(r))) {
			*out = r;
			return 0;
		}
	return D4_EINVAL;
}

/* Labels are shown in lists and terminals: bounded, no control bytes. */
static int label_valid(const char *label)
{
	size_t n = strnlen(label, D4_TOKEN_LABEL_MAX);
	if (n >= D4_TOKEN_LABEL_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)label[i] < 0x20 || (unsigned char)label[i] == 0x7f)
			return 0;
	return 1;
}

static int sha256(const void *p, size_t n, uint8_t out[STORE_TOKEN_HASH])
{
	unsigned len = 0;
	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != STORE_TOKEN_HASH)
		return D4_EIO;
	return 0;
}

/* base64url without padding (RFC 4648 §5). */
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static size_t b64url_encode(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

/* ---- users ---- */
struct user_put {
	const char *name;
	uint8_t role;
};
static int user_put_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const struct user_put *up = arg;
	struct d4_user u;
	size_t n = strlen(up->name);
	MDB_val k = mval(up->name, n), v;
	int rc = mdb_get(txn, s->dbi[DBI_USERS], &k, &v);
	if (rc == 0) {
		rc = store_dec_user(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &u);
		if (rc)
			return rc;
	} else if (rc == MDB_NOTFOUND) {
		memset(&u, 0, sizeof(u));
		memcpy(u.name, up->name, n);
		u.created = d4_now_s();
	} else {
		return store_rc(rc, "user get");
	}
	u.role = up->role;
	uint8_t buf[STORE_USER_MAX];
	MDB_val d = mval(buf, store_enc_user(&u, buf));
	return store_rc(mdb_put(txn, s->dbi[DBI_USERS], &k, &d, 0), "user put");
}

int d4_store_user_put(struct d4_store *s, const char *name, uint8_t role)
{
	if (!d4_store_user_name_valid(name) || role < D4_STORE_ROLE_SENSOR_REGISTER || role > D4_STORE_ROLE_ADMIN)
		return D4_EINVAL;
	struct user_put up = {name, role};
	return store_write(s, 1, user_put_fn, &up);
}

static int user_get_txn(struct d4_store *s, MDB_txn *txn, const char *name, struct d4_user *out)
{
	MDB_val k = mval(name, strlen(name)), v;
	int rc = mdb_get(txn, s->dbi[DBI_USERS], &k, &v);
	if (rc)
		return store_rc(rc, "user get");
	return store_dec_user(k.mv_data, k.mv_size, v.mv_data, v.mv_size, out);
}

int d4_store_user_get(struct d4_store *s, const char *name, struct d4_user *out)
{
	if (!d4_store_user_name_valid(name) || !out)
		return D4_EINVAL;
	if (s->dbi_absent[DBI_USERS])
		return D4_ENOTFOUND;
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	rc = user_get_txn(s, txn, name, out);
	mdb_txn_abort(txn);
	return rc;
}

/* Deletes a token's two entries; tokens have no other references. */
static int token_del_txn(struct d4_store *s, MDB_txn *txn, const uint8_t hash[STORE_TOKEN_HASH],
			 const uint8_t id[STORE_TOKEN_ID])
{
	MDB_val hk = mval(hash, STORE_TOKEN_HASH), ik = mval(id, STORE_TOKEN_ID);
	int rc = mdb_del(txn, s->dbi[DBI_TOKENS], &hk, NULL);
	if (rc)
		return store_rc(rc, "token del");
	rc = mdb_del(txn, s->dbi[DBI_TOKIDS], &ik, NULL);
	/* A missing index entry is tolerated: the token itself is gone. */
	return rc == MDB_NOTFOUND ? 0 : store_rc(rc, "token id del");
}

struct hash_list {
	uint8_t (*h)[STORE_TOKEN_HASH + STORE_TOKEN_ID];
	size_t n, cap;
};

static int user_del_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const char *name = arg;
	MDB_val k = mval(name, strlen(name)), v;
	int rc = mdb_del(txn, s->dbi[DBI_USERS], &k, NULL);
	if (rc)
		return store_rc(rc, "user del");
	/* Collect first, delete after: no reliance on cursor position after
	 * a delete. Tokens are few (a handful per user). */
	struct hash_list hl = {NULL, 0, 0};
	MDB_cursor *c;
	int err = 0; /* d4 error, rc stays an LMDB code */
	rc = mdb_cursor_open(txn, s->dbi[DBI_TOKENS], &c);
	if (rc)
		return store_rc(rc, "cursor");
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	while (rc == 0) {
		uint8_t id[STORE_TOKEN_ID];
		struct d4_token_info t;
		if (k.mv_size != STORE_TOKEN_HASH || store_dec_token(v.mv_data, v.mv_size, id, &t)) {
			err = D4_ECORRUPT;
			break;
		}
		if (!strcmp(t.user, name)) {
			if (hl.n == hl.cap) {
				size_t cap = hl.cap ? 2 * hl.cap : 16;
				void *p = realloc(hl.h, cap * sizeof(*hl.h));
				if (!p) {
					err = D4_ENOMEM;
					break;
				}
				hl.h = p;
				hl.cap = cap;
			}
			memcpy(hl.h[hl.n], k.mv_data, STORE_TOKEN_HASH);
			memcpy(hl.h[hl.n] + STORE_TOKEN_HASH, id, STORE_TOKEN_ID);
			hl.n++;
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (err)
		rc = err;
	else
		rc = rc == MDB_NOTFOUND ? 0 : store_rc(rc, "token scan");
	for (size_t i = 0; i < hl.n && !rc; i++)
		rc = token_del_txn(s, txn, hl.h[i], hl.h[i] + STORE_TOKEN_HASH);
	free(hl.h);
	return rc;
}

int d4_store_user_del(struct d4_store *s, const char *name)
{
	if (!d4_store_user_name_valid(name))
		return D4_EINVAL;
	return store_write(s, 1, user_del_fn, name);
}

struct user_scan {
	int (*cb)(void *ctx, const struct d4_user *u);
	void *ctx;
};
static int user_scan_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct user_scan *us = ctx;
	struct d4_user u;
	int rc = store_dec_user(k->mv_data, k->mv_size, v->mv_data, v->mv_size, &u);
	if (rc)
		return rc;
	return us->cb(us->ctx, &u) ? 1 : 0;
}

int d4_store_user_foreach(struct d4_store *s, int (*cb)(void *ctx, const struct d4_user *u), void *ctx)
{
	struct user_scan us = {cb, ctx};
	return store_scan(s, DBI_USERS, NULL, 0, NULL, 0, user_scan_fn, &us);
}

/* ---- tokens ---- */
struct token_new {
	const uint8_t *hash;
	uint8_t id[STORE_TOKEN_ID];
	struct d4_token_info t;
};
static int token_create_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	struct token_new *tn = (struct token_new *)arg;
	struct d4_user u;
	int rc = user_get_txn(s, txn, tn->t.user, &u);
	if (rc)
		return rc;
	/* A fresh random id is unique in practice; the check makes it certain. */
	for (int tries = 0;; tries++) {
		if (RAND_bytes(tn->id, sizeof(tn->id)) != 1)
			return D4_EIO;
		MDB_val ik = mval(tn->id, STORE_TOKEN_ID), hv = mval(tn->hash, STORE_TOKEN_HASH);
		rc = mdb_put(txn, s->dbi[DBI_TOKIDS], &ik, &hv, MDB_NOOVERWRITE);
		if (rc != MDB_KEYEXIST)
			break;
		if (tries == 8)
			return D4_ESTORE;
	}
	if (rc)
		return store_rc(rc, "token id put");
	uint8_t buf[STORE_TOKEN_MAX];
	MDB_val hk = mval(tn->hash, STORE_TOKEN_HASH), d = mval(buf, store_enc_token(tn->id, &tn->t, buf));
	rc = mdb_put(txn, s->dbi[DBI_TOKENS], &hk, &d, MDB_NOOVERWRITE);
	/* 2^-256: a collision means the random generator is broken. */
	return rc == MDB_KEYEXIST ? D4_ESTORE : store_rc(rc, "token put");
}

int d4_store_token_create(struct d4_store *s, const char *user, const char *label, char token_out[D4_TOKEN_TEXT_MAX],
			  char id_out[D4_TOKEN_ID_HEX])
{
	if (!token_out || !id_out)
		return D4_EINVAL;
	token_out[0] = '\0';
	id_out[0] = '\0';
	if (!label)
		label = "";
	if (!d4_store_user_name_valid(user) || !label_valid(label))
		return D4_EINVAL;
	uint8_t raw[TOKEN_RAND], hash[STORE_TOKEN_HASH];
	char text[D4_TOKEN_TEXT_MAX];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return D4_EIO;
	memcpy(text, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
	b64url_encode(raw, sizeof(raw), text + TOKEN_PREFIX_LEN);
	d4_wipe(raw, sizeof(raw));
	int rc = sha256(text, D4_TOKEN_TEXT_LEN, hash);
	struct token_new tn;
	memset(&tn, 0, sizeof(tn));
	if (!rc) {
		tn.hash = hash;
		d4_strlcpy(tn.t.user, user, sizeof(tn.t.user));
		d4_strlcpy(tn.t.label, label, sizeof(tn.t.label));
		tn.t.created = d4_now_s();
		rc = store_write(s, 1, token_create_fn, &tn);
	}
	if (!rc) {
		memcpy(token_out, text, D4_TOKEN_TEXT_LEN + 1);
		d4_hex_encode(tn.id, STORE_TOKEN_ID, id_out);
	}
	d4_wipe(text, sizeof(text));
	d4_wipe(hash, sizeof(hash));
	return rc;
}

/* Format check before hashing: anything that cannot be a token is refused
 * without a lookup (the same answer as an unknown token). */
static int token_text_plausible(const char *text)
{
	if (strnlen(text, D4_TOKEN_TEXT_LEN + 1) != D4_TOKEN_TEXT_LEN || memcmp(text, TOKEN_PREFIX, TOKEN_PREFIX_LEN))
		return 0;
	for (size_t i = TOKEN_PREFIX_LEN; i < D4_TOKEN_TEXT_LEN; i++)
		if (!memchr(b64url, text[i], sizeof(b64url) - 1))
			return 0;
	return 1;
}

struct token_touch {
	const uint8_t *hash;
	uint64_t now;
};
static int token_touch_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const struct token_touch *tt = arg;
	MDB_val k = mval(tt->hash, STORE_TOKEN_HASH), v;
	uint8_t id[STORE_TOKEN_ID];
	struct d4_token_info t;
	int rc = mdb_get(txn, s->dbi[DBI_TOKENS], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0; /* revoked meanwhile */
	if (rc)
		return store_rc(rc, "token get");
	if ((rc = store_dec_token(v.mv_data, v.mv_size, id, &t)))
		return rc;
	/* Another thread or process may have written it meanwhile. */
	if (t.last_used && tt->now < t.last_used + D4_TOKEN_LAST_USED_EVERY)
		return 0;
	t.last_used = tt->now;
	uint8_t buf[STORE_TOKEN_MAX];
	MDB_val d = mval(buf, store_enc_token(id, &t, buf));
	return store_rc(mdb_put(txn, s->dbi[DBI_TOKENS], &k, &d, 0), "token put");
}

int store_token_verify_at(struct d4_store *s, const char *token_text, uint64_t now, char user_out[D4_USER_NAME_MAX],
			  uint8_t *role_out, char id_out[D4_TOKEN_ID_HEX])
{
	if (!token_text)
		return D4_EINVAL;
	if (!token_text_plausible(token_text) || s->dbi_absent[DBI_TOKENS] || s->dbi_absent[DBI_USERS])
		return D4_ENOTFOUND;
	uint8_t hash[STORE_TOKEN_HASH], id[STORE_TOKEN_ID];
	int rc = sha256(token_text, D4_TOKEN_TEXT_LEN, hash);
	if (rc)
		return rc;
	MDB_txn *txn;
	if ((rc = store_txn_begin(s, 1, &txn)))
		return rc;
	struct d4_token_info t;
	struct d4_user u;
	MDB_val k = mval(hash, sizeof(hash)), v;
	rc = mdb_get(txn, s->dbi[DBI_TOKENS], &k, &v);
	rc = rc ? store_rc(rc, "token get") : store_dec_token(v.mv_data, v.mv_size, id, &t);
	/* user_del removes the tokens too; the user check covers a token
	 * written by a concurrent create racing a delete, and a changed role. */
	if (!rc)
		rc = user_get_txn(s, txn, t.user, &u);
	mdb_txn_abort(txn);
	if (rc)
		return rc;
	if (!s->opts.read_only && (!t.last_used || now >= t.last_used + D4_TOKEN_LAST_USED_EVERY)) {
		struct token_touch tt = {hash, now};
		int wrc = store_write(s, 0, token_touch_fn, &tt);
		if (wrc)
			d4_warn("store: cannot record last use of token %s: %s", t.id, d4_strerror(wrc));
	}
	if (user_out)
		memcpy(user_out, u.name, sizeof(u.name));
	if (role_out)
		*role_out = u.role;
	if (id_out)
		memcpy(id_out, t.id, sizeof(t.id));
	return 0;
}

int d4_store_token_verify(struct d4_store *s, const char *token_text, char user_out[D4_USER_NAME_MAX],
			  uint8_t *role_out, char id_out[D4_TOKEN_ID_HEX])
{
	return store_token_verify_at(s, token_text, d4_now_s(), user_out, role_out, id_out);
}

struct token_scan {
	const char *user;
	int (*cb)(void *ctx, const struct d4_token_info *t);
	void *ctx;
};

int d4_store_token_foreach(struct d4_store *s, const char *user, int (*cb)(void *ctx, const struct d4_token_info *t),
			   void *ctx)
{
	if (!cb || (user && !d4_store_user_name_valid(user)))
		return D4_EINVAL;
	if (s->dbi_absent[DBI_TOKIDS] || s->dbi_absent[DBI_TOKENS])
		return 0;
	/* Walks the id index (stable id order) and reads each token in the same
	 * snapshot; a custom loop because two tables are read. */
	MDB_txn *txn;
	MDB_cursor *c;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	rc = mdb_cursor_open(txn, s->dbi[DBI_TOKIDS], &c);
	if (rc) {
		mdb_txn_abort(txn);
		return store_rc(rc, "cursor");
	}
	MDB_val k, v;
	int err = 0; /* d4 error, rc stays an LMDB code */
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	while (rc == 0) {
		uint8_t id[STORE_TOKEN_ID];
		struct d4_token_info t;
		MDB_val tv;
		if (k.mv_size != STORE_TOKEN_ID || v.mv_size != STORE_TOKEN_HASH) {
			err = D4_ECORRUPT;
			break;
		}
		rc = mdb_get(txn, s->dbi[DBI_TOKENS], &v, &tv);
		if (rc == MDB_NOTFOUND) { /* dangling index entry: not a token */
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
			continue;
		}
		if (rc)
			break;
		if (store_dec_token(tv.mv_data, tv.mv_size, id, &t) || memcmp(id, k.mv_data, STORE_TOKEN_ID)) {
			err = D4_ECORRUPT;
			break;
		}
		if (!user || !strcmp(user, t.user)) {
			if (cb(ctx, &t)) {
				rc = MDB_NOTFOUND;
				break;
			}
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	if (err)
		return err;
	return rc == MDB_NOTFOUND ? 0 : store_rc(rc, "token scan");
}

static int token_revoke_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const uint8_t *id = arg;
	MDB_val k = mval(id, STORE_TOKEN_ID), v;
	int rc = mdb_get(txn, s->dbi[DBI_TOKIDS], &k, &v);
	if (rc)
		return store_rc(rc, "token id get");
	if (v.mv_size != STORE_TOKEN_HASH)
		return D4_ECORRUPT;
	uint8_t hash[STORE_TOKEN_HASH];
	memcpy(hash, v.mv_data, sizeof(hash));
	rc = token_del_txn(s, txn, hash, id);
	/* A dangling index entry still has to go. */
	if (rc == D4_ENOTFOUND)
		rc = store_rc(mdb_del(txn, s->dbi[DBI_TOKIDS], &k, NULL), "token id del");
	return rc;
}

int d4_store_token_revoke(struct d4_store *s, const char *id)
{
	uint8_t raw[STORE_TOKEN_ID];
	if (!id || strnlen(id, 17) != 16 || d4_hex_decode(id, 16, raw, sizeof(raw)))
		return D4_EINVAL;
	return store_write(s, 1, token_revoke_fn, raw);
}
