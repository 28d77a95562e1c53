/*
 * test_pool.c — the fixed buffer pool: rent until empty, zeroing on give-back, refusal
 * of double and foreign returns, bounded waits on a virtual and a real clock, and the
 * contention stress with ownership tags and allocation counting.
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool_run.h"
#include "mem/alloc_count.h"
#include "mem/pool.h"

enum { BUFFERS = 16, BUFFER_SIZE = 4096 };

typedef struct pool_fixture {
    void *memory;
    dw_pool pool;
    dw_clock_virtual virtual_clock;
} pool_fixture;

static int fixture_setup(void **state)
{
    /* The pool's counters are cache-line aligned: so must its container be. */
    pool_fixture *fixture = dw_test_aligned_alloc(_Alignof(pool_fixture), sizeof(pool_fixture));
    memset(fixture, 0, sizeof *fixture);
    uint64_t bytes = dw_pool_memory_bytes(BUFFERS, BUFFER_SIZE);
    fixture->memory = dw_test_aligned_alloc(DW_POOL_ALIGNMENT, (size_t)bytes);
    assert_non_null(fixture->memory);
    memset(fixture->memory, 0x5a, (size_t)bytes); /* the pool must zero its buffers itself */
    dw_clock_virtual_init(&fixture->virtual_clock, 0, 0);
    dw_pool_init(&fixture->pool, fixture->memory, bytes, BUFFERS, BUFFER_SIZE,
                 &fixture->virtual_clock.clock);
    *state = fixture;
    return 0;
}

static int fixture_teardown(void **state)
{
    pool_fixture *fixture = *state;
    free(fixture->memory);
    free(fixture);
    return 0;
}

static bool all_zero(const unsigned char *buffer)
{
    for (size_t i = 0; i < BUFFER_SIZE; i++) {
        if (buffer[i] != 0) {
            return false;
        }
    }
    return true;
}

static void every_buffer_can_be_rented_once(void **state)
{
    pool_fixture *fixture = *state;
    dw_pool *pool = &fixture->pool;
    unsigned char *rented[BUFFERS];
    dw_pool_stats stats;
    dw_pool_stats_read(pool, &stats);
    assert_int_equal(stats.total, BUFFERS);
    assert_int_equal(stats.available, BUFFERS);
    for (int i = 0; i < BUFFERS; i++) {
        rented[i] = dw_pool_try_rent(pool);
        assert_non_null(rented[i]);
        assert_int_equal((uintptr_t)rented[i] % DW_POOL_ALIGNMENT, 0);
        assert_true(all_zero(rented[i]));
        for (int j = 0; j < i; j++) {
            assert_ptr_not_equal(rented[i], rented[j]);
        }
        assert_int_equal(dw_pool_index_of(pool, rented[i]),
                         (uint32_t)((rented[i] - pool->buffers) / BUFFER_SIZE));
    }
    assert_null(dw_pool_try_rent(pool));
    dw_pool_stats_read(pool, &stats);
    assert_int_equal(stats.available, 0);
    assert_int_equal(stats.in_use, BUFFERS);
    assert_int_equal(stats.in_use_high_water, BUFFERS);
    assert_int_equal(stats.rent_failures, 1);
    for (int i = 0; i < BUFFERS; i++) {
        assert_int_equal(dw_pool_give_back(pool, rented[i], NULL), DW_OK);
    }
    dw_pool_stats_read(pool, &stats);
    assert_int_equal(stats.available, BUFFERS);
    assert_int_equal(stats.in_use_high_water, BUFFERS);
}

static void given_back_buffers_come_back_zeroed(void **state)
{
    pool_fixture *fixture = *state;
    unsigned char *buffer = dw_pool_try_rent(&fixture->pool);
    assert_non_null(buffer);
    memset(buffer, 0xee, BUFFER_SIZE);
    assert_int_equal(dw_pool_give_back(&fixture->pool, buffer, NULL), DW_OK);
    /* Last in, first out: the same buffer is rented again, and it is all zero. */
    unsigned char *again = dw_pool_try_rent(&fixture->pool);
    assert_ptr_equal(again, buffer);
    assert_true(all_zero(again));
    assert_int_equal(dw_pool_give_back(&fixture->pool, again, NULL), DW_OK);
}

