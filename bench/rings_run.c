/*
 * rings_run.c — see rings_run.h.
 */
#include "rings_run.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/compiler.h"
#include "core/error.h"
#include "core/text.h"
#include "sched/mpmc.h"
#include "sched/spsc.h"

#if defined(DW_HAVE_CK)
#include <ck_ring.h>
#endif

bool dw_rings_have_ck(void)
{
#if defined(DW_HAVE_CK)
    return true;
#else
    return false;
#endif
}

const char *dw_rings_ring_name(dw_rings_ring ring)
{
    static const char *const names[DW_RINGS_RING_COUNT] = {"dwvd spsc", "ck_ring spsc", "dwvd mpmc",
                                                          "ck_ring mpmc"};
    return names[ring];
}

const char *dw_rings_mode_name(dw_rings_mode mode)
{
    return mode == DW_RINGS_SINGLE_THREAD ? "single-thread" : "cross-core";
}

/* One ring of each kind, in memory taken before the measurements. The MPMC queue's
 * counters are cache-line aligned on purpose: that is the padding clang-tidy counts. */
typedef struct rings { // NOLINT(clang-analyzer-optin.performance.Padding)
    dw_mpmc mpmc;
    dw_spsc *spsc;
    void *spsc_memory;
#if defined(DW_HAVE_CK)
    _Alignas(128) ck_ring_t ck;
    ck_ring_buffer_t *ck_buffer;
#endif
    dw_mpmc_cell *mpmc_cells;
    uint32_t capacity;
} rings;

static void reset(rings *all, dw_rings_ring ring)
{
    switch (ring) {
    case DW_RINGS_DW_SPSC:
        all->spsc = dw_spsc_init(all->spsc_memory, all->capacity);
        break;
    case DW_RINGS_DW_MPMC:
        dw_mpmc_init(&all->mpmc, all->mpmc_cells, all->capacity);
        break;
    default:
#if defined(DW_HAVE_CK)
        ck_ring_init(&all->ck, all->capacity);
#endif
        break;
    }
}

/* Each implementation gets its own copy of each loop, with its handle in registers: the
 * loops compare the queues, not the cost of finding them. A C11 atomic store is a
 * compiler barrier to GCC, so a ring reached through a structure would be reloaded after
 * every store, which a real caller, holding the ring in a local, does not pay. */
#if defined(DW_HAVE_CK)
typedef struct ck_handle {
    ck_ring_t *ring;
    ck_ring_buffer_t *buffer;
} ck_handle;

static inline bool ck_pop_spsc(ck_handle handle, uint64_t *value)
{
    void *entry = NULL;
    bool popped = ck_ring_dequeue_spsc(handle.ring, handle.buffer, &entry);
    *value = (uint64_t)(uintptr_t)entry;
    return popped;
}

static inline bool ck_pop_mpmc(ck_handle handle, uint64_t *value)
{
    void *entry = NULL;
    bool popped = ck_ring_dequeue_mpmc(handle.ring, handle.buffer, &entry);
    *value = (uint64_t)(uintptr_t)entry;
    return popped;
}
/* ck_ring carries pointers; the benchmark's values travel as pointer-sized integers. */
#define CK_PUSH_SPSC(h, v) ck_ring_enqueue_spsc((h).ring, (h).buffer, (void *)(uintptr_t)(v)) // NOLINT(performance-no-int-to-ptr)
#define CK_PUSH_MPMC(h, v) ck_ring_enqueue_mpmc((h).ring, (h).buffer, (void *)(uintptr_t)(v)) // NOLINT(performance-no-int-to-ptr)
#endif

