/* d4_analyze — private declarations shared by the module's files. */
#ifndef ANALYZE_INTERNAL_H
#define ANALYZE_INTERNAL_H

#include "d4_analyze.h"

#include <stddef.h>
#include <stdint.h>

/* The pDNS cursor value (follow_internal.h's layouts): version 1, the
 * header then, only when not empty, the streams whose unterminated last
 * line was parsed; version 2 adds the clean points of pcap streams. Both
 * start with u8 version | u64 done_seq. */
#define ANALYZE_CURSOR_V1  1u
#define ANALYZE_CURSOR_LEN 25u

/* Like d4_analyze_pdns_step, with the flush rule of the worker: a batch that
 * is not full is committed once caught up only when `force` or when the last
 * commit is at least min_commit_ms old (so that a trickle of frames does not
 * cost one durable commit per poll). */
int analyze_pdns_step(struct d4_analyze_pdns *x, unsigned max_batches, int force, unsigned min_commit_ms, int *idle);

/* Commits the open batch, if any, without reading further. */
int analyze_pdns_flush(struct d4_analyze_pdns *x);

/* The same two for the backscatter consumer (bs_ingest.c). The flush
 * returns D4_EBUSY when the batch cannot be committed yet (a vector closed
 * by a packet awaits the next tick; the batch is read again after a
 * restart). */
int analyze_bs_step(struct d4_analyze_bs *x, unsigned max_batches, int force, unsigned min_commit_ms, int *idle);
int analyze_bs_flush(struct d4_analyze_bs *x);

/* The same two for the passive-SSL consumer (pssl_ingest.c). */
int analyze_pssl_step(struct d4_analyze_pssl *x, unsigned max_batches, int force, unsigned min_commit_ms, int *idle);
int analyze_pssl_flush(struct d4_analyze_pssl *x);

/* The weak-key job's thread (pssl_weak.c), started and stopped with the
 * worker; its options are checked here (D4_EINVAL, logged). */
struct analyze_weak_runner;
int analyze_weak_start(struct d4_store *s, const struct d4_analyze_weak_opts *o, struct analyze_weak_runner **out);
void analyze_weak_stop(struct analyze_weak_runner *r);

#endif
