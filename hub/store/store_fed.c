/* d4hub store — federation state: the sender's acknowledged positions
 * (fed_out), the receiver's positions (fed_in), the mapping of received
 * sessions to local ones (fed_sess), and the first phase of applying a
 * received batch inside the writer's transaction (store_writer.c does the
 * frames' second phase with its own chunks). Layouts: docs/store.md
 * "Federation". */
#include "d4_store_fed.h"
#include "store_internal.h"
#include "store_pssl_internal.h"
#include "store_wire_internal.h"

#include "d4_error.h"
#include "d4_log.h"
#include "d4_reader.h"
#include "d4_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FED_VAL_V1   1u
#define FED_KEY_MAX  (D4_PARTNER_NAME_MAX + 2u)
#define FED_SESS_KEY 48u /* sender[16] origin[16] u64 origin session u64 attributes hash */

_Static_assert(D4_STORE_FED_HUBS_KEEP == D4_PDNS_HUBS_KEEP, "origin hubs kept per tuple");
_Static_assert(D4_FED_POS_MAX <= UINT16_MAX, "positions are stored with a u16 length");

static MDB_val mv(const void *p, size_t n)
{
	return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

static int kind_ok(uint8_t kind)
{
	return kind < D4_PARTNER_KINDS;
}

/* ---- codecs ---- */

static void wb_pos(struct wb *w, const uint8_t *p, size_t n)
{
	if (n > D4_FED_POS_MAX)
		abort(); /* checked by every caller */
	wb_u16(w, (uint16_t)n);
	wb_bytes(w, p, n);
}

static void rd_pos(struct d4_reader *r, uint8_t *out, size_t *len)
{
	uint16_t n = d4_rd_u16be(r);
	*len = 0;
	if (n > D4_FED_POS_MAX) {
		d4_rd_fail(r, D4_ECORRUPT);
		return;
	}
	d4_rd_copy(r, out, n);
	*len = d4_rd_error(r) ? 0 : n;
}

static void wb_counters(struct wb *w, const uint64_t *c, uint8_t n)
{
	if (n > D4_STORE_FED_REASONS)
		n = D4_STORE_FED_REASONS;
	wb_u8(w, n);
	for (unsigned i = 0; i < n; i++)
		wb_u64(w, c[i]);
}

/* A later build may count more reasons: the ones beyond ours are skipped. */
static uint8_t rd_counters(struct d4_reader *r, uint64_t *c)
{
	unsigned n = d4_rd_u8(r);
	for (unsigned i = 0; i < n; i++) {
		uint64_t v = d4_rd_u64be(r);
		if (i < D4_STORE_FED_REASONS)
			c[i] = v;
	}
	return (uint8_t)(n > D4_STORE_FED_REASONS ? D4_STORE_FED_REASONS : n);
}

size_t store_enc_fed_out(const struct d4_store_fed_out *o, uint8_t *buf)
{
	struct wb w = {buf, 0, STORE_FED_OUT_MAX};
	wb_u8(&w, FED_VAL_V1);
	wb_pos(&w, o->pos, o->pos_len);
	wb_counters(&w, o->decisions, o->ndecisions);
	wb_u64(&w, o->batches);
	wb_u64(&w, o->records);
	wb_u64(&w, o->bytes);
	wb_u64(&w, o->last_ack);
	wb_pos(&w, o->pend_pos, o->pend_len);
	wb_counters(&w, o->pend_decisions, o->npend);
	wb_u64(&w, o->pend_records);
	wb_u64(&w, o->pend_bytes);
	return w.len;
}

int store_dec_fed_out(const uint8_t *p, size_t len, struct d4_store_fed_out *o)
{
	struct d4_reader r;
	d4_rd_init(&r, p, len);
	memset(o, 0, sizeof(*o));
	if (d4_rd_u8(&r) != FED_VAL_V1)
		return D4_ECORRUPT;
	rd_pos(&r, o->pos, &o->pos_len);
	o->ndecisions = rd_counters(&r, o->decisions);
	o->batches = d4_rd_u64be(&r);
	o->records = d4_rd_u64be(&r);
	o->bytes = d4_rd_u64be(&r);
	o->last_ack = d4_rd_u64be(&r);
	rd_pos(&r, o->pend_pos, &o->pend_len);
	o->npend = rd_counters(&r, o->pend_decisions);
	o->pend_records = d4_rd_u64be(&r);
	o->pend_bytes = d4_rd_u64be(&r);
	return rd_done(&r);
}

size_t store_enc_fed_in(const struct d4_store_fed_in *in, uint8_t *buf)
{
	struct wb w = {buf, 0, STORE_FED_IN_MAX};
	wb_u8(&w, FED_VAL_V1);
	wb_pos(&w, in->pos, in->pos_len);
	wb_pos(&w, in->last_from, in->last_from_len);
	wb_str(&w, in->partner, sizeof(in->partner));
	wb_u64(&w, in->batches);
	wb_u64(&w, in->records);
	wb_u64(&w, in->bytes);
	wb_u64(&w, in->duplicates);
	wb_u64(&w, in->conflicts);
	wb_counters(&w, in->refused, in->nrefused);
	wb_u64(&w, in->last_at);
	return w.len;
}

int store_dec_fed_in(const uint8_t *p, size_t len, struct d4_store_fed_in *in)
{
	struct d4_reader r;
	d4_rd_init(&r, p, len);
	memset(in, 0, sizeof(*in));
	if (d4_rd_u8(&r) != FED_VAL_V1)
		return D4_ECORRUPT;
	rd_pos(&r, in->pos, &in->pos_len);
	rd_pos(&r, in->last_from, &in->last_from_len);
	rd_str(&r, in->partner, sizeof(in->partner));
	in->batches = d4_rd_u64be(&r);
	in->records = d4_rd_u64be(&r);
	in->bytes = d4_rd_u64be(&r);
	in->duplicates = d4_rd_u64be(&r);
	in->conflicts = d4_rd_u64be(&r);
	in->nrefused = rd_counters(&r, in->refused);
	in->last_at = d4_rd_u64be(&r);
	return rd_done(&r);
}

/* ---- keys ---- */

static size_t out_key(const char *partner, uint8_t kind, uint8_t k[FED_KEY_MAX])
{
	size_t n = strlen(partner);
	memcpy(k, partner, n);
	k[n] = 0;
	k[n + 1] = kind;
	return n + 2;
}

static void in_key(const uint8_t hub[16], uint8_t kind, uint8_t k[17])
{
	memcpy(k, hub, 16);
	k[16] = kind;
}

/* ---- sender side ---- */

static int fed_out_check(const char *partner, uint8_t kind)
{
	return (d4_store_partner_name_valid(partner) && kind_ok(kind)) ? 0 : D4_EINVAL;
}

int d4_store_fed_out_get(struct d4_store *s, const char *partner, uint8_t kind, struct d4_store_fed_out *out)
{
	if (!s || !out)
		return D4_EINVAL;
	memset(out, 0, sizeof(*out));
	if (fed_out_check(partner, kind))
		return D4_EINVAL;
	if (s->dbi_absent[DBI_FED_OUT])
		return D4_ENOTFOUND;
	uint8_t k[FED_KEY_MAX];
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	MDB_val key = mv(k, out_key(partner, kind, k)), v;
	rc = mdb_get(txn, s->dbi[DBI_FED_OUT], &key, &v);
	if (rc == 0)
		rc = store_dec_fed_out(v.mv_data, v.mv_size, out);
	else
		rc = store_rc(rc, "fed_out get");
	mdb_txn_abort(txn);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

struct out_put {
	const char *partner;
	uint8_t kind;
	const struct d4_store_fed_out *o;
};

static int out_put_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const struct out_put *op = arg;
	/* Only for a partner that exists, in the same transaction: a record
	 * written after the partner's deletion would outlive it. */
	MDB_val pk = mv(op->partner, strlen(op->partner)), pv;
	int rc = mdb_get(txn, s->dbi[DBI_PARTNERS], &pk, &pv);
	if (rc)
		return store_rc(rc, "partner get");
	uint8_t *buf = malloc(STORE_FED_OUT_MAX), k[FED_KEY_MAX];
	if (!buf)
		return D4_ENOMEM;
	MDB_val key = mv(k, out_key(op->partner, op->kind, k)), v = mv(buf, store_enc_fed_out(op->o, buf));
	rc = store_rc(mdb_put(txn, s->dbi[DBI_FED_OUT], &key, &v, 0), "fed_out put");
	free(buf);
	return rc;
}

int d4_store_fed_out_put(struct d4_store *s, const char *partner, uint8_t kind, const struct d4_store_fed_out *in)
{
	if (!s || !in || fed_out_check(partner, kind) || in->pos_len > D4_FED_POS_MAX ||
	    in->pend_len > D4_FED_POS_MAX || in->ndecisions > D4_STORE_FED_REASONS || in->npend > D4_STORE_FED_REASONS)
		return D4_EINVAL;
	if (s->opts.read_only)
		return D4_EPERM;
	struct out_put op = {partner, kind, in};
	return store_write(s, 0, out_put_fn, &op);
}

struct out_scan {
	int (*cb)(void *ctx, const char *partner, uint8_t kind, const struct d4_store_fed_out *o);
	void *ctx;
	struct d4_store_fed_out *o;
};

static int out_scan_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct out_scan *os = ctx;
	const uint8_t *kp = k->mv_data;
	char name[D4_PARTNER_NAME_MAX];
	if (k->mv_size < 3 || k->mv_size > FED_KEY_MAX || kp[k->mv_size - 2] != 0)
		return D4_ECORRUPT;
	memcpy(name, kp, k->mv_size - 2);
	name[k->mv_size - 2] = '\0';
	if (!d4_store_partner_name_valid(name) || !kind_ok(kp[k->mv_size - 1]))
		return D4_ECORRUPT;
	int rc = store_dec_fed_out(v->mv_data, v->mv_size, os->o);
	if (rc)
		return rc;
	return os->cb(os->ctx, name, kp[k->mv_size - 1], os->o) ? 1 : 0;
}

