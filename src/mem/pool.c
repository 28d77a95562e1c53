/*
 * pool.c — the fixed buffer pool: a lock-free stack of free buffer indices
 * (core/index_stack), a state word per buffer, and zeroing on the way back.
 *
 * Why not a library: Debian's lock-free libraries (liburcu, Concurrency Kit) either
 * allocate per node, need a grace-period thread, or bring a whole framework to save fifty
 * lines; this stack needs no memory beyond one link per buffer, which the arena provides.
 *
 * Waiting: rent(timeout) sleeps on a futex that every give-back bumps. A condition
 * variable would need a mutex on the give-back path, which must never block.
 */
#include "mem/pool.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/futex.h"

enum { POOL_FREE = 0, POOL_RENTED = 1 };

/* Sleeping waiters wake at least this often to re-read the pool's clock, so that a
 * virtual clock moved by a test ends their wait. */
#define POOL_WAIT_SLICE_NS (1 * DW_NS_PER_MS)
/* Renters spin this many times before they sleep: a give-back is usually moments away. */
#define POOL_SPIN_TRIES 64

DW_STATIC_ASSERT(DW_POOL_BUFFER_COUNT_MAX < DW_INDEX_NONE, "indices must not collide with DW_INDEX_NONE");

static uint64_t align_up(uint64_t value, uint64_t alignment)
{
    return (value + alignment - 1) & ~(alignment - 1);
}

static uint64_t links_offset(uint32_t buffer_count, uint32_t buffer_size)
{
    return align_up((uint64_t)buffer_count * buffer_size, 64);
}

static uint64_t states_offset(uint32_t buffer_count, uint32_t buffer_size)
{
    return links_offset(buffer_count, buffer_size) + align_up((uint64_t)buffer_count * 4, 64);
}

uint64_t dw_pool_memory_bytes(uint32_t buffer_count, uint32_t buffer_size)
{
    return states_offset(buffer_count, buffer_size) + (uint64_t)buffer_count * 4;
}

void dw_pool_init(dw_pool *pool, void *memory, uint64_t memory_bytes, uint32_t buffer_count,
                  uint32_t buffer_size, const dw_clock *clock)
{
    DW_ASSERT(pool != NULL && memory != NULL && clock != NULL);
    DW_ASSERT(((uintptr_t)memory & (DW_POOL_ALIGNMENT - 1)) == 0);
    DW_ASSERT(buffer_count >= 1 && buffer_count <= DW_POOL_BUFFER_COUNT_MAX);
    DW_ASSERT(buffer_size >= DW_POOL_BUFFER_SIZE_MIN && buffer_size <= DW_POOL_BUFFER_SIZE_MAX);
    DW_ASSERT((buffer_size & (buffer_size - 1)) == 0);
    DW_ASSERT(memory_bytes >= dw_pool_memory_bytes(buffer_count, buffer_size));

    unsigned char *base = memory;
    pool->buffers = base;
    dw_index_stack_init(&pool->free_buffers,
                        (_Atomic uint32_t *)(void *)(base + links_offset(buffer_count, buffer_size)),
                        buffer_count, true);
    pool->states = (_Atomic uint32_t *)(void *)(base + states_offset(buffer_count, buffer_size));
    pool->buffer_count = buffer_count;
    pool->buffer_size = buffer_size;
    pool->clock = clock;
    memset(pool->buffers, 0, (size_t)buffer_count * buffer_size);
    for (uint32_t i = 0; i < buffer_count; i++) {
        atomic_init(&pool->states[i], POOL_FREE);
    }
    atomic_init(&pool->in_use, 0);
    atomic_init(&pool->in_use_high_water, 0);
    atomic_init(&pool->rent_failures, 0);
    atomic_init(&pool->invalid_returns, 0);
    atomic_init(&pool->wake_generation, 0);
    atomic_init(&pool->waiters, 0);
}

