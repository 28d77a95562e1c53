/*
 * cmd_bench.c — `dw-bench pool`: the buffer pool against glibc malloc/free, single- and
 * multi-threaded, with the proof that renting never allocates and never hands one buffer
 * to two holders; `dw-bench io`: 4 KiB random I/O through the I/O engine; and
 * `dw-bench edf`: critical deadlines under EDF and FIFO (the runners: pool_run.c,
 * io_run.c, edf_run.c).
 */
#include <string.h>

#include "cli/cli.h"
#include "dw_bench.h"
#include "edf_run.h"
#include "io_run.h"
#include "pool_run.h"
#include "io/io.h"
#include "core/config.h"
#include "core/text.h"

static int run_bench_pool(dw_cli *cli, int argument_count, char **arguments);
static int run_bench_io(dw_cli *cli, int argument_count, char **arguments);
static int run_bench_edf(dw_cli *cli, int argument_count, char **arguments);

const dw_cli_command dw_bench_command_edf = {
    .noun = "edf",
    .synopsis = "dw-bench edf [--json] [--target sim|file|both] [--file PATH] [--size SIZE] "
                "[--seconds N] [--seed N]",
    .summary = "critical deadlines under EDF and under FIFO, with the device saturated",
    .help =
        "DESCRIPTION\n"
        "    Runs one mixed workload under EDF and again under FIFO (sched.policy):\n"
        "    critical 4 KiB reads arriving at a fixed period, each due a fixed time after\n"
        "    it arrives, while best-effort 4 KiB writes are kept outstanding so that the\n"
        "    device never idles. Reports, per policy, how many critical deadlines were\n"
        "    missed, the critical latency percentiles, and the best-effort throughput.\n"
        "\n"
        "    sim   the simulated disk, 4 channels of 100 us each, driven step by step in\n"
        "          virtual time: critical reads every 31.25 us (80% of the device), due\n"
        "          2 ms after arrival; 128 writes outstanding; 2 s of virtual time. Exact:\n"
        "          the same seed gives the same figures and the same disk trace hash.\n"
        "    file  FILE through io.backend with the scheduler's I/O thread: critical reads\n"
        "          every 1 ms, due 2 ms after arrival; 128 writes outstanding; --seconds of\n"
        "          wall time. FILE is filled with data first when it is new or of another\n"
        "          size.\n"
        "\n"
        "OPTIONS\n"
        "    --target T      sim, file or both (default both)\n"
        "    --file PATH     the file for the file target (default dwvd-bench-io.data)\n"
        "    --size SIZE     its size (default 1GiB)\n"
        "    --seconds N     wall time of each file run, 1..3600 (default 5)\n"
        "    --seed N        the sim disk's seed (default 1)\n"
        "    --json          one JSON object instead of the table\n"
        "\n"
        "EXAMPLES\n"
        "    dw-bench edf --target sim\n"
        "    dw-bench edf --file /data/bench.data --seconds 10 --json\n",
    .run = run_bench_edf,
};

const dw_cli_command dw_bench_command_io = {
    .noun = "io",
    .synopsis = "dw-bench io [--json] [--file PATH] [--size SIZE] [--seconds N] "
                "[--backends io_uring,psync]",
    .summary = "measure 4 KiB random I/O through dwvd's I/O engine",
    .help =
        "DESCRIPTION\n"
        "    Runs, for each backend, three workloads of 4 KiB requests on FILE, each for\n"
        "    --seconds:\n"
        "\n"
        "    randread, queue depth 1      one random read at a time\n"
        "    randread, queue depth 32     32 random reads kept in flight\n"
        "    randwrite+fdatasync, depth 1 a random write, then fdatasync, then the next\n"
        "\n"
        "    and prints IOPS and the latency percentiles of each request (of each\n"
        "    write+fdatasync pair for the third). FILE is opened with O_DIRECT unless\n"
        "    io.direct = false or the file system refuses it (the table says which). It\n"
        "    is filled with data first when it is new or of another size, because reads\n"
        "    of holes never reach the device; later runs reuse it. `make bench` runs fio\n"
        "    with the same parameters on the same file and prints both side by side.\n"
        "\n"
        "OPTIONS\n"
        "    --file PATH             the file to use (default dwvd-bench-io.data)\n"
        "    --size SIZE             its size, e.g. 256MiB (default 1GiB)\n"
        "    --seconds N             per workload, 1..3600 (default 5)\n"
        "    --backends LIST         io_uring, psync or both (default io_uring,psync)\n"
        "    --json                  one JSON object instead of the table\n"
        "\n"
        "EXAMPLES\n"
        "    dw-bench io --file /data/bench.data --seconds 10\n"
        "    dw-bench io --json --backends io_uring --size 256MiB\n",
    .run = run_bench_io,
};

