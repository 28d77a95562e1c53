/*
 * cmd_vde.c — the VDE from the command line: `dw vde create`, `dw vde inspect`,
 * `dw vde verify`, and the object commands `dw put`, `dw get`, `dw ls`, `dw rm`,
 * `dw stat`, `dw tag`.
 *
 * Each command opens the VDE with the effective configuration (--config, --set), does its
 * one thing and closes it, so the file is clean again when the command returns. Values
 * move in 64 KiB pieces (a streaming writer in, dw_read out): a value larger than memory
 * goes through the same way. Keys are taken as the bytes given on the command line and
 * printed with anything unprintable escaped as \xNN.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "core/text.h"

#define PIECE_BYTES (64u * 1024u)
#define TAG_TEXT_MAX 256
/* Keys are at most limits.key_length_max bytes, which the configuration caps below this. */
#define KEY_BYTES_MAX 65536

static int run_vde_create(dw_cli *cli, int argument_count, char **arguments);
static int run_vde_inspect(dw_cli *cli, int argument_count, char **arguments);
static int run_vde_verify(dw_cli *cli, int argument_count, char **arguments);
static int run_put(dw_cli *cli, int argument_count, char **arguments);
static int run_get(dw_cli *cli, int argument_count, char **arguments);
static int run_ls(dw_cli *cli, int argument_count, char **arguments);
static int run_rm(dw_cli *cli, int argument_count, char **arguments);
static int run_stat(dw_cli *cli, int argument_count, char **arguments);
static int run_tag(dw_cli *cli, int argument_count, char **arguments);

#define REFUSALS_TEXT                                                                       \
    "    An open that is refused exits with its own status: 4 not a DWVD file, 5 a newer\n" \
    "    format or an unknown incompatible feature, 6 a truncated file, 7 the VDE is\n"     \
    "    open in another process, 8 damaged data (see dw help for the full list).\n"

const dw_cli_command dw_command_vde_create = {
    .noun = "vde",
    .verb = "create",
    .synopsis = "dw vde create PATH --size SIZE [--block-size B] [--profile P] [--label TEXT] [--inodes N] [--force]",
    .summary = "create a new VDE file",
    .help =
        "DESCRIPTION\n"
        "    Creates a VDE of SIZE bytes at PATH: the superblock group and its mirror, the\n"
        "    emergency recovery block, the write-ahead log, the inode table and the\n"
        "    allocation groups, laid out as docs/FORMAT.md describes. The file is sparse\n"
        "    (thin provisioned): it takes disk space only as objects are stored. The\n"
        "    sizes of the log and the groups and the inode ratio come from the\n"
        "    configuration (vde.wal_size, vde.group_size, vde.inode_ratio).\n"
        "\n"
        "    An existing PATH is refused unless --force is given.\n"
        "\n"
        "OPTIONS\n"
        "    --size SIZE          the VDE's size, e.g. 1GiB (required)\n"
        "    --block-size B       512 to 65536, a power of two (default: the profile's)\n"
        "    --profile P          standard (WAL, groups, inodes, index, tags; 4 KiB blocks),\n"
        "                         minimal (the same without tags: smaller inodes), or edge\n"
        "                         (standard on 512-byte blocks, for small devices)\n"
        "    --label TEXT         a label of up to 63 bytes, shown by dw vde inspect\n"
        "    --inodes N           how many objects it can hold (default: SIZE / vde.inode_ratio)\n"
        "    --force              replace an existing file\n"
        "\n"
        "EXAMPLES\n"
        "    dw vde create /data/recorder.dwvd --size 4GiB\n"
        "    dw vde create /mnt/sd/edge.dwvd --size 64MiB --profile edge --label tail-unit-3\n",
    .run = run_vde_create,
};

const dw_cli_command dw_command_vde_inspect = {
    .noun = "vde",
    .verb = "inspect",
    .synopsis = "dw vde inspect PATH [--json]",
    .summary = "show a VDE's superblock, regions, modules, flags, health and usage",
    .help =
        "DESCRIPTION\n"
        "    Opens the VDE read-only and prints what its superblock says: format version,\n"
        "    identity, geometry, feature flags, modules, health (state, mounts, errors,\n"
        "    the last writer), the region directory, and how much of it is used. A VDE\n"
        "    that was not closed cleanly has its log replayed first, as any open would.\n"
        "\n" REFUSALS_TEXT
        "\n"
        "OPTIONS\n"
        "    --json    one JSON object instead of the text\n"
        "\n"
        "EXAMPLES\n"
        "    dw vde inspect /data/recorder.dwvd\n"
        "    dw vde inspect --json /data/recorder.dwvd | jq .usage\n",
    .run = run_vde_inspect,
};

const dw_cli_command dw_command_vde_verify = {
    .noun = "vde",
    .verb = "verify",
    .synopsis = "dw vde verify PATH [--json]",
    .summary = "check every block and structure of a VDE; name each damaged block",
    .help =
        "DESCRIPTION\n"
        "    Reads every block in use from the device (past the page cache) and checks:\n"
        "    each block's trailer (checksum at its address, type, and the generation its\n"
        "    parent records); both superblock copies, the emergency block and the size\n"
        "    sentinel; the inode and group bitmaps and their free counts; the key index\n"
        "    (levels, keys in order within and across nodes); every object's inode,\n"
        "    extent blocks and data blocks; and that no block is both free and in use,\n"
        "    none is used twice, none is leaked, and the engine's counts add up.\n"
        "\n"
        "    Each problem is printed with the block it concerns. Nothing is repaired and\n"
        "    nothing is written, except that a VDE which was not closed cleanly has its\n"
        "    log replayed first, as any open would. On a terminal a progress bar is shown\n"
        "    on standard error.\n"
        "\n"
        "    The exit status is 0 when the VDE is sound and 3 when problems were found.\n" REFUSALS_TEXT
        "\n"
        "OPTIONS\n"
        "    --json    one JSON object instead of the text\n"
        "\n"
        "EXAMPLES\n"
        "    dw vde verify /data/recorder.dwvd\n"
        "    dw vde verify --json /data/recorder.dwvd > verify.json\n",
    .run = run_vde_verify,
};

