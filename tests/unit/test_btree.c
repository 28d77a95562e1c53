/*
 * test_btree.c — the key index (src/vde/btree.c) alone: dw_index_insert,
 * dw_index_insert_compact, dw_index_remove, dw_index_find and dw_index_seek called
 * directly inside transactions on a VDE on the simulated disk, every result checked
 * against a model of the keys and what each maps to (tests/common/index_fixture.h).
 *
 * Keys are binary, 1 byte to limits.key_length_max (a quarter block), sharing prefixes at
 * several depths and prefixes of one another; compact values are 0 bytes to the largest
 * dw_index_compact_fits allows. The trees grow by splits to several levels, are churned
 * by replacements (inode entry <-> compact object), removals and aborted transactions,
 * and are removed down to nothing; after every transaction the whole tree is walked with
 * dw_index_seek. At the end the VDE is closed, reopened, compared again and verified.
 * Run on 4 KiB blocks and on 512-byte ones (deeper trees). DW_TEST_SEED reproduces a run;
 * a failure names the seed and the transaction.
 */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index_fixture.h"
#include "vde_env.h"

/* The model's room: more keys than any phase below grows to. */
#define ENTRIES_MAX 4096u
/* Operations one transaction makes, at most: few enough that the undo area (a quarter
 * of the cache) nearly always holds their pages. When it does not, the insert or remove
 * fails with DW_ENOSPC, perhaps halfway through a split, and the transaction is aborted
 * (counted: the test shows that this happened rarely, and left the tree whole). */
#define TXN_OPERATIONS_MAX 8u

typedef struct run {
    env *e;
    index_fixture f;
    uint64_t random;
    uint64_t seed;
    uint32_t transaction;       /* for messages */
    uint32_t operations_max;    /* a transaction's */
    bool undo_full;             /* the open transaction outgrew the undo area */
    uint32_t undo_full_count;
    unsigned char key[INDEX_KEY_MAX];
    uint32_t key_length;
} run;

/* A fixture call's result must be DW_OK: otherwise the model's complaint or the engine's. */
#define CHECK(r, call)                                                                             \
    do {                                                                                           \
        int check_result_ = (call);                                                                \
        if (check_result_ != DW_OK) {                                                              \
            fail_msg("seed 0x%016" PRIx64 ", transaction %u: %s: %s", (r)->seed, (r)->transaction, #call, \
                     check_result_ == INDEX_MISMATCH ? (r)->f.problem : (r)->f.diag.message);      \
        }                                                                                          \
    } while (0)

static uint64_t next_random(run *r)
{
    return dw_test_random(&r->random);
}

static uint32_t below(run *r, uint64_t bound)
{
    return (uint32_t)(next_random(r) % bound);
}

/* ---- VDEs ------------------------------------------------------------------------------ */

static void blocks_4k(dw_config *config)
{
    config->block_size = 4096;
    config->key_length_max = 1024;
}

static void blocks_512(dw_config *config)
{
    config->block_size = 512;
    config->key_length_max = 128;
}

/* A cache of 64 pages, far fewer than the tree's nodes: they are evicted and read back
 * all the time (and the undo area holds 16). */
static void blocks_4k_small_cache(dw_config *config)
{
    blocks_4k(config);
    config->cache_pages = 64;
}

static void run_start(run *r, void (*tune)(dw_config *config), uint64_t disk_bytes)
{
    memset(r, 0, sizeof *r);
    r->seed = dw_test_seed();
    r->random = r->seed * 0x9E3779B97F4A7C15ull + 1;
    assert_true(index_fixture_init(&r->f, ENTRIES_MAX));
    r->operations_max = TXN_OPERATIONS_MAX;
    r->e = env_new_tuned(true, disk_bytes, tune);
    env_open(r->e);
    CHECK(r, index_fixture_attach(&r->f, r->e->vde));
}

static void reopen(run *r)
{
    env_close(r->e);
    env_open(r->e);
    CHECK(r, index_fixture_attach(&r->f, r->e->vde));
    CHECK(r, index_check_walk(&r->f));
    CHECK(r, index_check_every_find(&r->f));
}

/* Closes, reopens and compares; turns the inode entries (which name no inodes) into
 * compact objects; closes again and expects verify to find nothing wrong. */