const dw_cli_command dw_bench_command_pool = {
    .noun = "pool",
    .synopsis = "dw-bench pool [--json] [--threads N,N,...] [--operations N]",
    .summary = "measure the buffer pool against malloc, and check it under contention",
    .help =
        "DESCRIPTION\n"
        "    Opens a buffer pool as an engine would (memory.buffer_count buffers of\n"
        "    vde.block_size bytes, reserved against memory.ceiling, in one mapping, locked\n"
        "    when memory.lock is set) and, for each thread count, runs three phases of\n"
        "    --operations rent/return pairs per thread:\n"
        "\n"
        "    checked  every buffer is stamped with an ownership tag while held; a buffer\n"
        "             two holders had at once counts as a double hand-out, one that was\n"
        "             not zero when rented as a dirty rent;\n"
        "    pool     the same rent/return loop, timed, without the checks;\n"
        "    malloc   malloc and free of the same size, timed, for comparison; and again\n"
        "             zeroing the buffer before free, as the pool zeroes every buffer it\n"
        "             takes back (malloc+zero).\n"
        "\n"
        "    Allocations are counted across the checked and pool phases of every thread\n"
        "    count, and must be zero. Times are wall time divided by threads x operations.\n"
        "\n"
        "OPTIONS\n"
        "    --threads N,N,...   thread counts to run, each 1..64 (default 1,2,4)\n"
        "    --operations N      rent/return pairs per thread and phase (default 1000000)\n"
        "    --json              one JSON object instead of the table\n"
        "\n"
        "    The exit status is 3 if a double hand-out, a dirty rent, a rent that timed\n"
        "    out or any allocation was seen.\n"
        "\n"
        "EXAMPLES\n"
        "    dw-bench pool\n"
        "    dw-bench pool --json --threads 1,8 --operations 200000\n"
        "    dw-bench pool --set memory.buffer_count=64 --set vde.block_size=64KiB\n",
    .run = run_bench_pool,
};

static int parse_thread_counts(const dw_cli *cli, const char *text, dw_pool_run_options *options)
{
    char copy[128];
    if (!dw_format(copy, sizeof copy, "%s", text)) {
        return dw_cli_usage_error(cli, &dw_bench_command_pool, "--threads list is too long");
    }
    options->thread_count_count = 0;
    char *saved = NULL;
    for (char *item = strtok_r(copy, ",", &saved); item != NULL; item = strtok_r(NULL, ",", &saved)) {
        if (options->thread_count_count == DW_POOL_RUN_THREAD_COUNTS_MAX) {
            return dw_cli_usage_error(cli, &dw_bench_command_pool,
                                      "--threads takes at most %d counts",
                                      DW_POOL_RUN_THREAD_COUNTS_MAX);
        }
        uint64_t count = 0;
        int exit_code = dw_cli_parse_number(cli, &dw_bench_command_pool, "--threads", item, 1,
                                            DW_POOL_RUN_THREADS_MAX, &count);
        if (exit_code != DW_EXIT_OK) {
            return exit_code;
        }
        options->thread_counts[options->thread_count_count++] = (uint32_t)count;
    }
    if (options->thread_count_count == 0) {
        return dw_cli_usage_error(cli, &dw_bench_command_pool, "--threads needs at least one count");
    }
    return DW_EXIT_OK;
}

