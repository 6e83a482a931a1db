/* d4hub store — the id-keyed passive-DNS layout (docs/store.md "Id-keyed
 * pDNS layout"): records by tuple id in pdns_rec (appended), every index
 * key ending in the id with an empty value, names by number. Compiled as
 * part of store_pdns.c (included at its end): the normalisation, merge
 * rules, query plan and filters are that file's, so both layouts answer
 * alike by construction. */

#include "store_pdns_internal.h"

#include <stdatomic.h>

#define PID_ID_MAX     ((1ull << 40) - 1) /* ids are 5 bytes in keys */
#define PID_BLOCK      10u		  /* pdns_tblk: blocks of 1,024 ids */
#define PID_KEYLEN     15u		  /* pdns_key: nid || rrtype || H4 || id */
#define PID_RDNLEN     11u		  /* pdns_rdn: nid || rrtype || id */
#define PID_RAWLEN     13u		  /* pdns_raw: H8 || id */
#define PID_CURSOR_V3  3u
#define PID_SENS_CACHE 65536u

/* ---- layout mark (pdns_meta 'u') ---- */

#ifndef D4_STORE_PDNS_LAYOUT_DEFAULT
#define D4_STORE_PDNS_LAYOUT_DEFAULT STORE_PDNS_LAYOUT_S4
#endif

static int pid_mark_read(struct d4_store *s, MDB_txn *txn, unsigned *layout)
{
	*layout = 0;
	if (s->dbi_absent[DBI_PDNS_META])
		return 0;
	uint8_t k = 'u';
	MDB_val key = mv(&k, 1), v;
	int r = mdb_get(txn, s->dbi[DBI_PDNS_META], &key, &v);
	if (r == MDB_NOTFOUND)
		return 0;
	if (r)
		return store_rc(r, "pdns layout get");
	const uint8_t *p = v.mv_data;
	if (v.mv_size != 2 || p[0] != PDNS_VAL_V1 || (p[1] != STORE_PDNS_LAYOUT_S4 && p[1] != STORE_PDNS_LAYOUT_ID))
		return D4_ECORRUPT;
	if (p[1] == STORE_PDNS_LAYOUT_ID)
		for (int d = DBI_PID_REC; d <= DBI_PID_TBLK; d++)
			if (s->dbi_absent[d])
				return D4_ECORRUPT;
	*layout = p[1];
	return 0;
}

int store_pdns_layout_init(struct d4_store *s, MDB_txn *txn)
{
	unsigned l;
	int rc = pid_mark_read(s, txn, &l);
	if (rc || l || s->opts.read_only) {
		/* read-only and unmarked: schema 4 (or nothing) until a writable
		 * open marks it; store_pdns_layout() looks again */
		atomic_store(&s->pdns_layout, (uint8_t)l);
		return rc;
	}
	MDB_stat st;
	if ((rc = store_rc(mdb_stat(txn, s->dbi[DBI_PDNS_TUPLES], &st), "pdns stat")))
		return rc;
	/* a store holding schema-4 tuples keeps that layout (no upgrade yet);
	 * an empty one takes the layout asked for */
	if (st.ms_entries)
		l = STORE_PDNS_LAYOUT_S4;
	else if (s->opts.pdns_layout == D4_STORE_PDNS_LAYOUT_S4)
		l = STORE_PDNS_LAYOUT_S4;
	else if (s->opts.pdns_layout == D4_STORE_PDNS_LAYOUT_ID)
		l = STORE_PDNS_LAYOUT_ID;
	else
		l = D4_STORE_PDNS_LAYOUT_DEFAULT;
	uint8_t k = 'u', v[2] = {PDNS_VAL_V1, (uint8_t)l};
	MDB_val key = mv(&k, 1), val = mv(v, 2);
	if ((rc = store_rc(mdb_put(txn, s->dbi[DBI_PDNS_META], &key, &val, 0), "pdns layout put")))
		return rc;
	atomic_store(&s->pdns_layout, (uint8_t)l);
	return 0;
}

/* The layout of s's pDNS tables. A read-only handle opened before any
 * writable open marked the store looks the mark up again (once marked, a
 * store keeps its layout). */
static unsigned store_pdns_layout(struct d4_store *s)
{
	unsigned l = atomic_load(&s->pdns_layout);
	if (l)
		return l;
	MDB_txn *txn;
	if (store_txn_begin(s, 1, &txn))
		return STORE_PDNS_LAYOUT_S4;
	if (pid_mark_read(s, txn, &l) || !l)
		l = 0;
	mdb_txn_abort(txn);
	if (!l)
		return STORE_PDNS_LAYOUT_S4;
	atomic_store(&s->pdns_layout, (uint8_t)l);
	return l;
}

/* ---- sensor numbers (pdns_meta 'i' uuid -> number, 'I' number -> uuid,
 * 'k' the next number) ---- */

struct pid_sens_cache {
	pthread_mutex_t lock; /* writers only: an entry is written once, then marked known */
	_Atomic uint8_t known[PID_SENS_CACHE];
	uint8_t uuid[PID_SENS_CACHE][16];
};

static pthread_mutex_t pid_cache_init_lock = PTHREAD_MUTEX_INITIALIZER;

void store_pdns_layout_free(struct d4_store *s)
{
	struct pid_sens_cache *c = s ? s->pdns_sensors : NULL;
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c);
	s->pdns_sensors = NULL;
}

