/*
 * io_run.h — the engine behind `dw-bench io`: 4 KiB random reads at a queue depth, and
 * 4 KiB random writes each followed by fdatasync, through dw_io on a real file, with
 * every request's latency in a histogram. fio runs the same workloads on the same file
 * in `make bench`, so the two can be read side by side.
 */
#ifndef DW_BENCH_IO_RUN_H
#define DW_BENCH_IO_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "dwvd.h"
#include "sched/histogram.h"

#define DW_IO_RUN_CASES_MAX 16

typedef enum dw_io_workload {
    DW_IO_WORKLOAD_RANDREAD = 0,
    DW_IO_WORKLOAD_RANDWRITE_FDATASYNC = 1,
} dw_io_workload;

typedef struct dw_io_run_case {
    dw_io_backend backend;
    dw_io_workload workload;
    uint32_t queue_depth;
} dw_io_run_case;

typedef struct dw_io_run_options {
    const dw_config *config;        /* memory ceiling, io.direct */
    const char *path;
    uint64_t size_bytes;            /* the file is filled with data once, to this size */
    uint64_t seconds;               /* per case */
    dw_io_run_case cases[DW_IO_RUN_CASES_MAX];
    uint32_t case_count;
} dw_io_run_options;

typedef struct dw_io_run_result {
    dw_io_run_case run;
    bool direct;                    /* O_DIRECT was used */
    uint64_t operations;            /* reads, or write+fdatasync pairs */
    uint64_t elapsed_ns;
    double iops;
    dw_histogram latency;           /* per read; per write+fdatasync pair */
} dw_io_run_result;

/* Fills the file if it is new or of another size, then runs every case in turn.
 * `results` holds options->case_count entries. */
int dw_io_run(const dw_io_run_options *options, dw_io_run_result *results, dw_diag *diag);

const char *dw_io_workload_name(dw_io_workload workload);

/* Writes `path` full of data unless it already has `size_bytes`: reads of holes never
 * reach the device, so a benchmark must read written blocks. */
int dw_bench_fill_file(const char *path, uint64_t size_bytes, dw_diag *diag);

#endif /* DW_BENCH_IO_RUN_H */
