/*
 * stack.h — the engine's layers opened together for the benchmarks and probes of `dw-bench`:
 * budget, arena, buffer pool, I/O (on the simulated disk or a file) and the deadline
 * scheduler, in that order, with one teardown.
 */
#ifndef DW_BENCH_STACK_H
#define DW_BENCH_STACK_H

#include <stdbool.h>
#include <stdint.h>

#include "io/sim_disk.h"
#include "sched/edf.h"

typedef struct dw_stack_options {
    const dw_config *config;
    bool sim;                   /* the simulated disk (virtual time) instead of a file */
    const char *path;           /* the file, when not sim */
    uint64_t size_bytes;        /* the file's or the disk's size */
    uint64_t seed;              /* the sim disk's */
    dw_sim_faults faults;       /* the sim disk's */
    dw_log *log;                /* may be NULL */
} dw_stack_options;

/* Allocated once per tool run; the padding clang-tidy counts comes from the
 * scheduler's cache-line-aligned counters. */
typedef struct dw_stack { // NOLINT(clang-analyzer-optin.performance.Padding)
    dw_sched sched;             /* first: the one member with cache-line alignment needs */
    dw_sim_disk sim;
    dw_io io;
    dw_arena arena;
    dw_budget budget;
    dw_clock system_clock;
    dw_pool_plan pool_plan;
    dw_io_plan io_plan;
    dw_sched_plan sched_plan;
    const dw_clock *clock;      /* the sim disk's virtual clock, or the system clock */
    dw_pool *pool;
    void *sim_memory;
    bool stopped;
} dw_stack;

/* Allocates and opens a stack; NULL with diag filled on failure. */
dw_stack *dw_stack_open(const dw_stack_options *options, dw_diag *diag);

/* Stops the scheduler (cancelling nothing that can finish within a second), closes
 * everything and frees the stack. */
void dw_stack_close(dw_stack *stack);

#endif /* DW_BENCH_STACK_H */