static struct pid_sens_cache *pid_cache(struct d4_store *s)
{
	struct pid_sens_cache *c = __atomic_load_n((struct pid_sens_cache **)&s->pdns_sensors, __ATOMIC_ACQUIRE);
	if (c)
		return c;
	pthread_mutex_lock(&pid_cache_init_lock);
	c = s->pdns_sensors;
	if (!c && (c = calloc(1, sizeof(*c)))) {
		pthread_mutex_init(&c->lock, NULL);
		__atomic_store_n((struct pid_sens_cache **)&s->pdns_sensors, c, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&pid_cache_init_lock);
	return c;
}

/* The numbers a write transaction knows: looked up or handed out in it. */
struct pid_sens {
	uint8_t uuid[16];
	uint32_t no;
	uint8_t fresh; /* handed out in this transaction: not in the shared cache until committed */
};

struct pid_dict {
	struct pid_sens *v;
	size_t n, cap;
	uint32_t next;
	int next_loaded, next_dirty;
};

static size_t pid_meta_key_no(uint32_t no, uint8_t k[5])
{
	k[0] = 'I';
	d4_put_u32be(k + 1, no);
	return 5;
}

/* number -> uuid, in txn (committed numbers go to the shared cache). */
static int pid_sens_uuid(struct d4_store *s, MDB_txn *txn, const struct pid_dict *d, uint32_t no, uint8_t out[16])
{
	struct pid_sens_cache *c = pid_cache(s);
	if (c && no < PID_SENS_CACHE && atomic_load_explicit(&c->known[no], memory_order_acquire)) {
		memcpy(out, c->uuid[no], 16);
		return 0;
	}
	for (size_t i = 0; d && i < d->n; i++)
		if (d->v[i].no == no) {
			memcpy(out, d->v[i].uuid, 16);
			return 0;
		}
	uint8_t k[5];
	MDB_val key = mv(k, pid_meta_key_no(no, k)), v;
	int r = mdb_get(txn, s->dbi[DBI_PDNS_META], &key, &v);
	if (r == MDB_NOTFOUND)
		return D4_ECORRUPT; /* a record naming a number never handed out */
	if (r)
		return store_rc(r, "pdns sensor get");
	if (v.mv_size != 17 || ((const uint8_t *)v.mv_data)[0] != PDNS_VAL_V1)
		return D4_ECORRUPT;
	memcpy(out, (const uint8_t *)v.mv_data + 1, 16);
	/* not one of this transaction's own (checked above): committed */
	if (c && no < PID_SENS_CACHE) {
		pthread_mutex_lock(&c->lock);
		if (!atomic_load_explicit(&c->known[no], memory_order_relaxed)) {
			memcpy(c->uuid[no], out, 16);
			atomic_store_explicit(&c->known[no], 1, memory_order_release);
		}
		pthread_mutex_unlock(&c->lock);
	}
	return 0;
}

/* uuid -> number, handing out the next one (written in txn) when new. */
static int pid_sens_no(struct d4_store *s, MDB_txn *txn, struct pid_dict *d, const uint8_t uuid[16], uint32_t *no)
{
	for (size_t i = 0; i < d->n; i++)
		if (!memcmp(d->v[i].uuid, uuid, 16)) {
			*no = d->v[i].no;
			return 0;
		}
	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 16;
		struct pid_sens *nv = realloc(d->v, nc * sizeof(*nv));
		if (!nv)
			return D4_ENOMEM;
		d->v = nv;
		d->cap = nc;
	}
	struct pid_sens *e = &d->v[d->n];
	memcpy(e->uuid, uuid, 16);
	e->fresh = 0;
	uint8_t k[17];
	k[0] = 'i';
	memcpy(k + 1, uuid, 16);
	MDB_val key = mv(k, 17), v;
	int r = mdb_get(txn, s->dbi[DBI_PDNS_META], &key, &v);
	if (r == 0) {
		struct d4_reader rd;
		d4_rd_init(&rd, v.mv_data, v.mv_size);
		uint64_t x = d4_rd_u8(&rd) == PDNS_VAL_V1 ? store_pdns_varint_rd(&rd) : UINT64_MAX;
		if (d4_rd_error(&rd) || d4_rd_left(&rd) || x >= STORE_PDNS_SENSOR_NO)
			return D4_ECORRUPT;
		e->no = (uint32_t)x;
	} else if (r == MDB_NOTFOUND) {
		if (!d->next_loaded) {
			uint8_t nk = 'k';
			MDB_val kk = mv(&nk, 1), kv;
			int r2 = mdb_get(txn, s->dbi[DBI_PDNS_META], &kk, &kv);
			if (r2 == 0) {
				if (kv.mv_size != 5 || ((const uint8_t *)kv.mv_data)[0] != PDNS_VAL_V1)
					return D4_ECORRUPT;
				d->next = d4_get_u32be((const uint8_t *)kv.mv_data + 1);
			} else if (r2 != MDB_NOTFOUND) {
				return store_rc(r2, "pdns sensor next");
			}
			d->next_loaded = 1;
		}
		if (d->next >= STORE_PDNS_SENSOR_NO - 1)
			return D4_EFULL;
		e->no = d->next++;
		e->fresh = 1;
		d->next_dirty = 1;
		uint8_t val[11], ik[5];
		val[0] = PDNS_VAL_V1;
		size_t vl = 1 + store_pdns_varint_put(val + 1, e->no);
		MDB_val iv = mv(val, vl);
		if ((r = mdb_put(txn, s->dbi[DBI_PDNS_META], &key, &iv, 0)))
			return store_rc(r, "pdns sensor put");
		uint8_t uv[17];
		uv[0] = PDNS_VAL_V1;
		memcpy(uv + 1, uuid, 16);
		MDB_val ikey = mv(ik, pid_meta_key_no(e->no, ik)), uval = mv(uv, 17);
		if ((r = mdb_put(txn, s->dbi[DBI_PDNS_META], &ikey, &uval, 0)))
			return store_rc(r, "pdns sensor put");
	} else {
		return store_rc(r, "pdns sensor get");
	}
	*no = e->no;
	d->n++;
	return 0;
}

static int pid_dict_flush(struct d4_store *s, MDB_txn *txn, struct pid_dict *d)
{
	if (!d->next_dirty)
		return 0;
	uint8_t k = 'k', v[5];
	v[0] = PDNS_VAL_V1;
	d4_put_u32be(v + 1, d->next);
	MDB_val key = mv(&k, 1), val = mv(v, 5);
	return store_rc(mdb_put(txn, s->dbi[DBI_PDNS_META], &key, &val, 0), "pdns sensor next");
}

/* ---- records ---- */

static void put_u40(uint8_t *p, uint64_t id)
{
	p[0] = (uint8_t)(id >> 32);
	d4_put_u32be(p + 1, (uint32_t)id);
}

static uint64_t get_u40(const uint8_t *p)
{
	return (uint64_t)p[0] << 32 | d4_get_u32be(p + 1);
}

/* The binary form of an A/AAAA rdata when its text is exactly what
 * inet_ntop writes back (other spellings stay text: results give the rdata
 * as observed). */
static uint8_t rd_binary(uint16_t type, const char *rd, size_t n, uint8_t addr[16])
{
	uint8_t a[16];
	char back[INET6_ADDRSTRLEN];
	int fam = rdata_ip(type, rd, n, a);
	if (!fam)
		return STORE_PDNS_RD_TEXT;
	if (fam == 4) {
		if (!inet_ntop(AF_INET, a + 12, back, sizeof(back)) || strlen(back) != n || memcmp(back, rd, n))
			return STORE_PDNS_RD_TEXT;
		memcpy(addr, a + 12, 4);
		return STORE_PDNS_RD_A;
	}
	if (!inet_ntop(AF_INET6, a, back, sizeof(back)) || strlen(back) != n || memcmp(back, rd, n))
		return STORE_PDNS_RD_TEXT;
	memcpy(addr, a, 16);
	return STORE_PDNS_RD_AAAA;
}

/* tup -> record v5 in out (PDNS_REC_MAX bytes); sensors get their numbers. */
static int pid_encode(struct d4_store *s, MDB_txn *txn, struct pid_dict *d, const struct tup *t, uint8_t *out,
		      size_t *len)
{
	struct store_pdns_rec5 r;
	memset(&r, 0, sizeof(r));
	r.name = t->name;
	r.namelen = t->namelen;
	r.rrtype = t->rrtype;
	r.rdform = rd_binary(t->rrtype, t->rd, t->rdlen, r.addr);
	r.rd = t->rd;
	r.rdlen = r.rdform == STORE_PDNS_RD_TEXT ? t->rdlen : 0;
	r.bw = t->bwlen ? t->bw : NULL;
	r.bwlen = t->bwlen;
	r.tf = t->tf;
	r.tl = t->tl;
	r.count = t->count;
	r.tlp = t->tlp;
	r.mixed = (t->flags & PDNS_F_ORG_MIXED) ? 1 : 0;
	r.has_org = !r.mixed && memcmp(t->org, zero16, 16) != 0;
	memcpy(r.org, t->org, 16);
	r.nsens = t->nsens;
	for (unsigned i = 0; i < t->nsens; i++) {
		int rc = pid_sens_no(s, txn, d, t->sens[i], &r.sens[i]);
		if (rc)
			return rc;
	}
	r.sketch = t->sketch;
	r.nhubs = t->nhubs;
	memcpy(r.hubs, t->hubs, 16u * t->nhubs);
	*len = store_pdns_rec5_encode(&r, out);
	return 0;
}

/* Record v5 of tuple id -> tup (strings point into p, or into t->rdtxt for
 * an address kept in binary). */
