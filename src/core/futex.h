/*
 * futex.h — sleeping on a 32-bit word until another thread changes it: Linux futexes,
 * private to the process. The pool's waiting renters, the deadline scheduler's idle
 * I/O thread and the CPU workers all sleep this way. No library is needed for this:
 * a condition variable would need a mutex around every hand-off, and the hand-offs
 * here are lock-free.
 */
#ifndef DW_CORE_FUTEX_H
#define DW_CORE_FUTEX_H

#include <stdint.h>

/* Sleeps while *word == expected, for at most timeout_ns. Returns on a wake, a change,
 * a signal or the timeout alike: the caller looks again. */
void dw_futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t timeout_ns);

/* Wakes up to `count` threads sleeping on word (INT32_MAX: all). */
void dw_futex_wake(_Atomic uint32_t *word, int32_t count);

#endif /* DW_CORE_FUTEX_H */
