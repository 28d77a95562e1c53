/*
 * test_clock.c — the system clock, the calibrated tick counter, the virtual clock, and
 * the UTC formatter. No test here asserts a speed: bounds on measured time are wide
 * sanity limits on unit conversion, not performance claims.
 */
#include "harness.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"

static void virtual_clock_moves_only_when_told(void **state)
{
    (void)state;
    dw_clock_virtual virtual_clock;
    dw_clock_virtual_init(&virtual_clock, 1000, UINT64_C(1700000000) * DW_NS_PER_S);
    const dw_clock *clock = &virtual_clock.clock;
    assert_int_equal(dw_clock_now_ns(clock), 1000);
    assert_int_equal(dw_clock_now_ns(clock), 1000);
    assert_int_equal(dw_clock_ticks(clock), 1000);
    assert_int_equal(dw_clock_realtime_ns(clock), UINT64_C(1700000000) * DW_NS_PER_S + 1000);
    dw_clock_virtual_advance(&virtual_clock, 5 * DW_NS_PER_MS);
    assert_int_equal(dw_clock_now_ns(clock), 1000 + 5 * DW_NS_PER_MS);
    assert_int_equal(dw_clock_ticks_to_ns(clock, 12345), 12345);
    assert_string_equal(clock->tick_source, "virtual");
}

static void system_clock_is_monotonic_and_plausible(void **state)
{
    (void)state;
    dw_clock clock;
    dw_clock_system_init(&clock, 10 * DW_NS_PER_MS);
    uint64_t previous = dw_clock_now_ns(&clock);
    uint64_t previous_ticks = dw_clock_ticks(&clock);
    for (int i = 0; i < 10000; i++) {
        uint64_t now = dw_clock_now_ns(&clock);
        assert_true(now >= previous);
        previous = now;
        uint64_t ticks = dw_clock_ticks(&clock);
        assert_true(ticks >= previous_ticks);
        previous_ticks = ticks;
    }
    /* After 2020-01-01 and before 2200-01-01. */
    uint64_t wall_seconds = dw_clock_realtime_ns(&clock) / DW_NS_PER_S;
    assert_true(wall_seconds > UINT64_C(1577836800) && wall_seconds < UINT64_C(7258118400));
    assert_non_null(clock.tick_source);
    assert_non_null(clock.tick_note);
    printf("# tick source %s (%s), %.4f ns a tick\n", clock.tick_source, clock.tick_note,
           (double)clock.ns_per_tick_q32 / (double)DW_CLOCK_Q32_ONE);
}

static void calibrated_ticks_convert_to_nanoseconds(void **state)
{
    (void)state;
    dw_clock clock;
    dw_clock_system_init(&clock, 10 * DW_NS_PER_MS);
    /* Any real tick lasts between 0.01 ns (100 GHz) and 1 us. */
    assert_true(clock.ns_per_tick_q32 > DW_CLOCK_Q32_ONE / 100);
    assert_true(clock.ns_per_tick_q32 < 1000 * DW_CLOCK_Q32_ONE);
    /* The two measures of the same 20 ms agree to within 5% plus 1 ms; a wrong factor
     * would be off by orders. A preemption between the paired reads can skew one try,
     * so the best of five counts. */
    uint64_t best_difference = UINT64_MAX;
    for (int attempt = 0; attempt < 5; attempt++) {
        uint64_t ns_start = dw_clock_now_ns(&clock);
        uint64_t ticks_start = dw_clock_ticks(&clock);
        struct timespec pause = {0, 20 * 1000 * 1000};
        while (nanosleep(&pause, &pause) != 0) {
        }
        uint64_t ticks_ns = dw_clock_ticks_to_ns(&clock, dw_clock_ticks(&clock) - ticks_start);
        uint64_t clock_ns = dw_clock_now_ns(&clock) - ns_start;
        assert_true(clock_ns >= 20 * DW_NS_PER_MS);
        uint64_t difference = ticks_ns > clock_ns ? ticks_ns - clock_ns : clock_ns - ticks_ns;
        if (difference <= clock_ns / 20 + DW_NS_PER_MS) {
            return;
        }
        best_difference = difference < best_difference ? difference : best_difference;
    }
    fail_msg("ticks and clock disagree by %llu ns over 20 ms", (unsigned long long)best_difference);
}

