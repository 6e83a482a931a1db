/* d4hub store — federation partners: the `partners` table and its codec.
 * Key = partner name; value = version byte 03 and the fields of
 * docs/store.md (02: the same without the rules' mixing, 01: also without
 * the in_flags byte; both still read),
 * decoded strictly: a count above its list size, a bad enum,
 * a TLP that is not a level, a malformed net, a short or long value is
 * D4_ECORRUPT. The record is validated before every write, so what the
 * store holds is always something d4_store_partner_check accepts. */
#include "d4_store_partner.h"
#include "store_internal.h"
#include "store_wire_internal.h"

#include "d4_error.h"
#include "d4_policy.h"
#include "d4_reader.h"
#include "d4_util.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARTNER_VAL_V2 2u    /* v1 + u8 in_flags */
#define PARTNER_VAL_V3 3u    /* v2 + the mixing of every rule */
#define IN_F_FETCH     0x01u /* in_flags: this hub fetches from the partner */
#define PARTNER_VAL_V4 4u    /* v3 + u8 sign_flags [+ pubkey[32]] */
#define SG_F_PUBKEY    0x01u /* sign_flags: a public key follows */
#define SG_F_MUST      0x02u /* its records must be signed */
#define SG_F_ONWARD    0x04u /* it may pass this hub's own records on */

static MDB_val mval(const void *p, size_t n)
{
	return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

/* ---- validation ---- */

int d4_store_partner_name_valid(const char *name)
{
	if (!name)
		return 0;
	size_t n = strnlen(name, D4_PARTNER_NAME_MAX);
	if (n == 0 || n >= D4_PARTNER_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		/* The name is a path segment of the API: no '/', no leading '.'. */
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return 0;
	}
	return 1;
}

static int fail(char *why, size_t whylen, const char *msg)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", msg);
	return D4_EINVAL;
}

/* Printable ASCII, NUL-terminated within the field. */
static int text_ok(const char *s, size_t field, int allow_space)
{
	size_t n = strnlen(s, field);
	if (n >= field)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x21 || c > 0x7e)
			if (!(allow_space && c == ' '))
				return 0;
	}
	return 1;
}

static int real_tlp(uint8_t t)
{
	return t >= D4_TLP_CLEAR && t <= D4_TLP_RED;
}

static int net_ok(const struct d4_partner_net *n)
{
	unsigned max = n->family == 4 ? 32 : n->family == 6 ? 128 : 0;
	if (!max || n->prefix > max)
		return 0;
	for (unsigned bit = n->prefix; bit < 128; bit++)
		if (n->addr[bit / 8] & (0x80u >> (bit % 8)))
			return 0; /* host bits, or bytes past an IPv4 address */
	return 1;
}

static int zero16(const uint8_t u[16])
{
	static const uint8_t z[16];
	return memcmp(u, z, 16) == 0;
}

