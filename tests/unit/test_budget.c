/*
 * test_budget.c — reservations against the ceiling: what fits is granted, the first that
 * does not is refused with a message naming it, and nothing is left half-reserved; use
 * within reservations, high water, pressure callbacks, rollback.
 */
#include "harness.h"

#include <pthread.h>
#include <string.h>

#include "mem/budget.h"

#define MIB (UINT64_C(1) << 20)

static void components_that_fit_are_reserved_the_first_that_does_not_is_refused(void **state)
{
    (void)state;
    dw_budget budget;
    dw_budget_init(&budget, 10 * MIB, 85);
    uint32_t pool = 99;
    uint32_t cache = 99;
    uint32_t index = 99;
    dw_diag diag;
    dw_diag_clear(&diag);
    assert_int_equal(dw_budget_reserve(&budget, "pool", 4 * MIB, &pool, &diag), DW_OK);
    assert_int_equal(dw_budget_reserve(&budget, "cache", 3 * MIB, &cache, &diag), DW_OK);
    assert_int_equal(pool, 0);
    assert_int_equal(cache, 1);
    assert_int_equal(dw_budget_reserve(&budget, "key index", 5 * MIB, &index, &diag),
                     DW_ENOMEM_BUDGET);
    assert_int_equal(diag.code, DW_ENOMEM_BUDGET);
    assert_string_equal(diag.message,
                        "cannot reserve 5MiB (5242880 bytes) for 'key index': only 3MiB of the "
                        "10MiB memory ceiling is left (reserved: pool 4MiB, cache 3MiB)");
    assert_string_equal(diag.hint, "raise memory.ceiling to at least 12MiB, or lower the limits "
                                   "that size 'key index'");
    /* Nothing of the refused request was kept. */
    assert_int_equal(index, 99);
    assert_int_equal(budget.component_count, 2);
    assert_int_equal(budget.reserved_bytes, 7 * MIB);
    assert_int_equal(dw_budget_available_bytes(&budget), 3 * MIB);
    /* What is left can be reserved exactly. */
    assert_int_equal(dw_budget_reserve(&budget, "key index", 3 * MIB, &index, &diag), DW_OK);
    assert_int_equal(dw_budget_available_bytes(&budget), 0);
    assert_int_equal(dw_budget_reserve(&budget, "one more byte", 1, &index, NULL), DW_ENOMEM_BUDGET);
}

static void rollback_returns_the_budget_to_its_mark(void **state)
{
    (void)state;
    dw_budget budget;
    dw_budget_init(&budget, 10 * MIB, 85);
    uint32_t id = 0;
    assert_int_equal(dw_budget_reserve(&budget, "kept", MIB, &id, NULL), DW_OK);
    uint32_t mark = dw_budget_mark(&budget);
    assert_int_equal(dw_budget_reserve(&budget, "a", 2 * MIB, &id, NULL), DW_OK);
    assert_int_equal(dw_budget_charge(&budget, id, MIB, NULL), DW_OK);
    assert_int_equal(dw_budget_reserve(&budget, "b", 3 * MIB, &id, NULL), DW_OK);
    assert_int_equal(dw_budget_reserve(&budget, "too big", 9 * MIB, &id, NULL), DW_ENOMEM_BUDGET);
    dw_budget_rollback(&budget, mark);
    assert_int_equal(budget.component_count, 1);
    assert_int_equal(budget.reserved_bytes, MIB);
    assert_int_equal(budget.used_bytes, 0);
    assert_int_equal(budget.reserved_high_water_bytes, 6 * MIB);
    assert_string_equal(budget.components[0].name, "kept");
    dw_budget_release(&budget, 0);
    assert_int_equal(budget.reserved_bytes, 0);
    assert_false(budget.components[0].active);
}

static void use_stays_within_the_reservation(void **state)
{
    (void)state;
    dw_budget budget;
    dw_budget_init(&budget, 100 * MIB, 85);
    uint32_t id = 0;
    assert_int_equal(dw_budget_reserve(&budget, "cache", 10 * MIB, &id, NULL), DW_OK);
    assert_int_equal(dw_budget_charge(&budget, id, 6 * MIB, NULL), DW_OK);
    assert_int_equal(dw_budget_charge(&budget, id, 4 * MIB, NULL), DW_OK);
    dw_diag diag;
    dw_diag_clear(&diag);
    assert_int_equal(dw_budget_charge(&budget, id, 1, &diag), DW_ENOMEM_BUDGET);
    assert_non_null(strstr(diag.message, "'cache' cannot use"));
    assert_int_equal(budget.components[id].used_bytes, 10 * MIB);
    dw_budget_discharge(&budget, id, 7 * MIB);
    assert_int_equal(budget.components[id].used_bytes, 3 * MIB);
    assert_int_equal(budget.components[id].used_high_water_bytes, 10 * MIB);
    assert_int_equal(budget.used_bytes, 3 * MIB);
    assert_int_equal(budget.used_high_water_bytes, 10 * MIB);
    dw_budget_discharge(&budget, id, 3 * MIB);
    dw_budget_release(&budget, id);
    assert_int_equal(budget.reserved_bytes, 0);
}

typedef struct pressure_record {
    dw_budget *budget;
    uint32_t component;
    int calls;
    uint64_t used_seen;
    uint64_t shrink_bytes;
} pressure_record;

