/*
 * cpusched.c — see cpusched.h.
 *
 * Hand-offs. A slot's task is written by the driving thread before its index is pushed
 * on a core's ring (release) and read by the worker after the pop (acquire). The result
 * is written by the worker before it stores `done` (release) and read by the driving
 * thread after it loads `done` (acquire); the worker touches the slot no more after that
 * store, so the driving thread may reuse it at once.
 *
 * Sleeping. An idle worker sleeps on its core's doorbell, a waiting committer on the
 * scheduler's completions word. A waker publishes its work, then increments the word
 * and reads the sleeper's flag; a sleeper raises its flag, then reads the word, looks
 * for work once more, and sleeps only while the word still holds what it read. All four
 * steps are sequentially consistent atomics (not fences, which ThreadSanitizer cannot
 * follow), so either the waker sees the flag and wakes the sleeper, or the sleeper reads
 * the incremented word and with it the work: no wake-up is lost, and a busy system makes
 * no system calls at all.
 */
#include "sched/cpusched.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/bits.h"
#include "core/compiler.h"
#include "core/error.h"
#include "core/futex.h"

struct dw_cpu_slot {
    _Alignas(64) dw_task task;
    dw_stamp stamp;
    uint64_t output;
    uint64_t ticks;
    uint32_t worker;
    _Atomic uint32_t done;
};

/* Spins before sleeping: long enough to catch work handed over in a burst, short enough
 * not to burn a core that has nothing to do. */
#define IDLE_SPINS 256
#define SLEEP_SLICE_NS (100 * DW_NS_PER_MS)

uint32_t dw_cpusched_default_workers(void)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    uint32_t workers = 1;
    while (online > 0 && (long)workers * 2 <= online && workers < DW_CPUSCHED_WORKERS_MAX) {
        workers *= 2;
    }
    return workers;
}

/* ------------------------------------------------------------------------------------
 * Memory
 * ---------------------------------------------------------------------------------- */

static uint64_t slots_piece_bytes(const dw_cpusched_plan *plan)
{
    return (uint64_t)plan->task_slots * sizeof(dw_cpu_slot) +
           (uint64_t)plan->task_slots * sizeof(uint32_t) +                 /* free stack */
           (uint64_t)plan->ring_capacity * sizeof(uint32_t) +              /* commit order */
           dw_ordered_memory_bytes(plan->task_slots);                     /* held tasks */
}

int dw_cpusched_plan_in(dw_arena *arena, const dw_cpusched_config *config,
                        dw_cpusched_plan *plan, dw_diag *diag)
{
    memset(plan, 0, sizeof *plan);
    plan->workers = config->workers == 0 ? dw_cpusched_default_workers() : config->workers;
    if (plan->workers > DW_CPUSCHED_WORKERS_MAX || !dw_is_power_of_two(plan->workers)) {
        return dw_diag_fail(diag, DW_EINVAL, "use 1, 2, 4, ... 256, or 0 for the online cores",
                            "%u CPU workers: the count must be a power of two from 1 to %d",
                            plan->workers, DW_CPUSCHED_WORKERS_MAX);
    }
    if (config->task_slots == 0 || config->task_slots > DW_CPUSCHED_SLOTS_MAX) {
        return dw_diag_fail(diag, DW_EINVAL, NULL,
                            "%u CPU task slots: the count must be from 1 to %d",
                            config->task_slots, DW_CPUSCHED_SLOTS_MAX);
    }
    if (config->log_events > DW_REPLAY_EVENTS_MAX) {
        return dw_diag_fail(diag, DW_EINVAL, NULL,
                            "a replay log of %llu events is more than the %llu allowed",
                            (unsigned long long)config->log_events,
                            (unsigned long long)DW_REPLAY_EVENTS_MAX);
    }
    plan->task_slots = config->task_slots;
    plan->ring_capacity = dw_power_of_two_at_least(config->task_slots);
    plan->log_events = config->log_events;
    uint64_t rings = (uint64_t)plan->workers * DW_TASK_PRIORITY_COUNT *
                     dw_spsc_memory_bytes(plan->ring_capacity);
    int result = dw_arena_plan(arena, "cpu scheduler cores",
                               (uint64_t)plan->workers * sizeof(dw_cpu_core),
                               _Alignof(dw_cpu_core), &plan->cores_piece, diag);
    if (result == DW_OK) {
        result = dw_arena_plan(arena, "cpu scheduler slots", slots_piece_bytes(plan), 64,
                               &plan->slots_piece, diag);
    }
    if (result == DW_OK) {
        result = dw_arena_plan(arena, "cpu scheduler rings", rings, DW_SPSC_ALIGNMENT,
                               &plan->rings_piece, diag);
    }
    if (result == DW_OK && plan->log_events > 0) {
        result = dw_arena_plan(arena, "replay log", dw_replay_memory_bytes(plan->log_events), 64,
                               &plan->log_piece, diag);
    }
    return result;
}

