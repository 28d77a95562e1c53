/*
 * test_config.c — dw_config: defaults, INI loading with every kind of mistake reported
 * in one pass with its line, command-line assignments, combinations, printing that loads
 * back, and the documentation naming every key.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "dwvd.h"

typedef struct config_fixture {
    dw_test_dir dir;
    char path[512];
    dw_config config;
    dw_config_report report;
    dw_diag diag;
} config_fixture;

static int fixture_setup(void **state)
{
    config_fixture *fixture = calloc(1, sizeof *fixture);
    assert_non_null(fixture);
    dw_test_dir_create(&fixture->dir);
    dw_test_path(&fixture->dir, "dwvd.ini", fixture->path, sizeof fixture->path);
    dw_config_defaults(&fixture->config);
    dw_config_report_init(&fixture->report);
    dw_diag_clear(&fixture->diag);
    *state = fixture;
    return 0;
}

static int fixture_teardown(void **state)
{
    config_fixture *fixture = *state;
    dw_test_dir_remove(&fixture->dir);
    free(fixture);
    return 0;
}

/* Writes `text` as the fixture's file, loads it, and validates the result. */
static int load(config_fixture *fixture, const char *text)
{
    dw_test_write_file(fixture->path, text);
    int result = dw_config_load_file(&fixture->config, fixture->path, &fixture->report,
                                     &fixture->diag);
    int validated = dw_config_validate(&fixture->config, &fixture->report);
    return result != DW_OK ? result : validated;
}

/* The index of key "section.name" in the key table, as the report's origins use it. */
static size_t key_index(const char *full_name)
{
    for (size_t i = 0; i < dw_config_key_count(); i++) {
        char name[128];
        (void)snprintf(name, sizeof name, "%s.%s", dw_config_key_section(i), dw_config_key_name(i));
        if (strcmp(name, full_name) == 0) {
            return i;
        }
    }
    fail_msg("no key %s", full_name);
    return 0;
}

static const dw_config_problem *problem(const config_fixture *fixture, uint32_t index)
{
    assert_true(index < fixture->report.problem_count);
    return &fixture->report.problems[index];
}

/* Asserts problem `index` is of `kind`, on `line`, about `key`, with `detail_part` in
 * its detail. */
static void expect_problem(const config_fixture *fixture, uint32_t index,
                           dw_config_problem_kind kind, uint32_t line, const char *key,
                           const char *detail_part)
{
    const dw_config_problem *found = problem(fixture, index);
    char text[1024];
    (void)dw_config_problem_format(&fixture->report, index, text, sizeof text);
    if (found->kind != kind || found->line != line || strcmp(found->key, key) != 0 ||
        strstr(found->detail, detail_part) == NULL) {
        fail_msg("problem %u is '%s'; expected kind '%s', line %u, key '%s', detail with '%s'",
                 index, text, dw_config_problem_kind_name(kind), line, key, detail_part);
    }
}

static void defaults_are_the_documented_ones_and_valid(void **state)
{
    config_fixture *fixture = *state;
    const dw_config *config = &fixture->config;
    assert_int_equal(config->block_size, 4096);
    assert_int_equal(config->memory_ceiling_bytes, 64u << 20);
    assert_int_equal(config->buffer_count, 1024);
    assert_int_equal(config->cache_pages, 0); /* automatic: sized from the ceiling at open */
    assert_int_equal(config->pressure_percent, 85);
    assert_false(config->memory_lock);
    assert_int_equal(config->queue_depth, 32);
    assert_int_equal(config->io_backend, DW_IO_BACKEND_AUTO);
    assert_true(config->io_direct);
    assert_false(config->io_sqpoll);
    assert_int_equal(config->key_length_max, 255);
    assert_int_equal(config->value_size_max, 16u << 20);
    assert_int_equal(config->iterators_max, 16);
    assert_int_equal(config->writers_max, 4);
    assert_int_equal(config->transaction_size_max, 64u << 20);
    assert_int_equal(config->worker_cores, 0);
    assert_int_equal(config->log_level, DW_LOG_INFO);
    assert_string_equal(config->log_file, "");
    assert_int_equal(dw_config_validate(config, &fixture->report), DW_OK);
    assert_int_equal(fixture->report.problem_count, 0);
    assert_int_equal(dw_config_memory_floor_bytes(config), (1024u + DW_CACHE_PAGES_AUTO_MIN) * 4096u);
}

