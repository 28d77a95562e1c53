/*
 * cmd_demo.c — `dw demo`: a short run of what this build can do, on a built-in
 * configuration, for `make run`.
 *
 * It uses the engine's own pieces (configuration, clock, log, checksums) exactly as the
 * engine will, and prints what each one did. Later work replaces it with the real main
 * job: a VDE written, crashed and recovered.
 */
#include <stdatomic.h>
#include <string.h>

#include "cli/cli.h"
#include "core/checksum.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/text.h"
#include "mem/alloc_count.h"
#include "mem/arena.h"
#include "mem/pool.h"

static int run_demo(dw_cli *cli, int argument_count, char **arguments);

const dw_cli_command dw_command_demo = {
    .noun = "demo",
    .synopsis = "dw demo [--config FILE]",
    .summary = "run a short demonstration on a built-in configuration",
    .help = "DESCRIPTION\n"
            "    Loads a built-in configuration (a small recorder profile: 4 KiB blocks, a\n"
            "    16 MiB memory ceiling), or FILE when --config is given, and runs the\n"
            "    engine's foundations on it: configuration checks, the calibrated tick\n"
            "    clock, block checksums seeded with the block address (showing that a\n"
            "    misdirected write and a flipped bit are both caught), the memory model (the\n"
            "    buffer pool reserved against the ceiling, mapped once, rented and given back\n"
            "    with allocations counted) and the JSON-lines log, which goes to standard\n"
            "    error or log.file. The report goes to standard output.\n"
            "\n"
            "EXAMPLES\n"
            "    dw demo\n"
            "    dw demo --set log.level=warn\n",
    .run = run_demo,
};

static const char demo_configuration[] =
    "; The demo's built-in configuration: a small recorder profile.\n"
    "[vde]\n"
    "block_size = 4KiB\n"
    "[memory]\n"
    "ceiling = 16MiB\n"
    "buffer_count = 256\n"
    "cache_pages = 64\n"
    "[io]\n"
    "queue_depth = 16\n"
    "[limits]\n"
    "key_length_max = 128\n"
    "value_size_max = 1MiB\n"
    "transaction_size_max = 8MiB\n"
    "[log]\n"
    "level = info\n";

#define DEMO_BLOCK_MAX (64 * 1024)
#define DEMO_CHECKSUM_ROUNDS 20000

static int load_demo_configuration(dw_cli *cli, dw_config *config, dw_config_report *report,
                                   const char **name)
{
    if (cli->config_path != NULL) {
        *name = cli->config_path;
        return dw_cli_load_config(cli, cli->config_path, config, report);
    }
    *name = "built-in demo configuration";
    dw_config_defaults(config);
    dw_config_report_init(report);
    char text[sizeof demo_configuration];
    memcpy(text, demo_configuration, sizeof text);
    FILE *stream = fmemopen(text, sizeof text - 1, "r");
    if (stream == NULL) {
        dw_cli_error(cli, NULL, "cannot open the built-in configuration as a stream");
        return DW_EXIT_FAILURE;
    }
    dw_diag diag;
    dw_diag_clear(&diag);
    int result = dw_config_load_stream(config, stream, *name, report, &diag);
    (void)fclose(stream);
    DW_ASSERT(result == DW_OK); /* the built-in text is checked by the tests */
    return dw_cli_finish_config(cli, config, report);
}

/* A deterministic block of bytes: the same demo prints the same checksums everywhere. */
static void fill_block(unsigned char *block, size_t size, uint64_t seed)
{
    uint64_t state = seed;
    for (size_t i = 0; i < size; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        block[i] = (unsigned char)state;
    }
}

static void demo_checksums(dw_cli *cli, const dw_config *config, const dw_clock *clock,
                           dw_log *log)
{
    static unsigned char block[DEMO_BLOCK_MAX];
    size_t size = config->block_size;
    DW_ASSERT(size <= sizeof block);
    fill_block(block, size, 0x9e3779b97f4a7c15u);
    uint64_t at_block_7 = dw_xxh64(block, size, 7);
    uint64_t at_block_8 = dw_xxh64(block, size, 8);
    block[size / 2] ^= 0x10;
    uint64_t bit_flipped = dw_xxh64(block, size, 7);
    block[size / 2] ^= 0x10;
    (void)fprintf(cli->out,
                  "checksums  one %zu-byte block, XXH64 seeded with its address:\n"
                  "           as block 7                 %016llx\n"
                  "           the same bytes as block 8  %016llx  (a misdirected write is caught)\n"
                  "           block 7, one bit flipped   %016llx  (corruption is caught)\n",
                  size, (unsigned long long)at_block_7, (unsigned long long)at_block_8,
                  (unsigned long long)bit_flipped);
    DW_ASSERT(at_block_7 != at_block_8 && at_block_7 != bit_flipped);

    uint64_t sink = 0;
    uint64_t ticks_start = dw_clock_ticks(clock);
    for (uint64_t round = 0; round < DEMO_CHECKSUM_ROUNDS; round++) {
        sink ^= dw_xxh64(block, size, round);
    }
    uint64_t elapsed_ns = dw_clock_ticks_to_ns(clock, dw_clock_ticks(clock) - ticks_start);
    double ns_per_block = (double)elapsed_ns / DEMO_CHECKSUM_ROUNDS;
    double gib_per_second = ns_per_block > 0 ? (double)size / ns_per_block / 1.073741824 : 0.0;
    (void)fprintf(cli->out, "           %d blocks checksummed: %.0f ns a block, %.2f GiB/s\n",
                  DEMO_CHECKSUM_ROUNDS, ns_per_block, gib_per_second);
    DW_LOG(log, DW_LOG_INFO, "demo", "checksum throughput measured",
           DW_LOG_UINT("block_size", size), DW_LOG_UINT("blocks", DEMO_CHECKSUM_ROUNDS),
           DW_LOG_UINT("elapsed_ns", elapsed_ns), DW_LOG_UINT("digest", sink));
}

