/*
 * test_io.c — the I/O conformance suite: the same tests against io_uring, psync and the
 * simulated disk (round trips, batches beyond the queue depth, malformed requests,
 * closing with I/O in flight, zero allocations), then what is specific to a backend or
 * to files (short transfers, retries and the sticky sync error through the sim disk; the
 * exclusive lock, O_DIRECT fallback and io_uring fallback on real files).
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io.h"
#include "io/sim_disk.h"
#include "mem/alloc_count.h"

#define BLOCK 4096
#define DEPTH 32
#define BUFFERS 128
#define FILE_BYTES (UINT64_C(8) << 20)
#define SIM_LATENCY_NS (100 * DW_NS_PER_US)

typedef struct io_fixture {
    dw_io_backend backend;
    dw_test_dir dir;
    char path[512];
    dw_clock clock;
    dw_budget budget;
    dw_arena arena;
    dw_pool_plan pool_plan;
    dw_io_plan io_plan;
    dw_pool *pool;
    void *sim_memory;
    dw_sim_disk sim;
    dw_io_options options;
    dw_io io;
    bool open;
} io_fixture;

static dw_io_backend backend_io_uring = DW_IO_BACKEND_IO_URING;
static dw_io_backend backend_psync = DW_IO_BACKEND_PSYNC;
static dw_io_backend backend_sim = DW_IO_BACKEND_SIM;

static void fixture_faults(io_fixture *fixture, const dw_sim_faults *faults)
{
    dw_sim_disk_init(&fixture->sim, fixture->sim_memory, FILE_BYTES, 1u << 20, 7, faults);
}

static int fixture_setup(void **state)
{
    io_fixture *fixture = calloc(1, sizeof *fixture);
    assert_non_null(fixture);
    fixture->backend = *(dw_io_backend *)*state;
    dw_test_dir_create(&fixture->dir);
    dw_test_path(&fixture->dir, "data.dwvd", fixture->path, sizeof fixture->path);
    dw_clock_system_init(&fixture->clock, 0);
    dw_budget_init(&fixture->budget, 64u << 20, 85);
    dw_arena_init(&fixture->arena, &fixture->budget);
    dw_diag diag;
    dw_diag_clear(&diag);
    assert_int_equal(dw_pool_plan_in(&fixture->arena, BUFFERS, BLOCK, &fixture->pool_plan, &diag), DW_OK);
    assert_int_equal(dw_io_plan_in(&fixture->arena, DEPTH, &fixture->io_plan, &diag), DW_OK);
    assert_int_equal(dw_arena_allocate(&fixture->arena, false, &diag), DW_OK);
    fixture->pool = dw_pool_open_in(&fixture->arena, &fixture->pool_plan, &fixture->clock);
    uint64_t sim_bytes = dw_sim_disk_memory_bytes(FILE_BYTES, 1u << 20);
    fixture->sim_memory = dw_test_aligned_alloc(4096, (size_t)sim_bytes);
    dw_sim_faults faults = {.latency_base_ns = SIM_LATENCY_NS};
    fixture_faults(fixture, &faults);
    fixture->options = (dw_io_options){
        .path = fixture->backend == DW_IO_BACKEND_SIM ? "sim:data" : fixture->path,
        .backend = fixture->backend,
        .queue_depth = DEPTH,
        .block_size = BLOCK,
        .size_bytes = FILE_BYTES,
        .create = true,
        .direct = true,
        .pool = fixture->pool,
        .clock = &fixture->clock,
        .sim_disk = &fixture->sim,
    };
    *state = fixture;
    return 0;
}

static int fixture_teardown(void **state)
{
    io_fixture *fixture = *state;
    if (fixture->open) {
        dw_io_close(&fixture->io);
    }
    dw_arena_close(&fixture->arena);
    free(fixture->sim_memory);
    dw_test_dir_remove(&fixture->dir);
    free(fixture);
    return 0;
}

static void open_io(io_fixture *fixture)
{
    dw_diag diag;
    dw_diag_clear(&diag);
    int result = dw_io_open(&fixture->io, &fixture->arena, &fixture->io_plan, &fixture->options, &diag);
    if (result != DW_OK) {
        fail_msg("dw_io_open: %s (%s)", diag.message, diag.hint);
    }
    fixture->open = true;
    assert_int_equal(fixture->io.backend, fixture->backend);
}

static void close_io(io_fixture *fixture)
{
    dw_io_close(&fixture->io);
    fixture->open = false;
}

/* Submits all `count` requests, as the queue depth allows, and reaps every completion
 * into `completions` (indexed by user_data). */