/* The structural checks shared by the decoder and d4_store_partner_check. */
static const char *rule_problem(const struct d4_partner_rule *r)
{
	if (r->enabled > 1 || r->allow_amber > 1 || r->allow_relay > 1)
		return "rule flags must be 0 or 1";
	if (!real_tlp(r->max_tlp))
		return "rule max_tlp must be a TLP level";
	if (r->n_ext_allow > D4_PARTNER_LIST_MAX || r->n_ext_deny > D4_PARTNER_LIST_MAX ||
	    r->n_sensor_allow > D4_PARTNER_LIST_MAX || r->n_sensor_deny > D4_PARTNER_LIST_MAX ||
	    r->n_org_allow > D4_PARTNER_LIST_MAX || r->n_org_deny > D4_PARTNER_LIST_MAX ||
	    r->n_zone_allow > D4_PARTNER_LIST_MAX || r->n_zone_deny > D4_PARTNER_LIST_MAX ||
	    r->n_rrtype_allow > D4_PARTNER_LIST_MAX || r->n_rrtype_deny > D4_PARTNER_LIST_MAX ||
	    r->n_net_allow > D4_PARTNER_LIST_MAX || r->n_net_deny > D4_PARTNER_LIST_MAX)
		return "a rule list is longer than 32 entries";
	for (unsigned i = 0; i < r->n_ext_allow; i++)
		if (!r->ext_allow[i][0] || !text_ok(r->ext_allow[i], D4_PARTNER_EXT_MAX, 0))
			return "bad extended type";
	for (unsigned i = 0; i < r->n_ext_deny; i++)
		if (!r->ext_deny[i][0] || !text_ok(r->ext_deny[i], D4_PARTNER_EXT_MAX, 0))
			return "bad extended type";
	for (unsigned i = 0; i < r->n_zone_allow; i++)
		if (!text_ok(r->zone_allow[i], D4_PARTNER_ZONE_MAX, 0))
			return "bad zone suffix";
	for (unsigned i = 0; i < r->n_zone_deny; i++)
		if (!text_ok(r->zone_deny[i], D4_PARTNER_ZONE_MAX, 0))
			return "bad zone suffix";
	for (unsigned i = 0; i < r->n_net_allow; i++)
		if (!net_ok(&r->net_allow[i]))
			return "bad network";
	for (unsigned i = 0; i < r->n_net_deny; i++)
		if (!net_ok(&r->net_deny[i]))
			return "bad network";
	const struct d4_partner_mix *m = &r->mix;
	if (m->enabled > 1 || m->pool_sensors > 1)
		return "mix flags must be 0 or 1";
	if (m->delay_s > D4_PARTNER_MIX_DELAY_MAX || m->coarsen_s > D4_PARTNER_MIX_COARSEN_MAX)
		return "mix delay_s or coarsen_s out of range";
	return NULL;
}

static int mix_zero(const struct d4_partner_mix *m)
{
	static const struct d4_partner_mix z;
	return memcmp(m, &z, sizeof(z)) == 0;
}

static const char *partner_problem(const struct d4_partner *p)
{
	if (!d4_store_partner_name_valid(p->name))
		return "name: 1-63 of [A-Za-z0-9._-], starting with a letter or digit";
	if (strncmp(p->url, "https://", 8) != 0 || !p->url[8] || !text_ok(p->url, sizeof(p->url), 0))
		return "url: https://host[:port][/path], printable ASCII";
	if (strnlen(p->ca_pem, sizeof(p->ca_pem)) >= sizeof(p->ca_pem))
		return "ca: PEM text too long";
	for (const char *c = p->ca_pem; *c; c++)
		if (((unsigned char)*c < 0x20 && *c != '\n' && *c != '\r' && *c != '\t') || (unsigned char)*c > 0x7e)
			return "ca: PEM must be ASCII text";
	if (p->has_pin > 1)
		return "has_pin must be 0 or 1";
	if (!p->ca_pem[0] && !p->has_pin)
		return "trust: a CA bundle, an SPKI SHA-256 pin, or both";
	if (zero16(p->hub))
		return "hub: the partner's hub uuid is required";
	if (zero16(p->org))
		return "org: the partner's org uuid is required";
	if (p->relation < 1 || p->relation > D4_PARTNER_RELATION_MAX)
		return "relation: same-org, partner, community or public";
	if (p->direction < D4_PARTNER_PUSH || p->direction > D4_PARTNER_BOTH)
		return "direction: push, pull or both";
	if (p->enabled > 1)
		return "enabled must be 0 or 1";
	for (int k = 0; k < D4_PARTNER_KINDS; k++) {
		const char *e = rule_problem(&p->out[k]);
		if (e)
			return e;
		/* mixing is defined for pdns tuples and backscatter vectors */
		if (k != 1 && k != 2 && !mix_zero(&p->out[k].mix))
			return "mix: only the pdns and backscatter rules mix";
	}
	if (p->in.kinds >> D4_PARTNER_KINDS)
		return "inbound kinds: unknown kind";
	if (!real_tlp(p->in.max_tlp))
		return "inbound max_tlp must be a TLP level";
	if (p->in.fetch > 1)
		return "inbound fetch must be 0 or 1";
	if (p->has_pubkey > 1 || p->must_sign > 1 || p->onward > 1)
		return "pubkey, must_sign and onward flags must be 0 or 1";
	if (p->must_sign && !p->has_pubkey)
		return "must_sign needs the partner's pubkey";
	return NULL;
}

