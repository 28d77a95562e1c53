/*
 * test_cache.c — the page cache (src/vde/cache.c) through a VDE's own: hits and misses
 * are counted, a failed load or a hit of the wrong type leaves no pin and no frame
 * behind, threads get slots of their own, and readers on many threads that hit without
 * a lock and miss in a cache far smaller than what they read never get a frame holding
 * another block, nor one that changes while they hold its pin (docs/CONCURRENCY.md).
 * Also run under ThreadSanitizer.
 */
#include "harness.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/arena.h"
#include "mem/budget.h"
#include "vde/cache.h"
#include "vde/engine.h"
#include "vde/format.h"
#include "vde_env.h"

#define CACHE_PAGES 64
#define OBJECTS 1200
#define LARGE_EVERY 8           /* one object in so many has a value in data blocks */
#define READERS 4
#define SAMPLE_BYTES 256        /* compared before and after a yield, while pinned */

static void small_cache(dw_config *config)
{
    config->cache_pages = CACHE_PAGES;
}

/* The blocks that reads go through the cache for, with the type each holds. */
typedef struct cached_blocks {
    uint32_t count;
    uint64_t block[BLOCK_LIST_MAX];
    uint32_t type[BLOCK_LIST_MAX];
} cached_blocks;

static bool read_through_cache(uint32_t type)
{
    return type == DW_BLOCK_INODES || type == DW_BLOCK_INDEX_LEAF || type == DW_BLOCK_INDEX_BRANCH ||
           type == DW_BLOCK_EXTENTS || type == DW_BLOCK_BITMAP || type == DW_BLOCK_INODE_BITMAP ||
           type == DW_BLOCK_DATA;
}

/* A closed VDE of OBJECTS objects (many more metadata and data blocks than CACHE_PAGES),
 * and the blocks verify found sound in it. */
static env *make_objects(cached_blocks *blocks)
{
    env *e = env_new_tuned(false, 64u << 20, small_cache);
    env_open(e);
    static unsigned char value[6000];
    for (uint32_t i = 0; i < OBJECTS; i++) {
        char key[32];
        int n = snprintf(key, sizeof key, "object-%05u", i);
        size_t length = i % LARGE_EVERY == 0 ? sizeof value : 100;
        fill(value, length, i);
        OK(dw_put(e->vde, key, (size_t)n, value, length, NULL, &e->diag));
    }
    env_close(e);
    static block_list list;
    memset(&list, 0, sizeof list);
    const dw_verify_report *report = env_verify(e, collect, &list);
    assert_int_equal(report->problem_count, 0);
    blocks->count = 0;
    for (uint32_t i = 0; i < list.count; i++) {
        if (list.blocks[i] == 1 && read_through_cache(list.type[i])) {
            blocks->block[blocks->count] = list.block[i];
            blocks->type[blocks->count] = list.type[i];
            blocks->count++;
        }
    }
    print_message("# %u blocks read through a cache of %u pages\n", blocks->count, CACHE_PAGES);
    assert_true(blocks->count > 2 * CACHE_PAGES);
    return e;
}

static uint32_t other_type(uint32_t type)
{
    return type == DW_BLOCK_DATA ? DW_BLOCK_INODES : DW_BLOCK_DATA;
}

/* No frame is pinned or loading, every hashed frame is in its bucket's chain exactly
 * once, and nothing else is in any chain. */
static void check_frames_at_rest(dw_cache *cache)
{
    uint32_t hashed = 0;
    for (uint32_t i = 0; i < cache->capacity; i++) {
        dw_page *page = &cache->pages[i];
        assert_int_equal(atomic_load(&page->pins), 0);
        assert_false(atomic_load(&page->loading));
        if (atomic_load(&page->block) != DW_BLOCK_NONE) {
            hashed++;
        }
    }
    uint32_t chained = 0;
    for (uint32_t b = 0; b <= cache->bucket_mask; b++) {
        for (uint32_t i = atomic_load(&cache->buckets[b]); i != DW_PAGE_NONE; i = atomic_load(&cache->pages[i].next)) {
            assert_true(i < cache->capacity);
            assert_int_not_equal(atomic_load(&cache->pages[i].block), DW_BLOCK_NONE);
            chained++;
            assert_true(chained <= hashed);
        }
    }
    assert_int_equal(chained, hashed);
}

static dw_page *cached_frame(dw_cache *cache, uint64_t block)
{
    for (uint32_t i = 0; i < cache->capacity; i++) {
        if (atomic_load(&cache->pages[i].block) == block) {
            return &cache->pages[i];
        }
    }
    return NULL;
}

static void a_miss_then_hits_are_counted(void **state)
{
    (void)state;
    static cached_blocks blocks;
    env *e = make_objects(&blocks);
    env_open(e);
    dw_cache *cache = &e->vde->cache;
    dw_cache_forget_clean(cache); /* nothing else runs: the writer's to call */
    dw_cache_stats before;
    dw_cache_stats_read(cache, &before);
    dw_page *page = NULL;
    for (int i = 0; i < 3; i++) {
        OK(dw_cache_read(cache, blocks.block[0], blocks.type[0], false, 0, &page, &e->diag));
        assert_int_equal(atomic_load(&page->block), blocks.block[0]);
        assert_int_equal(atomic_load(&page->pins), 1);
        dw_cache_unpin(cache, page);
    }
    dw_cache_stats after;
    dw_cache_stats_read(cache, &after);
    assert_int_equal(after.misses - before.misses, 1);
    assert_int_equal(after.hits - before.hits, 2);
    check_frames_at_rest(cache);
    env_free(e);
}

static void a_failed_load_leaves_no_frame(void **state)
{
    (void)state;
    static cached_blocks blocks;
    env *e = make_objects(&blocks);
    env_open(e);
    dw_cache *cache = &e->vde->cache;
    dw_cache_forget_clean(cache);
    uint64_t block = blocks.block[1];
    dw_page *page = NULL;
    assert_int_equal(dw_cache_read(cache, block, other_type(blocks.type[1]), false, 0, &page, &e->diag),
                     DW_ECORRUPT);
    assert_null(page);
    assert_null(cached_frame(cache, block));
    check_frames_at_rest(cache);
    /* What a free frame holds is no block: a pointer naming it is damage, not a hit. */
    page = cached_frame(cache, DW_BLOCK_NONE);
    assert_non_null(page); /* there are free frames to find */
    assert_int_equal(dw_cache_read(cache, DW_BLOCK_NONE, blocks.type[1], false, 0, &page, &e->diag), DW_ECORRUPT);
    assert_null(page);
    /* Read as what it is, it loads. */
    OK(dw_cache_read(cache, block, blocks.type[1], false, 0, &page, &e->diag));
    assert_ptr_equal(cached_frame(cache, block), page);
    dw_cache_unpin(cache, page);
    check_frames_at_rest(cache);
    env_free(e);
}

