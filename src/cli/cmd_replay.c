/*
 * cmd_replay.c — `dw replay compare | show | verify`: compare two replay logs of the
 * deterministic CPU scheduler, list one, or check one's integrity. Recording a run of a
 * built-in workload is a benchmark runner's job: `dw-bench replay` (bench/).
 *
 * Logs are loaded into memory planned against memory.ceiling like everything else: a
 * log too big for the ceiling is refused with the figure to raise it to.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/config.h"
#include "core/text.h"
#include "mem/arena.h"
#include "sched/cpusched.h"
#include "sched/replay.h"

static int run_compare(dw_cli *cli, int argument_count, char **arguments);
static int run_show(dw_cli *cli, int argument_count, char **arguments);
static int run_verify(dw_cli *cli, int argument_count, char **arguments);

const dw_cli_command dw_command_replay_compare = {
    .noun = "replay",
    .verb = "compare",
    .synopsis = "dw replay compare [--json] LOG_A LOG_B",
    .summary = "compare two replay logs: exact match, minor difference or diverged",
    .help =
        "DESCRIPTION\n"
        "    Compares two replay logs event by event and prints one verdict:\n"
        "\n"
        "    exact match        every field of every event is the same;\n"
        "    minor difference   only timing fields differ: the worker that ran a task,\n"
        "                       the CPU ticks it took, whether it overran its budget;\n"
        "    diverged at #K     what the runs did differs from event K on (another task,\n"
        "                       order, output, state or input), or one log ends there,\n"
        "                       or event K of a log was altered after it was recorded\n"
        "                       (its hash chain breaks there); both events are shown.\n"
        "\n"
        "    A damaged file (wrong checksum, cut short) is still compared as far as it\n"
        "    goes, with a warning naming the damage.\n"
        "\n"
        "OPTIONS\n"
        "    --json   one JSON object instead of the text\n"
        "\n"
        "    The exit status is 0 for an exact match or a minor difference, 3 when the\n"
        "    logs diverge.\n"
        "\n"
        "EXAMPLES\n"
        "    dw replay compare one.dwreplay four.dwreplay\n",
    .run = run_compare,
};

const dw_cli_command dw_command_replay_show = {
    .noun = "replay",
    .verb = "show",
    .synopsis = "dw replay show [--from N] [--count N] [--json] LOG",
    .summary = "list the events of a replay log",
    .help =
        "DESCRIPTION\n"
        "    Prints the log's header (what was run, on how many workers, how many events,\n"
        "    the execution-order hash) and then its events, one per line: the event\n"
        "    number, its type, the task and its priority, its Lamport stamp as TIME@SOURCE\n"
        "    (self: the scheduler's own clock; coreN: source N), the output, state or\n"
        "    input hash, and for executed tasks the worker and CPU ticks.\n"
        "\n"
        "OPTIONS\n"
        "    --from N    the first event to list (default 0)\n"
        "    --count N   how many to list (default all)\n"
        "    --json      one JSON object instead of the text\n"
        "\n"
        "EXAMPLES\n"
        "    dw replay show four.dwreplay --count 20\n",
    .run = run_show,
};

const dw_cli_command dw_command_replay_verify = {
    .noun = "replay",
    .verb = "verify",
    .synopsis = "dw replay verify LOG",
    .summary = "check a replay log's checksum and hash chain",
    .help =
        "DESCRIPTION\n"
        "    Checks that LOG is whole (its checksum matches, no event is missing) and that\n"
        "    its hash chain is intact, naming the first event that was altered after it\n"
        "    was recorded. The exit status is 3 when a check fails.\n"
        "\n"
        "EXAMPLES\n"
        "    dw replay verify four.dwreplay\n",
    .run = run_verify,
};

/* ------------------------------------------------------------------------------------
 * Loading logs into budgeted memory
 * ---------------------------------------------------------------------------------- */

#define LOGS_MAX 2

typedef struct loaded_logs {
    dw_budget budget;
    dw_arena arena;
    dw_replay_log logs[LOGS_MAX];
    dw_replay_file_report reports[LOGS_MAX];
    uint32_t count;
} loaded_logs;