const dw_cli_command dw_command_put = {
    .noun = "put",
    .synopsis = "dw put PATH KEY [FILE|-]",
    .summary = "store an object (from FILE, or standard input)",
    .help =
        "DESCRIPTION\n"
        "    Stores the bytes of FILE (or standard input, when FILE is '-' or absent) as\n"
        "    the value of KEY in the VDE at PATH, replacing any value it had. The value is\n"
        "    streamed in 64 KiB pieces and committed atomically at the end: a failure or\n"
        "    an interruption leaves the old value (or no object) in place, never a part.\n"
        "    The commit is durable when the command returns (vde.durability=strict, the\n"
        "    default; under group durability the close makes it durable).\n"
        "\n"
        "EXAMPLES\n"
        "    dw put /data/recorder.dwvd flight/2026-11-21/fdr.bin fdr.bin\n"
        "    sensor-dump | dw put /data/recorder.dwvd sensors/latest -\n",
    .run = run_put,
};

const dw_cli_command dw_command_get = {
    .noun = "get",
    .synopsis = "dw get PATH KEY [-o FILE]",
    .summary = "write an object's value to standard output or a file",
    .help =
        "DESCRIPTION\n"
        "    Reads the value of KEY and writes it to standard output, or to FILE with -o.\n"
        "    With -o the value goes to a temporary file next to FILE which is renamed to\n"
        "    FILE only when the whole value has been read and checked, so FILE never\n"
        "    holds a partial or damaged value. Every block read is checked against its\n"
        "    checksum: damage is reported (exit status 8), never passed on as data.\n"
        "\n"
        "OPTIONS\n"
        "    -o, --output FILE    write the value to FILE instead of standard output\n"
        "\n"
        "EXAMPLES\n"
        "    dw get /data/recorder.dwvd flight/2026-11-21/fdr.bin -o fdr.bin\n"
        "    dw get /data/recorder.dwvd sensors/latest | hexdump -C | head\n",
    .run = run_get,
};

const dw_cli_command dw_command_ls = {
    .noun = "ls",
    .synopsis = "dw ls PATH [PREFIX] [-l] [--json]",
    .summary = "list keys in order, optionally those starting with PREFIX",
    .help =
        "DESCRIPTION\n"
        "    Lists the keys of the VDE in bytewise order, one per line; with PREFIX only\n"
        "    those that start with it. Unprintable bytes in keys are shown as \\xNN.\n"
        "\n"
        "OPTIONS\n"
        "    -l, --long    also the size in bytes, the time of the last change (UTC) and\n"
        "                  the generation\n"
        "    --json        one JSON array of objects (key, size, mtime_ns, generation)\n"
        "\n"
        "EXAMPLES\n"
        "    dw ls /data/recorder.dwvd\n"
        "    dw ls -l /data/recorder.dwvd flight/2026-11-21/\n",
    .run = run_ls,
};

const dw_cli_command dw_command_rm = {
    .noun = "rm",
    .synopsis = "dw rm PATH KEY",
    .summary = "delete an object",
    .help =
        "DESCRIPTION\n"
        "    Deletes KEY and its value, durably and atomically. A KEY that does not exist\n"
        "    is an error (exit status 2).\n"
        "\n"
        "EXAMPLES\n"
        "    dw rm /data/recorder.dwvd sensors/stale\n",
    .run = run_rm,
};

const dw_cli_command dw_command_stat = {
    .noun = "stat",
    .synopsis = "dw stat PATH KEY [--json]",
    .summary = "show an object's size, times, generation and layout",
    .help =
        "DESCRIPTION\n"
        "    Prints the size of KEY's value, when it was created and last changed (UTC;\n"
        "    logical time in a VDE written in deterministic mode), its generation, its\n"
        "    inode, how many extents hold it (0: inside the inode) and its tag bytes.\n"
        "\n"
        "OPTIONS\n"
        "    --json    one JSON object instead of the text\n"
        "\n"
        "EXAMPLES\n"
        "    dw stat /data/recorder.dwvd flight/2026-11-21/fdr.bin\n",
    .run = run_stat,
};

const dw_cli_command dw_command_tag = {
    .noun = "tag",
    .synopsis = "dw tag PATH KEY [NAME=VALUE | NAME=]...",
    .summary = "set, remove or list an object's small tags",
    .help =
        "DESCRIPTION\n"
        "    With NAME=VALUE arguments, sets each tag (NAME up to 32 bytes, VALUE up to\n"
        "    64; all of an object's tags together at most 128 bytes); NAME= removes a\n"
        "    tag. Each change is committed on its own, in the order given; the first that\n"
        "    fails stops the rest and is reported. Without arguments, prints the object's\n"
        "    tags, one NAME=VALUE per line.\n"
        "\n"
        "EXAMPLES\n"
        "    dw tag /data/recorder.dwvd flight/2026-11-21/fdr.bin aircraft=D-ABCD phase=cruise\n"
        "    dw tag /data/recorder.dwvd flight/2026-11-21/fdr.bin phase=\n"
        "    dw tag /data/recorder.dwvd flight/2026-11-21/fdr.bin\n",
    .run = run_tag,
};

/* ---- shared ------------------------------------------------------------------------------- */

/* The exit status for an engine error, the refusals of open each with their own. */
static int vde_exit_code(int error)
{
    switch (error) {
    case DW_ENOTVDE: return DW_EXIT_NOT_VDE;
    case DW_EVERSION: return DW_EXIT_VERSION;
    case DW_ETRUNCATED: return DW_EXIT_TRUNCATED;
    case DW_EBUSY: return DW_EXIT_LOCKED;
    case DW_ECORRUPT: return DW_EXIT_DAMAGED;
    default: return dw_cli_exit_code(error);
    }
}

static int fail(const dw_cli *cli, int error, const dw_diag *diag)
{
    dw_cli_error_diag(cli, diag);
    return vde_exit_code(error);
}

typedef enum open_mode {
    OPEN_WRITE,
    OPEN_READ_ONLY,
} open_mode;

/* Loads the effective configuration and opens PATH; on failure prints why and returns
 * the exit status. */
