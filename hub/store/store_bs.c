/* d4hub store — backscatter attack vectors, their indexes and the state of
 * the hub's consumer (schema 5). Layout and rules: docs/store.md
 * "Backscatter" and docs/backscatter.md "Storage". */
#include "d4_store_bs.h"
#include "store_internal.h"
#include "store_wire_internal.h"

#include "d4_error.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_reader.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BS_REC_V1	   1u /* vector records */
#define BS_REC_V2	   2u /* v1 + u8 sig_flags [+ sig[64]] (signed provenance) */
#define BS_REC_V3	   3u /* v2 + [u16 proof_len + proof] (sig_flags 0x04: sealed provenance) */
#define BS_VAL_V1	   1u /* states, cursors, counters */
#define BS_CURSOR_V1	   1u /* query resume cursors */
#define BS_NEXT_ID	   "bs_next_id"
#define BS_CHANGE_SEQ	   "bs_change_seq"
#define BS_EXPIRE_DEF	   10000u
#define BS_CURSOR_NAME_MAX 64u /* names are 1..63 bytes */
#define BS_CNT_LEN	   (1u + 5u * 8u + 1u + 8u * D4_STORE_BS_KINDS + 1u + 8u * D4_STORE_BS_REASONS)
#define BS_ONGOING	   1u
#define BS_CLOSED	   2u

