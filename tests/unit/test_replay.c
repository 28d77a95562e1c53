/*
 * test_replay.c — the replay log: its chain sees reordering where an XOR of timestamps
 * does not, a saved log loads back exactly, damage to a file is reported at the event it
 * hit, and compare tells exact, minor and diverged apart.
 */
#include "harness.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem/alloc_count.h"
#include "sched/replay.h"

enum { CAPACITY = 256 };

typedef struct logs {
    dw_replay_event a_events[CAPACITY];
    dw_replay_event b_events[CAPACITY];
    dw_replay_log a;
    dw_replay_log b;
} logs;

static logs *new_logs(void)
{
    logs *both = calloc(1, sizeof *both);
    assert_non_null(both);
    dw_replay_init(&both->a, both->a_events, CAPACITY);
    dw_replay_init(&both->b, both->b_events, CAPACITY);
    return both;
}

/* A run's worth of events: enqueues, executions (with timing that varies by `worker`
 * and `ticks_salt`), a state change and an input. */
static void record_run(dw_replay_log *log, uint32_t tasks, uint32_t workers, uint64_t ticks_salt)
{
    uint64_t time = 0;
    dw_replay_event input = {.type = DW_REPLAY_EXTERNAL_INPUT, .origin = DW_REPLAY_ORIGIN_SELF,
                             .time = ++time, .hash = 0xfeed};
    assert_true(dw_replay_record(log, &input));
    for (uint32_t i = 0; i < tasks; i++) {
        dw_replay_event event = {.type = DW_REPLAY_TASK_ENQUEUED, .priority = (uint8_t)(i % 3),
                                 .origin = DW_REPLAY_ORIGIN_SELF, .time = ++time, .task_id = 100 + i};
        (void)dw_replay_record(log, &event);
    }
    for (uint32_t i = 0; i < tasks; i++) {
        dw_replay_event event = {.type = DW_REPLAY_TASK_EXECUTED, .priority = (uint8_t)(i % 3),
                                 .origin = DW_REPLAY_ORIGIN_SELF, .time = 2 + i, .task_id = 100 + i,
                                 .hash = (100 + i) * 0x9e3779b97f4a7c15ull,
                                 .worker = (100 + i) & (workers - 1),
                                 .ticks = 500 + (i * 7 + ticks_salt) % 300,
                                 .flags = (i + ticks_salt) % 17 == 0 ? DW_REPLAY_OVER_BUDGET : 0};
        (void)dw_replay_record(log, &event);
    }
    dw_replay_event change = {.type = DW_REPLAY_STATE_CHANGE, .origin = DW_REPLAY_ORIGIN_SELF,
                              .time = ++time, .hash = 0xabcdef};
    (void)dw_replay_record(log, &change);
}

static void the_chain_sees_a_swap_that_xor_cannot(void **state)
{
    (void)state;
    logs *both = new_logs();
    dw_replay_event first = {.type = DW_REPLAY_TASK_EXECUTED, .time = 5, .task_id = 1, .hash = 11};
    dw_replay_event second = {.type = DW_REPLAY_TASK_EXECUTED, .time = 6, .task_id = 2, .hash = 22};
    assert_true(dw_replay_record(&both->a, &first));
    assert_true(dw_replay_record(&both->a, &second));
    assert_true(dw_replay_record(&both->b, &second));
    assert_true(dw_replay_record(&both->b, &first));
    /* The requirement's checksum, an XOR of the timestamps, is the same both ways... */
    assert_int_equal(both->a.events[0].time ^ both->a.events[1].time,
                     both->b.events[0].time ^ both->b.events[1].time);
    /* ...the chain is not. */
    assert_int_not_equal(both->a.chain, both->b.chain);
    dw_replay_comparison comparison;
    dw_replay_compare(&both->a, &both->b, &comparison);
    assert_int_equal(comparison.verdict, DW_REPLAY_DIVERGED);
    assert_int_equal(comparison.index, 0);
    assert_int_equal(comparison.a.task_id, 1);
    assert_int_equal(comparison.b.task_id, 2);
    free(both);
}