static void run_all(io_fixture *fixture, const dw_io_request *requests, uint32_t count,
                    dw_io_completion *completions)
{
    uint32_t submitted = 0;
    uint32_t reaped = 0;
    while (reaped < count) {
        if (submitted < count) {
            uint32_t accepted = 0;
            dw_diag diag;
            dw_diag_clear(&diag);
            int result = dw_io_submit(&fixture->io, requests + submitted, count - submitted, &accepted, &diag);
            if (result != DW_OK) {
                fail_msg("dw_io_submit: %s", diag.message);
            }
            submitted += accepted;
        }
        dw_io_completion batch[DEPTH];
        uint32_t got = dw_io_reap(&fixture->io, batch, DEPTH, 10 * DW_NS_PER_S);
        assert_true(got > 0);
        for (uint32_t i = 0; i < got; i++) {
            assert_true(batch[i].user_data < count);
            completions[batch[i].user_data] = batch[i];
        }
        reaped += got;
    }
    assert_int_equal(dw_io_in_flight(&fixture->io), 0);
}

static void fill_block(unsigned char *block, uint64_t index, uint64_t generation)
{
    for (size_t i = 0; i < BLOCK; i += 8) {
        uint64_t word = index * UINT64_C(0x9e3779b97f4a7c15) ^ (i + generation * 31);
        memcpy(block + i, &word, 8);
    }
}

static void check_block(const unsigned char *block, uint64_t index, uint64_t generation)
{
    unsigned char expected[BLOCK];
    fill_block(expected, index, generation);
    if (memcmp(block, expected, BLOCK) != 0) {
        fail_msg("block %llu does not hold generation %llu", (unsigned long long)index,
                 (unsigned long long)generation);
    }
}

enum { ROUND_BLOCKS = 96 };

/* Writes ROUND_BLOCKS blocks (more than the queue depth) and syncs. */
static void write_round(io_fixture *fixture, uint64_t generation)
{
    static dw_io_request requests[ROUND_BLOCKS + 1];
    static dw_io_completion completions[ROUND_BLOCKS + 1];
    static unsigned char *buffers[ROUND_BLOCKS];
    for (uint32_t i = 0; i < ROUND_BLOCKS; i++) {
        buffers[i] = dw_pool_try_rent(fixture->pool);
        assert_non_null(buffers[i]);
        fill_block(buffers[i], i, generation);
        requests[i] = (dw_io_request){DW_IO_WRITE, BLOCK, (uint64_t)i * 2 * BLOCK, buffers[i], i, false};
    }
    run_all(fixture, requests, ROUND_BLOCKS, completions);
    for (uint32_t i = 0; i < ROUND_BLOCKS; i++) {
        assert_int_equal(completions[i].result, DW_OK);
        assert_int_equal(completions[i].op, DW_IO_WRITE);
        assert_int_equal(completions[i].offset, (uint64_t)i * 2 * BLOCK);
        assert_int_equal(dw_pool_give_back(fixture->pool, buffers[i], NULL), DW_OK);
    }
    requests[0] = (dw_io_request){.op = DW_IO_SYNC, .user_data = 0};
    run_all(fixture, requests, 1, completions);
    assert_int_equal(completions[0].result, DW_OK);
}

static void read_round(io_fixture *fixture, uint64_t generation)
{
    static dw_io_request requests[ROUND_BLOCKS];
    static dw_io_completion completions[ROUND_BLOCKS];
    static unsigned char *buffers[ROUND_BLOCKS];
    for (uint32_t i = 0; i < ROUND_BLOCKS; i++) {
        buffers[i] = dw_pool_try_rent(fixture->pool);
        requests[i] = (dw_io_request){DW_IO_READ, BLOCK, (uint64_t)i * 2 * BLOCK, buffers[i], i, false};
    }
    run_all(fixture, requests, ROUND_BLOCKS, completions);
    for (uint32_t i = 0; i < ROUND_BLOCKS; i++) {
        assert_int_equal(completions[i].result, DW_OK);
        check_block(buffers[i], i, generation);
        assert_int_equal(dw_pool_give_back(fixture->pool, buffers[i], NULL), DW_OK);
    }
}

