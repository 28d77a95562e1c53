/*
 * gate.h — admission to something that runs one caller at a time, earliest deadline
 * first.
 *
 * A VDE runs one operation at a time. With a plain mutex, the thread the kernel happens
 * to wake goes next when several wait, so a critical read can wait behind any number of
 * bulk writes. The gate admits waiting callers in the scheduler's order (DESIGN.md):
 * earliest absolute deadline, then priority, then arrival. It does not preempt: a caller
 * waits for at most the one already inside, plus those whose deadlines are earlier.
 *
 * Fixed memory, no allocation: DW_GATE_WAITERS_MAX waiting slots, each with its own
 * condition variable so that exactly the chosen caller is woken. A caller that finds
 * every slot taken waits for a free one first (then in the kernel's order: the limit is
 * a bound on threads, far above what one VDE is meant to serve).
 */
#ifndef DW_SCHED_GATE_H
#define DW_SCHED_GATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define DW_GATE_WAITERS_MAX 64

typedef struct dw_gate_waiter {
    pthread_cond_t wake;
    uint64_t deadline_ns;
    uint64_t ticket;                /* arrival order */
    uint32_t priority;              /* lower is more urgent (dw_op_priority) */
    bool used;
    bool admitted;
} dw_gate_waiter;

typedef struct dw_gate {
    pthread_mutex_t mutex;
    pthread_cond_t slot_free;
    bool held;
    uint32_t waiting;               /* slots in use */
    uint32_t overflow;              /* callers waiting for a slot */
    uint64_t next_ticket;
    uint64_t admissions;            /* callers admitted after waiting */
    uint64_t overtakes;             /* of which ahead of an earlier arrival */
    dw_gate_waiter waiters[DW_GATE_WAITERS_MAX];
} dw_gate;

void dw_gate_init(dw_gate *gate);
void dw_gate_destroy(dw_gate *gate);

/* Waits until the caller is admitted. `deadline_ns` is absolute, on any clock all the
 * gate's callers share (CLOCK_MONOTONIC in the engine). */
void dw_gate_enter(dw_gate *gate, uint64_t deadline_ns, uint32_t priority);

/* Hands the gate to the most urgent waiter, or leaves it open. Called by the caller
 * that entered. */
void dw_gate_leave(dw_gate *gate);

/* Callers waiting now (slots and overflow), for tests and diagnostics. */
uint32_t dw_gate_waiting(dw_gate *gate);
/* Callers inside or waiting. */
uint32_t dw_gate_callers(dw_gate *gate);

#endif /* DW_SCHED_GATE_H */
