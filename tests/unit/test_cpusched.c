/*
 * test_cpusched.c — the deterministic scheduler, step by step and with worker threads:
 * core assignment, priority within a core, commit in dispatch order, the ordered queue's
 * (time, core) order, refusals, budget overruns, the replay log, and no allocation.
 */
#include "harness.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "mem/alloc_count.h"
#include "sched/cpusched.h"

typedef struct fixture {
    dw_budget budget;
    dw_arena arena;
    dw_clock clock;
    dw_cpusched_plan plan;
    dw_guard_table guards;
    uint64_t committed_ids[4096];
    uint32_t committed_count;
    dw_cpusched sched; /* cache-line aligned members: the fixture is allocated aligned */
} fixture;

static void on_commit(void *context, const dw_task_result *result)
{
    fixture *f = context;
    if (f->committed_count < DW_ARRAY_COUNT(f->committed_ids)) {
        f->committed_ids[f->committed_count++] = result->task_id;
    }
}

static fixture *open_fixture(uint32_t workers, uint32_t slots, uint64_t log_events)
{
    fixture *f = dw_test_aligned_alloc(_Alignof(fixture), sizeof *f);
    memset(f, 0, sizeof *f);
    dw_clock_system_init(&f->clock, 0);
    dw_budget_init(&f->budget, 256ull << 20, 90);
    dw_arena_init(&f->arena, &f->budget);
    dw_guard_table_init(&f->guards);
    dw_cpusched_config config = {
        .workers = workers,
        .task_slots = slots,
        .log_events = log_events,
        .clock = &f->clock,
        .guards = &f->guards,
        .on_commit = on_commit,
        .commit_context = f,
    };
    dw_diag diag;
    assert_int_equal(dw_cpusched_plan_in(&f->arena, &config, &f->plan, &diag), DW_OK);
    assert_int_equal(dw_arena_allocate(&f->arena, false, &diag), DW_OK);
    dw_cpusched_open(&f->sched, &f->arena, &f->plan, &config);
    return f;
}

static void close_fixture(fixture *f)
{
    dw_cpusched_stop(&f->sched);
    dw_arena_close(&f->arena);
    free(f);
}

static uint64_t work_hash(void *argument, uint64_t task_id)
{
    (void)argument;
    return dw_xxh3_64(&task_id, sizeof task_id, 7);
}

static dw_task make_task(uint64_t id, dw_task_priority priority)
{
    dw_task_spec spec = {.id = id, .tick_budget = DW_TASK_TICKS_MAX, .priority = priority,
                         .work = work_hash};
    dw_task task;
    assert_int_equal(dw_task_build(&task, &spec, NULL), DW_OK);
    return task;
}

static void plans_refuse_bad_counts(void **state)
{
    (void)state;
    dw_budget budget;
    dw_arena arena;
    dw_clock clock;
    dw_clock_system_init(&clock, 0);
    dw_budget_init(&budget, 64ull << 20, 90);
    dw_arena_init(&arena, &budget);
    dw_cpusched_plan plan;
    dw_diag diag;
    dw_cpusched_config config = {.workers = 3, .task_slots = 16, .clock = &clock};
    assert_int_equal(dw_cpusched_plan_in(&arena, &config, &plan, &diag), DW_EINVAL);
    assert_non_null(strstr(diag.message, "3 CPU workers"));
    config.workers = 512;
    assert_int_equal(dw_cpusched_plan_in(&arena, &config, &plan, &diag), DW_EINVAL);
    config.workers = 4;
    config.task_slots = 0;
    assert_int_equal(dw_cpusched_plan_in(&arena, &config, &plan, &diag), DW_EINVAL);
    config.task_slots = DW_CPUSCHED_SLOTS_MAX + 1;
    assert_int_equal(dw_cpusched_plan_in(&arena, &config, &plan, &diag), DW_EINVAL);
    /* The budget is asked: 256 workers with 65536 slots do not fit in 1 MiB. */
    dw_budget_init(&budget, 1u << 20, 90);
    dw_arena_init(&arena, &budget);
    config.workers = 256;
    config.task_slots = DW_CPUSCHED_SLOTS_MAX;
    assert_int_equal(dw_cpusched_plan_in(&arena, &config, &plan, &diag), DW_ENOMEM_BUDGET);
    dw_arena_close(&arena);
    /* The default worker count is a power of two. */
    uint32_t workers = dw_cpusched_default_workers();
    assert_true(workers >= 1 && workers <= 256 && (workers & (workers - 1)) == 0);
}

