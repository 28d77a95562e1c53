/*
 * test_sched.c — the deadline scheduler on the simulated disk, driven step by step in
 * virtual time (exact deadlines, no sleeping): data round trips, EDF and FIFO order,
 * reserved slots, each miss action (log, fail, circuit-break opening and closing), budget
 * overruns, late submissions, pool exhaustion, shutdown, statistics, and a million
 * operations without an allocation. Then the real I/O thread with submitters on many
 * threads, on a real file.
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "io/sim_disk.h"
#include "mem/alloc_count.h"
#include "sched/edf.h"

#define BLOCK 4096
#define DISK_BYTES (UINT64_C(8) << 20)
#define LATENCY_NS (100 * DW_NS_PER_US)

typedef struct sched_fixture {
    dw_config config;
    dw_test_dir dir;
    char log_path[600];
    dw_log log;
    dw_budget budget;
    dw_arena arena;
    dw_pool_plan pool_plan;
    dw_io_plan io_plan;
    dw_sched_plan sched_plan;
    dw_pool *pool;
    void *sim_memory;
    dw_sim_disk disk;
    dw_io io;
    dw_sched sched;
    bool stopped;
    dw_clock system_clock;
} sched_fixture;

/* Opens a scheduler over a 1-channel sim disk of LATENCY_NS per request, with the
 * fixture's config (tests adjust it first). */
static void open_scheduler(sched_fixture *fixture)
{
    dw_config *config = &fixture->config;
    dw_diag diag;
    dw_diag_clear(&diag);
    dw_budget_init(&fixture->budget, 64u << 20, 85);
    dw_arena_init(&fixture->arena, &fixture->budget);
    assert_int_equal(dw_pool_plan_in(&fixture->arena, config->buffer_count, BLOCK, &fixture->pool_plan, &diag), DW_OK);
    assert_int_equal(dw_io_plan_in(&fixture->arena, config->queue_depth, &fixture->io_plan, &diag), DW_OK);
    assert_int_equal(dw_sched_plan_in(&fixture->arena, config, &fixture->sched_plan, &diag), DW_OK);
    assert_int_equal(dw_arena_allocate(&fixture->arena, false, &diag), DW_OK);
    dw_sim_faults faults = {.latency_base_ns = LATENCY_NS, .channels = 1};
    dw_sim_disk_init(&fixture->disk, fixture->sim_memory, DISK_BYTES, 1u << 20, 3, &faults);
    const dw_clock *clock = &fixture->disk.clock.clock;
    fixture->pool = dw_pool_open_in(&fixture->arena, &fixture->pool_plan, clock);
    dw_io_options options = {.path = "sim:sched", .backend = DW_IO_BACKEND_SIM,
                             .queue_depth = config->queue_depth, .block_size = BLOCK,
                             .clock = clock, .sim_disk = &fixture->disk};
    assert_int_equal(dw_io_open(&fixture->io, &fixture->arena, &fixture->io_plan, &options, &diag), DW_OK);
    assert_int_equal(dw_log_open(&fixture->log, fixture->log_path, DW_LOG_INFO, clock, NULL), DW_OK);
    int result = dw_sched_open(&fixture->sched, &fixture->arena, &fixture->sched_plan, config,
                               &fixture->io, fixture->pool, clock, &fixture->log, &diag);
    if (result != DW_OK) {
        fail_msg("dw_sched_open: %s", diag.message);
    }
}

static int fixture_setup(void **state)
{
    sched_fixture *fixture = dw_test_aligned_alloc(64, sizeof(sched_fixture));
    memset(fixture, 0, sizeof *fixture);
    dw_config_defaults(&fixture->config);
    fixture->config.queue_depth = 8;
    fixture->config.buffer_count = 64;
    fixture->config.request_slots = 64;
    dw_test_dir_create(&fixture->dir);
    dw_test_path(&fixture->dir, "sched.log", fixture->log_path, sizeof fixture->log_path);
    fixture->sim_memory = dw_test_aligned_alloc(4096, (size_t)dw_sim_disk_memory_bytes(DISK_BYTES, 1u << 20));
    dw_clock_system_init(&fixture->system_clock, 0);
    *state = fixture;
    return 0;
}

static int fixture_teardown(void **state)
{
    sched_fixture *fixture = *state;
    if (!fixture->stopped && fixture->sched.slots != NULL) {
        (void)dw_sched_stop(&fixture->sched, 0);
    }
    dw_log_close(&fixture->log);
    dw_arena_close(&fixture->arena);
    free(fixture->sim_memory);
    dw_test_dir_remove(&fixture->dir);
    free(fixture);
    return 0;
}

static uint64_t now_ns(sched_fixture *fixture)
{
    return dw_clock_now_ns(&fixture->disk.clock.clock);
}

static dw_sched_ticket submit_ok(sched_fixture *fixture, const dw_sched_request *request)
{
    dw_sched_ticket ticket;
    dw_diag diag;
    dw_diag_clear(&diag);
    int result = dw_sched_submit(&fixture->sched, request, &ticket, &diag);
    if (result != DW_OK) {
        fail_msg("dw_sched_submit: %s", diag.message);
    }
    return ticket;
}