static void good_file_sets_values_and_records_lines(void **state)
{
    config_fixture *fixture = *state;
    const char *text = "; recorder configuration\n"
                       "[vde]\n"
                       "block_size = 8KiB\n"
                       "\n"
                       "[memory]\n"
                       "ceiling = 256 MiB\n"
                       "buffer_count = 2048\n"
                       "pressure_percent = 90%\n"
                       "lock = yes\n"
                       "[io]\n"
                       "queue_depth = 128\n"
                       "[sched]\n"
                       "worker_cores = auto\n"
                       "[log]\n"
                       "level = Debug\n";
    assert_int_equal(load(fixture, text), DW_OK);
    assert_int_equal(fixture->report.problem_count, 0);
    assert_int_equal(fixture->config.block_size, 8192);
    assert_int_equal(fixture->config.memory_ceiling_bytes, 256u << 20);
    assert_int_equal(fixture->config.buffer_count, 2048);
    assert_int_equal(fixture->config.pressure_percent, 90);
    assert_true(fixture->config.memory_lock);
    assert_int_equal(fixture->config.queue_depth, 128);
    assert_int_equal(fixture->config.log_level, DW_LOG_DEBUG);
    /* Origins: block_size on line 3 of the file, iterators_max a default. */
    assert_int_equal(fixture->report.origins[key_index("vde.block_size")].source_index, 1);
    assert_int_equal(fixture->report.origins[key_index("vde.block_size")].line, 3);
    assert_string_equal(fixture->report.sources[0], fixture->path);
    assert_int_equal(fixture->report.origins[key_index("limits.iterators_max")].source_index, 0);
}

static void three_distinct_mistakes_are_all_reported_with_lines(void **state)
{
    config_fixture *fixture = *state;
    const char *text = "[vde]\n"
                       "block_size = 1000\n"          /* line 2: not a power of two */
                       "[io]\n"
                       "queue_dept = 64\n"            /* line 4: unknown key */
                       "[memory]\n"
                       "buffer_count = lots\n";       /* line 6: wrong type */
    assert_int_equal(load(fixture, text), DW_ECONFIG);
    assert_int_equal(fixture->report.problem_count, 3);
    expect_problem(fixture, 0, DW_CONFIG_OUT_OF_RANGE, 2, "vde.block_size", "power of two");
    expect_problem(fixture, 1, DW_CONFIG_UNKNOWN_KEY, 4, "io.queue_dept",
                   "did you mean 'queue_depth'?");
    expect_problem(fixture, 2, DW_CONFIG_WRONG_TYPE, 6, "memory.buffer_count", "whole number");
    char line[1024];
    (void)dw_config_problem_format(&fixture->report, 0, line, sizeof line);
    char expected[1024];
    (void)snprintf(expected, sizeof expected,
                   "%s:2: vde.block_size = '1000': out of range: must be between 512 and 64KiB "
                   "and a power of two",
                   fixture->path);
    assert_string_equal(line, expected);
    /* Keys without problems still apply; keys with problems keep their defaults. */
    assert_int_equal(fixture->config.block_size, 4096);
    assert_int_equal(fixture->config.buffer_count, 1024);
}

static void syntax_errors_are_each_reported(void **state)
{
    config_fixture *fixture = *state;
    char long_line[400];
    memset(long_line, 'x', sizeof long_line - 1);
    long_line[sizeof long_line - 1] = '\0';
    memcpy(long_line, "queue_depth = ", 14);
    char long_comment[6000];
    memset(long_comment, 'c', sizeof long_comment - 1);
    long_comment[0] = ';';
    long_comment[sizeof long_comment - 1] = '\0';
    char text[8192];
    (void)snprintf(text, sizeof text,
                   "%s\n"                  /* 1: a long comment is fine */
                   "[io]\n"
                   "queue_depth 64\n"      /* 3: no '=' */
                   "[memory\n"             /* 4: no ']' */
                   "= 5\n"                 /* 5: no key */
                   "%s\n"                  /* 6: too long */
                   "queue_depth = 8\n",    /* 7: fine */
                   long_comment, long_line);
    assert_int_equal(load(fixture, text), DW_ECONFIG);
    assert_int_equal(fixture->report.problem_count, 4);
    expect_problem(fixture, 0, DW_CONFIG_SYNTAX, 3, "", "expected 'key = value'");
    expect_problem(fixture, 1, DW_CONFIG_SYNTAX, 4, "", "closing ']'");
    expect_problem(fixture, 2, DW_CONFIG_SYNTAX, 5, "", "key name is missing");
    expect_problem(fixture, 3, DW_CONFIG_SYNTAX, 6, "", "longer than 198 characters");
    assert_int_equal(fixture->config.queue_depth, 8);
}

