/*
 * io.c — the common I/O layer: request checks, slots, backend choice, short transfers,
 * retries with backoff, the sticky sync error, completions. See io.h.
 *
 * It must never allocate after dw_io_open: slots, queues and completions live in the
 * arena pieces planned by dw_io_plan_in.
 */
#include "io/io.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/text.h"
#include "io/io_internal.h"
#include "io/sim_disk.h"

/* The kernel's own memory for io_uring rings of `entries`: submission entries (64 bytes),
 * the submission index array and twice as many completion entries (16 bytes), each in
 * whole pages, plus a page of ring headers. An estimate the budget can hold the engine to;
 * the kernel's exact figure depends on its version. */
static uint64_t uring_ring_bytes(uint32_t entries)
{
    uint64_t page = 4096;
    uint64_t submission = ((uint64_t)entries * (64 + 4) + page - 1) / page * page;
    uint64_t completion = ((uint64_t)entries * 2 * 16 + page - 1) / page * page;
    return submission + completion + page;
}

int dw_io_plan_in(dw_arena *arena, uint32_t queue_depth, dw_io_plan *plan, dw_diag *diag)
{
    DW_ASSERT(queue_depth >= 1 && queue_depth <= DW_IO_QUEUE_DEPTH_MAX);
    plan->queue_depth = queue_depth;
    /* Slots, then three rings of slot indices: free, waiting to restart, ready to reap. */
    uint64_t slots_bytes = (uint64_t)queue_depth * (sizeof(dw_io_slot) + 3 * sizeof(uint32_t));
    int result = dw_arena_plan(arena, "io slots", slots_bytes, 64, &plan->slots_piece, diag);
    if (result == DW_OK) {
        result = dw_arena_plan(arena, "io backend", DW_IO_BACKEND_STATE_MAX, 64, &plan->backend_piece,
                               diag);
    }
    if (result == DW_OK) {
        result = dw_arena_plan_external(arena, "io_uring rings", uring_ring_bytes(queue_depth), diag);
    }
    return result;
}

/* ------------------------------------------------------------------------------------
 * Names and categories
 * ---------------------------------------------------------------------------------- */

dw_io_category dw_io_categorize(int error_number)
{
    switch (error_number) {
    case 0:
        return DW_IO_OK;
    case EAGAIN:
    case EINTR:
        return DW_IO_RETRYABLE;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        return DW_IO_NO_SPACE;
    case EACCES:
    case EPERM:
    case EROFS:
        return DW_IO_PERMISSION;
    case EBADMSG:
    case EUCLEAN:
        return DW_IO_CORRUPTION;
    case EBADF:
    case EFAULT:
    case EINVAL:
    case EOPNOTSUPP:
        return DW_IO_BUG;
    default:
        return DW_IO_MEDIA; /* EIO, ENXIO, ENODEV, ENOMEDIUM, ETIMEDOUT... */
    }
}

const char *dw_io_category_name(dw_io_category category)
{
    static const char *const names[] = {"ok",         "retryable",  "media", "no space",
                                        "permission", "corruption", "bug"};
    DW_ASSERT((size_t)category < DW_ARRAY_COUNT(names));
    return names[category];
}

const char *dw_io_op_name(dw_io_op op)
{
    static const char *const names[] = {"read", "write", "sync"};
    DW_ASSERT((size_t)op < DW_ARRAY_COUNT(names));
    return names[op];
}

const char *dw_io_backend_name(dw_io_backend backend)
{
    static const char *const names[] = {"auto", "io_uring", "psync", "sim"};
    DW_ASSERT((size_t)backend < DW_ARRAY_COUNT(names));
    return names[backend];
}

static int error_for_category(dw_io_category category)
{
    switch (category) {
    case DW_IO_RETRYABLE:
        return DW_EBUSY;
    case DW_IO_NO_SPACE:
        return DW_ENOSPC;
    case DW_IO_PERMISSION:
        return DW_EPERM;
    case DW_IO_CORRUPTION:
        return DW_ECORRUPT;
    case DW_IO_BUG:
        return DW_EINVAL;
    case DW_IO_MEDIA:
        return DW_EIO;
    case DW_IO_OK:
    default:
        DW_UNREACHABLE();
    }
}

