/* d4hub store — passive-DNS tuples and their indexes (schema 4: the tuple
 * table is clustered by name). Layout and rules: docs/pdns.md "Storage and
 * indexes" and docs/store.md. */
#include "d4_store_pdns.h"
#include "store_internal.h"

#include "d4_error.h"
#include "d4_log.h"
#include "d4_policy.h"
#include "d4_reader.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PDNS_VAL_V1    1u   /* meta values (cursors, counters) */
#define PDNS_REC_V2    2u   /* tuple records (schema 4: with the id) */
#define PDNS_REC_V3    3u   /* v2 + the origin hubs of received observations */
#define PDNS_REC_V4    4u   /* compact: name and rrtype from the key, varints */
#define PDNS_CURSOR_V2 2u   /* resume cursors over schema-4 keys */
#define PDNS_HASH      16u  /* truncated SHA-256 in keys */
#define PDNS_NK_FULL   400u /* names up to this length are stored whole in keys */
#define PDNS_NK_CUT    360u /* longer ones: first 360 bytes, 01, hash of the whole name */
#define PDNS_NK_MAX    (PDNS_NK_CUT + 1u + PDNS_HASH)
/* tuple key: name key || 00 || rrtype || H(rdata); index keys end in an
 * 8-byte id instead of the hash, so the tuple key is the longest */
#define PDNS_KEY_MAX  (PDNS_NK_FULL + 1u + 2u + PDNS_HASH)
#define PDNS_NAME_BUF (D4_PDNS_STORE_NAME_MAX + 2u)
#define PDNS_DAY      86400u
#define PDNS_REC_MAX                                                                                                   \
	(72u + 16u * D4_PDNS_SENSORS_KEEP + 3u * (4u + PDNS_NAME_BUF) + D4_PDNS_STORE_RDATA_MAX + 1u +                 \
	 16u * D4_PDNS_HUBS_KEEP)
#define PDNS_EXPIRE_DEF 10000u
#define PDNS_NEXT_ID	"pdns_next_id"

#define PDNS_F_ORG_MIXED 1u

/* Linear counting over a 64-bit sketch: round(64 ln(64 / zero bits)); all
 * bits set saturates at the value for one zero bit. */
static const uint16_t sketch_est[65] = {
    266, 266, 222, 196, 177, 163, 151, 142, 133, 126, 119, 113, 107, 102, 97, 93, 89, 85, 81, 78, 74, 71,
    68,	 65,  63,  60,	58,  55,  53,  51,  48,	 46,  44,  42,	40,  39,  37, 35, 33, 32, 30, 28, 27, 25,
    24,	 23,  21,  20,	18,  17,  16,  15,  13,	 12,  11,  10,	9,   7,	  6,  5,  4,  3,  2,  1,  0};

