/* The weak-key job: the passive-SSL store's public keys, in id order from
 * the job's stored position, through analyzers/weakkeys (shared primes,
 * duplicate moduli, small factors, exponents) and the job's own shared-key
 * check (one SPKI under unrelated subjects). docs/passivessl.md "Weak keys".
 *
 * Consistency: the findings of a batch and the position after it are one
 * write transaction, so a restart neither loses nor repeats a batch. The
 * set of moduli is not saved: the stored keys up to the position are the
 * set (minus the keys the library refused, which have an invalid or
 * small-factor finding written in the same transaction), so the start
 * rebuilds it from them through d4_weakkeys_load (chunk products only, no
 * GCD, no findings). A batch whose commit failed has already entered the
 * in-memory set: the set is then rebuilt from the store before the next
 * batch, so that it never holds a key twice. */
#include "analyze_internal.h"
#include "d4_error.h"
#include "d4_log.h"
#include "d4_reader.h"
#include "d4_store_pssl.h"
#include "d4_util.h"
#include "d4_weakkeys.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define KEY_RSA	   1u	 /* D4_X509_KEY_RSA: the store keeps analyzers/x509's numbering */
#define TLP_ALL	   6u	 /* D4_TLP_RED: the job reads every certificate, whatever its TLP */
#define READ_CHUNK 4096u /* keys or findings per read transaction of the rebuild and the sweep */
#define NAMES_MAX  64u	 /* DNS names of one certificate looked at by the shared-key check */
#define WK_HEADER  13u	 /* "D4WK" | version | count */

/* ---- kind names ---- */

static const struct {
	unsigned kind;
	const char *name;
} kinds[] = {
    {D4_WEAKKEYS_SHARED, "shared-prime"},
    {D4_WEAKKEYS_SHARED_UNPAIRED, "shared-prime-unpaired"},
    {D4_WEAKKEYS_DUPLICATE, "duplicate-modulus"},
    {D4_WEAKKEYS_SMALL_FACTOR, "small-factor"},
    {D4_WEAKKEYS_INVALID, "invalid-modulus"},
    {D4_ANALYZE_WEAK_KIND_EXPONENT, "weak-exponent"},
    {D4_ANALYZE_WEAK_KIND_SHARED_KEY, "shared-key"},
};

const char *d4_analyze_weak_kind_name(unsigned kind)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].kind == kind)
			return kinds[i].name;
	return "unknown";
}

unsigned d4_analyze_weak_kind_parse(const char *name)
{
	for (size_t i = 0; name && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].name, name))
			return kinds[i].kind;
	return 0;
}

/* ---- options ---- */

static void opts_fill(struct d4_analyze_weak_opts *o)
{
	if (!o->interval_s)
		o->interval_s = 60;
	if (!o->batch)
		o->batch = 4096;
	if (!o->max_keys)
		o->max_keys = 1048576;
	if (!o->max_bytes)
		o->max_bytes = 512ull << 20;
	if (!o->nice)
		o->nice = 10;
	if (!o->pause_ms)
		o->pause_ms = 50;
}

int d4_analyze_weak_opts_check(const struct d4_analyze_weak_opts *in, char *err, size_t errsize)
{
	struct d4_analyze_weak_opts o = *in;
	opts_fill(&o);
	if (o.batch > D4_ANALYZE_WEAK_BATCH_MAX) {
		snprintf(err, errsize, "pssl.weak_batch %u is above %u", o.batch, D4_ANALYZE_WEAK_BATCH_MAX);
		return D4_EINVAL;
	}
	if (o.max_keys > D4_WEAKKEYS_MAX_MODULI) {
		snprintf(err, errsize, "pssl.weak_max_keys %llu is above %u", (unsigned long long)o.max_keys,
			 D4_WEAKKEYS_MAX_MODULI);
		return D4_EINVAL;
	}
	if (o.nice > 19) {
		snprintf(err, errsize, "pssl.weak_nice %d is above 19", o.nice);
		return D4_EINVAL;
	}
	return D4_OK;
}

/* ---- the job ---- */

struct d4_analyze_weak {
	struct d4_store *s;
	struct d4_analyze_weak_opts o;
	struct d4_weakkeys *wk; /* NULL: to rebuild before the next batch */
	uint64_t position;
	struct d4_analyze_weak_stats st;
};

/* One key of a batch, copied out of the read transaction. */
struct bkey {
	uint64_t id;
	uint8_t type;
	uint64_t certs, subjects;
	uint8_t *mod, *exp;
	size_t mod_len, exp_len;
};

