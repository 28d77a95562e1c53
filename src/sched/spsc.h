/*
 * spsc.h — a bounded single-producer single-consumer ring of 64-bit values.
 *
 * One thread pushes, one thread pops; neither locks, waits or allocates. The producer's
 * and the consumer's positions live on separate 128-byte lines (two cache lines: adjacent
 * -line prefetchers pull pairs), so the two sides do not slow each other by sharing a
 * line. Each side keeps a private copy of the other's position and reads the shared one
 * only when its copy says the ring is full (or empty): most operations touch no line the
 * other side writes.
 */
#ifndef DW_SCHED_SPSC_H
#define DW_SCHED_SPSC_H

#include <stdbool.h>
#include <stdint.h>

typedef struct dw_spsc {
    _Alignas(128) _Atomic uint64_t head;    /* next position to pop; written by the consumer */
    uint64_t cached_tail;                   /* the consumer's copy of tail */
    _Alignas(128) _Atomic uint64_t tail;    /* next position to push; written by the producer */
    uint64_t cached_head;                   /* the producer's copy of head */
    _Alignas(128) uint64_t *values;
    uint64_t mask;
} dw_spsc;

uint64_t dw_spsc_memory_bytes(uint32_t capacity);

/* capacity: a power of two. */
void dw_spsc_init(dw_spsc *ring, void *memory, uint32_t capacity);

/* Producer side. False (or fewer than count) when the ring is full. */
bool dw_spsc_push(dw_spsc *ring, uint64_t value);
uint32_t dw_spsc_push_batch(dw_spsc *ring, const uint64_t *values, uint32_t count);

/* Consumer side. False (or fewer than capacity) when the ring is empty. */
bool dw_spsc_pop(dw_spsc *ring, uint64_t *value);
uint32_t dw_spsc_pop_batch(dw_spsc *ring, uint64_t *values, uint32_t capacity);

/* Either side, approximate while the other side runs. */
uint64_t dw_spsc_size(dw_spsc *ring);

#endif /* DW_SCHED_SPSC_H */