static int pid_decode(struct d4_store *s, MDB_txn *txn, const struct pid_dict *d, uint64_t id, const uint8_t *p,
		      size_t n, struct tup *t)
{
	struct store_pdns_rec5 r;
	int rc = store_pdns_rec5_decode(p, n, &r);
	if (rc)
		return rc;
	t->id = id;
	t->rrtype = r.rrtype;
	t->tf = r.tf;
	t->tl = r.tl;
	t->count = r.count;
	t->tlp = r.tlp;
	t->flags = r.mixed ? PDNS_F_ORG_MIXED : 0;
	memset(t->org, 0, 16);
	if (r.has_org)
		memcpy(t->org, r.org, 16);
	t->nsens = r.nsens;
	for (unsigned i = 0; i < r.nsens; i++)
		if ((rc = pid_sens_uuid(s, txn, d, r.sens[i], t->sens[i])))
			return rc;
	t->sketch = r.sketch;
	t->name = r.name;
	t->namelen = r.namelen;
	t->bw = r.bw;
	t->bwlen = r.bwlen;
	if (r.rdform == STORE_PDNS_RD_A) {
		/* inet_ntop's form, without its printf (one per result of a query) */
		size_t o = 0;
		for (unsigned i = 0; i < 4; i++) {
			unsigned b = r.addr[i];
			if (b >= 100)
				t->rdtxt[o++] = (char)('0' + b / 100);
			if (b >= 10)
				t->rdtxt[o++] = (char)('0' + b / 10 % 10);
			t->rdtxt[o++] = (char)('0' + b % 10);
			t->rdtxt[o++] = i < 3 ? '.' : 0;
		}
		t->rd = t->rdtxt;
		t->rdlen = o - 1;
	} else if (r.rdform == STORE_PDNS_RD_AAAA) {
		if (!inet_ntop(AF_INET6, r.addr, t->rdtxt, sizeof(t->rdtxt)))
			return D4_ECORRUPT;
		t->rd = t->rdtxt;
		t->rdlen = strlen(t->rdtxt);
	} else {
		t->rd = r.rd;
		t->rdlen = r.rdlen;
	}
	t->nhubs = r.nhubs;
	memcpy(t->hubs, r.hubs, 16u * r.nhubs);
	return 0;
}

static int pid_rec_get(MDB_txn *txn, struct d4_store *s, uint64_t id, MDB_val *v)
{
	uint8_t k[5];
	put_u40(k, id);
	MDB_val key = mv(k, 5);
	int r = mdb_get(txn, s->dbi[DBI_PID_REC], &key, v);
	return r == MDB_NOTFOUND ? D4_ENOTFOUND : store_rc(r, "pdns record get");
}

/* ---- names ---- */

static int pid_name_get(MDB_txn *txn, struct d4_store *s, const uint8_t *nk, size_t nkl, uint32_t *nid, uint8_t *uses)
{
	MDB_val key = mv(nk, nkl), v;
	int r = mdb_get(txn, s->dbi[DBI_PID_NAMES], &key, &v);
	if (r == MDB_NOTFOUND)
		return D4_ENOTFOUND;
	if (r)
		return store_rc(r, "pdns name get");
	return store_pdns_nval_decode(v.mv_data, v.mv_size, nid, uses);
}

/* Reversed-label key of normalised name[0..n). */
static int pid_rev_key(EVP_MD_CTX *md, const char *name, size_t n, uint8_t *out, size_t *len)
{
	char tmp[PDNS_NAME_BUF];
	size_t rl = name_reverse(name, n, tmp);
	if (!rl) { /* the root: LMDB keys are never empty, and no reversed name starts with 00 */
		out[0] = 0;
		*len = 1;
		return 0;
	}
	return name_key(md, tmp, rl, out, len);
}

/* Writes the name's entries in both name tables with nid and uses. */
static int pid_name_put(MDB_txn *txn, struct d4_store *s, EVP_MD_CTX *md, const char *name, size_t n, const uint8_t *nk,
			size_t nkl, uint32_t nid, uint8_t uses)
{
	uint8_t v[10], rk[PDNS_NK_MAX];
	size_t vl = store_pdns_nval_encode(nid, uses, v), rkl;
	int rc = pid_rev_key(md, name, n, rk, &rkl);
	if (rc)
		return rc;
	MDB_val key = mv(nk, nkl), val = mv(v, vl);
	if ((rc = store_rc(mdb_put(txn, s->dbi[DBI_PID_NAMES], &key, &val, 0), "pdns name put")))
		return rc;
	key = mv(rk, rkl);
	val = mv(v, vl);
	return store_rc(mdb_put(txn, s->dbi[DBI_PID_NREV], &key, &val, 0), "pdns name put");
}

/* Deletes the name's entries in both name tables. */
static int pid_name_del(MDB_txn *txn, struct d4_store *s, EVP_MD_CTX *md, const char *name, size_t n, const uint8_t *nk,
			size_t nkl)
{
	uint8_t rk[PDNS_NK_MAX];
	size_t rkl;
	int rc = pid_rev_key(md, name, n, rk, &rkl);
	if (!rc)
		rc = del_key(txn, s->dbi[DBI_PID_NAMES], nk, nkl);
	if (!rc)
		rc = del_key(txn, s->dbi[DBI_PID_NREV], rk, rkl);
	return rc;
}

/* ---- merge ---- */

struct pid_ctx {
	struct apply_ctx *a;
	MDB_cursor *rc; /* pdns_rec */
	MDB_cursor *kc; /* pdns_key */
	struct pid_dict dict;
	uint32_t next_nid;
	int nid_dirty;
	uint8_t last_nk[PDNS_NK_MAX]; /* the owner name of the previous group */
	size_t last_nkl;
	uint32_t last_nid;
};

/* nid of normalised name (key nk), handing out a new one when unknown, with
 * the use bit set. */
static int pid_name_use(struct pid_ctx *x, const char *name, size_t n, const uint8_t *nk, size_t nkl, uint8_t use,
			uint32_t *nid)
{
	struct apply_ctx *a = x->a;
	uint8_t uses = 0;
	int rc = pid_name_get(a->txn, a->s, nk, nkl, nid, &uses);
	if (rc == 0 && (uses & use))
		return 0;
	if (rc == D4_ENOTFOUND) {
		if (x->next_nid == UINT32_MAX)
			return D4_EFULL;
		*nid = x->next_nid++;
		x->nid_dirty = 1;
	} else if (rc) {
		return rc;
	}
	return pid_name_put(a->txn, a->s, a->md, name, n, nk, nkl, *nid, (uint8_t)(uses | use));
}

static size_t pid_key_key(uint32_t nid, uint16_t type, const uint8_t *h, uint64_t id, uint8_t k[PID_KEYLEN])
{
	d4_put_u32be(k, nid);
	d4_put_u16be(k + 4, type);
	memcpy(k + 6, h, 4);
	put_u40(k + 10, id);
	return PID_KEYLEN;
}

static size_t pid_rdn_key(uint32_t nid, uint16_t type, uint64_t id, uint8_t k[PID_RDNLEN])
{
	d4_put_u32be(k, nid);
	d4_put_u16be(k + 4, type);
	put_u40(k + 6, id);
	return PID_RDNLEN;
}

/* fam || addr (4 or 16 bytes) || id; addr16 is v4-mapped for family 4. */
static size_t pid_ip_key(int fam, const uint8_t addr16[16], uint64_t id, uint8_t k[22])
{
	k[0] = (uint8_t)fam;
	size_t al = fam == 4 ? 4 : 16;
	memcpy(k + 1, fam == 4 ? addr16 + 12 : addr16, al);
	put_u40(k + 1 + al, id);
	return 1 + al + 5;
}

static void pid_tblk_key(uint64_t tl, uint64_t id, uint8_t k[8])
{
	d4_put_u32be(k, (uint32_t)(tl / PDNS_DAY));
	d4_put_u32be(k + 4, (uint32_t)(id >> PID_BLOCK));
}

/* Is record v the tuple (name, type, rdata)? (A 4-byte hash in pdns_key is
 * a filter, not an identity.) */
static int pid_same(const struct tup *t, const char *name, size_t nlen, uint16_t type, const char *rd, size_t rdlen)
{
	return t->rrtype == type && t->namelen == nlen && !memcmp(t->name, name, nlen) && t->rdlen == rdlen &&
	       (!rdlen || !memcmp(t->rd, rd, rdlen));
}

