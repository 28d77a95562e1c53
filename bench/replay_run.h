/*
 * replay_run.h — the built-in workloads of the deterministic CPU scheduler, behind
 * `dw-bench replay` and the proof that a run's result and order do not depend on the
 * number of workers or on their timing.
 *
 *   checksum  the engine's own use: tasks hash 4 KiB extents of a data area (1 to 4
 *             rounds each), mixed priorities, some behind guards that refuse a few;
 *             enqueued in batches of 64 and committed in order, the state folding each
 *             output in.
 *   mixed     the same, and a quarter of the tasks arrive stamped by four other
 *             sources' Lamport clocks (enqueue_ordered: ties on time are common and the
 *             source breaks them), with an external input recorded per batch.
 *
 * Every choice is drawn from the seed, so a workload and a seed are one task set.
 */
#ifndef DW_BENCH_REPLAY_RUN_H
#define DW_BENCH_REPLAY_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/clock.h"
#include "dwvd.h"
#include "sched/replay.h"

typedef enum dw_replay_workload {
    DW_REPLAY_WORKLOAD_CHECKSUM = 0,
    DW_REPLAY_WORKLOAD_MIXED = 1,
} dw_replay_workload;

/* "checksum" / "mixed" to the enum; false for an unknown name. */
bool dw_replay_workload_parse(const char *name, dw_replay_workload *workload);
const char *dw_replay_workload_name(dw_replay_workload workload);

#define DW_REPLAY_RUN_TASKS_MAX 1000000
#define DW_REPLAY_RUN_BATCH 64

typedef struct dw_replay_run_options {
    dw_replay_workload workload;
    uint32_t workers;               /* 1 .. 256, a power of two */
    uint32_t tasks;                 /* 1 .. DW_REPLAY_RUN_TASKS_MAX */
    uint64_t seed;
    bool threaded;                  /* worker threads; else one thread steps every core */
    uint64_t delay_max_ns;          /* threaded: random delay before each task, up to this */
    uint64_t delay_seed;
    uint64_t memory_ceiling_bytes;  /* the budget everything is planned against */
    const dw_clock *clock;          /* optional: a calibrated clock to share between runs */
    uint64_t *outputs;              /* optional, `tasks` entries: each task's output, 0 if refused */
    const char *save_path;          /* optional: the replay log is saved here */
} dw_replay_run_options;

typedef struct dw_replay_run_result {
    uint32_t workers;
    uint64_t chain;                 /* the execution-order hash */
    uint64_t state;                 /* the state after the last commit */
    uint64_t events;
    uint64_t enqueued;
    uint64_t refused;               /* by guards */
    uint64_t committed;
    uint64_t over_budget;
    uint64_t ticks_max;
    uint64_t allocations;           /* between the workers' start and their stop: must be 0 */
    uint64_t elapsed_ns;
} dw_replay_run_result;

int dw_replay_run(const dw_replay_run_options *options, dw_replay_run_result *result,
                  dw_diag *diag);

#endif /* DW_BENCH_REPLAY_RUN_H */
