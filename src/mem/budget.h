/*
 * budget.h — the memory ceiling and the named reservations against it.
 *
 * Every component of an open VDE says how many bytes it needs before anything is
 * allocated; the budget either grants the whole request or refuses it, naming the
 * component, what it asked for, what is left and the ceiling. Nothing is ever
 * over-committed and nothing is granted in part.
 *
 * Reserving and releasing happen while opening and closing, on one thread. Charging and
 * discharging (what a component actually uses of its reservation, e.g. cache pages as
 * they fill) may happen on any thread and never allocate or lock.
 */
#ifndef DW_MEM_BUDGET_H
#define DW_MEM_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include "dwvd.h"

#define DW_BUDGET_COMPONENTS_MAX 32
#define DW_BUDGET_NAME_MAX 32
#define DW_BUDGET_CALLBACKS_MAX 8

/* Called once each time use crosses the pressure threshold upwards, on the thread whose
 * charge crossed it; it may discharge (shrink) but must not reserve. */
typedef void (*dw_budget_pressure_fn)(void *context, uint64_t used_bytes, uint64_t ceiling_bytes);

typedef struct dw_budget_component {
    char name[DW_BUDGET_NAME_MAX];
    bool active;                           /* false once released */
    uint64_t reserved_bytes;
    _Atomic uint64_t used_bytes;
    _Atomic uint64_t used_high_water_bytes;
} dw_budget_component;

typedef struct dw_budget {
    uint64_t ceiling_bytes;
    uint64_t pressure_bytes;               /* pressure_percent of the ceiling */
    uint64_t reserved_bytes;               /* sum over active components */
    uint64_t reserved_high_water_bytes;
    _Atomic uint64_t used_bytes;           /* sum over components */
    _Atomic uint64_t used_high_water_bytes;
    _Atomic bool under_pressure;
    _Atomic uint64_t pressure_events;      /* times the threshold was crossed upwards */
    uint32_t component_count;
    dw_budget_component components[DW_BUDGET_COMPONENTS_MAX];
    uint32_t callback_count;
    struct {
        dw_budget_pressure_fn function;
        void *context;
    } callbacks[DW_BUDGET_CALLBACKS_MAX];
} dw_budget;

/* pressure_percent is 1..100 (the config's memory.pressure_percent). */
void dw_budget_init(dw_budget *budget, uint64_t ceiling_bytes, uint32_t pressure_percent);

/* Reserves `bytes` for `component`. On success *component_id identifies it. Fails with
 * DW_ENOMEM_BUDGET (and reserves nothing) when the bytes do not fit under the ceiling,
 * or DW_EINVAL when DW_BUDGET_COMPONENTS_MAX components are already registered. */
int dw_budget_reserve(dw_budget *budget, const char *component, uint64_t bytes,
                      uint32_t *component_id, dw_diag *diag);

/* Releases one component's reservation; its use must have been discharged. */
void dw_budget_release(dw_budget *budget, uint32_t component_id);

/* The number of components registered so far: a mark to roll back to. */
uint32_t dw_budget_mark(const dw_budget *budget);

/* Releases every component registered after `mark`, newest first, so that a failed
 * open leaves the budget exactly as it found it. */
void dw_budget_rollback(dw_budget *budget, uint32_t mark);

/* Records that a component now uses `bytes` more of its reservation. Fails with
 * DW_ENOMEM_BUDGET, changing nothing, if that would exceed the reservation. */
int dw_budget_charge(dw_budget *budget, uint32_t component_id, uint64_t bytes, dw_diag *diag);
void dw_budget_discharge(dw_budget *budget, uint32_t component_id, uint64_t bytes);

/* Registers a pressure callback (at most DW_BUDGET_CALLBACKS_MAX); returns DW_EINVAL
 * when the table is full. */
int dw_budget_on_pressure(dw_budget *budget, dw_budget_pressure_fn function, void *context);

/* Bytes still free to reserve. */
uint64_t dw_budget_available_bytes(const dw_budget *budget);

#endif /* DW_MEM_BUDGET_H */
