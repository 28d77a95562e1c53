/*
 * wcet_table.c — see wcet_table.h. Printing only: it measures nothing.
 */
#include "cli/wcet_table.h"

#include "core/text.h"

bool dw_wcet_table_print(const dw_cli *cli, const dw_config *config, const dw_wcet_probe *probe, bool json)
{
    dw_wcet_entry table[DW_OP_CLASS_COUNT];
    dw_wcet_table(config, table);
    bool over = false;
    if (json) {
        (void)fprintf(cli->out, "{\"probe\":");
        if (probe != NULL) {
            dw_cli_json_string(cli->out, probe->path);
        } else {
            (void)fprintf(cli->out, "null");
        }
        (void)fprintf(cli->out, ",\"classes\":[");
    } else {
        (void)fprintf(cli->out, "%-12s %10s %14s %8s  %s\n", "class", "budget", "measured max", "status",
                      "justification / reference");
    }
    for (int i = 0; i < DW_OP_CLASS_COUNT; i++) {
        char budget[32];
        char measured_text[32];
        uint64_t measured = probe != NULL ? probe->service_max_ns[i] : 0;
        bool exceeded = probe != NULL && measured > table[i].budget_ns;
        over = over || exceeded;
        dw_format_duration(table[i].budget_ns, budget, sizeof budget);
        if (probe != NULL) {
            dw_format(measured_text, sizeof measured_text, "%.1fus", (double)measured / 1000.0);
        } else {
            dw_format(measured_text, sizeof measured_text, "-");
        }
        const char *status = probe == NULL ? "-" : exceeded ? "OVER" : "ok";
        if (json) {
            (void)fprintf(cli->out,
                          "%s{\"class\":\"%s\",\"budget_ns\":%llu,\"measured_max_ns\":%llu,\"requests\":%llu,"
                          "\"status\":\"%s\",\"reference\":\"%s\"}",
                          i > 0 ? "," : "", table[i].name, (unsigned long long)table[i].budget_ns,
                          (unsigned long long)measured,
                          (unsigned long long)(probe != NULL ? probe->requests[i] : 0), status, table[i].reference);
        } else {
            (void)fprintf(cli->out, "%-12s %10s %14s %8s  %s\n%-12s %10s %14s %8s  %s\n", table[i].name, budget,
                          measured_text, status, table[i].justification, "", "", "", "", table[i].reference);
        }
    }
    if (json) {
        (void)fprintf(cli->out, "]}\n");
    } else if (probe == NULL) {
        (void)fprintf(cli->out, "\nrun 'dw-bench wcet --probe FILE' to measure each class on a file\n");
    } else {
        (void)fprintf(cli->out, "\nmeasured on %s, %llu s a class, one request at a time\n", probe->path,
                      (unsigned long long)probe->seconds);
    }
    return over;
}
