/*
 * cmd_bench_wcet.c — `dw-bench wcet`: the budget table, and with --probe the longest
 * service time each class actually took on a given file, flagging every class whose
 * measured maximum exceeds its budget. `dw wcet` prints the same table without the probe.
 */
#include <string.h>

#include "cli/cli.h"
#include "cli/wcet_table.h"
#include "core/text.h"
#include "dw_bench.h"
#include "io_run.h"
#include "stack.h"

static int run_wcet(dw_cli *cli, int argument_count, char **arguments);

const dw_cli_command dw_bench_command_wcet = {
    .noun = "wcet",
    .synopsis = "dw-bench wcet [--json] [--probe FILE [--seconds N] [--size SIZE]]",
    .summary = "print the worst-case budgets, and check them against a file",
    .help =
        "DESCRIPTION\n"
        "    Prints the budget of each operation class (sched.wcet_read, wcet_write,\n"
        "    wcet_batch, wcet_flush): the longest it may take from dispatch to the device\n"
        "    until completion, with its justification and the certification requirement\n"
        "    it traces to. docs/DETERMINISM.md derives them.\n"
        "\n"
        "    With --probe FILE, runs each class through the deadline scheduler on FILE,\n"
        "    one request at a time, for --seconds each, and prints the longest service\n"
        "    time measured beside the budget. A class whose maximum exceeds its budget is\n"
        "    flagged OVER, and the exit status is then 3.\n"
        "\n"
        "OPTIONS\n"
        "    --probe FILE    measure on FILE (filled with data first when new)\n"
        "    --seconds N     per class, 1..600 (default 1)\n"
        "    --size SIZE     FILE's size (default 256MiB)\n"
        "    --json          one JSON object instead of the table\n"
        "\n"
        "EXAMPLES\n"
        "    dw-bench wcet\n"
        "    dw-bench wcet --probe /data/recorder.dwvd --seconds 5\n"
        "    dw-bench --set sched.wcet_read=2ms wcet --probe /data/recorder.dwvd\n",
    .run = run_wcet,
};

/* Runs one class for `seconds`, one request at a time; returns the longest service. */
static int probe_class(dw_stack *stack, dw_op_class op_class, uint64_t seconds, uint64_t *service_max_ns,
                       uint64_t *count)
{
    static unsigned char data[DW_SCHED_BATCH_MAX * 64 * 1024] __attribute__((aligned(64)));
    memset(data, 0xa5, sizeof data); /* what the write classes write */
    dw_sched *sched = &stack->sched;
    uint64_t blocks = stack->io.size_bytes / stack->io.block_size;
    uint64_t start = dw_clock_now_ns(stack->clock);
    uint64_t block = 0;
    *service_max_ns = 0;
    *count = 0;
    while (dw_clock_now_ns(stack->clock) - start < seconds * DW_NS_PER_S) {
        bool batch = op_class == DW_OP_READ_BATCH || op_class == DW_OP_WRITE_BATCH;
        uint32_t block_count = batch ? 8 : 1;
        block = (block + 7919) % (blocks - block_count);
        dw_sched_request request = {
            .op_class = op_class,
            .priority = DW_PRIORITY_CRITICAL,
            .deadline_ns = dw_clock_now_ns(stack->clock) + 10 * DW_NS_PER_S,
            .block = block,
            .block_count = op_class == DW_OP_FLUSH ? 0 : block_count,
            .write_data = data,
            .read_data = data,
        };
        if (op_class == DW_OP_FLUSH) {
            /* A flush with nothing to flush measures nothing: write a block first. */
            dw_sched_request write = request;
            write.op_class = DW_OP_WRITE;
            write.block_count = 1;
            dw_sched_ticket ticket;
            dw_sched_completion done;
            if (dw_sched_submit(sched, &write, &ticket, NULL) != DW_OK) {
                return DW_EIO;
            }
            while (!dw_sched_poll(sched, ticket, &done)) {
                (void)dw_sched_step(sched, DW_NS_PER_S);
            }
        }
        dw_sched_ticket ticket;
        dw_sched_completion done;
        int result = dw_sched_submit(sched, &request, &ticket, NULL);
        if (result != DW_OK) {
            return result;
        }
        while (!dw_sched_poll(sched, ticket, &done)) {
            (void)dw_sched_step(sched, DW_NS_PER_S);
        }
        if (done.result != DW_OK && done.result != DW_EDEADLINE) {
            return done.result;
        }
        uint64_t service = done.completed_ns - done.dispatched_ns;
        *service_max_ns = service > *service_max_ns ? service : *service_max_ns;
        (*count)++;
    }
    return DW_OK;
}

static int run_wcet(dw_cli *cli, int argument_count, char **arguments)
{
    const char *probe = NULL;
    uint64_t seconds = 1;
    uint64_t size_bytes = UINT64_C(256) << 20;
    bool json = false;
    const char *seconds_text = NULL;
    const char *size = NULL;
    const dw_cli_option spec[] = {
        {"--json", &json, NULL},
        {"--probe", NULL, &probe},
        {"--seconds", NULL, &seconds_text},
        {"--size", NULL, &size},
    };
    int parsed = dw_cli_parse_options(cli, &dw_bench_command_wcet, argument_count, arguments, spec,
                                      DW_ARRAY_COUNT(spec), NULL, 0, NULL);
    if (parsed == DW_EXIT_OK && seconds_text != NULL) {
        parsed = dw_cli_parse_number(cli, &dw_bench_command_wcet, "--seconds", seconds_text, 1, 600, &seconds);
    }
    if (parsed == DW_EXIT_OK && size != NULL &&
        (dw_parse_size(size, &size_bytes) != DW_OK || size_bytes < (UINT64_C(1) << 20))) {
        parsed = dw_cli_usage_error(cli, &dw_bench_command_wcet, "--size takes a size of at least 1MiB, not '%s'",
                                    size);
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
    static dw_wcet_probe measured;
    memset(&measured, 0, sizeof measured);
    measured.path = probe;
    measured.seconds = seconds;
    if (probe != NULL) {
        dw_diag diag;
        dw_diag_clear(&diag);
        int result = dw_bench_fill_file(probe, size_bytes, &diag);
        dw_stack_options options = {.config = &config, .path = probe, .size_bytes = size_bytes};
        dw_stack *stack = result == DW_OK ? dw_stack_open(&options, &diag) : NULL;
        for (int op_class = 0; stack != NULL && op_class < DW_OP_CLASS_COUNT && result == DW_OK; op_class++) {
            result = probe_class(stack, (dw_op_class)op_class, seconds, &measured.service_max_ns[op_class],
                                 &measured.requests[op_class]);
            if (result != DW_OK) {
                (void)dw_diag_fail(&diag, result, NULL, "probing %s on '%s' failed: %s",
                                   dw_op_class_name((dw_op_class)op_class), probe, dw_strerror(result));
            }
        }
        dw_stack_close(stack);
        if (stack == NULL || result != DW_OK) {
            dw_cli_error_diag(cli, &diag);
            return dw_cli_exit_code(diag.code);
        }
    }
    bool over = dw_wcet_table_print(cli, &config, probe != NULL ? &measured : NULL, json);
    return over ? DW_EXIT_PROBLEMS : DW_EXIT_OK;
}