static void the_same_run_on_other_cores_is_a_minor_difference(void **state)
{
    (void)state;
    logs *both = new_logs();
    record_run(&both->a, 40, 1, 0);
    record_run(&both->b, 40, 4, 13);
    assert_int_equal(both->a.chain, both->b.chain); /* the execution-order hash agrees */
    assert_int_not_equal(both->a.check, both->b.check);
    dw_replay_comparison comparison;
    dw_replay_compare(&both->a, &both->b, &comparison);
    assert_int_equal(comparison.verdict, DW_REPLAY_MINOR);
    assert_int_equal(comparison.index, 41); /* the first execution, after 1 input + 40 enqueues */
    assert_true(comparison.minor_events > 0);

    dw_replay_reset(&both->b);
    record_run(&both->b, 40, 1, 0);
    dw_replay_compare(&both->a, &both->b, &comparison);
    assert_int_equal(comparison.verdict, DW_REPLAY_EXACT);
    free(both);
}

static void compare_names_the_first_difference_and_a_short_log(void **state)
{
    (void)state;
    logs *both = new_logs();
    record_run(&both->a, 20, 2, 0);
    record_run(&both->b, 20, 2, 0);
    /* Re-record b with one output changed at event 30: a real divergence, chain intact. */
    dw_replay_reset(&both->b);
    for (uint64_t i = 0; i < both->a.stored; i++) {
        dw_replay_event event = both->a.events[i];
        if (i == 30) {
            event.hash ^= 1;
        }
        (void)dw_replay_record(&both->b, &event);
    }
    dw_replay_comparison comparison;
    dw_replay_compare(&both->a, &both->b, &comparison);
    assert_int_equal(comparison.verdict, DW_REPLAY_DIVERGED);
    assert_int_equal(comparison.index, 30);
    assert_string_equal(comparison.reason, "the output hash differs");

    /* b stops early. */
    dw_replay_reset(&both->b);
    for (uint64_t i = 0; i < 25; i++) {
        (void)dw_replay_record(&both->b, &both->a.events[i]);
    }
    dw_replay_compare(&both->a, &both->b, &comparison);
    assert_int_equal(comparison.verdict, DW_REPLAY_DIVERGED);
    assert_int_equal(comparison.index, 25);
    assert_true(comparison.a_present);
    assert_false(comparison.b_present);
    assert_string_equal(comparison.reason, "log B ends here");
    free(both);
}

static void an_event_altered_in_memory_breaks_the_chain_there(void **state)
{
    (void)state;
    logs *both = new_logs();
    record_run(&both->a, 20, 2, 0);
    record_run(&both->b, 20, 2, 0);
    uint64_t broken = 0;
    assert_true(dw_replay_verify(&both->b, &broken));
    both->b.events[33].ticks += 1; /* a timing field only */
    assert_false(dw_replay_verify(&both->b, &broken));
    assert_int_equal(broken, 33);
    dw_replay_comparison comparison;
    dw_replay_compare(&both->a, &both->b, &comparison);
    assert_int_equal(comparison.verdict, DW_REPLAY_DIVERGED);
    assert_int_equal(comparison.index, 33);
    assert_non_null(strstr(comparison.reason, "log B's event was altered"));
    free(both);
}

static void a_full_log_keeps_chaining(void **state)
{
    (void)state;
    static dw_replay_event small_events[8];
    static dw_replay_event big_events[CAPACITY];
    dw_replay_log small;
    dw_replay_log big;
    dw_replay_init(&small, small_events, 8);
    dw_replay_init(&big, big_events, CAPACITY);
    record_run(&small, 10, 1, 0);
    record_run(&big, 10, 1, 0);
    assert_int_equal(small.stored, 8);
    assert_int_equal(small.total, big.total);
    assert_int_equal(small.chain, big.chain);
    dw_replay_comparison comparison;
    dw_replay_compare(&small, &big, &comparison);
    assert_int_equal(comparison.verdict, DW_REPLAY_EXACT);
    /* A different run past the stored part is still caught, by the final chain. */
    dw_replay_reset(&small);
    record_run(&small, 10, 1, 0);
    dw_replay_event extra = {.type = DW_REPLAY_STATE_CHANGE, .time = 99, .hash = 1};
    dw_replay_reset(&big);
    record_run(&big, 10, 1, 0);
    (void)dw_replay_record(&small, &extra);
    extra.hash = 2;
    (void)dw_replay_record(&big, &extra);
    dw_replay_compare(&small, &big, &comparison);
    assert_int_equal(comparison.verdict, DW_REPLAY_DIVERGED);
    assert_int_equal(comparison.index, 8);
}

