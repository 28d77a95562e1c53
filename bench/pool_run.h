/*
 * pool_run.h — rent/return under contention, with ownership tags, allocation counting
 * and timing: the engine behind `dw-bench pool` and the pool stress test.
 *
 * Each thread rents a few buffers, stamps each with its own tag, checks the stamps are
 * intact when it gives them back, and counts any buffer two holders had at once (a
 * double hand-out) or that was not zero when rented (a missed zeroing). Allocations are
 * counted from the moment the threads are ready to the moment they finish.
 */
#ifndef DW_BENCH_POOL_RUN_H
#define DW_BENCH_POOL_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "dwvd.h"

#define DW_POOL_RUN_THREAD_COUNTS_MAX 8
#define DW_POOL_RUN_THREADS_MAX 64

typedef struct dw_pool_run_options {
    const dw_config *config;           /* buffer count and size, ceiling, memory lock */
    uint32_t thread_counts[DW_POOL_RUN_THREAD_COUNTS_MAX];
    uint32_t thread_count_count;
    uint64_t operations_per_thread;    /* one operation: a rent and its give-back */
    bool timed;                        /* also time the pool and malloc without tags */
} dw_pool_run_options;

typedef struct dw_pool_run_result {
    uint32_t threads;
    double pool_ns_per_operation;      /* wall time / (threads x operations) */
    double malloc_ns_per_operation;
    double malloc_zero_ns_per_operation; /* malloc, zero the buffer as the pool does, free */
} dw_pool_run_result;

typedef struct dw_pool_run_report {
    dw_pool_run_result results[DW_POOL_RUN_THREAD_COUNTS_MAX];
    uint32_t result_count;
    uint64_t checked_operations;
    uint64_t double_handouts;
    uint64_t dirty_rents;              /* a rented buffer that was not all zero */
    uint64_t rent_timeouts;            /* a rent that found no buffer within a second */
    uint64_t allocations_after_init;   /* allocations and frees during the pool phases */
    bool allocation_counting_works;
    const char *allocation_counting;   /* "interposer" or "wrap" */
    uint32_t in_use_high_water;
    uint64_t invalid_returns;
    uint64_t arena_bytes;
} dw_pool_run_report;

/* Runs every thread count in turn. Returns DW_OK, or an error from opening the memory
 * (the budget, the arena) with diag filled. */
int dw_pool_run(const dw_pool_run_options *options, dw_pool_run_report *report, dw_diag *diag);

#endif /* DW_BENCH_POOL_RUN_H */
