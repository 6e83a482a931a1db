/* d4hub — federation: the JSON form of a partner and of a dry-run record,
 * shared by the REST API and d4hubctl so that both accept and print the
 * same document (openapi/d4hub.yaml, schemas Partner and DryRunRecord).
 * Input is untrusted: every member is type- and range-checked, unknown
 * members are refused, and the first problem is reported by member path. */
#include "d4_error.h"
#include "d4_federation.h"
#include "d4_util.h"
#include "fed_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int bad(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return D4_EINVAL;
}

/* Every member of obj must be in names (NULL-terminated), once. */
static int members_known(yajl_val obj, const char *const *names, const char *path, char *err, size_t errlen)
{
	for (size_t i = 0; i < obj->u.object.len; i++) {
		const char *k = obj->u.object.keys[i];
		int known = 0;
		for (const char *const *n = names; *n && !known; n++)
			known = !strcmp(k, *n);
		if (!known)
			return bad(err, errlen, "%s%s: unknown member", path, k);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(k, obj->u.object.keys[j]))
				return bad(err, errlen, "%s%s: repeated member", path, k);
	}
	return 0;
}

static yajl_val member(yajl_val obj, const char *name)
{
	for (size_t i = 0; i < obj->u.object.len; i++)
		if (!strcmp(obj->u.object.keys[i], name))
			return obj->u.object.values[i];
	return NULL;
}

/* A string member: 1 present (*out borrowed), 0 absent, D4_EINVAL. */
static int get_str(yajl_val obj, const char *name, size_t max, const char *path, const char **out, char *err,
		   size_t errlen)
{
	yajl_val v = member(obj, name);
	if (!v)
		return 0;
	if (!YAJL_IS_STRING(v))
		return bad(err, errlen, "%s%s: must be a string", path, name);
	if (strlen(v->u.string) > max)
		return bad(err, errlen, "%s%s: longer than %zu bytes", path, name, max);
	*out = v->u.string;
	return 1;
}

static int get_bool(yajl_val obj, const char *name, const char *path, uint8_t *out, char *err, size_t errlen)
{
	yajl_val v = member(obj, name);
	if (!v)
		return 0;
	if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return bad(err, errlen, "%s%s: must be true or false", path, name);
	*out = YAJL_IS_TRUE(v) ? 1 : 0;
	return 1;
}

static int get_uint(yajl_val obj, const char *name, uint64_t max, const char *path, uint64_t *out, char *err,
		    size_t errlen)
{
	yajl_val v = member(obj, name);
	if (!v)
		return 0;
	if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0 || (uint64_t)YAJL_GET_INTEGER(v) > max)
		return bad(err, errlen, "%s%s: must be an integer from 0 to %llu", path, name, (unsigned long long)max);
	*out = (uint64_t)YAJL_GET_INTEGER(v);
	return 1;
}

static int get_tlp(yajl_val obj, const char *name, const char *path, uint8_t *out, char *err, size_t errlen)
{
	const char *s;
	int r = get_str(obj, name, 32, path, &s, err, errlen);
	if (r <= 0)
		return r;
	enum d4_tlp t = d4_policy_tlp_parse(s);
	/* A clearance must be a real level: "unclear" clears for nothing. */
	if (t < D4_TLP_CLEAR || t > D4_TLP_RED)
		return bad(err, errlen, "%s%s: must be a TLP level (tlp:clear ... tlp:red)", path, name);
	*out = (uint8_t)t;
	return 1;
}

static int get_uuid(yajl_val obj, const char *name, const char *path, uint8_t out[16], char *err, size_t errlen)
{
	const char *s;
	int r = get_str(obj, name, 64, path, &s, err, errlen);
	if (r <= 0)
		return r;
	if (d4_uuid_parse(s, out) != 0)
		return bad(err, errlen, "%s%s: must be a uuid", path, name);
	return 1;
}

/* An array member of at most max items: 1 present (*arr), 0 absent. */
static int get_array(yajl_val obj, const char *name, size_t max, const char *path, yajl_val *arr, char *err,
		     size_t errlen)
{
	yajl_val v = member(obj, name);
	if (!v)
		return 0;
	if (!YAJL_IS_ARRAY(v))
		return bad(err, errlen, "%s%s: must be an array", path, name);
	if (v->u.array.len > max)
		return bad(err, errlen, "%s%s: at most %zu entries", path, name, max);
	*arr = v;
	return 1;
}

static int uuid_list(yajl_val obj, const char *name, const char *path, uint8_t (*out)[16], uint8_t *n, char *err,
		     size_t errlen)
{
	yajl_val a;
	int r = get_array(obj, name, D4_PARTNER_LIST_MAX, path, &a, err, errlen);
	if (r <= 0)
		return r;
	for (size_t i = 0; i < a->u.array.len; i++) {
		yajl_val v = a->u.array.values[i];
		if (!YAJL_IS_STRING(v) || d4_uuid_parse(v->u.string, out[i]) != 0)
			return bad(err, errlen, "%s%s[%zu]: must be a uuid", path, name, i);
	}
	*n = (uint8_t)a->u.array.len;
	return 1;
}

static int text_list(yajl_val obj, const char *name, const char *path, char *out, size_t field, uint8_t *n, char *err,
		     size_t errlen)
{
	yajl_val a;
	int r = get_array(obj, name, D4_PARTNER_LIST_MAX, path, &a, err, errlen);
	if (r <= 0)
		return r;
	for (size_t i = 0; i < a->u.array.len; i++) {
		yajl_val v = a->u.array.values[i];
		if (!YAJL_IS_STRING(v) || !v->u.string[0] || strlen(v->u.string) >= field)
			return bad(err, errlen, "%s%s[%zu]: must be a string of 1 to %zu bytes", path, name, i,
				   field - 1);
		for (const char *c = v->u.string; *c; c++)
			if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e)
				return bad(err, errlen, "%s%s[%zu]: printable ASCII without spaces", path, name, i);
		memcpy(out + i * field, v->u.string, strlen(v->u.string) + 1);
	}
	*n = (uint8_t)a->u.array.len;
	return 1;
}