static void syntax_error_on_the_last_line_without_newline(void **state)
{
    config_fixture *fixture = *state;
    assert_int_equal(load(fixture, "[io]\nqueue_depth = 8\nnonsense"), DW_ECONFIG);
    assert_int_equal(fixture->report.problem_count, 1);
    expect_problem(fixture, 0, DW_CONFIG_SYNTAX, 3, "", "expected 'key = value'");
}

static void unknown_keys_and_sections_get_suggestions(void **state)
{
    config_fixture *fixture = *state;
    const char *text = "block_size = 4096\n"         /* 1: outside any section */
                       "[io]\n"
                       "ceiling = 1GiB\n"            /* 3: right key, wrong section */
                       "frobnicate = 1\n"            /* 4: nothing close */
                       "[memroy]\n"                  /* 5: close to [memory] */
                       "ceiling = 1GiB\n"            /* 6: skipped, section reported */
                       "[widgets]\n"                 /* 7: unknown */
                       "[log]\n"
                       "LEVEL = warn\n";             /* 9: keys are case-insensitive */
    assert_int_equal(load(fixture, text), DW_ECONFIG);
    assert_int_equal(fixture->report.problem_count, 5);
    expect_problem(fixture, 0, DW_CONFIG_UNKNOWN_KEY, 1, "block_size", "inside a section");
    expect_problem(fixture, 0, DW_CONFIG_UNKNOWN_KEY, 1, "block_size", "section [vde]");
    expect_problem(fixture, 1, DW_CONFIG_UNKNOWN_KEY, 3, "io.ceiling", "section [memory]");
    expect_problem(fixture, 2, DW_CONFIG_UNKNOWN_KEY, 4, "io.frobnicate", "queue_depth");
    expect_problem(fixture, 3, DW_CONFIG_UNKNOWN_KEY, 5, "memroy", "did you mean [memory]?");
    expect_problem(fixture, 4, DW_CONFIG_UNKNOWN_KEY, 7, "widgets", "the sections are");
    assert_int_equal(fixture->config.log_level, DW_LOG_WARN);
}

static void wrong_types_say_what_was_expected(void **state)
{
    config_fixture *fixture = *state;
    const char *text = "[vde]\n"
                       "block_size = 4 KB\n"
                       "[memory]\n"
                       "lock = maybe\n"
                       "pressure_percent = 85.5\n"
                       "cache_pages = -3\n"
                       "[sched]\n"
                       "worker_cores = many\n"
                       "[log]\n"
                       "level = loud\n"
                       "[limits]\n"
                       "value_size_max = 99999999999999999999\n";
    assert_int_equal(load(fixture, text), DW_ECONFIG);
    assert_int_equal(fixture->report.problem_count, 7);
    expect_problem(fixture, 0, DW_CONFIG_WRONG_TYPE, 2, "vde.block_size", "such as 4096, 64KiB");
    expect_problem(fixture, 1, DW_CONFIG_WRONG_TYPE, 4, "memory.lock", "true or false");
    expect_problem(fixture, 2, DW_CONFIG_WRONG_TYPE, 5, "memory.pressure_percent", "percent");
    expect_problem(fixture, 3, DW_CONFIG_WRONG_TYPE, 6, "memory.cache_pages", "whole number");
    expect_problem(fixture, 4, DW_CONFIG_WRONG_TYPE, 8, "sched.worker_cores", "or 'auto'");
    expect_problem(fixture, 5, DW_CONFIG_WRONG_TYPE, 10, "log.level", "trace, debug");
    expect_problem(fixture, 6, DW_CONFIG_WRONG_TYPE, 12, "limits.value_size_max", "size");
}