static void run_finish(run *r)
{
    reopen(r);
    CHECK(r, index_fixture_make_verifiable(&r->f, TXN_OPERATIONS_MAX));
    reopen(r);
    env_close(r->e);
    const dw_verify_report *report = env_verify(r->e, NULL, NULL);
    env_print_problems(report);
    assert_int_equal(report->problem_count, 0);
    assert_int_equal(report->objects, r->f.count);
    index_fixture_free(&r->f);
    env_free(r->e);
}

/* ---- keys and objects ------------------------------------------------------------------ */

/* Bytes at the edges of the order, and a few between. */
static const unsigned char ALPHABET[] = {0x00, 0x01, 'k', 0x7f, 0x80, 0xfe, 0xff};

/* A new key into r->key: very short ones (which collide), ones at or near the limit, and
 * any length between; sharing one of four prefixes to some depth, or made from a key
 * the model has (a prefix of it, or it extended). */
static void make_key(run *r)
{
    uint32_t max = r->f.key_length_max;
    uint32_t length;
    switch (below(r, 8)) {
    case 0: length = 1 + below(r, 3); break;
    case 1: length = max - below(r, 4); break;
    default: length = 1 + below(r, max); break;
    }
    uint32_t kept = 0;
    if (r->f.count > 0 && below(r, 4) == 0) {
        const index_model_entry *base = &r->f.entries[below(r, r->f.count)];
        kept = base->key_length < length ? base->key_length : length;
        memcpy(r->key, base->key, kept);
    } else {
        uint32_t family = below(r, 4);
        kept = below(r, length + 1);
        for (uint32_t i = 0; i < kept; i++) {
            r->key[i] = ALPHABET[(family * 3 + i * i) % sizeof ALPHABET];
        }
    }
    for (uint32_t i = kept; i < length; i++) {
        r->key[i] = ALPHABET[below(r, sizeof ALPHABET)];
    }
    r->key_length = length;
}

/* A key the model has, into r->key; false when it has none. */
static bool pick_key(run *r)
{
    if (r->f.count == 0) {
        return false;
    }
    const index_model_entry *entry = &r->f.entries[below(r, r->f.count)];
    memcpy(r->key, entry->key, entry->key_length);
    r->key_length = entry->key_length;
    return true;
}

/* A compact object when wanted and the key allows one, else an inode entry. Compact
 * values are empty, one byte, the largest, one short of it, or anything between. */
static index_object make_object(run *r, uint32_t key_length, bool compact)
{
    int64_t max = index_fixture_compact_max(&r->f, key_length);
    index_object object;
    memset(&object, 0, sizeof object);
    if (!compact || max < 0) {
        object.inode = below(r, 2) == 0 ? 1 + below(r, 1000) : next_random(r) | 1;
        object.generation = (uint32_t)next_random(r);
        return object;
    }
    uint32_t largest = (uint32_t)max;
    object.compact = true;
    switch (below(r, 6)) {
    case 0: object.value_length = 0; break;
    case 1: object.value_length = largest; break;
    case 2: object.value_length = largest > 0 ? largest - 1 : 0; break;
    case 3: object.value_length = largest > 0 ? 1 : 0; break;
    default: object.value_length = below(r, (uint64_t)largest + 1); break;
    }
    object.generation = (uint32_t)next_random(r) | 1;
    object.ctime_ns = next_random(r);
    object.mtime_ns = next_random(r);
    object.value_seed = next_random(r);
    return object;
}

/* ---- operations ------------------------------------------------------------------------- */

typedef enum phase {
    PHASE_GROW = 0,             /* mostly inserts */
    PHASE_CHURN = 1,            /* inserts and removals in balance, replacements */
    PHASE_DRAIN = 2,            /* mostly removals, down to nothing */
} phase;

/* The result of a change: DW_OK, or DW_ENOSPC from a full undo area, which spoils the
 * transaction; anything else fails the test. */
static void changed(run *r, int result)
{
    const dw_cache *cache = &r->e->vde->cache;
    if (result == DW_ENOSPC && cache->undo_count == cache->undo_capacity) {
        r->undo_full = true;
        r->undo_full_count++;
        return;
    }
    CHECK(r, result);
}

static void insert_new(run *r)
{
    make_key(r);
    index_object object = make_object(r, r->key_length, below(r, 2) == 0);
    changed(r, index_fixture_insert(&r->f, r->key, r->key_length, &object));
}

