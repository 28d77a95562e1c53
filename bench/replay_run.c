/*
 * replay_run.c — see replay_run.h.
 *
 * The driving thread (this one) builds and enqueues a batch, releases the ordered tasks,
 * commits the batch and records the state; the workers only run work functions, which
 * read the data area and the seed and nothing the driving thread writes.
 */
#include "replay_run.h"

#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/checksum.h"
#include "core/error.h"
#include "core/text.h"
#include "mem/alloc_count.h"
#include "sched/cpusched.h"

#define EXTENT_BYTES 4096
#define DATA_BYTES (UINT64_C(256) * 1024)
#define SOURCES 4
/* Generous: a task takes a few microseconds; an overrun means the core was taken away. */
#define TASK_TICK_BUDGET (UINT64_C(1) << 22)
#define COMMIT_TIMEOUT_NS (60 * DW_NS_PER_S)

/* Domain separators, so that the draws for different choices are unrelated. */
enum {
    DRAW_TASK = 1,
    DRAW_GUARD_LIVE = 2,
    DRAW_GUARD_QUOTA = 3,
    DRAW_INPUT = 4,
    DRAW_DATA = 5,
};

typedef struct run_state {
    const unsigned char *data;      /* read by the workers */
    uint64_t seed;                  /* read by the workers */
    uint64_t state;                 /* the driving thread's, from here down */
    uint64_t *outputs;
    uint32_t tasks;
} run_state;

static uint64_t draw(uint64_t seed, uint64_t domain, uint64_t index)
{
    uint64_t words[2] = {domain, index};
    return dw_xxh3_64(words, sizeof words, seed);
}

bool dw_replay_workload_parse(const char *name, dw_replay_workload *workload)
{
    if (strcmp(name, "checksum") == 0) {
        *workload = DW_REPLAY_WORKLOAD_CHECKSUM;
        return true;
    }
    if (strcmp(name, "mixed") == 0) {
        *workload = DW_REPLAY_WORKLOAD_MIXED;
        return true;
    }
    return false;
}

const char *dw_replay_workload_name(dw_replay_workload workload)
{
    return workload == DW_REPLAY_WORKLOAD_MIXED ? "mixed" : "checksum";
}

/* The work: hash one extent of the data area, 1 to 4 rounds, seeded with the task id. */
static uint64_t checksum_extent(void *argument, uint64_t task_id)
{
    const run_state *run = argument;
    uint64_t choice = draw(run->seed, DRAW_TASK, task_id);
    uint64_t offset = (choice % (DATA_BYTES - EXTENT_BYTES + 1)) & ~(uint64_t)63;
    uint32_t rounds = 1 + (uint32_t)((choice >> 32) % 4);
    uint64_t hash = task_id;
    for (uint32_t round = 0; round < rounds; round++) {
        hash = dw_xxh3_64(run->data + offset, EXTENT_BYTES, hash);
    }
    return hash;
}

/* Guards: "the extent is live" and "the quota allows it", each refusing a few tasks. */
static bool extent_live(void *context, uint64_t task_id)
{
    const run_state *run = context;
    return draw(run->seed, DRAW_GUARD_LIVE, task_id) % 53 != 0;
}

static bool within_quota(void *context, uint64_t task_id)
{
    const run_state *run = context;
    return draw(run->seed, DRAW_GUARD_QUOTA, task_id) % 97 != 0;
}

static void on_commit(void *context, const dw_task_result *result)
{
    run_state *run = context;
    uint64_t words[3] = {run->state, result->task_id, result->output};
    run->state = dw_xxh3_64(words, sizeof words, 0);
    if (run->outputs != NULL && result->task_id < run->tasks) {
        run->outputs[result->task_id] = result->output;
    }
}

static dw_task_spec task_spec(run_state *run, uint64_t id, uint16_t live, uint16_t quota)
{
    uint64_t choice = draw(run->seed, DRAW_TASK, id);
    uint64_t kind = (choice >> 48) % 8;
    dw_task_spec spec = {
        .id = id,
        .tick_budget = TASK_TICK_BUDGET,
        .priority = kind == 0 ? DW_TASK_HIGH : kind <= 2 ? DW_TASK_LOW : DW_TASK_NORMAL,
        .work = checksum_extent,
        .argument = run,
    };
    if (id % 5 == 0) {
        spec.guards[spec.guard_count++] = live;
    }
    if (id % 11 == 0) {
        spec.guards[spec.guard_count++] = quota;
    }
    return spec;
}

