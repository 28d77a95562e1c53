/*
 * io_sim.c — the backend over the simulated disk: each request is carried out on the
 * disk when it starts, and completes at the virtual time the disk's latency model and
 * channels give it. Waiting advances virtual time, so a test never sleeps.
 */
#include "core/assert.h"
#include "io/io_internal.h"
#include "io/sim_disk.h"

static int sim_open(dw_io *io, const dw_io_options *options, char *reason, size_t reason_size)
{
    (void)options;
    if (reason_size > 0) {
        reason[0] = '\0'; /* this backend cannot fail to start */
    }
    DW_ASSERT(io->sim_disk != NULL);
    return 0;
}

static void sim_start(dw_io *io, dw_io_slot *slot)
{
    dw_sim_disk *disk = io->sim_disk;
    dw_sim_result outcome;
    switch (slot->request.op) {
    case DW_IO_READ:
        outcome = dw_sim_disk_read(disk, dw_io_slot_offset(slot), dw_io_slot_buffer(slot),
                                   dw_io_slot_remaining(slot));
        break;
    case DW_IO_WRITE:
        outcome = slot->request.durable ? dw_sim_disk_write_durable(disk, dw_io_slot_offset(slot),
                                                                    dw_io_slot_buffer(slot),
                                                                    dw_io_slot_remaining(slot))
                                        : dw_sim_disk_write(disk, dw_io_slot_offset(slot), dw_io_slot_buffer(slot),
                                                            dw_io_slot_remaining(slot));
        break;
    case DW_IO_SYNC:
        outcome = dw_sim_disk_sync(disk);
        break;
    default:
        DW_UNREACHABLE();
    }
    slot->device_busy = true;
    slot->device_result = outcome.result;
    slot->device_due_ns = dw_sim_disk_schedule(disk, disk->state.now_ns, outcome.latency_ns);
}

static void sim_flush(dw_io *io)
{
    (void)io;
}

/* The busy slot that finishes first: earliest due time, then earliest submitted. */
static dw_io_slot *next_due(dw_io *io)
{
    dw_io_slot *best = NULL;
    for (uint32_t i = 0; i < io->queue_depth; i++) {
        dw_io_slot *slot = &io->slots[i];
        if (slot->in_use && slot->device_busy &&
            (best == NULL || slot->device_due_ns < best->device_due_ns ||
             (slot->device_due_ns == best->device_due_ns && slot->sequence < best->sequence))) {
            best = slot;
        }
    }
    return best;
}

static void sim_poll(dw_io *io, uint64_t wait_ns)
{
    dw_sim_disk *disk = io->sim_disk;
    dw_io_slot *slot = next_due(io);
    if (wait_ns > 0) {
        uint64_t limit = disk->state.now_ns + wait_ns;
        uint64_t until = slot != NULL && slot->device_due_ns < limit ? slot->device_due_ns : limit;
        dw_sim_disk_advance_to(disk, until);
    }
    for (; slot != NULL && slot->device_due_ns <= disk->state.now_ns; slot = next_due(io)) {
        slot->device_busy = false;
        dw_io_finished(io, slot->index, slot->device_result);
    }
}

static void sim_close(dw_io *io)
{
    (void)io;
}

static void sim_wake(dw_io *io)
{
    (void)io; /* a sim run has one thread, which never sleeps: virtual time just moves */
}

const dw_io_backend_ops dw_io_sim_ops = {
    .name = "sim",
    .open = sim_open,
    .start = sim_start,
    .flush = sim_flush,
    .poll = sim_poll,
    .close = sim_close,
    .wake = sim_wake,
};
