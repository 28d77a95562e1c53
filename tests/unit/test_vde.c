/*
 * test_vde.c — the object store through its public API, on the simulated disk and on a
 * real file: put, get, replace, delete, values inline and in extents, streaming writes
 * and reads, iteration, transactions, tags, reopening, durability after a power cut,
 * deterministic files, and every refusal of open with its own code.
 */
#include "harness.h"

#include <errno.h>

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/endian.h"
#include "io/sim_disk.h"
#include "mem/alloc_count.h"
#include "vde/engine.h"
#include "vde/format.h"
#include "vde/vde_internal.h"
#include "vde_env.h"

static void put_get_replace_delete(bool sim)
{
    env *e = env_new(sim, 64u << 20);
    env_open(e);
    static unsigned char value[300000];
    static unsigned char back[300000];
    size_t length = 0;
    OK(dw_put(e->vde, "alpha", 5, "one", 3, NULL, &e->diag));
    OK(dw_get(e->vde, "alpha", 5, back, sizeof back, &length, NULL, &e->diag));
    assert_int_equal(length, 3);
    assert_memory_equal(back, "one", 3);
    /* Sizes around the inline limit and the block payload, replacing each time. */
    const size_t sizes[] = {0, 1, 191, 192, 193, 4079, 4080, 4081, 100000, 5, 300000, 192};
    for (size_t i = 0; i < DW_ARRAY_COUNT(sizes); i++) {
        fill(value, sizes[i], i);
        OK(dw_put(e->vde, "alpha", 5, value, sizes[i], NULL, &e->diag));
        OK(dw_get(e->vde, "alpha", 5, back, sizeof back, &length, NULL, &e->diag));
        assert_int_equal(length, sizes[i]);
        assert_memory_equal(back, value, sizes[i]);
        dw_object_stat stat;
        OK(dw_stat(e->vde, "alpha", 5, &stat, NULL, &e->diag));
        assert_int_equal(stat.size, sizes[i]);
        assert_int_equal(stat.generation, i + 2);
        assert_int_equal(stat.extent_count == 0, sizes[i] <= 193);
        /* Up to a quarter of a leaf, an object is compact: it has no inode (FORMAT.md §8). */
        assert_int_equal(stat.inode == 0, sizes[i] <= 193);
    }
    /* A buffer too small says how much is needed. */
    assert_int_equal(dw_get(e->vde, "alpha", 5, back, 10, &length, NULL, &e->diag), DW_ENOSPC);
    assert_int_equal(length, 192);
    bool exists = false;
    OK(dw_exists(e->vde, "alpha", 5, &exists, NULL, &e->diag));
    assert_true(exists);
    OK(dw_delete(e->vde, "alpha", 5, NULL, &e->diag));
    OK(dw_exists(e->vde, "alpha", 5, &exists, NULL, &e->diag));
    assert_false(exists);
    assert_int_equal(dw_get(e->vde, "alpha", 5, back, sizeof back, &length, NULL, &e->diag), DW_ENOENT);
    assert_int_equal(dw_delete(e->vde, "alpha", 5, NULL, &e->diag), DW_ENOENT);
    /* Bad keys and values are refused before anything happens. */
    assert_int_equal(dw_put(e->vde, "", 0, "x", 1, NULL, &e->diag), DW_EINVAL);
    static char long_key[2000];
    memset(long_key, 'k', sizeof long_key);
    assert_int_equal(dw_put(e->vde, long_key, sizeof long_key, "x", 1, NULL, &e->diag), DW_EINVAL);
    assert_non_null(strstr(e->diag.message, "2000 bytes"));
    env_free(e);
}

static void objects_on_the_sim_disk(void **state)
{
    (void)state;
    put_get_replace_delete(true);
}

static void objects_on_a_file(void **state)
{
    (void)state;
    put_get_replace_delete(false);
}

static void many_keys_survive_reopen_and_iterate_in_order(void **state)
{
    (void)state;
    env *e = env_new(true, 64u << 20);
    env_open(e);
    enum { KEYS = 3000 };
    char key[64];
    for (int i = 0; i < KEYS; i++) {
        int length = snprintf(key, sizeof key, "sensor/%04d/reading", (i * 7919) % KEYS);
        OK(dw_put(e->vde, key, (size_t)length, key, (size_t)length, NULL, &e->diag));
    }
    for (int i = 0; i < KEYS; i += 4) {
        int length = snprintf(key, sizeof key, "sensor/%04d/reading", i);
        OK(dw_delete(e->vde, key, (size_t)length, NULL, &e->diag));
    }
    env_close(e);
    env_open(e);
    dw_iter *iter = NULL;
    OK(dw_iter_open(e->vde, "sensor/", 7, &iter, &e->diag));
    char previous[64] = "";
    size_t previous_length = 0;
    size_t length = 0;
    int count = 0;
    dw_object_stat stat;
    while (dw_iter_next(iter, key, sizeof key, &length, &stat, &e->diag) == DW_OK) {
        assert_true(memcmp(previous, key, previous_length < length ? previous_length : length) <= 0);
        assert_int_equal(stat.size, memcmp(key, "sensor/9999/late", 16) == 0 ? 4 : length);
        /* A write in the middle of iterating does not disturb it. */
        if (count == 100) {
            OK(dw_put(e->vde, "sensor/9999/late", 16, "late", 4, NULL, &e->diag));
        }
        memcpy(previous, key, length);
        previous_length = length;
        count++;
    }
    dw_iter_close(iter);
    assert_int_equal(count, KEYS - KEYS / 4 + 1);
    /* Only keys with the prefix. */
    OK(dw_iter_open(e->vde, "sensor/001", 10, &iter, &e->diag));
    count = 0;
    while (dw_iter_next(iter, key, sizeof key, &length, NULL, &e->diag) == DW_OK) {
        assert_memory_equal(key, "sensor/001", 10);
        count++;
    }
    dw_iter_close(iter);
    assert_int_equal(count, 10 - 2); /* 0010 .. 0019 without 0012 and 0016, deleted */
    env_free(e);
}

