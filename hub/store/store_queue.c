/* d4hub store — analyzer queues.
 *
 * A queue holds references (frame seqs), never payload copies: the frame
 * log stays the single copy. Its record (DBI_QUEUES) carries the filter and
 * the counters; its entries are positions [head, tail) in DBI_QENTRIES
 * keyed (id BE, position BE). Every counter change is a read-modify-write
 * inside a write transaction, and LMDB serialises write transactions, so
 * the writer's fan-out, pops, acks and admin edits never lose each other's
 * updates. The writer caches only the filters (refreshed on a control-epoch
 * change); counters are always read inside its transaction. Layout and
 * rules: docs/store.md "Analyzer queues". */
#include "store_internal.h"

#include "d4_error.h"
#include "d4_log.h"
#include "d4_reader.h"
#include "d4_util.h"

#include <stdlib.h>
#include <string.h>

#define QUEUE_VAL_MAX                                                                                                  \
	(1 + 2 + D4_QUEUE_NAME_MAX + 1 + 2 + D4_EXT_TYPE_MAX + 4 + 8 * 10 + 1 + 1 + D4_QUEUE_GROUP_MAX * 16 + 8)
/* v2 = v1 + u64 withheld at the end; v1 records (stores written before the
 * counter existed) read as withheld 0 and are rewritten as v2 on change. */
#define QUEUE_VAL_V2 2u
#define QUEUE_NEXT   "queue_next" /* settings: next queue id */

static MDB_val mval(const void *p, size_t n)
{
	return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

/* ---- codec ---- */
static uint8_t *put_str(uint8_t *p, const char *s)
{
	size_t n = strlen(s);
	d4_put_u16be(p, (uint16_t)n);
	memcpy(p + 2, s, n);
	return p + 2 + n;
}

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
	d4_put_u64be(p, v);
	return p + 8;
}

static size_t enc_queue(const struct d4_queue *q, uint8_t *buf)
{
	uint8_t *p = buf;
	*p++ = QUEUE_VAL_V2;
	p = put_str(p, q->name);
	*p++ = q->type;
	p = put_str(p, q->ext_type);
	d4_put_u32be(p, q->max_entries);
	p += 4;
	p = put_u64(p, q->created);
	p = put_u64(p, q->head);
	p = put_u64(p, q->tail);
	p = put_u64(p, q->enqueued);
	p = put_u64(p, q->dropped);
	p = put_u64(p, q->consumed);
	p = put_u64(p, q->flushed);
	p = put_u64(p, q->expired);
	*p++ = q->alert ? 1 : 0;
	p = put_u64(p, q->last_drop_at);
	*p++ = q->ngroup;
	memcpy(p, q->group, (size_t)q->ngroup * 16);
	p += (size_t)q->ngroup * 16;
	p = put_u64(p, q->withheld);
	return (size_t)(p - buf);
}

static void rd_str(struct d4_reader *r, char *out, size_t field)
{
	uint16_t n = d4_rd_u16be(r);
	if (n >= field) {
		d4_rd_fail(r, D4_ECORRUPT);
		out[0] = '\0';
		return;
	}
	d4_rd_copy(r, out, n);
	out[d4_rd_error(r) ? 0 : n] = '\0';
}

static int dec_queue(uint32_t id, const uint8_t *p, size_t len, struct d4_queue *q)
{
	struct d4_reader r;
	memset(q, 0, sizeof(*q));
	q->id = id;
	d4_rd_init(&r, p, len);
	uint8_t ver = d4_rd_u8(&r);
	if (ver != STORE_VAL_V1 && ver != QUEUE_VAL_V2)
		return D4_ECORRUPT;
	rd_str(&r, q->name, sizeof(q->name));
	q->type = d4_rd_u8(&r);
	rd_str(&r, q->ext_type, sizeof(q->ext_type));
	q->max_entries = d4_rd_u32be(&r);
	q->created = d4_rd_u64be(&r);
	q->head = d4_rd_u64be(&r);
	q->tail = d4_rd_u64be(&r);
	q->enqueued = d4_rd_u64be(&r);
	q->dropped = d4_rd_u64be(&r);
	q->consumed = d4_rd_u64be(&r);
	q->flushed = d4_rd_u64be(&r);
	q->expired = d4_rd_u64be(&r);
	uint8_t alert = d4_rd_u8(&r);
	q->last_drop_at = d4_rd_u64be(&r);
	q->ngroup = d4_rd_u8(&r);
	if (d4_rd_error(&r) || alert > 1 || q->ngroup > D4_QUEUE_GROUP_MAX || q->head > q->tail)
		return D4_ECORRUPT;
	q->alert = alert;
	d4_rd_copy(&r, q->group, (size_t)q->ngroup * 16);
	if (ver == QUEUE_VAL_V2)
		q->withheld = d4_rd_u64be(&r);
	return (d4_rd_error(&r) || d4_rd_left(&r)) ? D4_ECORRUPT : 0;
}

