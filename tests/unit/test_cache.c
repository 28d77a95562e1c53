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

#include "vde/engine.h"
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
