/*
 * test_assert.c — DW_ASSERT stays on whatever NDEBUG says, and says where it failed.
 */
#define NDEBUG 1 /* must not switch DW_ASSERT off */
#include "harness.h"

#include <signal.h>
#include <string.h>

#include "core/assert.h"

static int evaluations;

static int count_evaluation(int value)
{
    evaluations++;
    return value;
}

static void passing_assertion_evaluates_once(void **state)
{
    (void)state;
    evaluations = 0;
    DW_ASSERT(count_evaluation(1) == 1);
    assert_int_equal(evaluations, 1);
}

static void fail_assertion(void *argument)
{
    int *value = argument;
    DW_ASSERT(*value == 42);
}

static void failing_assertion_aborts_with_location(void **state)
{
    (void)state;
    int value = 7;
    char error_text[1024];
    int signal_number = dw_test_death(fail_assertion, &value, error_text, sizeof error_text);
    assert_int_equal(signal_number, SIGABRT);
    assert_non_null(strstr(error_text, "dwvd: assertion failed at "));
    assert_non_null(strstr(error_text, "test_assert.c:"));
    assert_non_null(strstr(error_text, "in fail_assertion"));
    assert_non_null(strstr(error_text, "*value == 42"));
}

static void reach_unreachable(void *argument)
{
    (void)argument;
    DW_UNREACHABLE();
}

static void unreachable_aborts(void **state)
{
    (void)state;
    char error_text[1024];
    assert_int_equal(dw_test_death(reach_unreachable, NULL, error_text, sizeof error_text),
                     SIGABRT);
    assert_non_null(strstr(error_text, "unreachable"));
}

static void long_expression_is_cut_but_ends_the_line(void *argument)
{
    (void)argument;
    dw_assert_fail("an expression far longer than any line buffer should ever need to hold, "
                   "repeated: an expression far longer than any line buffer should ever need "
                   "to hold, repeated: an expression far longer than any line buffer should "
                   "ever need to hold, repeated: an expression far longer than any line buffer "
                   "should ever need to hold, repeated: an expression far longer than any line "
                   "buffer should ever need to hold, repeated: an expression far longer than "
                   "any line buffer should ever need to hold, repeated: an expression far "
                   "longer than any line buffer should ever need to hold, repeated: an "
                   "expression far longer than any line buffer should ever need to hold, "
                   "repeated: an expression far longer than any line buffer should ever need "
                   "to hold, repeated: an expression far longer than any line buffer should "
                   "ever need to hold, repeated: an expression far longer than any line buffer "
                   "should ever need to hold, repeated: an expression far longer than any line "
                   "buffer should ever need to hold, repeated: the end",
                   "file.c", 1, "function");
}

static void long_failure_text_is_truncated_to_one_line(void **state)
{
    (void)state;
    char error_text[4096];
    assert_int_equal(dw_test_death(long_expression_is_cut_but_ends_the_line, NULL, error_text,
                                   sizeof error_text),
                     SIGABRT);
    size_t length = strlen(error_text);
    assert_true(length > 0 && length <= 1023);
    assert_int_equal(error_text[length - 1], '\n');
    /* One line: the only newline is the last character. */
    assert_ptr_equal(strchr(error_text, '\n'), error_text + length - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(passing_assertion_evaluates_once),
        cmocka_unit_test(failing_assertion_aborts_with_location),
        cmocka_unit_test(unreachable_aborts),
        cmocka_unit_test(long_failure_text_is_truncated_to_one_line),
    };
    return cmocka_run_group_tests_name("assert", tests, NULL, NULL);
}