void dw_cpusched_open(dw_cpusched *sched, const dw_arena *arena, const dw_cpusched_plan *plan,
                      const dw_cpusched_config *config)
{
    DW_ASSERT(sched != NULL && config->clock != NULL);
    DW_ASSERT(plan->task_slots == config->task_slots && plan->log_events == config->log_events);
    memset(sched, 0, sizeof *sched);
    sched->config = *config;
    sched->workers = plan->workers;
    sched->core_mask = plan->workers - 1;
    sched->slot_count = plan->task_slots;

    sched->cores = dw_arena_piece_memory(arena, plan->cores_piece);
    unsigned char *rings = dw_arena_piece_memory(arena, plan->rings_piece);
    uint64_t ring_bytes = dw_spsc_memory_bytes(plan->ring_capacity);
    for (uint32_t i = 0; i < plan->workers; i++) {
        dw_cpu_core *core = &sched->cores[i];
        memset(core, 0, sizeof *core);
        for (int priority = 0; priority < DW_TASK_PRIORITY_COUNT; priority++) {
            core->rings[priority] = dw_spsc_init(rings, plan->ring_capacity);
            rings += ring_bytes;
        }
        atomic_init(&core->doorbell, 0);
        atomic_init(&core->sleeping, 0);
        atomic_init(&core->executed, 0);
        atomic_init(&core->over_budget, 0);
        /* Each core its own delay sequence: the cores disagree about timing on purpose. */
        dw_random_seed(&core->delay, config->delay_seed ^ (UINT64_C(0x9e3779b97f4a7c15) * (i + 1)));
        core->owner = sched;
        core->index = i;
    }

    unsigned char *memory = dw_arena_piece_memory(arena, plan->slots_piece);
    sched->slots = (dw_cpu_slot *)(void *)memory;
    memory += (uint64_t)plan->task_slots * sizeof(dw_cpu_slot);
    sched->free_slots = (uint32_t *)(void *)memory;
    memory += (uint64_t)plan->task_slots * sizeof(uint32_t);
    sched->order = (uint32_t *)(void *)memory;
    memory += (uint64_t)plan->ring_capacity * sizeof(uint32_t);
    dw_ordered_init(&sched->held, memory, plan->task_slots);
    sched->order_mask = plan->ring_capacity - 1;
    for (uint32_t i = 0; i < plan->task_slots; i++) {
        memset(&sched->slots[i], 0, sizeof sched->slots[i]);
        atomic_init(&sched->slots[i].done, 0);
        /* Pushed in reverse so that slot 0 is taken first: the same slots in every run. */
        sched->free_slots[i] = plan->task_slots - 1 - i;
    }
    sched->free_count = plan->task_slots;

    atomic_init(&sched->completions, 0);
    atomic_init(&sched->committer_sleeping, 0);
    atomic_init(&sched->stopping, false);
    dw_lamport_init(&sched->clock);
    dw_replay_init(&sched->replay,
                   plan->log_events > 0 ? dw_arena_piece_memory(arena, plan->log_piece) : NULL,
                   plan->log_events);
    sched->replay.workers = plan->workers;
}