/* The tuple (owner nid, type, H(rdata), name, rdata) if stored: *found, t
 * decoded and x->rc on its record. */
static int pid_find(struct pid_ctx *x, uint32_t nid, uint16_t type, const uint8_t *h, const char *name, size_t nlen,
		    const char *rd, size_t rdlen, struct tup *t, int *found)
{
	struct apply_ctx *a = x->a;
	uint8_t k[PID_KEYLEN];
	pid_key_key(nid, type, h, 0, k);
	MDB_val key = mv(k, 10), v;
	*found = 0;
	int r = mdb_cursor_get(x->kc, &key, &v, MDB_SET_RANGE);
	for (; r == 0; r = mdb_cursor_get(x->kc, &key, &v, MDB_NEXT)) {
		if (key.mv_size != PID_KEYLEN || memcmp(key.mv_data, k, 10))
			break;
		uint8_t ik[5];
		memcpy(ik, (const uint8_t *)key.mv_data + 10, 5);
		MDB_val rk = mv(ik, 5), rv;
		int g = mdb_cursor_get(x->rc, &rk, &rv, MDB_SET_KEY);
		if (g)
			return g == MDB_NOTFOUND ? D4_ECORRUPT : store_rc(g, "pdns record get");
		int rc = pid_decode(a->s, a->txn, &x->dict, get_u40(ik), rv.mv_data, rv.mv_size, t);
		if (rc)
			return rc;
		if (pid_same(t, name, nlen, type, rd, rdlen)) {
			*found = 1;
			return 0;
		}
	}
	return r == 0 || r == MDB_NOTFOUND ? 0 : store_rc(r, "pdns key scan");
}

static int pid_apply_group(struct pid_ctx *x, const struct d4_store_pdns_obs *obs, const struct apply_ord *ord,
			   size_t n)
{
	struct apply_ctx *a = x->a;
	const uint8_t *pk = ord[0].k.p;
	size_t pklen = ord[0].klen, nkl = pklen - PDNS_KEY_TAIL;
	const uint8_t *h = pk + pklen - PDNS_HASH;
	const struct d4_store_pdns_obs *o0 = &obs[ord[0].i];
	size_t nlen = obs_name(o0, a->gname), rdlen = obs_rdlen(o0);
	const char *rd0 = o0->rdata ? o0->rdata : "";
	uint32_t nid;
	int rc = 0;
	if (x->last_nkl == nkl && !memcmp(x->last_nk, pk, nkl)) {
		nid = x->last_nid;
	} else {
		if ((rc = pid_name_use(x, a->gname, nlen, pk, nkl, STORE_PDNS_USE_OWNER, &nid)))
			return rc;
		memcpy(x->last_nk, pk, nkl);
		x->last_nkl = nkl;
		x->last_nid = nid;
	}
	struct tup t;
	int found;
	if ((rc = pid_find(x, nid, o0->rrtype, h, a->gname, nlen, rd0, rdlen, &t, &found)))
		return rc;
	int fresh = !found;
	uint64_t old_tl = fresh ? 0 : t.tl;
	if (fresh) {
		if (a->next_id > PID_ID_MAX) {
			d4_err("store: pdns tuple ids exhausted (%llu)", (unsigned long long)a->next_id);
			return D4_EFULL;
		}
		memset(&t, 0, sizeof(t));
		t.id = a->next_id++;
		t.rrtype = o0->rrtype;
		t.namelen = nlen;
		t.name = a->gname;
		t.rd = rd0;
		t.rdlen = rdlen;
		t.bw = a->gbw;
	}
	for (size_t j = 0; j < n; j++) {
		const struct d4_store_pdns_obs *o = &obs[ord[j].i];
		size_t ol = obs_name(o, a->name);
		if (!pid_same(&t, a->name, ol, o->rrtype, o->rdata ? o->rdata : "", obs_rdlen(o))) {
			d4_err("store: pdns tuple key collision on tuple %llu", (unsigned long long)t.id);
			return D4_ECORRUPT;
		}
		uint32_t sb = fresh && j == 0 ? 0 : tup_sensors(&t);
		obs_merge(a, &t, o, a->hubs ? a->hubs[ord[j].i] : NULL, fresh && j == 0);
		if (a->run) {
			struct d4_store_pdns_side_obs *r = &a->run[ord[j].i];
			uint64_t tf = o->time_first < o->time_last ? o->time_first : o->time_last;
			uint64_t tl = o->time_first < o->time_last ? o->time_last : o->time_first;
			r->count = t.count;
			r->sensors = tup_sensors(&t);
			r->sensors_before = sb < r->sensors ? sb : r->sensors;
			r->tf_delta = tf - t.tf;
			r->tl_delta = t.tl - tl;
			r->tlp = t.tlp;
			r->org_mixed = (t.flags & PDNS_F_ORG_MIXED) ? 1 : 0;
			r->received = t.nhubs ? 1 : 0;
		}
	}
	size_t rl;
	if ((rc = pid_encode(a->s, a->txn, &x->dict, &t, a->rec, &rl)))
		return rc;
	uint8_t ik[5];
	put_u40(ik, t.id);
	MDB_val key = mv(ik, 5), val = mv(a->rec, rl);
	if (fresh) {
		/* ids only grow: appended, the pages fill up */
		int r = mdb_cursor_put(x->rc, &key, &val, MDB_APPEND);
		if (r == MDB_KEYEXIST)
			r = mdb_cursor_put(x->rc, &key, &val, 0);
		if ((rc = store_rc(r, "pdns record put")))
			return rc;
	} else {
		/* x->rc is on the record (pid_find); a same-size rewrite stays in place */
		MDB_val cur = mv(ik, 5), cv;
		int r = mdb_cursor_get(x->rc, &cur, &cv, MDB_GET_CURRENT);
		if (r == 0 && (cur.mv_size != 5 || memcmp(cur.mv_data, ik, 5)))
			r = MDB_NOTFOUND;
		if (r == 0)
			r = mdb_cursor_put(x->rc, &key, &val, MDB_CURRENT);
		else
			r = mdb_put(a->txn, a->s->dbi[DBI_PID_REC], &key, &val, 0);
		if ((rc = store_rc(r, "pdns record put")))
			return rc;
	}
	uint8_t tb[8];
	if (!fresh) {
		if (old_tl / PDNS_DAY == t.tl / PDNS_DAY)
			return 0;
		pid_tblk_key(t.tl, t.id, tb);
		return defer_put(a, DBI_PID_TBLK, tb, 8, "", 0);
	}
	uint8_t kk[PID_KEYLEN], ipk[22], addr[16];
	if ((rc = defer_put(a, DBI_PID_KEY, kk, pid_key_key(nid, t.rrtype, h, t.id, kk), "", 0)))
		return rc;
	int fam = rdata_ip(t.rrtype, t.rd, t.rdlen, addr);
	int whole = 0;
	if (fam) {
		rc = defer_put(a, DBI_PID_IP, ipk, pid_ip_key(fam, addr, t.id, ipk), "", 0);
	} else {
		size_t dl = rdata_name(t.rrtype, t.rd, t.rdlen, a->bw);
		if (dl) {
			uint8_t nk[PDNS_NK_MAX], rk[PID_RDNLEN];
			size_t dkl;
			uint32_t dnid;
			if (!(rc = name_key(a->md, a->bw, dl, nk, &dkl)))
				rc = pid_name_use(x, a->bw, dl, nk, dkl, STORE_PDNS_USE_RDATA, &dnid);
			if (!rc)
				rc = defer_put(a, DBI_PID_RDN, rk, pid_rdn_key(dnid, t.rrtype, t.id, rk), "", 0);
			whole = rdata_name_field(t.rrtype) < 0;
		}
	}
	if (!rc && !fam && !whole) {
		uint8_t rk[PID_RAWLEN];
		memcpy(rk, h, 8);
		put_u40(rk + 8, t.id);
		rc = defer_put(a, DBI_PID_RAW, rk, PID_RAWLEN, "", 0);
	}
	pid_tblk_key(t.tl, t.id, tb);
	if (!rc)
		rc = defer_put(a, DBI_PID_TBLK, tb, 8, "", 0);
	return rc;
}

