/*
 * test_model.c — the object store against a model: long random sequences of puts,
 * replacements, streamed puts, deletes, transactions (committed and aborted), reads
 * whole and at offsets, stat, exists, prefix iteration, sync, close and reopen (and, on
 * the simulated disk, power cuts with unsynced writes lost, torn and reordered), each
 * result compared with an in-memory model of what the VDE must hold.
 *
 * The model keeps no values: a value is its length and the seed that generates its
 * bytes, so a run of any length needs a few hundred kilobytes. Keys are binary (any byte,
 * 1 to 1,024 long, sharing prefixes at several depths) so that ordering and prefix
 * iteration are tested on more than ASCII.
 *
 * `make test` runs 100,000 operations on the simulated disk and 100,000 on a file
 * (25,000 under the sanitizers); `make test-long` runs more seeds and longer runs.
 * DW_TEST_SEED reproduces a run (the file's run uses the seed plus one); a failure names
 * the seed and the operation.
 */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vde_env.h"

#define KEY_SPACE 1500
#define KEY_LENGTH_MAX 1024        /* the longest key; the default limit is 255 */
#define VALUE_MAX (300u * 1024)
#define TXN_OPS_MAX 8

typedef struct model_object {
    bool present;
    uint32_t length;
    uint64_t seed;                  /* the value's bytes are fill(seed) */
    uint32_t generation;
} model_object;

typedef struct model {
    unsigned char keys[KEY_SPACE][KEY_LENGTH_MAX];
    uint16_t key_lengths[KEY_SPACE];
    uint32_t order[KEY_SPACE];      /* key indexes in the VDE's order (bytewise, shorter first) */
    model_object objects[KEY_SPACE];
    uint32_t present;
} model;

/* One run: the environment, the model, where we are (for failure messages). */
typedef struct run {
    env *e;
    model *m;
    uint64_t random;
    uint64_t seed;
    uint64_t op;
    const char *what;
    unsigned char *expected;        /* VALUE_MAX bytes each */
    unsigned char *actual;
    uint64_t counts[16];
} run;

enum { OP_PUT, OP_STREAM, OP_DELETE, OP_GET, OP_READ, OP_STAT, OP_TXN, OP_ITERATE, OP_SYNC,
       OP_REOPEN, OP_CRASH, OP_KINDS };
static const char *const op_names[OP_KINDS] = {"put", "streamed put", "delete", "get", "read at offset",
                                               "stat/exists", "transaction", "iterate", "sync", "reopen",
                                               "power cut"};

#define CHECK(r, condition, ...)                                                                   \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            print_message("# seed 0x%" PRIx64 ", operation %" PRIu64 " (%s): ", (r)->seed, (r)->op, \
                          (r)->what);                                                              \
            print_message(__VA_ARGS__);                                                            \
            print_message("\n# engine said: %s\n", (r)->e->diag.message);                          \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

#define RUN_OK(r, call) CHECK(r, (call) == DW_OK, "%s failed", #call)

static uint64_t below(run *r, uint64_t bound)
{
    return dw_test_random(&r->random) % bound;
}

static int key_compare(const model *m, uint32_t a, uint32_t b)
{
    size_t common = m->key_lengths[a] < m->key_lengths[b] ? m->key_lengths[a] : m->key_lengths[b];
    int c = memcmp(m->keys[a], m->keys[b], common);
    if (c != 0) {
        return c;
    }
    return (int)m->key_lengths[a] - (int)m->key_lengths[b];
}

static const model *sort_model;
static int order_compare(const void *a, const void *b)
{
    return key_compare(sort_model, *(const uint32_t *)a, *(const uint32_t *)b);
}

/* Keys: one of five stems that prefix each other ("a", "ab", "abc", "b", "\xff"), a
 * group byte, then random bytes (zero included), then the index, so every key is unique
 * and prefixes are shared at several depths. A few are the longest allowed. */
static void model_init(model *m, uint64_t *random)
{
    static const char *const stems[] = {"a", "ab", "abc", "b", "\xff"};
    memset(m, 0, sizeof *m);
    for (uint32_t i = 0; i < KEY_SPACE; i++) {
        unsigned char *k = m->keys[i];
        size_t length = strlen(stems[i % 5]);
        memcpy(k, stems[i % 5], length);
        k[length++] = (unsigned char)('0' + dw_test_random(random) % 4);
        size_t extra = i % 97 == 0 ? KEY_LENGTH_MAX - length - 2 : (size_t)(dw_test_random(random) % 24);
        for (size_t j = 0; j < extra; j++) {
            k[length++] = (unsigned char)dw_test_random(random);
        }
        k[length++] = (unsigned char)(i >> 8);
        k[length++] = (unsigned char)i;
        m->key_lengths[i] = (uint16_t)length;
        m->order[i] = i;
    }
    sort_model = m;
    qsort(m->order, KEY_SPACE, sizeof m->order[0], order_compare);
}