static MDB_val mv(const void *p, size_t n)
{
	return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

static int absent(struct d4_store *s)
{
	return s->dbi_absent[DBI_PDNS_TUPLES] || s->dbi_absent[DBI_PDNS_META];
}

/* The id-keyed layout (store_pdns_id.c, included at the end): the public
 * calls below hand over to it when the store is marked so. */
struct store_pdns_merge;
static unsigned store_pdns_layout(struct d4_store *s);
static int pid_merge_txn(struct d4_store *s, MDB_txn *txn, struct store_pdns_merge *m);
static int pid_query_run(struct d4_store *s, const struct d4_store_pdns_query *q,
			 int (*cb)(void *ctx, const struct d4_store_pdns_tuple *t), void *ctx,
			 struct d4_store_pdns_qresult *res);
static int pid_seen(struct d4_store *s, const struct d4_store_pdns_obs *obs, size_t n, uint64_t *count,
		    uint32_t *sensors);
static int pid_info(struct d4_store *s, struct d4_store_pdns_info *out);
static int pid_expire(struct d4_store *s, uint64_t cutoff, unsigned max_per_txn, uint64_t *removed);

/* ---- hashing ---- */

/* Fetched once: EVP_sha256() would make OpenSSL 3 look the algorithm up
 * again at every init (a lock and a hash lookup per observation). */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int sha16(EVP_MD_CTX *ctx, const void *a, size_t na, const void *b, size_t nb, uint8_t out[PDNS_HASH])
{
	uint8_t full[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	pthread_once(&sha256_once, sha256_fetch);
	if (!sha256_md || EVP_DigestInit_ex(ctx, sha256_md, NULL) != 1 || EVP_DigestUpdate(ctx, a, na) != 1 ||
	    (nb && EVP_DigestUpdate(ctx, b, nb) != 1) || EVP_DigestFinal_ex(ctx, full, &len) != 1 || len < PDNS_HASH)
		return D4_EIO;
	memcpy(out, full, PDNS_HASH);
	return 0;
}

/* ---- names ---- */

/* Lower-cases ASCII and makes the name absolute. Returns the length, or 0 if
 * empty / too long. out has PDNS_NAME_BUF bytes and is NUL-terminated. */
static size_t name_norm(const char *in, size_t n, char *out)
{
	if (!in || n == 0 || n > D4_PDNS_STORE_NAME_MAX - 2)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	/* a trailing dot that is not an escaped "\." ends the name */
	size_t bs = 0;
	for (size_t i = n - 1; n >= 2 && i > 0 && out[i - 1] == '\\'; i--)
		bs++;
	if (out[n - 1] != '.' || (bs & 1))
		out[n++] = '.';
	out[n] = 0;
	return n;
}

/* Labels of an absolute presentation name in reverse order, each followed by
 * a dot ("www.example.com." -> "com.example.www."; "." -> ""). Escapes
 * (\. \\ \DDD) stay inside their label. out has n + 1 bytes. */
static size_t name_reverse(const char *name, size_t n, char *out)
{
	size_t starts[PDNS_NAME_BUF], ends[PDNS_NAME_BUF]; /* "a..." has as many labels as bytes */
	size_t nl = 0, st = 0;
	if (n == 1 && name[0] == '.')
		return 0;
	for (size_t i = 0; i < n;) {
		if (name[i] == '\\') {
			i += (i + 3 < n && name[i + 1] >= '0' && name[i + 1] <= '9') ? 4 : 2;
			continue;
		}
		if (name[i] == '.') {
			starts[nl] = st;
			ends[nl++] = i;
			st = i + 1;
		}
		i++;
	}
	if (st < n) { /* not absolute (cannot happen after name_norm) */
		starts[nl] = st;
		ends[nl++] = n;
	}
	size_t o = 0;
	while (nl--) {
		memcpy(out + o, name + starts[nl], ends[nl] - starts[nl]);
		o += ends[nl] - starts[nl];
		out[o++] = '.';
	}
	out[o] = 0;
	return o;
}

/* Key form of a (possibly reversed) name: whole up to PDNS_NK_FULL bytes,
 * else the first PDNS_NK_CUT bytes, 01 and a hash of the whole name. */
static int name_key(EVP_MD_CTX *ctx, const char *name, size_t n, uint8_t *out, size_t *len)
{
	if (n <= PDNS_NK_FULL) {
		memcpy(out, name, n);
		*len = n;
		return 0;
	}
	memcpy(out, name, PDNS_NK_CUT);
	out[PDNS_NK_CUT] = 1;
	*len = PDNS_NK_MAX;
	return sha16(ctx, name, n, NULL, 0, out + PDNS_NK_CUT + 1);
}

/* Position (1-based) of the rdata field holding a name, 0 for none, -1 for
 * the whole rdata. */
static int rdata_name_field(uint16_t type)
{
	switch (type) {
	case 2:	 /* NS */
	case 3:	 /* MD */
	case 4:	 /* MF */
	case 5:	 /* CNAME */
	case 7:	 /* MB */
	case 8:	 /* MG */
	case 9:	 /* MR */
	case 12: /* PTR */
	case 39: /* DNAME */ return -1;
	case 6: return 1;  /* SOA mname */
	case 15:	   /* MX */
	case 18:	   /* AFSDB */
	case 21:	   /* RT */
	case 36:	   /* KX */
	case 64:	   /* SVCB target */
	case 65: return 2; /* HTTPS target */
	case 33: return 4; /* SRV target */
	case 35: return 6; /* NAPTR replacement */
	default: return 0;
	}
}

/* The (normalised) name inside rdata, or 0 when the type carries none or
 * it is the root / not a name. out has PDNS_NAME_BUF bytes. */
static size_t rdata_name(uint16_t type, const char *rd, size_t n, char *out)
{
	int f = rdata_name_field(type);
	if (f == 0)
		return 0;
	size_t i = 0, b = 0, e = 0;
	if (f < 0) {
		while (i < n && (rd[i] == ' ' || rd[i] == '\t'))
			i++;
		b = i;
		e = n;
		while (e > b && (rd[e - 1] == ' ' || rd[e - 1] == '\t'))
			e--;
	} else {
		for (int k = 1;; k++) {
			while (i < n && (rd[i] == ' ' || rd[i] == '\t'))
				i++;
			if (i >= n) {
				/* passivedns prints MX and SRV as their target name
				 * alone: one field where the full form has 2 or 4 is
				 * that name (docs/pdns.md, "name-only forms") */
				if (k == 2 && (type == 15 || type == 33) && strspn(rd + b, "0123456789") < e - b)
					break;
				return 0;
			}
			b = i;
			if (rd[i] == '"') { /* quoted string (NAPTR): never the name field */
				for (i++; i < n && rd[i] != '"'; i++)
					if (rd[i] == '\\')
						i++;
				i++;
			} else {
				while (i < n && rd[i] != ' ' && rd[i] != '\t')
					i += rd[i] == '\\' ? 2 : 1;
			}
			if (i > n)
				i = n;
			e = i;
			if (k == f)
				break;
		}
	}
	if (e <= b || rd[b] == '"' || (e - b == 1 && rd[b] == '.'))
		return 0;
	return name_norm(rd + b, e - b, out);
}

/* A/AAAA rdata -> family + 16-byte address (v4-mapped). 0 when not an IP. */
static int rdata_ip(uint16_t type, const char *rd, size_t n, uint8_t addr[16])
{
	char tmp[64];
	if ((type != 1 && type != 28) || n == 0 || n >= sizeof(tmp))
		return 0;
	memcpy(tmp, rd, n);
	tmp[n] = 0;
	if (type == 1) {
		memset(addr, 0, 10);
		addr[10] = addr[11] = 0xff;
		return inet_pton(AF_INET, tmp, addr + 12) == 1 ? 4 : 0;
	}
	return inet_pton(AF_INET6, tmp, addr) == 1 ? 6 : 0;
}

/* ---- records ---- */

struct tup {
	uint64_t id;
	uint16_t rrtype;
	uint64_t tf, tl, count;
	uint8_t tlp, flags;
	uint8_t org[16];
	uint8_t nsens;
	uint8_t sens[D4_PDNS_SENSORS_KEEP][16];
	uint64_t sketch;
	const char *bw, *name, *rd;
	size_t bwlen, namelen, rdlen;
	uint8_t nhubs;
	uint8_t hubs[D4_PDNS_HUBS_KEEP][16];
	char rdtxt[48]; /* id-keyed layout: the text of an address kept in binary */
};

static size_t put_varint(uint8_t *b, uint64_t v);
static uint64_t rd_varint(struct d4_reader *r);

/* Record v4 (docs/store.md "pdns_tuples"): the name and the rrtype are the
 * key's (a name cut in the key is kept in the record), numbers are varints,
 * time_last is a delta from time_first, the org and the sketch are there
 * only when set, and a bailiwick that ends the name is a length. */
#define PDNS_R4_TLP    7u
#define PDNS_R4_MIXED  8u
#define PDNS_R4_ORG    16u
#define PDNS_R4_SKETCH 32u
#define PDNS_R4_NAME   64u
#define PDNS_R4_HUBS   128u
#define PDNS_KEY_TAIL  (1u + 2u + PDNS_HASH) /* 00 || rrtype || H(rdata) after the name key */

static const uint8_t zero16[16];

/* The bailiwick as a byte suffix of the name: its length, 0 if not one. */
static size_t bw_suffix(const struct tup *t)
{
	if (!t->bwlen || t->bwlen > t->namelen || memcmp(t->name + t->namelen - t->bwlen, t->bw, t->bwlen))
		return 0;
	return t->bwlen;
}

static size_t enc_tup(const struct tup *t, uint8_t *b)
{
	size_t o = 0;
	int org = memcmp(t->org, zero16, 16) != 0, name = t->namelen > PDNS_NK_FULL;
	size_t sfx = bw_suffix(t);
	b[o++] = PDNS_REC_V4;
	o += put_varint(b + o, t->id);
	o += put_varint(b + o, t->tf);
	o += put_varint(b + o, t->tl - t->tf);
	o += put_varint(b + o, t->count);
	b[o++] = (uint8_t)((t->tlp & PDNS_R4_TLP) | ((t->flags & PDNS_F_ORG_MIXED) ? PDNS_R4_MIXED : 0) |
			   (org ? PDNS_R4_ORG : 0) | (t->sketch ? PDNS_R4_SKETCH : 0) | (name ? PDNS_R4_NAME : 0) |
			   (t->nhubs ? PDNS_R4_HUBS : 0));
	if (org) {
		memcpy(b + o, t->org, 16);
		o += 16;
	}
	b[o++] = t->nsens;
	memcpy(b + o, t->sens, 16u * t->nsens);
	o += 16u * t->nsens;
	if (t->sketch) {
		d4_put_u64be(b + o, t->sketch);
		o += 8;
	}
	/* strings carry their NUL so that readers can hand out pointers */
	if (sfx) {
		o += put_varint(b + o, (uint64_t)sfx << 1 | 1u);
	} else {
		o += put_varint(b + o, (uint64_t)t->bwlen << 1);
		if (t->bwlen) {
			memcpy(b + o, t->bw, t->bwlen);
			o += t->bwlen;
			b[o++] = 0;
		}
	}
	if (name) {
		o += put_varint(b + o, t->namelen);
		memcpy(b + o, t->name, t->namelen);
		o += t->namelen;
		b[o++] = 0;
	}
	o += put_varint(b + o, t->rdlen);
	memcpy(b + o, t->rd, t->rdlen);
	o += t->rdlen;
	b[o++] = 0;
	if (t->nhubs) {
		b[o++] = t->nhubs;
		memcpy(b + o, t->hubs, 16u * t->nhubs);
		o += 16u * t->nhubs;
	}
	return o;
}

static const char *rd_str(struct d4_reader *r, size_t len, size_t max)
{
	if (len > max)
		d4_rd_fail(r, D4_ECORRUPT);
	const uint8_t *p = d4_rd_ptr(r, len + 1);
	if (!p || p[len] != 0)
		return d4_rd_fail(r, D4_ECORRUPT), NULL;
	return (const char *)p;
}

/* A v4 record; its key gives the name and the rrtype. One encoding per
 * tuple: what enc_tup writes, nothing else. */
static int dec_tup4(struct d4_reader *r, const uint8_t *key, size_t klen, struct tup *t)
{
	if (klen < PDNS_KEY_TAIL + 1 || key[klen - PDNS_KEY_TAIL] != 0)
		return D4_ECORRUPT;
	size_t nkl = klen - PDNS_KEY_TAIL;
	t->rrtype = (uint16_t)(key[nkl + 1] << 8 | key[nkl + 2]);
	t->id = rd_varint(r);
	t->tf = rd_varint(r);
	uint64_t d = rd_varint(r);
	t->tl = t->tf + d;
	t->count = rd_varint(r);
	uint8_t fl = d4_rd_u8(r);
	if (d4_rd_error(r) || t->tl < t->tf)
		return D4_ECORRUPT;
	t->tlp = fl & PDNS_R4_TLP;
	t->flags = (fl & PDNS_R4_MIXED) ? PDNS_F_ORG_MIXED : 0;
	memset(t->org, 0, 16);
	if (fl & PDNS_R4_ORG) {
		d4_rd_copy(r, t->org, 16);
		if (!d4_rd_error(r) && !memcmp(t->org, zero16, 16))
			return D4_ECORRUPT;
	}
	t->nsens = d4_rd_u8(r);
	if (t->nsens > D4_PDNS_SENSORS_KEEP)
		return D4_ECORRUPT;
	d4_rd_copy(r, t->sens, 16u * t->nsens);
	t->sketch = 0;
	if (fl & PDNS_R4_SKETCH) {
		t->sketch = d4_rd_u64be(r);
		if (!d4_rd_error(r) && !t->sketch)
			return D4_ECORRUPT;
	}
	uint64_t bw = rd_varint(r);
	if (d4_rd_error(r) || bw >> 1 > PDNS_NAME_BUF)
		return D4_ECORRUPT;
	t->bwlen = (size_t)(bw >> 1);
	t->bw = NULL;
	if (!(bw & 1) && t->bwlen)
		t->bw = rd_str(r, t->bwlen, PDNS_NAME_BUF);
	if (fl & PDNS_R4_NAME) {
		uint64_t nl = rd_varint(r);
		if (nl <= PDNS_NK_FULL || nl > PDNS_NAME_BUF || nkl != PDNS_NK_MAX)
			return D4_ECORRUPT;
		t->namelen = (size_t)nl;
		t->name = rd_str(r, t->namelen, PDNS_NAME_BUF);
	} else {
		if (nkl > PDNS_NK_FULL)
			return D4_ECORRUPT;
		t->namelen = nkl;
		t->name = (const char *)key; /* followed by the key's 00 */
	}
	uint64_t rl = rd_varint(r);
	if (d4_rd_error(r) || rl > D4_PDNS_STORE_RDATA_MAX)
		return D4_ECORRUPT;
	t->rdlen = (size_t)rl;
	t->rd = rd_str(r, t->rdlen, D4_PDNS_STORE_RDATA_MAX);
	t->nhubs = 0;
	if (fl & PDNS_R4_HUBS) {
		t->nhubs = d4_rd_u8(r);
		if (t->nhubs == 0 || t->nhubs > D4_PDNS_HUBS_KEEP)
			return D4_ECORRUPT;
		d4_rd_copy(r, t->hubs, 16u * t->nhubs);
	}
	if (d4_rd_error(r) || d4_rd_left(r) || t->tlp > 7)
		return D4_ECORRUPT;
	if (bw & 1) { /* the name's last bwlen bytes */
		if (!t->bwlen || t->bwlen > t->namelen)
			return D4_ECORRUPT;
		t->bw = t->name + t->namelen - t->bwlen;
	} else if (t->bwlen && bw_suffix(t)) {
		return D4_ECORRUPT; /* written as a suffix */
	}
	if ((t->flags & PDNS_F_ORG_MIXED) && (fl & PDNS_R4_ORG))
		return D4_ECORRUPT;
	return 0;
}

/* Decodes the record p[0..n) of the tuple with key key[0..klen) (v2 and v3,
 * written before record v4, hold their own name and rrtype). */
static int dec_tup(const uint8_t *key, size_t klen, const uint8_t *p, size_t n, struct tup *t)
{
	struct d4_reader r;
	d4_rd_init(&r, p, n);
	uint8_t ver = d4_rd_u8(&r);
	if (ver == PDNS_REC_V4)
		return dec_tup4(&r, key, klen, t);
	if (ver != PDNS_REC_V2 && ver != PDNS_REC_V3)
		return D4_ECORRUPT;
	t->id = d4_rd_u64be(&r);
	t->rrtype = d4_rd_u16be(&r);
	t->tf = d4_rd_u64be(&r);
	t->tl = d4_rd_u64be(&r);
	t->count = d4_rd_u64be(&r);
	t->tlp = d4_rd_u8(&r);
	t->flags = d4_rd_u8(&r);
	d4_rd_copy(&r, t->org, 16);
	t->nsens = d4_rd_u8(&r);
	if (t->nsens > D4_PDNS_SENSORS_KEEP)
		return D4_ECORRUPT;
	d4_rd_copy(&r, t->sens, 16u * t->nsens);
	t->sketch = d4_rd_u64be(&r);
	t->bwlen = d4_rd_u16be(&r);
	t->bw = rd_str(&r, t->bwlen, PDNS_NAME_BUF);
	t->namelen = d4_rd_u16be(&r);
	t->name = rd_str(&r, t->namelen, PDNS_NAME_BUF);
	t->rdlen = d4_rd_u32be(&r);
	t->rd = rd_str(&r, t->rdlen, D4_PDNS_STORE_RDATA_MAX);
	t->nhubs = 0;
	if (ver == PDNS_REC_V3) {
		t->nhubs = d4_rd_u8(&r);
		if (t->nhubs == 0 || t->nhubs > D4_PDNS_HUBS_KEEP)
			return D4_ECORRUPT;
		d4_rd_copy(&r, t->hubs, 16u * t->nhubs);
	}
	if (d4_rd_error(&r) || d4_rd_left(&r) || t->tlp > 7)
		return D4_ECORRUPT;
	return 0;
}

static unsigned popcount64(uint64_t x)
{
	unsigned c = 0;
	for (; x; x &= x - 1)
		c++;
	return c;
}

static uint32_t tup_sensors(const struct tup *t)
{
	return t->nsens + (t->sketch ? sketch_est[64 - popcount64(t->sketch)] : 0);
}

static void tup_out(const struct tup *t, struct d4_store_pdns_tuple *o)
{
	memset(o, 0, sizeof(*o));
	o->id = t->id;
	o->rrname = t->name;
	o->rrname_len = t->namelen;
	o->rrtype = t->rrtype;
	o->rdata = t->rd;
	o->rdata_len = t->rdlen;
	o->bailiwick = t->bwlen ? t->bw : NULL;
	o->bailiwick_len = t->bwlen;
	o->time_first = t->tf;
	o->time_last = t->tl;
	o->count = t->count;
	o->tlp = t->tlp;
	memcpy(o->org, t->org, 16);
	o->org_mixed = (t->flags & PDNS_F_ORG_MIXED) ? 1 : 0;
	o->nsensors = t->nsens;
	memcpy(o->sensors, t->sens, 16u * t->nsens);
	o->sensor_count = t->nsens + (t->sketch ? sketch_est[64 - popcount64(t->sketch)] : 0);
	o->nhubs = t->nhubs;
	memcpy(o->hubs, t->hubs, 16u * t->nhubs);
}

int store_pdns_tuple_decode(const uint8_t *key, size_t klen, const uint8_t *p, size_t n,
			    struct d4_store_pdns_tuple *out)
{
	struct tup t;
	int rc = dec_tup(key, klen, p, n, &t);
	if (rc)
		return rc;
	tup_out(&t, out);
	return 0;
}

size_t store_pdns_tuple_recode(const uint8_t *key, size_t klen, const uint8_t *p, size_t n, uint8_t *out)
{
	struct tup t;
	return dec_tup(key, klen, p, n, &t) ? 0 : enc_tup(&t, out);
}

/* ---- merge rules ---- */

static uint8_t tlp_norm(uint8_t t)
{
	return (t >= 1 && t <= 6) ? t : 6; /* NONE / UNCLEAR / invalid: fail closed (RED) */
}

static void sens_add(struct tup *t, const uint8_t u[16])
{
	unsigned lo = 0, hi = t->nsens;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		int c = memcmp(t->sens[mid], u, 16);
		if (c == 0)
			return;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (t->nsens < D4_PDNS_SENSORS_KEEP) {
		memmove(t->sens[lo + 1], t->sens[lo], 16u * (t->nsens - lo));
		memcpy(t->sens[lo], u, 16);
		t->nsens++;
		return;
	}
	/* one bit per sensor beyond the kept set (splitmix64 finaliser: every
	 * input bit reaches the top bits that pick it) */
	uint64_t h = d4_get_u64be(u) ^ (d4_get_u64be(u + 8) * 0x9e3779b97f4a7c15ull);
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
	h ^= h >> 31;
	t->sketch |= 1ull << (h >> 58);
}

/* Sorted, bounded set: once full, further hubs are not kept (the tuple's
 * counts still hold their observations). */
static void hub_add(struct tup *t, const uint8_t h[16])
{
	unsigned i = 0;
	while (i < t->nhubs && memcmp(t->hubs[i], h, 16) < 0)
		i++;
	if ((i < t->nhubs && !memcmp(t->hubs[i], h, 16)) || t->nhubs >= D4_PDNS_HUBS_KEEP)
		return;
	memmove(t->hubs[i + 1], t->hubs[i], 16u * (t->nhubs - i));
	memcpy(t->hubs[i], h, 16);
	t->nhubs++;
}

static unsigned label_count(const char *n, size_t len)
{
	unsigned c = 0;
	for (size_t i = 0; i < len; i++) {
		if (n[i] == '\\')
			i++;
		else if (n[i] == '.')
			c++;
	}
	return c;
}

/* The more specific (more labels) bailiwick wins, ties the smaller bytes:
 * independent of the order observations arrive in. */
static int bw_better(const char *a, size_t na, const char *b, size_t nb)
{
	unsigned la = label_count(a, na), lb = label_count(b, nb);
	if (la != lb)
		return la > lb;
	int c = memcmp(a, b, na < nb ? na : nb);
	return c < 0 || (c == 0 && na < nb);
}

/* ---- keys ---- */

/* Key of a tuple in pdns_tuples: name key || 00 || u16 rrtype || H(rdata).
 * Name-ordered, so that an exact or right-wildcard lookup is one range scan
 * over the records themselves; rh gets H(rdata) (also the raw-rdata key). */
static int tuple_key(EVP_MD_CTX *ctx, const char *name, size_t nlen, uint16_t type, const char *rd, size_t rdlen,
		     uint8_t *k, size_t *klen, uint8_t rh[PDNS_HASH])
{
	size_t nkl;
	int rc = name_key(ctx, name, nlen, k, &nkl);
	if (!rc)
		rc = sha16(ctx, rd, rdlen, NULL, 0, rh);
	if (rc)
		return rc;
	k[nkl] = 0;
	d4_put_u16be(k + nkl + 1, type);
	memcpy(k + nkl + 3, rh, PDNS_HASH);
	*klen = nkl + 3 + PDNS_HASH;
	return 0;
}

static size_t key_name_entry(const uint8_t *nk, size_t nklen, uint16_t type, uint64_t id, uint8_t *k)
{
	memcpy(k, nk, nklen);
	k[nklen] = 0;
	d4_put_u16be(k + nklen + 1, type);
	d4_put_u64be(k + nklen + 3, id);
	return nklen + 11;
}

int store_pdns_index_tuple_key(int dbi, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen, uint8_t *out,
			       size_t *outlen)
{
	if (dbi != DBI_PDNS_RNAME || vlen != PDNS_HASH) {
		if (vlen > PDNS_KEY_MAX)
			return D4_ECORRUPT;
		memcpy(out, v, vlen);
		*outlen = vlen;
		return 0;
	}
	/* reversed name || 00 || rrtype || id */
	if (klen < 11 || klen - 11 > PDNS_NK_FULL || k[klen - 11] != 0)
		return D4_ECORRUPT;
	size_t rl = klen - 11;
	char rev[PDNS_NK_FULL + 1];
	memcpy(rev, k, rl);
	rev[rl] = 0;
	size_t nl = name_reverse(rev, rl, (char *)out);
	if (nl == 0) { /* the root */
		out[0] = '.';
		nl = 1;
	}
	if (nl != rl && !(rl == 0 && nl == 1))
		return D4_ECORRUPT;
	out[nl] = 0;
	memcpy(out + nl + 1, k + klen - 10, 2);
	memcpy(out + nl + 3, v, PDNS_HASH);
	*outlen = nl + 3 + PDNS_HASH;
	return 0;
}

/* The value of pdns_rname entry rk: the tuple key pk, less what the entry's
 * key already holds — H(rdata) alone when the reversed name and the rrtype
 * give back the rest (a name kept whole in keys, whose labels reverse back
 * to it), else the whole tuple key (as entries written before hold). */
static size_t rname_val(const uint8_t *rk, size_t rklen, const uint8_t *pk, size_t pklen, const uint8_t **v)
{
	uint8_t back[PDNS_KEY_MAX];
	size_t bl = 0;
	if (pklen > PDNS_HASH &&
	    !store_pdns_index_tuple_key(DBI_PDNS_RNAME, rk, rklen, pk + pklen - PDNS_HASH, PDNS_HASH, back, &bl) &&
	    bl == pklen && !memcmp(back, pk, pklen)) {
		*v = pk + pklen - PDNS_HASH;
		return PDNS_HASH;
	}
	*v = pk;
	return pklen;
}

/* Secondary index keys of one tuple; each entry's value is the tuple key. */
struct idx_keys {
	uint8_t rname[PDNS_KEY_MAX], rdn[PDNS_KEY_MAX], rdrn[PDNS_KEY_MAX];
	size_t rnamelen, rdnlen, rdrnlen;
	uint8_t ip[25];
	int has_ip;
	uint8_t raw[PDNS_HASH + 8];
	uint8_t time[12];
};

static void time_key(uint64_t tl, uint64_t id, uint8_t k[12])
{
	d4_put_u32be(k, (uint32_t)(tl / PDNS_DAY));
	d4_put_u64be(k + 4, id);
}

/* Every secondary key of tuple (name, type, rdata) with id; name
 * normalised, rh = H(rdata). */
static int build_keys(EVP_MD_CTX *ctx, const char *name, size_t nlen, uint16_t type, const char *rd, size_t rdlen,
		      const uint8_t rh[PDNS_HASH], uint64_t id, uint64_t tl, struct idx_keys *k)
{
	char tmp[PDNS_NAME_BUF], rn[PDNS_NAME_BUF];
	uint8_t nk[PDNS_NK_FULL + 1];
	size_t nkl;
	int rc;
	size_t rl = name_reverse(name, nlen, tmp);
	if ((rc = name_key(ctx, tmp, rl, nk, &nkl)))
		return rc;
	k->rnamelen = key_name_entry(nk, nkl, type, id, k->rname);
	k->rdnlen = k->rdrnlen = 0;
	size_t dl = rdata_name(type, rd, rdlen, rn);
	if (dl) {
		if ((rc = name_key(ctx, rn, dl, nk, &nkl)))
			return rc;
		k->rdnlen = key_name_entry(nk, nkl, type, id, k->rdn);
		rl = name_reverse(rn, dl, tmp);
		if ((rc = name_key(ctx, tmp, rl, nk, &nkl)))
			return rc;
		k->rdrnlen = key_name_entry(nk, nkl, type, id, k->rdrn);
	}
	int fam = rdata_ip(type, rd, rdlen, k->ip + 1);
	k->has_ip = fam != 0;
	k->ip[0] = (uint8_t)fam;
	d4_put_u64be(k->ip + 17, id);
	memcpy(k->raw, rh, PDNS_HASH);
	d4_put_u64be(k->raw + PDNS_HASH, id);
	time_key(tl, id, k->time);
	return 0;
}

/* A raw-rdata query finds this tuple through another index: its address
 * (IP index) or its whole rdata as a name (rdata-name index), so it needs
 * no raw entry — one random insert fewer per new tuple. */
static int raw_elided(uint16_t type, const struct idx_keys *k)
{
	return k->has_ip || (rdata_name_field(type) < 0 && k->rdnlen);
}

/* ---- apply ---- */

/* A growable byte arena; entries refer to it by offset while it grows. */
struct arena {
	uint8_t *p;
	size_t len, cap;
};

static int arena_add(struct arena *ar, const void *a, size_t na, size_t *off)
{
	if (ar->len + na > ar->cap) {
		size_t nc = ar->cap ? ar->cap : 64u << 10;
		while (nc < ar->len + na)
			nc *= 2;
		uint8_t *np = realloc(ar->p, nc);
		if (!np)
			return D4_ENOMEM;
		ar->p = np;
		ar->cap = nc;
	}
	memcpy(ar->p + ar->len, a, na);
	*off = ar->len;
	ar->len += na;
	return 0;
}

/* An observation of the batch with its tuple key (offset into keys, then a
 * pointer once the arena stops growing). */
struct apply_ord {
	union {
		size_t off;
		const uint8_t *p;
	} k;
	uint64_t pfx; /* the key's first 8 bytes, big-endian, zero-padded */
	uint32_t klen, i;
};

/* The first 8 bytes of a key as a number that orders like the bytes: most
 * comparisons of a batch sort end there, without a call to memcmp. Equal
 * prefixes (or a shorter key padded with zeros) fall back to the bytes. */
static uint64_t key_pfx(const uint8_t *k, size_t n)
{
	uint8_t b[8] = {0};
	memcpy(b, k, n < 8 ? n : 8);
	return d4_get_u64be(b);
}

static int ord_cmp(const struct apply_ord *a, const struct apply_ord *b)
{
	int c = memcmp(a->k.p, b->k.p, a->klen < b->klen ? a->klen : b->klen);
	if (c)
		return c;
	if (a->klen != b->klen)
		return a->klen < b->klen ? -1 : 1;
	return (a->i > b->i) - (a->i < b->i);
}

static int ord_less(const struct apply_ord *a, const struct apply_ord *b)
{
	if (a->pfx != b->pfx)
		return a->pfx < b->pfx;
	return ord_cmp(a, b) < 0;
}

/* An index entry put after the tuples: entries of a batch are sorted per
 * table and inserted in key order, so each leaf is descended into while its
 * path is still in the cache (the keys of one table are scattered). */
struct dput {
	union {
		size_t off;
		const uint8_t *p;
	} k, v;
	uint64_t pfx; /* key_pfx of k */
	uint16_t klen, vlen;
	uint8_t dbi;
};

static int dput_less(const struct dput *a, const struct dput *b)
{
	if (a->dbi != b->dbi)
		return a->dbi < b->dbi;
	if (a->pfx != b->pfx)
		return a->pfx < b->pfx;
	int c = memcmp(a->k.p, b->k.p, a->klen < b->klen ? a->klen : b->klen);
	return c ? c < 0 : a->klen < b->klen;
}

/* A stable bottom-up merge sort with the comparison inlined (qsort's call
 * per comparison and its byte-wise element moves were a tenth of the ingest's
 * CPU): insertion sort of runs of 8, then merges through one buffer of n
 * elements. n log n whatever the keys (they come from the senders). */
#define PDNS_SORT_DEFINE(NAME, T, LESS)                                                                                \
	static int NAME(T *v, size_t n)                                                                                \
	{                                                                                                              \
		if (n < 2)                                                                                             \
			return 0;                                                                                      \
		for (size_t r = 0; r < n; r += 8) {                                                                    \
			size_t e = r + 8 < n ? r + 8 : n;                                                              \
			for (size_t j = r + 1; j < e; j++) {                                                           \
				T x = v[j];                                                                            \
				size_t k = j;                                                                          \
				for (; k > r && LESS(&x, &v[k - 1]); k--)                                              \
					v[k] = v[k - 1];                                                               \
				v[k] = x;                                                                              \
			}                                                                                              \
		}                                                                                                      \
		if (n <= 8)                                                                                            \
			return 0;                                                                                      \
		T *tmp = malloc(n * sizeof(T));                                                                        \
		if (!tmp)                                                                                              \
			return D4_ENOMEM;                                                                              \
		T *a = v, *b = tmp;                                                                                    \
		for (size_t w = 8; w < n; w *= 2) {                                                                    \
			for (size_t lo = 0; lo < n; lo += 2 * w) {                                                     \
				size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;            \
				size_t i = lo, j = mid, o = lo;                                                        \
				while (i < mid && j < hi)                                                              \
					b[o++] = LESS(&a[j], &a[i]) ? a[j++] : a[i++];                                 \
				while (i < mid)                                                                        \
					b[o++] = a[i++];                                                               \
				while (j < hi)                                                                         \
					b[o++] = a[j++];                                                               \
			}                                                                                              \
			T *t = a;                                                                                      \
			a = b;                                                                                         \
			b = t;                                                                                         \
		}                                                                                                      \
		if (a != v)                                                                                            \
			memcpy(v, a, n * sizeof(T));                                                                   \
		free(tmp);                                                                                             \
		return 0;                                                                                              \
	}

PDNS_SORT_DEFINE(ord_sort, struct apply_ord, ord_less)
PDNS_SORT_DEFINE(dput_sort, struct dput, dput_less)

struct apply_ctx {
	struct d4_store *s;
	MDB_txn *txn;
	MDB_cursor *tc; /* on pdns_tuples, for the merge's transaction */
	EVP_MD_CTX *md;
	uint8_t *rec;
	struct idx_keys *keys;
	uint64_t next_id;
	struct arena keyar, dar;
	struct dput *dp;
	size_t ndp, capdp;
	const uint8_t *const *hubs;	    /* per observation, NULL: local */
	struct d4_store_pdns_side_obs *run; /* per observation: its tuple after its merge (side records), or NULL */
	char name[PDNS_NAME_BUF], gname[PDNS_NAME_BUF], bw[PDNS_NAME_BUF], gbw[PDNS_NAME_BUF];
};

static int put(struct apply_ctx *a, enum store_dbi d, const void *k, size_t kl, const void *v, size_t vl,
	       unsigned flags)
{
	MDB_val key = mv(k, kl), val = mv(v, vl);
	return store_rc(mdb_put(a->txn, a->s->dbi[d], &key, &val, flags), "pdns put");
}

static int defer_put(struct apply_ctx *a, enum store_dbi d, const void *k, size_t kl, const void *v, size_t vl)
{
	if (a->ndp == a->capdp) {
		size_t nc = a->capdp ? a->capdp * 2 : 1024;
		struct dput *nd = realloc(a->dp, nc * sizeof(*nd));
		if (!nd)
			return D4_ENOMEM;
		a->dp = nd;
		a->capdp = nc;
	}
	struct dput *e = &a->dp[a->ndp];
	if (arena_add(&a->dar, k, kl, &e->k.off) || arena_add(&a->dar, v, vl, &e->v.off))
		return D4_ENOMEM;
	e->klen = (uint16_t)kl;
	e->vlen = (uint16_t)vl;
	e->dbi = (uint8_t)d;
	a->ndp++;
	return 0;
}

static int flush_puts(struct apply_ctx *a)
{
	for (size_t i = 0; i < a->ndp; i++) {
		a->dp[i].k.p = a->dar.p + a->dp[i].k.off;
		a->dp[i].v.p = a->dar.p + a->dp[i].v.off;
		a->dp[i].pfx = key_pfx(a->dp[i].k.p, a->dp[i].klen);
	}
	int rc = dput_sort(a->dp, a->ndp);
	/* one cursor per table, kept from one key to the next: LMDB finds a key
	 * that falls in the cursor's current leaf (the time index's new entries
	 * are appended at its end) without descending from the root */
	MDB_cursor *c = NULL;
	for (size_t i = 0; i < a->ndp && !rc; i++) {
		const struct dput *e = &a->dp[i];
		if (!c || e->dbi != a->dp[i - 1].dbi) {
			if (c)
				mdb_cursor_close(c);
			c = NULL;
			if ((rc = store_rc(mdb_cursor_open(a->txn, a->s->dbi[e->dbi], &c), "pdns cursor")))
				break;
		}
		MDB_val key = mv(e->k.p, e->klen), val = mv(e->v.p, e->vlen);
		rc = store_rc(mdb_cursor_put(c, &key, &val, 0), "pdns put");
	}
	if (c)
		mdb_cursor_close(c);
	return rc;
}

static size_t obs_name(const struct d4_store_pdns_obs *o, char *out)
{
	return name_norm(o->rrname, o->rrname_len ? o->rrname_len : (o->rrname ? strlen(o->rrname) : 0), out);
}

static size_t obs_rdlen(const struct d4_store_pdns_obs *o)
{
	return o->rdata_len ? o->rdata_len : (o->rdata ? strlen(o->rdata) : 0);
}

/* Merges observation o into t (first: t is a new tuple made from o). The
 * rules are those of one observation at a time, in the batch's order. */
static void obs_merge(struct apply_ctx *a, struct tup *t, const struct d4_store_pdns_obs *o, const uint8_t *hub,
		      int first)
{
	uint64_t tf = o->time_first, tl = o->time_last, cnt = o->count ? o->count : 1;
	if (tl < tf) {
		uint64_t x = tl;
		tl = tf;
		tf = x;
	}
	uint8_t tlp = tlp_norm(o->tlp);
	if (first) {
		t->tf = tf;
		t->tl = tl;
		t->count = cnt;
		t->tlp = tlp;
		memcpy(t->org, o->org, 16);
	} else {
		if (tf < t->tf)
			t->tf = tf;
		if (tl > t->tl)
			t->tl = tl;
		t->count = t->count + cnt < t->count ? UINT64_MAX : t->count + cnt;
		if (tlp > t->tlp)
			t->tlp = tlp;
		if (!(t->flags & PDNS_F_ORG_MIXED) && memcmp(t->org, o->org, 16)) {
			t->flags |= PDNS_F_ORG_MIXED;
			memset(t->org, 0, 16);
		}
	}
	if (o->has_sensor)
		sens_add(t, o->sensor);
	if (hub)
		hub_add(t, hub);
	size_t bwlen = 0;
	if (o->bailiwick && o->bailiwick[0])
		bwlen = name_norm(o->bailiwick, strlen(o->bailiwick), a->bw);
	if (bwlen && (!t->bwlen || bw_better(a->bw, bwlen, t->bw, t->bwlen))) {
		memcpy(a->gbw, a->bw, bwlen + 1);
		t->bw = a->gbw;
		t->bwlen = bwlen;
	}
}

/* Applies the observations ord[0..n) of one tuple (same key, batch order):
 * one lookup and one write of the tuple, whatever n. */
static int apply_group(struct apply_ctx *a, const struct d4_store_pdns_obs *obs, const struct apply_ord *ord, size_t n)
{
	const uint8_t *pk = ord[0].k.p;
	size_t pklen = ord[0].klen;
	MDB_val k = mv(pk, pklen), v;
	struct tup t;
	/* through the cursor: the put below then finds its place in the leaf the
	 * lookup ended on, without a second descent */
	int rc = mdb_cursor_get(a->tc, &k, &v, MDB_SET_KEY);
	int fresh = rc == MDB_NOTFOUND;
	if (rc == 0)
		rc = dec_tup(pk, pklen, v.mv_data, v.mv_size,
			     &t); /* strings point into the page: no write before enc_tup */
	else if (fresh)
		rc = 0;
	else
		rc = store_rc(rc, "pdns tuple get");
	if (rc)
		return rc;
	uint64_t old_tl = fresh ? 0 : t.tl;
	if (fresh) {
		const struct d4_store_pdns_obs *o = &obs[ord[0].i];
		memset(&t, 0, sizeof(t));
		t.id = a->next_id++;
		t.rrtype = o->rrtype;
		t.namelen = obs_name(o, a->gname);
		t.name = a->gname;
		t.rd = o->rdata ? o->rdata : "";
		t.rdlen = obs_rdlen(o);
		t.bw = a->gbw;
	}
	for (size_t j = 0; j < n; j++) {
		const struct d4_store_pdns_obs *o = &obs[ord[j].i];
		size_t nlen = obs_name(o, a->name), rdlen = obs_rdlen(o);
		/* the key holds hashes: a different tuple with the same key is a
		 * collision, refused rather than merged */
		if (t.rrtype != o->rrtype || t.namelen != nlen || memcmp(t.name, a->name, nlen) || t.rdlen != rdlen ||
		    (rdlen && memcmp(t.rd, o->rdata, rdlen))) {
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
	size_t rl = enc_tup(&t, a->rec);
	MDB_val key = mv(pk, pklen), val = mv(a->rec, rl);
	if ((rc = store_rc(mdb_cursor_put(a->tc, &key, &val, fresh ? 0 : MDB_CURRENT), "pdns put")))
		return rc;
	if (!fresh) {
		if (old_tl / PDNS_DAY == t.tl / PDNS_DAY)
			return 0;
		uint8_t ok[12], nk[12];
		time_key(old_tl, t.id, ok);
		time_key(t.tl, t.id, nk);
		MDB_val okv = mv(ok, 12);
		rc = mdb_del(a->txn, a->s->dbi[DBI_PDNS_TIME], &okv, NULL);
		if (rc && rc != MDB_NOTFOUND)
			return store_rc(rc, "pdns time del");
		return defer_put(a, DBI_PDNS_TIME, nk, 12, pk, pklen);
	}
	struct idx_keys *ks = a->keys;
	/* t's strings are a->gname and the caller's rdata: still valid */
	if ((rc =
		 build_keys(a->md, t.name, t.namelen, t.rrtype, t.rd, t.rdlen, pk + pklen - PDNS_HASH, t.id, t.tl, ks)))
		return rc;
	const uint8_t *rv;
	size_t rvl = rname_val(ks->rname, ks->rnamelen, pk, pklen, &rv);
	rc = defer_put(a, DBI_PDNS_RNAME, ks->rname, ks->rnamelen, rv, rvl);
	if (!rc && ks->rdnlen)
		rc = defer_put(a, DBI_PDNS_RDNAME, ks->rdn, ks->rdnlen, pk, pklen);
	if (!rc && ks->rdrnlen)
		rc = defer_put(a, DBI_PDNS_RDRNAME, ks->rdrn, ks->rdrnlen, pk, pklen);
	if (!rc && ks->has_ip)
		rc = defer_put(a, DBI_PDNS_RDIP, ks->ip, 25, pk, pklen);
	if (!rc && !raw_elided(t.rrtype, ks))
		rc = defer_put(a, DBI_PDNS_RDRAW, ks->raw, sizeof(ks->raw), pk, pklen);
	if (!rc)
		rc = defer_put(a, DBI_PDNS_TIME, ks->time, 12, pk, pklen);
	return rc;
}

static size_t meta_key(char kind, const void *p, size_t n, uint8_t *k)
{
	k[0] = (uint8_t)kind;
	memcpy(k + 1, p, n);
	return n + 1;
}

static int dec_counters(const uint8_t *p, size_t n, struct d4_store_pdns_counters *c)
{
	struct d4_reader r;
	d4_rd_init(&r, p, n);
	if (d4_rd_u8(&r) != PDNS_VAL_V1)
		return D4_ECORRUPT;
	c->observations = d4_rd_u64be(&r);
	c->bad_lines = d4_rd_u64be(&r);
	c->bad_packets = d4_rd_u64be(&r);
	return (d4_rd_error(&r) || d4_rd_left(&r)) ? D4_ECORRUPT : 0;
}

static int apply_cursor(struct apply_ctx *a, const struct d4_store_pdns_cursor *cur)
{
	uint8_t k[1 + D4_PDNS_CURSOR_NAME_MAX], v[1 + D4_PDNS_CURSOR_VALUE_MAX];
	int rc = 0;
	if (cur->name) {
		size_t nl = strlen(cur->name);
		v[0] = PDNS_VAL_V1;
		memcpy(v + 1, cur->value, cur->value_len);
		rc = put(a, DBI_PDNS_META, k, meta_key('c', cur->name, nl, k), v, 1 + cur->value_len, 0);
	}
	for (size_t i = 0; i < cur->ndeltas && !rc; i++) {
		const struct d4_store_pdns_counters *d = &cur->deltas[i];
		struct d4_store_pdns_counters c;
		memset(&c, 0, sizeof(c));
		size_t kl = meta_key('s', d->sensor, 16, k);
		MDB_val key = mv(k, kl), val;
		rc = mdb_get(a->txn, a->s->dbi[DBI_PDNS_META], &key, &val);
		if (rc == 0)
			rc = dec_counters(val.mv_data, val.mv_size, &c);
		else if (rc == MDB_NOTFOUND)
			rc = 0;
		else
			rc = store_rc(rc, "pdns counters get");
		if (rc)
			break;
		uint8_t b[25];
		b[0] = PDNS_VAL_V1;
		d4_put_u64be(b + 1, c.observations + d->observations);
		d4_put_u64be(b + 9, c.bad_lines + d->bad_lines);
		d4_put_u64be(b + 17, c.bad_packets + d->bad_packets);
		rc = put(a, DBI_PDNS_META, k, kl, b, sizeof(b), 0);
	}
	return rc;
}

static int cursor_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n >= D4_PDNS_CURSOR_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return 0;
	return 1;
}

struct store_pdns_merge {
	struct apply_ctx a;
	const struct d4_store_pdns_obs *obs;
	struct apply_ord *ord;
	size_t nv;
};

void store_pdns_merge_free(struct store_pdns_merge *m)
{
	if (!m)
		return;
	EVP_MD_CTX_free(m->a.md);
	free(m->a.rec);
	free(m->a.keys);
	free(m->a.keyar.p);
	free(m->a.dar.p);
	free(m->a.dp);
	free(m->ord);
	free(m);
}

int store_pdns_merge_prep(const struct d4_store_pdns_obs *obs, const uint8_t *const *hubs, size_t n,
			  struct store_pdns_merge **out)
{
	*out = NULL;
	if ((n && !obs) || n > UINT32_MAX)
		return D4_EINVAL;
	struct store_pdns_merge *m = calloc(1, sizeof(*m));
	if (!m)
		return D4_ENOMEM;
	struct apply_ctx *a = &m->a;
	m->obs = obs;
	a->hubs = hubs;
	a->md = EVP_MD_CTX_new();
	a->rec = malloc(PDNS_REC_MAX);
	a->keys = malloc(sizeof(*a->keys));
	struct apply_ord *ord = m->ord = n ? malloc(n * sizeof(*ord)) : NULL;
	int rc = (!a->md || !a->rec || !a->keys || (n && !ord)) ? D4_ENOMEM : 0;
	/* The tuple key of every observation, computed before the transaction
	 * (it holds LMDB's write lock; this is pure CPU). */
	size_t nv = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const struct d4_store_pdns_obs *o = &obs[i];
		size_t nlen = obs_name(o, a->name), rdlen = obs_rdlen(o);
		if (!nlen || rdlen > D4_PDNS_STORE_RDATA_MAX)
			continue; /* skipped, not an error */
		uint8_t k[PDNS_KEY_MAX], rh[PDNS_HASH];
		size_t kl = 0;
		rc = tuple_key(a->md, a->name, nlen, o->rrtype, o->rdata ? o->rdata : "", rdlen, k, &kl, rh);
		if (!rc)
			rc = arena_add(&a->keyar, k, kl, &ord[nv].k.off);
		ord[nv].klen = (uint32_t)kl;
		ord[nv].i = (uint32_t)i;
		nv++;
	}
	for (size_t i = 0; i < nv && !rc; i++) {
		ord[i].k.p = a->keyar.p + ord[i].k.off;
		ord[i].pfx = key_pfx(ord[i].k.p, ord[i].klen);
	}
	/* Applied in tuple-key order, not arrival order: the repeats of a tuple
	 * (many, for Zipf-like input) become neighbours and are merged in memory
	 * into one read and one write of the tuple, in their arrival order (the
	 * same result as one at a time); and the batch walks the tuple table
	 * front to back, touching each page once while it is in the cache. */
	if (!rc)
		rc = ord_sort(ord, nv);
	m->nv = nv;
	if (rc) {
		store_pdns_merge_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

size_t store_pdns_merge_count(const struct store_pdns_merge *m)
{
	return m ? m->nv : 0;
}

int store_pdns_merge_txn(struct d4_store *s, MDB_txn *txn, struct store_pdns_merge *m)
{
	if (store_pdns_layout(s) == STORE_PDNS_LAYOUT_ID)
		return pid_merge_txn(s, txn, m);
	struct apply_ctx *a = &m->a;
	a->s = s;
	a->txn = txn;
	a->ndp = 0; /* a retry on a fresh transaction starts over */
	a->dar.len = 0;
	int rc = store_settings_get_u64(s, txn, PDNS_NEXT_ID, &a->next_id);
	uint64_t first_id = a->next_id ? a->next_id : 1;
	a->next_id = first_id;
	a->tc = NULL;
	if (!rc)
		rc = store_rc(mdb_cursor_open(txn, s->dbi[DBI_PDNS_TUPLES], &a->tc), "pdns cursor");
	for (size_t g = 0, e; g < m->nv && !rc; g = e) {
		for (e = g + 1; e < m->nv && m->ord[e].klen == m->ord[g].klen &&
				!memcmp(m->ord[e].k.p, m->ord[g].k.p, m->ord[g].klen);
		     e++)
			;
		rc = apply_group(a, m->obs, m->ord + g, e - g);
	}
	if (a->tc)
		mdb_cursor_close(a->tc);
	a->tc = NULL;
	if (!rc)
		rc = flush_puts(a);
	if (!rc && a->next_id != first_id)
		rc = store_settings_put_u64(s, txn, PDNS_NEXT_ID, a->next_id);
	return rc;
}

/* ---- side records (docs/store.md "pdns_side") ---- */

static uint64_t fp_mix(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 29);
}

static uint64_t fp_bytes(uint64_t h, const char *p, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		h = fp_mix(h, w);
	}
	uint64_t w = 0;
	memcpy(&w, p + i, n - i);
	return fp_mix(h, w ^ ((uint64_t)n << 48));
}

uint64_t d4_store_pdns_side_fp(const struct d4_store_pdns_obs *obs, size_t n)
{
	uint64_t h = 0x6a09e667f3bcc908ULL ^ n;
	for (size_t i = 0; i < n; i++) {
		const struct d4_store_pdns_obs *o = &obs[i];
		h = fp_bytes(h, o->rrname ? o->rrname : "", o->rrname ? o->rrname_len : 0);
		h = fp_mix(h, ((uint64_t)o->rrtype << 32) ^ 0x5bd1e995u);
		h = fp_bytes(h, o->rdata ? o->rdata : "", o->rdata ? o->rdata_len : 0);
		h = fp_mix(h, o->count ? o->count : 1);
	}
	return h;
}

static size_t put_varint(uint8_t *b, uint64_t v)
{
	size_t o = 0;
	while (v >= 0x80) {
		b[o++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b[o++] = (uint8_t)v;
	return o;
}

/* At most 10 bytes, the last one not above the 64th bit, and minimal (no
 * trailing zero groups): one value has one encoding. */
static uint64_t rd_varint(struct d4_reader *r)
{
	uint64_t v = 0;
	for (unsigned sh = 0; sh < 70; sh += 7) {
		uint8_t c = d4_rd_u8(r);
		if (d4_rd_error(r))
			return 0;
		if (sh == 63 && c > 1)
			break;
		v |= (uint64_t)(c & 0x7f) << sh;
		if (!(c & 0x80)) {
			if (c == 0 && sh)
				break;
			return v;
		}
	}
	d4_rd_fail(r, D4_ECORRUPT);
	return 0;
}

#define PDNS_SIDE_V1 1u

#define PDNS_SIDE_TLP	   7u
#define PDNS_SIDE_MIXED	   8u
#define PDNS_SIDE_RECEIVED 16u

size_t d4_store_pdns_side_encode(uint64_t fp, const struct d4_store_pdns_side_obs *e, size_t n, uint8_t *out)
{
	size_t o = 0;
	out[o++] = PDNS_SIDE_V1;
	d4_put_u64be(out + o, fp);
	o += 8;
	o += put_varint(out + o, n);
	for (size_t i = 0; i < n; i++) {
		o += put_varint(out + o, e[i].count);
		o += put_varint(out + o, e[i].sensors);
		o +=
		    put_varint(out + o, e[i].sensors - (e[i].sensors_before <= e[i].sensors ? e[i].sensors_before : 0));
		o += put_varint(out + o, e[i].tf_delta);
		o += put_varint(out + o, e[i].tl_delta);
		out[o++] = (uint8_t)((e[i].tlp & PDNS_SIDE_TLP) | (e[i].org_mixed ? PDNS_SIDE_MIXED : 0) |
				     (e[i].received ? PDNS_SIDE_RECEIVED : 0));
	}
	return o;
}

int d4_store_pdns_side_decode(const uint8_t *p, size_t len, uint64_t *fp, struct d4_store_pdns_side_obs *e, size_t cap,
			      size_t *n)
{
	*fp = 0;
	*n = 0;
	struct d4_reader r;
	d4_rd_init(&r, p, len);
	if (d4_rd_u8(&r) != PDNS_SIDE_V1 || d4_rd_error(&r))
		return D4_ECORRUPT;
	uint64_t f = d4_rd_u64be(&r);
	uint64_t cnt = rd_varint(&r);
	/* every observation takes at least six bytes */
	if (d4_rd_error(&r) || cnt > d4_rd_left(&r) / 6)
		return D4_ECORRUPT;
	*fp = f;
	*n = (size_t)cnt;
	if (cnt > cap)
		return D4_ETOOBIG;
	for (size_t i = 0; i < cnt; i++) {
		struct d4_store_pdns_side_obs *x = &e[i];
		x->count = rd_varint(&r);
		uint64_t sn = rd_varint(&r), sd = rd_varint(&r);
		x->tf_delta = rd_varint(&r);
		x->tl_delta = rd_varint(&r);
		uint8_t fl = d4_rd_u8(&r);
		if (sn > UINT32_MAX || sd > sn || (fl & ~(PDNS_SIDE_TLP | PDNS_SIDE_MIXED | PDNS_SIDE_RECEIVED)))
			d4_rd_fail(&r, D4_ECORRUPT);
		if (d4_rd_error(&r))
			break;
		x->sensors = (uint32_t)sn;
		x->sensors_before = (uint32_t)(sn - sd);
		x->tlp = fl & PDNS_SIDE_TLP;
		x->org_mixed = (fl & PDNS_SIDE_MIXED) ? 1 : 0;
		x->received = (fl & PDNS_SIDE_RECEIVED) ? 1 : 0;
	}
	if (d4_rd_error(&r) || d4_rd_left(&r)) {
		*n = 0;
		return D4_ECORRUPT;
	}
	return 0;
}

/* Writes the side records of the frames of obs[0..n) (a->run_* filled by
 * the merge): one value per run of a frame's consecutive observations. A
 * frame met twice in one call (its observations not consecutive: not what
 * a consumer hands over) gets none. */
/* A frame's side record is stored in parts keyed seq || u8 part, each small
 * enough to stay in a leaf page: a record of a few KB as one value took
 * whole overflow pages, a third of them empty. Entries keyed by seq alone
 * (the whole record, written before) are read as they are. */
#define PDNS_SIDE_PART	2000u
#define PDNS_SIDE_PARTS 256u

/* Grows *buf to hold need bytes; its contents stay. */
static int buf_grow(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	uint8_t *nb = realloc(*buf, need);
	if (!nb)
		return D4_ENOMEM;
	*buf = nb;
	*cap = need;
	return 0;
}

/* Deletes frame seq's record, whole or in parts. */
static int side_del(MDB_txn *txn, MDB_dbi dbi, uint64_t seq)
{
	uint8_t k[8];
	d4_put_u64be(k, seq);
	MDB_val whole = mv(k, 8);
	int rc = mdb_del(txn, dbi, &whole, NULL);
	if (rc && rc != MDB_NOTFOUND)
		return store_rc(rc, "pdns side del");
	MDB_cursor *c;
	rc = mdb_cursor_open(txn, dbi, &c);
	if (rc)
		return store_rc(rc, "pdns side cursor");
	for (;;) {
		MDB_val key = mv(k, 8), v;
		if ((rc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE)))
			break;
		if (key.mv_size != 9 || memcmp(key.mv_data, k, 8))
			break;
		if ((rc = mdb_cursor_del(c, 0)))
			break;
	}
	mdb_cursor_close(c);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_rc(rc, "pdns side del");
}

static int side_put(struct apply_ctx *a, uint64_t seq, const uint8_t *p, size_t l)
{
	int rc = side_del(a->txn, a->s->dbi[DBI_PDNS_SIDE], seq);
	/* equal parts, as many as needed (more than 256 only for a record of
	 * more than 512,000 bytes, ≈ 60,000 observations: larger parts then) */
	size_t np = (l + PDNS_SIDE_PART - 1) / PDNS_SIDE_PART;
	if (np > PDNS_SIDE_PARTS)
		np = PDNS_SIDE_PARTS;
	size_t each = (l + np - 1) / np;
	uint8_t k[9];
	d4_put_u64be(k, seq);
	for (size_t i = 0, o = 0; !rc && o < l; i++, o += each) {
		k[8] = (uint8_t)i;
		MDB_val key = mv(k, 9), val = mv(p + o, l - o < each ? l - o : each);
		/* frames come in seq order: appended, the leaves fill up */
		rc = mdb_put(a->txn, a->s->dbi[DBI_PDNS_SIDE], &key, &val, MDB_APPEND);
		if (rc == MDB_KEYEXIST) /* a later frame's record is there already */
			rc = mdb_put(a->txn, a->s->dbi[DBI_PDNS_SIDE], &key, &val, 0);
		rc = store_rc(rc, "pdns side put");
	}
	return rc;
}

static int side_write(struct apply_ctx *a, const struct d4_store_pdns_obs *obs, const uint64_t *seq, size_t n)
{
	uint8_t *buf = NULL;
	size_t cap = 0;
	uint64_t last = 0;
	int rc = 0;
	for (size_t g = 0, e; g < n && !rc; g = e) {
		for (e = g + 1; e < n && seq[e] == seq[g]; e++)
			;
		if (seq[g] == 0)
			continue;
		if (seq[g] <= last) {
			rc = side_del(a->txn, a->s->dbi[DBI_PDNS_SIDE], seq[g]);
			continue;
		}
		last = seq[g];
		if ((rc = buf_grow(&buf, &cap, D4_PDNS_SIDE_LEN(e - g))))
			break;
		size_t l = d4_store_pdns_side_encode(d4_store_pdns_side_fp(obs + g, e - g), a->run + g, e - g, buf);
		rc = side_put(a, seq[g], buf, l);
	}
	free(buf);
	return rc;
}

int d4_store_pdns_apply_frames(struct d4_store *s, const struct d4_store_pdns_obs *obs, const uint64_t *frame_seq,
			       size_t n, const struct d4_store_pdns_cursor *cur)
{
	if (!s || (n && !obs) || n > UINT32_MAX)
		return D4_EINVAL;
	if (cur && ((cur->name && !cursor_name_ok(cur->name)) || cur->value_len > D4_PDNS_CURSOR_VALUE_MAX ||
		    (cur->value_len && !cur->value) || (cur->ndeltas && !cur->deltas)))
		return D4_EINVAL;
	if (s->opts.read_only)
		return D4_EPERM;
	struct store_pdns_merge *m;
	int rc = store_pdns_merge_prep(obs, NULL, n, &m);
	if (rc)
		return rc;
	int side = frame_seq && n && !s->dbi_absent[DBI_PDNS_SIDE];
	if (side && !(m->a.run = calloc(n, sizeof(*m->a.run)))) {
		rc = D4_ENOMEM;
		goto out;
	}
	MDB_txn *txn;
	if ((rc = store_txn_begin(s, 0, &txn)) != 0)
		goto out;
	rc = store_pdns_merge_txn(s, txn, m);
	/* in the merge's transaction: never a side record without its merge,
	 * nor the reverse */
	if (!rc && side)
		rc = side_write(&m->a, obs, frame_seq, n);
	if (!rc && cur)
		rc = apply_cursor(&m->a, cur);
	if (rc) {
		mdb_txn_abort(txn);
		goto out;
	}
	rc = store_rc(mdb_txn_commit(txn), "pdns commit");
out:
	free(m->a.run);
	m->a.run = NULL;
	store_pdns_merge_free(m);
	return rc;
}

int d4_store_pdns_apply(struct d4_store *s, const struct d4_store_pdns_obs *obs, size_t n,
			const struct d4_store_pdns_cursor *cur)
{
	return d4_store_pdns_apply_frames(s, obs, NULL, n, cur);
}

int d4_store_pdns_side_read(struct d4_store *s, const uint64_t *seqs, size_t n,
			    int (*cb)(void *ctx, size_t i, const uint8_t *val, size_t len), void *ctx)
{
	if (!s || !cb || (n && !seqs))
		return D4_EINVAL;
	if (!n || s->dbi_absent[DBI_PDNS_SIDE])
		return 0;
	MDB_txn *txn;
	MDB_cursor *c = NULL;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	if ((rc = mdb_cursor_open(txn, s->dbi[DBI_PDNS_SIDE], &c))) {
		mdb_txn_abort(txn);
		return store_rc(rc, "pdns side cursor");
	}
	uint8_t *buf = NULL;
	size_t cap = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		uint8_t k[8];
		d4_put_u64be(k, seqs[i]);
		MDB_val key = mv(k, 8), v;
		/* the whole record (an older entry) sorts before its parts */
		int r = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE);
		size_t len = 0, part = 0;
		const uint8_t *one = NULL;
		while (r == 0 && key.mv_size >= 8 && !memcmp(key.mv_data, k, 8)) {
			if (key.mv_size == 8) {
				one = v.mv_data;
				len = v.mv_size;
				break;
			}
			if (key.mv_size != 9 || ((const uint8_t *)key.mv_data)[8] != part) {
				rc = D4_ECORRUPT; /* a part missing or out of place */
				break;
			}
			if (part == 0) { /* one part: handed out from the page */
				one = v.mv_data;
				len = v.mv_size;
			} else {
				size_t need = len + v.mv_size;
				/* part 0 is still in its page, later ones in buf */
				if ((rc = buf_grow(&buf, &cap, need)))
					break;
				if (part == 1)
					memcpy(buf, one, len);
				memcpy(buf + len, v.mv_data, v.mv_size);
				len = need;
				one = buf;
			}
			part++;
			r = mdb_cursor_get(c, &key, &v, MDB_NEXT);
		}
		if (!rc && r != 0 && r != MDB_NOTFOUND)
			rc = store_rc(r, "pdns side get");
		if (!rc && one)
			rc = cb(ctx, i, one, len);
	}
	free(buf);
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc;
}

int d4_store_pdns_cursor_get(struct d4_store *s, const char *name, uint8_t *buf, size_t cap, size_t *len)
{
	if (!s || !cursor_name_ok(name) || !len)
		return D4_EINVAL;
	*len = 0;
	if (absent(s))
		return D4_ENOTFOUND;
	uint8_t k[1 + D4_PDNS_CURSOR_NAME_MAX];
	size_t kl = meta_key('c', name, strlen(name), k);
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	MDB_val key = mv(k, kl), v;
	rc = store_rc(mdb_get(txn, s->dbi[DBI_PDNS_META], &key, &v), "pdns cursor get");
	if (!rc) {
		if (v.mv_size < 1 || ((uint8_t *)v.mv_data)[0] != PDNS_VAL_V1)
			rc = D4_ECORRUPT;
		else if (v.mv_size - 1 > cap)
			rc = D4_ETOOBIG;
		else {
			memcpy(buf, (uint8_t *)v.mv_data + 1, v.mv_size - 1);
			*len = v.mv_size - 1;
		}
	}
	mdb_txn_abort(txn);
	return rc;
}

int d4_store_pdns_counters_get(struct d4_store *s, const uint8_t sensor[16], struct d4_store_pdns_counters *out)
{
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
	rc = store_rc(mdb_get(txn, s->dbi[DBI_PDNS_META], &key, &v), "pdns counters get");
	if (!rc)
		rc = dec_counters(v.mv_data, v.mv_size, out);
	mdb_txn_abort(txn);
	return rc;
}

struct cnt_scan {
	int (*cb)(void *ctx, const struct d4_store_pdns_counters *c);
	void *ctx;
};

static int cnt_scan_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct cnt_scan *cs = ctx;
	struct d4_store_pdns_counters c;
	if (k->mv_size != 17)
		return D4_ECORRUPT;
	memcpy(c.sensor, (const uint8_t *)k->mv_data + 1, 16);
	int rc = dec_counters(v->mv_data, v->mv_size, &c);
	return rc ? rc : cs->cb(cs->ctx, &c);
}