static void out_of_range_values_state_the_range(void **state)
{
    config_fixture *fixture = *state;
    const char *text = "[vde]\n"
                       "block_size = 256\n"
                       "[memory]\n"
                       "pressure_percent = 100\n"
                       "ceiling = 2TiB\n"
                       "[io]\n"
                       "queue_depth = 0\n"
                       "[sched]\n"
                       "worker_cores = 3\n";
    assert_int_equal(load(fixture, text), DW_ECONFIG);
    assert_int_equal(fixture->report.problem_count, 5);
    expect_problem(fixture, 0, DW_CONFIG_OUT_OF_RANGE, 2, "vde.block_size", "between 512 and 64KiB");
    expect_problem(fixture, 1, DW_CONFIG_OUT_OF_RANGE, 4, "memory.pressure_percent",
                   "between 50 and 99 percent");
    expect_problem(fixture, 2, DW_CONFIG_OUT_OF_RANGE, 5, "memory.ceiling", "1MiB and 1TiB");
    expect_problem(fixture, 3, DW_CONFIG_OUT_OF_RANGE, 7, "io.queue_depth", "between 1 and 4096");
    expect_problem(fixture, 4, DW_CONFIG_OUT_OF_RANGE, 9, "sched.worker_cores",
                   "auto (0) or between 1 and 256 and a power of two");
}

static void inconsistent_combinations_name_both_keys(void **state)
{
    config_fixture *fixture = *state;
    const char *text = "[memory]\n"
                       "ceiling = 1MiB\n"            /* 2: below 1280 blocks of 4 KiB */
                       "buffer_count = 16\n"         /* 3 */
                       "[io]\n"
                       "queue_depth = 64\n"          /* 5: more than 16 buffers */
                       "[limits]\n"
                       "key_length_max = 2048\n"     /* 7: more than 4096 / 4 */
                       "value_size_max = 128MiB\n"   /* 8 */
                       "transaction_size_max = 64MiB\n"; /* 9: below the largest value */
    assert_int_equal(load(fixture, text), DW_ECONFIG);
    assert_int_equal(fixture->report.problem_count, 4);
    expect_problem(fixture, 0, DW_CONFIG_INCONSISTENT, 2, "memory.ceiling", "at least 1088KiB");
    expect_problem(fixture, 1, DW_CONFIG_INCONSISTENT, 5, "io.queue_depth",
                   "memory.buffer_count = 16 (");
    assert_non_null(strstr(problem(fixture, 1)->detail, ":3)"));
    expect_problem(fixture, 2, DW_CONFIG_INCONSISTENT, 7, "limits.key_length_max",
                   "vde.block_size = 4KiB (default)");
    expect_problem(fixture, 3, DW_CONFIG_INCONSISTENT, 9, "limits.transaction_size_max",
                   "limits.value_size_max = 128MiB");
}

static void io_backend_is_one_of_its_names(void **state)
{
    config_fixture *fixture = *state;
    assert_int_equal(load(fixture, "[io]\nbackend = PSYNC\ndirect = off\n"), DW_OK);
    assert_int_equal(fixture->config.io_backend, DW_IO_BACKEND_PSYNC);
    assert_false(fixture->config.io_direct);
    dw_config_report_init(&fixture->report);
    assert_int_equal(load(fixture, "[io]\nbackend = aio\n"), DW_ECONFIG);
    expect_problem(fixture, 0, DW_CONFIG_WRONG_TYPE, 2, "io.backend",
                   "expected one of auto, io_uring, psync, sim");
    dw_config_report_init(&fixture->report);
    assert_int_equal(load(fixture, "[io]\nbackend = psync\nsqpoll = on\n"), DW_ECONFIG);
    expect_problem(fixture, 0, DW_CONFIG_INCONSISTENT, 3, "io.sqpoll",
                   "needs an io_uring backend, but io.backend = psync (");
    dw_config_report_init(&fixture->report);
    assert_int_equal(load(fixture, "[io]\nbackend = io_uring\nsqpoll = on\n"), DW_OK);
    assert_true(fixture->config.io_sqpoll);
}

