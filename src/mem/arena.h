/*
 * arena.h — the one allocation an open VDE makes, carved into its components' pieces.
 *
 * Opening works in two phases. First every component plans its piece (bytes and
 * alignment), which reserves those bytes in the budget; a piece that does not fit is
 * refused before anything is allocated. Then dw_arena_allocate maps the sum once,
 * prefaulted so the hot path never takes a page fault, optionally locked in RAM, and
 * hands each component its piece. Closing unmaps it and returns every byte to the budget.
 *
 * The arena never allocates after dw_arena_allocate and never grows. It owns every
 * budget reservation made after dw_arena_init: nothing else may reserve from the same
 * budget while the arena is being planned.
 */
#ifndef DW_MEM_ARENA_H
#define DW_MEM_ARENA_H

#include <stdbool.h>
#include <stdint.h>

#include "mem/budget.h"

#define DW_ARENA_PIECES_MAX DW_BUDGET_COMPONENTS_MAX
/* The largest alignment a piece may ask for: a page, which O_DIRECT needs at most. */
#define DW_ARENA_ALIGNMENT_MAX 4096

typedef struct dw_arena_piece {
    uint32_t component_id;          /* in the budget */
    uint64_t offset;                /* from the start of the mapping */
    uint64_t bytes;                 /* what the component asked for */
    uint64_t charged_bytes;         /* asked for plus the padding in front of it */
    bool external;                  /* reserved only: the memory is the kernel's (io_uring rings) */
} dw_arena_piece;

typedef struct dw_arena {
    dw_budget *budget;
    uint32_t budget_mark;           /* components before the arena's, kept on close */
    unsigned char *base;            /* NULL until allocated */
    uint64_t planned_bytes;         /* end of the last piece */
    uint64_t mapped_bytes;          /* planned, rounded up to whole pages */
    bool locked;
    bool charged;                   /* the pieces are charged to the budget as used */
    uint32_t piece_count;
    dw_arena_piece pieces[DW_ARENA_PIECES_MAX];
    uint32_t page_rounding_component; /* the budget entry for the last page's slack */
} dw_arena;

void dw_arena_init(dw_arena *arena, dw_budget *budget);

/* Plans a piece of `bytes` aligned to `alignment` (a power of two up to
 * DW_ARENA_ALIGNMENT_MAX) for `component`, reserving it (with any padding needed to align
 * it) in the budget. Fails with DW_ENOMEM_BUDGET from the budget, reserving nothing. */
int dw_arena_plan(dw_arena *arena, const char *component, uint64_t bytes, uint64_t alignment,
                  uint32_t *piece, dw_diag *diag);

/* Reserves `bytes` for memory the engine holds but does not map itself (the kernel maps
 * io_uring's rings), so that the budget counts every byte an open VDE holds. */
int dw_arena_plan_external(dw_arena *arena, const char *component, uint64_t bytes, dw_diag *diag);

/* Maps every planned piece at once. With `lock`, the mapping is locked in RAM and a
 * failure names RLIMIT_MEMLOCK. On failure nothing stays mapped and every reservation
 * the arena made is released. */
int dw_arena_allocate(dw_arena *arena, bool lock, dw_diag *diag);

/* The memory of a piece, after dw_arena_allocate. */
void *dw_arena_piece_memory(const dw_arena *arena, uint32_t piece);

/* Unmaps the arena (when allocated) and releases its reservations. Safe to call after a
 * failed plan or allocate, and twice. */
void dw_arena_close(dw_arena *arena);

#endif /* DW_MEM_ARENA_H */