int d4_store_pdns_counters_foreach(struct d4_store *s, int (*cb)(void *ctx, const struct d4_store_pdns_counters *c),
				   void *ctx)
{
	struct cnt_scan cs = {cb, ctx};
	return store_scan(s, DBI_PDNS_META, "s", 1, "s", 1, cnt_scan_fn, &cs);
}

/* ---- queries ---- */

/* One key range of a query. A raw-rdata query has up to three (its tuples
 * are in the raw index, the IP index or the rdata-name index: raw_elided);
 * every other kind one. */
struct qseg {
	enum store_dbi dbi;
	uint8_t start[PDNS_KEY_MAX];
	size_t slen;
	uint8_t prefix[PDNS_KEY_MAX]; /* keys must start with it (IP: range up to hi) */
	size_t plen;
	uint8_t hi[17]; /* IP: last family || address */
};

struct qplan {
	struct qseg seg[3];
	unsigned nseg;
	char want[PDNS_NAME_BUF]; /* name kinds: normalised name, reversed for LEFT */
	size_t wantlen;
	int left, right, rdata;
	uint8_t raw_hash[PDNS_HASH];
	int raw_fam;	      /* RDATA_RAW: the bytes are an address of this family, */
	uint8_t raw_addr[16]; /* this one: A/AAAA tuples of it match whatever their text */
	char bw[PDNS_NAME_BUF];
	size_t bwlen;
};

