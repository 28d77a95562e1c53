/*
 * cmd_demo.c — `dw demo`, what `make run` runs: the main job of a flight or vehicle data
 * recorder, on a built-in configuration.
 *
 * It creates a VDE, stores a recorder's workload with deadlines (100,000 timestamped
 * sensor records on 16 channels, each a critical put with a 20 ms deadline, synced every
 * 1,000 records; and a few large camera blobs streamed in), reads every byte back and
 * compares it, closes the VDE, verifies it block by block, and prints what a safety
 * engineer looks for: each operation class's latency p50/p99/max beside its deadline and
 * the misses; each I/O class's worst service time beside its WCET budget; peak memory
 * beside the ceiling; allocations after open; and the SHA-256 of the image, which in
 * deterministic mode (the built-in configuration's) is the same on every run.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/text.h"
#include "mem/alloc_count.h"
#include "sched/histogram.h"

static int run_demo(dw_cli *cli, int argument_count, char **arguments);

const dw_cli_command dw_command_demo = {
    .noun = "demo",
    .synopsis = "dw demo [--file PATH] [--keep] [--records N] [--blobs N] [--blob-size SIZE]",
    .summary = "run a recorder's workload on a new VDE and report latency, memory and integrity",
    .help = "DESCRIPTION\n"
            "    The main job of a data recorder, end to end, on a built-in configuration (a\n"
            "    64 MiB memory ceiling, 4 KiB blocks, group durability, deterministic mode;\n"
            "    --config FILE or --set replace or change it):\n"
            "\n"
            "      1. creates a 1 GiB VDE (sparse) at PATH;\n"
            "      2. stores N timestamped sensor records (16 channels, 96 bytes each) as\n"
            "         critical puts with a 20 ms deadline, synced every 1,000 records, and\n"
            "         a few large camera blobs streamed in with a 2 s deadline;\n"
            "      3. reads every record and blob back and compares every byte;\n"
            "      4. closes the VDE and verifies it block by block (dw vde verify);\n"
            "      5. prints, per operation class, the latency p50/p99/max beside its\n"
            "         deadline and the misses; per I/O class, the worst service time\n"
            "         beside its WCET budget; peak memory (VmHWM) beside the ceiling;\n"
            "         allocations after open; and the SHA-256 of the image.\n"
            "\n"
            "    In deterministic mode the image's SHA-256 is the same on every run and\n"
            "    every machine: the same operations give the same file, byte for byte.\n"
            "    The exit status is 0 only when every byte read back matched and verify\n"
            "    found nothing; deadline misses are reported, not fatal.\n"
            "\n"
            "OPTIONS\n"
            "    --file PATH        where the VDE goes; it must not exist (default:\n"
            "                       $TMPDIR/dwvd-demo.dwvd). Removed at the end unless --keep\n"
            "    --keep             keep the VDE file for dw vde inspect, dw ls, ...\n"
            "    --records N        sensor records, 1..10000000 (default 100000)\n"
            "    --blobs N          camera blobs, 0..64 (default 4)\n"
            "    --blob-size SIZE   bytes in each blob (default 16MiB)\n"
            "\n"
            "EXAMPLES\n"
            "    dw demo\n"
            "    dw demo --keep --file /tmp/flight.dwvd && dw vde inspect /tmp/flight.dwvd\n"
            "    dw demo --records 1000000 --set memory.ceiling=64MiB\n",
    .run = run_demo,
};

static const char demo_configuration[] =
    "; The demo's built-in configuration: a flight data recorder.\n"
    "[vde]\n"
    "block_size = 4KiB\n"
    "durability = group\n"
    "group_delay = 20ms\n"
    "op_deadline = 1s\n"
    "deterministic = true\n"
    "wal_size = 32MiB\n"
    "group_size = 128MiB\n"
    "[memory]\n"
    "ceiling = 64MiB\n"
    "buffer_count = 256\n"
    "cache_pages = 2048\n"
    "[io]\n"
    "queue_depth = 32\n"
    "[limits]\n"
    "key_length_max = 128\n"
    "value_size_max = 1GiB\n"
    "transaction_size_max = 1GiB\n"
    "[log]\n"
    "level = warn\n";

#define DEMO_VDE_BYTES (UINT64_C(1) << 30)
#define DEMO_CHANNELS 16
#define DEMO_RECORD_BYTES 96
#define DEMO_SYNC_EVERY 1000
#define DEMO_RECORD_DEADLINE_NS (20 * DW_NS_PER_MS)
#define DEMO_BLOB_DEADLINE_NS (2 * DW_NS_PER_S)
#define DEMO_SYNC_DEADLINE_NS (50 * DW_NS_PER_MS)
#define DEMO_PIECE_BYTES (64u * 1024u)

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

/* A record: timestamp (us), channel, sequence, then ten readings, all little-endian,
 * the same on every run. */