/* ------------------------------------------------------------------------------------
 * Workers
 * ---------------------------------------------------------------------------------- */

static void inject_delay(dw_cpusched *sched, dw_cpu_core *core)
{
    uint64_t draw = dw_random_next(&core->delay);
    uint64_t delay_ns = (draw >> 8) % (sched->config.delay_max_ns + 1);
    switch (draw & 3) {
    case 0: { /* off the CPU */
        struct timespec pause = {.tv_sec = 0, .tv_nsec = (long)(delay_ns % DW_NS_PER_S)};
        (void)nanosleep(&pause, NULL);
        break;
    }
    case 1:
        (void)sched_yield();
        break;
    default: { /* on the CPU */
        uint64_t until = dw_clock_now_ns(sched->config.clock) + delay_ns;
        while (dw_clock_now_ns(sched->config.clock) < until) {
            dw_cpu_relax();
        }
        break;
    }
    }
}

/* Runs the core's next task, if any: the worker's whole job, threaded or stepped. */
static bool run_next(dw_cpusched *sched, dw_cpu_core *core, dw_task_result *result)
{
    uint64_t index = 0;
    int priority = 0;
    while (priority < DW_TASK_PRIORITY_COUNT && !dw_spsc_pop(core->rings[priority], &index)) {
        priority++;
    }
    if (priority == DW_TASK_PRIORITY_COUNT) {
        return false;
    }
    DW_ASSERT(index < sched->slot_count);
    dw_cpu_slot *slot = &sched->slots[index];
    if (sched->config.delay_max_ns > 0 && sched->threaded) {
        inject_delay(sched, core);
    }
    const dw_task_spec *spec = &slot->task.spec;
    const dw_clock *clock = sched->config.clock;
    uint64_t start = dw_clock_ticks(clock);
    uint64_t output = spec->work(spec->argument, spec->id);
    uint64_t ticks = dw_clock_ticks(clock) - start;
    bool over = ticks > spec->tick_budget;
    slot->output = output;
    slot->ticks = ticks;
    slot->worker = core->index;
    atomic_fetch_add_explicit(&core->executed, 1, memory_order_relaxed);
    if (over) {
        atomic_fetch_add_explicit(&core->over_budget, 1, memory_order_relaxed);
    }
    if (result != NULL) {
        *result = (dw_task_result){
            .task_id = spec->id,
            .priority = spec->priority,
            .stamp = slot->stamp,
            .worker = core->index,
            .output = output,
            .ticks = ticks,
            .over_budget = over,
        };
    }
    atomic_store_explicit(&slot->done, 1, memory_order_release);
    /* The slot is the driving thread's from here. */
    atomic_fetch_add(&sched->completions, 1);
    if (atomic_load(&sched->committer_sleeping) != 0) {
        dw_futex_wake(&sched->completions, 1);
    }
    return true;
}

static bool core_has_work(dw_cpu_core *core)
{
    for (int priority = 0; priority < DW_TASK_PRIORITY_COUNT; priority++) {
        if (dw_spsc_size(core->rings[priority]) > 0) {
            return true;
        }
    }
    return false;
}

static void *worker_main(void *argument)
{
    dw_cpu_core *core = argument;
    dw_cpusched *sched = core->owner;
    uint32_t idle = 0;
    for (;;) {
        if (run_next(sched, core, NULL)) {
            idle = 0;
            continue;
        }
        if (atomic_load(&sched->stopping)) {
            break; /* nothing left on this core */
        }
        if (++idle < IDLE_SPINS) {
            dw_cpu_relax();
            continue;
        }
        atomic_store(&core->sleeping, 1);
        uint32_t bell = atomic_load(&core->doorbell);
        if (!core_has_work(core) && !atomic_load(&sched->stopping)) {
            dw_futex_wait(&core->doorbell, bell, SLEEP_SLICE_NS);
        }
        atomic_store(&core->sleeping, 0);
        idle = 0;
    }
    return NULL;
}