static int type_map(yajl_val obj, const char *name, const char *path, uint8_t map[32], char *err, size_t errlen)
{
	yajl_val a;
	int r = get_array(obj, name, 256, path, &a, err, errlen);
	if (r <= 0)
		return r;
	memset(map, 0, 32);
	for (size_t i = 0; i < a->u.array.len; i++) {
		yajl_val v = a->u.array.values[i];
		if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0 || YAJL_GET_INTEGER(v) > 255)
			return bad(err, errlen, "%s%s[%zu]: must be a D4 type 0..255", path, name, i);
		unsigned t = (unsigned)YAJL_GET_INTEGER(v);
		map[t / 8] |= (uint8_t)(1u << (t % 8));
	}
	return 1;
}

static int rrtype_list(yajl_val obj, const char *name, const char *path, uint16_t *out, uint8_t *n, char *err,
		       size_t errlen)
{
	yajl_val a;
	int r = get_array(obj, name, D4_PARTNER_LIST_MAX, path, &a, err, errlen);
	if (r <= 0)
		return r;
	for (size_t i = 0; i < a->u.array.len; i++) {
		yajl_val v = a->u.array.values[i];
		if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0 || YAJL_GET_INTEGER(v) > 65535)
			return bad(err, errlen, "%s%s[%zu]: must be an rrtype number 0..65535", path, name, i);
		out[i] = (uint16_t)YAJL_GET_INTEGER(v);
	}
	*n = (uint8_t)a->u.array.len;
	return 1;
}

static int net_list(yajl_val obj, const char *name, const char *path, struct d4_partner_net *out, uint8_t *n, char *err,
		    size_t errlen)
{
	yajl_val a;
	int r = get_array(obj, name, D4_PARTNER_LIST_MAX, path, &a, err, errlen);
	if (r <= 0)
		return r;
	for (size_t i = 0; i < a->u.array.len; i++) {
		yajl_val v = a->u.array.values[i];
		if (!YAJL_IS_STRING(v) || d4_fed_net_parse(v->u.string, &out[i]) != 0)
			return bad(err, errlen,
				   "%s%s[%zu]: must be a network (10.0.0.0/8, 2001:db8::/32) without host bits", path,
				   name, i);
	}
	*n = (uint8_t)a->u.array.len;
	return 1;
}

static const char *const rule_members[] = {
    "enabled",	       "max_tlp",	 "allow_amber", "allow_relay", "sensors_allow",
    "sensors_deny",    "orgs_allow",	 "orgs_deny",	"types_allow", "types_deny",
    "ext_types_allow", "ext_types_deny", "zones_allow", "zones_deny",  "rrtypes_allow",
    "rrtypes_deny",    "nets_allow",	 "nets_deny",	"mix",	       NULL};

static const char *const mix_members_pdns[] = {"enabled", "delay_s",	 "coarsen_s", "pool_sensors",
					       "pool_id", "min_sensors", "min_count", NULL};
static const char *const mix_members_bs[] = {"enabled", "delay_s",     "coarsen_s",	 "pool_sensors",
					     "pool_id", "min_packets", "min_duration_s", NULL};

/* The rule's "mix" object. A rule that does not mix yet starts from the
 * kind's safe defaults, so "mix": {} turns mixing on safely and a member
 * given changes only itself; "enabled" is true unless the object says. */
static int mix_apply(yajl_val obj, enum d4_fed_kind kind, struct d4_partner_mix *m, const char *path, char *err,
		     size_t errlen)
{
	if (kind != D4_FED_KIND_PDNS && kind != D4_FED_KIND_BACKSCATTER)
		return bad(err, errlen, "%s.mix: only the pdns and backscatter rules mix", path);
	if (!YAJL_IS_OBJECT(obj))
		return bad(err, errlen, "%s.mix: must be an object", path);
	char p[64];
	snprintf(p, sizeof(p), "%s.mix.", path);
	int rc = members_known(obj, kind == D4_FED_KIND_PDNS ? mix_members_pdns : mix_members_bs, p, err, errlen);
	if (rc)
		return rc;
	struct d4_partner_mix n = *m;
	if (!n.enabled) {
		static const struct d4_partner_mix zero;
		if (!memcmp(&n, &zero, sizeof(zero)))
			d4_fed_mix_defaults(kind, &n);
		n.enabled = 1;
	}
	uint64_t v;
	int r;
	if (get_bool(obj, "enabled", p, &n.enabled, err, errlen) < 0 ||
	    get_bool(obj, "pool_sensors", p, &n.pool_sensors, err, errlen) < 0)
		return D4_EINVAL;
	if ((r = get_uint(obj, "delay_s", D4_PARTNER_MIX_DELAY_MAX, p, &v, err, errlen)) < 0)
		return r;
	if (r)
		n.delay_s = (uint32_t)v;
	if ((r = get_uint(obj, "coarsen_s", D4_PARTNER_MIX_COARSEN_MAX, p, &v, err, errlen)) < 0)
		return r;
	if (r)
		n.coarsen_s = (uint32_t)v;
	if ((r = get_uint(obj, "min_sensors", 65535, p, &v, err, errlen)) < 0)
		return r;
	if (r)
		n.min_sensors = (uint16_t)v;
	if ((r = get_uint(obj, "min_count", UINT32_MAX, p, &v, err, errlen)) < 0)
		return r;
	if (r)
		n.min_count = (uint32_t)v;
	if ((r = get_uint(obj, "min_packets", (uint64_t)INT64_MAX, p, &v, err, errlen)) < 0)
		return r;
	if (r)
		n.min_packets = v;
	if ((r = get_uint(obj, "min_duration_s", UINT32_MAX, p, &v, err, errlen)) < 0)
		return r;
	if (r)
		n.min_duration_s = (uint32_t)v;
	yajl_val pv = member(obj, "pool_id");
	if (pv && YAJL_IS_NULL(pv)) {
		memset(n.pool, 0, 16);
	} else if ((r = get_uuid(obj, "pool_id", p, n.pool, err, errlen)) < 0) {
		return r;
	}
	*m = n;
	return 0;
}

/* Applies the members present in obj onto *r (a rule object replaces only
 * what it names, so that PATCH can change one list). */
