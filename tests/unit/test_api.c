/*
 * test_api.c — the embedder's calls of include/dwvd.h "Looking at a VDE": dw_vde_stat
 * describes a VDE as inspect does, dw_vde_open_read_only refuses every write with
 * DW_EPERM and writes nothing, dw_vde_verify finds a flipped bit by path and names block
 * and type, and dw_vde_holdup_ns grows with what group durability leaves unlogged and
 * falls back to 0 after dw_sync. Each also refuses NULL arguments and files that are not
 * VDEs with a message, never a crash.
 */
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vde/format.h"
#include "vde_env.h"

static void put_numbered(env *e, const char *prefix, int first, int count, size_t size)
{
    static unsigned char value[16384];
    assert_true(size <= sizeof value);
    char key[64];
    for (int i = first; i < first + count; i++) {
        (void)snprintf(key, sizeof key, "%s/%05d", prefix, i);
        fill(value, size, (uint64_t)i);
        OK(dw_put(e->vde, key, strlen(key), value, size, NULL, &e->diag));
    }
}

static bool has_word(const char *text, const char *word)
{
    size_t length = strlen(word);
    for (const char *at = strstr(text, word); at != NULL; at = strstr(at + 1, word)) {
        bool starts = at == text || at[-1] == ' ';
        bool ends = at[length] == '\0' || at[length] == ' ';
        if (starts && ends) {
            return true;
        }
    }
    return false;
}

/* ---- dw_vde_stat ------------------------------------------------------------------------ */

static void stat_describes_the_vde_as_inspect_does(void **state)
{
    (void)state;
    env *e = env_new(false, 64u << 20);
    env_open(e);
    put_numbered(e, "sensor", 0, 40, 100);
    put_numbered(e, "blob", 0, 2, 9000);
    static dw_vde_stats stats;
    memset(&stats, 0xa5, sizeof stats); /* every field is written, none left as found */
    OK(dw_vde_stat(e->vde, &stats, &e->diag));
    assert_int_equal(stats.format_version, DW_FORMAT_VERSION);
    assert_int_equal(stats.block_size, 4096);
    assert_int_equal(stats.block_count, (64u << 20) / 4096);
    assert_string_equal(stats.label, "unit test");
    assert_memory_equal(stats.anchor, "dw://", 5);
    assert_true(has_word(stats.incompat_names, "page_wal"));
    assert_true(has_word(stats.ro_compat_names, "tags"));
    assert_string_equal(stats.state, "dirty"); /* open for writing */
    assert_int_equal(stats.object_count, 42);
    assert_true(stats.data_blocks_used > 0);
    assert_int_equal(stats.data_bytes_used, stats.data_blocks_used * 4096);
    assert_true(has_word(stats.incompat_names, "compact"));
    assert_true(stats.inodes_used <= stats.inode_count);
    assert_true(stats.region_count >= 4 && stats.region_count <= DW_VDE_REGIONS_MAX);
    bool wal_region = false;
    for (uint32_t i = 0; i < stats.region_count; i++) {
        wal_region = wal_region || strcmp(stats.regions[i].type, "wal") == 0;
    }
    assert_true(wal_region);
    bool wal_module = false;
    for (uint32_t i = 0; i < stats.module_count; i++) {
        wal_module = wal_module || strcmp(stats.modules[i].name, "wal") == 0;
    }
    assert_true(wal_module);
    assert_true(stats.wal_blocks > 0 && stats.wal_used_blocks <= stats.wal_blocks);
    assert_int_equal(stats.memory_ceiling_bytes, e->config.memory_ceiling_bytes);
    assert_true(stats.memory_reserved_bytes > 0 && stats.memory_reserved_bytes <= stats.memory_peak_bytes);
    assert_true(stats.io_backend[0] != '\0');
    assert_false(stats.read_only);
    assert_string_equal(stats.ops[0].name, "put");
    assert_int_equal(stats.ops[0].count, 42);
    assert_true(stats.ops[0].p50_ns <= stats.ops[0].p99_ns && stats.ops[0].p99_ns <= stats.ops[0].max_ns);
    assert_true(stats.commits >= 42);
    assert_string_equal(stats.io[1].name, "write block");
    assert_int_equal(stats.io[0].budget_ns, e->config.wcet_read_ns);
    assert_int_equal(stats.io[4].budget_ns, e->config.wcet_flush_ns);
    /* Strict: every commit is at least one durable write (a record of small objects is
     * one, with no sync of its own: docs/IO.md). */
    assert_true(stats.io[1].completed + stats.io[3].completed >= stats.commits);
    assert_true(stats.io_submitted >= stats.io_completed && stats.io_completed > 0);
    env_close(e);
    env_free(e);
}

