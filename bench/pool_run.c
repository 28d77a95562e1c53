/*
 * pool_run.c — see pool_run.h.
 *
 * Threads are created before the allocation count is marked and meet at barriers, so
 * the count covers exactly the rent/return loops: creating and joining threads allocates
 * inside the C library, and that is not the pool's doing.
 */
#include "pool_run.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/clock.h"
#include "core/error.h"
#include "mem/alloc_count.h"
#include "mem/arena.h"
#include "mem/budget.h"
#include "mem/pool.h"

/* Buffers one thread holds at once: a few, so that rents and returns interleave. */
#define HELD_PER_THREAD_MAX 4
/* How long a rent may wait; with a buffer reserved for every holder it never should. */
#define RENT_TIMEOUT_NS (1 * DW_NS_PER_S)

typedef struct run_shared {
    dw_pool *pool;
    _Atomic uint64_t *holders;          /* the tag of each buffer's holder, 0 when free */
    uint64_t operations;
    uint32_t held_per_thread;
    bool timed;
    /* The gate holds the threads until all exist (or creating one failed: abort). */
    pthread_mutex_t gate_lock;
    pthread_cond_t gate_opened;
    bool gate_open;
    bool abort;
    pthread_barrier_t barrier;
    _Atomic uint64_t double_handouts;
    _Atomic uint64_t dirty_rents;
    _Atomic uint64_t rent_timeouts;
} run_shared;

typedef struct run_thread {
    run_shared *shared;
    uint32_t id;
    pthread_t thread;
} run_thread;

static bool all_zero(const unsigned char *buffer, size_t size)
{
    uint64_t accumulated = 0;
    for (size_t i = 0; i < size; i += sizeof(uint64_t)) {
        uint64_t word;
        memcpy(&word, buffer + i, sizeof word);
        accumulated |= word;
    }
    return accumulated == 0;
}

static unsigned char *rent_one(run_shared *shared)
{
    unsigned char *buffer = dw_pool_try_rent(shared->pool);
    if (buffer == NULL && dw_pool_rent(shared->pool, RENT_TIMEOUT_NS, &buffer) != DW_OK) {
        atomic_fetch_add(&shared->rent_timeouts, 1);
        return NULL;
    }
    return buffer;
}

/* Rent, stamp, check, give back, with the holder table catching any overlap. */
static void checked_loop(run_thread *self)
{
    run_shared *shared = self->shared;
    dw_pool *pool = shared->pool;
    size_t size = pool->buffer_size;
    uint64_t sequence = 0;
    unsigned char *held[HELD_PER_THREAD_MAX];
    uint64_t tags[HELD_PER_THREAD_MAX];
    for (uint64_t done = 0; done < shared->operations;) {
        uint32_t count = 0;
        for (; count < shared->held_per_thread && done + count < shared->operations; count++) {
            unsigned char *buffer = rent_one(shared);
            if (buffer == NULL) {
                break;
            }
            if (!all_zero(buffer, size)) {
                atomic_fetch_add(&shared->dirty_rents, 1);
            }
            uint64_t tag = (uint64_t)(self->id + 1) << 40 | ++sequence;
            uint32_t index = dw_pool_index_of(pool, buffer);
            if (atomic_exchange(&shared->holders[index], tag) != 0) {
                atomic_fetch_add(&shared->double_handouts, 1);
            }
            memcpy(buffer, &tag, sizeof tag);
            memcpy(buffer + size - sizeof tag, &tag, sizeof tag);
            held[count] = buffer;
            tags[count] = tag;
        }
        if (count == 0) {
            return; /* the pool gave nothing within the timeout: counted, stop */
        }
        for (uint32_t i = 0; i < count; i++) {
            uint64_t first = 0;
            uint64_t last = 0;
            memcpy(&first, held[i], sizeof first);
            memcpy(&last, held[i] + size - sizeof last, sizeof last);
            uint64_t expected = tags[i];
            uint32_t index = dw_pool_index_of(pool, held[i]);
            if (first != tags[i] || last != tags[i] ||
                !atomic_compare_exchange_strong(&shared->holders[index], &expected, 0)) {
                atomic_fetch_add(&shared->double_handouts, 1);
            }
            int result = dw_pool_give_back(pool, held[i], NULL);
            DW_ASSERT(result == DW_OK);
        }
        done += count;
    }
}