static int rule_apply(yajl_val obj, enum d4_fed_kind kind, struct d4_partner_rule *r, const char *path, char *err,
		      size_t errlen)
{
	if (!YAJL_IS_OBJECT(obj))
		return bad(err, errlen, "%s: must be an object", path);
	char p[64];
	snprintf(p, sizeof(p), "%s.", path);
	int rc = members_known(obj, rule_members, p, err, errlen);
	if (rc)
		return rc;
	if (get_bool(obj, "enabled", p, &r->enabled, err, errlen) < 0 ||
	    get_tlp(obj, "max_tlp", p, &r->max_tlp, err, errlen) < 0 ||
	    get_bool(obj, "allow_amber", p, &r->allow_amber, err, errlen) < 0 ||
	    get_bool(obj, "allow_relay", p, &r->allow_relay, err, errlen) < 0 ||
	    uuid_list(obj, "sensors_allow", p, r->sensor_allow, &r->n_sensor_allow, err, errlen) < 0 ||
	    uuid_list(obj, "sensors_deny", p, r->sensor_deny, &r->n_sensor_deny, err, errlen) < 0 ||
	    uuid_list(obj, "orgs_allow", p, r->org_allow, &r->n_org_allow, err, errlen) < 0 ||
	    uuid_list(obj, "orgs_deny", p, r->org_deny, &r->n_org_deny, err, errlen) < 0 ||
	    type_map(obj, "types_allow", p, r->type_allow, err, errlen) < 0 ||
	    type_map(obj, "types_deny", p, r->type_deny, err, errlen) < 0 ||
	    text_list(obj, "ext_types_allow", p, &r->ext_allow[0][0], D4_PARTNER_EXT_MAX, &r->n_ext_allow, err,
		      errlen) < 0 ||
	    text_list(obj, "ext_types_deny", p, &r->ext_deny[0][0], D4_PARTNER_EXT_MAX, &r->n_ext_deny, err, errlen) <
		0 ||
	    text_list(obj, "zones_allow", p, &r->zone_allow[0][0], D4_PARTNER_ZONE_MAX, &r->n_zone_allow, err, errlen) <
		0 ||
	    text_list(obj, "zones_deny", p, &r->zone_deny[0][0], D4_PARTNER_ZONE_MAX, &r->n_zone_deny, err, errlen) <
		0 ||
	    rrtype_list(obj, "rrtypes_allow", p, r->rrtype_allow, &r->n_rrtype_allow, err, errlen) < 0 ||
	    rrtype_list(obj, "rrtypes_deny", p, r->rrtype_deny, &r->n_rrtype_deny, err, errlen) < 0 ||
	    net_list(obj, "nets_allow", p, r->net_allow, &r->n_net_allow, err, errlen) < 0 ||
	    net_list(obj, "nets_deny", p, r->net_deny, &r->n_net_deny, err, errlen) < 0)
		return D4_EINVAL;
	yajl_val mix = member(obj, "mix");
	if (mix && (rc = mix_apply(mix, kind, &r->mix, path, err, errlen)) != 0)
		return rc;
	return 0;
}

const char *const d4_fed_partner_members[] = {"name",	  "url",      "ca_pem",	   "spki_sha256", "hub_uuid",
					      "org_uuid", "relation", "direction", "enabled",	  "outbound",
					      "inbound",  "pubkey",   "must_sign", "onward",	  NULL};
static const char *const inbound_members[] = {"kinds", "max_tlp", "records_per_s", "bytes_per_day", "fetch", NULL};
static const char *const direction_names[] = {"", "push", "pull", "both"};

void d4_fed_partner_defaults(struct d4_partner *p)
{
	memset(p, 0, sizeof(*p));
	p->direction = D4_PARTNER_PUSH;
	p->enabled = 1;
	for (int k = 0; k < D4_PARTNER_KINDS; k++)
		p->out[k].max_tlp = D4_TLP_CLEAR; /* and not enabled: nothing goes until a rule says so */
	p->in.max_tlp = D4_TLP_AMBER;
}

