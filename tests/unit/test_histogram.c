/*
 * test_histogram.c — the log-linear latency histogram: exact below 64, never more than
 * 1/64 above the true percentile, clamped at its maximum, merged and reset.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "sched/histogram.h"

static dw_histogram histogram;
static dw_histogram other;

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void small_values_are_exact(void **state)
{
    (void)state;
    dw_histogram_reset(&histogram);
    assert_int_equal(dw_histogram_percentile(&histogram, 500000), 0);
    assert_int_equal(dw_histogram_mean(&histogram), 0);
    for (uint64_t value = 1; value <= 100; value++) {
        dw_histogram_record(&histogram, value);
    }
    assert_int_equal(histogram.count, 100);
    assert_int_equal(histogram.min, 1);
    assert_int_equal(histogram.max, 100);
    assert_int_equal(dw_histogram_mean(&histogram), 50);
    assert_int_equal(dw_histogram_percentile(&histogram, 10000), 1);
    assert_int_equal(dw_histogram_percentile(&histogram, 500000), 50);
    assert_int_equal(dw_histogram_percentile(&histogram, 630000), 63);
    assert_int_equal(dw_histogram_percentile(&histogram, 1000000), 100);
}

static void percentiles_are_within_one_sixty_fourth_above(void **state)
{
    (void)state;
    enum { SAMPLES = 100000 };
    static uint64_t values[SAMPLES];
    uint64_t random_state = dw_test_seed();
    uint64_t rounds = 3 * dw_test_scale();
    for (uint64_t round = 0; round < rounds; round++) {
        dw_histogram_reset(&histogram);
        for (int i = 0; i < SAMPLES; i++) {
            /* Latencies from ns to seconds, log-uniform. */
            uint64_t magnitude = dw_test_random(&random_state) % 34;
            values[i] = (UINT64_C(1) << magnitude) + dw_test_random(&random_state) % (UINT64_C(1) << magnitude);
            dw_histogram_record(&histogram, values[i]);
        }
        qsort(values, SAMPLES, sizeof values[0], compare_u64);
        const uint32_t wanted[] = {1, 500000, 900000, 990000, 999000, 999900, 1000000};
        for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
            uint64_t rank = ((uint64_t)SAMPLES * wanted[i] + 999999) / 1000000;
            uint64_t truth = values[(rank == 0 ? 1 : rank) - 1];
            uint64_t reported = dw_histogram_percentile(&histogram, wanted[i]);
            if (reported < truth || reported > truth + truth / 64 + 1) {
                fail_msg("p%u: reported %llu, true %llu", wanted[i], (unsigned long long)reported,
                         (unsigned long long)truth);
            }
        }
        assert_int_equal(dw_histogram_percentile(&histogram, 1000000), values[SAMPLES - 1]);
    }
}

static void huge_values_count_in_the_last_bucket(void **state)
{
    (void)state;
    dw_histogram_reset(&histogram);
    dw_histogram_record(&histogram, UINT64_MAX);
    dw_histogram_record(&histogram, DW_HISTOGRAM_VALUE_MAX + 5);
    assert_int_equal(histogram.buckets[DW_HISTOGRAM_BUCKETS - 1], 2);
    assert_int_equal(histogram.max, UINT64_MAX);
    assert_int_equal(dw_histogram_percentile(&histogram, 500000), DW_HISTOGRAM_VALUE_MAX);
}

static void merging_adds_the_counts(void **state)
{
    (void)state;
    dw_histogram_reset(&histogram);
    dw_histogram_reset(&other);
    for (uint64_t i = 0; i < 1000; i++) {
        dw_histogram_record(&histogram, 1000);
        dw_histogram_record(&other, 3000000);
    }
    dw_histogram_record(&other, 7);
    dw_histogram_merge(&histogram, &other);
    assert_int_equal(histogram.count, 2001);
    assert_int_equal(histogram.min, 7);
    assert_int_equal(histogram.max, 3000000);
    assert_true(dw_histogram_percentile(&histogram, 400000) >= 1000);
    assert_true(dw_histogram_percentile(&histogram, 400000) <= 1000 + 1000 / 64);
    assert_true(dw_histogram_percentile(&histogram, 600000) >= 3000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(small_values_are_exact),
        cmocka_unit_test(percentiles_are_within_one_sixty_fourth_above),
        cmocka_unit_test(huge_values_count_in_the_last_bucket),
        cmocka_unit_test(merging_adds_the_counts),
    };
    return cmocka_run_group_tests_name("histogram", tests, NULL, NULL);
}