int d4_store_partner_check(const struct d4_partner *p, char *why, size_t whylen)
{
	if (!p)
		return fail(why, whylen, "no partner");
	const char *e = partner_problem(p);
	if (e)
		return fail(why, whylen, e);
	if (p->ca_pem[0]) {
		/* Every PEM block must be a certificate OpenSSL reads. */
		BIO *b = BIO_new_mem_buf(p->ca_pem, (int)strlen(p->ca_pem));
		int n = 0;
		X509 *x;
		while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
			X509_free(x);
			n++;
		}
		unsigned long err = ERR_peek_last_error();
		ERR_clear_error();
		BIO_free(b);
		/* The loop ends with "no start line" after the last certificate. */
		if (!n || (err && ERR_GET_REASON(err) != PEM_R_NO_START_LINE))
			return fail(why, whylen, "ca: not a PEM bundle of X.509 certificates");
	}
	return 0;
}

/* ---- codec ---- */

/* A list count, refused above the list size. */
static uint8_t rd_count(struct d4_reader *r)
{
	uint8_t n = d4_rd_u8(r);
	if (n > D4_PARTNER_LIST_MAX) {
		d4_rd_fail(r, D4_ECORRUPT);
		return 0;
	}
	return n;
}

static void enc_rule(struct wb *w, const struct d4_partner_rule *r)
{
	wb_u8(w, r->enabled);
	wb_u8(w, r->allow_amber);
	wb_u8(w, r->allow_relay);
	wb_u8(w, r->max_tlp);
	wb_bytes(w, r->type_allow, 32);
	wb_bytes(w, r->type_deny, 32);
	wb_u8(w, r->n_ext_allow);
	for (unsigned i = 0; i < r->n_ext_allow; i++)
		wb_str(w, r->ext_allow[i], D4_PARTNER_EXT_MAX);
	wb_u8(w, r->n_ext_deny);
	for (unsigned i = 0; i < r->n_ext_deny; i++)
		wb_str(w, r->ext_deny[i], D4_PARTNER_EXT_MAX);
	wb_u8(w, r->n_sensor_allow);
	wb_bytes(w, r->sensor_allow, (size_t)r->n_sensor_allow * 16);
	wb_u8(w, r->n_sensor_deny);
	wb_bytes(w, r->sensor_deny, (size_t)r->n_sensor_deny * 16);
	wb_u8(w, r->n_org_allow);
	wb_bytes(w, r->org_allow, (size_t)r->n_org_allow * 16);
	wb_u8(w, r->n_org_deny);
	wb_bytes(w, r->org_deny, (size_t)r->n_org_deny * 16);
	wb_u8(w, r->n_zone_allow);
	for (unsigned i = 0; i < r->n_zone_allow; i++)
		wb_str(w, r->zone_allow[i], D4_PARTNER_ZONE_MAX);
	wb_u8(w, r->n_zone_deny);
	for (unsigned i = 0; i < r->n_zone_deny; i++)
		wb_str(w, r->zone_deny[i], D4_PARTNER_ZONE_MAX);
	wb_u8(w, r->n_rrtype_allow);
	for (unsigned i = 0; i < r->n_rrtype_allow; i++)
		wb_u16(w, r->rrtype_allow[i]);
	wb_u8(w, r->n_rrtype_deny);
	for (unsigned i = 0; i < r->n_rrtype_deny; i++)
		wb_u16(w, r->rrtype_deny[i]);
	const struct d4_partner_net *nets[2] = {r->net_allow, r->net_deny};
	uint8_t counts[2] = {r->n_net_allow, r->n_net_deny};
	for (int l = 0; l < 2; l++) {
		wb_u8(w, counts[l]);
		for (unsigned i = 0; i < counts[l]; i++) {
			wb_u8(w, nets[l][i].family);
			wb_u8(w, nets[l][i].prefix);
			wb_bytes(w, nets[l][i].addr, 16);
		}
	}
}