static int open_vde(dw_cli *cli, const char *path, open_mode mode, dw_vde **vde)
{
    static dw_config config;
    static dw_config_report report;
    int exit_code = dw_cli_load_config(cli, cli->config_path, &config, &report);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    dw_diag diag;
    dw_diag_clear(&diag);
    int result = mode == OPEN_READ_ONLY ? dw_vde_open_read_only(path, &config, vde, &diag)
                                        : dw_vde_open(path, &config, vde, &diag);
    return result == DW_OK ? DW_EXIT_OK : fail(cli, result, &diag);
}

/* Closes, folding a failure into the exit status (a failed close may have lost the
 * commits of a group-durable VDE: it must not pass silently). */
static int close_vde(dw_cli *cli, dw_vde *vde, int exit_code)
{
    dw_diag diag;
    dw_diag_clear(&diag);
    int result = dw_vde_close(vde, &diag);
    if (result != DW_OK) {
        int code = fail(cli, result, &diag);
        return exit_code == DW_EXIT_OK ? code : exit_code;
    }
    return exit_code;
}

static void print_key(FILE *out, const unsigned char *key, size_t length)
{
    for (size_t i = 0; i < length; i++) {
        unsigned char c = key[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            (void)fputc(c, out);
        } else {
            (void)fprintf(out, "\\x%02x", c);
        }
    }
}

/* A key as a JSON string: bytes that are not printable ASCII as \u00NN. */
static void json_key(FILE *out, const unsigned char *key, size_t length)
{
    (void)fputc('"', out);
    for (size_t i = 0; i < length; i++) {
        unsigned char c = key[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            (void)fputc(c, out);
        } else {
            (void)fprintf(out, "\\u%04x", c);
        }
    }
    (void)fputc('"', out);
}

/* "2026-11-21T10:00:00.123Z" for nanoseconds since the epoch. */
static const char *format_time(uint64_t ns, char *buffer, size_t size)
{
    time_t seconds = (time_t)(ns / DW_NS_PER_S);
    struct tm parts;
    if (gmtime_r(&seconds, &parts) == NULL) {
        (void)dw_format(buffer, size, "%llu ns", (unsigned long long)ns);
        return buffer;
    }
    char date[32];
    (void)strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &parts);
    (void)dw_format(buffer, size, "%s.%03lluZ", date, (unsigned long long)(ns % DW_NS_PER_S / 1000000));
    return buffer;
}

/* The positional arguments PATH KEY [third]; a usage error unless there are `minimum`. */
static int positional_arguments(dw_cli *cli, const dw_cli_command *command, int argument_count, char **arguments,
                                const dw_cli_option *options, size_t option_count, const char **positional,
                                size_t maximum, size_t minimum, size_t *count)
{
    int parsed = dw_cli_parse_options(cli, command, argument_count, arguments, options, option_count, positional,
                                      maximum, count);
    if (parsed == DW_EXIT_OK && *count < minimum) {
        parsed = dw_cli_usage_error(cli, command, "expected %s", command->synopsis + 3);
    }
    if (parsed == DW_EXIT_OK && maximum >= 2 && *count >= 2 && positional[1][0] == '\0') {
        parsed = dw_cli_usage_error(cli, command, "a KEY is at least one byte long");
    }
    return parsed;
}

/* The shape of inspect and verify: PATH [--json], then PATH opened in `mode`. */
static int open_path_json(dw_cli *cli, const dw_cli_command *command, int argument_count, char **arguments,
                          open_mode mode, bool *json, const char **path, dw_vde **vde)
{
    const dw_cli_option spec[] = {{"--json", json, NULL}};
    const char *positional[1] = {NULL};
    size_t count = 0;
    int parsed = positional_arguments(cli, command, argument_count, arguments, spec, 1, positional, 1, 1, &count);
    if (parsed != DW_EXIT_OK) {
        return parsed;
    }
    *path = positional[0];
    return open_vde(cli, *path, mode, vde);
}

/* ---- dw vde create --------------------------------------------------------------------- */

static int run_vde_create(dw_cli *cli, int argument_count, char **arguments)
{
    const dw_cli_command *command = &dw_command_vde_create;
    const char *size_text = NULL;
    const char *block_text = NULL;
    const char *profile_text = NULL;
    const char *label = NULL;
    const char *inodes_text = NULL;
    bool force = false;
    const dw_cli_option spec[] = {
        {"--size", NULL, &size_text},       {"--block-size", NULL, &block_text}, {"--profile", NULL, &profile_text},
        {"--label", NULL, &label},          {"--inodes", NULL, &inodes_text},    {"--force", &force, NULL},
    };
    const char *positional[1] = {NULL};
    size_t count = 0;
    int parsed = dw_cli_parse_options(cli, command, argument_count, arguments, spec, DW_ARRAY_COUNT(spec), positional,
                                      1, &count);
    if (parsed != DW_EXIT_OK) {
        return parsed;
    }
    if (count == 0) {
        return dw_cli_usage_error(cli, command, "expected the PATH of the new VDE");
    }
    dw_create_options options = {.label = label, .overwrite = force, .profile = DW_PROFILE_STANDARD};
    if (size_text == NULL) {
        return dw_cli_usage_error(cli, command, "--size is required (e.g. --size 1GiB)");
    }
    if (dw_parse_size(size_text, &options.size_bytes) != DW_OK) {
        return dw_cli_usage_error(cli, command, "--size takes a size such as 64MiB or 4GiB, not '%s'", size_text);
    }
    if (block_text != NULL) {
        uint64_t block = 0;
        if (dw_parse_size(block_text, &block) != DW_OK || block < DW_VDE_BLOCK_SIZE_MIN || block > DW_VDE_BLOCK_SIZE_MAX ||
            (block & (block - 1)) != 0) {
            return dw_cli_usage_error(cli, command,
                                      "--block-size takes a power of two from 512 to 65536 bytes, not '%s'",
                                      block_text);
        }
        options.block_size = (uint32_t)block;
    }
    if (profile_text != NULL) {
        if (strcmp(profile_text, "standard") == 0) {
            options.profile = DW_PROFILE_STANDARD;
        } else if (strcmp(profile_text, "minimal") == 0) {
            options.profile = DW_PROFILE_MINIMAL;
        } else if (strcmp(profile_text, "edge") == 0) {
            options.profile = DW_PROFILE_EDGE;
        } else {
            return dw_cli_usage_error(cli, command, "--profile is standard, minimal or edge, not '%s'", profile_text);
        }
    }
    if (label != NULL && strlen(label) > DW_VDE_LABEL_MAX) {
        return dw_cli_usage_error(cli, command, "--label takes at most %d bytes", DW_VDE_LABEL_MAX);
    }
    if (inodes_text != NULL) {
        parsed = dw_cli_parse_number(cli, command, "--inodes", inodes_text, 1, UINT32_MAX, &options.inode_count);
        if (parsed != DW_EXIT_OK) {
            return parsed;
        }
    }
    static dw_config config;
    static dw_config_report report;
    int exit_code = dw_cli_load_config(cli, cli->config_path, &config, &report);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    dw_diag diag;
    dw_diag_clear(&diag);
    int result = dw_vde_create(positional[0], &config, &options, &diag);
    if (result != DW_OK) {
        return fail(cli, result, &diag);
    }
    /* Say what was made, from the file itself. */
    dw_vde *vde = NULL;
    exit_code = open_vde(cli, positional[0], OPEN_READ_ONLY, &vde);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    static dw_vde_stats stats;
    result = dw_vde_stat(vde, &stats, &diag);
    if (result != DW_OK) {
        return close_vde(cli, vde, fail(cli, result, &diag));
    }
    char size[32];
    (void)fprintf(cli->out, "created %s: %s in %u-byte blocks, %llu inodes, %u allocation groups, uuid %s\n",
                  positional[0], dw_format_size(stats.block_count * stats.block_size, size, sizeof size),
                  stats.block_size, (unsigned long long)stats.inode_count, stats.group_count, stats.anchor);
    return close_vde(cli, vde, DW_EXIT_OK);
}