static void qkey(uint32_t id, uint8_t key[4])
{
	d4_put_u32be(key, id);
}

static void ekey(uint32_t id, uint64_t pos, uint8_t key[12])
{
	d4_put_u32be(key, id);
	d4_put_u64be(key + 4, pos);
}

static int get_txn(struct d4_store *s, MDB_txn *txn, uint32_t id, struct d4_queue *q)
{
	uint8_t k4[4];
	qkey(id, k4);
	MDB_val k = mval(k4, 4), v;
	int rc = mdb_get(txn, s->dbi[DBI_QUEUES], &k, &v);
	if (rc == MDB_NOTFOUND)
		return D4_ENOTFOUND;
	if (rc)
		return store_rc(rc, "queue get");
	return dec_queue(id, v.mv_data, v.mv_size, q);
}

static int put_txn(struct d4_store *s, MDB_txn *txn, const struct d4_queue *q)
{
	uint8_t k4[4], buf[QUEUE_VAL_MAX];
	qkey(q->id, k4);
	MDB_val k = mval(k4, 4), v = mval(buf, enc_queue(q, buf));
	return store_rc(mdb_put(txn, s->dbi[DBI_QUEUES], &k, &v, 0), "queue put");
}

/* Deletes the entries [from, to) of queue id. */
static int del_entries(struct d4_store *s, MDB_txn *txn, uint32_t id, uint64_t from, uint64_t to)
{
	for (uint64_t pos = from; pos < to; pos++) {
		uint8_t k12[12];
		ekey(id, pos, k12);
		MDB_val k = mval(k12, 12);
		int rc = mdb_del(txn, s->dbi[DBI_QENTRIES], &k, NULL);
		if (rc && rc != MDB_NOTFOUND)
			return store_rc(rc, "queue entry del");
	}
	return 0;
}

static int entry_get(struct d4_store *s, MDB_txn *txn, uint32_t id, uint64_t pos, uint64_t *seq)
{
	uint8_t k12[12];
	ekey(id, pos, k12);
	MDB_val k = mval(k12, 12), v;
	int rc = mdb_get(txn, s->dbi[DBI_QENTRIES], &k, &v);
	if (rc == MDB_NOTFOUND)
		return D4_ECORRUPT; /* [head, tail) always has every entry */
	if (rc)
		return store_rc(rc, "queue entry get");
	if (v.mv_size != 9 || ((const uint8_t *)v.mv_data)[0] != STORE_VAL_V1)
		return D4_ECORRUPT;
	*seq = d4_get_u64be((const uint8_t *)v.mv_data + 1);
	return 0;
}

/* ---- validation ---- */
int d4_store_queue_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n >= D4_QUEUE_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return 0;
	return 1;
}

static int ext_valid(const char *e)
{
	size_t n = strlen(e);
	if (n >= D4_EXT_TYPE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)e[i] <= 0x20 || (unsigned char)e[i] >= 0x7f)
			return 0;
	return 1;
}

static int uuid_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

/* Copies, sorts and deduplicates a group into q. */
static int set_group(struct d4_queue *q, unsigned n, const uint8_t (*g)[16])
{
	if (n > D4_QUEUE_GROUP_MAX || (n && !g))
		return D4_EINVAL;
	uint8_t tmp[D4_QUEUE_GROUP_MAX][16];
	if (n)
		memcpy(tmp, g, (size_t)n * 16);
	qsort(tmp, n, 16, uuid_cmp);
	unsigned m = 0;
	for (unsigned i = 0; i < n; i++)
		if (m == 0 || memcmp(tmp[m - 1], tmp[i], 16) != 0)
			memcpy(tmp[m++], tmp[i], 16);
	memset(q->group, 0, sizeof(q->group));
	memcpy(q->group, tmp, (size_t)m * 16);
	q->ngroup = (uint8_t)m;
	return 0;
}

/* ---- admin operations ---- */
struct create_arg {
	struct d4_queue *q;
};