static void streaming_writes_and_reads_at_offsets(void **state)
{
    (void)state;
    env *e = env_new(true, 64u << 20);
    env_open(e);
    enum { SIZE = 5u << 20 };
    unsigned char *value = malloc(SIZE);
    unsigned char *back = malloc(SIZE);
    assert_non_null(value);
    assert_non_null(back);
    fill(value, SIZE, 42);
    dw_writer *writer = NULL;
    OK(dw_writer_open(e->vde, "blob", 4, NULL, &writer, &e->diag));
    /* Other writes go on while the writer is open. */
    OK(dw_put(e->vde, "other", 5, "x", 1, NULL, &e->diag));
    size_t at = 0;
    uint64_t seed = 7;
    while (at < SIZE) {
        size_t piece = (size_t)(dw_test_random(&seed) % 100000) + 1;
        if (piece > SIZE - at) {
            piece = SIZE - at;
        }
        OK(dw_writer_write(writer, value + at, piece, &e->diag));
        at += piece;
    }
    OK(dw_writer_commit(writer, &e->diag));
    size_t length = 0;
    OK(dw_get(e->vde, "blob", 4, back, SIZE, &length, NULL, &e->diag));
    assert_int_equal(length, SIZE);
    assert_memory_equal(back, value, SIZE);
    for (int i = 0; i < 50; i++) {
        uint64_t offset = dw_test_random(&seed) % (SIZE + 100);
        size_t want = (size_t)(dw_test_random(&seed) % 20000);
        size_t read = 0;
        OK(dw_read(e->vde, "blob", 4, offset, back, want, &read, NULL, &e->diag));
        size_t expected = offset >= SIZE ? 0 : (SIZE - offset < want ? SIZE - offset : want);
        assert_int_equal(read, expected);
        assert_memory_equal(back, value + (offset < SIZE ? offset : 0), read);
    }
    /* An aborted writer leaves the old value. */
    OK(dw_writer_open(e->vde, "blob", 4, NULL, &writer, &e->diag));
    OK(dw_writer_write(writer, "short", 5, &e->diag));
    dw_writer_abort(writer);
    dw_object_stat stat;
    OK(dw_stat(e->vde, "blob", 4, &stat, NULL, &e->diag));
    assert_int_equal(stat.size, SIZE);
    /* A small streamed value ends up inline. */
    OK(dw_writer_open(e->vde, "tiny", 4, NULL, &writer, &e->diag));
    OK(dw_writer_write(writer, "hello", 5, &e->diag));
    OK(dw_writer_commit(writer, &e->diag));
    OK(dw_stat(e->vde, "tiny", 4, &stat, NULL, &e->diag));
    assert_int_equal(stat.extent_count, 0);
    env_close(e);
    env_open(e);
    OK(dw_get(e->vde, "blob", 4, back, SIZE, &length, NULL, &e->diag));
    assert_memory_equal(back, value, SIZE);
    free(value);
    free(back);
    env_free(e);
}

static void expect_bytes(env *e, const char *key, const unsigned char *value, size_t size, unsigned char *back)
{
    size_t length = 0;
    OK(dw_get(e->vde, key, strlen(key), back, size + 1, &length, NULL, &e->diag));
    assert_int_equal(length, size);
    assert_memory_equal(back, value, size);
}

static void expect_absent(env *e, const char *key)
{
    bool exists = true;
    OK(dw_exists(e->vde, key, strlen(key), &exists, NULL, &e->diag));
    assert_false(exists);
}

/* Issue 18, point 5: an open streaming writer refuses nothing. Between its writes run
 * puts, deletes, gets, a transaction committed and one aborted, other writers (one
 * aborted), and a put to the writer's own key, which the writer's later commit replaces
 * (the last commit wins). A writer committed inside a transaction comes and goes with
 * it. Only when every slot is taken is a writer refused. After a reopen everything is
 * there, and verify finds every block accounted for: no aborted writer leaked any. */
static void a_streaming_writer_refuses_no_other_write(void **state)
{
    (void)state;
    env *e = env_new(true, 64u << 20);
    env_open(e);
    enum { BIG = 3u << 20, SMALL = 300, ROUNDS_MAX = 64 };
    unsigned char *big = malloc(BIG);
    unsigned char *big2 = malloc(BIG);
    unsigned char *back = malloc(BIG + 1);
    assert_non_null(big);
    assert_non_null(big2);
    assert_non_null(back);
    fill(big, BIG, 101);
    fill(big2, BIG, 202);
    OK(dw_put(e->vde, "cam", 3, "old", 3, NULL, &e->diag));
    dw_writer *cam = NULL;
    dw_writer *cam2 = NULL;
    dw_writer *dropped = NULL;
    OK(dw_writer_open(e->vde, "cam", 3, NULL, &cam, &e->diag));
    OK(dw_writer_open(e->vde, "cam2", 4, NULL, &cam2, &e->diag));
    OK(dw_writer_open(e->vde, "dropped", 7, NULL, &dropped, &e->diag));
    /* A fourth fills the slots (limits.writers_max = 4): a fifth is refused, by name. */
    dw_writer *extra = NULL;
    OK(dw_writer_open(e->vde, "extra", 5, NULL, &extra, &e->diag));
    dw_writer *refused = NULL;
    assert_int_equal(dw_writer_open(e->vde, "refused", 7, NULL, &refused, &e->diag), DW_EBUSY);
    assert_non_null(strstr(e->diag.message, "limits.writers_max"));
    dw_writer_abort(extra);
    char key[32];
    unsigned char small[SMALL];
    bool present[ROUNDS_MAX] = {false};
    size_t at = 0;
    uint32_t round = 0;
    while (at < BIG) {
        assert_true(round < ROUNDS_MAX);
        size_t piece = 60000 + (size_t)round * 1777;
        piece = piece > BIG - at ? BIG - at : piece;
        OK(dw_writer_write(cam, big + at, piece, &e->diag));
        OK(dw_writer_write(cam2, big2 + at, piece, &e->diag));
        if (round < 6) {
            OK(dw_writer_write(dropped, big + at, piece, &e->diag));
        }
        (void)snprintf(key, sizeof key, "sensor-%03u", round);
        fill(small, SMALL, 1000 + round);
        OK(dw_put(e->vde, key, strlen(key), small, SMALL - round, NULL, &e->diag));
        present[round] = true;
        expect_bytes(e, key, small, SMALL - round, back);
        if (round % 3 == 2) {
            (void)snprintf(key, sizeof key, "sensor-%03u", round - 1);
            OK(dw_delete(e->vde, key, strlen(key), NULL, &e->diag));
            present[round - 1] = false;
        }
        dw_txn *txn = NULL;
        if (round == 5 || round == 6) {
            OK(dw_txn_begin(e->vde, &txn, &e->diag));
            (void)snprintf(key, sizeof key, "txn-%u", round);
            OK(dw_txn_put(txn, key, strlen(key), big, 20000, &e->diag));
            /* The writers go on inside the transaction, and are not part of it. */
            OK(dw_writer_write(cam, big, 0, &e->diag));
            if (round == 5) {
                OK(dw_txn_commit(txn, NULL, &e->diag));
            } else {
                dw_txn_abort(txn);
            }
        }
        if (round == 7) {
            OK(dw_put(e->vde, "cam", 3, "put while streaming", 19, NULL, &e->diag));
            expect_bytes(e, "cam", (const unsigned char *)"put while streaming", 19, back);
        }
        at += piece;
        round++;
    }
    dw_writer_abort(dropped);
    assert_int_equal(dw_writer_write(dropped, big, 1, &e->diag), DW_EINVAL);
    OK(dw_writer_commit(cam, &e->diag));
    expect_bytes(e, "cam", big, BIG, back); /* the writer committed last */
    OK(dw_writer_commit(cam2, &e->diag));
    /* A writer committed inside a transaction: with it when it commits... */
    dw_txn *txn = NULL;
    OK(dw_writer_open(e->vde, "in-txn", 6, NULL, &extra, &e->diag));
    OK(dw_writer_write(extra, big2, 100000, &e->diag));
    OK(dw_txn_begin(e->vde, &txn, &e->diag));
    OK(dw_txn_put(txn, "beside", 6, "x", 1, &e->diag));
    OK(dw_writer_commit(extra, &e->diag));
    OK(dw_txn_commit(txn, NULL, &e->diag));
    /* ...and gone when it aborts, its blocks with it. */
    OK(dw_writer_open(e->vde, "in-aborted", 10, NULL, &extra, &e->diag));
    OK(dw_writer_write(extra, big2, 200000, &e->diag));
    OK(dw_txn_begin(e->vde, &txn, &e->diag));
    OK(dw_writer_commit(extra, &e->diag));
    expect_bytes(e, "in-aborted", big2, 200000, back); /* its own transaction sees it */
    dw_txn_abort(txn);
    expect_absent(e, "in-aborted");
    for (int reopen = 0; reopen < 2; reopen++) {
        expect_bytes(e, "cam", big, BIG, back);
        expect_bytes(e, "cam2", big2, BIG, back);
        expect_bytes(e, "in-txn", big2, 100000, back);
        expect_bytes(e, "beside", (const unsigned char *)"x", 1, back);
        expect_bytes(e, "txn-5", big, 20000, back);
        expect_absent(e, "txn-6");
        expect_absent(e, "dropped");
        expect_absent(e, "extra");
        expect_absent(e, "in-aborted");
        for (uint32_t r = 0; r < round; r++) {
            (void)snprintf(key, sizeof key, "sensor-%03u", r);
            if (present[r]) {
                fill(small, SMALL, 1000 + r);
                expect_bytes(e, key, small, SMALL - r, back);
            } else {
                expect_absent(e, key);
            }
        }
        env_close(e);
        env_open(e);
    }
    env_close(e);
    const dw_verify_report *report = env_verify(e, NULL, NULL);
    env_print_problems(report);
    assert_int_equal(report->problem_count, 0);
    free(big);
    free(big2);
    free(back);
    env_free(e);
}

