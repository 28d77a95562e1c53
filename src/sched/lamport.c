/*
 * lamport.c — see lamport.h.
 */
#include "sched/lamport.h"

#include <stdatomic.h>

#include "core/assert.h"

void dw_lamport_init(dw_lamport *clock)
{
    atomic_init(&clock->now, 0);
}

uint64_t dw_lamport_tick(dw_lamport *clock)
{
    uint64_t after = atomic_fetch_add(&clock->now, 1) + 1;
    DW_ASSERT(after != 0); /* 2^64 events do not happen */
    return after;
}

uint64_t dw_lamport_receive(dw_lamport *clock, uint64_t remote)
{
    uint64_t current = atomic_load(&clock->now);
    uint64_t next;
    do {
        next = (current > remote ? current : remote) + 1;
    } while (!atomic_compare_exchange_weak(&clock->now, &current, next));
    return next;
}

uint64_t dw_lamport_read(const dw_lamport *clock)
{
    return atomic_load(&((dw_lamport *)clock)->now);
}
