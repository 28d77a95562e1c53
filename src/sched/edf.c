/*
 * edf.c — the deadline scheduler. See edf.h; the latency model is in docs/DETERMINISM.md.
 *
 * Life of a request slot:
 *   FREE -> SUBMITTED (in the submission queue) -> WAITING (in its class's heap)
 *        -> DISPATCHED (its I/Os in the device) -> DONE -> FREE (collected, or at once
 *   after a callback). A slot can also go from WAITING straight to DONE: cancelled.
 * Submitters touch only FREE->SUBMITTED and DONE->FREE; everything between belongs to
 * the driving thread.
 *
 * Why not a library: the heaps, the queue and the histograms must live in arena memory
 * sized at open, and dispatch must never allocate; the general-purpose priority queues
 * and event loops in Debian allocate per element.
 */
#include "sched/edf.h"
#include "sched/direct_internal.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "core/assert.h"
#include "core/bits.h"
#include "core/error.h"
#include "core/futex.h"
#include "core/text.h"

enum slot_state { SLOT_FREE = 0, SLOT_SUBMITTED, SLOT_WAITING, SLOT_DISPATCHED, SLOT_DONE };
enum sleep_state { SLEEP_NONE = 0, SLEEP_IDLE, SLEEP_REAP };

/* How long the I/O thread sleeps when idle before it looks again (circuit upkeep). */
#define THREAD_IDLE_NS (100 * DW_NS_PER_MS)
/* Completions settled per reap. */
#define REAP_BATCH 64

typedef struct dw_sched_slot {
    _Atomic uint32_t state;                 /* futex word for waiters */
    _Atomic uint32_t waiters;               /* threads in dw_sched_wait: only then a wake */
    _Atomic uint32_t generation;            /* bumped at every release: tickets are single-use */
    dw_sched_request request;
    uint64_t id;
    uint64_t submitted_ns;
    uint64_t dispatched_ns;
    uint32_t pending_ios;
    int result;
    bool waited_for_buffer;
    unsigned char *buffers[DW_SCHED_BATCH_MAX];
    dw_sched_completion completion;
} dw_sched_slot;

/* ------------------------------------------------------------------------------------
 * Names and the budget table
 * ---------------------------------------------------------------------------------- */

const char *dw_priority_name(dw_priority priority)
{
    static const char *const names[] = {"critical", "high", "normal", "best-effort"};
    DW_ASSERT((size_t)priority < DW_ARRAY_COUNT(names));
    return names[priority];
}

const char *dw_op_class_name(dw_op_class op_class)
{
    static const char *const names[] = {"read block", "write block", "read batch", "write batch",
                                        "flush"};
    DW_ASSERT((size_t)op_class < DW_ARRAY_COUNT(names));
    return names[op_class];
}

const char *dw_miss_cause_name(dw_miss_cause cause)
{
    static const char *const names[] = {"late", "budget overrun", "no buffer", "expired"};
    DW_ASSERT((size_t)cause < DW_ARRAY_COUNT(names));
    return names[cause];
}

void dw_wcet_table(const dw_config *config, dw_wcet_entry table[DW_OP_CLASS_COUNT])
{
    const dw_wcet_entry entries[DW_OP_CLASS_COUNT] = {
        {DW_OP_READ, "read block", config->wcet_read_ns,
         "one 4 KiB-class device read plus the blocking of at most the device slots less "
         "important classes may hold; a deadline tighter than this cannot be promised",
         "DW-WCET-01 (deterministic I/O: single-block read)"},
        {DW_OP_WRITE, "write block", config->wcet_write_ns,
         "as for a read: one device write and the bounded blocking ahead of it",
         "DW-WCET-02 (deterministic I/O: single-block write)"},
        {DW_OP_READ_BATCH, "read batch", config->wcet_batch_ns,
         "up to 16 block reads submitted together and served by the device's channels",
         "DW-WCET-03 (deterministic I/O: batched reads)"},
        {DW_OP_WRITE_BATCH, "write batch", config->wcet_batch_ns,
         "up to 16 block writes submitted together", "DW-WCET-04 (deterministic I/O: batched writes)"},
        {DW_OP_FLUSH, "flush", config->wcet_flush_ns,
         "one data sync: the device writes back its volatile cache; bounded by the data "
         "written since the last sync, itself bounded by the queue depth",
         "DW-WCET-05 (durability: flush)"},
    };
    memcpy(table, entries, sizeof entries);
}

/* ------------------------------------------------------------------------------------
 * Memory
 * ---------------------------------------------------------------------------------- */

int dw_sched_plan_in(dw_arena *arena, const dw_config *config, dw_sched_plan *plan, dw_diag *diag)
{
    plan->request_slots = config->request_slots;
    plan->queue_capacity = dw_power_of_two_at_least(config->request_slots);
    plan->circuit_entries = config->circuit_misses;
    uint64_t slots = (uint64_t)plan->request_slots * (sizeof(dw_sched_slot) + sizeof(uint32_t));
    uint64_t queues = dw_mpmc_memory_bytes(plan->queue_capacity) +
                      (uint64_t)DW_PRIORITY_COUNT * plan->request_slots * sizeof(uint32_t);
    uint64_t statistics = 2 * (uint64_t)DW_OP_CLASS_COUNT * DW_PRIORITY_COUNT * sizeof(dw_histogram) +
                          DW_SCHED_RECENT_MAX * sizeof(uint64_t) +
                          (uint64_t)plan->circuit_entries * sizeof(uint64_t);
    int result = dw_arena_plan(arena, "scheduler slots", slots, 64, &plan->slots_piece, diag);
    if (result == DW_OK) {
        result = dw_arena_plan(arena, "scheduler queues", queues, 64, &plan->queues_piece, diag);
    }
    if (result == DW_OK) {
        result = dw_arena_plan(arena, "scheduler statistics", statistics, 64,
                               &plan->statistics_piece, diag);
    }
    return result;
}

/* Reserves: a class may take a request slot (or a device slot) only while more than the
 * shares of all more important classes stay free. Critical work reserves an eighth of
 * the slots and a quarter of the device's; high and normal a sixteenth and an eighth. */