static void double_and_foreign_returns_are_refused(void **state)
{
    pool_fixture *fixture = *state;
    dw_pool *pool = &fixture->pool;
    unsigned char *buffer = dw_pool_try_rent(pool);
    assert_int_equal(dw_pool_give_back(pool, buffer, NULL), DW_OK);
    dw_diag diag;
    dw_diag_clear(&diag);
    assert_int_equal(dw_pool_give_back(pool, buffer, &diag), DW_EINVAL);
    assert_non_null(strstr(diag.message, "given back twice"));
    unsigned char outside[64];
    assert_int_equal(dw_pool_give_back(pool, outside, &diag), DW_EINVAL);
    assert_non_null(strstr(diag.message, "is not one of this pool's 16 buffers"));
    assert_int_equal(dw_pool_give_back(pool, pool->buffers + 100, &diag), DW_EINVAL);
    assert_int_equal(dw_pool_give_back(pool, pool->buffers + BUFFERS * BUFFER_SIZE, &diag),
                     DW_EINVAL);
    dw_pool_stats stats;
    dw_pool_stats_read(pool, &stats);
    assert_int_equal(stats.invalid_returns, 4);
    /* The refusals changed nothing: every buffer is still free, once. */
    assert_int_equal(stats.available, BUFFERS);
    unsigned char *rented[BUFFERS];
    for (int i = 0; i < BUFFERS; i++) {
        rented[i] = dw_pool_try_rent(pool);
        assert_non_null(rented[i]);
    }
    assert_null(dw_pool_try_rent(pool));
    for (int i = 0; i < BUFFERS; i++) {
        assert_int_equal(dw_pool_give_back(pool, rented[i], NULL), DW_OK);
    }
}

typedef struct waiter {
    dw_pool *pool;
    uint64_t timeout_ns;
    int result;
    unsigned char *buffer;
    _Atomic int started;
} waiter;

static void *wait_for_buffer(void *argument)
{
    waiter *self = argument;
    atomic_store(&self->started, 1);
    self->result = dw_pool_rent(self->pool, self->timeout_ns, &self->buffer);
    return NULL;
}

static void sleep_ms(long milliseconds)
{
    struct timespec pause = {0, milliseconds * 1000 * 1000};
    while (nanosleep(&pause, &pause) != 0) {
    }
}

static void rent_times_out_by_the_pools_clock(void **state)
{
    pool_fixture *fixture = *state;
    dw_pool *pool = &fixture->pool;
    unsigned char *rented[BUFFERS];
    for (int i = 0; i < BUFFERS; i++) {
        rented[i] = dw_pool_try_rent(pool);
    }
    unsigned char *buffer = NULL;
    assert_int_equal(dw_pool_rent(pool, 0, &buffer), DW_EBUSY);
    assert_null(buffer);
    /* A waiter on the virtual clock gives up only when virtual time passes its
     * deadline, however long it has really waited. */
    waiter self = {.pool = pool, .timeout_ns = 5 * DW_NS_PER_MS, .result = 1};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, wait_for_buffer, &self), 0);
    while (atomic_load(&self.started) == 0) {
        sleep_ms(1);
    }
    sleep_ms(20);
    assert_int_equal(self.result, 1); /* still waiting: virtual time has not moved */
    dw_clock_virtual_advance(&fixture->virtual_clock, 10 * DW_NS_PER_MS);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(self.result, DW_EBUSY);
    assert_null(self.buffer);
    for (int i = 0; i < BUFFERS; i++) {
        assert_int_equal(dw_pool_give_back(pool, rented[i], NULL), DW_OK);
    }
}

