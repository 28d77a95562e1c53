/*
 * test_bench.c — `dw-bench` as a user meets it: its manual, one-line usage errors whose
 * hints name dw-bench, and a short run of each runner (pool, io, edf, rings, the WCET
 * probe, a recorded replay that `dw replay` then compares); in-process through
 * dw_bench_main, and through the real binary for its exit codes.
 */
#include "harness.h"

#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "dw_bench.h"

extern char **environ;

typedef struct cli_run {
    int exit_code;
    char out[65536];
    char err[16384];
} cli_run;

static cli_run run_result;

/* Runs `main` with argv[0] `name` and the NULL-terminated arguments; the result is in
 * run_result. */
static const cli_run *run_program(int (*main_function)(int, char **, FILE *, FILE *), const char *name,
                                  const char *first, va_list arguments)
{
    char *argv[DW_CLI_ARGUMENTS_MAX + 2];
    int argc = 0;
    argv[argc++] = (char *)name;
    for (const char *argument = first; argument != NULL; argument = va_arg(arguments, const char *)) {
        assert_true(argc < DW_CLI_ARGUMENTS_MAX);
        argv[argc++] = (char *)argument;
    }
    argv[argc] = NULL;
    FILE *out = tmpfile();
    FILE *err = tmpfile();
    assert_non_null(out);
    assert_non_null(err);
    run_result.exit_code = main_function(argc, argv, out, err);
    dw_test_read_stream(out, run_result.out, sizeof run_result.out);
    dw_test_read_stream(err, run_result.err, sizeof run_result.err);
    (void)fclose(out);
    (void)fclose(err);
    return &run_result;
}

static const cli_run *run_bench(const char *first, ...)
{
    va_list arguments;
    va_start(arguments, first);
    const cli_run *run = run_program(dw_bench_main, "dw-bench", first, arguments);
    va_end(arguments);
    return run;
}

static const cli_run *run_dw(const char *first, ...)
{
    va_list arguments;
    va_start(arguments, first);
    const cli_run *run = run_program(dw_cli_main, "dw", first, arguments);
    va_end(arguments);
    return run;
}

#define assert_contains(haystack, needle)                                                  \
    do {                                                                                   \
        if (strstr((haystack), (needle)) == NULL) {                                        \
            fail_msg("expected to find \"%s\" in:\n%s", (needle), (haystack));            \
        }                                                                                  \
    } while (0)

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