static int pid_u32_meta(MDB_txn *txn, struct d4_store *s, char kind, uint32_t *out)
{
	uint8_t k = (uint8_t)kind;
	MDB_val key = mv(&k, 1), v;
	*out = 0;
	int r = mdb_get(txn, s->dbi[DBI_PDNS_META], &key, &v);
	if (r == MDB_NOTFOUND)
		return 0;
	if (r)
		return store_rc(r, "pdns meta get");
	if (v.mv_size != 5 || ((const uint8_t *)v.mv_data)[0] != PDNS_VAL_V1)
		return D4_ECORRUPT;
	*out = d4_get_u32be((const uint8_t *)v.mv_data + 1);
	return 0;
}

static int pid_merge_txn(struct d4_store *s, MDB_txn *txn, struct store_pdns_merge *m)
{
	struct apply_ctx *a = &m->a;
	struct pid_ctx x;
	memset(&x, 0, sizeof(x));
	x.a = a;
	a->s = s;
	a->txn = txn;
	a->ndp = 0; /* a retry on a fresh transaction starts over */
	a->dar.len = 0;
	int rc = store_settings_get_u64(s, txn, PDNS_NEXT_ID, &a->next_id);
	uint64_t first_id = a->next_id ? a->next_id : 1;
	a->next_id = first_id;
	if (!rc)
		rc = pid_u32_meta(txn, s, 'n', &x.next_nid);
	if (!rc)
		rc = store_rc(mdb_cursor_open(txn, s->dbi[DBI_PID_REC], &x.rc), "pdns cursor");
	if (!rc)
		rc = store_rc(mdb_cursor_open(txn, s->dbi[DBI_PID_KEY], &x.kc), "pdns cursor");
	for (size_t g = 0, e; g < m->nv && !rc; g = e) {
		for (e = g + 1; e < m->nv && m->ord[e].klen == m->ord[g].klen &&
				!memcmp(m->ord[e].k.p, m->ord[g].k.p, m->ord[g].klen);
		     e++)
			;
		rc = pid_apply_group(&x, m->obs, m->ord + g, e - g);
	}
	if (x.rc)
		mdb_cursor_close(x.rc);
	if (x.kc)
		mdb_cursor_close(x.kc);
	if (!rc)
		rc = flush_puts(a);
	if (!rc && a->next_id != first_id)
		rc = store_settings_put_u64(s, txn, PDNS_NEXT_ID, a->next_id);
	if (!rc && x.nid_dirty) {
		uint8_t k = 'n', v[5];
		v[0] = PDNS_VAL_V1;
		d4_put_u32be(v + 1, x.next_nid);
		MDB_val key = mv(&k, 1), val = mv(v, 5);
		rc = store_rc(mdb_put(txn, s->dbi[DBI_PDNS_META], &key, &val, 0), "pdns nid put");
	}
	if (!rc)
		rc = pid_dict_flush(s, txn, &x.dict);
	free(x.dict.v);
	return rc;
}

/* ---- queries ---- */

enum pid_seg_kind { PS_EXACT = 1, PS_WILD, PS_IP, PS_RAW };

struct pid_seg {
	enum pid_seg_kind kind;
	enum store_dbi ntab, itab; /* name table (EXACT: pdns_names; WILD: either), id index */
	uint8_t use;		   /* use bit a name needs */
	uint8_t nk[PDNS_NK_MAX];   /* EXACT: the name key; WILD: the name keys' prefix */
	size_t nkl;
	uint8_t lo[22], hi[17]; /* IP: first key, last fam || addr; RAW: lo = H8 */
	size_t lol, hil;
};

struct pid_q {
	struct d4_store *s;
	MDB_txn *txn;
	const struct d4_store_pdns_query *q;
	const struct qplan *p;
	int (*cb)(void *ctx, const struct d4_store_pdns_tuple *t);
	void *ctx;
	struct d4_store_pdns_qresult *res;
	struct d4_store_pdns_tuple *out;
	unsigned si;
	int done, stop;
	MDB_cursor *rc;				 /* pdns_rec: each result's record */
	MDB_cursor *ic[DBI_COUNT - DBI_PID_REC]; /* index scans, opened once per query */
};

/* The query's cursor on an id-keyed table (kept for the whole query: a
 * wildcard scans one index range per name). */
static int pid_q_cursor(struct pid_q *w, enum store_dbi d, MDB_cursor **c)
{
	MDB_cursor **slot = d == DBI_PID_REC ? &w->rc : &w->ic[d - DBI_PID_REC];
	if (!*slot) {
		int rc = store_rc(mdb_cursor_open(w->txn, w->s->dbi[d], slot), "pdns cursor");
		if (rc)
			return rc;
	}
	*c = *slot;
	return 0;
}

static void pid_q_close(struct pid_q *w)
{
	if (w->rc)
		mdb_cursor_close(w->rc);
	for (size_t i = 0; i < sizeof(w->ic) / sizeof(w->ic[0]); i++)
		if (w->ic[i])
			mdb_cursor_close(w->ic[i]);
}

/* Index entry k (its key ends in the id) of segment si under name key nk:
 * fetch, filter, hand out. */
static int pid_emit(struct pid_q *w, const struct pid_seg *g, const uint8_t *nk, size_t nkl, const MDB_val *k)
{
	const uint8_t *kp = k->mv_data;
	uint64_t id = get_u40(kp + k->mv_size - 5);
	MDB_cursor *c;
	int rc = pid_q_cursor(w, DBI_PID_REC, &c);
	if (rc)
		return rc;
	uint8_t ik[5];
	memcpy(ik, kp + k->mv_size - 5, 5);
	MDB_val rk = mv(ik, 5), v;
	int r = mdb_cursor_get(c, &rk, &v, MDB_SET_KEY);
	if (r)
		return r == MDB_NOTFOUND ? D4_ECORRUPT : store_rc(r, "pdns record get");
	struct tup t;
	if ((rc = pid_decode(w->s, w->txn, NULL, id, v.mv_data, v.mv_size, &t)))
		return rc;
	if (!tuple_matches(w->p, w->q, &t))
		return 0;
	/* raw query through the rdata-name index: only the tuples without a
	 * raw entry (the others are in segment 0) */
	if (w->q->kind == D4_PDNS_Q_RDATA_RAW && g->itab == DBI_PID_RDN && rdata_name_field(t.rrtype) >= 0)
		return 0;
	if (w->done) {
		w->res->more = 1;
		w->stop = 1;
		return 0;
	}
	tup_out(&t, w->out);
	int cr = w->cb(w->ctx, w->out);
	if (cr < 0)
		return cr;
	struct d4_store_pdns_qresult *res = w->res;
	res->returned++;
	res->resume[0] = PID_CURSOR_V3;
	res->resume[1] = (uint8_t)w->q->kind;
	res->resume[2] = (uint8_t)w->si;
	d4_put_u16be(res->resume + 3, (uint16_t)nkl);
	if (nkl)
		memcpy(res->resume + 5, nk, nkl);
	memcpy(res->resume + 5 + nkl, k->mv_data, k->mv_size);
	res->resume_len = 5 + nkl + k->mv_size;
	if (cr > 0)
		w->stop = 1;
	if (w->q->limit && res->returned >= w->q->limit)
		w->done = 1;
	return 0;
}

/* Entries of index dbi with prefix pfx[0..plen) (keys of klen bytes),
 * after `after` when set. */
