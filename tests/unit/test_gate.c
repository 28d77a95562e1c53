/*
 * test_gate.c — earliest-deadline-first admission: waiters are admitted by deadline,
 * then priority, then arrival, whatever order they came in; one caller is inside at a
 * time (checked by a counter TSan would flag); more callers than slots all get through.
 * And a VDE shared by threads: puts and gets from several threads at once, at every
 * priority, on one handle all land, survive a reopen and verify clean.
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched/gate.h"
#include "vde_env.h"

static void pause_briefly(void)
{
    struct timespec t = {.tv_sec = 0, .tv_nsec = 200000};
    (void)nanosleep(&t, NULL);
}

/* ---- admission order ---------------------------------------------------------------- */

#define ORDER_WAITERS 12

typedef struct order_waiter {
    dw_gate *gate;
    uint64_t deadline;
    uint32_t priority;
    int *log;
    atomic_int *logged;
    int id;
} order_waiter;

static void *order_main(void *argument)
{
    order_waiter *w = argument;
    dw_gate_enter(w->gate, w->deadline, w->priority);
    /* Inside the gate: the log needs no lock of its own. */
    w->log[atomic_fetch_add(w->logged, 1)] = w->id;
    dw_gate_leave(w->gate);
    return NULL;
}

static void waiters_are_admitted_by_deadline_then_priority_then_arrival(void **state)
{
    (void)state;
    static dw_gate gate;
    dw_gate_init(&gate);
    /* (deadline, priority) per arrival; equal pairs must keep arrival order. */
    static const uint64_t deadlines[ORDER_WAITERS] = {900, 100, 500, 100, 700, 100, 500, 300, 900, 50, 300, 100};
    static const uint32_t priorities[ORDER_WAITERS] = {3, 2, 1, 0, 2, 2, 1, 3, 0, 3, 3, 2};
    order_waiter waiters[ORDER_WAITERS];
    pthread_t threads[ORDER_WAITERS];
    int log[ORDER_WAITERS];
    atomic_int logged = 0;
    dw_gate_enter(&gate, 0, 0); /* hold it while everyone queues */
    for (int i = 0; i < ORDER_WAITERS; i++) {
        waiters[i] = (order_waiter){.gate = &gate, .deadline = deadlines[i], .priority = priorities[i], .log = log,
                                    .logged = &logged, .id = i};
        assert_int_equal(pthread_create(&threads[i], NULL, order_main, &waiters[i]), 0);
        /* Arrival order is the order they reach the queue: wait until this one has. */
        while (dw_gate_waiting(&gate) != (uint32_t)i + 1) {
            pause_briefly();
        }
    }
    dw_gate_leave(&gate);
    for (int i = 0; i < ORDER_WAITERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    }
    assert_int_equal(atomic_load(&logged), ORDER_WAITERS);
    /* The expected order, computed independently: a stable sort by (deadline, priority). */
    int expected[ORDER_WAITERS];
    for (int i = 0; i < ORDER_WAITERS; i++) {
        expected[i] = i;
    }
    for (int i = 1; i < ORDER_WAITERS; i++) {
        for (int j = i; j > 0; j--) {
            int a = expected[j - 1];
            int b = expected[j];
            bool swap = deadlines[b] < deadlines[a] || (deadlines[b] == deadlines[a] && priorities[b] < priorities[a]);
            if (!swap) {
                break;
            }
            expected[j - 1] = b;
            expected[j] = a;
        }
    }
    for (int i = 0; i < ORDER_WAITERS; i++) {
        assert_int_equal(log[i], expected[i]);
    }
    assert_int_equal(expected[0], 9); /* deadline 50 */
    assert_true(gate.overtakes > 0);
    dw_gate_destroy(&gate);
}

/* ---- exclusion and overflow ----------------------------------------------------------- */

typedef struct crowd {
    dw_gate gate;
    uint64_t inside;                /* plain: only ever touched inside the gate */
    uint64_t entries;
    int rounds;
} crowd;