struct batch {
	struct bkey *k;
	size_t n, cap;
	uint64_t mod_bytes; /* of the keys taken */
	/* findings, their factors copied */
	struct d4_store_pssl_finding *f;
	size_t nf, capf;
	int oom;
};

static void batch_clear(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->k[i].mod);
		free(b->k[i].exp);
	}
	for (size_t i = 0; i < b->nf; i++)
		free((void *)b->f[i].factor);
	b->n = b->nf = 0;
	b->mod_bytes = 0;
	b->oom = 0;
}

static void batch_free(struct batch *b)
{
	batch_clear(b);
	free(b->k);
	free(b->f);
	memset(b, 0, sizeof(*b));
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);
	if (d && n)
		memcpy(d, p, n);
	return d;
}

static int add_finding(struct batch *b, uint8_t kind, uint64_t id, uint64_t other, uint16_t reason,
		       const uint8_t *factor, size_t factor_len)
{
	if (b->nf == b->capf) {
		size_t nc = b->capf ? 2 * b->capf : 64;
		struct d4_store_pssl_finding *nf = realloc(b->f, nc * sizeof(*nf));
		if (!nf)
			return D4_ENOMEM;
		b->f = nf;
		b->capf = nc;
	}
	struct d4_store_pssl_finding *f = &b->f[b->nf];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->id = id;
	f->other = other;
	f->reason = reason;
	if (factor_len > D4_PSSL_FACTOR_MAX)
		factor_len = 0; /* cannot happen: a factor is at most a modulus */
	if (factor && factor_len) {
		uint8_t *c = dup_bytes(factor, factor_len);
		if (!c)
			return D4_ENOMEM;
		f->factor = c;
		f->factor_len = factor_len;
	}
	b->nf++;
	return D4_OK;
}

static int key_cb(void *ctx, const struct d4_store_pssl_key *k)
{
	struct batch *b = ctx;
	/* a batch of the largest moduli stays bounded too: end it before the
	 * key that would pass the budget (that key starts the next batch) */
	if (b->n && k->key_type == KEY_RSA && k->modulus && b->mod_bytes + k->modulus_len > D4_ANALYZE_WEAK_BATCH_BYTES)
		return 1;
	if (b->n == b->cap) {
		size_t nc = b->cap ? 2 * b->cap : 256;
		struct bkey *nk = realloc(b->k, nc * sizeof(*nk));
		if (!nk) {
			b->oom = 1;
			return D4_ENOMEM;
		}
		b->k = nk;
		b->cap = nc;
	}
	struct bkey *d = &b->k[b->n];
	memset(d, 0, sizeof(*d));
	d->id = k->id;
	d->type = k->key_type;
	d->certs = k->certs;
	d->subjects = k->subjects;
	if (k->key_type == KEY_RSA && k->modulus) {
		d->mod = dup_bytes(k->modulus, k->modulus_len);
		d->exp = dup_bytes(k->exponent ? k->exponent : (const uint8_t *)"", k->exponent_len);
		if (!d->mod || !d->exp) {
			free(d->mod);
			free(d->exp);
			b->oom = 1;
			return D4_ENOMEM;
		}
		d->mod_len = k->modulus_len;
		d->exp_len = k->exponent_len;
		b->mod_bytes += k->modulus_len;
	}
	b->n++;
	return 0;
}

/* ---- the shared-key check ---- */

/* The registrable part of a DNS name, approximated without the public
 * suffix list: the last two labels, or three under a two-letter country
 * code whose second level is a generic one (example.co.uk). A wildcard's
 * "*." and a trailing dot are dropped; lower case. Writes into out. */
static void base_domain(const char *name, size_t len, char *out, size_t cap)
{
	static const char *const second[] = {"co", "com", "net", "org", "gov", "edu", "ac",
					     "or", "ne",  "go",	 "gob", "mil", "nic", NULL};
	if (len >= 2 && name[0] == '*' && name[1] == '.') {
		name += 2;
		len -= 2;
	}
	while (len && name[len - 1] == '.')
		len--;
	size_t dots[3] = {0, 0, 0}, nd = 0; /* positions of the last three dots */
	for (size_t i = len; i-- > 0 && nd < 3;)
		if (name[i] == '.')
			dots[nd++] = i;
	size_t start = 0;
	if (nd >= 2) {
		start = dots[1] + 1;
		size_t tld = len - dots[0] - 1, sl = dots[0] - dots[1] - 1;
		if (tld == 2) {
			for (size_t j = 0; second[j]; j++)
				if (strlen(second[j]) == sl && !strncasecmp(name + dots[1] + 1, second[j], sl)) {
					start = nd >= 3 ? dots[2] + 1 : 0;
					break;
				}
		}
	}
	size_t n = len - start < cap - 1 ? len - start : cap - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)name[start + i]);
	out[n] = '\0';
}

