/*
 * dw_bench.h — `dw-bench`, the benchmark and probe program: the runners of bench/ behind
 * the same command-line conventions as `dw` (src/cli/cli.h), kept out of the installed
 * `dw` so that it links neither Concurrency Kit nor the runners.
 */
#ifndef DW_BENCH_DW_BENCH_H
#define DW_BENCH_DW_BENCH_H

#include <stdio.h>

#include "cli/cli.h"

/* Runs `dw-bench` with argv as a shell would pass it; returns the exit code. */
int dw_bench_main(int argc, char **argv, FILE *out, FILE *err);

/* The commands, defined in their own files. */
extern const dw_cli_command dw_bench_command_pool;
extern const dw_cli_command dw_bench_command_io;
extern const dw_cli_command dw_bench_command_edf;
extern const dw_cli_command dw_bench_command_rings;
extern const dw_cli_command dw_bench_command_wcet;
extern const dw_cli_command dw_bench_command_replay;

#endif /* DW_BENCH_DW_BENCH_H */
