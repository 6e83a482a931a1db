/* d4hub store — the replay window of acknowledged delivery (d4-ack/1).
 *
 * A sensor that uses acknowledgements sends again, after a reconnect, every
 * frame it has no acknowledgement for; some of those were committed (the
 * acknowledgement was lost with the connection). The writer drops such exact
 * replays: frames of d4-ack/1 connections are remembered per (uuid, type) by
 * (header timestamp, HMAC) in the `replay` table, in the transaction that
 * commits them, so the window survives a restart and a kill -9. The window
 * keeps the D4_REPLAY_WINDOW most recent entries (key order = timestamp
 * order) of each (uuid, type); a sensor keeps at most D4_ACK_MAX_INFLIGHT
 * frames unacknowledged, well inside it.
 *
 * Keys: 'w' uuid[16] type ts(u64 BE) hmac[32] -> 01
 *       'm' uuid[16] type                   -> 01 u64 entries u64 dropped */
#include "store_internal.h"

#include "d4_error.h"
#include "d4_log.h"
#include "d4_reader.h"
#include "d4_util.h"

#include <stdlib.h>
#include <string.h>

#define WKEY_LEN (1 + 16 + 1 + 8 + 32)
#define MKEY_LEN (1 + 16 + 1)
#define MVAL_LEN (1 + 8 + 8)

struct rp_pair {
	uint8_t uuid[16];
	uint8_t type;
	uint64_t entries, dropped; /* as stored, then updated by the batch */
	uint64_t dropped0;	   /* as stored */
	int loaded;
};

/* Only frames the sensor announced as replays are checked (the ingest sets
 * D4_REPLAY_CHECK on exactly those). They come first on a new connection,
 * in the order first sent, and the hub commits each connection's frames in
 * order: once a (session, type) has sent an announced replay that is not in
 * the window, it was never committed, nor was anything after it, so its
 * later frames are only remembered, never dropped — two identical frames of
 * one second among the replays (constant data) are both stored when neither
 * was committed. The writer keeps these "replay phase over" marks in memory: two
 * generations of a small hash set (the older dropped when the newer is
 * full), plus the marks of the batch being applied, kept apart until its
 * commit so that a failed attempt is re-applied with the same decisions. */
#define RP_SET_SLOTS 8192u /* power of two */
#define RP_SET_FILL  4096u
struct rp_set {
	uint64_t k[RP_SET_SLOTS]; /* (session << 8 | type) + 1; 0 = empty */
	unsigned n;
};

struct store_replay {
	struct rp_pair *p;
	size_t n, cap;
	size_t last;
	struct rp_set gen[2]; /* gen[cur] is filled, gen[!cur] is the older */
	unsigned cur;
	uint64_t *pend; /* marks of the batch being applied */
	size_t npend, cappend;
};

static uint64_t phase_key(uint64_t session, uint8_t type)
{
	return ((session << 8) | type) + 1;
}

static int set_has(const struct rp_set *st, uint64_t k)
{
	for (unsigned i = (unsigned)(k * 0x9e3779b97f4a7c15ull >> 51) & (RP_SET_SLOTS - 1);;
	     i = (i + 1) & (RP_SET_SLOTS - 1)) {
		if (st->k[i] == k)
			return 1;
		if (st->k[i] == 0)
			return 0;
	}
}

static void set_add(struct store_replay *rp, uint64_t k)
{
	struct rp_set *st = &rp->gen[rp->cur];
	if (st->n >= RP_SET_FILL) {
		rp->cur ^= 1;
		st = &rp->gen[rp->cur];
		memset(st, 0, sizeof(*st));
	}
	unsigned i = (unsigned)(k * 0x9e3779b97f4a7c15ull >> 51) & (RP_SET_SLOTS - 1);
	while (st->k[i] && st->k[i] != k)
		i = (i + 1) & (RP_SET_SLOTS - 1);
	if (!st->k[i]) {
		st->k[i] = k;
		st->n++;
	}
}

static int phase_over(struct store_replay *rp, uint64_t k)
{
	for (size_t i = 0; i < rp->npend; i++)
		if (rp->pend[i] == k)
			return 1;
	return set_has(&rp->gen[0], k) || set_has(&rp->gen[1], k);
}