int d4_store_fed_out_foreach(struct d4_store *s, const char *partner,
			     int (*cb)(void *ctx, const char *partner, uint8_t kind, const struct d4_store_fed_out *o),
			     void *ctx)
{
	if (!s || !cb || (partner && !d4_store_partner_name_valid(partner)))
		return D4_EINVAL;
	uint8_t k[FED_KEY_MAX];
	size_t kl = 0;
	if (partner) {
		kl = strlen(partner) + 1; /* name || 00: never another partner's prefix */
		memcpy(k, partner, kl);
	}
	struct out_scan os = {cb, ctx, malloc(sizeof(struct d4_store_fed_out))};
	if (!os.o)
		return D4_ENOMEM;
	int rc = store_scan(s, DBI_FED_OUT, k, kl, k, kl, out_scan_fn, &os);
	free(os.o);
	return rc < 0 ? rc : 0;
}

/* d4_store_partner_del's part: every fed_out record of the partner, in the
 * caller's transaction. */
int store_fed_out_del_partner(struct d4_store *s, MDB_txn *txn, const char *partner)
{
	uint8_t k[FED_KEY_MAX];
	size_t kl = strlen(partner) + 1;
	if (kl > D4_PARTNER_NAME_MAX)
		return D4_EINVAL;
	memcpy(k, partner, kl);
	/* one seek per record: a partner has at most one per kind */
	for (;;) {
		MDB_val key = mv(k, kl), v;
		MDB_cursor *c;
		int rc = mdb_cursor_open(txn, s->dbi[DBI_FED_OUT], &c);
		if (rc)
			return store_rc(rc, "fed_out cursor");
		rc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE);
		if (rc == 0 && key.mv_size >= kl && memcmp(key.mv_data, k, kl) == 0)
			rc = mdb_cursor_del(c, 0);
		else if (rc == 0)
			rc = MDB_NOTFOUND;
		mdb_cursor_close(c);
		if (rc == MDB_NOTFOUND)
			return 0;
		if (rc)
			return store_rc(rc, "fed_out del");
	}
}