static unsigned char *take(dw_pool *pool)
{
    uint32_t index = dw_index_stack_pop(&pool->free_buffers);
    if (index == DW_INDEX_NONE) {
        return NULL;
    }
    uint32_t expected = POOL_FREE;
    /* Only the thread that popped an index may mark it: failing here would mean the
     * same buffer was handed out twice. */
    bool marked = atomic_compare_exchange_strong_explicit(&pool->states[index], &expected,
                                                          POOL_RENTED, memory_order_acq_rel,
                                                          memory_order_relaxed);
    DW_ASSERT(marked);
    uint32_t in_use = atomic_fetch_add_explicit(&pool->in_use, 1, memory_order_relaxed) + 1;
    uint32_t high_water = atomic_load_explicit(&pool->in_use_high_water, memory_order_relaxed);
    while (in_use > high_water &&
           !atomic_compare_exchange_weak_explicit(&pool->in_use_high_water, &high_water, in_use,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
    return pool->buffers + (size_t)index * pool->buffer_size;
}

unsigned char *dw_pool_try_rent(dw_pool *pool)
{
    unsigned char *buffer = take(pool);
    if (buffer == NULL) {
        atomic_fetch_add_explicit(&pool->rent_failures, 1, memory_order_relaxed);
    }
    return buffer;
}

int dw_pool_rent(dw_pool *pool, uint64_t timeout_ns, unsigned char **buffer)
{
    DW_ASSERT(buffer != NULL);
    for (int spin = 0; spin < POOL_SPIN_TRIES; spin++) {
        *buffer = take(pool);
        if (*buffer != NULL) {
            return DW_OK;
        }
    }
    uint64_t start_ns = dw_clock_now_ns(pool->clock);
    uint64_t deadline_ns = start_ns + timeout_ns < start_ns ? UINT64_MAX : start_ns + timeout_ns;
    /* Announce the wait before trying again; the fence pairs with the one in
     * dw_pool_give_back: either the giver sees this waiter, or this try sees its buffer. */
    atomic_fetch_add(&pool->waiters, 1);
    atomic_thread_fence(memory_order_seq_cst);
    int result = DW_EBUSY;
    for (;;) {
        /* Read the generation before trying, so a give-back between the try and the
         * sleep changes the word and the sleep returns at once. */
        uint32_t generation = atomic_load(&pool->wake_generation);
        *buffer = take(pool);
        if (*buffer != NULL) {
            result = DW_OK;
            break;
        }
        uint64_t now_ns = dw_clock_now_ns(pool->clock);
        if (now_ns >= deadline_ns) {
            break;
        }
        uint64_t remaining_ns = deadline_ns - now_ns;
        dw_futex_wait(&pool->wake_generation, generation,
                   remaining_ns < POOL_WAIT_SLICE_NS ? remaining_ns : POOL_WAIT_SLICE_NS);
    }
    atomic_fetch_sub(&pool->waiters, 1);
    if (result != DW_OK) {
        atomic_fetch_add_explicit(&pool->rent_failures, 1, memory_order_relaxed);
    }
    return result;
}

int dw_pool_give_back(dw_pool *pool, void *buffer, dw_diag *diag)
{
    uintptr_t address = (uintptr_t)buffer;
    uintptr_t first = (uintptr_t)pool->buffers;
    uintptr_t end = first + (uintptr_t)pool->buffer_count * pool->buffer_size;
    if (address < first || address >= end || (address - first) % pool->buffer_size != 0) {
        atomic_fetch_add_explicit(&pool->invalid_returns, 1, memory_order_relaxed);
        return dw_diag_fail(diag, DW_EINVAL, "give back only the pointers dw_pool_rent handed out",
                            "buffer %p is not one of this pool's %u buffers", buffer,
                            pool->buffer_count);
    }
    uint32_t index = (uint32_t)((address - first) / pool->buffer_size);
    uint32_t expected = POOL_RENTED;
    if (!atomic_compare_exchange_strong_explicit(&pool->states[index], &expected, POOL_FREE,
                                                 memory_order_acq_rel, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&pool->invalid_returns, 1, memory_order_relaxed);
        return dw_diag_fail(diag, DW_EINVAL, "a buffer is given back once per rent",
                            "buffer %u of the pool is given back but is not rented (given back "
                            "twice?)",
                            index);
    }
    /* explicit_bzero, unlike memset, may not be removed as a dead store. */
    explicit_bzero(buffer, pool->buffer_size);
    uint32_t before = atomic_fetch_sub_explicit(&pool->in_use, 1, memory_order_relaxed);
    DW_ASSERT(before > 0);
    dw_index_stack_push(&pool->free_buffers, index);
    /* Pairs with the fence in dw_pool_rent: a renter that announced itself before this
     * point is seen here and woken; one that announces later finds the buffer pushed.
     * With nobody waiting, a give-back touches no shared word beyond the list. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&pool->waiters, memory_order_relaxed) > 0) {
        atomic_fetch_add(&pool->wake_generation, 1);
        dw_futex_wake(&pool->wake_generation, 1);
    }
    return DW_OK;
}

uint32_t dw_pool_index_of(const dw_pool *pool, const void *buffer)
{
    uintptr_t offset = (uintptr_t)buffer - (uintptr_t)pool->buffers;
    DW_ASSERT(offset % pool->buffer_size == 0);
    DW_ASSERT(offset / pool->buffer_size < pool->buffer_count);
    return (uint32_t)(offset / pool->buffer_size);
}

void dw_pool_stats_read(const dw_pool *pool, dw_pool_stats *stats)
{
    uint32_t in_use = atomic_load_explicit(&pool->in_use, memory_order_relaxed);
    stats->total = pool->buffer_count;
    stats->in_use = in_use;
    stats->available = pool->buffer_count - in_use;
    stats->in_use_high_water = atomic_load_explicit(&pool->in_use_high_water, memory_order_relaxed);
    stats->rent_failures = atomic_load_explicit(&pool->rent_failures, memory_order_relaxed);
    stats->invalid_returns = atomic_load_explicit(&pool->invalid_returns, memory_order_relaxed);
}

int dw_pool_plan_in(dw_arena *arena, uint32_t buffer_count, uint32_t buffer_size,
                    dw_pool_plan *plan, dw_diag *diag)
{
    plan->buffer_count = buffer_count;
    plan->buffer_size = buffer_size;
    int result = dw_arena_plan(arena, "buffer pool", dw_pool_memory_bytes(buffer_count, buffer_size),
                               DW_POOL_ALIGNMENT, &plan->buffers_piece, diag);
    if (result != DW_OK) {
        return result;
    }
    return dw_arena_plan(arena, "buffer pool state", sizeof(dw_pool), _Alignof(dw_pool),
                         &plan->state_piece, diag);
}

dw_pool *dw_pool_open_in(const dw_arena *arena, const dw_pool_plan *plan, const dw_clock *clock)
{
    dw_pool *pool = dw_arena_piece_memory(arena, plan->state_piece);
    dw_pool_init(pool, dw_arena_piece_memory(arena, plan->buffers_piece),
                 dw_pool_memory_bytes(plan->buffer_count, plan->buffer_size), plan->buffer_count,
                 plan->buffer_size, clock);
    return pool;
}