static void compute_reserves(dw_sched *sched)
{
    uint32_t slots = sched->config.request_slots;
    uint32_t depth = sched->config.queue_depth;
    const uint32_t slot_share[DW_PRIORITY_COUNT] = {slots / 8, slots / 16, slots / 16, 0};
    const uint32_t device_share[DW_PRIORITY_COUNT] = {depth / 4, depth / 8, depth / 8, 0};
    uint32_t slot_sum = 0;
    uint32_t device_sum = 0;
    for (int priority = 0; priority < DW_PRIORITY_COUNT; priority++) {
        sched->slot_reserve[priority] = slot_sum;
        sched->device_reserve[priority] = device_sum;
        slot_sum += slot_share[priority];
        device_sum += device_share[priority];
    }
    DW_ASSERT(sched->slot_reserve[DW_PRIORITY_BEST_EFFORT] < slots);
    DW_ASSERT(sched->device_reserve[DW_PRIORITY_BEST_EFFORT] < depth || depth == 1);
}

int dw_sched_open(dw_sched *sched, const dw_arena *arena, const dw_sched_plan *plan,
                  const dw_config *config, dw_io *io, dw_pool *pool, const dw_clock *clock,
                  dw_log *log, dw_diag *diag)
{
    DW_ASSERT(sched != NULL && io != NULL && pool != NULL && clock != NULL);
    DW_ASSERT(plan->request_slots == config->request_slots);
    if (pool->buffer_size != io->block_size) {
        return dw_diag_fail(diag, DW_EINVAL, "open the pool with buffers of vde.block_size",
                            "the pool's buffers (%u bytes) are not the data file's blocks (%u bytes)",
                            pool->buffer_size, io->block_size);
    }
    memset(sched, 0, sizeof *sched);
    sched->config = *config;
    sched->io = io;
    sched->pool = pool;
    sched->clock = clock;
    sched->log = log;
    dw_wcet_table(config, sched->wcet);
    compute_reserves(sched);

    unsigned char *slots_memory = dw_arena_piece_memory(arena, plan->slots_piece);
    sched->slots = (dw_sched_slot *)(void *)slots_memory;
    _Atomic uint32_t *links =
        (_Atomic uint32_t *)(void *)(slots_memory + (size_t)plan->request_slots * sizeof(dw_sched_slot));
    for (uint32_t i = 0; i < plan->request_slots; i++) {
        memset(&sched->slots[i], 0, sizeof sched->slots[i]);
        atomic_init(&sched->slots[i].state, SLOT_FREE);
        atomic_init(&sched->slots[i].waiters, 0);
        atomic_init(&sched->slots[i].generation, 1);
    }
    dw_index_stack_init(&sched->free_slots, links, plan->request_slots, true);
    atomic_init(&sched->slots_free, plan->request_slots);
    atomic_init(&sched->next_id, 1);

    unsigned char *queues_memory = dw_arena_piece_memory(arena, plan->queues_piece);
    dw_mpmc_init(&sched->submissions, queues_memory, plan->queue_capacity);
    uint32_t *heap_memory = (uint32_t *)(void *)(queues_memory + dw_mpmc_memory_bytes(plan->queue_capacity));
    for (int priority = 0; priority < DW_PRIORITY_COUNT; priority++) {
        sched->heaps[priority] = heap_memory + (size_t)priority * plan->request_slots;
    }
    atomic_init(&sched->submissions_pending, 0);
    atomic_init(&sched->doorbell, 0);
    atomic_init(&sched->sleep_state, SLEEP_NONE);
    atomic_init(&sched->stopping, false);
    atomic_init(&sched->submitters_inside, 0);
    atomic_init(&sched->submitted_total, 0);
    atomic_init(&sched->refused_total, 0);
    atomic_init(&sched->circuit_open, false);

    unsigned char *statistics_memory = dw_arena_piece_memory(arena, plan->statistics_piece);
    sched->latency = (dw_histogram *)(void *)statistics_memory;
    sched->direct_latency = sched->latency + DW_OP_CLASS_COUNT * DW_PRIORITY_COUNT;
    for (int i = 0; i < DW_OP_CLASS_COUNT * DW_PRIORITY_COUNT; i++) {
        dw_histogram_reset(&sched->latency[i]);
        dw_histogram_reset(&sched->direct_latency[i]);
    }
    statistics_memory += (size_t)DW_OP_CLASS_COUNT * DW_PRIORITY_COUNT * sizeof(dw_histogram);
    atomic_init(&sched->direct_in_flight, 0);
    sched->direct_limit = config->queue_depth / 2 > 0 ? config->queue_depth / 2 : 1;
    (void)pthread_mutex_init(&sched->direct_lock, NULL);
    sched->recent_latency_ns = (uint64_t *)(void *)(statistics_memory +
                                                    (size_t)DW_OP_CLASS_COUNT * DW_PRIORITY_COUNT *
                                                        sizeof(dw_histogram));
    sched->circuit_misses_ns = sched->recent_latency_ns + DW_SCHED_RECENT_MAX;
    return DW_OK;
}

/* ------------------------------------------------------------------------------------
 * Submitting (any thread)
 * ---------------------------------------------------------------------------------- */

static int check_request(const dw_sched *sched, const dw_sched_request *request, dw_diag *diag)
{
    const char *problem = NULL;
    uint64_t blocks = sched->io->size_bytes / sched->io->block_size;
    bool batch = request->op_class == DW_OP_READ_BATCH || request->op_class == DW_OP_WRITE_BATCH;
    bool reads = request->op_class == DW_OP_READ || request->op_class == DW_OP_READ_BATCH;
    uint32_t device_room = sched->config.queue_depth -
                           (sched->config.sched_policy == DW_SCHED_EDF
                                ? sched->device_reserve[request->priority < DW_PRIORITY_COUNT ? request->priority : 0]
                                : 0);
    if ((unsigned)request->op_class >= DW_OP_CLASS_COUNT) {
        problem = "its operation class is unknown";
    } else if ((unsigned)request->priority >= DW_PRIORITY_COUNT) {
        problem = "its priority is unknown";
    } else if (request->op_class == DW_OP_FLUSH) {
        problem = NULL;
    } else if (batch ? request->block_count < 2 || request->block_count > DW_SCHED_BATCH_MAX
                     : request->block_count != 1) {
        problem = "a single-block request has 1 block, a batch 2 to 16";
    } else if (request->block >= blocks || request->block_count > blocks - request->block) {
        problem = "it reaches past the end of the data file";
    } else if (reads ? request->read_data == NULL : request->write_data == NULL) {
        problem = "it has no data to write or room to read into";
    } else if (request->block_count > device_room) {
        problem = "the batch needs more device slots than its class may use (io.queue_depth)";
    }
    if (problem == NULL) {
        return DW_OK;
    }
    return dw_diag_fail(diag, DW_EINVAL, "this is a bug in the caller",
                        "scheduler request (class %d, priority %d, block %llu, %u blocks) is "
                        "refused: %s",
                        (int)request->op_class, (int)request->priority,
                        (unsigned long long)request->block, request->block_count, problem);
}