/* ---- dw vde inspect -------------------------------------------------------------------- */

/* The names dw_vde_stat gives, space-separated, as the text ("-" for none) or as the
 * elements of a JSON array. */
static void print_names(FILE *out, const char *names, bool json)
{
    if (!json) {
        (void)fputs(names[0] != '\0' ? names : "-", out);
        return;
    }
    bool first = true;
    for (const char *at = names; *at != '\0';) {
        size_t length = strcspn(at, " ");
        (void)fprintf(out, "%s\"%.*s\"", first ? "" : ",", (int)length, at);
        first = false;
        at += length;
        at += *at == ' ' ? 1 : 0;
    }
}

/* "2.0" for a (major << 8) | minor version. */
static const char *version_text(uint16_t version, char *buffer, size_t size)
{
    (void)dw_format(buffer, size, "%u.%u", (unsigned)version >> 8, (unsigned)version & 0xffu);
    return buffer;
}

static uint32_t shown_regions(const dw_vde_stats *stats)
{
    return stats->region_count < DW_VDE_REGIONS_MAX ? stats->region_count : DW_VDE_REGIONS_MAX;
}

static void inspect_text(FILE *out, const char *path, const dw_vde_stats *stats)
{
    char a[40];
    char b[40];
    char c[16];
    (void)fprintf(out, "VDE %s\n", path);
    (void)fprintf(out, "  format      %s (min reader %s, ", version_text(stats->format_version, a, sizeof a),
                  version_text(stats->min_reader_version, b, sizeof b));
    (void)fprintf(out, "min writer %s)\n", version_text(stats->min_writer_version, c, sizeof c));
    (void)fprintf(out, "  identity    %s  label '%s'\n", stats->anchor, stats->label);
    (void)fprintf(out, "  geometry    %s: %llu blocks of %u bytes (superblock units of %u)\n",
                  dw_format_size(stats->block_count * stats->block_size, a, sizeof a),
                  (unsigned long long)stats->block_count, stats->block_size, stats->unit_size);
    (void)fputs("  features    incompat: ", out);
    print_names(out, stats->incompat_names, false);
    (void)fputs("; ro_compat: ", out);
    print_names(out, stats->ro_compat_names, false);
    (void)fputs("; compat: ", out);
    print_names(out, stats->compat_names, false);
    (void)fprintf(out, "\n  modules     0x%08x:", stats->module_manifest);
    for (uint32_t m = 0; m < stats->module_count; m++) {
        (void)fprintf(out, " %s(config %u)", stats->modules[m].name, stats->modules[m].config);
    }
    (void)fprintf(out, "\n  health      %s, mounted %llu times, %llu errors, created %s\n", stats->state,
                  (unsigned long long)stats->mount_count, (unsigned long long)stats->error_count,
                  format_time(stats->created_ns, a, sizeof a));
    (void)fprintf(out, "  last writer %s pid %u session %016llx at %s\n", stats->writer_node, stats->writer_pid,
                  (unsigned long long)stats->writer_session, format_time(stats->writer_time_ns, b, sizeof b));
    (void)fprintf(out, "  sequence    %llu; checkpoint at log block %llu, transaction %llu; next generation %llu\n",
                  (unsigned long long)stats->sequence, (unsigned long long)stats->checkpoint_lsn,
                  (unsigned long long)stats->checkpoint_seq, (unsigned long long)stats->generation_next);
    (void)fputs("  regions     type              first block       blocks        param\n", out);
    for (uint32_t i = 0; i < shown_regions(stats); i++) {
        const dw_vde_region *region = &stats->regions[i];
        (void)fprintf(out, "              %-14s %14llu %14llu %12llu\n", region->type, (unsigned long long)region->start,
                      (unsigned long long)region->count, (unsigned long long)region->param);
    }
    (void)fprintf(out, "  usage       %llu objects; inodes %llu of %llu; blocks %llu of %llu in %u groups (%s of %s)\n",
                  (unsigned long long)stats->object_count, (unsigned long long)stats->inodes_used,
                  (unsigned long long)stats->inode_count, (unsigned long long)stats->data_blocks_used,
                  (unsigned long long)stats->group_blocks, stats->group_count,
                  dw_format_size_human(stats->data_bytes_used, a, sizeof a),
                  dw_format_size_human(stats->group_blocks * stats->block_size, b, sizeof b));
    (void)fprintf(out, "  index       %u levels, root block %llu\n", stats->index_height,
                  (unsigned long long)stats->index_root);
    (void)fprintf(out, "  log         %llu blocks; %llu records replayed at this open%s",
                  (unsigned long long)stats->wal_blocks, (unsigned long long)stats->recovered_records,
                  stats->truncated_tail ? ", a torn tail cut off" : "");
    if (stats->log_rereads > 0) {
        /* A block that failed its check once and passed the second time: the device or
         * its path returned something the block does not hold. */
        (void)fprintf(out, "; %llu log blocks read wrong once (right the second time): check the device",
                      (unsigned long long)stats->log_rereads);
    }
    (void)fprintf(out, "\n");
}