static void make_record(uint64_t index, unsigned char record[DEMO_RECORD_BYTES])
{
    uint64_t timestamp_us = 1700000000000000ull + index * 1000;
    uint32_t channel = (uint32_t)(index % DEMO_CHANNELS);
    memset(record, 0, DEMO_RECORD_BYTES);
    for (int b = 0; b < 8; b++) {
        record[b] = (unsigned char)(timestamp_us >> (8 * b));
    }
    for (int b = 0; b < 4; b++) {
        record[8 + b] = (unsigned char)(channel >> (8 * b));
        record[12 + b] = (unsigned char)(index >> (8 * b));
    }
    uint64_t state = index * 0x9e3779b97f4a7c15ull + 1;
    for (int b = 16; b < DEMO_RECORD_BYTES; b++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        record[b] = (unsigned char)state;
    }
}

static size_t record_key(uint64_t index, char *key, size_t size)
{
    (void)dw_format(key, size, "rec/ch%02u/%012llu", (unsigned)(index % DEMO_CHANNELS),
                    (unsigned long long)(1700000000000000ull + index * 1000));
    return strlen(key);
}

/* Piece `piece` of blob `blob`: a stream that is the same on every run. */
static void make_piece(uint32_t blob, uint64_t piece, unsigned char *data, size_t length)
{
    uint64_t state = (piece + 1) * 0xbf58476d1ce4e5b9ull ^ ((uint64_t)blob << 40);
    for (size_t i = 0; i < length; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data[i] = (unsigned char)state;
    }
}

enum demo_class { CLASS_PUT, CLASS_GET, CLASS_SYNC, CLASS_BLOB_PUT, CLASS_BLOB_GET, CLASS_COUNT };

typedef struct demo_stats {
    dw_histogram latency[CLASS_COUNT];
    uint64_t misses[CLASS_COUNT];
} demo_stats;

static const char *const class_names[CLASS_COUNT] = {"put record", "get record", "sync (group commit)",
                                                     "put blob (stream)", "read blob (stream)"};
static const uint64_t class_deadlines[CLASS_COUNT] = {DEMO_RECORD_DEADLINE_NS, DEMO_RECORD_DEADLINE_NS,
                                                      DEMO_SYNC_DEADLINE_NS, DEMO_BLOB_DEADLINE_NS,
                                                      DEMO_BLOB_DEADLINE_NS};

static void account(demo_stats *stats, const dw_clock *clock, uint32_t class_index, uint64_t started)
{
    uint64_t took = dw_clock_now_ns(clock) - started;
    dw_histogram_record(&stats->latency[class_index], took);
    if (took > class_deadlines[class_index]) {
        stats->misses[class_index]++;
    }
}

typedef struct demo_run {
    dw_cli *cli;
    const char *path;
    uint64_t records;
    uint32_t blobs;
    uint64_t blob_bytes;
    const dw_clock *clock;
    demo_stats stats;
    uint64_t mismatches;
    dw_diag diag;
} demo_run;

