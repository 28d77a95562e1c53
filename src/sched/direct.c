/*
 * direct.c — the scheduler's direct path: a request carried out on the caller's thread.
 *
 * Why it exists: a strict commit on an idle device is one durable write. Handing it to
 * the I/O thread costs a queue push, a futex wake, the thread's io_uring_enter, the
 * kernel's completion, and a futex wake back: measured on this project's machine, more
 * than the write itself. DESIGN.md ("Scheduling model") allows the caller to submit and
 * reap itself under the same admission rules, and this is that: one system call, timed
 * and judged like any other request, counted in the same statistics.
 *
 * What it must never do: take a slot or touch a field the driving thread owns (it has
 * its own statistics under direct_lock), or hold more than direct_limit device slots, so
 * the I/O thread's queue keeps its share of the device.
 */
#include <string.h>

#include "core/assert.h"
#include "core/error.h"
#include "sched/direct_internal.h"

static dw_io_op io_op_of(dw_op_class op_class)
{
    switch (op_class) {
    case DW_OP_READ:
    case DW_OP_READ_BATCH: return DW_IO_READ;
    case DW_OP_WRITE:
    case DW_OP_WRITE_BATCH: return DW_IO_WRITE;
    case DW_OP_FLUSH: return DW_IO_SYNC;
    }
    DW_UNREACHABLE();
}

/* Admission: the same refusals as dw_sched_submit, and a bounded share of the device. */
static bool admit(dw_sched *sched, const dw_sched_request *request, uint64_t now)
{
    if (!dw_io_direct_available(sched->io) || atomic_load(&sched->stopping)) {
        return false;
    }
    if (request->priority == DW_PRIORITY_BEST_EFFORT && atomic_load(&sched->circuit_open)) {
        return false;
    }
    if (request->deadline_ns < now && sched->config.late_submission == DW_LATE_REFUSE) {
        return false;
    }
    uint32_t held = atomic_load(&sched->direct_in_flight);
    do {
        if (held >= sched->direct_limit) {
            return false;
        }
    } while (!atomic_compare_exchange_weak(&sched->direct_in_flight, &held, held + 1));
    return true;
}

/* Measures and judges a finished request, as finish() in edf.c does for queued ones. */
static void account(dw_sched *sched, const dw_sched_request *request, dw_sched_completion *completion)
{
    uint64_t latency = completion->completed_ns - completion->submitted_ns;
    bool late = completion->completed_ns > request->deadline_ns;
    bool over_budget = latency > sched->wcet[request->op_class].budget_ns;
    (void)pthread_mutex_lock(&sched->direct_lock);
    dw_sched_stats *counters = &sched->direct_counters;
    counters->direct++;
    counters->completed++;
    counters->by_class[request->op_class].completed++;
    counters->by_priority[request->priority].completed++;
    dw_histogram_record(&sched->direct_latency[request->op_class * DW_PRIORITY_COUNT + request->priority], latency);
    if (latency > sched->direct_service_max_ns[request->op_class]) {
        sched->direct_service_max_ns[request->op_class] = latency;
    }
    if (late || over_budget) {
        dw_miss_cause cause = late ? DW_MISS_CAUSE_LATE : DW_MISS_CAUSE_BUDGET;
        counters->misses++;
        counters->misses_by_cause[cause]++;
        counters->by_class[request->op_class].misses++;
        counters->by_priority[request->priority].misses++;
        completion->missed = true;
        completion->cause = cause;
    }
    (void)pthread_mutex_unlock(&sched->direct_lock);
    if (!completion->missed) {
        return;
    }
    /* The circuit breaker's window belongs to the driving thread; a direct miss is logged
     * (and, under "fail", fails the request) but does not open the circuit by itself. */
    if (sched->config.miss_action == DW_MISS_FAIL && completion->result == DW_OK) {
        completion->result = DW_EDEADLINE;
    } else if (sched->config.miss_action != DW_MISS_FAIL) {
        DW_LOG(sched->log, DW_LOG_WARN, "sched", "deadline missed", DW_LOG_STRING("path", "direct"),
               DW_LOG_STRING("class", dw_op_class_name(request->op_class)),
               DW_LOG_STRING("priority", dw_priority_name(request->priority)),
               DW_LOG_STRING("cause", dw_miss_cause_name(completion->cause)),
               DW_LOG_UINT("deadline_ns", request->deadline_ns), DW_LOG_UINT("latency_ns", latency),
               DW_LOG_UINT("budget_ns", sched->wcet[request->op_class].budget_ns));
    }
}

