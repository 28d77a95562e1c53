/*
 * edf.h — the deadline scheduler: every I/O carries an absolute deadline and a priority
 * class, and is dispatched earliest deadline first, measured, and checked against its
 * deadline and its class's budget (WCET).
 *
 * Any thread submits (through a bounded lock-free queue); one thread drives: either the
 * scheduler's own I/O thread (dw_sched_start), or the caller, step by step
 * (dw_sched_step), which on the simulated disk makes a run exact and repeatable in
 * virtual time. Request slots, queues, heaps, histograms: all arena pieces planned at
 * open. Nothing allocates after open.
 *
 * Guarantees it is built to give (docs/DETERMINISM.md has the model):
 *  - a class can always get the request slots and device slots reserved for it, whatever
 *    less important classes do;
 *  - among waiting requests, the one whose deadline is earliest goes first (EDF mode);
 *  - every request is measured from submission to completion and from dispatch to
 *    completion; a late completion or an overrun budget is a miss, counted by class,
 *    priority and cause, and handled by the configured miss action.
 */
#ifndef DW_SCHED_EDF_H
#define DW_SCHED_EDF_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/clock.h"
#include "core/index_stack.h"
#include "core/log.h"
#include "dwvd.h"
#include "io/io.h"
#include "mem/arena.h"
#include "mem/pool.h"
#include "sched/histogram.h"
#include "sched/mpmc.h"

typedef enum dw_priority {
    DW_PRIORITY_CRITICAL = 0,
    DW_PRIORITY_HIGH = 1,
    DW_PRIORITY_NORMAL = 2,
    DW_PRIORITY_BEST_EFFORT = 3,
} dw_priority;
#define DW_PRIORITY_COUNT 4

typedef enum dw_op_class {
    DW_OP_READ = 0,             /* one block */
    DW_OP_WRITE = 1,            /* one block */
    DW_OP_READ_BATCH = 2,       /* 2 .. DW_SCHED_BATCH_MAX consecutive blocks */
    DW_OP_WRITE_BATCH = 3,
    DW_OP_FLUSH = 4,            /* a data sync */
} dw_op_class;
#define DW_OP_CLASS_COUNT 5
#define DW_SCHED_BATCH_MAX 16

typedef enum dw_miss_cause {
    DW_MISS_CAUSE_LATE = 0,     /* completed after its deadline */
    DW_MISS_CAUSE_BUDGET = 1,   /* its service time overran its class's WCET budget */
    DW_MISS_CAUSE_NO_BUFFER = 2,/* late, having waited for a free buffer */
    DW_MISS_CAUSE_EXPIRED = 3,  /* its deadline passed before it could start (cancelled) */
} dw_miss_cause;
#define DW_MISS_CAUSE_COUNT 4

struct dw_sched_completion;
typedef void (*dw_sched_callback)(void *context, const struct dw_sched_completion *completion);

typedef struct dw_sched_request {
    dw_op_class op_class;
    dw_priority priority;
    uint64_t deadline_ns;       /* absolute, by the scheduler's clock */
    uint64_t block;             /* first block (reads and writes) */
    uint32_t block_count;       /* 1, or 2 .. DW_SCHED_BATCH_MAX for a batch */
    const void *write_data;     /* writes: block_count blocks, valid until completion */
    void *read_data;            /* reads: room for block_count blocks */
    /* Optional: called on the driving thread when the request completes; the slot is
     * then released at once. Without it, the caller collects with wait or poll. */
    dw_sched_callback on_complete;
    void *context;
    /* Writes: durable on completion, this write only (io.h, dw_io_request.durable). */
    bool durable;
} dw_sched_request;

typedef struct dw_sched_completion {
    uint64_t id;
    dw_op_class op_class;
    dw_priority priority;
    int result;                 /* DW_OK, DW_EDEADLINE, DW_ECANCELED or an I/O error */
    bool missed;
    dw_miss_cause cause;
    uint64_t deadline_ns;
    uint64_t submitted_ns;
    uint64_t dispatched_ns;     /* 0 when it never started */
    uint64_t completed_ns;
    void *context;
    uint64_t block;             /* the request's, for messages */
    uint32_t block_count;
} dw_sched_completion;

typedef struct dw_sched_ticket {
    uint32_t slot;
    uint32_t generation;
} dw_sched_ticket;

typedef struct dw_sched_class_stats {
    uint64_t completed;
    uint64_t misses;
    uint64_t p50_ns;
    uint64_t p90_ns;
    uint64_t p99_ns;
    uint64_t p999_ns;
    uint64_t p9999_ns;
    uint64_t max_ns;            /* end to end */
    uint64_t service_max_ns;    /* dispatch to completion: what the budget is held to */
} dw_sched_class_stats;