static void no_calibration_falls_back_to_the_kernel_clock(void **state)
{
    (void)state;
    dw_clock clock;
    dw_clock_system_init(&clock, 0);
    assert_string_equal(clock.tick_source, "clock_monotonic_raw");
    assert_int_equal(clock.ns_per_tick_q32, DW_CLOCK_Q32_ONE);
    assert_int_equal(dw_clock_ticks_to_ns(&clock, 777), 777);
    assert_true(dw_clock_ticks(&clock) > 0);
}

static void utc_format_matches_known_instants(void **state)
{
    (void)state;
    char text[DW_TIME_TEXT_SIZE];
    dw_time_format_utc(0, text);
    assert_string_equal(text, "1970-01-01T00:00:00.000000Z");
    dw_time_format_utc(UINT64_C(951782400) * DW_NS_PER_S + 999999999, text);
    assert_string_equal(text, "2000-02-29T00:00:00.999999Z");
    dw_time_format_utc(UINT64_C(1795257963) * DW_NS_PER_S + 555341000, text);
    assert_string_equal(text, "2026-11-21T10:46:03.555341Z");
    dw_time_format_utc(UINT64_C(4107542399) * DW_NS_PER_S, text);
    assert_string_equal(text, "2100-02-28T23:59:59.000000Z"); /* 2100 is not a leap year */
    dw_time_format_utc(UINT64_MAX, text);
    assert_string_equal(text, "2554-07-21T23:34:33.709551Z"); /* the last representable */
}

static void utc_format_agrees_with_the_c_library(void **state)
{
    (void)state;
    uint64_t random_state = dw_test_seed();
    uint64_t rounds = 20000 * dw_test_scale();
    for (uint64_t i = 0; i < rounds; i++) {
        /* Any second whose nanoseconds fit in 64 bits (up to the year 2554). */
        time_t seconds = (time_t)(dw_test_random(&random_state) % (UINT64_MAX / DW_NS_PER_S));
        uint64_t micros = dw_test_random(&random_state) % 1000000;
        struct tm broken;
        assert_non_null(gmtime_r(&seconds, &broken));
        char expected[64];
        size_t length = strftime(expected, sizeof expected, "%Y-%m-%dT%H:%M:%S", &broken);
        assert_true(length > 0);
        (void)snprintf(expected + length, sizeof expected - length, ".%06lluZ",
                       (unsigned long long)micros);
        char text[DW_TIME_TEXT_SIZE];
        dw_time_format_utc((uint64_t)seconds * DW_NS_PER_S + micros * DW_NS_PER_US, text);
        assert_string_equal(text, expected);
    }
}

enum { ADVANCE_THREADS = 4, ADVANCES_PER_THREAD = 100000 };

static void *advance_many(void *argument)
{
    dw_clock_virtual *virtual_clock = argument;
    uint64_t previous = dw_clock_now_ns(&virtual_clock->clock);
    for (int i = 0; i < ADVANCES_PER_THREAD; i++) {
        dw_clock_virtual_advance(virtual_clock, 3);
        uint64_t now = dw_clock_now_ns(&virtual_clock->clock);
        if (now < previous) {
            return (void *)1;
        }
        previous = now;
    }
    return NULL;
}

static void virtual_clock_is_safe_across_threads(void **state)
{
    (void)state;
    dw_clock_virtual virtual_clock;
    dw_clock_virtual_init(&virtual_clock, 0, 0);
    pthread_t threads[ADVANCE_THREADS];
    for (int i = 0; i < ADVANCE_THREADS; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, advance_many, &virtual_clock), 0);
    }
    for (int i = 0; i < ADVANCE_THREADS; i++) {
        void *result = NULL;
        assert_int_equal(pthread_join(threads[i], &result), 0);
        assert_null(result);
    }
    assert_int_equal(dw_clock_now_ns(&virtual_clock.clock),
                     (uint64_t)ADVANCE_THREADS * ADVANCES_PER_THREAD * 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(virtual_clock_moves_only_when_told),
        cmocka_unit_test(system_clock_is_monotonic_and_plausible),
        cmocka_unit_test(calibrated_ticks_convert_to_nanoseconds),
        cmocka_unit_test(no_calibration_falls_back_to_the_kernel_clock),
        cmocka_unit_test(utc_format_matches_known_instants),
        cmocka_unit_test(utc_format_agrees_with_the_c_library),
        cmocka_unit_test(virtual_clock_is_safe_across_threads),
    };
    return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
