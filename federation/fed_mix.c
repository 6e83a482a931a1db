/* d4hub — federation: mixing before sharing (docs/federation.md "Mixing
 * before sharing"). What a rule's mix withholds is decided in
 * d4_fed_decide (fed_policy.c); here is the rest of it, used by the source
 * on the same path: the hold-back, and the shape of a released record
 * (coarse times, a pool id instead of sensor ids). */
#include "d4_federation.h"

#include "d4_error.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

int d4_fed_nets_parse_list(const char *list, struct d4_partner_net *out, unsigned cap, unsigned *n, char *err,
			   size_t errlen)
{
	*n = 0;
	for (const char *p = list ? list : ""; *p;) {
		p += strspn(p, ", \t");
		size_t tl = strcspn(p, ", \t");
		if (!tl)
			break;
		char tok[64];
		if (tl >= sizeof(tok) || *n >= cap) {
			if (tl >= sizeof(tok))
				snprintf(err, errlen, "'%.40s...' is not a network", p);
			else
				snprintf(err, errlen, "more than %u networks", cap);
			return D4_EINVAL;
		}
		memcpy(tok, p, tl);
		tok[tl] = 0;
		if (d4_fed_net_parse(tok, &out[*n]) != 0) {
			snprintf(err, errlen, "'%s' is not a network (address/prefix, host bits zero)", tok);
			return D4_EINVAL;
		}
		(*n)++;
		p += tl;
	}
	return 0;
}

void d4_fed_mix_defaults(enum d4_fed_kind kind, struct d4_partner_mix *m)
{
	memset(m, 0, sizeof(*m));
	m->enabled = 1;
	m->pool_sensors = 1;
	m->coarsen_s = 3600;
	if (kind == D4_FED_KIND_PDNS) {
		/* a tuple seen by one sensor a few times says more about that
		 * sensor's clients than about the Internet */
		m->min_sensors = 2;
		m->min_count = 10;
		m->delay_s = 3600;
	} else {
		m->min_packets = 100;
		m->min_duration_s = 60;
		m->delay_s = 300;
	}
}

int d4_fed_mix_held(const struct d4_partner_rule *rule, uint64_t seen_s, uint64_t now_s)
{
	if (!rule || !rule->mix.enabled || !rule->mix.delay_s)
		return 0;
	/* a time ahead of this hub's clock is held as well: it is not past */
	return seen_s > now_s || now_s - seen_s < rule->mix.delay_s;
}

void d4_fed_mix_pool(const struct d4_fed_self *self, const struct d4_partner_rule *rule, uint8_t out[16])
{
	static const uint8_t zero[16];
	if (rule && memcmp(rule->mix.pool, zero, 16) != 0) {
		memcpy(out, rule->mix.pool, 16);
		return;
	}
	/* Stable per hub (partners see one pool, whichever rule), and not the
	 * hub uuid itself: a sensor id is never a hub id. Remembered per
	 * thread for the last hub: it is asked for every record that goes. */
	static __thread uint8_t last_hub[16], last_pool[16];
	static __thread int last_ok;
	const uint8_t *hub = self ? self->hub : zero;
	if (last_ok && !memcmp(last_hub, hub, 16)) {
		memcpy(out, last_pool, 16);
		return;
	}
	uint8_t in[32 + 16], md[SHA256_DIGEST_LENGTH];
	memcpy(in, "d4hub federation sensor pool v1.", 32);
	memcpy(in + 32, hub, 16);
	SHA256(in, sizeof(in), md);
	memcpy(out, md, 16);
	out[6] = (uint8_t)((out[6] & 0x0f) | 0x40);
	out[8] = (uint8_t)((out[8] & 0x3f) | 0x80);
	memcpy(last_hub, hub, 16);
	memcpy(last_pool, out, 16);
	last_ok = 1;
}

static uint64_t down(uint64_t t, uint64_t step)
{
	return step ? t - t % step : t;
}

void d4_fed_mix_apply(const struct d4_fed_self *self, const struct d4_partner_rule *rule, enum d4_fed_kind kind,
		      struct d4_fed_wrec *r)
{
	if (!rule || !r || !rule->mix.enabled || (kind != D4_FED_KIND_PDNS && kind != D4_FED_KIND_BACKSCATTER))
		return;
	const struct d4_partner_mix *m = &rule->mix;
	if (kind == D4_FED_KIND_PDNS) {
		/* rounding both down keeps time_first <= time_last */
		r->time_first = down(r->time_first, m->coarsen_s);
		r->time_last = down(r->time_last, m->coarsen_s);
	} else {
		uint64_t step = (uint64_t)m->coarsen_s * 1000000u;
		r->vec.first_us = down(r->vec.first_us, step);
		r->vec.last_us = down(r->vec.last_us, step);
		/* the number of sources says something about them */
		if (m->pool_sensors)
			r->vec.sensors_more = 0;
	}
	if (m->pool_sensors && r->prov.nsensors) {
		d4_fed_mix_pool(self, rule, r->prov.sensors[0]);
		r->prov.nsensors = 1;
	}
}
