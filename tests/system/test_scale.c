/*
 * test_scale.c — memory does not grow with the data: a million small objects (16-byte
 * keys, 100-byte values) and a 1 GiB object streamed in and out, each in a VDE on a
 * file opened under a 64 MiB memory ceiling. Each test checks that nothing allocates
 * after open, that the process's peak resident memory grew by less than the ceiling, and
 * that every byte comes back after a reopen.
 *
 * The full sizes run in the optimised build; under the sanitizers (whose shadow memory
 * makes resident size meaningless and whose run time is several times longer) the same
 * tests run on 50,000 objects and a 128 MiB object.
 */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/alloc_count.h"
#include "vde_env.h"

#define MIB (1024u * 1024u)
#define CEILING (64u * MIB)

/* A line of /proc/self/status ("VmHWM:", "VmRSS:") in bytes; 0 when absent. */
static uint64_t status_bytes(const char *field)
{
    FILE *file = fopen("/proc/self/status", "r");
    if (file == NULL) {
        return 0;
    }
    char line[256];
    uint64_t bytes = 0;
    size_t length = strlen(field);
    while (fgets(line, sizeof line, file) != NULL) {
        if (strncmp(line, field, length) == 0) {
            bytes = strtoull(line + length, NULL, 10) * 1024;
        }
    }
    (void)fclose(file);
    return bytes;
}

/* Resets the peak (VmHWM) to the current resident size, so that a test measures its own
 * peak and not an earlier test's. Returns false where the kernel does not allow it. */
static bool reset_peak(void)
{
    FILE *file = fopen("/proc/self/clear_refs", "w");
    if (file == NULL) {
        return false;
    }
    bool ok = fputs("5", file) >= 0;
    return fclose(file) == 0 && ok;
}

/* The memory a test may see added to the process: the ceiling. Checked only where the
 * figure means something (no sanitizer runtime) and the peak could be reset. */
static void check_peak(const char *what, uint64_t before, bool measured, const dw_vde_info *info)
{
    uint64_t peak = status_bytes("VmHWM:");
    print_message("# %s: engine reserved %.1f MiB (peak %.1f) of the %u MiB ceiling; process resident before open"
                  " %.1f MiB, peak %.1f MiB (VmHWM), growth %.1f MiB\n",
                  what, (double)info->memory_reserved_bytes / MIB, (double)info->memory_peak_bytes / MIB,
                  CEILING / MIB, (double)before / MIB, (double)peak / MIB, (double)(peak - before) / MIB);
    assert_true(info->memory_peak_bytes <= CEILING);
    if (measured && !DW_TEST_SANITIZED) {
        assert_true(peak - before <= CEILING);
    }
}

static env *file_env(uint64_t size_bytes, uint64_t inodes)
{
    env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    dw_test_dir_create(&e->dir);
    dw_test_path(&e->dir, "scale.dwvd", e->path, sizeof e->path);
    dw_config_defaults(&e->config);
    e->config.memory_ceiling_bytes = CEILING;
    e->config.durability = DW_DURABILITY_GROUP;
    e->config.value_size_max = 2ull << 30;
    e->config.transaction_size_max = 2ull << 30;
    dw_diag_clear(&e->diag);
    dw_create_options options = {.size_bytes = size_bytes, .inode_count = inodes, .label = "scale test"};
    OK(dw_vde_create(e->path, &e->config, &options, &e->diag));
    return e;
}

static void key_of(char key[17], uint64_t i)
{
    (void)snprintf(key, 17, "obj-%012" PRIu64, i);
}

/* A value that differs per object and per byte, cheap to make. */
static void value_of(unsigned char value[100], uint64_t i)
{
    uint64_t x = i * 0x9E3779B97F4A7C15ull + 1;
    for (int b = 0; b < 100; b++) {
        x ^= x >> 29;
        x *= 0xBF58476D1CE4E5B9ull;
        value[b] = (unsigned char)(x >> 56);
    }
}