static void scheduler_keys_take_durations_and_cpus(void **state)
{
    config_fixture *fixture = *state;
    const char *text = "[sched]\n"
                       "policy = fifo\n"
                       "miss_action = circuit-break\n"
                       "circuit_window = 250ms\n"
                       "wcet_read = 2 ms\n"
                       "io_cpu = 1\n"
                       "late_submission = refuse\n";
    assert_int_equal(load(fixture, text), DW_OK);
    assert_int_equal(fixture->config.sched_policy, DW_SCHED_FIFO);
    assert_int_equal(fixture->config.miss_action, DW_MISS_CIRCUIT_BREAK);
    assert_int_equal(fixture->config.circuit_window_ns, 250000000);
    assert_int_equal(fixture->config.wcet_read_ns, 2000000);
    assert_int_equal(fixture->config.io_cpu, 1);
    assert_int_equal(fixture->config.late_submission, DW_LATE_REFUSE);
    dw_config_report_init(&fixture->report);
    assert_int_equal(load(fixture, "[sched]\nwcet_read = 10\nio_cpu = 2000\ncircuit_window = 0ms\n"
                                   "miss_action = panic\n"),
                     DW_ECONFIG);
    expect_problem(fixture, 0, DW_CONFIG_WRONG_TYPE, 2, "sched.wcet_read", "with its unit");
    expect_problem(fixture, 1, DW_CONFIG_OUT_OF_RANGE, 3, "sched.io_cpu", "none or a CPU number");
    expect_problem(fixture, 2, DW_CONFIG_OUT_OF_RANGE, 4, "sched.circuit_window", "between 1ms and 3600s");
    expect_problem(fixture, 3, DW_CONFIG_WRONG_TYPE, 5, "sched.miss_action",
                   "expected one of log, fail, circuit-break");
}

static void log_file_in_a_missing_directory_is_reported(void **state)
{
    config_fixture *fixture = *state;
    char text[1024];
    (void)snprintf(text, sizeof text, "[log]\nfile = %s/no/such/dir/dwvd.log\n",
                   fixture->dir.path);
    assert_int_equal(load(fixture, text), DW_ECONFIG);
    assert_int_equal(fixture->report.problem_count, 1);
    expect_problem(fixture, 0, DW_CONFIG_MISSING_PATH, 2, "log.file", "does not exist");

    dw_config_report_init(&fixture->report);
    (void)snprintf(text, sizeof text, "[log]\nfile = %s\n", fixture->dir.path);
    assert_int_equal(load(fixture, text), DW_ECONFIG);
    expect_problem(fixture, 0, DW_CONFIG_MISSING_PATH, 2, "log.file", "names a directory");

    dw_config_report_init(&fixture->report);
    (void)snprintf(text, sizeof text, "[log]\nfile = %s/dwvd.log\n", fixture->dir.path);
    assert_int_equal(load(fixture, text), DW_OK);
}

static void a_key_set_twice_is_a_duplicate(void **state)
{
    config_fixture *fixture = *state;
    assert_int_equal(load(fixture, "[io]\nqueue_depth = 8\n[io]\nqueue_depth = 16\n"), DW_ECONFIG);
    assert_int_equal(fixture->report.problem_count, 1);
    expect_problem(fixture, 0, DW_CONFIG_DUPLICATE, 4, "io.queue_depth", "line 2");
    assert_int_equal(fixture->config.queue_depth, 8);
}

static void layout_variations_are_accepted(void **state)
{
    config_fixture *fixture = *state;
    const char *text = "\xEF\xBB\xBF; a byte-order mark, CRLF endings, indentation, comments\r\n"
                       "# hash comments too\r\n"
                       "[ memory ]\r\n"
                       "    ceiling = 128MiB ; inline comment\r\n"
                       "    buffer_count: 512\r\n"
                       "\t\tcache_pages =64\r\n"
                       "[IO]\r\n"
                       "  queue_depth = 16\r\n";
    assert_int_equal(load(fixture, text), DW_OK);
    assert_int_equal(fixture->config.memory_ceiling_bytes, 128u << 20);
    assert_int_equal(fixture->config.buffer_count, 512);
    assert_int_equal(fixture->config.cache_pages, 64);
    assert_int_equal(fixture->config.queue_depth, 16);
    assert_int_equal(fixture->report.origins[key_index("memory.buffer_count")].line, 5);
}