static void round_trips_in_batches_beyond_the_queue_depth(void **state)
{
    io_fixture *fixture = *state;
    open_io(fixture);
    write_round(fixture, 1);
    read_round(fixture, 1);
    write_round(fixture, 2);
    read_round(fixture, 2);
    dw_io_stats stats;
    dw_io_stats_read(&fixture->io, &stats);
    assert_int_equal(stats.submitted, 4 * ROUND_BLOCKS + 2);
    assert_int_equal(stats.completed, stats.submitted);
    assert_int_equal(stats.failed, 0);
    assert_int_equal(stats.in_flight_high_water, DEPTH);
}

static void a_batch_takes_only_the_free_slots(void **state)
{
    io_fixture *fixture = *state;
    open_io(fixture);
    unsigned char *buffer = dw_pool_try_rent(fixture->pool);
    dw_io_request requests[DEPTH + 8];
    for (uint32_t i = 0; i < DEPTH + 8; i++) {
        requests[i] = (dw_io_request){DW_IO_READ, BLOCK, (uint64_t)i * BLOCK, buffer, i, false};
    }
    uint32_t accepted = 0;
    assert_int_equal(dw_io_submit(&fixture->io, requests, DEPTH + 8, &accepted, NULL), DW_OK);
    assert_int_equal(accepted, DEPTH);
    assert_int_equal(dw_io_in_flight(&fixture->io), DEPTH);
    assert_int_equal(dw_io_submit(&fixture->io, requests, 1, &accepted, NULL), DW_OK);
    assert_int_equal(accepted, 0);
    dw_io_completion completions[DEPTH];
    uint32_t reaped = 0;
    while (reaped < DEPTH) {
        reaped += dw_io_reap(&fixture->io, completions, DEPTH, DW_NS_PER_S);
    }
    assert_int_equal(dw_io_in_flight(&fixture->io), 0);
    assert_int_equal(dw_pool_give_back(fixture->pool, buffer, NULL), DW_OK);
}