static void stat_refuses_null_arguments(void **state)
{
    (void)state;
    env *e = env_new(false, 16u << 20);
    env_open(e);
    dw_vde_stats stats;
    assert_int_equal(dw_vde_stat(NULL, &stats, &e->diag), DW_EINVAL);
    assert_non_null(strstr(e->diag.message, "VDE is NULL"));
    assert_int_equal(dw_vde_stat(e->vde, NULL, &e->diag), DW_EINVAL);
    assert_non_null(strstr(e->diag.message, "stats pointer is NULL"));
    assert_int_equal(dw_vde_stat(e->vde, NULL, NULL), DW_EINVAL); /* diag is optional */
    env_free(e);
}

/* ---- dw_vde_open_read_only --------------------------------------------------------------- */

static void a_read_only_handle_reads_and_refuses_writes(void **state)
{
    (void)state;
    env *e = env_new(false, 16u << 20);
    env_open(e);
    OK(dw_put(e->vde, "kept", 4, "value", 5, NULL, &e->diag));
    env_close(e);
    static dw_vde_stats before;
    OK(dw_vde_open(e->path, &e->config, &e->vde, &e->diag));
    OK(dw_vde_stat(e->vde, &before, &e->diag));
    env_close(e);

    OK(dw_vde_open_read_only(e->path, &e->config, &e->vde, &e->diag));
    char value[16];
    size_t length = 0;
    OK(dw_get(e->vde, "kept", 4, value, sizeof value, &length, NULL, &e->diag));
    assert_int_equal(length, 5);
    assert_memory_equal(value, "value", 5);
    assert_int_equal(dw_put(e->vde, "new", 3, "x", 1, NULL, &e->diag), DW_EPERM);
    assert_non_null(strstr(e->diag.message, "read-only"));
    assert_int_equal(dw_delete(e->vde, "kept", 4, NULL, &e->diag), DW_EPERM);
    assert_int_equal(dw_tag_set(e->vde, "kept", 4, "a", "b", NULL, &e->diag), DW_EPERM);
    dw_writer *writer = NULL;
    assert_int_equal(dw_writer_open(e->vde, "new", 3, NULL, &writer, &e->diag), DW_EPERM);
    dw_txn *txn = NULL;
    assert_int_equal(dw_txn_begin(e->vde, &txn, &e->diag), DW_EPERM);
    OK(dw_sync(e->vde, NULL, &e->diag));
    static dw_vde_stats stats;
    OK(dw_vde_stat(e->vde, &stats, &e->diag));
    assert_true(stats.read_only);
    assert_string_equal(stats.state, "clean"); /* nothing marked it open for writing */
    uint64_t holdup = 1;
    OK(dw_vde_holdup_ns(e->vde, &holdup, &e->diag));
    assert_int_equal(holdup, 0);
    env_close(e);

    /* Nothing was written: the superblock is where the last writable close left it. */
    OK(dw_vde_open(e->path, &e->config, &e->vde, &e->diag));
    OK(dw_vde_stat(e->vde, &stats, &e->diag));
    assert_int_equal(stats.mount_count, before.mount_count + 1);
    assert_int_equal(stats.object_count, 1);
    env_free(e);
}

static void read_only_open_refuses_what_open_refuses(void **state)
{
    (void)state;
    dw_test_dir dir;
    dw_test_dir_create(&dir);
    char path[512];
    dw_test_path(&dir, "notes.txt", path, sizeof path);
    static char text[65536];
    memset(text, 'x', sizeof text - 1);
    dw_test_write_file(path, text);
    dw_config config;
    dw_config_defaults(&config);
    dw_diag diag;
    dw_vde *vde = (dw_vde *)&diag; /* set to NULL on every failure */
    assert_int_equal(dw_vde_open_read_only(path, &config, &vde, &diag), DW_ENOTVDE);
    assert_null(vde);
    char missing[512];
    dw_test_path(&dir, "missing.dwvd", missing, sizeof missing);
    assert_int_equal(dw_vde_open_read_only(missing, &config, &vde, &diag), DW_ENOENT);
    assert_int_equal(dw_vde_open_read_only(NULL, &config, &vde, &diag), DW_EINVAL);
    assert_non_null(strstr(diag.message, "path is NULL"));
    assert_int_equal(dw_vde_open_read_only(path, NULL, &vde, &diag), DW_EINVAL);
    assert_non_null(strstr(diag.message, "configuration is NULL"));
    assert_int_equal(dw_vde_open_read_only(path, &config, NULL, &diag), DW_EINVAL);
    dw_test_dir_remove(&dir);
}