/* A key the model has gets the other kind of entry when its length allows, or the same
 * kind anew. */
static void replace(run *r)
{
    if (!pick_key(r)) {
        insert_new(r);
        return;
    }
    const index_model_entry *entry = index_model_find(&r->f, r->key, r->key_length);
    bool compact = below(r, 4) == 0 ? entry->object.compact : !entry->object.compact;
    index_object object = make_object(r, r->key_length, compact);
    changed(r, index_fixture_insert(&r->f, r->key, r->key_length, &object));
}

static void remove_one(run *r, bool present)
{
    if (!present || !pick_key(r)) {
        make_key(r);
    }
    changed(r, index_fixture_remove(&r->f, r->key, r->key_length));
}

/* Finds and seeks change nothing: from keys present, absent and empty, both bounds, and
 * compact values copied from inside them. */
static void look(run *r)
{
    bool present = below(r, 2) == 0 && pick_key(r);
    if (!present) {
        make_key(r);
    }
    uint32_t kind = below(r, 5);
    if (kind == 0) {
        uint32_t offset = below(r, 64);
        CHECK(r, index_check_find_range(&r->f, r->key, r->key_length, offset, below(r, 1100)));
    } else if (kind == 1) {
        CHECK(r, index_check_seek(&r->f, r->key, 0, below(r, 2) == 0));
    } else if (kind == 2) {
        CHECK(r, index_check_find(&r->f, r->key, r->key_length));
    } else {
        CHECK(r, index_check_seek(&r->f, r->key, r->key_length, kind == 3));
    }
}

static void one_operation(run *r, phase p, uint32_t target)
{
    uint32_t roll = below(r, 100);
    uint32_t inserts = p == PHASE_GROW ? 60 : p == PHASE_DRAIN ? 5 : r->f.count < target ? 30 : 20;
    uint32_t replaces = p == PHASE_DRAIN ? 5 : 15;
    uint32_t removes = p == PHASE_GROW ? 10 : p == PHASE_DRAIN ? 75 : r->f.count < target ? 20 : 30;
    if (roll < inserts) {
        insert_new(r);
    } else if (roll < inserts + replaces) {
        replace(r);
    } else if (roll < inserts + replaces + removes) {
        remove_one(r, below(r, 10) != 0);
    } else {
        look(r);
    }
}

/* One transaction of a few operations, committed (or one in twelve aborted, which must
 * leave the tree as it was), then the whole tree walked. */
static void transaction(run *r, phase p, uint32_t target)
{
    r->transaction++;
    r->undo_full = false;
    CHECK(r, index_fixture_begin(&r->f));
    uint32_t operations = 1 + below(r, r->operations_max);
    for (uint32_t i = 0; i < operations && !r->undo_full; i++) {
        one_operation(r, p, target);
    }
    if (below(r, 12) == 0 || r->undo_full) {
        index_fixture_abort(&r->f);
    } else {
        CHECK(r, index_fixture_commit(&r->f));
    }
    CHECK(r, index_check_walk(&r->f));
}

/* The extremes, once: the shortest and longest keys, the largest compact value, the
 * longest key that may still be compact (with an empty value), and a key that is a
 * prefix of another. */
static void edges(run *r)
{
    uint32_t max = r->f.key_length_max;
    uint32_t longest_compact = 0;
    while (longest_compact < max && index_fixture_compact_max(&r->f, longest_compact + 1) >= 0) {
        longest_compact++;
    }
    assert_true(longest_compact > 0);
    struct {
        uint32_t length;
        bool compact;
        int64_t value_length;
    } cases[] = {{1, true, index_fixture_compact_max(&r->f, 1)}, {max, false, 0}, {longest_compact, true, 0},
                 {2, false, 0}, {max - 1, false, 0}};
    r->transaction++;
    CHECK(r, index_fixture_begin(&r->f));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(r->key, 'e', cases[i].length);
        index_object object = {.compact = cases[i].compact, .inode = i + 1, .generation = (uint32_t)i + 1,
                               .value_length = (uint32_t)cases[i].value_length, .value_seed = i};
        CHECK(r, index_fixture_insert(&r->f, r->key, cases[i].length, &object));
    }
    CHECK(r, index_fixture_commit(&r->f));
    CHECK(r, index_check_walk(&r->f));
}

