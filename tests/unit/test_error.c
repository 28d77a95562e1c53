/*
 * test_error.c — error codes, their words, dw_diag, and the version.
 */
#include "harness.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "core/error.h"
#include "dwvd.h"

static void every_code_has_a_distinct_name_and_description(void **state)
{
    (void)state;
    for (int code = DW_ERROR_MIN; code <= DW_OK; code++) {
        const char *name = dw_error_name(code);
        const char *description = dw_strerror(code);
        assert_int_equal(strncmp(name, "DW_", 3), 0);
        assert_string_not_equal(name, "DW_EUNKNOWN");
        assert_string_not_equal(description, "unknown error");
        assert_true(strlen(description) > 3);
        for (int other = DW_ERROR_MIN; other < code; other++) {
            assert_string_not_equal(name, dw_error_name(other));
            assert_string_not_equal(description, dw_strerror(other));
        }
    }
    assert_string_equal(dw_error_name(DW_EIO), "DW_EIO");
    assert_string_equal(dw_strerror(DW_OK), "success");
}

static void unknown_codes_are_named_unknown(void **state)
{
    (void)state;
    const int unknown[] = {1, 42, DW_ERROR_MIN - 1, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_string_equal(dw_strerror(unknown[i]), "unknown error");
        assert_string_equal(dw_error_name(unknown[i]), "DW_EUNKNOWN");
    }
}

static void diag_fail_fills_message_and_hint(void **state)
{
    (void)state;
    dw_diag diag;
    dw_diag_clear(&diag);
    assert_int_equal(diag.code, DW_OK);
    assert_string_equal(diag.message, "");
    int result = dw_diag_fail(&diag, DW_EIO, "check the disk", "block %d of '%s' unreadable", 7,
                              "a.dwvd");
    assert_int_equal(result, DW_EIO);
    assert_int_equal(diag.code, DW_EIO);
    assert_string_equal(diag.message, "block 7 of 'a.dwvd' unreadable");
    assert_string_equal(diag.hint, "check the disk");

    result = dw_diag_fail(&diag, DW_EINVAL, NULL, "no hint");
    assert_int_equal(result, DW_EINVAL);
    assert_string_equal(diag.hint, "");
    dw_diag_clear(&diag);
    assert_int_equal(diag.code, DW_OK);
    assert_string_equal(diag.hint, "");
}

static void diag_fail_accepts_null_and_truncates(void **state)
{
    (void)state;
    assert_int_equal(dw_diag_fail(NULL, DW_ENOENT, "h", "m"), DW_ENOENT);
    dw_diag_clear(NULL);

    char long_text[DW_DIAG_MESSAGE_MAX * 2];
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    dw_diag diag;
    (void)dw_diag_fail(&diag, DW_EIO, long_text, "%s", long_text);
    assert_int_equal(strlen(diag.message), DW_DIAG_MESSAGE_MAX - 1);
    assert_int_equal(strlen(diag.hint), DW_DIAG_HINT_MAX - 1);
}

static void errno_values_map_to_categories(void **state)
{
    (void)state;
    assert_int_equal(dw_error_from_errno(ENOENT), DW_ENOENT);
    assert_int_equal(dw_error_from_errno(ENOTDIR), DW_ENOENT);
    assert_int_equal(dw_error_from_errno(EACCES), DW_EPERM);
    assert_int_equal(dw_error_from_errno(EPERM), DW_EPERM);
    assert_int_equal(dw_error_from_errno(EROFS), DW_EPERM);
    assert_int_equal(dw_error_from_errno(EIO), DW_EIO);
    assert_int_equal(dw_error_from_errno(ENOSPC), DW_EIO);
}

static void version_matches_the_header(void **state)
{
    (void)state;
    assert_string_equal(dw_version(), DW_VERSION_STRING);
    char expected[32];
    (void)snprintf(expected, sizeof expected, "%d.%d.%d", DW_VERSION_MAJOR, DW_VERSION_MINOR,
                   DW_VERSION_PATCH);
    assert_string_equal(dw_version(), expected);
    assert_int_equal(DW_VERSION_NUMBER,
                     DW_VERSION_MAJOR * 10000 + DW_VERSION_MINOR * 100 + DW_VERSION_PATCH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_has_a_distinct_name_and_description),
        cmocka_unit_test(unknown_codes_are_named_unknown),
        cmocka_unit_test(diag_fail_fills_message_and_hint),
        cmocka_unit_test(diag_fail_accepts_null_and_truncates),
        cmocka_unit_test(errno_values_map_to_categories),
        cmocka_unit_test(version_matches_the_header),
    };
    return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