static MDB_val mv(const void *p, size_t n)
{
	return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

static int absent(struct d4_store *s)
{
	for (int d = DBI_BS_VEC; d <= DBI_BS_META; d++)
		if (s->dbi_absent[d])
			return 1;
	return 0;
}

static uint8_t tlp_norm(uint8_t t)
{
	return (t >= 1 && t <= 6) ? t : 6; /* NONE / UNCLEAR / invalid: fail closed (RED) */
}

/* ---- the vector record ---- */

static void wb_f64(struct wb *w, double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	wb_u64(w, u);
}

static double rd_f64(struct d4_reader *r)
{
	uint64_t u = d4_rd_u64be(r);
	double d;
	memcpy(&d, &u, sizeof(d));
	return d;
}

size_t store_bs_vec_encode(const struct d4_store_bs_vec *v, uint8_t *buf)
{
	struct wb w = {buf, 0, STORE_BS_REC_MAX};
	/* v1 unless there is a signature or consent to keep: one layout per value */
	int sealed = (v->sig_flags & 0x04u) && v->proof_len && v->proof_len <= D4_STORE_FED_PROOF_MAX;
	wb_u8(&w, sealed ? BS_REC_V3 : (v->sig_flags & 0x03u) ? BS_REC_V2 : BS_REC_V1);
	wb_bytes(&w, v->origin, 16);
	wb_bytes(&w, v->victim, 16);
	wb_u8(&w, v->kind);
	wb_u64(&w, v->first_us);
	wb_u64(&w, v->id);
	wb_u64(&w, v->change_seq);
	wb_u64(&w, v->stored_s);
	wb_u8(&w, v->state);
	wb_u64(&w, v->last_us);
	wb_u64(&w, v->packets);
	wb_u64(&w, v->bytes);
	uint32_t np = v->n_ports <= D4_STORE_BS_TOP_PORTS ? v->n_ports : D4_STORE_BS_TOP_PORTS;
	wb_u8(&w, (uint8_t)np);
	for (uint32_t i = 0; i < np; i++) {
		wb_u16(&w, v->ports[i].port);
		wb_u64(&w, v->ports[i].packets);
	}
	wb_u32(&w, v->ports_distinct);
	wb_u64(&w, v->ports_other);
	wb_u64(&w, v->telescope_addrs);
	wb_u8(&w, v->telescope_exact ? 1 : 0);
	wb_u32(&w, v->peak_ppm);
	wb_f64(&w, v->observed_pps);
	wb_f64(&w, v->est_pps);
	wb_f64(&w, v->est_peak_pps);
	wb_u8(&w, v->est_valid ? 1 : 0);
	uint32_t ns = v->n_sensors <= D4_STORE_BS_SENSORS ? v->n_sensors : D4_STORE_BS_SENSORS;
	wb_u8(&w, (uint8_t)ns);
	for (uint32_t i = 0; i < ns; i++)
		wb_bytes(&w, v->sensors[i], 16);
	wb_u8(&w, v->sensors_more ? 1 : 0);
	wb_u8(&w, tlp_norm(v->tlp));
	wb_bytes(&w, v->org, 16);
	wb_u8(&w, v->org_mixed ? 1 : 0);
	wb_u32(&w, v->updates);
	wb_u8(&w, v->received ? 1 : 0);
	wb_u8(&w, v->stripped ? 1 : 0);
	wb_bytes(&w, v->sender, 16);
	uint8_t nv = v->nvia <= D4_STORE_BS_VIA_MAX ? v->nvia : D4_STORE_BS_VIA_MAX;
	wb_u8(&w, nv);
	for (unsigned i = 0; i < nv; i++)
		wb_bytes(&w, v->via[i], 16);
	/* v2: appended, so that a v1 record is the same layout without it */
	if ((v->sig_flags & 0x03u) || sealed) {
		wb_u8(&w, (uint8_t)((v->sig_flags & 0x03u) | (sealed ? 0x04u : 0u)));
		if (v->sig_flags & 0x01u)
			wb_bytes(&w, v->sig, 64);
	}
	if (sealed) {
		wb_u16(&w, v->proof_len);
		wb_bytes(&w, v->proof, v->proof_len);
	}
	return w.len;
}

/* A flag byte must be 0 or 1: one layout per value. */
static uint8_t rd_flag(struct d4_reader *r)
{
	uint8_t f = d4_rd_u8(r);
	if (f > 1)
		d4_rd_fail(r, D4_ECORRUPT);
	return f;
}

int store_bs_vec_decode(const uint8_t *p, size_t n, struct d4_store_bs_vec *v)
{
	struct d4_reader r;
	memset(v, 0, sizeof(*v));
	d4_rd_init(&r, p, n);
	uint8_t ver = d4_rd_u8(&r);
	if (ver != BS_REC_V1 && ver != BS_REC_V2 && ver != BS_REC_V3)
		return D4_ECORRUPT;
	d4_rd_copy(&r, v->origin, 16);
	d4_rd_copy(&r, v->victim, 16);
	v->kind = d4_rd_u8(&r);
	v->first_us = d4_rd_u64be(&r);
	v->id = d4_rd_u64be(&r);
	v->change_seq = d4_rd_u64be(&r);
	v->stored_s = d4_rd_u64be(&r);
	v->state = d4_rd_u8(&r);
	v->last_us = d4_rd_u64be(&r);
	v->packets = d4_rd_u64be(&r);
	v->bytes = d4_rd_u64be(&r);
	v->n_ports = d4_rd_u8(&r);
	if (v->n_ports > D4_STORE_BS_TOP_PORTS)
		return D4_ECORRUPT;
	for (uint32_t i = 0; i < v->n_ports; i++) {
		v->ports[i].port = d4_rd_u16be(&r);
		v->ports[i].packets = d4_rd_u64be(&r);
	}
	v->ports_distinct = d4_rd_u32be(&r);
	v->ports_other = d4_rd_u64be(&r);
	v->telescope_addrs = d4_rd_u64be(&r);
	v->telescope_exact = rd_flag(&r);
	v->peak_ppm = d4_rd_u32be(&r);
	v->observed_pps = rd_f64(&r);
	v->est_pps = rd_f64(&r);
	v->est_peak_pps = rd_f64(&r);
	v->est_valid = rd_flag(&r);
	v->n_sensors = d4_rd_u8(&r);
	if (v->n_sensors > D4_STORE_BS_SENSORS)
		return D4_ECORRUPT;
	for (uint32_t i = 0; i < v->n_sensors; i++)
		d4_rd_copy(&r, v->sensors[i], 16);
	v->sensors_more = rd_flag(&r);
	v->tlp = d4_rd_u8(&r);
	d4_rd_copy(&r, v->org, 16);
	v->org_mixed = rd_flag(&r);
	v->updates = d4_rd_u32be(&r);
	v->received = rd_flag(&r);
	v->stripped = rd_flag(&r);
	d4_rd_copy(&r, v->sender, 16);
	v->nvia = d4_rd_u8(&r);
	if (v->nvia > D4_STORE_BS_VIA_MAX)
		return D4_ECORRUPT;
	for (unsigned i = 0; i < v->nvia; i++)
		d4_rd_copy(&r, v->via[i], 16);
	if (ver == BS_REC_V2 || ver == BS_REC_V3) {
		v->sig_flags = d4_rd_u8(&r);
		if (v->sig_flags == 0 || (v->sig_flags & ~0x07u) || ((v->sig_flags & 0x04u) != 0) != (ver == BS_REC_V3))
			return D4_ECORRUPT;
		if (v->sig_flags & 0x01u)
			d4_rd_copy(&r, v->sig, 64);
		if (ver == BS_REC_V3) {
			v->proof_len = d4_rd_u16be(&r);
			if (v->proof_len == 0 || v->proof_len > D4_STORE_FED_PROOF_MAX)
				return D4_ECORRUPT;
			d4_rd_copy(&r, v->proof, v->proof_len);
		}
	}
	if (rd_done(&r))
		return D4_ECORRUPT;
	if (v->kind == 0 || v->kind >= D4_STORE_BS_KINDS || (v->state != BS_ONGOING && v->state != BS_CLOSED) ||
	    v->tlp < 1 || v->tlp > 6 || v->last_us < v->first_us || v->id == 0 || v->change_seq == 0)
		return D4_ECORRUPT;
	return 0;
}

/* ---- keys ---- */

static void key_ident(const struct d4_store_bs_vec *v, uint8_t k[41])
{
	memcpy(k, v->origin, 16);
	memcpy(k + 16, v->victim, 16);
	d4_put_u64be(k + 32, v->first_us);
	k[40] = v->kind;
}

static void key_id(uint64_t id, uint8_t k[8])
{
	d4_put_u64be(k, id);
}

/* prefix (plen bytes) || ~last_us || id: most recent activity first, ties by id */
static size_t key_recent(const void *prefix, size_t plen, uint64_t last_us, uint64_t id, uint8_t *k)
{
	if (plen)
		memcpy(k, prefix, plen);
	d4_put_u64be(k + plen, ~last_us);
	d4_put_u64be(k + plen + 8, id);
	return plen + 16;
}

static void key_victim(const struct d4_store_bs_vec *v, uint8_t k[32])
{
	memcpy(k, v->victim, 16);
	d4_put_u64be(k + 16, v->first_us);
	d4_put_u64be(k + 24, v->id);
}

static int put_kv(struct d4_store *s, MDB_txn *txn, enum store_dbi d, const void *k, size_t kl, const void *val,
		  size_t vl)
{
	MDB_val key = mv(k, kl), data = mv(val, vl);
	return store_rc(mdb_put(txn, s->dbi[d], &key, &data, 0), "bs put");
}

static int del_k(struct d4_store *s, MDB_txn *txn, enum store_dbi d, const void *k, size_t kl)
{
	MDB_val key = mv(k, kl);
	int rc = mdb_del(txn, s->dbi[d], &key, NULL);
	return rc == MDB_NOTFOUND ? 0 : store_rc(rc, "bs del");
}

/* The index entries of a stored record (v->id, v->change_seq set): put
 * (del 0) or removed (del 1). The victim entry depends only on the
 * identity and the id, so an update leaves it (with_victim 0). */
static int index_op(struct d4_store *s, MDB_txn *txn, const struct d4_store_bs_vec *v, int del, int with_victim)
{
	uint8_t k[48];
	int rc = 0;
#define OP(d, kk, kl) (del ? del_k(s, txn, (d), (kk), (kl)) : put_kv(s, txn, (d), (kk), (kl), "", 0))
	if (with_victim) {
		key_victim(v, k);
		rc = OP(DBI_BS_VICTIM, k, 32);
	}
	if (!rc)
		rc = OP(DBI_BS_LAST, k, key_recent(NULL, 0, v->last_us, v->id, k));
	if (!rc && v->state == BS_ONGOING)
		rc = OP(DBI_BS_ONGOING, k, key_recent(NULL, 0, v->last_us, v->id, k));
	for (uint32_t i = 0; i < v->n_ports && !rc; i++) {
		uint8_t pb[2];
		d4_put_u16be(pb, v->ports[i].port);
		rc = OP(DBI_BS_PORT, k, key_recent(pb, 2, v->last_us, v->id, k));
	}
	for (uint32_t i = 0; i < v->n_sensors && !rc; i++)
		rc = OP(DBI_BS_SENSOR, k, key_recent(v->sensors[i], 16, v->last_us, v->id, k));
#undef OP
	if (!rc) {
		key_id(v->change_seq, k);
		if (del) {
			rc = del_k(s, txn, DBI_BS_CHANGE, k, 8);
		} else {
			uint8_t idb[8];
			key_id(v->id, idb);
			rc = put_kv(s, txn, DBI_BS_CHANGE, k, 8, idb, 8);
		}
	}
	return rc;
}

static int vec_check(const struct d4_store_bs_vec *v)
{
	if (v->kind == 0 || v->kind >= D4_STORE_BS_KINDS || (v->state != BS_ONGOING && v->state != BS_CLOSED) ||
	    v->n_ports > D4_STORE_BS_TOP_PORTS || v->n_sensors > D4_STORE_BS_SENSORS || v->nvia > D4_STORE_BS_VIA_MAX ||
	    v->last_us < v->first_us)
		return D4_EINVAL;
	return 0;
}

/* Reads and decodes the record of id (0, D4_ENOTFOUND, D4_ECORRUPT, store errors). */
static int vec_get(struct d4_store *s, MDB_txn *txn, uint64_t id, struct d4_store_bs_vec *out)
{
	uint8_t k[8];
	key_id(id, k);
	MDB_val key = mv(k, 8), val;
	int rc = mdb_get(txn, s->dbi[DBI_BS_VEC], &key, &val);
	if (rc)
		return store_rc(rc, "bs vector get");
	rc = store_bs_vec_decode(val.mv_data, val.mv_size, out);
	if (!rc && out->id != id)
		rc = D4_ECORRUPT;
	if (rc)
		d4_err("store: backscatter vector %llu: corrupt record", (unsigned long long)id);
	return rc;
}

int store_bs_vec_put_txn(struct d4_store *s, MDB_txn *txn, const struct d4_store_bs_vec *in)
{
	if (!s || !txn || !in)
		return D4_EINVAL;
	if (s->opts.read_only)
		return D4_EPERM;
	if (vec_check(in))
		return D4_EINVAL;
	struct d4_store_bs_vec v = *in, old;
	/* canonical form: flags 0/1, resolved TLP, nothing beyond the lists */
	v.telescope_exact = !!v.telescope_exact;
	v.est_valid = !!v.est_valid;
	v.sensors_more = !!v.sensors_more;
	v.org_mixed = !!v.org_mixed;
	v.received = !!v.received;
	v.stripped = !!v.stripped;
	v.tlp = tlp_norm(v.tlp);
	memset(v.ports + v.n_ports, 0, (D4_STORE_BS_TOP_PORTS - v.n_ports) * sizeof(v.ports[0]));
	memset(v.sensors + v.n_sensors, 0, (D4_STORE_BS_SENSORS - v.n_sensors) * 16u);
	memset(v.via + v.nvia, 0, (D4_STORE_BS_VIA_MAX - v.nvia) * 16u);
	v.sig_flags &= 0x07u;
	if (!(v.sig_flags & 0x01u))
		memset(v.sig, 0, sizeof(v.sig));
	if (!(v.sig_flags & 0x04u) || v.proof_len == 0 || v.proof_len > D4_STORE_FED_PROOF_MAX) {
		v.sig_flags &= 0x03u;
		v.proof_len = 0;
	}
	memset(v.proof + v.proof_len, 0, sizeof(v.proof) - v.proof_len);

	uint8_t ik[41], idb[8];
	key_ident(&v, ik);
	MDB_val key = mv(ik, sizeof(ik)), val;
	int rc = mdb_get(txn, s->dbi[DBI_BS_IDENT], &key, &val);
	int exists = rc == 0;
	if (rc && rc != MDB_NOTFOUND)
		return store_rc(rc, "bs ident get");
	if (exists) {
		if (val.mv_size != 8)
			return D4_ECORRUPT;
		v.id = d4_get_u64be(val.mv_data);
		if ((rc = vec_get(s, txn, v.id, &old)) != 0)
			return rc == D4_ENOTFOUND ? D4_ECORRUPT : rc;
		/* a final state is final; an update with fewer packets is an
		 * older one that arrived late */
		if (old.state == BS_CLOSED || v.packets < old.packets)
			return 0;
		if ((rc = index_op(s, txn, &old, 1, 0)) != 0)
			return rc;
	} else {
		if ((rc = store_settings_get_u64(s, txn, BS_NEXT_ID, &v.id)) != 0)
			return rc;
		if (!v.id)
			v.id = 1;
		if ((rc = store_settings_put_u64(s, txn, BS_NEXT_ID, v.id + 1)) != 0)
			return rc;
		key_id(v.id, idb);
		if ((rc = put_kv(s, txn, DBI_BS_IDENT, ik, sizeof(ik), idb, 8)) != 0)
			return rc;
	}
	uint64_t seq;
	if ((rc = store_settings_get_u64(s, txn, BS_CHANGE_SEQ, &seq)) != 0)
		return rc;
	v.change_seq = seq + 1;
	if ((rc = store_settings_put_u64(s, txn, BS_CHANGE_SEQ, v.change_seq)) != 0)
		return rc;
	v.stored_s = (uint64_t)time(NULL);
	uint8_t rec[STORE_BS_REC_MAX];
	size_t rl = store_bs_vec_encode(&v, rec);
	key_id(v.id, idb);
	if ((rc = put_kv(s, txn, DBI_BS_VEC, idb, 8, rec, rl)) != 0)
		return rc;
	return index_op(s, txn, &v, 0, !exists);
}

/* ---- consumer state, cursor, counters ---- */

static int cursor_name_ok(const char *name)
{
	size_t n = name ? strnlen(name, BS_CURSOR_NAME_MAX) : 0;
	if (n == 0 || n >= BS_CURSOR_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return 0;
	return 1;
}

static size_t meta_key(char kind, const void *p, size_t n, uint8_t *k)
{
	k[0] = (uint8_t)kind;
	memcpy(k + 1, p, n);
	return n + 1;
}

/* 01 | u64 frames packets bad_packets backscatter dropped | u8 nkinds |
 * nkinds x u64 | u8 nreasons | nreasons x u64. Longer lists (a later
 * version) are read up to this build's size. */
static int dec_counters(const uint8_t *p, size_t n, struct d4_store_bs_counters *c)
{
	struct d4_reader r;
	d4_rd_init(&r, p, n);
	if (d4_rd_u8(&r) != BS_VAL_V1)
		return D4_ECORRUPT;
	c->frames = d4_rd_u64be(&r);
	c->packets = d4_rd_u64be(&r);
	c->bad_packets = d4_rd_u64be(&r);
	c->backscatter = d4_rd_u64be(&r);
	c->dropped = d4_rd_u64be(&r);
	unsigned nk = d4_rd_u8(&r);
	for (unsigned i = 0; i < nk; i++) {
		uint64_t x = d4_rd_u64be(&r);
		if (i < D4_STORE_BS_KINDS)
			c->by_kind[i] = x;
	}
	unsigned nr = d4_rd_u8(&r);
	for (unsigned i = 0; i < nr; i++) {
		uint64_t x = d4_rd_u64be(&r);
		if (i < D4_STORE_BS_REASONS)
			c->by_reason[i] = x;
	}
	return rd_done(&r);
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static int counters_add(struct d4_store *s, MDB_txn *txn, const struct d4_store_bs_counters *d)
{
	uint8_t k[17];
	struct d4_store_bs_counters c;
	memset(&c, 0, sizeof(c));
	meta_key('s', d->sensor, 16, k);
	MDB_val key = mv(k, 17), val;
	int rc = mdb_get(txn, s->dbi[DBI_BS_META], &key, &val);
	if (rc == 0)
		rc = dec_counters(val.mv_data, val.mv_size, &c);
	else if (rc == MDB_NOTFOUND)
		rc = 0;
	else
		rc = store_rc(rc, "bs counters get");
	if (rc) {
		if (rc == D4_ECORRUPT)
			d4_err("store: backscatter counters of a sensor: corrupt record");
		return rc;
	}
	uint8_t b[BS_CNT_LEN];
	struct wb w = {b, 0, sizeof(b)};
	wb_u8(&w, BS_VAL_V1);
	wb_u64(&w, sat_add(c.frames, d->frames));
	wb_u64(&w, sat_add(c.packets, d->packets));
	wb_u64(&w, sat_add(c.bad_packets, d->bad_packets));
	wb_u64(&w, sat_add(c.backscatter, d->backscatter));
	wb_u64(&w, sat_add(c.dropped, d->dropped));
	wb_u8(&w, D4_STORE_BS_KINDS);
	for (unsigned i = 0; i < D4_STORE_BS_KINDS; i++)
		wb_u64(&w, sat_add(c.by_kind[i], d->by_kind[i]));
	wb_u8(&w, D4_STORE_BS_REASONS);
	for (unsigned i = 0; i < D4_STORE_BS_REASONS; i++)
		wb_u64(&w, sat_add(c.by_reason[i], d->by_reason[i]));
	return put_kv(s, txn, DBI_BS_META, k, 17, b, w.len);
}

static int state_op(struct d4_store *s, MDB_txn *txn, const struct d4_store_bs_state *st, uint8_t *buf)
{
	uint8_t k[17];
	memcpy(k, st->victim, 16);
	k[16] = st->kind;
	if (!st->state)
		return del_k(s, txn, DBI_BS_STATES, k, 17);
	buf[0] = BS_VAL_V1;
	if (st->len)
		memcpy(buf + 1, st->state, st->len);
	return put_kv(s, txn, DBI_BS_STATES, k, 17, buf, 1 + st->len);
}

static int update_check(const struct d4_store_bs_update *u)
{
	if ((u->nvecs && !u->vecs) || (u->nstates && !u->states) || (u->ndeltas && !u->deltas))
		return D4_EINVAL;
	for (size_t i = 0; i < u->nvecs; i++)
		if (vec_check(&u->vecs[i]))
			return D4_EINVAL;
	for (size_t i = 0; i < u->nstates; i++) {
		const struct d4_store_bs_state *st = &u->states[i];
		if (st->kind == 0 || st->kind >= D4_STORE_BS_KINDS || st->len > D4_STORE_BS_STATE_MAX ||
		    (!st->state && st->len))
			return D4_EINVAL;
	}
	if (u->cursor_name && (!cursor_name_ok(u->cursor_name) || u->cursor_len > D4_STORE_BS_CURSOR_MAX ||
			       (u->cursor_len && !u->cursor)))
		return D4_EINVAL;
	return 0;
}

static int apply_txn(struct d4_store *s, MDB_txn *txn, const struct d4_store_bs_update *u, uint8_t *buf)
{
	int rc = 0;
	if (u->states_reset)
		rc = store_rc(mdb_drop(txn, s->dbi[DBI_BS_STATES], 0), "bs states reset");
	for (size_t i = 0; i < u->nvecs && !rc; i++)
		rc = store_bs_vec_put_txn(s, txn, &u->vecs[i]);
	for (size_t i = 0; i < u->nstates && !rc; i++)
		rc = state_op(s, txn, &u->states[i], buf);
	if (!rc && u->cursor_name) {
		uint8_t k[1 + BS_CURSOR_NAME_MAX];
		size_t kl = meta_key('c', u->cursor_name, strlen(u->cursor_name), k);
		buf[0] = BS_VAL_V1;
		if (u->cursor_len)
			memcpy(buf + 1, u->cursor, u->cursor_len);
		rc = put_kv(s, txn, DBI_BS_META, k, kl, buf, 1 + u->cursor_len);
	}
	for (size_t i = 0; i < u->ndeltas && !rc; i++)
		rc = counters_add(s, txn, &u->deltas[i]);
	return rc;
}

int d4_store_bs_apply(struct d4_store *s, const struct d4_store_bs_update *u)
{
	if (!s || !u || update_check(u))
		return D4_EINVAL;
	if (s->opts.read_only)
		return D4_EPERM;
	/* one buffer for a state or the cursor value, with its version byte */
	size_t cap =
	    1u + (D4_STORE_BS_STATE_MAX > D4_STORE_BS_CURSOR_MAX ? D4_STORE_BS_STATE_MAX : D4_STORE_BS_CURSOR_MAX);
	uint8_t *buf = malloc(cap);
	if (!buf)
		return D4_ENOMEM;
	MDB_txn *txn;
	int rc = store_txn_begin(s, 0, &txn);
	if (!rc) {
		rc = apply_txn(s, txn, u, buf);
		if (rc)
			mdb_txn_abort(txn);
		else
			rc = store_rc(mdb_txn_commit(txn), "bs commit");
	}
	free(buf);
	return rc;
}

int d4_store_bs_cursor_get(struct d4_store *s, const char *name, uint8_t *buf, size_t cap, size_t *len)
{
	if (!s || !cursor_name_ok(name) || !len || (cap && !buf))
		return D4_EINVAL;
	*len = 0;
	if (absent(s))
		return D4_ENOTFOUND;
	uint8_t k[1 + BS_CURSOR_NAME_MAX];
	size_t kl = meta_key('c', name, strlen(name), k);
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	MDB_val key = mv(k, kl), v;
	rc = store_rc(mdb_get(txn, s->dbi[DBI_BS_META], &key, &v), "bs cursor get");
	if (!rc) {
		if (v.mv_size < 1 || ((uint8_t *)v.mv_data)[0] != BS_VAL_V1)
			rc = D4_ECORRUPT;
		else if (v.mv_size - 1 > cap)
			rc = D4_ETOOBIG;
		else {
			if (v.mv_size > 1)
				memcpy(buf, (uint8_t *)v.mv_data + 1, v.mv_size - 1);
			*len = v.mv_size - 1;
		}
	}
	mdb_txn_abort(txn);
	return rc;
}

struct states_scan {
	int (*cb)(void *ctx, const uint8_t victim[16], uint8_t kind, const uint8_t *state, size_t len);
	void *ctx;
};

static int states_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct states_scan *ss = ctx;
	const uint8_t *kp = k->mv_data, *vp = v->mv_data;
	if (k->mv_size != 17 || v->mv_size < 1 || vp[0] != BS_VAL_V1)
		return D4_ECORRUPT;
	return ss->cb(ss->ctx, kp, kp[16], vp + 1, v->mv_size - 1);
}

int d4_store_bs_states_foreach(struct d4_store *s,
			       int (*cb)(void *ctx, const uint8_t victim[16], uint8_t kind, const uint8_t *state,
					 size_t len),
			       void *ctx)
{
	if (!s || !cb)
		return D4_EINVAL;
	if (absent(s))
		return 0;
	struct states_scan ss = {cb, ctx};
	return store_scan(s, DBI_BS_STATES, NULL, 0, NULL, 0, states_fn, &ss);
}

int d4_store_bs_counters_get(struct d4_store *s, const uint8_t sensor[16], struct d4_store_bs_counters *out)
{
	if (!s || !sensor || !out)
		return D4_EINVAL;
	memset(out, 0, sizeof(*out));
	memcpy(out->sensor, sensor, 16);
	if (absent(s))
		return D4_ENOTFOUND;
	uint8_t k[17];
	meta_key('s', sensor, 16, k);
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	MDB_val key = mv(k, 17), v;
	rc = store_rc(mdb_get(txn, s->dbi[DBI_BS_META], &key, &v), "bs counters get");
	if (!rc)
		rc = dec_counters(v.mv_data, v.mv_size, out);
	mdb_txn_abort(txn);
	return rc;
}

struct cnt_scan {
	int (*cb)(void *ctx, const struct d4_store_bs_counters *c);
	void *ctx;
};

static int cnt_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct cnt_scan *cs = ctx;
	struct d4_store_bs_counters c;
	memset(&c, 0, sizeof(c));
	if (k->mv_size != 17)
		return D4_ECORRUPT;
	memcpy(c.sensor, (const uint8_t *)k->mv_data + 1, 16);
	int rc = dec_counters(v->mv_data, v->mv_size, &c);
	return rc ? rc : cs->cb(cs->ctx, &c);
}

int d4_store_bs_counters_foreach(struct d4_store *s, int (*cb)(void *ctx, const struct d4_store_bs_counters *c),
				 void *ctx)
{
	if (!s || !cb)
		return D4_EINVAL;
	if (absent(s))
		return 0;
	struct cnt_scan cs = {cb, ctx};
	return store_scan(s, DBI_BS_META, "s", 1, "s", 1, cnt_fn, &cs);
}

/* ---- queries ---- */

/* The index a query walks, by the order it promises (d4_store_bs.h). */
enum bs_plan { PLAN_VICTIM = 1, PLAN_SENSOR, PLAN_PORT, PLAN_LAST, PLAN_ONGOING };

struct bs_plan_t {
	enum bs_plan plan;
	enum store_dbi dbi;
	uint8_t prefix[16]; /* sensor / port: keys start with it */
	size_t plen;
	size_t klen;	   /* every key of the index has this length */
	uint8_t start[48]; /* first key to look at */
	size_t slen;
	int skip_start; /* resumed: the start key itself was returned already */
	uint32_t qhash;
};

/* FNV-1a over the filter fields (not limit, not the cursor): a resume
 * cursor carries it, so that it only continues the query it came from. */
static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

static uint32_t query_hash(const struct d4_store_bs_query *q)
{
	uint8_t b[8];
	uint32_t h = 2166136261u;
	d4_put_u64be(b, q->since_us);
	h = fnv(h, b, 8);
	d4_put_u64be(b, q->until_us);
	h = fnv(h, b, 8);
	uint8_t f[7] = {q->has_victim, q->has_port, q->kind, q->has_sensor, q->has_origin, q->ongoing, q->max_tlp};
	h = fnv(h, f, sizeof(f));
	if (q->has_victim) {
		h = fnv(h, q->victim_lo, 16);
		h = fnv(h, q->victim_hi, 16);
	}
	if (q->has_port) {
		d4_put_u16be(b, q->port);
		h = fnv(h, b, 2);
	}
	if (q->has_sensor)
		h = fnv(h, q->sensor, 16);
	if (q->has_origin)
		h = fnv(h, q->origin, 16);
	return h;
}

/* Is key k (klen bytes) within the plan's range? */
static int in_range(const struct bs_plan_t *p, const struct d4_store_bs_query *q, const uint8_t *k, size_t kl)
{
	if (kl != p->klen)
		return 0;
	if (p->plan == PLAN_VICTIM)
		return memcmp(k, q->victim_lo, 16) >= 0 && memcmp(k, q->victim_hi, 16) <= 0;
	return memcmp(k, p->prefix, p->plen) == 0;
}

static int plan_make(const struct d4_store_bs_query *q, struct bs_plan_t *p)
{
	memset(p, 0, sizeof(*p));
	if (q->kind >= D4_STORE_BS_KINDS || (q->since_us && q->until_us && q->since_us > q->until_us) ||
	    (q->has_victim && memcmp(q->victim_lo, q->victim_hi, 16) > 0) || q->resume_len > D4_STORE_BS_RESUME_MAX ||
	    (q->resume_len && !q->resume))
		return D4_EINVAL;
	if (q->has_victim) {
		p->plan = PLAN_VICTIM;
		p->dbi = DBI_BS_VICTIM;
		p->klen = 32;
		memcpy(p->start, q->victim_lo, 16);
		p->slen = 16;
	} else if (q->has_sensor) {
		p->plan = PLAN_SENSOR;
		p->dbi = DBI_BS_SENSOR;
		p->klen = 32;
		memcpy(p->prefix, q->sensor, 16);
		p->plen = 16;
	} else if (q->has_port) {
		p->plan = PLAN_PORT;
		p->dbi = DBI_BS_PORT;
		p->klen = 18;
		d4_put_u16be(p->prefix, q->port);
		p->plen = 2;
	} else if (q->ongoing) {
		p->plan = PLAN_ONGOING;
		p->dbi = DBI_BS_ONGOING;
		p->klen = 16;
	} else {
		p->plan = PLAN_LAST;
		p->dbi = DBI_BS_LAST;
		p->klen = 16;
	}
	if (p->plan != PLAN_VICTIM) {
		memcpy(p->start, p->prefix, p->plen);
		p->slen = p->plen;
	}
	p->qhash = query_hash(q);
	if (!q->resume_len)
		return 0;
	/* version || plan || query hash || the last returned key, which must
	 * lie in this query's range */
	const uint8_t *r = q->resume;
	if (q->resume_len != 6 + p->klen || r[0] != BS_CURSOR_V1 || r[1] != (uint8_t)p->plan ||
	    d4_get_u32be(r + 2) != p->qhash || !in_range(p, q, r + 6, p->klen))
		return D4_EINVAL;
	memcpy(p->start, r + 6, p->klen);
	p->slen = p->klen;
	p->skip_start = 1;
	return 0;
}

static int vec_matches(const struct d4_store_bs_query *q, const struct d4_store_bs_vec *v)
{
	if (!d4_policy_tlp_visible((enum d4_tlp)q->max_tlp, (enum d4_tlp)v->tlp))
		return 0;
	if ((q->since_us && v->last_us < q->since_us) || (q->until_us && v->first_us > q->until_us))
		return 0;
	if (q->kind && v->kind != q->kind)
		return 0;
	if (q->ongoing && v->state != BS_ONGOING)
		return 0;
	if (q->has_victim && (memcmp(v->victim, q->victim_lo, 16) < 0 || memcmp(v->victim, q->victim_hi, 16) > 0))
		return 0;
	if (q->has_origin && memcmp(v->origin, q->origin, 16) != 0)
		return 0;
	if (q->has_port) {
		uint32_t i = 0;
		while (i < v->n_ports && v->ports[i].port != q->port)
			i++;
		if (i == v->n_ports)
			return 0;
	}
	if (q->has_sensor) {
		uint32_t i = 0;
		while (i < v->n_sensors && memcmp(v->sensors[i], q->sensor, 16) != 0)
			i++;
		if (i == v->n_sensors)
			return 0;
	}
	return 1;
}

/* Next victim after the one key k starts with: the 16 bytes + 1. 0 when
 * there is none (all-ones). */
static int victim_next(const uint8_t *k, uint8_t out[16])
{
	memcpy(out, k, 16);
	for (int i = 15; i >= 0; i--)
		if (++out[i] != 0)
			return 1;
	return 0;
}

int d4_store_bs_query(struct d4_store *s, const struct d4_store_bs_query *q,
		      int (*cb)(void *ctx, const struct d4_store_bs_vec *v), void *ctx, struct d4_store_bs_qresult *res)
{
	if (!s || !q || !cb || !res)
		return D4_EINVAL;
	memset(res, 0, sizeof(*res));
	struct bs_plan_t p;
	int rc = plan_make(q, &p);
	if (rc || absent(s))
		return rc;
	struct d4_store_bs_vec *v = malloc(sizeof(*v));
	if (!v)
		return D4_ENOMEM;
	MDB_txn *txn;
	MDB_cursor *c = NULL;
	if ((rc = store_txn_begin(s, 1, &txn)) != 0) {
		free(v);
		return rc;
	}
	if ((rc = mdb_cursor_open(txn, s->dbi[p.dbi], &c)) != 0) {
		rc = store_rc(rc, "bs cursor");
		goto out;
	}
	MDB_val k = mv(p.start, p.slen), val;
	int r = p.slen ? mdb_cursor_get(c, &k, &val, MDB_SET_RANGE) : mdb_cursor_get(c, &k, &val, MDB_FIRST);
	if (r == 0 && p.skip_start && k.mv_size == p.slen && memcmp(k.mv_data, p.start, p.slen) == 0)
		r = mdb_cursor_get(c, &k, &val, MDB_NEXT);
	int done = 0;
	while (r == 0 && in_range(&p, q, k.mv_data, k.mv_size)) {
		const uint8_t *kp = k.mv_data;
		if (p.plan == PLAN_VICTIM) {
			/* (victim, first_us): the rest of this victim started too late */
			if (q->until_us && d4_get_u64be(kp + 16) > q->until_us) {
				uint8_t nk[16];
				if (!victim_next(kp, nk))
					break;
				k = mv(nk, 16);
				r = mdb_cursor_get(c, &k, &val, MDB_SET_RANGE);
				continue;
			}
		} else if (q->since_us && ~d4_get_u64be(kp + p.plen) < q->since_us) {
			break; /* most recent first: every later entry ended before since */
		}
		uint64_t id = d4_get_u64be(kp + p.klen - 8);
		rc = vec_get(s, txn, id, v);
		if (rc) {
			if (rc == D4_ENOTFOUND)
				rc = D4_ECORRUPT;
			break;
		}
		if (vec_matches(q, v)) {
			if (done) { /* limit reached: this one only tells that there is more */
				res->more = 1;
				break;
			}
			int cr = cb(ctx, v);
			if (cr < 0) {
				rc = cr;
				break;
			}
			res->returned++;
			res->resume[0] = BS_CURSOR_V1;
			res->resume[1] = (uint8_t)p.plan;
			d4_put_u32be(res->resume + 2, p.qhash);
			memcpy(res->resume + 6, kp, p.klen);
			res->resume_len = 6 + p.klen;
			if (cr > 0)
				break;
			if (q->limit && res->returned >= q->limit)
				done = 1;
		}
		r = mdb_cursor_get(c, &k, &val, MDB_NEXT);
	}
	if (!rc && r != 0 && r != MDB_NOTFOUND)
		rc = store_rc(r, "bs scan");
out:
	if (c)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	free(v);
	return rc;
}

int d4_store_bs_get(struct d4_store *s, uint64_t id, struct d4_store_bs_vec *out)
{
	if (!s || !out)
		return D4_EINVAL;
	memset(out, 0, sizeof(*out));
	if (absent(s))
		return D4_ENOTFOUND;
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	rc = vec_get(s, txn, id, out);
	mdb_txn_abort(txn);
	return rc;
}

int d4_store_bs_changes(struct d4_store *s, uint64_t after, int (*cb)(void *ctx, const struct d4_store_bs_vec *v),
			void *ctx, uint64_t *last)
{
	if (last)
		*last = 0;
	if (!s || !cb)
		return D4_EINVAL;
	if (absent(s))
		return 0;
	struct d4_store_bs_vec *v = malloc(sizeof(*v));
	if (!v)
		return D4_ENOMEM;
	MDB_txn *txn;
	MDB_cursor *c = NULL;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc) {
		free(v);
		return rc;
	}
	uint64_t hi = 0;
	rc = store_settings_get_u64(s, txn, BS_CHANGE_SEQ, &hi);
	if (!rc && last)
		*last = hi;
	if (!rc && after < hi && (rc = mdb_cursor_open(txn, s->dbi[DBI_BS_CHANGE], &c)) != 0)
		rc = store_rc(rc, "bs cursor");
	if (!rc && c) {
		uint8_t sk[8];
		key_id(after + 1, sk);
		MDB_val k = mv(sk, 8), val;
		int r = mdb_cursor_get(c, &k, &val, MDB_SET_RANGE);
		for (; r == 0; r = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
			if (k.mv_size != 8 || val.mv_size != 8) {
				rc = D4_ECORRUPT;
				break;
			}
			uint64_t seq = d4_get_u64be(k.mv_data);
			rc = vec_get(s, txn, d4_get_u64be(val.mv_data), v);
			if (!rc && v->change_seq != seq)
				rc = D4_ECORRUPT; /* a change entry the record does not know */
			if (rc) {
				if (rc == D4_ENOTFOUND)
					rc = D4_ECORRUPT;
				break;
			}
			if ((rc = cb(ctx, v)) != 0)
				break;
		}
		if (!rc && r != 0 && r != MDB_NOTFOUND)
			rc = store_rc(r, "bs changes scan");
	}
	if (c)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	free(v);
	return rc;
}

