/*
 * spsc.c — see spsc.h: set-up and size; the hot paths are inline in the header.
 */
#include "sched/spsc.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/assert.h"
#include "core/bits.h"

uint64_t dw_spsc_memory_bytes(uint32_t capacity)
{
    DW_ASSERT(capacity >= 2 && dw_is_power_of_two(capacity));
    /* Rounded up so that rings laid end to end each start aligned. */
    uint64_t bytes = sizeof(dw_spsc) + (uint64_t)capacity * sizeof(uint64_t);
    return (bytes + DW_SPSC_ALIGNMENT - 1) & ~(uint64_t)(DW_SPSC_ALIGNMENT - 1);
}

dw_spsc *dw_spsc_init(void *memory, uint32_t capacity)
{
    DW_ASSERT(memory != NULL && ((uintptr_t)memory % DW_SPSC_ALIGNMENT) == 0);
    DW_ASSERT(capacity >= 2 && dw_is_power_of_two(capacity));
    dw_spsc *ring = memory;
    atomic_init(&ring->head, 0);
    atomic_init(&ring->tail, 0);
    ring->cached_head = 0;
    ring->cached_tail = 0;
    ring->consumer_mask = capacity - 1;
    ring->producer_mask = capacity - 1;
    return ring;
}

uint64_t dw_spsc_size(dw_spsc *ring)
{
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    return tail - head;
}