int dw_sched_direct(dw_sched *sched, const dw_sched_request *request, dw_sched_completion *completion,
                    dw_diag *diag)
{
    DW_ASSERT(sched != NULL && request != NULL && completion != NULL);
    DW_ASSERT(request->op_class < DW_OP_CLASS_COUNT && request->priority < DW_PRIORITY_COUNT);
    DW_ASSERT(request->on_complete == NULL); /* the caller is the one waiting */
    uint64_t now = dw_clock_now_ns(sched->clock);
    const void *buffer = request->write_data != NULL ? request->write_data : request->read_data;
    if (buffer != NULL && (uintptr_t)buffer % sched->io->block_size != 0) {
        return DW_EBUSY; /* O_DIRECT takes only aligned memory: the queue copies it into a pool buffer */
    }
    if (!admit(sched, request, now)) {
        return DW_EBUSY;
    }
    uint32_t block_size = sched->io->block_size;
    dw_io_request io_request = {
        .op = io_op_of(request->op_class),
        .length = request->op_class == DW_OP_FLUSH ? 0 : request->block_count * block_size,
        .offset = request->op_class == DW_OP_FLUSH ? 0 : request->block * block_size,
        .buffer = request->write_data != NULL ? (void *)(uintptr_t)request->write_data : request->read_data,
        .durable = request->durable,
    };
    dw_io_completion io_completion;
    int result = dw_io_direct(sched->io, &io_request, &io_completion, diag);
    atomic_fetch_sub(&sched->direct_in_flight, 1);
    if (result != DW_OK) {
        return result; /* malformed: nothing was done */
    }
    uint64_t completed = dw_clock_now_ns(sched->clock);
    *completion = (dw_sched_completion){
        .op_class = request->op_class,
        .priority = request->priority,
        .result = io_completion.result,
        .deadline_ns = request->deadline_ns,
        .submitted_ns = now,
        .dispatched_ns = now,
        .completed_ns = completed,
        .context = request->context,
    };
    account(sched, request, completion);
    return DW_OK;
}

void dw_sched_direct_merge(const dw_sched *sched, dw_histogram *into, int op_class, int priority)
{
    dw_sched *locked = (dw_sched *)(uintptr_t)sched; /* the lock is not part of the value */
    (void)pthread_mutex_lock(&locked->direct_lock);
    for (int c = 0; c < DW_OP_CLASS_COUNT; c++) {
        for (int p = 0; p < DW_PRIORITY_COUNT; p++) {
            if ((op_class < 0 || c == op_class) && (priority < 0 || p == priority)) {
                dw_histogram_merge(into, &sched->direct_latency[c * DW_PRIORITY_COUNT + p]);
            }
        }
    }
    (void)pthread_mutex_unlock(&locked->direct_lock);
}

void dw_sched_direct_add_counters(const dw_sched *sched, dw_sched_stats *stats)
{
    dw_sched *locked = (dw_sched *)(uintptr_t)sched;
    (void)pthread_mutex_lock(&locked->direct_lock);
    const dw_sched_stats *direct = &sched->direct_counters;
    stats->direct += direct->direct;
    stats->submitted += direct->direct;
    stats->completed += direct->completed;
    stats->misses += direct->misses;
    for (int cause = 0; cause < DW_MISS_CAUSE_COUNT; cause++) {
        stats->misses_by_cause[cause] += direct->misses_by_cause[cause];
    }
    for (int c = 0; c < DW_OP_CLASS_COUNT; c++) {
        stats->by_class[c].completed += direct->by_class[c].completed;
        stats->by_class[c].misses += direct->by_class[c].misses;
        if (sched->direct_service_max_ns[c] > stats->by_class[c].service_max_ns) {
            stats->by_class[c].service_max_ns = sched->direct_service_max_ns[c];
        }
    }
    for (int p = 0; p < DW_PRIORITY_COUNT; p++) {
        stats->by_priority[p].completed += direct->by_priority[p].completed;
        stats->by_priority[p].misses += direct->by_priority[p].misses;
    }
    (void)pthread_mutex_unlock(&locked->direct_lock);
}