static void dec_rule(struct d4_reader *r, struct d4_partner_rule *o)
{
	o->enabled = d4_rd_u8(r);
	o->allow_amber = d4_rd_u8(r);
	o->allow_relay = d4_rd_u8(r);
	o->max_tlp = d4_rd_u8(r);
	d4_rd_copy(r, o->type_allow, 32);
	d4_rd_copy(r, o->type_deny, 32);
	o->n_ext_allow = rd_count(r);
	for (unsigned i = 0; i < o->n_ext_allow; i++)
		rd_str(r, o->ext_allow[i], D4_PARTNER_EXT_MAX);
	o->n_ext_deny = rd_count(r);
	for (unsigned i = 0; i < o->n_ext_deny; i++)
		rd_str(r, o->ext_deny[i], D4_PARTNER_EXT_MAX);
	o->n_sensor_allow = rd_count(r);
	d4_rd_copy(r, o->sensor_allow, (size_t)o->n_sensor_allow * 16);
	o->n_sensor_deny = rd_count(r);
	d4_rd_copy(r, o->sensor_deny, (size_t)o->n_sensor_deny * 16);
	o->n_org_allow = rd_count(r);
	d4_rd_copy(r, o->org_allow, (size_t)o->n_org_allow * 16);
	o->n_org_deny = rd_count(r);
	d4_rd_copy(r, o->org_deny, (size_t)o->n_org_deny * 16);
	o->n_zone_allow = rd_count(r);
	for (unsigned i = 0; i < o->n_zone_allow; i++)
		rd_str(r, o->zone_allow[i], D4_PARTNER_ZONE_MAX);
	o->n_zone_deny = rd_count(r);
	for (unsigned i = 0; i < o->n_zone_deny; i++)
		rd_str(r, o->zone_deny[i], D4_PARTNER_ZONE_MAX);
	o->n_rrtype_allow = rd_count(r);
	for (unsigned i = 0; i < o->n_rrtype_allow; i++)
		o->rrtype_allow[i] = d4_rd_u16be(r);
	o->n_rrtype_deny = rd_count(r);
	for (unsigned i = 0; i < o->n_rrtype_deny; i++)
		o->rrtype_deny[i] = d4_rd_u16be(r);
	struct d4_partner_net *nets[2] = {o->net_allow, o->net_deny};
	uint8_t *counts[2] = {&o->n_net_allow, &o->n_net_deny};
	for (int l = 0; l < 2; l++) {
		*counts[l] = rd_count(r);
		for (unsigned i = 0; i < *counts[l]; i++) {
			nets[l][i].family = d4_rd_u8(r);
			nets[l][i].prefix = d4_rd_u8(r);
			d4_rd_copy(r, nets[l][i].addr, 16);
		}
	}
}

static void enc_mix(struct wb *w, const struct d4_partner_mix *m)
{
	wb_u8(w, m->enabled);
	wb_u8(w, m->pool_sensors);
	wb_u16(w, m->min_sensors);
	wb_u32(w, m->min_count);
	wb_u32(w, m->delay_s);
	wb_u32(w, m->coarsen_s);
	wb_u64(w, m->min_packets);
	wb_u32(w, m->min_duration_s);
	wb_bytes(w, m->pool, 16);
}

static void dec_mix(struct d4_reader *r, struct d4_partner_mix *m)
{
	m->enabled = d4_rd_u8(r);
	m->pool_sensors = d4_rd_u8(r);
	m->min_sensors = d4_rd_u16be(r);
	m->min_count = d4_rd_u32be(r);
	m->delay_s = d4_rd_u32be(r);
	m->coarsen_s = d4_rd_u32be(r);
	m->min_packets = d4_rd_u64be(r);
	m->min_duration_s = d4_rd_u32be(r);
	d4_rd_copy(r, m->pool, 16);
}