static int plan(EVP_MD_CTX *md, const struct d4_store_pdns_query *q, struct qplan *p)
{
	memset(p, 0, sizeof(*p));
	struct qseg *g = &p->seg[0];
	p->nseg = 1;
	if (q->bailiwick && q->bailiwick[0] && !(p->bwlen = name_norm(q->bailiwick, strlen(q->bailiwick), p->bw)))
		return D4_EINVAL;
	switch (q->kind) {
	case D4_PDNS_Q_NAME:
	case D4_PDNS_Q_NAME_LEFT:
	case D4_PDNS_Q_NAME_RIGHT:
	case D4_PDNS_Q_RDATA_NAME:
	case D4_PDNS_Q_RDATA_NAME_LEFT:
	case D4_PDNS_Q_RDATA_NAME_RIGHT: {
		if (!q->name)
			return D4_EINVAL;
		p->rdata = q->kind >= D4_PDNS_Q_RDATA_NAME;
		p->left = q->kind == D4_PDNS_Q_NAME_LEFT || q->kind == D4_PDNS_Q_RDATA_NAME_LEFT;
		p->right = q->kind == D4_PDNS_Q_NAME_RIGHT || q->kind == D4_PDNS_Q_RDATA_NAME_RIGHT;
		char nm[PDNS_NAME_BUF];
		size_t nl = name_norm(q->name, strlen(q->name), nm);
		if (!nl)
			return D4_EINVAL;
		if (p->left) {
			p->wantlen = name_reverse(nm, nl, p->want);
			g->dbi = p->rdata ? DBI_PDNS_RDRNAME : DBI_PDNS_RNAME;
		} else {
			if (p->right && nl == 1)
				nl = 0; /* ".*": every name */
			memcpy(p->want, nm, nl);
			p->want[nl] = 0;
			p->wantlen = nl;
			g->dbi = p->rdata ? DBI_PDNS_RDNAME : DBI_PDNS_TUPLES;
		}
		if (p->left || p->right) {
			/* prefix of name keys: whole, or the cut part of long names */
			g->plen = p->wantlen > PDNS_NK_CUT ? PDNS_NK_CUT : p->wantlen;
			memcpy(g->prefix, p->want, g->plen);
		} else {
			size_t nkl;
			int rc = name_key(md, p->want, p->wantlen, g->prefix, &nkl);
			if (rc)
				return rc;
			g->prefix[nkl] = 0;
			g->plen = nkl + 1;
			if (q->rrtype) {
				d4_put_u16be(g->prefix + g->plen, q->rrtype);
				g->plen += 2;
			}
		}
		memcpy(g->start, g->prefix, g->plen);
		g->slen = g->plen;
		return 0;
	}
	case D4_PDNS_Q_RDATA_IP:
		if (q->ip_family != 4 && q->ip_family != 6)
			return D4_EINVAL;
		if (memcmp(q->ip_lo, q->ip_hi, 16) > 0)
			return D4_EINVAL;
		g->dbi = DBI_PDNS_RDIP;
		g->start[0] = q->ip_family;
		memcpy(g->start + 1, q->ip_lo, 16);
		g->slen = 17;
		g->hi[0] = q->ip_family;
		memcpy(g->hi + 1, q->ip_hi, 16);
		return 0;
	case D4_PDNS_Q_RDATA_RAW: {
		if (!q->raw && q->raw_len)
			return D4_EINVAL;
		if (q->raw_len > D4_PDNS_STORE_RDATA_MAX)
			return D4_EINVAL;
		const char *raw = q->raw ? (const char *)q->raw : "";
		g->dbi = DBI_PDNS_RDRAW;
		int rc = sha16(md, raw, q->raw_len, NULL, 0, p->raw_hash);
		if (rc)
			return rc;
		memcpy(g->prefix, p->raw_hash, PDNS_HASH);
		g->plen = PDNS_HASH;
		memcpy(g->start, g->prefix, g->plen);
		g->slen = g->plen;
		/* tuples whose rdata is this address (A or AAAA) */
		uint8_t addr[16];
		int fam = rdata_ip(1, raw, q->raw_len, addr);
		if (!fam)
			fam = rdata_ip(28, raw, q->raw_len, addr);
		if (fam) {
			p->raw_fam = fam;
			memcpy(p->raw_addr, addr, 16);
			g = &p->seg[p->nseg++];
			g->dbi = DBI_PDNS_RDIP;
			g->start[0] = g->hi[0] = (uint8_t)fam;
			memcpy(g->start + 1, addr, 16);
			memcpy(g->hi + 1, addr, 16);
			g->slen = 17;
		}
		/* tuples whose whole rdata is this name (NS, CNAME, PTR, ...) */
		char nm[PDNS_NAME_BUF];
		size_t nl = rdata_name(5, raw, q->raw_len, nm);
		if (nl) {
			g = &p->seg[p->nseg++];
			g->dbi = DBI_PDNS_RDNAME;
			size_t nkl;
			if ((rc = name_key(md, nm, nl, g->prefix, &nkl)))
				return rc;
			g->prefix[nkl] = 0;
			g->plen = nkl + 1;
			if (q->rrtype) {
				d4_put_u16be(g->prefix + g->plen, q->rrtype);
				g->plen += 2;
			}
			memcpy(g->start, g->prefix, g->plen);
			g->slen = g->plen;
		}
		return 0;
	}
	}
	return D4_EINVAL;
}