int dw_cpusched_start(dw_cpusched *sched, dw_diag *diag)
{
    DW_ASSERT(!sched->threaded);
    sched->threaded = true;
    atomic_store(&sched->stopping, false);
    for (uint32_t i = 0; i < sched->workers; i++) {
        dw_cpu_core *core = &sched->cores[i];
        int error_number = pthread_create(&core->thread, NULL, worker_main, core);
        if (error_number != 0) {
            dw_cpusched_stop(sched);
            return dw_diag_fail(diag, DW_ENOMEM, "lower sched.worker_cores or raise the thread limit",
                                "cannot start CPU worker %u of %u: %s", i, sched->workers,
                                strerror(error_number));
        }
        core->started = true;
    }
    return DW_OK;
}

static void ring_doorbell(dw_cpu_core *core)
{
    atomic_fetch_add(&core->doorbell, 1);
    if (atomic_load(&core->sleeping) != 0) {
        dw_futex_wake(&core->doorbell, 1);
    }
}

void dw_cpusched_stop(dw_cpusched *sched)
{
    if (!sched->threaded) {
        return;
    }
    atomic_store(&sched->stopping, true);
    for (uint32_t i = 0; i < sched->workers; i++) {
        dw_cpu_core *core = &sched->cores[i];
        atomic_fetch_add(&core->doorbell, 1);
        dw_futex_wake(&core->doorbell, 1);
    }
    for (uint32_t i = 0; i < sched->workers; i++) {
        dw_cpu_core *core = &sched->cores[i];
        if (core->started) {
            (void)pthread_join(core->thread, NULL);
            core->started = false;
        }
    }
    sched->threaded = false;
}

bool dw_cpusched_run_cycle(dw_cpusched *sched, uint32_t core, dw_task_result *result)
{
    DW_ASSERT(!sched->threaded); /* each ring has one consumer: its worker thread */
    DW_ASSERT(core < sched->workers);
    return run_next(sched, &sched->cores[core], result);
}

/* ------------------------------------------------------------------------------------
 * The driving thread
 * ---------------------------------------------------------------------------------- */

static const dw_guard_table NO_GUARDS = {0};

static int admit(dw_cpusched *sched, const dw_task *task, dw_diag *diag)
{
    int result = DW_OK;
    if (!dw_task_sealed(task)) {
        result = dw_diag_fail(diag, DW_EINVAL, "build tasks with dw_task_build and do not change them after",
                              "task %llu was not built by dw_task_build, or was changed since",
                              (unsigned long long)task->spec.id);
    } else {
        result = dw_guard_table_admit(sched->config.guards != NULL ? sched->config.guards : &NO_GUARDS,
                                      task, diag);
    }
    if (result == DW_OK && sched->free_count == 0) {
        result = dw_diag_fail(diag, DW_EBUSY, "commit results to free slots, or raise the slot count",
                              "task %llu: all %u CPU task slots are in flight",
                              (unsigned long long)task->spec.id, sched->slot_count);
    }
    if (result != DW_OK) {
        sched->counters.refused++;
    }
    return result;
}

static uint32_t take_slot(dw_cpusched *sched, const dw_task *task, dw_stamp stamp)
{
    DW_ASSERT(sched->free_count > 0);
    uint32_t index = sched->free_slots[--sched->free_count];
    dw_cpu_slot *slot = &sched->slots[index];
    slot->task = *task;
    slot->stamp = stamp;
    slot->output = 0;
    slot->ticks = 0;
    slot->worker = 0;
    atomic_store_explicit(&slot->done, 0, memory_order_relaxed);
    return index;
}

static void record_enqueued(dw_cpusched *sched, const dw_task *task, dw_stamp stamp)
{
    sched->counters.enqueued++;
    if (sched->replay.capacity == 0) {
        return;
    }
    dw_replay_event event = {
        .type = DW_REPLAY_TASK_ENQUEUED,
        .priority = (uint8_t)task->spec.priority,
        .origin = stamp.core,
        .time = stamp.time,
        .task_id = task->spec.id,
    };
    (void)dw_replay_record(&sched->replay, &event);
}

