/* d4hub store — explicit, versioned serialisation of every stored value.
 * Values are written field by field (never raw structs) so that the layout
 * is independent of the compiler and checkable on read: a short, long or
 * otherwise inconsistent value is D4_ECORRUPT, never a crash. */
#include "store_internal.h"
#include "store_wire_internal.h"

#include "d4_error.h"
#include "d4_reader.h"
#include "d4_util.h"

#include <stdlib.h>
#include <string.h>

static int rd_version(struct d4_reader *r)
{
	if (d4_rd_u8(r) != STORE_VAL_V1)
		d4_rd_fail(r, D4_ECORRUPT);
	return d4_rd_error(r);
}

/* ---- sensor ---- */
size_t store_enc_sensor(const struct d4_sensor *sn, uint8_t *buf)
{
	struct wb w = {buf, 0, STORE_SENSOR_MAX};
	uint16_t keylen = sn->keylen > D4_KEY_MAX ? D4_KEY_MAX : sn->keylen;
	wb_u8(&w, STORE_SENSOR_V2);
	wb_bytes(&w, sn->uuid, 16);
	wb_u16(&w, keylen);
	wb_bytes(&w, sn->key, keylen);
	wb_u8(&w, sn->status);
	wb_str(&w, sn->description, sizeof(sn->description));
	wb_str(&w, sn->mail, sizeof(sn->mail));
	wb_u8(&w, sn->default_tlp);
	wb_u8(&w, sn->has_default_org ? 1 : 0);
	wb_bytes(&w, sn->default_org, 16);
	wb_u32(&w, sn->max_payload);
	wb_u64(&w, sn->max_backlog);
	wb_u64(&w, sn->created);
	wb_u64(&w, sn->first_seen);
	wb_u64(&w, sn->last_seen);
	wb_u64(&w, sn->ban_until);
	wb_u64(&w, sn->packets);
	wb_u64(&w, sn->bytes);
	wb_u8(&w, D4_REJ_COUNT);
	for (int i = 0; i < D4_REJ_COUNT; i++)
		wb_u64(&w, sn->rejects[i]);
	wb_str(&w, sn->last_error, sizeof(sn->last_error));
	wb_u64(&w, sn->last_error_at);
	uint8_t n = sn->nlast_ips > D4_LAST_IPS ? D4_LAST_IPS : sn->nlast_ips;
	wb_u8(&w, n);
	for (unsigned i = 0; i < n; i++) {
		wb_bytes(&w, sn->last_ips[i].addr, 16);
		wb_u64(&w, sn->last_ips[i].when);
	}
	/* v2: fields added after v1 go at the end, so v1 is a prefix. */
	wb_u32(&w, sn->silence_threshold);
	return w.len;
}

int store_dec_sensor(const uint8_t *p, size_t len, struct d4_sensor *sn)
{
	struct d4_reader r;
	d4_rd_init(&r, p, len);
	memset(sn, 0, sizeof(*sn));
	/* Version 1 values (stores written before schema 2) are read as they
	 * are; they become v2 the next time the record is written. */
	uint8_t ver = d4_rd_u8(&r);
	if (ver != STORE_VAL_V1 && ver != STORE_SENSOR_V2)
		return D4_ECORRUPT;
	d4_rd_copy(&r, sn->uuid, 16);
	sn->keylen = d4_rd_u16be(&r);
	if (sn->keylen > D4_KEY_MAX)
		return D4_ECORRUPT;
	d4_rd_copy(&r, sn->key, sn->keylen);
	sn->status = d4_rd_u8(&r);
	rd_str(&r, sn->description, sizeof(sn->description));
	rd_str(&r, sn->mail, sizeof(sn->mail));
	sn->default_tlp = d4_rd_u8(&r);
	sn->has_default_org = d4_rd_u8(&r);
	d4_rd_copy(&r, sn->default_org, 16);
	sn->max_payload = d4_rd_u32be(&r);
	sn->max_backlog = d4_rd_u64be(&r);
	sn->created = d4_rd_u64be(&r);
	sn->first_seen = d4_rd_u64be(&r);
	sn->last_seen = d4_rd_u64be(&r);
	sn->ban_until = d4_rd_u64be(&r);
	sn->packets = d4_rd_u64be(&r);
	sn->bytes = d4_rd_u64be(&r);
	/* A later version may know more reasons: keep the ones we know. */
	unsigned nrej = d4_rd_u8(&r);
	for (unsigned i = 0; i < nrej; i++) {
		uint64_t v = d4_rd_u64be(&r);
		if (i < D4_REJ_COUNT)
			sn->rejects[i] = v;
	}
	rd_str(&r, sn->last_error, sizeof(sn->last_error));
	sn->last_error_at = d4_rd_u64be(&r);
	sn->nlast_ips = d4_rd_u8(&r);
	if (sn->nlast_ips > D4_LAST_IPS || sn->status > D4_SENSOR_BLOCKED || sn->has_default_org > 1)
		return D4_ECORRUPT;
	for (unsigned i = 0; i < sn->nlast_ips; i++) {
		d4_rd_copy(&r, sn->last_ips[i].addr, 16);
		sn->last_ips[i].when = d4_rd_u64be(&r);
	}
	if (ver >= STORE_SENSOR_V2)
		sn->silence_threshold = d4_rd_u32be(&r);
	return rd_done(&r);
}