static int create_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	struct d4_queue *q = ((const struct create_arg *)arg)->q;
	uint64_t next;
	int rc = store_settings_get_u64(s, txn, QUEUE_NEXT, &next);
	if (rc)
		return rc;
	if (next == 0)
		next = 1;
	if (next > UINT32_MAX)
		return D4_EFULL;
	q->id = (uint32_t)next;
	rc = store_settings_put_u64(s, txn, QUEUE_NEXT, next + 1);
	if (!rc)
		rc = put_txn(s, txn, q);
	return rc;
}

int d4_store_queue_create(struct d4_store *s, struct d4_queue *q)
{
	if (!d4_store_queue_name_valid(q->name) || q->type == 0 || !memchr(q->ext_type, 0, sizeof(q->ext_type)) ||
	    !ext_valid(q->ext_type) || (q->ext_type[0] && q->type != 254) || q->max_entries == 0 ||
	    q->max_entries > D4_QUEUE_ENTRIES_MAX || q->ngroup > D4_QUEUE_GROUP_MAX)
		return D4_EINVAL;
	struct d4_queue n;
	memset(&n, 0, sizeof(n));
	d4_strlcpy(n.name, q->name, sizeof(n.name));
	n.type = q->type;
	d4_strlcpy(n.ext_type, q->ext_type, sizeof(n.ext_type));
	n.max_entries = q->max_entries;
	set_group(&n, q->ngroup, (const uint8_t(*)[16])q->group);
	n.created = d4_now_s();
	n.head = n.tail = 1;
	struct create_arg a = {&n};
	int rc = store_write(s, 1, create_fn, &a);
	if (rc)
		return rc;
	*q = n;
	return 0;
}

int d4_store_queue_get(struct d4_store *s, uint32_t id, struct d4_queue *out)
{
	if (s->dbi_absent[DBI_QUEUES])
		return D4_ENOTFOUND;
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	rc = get_txn(s, txn, id, out);
	mdb_txn_abort(txn);
	return rc;
}

struct update_arg {
	uint32_t id;
	const struct d4_queue_update *u;
	struct d4_queue *out;
};

static int update_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const struct update_arg *a = arg;
	const struct d4_queue_update *u = a->u;
	struct d4_queue *q = a->out;
	int rc = get_txn(s, txn, a->id, q);
	if (rc)
		return rc;
	if (u->name)
		d4_strlcpy(q->name, u->name, sizeof(q->name));
	if (u->set_group && (rc = set_group(q, u->ngroup, u->group)) != 0)
		return rc;
	if (u->clear_alert)
		q->alert = 0;
	if (u->max_entries) {
		q->max_entries = u->max_entries;
		if (q->tail - q->head > q->max_entries) {
			/* An operator's shrink: the oldest go, counted as drops,
			 * without raising the alert (nobody fell behind). */
			uint64_t nh = q->tail - q->max_entries;
			rc = del_entries(s, txn, q->id, q->head, nh);
			if (rc)
				return rc;
			q->dropped += nh - q->head;
			q->head = nh;
		}
	}
	return put_txn(s, txn, q);
}

int d4_store_queue_update(struct d4_store *s, uint32_t id, const struct d4_queue_update *u, struct d4_queue *out)
{
	if (!u || (u->name && !d4_store_queue_name_valid(u->name)) || u->max_entries > D4_QUEUE_ENTRIES_MAX ||
	    (u->set_group && (u->ngroup > D4_QUEUE_GROUP_MAX || (u->ngroup && !u->group))))
		return D4_EINVAL;
	struct d4_queue tmp;
	struct update_arg a = {id, u, out ? out : &tmp};
	return store_write(s, 1, update_fn, &a);
}

static int del_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	uint32_t id = *(const uint32_t *)arg;
	uint8_t k4[4];
	qkey(id, k4);
	MDB_val k = mval(k4, 4);
	int rc = mdb_del(txn, s->dbi[DBI_QUEUES], &k, NULL);
	if (rc == MDB_NOTFOUND)
		return D4_ENOTFOUND;
	if (rc)
		return store_rc(rc, "queue del");
	/* Every entry of the queue, whatever head/tail said. */
	MDB_cursor *c;
	rc = mdb_cursor_open(txn, s->dbi[DBI_QENTRIES], &c);
	if (rc)
		return store_rc(rc, "cursor");
	MDB_val ck = mval(k4, 4), cv;
	rc = mdb_cursor_get(c, &ck, &cv, MDB_SET_RANGE);
	while (rc == 0 && ck.mv_size == 12 && memcmp(ck.mv_data, k4, 4) == 0) {
		rc = mdb_cursor_del(c, 0);
		if (rc)
			break;
		/* Re-seek rather than trust the cursor position after a delete. */
		ck = mval(k4, 4);
		rc = mdb_cursor_get(c, &ck, &cv, MDB_SET_RANGE);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : store_rc(rc, "queue entries del");
}