static void transactions_commit_whole_or_not_at_all(void **state)
{
    (void)state;
    env *e = env_new(true, 64u << 20);
    env_open(e);
    OK(dw_put(e->vde, "keep", 4, "old", 3, NULL, &e->diag));
    dw_txn *txn = NULL;
    OK(dw_txn_begin(e->vde, &txn, &e->diag));
    char key[32];
    for (int i = 0; i < 50; i++) {
        int length = snprintf(key, sizeof key, "txn-%02d", i);
        OK(dw_txn_put(txn, key, (size_t)length, key, (size_t)length, &e->diag));
    }
    OK(dw_txn_delete(txn, "keep", 4, &e->diag));
    assert_int_equal(dw_put(e->vde, "outside", 7, "x", 1, NULL, &e->diag), DW_EBUSY);
    dw_txn_abort(txn);
    bool exists = false;
    OK(dw_exists(e->vde, "txn-00", 6, &exists, NULL, &e->diag));
    assert_false(exists);
    OK(dw_exists(e->vde, "keep", 4, &exists, NULL, &e->diag));
    assert_true(exists);
    OK(dw_txn_begin(e->vde, &txn, &e->diag));
    for (int i = 0; i < 50; i++) {
        int length = snprintf(key, sizeof key, "txn-%02d", i);
        OK(dw_txn_put(txn, key, (size_t)length, key, (size_t)length, &e->diag));
    }
    assert_int_equal(dw_txn_delete(txn, "absent", 6, &e->diag), DW_ENOENT); /* the transaction goes on */
    OK(dw_txn_delete(txn, "keep", 4, &e->diag));
    OK(dw_txn_commit(txn, NULL, &e->diag));
    env_close(e);
    env_open(e);
    for (int i = 0; i < 50; i++) {
        int length = snprintf(key, sizeof key, "txn-%02d", i);
        OK(dw_exists(e->vde, key, (size_t)length, &exists, NULL, &e->diag));
        assert_true(exists);
    }
    OK(dw_exists(e->vde, "keep", 4, &exists, NULL, &e->diag));
    assert_false(exists);
    env_free(e);
}

static void tags_are_small_and_bounded(void **state)
{
    (void)state;
    env *e = env_new(true, 32u << 20);
    env_open(e);
    OK(dw_put(e->vde, "flight/42", 9, "data", 4, NULL, &e->diag));
    OK(dw_tag_set(e->vde, "flight/42", 9, "aircraft", "D-AIBC", NULL, &e->diag));
    OK(dw_tag_set(e->vde, "flight/42", 9, "phase", "cruise", NULL, &e->diag));
    OK(dw_tag_set(e->vde, "flight/42", 9, "phase", "descent", NULL, &e->diag));
    char value[80];
    OK(dw_tag_get(e->vde, "flight/42", 9, "phase", value, sizeof value, NULL, &e->diag));
    assert_string_equal(value, "descent");
    char text[256];
    OK(dw_tags(e->vde, "flight/42", 9, text, sizeof text, NULL, &e->diag));
    assert_string_equal(text, "aircraft=D-AIBC\nphase=descent\n");
    /* Replacing the value keeps the tags. */
    OK(dw_put(e->vde, "flight/42", 9, "new data", 8, NULL, &e->diag));
    OK(dw_tag_get(e->vde, "flight/42", 9, "aircraft", value, sizeof value, NULL, &e->diag));
    assert_string_equal(value, "D-AIBC");
    OK(dw_tag_set(e->vde, "flight/42", 9, "aircraft", NULL, NULL, &e->diag));
    assert_int_equal(dw_tag_get(e->vde, "flight/42", 9, "aircraft", value, sizeof value, NULL, &e->diag), DW_ENOENT);
    /* The area holds 128 bytes. */
    static char long_value[65];
    memset(long_value, 'v', 64);
    OK(dw_tag_set(e->vde, "flight/42", 9, "a", long_value, NULL, &e->diag));
    assert_int_equal(dw_tag_set(e->vde, "flight/42", 9, "b", long_value, NULL, &e->diag), DW_ENOSPC);
    assert_int_equal(dw_tag_set(e->vde, "flight/42", 9, "bad=name", "x", NULL, &e->diag), DW_EINVAL);
    assert_int_equal(dw_tag_set(e->vde, "nothing", 7, "a", "b", NULL, &e->diag), DW_ENOENT);
    env_close(e);
    env_open(e);
    OK(dw_tag_get(e->vde, "flight/42", 9, "phase", value, sizeof value, NULL, &e->diag));
    assert_string_equal(value, "descent");
    env_free(e);
}

static void group_durability_commits_on_sync(void **state)
{
    (void)state;
    env *e = env_new(true, 32u << 20);
    e->config.durability = DW_DURABILITY_GROUP;
    env_open(e);
    char key[32];
    for (int i = 0; i < 200; i++) {
        int length = snprintf(key, sizeof key, "g-%03d", i);
        OK(dw_put(e->vde, key, (size_t)length, key, (size_t)length, NULL, &e->diag));
    }
    OK(dw_sync(e->vde, NULL, &e->diag));
    /* Power goes out after the sync: everything synced is there. */
    dw_sim_disk_cut_power(&e->disk);
    (void)dw_vde_close(e->vde, &e->diag); /* fails: the disk is off */
    e->vde = NULL;
    dw_sim_disk_power_on(&e->disk);
    env_open(e);
    bool exists = false;
    for (int i = 0; i < 200; i++) {
        int length = snprintf(key, sizeof key, "g-%03d", i);
        OK(dw_exists(e->vde, key, (size_t)length, &exists, NULL, &e->diag));
        assert_true(exists);
    }
    env_free(e);
}

