/*
 * test_anomaly.c — anomalies at the Nth call, as SQLite tests them (issue 8,
 * docs/RELIABILITY.md):
 *   - an allocation failure at each allocation an open makes, on a file and on a crashed
 *     VDE that needs recovery: each open fails with DW_ENOMEM and frees all it took, and
 *     the next open finds every object;
 *   - an I/O error at each device operation of a fixed workload (open, puts, deletes,
 *     transactions, syncs, close): after a power cycle the VDE holds every operation
 *     acknowledged before the error and the failed one whole or not at all, and verifies
 *     clean;
 *   - an I/O error at each device operation of a recovery: the open fails cleanly and the
 *     next one recovers every acknowledged operation;
 *   - a bit flipped in what each read of a recovery returns: the open recovers every
 *     acknowledged operation or fails cleanly, and the next one recovers them all.
 */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/alloc_count.h"
#include "vde/engine.h"
#include "vde/vde_internal.h"
#include "vde_env.h"

#define KEYS 25
#define OPS 60
#define VALUE_MAX 9000

/* ---- the workload and its model ------------------------------------------------------- */

typedef struct slot {
    bool live;
    uint32_t size;
    uint64_t fill_seed;
} slot;

typedef struct state {
    slot keys[KEYS];
} state;

static uint32_t size_of(int i)
{
    static const uint32_t sizes[] = {0, 17, 100, 700, 4000, 4080, 4081, 9000};
    return sizes[(uint32_t)i % (sizeof sizes / sizeof sizes[0])];
}

/* Operation i: a put, every tenth a delete, every tenth (offset 4) a transaction of three
 * puts and a delete; what it does to the model. */
static void apply(state *s, int i)
{
    if (i % 10 == 9) {
        s->keys[(i + 11) % KEYS].live = false;
    } else if (i % 10 == 4) {
        for (int j = 1; j <= 3; j++) {
            s->keys[(i + j) % KEYS] = (slot){true, size_of(i + j), (uint64_t)(i * 10 + j)};
        }
        s->keys[(i + 4) % KEYS].live = false;
    } else {
        s->keys[i % KEYS] = (slot){true, size_of(i), (uint64_t)i * 10};
    }
}

static void key_name(int k, char *key, size_t size)
{
    (void)snprintf(key, size, "key-%02d", k);
}

static unsigned char value[VALUE_MAX];
static unsigned char back[VALUE_MAX];

/* Runs operation i; DW_OK when acknowledged. A delete of an absent key counts as done. */
static int run(dw_vde *vde, int i, dw_diag *diag)
{
    char key[16];
    int result = DW_OK;
    if (i % 10 == 9) {
        key_name((i + 11) % KEYS, key, sizeof key);
        result = dw_delete(vde, key, strlen(key), NULL, diag);
        result = result == DW_ENOENT ? DW_OK : result;
    } else if (i % 10 == 4) {
        dw_txn *txn = NULL;
        result = dw_txn_begin(vde, &txn, diag);
        for (int j = 1; j <= 3 && result == DW_OK; j++) {
            key_name((i + j) % KEYS, key, sizeof key);
            fill(value, size_of(i + j), (uint64_t)(i * 10 + j));
            result = dw_txn_put(txn, key, strlen(key), value, size_of(i + j), diag);
        }
        if (result == DW_OK) {
            key_name((i + 4) % KEYS, key, sizeof key);
            result = dw_txn_delete(txn, key, strlen(key), diag);
            result = result == DW_ENOENT ? DW_OK : result;
        }
        if (result == DW_OK) {
            result = dw_txn_commit(txn, NULL, diag);
        } else if (txn != NULL) {
            dw_txn_abort(txn);
        }
    } else {
        key_name(i % KEYS, key, sizeof key);
        fill(value, size_of(i), (uint64_t)i * 10);
        result = dw_put(vde, key, strlen(key), value, size_of(i), NULL, diag);
    }
    if (result == DW_OK && i % 20 == 19) {
        result = dw_sync(vde, NULL, diag);
    }
    return result;
}