size_t d4_store_partner_encode(const struct d4_partner *p, uint8_t *buf)
{
	struct wb w = {buf, 0, D4_PARTNER_ENC_MAX};
	wb_u8(&w, PARTNER_VAL_V4);
	wb_str(&w, p->url, sizeof(p->url));
	wb_str(&w, p->ca_pem, sizeof(p->ca_pem));
	wb_u8(&w, p->has_pin);
	wb_bytes(&w, p->spki_sha256, 32);
	wb_bytes(&w, p->hub, 16);
	wb_bytes(&w, p->org, 16);
	wb_u8(&w, p->relation);
	wb_u8(&w, p->direction);
	wb_u8(&w, p->enabled);
	wb_u64(&w, p->created);
	wb_u64(&w, p->updated);
	wb_u8(&w, p->in.kinds);
	wb_u8(&w, p->in.max_tlp);
	wb_u32(&w, p->in.records_per_s);
	wb_u64(&w, p->in.bytes_per_day);
	/* The number of rules, so that a later version may add kinds. */
	wb_u8(&w, D4_PARTNER_KINDS);
	for (int k = 0; k < D4_PARTNER_KINDS; k++)
		enc_rule(&w, &p->out[k]);
	/* v2: appended, so that a v1 value is a strict prefix of the layout */
	wb_u8(&w, p->in.fetch ? IN_F_FETCH : 0);
	/* v3: the mixing of each rule, appended likewise */
	for (int k = 0; k < D4_PARTNER_KINDS; k++)
		enc_mix(&w, &p->out[k].mix);
	/* v4: the signing fields, appended likewise */
	wb_u8(&w, (uint8_t)((p->has_pubkey ? SG_F_PUBKEY : 0) | (p->must_sign ? SG_F_MUST : 0) |
			    (p->onward ? SG_F_ONWARD : 0)));
	if (p->has_pubkey)
		wb_bytes(&w, p->pubkey, 32);
	return w.len;
}

int d4_store_partner_decode(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, struct d4_partner *out)
{
	memset(out, 0, sizeof(*out));
	if (!key || klen == 0 || klen >= sizeof(out->name))
		return D4_ECORRUPT;
	memcpy(out->name, key, klen);
	struct d4_reader r;
	d4_rd_init(&r, val, vlen);
	uint8_t ver = d4_rd_u8(&r);
	if (ver != STORE_VAL_V1 && ver != PARTNER_VAL_V2 && ver != PARTNER_VAL_V3 && ver != PARTNER_VAL_V4)
		return D4_ECORRUPT;
	rd_str(&r, out->url, sizeof(out->url));
	rd_str(&r, out->ca_pem, sizeof(out->ca_pem));
	out->has_pin = d4_rd_u8(&r);
	d4_rd_copy(&r, out->spki_sha256, 32);
	d4_rd_copy(&r, out->hub, 16);
	d4_rd_copy(&r, out->org, 16);
	out->relation = d4_rd_u8(&r);
	out->direction = d4_rd_u8(&r);
	out->enabled = d4_rd_u8(&r);
	out->created = d4_rd_u64be(&r);
	out->updated = d4_rd_u64be(&r);
	out->in.kinds = d4_rd_u8(&r);
	out->in.max_tlp = d4_rd_u8(&r);
	out->in.records_per_s = d4_rd_u32be(&r);
	out->in.bytes_per_day = d4_rd_u64be(&r);
	if (d4_rd_u8(&r) != D4_PARTNER_KINDS)
		return D4_ECORRUPT;
	for (int k = 0; k < D4_PARTNER_KINDS && !d4_rd_error(&r); k++)
		dec_rule(&r, &out->out[k]);
	if (ver >= PARTNER_VAL_V2) {
		uint8_t f = d4_rd_u8(&r);
		if (f & ~IN_F_FETCH)
			return D4_ECORRUPT;
		out->in.fetch = (f & IN_F_FETCH) ? 1 : 0;
	}
	if (ver >= PARTNER_VAL_V3)
		for (int k = 0; k < D4_PARTNER_KINDS && !d4_rd_error(&r); k++)
			dec_mix(&r, &out->out[k].mix);
	if (ver >= PARTNER_VAL_V4) {
		uint8_t f = d4_rd_u8(&r);
		if (f & ~(SG_F_PUBKEY | SG_F_MUST | SG_F_ONWARD))
			return D4_ECORRUPT;
		out->has_pubkey = (f & SG_F_PUBKEY) ? 1 : 0;
		out->must_sign = (f & SG_F_MUST) ? 1 : 0;
		out->onward = (f & SG_F_ONWARD) ? 1 : 0;
		if (out->has_pubkey)
			d4_rd_copy(&r, out->pubkey, 32);
	}
	if (d4_rd_error(&r) || d4_rd_left(&r) || partner_problem(out))
		return D4_ECORRUPT;
	return 0;
}