void dw_io_describe(const dw_io *io, const dw_io_completion *completion, char *text, size_t text_size)
{
    const char *outcome = completion->result == DW_OK ? "succeeded" : "failed";
    if (completion->op == DW_IO_SYNC) {
        dw_format(text, text_size, "sync of '%s' %s", io->path, outcome);
    } else {
        dw_format(text, text_size, "%s of %u bytes at offset %llu of '%s' %s",
                  dw_io_op_name(completion->op), completion->length,
                  (unsigned long long)completion->offset, io->path, outcome);
    }
    if (completion->result != DW_OK) {
        size_t used = strlen(text);
        dw_format(text + used, text_size - used, ": %s (%s error, %u attempts)",
                  completion->error_number != 0 ? strerror(completion->error_number)
                                                : dw_strerror(completion->result),
                  dw_io_category_name(completion->category), completion->attempts);
    }
}

/* ------------------------------------------------------------------------------------
 * Slots, completions and restarts
 * ---------------------------------------------------------------------------------- */

static void complete(dw_io *io, dw_io_slot *slot, int result, int error_number)
{
    DW_ASSERT(slot->in_use && !slot->completed);
    DW_ASSERT(io->ready_count < io->queue_depth);
    dw_io_completion *completion = &slot->completion;
    *completion = (dw_io_completion){
        .user_data = slot->request.user_data,
        .offset = slot->request.offset,
        .length = slot->request.length,
        .op = slot->request.op,
        .result = result,
        .error_number = error_number,
        .category = dw_io_categorize(error_number),
        .attempts = slot->attempts,
        .latency_ns = dw_clock_now_ns(io->clock) - slot->submit_ns,
    };
    slot->completed = true;
    io->ready[(io->ready_head + io->ready_count) % io->queue_depth] = slot->index;
    io->ready_count++;
    io->stats.completed++;
    if (result != DW_OK) {
        io->stats.failed++;
        char text[DW_CONFIG_PATH_MAX + 160];
        dw_io_describe(io, completion, text, sizeof text);
        DW_LOG(io->log, DW_LOG_WARN, "io", text, DW_LOG_STRING("file", io->path),
               DW_LOG_STRING("op", dw_io_op_name(completion->op)),
               DW_LOG_UINT("offset", completion->offset), DW_LOG_INT("errno", error_number),
               DW_LOG_STRING("category", dw_io_category_name(completion->category)));
    }
}

static void fail(dw_io *io, dw_io_slot *slot, int error_number)
{
    dw_io_category category = dw_io_categorize(error_number);
    bool syncing = slot->request.op == DW_IO_SYNC || (slot->request.op == DW_IO_WRITE && slot->request.durable);
    if (syncing && category != DW_IO_RETRYABLE) {
        /* Never retried into success: what the failed sync should have made durable may
         * be gone from the page cache, and only reopening can tell. */
        int none = 0;
        (void)atomic_compare_exchange_strong(&io->sync_errno, &none, error_number);
    }
    complete(io, slot, error_for_category(category), error_number);
}

static void schedule_restart(dw_io *io, dw_io_slot *slot, uint64_t at_ns)
{
    DW_ASSERT(io->restart_count < io->queue_depth);
    slot->retry_at_ns = at_ns;
    io->restart[(io->restart_head + io->restart_count) % io->queue_depth] = slot->index;
    io->restart_count++;
}

