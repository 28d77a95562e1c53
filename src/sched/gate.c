/*
 * gate.c — earliest-deadline-first admission (gate.h).
 *
 * Why not a library lock: pthread mutexes (and priority-inheritance ones) order waiters
 * by thread scheduling priority at best, never by a per-call deadline, and a
 * robust/fair lock from a library would still need a queue ordered by our key. The
 * queue here is a linear scan of 64 slots under one mutex: O(64) per hand-over, no
 * allocation, bounded.
 */
#include "sched/gate.h"

#include "core/assert.h"

void dw_gate_init(dw_gate *gate)
{
    DW_ASSERT(gate != NULL);
    (void)pthread_mutex_init(&gate->mutex, NULL);
    (void)pthread_cond_init(&gate->slot_free, NULL);
    gate->held = false;
    gate->waiting = 0;
    gate->overflow = 0;
    gate->next_ticket = 0;
    gate->admissions = 0;
    gate->overtakes = 0;
    for (uint32_t i = 0; i < DW_GATE_WAITERS_MAX; i++) {
        (void)pthread_cond_init(&gate->waiters[i].wake, NULL);
        gate->waiters[i].used = false;
        gate->waiters[i].admitted = false;
    }
}

void dw_gate_destroy(dw_gate *gate)
{
    DW_ASSERT(gate != NULL && !gate->held && gate->waiting == 0 && gate->overflow == 0);
    for (uint32_t i = 0; i < DW_GATE_WAITERS_MAX; i++) {
        (void)pthread_cond_destroy(&gate->waiters[i].wake);
    }
    (void)pthread_cond_destroy(&gate->slot_free);
    (void)pthread_mutex_destroy(&gate->mutex);
}

static bool more_urgent(const dw_gate_waiter *a, const dw_gate_waiter *b)
{
    if (a->deadline_ns != b->deadline_ns) {
        return a->deadline_ns < b->deadline_ns;
    }
    if (a->priority != b->priority) {
        return a->priority < b->priority;
    }
    return a->ticket < b->ticket;
}

void dw_gate_enter(dw_gate *gate, uint64_t deadline_ns, uint32_t priority)
{
    (void)pthread_mutex_lock(&gate->mutex);
    if (!gate->held && gate->waiting == 0 && gate->overflow == 0) {
        gate->held = true;
        (void)pthread_mutex_unlock(&gate->mutex);
        return;
    }
    uint64_t ticket = gate->next_ticket++;
    while (gate->waiting == DW_GATE_WAITERS_MAX) {
        gate->overflow++;
        (void)pthread_cond_wait(&gate->slot_free, &gate->mutex);
        gate->overflow--;
    }
    dw_gate_waiter *me = NULL;
    for (uint32_t i = 0; i < DW_GATE_WAITERS_MAX && me == NULL; i++) {
        if (!gate->waiters[i].used) {
            me = &gate->waiters[i];
        }
    }
    DW_ASSERT(me != NULL);
    me->used = true;
    me->admitted = false;
    me->deadline_ns = deadline_ns;
    me->priority = priority;
    me->ticket = ticket;
    gate->waiting++;
    if (!gate->held) {
        /* Open, but others were waiting for a slot a moment ago: take it now (they will
         * queue behind or ahead of us by the same rule when they get a slot). */
        me->admitted = true;
        gate->held = true;
    }
    while (!me->admitted) {
        (void)pthread_cond_wait(&me->wake, &gate->mutex);
    }
    me->used = false;
    gate->waiting--;
    gate->admissions++;
    if (gate->overflow > 0) {
        (void)pthread_cond_signal(&gate->slot_free);
    }
    (void)pthread_mutex_unlock(&gate->mutex);
}

void dw_gate_leave(dw_gate *gate)
{
    (void)pthread_mutex_lock(&gate->mutex);
    DW_ASSERT(gate->held);
    dw_gate_waiter *next = NULL;
    uint64_t first_ticket = UINT64_MAX;
    for (uint32_t i = 0; i < DW_GATE_WAITERS_MAX; i++) {
        dw_gate_waiter *w = &gate->waiters[i];
        if (!w->used || w->admitted) {
            continue;
        }
        first_ticket = w->ticket < first_ticket ? w->ticket : first_ticket;
        if (next == NULL || more_urgent(w, next)) {
            next = w;
        }
    }
    if (next == NULL) {
        gate->held = false;
        if (gate->overflow > 0) {
            (void)pthread_cond_signal(&gate->slot_free);
        }
    } else {
        /* The gate passes straight to the chosen waiter: held stays true, so no caller
         * arriving now can slip in ahead of it. */
        next->admitted = true;
        gate->overtakes += next->ticket != first_ticket;
        (void)pthread_cond_signal(&next->wake);
    }
    (void)pthread_mutex_unlock(&gate->mutex);
}

uint32_t dw_gate_callers(dw_gate *gate)
{
    (void)pthread_mutex_lock(&gate->mutex);
    uint32_t n = gate->waiting + gate->overflow + (gate->held ? 1u : 0u);
    (void)pthread_mutex_unlock(&gate->mutex);
    return n;
}

uint32_t dw_gate_waiting(dw_gate *gate)
{
    (void)pthread_mutex_lock(&gate->mutex);
    uint32_t n = gate->waiting + gate->overflow;
    (void)pthread_mutex_unlock(&gate->mutex);
    return n;
}