/* Steps until the ticket's request is done; returns its completion. */
static dw_sched_completion collect(sched_fixture *fixture, dw_sched_ticket ticket)
{
    dw_sched_completion completion;
    for (int step = 0; step < 100000; step++) {
        if (dw_sched_poll(&fixture->sched, ticket, &completion)) {
            return completion;
        }
        (void)dw_sched_step(&fixture->sched, DW_NS_PER_S);
    }
    fail_msg("request never completed");
    return completion;
}

static void run_until_idle(sched_fixture *fixture)
{
    for (int step = 0; step < 100000 && dw_sched_step(&fixture->sched, DW_NS_PER_S); step++) {
    }
}

static dw_sched_request read_request(uint64_t block, void *data, uint64_t deadline, dw_priority priority)
{
    return (dw_sched_request){.op_class = DW_OP_READ, .priority = priority, .deadline_ns = deadline,
                              .block = block, .block_count = 1, .read_data = data};
}

static dw_sched_request write_request(uint64_t block, const void *data, uint64_t deadline,
                                      dw_priority priority)
{
    return (dw_sched_request){.op_class = DW_OP_WRITE, .priority = priority, .deadline_ns = deadline,
                              .block = block, .block_count = 1, .write_data = data};
}

static void blocks_round_trip_through_the_scheduler(void **state)
{
    sched_fixture *fixture = *state;
    fixture->config.queue_depth = 32; /* room for 16-block batches in every class's share */
    open_scheduler(fixture);
    static unsigned char data[DW_SCHED_BATCH_MAX * BLOCK];
    static unsigned char back[DW_SCHED_BATCH_MAX * BLOCK];
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (unsigned char)(i * 7 + i / BLOCK);
    }
    uint64_t deadline = now_ns(fixture) + DW_NS_PER_S;
    dw_sched_request write = write_request(3, data, deadline, DW_PRIORITY_NORMAL);
    dw_sched_completion done = collect(fixture, submit_ok(fixture, &write));
    assert_int_equal(done.result, DW_OK);
    assert_false(done.missed);
    assert_true(done.dispatched_ns >= done.submitted_ns && done.completed_ns > done.dispatched_ns);
    dw_sched_request batch = {.op_class = DW_OP_WRITE_BATCH, .priority = DW_PRIORITY_HIGH,
                              .deadline_ns = deadline, .block = 100, .block_count = DW_SCHED_BATCH_MAX,
                              .write_data = data};
    assert_int_equal(collect(fixture, submit_ok(fixture, &batch)).result, DW_OK);
    dw_sched_request flush = {.op_class = DW_OP_FLUSH, .priority = DW_PRIORITY_CRITICAL, .deadline_ns = deadline};
    assert_int_equal(collect(fixture, submit_ok(fixture, &flush)).result, DW_OK);
    dw_sched_request read = read_request(3, back, deadline, DW_PRIORITY_NORMAL);
    assert_int_equal(collect(fixture, submit_ok(fixture, &read)).result, DW_OK);
    assert_memory_equal(back, data, BLOCK);
    dw_sched_request read_batch = {.op_class = DW_OP_READ_BATCH, .priority = DW_PRIORITY_BEST_EFFORT,
                                   .deadline_ns = deadline, .block = 100, .block_count = DW_SCHED_BATCH_MAX,
                                   .read_data = back};
    assert_int_equal(collect(fixture, submit_ok(fixture, &read_batch)).result, DW_OK);
    assert_memory_equal(back, data, sizeof data);
    dw_sched_stats stats;
    dw_sched_stats_read(&fixture->sched, &stats);
    assert_int_equal(stats.submitted, 5);
    assert_int_equal(stats.completed, 5);
    assert_int_equal(stats.misses, 0);
    assert_int_equal(stats.buffers_in_use, 0);
    assert_int_equal(stats.by_class[DW_OP_WRITE_BATCH].completed, 1);
}

