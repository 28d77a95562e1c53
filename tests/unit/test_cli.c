/*
 * test_cli.c — the `dw` command as a user meets it: help, version, exit codes, one-line
 * errors with hints, config check and show, the demo, the VDE commands, the budget
 * table; in-process through dw_cli_main, and through the real binary for the program's
 * own wiring. dw-bench's commands are test_bench.c's.
 */
#include "harness.h"

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"

extern char **environ;

typedef struct cli_run {
    int exit_code;
    char out[65536];
    char err[16384];
} cli_run;

static cli_run run_result;

/* Runs dw with the NULL-terminated arguments after "dw"; the result is in run_result. */
static const cli_run *run_dw(const char *first, ...)
{
    char *argv[DW_CLI_ARGUMENTS_MAX + 2];
    int argc = 0;
    argv[argc++] = (char *)"dw";
    va_list arguments;
    va_start(arguments, first);
    for (const char *argument = first; argument != NULL; argument = va_arg(arguments, const char *)) {
        assert_true(argc < DW_CLI_ARGUMENTS_MAX);
        argv[argc++] = (char *)argument;
    }
    va_end(arguments);
    argv[argc] = NULL;
    FILE *out = tmpfile();
    FILE *err = tmpfile();
    assert_non_null(out);
    assert_non_null(err);
    run_result.exit_code = dw_cli_main(argc, argv, out, err);
    dw_test_read_stream(out, run_result.out, sizeof run_result.out);
    dw_test_read_stream(err, run_result.err, sizeof run_result.err);
    (void)fclose(out);
    (void)fclose(err);
    return &run_result;
}

#define assert_contains(haystack, needle)                                                  \
    do {                                                                                   \
        if (strstr((haystack), (needle)) == NULL) {                                        \
            fail_msg("expected to find \"%s\" in:\n%s", (needle), (haystack));            \
        }                                                                                  \
    } while (0)