static void acknowledged_puts_survive_a_power_cut(void **state)
{
    (void)state;
    uint64_t seed = dw_test_seed();
    for (int round = 0; round < 8; round++) {
        env *e = env_new(true, 32u << 20);
        env_open(e);
        /* Unsynced writes are lost, torn or reordered when the power goes. */
        e->disk.state.faults.drop_unsynced_ppm = 300000;
        e->disk.state.faults.torn_unsynced_ppm = 300000;
        e->disk.state.faults.reorder_unsynced = true;
        int cut_at = 20 + (int)(dw_test_random(&seed) % 200);
        int acknowledged = 0;
        char key[32];
        static unsigned char value[9000];
        for (int i = 0; i < cut_at + 10; i++) {
            if (i == cut_at) {
                dw_sim_disk_cut_power(&e->disk);
            }
            int length = snprintf(key, sizeof key, "k-%04d", i);
            fill(value, sizeof value, (uint64_t)i);
            size_t size = (size_t)(i % 3 == 0 ? 100 : 9000);
            if (dw_put(e->vde, key, (size_t)length, value, size, NULL, &e->diag) == DW_OK) {
                acknowledged = i + 1;
            }
        }
        assert_int_equal(acknowledged, cut_at);
        (void)dw_vde_close(e->vde, &e->diag);
        e->vde = NULL;
        dw_sim_disk_power_on(&e->disk);
        env_open(e);
        static unsigned char back[9000];
        for (int i = 0; i < acknowledged; i++) {
            int length = snprintf(key, sizeof key, "k-%04d", i);
            fill(value, sizeof value, (uint64_t)i);
            size_t size = 0;
            OK(dw_get(e->vde, key, (size_t)length, back, sizeof back, &size, NULL, &e->diag));
            assert_int_equal(size, (size_t)(i % 3 == 0 ? 100 : 9000));
            assert_memory_equal(back, value, size);
        }
        env_free(e);
    }
}

/* A failed sync stops all writing until the VDE is reopened: a later sync could succeed
 * though the failed one dropped writes. Reads go on; close writes nothing and says so;
 * the reopened VDE holds every acknowledged put, and the failed one whole or not at all. */
static void a_failed_sync_stops_writing_until_reopen(void **state)
{
    (void)state;
    env *e = env_new(true, 32u << 20);
    env_open(e);
    static unsigned char value[9000];
    static unsigned char back[9000];
    fill(value, sizeof value, 7);
    static unsigned char large[70000];
    fill(large, sizeof large, 8);
    OK(dw_put(e->vde, "kept", 4, value, sizeof value, NULL, &e->diag));
    /* A value too large for the log: its data is synced before the record names it (a
     * small one's commit is one durable write and no sync). */
    dw_sim_disk_fail_next_syncs(&e->disk, 1, EIO);
    assert_int_equal(dw_put(e->vde, "failed", 6, large, sizeof large, NULL, &e->diag), DW_EIO);
    /* The sync would succeed now; the VDE must not believe it. */
    assert_int_equal(dw_put(e->vde, "later", 5, value, 100, NULL, &e->diag), DW_EIO);
    assert_non_null(strstr(e->diag.message, "takes no more writes"));
    assert_non_null(strstr(e->diag.hint, "open it again"));
    assert_int_equal(dw_sync(e->vde, NULL, &e->diag), DW_EIO);
    assert_int_equal(dw_delete(e->vde, "kept", 4, NULL, &e->diag), DW_EIO);
    size_t size = 0;
    OK(dw_get(e->vde, "kept", 4, back, sizeof back, &size, NULL, &e->diag));
    assert_int_equal(dw_vde_close(e->vde, &e->diag), DW_EIO);
    e->vde = NULL;
    env_open(e);
    OK(dw_get(e->vde, "kept", 4, back, sizeof back, &size, NULL, &e->diag));
    assert_int_equal(size, sizeof value);
    assert_memory_equal(back, value, size);
    static unsigned char large_back[70000];
    int result = dw_get(e->vde, "failed", 6, large_back, sizeof large_back, &size, NULL, &e->diag);
    assert_true(result == DW_ENOENT ||
                (result == DW_OK && size == sizeof large && memcmp(large_back, large, sizeof large) == 0));
    assert_int_equal(dw_get(e->vde, "later", 5, back, sizeof back, &size, NULL, &e->diag), DW_ENOENT);
    OK(dw_put(e->vde, "after", 5, value, 100, NULL, &e->diag));
    env_close(e);
    const dw_verify_report *report = env_verify(e, NULL, NULL);
    env_print_problems(report);
    assert_int_equal(report->problem_count, 0);
    env_free(e);
}

static dw_vde_info *info_of(dw_vde *vde)
{
    static dw_vde_info info;
    dw_vde_info_read(vde, &info);
    return &info;
}

/* A transaction generation is never handed out twice (FORMAT.md §1.1): after a power cut
 * the next writer starts past everything the lost transactions could have used; after a
 * clean close exactly where the last one stopped; a reservation used up with no
 * checkpoint to extend it is extended by the transaction that needs it. */
static void generations_are_never_handed_out_twice(void **state)
{
    (void)state;
    env *e = env_new(true, 32u << 20);
    env_open(e);
    static unsigned char value[9000];
    fill(value, sizeof value, 3);
    uint64_t first = info_of(e->vde)->generation_next;
    uint64_t reserved = info_of(e->vde)->super.super.generation_next;
    assert_true(first >= 1);
    assert_int_equal(reserved, first + DW_GENERATION_RESERVE);
    char key[32];
    for (int i = 0; i < 40; i++) {
        int length = snprintf(key, sizeof key, "g-%03d", i);
        OK(dw_put(e->vde, key, (size_t)length, value, (size_t)(i % 2 == 0 ? 50 : 9000), NULL, &e->diag));
    }
    uint64_t used = info_of(e->vde)->generation_next;
    assert_int_equal(used, first + 40);
    /* Transactions that never reach the log use generations too. */
    dw_sim_disk_cut_power(&e->disk);
    for (int i = 0; i < 5; i++) {
        (void)dw_put(e->vde, "lost", 4, value, 9000, NULL, &e->diag);
    }
    (void)dw_vde_close(e->vde, &e->diag);
    e->vde = NULL;
    dw_sim_disk_power_on(&e->disk);
    env_open(e);
    uint64_t after_crash = info_of(e->vde)->generation_next;
    assert_true(after_crash >= reserved);
    assert_int_equal(info_of(e->vde)->super.super.generation_next, after_crash + DW_GENERATION_RESERVE);
    OK(dw_put(e->vde, "after", 5, value, 100, NULL, &e->diag));
    /* The reservation runs out between checkpoints: the next transaction extends it
     * before it uses a generation past it. */
    e->vde->generation_limit = e->vde->generation_next + 1;
    OK(dw_put(e->vde, "within", 6, value, 100, NULL, &e->diag));
    uint64_t writes = e->vde->counters.superblock_writes;
    OK(dw_put(e->vde, "beyond", 6, value, 100, NULL, &e->diag));
    assert_int_equal(e->vde->counters.superblock_writes, writes + 1);
    assert_true(info_of(e->vde)->super.super.generation_next > info_of(e->vde)->generation_next);
    uint64_t at_close = info_of(e->vde)->generation_next;
    env_close(e);
    env_open(e);
    assert_int_equal(info_of(e->vde)->generation_next, at_close);
    size_t size = 0;
    static unsigned char back[9000];
    for (int i = 0; i < 40; i++) {
        int length = snprintf(key, sizeof key, "g-%03d", i);
        OK(dw_get(e->vde, key, (size_t)length, back, sizeof back, &size, NULL, &e->diag));
        assert_int_equal(size, (size_t)(i % 2 == 0 ? 50 : 9000));
    }
    env_close(e);
    assert_int_equal(env_verify(e, NULL, NULL)->problem_count, 0);
    env_free(e);
}

