/*
 * cmd_bench_rings.c — `dw-bench rings`: the scheduler's SPSC and MPMC queues against
 * Concurrency Kit's ck_ring, single-threaded and across two cores, in one run.
 */
#include <string.h>

#include "cli/cli.h"
#include "dw_bench.h"
#include "rings_run.h"
#include "core/bits.h"

static int run_bench_rings(dw_cli *cli, int argument_count, char **arguments);

const dw_cli_command dw_bench_command_rings = {
    .noun = "rings",
    .synopsis = "dw-bench rings [--json] [--operations N] [--rounds N] [--capacity N]",
    .summary = "measure the scheduler's SPSC and MPMC queues against ck_ring",
    .help =
        "DESCRIPTION\n"
        "    Measures the bounded queues of the deterministic CPU scheduler beside\n"
        "    Concurrency Kit's ck_ring (Debian libck-dev), in the same run:\n"
        "\n"
        "    single-thread  one enqueue then one dequeue, --operations times, on one\n"
        "                   thread: the cost of the operations themselves;\n"
        "    cross-core     a producer thread pinned to one CPU enqueues --operations\n"
        "                   values that a consumer pinned to another dequeues, in\n"
        "                   order: the cost of moving a value between cores.\n"
        "\n"
        "    for dwvd's SPSC ring, ck_ring's SPSC mode, dwvd's MPMC queue and ck_ring's\n"
        "    MPMC mode, each with --capacity entries. Prints nanoseconds and CPU ticks\n"
        "    per operation (the median of --rounds rounds, implementations alternating)\n"
        "    and the ratio ck_ring / dwvd: above 1.0, dwvd's queue is faster.\n"
        "\n"
        "    Without libck-dev at build time the ck_ring rows say 'not built'; install\n"
        "    it and reconfigure (make bench does both).\n"
        "\n"
        "OPTIONS\n"
        "    --operations N   per round and case, 1000..1000000000 (default 20000000)\n"
        "    --rounds N       odd, 1..31 (default 9)\n"
        "    --capacity N     ring entries, a power of two 2..1048576 (default 1024)\n"
        "    --json           one JSON object instead of the table\n"
        "\n"
        "EXAMPLES\n"
        "    dw-bench rings\n"
        "    dw-bench rings --operations 1000000 --rounds 3 --json\n",
    .run = run_bench_rings,
};

static double ratio(const dw_rings_run_report *report, dw_rings_mode mode, dw_rings_ring ours,
                    dw_rings_ring theirs)
{
    const dw_rings_result *a = &report->results[mode][ours];
    const dw_rings_result *b = &report->results[mode][theirs];
    if (!b->available || a->ns_per_operation <= 0.0) {
        return 0.0;
    }
    return b->ns_per_operation / a->ns_per_operation;
}

