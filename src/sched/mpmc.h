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

/* False when the queue is full. */
bool dw_mpmc_push(dw_mpmc *queue, uint64_t value);

/* False when the queue is empty. */
bool dw_mpmc_pop(dw_mpmc *queue, uint64_t *value);

#endif /* DW_SCHED_MPMC_H */