/* The same operations twice in deterministic mode: files with the same SHA-256 (and
 * byte for byte the same); a third run that differs in one put: another SHA-256. */
static void deterministic_mode_writes_identical_files(void **state)
{
    (void)state;
    unsigned char *images[3] = {NULL, NULL, NULL};
    unsigned char digests[3][EVP_MAX_MD_SIZE];
    uint64_t size = 16u << 20;
    for (int run = 0; run < 3; run++) {
        env *e = calloc(1, sizeof *e);
        assert_non_null(e);
        dw_test_dir_create(&e->dir);
        dw_test_path(&e->dir, "det.dwvd", e->path, sizeof e->path);
        dw_config_defaults(&e->config);
        e->config.deterministic = true;
        e->config.wal_bytes = 1u << 20;
        e->config.group_bytes = 4u << 20;
        e->config.memory_ceiling_bytes = 32u << 20;
        e->config.buffer_count = 128;
        dw_create_options options = {.size_bytes = size, .label = "deterministic"};
        OK(dw_vde_create(e->path, &e->config, &options, &e->diag));
        OK(dw_vde_open(e->path, &e->config, &e->vde, &e->diag));
        char key[32];
        static unsigned char value[20000];
        dw_writer *writer = NULL;
        for (int i = 0; i < 300; i++) {
            /* A streamed value now and then, its pieces written between the puts. */
            if (i % 40 == 0) {
                int n = snprintf(key, sizeof key, "s-%03d", i);
                OK(dw_writer_open(e->vde, key, (size_t)n, NULL, &writer, &e->diag));
            }
            fill(value, 7000, (uint64_t)i * 3);
            OK(dw_writer_write(writer, value, 7000, &e->diag));
            if (i % 40 == 39 || i == 299) {
                OK(dw_writer_commit(writer, &e->diag));
            }
            int length = snprintf(key, sizeof key, "d-%03d", (i * 37) % 300);
            fill(value, sizeof value, (uint64_t)i + (run == 2 && i == 150 ? 1 : 0));
            OK(dw_put(e->vde, key, (size_t)length, value, (size_t)(i * 61) % sizeof value, NULL, &e->diag));
            if (i % 7 == 0) {
                OK(dw_tag_set(e->vde, key, (size_t)length, "n", "7", NULL, &e->diag));
            }
            if (i % 5 == 0 && i > 0) {
                length = snprintf(key, sizeof key, "d-%03d", ((i - 1) * 37) % 300);
                OK(dw_delete(e->vde, key, (size_t)length, NULL, &e->diag));
            }
        }
        env_close(e);
        images[run] = malloc(size);
        assert_non_null(images[run]);
        int fd = open(e->path, O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, images[run], size, 0), (ssize_t)size);
        (void)close(fd);
        unsigned int digest_length = 0;
        assert_int_equal(EVP_Digest(images[run], size, digests[run], &digest_length, EVP_sha256(), NULL), 1);
        assert_int_equal(digest_length, 32);
        char hex[65];
        for (int i = 0; i < 32; i++) {
            (void)snprintf(hex + 2 * i, 3, "%02x", digests[run][i]);
        }
        print_message("# run %d%s: SHA-256 %s\n", run + 1, run == 2 ? " (one value differs)" : "", hex);
        dw_test_dir_remove(&e->dir);
        free(e);
    }
    assert_memory_equal(digests[0], digests[1], 32);
    assert_memory_equal(images[0], images[1], size);
    assert_memory_not_equal(digests[0], digests[2], 32);
    for (int run = 0; run < 3; run++) {
        free(images[run]);
    }
}

/* Rewrites both superblock copies of a closed VDE file after `change` edits them. */
static void edit_superblock(const char *path, void (*change)(dw_super_copy *copy))
{
    static unsigned char units[8 * 4096];
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, units, sizeof units, 0), (ssize_t)sizeof units);
    for (uint32_t copy_index = 0; copy_index < 2; copy_index++) {
        dw_super_copy copy;
        uint32_t bad = 0;
        char detail[200];
        assert_int_equal(dw_super_decode(units + copy_index * 4 * 4096, 4096, copy_index * 4, &copy, &bad, detail,
                                         sizeof detail),
                         DW_SUPER_OK);
        change(&copy);
        dw_super_encode(&copy, units + copy_index * 4 * 4096, copy_index * 4);
    }
    assert_int_equal(pwrite(fd, units, sizeof units, 0), (ssize_t)sizeof units);
    (void)close(fd);
}

/* Whether both superblock copies of a closed file decode (expect_both), or only one. */
static void edit_superblock_check_both(const char *path, bool expect_both)
{
    static unsigned char units[8 * 4096];
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, units, sizeof units, 0), (ssize_t)sizeof units);
    (void)close(fd);
    int good = 0;
    for (uint32_t copy_index = 0; copy_index < 2; copy_index++) {
        dw_super_copy copy;
        uint32_t bad = 0;
        char detail[200];
        good += dw_super_decode(units + copy_index * 4 * 4096, 4096, copy_index * 4, &copy, &bad, detail,
                                sizeof detail) == DW_SUPER_OK;
    }
    assert_int_equal(good, expect_both ? 2 : 1);
}

static void unknown_incompatible_feature(dw_super_copy *copy)
{
    copy->super.incompat |= UINT64_C(1) << 40;
}

static void newer_minimum_reader(dw_super_copy *copy)
{
    copy->super.min_reader_version = (DW_FORMAT_MAJOR << 8) | 9;
}

/* The development format 2.0, whose leaf entries had no inode generation. */
static void development_format(dw_super_copy *copy)
{
    copy->super.format_version = DW_FORMAT_MAJOR << 8;
    copy->super.min_reader_version = DW_FORMAT_MAJOR << 8;
    copy->super.incompat &= DW_INCOMPAT_KNOWN; /* undo the edit before */
}