static int store(demo_run *run, dw_vde *vde)
{
    static unsigned char record[DEMO_RECORD_BYTES];
    char key[64];
    dw_op critical = {.deadline_ns = DEMO_RECORD_DEADLINE_NS, .priority = DW_OP_CRITICAL};
    dw_op sync_op = {.deadline_ns = DEMO_SYNC_DEADLINE_NS, .priority = DW_OP_CRITICAL};
    int result = DW_OK;
    for (uint64_t i = 0; i < run->records && result == DW_OK; i++) {
        make_record(i, record);
        size_t key_length = record_key(i, key, sizeof key);
        uint64_t started = dw_clock_now_ns(run->clock);
        result = dw_put(vde, key, key_length, record, sizeof record, &critical, &run->diag);
        account(&run->stats, run->clock, CLASS_PUT, started);
        if (result == DW_OK && (i + 1) % DEMO_SYNC_EVERY == 0) {
            started = dw_clock_now_ns(run->clock);
            result = dw_sync(vde, &sync_op, &run->diag);
            account(&run->stats, run->clock, CLASS_SYNC, started);
        }
        if (isatty(fileno(run->cli->err)) && (i + 1) % 10000 == 0) {
            (void)fprintf(run->cli->err, "\rstoring records %llu / %llu", (unsigned long long)(i + 1),
                          (unsigned long long)run->records);
        }
    }
    static unsigned char piece[DEMO_PIECE_BYTES];
    dw_op blob_op = {.deadline_ns = DEMO_BLOB_DEADLINE_NS, .priority = DW_OP_NORMAL};
    for (uint32_t blob = 0; blob < run->blobs && result == DW_OK; blob++) {
        (void)dw_format(key, sizeof key, "blob/camera-%02u", blob);
        uint64_t started = dw_clock_now_ns(run->clock);
        dw_writer *writer = NULL;
        result = dw_writer_open(vde, key, strlen(key), &blob_op, &writer, &run->diag);
        for (uint64_t offset = 0, index = 0; result == DW_OK && offset < run->blob_bytes; index++) {
            size_t length = run->blob_bytes - offset < sizeof piece ? (size_t)(run->blob_bytes - offset) : sizeof piece;
            make_piece(blob, index, piece, length);
            result = dw_writer_write(writer, piece, length, &run->diag);
            offset += length;
        }
        if (result == DW_OK) {
            result = dw_writer_commit(writer, &run->diag);
        } else if (writer != NULL) {
            dw_writer_abort(writer);
        }
        if (result == DW_OK) {
            result = dw_sync(vde, &blob_op, &run->diag);
        }
        account(&run->stats, run->clock, CLASS_BLOB_PUT, started);
    }
    if (isatty(fileno(run->cli->err))) {
        (void)fputc('\n', run->cli->err);
    }
    return result;
}

static int read_back(demo_run *run, dw_vde *vde)
{
    static unsigned char record[DEMO_RECORD_BYTES];
    static unsigned char back[DEMO_RECORD_BYTES];
    char key[64];
    dw_op critical = {.deadline_ns = DEMO_RECORD_DEADLINE_NS, .priority = DW_OP_CRITICAL};
    int result = DW_OK;
    for (uint64_t i = 0; i < run->records && result == DW_OK; i++) {
        make_record(i, record);
        size_t key_length = record_key(i, key, sizeof key);
        size_t length = 0;
        uint64_t started = dw_clock_now_ns(run->clock);
        result = dw_get(vde, key, key_length, back, sizeof back, &length, &critical, &run->diag);
        account(&run->stats, run->clock, CLASS_GET, started);
        if (result == DW_OK && (length != sizeof record || memcmp(back, record, sizeof record) != 0)) {
            run->mismatches++;
        }
    }
    static unsigned char piece[DEMO_PIECE_BYTES];
    static unsigned char expected[DEMO_PIECE_BYTES];
    dw_op blob_op = {.deadline_ns = DEMO_BLOB_DEADLINE_NS, .priority = DW_OP_NORMAL};
    for (uint32_t blob = 0; blob < run->blobs && result == DW_OK; blob++) {
        (void)dw_format(key, sizeof key, "blob/camera-%02u", blob);
        uint64_t started = dw_clock_now_ns(run->clock);
        for (uint64_t offset = 0, index = 0; result == DW_OK && offset < run->blob_bytes; index++) {
            size_t want = run->blob_bytes - offset < sizeof piece ? (size_t)(run->blob_bytes - offset) : sizeof piece;
            size_t got = 0;
            result = dw_read(vde, key, strlen(key), offset, piece, want, &got, &blob_op, &run->diag);
            make_piece(blob, index, expected, want);
            if (result == DW_OK && (got != want || memcmp(piece, expected, want) != 0)) {
                run->mismatches++;
                break;
            }
            offset += want;
        }
        account(&run->stats, run->clock, CLASS_BLOB_GET, started);
    }
    return result;
}

