/*
 * arena.c — one anonymous mapping, prefaulted and optionally locked, carved by plan.
 *
 * mmap rather than malloc: the mapping is page-aligned (what O_DIRECT buffers need),
 * MAP_POPULATE touches every page now instead of on the first I/O, and munmap returns
 * the memory to the system whole at close.
 */
#include "mem/arena.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/config.h"
#include "core/error.h"
#include "core/text.h"

static uint64_t align_up(uint64_t value, uint64_t alignment)
{
    return (value + alignment - 1) & ~(alignment - 1);
}

void dw_arena_init(dw_arena *arena, dw_budget *budget)
{
    DW_ASSERT(arena != NULL && budget != NULL);
    memset(arena, 0, sizeof *arena);
    arena->budget = budget;
    arena->budget_mark = dw_budget_mark(budget);
    arena->page_rounding_component = UINT32_MAX;
}

int dw_arena_plan(dw_arena *arena, const char *component, uint64_t bytes, uint64_t alignment,
                  uint32_t *piece, dw_diag *diag)
{
    DW_ASSERT(arena->base == NULL); /* pieces are planned before the one allocation */
    DW_ASSERT(alignment > 0 && (alignment & (alignment - 1)) == 0);
    DW_ASSERT(alignment <= DW_ARENA_ALIGNMENT_MAX);
    DW_ASSERT(arena->piece_count < DW_ARENA_PIECES_MAX);
    /* Closing rolls the budget back to the arena's mark, so every reservation after the
     * mark must be the arena's own: nothing else may reserve while an arena is planned. */
    DW_ASSERT(dw_budget_mark(arena->budget) == arena->budget_mark + arena->piece_count);
    uint64_t offset = align_up(arena->planned_bytes, alignment);
    uint64_t charged = offset - arena->planned_bytes + bytes;
    uint32_t component_id = 0;
    int result = dw_budget_reserve(arena->budget, component, charged, &component_id, diag);
    if (result != DW_OK) {
        return result;
    }
    dw_arena_piece *entry = &arena->pieces[arena->piece_count];
    entry->component_id = component_id;
    entry->offset = offset;
    entry->bytes = bytes;
    entry->charged_bytes = charged;
    arena->planned_bytes = offset + bytes;
    *piece = arena->piece_count++;
    return DW_OK;
}

int dw_arena_plan_external(dw_arena *arena, const char *component, uint64_t bytes, dw_diag *diag)
{
    DW_ASSERT(arena->base == NULL);
    DW_ASSERT(arena->piece_count < DW_ARENA_PIECES_MAX);
    DW_ASSERT(dw_budget_mark(arena->budget) == arena->budget_mark + arena->piece_count);
    uint32_t component_id = 0;
    int result = dw_budget_reserve(arena->budget, component, bytes, &component_id, diag);
    if (result != DW_OK) {
        return result;
    }
    arena->pieces[arena->piece_count++] = (dw_arena_piece){
        .component_id = component_id,
        .bytes = bytes,
        .charged_bytes = bytes,
        .external = true,
    };
    return DW_OK;
}