/* Certificates of one key, each reduced to its subject and the base
 * domains of its names; two certificates are related when they have the
 * same subject or share a base domain. */
struct kcert {
	char *subject;
	char **doms;
	size_t ndoms;
};

struct kcerts {
	struct kcert c[D4_ANALYZE_WEAK_CERTS_MAX];
	size_t n;
	int oom;
};

static char *xstrdup(const char *s)
{
	size_t n = strlen(s);
	char *d = malloc(n + 1);
	if (d)
		memcpy(d, s, n + 1);
	return d;
}

static int add_dom(struct kcert *kc, const char *name, size_t len)
{
	char b[D4_PSSL_SAN_LEN + 1];
	if (!len || kc->ndoms >= NAMES_MAX)
		return 0;
	base_domain(name, len > D4_PSSL_SAN_LEN ? D4_PSSL_SAN_LEN : len, b, sizeof(b));
	if (!b[0])
		return 0;
	for (size_t i = 0; i < kc->ndoms; i++)
		if (!strcmp(kc->doms[i], b))
			return 0;
	char *d = xstrdup(b);
	if (!d)
		return D4_ENOMEM;
	kc->doms[kc->ndoms++] = d;
	return 0;
}

static int kcert_cb(void *ctx, const struct d4_store_pssl_cert *c)
{
	struct kcerts *k = ctx;
	if (k->n >= D4_ANALYZE_WEAK_CERTS_MAX)
		return 1;
	struct kcert *kc = &k->c[k->n];
	memset(kc, 0, sizeof(*kc));
	kc->subject = xstrdup(c->subject ? c->subject : "");
	kc->doms = calloc(NAMES_MAX, sizeof(char *));
	if (!kc->subject || !kc->doms) {
		free(kc->subject);
		free(kc->doms);
		k->oom = 1;
		return D4_ENOMEM;
	}
	k->n++;
	int rc = 0;
	if (c->cn && strchr(c->cn, '.'))
		rc = add_dom(kc, c->cn, strlen(c->cn));
	for (size_t i = 0; !rc && i < c->n_san; i++)
		if (c->san[i].type == 1)
			rc = add_dom(kc, (const char *)c->san[i].value, c->san[i].len);
	if (rc)
		k->oom = 1;
	return rc;
}

static void kcerts_free(struct kcerts *k)
{
	for (size_t i = 0; i < k->n; i++) {
		for (size_t j = 0; j < k->c[i].ndoms; j++)
			free(k->c[i].doms[j]);
		free(k->c[i].doms);
		free(k->c[i].subject);
	}
	k->n = 0;
}

static int related(const struct kcert *a, const struct kcert *b)
{
	if (!strcmp(a->subject, b->subject))
		return 1;
	for (size_t i = 0; i < a->ndoms; i++)
		for (size_t j = 0; j < b->ndoms; j++)
			if (!strcmp(a->doms[i], b->doms[j]))
				return 1;
	return 0;
}

static size_t uf_find(size_t *p, size_t i)
{
	while (p[i] != i)
		i = p[i] = p[p[i]];
	return i;
}

/* *groups = the number of groups of related certificates carrying key id
 * (the first D4_ANALYZE_WEAK_CERTS_MAX of them); more than one means the
 * key is shared by unrelated subjects. 0 or an error. */
static int subject_groups(struct d4_store *s, uint64_t id, unsigned *groups)
{
	struct kcerts *k = calloc(1, sizeof(*k));
	uint8_t key[8];
	if (!k)
		return D4_ENOMEM;
	d4_put_u64be(key, id);
	struct d4_store_pssl_query q;
	struct d4_store_pssl_qresult res;
	memset(&q, 0, sizeof(q));
	memset(&res, 0, sizeof(res));
	q.by = D4_PSSL_CERTS_BY_KEY;
	q.key = key;
	q.key_len = sizeof(key);
	q.max_tlp = TLP_ALL;
	q.limit = D4_ANALYZE_WEAK_CERTS_MAX;
	int rc = d4_store_pssl_query_certs(s, &q, kcert_cb, k, &res);
	if (rc > 0)
		rc = 0;
	if (!rc && k->oom)
		rc = D4_ENOMEM;
	if (!rc) {
		size_t p[D4_ANALYZE_WEAK_CERTS_MAX];
		unsigned g = (unsigned)k->n;
		for (size_t i = 0; i < k->n; i++)
			p[i] = i;
		for (size_t i = 0; i < k->n; i++)
			for (size_t j = i + 1; j < k->n; j++) {
				size_t a = uf_find(p, i), b = uf_find(p, j);
				if (a != b && related(&k->c[i], &k->c[j])) {
					p[a] = b;
					g--;
				}
			}
		*groups = g;
	}
	kcerts_free(k);
	free(k);
	return rc;
}

