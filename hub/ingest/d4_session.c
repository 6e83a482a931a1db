/* d4hub — per-connection D4 session state machine (see d4_session.h). */
#include "d4_session.h"

#include "d4_error.h"
#include "d4_hubconf.h"
#include "d4_policy.h"
#include "d4_util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REG_BUCKETS 1024u

struct d4_claim {
	struct d4_claim *next;
	uint8_t uuid[16];
	uint8_t type;
	uint8_t live;
};

struct d4_session_registry {
	struct d4_claim *bucket[REG_BUCKETS];
	size_t count;
};

struct d4_session {
	struct d4_session_env *env;
	uint8_t addr[16];
	uint16_t port;

	int have_uuid;
	uint8_t uuid[16];
	unsigned long long nhdr; /* headers accepted so far */
	uint8_t type;		 /* current session type (first type, 254 after 2->254) */
	int verified;
	int proved; /* a packet's HMAC verified (set before the checks that follow it) */
	uint64_t id;

	int known; /* sensor record exists (else shared-secret auto-create) */
	struct d4_sensor sn;
	struct d4_hmac *hm;
	int keyed_shared; /* hm holds the hub's shared key ... */
	uint64_t key_gen; /* ... of this env->shared_key_gen */

	int have_cur;
	struct d4_hdr cur; /* header accepted last, whose payload is awaited */

	/* meta header (type 2) */
	struct d4_meta_parser *meta; /* reassembly, until meta_done */
	int meta_done;
	uint8_t tlp;
	uint8_t org[16];
	char ext_type[D4_EXT_TYPE_MAX];

	struct d4_claim claims[2]; /* first type, then 254 after a 2->254 change */
};

/* ---- registry ------------------------------------------------------------ */

struct d4_session_registry *d4_session_registry_new(void)
{
	return calloc(1, sizeof(struct d4_session_registry));
}

void d4_session_registry_free(struct d4_session_registry *r)
{
	free(r);
}

size_t d4_session_registry_count(const struct d4_session_registry *r)
{
	return r->count;
}

static unsigned reg_hash(const uint8_t uuid[16], uint8_t type)
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < 16; i++)
		h = (h ^ uuid[i]) * 16777619u;
	h = (h ^ type) * 16777619u;
	return h % REG_BUCKETS;
}

static int reg_claim(struct d4_session_registry *r, struct d4_claim *c, const uint8_t uuid[16], uint8_t type)
{
	unsigned b = reg_hash(uuid, type);
	for (struct d4_claim *it = r->bucket[b]; it; it = it->next)
		if (it->type == type && memcmp(it->uuid, uuid, 16) == 0)
			return D4_EBUSY;
	memcpy(c->uuid, uuid, 16);
	c->type = type;
	c->live = 1;
	c->next = r->bucket[b];
	r->bucket[b] = c;
	r->count++;
	return 0;
}

static void reg_release(struct d4_session_registry *r, struct d4_claim *c)
{
	if (!c->live)
		return;
	struct d4_claim **pp = &r->bucket[reg_hash(c->uuid, c->type)];
	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (!*pp)
		abort(); /* a live claim is always in its bucket */
	*pp = c->next;
	c->live = 0;
	r->count--;
}

/* ---- helpers ------------------------------------------------------------- */

static int reject(struct d4_session *s, struct d4_verdict *v, enum d4_reject why, const uint8_t *uuid, const char *fmt,
		  ...) __attribute__((format(printf, 5, 6)));

static int reject(struct d4_session *s, struct d4_verdict *v, enum d4_reject why, const uint8_t *uuid, const char *fmt,
		  ...)
{
	va_list ap;
	v->close = 1;
	v->reason = why;
	v->actions = 0;
	if (!uuid && s->have_uuid)
		uuid = s->uuid;
	v->has_uuid = uuid != NULL;
	if (uuid)
		memcpy(v->uuid, uuid, 16);
	else
		memset(v->uuid, 0, 16);
	/* Only an uuid this connection proved with an HMAC may be charged. */
	v->proven = (s->verified || s->proved) && uuid && memcmp(uuid, s->uuid, 16) == 0;
	va_start(ap, fmt);
	vsnprintf(v->detail, sizeof(v->detail), fmt, ap);
	va_end(ap);
	return D4_SESS_CLOSE;
}