/* The fields a list shows, without the key and the per-reason counters. It
 * walks the whole value with the same checks as store_dec_sensor, so a value
 * one decoder refuses the other refuses too; skipped fields are not copied. */
int store_dec_sensor_summary(const uint8_t *p, size_t len, struct d4_sensor_summary *sm)
{
	struct d4_reader r;
	d4_rd_init(&r, p, len);
	uint8_t ver = d4_rd_u8(&r);
	if (ver != STORE_VAL_V1 && ver != STORE_SENSOR_V2)
		return D4_ECORRUPT;
	d4_rd_copy(&r, sm->uuid, 16);
	uint16_t keylen = d4_rd_u16be(&r);
	if (keylen > D4_KEY_MAX)
		return D4_ECORRUPT;
	d4_rd_skip(&r, keylen);
	sm->status = d4_rd_u8(&r);
	rd_str(&r, sm->description, sizeof(sm->description));
	uint16_t n = d4_rd_u16be(&r); /* mail */
	if (n >= sizeof(((struct d4_sensor *)0)->mail))
		return D4_ECORRUPT;
	const uint8_t *mail = d4_rd_ptr(&r, n);
	if (mail && memchr(mail, '\0', n))
		return D4_ECORRUPT;
	d4_rd_skip(&r, 1); /* default_tlp */
	uint8_t has_org = d4_rd_u8(&r);
	d4_rd_skip(&r, 16 + 4 + 8); /* default_org, max_payload, max_backlog */
	sm->created = d4_rd_u64be(&r);
	sm->first_seen = d4_rd_u64be(&r);
	sm->last_seen = d4_rd_u64be(&r);
	d4_rd_skip(&r, 8); /* ban_until */
	sm->packets = d4_rd_u64be(&r);
	sm->bytes = d4_rd_u64be(&r);
	unsigned nrej = d4_rd_u8(&r);
	d4_rd_skip(&r, (size_t)nrej * 8);
	rd_str(&r, sm->last_error, sizeof(sm->last_error));
	sm->last_error_at = d4_rd_u64be(&r);
	uint8_t nips = d4_rd_u8(&r);
	if (nips > D4_LAST_IPS || sm->status > D4_SENSOR_BLOCKED || has_org > 1)
		return D4_ECORRUPT;
	d4_rd_skip(&r, (size_t)nips * 24);
	sm->silence_threshold = ver >= STORE_SENSOR_V2 ? d4_rd_u32be(&r) : 0;
	return rd_done(&r);
}

/* ---- session ---- */
#define SESSION_F_FED 1u