static void grow(run *r, uint32_t target)
{
    for (uint32_t limit = 0; r->f.count < target && limit < 100 * target; limit++) {
        transaction(r, PHASE_GROW, target);
    }
    assert_true(r->f.count >= target);
}

static void drain(run *r)
{
    for (uint32_t limit = 0; r->f.count > 0 && limit < 100000; limit++) {
        transaction(r, PHASE_DRAIN, 0);
    }
    assert_int_equal(r->f.count, 0);
    assert_int_equal(r->e->vde->state.index_root, 0);
    assert_int_equal(r->e->vde->state.index_height, 0);
}

/* ---- tests -------------------------------------------------------------------------------- */

/* What dw_index_compact_fits allows is what FORMAT.md §8 says: an entry (u16 key length,
 * key, 22 fixed bytes, value) and its 2-byte slot take at most a quarter of a leaf's room
 * after the header, (B - 16 - 32) / 4. */
static void compact_objects_fit_as_the_format_says(void **state)
{
    (void)state;
    void (*tunes[])(dw_config *) = {blocks_4k, blocks_512};
    uint32_t block_sizes[] = {4096, 512};
    for (size_t t = 0; t < 2; t++) {
        run r;
        run_start(&r, tunes[t], 16u << 20);
        int64_t quarter = ((int64_t)block_sizes[t] - 16 - 32) / 4;
        for (uint32_t length = 1; length <= r.f.key_length_max; length++) {
            int64_t expected = quarter - 2 - 2 - 22 - (int64_t)length;
            int64_t found = index_fixture_compact_max(&r.f, length);
            if (found != (expected < 0 ? -1 : expected)) {
                fail_msg("%u-byte blocks, %u-byte key: the largest compact value is %" PRId64 ", expected %" PRId64,
                         block_sizes[t], length, found, expected);
            }
        }
        assert_false(dw_index_compact_fits(r.e->vde, 1, UINT16_MAX + 1ull));
        index_fixture_free(&r.f);
        env_free(r.e);
    }
}

/* An empty index finds nothing, seeks nothing, removes nothing; one key makes a root
 * leaf, and removing it leaves no root at all. */
static void an_empty_index_holds_nothing(void **state)
{
    (void)state;
    run r;
    run_start(&r, blocks_4k, 16u << 20);
    const struct dw_vde *vde = r.e->vde;
    assert_int_equal(vde->state.index_root, 0);
    CHECK(&r, index_check_seek(&r.f, (const unsigned char *)"", 0, true));
    CHECK(&r, index_check_find(&r.f, (const unsigned char *)"a", 1));
    CHECK(&r, index_fixture_begin(&r.f));
    CHECK(&r, index_fixture_remove(&r.f, (const unsigned char *)"a", 1));
    index_object object = {.compact = true, .generation = 7, .value_length = 3, .value_seed = 1};
    CHECK(&r, index_fixture_insert(&r.f, (const unsigned char *)"a", 1, &object));
    assert_int_equal(vde->state.index_height, 1);
    CHECK(&r, index_check_seek(&r.f, (const unsigned char *)"", 0, false));
    CHECK(&r, index_check_seek(&r.f, (const unsigned char *)"a", 1, false));
    CHECK(&r, index_check_seek(&r.f, (const unsigned char *)"\0", 1, true));
    CHECK(&r, index_fixture_remove(&r.f, (const unsigned char *)"a", 1));
    assert_int_equal(vde->state.index_root, 0);
    CHECK(&r, index_fixture_remove(&r.f, (const unsigned char *)"a", 1));
    CHECK(&r, index_fixture_commit(&r.f));
    CHECK(&r, index_check_walk(&r.f));
    run_finish(&r);
}