static int cont(struct d4_verdict *v)
{
	v->close = 0;
	v->actions = 0;
	return D4_SESS_CONTINUE;
}

static uint32_t sensor_limit(const struct d4_session *s)
{
	if (s->known && s->sn.max_payload)
		return s->sn.max_payload;
	return s->env->max_payload;
}

/* The policy part of the chain (uuid-ips, uuid blocklist, status,
 * registration, ban) for uuid; fills *sn and *known on success. */
static int policy_check(struct d4_session *s, const uint8_t uuid[16], struct d4_sensor *sn, int *known,
			struct d4_verdict *v)
{
	const struct d4_session_env *e = s->env;
	if (e->ops->uuid_ips_blocked(e->u, uuid)) {
		reject(s, v, D4_REJ_UUID_IPS_BLOCKED, uuid, "every address of this uuid is blocked");
		v->actions = D4_ACT_BLOCK_IP;
		return D4_SESS_CLOSE;
	}
	if (e->ops->uuid_blocked(e->u, uuid))
		return reject(s, v, D4_REJ_UUID_BLOCKED, uuid, "uuid on the blocklist");
	int rc = e->ops->sensor_get(e->u, uuid, sn);
	if (rc != 0 && rc != D4_ENOTFOUND)
		return reject(s, v, D4_REJ_UNKNOWN_SENSOR, uuid, "sensor lookup failed: %s", d4_strerror(rc));
	*known = rc == 0;
	if (*known && sn->status == D4_SENSOR_BLOCKED)
		return reject(s, v, D4_REJ_UUID_BLOCKED, uuid, "sensor blocked");
	if (e->mode == D4_MODE_REGISTRATION) {
		if (!*known)
			return reject(s, v, D4_REJ_UNKNOWN_SENSOR, uuid, "sensor not registered");
		if (sn->status != D4_SENSOR_APPROVED)
			return reject(s, v, D4_REJ_NOT_APPROVED, uuid, "sensor registered but not approved");
		/* Created in shared-secret mode (auto-created) or otherwise keyless:
		 * an HMAC with an empty key proves nothing, anyone can compute it. */
		if (sn->keylen == 0)
			return reject(s, v, D4_REJ_UNKNOWN_SENSOR, uuid,
				      "sensor has no key of its own (registration mode needs one)");
	} else if ((!*known || sn->keylen == 0) && e->shared_keylen == 0) {
		return reject(s, v, D4_REJ_UNKNOWN_SENSOR, uuid,
			      "shared-secret mode without a shared key: only sensors with their own key are admitted");
	}
	if (*known && sn->ban_until > e->now_s)
		return reject(s, v, D4_REJ_BANNED, uuid, "kicked, banned for %" PRIu64 " more s",
			      sn->ban_until - e->now_s);
	return D4_SESS_CONTINUE;
}

/* Takes sn as the session's sensor and keys the HMAC context with its key
 * (shared-secret mode: the shared key unless the sensor has its own). */
static int adopt_sensor(struct d4_session *s, const struct d4_sensor *sn, int known)
{
	const uint8_t *key;
	size_t keylen;
	if (known && sn != &s->sn)
		memcpy(&s->sn, sn, sizeof(s->sn));
	else if (!known)
		memset(&s->sn, 0, sizeof(s->sn));
	s->known = known;
	int shared = 0;
	if (known && s->sn.keylen > 0) {
		key = s->sn.key;
		keylen = s->sn.keylen > D4_KEY_MAX ? D4_KEY_MAX : s->sn.keylen;
	} else if (s->env->mode == D4_MODE_SHARED_SECRET) {
		key = s->env->shared_key;
		keylen = s->env->shared_keylen;
		shared = 1;
	} else {
		key = s->sn.key; /* not reached: policy_check refuses keyless sensors here */
		keylen = 0;
	}
	struct d4_hmac *hm = d4_proto_hmac_new(key, keylen);
	/* The record's key is only needed inside the HMAC context. */
	d4_wipe(s->sn.key, sizeof(s->sn.key));
	if (!hm)
		return D4_ENOMEM;
	d4_proto_hmac_free(s->hm);
	s->hm = hm;
	s->keyed_shared = shared;
	s->key_gen = s->env->shared_key_gen;
	return 0;
}