/* Is key k inside the segment's range? 1 yes, 0 past the end. */
static int in_range(const struct qseg *g, const MDB_val *k)
{
	if (g->dbi == DBI_PDNS_RDIP)
		return k->mv_size == 25 && memcmp(k->mv_data, g->hi, 17) <= 0;
	return k->mv_size >= g->plen && memcmp(k->mv_data, g->prefix, g->plen) == 0;
}

/* Checks on the tuple itself: what the key cannot tell (long-name cuts,
 * wildcard label boundaries, hash collisions) and the filters. */
static int tuple_matches(const struct qplan *p, const struct d4_store_pdns_query *q, const struct tup *t)
{
	if (!d4_policy_tlp_visible((enum d4_tlp)q->max_tlp, (enum d4_tlp)t->tlp))
		return 0;
	if (q->rrtype && t->rrtype != q->rrtype)
		return 0;
	if ((q->time_first_before || (q->before_set & D4_PDNS_TF_BEFORE_SET)) && t->tf > q->time_first_before)
		return 0;
	if (q->time_first_after && t->tf < q->time_first_after)
		return 0;
	if ((q->time_last_before || (q->before_set & D4_PDNS_TL_BEFORE_SET)) && t->tl > q->time_last_before)
		return 0;
	if (q->time_last_after && t->tl < q->time_last_after)
		return 0;
	if (p->bwlen && (t->bwlen != p->bwlen || memcmp(t->bw, p->bw, p->bwlen)))
		return 0;
	if (q->kind == D4_PDNS_Q_RDATA_RAW) {
		if (t->rdlen == q->raw_len && (!q->raw_len || memcmp(t->rd, q->raw, q->raw_len) == 0))
			return 1;
		/* an address: also its A/AAAA tuples whose text is another spelling
		 * of it (CSV and COF keep "2001:db8:0::1" as given) */
		uint8_t a[16];
		return p->raw_fam && rdata_ip(t->rrtype, t->rd, t->rdlen, a) == p->raw_fam &&
		       memcmp(a, p->raw_addr, 16) == 0;
	}
	if (q->kind == D4_PDNS_Q_RDATA_IP)
		return 1;
	char buf[PDNS_NAME_BUF], rev[PDNS_NAME_BUF];
	const char *nm = t->name;
	size_t nl = t->namelen;
	if (p->rdata) {
		nl = rdata_name(t->rrtype, t->rd, t->rdlen, buf);
		if (!nl)
			return 0;
		nm = buf;
	}
	if (p->left) {
		nl = name_reverse(nm, nl, rev);
		nm = rev;
	}
	if (p->left || p->right)
		return nl > p->wantlen && memcmp(nm, p->want, p->wantlen) == 0;
	return nl == p->wantlen && memcmp(nm, p->want, nl) == 0;
}