static void tasks_land_on_id_and_mask_and_commit_in_order(void **state)
{
    (void)state;
    fixture *f = open_fixture(4, 64, 256);
    for (uint64_t id = 0; id < 16; id++) {
        dw_task task = make_task(id, DW_TASK_NORMAL);
        assert_int_equal(dw_cpusched_enqueue(&f->sched, &task, NULL), DW_OK);
    }
    /* Run the cores in reverse: core 3 finishes first, yet commits follow dispatch. */
    dw_task_result result;
    for (int core = 3; core >= 0; core--) {
        uint32_t ran = 0;
        while (dw_cpusched_run_cycle(&f->sched, (uint32_t)core, &result)) {
            assert_int_equal(result.task_id & 3, (uint64_t)core);
            assert_int_equal(result.worker, (uint32_t)core);
            assert_int_equal(result.output, work_hash(NULL, result.task_id));
            ran++;
        }
        assert_int_equal(ran, 4);
        assert_int_equal(dw_cpusched_executed_on(&f->sched, (uint32_t)core), 4);
    }
    assert_int_equal(dw_cpusched_commit(&f->sched, 100, 0), 16);
    assert_int_equal(f->committed_count, 16);
    for (uint64_t i = 0; i < 16; i++) {
        assert_int_equal(f->committed_ids[i], i);
    }
    dw_cpusched_stats stats;
    dw_cpusched_stats_read(&f->sched, &stats);
    assert_int_equal(stats.enqueued, 16);
    assert_int_equal(stats.committed, 16);
    assert_int_equal(stats.in_flight, 0);
    close_fixture(f);
}

static void a_core_runs_high_before_normal_before_low(void **state)
{
    (void)state;
    fixture *f = open_fixture(2, 64, 256);
    /* All on core 0 (even ids): low first, high last. */
    const dw_task_priority order[] = {DW_TASK_LOW, DW_TASK_NORMAL, DW_TASK_LOW, DW_TASK_HIGH,
                                      DW_TASK_NORMAL, DW_TASK_HIGH};
    for (uint64_t i = 0; i < DW_ARRAY_COUNT(order); i++) {
        dw_task task = make_task(i * 2, order[i]);
        assert_int_equal(dw_cpusched_enqueue(&f->sched, &task, NULL), DW_OK);
    }
    const uint64_t expected[] = {6, 10, 2, 8, 0, 4}; /* high, normal, low; FIFO within each */
    dw_task_result result;
    for (size_t i = 0; i < DW_ARRAY_COUNT(expected); i++) {
        assert_true(dw_cpusched_run_cycle(&f->sched, 0, &result));
        assert_int_equal(result.task_id, expected[i]);
    }
    assert_false(dw_cpusched_run_cycle(&f->sched, 0, &result));
    assert_false(dw_cpusched_run_cycle(&f->sched, 1, &result));
    /* Commits ignore priority: dispatch order. */
    assert_int_equal(dw_cpusched_commit(&f->sched, 100, 0), 6);
    for (uint64_t i = 0; i < 6; i++) {
        assert_int_equal(f->committed_ids[i], i * 2);
    }
    close_fixture(f);
}

