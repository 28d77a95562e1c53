/*
 * wcet_table.h — the budget table as `dw wcet` and `dw-bench wcet --probe` print it:
 * each I/O class's budget, justification and certification reference, and, when a
 * probe measured them, the longest service beside each budget with OVER where it was
 * exceeded. Shared so that the two programs print one table.
 */
#ifndef DW_CLI_WCET_TABLE_H
#define DW_CLI_WCET_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "cli/cli.h"
#include "sched/edf.h"

/* What a probe measured on `path`, `seconds` a class. */
typedef struct dw_wcet_probe {
    const char *path;
    uint64_t seconds;
    uint64_t service_max_ns[DW_OP_CLASS_COUNT];
    uint64_t requests[DW_OP_CLASS_COUNT];
} dw_wcet_probe;

/* Prints the table for `config` (probe NULL: the budgets alone) as text or one JSON
 * object. Returns true when a measured class exceeded its budget. */
bool dw_wcet_table_print(const dw_cli *cli, const dw_config *config, const dw_wcet_probe *probe, bool json);

#endif /* DW_CLI_WCET_TABLE_H */