static void dispatch(dw_cpusched *sched, uint32_t index)
{
    dw_cpu_slot *slot = &sched->slots[index];
    DW_ASSERT(sched->order_tail - sched->order_head < sched->slot_count);
    sched->order[sched->order_tail++ & sched->order_mask] = index;
    dw_cpu_core *core = &sched->cores[slot->task.spec.id & sched->core_mask];
    bool pushed = dw_spsc_push(core->rings[slot->task.spec.priority], index);
    DW_ASSERT(pushed); /* a ring holds as many entries as there are slots */
    if (sched->threaded) {
        ring_doorbell(core);
    }
}

int dw_cpusched_enqueue(dw_cpusched *sched, const dw_task *task, dw_diag *diag)
{
    int result = admit(sched, task, diag);
    if (result != DW_OK) {
        return result;
    }
    dw_stamp stamp = {.time = dw_lamport_tick(&sched->clock), .core = DW_REPLAY_ORIGIN_SELF};
    uint32_t index = take_slot(sched, task, stamp);
    record_enqueued(sched, task, stamp);
    dispatch(sched, index);
    return DW_OK;
}

int dw_cpusched_enqueue_ordered(dw_cpusched *sched, const dw_task *task, dw_stamp stamp,
                                dw_diag *diag)
{
    int result = admit(sched, task, diag);
    if (result != DW_OK) {
        return result;
    }
    /* Receiving the stamp moves this clock past it: what the scheduler stamps from now on
     * comes after the task, as Lamport's rule 2 has it. */
    (void)dw_lamport_receive(&sched->clock, stamp.time);
    uint32_t index = take_slot(sched, task, stamp);
    record_enqueued(sched, task, stamp);
    bool pushed = dw_ordered_push(&sched->held, stamp, index);
    DW_ASSERT(pushed); /* as many places as slots */
    return DW_OK;
}

uint32_t dw_cpusched_release(dw_cpusched *sched)
{
    uint32_t released = 0;
    dw_ordered_entry entry;
    while (dw_ordered_pop(&sched->held, &entry)) {
        dispatch(sched, (uint32_t)entry.value);
        released++;
    }
    return released;
}

/* Waits for a slot's result until deadline_ns; true when it is there. */
static bool wait_done(dw_cpusched *sched, dw_cpu_slot *slot, uint64_t deadline_ns)
{
    for (int spin = 0; spin < IDLE_SPINS; spin++) {
        if (atomic_load_explicit(&slot->done, memory_order_acquire) != 0) {
            return true;
        }
        dw_cpu_relax();
    }
    const dw_clock *clock = sched->config.clock;
    for (;;) {
        atomic_store(&sched->committer_sleeping, 1);
        uint32_t seen = atomic_load(&sched->completions);
        if (atomic_load_explicit(&slot->done, memory_order_acquire) != 0) {
            atomic_store(&sched->committer_sleeping, 0);
            return true;
        }
        uint64_t now = dw_clock_now_ns(clock);
        if (now >= deadline_ns) {
            atomic_store(&sched->committer_sleeping, 0);
            return false;
        }
        uint64_t left = deadline_ns - now;
        dw_futex_wait(&sched->completions, seen, left < SLEEP_SLICE_NS ? left : SLEEP_SLICE_NS);
        atomic_store(&sched->committer_sleeping, 0);
    }
}