static void malformed_requests_are_refused_whole(void **state)
{
    io_fixture *fixture = *state;
    open_io(fixture);
    unsigned char *buffer = dw_pool_try_rent(fixture->pool);
    const struct {
        dw_io_request request;
        const char *reason;
    } cases[] = {
        {{DW_IO_READ, 100, 0, buffer, 0, false}, "length is not a positive multiple"},
        {{DW_IO_READ, 0, 0, buffer, 0, false}, "length is not a positive multiple"},
        {{DW_IO_WRITE, BLOCK, 512, buffer, 0, false}, "offset is not a multiple"},
        {{DW_IO_WRITE, BLOCK, 0, buffer + 512, 0, false}, "buffer is not aligned"},
        {{DW_IO_WRITE, BLOCK, 0, NULL, 0, false}, "buffer is not aligned"},
        {{DW_IO_READ, BLOCK, FILE_BYTES, buffer, 0, false}, "past the end of the file"},
        {{DW_IO_READ, 2 * BLOCK, FILE_BYTES - BLOCK, buffer, 0, false}, "past the end of the file"},
        {{(dw_io_op)7, BLOCK, 0, buffer, 0, false}, "operation is not read, write or sync"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dw_io_request batch[2] = {{DW_IO_READ, BLOCK, 0, buffer, 0, false}, cases[i].request};
        uint32_t accepted = 99;
        dw_diag diag;
        dw_diag_clear(&diag);
        assert_int_equal(dw_io_submit(&fixture->io, batch, 2, &accepted, &diag), DW_EINVAL);
        assert_int_equal(accepted, 0);
        if (strstr(diag.message, cases[i].reason) == NULL || strstr(diag.message, "request 1") == NULL) {
            fail_msg("case %zu: '%s' does not say '%s'", i, diag.message, cases[i].reason);
        }
        assert_int_equal(dw_io_in_flight(&fixture->io), 0);
    }
    assert_int_equal(dw_pool_give_back(fixture->pool, buffer, NULL), DW_OK);
}

static void closing_with_io_in_flight_finishes_it(void **state)
{
    io_fixture *fixture = *state;
    open_io(fixture);
    static unsigned char *buffers[DEPTH];
    dw_io_request requests[DEPTH];
    for (uint32_t i = 0; i < DEPTH; i++) {
        buffers[i] = dw_pool_try_rent(fixture->pool);
        fill_block(buffers[i], i, 9);
        requests[i] = (dw_io_request){DW_IO_WRITE, BLOCK, (uint64_t)i * BLOCK, buffers[i], i, false};
    }
    uint32_t accepted = 0;
    assert_int_equal(dw_io_submit(&fixture->io, requests, DEPTH, &accepted, NULL), DW_OK);
    assert_int_equal(accepted, DEPTH);
    close_io(fixture); /* nothing reaped */
    open_io(fixture);
    for (uint32_t i = 0; i < DEPTH; i++) {
        memset(buffers[i], 0, BLOCK);
        requests[i].op = DW_IO_READ;
    }
    dw_io_completion completions[DEPTH];
    run_all(fixture, requests, DEPTH, completions);
    for (uint32_t i = 0; i < DEPTH; i++) {
        assert_int_equal(completions[i].result, DW_OK);
        check_block(buffers[i], i, 9);
        assert_int_equal(dw_pool_give_back(fixture->pool, buffers[i], NULL), DW_OK);
    }
}

static void submitting_and_reaping_never_allocate(void **state)
{
    io_fixture *fixture = *state;
    open_io(fixture);
    unsigned char *buffer = dw_pool_try_rent(fixture->pool);
    dw_io_request requests[DEPTH];
    dw_io_completion completions[DEPTH];
    dw_alloc_counts before = dw_alloc_counts_now();
    for (uint32_t round = 0; round < 100; round++) {
        for (uint32_t i = 0; i < DEPTH; i++) {
            requests[i] = (dw_io_request){i % 2 ? DW_IO_READ : DW_IO_WRITE, BLOCK,
                                          (uint64_t)((round * DEPTH + i) % 256) * BLOCK, buffer, i, false};
        }
        run_all(fixture, requests, DEPTH, completions);
    }
    assert_int_equal(dw_alloc_counts_since(before), 0);
    assert_int_equal(dw_pool_give_back(fixture->pool, buffer, NULL), DW_OK);
}

static void latency_is_measured(void **state)
{
    io_fixture *fixture = *state;
    open_io(fixture);
    unsigned char *buffer = dw_pool_try_rent(fixture->pool);
    dw_io_request request = {DW_IO_WRITE, BLOCK, 0, buffer, 0, false};
    dw_io_completion completion;
    run_all(fixture, &request, 1, &completion);
    assert_int_equal(completion.result, DW_OK);
    assert_int_equal(completion.attempts, 1);
    if (fixture->backend == DW_IO_BACKEND_SIM) {
        /* Virtual time: exactly the disk's latency, every time. */
        assert_int_equal(completion.latency_ns, SIM_LATENCY_NS);
    } else {
        assert_true(completion.latency_ns > 0);
    }
    assert_int_equal(dw_pool_give_back(fixture->pool, buffer, NULL), DW_OK);
}

/* ---- the simulated disk's faults, through the common layer ---- */

static void short_transfers_are_resubmitted_to_the_end(void **state)
{
    io_fixture *fixture = *state;
    dw_sim_faults faults = {.latency_base_ns = SIM_LATENCY_NS, .short_io_ppm = 1000000};
    fixture_faults(fixture, &faults);
    open_io(fixture);
    static unsigned char data[4][4 * BLOCK] __attribute__((aligned(BLOCK)));
    dw_io_request requests[4];
    for (uint32_t i = 0; i < 4; i++) {
        for (uint32_t b = 0; b < 4; b++) {
            fill_block(data[i] + b * BLOCK, i * 4 + b, 3);
        }
        requests[i] = (dw_io_request){DW_IO_WRITE, 4 * BLOCK, (uint64_t)i * 4 * BLOCK, data[i], i, false};
    }
    dw_io_completion completions[4];
    run_all(fixture, requests, 4, completions);
    memset(data, 0, sizeof data);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(completions[i].result, DW_OK);
        requests[i].op = DW_IO_READ;
    }
    run_all(fixture, requests, 4, completions);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(completions[i].result, DW_OK);
        assert_true(completions[i].attempts > 1);
        for (uint32_t b = 0; b < 4; b++) {
            check_block(data[i] + b * BLOCK, i * 4 + b, 3);
        }
    }
    dw_io_stats stats;
    dw_io_stats_read(&fixture->io, &stats);
    assert_true(stats.short_resubmits >= 8);
}

