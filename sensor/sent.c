/* d4-sensor: the records sent on the current connection and not yet
 * acknowledged, oldest first, each with the spool position after it. */
#include "sensor_internal.h"

void sent_push(struct sent_ring *r, uint64_t cipher_end, uint64_t conn_frames, const struct d4_spool_pos *pos)
{
	unsigned i = (r->head + r->count) % D4S_SENT_MAX;
	r->e[i].cipher_end = cipher_end;
	r->e[i].conn_frames = conn_frames;
	r->e[i].pos = *pos;
	r->count++;
}

uint64_t sent_replay_next(uint64_t replay, uint64_t sent_here, uint64_t unacked_here)
{
	uint64_t acked = sent_here - unacked_here; /* from the first record on */
	return (replay > sent_here ? replay : sent_here) - acked;
}

int sent_release(struct sent_ring *r, int by_frames, uint64_t acked, struct d4_spool_pos *last)
{
	int any = 0;
	while (r->count) {
		uint64_t end = by_frames ? r->e[r->head].conn_frames : r->e[r->head].cipher_end;
		if (end > acked)
			break;
		*last = r->e[r->head].pos;
		r->head = (r->head + 1) % D4S_SENT_MAX;
		r->count--;
		any = 1;
	}
	return any;
}