static int pid_scan_ids(struct pid_q *w, const struct pid_seg *g, const uint8_t *nk, size_t nkl, const uint8_t *pfx,
			size_t plen, size_t klen, const uint8_t *after, size_t alen)
{
	MDB_cursor *c;
	int rc = pid_q_cursor(w, g->itab, &c);
	if (rc)
		return rc;
	MDB_val k = after ? mv(after, alen) : mv(pfx, plen), v;
	int r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (r == 0 && after && k.mv_size == alen && !memcmp(k.mv_data, after, alen))
		r = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	for (; r == 0 && !rc && !w->stop; r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, pfx, plen))
			break;
		if (k.mv_size != klen) {
			rc = D4_ECORRUPT;
			break;
		}
		if (g->kind == PS_IP && memcmp(k.mv_data, g->hi, g->hil) > 0)
			break;
		rc = pid_emit(w, g, nk, nkl, &k);
	}
	if (!rc && r != 0 && r != MDB_NOTFOUND)
		rc = store_rc(r, "pdns scan");
	return rc;
}

/* The per-name index scan of name nid (its entries under nid || [rrtype]). */
static int pid_scan_name(struct pid_q *w, const struct pid_seg *g, const uint8_t *nk, size_t nkl, uint32_t nid,
			 const uint8_t *after, size_t alen)
{
	uint8_t pfx[6];
	d4_put_u32be(pfx, nid);
	size_t plen = 4;
	if (w->q->rrtype) {
		d4_put_u16be(pfx + 4, w->q->rrtype);
		plen = 6;
	}
	size_t klen = g->itab == DBI_PID_KEY ? PID_KEYLEN : PID_RDNLEN;
	if (after && (alen != klen || memcmp(after, pfx, plen)))
		return D4_EINVAL; /* not a position under this name */
	return pid_scan_ids(w, g, nk, nkl, pfx, plen, klen, after, alen);
}

static int pid_run_seg(struct pid_q *w, const struct pid_seg *g, const uint8_t *rnk, size_t rnkl, const uint8_t *rik,
		       size_t rikl)
{
	uint32_t nid;
	uint8_t uses;
	int rc;
	switch (g->kind) {
	case PS_IP: return pid_scan_ids(w, g, NULL, 0, g->lo, 1, g->lol, rik ? rik : g->lo, rik ? rikl : g->lol - 5);
	case PS_RAW: return pid_scan_ids(w, g, NULL, 0, g->lo, 8, PID_RAWLEN, rik, rikl);
	case PS_EXACT:
		rc = pid_name_get(w->txn, w->s, g->nk, g->nkl, &nid, &uses);
		if (rc == D4_ENOTFOUND || (!rc && !(uses & g->use)))
			return 0;
		return rc ? rc : pid_scan_name(w, g, NULL, 0, nid, rik, rikl);
	case PS_WILD: break;
	}
	MDB_cursor *c;
	if ((rc = store_rc(mdb_cursor_open(w->txn, w->s->dbi[g->ntab], &c), "pdns cursor")))
		return rc;
	MDB_val k = rnk ? mv(rnk, rnkl) : mv(g->nk, g->nkl), v;
	int r = k.mv_size ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(c, &k, &v, MDB_FIRST);
	for (; r == 0 && !rc && !w->stop; r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < g->nkl || memcmp(k.mv_data, g->nk, g->nkl))
			break;
		if ((rc = store_pdns_nval_decode(v.mv_data, v.mv_size, &nid, &uses)))
			break;
		if (!(uses & g->use))
			continue;
		/* the resume position continues under its own name only */
		int here = rnk && k.mv_size == rnkl && !memcmp(k.mv_data, rnk, rnkl);
		uint8_t nk[PDNS_NK_MAX];
		size_t nkl = k.mv_size;
		if (nkl > sizeof(nk)) {
			rc = D4_ECORRUPT;
			break;
		}
		memcpy(nk, k.mv_data, nkl);
		rc = pid_scan_name(w, g, nk, nkl, nid, here ? rik : NULL, here ? rikl : 0);
	}
	mdb_cursor_close(c);
	if (!rc && r != 0 && r != MDB_NOTFOUND)
		rc = store_rc(r, "pdns name scan");
	return rc;
}