static void inspect_json(FILE *out, const char *path, const dw_vde_stats *stats)
{
    char a[16];
    char b[16];
    char c[16];
    (void)fputs("{\"path\":", out);
    dw_cli_json_string(out, path);
    (void)fprintf(out, ",\"format\":{\"version\":\"%s\",\"min_reader\":\"%s\",\"min_writer\":\"%s\"}",
                  version_text(stats->format_version, a, sizeof a), version_text(stats->min_reader_version, b, sizeof b),
                  version_text(stats->min_writer_version, c, sizeof c));
    (void)fputs(",\"anchor\":", out);
    dw_cli_json_string(out, stats->anchor);
    (void)fputs(",\"label\":", out);
    dw_cli_json_string(out, stats->label);
    (void)fprintf(out, ",\"block_size\":%u,\"block_count\":%llu,\"unit_size\":%u", stats->block_size,
                  (unsigned long long)stats->block_count, stats->unit_size);
    (void)fputs(",\"features\":{\"incompat\":[", out);
    print_names(out, stats->incompat_names, true);
    (void)fputs("],\"ro_compat\":[", out);
    print_names(out, stats->ro_compat_names, true);
    (void)fputs("],\"compat\":[", out);
    print_names(out, stats->compat_names, true);
    (void)fprintf(out, "]},\"modules\":{\"manifest\":%u,\"enabled\":[", stats->module_manifest);
    for (uint32_t m = 0; m < stats->module_count; m++) {
        (void)fprintf(out, "%s{\"name\":\"%s\",\"config\":%u}", m == 0 ? "" : ",", stats->modules[m].name,
                      stats->modules[m].config);
    }
    (void)fprintf(out,
                  "]},\"health\":{\"state\":\"%s\",\"mount_count\":%llu,\"error_count\":%llu,\"created_ns\":%llu,"
                  "\"clean_close_ns\":%llu},",
                  stats->state, (unsigned long long)stats->mount_count, (unsigned long long)stats->error_count,
                  (unsigned long long)stats->created_ns, (unsigned long long)stats->clean_close_ns);
    (void)fputs("\"last_writer\":{\"node\":", out);
    dw_cli_json_string(out, stats->writer_node);
    (void)fprintf(out, ",\"pid\":%u,\"session\":%llu,\"time_ns\":%llu},", stats->writer_pid,
                  (unsigned long long)stats->writer_session, (unsigned long long)stats->writer_time_ns);
    (void)fprintf(out,
                  "\"sequence\":%llu,\"checkpoint_lsn\":%llu,\"checkpoint_seq\":%llu,\"generation_next\":%llu,"
                  "\"regions\":[",
                  (unsigned long long)stats->sequence, (unsigned long long)stats->checkpoint_lsn,
                  (unsigned long long)stats->checkpoint_seq, (unsigned long long)stats->generation_next);
    for (uint32_t i = 0; i < shown_regions(stats); i++) {
        const dw_vde_region *region = &stats->regions[i];
        (void)fprintf(out, "%s{\"type\":\"%s\",\"start\":%llu,\"count\":%llu,\"param\":%llu}", i == 0 ? "" : ",",
                      region->type, (unsigned long long)region->start, (unsigned long long)region->count,
                      (unsigned long long)region->param);
    }
    (void)fprintf(out,
                  "],\"usage\":{\"objects\":%llu,\"inodes_used\":%llu,\"inodes\":%llu,\"blocks_used\":%llu,"
                  "\"group_blocks\":%llu,\"groups\":%u,\"index_height\":%u},\"log\":{\"blocks\":%llu,"
                  "\"recovered_records\":%llu,\"truncated_tail\":%s,\"log_rereads\":%llu}}\n",
                  (unsigned long long)stats->object_count, (unsigned long long)stats->inodes_used,
                  (unsigned long long)stats->inode_count, (unsigned long long)stats->data_blocks_used,
                  (unsigned long long)stats->group_blocks, stats->group_count, stats->index_height,
                  (unsigned long long)stats->wal_blocks, (unsigned long long)stats->recovered_records,
                  stats->truncated_tail ? "true" : "false", (unsigned long long)stats->log_rereads);
}

static int run_vde_inspect(dw_cli *cli, int argument_count, char **arguments)
{
    bool json = false;
    const char *path = NULL;
    dw_vde *vde = NULL;
    int exit_code = open_path_json(cli, &dw_command_vde_inspect, argument_count, arguments, OPEN_READ_ONLY, &json, &path, &vde);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    static dw_vde_stats stats;
    dw_diag diag;
    dw_diag_clear(&diag);
    int result = dw_vde_stat(vde, &stats, &diag);
    if (result != DW_OK) {
        return close_vde(cli, vde, fail(cli, result, &diag));
    }
    if (json) {
        inspect_json(cli->out, path, &stats);
    } else {
        inspect_text(cli->out, path, &stats);
    }
    return close_vde(cli, vde, DW_EXIT_OK);
}

/* ---- dw vde verify --------------------------------------------------------------------- */

static void progress_bar(void *context, uint64_t done, uint64_t total)
{
    FILE *err = context;
    if (total < done) {
        total = done;
    }
    uint32_t width = 40;
    uint32_t filled = total == 0 ? width : (uint32_t)(done * width / total);
    char bar[48];
    for (uint32_t i = 0; i < width; i++) {
        bar[i] = i < filled ? '#' : '.';
    }
    bar[width] = '\0';
    (void)fprintf(err, "\rverify [%s] %3u%% %llu blocks", bar, total == 0 ? 100u : (unsigned)(done * 100 / total),
                  (unsigned long long)done);
    (void)fflush(err);
}

