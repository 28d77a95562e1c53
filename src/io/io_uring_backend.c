/*
 * io_uring_backend.c — the io_uring backend, with liburing.
 *
 * The file is registered once (no per-request file lookup) and so is the buffer pool's
 * whole buffer region (no per-request page pinning): a request whose buffer lies in the
 * pool uses the fixed-buffer opcodes. Completions are reaped from the shared ring in
 * batches.
 *
 * When to enter the kernel, as measured against fio on a virtio disk (docs/BENCHMARKS.md):
 *  - with nothing in flight (queue depth 1), submission waits for the next poll, which
 *    submits and waits in one io_uring_enter: half the system calls of submitting at
 *    once and waiting after;
 *  - with requests already in the device, a submission goes at once: refilling the
 *    device's queue in batches measured 10-15% fewer IOPS at depth 32 than keeping it
 *    full, request by request, as fio does; but a caller that builds a batch request by
 *    request plugs the io (dw_io_plug) and the batch goes in one io_uring_enter, or in
 *    the enter of the reap that follows;
 *  - a poll that waits does so in one io_uring_enter that also submits what is queued:
 *    the kernel runs the deferred completions and looks at the ring before it sleeps,
 *    so looking first without sleeping would only add a system call;
 *  - completions are posted as deferred task work (DEFER_TASKRUN, see setups[]), in
 *    batches, when the driving thread asks for them.
 *
 * What can go wrong and what is done:
 *  - the submission ring is full: submit what is queued, then queue again;
 *  - io_uring_enter says EBUSY/EAGAIN (completions not yet reaped, kernel short of
 *    memory): reap, then submit again; EINTR: submit again;
 *  - the completion ring overflows: with IORING_FEAT_NODROP the kernel keeps the
 *    entries and io_uring_enter reports EBUSY until they are reaped, handled above; and
 *    the ring has twice the queue depth of completion entries, so it does not happen in
 *    normal operation;
 *  - a short read or write, EAGAIN or EINTR in a completion: the common layer resubmits.
 */
#include <errno.h>
#include <liburing.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/text.h"
#include "io/io_internal.h"

/* How many times flush resubmits after EBUSY/EAGAIN/EINTR before the requests fail. */
#define URING_SUBMIT_TRIES 64

typedef struct uring_state {
    struct io_uring ring;
    bool ring_ready;
    bool deferred_task_work;        /* completions post only when we ask (DEFER_TASKRUN) */
    bool enabled;                   /* created disabled; enabled by the thread that submits */
    bool file_registered;
    bool buffers_registered;
    uintptr_t buffers_start;
    uintptr_t buffers_end;
    uint32_t queued;                /* prepared, not yet submitted */
    uint32_t in_kernel;             /* submitted, not yet completed */
    int wake_fd;                    /* an eventfd dw_io_wake writes to */
    bool wake_armed;                /* a read of wake_fd is in the ring */
    bool wake_unsubmitted;          /* ... and was prepared after the queued requests */
    uint64_t wake_value;            /* where that read lands */
} uring_state;

/* The user_data of the wake read: no slot has this index. */
#define URING_WAKE_TAG UINT64_MAX

DW_STATIC_ASSERT(sizeof(uring_state) <= DW_IO_BACKEND_STATE_MAX,
                 "the io_uring state must fit the planned backend piece");

static uring_state *state_of(dw_io *io)
{
    return io->backend_state;
}

static const char *setup_failure(int error_number)
{
    switch (error_number) {
    case ENOSYS:
        return "the kernel has no io_uring (ENOSYS)";
    case EPERM:
        return "io_uring is disabled by sysctl kernel.io_uring_disabled or blocked by seccomp (EPERM)";
    case EACCES:
        return "io_uring is restricted to a group by sysctl kernel.io_uring_group (EACCES)";
    case ENOMEM:
        return "the locked-memory limit (RLIMIT_MEMLOCK) is too low for the rings (ENOMEM)";
    case EINVAL:
        return "the kernel refuses these ring parameters (EINVAL)";
    default:
        return "io_uring setup failed";
    }
}