int d4_fed_partner_apply_json(yajl_val obj, struct d4_partner *p, int create, char *err, size_t errlen)
{
	if (!obj || !p || !YAJL_IS_OBJECT(obj))
		return bad(err, errlen, "the partner must be a JSON object");
	int rc = members_known(obj, d4_fed_partner_members, "", err, errlen);
	if (rc)
		return rc;
	const char *s;
	int r = get_str(obj, "name", D4_PARTNER_NAME_MAX - 1, "", &s, err, errlen);
	if (r < 0)
		return r;
	if (r == 0 && create && !p->name[0])
		return bad(err, errlen, "name: required");
	if (r > 0) {
		if (!d4_store_partner_name_valid(s))
			return bad(err, errlen, "name: 1 to 63 of A-Z a-z 0-9 . _ -, starting with a letter or digit");
		if (!create && strcmp(s, p->name) != 0)
			return bad(err, errlen, "name: a partner cannot be renamed (delete and create)");
		snprintf(p->name, sizeof(p->name), "%s", s);
	}
	if ((r = get_str(obj, "url", D4_PARTNER_URL_MAX - 1, "", &s, err, errlen)) < 0)
		return r;
	if (r > 0)
		snprintf(p->url, sizeof(p->url), "%s", s);
	if ((r = get_str(obj, "ca_pem", D4_PARTNER_CA_MAX - 1, "", &s, err, errlen)) < 0)
		return r;
	if (r > 0)
		snprintf(p->ca_pem, sizeof(p->ca_pem), "%s", s);
	yajl_val pin = member(obj, "spki_sha256");
	if (pin && YAJL_IS_NULL(pin)) {
		p->has_pin = 0;
		memset(p->spki_sha256, 0, 32);
	} else if (pin) {
		if (!YAJL_IS_STRING(pin) || strlen(pin->u.string) != 64 ||
		    d4_hex_decode(pin->u.string, 64, p->spki_sha256, 32) != 0)
			return bad(err, errlen,
				   "spki_sha256: 64 hex digits (SHA-256 of the DER SubjectPublicKeyInfo) or null");
		p->has_pin = 1;
	}
	if (get_uuid(obj, "hub_uuid", "", p->hub, err, errlen) < 0 ||
	    get_uuid(obj, "org_uuid", "", p->org, err, errlen) < 0)
		return D4_EINVAL;
	if ((r = get_str(obj, "relation", 16, "", &s, err, errlen)) < 0)
		return r;
	if (r > 0) {
		int rel = d4_fed_relation_parse(s);
		if (rel < 0)
			return bad(err, errlen, "relation: same-org, partner, community or public");
		p->relation = (uint8_t)rel;
	}
	if ((r = get_str(obj, "direction", 8, "", &s, err, errlen)) < 0)
		return r;
	if (r > 0) {
		int d = 0;
		for (int i = 1; i <= 3; i++)
			if (!strcasecmp(s, direction_names[i]))
				d = i;
		if (!d)
			return bad(err, errlen, "direction: push, pull or both");
		p->direction = (uint8_t)d;
	}
	if (get_bool(obj, "enabled", "", &p->enabled, err, errlen) < 0)
		return D4_EINVAL;
	yajl_val pk = member(obj, "pubkey");
	if (pk && YAJL_IS_NULL(pk)) {
		p->has_pubkey = 0;
		memset(p->pubkey, 0, 32);
	} else if (pk) {
		if (!YAJL_IS_STRING(pk) || d4_fed_pubkey_parse(pk->u.string, p->pubkey) != 0)
			return bad(err, errlen,
				   "pubkey: the partner hub's Ed25519 public key, 32 bytes in base64 (44 "
				   "characters), or null");
		p->has_pubkey = 1;
	}
	if (get_bool(obj, "must_sign", "", &p->must_sign, err, errlen) < 0 ||
	    get_bool(obj, "onward", "", &p->onward, err, errlen) < 0)
		return D4_EINVAL;
	yajl_val out = member(obj, "outbound");
	if (out) {
		if (!YAJL_IS_OBJECT(out))
			return bad(err, errlen, "outbound: must be an object of kind -> rule");
		for (size_t i = 0; i < out->u.object.len; i++) {
			int k = d4_fed_kind_parse(out->u.object.keys[i]);
			char path[48];
			snprintf(path, sizeof(path), "outbound.%.20s", out->u.object.keys[i]);
			if (k < 0 || strcmp(out->u.object.keys[i], d4_fed_kind_name((enum d4_fed_kind)k)) != 0)
				return bad(err, errlen, "%s: unknown kind (frames, pdns, backscatter, certs)", path);
			for (size_t j = 0; j < i; j++)
				if (!strcmp(out->u.object.keys[i], out->u.object.keys[j]))
					return bad(err, errlen, "%s: repeated member", path);
			if ((rc = rule_apply(out->u.object.values[i], (enum d4_fed_kind)k, &p->out[k], path, err,
					     errlen)) != 0)
				return rc;
		}
	}
	yajl_val in = member(obj, "inbound");
	if (in) {
		if (!YAJL_IS_OBJECT(in))
			return bad(err, errlen, "inbound: must be an object");
		if ((rc = members_known(in, inbound_members, "inbound.", err, errlen)) != 0)
			return rc;
		yajl_val kinds;
		if ((r = get_array(in, "kinds", D4_PARTNER_KINDS, "inbound.", &kinds, err, errlen)) < 0)
			return r;
		if (r > 0) {
			uint8_t bits = 0;
			for (size_t i = 0; i < kinds->u.array.len; i++) {
				yajl_val v = kinds->u.array.values[i];
				int k = YAJL_IS_STRING(v) ? d4_fed_kind_parse(v->u.string) : -1;
				if (k < 0)
					return bad(err, errlen,
						   "inbound.kinds[%zu]: frames, pdns, backscatter or certs", i);
				bits |= (uint8_t)(1u << k);
			}
			p->in.kinds = bits;
		}
		uint64_t v;
		if (get_tlp(in, "max_tlp", "inbound.", &p->in.max_tlp, err, errlen) < 0)
			return D4_EINVAL;
		if ((r = get_uint(in, "records_per_s", UINT32_MAX, "inbound.", &v, err, errlen)) < 0)
			return r;
		if (r > 0)
			p->in.records_per_s = (uint32_t)v;
		if ((r = get_uint(in, "bytes_per_day", INT64_MAX, "inbound.", &v, err, errlen)) < 0)
			return r;
		if (r > 0)
			p->in.bytes_per_day = v;
		if (get_bool(in, "fetch", "inbound.", &p->in.fetch, err, errlen) < 0)
			return D4_EINVAL;
	}
	/* The store's checks, with their message. */
	char why[128];
	if (d4_store_partner_check(p, why, sizeof(why)) != 0)
		return bad(err, errlen, "%s", why);
	return 0;
}

/* ---- output ---- */

