/*
 * io_internal.h — what the common I/O layer and its backends share, and nothing else
 * includes: the request slot and the backend operations.
 */
#ifndef DW_IO_IO_INTERNAL_H
#define DW_IO_IO_INTERNAL_H

#include "io/io.h"

/* Room for any backend's state in the arena (io_uring's ring structure is the largest). */
#define DW_IO_BACKEND_STATE_MAX 512

typedef struct dw_io_slot {
    dw_io_request request;
    uint64_t submit_ns;
    uint64_t retry_at_ns;       /* a retry waits until then */
    uint64_t sequence;          /* submission order, to break ties deterministically */
    uint32_t done_bytes;        /* transferred so far (short transfers) */
    uint32_t attempts;
    uint32_t index;
    bool in_use;
    bool completed;             /* finished; its completion waits to be reaped */
    dw_io_completion completion;
    /* For the sim backend: when the device finishes, and what it returns. */
    bool device_busy;
    uint64_t device_due_ns;
    int64_t device_result;
} dw_io_slot;

typedef struct dw_io_backend_ops {
    const char *name;
    /* Sets the backend up on io->fd; on failure writes why into `reason` (for the log
     * when auto falls back) and returns a negative errno. */
    int (*open)(dw_io *io, const dw_io_options *options, char *reason, size_t reason_size);
    /* Queues the untransferred rest of the slot's request; may carry it out at once
     * (psync), then calls dw_io_finished. */
    void (*start)(dw_io *io, dw_io_slot *slot);
    /* Submits what start queued: one system call for the batch. */
    void (*flush)(dw_io *io);
    /* Calls dw_io_finished for what has finished; when nothing has, waits up to
     * wait_ns for something to (or, with nothing in the device, simply lets the time
     * pass, so that a retry's backoff elapses). */
    void (*poll)(dw_io *io, uint64_t wait_ns);
    void (*close)(dw_io *io);
    /* Interrupts a poll that is waiting; called from any thread, after the common layer
     * has bumped io->wake_sequence. */
    void (*wake)(dw_io *io);
} dw_io_backend_ops;

extern const dw_io_backend_ops dw_io_uring_ops;
extern const dw_io_backend_ops dw_io_psync_ops;
extern const dw_io_backend_ops dw_io_sim_ops;

/* A backend reports a transfer's outcome: bytes moved, or a negative errno. */
void dw_io_finished(dw_io *io, uint32_t slot_index, int64_t result);

/* The part of a slot's request still to transfer. */
static inline uint64_t dw_io_slot_offset(const dw_io_slot *slot)
{
    return slot->request.offset + slot->done_bytes;
}

static inline uint32_t dw_io_slot_remaining(const dw_io_slot *slot)
{
    return slot->request.length - slot->done_bytes;
}

static inline unsigned char *dw_io_slot_buffer(const dw_io_slot *slot)
{
    return (unsigned char *)slot->request.buffer + slot->done_bytes;
}

/* Opening the file: create, O_DIRECT (or the reason it is not used), the exclusive lock
 * (or the pid that holds it), the size. Implemented in io_file.c. */
int dw_io_file_open(dw_io *io, const dw_io_options *options, dw_diag *diag);
void dw_io_file_close(dw_io *io);

#endif /* DW_IO_IO_INTERNAL_H */
