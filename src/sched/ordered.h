/*
 * ordered.h — the globally ordered queue: a fixed-capacity min-heap of values keyed by
 * a Lamport stamp (time, core) and, for stamps that are equal, by insertion order.
 *
 * Events stamped by several sources (cores, each with its own Lamport clock) go in
 * in whatever order they arrive and come out in one total order that every run and
 * every machine agrees on. The heap lives in memory given at init and never grows; a
 * push to a full heap is refused. It belongs to one thread (the CPU scheduler's driving
 * thread), so it takes no lock.
 */
#ifndef DW_SCHED_ORDERED_H
#define DW_SCHED_ORDERED_H

#include <stdbool.h>
#include <stdint.h>

/* A Lamport timestamp with the core (or other source) whose clock made it. */
typedef struct dw_stamp {
    uint64_t time;
    uint32_t core;
} dw_stamp;

typedef struct dw_ordered_entry {
    dw_stamp stamp;
    uint64_t sequence;      /* insertion order: equal stamps leave first in, first out */
    uint64_t value;
} dw_ordered_entry;

typedef struct dw_ordered {
    dw_ordered_entry *entries;
    uint32_t capacity;
    uint32_t count;
    uint64_t next_sequence;
} dw_ordered;

uint64_t dw_ordered_memory_bytes(uint32_t capacity);
void dw_ordered_init(dw_ordered *queue, void *memory, uint32_t capacity);

/* False when the queue is full. */
bool dw_ordered_push(dw_ordered *queue, dw_stamp stamp, uint64_t value);

/* The first entry in (time, core, insertion) order; false when empty. */
bool dw_ordered_peek(const dw_ordered *queue, dw_ordered_entry *entry);
bool dw_ordered_pop(dw_ordered *queue, dw_ordered_entry *entry);

static inline uint32_t dw_ordered_count(const dw_ordered *queue)
{
    return queue->count;
}

#endif /* DW_SCHED_ORDERED_H */