static void commit_stops_at_the_first_task_not_yet_run(void **state)
{
    (void)state;
    fixture *f = open_fixture(2, 64, 256);
    for (uint64_t id = 0; id < 4; id++) {
        dw_task task = make_task(id, DW_TASK_NORMAL);
        assert_int_equal(dw_cpusched_enqueue(&f->sched, &task, NULL), DW_OK);
    }
    dw_task_result result;
    assert_true(dw_cpusched_run_cycle(&f->sched, 1, &result)); /* task 1 */
    assert_true(dw_cpusched_run_cycle(&f->sched, 1, &result)); /* task 3 */
    assert_int_equal(dw_cpusched_commit(&f->sched, 10, 0), 0); /* task 0 has not run */
    assert_true(dw_cpusched_run_cycle(&f->sched, 0, &result)); /* task 0 */
    assert_int_equal(dw_cpusched_commit(&f->sched, 10, 0), 2); /* 0 and 1; 2 has not run */
    assert_int_equal(dw_cpusched_sync(&f->sched, 0), DW_EBUSY);
    assert_true(dw_cpusched_run_cycle(&f->sched, 0, &result));
    assert_int_equal(dw_cpusched_sync(&f->sched, 0), DW_OK);
    assert_int_equal(f->committed_count, 4);
    close_fixture(f);
}

static void ordered_tasks_release_by_time_then_core(void **state)
{
    (void)state;
    fixture *f = open_fixture(4, 64, 256);
    /* Stamps from three sources, arriving out of order, with ties on time. */
    struct {
        uint64_t id;
        dw_stamp stamp;
    } arrivals[] = {
        {10, {5, 2}}, {11, {3, 1}}, {12, {5, 0}}, {13, {1, 2}}, {14, {3, 0}}, {15, {5, 1}},
    };
    for (size_t i = 0; i < DW_ARRAY_COUNT(arrivals); i++) {
        dw_task task = make_task(arrivals[i].id, DW_TASK_NORMAL);
        assert_int_equal(dw_cpusched_enqueue_ordered(&f->sched, &task, arrivals[i].stamp, NULL), DW_OK);
    }
    dw_cpusched_stats stats;
    dw_cpusched_stats_read(&f->sched, &stats);
    assert_int_equal(stats.held, 6);
    assert_int_equal(stats.in_flight, 0);
    /* The scheduler's clock moved past every stamp it received. */
    assert_true(dw_lamport_read(&f->sched.clock) > 5);
    assert_int_equal(dw_cpusched_release(&f->sched), 6);
    dw_task_result result;
    for (uint32_t core = 0; core < 4; core++) {
        while (dw_cpusched_run_cycle(&f->sched, core, &result)) {
        }
    }
    assert_int_equal(dw_cpusched_commit(&f->sched, 100, 0), 6);
    const uint64_t expected[] = {13, 14, 11, 12, 15, 10}; /* (1,2) (3,0) (3,1) (5,0) (5,1) (5,2) */
    for (size_t i = 0; i < DW_ARRAY_COUNT(expected); i++) {
        assert_int_equal(f->committed_ids[i], expected[i]);
    }
    close_fixture(f);
}

static bool refuse_multiples_of_five(void *context, uint64_t task_id)
{
    (void)context;
    return task_id % 5 != 0;
}