void dw_io_finished(dw_io *io, uint32_t slot_index, int64_t result)
{
    DW_ASSERT(slot_index < io->queue_depth);
    dw_io_slot *slot = &io->slots[slot_index];
    DW_ASSERT(slot->in_use);
    if (result < 0) {
        int error_number = (int)-result;
        if (dw_io_categorize(error_number) == DW_IO_RETRYABLE && slot->attempts < DW_IO_ATTEMPTS_MAX) {
            uint64_t backoff = DW_IO_BACKOFF_FIRST_NS << (slot->attempts - 1);
            backoff = backoff < DW_IO_BACKOFF_MAX_NS ? backoff : DW_IO_BACKOFF_MAX_NS;
            slot->attempts++;
            io->stats.retries++;
            schedule_restart(io, slot, dw_clock_now_ns(io->clock) + backoff);
            return;
        }
        fail(io, slot, error_number);
        return;
    }
    if (slot->request.op == DW_IO_SYNC) {
        complete(io, slot, DW_OK, 0);
        return;
    }
    DW_ASSERT((uint64_t)result <= dw_io_slot_remaining(slot));
    if (result == 0) {
        /* Nothing moved and no error: the file ends before the request does (it was
         * truncated behind our back), or the device is gone. */
        fail(io, slot, EIO);
        return;
    }
    slot->done_bytes += (uint32_t)result;
    if (slot->done_bytes < slot->request.length) {
        slot->attempts++;
        io->stats.short_resubmits++;
        schedule_restart(io, slot, 0);
        return;
    }
    complete(io, slot, DW_OK, 0);
}

/* Starts every restart that is due; returns the earliest time one is still waiting for
 * (UINT64_MAX when none is). */
static uint64_t run_restarts(dw_io *io)
{
    uint64_t now = dw_clock_now_ns(io->clock);
    uint64_t next_due = UINT64_MAX;
    uint32_t count = io->restart_count;
    bool started = false;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t index = io->restart[io->restart_head];
        io->restart_head = (io->restart_head + 1) % io->queue_depth;
        io->restart_count--;
        dw_io_slot *slot = &io->slots[index];
        if (slot->retry_at_ns <= now) {
            io->ops->start(io, slot);
            started = true;
        } else {
            next_due = slot->retry_at_ns < next_due ? slot->retry_at_ns : next_due;
            schedule_restart(io, slot, slot->retry_at_ns);
        }
    }
    if (started) {
        io->ops->flush(io);
    }
    return next_due;
}

/* ------------------------------------------------------------------------------------
 * Submitting and reaping
 * ---------------------------------------------------------------------------------- */

static int check_request(const dw_io *io, const dw_io_request *request, uint32_t index, dw_diag *diag)
{
    const char *problem = NULL;
    if (request->op == DW_IO_SYNC) {
        return DW_OK;
    }
    if (request->op != DW_IO_READ && request->op != DW_IO_WRITE) {
        problem = "its operation is not read, write or sync";
    } else if (request->length == 0 || request->length % io->block_size != 0) {
        problem = "its length is not a positive multiple of the block size";
    } else if (request->offset % io->block_size != 0) {
        problem = "its offset is not a multiple of the block size";
    } else if (request->buffer == NULL || (uintptr_t)request->buffer % io->block_size != 0) {
        problem = "its buffer is not aligned to the block size";
    } else if (request->offset > io->size_bytes || request->length > io->size_bytes - request->offset) {
        problem = "it reaches past the end of the file";
    }
    if (problem == NULL) {
        return DW_OK;
    }
    char block_text[32];
    dw_format_size(io->block_size, block_text, sizeof block_text);
    return dw_diag_fail(diag, DW_EINVAL, "requests are whole, aligned blocks inside the file",
                        "request %u (%s of %u bytes at offset %llu of '%s') is refused: %s "
                        "(blocks of %s, file of %llu bytes)",
                        index, request->op <= DW_IO_SYNC ? dw_io_op_name(request->op) : "unknown",
                        request->length, (unsigned long long)request->offset, io->path, problem,
                        block_text, (unsigned long long)io->size_bytes);
}

/* The first thread to submit drives the io from then on (io.h). */
static void check_driver(dw_io *io)
{
    if (!io->driver_known) {
        io->driver = pthread_self();
        io->driver_known = true;
    }
    DW_ASSERT(pthread_equal(io->driver, pthread_self()));
}

