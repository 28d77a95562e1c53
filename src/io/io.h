/*
 * io.h — the one interface between the engine and its data file: submit batches of block
 * reads, writes and data syncs; reap their completions. Three backends stand behind it:
 * io_uring, psync (pread/pwrite/fdatasync) and sim (the simulated disk).
 *
 * Everything an I/O needs is laid out at open in arena memory: one slot per request the
 * queue depth allows (a slot is taken from submission until its completion is reaped,
 * so nothing can pile up beyond the queue depth), and the backend's state.
 * Submitting and reaping never allocate.
 *
 * One thread drives a dw_io: the first thread that submits becomes its driver (for
 * io_uring, the ring's single issuer), and only it may submit, reap and close after
 * that; another thread doing so is a bug and stops on an assertion. Any thread may open.
 *
 * What the common layer does for every backend:
 *  - refuses malformed requests (unaligned, empty, past the end of the file) before
 *    anything is submitted;
 *  - resubmits the rest of a short read or write;
 *  - retries retryable errors (EAGAIN, EINTR) with bounded exponential backoff;
 *  - keeps a failed data sync failed: every later sync reports it until the file is
 *    reopened, because after a failed fsync the page cache may hold data that never
 *    reached the disk, and no retry can tell;
 *  - measures each request from submission to completion.
 */
#ifndef DW_IO_IO_H
#define DW_IO_IO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/log.h"
#include "dwvd.h"
#include "mem/arena.h"
#include "mem/pool.h"

#define DW_IO_QUEUE_DEPTH_MAX 4096
/* Retryable failures are retried this many times, waiting 50 us, 100 us, ... between. */
#define DW_IO_ATTEMPTS_MAX 6
#define DW_IO_BACKOFF_FIRST_NS (50 * DW_NS_PER_US)
#define DW_IO_BACKOFF_MAX_NS (2 * DW_NS_PER_MS)
#define DW_IO_REASON_MAX 200
/* Closing waits at most this long for requests in flight. */
#define DW_IO_CLOSE_WAIT_S 60

typedef enum dw_io_op {
    DW_IO_READ = 0,
    DW_IO_WRITE = 1,
    DW_IO_SYNC = 2,             /* fdatasync: makes every completed write durable */
} dw_io_op;

/* How a failure should be handled, from the errno behind it. */
typedef enum dw_io_category {
    DW_IO_OK = 0,
    DW_IO_RETRYABLE,            /* EAGAIN, EINTR: try again shortly */
    DW_IO_MEDIA,                /* EIO, ENXIO, ENODEV, ...: the device failed */
    DW_IO_NO_SPACE,             /* ENOSPC, EDQUOT, EFBIG */
    DW_IO_PERMISSION,           /* EACCES, EPERM, EROFS */
    DW_IO_CORRUPTION,           /* EBADMSG, EUCLEAN: the file system found bad checksums */
    DW_IO_BUG,                  /* EBADF, EFAULT, EINVAL: dwvd asked for something wrong */
} dw_io_category;

typedef struct dw_io_request {
    dw_io_op op;
    uint32_t length;            /* bytes, a multiple of the block size; 0 for a sync */
    uint64_t offset;            /* bytes, a multiple of the block size */
    void *buffer;               /* aligned to the block size (O_DIRECT needs it) */
    uint64_t user_data;         /* handed back in the completion */
    /* Writes: durable when they complete (RWF_DSYNC; on a device with FUA, a FUA write).
     * Only this write: writes completed before it are not made durable by it, so a
     * caller that needs them durable too syncs (DW_IO_SYNC) instead. */
    bool durable;
} dw_io_request;

typedef struct dw_io_completion {
    uint64_t user_data;
    uint64_t offset;            /* of the request, for messages */
    uint32_t length;
    dw_io_op op;
    int result;                 /* DW_OK, or the dw_error of the failure */
    int error_number;           /* the errno behind a failure, 0 on success */
    dw_io_category category;
    uint32_t attempts;          /* submissions it took, retries and short resubmits included */
    uint64_t latency_ns;        /* from dw_io_submit to completion, by the io's clock */
} dw_io_completion;

