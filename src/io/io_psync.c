/*
 * io_psync.c — the portable backend: pread, pwrite and fdatasync, one request at a time,
 * carried out as it is started. Any POSIX system has it; it is what `auto` falls back to
 * when io_uring is unavailable.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/assert.h"
#include "io/io_internal.h"

static int psync_open(dw_io *io, const dw_io_options *options, char *reason, size_t reason_size)
{
    (void)io;
    (void)options;
    if (reason_size > 0) {
        reason[0] = '\0'; /* this backend cannot fail to start */
    }
    return 0;
}

static void psync_start(dw_io *io, dw_io_slot *slot)
{
    ssize_t result = 0;
    switch (slot->request.op) {
    case DW_IO_READ:
        result = pread(io->fd, dw_io_slot_buffer(slot), dw_io_slot_remaining(slot),
                       (off_t)dw_io_slot_offset(slot));
        break;
    case DW_IO_WRITE: {
        struct iovec vector = {.iov_base = dw_io_slot_buffer(slot), .iov_len = dw_io_slot_remaining(slot)};
        result = pwritev2(io->fd, &vector, 1, (off_t)dw_io_slot_offset(slot), slot->request.durable ? RWF_DSYNC : 0);
        break;
    }
    case DW_IO_SYNC:
        result = fdatasync(io->fd);
        break;
    default:
        DW_UNREACHABLE();
    }
    dw_io_finished(io, slot->index, result < 0 ? -(int64_t)errno : (int64_t)result);
}

static void psync_flush(dw_io *io)
{
    (void)io; /* every request was carried out when it started */
}

static void psync_poll(dw_io *io, uint64_t wait_ns)
{
    /* Nothing is ever in the device; a wait only lets a retry's backoff pass, and ends
     * early on dw_io_wake, which changes the word slept on. */
    if (wait_ns > 0) {
        uint32_t sequence = atomic_load_explicit(&io->wake_sequence, memory_order_acquire);
        struct timespec pause = {(time_t)(wait_ns / DW_NS_PER_S), (long)(wait_ns % DW_NS_PER_S)};
        (void)syscall(SYS_futex, (uint32_t *)(void *)&io->wake_sequence, FUTEX_WAIT_PRIVATE,
                      sequence, &pause, NULL, 0);
    }
}

static void psync_wake(dw_io *io)
{
    (void)syscall(SYS_futex, (uint32_t *)(void *)&io->wake_sequence, FUTEX_WAKE_PRIVATE, 1, NULL,
                  NULL, 0);
}

static void psync_close(dw_io *io)
{
    (void)io;
}

const dw_io_backend_ops dw_io_psync_ops = {
    .name = "psync",
    .open = psync_open,
    .start = psync_start,
    .flush = psync_flush,
    .poll = psync_poll,
    .close = psync_close,
    .wake = psync_wake,
};
