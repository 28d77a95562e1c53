/*
 * direct_internal.h — what edf.c needs of direct.c: folding the direct path's statistics
 * into the scheduler's. Nothing outside sched/ includes it.
 */
#ifndef DW_SCHED_DIRECT_INTERNAL_H
#define DW_SCHED_DIRECT_INTERNAL_H

#include "sched/edf.h"

/* Adds the direct path's histograms of one class (priority -1: every priority) or of one
 * priority (op_class -1: every class) into `into`. */
void dw_sched_direct_merge(const dw_sched *sched, dw_histogram *into, int op_class, int priority);
/* Adds its counters, service maxima included, into statistics read from the queued path. */
void dw_sched_direct_add_counters(const dw_sched *sched, dw_sched_stats *stats);

#endif /* DW_SCHED_DIRECT_INTERNAL_H */