#define RING_LOOPS(NAME, HANDLE, PUSH, POP)                                                \
    static uint64_t NAME##_single(HANDLE handle, uint64_t operations, uint64_t *failures) \
    {                                                                                      \
        uint64_t sink = 0;                                                                 \
        uint64_t failed = 0;                                                               \
        for (uint64_t i = 0; i < operations; i++) {                                        \
            uint64_t value = 0;                                                            \
            if (!PUSH(handle, i) || !POP(handle, &value)) {                                \
                failed++;                                                                  \
            }                                                                              \
            sink += value;                                                                 \
        }                                                                                  \
        *failures = failed;                                                                \
        return sink;                                                                       \
    }                                                                                      \
    static void NAME##_produce(HANDLE handle, uint64_t operations)                         \
    {                                                                                      \
        for (uint64_t i = 0; i < operations;) {                                            \
            if (PUSH(handle, i)) {                                                         \
                i++;                                                                       \
            } else {                                                                       \
                dw_cpu_relax();                                                            \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
    static uint64_t NAME##_consume(HANDLE handle, uint64_t operations)                     \
    {                                                                                      \
        uint64_t out_of_order = 0;                                                         \
        for (uint64_t expected = 0; expected < operations;) {                              \
            uint64_t value = 0;                                                            \
            if (POP(handle, &value)) {                                                     \
                out_of_order += value != expected;                                         \
                expected++;                                                                \
            } else {                                                                       \
                dw_cpu_relax();                                                            \
            }                                                                              \
        }                                                                                  \
        return out_of_order;                                                               \
    }

RING_LOOPS(dw_spsc, dw_spsc *, dw_spsc_push, dw_spsc_pop)
RING_LOOPS(dw_mpmc, dw_mpmc *, dw_mpmc_push, dw_mpmc_pop)
#if defined(DW_HAVE_CK)
RING_LOOPS(ck_spsc, ck_handle, CK_PUSH_SPSC, ck_pop_spsc)
RING_LOOPS(ck_mpmc, ck_handle, CK_PUSH_MPMC, ck_pop_mpmc)
#endif

static volatile uint64_t sink_total; /* keeps the loops' results alive */

/* The loops of one ring: single (enqueue+dequeue), produce, consume. */
static uint64_t run_single(rings *all, dw_rings_ring ring, uint64_t operations, uint64_t *failures)
{
    switch (ring) {
    case DW_RINGS_DW_SPSC:
        return dw_spsc_single(all->spsc, operations, failures);
    case DW_RINGS_DW_MPMC:
        return dw_mpmc_single(&all->mpmc, operations, failures);
#if defined(DW_HAVE_CK)
    case DW_RINGS_CK_SPSC:
        return ck_spsc_single((ck_handle){&all->ck, all->ck_buffer}, operations, failures);
    case DW_RINGS_CK_MPMC:
        return ck_mpmc_single((ck_handle){&all->ck, all->ck_buffer}, operations, failures);
#endif
    default:
        *failures = operations;
        return 0;
    }
}

static void run_produce(rings *all, dw_rings_ring ring, uint64_t operations)
{
    switch (ring) {
    case DW_RINGS_DW_SPSC:
        dw_spsc_produce(all->spsc, operations);
        break;
    case DW_RINGS_DW_MPMC:
        dw_mpmc_produce(&all->mpmc, operations);
        break;
#if defined(DW_HAVE_CK)
    case DW_RINGS_CK_SPSC:
        ck_spsc_produce((ck_handle){&all->ck, all->ck_buffer}, operations);
        break;
    case DW_RINGS_CK_MPMC:
        ck_mpmc_produce((ck_handle){&all->ck, all->ck_buffer}, operations);
        break;
#endif
    default:
        break;
    }
}

static uint64_t run_consume(rings *all, dw_rings_ring ring, uint64_t operations)
{
    switch (ring) {
    case DW_RINGS_DW_SPSC:
        return dw_spsc_consume(all->spsc, operations);
    case DW_RINGS_DW_MPMC:
        return dw_mpmc_consume(&all->mpmc, operations);
#if defined(DW_HAVE_CK)
    case DW_RINGS_CK_SPSC:
        return ck_spsc_consume((ck_handle){&all->ck, all->ck_buffer}, operations);
    case DW_RINGS_CK_MPMC:
        return ck_mpmc_consume((ck_handle){&all->ck, all->ck_buffer}, operations);
#endif
    default:
        return operations;
    }
}

static uint64_t single_thread(rings *all, dw_rings_ring ring, uint64_t operations, const dw_clock *clock,
                              uint64_t *ticks)
{
    reset(all, ring);
    uint64_t failures = 0;
    uint64_t start_ticks = dw_clock_ticks(clock);
    uint64_t start = dw_clock_now_ns(clock);
    uint64_t sink = run_single(all, ring, operations, &failures);
    uint64_t elapsed = dw_clock_now_ns(clock) - start;
    *ticks = dw_clock_ticks(clock) - start_ticks;
    DW_ASSERT(failures == 0);
    sink_total = sink_total + sink;
    return elapsed;
}

typedef struct cross {
    rings *all;
    dw_rings_ring ring;
    uint64_t operations;
    int cpu;
    const dw_clock *clock;
    _Atomic uint32_t *ready;        /* threads pinned and waiting */
    _Atomic bool *go;
    uint64_t elapsed_ns;            /* consumer: first pop attempt to last value */
    uint64_t ticks;
    uint64_t out_of_order;
} cross;

static void pin(int cpu)
{
    if (cpu < 0) {
        return;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((size_t)cpu, &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void wait_for_go(cross *self)
{
    atomic_fetch_add(self->ready, 1);
    while (!atomic_load(self->go)) {
        dw_cpu_relax();
    }
}

static void *produce(void *argument)
{
    cross *self = argument;
    pin(self->cpu);
    wait_for_go(self);
    run_produce(self->all, self->ring, self->operations);
    return NULL;
}

static void *consume(void *argument)
{
    cross *self = argument;
    pin(self->cpu);
    wait_for_go(self);
    uint64_t start_ticks = dw_clock_ticks(self->clock);
    uint64_t start = dw_clock_now_ns(self->clock);
    self->out_of_order = run_consume(self->all, self->ring, self->operations);
    self->elapsed_ns = dw_clock_now_ns(self->clock) - start;
    self->ticks = dw_clock_ticks(self->clock) - start_ticks;
    return NULL;
}

static int cross_core(rings *all, dw_rings_ring ring, uint64_t operations, const dw_clock *clock,
                      const int cpus[2], uint64_t *elapsed_ns, uint64_t *ticks, dw_diag *diag)
{
    reset(all, ring);
    _Atomic uint32_t ready = 0;
    _Atomic bool go = false;
    cross producer = {all, ring, operations, cpus[0], clock, &ready, &go, 0, 0, 0};
    cross consumer = {all, ring, operations, cpus[1], clock, &ready, &go, 0, 0, 0};
    pthread_t threads[2];
    if (pthread_create(&threads[1], NULL, consume, &consumer) != 0) {
        return dw_diag_fail(diag, DW_ENOMEM, NULL, "cannot start the consumer thread");
    }
    if (pthread_create(&threads[0], NULL, produce, &producer) != 0) {
        atomic_store(&go, true);
        producer.operations = 0;
        (void)pthread_join(threads[1], NULL);
        return dw_diag_fail(diag, DW_ENOMEM, NULL, "cannot start the producer thread");
    }
    while (atomic_load(&ready) < 2) {
        dw_cpu_relax();
    }
    atomic_store(&go, true);
    (void)pthread_join(threads[0], NULL);
    (void)pthread_join(threads[1], NULL);
    if (consumer.out_of_order != 0) {
        return dw_diag_fail(diag, DW_ECORRUPT, NULL, "%s delivered %llu values out of order",
                            dw_rings_ring_name(ring), (unsigned long long)consumer.out_of_order);
    }
    *elapsed_ns = consumer.elapsed_ns;
    *ticks = consumer.ticks;
    return DW_OK;
}

/* The first two CPUs this process may run on, or -1 when it has only one. */
static void choose_cpus(int cpus[2])
{
    cpus[0] = -1;
    cpus[1] = -1;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        return;
    }
    int found = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++) {
        if (CPU_ISSET((size_t)cpu, &set)) {
            cpus[found++] = cpu;
        }
    }
    if (found < 2) {
        cpus[0] = -1;
        cpus[1] = -1;
    }
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define ROUNDS_MAX 31

int dw_rings_run(const dw_rings_run_options *options, dw_rings_run_report *report, dw_diag *diag)
{
    DW_ASSERT(options->rounds >= 1 && options->rounds <= ROUNDS_MAX && options->operations > 0);
    memset(report, 0, sizeof *report);
    dw_clock clock;
    dw_clock_system_init(&clock, 10 * DW_NS_PER_MS);
    dw_format(report->tick_source, sizeof report->tick_source, "%s", clock.tick_source);
    int cpus[2];
    choose_cpus(cpus);
    report->producer_cpu = cpus[0];
    report->consumer_cpu = cpus[1];
    if (cpus[0] < 0) {
        dw_format(report->note, sizeof report->note,
                  "one CPU available: producer and consumer share it, cross-core figures are time-sliced");
    } else {
        dw_format(report->note, sizeof report->note, "producer pinned to CPU %d, consumer to CPU %d",
                  cpus[0], cpus[1]);
    }

    rings *all = aligned_alloc(128, (sizeof(rings) + 127) & ~(size_t)127);
    void *values = aligned_alloc(DW_SPSC_ALIGNMENT, dw_spsc_memory_bytes(options->capacity));
    dw_mpmc_cell *cells = aligned_alloc(64, (size_t)options->capacity * sizeof(dw_mpmc_cell));
    void *ck_buffer = aligned_alloc(64, (size_t)options->capacity * sizeof(void *));
    if (all == NULL || values == NULL || cells == NULL || ck_buffer == NULL) {
        free(all);
        free(values);
        free(cells);
        free(ck_buffer);
        return dw_diag_fail(diag, DW_ENOMEM, NULL, "cannot allocate rings of %u entries", options->capacity);
    }
    memset(all, 0, sizeof *all);
    all->spsc_memory = values;
    all->mpmc_cells = cells;
    all->capacity = options->capacity;
#if defined(DW_HAVE_CK)
    all->ck_buffer = ck_buffer;
#endif

    static double ns[DW_RINGS_MODE_COUNT][DW_RINGS_RING_COUNT][ROUNDS_MAX];
    static double ticks[DW_RINGS_MODE_COUNT][DW_RINGS_RING_COUNT][ROUNDS_MAX];
    int result = DW_OK;
    for (uint32_t round = 0; round < options->rounds && result == DW_OK; round++) {
        for (int mode = 0; mode < DW_RINGS_MODE_COUNT && result == DW_OK; mode++) {
            for (int k = 0; k < DW_RINGS_RING_COUNT && result == DW_OK; k++) {
                /* Alternate the order each round: no implementation always goes first. */
                int ring = round % 2 == 0 ? k : DW_RINGS_RING_COUNT - 1 - k;
#if !defined(DW_HAVE_CK)
                if (ring == DW_RINGS_CK_SPSC || ring == DW_RINGS_CK_MPMC) {
                    continue; /* not built in: its rows say so */
                }
#endif
                uint64_t elapsed = 0;
                uint64_t tick_count = 0;
                if (mode == DW_RINGS_SINGLE_THREAD) {
                    elapsed = single_thread(all, (dw_rings_ring)ring, options->operations, &clock, &tick_count);
                } else {
                    result = cross_core(all, (dw_rings_ring)ring, options->operations, &clock, cpus, &elapsed,
                                        &tick_count, diag);
                }
                ns[mode][ring][round] = (double)elapsed / (double)options->operations;
                ticks[mode][ring][round] = (double)tick_count / (double)options->operations;
            }
        }
    }
    for (int mode = 0; mode < DW_RINGS_MODE_COUNT; mode++) {
        for (int ring = 0; ring < DW_RINGS_RING_COUNT; ring++) {
            dw_rings_result *out = &report->results[mode][ring];
            bool is_ck = ring == DW_RINGS_CK_SPSC || ring == DW_RINGS_CK_MPMC;
            out->available = !is_ck || dw_rings_have_ck();
            out->operations = options->operations;
            if (out->available && result == DW_OK) {
                qsort(ns[mode][ring], options->rounds, sizeof(double), compare_double);
                qsort(ticks[mode][ring], options->rounds, sizeof(double), compare_double);
                out->ns_per_operation = ns[mode][ring][options->rounds / 2];
                out->ticks_per_operation = ticks[mode][ring][options->rounds / 2];
            }
        }
    }
    free(all);
    free(values);
    free(cells);
    free(ck_buffer);
    return result;
}