int dw_io_submit(dw_io *io, const dw_io_request *requests, uint32_t count, uint32_t *accepted,
                 dw_diag *diag)
{
    DW_ASSERT(io != NULL && accepted != NULL && (requests != NULL || count == 0));
    check_driver(io);
    *accepted = 0;
    for (uint32_t i = 0; i < count; i++) {
        int result = check_request(io, &requests[i], i, diag);
        if (result != DW_OK) {
            return result;
        }
    }
    uint64_t now = dw_clock_now_ns(io->clock);
    uint32_t taken = count < io->free_slot_count ? count : io->free_slot_count;
    bool started = false;
    for (uint32_t i = 0; i < taken; i++) {
        dw_io_slot *slot = &io->slots[io->free_slots[--io->free_slot_count]];
        DW_ASSERT(!slot->in_use);
        slot->request = requests[i];
        slot->submit_ns = now;
        slot->retry_at_ns = 0;
        slot->sequence = io->stats.submitted++;
        slot->done_bytes = 0;
        slot->attempts = 1;
        slot->in_use = true;
        slot->completed = false;
        slot->device_busy = false;
        io->stats.in_flight++;
        if (io->stats.in_flight > io->stats.in_flight_high_water) {
            io->stats.in_flight_high_water = io->stats.in_flight;
        }
        int sync_errno = atomic_load(&io->sync_errno);
        bool syncing = slot->request.op == DW_IO_SYNC || (slot->request.op == DW_IO_WRITE && slot->request.durable);
        if (syncing && sync_errno != 0) {
            complete(io, slot, error_for_category(dw_io_categorize(sync_errno)), sync_errno);
            continue;
        }
        io->ops->start(io, slot);
        started = true;
    }
    if (started && io->plugged) {
        io->flush_owed = true;
    } else if (started) {
        io->ops->flush(io);
    }
    *accepted = taken;
    return DW_OK;
}

void dw_io_plug(dw_io *io)
{
    check_driver(io);
    io->plugged = true;
}

void dw_io_unplug(dw_io *io)
{
    check_driver(io);
    io->plugged = false;
    if (io->flush_owed) {
        io->flush_owed = false;
        io->ops->flush(io);
    }
}

void dw_io_wake(dw_io *io)
{
    atomic_fetch_add_explicit(&io->wake_sequence, 1, memory_order_release);
    io->ops->wake(io);
}

uint32_t dw_io_wake_sequence(const dw_io *io)
{
    return atomic_load_explicit(&io->wake_sequence, memory_order_acquire);
}

uint32_t dw_io_reap(dw_io *io, dw_io_completion *completions, uint32_t capacity, uint64_t wait_ns)
{
    return dw_io_reap_since(io, completions, capacity, wait_ns, dw_io_wake_sequence(io));
}

uint32_t dw_io_reap_since(dw_io *io, dw_io_completion *completions, uint32_t capacity,
                          uint64_t wait_ns, uint32_t since)
{
    DW_ASSERT(io != NULL && (completions != NULL || capacity == 0));
    DW_ASSERT(!io->driver_known || pthread_equal(io->driver, pthread_self()));
    uint32_t wake_sequence = since;
    /* A reap ends a plug: every poll submits what is prepared, in the system call that
     * also looks for completions (or waits for them). */
    io->plugged = false;
    io->flush_owed = false;
    if (atomic_load_explicit(&io->wake_sequence, memory_order_acquire) != since) {
        wait_ns = 0; /* woken already: look, but do not sleep */
    }
    uint64_t deadline = dw_clock_now_ns(io->clock);
    deadline = deadline + wait_ns < deadline ? UINT64_MAX : deadline + wait_ns;
    /* One poll a pass: it harvests, submits what is queued and, when nothing is ready,
     * waits, all in one system call for io_uring. */
    for (;;) {
        uint64_t next_restart = run_restarts(io);
        if (io->stats.in_flight == 0) {
            break;
        }
        uint64_t now = dw_clock_now_ns(io->clock);
        uint64_t until = next_restart < deadline ? next_restart : deadline;
        io->ops->poll(io, io->ready_count > 0 || until <= now ? 0 : until - now);
        if (io->ready_count > 0 || now >= deadline ||
            atomic_load_explicit(&io->wake_sequence, memory_order_acquire) != wake_sequence) {
            break;
        }
    }
    uint32_t handed = 0;
    while (handed < capacity && io->ready_count > 0) {
        dw_io_slot *slot = &io->slots[io->ready[io->ready_head]];
        io->ready_head = (io->ready_head + 1) % io->queue_depth;
        io->ready_count--;
        DW_ASSERT(slot->in_use && slot->completed);
        completions[handed++] = slot->completion;
        slot->in_use = false;
        slot->completed = false;
        io->free_slots[io->free_slot_count++] = slot->index;
        io->stats.in_flight--;
    }
    return handed;
}

