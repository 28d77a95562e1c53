/*
 * test_task.c — tasks can only be built valid: each wrong field is refused with what is
 * allowed, a task changed after its build is caught by its seal, and guards are
 * registered by name, looked up by id and asked in order.
 */
#include "harness.h"

#include <string.h>

#include "sched/task.h"

static uint64_t work_returns_id(void *argument, uint64_t task_id)
{
    (void)argument;
    return task_id * 3;
}

static dw_task_spec valid_spec(void)
{
    dw_task_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.id = 17;
    spec.tick_budget = 1000;
    spec.priority = DW_TASK_NORMAL;
    spec.work = work_returns_id;
    return spec;
}

static void a_valid_spec_builds_a_sealed_task(void **state)
{
    (void)state;
    dw_task_spec spec = valid_spec();
    spec.guard_count = 2;
    spec.guards[0] = 1;
    spec.guards[1] = 0;
    spec.guards[5] = 77; /* beyond guard_count: ignored and cleared */
    dw_task task;
    dw_diag diag;
    assert_int_equal(dw_task_build(&task, &spec, &diag), DW_OK);
    assert_true(dw_task_sealed(&task));
    assert_int_equal(task.spec.guards[5], 0);
    assert_int_equal(task.spec.work(task.spec.argument, task.spec.id), 51);
    /* The same spec seals the same way. */
    dw_task again;
    assert_int_equal(dw_task_build(&again, &spec, &diag), DW_OK);
    assert_int_equal(again.seal, task.seal);
}

static void each_invalid_field_is_refused_with_its_range(void **state)
{
    (void)state;
    dw_task task;
    dw_diag diag;
    dw_task_spec spec = valid_spec();
    spec.priority = (dw_task_priority)3;
    assert_int_equal(dw_task_build(&task, &spec, &diag), DW_EINVAL);
    assert_non_null(strstr(diag.message, "priority 3"));
    assert_false(dw_task_sealed(&task));

    spec = valid_spec();
    spec.guard_count = DW_TASK_GUARDS_MAX + 1;
    assert_int_equal(dw_task_build(&task, &spec, &diag), DW_EINVAL);
    assert_non_null(strstr(diag.message, "9 guards"));

    spec = valid_spec();
    spec.tick_budget = 0;
    assert_int_equal(dw_task_build(&task, &spec, &diag), DW_EINVAL);
    assert_non_null(strstr(diag.message, "tick budget 0"));
    spec.tick_budget = DW_TASK_TICKS_MAX + 1;
    assert_int_equal(dw_task_build(&task, &spec, &diag), DW_EINVAL);

    spec = valid_spec();
    spec.work = NULL;
    assert_int_equal(dw_task_build(&task, &spec, &diag), DW_EINVAL);
    assert_non_null(strstr(diag.message, "no work"));

    spec = valid_spec();
    spec.guard_count = DW_TASK_GUARDS_MAX; /* the limit itself is fine */
    assert_int_equal(dw_task_build(&task, &spec, &diag), DW_OK);
}

static void a_task_changed_after_its_build_loses_its_seal(void **state)
{
    (void)state;
    dw_task_spec spec = valid_spec();
    dw_task task;
    assert_int_equal(dw_task_build(&task, &spec, NULL), DW_OK);
    dw_task changed = task;
    changed.spec.priority = DW_TASK_HIGH;
    assert_false(dw_task_sealed(&changed));
    changed = task;
    changed.spec.guard_count = 1;
    assert_false(dw_task_sealed(&changed));
    changed = task;
    changed.spec.id = 18;
    assert_false(dw_task_sealed(&changed));
    changed = task;
    changed.spec.tick_budget = 1;
    assert_false(dw_task_sealed(&changed));
    dw_task zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    assert_false(dw_task_sealed(&zeroed));
}

static bool allow_all(void *context, uint64_t task_id)
{
    (void)context;
    (void)task_id;
    return true;
}

static bool allow_even(void *context, uint64_t task_id)
{
    int *calls = context;
    (*calls)++;
    return task_id % 2 == 0;
}

static void guards_register_once_by_name(void **state)
{
    (void)state;
    static dw_guard_table table;
    dw_guard_table_init(&table);
    uint16_t id = 99;
    dw_diag diag;
    assert_int_equal(dw_guard_register(&table, "extent-allocated", allow_all, NULL, &id, &diag), DW_OK);
    assert_int_equal(id, 0);
    assert_int_equal(dw_guard_register(&table, "extent-allocated", allow_all, NULL, &id, &diag),
                     DW_EINVAL);
    assert_non_null(strstr(diag.message, "already registered"));
    assert_int_equal(dw_guard_register(&table, "", allow_all, NULL, &id, &diag), DW_EINVAL);
    assert_int_equal(dw_guard_register(&table, "no-check", NULL, NULL, &id, &diag), DW_EINVAL);
    assert_int_equal(dw_guard_register(&table, "a-name-that-is-far-too-long-to-keep", allow_all,
                                       NULL, &id, &diag),
                     DW_EINVAL);
    char name[16];
    for (int i = 1; i < DW_GUARDS_MAX; i++) {
        (void)snprintf(name, sizeof name, "guard-%d", i);
        assert_int_equal(dw_guard_register(&table, name, allow_all, NULL, &id, &diag), DW_OK);
        assert_int_equal(id, i);
    }
    assert_int_equal(dw_guard_register(&table, "one-more", allow_all, NULL, &id, &diag), DW_ENOSPC);
    assert_non_null(strstr(diag.message, "64 guards"));
}

static void admission_names_the_missing_or_refusing_guard(void **state)
{
    (void)state;
    static dw_guard_table table;
    dw_guard_table_init(&table);
    int calls = 0;
    uint16_t open_id = 0;
    uint16_t even_id = 0;
    assert_int_equal(dw_guard_register(&table, "open", allow_all, NULL, &open_id, NULL), DW_OK);
    assert_int_equal(dw_guard_register(&table, "even-only", allow_even, &calls, &even_id, NULL), DW_OK);

    dw_task_spec spec = valid_spec();
    spec.guard_count = 2;
    spec.guards[0] = open_id;
    spec.guards[1] = even_id;
    dw_task task;
    dw_diag diag;
    spec.id = 4;
    assert_int_equal(dw_task_build(&task, &spec, NULL), DW_OK);
    assert_int_equal(dw_guard_table_admit(&table, &task, &diag), DW_OK);
    spec.id = 5;
    assert_int_equal(dw_task_build(&task, &spec, NULL), DW_OK);
    assert_int_equal(dw_guard_table_admit(&table, &task, &diag), DW_EPERM);
    assert_non_null(strstr(diag.message, "even-only"));
    assert_int_equal(calls, 2);

    spec.guards[1] = 2000; /* never registered */
    assert_int_equal(dw_task_build(&task, &spec, NULL), DW_OK); /* the build knows no table */
    calls = 0;
    assert_int_equal(dw_guard_table_admit(&table, &task, &diag), DW_EINVAL);
    assert_non_null(strstr(diag.message, "guard 2000"));
    assert_int_equal(calls, 0); /* no check runs for a task naming an unknown guard */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_valid_spec_builds_a_sealed_task),
        cmocka_unit_test(each_invalid_field_is_refused_with_its_range),
        cmocka_unit_test(a_task_changed_after_its_build_loses_its_seal),
        cmocka_unit_test(guards_register_once_by_name),
        cmocka_unit_test(admission_names_the_missing_or_refusing_guard),
    };
    return cmocka_run_group_tests_name("task", tests, NULL, NULL);
}