/* ---- findings already stored ---- */

struct fscan {
	uint64_t *ids;
	size_t n, cap;
	uint8_t kind;
	uint64_t id; /* exists(): the key looked for */
	int found;
	int oom;
};

static int fscan_cb(void *ctx, const struct d4_store_pssl_finding *f)
{
	struct fscan *x = ctx;
	if (x->id) {
		if (f->kind == x->kind && f->id == x->id) {
			x->found = 1;
			return 1;
		}
		return 0;
	}
	if (x->n == x->cap) {
		size_t nc = x->cap ? 2 * x->cap : 256;
		uint64_t *ni = realloc(x->ids, nc * sizeof(*ni));
		if (!ni) {
			x->oom = 1;
			return D4_ENOMEM;
		}
		x->ids = ni;
		x->cap = nc;
	}
	x->ids[x->n++] = f->id;
	return 0;
}

/* Every finding of one kind (x->id 0: collect the ids) or until the one of
 * key x->id is found; pages of READ_CHUNK, one read transaction each. */
static int fscan_run(struct d4_store *s, struct fscan *x)
{
	uint8_t resume[D4_PSSL_RESUME_MAX];
	size_t rlen = 0;
	for (;;) {
		struct d4_store_pssl_qresult res;
		memset(&res, 0, sizeof(res));
		int rc = d4_store_pssl_weak_query(s, x->kind, x->id, READ_CHUNK, rlen ? resume : NULL, rlen, fscan_cb,
						  x, &res);
		if (rc < 0)
			return x->oom ? D4_ENOMEM : rc;
		if (x->found || !res.more || !res.returned || !res.resume_len || res.resume_len > sizeof(resume))
			return 0;
		memcpy(resume, res.resume, res.resume_len);
		rlen = res.resume_len;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* ---- rebuild ---- */

struct rebuild {
	uint8_t *buf;
	size_t len, cap;
	uint64_t count, bytes, last, position;
	const uint64_t *skip;
	size_t nskip;
	int oom;
};

static int rebuild_cb(void *ctx, const struct d4_store_pssl_key *k)
{
	struct rebuild *r = ctx;
	if (k->id > r->position)
		return 1;
	r->last = k->id;
	if (k->key_type != KEY_RSA || !k->modulus || !k->modulus_len)
		return 0;
	if (r->nskip && bsearch(&k->id, r->skip, r->nskip, sizeof(uint64_t), cmp_u64))
		return 0;
	size_t need = 10 + k->modulus_len;
	if (r->len + need > r->cap) {
		size_t nc = r->cap ? r->cap : 1u << 16;
		while (nc < r->len + need)
			nc *= 2;
		uint8_t *nb = realloc(r->buf, nc);
		if (!nb) {
			r->oom = 1;
			return D4_ENOMEM;
		}
		r->buf = nb;
		r->cap = nc;
	}
	d4_put_u64be(r->buf + r->len, k->id);
	d4_put_u16be(r->buf + r->len + 8, (uint16_t)k->modulus_len);
	memcpy(r->buf + r->len + 10, k->modulus, k->modulus_len);
	r->len += need;
	r->count++;
	r->bytes += k->modulus_len;
	return 0;
}

static int rebuild(struct d4_analyze_weak *x)
{
	uint64_t t0 = d4_now_ms();
	d4_weakkeys_free(x->wk);
	x->wk = NULL;
	int rc = d4_store_pssl_weak_position(x->s, &x->position);
	if (rc == D4_ENOTFOUND) {
		x->position = 0;
		rc = 0;
	}
	if (rc)
		return rc;
	/* the keys the library did not add: their findings were written with
	 * the position that covers them */
	struct fscan inv = {.kind = D4_WEAKKEYS_INVALID}, small = {.kind = D4_WEAKKEYS_SMALL_FACTOR};
	struct rebuild r;
	memset(&r, 0, sizeof(r));
	rc = fscan_run(x->s, &inv);
	if (!rc)
		rc = fscan_run(x->s, &small);
	uint64_t *skip = NULL;
	size_t nskip = inv.n + small.n;
	if (!rc && nskip) {
		skip = malloc(nskip * sizeof(*skip));
		if (!skip)
			rc = D4_ENOMEM;
		else {
			if (inv.n)
				memcpy(skip, inv.ids, inv.n * sizeof(*skip));
			if (small.n)
				memcpy(skip + inv.n, small.ids, small.n * sizeof(*skip));
			qsort(skip, nskip, sizeof(*skip), cmp_u64);
		}
	}
	free(inv.ids);
	free(small.ids);
	r.skip = skip;
	r.nskip = nskip;
	r.position = x->position;
	r.cap = WK_HEADER;
	r.buf = malloc(r.cap);
	if (!rc && !r.buf)
		rc = D4_ENOMEM;
	r.len = WK_HEADER;
	uint64_t after = 0;
	while (!rc && after < x->position) {
		uint64_t before = r.last;
		rc = d4_store_pssl_keys_after(x->s, after, READ_CHUNK, rebuild_cb, &r);
		if (rc > 0)
			rc = 0;
		if (r.oom)
			rc = D4_ENOMEM;
		if (rc || r.last == before)
			break;
		after = r.last;
		if (r.count > x->o.max_keys || r.bytes > x->o.max_bytes) {
			d4_err(
			    "pssl: weak keys: the store holds %llu RSA moduli (%llu bytes) up to key %llu: above "
			    "pssl.weak_max_keys (%llu) or pssl.weak_max_bytes (%llu); the job stops (raise them, with "
			    "about twice the bytes of memory, and restart)",
			    (unsigned long long)r.count, (unsigned long long)r.bytes, (unsigned long long)x->position,
			    (unsigned long long)x->o.max_keys, (unsigned long long)x->o.max_bytes);
			rc = D4_ETOOBIG;
		}
	}
	free(skip);
	if (!rc) {
		memcpy(r.buf, "D4WK", 4);
		r.buf[4] = 1;
		d4_put_u64be(r.buf + 5, r.count);
		rc = d4_weakkeys_load(r.buf, r.len, &x->wk);
		if (rc)
			d4_err("pssl: weak keys: the stored keys do not rebuild the set (%s)", d4_strerror(rc));
	}
	free(r.buf);
	if (rc)
		return rc;
	x->st.position = x->position;
	x->st.set_size = d4_weakkeys_count(x->wk);
	x->st.set_bytes = r.bytes;
	x->st.rebuilt = x->st.set_size;
	x->st.rebuild_ms = d4_now_ms() - t0;
	return 0;
}

int d4_analyze_weak_new(struct d4_store *s, const struct d4_analyze_weak_opts *o, struct d4_analyze_weak **out)
{
	char err[160];
	*out = NULL;
	if (!s || !o || d4_analyze_weak_opts_check(o, err, sizeof(err)))
		return D4_EINVAL;
	struct d4_analyze_weak *x = calloc(1, sizeof(*x));
	if (!x)
		return D4_ENOMEM;
	x->s = s;
	x->o = *o;
	opts_fill(&x->o);
	int rc = rebuild(x);
	if (rc) {
		d4_analyze_weak_free(x);
		return rc;
	}
	x->st.state = D4_ANALYZE_WEAK_RUNNING;
	*out = x;
	return 0;
}

void d4_analyze_weak_free(struct d4_analyze_weak *x)
{
	if (!x)
		return;
	d4_weakkeys_free(x->wk);
	free(x);
}

void d4_analyze_weak_stats(struct d4_analyze_weak *x, struct d4_analyze_weak_stats *out)
{
	*out = x->st;
}

/* ---- one batch ---- */

static int lib_cb(const struct d4_weakkeys_finding *f, void *ud)
{
	struct batch *b = ud;
	uint64_t other = f->other == D4_WEAKKEYS_NO_ID ? 0 : f->other;
	return add_finding(b, (uint8_t)f->kind, f->id, other, (uint16_t)f->reason, f->factor, f->factor_len);
}

static int bkey_cmp(const void *key, const void *el)
{
	uint64_t id = *(const uint64_t *)key, e = ((const struct bkey *)el)->id;
	return id < e ? -1 : id > e;
}

/* Modulus bytes of the batch's keys the library did not add to the set
 * (invalid, small factor). The batch is in id order. */
static uint64_t refused_bytes(const struct batch *b)
{
	uint64_t n = 0;
	for (size_t i = 0; i < b->nf; i++) {
		if (b->f[i].kind != D4_WEAKKEYS_INVALID && b->f[i].kind != D4_WEAKKEYS_SMALL_FACTOR)
			continue;
		const struct bkey *k = bsearch(&b->f[i].id, b->k, b->n, sizeof(*b->k), bkey_cmp);
		if (k)
			n += k->mod_len;
	}
	return n;
}

static int run_batch(struct d4_analyze_weak *x, struct batch *b, int *idle)
{
	uint64_t t0 = d4_now_ms();
	batch_clear(b);
	int rc = d4_store_pssl_keys_after(x->s, x->position, x->o.batch, key_cb, b);
	if (rc > 0)
		rc = 0;
	if (!rc && b->oom)
		rc = D4_ENOMEM;
	if (rc)
		return rc;
	if (!b->n) {
		*idle = 1;
		return 0;
	}
	*idle = 0;
	struct d4_weakkeys_modulus *mods = calloc(b->n, sizeof(*mods));
	if (!mods)
		return D4_ENOMEM;
	size_t nm = 0;
	for (size_t i = 0; i < b->n; i++)
		if (b->k[i].mod) {
			mods[nm].id = b->k[i].id;
			mods[nm].n = b->k[i].mod;
			mods[nm].len = b->k[i].mod_len;
			nm++;
		}
	if (d4_weakkeys_count(x->wk) + nm > x->o.max_keys || x->st.set_bytes + b->mod_bytes > x->o.max_bytes) {
		free(mods);
		x->st.refused_full++;
		return D4_ETOOBIG;
	}
	rc = d4_weakkeys_add(x->wk, mods, nm, lib_cb, b);
	free(mods);
	if (rc < 0)
		return rc; /* the set is unchanged */
	/* from here on the set holds the batch: any failure rebuilds it */
	rc = 0;
	for (size_t i = 0; !rc && i < b->n; i++) {
		const struct bkey *k = &b->k[i];
		if (k->mod) {
			unsigned e = d4_weakkeys_exponent_check(k->exp, k->exp_len);
			if (e)
				rc = add_finding(b, D4_ANALYZE_WEAK_KIND_EXPONENT, k->id, 0, (uint16_t)e, NULL, 0);
		}
		if (!rc && k->certs > 1 && k->subjects > 1) {
			unsigned g = 0;
			rc = subject_groups(x->s, k->id, &g);
			if (!rc && g > 1)
				rc = add_finding(b, D4_ANALYZE_WEAK_KIND_SHARED_KEY, k->id, 0,
						 (uint16_t)(g > 65535 ? 65535 : g), NULL, 0);
		}
	}
	uint64_t last = b->k[b->n - 1].id;
	if (!rc)
		rc = d4_store_pssl_weak_apply(x->s, b->f, b->nf, last);
	if (rc) {
		d4_weakkeys_free(x->wk);
		x->wk = NULL;
		return rc;
	}
	x->position = last;
	x->st.position = last;
	x->st.keys += b->n;
	x->st.rsa += nm;
	x->st.findings += b->nf;
	x->st.batches++;
	x->st.set_size = d4_weakkeys_count(x->wk);
	x->st.set_bytes += b->mod_bytes - refused_bytes(b);
	x->st.last_batch_s = d4_now_s();
	uint64_t ms = d4_now_ms() - t0;
	if (ms > x->st.batch_ms_max)
		x->st.batch_ms_max = ms;
	return 0;
}

int d4_analyze_weak_step(struct d4_analyze_weak *x, unsigned max_batches, int *idle)
{
	struct batch b;
	int done = 0, id = 0;
	memset(&b, 0, sizeof(b));
	if (idle)
		*idle = 0;
	while (!max_batches || (unsigned)done < max_batches) {
		int rc = 0;
		if (!x->wk && (rc = rebuild(x)) != 0) {
			x->st.last_error = rc;
			batch_free(&b);
			return rc;
		}
		rc = run_batch(x, &b, &id);
		if (rc) {
			x->st.last_error = rc;
			if (rc != D4_ETOOBIG)
				x->st.errors++;
			batch_free(&b);
			return rc;
		}
		if (id)
			break;
		done++;
	}
	if (idle)
		*idle = id;
	batch_free(&b);
	return done;
}

/* ---- the sweep ---- */

struct sweep {
	uint64_t *ids;
	size_t n, cap;
	uint64_t last, position;
	int oom;
};

static int sweep_cb(void *ctx, const struct d4_store_pssl_key *k)
{
	struct sweep *w = ctx;
	if (k->id > w->position)
		return 1;
	w->last = k->id;
	if (k->certs < 2 || k->subjects < 2)
		return 0;
	if (w->n == w->cap) {
		size_t nc = w->cap ? 2 * w->cap : 64;
		uint64_t *ni = realloc(w->ids, nc * sizeof(*ni));
		if (!ni) {
			w->oom = 1;
			return D4_ENOMEM;
		}
		w->ids = ni;
		w->cap = nc;
	}
	w->ids[w->n++] = k->id;
	return 0;
}

int d4_analyze_weak_sweep(struct d4_analyze_weak *x, uint64_t *found)
{
	struct sweep w;
	uint64_t nfound = 0, after = 0;
	int rc = 0;
	memset(&w, 0, sizeof(w));
	w.position = x->position;
	if (found)
		*found = 0;
	while (!rc && after < x->position) {
		uint64_t before = w.last;
		w.n = 0;
		rc = d4_store_pssl_keys_after(x->s, after, READ_CHUNK, sweep_cb, &w);
		if (rc > 0)
			rc = 0;
		if (!rc && w.oom)
			rc = D4_ENOMEM;
		for (size_t i = 0; !rc && i < w.n; i++) {
			struct fscan ex = {.kind = D4_ANALYZE_WEAK_KIND_SHARED_KEY, .id = w.ids[i]};
			rc = fscan_run(x->s, &ex);
			if (rc || ex.found)
				continue;
			unsigned g = 0;
			rc = subject_groups(x->s, w.ids[i], &g);
			if (rc || g < 2)
				continue;
			struct d4_store_pssl_finding f;
			memset(&f, 0, sizeof(f));
			f.kind = D4_ANALYZE_WEAK_KIND_SHARED_KEY;
			f.id = w.ids[i];
			f.reason = (uint16_t)(g > 65535 ? 65535 : g);
			/* the position is the job's own, unchanged: only this
			 * thread writes it */
			rc = d4_store_pssl_weak_apply(x->s, &f, 1, x->position);
			if (!rc)
				nfound++;
		}
		if (rc || w.last == before)
			break;
		after = w.last;
	}
	free(w.ids);
	x->st.findings += nfound;
	if (!rc)
		x->st.sweeps++;
	else
		x->st.last_error = rc;
	if (found)
		*found = nfound;
	return rc;
}

/* ---- the thread ---- */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_running;
static struct d4_analyze_weak_stats g_st;

int d4_analyze_weak_stats_global(struct d4_analyze_weak_stats *out)
{
	pthread_mutex_lock(&g_mu);
	int rc = g_running ? 0 : D4_ENOTFOUND;
	if (!rc)
		*out = g_st;
	pthread_mutex_unlock(&g_mu);
	return rc;
}

static void publish(const struct d4_analyze_weak_stats *st, int running)
{
	pthread_mutex_lock(&g_mu);
	g_running = running;
	if (st)
		g_st = *st;
	pthread_mutex_unlock(&g_mu);
}

struct analyze_weak_runner {
	struct d4_store *s;
	struct d4_analyze_weak_opts o;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
};

static int runner_wait(struct analyze_weak_runner *r, uint64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->mu);
	while (!r->stop)
		if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) == ETIMEDOUT)
			break;
	int stop = r->stop;
	pthread_mutex_unlock(&r->mu);
	return stop;
}

