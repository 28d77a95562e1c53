/*
 * test_device.c — the device layer's asynchronous writes (src/vde/device.c): staged,
 * handed to the scheduler in batches, counted down by a completion callback, drained.
 * On the simulated disk stepped in virtual time, and on a real file with the scheduler's
 * I/O thread (io_uring where the kernel has it, and psync), more writes than the stage
 * and the outstanding limit hold, each read back. A refused write is reported by the
 * drain without stopping later writes. No test here looks at how fast anything ran.
 */
#include "harness.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/random.h"
#include "stack.h"
#include "vde/device.h"

#define BLOCK UINT32_C(4096)
#define SIZE_BYTES (UINT64_C(16) << 20)
/* More than DW_DEVICE_IN_FLIGHT_MAX and many stages, not a multiple of either. */
#define WRITES 301

DW_STATIC_ASSERT(WRITES > 2 * DW_DEVICE_IN_FLIGHT_MAX, "the test must exceed the outstanding limit");

typedef struct device_fixture {
    dw_test_dir dir;
    char path[600];
    dw_config config;
    dw_stack *stack;
    dw_device device;
    uint64_t blocks[WRITES];
    unsigned char *data;        /* WRITES blocks */
    unsigned char *back;        /* one block */
} device_fixture;

static int fixture_setup(void **state)
{
    device_fixture *fixture = dw_test_aligned_alloc(64, sizeof(device_fixture));
    memset(fixture, 0, sizeof *fixture);
    dw_test_dir_create(&fixture->dir);
    dw_test_path(&fixture->dir, "device.data", fixture->path, sizeof fixture->path);
    dw_config_defaults(&fixture->config);
    fixture->config.io_realtime = false;
    fixture->config.memory_ceiling_bytes = UINT64_C(64) << 20;
    fixture->config.buffer_count = 128;
    fixture->data = dw_test_aligned_alloc(BLOCK, (size_t)WRITES * BLOCK);
    fixture->back = dw_test_aligned_alloc(BLOCK, BLOCK);
    *state = fixture;
    return 0;
}

static int fixture_teardown(void **state)
{
    device_fixture *fixture = *state;
    dw_stack_close(fixture->stack);
    dw_test_dir_remove(&fixture->dir);
    free(fixture->data);
    free(fixture->back);
    free(fixture);
    return 0;
}

/* Opens the stack (sim: stepped; else the I/O thread runs) and the device over it. */
static void open_device(device_fixture *fixture, bool sim)
{
    dw_stack_options options = {
        .config = &fixture->config,
        .sim = sim,
        .path = fixture->path,
        .size_bytes = SIZE_BYTES,
        .seed = 11,
        .faults = {.latency_base_ns = 50 * DW_NS_PER_US, .latency_jitter_ns = 50 * DW_NS_PER_US, .channels = 4},
    };
    dw_diag diag;
    dw_diag_clear(&diag);
    fixture->stack = dw_stack_open(&options, &diag);
    if (fixture->stack == NULL) {
        fail_msg("dw_stack_open: %s", diag.message);
    }
    if (!sim) {
        assert_int_equal(dw_sched_start(&fixture->stack->sched, &diag), DW_OK);
    }
    dw_device_init(&fixture->device, &fixture->stack->sched, fixture->stack->clock, fixture->path, BLOCK,
                   SIZE_BYTES / BLOCK, sim, fixture->config.queue_depth);
}

/* WRITES distinct random blocks, each with its own contents. */
static void make_writes(device_fixture *fixture)
{
    dw_random random;
    dw_random_seed(&random, 5);
    for (uint32_t i = 0; i < WRITES; i++) {
        bool fresh = false;
        while (!fresh) {
            fixture->blocks[i] = dw_random_below(&random, SIZE_BYTES / BLOCK);
            fresh = true;
            for (uint32_t j = 0; j < i; j++) {
                fresh = fresh && fixture->blocks[j] != fixture->blocks[i];
            }
        }
        memset(fixture->data + (size_t)i * BLOCK, (int)(i % 251) + 1, BLOCK);
        memcpy(fixture->data + (size_t)i * BLOCK, &fixture->blocks[i], sizeof fixture->blocks[i]);
    }
}