static void malformed_requests_are_refused(void **state)
{
    sched_fixture *fixture = *state;
    open_scheduler(fixture);
    unsigned char data[BLOCK];
    uint64_t deadline = now_ns(fixture) + DW_NS_PER_S;
    const dw_sched_request cases[] = {
        {.op_class = DW_OP_READ, .block = 0, .block_count = 2, .read_data = data, .deadline_ns = deadline},
        {.op_class = DW_OP_READ_BATCH, .block = 0, .block_count = 1, .read_data = data, .deadline_ns = deadline},
        {.op_class = DW_OP_WRITE_BATCH, .block = 0, .block_count = 17, .write_data = data, .deadline_ns = deadline},
        {.op_class = DW_OP_READ, .block = DISK_BYTES / BLOCK, .block_count = 1, .read_data = data, .deadline_ns = deadline},
        {.op_class = DW_OP_WRITE, .block = 0, .block_count = 1, .write_data = NULL, .deadline_ns = deadline},
        {.op_class = (dw_op_class)9, .block_count = 1, .read_data = data, .deadline_ns = deadline},
        {.op_class = DW_OP_READ, .priority = (dw_priority)4, .block_count = 1, .read_data = data, .deadline_ns = deadline},
        /* Best-effort may use 8 - (2 + 1 + 1) = 4 device slots: a batch of 5 never fits. */
        {.op_class = DW_OP_READ_BATCH, .priority = DW_PRIORITY_BEST_EFFORT, .block_count = 5,
         .read_data = data, .deadline_ns = deadline},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dw_diag diag;
        dw_diag_clear(&diag);
        assert_int_equal(dw_sched_submit(&fixture->sched, &cases[i], NULL, &diag), DW_EINVAL);
        assert_non_null(strstr(diag.message, "is refused"));
    }
    dw_sched_stats stats;
    dw_sched_stats_read(&fixture->sched, &stats);
    assert_int_equal(stats.refused, sizeof cases / sizeof cases[0]);
    assert_int_equal(stats.submitted, 0);
}

typedef struct order_log {
    uint64_t ids[64];
    uint32_t count;
} order_log;

static void note_order(void *context, const dw_sched_completion *completion)
{
    order_log *log = context;
    log->ids[log->count++] = completion->id;
}

/* Submits 12 reads with shuffled deadlines behind a blocking flush, and returns the
 * submission index of each, in completion order. */
static void run_order(sched_fixture *fixture, uint32_t *order)
{
    static unsigned char data[12][BLOCK];
    static order_log log;
    memset(&log, 0, sizeof log);
    fixture->config.queue_depth = 1;
    open_scheduler(fixture);
    uint64_t start = now_ns(fixture);
    const uint64_t deadline_ms[12] = {9, 3, 7, 1, 12, 5, 2, 11, 4, 8, 6, 10};
    const dw_priority priorities[12] = {3, 0, 2, 1, 3, 0, 1, 2, 3, 0, 1, 2};
    uint64_t first_id = atomic_load(&fixture->sched.next_id); /* ids are given in order */
    for (uint32_t i = 0; i < 12; i++) {
        dw_sched_request request = read_request(i, data[i], start + deadline_ms[i] * DW_NS_PER_MS, priorities[i]);
        request.on_complete = note_order;
        request.context = &log;
        (void)submit_ok(fixture, &request);
    }
    run_until_idle(fixture);
    assert_int_equal(log.count, 12);
    for (uint32_t i = 0; i < 12; i++) {
        order[i] = (uint32_t)(log.ids[i] - first_id);
    }
}

static void edf_serves_the_earliest_deadline_first(void **state)
{
    sched_fixture *fixture = *state;
    uint32_t order[12];
    run_order(fixture, order);
    /* Deadlines 1, 2, 3 ... ms belong to submissions 3, 6, 1, 8, 5, 10, 2, 9, 0, 11, 7, 4. */
    const uint32_t expected[12] = {3, 6, 1, 8, 5, 10, 2, 9, 0, 11, 7, 4};
    assert_memory_equal(order, expected, sizeof expected);
}

static void fifo_serves_in_arrival_order(void **state)
{
    sched_fixture *fixture = *state;
    fixture->config.sched_policy = DW_SCHED_FIFO;
    uint32_t order[12];
    run_order(fixture, order);
    for (uint32_t i = 0; i < 12; i++) {
        assert_int_equal(order[i], i);
    }
}

static void reserved_slots_keep_room_for_critical_work(void **state)
{
    sched_fixture *fixture = *state;
    open_scheduler(fixture);
    static unsigned char data[BLOCK];
    uint64_t deadline = now_ns(fixture) + DW_NS_PER_S;
    /* 64 slots: critical reserves 8, high and normal 4 each. */
    uint32_t best_effort = 0;
    dw_diag diag;
    for (;;) {
        dw_sched_request request = read_request(best_effort, data, deadline, DW_PRIORITY_BEST_EFFORT);
        dw_diag_clear(&diag);
        if (dw_sched_submit(&fixture->sched, &request, NULL, &diag) != DW_OK) {
            break;
        }
        best_effort++;
    }
    assert_int_equal(best_effort, 64 - 16);
    assert_non_null(strstr(diag.message, "no request slot is free for best-effort work"));
    uint32_t normal = 0;
    dw_sched_request request = read_request(0, data, deadline, DW_PRIORITY_NORMAL);
    while (dw_sched_submit(&fixture->sched, &request, NULL, NULL) == DW_OK) {
        normal++;
    }
    assert_int_equal(normal, 4);
    uint32_t critical = 0;
    request.priority = DW_PRIORITY_CRITICAL;
    while (dw_sched_submit(&fixture->sched, &request, NULL, NULL) == DW_OK) {
        critical++;
    }
    assert_int_equal(critical, 12); /* its own 8, and the 4 high never used */
    run_until_idle(fixture);
}

/* A batch is taken in order up to the first refusal: here the normal class's share of
 * the 64 slots (all but critical's 8 and high's 4); those taken run and complete. */
