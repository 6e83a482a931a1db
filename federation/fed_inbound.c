/* d4hub — federation: the inbound rule (docs/federation.md "Receiving").
 *
 * What a partner sends is judged again here, whatever the sender decided:
 * a hub cannot trust another hub's egress policy to be the same as its own,
 * nor its software to be bug-free. The per-record decision is pure; the
 * quota keeps per-partner state the caller owns. */
#include "d4_error.h"
#include "d4_federation.h"

#include <string.h>

const char *d4_fed_in_reason_name(enum d4_fed_in_reason r)
{
	switch (r) {
	case D4_FED_IN_STORED: return "stored";
	case D4_FED_IN_KIND: return "kind-not-accepted";
	case D4_FED_IN_ABOVE_TLP: return "above-tlp-cap";
	case D4_FED_IN_RED: return "tlp-red";
	case D4_FED_IN_LOOP: return "loop";
	case D4_FED_IN_PATH: return "bad-path";
	case D4_FED_IN_QUOTA_RATE: return "quota-records";
	case D4_FED_IN_QUOTA_BYTES: return "quota-bytes";
	case D4_FED_IN_TYPE: return "type-not-accepted";
	case D4_FED_IN_BAD_SIG: return "bad-signature";
	case D4_FED_IN_UNSIGNED: return "unsigned";
	case D4_FED_IN_UNKNOWN_KEY: return "unknown-signer";
	case D4_FED_IN_COUNT: break;
	}
	return "invalid";
}

static int eq16(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, 16) == 0;
}

/* A path that names one hub twice, or its origin again, went round a loop
 * somewhere: no hub that applies d4_fed_decide sends such a record. */
static int path_repeats(const struct d4_fed_wprov *w)
{
	for (unsigned i = 0; i < w->nvia; i++) {
		if (w->has_origin && eq16(w->via[i], w->origin))
			return 1;
		for (unsigned j = 0; j < i; j++)
			if (eq16(w->via[i], w->via[j]))
				return 1;
	}
	return 0;
}

enum d4_fed_in_reason d4_fed_inbound(const struct d4_fed_self *self, const struct d4_partner *p, uint8_t kind,
				     const struct d4_fed_wrec *r)
{
	/* Fail closed: without a partner or a record nothing is accepted. */
	if (!self || !p || !r || kind >= D4_FED_KIND_COUNT || !(p->in.kinds & (1u << kind)))
		return D4_FED_IN_KIND;
	const struct d4_fed_wprov *w = &r->prov;
	enum d4_tlp level = (enum d4_tlp)w->tlp;
	/* Not a real level counts as red (d4_policy_tlp_visible does the same). */
	if (level == D4_TLP_RED || level < D4_TLP_CLEAR || level > D4_TLP_RED)
		return D4_FED_IN_RED;
	if (!d4_policy_tlp_visible((enum d4_tlp)p->in.max_tlp, level))
		return D4_FED_IN_ABOVE_TLP;
	if (w->nvia > D4_FED_VIA_MAX)
		return D4_FED_IN_PATH;
	if (w->has_origin && eq16(w->origin, self->hub))
		return D4_FED_IN_LOOP;
	for (unsigned i = 0; i < w->nvia; i++)
		if (eq16(w->via[i], self->hub))
			return D4_FED_IN_LOOP;
	if (w->flags & D4_FED_F_STRIPPED) {
		/* Its path is gone by design; it must not pretend to have one. */
		if (w->has_origin || w->nvia || w->has_org || w->nsensors)
			return D4_FED_IN_PATH;
		return D4_FED_IN_STORED;
	}
	/* The last hop is the sender: the last of via, or the origin itself
	 * when it sends its own record (the origin is not repeated on the
	 * path, d4_fed_outgoing). */
	if (!w->has_origin)
		return D4_FED_IN_PATH;
	const uint8_t *last = w->nvia ? w->via[w->nvia - 1] : w->origin;
	if (!eq16(last, p->hub) || path_repeats(w))
		return D4_FED_IN_PATH;
	return D4_FED_IN_STORED;
}

#define DAY_MS 86400000ull

enum d4_fed_in_reason d4_fed_quota_take(struct d4_fed_quota *q, const struct d4_partner *p, uint32_t nrecords,
					uint64_t bytes, uint64_t now_ms, uint64_t *retry_ms)
{
	uint64_t dummy;
	if (!retry_ms)
		retry_ms = &dummy;
	*retry_ms = 0;
	if (!q || !p) {
		*retry_ms = 1000;
		return D4_FED_IN_QUOTA_RATE;
	}
	double rate = (double)p->in.records_per_s;
	/* Refill. A fresh bucket (last_ms 0) starts full; a clock that went
	 * back refills nothing. A lowered quota caps what was saved. */
	if (rate > 0) {
		if (q->last_ms == 0) {
			q->tokens = rate;
		} else if (now_ms > q->last_ms) {
			q->tokens += (double)(now_ms - q->last_ms) * rate / 1000.0;
		}
		if (q->tokens > rate)
			q->tokens = rate;
	}
	q->last_ms = now_ms ? now_ms : 1;
	uint32_t day = (uint32_t)(now_ms / DAY_MS);
	if (q->day != day) {
		q->day = day;
		q->day_bytes = 0;
	}

	if (rate > 0 && nrecords > 0) {
		double need = (double)nrecords;
		/* A batch above one second of rate passes only on a full bucket
		 * (else it never could); the debt it leaves keeps the average. */
		if (need > rate)
			need = rate;
		if (q->tokens < need) {
			double ms = (need - q->tokens) * 1000.0 / rate;
			*retry_ms = (uint64_t)ms + 1;
			return D4_FED_IN_QUOTA_RATE;
		}
	}
	uint64_t cap = p->in.bytes_per_day;
	/* Same for bytes: a batch above the whole day's allowance passes only
	 * as the first of a day. */
	if (cap && q->day_bytes > 0 && (bytes > cap || q->day_bytes > cap - bytes)) {
		*retry_ms = DAY_MS - now_ms % DAY_MS;
		return D4_FED_IN_QUOTA_BYTES;
	}
	if (rate > 0)
		q->tokens -= (double)nrecords;
	q->day_bytes += bytes;
	return D4_FED_IN_STORED;
}