/* ---- table ---- */

struct partner_put {
	const struct d4_partner *p;
	int create;
};

static int partner_put_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const struct partner_put *pp = arg;
	size_t klen = strlen(pp->p->name);
	MDB_val k = mval(pp->p->name, klen), v;
	uint64_t now = d4_now_s(), created = now;
	int rc = mdb_get(txn, s->dbi[DBI_PARTNERS], &k, &v);
	if (rc == 0) {
		if (pp->create)
			return D4_EEXIST;
		/* Keep the creation time; the old value need not decode (an
		 * update may repair a damaged record). */
		struct d4_partner *old = malloc(sizeof(*old));
		if (!old)
			return D4_ENOMEM;
		if (d4_store_partner_decode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, old) == 0)
			created = old->created;
		free(old);
	} else if (rc == MDB_NOTFOUND) {
		if (!pp->create)
			return D4_ENOTFOUND;
	} else {
		return store_rc(rc, "partner get");
	}
	struct d4_partner *rec = malloc(sizeof(*rec));
	uint8_t *buf = malloc(D4_PARTNER_ENC_MAX);
	if (!rec || !buf) {
		free(rec);
		free(buf);
		return D4_ENOMEM;
	}
	memcpy(rec, pp->p, sizeof(*rec));
	rec->created = created;
	rec->updated = now;
	MDB_val d = mval(buf, d4_store_partner_encode(rec, buf));
	rc = store_rc(mdb_put(txn, s->dbi[DBI_PARTNERS], &k, &d, 0), "partner put");
	free(rec);
	free(buf);
	return rc;
}

static int partner_write(struct d4_store *s, const struct d4_partner *p, int create)
{
	if (!s || !p || d4_store_partner_check(p, NULL, 0))
		return D4_EINVAL;
	if (s->opts.read_only)
		return D4_EPERM;
	struct partner_put pp = {p, create};
	return store_write(s, 1, partner_put_fn, &pp);
}

int d4_store_partner_add(struct d4_store *s, const struct d4_partner *p)
{
	return partner_write(s, p, 1);
}

int d4_store_partner_update(struct d4_store *s, const struct d4_partner *p)
{
	return partner_write(s, p, 0);
}

int d4_store_partner_get(struct d4_store *s, const char *name, struct d4_partner *out)
{
	if (!s || !out || !d4_store_partner_name_valid(name))
		return D4_EINVAL;
	if (s->dbi_absent[DBI_PARTNERS])
		return D4_ENOTFOUND;
	/* name may point into *out (get(p->name, p)): copy it before the
	 * decoder clears *out. */
	char key[D4_PARTNER_NAME_MAX];
	snprintf(key, sizeof(key), "%s", name);
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	MDB_val k = mval(key, strlen(key)), v;
	rc = mdb_get(txn, s->dbi[DBI_PARTNERS], &k, &v);
	if (rc == 0)
		rc = d4_store_partner_decode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, out);
	else
		rc = store_rc(rc, "partner get");
	mdb_txn_abort(txn);
	return rc;
}