static int lock_failure(dw_arena *arena, int error_number, dw_diag *diag)
{
    struct rlimit limit = {0, 0};
    char limit_text[48];
    char size_text[32];
    dw_format_size(arena->mapped_bytes, size_text, sizeof size_text);
    if (getrlimit(RLIMIT_MEMLOCK, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
        dw_format_size((uint64_t)limit.rlim_cur, limit_text, sizeof limit_text);
    } else {
        dw_format(limit_text, sizeof limit_text, "unlimited");
    }
    char hint[DW_DIAG_HINT_MAX];
    dw_format(hint, sizeof hint,
              "raise RLIMIT_MEMLOCK to at least %s (ulimit -l, LimitMEMLOCK= in a systemd "
              "unit, /etc/security/limits.conf), or set memory.lock = false",
              size_text);
    return dw_diag_fail(diag, DW_ENOMEM, hint,
                        "cannot lock %s of engine memory in RAM: RLIMIT_MEMLOCK allows %s "
                        "(mlock: %s)",
                        size_text, limit_text, strerror(error_number));
}

/* Mapped and populated (or held by the kernel): every piece is now in use, and the
 * budget says so. */
static void arena_charge(dw_arena *arena)
{
    for (uint32_t i = 0; i < arena->piece_count; i++) {
        int result = dw_budget_charge(arena->budget, arena->pieces[i].component_id,
                                      arena->pieces[i].charged_bytes, NULL);
        DW_ASSERT(result == DW_OK); /* a charge equal to its own reservation always fits */
    }
    arena->charged = true;
}

int dw_arena_allocate(dw_arena *arena, bool lock, dw_diag *diag)
{
    DW_ASSERT(arena->base == NULL && !arena->charged);
    if (arena->planned_bytes == 0) {
        arena_charge(arena); /* external pieces only, or nothing at all */
        return DW_OK;
    }
    uint64_t page_bytes = (uint64_t)sysconf(_SC_PAGESIZE);
    DW_ASSERT(page_bytes >= DW_ARENA_ALIGNMENT_MAX && (page_bytes & (page_bytes - 1)) == 0);
    arena->mapped_bytes = align_up(arena->planned_bytes, page_bytes);
    /* Every mapped byte is in the budget, including the end of the last page. */
    uint64_t slack = arena->mapped_bytes - arena->planned_bytes;
    if (slack > 0) {
        int result = dw_budget_reserve(arena->budget, "arena page rounding", slack,
                                       &arena->page_rounding_component, diag);
        if (result != DW_OK) {
            dw_arena_close(arena);
            return result;
        }
    }
    void *mapping = mmap(NULL, arena->mapped_bytes, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (mapping == MAP_FAILED) {
        int error_number = errno;
        char size_text[32];
        dw_format_size(arena->mapped_bytes, size_text, sizeof size_text);
        dw_arena_close(arena);
        return dw_diag_fail(diag, DW_ENOMEM,
                            "the machine or the address-space limit (ulimit -v) is short of "
                            "memory; lower memory.ceiling or the limits it holds",
                            "cannot map %s for the engine's memory: %s", size_text,
                            strerror(error_number));
    }
    arena->base = mapping;
    /* Charged before locking, so that closing after a failed lock discharges exactly
     * what was charged. */
    arena_charge(arena);
    if (lock) {
        if (mlock(arena->base, arena->mapped_bytes) != 0) {
            int error_number = errno;
            int result = lock_failure(arena, error_number, diag);
            dw_arena_close(arena);
            return result;
        }
        arena->locked = true;
    }
    return DW_OK;
}

void *dw_arena_piece_memory(const dw_arena *arena, uint32_t piece)
{
    DW_ASSERT(arena->base != NULL);
    DW_ASSERT(piece < arena->piece_count);
    DW_ASSERT(!arena->pieces[piece].external);
    DW_ASSERT(arena->pieces[piece].offset + arena->pieces[piece].bytes <= arena->mapped_bytes);
    return arena->base + arena->pieces[piece].offset;
}

void dw_arena_close(dw_arena *arena)
{
    if (arena->charged) {
        for (uint32_t i = 0; i < arena->piece_count; i++) {
            dw_budget_discharge(arena->budget, arena->pieces[i].component_id,
                                arena->pieces[i].charged_bytes);
        }
        arena->charged = false;
    }
    if (arena->base != NULL) {
        if (arena->locked) {
            (void)munlock(arena->base, arena->mapped_bytes);
        }
        int result = munmap(arena->base, arena->mapped_bytes);
        DW_ASSERT(result == 0); /* only fails for a range that was never mapped */
        arena->base = NULL;
    }
    dw_budget_rollback(arena->budget, arena->budget_mark);
    arena->piece_count = 0;
    arena->planned_bytes = 0;
    arena->mapped_bytes = 0;
    arena->locked = false;
    arena->page_rounding_component = UINT32_MAX;
}