static int pid_plan(EVP_MD_CTX *md, const struct d4_store_pdns_query *q, const struct qplan *p, struct pid_seg *seg,
		    unsigned *nseg)
{
	memset(seg, 0, 3 * sizeof(*seg));
	*nseg = 1;
	struct pid_seg *g = &seg[0];
	int rc;
	switch (q->kind) {
	case D4_PDNS_Q_RDATA_IP: {
		size_t al = q->ip_family == 4 ? 4 : 16;
		const uint8_t *lo = q->ip_lo, *hi = q->ip_hi;
		if (q->ip_family == 4) {
			/* keys hold the 4 bytes of v4-mapped addresses: the part of
			 * [lo, hi] among those, as schema 4 scans it */
			static const uint8_t mlo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
			static const uint8_t mhi[16] = {0, 0, 0,    0,	  0,	0,    0,    0,
							0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
			if (memcmp(lo, mhi, 16) > 0 || memcmp(hi, mlo, 16) < 0) {
				*nseg = 0; /* no v4-mapped address in the range */
				return 0;
			}
			lo = memcmp(lo, mlo, 16) < 0 ? mlo + 12 : lo + 12;
			hi = memcmp(hi, mhi, 16) > 0 ? mhi + 12 : hi + 12;
		}
		g->kind = PS_IP;
		g->itab = DBI_PID_IP;
		g->lo[0] = g->hi[0] = q->ip_family;
		memcpy(g->lo + 1, lo, al);
		memset(g->lo + 1 + al, 0, 5);
		g->lol = 1 + al + 5;
		memcpy(g->hi + 1, hi, al);
		g->hil = 1 + al;
		return 0;
	}
	case D4_PDNS_Q_RDATA_RAW: {
		g->kind = PS_RAW;
		g->itab = DBI_PID_RAW;
		memcpy(g->lo, p->raw_hash, 8);
		if (p->raw_fam) {
			g = &seg[(*nseg)++];
			g->kind = PS_IP;
			g->itab = DBI_PID_IP;
			size_t al = p->raw_fam == 4 ? 4 : 16;
			g->lo[0] = g->hi[0] = (uint8_t)p->raw_fam;
			memcpy(g->lo + 1, p->raw_fam == 4 ? p->raw_addr + 12 : p->raw_addr, al);
			memset(g->lo + 1 + al, 0, 5);
			g->lol = 1 + al + 5;
			memcpy(g->hi + 1, g->lo + 1, al);
			g->hil = 1 + al;
		}
		char nm[PDNS_NAME_BUF];
		size_t nl = rdata_name(5, q->raw ? (const char *)q->raw : "", q->raw_len, nm);
		if (nl) {
			g = &seg[(*nseg)++];
			g->kind = PS_EXACT;
			g->ntab = DBI_PID_NAMES;
			g->itab = DBI_PID_RDN;
			g->use = STORE_PDNS_USE_RDATA;
			if ((rc = name_key(md, nm, nl, g->nk, &g->nkl)))
				return rc;
		}
		return 0;
	}
	default: break;
	}
	g->itab = p->rdata ? DBI_PID_RDN : DBI_PID_KEY;
	g->use = p->rdata ? STORE_PDNS_USE_RDATA : STORE_PDNS_USE_OWNER;
	if (p->left || p->right) {
		g->kind = PS_WILD;
		g->ntab = p->left ? DBI_PID_NREV : DBI_PID_NAMES;
		/* prefix of name keys: whole, or the cut part of long names */
		g->nkl = p->wantlen > PDNS_NK_CUT ? PDNS_NK_CUT : p->wantlen;
		memcpy(g->nk, p->want, g->nkl);
		return 0;
	}
	g->kind = PS_EXACT;
	g->ntab = DBI_PID_NAMES;
	return name_key(md, p->want, p->wantlen, g->nk, &g->nkl);
}

static int pid_query_run(struct d4_store *s, const struct d4_store_pdns_query *q,
			 int (*cb)(void *ctx, const struct d4_store_pdns_tuple *t), void *ctx,
			 struct d4_store_pdns_qresult *res)
{
	memset(res, 0, sizeof(*res));
	if (!q)
		return D4_EINVAL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct qplan *p = malloc(sizeof(*p));
	struct pid_seg *seg = malloc(3 * sizeof(*seg));
	struct d4_store_pdns_tuple *out = malloc(sizeof(*out));
	unsigned nseg = 0, first = 0;
	int rc = (!md || !p || !seg || !out) ? D4_ENOMEM : plan(md, q, p);
	if (!rc)
		rc = pid_plan(md, q, p, seg, &nseg);
	const uint8_t *rnk = NULL, *rik = NULL;
	size_t rnkl = 0, rikl = 0;
	if (!rc && q->resume_len) {
		/* resume = 03 || kind || segment || u16 name key length || name key
		 * || index key: a position within the query's own ranges */
		const uint8_t *r = q->resume;
		if (!r || q->resume_len < 6 || r[0] != PID_CURSOR_V3 || r[1] != (uint8_t)q->kind || r[2] >= nseg) {
			rc = D4_EINVAL;
		} else {
			first = r[2];
			const struct pid_seg *g = &seg[first];
			rnkl = (size_t)(r[3] << 8 | r[4]);
			if (rnkl > PDNS_NK_MAX || 5 + rnkl >= q->resume_len || (rnkl != 0) != (g->kind == PS_WILD) ||
			    (rnkl && (rnkl < g->nkl || memcmp(r + 5, g->nk, g->nkl)))) {
				rc = D4_EINVAL;
			} else {
				rnk = rnkl ? r + 5 : NULL;
				rik = r + 5 + rnkl;
				rikl = q->resume_len - 5 - rnkl;
				if (g->kind == PS_IP && (rikl != g->lol || memcmp(rik, g->lo, g->lol - 5) < 0 ||
							 memcmp(rik, g->hi, g->hil) > 0))
					rc = D4_EINVAL;
				if (g->kind == PS_RAW && (rikl != PID_RAWLEN || memcmp(rik, g->lo, 8)))
					rc = D4_EINVAL;
			}
		}
	}
	if (rc || absent(s))
		goto out;
	struct pid_q w = {.s = s, .q = q, .p = p, .cb = cb, .ctx = ctx, .res = res, .out = out};
	if ((rc = store_txn_begin(s, 1, &w.txn)))
		goto out;
	for (unsigned si = first; si < nseg && !rc && !w.stop; si++) {
		w.si = si;
		if (si == first && q->resume_len)
			rc = pid_run_seg(&w, &seg[si], rnk, rnkl, rik, rikl);
		else
			rc = pid_run_seg(&w, &seg[si], NULL, 0, NULL, 0);
	}
	pid_q_close(&w);
	mdb_txn_abort(w.txn);
out:
	EVP_MD_CTX_free(md);
	free(p);
	free(seg);
	free(out);
	return rc;
}

/* ---- seen ---- */

static int pid_seen(struct d4_store *s, const struct d4_store_pdns_obs *obs, size_t n, uint64_t *count,
		    uint32_t *sensors)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *name = malloc(PDNS_NAME_BUF);
	MDB_txn *txn = NULL;
	int rc = (!md || !name) ? D4_ENOMEM : store_txn_begin(s, 1, &txn);
	MDB_cursor *kc = NULL;
	if (!rc)
		rc = store_rc(mdb_cursor_open(txn, s->dbi[DBI_PID_KEY], &kc), "pdns cursor");
	for (size_t i = 0; i < n && !rc; i++) {
		const struct d4_store_pdns_obs *o = &obs[i];
		size_t nlen = obs_name(o, name), rdlen = obs_rdlen(o);
		if (!nlen || rdlen > D4_PDNS_STORE_RDATA_MAX)
			continue; /* never a tuple: seen by nobody */
		uint8_t k[PDNS_KEY_MAX], rh[PDNS_HASH];
		size_t kl = 0;
		const char *rd = o->rdata ? o->rdata : "";
		if ((rc = tuple_key(md, name, nlen, o->rrtype, rd, rdlen, k, &kl, rh)))
			break;
		uint32_t nid;
		uint8_t uses;
		rc = pid_name_get(txn, s, k, kl - PDNS_KEY_TAIL, &nid, &uses);
		if (rc == D4_ENOTFOUND || (!rc && !(uses & STORE_PDNS_USE_OWNER))) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		uint8_t pk[PID_KEYLEN];
		pid_key_key(nid, o->rrtype, rh, 0, pk);
		MDB_val key = mv(pk, 10), v;
		int r = mdb_cursor_get(kc, &key, &v, MDB_SET_RANGE);
		for (; r == 0; r = mdb_cursor_get(kc, &key, &v, MDB_NEXT)) {
			if (key.mv_size != PID_KEYLEN || memcmp(key.mv_data, pk, 10))
				break;
			uint64_t id = get_u40((const uint8_t *)key.mv_data + 10);
			MDB_val tv;
			struct tup t;
			if ((rc = pid_rec_get(txn, s, id, &tv)))
				break;
			if ((rc = pid_decode(s, txn, NULL, id, tv.mv_data, tv.mv_size, &t)))
				break;
			if (pid_same(&t, name, nlen, o->rrtype, rd, rdlen)) {
				count[i] = t.count;
				sensors[i] = tup_sensors(&t);
				break;
			}
		}
		if (rc == D4_ENOTFOUND)
			rc = D4_ECORRUPT;
		if (!rc && r != 0 && r != MDB_NOTFOUND)
			rc = store_rc(r, "pdns key scan");
	}
	if (kc)
		mdb_cursor_close(kc);
	if (txn)
		mdb_txn_abort(txn);
	EVP_MD_CTX_free(md);
	free(name);
	return rc;
}

/* ---- info ---- */

static const enum store_dbi pid_dbis[] = {DBI_PID_REC, DBI_PID_KEY, DBI_PID_NAMES, DBI_PID_NREV,  DBI_PID_RDN,
					  DBI_PID_IP,  DBI_PID_RAW, DBI_PID_TBLK,  DBI_PDNS_META, DBI_PDNS_SIDE};