void store_wb_fed_prov(struct wb *w, const struct d4_store_fed_prov *pv)
{
	static const uint8_t zero[16];
	uint8_t nvia = pv->nvia > D4_STORE_FED_VIA_MAX ? D4_STORE_FED_VIA_MAX : pv->nvia;
	wb_u8(w, pv->stripped ? 1 : 0);
	wb_u8(w, pv->has_origin ? 1 : 0);
	wb_bytes(w, pv->has_origin ? pv->origin : zero, 16);
	wb_u8(w, nvia);
	wb_bytes(w, pv->via, 16u * nvia);
}

void store_rd_fed_prov(struct d4_reader *r, struct d4_store_fed_prov *pv)
{
	static const uint8_t zero[16];
	memset(pv, 0, sizeof(*pv));
	pv->stripped = d4_rd_u8(r);
	pv->has_origin = d4_rd_u8(r);
	d4_rd_copy(r, pv->origin, 16);
	pv->nvia = d4_rd_u8(r);
	if (pv->stripped > 1 || pv->has_origin > 1 || pv->nvia > D4_STORE_FED_VIA_MAX ||
	    (!pv->has_origin && memcmp(pv->origin, zero, 16))) {
		d4_rd_fail(r, D4_ECORRUPT);
		pv->nvia = 0;
		return;
	}
	d4_rd_copy(r, pv->via, 16u * pv->nvia);
}

size_t store_enc_session_fed(const struct d4_session_info *si, const struct d4_store_fed_session *fed, uint8_t *buf)
{
	struct wb w = {buf, 0, STORE_SESSION_MAX};
	int v2 = si->fed && fed;
	/* local sessions stay v1: a store without received data keeps the
	 * layout older builds read */
	wb_u8(&w, v2 ? STORE_SESSION_V2 : STORE_VAL_V1);
	wb_bytes(&w, si->uuid, 16);
	wb_u8(&w, si->type);
	wb_str(&w, si->ext_type, sizeof(si->ext_type));
	wb_u8(&w, si->tlp);
	wb_bytes(&w, si->org, 16);
	wb_bytes(&w, si->addr, 16);
	wb_u16(&w, si->port);
	wb_u64(&w, si->started);
	wb_u64(&w, si->ended);
	wb_u64(&w, si->frames);
	wb_u64(&w, si->bytes);
	wb_str(&w, si->close_reason, sizeof(si->close_reason));
	if (v2) {
		wb_u8(&w, SESSION_F_FED);
		wb_str(&w, fed->partner, sizeof(fed->partner));
		wb_bytes(&w, fed->sender, 16);
		wb_u64(&w, fed->origin_session);
		store_wb_fed_prov(&w, &fed->prov);
	}
	return w.len;
}

size_t store_enc_session(const struct d4_session_info *si, uint8_t *buf)
{
	return store_enc_session_fed(si, NULL, buf);
}

int store_dec_session_fed(const uint8_t *p, size_t len, uint64_t id, struct d4_session_info *si,
			  struct d4_store_fed_session *fed)
{
	struct d4_reader r;
	d4_rd_init(&r, p, len);
	memset(si, 0, sizeof(*si));
	if (fed)
		memset(fed, 0, sizeof(*fed));
	si->session = id;
	uint8_t ver = d4_rd_u8(&r);
	if (ver != STORE_VAL_V1 && ver != STORE_SESSION_V2)
		return D4_ECORRUPT;
	d4_rd_copy(&r, si->uuid, 16);
	si->type = d4_rd_u8(&r);
	rd_str(&r, si->ext_type, sizeof(si->ext_type));
	si->tlp = d4_rd_u8(&r);
	d4_rd_copy(&r, si->org, 16);
	d4_rd_copy(&r, si->addr, 16);
	si->port = d4_rd_u16be(&r);
	si->started = d4_rd_u64be(&r);
	si->ended = d4_rd_u64be(&r);
	si->frames = d4_rd_u64be(&r);
	si->bytes = d4_rd_u64be(&r);
	rd_str(&r, si->close_reason, sizeof(si->close_reason));
	if (ver == STORE_SESSION_V2) {
		uint8_t flags = d4_rd_u8(&r);
		if (flags & ~SESSION_F_FED)
			return D4_ECORRUPT; /* a flag this build does not know */
		if (flags & SESSION_F_FED) {
			struct d4_store_fed_session tmp, *f = fed ? fed : &tmp;
			si->fed = 1;
			rd_str(&r, f->partner, sizeof(f->partner));
			d4_rd_copy(&r, f->sender, 16);
			f->origin_session = d4_rd_u64be(&r);
			store_rd_fed_prov(&r, &f->prov);
		}
	}
	return rd_done(&r);
}