/* Mostly small values held in the inode, some of a few blocks, a few of many. */
static uint32_t value_length(run *r)
{
    uint64_t dice = below(r, 100);
    if (dice < 40) {
        return (uint32_t)below(r, 200);
    }
    if (dice < 75) {
        return 200 + (uint32_t)below(r, 5000);
    }
    if (dice < 96) {
        return 5200 + (uint32_t)below(r, 70000);
    }
    return 75200 + (uint32_t)below(r, VALUE_MAX - 75200);
}

static void apply_put(model *m, uint32_t k, uint32_t length, uint64_t seed)
{
    model_object *o = &m->objects[k];
    if (!o->present) {
        o->present = true;
        o->generation = 0;
        m->present++;
    }
    o->generation++;
    o->length = length;
    o->seed = seed;
}

static void apply_delete(model *m, uint32_t k)
{
    m->objects[k].present = false;
    m->present--;
}

static void check_object(run *r, uint32_t k)
{
    const model *m = r->m;
    const model_object *o = &m->objects[k];
    size_t length = 0;
    int result = dw_get(r->e->vde, m->keys[k], m->key_lengths[k], r->actual, VALUE_MAX, &length, NULL, &r->e->diag);
    if (!o->present) {
        CHECK(r, result == DW_ENOENT, "key %u is deleted but dw_get returned %s", k, dw_error_name(result));
        return;
    }
    CHECK(r, result == DW_OK, "key %u: dw_get returned %s", k, dw_error_name(result));
    CHECK(r, length == o->length, "key %u: %zu bytes, the model has %u", k, length, o->length);
    fill(r->expected, o->length, o->seed);
    CHECK(r, memcmp(r->actual, r->expected, length) == 0, "key %u: the value's bytes differ", k);
}

static void check_everything(run *r)
{
    const char *was = r->what;
    r->what = "full check";
    for (uint32_t k = 0; k < KEY_SPACE; k++) {
        check_object(r, k);
    }
    r->what = was;
}

static void do_put(run *r)
{
    uint32_t k = (uint32_t)below(r, KEY_SPACE);
    uint32_t length = value_length(r);
    uint64_t seed = dw_test_random(&r->random);
    fill(r->expected, length, seed);
    dw_op op = {.priority = (dw_op_priority)below(r, 4)};
    RUN_OK(r, dw_put(r->e->vde, r->m->keys[k], r->m->key_lengths[k], r->expected, length, &op, &r->e->diag));
    apply_put(r->m, k, length, seed);
}

/* A value written in pieces of random sizes; one in ten writers is aborted instead. */
static void do_stream(run *r)
{
    uint32_t k = (uint32_t)below(r, KEY_SPACE);
    uint32_t length = value_length(r);
    uint64_t seed = dw_test_random(&r->random);
    fill(r->expected, length, seed);
    dw_writer *writer = NULL;
    RUN_OK(r, dw_writer_open(r->e->vde, r->m->keys[k], r->m->key_lengths[k], NULL, &writer, &r->e->diag));
    bool abort_it = below(r, 10) == 0;
    uint32_t written = 0;
    while (written < length) {
        uint32_t piece = 1 + (uint32_t)below(r, below(r, 2) == 0 ? 64 : 40000);
        if (piece > length - written) {
            piece = length - written;
        }
        RUN_OK(r, dw_writer_write(writer, r->expected + written, piece, &r->e->diag));
        written += piece;
        if (abort_it && written > length / 2) {
            break;
        }
    }
    if (abort_it) {
        dw_writer_abort(writer);
        return;
    }
    RUN_OK(r, dw_writer_commit(writer, &r->e->diag));
    apply_put(r->m, k, length, seed);
}