uint32_t dw_io_in_flight(const dw_io *io)
{
    return io->stats.in_flight;
}

void dw_io_stats_read(const dw_io *io, dw_io_stats *stats)
{
    *stats = io->stats;
}

/* ------------------------------------------------------------------------------------
 * Opening: file, backend choice, memory
 * ---------------------------------------------------------------------------------- */

static void lay_out(dw_io *io, const dw_arena *arena, const dw_io_plan *plan)
{
    unsigned char *slots_memory = dw_arena_piece_memory(arena, plan->slots_piece);
    io->slots = (dw_io_slot *)(void *)slots_memory;
    io->free_slots = (uint32_t *)(void *)(slots_memory + (size_t)plan->queue_depth * sizeof(dw_io_slot));
    io->restart = io->free_slots + plan->queue_depth;
    io->ready = io->restart + plan->queue_depth;
    io->backend_state = dw_arena_piece_memory(arena, plan->backend_piece);
    memset(io->backend_state, 0, DW_IO_BACKEND_STATE_MAX);
    for (uint32_t i = 0; i < plan->queue_depth; i++) {
        memset(&io->slots[i], 0, sizeof io->slots[i]);
        io->slots[i].index = i;
        /* Popped from the end: slot 0 is taken first, which keeps runs reproducible. */
        io->free_slots[i] = plan->queue_depth - 1 - i;
    }
    io->free_slot_count = plan->queue_depth;
}

/* Opens the backend the options ask for; for auto, io_uring and then psync, saying why. */
static int open_backend(dw_io *io, const dw_io_options *options, dw_diag *diag)
{
    char reason[DW_IO_REASON_MAX] = "";
    dw_io_backend wanted = options->backend;
    if (wanted == DW_IO_BACKEND_SIM) {
        io->ops = &dw_io_sim_ops;
        io->backend = DW_IO_BACKEND_SIM;
        dw_format(io->backend_reason, sizeof io->backend_reason, "io.backend = sim");
        return io->ops->open(io, options, reason, sizeof reason);
    }
    if (wanted == DW_IO_BACKEND_AUTO || wanted == DW_IO_BACKEND_IO_URING) {
        int result = dw_io_uring_ops.open(io, options, reason, sizeof reason);
        if (result == 0) {
            io->ops = &dw_io_uring_ops;
            io->backend = DW_IO_BACKEND_IO_URING;
            dw_format(io->backend_reason, sizeof io->backend_reason, "%s",
                      wanted == DW_IO_BACKEND_AUTO ? "io.backend = auto and io_uring is available"
                                                   : "io.backend = io_uring");
            return DW_OK;
        }
        if (wanted == DW_IO_BACKEND_IO_URING) {
            return dw_diag_fail(diag, dw_error_from_errno(-result),
                                "set io.backend = auto or psync to run without io_uring",
                                "cannot use io_uring for '%s': %s", io->path, reason);
        }
        dw_format(io->backend_reason, sizeof io->backend_reason,
                  "io.backend = auto and io_uring is unavailable: %s; using psync", reason);
        DW_LOG(io->log, DW_LOG_WARN, "io", "io_uring unavailable, falling back to psync",
               DW_LOG_STRING("file", io->path), DW_LOG_STRING("reason", reason));
    } else {
        dw_format(io->backend_reason, sizeof io->backend_reason, "io.backend = psync");
    }
    io->ops = &dw_io_psync_ops;
    io->backend = DW_IO_BACKEND_PSYNC;
    return io->ops->open(io, options, reason, sizeof reason);
}