int d4_store_queue_del(struct d4_store *s, uint32_t id)
{
	return store_write(s, 1, del_fn, &id);
}

struct scan_arg {
	int (*cb)(void *ctx, const struct d4_queue *q);
	void *ctx;
};

static int scan_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct scan_arg *a = ctx;
	struct d4_queue q;
	if (k->mv_size != 4)
		return D4_ECORRUPT;
	int rc = dec_queue(d4_get_u32be(k->mv_data), v->mv_data, v->mv_size, &q);
	if (rc)
		return rc;
	return a->cb(a->ctx, &q) ? 1 : 0;
}

int d4_store_queue_foreach(struct d4_store *s, int (*cb)(void *ctx, const struct d4_queue *q), void *ctx)
{
	struct scan_arg a = {cb, ctx};
	int rc = store_scan(s, DBI_QUEUES, NULL, 0, NULL, 0, scan_fn, &a);
	return rc < 0 ? rc : 0;
}

struct flush_arg {
	uint32_t id;
	struct d4_queue *out;
};

static int flush_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const struct flush_arg *a = arg;
	struct d4_queue *q = a->out;
	int rc = get_txn(s, txn, a->id, q);
	if (!rc)
		rc = del_entries(s, txn, q->id, q->head, q->tail);
	if (rc)
		return rc;
	q->flushed += q->tail - q->head;
	q->head = q->tail;
	q->alert = 0;
	return put_txn(s, txn, q);
}

int d4_store_queue_flush(struct d4_store *s, uint32_t id, struct d4_queue *out)
{
	struct d4_queue tmp;
	struct flush_arg a = {id, out ? out : &tmp};
	return store_write(s, 0, flush_fn, &a);
}

/* ---- reading entries ---- */

/* Finds frame seq in the log with cursor c (chunk with the greatest
 * first_seq <= seq). Calls cb with the record or, if retention deleted it,
 * with rec NULL. Returns cb's value, or a negative error. */
struct one_frame {
	uint64_t seq, pos;
	d4_queue_entry_cb cb;
	void *ctx;
	int found, ret;
};

static int one_frame_cb(void *arg, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	struct one_frame *of = arg;
	if (rec->seq == of->seq) {
		of->found = 1;
		of->ret = of->cb(of->ctx, of->pos, rec, payload);
	}
	return 1; /* the first record at or after seq decides */
}

static int with_frame(MDB_cursor *c, uint64_t pos, uint64_t seq, d4_queue_entry_cb cb, void *ctx, int *found)
{
	uint8_t k8[8];
	d4_put_u64be(k8, seq);
	MDB_val k = mval(k8, 8), v;
	int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && !(k.mv_size == 8 && d4_get_u64be(k.mv_data) == seq))
		rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	struct one_frame of = {seq, pos, cb, ctx, 0, 0};
	if (rc == 0) {
		int w = store_chunk_walk(v.mv_data, v.mv_size, seq, one_frame_cb, &of);
		if (w < 0)
			return w;
	} else if (rc != MDB_NOTFOUND) {
		return store_rc(rc, "frame seek");
	}
	*found = of.found;
	if (!of.found)
		return cb ? cb(ctx, pos, NULL, NULL) : 0;
	return of.ret;
}

int d4_store_queue_peek(struct d4_store *s, uint32_t id, uint64_t from_pos, unsigned max, d4_queue_entry_cb cb,
			void *ctx)
{
	if (s->dbi_absent[DBI_QUEUES])
		return D4_ENOTFOUND;
	MDB_txn *txn;
	MDB_cursor *c = NULL;
	struct d4_queue q;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	rc = get_txn(s, txn, id, &q);
	if (!rc)
		rc = store_rc(mdb_cursor_open(txn, s->dbi[DBI_FRAMES], &c), "cursor");
	uint64_t pos = from_pos > q.head ? from_pos : q.head;
	for (unsigned n = 0; !rc && n < max && pos < q.tail; n++, pos++) {
		uint64_t seq;
		int found;
		rc = entry_get(s, txn, id, pos, &seq);
		if (!rc)
			rc = with_frame(c, pos, seq, cb, ctx, &found);
	}
	if (c)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc > 0 ? 0 : rc;
}