/* ---- receiver side ---- */

int d4_store_fed_in_get(struct d4_store *s, const uint8_t hub[16], uint8_t kind, struct d4_store_fed_in *out)
{
	if (!s || !hub || !out)
		return D4_EINVAL;
	memset(out, 0, sizeof(*out));
	if (!kind_ok(kind))
		return D4_EINVAL;
	if (s->dbi_absent[DBI_FED_IN])
		return D4_ENOTFOUND;
	uint8_t k[17];
	in_key(hub, kind, k);
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	MDB_val key = mv(k, 17), v;
	rc = mdb_get(txn, s->dbi[DBI_FED_IN], &key, &v);
	if (rc == 0)
		rc = store_dec_fed_in(v.mv_data, v.mv_size, out);
	else
		rc = store_rc(rc, "fed_in get");
	mdb_txn_abort(txn);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

struct in_scan {
	int (*cb)(void *ctx, const uint8_t hub[16], uint8_t kind, const struct d4_store_fed_in *i);
	void *ctx;
	struct d4_store_fed_in *in;
};

static int in_scan_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct in_scan *is = ctx;
	const uint8_t *kp = k->mv_data;
	if (k->mv_size != 17 || !kind_ok(kp[16]))
		return D4_ECORRUPT;
	int rc = store_dec_fed_in(v->mv_data, v->mv_size, is->in);
	if (rc)
		return rc;
	return is->cb(is->ctx, kp, kp[16], is->in) ? 1 : 0;
}