/* Loads each path's log; on failure prints why and returns the exit code. */
static int load_logs(const dw_cli *cli, const char *const *paths, uint32_t count, loaded_logs *loaded)
{
    static dw_config config;
    static dw_config_report report;
    int exit_code = dw_cli_load_config(cli, cli->config_path, &config, &report);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    memset(loaded, 0, sizeof *loaded);
    loaded->count = count;
    dw_budget_init(&loaded->budget, config.memory_ceiling_bytes, config.pressure_percent);
    dw_arena_init(&loaded->arena, &loaded->budget);
    dw_diag diag;
    dw_diag_clear(&diag);
    uint32_t pieces[LOGS_MAX] = {0};
    uint64_t sizes[LOGS_MAX] = {0};
    int result = DW_OK;
    for (uint32_t i = 0; i < count && result == DW_OK; i++) {
        result = dw_replay_peek(paths[i], &sizes[i], &diag);
        if (result == DW_OK) {
            result = dw_arena_plan(&loaded->arena, i == 0 ? "replay log A" : "replay log B",
                                   dw_replay_memory_bytes(sizes[i] > 0 ? sizes[i] : 1), 64,
                                   &pieces[i], &diag);
        }
    }
    if (result == DW_OK) {
        result = dw_arena_allocate(&loaded->arena, false, &diag);
    }
    for (uint32_t i = 0; i < count && result == DW_OK; i++) {
        dw_replay_init(&loaded->logs[i], dw_arena_piece_memory(&loaded->arena, pieces[i]),
                       sizes[i] > 0 ? sizes[i] : 1);
        result = dw_replay_load(&loaded->logs[i], paths[i], &loaded->reports[i], &diag);
    }
    if (result != DW_OK) {
        dw_arena_close(&loaded->arena);
        dw_cli_error_diag(cli, &diag);
        return dw_cli_exit_code(result);
    }
    return DW_EXIT_OK;
}

/* Warns about damage a loaded file showed; true when there was any. */
static bool warn_damage(const dw_cli *cli, const char *path, const dw_replay_file_report *report)
{
    bool damaged = false;
    if (report->events_read < report->events_in_header) {
        dw_cli_error(cli, "the file was cut short: compare what is there, or record the run again",
                     "warning: '%s' ends after %llu of its %llu events", path,
                     (unsigned long long)report->events_read, (unsigned long long)report->events_in_header);
        damaged = true;
    } else if (!report->checksum_ok) {
        dw_cli_error(cli, "the file was changed after it was saved",
                     "warning: '%s': the checksum does not match", path);
        damaged = true;
    }
    if (!report->chain_ok) {
        dw_cli_error(cli, "that event, or the header's final hashes, was altered after recording",
                     "warning: '%s': the hash chain breaks at event #%llu", path,
                     (unsigned long long)report->chain_broken_at);
        damaged = true;
    }
    return damaged;
}

/* ------------------------------------------------------------------------------------
 * compare, show, verify
 * ---------------------------------------------------------------------------------- */

static void print_event_json(FILE *out, const dw_replay_event *event)
{
    (void)fprintf(out,
                  "{\"type\":\"%s\",\"task\":%llu,\"priority\":%u,\"time\":%llu,\"origin\":%lld,"
                  "\"hash\":\"%016llx\",\"worker\":%u,\"ticks\":%llu,\"over_budget\":%s,"
                  "\"chain\":\"%016llx\"}",
                  dw_replay_type_name(event->type), (unsigned long long)event->task_id, event->priority,
                  (unsigned long long)event->time,
                  event->origin == DW_REPLAY_ORIGIN_SELF ? -1LL : (long long)event->origin,
                  (unsigned long long)event->hash, event->worker, (unsigned long long)event->ticks,
                  (event->flags & DW_REPLAY_OVER_BUDGET) != 0 ? "true" : "false",
                  (unsigned long long)event->chain);
}

static void print_log_summary_json(FILE *out, const char *path, const dw_replay_log *log,
                                   const dw_replay_file_report *report)
{
    (void)fprintf(out, "{\"path\":");
    dw_cli_json_string(out, path);
    (void)fprintf(out, ",\"label\":");
    dw_cli_json_string(out, log->label);
    (void)fprintf(out,
                  ",\"workers\":%u,\"events\":%llu,\"stored\":%llu,\"execution_hash\":\"%016llx\","
                  "\"checksum_ok\":%s,\"chain_ok\":%s,\"events_in_file\":%llu}",
                  log->workers, (unsigned long long)log->total, (unsigned long long)log->stored,
                  (unsigned long long)log->chain, report->checksum_ok ? "true" : "false",
                  report->chain_ok ? "true" : "false", (unsigned long long)report->events_in_header);
}