typedef struct dw_io_options {
    const char *path;           /* the data file; for sim, a name for messages */
    dw_io_backend backend;      /* auto, io_uring, psync or sim */
    uint32_t queue_depth;
    uint32_t block_size;        /* requests are multiples of it, buffers aligned to it */
    uint64_t size_bytes;        /* grow the file to at least this (0: keep its size) */
    bool create;                /* create the file when missing */
    bool sparse;                /* grow with a hole instead of allocating the space */
    bool direct;                /* O_DIRECT where the file system allows it */
    bool sqpoll;                /* io_uring: a kernel thread polls the submission queue */
    const dw_pool *pool;        /* buffers io_uring registers once (may be NULL) */
    const dw_clock *clock;      /* measures latency (sim uses its disk's virtual clock) */
    dw_log *log;                /* where backend choices and fallbacks are told (may be NULL) */
    struct dw_sim_disk *sim_disk; /* the disk for the sim backend */
    int uring_setup_errno;      /* tests: pretend io_uring setup failed with this errno */
    int direct_open_errno;      /* tests: pretend opening with O_DIRECT failed with this errno */
} dw_io_options;

/* The pieces of arena memory an io needs, planned before the arena is allocated. */
typedef struct dw_io_plan {
    uint32_t queue_depth;
    uint32_t slots_piece;
    uint32_t backend_piece;
} dw_io_plan;

int dw_io_plan_in(dw_arena *arena, uint32_t queue_depth, dw_io_plan *plan, dw_diag *diag);

typedef struct dw_io_stats {
    uint64_t submitted;
    uint64_t completed;
    uint64_t failed;
    uint64_t retries;
    uint64_t short_resubmits;
    uint32_t in_flight;
    uint32_t in_flight_high_water;
} dw_io_stats;

struct dw_io_slot;
struct dw_io_backend_ops;

typedef struct dw_io {
    const struct dw_io_backend_ops *ops;
    dw_io_backend backend;                  /* the one chosen: io_uring, psync or sim */
    char backend_reason[DW_IO_REASON_MAX];  /* why it was chosen */
    char direct_reason[DW_IO_REASON_MAX];   /* why O_DIRECT is or is not used */
    char path[DW_CONFIG_PATH_MAX];
    int fd;                                 /* -1 for sim */
    bool direct;
    uint32_t block_size;
    uint64_t size_bytes;
    uint32_t queue_depth;
    const dw_clock *clock;
    dw_log *log;
    struct dw_sim_disk *sim_disk;
    _Atomic int sync_errno;                 /* a failed data sync, sticky until reopen */
    _Atomic uint64_t direct_requests;       /* carried out by dw_io_direct */
    struct dw_io_slot *slots;
    uint32_t free_slot_count;
    uint32_t *free_slots;                   /* a stack of free slot indices */
    uint32_t *restart;                      /* slots waiting to be (re)started, FIFO */
    uint32_t restart_head;
    uint32_t restart_count;
    uint32_t *ready;                        /* slots whose completions wait to be reaped, FIFO */
    uint32_t ready_head;
    uint32_t ready_count;
    void *backend_state;
    dw_io_stats stats;
    _Atomic uint32_t wake_sequence;         /* bumped by dw_io_wake */
    bool plugged;                           /* dw_io_plug: submissions wait for the batch's end */
    bool flush_owed;                        /* ... and some were prepared meanwhile */
    bool driver_known;                      /* a thread has submitted */
    pthread_t driver;                       /* that thread */
} dw_io;