/* Tells the driving thread there is work, however it sleeps. */
static void notify(dw_sched *sched)
{
    atomic_fetch_add(&sched->doorbell, 1);
    uint32_t sleeping = atomic_load(&sched->sleep_state);
    if (sleeping == SLEEP_IDLE) {
        dw_futex_wake(&sched->doorbell, INT32_MAX);
    } else if (sleeping == SLEEP_REAP) {
        dw_io_wake(sched->io);
    }
}

/* Takes a request slot if the class may: more than the reserve of the more important
 * classes must stay free. */
static bool admit(dw_sched *sched, dw_priority priority)
{
    uint32_t free_slots = atomic_load(&sched->slots_free);
    do {
        if (free_slots <= sched->slot_reserve[priority]) {
            return false;
        }
    } while (!atomic_compare_exchange_weak(&sched->slots_free, &free_slots, free_slots - 1));
    return true;
}

/* The refusals that depend on state rather than on the request itself; on success a
 * request slot has been counted out for it. */
static int admit_request(dw_sched *sched, const dw_sched_request *request, dw_diag *diag)
{
    if (atomic_load(&sched->stopping)) {
        return dw_diag_fail(diag, DW_EBUSY, NULL, "the scheduler is stopping");
    }
    if (request->priority == DW_PRIORITY_BEST_EFFORT && atomic_load(&sched->circuit_open)) {
        return dw_diag_fail(diag, DW_EBUSY, "retry once latency has recovered",
                            "best-effort work is refused while the circuit is open");
    }
    uint64_t now = dw_clock_now_ns(sched->clock);
    if (request->deadline_ns < now && sched->config.late_submission == DW_LATE_REFUSE) {
        return dw_diag_fail(diag, DW_EDEADLINE, "submit earlier, or set sched.late_submission = run",
                            "the request's deadline passed %llu ns before it was submitted",
                            (unsigned long long)(now - request->deadline_ns));
    }
    if (!admit(sched, request->priority)) {
        return dw_diag_fail(diag, DW_EBUSY, "retry when requests complete, or raise sched.request_slots",
                            "no request slot is free for %s work",
                            dw_priority_name(request->priority));
    }
    return DW_OK;
}

/* Queues one request without telling the driving thread: dw_sched_submit tells it at
 * once, dw_sched_submit_batch once for the whole batch. */
static int enqueue(dw_sched *sched, const dw_sched_request *request, dw_sched_ticket *ticket, dw_diag *diag)
{
    DW_ASSERT(sched != NULL && request != NULL);
    /* Counted inside from before the stopping check until after the push, so that a
     * stopping scheduler knows when no submission can still arrive. */
    atomic_fetch_add(&sched->submitters_inside, 1);
    int result = check_request(sched, request, diag);
    if (result == DW_OK) {
        result = admit_request(sched, request, diag);
    }
    if (result != DW_OK) {
        atomic_fetch_add(&sched->refused_total, 1);
        atomic_fetch_sub(&sched->submitters_inside, 1);
        return result;
    }
    uint32_t index = dw_index_stack_pop(&sched->free_slots);
    DW_ASSERT(index != DW_INDEX_NONE); /* admit() counted it free */
    dw_sched_slot *slot = &sched->slots[index];
    DW_ASSERT(atomic_load(&slot->state) == SLOT_FREE);
    slot->request = *request;
    slot->id = atomic_fetch_add(&sched->next_id, 1);
    slot->submitted_ns = dw_clock_now_ns(sched->clock);
    slot->dispatched_ns = 0;
    slot->result = DW_OK;
    slot->waited_for_buffer = false;
    slot->pending_ios = 0;
    atomic_store(&slot->state, SLOT_SUBMITTED);
    if (ticket != NULL) {
        ticket->slot = index;
        ticket->generation = atomic_load(&slot->generation);
    }
    bool queued = dw_mpmc_push(&sched->submissions, index);
    DW_ASSERT(queued); /* the queue holds at least every slot */
    atomic_fetch_add(&sched->submissions_pending, 1);
    atomic_fetch_add(&sched->submitted_total, 1);
    atomic_fetch_sub(&sched->submitters_inside, 1);
    return DW_OK;
}

int dw_sched_submit(dw_sched *sched, const dw_sched_request *request, dw_sched_ticket *ticket,
                    dw_diag *diag)
{
    int result = enqueue(sched, request, ticket, diag);
    if (result == DW_OK) {
        notify(sched);
    }
    return result;
}

int dw_sched_submit_batch(dw_sched *sched, const dw_sched_request *requests, uint32_t count,
                          dw_sched_ticket *tickets, uint32_t *accepted, dw_diag *diag)
{
    DW_ASSERT(accepted != NULL && (requests != NULL || count == 0));
    int result = DW_OK;
    uint32_t taken = 0;
    while (taken < count && result == DW_OK) {
        result = enqueue(sched, &requests[taken], tickets != NULL ? &tickets[taken] : NULL, diag);
        taken += result == DW_OK ? 1 : 0;
    }
    /* One wake-up of the driving thread for the batch: it drains the queue whole. */
    if (taken > 0) {
        notify(sched);
    }
    *accepted = taken;
    return result;
}

static void release_slot(dw_sched *sched, uint32_t index)
{
    dw_sched_slot *slot = &sched->slots[index];
    atomic_fetch_add(&slot->generation, 1);
    atomic_store(&slot->state, SLOT_FREE);
    dw_index_stack_push(&sched->free_slots, index);
    atomic_fetch_add(&sched->slots_free, 1);
}