static int query_run(struct d4_store *s, const struct d4_store_pdns_query *q,
		     int (*cb)(void *ctx, const struct d4_store_pdns_tuple *t), void *ctx,
		     struct d4_store_pdns_qresult *res)
{
	if (store_pdns_layout(s) == STORE_PDNS_LAYOUT_ID)
		return pid_query_run(s, q, cb, ctx, res);
	memset(res, 0, sizeof(*res));
	if (!q)
		return D4_EINVAL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct qplan *p = malloc(sizeof(*p));
	struct d4_store_pdns_tuple *out = malloc(sizeof(*out));
	uint8_t tkey[PDNS_KEY_MAX]; /* the tuple key of an index entry: names handed out point into it */
	int rc = (!md || !p || !out) ? D4_ENOMEM : plan(md, q, p);
	unsigned first = 0;
	if (rc)
		goto free_out;
	if (q->resume_len) {
		/* resume = version || kind || segment || last returned key, which
		 * must lie in that segment's range: a cursor can only move within
		 * the query's own ranges */
		if (!q->resume || q->resume_len < 4 || q->resume_len > 3 + 511 || q->resume[0] != PDNS_CURSOR_V2 ||
		    q->resume[1] != (uint8_t)q->kind || q->resume[2] >= p->nseg) {
			rc = D4_EINVAL;
			goto free_out;
		}
		first = q->resume[2];
		struct qseg *g = &p->seg[first];
		MDB_val rk = mv(q->resume + 3, q->resume_len - 3);
		if (!in_range(g, &rk) || (g->dbi == DBI_PDNS_RDIP && memcmp(rk.mv_data, g->start, 17) < 0)) {
			rc = D4_EINVAL;
			goto free_out;
		}
		memcpy(g->start, rk.mv_data, rk.mv_size);
		g->slen = rk.mv_size;
	}
	if (absent(s))
		goto free_out;
	MDB_txn *txn;
	if ((rc = store_txn_begin(s, 1, &txn)))
		goto free_out;
	int done = 0, stop = 0;
	for (unsigned si = first; si < p->nseg && !rc && !stop; si++) {
		const struct qseg *g = &p->seg[si];
		MDB_cursor *c;
		if ((rc = mdb_cursor_open(txn, s->dbi[g->dbi], &c))) {
			rc = store_rc(rc, "pdns cursor");
			break;
		}
		MDB_val k = mv(g->start, g->slen), v;
		int r = g->slen ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(c, &k, &v, MDB_FIRST);
		if (r == 0 && q->resume_len && si == first && k.mv_size == g->slen &&
		    memcmp(k.mv_data, g->start, g->slen) == 0)
			r = mdb_cursor_get(c, &k, &v, MDB_NEXT);
		while (r == 0 && in_range(g, &k)) {
			/* the key's rrtype (name keys) spares the tuple read; the tuple
			 * table's keys end in a hash, the others' in an id */
			if (q->rrtype && g->dbi != DBI_PDNS_RDIP && g->dbi != DBI_PDNS_RDRAW) {
				size_t back = g->dbi == DBI_PDNS_TUPLES ? 2u + PDNS_HASH : 10u;
				if (k.mv_size < back + 1) {
					rc = D4_ECORRUPT;
					break;
				}
				const uint8_t *kt = (const uint8_t *)k.mv_data + k.mv_size - back;
				if ((uint16_t)(kt[0] << 8 | kt[1]) != q->rrtype)
					goto next;
			}
			/* the tuple table holds the records (exact and right-wildcard
			 * names: no fetch); an index entry's value is the tuple key */
			MDB_val tv = v, tk = k;
			if (g->dbi != DBI_PDNS_TUPLES) {
				size_t tkl;
				if ((rc = store_pdns_index_tuple_key((int)g->dbi, k.mv_data, k.mv_size, v.mv_data,
								     v.mv_size, tkey, &tkl)))
					break;
				tk = mv(tkey, tkl);
				r = mdb_get(txn, s->dbi[DBI_PDNS_TUPLES], &tk, &tv);
				if (r) {
					rc = r == MDB_NOTFOUND ? D4_ECORRUPT : store_rc(r, "pdns tuple get");
					break;
				}
			}
			struct tup t;
			if ((rc = dec_tup(tk.mv_data, tk.mv_size, tv.mv_data, tv.mv_size, &t)))
				break;
			if (g->dbi != DBI_PDNS_TUPLES &&
			    t.id != d4_get_u64be((const uint8_t *)k.mv_data + k.mv_size - 8)) {
				rc = D4_ECORRUPT; /* an entry that is not its tuple's */
				break;
			}
			if (!tuple_matches(p, q, &t))
				goto next;
			/* raw query through the rdata-name index: only the tuples
			 * without a raw entry (the others are in segment 0) */
			if (q->kind == D4_PDNS_Q_RDATA_RAW && g->dbi == DBI_PDNS_RDNAME &&
			    rdata_name_field(t.rrtype) >= 0)
				goto next;
			if (done) { /* limit reached: this one only tells that there is more */
				res->more = 1;
				stop = 1;
				break;
			}
			tup_out(&t, out);
			int cr = cb(ctx, out);
			if (cr < 0) {
				rc = cr;
				break;
			}
			res->returned++;
			res->resume[0] = PDNS_CURSOR_V2;
			res->resume[1] = (uint8_t)q->kind;
			res->resume[2] = (uint8_t)si;
			memcpy(res->resume + 3, k.mv_data, k.mv_size);
			res->resume_len = 3 + k.mv_size;
			if (cr > 0) {
				stop = 1;
				break;
			}
			if (q->limit && res->returned >= q->limit)
				done = 1;
		next:
			r = mdb_cursor_get(c, &k, &v, MDB_NEXT);
		}
		if (!rc && r != 0 && r != MDB_NOTFOUND)
			rc = store_rc(r, "pdns scan");
		mdb_cursor_close(c);
	}
	mdb_txn_abort(txn);
free_out:
	EVP_MD_CTX_free(md);
	free(p);
	free(out);
	return rc;
}

