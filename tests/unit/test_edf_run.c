/*
 * test_edf_run.c — the proof the deadline scheduler was built for, on the simulated disk
 * with a fixed seed: critical reads asking for 80% of a saturated device miss no deadline
 * under EDF, miss most of them under FIFO, and two runs give identical figures.
 */
#include "harness.h"

#include <string.h>

#include "edf_run.h"

static dw_config config;

static void sim_options(dw_edf_run_options *options, uint64_t seed)
{
    dw_config_defaults(&config);
    *options = (dw_edf_run_options){
        .config = &config,
        .sim = true,
        .size_bytes = UINT64_C(64) << 20,
        .seed = seed,
        .duration_ns = DW_NS_PER_S,
        .critical_period_ns = 31250,          /* 32,000 reads a second */
        .critical_deadline_ns = 2 * DW_NS_PER_MS,
        .bulk_outstanding = 128,
        .bulk_deadline_ns = DW_NS_PER_S,
        .sim_service_ns = 100 * DW_NS_PER_US,
        .sim_channels = 4,                    /* 40,000 requests a second */
    };
}

static dw_edf_run_result edf;
static dw_edf_run_result edf_again;
static dw_edf_run_result fifo;

static void edf_meets_every_critical_deadline_and_fifo_does_not(void **state)
{
    (void)state;
    dw_edf_run_options options;
    sim_options(&options, 7);
    dw_diag diag;
    dw_diag_clear(&diag);
    assert_int_equal(dw_edf_run(&options, DW_SCHED_EDF, &edf, &diag), DW_OK);
    assert_int_equal(dw_edf_run(&options, DW_SCHED_FIFO, &fifo, &diag), DW_OK);
    printf("# critical utilisation %.2f; EDF: %llu of %llu missed, max %llu us; FIFO: %llu missed, "
           "p50 %llu us\n",
           edf.critical_utilisation, (unsigned long long)edf.critical_misses,
           (unsigned long long)edf.critical_issued, (unsigned long long)edf.critical_latency.max / 1000,
           (unsigned long long)fifo.critical_misses,
           (unsigned long long)dw_histogram_percentile(&fifo.critical_latency, 500000) / 1000);
    assert_true(edf.critical_utilisation > 0.79 && edf.critical_utilisation <= 0.8);
    assert_int_equal(edf.critical_issued, 32000);
    assert_int_equal(edf.critical_completed, 32000);
    assert_int_equal(edf.critical_misses, 0);
    assert_true(edf.critical_latency.max <= options.critical_deadline_ns);
    assert_true(edf.bulk_completed > 1000); /* the device did not starve the bulk work */
    assert_int_equal(fifo.critical_issued, 32000);
    assert_true(fifo.critical_misses > fifo.critical_issued / 2);
}

static void the_same_seed_gives_the_same_figures(void **state)
{
    (void)state;
    dw_edf_run_options options;
    sim_options(&options, 7);
    assert_int_equal(dw_edf_run(&options, DW_SCHED_EDF, &edf, NULL), DW_OK);
    assert_int_equal(dw_edf_run(&options, DW_SCHED_EDF, &edf_again, NULL), DW_OK);
    assert_int_equal(edf.trace_hash, edf_again.trace_hash);
    assert_int_equal(edf.critical_misses, edf_again.critical_misses);
    assert_int_equal(edf.bulk_completed, edf_again.bulk_completed);
    assert_int_equal(edf.elapsed_ns, edf_again.elapsed_ns);
    assert_memory_equal(&edf.critical_latency, &edf_again.critical_latency, sizeof edf.critical_latency);
    assert_memory_equal(&edf.bulk_latency, &edf_again.bulk_latency, sizeof edf.bulk_latency);
    /* Another seed places the blocks elsewhere: another trace. */
    sim_options(&options, 8);
    assert_int_equal(dw_edf_run(&options, DW_SCHED_EDF, &edf_again, NULL), DW_OK);
    assert_int_not_equal(edf.trace_hash, edf_again.trace_hash);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(edf_meets_every_critical_deadline_and_fifo_does_not),
        cmocka_unit_test(the_same_seed_gives_the_same_figures),
    };
    return cmocka_run_group_tests_name("edf_run", tests, NULL, NULL);
}
