/*
 * cmd_wcet.c — `dw wcet`: the budget table (class, budget, justification, certification
 * reference) of the effective configuration. Measuring a device against it is a
 * benchmark's job: `dw-bench wcet --probe FILE`.
 */
#include <string.h>

#include "cli/cli.h"
#include "cli/wcet_table.h"

static int run_wcet(dw_cli *cli, int argument_count, char **arguments);

const dw_cli_command dw_command_wcet = {
    .noun = "wcet",
    .synopsis = "dw wcet [--json]",
    .summary = "print the worst-case budgets of the I/O classes",
    .help =
        "DESCRIPTION\n"
        "    Prints the budget of each operation class (sched.wcet_read, wcet_write,\n"
        "    wcet_batch, wcet_flush): the longest it may take from dispatch to the device\n"
        "    until completion, with its justification and the certification requirement\n"
        "    it traces to. docs/DETERMINISM.md derives them.\n"
        "\n"
        "    To measure each class on a device and flag a budget it exceeds, run\n"
        "    'dw-bench wcet --probe FILE' (the benchmark program).\n"
        "\n"
        "OPTIONS\n"
        "    --json          one JSON object instead of the table\n"
        "\n"
        "EXAMPLES\n"
        "    dw wcet\n"
        "    dw --set sched.wcet_read=2ms wcet --json\n",
    .run = run_wcet,
};

static int run_wcet(dw_cli *cli, int argument_count, char **arguments)
{
    for (int i = 0; i < argument_count; i++) {
        if (strcmp(arguments[i], "--probe") == 0) {
            dw_cli_error(cli, "run 'dw-bench wcet --probe FILE': the probe is a benchmark, in dw-bench",
                         "dw wcet prints the budgets; it does not measure");
            return DW_EXIT_USAGE;
        }
    }
    bool json = false;
    const dw_cli_option spec[] = {{"--json", &json, NULL}};
    int parsed = dw_cli_parse_options(cli, &dw_command_wcet, argument_count, arguments, spec,
                                      DW_ARRAY_COUNT(spec), NULL, 0, NULL);
    if (parsed != DW_EXIT_OK) {
        return parsed;
    }
    static dw_config config;
    static dw_config_report report;
    int exit_code = dw_cli_load_config(cli, cli->config_path, &config, &report);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    (void)dw_wcet_table_print(cli, &config, NULL, json);
    return DW_EXIT_OK;
}
