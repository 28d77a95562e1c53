/*
 * test_replay_run.c — the deterministic scheduler's promise, shown on its built-in
 * workloads: the same task set run on 1, 2 and 4 workers, 100 times each with random
 * delays injected before every task, gives one execution-order hash, one state and the
 * same output for every task, without allocating; and another task set does not.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "replay_run.h"
#include "core/clock.h"
#include "sched/replay.h"

enum { TASKS = 384, RUNS = 100 };

/* Calibrated once: 600 runs need not calibrate the tick counter 600 times. */
static dw_clock shared_clock;

static int calibrate(void **state)
{
    (void)state;
    dw_clock_system_init(&shared_clock, 10 * DW_NS_PER_MS);
    return 0;
}

static dw_replay_run_options options_for(dw_replay_workload workload, uint32_t workers, uint64_t *outputs)
{
    dw_replay_run_options options = {
        .workload = workload,
        .workers = workers,
        .tasks = TASKS,
        .seed = 7,
        .threaded = true,
        .memory_ceiling_bytes = 64ull << 20,
        .clock = &shared_clock,
        .outputs = outputs,
    };
    return options;
}

/* The reference: one worker, no threads, no delays. */
static void reference_run(dw_replay_workload workload, uint64_t *outputs, dw_replay_run_result *result)
{
    dw_replay_run_options options = options_for(workload, 1, outputs);
    options.threaded = false;
    dw_diag diag;
    assert_int_equal(dw_replay_run(&options, result, &diag), DW_OK);
    assert_int_equal(result->allocations, 0);
    assert_true(result->committed > 0);
    assert_true(result->refused > 0); /* the guards do refuse some: part of the task set */
    assert_int_equal(result->committed + result->refused, TASKS);
}

static void same_result_on_any_worker_count_despite_delays(dw_replay_workload workload)
{
    uint64_t *expected = calloc(TASKS, sizeof *expected);
    uint64_t *outputs = calloc(TASKS, sizeof *outputs);
    assert_non_null(expected);
    assert_non_null(outputs);
    dw_replay_run_result reference;
    reference_run(workload, expected, &reference);
    uint64_t delay_seed = dw_test_seed();
    /* Each run sleeps and spins on purpose: at most ten times more under make test-long,
     * which keeps the test inside its timeout (9 s a scale unit). */
    uint64_t runs = RUNS * (dw_test_scale() < 10 ? dw_test_scale() : 10);
    const uint32_t worker_counts[] = {1, 2, 4};
    for (size_t w = 0; w < DW_ARRAY_COUNT(worker_counts); w++) {
        for (uint64_t run = 0; run < runs; run++) {
            dw_replay_run_options options = options_for(workload, worker_counts[w], outputs);
            /* Up to 20 us before each task, drawn anew every run: sleeps, yields, spins. */
            options.delay_max_ns = 20 * DW_NS_PER_US;
            options.delay_seed = dw_test_random(&delay_seed);
            dw_replay_run_result result;
            dw_diag diag;
            assert_int_equal(dw_replay_run(&options, &result, &diag), DW_OK);
            if (result.chain != reference.chain || result.state != reference.state) {
                fail_msg("%s on %u workers, run %llu (delay seed %llu): execution-order hash %016llx "
                         "state %016llx, expected %016llx %016llx",
                         dw_replay_workload_name(workload), worker_counts[w], (unsigned long long)run,
                         (unsigned long long)options.delay_seed, (unsigned long long)result.chain,
                         (unsigned long long)result.state, (unsigned long long)reference.chain,
                         (unsigned long long)reference.state);
            }
            assert_memory_equal(outputs, expected, TASKS * sizeof *outputs);
            assert_int_equal(result.allocations, 0);
            assert_int_equal(result.events, reference.events);
            assert_int_equal(result.workers, worker_counts[w]);
        }
    }
    free(outputs);
    free(expected);
}

static void checksum_workload_is_the_same_on_1_2_and_4_workers(void **state)
{
    (void)state;
    same_result_on_any_worker_count_despite_delays(DW_REPLAY_WORKLOAD_CHECKSUM);
}

static void mixed_workload_is_the_same_on_1_2_and_4_workers(void **state)
{
    (void)state;
    same_result_on_any_worker_count_despite_delays(DW_REPLAY_WORKLOAD_MIXED);
}

/* The test above would pass for a hash that ignored everything: show it does not. */
static void another_seed_or_workload_gives_another_hash(void **state)
{
    (void)state;
    dw_replay_run_result a;
    dw_replay_run_result b;
    dw_replay_run_result c;
    reference_run(DW_REPLAY_WORKLOAD_MIXED, NULL, &a);
    dw_replay_run_options options = options_for(DW_REPLAY_WORKLOAD_MIXED, 1, NULL);
    options.threaded = false;
    options.seed = 8;
    assert_int_equal(dw_replay_run(&options, &b, NULL), DW_OK);
    reference_run(DW_REPLAY_WORKLOAD_CHECKSUM, NULL, &c);
    assert_int_not_equal(a.chain, b.chain);
    assert_int_not_equal(a.state, b.state);
    assert_int_not_equal(a.chain, c.chain);
}

static void logs_saved_from_1_and_4_workers_compare_as_the_same_run(void **state)
{
    (void)state;
    dw_test_dir dir;
    dw_test_dir_create(&dir);
    char one_path[512];
    char four_path[512];
    dw_test_path(&dir, "one.dwreplay", one_path, sizeof one_path);
    dw_test_path(&dir, "four.dwreplay", four_path, sizeof four_path);
    dw_replay_run_options options = options_for(DW_REPLAY_WORKLOAD_MIXED, 1, NULL);
    options.save_path = one_path;
    dw_replay_run_result result;
    assert_int_equal(dw_replay_run(&options, &result, NULL), DW_OK);
    options.workers = 4;
    options.delay_max_ns = 10 * DW_NS_PER_US;
    options.delay_seed = dw_test_seed();
    options.save_path = four_path;
    assert_int_equal(dw_replay_run(&options, &result, NULL), DW_OK);

    uint64_t events = 0;
    assert_int_equal(dw_replay_peek(one_path, &events, NULL), DW_OK);
    dw_replay_event *memory = calloc(2 * events, sizeof *memory);
    assert_non_null(memory);
    dw_replay_log one;
    dw_replay_log four;
    dw_replay_init(&one, memory, events);
    dw_replay_init(&four, memory + events, events);
    dw_replay_file_report report;
    assert_int_equal(dw_replay_load(&one, one_path, &report, NULL), DW_OK);
    assert_true(report.checksum_ok && report.chain_ok);
    assert_int_equal(dw_replay_load(&four, four_path, &report, NULL), DW_OK);
    assert_true(report.checksum_ok && report.chain_ok);
    assert_int_equal(one.workers, 1);
    assert_int_equal(four.workers, 4);
    dw_replay_comparison comparison;
    dw_replay_compare(&one, &four, &comparison);
    /* Tasks ran on other workers and took other times: timing only. */
    assert_int_equal(comparison.verdict, DW_REPLAY_MINOR);
    free(memory);
    dw_test_dir_remove(&dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(checksum_workload_is_the_same_on_1_2_and_4_workers),
        cmocka_unit_test(mixed_workload_is_the_same_on_1_2_and_4_workers),
        cmocka_unit_test(another_seed_or_workload_gives_another_hash),
        cmocka_unit_test(logs_saved_from_1_and_4_workers_compare_as_the_same_run),
    };
    return cmocka_run_group_tests_name("replay_run", tests, calibrate, NULL);
}