static void verify_json(FILE *out, const char *path, const dw_vde_verify_report *report)
{
    (void)fputs("{\"path\":", out);
    dw_cli_json_string(out, path);
    (void)fprintf(out, ",\"status\":\"%s\",\"blocks_checked\":%llu,\"objects\":%llu,\"bytes\":%llu,\"types\":{",
                  report->problem_count == 0 ? "clean" : "problems", (unsigned long long)report->blocks_checked,
                  (unsigned long long)report->objects, (unsigned long long)report->bytes);
    for (uint32_t i = 0; i < report->type_count; i++) {
        (void)fprintf(out, "%s\"%s\":%llu", i == 0 ? "" : ",", report->types[i].type,
                      (unsigned long long)report->types[i].blocks);
    }
    (void)fprintf(out, "},\"problem_count\":%llu,\"problems\":[", (unsigned long long)report->problem_count);
    for (uint32_t i = 0; i < report->problems_kept; i++) {
        const dw_vde_verify_problem *problem = &report->problems[i];
        if (problem->block == DW_VDE_NO_BLOCK) {
            (void)fprintf(out, "%s{\"block\":null,\"what\":", i == 0 ? "" : ",");
        } else {
            (void)fprintf(out, "%s{\"block\":%llu,\"type\":\"%s\",\"what\":", i == 0 ? "" : ",",
                          (unsigned long long)problem->block, problem->type);
        }
        dw_cli_json_string(out, problem->what);
        (void)fputc('}', out);
    }
    (void)fputs("]}\n", out);
}

static void verify_text(FILE *out, const char *path, const dw_vde_verify_report *report)
{
    char bytes[32];
    char memory[32];
    (void)fprintf(out, "verify %s: %llu blocks checked, %llu objects, %s of values, %s of memory\n", path,
                  (unsigned long long)report->blocks_checked, (unsigned long long)report->objects,
                  dw_format_size_human(report->bytes, bytes, sizeof bytes),
                  dw_format_size_human(report->memory_bytes, memory, sizeof memory));
    (void)fputs("  blocks by type:", out);
    for (uint32_t i = 0; i < report->type_count; i++) {
        (void)fprintf(out, " %s %llu", report->types[i].type, (unsigned long long)report->types[i].blocks);
    }
    (void)fputc('\n', out);
    for (uint32_t i = 0; i < report->problems_kept; i++) {
        const dw_vde_verify_problem *problem = &report->problems[i];
        bool typed = problem->type[0] != '\0';
        if (problem->block == DW_VDE_NO_BLOCK) {
            (void)fprintf(out, "  problem: %s\n", problem->what);
        } else {
            (void)fprintf(out, "  problem: block %llu%s%s%s: %s\n", (unsigned long long)problem->block,
                          typed ? " (" : "", problem->type, typed ? ")" : "", problem->what);
        }
    }
    if (report->problem_count > report->problems_kept) {
        (void)fprintf(out, "  ... and %llu more problems\n",
                      (unsigned long long)(report->problem_count - report->problems_kept));
    }
    (void)fprintf(out, "%s: %s\n", path, report->problem_count == 0 ? "clean" : "PROBLEMS FOUND (exit status 3)");
}

static int run_vde_verify(dw_cli *cli, int argument_count, char **arguments)
{
    bool json = false;
    const dw_cli_option spec[] = {{"--json", &json, NULL}};
    const char *positional[1] = {NULL};
    size_t count = 0;
    int exit_code = positional_arguments(cli, &dw_command_vde_verify, argument_count, arguments, spec, 1, positional,
                                         1, 1, &count);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    const char *path = positional[0];
    static dw_config config;
    static dw_config_report config_report;
    exit_code = dw_cli_load_config(cli, cli->config_path, &config, &config_report);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    static dw_vde_verify_report report;
    memset(&report, 0, sizeof report);
    bool terminal = isatty(fileno(cli->err)) == 1;
    if (terminal) {
        report.progress = progress_bar;
        report.context = cli->err;
    }
    dw_diag diag;
    dw_diag_clear(&diag);
    int result = dw_vde_verify(path, &config, &report, &diag);
    if (terminal) {
        (void)fputc('\n', cli->err);
    }
    if (result != DW_OK) {
        return fail(cli, result, &diag);
    }
    if (json) {
        verify_json(cli->out, path, &report);
    } else {
        verify_text(cli->out, path, &report);
    }
    return report.problem_count == 0 ? DW_EXIT_OK : DW_EXIT_PROBLEMS;
}

/* ---- dw put ------------------------------------------------------------------------------ */

static int run_put(dw_cli *cli, int argument_count, char **arguments)
{
    const char *positional[3] = {NULL, NULL, NULL};
    size_t count = 0;
    int parsed = positional_arguments(cli, &dw_command_put, argument_count, arguments, NULL, 0, positional, 3, 2,
                                      &count);
    if (parsed != DW_EXIT_OK) {
        return parsed;
    }
    const char *source = count == 3 ? positional[2] : "-";
    bool from_stdin = strcmp(source, "-") == 0;
    FILE *input = from_stdin ? stdin : fopen(source, "rb");
    if (input == NULL) {
        int error_number = errno;
        dw_cli_error(cli, "check the path", "cannot open '%s': %s", source, strerror(error_number));
        return error_number == ENOENT ? DW_EXIT_USAGE : DW_EXIT_FAILURE;
    }
    dw_vde *vde = NULL;
    int exit_code = open_vde(cli, positional[0], OPEN_WRITE, &vde);
    if (exit_code != DW_EXIT_OK) {
        if (!from_stdin) {
            (void)fclose(input);
        }
        return exit_code;
    }
    static unsigned char piece[PIECE_BYTES];
    dw_diag diag;
    dw_diag_clear(&diag);
    dw_writer *writer = NULL;
    const char *key = positional[1];
    int result = dw_writer_open(vde, key, strlen(key), NULL, &writer, &diag);
    while (result == DW_OK) {
        size_t got = fread(piece, 1, sizeof piece, input);
        if (got > 0) {
            result = dw_writer_write(writer, piece, got, &diag);
        }
        if (got < sizeof piece) {
            if (ferror(input)) {
                result = dw_diag_fail(&diag, DW_EIO, "nothing was stored", "reading '%s' failed", source);
            }
            break;
        }
    }
    if (result == DW_OK) {
        result = dw_writer_commit(writer, &diag);
    } else if (writer != NULL) {
        dw_writer_abort(writer);
    }
    if (!from_stdin) {
        (void)fclose(input);
    }
    return close_vde(cli, vde, result == DW_OK ? DW_EXIT_OK : fail(cli, result, &diag));
}

