/*
 * test_spsc.c — the SPSC ring: first in first out through many laps, full and empty,
 * batches that fit partly, its cache-line layout, and a producer and a consumer on two
 * threads passing millions of values in order.
 */
#include "harness.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>

#include "mem/alloc_count.h"
#include "sched/spsc.h"

/* Ring memory for the tests: aligned as dw_spsc_init asks. */
static _Alignas(DW_SPSC_ALIGNMENT) unsigned char ring_memory[4096];

static void head_and_tail_live_on_separate_line_pairs(void **state)
{
    (void)state;
    /* 128 bytes apart at least: adjacent-line prefetch pulls 64-byte lines in pairs. */
    assert_true(offsetof(dw_spsc, tail) - offsetof(dw_spsc, head) >= 128);
    assert_true(offsetof(dw_spsc, values) - offsetof(dw_spsc, tail) >= 128);
    assert_int_equal(_Alignof(dw_spsc), 128);
    assert_int_equal(offsetof(dw_spsc, head) % 128, 0);
    assert_int_equal(offsetof(dw_spsc, tail) % 128, 0);
    /* Each side's copies sit on its own line. */
    assert_true(offsetof(dw_spsc, cached_tail) < offsetof(dw_spsc, tail));
    assert_true(offsetof(dw_spsc, consumer_mask) < offsetof(dw_spsc, tail));
    assert_true(offsetof(dw_spsc, cached_head) > offsetof(dw_spsc, tail));
    assert_true(offsetof(dw_spsc, producer_mask) < offsetof(dw_spsc, values));
    /* Rings laid end to end stay aligned. */
    for (uint32_t capacity = 2; capacity <= 1024; capacity *= 2) {
        assert_int_equal(dw_spsc_memory_bytes(capacity) % DW_SPSC_ALIGNMENT, 0);
        assert_true(dw_spsc_memory_bytes(capacity) >= sizeof(dw_spsc) + capacity * sizeof(uint64_t));
    }
}

static void one_thread_sees_fifo_order_through_many_laps(void **state)
{
    (void)state;
    dw_spsc *ring = dw_spsc_init(ring_memory, 8);
    uint64_t value = 0;
    assert_false(dw_spsc_pop(ring, &value));
    assert_int_equal(dw_spsc_size(ring), 0);
    for (uint64_t lap = 0; lap < 50; lap++) {
        /* A different fill each lap, so that positions wrap at every offset. */
        uint64_t fill = 1 + lap % 8;
        for (uint64_t i = 0; i < fill; i++) {
            assert_true(dw_spsc_push(ring, lap * 100 + i));
        }
        assert_int_equal(dw_spsc_size(ring), fill);
        for (uint64_t i = 0; i < fill; i++) {
            assert_true(dw_spsc_pop(ring, &value));
            assert_int_equal(value, lap * 100 + i);
        }
        assert_false(dw_spsc_pop(ring, &value));
    }
}

static void a_full_ring_refuses_and_recovers(void **state)
{
    (void)state;
    dw_spsc *ring = dw_spsc_init(ring_memory, 4);
    for (uint64_t i = 0; i < 4; i++) {
        assert_true(dw_spsc_push(ring, i));
    }
    assert_false(dw_spsc_push(ring, 99));
    assert_int_equal(dw_spsc_size(ring), 4);
    uint64_t value = 0;
    assert_true(dw_spsc_pop(ring, &value));
    assert_int_equal(value, 0);
    assert_true(dw_spsc_push(ring, 4)); /* room again: the producer refreshes its copy */
    assert_false(dw_spsc_push(ring, 5));
    for (uint64_t i = 1; i <= 4; i++) {
        assert_true(dw_spsc_pop(ring, &value));
        assert_int_equal(value, i);
    }
}