int store_dec_session(const uint8_t *p, size_t len, uint64_t id, struct d4_session_info *si)
{
	return store_dec_session_fed(p, len, id, si, NULL);
}

/* ---- per (sensor, type[, ext type]) stats ---- */
size_t store_stype_key(const uint8_t uuid[16], uint8_t type, const char *ext, uint8_t *key)
{
	memcpy(key, uuid, 16);
	key[16] = type;
	size_t n = type == 254 && ext ? strnlen(ext, D4_EXT_TYPE_MAX - 1) : 0;
	memcpy(key + 17, ext, n);
	return 17 + n;
}

size_t store_enc_stype(const struct d4_sensor_type_stat *st, uint8_t *buf)
{
	struct wb w = {buf, 0, 33};
	wb_u8(&w, STORE_VAL_V1);
	wb_u64(&w, st->first_seen);
	wb_u64(&w, st->last_seen);
	wb_u64(&w, st->packets);
	wb_u64(&w, st->bytes);
	return w.len;
}

int store_dec_stype(const uint8_t *key, size_t klen, const uint8_t *p, size_t len, struct d4_sensor_type_stat *st)
{
	memset(st, 0, sizeof(*st));
	if (klen < 17 || klen - 17 >= D4_EXT_TYPE_MAX)
		return D4_ECORRUPT;
	st->type = key[16];
	memcpy(st->ext_type, key + 17, klen - 17);
	struct d4_reader r;
	d4_rd_init(&r, p, len);
	if (rd_version(&r))
		return D4_ECORRUPT;
	st->first_seen = d4_rd_u64be(&r);
	st->last_seen = d4_rd_u64be(&r);
	st->packets = d4_rd_u64be(&r);
	st->bytes = d4_rd_u64be(&r);
	return rd_done(&r);
}

/* ---- daily stats ---- */
void store_daily_key(uint32_t day, const uint8_t uuid[16], uint8_t type, uint8_t key[21])
{
	d4_put_u32be(key, day);
	if (uuid)
		memcpy(key + 4, uuid, 16);
	else
		memset(key + 4, 0, 16);
	key[20] = type;
}

size_t store_enc_daily(const struct d4_daily_stat *st, uint8_t *buf)
{
	struct wb w = {buf, 0, 25};
	wb_u8(&w, STORE_VAL_V1);
	wb_u64(&w, st->packets);
	wb_u64(&w, st->bytes);
	wb_u64(&w, st->rejects);
	return w.len;
}

int store_dec_daily(const uint8_t *key, size_t klen, const uint8_t *p, size_t len, struct d4_daily_stat *st)
{
	memset(st, 0, sizeof(*st));
	if (klen != 21)
		return D4_ECORRUPT;
	st->day = d4_get_u32be(key);
	memcpy(st->uuid, key + 4, 16);
	st->type = key[20];
	struct d4_reader r;
	d4_rd_init(&r, p, len);
	if (rd_version(&r))
		return D4_ECORRUPT;
	st->packets = d4_rd_u64be(&r);
	st->bytes = d4_rd_u64be(&r);
	st->rejects = d4_rd_u64be(&r);
	return rd_done(&r);
}

/* ---- totals ---- */
size_t store_enc_totals(const struct d4_totals *t, uint8_t *buf)
{
	struct wb w = {buf, 0, 26 + 8 * D4_REJ_COUNT};
	wb_u8(&w, STORE_VAL_V1);
	wb_u64(&w, t->frames);
	wb_u64(&w, t->bytes);
	wb_u64(&w, t->sessions);
	wb_u8(&w, D4_REJ_COUNT);
	for (int i = 0; i < D4_REJ_COUNT; i++)
		wb_u64(&w, t->rejects[i]);
	return w.len;
}

