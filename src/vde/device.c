/*
 * device.c — see device.h.
 */
#include "vde/device.h"

#include <stdatomic.h>
#include <string.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/futex.h"
#include "core/text.h"

void dw_device_init(dw_device *device, dw_sched *sched, const dw_clock *clock, const char *path,
                    uint32_t block_size, uint64_t block_count, bool stepped, uint32_t queue_depth)
{
    memset(device, 0, sizeof *device);
    atomic_init(&device->outstanding, 0);
    atomic_init(&device->wake_below, 0);
    device->sched = sched;
    device->clock = clock;
    device->path = path;
    device->block_size = block_size;
    device->block_count = block_count;
    device->stepped = stepped;
    /* A batch may hold at most half the device's slots: less important classes keep
     * shares of the rest (docs/DETERMINISM.md), and a batch must fit in what is left. */
    uint32_t half = queue_depth / 2 > 0 ? queue_depth / 2 : 1;
    device->batch_max = half < DW_SCHED_BATCH_MAX ? half : DW_SCHED_BATCH_MAX;
}

/* The operation in progress on this thread: the deadline and priority every I/O it
 * makes carries. Per thread, not per handle, because the readers of one VDE run at once
 * on many threads, each with its own deadline; a field of the shared handle would hand
 * one caller's deadline to another's reads. Set at the start of every operation. */
static _Thread_local uint64_t current_deadline_ns = UINT64_MAX;
static _Thread_local dw_priority current_priority = DW_PRIORITY_NORMAL;

void dw_device_begin_op(dw_device *device, uint64_t budget_ns, dw_priority priority)
{
    uint64_t now = dw_clock_now_ns(device->clock);
    current_deadline_ns = budget_ns > UINT64_MAX - now ? UINT64_MAX : now + budget_ns;
    current_priority = priority;
}

uint64_t dw_device_deadline_ns(void)
{
    return current_deadline_ns;
}

/* Counters readers add to from many threads at once. */
static void add_to(uint64_t *counter, uint64_t amount)
{
    (void)__atomic_fetch_add(counter, amount, __ATOMIC_RELAXED);
}

static const char *op_name(dw_op_class op_class)
{
    switch (op_class) {
    case DW_OP_READ:
    case DW_OP_READ_BATCH: return "read";
    case DW_OP_WRITE:
    case DW_OP_WRITE_BATCH: return "write";
    case DW_OP_FLUSH: return "data sync";
    }
    return "I/O";
}

/* Submits one request, waiting for a free slot when the scheduler has none. */
static int submit(dw_device *device, const dw_sched_request *request, dw_sched_ticket *ticket,
                  dw_diag *diag)
{
    uint64_t start = dw_clock_now_ns(device->clock);
    for (;;) {
        int result = dw_sched_submit(device->sched, request, ticket, diag);
        if (result != DW_EBUSY) {
            if (result == DW_OK) {
                add_to(&device->stats.requests, 1);
            }
            return result;
        }
        /* No slot free (or the circuit is open for this class): let work finish. */
        if (dw_clock_now_ns(device->clock) - start > DW_DEVICE_WAIT_MAX_NS) {
            return dw_diag_fail(diag, DW_EIO, "check the device and the scheduler's slot count",
                                "'%s': no scheduler slot came free within %llu s", device->path,
                                (unsigned long long)(DW_DEVICE_WAIT_MAX_NS / DW_NS_PER_S));
        }
        if (device->stepped) {
            (void)dw_sched_step(device->sched, DW_NS_PER_MS);
        } else {
            struct timespec pause = {.tv_sec = 0, .tv_nsec = 100000};
            (void)nanosleep(&pause, NULL);
        }
    }
}

/* Waits for one request; turns its failure into a message naming the blocks. */
/* The first failed write or sync ends writing (device.h says why). A request the
 * scheduler cancelled or failed for its deadline is not a device failure: the device
 * either never saw it or did it, and the caller's retry writes it whole again. */