static void print_table(const dw_cli *cli, const dw_config *config, const dw_pool_run_options *options,
                        const dw_pool_run_report *report)
{
    char size_text[32];
    (void)fprintf(cli->out,
                  "dw-bench pool: %u buffers x %s, %llu rent/return per thread and phase\n\n"
                  "threads  pool ns/op  malloc ns/op  malloc+zero ns/op  pool/malloc\n",
                  config->buffer_count, dw_format_size(config->block_size, size_text, sizeof size_text),
                  (unsigned long long)options->operations_per_thread);
    for (uint32_t i = 0; i < report->result_count; i++) {
        const dw_pool_run_result *result = &report->results[i];
        (void)fprintf(cli->out, "%7u  %10.1f  %12.1f  %17.1f  %11.2f\n", result->threads,
                      result->pool_ns_per_operation, result->malloc_ns_per_operation,
                      result->malloc_zero_ns_per_operation,
                      result->pool_ns_per_operation / result->malloc_ns_per_operation);
    }
    (void)fprintf(cli->out,
                  "\nchecked operations      %llu\n"
                  "double hand-outs        %llu\n"
                  "dirty rents             %llu\n"
                  "rent timeouts           %llu\n"
                  "allocations after init  %llu (counted by %s%s)\n"
                  "in use, high water      %u of %u\n",
                  (unsigned long long)report->checked_operations,
                  (unsigned long long)report->double_handouts,
                  (unsigned long long)report->dirty_rents, (unsigned long long)report->rent_timeouts,
                  (unsigned long long)report->allocations_after_init, report->allocation_counting,
                  report->allocation_counting_works ? "" : ", WHICH DOES NOT WORK HERE",
                  report->in_use_high_water, config->buffer_count);
}

static void print_json(const dw_cli *cli, const dw_config *config, const dw_pool_run_options *options,
                       const dw_pool_run_report *report)
{
    (void)fprintf(cli->out,
                  "{\"benchmark\":\"pool\",\"buffer_count\":%u,\"buffer_size\":%u,"
                  "\"operations_per_thread\":%llu,\"results\":[",
                  config->buffer_count, config->block_size,
                  (unsigned long long)options->operations_per_thread);
    for (uint32_t i = 0; i < report->result_count; i++) {
        const dw_pool_run_result *result = &report->results[i];
        (void)fprintf(cli->out,
                      "%s{\"threads\":%u,\"pool_ns_per_op\":%.1f,\"malloc_ns_per_op\":%.1f,"
                      "\"malloc_zero_ns_per_op\":%.1f,\"pool_to_malloc\":%.3f}",
                      i > 0 ? "," : "", result->threads, result->pool_ns_per_operation,
                      result->malloc_ns_per_operation, result->malloc_zero_ns_per_operation,
                      result->pool_ns_per_operation / result->malloc_ns_per_operation);
    }
    (void)fprintf(cli->out,
                  "],\"checked_operations\":%llu,\"double_handouts\":%llu,\"dirty_rents\":%llu,"
                  "\"rent_timeouts\":%llu,\"allocations_after_init\":",
                  (unsigned long long)report->checked_operations,
                  (unsigned long long)report->double_handouts,
                  (unsigned long long)report->dirty_rents, (unsigned long long)report->rent_timeouts);
    if (report->allocation_counting_works) {
        (void)fprintf(cli->out, "%llu", (unsigned long long)report->allocations_after_init);
    } else {
        (void)fprintf(cli->out, "null");
    }
    (void)fprintf(cli->out,
                  ",\"allocation_counting\":\"%s\",\"in_use_high_water\":%u,\"arena_bytes\":%llu}\n",
                  report->allocation_counting, report->in_use_high_water,
                  (unsigned long long)report->arena_bytes);
}

static int run_bench_pool(dw_cli *cli, int argument_count, char **arguments)
{
    dw_pool_run_options options = {
        .thread_counts = {1, 2, 4},
        .thread_count_count = 3,
        .operations_per_thread = 1000000,
        .timed = true,
    };
    bool json = false;
    const char *threads = NULL;
    const char *operations = NULL;
    const dw_cli_option spec[] = {
        {"--json", &json, NULL},
        {"--threads", NULL, &threads},
        {"--operations", NULL, &operations},
    };
    int parsed = dw_cli_parse_options(cli, &dw_bench_command_pool, argument_count, arguments, spec,
                                      DW_ARRAY_COUNT(spec), NULL, 0, NULL);
    if (parsed == DW_EXIT_OK && threads != NULL) {
        parsed = parse_thread_counts(cli, threads, &options);
    }
    if (parsed == DW_EXIT_OK && operations != NULL) {
        parsed = dw_cli_parse_number(cli, &dw_bench_command_pool, "--operations", operations, 1,
                                     UINT64_C(1000000000), &options.operations_per_thread);
    }
    if (parsed != DW_EXIT_OK) {
        return parsed;
    }
    dw_config config;
    dw_config_report config_report;
    int exit_code = dw_cli_load_config(cli, cli->config_path, &config, &config_report);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    options.config = &config;
    dw_pool_run_report report;
    dw_diag diag;
    dw_diag_clear(&diag);
    int result = dw_pool_run(&options, &report, &diag);
    if (result != DW_OK) {
        dw_cli_error_diag(cli, &diag);
        return dw_cli_exit_code(result);
    }
    if (json) {
        print_json(cli, &config, &options, &report);
    } else {
        print_table(cli, &config, &options, &report);
    }
    bool clean = report.double_handouts == 0 && report.dirty_rents == 0 &&
                 report.rent_timeouts == 0 && report.allocation_counting_works &&
                 report.allocations_after_init == 0;
    return clean ? DW_EXIT_OK : DW_EXIT_PROBLEMS;
}