/* Runs every core until none has work (without worker threads). */
static void step_all(dw_cpusched *sched)
{
    bool ran = true;
    while (ran) {
        ran = false;
        for (uint32_t core = 0; core < sched->workers; core++) {
            ran = dw_cpusched_run_cycle(sched, core, NULL) || ran;
        }
    }
}

typedef struct run_memory {
    dw_budget budget;
    dw_arena arena;
    dw_clock clock;
    dw_cpusched_plan plan;
    uint32_t data_piece;
    dw_guard_table guards;
    run_state run;
    dw_cpusched sched;
} run_memory;

/* Enqueues, releases and commits the tasks of one batch. */
static int run_batch(run_memory *memory, const dw_replay_run_options *options, uint32_t batch,
                     uint64_t source_clocks[SOURCES], dw_replay_run_result *result, dw_diag *diag)
{
    dw_cpusched *sched = &memory->sched;
    run_state *run = &memory->run;
    bool mixed = options->workload == DW_REPLAY_WORKLOAD_MIXED;
    if (mixed) {
        dw_cpusched_record_input(sched, draw(options->seed, DRAW_INPUT, batch));
    }
    uint64_t first = (uint64_t)batch * DW_REPLAY_RUN_BATCH;
    uint64_t end = first + DW_REPLAY_RUN_BATCH < options->tasks ? first + DW_REPLAY_RUN_BATCH
                                                                : options->tasks;
    for (uint64_t id = first; id < end; id++) {
        dw_task_spec spec = task_spec(run, id, 0, 1);
        dw_task task;
        int status = dw_task_build(&task, &spec, diag);
        if (status == DW_OK && mixed && id % 4 == 3) {
            /* Four sources, their clocks advancing at different rates: equal times across
             * sources are common, and the source id breaks the tie. */
            uint64_t choice = draw(options->seed, DRAW_TASK, id);
            uint32_t source = (uint32_t)(choice % SOURCES);
            source_clocks[source] += 1 + (choice >> 40) % 3;
            dw_stamp stamp = {.time = source_clocks[source], .core = source};
            status = dw_cpusched_enqueue_ordered(sched, &task, stamp, diag);
        } else if (status == DW_OK) {
            status = dw_cpusched_enqueue(sched, &task, diag);
        }
        if (status == DW_EPERM) {
            result->refused++; /* a guard said no: part of the workload */
            continue;
        }
        if (status != DW_OK) {
            return status;
        }
    }
    (void)dw_cpusched_release(sched);
    if (!options->threaded) {
        step_all(sched);
    }
    if (dw_cpusched_sync(sched, COMMIT_TIMEOUT_NS) != DW_OK) {
        return dw_diag_fail(diag, DW_EBUSY, "see whether the machine is overloaded",
                            "batch %u: the workers did not finish within %llu s", batch,
                            (unsigned long long)(COMMIT_TIMEOUT_NS / DW_NS_PER_S));
    }
    dw_cpusched_record_state(sched, run->state);
    return DW_OK;
}

static int open_run(run_memory *memory, const dw_replay_run_options *options, dw_diag *diag)
{
    if (options->clock != NULL) {
        memory->clock = *options->clock;
    } else {
        dw_clock_system_init(&memory->clock, 10 * DW_NS_PER_MS);
    }
    dw_budget_init(&memory->budget, options->memory_ceiling_bytes, 90);
    dw_arena_init(&memory->arena, &memory->budget);
    uint32_t batches = (options->tasks + DW_REPLAY_RUN_BATCH - 1) / DW_REPLAY_RUN_BATCH;
    dw_cpusched_config config = {
        .workers = options->workers,
        .task_slots = DW_REPLAY_RUN_BATCH,
        /* input, state per batch; enqueued and executed per task */
        .log_events = 2 * (uint64_t)options->tasks + 2 * (uint64_t)batches,
        .clock = &memory->clock,
        .guards = &memory->guards,
        .on_commit = on_commit,
        .commit_context = &memory->run,
        .delay_max_ns = options->delay_max_ns,
        .delay_seed = options->delay_seed,
    };
    int status = dw_cpusched_plan_in(&memory->arena, &config, &memory->plan, diag);
    if (status == DW_OK) {
        status = dw_arena_plan(&memory->arena, "workload data", DATA_BYTES, 64, &memory->data_piece, diag);
    }
    if (status == DW_OK) {
        status = dw_arena_allocate(&memory->arena, false, diag);
    }
    if (status != DW_OK) {
        return status;
    }
    unsigned char *data = dw_arena_piece_memory(&memory->arena, memory->data_piece);
    for (uint64_t at = 0; at < DATA_BYTES; at += 8) {
        uint64_t word = draw(options->seed, DRAW_DATA, at);
        memcpy(data + at, &word, sizeof word);
    }
    memory->run = (run_state){.data = data, .seed = options->seed, .outputs = options->outputs,
                              .tasks = options->tasks};
    dw_guard_table_init(&memory->guards);
    uint16_t live = 0;
    uint16_t quota = 0;
    status = dw_guard_register(&memory->guards, "extent-live", extent_live, &memory->run, &live, diag);
    if (status == DW_OK) {
        status = dw_guard_register(&memory->guards, "quota", within_quota, &memory->run, &quota, diag);
    }
    DW_ASSERT(status != DW_OK || (live == 0 && quota == 1)); /* task_spec names them so */
    if (status == DW_OK) {
        dw_cpusched_open(&memory->sched, &memory->arena, &memory->plan, &config);
    }
    return status;
}

