/*
 * test_text.c — edit distance, "did you mean" closeness, trimming.
 */
#include "harness.h"

#include <string.h>

#include "core/text.h"
#include "dwvd.h"

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

static void sizes_parse_and_format(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int result;
        uint64_t value;
    } cases[] = {
        {"0", DW_OK, 0},
        {"4096", DW_OK, 4096},
        {"4k", DW_OK, 4096},
        {"4KiB", DW_OK, 4096},
        {"4 kib", DW_OK, 4096},
        {"16MiB", DW_OK, 16u << 20},
        {"1G", DW_OK, 1u << 30},
        {"2TiB", DW_OK, UINT64_C(2) << 40},
        {"10B", DW_OK, 10},
        {"18446744073709551615", DW_OK, UINT64_MAX},
        {"18446744073709551616", DW_EINVAL, 0},
        {"16777216TiB", DW_EINVAL, 0},
        {"", DW_EINVAL, 0},
        {"KiB", DW_EINVAL, 0},
        {"4KB", DW_EINVAL, 0},
        {"-1", DW_EINVAL, 0},
        {"1.5MiB", DW_EINVAL, 0},
        {"4 Ki B", DW_EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t value = 12345;
        int result = dw_parse_size(cases[i].text, &value);
        if (result != cases[i].result || (result == DW_OK && value != cases[i].value)) {
            fail_msg("'%s' parsed to %d / %llu", cases[i].text, result, (unsigned long long)value);
        }
    }
    char text[32];
    assert_string_equal(dw_format_size(0, text, sizeof text), "0");
    assert_string_equal(dw_format_size(1000, text, sizeof text), "1000");
    assert_string_equal(dw_format_size(4096, text, sizeof text), "4KiB");
    assert_string_equal(dw_format_size_human(512, text, sizeof text), "512 B");
    assert_string_equal(dw_format_size_human(300000, text, sizeof text), "293.0 KiB");
    assert_string_equal(dw_format_size_human(UINT64_C(3) << 29, text, sizeof text), "1.5 GiB");
    assert_string_equal(dw_format_size_human(UINT64_C(5) << 40, text, sizeof text), "5.0 TiB");
    assert_string_equal(dw_format_size(1536 * 1024, text, sizeof text), "1536KiB");
    assert_string_equal(dw_format_size(64u << 20, text, sizeof text), "64MiB");
    assert_string_equal(dw_format_size(UINT64_C(3) << 40, text, sizeof text), "3TiB");
}

static void durations_parse_and_format(void **state)
{
    (void)state;
    uint64_t value = 0;
    assert_int_equal(dw_parse_duration("10ms", &value), DW_OK);
    assert_int_equal(value, 10000000);
    assert_int_equal(dw_parse_duration("250 us", &value), DW_OK);
    assert_int_equal(value, 250000);
    assert_int_equal(dw_parse_duration("2s", &value), DW_OK);
    assert_int_equal(value, 2000000000);
    assert_int_equal(dw_parse_duration("7ns", &value), DW_OK);
    assert_int_equal(value, 7);
    assert_int_equal(dw_parse_duration("10", &value), DW_EINVAL);
    assert_int_equal(dw_parse_duration("1.5ms", &value), DW_EINVAL);
    assert_int_equal(dw_parse_duration("ms", &value), DW_EINVAL);
    assert_int_equal(dw_parse_duration("10 min", &value), DW_EINVAL);
    assert_int_equal(dw_parse_duration("99999999999s", &value), DW_EINVAL);
    char text[32];
    assert_string_equal(dw_format_duration(10000000, text, sizeof text), "10ms");
    assert_string_equal(dw_format_duration(1500, text, sizeof text), "1500ns");
    assert_string_equal(dw_format_duration(3000000000, text, sizeof text), "3s");
    assert_string_equal(dw_format_duration(0, text, sizeof text), "0ns");
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
        cmocka_unit_test(sizes_parse_and_format),
        cmocka_unit_test(durations_parse_and_format),
        cmocka_unit_test(the_test_json_validator_is_strict),
    };
    return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