typedef struct dw_sched_stats {
    uint64_t direct;            /* carried out on the caller's thread (dw_sched_direct) */
    uint64_t submitted;
    uint64_t completed;
    uint64_t refused;           /* no slot for the class, circuit open, shutting down, late */
    uint64_t cancelled;         /* at shutdown, or expired under miss action "fail" */
    uint64_t misses;
    uint64_t misses_by_cause[DW_MISS_CAUSE_COUNT];
    uint64_t pool_exhaustions;  /* dispatches put off for want of a buffer */
    dw_sched_class_stats by_class[DW_OP_CLASS_COUNT];
    dw_sched_class_stats by_priority[DW_PRIORITY_COUNT];
    uint32_t waiting;           /* requests submitted and not yet dispatched */
    uint32_t in_flight;         /* I/Os in the device */
    uint32_t buffers_in_use;    /* pool buffers the scheduler holds */
    bool circuit_open;
    uint64_t circuit_openings;
    uint64_t circuit_closings;
} dw_sched_stats;

/* The budget table: what each class may take from dispatch to completion, and why. */
typedef struct dw_wcet_entry {
    dw_op_class op_class;
    const char *name;
    uint64_t budget_ns;
    const char *justification;
    const char *reference;      /* the certification requirement it traces to */
} dw_wcet_entry;

typedef struct dw_sched_plan {
    uint32_t slots_piece;
    uint32_t queues_piece;
    uint32_t statistics_piece;
    uint32_t request_slots;
    uint32_t queue_capacity;    /* the MPMC's, a power of two */
    uint32_t circuit_entries;
} dw_sched_plan;

struct dw_sched_slot;

/* Everything the driving thread owns lives here; submitters touch only the atomics. The
 * padding clang-tidy counts is the point: what submitters hammer sits on its own cache
 * lines, away from the driving thread's fields. */
typedef struct dw_sched { // NOLINT(clang-analyzer-optin.performance.Padding)
    dw_config config;
    dw_io *io;
    dw_pool *pool;
    const dw_clock *clock;
    dw_log *log;
    dw_wcet_entry wcet[DW_OP_CLASS_COUNT];
    uint32_t slot_reserve[DW_PRIORITY_COUNT];   /* free slots a class must leave */
    uint32_t device_reserve[DW_PRIORITY_COUNT]; /* device slots a class must leave (EDF) */

    struct dw_sched_slot *slots;
    dw_index_stack free_slots;
    _Alignas(64) _Atomic uint32_t slots_free;
    _Atomic uint64_t next_id;
    dw_mpmc submissions;
    _Alignas(64) _Atomic uint32_t submissions_pending;
    _Atomic uint32_t doorbell;                  /* futex word the idle I/O thread sleeps on */
    _Atomic uint32_t sleep_state;
    _Atomic bool stopping;
    _Atomic bool circuit_open;
    _Atomic uint64_t submitted_total;
    _Atomic uint32_t submitters_inside;         /* between the stopping check and the push */
    _Atomic uint64_t refused_total;

    /* Driving thread only from here on. */
    uint32_t *heaps[DW_PRIORITY_COUNT];         /* waiting slots, one min-heap per class */
    uint32_t heap_sizes[DW_PRIORITY_COUNT];
    uint32_t waiting;
    uint32_t device_in_flight;
    uint32_t buffers_held;
    uint64_t *circuit_misses_ns;                /* ring of the last circuit_misses misses */
    uint32_t circuit_count;
    uint32_t circuit_head;
    uint64_t circuit_good_since_ns;
    dw_histogram *latency;                      /* [class][priority], end to end */
    uint64_t service_max_ns[DW_OP_CLASS_COUNT];
    uint64_t *recent_latency_ns;                /* the last DW_SCHED_RECENT_MAX latencies */
    uint64_t recent_count;
    dw_sched_stats counters;                    /* the counting fields of dw_sched_stats */

    /* The direct path (sched/direct.c): requests carried out on the caller's thread. Its
     * statistics have their own lock, since any thread may add to them. */
    _Alignas(64) _Atomic uint32_t direct_in_flight;
    uint32_t direct_limit;                      /* device slots the direct path may hold */
    pthread_mutex_t direct_lock;
    dw_histogram *direct_latency;               /* [class][priority], end to end */
    uint64_t direct_service_max_ns[DW_OP_CLASS_COUNT];
    dw_sched_stats direct_counters;

    pthread_t thread;
    bool thread_running;
    uint64_t stop_deadline_ns;                  /* waiting work is cancelled after this */
    uint32_t stop_cancelled;
    char thread_note[200];                      /* how the I/O thread runs, and why */
} dw_sched;