static int partner_del_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const char *name = arg;
	MDB_val k = mval(name, strlen(name));
	int rc = mdb_del(txn, s->dbi[DBI_PARTNERS], &k, NULL);
	if (rc)
		return rc == MDB_NOTFOUND ? D4_ENOTFOUND : store_rc(rc, "partner del");
	/* its federation positions go with it: a partner created again under
	 * the name starts from the beginning */
	return store_fed_out_del_partner(s, txn, name);
}

int d4_store_partner_del(struct d4_store *s, const char *name)
{
	if (!s || !d4_store_partner_name_valid(name))
		return D4_EINVAL;
	if (s->opts.read_only)
		return D4_EPERM;
	return store_write(s, 1, partner_del_fn, name);
}

struct partner_scan {
	int (*cb)(void *ctx, const struct d4_partner *p);
	void *ctx;
	struct d4_partner *p;
};

static int partner_scan_fn(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct partner_scan *ps = ctx;
	int rc = d4_store_partner_decode(k->mv_data, k->mv_size, v->mv_data, v->mv_size, ps->p);
	if (rc)
		return rc;
	return ps->cb(ps->ctx, ps->p);
}

int d4_store_partner_foreach(struct d4_store *s, int (*cb)(void *ctx, const struct d4_partner *p), void *ctx)
{
	if (!s || !cb)
		return D4_EINVAL;
	struct partner_scan ps = {cb, ctx, malloc(sizeof(struct d4_partner))};
	if (!ps.p)
		return D4_ENOMEM;
	int rc = store_scan(s, DBI_PARTNERS, NULL, 0, NULL, 0, partner_scan_fn, &ps);
	free(ps.p);
	return rc;
}

/* ---- the hub's identity ---- */

#define ID_HUB_KEY "hub_uuid"
#define ID_ORG_KEY "org_uuid"

/* 1 found (out filled), 0 absent, negative on error. */
static int id_get(struct d4_store *s, MDB_txn *txn, const char *name, uint8_t out[16])
{
	MDB_val k = mval(name, strlen(name)), v;
	int rc = mdb_get(txn, s->dbi[DBI_SETTINGS], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return store_rc(rc, "identity get");
	const uint8_t *p = v.mv_data;
	if (v.mv_size != 17 || p[0] != STORE_VAL_V1 || zero16(p + 1))
		return D4_ECORRUPT;
	memcpy(out, p + 1, 16);
	return 1;
}

static int id_put(struct d4_store *s, MDB_txn *txn, const char *name, const uint8_t u[16])
{
	uint8_t b[17] = {STORE_VAL_V1};
	memcpy(b + 1, u, 16);
	MDB_val k = mval(name, strlen(name)), v = mval(b, sizeof(b));
	return store_rc(mdb_put(txn, s->dbi[DBI_SETTINGS], &k, &v, 0), "identity put");
}

struct id_args {
	const uint8_t *cfg[2];
	uint8_t *out[2];
	unsigned *changed;
};

static int identity_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	const struct id_args *a = arg;
	static const char *const names[2] = {ID_HUB_KEY, ID_ORG_KEY};
	for (int i = 0; i < 2; i++) {
		uint8_t stored[16];
		int rc = id_get(s, txn, names[i], stored);
		if (rc == D4_ECORRUPT && a->cfg[i]) {
			/* a damaged value, but the configuration says what it is */
			memset(stored, 0, sizeof(stored));
			rc = 1;
		}
		if (rc < 0)
			return rc;
		if (a->cfg[i]) {
			memcpy(a->out[i], a->cfg[i], 16);
			if (rc == 1 && memcmp(stored, a->cfg[i], 16) != 0 && a->changed)
				*a->changed |= 1u << i;
			if (rc == 0 || memcmp(stored, a->cfg[i], 16) != 0)
				if ((rc = id_put(s, txn, names[i], a->cfg[i])) != 0)
					return rc;
		} else if (rc == 1) {
			memcpy(a->out[i], stored, 16);
		} else {
			if (d4_uuid_gen_v4(a->out[i]) != 0)
				return D4_EIO;
			if ((rc = id_put(s, txn, names[i], a->out[i])) != 0)
				return rc;
		}
	}
	return 0;
}