/* ---- dw get ------------------------------------------------------------------------------ */

static int run_get(dw_cli *cli, int argument_count, char **arguments)
{
    const char *output = NULL;
    const dw_cli_option spec[] = {{"-o|--output", NULL, &output}};
    const char *positional[2] = {NULL, NULL};
    size_t count = 0;
    int parsed = positional_arguments(cli, &dw_command_get, argument_count, arguments, spec, 1, positional, 2, 2,
                                      &count);
    if (parsed != DW_EXIT_OK) {
        return parsed;
    }
    dw_vde *vde = NULL;
    int exit_code = open_vde(cli, positional[0], OPEN_READ_ONLY, &vde);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    const char *key = positional[1];
    dw_diag diag;
    dw_diag_clear(&diag);
    dw_object_stat stat;
    int result = dw_stat(vde, key, strlen(key), &stat, NULL, &diag);
    if (result != DW_OK) {
        return close_vde(cli, vde, fail(cli, result, &diag));
    }
    char temporary[DW_CONFIG_PATH_MAX + 32];
    FILE *out = cli->out;
    if (output != NULL) {
        if (!dw_format(temporary, sizeof temporary, "%s.dw-partial", output)) {
            dw_cli_error(cli, NULL, "the output path '%s' is too long", output);
            return close_vde(cli, vde, DW_EXIT_USAGE);
        }
        out = fopen(temporary, "wb");
        if (out == NULL) {
            int error_number = errno;
            dw_cli_error(cli, "check the directory", "cannot create '%s': %s", temporary, strerror(error_number));
            return close_vde(cli, vde, DW_EXIT_FAILURE);
        }
    }
    static unsigned char piece[PIECE_BYTES];
    uint64_t offset = 0;
    while (result == DW_OK && offset < stat.size) {
        size_t got = 0;
        result = dw_read(vde, key, strlen(key), offset, piece, sizeof piece, &got, NULL, &diag);
        if (result == DW_OK && got == 0) {
            result = dw_diag_fail(&diag, DW_ECORRUPT, "run dw vde verify",
                                  "'%s': the value of '%s' ended at %llu bytes of the %llu its inode records",
                                  positional[0], key, (unsigned long long)offset, (unsigned long long)stat.size);
        }
        if (result == DW_OK && fwrite(piece, 1, got, out) != got) {
            result = dw_diag_fail(&diag, DW_EIO, "check the space left", "writing the value out failed");
        }
        offset += got;
    }
    if (output != NULL) {
        bool written = fflush(out) == 0 && fsync(fileno(out)) == 0;
        written = fclose(out) == 0 && written;
        if (result == DW_OK && !written) {
            result = dw_diag_fail(&diag, DW_EIO, "check the space left", "writing '%s' failed", temporary);
        }
        if (result == DW_OK && rename(temporary, output) != 0) {
            int error_number = errno;
            result = dw_diag_fail(&diag, DW_EIO, NULL, "cannot rename '%s' to '%s': %s", temporary, output,
                                  strerror(error_number));
        }
        if (result != DW_OK) {
            (void)unlink(temporary);
        }
    } else if (fflush(out) != 0 && result == DW_OK) {
        result = dw_diag_fail(&diag, DW_EIO, NULL, "writing to standard output failed");
    }
    return close_vde(cli, vde, result == DW_OK ? DW_EXIT_OK : fail(cli, result, &diag));
}

/* ---- dw ls ------------------------------------------------------------------------------- */

static int run_ls(dw_cli *cli, int argument_count, char **arguments)
{
    bool long_format = false;
    bool json = false;
    const dw_cli_option spec[] = {{"-l|--long", &long_format, NULL}, {"--json", &json, NULL}};
    const char *positional[2] = {NULL, NULL};
    size_t count = 0;
    int parsed = dw_cli_parse_options(cli, &dw_command_ls, argument_count, arguments, spec, DW_ARRAY_COUNT(spec),
                                      positional, 2, &count);
    if (parsed == DW_EXIT_OK && count == 0) {
        parsed = dw_cli_usage_error(cli, &dw_command_ls, "expected the PATH of a VDE");
    }
    if (parsed != DW_EXIT_OK) {
        return parsed;
    }
    const char *prefix = count == 2 ? positional[1] : "";
    dw_vde *vde = NULL;
    int exit_code = open_vde(cli, positional[0], OPEN_READ_ONLY, &vde);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    dw_diag diag;
    dw_diag_clear(&diag);
    dw_iter *iter = NULL;
    int result = dw_iter_open(vde, prefix, strlen(prefix), &iter, &diag);
    static unsigned char key[KEY_BYTES_MAX];
    uint64_t listed = 0;
    if (json && result == DW_OK) {
        (void)fputc('[', cli->out);
    }
    while (result == DW_OK) {
        size_t key_length = 0;
        dw_object_stat stat;
        result = dw_iter_next(iter, key, sizeof key, &key_length, &stat, &diag);
        if (result != DW_OK) {
            break;
        }
        if (json) {
            (void)fputs(listed == 0 ? "{\"key\":" : ",{\"key\":", cli->out);
            json_key(cli->out, key, key_length);
            (void)fprintf(cli->out, ",\"size\":%llu,\"mtime_ns\":%llu,\"generation\":%u}",
                          (unsigned long long)stat.size, (unsigned long long)stat.mtime_ns, stat.generation);
        } else if (long_format) {
            char when[40];
            (void)fprintf(cli->out, "%14llu  %s  %8u  ", (unsigned long long)stat.size,
                          format_time(stat.mtime_ns, when, sizeof when), stat.generation);
            print_key(cli->out, key, key_length);
            (void)fputc('\n', cli->out);
        } else {
            print_key(cli->out, key, key_length);
            (void)fputc('\n', cli->out);
        }
        listed++;
    }
    if (iter != NULL) {
        dw_iter_close(iter);
    }
    if (json && (result == DW_OK || result == DW_ENOENT)) {
        (void)fputs("]\n", cli->out);
    }
    if (result == DW_ENOENT) {
        result = DW_OK;
    }
    return close_vde(cli, vde, result == DW_OK ? DW_EXIT_OK : fail(cli, result, &diag));
}

