/*
 * spsc.c — see spsc.h. Positions grow without bound (64 bits do not wrap here); the
 * index into the array is position & mask. The producer publishes values with a release
 * store of tail; the consumer frees slots with a release store of head.
 */
#include "sched/spsc.h"

#include <stdatomic.h>
#include <stddef.h>

#include "core/assert.h"
#include "core/bits.h"

uint64_t dw_spsc_memory_bytes(uint32_t capacity)
{
    return (uint64_t)capacity * sizeof(uint64_t);
}

void dw_spsc_init(dw_spsc *ring, void *memory, uint32_t capacity)
{
    DW_ASSERT(ring != NULL && memory != NULL);
    DW_ASSERT(capacity >= 2 && dw_is_power_of_two(capacity));
    atomic_init(&ring->head, 0);
    atomic_init(&ring->tail, 0);
    ring->cached_head = 0;
    ring->cached_tail = 0;
    ring->values = memory;
    ring->mask = capacity - 1;
}

/* Free slots as the producer sees them, refreshing its copy of head only when needed. */
static uint64_t producer_room(dw_spsc *ring, uint64_t tail, uint64_t wanted)
{
    uint64_t capacity = ring->mask + 1;
    uint64_t room = capacity - (tail - ring->cached_head);
    if (room < wanted) {
        ring->cached_head = atomic_load_explicit(&ring->head, memory_order_acquire);
        room = capacity - (tail - ring->cached_head);
    }
    return room;
}

bool dw_spsc_push(dw_spsc *ring, uint64_t value)
{
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    if (producer_room(ring, tail, 1) == 0) {
        return false;
    }
    ring->values[tail & ring->mask] = value;
    atomic_store_explicit(&ring->tail, tail + 1, memory_order_release);
    return true;
}

uint32_t dw_spsc_push_batch(dw_spsc *ring, const uint64_t *values, uint32_t count)
{
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    uint64_t room = producer_room(ring, tail, count);
    uint32_t pushed = room < count ? (uint32_t)room : count;
    for (uint32_t i = 0; i < pushed; i++) {
        ring->values[(tail + i) & ring->mask] = values[i];
    }
    atomic_store_explicit(&ring->tail, tail + pushed, memory_order_release);
    return pushed;
}

/* Values ready as the consumer sees them, refreshing its copy of tail only when needed. */
static uint64_t consumer_ready(dw_spsc *ring, uint64_t head, uint64_t wanted)
{
    uint64_t ready = ring->cached_tail - head;
    if (ready < wanted) {
        ring->cached_tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
        ready = ring->cached_tail - head;
    }
    return ready;
}

bool dw_spsc_pop(dw_spsc *ring, uint64_t *value)
{
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    if (consumer_ready(ring, head, 1) == 0) {
        return false;
    }
    *value = ring->values[head & ring->mask];
    atomic_store_explicit(&ring->head, head + 1, memory_order_release);
    return true;
}

uint32_t dw_spsc_pop_batch(dw_spsc *ring, uint64_t *values, uint32_t capacity)
{
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    uint64_t ready = consumer_ready(ring, head, capacity);
    uint32_t popped = ready < capacity ? (uint32_t)ready : capacity;
    for (uint32_t i = 0; i < popped; i++) {
        values[i] = ring->values[(head + i) & ring->mask];
    }
    atomic_store_explicit(&ring->head, head + popped, memory_order_release);
    return popped;
}

uint64_t dw_spsc_size(dw_spsc *ring)
{
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    return tail - head;
}
