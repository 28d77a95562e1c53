/*
 * dw.c — the `dw` program: its commands, in the order its manual lists them, and what
 * the manual says around them. The tools of an engine's user live here; the benchmark
 * runners are `dw-bench`'s (bench/dw_bench.c).
 */
#include "cli/cli.h"

#include "core/compiler.h"

static const dw_cli_command *const commands[] = {
    &dw_command_vde_create,
    &dw_command_vde_inspect,
    &dw_command_vde_verify,
    &dw_command_put,
    &dw_command_get,
    &dw_command_ls,
    &dw_command_rm,
    &dw_command_stat,
    &dw_command_tag,
    &dw_command_config_check,
    &dw_command_config_show,
    &dw_command_demo,
    &dw_command_wcet,
    &dw_command_replay_compare,
    &dw_command_replay_show,
    &dw_command_replay_verify,
    &dw_cli_command_help,
    &dw_cli_command_version,
};

static const dw_cli_program program = {
    .name = "dw",
    .title = "operate dwvd, the deterministic embeddable storage engine",
    .description = "    dwvd keeps named objects in one crash-safe, checksummed file (a VDE),\n"
                   "    with all memory taken at open against a declared ceiling and every I/O\n"
                   "    scheduled by deadline. dw checks configurations and runs the engine's\n"
                   "    tools. Global options may appear anywhere on the command line. The\n"
                   "    benchmarks and probes are a program of their own, dw-bench.\n",
    .examples = "    dw config check /etc/dwvd/recorder.ini\n"
                "    dw --set io.queue_depth=64 config show /etc/dwvd/recorder.ini\n"
                "    dw demo\n"
                "    dw config check --help\n",
    .first_example = "config check FILE",
    .exit_status = dw_cli_exit_status_text,
    .commands = commands,
    .command_count = DW_ARRAY_COUNT(commands),
};

int dw_cli_main(int argc, char **argv, FILE *out, FILE *err)
{
    return dw_cli_run(&program, argc, argv, out, err);
}