static void *runner(void *arg)
{
	struct analyze_weak_runner *r = arg;
	struct d4_analyze_weak_stats st;
	memset(&st, 0, sizeof(st));
	/* named for ps/top (and the integration test's niceness check) */
	pthread_setname_np(pthread_self(), "d4-weakkeys");
	/* Linux applies the niceness to this thread only: the batch GCD yields
	 * to the ingest and the API */
	if (r->o.nice > 0 && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), r->o.nice) != 0)
		d4_warn("pssl: weak keys: cannot lower the job's priority: %s", strerror(errno));
	struct d4_analyze_weak *x = NULL;
	int rc;
	for (;;) {
		rc = d4_analyze_weak_new(r->s, &r->o, &x);
		if (!rc)
			break;
		st.state = rc == D4_ETOOBIG ? D4_ANALYZE_WEAK_FULL : D4_ANALYZE_WEAK_FAILED;
		st.last_error = rc;
		publish(&st, 1);
		if (rc != D4_ETOOBIG)
			d4_err("pssl: weak keys: cannot rebuild the set of moduli: %s (retrying in a minute)",
			       d4_strerror(rc));
		if (runner_wait(r, 60000))
			return NULL;
	}
	d4_info("pssl: weak keys: %llu moduli up to key %llu rebuilt in %llu ms", (unsigned long long)x->st.rebuilt,
		(unsigned long long)x->position, (unsigned long long)x->st.rebuild_ms);
	/* the first sweep once caught up after the start (a hub restarted more
	 * often than weak_rescan would otherwise never sweep), then every
	 * weak_rescan, never while keys wait */
	uint64_t last_sweep = 0;
	int swept = 0;
	int full_logged = 0, err_last = 0;
	uint64_t err_at = 0, err_wait = 0;
	for (;;) {
		int idle = 0;
		rc = d4_analyze_weak_step(x, 1, &idle);
		uint64_t wait = r->o.pause_ms;
		if (rc == D4_ETOOBIG) {
			x->st.state = D4_ANALYZE_WEAK_FULL;
			if (!full_logged)
				d4_err(
				    "pssl: weak keys: the set holds %llu moduli (%llu bytes) and the next keys would "
				    "take it above pssl.weak_max_keys (%llu) or pssl.weak_max_bytes (%llu): the "
				    "shared-prime search stops at key %llu (raise them and restart the hub)",
				    (unsigned long long)x->st.set_size, (unsigned long long)x->st.set_bytes,
				    (unsigned long long)r->o.max_keys, (unsigned long long)r->o.max_bytes,
				    (unsigned long long)x->position);
			full_logged = 1;
			wait = (uint64_t)r->o.interval_s * 1000;
		} else if (rc < 0) {
			uint64_t now = d4_now_ms();
			if (rc != err_last || now - err_at >= 60000) {
				d4_warn("pssl: weak keys: batch after key %llu: %s (retrying)",
					(unsigned long long)x->position, d4_strerror(rc));
				err_last = rc;
				err_at = now;
			}
			/* a failed batch rebuilds the set before it is retried:
			 * back off (1 s doubling to a minute) while the error
			 * lasts (a full map lasts until the operator acts) */
			err_wait = err_wait ? (err_wait * 2 > 60000 ? 60000 : err_wait * 2) : 1000;
			wait = err_wait;
		} else {
			err_wait = 0;
			x->st.state = D4_ANALYZE_WEAK_RUNNING;
			if (idle)
				wait = (uint64_t)r->o.interval_s * 1000;
		}
		if (r->o.rescan_s && rc >= 0 && idle &&
		    (!swept || d4_now_ms() - last_sweep >= (uint64_t)r->o.rescan_s * 1000)) {
			uint64_t found = 0;
			int src = d4_analyze_weak_sweep(x, &found);
			if (src)
				d4_warn("pssl: weak keys: shared-key sweep: %s", d4_strerror(src));
			else if (found)
				d4_info("pssl: weak keys: shared-key sweep: %llu new finding(s)",
					(unsigned long long)found);
			last_sweep = d4_now_ms();
			swept = 1;
		}
		publish(&x->st, 1);
		if (runner_wait(r, wait))
			break;
	}
	/* nothing to flush: every batch was committed whole or not at all */
	d4_analyze_weak_free(x);
	return NULL;
}

int analyze_weak_start(struct d4_store *s, const struct d4_analyze_weak_opts *o, struct analyze_weak_runner **out)
{
	char err[160];
	*out = NULL;
	if (d4_analyze_weak_opts_check(o, err, sizeof(err))) {
		d4_err("%s", err);
		return D4_EINVAL;
	}
	struct analyze_weak_runner *r = calloc(1, sizeof(*r));
	if (!r)
		return D4_ENOMEM;
	r->s = s;
	r->o = *o;
	opts_fill(&r->o);
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	struct d4_analyze_weak_stats st;
	memset(&st, 0, sizeof(st));
	publish(&st, 1);
	if (pthread_create(&r->th, NULL, runner, r) != 0) {
		publish(NULL, 0);
		pthread_cond_destroy(&r->cv);
		pthread_mutex_destroy(&r->mu);
		free(r);
		return D4_ENOMEM;
	}
	*out = r;
	return 0;
}

void analyze_weak_stop(struct analyze_weak_runner *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	/* a batch in progress finishes (its GCD is not interruptible) */
	pthread_join(r->th, NULL);
	publish(NULL, 0);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
