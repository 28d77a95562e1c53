/*
 * cmd_bench_replay.c — `dw-bench replay`: run a built-in workload of CPU tasks on the
 * deterministic multi-core scheduler (replay_run.c) and save its replay log, for
 * `dw replay compare | show | verify` to read.
 */
#include "cli/cli.h"
#include "core/clock.h"
#include "core/text.h"
#include "dw_bench.h"
#include "replay_run.h"
#include "sched/cpusched.h"

static int run_record(dw_cli *cli, int argument_count, char **arguments);

const dw_cli_command dw_bench_command_replay = {
    .noun = "replay",
    .synopsis = "dw-bench replay [--workload checksum|mixed] [--workers N] [--tasks N] "
                "[--seed N] [--stepped] [--delay-max DURATION] [--json] --output FILE",
    .summary = "run a workload on the deterministic CPU scheduler and save its replay log",
    .help =
        "DESCRIPTION\n"
        "    Runs a built-in workload of CPU tasks on the deterministic multi-core\n"
        "    scheduler and saves the replay log to FILE: every task enqueued, every\n"
        "    result committed (with its output hash), every external input and state\n"
        "    change, in order, chained by hash. Prints the run's execution-order hash\n"
        "    (the final chain) and state hash.\n"
        "\n"
        "    The same workload and seed give the same log whatever the worker count and\n"
        "    however the workers' threads are scheduled; only the timing fields (which\n"
        "    worker ran a task, its CPU ticks) may differ. 'dw replay compare' checks it.\n"
        "\n"
        "    checksum  tasks hash 4 KiB extents of a 256 KiB data area, 1 to 4 rounds;\n"
        "              priorities mixed; every 5th task behind guard extent-live, every\n"
        "              11th also behind quota, which refuse about 1 in 53 and 1 in 97;\n"
        "              batches of 64, each committed in order and folded into the state.\n"
        "    mixed     the same, and every 4th task arrives stamped by one of four\n"
        "              sources' Lamport clocks, released in (time, source) order; an\n"
        "              external input is recorded per batch.\n"
        "\n"
        "OPTIONS\n"
        "    -o, --output FILE      where to save the log (replaced atomically)\n"
        "    --workload NAME        checksum or mixed (default mixed)\n"
        "    --workers N            1, 2, 4, ... 256 (default sched.worker_cores)\n"
        "    --tasks N              1..1000000 (default 4096)\n"
        "    --seed N               the task set (default 1)\n"
        "    --stepped              no worker threads: this thread runs every core in turn\n"
        "    --delay-max DURATION   before each task a worker waits a random time up to\n"
        "                           this (sleeping, yielding or spinning), e.g. 50us; to\n"
        "                           show that timing does not matter (default 0)\n"
        "    --delay-seed N         the delays' seed (default: from the clock)\n"
        "    --json                 one JSON object instead of the text\n"
        "\n"
        "    The exit status is 3 if the run allocated memory after it started.\n"
        "\n"
        "EXAMPLES\n"
        "    dw-bench replay --workers 1 -o one.dwreplay\n"
        "    dw-bench replay --workers 4 --delay-max 50us -o four.dwreplay\n"
        "    dw replay compare one.dwreplay four.dwreplay\n",
    .run = run_record,
};

/* ------------------------------------------------------------------------------------
 * record
 * ---------------------------------------------------------------------------------- */

static int parse_record_options(const dw_cli *cli, int argument_count, char **arguments,
                                dw_replay_run_options *options, bool *json, bool *workers_given,
                                bool *delay_seed_given)
{
    bool stepped = false;
    const char *workload = NULL;
    const char *workers = NULL;
    const char *tasks = NULL;
    const char *seed = NULL;
    const char *delay_max = NULL;
    const char *delay_seed = NULL;
    const dw_cli_option spec[] = {
        {"--json", json, NULL},
        {"--stepped", &stepped, NULL},
        {"-o|--output", NULL, &options->save_path},
        {"--workload", NULL, &workload},
        {"--workers", NULL, &workers},
        {"--tasks", NULL, &tasks},
        {"--seed", NULL, &seed},
        {"--delay-max", NULL, &delay_max},
        {"--delay-seed", NULL, &delay_seed},
    };
    const dw_cli_command *command = &dw_bench_command_replay;
    int exit_code = dw_cli_parse_options(cli, command, argument_count, arguments, spec,
                                         DW_ARRAY_COUNT(spec), NULL, 0, NULL);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    options->threaded = !stepped;
    if (workload != NULL && !dw_replay_workload_parse(workload, &options->workload)) {
        return dw_cli_usage_error(cli, command, "--workload takes checksum or mixed, not '%s'", workload);
    }
    uint64_t number = 0;
    if (workers != NULL) {
        exit_code = dw_cli_parse_number(cli, command, "--workers", workers, 1, DW_CPUSCHED_WORKERS_MAX, &number);
        if (exit_code != DW_EXIT_OK) {
            return exit_code;
        }
        if ((number & (number - 1)) != 0) {
            return dw_cli_usage_error(cli, command,
                                      "--workers takes a power of two (1, 2, 4, ... 256), not %llu",
                                      (unsigned long long)number);
        }
        options->workers = (uint32_t)number;
        *workers_given = true;
    }
    if (tasks != NULL) {
        exit_code = dw_cli_parse_number(cli, command, "--tasks", tasks, 1, DW_REPLAY_RUN_TASKS_MAX, &number);
        options->tasks = (uint32_t)number;
    }
    if (exit_code == DW_EXIT_OK && seed != NULL) {
        exit_code = dw_cli_parse_number(cli, command, "--seed", seed, 0, UINT64_MAX, &options->seed);
    }
    if (exit_code == DW_EXIT_OK && delay_seed != NULL) {
        exit_code = dw_cli_parse_number(cli, command, "--delay-seed", delay_seed, 0, UINT64_MAX,
                                        &options->delay_seed);
        *delay_seed_given = true;
    }
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    if (delay_max != NULL &&
        (dw_parse_duration(delay_max, &options->delay_max_ns) != DW_OK || options->delay_max_ns > DW_NS_PER_S)) {
        return dw_cli_usage_error(cli, command, "--delay-max takes a duration up to 1s, e.g. 50us, not '%s'",
                                  delay_max);
    }
    if (options->save_path == NULL) {
        return dw_cli_usage_error(cli, command, "--output FILE is required");
    }
    return DW_EXIT_OK;
}