static int run_compare(dw_cli *cli, int argument_count, char **arguments)
{
    const char *paths[LOGS_MAX] = {NULL, NULL};
    size_t path_count = 0;
    bool json = false;
    const dw_cli_option spec[] = {{"--json", &json, NULL}};
    int parsed = dw_cli_parse_options(cli, &dw_command_replay_compare, argument_count, arguments, spec,
                                      DW_ARRAY_COUNT(spec), paths, LOGS_MAX, &path_count);
    if (parsed != DW_EXIT_OK) {
        return parsed;
    }
    if (path_count != LOGS_MAX) {
        return dw_cli_usage_error(cli, &dw_command_replay_compare, "give two replay logs to compare");
    }
    static loaded_logs loaded;
    int exit_code = load_logs(cli, paths, LOGS_MAX, &loaded);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    for (uint32_t i = 0; i < LOGS_MAX; i++) {
        (void)warn_damage(cli, paths[i], &loaded.reports[i]);
    }
    dw_replay_comparison comparison;
    dw_replay_compare(&loaded.logs[0], &loaded.logs[1], &comparison);
    if (json) {
        (void)fprintf(cli->out, "{\"a\":");
        print_log_summary_json(cli->out, paths[0], &loaded.logs[0], &loaded.reports[0]);
        (void)fprintf(cli->out, ",\"b\":");
        print_log_summary_json(cli->out, paths[1], &loaded.logs[1], &loaded.reports[1]);
        static const char *const verdicts[] = {"exact", "minor", "diverged"};
        (void)fprintf(cli->out, ",\"verdict\":\"%s\",\"index\":%llu,\"minor_events\":%llu,\"reason\":",
                      verdicts[comparison.verdict], (unsigned long long)comparison.index,
                      (unsigned long long)comparison.minor_events);
        if (comparison.reason != NULL) {
            dw_cli_json_string(cli->out, comparison.reason);
        } else {
            (void)fprintf(cli->out, "null");
        }
        (void)fprintf(cli->out, ",\"event_a\":");
        if (comparison.verdict == DW_REPLAY_DIVERGED && comparison.a_present) {
            print_event_json(cli->out, &comparison.a);
        } else {
            (void)fprintf(cli->out, "null");
        }
        (void)fprintf(cli->out, ",\"event_b\":");
        if (comparison.verdict == DW_REPLAY_DIVERGED && comparison.b_present) {
            print_event_json(cli->out, &comparison.b);
        } else {
            (void)fprintf(cli->out, "null");
        }
        (void)fprintf(cli->out, "}\n");
    } else {
        for (uint32_t i = 0; i < LOGS_MAX; i++) {
            const dw_replay_log *log = &loaded.logs[i];
            (void)fprintf(cli->out, "%c: %s (%s): %llu events, execution-order hash %016llx\n",
                          i == 0 ? 'A' : 'B', paths[i], log->label[0] != '\0' ? log->label : "no label",
                          (unsigned long long)log->total, (unsigned long long)log->chain);
        }
        switch (comparison.verdict) {
        case DW_REPLAY_EXACT:
            (void)fprintf(cli->out, "exact match\n");
            break;
        case DW_REPLAY_MINOR:
            (void)fprintf(cli->out,
                          "minor difference: %llu events differ only in timing (worker, ticks, "
                          "budget flag), the first is #%llu; what the runs did is the same\n",
                          (unsigned long long)comparison.minor_events, (unsigned long long)comparison.index);
            break;
        case DW_REPLAY_DIVERGED: {
            (void)fprintf(cli->out, "diverged at event #%llu: %s\n", (unsigned long long)comparison.index,
                          comparison.reason);
            char line[256];
            for (int side = 0; side < 2; side++) {
                bool present = side == 0 ? comparison.a_present : comparison.b_present;
                if (present) {
                    dw_replay_format_event(side == 0 ? &comparison.a : &comparison.b, comparison.index, line,
                                           sizeof line);
                } else {
                    dw_format(line, sizeof line, "(no event #%llu)", (unsigned long long)comparison.index);
                }
                (void)fprintf(cli->out, "  %c: %s\n", side == 0 ? 'A' : 'B', line);
            }
            break;
        }
        }
    }
    dw_arena_close(&loaded.arena);
    return comparison.verdict == DW_REPLAY_DIVERGED ? DW_EXIT_PROBLEMS : DW_EXIT_OK;
}