/* True when the VDE holds exactly state s. */
static bool holds(dw_vde *vde, const state *s, dw_diag *diag)
{
    char key[16];
    for (int k = 0; k < KEYS; k++) {
        key_name(k, key, sizeof key);
        size_t size = 0;
        int result = dw_get(vde, key, strlen(key), back, sizeof back, &size, NULL, diag);
        if (!s->keys[k].live) {
            if (result != DW_ENOENT) {
                return false;
            }
            continue;
        }
        if (result != DW_OK || size != s->keys[k].size) {
            return false;
        }
        fill(value, size, s->keys[k].fill_seed);
        if (memcmp(back, value, size) != 0) {
            return false;
        }
    }
    return true;
}

/* The state after operations [0, count). */
static state after(int count)
{
    state s;
    memset(&s, 0, sizeof s);
    for (int i = 0; i < count; i++) {
        apply(&s, i);
    }
    return s;
}

static void power_cycle(env *e)
{
    dw_sim_disk_cut_power(&e->disk);
    dw_sim_disk_power_on(&e->disk);
}

static void small(dw_config *config)
{
    config->wal_bytes = 1u << 20;
    config->cache_pages = 96;
}

/* A new VDE that has run the whole workload: closed cleanly, or (crash) cut off with
 * its last operations only in the log. */
static env *after_workload(bool sim, uint64_t size_bytes, bool crash)
{
    env *e = env_new_tuned(sim, size_bytes, small);
    env_open(e);
    for (int i = 0; i < OPS; i++) {
        OK(run(e->vde, i, &e->diag));
    }
    if (!crash) {
        env_close(e);
        return e;
    }
    dw_sim_disk_cut_power(&e->disk);
    (void)dw_vde_close(e->vde, &e->diag);
    e->vde = NULL;
    dw_sim_disk_power_on(&e->disk);
    return e;
}

/* A copy of the simulated disk to start each case from (free it). */
static unsigned char *snapshot_of(env *e)
{
    unsigned char *snapshot = malloc(dw_sim_disk_snapshot_bytes(&e->disk));
    assert_non_null(snapshot);
    dw_sim_disk_snapshot(&e->disk, snapshot);
    return snapshot;
}

/* ---- allocation failures --------------------------------------------------------------- */

/* Opens e's VDE with the nth allocation failing, for n = 1, 2, ... until an open makes
 * fewer allocations than n; returns how many failed. */
static uint32_t open_at_each_allocation(env *e, const state *expected)
{
    uint32_t failed_opens = 0;
    for (uint64_t n = 1;; n++) {
        uint64_t injected = dw_alloc_injected_failures();
        dw_alloc_counts before = dw_alloc_counts_now();
        dw_alloc_fail_at(n);
        int result = dw_vde_open_at(e->path, &e->config, &e->target, &e->vde, &e->diag);
        dw_alloc_fail_at(0);
        bool hit = dw_alloc_injected_failures() != injected;
        if (result == DW_OK) {
            if (!holds(e->vde, expected, &e->diag)) {
                fail_msg("after allocation %llu failed, the open succeeded but lost objects", (unsigned long long)n);
            }
            env_close(e);
            if (!hit) {
                return failed_opens;
            }
            continue;
        }
        dw_alloc_counts after_open = dw_alloc_counts_now();
        if (!hit || result != DW_ENOMEM || strlen(e->diag.message) == 0) {
            fail_msg("with allocation %llu failing, open returned %s: %s", (unsigned long long)n,
                     dw_error_name(result), e->diag.message);
        }
        uint64_t taken = after_open.allocations - before.allocations;
        uint64_t freed = after_open.frees - before.frees;
        if (taken != freed) {
            fail_msg("with allocation %llu failing, the failed open took %llu allocations and freed %llu",
                     (unsigned long long)n, (unsigned long long)taken, (unsigned long long)freed);
        }
        e->vde = NULL;
        failed_opens++;
    }
}