struct pop_arg {
	uint32_t id;
	unsigned max;
	d4_queue_entry_cb cb;
	void *ctx;
	struct d4_queue *out;
	int delivered;
};

/* Only found frames reach the caller's callback on pop. */
static int pop_one(void *ctx, uint64_t pos, const struct d4_frame_rec *rec, const uint8_t *payload)
{
	struct pop_arg *a = ctx;
	if (!rec)
		return 0;
	return a->cb ? a->cb(a->ctx, pos, rec, payload) : 0;
}

static int pop_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	struct pop_arg *a = (struct pop_arg *)arg;
	struct d4_queue *q = a->out;
	MDB_cursor *c;
	int rc = get_txn(s, txn, a->id, q);
	if (rc)
		return rc;
	rc = store_rc(mdb_cursor_open(txn, s->dbi[DBI_FRAMES], &c), "cursor");
	if (rc)
		return rc;
	uint64_t pos = q->head, skipped = 0;
	a->delivered = 0;
	while (!rc && pos < q->tail && (unsigned)a->delivered < a->max && skipped <= D4_QUEUE_POP_SKIP) {
		uint64_t seq;
		int found = 0;
		rc = entry_get(s, txn, q->id, pos, &seq);
		if (!rc)
			rc = with_frame(c, pos, seq, pop_one, a, &found);
		if (rc < 0)
			break;
		int withheld = found && rc == D4_QUEUE_WITHHOLD;
		int stop = rc > 0 && !withheld; /* the callback took this frame and wants no more */
		rc = 0;
		if (withheld) {
			skipped++;
			q->withheld++;
		} else if (found) {
			a->delivered++;
			q->consumed++;
		} else {
			skipped++;
			q->expired++;
		}
		pos++;
		if (stop)
			break;
	}
	mdb_cursor_close(c);
	if (!rc)
		rc = del_entries(s, txn, q->id, q->head, pos);
	if (rc)
		return rc;
	q->head = pos;
	if (q->head == q->tail)
		q->alert = 0; /* the consumer caught up */
	return put_txn(s, txn, q);
}

int d4_store_queue_pop(struct d4_store *s, uint32_t id, unsigned max, d4_queue_entry_cb cb, void *ctx,
		       struct d4_queue *out)
{
	struct d4_queue tmp;
	struct pop_arg a = {id, max, cb, ctx, out ? out : &tmp, 0};
	if (max == 0)
		return d4_store_queue_get(s, id, a.out);
	int rc = store_write(s, 0, pop_fn, &a);
	return rc ? rc : a.delivered;
}

struct ack_arg {
	uint32_t id;
	uint64_t pos;
	struct d4_queue *out;
};

static int ack_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const struct ack_arg *a = arg;
	struct d4_queue *q = a->out;
	int rc = get_txn(s, txn, a->id, q);
	if (rc)
		return rc;
	if (a->pos > q->tail)
		return D4_EINVAL;
	if (a->pos <= q->head)
		return 0;
	rc = del_entries(s, txn, q->id, q->head, a->pos);
	if (rc)
		return rc;
	q->consumed += a->pos - q->head;
	q->head = a->pos;
	if (q->head == q->tail)
		q->alert = 0;
	return put_txn(s, txn, q);
}

int d4_store_queue_ack(struct d4_store *s, uint32_t id, uint64_t pos, struct d4_queue *out)
{
	struct d4_queue tmp;
	struct ack_arg a = {id, pos, out ? out : &tmp};
	return store_write(s, 0, ack_fn, &a);
}

/* ---- writer fan-out ---- */
struct qc_filter {
	uint32_t id;
	uint8_t type;
	char ext_type[D4_EXT_TYPE_MAX];
	uint8_t ngroup;
	uint8_t group[D4_QUEUE_GROUP_MAX][16];
	/* per batch */
	int state; /* 0 not loaded, 1 loaded, -1 gone */
	struct d4_queue q;
};

struct store_qcache {
	uint64_t epoch;
	int valid;
	struct qc_filter *f;
	size_t n, cap;
	uint8_t types[256]; /* 1 if some queue wants this type: the common case is a quick no */
	struct d4_store *s;
	MDB_txn *txn;
};

struct store_qcache *store_qcache_new(void)
{
	return calloc(1, sizeof(struct store_qcache));
}

