/*
 * mpmc.h — a bounded multi-producer multi-consumer queue of 64-bit values.
 *
 * Any thread may push and pop; neither ever allocates or blocks: a full queue refuses
 * the push, an empty one the pop. The scheduler takes requests from submitting threads
 * through it; later, metrics and log records.
 *
 * Dmitry Vyukov's array-based design, written from its description: each cell carries a
 * sequence number that says whether it is ready for the producer or the consumer of a
 * given lap round the array. The classic linked Michael-Scott queue is not used: it
 * allocates a node for every element, which dwvd's memory model forbids after open.
 */
#ifndef DW_SCHED_MPMC_H
#define DW_SCHED_MPMC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct dw_mpmc_cell {
    _Atomic uint64_t sequence;
    uint64_t value;
} dw_mpmc_cell;

typedef struct dw_mpmc {
    _Alignas(64) _Atomic uint64_t enqueue_position;
    _Alignas(64) _Atomic uint64_t dequeue_position;
    _Alignas(64) dw_mpmc_cell *cells;
    uint64_t mask;
} dw_mpmc;

/* Bytes of cells for `capacity` values (a power of two). */
uint64_t dw_mpmc_memory_bytes(uint32_t capacity);

void dw_mpmc_init(dw_mpmc *queue, void *memory, uint32_t capacity);

/* Push and pop are inline: they are a handful of instructions, and a call would cost
 * as much again.
 *
 * A cell at array index i, on lap L (position p = L * capacity + i), is free for the
 * producer of position p when its sequence is p, and holds a value for the consumer of p
 * when its sequence is p + 1; the consumer hands it to the producer of the next lap by
 * setting it to p + capacity. Positions only grow: 64 bits do not wrap in this world. */

/* False when the queue is full. */
static inline bool dw_mpmc_push(dw_mpmc *queue, uint64_t value)
{
    uint64_t position = atomic_load_explicit(&queue->enqueue_position, memory_order_relaxed);
    for (;;) {
        dw_mpmc_cell *cell = &queue->cells[position & queue->mask];
        uint64_t sequence = atomic_load_explicit(&cell->sequence, memory_order_acquire);
        int64_t difference = (int64_t)(sequence - position);
        if (difference == 0) {
            if (atomic_compare_exchange_weak_explicit(&queue->enqueue_position, &position,
                                                      position + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                cell->value = value;
                atomic_store_explicit(&cell->sequence, position + 1, memory_order_release);
                return true;
            }
        } else if (difference < 0) {
            return false; /* the cell still holds last lap's value: full */
        } else {
            position = atomic_load_explicit(&queue->enqueue_position, memory_order_relaxed);
        }
    }
}

/* False when the queue is empty. */
static inline bool dw_mpmc_pop(dw_mpmc *queue, uint64_t *value)
{
    uint64_t position = atomic_load_explicit(&queue->dequeue_position, memory_order_relaxed);
    for (;;) {
        dw_mpmc_cell *cell = &queue->cells[position & queue->mask];
        uint64_t sequence = atomic_load_explicit(&cell->sequence, memory_order_acquire);
        int64_t difference = (int64_t)(sequence - (position + 1));
        if (difference == 0) {
            if (atomic_compare_exchange_weak_explicit(&queue->dequeue_position, &position,
                                                      position + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                *value = cell->value;
                atomic_store_explicit(&cell->sequence, position + queue->mask + 1,
                                      memory_order_release);
                return true;
            }
        } else if (difference < 0) {
            return false; /* nothing written here yet: empty */
        } else {
            position = atomic_load_explicit(&queue->dequeue_position, memory_order_relaxed);
        }
    }
}

#endif /* DW_SCHED_MPMC_H */