/* Stream tag, else sensor default, else hub default (DESIGN.md §5). */
static void resolve_policy(struct d4_session *s, const struct d4_meta *m)
{
	enum d4_tlp stream = D4_TLP_NONE;
	if (m)
		stream = d4_policy_tlp_from_tags((const char(*)[128])m->tags, m->ntags, NULL);
	enum d4_tlp sdef = s->known ? (enum d4_tlp)s->sn.default_tlp : D4_TLP_NONE;
	s->tlp = (uint8_t)d4_policy_tlp_resolve(stream, sdef, (enum d4_tlp)s->env->hub_tlp);
	if (m && m->has_org)
		memcpy(s->org, m->org, 16);
	else if (s->known && s->sn.has_default_org)
		memcpy(s->org, s->sn.default_org, 16);
	else
		memcpy(s->org, s->env->hub_org, 16);
}

static void fill_meta(struct d4_session *s, struct d4_verdict *v)
{
	v->actions |= D4_ACT_META;
	v->meta.session = s->id;
	memcpy(v->meta.ext_type, s->ext_type, sizeof(v->meta.ext_type));
	v->meta.tlp = s->tlp;
	memcpy(v->meta.org, s->org, 16);
}

/* ---- public -------------------------------------------------------------- */

struct d4_session *d4_session_new(struct d4_session_env *env, const uint8_t addr[16], uint16_t port)
{
	struct d4_session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->env = env;
	memcpy(s->addr, addr, 16);
	s->port = port;
	return s;
}

void d4_session_free(struct d4_session *s)
{
	if (!s)
		return;
	reg_release(s->env->reg, &s->claims[0]);
	reg_release(s->env->reg, &s->claims[1]);
	d4_proto_hmac_free(s->hm);
	d4_proto_meta_parser_free(s->meta);
	d4_wipe(&s->sn, sizeof(s->sn));
	free(s);
}

int d4_session_on_connect(struct d4_session *s, struct d4_verdict *v)
{
	if (s->env->ops->ip_blocked(s->env->u, s->addr))
		return reject(s, v, D4_REJ_IP_BLOCKED, NULL, "address on the blocklist");
	return cont(v);
}

int d4_session_on_header(struct d4_session *s, const struct d4_hdr *h, int too_big, struct d4_verdict *v)
{
	const struct d4_session_env *e = s->env;
	int first = s->nhdr == 0;

	if (first || memcmp(h->uuid, s->uuid, 16) != 0) {
		struct d4_sensor tmp;
		int known = 0;
		int rc = policy_check(s, h->uuid, &tmp, &known, v);
		if (rc == D4_SESS_CONTINUE && first) {
			memcpy(s->uuid, h->uuid, 16);
			s->have_uuid = 1;
			if (adopt_sensor(s, &tmp, known) != 0)
				rc = reject(s, v, D4_REJ_HMAC, h->uuid, "out of memory for the HMAC context");
		}
		d4_wipe(tmp.key, sizeof(tmp.key));
		if (rc != D4_SESS_CONTINUE)
			return rc;
	}

	uint32_t limit = sensor_limit(s);
	if (h->size > limit)
		return reject(s, v, D4_REJ_TOO_BIG, h->uuid, "declared size %" PRIu32 " above the limit %" PRIu32,
			      h->size, limit);
	if (!s->verified && h->size > e->preauth_max)
		return reject(s, v, D4_REJ_PREAUTH_LIMIT, h->uuid,
			      "declared size %" PRIu32 " above the pre-authentication limit %" PRIu32, h->size,
			      e->preauth_max);
	if (too_big)
		return reject(s, v, D4_REJ_TOO_BIG, h->uuid, "declared size %" PRIu32 " above the limit", h->size);
	if (!d4_uuid_is_v4(h->uuid))
		return reject(s, v, D4_REJ_UUID_NOT_V4, h->uuid, "uuid is not a version 4 uuid");
	if (!e->ops->type_accepted(e->u, h->type))
		return reject(s, v, D4_REJ_TYPE_NOT_ACCEPTED, h->uuid, "type %u not accepted", h->type);

	int claim254 = 0;
	if (first) {
		/* No claim on (uuid, type) yet: anyone who knows a uuid can send
		 * this header. The slot is claimed by the first packet whose HMAC
		 * verifies (d4_session_on_frame); the duplicate check is there. */
		if (h->type == D4_TYPE_EXTENDED)
			return reject(s, v, D4_REJ_FIRST_254, h->uuid, "type 254 before a meta header");
	} else {
		if (h->type != s->type) {
			if (!(s->type == D4_TYPE_META && h->type == D4_TYPE_EXTENDED))
				return reject(s, v, D4_REJ_TYPE_CHANGE, NULL, "type change %u -> %u", s->type, h->type);
			if (!s->meta_done)
				return reject(s, v, D4_REJ_META_INVALID, h->uuid,
					      "type 254 before the meta header was complete");
			if (reg_claim(e->reg, &s->claims[1], h->uuid, h->type) != 0)
				return reject(s, v, D4_REJ_DUPLICATE_SESSION, h->uuid,
					      "a connection for this uuid and type 254 is already open");
			claim254 = 1;
		}
		if (memcmp(h->uuid, s->uuid, 16) != 0) {
			if (claim254)
				reg_release(e->reg, &s->claims[1]);
			/* Charged to the session's owner: the new uuid's key was never checked, so
			 * blaming it would let one sensor write another's counters. */
			char newhex[D4_UUID_HEX_LEN + 1];
			d4_uuid_hex(h->uuid, newhex);
			return reject(s, v, D4_REJ_UUID_CHANGE, NULL, "uuid changed within the session to %s", newhex);
		}
	}
	if (h->version != 1)
		return reject(s, v, D4_REJ_VERSION, h->uuid, "version %u, expected 1", h->version);
	if (e->timestamp_window) {
		uint64_t d = h->timestamp > e->now_s ? h->timestamp - e->now_s : e->now_s - h->timestamp;
		if (d > e->timestamp_window)
			return reject(s, v, D4_REJ_TIMESTAMP, h->uuid,
				      "timestamp %" PRIu64 " off by %" PRIu64 " s (window %" PRIu64 " s)", h->timestamp,
				      d, e->timestamp_window);
	}

	if (first || claim254)
		s->type = h->type;
	s->nhdr++;
	s->cur = *h;
	s->have_cur = 1;
	return cont(v);
}

