/*
 * mpmc.c — see mpmc.h.
 *
 * Set-up only: push and pop are inline in mpmc.h.
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
