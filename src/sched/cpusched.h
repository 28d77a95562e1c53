/*
 * cpusched.h — the deterministic multi-core scheduler: CPU work (checksums, later
 * compression and encryption of extents) on N worker cores, with results committed in
 * one global order, so that what dwvd writes does not depend on how many cores ran it
 * or how their threads were scheduled, and a replay log that proves it.
 *
 * One thread drives it (enqueues, releases, commits, records); N workers run tasks.
 *
 *   enqueue(task)                 stamp = the scheduler's Lamport clock, ticked;
 *                                 the task goes at once to core (id & (N-1)), into
 *                                 that core's ring for its priority (SPSC: the driving
 *                                 thread produces, the worker consumes)
 *   enqueue_ordered(task, stamp)  a task stamped elsewhere (another core's clock, a
 *                                 message) waits in the globally ordered queue...
 *   release()                     ...until released, in (time, core) order
 *   run_cycle(core)               a worker runs its core's next task, highest priority
 *                                 first, measuring the CPU ticks it takes against its
 *                                 budget
 *   commit(count)                 results are taken in the order the tasks were
 *                                 dispatched — the global order — whatever order the
 *                                 cores finished them in
 *
 * What is deterministic: which tasks are accepted, the dispatch (= commit) order, each
 * task's output, and so the replay log's chain. What is not, and is kept out of the
 * chain: which worker ran a task (it depends on N), how many ticks it took, and, with
 * worker threads, the moment each core ran each task. Priority orders the tasks waiting
 * on one core, so urgent work is computed first; it never reorders commits.
 *
 * Memory: cores, task slots, rings, the ordered queue and the replay log are arena
 * pieces planned at open. A ring is as deep as there are task slots, so a dispatch never
 * finds one full: the only refusal is "all task slots are in flight" (DW_EBUSY), which
 * depends on the driving thread's own calls alone, never on how fast the workers are.
 * Nothing allocates after open.
 */
#ifndef DW_SCHED_CPUSCHED_H
#define DW_SCHED_CPUSCHED_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/random.h"
#include "dwvd.h"
#include "mem/arena.h"
#include "sched/lamport.h"
#include "sched/ordered.h"
#include "sched/replay.h"
#include "sched/spsc.h"
#include "sched/task.h"

#define DW_CPUSCHED_WORKERS_MAX 256
#define DW_CPUSCHED_SLOTS_MAX 65536

typedef struct dw_task_result {
    uint64_t task_id;
    dw_task_priority priority;
    dw_stamp stamp;
    uint32_t worker;            /* the core that ran it */
    uint64_t output;            /* the work's result hash */
    uint64_t ticks;             /* CPU ticks the work took */
    bool over_budget;
} dw_task_result;

/* Called on the driving thread for each result, in commit order. */
typedef void (*dw_cpusched_commit_fn)(void *context, const dw_task_result *result);

typedef struct dw_cpusched_config {
    uint32_t workers;           /* 1 .. 256, a power of two; 0 = dw_cpusched_default_workers() */
    uint32_t task_slots;        /* tasks accepted and not yet committed: 1 .. 65536 */
    uint64_t log_events;        /* the replay log's capacity; 0 = no log */
    const dw_clock *clock;      /* its tick counter measures tasks */
    dw_log *log;                /* budget overruns; may be NULL */
    const dw_guard_table *guards; /* may be NULL: then a task naming a guard is refused */
    dw_cpusched_commit_fn on_commit; /* may be NULL */
    void *commit_context;
    /* Testing: before each task a worker thread waits a random 0 .. delay_max_ns
     * (sleeping, yielding or spinning), to shake out any dependence on timing. */
    uint64_t delay_max_ns;
    uint64_t delay_seed;
} dw_cpusched_config;

typedef struct dw_cpusched_plan {
    uint32_t workers;
    uint32_t task_slots;
    uint32_t ring_capacity;     /* a power of two >= task_slots */
    uint64_t log_events;
    uint32_t cores_piece;
    uint32_t slots_piece;
    uint32_t rings_piece;
    uint32_t log_piece;
} dw_cpusched_plan;

struct dw_cpusched;

/* One worker core. The rings and the wake-up words are shared with the driving thread;
 * the counters after them are the worker's. The padding clang-tidy counts is the point:
 * the driving thread's doorbell and the worker's counters sit on lines of their own. */
typedef struct dw_cpu_core { // NOLINT(clang-analyzer-optin.performance.Padding)
    dw_spsc *rings[DW_TASK_PRIORITY_COUNT];     /* slot indices, one ring per priority */
    _Alignas(128) _Atomic uint32_t doorbell;    /* futex word the idle worker sleeps on */
    _Atomic uint32_t sleeping;
    _Alignas(128) _Atomic uint64_t executed;
    _Atomic uint64_t over_budget;
    dw_random delay;
    struct dw_cpusched *owner;
    uint32_t index;
    bool started;
    pthread_t thread;
} dw_cpu_core;