static void gs(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}
static void gkv(yajl_gen g, const char *k, const char *v)
{
	gs(g, k);
	gs(g, v);
}
/* RFC 3339 UTC like every time of the API; 0 (never) is null. */
static void gtime(yajl_gen g, const char *k, uint64_t t)
{
	gs(g, k);
	struct tm tm;
	time_t tt = (time_t)t;
	char buf[32];
	if (!t || !gmtime_r(&tt, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
		yajl_gen_null(g);
	else
		gs(g, buf);
}

static void guuid(yajl_gen g, const uint8_t u[16])
{
	char hex[D4_UUID_HEX_LEN + 1];
	d4_uuid_hex(u, hex);
	gs(g, hex);
}
static void guuids(yajl_gen g, const char *k, const uint8_t (*l)[16], unsigned n)
{
	gs(g, k);
	yajl_gen_array_open(g);
	for (unsigned i = 0; i < n; i++)
		guuid(g, l[i]);
	yajl_gen_array_close(g);
}
static void gtexts(yajl_gen g, const char *k, const char *l, size_t field, unsigned n)
{
	gs(g, k);
	yajl_gen_array_open(g);
	for (unsigned i = 0; i < n; i++)
		gs(g, l + i * field);
	yajl_gen_array_close(g);
}
static void gtypes(yajl_gen g, const char *k, const uint8_t map[32])
{
	gs(g, k);
	yajl_gen_array_open(g);
	for (unsigned t = 0; t < 256; t++)
		if (map[t / 8] & (1u << (t % 8)))
			yajl_gen_integer(g, t);
	yajl_gen_array_close(g);
}
static void gnets(yajl_gen g, const char *k, const struct d4_partner_net *l, unsigned n)
{
	gs(g, k);
	yajl_gen_array_open(g);
	for (unsigned i = 0; i < n; i++) {
		char buf[64];
		d4_fed_net_format(&l[i], buf, sizeof(buf));
		gs(g, buf);
	}
	yajl_gen_array_close(g);
}

static void gu64(yajl_gen g, const char *k, uint64_t v)
{
	gs(g, k);
	yajl_gen_integer(g, (long long)v);
}

static void mix_json(yajl_gen g, enum d4_fed_kind kind, const struct d4_partner_mix *m)
{
	static const uint8_t zero[16];
	gs(g, "mix");
	yajl_gen_map_open(g);
	gs(g, "enabled");
	yajl_gen_bool(g, m->enabled);
	gu64(g, "delay_s", m->delay_s);
	gu64(g, "coarsen_s", m->coarsen_s);
	gs(g, "pool_sensors");
	yajl_gen_bool(g, m->pool_sensors);
	gs(g, "pool_id");
	if (memcmp(m->pool, zero, 16))
		guuid(g, m->pool);
	else
		yajl_gen_null(g);
	if (kind == D4_FED_KIND_PDNS) {
		gu64(g, "min_sensors", m->min_sensors);
		gu64(g, "min_count", m->min_count);
	} else {
		gu64(g, "min_packets", m->min_packets);
		gu64(g, "min_duration_s", m->min_duration_s);
	}
	yajl_gen_map_close(g);
}

static void rule_json(yajl_gen g, enum d4_fed_kind kind, const struct d4_partner_rule *r)
{
	yajl_gen_map_open(g);
	gs(g, "enabled");
	yajl_gen_bool(g, r->enabled);
	gkv(g, "max_tlp", d4_policy_tlp_name((enum d4_tlp)r->max_tlp));
	gs(g, "allow_amber");
	yajl_gen_bool(g, r->allow_amber);
	gs(g, "allow_relay");
	yajl_gen_bool(g, r->allow_relay);
	guuids(g, "sensors_allow", r->sensor_allow, r->n_sensor_allow);
	guuids(g, "sensors_deny", r->sensor_deny, r->n_sensor_deny);
	guuids(g, "orgs_allow", r->org_allow, r->n_org_allow);
	guuids(g, "orgs_deny", r->org_deny, r->n_org_deny);
	gtypes(g, "types_allow", r->type_allow);
	gtypes(g, "types_deny", r->type_deny);
	gtexts(g, "ext_types_allow", &r->ext_allow[0][0], D4_PARTNER_EXT_MAX, r->n_ext_allow);
	gtexts(g, "ext_types_deny", &r->ext_deny[0][0], D4_PARTNER_EXT_MAX, r->n_ext_deny);
	gtexts(g, "zones_allow", &r->zone_allow[0][0], D4_PARTNER_ZONE_MAX, r->n_zone_allow);
	gtexts(g, "zones_deny", &r->zone_deny[0][0], D4_PARTNER_ZONE_MAX, r->n_zone_deny);
	gs(g, "rrtypes_allow");
	yajl_gen_array_open(g);
	for (unsigned i = 0; i < r->n_rrtype_allow; i++)
		yajl_gen_integer(g, r->rrtype_allow[i]);
	yajl_gen_array_close(g);
	gs(g, "rrtypes_deny");
	yajl_gen_array_open(g);
	for (unsigned i = 0; i < r->n_rrtype_deny; i++)
		yajl_gen_integer(g, r->rrtype_deny[i]);
	yajl_gen_array_close(g);
	gnets(g, "nets_allow", r->net_allow, r->n_net_allow);
	gnets(g, "nets_deny", r->net_deny, r->n_net_deny);
	if (kind == D4_FED_KIND_PDNS || kind == D4_FED_KIND_BACKSCATTER)
		mix_json(g, kind, &r->mix);
	yajl_gen_map_close(g);
}

void d4_fed_partner_json(yajl_gen g, const struct d4_partner *p, enum d4_fed_json_form form)
{
	int full = form != D4_FED_JSON_LIST, input = form == D4_FED_JSON_INPUT;
	yajl_gen_map_open(g);
	gkv(g, "name", p->name);
	gkv(g, "url", p->url);
	if (full)
		gkv(g, "ca_pem", p->ca_pem);
	if (!input) {
		gs(g, "has_ca");
		yajl_gen_bool(g, p->ca_pem[0] != '\0');
	}
	gs(g, "spki_sha256");
	if (p->has_pin) {
		char hex[65];
		d4_hex_encode(p->spki_sha256, 32, hex);
		gs(g, hex);
	} else {
		yajl_gen_null(g);
	}
	gs(g, "hub_uuid");
	guuid(g, p->hub);
	gs(g, "org_uuid");
	guuid(g, p->org);
	gkv(g, "relation", d4_fed_relation_name((enum d4_fed_relation)p->relation));
	gkv(g, "direction", p->direction <= 3 ? direction_names[p->direction] : "invalid");
	gs(g, "enabled");
	yajl_gen_bool(g, p->enabled);
	gs(g, "pubkey");
	if (p->has_pubkey) {
		char b64[D4_FED_PUBKEY_B64_LEN + 1];
		d4_fed_pubkey_b64(p->pubkey, b64);
		gs(g, b64);
	} else {
		yajl_gen_null(g);
	}
	gs(g, "must_sign");
	yajl_gen_bool(g, p->must_sign);
	gs(g, "onward");
	yajl_gen_bool(g, p->onward);
	if (full) {
		gs(g, "outbound");
		yajl_gen_map_open(g);
		for (int k = 0; k < D4_PARTNER_KINDS; k++) {
			gs(g, d4_fed_kind_name((enum d4_fed_kind)k));
			rule_json(g, (enum d4_fed_kind)k, &p->out[k]);
		}
		yajl_gen_map_close(g);
		gs(g, "inbound");
		yajl_gen_map_open(g);
		gs(g, "kinds");
		yajl_gen_array_open(g);
		for (int k = 0; k < D4_PARTNER_KINDS; k++)
			if (p->in.kinds & (1u << k))
				gs(g, d4_fed_kind_name((enum d4_fed_kind)k));
		yajl_gen_array_close(g);
		gkv(g, "max_tlp", d4_policy_tlp_name((enum d4_tlp)p->in.max_tlp));
		gs(g, "records_per_s");
		yajl_gen_integer(g, p->in.records_per_s);
		gs(g, "bytes_per_day");
		yajl_gen_integer(g, (long long)p->in.bytes_per_day);
		gs(g, "fetch");
		yajl_gen_bool(g, p->in.fetch);
		yajl_gen_map_close(g);
	} else {
		/* Lists: which kinds go out at all. */
		gs(g, "outbound_kinds");
		yajl_gen_array_open(g);
		for (int k = 0; k < D4_PARTNER_KINDS; k++)
			if (p->out[k].enabled)
				gs(g, d4_fed_kind_name((enum d4_fed_kind)k));
		yajl_gen_array_close(g);
	}
	if (!input) {
		gtime(g, "created", p->created);
		gtime(g, "updated", p->updated);
	}
	yajl_gen_map_close(g);
}

/* ---- dry-run record ---- */

const char *const d4_fed_record_members[] = {
    "kind",    "tlp",	     "tags",	 "should_not_sync", "org",    "sensors", "type",       "ext_type",
    "origin",  "via",	     "stripped", "rrname",	    "rrtype", "rdata",	 "seen_count", "seen_sensors",
    "packets", "duration_s", "onward",	 "server",	    "sni",    "names",	 NULL};

void d4_fed_dryrun_free(struct d4_fed_dryrun *d)
{
	if (!d)
		return;
	free(d->tags);
	free(d->sensors);
	free(d->via);
	free(d->names);
	memset(d, 0, sizeof(*d));
}

int d4_fed_dryrun_parse(yajl_val obj, struct d4_fed_dryrun *d, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	struct d4_fed_record *rec = &d->rec;
	if (!obj || !YAJL_IS_OBJECT(obj))
		return bad(err, errlen, "the record must be a JSON object");
	int rc = members_known(obj, d4_fed_record_members, "", err, errlen);
	if (rc)
		return rc;
	const char *s;
	int r;
	if ((r = get_str(obj, "kind", 16, "", &s, err, errlen)) < 0)
		return r;
	int k = r > 0 ? d4_fed_kind_parse(s) : D4_FED_KIND_FRAMES;
	if (k < 0)
		return bad(err, errlen, "kind: frames, pdns, backscatter or certs");
	rec->kind = (enum d4_fed_kind)k;
	/* The stored level: any tag hub/policy reads (a malformed tlp tag is
	 * red, as at ingest); absent = no level (the hub default applies). */
	if ((r = get_str(obj, "tlp", 64, "", &s, err, errlen)) < 0)
		return r;
	rec->tlp = r > 0 ? d4_policy_tlp_tag(s, strlen(s)) : D4_TLP_NONE;
	if (r > 0 && rec->tlp == D4_TLP_NONE)
		return bad(err, errlen,
			   "tlp: a TLP tag (tlp:clear, tlp:green, tlp:ex:chr, tlp:amber, tlp:amber+strict, "
			   "tlp:red, tlp:unclear)");
	yajl_val a;
	if ((r = get_array(obj, "tags", 64, "", &a, err, errlen)) < 0)
		return r;
	if (r > 0 && a->u.array.len) {
		d->tags = calloc(a->u.array.len, sizeof(*d->tags));
		if (!d->tags)
			return D4_ENOMEM;
		for (size_t i = 0; i < a->u.array.len; i++) {
			yajl_val v = a->u.array.values[i];
			if (!YAJL_IS_STRING(v) || strlen(v->u.string) >= 128)
				return bad(err, errlen, "tags[%zu]: a string of at most 127 bytes", i);
			memcpy(d->tags[i], v->u.string, strlen(v->u.string) + 1);
		}
		rec->tags = (const char(*)[128])d->tags;
		rec->ntags = (unsigned)a->u.array.len;
	}
	uint8_t flag = 0;
	if (get_bool(obj, "should_not_sync", "", &flag, err, errlen) < 0)
		return D4_EINVAL;
	rec->no_sync = flag;
	if ((r = get_uuid(obj, "org", "", rec->org, err, errlen)) < 0)
		return r;
	rec->has_org = r > 0;
	if ((r = get_array(obj, "sensors", 64, "", &a, err, errlen)) < 0)
		return r;
	if (r > 0 && a->u.array.len) {
		d->sensors = calloc(a->u.array.len, 16);
		if (!d->sensors)
			return D4_ENOMEM;
		for (size_t i = 0; i < a->u.array.len; i++) {
			yajl_val v = a->u.array.values[i];
			if (!YAJL_IS_STRING(v) || d4_uuid_parse(v->u.string, d->sensors[i]) != 0)
				return bad(err, errlen, "sensors[%zu]: must be a uuid", i);
		}
		rec->sensors = (const uint8_t(*)[16])d->sensors;
		rec->nsensors = (unsigned)a->u.array.len;
	}
	uint64_t v;
	if ((r = get_uint(obj, "type", 255, "", &v, err, errlen)) < 0)
		return r;
	rec->type = (uint8_t)(r > 0 ? v : 0);
	if ((r = get_str(obj, "ext_type", D4_PARTNER_EXT_MAX - 1, "", &s, err, errlen)) < 0)
		return r;
	rec->ext_type = r > 0 ? s : NULL;
	if ((r = get_uuid(obj, "origin", "", rec->origin, err, errlen)) < 0)
		return r;
	rec->has_origin = r > 0;
	if ((r = get_array(obj, "via", D4_FED_VIA_MAX, "", &a, err, errlen)) < 0)
		return r;
	if (r > 0 && a->u.array.len) {
		if (!rec->has_origin)
			return bad(err, errlen, "via: needs origin (the hub the record came from first)");
		d->via = calloc(a->u.array.len, 16);
		if (!d->via)
			return D4_ENOMEM;
		for (size_t i = 0; i < a->u.array.len; i++) {
			yajl_val e = a->u.array.values[i];
			if (!YAJL_IS_STRING(e) || d4_uuid_parse(e->u.string, d->via[i]) != 0)
				return bad(err, errlen, "via[%zu]: must be a uuid", i);
		}
		rec->via = (const uint8_t(*)[16])d->via;
		rec->nvia = (unsigned)a->u.array.len;
	}
	flag = 0;
	if (get_bool(obj, "stripped", "", &flag, err, errlen) < 0)
		return D4_EINVAL;
	rec->stripped = flag;
	flag = 0;
	if (get_bool(obj, "onward", "", &flag, err, errlen) < 0)
		return D4_EINVAL;
	rec->onward = flag;
	if ((r = get_str(obj, "rrname", 1024, "", &s, err, errlen)) < 0)
		return r;
	rec->rrname = r > 0 ? s : NULL;
	if ((r = get_uint(obj, "rrtype", 65535, "", &v, err, errlen)) < 0)
		return r;
	rec->rrtype = (uint16_t)(r > 0 ? v : 0);
	if ((r = get_str(obj, "rdata", 4096, "", &s, err, errlen)) < 0)
		return r;
	rec->rdata = r > 0 ? s : NULL;
	/* what the hub has seen of it, for a rule that mixes */
	if ((r = get_uint(obj, "seen_count", (uint64_t)INT64_MAX, "", &v, err, errlen)) < 0)
		return r;
	rec->seen_count = r > 0 ? v : 0;
	if ((r = get_uint(obj, "seen_sensors", UINT32_MAX, "", &v, err, errlen)) < 0)
		return r;
	rec->seen_sensors = (uint32_t)(r > 0 ? v : 0);
	if ((r = get_uint(obj, "packets", (uint64_t)INT64_MAX, "", &v, err, errlen)) < 0)
		return r;
	rec->packets = r > 0 ? v : 0;
	if ((r = get_uint(obj, "duration_s", (uint64_t)INT64_MAX, "", &v, err, errlen)) < 0)
		return r;
	rec->duration_s = r > 0 ? v : 0;
	if (rec->kind == D4_FED_KIND_PDNS && (!rec->rrname || !rec->rrtype))
		return bad(err, errlen, "a pdns record needs rrname and rrtype (and rdata)");
	/* certs: the server address (v4-mapped for IPv4), SNI, certificate names */
	if ((r = get_str(obj, "server", 63, "", &s, err, errlen)) < 0)
		return r;
	if (r > 0) {
		struct d4_partner_net a4;
		if (d4_fed_net_parse(s, &a4) != 0 || (a4.family == 4 ? a4.prefix != 32 : a4.prefix != 128))
			return bad(err, errlen, "server: an IPv4 or IPv6 address");
		memset(d->server, 0, 16);
		if (a4.family == 4) {
			d->server[10] = d->server[11] = 0xff;
			memcpy(d->server + 12, a4.addr, 4);
		} else {
			memcpy(d->server, a4.addr, 16);
		}
		rec->server_ip = d->server;
	}
	if ((r = get_str(obj, "sni", 255, "", &s, err, errlen)) < 0)
		return r;
	rec->sni = r > 0 ? s : NULL;
	if ((r = get_array(obj, "names", 65, "", &a, err, errlen)) < 0)
		return r;
	if (r > 0 && a->u.array.len) {
		d->names = calloc(a->u.array.len, sizeof(*d->names));
		if (!d->names)
			return D4_ENOMEM;
		for (size_t i = 0; i < a->u.array.len; i++) {
			yajl_val e = a->u.array.values[i];
			if (!YAJL_IS_STRING(e) || strlen(e->u.string) > 255)
				return bad(err, errlen, "names[%zu]: a string of at most 255 bytes", i);
			d->names[i] = e->u.string;
		}
		rec->names = d->names;
		rec->nnames = (unsigned)a->u.array.len;
	}
	return 0;
}

void d4_fed_dryrun_json(yajl_gen g, const char *partner, const struct d4_fed_self *self,
			const struct d4_fed_record *rec, const struct d4_fed_verdict *v)
{
	d4_fed_dryrun_json_rule(g, partner, self, NULL, rec, v);
}

/* What the rule's mix does with the record: held back how long, times
 * coarsened to what, which pool id replaces the sensors, the thresholds
 * and what was seen. null when the rule does not mix this kind. */
static void mix_explain(yajl_gen g, const struct d4_fed_self *self, const struct d4_partner_rule *rule,
			const struct d4_fed_record *rec, const struct d4_fed_verdict *v)
{
	gs(g, "mix");
	if (!rule || !rule->mix.enabled || (rec->kind != D4_FED_KIND_PDNS && rec->kind != D4_FED_KIND_BACKSCATTER)) {
		yajl_gen_null(g);
		return;
	}
	const struct d4_partner_mix *m = &rule->mix;
	yajl_gen_map_open(g);
	gu64(g, "delay_s", m->delay_s);
	gu64(g, "coarsen_s", m->coarsen_s);
	gs(g, "pool_id");
	if (m->pool_sensors) {
		uint8_t pool[16];
		d4_fed_mix_pool(self, rule, pool);
		guuid(g, pool);
	} else {
		yajl_gen_null(g);
	}
	if (rec->kind == D4_FED_KIND_PDNS) {
		gu64(g, "min_sensors", m->min_sensors);
		gu64(g, "min_count", m->min_count);
		gu64(g, "seen_sensors", rec->seen_sensors);
		gu64(g, "seen_count", rec->seen_count);
	} else {
		gu64(g, "min_packets", m->min_packets);
		gu64(g, "min_duration_s", m->min_duration_s);
		gu64(g, "packets", rec->packets);
		gu64(g, "duration_s", rec->duration_s);
	}
	char text[320];
	if (v->decision == D4_FED_REFUSE)
		snprintf(text, sizeof(text), "withheld: %s", d4_fed_reason_text(v->reason));
	else
		snprintf(text, sizeof(text),
			 "would go %u s after it was last seen (not before), times rounded down to %u s, %s",
			 (unsigned)m->delay_s, (unsigned)m->coarsen_s,
			 m->pool_sensors ? "sensor ids replaced by the pool id" : "sensor ids as they are");
	gkv(g, "explanation", text);
	yajl_gen_map_close(g);
}

void d4_fed_dryrun_json_rule(yajl_gen g, const char *partner, const struct d4_fed_self *self,
			     const struct d4_partner_rule *rule, const struct d4_fed_record *rec,
			     const struct d4_fed_verdict *v)
{
	struct d4_fed_out o;
	uint8_t pool[1][16];
	d4_fed_outgoing(self, rec, v, &o);
	yajl_gen_map_open(g);
	gkv(g, "partner", partner);
	gkv(g, "kind", d4_fed_kind_name(rec->kind));
	gkv(g, "decision", d4_fed_decision_name(v->decision));
	gkv(g, "reason", d4_fed_reason_name(v->reason));
	gkv(g, "explanation", d4_fed_reason_text(v->reason));
	gkv(g, "level", d4_policy_tlp_name(v->level));
	/* What the record would carry: nothing identifying when stripped. */
	gs(g, "provenance");
	if (v->decision == D4_FED_REFUSE) {
		yajl_gen_null(g);
	} else {
		yajl_gen_map_open(g);
		gs(g, "stripped");
		yajl_gen_bool(g, o.stripped);
		gs(g, "org");
		if (o.has_org)
			guuid(g, o.org);
		else
			yajl_gen_null(g);
		gs(g, "origin");
		if (o.has_origin)
			guuid(g, o.origin);
		else
			yajl_gen_null(g);
		if (rule && rule->mix.enabled && rule->mix.pool_sensors && o.nsensors &&
		    (rec->kind == D4_FED_KIND_PDNS || rec->kind == D4_FED_KIND_BACKSCATTER)) {
			d4_fed_mix_pool(self, rule, pool[0]);
			guuids(g, "sensors", (const uint8_t(*)[16])pool, 1);
		} else {
			guuids(g, "sensors", o.sensors, o.nsensors);
		}
		gs(g, "via");
		yajl_gen_array_open(g);
		for (unsigned i = 0; i < o.nvia; i++)
			guuid(g, o.via[i]);
		if (o.append_self)
			guuid(g, self->hub);
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
	}
	mix_explain(g, self, rule, rec, v);
	yajl_gen_map_close(g);
}

const char *d4_fed_reason_text(enum d4_fed_reason r)
{
	switch (r) {
	case D4_FED_R_RELEASED: return "released with its provenance";
	case D4_FED_R_EX_CHR_STRIPPED: return "tlp:ex:chr: released without org, sensor ids and hub path";
	case D4_FED_R_INVALID: return "the record or the partner is not valid: refused (fail closed)";
	case D4_FED_R_PARTNER_DISABLED: return "the partner is disabled";
	case D4_FED_R_TLP_RED: return "tlp:red never leaves the hub";
	case D4_FED_R_NO_SYNC: return "misp:should-not-sync never leaves the hub";
	case D4_FED_R_LOOP_ORIGIN: return "the partner is the record's origin hub";
	case D4_FED_R_LOOP_VIA: return "the partner is on the record's path already";
	case D4_FED_R_STRIPPED_NO_RELAY: return "a record that arrived stripped is never passed on";
	case D4_FED_R_AMBER_STRICT_OTHER_ORG:
		return "tlp:amber+strict goes only to hubs of this organisation, for records of this organisation";
	case D4_FED_R_AMBER_NOT_ALLOWED:
		return "tlp:amber goes only to same-org hubs and to partners whose rule allows amber";
	case D4_FED_R_NOT_COMMUNITY: return "tlp:green and tlp:ex:chr do not go to a public server";
	case D4_FED_R_KIND_NOT_SHARED: return "the partner's rule does not share this kind of data";
	case D4_FED_R_ABOVE_MAX_TLP: return "the record's TLP is above the rule's max_tlp";
	case D4_FED_R_RELAY_NOT_ALLOWED: return "the record came from another hub and the rule does not allow relaying";
	case D4_FED_R_SENSOR: return "a sensor of the record is denied or not in the rule's allow list";
	case D4_FED_R_TYPE: return "the D4 type is denied or not in the rule's allow list";
	case D4_FED_R_EXT_TYPE: return "the extended type is denied or not in the rule's allow list";
	case D4_FED_R_ORG: return "the record's org is denied or not in the rule's allow list";
	case D4_FED_R_ZONE: return "the rrname is in a denied zone or outside the allowed zones";
	case D4_FED_R_RRTYPE: return "the rrtype is denied or not in the rule's allow list";
	case D4_FED_R_RDATA_NET: return "the rdata address is in a denied network or outside the allowed ones";
	case D4_FED_R_RDATA_PRIVATE:
		return "the rdata address is private, loopback or link-local and no rule names its range";
	case D4_FED_R_TOO_BIG: return "the record is larger than a batch may be (4 MiB): it cannot cross to any hub";
	case D4_FED_R_MIX_THRESHOLD:
		return "mixing: the tuple was seen by fewer sensors and fewer times than the rule's min_sensors and "
		       "min_count";
	case D4_FED_R_MIX_PACKETS: return "mixing: the vector has fewer packets than the rule's min_packets";
	case D4_FED_R_MIX_DURATION: return "mixing: the vector lasted less than the rule's min_duration_s";
	case D4_FED_R_RRNAME_PRIVATE:
		return "the rrname is the reverse name of a private, loopback, link-local or own address and no "
		       "rule names it";
	case D4_FED_R_OWN_NETWORK:
		return "the rdata address is in the hub's own networks (federation.own_networks) and no rule names "
		       "it";
	case D4_FED_R_ORIGIN_NO_ONWARD:
		return "the record came from another hub whose origin did not allow passing it on (onward)";
	case D4_FED_R_ADDR_NET: return "the server address is in a denied network or outside the allowed ones";
	case D4_FED_R_ADDR_PRIVATE:
		return "the server address is private, loopback, link-local or in the hub's own networks and no rule "
		       "names it";
	case D4_FED_R_COUNT: break;
	}
	return "invalid";
}