/* Ring set-ups from the best this kernel may offer down to the plainest. DEFER_TASKRUN
 * (Linux 6.1) posts completions in a batch when the submitting thread asks for them
 * instead of interrupting it for each: at queue depth 32 on a virtio disk it measured
 * about 8% more IOPS. It needs SINGLE_ISSUER, one submitting thread; the ring is created
 * disabled and enabled by the first submission, so the thread that drives the I/O (the
 * scheduler's I/O thread) becomes that issuer whichever thread opened it. */
static const struct {
    unsigned flags;
    bool deferred;
} setups[] = {
    {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
         IORING_SETUP_R_DISABLED,
     true},
    {IORING_SETUP_COOP_TASKRUN, false}, /* Linux 5.19 */
    {0, false},
};

static int uring_setup(uring_state *state, uint32_t entries, bool sqpoll)
{
    int result = -EINVAL;
    for (size_t i = 0; i < DW_ARRAY_COUNT(setups) && result == -EINVAL; i++) {
        /* SQPOLL has its own submitting thread: no single issuer to defer work to. */
        if (sqpoll && setups[i].deferred) {
            continue;
        }
        struct io_uring_params params;
        memset(&params, 0, sizeof params);
        params.cq_entries = entries * 2;
        params.flags = IORING_SETUP_CQSIZE | setups[i].flags;
        if (sqpoll) {
            params.flags |= IORING_SETUP_SQPOLL;
            params.sq_thread_idle = 1000; /* ms the kernel thread spins before it sleeps */
        }
        result = io_uring_queue_init_params(entries, &state->ring, &params);
        state->deferred_task_work = result == 0 && setups[i].deferred;
        state->enabled = result == 0 && !setups[i].deferred;
    }
    return result;
}

static int uring_open(dw_io *io, const dw_io_options *options, char *reason, size_t reason_size)
{
    uring_state *state = state_of(io);
    memset(state, 0, sizeof *state);
    int result = options->uring_setup_errno != 0 ? -options->uring_setup_errno
                                                 : uring_setup(state, io->queue_depth, options->sqpoll);
    if (result < 0) {
        dw_format(reason, reason_size, "%s%s", setup_failure(-result),
                  options->uring_setup_errno != 0 ? " [injected by a test]" : "");
        return result;
    }
    state->ring_ready = true;
    state->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (state->wake_fd < 0) {
        int error_number = errno;
        io_uring_queue_exit(&state->ring);
        state->ring_ready = false;
        dw_format(reason, reason_size, "cannot create the wake-up eventfd (%s)", strerror(error_number));
        return -error_number;
    }
    if (io_uring_register_files(&state->ring, &io->fd, 1) == 0) {
        state->file_registered = true;
    }
    const dw_pool *pool = options->pool;
    if (pool != NULL) {
        struct iovec region = {
            .iov_base = pool->buffers,
            .iov_len = (size_t)pool->buffer_count * pool->buffer_size,
        };
        int registered = io_uring_register_buffers(&state->ring, &region, 1);
        if (registered == 0) {
            state->buffers_registered = true;
            state->buffers_start = (uintptr_t)pool->buffers;
            state->buffers_end = state->buffers_start + region.iov_len;
        } else {
            /* Pinned pages count against RLIMIT_MEMLOCK; without registration every
             * request pins its pages itself, slower but correct. */
            DW_LOG(io->log, DW_LOG_WARN, "io", "cannot register the buffer pool with io_uring",
                   DW_LOG_STRING("file", io->path), DW_LOG_INT("errno", -registered),
                   DW_LOG_UINT("bytes", region.iov_len));
        }
    }
    return 0;
}

static void submit_queued(dw_io *io);

static struct io_uring_sqe *next_entry(dw_io *io)
{
    uring_state *state = state_of(io);
    struct io_uring_sqe *entry = io_uring_get_sqe(&state->ring);
    if (entry == NULL) {
        /* The submission ring holds the queue depth, so it is full only of entries
         * prepared and not submitted: submitting makes room. */
        submit_queued(io);
        entry = io_uring_get_sqe(&state->ring);
    }
    DW_ASSERT(entry != NULL);
    return entry;
}

