/*
 * test_ordered.c — the Lamport clock and the globally ordered queue: ticks and receives
 * follow Lamport's two rules (also from many threads at once), and events pushed in any
 * order come out in (time, core, insertion) order, checked against a sorted copy.
 */
#include "harness.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mem/alloc_count.h"
#include "sched/lamport.h"
#include "sched/ordered.h"

static void ticks_count_up_and_receives_jump_past(void **state)
{
    (void)state;
    dw_lamport clock;
    dw_lamport_init(&clock);
    assert_int_equal(dw_lamport_read(&clock), 0);
    assert_int_equal(dw_lamport_tick(&clock), 1);
    assert_int_equal(dw_lamport_tick(&clock), 2);
    /* A remote time ahead of ours: max(2, 10) + 1. */
    assert_int_equal(dw_lamport_receive(&clock, 10), 11);
    /* One behind ours still moves us on by one: max(11, 3) + 1. */
    assert_int_equal(dw_lamport_receive(&clock, 3), 12);
    assert_int_equal(dw_lamport_tick(&clock), 13);
    assert_int_equal(dw_lamport_read(&clock), 13);
}

static void happens_before_is_a_total_order_on_stamps(void **state)
{
    (void)state;
    assert_true(dw_lamport_before(1, 5, 2, 0));   /* earlier time wins whatever the core */
    assert_false(dw_lamport_before(2, 0, 1, 5));
    assert_true(dw_lamport_before(7, 1, 7, 2));   /* equal times: the lower core first */
    assert_false(dw_lamport_before(7, 2, 7, 1));
    assert_false(dw_lamport_before(7, 3, 7, 3));  /* irreflexive */
}

/* Two clocks exchanging messages: every receive is after its send. */
static void messages_between_clocks_respect_causality(void **state)
{
    (void)state;
    dw_lamport a;
    dw_lamport b;
    dw_lamport_init(&a);
    dw_lamport_init(&b);
    uint64_t seed = dw_test_seed();
    for (int i = 0; i < 1000; i++) {
        uint64_t r = dw_test_random(&seed);
        dw_lamport *from = (r & 1) != 0 ? &a : &b;
        dw_lamport *to = (r & 1) != 0 ? &b : &a;
        for (uint64_t local = 0; local < (r >> 8) % 4; local++) {
            (void)dw_lamport_tick(from);
        }
        uint64_t sent = dw_lamport_tick(from);
        uint64_t received = dw_lamport_receive(to, sent);
        assert_true(received > sent);
    }
}

enum { TICKERS = 4, TICKS_EACH = 50000 };

typedef struct ticker {
    dw_lamport *clock;
    uint64_t *seen;
    uint64_t not_increasing;    /* counted here: cmocka's asserts belong to the main thread */
} ticker;

static void *tick_many(void *argument)
{
    ticker *self = argument;
    uint64_t last = 0;
    for (int i = 0; i < TICKS_EACH; i++) {
        uint64_t now = (i % 5 == 0) ? dw_lamport_receive(self->clock, last)
                                    : dw_lamport_tick(self->clock);
        if (now <= last) { /* each thread's own events must be increasing */
            self->not_increasing++;
        }
        self->seen[i] = now;
        last = now;
    }
    return NULL;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void threads_never_get_the_same_time(void **state)
{
    (void)state;
    dw_lamport clock;
    dw_lamport_init(&clock);
    uint64_t *seen = calloc((size_t)TICKERS * TICKS_EACH, sizeof *seen);
    assert_non_null(seen);
    pthread_t threads[TICKERS];
    ticker tickers[TICKERS];
    for (int i = 0; i < TICKERS; i++) {
        tickers[i] = (ticker){&clock, seen + (size_t)i * TICKS_EACH, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, tick_many, &tickers[i]), 0);
    }
    for (int i = 0; i < TICKERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(tickers[i].not_increasing, 0);
    }
    qsort(seen, (size_t)TICKERS * TICKS_EACH, sizeof *seen, compare_u64);
    for (size_t i = 1; i < (size_t)TICKERS * TICKS_EACH; i++) {
        if (seen[i] == seen[i - 1]) {
            fail_msg("time %llu was handed out twice", (unsigned long long)seen[i]);
        }
    }
    free(seen);
}

