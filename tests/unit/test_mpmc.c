/*
 * test_mpmc.c — the bounded MPMC queue: first in first out, full and empty, and many
 * producers and consumers at once with every value delivered exactly once.
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mem/alloc_count.h"
#include "sched/mpmc.h"

static void one_thread_sees_fifo_order(void **state)
{
    (void)state;
    static dw_mpmc_cell cells[8];
    static dw_mpmc queue; /* its counters are cache-line aligned: not on the stack */
    dw_mpmc_init(&queue, cells, 8);
    uint64_t value = 0;
    assert_false(dw_mpmc_pop(&queue, &value));
    for (uint64_t lap = 0; lap < 5; lap++) {
        for (uint64_t i = 0; i < 8; i++) {
            assert_true(dw_mpmc_push(&queue, lap * 100 + i));
        }
        assert_false(dw_mpmc_push(&queue, 999)); /* full */
        for (uint64_t i = 0; i < 8; i++) {
            assert_true(dw_mpmc_pop(&queue, &value));
            assert_int_equal(value, lap * 100 + i);
        }
        assert_false(dw_mpmc_pop(&queue, &value));
    }
}

enum { PRODUCERS = 4, CONSUMERS = 4, PER_PRODUCER = 250000, CAPACITY = 1024 };

typedef struct shared_queue {
    dw_mpmc queue;
    _Atomic uint64_t consumed;
    _Atomic uint8_t *seen;
    _Atomic uint64_t duplicates;
} shared_queue;

typedef struct worker {
    shared_queue *shared;
    uint64_t id;
} worker;

static void *produce(void *argument)
{
    worker *self = argument;
    for (uint64_t i = 0; i < PER_PRODUCER; i++) {
        while (!dw_mpmc_push(&self->shared->queue, self->id * PER_PRODUCER + i)) {
        }
    }
    return NULL;
}

static void *consume(void *argument)
{
    worker *self = argument;
    shared_queue *shared = self->shared;
    uint64_t value = 0;
    while (atomic_load(&shared->consumed) < (uint64_t)PRODUCERS * PER_PRODUCER) {
        if (dw_mpmc_pop(&shared->queue, &value)) {
            if (atomic_exchange(&shared->seen[value], 1) != 0) {
                atomic_fetch_add(&shared->duplicates, 1);
            }
            atomic_fetch_add(&shared->consumed, 1);
        }
    }
    return NULL;
}

static void many_producers_and_consumers_lose_nothing(void **state)
{
    (void)state;
    shared_queue *shared = dw_test_aligned_alloc(_Alignof(shared_queue), sizeof *shared);
    memset(shared, 0, sizeof *shared);
    dw_mpmc_cell *cells = calloc(CAPACITY, sizeof *cells);
    shared->seen = calloc((size_t)PRODUCERS * PER_PRODUCER, 1);
    assert_non_null(shared);
    assert_non_null(cells);
    assert_non_null(shared->seen);
    dw_mpmc_init(&shared->queue, cells, CAPACITY);
    pthread_t threads[PRODUCERS + CONSUMERS];
    worker workers[PRODUCERS + CONSUMERS];
    for (int i = 0; i < PRODUCERS + CONSUMERS; i++) {
        workers[i] = (worker){shared, (uint64_t)(i < PRODUCERS ? i : i - PRODUCERS)};
    }
    for (int i = 0; i < CONSUMERS; i++) {
        assert_int_equal(pthread_create(&threads[PRODUCERS + i], NULL, consume, &workers[PRODUCERS + i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, produce, &workers[i]), 0);
    }
    for (int i = 0; i < PRODUCERS + CONSUMERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    }
    assert_int_equal(shared->consumed, (uint64_t)PRODUCERS * PER_PRODUCER);
    assert_int_equal(shared->duplicates, 0);
    for (uint64_t i = 0; i < (uint64_t)PRODUCERS * PER_PRODUCER; i++) {
        if (shared->seen[i] != 1) {
            fail_msg("value %llu was never delivered", (unsigned long long)i);
        }
    }
    uint64_t value = 0;
    assert_false(dw_mpmc_pop(&shared->queue, &value));
    free((void *)shared->seen);
    free(cells);
    free(shared);
}

static void pushing_and_popping_never_allocate(void **state)
{
    (void)state;
    static dw_mpmc_cell cells[64];
    static dw_mpmc queue;
    dw_mpmc_init(&queue, cells, 64);
    uint64_t value = 0;
    dw_alloc_counts before = dw_alloc_counts_now();
    for (uint64_t i = 0; i < 100000; i++) {
        assert_true(dw_mpmc_push(&queue, i));
        assert_true(dw_mpmc_pop(&queue, &value));
    }
    assert_int_equal(dw_alloc_counts_since(before), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_thread_sees_fifo_order),
        cmocka_unit_test(many_producers_and_consumers_lose_nothing),
        cmocka_unit_test(pushing_and_popping_never_allocate),
    };
    return cmocka_run_group_tests_name("mpmc", tests, NULL, NULL);
}