/* ---- dw rm, dw stat ------------------------------------------------------------------------ */

static int run_rm(dw_cli *cli, int argument_count, char **arguments)
{
    const char *positional[2] = {NULL, NULL};
    size_t count = 0;
    int parsed = positional_arguments(cli, &dw_command_rm, argument_count, arguments, NULL, 0, positional, 2, 2,
                                      &count);
    if (parsed != DW_EXIT_OK) {
        return parsed;
    }
    dw_vde *vde = NULL;
    int exit_code = open_vde(cli, positional[0], OPEN_WRITE, &vde);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    dw_diag diag;
    dw_diag_clear(&diag);
    int result = dw_delete(vde, positional[1], strlen(positional[1]), NULL, &diag);
    return close_vde(cli, vde, result == DW_OK ? DW_EXIT_OK : fail(cli, result, &diag));
}

static int run_stat(dw_cli *cli, int argument_count, char **arguments)
{
    bool json = false;
    const dw_cli_option spec[] = {{"--json", &json, NULL}};
    const char *positional[2] = {NULL, NULL};
    size_t count = 0;
    int parsed = positional_arguments(cli, &dw_command_stat, argument_count, arguments, spec, 1, positional, 2, 2,
                                      &count);
    if (parsed != DW_EXIT_OK) {
        return parsed;
    }
    dw_vde *vde = NULL;
    int exit_code = open_vde(cli, positional[0], OPEN_READ_ONLY, &vde);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    dw_diag diag;
    dw_diag_clear(&diag);
    dw_object_stat stat;
    const char *key = positional[1];
    int result = dw_stat(vde, key, strlen(key), &stat, NULL, &diag);
    if (result == DW_OK && json) {
        (void)fputs("{\"key\":", cli->out);
        json_key(cli->out, (const unsigned char *)key, strlen(key));
        (void)fprintf(cli->out,
                      ",\"size\":%llu,\"ctime_ns\":%llu,\"mtime_ns\":%llu,\"generation\":%u,\"inode\":%llu,"
                      "\"extents\":%u,\"tag_bytes\":%u}\n",
                      (unsigned long long)stat.size, (unsigned long long)stat.ctime_ns,
                      (unsigned long long)stat.mtime_ns, stat.generation, (unsigned long long)stat.inode,
                      stat.extent_count, stat.tag_bytes);
    } else if (result == DW_OK) {
        char created[40];
        char changed[40];
        (void)fputs("key         ", cli->out);
        print_key(cli->out, (const unsigned char *)key, strlen(key));
        (void)fprintf(cli->out,
                      "\nsize        %llu bytes\ncreated     %s\nchanged     %s\ngeneration  %u\ninode       %llu\n"
                      "extents     %u%s\ntags        %u bytes\n",
                      (unsigned long long)stat.size, format_time(stat.ctime_ns, created, sizeof created),
                      format_time(stat.mtime_ns, changed, sizeof changed), stat.generation,
                      (unsigned long long)stat.inode, stat.extent_count,
                      stat.extent_count == 0 ? " (the value is held in the inode)" : "", stat.tag_bytes);
    }
    return close_vde(cli, vde, result == DW_OK ? DW_EXIT_OK : fail(cli, result, &diag));
}

/* ---- dw tag -------------------------------------------------------------------------------- */

static int run_tag(dw_cli *cli, int argument_count, char **arguments)
{
    const char *positional[DW_CLI_ARGUMENTS_MAX] = {NULL};
    size_t count = 0;
    int parsed = positional_arguments(cli, &dw_command_tag, argument_count, arguments, NULL, 0, positional,
                                      DW_CLI_ARGUMENTS_MAX, 2, &count);
    for (size_t i = 2; parsed == DW_EXIT_OK && i < count; i++) {
        const char *equals = strchr(positional[i], '=');
        if (equals == NULL || equals == positional[i]) {
            parsed = dw_cli_usage_error(cli, &dw_command_tag, "'%s' is not NAME=VALUE (or NAME= to remove)",
                                        positional[i]);
        }
    }
    if (parsed != DW_EXIT_OK) {
        return parsed;
    }
    dw_vde *vde = NULL;
    int exit_code = open_vde(cli, positional[0], count > 2 ? OPEN_WRITE : OPEN_READ_ONLY, &vde);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    const char *key = positional[1];
    size_t key_length = strlen(key);
    dw_diag diag;
    dw_diag_clear(&diag);
    int result = DW_OK;
    if (count == 2) {
        static char text[1024];
        result = dw_tags(vde, key, key_length, text, sizeof text, NULL, &diag);
        if (result == DW_OK) {
            (void)fputs(text, cli->out);
        }
        return close_vde(cli, vde, result == DW_OK ? DW_EXIT_OK : fail(cli, result, &diag));
    }
    for (size_t i = 2; result == DW_OK && i < count; i++) {
        char name[TAG_TEXT_MAX];
        const char *equals = strchr(positional[i], '=');
        size_t name_length = (size_t)(equals - positional[i]);
        if (name_length >= sizeof name) {
            result = dw_diag_fail(&diag, DW_EINVAL, "use a name of at most 32 bytes", "tag name '%.40s...' is too long",
                                  positional[i]);
            break;
        }
        memcpy(name, positional[i], name_length);
        name[name_length] = '\0';
        result = dw_tag_set(vde, key, key_length, name, equals[1] == '\0' ? NULL : equals + 1, NULL, &diag);
        if (result == DW_ENOENT && equals[1] == '\0') {
            dw_diag_clear(&diag);
            result = DW_OK; /* removing a tag that is not there */
        }
    }
    return close_vde(cli, vde, result == DW_OK ? DW_EXIT_OK : fail(cli, result, &diag));
}