/* A tuple key of d4_store_pdns_seen: sorted by pointer, the keys stay put. */
struct seen_key {
	const uint8_t *k;
	size_t off; /* in the arena, until it stops moving */
	uint32_t kl, i;
};

static int seen_key_cmp(const void *x, const void *y)
{
	const struct seen_key *a = x, *b = y;
	size_t n = a->kl < b->kl ? a->kl : b->kl;
	int c = memcmp(a->k, b->k, n);
	return c ? c : (a->kl > b->kl) - (a->kl < b->kl);
}

int d4_store_pdns_seen(struct d4_store *s, const struct d4_store_pdns_obs *obs, size_t n, uint64_t *count,
		       uint32_t *sensors)
{
	if (!s || (n && (!obs || !count || !sensors)))
		return D4_EINVAL;
	for (size_t i = 0; i < n; i++)
		count[i] = sensors[i] = 0;
	if (!n || absent(s))
		return 0;
	if (store_pdns_layout(s) == STORE_PDNS_LAYOUT_ID)
		return pid_seen(s, obs, n, count, sensors);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *name = malloc(PDNS_NAME_BUF);
	struct seen_key *keys = malloc(n * sizeof(*keys));
	struct arena ar;
	memset(&ar, 0, sizeof(ar));
	int rc = (!md || !name || !keys) ? D4_ENOMEM : 0;
	/* keys first, then the lookups in key order: neighbouring pages */
	size_t nk = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const struct d4_store_pdns_obs *o = &obs[i];
		size_t nlen = obs_name(o, name), rdlen = obs_rdlen(o);
		if (!nlen || rdlen > D4_PDNS_STORE_RDATA_MAX)
			continue; /* never a tuple: seen by nobody */
		uint8_t k[PDNS_KEY_MAX], rh[PDNS_HASH];
		size_t kl = 0;
		rc = tuple_key(md, name, nlen, o->rrtype, o->rdata ? o->rdata : "", rdlen, k, &kl, rh);
		if (!rc)
			rc = arena_add(&ar, k, kl, &keys[nk].off);
		keys[nk].kl = (uint32_t)kl;
		keys[nk++].i = (uint32_t)i;
	}
	for (size_t j = 0; j < nk && !rc; j++)
		keys[j].k = ar.p + keys[j].off;
	if (!rc)
		qsort(keys, nk, sizeof(*keys), seen_key_cmp);
	MDB_txn *txn = NULL;
	if (!rc)
		rc = store_txn_begin(s, 1, &txn);
	for (size_t j = 0; j < nk && !rc; j++) {
		MDB_val key = mv(keys[j].k, keys[j].kl), v;
		int r = mdb_get(txn, s->dbi[DBI_PDNS_TUPLES], &key, &v);
		if (r == MDB_NOTFOUND)
			continue;
		if (r) {
			rc = store_rc(r, "pdns tuple get");
			break;
		}
		struct tup t;
		if ((rc = dec_tup(keys[j].k, keys[j].kl, v.mv_data, v.mv_size, &t)))
			break;
		count[keys[j].i] = t.count;
		sensors[keys[j].i] = t.nsens + (t.sketch ? sketch_est[64 - popcount64(t.sketch)] : 0);
	}
	if (txn)
		mdb_txn_abort(txn);
	EVP_MD_CTX_free(md);
	free(name);
	free(keys);
	free(ar.p);
	return rc;
}