static void an_open_fails_cleanly_at_each_allocation(void **unused)
{
    (void)unused;
    assert_true(dw_alloc_counting_works());
    state expected = after(OPS);
    /* A file, closed cleanly. */
    env *e = after_workload(false, 16u << 20, false);
    uint32_t file_points = open_at_each_allocation(e, &expected);
    env_free(e);
    /* The simulated disk, crashed: the open recovers from the log. */
    e = after_workload(true, 16u << 20, true);
    uint32_t crashed_points = open_at_each_allocation(e, &expected);
    env_open(e);
    assert_true(holds(e->vde, &expected, &e->diag));
    env_close(e);
    assert_int_equal(env_verify(e, NULL, NULL)->problem_count, 0);
    env_free(e);
    if (file_points < 2 || crashed_points < 2) {
        fail_msg("only %u and %u allocations during open", file_points, crashed_points);
    }
    print_message("# allocation failures (%s): %u opens of a file, %u of a crashed VDE, each failed with DW_ENOMEM "
                  "and freed what it took\n",
                  dw_alloc_counting_mechanism(), file_points, crashed_points);
}

/* Every reservation an open makes against the memory ceiling, failed in turn by a
 * ceiling just short of it: each open fails with a clean error naming memory. */
static void an_open_fails_cleanly_at_each_reservation(void **unused)
{
    (void)unused;
    state expected = after(OPS);
    env *e = after_workload(true, 16u << 20, false);
    env_open(e);
    uint32_t count = e->vde->budget.component_count;
    static uint64_t sizes[DW_BUDGET_COMPONENTS_MAX];
    static char names[DW_BUDGET_COMPONENTS_MAX][DW_BUDGET_NAME_MAX];
    for (uint32_t k = 0; k < count; k++) {
        sizes[k] = e->vde->budget.components[k].reserved_bytes;
        memcpy(names[k], e->vde->budget.components[k].name, DW_BUDGET_NAME_MAX);
    }
    env_close(e);
    uint64_t ceiling = e->config.memory_ceiling_bytes;
    uint32_t refused = 0;
    uint64_t before_k = 0;
    for (uint32_t k = 0; k < count; k++) {
        if (sizes[k] == 0) {
            continue;
        }
        e->config.memory_ceiling_bytes = before_k + sizes[k] - 1;
        dw_alloc_counts before = dw_alloc_counts_now();
        int result = dw_vde_open_at(e->path, &e->config, &e->target, &e->vde, &e->diag);
        dw_alloc_counts after_open = dw_alloc_counts_now();
        if (result == DW_OK) {
            fail_msg("a ceiling of %llu bytes, short of reservation %u (%s, %llu bytes), let the open through",
                     (unsigned long long)e->config.memory_ceiling_bytes, k, names[k], (unsigned long long)sizes[k]);
        }
        if ((result != DW_ENOMEM_BUDGET && result != DW_ENOMEM && result != DW_ECONFIG) || strstr(e->diag.message, "memory") == NULL) {
            fail_msg("a ceiling short of reservation %u (%s): open returned %s: %s", k, names[k],
                     dw_error_name(result), e->diag.message);
        }
        assert_int_equal(after_open.allocations - before.allocations, after_open.frees - before.frees);
        e->vde = NULL;
        refused++;
        before_k += sizes[k];
    }
    e->config.memory_ceiling_bytes = ceiling;
    env_open(e);
    assert_true(holds(e->vde, &expected, &e->diag));
    env_free(e);
    print_message("# memory reservations: each of the %u an open makes refused in turn by the ceiling, cleanly\n",
                  refused);
}

/* ---- I/O errors --------------------------------------------------------------------- */