/* Mostly keys that exist; a delete of a missing key must say DW_ENOENT. */
static uint32_t pick_key(run *r, bool mostly_present)
{
    uint32_t k = (uint32_t)below(r, KEY_SPACE);
    for (int tries = 0; mostly_present && r->m->present > 0 && !r->m->objects[k].present && tries < 8; tries++) {
        k = (uint32_t)below(r, KEY_SPACE);
    }
    return k;
}

static void do_delete(run *r)
{
    uint32_t k = pick_key(r, below(r, 5) != 0);
    int result = dw_delete(r->e->vde, r->m->keys[k], r->m->key_lengths[k], NULL, &r->e->diag);
    if (r->m->objects[k].present) {
        CHECK(r, result == DW_OK, "key %u: dw_delete returned %s", k, dw_error_name(result));
        apply_delete(r->m, k);
    } else {
        CHECK(r, result == DW_ENOENT, "key %u is absent but dw_delete returned %s", k, dw_error_name(result));
    }
}

static void do_get(run *r)
{
    uint32_t k = pick_key(r, true);
    const model_object *o = &r->m->objects[k];
    if (o->present && o->length > 0 && below(r, 10) == 0) {
        /* A buffer one byte short: DW_ENOSPC, and the size needed. */
        size_t length = 0;
        int result = dw_get(r->e->vde, r->m->keys[k], r->m->key_lengths[k], r->actual, o->length - 1, &length,
                            NULL, &r->e->diag);
        CHECK(r, result == DW_ENOSPC && length == o->length, "key %u: a short buffer gave %s and %zu", k,
              dw_error_name(result), length);
        return;
    }
    check_object(r, k);
}

static void do_read(run *r)
{
    uint32_t k = pick_key(r, true);
    const model_object *o = &r->m->objects[k];
    uint64_t offset = below(r, (uint64_t)o->length + 100);
    size_t length = 1 + (size_t)below(r, 20000);
    size_t got = 0;
    int result = dw_read(r->e->vde, r->m->keys[k], r->m->key_lengths[k], offset, r->actual, length, &got, NULL,
                         &r->e->diag);
    if (!o->present) {
        CHECK(r, result == DW_ENOENT, "key %u is absent but dw_read returned %s", k, dw_error_name(result));
        return;
    }
    CHECK(r, result == DW_OK, "key %u: dw_read at %" PRIu64 " returned %s", k, offset, dw_error_name(result));
    size_t want = offset >= o->length ? 0 : (size_t)(o->length - offset) < length ? (size_t)(o->length - offset)
                                                                                     : length;
    CHECK(r, got == want, "key %u: dw_read of %zu at %" PRIu64 " gave %zu bytes, not %zu", k, length, offset, got,
          want);
    fill(r->expected, o->length, o->seed);
    CHECK(r, memcmp(r->actual, r->expected + offset, got) == 0, "key %u: bytes at %" PRIu64 " differ", k, offset);
}

static void do_stat(run *r)
{
    uint32_t k = pick_key(r, below(r, 3) != 0);
    const model_object *o = &r->m->objects[k];
    bool exists = !o->present;
    RUN_OK(r, dw_exists(r->e->vde, r->m->keys[k], r->m->key_lengths[k], &exists, NULL, &r->e->diag));
    CHECK(r, exists == o->present, "key %u: dw_exists says %d", k, exists);
    dw_object_stat stat;
    int result = dw_stat(r->e->vde, r->m->keys[k], r->m->key_lengths[k], &stat, NULL, &r->e->diag);
    if (!o->present) {
        CHECK(r, result == DW_ENOENT, "key %u is absent but dw_stat returned %s", k, dw_error_name(result));
        return;
    }
    CHECK(r, result == DW_OK, "key %u: dw_stat returned %s", k, dw_error_name(result));
    CHECK(r, stat.size == o->length && stat.generation == o->generation,
          "key %u: stat says %" PRIu64 " bytes, generation %u; the model %u bytes, generation %u", k, stat.size,
          stat.generation, o->length, o->generation);
}

/* Up to TXN_OPS_MAX puts and deletes (a key may come twice); four in five commit. What
 * it does is applied to a copy of the model, which replaces the model on commit. */