static void the_manual_lists_every_runner(void **state)
{
    (void)state;
    const cli_run *run = run_bench("--help", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    const char *sections[] = {"NAME", "dw-bench - ", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "GLOBAL OPTIONS",
                              "EXIT STATUS", "EXAMPLES", "pool", "io", "edf", "rings", "wcet", "replay"};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        assert_contains(run->out, sections[i]);
    }
    const char *commands[] = {"pool", "io", "edf", "rings", "wcet", "replay", "help", "version"};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        run = run_bench(commands[i], "--help", NULL);
        assert_int_equal(run->exit_code, DW_EXIT_OK);
        assert_contains(run->out, "NAME\n    dw-bench ");
        assert_contains(run->out, "SYNOPSIS\n    dw-bench ");
        assert_contains(run->out, "DESCRIPTION");
        assert_contains(run->out, "EXIT STATUS");
        assert_true(strstr(run->out, "dw bench") == NULL);
    }
    run = run_bench("pool", "--help", NULL);
    assert_contains(run->out, "EXAMPLES\n    dw-bench pool\n");
    run = run_bench("help", "edf", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_contains(run->out, "dw-bench edf -");
    run = run_bench("--version", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_contains(run->out, "dw-bench (dwvd) " DW_VERSION_STRING);
}

static void usage_errors_name_dw_bench(void **state)
{
    (void)state;
    const cli_run *run = run_bench("pol", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_string_equal(run->err, "dw-bench: unknown command 'pol'\n"
                                  "hint: did you mean 'dw-bench pool'? Run 'dw-bench --help' for the commands\n");
    run = run_bench(NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "dw-bench: no command given");
    assert_contains(run->err, "e.g. 'dw-bench pool'");
    run = run_bench("io", "--frob", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "hint: run 'dw-bench io --help'");
    run = run_bench("vde", "inspect", "x", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "unknown command 'vde'");
}

static void bench_pool_reports_zero_allocations_and_double_handouts(void **state)
{
    (void)state;
    const cli_run *run = run_bench("pool", "--json", "--threads", "1,2", "--operations",
                                "20000", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_true(dw_test_json_valid(run->out, strlen(run->out)));
    assert_contains(run->out, "\"allocations_after_init\":0,");
    assert_contains(run->out, "\"double_handouts\":0,");
    assert_contains(run->out, "\"dirty_rents\":0,");
    assert_contains(run->out, "{\"threads\":1,\"pool_ns_per_op\":");
    assert_contains(run->out, "{\"threads\":2,\"pool_ns_per_op\":");
    assert_contains(run->out, "\"malloc_ns_per_op\":");
    assert_contains(run->out, "\"checked_operations\":60000,");

    run = run_bench("pool", "--threads", "1", "--operations", "1000", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_contains(run->out, "threads  pool ns/op  malloc ns/op");
    assert_contains(run->out, "double hand-outs        0\n");
    assert_contains(run->out, "allocations after init  0 (counted by ");

    run = run_bench("pool", "--threads", "0", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "--threads takes a whole number from 1 to 64, not '0'");
    run = run_bench("pool", "--operations", "many", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    run = run_bench("pool", "--operations", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "option '--operations' needs a value");
    run = run_bench("pool", "--set", "memory.buffer_count=2", "--set", "io.queue_depth=1",
                 "--threads", "4", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "cannot run 4 threads on a pool of 2 buffers");
}

static void bench_io_measures_both_backends(void **state)
{
    cli_fixture *fixture = *state;
    char path[600];
    dw_test_path(&fixture->dir, "bench.data", path, sizeof path);
    const cli_run *run = run_bench("io", "--json", "--file", path, "--size", "1MiB",
                                "--seconds", "1", "--backends", "psync", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_true(dw_test_json_valid(run->out, strlen(run->out)));
    assert_contains(run->out, "\"backend\":\"psync\",\"workload\":\"randread\",\"queue_depth\":1,");
    assert_contains(run->out, "\"workload\":\"randread\",\"queue_depth\":32,");
    assert_contains(run->out, "\"workload\":\"randwrite+fdatasync\",\"queue_depth\":1,");
    assert_contains(run->out, "\"p999\":");
    /* The file was filled with data, not left as a hole that reads would never reach
     * the device for. */
    struct stat status;
    assert_int_equal(stat(path, &status), 0);
    assert_int_equal(status.st_size, 1 << 20);
    assert_true((uint64_t)status.st_blocks * 512 >= (1u << 20));

    run = run_bench("io", "--backends", "aio", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "--backends takes io_uring and psync, not 'aio'");
    run = run_bench("io", "--size", "lots", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    run = run_bench("io", "--file", "/no/such/dir/x", "--size", "1MiB", "--seconds", "1", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "cannot create '/no/such/dir/x'");
}

static void bench_edf_compares_the_policies_on_the_sim_disk(void **state)
{
    (void)state;
    const cli_run *run = run_bench("edf", "--target", "sim", "--json", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_true(dw_test_json_valid(run->out, strlen(run->out)));
    assert_contains(run->out, "{\"target\":\"sim\",\"policy\":\"edf\",");
    assert_contains(run->out, "{\"target\":\"sim\",\"policy\":\"fifo\",");
    assert_contains(run->out, "\"critical_utilisation\":0.800,");
    run = run_bench("edf", "--target", "moon", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "--target is sim, file or both, not 'moon'");
}

static void replay_logs_of_1_and_4_workers_agree_and_tampering_shows(void **state)
{
    cli_fixture *fixture = *state;
    char one[600];
    char four[600];
    char other[600];
    dw_test_path(&fixture->dir, "one.dwreplay", one, sizeof one);
    dw_test_path(&fixture->dir, "four.dwreplay", four, sizeof four);
    dw_test_path(&fixture->dir, "other.dwreplay", other, sizeof other);
    const cli_run *run = run_bench("replay", "--workers", "1", "--tasks", "512", "-o", one, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_contains(run->out, "execution-order hash");
    assert_contains(run->out, "0 allocations while running");
    run = run_bench("replay", "--workers", "4", "--tasks", "512", "--delay-max", "20us",
                 "--output", four, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);

    run = run_dw("replay", "compare", one, four, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    if (strstr(run->out, "exact match") == NULL) {
        assert_contains(run->out, "minor difference: ");
    }
    run = run_dw("replay", "compare", "--json", one, four, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_true(dw_test_json_valid(run->out, strlen(run->out)));
    assert_true(strstr(run->out, "\"verdict\":\"minor\"") != NULL ||
                strstr(run->out, "\"verdict\":\"exact\"") != NULL);
    run = run_dw("replay", "verify", four, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_contains(run->out, "ok: ");

    run = run_dw("replay", "show", four, "--from", "10", "--count", "3", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_contains(run->out, "\n#10 ");
    assert_contains(run->out, "\n#12 ");
    assert_true(strstr(run->out, "\n#13 ") == NULL);
    run = run_dw("replay", "show", "--json", "--count", "5", four, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_true(dw_test_json_valid(run->out, strlen(run->out)));

    /* One byte of event #200's output hash. */
    flip_byte(four, 128 + 200 * 64 + 24);
    run = run_dw("replay", "compare", one, four, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_PROBLEMS);
    assert_contains(run->out, "diverged at event #200: ");
    assert_contains(run->out, "  A: #200 ");
    assert_contains(run->out, "  B: #200 ");
    assert_contains(run->err, "the hash chain breaks at event #200");
    run = run_dw("replay", "verify", four, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_PROBLEMS);
    assert_contains(run->err, "the checksum does not match");

    /* Another task set diverges where it first differs: the first external input. */
    run = run_bench("replay", "--workers", "2", "--tasks", "512", "--seed", "2", "-o", other, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    run = run_dw("replay", "compare", one, other, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_PROBLEMS);
    assert_contains(run->out, "diverged at event #0: the input hash differs");
}

static void replay_usage_errors_say_what_to_type(void **state)
{
    cli_fixture *fixture = *state;
    const cli_run *run = run_bench("replay", "--workers", "2", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "--output FILE is required");
    run = run_bench("replay", "--workers", "3", "-o", "x", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "power of two");
    run = run_bench("replay", "--workload", "chess", "-o", "x", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "checksum or mixed");
    run = run_bench("replay", "--delay-max", "2s", "-o", "x", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    run = run_dw("replay", "compare", "only-one", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "give two replay logs");
    run = run_dw("replay", "compare", "a", "b", "c", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "unexpected argument 'c'");
    run = run_dw("replay", "show", "--frob", "a", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "unknown option '--frob'");
    assert_contains(run->err, "dw replay show --help");
    run = run_bench("replay", "-o", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "option '-o' needs a value");
    run = run_dw("replay", "verify", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "give one replay log to verify");
    char missing[600];
    dw_test_path(&fixture->dir, "missing.dwreplay", missing, sizeof missing);
    run = run_dw("replay", "verify", missing, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "cannot open replay log");
    dw_test_write_file(fixture->path, "[vde]\nblock_size = 4096\n");
    run = run_dw("replay", "show", fixture->path, NULL);
    assert_int_equal(run->exit_code, DW_EXIT_FAILURE);
    assert_contains(run->err, "not a readable replay log");
}

static void bench_rings_measures_both_libraries(void **state)
{
    (void)state;
    const cli_run *run = run_bench("rings", "--operations", "20000", "--rounds", "1", "--json", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_true(dw_test_json_valid(run->out, strlen(run->out)));
    assert_contains(run->out, "\"ring\":\"dwvd spsc\"");
    assert_contains(run->out, "\"ring\":\"dwvd mpmc\"");
    assert_contains(run->out, "\"spsc_cross_core\":");
    run = run_bench("rings", "--operations", "20000", "--rounds", "1", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_contains(run->out, "cross-core");
    run = run_bench("rings", "--rounds", "2", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
    assert_contains(run->err, "odd number");
    run = run_bench("rings", "--capacity", "1000", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_USAGE);
}

static void wcet_probe_measures_and_flags_overruns(void **state)
{
    cli_fixture *fixture = *state;
    const cli_run *run = run_bench("wcet", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_contains(run->out, "read block         10ms");
    assert_contains(run->out, "DW-WCET-05 (durability: flush)");
    char path[600];
    dw_test_path(&fixture->dir, "probe.data", path, sizeof path);
    /* Budgets of an hour: "ok" here must not depend on how fast this machine's disk is
     * (a sanitizer build on a busy CI runner has taken over 50 ms for one fsync). */
    run = run_bench("--set", "sched.wcet_read=3600s", "--set", "sched.wcet_write=3600s", "--set",
                 "sched.wcet_batch=3600s", "--set", "sched.wcet_flush=3600s", "wcet", "--probe", path, "--size",
                 "1MiB", "--seconds", "1", "--json", NULL);
    assert_int_equal(run->exit_code, DW_EXIT_OK);
    assert_true(dw_test_json_valid(run->out, strlen(run->out)));
    assert_contains(run->out, "\"class\":\"flush\",\"budget_ns\":3600000000000,");
    assert_contains(run->out, "\"status\":\"ok\"");
    /* A budget no device meets: every read overruns it, and the exit status says so. */
    run = run_bench("--set", "sched.wcet_read=1us", "wcet", "--probe", path, "--size", "1MiB", "--seconds", "1",
                 NULL);
    assert_int_equal(run->exit_code, DW_EXIT_PROBLEMS);
    assert_contains(run->out, "OVER");
}

/* Runs the real `dw-bench` binary and returns its exit status. */
static int spawn_bench(const char *first, const char *second)
{
    const char *program = getenv("DW_BENCH_PROGRAM");
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
    assert_int_equal(spawn_bench("--version", NULL), 0);
    assert_int_equal(spawn_bench("--help", NULL), 0);
    assert_int_equal(spawn_bench("frobnicate", NULL), 2);
    assert_int_equal(spawn_bench("rings", "--rounds"), 2);
}

int main(void)
{
#define CLI_TEST(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_manual_lists_every_runner),
        cmocka_unit_test(usage_errors_name_dw_bench),
        cmocka_unit_test(bench_pool_reports_zero_allocations_and_double_handouts),
        CLI_TEST(bench_io_measures_both_backends),
        cmocka_unit_test(bench_edf_compares_the_policies_on_the_sim_disk),
        cmocka_unit_test(bench_rings_measures_both_libraries),
        CLI_TEST(wcet_probe_measures_and_flags_overruns),
        CLI_TEST(replay_logs_of_1_and_4_workers_agree_and_tampering_shows),
        CLI_TEST(replay_usage_errors_say_what_to_type),
        cmocka_unit_test(the_program_returns_the_documented_exit_codes),
    };
    return cmocka_run_group_tests_name("bench", tests, NULL, NULL);
}
