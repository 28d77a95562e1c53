/*
 * pool.h — N fixed-size I/O buffers, rented and given back without allocating, locking
 * or (for try_rent) ever waiting.
 *
 * The buffers live in memory the caller supplies (a piece of the arena), aligned for
 * O_DIRECT. A returned buffer is zeroed before anyone else can rent it, so data never
 * leaks from one holder to the next. Returning a buffer twice, or one that is not from
 * the pool, is refused with DW_EINVAL and counted; the pool's state is not touched.
 */
#ifndef DW_MEM_POOL_H
#define DW_MEM_POOL_H

#include <stdint.h>

#include "core/clock.h"
#include "core/index_stack.h"
#include "dwvd.h"
#include "mem/arena.h"

/* Buffers are aligned to this (the largest logical sector O_DIRECT asks for). */
#define DW_POOL_ALIGNMENT 4096
#define DW_POOL_BUFFER_SIZE_MIN 512
#define DW_POOL_BUFFER_SIZE_MAX (1u << 20)
#define DW_POOL_BUFFER_COUNT_MAX (1u << 24)

typedef struct dw_pool_stats {
    uint32_t total;
    uint32_t available;
    uint32_t in_use;
    uint32_t in_use_high_water;
    uint64_t rent_failures;       /* try_rent found none, or rent timed out */
    uint64_t invalid_returns;     /* double or foreign give-backs refused */
} dw_pool_stats;

typedef struct dw_pool {
    dw_index_stack free_buffers;     /* the free list (core/index_stack.h) */
    _Alignas(64) _Atomic uint32_t in_use;
    _Atomic uint32_t in_use_high_water;
    _Atomic uint64_t rent_failures;
    _Atomic uint64_t invalid_returns;
    /* A futex word bumped on every return, which waiting renters sleep on. */
    _Alignas(64) _Atomic uint32_t wake_generation;
    _Atomic uint32_t waiters;
    _Alignas(64) unsigned char *buffers;

    _Atomic uint32_t *states;        /* DW_POOL_FREE or DW_POOL_RENTED, one per buffer */
    uint32_t buffer_count;
    uint32_t buffer_size;
    const dw_clock *clock;
} dw_pool;

/* The bytes of memory dw_pool_init needs for `buffer_count` buffers of `buffer_size`. */
uint64_t dw_pool_memory_bytes(uint32_t buffer_count, uint32_t buffer_size);

/* Lays the pool out in `memory` (DW_POOL_ALIGNMENT-aligned, at least
 * dw_pool_memory_bytes long) with every buffer free and zeroed. buffer_size is a power
 * of two from DW_POOL_BUFFER_SIZE_MIN to DW_POOL_BUFFER_SIZE_MAX. The clock times
 * dw_pool_rent's waits and must outlive the pool. */
void dw_pool_init(dw_pool *pool, void *memory, uint64_t memory_bytes, uint32_t buffer_count,
                  uint32_t buffer_size, const dw_clock *clock);

/* A free buffer, or NULL when none is free. O(1), lock-free, never waits. */
unsigned char *dw_pool_try_rent(dw_pool *pool);

/* Waits up to `timeout_ns` (by the pool's clock) for a free buffer. Returns DW_OK with
 * *buffer set, or DW_EBUSY when none came free in time. */
int dw_pool_rent(dw_pool *pool, uint64_t timeout_ns, unsigned char **buffer);

/* Zeroes the buffer and makes it free. DW_EINVAL (diag says which) for a buffer that is
 * not from this pool or is not rented. */
int dw_pool_give_back(dw_pool *pool, void *buffer, dw_diag *diag);

/* The index of a rented buffer, 0 .. buffer_count - 1 (for registered-buffer I/O). */
uint32_t dw_pool_index_of(const dw_pool *pool, const void *buffer);

void dw_pool_stats_read(const dw_pool *pool, dw_pool_stats *stats);

/* The pool as an engine opens it: its buffers and its own state are two pieces of the
 * arena (the state's cache-line alignment is one only the arena guarantees). */
typedef struct dw_pool_plan {
    uint32_t buffers_piece;
    uint32_t state_piece;
    uint32_t buffer_count;
    uint32_t buffer_size;
} dw_pool_plan;

/* Plans both pieces, reserving them in the arena's budget as "buffer pool". */
int dw_pool_plan_in(dw_arena *arena, uint32_t buffer_count, uint32_t buffer_size,
                    dw_pool_plan *plan, dw_diag *diag);

/* After dw_arena_allocate: lays the pool out in its pieces and returns it. */
dw_pool *dw_pool_open_in(const dw_arena *arena, const dw_pool_plan *plan, const dw_clock *clock);

#endif /* DW_MEM_POOL_H */