static int parse_backends(const dw_cli *cli, const char *text, dw_io_backend *backends, uint32_t *count)
{
    char copy[64];
    if (!dw_format(copy, sizeof copy, "%s", text)) {
        return dw_cli_usage_error(cli, &dw_bench_command_io, "--backends list is too long");
    }
    *count = 0;
    char *saved = NULL;
    for (char *item = strtok_r(copy, ",", &saved); item != NULL; item = strtok_r(NULL, ",", &saved)) {
        if (*count == 2) {
            return dw_cli_usage_error(cli, &dw_bench_command_io, "--backends names at most two");
        }
        if (strcmp(item, "io_uring") == 0) {
            backends[(*count)++] = DW_IO_BACKEND_IO_URING;
        } else if (strcmp(item, "psync") == 0) {
            backends[(*count)++] = DW_IO_BACKEND_PSYNC;
        } else {
            return dw_cli_usage_error(cli, &dw_bench_command_io,
                                      "--backends takes io_uring and psync, not '%s'", item);
        }
    }
    if (*count == 0) {
        return dw_cli_usage_error(cli, &dw_bench_command_io, "--backends needs at least one backend");
    }
    return DW_EXIT_OK;
}

static void print_io_table(const dw_cli *cli, const dw_io_run_options *options,
                           const dw_io_run_result *results)
{
    char size_text[32];
    (void)fprintf(cli->out, "dw-bench io: %s (%s), %llu s a workload, 4 KiB requests\n\n",
                  options->path, dw_format_size(options->size_bytes, size_text, sizeof size_text),
                  (unsigned long long)options->seconds);
    (void)fprintf(cli->out, "backend   workload             depth  direct       IOPS   p50 us   p99 us "
                            "p99.9 us   max us\n");
    for (uint32_t i = 0; i < options->case_count; i++) {
        const dw_io_run_result *result = &results[i];
        const dw_histogram *latency = &result->latency;
        (void)fprintf(cli->out, "%-9s %-20s %5u  %-6s %10.0f %8.1f %8.1f %8.1f %8.1f\n",
                      dw_io_backend_name(result->run.backend), dw_io_workload_name(result->run.workload),
                      result->run.queue_depth, result->direct ? "yes" : "no", result->iops,
                      (double)dw_histogram_percentile(latency, 500000) / 1000.0,
                      (double)dw_histogram_percentile(latency, 990000) / 1000.0,
                      (double)dw_histogram_percentile(latency, 999000) / 1000.0,
                      (double)latency->max / 1000.0);
    }
}

static void print_io_json(const dw_cli *cli, const dw_io_run_options *options,
                          const dw_io_run_result *results)
{
    (void)fprintf(cli->out, "{\"benchmark\":\"io\",\"file\":");
    dw_cli_json_string(cli->out, options->path);
    (void)fprintf(cli->out, ",\"size_bytes\":%llu,\"seconds\":%llu,\"block_size\":4096,\"results\":[",
                  (unsigned long long)options->size_bytes, (unsigned long long)options->seconds);
    for (uint32_t i = 0; i < options->case_count; i++) {
        const dw_io_run_result *result = &results[i];
        const dw_histogram *latency = &result->latency;
        (void)fprintf(cli->out,
                      "%s{\"backend\":\"%s\",\"workload\":\"%s\",\"queue_depth\":%u,\"direct\":%s,"
                      "\"operations\":%llu,\"iops\":%.1f,\"latency_ns\":{\"mean\":%llu,\"p50\":%llu,"
                      "\"p99\":%llu,\"p999\":%llu,\"max\":%llu}}",
                      i > 0 ? "," : "", dw_io_backend_name(result->run.backend),
                      dw_io_workload_name(result->run.workload), result->run.queue_depth,
                      result->direct ? "true" : "false", (unsigned long long)result->operations,
                      result->iops, (unsigned long long)dw_histogram_mean(latency),
                      (unsigned long long)dw_histogram_percentile(latency, 500000),
                      (unsigned long long)dw_histogram_percentile(latency, 990000),
                      (unsigned long long)dw_histogram_percentile(latency, 999000),
                      (unsigned long long)latency->max);
    }
    (void)fprintf(cli->out, "]}\n");
}

