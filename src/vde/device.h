/*
 * device.h — the VDE's blocks, read and written through the deadline scheduler.
 *
 * Every I/O the engine makes goes through here, and through here to dw_sched: it carries
 * the deadline and priority of the operation that caused it (dw_device_begin_op), so a
 * put with a tight deadline is served before a background checkpoint. Requests are cut
 * into batches of at most DW_SCHED_BATCH_MAX consecutive blocks.
 *
 * On a real file, a request the caller waits for (a read, a write, a sync, a durable
 * write) is carried out on the caller's own thread when the scheduler admits it there
 * (dw_sched_direct): one system call, no hand-off. Otherwise it is queued and the
 * caller waits on it; without an I/O thread (the simulated disk, driven in virtual
 * time) the caller steps the scheduler itself until the request completes, which keeps
 * a simulated run exact and repeatable. Asynchronous writes are always queued, so that
 * many are in the device at once.
 *
 * Asynchronous writes (dw_device_write_async) are staged here
 * and handed to the scheduler DW_DEVICE_STAGE_MAX requests at a time, with one wake-up
 * of its I/O thread for the lot; the last ones go at the next dw_device_drain (or sync,
 * or synchronous write), which waits for all of them. Their completions are counted on
 * the I/O thread, which wakes the writer once, when the last is done, not once each.
 * At most DW_DEVICE_IN_FLIGHT_MAX are outstanding: a writer with more waits until half
 * are done. The memory passed in must stay untouched until the drain.
 *
 * A failed write or sync stops all writing: after it, what the device holds is unknown
 * (a failed fdatasync may have dropped dirty pages that a second one would then call
 * durable), so every later write and sync fails with the first error until the VDE is
 * closed and opened again, when recovery rebuilds the state from what is durable. Reads
 * go on. A deadline miss or a cancellation by the scheduler is no such failure: the
 * device did the request, or never saw it.
 */
#ifndef DW_VDE_DEVICE_H
#define DW_VDE_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "dwvd.h"
#include "sched/edf.h"

/* Asynchronous write requests outstanding at once; a writer with more waits until this
 * many halved are left, so that the device keeps work while the writer refills. Twice the
 * default queue depth: a normal-priority writer can keep its device share (20 of 32)
 * busy with as many more waiting behind it, and the request slots (256) keep room for
 * every other caller. */
#define DW_DEVICE_IN_FLIGHT_MAX 64
/* Asynchronous write requests staged before they are handed to the scheduler at once. */
#define DW_DEVICE_STAGE_MAX 16
/* The longest the engine waits for one request before calling the device dead. */
#define DW_DEVICE_WAIT_MAX_NS (120 * DW_NS_PER_S)

typedef struct dw_device_stats {
    uint64_t reads;             /* blocks */
    uint64_t writes;            /* blocks */
    uint64_t syncs;
    uint64_t durable_writes;    /* dw_device_write_durable calls */
    uint64_t requests;
    uint64_t direct;            /* of the requests, carried out on the caller's thread */
} dw_device_stats;

typedef struct dw_device {
    dw_sched *sched;
    const dw_clock *clock;
    const char *path;           /* for messages */
    uint32_t block_size;
    uint64_t block_count;       /* the file's, at open */
    bool stepped;               /* no I/O thread: drive the scheduler while waiting */
    uint32_t batch_max;         /* blocks in one request */
    /* Asynchronous writes not yet drained, as the writer last counted them (staged and
     * outstanding); only the writer touches it. */
    uint32_t in_flight;
    uint32_t staged_count;
    dw_sched_request staged[DW_DEVICE_STAGE_MAX];
    /* Handed to the scheduler and not yet completed: the I/O thread's completion callback
     * counts it down. The writer sleeps on it (a futex word) with wake_below set: woken
     * when it falls below that (0: nobody waits). */
    _Atomic uint32_t outstanding;
    _Atomic uint32_t wake_below;
    int deferred_claimed;       /* the first failure among them: claimed, then written (atomic) */
    int deferred_error;         /* (atomic) */
    char deferred_message[DW_DIAG_MESSAGE_MAX];
    int failed;                 /* the first failed write or sync: no more writing (atomic) */
    int failing;                /* claimed by the thread that records it (atomic) */
    char failed_message[DW_DIAG_MESSAGE_MAX];
    dw_device_stats stats;
} dw_device;

void dw_device_init(dw_device *device, dw_sched *sched, const dw_clock *clock, const char *path,
                    uint32_t block_size, uint64_t block_count, bool stepped, uint32_t queue_depth);

/* Sets the deadline (relative, from now) and priority of the I/O this thread makes
 * from now on, until it sets them again. */
void dw_device_begin_op(dw_device *device, uint64_t budget_ns, dw_priority priority);
/* This thread's current deadline (absolute), UINT64_MAX when none. */
uint64_t dw_device_deadline_ns(void);

int dw_device_read(dw_device *device, uint64_t block, uint32_t count, void *buffer, dw_diag *diag);
int dw_device_write(dw_device *device, uint64_t block, uint32_t count, const void *buffer,
                    dw_diag *diag);

/* Submits a write and returns at once (waiting first for half of them if too many are
 * outstanding). A failure may be reported here or by the next dw_device_drain. */
int dw_device_write_async(dw_device *device, uint64_t block, uint32_t count, const void *buffer,
                          dw_diag *diag);

/* Hands over what is staged, waits for every asynchronous write, and reports the first
 * that failed (then forgets it). */
int dw_device_drain(dw_device *device, dw_diag *diag);

/* Writes `count` blocks so that they are durable when it returns: one write with
 * RWF_DSYNC on the caller's thread where the direct path takes it (one device round
 * trip, no sync of its own), else durable writes through the scheduler. Only these
 * blocks: writes before it are not made durable by it (dw_device_sync does that). */
int dw_device_write_durable(dw_device *device, uint64_t block, uint32_t count, const void *buffer, dw_diag *diag);

/* The same, by a thread that does not hold the writer lock while another thread may use
 * the device (a commit's record, docs/CONCURRENCY.md): it neither drains nor touches the
 * asynchronous writes' stage and count, and writes nothing else. */
int dw_device_write_durable_alone(dw_device *device, uint64_t block, uint32_t count, const void *buffer,
                                  dw_diag *diag);

/* Makes every completed write durable (fdatasync). */
int dw_device_sync(dw_device *device, dw_diag *diag);

/* DW_OK, or (with the message) the failure that stopped writing. */
int dw_device_check_writable(const dw_device *device, dw_diag *diag);

#endif /* DW_VDE_DEVICE_H */