/* Writes them all asynchronously, drains, and reads every one back. */
static void write_drain_and_check(device_fixture *fixture)
{
    make_writes(fixture);
    dw_diag diag;
    dw_diag_clear(&diag);
    dw_device *device = &fixture->device;
    dw_device_begin_op(device, 60 * DW_NS_PER_S, DW_PRIORITY_NORMAL);
    for (uint32_t i = 0; i < WRITES; i++) {
        int result = dw_device_write_async(device, fixture->blocks[i], 1, fixture->data + (size_t)i * BLOCK, &diag);
        if (result != DW_OK) {
            fail_msg("dw_device_write_async %u: %s", i, diag.message);
        }
        assert_true(device->in_flight <= DW_DEVICE_IN_FLIGHT_MAX);
        assert_true(device->in_flight >= 1);
    }
    int result = dw_device_drain(device, &diag);
    if (result != DW_OK) {
        fail_msg("dw_device_drain: %s", diag.message);
    }
    assert_int_equal(device->in_flight, 0);
    assert_int_equal(atomic_load(&device->outstanding), 0);
    assert_int_equal(device->staged_count, 0);
    assert_int_equal(device->stats.writes, WRITES);
    for (uint32_t i = 0; i < WRITES; i++) {
        assert_int_equal(dw_device_read(device, fixture->blocks[i], 1, fixture->back, &diag), DW_OK);
        assert_memory_equal(fixture->back, fixture->data + (size_t)i * BLOCK, BLOCK);
    }
    dw_sched_stats stats;
    (void)dw_sched_stop(&fixture->stack->sched, DW_NS_PER_S);
    fixture->stack->stopped = true;
    dw_sched_stats_read(&fixture->stack->sched, &stats);
    assert_int_equal(stats.by_class[DW_OP_WRITE].completed, WRITES);
    assert_int_equal(stats.buffers_in_use, 0);
}

static void async_writes_land_on_the_simulated_disk(void **state)
{
    device_fixture *fixture = *state;
    open_device(fixture, true);
    write_drain_and_check(fixture);
}

static void async_writes_land_in_a_file_through_the_io_thread(void **state)
{
    device_fixture *fixture = *state;
    fixture->config.io_backend = DW_IO_BACKEND_AUTO;
    open_device(fixture, false);
    write_drain_and_check(fixture);
}

static void async_writes_land_in_a_file_through_psync(void **state)
{
    device_fixture *fixture = *state;
    fixture->config.io_backend = DW_IO_BACKEND_PSYNC;
    open_device(fixture, false);
    write_drain_and_check(fixture);
}

/* A staged write the scheduler refuses when it is handed over (already late, and late
 * submissions are refused) is reported by the drain, naming the cause; a refusal is no
 * device failure, so later writes go on. */
static void a_refused_staged_write_is_reported_by_the_drain(void **state)
{
    device_fixture *fixture = *state;
    fixture->config.late_submission = DW_LATE_REFUSE;
    open_device(fixture, true);
    make_writes(fixture);
    dw_device *device = &fixture->device;
    dw_diag diag;
    dw_diag_clear(&diag);
    dw_device_begin_op(device, 0, DW_PRIORITY_NORMAL); /* deadline: now */
    assert_int_equal(dw_device_write_async(device, fixture->blocks[0], 1, fixture->data, &diag), DW_OK);
    assert_int_equal(device->staged_count, 1);
    dw_sim_disk_advance_to(&fixture->stack->sim, fixture->stack->sim.state.now_ns + DW_NS_PER_MS);
    assert_int_equal(dw_device_drain(device, &diag), DW_EDEADLINE);
    assert_non_null(strstr(diag.message, "deadline"));
    assert_int_equal(device->in_flight, 0);
    assert_int_equal(dw_device_check_writable(device, &diag), DW_OK);
    /* Reported once: the next drain has nothing to say. */
    assert_int_equal(dw_device_drain(device, &diag), DW_OK);
    dw_device_begin_op(device, DW_NS_PER_S, DW_PRIORITY_NORMAL);
    assert_int_equal(dw_device_write_async(device, fixture->blocks[1], 1, fixture->data + BLOCK, &diag), DW_OK);
    assert_int_equal(dw_device_drain(device, &diag), DW_OK);
    assert_int_equal(dw_device_read(device, fixture->blocks[1], 1, fixture->back, &diag), DW_OK);
    assert_memory_equal(fixture->back, fixture->data + BLOCK, BLOCK);
}

#define DEVICE_TEST(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        DEVICE_TEST(async_writes_land_on_the_simulated_disk),
        DEVICE_TEST(async_writes_land_in_a_file_through_the_io_thread),
        DEVICE_TEST(async_writes_land_in_a_file_through_psync),
        DEVICE_TEST(a_refused_staged_write_is_reported_by_the_drain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