int d4_session_on_frame(struct d4_session *s, const struct d4_frame *f, struct d4_verdict *v)
{
	const struct d4_session_env *e = s->env;
	if (!s->have_cur)
		abort(); /* the loop feeds a frame only after its header was accepted */
	s->have_cur = 0;

	int rc = d4_proto_hmac_verify_ctx(s->hm, f->raw_hdr, f->payload, f->hdr.size);
	if (rc != 0)
		return reject(s, v, D4_REJ_HMAC, f->hdr.uuid, "%s",
			      rc == D4_EHMAC ? "HMAC does not match" : "HMAC computation failed");
	s->proved = 1;

	if (!s->verified && s->type != D4_TYPE_META && !s->claims[0].live &&
	    reg_claim(e->reg, &s->claims[0], s->uuid, s->type) != 0) {
		/* this packet's HMAC verified: it is the sensor, charged to it */
		return reject(s, v, D4_REJ_DUPLICATE_SESSION, s->uuid,
			      "a connection for this uuid and type %u is already open", s->type);
	}

	uint64_t cap = d4_session_backlog_cap(s);
	int throttle = cap && e->ops->backlog(e->u, s->uuid) + f->hdr.size > cap;

	cont(v);
	if (!s->verified) {
		s->id = e->ops->session_id_new(e->u);
		v->actions |= D4_ACT_OPEN;
		v->open.session = s->id;
		memcpy(v->open.uuid, s->uuid, 16);
		v->open.type = s->type;
		memcpy(v->open.addr, s->addr, 16);
		v->open.port = s->port;
		v->open.when = e->now_s;
		v->open.auto_create = e->mode == D4_MODE_SHARED_SECRET && !s->known;
		resolve_policy(s, NULL);
		if (s->type != D4_TYPE_META)
			fill_meta(s, v);
	}

	if (f->hdr.type == D4_TYPE_META && !s->meta_done) {
		if (!s->meta && d4_proto_meta_parser_new(&s->meta) != D4_OK)
			return reject(s, v, D4_REJ_META_INVALID, NULL, "out of memory for the meta header");
		/* Incremental: each packet's bytes are parsed once (linear however
		 * the header is cut into packets). */
		struct d4_meta m;
		rc = d4_proto_meta_parser_feed(s->meta, f->payload, f->hdr.size, &m);
		if (rc == D4_ETOOBIG)
			return reject(s, v, D4_REJ_META_INVALID, NULL, "meta header larger than %d bytes", D4_META_MAX);
		if (rc == 0) {
			int ok = e->ops->ext_type_accepted(e->u, m.type);
			if (ok != 1)
				return reject(s, v, D4_REJ_EXT_TYPE_NOT_ACCEPTED, NULL,
					      "extended type \"%.64s\" not accepted", m.type);
			s->meta_done = 1;
			d4_strlcpy(s->ext_type, m.type, sizeof(s->ext_type));
			resolve_policy(s, &m);
			fill_meta(s, v);
			d4_proto_meta_parser_free(s->meta);
			s->meta = NULL;
		} else if (rc != D4_ETRUNC) {
			return reject(s, v, D4_REJ_META_INVALID, NULL, "meta header: %s", d4_strerror(rc));
		}
	}
	s->verified = 1;

	v->actions |= D4_ACT_FRAME;
	struct d4_frame_rec *r = &v->rec;
	r->session = s->id;
	memcpy(r->uuid, s->uuid, 16);
	r->type = f->hdr.type;
	r->version = f->hdr.version;
	r->tlp = s->tlp;
	memcpy(r->org, s->org, 16);
	r->hdr_ts = f->hdr.timestamp;
	r->recv_ms = e->now_ms;
	r->size = f->hdr.size;
	r->seq = 0;
	v->payload = f->payload;
	if (throttle)
		v->actions |= D4_ACT_THROTTLE;
	return D4_SESS_CONTINUE;
}

