/*
 * clock.c — the system clock (kernel clocks, calibrated CPU ticks) and the virtual clock.
 *
 * The CPU tick counter is read without a system call, so the scheduler can measure every
 * operation cheaply; it is trusted only when the CPU says it runs at a constant rate in
 * every power state (invariant TSC), because a counter that changes speed with frequency
 * scaling would make measured budgets meaningless. Otherwise CLOCK_MONOTONIC_RAW serves.
 */
#include "core/clock.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

static uint64_t timespec_ns(const struct timespec *time_value)
{
    return (uint64_t)time_value->tv_sec * DW_NS_PER_S + (uint64_t)time_value->tv_nsec;
}

static uint64_t read_clock_ns(clockid_t clock_id)
{
    struct timespec now;
    int result = clock_gettime(clock_id, &now);
    /* clock_gettime can only fail for an unsupported clock id, and these ids exist on
     * every Linux the project supports. */
    DW_ASSERT(result == 0);
    return timespec_ns(&now);
}

static uint64_t system_monotonic_ns(const dw_clock *clock)
{
    (void)clock;
    return read_clock_ns(CLOCK_MONOTONIC);
}

static uint64_t system_realtime_ns(const dw_clock *clock)
{
    (void)clock;
    return read_clock_ns(CLOCK_REALTIME);
}

static uint64_t system_raw_ticks(const dw_clock *clock)
{
    (void)clock;
    return read_clock_ns(CLOCK_MONOTONIC_RAW);
}

#if defined(__x86_64__) || defined(__i386__)
static uint64_t system_cpu_ticks(const dw_clock *clock)
{
    (void)clock;
    return __rdtsc();
}

static bool cpu_ticks_available(const char **note)
{
    unsigned int eax = 0;
    unsigned int ebx = 0;
    unsigned int ecx = 0;
    unsigned int edx = 0;
    if (__get_cpuid(0x80000000u, &eax, &ebx, &ecx, &edx) == 0 || eax < 0x80000007u) {
        *note = "the CPU does not report power-management features (cpuid 0x80000007)";
        return false;
    }
    __get_cpuid(0x80000007u, &eax, &ebx, &ecx, &edx);
    if ((edx & (1u << 8)) == 0) {
        *note = "the CPU does not report an invariant TSC";
        return false;
    }
    *note = "invariant TSC, calibrated against CLOCK_MONOTONIC_RAW";
    return true;
}
#define DW_CPU_TICK_SOURCE "rdtsc"
#elif defined(__aarch64__)
static uint64_t system_cpu_ticks(const dw_clock *clock)
{
    (void)clock;
    uint64_t value;
    __asm__ __volatile__("isb; mrs %0, cntvct_el0" : "=r"(value));
    return value;
}

static bool cpu_ticks_available(const char **note)
{
    *note = "generic timer, calibrated against CLOCK_MONOTONIC_RAW";
    return true;
}
#define DW_CPU_TICK_SOURCE "cntvct"
#else
static uint64_t system_cpu_ticks(const dw_clock *clock)
{
    return system_raw_ticks(clock);
}

static bool cpu_ticks_available(const char **note)
{
    *note = "no CPU tick counter is known on this architecture";
    return false;
}
#define DW_CPU_TICK_SOURCE "none"
#endif

/* One pairing of a tick reading with a clock reading: the tick is read between two clock
 * reads and paired with their midpoint. Of several tries, the one whose clock reads are
 * closest wins, so that a preemption between the reads cannot skew the pairing. */
typedef struct tick_sample {
    uint64_t ns;
    uint64_t ticks;
} tick_sample;

#define CALIBRATION_SAMPLE_TRIES 16

static tick_sample take_tick_sample(const dw_clock *clock)
{
    tick_sample best = {0, 0};
    uint64_t best_width = UINT64_MAX;
    for (int try = 0; try < CALIBRATION_SAMPLE_TRIES; try++) {
        uint64_t before = read_clock_ns(CLOCK_MONOTONIC_RAW);
        uint64_t ticks = system_cpu_ticks(clock);
        uint64_t after = read_clock_ns(CLOCK_MONOTONIC_RAW);
        if (after - before < best_width) {
            best_width = after - before;
            best.ns = before + (after - before) / 2;
            best.ticks = ticks;
        }
    }
    return best;
}

/* Measures how many ns one CPU tick lasts by counting ticks across a spin of at least
 * `calibration_ns` of CLOCK_MONOTONIC_RAW. Spinning (rather than sleeping) keeps the core
 * awake, so the count is not distorted by the time the core takes to wake up. */
static uint64_t calibrate_ns_per_tick_q32(const dw_clock *clock, uint64_t calibration_ns)
{
    tick_sample start = take_tick_sample(clock);
    while (read_clock_ns(CLOCK_MONOTONIC_RAW) - start.ns < calibration_ns) {
    }
    tick_sample end = take_tick_sample(clock);
    uint64_t ticks_elapsed = end.ticks - start.ticks;
    uint64_t ns_elapsed = end.ns - start.ns;
    if (ticks_elapsed == 0 || end.ticks < start.ticks) {
        return 0;
    }
    __extension__ typedef unsigned __int128 dw_u128;
    return (uint64_t)(((dw_u128)ns_elapsed << 32) / ticks_elapsed);
}