static void do_txn(run *r)
{
    static model_object staged[KEY_SPACE];
    static uint32_t staged_present;
    memcpy(staged, r->m->objects, sizeof staged);
    staged_present = r->m->present;
    dw_txn *txn = NULL;
    RUN_OK(r, dw_txn_begin(r->e->vde, &txn, &r->e->diag));
    uint32_t count = 1 + (uint32_t)below(r, TXN_OPS_MAX);
    for (uint32_t i = 0; i < count; i++) {
        uint32_t k = pick_key(r, below(r, 2) == 0);
        if (below(r, 3) == 0) {
            int result = dw_txn_delete(txn, r->m->keys[k], r->m->key_lengths[k], &r->e->diag);
            if (staged[k].present) {
                CHECK(r, result == DW_OK, "key %u: dw_txn_delete returned %s", k, dw_error_name(result));
                staged[k].present = false;
                staged_present--;
            } else {
                CHECK(r, result == DW_ENOENT, "key %u is absent but dw_txn_delete returned %s", k,
                      dw_error_name(result));
            }
        } else {
            uint32_t length = value_length(r) / 4;
            uint64_t seed = dw_test_random(&r->random);
            fill(r->expected, length, seed);
            RUN_OK(r, dw_txn_put(txn, r->m->keys[k], r->m->key_lengths[k], r->expected, length, &r->e->diag));
            if (!staged[k].present) {
                staged[k].present = true;
                staged[k].generation = 0;
                staged_present++;
            }
            staged[k].generation++;
            staged[k].length = length;
            staged[k].seed = seed;
        }
    }
    if (below(r, 5) == 0) {
        dw_txn_abort(txn);
        return;
    }
    RUN_OK(r, dw_txn_commit(txn, NULL, &r->e->diag));
    memcpy(r->m->objects, staged, sizeof staged);
    r->m->present = staged_present;
}

/* A prefix of a random key (possibly empty, possibly the whole key): the iterator must
 * return exactly the present keys with that prefix, in order, with their sizes. */
static void do_iterate(run *r)
{
    const model *m = r->m;
    uint32_t from = (uint32_t)below(r, KEY_SPACE);
    size_t prefix_length = (size_t)below(r, (uint64_t)(below(r, 3) == 0 ? m->key_lengths[from] : 4) + 1);
    dw_iter *iter = NULL;
    RUN_OK(r, dw_iter_open(r->e->vde, m->keys[from], prefix_length, &iter, &r->e->diag));
    unsigned char key[KEY_LENGTH_MAX];
    uint32_t seen = 0;
    for (uint32_t i = 0; i < KEY_SPACE; i++) {
        uint32_t k = m->order[i];
        if (!m->objects[k].present || m->key_lengths[k] < prefix_length ||
            memcmp(m->keys[k], m->keys[from], prefix_length) != 0) {
            continue;
        }
        size_t length = 0;
        dw_object_stat stat;
        int result = dw_iter_next(iter, key, sizeof key, &length, &stat, &r->e->diag);
        CHECK(r, result == DW_OK, "prefix of %zu bytes: entry %u should be key %u, got %s", prefix_length, seen, k,
              dw_error_name(result));
        CHECK(r, length == m->key_lengths[k] && memcmp(key, m->keys[k], length) == 0,
              "prefix of %zu bytes: entry %u is not key %u", prefix_length, seen, k);
        CHECK(r, stat.size == m->objects[k].length, "key %u: iterator says %" PRIu64 " bytes, the model %u", k,
              stat.size, m->objects[k].length);
        seen++;
    }
    size_t length = 0;
    int result = dw_iter_next(iter, key, sizeof key, &length, NULL, &r->e->diag);
    CHECK(r, result == DW_ENOENT, "prefix of %zu bytes: a key after the %u expected (%s)", prefix_length, seen,
          dw_error_name(result));
    dw_iter_close(iter);
}

static void reopen(run *r)
{
    env_close(r->e);
    env_open(r->e);
    check_everything(r);
}

/* The power goes between two operations: unsynced writes are lost, torn or reordered.
 * Under strict durability every acknowledged commit must be there after recovery. */
static void power_cut(run *r)
{
    env *e = r->e;
    dw_sim_disk_cut_power(&e->disk);
    (void)dw_vde_close(e->vde, &e->diag);
    e->vde = NULL;
    dw_sim_disk_power_on(&e->disk);
    env_open(e);
    check_everything(r);
}

