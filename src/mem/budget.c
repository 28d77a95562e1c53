/*
 * budget.c — reservations against the memory ceiling, use within them, and pressure.
 *
 * The refusal message is the point of this file: when a configuration does not fit, the
 * user must learn which component, how much it wanted, how much was left and who holds
 * the rest, without reading code.
 */
#include "mem/budget.h"

#include <stdatomic.h>
#include <string.h>

#include "core/assert.h"
#include "core/config.h"
#include "core/error.h"
#include "core/text.h"

void dw_budget_init(dw_budget *budget, uint64_t ceiling_bytes, uint32_t pressure_percent)
{
    DW_ASSERT(budget != NULL);
    DW_ASSERT(pressure_percent >= 1 && pressure_percent <= 100);
    memset(budget, 0, sizeof *budget);
    budget->ceiling_bytes = ceiling_bytes;
    /* Divide first: the ceiling may be close to 2^64 in a test, the percentage never. */
    budget->pressure_bytes = ceiling_bytes / 100 * pressure_percent +
                             ceiling_bytes % 100 * pressure_percent / 100;
    atomic_init(&budget->used_bytes, 0);
    atomic_init(&budget->used_high_water_bytes, 0);
    atomic_init(&budget->under_pressure, false);
    atomic_init(&budget->pressure_events, 0);
}

uint64_t dw_budget_available_bytes(const dw_budget *budget)
{
    DW_ASSERT(budget->reserved_bytes <= budget->ceiling_bytes);
    return budget->ceiling_bytes - budget->reserved_bytes;
}

/* "pool 4MiB, cache 1MiB": who holds the reserved bytes, for the refusal message. */
static void describe_holders(const dw_budget *budget, char *text, size_t text_size)
{
    text[0] = '\0';
    for (uint32_t i = 0; i < budget->component_count; i++) {
        const dw_budget_component *component = &budget->components[i];
        size_t used = strlen(text);
        if (!component->active || used + 1 >= text_size) {
            continue;
        }
        char size[32];
        dw_format(text + used, text_size - used, "%s%s %s", used > 0 ? ", " : "",
                  component->name, dw_format_size(component->reserved_bytes, size, sizeof size));
    }
    if (text[0] == '\0') {
        dw_format(text, text_size, "nothing yet");
    }
}

int dw_budget_reserve(dw_budget *budget, const char *component, uint64_t bytes,
                      uint32_t *component_id, dw_diag *diag)
{
    DW_ASSERT(budget != NULL && component != NULL && component_id != NULL);
    DW_ASSERT(strlen(component) < DW_BUDGET_NAME_MAX);
    if (budget->component_count == DW_BUDGET_COMPONENTS_MAX) {
        return dw_diag_fail(diag, DW_EINVAL, "this is a limit of the build, not of the configuration",
                            "cannot reserve memory for '%s': the budget already tracks %d "
                            "components, its maximum",
                            component, DW_BUDGET_COMPONENTS_MAX);
    }
    uint64_t available = dw_budget_available_bytes(budget);
    if (bytes > available) {
        char wanted[32];
        char left[32];
        char ceiling[32];
        char needed[32];
        char holders[256];
        describe_holders(budget, holders, sizeof holders);
        dw_format_size(bytes, wanted, sizeof wanted);
        dw_format_size(available, left, sizeof left);
        dw_format_size(budget->ceiling_bytes, ceiling, sizeof ceiling);
        /* What the ceiling would have to be, rounded up to whole KiB so the hint can be
         * pasted into a configuration file. */
        uint64_t needed_bytes = budget->reserved_bytes + bytes;
        needed_bytes = (needed_bytes + 1023) / 1024 * 1024;
        dw_format_size(needed_bytes, needed, sizeof needed);
        char hint[DW_DIAG_HINT_MAX];
        dw_format(hint, sizeof hint,
                  "raise memory.ceiling to at least %s, or lower the limits that size '%s'",
                  needed, component);
        return dw_diag_fail(diag, DW_ENOMEM_BUDGET, hint,
                            "cannot reserve %s (%llu bytes) for '%s': only %s of the %s memory "
                            "ceiling is left (reserved: %s)",
                            wanted, (unsigned long long)bytes, component, left, ceiling, holders);
    }
    uint32_t id = budget->component_count++;
    dw_budget_component *entry = &budget->components[id];
    memset(entry, 0, sizeof *entry);
    dw_format(entry->name, sizeof entry->name, "%s", component);
    entry->active = true;
    entry->reserved_bytes = bytes;
    atomic_init(&entry->used_bytes, 0);
    atomic_init(&entry->used_high_water_bytes, 0);
    budget->reserved_bytes += bytes;
    if (budget->reserved_bytes > budget->reserved_high_water_bytes) {
        budget->reserved_high_water_bytes = budget->reserved_bytes;
    }
    DW_ASSERT(budget->reserved_bytes <= budget->ceiling_bytes);
    *component_id = id;
    return DW_OK;
}