/* ---- dw_vde_verify ----------------------------------------------------------------------- */

typedef struct progress_seen {
    uint64_t calls;
    uint64_t last_done;
    bool backwards;
} progress_seen;

static void note_progress(void *context, uint64_t done, uint64_t total)
{
    progress_seen *seen = context;
    (void)total;
    seen->backwards = seen->backwards || done < seen->last_done;
    seen->last_done = done;
    seen->calls++;
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

static void verify_by_path_is_clean_then_names_a_flipped_bit(void **state)
{
    (void)state;
    env *e = env_new(false, 32u << 20);
    env_open(e);
    put_numbered(e, "sensor", 0, 200, 300);
    put_numbered(e, "blob", 0, 3, 12000);
    env_close(e);
    static dw_vde_verify_report report;
    memset(&report, 0xa5, sizeof report);
    progress_seen seen = {0};
    report.progress = note_progress;
    report.context = &seen;
    OK(dw_vde_verify(e->path, &e->config, &report, &e->diag));
    assert_int_equal(report.problem_count, 0);
    assert_int_equal(report.problems_kept, 0);
    assert_int_equal(report.objects, 203);
    assert_int_equal(report.bytes, 200 * 300 + 3 * 12000);
    assert_true(report.blocks_checked > 0 && report.memory_bytes > 0);
    assert_true(report.progress == note_progress && report.context == &seen); /* kept */
    assert_true(seen.calls > 0);
    assert_false(seen.backwards);
    uint64_t data_blocks = 0;
    for (uint32_t i = 0; i < report.type_count; i++) {
        data_blocks = strcmp(report.types[i].type, "DATA") == 0 ? report.types[i].blocks : data_blocks;
    }
    assert_true(data_blocks >= 9); /* three blobs of three blocks */

    /* A bit flipped in one data block: found, with that block and its type. */
    static block_list list;
    list.count = 0;
    assert_int_equal(env_verify(e, collect, &list)->problem_count, 0);
    uint64_t victim = 0;
    for (uint32_t i = 0; i < list.count && victim == 0; i++) {
        victim = list.type[i] == DW_BLOCK_DATA ? list.block[i] : 0;
    }
    assert_true(victim != 0);
    flip_bit(e->path, victim * 4096 + 1234, 3);
    report.progress = NULL;
    OK(dw_vde_verify(e->path, &e->config, &report, &e->diag));
    assert_true(report.problem_count >= 1);
    bool named = false;
    for (uint32_t p = 0; p < report.problems_kept; p++) {
        named = named || (report.problems[p].block == victim && strcmp(report.problems[p].type, "DATA") == 0 &&
                          report.problems[p].what[0] != '\0');
    }
    assert_true(named);
    env_free(e);
}

static void verify_refuses_what_is_not_a_vde_and_null_arguments(void **state)
{
    (void)state;
    env *e = env_new(false, 16u << 20);
    static dw_vde_verify_report report;
    memset(&report, 0, sizeof report);
    char path[512];
    dw_test_path(&e->dir, "notes.txt", path, sizeof path);
    static char text[65536];
    memset(text, 'y', sizeof text - 1);
    dw_test_write_file(path, text);
    assert_int_equal(dw_vde_verify(path, &e->config, &report, &e->diag), DW_ENOTVDE);
    assert_non_null(strstr(e->diag.message, "notes.txt"));
    dw_test_path(&e->dir, "missing.dwvd", path, sizeof path);
    assert_int_equal(dw_vde_verify(path, &e->config, &report, &e->diag), DW_ENOENT);
    assert_int_equal(dw_vde_verify(NULL, &e->config, &report, &e->diag), DW_EINVAL);
    assert_int_equal(dw_vde_verify(e->path, NULL, &report, &e->diag), DW_EINVAL);
    assert_int_equal(dw_vde_verify(e->path, &e->config, NULL, &e->diag), DW_EINVAL);
    assert_non_null(strstr(e->diag.message, "report is NULL"));
    /* The file must be the check's alone. */
    env_open(e);
    assert_int_equal(dw_vde_verify(e->path, &e->config, &report, &e->diag), DW_EBUSY);
    env_close(e);
    OK(dw_vde_verify(e->path, &e->config, &report, NULL));
    assert_int_equal(report.problem_count, 0);
    env_free(e);
}

/* ---- dw_vde_holdup_ns -------------------------------------------------------------------- */

static void group_durability(dw_config *config)
{
    config->durability = DW_DURABILITY_GROUP;
    /* No flusher thread and no group closed by the clock: only dw_sync, close or a full
     * group makes the commits durable, so what the test sees stays put. */
    config->deterministic = true;
}

static void holdup_grows_with_unlogged_commits_and_falls_after_sync(void **state)
{
    (void)state;
    env *e = env_new_tuned(false, 32u << 20, group_durability);
    env_open(e);
    uint64_t holdup = UINT64_MAX;
    OK(dw_vde_holdup_ns(e->vde, &holdup, &e->diag));
    assert_int_equal(holdup, 0); /* nothing committed since open */
    put_numbered(e, "a", 0, 1, 100);
    uint64_t one = 0;
    OK(dw_vde_holdup_ns(e->vde, &one, &e->diag));
    /* At least: the record's header and one page image, then its sync. */
    assert_true(one >= e->config.wcet_write_ns + e->config.wcet_flush_ns);
    put_numbered(e, "b", 0, 60, 3000); /* new inode blocks, index nodes, bitmap pages */
    uint64_t many = 0;
    OK(dw_vde_holdup_ns(e->vde, &many, &e->diag));
    assert_true(many > one);
    OK(dw_sync(e->vde, NULL, &e->diag));
    OK(dw_vde_holdup_ns(e->vde, &holdup, &e->diag));
    assert_int_equal(holdup, 0);
    assert_int_equal(dw_vde_holdup_ns(NULL, &holdup, &e->diag), DW_EINVAL);
    assert_int_equal(dw_vde_holdup_ns(e->vde, NULL, &e->diag), DW_EINVAL);
    assert_non_null(strstr(e->diag.message, "result pointer is NULL"));
    env_free(e);
}

static void group_durability_budgets_doubled(dw_config *config)
{
    group_durability(config);
    config->wcet_read_ns *= 2;
    config->wcet_write_ns *= 2;
    config->wcet_batch_ns *= 2;
    config->wcet_flush_ns *= 2;
}

static uint64_t holdup_after_workload(void (*tune)(dw_config *config))
{
    env *e = env_new_tuned(false, 32u << 20, tune);
    env_open(e);
    put_numbered(e, "c", 0, 80, 2000);
    uint64_t holdup = 0;
    OK(dw_vde_holdup_ns(e->vde, &holdup, &e->diag));
    env_free(e);
    return holdup;
}

static void holdup_is_a_sum_of_budgets(void **state)
{
    (void)state;
    /* Deterministic mode: the same operations leave the same pages unlogged, so the
     * bound, a count of requests times their budgets, doubles with the budgets. */
    uint64_t holdup = holdup_after_workload(group_durability);
    assert_true(holdup > 0);
    assert_int_equal(holdup_after_workload(group_durability_budgets_doubled), 2 * holdup);
    assert_int_equal(holdup_after_workload(group_durability), holdup);
}

static void holdup_is_zero_under_strict_durability(void **state)
{
    (void)state;
    env *e = env_new(false, 16u << 20);
    env_open(e);
    put_numbered(e, "s", 0, 20, 500);
    uint64_t holdup = UINT64_MAX;
    OK(dw_vde_holdup_ns(e->vde, &holdup, &e->diag));
    assert_int_equal(holdup, 0); /* every acknowledged commit is durable already */
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stat_describes_the_vde_as_inspect_does),
        cmocka_unit_test(stat_refuses_null_arguments),
        cmocka_unit_test(a_read_only_handle_reads_and_refuses_writes),
        cmocka_unit_test(read_only_open_refuses_what_open_refuses),
        cmocka_unit_test(verify_by_path_is_clean_then_names_a_flipped_bit),
        cmocka_unit_test(verify_refuses_what_is_not_a_vde_and_null_arguments),
        cmocka_unit_test(holdup_grows_with_unlogged_commits_and_falls_after_sync),
        cmocka_unit_test(holdup_is_a_sum_of_budgets),
        cmocka_unit_test(holdup_is_zero_under_strict_durability),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