typedef struct dw_cpu_slot dw_cpu_slot;

typedef struct dw_cpusched_stats {
    uint64_t enqueued;          /* tasks accepted */
    uint64_t refused;           /* tasks refused (invalid, guard, no slot) */
    uint64_t committed;
    uint64_t over_budget;       /* committed tasks that overran their tick budget */
    uint64_t ticks_max;         /* the most ticks one committed task took */
    uint32_t held;              /* waiting in the ordered queue for release */
    uint32_t in_flight;         /* dispatched and not yet committed */
} dw_cpusched_stats;

typedef struct dw_cpusched { // NOLINT(clang-analyzer-optin.performance.Padding)
    dw_cpusched_config config;
    uint32_t workers;
    uint32_t core_mask;
    dw_cpu_core *cores;
    dw_cpu_slot *slots;
    uint32_t slot_count;

    /* Shared with the workers. */
    _Alignas(128) _Atomic uint32_t completions; /* futex word the waiting committer sleeps on */
    _Atomic uint32_t committer_sleeping;
    _Atomic bool stopping;

    /* Driving thread only. */
    _Alignas(128) uint32_t *free_slots;         /* a stack of slot indices */
    uint32_t free_count;
    uint32_t *order;                            /* dispatched slots, in commit order */
    uint32_t order_mask;
    uint64_t order_head;                        /* next to commit */
    uint64_t order_tail;                        /* next to dispatch */
    dw_ordered held;                            /* enqueue_ordered tasks until release */
    dw_lamport clock;
    dw_replay_log replay;
    bool threaded;
    dw_cpusched_stats counters;
} dw_cpusched;

/* The online cores rounded down to a power of two, at most DW_CPUSCHED_WORKERS_MAX. */
uint32_t dw_cpusched_default_workers(void);

/* Plans the pieces; DW_EINVAL for a worker count that is not a power of two in 1 .. 256
 * or a slot count outside 1 .. 65536, DW_ENOMEM_BUDGET from the budget. */
int dw_cpusched_plan_in(dw_arena *arena, const dw_cpusched_config *config,
                        dw_cpusched_plan *plan, dw_diag *diag);

/* Lays the scheduler out in its pieces (after dw_arena_allocate). */
void dw_cpusched_open(dw_cpusched *sched, const dw_arena *arena, const dw_cpusched_plan *plan,
                      const dw_cpusched_config *config);

/* Starts one thread per worker. Without it the caller steps with dw_cpusched_run_cycle. */
int dw_cpusched_start(dw_cpusched *sched, dw_diag *diag);

/* Lets the workers finish what was dispatched to them, then ends their threads. The
 * results stay to be committed. */
void dw_cpusched_stop(dw_cpusched *sched);

/* Driving thread. DW_EINVAL for a task not built by dw_task_build (or changed since) or
 * naming an unregistered guard; DW_EPERM when a guard refuses it; DW_EBUSY when every
 * task slot is in flight (commit first). On success the task is logged. */
int dw_cpusched_enqueue(dw_cpusched *sched, const dw_task *task, dw_diag *diag);
int dw_cpusched_enqueue_ordered(dw_cpusched *sched, const dw_task *task, dw_stamp stamp,
                                dw_diag *diag);

/* Driving thread: dispatches every task waiting in the ordered queue, in (time, core)
 * order. Returns how many. */
uint32_t dw_cpusched_release(dw_cpusched *sched);

/* Without worker threads only: runs core's next task (high, then normal, then low; first
 * in first out within a priority) on the calling thread. False when the core has none. */
bool dw_cpusched_run_cycle(dw_cpusched *sched, uint32_t core, dw_task_result *result);

/* Driving thread: commits up to `count` results in dispatch order, calling on_commit
 * and logging each. With worker threads it waits up to timeout_ns for results not yet
 * computed; without, it stops at the first task not yet run. Returns how many. */
uint32_t dw_cpusched_commit(dw_cpusched *sched, uint32_t count, uint64_t timeout_ns);

/* Driving thread: release, then commit everything in flight. DW_EBUSY if the timeout
 * passed first (or, without threads, a task has not been run). */
int dw_cpusched_sync(dw_cpusched *sched, uint64_t timeout_ns);

/* Driving thread: log a change of the caller's state or an input from outside the run,
 * stamped by the scheduler's clock. */
void dw_cpusched_record_state(dw_cpusched *sched, uint64_t state_hash);
void dw_cpusched_record_input(dw_cpusched *sched, uint64_t input_hash);

/* Driving thread, or after stop. */
void dw_cpusched_stats_read(const dw_cpusched *sched, dw_cpusched_stats *stats);
uint64_t dw_cpusched_executed_on(const dw_cpusched *sched, uint32_t core);

/* The replay log (empty when config.log_events is 0). */
static inline const dw_replay_log *dw_cpusched_replay(const dw_cpusched *sched)
{
    return &sched->replay;
}

#endif /* DW_SCHED_CPUSCHED_H */