/* Opens (and sizes, and locks) the data file and the chosen backend, in memory the arena
 * holds for `plan`. Reports which backend and why through the log. Fails with a diag
 * naming the file and what to do: DW_EBUSY when another process holds the file (with
 * its pid), DW_ENOENT, DW_EPERM, DW_ENOSPC, DW_EIO, or DW_EINVAL for a bad option. */
int dw_io_open(dw_io *io, const dw_arena *arena, const dw_io_plan *plan,
               const dw_io_options *options, dw_diag *diag);

/* Waits for every request in flight, then closes the backend and the file. */
void dw_io_close(dw_io *io);

/* Submits up to `count` requests in one batch (one system call for io_uring). Every
 * request is checked first: if any is malformed nothing is submitted and DW_EINVAL is
 * returned with diag saying which and why. Otherwise as many as there are free slots are
 * taken (*accepted); the rest are the caller's to submit later. */
int dw_io_submit(dw_io *io, const dw_io_request *requests, uint32_t count, uint32_t *accepted,
                 dw_diag *diag);

/* Plugging: from dw_io_plug until dw_io_unplug (or the next reap), dw_io_submit prepares
 * its requests but the backend hands none to the device, so that a batch built request by
 * request goes in one system call (io_uring: one io_uring_enter for the lot). A reap ends
 * the plug, and its wait carries what is prepared in the same system call. The psync and
 * sim backends carry a request out when it is prepared: for them plugging changes
 * nothing. Driving thread only. */
void dw_io_plug(dw_io *io);
void dw_io_unplug(dw_io *io);

/* Hands out up to `capacity` completions. When none is ready and requests are in flight,
 * waits up to `wait_ns` for one (by the io's clock; the sim backend advances its virtual
 * time instead of waiting), or until dw_io_wake. Returns how many were handed out. */
uint32_t dw_io_reap(dw_io *io, dw_io_completion *completions, uint32_t capacity, uint64_t wait_ns);

/* As dw_io_reap, but the wait also ends if dw_io_wake was called at any time after the
 * wake sequence read `since` (dw_io_wake_sequence): a caller that checks for work, then
 * waits, loses no wake-up that came between. */
uint32_t dw_io_wake_sequence(const dw_io *io);
uint32_t dw_io_reap_since(dw_io *io, dw_io_completion *completions, uint32_t capacity,
                          uint64_t wait_ns, uint32_t since);

/* Ends a dw_io_reap that is waiting, on the driving thread, as soon as possible; safe
 * from any thread. A scheduler's submitters use it to hand new work to its I/O thread. */
void dw_io_wake(dw_io *io);

/* Carries out one request at once on the calling thread, with system calls of its own
 * (pread, pwritev2 with RWF_DSYNC for a durable write, fdatasync), resubmitting short
 * transfers and retrying retryable errors as the queued path does; a failed sync (or
 * durable write) stays failed for every later sync, queued or direct. It takes no slot
 * and touches nothing the driver owns, so any thread may call it at any time, also
 * while the driver runs: this is what lets a caller make its commit durable without a
 * hand-off to the I/O thread (docs/IO.md). Only the file backends have it
 * (dw_io_direct_available); the request is checked as dw_io_submit checks it. */
bool dw_io_direct_available(const dw_io *io);
int dw_io_direct(dw_io *io, const dw_io_request *request, dw_io_completion *completion, dw_diag *diag);

/* "write of 4096 bytes at offset 8192 of 'a.dwvd' failed: Input/output error (media)". */
void dw_io_describe(const dw_io *io, const dw_io_completion *completion, char *text,
                    size_t text_size);

uint32_t dw_io_in_flight(const dw_io *io);
void dw_io_stats_read(const dw_io *io, dw_io_stats *stats);

dw_io_category dw_io_categorize(int error_number);
const char *dw_io_category_name(dw_io_category category);
const char *dw_io_op_name(dw_io_op op);
const char *dw_io_backend_name(dw_io_backend backend);

#endif /* DW_IO_IO_H */