static void an_io_error_at_each_operation_of_a_workload_loses_nothing_acknowledged(void **unused)
{
    (void)unused;
    env *e = env_new_tuned(true, 8u << 20, small);
    unsigned char *snapshot = snapshot_of(e);
    /* A dry run counts the device operations from open to close. */
    uint64_t first = e->disk.state.operations;
    env_open(e);
    for (int i = 0; i < OPS; i++) {
        OK(run(e->vde, i, &e->diag));
    }
    env_close(e);
    uint64_t total = e->disk.state.operations - first;
    uint32_t cases = 0;
    uint32_t open_failed = 0;
    uint32_t failed_op_kept = 0;
    uint32_t failed_op_gone = 0;
    for (uint64_t n = 1; n <= total; n++) {
        dw_sim_disk_restore(&e->disk, snapshot);
        dw_sim_disk_fail_operation(&e->disk, n);
        int acknowledged = 0;
        int result = dw_vde_open_at(e->path, &e->config, &e->target, &e->vde, &e->diag);
        if (result != DW_OK) {
            assert_int_equal(result, DW_EIO);
            e->vde = NULL;
            open_failed++;
        } else {
            while (acknowledged < OPS && run(e->vde, acknowledged, &e->diag) == DW_OK) {
                acknowledged++;
            }
            (void)dw_vde_close(e->vde, &e->diag);
            e->vde = NULL;
        }
        dw_sim_disk_fail_operation(&e->disk, 0);
        power_cycle(e);
        env_open(e);
        state before = after(acknowledged);
        state with = after(acknowledged + (acknowledged < OPS ? 1 : 0));
        bool during_workload = result == DW_OK && acknowledged < OPS;
        if (holds(e->vde, &before, &e->diag)) {
            failed_op_gone += during_workload ? 1 : 0;
        } else if (holds(e->vde, &with, &e->diag)) {
            failed_op_kept += during_workload ? 1 : 0;
        } else {
            fail_msg("an I/O error at operation %llu of %llu: %d operations were acknowledged, and the VDE holds "
                     "neither them nor them and the failed one",
                     (unsigned long long)n, (unsigned long long)total, acknowledged);
        }
        env_close(e);
        const dw_verify_report *report = env_verify(e, NULL, NULL);
        if (report->problem_count != 0) {
            env_print_problems(report);
            fail_msg("an I/O error at operation %llu left damage", (unsigned long long)n);
        }
        cases++;
    }
    print_message("# I/O errors: each of the workload's %llu device operations failed in turn: %u during open, %u "
                  "during an operation (kept whole %u times, gone %u times), %u after the last; nothing acknowledged "
                  "lost\n",
                  (unsigned long long)total, open_failed, failed_op_kept + failed_op_gone, failed_op_kept,
                  failed_op_gone, cases - open_failed - failed_op_kept - failed_op_gone);
    free(snapshot);
    env_free(e);
}

/* After a fault in recovery (`what` n): a power cycle, and the next open must hold
 * `expected` and verify clean. */
static void next_open_holds(env *e, const state *expected, const char *what, uint64_t n)
{
    power_cycle(e);
    env_open(e);
    if (!holds(e->vde, expected, &e->diag)) {
        fail_msg("after %s %llu of recovery, the next open lost acknowledged operations", what,
                 (unsigned long long)n);
    }
    env_close(e);
    assert_int_equal(env_verify(e, NULL, NULL)->problem_count, 0);
}

static void an_io_error_at_each_operation_of_recovery_leaves_it_recoverable(void **unused)
{
    (void)unused;
    env *e = after_workload(true, 8u << 20, true);
    unsigned char *snapshot = snapshot_of(e);
    uint64_t first = e->disk.state.operations;
    env_open(e);
    uint64_t total = e->disk.state.operations - first;
    static dw_vde_info info;
    dw_vde_info_read(e->vde, &info);
    assert_true(info.recovered_records > 0);
    env_close(e);
    state expected = after(OPS);
    uint32_t cases = 0;
    uint32_t opened = 0;
    for (uint64_t n = 1; n <= total; n++) {
        dw_sim_disk_restore(&e->disk, snapshot);
        dw_sim_disk_fail_operation(&e->disk, n);
        int result = dw_vde_open_at(e->path, &e->config, &e->target, &e->vde, &e->diag);
        dw_sim_disk_fail_operation(&e->disk, 0);
        if (result == DW_OK) {
            /* A read it could do without (one superblock copy): it recovered all the same. */
            if (!holds(e->vde, &expected, &e->diag)) {
                fail_msg("open succeeded after an I/O error at operation %llu of recovery, but lost objects",
                         (unsigned long long)n);
            }
            env_close(e);
            opened++;
        } else {
            assert_int_equal(result, DW_EIO);
            e->vde = NULL;
        }
        next_open_holds(e, &expected, "an I/O error at operation", n);
        cases++;
    }
    print_message("# I/O errors during recovery: each of its %u device operations failed in turn (%u opens went on "
                  "without the failed read); every next open recovered all %d acknowledged operations\n",
                  cases, opened, OPS);
    free(snapshot);
    env_free(e);
}