static int run_record(dw_cli *cli, int argument_count, char **arguments)
{
    dw_replay_run_options options = {
        .workload = DW_REPLAY_WORKLOAD_MIXED,
        .tasks = 4096,
        .seed = 1,
        .threaded = true,
    };
    bool json = false;
    bool workers_given = false;
    bool delay_seed_given = false;
    int exit_code = parse_record_options(cli, argument_count, arguments, &options, &json,
                                         &workers_given, &delay_seed_given);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    static dw_config config;
    static dw_config_report report;
    exit_code = dw_cli_load_config(cli, cli->config_path, &config, &report);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    if (!workers_given) {
        options.workers = config.worker_cores; /* 0: the online cores */
    }
    dw_clock clock;
    dw_clock_system_init(&clock, 0);
    if (!delay_seed_given) {
        options.delay_seed = dw_clock_now_ns(&clock); /* differs run to run, on purpose */
    }
    options.memory_ceiling_bytes = config.memory_ceiling_bytes;
    dw_replay_run_result result;
    dw_diag diag;
    dw_diag_clear(&diag);
    int status = dw_replay_run(&options, &result, &diag);
    if (status != DW_OK) {
        dw_cli_error_diag(cli, &diag);
        return dw_cli_exit_code(status);
    }
    if (json) {
        (void)fprintf(cli->out, "{\"workload\":\"%s\",\"seed\":%llu,\"tasks\":%u,\"workers\":%u,"
                                "\"threaded\":%s,\"delay_max_ns\":%llu,\"events\":%llu,\"enqueued\":%llu,"
                                "\"refused\":%llu,\"committed\":%llu,\"execution_hash\":\"%016llx\","
                                "\"state_hash\":\"%016llx\",\"over_budget\":%llu,\"ticks_max\":%llu,"
                                "\"allocations_while_running\":%llu,\"elapsed_ns\":%llu,\"output\":",
                      dw_replay_workload_name(options.workload), (unsigned long long)options.seed,
                      options.tasks, result.workers, options.threaded ? "true" : "false",
                      (unsigned long long)options.delay_max_ns, (unsigned long long)result.events,
                      (unsigned long long)result.enqueued, (unsigned long long)result.refused,
                      (unsigned long long)result.committed, (unsigned long long)result.chain,
                      (unsigned long long)result.state, (unsigned long long)result.over_budget,
                      (unsigned long long)result.ticks_max, (unsigned long long)result.allocations,
                      (unsigned long long)result.elapsed_ns);
        dw_cli_json_string(cli->out, options.save_path);
        (void)fprintf(cli->out, "}\n");
    } else {
        (void)fprintf(cli->out,
                      "recorded %s seed=%llu, %u tasks on %u worker%s%s: %llu events\n"
                      "  committed %llu, refused by guards %llu\n"
                      "  execution-order hash %016llx\n"
                      "  state hash           %016llx\n"
                      "  over budget %llu, longest task %llu ticks, %llu allocations while running, "
                      "%.1f ms\n"
                      "saved to %s\n",
                      dw_replay_workload_name(options.workload), (unsigned long long)options.seed,
                      options.tasks, result.workers, result.workers == 1 ? "" : "s",
                      options.threaded ? "" : " (stepped)", (unsigned long long)result.events,
                      (unsigned long long)result.committed, (unsigned long long)result.refused,
                      (unsigned long long)result.chain, (unsigned long long)result.state,
                      (unsigned long long)result.over_budget, (unsigned long long)result.ticks_max,
                      (unsigned long long)result.allocations, (double)result.elapsed_ns / 1e6,
                      options.save_path);
    }
    if (result.allocations > 0) {
        dw_cli_error(cli, "this is a bug in dwvd: please report it with the command line",
                     "the run allocated memory %llu times after it started",
                     (unsigned long long)result.allocations);
        return DW_EXIT_PROBLEMS;
    }
    return DW_EXIT_OK;
}