static void saved_logs_load_back_exactly(void **state)
{
    (void)state;
    dw_test_dir dir;
    dw_test_dir_create(&dir);
    char path[512];
    dw_test_path(&dir, "run.dwreplay", path, sizeof path);
    logs *both = new_logs();
    record_run(&both->a, 50, 4, 3);
    both->a.workers = 4;
    dw_replay_set_label(&both->a, "unit test run");
    dw_diag diag;
    assert_int_equal(dw_replay_save(&both->a, path, &diag), DW_OK);
    uint64_t stored = 0;
    assert_int_equal(dw_replay_peek(path, &stored, &diag), DW_OK);
    assert_int_equal(stored, both->a.stored);
    dw_replay_file_report report;
    assert_int_equal(dw_replay_load(&both->b, path, &report, &diag), DW_OK);
    assert_true(report.checksum_ok);
    assert_true(report.chain_ok);
    assert_int_equal(report.events_read, both->a.stored);
    assert_int_equal(both->b.total, both->a.total);
    assert_int_equal(both->b.chain, both->a.chain);
    assert_int_equal(both->b.workers, 4);
    assert_string_equal(both->b.label, "unit test run");
    assert_memory_equal(both->b.events, both->a.events, both->a.stored * sizeof(dw_replay_event));
    dw_replay_comparison comparison;
    dw_replay_compare(&both->a, &both->b, &comparison);
    assert_int_equal(comparison.verdict, DW_REPLAY_EXACT);
    /* No temporary file is left behind. */
    char temporary[600];
    (void)snprintf(temporary, sizeof temporary, "%s.tmp.%ld", path, (long)getpid());
    assert_int_not_equal(access(temporary, F_OK), 0);
    free(both);
    dw_test_dir_remove(&dir);
}

static void flip_byte(const char *path, long offset)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char byte = 0;
    assert_int_equal(pread(fd, &byte, 1, offset), 1);
    byte ^= 0x40;
    assert_int_equal(pwrite(fd, &byte, 1, offset), 1);
    assert_int_equal(close(fd), 0);
}

static void tampering_with_a_saved_event_is_found_at_that_event(void **state)
{
    (void)state;
    dw_test_dir dir;
    dw_test_dir_create(&dir);
    char path[512];
    dw_test_path(&dir, "run.dwreplay", path, sizeof path);
    logs *both = new_logs();
    record_run(&both->a, 50, 4, 3);
    assert_int_equal(dw_replay_save(&both->a, path, NULL), DW_OK);
    uint64_t seed = dw_test_seed();
    /* Every field of an event, one at a time, at a random event each time. */
    for (int field_offset = 0; field_offset < DW_REPLAY_EVENT_BYTES; field_offset += 4) {
        uint64_t target = dw_test_random(&seed) % both->a.stored;
        long offset = DW_REPLAY_HEADER_BYTES + (long)target * DW_REPLAY_EVENT_BYTES + field_offset;
        flip_byte(path, offset);
        dw_replay_file_report report;
        assert_int_equal(dw_replay_load(&both->b, path, &report, NULL), DW_OK);
        assert_false(report.checksum_ok);
        assert_false(report.chain_ok);
        assert_int_equal(report.chain_broken_at, target);
        dw_replay_comparison comparison;
        dw_replay_compare(&both->a, &both->b, &comparison);
        assert_int_equal(comparison.verdict, DW_REPLAY_DIVERGED);
        assert_int_equal(comparison.index, target);
        flip_byte(path, offset); /* put it back */
    }
    free(both);
    dw_test_dir_remove(&dir);
}

