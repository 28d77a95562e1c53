/*
 * test_log.c — JSON-lines logging: the shape of a line, level filtering, escaping,
 * truncation that keeps the JSON valid, files, and many threads writing at once.
 */
#include "harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "mem/alloc_count.h"

#define EPOCH_2026 (UINT64_C(1795257963) * DW_NS_PER_S)

typedef struct log_fixture {
    dw_clock_virtual clock;
    FILE *capture;
    dw_log log;
    char text[65536];
} log_fixture;

static int fixture_setup(void **state)
{
    static log_fixture fixture;
    memset(&fixture, 0, sizeof fixture);
    dw_clock_virtual_init(&fixture.clock, 0, EPOCH_2026);
    fixture.capture = tmpfile();
    assert_non_null(fixture.capture);
    dw_log_open_fd(&fixture.log, fileno(fixture.capture), DW_LOG_INFO, &fixture.clock.clock);
    *state = &fixture;
    return 0;
}

static int fixture_teardown(void **state)
{
    log_fixture *fixture = *state;
    dw_log_close(&fixture->log);
    (void)fclose(fixture->capture);
    return 0;
}

/* Everything written so far; the log writes with write(2), so the stream is rewound
 * through its descriptor. */
static const char *captured(log_fixture *fixture)
{
    off_t end = lseek(fileno(fixture->capture), 0, SEEK_END);
    assert_true(end >= 0 && (size_t)end < sizeof fixture->text);
    ssize_t length = pread(fileno(fixture->capture), fixture->text, (size_t)end, 0);
    assert_int_equal(length, end);
    fixture->text[length] = '\0';
    return fixture->text;
}

/* Checks that every line of `text` is valid JSON, ends with a newline, and fits the
 * line limit; returns the number of lines. */
static size_t check_lines(const char *text)
{
    size_t lines = 0;
    const char *line = text;
    while (*line != '\0') {
        const char *newline = strchr(line, '\n');
        assert_non_null(newline);
        size_t length = (size_t)(newline - line);
        assert_true(length + 1 <= DW_LOG_LINE_MAX);
        if (!dw_test_json_valid(line, length)) {
            fail_msg("not valid JSON: %.*s", (int)length, line);
        }
        lines++;
        line = newline + 1;
    }
    return lines;
}

static void line_has_the_documented_shape(void **state)
{
    log_fixture *fixture = *state;
    DW_LOG(&fixture->log, DW_LOG_INFO, "io", "backend chosen", DW_LOG_STRING("backend", "psync"),
           DW_LOG_INT("offset", -5), DW_LOG_UINT("queue_depth", 32), DW_LOG_BOOL("direct", true));
    assert_string_equal(captured(fixture),
                        "{\"ts\":\"2026-11-21T10:46:03.000000Z\",\"level\":\"info\","
                        "\"component\":\"io\",\"msg\":\"backend chosen\",\"backend\":\"psync\","
                        "\"offset\":-5,\"queue_depth\":32,\"direct\":true}\n");
    assert_int_equal(fixture->log.lines_written, 1);
}

static void line_without_fields(void **state)
{
    log_fixture *fixture = *state;
    dw_clock_virtual_advance(&fixture->clock, 1500 * DW_NS_PER_US);
    dw_log_write(&fixture->log, DW_LOG_ERROR, "vde", "closed", NULL, 0);
    assert_string_equal(captured(fixture),
                        "{\"ts\":\"2026-11-21T10:46:03.001500Z\",\"level\":\"error\","
                        "\"component\":\"vde\",\"msg\":\"closed\"}\n");
}

static int evaluated;

static const char *note_evaluation(void)
{
    evaluated++;
    return "x";
}