static void a_million_small_objects_within_64_mib(void **state)
{
    (void)state;
    uint64_t count = DW_TEST_SANITIZED ? 50000 : 1000000;
    env *e = file_env(4ull << 30, count + 1024);
    bool measured = reset_peak();
    uint64_t before = status_bytes("VmRSS:");
    env_open(e);
    char key[17];
    unsigned char value[100];
    unsigned char back[100];
    dw_alloc_counts mark = dw_alloc_counts_now();
    for (uint64_t i = 0; i < count; i++) {
        key_of(key, i);
        value_of(value, i);
        OK(dw_put(e->vde, key, 16, value, sizeof value, NULL, &e->diag));
        if (i % 100000 == 99999) {
            OK(dw_sync(e->vde, NULL, &e->diag));
        }
    }
    OK(dw_sync(e->vde, NULL, &e->diag));
    uint64_t allocations = dw_alloc_counts_since(mark);
    env_close(e);
    env_open(e);
    mark = dw_alloc_counts_now();
    for (uint64_t i = 0; i < count; i++) {
        key_of(key, i);
        value_of(value, i);
        size_t size = 0;
        OK(dw_get(e->vde, key, 16, back, sizeof back, &size, NULL, &e->diag));
        assert_int_equal(size, sizeof back);
        if (memcmp(back, value, sizeof back) != 0) {
            fail_msg("object %" PRIu64 " came back with other bytes", i);
        }
    }
    /* Every key once, in order, through the iterator too. */
    dw_iter *iter = NULL;
    OK(dw_iter_open(e->vde, "obj-", 4, &iter, &e->diag));
    uint64_t listed = 0;
    size_t length = 0;
    char expected[17];
    while (dw_iter_next(iter, key, sizeof key, &length, NULL, &e->diag) == DW_OK) {
        key_of(expected, listed);
        assert_int_equal(length, 16);
        assert_memory_equal(key, expected, 16);
        listed++;
    }
    dw_iter_close(iter);
    allocations += dw_alloc_counts_since(mark);
    assert_int_equal(listed, count);
    dw_vde_info info;
    dw_vde_info_read(e->vde, &info);
    env_close(e);
    print_message("# %" PRIu64 " objects of 16-byte keys and 100-byte values stored, reopened, read back and listed;"
                  " %" PRIu64 " allocations after open\n",
                  count, allocations);
    assert_int_equal(allocations, 0);
    check_peak("a million objects", before, measured, &info);
    env_free(e);
}

/* Object bytes: a function of the offset, so any piece can be checked on its own. */
static void pattern(unsigned char *buffer, size_t length, uint64_t offset)
{
    for (size_t i = 0; i < length; i += 8) {
        uint64_t x = (offset + i) * 0x9E3779B97F4A7C15ull;
        x ^= x >> 31;
        memcpy(buffer + i, &x, 8);
    }
}

static void a_one_gib_object_streams_within_64_mib(void **state)
{
    (void)state;
    uint64_t size = DW_TEST_SANITIZED ? 128ull * MIB : 1ull << 30;
    size_t piece = 1u * MIB;
    unsigned char *data = malloc(piece);
    unsigned char *back = malloc(piece);
    assert_true(data != NULL && back != NULL);
    memset(data, 0, piece);
    memset(back, 0, piece);
    env *e = file_env(size + (256ull * MIB), 4096);
    bool measured = reset_peak();
    uint64_t before = status_bytes("VmRSS:");
    env_open(e);
    dw_alloc_counts mark = dw_alloc_counts_now();
    dw_writer *writer = NULL;
    OK(dw_writer_open(e->vde, "blob", 4, NULL, &writer, &e->diag));
    for (uint64_t offset = 0; offset < size; offset += piece) {
        pattern(data, piece, offset);
        OK(dw_writer_write(writer, data, piece, &e->diag));
    }
    OK(dw_writer_commit(writer, &e->diag));
    OK(dw_sync(e->vde, NULL, &e->diag));
    uint64_t allocations = dw_alloc_counts_since(mark);
    env_close(e);
    env_open(e);
    mark = dw_alloc_counts_now();
    dw_object_stat stat;
    OK(dw_stat(e->vde, "blob", 4, &stat, NULL, &e->diag));
    assert_int_equal(stat.size, size);
    for (uint64_t offset = 0; offset < size; offset += piece) {
        size_t got = 0;
        OK(dw_read(e->vde, "blob", 4, offset, back, piece, &got, NULL, &e->diag));
        assert_int_equal(got, piece);
        pattern(data, piece, offset);
        if (memcmp(back, data, piece) != 0) {
            fail_msg("the object differs in the MiB at offset %" PRIu64, offset);
        }
    }
    size_t got = 1;
    OK(dw_read(e->vde, "blob", 4, size, back, piece, &got, NULL, &e->diag));
    assert_int_equal(got, 0);
    allocations += dw_alloc_counts_since(mark);
    dw_vde_info info;
    dw_vde_info_read(e->vde, &info);
    env_close(e);
    print_message("# an object of %" PRIu64 " MiB in %u extents streamed in and read back after reopen in 1 MiB pieces;"
                  " %" PRIu64 " allocations after open\n",
                  size / MIB, stat.extent_count, allocations);
    assert_int_equal(allocations, 0);
    check_peak("the large object", before, measured, &info);
    env_free(e);
    free(back);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_million_small_objects_within_64_mib),
        cmocka_unit_test(a_one_gib_object_streams_within_64_mib),
    };
    return cmocka_run_group_tests_name("scale", tests, NULL, NULL);
}
