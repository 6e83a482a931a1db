/* d4hub — federation: the batches a push job has in flight (private to
 * fed_sender.c; pure bookkeeping, no I/O, so that the rules are testable).
 *
 * Batches are numbered in the order they were built; batch k+1 starts
 * where batch k ends. Answers may come in any order; they are applied in
 * batch order only (fw_step), so that the acknowledged position only ever
 * moves to the end of the longest acknowledged prefix. */
#ifndef D4_FED_WINDOW_H
#define D4_FED_WINDOW_H

#include "d4_store_fed.h"

#include <stddef.h>
#include <stdint.h>

#define FW_MAX 16u /* [federation] inflight, at most */

enum fw_state { FW_FREE = 0, FW_SENT, FW_ANSWERED };
enum fw_answer {
	FW_A_ACK = 0,  /* 200 stored / duplicate, at pos */
	FW_A_MISMATCH, /* 409, the partner at pos */
	FW_A_FAIL      /* anything else: no answer, 429, 503, 4xx, 5xx */
};

struct fw_slot {
	enum fw_state state;
	enum fw_answer ans;
	int behind; /* answered while an earlier batch was unanswered or acknowledged in the same turn */
	int popped; /* acknowledged, slot not reused yet: its from/to are kept */
	uint8_t from[D4_FED_POS_MAX], to[D4_FED_POS_MAX], pos[D4_FED_POS_MAX];
	size_t from_len, to_len, pos_len;
};

struct fw {
	unsigned cap;  /* batches in flight at most (1..FW_MAX) */
	unsigned head; /* ring index of the oldest unacknowledged batch */
	unsigned n;    /* batches in flight */
	uint64_t turn, popped_turn;
	struct fw_slot s[FW_MAX];
};

/* What the oldest batch's answer means (fw_step). */
enum fw_act {
	FW_NONE = 0,  /* the oldest batch is not answered yet (or nothing in flight) */
	FW_COMMIT,    /* acknowledged at its end: commit `to` with its decisions, then fw_pop */
	FW_ADOPT,     /* the partner stands elsewhere (409, or 200 at another position): commit pos
		       * without counting anything, drop everything (fw_drop_from(head)) */
	FW_RESEND,    /* a 409 that came while an earlier batch was not yet stored (or naming the start
		       * of a batch acknowledged since): drop it and everything after, build again from
		       * its `from` (the acknowledged position) */
	FW_FAIL_SAME, /* a 409 naming the batch's own start: not resolvable, a failure */
	FW_FAIL	      /* the oldest batch failed: a failure, drop everything */
};

void fw_init(struct fw *w, unsigned cap);
/* Ring index of the k-th batch in flight (0 = the oldest). */
unsigned fw_at(const struct fw *w, unsigned k);
/* Adds a batch [from, to) after the newest one: its ring index; the caller
 * checks n < cap first. */
unsigned fw_add(struct fw *w, const uint8_t *from, size_t from_len, const uint8_t *to, size_t to_len);
/* Records the answer of the batch at ring index i (pos: the partner's
 * position for ACK and MISMATCH). */
void fw_answer(struct fw *w, unsigned i, enum fw_answer a, const uint8_t *pos, size_t pos_len);
/* What to do with the oldest batch. */
enum fw_act fw_step(const struct fw *w);
/* The oldest batch is done with (after FW_COMMIT). */
void fw_pop(struct fw *w);
/* Drops the batch at ring index i and every newer one: the number dropped. */
unsigned fw_drop_from(struct fw *w, unsigned i);
/* Position of the ring index i in the window (0 = the oldest), or -1. */
int fw_rank(const struct fw *w, unsigned i);
/* A new turn of the sender's loop: answers taken in the same turn as an
 * acknowledgement of an earlier batch count as "behind" it. */
void fw_turn(struct fw *w);

#endif