int dw_io_open(dw_io *io, const dw_arena *arena, const dw_io_plan *plan,
               const dw_io_options *options, dw_diag *diag)
{
    DW_ASSERT(io != NULL && arena != NULL && plan != NULL && options != NULL);
    DW_ASSERT(options->path != NULL && options->clock != NULL);
    DW_ASSERT(options->queue_depth >= 1 && options->queue_depth <= plan->queue_depth);
    memset(io, 0, sizeof *io);
    atomic_init(&io->wake_sequence, 0);
    io->fd = -1;
    if (!dw_format(io->path, sizeof io->path, "%s", options->path)) {
        return dw_diag_fail(diag, DW_EINVAL, "use a shorter path",
                            "the data file path is longer than %d characters", DW_CONFIG_PATH_MAX - 1);
    }
    if (options->block_size < 512 || (options->block_size & (options->block_size - 1)) != 0) {
        return dw_diag_fail(diag, DW_EINVAL, "vde.block_size is a power of two from 512",
                            "block size %u for '%s' is not a power of two of at least 512",
                            options->block_size, io->path);
    }
    io->block_size = options->block_size;
    io->queue_depth = options->queue_depth;
    io->clock = options->clock;
    io->log = options->log;
    lay_out(io, arena, plan);
    if (options->backend == DW_IO_BACKEND_SIM) {
        DW_ASSERT(options->sim_disk != NULL);
        io->sim_disk = options->sim_disk;
        io->clock = &options->sim_disk->clock.clock;
        io->size_bytes = options->sim_disk->size_bytes / io->block_size * io->block_size;
        dw_format(io->direct_reason, sizeof io->direct_reason, "the simulated disk has no page cache");
    } else {
        int result = dw_io_file_open(io, options, diag);
        if (result != DW_OK) {
            return result;
        }
    }
    int result = open_backend(io, options, diag);
    if (result != DW_OK) {
        dw_io_file_close(io);
        return result;
    }
    DW_LOG(io->log, DW_LOG_INFO, "io", "data file open", DW_LOG_STRING("file", io->path),
           DW_LOG_STRING("backend", dw_io_backend_name(io->backend)),
           DW_LOG_STRING("reason", io->backend_reason), DW_LOG_BOOL("direct", io->direct),
           DW_LOG_STRING("direct_reason", io->direct_reason), DW_LOG_UINT("size_bytes", io->size_bytes),
           DW_LOG_UINT("queue_depth", io->queue_depth));
    return DW_OK;
}

void dw_io_close(dw_io *io)
{
    if (io->ops == NULL) {
        return;
    }
    DW_ASSERT(!io->driver_known || pthread_equal(io->driver, pthread_self()));
    /* Everything in flight finishes first: a write the device has may not be abandoned
     * while its buffer is given back. A device that answers nothing for a minute is
     * reported and left; its requests' buffers must then not be reused. */
    dw_io_completion discarded[16];
    for (int second = 0; second < DW_IO_CLOSE_WAIT_S && io->stats.in_flight > 0; second++) {
        while (dw_io_reap(io, discarded, DW_ARRAY_COUNT(discarded), DW_NS_PER_S) > 0) {
        }
    }
    if (io->stats.in_flight > 0) {
        DW_LOG(io->log, DW_LOG_ERROR, "io", "closing with requests the device never completed",
               DW_LOG_STRING("file", io->path), DW_LOG_UINT("in_flight", io->stats.in_flight));
    }
    io->ops->close(io);
    io->ops = NULL;
    dw_io_file_close(io);
}

/* ------------------------------------------------------------------------------------
 * The direct path: one request on the caller's thread
 * ---------------------------------------------------------------------------------- */

bool dw_io_direct_available(const dw_io *io)
{
    return io->fd >= 0 && io->backend != DW_IO_BACKEND_SIM;
}

