/*
 * ordered.c — see ordered.h. A binary heap in an array: the children of i are 2i+1 and
 * 2i+2. Push and pop are O(log n) with no allocation; the comparison is total (no two
 * entries have the same sequence), so the order out never depends on the heap's shape.
 */
#include "sched/ordered.h"

#include <stddef.h>

#include "core/assert.h"
#include "sched/lamport.h"

uint64_t dw_ordered_memory_bytes(uint32_t capacity)
{
    return (uint64_t)capacity * sizeof(dw_ordered_entry);
}

void dw_ordered_init(dw_ordered *queue, void *memory, uint32_t capacity)
{
    DW_ASSERT(queue != NULL && memory != NULL);
    DW_ASSERT(capacity > 0 && capacity <= (UINT32_C(1) << 30)); /* 2i+2 fits in 32 bits */
    queue->entries = memory;
    queue->capacity = capacity;
    queue->count = 0;
    queue->next_sequence = 0;
}

static bool before(const dw_ordered_entry *a, const dw_ordered_entry *b)
{
    if (a->stamp.time != b->stamp.time || a->stamp.core != b->stamp.core) {
        return dw_lamport_before(a->stamp.time, a->stamp.core, b->stamp.time, b->stamp.core);
    }
    return a->sequence < b->sequence;
}

bool dw_ordered_push(dw_ordered *queue, dw_stamp stamp, uint64_t value)
{
    if (queue->count == queue->capacity) {
        return false;
    }
    dw_ordered_entry entry = {.stamp = stamp, .sequence = queue->next_sequence++, .value = value};
    uint32_t at = queue->count++;
    while (at > 0) {
        uint32_t parent = (at - 1) / 2;
        if (!before(&entry, &queue->entries[parent])) {
            break;
        }
        queue->entries[at] = queue->entries[parent];
        at = parent;
    }
    queue->entries[at] = entry;
    return true;
}

bool dw_ordered_peek(const dw_ordered *queue, dw_ordered_entry *entry)
{
    if (queue->count == 0) {
        return false;
    }
    *entry = queue->entries[0];
    return true;
}

bool dw_ordered_pop(dw_ordered *queue, dw_ordered_entry *entry)
{
    if (queue->count == 0) {
        return false;
    }
    *entry = queue->entries[0];
    dw_ordered_entry last = queue->entries[--queue->count];
    uint32_t at = 0;
    for (;;) {
        uint32_t child = 2 * at + 1;
        if (child >= queue->count) {
            break;
        }
        if (child + 1 < queue->count && before(&queue->entries[child + 1], &queue->entries[child])) {
            child++;
        }
        if (!before(&queue->entries[child], &last)) {
            break;
        }
        queue->entries[at] = queue->entries[child];
        at = child;
    }
    if (queue->count > 0) {
        queue->entries[at] = last;
    }
    return true;
}