static void commit_slot(dw_cpusched *sched, uint32_t index)
{
    dw_cpu_slot *slot = &sched->slots[index];
    const dw_task_spec *spec = &slot->task.spec;
    dw_task_result result = {
        .task_id = spec->id,
        .priority = spec->priority,
        .stamp = slot->stamp,
        .worker = slot->worker,
        .output = slot->output,
        .ticks = slot->ticks,
        .over_budget = slot->ticks > spec->tick_budget,
    };
    dw_cpusched_stats *counters = &sched->counters;
    counters->committed++;
    if (result.ticks > counters->ticks_max) {
        counters->ticks_max = result.ticks;
    }
    if (result.over_budget) {
        counters->over_budget++;
        /* Every overrun is counted; the log gets the 1st, 2nd, 4th, 8th, ... */
        if ((counters->over_budget & (counters->over_budget - 1)) == 0) {
            DW_LOG(sched->config.log, DW_LOG_WARN, "cpusched", "task overran its tick budget",
                   DW_LOG_UINT("task", result.task_id), DW_LOG_UINT("worker", result.worker),
                   DW_LOG_UINT("ticks", result.ticks), DW_LOG_UINT("budget", spec->tick_budget),
                   DW_LOG_UINT("overruns", counters->over_budget));
        }
    }
    if (sched->replay.capacity > 0) {
        dw_replay_event event = {
            .type = DW_REPLAY_TASK_EXECUTED,
            .priority = (uint8_t)result.priority,
            .origin = result.stamp.core,
            .time = result.stamp.time,
            .task_id = result.task_id,
            .hash = result.output,
            .worker = result.worker,
            .flags = result.over_budget ? DW_REPLAY_OVER_BUDGET : 0,
            .ticks = result.ticks,
        };
        (void)dw_replay_record(&sched->replay, &event);
    }
    if (sched->config.on_commit != NULL) {
        sched->config.on_commit(sched->config.commit_context, &result);
    }
    atomic_store_explicit(&slot->done, 0, memory_order_relaxed);
    sched->free_slots[sched->free_count++] = index;
}

uint32_t dw_cpusched_commit(dw_cpusched *sched, uint32_t count, uint64_t timeout_ns)
{
    uint64_t deadline_ns = UINT64_MAX;
    if (sched->threaded) {
        uint64_t now = dw_clock_now_ns(sched->config.clock);
        deadline_ns = timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
    }
    uint32_t committed = 0;
    while (committed < count && sched->order_head != sched->order_tail) {
        uint32_t index = sched->order[sched->order_head & sched->order_mask];
        dw_cpu_slot *slot = &sched->slots[index];
        if (atomic_load_explicit(&slot->done, memory_order_acquire) == 0 &&
            (!sched->threaded || !wait_done(sched, slot, deadline_ns))) {
            break;
        }
        sched->order_head++;
        commit_slot(sched, index);
        committed++;
    }
    return committed;
}

int dw_cpusched_sync(dw_cpusched *sched, uint64_t timeout_ns)
{
    (void)dw_cpusched_release(sched);
    uint64_t in_flight = sched->order_tail - sched->order_head;
    uint32_t committed = dw_cpusched_commit(sched, (uint32_t)in_flight, timeout_ns);
    if (committed < in_flight) {
        return DW_EBUSY;
    }
    return DW_OK;
}

void dw_cpusched_record_state(dw_cpusched *sched, uint64_t state_hash)
{
    uint64_t time = dw_lamport_tick(&sched->clock);
    if (sched->replay.capacity > 0) {
        dw_replay_event event = {.type = DW_REPLAY_STATE_CHANGE, .origin = DW_REPLAY_ORIGIN_SELF,
                                 .time = time, .hash = state_hash};
        (void)dw_replay_record(&sched->replay, &event);
    }
}

void dw_cpusched_record_input(dw_cpusched *sched, uint64_t input_hash)
{
    uint64_t time = dw_lamport_tick(&sched->clock);
    if (sched->replay.capacity > 0) {
        dw_replay_event event = {.type = DW_REPLAY_EXTERNAL_INPUT, .origin = DW_REPLAY_ORIGIN_SELF,
                                 .time = time, .hash = input_hash};
        (void)dw_replay_record(&sched->replay, &event);
    }
}

void dw_cpusched_stats_read(const dw_cpusched *sched, dw_cpusched_stats *stats)
{
    *stats = sched->counters;
    stats->held = dw_ordered_count(&sched->held);
    stats->in_flight = (uint32_t)(sched->order_tail - sched->order_head);
}

uint64_t dw_cpusched_executed_on(const dw_cpusched *sched, uint32_t core)
{
    DW_ASSERT(core < sched->workers);
    return atomic_load_explicit(&((dw_cpusched *)sched)->cores[core].executed, memory_order_relaxed);
}