/* Grow, churn, close and reopen, drain to nothing, grow again, finish. */
static void agree_with_the_model(void (*tune)(dw_config *), uint32_t operations_max, uint32_t target,
                                 uint32_t height_min, bool evicting)
{
    run r;
    run_start(&r, tune, 64u << 20);
    r.operations_max = operations_max;
    edges(&r);
    grow(&r, target);
    uint32_t churn = 1500 * (uint32_t)dw_test_scale();
    if (DW_TEST_SANITIZED) {
        churn /= 3;
    }
    for (uint32_t i = 0; i < churn; i++) {
        transaction(&r, PHASE_CHURN, target);
    }
    reopen(&r);
    drain(&r);
    reopen(&r);
    grow(&r, target / 2);
    static dw_vde_info info;
    dw_vde_info_read(r.e->vde, &info);
    const index_coverage *c = &r.f.coverage;
    print_message("# %u cache pages: %" PRIu64 " hits, %" PRIu64 " misses since the last open\n", info.cache_pages,
                  info.cache_hits, info.cache_misses);
    print_message("# %u-byte keys at most: %" PRIu64 " inserts, %" PRIu64 " replaces (%" PRIu64 " changing kind), %"
                  PRIu64 " removes, %" PRIu64 " of absent keys, %" PRIu64 " commits, %" PRIu64 " aborts; height up to "
                  "%u, %" PRIu64 " root splits, %" PRIu64 " root collapses, emptied %" PRIu64 " times; the undo "
                  "area full %u times\n",
                  r.f.key_length_max, c->inserts, c->replaces, c->kind_changes, c->removes, c->absent_removes,
                  c->commits, c->aborts, c->height_max, c->root_splits, c->root_collapses, c->emptied,
                  r.undo_full_count);
    /* The run reached what it is for. */
    assert_true(c->height_max >= height_min);
    assert_true(c->root_splits >= height_min);
    assert_true(c->root_collapses >= 1);
    assert_true(c->emptied >= 1);
    assert_true(c->kind_changes >= 100);
    assert_true(c->absent_removes >= 10);
    assert_int_equal(c->key_length_longest, r.f.key_length_max);
    assert_int_equal(c->value_length_longest, index_fixture_compact_max(&r.f, 1));
    assert_true(r.undo_full_count * 20 < c->commits);
    assert_true(!evicting || info.cache_misses > 1000);
    run_finish(&r);
}

static void the_index_agrees_with_a_model_on_4k_blocks(void **state)
{
    (void)state;
    agree_with_the_model(blocks_4k, TXN_OPERATIONS_MAX, 700, 3, false);
}

static void the_index_agrees_with_a_model_through_a_small_cache(void **state)
{
    (void)state;
    agree_with_the_model(blocks_4k_small_cache, 2, 700, 3, true);
}

static void the_index_agrees_with_a_model_on_512_byte_blocks(void **state)
{
    (void)state;
    agree_with_the_model(blocks_512, TXN_OPERATIONS_MAX, 500, 4, false);
}

/* A transaction that changes more index pages than the undo area holds fails with
 * DW_ENOSPC somewhere inside an insert, perhaps halfway through a split; its abort
 * leaves the tree exactly as it was, and the next transactions work. */
static void a_transaction_too_large_aborts_whole(void **state)
{
    (void)state;
    run r;
    run_start(&r, blocks_4k, 64u << 20);
    grow(&r, 300);
    CHECK(&r, index_fixture_begin(&r.f));
    int result = DW_OK;
    uint32_t inserted = 0;
    for (; result == DW_OK && inserted < 10000; inserted++) {
        make_key(&r);
        index_object object = make_object(&r, r.key_length, false);
        result = index_fixture_insert(&r.f, r.key, r.key_length, &object);
    }
    if (result != DW_ENOSPC) {
        fail_msg("after %u inserts in one transaction: %s (%s)", inserted,
                 result == INDEX_MISMATCH ? r.f.problem : r.f.diag.message, dw_error_name(result));
    }
    print_message("# the undo area filled at insert %u: %s\n", inserted, r.f.diag.message);
    index_fixture_abort(&r.f);
    CHECK(&r, index_check_walk(&r.f));
    CHECK(&r, index_check_every_find(&r.f));
    for (uint32_t i = 0; i < 50; i++) {
        transaction(&r, PHASE_CHURN, 300);
    }
    run_finish(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(compact_objects_fit_as_the_format_says),
        cmocka_unit_test(an_empty_index_holds_nothing),
        cmocka_unit_test(the_index_agrees_with_a_model_on_4k_blocks),
        cmocka_unit_test(the_index_agrees_with_a_model_on_512_byte_blocks),
        cmocka_unit_test(the_index_agrees_with_a_model_through_a_small_cache),
        cmocka_unit_test(a_transaction_too_large_aborts_whole),
    };
    return cmocka_run_group_tests_name("btree", tests, NULL, NULL);
}