/* A VDE made by a 2.2 build: no compact objects. */
static void format_2_2(dw_super_copy *copy)
{
    copy->super.format_version = (DW_FORMAT_MAJOR << 8) | 2;
    copy->super.min_reader_version = (DW_FORMAT_MAJOR << 8) | 2;
    copy->super.min_writer_version = (DW_FORMAT_MAJOR << 8) | 2;
    copy->super.incompat &= ~DW_INCOMPAT_COMPACT;
}

static void expect_object(env *e, const char *key, const unsigned char *value, size_t size, uint32_t generation,
                          bool compact)
{
    static unsigned char back[70000];
    size_t length = 0;
    OK(dw_get(e->vde, key, strlen(key), back, sizeof back, &length, NULL, &e->diag));
    assert_int_equal(length, size);
    assert_memory_equal(back, value, size);
    dw_object_stat stat;
    OK(dw_stat(e->vde, key, strlen(key), &stat, NULL, &e->diag));
    assert_int_equal(stat.size, size);
    assert_int_equal(stat.generation, generation);
    assert_int_equal(stat.inode == 0, compact);
    /* A ranged read of the middle. */
    if (size > 10) {
        size_t read = 0;
        OK(dw_read(e->vde, key, strlen(key), 3, back, 5, &read, NULL, &e->diag));
        assert_int_equal(read, 5);
        assert_memory_equal(back, value + 3, 5);
    }
}

static void inodes_in_use(env *e, uint64_t expected)
{
    dw_vde_info info;
    dw_vde_info_read(e->vde, &info);
    assert_int_equal(info.state.inodes_used, expected);
}

/* Small untagged objects live in their index entries; one grows into an inode when it is
 * replaced by a large value, tagged, or streamed, and goes back when replaced small. */
static void compact_objects_move_in_and_out_of_inodes(void **state)
{
    (void)state;
    env *e = env_new(false, 64u << 20);
    env_open(e);
    static unsigned char value[70000];
    /* The largest compact value for a 5-byte key: a quarter of a leaf, less its header. */
    uint32_t largest = dw_index_compact_limit(4096) - dw_index_compact_entry_size(5, 0);
    fill(value, sizeof value, 1);
    OK(dw_put(e->vde, "alpha", 5, value, largest, NULL, &e->diag));
    expect_object(e, "alpha", value, largest, 1, true);
    OK(dw_put(e->vde, "alpha", 5, value, largest + 1, NULL, &e->diag));
    expect_object(e, "alpha", value, largest + 1, 2, false);
    inodes_in_use(e, 1);
    OK(dw_put(e->vde, "alpha", 5, value, 10, NULL, &e->diag));
    expect_object(e, "alpha", value, 10, 3, true);
    inodes_in_use(e, 0); /* the inode was freed */
    OK(dw_put(e->vde, "alpha", 5, value, 60000, NULL, &e->diag));
    expect_object(e, "alpha", value, 60000, 4, false);
    OK(dw_put(e->vde, "alpha", 5, value, 0, NULL, &e->diag));
    expect_object(e, "alpha", value, 0, 5, true);
    /* A tag moves a compact object into an inode, value and creation time kept. */
    OK(dw_put(e->vde, "beta", 4, value, 500, NULL, &e->diag));
    dw_object_stat before;
    OK(dw_stat(e->vde, "beta", 4, &before, NULL, &e->diag));
    char text[64];
    assert_int_equal(dw_tag_get(e->vde, "beta", 4, "kind", text, sizeof text, NULL, &e->diag), DW_ENOENT);
    assert_int_equal(dw_tag_set(e->vde, "beta", 4, "kind", NULL, NULL, &e->diag), DW_ENOENT);
    OK(dw_tag_set(e->vde, "beta", 4, "kind", "frame", NULL, &e->diag));
    expect_object(e, "beta", value, 500, 2, false);
    dw_object_stat after;
    OK(dw_stat(e->vde, "beta", 4, &after, NULL, &e->diag));
    assert_int_equal(after.ctime_ns, before.ctime_ns);
    OK(dw_tag_get(e->vde, "beta", 4, "kind", text, sizeof text, NULL, &e->diag));
    assert_string_equal(text, "frame");
    /* A tagged object stays in its inode when replaced small: the tags stay with it. */
    OK(dw_put(e->vde, "beta", 4, value, 20, NULL, &e->diag));
    expect_object(e, "beta", value, 20, 3, false);
    OK(dw_tag_get(e->vde, "beta", 4, "kind", text, sizeof text, NULL, &e->diag));
    /* A stream replaces a compact object with an inode. */
    OK(dw_put(e->vde, "gamma", 5, value, 30, NULL, &e->diag));
    dw_writer *writer = NULL;
    OK(dw_writer_open(e->vde, "gamma", 5, NULL, &writer, &e->diag));
    OK(dw_writer_write(writer, value, 9000, &e->diag));
    OK(dw_writer_commit(writer, &e->diag));
    expect_object(e, "gamma", value, 9000, 2, false);
    /* Listing sees both kinds. */
    dw_iter *iter = NULL;
    OK(dw_iter_open(e->vde, "", 0, &iter, &e->diag));
    char key[64];
    size_t key_length = 0;
    dw_object_stat stat;
    uint32_t seen = 0;
    while (dw_iter_next(iter, key, sizeof key, &key_length, &stat, &e->diag) == DW_OK) {
        seen++;
        assert_int_equal(stat.inode == 0, key_length == 5 && memcmp(key, "alpha", 5) == 0);
    }
    dw_iter_close(iter);
    assert_int_equal(seen, 3);
    /* Deleting a compact object; then everything survives a reopen and verifies. */
    OK(dw_put(e->vde, "delta", 5, value, 40, NULL, &e->diag));
    OK(dw_delete(e->vde, "delta", 5, NULL, &e->diag));
    bool exists = true;
    OK(dw_exists(e->vde, "delta", 5, &exists, NULL, &e->diag));
    assert_false(exists);
    inodes_in_use(e, 2);
    env_close(e);
    env_open(e);
    expect_object(e, "alpha", value, 0, 5, true);
    expect_object(e, "beta", value, 20, 3, false);
    expect_object(e, "gamma", value, 9000, 2, false);
    env_close(e);
    const dw_verify_report *report = env_verify(e, NULL, NULL);
    env_print_problems(report);
    assert_int_equal(report->problem_count, 0);
    assert_int_equal(report->objects, 3);
    assert_int_equal(report->inodes, 2);
    env_free(e);
}

/* A VDE of format 2.2 opens, and every object it gets keeps an inode: a 2.2 reader must
 * still read it. */
static void a_2_2_vde_gets_no_compact_objects(void **state)
{
    (void)state;
    env *e = env_new(false, 16u << 20);
    edit_superblock(e->path, format_2_2);
    env_open(e);
    OK(dw_put(e->vde, "small", 5, "tiny", 4, NULL, &e->diag));
    dw_object_stat stat;
    OK(dw_stat(e->vde, "small", 5, &stat, NULL, &e->diag));
    assert_int_not_equal(stat.inode, 0);
    env_close(e);
    const dw_verify_report *report = env_verify(e, NULL, NULL);
    env_print_problems(report);
    assert_int_equal(report->problem_count, 0);
    assert_int_equal(report->inodes, 1);
    env_free(e);
}