static void a_batch_is_taken_up_to_the_first_refusal(void **state)
{
    sched_fixture *fixture = *state;
    open_scheduler(fixture);
    static unsigned char data[60][BLOCK];
    static dw_sched_request requests[60];
    static dw_sched_ticket tickets[60];
    uint64_t deadline = now_ns(fixture) + DW_NS_PER_S;
    for (uint32_t i = 0; i < 60; i++) {
        memset(data[i], (int)i + 1, BLOCK);
        requests[i] = write_request(i, data[i], deadline, DW_PRIORITY_NORMAL);
    }
    uint32_t accepted = 99;
    dw_diag diag;
    dw_diag_clear(&diag);
    assert_int_equal(dw_sched_submit_batch(&fixture->sched, requests, 60, tickets, &accepted, &diag), DW_EBUSY);
    assert_int_equal(accepted, 64 - 8 - 4);
    assert_non_null(strstr(diag.message, "no request slot is free for normal work"));
    for (uint32_t i = 0; i < accepted; i++) {
        dw_sched_completion done = collect(fixture, tickets[i]);
        assert_int_equal(done.result, DW_OK);
        assert_int_equal(done.block, i);
        assert_int_equal(done.block_count, 1);
    }
    /* All slots back: the rest go now. */
    assert_int_equal(dw_sched_submit_batch(&fixture->sched, requests + accepted, 60 - accepted, NULL, &accepted,
                                           &diag),
                     DW_OK);
    assert_int_equal(accepted, 60 - (64 - 8 - 4));
    run_until_idle(fixture);
    unsigned char back[BLOCK];
    for (uint32_t i = 0; i < 60; i += 7) {
        dw_sched_request read = read_request(i, back, now_ns(fixture) + DW_NS_PER_S, DW_PRIORITY_NORMAL);
        assert_int_equal(collect(fixture, submit_ok(fixture, &read)).result, DW_OK);
        assert_memory_equal(back, data[i], BLOCK);
    }
}

static void best_effort_cannot_fill_the_device(void **state)
{
    sched_fixture *fixture = *state;
    open_scheduler(fixture);
    static unsigned char data[40][BLOCK];
    uint64_t deadline = now_ns(fixture) + DW_NS_PER_S;
    for (uint32_t i = 0; i < 40; i++) {
        dw_sched_request request = read_request(i, data[i], deadline, DW_PRIORITY_BEST_EFFORT);
        (void)submit_ok(fixture, &request);
    }
    (void)dw_sched_step(&fixture->sched, 0);
    /* Depth 8: critical keeps 2, high 1, normal 1; best-effort uses at most 4. */
    assert_int_equal(fixture->sched.device_in_flight, 4);
    dw_sched_request critical = read_request(50, data[0], deadline, DW_PRIORITY_CRITICAL);
    dw_sched_ticket ticket = submit_ok(fixture, &critical);
    (void)dw_sched_step(&fixture->sched, 0);
    assert_int_equal(fixture->sched.device_in_flight, 5); /* dispatched at once */
    dw_sched_completion done = collect(fixture, ticket);
    assert_int_equal(done.result, DW_OK);
    run_until_idle(fixture);
}

static void the_log_action_logs_the_miss(void **state)
{
    sched_fixture *fixture = *state;
    open_scheduler(fixture);
    static unsigned char data[BLOCK];
    dw_sched_request request = read_request(1, data, now_ns(fixture) + 10 * DW_NS_PER_US, DW_PRIORITY_HIGH);
    dw_sched_completion done = collect(fixture, submit_ok(fixture, &request));
    assert_int_equal(done.result, DW_OK); /* logged, not failed */
    assert_true(done.missed);
    assert_int_equal(done.cause, DW_MISS_CAUSE_LATE);
    dw_log_close(&fixture->log);
    char text[8192];
    dw_test_read_file(fixture->log_path, text, sizeof text);
    char expected[256];
    (void)snprintf(expected, sizeof expected,
                   "\"msg\":\"deadline missed\",\"id\":%llu,\"class\":\"read block\",\"priority\":\"high\","
                   "\"cause\":\"late\",\"deadline_ns\":%llu,\"actual_ns\":%llu",
                   (unsigned long long)done.id, (unsigned long long)done.deadline_ns,
                   (unsigned long long)done.completed_ns);
    if (strstr(text, expected) == NULL) {
        fail_msg("log lacks %s:\n%s", expected, text);
    }
    assert_int_equal(dw_log_open(&fixture->log, fixture->log_path, DW_LOG_INFO, &fixture->disk.clock.clock, NULL),
                     DW_OK);
}