static void batches_move_what_fits_in_order(void **state)
{
    (void)state;
    dw_spsc *ring = dw_spsc_init(ring_memory, 8);
    uint64_t in[12];
    for (uint64_t i = 0; i < 12; i++) {
        in[i] = 1000 + i;
    }
    assert_int_equal(dw_spsc_push_batch(ring, in, 5), 5);
    assert_int_equal(dw_spsc_push_batch(ring, in + 5, 7), 3); /* only 3 places left */
    assert_int_equal(dw_spsc_push_batch(ring, in + 8, 4), 0);
    uint64_t out[12] = {0};
    assert_int_equal(dw_spsc_pop_batch(ring, out, 3), 3);
    assert_int_equal(dw_spsc_pop_batch(ring, out + 3, 12), 5);
    assert_int_equal(dw_spsc_pop_batch(ring, out + 8, 4), 0);
    for (uint64_t i = 0; i < 8; i++) {
        assert_int_equal(out[i], 1000 + i);
    }
    /* Across the wrap: positions 8 .. 13 land at indices 0 .. 5. */
    assert_int_equal(dw_spsc_push_batch(ring, in, 6), 6);
    assert_int_equal(dw_spsc_pop_batch(ring, out, 6), 6);
    for (uint64_t i = 0; i < 6; i++) {
        assert_int_equal(out[i], 1000 + i);
    }
}

enum { TRANSFERS = 2000000, CROSS_CAPACITY = 256, BATCH = 16 };

typedef struct cross {
    dw_spsc *ring;
    uint64_t out_of_order;
    uint64_t received;
} cross;

static void *produce(void *argument)
{
    cross *shared = argument;
    uint64_t next = 0;
    uint64_t batch[BATCH];
    while (next < TRANSFERS) {
        if (next % 3 == 0) { /* mix single pushes and batches */
            if (dw_spsc_push(shared->ring, next)) {
                next++;
            }
            continue;
        }
        uint32_t count = 0;
        for (; count < BATCH && next + count < TRANSFERS; count++) {
            batch[count] = next + count;
        }
        next += dw_spsc_push_batch(shared->ring, batch, count);
    }
    return NULL;
}

static void *consume(void *argument)
{
    cross *shared = argument;
    uint64_t expected = 0;
    uint64_t batch[BATCH];
    while (expected < TRANSFERS) {
        uint32_t count = 0;
        if (expected % 2 == 0) {
            count = dw_spsc_pop(shared->ring, &batch[0]) ? 1 : 0;
        } else {
            count = dw_spsc_pop_batch(shared->ring, batch, BATCH);
        }
        for (uint32_t i = 0; i < count; i++) {
            if (batch[i] != expected) {
                shared->out_of_order++;
            }
            expected++;
        }
    }
    shared->received = expected;
    return NULL;
}

static void two_threads_pass_every_value_in_order(void **state)
{
    (void)state;
    cross *shared = calloc(1, sizeof *shared);
    assert_non_null(shared);
    void *memory = dw_test_aligned_alloc(DW_SPSC_ALIGNMENT, dw_spsc_memory_bytes(CROSS_CAPACITY));
    shared->ring = dw_spsc_init(memory, CROSS_CAPACITY);
    shared->out_of_order = 0;
    shared->received = 0;
    pthread_t producer;
    pthread_t consumer;
    assert_int_equal(pthread_create(&consumer, NULL, consume, shared), 0);
    assert_int_equal(pthread_create(&producer, NULL, produce, shared), 0);
    assert_int_equal(pthread_join(producer, NULL), 0);
    assert_int_equal(pthread_join(consumer, NULL), 0);
    assert_int_equal(shared->received, TRANSFERS);
    assert_int_equal(shared->out_of_order, 0);
    assert_int_equal(dw_spsc_size(shared->ring), 0);
    free(memory);
    free(shared);
}

static void pushing_and_popping_never_allocate(void **state)
{
    (void)state;
    dw_spsc *ring = dw_spsc_init(ring_memory, 64);
    uint64_t batch[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint64_t value = 0;
    dw_alloc_counts before = dw_alloc_counts_now();
    for (uint64_t i = 0; i < 100000; i++) {
        assert_true(dw_spsc_push(ring, i));
        assert_true(dw_spsc_pop(ring, &value));
        assert_int_equal(dw_spsc_push_batch(ring, batch, 8), 8);
        assert_int_equal(dw_spsc_pop_batch(ring, batch, 8), 8);
    }
    assert_int_equal(dw_alloc_counts_since(before), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(head_and_tail_live_on_separate_line_pairs),
        cmocka_unit_test(one_thread_sees_fifo_order_through_many_laps),
        cmocka_unit_test(a_full_ring_refuses_and_recovers),
        cmocka_unit_test(batches_move_what_fits_in_order),
        cmocka_unit_test(two_threads_pass_every_value_in_order),
        cmocka_unit_test(pushing_and_popping_never_allocate),
    };
    return cmocka_run_group_tests_name("spsc", tests, NULL, NULL);
}
