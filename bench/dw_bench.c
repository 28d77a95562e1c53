/*
 * dw_bench.c — the `dw-bench` program: its commands and what its manual says around
 * them. Each command runs one runner of bench/ and prints its figures as a table or JSON;
 * `make bench` (scripts/bench.sh) runs them all.
 */
#include "dw_bench.h"

#include "core/compiler.h"

static const dw_cli_command *const commands[] = {
    &dw_bench_command_pool,
    &dw_bench_command_io,
    &dw_bench_command_edf,
    &dw_bench_command_rings,
    &dw_bench_command_wcet,
    &dw_bench_command_replay,
    &dw_cli_command_help,
    &dw_cli_command_version,
};

static const char exit_status_text[] =
    "EXIT STATUS\n"
    "    0   success\n"
    "    1   operational error: a file could not be read or written, a resource ran out\n"
    "    2   usage error or invalid configuration: nothing was done\n"
    "    3   the run finished and a check failed: a double hand-out or an allocation\n"
    "        (pool), a class over its budget (wcet --probe), an allocation while running\n"
    "        (replay)\n";

static const dw_cli_program program = {
    .name = "dw-bench",
    .title = "measure dwvd's layers: buffer pool, I/O, deadlines, queues, budgets",
    .description = "    The benchmarks and probes of dwvd, each a runner over one layer of the\n"
                   "    engine with the configuration the engine would use (--config, --set):\n"
                   "    the buffer pool against malloc, 4 KiB random I/O (make bench puts fio\n"
                   "    beside it), critical deadlines under EDF and FIFO, the CPU scheduler's\n"
                   "    queues against Concurrency Kit, the WCET budgets against a device, and a\n"
                   "    recorded run of the deterministic CPU scheduler. The engine's tools are\n"
                   "    in dw; dw-kv-bench compares dwvd with LMDB, SQLite and RocksDB.\n",
    .examples = "    dw-bench pool\n"
                "    dw-bench io --file /data/bench.data --seconds 10\n"
                "    dw-bench edf --target sim\n"
                "    dw-bench wcet --probe /data/bench.data\n"
                "    dw-bench replay --workers 4 -o four.dwreplay\n",
    .first_example = "pool",
    .exit_status = exit_status_text,
    .commands = commands,
    .command_count = DW_ARRAY_COUNT(commands),
};

int dw_bench_main(int argc, char **argv, FILE *out, FILE *err)
{
    return dw_cli_run(&program, argc, argv, out, err);
}