static void the_fail_action_fails_late_work_and_cancels_expired_work(void **state)
{
    sched_fixture *fixture = *state;
    fixture->config.miss_action = DW_MISS_FAIL;
    fixture->config.queue_depth = 1;
    open_scheduler(fixture);
    static unsigned char data[4][BLOCK];
    uint64_t start = now_ns(fixture);
    /* One request at a time, 100 us each: the first finishes at 100 us, past its 50 us
     * deadline; the second's 80 us deadline passes while it waits for the first. */
    dw_sched_request late = read_request(0, data[0], start + 50 * DW_NS_PER_US, DW_PRIORITY_NORMAL);
    dw_sched_request expiring = read_request(1, data[1], start + 80 * DW_NS_PER_US, DW_PRIORITY_NORMAL);
    dw_sched_request fine = read_request(2, data[2], start + DW_NS_PER_S, DW_PRIORITY_NORMAL);
    dw_sched_ticket late_ticket = submit_ok(fixture, &late);
    dw_sched_ticket expiring_ticket = submit_ok(fixture, &expiring);
    dw_sched_ticket fine_ticket = submit_ok(fixture, &fine);
    dw_sched_completion done = collect(fixture, late_ticket);
    assert_int_equal(done.result, DW_EDEADLINE);
    assert_true(done.missed);
    assert_int_equal(done.cause, DW_MISS_CAUSE_LATE);
    done = collect(fixture, expiring_ticket);
    assert_int_equal(done.result, DW_EDEADLINE);
    assert_int_equal(done.cause, DW_MISS_CAUSE_EXPIRED);
    assert_int_equal(done.dispatched_ns, 0); /* it never started */
    done = collect(fixture, fine_ticket);
    assert_int_equal(done.result, DW_OK);
    assert_false(done.missed);
    dw_sched_stats stats;
    dw_sched_stats_read(&fixture->sched, &stats);
    assert_int_equal(stats.misses_by_cause[DW_MISS_CAUSE_EXPIRED], 1);
    assert_int_equal(stats.cancelled, 1);
    assert_int_equal(fixture->disk.state.counters.reads, 2);
}

static void the_circuit_opens_on_misses_and_closes_when_latency_recovers(void **state)
{
    sched_fixture *fixture = *state;
    fixture->config.miss_action = DW_MISS_CIRCUIT_BREAK;
    fixture->config.circuit_misses = 3;
    fixture->config.circuit_window_ns = 5 * DW_NS_PER_MS;
    fixture->config.circuit_latency_ns = 500 * DW_NS_PER_US;
    open_scheduler(fixture);
    static unsigned char data[BLOCK];
    dw_sched *sched = &fixture->sched;
    for (int i = 0; i < 3; i++) {
        dw_sched_request late = read_request(0, data, now_ns(fixture) + DW_NS_PER_US, DW_PRIORITY_NORMAL);
        dw_sched_completion done = collect(fixture, submit_ok(fixture, &late));
        assert_true(done.missed);
        assert_int_equal(done.result, DW_OK);
        assert_int_equal(atomic_load(&sched->circuit_open), i == 2);
    }
    dw_sched_request best_effort = read_request(0, data, now_ns(fixture) + DW_NS_PER_S, DW_PRIORITY_BEST_EFFORT);
    dw_diag diag;
    dw_diag_clear(&diag);
    assert_int_equal(dw_sched_submit(sched, &best_effort, NULL, &diag), DW_EBUSY);
    assert_non_null(strstr(diag.message, "circuit is open"));
    /* Critical work still runs, and its 100 us latency is under the 500 us threshold. */
    uint64_t opened_at = now_ns(fixture);
    while (atomic_load(&sched->circuit_open)) {
        dw_sched_request critical = read_request(0, data, now_ns(fixture) + DW_NS_PER_S, DW_PRIORITY_CRITICAL);
        assert_int_equal(collect(fixture, submit_ok(fixture, &critical)).result, DW_OK);
    }
    /* It closed after one quiet window of good latency. */
    assert_true(now_ns(fixture) - opened_at >= fixture->config.circuit_window_ns);
    assert_true(now_ns(fixture) - opened_at < fixture->config.circuit_window_ns + DW_NS_PER_MS);
    best_effort.deadline_ns = now_ns(fixture) + DW_NS_PER_S;
    assert_int_equal(collect(fixture, submit_ok(fixture, &best_effort)).result, DW_OK);
    dw_sched_stats stats;
    dw_sched_stats_read(sched, &stats);
    assert_int_equal(stats.circuit_openings, 1);
    assert_int_equal(stats.circuit_closings, 1);
    assert_false(stats.circuit_open);
}

static void an_overrun_budget_is_a_miss(void **state)
{
    sched_fixture *fixture = *state;
    fixture->config.wcet_read_ns = 50 * DW_NS_PER_US; /* less than the disk's 100 us */
    open_scheduler(fixture);
    static unsigned char data[BLOCK];
    dw_sched_request read = read_request(0, data, now_ns(fixture) + DW_NS_PER_S, DW_PRIORITY_NORMAL);
    dw_sched_completion done = collect(fixture, submit_ok(fixture, &read));
    assert_true(done.missed);
    assert_int_equal(done.cause, DW_MISS_CAUSE_BUDGET);
    dw_sched_stats stats;
    dw_sched_stats_read(&fixture->sched, &stats);
    assert_int_equal(stats.by_class[DW_OP_READ].service_max_ns, LATENCY_NS);
}