static void uring_start(dw_io *io, dw_io_slot *slot)
{
    uring_state *state = state_of(io);
    if (!state->enabled) {
        /* liburing 2.3 declares io_uring_enable_rings but its library (Debian 12's) does
         * not export it: the register call it wraps, made directly. */
        long result = syscall(__NR_io_uring_register, state->ring.ring_fd,
                              IORING_REGISTER_ENABLE_RINGS, NULL, 0);
        DW_ASSERT(result == 0); /* only fails for a ring that is not disabled */
        state->enabled = true;
    }
    struct io_uring_sqe *entry = next_entry(io);
    int file = state->file_registered ? 0 : io->fd;
    if (slot->request.op == DW_IO_SYNC) {
        io_uring_prep_fsync(entry, file, IORING_FSYNC_DATASYNC);
    } else {
        unsigned char *buffer = dw_io_slot_buffer(slot);
        uint32_t length = dw_io_slot_remaining(slot);
        uint64_t offset = dw_io_slot_offset(slot);
        bool fixed = state->buffers_registered && (uintptr_t)buffer >= state->buffers_start &&
                     (uintptr_t)buffer + length <= state->buffers_end;
        bool read = slot->request.op == DW_IO_READ;
        DW_ASSERT(read || slot->request.op == DW_IO_WRITE);
        if (fixed && read) {
            io_uring_prep_read_fixed(entry, file, buffer, length, offset, 0);
        } else if (fixed) {
            io_uring_prep_write_fixed(entry, file, buffer, length, offset, 0);
        } else if (read) {
            io_uring_prep_read(entry, file, buffer, length, offset);
        } else {
            io_uring_prep_write(entry, file, buffer, length, offset);
        }
        if (!read && slot->request.durable) {
            entry->rw_flags = RWF_DSYNC;
        }
    }
    if (state->file_registered) {
        entry->flags |= IOSQE_FIXED_FILE;
    }
    io_uring_sqe_set_data64(entry, slot->index);
    state->queued++;
}

/* Hands every completion visible in the ring to the common layer; no system call. */
static void harvest(dw_io *io)
{
    uring_state *state = state_of(io);
    struct io_uring_cqe *entries[64];
    for (;;) {
        unsigned count = io_uring_peek_batch_cqe(&state->ring, entries, DW_ARRAY_COUNT(entries));
        if (count == 0) {
            return;
        }
        for (unsigned i = 0; i < count; i++) {
            uint64_t slot = io_uring_cqe_get_data64(entries[i]);
            int32_t result = entries[i]->res;
            if (slot == URING_WAKE_TAG) {
                state->wake_armed = false; /* woken: re-armed before the next sleep */
                continue;
            }
            DW_ASSERT(state->in_kernel > 0);
            state->in_kernel--;
            dw_io_finished(io, (uint32_t)slot, result);
        }
        io_uring_cq_advance(&state->ring, count);
    }
}

/* Submits what is queued (if anything) and, with deferred task work, has the kernel post
 * what has finished: one io_uring_enter that does not sleep. */
static void submit_and_collect(dw_io *io)
{
    uring_state *state = state_of(io);
    if (state->deferred_task_work && state->in_kernel + state->queued > 0) {
        uint32_t queued = state->queued;
        int result = io_uring_submit_and_get_events(&state->ring);
        if (result >= 0) {
            state->queued -= (uint32_t)result < queued ? (uint32_t)result : queued;
            state->in_kernel += (uint32_t)result < queued ? (uint32_t)result : queued;
        }
    }
    if (state->queued > 0) {
        submit_queued(io); /* the careful path: full rings, EBUSY, EAGAIN, EINTR */
    }
    harvest(io);
}

/* Submits what is queued now (used when the ring is full, and by a poll that must not
 * wait). */