static int run_bench_rings(dw_cli *cli, int argument_count, char **arguments)
{
    dw_rings_run_options options = {.operations = 20000000, .rounds = 9, .capacity = 1024};
    bool json = false;
    const char *operations = NULL;
    const char *rounds = NULL;
    const char *capacity = NULL;
    const dw_cli_option spec[] = {
        {"--json", &json, NULL},
        {"--operations", NULL, &operations},
        {"--rounds", NULL, &rounds},
        {"--capacity", NULL, &capacity},
    };
    const dw_cli_command *command = &dw_bench_command_rings;
    int exit_code = dw_cli_parse_options(cli, command, argument_count, arguments, spec,
                                         DW_ARRAY_COUNT(spec), NULL, 0, NULL);
    uint64_t number = 0;
    if (exit_code == DW_EXIT_OK && operations != NULL) {
        exit_code = dw_cli_parse_number(cli, command, "--operations", operations, 1000, 1000000000,
                                        &options.operations);
    }
    if (exit_code == DW_EXIT_OK && rounds != NULL) {
        exit_code = dw_cli_parse_number(cli, command, "--rounds", rounds, 1, 31, &number);
        if (exit_code == DW_EXIT_OK && number % 2 == 0) {
            return dw_cli_usage_error(cli, command,
                                      "--rounds takes an odd number, so the median is a round, not %llu",
                                      (unsigned long long)number);
        }
        options.rounds = (uint32_t)number;
    }
    if (exit_code == DW_EXIT_OK && capacity != NULL) {
        exit_code = dw_cli_parse_number(cli, command, "--capacity", capacity, 2, 1048576, &number);
        if (exit_code == DW_EXIT_OK && !dw_is_power_of_two(number)) {
            return dw_cli_usage_error(cli, command, "--capacity takes a power of two, not %llu",
                                      (unsigned long long)number);
        }
        options.capacity = (uint32_t)number;
    }
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    static dw_rings_run_report report;
    dw_diag diag;
    dw_diag_clear(&diag);
    int result = dw_rings_run(&options, &report, &diag);
    if (result != DW_OK) {
        dw_cli_error_diag(cli, &diag);
        return dw_cli_exit_code(result);
    }
    const struct {
        const char *name;
        dw_rings_mode mode;
        dw_rings_ring ours;
        dw_rings_ring theirs;
    } ratios[] = {
        {"spsc_single_thread", DW_RINGS_SINGLE_THREAD, DW_RINGS_DW_SPSC, DW_RINGS_CK_SPSC},
        {"spsc_cross_core", DW_RINGS_CROSS_CORE, DW_RINGS_DW_SPSC, DW_RINGS_CK_SPSC},
        {"mpmc_single_thread", DW_RINGS_SINGLE_THREAD, DW_RINGS_DW_MPMC, DW_RINGS_CK_MPMC},
        {"mpmc_cross_core", DW_RINGS_CROSS_CORE, DW_RINGS_DW_MPMC, DW_RINGS_CK_MPMC},
    };
    if (json) {
        (void)fprintf(cli->out,
                      "{\"benchmark\":\"rings\",\"operations\":%llu,\"rounds\":%u,\"capacity\":%u,"
                      "\"ck_ring\":%s,\"tick_source\":\"%s\",\"producer_cpu\":%d,\"consumer_cpu\":%d,"
                      "\"results\":[",
                      (unsigned long long)options.operations, options.rounds, options.capacity,
                      dw_rings_have_ck() ? "true" : "false", report.tick_source, report.producer_cpu,
                      report.consumer_cpu);
        bool first = true;
        for (int mode = 0; mode < DW_RINGS_MODE_COUNT; mode++) {
            for (int ring = 0; ring < DW_RINGS_RING_COUNT; ring++) {
                const dw_rings_result *r = &report.results[mode][ring];
                if (!r->available) {
                    continue;
                }
                (void)fprintf(cli->out,
                              "%s{\"mode\":\"%s\",\"ring\":\"%s\",\"ns_per_operation\":%.2f,"
                              "\"ticks_per_operation\":%.2f}",
                              first ? "" : ",", dw_rings_mode_name((dw_rings_mode)mode),
                              dw_rings_ring_name((dw_rings_ring)ring), r->ns_per_operation,
                              r->ticks_per_operation);
                first = false;
            }
        }
        (void)fprintf(cli->out, "],\"ratios_ck_over_dwvd\":{");
        for (size_t i = 0; i < DW_ARRAY_COUNT(ratios); i++) {
            double value = ratio(&report, ratios[i].mode, ratios[i].ours, ratios[i].theirs);
            if (value > 0.0) {
                (void)fprintf(cli->out, "%s\"%s\":%.3f", i > 0 ? "," : "", ratios[i].name, value);
            } else {
                (void)fprintf(cli->out, "%s\"%s\":null", i > 0 ? "," : "", ratios[i].name);
            }
        }
        (void)fprintf(cli->out, "}}\n");
        return DW_EXIT_OK;
    }
    (void)fprintf(cli->out, "%-14s %-13s %12s %12s %12s\n", "mode", "ring", "ns/op", "ticks/op",
                  "ck/dwvd");
    for (int mode = 0; mode < DW_RINGS_MODE_COUNT; mode++) {
        for (int ring = 0; ring < DW_RINGS_RING_COUNT; ring++) {
            const dw_rings_result *r = &report.results[mode][ring];
            bool ours = ring == DW_RINGS_DW_SPSC || ring == DW_RINGS_DW_MPMC;
            if (!r->available) {
                (void)fprintf(cli->out, "%-14s %-13s %12s %12s %12s\n", dw_rings_mode_name((dw_rings_mode)mode),
                              dw_rings_ring_name((dw_rings_ring)ring), "not built", "-", "-");
                continue;
            }
            char ratio_text[16] = "-";
            if (!ours) {
                double value = ratio(&report, (dw_rings_mode)mode, (dw_rings_ring)(ring - 1), (dw_rings_ring)ring);
                (void)snprintf(ratio_text, sizeof ratio_text, "%.2fx", value);
            }
            (void)fprintf(cli->out, "%-14s %-13s %12.2f %12.2f %12s\n", dw_rings_mode_name((dw_rings_mode)mode),
                          dw_rings_ring_name((dw_rings_ring)ring), r->ns_per_operation, r->ticks_per_operation,
                          ratio_text);
        }
    }
    (void)fprintf(cli->out,
                  "\n%llu operations a round, median of %u rounds, rings of %u entries; ticks from %s;\n%s\n",
                  (unsigned long long)options.operations, options.rounds, options.capacity, report.tick_source,
                  report.note);
    if (!dw_rings_have_ck()) {
        (void)fprintf(cli->out, "ck_ring: not built in; install libck-dev and reconfigure (make bench does)\n");
    }
    return DW_EXIT_OK;
}