bool dw_sched_poll(dw_sched *sched, dw_sched_ticket ticket, dw_sched_completion *completion)
{
    DW_ASSERT(ticket.slot < sched->config.request_slots);
    dw_sched_slot *slot = &sched->slots[ticket.slot];
    DW_ASSERT(atomic_load(&slot->generation) == ticket.generation); /* a ticket is used once */
    if (atomic_load_explicit(&slot->state, memory_order_acquire) != SLOT_DONE) {
        return false;
    }
    *completion = slot->completion;
    release_slot(sched, ticket.slot);
    return true;
}

int dw_sched_wait(dw_sched *sched, dw_sched_ticket ticket, uint64_t timeout_ns,
                  dw_sched_completion *completion)
{
    dw_sched_slot *slot = &sched->slots[ticket.slot];
    uint64_t start = dw_clock_now_ns(sched->clock);
    for (;;) {
        if (dw_sched_poll(sched, ticket, completion)) {
            return DW_OK;
        }
        uint64_t waited = dw_clock_now_ns(sched->clock) - start;
        if (waited >= timeout_ns) {
            return DW_EBUSY;
        }
        /* Counted as a waiter before the last look at the state, and deliver() stores
         * the state before it looks at the count (both sequentially consistent): either
         * this look sees SLOT_DONE, or deliver() sees the waiter and wakes it. */
        atomic_fetch_add(&slot->waiters, 1);
        uint32_t state = atomic_load(&slot->state);
        if (state != SLOT_DONE) {
            uint64_t left = timeout_ns - waited;
            /* Slices of at most 1 ms: the clock may be virtual. */
            dw_futex_wait(&slot->state, state, left < DW_NS_PER_MS ? left : DW_NS_PER_MS);
        }
        atomic_fetch_sub(&slot->waiters, 1);
    }
}

/* ------------------------------------------------------------------------------------
 * The waiting heaps (driving thread)
 * ---------------------------------------------------------------------------------- */

/* True when slot a goes before slot b: EDF by deadline then arrival; FIFO by arrival. */
static bool goes_before(const dw_sched *sched, uint32_t a, uint32_t b)
{
    const dw_sched_slot *x = &sched->slots[a];
    const dw_sched_slot *y = &sched->slots[b];
    if (sched->config.sched_policy == DW_SCHED_EDF && x->request.deadline_ns != y->request.deadline_ns) {
        return x->request.deadline_ns < y->request.deadline_ns;
    }
    return x->id < y->id;
}

static void heap_push(dw_sched *sched, dw_priority priority, uint32_t index)
{
    uint32_t *heap = sched->heaps[priority];
    uint32_t position = sched->heap_sizes[priority]++;
    DW_ASSERT(position < sched->config.request_slots);
    heap[position] = index;
    while (position > 0) {
        uint32_t parent = (position - 1) / 2;
        if (!goes_before(sched, heap[position], heap[parent])) {
            break;
        }
        uint32_t swap = heap[parent];
        heap[parent] = heap[position];
        heap[position] = swap;
        position = parent;
    }
}

static uint32_t heap_pop(dw_sched *sched, dw_priority priority)
{
    uint32_t *heap = sched->heaps[priority];
    DW_ASSERT(sched->heap_sizes[priority] > 0);
    uint32_t top = heap[0];
    uint32_t size = --sched->heap_sizes[priority];
    heap[0] = heap[size];
    uint32_t position = 0;
    for (;;) {
        uint32_t smallest = position;
        uint32_t left = 2 * position + 1;
        uint32_t right = left + 1;
        if (left < size && goes_before(sched, heap[left], heap[smallest])) {
            smallest = left;
        }
        if (right < size && goes_before(sched, heap[right], heap[smallest])) {
            smallest = right;
        }
        if (smallest == position) {
            break;
        }
        uint32_t swap = heap[smallest];
        heap[smallest] = heap[position];
        heap[position] = swap;
        position = smallest;
    }
    return top;
}

static void drain_submissions(dw_sched *sched)
{
    uint64_t index = 0;
    while (dw_mpmc_pop(&sched->submissions, &index)) {
        atomic_fetch_sub(&sched->submissions_pending, 1);
        dw_sched_slot *slot = &sched->slots[index];
        DW_ASSERT(atomic_load(&slot->state) == SLOT_SUBMITTED);
        atomic_store(&slot->state, SLOT_WAITING);
        heap_push(sched, slot->request.priority, (uint32_t)index);
        sched->waiting++;
    }
}

/* ------------------------------------------------------------------------------------
 * Completion, misses, the circuit breaker (driving thread)
 * ---------------------------------------------------------------------------------- */

static void circuit_record_miss(dw_sched *sched, uint64_t now)
{
    uint32_t capacity = sched->config.circuit_misses;
    sched->circuit_misses_ns[(sched->circuit_head + sched->circuit_count) % capacity] = now;
    if (sched->circuit_count < capacity) {
        sched->circuit_count++;
    } else {
        sched->circuit_head = (sched->circuit_head + 1) % capacity;
    }
    uint64_t oldest = sched->circuit_misses_ns[sched->circuit_head];
    if (!atomic_load(&sched->circuit_open) && sched->circuit_count == capacity &&
        now - oldest <= sched->config.circuit_window_ns) {
        atomic_store(&sched->circuit_open, true);
        sched->circuit_good_since_ns = now;
        sched->counters.circuit_openings++;
        DW_LOG(sched->log, DW_LOG_WARN, "sched", "circuit open: refusing best-effort work",
               DW_LOG_UINT("misses", capacity), DW_LOG_UINT("window_ns", now - oldest));
    }
}

/* While open: any latency above the threshold restarts the quiet window; a whole quiet
 * window closes the circuit. Called at each completion and each step. */
static void circuit_upkeep(dw_sched *sched, uint64_t now, uint64_t latency_ns, bool measured)
{
    if (!atomic_load(&sched->circuit_open)) {
        return;
    }
    if (measured && latency_ns > sched->config.circuit_latency_ns) {
        sched->circuit_good_since_ns = now;
    }
    if (now - sched->circuit_good_since_ns >= sched->config.circuit_window_ns) {
        atomic_store(&sched->circuit_open, false);
        sched->circuit_count = 0;
        sched->circuit_head = 0;
        sched->counters.circuit_closings++;
        DW_LOG(sched->log, DW_LOG_INFO, "sched", "circuit closed: latency recovered",
               DW_LOG_UINT("quiet_ns", now - sched->circuit_good_since_ns));
    }
}