static void late_submissions_run_or_are_refused(void **state)
{
    sched_fixture *fixture = *state;
    fixture->config.late_submission = DW_LATE_REFUSE;
    open_scheduler(fixture);
    static unsigned char data[BLOCK];
    dw_sim_disk_advance_to(&fixture->disk, 10 * DW_NS_PER_MS);
    dw_sched_request late = read_request(0, data, 5 * DW_NS_PER_MS, DW_PRIORITY_CRITICAL);
    dw_diag diag;
    dw_diag_clear(&diag);
    assert_int_equal(dw_sched_submit(&fixture->sched, &late, NULL, &diag), DW_EDEADLINE);
    assert_non_null(strstr(diag.message, "passed 5000000 ns before it was submitted"));
    fixture->sched.config.late_submission = DW_LATE_RUN;
    dw_sched_completion done = collect(fixture, submit_ok(fixture, &late));
    assert_int_equal(done.result, DW_OK);
    assert_true(done.missed);
}

static void an_empty_pool_delays_dispatch_and_is_the_cause(void **state)
{
    sched_fixture *fixture = *state;
    fixture->config.buffer_count = 4;
    open_scheduler(fixture);
    unsigned char *held[4];
    for (int i = 0; i < 4; i++) {
        held[i] = dw_pool_try_rent(fixture->pool);
    }
    static unsigned char data[BLOCK];
    dw_sched_request read = read_request(0, data, now_ns(fixture) + 50 * DW_NS_PER_US, DW_PRIORITY_CRITICAL);
    dw_sched_ticket ticket = submit_ok(fixture, &read);
    (void)dw_sched_step(&fixture->sched, 0);
    (void)dw_sched_step(&fixture->sched, 0);
    assert_int_equal(fixture->sched.device_in_flight, 0);
    dw_sim_disk_advance_to(&fixture->disk, now_ns(fixture) + DW_NS_PER_MS);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(dw_pool_give_back(fixture->pool, held[i], NULL), DW_OK);
    }
    dw_sched_completion done = collect(fixture, ticket);
    assert_int_equal(done.result, DW_OK);
    assert_true(done.missed);
    assert_int_equal(done.cause, DW_MISS_CAUSE_NO_BUFFER);
    dw_sched_stats stats;
    dw_sched_stats_read(&fixture->sched, &stats);
    assert_true(stats.pool_exhaustions >= 2);
}

static void stopping_runs_what_it_can_and_cancels_the_rest(void **state)
{
    sched_fixture *fixture = *state;
    fixture->config.queue_depth = 1;
    open_scheduler(fixture);
    static unsigned char data[20][BLOCK];
    dw_sched_ticket tickets[20];
    for (uint32_t i = 0; i < 20; i++) {
        dw_sched_request read = read_request(i, data[i], now_ns(fixture) + DW_NS_PER_S, DW_PRIORITY_NORMAL);
        tickets[i] = submit_ok(fixture, &read);
    }
    (void)dw_sched_step(&fixture->sched, 0); /* one dispatched */
    uint32_t cancelled = dw_sched_stop(&fixture->sched, 0);
    fixture->stopped = true;
    assert_int_equal(cancelled, 19);
    uint32_t ok = 0;
    uint32_t canceled = 0;
    for (uint32_t i = 0; i < 20; i++) {
        dw_sched_completion done;
        assert_true(dw_sched_poll(&fixture->sched, tickets[i], &done));
        ok += done.result == DW_OK;
        canceled += done.result == DW_ECANCELED;
    }
    assert_int_equal(ok, 1);
    assert_int_equal(canceled, 19);
    dw_pool_stats pool;
    dw_pool_stats_read(fixture->pool, &pool);
    assert_int_equal(pool.in_use, 0); /* no buffer leaked */
    dw_sched_request late = read_request(0, data[0], DW_NS_PER_S, DW_PRIORITY_CRITICAL);
    dw_diag diag;
    dw_diag_clear(&diag);
    assert_int_equal(dw_sched_submit(&fixture->sched, &late, NULL, &diag), DW_EBUSY);
    assert_non_null(strstr(diag.message, "stopping"));
}