static void a_hit_of_the_wrong_type_keeps_no_pin(void **state)
{
    (void)state;
    static cached_blocks blocks;
    env *e = make_objects(&blocks);
    env_open(e);
    dw_cache *cache = &e->vde->cache;
    dw_page *page = NULL;
    OK(dw_cache_read(cache, blocks.block[2], blocks.type[2], false, 0, &page, &e->diag));
    dw_cache_unpin(cache, page);
    dw_page *wrong = NULL;
    assert_int_equal(dw_cache_read(cache, blocks.block[2], other_type(blocks.type[2]), false, 0, &wrong, &e->diag),
                     DW_ECORRUPT);
    assert_null(wrong);
    assert_non_null(strstr(e->diag.message, "is named as a"));
    assert_ptr_equal(cached_frame(cache, blocks.block[2]), page); /* still cached: it is sound */
    check_frames_at_rest(cache);
    env_free(e);
}

/* ---- the index's node check, once a frame holds the node ------------------------------------- */

/* Gets every object; returns how many the engine refused as damaged (the others must
 * come back whole). */
static uint32_t get_all(env *e)
{
    static unsigned char value[6000];
    static unsigned char expected[6000];
    uint32_t refused = 0;
    for (uint32_t i = 0; i < OBJECTS; i++) {
        char key[32];
        int n = snprintf(key, sizeof key, "object-%05u", i);
        size_t length = 0;
        int result = dw_get(e->vde, key, (size_t)n, value, sizeof value, &length, NULL, &e->diag);
        if (result == DW_ECORRUPT) {
            assert_non_null(strstr(e->diag.message, "is malformed"));
            refused++;
            continue;
        }
        OK(result);
        size_t want = i % LARGE_EVERY == 0 ? sizeof expected : 100;
        assert_int_equal(length, want);
        fill(expected, want, i);
        assert_memory_equal(value, expected, want);
    }
    return refused;
}

/* A leaf whose checksum verifies but whose first slot points past its end (what a bug
 * that sealed a bad node would leave) is refused on every get that reaches it, although
 * its frame stays cached: the structural check passed is what a hit trusts, not the
 * trailer. Sound nodes are checked once and then marked. */
static void a_malformed_node_is_refused_on_every_visit(void **state)
{
    (void)state;
    static cached_blocks blocks;
    env *e = make_objects(&blocks);
    uint64_t leaf = DW_BLOCK_NONE;
    for (uint32_t i = 0; i < blocks.count && leaf == DW_BLOCK_NONE; i++) {
        leaf = blocks.type[i] == DW_BLOCK_INDEX_LEAF ? blocks.block[i] : leaf;
    }
    assert_int_not_equal(leaf, DW_BLOCK_NONE);
    static unsigned char node[4096];
    FILE *file = fopen(e->path, "r+b");
    assert_non_null(file);
    assert_int_equal(fseek(file, (long)(leaf * sizeof node), SEEK_SET), 0);
    assert_int_equal(fread(node, sizeof node, 1, file), 1);
    dw_index_header header;
    dw_index_header_decode(node, &header);
    assert_true(header.count > 1);
    assert_null(dw_index_node_problem(node, &header, sizeof node, e->config.key_length_max));
    node[DW_INDEX_HEADER_SIZE] = 0xf0; /* slot 0: offset 0x0ff0, inside the trailer */
    node[DW_INDEX_HEADER_SIZE + 1] = 0x0f;
    assert_non_null(dw_index_node_problem(node, &header, sizeof node, e->config.key_length_max));
    dw_trailer_seal(node, sizeof node, leaf * sizeof node, DW_BLOCK_INDEX_LEAF,
                    dw_trailer_generation(node, sizeof node));
    assert_int_equal(fseek(file, (long)(leaf * sizeof node), SEEK_SET), 0);
    assert_int_equal(fwrite(node, sizeof node, 1, file), 1);
    assert_int_equal(fclose(file), 0);
    env_open(e);
    uint32_t refused = get_all(e);
    assert_true(refused > 0 && refused < OBJECTS);
    dw_cache *cache = &e->vde->cache;
    dw_page *bad = cached_frame(cache, leaf);
    if (bad != NULL) {
        assert_false(dw_page_checked(bad));
    }
    assert_int_equal(get_all(e), refused); /* not trusted the second time either */
    uint32_t marked = 0;
    for (uint32_t i = 0; i < cache->capacity; i++) {
        dw_page *page = &cache->pages[i];
        uint32_t type = page->type;
        if (atomic_load(&page->block) == leaf) {
            assert_false(dw_page_checked(page));
        } else if (atomic_load(&page->block) != DW_BLOCK_NONE &&
                   (type == DW_BLOCK_INDEX_LEAF || type == DW_BLOCK_INDEX_BRANCH)) {
            marked += dw_page_checked(page) ? 1 : 0;
        }
    }
    assert_true(marked > 0);
    check_frames_at_rest(cache);
    env_free(e);
}

/* ---- scans ----------------------------------------------------------------------------- */

#define SCAN_OBJECTS 6000        /* small values: leaves several times the cache */
#define SCAN_BATCH 100
#define HOT_KEYS 6

static int scan_key(char *key, size_t size, uint32_t i)
{
    return snprintf(key, size, "scan-%05u", i);
}

/* A VDE of SCAN_OBJECTS small objects (in batches: one commit each), open, loaded
 * through the default cache (its undo area holds a batch); later opens get the small one. */
static env *make_scan_objects(void)
{
    env *e = env_new_tuned(false, 64u << 20, NULL);
    env_open(e);
    unsigned char value[100];
    for (uint32_t first = 0; first < SCAN_OBJECTS; first += SCAN_BATCH) {
        dw_txn *txn = NULL;
        OK(dw_txn_begin(e->vde, &txn, &e->diag));
        for (uint32_t i = first; i < first + SCAN_BATCH; i++) {
            char key[32];
            int n = scan_key(key, sizeof key, i);
            fill(value, sizeof value, i);
            OK(dw_txn_put(txn, key, (size_t)n, value, sizeof value, &e->diag));
        }
        OK(dw_txn_commit(txn, NULL, &e->diag));
    }
    return e;
}

