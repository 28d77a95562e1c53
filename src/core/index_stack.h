/*
 * index_stack.h — a lock-free stack of small integers (indices into a fixed array),
 * used for free lists: the buffer pool's buffers, the scheduler's request slots.
 *
 * The head packs the top index and a change counter into one 64-bit word swapped by one
 * compare-and-swap, which makes it ABA-safe: a popper that read (index i, counter c) and
 * i's link fails its swap if i was popped and pushed back meanwhile, because the counter
 * moved. The counter has 32 bits; a popper would have to stall for exactly 2^32
 * operations to be fooled. The links are an array the caller provides, one per index.
 * Push and pop never allocate, never block, and are O(1) without contention.
 */
#ifndef DW_CORE_INDEX_STACK_H
#define DW_CORE_INDEX_STACK_H

#include <stdbool.h>
#include <stdint.h>

#define DW_INDEX_NONE UINT32_MAX

typedef struct dw_index_stack {
    _Alignas(64) _Atomic uint64_t head; /* its own cache line: every push and pop meets here */
    _Atomic uint32_t *links;
    uint32_t capacity;
} dw_index_stack;

/* With `full`, the stack starts holding 0 .. capacity - 1 with 0 on top; else empty. */
void dw_index_stack_init(dw_index_stack *stack, _Atomic uint32_t *links, uint32_t capacity, bool full);

/* The top index, or DW_INDEX_NONE when the stack is empty. */
uint32_t dw_index_stack_pop(dw_index_stack *stack);

/* `index` must not be in the stack already; the caller's own state must ensure it. */
void dw_index_stack_push(dw_index_stack *stack, uint32_t index);

#endif /* DW_CORE_INDEX_STACK_H */