static void statistics_read_as_json(void **state)
{
    sched_fixture *fixture = *state;
    open_scheduler(fixture);
    static unsigned char data[BLOCK];
    for (int i = 0; i < 50; i++) {
        dw_sched_request read = read_request((uint64_t)i, data, now_ns(fixture) + (i % 2 ? DW_NS_PER_S : 1),
                                             (dw_priority)(i % 4));
        (void)collect(fixture, submit_ok(fixture, &read));
    }
    dw_sched_stats stats;
    dw_sched_stats_read(&fixture->sched, &stats);
    assert_int_equal(stats.completed, 50);
    assert_int_equal(stats.misses, 25);
    assert_int_equal(stats.by_class[DW_OP_READ].p50_ns, LATENCY_NS);
    assert_int_equal(stats.by_class[DW_OP_READ].p90_ns, LATENCY_NS);
    assert_int_equal(stats.by_class[DW_OP_READ].p9999_ns, LATENCY_NS);
    assert_int_equal(stats.by_priority[DW_PRIORITY_CRITICAL].completed, 13);
    FILE *stream = tmpfile();
    assert_non_null(stream);
    dw_sched_stats_write_json(&stats, stream);
    char text[8192];
    size_t length = dw_test_read_stream(stream, text, sizeof text);
    (void)fclose(stream);
    if (!dw_test_json_valid(text, length)) {
        fail_msg("not JSON: %s", text);
    }
    assert_non_null(strstr(text, "\"misses\":25,"));
    assert_non_null(strstr(text, "\"read block\":{\"completed\":50,"));
    uint64_t recent[64];
    assert_int_equal(dw_sched_recent_latencies(&fixture->sched, recent, 64), 50);
    assert_int_equal(recent[0], LATENCY_NS);
}

typedef struct churn {
    dw_sched *sched;
    unsigned char *data;
    uint64_t remaining;
    uint64_t completed;
    uint64_t *now;
} churn;

/* Each completion submits the next request, until the count runs out. */
static void churn_next(void *context, const dw_sched_completion *completion)
{
    churn *work = context;
    (void)completion;
    work->completed++;
    if (work->remaining == 0) {
        return;
    }
    work->remaining--;
    uint64_t n = work->remaining;
    dw_sched_request request = {
        .op_class = n % 3 == 0 ? DW_OP_WRITE : DW_OP_READ,
        .priority = (dw_priority)(n % 4),
        .deadline_ns = *work->now + DW_NS_PER_S,
        .block = n % 1024,
        .block_count = 1,
        .write_data = work->data,
        .read_data = work->data,
        .on_complete = churn_next,
        .context = work,
    };
    int result = dw_sched_submit(work->sched, &request, NULL, NULL);
    if (result != DW_OK) {
        fail_msg("resubmission refused: %d", result);
    }
}

static void a_million_operations_without_an_allocation(void **state)
{
    sched_fixture *fixture = *state;
    fixture->config.miss_action = DW_MISS_CIRCUIT_BREAK;
    open_scheduler(fixture);
    static unsigned char data[BLOCK];
    uint64_t now = 0;
    churn work = {&fixture->sched, data, 1000000, 0, &now};
    dw_alloc_counts before = dw_alloc_counts_now();
    for (int i = 0; i < 8; i++) {
        work.remaining--;
        dw_sched_request first = read_request((uint64_t)i, data, DW_NS_PER_S, DW_PRIORITY_NORMAL);
        first.on_complete = churn_next;
        first.context = &work;
        (void)submit_ok(fixture, &first);
    }
    while (dw_sched_step(&fixture->sched, DW_NS_PER_S)) {
        now = now_ns(fixture);
    }
    uint64_t allocations = dw_alloc_counts_since(before);
    printf("# %llu operations scheduled, %llu allocations (%s)\n", (unsigned long long)work.completed,
           (unsigned long long)allocations, dw_alloc_counting_mechanism());
    assert_int_equal(work.completed, 1000000);
    assert_int_equal(allocations, 0);
    assert_true(dw_alloc_counting_works());
}

/* ---- the I/O thread, with submitters on other threads, on a real file ---- */

enum { SUBMITTERS = 4, PER_SUBMITTER = 2000 };

typedef struct submitter {
    dw_sched *sched;
    const dw_clock *clock;
    int id;
    int errors;
} submitter;

static void *submit_and_wait(void *argument)
{
    submitter *self = argument;
    static _Thread_local unsigned char write_data[BLOCK] __attribute__((aligned(64)));
    static _Thread_local unsigned char read_data[BLOCK] __attribute__((aligned(64)));
    for (int i = 0; i < PER_SUBMITTER; i++) {
        uint64_t block = (uint64_t)self->id * PER_SUBMITTER + (uint64_t)i;
        memset(write_data, (int)(block & 0xff), BLOCK);
        dw_sched_request write = write_request(block, write_data, dw_clock_now_ns(self->clock) + 10 * DW_NS_PER_S,
                                               (dw_priority)(i % 4));
        dw_sched_ticket ticket;
        dw_sched_completion done;
        int result = DW_EBUSY;
        while (result == DW_EBUSY) {
            result = dw_sched_submit(self->sched, &write, &ticket, NULL);
        }
        if (result != DW_OK || dw_sched_wait(self->sched, ticket, 30 * DW_NS_PER_S, &done) != DW_OK ||
            done.result != DW_OK) {
            self->errors++;
            continue;
        }
        dw_sched_request read = read_request(block, read_data, dw_clock_now_ns(self->clock) + 10 * DW_NS_PER_S,
                                             DW_PRIORITY_CRITICAL);
        result = DW_EBUSY;
        while (result == DW_EBUSY) {
            result = dw_sched_submit(self->sched, &read, &ticket, NULL);
        }
        if (result != DW_OK || dw_sched_wait(self->sched, ticket, 30 * DW_NS_PER_S, &done) != DW_OK ||
            done.result != DW_OK || read_data[0] != (unsigned char)(block & 0xff) ||
            read_data[BLOCK - 1] != (unsigned char)(block & 0xff)) {
            self->errors++;
        }
    }
    return NULL;
}