static int run_bench_io(dw_cli *cli, int argument_count, char **arguments)
{
    static dw_io_run_options options;
    static dw_io_run_result results[DW_IO_RUN_CASES_MAX];
    memset(&options, 0, sizeof options);
    options.path = "dwvd-bench-io.data";
    options.size_bytes = UINT64_C(1) << 30;
    options.seconds = 5;
    dw_io_backend backends[2] = {DW_IO_BACKEND_IO_URING, DW_IO_BACKEND_PSYNC};
    uint32_t backend_count = 2;
    bool json = false;
    const char *size = NULL;
    const char *seconds = NULL;
    const char *backend_list = NULL;
    const dw_cli_option spec[] = {
        {"--json", &json, NULL},
        {"--file", NULL, &options.path},
        {"--size", NULL, &size},
        {"--seconds", NULL, &seconds},
        {"--backends", NULL, &backend_list},
    };
    const dw_cli_command *command = &dw_bench_command_io;
    int parsed = dw_cli_parse_options(cli, command, argument_count, arguments, spec, DW_ARRAY_COUNT(spec),
                                      NULL, 0, NULL);
    if (parsed == DW_EXIT_OK && size != NULL && dw_parse_size(size, &options.size_bytes) != DW_OK) {
        parsed = dw_cli_usage_error(cli, command, "--size takes a size such as 256MiB, not '%s'", size);
    }
    if (parsed == DW_EXIT_OK && seconds != NULL) {
        parsed = dw_cli_parse_number(cli, command, "--seconds", seconds, 1, 3600, &options.seconds);
    }
    if (parsed == DW_EXIT_OK && backend_list != NULL) {
        parsed = parse_backends(cli, backend_list, backends, &backend_count);
    }
    if (parsed != DW_EXIT_OK) {
        return parsed;
    }
    static dw_config config;
    static dw_config_report config_report;
    int exit_code = dw_cli_load_config(cli, cli->config_path, &config, &config_report);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    options.config = &config;
    for (uint32_t b = 0; b < backend_count; b++) {
        options.cases[options.case_count++] = (dw_io_run_case){backends[b], DW_IO_WORKLOAD_RANDREAD, 1};
        options.cases[options.case_count++] = (dw_io_run_case){backends[b], DW_IO_WORKLOAD_RANDREAD, 32};
        options.cases[options.case_count++] =
            (dw_io_run_case){backends[b], DW_IO_WORKLOAD_RANDWRITE_FDATASYNC, 1};
    }
    dw_diag diag;
    dw_diag_clear(&diag);
    int result = dw_io_run(&options, results, &diag);
    if (result != DW_OK) {
        dw_cli_error_diag(cli, &diag);
        return dw_cli_exit_code(result);
    }
    if (json) {
        print_io_json(cli, &options, results);
    } else {
        print_io_table(cli, &options, results);
    }
    return DW_EXIT_OK;
}

typedef struct edf_bench_row {
    const char *target;
    dw_edf_run_options options;
    dw_edf_run_result result;
} edf_bench_row;

