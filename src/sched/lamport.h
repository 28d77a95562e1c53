/*
 * lamport.h — a Lamport logical clock: a counter that every local event increments and
 * every received timestamp pushes past, so that if event a happened before event b, a's
 * timestamp is smaller. Safe from any thread (atomics). Timestamps with the id of the
 * core that made them give a total order: (timestamp, core).
 */
#ifndef DW_SCHED_LAMPORT_H
#define DW_SCHED_LAMPORT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct dw_lamport {
    _Atomic uint64_t now;
} dw_lamport;

void dw_lamport_init(dw_lamport *clock);

/* Rule 1: before a local event, increment; returns the event's timestamp. */
uint64_t dw_lamport_tick(dw_lamport *clock);

/* Rule 2: on receiving `remote`, move to max(local, remote) + 1; returns it. */
uint64_t dw_lamport_receive(dw_lamport *clock, uint64_t remote);

uint64_t dw_lamport_read(const dw_lamport *clock);

/* The total order of (timestamp, core): true when (a, core_a) comes before (b, core_b).
 * A smaller timestamp means "may have happened before"; equal timestamps are concurrent
 * and the core id breaks the tie the same way every time. */
static inline bool dw_lamport_before(uint64_t a, uint32_t core_a, uint64_t b, uint32_t core_b)
{
    return a < b || (a == b && core_a < core_b);
}

#endif /* DW_SCHED_LAMPORT_H */