/* Hands the outcome over: to the callback (the slot freed first, so that a caller the
 * callback lets go finds it free), or to a waiter, woken only if one sleeps: a system
 * call per completion nobody waits for was most of a checkpoint's futex calls. */
static void deliver(dw_sched *sched, uint32_t index)
{
    dw_sched_slot *slot = &sched->slots[index];
    if (slot->request.on_complete != NULL) {
        dw_sched_callback callback = slot->request.on_complete;
        void *context = slot->request.context;
        dw_sched_completion completion = slot->completion;
        release_slot(sched, index);
        callback(context, &completion);
        return;
    }
    atomic_store(&slot->state, SLOT_DONE);
    if (atomic_load(&slot->waiters) > 0) {
        dw_futex_wake(&slot->state, INT32_MAX);
    }
}

static void fill_completion(dw_sched_slot *slot, uint64_t now)
{
    slot->completion = (dw_sched_completion){
        .id = slot->id,
        .op_class = slot->request.op_class,
        .priority = slot->request.priority,
        .result = slot->result,
        .deadline_ns = slot->request.deadline_ns,
        .submitted_ns = slot->submitted_ns,
        .dispatched_ns = slot->dispatched_ns,
        .completed_ns = now,
        .context = slot->request.context,
        .block = slot->request.block,
        .block_count = slot->request.block_count,
    };
}

static void count_miss(dw_sched *sched, dw_sched_slot *slot, dw_miss_cause cause)
{
    slot->completion.missed = true;
    slot->completion.cause = cause;
    sched->counters.misses++;
    sched->counters.misses_by_cause[cause]++;
    sched->counters.by_class[slot->request.op_class].misses++;
    sched->counters.by_priority[slot->request.priority].misses++;
}

/* A request that ran: measure it, judge it against deadline and budget, act. */
static void finish(dw_sched *sched, uint32_t index)
{
    dw_sched_slot *slot = &sched->slots[index];
    uint64_t now = dw_clock_now_ns(sched->clock);
    fill_completion(slot, now);
    uint64_t latency = now - slot->submitted_ns;
    uint64_t service = now - slot->dispatched_ns;
    dw_op_class op_class = slot->request.op_class;
    dw_priority priority = slot->request.priority;
    sched->counters.completed++;
    sched->counters.by_class[op_class].completed++;
    sched->counters.by_priority[priority].completed++;
    dw_histogram_record(&sched->latency[op_class * DW_PRIORITY_COUNT + priority], latency);
    sched->service_max_ns[op_class] = service > sched->service_max_ns[op_class] ? service
                                                                               : sched->service_max_ns[op_class];
    sched->recent_latency_ns[sched->recent_count++ % DW_SCHED_RECENT_MAX] = latency;

    bool late = now > slot->request.deadline_ns;
    bool over_budget = service > sched->wcet[op_class].budget_ns;
    if (late || over_budget) {
        dw_miss_cause cause = !late ? DW_MISS_CAUSE_BUDGET
                                    : slot->waited_for_buffer ? DW_MISS_CAUSE_NO_BUFFER : DW_MISS_CAUSE_LATE;
        count_miss(sched, slot, cause);
        switch (sched->config.miss_action) {
        case DW_MISS_LOG:
            DW_LOG(sched->log, DW_LOG_WARN, "sched", "deadline missed", DW_LOG_UINT("id", slot->id),
                   DW_LOG_STRING("class", dw_op_class_name(op_class)),
                   DW_LOG_STRING("priority", dw_priority_name(priority)),
                   DW_LOG_STRING("cause", dw_miss_cause_name(cause)),
                   DW_LOG_UINT("deadline_ns", slot->request.deadline_ns), DW_LOG_UINT("actual_ns", now),
                   DW_LOG_UINT("latency_ns", latency), DW_LOG_UINT("service_ns", service),
                   DW_LOG_UINT("budget_ns", sched->wcet[op_class].budget_ns));
            break;
        case DW_MISS_FAIL:
            if (slot->completion.result == DW_OK) {
                slot->completion.result = DW_EDEADLINE;
            }
            break;
        case DW_MISS_CIRCUIT_BREAK:
            circuit_record_miss(sched, now);
            break;
        default:
            DW_UNREACHABLE();
        }
    }
    circuit_upkeep(sched, now, latency, true);
    deliver(sched, index);
}

/* A request that never ran: expired (miss action "fail") or cancelled at shutdown. */
static void cancel(dw_sched *sched, uint32_t index, int result, bool expired)
{
    dw_sched_slot *slot = &sched->slots[index];
    slot->result = result;
    fill_completion(slot, dw_clock_now_ns(sched->clock));
    sched->counters.cancelled++;
    if (expired) {
        count_miss(sched, slot, DW_MISS_CAUSE_EXPIRED);
    }
    deliver(sched, index);
}

/* ------------------------------------------------------------------------------------
 * Dispatch (driving thread)
 * ---------------------------------------------------------------------------------- */

static uint32_t device_slots_needed(const dw_sched_request *request)
{
    return request->op_class == DW_OP_FLUSH ? 1 : request->block_count;
}

/* Whether class `priority` may put `needed` more I/Os into the device now. */
static bool device_admits(const dw_sched *sched, dw_priority priority, uint32_t needed)
{
    uint32_t reserve = sched->config.sched_policy == DW_SCHED_EDF ? sched->device_reserve[priority] : 0;
    return sched->device_in_flight + needed + reserve <= sched->config.queue_depth;
}

/* The class whose waiting top goes first and may enter the device; -1 for none. */
static int pick_class(const dw_sched *sched)
{
    int best = -1;
    for (int priority = 0; priority < DW_PRIORITY_COUNT; priority++) {
        if (sched->heap_sizes[priority] == 0) {
            continue;
        }
        uint32_t top = sched->heaps[priority][0];
        if (!device_admits(sched, (dw_priority)priority, device_slots_needed(&sched->slots[top].request))) {
            continue;
        }
        /* Ties in deadline go to the more important class, which is scanned first. */
        if (best < 0 || goes_before(sched, top, sched->heaps[best][0])) {
            best = priority;
        }
    }
    return best;
}