/* VmHWM of this process, in bytes (0 when /proc does not say). */
static uint64_t peak_rss_bytes(void)
{
    FILE *status = fopen("/proc/self/status", "r");
    if (status == NULL) {
        return 0;
    }
    char line[256];
    uint64_t kib = 0;
    while (fgets(line, sizeof line, status) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = strtoull(line + 6, NULL, 10);
        }
    }
    (void)fclose(status);
    return kib * 1024;
}

static int image_sha256(const char *path, char hex[65], dw_diag *diag)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        int error_number = errno;
        return dw_diag_fail(diag, DW_EIO, NULL, "cannot read '%s': %s", path, strerror(error_number));
    }
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    int ok = context != NULL && EVP_DigestInit_ex(context, EVP_sha256(), NULL) == 1;
    static unsigned char buffer[1u << 20];
    size_t got = 0;
    while (ok && (got = fread(buffer, 1, sizeof buffer, file)) > 0) {
        ok = EVP_DigestUpdate(context, buffer, got) == 1;
    }
    unsigned char digest[32];
    unsigned int length = 0;
    ok = ok && !ferror(file) && EVP_DigestFinal_ex(context, digest, &length) == 1 && length == 32;
    EVP_MD_CTX_free(context);
    (void)fclose(file);
    if (!ok) {
        return dw_diag_fail(diag, DW_EIO, NULL, "cannot checksum '%s'", path);
    }
    for (unsigned i = 0; i < 32; i++) {
        (void)snprintf(hex + (size_t)2 * i, 3, "%02x", digest[i]);
    }
    return DW_OK;
}

/* A latency for the tables: three significant digits in the unit that suits it. */
static const char *latency_text(uint64_t ns, char *buffer, size_t size)
{
    if (ns < 1000) {
        (void)dw_format(buffer, size, "%lluns", (unsigned long long)ns);
    } else if (ns < DW_NS_PER_MS) {
        (void)dw_format(buffer, size, "%.1fus", (double)ns / 1e3);
    } else if (ns < DW_NS_PER_S) {
        (void)dw_format(buffer, size, "%.2fms", (double)ns / 1e6);
    } else {
        (void)dw_format(buffer, size, "%.2fs", (double)ns / 1e9);
    }
    return buffer;
}

static void print_report(demo_run *run, const dw_config *config, const dw_vde_stats *info, uint64_t allocations,
                         const dw_vde_verify_report *verify, const char *sha)
{
    FILE *out = run->cli->out;
    char a[32];
    char b[32];
    char c[32];
    (void)fprintf(out, "\noperations (measured around each call)     count       p50       p99       max  deadline  misses\n");
    for (uint32_t k = 0; k < CLASS_COUNT; k++) {
        const dw_histogram *h = &run->stats.latency[k];
        char p50[32];
        char p99[32];
        char max[32];
        char deadline[32];
        (void)fprintf(out, "  %-38s %9llu %9s %9s %9s %9s %7llu\n", class_names[k], (unsigned long long)h->count,
                      latency_text(dw_histogram_percentile(h, 500000), p50, sizeof p50),
                      latency_text(dw_histogram_percentile(h, 990000), p99, sizeof p99),
                      latency_text(h->max, max, sizeof max),
                      dw_format_duration(class_deadlines[k], deadline, sizeof deadline),
                      (unsigned long long)run->stats.misses[k]);
    }
    (void)fprintf(out, "\nI/O through the EDF scheduler                completed  p99 e2e  max service  WCET budget  misses\n");
    for (int k = 0; k < DW_VDE_IO_CLASSES; k++) {
        const dw_vde_io_figures *s = &info->io[k];
        char p99[32];
        char service[32];
        char budget[32];
        (void)fprintf(out, "  %-38s %9llu %9s %12s %12s %7llu%s\n", s->name, (unsigned long long)s->completed,
                      latency_text(s->p99_ns, p99, sizeof p99), latency_text(s->service_max_ns, service, sizeof service),
                      dw_format_duration(s->budget_ns, budget, sizeof budget), (unsigned long long)s->misses,
                      s->service_max_ns > s->budget_ns ? "  OVER BUDGET" : "");
    }
    uint64_t rss = peak_rss_bytes();
    (void)fprintf(out, "\nmemory     ceiling %s; reserved at open %s (peak %s); process peak RSS (VmHWM) %s\n",
                  dw_format_size_human(config->memory_ceiling_bytes, a, sizeof a),
                  dw_format_size_human(info->memory_reserved_bytes, b, sizeof b),
                  dw_format_size_human(info->memory_peak_bytes, c, sizeof c),
                  dw_format_size_human(rss, a + 16, 16));
    (void)fprintf(out, "           allocations after open: %llu\n", (unsigned long long)allocations);
    (void)fprintf(out, "engine     %llu commits in %llu WAL records, %llu checkpoints; cache %llu hits, %llu misses\n",
                  (unsigned long long)info->commits, (unsigned long long)info->records,
                  (unsigned long long)info->checkpoints, (unsigned long long)info->cache_hits,
                  (unsigned long long)info->cache_misses);
    (void)fprintf(out, "read back  %llu records and %u blobs: %llu mismatches\n", (unsigned long long)run->records,
                  run->blobs, (unsigned long long)run->mismatches);
    (void)fprintf(out, "verify     %llu blocks checked, %llu objects: %s\n", (unsigned long long)verify->blocks_checked,
                  (unsigned long long)verify->objects,
                  verify->problem_count == 0 ? "clean" : "PROBLEMS (run dw demo --keep, then dw vde verify, for the list)");
    for (uint32_t i = 0; i < verify->problems_kept && i < 5; i++) {
        (void)fprintf(out, "           block %llu: %s\n", (unsigned long long)verify->problems[i].block,
                      verify->problems[i].what);
    }
    (void)fprintf(out, "image      %s  SHA-256 %s%s\n", run->path, sha,
                  config->deterministic ? " (deterministic: the same on every run)" : "");
}

