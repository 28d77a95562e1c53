/*
 * index_stack.c — see index_stack.h. A Treiber stack of indices with a change counter.
 */
#include "core/index_stack.h"

#include <stdatomic.h>
#include <stddef.h>

#include "core/assert.h"

static uint64_t pack(uint32_t index, uint32_t counter)
{
    return (uint64_t)counter << 32 | index;
}

void dw_index_stack_init(dw_index_stack *stack, _Atomic uint32_t *links, uint32_t capacity, bool full)
{
    DW_ASSERT(stack != NULL && links != NULL);
    DW_ASSERT(capacity >= 1 && capacity < DW_INDEX_NONE);
    stack->links = links;
    stack->capacity = capacity;
    for (uint32_t i = 0; i < capacity; i++) {
        atomic_init(&links[i], full && i + 1 < capacity ? i + 1 : DW_INDEX_NONE);
    }
    atomic_init(&stack->head, pack(full ? 0 : DW_INDEX_NONE, 0));
}

uint32_t dw_index_stack_pop(dw_index_stack *stack)
{
    uint64_t head = atomic_load_explicit(&stack->head, memory_order_acquire);
    for (;;) {
        uint32_t index = (uint32_t)head;
        if (index == DW_INDEX_NONE) {
            return DW_INDEX_NONE;
        }
        DW_ASSERT(index < stack->capacity);
        /* Possibly stale if another thread took `index` meanwhile; then the counter in
         * head has moved and the swap below fails. */
        uint32_t next = atomic_load_explicit(&stack->links[index], memory_order_relaxed);
        uint64_t replacement = pack(next, (uint32_t)(head >> 32) + 1);
        if (atomic_compare_exchange_weak_explicit(&stack->head, &head, replacement,
                                                  memory_order_acquire, memory_order_acquire)) {
            return index;
        }
    }
}

void dw_index_stack_push(dw_index_stack *stack, uint32_t index)
{
    DW_ASSERT(index < stack->capacity);
    uint64_t head = atomic_load_explicit(&stack->head, memory_order_relaxed);
    for (;;) {
        atomic_store_explicit(&stack->links[index], (uint32_t)head, memory_order_relaxed);
        uint64_t replacement = pack(index, (uint32_t)(head >> 32) + 1);
        /* Release: what the pusher wrote before (a zeroed buffer, a filled slot) is
         * visible to whoever pops the index. */
        if (atomic_compare_exchange_weak_explicit(&stack->head, &head, replacement,
                                                  memory_order_release, memory_order_relaxed)) {
            return;
        }
    }
}