int d4_store_fed_in_foreach(struct d4_store *s,
			    int (*cb)(void *ctx, const uint8_t hub[16], uint8_t kind, const struct d4_store_fed_in *i),
			    void *ctx)
{
	if (!s || !cb)
		return D4_EINVAL;
	struct in_scan is = {cb, ctx, malloc(sizeof(struct d4_store_fed_in))};
	if (!is.in)
		return D4_ENOMEM;
	int rc = store_scan(s, DBI_FED_IN, NULL, 0, NULL, 0, in_scan_fn, &is);
	free(is.in);
	return rc < 0 ? rc : 0;
}

int d4_store_fed_session_get(struct d4_store *s, uint64_t session, struct d4_store_fed_session *out)
{
	if (!s || !out)
		return D4_EINVAL;
	memset(out, 0, sizeof(*out));
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	uint8_t key[8];
	d4_put_u64be(key, session);
	MDB_val k = mv(key, 8), v;
	struct d4_session_info si;
	rc = mdb_get(txn, s->dbi[DBI_SESSIONS], &k, &v);
	rc = rc ? store_rc(rc, "session get") : store_dec_session_fed(v.mv_data, v.mv_size, session, &si, out);
	mdb_txn_abort(txn);
	if (!rc && !si.fed)
		rc = D4_ENOTFOUND; /* a local session */
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- submitting ---- */

static int prov_ok(const struct d4_store_fed_prov *pv)
{
	return !pv || (pv->stripped <= 1 && pv->has_origin <= 1 && pv->nvia <= D4_STORE_FED_VIA_MAX);
}

int store_fed_batch_check(const struct d4_store_fed_batch *b)
{
	if (!b || !kind_ok(b->kind) || b->from_len > D4_FED_POS_MAX || b->to_len > D4_FED_POS_MAX ||
	    (b->from_len && !b->from) || (b->to_len && !b->to) || b->nrefused > D4_STORE_FED_REASONS ||
	    !memchr(b->partner, '\0', sizeof(b->partner)) || (b->nframes && !b->frames) || (b->ntuples && !b->tuples))
		return D4_EINVAL;
	/* frames only in a frames batch, tuples only in a pdns one, vectors
	 * only in a backscatter one */
	if ((b->nframes && b->kind != 0) || (b->ntuples && b->kind != 1) || (b->nvectors && b->kind != 2) ||
	    (b->nvectors && !b->vectors) || (b->npssl && (b->kind != 3 || !b->pssl)))
		return D4_EINVAL;
	/* a received vector (or handshake) never takes the identity of this
	 * hub's own */
	static const uint8_t zero[16];
	for (size_t i = 0; i < b->npssl; i++)
		if (!memcmp(b->pssl[i].origin, zero, 16))
			return D4_EINVAL;
	for (size_t i = 0; i < b->nvectors; i++) {
		const struct d4_store_bs_vec *v = &b->vectors[i];
		if (!v->received || !memcmp(v->origin, zero, 16) || v->kind == 0 || v->kind >= D4_STORE_BS_KINDS ||
		    v->nvia > D4_STORE_BS_VIA_MAX || v->n_sensors > D4_STORE_BS_SENSORS ||
		    v->n_ports > D4_STORE_BS_TOP_PORTS)
			return D4_EINVAL;
	}
	for (size_t i = 0; i < b->nframes; i++) {
		const struct d4_store_fed_frame *f = &b->frames[i];
		/* a frame larger than a chunk gets a chunk of its own, as at ingest */
		if ((f->size && !f->payload) || !prov_ok(f->prov) ||
		    (f->ext_type && strnlen(f->ext_type, D4_EXT_TYPE_MAX) >= D4_EXT_TYPE_MAX) || f->has_org > 1)
			return D4_EINVAL;
	}
	for (size_t i = 0; i < b->ntuples; i++)
		if (!prov_ok(b->tuples[i].prov))
			return D4_EINVAL;
	return 0;
}

void store_fed_complete(struct d4_store_fed_batch *b, int result)
{
	b->result = result;
	int fd = b->notify_fd;
	__atomic_store_n(&b->done, 1, __ATOMIC_RELEASE);
	/* b may be gone once done is seen: fd was read before */
	if (fd >= 0) {
		uint64_t one = 1;
		if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			d4_warn("store: federation eventfd write: %s", strerror(errno));
	}
}

/* ---- applying a batch (phase 1, in a child transaction) ---- */

static int pos_eq(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	return na == nb && (!na || memcmp(a, b, na) == 0);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

/* Everything a session record holds for all its frames: frames that differ
 * in one of them go to different local sessions. Not a secret and not an
 * integrity check: the key also holds the sender, so a collision could
 * only mix one sender's own frames. */
static uint64_t attr_hash(const struct d4_store_fed_frame *f)
{
	static const struct d4_store_fed_prov none;
	const struct d4_store_fed_prov *pv = f->prov ? f->prov : &none;
	const char *ext = f->ext_type ? f->ext_type : "";
	uint8_t hdr[4] = {f->type, f->tlp, f->has_org ? 1 : 0, pv->stripped ? 1 : 0};
	uint64_t h = 1469598103934665603ull;
	h = fnv(h, hdr, 4);
	h = fnv(h, f->sensor, 16);
	if (f->has_org)
		h = fnv(h, f->org, 16);
	h = fnv(h, ext, strlen(ext) + 1);
	uint8_t nvia = pv->nvia;
	h = fnv(h, &nvia, 1);
	return fnv(h, pv->via, 16u * nvia);
}

static void sess_key(const struct d4_store_fed_batch *b, const struct d4_store_fed_frame *f, uint8_t k[FED_SESS_KEY])
{
	memcpy(k, b->sender, 16);
	if (f->prov && f->prov->has_origin)
		memcpy(k + 16, f->prov->origin, 16);
	else
		memset(k + 16, 0, 16);
	d4_put_u64be(k + 32, f->origin_session);
	d4_put_u64be(k + 40, attr_hash(f));
}

/* A local session id reserved inside txn: a block of ids is taken from
 * sid_high in the same transaction, so an aborted attempt reserves nothing
 * and d4_store_session_id_new (other threads, other processes) never hands
 * out the same ids. */
static int sid_take(struct d4_store *s, MDB_txn *txn, struct store_fed_writer *fw, uint64_t *id)
{
	if (fw->try_next == 0 || fw->try_next >= fw->try_limit) {
		uint64_t high = 0;
		int rc = store_settings_get_u64(s, txn, "sid_high", &high);
		if (!rc)
			rc = store_settings_put_u64(s, txn, "sid_high", high + STORE_SID_BLOCK);
		if (rc)
			return rc;
		fw->try_next = high + 1;
		fw->try_limit = high + STORE_SID_BLOCK + 1;
	}
	*id = fw->try_next++;
	return 0;
}

static int map_frames(struct d4_store *s, MDB_txn *txn, struct store_fed_writer *fw, struct d4_store_fed_batch *b)
{
	if (b->nframes > fw->caplocal) {
		uint64_t *n = realloc(fw->local, b->nframes * sizeof(*n));
		if (!n)
			return D4_ENOMEM;
		fw->local = n;
		fw->caplocal = b->nframes;
	}
	uint8_t k[FED_SESS_KEY], last[FED_SESS_KEY];
	uint64_t last_id = 0;
	for (size_t i = 0; i < b->nframes; i++) {
		sess_key(b, &b->frames[i], k);
		if (last_id && !memcmp(k, last, FED_SESS_KEY)) {
			fw->local[i] = last_id;
			continue;
		}
		MDB_val key = mv(k, FED_SESS_KEY), v;
		uint64_t id = 0;
		int rc = mdb_get(txn, s->dbi[DBI_FED_SESS], &key, &v);
		if (rc == 0) {
			struct d4_reader r;
			d4_rd_init(&r, v.mv_data, v.mv_size);
			if (d4_rd_u8(&r) != FED_VAL_V1)
				d4_rd_fail(&r, D4_ECORRUPT);
			id = d4_rd_u64be(&r);
			if (rd_done(&r) || id == 0) {
				d4_err("store: corrupt record in fed_sess (sender's session %llu): batch refused",
				       (unsigned long long)b->frames[i].origin_session);
				return D4_ECORRUPT;
			}
			/* never into a local session (a damaged mapping) */
			uint8_t sk[8];
			d4_put_u64be(sk, id);
			MDB_val skv = mv(sk, 8), sv;
			struct d4_session_info si;
			rc = mdb_get(txn, s->dbi[DBI_SESSIONS], &skv, &sv);
			if (rc == 0 && store_dec_session(sv.mv_data, sv.mv_size, id, &si) == 0 && !si.fed) {
				d4_err("store: fed_sess maps a received session to local session %llu: batch refused",
				       (unsigned long long)id);
				return D4_ECORRUPT;
			}
			if (rc && rc != MDB_NOTFOUND)
				return store_rc(rc, "session get");
		} else if (rc == MDB_NOTFOUND) {
			uint8_t val[9];
			if ((rc = sid_take(s, txn, fw, &id)) != 0)
				return rc;
			val[0] = FED_VAL_V1;
			d4_put_u64be(val + 1, id);
			MDB_val vv = mv(val, 9);
			if ((rc = store_rc(mdb_put(txn, s->dbi[DBI_FED_SESS], &key, &vv, 0), "fed_sess put")) != 0)
				return rc;
		} else {
			return store_rc(rc, "fed_sess get");
		}
		fw->local[i] = last_id = id;
		memcpy(last, k, FED_SESS_KEY);
	}
	return 0;
}

static int merge_tuples(struct d4_store *s, MDB_txn *txn, const struct d4_store_fed_batch *b, uint64_t *stored)
{
	*stored = 0;
	if (!b->ntuples)
		return 0;
	struct d4_store_pdns_obs *obs = malloc(b->ntuples * sizeof(*obs));
	const uint8_t **hubs = malloc(b->ntuples * sizeof(*hubs));
	struct store_pdns_merge *m = NULL;
	int rc = (!obs || !hubs) ? D4_ENOMEM : 0;
	for (size_t i = 0; i < b->ntuples && !rc; i++) {
		const struct d4_store_fed_tuple *t = &b->tuples[i];
		obs[i] = t->obs;
		/* a stripped tuple names no origin: it adds none */
		hubs[i] = (t->prov && t->prov->has_origin && !t->prov->stripped) ? t->prov->origin : NULL;
	}
	if (!rc)
		rc = store_pdns_merge_prep(obs, hubs, b->ntuples, &m);
	if (!rc)
		rc = store_pdns_merge_txn(s, txn, m);
	if (!rc)
		*stored = store_pdns_merge_count(m);
	store_pdns_merge_free(m);
	free(obs);
	free(hubs);
	return rc;
}

/* A backscatter batch: each vector at the state it arrived in, upserted
 * (store_bs_vec_put_txn: a closed vector stays closed, an older state does
 * not replace a newer one) in the batch's transaction (so with its position: a batch sent again after
 * a lost answer is a duplicate and stores nothing twice; an ongoing vector
 * sent again later, updated, replaces the stored state in place). */
static int put_vectors(struct d4_store *s, MDB_txn *txn, const struct d4_store_fed_batch *b, uint64_t *stored)
{
	*stored = 0;
	for (size_t i = 0; i < b->nvectors; i++) {
		int rc = store_bs_vec_put_txn(s, txn, &b->vectors[i]);
		if (rc)
			return rc;
	}
	*stored = b->nvectors;
	return 0;
}

static void counters_add(uint64_t *dst, uint8_t *ndst, const uint64_t *src, uint8_t nsrc)
{
	for (unsigned i = 0; i < nsrc && i < D4_STORE_FED_REASONS; i++)
		dst[i] += src[i];
	if (nsrc > *ndst)
		*ndst = nsrc > D4_STORE_FED_REASONS ? D4_STORE_FED_REASONS : nsrc;
}

/* The errors that belong to the writer (a full map: it splits its batch,
 * and a batch that does not fit alone is answered D4_EFULL; no memory: it
 * retries). Anything else failed this batch's child transaction only — a
 * corrupt record, a batch too large for one transaction (LMDB's dirty page
 * limit) — and is this batch's answer; a store that is really broken fails
 * the writer's own puts and commit next. */
static int writer_error(int rc)
{
	return rc == D4_EFULL || rc == D4_ENOMEM;
}

static int fed_apply_child(struct d4_store *s, MDB_txn *txn, struct store_fed_writer *fw, struct d4_store_fed_batch *b,
			   struct d4_store_fed_in *in)
{
	uint8_t k[17];
	in_key(b->sender, b->kind, k);
	MDB_val key = mv(k, 17), v;
	int have = 0;
	int rc = mdb_get(txn, s->dbi[DBI_FED_IN], &key, &v);
	if (rc == 0) {
		if ((rc = store_dec_fed_in(v.mv_data, v.mv_size, in)) != 0) {
			/* never guessed: a wrong position could store a batch twice */
			d4_err("store: corrupt record in fed_in (kind %u): batches of this sender refused until it is "
			       "repaired",
			       (unsigned)b->kind);
			return rc;
		}
		have = 1;
	} else if (rc == MDB_NOTFOUND) {
		memset(in, 0, sizeof(*in));
	} else {
		return store_rc(rc, "fed_in get");
	}
	uint64_t stored = 0;
	int result;
	if (!have || pos_eq(b->from, b->from_len, in->pos, in->pos_len)) {
		if (b->kind == 0 && b->nframes && (rc = map_frames(s, txn, fw, b)) != 0)
			return rc;
		if (b->kind == 1 && (rc = merge_tuples(s, txn, b, &stored)) != 0)
			return rc;
		if (b->kind == 2 && (rc = put_vectors(s, txn, b, &stored)) != 0)
			return rc;
		/* in the batch's transaction, with its position: a batch sent
		 * again is a duplicate and merges nothing twice */
		if (b->kind == 3 && (rc = store_pssl_fed_apply_txn(s, txn, b->pssl, b->npssl, &stored)) != 0)
			return rc;
		if (b->kind == 0)
			stored = b->nframes;
		if (b->to_len)
			memcpy(in->pos, b->to, b->to_len);
		in->pos_len = b->to_len;
		if (b->from_len)
			memcpy(in->last_from, b->from, b->from_len);
		in->last_from_len = b->from_len;
		in->batches++;
		in->records += stored;
		in->bytes += b->bytes;
		counters_add(in->refused, &in->nrefused, b->refused, b->nrefused);
		result = 0;
	} else if (pos_eq(b->to, b->to_len, in->pos, in->pos_len) &&
		   pos_eq(b->from, b->from_len, in->last_from, in->last_from_len)) {
		in->duplicates++;
		result = D4_EEXIST;
	} else {
		in->conflicts++;
		result = D4_EBUSY;
	}
	d4_strlcpy(in->partner, b->partner, sizeof(in->partner));
	in->last_at = d4_now_s();
	uint8_t *buf = malloc(STORE_FED_IN_MAX);
	if (!buf)
		return D4_ENOMEM;
	MDB_val val = mv(buf, store_enc_fed_in(in, buf));
	rc = store_rc(mdb_put(txn, s->dbi[DBI_FED_IN], &key, &val, 0), "fed_in put");
	free(buf);
	if (rc)
		return rc;
	memcpy(b->pos, in->pos, in->pos_len);
	b->pos_len = in->pos_len;
	b->stored = stored;
	b->result = result;
	return 0;
}

int store_fed_apply(struct d4_store *s, MDB_txn *parent, struct store_fed_writer *fw, struct d4_store_fed_batch *b)
{
	MDB_txn *txn;
	uint64_t sn = fw->try_next, sl = fw->try_limit;
	b->stored = 0;
	b->pos_len = 0;
	int rc = store_rc(mdb_txn_begin(s->env, parent, 0, &txn), "federation txn begin");
	if (rc)
		return rc;
	struct d4_store_fed_in *in = malloc(sizeof(*in));
	rc = in ? fed_apply_child(s, txn, fw, b, in) : D4_ENOMEM;
	free(in);
	if (!rc)
		rc = store_rc(mdb_txn_commit(txn), "federation txn commit");
	else
		mdb_txn_abort(txn);
	if (!rc)
		return 0;
	fw->try_next = sn;
	fw->try_limit = sl;
	b->stored = 0;
	if (writer_error(rc))
		return rc;
	/* this batch alone fails; nothing of it stays in the transaction */
	b->result = rc;
	b->pos_len = 0;
	return 0;
}

/* ---- the signed provenance of received frames (fed_sig) ---- */

int store_fed_sig_put(struct d4_store *s, MDB_txn *txn, uint64_t seq, const struct d4_store_fed_frame *f)
{
	uint8_t k[8], v[1 + 64 + D4_STORE_FED_PROOF_MAX];
	d4_put_u64be(k, seq);
	v[0] = f->sig_flags & (D4_STORE_FED_SIG_SIGNED | D4_STORE_FED_SIG_ONWARD | D4_STORE_FED_SIG_SEALED);
	size_t n = 1;
	if (v[0] & D4_STORE_FED_SIG_SIGNED) {
		memcpy(v + 1, f->sig, 64);
		n += 64;
	}
	/* value: flags | [signature] | [proof] (the proof to the end) */
	if (v[0] & D4_STORE_FED_SIG_SEALED) {
		if (!f->proof || f->proof_len == 0 || f->proof_len > D4_STORE_FED_PROOF_MAX)
			return D4_EINVAL;
		memcpy(v + n, f->proof, f->proof_len);
		n += f->proof_len;
	}
	MDB_val key = mv(k, 8), val = mv(v, n);
	return store_rc(mdb_put(txn, s->dbi[DBI_FED_SIG], &key, &val, 0), "fed_sig put");
}

int d4_store_fed_sig_get(struct d4_store *s, uint64_t seq, uint8_t *flags, uint8_t sig[64])
{
	uint8_t proof[D4_STORE_FED_PROOF_MAX];
	size_t n = 0;
	int rc = d4_store_fed_sig_read(s, seq, flags, sig, proof, &n);
	if (rc == 0)
		*flags &= (uint8_t)~D4_STORE_FED_SIG_SEALED;
	return rc;
}

int d4_store_fed_sig_read(struct d4_store *s, uint64_t seq, uint8_t *flags, uint8_t sig[64], uint8_t *proof,
			  size_t *proof_len)
{
	if (!s || !flags || !sig || !proof || !proof_len)
		return D4_EINVAL;
	*flags = 0;
	*proof_len = 0;
	if (s->dbi_absent[DBI_FED_SIG])
		return D4_ENOTFOUND;
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	uint8_t k[8];
	d4_put_u64be(k, seq);
	MDB_val key = mv(k, 8), v;
	rc = mdb_get(txn, s->dbi[DBI_FED_SIG], &key, &v);
	if (rc == MDB_NOTFOUND) {
		rc = D4_ENOTFOUND;
	} else if (rc) {
		rc = store_rc(rc, "fed_sig get");
	} else {
		const uint8_t *p = v.mv_data;
		size_t fixed = (v.mv_size >= 1 && (p[0] & D4_STORE_FED_SIG_SIGNED)) ? 65u : 1u;
		int sealed = v.mv_size >= 1 && (p[0] & D4_STORE_FED_SIG_SEALED);
		if (v.mv_size < 1 ||
		    (p[0] & ~(D4_STORE_FED_SIG_SIGNED | D4_STORE_FED_SIG_ONWARD | D4_STORE_FED_SIG_SEALED)) ||
		    (!sealed && v.mv_size != fixed) ||
		    (sealed && (v.mv_size <= fixed || v.mv_size - fixed > D4_STORE_FED_PROOF_MAX))) {
			rc = D4_ECORRUPT;
		} else {
			*flags = p[0];
			if (p[0] & D4_STORE_FED_SIG_SIGNED)
				memcpy(sig, p + 1, 64);
			if (sealed) {
				memcpy(proof, p + fixed, v.mv_size - fixed);
				*proof_len = v.mv_size - fixed;
			}
		}
	}
	mdb_txn_abort(txn);
	return rc;
}