static void version_is_printed(void **state)
{
    (void)state;
    const cli_run *run = run_dw("--version", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_contains(run->out, "dw (dwvd) " DW_VERSION_STRING);
    assert_string_equal(run->err, "");
    assert_int_equal(run_dw("-V", NULL)->exit_code, DW_EXIT_OK);
    assert_int_equal(run_dw("version", NULL)->exit_code, DW_EXIT_OK);
    assert_contains(run_result.out, DW_VERSION_STRING);
}

static void main_help_is_a_manual(void **state)
{
    (void)state;
    const cli_run *run = run_dw("--help", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    const char *sections[] = {"NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "GLOBAL OPTIONS",
                              "EXIT STATUS", "ENVIRONMENT", "EXAMPLES", "config check",
                              "config show", "demo", "DW_LOG_LEVEL", "--set"};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        assert_contains(run->out, sections[i]);
    }
    assert_int_equal(run_dw("-h", NULL)->exit_code, DW_EXIT_OK);
    assert_int_equal(run_dw("help", NULL)->exit_code, DW_EXIT_OK);
    assert_contains(run_result.out, "COMMANDS");
}

static void every_command_has_help_with_examples(void **state)
{
    (void)state;
    const cli_run *run = run_dw("config", "--help", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_contains(run->out, "VERBS");
    assert_contains(run->out, "check");
    assert_contains(run->out, "show");
    const char *commands[][2] = {
        {"config", "check"}, {"config", "show"},   {"demo", NULL},      {"wcet", NULL},
        {"replay", "compare"}, {"replay", "show"}, {"replay", "verify"},
        {"vde", "create"},   {"vde", "inspect"},   {"vde", "verify"},   {"put", NULL},
        {"get", NULL},       {"ls", NULL},         {"rm", NULL},        {"stat", NULL},
        {"tag", NULL},       {"help", NULL},       {"version", NULL}};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        run = run_dw(commands[i][0], commands[i][1] != NULL ? commands[i][1] : "--help",
                     commands[i][1] != NULL ? "--help" : NULL, NULL);
        assert_int_equal(run->exit_code, DW_EXIT_OK);
        assert_contains(run->out, "NAME");
        assert_contains(run->out, "SYNOPSIS");
        assert_contains(run->out, "DESCRIPTION");
        assert_contains(run->out, "EXIT STATUS");
    }
    run = run_dw("config", "check", "--help", NULL);
    assert_contains(run->out, "EXAMPLES");
    assert_contains(run->out, "FILE:LINE");
    run = run_dw("help", "config", "check", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_contains(run->out, "dw config check -");
}

static void unknown_commands_exit_2_with_a_hint(void **state)
{
    (void)state;
    const cli_run *run = run_dw("frobnicate", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_string_equal(run->out, "");
    assert_string_equal(run->err, "dw: unknown command 'frobnicate'\n"
                                  "hint: run 'dw --help' for the list of commands\n");
    run = run_dw("confg", "check", "x.ini", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "did you mean 'dw config'?");
    run = run_dw("config", "chek", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "unknown verb 'chek'");
    assert_contains(run->err, "did you mean 'dw config check'?");
    run = run_dw("config", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "'dw config' needs a verb");
    assert_contains(run->err, "check, show");
    run = run_dw(NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "no command given");
    assert_contains(run->err, "hint: ");
    run = run_dw("--frob", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "unknown option '--frob'");
    run = run_dw("config", "show", "--frob", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "unknown option '--frob'");
    assert_contains(run->err, "hint: run 'dw config show --help'");
    run = run_dw("--set", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "option '--set' needs a value");
    run = run_dw("help", "nothing", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
}

typedef struct cli_fixture {
    dw_test_dir dir;
    char path[512];
} cli_fixture;

static int fixture_setup(void **state)
{
    static cli_fixture fixture;
    dw_test_dir_create(&fixture.dir);
    dw_test_path(&fixture.dir, "recorder.ini", fixture.path, sizeof fixture.path);
    (void)unsetenv("DW_LOG_LEVEL");
    *state = &fixture;
    return 0;
}

static int fixture_teardown(void **state)
{
    cli_fixture *fixture = *state;
    dw_test_dir_remove(&fixture->dir);
    (void)unsetenv("DW_LOG_LEVEL");
    return 0;
}

static void config_check_lists_three_mistakes_and_exits_2(void **state)
{
    cli_fixture *fixture = *state;
    dw_test_write_file(fixture->path, "[vde]\n"
                                      "block_size = 3000\n"
                                      "[io]\n"
                                      "queue_depht = 64\n"
                                      "[memory]\n"
                                      "lock = perhaps\n");
    const cli_run *run = run_dw("config", "check", fixture->path, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    char expected[4096];
    (void)snprintf(expected, sizeof expected,
                   "%s:2: vde.block_size = '3000': out of range: must be between 512 and 64KiB and "
                   "a power of two\n"
                   "%s:4: io.queue_depht = '64': unknown key: no such key in section [io]; did you "
                   "mean 'queue_depth'?\n"
                   "%s:6: memory.lock = 'perhaps': wrong type: expected true or false (or yes/no, "
                   "on/off, 1/0)\n"
                   "%s: 3 problems found\n",
                   fixture->path, fixture->path, fixture->path, fixture->path);
    assert_string_equal(run->err, expected);
    assert_string_equal(run->out, "");
}

static void config_check_of_a_good_file_exits_0(void **state)
{
    cli_fixture *fixture = *state;
    dw_test_write_file(fixture->path, "[memory]\nceiling = 128MiB\n[io]\nqueue_depth = 64\n");
    const cli_run *run = run_dw("config", "check", fixture->path, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_string_equal(run->err, "");
    assert_contains(run->out, ": ok: 2 of 38 keys set");
    assert_contains(run->out, "5MiB of the 128MiB memory ceiling (3.9%)");
    /* --config names the file as well as an argument does. */
    run = run_dw("--config", fixture->path, "config", "check", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
}

static void config_check_problems_in_overrides_and_environment(void **state)
{
    cli_fixture *fixture = *state;
    dw_test_write_file(fixture->path, "[io]\nqueue_depth = 64\n");
    (void)setenv("DW_LOG_LEVEL", "chatty", 1);
    const cli_run *run = run_dw("config", "check", "--set", "memory.buffer_count=32",
                                fixture->path, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "environment DW_LOG_LEVEL: log.level = 'chatty': wrong type");
    /* queue_depth from the file now exceeds buffer_count from --set: the problem names
     * the file line and the override. */
    assert_contains(run->err, ":2: io.queue_depth = '64': inconsistent: must not exceed "
                              "memory.buffer_count = 32 (--set)");
    assert_contains(run->err, "2 problems found");
}

static void config_check_without_a_usable_file(void **state)
{
    cli_fixture *fixture = *state;
    const cli_run *run = run_dw("config", "check", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "no configuration FILE to check");
    run = run_dw("config", "check", "/no/such/file.ini", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "dw: cannot open configuration file '/no/such/file.ini': No such file");
    assert_contains(run->err, "\nhint: ");
    run = run_dw("config", "check", fixture->path, fixture->path, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "expected one FILE");
}

static void config_show_prints_a_loadable_configuration(void **state)
{
    cli_fixture *fixture = *state;
    dw_test_write_file(fixture->path, "[io]\nqueue_depth = 64\n");
    (void)setenv("DW_LOG_LEVEL", "warn", 1);
    const cli_run *run = run_dw("config", "show", "-s", "memory.ceiling=256MiB", fixture->path, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_contains(run->out, "[io]");
    assert_contains(run->out, "queue_depth = 64");
    assert_contains(run->out, "recorder.ini:2\n");
    assert_contains(run->out, "ceiling = 256MiB");
    assert_contains(run->out, "; --set\n");
    assert_contains(run->out, "level = warn");
    assert_contains(run->out, "; environment DW_LOG_LEVEL\n");
    assert_contains(run->out, "; default\n");

    /* The output is a configuration file with the same effective values. */
    char shown[600];
    dw_test_path(&fixture->dir, "shown.ini", shown, sizeof shown);
    dw_test_write_file(shown, run->out);
    (void)unsetenv("DW_LOG_LEVEL");
    run = run_dw("config", "show", shown, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_contains(run->out, "queue_depth = 64");
    assert_contains(run->out, "ceiling = 256MiB");
    assert_contains(run->out, "level = warn");

    run = run_dw("config", "show", "--set", "io.queue_depth=0", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_string_equal(run->out, "");
    assert_contains(run->err, "--set: io.queue_depth = '0': out of range");
}

/* The SHA-256 printed on the demo's "image" line. */
static void demo_sha(const char *out, char sha[65])
{
    const char *at = strstr(out, "SHA-256 ");
    assert_non_null(at);
    memcpy(sha, at + 8, 64);
    sha[64] = '\0';
}

static void demo_runs_the_recorder_and_writes_the_same_image_twice(void **state)
{
    cli_fixture *fixture = *state;
    char path[600];
    dw_test_path(&fixture->dir, "demo.dwvd", path, sizeof path);
    const cli_run *run = run_dw("demo", "--file", path, "--records", "3000", "--blobs", "2", "--blob-size", "1MiB",
                                "--keep", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_contains(run->out, "built-in demo configuration");
    assert_contains(run->out, "read back  3000 records and 2 blobs: 0 mismatches");
    assert_contains(run->out, "allocations after open: 0");
    assert_contains(run->out, "objects: clean");
    assert_contains(run->out, "put record");
    assert_contains(run->out, "WCET budget");
    char first[65];
    demo_sha(run->out, first);
    struct stat info;
    assert_int_equal(stat(path, &info), 0); /* --keep kept it */
    /* An existing file is never overwritten. */
    run = run_dw("demo", "--file", path, "--records", "3000", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "exists already");
    assert_int_equal(stat(path, &info), 0);
    assert_int_equal(unlink(path), 0);
    run = run_dw("demo", "--file", path, "--records", "3000", "--blobs", "2", "--blob-size", "1MiB", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    char second[65];
    demo_sha(run->out, second);
    assert_string_equal(first, second);
    assert_int_not_equal(stat(path, &info), 0); /* without --keep it is gone */
    /* Another workload, another image. */
    run = run_dw("demo", "--file", path, "--records", "3001", "--blobs", "2", "--blob-size", "1MiB", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    demo_sha(run->out, second);
    assert_string_not_equal(first, second);
    assert_int_equal(run_dw("demo", "--records", "0", NULL)->exit_code, DW_EXIT_USAGE);

    run = run_dw("demo", "--set", "memory.ceiling=1MiB", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "memory.ceiling = '1MiB': inconsistent");
    run = run_dw("demo", "extra", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
}

static void flip_byte(const char *path, long offset)
{
    FILE *file = fopen(path, "r+b");
    assert_non_null(file);
    assert_int_equal(fseek(file, offset, SEEK_SET), 0);
    int byte = fgetc(file);
    assert_true(byte != EOF);
    assert_int_equal(fseek(file, offset, SEEK_SET), 0);
    assert_true(fputc(byte ^ 1, file) != EOF);
    assert_int_equal(fclose(file), 0);
}

static void wcet_prints_the_budgets_and_sends_probes_to_dw_bench(void **state)
{
    (void)state;
    const cli_run *run = run_dw("wcet", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_contains(run->out, "read block         10ms");
    assert_contains(run->out, "DW-WCET-05 (durability: flush)");
    assert_contains(run->out, "dw-bench wcet --probe FILE");
    run = run_dw("--set", "sched.wcet_flush=2ms", "wcet", "--json", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_true(dw_test_json_valid(run->out, strlen(run->out)));
    assert_contains(run->out, "\"class\":\"flush\",\"budget_ns\":2000000,");
    run = run_dw("wcet", "--probe", "x.data", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "dw-bench wcet --probe FILE");
}

/* The benchmark runners are dw-bench's: dw neither lists nor runs them. */
static void dw_has_no_benchmarks(void **state)
{
    (void)state;
    const cli_run *run = run_dw("--help", NULL);
    assert_true(strstr(run->out, "    bench ") == NULL);
    assert_contains(run->out, "dw-bench");
    run = run_dw("bench", "pool", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "unknown command 'bench'");
    run = run_dw("replay", "record", "-o", "x", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "unknown verb 'record'");
}

static void copy_file(const char *from, const char *to, long length)
{
    FILE *in = fopen(from, "rb");
    FILE *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    static char buffer[1 << 16];
    long left = length;
    while (left != 0) {
        size_t want = left < 0 || left > (long)sizeof buffer ? sizeof buffer : (size_t)left;
        size_t got = fread(buffer, 1, want, in);
        if (got == 0) {
            break;
        }
        assert_int_equal(fwrite(buffer, 1, got, out), got);
        left = left < 0 ? left : left - (long)got;
    }
    assert_int_equal(fclose(in), 0);
    assert_int_equal(fclose(out), 0);
}

static void vde_commands_store_list_verify_and_refuse(void **state)
{
    cli_fixture *fixture = *state;
    char vde[600];
    char value[600];
    char back[600];
    dw_test_path(&fixture->dir, "cli.dwvd", vde, sizeof vde);
    dw_test_path(&fixture->dir, "value.bin", value, sizeof value);
    dw_test_path(&fixture->dir, "back.bin", back, sizeof back);
    const cli_run *run = run_dw("vde", "create", vde, "--size", "64MiB", "--label", "cli test", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_contains(run->out, "created");
    run = run_dw("vde", "create", vde, "--size", "64MiB", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_FAILURE);
    assert_contains(run->err, "--force");
    assert_int_equal(run_dw("vde", "create", vde, NULL)->exit_code, DW_EXIT_USAGE);
    assert_int_equal(run_dw("vde", "create", vde, "--size", "64MiB", "--profile", "huge", NULL)->exit_code,
                     DW_EXIT_USAGE);
    /* 100,000 bytes through put and back through get -o. */
    static char data[100000];
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (char)('a' + (i * 7) % 26);
    }
    FILE *file = fopen(value, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(data, 1, sizeof data, file), sizeof data);
    assert_int_equal(fclose(file), 0);
    assert_int_equal(run_dw("put", vde, "logs/one", value, NULL)->exit_code, DW_EXIT_OK);
    assert_int_equal(run_dw("put", vde, "logs/two", value, NULL)->exit_code, DW_EXIT_OK);
    assert_int_equal(run_dw("put", vde, "other", value, NULL)->exit_code, DW_EXIT_OK);
    assert_int_equal(run_dw("get", vde, "logs/one", "-o", back, NULL)->exit_code, DW_EXIT_OK);
    static char read_back[sizeof data + 1];
    assert_int_equal(dw_test_read_file(back, read_back, sizeof read_back), sizeof data);
    assert_memory_equal(read_back, data, sizeof data);
    run = run_dw("ls", vde, "logs/", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_string_equal(run->out, "logs/one\nlogs/two\n");
    run = run_dw("ls", "--json", vde, NULL);
    assert_true(dw_test_json_valid(run->out, strlen(run->out)));
    assert_contains(run->out, "\"key\":\"other\",\"size\":100000");
    run = run_dw("stat", "--json", vde, "logs/two", NULL);
    assert_true(dw_test_json_valid(run->out, strlen(run->out)));
    assert_contains(run->out, "\"size\":100000");
    assert_int_equal(run_dw("tag", vde, "logs/one", "unit=7", "phase=cruise", NULL)->exit_code, DW_EXIT_OK);
    run = run_dw("tag", vde, "logs/one", NULL);
    assert_string_equal(run->out, "unit=7\nphase=cruise\n");
    assert_int_equal(run_dw("tag", vde, "logs/one", "oops", NULL)->exit_code, DW_EXIT_USAGE);
    assert_int_equal(run_dw("rm", vde, "logs/two", NULL)->exit_code, DW_EXIT_OK);
    run = run_dw("rm", vde, "logs/two", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_int_equal(run_dw("get", vde, "logs/two", NULL)->exit_code, DW_EXIT_USAGE);
    run = run_dw("vde", "inspect", vde, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_contains(run->out, "label 'cli test'");
    assert_contains(run->out, "2 objects");
    run = run_dw("vde", "inspect", "--json", vde, NULL);
    assert_true(dw_test_json_valid(run->out, strlen(run->out)));
    run = run_dw("vde", "verify", vde, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_contains(run->out, "clean");
    /* The mirror superblock's first unit (block 4 of 4 KiB blocks), one bit: found, named. */
    flip_byte(vde, 4 * 4096 + 200);
    run = run_dw("vde", "verify", vde, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_PROBLEMS);
    assert_contains(run->out, "block 4 (SUPR)");
    run = run_dw("vde", "verify", "--json", vde, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_PROBLEMS);
    assert_true(dw_test_json_valid(run->out, strlen(run->out)));
    assert_contains(run->out, "\"block\":4,\"type\":\"SUPR\"");
    flip_byte(vde, 4 * 4096 + 200);
    /* Refusals, each with its own exit status. */
    char other[600];
    dw_test_path(&fixture->dir, "other.dwvd", other, sizeof other);
    copy_file(value, other, -1);
    run = run_dw("vde", "inspect", other, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_NOT_VDE);
    assert_contains(run->err, "dw import");
    copy_file(vde, other, 32L << 20);
    run = run_dw("ls", other, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_TRUNCATED);
    assert_contains(run->err, "truncated");
    copy_file(vde, other, -1);
    for (long copy = 0; copy < 2; copy++) {
        flip_byte(other, copy * 4 * 4096 + 4); /* the format's major version, 2 -> 3 */
    }
    run = run_dw("get", other, "other", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_VERSION);
    assert_contains(run->err, "newer");
    dw_config config;
    dw_config_defaults(&config);
    dw_vde *open_one = NULL;
    dw_diag diag;
    assert_int_equal(dw_vde_open(vde, &config, &open_one, &diag), DW_OK);
    run = run_dw("put", vde, "third", value, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_LOCKED);
    assert_int_equal(dw_vde_close(open_one, &diag), DW_OK);
    assert_int_equal(run_dw("put", vde, "third", value, NULL)->exit_code, DW_EXIT_OK);
}

/* Runs the real `dw` binary and returns its exit status. */
static int spawn_dw(const char *first, const char *second)
{
    const char *program = getenv("DW_PROGRAM");
    assert_non_null(program);
    char *argv[] = {(char *)program, (char *)first, (char *)second, NULL};
    posix_spawn_file_actions_t actions;
    assert_int_equal(posix_spawn_file_actions_init(&actions), 0);
    assert_int_equal(posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", 1, 0), 0);
    assert_int_equal(posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", 1, 0), 0);
    pid_t child = 0;
    assert_int_equal(posix_spawn(&child, program, &actions, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void the_program_returns_the_documented_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(spawn_dw("--version", NULL), 0);
    assert_int_equal(spawn_dw("--help", NULL), 0);
    assert_int_equal(spawn_dw("frobnicate", NULL), 2);
    assert_int_equal(spawn_dw("config", "check"), 2);
}

int main(void)
{
#define CLI_TEST(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(version_is_printed),
        cmocka_unit_test(main_help_is_a_manual),
        cmocka_unit_test(every_command_has_help_with_examples),
        cmocka_unit_test(unknown_commands_exit_2_with_a_hint),
        CLI_TEST(config_check_lists_three_mistakes_and_exits_2),
        CLI_TEST(config_check_of_a_good_file_exits_0),
        CLI_TEST(config_check_problems_in_overrides_and_environment),
        CLI_TEST(config_check_without_a_usable_file),
        CLI_TEST(config_show_prints_a_loadable_configuration),
        CLI_TEST(demo_runs_the_recorder_and_writes_the_same_image_twice),
        cmocka_unit_test(wcet_prints_the_budgets_and_sends_probes_to_dw_bench),
        cmocka_unit_test(dw_has_no_benchmarks),
        CLI_TEST(vde_commands_store_list_verify_and_refuse),
        cmocka_unit_test(the_program_returns_the_documented_exit_codes),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
