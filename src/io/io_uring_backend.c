/*
 * io_uring_backend.c — the io_uring backend, with liburing.
 *
 * The file is registered once (no per-request file lookup) and so is the buffer pool's
 * whole buffer region (no per-request page pinning): a request whose buffer lies in the
 * pool uses the fixed-buffer opcodes. A batch of requests costs one io_uring_enter.
 * Completions are reaped in batches from the shared ring without a system call.
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

#include "core/assert.h"
#include "core/text.h"
#include "io/io_internal.h"

/* How many times flush resubmits after EBUSY/EAGAIN/EINTR before the requests fail. */
#define URING_SUBMIT_TRIES 64

typedef struct uring_state {
    struct io_uring ring;
    bool ring_ready;
    bool file_registered;
    bool buffers_registered;
    uintptr_t buffers_start;
    uintptr_t buffers_end;
    uint32_t queued;                /* prepared, not yet submitted */
    uint32_t in_kernel;             /* submitted, not yet completed */
} uring_state;

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

static int uring_setup(uring_state *state, uint32_t entries, bool sqpoll)
{
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    params.cq_entries = entries * 2;
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN;
    if (sqpoll) {
        params.flags |= IORING_SETUP_SQPOLL;
        params.sq_thread_idle = 1000; /* ms the kernel thread spins before it sleeps */
    }
    int result = io_uring_queue_init_params(entries, &state->ring, &params);
    if (result == -EINVAL) {
        /* COOP_TASKRUN is from Linux 5.19: older kernels take the ring without it. */
        memset(&params, 0, sizeof params);
        params.cq_entries = entries * 2;
        params.flags = IORING_SETUP_CQSIZE | (sqpoll ? IORING_SETUP_SQPOLL : 0);
        result = io_uring_queue_init_params(entries, &state->ring, &params);
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

static void uring_flush(dw_io *io);
static void uring_poll(dw_io *io, uint64_t wait_ns);

static struct io_uring_sqe *next_entry(dw_io *io)
{
    uring_state *state = state_of(io);
    struct io_uring_sqe *entry = io_uring_get_sqe(&state->ring);
    if (entry == NULL) {
        /* The submission ring holds the queue depth, so it is full only of entries
         * prepared and not submitted: submitting makes room. */
        uring_flush(io);
        entry = io_uring_get_sqe(&state->ring);
    }
    DW_ASSERT(entry != NULL);
    return entry;
}

static void uring_start(dw_io *io, dw_io_slot *slot)
{
    uring_state *state = state_of(io);
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
    }
    if (state->file_registered) {
        entry->flags |= IOSQE_FIXED_FILE;
    }
    io_uring_sqe_set_data64(entry, slot->index);
    state->queued++;
}

/* Hands every completion in the ring to the common layer; no system call. */
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
            DW_ASSERT(state->in_kernel > 0);
            state->in_kernel--;
            dw_io_finished(io, (uint32_t)slot, result);
        }
        io_uring_cq_advance(&state->ring, count);
    }
}

static void uring_flush(dw_io *io)
{
    uring_state *state = state_of(io);
    for (int tries = 0; state->queued > 0; tries++) {
        int submitted = io_uring_submit(&state->ring);
        if (submitted >= 0) {
            state->queued -= (uint32_t)submitted;
            state->in_kernel += (uint32_t)submitted;
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

static void uring_poll(dw_io *io, uint64_t wait_ns)
{
    uring_state *state = state_of(io);
    harvest(io);
    if (wait_ns == 0 || io->ready_count > 0) {
        return;
    }
    if (state->queued > 0) {
        uring_flush(io);
    }
    struct __kernel_timespec timeout = {
        .tv_sec = (long long)(wait_ns / DW_NS_PER_S),
        .tv_nsec = (long long)(wait_ns % DW_NS_PER_S),
    };
    struct io_uring_cqe *entry = NULL;
    /* Returns on the first completion or at the timeout (-ETIME); either way, harvest. */
    (void)io_uring_wait_cqe_timeout(&state->ring, &entry, &timeout);
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
    }
}

const dw_io_backend_ops dw_io_uring_ops = {
    .name = "io_uring",
    .open = uring_open,
    .start = uring_start,
    .flush = uring_flush,
    .poll = uring_poll,
    .close = uring_close,
};
