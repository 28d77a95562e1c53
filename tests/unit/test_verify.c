/*
 * test_verify.c — dw_vde_verify finds damage and names the block: a clean VDE of every
 * kind of block verifies clean; a single flipped bit in each of 100 sampled used blocks
 * (every block type among them) is found and named; a leaked block and a wrong engine
 * count are found; and reading an object whose data block is damaged fails with
 * DW_ECORRUPT instead of returning wrong bytes.
 */
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/endian.h"
#include "vde/format.h"
#include "vde/vde_internal.h"
#include "vde_env.h"

/* A VDE holding every kind of block: inline values, multi-block values, a value in more
 * extents than its inode holds (so extent blocks), enough keys for branch nodes, tags. */
static env *populated(void)
{
    env *e = env_new(false, 64u << 20);
    env_open(e);
    static unsigned char value[200000];
    char key[32];
    /* Single-block objects, every other one deleted: holes for a fragmented value. */
    for (int i = 0; i < 64; i++) {
        (void)snprintf(key, sizeof key, "hole/%03d", i);
        fill(value, 1000, (uint64_t)i);
        OK(dw_put(e->vde, key, strlen(key), value, 1000, NULL, &e->diag));
    }
    for (int i = 0; i < 64; i += 2) {
        (void)snprintf(key, sizeof key, "hole/%03d", i);
        OK(dw_delete(e->vde, key, strlen(key), NULL, &e->diag));
    }
    OK(dw_sync(e->vde, NULL, &e->diag));
    /* The freed blocks are reusable once a checkpoint is past their record: a close makes
     * a whole one (with a checkpointer, when a paced step gets there is up to its thread). */
    env_close(e);
    env_open(e);
    /* 32 holes of one block, then the rest contiguous: more than 8 extents. */
    fill(value, sizeof value, 99);
    OK(dw_put(e->vde, "fragmented", 10, value, sizeof value, NULL, &e->diag));
    dw_object_stat stat;
    OK(dw_stat(e->vde, "fragmented", 10, &stat, NULL, &e->diag));
    assert_true(stat.extent_count > 8);
    for (int i = 0; i < 3000; i++) {
        (void)snprintf(key, sizeof key, "sensor/%05d", i);
        size_t size = i % 100 == 0 ? 9000 : (size_t)(i % 150);
        fill(value, size, (uint64_t)i + 1000);
        OK(dw_put(e->vde, key, strlen(key), value, size, NULL, &e->diag));
    }
    OK(dw_tag_set(e->vde, "fragmented", 10, "kind", "blob", NULL, &e->diag));
    env_close(e);
    return e;
}

static void flip_bit(const char *path, uint64_t byte, uint32_t bit)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char c = 0;
    assert_int_equal(pread(fd, &c, 1, (off_t)byte), 1);
    c = (unsigned char)(c ^ (1u << bit));
    assert_int_equal(pwrite(fd, &c, 1, (off_t)byte), 1);
    assert_int_equal(close(fd), 0);
}

static void a_clean_vde_verifies_clean(void **state)
{
    (void)state;
    env *e = populated();
    static block_list list;
    list.count = 0;
    const dw_verify_report *report = env_verify(e, collect, &list);
    env_print_problems(report);
    assert_int_equal(report->problem_count, 0);
    assert_int_equal(report->objects, 3000 + 32 + 1);
    /* Small untagged objects are compact, in their index entries: they have no inode. */
    assert_true(report->inodes < report->objects);
    static const uint32_t every_type[] = {
        DW_BLOCK_SUPER, DW_BLOCK_REGIONS, DW_BLOCK_EXTENDED, DW_BLOCK_ANCHOR, DW_BLOCK_EMERGENCY,
        DW_BLOCK_SENTINEL, DW_BLOCK_INODE_BITMAP, DW_BLOCK_INODES, DW_BLOCK_BITMAP, DW_BLOCK_INDEX_LEAF,
        DW_BLOCK_INDEX_BRANCH, DW_BLOCK_EXTENTS, DW_BLOCK_DATA,
    };
    for (size_t t = 0; t < DW_ARRAY_COUNT(every_type); t++) {
        bool found = false;
        for (uint32_t i = 0; i < report->type_count && !found; i++) {
            found = report->types[i].type == every_type[t] && report->types[i].blocks > 0;
        }
        char name[5];
        dw_block_type_text(every_type[t], name);
        if (!found) {
            fail_msg("no %s block was checked", name);
        }
    }
    env_free(e);
}