int d4_store_identity(struct d4_store *s, const uint8_t *cfg_hub, const uint8_t *cfg_org, uint8_t hub[16],
		      uint8_t org[16], unsigned *changed)
{
	if (!s || !hub || !org || (cfg_hub && zero16(cfg_hub)) || (cfg_org && zero16(cfg_org)))
		return D4_EINVAL;
	if (changed)
		*changed = 0;
	if (s->opts.read_only)
		return D4_EPERM;
	struct id_args a = {{cfg_hub, cfg_org}, {hub, org}, changed};
	/* no epoch bump: nothing the ingest caches depends on it */
	return store_write(s, 0, identity_fn, &a);
}

int d4_store_identity_get(struct d4_store *s, uint8_t hub[16], uint8_t org[16])
{
	if (!s || !hub || !org)
		return D4_EINVAL;
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	int h = id_get(s, txn, ID_HUB_KEY, hub), o = id_get(s, txn, ID_ORG_KEY, org);
	mdb_txn_abort(txn);
	if (h < 0)
		return h;
	if (o < 0)
		return o;
	return (h == 1 && o == 1) ? 0 : D4_ENOTFOUND;
}

/* ---- the signing key's seed ---- */

#define SIGN_SEED_KEY "fed_sign_seed"

static int seed_get(struct d4_store *s, MDB_txn *txn, uint8_t seed[32])
{
	MDB_val k = mval(SIGN_SEED_KEY, strlen(SIGN_SEED_KEY)), v;
	int rc = mdb_get(txn, s->dbi[DBI_SETTINGS], &k, &v);
	if (rc == MDB_NOTFOUND)
		return D4_ENOTFOUND;
	if (rc)
		return store_rc(rc, "signing key get");
	const uint8_t *p = v.mv_data;
	if (v.mv_size != 33 || p[0] != STORE_VAL_V1)
		return D4_ECORRUPT;
	memcpy(seed, p + 1, 32);
	return 0;
}

struct seed_args {
	uint8_t *seed;
	int created;
};

static int seed_fn(struct d4_store *s, MDB_txn *txn, const void *arg)
{
	struct seed_args *a = (struct seed_args *)arg;
	int rc = seed_get(s, txn, a->seed);
	if (rc != D4_ENOTFOUND)
		return rc;
	uint8_t b[33] = {STORE_VAL_V1};
	if (RAND_bytes(b + 1, 32) != 1)
		return D4_EIO;
	memcpy(a->seed, b + 1, 32);
	MDB_val k = mval(SIGN_SEED_KEY, strlen(SIGN_SEED_KEY)), v = mval(b, sizeof(b));
	rc = store_rc(mdb_put(txn, s->dbi[DBI_SETTINGS], &k, &v, 0), "signing key put");
	OPENSSL_cleanse(b, sizeof(b));
	a->created = rc == 0;
	return rc;
}

int d4_store_sign_seed(struct d4_store *s, uint8_t seed[32], int *created)
{
	if (created)
		*created = 0;
	if (!s || !seed)
		return D4_EINVAL;
	if (s->opts.read_only)
		return D4_EPERM;
	struct seed_args a = {seed, 0};
	int rc = store_write(s, 0, seed_fn, &a);
	if (rc)
		OPENSSL_cleanse(seed, 32);
	else if (created)
		*created = a.created;
	return rc;
}

int d4_store_sign_seed_get(struct d4_store *s, uint8_t seed[32])
{
	if (!s || !seed)
		return D4_EINVAL;
	MDB_txn *txn;
	int rc = store_txn_begin(s, 1, &txn);
	if (rc)
		return rc;
	rc = seed_get(s, txn, seed);
	mdb_txn_abort(txn);
	return rc;
}