static void command_line_assignments_apply_and_report(void **state)
{
    config_fixture *fixture = *state;
    dw_config_report *report = &fixture->report;
    assert_int_equal(dw_config_set(&fixture->config, "io.queue_depth=64", "--set", report), DW_OK);
    assert_int_equal(dw_config_set(&fixture->config, " io.queue_depth = 128 ", "--set", report),
                     DW_OK);
    assert_int_equal(fixture->config.queue_depth, 128);
    size_t queue_depth = key_index("io.queue_depth");
    assert_int_equal(report->origins[queue_depth].line, 0);
    assert_string_equal(report->sources[report->origins[queue_depth].source_index - 1], "--set");

    assert_int_equal(dw_config_set(&fixture->config, "queue_depth=64", "--set", report), DW_ECONFIG);
    expect_problem(fixture, 0, DW_CONFIG_SYNTAX, 0, "", "section.key=value");
    assert_int_equal(dw_config_set(&fixture->config, "io.queue_depth", "--set", report), DW_ECONFIG);
    expect_problem(fixture, 1, DW_CONFIG_SYNTAX, 0, "", "section.key=value");
    assert_int_equal(dw_config_set(&fixture->config, "disk.size=1", "--set", report), DW_ECONFIG);
    expect_problem(fixture, 2, DW_CONFIG_UNKNOWN_KEY, 0, "disk", "no section [disk]");
    assert_int_equal(dw_config_set(&fixture->config, "io.depth=1", "--set", report), DW_ECONFIG);
    expect_problem(fixture, 3, DW_CONFIG_UNKNOWN_KEY, 0, "io.depth", "queue_depth");
    assert_int_equal(dw_config_set(&fixture->config, "io.queue_depth=deep", "env", report),
                     DW_ECONFIG);
    expect_problem(fixture, 4, DW_CONFIG_WRONG_TYPE, 0, "io.queue_depth", "whole number");
    assert_string_equal(problem(fixture, 4)->source, "env");
    char line[1024];
    (void)dw_config_problem_format(report, 4, line, sizeof line);
    assert_string_equal(line, "env: io.queue_depth = 'deep': wrong type: expected a whole number");
    assert_int_equal(fixture->config.queue_depth, 128);
}

static void printed_configuration_loads_back_the_same(void **state)
{
    config_fixture *fixture = *state;
    char log_path[600];
    dw_test_path(&fixture->dir, "engine.log", log_path, sizeof log_path);
    char assignment[700];
    (void)snprintf(assignment, sizeof assignment, "log.file=%s", log_path);
    const char *assignments[] = {"vde.block_size=16KiB", "memory.ceiling=1000000000",
                                 "memory.lock=on", "sched.worker_cores=8", "log.level=error",
                                 "limits.iterators_max=0", assignment};
    for (size_t i = 0; i < sizeof assignments / sizeof assignments[0]; i++) {
        assert_int_equal(dw_config_set(&fixture->config, assignments[i], "--set", &fixture->report),
                         DW_OK);
    }
    FILE *stream = tmpfile();
    assert_non_null(stream);
    dw_config_print(&fixture->config, &fixture->report, stream);
    static char text[16384];
    dw_test_read_stream(stream, text, sizeof text);
    (void)fclose(stream);
    assert_non_null(strstr(text, "block_size = 16KiB"));
    assert_non_null(strstr(text, "; --set"));
    assert_non_null(strstr(text, "; default"));
    assert_non_null(strstr(text, "worker_cores = 8"));

    dw_config reloaded;
    dw_config_defaults(&reloaded);
    dw_config_report report;
    dw_config_report_init(&report);
    dw_test_write_file(fixture->path, text);
    assert_int_equal(dw_config_load_file(&reloaded, fixture->path, &report, NULL), DW_OK);
    assert_int_equal(report.problem_count, 0);
    assert_memory_equal(&reloaded, &fixture->config, sizeof reloaded);
}

static void problems_beyond_the_limit_are_counted(void **state)
{
    config_fixture *fixture = *state;
    static char text[8192];
    size_t used = (size_t)snprintf(text, sizeof text, "[io]\n");
    for (int i = 0; i < 40; i++) {
        used += (size_t)snprintf(text + used, sizeof text - used, "bad line %d\n", i);
    }
    assert_int_equal(load(fixture, text), DW_ECONFIG);
    assert_int_equal(fixture->report.problem_count, 40);
    expect_problem(fixture, DW_CONFIG_PROBLEMS_MAX - 1, DW_CONFIG_SYNTAX, DW_CONFIG_PROBLEMS_MAX + 1,
                   "", "expected");
}