static void transient_errors_are_retried_with_backoff(void **state)
{
    io_fixture *fixture = *state;
    dw_sim_faults faults = {.latency_base_ns = SIM_LATENCY_NS, .transient_error_ppm = 500000};
    fixture_faults(fixture, &faults);
    open_io(fixture);
    unsigned char *buffer = dw_pool_try_rent(fixture->pool);
    enum { COUNT = 200 };
    static dw_io_request requests[COUNT];
    static dw_io_completion completions[COUNT];
    for (uint32_t i = 0; i < COUNT; i++) {
        requests[i] = (dw_io_request){DW_IO_READ, BLOCK, (uint64_t)(i % 64) * BLOCK, buffer, i, false};
    }
    run_all(fixture, requests, COUNT, completions);
    uint32_t succeeded = 0;
    uint32_t exhausted = 0;
    for (uint32_t i = 0; i < COUNT; i++) {
        if (completions[i].result == DW_OK) {
            succeeded++;
        } else {
            /* Half of all attempts fail: a few requests fail all of theirs. */
            assert_int_equal(completions[i].result, DW_EBUSY);
            assert_int_equal(completions[i].error_number, EAGAIN);
            assert_int_equal(completions[i].category, DW_IO_RETRYABLE);
            assert_int_equal(completions[i].attempts, DW_IO_ATTEMPTS_MAX);
            exhausted++;
        }
    }
    dw_io_stats stats;
    dw_io_stats_read(&fixture->io, &stats);
    printf("# %u succeeded, %u failed after %d attempts, %llu retries\n", succeeded, exhausted,
           DW_IO_ATTEMPTS_MAX, (unsigned long long)stats.retries);
    assert_true(succeeded > COUNT * 9 / 10);
    assert_true(stats.retries > COUNT / 2);
    /* Backoff took virtual time: more than the requests alone would. */
    assert_true(fixture->sim.state.now_ns > (uint64_t)COUNT / DEPTH * SIM_LATENCY_NS);
    assert_int_equal(dw_pool_give_back(fixture->pool, buffer, NULL), DW_OK);
}

static void a_failed_sync_stays_failed_until_reopen(void **state)
{
    io_fixture *fixture = *state;
    open_io(fixture);
    unsigned char *buffer = dw_pool_try_rent(fixture->pool);
    dw_io_request write = {DW_IO_WRITE, BLOCK, 0, buffer, 0, false};
    dw_io_request sync = {.op = DW_IO_SYNC, .user_data = 0};
    dw_io_completion completion;
    run_all(fixture, &write, 1, &completion);
    dw_sim_disk_fail_next_syncs(&fixture->sim, 1, EIO);
    run_all(fixture, &sync, 1, &completion);
    assert_int_equal(completion.result, DW_EIO);
    assert_int_equal(completion.error_number, EIO);
    assert_int_equal(completion.category, DW_IO_MEDIA);
    char text[512];
    dw_io_describe(&fixture->io, &completion, text, sizeof text);
    assert_string_equal(text, "sync of 'sim:data' failed: Input/output error (media error, 1 attempts)");
    /* The disk syncs fine now; the io keeps saying no, and never asks it. */
    uint64_t syncs_before = fixture->sim.state.counters.syncs;
    for (int i = 0; i < 3; i++) {
        run_all(fixture, &write, 1, &completion);
        assert_int_equal(completion.result, DW_OK);
        run_all(fixture, &sync, 1, &completion);
        assert_int_equal(completion.result, DW_EIO);
    }
    assert_int_equal(fixture->sim.state.counters.syncs, syncs_before);
    close_io(fixture);
    open_io(fixture);
    run_all(fixture, &sync, 1, &completion);
    assert_int_equal(completion.result, DW_OK);
    assert_int_equal(dw_pool_give_back(fixture->pool, buffer, NULL), DW_OK);
}

static void media_errors_name_the_file_offset_and_operation(void **state)
{
    io_fixture *fixture = *state;
    open_io(fixture);
    dw_sim_disk_set_bad_sector(&fixture->sim, 3 * BLOCK / DW_SIM_SECTOR_SIZE + 2, true);
    unsigned char *buffer = dw_pool_try_rent(fixture->pool);
    dw_io_request read = {DW_IO_READ, BLOCK, 3 * BLOCK, buffer, 0, false};
    dw_io_completion completion;
    run_all(fixture, &read, 1, &completion);
    assert_int_equal(completion.result, DW_EIO);
    char text[512];
    dw_io_describe(&fixture->io, &completion, text, sizeof text);
    assert_string_equal(text, "read of 4096 bytes at offset 12288 of 'sim:data' failed: "
                              "Input/output error (media error, 1 attempts)");
    /* Rewriting the block remaps the sector. */
    dw_io_request write = {DW_IO_WRITE, BLOCK, 3 * BLOCK, buffer, 0, false};
    run_all(fixture, &write, 1, &completion);
    run_all(fixture, &read, 1, &completion);
    assert_int_equal(completion.result, DW_OK);
    assert_int_equal(dw_pool_give_back(fixture->pool, buffer, NULL), DW_OK);
}