static void give_back_buffers(dw_sched *sched, dw_sched_slot *slot, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        int result = dw_pool_give_back(sched->pool, slot->buffers[i], NULL);
        DW_ASSERT(result == DW_OK);
        slot->buffers[i] = NULL;
    }
    sched->buffers_held -= count;
}

/* Rents the slot's buffers and submits its I/Os. False when the pool is short: the
 * request goes back to its heap and waits for buffers to come back. */
static bool dispatch(dw_sched *sched, uint32_t index)
{
    dw_sched_slot *slot = &sched->slots[index];
    const dw_sched_request *request = &slot->request;
    uint32_t block_size = sched->io->block_size;
    dw_io_request ios[DW_SCHED_BATCH_MAX];
    uint32_t count = device_slots_needed(request);
    if (request->op_class == DW_OP_FLUSH) {
        ios[0] = (dw_io_request){.op = DW_IO_SYNC, .user_data = (uint64_t)index << 8};
    } else {
        bool write = request->op_class == DW_OP_WRITE || request->op_class == DW_OP_WRITE_BATCH;
        for (uint32_t i = 0; i < count; i++) {
            slot->buffers[i] = dw_pool_try_rent(sched->pool);
            if (slot->buffers[i] == NULL) {
                sched->buffers_held += i;
                give_back_buffers(sched, slot, i);
                slot->waited_for_buffer = true;
                sched->counters.pool_exhaustions++;
                return false;
            }
            if (write) {
                memcpy(slot->buffers[i], (const unsigned char *)request->write_data + (size_t)i * block_size,
                       block_size);
            }
            ios[i] = (dw_io_request){write ? DW_IO_WRITE : DW_IO_READ, block_size,
                                     (request->block + i) * block_size, slot->buffers[i],
                                     (uint64_t)index << 8 | i, write && request->durable};
        }
        sched->buffers_held += count;
    }
    uint32_t accepted = 0;
    int result = dw_io_submit(sched->io, ios, count, &accepted, NULL);
    /* Requests were checked at submission and the device admitted them: it takes them. */
    DW_ASSERT(result == DW_OK && accepted == count);
    slot->dispatched_ns = dw_clock_now_ns(sched->clock);
    slot->pending_ios = count;
    sched->device_in_flight += count;
    atomic_store(&slot->state, SLOT_DISPATCHED);
    return true;
}

/* Cancels waiting requests whose deadline has passed (miss action "fail"). In EDF each
 * heap's top is its earliest deadline, so only tops need looking at; FIFO cancels them
 * as they come up for dispatch. */
static void expire_waiting(dw_sched *sched, uint64_t now)
{
    if (sched->config.miss_action != DW_MISS_FAIL || sched->config.sched_policy != DW_SCHED_EDF) {
        return;
    }
    for (int priority = 0; priority < DW_PRIORITY_COUNT; priority++) {
        while (sched->heap_sizes[priority] > 0 &&
               sched->slots[sched->heaps[priority][0]].request.deadline_ns < now) {
            uint32_t index = heap_pop(sched, (dw_priority)priority);
            sched->waiting--;
            cancel(sched, index, DW_EDEADLINE, true);
        }
    }
}

/* Dispatches what the device admits, in EDF order, with the io plugged: the I/Os of the
 * whole round go to the device together, in one system call (dw_io_unplug, or the wait
 * of the reap that follows), not one each. */
static void dispatch_ready(dw_sched *sched)
{
    dw_io_plug(sched->io);
    for (int priority = pick_class(sched); priority >= 0; priority = pick_class(sched)) {
        uint32_t index = heap_pop(sched, (dw_priority)priority);
        dw_sched_slot *slot = &sched->slots[index];
        if (sched->config.miss_action == DW_MISS_FAIL &&
            slot->request.deadline_ns < dw_clock_now_ns(sched->clock)) {
            sched->waiting--;
            cancel(sched, index, DW_EDEADLINE, true);
            continue;
        }
        if (!dispatch(sched, index)) {
            heap_push(sched, (dw_priority)priority, index);
            return; /* out of buffers: wait for completions to bring some back */
        }
        sched->waiting--;
    }
}

/* One I/O of a request finished. */
static void settle(dw_sched *sched, const dw_io_completion *completion)
{
    uint32_t index = (uint32_t)(completion->user_data >> 8);
    uint32_t part = (uint32_t)(completion->user_data & 0xff);
    DW_ASSERT(index < sched->config.request_slots);
    dw_sched_slot *slot = &sched->slots[index];
    DW_ASSERT(atomic_load(&slot->state) == SLOT_DISPATCHED && slot->pending_ios > 0);
    sched->device_in_flight--;
    if (completion->result != DW_OK && slot->result == DW_OK) {
        slot->result = completion->result;
    }
    if (slot->request.op_class != DW_OP_FLUSH) {
        bool read = slot->request.op_class == DW_OP_READ || slot->request.op_class == DW_OP_READ_BATCH;
        if (read && completion->result == DW_OK) {
            uint32_t block_size = sched->io->block_size;
            memcpy((unsigned char *)slot->request.read_data + (size_t)part * block_size,
                   slot->buffers[part], block_size);
        }
        int result = dw_pool_give_back(sched->pool, slot->buffers[part], NULL);
        DW_ASSERT(result == DW_OK);
        slot->buffers[part] = NULL;
        sched->buffers_held--;
    }
    if (--slot->pending_ios == 0) {
        finish(sched, index);
    }
}

/* One step; `submit_all` hands the device what the last dispatch prepared before it
 * returns. The I/O thread leaves that to its next step's reap, which submits and waits
 * in the same system call, and which comes at once. */
