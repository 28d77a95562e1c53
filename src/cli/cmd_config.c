/*
 * cmd_config.c — `dw config check` and `dw config show`.
 *
 * check lists every problem of a configuration file in one run and exits 2 when there
 * is any; show prints the effective configuration, every key with where its value came
 * from, in a form that loads back.
 */
#include <string.h>

#include "cli/cli.h"
#include "core/config.h"
#include "core/text.h"

static int run_config_check(dw_cli *cli, int argument_count, char **arguments);
static int run_config_show(dw_cli *cli, int argument_count, char **arguments);

const dw_cli_command dw_command_config_check = {
    .noun = "config",
    .verb = "check",
    .synopsis = "dw config check [--set SECTION.KEY=VALUE]... FILE",
    .summary = "check a configuration file and list every problem in it",
    .help =
        "DESCRIPTION\n"
        "    Reads FILE as an INI configuration, applies DW_LOG_LEVEL and any --set\n"
        "    options after it, and checks every key and every combination of keys. All\n"
        "    problems are listed in one run, one per line, as\n"
        "\n"
        "        FILE:LINE: SECTION.KEY = 'VALUE': KIND: what is allowed\n"
        "\n"
        "    where KIND is one of: syntax error, unknown key, wrong type, out of range,\n"
        "    inconsistent, missing path, duplicate key. Problems found in --set options\n"
        "    name '--set' instead of a file and line. FILE may also be given with\n"
        "    --config; a FILE argument wins.\n"
        "\n"
        "    On success one line says how many keys the file sets and how much of the\n"
        "    memory ceiling the fixed pools take.\n"
        "\n"
        "EXAMPLES\n"
        "    Check a file:\n"
        "        dw config check /etc/dwvd/recorder.ini\n"
        "    Check it as it would run with a deeper queue:\n"
        "        dw config check --set io.queue_depth=128 /etc/dwvd/recorder.ini\n",
    .run = run_config_check,
};

const dw_cli_command dw_command_config_show = {
    .noun = "config",
    .verb = "show",
    .synopsis = "dw config show [--set SECTION.KEY=VALUE]... [FILE]",
    .summary = "print the effective configuration with each value's origin",
    .help =
        "DESCRIPTION\n"
        "    Prints the configuration that would be used: the defaults, overridden by\n"
        "    FILE (or --config), then by DW_LOG_LEVEL, then by each --set. Every key is\n"
        "    printed with a comment giving its meaning and allowed range, and where its\n"
        "    value came from (default, FILE:LINE, environment, --set). The output is\n"
        "    itself a valid configuration file. If the configuration has problems they\n"
        "    are listed instead, and the exit status is 2.\n"
        "\n"
        "EXAMPLES\n"
        "    Start a new configuration from the defaults:\n"
        "        dw config show > recorder.ini\n"
        "    See what a file and an override amount to:\n"
        "        dw config show --set memory.ceiling=256MiB recorder.ini\n",
    .run = run_config_show,
};

/* The one FILE argument of a config verb, or --config, or none. */
static int config_file_argument(dw_cli *cli, const dw_cli_command *command, int argument_count,
                                char **arguments, const char **file)
{
    *file = cli->config_path;
    for (int i = 0; i < argument_count; i++) {
        if (arguments[i][0] == '-' && arguments[i][1] != '\0') {
            return dw_cli_usage_error(cli, command, "unknown option '%s'", arguments[i]);
        }
    }
    if (argument_count > 1) {
        return dw_cli_usage_error(cli, command, "expected one FILE, got %d arguments",
                                  argument_count);
    }
    if (argument_count == 1) {
        *file = arguments[0];
    }
    return DW_EXIT_OK;
}

static int run_config_check(dw_cli *cli, int argument_count, char **arguments)
{
    const char *file = NULL;
    int exit_code =
        config_file_argument(cli, &dw_command_config_check, argument_count, arguments, &file);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    if (file == NULL) {
        return dw_cli_usage_error(cli, &dw_command_config_check,
                                  "no configuration FILE to check");
    }
    dw_config config;
    dw_config_report report;
    exit_code = dw_cli_load_config(cli, file, &config, &report);
    if (exit_code == DW_EXIT_USAGE && report.problem_count > 0) {
        (void)fprintf(cli->err, "%s: %u problem%s found\n", file, report.problem_count,
                      report.problem_count == 1 ? "" : "s");
    }
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    /* The file is the first source loaded, so its origins carry source index 1. */
    size_t keys_from_file = 0;
    for (size_t i = 0; i < dw_config_key_count(); i++) {
        keys_from_file += report.origins[i].source_index == 1 && report.origins[i].line > 0;
    }
    char floor_text[32];
    char ceiling_text[32];
    uint64_t floor_bytes = dw_config_memory_floor_bytes(&config);
    (void)fprintf(cli->out,
                  "%s: ok: %zu of %zu keys set, the rest default; fixed pools take %s of the "
                  "%s memory ceiling (%.1f%%)\n",
                  file, keys_from_file, dw_config_key_count(),
                  dw_format_size(floor_bytes, floor_text, sizeof floor_text),
                  dw_format_size(config.memory_ceiling_bytes, ceiling_text, sizeof ceiling_text),
                  100.0 * (double)floor_bytes / (double)config.memory_ceiling_bytes);
    return DW_EXIT_OK;
}

static int run_config_show(dw_cli *cli, int argument_count, char **arguments)
{
    const char *file = NULL;
    int exit_code =
        config_file_argument(cli, &dw_command_config_show, argument_count, arguments, &file);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    dw_config config;
    dw_config_report report;
    exit_code = dw_cli_load_config(cli, file, &config, &report);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    dw_config_print(&config, &report, cli->out);
    return DW_EXIT_OK;
}