static void levels_below_the_threshold_are_dropped_unevaluated(void **state)
{
    log_fixture *fixture = *state;
    evaluated = 0;
    DW_LOG(&fixture->log, DW_LOG_DEBUG, "t", "hidden", DW_LOG_STRING("k", note_evaluation()));
    DW_LOG(&fixture->log, DW_LOG_TRACE, "t", "hidden", DW_LOG_STRING("k", note_evaluation()));
    assert_int_equal(evaluated, 0);
    assert_string_equal(captured(fixture), "");
    DW_LOG(&fixture->log, DW_LOG_WARN, "t", "shown", DW_LOG_STRING("k", note_evaluation()));
    assert_int_equal(evaluated, 1);
    fixture->log.level = DW_LOG_TRACE;
    DW_LOG(&fixture->log, DW_LOG_TRACE, "t", "now shown", DW_LOG_UINT("n", 1));
    assert_int_equal(check_lines(captured(fixture)), 2);
    assert_non_null(strstr(fixture->text, "\"level\":\"warn\""));
    assert_non_null(strstr(fixture->text, "\"level\":\"trace\""));
    assert_false(dw_log_enabled(NULL, DW_LOG_ERROR));
}

static void strings_are_escaped(void **state)
{
    log_fixture *fixture = *state;
    DW_LOG(&fixture->log, DW_LOG_INFO, "t", "quote \" backslash \\ newline \n tab \t",
           DW_LOG_STRING("control", "\x01\x1f\x7f"), DW_LOG_STRING("utf8", "caf\xc3\xa9 \xe2\x82\xac"),
           DW_LOG_STRING("invalid", "a\xff" "b\xc3(\xed\xa0\x80"), DW_LOG_STRING("null", NULL));
    const char *text = captured(fixture);
    assert_int_equal(check_lines(text), 1);
    assert_non_null(strstr(text, "\"msg\":\"quote \\\" backslash \\\\ newline \\n tab \\t\""));
    assert_non_null(strstr(text, "\"control\":\"\\u0001\\u001f\\u007f\""));
    assert_non_null(strstr(text, "\"utf8\":\"caf\xc3\xa9 \xe2\x82\xac\""));
    /* 0xff, a lone lead byte and an encoded surrogate are each replaced. */
    assert_non_null(strstr(text, "\"invalid\":\"a\\ufffdb\\ufffd(\\ufffd\\ufffd\\ufffd\""));
    assert_non_null(strstr(text, "\"null\":\"\""));
}

static void long_message_is_cut_and_marked(void **state)
{
    log_fixture *fixture = *state;
    char message[DW_LOG_LINE_MAX * 2];
    for (size_t i = 0; i < sizeof message - 1; i++) {
        message[i] = (i % 7 == 0) ? '"' : 'm'; /* escapes make cutting harder */
    }
    message[sizeof message - 1] = '\0';
    DW_LOG(&fixture->log, DW_LOG_INFO, "t", message, DW_LOG_UINT("after", 1));
    const char *text = captured(fixture);
    assert_int_equal(check_lines(text), 1);
    assert_non_null(strstr(text, ",\"truncated\":true}\n"));
    assert_null(strstr(text, "\"after\""));
    assert_int_equal(fixture->log.lines_truncated, 1);
}

static void fields_that_do_not_fit_are_dropped_whole(void **state)
{
    log_fixture *fixture = *state;
    char value[300];
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    dw_log_field fields[12];
    char keys[12][8];
    for (int i = 0; i < 12; i++) {
        (void)snprintf(keys[i], sizeof keys[i], "k%d", i);
        fields[i] = DW_LOG_STRING(keys[i], value);
    }
    dw_log_write(&fixture->log, DW_LOG_INFO, "t", "many fields", fields, 12);
    const char *text = captured(fixture);
    assert_int_equal(check_lines(text), 1);
    assert_non_null(strstr(text, "\"k0\":\""));
    assert_null(strstr(text, "\"k11\""));
    assert_non_null(strstr(text, ",\"truncated\":true}\n"));
}