static void stop_writing(dw_device *device, int result, const dw_diag *diag)
{
    if (result == DW_EDEADLINE || result == DW_ECANCELED) {
        return;
    }
    /* A commit's durable write may run outside the writer lock (dw_device_write_durable_alone),
     * so two threads may fail at once: the first to claim the failure writes it. */
    int unclaimed = 0;
    if (__atomic_compare_exchange_n(&device->failing, &unclaimed, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        (void)dw_format(device->failed_message, sizeof device->failed_message, "%s",
                        diag != NULL ? diag->message : dw_strerror(result));
        __atomic_store_n(&device->failed, result, __ATOMIC_RELEASE);
    }
}

int dw_device_check_writable(const dw_device *device, dw_diag *diag)
{
    int failed = __atomic_load_n(&device->failed, __ATOMIC_ACQUIRE);
    if (failed == DW_OK) {
        return DW_OK;
    }
    return dw_diag_fail(diag, failed,
                        "close the VDE and open it again: recovery restores every acknowledged commit",
                        "'%s' takes no more writes after a failed write or sync (%s)", device->path,
                        device->failed_message);
}

static int judge(dw_device *device, const dw_sched_completion *done, dw_op_class op_class, uint64_t block,
                 uint32_t count, dw_diag *diag);

static int wait_for(dw_device *device, dw_sched_ticket ticket, dw_op_class op_class, uint64_t block,
                    uint32_t count, dw_diag *diag)
{
    dw_sched_completion completion;
    if (device->stepped) {
        while (!dw_sched_poll(device->sched, ticket, &completion)) {
            (void)dw_sched_step(device->sched, DW_NS_PER_MS);
        }
    } else if (dw_sched_wait(device->sched, ticket, DW_DEVICE_WAIT_MAX_NS, &completion) != DW_OK) {
        int result = dw_diag_fail(diag, DW_EIO, "check the device: it stopped answering",
                                  "'%s': %s of block %llu did not complete within %llu s", device->path,
                                  op_name(op_class), (unsigned long long)block,
                                  (unsigned long long)(DW_DEVICE_WAIT_MAX_NS / DW_NS_PER_S));
        if (op_class != DW_OP_READ && op_class != DW_OP_READ_BATCH) {
            stop_writing(device, result, diag);
        }
        return result;
    }
    return judge(device, &completion, op_class, block, count, diag);
}

/* A completed request: its failure turned into a message naming the blocks, and a
 * failed write or sync stopping all writing. */
static int judge(dw_device *device, const dw_sched_completion *done, dw_op_class op_class, uint64_t block,
                 uint32_t count, dw_diag *diag)
{
    dw_sched_completion completion = *done;
    if (completion.result == DW_OK) {
        return DW_OK;
    }
    int result = DW_OK;
    if (op_class == DW_OP_FLUSH) {
        result = dw_diag_fail(diag, completion.result, "check the device; earlier writes may not be durable",
                              "'%s': data sync failed: %s", device->path, dw_strerror(completion.result));
    } else {
        result = dw_diag_fail(diag, completion.result, "check the device",
                              "'%s': %s of %u block%s at block %llu (offset %llu) failed: %s", device->path,
                              op_name(op_class), count, count == 1 ? "" : "s", (unsigned long long)block,
                              (unsigned long long)block * device->block_size, dw_strerror(completion.result));
    }
    if (op_class != DW_OP_READ && op_class != DW_OP_READ_BATCH) {
        stop_writing(device, result, diag);
    }
    return result;
}

/* Carries the request out on this thread when the scheduler admits it there (a real
 * file, a device slot of the direct path's share free): *done true, and the outcome
 * judged as wait_for judges a queued one. */
static int try_direct(dw_device *device, const dw_sched_request *request, bool *done, dw_diag *diag)
{
    *done = false;
    if (device->stepped) {
        return DW_OK; /* the simulated disk runs in virtual time, step by step */
    }
    dw_sched_completion completion;
    int result = dw_sched_direct(device->sched, request, &completion, diag);
    if (result == DW_EBUSY) {
        return DW_OK;
    }
    *done = true;
    add_to(&device->stats.requests, 1);
    add_to(&device->stats.direct, 1);
    if (result == DW_OK) {
        result = judge(device, &completion, request->op_class, request->block, request->block_count, diag);
    }
    return result;
}

static dw_sched_request make_request(const dw_device *device, bool write, uint64_t block, uint32_t count,
                                     const void *write_data, void *read_data)
{
    (void)device;
    dw_sched_request request = {
        .op_class = write ? (count > 1 ? DW_OP_WRITE_BATCH : DW_OP_WRITE)
                          : (count > 1 ? DW_OP_READ_BATCH : DW_OP_READ),
        .priority = current_priority,
        .deadline_ns = current_deadline_ns,
        .block = block,
        .block_count = count,
        .write_data = write_data,
        .read_data = read_data,
    };
    return request;
}

static int check_range(const dw_device *device, uint64_t block, uint32_t count, dw_diag *diag)
{
    if (count == 0 || block >= device->block_count || count > device->block_count - block) {
        return dw_diag_fail(diag, DW_ECORRUPT, "the VDE refers to a block it does not have: run dw vde verify",
                            "'%s': blocks %llu..%llu lie past its end (%llu blocks)", device->path,
                            (unsigned long long)block, (unsigned long long)(block + count - 1),
                            (unsigned long long)device->block_count);
    }
    return DW_OK;
}

int dw_device_read(dw_device *device, uint64_t block, uint32_t count, void *buffer, dw_diag *diag)
{
    int result = check_range(device, block, count, diag);
    if (result == DW_OK) {
        dw_sched_request request = make_request(device, false, block, count, NULL, buffer);
        bool done = false;
        result = try_direct(device, &request, &done, diag);
        if (done) {
            add_to(&device->stats.reads, count);
            return result;
        }
    }
    unsigned char *at = buffer;
    while (result == DW_OK && count > 0) {
        uint32_t part = count < device->batch_max ? count : device->batch_max;
        dw_sched_request request = make_request(device, false, block, part, NULL, at);
        dw_sched_ticket ticket;
        result = submit(device, &request, &ticket, diag);
        if (result == DW_OK) {
            result = wait_for(device, ticket, request.op_class, block, part, diag);
        }
        add_to(&device->stats.reads, part);
        block += part;
        count -= part;
        at += (size_t)part * device->block_size;
    }
    return result;
}

/* ---- asynchronous writes -------------------------------------------------------------
 *
 * Staged by the writer, handed to the scheduler DW_DEVICE_STAGE_MAX at a time (one
 * wake-up of its I/O thread for them all), completed by a callback on the driving
 * thread that only counts down `outstanding` and records a failure; the writer sleeps
 * on `outstanding` and is woken once, when it falls below what the writer waits for.
 * Before, each write had a ticket the writer collected in order: one futex wake per
 * completion, one wait per write once 32 were in flight, and one wake of the I/O thread
 * per submission, which on a two-core machine held a checkpoint to queue depth 1. */

/* The first failure among the asynchronous writes, kept for the drain. Driving thread
 * (the callback) or writer alike: the first to claim it writes it. */
static void defer_failure(dw_device *device, int result, const char *message)
{
    int unclaimed = 0;
    if (__atomic_compare_exchange_n(&device->deferred_claimed, &unclaimed, 1, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        (void)dw_format(device->deferred_message, sizeof device->deferred_message, "%s", message);
        __atomic_store_n(&device->deferred_error, result, __ATOMIC_RELEASE);
    }
}

/* On the driving thread, as each asynchronous write completes. */
static void async_done(void *context, const dw_sched_completion *completion)
{
    dw_device *device = context;
    DW_ASSERT(completion->op_class == DW_OP_WRITE || completion->op_class == DW_OP_WRITE_BATCH);
    if (completion->result != DW_OK) {
        dw_diag local;
        int result = judge(device, completion, completion->op_class, completion->block,
                           completion->block_count, &local);
        defer_failure(device, result, local.message);
    }
    /* The count falls (sequentially consistent, after the failure is written), then the
     * threshold is read: a writer that set it before its last look at the count is seen
     * here, and only one completion wins the wake. */
    uint32_t left = atomic_fetch_sub(&device->outstanding, 1) - 1;
    uint32_t below = atomic_load(&device->wake_below);
    if (left < below && atomic_compare_exchange_strong(&device->wake_below, &below, 0)) {
        dw_futex_wake(&device->outstanding, 1);
    }
}

/* Waits until fewer than `below` asynchronous writes are outstanding. */
static int wait_outstanding(dw_device *device, uint32_t below, dw_diag *diag)
{
    DW_ASSERT(below >= 1);
    uint64_t start = dw_clock_now_ns(device->clock);
    for (;;) {
        if (device->stepped) {
            /* One thread in virtual time: the steps run the callbacks. */
            if (atomic_load(&device->outstanding) < below) {
                return DW_OK;
            }
            (void)dw_sched_step(device->sched, DW_NS_PER_MS);
            continue;
        }
        atomic_store(&device->wake_below, below);
        uint32_t now_outstanding = atomic_load(&device->outstanding);
        if (now_outstanding < below) {
            atomic_store(&device->wake_below, 0);
            return DW_OK;
        }
        uint64_t waited = dw_clock_now_ns(device->clock) - start;
        if (waited > DW_DEVICE_WAIT_MAX_NS) {
            atomic_store(&device->wake_below, 0);
            int result = dw_diag_fail(diag, DW_EIO, "check the device: it stopped answering",
                                      "'%s': %u asynchronous writes did not complete within %llu s",
                                      device->path, now_outstanding,
                                      (unsigned long long)(DW_DEVICE_WAIT_MAX_NS / DW_NS_PER_S));
            stop_writing(device, result, diag);
            return result;
        }
        /* Slices of at most 100 ms, so that the limit above is looked at. */
        dw_futex_wait(&device->outstanding, now_outstanding, 100 * DW_NS_PER_MS);
    }
}

/* Hands the staged writes to the scheduler in one batch. Requests it refuses for want
 * of a slot are retried as slots come free; any other refusal fails the rest, which is
 * kept for the drain as well as returned. */
static int hand_over(dw_device *device, dw_diag *diag)
{
    uint32_t done = 0;
    uint64_t start = dw_clock_now_ns(device->clock);
    int result = DW_OK;
    while (done < device->staged_count) {
        uint32_t accepted = 0;
        uint32_t count = device->staged_count - done;
        atomic_fetch_add(&device->outstanding, count);
        result = dw_sched_submit_batch(device->sched, device->staged + done, count, NULL, &accepted, diag);
        atomic_fetch_sub(&device->outstanding, count - accepted);
        add_to(&device->stats.requests, accepted);
        done += accepted;
        if (result == DW_OK) {
            continue;
        }
        if (result != DW_EBUSY) {
            break;
        }
        /* No slot free (or the circuit is open for this class): let work finish. */
        if (dw_clock_now_ns(device->clock) - start > DW_DEVICE_WAIT_MAX_NS) {
            result = dw_diag_fail(diag, DW_EIO, "check the device and the scheduler's slot count",
                                  "'%s': no scheduler slot came free within %llu s", device->path,
                                  (unsigned long long)(DW_DEVICE_WAIT_MAX_NS / DW_NS_PER_S));
            break;
        }
        result = DW_OK;
        if (device->stepped) {
            (void)dw_sched_step(device->sched, DW_NS_PER_MS);
        } else {
            struct timespec pause = {.tv_sec = 0, .tv_nsec = 100000};
            (void)nanosleep(&pause, NULL);
        }
    }
    device->staged_count = 0;
    if (result != DW_OK) {
        defer_failure(device, result, diag != NULL ? diag->message : dw_strerror(result));
    }
    return result;
}

/* Stages one request, handing the stage over when it is full and waiting for half the
 * outstanding writes when there are too many. */
static int stage(dw_device *device, const dw_sched_request *request, dw_diag *diag)
{
    int result = DW_OK;
    if (device->staged_count == DW_DEVICE_STAGE_MAX) {
        result = hand_over(device, diag);
    }
    if (result == DW_OK && atomic_load(&device->outstanding) + device->staged_count >= DW_DEVICE_IN_FLIGHT_MAX) {
        result = wait_outstanding(device, DW_DEVICE_IN_FLIGHT_MAX / 2, diag);
    }
    if (result != DW_OK) {
        return result;
    }
    DW_ASSERT(device->staged_count < DW_DEVICE_STAGE_MAX);
    dw_sched_request *staged = &device->staged[device->staged_count++];
    *staged = *request;
    staged->on_complete = async_done;
    staged->context = device;
    device->in_flight = device->staged_count + atomic_load(&device->outstanding);
    return DW_OK;
}

/* Stages the write in parts of at most batch_max blocks, each durable on completion
 * when `durable`. */
static int write_parts(dw_device *device, uint64_t block, uint32_t count, const void *buffer, bool durable,
                       dw_diag *diag)
{
    int result = dw_device_check_writable(device, diag);
    if (result != DW_OK) {
        return result;
    }
    result = check_range(device, block, count, diag);
    const unsigned char *at = buffer;
    while (result == DW_OK && count > 0) {
        uint32_t part = count < device->batch_max ? count : device->batch_max;
        dw_sched_request request = make_request(device, true, block, part, at, NULL);
        request.durable = durable;
        result = stage(device, &request, diag);
        add_to(&device->stats.writes, part);
        block += part;
        count -= part;
        at += (size_t)part * device->block_size;
    }
    return result;
}

int dw_device_write_async(dw_device *device, uint64_t block, uint32_t count, const void *buffer,
                          dw_diag *diag)
{
    return write_parts(device, block, count, buffer, false, diag);
}

int dw_device_drain(dw_device *device, dw_diag *diag)
{
    dw_diag local;
    if (device->staged_count > 0) {
        (void)hand_over(device, &local); /* a failure is deferred, and reported below */
    }
    int waited = DW_OK;
    if (atomic_load(&device->outstanding) > 0) {
        waited = wait_outstanding(device, 1, diag);
    }
    device->in_flight = atomic_load(&device->outstanding);
    int result = __atomic_load_n(&device->deferred_error, __ATOMIC_ACQUIRE);
    if (result == DW_OK) {
        return waited; /* the device stopped answering (diag says so), or DW_OK */
    }
    (void)dw_diag_fail(diag, result, "check the device", "%s", device->deferred_message);
    __atomic_store_n(&device->deferred_error, DW_OK, __ATOMIC_RELAXED);
    __atomic_store_n(&device->deferred_claimed, 0, __ATOMIC_RELEASE);
    return result;
}

/* A write of `count` blocks on this thread, at once, when the direct path takes it. */
static int write_direct(dw_device *device, uint64_t block, uint32_t count, const void *buffer, bool durable,
                        bool *done, dw_diag *diag)
{
    *done = false;
    int result = dw_device_check_writable(device, diag);
    if (result == DW_OK) {
        result = check_range(device, block, count, diag);
    }
    if (result != DW_OK) {
        *done = true;
        return result;
    }
    dw_sched_request request = make_request(device, true, block, count, buffer, NULL);
    request.durable = durable;
    result = try_direct(device, &request, done, diag);
    if (*done) {
        add_to(&device->stats.writes, count);
    }
    return result;
}

int dw_device_write(dw_device *device, uint64_t block, uint32_t count, const void *buffer, dw_diag *diag)
{
    if (device->in_flight == 0) {
        bool done = false;
        int result = write_direct(device, block, count, buffer, false, &done, diag);
        if (done) {
            return result;
        }
    }
    int result = dw_device_write_async(device, block, count, buffer, diag);
    int drained = dw_device_drain(device, result == DW_OK ? diag : NULL);
    return result != DW_OK ? result : drained;
}

int dw_device_sync(dw_device *device, dw_diag *diag)
{
    int result = dw_device_drain(device, diag);
    if (result == DW_OK) {
        result = dw_device_check_writable(device, diag);
    }
    if (result != DW_OK) {
        return result;
    }
    dw_sched_request request = {
        .op_class = DW_OP_FLUSH,
        .priority = current_priority,
        .deadline_ns = current_deadline_ns,
    };
    add_to(&device->stats.syncs, 1);
    bool done = false;
    result = try_direct(device, &request, &done, diag);
    if (done) {
        return result;
    }
    dw_sched_ticket ticket;
    result = submit(device, &request, &ticket, diag);
    if (result == DW_OK) {
        result = wait_for(device, ticket, DW_OP_FLUSH, 0, 0, diag);
    }
    return result;
}

int dw_device_write_durable_alone(dw_device *device, uint64_t block, uint32_t count, const void *buffer,
                                  dw_diag *diag)
{
    int result = dw_device_check_writable(device, diag);
    if (result == DW_OK) {
        result = check_range(device, block, count, diag);
    }
    if (result != DW_OK) {
        return result;
    }
    add_to(&device->stats.durable_writes, 1);
    add_to(&device->stats.writes, count);
    dw_sched_request request = make_request(device, true, block, count, buffer, NULL);
    request.durable = true;
    bool done = false;
    result = try_direct(device, &request, &done, diag);
    if (done) {
        return result;
    }
    /* Through the scheduler, one part at a time on a ticket of its own: the device's
     * asynchronous writes (their stage and count) belong to the writer-lock holder. */
    const unsigned char *at = buffer;
    while (result == DW_OK && count > 0) {
        uint32_t part = count < device->batch_max ? count : device->batch_max;
        dw_sched_request piece = make_request(device, true, block, part, at, NULL);
        piece.durable = true;
        dw_sched_ticket ticket;
        result = submit(device, &piece, &ticket, diag);
        if (result == DW_OK) {
            result = wait_for(device, ticket, piece.op_class, block, part, diag);
        }
        block += part;
        count -= part;
        at += (size_t)part * device->block_size;
    }
    return result;
}

int dw_device_write_durable(dw_device *device, uint64_t block, uint32_t count, const void *buffer, dw_diag *diag)
{
    int result = dw_device_drain(device, diag);
    if (result != DW_OK) {
        return result;
    }
    add_to(&device->stats.durable_writes, 1);
    bool done = false;
    result = write_direct(device, block, count, buffer, true, &done, diag);
    if (done) {
        return result;
    }
    /* Through the scheduler: every part a durable write of its own, all in flight at
     * once; the whole is durable when the last completes. */
    result = write_parts(device, block, count, buffer, true, diag);
    int drained = dw_device_drain(device, result == DW_OK ? diag : NULL);
    return result != DW_OK ? result : drained;
}
