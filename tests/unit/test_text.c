/*
 * test_text.c — edit distance, "did you mean" closeness, trimming.
 */
#include "harness.h"

#include <string.h>

#include "core/text.h"

static void edit_distance_counts_edits(void **state)
{
    (void)state;
    assert_int_equal(dw_edit_distance("", ""), 0);
    assert_int_equal(dw_edit_distance("abc", ""), 3);
    assert_int_equal(dw_edit_distance("", "abc"), 3);
    assert_int_equal(dw_edit_distance("kitten", "sitting"), 3);
    assert_int_equal(dw_edit_distance("queue_depth", "queue_dept"), 1);
    assert_int_equal(dw_edit_distance("Config", "config"), 0);
    assert_int_equal(dw_edit_distance("flaw", "lawn"), 2);
    /* Symmetric. */
    assert_int_equal(dw_edit_distance("sitting", "kitten"), 3);
}

static void edit_distance_refuses_long_words(void **state)
{
    (void)state;
    char long_word[DW_EDIT_WORD_MAX + 2];
    memset(long_word, 'a', sizeof long_word - 1);
    long_word[sizeof long_word - 1] = '\0';
    assert_int_equal(dw_edit_distance(long_word, "a"), SIZE_MAX);
    assert_int_equal(dw_edit_distance("a", long_word), SIZE_MAX);
    long_word[DW_EDIT_WORD_MAX] = '\0';
    assert_int_equal(dw_edit_distance(long_word, long_word), 0);
}

static void close_words_are_suggested_far_ones_are_not(void **state)
{
    (void)state;
    assert_true(dw_is_close_word("confg", "config"));
    assert_true(dw_is_close_word("queue_dept", "queue_depth"));
    assert_true(dw_is_close_word("buffer_cuont", "buffer_count"));
    assert_false(dw_is_close_word("config", "config")); /* identical is not a suggestion */
    assert_false(dw_is_close_word("frob", "config"));
    assert_false(dw_is_close_word("io", "log"));
}

static void trim_removes_surrounding_space(void **state)
{
    (void)state;
    char text[] = " \t value with space \r\n";
    assert_string_equal(dw_trim(text), "value with space");
    char empty[] = "   ";
    assert_string_equal(dw_trim(empty), "");
    char plain[] = "x";
    assert_string_equal(dw_trim(plain), "x");
}

static void the_test_json_validator_is_strict(void **state)
{
    (void)state;
    const char *valid[] = {"{}", "[]", "0", "-1.5e+3", "12.25", "\"a\\u00e9\\n\"", "true",
                           "{\"a\":[1,2,{\"b\":null}],\"c\":false}", " {\"k\" : 1 } "};
    const char *invalid[] = {"", "{", "{\"a\":1,}", "[1,]", "01", "1.", ".5", "1e", "-",
                             "\"\\x\"", "\"\x01\"", "\"\xff\"", "{} {}", "{a:1}", "tru"};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        if (!dw_test_json_valid(valid[i], strlen(valid[i]))) {
            fail_msg("refused valid JSON: %s", valid[i]);
        }
    }
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        if (dw_test_json_valid(invalid[i], strlen(invalid[i]))) {
            fail_msg("accepted invalid JSON: %s", invalid[i]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(edit_distance_counts_edits),
        cmocka_unit_test(edit_distance_refuses_long_words),
        cmocka_unit_test(close_words_are_suggested_far_ones_are_not),
        cmocka_unit_test(trim_removes_surrounding_space),
        cmocka_unit_test(the_test_json_validator_is_strict),
    };
    return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