static void random_lines_are_always_valid_json(void **state)
{
    log_fixture *fixture = *state;
    uint64_t random_state = dw_test_seed();
    uint64_t rounds = 300 * dw_test_scale();
    for (uint64_t round = 0; round < rounds; round++) {
        char message[3000];
        char value[600];
        size_t message_length = dw_test_random(&random_state) % (sizeof message - 1);
        size_t value_length = dw_test_random(&random_state) % (sizeof value - 1);
        for (size_t i = 0; i < message_length; i++) {
            message[i] = (char)(1 + dw_test_random(&random_state) % 255);
        }
        message[message_length] = '\0';
        for (size_t i = 0; i < value_length; i++) {
            value[i] = (char)(1 + dw_test_random(&random_state) % 255);
        }
        value[value_length] = '\0';
        DW_LOG(&fixture->log, DW_LOG_INFO, "fuzz", message, DW_LOG_STRING("value", value),
               DW_LOG_INT("round", (int64_t)round), DW_LOG_STRING("again", value));
        assert_int_equal(check_lines(captured(fixture)), 1);
        assert_int_equal(ftruncate(fileno(fixture->capture), 0), 0);
        assert_int_equal(lseek(fileno(fixture->capture), 0, SEEK_SET), 0);
    }
}

static void logging_never_allocates(void **state)
{
    log_fixture *fixture = *state;
    char long_message[DW_LOG_LINE_MAX * 2];
    memset(long_message, 'x', sizeof long_message - 1);
    long_message[sizeof long_message - 1] = '\0';
    dw_alloc_counts before = dw_alloc_counts_now();
    for (int i = 0; i < 1000; i++) {
        DW_LOG(&fixture->log, DW_LOG_INFO, "io", "completion", DW_LOG_UINT("id", (uint64_t)i),
               DW_LOG_STRING("file", "a.dwvd"), DW_LOG_INT("result", -5), DW_LOG_BOOL("ok", false));
        DW_LOG(&fixture->log, DW_LOG_DEBUG, "io", "filtered", DW_LOG_UINT("id", (uint64_t)i));
        dw_log_write(&fixture->log, DW_LOG_WARN, "io", long_message, NULL, 0);
    }
    assert_int_equal(dw_alloc_counts_since(before), 0);
    assert_int_equal(fixture->log.lines_written, 2000);
}

static void level_names_parse_and_print(void **state)
{
    (void)state;
    const char *names[] = {"trace", "debug", "info", "warn", "error"};
    for (int level = DW_LOG_TRACE; level <= DW_LOG_ERROR; level++) {
        dw_log_level parsed = DW_LOG_ERROR;
        assert_string_equal(dw_log_level_name((dw_log_level)level), names[level]);
        assert_int_equal(dw_log_level_parse(names[level], &parsed), DW_OK);
        assert_int_equal(parsed, level);
    }
    dw_log_level parsed = DW_LOG_TRACE;
    assert_int_equal(dw_log_level_parse("WARNING", &parsed), DW_OK);
    assert_int_equal(parsed, DW_LOG_WARN);
    assert_int_equal(dw_log_level_parse("Debug", &parsed), DW_OK);
    assert_int_equal(parsed, DW_LOG_DEBUG);
    assert_int_equal(dw_log_level_parse("loud", &parsed), DW_EINVAL);
    assert_int_equal(dw_log_level_parse("", &parsed), DW_EINVAL);
}

static void log_file_is_appended_and_a_bad_path_is_explained(void **state)
{
    (void)state;
    dw_test_dir dir;
    dw_test_dir_create(&dir);
    char path[512];
    dw_test_path(&dir, "engine.log", path, sizeof path);
    dw_clock_virtual clock;
    dw_clock_virtual_init(&clock, 0, EPOCH_2026);
    for (int run = 0; run < 2; run++) {
        dw_log log;
        assert_int_equal(dw_log_open(&log, path, DW_LOG_INFO, &clock.clock, NULL), DW_OK);
        DW_LOG(&log, DW_LOG_INFO, "t", "run", DW_LOG_INT("run", run));
        dw_log_close(&log);
    }
    char text[4096];
    dw_test_read_file(path, text, sizeof text);
    assert_int_equal(check_lines(text), 2);
    assert_non_null(strstr(text, "\"run\":0"));
    assert_non_null(strstr(text, "\"run\":1"));

    char missing[600];
    dw_test_path(&dir, "no/such/dir/engine.log", missing, sizeof missing);
    dw_log log;
    dw_diag diag;
    dw_diag_clear(&diag);
    assert_int_equal(dw_log_open(&log, missing, DW_LOG_INFO, &clock.clock, &diag), DW_ENOENT);
    assert_int_equal(diag.code, DW_ENOENT);
    assert_non_null(strstr(diag.message, missing));
    assert_true(strlen(diag.hint) > 0);
    dw_test_dir_remove(&dir);
}