/* One system call for the untransferred rest: bytes moved, or a negative errno. */
static int64_t direct_call(const dw_io *io, const dw_io_request *request, uint32_t done)
{
    ssize_t result = 0;
    unsigned char *buffer = (unsigned char *)request->buffer + done;
    size_t length = request->length - done;
    off_t offset = (off_t)(request->offset + done);
    switch (request->op) {
    case DW_IO_READ:
        result = pread(io->fd, buffer, length, offset);
        break;
    case DW_IO_WRITE: {
        struct iovec vector = {.iov_base = buffer, .iov_len = length};
        result = pwritev2(io->fd, &vector, 1, offset, request->durable ? RWF_DSYNC : 0);
        break;
    }
    case DW_IO_SYNC:
        result = fdatasync(io->fd);
        break;
    default:
        DW_UNREACHABLE();
    }
    return result < 0 ? -(int64_t)errno : (int64_t)result;
}

static void direct_pause(uint32_t attempts)
{
    uint64_t backoff = DW_IO_BACKOFF_FIRST_NS << (attempts - 1);
    backoff = backoff < DW_IO_BACKOFF_MAX_NS ? backoff : DW_IO_BACKOFF_MAX_NS;
    struct timespec pause = {(time_t)(backoff / DW_NS_PER_S), (long)(backoff % DW_NS_PER_S)};
    (void)nanosleep(&pause, NULL);
}

int dw_io_direct(dw_io *io, const dw_io_request *request, dw_io_completion *completion, dw_diag *diag)
{
    DW_ASSERT(io != NULL && request != NULL && completion != NULL);
    DW_ASSERT(dw_io_direct_available(io));
    int result = check_request(io, request, 0, diag);
    if (result != DW_OK) {
        return result;
    }
    uint64_t started = dw_clock_now_ns(io->clock);
    bool syncing = request->op == DW_IO_SYNC || (request->op == DW_IO_WRITE && request->durable);
    int error_number = syncing ? atomic_load(&io->sync_errno) : 0;
    uint32_t done = 0;
    uint32_t attempts = 1;
    while (error_number == 0) {
        int64_t moved = direct_call(io, request, done);
        if (moved < 0 && dw_io_categorize((int)-moved) == DW_IO_RETRYABLE && attempts < DW_IO_ATTEMPTS_MAX) {
            direct_pause(attempts++);
            continue;
        }
        if (moved < 0) {
            error_number = (int)-moved;
            break;
        }
        if (request->op == DW_IO_SYNC) {
            break;
        }
        DW_ASSERT((uint64_t)moved <= request->length - done);
        if (moved == 0) {
            error_number = EIO; /* the file ends before the request: truncated behind our back */
            break;
        }
        done += (uint32_t)moved;
        if (done == request->length) {
            break;
        }
        attempts++; /* a short transfer: the rest goes again at once */
    }
    dw_io_category category = dw_io_categorize(error_number);
    if (syncing && error_number != 0 && category != DW_IO_RETRYABLE) {
        int none = 0;
        (void)atomic_compare_exchange_strong(&io->sync_errno, &none, error_number);
    }
    *completion = (dw_io_completion){
        .user_data = request->user_data,
        .offset = request->offset,
        .length = request->length,
        .op = request->op,
        .result = error_number == 0 ? DW_OK : error_for_category(category),
        .error_number = error_number,
        .category = category,
        .attempts = attempts,
        .latency_ns = dw_clock_now_ns(io->clock) - started,
    };
    atomic_fetch_add_explicit(&io->direct_requests, 1, memory_order_relaxed);
    if (error_number != 0) {
        char text[DW_CONFIG_PATH_MAX + 160];
        dw_io_describe(io, completion, text, sizeof text);
        DW_LOG(io->log, DW_LOG_WARN, "io", text, DW_LOG_STRING("file", io->path),
               DW_LOG_STRING("op", dw_io_op_name(completion->op)), DW_LOG_UINT("offset", completion->offset),
               DW_LOG_INT("errno", error_number), DW_LOG_STRING("category", dw_io_category_name(category)));
    }
    return DW_OK;
}