int d4_store_bs_info(struct d4_store *s, struct d4_store_bs_info *out)
{
	if (!s || !out)
		return D4_EINVAL;
	memset(out, 0, sizeof(*out));
	if (absent(s))
		return 0;
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	for (int d = DBI_BS_VEC; d <= DBI_BS_META && !rc; d++) {
		MDB_stat st;
		rc = store_rc(mdb_stat(txn, s->dbi[d], &st), "bs stat");
		if (rc)
			break;
		if (d == DBI_BS_VEC)
			out->vectors = st.ms_entries;
		else if (d == DBI_BS_ONGOING)
			out->ongoing = st.ms_entries;
		else if (d == DBI_BS_STATES)
			out->states = st.ms_entries;
		out->bytes += (uint64_t)(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize;
	}
	if (!rc)
		rc = store_settings_get_u64(s, txn, BS_CHANGE_SEQ, &out->change_seq);
	mdb_txn_abort(txn);
	return rc;
}

/* ---- retention ---- */

/* Removes the vector of last-activity entry lk (16 bytes) with every index
 * entry (1); a stray entry (no such record, or a record with another
 * last_us) goes alone (0). */
static int vec_delete(struct d4_store *s, MDB_txn *txn, const uint8_t lk[16], struct d4_store_bs_vec *v)
{
	uint64_t id = d4_get_u64be(lk + 8);
	int rc = vec_get(s, txn, id, v);
	if (rc == D4_ENOTFOUND || (!rc && v->last_us != ~d4_get_u64be(lk)))
		return del_k(s, txn, DBI_BS_LAST, lk, 16);
	if (rc)
		return rc;
	uint8_t k[41];
	rc = index_op(s, txn, v, 1, 1);
	if (!rc) {
		key_ident(v, k);
		rc = del_k(s, txn, DBI_BS_IDENT, k, 41);
	}
	if (!rc) {
		key_id(id, k);
		rc = del_k(s, txn, DBI_BS_VEC, k, 8);
	}
	return rc ? rc : 1;
}

int d4_store_bs_expire(struct d4_store *s, uint64_t cutoff_us, unsigned max_per_txn, uint64_t *removed)
{
	if (removed)
		*removed = 0;
	if (!s)
		return D4_EINVAL;
	if (s->opts.read_only)
		return D4_EPERM;
	if (!max_per_txn)
		max_per_txn = BS_EXPIRE_DEF;
	struct d4_store_bs_vec *v = malloc(sizeof(*v));
	uint8_t(*keys)[16] = malloc((size_t)max_per_txn * 16u);
	int rc = (!v || !keys) ? D4_ENOMEM : 0;
	uint64_t total = 0;
	while (!rc) {
		/* the oldest activity is at the end of the index (~last_us): collect
		 * up to max_per_txn entries from there, then delete them */
		MDB_txn *txn;
		MDB_cursor *c;
		if ((rc = store_txn_begin(s, 0, &txn)) != 0)
			break;
		if ((rc = mdb_cursor_open(txn, s->dbi[DBI_BS_LAST], &c)) != 0) {
			rc = store_rc(rc, "bs cursor");
			mdb_txn_abort(txn);
			break;
		}
		unsigned n = 0;
		MDB_val k, val;
		int r = mdb_cursor_get(c, &k, &val, MDB_LAST);
		for (; r == 0 && n < max_per_txn; r = mdb_cursor_get(c, &k, &val, MDB_PREV)) {
			if (k.mv_size != 16) {
				rc = D4_ECORRUPT;
				break;
			}
			if (~d4_get_u64be(k.mv_data) >= cutoff_us)
				break;
			memcpy(keys[n++], k.mv_data, 16);
		}
		if (!rc && r != 0 && r != MDB_NOTFOUND)
			rc = store_rc(r, "bs expire scan");
		mdb_cursor_close(c);
		unsigned gone = 0;
		for (unsigned i = 0; i < n && !rc; i++) {
			rc = vec_delete(s, txn, keys[i], v);
			if (rc > 0) {
				gone++;
				rc = 0;
			}
		}
		if (!rc)
			rc = store_rc(mdb_txn_commit(txn), "bs expire commit");
		else
			mdb_txn_abort(txn);
		if (rc)
			break;
		total += gone;
		if (n < max_per_txn)
			break;
	}
	free(v);
	free(keys);
	if (removed)
		*removed = total;
	return rc;
}
