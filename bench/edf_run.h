/*
 * edf_run.h — the mixed workload behind `dw-bench edf` and the EDF proof: critical reads
 * arriving at a fixed period with a tight deadline, against best-effort writes kept
 * outstanding so the device is saturated; run under EDF and under FIFO.
 *
 * On the simulated disk the run is driven step by step in virtual time: exact, and the
 * same on every run of the same seed. On a real file the scheduler's own I/O thread runs
 * it while this thread submits the critical reads on time.
 */
#ifndef DW_BENCH_EDF_RUN_H
#define DW_BENCH_EDF_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "dwvd.h"
#include "sched/edf.h"
#include "sched/histogram.h"

typedef struct dw_edf_run_options {
    const dw_config *config;        /* queue depth, slots, memory; policy set per run */
    bool sim;
    const char *path;               /* the file, when not sim (filled with data first) */
    uint64_t size_bytes;
    uint64_t seed;                  /* the sim disk's, and the block offsets' */
    uint64_t duration_ns;           /* virtual for sim */
    uint64_t critical_period_ns;
    uint64_t critical_deadline_ns;
    uint32_t bulk_outstanding;      /* best-effort writes kept submitted */
    uint64_t bulk_deadline_ns;
    uint64_t sim_service_ns;        /* the sim disk's time per request */
    uint32_t sim_channels;          /* requests it serves at once */
} dw_edf_run_options;

typedef struct dw_edf_run_result {
    dw_sched_policy policy;
    uint64_t critical_issued;
    uint64_t critical_refused;      /* no slot for it: counted as missed */
    uint64_t critical_completed;
    uint64_t critical_misses;
    uint64_t bulk_completed;
    uint64_t bulk_misses;
    uint64_t elapsed_ns;
    double critical_utilisation;    /* sim: the device time critical work asks for */
    double bulk_per_second;
    uint64_t trace_hash;            /* sim: the disk's trace; equal runs, equal hashes */
    dw_histogram critical_latency;
    dw_histogram bulk_latency;
    char thread_note[200];          /* file: how the I/O thread ran */
} dw_edf_run_result;

int dw_edf_run(const dw_edf_run_options *options, dw_sched_policy policy, dw_edf_run_result *result,
               dw_diag *diag);

#endif /* DW_BENCH_EDF_RUN_H */