void store_qcache_free(struct store_qcache *qc)
{
	if (!qc)
		return;
	free(qc->f);
	free(qc);
}

static int qc_reload(struct store_qcache *qc, struct d4_store *s, MDB_txn *txn)
{
	MDB_cursor *c;
	qc->n = 0;
	memset(qc->types, 0, sizeof(qc->types));
	int rc = mdb_cursor_open(txn, s->dbi[DBI_QUEUES], &c);
	if (rc)
		return store_rc(rc, "cursor");
	MDB_val k, v;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct d4_queue q;
		if (k.mv_size != 4 || dec_queue(d4_get_u32be(k.mv_data), v.mv_data, v.mv_size, &q)) {
			d4_warn("store: a queue record is corrupt; it receives nothing");
			continue;
		}
		if (qc->n == qc->cap) {
			size_t ncap = qc->cap ? qc->cap * 2 : 8;
			struct qc_filter *nf = realloc(qc->f, ncap * sizeof(*nf));
			if (!nf) {
				mdb_cursor_close(c);
				return D4_ENOMEM;
			}
			qc->f = nf;
			qc->cap = ncap;
		}
		struct qc_filter *f = &qc->f[qc->n++];
		memset(f, 0, sizeof(*f));
		f->id = q.id;
		f->type = q.type;
		memcpy(f->ext_type, q.ext_type, sizeof(f->ext_type));
		f->ngroup = q.ngroup;
		memcpy(f->group, q.group, sizeof(f->group));
		qc->types[q.type] = 1;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : store_rc(rc, "queue scan");
}

int store_qcache_begin(struct store_qcache *qc, struct d4_store *s, MDB_txn *txn)
{
	uint64_t epoch;
	int rc = store_settings_get_u64(s, txn, "epoch", &epoch);
	if (rc)
		return rc;
	qc->s = s;
	qc->txn = txn;
	if (!qc->valid || epoch != qc->epoch) {
		qc->valid = 0;
		rc = qc_reload(qc, s, txn);
		if (rc)
			return rc;
		qc->epoch = epoch;
		qc->valid = 1;
	}
	for (size_t i = 0; i < qc->n; i++)
		qc->f[i].state = 0;
	return 0;
}

static int in_group(const struct qc_filter *f, const uint8_t uuid[16])
{
	if (f->ngroup == 0)
		return 1;
	return bsearch(uuid, f->group, f->ngroup, 16, uuid_cmp) != NULL;
}

int store_qcache_fanout(struct store_qcache *qc, const struct d4_frame_rec *rec, const char *ext_type)
{
	if (!qc->types[rec->type])
		return 0;
	for (size_t i = 0; i < qc->n; i++) {
		struct qc_filter *f = &qc->f[i];
		if (f->type != rec->type || f->state < 0)
			continue;
		if (f->ext_type[0] && strcmp(f->ext_type, ext_type ? ext_type : "") != 0)
			continue;
		if (!in_group(f, rec->uuid))
			continue;
		if (f->state == 0) {
			int rc = get_txn(qc->s, qc->txn, f->id, &f->q);
			if (rc == D4_ENOTFOUND || rc == D4_ECORRUPT) {
				f->state = -1; /* deleted since the epoch we cached, or unreadable */
				continue;
			}
			if (rc)
				return rc;
			f->state = 1;
		}
		struct d4_queue *q = &f->q;
		uint8_t k12[12], v9[9];
		ekey(q->id, q->tail, k12);
		v9[0] = STORE_VAL_V1;
		d4_put_u64be(v9 + 1, rec->seq);
		MDB_val k = mval(k12, 12), v = mval(v9, 9);
		int rc = mdb_put(qc->txn, qc->s->dbi[DBI_QENTRIES], &k, &v, 0);
		if (rc)
			return store_rc(rc, "queue entry put");
		q->tail++;
		q->enqueued++;
		if (q->tail - q->head > q->max_entries) {
			rc = del_entries(qc->s, qc->txn, q->id, q->head, q->head + 1);
			if (rc)
				return rc;
			q->head++;
			q->dropped++;
			q->alert = 1;
			q->last_drop_at = rec->recv_ms / 1000u;
		}
	}
	return 0;
}

int store_qcache_end(struct store_qcache *qc)
{
	for (size_t i = 0; i < qc->n; i++) {
		if (qc->f[i].state != 1)
			continue;
		int rc = put_txn(qc->s, qc->txn, &qc->f[i].q);
		if (rc)
			return rc;
		qc->f[i].state = 0;
	}
	return 0;
}