int dw_replay_run(const dw_replay_run_options *options, dw_replay_run_result *result,
                  dw_diag *diag)
{
    memset(result, 0, sizeof *result);
    if (options->tasks == 0 || options->tasks > DW_REPLAY_RUN_TASKS_MAX) {
        return dw_diag_fail(diag, DW_EINVAL, NULL, "%u tasks: a run has 1 to %d",
                            options->tasks, DW_REPLAY_RUN_TASKS_MAX);
    }
    if (options->outputs != NULL) {
        memset(options->outputs, 0, (size_t)options->tasks * sizeof options->outputs[0]);
    }
    /* Set up before the run (allocating here is opening, not running): the scheduler's
     * cache-line-aligned members want an aligned home, not the stack. */
    size_t memory_bytes = (sizeof(run_memory) + _Alignof(run_memory) - 1) &
                          ~(size_t)(_Alignof(run_memory) - 1);
    run_memory *memory = aligned_alloc(_Alignof(run_memory), memory_bytes);
    if (memory == NULL) {
        return dw_diag_fail(diag, DW_ENOMEM, NULL, "cannot allocate %zu bytes for the run",
                            memory_bytes);
    }
    memset(memory, 0, sizeof *memory);
    int status = open_run(memory, options, diag);
    if (status != DW_OK) {
        dw_arena_close(&memory->arena);
        free(memory);
        return status;
    }
    dw_cpusched *sched = &memory->sched;
    result->workers = sched->workers;
    uint64_t started_ns = dw_clock_now_ns(&memory->clock);
    if (options->threaded) {
        status = dw_cpusched_start(sched, diag);
    }
    dw_alloc_counts before = dw_alloc_counts_now();
    uint64_t source_clocks[SOURCES] = {0};
    uint32_t batches = (options->tasks + DW_REPLAY_RUN_BATCH - 1) / DW_REPLAY_RUN_BATCH;
    for (uint32_t batch = 0; status == DW_OK && batch < batches; batch++) {
        status = run_batch(memory, options, batch, source_clocks, result, diag);
    }
    result->allocations = dw_alloc_counts_since(before);
    dw_cpusched_stop(sched);
    result->elapsed_ns = dw_clock_now_ns(&memory->clock) - started_ns;

    dw_cpusched_stats stats;
    dw_cpusched_stats_read(sched, &stats);
    const dw_replay_log *log = dw_cpusched_replay(sched);
    result->chain = log->chain;
    result->state = memory->run.state;
    result->events = log->total;
    result->enqueued = stats.enqueued;
    result->committed = stats.committed;
    result->over_budget = stats.over_budget;
    result->ticks_max = stats.ticks_max;
    if (status == DW_OK && options->save_path != NULL) {
        char label[DW_REPLAY_LABEL_MAX];
        dw_format(label, sizeof label, "%s seed=%llu tasks=%u workers=%u%s",
                  dw_replay_workload_name(options->workload), (unsigned long long)options->seed,
                  options->tasks, sched->workers, options->threaded ? "" : " stepped");
        dw_replay_set_label(&sched->replay, label);
        status = dw_replay_save(&sched->replay, options->save_path, diag);
    }
    dw_arena_close(&memory->arena);
    free(memory);
    return status;
}
