/*
 * rings_run.h — the cost of the scheduler's queues, measured beside Concurrency Kit's
 * ck_ring in the same run: an enqueue and a dequeue on one thread, and a value passed
 * from a producer on one core to a consumer on another.
 *
 * ck_ring is compiled in when Meson finds libck-dev (Debian); without it the ck rows say
 * so. Each case runs `rounds` times, the implementations alternating, and the median
 * round is reported, so that a noisy moment does not favour one side.
 */
#ifndef DW_BENCH_RINGS_RUN_H
#define DW_BENCH_RINGS_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "dwvd.h"

typedef enum dw_rings_ring {
    DW_RINGS_DW_SPSC = 0,
    DW_RINGS_CK_SPSC = 1,
    DW_RINGS_DW_MPMC = 2,
    DW_RINGS_CK_MPMC = 3,
} dw_rings_ring;
#define DW_RINGS_RING_COUNT 4

typedef enum dw_rings_mode {
    DW_RINGS_SINGLE_THREAD = 0,     /* enqueue then dequeue, one thread */
    DW_RINGS_CROSS_CORE = 1,        /* producer on one core, consumer on another */
} dw_rings_mode;
#define DW_RINGS_MODE_COUNT 2

typedef struct dw_rings_result {
    bool available;                 /* false: ck_ring was not compiled in */
    double ns_per_operation;        /* one enqueue + one dequeue (single), one value moved (cross) */
    double ticks_per_operation;
    uint64_t operations;            /* per round */
} dw_rings_result;

typedef struct dw_rings_run_options {
    uint64_t operations;            /* per round and case */
    uint32_t rounds;                /* odd, so the median is a round */
    uint32_t capacity;              /* entries in each ring, a power of two */
} dw_rings_run_options;

typedef struct dw_rings_run_report {
    dw_rings_result results[DW_RINGS_MODE_COUNT][DW_RINGS_RING_COUNT];
    int producer_cpu;               /* -1: not pinned */
    int consumer_cpu;
    char tick_source[32];
    char note[160];                 /* how the cross-core case ran */
} dw_rings_run_report;

bool dw_rings_have_ck(void);
const char *dw_rings_ring_name(dw_rings_ring ring);
const char *dw_rings_mode_name(dw_rings_mode mode);

int dw_rings_run(const dw_rings_run_options *options, dw_rings_run_report *report, dw_diag *diag);

#endif /* DW_BENCH_RINGS_RUN_H */