static void on_pressure(void *context, uint64_t used_bytes, uint64_t ceiling_bytes)
{
    pressure_record *record = context;
    record->calls++;
    record->used_seen = used_bytes;
    assert_int_equal(ceiling_bytes, 100);
    if (record->shrink_bytes > 0) {
        dw_budget_discharge(record->budget, record->component, record->shrink_bytes);
    }
}

static void pressure_callbacks_run_once_per_crossing(void **state)
{
    (void)state;
    dw_budget budget;
    dw_budget_init(&budget, 100, 85);
    assert_int_equal(budget.pressure_bytes, 85);
    uint32_t id = 0;
    assert_int_equal(dw_budget_reserve(&budget, "cache", 100, &id, NULL), DW_OK);
    pressure_record record = {.budget = &budget, .component = id};
    assert_int_equal(dw_budget_on_pressure(&budget, on_pressure, &record), DW_OK);
    assert_int_equal(dw_budget_charge(&budget, id, 84, NULL), DW_OK);
    assert_int_equal(record.calls, 0);
    assert_int_equal(dw_budget_charge(&budget, id, 1, NULL), DW_OK);
    assert_int_equal(record.calls, 1);
    assert_int_equal(record.used_seen, 85);
    assert_int_equal(dw_budget_charge(&budget, id, 10, NULL), DW_OK);
    assert_int_equal(record.calls, 1); /* still above: no second call */
    dw_budget_discharge(&budget, id, 20);
    assert_false(budget.under_pressure);
    /* A callback that shrinks the component below the threshold re-arms it itself. */
    record.shrink_bytes = 30;
    assert_int_equal(dw_budget_charge(&budget, id, 15, NULL), DW_OK);
    assert_int_equal(record.calls, 2);
    assert_int_equal(budget.used_bytes, 60);
    assert_false(budget.under_pressure);
    assert_int_equal(budget.pressure_events, 2);
}

static void tables_have_limits(void **state)
{
    (void)state;
    static dw_budget budget;
    dw_budget_init(&budget, UINT64_MAX, 85);
    /* The threshold of a huge ceiling is computed without overflow. */
    assert_true(budget.pressure_bytes > UINT64_MAX / 100 * 84);
    assert_true(budget.pressure_bytes < UINT64_MAX / 100 * 86);
    uint32_t id = 0;
    for (int i = 0; i < DW_BUDGET_COMPONENTS_MAX; i++) {
        char name[16];
        (void)snprintf(name, sizeof name, "c%d", i);
        assert_int_equal(dw_budget_reserve(&budget, name, 1, &id, NULL), DW_OK);
    }
    dw_diag diag;
    dw_diag_clear(&diag);
    assert_int_equal(dw_budget_reserve(&budget, "extra", 1, &id, &diag), DW_EINVAL);
    assert_non_null(strstr(diag.message, "its maximum"));
    pressure_record record = {0};
    for (int i = 0; i < DW_BUDGET_CALLBACKS_MAX; i++) {
        assert_int_equal(dw_budget_on_pressure(&budget, on_pressure, &record), DW_OK);
    }
    assert_int_equal(dw_budget_on_pressure(&budget, on_pressure, &record), DW_EINVAL);
}

enum { CHARGING_THREADS = 4, CHARGES_PER_THREAD = 100000 };

typedef struct charge_argument {
    dw_budget *budget;
    uint32_t component;
    int refused;
} charge_argument;

static void *charge_many(void *argument)
{
    charge_argument *work = argument;
    for (int i = 0; i < CHARGES_PER_THREAD; i++) {
        if (dw_budget_charge(work->budget, work->component, 3, NULL) == DW_OK) {
            dw_budget_discharge(work->budget, work->component, 3);
        } else {
            work->refused++;
        }
    }
    return NULL;
}

static void charges_from_many_threads_never_exceed_the_reservation(void **state)
{
    (void)state;
    dw_budget budget;
    dw_budget_init(&budget, 1000, 85);
    uint32_t id = 0;
    /* Room for three charges of 3 at once, for four threads: some must be refused. */
    assert_int_equal(dw_budget_reserve(&budget, "shared", 9, &id, NULL), DW_OK);
    pthread_t threads[CHARGING_THREADS];
    charge_argument arguments[CHARGING_THREADS];
    for (int i = 0; i < CHARGING_THREADS; i++) {
        arguments[i] = (charge_argument){&budget, id, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, charge_many, &arguments[i]), 0);
    }
    for (int i = 0; i < CHARGING_THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    }
    assert_int_equal(budget.components[id].used_bytes, 0);
    assert_int_equal(budget.used_bytes, 0);
    assert_true(budget.components[id].used_high_water_bytes <= 9);
    assert_true(budget.components[id].used_high_water_bytes >= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(components_that_fit_are_reserved_the_first_that_does_not_is_refused),
        cmocka_unit_test(rollback_returns_the_budget_to_its_mark),
        cmocka_unit_test(use_stays_within_the_reservation),
        cmocka_unit_test(pressure_callbacks_run_once_per_crossing),
        cmocka_unit_test(tables_have_limits),
        cmocka_unit_test(charges_from_many_threads_never_exceed_the_reservation),
    };
    return cmocka_run_group_tests_name("budget", tests, NULL, NULL);
}