static void open_refuses_what_it_must_with_its_own_code(void **state)
{
    (void)state;
    env *e = env_new(false, 16u << 20);
    char other[600];
    dw_diag diag;
    dw_vde *vde = NULL;
    /* Not a VDE at all. */
    dw_test_path(&e->dir, "raw.img", other, sizeof other);
    static unsigned char junk[1u << 20];
    fill(junk, sizeof junk, 3);
    int fd = open(other, O_CREAT | O_WRONLY, 0644);
    assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    (void)close(fd);
    assert_int_equal(dw_vde_open(other, &e->config, &vde, &diag), DW_ENOTVDE);
    assert_non_null(strstr(diag.hint, "dw import"));
    /* Already open elsewhere (another handle holds the lock). */
    env_open(e);
    assert_int_equal(dw_vde_open(e->path, &e->config, &vde, &diag), DW_EBUSY);
    env_close(e);
    /* An unknown incompatible feature; a newer minimum reader. */
    edit_superblock(e->path, unknown_incompatible_feature);
    assert_int_equal(dw_vde_open(e->path, &e->config, &vde, &diag), DW_EVERSION);
    assert_non_null(strstr(diag.message, "incompatible features"));
    edit_superblock(e->path, newer_minimum_reader);
    assert_int_equal(dw_vde_open(e->path, &e->config, &vde, &diag), DW_EVERSION);
    edit_superblock(e->path, development_format);
    assert_int_equal(dw_vde_open(e->path, &e->config, &vde, &diag), DW_EVERSION);
    assert_non_null(strstr(diag.message, "development format 2.0"));
    /* A newer major version: the magic says so. */
    dw_test_path(&e->dir, "newer.dwvd", other, sizeof other);
    dw_create_options options = {.size_bytes = 16u << 20};
    OK(dw_vde_create(other, &e->config, &options, &e->diag));
    fd = open(other, O_RDWR);
    unsigned char three = DW_FORMAT_MAJOR + 1;
    assert_int_equal(pwrite(fd, &three, 1, 4), 1);
    assert_int_equal(pwrite(fd, &three, 1, 4 * 4096 + 4), 1);
    (void)close(fd);
    assert_int_equal(dw_vde_open(other, &e->config, &vde, &diag), DW_EVERSION);
    assert_non_null(strstr(diag.message, "newer major format version"));
    /* Truncated. */
    OK(dw_vde_create(other, &e->config, &(dw_create_options){.size_bytes = 16u << 20, .overwrite = true}, &e->diag));
    assert_int_equal(truncate(other, 8u << 20), 0);
    assert_int_equal(dw_vde_open(other, &e->config, &vde, &diag), DW_ETRUNCATED);
    assert_non_null(strstr(diag.message, "truncated"));
    /* Cut and grown back: the size is right, the sentinel is gone. */
    assert_int_equal(truncate(other, 16u << 20), 0);
    assert_int_equal(dw_vde_open(other, &e->config, &vde, &diag), DW_ETRUNCATED);
    assert_non_null(strstr(diag.message, "sentinel"));
    /* A page cache too small for a transaction and its record says so (not the WAL). */
    dw_config small_cache = e->config;
    small_cache.cache_pages = 48;
    assert_int_equal(dw_vde_open(e->path, &small_cache, &vde, &diag), DW_ECONFIG);
    assert_non_null(strstr(diag.message, "memory.cache_pages = 48"));
    /* Creating over an existing file needs overwrite. */
    assert_int_equal(dw_vde_create(other, &e->config, &options, &diag), DW_EEXIST);
    /* One damaged superblock copy is tolerated, and the open repairs it. */
    OK(dw_vde_create(e->path, &e->config, &(dw_create_options){.size_bytes = 16u << 20, .overwrite = true}, &e->diag));
    fd = open(e->path, O_RDWR);
    unsigned char byte = 0;
    assert_int_equal(pread(fd, &byte, 1, 100), 1);
    byte ^= 0x10;
    assert_int_equal(pwrite(fd, &byte, 1, 100), 1);
    (void)close(fd);
    edit_superblock_check_both(e->path, false);
    env_open(e);
    env_close(e);
    edit_superblock_check_both(e->path, true);
    /* Keys longer than the configuration's limit may be in it: refused, so that no key
     * buffer is too small for what is on disk. Raising the limit is recorded. */
    uint32_t created_with = e->config.key_length_max;
    e->config.key_length_max = created_with / 2;
    dw_vde *shorter = NULL;
    assert_int_equal(dw_vde_open(e->path, &e->config, &shorter, &e->diag), DW_ECONFIG);
    assert_non_null(strstr(e->diag.message, "may hold keys of up to"));
    e->config.key_length_max = created_with;
    env_open(e);
    OK(dw_put(e->vde, "k", 1, "v", 1, NULL, &e->diag));
    env_close(e);
    env_free(e);
}

static void opening_and_working_never_allocate_after_open(void **state)
{
    (void)state;
    env *e = env_new(true, 32u << 20);
    env_open(e);
    static unsigned char value[10000];
    char key[32];
    dw_alloc_counts before = dw_alloc_counts_now();
    dw_writer *writers[2] = {NULL, NULL};
    for (int i = 0; i < 300; i++) {
        /* Two streaming writers open beside the puts, one aborted now and then. */
        for (int w = 0; w < 2; w++) {
            if (i % 25 == 0) {
                int n = snprintf(key, sizeof key, "w-%d-%04d", w, i);
                OK(dw_writer_open(e->vde, key, (size_t)n, NULL, &writers[w], &e->diag));
            }
            OK(dw_writer_write(writers[w], value, 3000 + (size_t)w * 1000, &e->diag));
            if (i % 25 == 24 && w == 0) {
                OK(dw_writer_commit(writers[w], &e->diag));
            } else if (i % 25 == 24) {
                dw_writer_abort(writers[w]);
            }
        }
        int length = snprintf(key, sizeof key, "n-%04d", i);
        fill(value, sizeof value, (uint64_t)i);
        OK(dw_put(e->vde, key, (size_t)length, value, (size_t)(i * 31) % sizeof value, NULL, &e->diag));
        size_t size = 0;
        OK(dw_get(e->vde, key, (size_t)length, value, sizeof value, &size, NULL, &e->diag));
        if (i % 3 == 0) {
            OK(dw_delete(e->vde, key, (size_t)length, NULL, &e->diag));
        }
    }
    assert_int_equal(dw_alloc_counts_since(before), 0);
    env_free(e);
}

/* Checkpointing is paced: with a large log, so only the cache's dirtiness asks for
 * checkpoints, no single put writes home more than one bounded step (64 pages), although
 * many more pages go home over the run. Before pacing on dirtiness, the put that found the
 * cache tight wrote the whole dirty cache (about 700 pages here). */
static void large_log_and_cache(dw_config *config)
{
    config->durability = DW_DURABILITY_GROUP;
    config->deterministic = true;
    config->cache_pages = 1024;
    config->wal_bytes = 16u << 20;
    config->inode_ratio_bytes = 1024;
}