/* ---- files: truncation behind our back, the lock, O_DIRECT and io_uring fallbacks ---- */

static void a_file_cut_short_fails_the_read(void **state)
{
    io_fixture *fixture = *state;
    open_io(fixture);
    write_round(fixture, 4);
    /* Another program truncates the file in the middle of block 10. */
    assert_int_equal(truncate(fixture->path, 10 * BLOCK + 512), 0);
    unsigned char *buffer = dw_pool_try_rent(fixture->pool);
    dw_io_request read = {DW_IO_READ, BLOCK, 10 * BLOCK, buffer, 0, false};
    dw_io_completion completion;
    run_all(fixture, &read, 1, &completion);
    assert_int_equal(completion.result, DW_EIO);
    assert_int_equal(completion.error_number, EIO);
    dw_io_request past = {DW_IO_READ, BLOCK, 20 * BLOCK, buffer, 0, false};
    run_all(fixture, &past, 1, &completion);
    assert_int_equal(completion.result, DW_EIO);
    assert_int_equal(dw_pool_give_back(fixture->pool, buffer, NULL), DW_OK);
}

static void a_second_opener_is_told_who_holds_the_file(void **state)
{
    io_fixture *fixture = *state;
    open_io(fixture);
    dw_budget budget;
    dw_budget_init(&budget, 16u << 20, 85);
    dw_arena arena;
    dw_arena_init(&arena, &budget);
    dw_io_plan plan;
    assert_int_equal(dw_io_plan_in(&arena, DEPTH, &plan, NULL), DW_OK);
    assert_int_equal(dw_arena_allocate(&arena, false, NULL), DW_OK);
    dw_io second;
    dw_diag diag;
    dw_diag_clear(&diag);
    assert_int_equal(dw_io_open(&second, &arena, &plan, &fixture->options, &diag), DW_EBUSY);
    char expected[700];
    (void)snprintf(expected, sizeof expected, "data file '%s' is in use by pid %ld", fixture->path,
                   (long)getpid());
    assert_string_equal(diag.message, expected);
    assert_true(strlen(diag.hint) > 0);
    dw_arena_close(&arena);
    /* Once the first closes, the file is free at once. */
    close_io(fixture);
    open_io(fixture);
}

static void o_direct_refused_falls_back_and_says_why(void **state)
{
    io_fixture *fixture = *state;
    /* ramfs refuses O_DIRECT (tmpfs takes it since Linux 6.6); mounting needs root. */
    char mount_point[600];
    dw_test_path(&fixture->dir, "ramfs", mount_point, sizeof mount_point);
    assert_int_equal(mkdir(mount_point, 0700), 0);
    bool mounted = mount("none", mount_point, "ramfs", 0, NULL) == 0;
    char path[700];
    if (mounted) {
        (void)snprintf(path, sizeof path, "%s/data.dwvd", mount_point);
        fixture->options.path = path;
    } else {
        fixture->options.direct_open_errno = EINVAL;
    }
    open_io(fixture);
    assert_false(fixture->io.direct);
    printf("# O_DIRECT fallback: %s\n", fixture->io.direct_reason);
    assert_non_null(strstr(fixture->io.direct_reason, mounted ? "ramfs refuses O_DIRECT" : "refuses O_DIRECT"));
    write_round(fixture, 5);
    read_round(fixture, 5);
    close_io(fixture);
    if (mounted) {
        assert_int_equal(umount(mount_point), 0);
    }
}