static void damaged_or_foreign_files_are_named(void **state)
{
    (void)state;
    dw_test_dir dir;
    dw_test_dir_create(&dir);
    char path[512];
    dw_test_path(&dir, "not-a-log", path, sizeof path);
    dw_test_write_file(path, "hello, this is not a replay log at all, but it is long enough to hold a header of one hundred and twenty-eight bytes.................");
    logs *both = new_logs();
    dw_diag diag;
    dw_replay_file_report report;
    assert_int_equal(dw_replay_load(&both->b, path, &report, &diag), DW_ECORRUPT);
    assert_non_null(strstr(diag.message, "not a readable replay log"));
    assert_non_null(strstr(diag.message, path));

    dw_test_path(&dir, "missing", path, sizeof path);
    assert_int_equal(dw_replay_load(&both->b, path, &report, &diag), DW_ENOENT);

    /* A truncated file loads its whole events and says it is short. */
    dw_test_path(&dir, "short.dwreplay", path, sizeof path);
    record_run(&both->a, 20, 1, 0);
    assert_int_equal(dw_replay_save(&both->a, path, NULL), DW_OK);
    assert_int_equal(truncate(path, DW_REPLAY_HEADER_BYTES + 10 * DW_REPLAY_EVENT_BYTES + 5), 0);
    assert_int_equal(dw_replay_load(&both->b, path, &report, &diag), DW_OK);
    assert_int_equal(report.events_in_header, both->a.stored);
    assert_int_equal(report.events_read, 10);
    assert_false(report.checksum_ok);
    assert_true(report.chain_ok); /* what is there is intact */
    dw_replay_comparison comparison;
    dw_replay_compare(&both->a, &both->b, &comparison);
    assert_int_equal(comparison.verdict, DW_REPLAY_DIVERGED);
    assert_int_equal(comparison.index, 10);

    /* Saving where no directory is: the path is named and nothing is left behind. */
    char nowhere[600];
    dw_test_path(&dir, "no-such-dir/run.dwreplay", nowhere, sizeof nowhere);
    assert_int_equal(dw_replay_save(&both->a, nowhere, &diag), DW_ENOENT);
    assert_non_null(strstr(diag.message, "no-such-dir"));

    /* A log too big for the memory given is refused, not overrun. */
    static dw_replay_event tiny_events[4];
    dw_replay_log tiny;
    dw_replay_init(&tiny, tiny_events, 4);
    assert_int_equal(dw_replay_save(&both->a, path, NULL), DW_OK);
    assert_int_equal(dw_replay_load(&tiny, path, &report, &diag), DW_ENOSPC);
    free(both);
    dw_test_dir_remove(&dir);
}

static void recording_never_allocates(void **state)
{
    (void)state;
    logs *both = new_logs();
    dw_alloc_counts before = dw_alloc_counts_now();
    for (int i = 0; i < 100; i++) {
        dw_replay_reset(&both->a);
        record_run(&both->a, 100, 4, (uint64_t)i);
    }
    assert_int_equal(dw_alloc_counts_since(before), 0);
    free(both);
}

static void events_format_as_one_readable_line(void **state)
{
    (void)state;
    dw_replay_event event = {.type = DW_REPLAY_TASK_EXECUTED, .priority = 1, .origin = 2,
                             .time = 25, .task_id = 17, .hash = 0xabc, .worker = 1, .ticks = 1234,
                             .flags = DW_REPLAY_OVER_BUDGET};
    char text[200];
    dw_replay_format_event(&event, 12, text, sizeof text);
    assert_string_equal(text, "#12 executed task 17 normal stamp 25@core2 output 0000000000000abc "
                              "(worker 1, 1234 ticks, over budget)");
    event.type = DW_REPLAY_STATE_CHANGE;
    event.origin = DW_REPLAY_ORIGIN_SELF;
    dw_replay_format_event(&event, 3, text, sizeof text);
    assert_string_equal(text, "#3 state stamp 25@self hash 0000000000000abc");
    char tiny[10];
    assert_int_equal(dw_replay_format_event(&event, 3, tiny, sizeof tiny), 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_chain_sees_a_swap_that_xor_cannot),
        cmocka_unit_test(the_same_run_on_other_cores_is_a_minor_difference),
        cmocka_unit_test(compare_names_the_first_difference_and_a_short_log),
        cmocka_unit_test(an_event_altered_in_memory_breaks_the_chain_there),
        cmocka_unit_test(a_full_log_keeps_chaining),
        cmocka_unit_test(saved_logs_load_back_exactly),
        cmocka_unit_test(tampering_with_a_saved_event_is_found_at_that_event),
        cmocka_unit_test(damaged_or_foreign_files_are_named),
        cmocka_unit_test(recording_never_allocates),
        cmocka_unit_test(events_format_as_one_readable_line),
    };
    return cmocka_run_group_tests_name("replay", tests, NULL, NULL);
}