static int phase_end(struct store_replay *rp, uint64_t k)
{
	if (rp->npend == rp->cappend) {
		size_t ncap = rp->cappend ? rp->cappend * 2 : 16;
		uint64_t *np = realloc(rp->pend, ncap * sizeof(*np));
		if (!np)
			return D4_ENOMEM;
		rp->pend = np;
		rp->cappend = ncap;
	}
	rp->pend[rp->npend++] = k;
	return 0;
}

void store_replay_committed(struct store_replay *rp)
{
	for (size_t i = 0; i < rp->npend; i++)
		set_add(rp, rp->pend[i]);
	rp->npend = 0;
}

struct store_replay *store_replay_new(void)
{
	return calloc(1, sizeof(struct store_replay));
}

void store_replay_free(struct store_replay *rp)
{
	if (!rp)
		return;
	free(rp->p);
	free(rp->pend);
	free(rp);
}

void store_replay_begin(struct store_replay *rp)
{
	rp->n = 0;
	rp->last = 0;
	rp->npend = 0;
}

static void mkey(uint8_t k[MKEY_LEN], const uint8_t uuid[16], uint8_t type)
{
	k[0] = 'm';
	memcpy(k + 1, uuid, 16);
	k[17] = type;
}

static int meta_get(struct d4_store *s, MDB_txn *txn, const uint8_t uuid[16], uint8_t type, uint64_t *entries,
		    uint64_t *dropped)
{
	uint8_t k[MKEY_LEN];
	mkey(k, uuid, type);
	MDB_val kv = {.mv_size = sizeof(k), .mv_data = k}, v;
	*entries = *dropped = 0;
	int rc = mdb_get(txn, s->dbi[DBI_REPLAY], &kv, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return store_rc(rc, "replay meta get");
	struct d4_reader r;
	d4_rd_init(&r, v.mv_data, v.mv_size);
	uint8_t ver = d4_rd_u8(&r);
	*entries = d4_rd_u64be(&r);
	*dropped = d4_rd_u64be(&r);
	if (d4_rd_error(&r) || ver != 1 || d4_rd_left(&r)) {
		/* Counters only: start over rather than stop intake. */
		d4_warn("store: replay window counters of a sensor are corrupt; reset");
		*entries = *dropped = 0;
	}
	return 0;
}

static struct rp_pair *pair(struct store_replay *rp, struct d4_store *s, MDB_txn *txn, const uint8_t uuid[16],
			    uint8_t type, int *err)
{
	if (rp->last < rp->n && rp->p[rp->last].type == type && !memcmp(rp->p[rp->last].uuid, uuid, 16))
		return &rp->p[rp->last];
	for (size_t i = 0; i < rp->n; i++)
		if (rp->p[i].type == type && !memcmp(rp->p[i].uuid, uuid, 16)) {
			rp->last = i;
			return &rp->p[i];
		}
	if (rp->n == rp->cap) {
		size_t ncap = rp->cap ? rp->cap * 2 : 16;
		struct rp_pair *np = realloc(rp->p, ncap * sizeof(*np));
		if (!np) {
			*err = D4_ENOMEM;
			return NULL;
		}
		rp->p = np;
		rp->cap = ncap;
	}
	struct rp_pair *p = &rp->p[rp->n];
	memset(p, 0, sizeof(*p));
	memcpy(p->uuid, uuid, 16);
	p->type = type;
	int rc = meta_get(s, txn, uuid, type, &p->entries, &p->dropped);
	if (rc) {
		*err = rc;
		return NULL;
	}
	p->dropped0 = p->dropped;
	rp->last = rp->n++;
	return p;
}

int store_replay_check(struct store_replay *rp, struct d4_store *s, MDB_txn *txn, const struct d4_frame_rec *rec)
{
	int err = 0;
	struct rp_pair *p = pair(rp, s, txn, rec->uuid, rec->type, &err);
	if (!p)
		return err;
	uint8_t k[WKEY_LEN];
	k[0] = 'w';
	memcpy(k + 1, rec->uuid, 16);
	k[17] = rec->type;
	d4_put_u64be(k + 18, rec->hdr_ts);
	memcpy(k + 26, rec->hmac, 32);
	MDB_val kv = {.mv_size = sizeof(k), .mv_data = k}, v = {.mv_size = 1, .mv_data = "\x01"};
	uint64_t pk = phase_key(rec->session, rec->type);
	int check = rec->replay_check == D4_REPLAY_CHECK && !phase_over(rp, pk);
	int rc = mdb_put(txn, s->dbi[DBI_REPLAY], &kv, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		if (!check)
			return 0; /* an identical frame, but where no replay can be: stored */
		p->dropped++;
		return 1;
	}
	if (rc)
		return store_rc(rc, "replay put");
	p->entries++;
	/* the first announced replay not in the window ends the checks of this (session, type) */
	return check ? phase_end(rp, pk) : 0;
}

/* Deletes the oldest entries of one (uuid, type) beyond the window. */
static int prune(struct d4_store *s, MDB_txn *txn, struct rp_pair *p)
{
	if (p->entries <= D4_REPLAY_WINDOW)
		return 0;
	uint64_t excess = p->entries - D4_REPLAY_WINDOW;
	uint8_t pre[MKEY_LEN];
	pre[0] = 'w';
	memcpy(pre + 1, p->uuid, 16);
	pre[17] = p->type;
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, s->dbi[DBI_REPLAY], &c);
	if (rc)
		return store_rc(rc, "replay cursor");
	MDB_val k = {.mv_size = sizeof(pre), .mv_data = pre}, v;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && excess > 0 && k.mv_size == WKEY_LEN && !memcmp(k.mv_data, pre, sizeof(pre))) {
		rc = mdb_cursor_del(c, 0);
		if (rc)
			break;
		excess--;
		p->entries--;
		/* after a delete the cursor already sits on the next entry */
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return store_rc(rc, "replay prune");
	if (excess)
		p->entries -= excess; /* fewer entries than counted: recount */
	return 0;
}