int store_dec_totals(const uint8_t *p, size_t len, struct d4_totals *t)
{
	memset(t, 0, sizeof(*t));
	struct d4_reader r;
	d4_rd_init(&r, p, len);
	if (rd_version(&r))
		return D4_ECORRUPT;
	t->frames = d4_rd_u64be(&r);
	t->bytes = d4_rd_u64be(&r);
	t->sessions = d4_rd_u64be(&r);
	unsigned n = d4_rd_u8(&r);
	for (unsigned i = 0; i < n; i++) {
		uint64_t v = d4_rd_u64be(&r);
		if (i < D4_REJ_COUNT)
			t->rejects[i] = v;
	}
	return rd_done(&r);
}

/* ---- users: key = name, value = role and creation time ---- */
size_t store_enc_user(const struct d4_user *u, uint8_t *buf)
{
	struct wb w = {buf, 0, STORE_USER_MAX};
	wb_u8(&w, STORE_VAL_V1);
	wb_u8(&w, u->role);
	wb_u64(&w, u->created);
	return w.len;
}

int store_dec_user(const uint8_t *key, size_t klen, const uint8_t *p, size_t len, struct d4_user *u)
{
	memset(u, 0, sizeof(*u));
	if (klen == 0 || klen >= sizeof(u->name))
		return D4_ECORRUPT;
	memcpy(u->name, key, klen);
	if (!d4_store_user_name_valid(u->name))
		return D4_ECORRUPT;
	struct d4_reader r;
	d4_rd_init(&r, p, len);
	if (rd_version(&r))
		return D4_ECORRUPT;
	u->role = d4_rd_u8(&r);
	u->created = d4_rd_u64be(&r);
	if (u->role < D4_STORE_ROLE_SENSOR_REGISTER || u->role > D4_STORE_ROLE_ADMIN)
		return D4_ECORRUPT;
	return rd_done(&r);
}

/* ---- tokens: key = sha256(text), value = id and public info ---- */
size_t store_enc_token(const uint8_t id[STORE_TOKEN_ID], const struct d4_token_info *t, uint8_t *buf)
{
	struct wb w = {buf, 0, STORE_TOKEN_MAX};
	wb_u8(&w, STORE_VAL_V1);
	wb_bytes(&w, id, STORE_TOKEN_ID);
	wb_str(&w, t->user, sizeof(t->user));
	wb_str(&w, t->label, sizeof(t->label));
	wb_u64(&w, t->created);
	wb_u64(&w, t->last_used);
	return w.len;
}

int store_dec_token(const uint8_t *p, size_t len, uint8_t id[STORE_TOKEN_ID], struct d4_token_info *t)
{
	struct d4_reader r;
	d4_rd_init(&r, p, len);
	memset(t, 0, sizeof(*t));
	if (rd_version(&r))
		return D4_ECORRUPT;
	d4_rd_copy(&r, id, STORE_TOKEN_ID);
	rd_str(&r, t->user, sizeof(t->user));
	rd_str(&r, t->label, sizeof(t->label));
	t->created = d4_rd_u64be(&r);
	t->last_used = d4_rd_u64be(&r);
	if (rd_done(&r))
		return D4_ECORRUPT;
	d4_hex_encode(id, STORE_TOKEN_ID, t->id);
	return 0;
}

/* ---- blocklist ---- */
size_t store_block_key(const struct d4_block_entry *e, uint8_t key[18])
{
	key[0] = e->kind;
	if (e->kind == D4_BLOCK_IP) {
		memcpy(key + 1, e->addr, 16);
		key[17] = e->prefix;
		return 18;
	}
	memcpy(key + 1, e->uuid, 16);
	return 17;
}