static void get_hot(env *e)
{
    unsigned char value[100];
    unsigned char expected[100];
    for (uint32_t i = 0; i < HOT_KEYS; i++) {
        char key[32];
        uint32_t object = 1 + i * (SCAN_OBJECTS / HOT_KEYS); /* in leaves apart */
        int n = scan_key(key, sizeof key, object);
        size_t length = 0;
        OK(dw_get(e->vde, key, (size_t)n, value, sizeof value, &length, NULL, &e->diag));
        assert_int_equal(length, sizeof value);
        fill(expected, sizeof expected, object);
        assert_memory_equal(value, expected, sizeof value);
    }
}

/* Iterates every key (with its stat, so inode blocks are read too); returns how many. */
static uint32_t iterate_all(env *e)
{
    dw_iter *iter = NULL;
    OK(dw_iter_open(e->vde, NULL, 0, &iter, &e->diag));
    char key[64];
    size_t key_length = 0;
    dw_object_stat stat;
    uint32_t seen = 0;
    int result;
    while ((result = dw_iter_next(iter, key, sizeof key, &key_length, &stat, &e->diag)) == DW_OK) {
        seen++;
    }
    assert_int_equal(result, DW_ENOENT);
    dw_iter_close(iter);
    return seen;
}

/* A hot set (a few keys got again and again) stays cached through a full iteration over
 * several times more blocks than the cache holds: the scan recycles a few frames of its
 * own, so the gets after it miss nothing. */
static void a_full_iteration_keeps_the_hot_set(void **state)
{
    (void)state;
    env *e = make_scan_objects();
    env_close(e);
    small_cache(&e->config);
    env_open(e); /* nothing cached but what the gets below read */
    dw_cache *cache = &e->vde->cache;
    for (int round = 0; round < 3; round++) {
        get_hot(e);
    }
    dw_cache_stats before;
    dw_cache_stats_read(cache, &before);
    get_hot(e);
    dw_cache_stats hot;
    dw_cache_stats_read(cache, &hot);
    assert_int_equal(hot.misses, before.misses); /* all cached: the set is hot */
    assert_int_equal(iterate_all(e), SCAN_OBJECTS);
    dw_cache_stats scanned;
    dw_cache_stats_read(cache, &scanned);
    print_message("# the scan: %llu misses, %llu evictions\n", (unsigned long long)(scanned.misses - hot.misses),
                  (unsigned long long)(scanned.evictions - hot.evictions));
    assert_true(scanned.misses - hot.misses > 3 * CACHE_PAGES); /* it read far more than fits */
    get_hot(e);
    dw_cache_stats after;
    dw_cache_stats_read(cache, &after);
    assert_int_equal(after.misses, scanned.misses);
    /* A second iteration sees the same keys, and still leaves the hot set where it was. */
    assert_int_equal(iterate_all(e), SCAN_OBJECTS);
    dw_cache_stats_read(cache, &scanned);
    get_hot(e);
    dw_cache_stats_read(cache, &after);
    assert_int_equal(after.misses, scanned.misses);
    check_frames_at_rest(cache);
    env_free(e);
}

/* ---- slots ---------------------------------------------------------------------------- */

typedef struct slot_probe {
    dw_cache *cache;
    uint32_t first;
    uint32_t second;
} slot_probe;

static void *slot_main(void *argument)
{
    slot_probe *probe = argument;
    probe->first = dw_cache_thread_slot(probe->cache);
    probe->second = dw_cache_thread_slot(probe->cache);
    return NULL;
}

static void threads_get_slots_of_their_own(void **state)
{
    (void)state;
    static dw_cache cache; /* only the slot counter is used */
    memset(&cache, 0, sizeof cache);
    atomic_init(&cache.slots_given, 0);
    slot_probe probes[DW_CACHE_SLOTS];
    for (uint32_t i = 0; i < DW_CACHE_SLOTS; i++) {
        probes[i] = (slot_probe){.cache = &cache};
        pthread_t thread;
        assert_int_equal(pthread_create(&thread, NULL, slot_main, &probes[i]), 0);
        assert_int_equal(pthread_join(thread, NULL), 0);
    }
    bool taken[DW_CACHE_SLOTS] = {false};
    for (uint32_t i = 0; i < DW_CACHE_SLOTS; i++) {
        assert_int_equal(probes[i].first, probes[i].second);
        assert_true(probes[i].first < DW_CACHE_SLOTS);
        assert_false(taken[probes[i].first]);
        taken[probes[i].first] = true;
    }
}

/* ---- readers at once ------------------------------------------------------------------ */

typedef struct readers_shared {
    struct dw_vde *vde;
    const cached_blocks *blocks;
    uint32_t rounds;
    _Atomic uint64_t reads;
    _Atomic uint64_t wrong_type_reads;
    _Atomic uint64_t failures;
    char first_failure[DW_DIAG_MESSAGE_MAX + 64];
    pthread_mutex_t failure_lock;
} readers_shared;

typedef struct reader {
    readers_shared *shared;
    uint64_t seed;
} reader;

static void record_failure(readers_shared *s, const char *what, uint64_t block)
{
    if (atomic_fetch_add(&s->failures, 1) == 0) {
        (void)pthread_mutex_lock(&s->failure_lock);
        (void)snprintf(s->first_failure, sizeof s->first_failure, "block %llu: %s", (unsigned long long)block, what);
        (void)pthread_mutex_unlock(&s->failure_lock);
    }
}

/* One read of block i, checked whole while pinned; one read in 16 asks for the wrong
 * type, which must fail (a failed load, or a hit of the wrong type) and keep nothing. */