typedef struct crowd_member {
    crowd *crowd;
    uint64_t seed;
} crowd_member;

static void *crowd_main(void *argument)
{
    crowd_member *m = argument;
    crowd *c = m->crowd;
    uint64_t x = m->seed;
    for (int i = 0; i < c->rounds; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        dw_gate_enter(&c->gate, x >> 40, (uint32_t)(x >> 62));
        c->inside++;
        assert_int_equal(c->inside, 1);
        c->entries++;
        c->inside--;
        dw_gate_leave(&c->gate);
    }
    return NULL;
}

static void one_caller_is_inside_at_a_time_even_beyond_the_slots(void **state)
{
    (void)state;
    enum { THREADS = DW_GATE_WAITERS_MAX + 16 };
    static crowd c;
    memset(&c, 0, sizeof c);
    dw_gate_init(&c.gate);
    c.rounds = (int)(200 * dw_test_scale());
    static crowd_member members[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        members[i] = (crowd_member){.crowd = &c, .seed = (uint64_t)i + 1};
        assert_int_equal(pthread_create(&threads[i], NULL, crowd_main, &members[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    }
    assert_int_equal(c.entries, (uint64_t)THREADS * (uint64_t)c.rounds);
    assert_int_equal(dw_gate_waiting(&c.gate), 0);
    assert_false(c.gate.held);
    dw_gate_destroy(&c.gate);
}

/* ---- a VDE shared by threads ------------------------------------------------------------ */

#define SHARED_THREADS 4
#define SHARED_KEYS 200

typedef struct sharer {
    dw_vde *vde;
    int id;
    int failures;
} sharer;

static void *sharer_main(void *argument)
{
    sharer *s = argument;
    char key[32];
    char value[64];
    char back[64];
    for (int i = 0; i < SHARED_KEYS; i++) {
        int n = snprintf(key, sizeof key, "t%d/k%04d", s->id, i);
        int m = snprintf(value, sizeof value, "value %d of thread %d", i, s->id);
        dw_op op = {.deadline_ns = 0, .priority = (dw_op_priority)(i % 4)};
        s->failures += dw_put(s->vde, key, (size_t)n, value, (size_t)m, &op, NULL) != DW_OK;
        size_t length = 0;
        s->failures += dw_get(s->vde, key, (size_t)n, back, sizeof back, &length, &op, NULL) != DW_OK;
        s->failures += length != (size_t)m || memcmp(back, value, (size_t)m) != 0;
    }
    return NULL;
}

static void threads_share_one_handle(void **state)
{
    (void)state;
    env *e = env_new(false, 64u << 20);
    env_open(e);
    sharer sharers[SHARED_THREADS];
    pthread_t threads[SHARED_THREADS];
    for (int i = 0; i < SHARED_THREADS; i++) {
        sharers[i] = (sharer){.vde = e->vde, .id = i};
        assert_int_equal(pthread_create(&threads[i], NULL, sharer_main, &sharers[i]), 0);
    }
    for (int i = 0; i < SHARED_THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(sharers[i].failures, 0);
    }
    /* Everything landed, and survives a close and reopen. */
    env_close(e);
    env_open(e);
    char key[32];
    char back[64];
    for (int t = 0; t < SHARED_THREADS; t++) {
        for (int i = 0; i < SHARED_KEYS; i++) {
            int n = snprintf(key, sizeof key, "t%d/k%04d", t, i);
            size_t length = 0;
            assert_int_equal(dw_get(e->vde, key, (size_t)n, back, sizeof back, &length, NULL, &e->diag), DW_OK);
            assert_true(length > 0);
        }
    }
    env_close(e);
    const dw_verify_report *report = env_verify(e, NULL, NULL);
    env_print_problems(report);
    assert_int_equal(report->problem_count, 0);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(waiters_are_admitted_by_deadline_then_priority_then_arrival),
        cmocka_unit_test(one_caller_is_inside_at_a_time_even_beyond_the_slots),
        cmocka_unit_test(threads_share_one_handle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
