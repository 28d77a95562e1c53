/*
 * mpmc.c — see mpmc.h.
 *
 * A cell at array index i, on lap L (position p = L * capacity + i), is free for the
 * producer of position p when its sequence is p, and holds a value for the consumer of p
 * when its sequence is p + 1; the consumer hands it to the producer of the next lap by
 * setting it to p + capacity. Positions only grow: 64 bits do not wrap in this world.
 */
#include "sched/mpmc.h"

#include <stdatomic.h>
#include <stddef.h>

#include "core/assert.h"
#include "core/bits.h"

uint64_t dw_mpmc_memory_bytes(uint32_t capacity)
{
    return (uint64_t)capacity * sizeof(dw_mpmc_cell);
}

void dw_mpmc_init(dw_mpmc *queue, void *memory, uint32_t capacity)
{
    DW_ASSERT(queue != NULL && memory != NULL);
    DW_ASSERT(capacity >= 2 && dw_is_power_of_two(capacity));
    queue->cells = memory;
    queue->mask = capacity - 1;
    for (uint32_t i = 0; i < capacity; i++) {
        atomic_init(&queue->cells[i].sequence, i);
        queue->cells[i].value = 0;
    }
    atomic_init(&queue->enqueue_position, 0);
    atomic_init(&queue->dequeue_position, 0);
}

bool dw_mpmc_push(dw_mpmc *queue, uint64_t value)
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

bool dw_mpmc_pop(dw_mpmc *queue, uint64_t *value)
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