void dw_clock_system_init(dw_clock *clock, uint64_t calibration_ns)
{
    DW_ASSERT(clock != NULL);
    clock->monotonic_ns = system_monotonic_ns;
    clock->realtime_ns = system_realtime_ns;
    clock->context = NULL;

    const char *note = NULL;
    if (calibration_ns > 0 && cpu_ticks_available(&note)) {
        uint64_t factor = calibrate_ns_per_tick_q32(clock, calibration_ns);
        if (factor > 0) {
            clock->ticks = system_cpu_ticks;
            clock->ns_per_tick_q32 = factor;
            clock->tick_source = DW_CPU_TICK_SOURCE;
            clock->tick_note = note;
            return;
        }
        note = "the CPU tick counter did not advance during calibration";
    } else if (calibration_ns == 0) {
        note = "calibration was not requested";
    }
    clock->ticks = system_raw_ticks;
    clock->ns_per_tick_q32 = DW_CLOCK_Q32_ONE;
    clock->tick_source = "clock_monotonic_raw";
    clock->tick_note = note;
}

static uint64_t virtual_monotonic_ns(const dw_clock *clock)
{
    const dw_clock_virtual *virtual_clock = clock->context;
    return atomic_load_explicit(&virtual_clock->now_ns, memory_order_acquire);
}

static uint64_t virtual_realtime_ns(const dw_clock *clock)
{
    const dw_clock_virtual *virtual_clock = clock->context;
    return virtual_clock->realtime_epoch_ns + virtual_monotonic_ns(clock);
}

void dw_clock_virtual_init(dw_clock_virtual *virtual_clock, uint64_t start_ns,
                           uint64_t realtime_epoch_ns)
{
    DW_ASSERT(virtual_clock != NULL);
    virtual_clock->clock.monotonic_ns = virtual_monotonic_ns;
    virtual_clock->clock.realtime_ns = virtual_realtime_ns;
    /* One virtual tick is one virtual ns: budgets measured in ticks are then exact. */
    virtual_clock->clock.ticks = virtual_monotonic_ns;
    virtual_clock->clock.ns_per_tick_q32 = DW_CLOCK_Q32_ONE;
    virtual_clock->clock.tick_source = "virtual";
    virtual_clock->clock.tick_note = "virtual time, moved only by its owner";
    virtual_clock->clock.context = virtual_clock;
    atomic_init(&virtual_clock->now_ns, start_ns);
    virtual_clock->realtime_epoch_ns = realtime_epoch_ns;
}

void dw_clock_virtual_advance(dw_clock_virtual *virtual_clock, uint64_t delta_ns)
{
    uint64_t before = atomic_fetch_add_explicit(&virtual_clock->now_ns, delta_ns,
                                                memory_order_acq_rel);
    DW_ASSERT(before + delta_ns >= before); /* virtual time never wraps */
}

/* Days since 1970-01-01 to a proleptic Gregorian date. The arithmetic works in 400-year
 * eras, whose length in days is exact, so no table or loop is needed. */
static void civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day)
{
    days += 719468; /* shift the epoch to 0000-03-01, so leap days end a year */
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned day_of_era = (unsigned)(days - era * 146097);
    unsigned year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    unsigned day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    unsigned month_from_march = (5 * day_of_year + 2) / 153;
    *day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    *month = month_from_march < 10 ? month_from_march + 3 : month_from_march - 9;
    *year = (int64_t)year_of_era + era * 400 + (*month <= 2 ? 1 : 0);
}

void dw_time_format_utc(uint64_t realtime_ns, char text[DW_TIME_TEXT_SIZE])
{
    uint64_t seconds = realtime_ns / DW_NS_PER_S;
    uint64_t microseconds = (realtime_ns % DW_NS_PER_S) / DW_NS_PER_US;
    int64_t year = 0;
    unsigned month = 0;
    unsigned day = 0;
    civil_from_days((int64_t)(seconds / 86400), &year, &month, &day);
    uint64_t second_of_day = seconds % 86400;
    /* 2^64 ns after 1970 is in the year 2554: four digits always suffice. */
    DW_ASSERT(year >= 1970 && year <= 2554);
    static const char digits[] = "0123456789";
    unsigned fields[6] = {(unsigned)year, month, day, (unsigned)(second_of_day / 3600),
                          (unsigned)(second_of_day / 60 % 60), (unsigned)(second_of_day % 60)};
    char *out = text;
    for (int i = 3; i >= 0; i--) {
        out[i] = digits[fields[0] % 10];
        fields[0] /= 10;
    }
    out += 4;
    static const char separators[5] = {'-', '-', 'T', ':', ':'};
    for (int field = 1; field < 6; field++) {
        *out++ = separators[field - 1];
        *out++ = digits[fields[field] / 10];
        *out++ = digits[fields[field] % 10];
    }
    *out++ = '.';
    for (int i = 5; i >= 0; i--) {
        out[i] = digits[microseconds % 10];
        microseconds /= 10;
    }
    out += 6;
    *out++ = 'Z';
    *out = '\0';
    DW_ASSERT(out - text == DW_TIME_TEXT_SIZE - 1);
}
