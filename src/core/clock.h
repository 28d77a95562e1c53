/*
 * clock.h — time for dwvd: monotonic nanoseconds, wall time, and a CPU tick counter,
 * all behind one injectable interface.
 *
 * Nothing in the engine reads time except through a dw_clock. The system clock reads the
 * kernel's clocks and the CPU's tick counter; the virtual clock returns a number that
 * only the test or the deterministic scheduler moves, so a run under it never depends on
 * wall time and replays exactly.
 */
#ifndef DW_CORE_CLOCK_H
#define DW_CORE_CLOCK_H

#include <stdint.h>

#include "core/assert.h"

#define DW_NS_PER_US UINT64_C(1000)
#define DW_NS_PER_MS UINT64_C(1000000)
#define DW_NS_PER_S UINT64_C(1000000000)

/* Ticks are converted to ns with a 32.32 fixed-point factor: exact for the virtual clock
 * (one tick is one ns) and free of floating-point rounding differences between builds. */
#define DW_CLOCK_Q32_ONE (UINT64_C(1) << 32)

typedef struct dw_clock dw_clock;

struct dw_clock {
    uint64_t (*monotonic_ns)(const dw_clock *clock);
    uint64_t (*realtime_ns)(const dw_clock *clock);   /* ns since 1970-01-01T00:00:00Z */
    uint64_t (*ticks)(const dw_clock *clock);
    uint64_t ns_per_tick_q32;                          /* ns per tick, 32.32 fixed point */
    const char *tick_source;                           /* "rdtsc", "cntvct", "clock_monotonic_raw", "virtual" */
    const char *tick_note;                             /* why this source was chosen */
    void *context;
};

/* Fills `clock` with the system clock. The tick counter is the CPU's invariant TSC
 * (x86-64) or generic timer (AArch64) when available, calibrated against
 * CLOCK_MONOTONIC_RAW for `calibration_ns` (about 10 ms is enough for 0.01% error);
 * otherwise the tick counter is CLOCK_MONOTONIC_RAW itself, with one tick per ns. */
void dw_clock_system_init(dw_clock *clock, uint64_t calibration_ns);

/* A clock whose time moves only when told to. */
typedef struct dw_clock_virtual {
    dw_clock clock;
    _Atomic uint64_t now_ns;
    uint64_t realtime_epoch_ns;     /* wall time reported when now_ns is 0 */
} dw_clock_virtual;

void dw_clock_virtual_init(dw_clock_virtual *virtual_clock, uint64_t start_ns,
                           uint64_t realtime_epoch_ns);
void dw_clock_virtual_advance(dw_clock_virtual *virtual_clock, uint64_t delta_ns);

static inline uint64_t dw_clock_now_ns(const dw_clock *clock)
{
    return clock->monotonic_ns(clock);
}

static inline uint64_t dw_clock_realtime_ns(const dw_clock *clock)
{
    return clock->realtime_ns(clock);
}

static inline uint64_t dw_clock_ticks(const dw_clock *clock)
{
    return clock->ticks(clock);
}

/* Converts a tick difference to ns with the clock's calibration. */
static inline uint64_t dw_clock_ticks_to_ns(const dw_clock *clock, uint64_t ticks)
{
    __extension__ typedef unsigned __int128 dw_u128;
    return (uint64_t)(((dw_u128)ticks * clock->ns_per_tick_q32) >> 32);
}

/* Formats wall time as ISO 8601 UTC with microseconds, "2026-11-21T10:43:00.123456Z"
 * (27 characters and a NUL), without calling into the C library's time zone code, which
 * may lock or allocate. */
#define DW_TIME_TEXT_SIZE 28
void dw_time_format_utc(uint64_t realtime_ns, char text[DW_TIME_TEXT_SIZE]);

#endif /* DW_CORE_CLOCK_H */