static void print_edf_table(const dw_cli *cli, const edf_bench_row *rows, uint32_t count)
{
    (void)fprintf(cli->out, "dw-bench edf: critical reads (deadline after arrival) against best-effort "
                            "writes kept outstanding\n\n");
    (void)fprintf(cli->out, "target  policy  period us  deadline us  critical  missed   miss %%   p50 us   p99 us "
                            "p99.9 us   max us   bulk ops/s\n");
    for (uint32_t i = 0; i < count; i++) {
        const dw_edf_run_result *result = &rows[i].result;
        const dw_histogram *latency = &result->critical_latency;
        (void)fprintf(cli->out, "%-7s %-6s %10.2f %12.0f %9llu %7llu %7.2f %8.1f %8.1f %8.1f %8.1f %12.0f\n",
                      rows[i].target, result->policy == DW_SCHED_EDF ? "edf" : "fifo",
                      (double)rows[i].options.critical_period_ns / 1000.0,
                      (double)rows[i].options.critical_deadline_ns / 1000.0,
                      (unsigned long long)result->critical_issued, (unsigned long long)result->critical_misses,
                      result->critical_issued > 0
                          ? 100.0 * (double)result->critical_misses / (double)result->critical_issued
                          : 0.0,
                      (double)dw_histogram_percentile(latency, 500000) / 1000.0,
                      (double)dw_histogram_percentile(latency, 990000) / 1000.0,
                      (double)dw_histogram_percentile(latency, 999000) / 1000.0,
                      (double)latency->max / 1000.0, result->bulk_per_second);
    }
    for (uint32_t i = 0; i < count; i++) {
        if (strcmp(rows[i].target, "sim") == 0 && rows[i].result.policy == DW_SCHED_EDF) {
            (void)fprintf(cli->out, "\nsim: critical work asks for %.0f%% of the device; disk trace hash %016llx "
                                    "(edf)\n",
                          100.0 * rows[i].result.critical_utilisation,
                          (unsigned long long)rows[i].result.trace_hash);
        }
        if (strcmp(rows[i].target, "file") == 0 && rows[i].result.policy == DW_SCHED_EDF) {
            (void)fprintf(cli->out, "file: %s; I/O thread: %s\n", rows[i].options.path,
                          rows[i].result.thread_note);
        }
    }
}

static void print_edf_json(const dw_cli *cli, const edf_bench_row *rows, uint32_t count)
{
    (void)fprintf(cli->out, "{\"benchmark\":\"edf\",\"runs\":[");
    for (uint32_t i = 0; i < count; i++) {
        const dw_edf_run_result *result = &rows[i].result;
        const dw_histogram *latency = &result->critical_latency;
        const dw_histogram *bulk = &result->bulk_latency;
        (void)fprintf(cli->out,
                      "%s{\"target\":\"%s\",\"policy\":\"%s\",\"critical_period_ns\":%llu,"
                      "\"critical_deadline_ns\":%llu,\"bulk_outstanding\":%u,\"elapsed_ns\":%llu,"
                      "\"critical\":{\"issued\":%llu,\"refused\":%llu,\"completed\":%llu,\"missed\":%llu,"
                      "\"p50_ns\":%llu,\"p99_ns\":%llu,\"p999_ns\":%llu,\"max_ns\":%llu},"
                      "\"bulk\":{\"completed\":%llu,\"missed\":%llu,\"per_second\":%.1f,\"p50_ns\":%llu,"
                      "\"p99_ns\":%llu,\"max_ns\":%llu}",
                      i > 0 ? "," : "", rows[i].target, result->policy == DW_SCHED_EDF ? "edf" : "fifo",
                      (unsigned long long)rows[i].options.critical_period_ns,
                      (unsigned long long)rows[i].options.critical_deadline_ns, rows[i].options.bulk_outstanding,
                      (unsigned long long)result->elapsed_ns, (unsigned long long)result->critical_issued,
                      (unsigned long long)result->critical_refused, (unsigned long long)result->critical_completed,
                      (unsigned long long)result->critical_misses,
                      (unsigned long long)dw_histogram_percentile(latency, 500000),
                      (unsigned long long)dw_histogram_percentile(latency, 990000),
                      (unsigned long long)dw_histogram_percentile(latency, 999000),
                      (unsigned long long)latency->max, (unsigned long long)result->bulk_completed,
                      (unsigned long long)result->bulk_misses, result->bulk_per_second,
                      (unsigned long long)dw_histogram_percentile(bulk, 500000),
                      (unsigned long long)dw_histogram_percentile(bulk, 990000),
                      (unsigned long long)bulk->max);
        if (strcmp(rows[i].target, "sim") == 0) {
            (void)fprintf(cli->out, ",\"critical_utilisation\":%.3f,\"trace_hash\":\"%016llx\"",
                          result->critical_utilisation, (unsigned long long)result->trace_hash);
        }
        (void)fprintf(cli->out, "}");
    }
    (void)fprintf(cli->out, "]}\n");
}