int store_dec_block(const uint8_t *key, size_t klen, const uint8_t *p, size_t len, struct d4_block_entry *e)
{
	memset(e, 0, sizeof(*e));
	if (klen < 1)
		return D4_ECORRUPT;
	e->kind = key[0];
	if (e->kind == D4_BLOCK_IP) {
		if (klen != 18 || key[17] > 128)
			return D4_ECORRUPT;
		memcpy(e->addr, key + 1, 16);
		e->prefix = key[17];
	} else if (e->kind == D4_BLOCK_UUID || e->kind == D4_BLOCK_UUID_IPS) {
		if (klen != 17)
			return D4_ECORRUPT;
		memcpy(e->uuid, key + 1, 16);
	} else {
		return D4_ECORRUPT;
	}
	struct d4_reader r;
	d4_rd_init(&r, p, len);
	if (rd_version(&r))
		return D4_ECORRUPT;
	e->created = d4_rd_u64be(&r);
	return rd_done(&r);
}

/* ---- frame log chunks ---- */
void store_enc_chunk_hdr(const struct store_chunk_hdr *h, uint8_t *p)
{
	p[0] = STORE_VAL_V1;
	d4_put_u32be(p + 1, h->count);
	d4_put_u64be(p + 5, h->session);
	d4_put_u64be(p + 13, h->first_seq);
	d4_put_u64be(p + 21, h->min_ms);
	d4_put_u64be(p + 29, h->max_ms);
}

int store_dec_chunk_hdr(const uint8_t *p, size_t len, struct store_chunk_hdr *h)
{
	struct d4_reader r;
	d4_rd_init(&r, p, len);
	if (rd_version(&r))
		return D4_ECORRUPT;
	h->count = d4_rd_u32be(&r);
	h->session = d4_rd_u64be(&r);
	h->first_seq = d4_rd_u64be(&r);
	h->min_ms = d4_rd_u64be(&r);
	h->max_ms = d4_rd_u64be(&r);
	if (d4_rd_error(&r) || h->count == 0 || (uint64_t)h->count * STORE_FREC_HDR > len - STORE_CHUNK_HDR)
		return D4_ECORRUPT;
	return 0;
}

void store_enc_frec(const struct d4_frame_rec *rec, uint8_t *p)
{
	d4_put_u64be(p, rec->seq);
	d4_put_u64be(p + 8, rec->session);
	memcpy(p + 16, rec->uuid, 16);
	p[32] = rec->type;
	p[33] = rec->version;
	p[34] = rec->tlp;
	memcpy(p + 35, rec->org, 16);
	d4_put_u64be(p + 51, rec->hdr_ts);
	d4_put_u64be(p + 59, rec->recv_ms);
	d4_put_u32be(p + 67, rec->size);
}

int store_chunk_walk(const uint8_t *p, size_t len, uint64_t from_seq,
		     int (*cb)(void *ctx, const struct d4_frame_rec *rec, const uint8_t *payload), void *ctx)
{
	struct store_chunk_hdr h;
	if (store_dec_chunk_hdr(p, len, &h))
		return D4_ECORRUPT;
	struct d4_reader r;
	d4_rd_init(&r, p + STORE_CHUNK_HDR, len - STORE_CHUNK_HDR);
	for (uint32_t i = 0; i < h.count; i++) {
		struct d4_frame_rec rec;
		rec.seq = d4_rd_u64be(&r);
		rec.session = d4_rd_u64be(&r);
		d4_rd_copy(&r, rec.uuid, 16);
		rec.type = d4_rd_u8(&r);
		rec.version = d4_rd_u8(&r);
		rec.tlp = d4_rd_u8(&r);
		d4_rd_copy(&r, rec.org, 16);
		rec.hdr_ts = d4_rd_u64be(&r);
		rec.recv_ms = d4_rd_u64be(&r);
		rec.size = d4_rd_u32be(&r);
		const uint8_t *payload = d4_rd_ptr(&r, rec.size);
		/* Records of a chunk are consecutive seqs of one session. */
		if (d4_rd_error(&r) || rec.seq != h.first_seq + i || rec.session != h.session)
			return D4_ECORRUPT;
		if (rec.seq < from_seq)
			continue;
		if (cb(ctx, &rec, payload))
			return 1;
	}
	return d4_rd_left(&r) ? D4_ECORRUPT : 0;
}
