/*
 * stack.c — see stack.h. Only for `dw-bench`'s runners: it allocates the stack itself and the
 * simulated disk's memory with the C library, which the engine proper never does.
 */
#include "stack.h"

#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/error.h"

#define STACK_PENDING_BYTES (UINT32_C(4) << 20)

static int open_layers(dw_stack *stack, const dw_stack_options *options, dw_diag *diag)
{
    const dw_config *config = options->config;
    dw_budget_init(&stack->budget, config->memory_ceiling_bytes, config->pressure_percent);
    dw_arena_init(&stack->arena, &stack->budget);
    int result = dw_pool_plan_in(&stack->arena, config->buffer_count, config->block_size,
                                 &stack->pool_plan, diag);
    if (result == DW_OK) {
        result = dw_io_plan_in(&stack->arena, config->queue_depth, &stack->io_plan, diag);
    }
    if (result == DW_OK) {
        result = dw_sched_plan_in(&stack->arena, config, &stack->sched_plan, diag);
    }
    if (result == DW_OK) {
        result = dw_arena_allocate(&stack->arena, config->memory_lock, diag);
    }
    if (result != DW_OK) {
        return result;
    }
    if (options->sim) {
        uint64_t bytes = dw_sim_disk_memory_bytes(options->size_bytes, STACK_PENDING_BYTES);
        stack->sim_memory = malloc((size_t)bytes);
        if (stack->sim_memory == NULL) {
            return dw_diag_fail(diag, DW_ENOMEM, "use a smaller --size", "cannot allocate the simulated disk");
        }
        dw_sim_disk_init(&stack->sim, stack->sim_memory, options->size_bytes, STACK_PENDING_BYTES,
                         options->seed, &options->faults);
        stack->clock = &stack->sim.clock.clock;
    }
    stack->pool = dw_pool_open_in(&stack->arena, &stack->pool_plan, stack->clock);
    dw_io_options io_options = {
        .path = options->sim ? "sim:bench" : options->path,
        .backend = options->sim ? DW_IO_BACKEND_SIM : config->io_backend,
        .queue_depth = config->queue_depth,
        .block_size = config->block_size,
        .size_bytes = options->sim ? 0 : options->size_bytes,
        .create = true,
        .direct = config->io_direct,
        .sqpoll = config->io_sqpoll,
        .pool = stack->pool,
        .clock = stack->clock,
        .log = options->log,
        .sim_disk = options->sim ? &stack->sim : NULL,
    };
    result = dw_io_open(&stack->io, &stack->arena, &stack->io_plan, &io_options, diag);
    if (result != DW_OK) {
        return result;
    }
    result = dw_sched_open(&stack->sched, &stack->arena, &stack->sched_plan, config, &stack->io,
                           stack->pool, stack->clock, options->log, diag);
    if (result != DW_OK) {
        dw_io_close(&stack->io);
    }
    return result;
}

dw_stack *dw_stack_open(const dw_stack_options *options, dw_diag *diag)
{
    DW_ASSERT(options != NULL && options->config != NULL);
    size_t bytes = (sizeof(dw_stack) + _Alignof(dw_stack) - 1) / _Alignof(dw_stack) * _Alignof(dw_stack);
    dw_stack *stack = aligned_alloc(_Alignof(dw_stack), bytes);
    if (stack == NULL) {
        (void)dw_diag_fail(diag, DW_ENOMEM, NULL, "cannot allocate the engine stack");
        return NULL;
    }
    memset(stack, 0, sizeof *stack);
    dw_clock_system_init(&stack->system_clock, 10 * DW_NS_PER_MS);
    stack->clock = &stack->system_clock;
    if (open_layers(stack, options, diag) != DW_OK) {
        dw_arena_close(&stack->arena);
        free(stack->sim_memory);
        free(stack);
        return NULL;
    }
    return stack;
}

void dw_stack_close(dw_stack *stack)
{
    if (stack == NULL) {
        return;
    }
    if (!stack->stopped) {
        (void)dw_sched_stop(&stack->sched, DW_NS_PER_S);
    }
    dw_arena_close(&stack->arena);
    free(stack->sim_memory);
    free(stack);
}