/* The mix of operations, per thousand. */
static int choose(run *r)
{
    static const struct {
        int kind;
        uint32_t per_mille;
    } mix[] = {
        {OP_PUT, 250}, {OP_STREAM, 40}, {OP_DELETE, 110}, {OP_GET, 220}, {OP_READ, 60}, {OP_STAT, 80},
        {OP_TXN, 80}, {OP_ITERATE, 40}, {OP_SYNC, 17}, {OP_REOPEN, 2}, {OP_CRASH, 1},
    };
    uint32_t dice = (uint32_t)below(r, 1000);
    for (size_t i = 0; i < DW_ARRAY_COUNT(mix); i++) {
        if (dice < mix[i].per_mille) {
            return mix[i].kind;
        }
        dice -= mix[i].per_mille;
    }
    return OP_GET;
}

static void run_model(bool sim, uint64_t seed, uint64_t operations)
{
    run r;
    memset(&r, 0, sizeof r);
    r.seed = seed;
    r.random = r.seed * 0x9E3779B97F4A7C15ull + 1;
    r.m = malloc(sizeof *r.m);
    r.expected = malloc(VALUE_MAX);
    r.actual = malloc(VALUE_MAX);
    assert_true(r.m != NULL && r.expected != NULL && r.actual != NULL);
    model_init(r.m, &r.random);
    r.e = env_new(sim, 96u << 20);
    r.e->config.key_length_max = KEY_LENGTH_MAX;
    /* On a file, group durability keeps the run short; the power cuts are on the sim
     * disk, under strict durability, where every acknowledged commit must survive. */
    if (!sim) {
        r.e->config.durability = DW_DURABILITY_GROUP;
    } else {
        r.e->disk.state.faults.drop_unsynced_ppm = 300000;
        r.e->disk.state.faults.torn_unsynced_ppm = 300000;
        r.e->disk.state.faults.reorder_unsynced = true;
    }
    env_open(r.e);
    for (r.op = 0; r.op < operations; r.op++) {
        int kind = choose(&r);
        if (kind == OP_CRASH && !sim) {
            kind = OP_REOPEN;
        }
        r.what = op_names[kind];
        r.counts[kind]++;
        switch (kind) {
        case OP_PUT: do_put(&r); break;
        case OP_STREAM: do_stream(&r); break;
        case OP_DELETE: do_delete(&r); break;
        case OP_GET: do_get(&r); break;
        case OP_READ: do_read(&r); break;
        case OP_STAT: do_stat(&r); break;
        case OP_TXN: do_txn(&r); break;
        case OP_ITERATE: do_iterate(&r); break;
        case OP_SYNC: RUN_OK(&r, dw_sync(r.e->vde, NULL, &r.e->diag)); break;
        case OP_REOPEN: reopen(&r); break;
        case OP_CRASH: power_cut(&r); break;
        default: fail();
        }
    }
    r.what = "final reopen";
    reopen(&r);
    env_close(r.e);
    const dw_verify_report *report = env_verify(r.e, NULL, NULL);
    env_print_problems(report);
    assert_int_equal(report->problem_count, 0);
    assert_int_equal(report->objects, r.m->present);
    print_message("# %s, seed 0x%" PRIx64 ": %" PRIu64 " operations, %u objects at the end, verify clean (%" PRIu64
                  " blocks)\n#  ",
                  sim ? "sim disk" : "file", r.seed, operations, r.m->present, report->blocks_checked);
    for (int kind = 0; kind < OP_KINDS; kind++) {
        if (r.counts[kind] > 0) {
            print_message(" %s %" PRIu64, op_names[kind], r.counts[kind]);
        }
    }
    print_message("\n");
    env_free(r.e);
    free(r.actual);
    free(r.expected);
    free(r.m);
}

/* 100,000 operations from the test's seed; under `make test-long` also ten more seeds
 * for each multiple of 100 in DW_TEST_SCALE. */
static void random_operations_on_the_sim_disk_match_the_model(void **state)
{
    (void)state;
    uint64_t seed = dw_test_seed();
    uint64_t seeds = 1 + dw_test_scale() / 10;
    for (uint64_t i = 0; i < seeds; i++) {
        run_model(true, seed + i * 2, 100000);
    }
}

/* 100,000 operations on a file (25,000 under the sanitizers, whose run time is mostly
 * the file's system calls); under `make test-long` DW_TEST_SCALE / 50 times more. */
static void random_operations_on_a_file_match_the_model(void **state)
{
    (void)state;
    uint64_t operations = DW_TEST_SANITIZED ? 25000 : 100000;
    run_model(false, dw_test_seed() + 1, operations * (1 + dw_test_scale() / 50));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_operations_on_the_sim_disk_match_the_model),
        cmocka_unit_test(random_operations_on_a_file_match_the_model),
    };
    return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