void dw_budget_release(dw_budget *budget, uint32_t component_id)
{
    DW_ASSERT(component_id < budget->component_count);
    dw_budget_component *component = &budget->components[component_id];
    DW_ASSERT(component->active);
    /* A component gives back what it used before it gives back its reservation. */
    DW_ASSERT(atomic_load(&component->used_bytes) == 0);
    component->active = false;
    DW_ASSERT(budget->reserved_bytes >= component->reserved_bytes);
    budget->reserved_bytes -= component->reserved_bytes;
}

uint32_t dw_budget_mark(const dw_budget *budget)
{
    return budget->component_count;
}

void dw_budget_rollback(dw_budget *budget, uint32_t mark)
{
    DW_ASSERT(mark <= budget->component_count);
    while (budget->component_count > mark) {
        uint32_t id = budget->component_count - 1;
        dw_budget_component *component = &budget->components[id];
        uint64_t used = atomic_load(&component->used_bytes);
        if (used > 0) {
            dw_budget_discharge(budget, id, used);
        }
        if (component->active) {
            dw_budget_release(budget, id);
        }
        budget->component_count--;
    }
}

static void raise_high_water(_Atomic uint64_t *high_water, uint64_t value)
{
    uint64_t seen = atomic_load_explicit(high_water, memory_order_relaxed);
    while (value > seen &&
           !atomic_compare_exchange_weak_explicit(high_water, &seen, value, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

int dw_budget_charge(dw_budget *budget, uint32_t component_id, uint64_t bytes, dw_diag *diag)
{
    DW_ASSERT(component_id < budget->component_count);
    dw_budget_component *component = &budget->components[component_id];
    DW_ASSERT(component->active);
    uint64_t used = atomic_load_explicit(&component->used_bytes, memory_order_relaxed);
    do {
        if (bytes > component->reserved_bytes - used) {
            char reserved[32];
            char wanted[32];
            return dw_diag_fail(diag, DW_ENOMEM_BUDGET,
                                "the component's estimate at open was too small: this is a bug",
                                "'%s' cannot use %s more: it has used %llu of the %s it reserved",
                                component->name, dw_format_size(bytes, wanted, sizeof wanted),
                                (unsigned long long)used,
                                dw_format_size(component->reserved_bytes, reserved, sizeof reserved));
        }
    } while (!atomic_compare_exchange_weak_explicit(&component->used_bytes, &used, used + bytes,
                                                    memory_order_relaxed, memory_order_relaxed));
    raise_high_water(&component->used_high_water_bytes, used + bytes);

    uint64_t total = atomic_fetch_add_explicit(&budget->used_bytes, bytes, memory_order_acq_rel) + bytes;
    raise_high_water(&budget->used_high_water_bytes, total);
    if (total >= budget->pressure_bytes && budget->pressure_bytes > 0) {
        bool expected = false;
        /* Only the charge that flips the state runs the callbacks: one event per crossing. */
        if (atomic_compare_exchange_strong(&budget->under_pressure, &expected, true)) {
            atomic_fetch_add(&budget->pressure_events, 1);
            for (uint32_t i = 0; i < budget->callback_count; i++) {
                budget->callbacks[i].function(budget->callbacks[i].context, total,
                                              budget->ceiling_bytes);
            }
        }
    }
    return DW_OK;
}

void dw_budget_discharge(dw_budget *budget, uint32_t component_id, uint64_t bytes)
{
    DW_ASSERT(component_id < budget->component_count);
    dw_budget_component *component = &budget->components[component_id];
    uint64_t before = atomic_fetch_sub_explicit(&component->used_bytes, bytes, memory_order_relaxed);
    DW_ASSERT(before >= bytes);
    uint64_t total_before = atomic_fetch_sub_explicit(&budget->used_bytes, bytes, memory_order_acq_rel);
    DW_ASSERT(total_before >= bytes);
    if (total_before - bytes < budget->pressure_bytes) {
        atomic_store(&budget->under_pressure, false); /* re-armed for the next crossing */
    }
}

int dw_budget_on_pressure(dw_budget *budget, dw_budget_pressure_fn function, void *context)
{
    DW_ASSERT(budget != NULL && function != NULL);
    if (budget->callback_count == DW_BUDGET_CALLBACKS_MAX) {
        return DW_EINVAL;
    }
    budget->callbacks[budget->callback_count].function = function;
    budget->callbacks[budget->callback_count].context = context;
    budget->callback_count++;
    return DW_OK;
}