/* A read of recovery returning one flipped bit (a fault of the path, not of the medium)
 * must not cost an acknowledged operation: recovery checks every log block, and a log
 * block that fails its check is read again before it is taken for a torn tail. The open
 * either recovers everything or fails cleanly, and the next open recovers everything. */
static void a_bit_flipped_in_each_read_of_recovery_loses_nothing(void **unused)
{
    (void)unused;
    env *e = after_workload(true, 8u << 20, true);
    unsigned char *snapshot = snapshot_of(e);
    uint64_t first = e->disk.state.operations;
    uint64_t reads_before = e->disk.state.counters.reads;
    env_open(e);
    uint64_t total = e->disk.state.operations - first;
    uint64_t reads = e->disk.state.counters.reads - reads_before;
    env_close(e);
    state expected = after(OPS);
    uint32_t opened = 0;
    uint32_t refused = 0;
    uint32_t reread = 0;
    for (uint64_t n = 1; n <= total; n++) {
        dw_sim_disk_restore(&e->disk, snapshot);
        uint64_t flips = e->disk.state.counters.bit_flips;
        dw_sim_disk_flip_read(&e->disk, n);
        int result = dw_vde_open_at(e->path, &e->config, &e->target, &e->vde, &e->diag);
        dw_sim_disk_flip_read(&e->disk, 0);
        if (e->disk.state.counters.bit_flips == flips) {
            /* Operation n was not a read (or the open ended before it). */
            if (result == DW_OK) {
                env_close(e);
            }
            e->vde = NULL;
            continue;
        }
        if (result == DW_OK) {
            if (!holds(e->vde, &expected, &e->diag)) {
                fail_msg("a bit flipped in read %llu of recovery: the open succeeded but lost acknowledged "
                         "operations",
                         (unsigned long long)n);
            }
            static dw_vde_info info;
            dw_vde_info_read(e->vde, &info);
            reread += info.log_rereads > 0 ? 1 : 0;
            env_close(e);
            opened++;
        } else {
            /* Outside the log a flipped block is damage as far as one read can tell (the size
             * sentinel: a file not whole). */
            if (result != DW_ECORRUPT && result != DW_EIO && result != DW_ETRUNCATED) {
                fail_msg("a bit flipped in read %llu of recovery: the open failed with %s (%s)",
                         (unsigned long long)n, dw_strerror(result), e->diag.message);
            }
            e->vde = NULL;
            refused++;
        }
        next_open_holds(e, &expected, "a bit flipped in read", n);
    }
    print_message("# bits flipped in reads during recovery: each of its %llu reads in turn; %u opens recovered "
                  "all %d acknowledged operations (%u by reading a log block again), %u refused cleanly (the "
                  "next open recovered all)\n",
                  (unsigned long long)reads, opened, OPS, reread, refused);
    assert_int_equal(opened + refused, reads);
    assert_true(reread > 0);
    free(snapshot);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_open_fails_cleanly_at_each_allocation),
        cmocka_unit_test(an_open_fails_cleanly_at_each_reservation),
        cmocka_unit_test(an_io_error_at_each_operation_of_a_workload_loses_nothing_acknowledged),
        cmocka_unit_test(an_io_error_at_each_operation_of_recovery_leaves_it_recoverable),
        cmocka_unit_test(a_bit_flipped_in_each_read_of_recovery_loses_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