static void invalid_guarded_and_excess_tasks_are_refused(void **state)
{
    (void)state;
    fixture *f = open_fixture(1, 4, 64);
    uint16_t guard = 0;
    assert_int_equal(dw_guard_register(&f->guards, "not-five", refuse_multiples_of_five, NULL,
                                       &guard, NULL), DW_OK);
    dw_diag diag;
    dw_task task = make_task(1, DW_TASK_NORMAL);
    task.spec.priority = DW_TASK_HIGH; /* changed after the build */
    assert_int_equal(dw_cpusched_enqueue(&f->sched, &task, &diag), DW_EINVAL);
    assert_non_null(strstr(diag.message, "dw_task_build"));

    dw_task_spec spec = {.id = 5, .tick_budget = 100000, .priority = DW_TASK_LOW,
                         .guard_count = 1, .guards = {guard}, .work = work_hash};
    assert_int_equal(dw_task_build(&task, &spec, NULL), DW_OK);
    assert_int_equal(dw_cpusched_enqueue(&f->sched, &task, &diag), DW_EPERM);
    assert_non_null(strstr(diag.message, "not-five"));
    spec.guards[0] = 7; /* not registered */
    assert_int_equal(dw_task_build(&task, &spec, NULL), DW_OK);
    assert_int_equal(dw_cpusched_enqueue(&f->sched, &task, &diag), DW_EINVAL);
    assert_non_null(strstr(diag.message, "guard 7"));
    spec.guards[0] = guard;
    spec.id = 6;
    assert_int_equal(dw_task_build(&task, &spec, NULL), DW_OK);
    assert_int_equal(dw_cpusched_enqueue(&f->sched, &task, &diag), DW_OK);

    for (uint64_t id = 100; id < 103; id++) {
        dw_task plain = make_task(id, DW_TASK_NORMAL);
        assert_int_equal(dw_cpusched_enqueue(&f->sched, &plain, &diag), DW_OK);
    }
    dw_task fifth = make_task(103, DW_TASK_NORMAL);
    assert_int_equal(dw_cpusched_enqueue(&f->sched, &fifth, &diag), DW_EBUSY);
    assert_non_null(strstr(diag.message, "all 4 CPU task slots"));
    assert_int_equal(dw_cpusched_enqueue_ordered(&f->sched, &fifth, (dw_stamp){1, 0}, &diag), DW_EBUSY);
    dw_task_result result;
    assert_true(dw_cpusched_run_cycle(&f->sched, 0, &result));
    assert_int_equal(result.task_id, 100); /* normal before task 6, which is low */
    assert_int_equal(dw_cpusched_commit(&f->sched, 1, 0), 0); /* task 6 comes first */
    while (dw_cpusched_run_cycle(&f->sched, 0, &result)) {
    }
    assert_int_equal(dw_cpusched_commit(&f->sched, 1, 0), 1);
    assert_int_equal(dw_cpusched_enqueue(&f->sched, &fifth, &diag), DW_OK); /* a slot is free again */
    dw_cpusched_stats stats;
    dw_cpusched_stats_read(&f->sched, &stats);
    assert_int_equal(stats.refused, 5);
    assert_int_equal(stats.enqueued, 5);
    close_fixture(f);
}

static uint64_t work_spins(void *argument, uint64_t task_id)
{
    (void)argument;
    uint64_t hash = task_id;
    for (int i = 0; i < 2000; i++) {
        hash = dw_xxh3_64(&hash, sizeof hash, (uint64_t)i);
    }
    return hash;
}

static void overruns_are_measured_counted_and_logged(void **state)
{
    (void)state;
    fixture *f = open_fixture(1, 16, 64);
    dw_task_spec spec = {.id = 1, .tick_budget = 1, .priority = DW_TASK_NORMAL, .work = work_spins};
    dw_task tight;
    assert_int_equal(dw_task_build(&tight, &spec, NULL), DW_OK);
    spec.id = 2;
    spec.tick_budget = DW_TASK_TICKS_MAX;
    dw_task loose;
    assert_int_equal(dw_task_build(&loose, &spec, NULL), DW_OK);
    assert_int_equal(dw_cpusched_enqueue(&f->sched, &tight, NULL), DW_OK);
    assert_int_equal(dw_cpusched_enqueue(&f->sched, &loose, NULL), DW_OK);
    dw_task_result result;
    assert_true(dw_cpusched_run_cycle(&f->sched, 0, &result));
    assert_true(result.over_budget);
    assert_true(result.ticks > 1);
    assert_true(dw_cpusched_run_cycle(&f->sched, 0, &result));
    assert_false(result.over_budget);
    assert_int_equal(dw_cpusched_sync(&f->sched, 0), DW_OK);
    dw_cpusched_stats stats;
    dw_cpusched_stats_read(&f->sched, &stats);
    assert_int_equal(stats.over_budget, 1);
    assert_true(stats.ticks_max > 1);
    const dw_replay_log *log = dw_cpusched_replay(&f->sched);
    assert_int_equal(log->stored, 4);
    assert_int_equal(log->events[2].type, DW_REPLAY_TASK_EXECUTED);
    assert_int_equal(log->events[2].flags, DW_REPLAY_OVER_BUDGET);
    assert_int_equal(log->events[3].flags, 0);
    close_fixture(f);
}