#define DW_SCHED_RECENT_MAX 10000

int dw_sched_plan_in(dw_arena *arena, const dw_config *config, dw_sched_plan *plan, dw_diag *diag);

/* Lays the scheduler out in its pieces, over an open io and pool (which it drives and
 * rents from from then on) and a clock (the sim disk's virtual clock for a sim run). */
int dw_sched_open(dw_sched *sched, const dw_arena *arena, const dw_sched_plan *plan,
                  const dw_config *config, dw_io *io, dw_pool *pool, const dw_clock *clock,
                  dw_log *log, dw_diag *diag);

/* Any thread. DW_EINVAL for a malformed request; DW_EBUSY when no slot is free for its
 * class, the circuit is open (best-effort) or the scheduler is stopping; DW_EDEADLINE
 * when it is late already and sched.late_submission = refuse. */
int dw_sched_submit(dw_sched *sched, const dw_sched_request *request, dw_sched_ticket *ticket,
                    dw_diag *diag);

/* Any thread: submits requests[0..count) in order, as dw_sched_submit each, but wakes
 * the driving thread once for all of them, not once each. Stops at the first request
 * refused: *accepted says how many were taken (tickets[i] filled for those, when tickets
 * is not NULL), and the result is that refusal's (DW_OK when all were taken). */
int dw_sched_submit_batch(dw_sched *sched, const dw_sched_request *requests, uint32_t count,
                          dw_sched_ticket *tickets, uint32_t *accepted, dw_diag *diag);

/* Any thread: waits up to timeout_ns for the request to complete, then releases its slot
 * and fills *completion. DW_OK, or DW_EBUSY if it has not completed in time. */
int dw_sched_wait(dw_sched *sched, dw_sched_ticket ticket, uint64_t timeout_ns,
                  dw_sched_completion *completion);

/* Any thread, never waits: true (and the slot released) when the request is done. */
bool dw_sched_poll(dw_sched *sched, dw_sched_ticket ticket, dw_sched_completion *completion);

/* The driving thread's work, once: take submissions, cancel what expired, dispatch what
 * fits, reap (waiting up to wait_ns when nothing else can be done), settle completions.
 * Returns true while anything is waiting or in flight. */
bool dw_sched_step(dw_sched *sched, uint64_t wait_ns);

/* Starts the I/O thread, at real-time priority when permitted (else normal, and the
 * reason is logged), pinned when sched.io_cpu says so. */
int dw_sched_start(dw_sched *sched, dw_diag *diag);

/* Refuses new work, lets waiting work run for up to drain_ns, cancels what is left
 * (DW_ECANCELED), waits for the I/O in the device, and closes the io on its driving
 * thread (the I/O thread when started, else the caller). Returns the number of requests
 * cancelled. Statistics stay readable after. */
uint32_t dw_sched_stop(dw_sched *sched, uint64_t drain_ns);

/* Any thread: carries the request out at once on the calling thread, where that costs
 * less than handing it to the I/O thread: no queue, no wake-up, one system call (a
 * durable write is one pwritev2 with RWF_DSYNC). Admitted under the same rules as a
 * queued request (not while stopping, not best-effort while the circuit is open, not
 * when already late under late_submission = refuse) and within direct_limit device
 * slots, so the I/O thread keeps its share of the device. Measured and judged against
 * deadline and budget as a queued request is, into the same statistics. DW_EBUSY when
 * not admitted (or the backend has no direct path: the sim disk): submit it instead.
 * Otherwise DW_OK with *completion filled (its result says how the I/O went). */
int dw_sched_direct(dw_sched *sched, const dw_sched_request *request, dw_sched_completion *completion,
                    dw_diag *diag);

/* From the driving thread (between steps), or after dw_sched_stop. */
void dw_sched_stats_read(const dw_sched *sched, dw_sched_stats *stats);
void dw_sched_stats_write_json(const dw_sched_stats *stats, FILE *out);

/* The last min(count, DW_SCHED_RECENT_MAX) end-to-end latencies, oldest first. */
uint32_t dw_sched_recent_latencies(const dw_sched *sched, uint64_t *latencies, uint32_t capacity);

/* Names for logs, JSON and tables. */
const char *dw_priority_name(dw_priority priority);
const char *dw_op_class_name(dw_op_class op_class);
const char *dw_miss_cause_name(dw_miss_cause cause);

/* The budget table for a configuration. */
void dw_wcet_table(const dw_config *config, dw_wcet_entry table[DW_OP_CLASS_COUNT]);

#endif /* DW_SCHED_EDF_H */