static void unreadable_files_are_explained(void **state)
{
    config_fixture *fixture = *state;
    char missing[600];
    dw_test_path(&fixture->dir, "missing.ini", missing, sizeof missing);
    assert_int_equal(dw_config_load_file(&fixture->config, missing, &fixture->report, &fixture->diag),
                     DW_ENOENT);
    assert_non_null(strstr(fixture->diag.message, missing));
    assert_non_null(strstr(fixture->diag.message, "No such file"));
    assert_true(strlen(fixture->diag.hint) > 0);
    assert_int_equal(dw_config_load_file(&fixture->config, fixture->dir.path, &fixture->report,
                                         &fixture->diag),
                     DW_EINVAL);
    assert_non_null(strstr(fixture->diag.message, "is a directory"));
    assert_int_equal(fixture->report.problem_count, 0);
}

static void documentation_names_every_key(void **state)
{
    (void)state;
    const char *root = getenv("DW_SOURCE_ROOT");
    assert_non_null(root);
    char path[1024];
    (void)snprintf(path, sizeof path, "%s/docs/CONFIG.md", root);
    static char text[65536];
    dw_test_read_file(path, text, sizeof text);
    for (size_t i = 0; i < dw_config_key_count(); i++) {
        char name[128];
        (void)snprintf(name, sizeof name, "`%s.%s`", dw_config_key_section(i), dw_config_key_name(i));
        if (strstr(text, name) == NULL) {
            fail_msg("docs/CONFIG.md does not document %s", name);
        }
    }
}

/* Values valid for each key that stay consistent with any choice for the others. */
static const char *const safe_values[][4] = {
    {"4096", "4KiB", "8KiB", "8192"},          /* vde.block_size */
    {"strict", "group", "STRICT", "group"},    /* vde.durability */
    {"10ms", "100us", "1s", "10s"},            /* vde.group_delay */
    {"1s", "1ms", "250ms", "3600s"},           /* vde.op_deadline */
    {"false", "true", "no", "1"},              /* vde.deterministic */
    {"16MiB", "256KiB", "1GiB", "64GiB"},      /* vde.wal_size */
    {"128MiB", "1MiB", "4GiB", "64MiB"},       /* vde.group_size */
    {"16KiB", "1KiB", "1MiB", "1GiB"},         /* vde.inode_ratio */
    {"64MiB", "128MiB", "1GiB", "67108864"},   /* memory.ceiling */
    {"1024", "512", "2048", "4096"},           /* memory.buffer_count */
    {"256", "64", "1000", "8"},                /* memory.cache_pages */
    {"85", "90%", "50", "99"},                 /* memory.pressure_percent */
    {"true", "off", "no", "1"},                /* memory.lock */
    {"32", "1", "64", "512"},                  /* io.queue_depth */
    {"auto", "psync", "SIM", "io_uring"},      /* io.backend */
    {"true", "false", "yes", "off"},           /* io.direct */
    {"false", "no", "off", "0"},               /* io.sqpoll (true needs io_uring) */
    {"255", "100", "1000", "1"},               /* limits.key_length_max */
    {"16MiB", "1MiB", "64MiB", "1"},           /* limits.value_size_max */
    {"16", "0", "4096", "7"},                  /* limits.iterators_max */
    {"4", "0", "256", "1"},                    /* limits.writers_max */
    {"64MiB", "128MiB", "1GiB", "64GiB"},      /* limits.transaction_size_max */
    {"auto", "1", "8", "256"},                 /* sched.worker_cores */
    {"edf", "fifo", "EDF", "fifo"},            /* sched.policy */
    {"256", "8", "1024", "65536"},             /* sched.request_slots */
    {"log", "fail", "circuit-break", "LOG"},   /* sched.miss_action */
    {"run", "refuse", "run", "refuse"},        /* sched.late_submission */
    {"8", "1", "100", "1000000"},              /* sched.circuit_misses */
    {"100ms", "1ms", "2s", "3600s"},           /* sched.circuit_window */
    {"5ms", "1us", "250us", "1 s"},            /* sched.circuit_latency */
    {"10ms", "500us", "1s", "10000000ns"},     /* sched.wcet_read */
    {"10ms", "1ms", "2s", "7us"},              /* sched.wcet_write */
    {"50ms", "5ms", "1s", "50ms"},             /* sched.wcet_batch */
    {"50ms", "10ms", "1s", "3ms"},             /* sched.wcet_flush */
    {"true", "false", "on", "no"},             /* sched.realtime */
    {"none", "0", "1", "1023"},                /* sched.io_cpu */
    {"info", "DEBUG", "warning", "error"},     /* log.level */
    {"", "", "", ""},                          /* log.file */
};