typedef struct expected_entry {
    dw_stamp stamp;
    uint64_t sequence;
    uint64_t value;
} expected_entry;

static int compare_expected(const void *a, const void *b)
{
    const expected_entry *x = a;
    const expected_entry *y = b;
    if (x->stamp.time != y->stamp.time) {
        return x->stamp.time < y->stamp.time ? -1 : 1;
    }
    if (x->stamp.core != y->stamp.core) {
        return x->stamp.core < y->stamp.core ? -1 : 1;
    }
    return x->sequence < y->sequence ? -1 : x->sequence > y->sequence;
}

static void random_stamps_come_out_sorted(void **state)
{
    (void)state;
    enum { CAPACITY = 512 };
    static dw_ordered_entry memory[CAPACITY];
    static expected_entry expected[CAPACITY];
    dw_ordered queue;
    dw_ordered_init(&queue, memory, CAPACITY);
    uint64_t seed = dw_test_seed();
    uint64_t rounds = 50 * dw_test_scale();
    for (uint64_t round = 0; round < rounds; round++) {
        uint32_t count = 1 + (uint32_t)(dw_test_random(&seed) % CAPACITY);
        uint64_t sequence_base = queue.next_sequence;
        for (uint32_t i = 0; i < count; i++) {
            /* Few distinct times and cores, so ties on both are common. */
            dw_stamp stamp = {.time = dw_test_random(&seed) % 16,
                              .core = (uint32_t)(dw_test_random(&seed) % 4)};
            expected[i] = (expected_entry){stamp, sequence_base + i, i};
            assert_true(dw_ordered_push(&queue, stamp, i));
        }
        qsort(expected, count, sizeof expected[0], compare_expected);
        dw_ordered_entry entry;
        for (uint32_t i = 0; i < count; i++) {
            assert_true(dw_ordered_peek(&queue, &entry));
            assert_int_equal(entry.value, expected[i].value);
            assert_true(dw_ordered_pop(&queue, &entry));
            assert_int_equal(entry.value, expected[i].value);
            assert_int_equal(entry.stamp.time, expected[i].stamp.time);
            assert_int_equal(entry.stamp.core, expected[i].stamp.core);
        }
        assert_false(dw_ordered_pop(&queue, &entry));
        assert_int_equal(dw_ordered_count(&queue), 0);
    }
}

static void a_full_queue_refuses_and_never_allocates(void **state)
{
    (void)state;
    static dw_ordered_entry memory[4];
    dw_ordered queue;
    dw_ordered_init(&queue, memory, 4);
    dw_alloc_counts before = dw_alloc_counts_now();
    for (uint64_t i = 0; i < 4; i++) {
        assert_true(dw_ordered_push(&queue, (dw_stamp){.time = 10 - i, .core = 0}, i));
    }
    assert_false(dw_ordered_push(&queue, (dw_stamp){.time = 0, .core = 0}, 99));
    assert_int_equal(dw_ordered_count(&queue), 4);
    dw_ordered_entry entry;
    assert_true(dw_ordered_pop(&queue, &entry));
    assert_int_equal(entry.value, 3); /* time 7, the earliest */
    assert_true(dw_ordered_push(&queue, (dw_stamp){.time = 0, .core = 9}, 42));
    assert_true(dw_ordered_pop(&queue, &entry));
    assert_int_equal(entry.value, 42);
    assert_int_equal(dw_alloc_counts_since(before), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ticks_count_up_and_receives_jump_past),
        cmocka_unit_test(happens_before_is_a_total_order_on_stamps),
        cmocka_unit_test(messages_between_clocks_respect_causality),
        cmocka_unit_test(threads_never_get_the_same_time),
        cmocka_unit_test(random_stamps_come_out_sorted),
        cmocka_unit_test(a_full_queue_refuses_and_never_allocates),
    };
    return cmocka_run_group_tests_name("ordered", tests, NULL, NULL);
}