static void timed_pool_loop(run_shared *shared)
{
    for (uint64_t i = 0; i < shared->operations; i++) {
        unsigned char *buffer = rent_one(shared);
        if (buffer == NULL) {
            return;
        }
        buffer[0] = 1;
        int result = dw_pool_give_back(shared->pool, buffer, NULL);
        DW_ASSERT(result == DW_OK);
    }
}

static void timed_malloc_loop(run_shared *shared, bool zero)
{
    /* Called through volatile pointers so the compiler cannot pair up and remove the
     * allocation, as it may for a plain malloc/free. */
    void *(*volatile allocate)(size_t) = malloc;
    void (*volatile release)(void *) = free;
    size_t size = shared->pool->buffer_size;
    for (uint64_t i = 0; i < shared->operations; i++) {
        unsigned char *buffer = allocate(size);
        DW_ASSERT(buffer != NULL);
        buffer[0] = 1;
        if (zero) {
            explicit_bzero(buffer, size); /* what the pool does on every give-back */
        }
        release(buffer);
    }
}

static void *run_worker(void *argument)
{
    run_thread *self = argument;
    run_shared *shared = self->shared;
    (void)pthread_mutex_lock(&shared->gate_lock);
    while (!shared->gate_open) {
        (void)pthread_cond_wait(&shared->gate_opened, &shared->gate_lock);
    }
    bool abort = shared->abort;
    (void)pthread_mutex_unlock(&shared->gate_lock);
    if (abort) {
        return NULL;
    }
    (void)pthread_barrier_wait(&shared->barrier); /* start */
    checked_loop(self);
    (void)pthread_barrier_wait(&shared->barrier); /* checked phase done */
    if (shared->timed) {
        timed_pool_loop(shared);
        (void)pthread_barrier_wait(&shared->barrier); /* timed pool done */
        (void)pthread_barrier_wait(&shared->barrier); /* malloc may start */
        timed_malloc_loop(shared, false);
        (void)pthread_barrier_wait(&shared->barrier); /* malloc done */
        timed_malloc_loop(shared, true);
        (void)pthread_barrier_wait(&shared->barrier); /* malloc with zeroing done */
    }
    return NULL;
}

/* One thread count: start the threads, mark, run the phases, collect. */
static int run_threads(run_shared *shared, uint32_t thread_count, const dw_clock *clock,
                       dw_pool_run_result *result, dw_pool_run_report *report, dw_diag *diag)
{
    run_thread threads[DW_POOL_RUN_THREADS_MAX];
    shared->gate_open = false;
    shared->abort = false;
    int error = 0;
    uint32_t started = 0;
    for (; started < thread_count; started++) {
        threads[started] = (run_thread){.shared = shared, .id = started};
        error = pthread_create(&threads[started].thread, NULL, run_worker, &threads[started]);
        if (error != 0) {
            break;
        }
    }
    if (started == thread_count) {
        int barrier_error = pthread_barrier_init(&shared->barrier, NULL, thread_count + 1);
        DW_ASSERT(barrier_error == 0);
    }
    (void)pthread_mutex_lock(&shared->gate_lock);
    shared->abort = started < thread_count;
    shared->gate_open = true;
    (void)pthread_cond_broadcast(&shared->gate_opened);
    (void)pthread_mutex_unlock(&shared->gate_lock);
    if (started < thread_count) {
        for (uint32_t i = 0; i < started; i++) {
            (void)pthread_join(threads[i].thread, NULL);
        }
        return dw_diag_fail(diag, DW_ENOMEM, "lower the thread count",
                            "cannot start benchmark thread %u of %u: %s", started + 1,
                            thread_count, strerror(error));
    }
    dw_alloc_counts mark = dw_alloc_counts_now();
    (void)pthread_barrier_wait(&shared->barrier); /* start */
    (void)pthread_barrier_wait(&shared->barrier); /* checked phase done */
    if (shared->timed) {
        uint64_t pool_start_ns = dw_clock_now_ns(clock);
        (void)pthread_barrier_wait(&shared->barrier);
        uint64_t pool_ns = dw_clock_now_ns(clock) - pool_start_ns;
        report->allocations_after_init += dw_alloc_counts_since(mark);
        (void)pthread_barrier_wait(&shared->barrier);
        uint64_t malloc_start_ns = dw_clock_now_ns(clock);
        (void)pthread_barrier_wait(&shared->barrier);
        uint64_t malloc_ns = dw_clock_now_ns(clock) - malloc_start_ns;
        uint64_t zeroing_start_ns = dw_clock_now_ns(clock);
        (void)pthread_barrier_wait(&shared->barrier);
        uint64_t zeroing_ns = dw_clock_now_ns(clock) - zeroing_start_ns;
        double operations = (double)thread_count * (double)shared->operations;
        result->pool_ns_per_operation = (double)pool_ns / operations;
        result->malloc_ns_per_operation = (double)malloc_ns / operations;
        result->malloc_zero_ns_per_operation = (double)zeroing_ns / operations;
    } else {
        report->allocations_after_init += dw_alloc_counts_since(mark);
    }
    for (uint32_t i = 0; i < thread_count; i++) {
        error = pthread_join(threads[i].thread, NULL);
        DW_ASSERT(error == 0);
    }
    (void)pthread_barrier_destroy(&shared->barrier);
    result->threads = thread_count;
    report->checked_operations += (uint64_t)thread_count * shared->operations;
    return DW_OK;
}