static void read_one(readers_shared *s, uint32_t i, uint64_t random)
{
    dw_cache *cache = &s->vde->cache;
    uint32_t block_size = cache->block_size;
    uint64_t block = s->blocks->block[i];
    uint32_t type = s->blocks->type[i];
    bool wrong = random % 16 == 0;
    dw_diag diag;
    dw_diag_clear(&diag);
    dw_page *page = NULL;
    int result = dw_cache_read(cache, block, wrong ? other_type(type) : type, false, 0, &page, &diag);
    if (wrong) {
        atomic_fetch_add(&s->wrong_type_reads, 1);
        if (result != DW_ECORRUPT || page != NULL) {
            record_failure(s, "a read of the wrong type did not fail", block);
        }
        return;
    }
    if (result != DW_OK) {
        record_failure(s, diag.message, block);
        return;
    }
    atomic_fetch_add(&s->reads, 1);
    if (atomic_load(&page->block) != block) {
        record_failure(s, "the frame holds another block", block);
    } else if (dw_trailer_verify(page->data, block_size, block * block_size, type, false, 0) != DW_TRAILER_OK) {
        record_failure(s, "the frame's bytes are not the block's", block);
    }
    unsigned char sample[SAMPLE_BYTES];
    memcpy(sample, page->data + block_size - SAMPLE_BYTES, SAMPLE_BYTES);
    if (random % 4 == 0) {
        (void)sched_yield(); /* let others evict around this pinned frame */
    }
    if (memcmp(sample, page->data + block_size - SAMPLE_BYTES, SAMPLE_BYTES) != 0 ||
        atomic_load(&page->block) != block) {
        record_failure(s, "the frame changed while pinned", block);
    }
    dw_cache_unpin(cache, page);
}

static void *reader_main(void *argument)
{
    reader *r = argument;
    readers_shared *s = r->shared;
    uint64_t state = r->seed;
    for (uint32_t round = 0; round < s->rounds && atomic_load(&s->failures) == 0; round++) {
        bool locked = dw_vde_reader_lock(s->vde);
        /* Mostly a few hot blocks (hits), often any block (misses and evictions). */
        uint64_t random = dw_test_random(&state);
        uint32_t span = random % 3 == 0 ? s->blocks->count : CACHE_PAGES / 4;
        read_one(s, (uint32_t)((random >> 8) % span), random >> 40);
        dw_vde_reader_unlock(s->vde, locked);
    }
    return NULL;
}

static void readers_hit_and_evict_at_once(void **state)
{
    (void)state;
    static cached_blocks blocks;
    env *e = make_objects(&blocks);
    env_open(e);
    dw_cache_stats before;
    dw_cache_stats_read(&e->vde->cache, &before);
    readers_shared s = {.vde = e->vde, .blocks = &blocks, .rounds = (uint32_t)(20000 * dw_test_scale())};
    atomic_init(&s.reads, 0);
    atomic_init(&s.wrong_type_reads, 0);
    atomic_init(&s.failures, 0);
    (void)pthread_mutex_init(&s.failure_lock, NULL);
    reader readers[READERS];
    pthread_t threads[READERS];
    for (uint32_t i = 0; i < READERS; i++) {
        readers[i] = (reader){.shared = &s, .seed = dw_test_seed() + i * UINT64_C(0x9e3779b97f4a7c15)};
        assert_int_equal(pthread_create(&threads[i], NULL, reader_main, &readers[i]), 0);
    }
    for (uint32_t i = 0; i < READERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    }
    (void)pthread_mutex_destroy(&s.failure_lock);
    if (atomic_load(&s.failures) != 0) {
        fail_msg("%llu failures, the first: %s", (unsigned long long)atomic_load(&s.failures), s.first_failure);
    }
    dw_cache_stats after;
    dw_cache_stats_read(&e->vde->cache, &after);
    uint64_t reads = atomic_load(&s.reads);
    uint64_t hits = after.hits - before.hits;
    uint64_t misses = after.misses - before.misses;
    print_message("# %llu reads (%llu of the wrong type): %llu hits, %llu misses, %llu evictions\n",
                  (unsigned long long)reads, (unsigned long long)atomic_load(&s.wrong_type_reads),
                  (unsigned long long)hits, (unsigned long long)misses,
                  (unsigned long long)(after.evictions - before.evictions));
    /* Every good read is a hit or a miss; a wrong one a failed load or nothing counted. */
    assert_true(hits + misses >= reads);
    assert_true(hits + misses <= reads + atomic_load(&s.wrong_type_reads));
    assert_true(hits > 0);
    assert_true(after.evictions > before.evictions);
    check_frames_at_rest(&e->vde->cache);
    env_free(e);
}

/* ---- readers' latencies ---------------------------------------------------------------- */

#define GETTERS 5
#define GETS_EACH 400

typedef struct getter {
    dw_vde *vde;
    uint32_t index;
    _Atomic uint64_t *failures;
} getter;

static void *getter_main(void *argument)
{
    getter *g = argument;
    unsigned char value[200];
    for (uint32_t i = 0; i < GETS_EACH; i++) {
        char key[32];
        int n = snprintf(key, sizeof key, "object-%05u", (g->index * 131 + i * 7) % OBJECTS);
        size_t length = 0;
        dw_diag diag;
        int result = dw_get(g->vde, key, (size_t)n, value, sizeof value, &length, NULL, &diag);
        /* A large value does not fit: DW_ENOSPC, still a get. */
        if (result != DW_OK && result != DW_ENOSPC) {
            atomic_fetch_add(g->failures, 1);
        }
    }
    return NULL;
}

/* Gets on more threads than there are latency slots: every one is counted once, in the
 * get class, however the threads share the slots; and counted again after a read. */
static void gets_on_many_threads_are_each_counted(void **state)
{
    (void)state;
    static cached_blocks blocks;
    env *e = make_objects(&blocks);
    env_open(e);
    _Atomic uint64_t failures;
    atomic_init(&failures, 0);
    for (uint32_t round = 1; round <= 2; round++) {
        getter getters[GETTERS * 2];
        pthread_t threads[GETTERS * 2];
        uint32_t count = round == 1 ? GETTERS : GETTERS * 2;
        assert_true(count > DW_VDE_READER_SLOTS || round == 1);
        for (uint32_t i = 0; i < count; i++) {
            getters[i] = (getter){.vde = e->vde, .index = i, .failures = &failures};
            assert_int_equal(pthread_create(&threads[i], NULL, getter_main, &getters[i]), 0);
        }
        for (uint32_t i = 0; i < count; i++) {
            assert_int_equal(pthread_join(threads[i], NULL), 0);
        }
        assert_int_equal(atomic_load(&failures), 0);
        dw_vde_stats stats;
        OK(dw_vde_stat(e->vde, &stats, &e->diag));
        assert_string_equal(stats.ops[DW_VDE_OP_GET].name, "get");
        uint64_t expected = (uint64_t)GETS_EACH * (round == 1 ? GETTERS : GETTERS * 3);
        assert_int_equal(stats.ops[DW_VDE_OP_GET].count, expected);
        assert_true(stats.ops[DW_VDE_OP_GET].p50_ns <= stats.ops[DW_VDE_OP_GET].p99_ns);
        assert_true(stats.ops[DW_VDE_OP_GET].p99_ns <= stats.ops[DW_VDE_OP_GET].max_ns);
        assert_true(stats.ops[DW_VDE_OP_GET].max_ns > 0);
        assert_int_equal(stats.ops[DW_VDE_OP_PUT].count, 0); /* this open put nothing */
    }
    env_free(e);
}