static int run_demo(dw_cli *cli, int argument_count, char **arguments)
{
    const char *file = NULL;
    const char *records_text = NULL;
    const char *blobs_text = NULL;
    const char *blob_size_text = NULL;
    bool keep = false;
    const dw_cli_option spec[] = {
        {"--file", NULL, &file},           {"--keep", &keep, NULL},
        {"--records", NULL, &records_text}, {"--blobs", NULL, &blobs_text},
        {"--blob-size", NULL, &blob_size_text},
    };
    static demo_run run;
    memset(&run, 0, sizeof run);
    run.cli = cli;
    run.records = 100000;
    run.blobs = 4;
    run.blob_bytes = UINT64_C(16) << 20;
    uint64_t blobs = run.blobs;
    int parsed = dw_cli_parse_options(cli, &dw_command_demo, argument_count, arguments, spec, DW_ARRAY_COUNT(spec),
                                      NULL, 0, NULL);
    if (parsed == DW_EXIT_OK && records_text != NULL) {
        parsed = dw_cli_parse_number(cli, &dw_command_demo, "--records", records_text, 1, 10000000, &run.records);
    }
    if (parsed == DW_EXIT_OK && blobs_text != NULL) {
        parsed = dw_cli_parse_number(cli, &dw_command_demo, "--blobs", blobs_text, 0, 64, &blobs);
    }
    if (parsed == DW_EXIT_OK && blob_size_text != NULL &&
        (dw_parse_size(blob_size_text, &run.blob_bytes) != DW_OK || run.blob_bytes == 0)) {
        parsed = dw_cli_usage_error(cli, &dw_command_demo, "--blob-size takes a size such as 16MiB, not '%s'",
                                    blob_size_text);
    }
    if (parsed != DW_EXIT_OK) {
        return parsed;
    }
    run.blobs = (uint32_t)blobs;
    static dw_config config;
    static dw_config_report report;
    const char *name = NULL;
    int exit_code = load_demo_configuration(cli, &config, &report, &name);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    if (run.blobs > 0 && run.blob_bytes > config.value_size_max) {
        return dw_cli_usage_error(cli, &dw_command_demo, "--blob-size is above limits.value_size_max");
    }
    char default_path[512];
    if (file == NULL) {
        const char *directory = getenv("TMPDIR");
        (void)dw_format(default_path, sizeof default_path, "%s/dwvd-demo.dwvd",
                        directory != NULL && directory[0] != '\0' ? directory : "/tmp");
        file = default_path;
    }
    run.path = file;
    struct stat existing;
    if (file != default_path && stat(file, &existing) == 0) {
        dw_cli_error(cli, "remove it, or choose another --file", "'%s' exists already; dw demo writes a new VDE", file);
        return DW_EXIT_USAGE;
    }
    dw_clock clock;
    dw_clock_system_init(&clock, 10 * DW_NS_PER_MS);
    run.clock = &clock;
    char block_text[32];
    char ceiling_text[32];
    char blob_text[32];
    (void)fprintf(cli->out,
                  "dwvd %s demo: a flight data recorder\n"
                  "config     %s: %s blocks, %s memory ceiling, %s durability, %s\n"
                  "workload   %llu sensor records (16 channels, %d bytes, critical, %s deadline, sync every %d),\n"
                  "           %u camera blobs of %s streamed in (%s deadline)\n",
                  dw_version(), name, dw_format_size_human(config.block_size, block_text, sizeof block_text),
                  dw_format_size_human(config.memory_ceiling_bytes, ceiling_text, sizeof ceiling_text),
                  config.durability == DW_DURABILITY_GROUP ? "group" : "strict",
                  config.deterministic ? "deterministic" : "wall-clock", (unsigned long long)run.records,
                  DEMO_RECORD_BYTES, "20ms", DEMO_SYNC_EVERY, run.blobs,
                  dw_format_size_human(run.blob_bytes, blob_text, sizeof blob_text), "2s");
    dw_diag_clear(&run.diag);
    /* An inode an object, and room to spare. Only the demo's own default file is
     * replaced; a --file that exists was refused above. */
    dw_create_options options = {.size_bytes = DEMO_VDE_BYTES,
                                 .label = "dw demo recorder",
                                 .overwrite = file == default_path,
                                 .inode_count = run.records + run.blobs + 4096};
    int result = dw_vde_create(file, &config, &options, &run.diag);
    dw_vde *vde = NULL;
    if (result == DW_OK) {
        result = dw_vde_open(file, &config, &vde, &run.diag);
    }
    if (result != DW_OK) {
        dw_cli_error_diag(cli, &run.diag);
        return dw_cli_exit_code(result);
    }
    dw_alloc_counts mark = dw_alloc_counts_now();
    uint64_t started = dw_clock_now_ns(&clock);
    result = store(&run, vde);
    uint64_t stored = dw_clock_now_ns(&clock);
    if (result == DW_OK) {
        result = read_back(&run, vde);
    }
    uint64_t allocations = dw_alloc_counts_since(mark);
    static dw_vde_stats info;
    if (result == DW_OK) {
        result = dw_vde_stat(vde, &info, &run.diag);
    }
    dw_diag close_diag;
    int closed = dw_vde_close(vde, &close_diag);
    if (result == DW_OK && closed != DW_OK) {
        result = closed;
        run.diag = close_diag;
    }
    if (result != DW_OK) {
        dw_cli_error_diag(cli, &run.diag);
        return dw_cli_exit_code(result);
    }
    uint64_t finished = dw_clock_now_ns(&clock);
    char took[32];
    char took_read[32];
    (void)fprintf(cli->out, "ran        stored in %s, read back in %s\n",
                  dw_format_duration((stored - started) / DW_NS_PER_MS * DW_NS_PER_MS, took, sizeof took),
                  dw_format_duration((finished - stored) / DW_NS_PER_MS * DW_NS_PER_MS, took_read, sizeof took_read));
    /* Verify the closed file, as `dw vde verify` would. */
    static dw_vde_verify_report verify;
    memset(&verify, 0, sizeof verify);
    result = dw_vde_verify(file, &config, &verify, &run.diag);
    char sha[65] = "";
    if (result == DW_OK) {
        result = image_sha256(file, sha, &run.diag);
    }
    if (result != DW_OK) {
        dw_cli_error_diag(cli, &run.diag);
        return dw_cli_exit_code(result);
    }
    print_report(&run, &config, &info, allocations, &verify, sha);
    if (!keep) {
        (void)unlink(file);
    }
    return run.mismatches == 0 && verify.problem_count == 0 ? DW_EXIT_OK : DW_EXIT_PROBLEMS;
}