#define DEMO_RENTS 100000

/* The memory model at work: reserve the pool against the ceiling, map once, rent and
 * give back, count allocations. */
static int demo_memory(dw_cli *cli, const dw_config *config, const dw_clock *clock, dw_log *log)
{
    dw_budget budget;
    dw_budget_init(&budget, config->memory_ceiling_bytes, config->pressure_percent);
    dw_arena arena;
    dw_arena_init(&arena, &budget);
    dw_pool_plan plan;
    dw_diag diag;
    dw_diag_clear(&diag);
    int result = dw_pool_plan_in(&arena, config->buffer_count, config->block_size, &plan, &diag);
    if (result == DW_OK) {
        result = dw_arena_allocate(&arena, config->memory_lock, &diag);
    }
    if (result != DW_OK) {
        dw_arena_close(&arena);
        dw_cli_error_diag(cli, &diag);
        return DW_EXIT_FAILURE;
    }
    dw_pool *pool = dw_pool_open_in(&arena, &plan, clock);
    dw_alloc_counts mark = dw_alloc_counts_now();
    for (uint32_t i = 0; i < DEMO_RENTS; i++) {
        unsigned char *buffer = dw_pool_try_rent(pool);
        DW_ASSERT(buffer != NULL);
        buffer[0] = (unsigned char)i;
        result = dw_pool_give_back(pool, buffer, NULL);
        DW_ASSERT(result == DW_OK);
    }
    uint64_t allocations = dw_alloc_counts_since(mark);
    char mapped[32];
    char ceiling[32];
    (void)fprintf(cli->out,
                  "memory     %s mapped once, %s, reserved against the %s ceiling\n"
                  "           %d rents and give-backs of %u pooled buffers: %llu allocations\n",
                  dw_format_size(arena.mapped_bytes, mapped, sizeof mapped),
                  config->memory_lock ? "locked in RAM" : "prefaulted",
                  dw_format_size(budget.ceiling_bytes, ceiling, sizeof ceiling), DEMO_RENTS,
                  config->buffer_count, (unsigned long long)allocations);
    DW_LOG(log, DW_LOG_INFO, "demo", "pool exercised", DW_LOG_UINT("mapped_bytes", arena.mapped_bytes),
           DW_LOG_UINT("rents", DEMO_RENTS), DW_LOG_UINT("allocations", allocations));
    dw_arena_close(&arena);
    return DW_EXIT_OK;
}

static int run_demo(dw_cli *cli, int argument_count, char **arguments)
{
    if (argument_count > 0) {
        return dw_cli_usage_error(cli, &dw_command_demo, "unexpected argument '%s'", arguments[0]);
    }
    dw_config config;
    dw_config_report report;
    const char *name = NULL;
    int exit_code = load_demo_configuration(cli, &config, &report, &name);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    dw_clock clock;
    dw_clock_system_init(&clock, 10 * DW_NS_PER_MS);
    dw_log log;
    dw_diag diag;
    dw_diag_clear(&diag);
    if (dw_log_open(&log, config.log_file, config.log_level, &clock, &diag) != DW_OK) {
        dw_cli_error_diag(cli, &diag);
        return DW_EXIT_FAILURE;
    }
    DW_LOG(&log, DW_LOG_INFO, "demo", "demo started", DW_LOG_STRING("configuration", name),
           DW_LOG_STRING("version", dw_version()));

    char ceiling_text[32];
    char floor_text[32];
    char block_text[32];
    uint64_t floor_bytes = dw_config_memory_floor_bytes(&config);
    (void)fprintf(cli->out,
                  "dwvd %s demo\n\n"
                  "config     %s: valid\n"
                  "           %s blocks, %u I/O buffers, %u cache pages, queue depth %u\n"
                  "           fixed pools need %s of the %s memory ceiling (%.1f%%)\n",
                  dw_version(), name, dw_format_size(config.block_size, block_text, sizeof block_text),
                  config.buffer_count, config.cache_pages, config.queue_depth,
                  dw_format_size(floor_bytes, floor_text, sizeof floor_text),
                  dw_format_size(config.memory_ceiling_bytes, ceiling_text, sizeof ceiling_text),
                  100.0 * (double)floor_bytes / (double)config.memory_ceiling_bytes);
    (void)fprintf(cli->out, "clock      tick source %s (%s), %.4f ns a tick\n", clock.tick_source,
                  clock.tick_note, (double)clock.ns_per_tick_q32 / (double)DW_CLOCK_Q32_ONE);
    demo_checksums(cli, &config, &clock, &log);
    exit_code = demo_memory(cli, &config, &clock, &log);
    if (exit_code != DW_EXIT_OK) {
        dw_log_close(&log);
        return exit_code;
    }
    DW_LOG(&log, DW_LOG_INFO, "demo", "demo finished", DW_LOG_INT("exit_code", DW_EXIT_OK));
    (void)fprintf(cli->out, "log        %llu JSON lines written to %s\n",
                  (unsigned long long)atomic_load(&log.lines_written),
                  config.log_file[0] != '\0' ? config.log_file : "standard error");
    dw_log_close(&log);
    return DW_EXIT_OK;
}