static void submit_queued(dw_io *io)
{
    uring_state *state = state_of(io);
    for (int tries = 0; state->queued > 0; tries++) {
        int submitted = io_uring_submit(&state->ring);
        if (submitted >= 0) {
            uint32_t requests = (uint32_t)submitted;
            if (state->wake_unsubmitted && requests > state->queued) {
                requests--; /* the wake read, prepared last, went too */
                state->wake_unsubmitted = false;
            }
            requests = requests < state->queued ? requests : state->queued;
            state->queued -= requests;
            state->in_kernel += requests;
            continue;
        }
        if ((submitted == -EBUSY || submitted == -EAGAIN || submitted == -EINTR) &&
            tries < URING_SUBMIT_TRIES) {
            harvest(io); /* room in the completion ring lets the kernel take more */
            continue;
        }
        /* The kernel will not take the entries: they stay in the ring, and will go with
         * the next successful submission; tell the log. */
        DW_LOG(io->log, DW_LOG_ERROR, "io", "io_uring refuses submissions",
               DW_LOG_STRING("file", io->path), DW_LOG_INT("errno", -submitted),
               DW_LOG_UINT("queued", state->queued));
        return;
    }
}

static void uring_flush(dw_io *io)
{
    /* With requests in the device, new ones go at once, keeping its queue full; with
     * nothing in flight, the next poll submits and waits in one system call. */
    if (state_of(io)->in_kernel > 0) {
        submit_queued(io);
    }
}

static void uring_poll(dw_io *io, uint64_t wait_ns)
{
    uring_state *state = state_of(io);
    harvest(io);
    if (wait_ns == 0 || io->ready_count > 0) {
        /* Not asked to wait, or something is done already: submit and look, no sleep. */
        submit_and_collect(io);
        return;
    }
    /* No separate look first: an io_uring_enter that waits runs the deferred completions
     * and checks the ring before it sleeps, so a look would only be a second system
     * call (measured with bench/device_bench.c: 3 enters a refill cycle became 1). */
    struct __kernel_timespec timeout = {
        .tv_sec = (long long)(wait_ns / DW_NS_PER_S),
        .tv_nsec = (long long)(wait_ns % DW_NS_PER_S),
    };
    struct io_uring_cqe *entry = NULL;
    if (!state->wake_armed) {
        /* Before sleeping, a read of the wake-up eventfd, so that dw_io_wake from another
         * thread ends the sleep. Prepared last, submitted with the queued requests. */
        struct io_uring_sqe *wake = next_entry(io);
        io_uring_prep_read(wake, state->wake_fd, &state->wake_value, sizeof state->wake_value, 0);
        io_uring_sqe_set_data64(wake, URING_WAKE_TAG);
        state->wake_armed = true;
        state->wake_unsubmitted = true;
    }
    /* Submit what is queued (at queue depth 1, the one request: submission and wait in
     * one io_uring_enter) and wait for the first completion or the timeout. */
    int submitted = io_uring_submit_and_wait_timeout(&state->ring, &entry, 1, &timeout, NULL);
    if (submitted >= 0 || submitted == -ETIME) {
        /* Submitted; -ETIME only says nothing finished in time. */
        state->in_kernel += state->queued;
        state->queued = 0;
        state->wake_unsubmitted = false;
    } else {
        submit_queued(io); /* EBUSY, EAGAIN, EINTR: the careful path */
    }
    harvest(io);
}

static void uring_close(dw_io *io)
{
    uring_state *state = state_of(io);
    if (state->ring_ready) {
        /* The ring is torn down asynchronously after it exits, and a registered file
         * would keep the data file (and its lock) open until then: unregister first. */
        if (state->file_registered) {
            (void)io_uring_unregister_files(&state->ring);
            state->file_registered = false;
        }
        if (state->buffers_registered) {
            (void)io_uring_unregister_buffers(&state->ring);
            state->buffers_registered = false;
        }
        io_uring_queue_exit(&state->ring);
        state->ring_ready = false;
        (void)close(state->wake_fd);
        state->wake_fd = -1;
    }
}

static void uring_wake(dw_io *io)
{
    uint64_t one = 1;
    /* Nonblocking: a counter already raised (nobody has read it yet) wakes just as well. */
    (void)!write(state_of(io)->wake_fd, &one, sizeof one);
}

const dw_io_backend_ops dw_io_uring_ops = {
    .name = "io_uring",
    .open = uring_open,
    .start = uring_start,
    .flush = uring_flush,
    .poll = uring_poll,
    .close = uring_close,
    .wake = uring_wake,
};