static void the_log_records_what_the_driving_thread_did(void **state)
{
    (void)state;
    fixture *f = open_fixture(2, 16, 64);
    dw_cpusched_record_input(&f->sched, 0x1234);
    dw_task task = make_task(3, DW_TASK_HIGH);
    assert_int_equal(dw_cpusched_enqueue(&f->sched, &task, NULL), DW_OK);
    dw_task_result result;
    assert_true(dw_cpusched_run_cycle(&f->sched, 1, &result));
    assert_int_equal(dw_cpusched_sync(&f->sched, 0), DW_OK);
    dw_cpusched_record_state(&f->sched, 0x5678);
    const dw_replay_log *log = dw_cpusched_replay(&f->sched);
    assert_int_equal(log->stored, 4);
    assert_int_equal(log->events[0].type, DW_REPLAY_EXTERNAL_INPUT);
    assert_int_equal(log->events[0].time, 1);
    assert_int_equal(log->events[1].type, DW_REPLAY_TASK_ENQUEUED);
    assert_int_equal(log->events[1].time, 2);
    assert_int_equal(log->events[1].priority, DW_TASK_HIGH);
    assert_int_equal(log->events[2].type, DW_REPLAY_TASK_EXECUTED);
    assert_int_equal(log->events[2].time, 2); /* the task's stamp */
    assert_int_equal(log->events[2].hash, work_hash(NULL, 3));
    assert_int_equal(log->events[2].worker, 1);
    assert_int_equal(log->events[3].type, DW_REPLAY_STATE_CHANGE);
    assert_int_equal(log->events[3].time, 3);
    uint64_t broken = 0;
    assert_true(dw_replay_verify(log, &broken));
    close_fixture(f);
}

static void worker_threads_compute_everything_without_allocating(void **state)
{
    (void)state;
    fixture *f = open_fixture(4, 256, 0);
    dw_diag diag;
    assert_int_equal(dw_cpusched_start(&f->sched, &diag), DW_OK);
    uint64_t rounds = 200 * dw_test_scale();
    dw_alloc_counts before = dw_alloc_counts_now();
    uint64_t id = 0;
    for (uint64_t round = 0; round < rounds; round++) {
        for (int i = 0; i < 200; i++, id++) {
            dw_task task = make_task(id, (dw_task_priority)(id % 3));
            assert_int_equal(dw_cpusched_enqueue(&f->sched, &task, &diag), DW_OK);
        }
        assert_int_equal(dw_cpusched_sync(&f->sched, 10 * DW_NS_PER_S), DW_OK);
    }
    uint64_t allocations = dw_alloc_counts_since(before);
    dw_cpusched_stop(&f->sched);
    assert_int_equal(allocations, 0);
    assert_int_equal(f->sched.counters.committed, id);
    uint64_t executed = 0;
    for (uint32_t core = 0; core < 4; core++) {
        executed += dw_cpusched_executed_on(&f->sched, core);
    }
    assert_int_equal(executed, id);
    for (uint64_t i = 0; i < DW_ARRAY_COUNT(f->committed_ids); i++) {
        assert_int_equal(f->committed_ids[i], i);
    }
    close_fixture(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plans_refuse_bad_counts),
        cmocka_unit_test(tasks_land_on_id_and_mask_and_commit_in_order),
        cmocka_unit_test(a_core_runs_high_before_normal_before_low),
        cmocka_unit_test(commit_stops_at_the_first_task_not_yet_run),
        cmocka_unit_test(ordered_tasks_release_by_time_then_core),
        cmocka_unit_test(invalid_guarded_and_excess_tasks_are_refused),
        cmocka_unit_test(overruns_are_measured_counted_and_logged),
        cmocka_unit_test(the_log_records_what_the_driving_thread_did),
        cmocka_unit_test(worker_threads_compute_everything_without_allocating),
    };
    return cmocka_run_group_tests_name("cpusched", tests, NULL, NULL);
}