static void the_io_thread_serves_many_submitters(void **state)
{
    sched_fixture *fixture = *state;
    dw_config *config = &fixture->config;
    config->queue_depth = 16;
    config->request_slots = 64;
    /* SCHED_FIFO works here (the code path is the same), but a real-time thread has no
     * place in a shared CI machine's unit tests; dw-bench edf runs with it. */
    config->io_realtime = false;
    dw_diag diag;
    dw_diag_clear(&diag);
    dw_budget_init(&fixture->budget, 64u << 20, 85);
    dw_arena_init(&fixture->arena, &fixture->budget);
    assert_int_equal(dw_pool_plan_in(&fixture->arena, config->buffer_count, BLOCK, &fixture->pool_plan, &diag), DW_OK);
    assert_int_equal(dw_io_plan_in(&fixture->arena, config->queue_depth, &fixture->io_plan, &diag), DW_OK);
    assert_int_equal(dw_sched_plan_in(&fixture->arena, config, &fixture->sched_plan, &diag), DW_OK);
    assert_int_equal(dw_arena_allocate(&fixture->arena, false, &diag), DW_OK);
    const dw_clock *clock = &fixture->system_clock;
    fixture->pool = dw_pool_open_in(&fixture->arena, &fixture->pool_plan, clock);
    char path[600];
    dw_test_path(&fixture->dir, "data.dwvd", path, sizeof path);
    dw_io_options options = {.path = path, .backend = DW_IO_BACKEND_AUTO, .queue_depth = config->queue_depth,
                             .block_size = BLOCK, .size_bytes = (uint64_t)SUBMITTERS * PER_SUBMITTER * BLOCK,
                             .create = true, .direct = true, .pool = fixture->pool, .clock = clock};
    assert_int_equal(dw_io_open(&fixture->io, &fixture->arena, &fixture->io_plan, &options, &diag), DW_OK);
    assert_int_equal(dw_log_open(&fixture->log, fixture->log_path, DW_LOG_INFO, clock, NULL), DW_OK);
    assert_int_equal(dw_sched_open(&fixture->sched, &fixture->arena, &fixture->sched_plan, config, &fixture->io,
                                   fixture->pool, clock, &fixture->log, &diag),
                     DW_OK);
    assert_int_equal(dw_sched_start(&fixture->sched, &diag), DW_OK);
    printf("# I/O thread: %s, backend %s\n", fixture->sched.thread_note, dw_io_backend_name(fixture->io.backend));
    pthread_t threads[SUBMITTERS];
    submitter submitters[SUBMITTERS];
    for (int i = 0; i < SUBMITTERS; i++) {
        submitters[i] = (submitter){&fixture->sched, clock, i, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, submit_and_wait, &submitters[i]), 0);
    }
    for (int i = 0; i < SUBMITTERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(submitters[i].errors, 0);
    }
    assert_int_equal(dw_sched_stop(&fixture->sched, DW_NS_PER_S), 0);
    fixture->stopped = true;
    dw_sched_stats stats;
    dw_sched_stats_read(&fixture->sched, &stats);
    assert_int_equal(stats.completed, 2 * SUBMITTERS * PER_SUBMITTER);
    assert_int_equal(stats.buffers_in_use, 0);
}

int main(void)
{
#define SCHED_TEST(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
    const struct CMUnitTest tests[] = {
        SCHED_TEST(blocks_round_trip_through_the_scheduler),
        SCHED_TEST(malformed_requests_are_refused),
        SCHED_TEST(a_batch_is_taken_up_to_the_first_refusal),
        SCHED_TEST(edf_serves_the_earliest_deadline_first),
        SCHED_TEST(fifo_serves_in_arrival_order),
        SCHED_TEST(reserved_slots_keep_room_for_critical_work),
        SCHED_TEST(best_effort_cannot_fill_the_device),
        SCHED_TEST(the_log_action_logs_the_miss),
        SCHED_TEST(the_fail_action_fails_late_work_and_cancels_expired_work),
        SCHED_TEST(the_circuit_opens_on_misses_and_closes_when_latency_recovers),
        SCHED_TEST(an_overrun_budget_is_a_miss),
        SCHED_TEST(late_submissions_run_or_are_refused),
        SCHED_TEST(an_empty_pool_delays_dispatch_and_is_the_cause),
        SCHED_TEST(stopping_runs_what_it_can_and_cancels_the_rest),
        SCHED_TEST(statistics_read_as_json),
        SCHED_TEST(a_million_operations_without_an_allocation),
        SCHED_TEST(the_io_thread_serves_many_submitters),
    };
    return cmocka_run_group_tests_name("sched", tests, NULL, NULL);
}