static void no_put_pays_for_a_whole_checkpoint(void **state)
{
    (void)state;
    env *e = env_new_tuned(true, 64u << 20, large_log_and_cache);
    env_open(e);
    char key[32];
    unsigned char value[100];
    dw_vde_info info;
    uint64_t most = 0;
    dw_vde_info_read(e->vde, &info);
    uint64_t before = info.checkpoint_pages;
    for (int i = 0; i < 40000; i++) {
        /* Keys spread over the whole index, so that many leaves and inode blocks are dirty. */
        int length = snprintf(key, sizeof key, "r-%08u", (unsigned)((uint64_t)i * 2654435761u % 1000003u));
        fill(value, sizeof value, (uint64_t)i);
        OK(dw_put(e->vde, key, (size_t)length, value, sizeof value, NULL, &e->diag));
        dw_vde_info_read(e->vde, &info);
        uint64_t step = info.checkpoint_pages - before;
        most = step > most ? step : most;
        before = info.checkpoint_pages;
        if (i % 500 == 499) {
            OK(dw_sync(e->vde, NULL, &e->diag));
            dw_vde_info_read(e->vde, &info);
            before = info.checkpoint_pages;
        }
    }
    print_message("# %llu pages written home by checkpoints; at most %llu by one put\n",
                  (unsigned long long)info.checkpoint_pages, (unsigned long long)most);
    assert_true(info.checkpoint_pages > 1000);
    assert_true(most <= 64);
    env_free(e);
}

/* The edge profile: 512-byte blocks, on which keys can be at most 128 bytes. A VDE made
 * and opened with the default configuration (keys up to 255) works, with 128 as its key
 * limit; objects of every size go in and come back after a reopen; verify is clean. */
static void the_edge_profile_works_with_the_default_configuration(void **state)
{
    (void)state;
    env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    dw_test_dir_create(&e->dir);
    dw_test_path(&e->dir, "edge.dwvd", e->path, sizeof e->path);
    dw_config_defaults(&e->config);
    assert_true(e->config.key_length_max > 128);
    dw_create_options options = {.size_bytes = 64u << 20, .profile = DW_PROFILE_EDGE, .label = "edge"};
    OK(dw_vde_create(e->path, &e->config, &options, &e->diag));
    env_open(e);
    dw_vde_info info;
    dw_vde_info_read(e->vde, &info);
    assert_int_equal(info.super.super.block_size, 512);
    unsigned char key[129];
    static unsigned char value[6000];
    static unsigned char back[6000];
    for (uint32_t i = 0; i < 500; i++) {
        size_t length = 1 + i % 128;
        memset(key, 'a' + (int)(i % 26), length);
        memcpy(key, &i, sizeof i < length ? sizeof i : length);
        fill(value, sizeof value, i);
        OK(dw_put(e->vde, key, length, value, (i * 97) % sizeof value, NULL, &e->diag));
    }
    memset(key, 'z', sizeof key);
    assert_int_equal(dw_put(e->vde, key, 129, value, 1, NULL, &e->diag), DW_EINVAL);
    env_close(e);
    env_open(e);
    for (uint32_t i = 0; i < 500; i++) {
        size_t length = 1 + i % 128;
        memset(key, 'a' + (int)(i % 26), length);
        memcpy(key, &i, sizeof i < length ? sizeof i : length);
        fill(value, sizeof value, i);
        size_t size = 0;
        int result = dw_get(e->vde, key, length, back, sizeof back, &size, NULL, &e->diag);
        if (i >= 256 || length >= sizeof i) {
            /* Short keys of different i can coincide: only distinct ones are checked. */
            OK(result);
            assert_int_equal(size, (i * 97) % sizeof value);
            assert_memory_equal(back, value, size);
        }
    }
    env_close(e);
    assert_int_equal(env_verify(e, NULL, NULL)->problem_count, 0);
    env_free(e);
}

/* memory.cache_pages = 0 (the default): the cache is what the ceiling leaves, so a
 * larger ceiling gives a proportionally larger cache, and the whole plan stays under it. */
static void the_cache_is_sized_from_the_ceiling(void **state)
{
    (void)state;
    env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    dw_test_dir_create(&e->dir);
    dw_test_path(&e->dir, "auto.dwvd", e->path, sizeof e->path);
    dw_config_defaults(&e->config);
    assert_int_equal(e->config.cache_pages, 0);
    dw_create_options options = {.size_bytes = 256u << 20, .label = "auto cache"};
    OK(dw_vde_create(e->path, &e->config, &options, &e->diag));
    uint32_t pages[2] = {0, 0};
    const uint64_t ceilings[2] = {32u << 20, 256u << 20};
    for (int i = 0; i < 2; i++) {
        e->config.memory_ceiling_bytes = ceilings[i];
        env_open(e);
        dw_vde_info info;
        dw_vde_info_read(e->vde, &info);
        pages[i] = info.cache_pages;
        assert_true(info.memory_reserved_bytes <= ceilings[i]);
        /* Most of the ceiling goes to the cache: at least half of it. */
        print_message("# ceiling %llu: %u cache pages, %llu reserved\n", (unsigned long long)ceilings[i], info.cache_pages, (unsigned long long)info.memory_reserved_bytes);
        assert_true((uint64_t)info.cache_pages * 4096 >= ceilings[i] / 2);
        assert_true(info.undo_pages >= 16 && info.undo_pages < info.cache_pages / 2);
        OK(dw_put(e->vde, "k", 1, "v", 1, NULL, &e->diag));
        env_close(e);
    }
    assert_true(pages[1] > 6 * pages[0]);
    print_message("# cache pages: %u under 32 MiB, %u under 256 MiB\n", pages[0], pages[1]);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(objects_on_the_sim_disk),
        cmocka_unit_test(objects_on_a_file),
        cmocka_unit_test(many_keys_survive_reopen_and_iterate_in_order),
        cmocka_unit_test(streaming_writes_and_reads_at_offsets),
        cmocka_unit_test(a_streaming_writer_refuses_no_other_write),
        cmocka_unit_test(transactions_commit_whole_or_not_at_all),
        cmocka_unit_test(tags_are_small_and_bounded),
        cmocka_unit_test(group_durability_commits_on_sync),
        cmocka_unit_test(acknowledged_puts_survive_a_power_cut),
        cmocka_unit_test(a_failed_sync_stops_writing_until_reopen),
        cmocka_unit_test(generations_are_never_handed_out_twice),
        cmocka_unit_test(deterministic_mode_writes_identical_files),
        cmocka_unit_test(compact_objects_move_in_and_out_of_inodes),
        cmocka_unit_test(a_2_2_vde_gets_no_compact_objects),
        cmocka_unit_test(open_refuses_what_it_must_with_its_own_code),
        cmocka_unit_test(opening_and_working_never_allocate_after_open),
        cmocka_unit_test(no_put_pays_for_a_whole_checkpoint),
        cmocka_unit_test(the_edge_profile_works_with_the_default_configuration),
        cmocka_unit_test(the_cache_is_sized_from_the_ceiling),
    };
    return cmocka_run_group_tests_name("vde", tests, NULL, NULL);
}