static void auto_falls_back_to_psync_and_says_why(void **state)
{
    io_fixture *fixture = *state;
    char log_path[600];
    dw_test_path(&fixture->dir, "io.log", log_path, sizeof log_path);
    dw_log log;
    assert_int_equal(dw_log_open(&log, log_path, DW_LOG_INFO, &fixture->clock, NULL), DW_OK);
    fixture->options.backend = DW_IO_BACKEND_AUTO;
    fixture->options.log = &log;
    fixture->options.uring_setup_errno = EPERM; /* as with sysctl kernel.io_uring_disabled=2 */
    dw_diag diag;
    dw_diag_clear(&diag);
    assert_int_equal(dw_io_open(&fixture->io, &fixture->arena, &fixture->io_plan, &fixture->options, &diag),
                     DW_OK);
    fixture->open = true;
    assert_int_equal(fixture->io.backend, DW_IO_BACKEND_PSYNC);
    assert_string_equal(fixture->io.backend_reason,
                        "io.backend = auto and io_uring is unavailable: io_uring is disabled by "
                        "sysctl kernel.io_uring_disabled or blocked by seccomp (EPERM) [injected "
                        "by a test]; using psync");
    write_round(fixture, 6);
    read_round(fixture, 6);
    close_io(fixture);
    dw_log_close(&log);
    char text[8192];
    dw_test_read_file(log_path, text, sizeof text);
    assert_non_null(strstr(text, "\"level\":\"warn\",\"component\":\"io\",\"msg\":\"io_uring unavailable, "
                                 "falling back to psync\""));
    assert_non_null(strstr(text, "\"backend\":\"psync\""));

    /* Asked for io_uring by name, the same failure is an error, not a fallback. */
    fixture->options.backend = DW_IO_BACKEND_IO_URING;
    fixture->options.log = NULL;
    assert_int_equal(dw_io_open(&fixture->io, &fixture->arena, &fixture->io_plan, &fixture->options, &diag),
                     DW_EPERM);
    assert_non_null(strstr(diag.message, "cannot use io_uring for"));
    assert_non_null(strstr(diag.hint, "io.backend = auto or psync"));
}

/* The direct path: any thread, at once, the same bytes the queued path sees; durable
 * writes through both paths; malformed requests refused as dw_io_submit refuses them. */
typedef struct direct_worker {
    dw_io *io;
    unsigned char *buffer;
    uint64_t block;
    int result;
} direct_worker;

static void *direct_from_a_thread(void *argument)
{
    direct_worker *worker = argument;
    fill_block(worker->buffer, worker->block, 5);
    dw_io_request write = {.op = DW_IO_WRITE, .length = BLOCK, .offset = worker->block * BLOCK,
                           .buffer = worker->buffer, .durable = true};
    dw_io_completion completion;
    dw_diag diag;
    worker->result = dw_io_direct(worker->io, &write, &completion, &diag);
    if (worker->result == DW_OK) {
        worker->result = completion.result;
    }
    return NULL;
}

static void the_direct_path_serves_any_thread(void **state)
{
    io_fixture *fixture = *state;
    open_io(fixture);
    assert_true(dw_io_direct_available(&fixture->io));
    write_round(fixture, 3); /* queued, from the driving thread */
    direct_worker workers[4];
    pthread_t threads[4];
    for (uint32_t i = 0; i < 4; i++) {
        workers[i] = (direct_worker){&fixture->io, dw_pool_try_rent(fixture->pool), 200 + i, DW_EIO};
        assert_non_null(workers[i].buffer);
        assert_int_equal(pthread_create(&threads[i], NULL, direct_from_a_thread, &workers[i]), 0);
    }
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(workers[i].result, DW_OK);
    }
    /* Read back directly what both paths wrote. */
    unsigned char *block = workers[0].buffer;
    dw_io_completion completion;
    dw_diag diag;
    for (uint64_t i = 0; i < ROUND_BLOCKS + 4; i++) {
        uint64_t home = i < ROUND_BLOCKS ? 2 * i : 200 + i - ROUND_BLOCKS;
        dw_io_request read = {.op = DW_IO_READ, .length = BLOCK, .offset = home * BLOCK, .buffer = block};
        assert_int_equal(dw_io_direct(&fixture->io, &read, &completion, &diag), DW_OK);
        assert_int_equal(completion.result, DW_OK);
        check_block(block, i < ROUND_BLOCKS ? i : home, i < ROUND_BLOCKS ? 3 : 5);
    }
    dw_io_request sync = {.op = DW_IO_SYNC};
    assert_int_equal(dw_io_direct(&fixture->io, &sync, &completion, &diag), DW_OK);
    assert_int_equal(completion.result, DW_OK);
    /* A durable write through the queue. */
    fill_block(block, 300, 9);
    dw_io_request durable = {.op = DW_IO_WRITE, .length = BLOCK, .offset = 300 * BLOCK, .buffer = block,
                             .durable = true};
    dw_io_completion completions[1];
    run_all(fixture, &durable, 1, completions);
    assert_int_equal(completions[0].result, DW_OK);
    /* Malformed: refused, nothing done. */
    dw_io_request unaligned = {.op = DW_IO_READ, .length = BLOCK, .offset = 512, .buffer = block};
    assert_int_equal(dw_io_direct(&fixture->io, &unaligned, &completion, &diag), DW_EINVAL);
    assert_non_null(strstr(diag.message, "offset is not a multiple"));
    assert_int_equal(atomic_load(&fixture->io.direct_requests), 4 + ROUND_BLOCKS + 4 + 1);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(dw_pool_give_back(fixture->pool, workers[i].buffer, NULL), DW_OK);
    }
    close_io(fixture);
}