static int pid_info(struct d4_store *s, struct d4_store_pdns_info *out)
{
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	for (size_t i = 0; i < sizeof(pid_dbis) / sizeof(pid_dbis[0]) && !rc; i++) {
		if (s->dbi_absent[pid_dbis[i]])
			continue;
		MDB_stat st;
		if ((rc = store_rc(mdb_stat(txn, s->dbi[pid_dbis[i]], &st), "pdns stat")))
			break;
		if (pid_dbis[i] == DBI_PID_REC)
			out->tuples = st.ms_entries;
		out->bytes += (uint64_t)(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize;
	}
	if (!rc)
		rc = store_settings_get_u64(s, txn, PDNS_NEXT_ID, &out->next_id);
	if (!rc && !out->next_id)
		out->next_id = 1;
	mdb_txn_abort(txn);
	return rc;
}

/* ---- expiry by (day, block) ---- */

/* After a tuple went: the name loses use bit `use` when no tuple of index
 * itab is left under nid, and its entries when it has no use left. */
static int pid_name_release(MDB_txn *txn, struct d4_store *s, EVP_MD_CTX *md, const char *name, size_t n,
			    enum store_dbi itab, uint8_t use)
{
	uint8_t nk[PDNS_NK_MAX];
	size_t nkl;
	uint32_t nid;
	uint8_t uses;
	int rc = name_key(md, name, n, nk, &nkl);
	if (!rc)
		rc = pid_name_get(txn, s, nk, nkl, &nid, &uses);
	if (rc == D4_ENOTFOUND)
		return D4_ECORRUPT;
	if (rc)
		return rc;
	uint8_t pfx[4];
	d4_put_u32be(pfx, nid);
	MDB_cursor *c;
	if ((rc = store_rc(mdb_cursor_open(txn, s->dbi[itab], &c), "pdns cursor")))
		return rc;
	MDB_val k = mv(pfx, 4), v;
	int r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	int used = r == 0 && k.mv_size >= 4 && !memcmp(k.mv_data, pfx, 4);
	mdb_cursor_close(c);
	if (r && r != MDB_NOTFOUND)
		return store_rc(r, "pdns name use");
	if (used || !(uses & use))
		return 0;
	uses &= (uint8_t)~use;
	if (!uses)
		return pid_name_del(txn, s, md, name, n, nk, nkl);
	return pid_name_put(txn, s, md, name, n, nk, nkl, nid, uses);
}

/* Deletes tuple t and every entry it has. */
static int pid_tuple_delete(MDB_txn *txn, struct d4_store *s, EVP_MD_CTX *md, const struct tup *t)
{
	char name[PDNS_NAME_BUF], rn[PDNS_NAME_BUF];
	uint8_t rh[PDNS_HASH], nk[PDNS_NK_MAX], k[PID_KEYLEN], addr[16];
	size_t nkl;
	/* t's strings live in the page the deletes change: copied first */
	memcpy(name, t->name, t->namelen);
	size_t nlen = t->namelen, dl = rdata_name(t->rrtype, t->rd, t->rdlen, rn);
	int fam = rdata_ip(t->rrtype, t->rd, t->rdlen, addr);
	int rc = sha16(md, t->rd, t->rdlen, NULL, 0, rh);
	uint32_t nid, dnid = 0;
	uint8_t uses;
	if (!rc)
		rc = name_key(md, name, nlen, nk, &nkl);
	if (!rc)
		rc = pid_name_get(txn, s, nk, nkl, &nid, &uses);
	if (rc == D4_ENOTFOUND)
		rc = D4_ECORRUPT;
	if (!rc)
		rc = del_key(txn, s->dbi[DBI_PID_KEY], k, pid_key_key(nid, t->rrtype, rh, t->id, k));
	if (!rc && fam) {
		uint8_t ik[22];
		rc = del_key(txn, s->dbi[DBI_PID_IP], ik, pid_ip_key(fam, addr, t->id, ik));
	} else if (!rc && dl) {
		uint8_t dk[PDNS_NK_MAX], rk[PID_RDNLEN];
		size_t dkl;
		if (!(rc = name_key(md, rn, dl, dk, &dkl)))
			rc = pid_name_get(txn, s, dk, dkl, &dnid, &uses);
		if (rc == D4_ENOTFOUND)
			rc = D4_ECORRUPT;
		if (!rc)
			rc = del_key(txn, s->dbi[DBI_PID_RDN], rk, pid_rdn_key(dnid, t->rrtype, t->id, rk));
	}
	if (!rc && !fam && !(dl && rdata_name_field(t->rrtype) < 0)) {
		uint8_t rk[PID_RAWLEN];
		memcpy(rk, rh, 8);
		put_u40(rk + 8, t->id);
		rc = del_key(txn, s->dbi[DBI_PID_RAW], rk, PID_RAWLEN);
	}
	uint8_t ik[5];
	put_u40(ik, t->id);
	if (!rc)
		rc = del_key(txn, s->dbi[DBI_PID_REC], ik, 5);
	if (!rc)
		rc = pid_name_release(txn, s, md, name, nlen, DBI_PID_KEY, STORE_PDNS_USE_OWNER);
	if (!rc && dl && !fam)
		rc = pid_name_release(txn, s, md, rn, dl, DBI_PID_RDN, STORE_PDNS_USE_RDATA);
	return rc;
}

static int pid_expire(struct d4_store *s, uint64_t cutoff, unsigned max_per_txn, uint64_t *removed)
{
	uint32_t last_day = (uint32_t)(cutoff / PDNS_DAY); /* entries of later days are all younger */
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int rc = md ? 0 : D4_ENOMEM;
	/* scan position: the (day, block) entry being examined, and the first
	 * id of its block not examined yet */
	uint8_t pos[8] = {0};
	uint64_t next_id = 0, total = 0;
	int in_block = 0;
	while (!rc) {
		MDB_txn *txn;
		if ((rc = store_txn_begin(s, 0, &txn)))
			break;
		unsigned n = 0, examined = 0;
		int end = 0;
		while (!rc && n < max_per_txn && examined < 4 * max_per_txn) {
			MDB_val k = mv(pos, 8), v;
			MDB_cursor *c;
			if ((rc = store_rc(mdb_cursor_open(txn, s->dbi[DBI_PID_TBLK], &c), "pdns cursor")))
				break;
			int r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
			if (r == 0 && k.mv_size != 8)
				rc = D4_ECORRUPT;
			else if (r && r != MDB_NOTFOUND)
				rc = store_rc(r, "pdns block scan");
			if (!rc && !r)
				memcpy(pos, k.mv_data, 8);
			mdb_cursor_close(c);
			if (rc)
				break;
			if (r == MDB_NOTFOUND || d4_get_u32be(pos) > last_day) {
				end = 1;
				break;
			}
			uint32_t block = d4_get_u32be(pos + 4);
			uint64_t lo = (uint64_t)block << PID_BLOCK, hi = lo + (1u << PID_BLOCK);
			if (!in_block) {
				next_id = lo;
				in_block = 1;
			}
			/* the block's records from next_id on: those whose time_last is
			 * before the cutoff go */
			while (!rc && next_id < hi && n < max_per_txn && examined < 4 * max_per_txn) {
				uint8_t ik[5];
				put_u40(ik, next_id);
				MDB_val rk = mv(ik, 5), rv;
				if ((rc = store_rc(mdb_cursor_open(txn, s->dbi[DBI_PID_REC], &c), "pdns cursor")))
					break;
				r = mdb_cursor_get(c, &rk, &rv, MDB_SET_RANGE);
				uint64_t id = r == 0 && rk.mv_size == 5 ? get_u40(rk.mv_data) : hi;
				if (r == 0 && rk.mv_size != 5)
					rc = D4_ECORRUPT;
				else if (r && r != MDB_NOTFOUND)
					rc = store_rc(r, "pdns record scan");
				struct tup t;
				if (!rc && id < hi) {
					examined++;
					if (!(rc = pid_decode(s, txn, NULL, id, rv.mv_data, rv.mv_size, &t)) &&
					    t.tl < cutoff) {
						mdb_cursor_close(c);
						c = NULL;
						rc = pid_tuple_delete(txn, s, md, &t);
						n++;
					}
				}
				if (c)
					mdb_cursor_close(c);
				next_id = id < hi ? id + 1 : hi;
			}
			if (rc || next_id < hi)
				break; /* the transaction is full: the next one goes on in this block */
			/* block done: its entry of a day before the cutoff's day cannot
			 * hold a tuple any more (each tuple has the entry of its own
			 * time_last day); the cutoff's day is kept */
			if (d4_get_u32be(pos) < last_day)
				rc = del_key(txn, s->dbi[DBI_PID_TBLK], pos, 8);
			in_block = 0;
			for (int i = 7; i >= 0 && ++pos[i] == 0; i--)
				;
		}
		if (rc) {
			mdb_txn_abort(txn);
			break;
		}
		if ((rc = store_rc(mdb_txn_commit(txn), "pdns expire commit")))
			break;
		total += n;
		if (end)
			break;
	}
	EVP_MD_CTX_free(md);
	if (removed)
		*removed = total;
	return rc;
}
