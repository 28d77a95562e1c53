/*
 * futex.c — see futex.h.
 */
#include "core/futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

void dw_futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t timeout_ns)
{
    struct timespec timeout = {
        .tv_sec = (time_t)(timeout_ns / DW_NS_PER_S),
        .tv_nsec = (long)(timeout_ns % DW_NS_PER_S),
    };
    /* EAGAIN (the word changed), EINTR and ETIMEDOUT all mean: look again. */
    (void)syscall(SYS_futex, (uint32_t *)(void *)word, FUTEX_WAIT_PRIVATE, expected, &timeout,
                  NULL, 0);
}

void dw_futex_wake(_Atomic uint32_t *word, int32_t count)
{
    (void)syscall(SYS_futex, (uint32_t *)(void *)word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}