static bool step(dw_sched *sched, uint64_t wait_ns, bool submit_all)
{
    drain_submissions(sched);
    expire_waiting(sched, dw_clock_now_ns(sched->clock));
    dispatch_ready(sched);
    if (sched->device_in_flight > 0) {
        /* Sleep in the device's wait only when nothing was submitted meanwhile. A
         * submitter counts itself pending, then wakes the wait if it sees SLEEP_REAP;
         * this side reads the wake sequence, announces SLEEP_REAP, then looks at the
         * pending count: either it sees the submission, or the submitter sees it asleep
         * and the wake (after `since`) ends the wait. */
        uint32_t since = dw_io_wake_sequence(sched->io);
        atomic_store(&sched->sleep_state, SLEEP_REAP);
        uint64_t wait = atomic_load(&sched->submissions_pending) > 0 ? 0 : wait_ns;
        dw_io_completion completions[REAP_BATCH];
        uint32_t count = dw_io_reap_since(sched->io, completions, REAP_BATCH, wait, since);
        atomic_store(&sched->sleep_state, SLEEP_NONE);
        for (uint32_t i = 0; i < count; i++) {
            settle(sched, &completions[i]);
        }
        if (count > 0) {
            drain_submissions(sched);
            dispatch_ready(sched);
        }
    }
    if (submit_all) {
        dw_io_unplug(sched->io);
    }
    circuit_upkeep(sched, dw_clock_now_ns(sched->clock), 0, false);
    return sched->waiting > 0 || sched->device_in_flight > 0;
}

bool dw_sched_step(dw_sched *sched, uint64_t wait_ns)
{
    return step(sched, wait_ns, true);
}

/* ------------------------------------------------------------------------------------
 * Stopping, and the I/O thread
 * ---------------------------------------------------------------------------------- */

/* While stopping: after the drain time, cancels everything still waiting. True once
 * nothing is waiting, in flight, queued or about to be queued. */
static bool stop_done(dw_sched *sched)
{
    if (dw_clock_now_ns(sched->clock) >= sched->stop_deadline_ns) {
        drain_submissions(sched);
        for (int priority = 0; priority < DW_PRIORITY_COUNT; priority++) {
            while (sched->heap_sizes[priority] > 0) {
                uint32_t index = heap_pop(sched, (dw_priority)priority);
                sched->waiting--;
                sched->stop_cancelled++;
                cancel(sched, index, DW_ECANCELED, false);
            }
        }
    }
    return sched->waiting == 0 && sched->device_in_flight == 0 &&
           atomic_load(&sched->submissions_pending) == 0 && atomic_load(&sched->submitters_inside) == 0;
}

/* Sleeps until a submission (or `timeout_ns`). */
static void idle_sleep(dw_sched *sched, uint64_t timeout_ns)
{
    uint32_t bell = atomic_load(&sched->doorbell);
    atomic_store(&sched->sleep_state, SLEEP_IDLE);
    if (atomic_load(&sched->submissions_pending) == 0 && !atomic_load(&sched->stopping)) {
        dw_futex_wait(&sched->doorbell, bell, timeout_ns);
    }
    atomic_store(&sched->sleep_state, SLEEP_NONE);
}

static void *io_thread(void *argument)
{
    dw_sched *sched = argument;
    for (;;) {
        bool busy = step(sched, THREAD_IDLE_NS, false);
        if (atomic_load(&sched->stopping) && stop_done(sched)) {
            break;
        }
        if (!busy) {
            idle_sleep(sched, THREAD_IDLE_NS);
        } else if (sched->device_in_flight == 0) {
            /* Work waits for buffers held elsewhere: look again shortly. */
            idle_sleep(sched, DW_NS_PER_MS);
        }
    }
    dw_io_close(sched->io); /* the driving thread closes what it drove */
    return NULL;
}

int dw_sched_start(dw_sched *sched, dw_diag *diag)
{
    DW_ASSERT(!sched->thread_running);
    bool realtime = sched->config.io_realtime;
    bool pinned = sched->config.io_cpu != UINT32_MAX;
    const char *realtime_note = realtime ? "SCHED_FIFO" : "normal priority (sched.realtime = false)";
    const char *pin_note = pinned ? "pinned" : "not pinned (sched.io_cpu = none)";
    int error = EAGAIN;
    for (int attempt = 0; attempt < 3; attempt++) {
        pthread_attr_t attributes;
        (void)pthread_attr_init(&attributes);
        if (pinned) {
            cpu_set_t cpus;
            CPU_ZERO(&cpus);
            CPU_SET(sched->config.io_cpu, &cpus);
            (void)pthread_attr_setaffinity_np(&attributes, sizeof cpus, &cpus);
        }
        if (realtime) {
            struct sched_param parameters = {.sched_priority = sched_get_priority_min(SCHED_FIFO) + 10};
            (void)pthread_attr_setinheritsched(&attributes, PTHREAD_EXPLICIT_SCHED);
            (void)pthread_attr_setschedpolicy(&attributes, SCHED_FIFO);
            (void)pthread_attr_setschedparam(&attributes, &parameters);
        }
        error = pthread_create(&sched->thread, &attributes, io_thread, sched);
        (void)pthread_attr_destroy(&attributes);
        if (error == EPERM && realtime) {
            realtime = false;
            realtime_note = "normal priority: SCHED_FIFO is not permitted (needs CAP_SYS_NICE or "
                            "RLIMIT_RTPRIO)";
        } else if (error == EINVAL && pinned) {
            pinned = false;
            pin_note = "not pinned: sched.io_cpu names a CPU this process may not use";
        } else {
            break;
        }
    }
    if (error != 0) {
        return dw_diag_fail(diag, DW_ENOMEM, "lower the process's thread count or its limits",
                            "cannot start the scheduler's I/O thread: %s", strerror(error));
    }
    sched->thread_running = true;
    dw_format(sched->thread_note, sizeof sched->thread_note, "%s, %s", realtime_note, pin_note);
    DW_LOG(sched->log, realtime == sched->config.io_realtime ? DW_LOG_INFO : DW_LOG_WARN, "sched",
           "I/O thread started", DW_LOG_STRING("runs", sched->thread_note),
           DW_LOG_STRING("policy", sched->config.sched_policy == DW_SCHED_EDF ? "edf" : "fifo"));
    return DW_OK;
}