int d4_store_pdns_query(struct d4_store *s, const struct d4_store_pdns_query *q,
			int (*cb)(void *ctx, const struct d4_store_pdns_tuple *t), void *ctx,
			struct d4_store_pdns_qresult *res)
{
	if (!s || !cb || !res)
		return D4_EINVAL;
	return query_run(s, q, cb, ctx, res);
}

static int sum_cb(void *ctx, const struct d4_store_pdns_tuple *t)
{
	struct d4_store_pdns_summary *sm = ctx;
	if (!sm->tuples || t->time_first < sm->time_first)
		sm->time_first = t->time_first;
	if (t->time_last > sm->time_last)
		sm->time_last = t->time_last;
	sm->count = sm->count + t->count < sm->count ? UINT64_MAX : sm->count + t->count;
	sm->tuples++;
	return 0;
}

int d4_store_pdns_summarize(struct d4_store *s, const struct d4_store_pdns_query *q, struct d4_store_pdns_summary *out)
{
	if (!s || !out)
		return D4_EINVAL;
	memset(out, 0, sizeof(*out));
	struct d4_store_pdns_qresult *res = malloc(sizeof(*res));
	if (!res)
		return D4_ENOMEM;
	int rc = query_run(s, q, sum_cb, out, res);
	free(res);
	return rc;
}

/* with the side records: space the pDNS consumer uses */
static const enum store_dbi pdns_dbis[] = {DBI_PDNS_TUPLES,  DBI_PDNS_RNAME, DBI_PDNS_RDNAME,
					   DBI_PDNS_RDRNAME, DBI_PDNS_RDIP,  DBI_PDNS_RDRAW,
					   DBI_PDNS_TIME,    DBI_PDNS_META,  DBI_PDNS_SIDE};

int d4_store_pdns_info(struct d4_store *s, struct d4_store_pdns_info *out)
{
	if (!s || !out)
		return D4_EINVAL;
	memset(out, 0, sizeof(*out));
	if (absent(s))
		return 0;
	if (store_pdns_layout(s) == STORE_PDNS_LAYOUT_ID)
		return pid_info(s, out);
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	for (size_t i = 0; i < sizeof(pdns_dbis) / sizeof(pdns_dbis[0]) && !rc; i++) {
		if (s->dbi_absent[pdns_dbis[i]])
			continue;
		MDB_stat st;
		rc = store_rc(mdb_stat(txn, s->dbi[pdns_dbis[i]], &st), "pdns stat");
		if (rc)
			break;
		if (pdns_dbis[i] == DBI_PDNS_TUPLES)
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

/* ---- IP query text ---- */

static int parse_addr(const char *t, size_t n, uint8_t addr[16], int *fam)
{
	char tmp[64];
	if (n == 0 || n >= sizeof(tmp))
		return D4_EINVAL;
	memcpy(tmp, t, n);
	tmp[n] = 0;
	if (inet_pton(AF_INET, tmp, addr + 12) == 1) {
		memset(addr, 0, 10);
		addr[10] = addr[11] = 0xff;
		*fam = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, tmp, addr) == 1) {
		*fam = 6;
		return 0;
	}
	return D4_EINVAL;
}

int d4_store_pdns_parse_ip(const char *text, struct d4_store_pdns_query *q)
{
	if (!text || !q)
		return D4_EINVAL;
	size_t n = strlen(text);
	const char *dash = memchr(text, '-', n);
	const char *slash = memchr(text, '/', n);
	if (!slash)
		slash = memchr(text, ',', n);
	int fam, fam2;
	if (dash) {
		if (slash || parse_addr(text, (size_t)(dash - text), q->ip_lo, &fam) ||
		    parse_addr(dash + 1, n - (size_t)(dash - text) - 1, q->ip_hi, &fam2) || fam != fam2 ||
		    memcmp(q->ip_lo, q->ip_hi, 16) > 0)
			return D4_EINVAL;
		q->ip_family = (uint8_t)fam;
		return 0;
	}
	/* An address or a CIDR (DNSDB writes "net,len"): the blocklist's parser,
	 * which masks the host bits, with the family told by the text. */
	char buf[64];
	if (n >= sizeof(buf))
		return D4_EINVAL;
	memcpy(buf, text, n + 1);
	if (slash)
		buf[slash - text] = '/';
	uint8_t bits;
	if (d4_store_parse_cidr(buf, q->ip_lo, &bits))
		return D4_EINVAL;
	fam = memchr(text, ':', n) ? 6 : 4;
	memcpy(q->ip_hi, q->ip_lo, 16);
	for (unsigned b = bits; b < 128; b++)
		q->ip_hi[b / 8] |= (uint8_t)(0x80u >> (b % 8));
	q->ip_family = (uint8_t)fam;
	return 0;
}

/* ---- retention ---- */

static int del_key(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kl)
{
	MDB_val key = mv(k, kl);
	int rc = mdb_del(txn, dbi, &key, NULL);
	return rc == MDB_NOTFOUND ? 0 : store_rc(rc, "pdns del");
}

/* Deletes tuple t (key pk) and every index entry it has. */
static int tuple_delete(struct d4_store *s, MDB_txn *txn, EVP_MD_CTX *md, struct idx_keys *ks, const uint8_t *pk,
			size_t pklen, const struct tup *t)
{
	uint8_t key[PDNS_KEY_MAX];
	if (pklen <= PDNS_HASH || pklen > sizeof(key))
		return D4_ECORRUPT;
	memcpy(key, pk, pklen); /* pk may point into a page that the deletes change */
	/* the keys are built from the record before it goes: its strings live in the page */
	int rc =
	    build_keys(md, t->name, t->namelen, t->rrtype, t->rd, t->rdlen, key + pklen - PDNS_HASH, t->id, t->tl, ks);
	if (!rc)
		rc = del_key(txn, s->dbi[DBI_PDNS_RNAME], ks->rname, ks->rnamelen);
	if (!rc && ks->rdnlen)
		rc = del_key(txn, s->dbi[DBI_PDNS_RDNAME], ks->rdn, ks->rdnlen);
	if (!rc && ks->rdrnlen)
		rc = del_key(txn, s->dbi[DBI_PDNS_RDRNAME], ks->rdrn, ks->rdrnlen);
	if (!rc && ks->has_ip)
		rc = del_key(txn, s->dbi[DBI_PDNS_RDIP], ks->ip, 25);
	if (!rc && !raw_elided(t->rrtype, ks))
		rc = del_key(txn, s->dbi[DBI_PDNS_RDRAW], ks->raw, sizeof(ks->raw));
	if (!rc)
		rc = del_key(txn, s->dbi[DBI_PDNS_TIME], ks->time, 12);
	if (!rc)
		rc = del_key(txn, s->dbi[DBI_PDNS_TUPLES], key, pklen);
	return rc;
}

int d4_store_pdns_expire(struct d4_store *s, uint64_t cutoff, unsigned max_per_txn, uint64_t *removed)
{
	if (removed)
		*removed = 0;
	if (!s)
		return D4_EINVAL;
	if (s->opts.read_only)
		return D4_EPERM;
	if (!max_per_txn)
		max_per_txn = PDNS_EXPIRE_DEF;
	if (store_pdns_layout(s) == STORE_PDNS_LAYOUT_ID)
		return pid_expire(s, cutoff, max_per_txn, removed);
	uint32_t last_day = (uint32_t)(cutoff / PDNS_DAY); /* entries of later days are all younger */
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct idx_keys *ks = malloc(sizeof(*ks));
	int rc = (!md || !ks) ? D4_ENOMEM : 0;
	uint8_t pos[12] = {0}; /* scan position: entries before it were examined (kept ones stay) */
	uint64_t total = 0;
	while (!rc) {
		MDB_txn *txn;
		MDB_cursor *c;
		if ((rc = store_txn_begin(s, 0, &txn)))
			break;
		if ((rc = mdb_cursor_open(txn, s->dbi[DBI_PDNS_TIME], &c))) {
			rc = store_rc(rc, "pdns cursor");
			mdb_txn_abort(txn);
			break;
		}
		unsigned n = 0, examined = 0;
		int end = 0;
		MDB_val k = mv(pos, sizeof(pos)), v;
		int r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		while (!rc && n < max_per_txn && examined < 4 * max_per_txn) {
			if (r == MDB_NOTFOUND || (r == 0 && (k.mv_size != 12 || d4_get_u32be(k.mv_data) > last_day))) {
				if (r == 0 && k.mv_size != 12)
					rc = D4_ECORRUPT;
				end = 1;
				break;
			}
			if (r) {
				rc = store_rc(r, "pdns time scan");
				break;
			}
			examined++;
			uint8_t cur[12];
			memcpy(cur, k.mv_data, 12);
			uint64_t id = d4_get_u64be(cur + 4);
			MDB_val tk = v, tv;
			r = mdb_get(txn, s->dbi[DBI_PDNS_TUPLES], &tk, &tv);
			struct tup t;
			if (r == MDB_NOTFOUND) { /* stray entry: drop it */
				rc = del_key(txn, s->dbi[DBI_PDNS_TIME], cur, 12);
			} else if (r) {
				rc = store_rc(r, "pdns tuple get");
			} else if ((rc = dec_tup(v.mv_data, v.mv_size, tv.mv_data, tv.mv_size, &t))) {
				/* corrupt record */
			} else if (t.id != id || t.tl / PDNS_DAY != d4_get_u32be(cur)) {
				rc = del_key(txn, s->dbi[DBI_PDNS_TIME], cur, 12); /* stray: not this tuple's entry */
			} else if (t.tl < cutoff) {
				rc = tuple_delete(s, txn, md, ks, v.mv_data, v.mv_size, &t);
				n++;
			}
			if (rc)
				break;
			/* next position: just after cur (deletes never move later keys) */
			memcpy(pos, cur, 12);
			for (int i = 11; i >= 0 && ++pos[i] == 0; i--)
				;
			k = mv(pos, sizeof(pos));
			r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		}
		mdb_cursor_close(c);
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
	free(ks);
	if (removed)
		*removed = total;
	return rc;
}

/* ---- the id-keyed layout ---- */
#include "store_pdns_id.c"