uint64_t d4_session_backlog_cap(const struct d4_session *s)
{
	return s->known && s->sn.max_backlog ? s->sn.max_backlog : s->env->max_backlog;
}

int d4_session_on_backlog_stall(struct d4_session *s, uint64_t backlog, struct d4_verdict *v)
{
	return reject(s, v, D4_REJ_BACKLOG, NULL,
		      "%" PRIu64 " bytes queued for this sensor (cap %" PRIu64 ") and not draining", backlog,
		      d4_session_backlog_cap(s));
}

int d4_session_on_timeout(struct d4_session *s, struct d4_verdict *v)
{
	return reject(s, v, D4_REJ_HEADER_TIMEOUT, NULL, "no complete header in time");
}

int d4_session_recheck(struct d4_session *s, struct d4_verdict *v)
{
	if (s->env->ops->ip_blocked(s->env->u, s->addr))
		return reject(s, v, D4_REJ_IP_BLOCKED, NULL, "address on the blocklist");
	if (!s->have_uuid)
		return cont(v);
	struct d4_sensor tmp;
	int known = 0;
	int rc = policy_check(s, s->uuid, &tmp, &known, v);
	/* The sensor proved the old shared key, not the new one: it must come
	 * back with the new key rather than fail on its next frame. */
	if (rc == D4_SESS_CONTINUE && s->verified && s->keyed_shared && s->key_gen != s->env->shared_key_gen)
		rc = reject(s, v, D4_REJ_HMAC, NULL, "the hub's shared key was changed; reconnect with the new key");
	if (rc == D4_SESS_CONTINUE && adopt_sensor(s, &tmp, known) != 0)
		rc = reject(s, v, D4_REJ_HMAC, NULL, "out of memory for the HMAC context");
	d4_wipe(tmp.key, sizeof(tmp.key));
	if (rc == D4_SESS_CLOSE && v->reason == D4_REJ_BANNED)
		snprintf(v->detail, sizeof(v->detail), "banned");
	return rc == D4_SESS_CLOSE ? rc : cont(v);
}

uint32_t d4_session_max_payload(const struct d4_session *s)
{
	uint32_t limit = sensor_limit(s);
	if (!s->verified && s->env->preauth_max < limit)
		return s->env->preauth_max;
	return limit;
}

uint64_t d4_session_id(const struct d4_session *s)
{
	return s->id;
}

const uint8_t *d4_session_uuid(const struct d4_session *s)
{
	return s->have_uuid ? s->uuid : NULL;
}

int d4_session_verified(const struct d4_session *s)
{
	return s->verified;
}

uint8_t d4_session_type(const struct d4_session *s)
{
	return s->type;
}