static void a_give_back_wakes_a_waiting_renter(void **state)
{
    pool_fixture *fixture = *state;
    dw_clock clock;
    dw_clock_system_init(&clock, 0);
    fixture->pool.clock = &clock;
    dw_pool *pool = &fixture->pool;
    unsigned char *rented[BUFFERS];
    for (int i = 0; i < BUFFERS; i++) {
        rented[i] = dw_pool_try_rent(pool);
    }
    waiter self = {.pool = pool, .timeout_ns = 30 * DW_NS_PER_S, .result = 1};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, wait_for_buffer, &self), 0);
    while (atomic_load(&self.started) == 0) {
        sleep_ms(1);
    }
    sleep_ms(20);
    assert_int_equal(dw_pool_give_back(pool, rented[3], NULL), DW_OK);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(self.result, DW_OK);
    assert_ptr_equal(self.buffer, rented[3]);
    rented[3] = self.buffer;
    for (int i = 0; i < BUFFERS; i++) {
        assert_int_equal(dw_pool_give_back(pool, rented[i], NULL), DW_OK);
    }
}

static void renting_and_giving_back_never_allocate(void **state)
{
    pool_fixture *fixture = *state;
    dw_pool *pool = &fixture->pool;
    dw_alloc_counts before = dw_alloc_counts_now();
    for (int round = 0; round < 10000; round++) {
        unsigned char *buffer = dw_pool_try_rent(pool);
        unsigned char *other = NULL;
        assert_int_equal(dw_pool_rent(pool, 0, &other), DW_OK);
        buffer[0] = (unsigned char)round;
        (void)dw_pool_give_back(pool, other, NULL);
        (void)dw_pool_give_back(pool, buffer, NULL);
    }
    assert_int_equal(dw_alloc_counts_since(before), 0);
}

/* The stress of issue 3: several threads x 1M rent/return with ownership tags. */
static void contention_stress(uint32_t buffer_count, uint32_t threads, uint64_t operations)
{
    dw_config config;
    dw_config_defaults(&config);
    config.buffer_count = buffer_count;
    dw_pool_run_options options = {
        .config = &config,
        .thread_counts = {threads},
        .thread_count_count = 1,
        .operations_per_thread = operations,
        .timed = false,
    };
    dw_pool_run_report report;
    dw_diag diag;
    dw_diag_clear(&diag);
    assert_int_equal(dw_pool_run(&options, &report, &diag), DW_OK);
    printf("# %u threads x %llu operations on %u buffers: %llu double hand-outs, %llu dirty "
           "rents, %llu allocations (%s), high water %u\n",
           threads, (unsigned long long)operations, buffer_count,
           (unsigned long long)report.double_handouts, (unsigned long long)report.dirty_rents,
           (unsigned long long)report.allocations_after_init, report.allocation_counting,
           report.in_use_high_water);
    assert_true(report.allocation_counting_works);
    assert_int_equal(report.checked_operations, (uint64_t)threads * operations);
    assert_int_equal(report.double_handouts, 0);
    assert_int_equal(report.dirty_rents, 0);
    assert_int_equal(report.rent_timeouts, 0);
    assert_int_equal(report.invalid_returns, 0);
    assert_int_equal(report.allocations_after_init, 0);
    assert_true(report.in_use_high_water >= 2);
}

static void four_threads_a_million_each_on_the_default_pool(void **state)
{
    (void)state;
    contention_stress(1024, 4, 1000000);
}

static void four_threads_fighting_over_eight_buffers(void **state)
{
    (void)state;
    /* Every buffer is held most of the time: rents fall back to waiting. */
    contention_stress(8, 4, 250000 * dw_test_scale());
}

int main(void)
{
#define POOL_TEST(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
    const struct CMUnitTest tests[] = {
        POOL_TEST(every_buffer_can_be_rented_once),
        POOL_TEST(given_back_buffers_come_back_zeroed),
        POOL_TEST(double_and_foreign_returns_are_refused),
        POOL_TEST(rent_times_out_by_the_pools_clock),
        POOL_TEST(a_give_back_wakes_a_waiting_renter),
        POOL_TEST(renting_and_giving_back_never_allocate),
        cmocka_unit_test(four_threads_a_million_each_on_the_default_pool),
        cmocka_unit_test(four_threads_fighting_over_eight_buffers),
    };
    return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