static void empty_path_logs_to_standard_error(void **state)
{
    (void)state;
    dw_clock_virtual clock;
    dw_clock_virtual_init(&clock, 0, 0);
    dw_log log;
    assert_int_equal(dw_log_open(&log, "", DW_LOG_WARN, &clock.clock, NULL), DW_OK);
    assert_int_equal(log.fd, STDERR_FILENO);
    assert_false(log.owns_fd);
    dw_log_close(&log);
    /* Closing a log on standard error must not close standard error. */
    assert_true(fcntl(STDERR_FILENO, F_GETFD) >= 0);
}

enum { WRITER_THREADS = 4, LINES_PER_WRITER = 2000 };

typedef struct writer_argument {
    dw_log *log;
    int writer;
} writer_argument;

static void *write_lines(void *argument)
{
    writer_argument *writer = argument;
    char padding[200];
    memset(padding, 'a' + writer->writer, sizeof padding - 1);
    padding[sizeof padding - 1] = '\0';
    for (int i = 0; i < LINES_PER_WRITER; i++) {
        DW_LOG(writer->log, DW_LOG_INFO, "thread", "line", DW_LOG_INT("writer", writer->writer),
               DW_LOG_INT("index", i), DW_LOG_STRING("padding", padding));
    }
    return NULL;
}

static void lines_from_many_threads_never_interleave(void **state)
{
    (void)state;
    dw_test_dir dir;
    dw_test_dir_create(&dir);
    char path[512];
    dw_test_path(&dir, "threads.log", path, sizeof path);
    dw_clock_virtual clock;
    dw_clock_virtual_init(&clock, 0, EPOCH_2026);
    dw_log log;
    assert_int_equal(dw_log_open(&log, path, DW_LOG_INFO, &clock.clock, NULL), DW_OK);
    pthread_t threads[WRITER_THREADS];
    writer_argument arguments[WRITER_THREADS];
    for (int i = 0; i < WRITER_THREADS; i++) {
        arguments[i] = (writer_argument){&log, i};
        assert_int_equal(pthread_create(&threads[i], NULL, write_lines, &arguments[i]), 0);
    }
    for (int i = 0; i < WRITER_THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    }
    assert_int_equal(log.lines_written, WRITER_THREADS * LINES_PER_WRITER);
    assert_int_equal(log.lines_failed, 0);
    dw_log_close(&log);
    static char text[WRITER_THREADS * LINES_PER_WRITER * 400];
    dw_test_read_file(path, text, sizeof text);
    assert_int_equal(check_lines(text), WRITER_THREADS * LINES_PER_WRITER);
    dw_test_dir_remove(&dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(line_has_the_documented_shape, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(line_without_fields, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(levels_below_the_threshold_are_dropped_unevaluated,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(strings_are_escaped, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(long_message_is_cut_and_marked, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(fields_that_do_not_fit_are_dropped_whole, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(random_lines_are_always_valid_json, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(logging_never_allocates, fixture_setup, fixture_teardown),
        cmocka_unit_test(level_names_parse_and_print),
        cmocka_unit_test(log_file_is_appended_and_a_bad_path_is_explained),
        cmocka_unit_test(empty_path_logs_to_standard_error),
        cmocka_unit_test(lines_from_many_threads_never_interleave),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