uint32_t dw_sched_stop(dw_sched *sched, uint64_t drain_ns)
{
    uint64_t now = dw_clock_now_ns(sched->clock);
    sched->stop_deadline_ns = now + drain_ns < now ? UINT64_MAX : now + drain_ns;
    atomic_store(&sched->stopping, true);
    if (sched->thread_running) {
        notify(sched);
        int error = pthread_join(sched->thread, NULL);
        DW_ASSERT(error == 0);
        sched->thread_running = false;
    } else {
        /* Driven by the caller: the caller's thread does the draining. */
        while (!stop_done(sched)) {
            (void)dw_sched_step(sched, DW_NS_PER_MS);
        }
        dw_io_close(sched->io);
    }
    DW_ASSERT(sched->buffers_held == 0); /* every buffer rented for a request came back */
    return sched->stop_cancelled;
}

/* ------------------------------------------------------------------------------------
 * Statistics
 * ---------------------------------------------------------------------------------- */

static void class_percentiles(const dw_histogram *histogram, dw_sched_class_stats *stats)
{
    stats->p50_ns = dw_histogram_percentile(histogram, 500000);
    stats->p90_ns = dw_histogram_percentile(histogram, 900000);
    stats->p99_ns = dw_histogram_percentile(histogram, 990000);
    stats->p999_ns = dw_histogram_percentile(histogram, 999000);
    stats->p9999_ns = dw_histogram_percentile(histogram, 999900);
    stats->max_ns = histogram->count > 0 ? histogram->max : 0;
}

void dw_sched_stats_read(const dw_sched *sched, dw_sched_stats *stats)
{
    *stats = sched->counters;
    stats->submitted = atomic_load(&sched->submitted_total);
    stats->refused = atomic_load(&sched->refused_total);
    stats->waiting = sched->waiting;
    stats->in_flight = sched->device_in_flight;
    stats->buffers_in_use = sched->buffers_held;
    stats->circuit_open = atomic_load(&sched->circuit_open);
    /* Merged on the stack: reading statistics is not a hot path. */
    dw_histogram merged;
    for (int op_class = 0; op_class < DW_OP_CLASS_COUNT; op_class++) {
        dw_histogram_reset(&merged);
        for (int priority = 0; priority < DW_PRIORITY_COUNT; priority++) {
            dw_histogram_merge(&merged, &sched->latency[op_class * DW_PRIORITY_COUNT + priority]);
        }
        dw_sched_direct_merge(sched, &merged, op_class, -1);
        class_percentiles(&merged, &stats->by_class[op_class]);
        stats->by_class[op_class].service_max_ns = sched->service_max_ns[op_class];
    }
    for (int priority = 0; priority < DW_PRIORITY_COUNT; priority++) {
        dw_histogram_reset(&merged);
        for (int op_class = 0; op_class < DW_OP_CLASS_COUNT; op_class++) {
            dw_histogram_merge(&merged, &sched->latency[op_class * DW_PRIORITY_COUNT + priority]);
        }
        dw_sched_direct_merge(sched, &merged, -1, priority);
        class_percentiles(&merged, &stats->by_priority[priority]);
    }
    dw_sched_direct_add_counters(sched, stats);
}

uint32_t dw_sched_recent_latencies(const dw_sched *sched, uint64_t *latencies, uint32_t capacity)
{
    uint64_t available = sched->recent_count < DW_SCHED_RECENT_MAX ? sched->recent_count : DW_SCHED_RECENT_MAX;
    uint32_t count = available < capacity ? (uint32_t)available : capacity;
    uint64_t first = sched->recent_count - count;
    for (uint32_t i = 0; i < count; i++) {
        latencies[i] = sched->recent_latency_ns[(first + i) % DW_SCHED_RECENT_MAX];
    }
    return count;
}

static void write_class_json(FILE *out, const char *name, const dw_sched_class_stats *stats, bool first)
{
    (void)fprintf(out,
                  "%s\"%s\":{\"completed\":%llu,\"misses\":%llu,\"p50_ns\":%llu,\"p90_ns\":%llu,"
                  "\"p99_ns\":%llu,\"p999_ns\":%llu,\"p9999_ns\":%llu,\"max_ns\":%llu,"
                  "\"service_max_ns\":%llu}",
                  first ? "" : ",", name, (unsigned long long)stats->completed,
                  (unsigned long long)stats->misses, (unsigned long long)stats->p50_ns,
                  (unsigned long long)stats->p90_ns, (unsigned long long)stats->p99_ns,
                  (unsigned long long)stats->p999_ns, (unsigned long long)stats->p9999_ns,
                  (unsigned long long)stats->max_ns, (unsigned long long)stats->service_max_ns);
}

void dw_sched_stats_write_json(const dw_sched_stats *stats, FILE *out)
{
    (void)fprintf(out,
                  "{\"submitted\":%llu,\"completed\":%llu,\"refused\":%llu,\"cancelled\":%llu,"
                  "\"misses\":%llu,\"misses_by_cause\":{",
                  (unsigned long long)stats->submitted, (unsigned long long)stats->completed,
                  (unsigned long long)stats->refused, (unsigned long long)stats->cancelled,
                  (unsigned long long)stats->misses);
    for (int cause = 0; cause < DW_MISS_CAUSE_COUNT; cause++) {
        (void)fprintf(out, "%s\"%s\":%llu", cause > 0 ? "," : "", dw_miss_cause_name((dw_miss_cause)cause),
                      (unsigned long long)stats->misses_by_cause[cause]);
    }
    (void)fprintf(out, "},\"by_class\":{");
    for (int op_class = 0; op_class < DW_OP_CLASS_COUNT; op_class++) {
        write_class_json(out, dw_op_class_name((dw_op_class)op_class), &stats->by_class[op_class],
                         op_class == 0);
    }
    (void)fprintf(out, "},\"by_priority\":{");
    for (int priority = 0; priority < DW_PRIORITY_COUNT; priority++) {
        write_class_json(out, dw_priority_name((dw_priority)priority), &stats->by_priority[priority],
                         priority == 0);
    }
    (void)fprintf(out,
                  "},\"waiting\":%u,\"in_flight\":%u,\"buffers_in_use\":%u,\"pool_exhaustions\":%llu,"
                  "\"circuit\":{\"open\":%s,\"openings\":%llu,\"closings\":%llu}}",
                  stats->waiting, stats->in_flight, stats->buffers_in_use,
                  (unsigned long long)stats->pool_exhaustions, stats->circuit_open ? "true" : "false",
                  (unsigned long long)stats->circuit_openings, (unsigned long long)stats->circuit_closings);
}