static uint32_t largest_thread_count(const dw_pool_run_options *options)
{
    uint32_t largest = 0;
    for (uint32_t i = 0; i < options->thread_count_count; i++) {
        largest = options->thread_counts[i] > largest ? options->thread_counts[i] : largest;
    }
    return largest;
}

int dw_pool_run(const dw_pool_run_options *options, dw_pool_run_report *report, dw_diag *diag)
{
    DW_ASSERT(options != NULL && options->config != NULL && report != NULL);
    DW_ASSERT(options->thread_count_count >= 1 &&
              options->thread_count_count <= DW_POOL_RUN_THREAD_COUNTS_MAX);
    const dw_config *config = options->config;
    memset(report, 0, sizeof *report);
    report->allocation_counting = dw_alloc_counting_mechanism();
    report->allocation_counting_works = dw_alloc_counting_works();
    uint32_t largest = largest_thread_count(options);
    if (largest == 0 || largest > DW_POOL_RUN_THREADS_MAX || largest > config->buffer_count) {
        return dw_diag_fail(diag, DW_EINVAL,
                            "use 1 to 64 threads, and no more than memory.buffer_count",
                            "cannot run %u threads on a pool of %u buffers", largest,
                            config->buffer_count);
    }

    dw_clock clock;
    dw_clock_system_init(&clock, 0);
    dw_budget budget;
    dw_budget_init(&budget, config->memory_ceiling_bytes, config->pressure_percent);
    dw_arena arena;
    dw_arena_init(&arena, &budget);
    dw_pool_plan pool_plan;
    uint32_t tags_piece = 0;
    int result = dw_pool_plan_in(&arena, config->buffer_count, config->block_size, &pool_plan, diag);
    if (result == DW_OK) {
        result = dw_arena_plan(&arena, "ownership tags", (uint64_t)config->buffer_count * 8, 64,
                               &tags_piece, diag);
    }
    if (result == DW_OK) {
        result = dw_arena_allocate(&arena, config->memory_lock, diag);
    }
    if (result != DW_OK) {
        dw_arena_close(&arena);
        return result;
    }
    report->arena_bytes = arena.mapped_bytes;

    dw_pool *pool = dw_pool_open_in(&arena, &pool_plan, &clock);
    run_shared shared = {
        .pool = pool,
        .holders = dw_arena_piece_memory(&arena, tags_piece),
        .operations = options->operations_per_thread,
        .timed = options->timed,
        .gate_lock = PTHREAD_MUTEX_INITIALIZER,
        .gate_opened = PTHREAD_COND_INITIALIZER,
    };
    for (uint32_t i = 0; i < config->buffer_count; i++) {
        atomic_init(&shared.holders[i], 0);
    }
    for (uint32_t i = 0; i < options->thread_count_count && result == DW_OK; i++) {
        uint32_t threads = options->thread_counts[i];
        uint32_t share = config->buffer_count / threads;
        shared.held_per_thread = share < HELD_PER_THREAD_MAX ? share : HELD_PER_THREAD_MAX;
        result = run_threads(&shared, threads, &clock, &report->results[i], report, diag);
        report->result_count = i + 1;
    }
    report->double_handouts = atomic_load(&shared.double_handouts);
    report->dirty_rents = atomic_load(&shared.dirty_rents);
    report->rent_timeouts = atomic_load(&shared.rent_timeouts);
    dw_pool_stats stats;
    dw_pool_stats_read(pool, &stats);
    report->in_use_high_water = stats.in_use_high_water;
    report->invalid_returns = stats.invalid_returns;
    DW_ASSERT(stats.in_use == 0 || result != DW_OK);
    dw_arena_close(&arena);
    return result;
}