/* ---- the logged list, on a cache of its own ------------------------------------------- */

/* A cache over a device it never reads or writes: these tests make, change, log and seal
 * pages and say by hand how their writes home ended, so no block leaves memory. */
#define LONE_BLOCK_SIZE 4096

typedef struct lone {
    dw_budget budget;
    dw_arena arena;
    dw_device device;
    dw_cache_plan plan;
    dw_cache cache;
    dw_diag diag;
    uint64_t lsn;               /* the last record's */
    uint64_t durable_lsn;       /* what seal_home is told is durable */
} lone;

#define LONE_OK(l, call)                                                                           \
    do {                                                                                           \
        int lone_result_ = (call);                                                                 \
        if (lone_result_ != DW_OK) {                                                               \
            fail_msg("%s: %s (%s)", #call, (l)->diag.message, dw_error_name(lone_result_));      \
        }                                                                                          \
    } while (0)

static lone *lone_open(uint32_t capacity, uint32_t undo_capacity)
{
    lone *l = calloc(1, sizeof *l);
    assert_non_null(l);
    dw_budget_init(&l->budget, UINT64_C(1) << 30, 85);
    dw_arena_init(&l->arena, &l->budget);
    l->device.path = "lone";
    l->device.block_size = LONE_BLOCK_SIZE;
    LONE_OK(l, dw_cache_plan_in(&l->arena, capacity, undo_capacity, LONE_BLOCK_SIZE, &l->plan, &l->diag));
    LONE_OK(l, dw_arena_allocate(&l->arena, false, &l->diag));
    dw_cache_open(&l->cache, &l->arena, &l->plan, &l->device);
    assert_int_equal(dw_cache_check_logged(&l->cache), 0);
    return l;
}

static void lone_close(lone *l)
{
    dw_cache_close(&l->cache);
    dw_arena_close(&l->arena);
    free(l);
}

/* A page for `block` made in the open transaction, not left pinned. */
static dw_page *lone_create(lone *l, uint64_t block)
{
    dw_page *page = NULL;
    LONE_OK(l, dw_cache_create(&l->cache, block, DW_BLOCK_DATA, 1, &page, &l->diag));
    dw_cache_unpin(&l->cache, page);
    return page;
}

/* The pin of a cached page, taken the way a reader's hit takes it. */
static void lone_pin(lone *l, dw_page *page)
{
    dw_page *pinned = NULL;
    LONE_OK(l, dw_cache_read(&l->cache, atomic_load(&page->block), DW_BLOCK_DATA, false, 0, &pinned, &l->diag));
    assert_ptr_equal(pinned, page);
}

static void lone_modify(lone *l, dw_page *page)
{
    lone_pin(l, page);
    LONE_OK(l, dw_cache_modify(&l->cache, page, 1, &l->diag));
    dw_cache_unpin(&l->cache, page);
}

/* The pending pages go into a record, which is durable at once. */
static void lone_log(lone *l)
{
    l->lsn += 10;
    l->durable_lsn = l->lsn;
    dw_cache_logged(&l->cache, l->lsn);
}

/* `count` pages at blocks from `first`, made in one transaction and logged in one record. */
static void lone_create_logged(lone *l, dw_page **pages, uint64_t first, uint32_t count)
{
    dw_cache_txn_begin(&l->cache);
    for (uint32_t i = 0; i < count; i++) {
        pages[i] = lone_create(l, first + i);
    }
    dw_cache_txn_commit(&l->cache);
    lone_log(l);
}

/* One page changed in a transaction of its own and logged alone. */
static void lone_modify_logged(lone *l, dw_page *page)
{
    dw_cache_txn_begin(&l->cache);
    lone_modify(l, page);
    dw_cache_txn_commit(&l->cache);
    lone_log(l);
}

static uint32_t lone_seal(lone *l, uint32_t limit, dw_page **sealed)
{
    uint32_t count = dw_cache_seal_home(&l->cache, l->durable_lsn, limit);
    assert_int_equal(count, l->cache.homing_count);
    for (uint32_t i = 0; i < count && sealed != NULL; i++) {
        sealed[i] = &l->cache.pages[l->cache.homing[i]];
        assert_true(sealed[i]->homing);
    }
    return count;
}

/* The logged list, head first, as frames; checked against the frames on the way. */
static uint32_t lone_list(const lone *l, dw_page **out, uint32_t max)
{
    uint32_t count = dw_cache_check_logged(&l->cache);
    assert_true(count <= max);
    uint32_t at = 0;
    for (uint32_t i = l->cache.logged_head; i != DW_PAGE_NONE; i = l->cache.logged_links[i].next) {
        out[at++] = &l->cache.pages[i];
    }
    assert_int_equal(at, count);
    return count;
}

static void assert_list(const lone *l, dw_page *const *expected, uint32_t count)
{
    dw_page *list[16];
    assert_int_equal(lone_list(l, list, 16), count);
    for (uint32_t i = 0; i < count; i++) {
        assert_ptr_equal(list[i], expected[i]);
    }
}

static void logged_pages_go_home_oldest_first(void **state)
{
    (void)state;
    lone *l = lone_open(64, 16);
    dw_cache *cache = &l->cache;
    dw_page *p[3];
    lone_create_logged(l, p, 100, 3);
    assert_int_equal(lone_seal(l, cache->capacity, NULL), 3);
    dw_cache_homed(cache, true);
    assert_int_equal(dw_cache_oldest_needed(cache), DW_LSN_NONE);
    /* Logged in the order opposite to the frames', one record each, then two together. */
    lone_modify_logged(l, p[2]);
    lone_modify_logged(l, p[1]);
    lone_modify_logged(l, p[0]);
    dw_page *q[2];
    lone_create_logged(l, q, 200, 2);
    dw_page *const logged[] = {p[2], p[1], p[0], q[0], q[1]};
    assert_list(l, logged, 5);
    assert_int_equal(dw_cache_oldest_needed(cache), p[2]->rec_lsn);
    assert_true(p[2]->rec_lsn < p[1]->rec_lsn && p[1]->rec_lsn < p[0]->rec_lsn && p[0]->rec_lsn < q[0]->rec_lsn);
    assert_int_equal(q[0]->rec_lsn, q[1]->rec_lsn);

    dw_page *sealed[8];
    assert_int_equal(lone_seal(l, 1, sealed), 1);
    assert_ptr_equal(sealed[0], p[2]);
    dw_cache_homed(cache, true);
    assert_false(p[2]->dirty);
    assert_int_equal(dw_cache_oldest_needed(cache), p[1]->rec_lsn);
    assert_list(l, logged + 1, 4);

    /* Writes that failed leave their pages where they were. */
    assert_int_equal(lone_seal(l, 2, sealed), 2);
    assert_ptr_equal(sealed[0], p[1]);
    assert_ptr_equal(sealed[1], p[0]);
    dw_cache_homed(cache, false);
    assert_list(l, logged + 1, 4);
    assert_int_equal(lone_seal(l, 2, sealed), 2);
    assert_ptr_equal(sealed[0], p[1]);
    assert_ptr_equal(sealed[1], p[0]);
    dw_cache_homed(cache, true);
    assert_int_equal(dw_cache_oldest_needed(cache), q[0]->rec_lsn);

    assert_int_equal(lone_seal(l, cache->capacity, sealed), 2);
    assert_ptr_equal(sealed[0], q[0]);
    assert_ptr_equal(sealed[1], q[1]);
    dw_cache_homed(cache, true);
    assert_int_equal(dw_cache_check_logged(cache), 0);
    assert_int_equal(dw_cache_oldest_needed(cache), DW_LSN_NONE);
    assert_false(dw_cache_oldest_is_pending(cache));
    assert_int_equal(cache->dirty_count, 0);
    lone_close(l);
}

static void pinned_and_changing_pages_are_passed_over(void **state)
{
    (void)state;
    lone *l = lone_open(64, 16);
    dw_cache *cache = &l->cache;
    dw_page *a;
    dw_page *b;
    lone_create_logged(l, &a, 100, 1);
    lone_create_logged(l, &b, 101, 1);
    dw_page *sealed[4];

    lone_pin(l, a); /* a reader's */
    assert_int_equal(lone_seal(l, 1, sealed), 1);
    assert_ptr_equal(sealed[0], b);
    dw_cache_homed(cache, false);
    dw_cache_unpin(cache, a);

    /* Changed in the open transaction (an undo entry, and pending): not yet. */
    dw_cache_txn_begin(cache);
    lone_modify(l, a);
    assert_int_equal(lone_seal(l, 1, sealed), 1);
    assert_ptr_equal(sealed[0], b);
    dw_cache_homed(cache, false);
    dw_cache_txn_commit(cache);
    /* Pending after the commit: it holds the log's tail until the next record. */
    assert_true(dw_cache_oldest_is_pending(cache));
    assert_int_equal(dw_cache_oldest_needed(cache), a->rec_lsn);
    assert_int_equal(lone_seal(l, 1, sealed), 1);
    assert_ptr_equal(sealed[0], b);
    dw_cache_homed(cache, false);

    /* Logged again, in a record not yet durable: still not. */
    uint64_t durable = l->durable_lsn;
    lone_log(l);
    l->durable_lsn = durable;
    assert_false(dw_cache_oldest_is_pending(cache));
    assert_true(a->page_lsn > durable && a->rec_lsn < b->rec_lsn);
    assert_int_equal(lone_seal(l, 1, sealed), 1);
    assert_ptr_equal(sealed[0], b);
    dw_cache_homed(cache, false);
    l->durable_lsn = l->lsn;
    assert_int_equal(lone_seal(l, 1, sealed), 1);
    assert_ptr_equal(sealed[0], a);
    dw_cache_homed(cache, true);
    assert_int_equal(dw_cache_oldest_needed(cache), b->rec_lsn);
    dw_page *const left[] = {b};
    assert_list(l, left, 1);
    lone_close(l);
}

#define OLD_PAGES 100
#define NEW_PAGES 20

/* A step looks at 4 frames of the list for each it may take, and 64 more: pages that
 * may not go home at the head make it take fewer, never look further. */
static void a_step_looks_at_a_bounded_part_of_the_list(void **state)
{
    (void)state;
    lone *l = lone_open(512, 127);
    dw_cache *cache = &l->cache;
    static dw_page *old[OLD_PAGES];
    static dw_page *young[NEW_PAGES];
    lone_create_logged(l, old, 1000, OLD_PAGES);
    lone_create_logged(l, young, 2000, NEW_PAGES);
    dw_cache_txn_begin(cache);
    for (uint32_t i = 0; i < OLD_PAGES; i++) {
        lone_modify(l, old[i]);
    }
    dw_cache_txn_commit(cache); /* the old pages are pending now */
    assert_int_equal(dw_cache_check_logged(cache), OLD_PAGES + NEW_PAGES);
    assert_true(dw_cache_oldest_is_pending(cache));
    static dw_page *sealed[OLD_PAGES + NEW_PAGES];
    /* 4 * 4 + 64 = 80, and 4 * 9 + 64 = 100 frames: all old ones. */
    assert_int_equal(lone_seal(l, 4, sealed), 0);
    assert_int_equal(lone_seal(l, 9, sealed), 0);
    /* 4 * 10 + 64 = 104: the old ones and four young. */
    assert_int_equal(lone_seal(l, 10, sealed), 4);
    for (uint32_t i = 0; i < 4; i++) {
        assert_ptr_equal(sealed[i], young[i]);
    }
    dw_cache_homed(cache, false);
    /* A complete checkpoint looks at every one. */
    assert_int_equal(lone_seal(l, cache->capacity, sealed), NEW_PAGES);
    dw_cache_homed(cache, false);

    lone_log(l);
    assert_false(dw_cache_oldest_is_pending(cache));
    assert_int_equal(lone_seal(l, 4, sealed), 4);
    for (uint32_t i = 0; i < 4; i++) {
        assert_ptr_equal(sealed[i], old[i]);
    }
    dw_cache_homed(cache, true);
    assert_int_equal(dw_cache_oldest_needed(cache), old[4]->rec_lsn);
    assert_int_equal(dw_cache_check_logged(cache), OLD_PAGES + NEW_PAGES - 4);
    lone_close(l);
}

static void an_abort_leaves_the_list_as_it_was(void **state)
{
    (void)state;
    lone *l = lone_open(64, 16);
    dw_cache *cache = &l->cache;
    dw_page *home;
    lone_create_logged(l, &home, 100, 1);
    assert_int_equal(lone_seal(l, 1, NULL), 1);
    dw_cache_homed(cache, true); /* clean, and cached */
    dw_page *a;
    dw_page *b;
    lone_create_logged(l, &a, 101, 1);
    lone_create_logged(l, &b, 102, 1);
    dw_page *const logged[] = {a, b};
    uint64_t a_lsn = a->rec_lsn;

    /* Pages never logged: one made, one clean one changed. */
    dw_cache_txn_begin(cache);
    dw_page *made = lone_create(l, 103);
    lone_modify(l, home);
    assert_true(made->dirty && home->dirty);
    assert_list(l, logged, 2);
    dw_cache_txn_abort(cache);
    assert_false(home->dirty);
    assert_int_equal(cache->dirty_count, 2);
    assert_list(l, logged, 2);

    /* Logged pages changed again and put back. */
    dw_cache_txn_begin(cache);
    lone_modify(l, a);
    lone_modify(l, b);
    dw_cache_txn_abort(cache);
    assert_list(l, logged, 2);
    assert_true(a->dirty && !a->pending);
    assert_int_equal(a->rec_lsn, a_lsn);
    assert_int_equal(a->page_lsn, a_lsn);
    assert_false(dw_cache_oldest_is_pending(cache));
    assert_int_equal(dw_cache_oldest_needed(cache), a_lsn);

    /* Changed again and kept: pending, still first, with the rec_lsn it had. */
    dw_cache_txn_begin(cache);
    lone_modify(l, a);
    dw_cache_txn_commit(cache);
    assert_list(l, logged, 2);
    assert_true(dw_cache_oldest_is_pending(cache));
    lone_log(l);
    assert_list(l, logged, 2);
    assert_int_equal(a->rec_lsn, a_lsn);
    assert_int_equal(a->page_lsn, l->lsn);
    assert_int_equal(dw_cache_oldest_needed(cache), a_lsn);
    lone_close(l);
}

static void a_dropped_or_discarded_logged_page_leaves_the_list(void **state)
{
    (void)state;
    lone *l = lone_open(64, 16);
    dw_cache *cache = &l->cache;
    dw_page *a;
    dw_page *b;
    dw_page *c;
    lone_create_logged(l, &a, 100, 1);
    lone_create_logged(l, &b, 101, 1);
    lone_create_logged(l, &c, 102, 1);
    dw_page *const all[] = {a, b, c};

    dw_cache_txn_begin(cache);
    LONE_OK(l, dw_cache_drop(cache, 101, 1, &l->diag));
    dw_cache_txn_abort(cache);
    assert_list(l, all, 3);

    dw_cache_txn_begin(cache);
    LONE_OK(l, dw_cache_drop(cache, 101, 1, &l->diag));
    dw_cache_txn_commit(cache);
    assert_int_equal(atomic_load(&b->block), DW_BLOCK_NONE);
    dw_page *const dropped[] = {a, c};
    assert_list(l, dropped, 2);

    dw_cache_txn_begin(cache);
    lone_pin(l, c);
    LONE_OK(l, dw_cache_modify(cache, c, 1, &l->diag));
    dw_cache_discard(cache, c);
    dw_cache_unpin(cache, c);
    dw_cache_txn_commit(cache);
    assert_list(l, dropped, 1);
    assert_int_equal(dw_cache_oldest_needed(cache), a->rec_lsn);
    assert_int_equal(cache->pending_count, 0);

    /* The head itself. */
    dw_cache_txn_begin(cache);
    LONE_OK(l, dw_cache_drop(cache, 100, 1, &l->diag));
    dw_cache_txn_commit(cache);
    assert_int_equal(dw_cache_check_logged(cache), 0);
    assert_int_equal(dw_cache_oldest_needed(cache), DW_LSN_NONE);
    assert_int_equal(cache->dirty_count, 0);
    lone_close(l);
}

/* ---- the logged list against the frames, at random ------------------------------------ */

#define RANDOM_FRAMES 64
#define RANDOM_UNDO 16
#define RANDOM_BLOCKS 96            /* more than the frames: clean pages get evicted */
#define RANDOM_STEPS 3000
#define RANDOM_TXN_PAGES 6          /* under RANDOM_UNDO */

/* The definitions the list replaced: passes over every frame. */
static bool brute_may_go_home(const dw_page *page, uint64_t durable_lsn)
{
    return page->dirty && !page->homing && !page->pending && page->undo == 0 && atomic_load(&page->pins) == 0 &&
           page->page_lsn != DW_LSN_NONE && page->page_lsn <= durable_lsn;
}

static uint64_t brute_oldest_needed(const dw_cache *cache)
{
    uint64_t oldest = DW_LSN_NONE;
    for (uint32_t i = 0; i < cache->capacity; i++) {
        const dw_page *page = &cache->pages[i];
        if (page->dirty && page->rec_lsn < oldest) {
            oldest = page->rec_lsn;
        }
    }
    return oldest;
}

/* The list against the frames: its length, its head, and whether the head is pending
 * (of several pages logged in that oldest record, whichever was logged first). */
static void compare_with_frames(const dw_cache *cache)
{
    uint32_t logged = 0;
    bool oldest_pending = false;
    bool oldest_not_pending = false;
    uint64_t oldest = brute_oldest_needed(cache);
    for (uint32_t i = 0; i < cache->capacity; i++) {
        const dw_page *page = &cache->pages[i];
        if (page->dirty && page->rec_lsn != DW_LSN_NONE) {
            logged++;
            oldest_pending = oldest_pending || (page->rec_lsn == oldest && page->pending);
            oldest_not_pending = oldest_not_pending || (page->rec_lsn == oldest && !page->pending);
        }
    }
    assert_int_equal(dw_cache_check_logged(cache), logged);
    assert_int_equal(dw_cache_oldest_needed(cache), oldest);
    bool pending = dw_cache_oldest_is_pending(cache);
    assert_true(!pending || oldest_pending);
    assert_true(pending || oldest_not_pending || !oldest_pending);
}

/* A step against the frames' own answer: the pages that may go home, as many as the
 * limit allows (the list is shorter than any step's bound here), and none left that is
 * older than one taken. */
static void random_seal(lone *l, uint32_t limit)
{
    dw_cache *cache = &l->cache;
    static bool eligible[RANDOM_FRAMES];
    uint32_t eligible_count = 0;
    for (uint32_t i = 0; i < cache->capacity; i++) {
        eligible[i] = brute_may_go_home(&cache->pages[i], l->durable_lsn);
        eligible_count += eligible[i] ? 1 : 0;
    }
    uint32_t count = dw_cache_seal_home(cache, l->durable_lsn, limit);
    assert_int_equal(count, eligible_count < limit ? eligible_count : limit);
    uint64_t newest_taken = 0;
    for (uint32_t k = 0; k < count; k++) {
        uint32_t i = cache->homing[k];
        assert_true(eligible[i]);
        eligible[i] = false;
        assert_true(cache->pages[i].rec_lsn >= newest_taken); /* in rec_lsn order */
        newest_taken = cache->pages[i].rec_lsn;
    }
    for (uint32_t i = 0; i < cache->capacity; i++) {
        assert_true(!eligible[i] || cache->pages[i].rec_lsn >= newest_taken);
    }
}

static dw_page *random_cached(lone *l, uint64_t block)
{
    dw_page *page = cached_frame(&l->cache, block);
    return page != NULL && !atomic_load(&page->loading) ? page : NULL;
}

/* One transaction of a few creates, changes and drops; false when the cache was full. */
static bool random_txn(lone *l, uint64_t *random)
{
    dw_cache *cache = &l->cache;
    dw_cache_txn_begin(cache);
    uint32_t pages = 1 + (uint32_t)(dw_test_random(random) % RANDOM_TXN_PAGES);
    bool full = false;
    for (uint32_t k = 0; k < pages && !full; k++) {
        uint64_t block = 1000 + dw_test_random(random) % RANDOM_BLOCKS;
        dw_page *page = random_cached(l, block);
        uint64_t choice = dw_test_random(random) % 8;
        if (page == NULL) {
            dw_page *made = NULL;
            int result = dw_cache_create(cache, block, DW_BLOCK_DATA, 1, &made, &l->diag);
            assert_true(result == DW_OK || result == DW_EBUSY);
            full = result == DW_EBUSY;
            if (made != NULL) {
                dw_cache_unpin(cache, made);
            }
        } else if (page->discard) {
            continue;
        } else if (choice < 2) {
            LONE_OK(l, dw_cache_drop(cache, block, 1, &l->diag));
        } else {
            lone_modify(l, page);
        }
    }
    if (full || dw_test_random(random) % 3 == 0) {
        dw_cache_txn_abort(cache);
    } else {
        dw_cache_txn_commit(cache);
    }
    return !full;
}

static void random_step(lone *l, uint64_t *random)
{
    dw_cache *cache = &l->cache;
    uint64_t choice = dw_test_random(random) % 10;
    if (choice < 4) {
        if (!random_txn(l, random)) {
            /* Every frame dirty: log and write everything home, as a tight cache does. */
            if (cache->pending_count > 0) {
                lone_log(l);
            }
            random_seal(l, cache->capacity);
            dw_cache_homed(cache, true);
        }
    } else if (choice < 6) {
        if (cache->pending_count > 0) {
            uint64_t durable = l->durable_lsn;
            lone_log(l);
            if (dw_test_random(random) % 3 == 0) {
                l->durable_lsn = durable; /* on its way to the device */
            }
        }
    } else if (choice < 9) {
        l->durable_lsn = l->lsn;
        dw_page *pinned = NULL;
        if (dw_test_random(random) % 4 == 0) {
            pinned = random_cached(l, 1000 + dw_test_random(random) % RANDOM_BLOCKS);
            if (pinned != NULL) {
                lone_pin(l, pinned);
            }
        }
        uint32_t limit = dw_test_random(random) % 4 == 0 ? cache->capacity : 1 + (uint32_t)(dw_test_random(random) % 8);
        random_seal(l, limit);
        compare_with_frames(cache);
        dw_cache_homed(cache, dw_test_random(random) % 4 != 0);
        if (pinned != NULL) {
            dw_cache_unpin(cache, pinned);
        }
    } else {
        dw_cache_forget_clean(cache);
    }
}

static void the_list_agrees_with_the_frames_at_random(void **state)
{
    (void)state;
    uint64_t random = dw_test_seed() | 1; /* it prints itself */
    lone *l = lone_open(RANDOM_FRAMES, RANDOM_UNDO);
    uint64_t steps = RANDOM_STEPS * dw_test_scale();
    uint32_t logged_max = 0;
    for (uint64_t step = 0; step < steps; step++) {
        random_step(l, &random);
        compare_with_frames(&l->cache);
        uint32_t logged = l->cache.logged_count;
        logged_max = logged > logged_max ? logged : logged_max;
    }
    print_message("# %llu steps, %llu pages written home, up to %u on the list\n", (unsigned long long)steps,
                  (unsigned long long)l->cache.stats.written_home, logged_max);
    assert_true(l->cache.stats.written_home > steps / 10); /* the steps did something */
    assert_true(logged_max > RANDOM_FRAMES / 4);
    lone_close(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_miss_then_hits_are_counted),
        cmocka_unit_test(a_failed_load_leaves_no_frame),
        cmocka_unit_test(a_hit_of_the_wrong_type_keeps_no_pin),
        cmocka_unit_test(a_malformed_node_is_refused_on_every_visit),
        cmocka_unit_test(a_full_iteration_keeps_the_hot_set),
        cmocka_unit_test(threads_get_slots_of_their_own),
        cmocka_unit_test(readers_hit_and_evict_at_once),
        cmocka_unit_test(gets_on_many_threads_are_each_counted),
        cmocka_unit_test(logged_pages_go_home_oldest_first),
        cmocka_unit_test(pinned_and_changing_pages_are_passed_over),
        cmocka_unit_test(a_step_looks_at_a_bounded_part_of_the_list),
        cmocka_unit_test(an_abort_leaves_the_list_as_it_was),
        cmocka_unit_test(a_dropped_or_discarded_logged_page_leaves_the_list),
        cmocka_unit_test(the_list_agrees_with_the_frames_at_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