static void a_flipped_bit_in_any_used_block_is_found_and_named(void **state)
{
    (void)state;
    env *e = populated();
    static block_list list;
    list.count = 0;
    assert_int_equal(env_verify(e, collect, &list)->problem_count, 0);
    assert_true(list.count > 100);
    /* 100 samples: the first block of each type seen, then random ones. */
    uint32_t samples[100];
    uint32_t sample_count = 0;
    for (uint32_t i = 0; i < list.count && sample_count < 100; i++) {
        bool new_type = true;
        for (uint32_t s = 0; s < sample_count; s++) {
            new_type = new_type && list.type[samples[s]] != list.type[i];
        }
        if (new_type) {
            samples[sample_count++] = i;
        }
    }
    assert_int_equal(sample_count, 13);
    uint64_t seed = dw_test_seed();
    while (sample_count < 100) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        samples[sample_count++] = (uint32_t)((seed >> 33) % list.count);
    }
    uint32_t block_size = 4096;
    for (uint32_t s = 0; s < 100; s++) {
        uint32_t i = samples[s];
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t bytes = (uint64_t)list.blocks[i] * block_size;
        uint64_t byte = list.block[i] * block_size + (seed >> 20) % bytes;
        uint32_t bit = (uint32_t)(seed >> 8) % 8;
        flip_bit(e->path, byte, bit);
        const dw_verify_report *report = env_verify(e, NULL, NULL);
        bool named = false;
        for (uint32_t p = 0; p < report->problems_kept && !named; p++) {
            named = report->problems[p].block == list.block[i];
        }
        if (!named) {
            char name[5];
            dw_block_type_text(list.type[i], name);
            env_print_problems(report);
            fail_msg("a flipped bit %u of byte %llu in %s block %llu was not named", bit, (unsigned long long)byte,
                     name, (unsigned long long)list.block[i]);
        }
        flip_bit(e->path, byte, bit);
    }
    assert_int_equal(env_verify(e, NULL, NULL)->problem_count, 0);
    env_free(e);
}

static void leaks_and_wrong_counts_are_found(void **state)
{
    (void)state;
    env *e = populated();
    static block_list list;
    list.count = 0;
    assert_int_equal(env_verify(e, collect, &list)->problem_count, 0);
    /* Set a clear bit in the first group bitmap (and reseal it): a block marked used that
     * nothing refers to, and a count of used blocks that no longer adds up. */
    uint64_t bitmap = 0;
    for (uint32_t i = 0; i < list.count && bitmap == 0; i++) {
        bitmap = list.type[i] == DW_BLOCK_BITMAP ? list.block[i] : 0;
    }
    assert_true(bitmap != 0);
    unsigned char block[4096];
    int fd = open(e->path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, block, sizeof block, (off_t)(bitmap * 4096)), (ssize_t)sizeof block);
    dw_bitmap_header header;
    dw_bitmap_header_decode(block, &header);
    uint32_t bit = header.covered - 1;
    assert_false(dw_bit_get(block + DW_BITMAP_HEADER_SIZE, bit));
    dw_bit_set(block + DW_BITMAP_HEADER_SIZE, bit, true);
    header.free--;
    dw_bitmap_header_encode(&header, block);
    dw_trailer_seal(block, sizeof block, bitmap * 4096, DW_BLOCK_BITMAP, dw_trailer_generation(block, sizeof block));
    assert_int_equal(pwrite(fd, block, sizeof block, (off_t)(bitmap * 4096)), (ssize_t)sizeof block);
    assert_int_equal(close(fd), 0);
    const dw_verify_report *report = env_verify(e, NULL, NULL);
    env_print_problems(report);
    assert_int_equal(report->problem_count, 2);
    assert_int_equal(report->problems[0].block, bitmap + bit);
    assert_non_null(strstr(report->problems[0].what, "leaked"));
    assert_int_equal(report->problems[1].block, DW_VERIFY_NO_BLOCK);
    assert_non_null(strstr(report->problems[1].what, "engine state"));
    env_free(e);
}

static void a_damaged_data_block_reads_as_ecorrupt_never_wrong_bytes(void **state)
{
    (void)state;
    /* One object of three data blocks: the only DATA blocks verify finds are its own. */
    env *e = env_new(false, 64u << 20);
    env_open(e);
    static unsigned char value[9000];
    static unsigned char back[9000];
    fill(value, sizeof value, 7);
    OK(dw_put(e->vde, "victim", 6, value, sizeof value, NULL, &e->diag));
    env_close(e);
    static block_list list;
    list.count = 0;
    assert_int_equal(env_verify(e, collect, &list)->problem_count, 0);
    uint32_t data_blocks = 0;
    for (uint32_t i = 0; i < list.count; i++) {
        if (list.type[i] != DW_BLOCK_DATA) {
            continue;
        }
        data_blocks++;
        flip_bit(e->path, list.block[i] * 4096 + 100, 3);
        env_open(e);
        size_t length = 0;
        memset(back, 0, sizeof back);
        int result = dw_get(e->vde, "victim", 6, back, sizeof back, &length, NULL, &e->diag);
        assert_int_equal(result, DW_ECORRUPT);
        char expected[64];
        (void)snprintf(expected, sizeof expected, "block %llu", (unsigned long long)list.block[i]);
        if (strstr(e->diag.message, expected) == NULL) {
            fail_msg("the message does not name %s: %s", expected, e->diag.message);
        }
        /* Streaming reads refuse the damaged block too, and serve the others. */
        size_t got = 0;
        uint64_t offset = (uint64_t)data_blocks * 4080 - 4080;
        result = dw_read(e->vde, "victim", 6, offset, back, 100, &got, NULL, &e->diag);
        assert_int_equal(result, DW_ECORRUPT);
        env_close(e);
        flip_bit(e->path, list.block[i] * 4096 + 100, 3);
    }
    assert_int_equal(data_blocks, 3);
    env_open(e);
    size_t length = 0;
    OK(dw_get(e->vde, "victim", 6, back, sizeof back, &length, NULL, &e->diag));
    assert_int_equal(length, sizeof value);
    assert_memory_equal(back, value, sizeof value);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_clean_vde_verifies_clean),
        cmocka_unit_test(a_flipped_bit_in_any_used_block_is_found_and_named),
        cmocka_unit_test(leaks_and_wrong_counts_are_found),
        cmocka_unit_test(a_damaged_data_block_reads_as_ecorrupt_never_wrong_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