static void *submit_from_another_thread(void *argument)
{
    io_fixture *fixture = argument;
    static unsigned char block[BLOCK] __attribute__((aligned(BLOCK)));
    dw_io_request read = {DW_IO_READ, BLOCK, 0, block, 0, false};
    uint32_t accepted = 0;
    assert_int_equal(dw_io_submit(&fixture->io, &read, 1, &accepted, NULL), DW_OK);
    return NULL;
}

static void reap_by_a_stranger(void *argument)
{
    io_fixture *fixture = argument;
    dw_io_completion completion;
    (void)dw_io_reap(&fixture->io, &completion, 1, DW_NS_PER_S);
}

static void only_the_driving_thread_may_reap(void **state)
{
    io_fixture *fixture = *state;
    open_io(fixture);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, submit_from_another_thread, fixture), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    char text[1024];
    assert_int_equal(dw_test_death(reap_by_a_stranger, fixture, text, sizeof text), SIGABRT);
    assert_non_null(strstr(text, "pthread_equal(io->driver, pthread_self())"));
    /* The driver has exited with a read in flight; this process abandons the io. */
    fixture->open = false;
}

static void errors_fall_into_categories(void **state)
{
    (void)state;
    const struct {
        int error_number;
        dw_io_category category;
    } cases[] = {
        {0, DW_IO_OK},          {EAGAIN, DW_IO_RETRYABLE}, {EINTR, DW_IO_RETRYABLE},
        {EIO, DW_IO_MEDIA},     {ENXIO, DW_IO_MEDIA},      {ENODEV, DW_IO_MEDIA},
        {ENOSPC, DW_IO_NO_SPACE}, {EDQUOT, DW_IO_NO_SPACE}, {EFBIG, DW_IO_NO_SPACE},
        {EACCES, DW_IO_PERMISSION}, {EPERM, DW_IO_PERMISSION}, {EROFS, DW_IO_PERMISSION},
        {EBADMSG, DW_IO_CORRUPTION}, {EUCLEAN, DW_IO_CORRUPTION},
        {EBADF, DW_IO_BUG},     {EFAULT, DW_IO_BUG},       {EINVAL, DW_IO_BUG},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(dw_io_categorize(cases[i].error_number), cases[i].category);
    }
    assert_string_equal(dw_io_category_name(DW_IO_NO_SPACE), "no space");
}

int main(void)
{
#define ON(backend, name)                                                                    \
    {#name " [" #backend "]", name, fixture_setup, fixture_teardown, &backend_##backend}
#define CONFORMANCE(name) ON(io_uring, name), ON(psync, name), ON(sim, name)
    const struct CMUnitTest tests[] = {
        CONFORMANCE(round_trips_in_batches_beyond_the_queue_depth),
        CONFORMANCE(a_batch_takes_only_the_free_slots),
        CONFORMANCE(malformed_requests_are_refused_whole),
        CONFORMANCE(closing_with_io_in_flight_finishes_it),
        CONFORMANCE(submitting_and_reaping_never_allocate),
        CONFORMANCE(latency_is_measured),
        ON(sim, short_transfers_are_resubmitted_to_the_end),
        ON(sim, transient_errors_are_retried_with_backoff),
        ON(sim, a_failed_sync_stays_failed_until_reopen),
        ON(sim, media_errors_name_the_file_offset_and_operation),
        ON(io_uring, a_file_cut_short_fails_the_read),
        ON(psync, a_file_cut_short_fails_the_read),
        ON(io_uring, a_second_opener_is_told_who_holds_the_file),
        ON(psync, a_second_opener_is_told_who_holds_the_file),
        ON(psync, o_direct_refused_falls_back_and_says_why),
        ON(psync, auto_falls_back_to_psync_and_says_why),
        ON(sim, only_the_driving_thread_may_reap),
        ON(io_uring, the_direct_path_serves_any_thread),
        ON(psync, the_direct_path_serves_any_thread),
        cmocka_unit_test(errors_fall_into_categories),
    };
    return cmocka_run_group_tests_name("io", tests, NULL, NULL);
}