/* The workloads described in the help text. */
static void edf_sim_options(dw_edf_run_options *options, const dw_config *config, uint64_t seed)
{
    *options = (dw_edf_run_options){
        .config = config,
        .sim = true,
        .size_bytes = UINT64_C(64) << 20,
        .seed = seed,
        .duration_ns = 2 * DW_NS_PER_S,
        .critical_period_ns = 31250,
        .critical_deadline_ns = 2 * DW_NS_PER_MS,
        .bulk_outstanding = 128,
        .bulk_deadline_ns = DW_NS_PER_S,
        .sim_service_ns = 100 * DW_NS_PER_US,
        .sim_channels = 4,
    };
}

static void edf_file_options(dw_edf_run_options *options, const dw_config *config, const char *path,
                             uint64_t size_bytes, uint64_t seconds)
{
    *options = (dw_edf_run_options){
        .config = config,
        .sim = false,
        .path = path,
        .size_bytes = size_bytes,
        .seed = 1,
        .duration_ns = seconds * DW_NS_PER_S,
        .critical_period_ns = DW_NS_PER_MS,
        .critical_deadline_ns = 2 * DW_NS_PER_MS,
        .bulk_outstanding = 128,
        .bulk_deadline_ns = DW_NS_PER_S,
    };
}

static int run_bench_edf(dw_cli *cli, int argument_count, char **arguments)
{
    const char *target = "both";
    const char *path = "dwvd-bench-io.data";
    uint64_t size_bytes = UINT64_C(1) << 30;
    uint64_t seconds = 5;
    uint64_t seed = 1;
    bool json = false;
    const char *size = NULL;
    const char *seconds_text = NULL;
    const char *seed_text = NULL;
    const dw_cli_option spec[] = {
        {"--json", &json, NULL},
        {"--target", NULL, &target},
        {"--file", NULL, &path},
        {"--size", NULL, &size},
        {"--seconds", NULL, &seconds_text},
        {"--seed", NULL, &seed_text},
    };
    const dw_cli_command *command = &dw_bench_command_edf;
    int parsed = dw_cli_parse_options(cli, command, argument_count, arguments, spec, DW_ARRAY_COUNT(spec),
                                      NULL, 0, NULL);
    if (parsed == DW_EXIT_OK && strcmp(target, "sim") != 0 && strcmp(target, "file") != 0 &&
        strcmp(target, "both") != 0) {
        parsed = dw_cli_usage_error(cli, command, "--target is sim, file or both, not '%s'", target);
    }
    if (parsed == DW_EXIT_OK && size != NULL &&
        (dw_parse_size(size, &size_bytes) != DW_OK || size_bytes < (UINT64_C(1) << 20))) {
        parsed = dw_cli_usage_error(cli, command, "--size takes a size of at least 1MiB, not '%s'", size);
    }
    if (parsed == DW_EXIT_OK && seconds_text != NULL) {
        parsed = dw_cli_parse_number(cli, command, "--seconds", seconds_text, 1, 3600, &seconds);
    }
    if (parsed == DW_EXIT_OK && seed_text != NULL) {
        parsed = dw_cli_parse_number(cli, command, "--seed", seed_text, 0, UINT64_MAX, &seed);
    }
    if (parsed != DW_EXIT_OK) {
        return parsed;
    }
    static dw_config config;
    static dw_config_report report;
    int exit_code = dw_cli_load_config(cli, cli->config_path, &config, &report);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    static edf_bench_row rows[4];
    uint32_t count = 0;
    for (int policy = DW_SCHED_EDF; policy <= DW_SCHED_FIFO; policy++) {
        if (strcmp(target, "file") != 0) {
            rows[count].target = "sim";
            edf_sim_options(&rows[count].options, &config, seed);
            rows[count].result.policy = (dw_sched_policy)policy;
            count++;
        }
        if (strcmp(target, "sim") != 0) {
            rows[count].target = "file";
            edf_file_options(&rows[count].options, &config, path, size_bytes, seconds);
            rows[count].result.policy = (dw_sched_policy)policy;
            count++;
        }
    }
    for (uint32_t i = 0; i < count; i++) {
        dw_diag diag;
        dw_diag_clear(&diag);
        int result = dw_edf_run(&rows[i].options, rows[i].result.policy, &rows[i].result, &diag);
        if (result != DW_OK) {
            dw_cli_error_diag(cli, &diag);
            return dw_cli_exit_code(result);
        }
    }
    if (json) {
        print_edf_json(cli, rows, count);
    } else {
        print_edf_table(cli, rows, count);
    }
    return DW_EXIT_OK;
}