int store_replay_end(struct store_replay *rp, struct d4_store *s, MDB_txn *txn)
{
	for (size_t i = 0; i < rp->n; i++) {
		struct rp_pair *p = &rp->p[i];
		int rc = prune(s, txn, p);
		if (rc)
			return rc;
		if (p->dropped > p->dropped0) {
			char hex[33];
			d4_uuid_hex(p->uuid, hex);
			d4_info("store: sensor %s type %u: %llu exact replay(s) of committed frames dropped", hex,
				(unsigned)p->type, (unsigned long long)(p->dropped - p->dropped0));
		}
		uint8_t k[MKEY_LEN], val[MVAL_LEN];
		mkey(k, p->uuid, p->type);
		val[0] = 1;
		d4_put_u64be(val + 1, p->entries);
		d4_put_u64be(val + 9, p->dropped);
		MDB_val kv = {.mv_size = sizeof(k), .mv_data = k}, v = {.mv_size = sizeof(val), .mv_data = val};
		rc = mdb_put(txn, s->dbi[DBI_REPLAY], &kv, &v, 0);
		if (rc)
			return store_rc(rc, "replay meta put");
	}
	return 0;
}

struct stats_ctx {
	struct d4_replay_stats *out;
};

static int stats_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct stats_ctx *sc = ctx;
	if (k->mv_size != MKEY_LEN)
		return 0;
	struct d4_reader r;
	d4_rd_init(&r, v->mv_data, v->mv_size);
	uint8_t ver = d4_rd_u8(&r);
	uint64_t entries = d4_rd_u64be(&r), dropped = d4_rd_u64be(&r);
	if (d4_rd_error(&r) || ver != 1 || d4_rd_left(&r))
		return 0; /* reported by the writer, which resets it */
	sc->out->window += entries;
	sc->out->dropped += dropped;
	return 0;
}

int d4_store_replay_stats(struct d4_store *s, const uint8_t uuid[16], struct d4_replay_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (s->dbi_absent[DBI_REPLAY])
		return 0;
	uint8_t pre[17];
	pre[0] = 'm';
	memcpy(pre + 1, uuid, 16);
	struct stats_ctx sc = {out};
	return store_scan(s, DBI_REPLAY, pre, sizeof(pre), pre, sizeof(pre), stats_fn, &sc);
}