static int run_show(dw_cli *cli, int argument_count, char **arguments)
{
    const char *path = NULL;
    size_t path_count = 0;
    uint64_t from = 0;
    uint64_t count = UINT64_MAX;
    bool json = false;
    const char *from_text = NULL;
    const char *count_text = NULL;
    const dw_cli_option spec[] = {
        {"--json", &json, NULL},
        {"--from", NULL, &from_text},
        {"--count", NULL, &count_text},
    };
    const dw_cli_command *command = &dw_command_replay_show;
    int parsed = dw_cli_parse_options(cli, command, argument_count, arguments, spec, DW_ARRAY_COUNT(spec),
                                      &path, 1, &path_count);
    if (parsed == DW_EXIT_OK && from_text != NULL) {
        parsed = dw_cli_parse_number(cli, command, "--from", from_text, 0, UINT64_MAX, &from);
    }
    if (parsed == DW_EXIT_OK && count_text != NULL) {
        parsed = dw_cli_parse_number(cli, command, "--count", count_text, 0, UINT64_MAX, &count);
    }
    if (parsed != DW_EXIT_OK) {
        return parsed;
    }
    if (path_count == 0) {
        return dw_cli_usage_error(cli, command, "give the replay log to show");
    }
    static loaded_logs loaded;
    int exit_code = load_logs(cli, &path, 1, &loaded);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    (void)warn_damage(cli, path, &loaded.reports[0]);
    const dw_replay_log *log = &loaded.logs[0];
    uint64_t start = from < log->stored ? from : log->stored;
    uint64_t end = count >= log->stored - start ? log->stored : start + count;
    if (json) {
        (void)fprintf(cli->out, "{\"log\":");
        print_log_summary_json(cli->out, path, log, &loaded.reports[0]);
        (void)fprintf(cli->out, ",\"from\":%llu,\"events\":[", (unsigned long long)start);
        for (uint64_t i = start; i < end; i++) {
            (void)fprintf(cli->out, "%s", i > start ? "," : "");
            print_event_json(cli->out, &log->events[i]);
        }
        (void)fprintf(cli->out, "]}\n");
    } else {
        (void)fprintf(cli->out, "%s: %s, %u worker%s, %llu events (%llu stored), execution-order hash %016llx\n",
                      path, log->label[0] != '\0' ? log->label : "no label", log->workers,
                      log->workers == 1 ? "" : "s", (unsigned long long)log->total,
                      (unsigned long long)log->stored, (unsigned long long)log->chain);
        char line[256];
        for (uint64_t i = start; i < end; i++) {
            dw_replay_format_event(&log->events[i], i, line, sizeof line);
            (void)fprintf(cli->out, "%s\n", line);
        }
    }
    dw_arena_close(&loaded.arena);
    return DW_EXIT_OK;
}

static int run_verify(dw_cli *cli, int argument_count, char **arguments)
{
    const char *path = NULL;
    size_t path_count = 0;
    int parsed = dw_cli_parse_options(cli, &dw_command_replay_verify, argument_count, arguments, NULL, 0,
                                      &path, 1, &path_count);
    if (parsed != DW_EXIT_OK) {
        return parsed;
    }
    if (path_count == 0) {
        return dw_cli_usage_error(cli, &dw_command_replay_verify, "give one replay log to verify");
    }
    static loaded_logs loaded;
    int exit_code = load_logs(cli, &path, 1, &loaded);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    bool damaged = warn_damage(cli, path, &loaded.reports[0]);
    const dw_replay_log *log = &loaded.logs[0];
    if (!damaged) {
        (void)fprintf(cli->out, "%s: ok: %llu events, checksum matches, hash chain intact, "
                                "execution-order hash %016llx\n",
                      path, (unsigned long long)log->total, (unsigned long long)log->chain);
    } else {
        (void)fprintf(cli->out, "%s: damaged (see above)\n", path);
    }
    dw_arena_close(&loaded.arena);
    return damaged ? DW_EXIT_PROBLEMS : DW_EXIT_OK;
}
