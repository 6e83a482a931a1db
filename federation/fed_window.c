/* d4hub — federation: the batches a push job has in flight (fed_window.h).
 *
 * Why a 409 is not always a rewind: the partner's writer applies batches in
 * the order its inbox got them. If batch k reached it before batch j < k
 * was stored, k is answered 409 although nothing is wrong: k is sent again
 * once j is acknowledged. A 409 for the oldest batch, answered when nothing
 * before it was outstanding, is the partner's real position. */
#include "fed_window.h"

#include <string.h>

void fw_init(struct fw *w, unsigned cap)
{
	memset(w, 0, sizeof(*w));
	w->cap = cap < 1 ? 1 : cap > FW_MAX ? FW_MAX : cap;
	w->popped_turn = UINT64_MAX; /* nothing acknowledged yet */
}

unsigned fw_at(const struct fw *w, unsigned k)
{
	return (w->head + k) % FW_MAX;
}

int fw_rank(const struct fw *w, unsigned i)
{
	unsigned r = (i + FW_MAX - w->head) % FW_MAX;
	return r < w->n ? (int)r : -1;
}

unsigned fw_add(struct fw *w, const uint8_t *from, size_t from_len, const uint8_t *to, size_t to_len)
{
	unsigned i = fw_at(w, w->n);
	struct fw_slot *s = &w->s[i];
	s->state = FW_SENT;
	s->behind = 0;
	s->popped = 0;
	s->pos_len = 0;
	memcpy(s->from, from, from_len);
	s->from_len = from_len;
	memcpy(s->to, to, to_len);
	s->to_len = to_len;
	w->n++;
	return i;
}

void fw_answer(struct fw *w, unsigned i, enum fw_answer a, const uint8_t *pos, size_t pos_len)
{
	struct fw_slot *s = &w->s[i];
	int rank = fw_rank(w, i);
	if (rank < 0 || s->state != FW_SENT)
		return;
	s->state = FW_ANSWERED;
	s->ans = a;
	s->behind = rank > 0 || w->popped_turn == w->turn;
	if (pos && pos_len <= sizeof(s->pos)) {
		memcpy(s->pos, pos, pos_len);
		s->pos_len = pos_len;
	} else
		s->pos_len = 0;
}

static int same(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	return al == bl && memcmp(a, b, al) == 0;
}

enum fw_act fw_step(const struct fw *w)
{
	if (w->n == 0)
		return FW_NONE;
	const struct fw_slot *s = &w->s[w->head];
	if (s->state != FW_ANSWERED)
		return FW_NONE;
	switch (s->ans) {
	case FW_A_ACK: return same(s->pos, s->pos_len, s->to, s->to_len) ? FW_COMMIT : FW_ADOPT;
	case FW_A_MISMATCH:
		if (s->behind)
			return FW_RESEND;
		/* the partner's writer took this batch before an earlier one and
		 * its answer came in a later turn than the earlier one's: the
		 * position it names is the start of a batch acknowledged since.
		 * Going back there would send that batch again and count it
		 * twice (answered "duplicate") */
		for (unsigned k = 0; k < FW_MAX; k++)
			if (w->s[k].popped && w->s[k].state == FW_FREE &&
			    same(s->pos, s->pos_len, w->s[k].from, w->s[k].from_len))
				return FW_RESEND;
		return same(s->pos, s->pos_len, s->from, s->from_len) ? FW_FAIL_SAME : FW_ADOPT;
	case FW_A_FAIL:
	default: return FW_FAIL;
	}
}

void fw_pop(struct fw *w)
{
	if (w->n == 0)
		return;
	w->s[w->head].state = FW_FREE;
	w->s[w->head].popped = 1;
	w->head = (w->head + 1) % FW_MAX;
	w->n--;
	w->popped_turn = w->turn;
}

unsigned fw_drop_from(struct fw *w, unsigned i)
{
	int rank = fw_rank(w, i);
	if (rank < 0)
		return 0;
	unsigned dropped = w->n - (unsigned)rank;
	for (unsigned k = (unsigned)rank; k < w->n; k++)
		w->s[fw_at(w, k)].state = FW_FREE;
	w->n = (unsigned)rank;
	return dropped;
}

void fw_turn(struct fw *w)
{
	w->turn++;
}