static void random_files_report_exactly_the_injected_mistakes(void **state)
{
    config_fixture *fixture = *state;
    assert_int_equal(sizeof safe_values / sizeof safe_values[0], dw_config_key_count());
    uint64_t random_state = dw_test_seed();
    uint64_t rounds = 200 * dw_test_scale();
    static char text[16384];
    for (uint64_t round = 0; round < rounds; round++) {
        size_t used = 0;
        uint32_t line = 0;
        uint32_t expected_lines[64];
        uint32_t expected = 0;
        const char *section = "";
        for (size_t key = 0; key < dw_config_key_count(); key++) {
            if (strcmp(section, dw_config_key_section(key)) != 0) {
                section = dw_config_key_section(key);
                used += (size_t)snprintf(text + used, sizeof text - used, "[%s]\n", section);
                line++;
            }
            uint64_t choice = dw_test_random(&random_state) % 10;
            if (choice < 5) {
                used += (size_t)snprintf(text + used, sizeof text - used, "%s = %s\n",
                                         dw_config_key_name(key),
                                         safe_values[key][dw_test_random(&random_state) % 4]);
                line++;
            } else if (choice == 5 && strcmp(dw_config_key_name(key), "file") != 0) {
                used += (size_t)snprintf(text + used, sizeof text - used, "%s = #wrong!\n",
                                         dw_config_key_name(key));
                expected_lines[expected++] = ++line;
            } else if (choice == 6) {
                used += (size_t)snprintf(text + used, sizeof text - used, "zzqx%llu = 1\n",
                                         (unsigned long long)round);
                expected_lines[expected++] = ++line;
            } else if (choice == 7) {
                used += (size_t)snprintf(text + used, sizeof text - used, "no equals sign here\n");
                expected_lines[expected++] = ++line;
            } else if (choice == 8) {
                used += (size_t)snprintf(text + used, sizeof text - used, "; comment\n\n");
                line += 2;
            }
        }
        dw_config_defaults(&fixture->config);
        dw_config_report_init(&fixture->report);
        int result = load(fixture, text);
        if (fixture->report.problem_count != expected) {
            fail_msg("round %llu: %u problems, expected %u, in:\n%s", (unsigned long long)round,
                     fixture->report.problem_count, expected, text);
        }
        assert_int_equal(result, expected == 0 ? DW_OK : DW_ECONFIG);
        for (uint32_t i = 0; i < expected; i++) {
            assert_int_equal(fixture->report.problems[i].line, expected_lines[i]);
        }
    }
}

int main(void)
{
#define CONFIG_TEST(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
    const struct CMUnitTest tests[] = {
        CONFIG_TEST(defaults_are_the_documented_ones_and_valid),
        CONFIG_TEST(good_file_sets_values_and_records_lines),
        CONFIG_TEST(three_distinct_mistakes_are_all_reported_with_lines),
        CONFIG_TEST(syntax_errors_are_each_reported),
        CONFIG_TEST(syntax_error_on_the_last_line_without_newline),
        CONFIG_TEST(unknown_keys_and_sections_get_suggestions),
        CONFIG_TEST(wrong_types_say_what_was_expected),
        CONFIG_TEST(out_of_range_values_state_the_range),
        CONFIG_TEST(inconsistent_combinations_name_both_keys),
        CONFIG_TEST(io_backend_is_one_of_its_names),
        CONFIG_TEST(scheduler_keys_take_durations_and_cpus),
        CONFIG_TEST(log_file_in_a_missing_directory_is_reported),
        CONFIG_TEST(a_key_set_twice_is_a_duplicate),
        CONFIG_TEST(layout_variations_are_accepted),
        CONFIG_TEST(command_line_assignments_apply_and_report),
        CONFIG_TEST(printed_configuration_loads_back_the_same),
        CONFIG_TEST(problems_beyond_the_limit_are_counted),
        CONFIG_TEST(unreadable_files_are_explained),
        CONFIG_TEST(documentation_names_every_key),
        CONFIG_TEST(random_files_report_exactly_the_injected_mistakes),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
