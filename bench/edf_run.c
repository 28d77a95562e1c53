/*
 * edf_run.c — see edf_run.h.
 *
 * Completion callbacks keep the score (they run on the driving thread, one at a time)
 * and resubmit the best-effort writes, so the device never runs dry of bulk work.
 */
#include "edf_run.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "io_run.h"
#include "stack.h"
#include "core/assert.h"
#include "core/error.h"
#include "core/random.h"
#include "core/text.h"

typedef struct run_context {
    dw_stack *stack;
    const dw_edf_run_options *options;
    dw_edf_run_result *result;
    dw_random random;               /* block offsets */
    uint64_t blocks;
    _Atomic bool running;           /* false: bulk writes are no longer resubmitted */
    unsigned char write_data[64 * 1024] __attribute__((aligned(64)));
    unsigned char read_scratch[64 * 1024] __attribute__((aligned(64)));
} run_context;

static uint64_t random_block(run_context *context)
{
    return dw_random_below(&context->random, context->blocks);
}

static void bulk_done(void *argument, const dw_sched_completion *completion);

static void submit_bulk(run_context *context)
{
    dw_sched *sched = &context->stack->sched;
    dw_sched_request request = {
        .op_class = DW_OP_WRITE,
        .priority = DW_PRIORITY_BEST_EFFORT,
        .deadline_ns = dw_clock_now_ns(context->stack->clock) + context->options->bulk_deadline_ns,
        .block = random_block(context),
        .block_count = 1,
        .write_data = context->write_data,
        .on_complete = bulk_done,
        .context = context,
    };
    (void)dw_sched_submit(sched, &request, NULL, NULL); /* refused only when slots run out */
}

static void bulk_done(void *argument, const dw_sched_completion *completion)
{
    run_context *context = argument;
    context->result->bulk_completed++;
    context->result->bulk_misses += completion->missed;
    dw_histogram_record(&context->result->bulk_latency, completion->completed_ns - completion->submitted_ns);
    if (atomic_load(&context->running)) {
        submit_bulk(context);
    }
}

static void critical_done(void *argument, const dw_sched_completion *completion)
{
    run_context *context = argument;
    context->result->critical_completed++;
    context->result->critical_misses += completion->missed;
    dw_histogram_record(&context->result->critical_latency,
                        completion->completed_ns - completion->submitted_ns);
}

static void submit_critical(run_context *context, uint64_t arrival_ns)
{
    dw_sched_request request = {
        .op_class = DW_OP_READ,
        .priority = DW_PRIORITY_CRITICAL,
        .deadline_ns = arrival_ns + context->options->critical_deadline_ns,
        .block = random_block(context),
        .block_count = 1,
        .read_data = context->read_scratch,
        .on_complete = critical_done,
        .context = context,
    };
    context->result->critical_issued++;
    if (dw_sched_submit(&context->stack->sched, &request, NULL, NULL) != DW_OK) {
        context->result->critical_refused++;
        context->result->critical_misses++;
    }
}

/* The sim run: this thread drives the scheduler; virtual time moves only in steps. */
static void drive_sim(run_context *context)
{
    const dw_edf_run_options *options = context->options;
    dw_sched *sched = &context->stack->sched;
    const dw_clock *clock = context->stack->clock;
    uint64_t start = dw_clock_now_ns(clock);
    uint64_t end = start + options->duration_ns;
    uint64_t next_critical = start;
    for (uint64_t now = start; now < end; now = dw_clock_now_ns(clock)) {
        while (next_critical <= now) {
            submit_critical(context, next_critical);
            next_critical += options->critical_period_ns;
        }
        uint64_t until = next_critical < end ? next_critical : end;
        (void)dw_sched_step(sched, until > now ? until - now : 0);
        if (dw_clock_now_ns(clock) == now && until > now) {
            /* Nothing in the device to move time forward: let it pass. */
            dw_sim_disk_advance_to(&context->stack->sim, until);
        }
    }
    atomic_store(&context->running, false);
    while (dw_sched_step(sched, DW_NS_PER_S)) {
    }
}

/* The file run: the I/O thread drives; this thread only submits on time. */
static int drive_file(run_context *context, dw_diag *diag)
{
    const dw_edf_run_options *options = context->options;
    int result = dw_sched_start(&context->stack->sched, diag);
    if (result != DW_OK) {
        return result;
    }
    dw_format(context->result->thread_note, sizeof context->result->thread_note, "%s",
              context->stack->sched.thread_note);
    const dw_clock *clock = context->stack->clock;
    uint64_t start = dw_clock_now_ns(clock);
    uint64_t end = start + options->duration_ns;
    for (uint32_t i = 0; i < options->bulk_outstanding; i++) {
        submit_bulk(context);
    }
    for (uint64_t next = start; next < end; next += options->critical_period_ns) {
        struct timespec wake = {(time_t)(next / DW_NS_PER_S), (long)(next % DW_NS_PER_S)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, NULL) != 0) {
        }
        submit_critical(context, next);
    }
    atomic_store(&context->running, false);
    (void)dw_sched_stop(&context->stack->sched, 10 * DW_NS_PER_S);
    context->stack->stopped = true;
    return DW_OK;
}

int dw_edf_run(const dw_edf_run_options *options, dw_sched_policy policy, dw_edf_run_result *result,
               dw_diag *diag)
{
    DW_ASSERT(options != NULL && result != NULL);
    memset(result, 0, sizeof *result);
    result->policy = policy;
    dw_histogram_reset(&result->critical_latency);
    dw_histogram_reset(&result->bulk_latency);
    dw_config config = *options->config;
    config.sched_policy = policy;
    config.miss_action = DW_MISS_LOG; /* count misses; nothing is failed or refused for them */
    if (!options->sim) {
        int filled = dw_bench_fill_file(options->path, options->size_bytes, diag);
        if (filled != DW_OK) {
            return filled;
        }
    }
    dw_stack_options stack_options = {
        .config = &config,
        .sim = options->sim,
        .path = options->path,
        .size_bytes = options->size_bytes,
        .seed = options->seed,
        .faults = {.latency_base_ns = options->sim_service_ns, .channels = options->sim_channels},
    };
    static run_context context; /* large buffers; one run at a time */
    memset(&context, 0, sizeof context);
    context.stack = dw_stack_open(&stack_options, diag);
    if (context.stack == NULL) {
        return diag != NULL ? diag->code : DW_EIO;
    }
    DW_ASSERT(config.block_size <= sizeof context.write_data);
    context.options = options;
    context.result = result;
    context.blocks = context.stack->io.size_bytes / config.block_size;
    dw_random_seed(&context.random, options->seed);
    atomic_init(&context.running, true);
    memset(context.write_data, 0x5a, sizeof context.write_data);
    uint64_t start = dw_clock_now_ns(context.stack->clock);
    int status = DW_OK;
    if (options->sim) {
        for (uint32_t i = 0; i < options->bulk_outstanding; i++) {
            submit_bulk(&context);
        }
        drive_sim(&context);
        result->trace_hash = context.stack->sim.state.trace_hash;
        result->critical_utilisation = (double)options->sim_service_ns /
                                       ((double)options->critical_period_ns * options->sim_channels);
    } else {
        status = drive_file(&context, diag);
    }
    result->elapsed_ns = dw_clock_now_ns(context.stack->clock) - start;
    result->bulk_per_second = (double)result->bulk_completed * 1e9 / (double)result->elapsed_ns;
    dw_stack_close(context.stack);
    return status;
}
