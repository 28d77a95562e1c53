/*
 * cache.c — see cache.h.
 */
#include "vde/cache.h"

#include <string.h>

#include "core/assert.h"
#include "core/bits.h"
#include "core/endian.h"
#include "core/error.h"
#include "vde/format.h"

static uint64_t round_up(uint64_t bytes)
{
    return (bytes + 63) & ~UINT64_C(63);
}

static uint32_t bucket_count_for(uint32_t capacity)
{
    return dw_power_of_two_at_least(capacity);
}

int dw_cache_plan_in(dw_arena *arena, uint32_t capacity, uint32_t undo_capacity, uint32_t block_size,
                     dw_cache_plan *plan, dw_diag *diag)
{
    DW_ASSERT(capacity >= 8 && undo_capacity >= 1 && undo_capacity < capacity);
    plan->capacity = capacity;
    plan->undo_capacity = undo_capacity;
    uint64_t frames = ((uint64_t)capacity + undo_capacity) * block_size;
    /* Each array starts on a 64-byte boundary: any capacity (an automatic one is any
     * number) keeps the undo entries aligned. */
    uint64_t state = round_up((uint64_t)capacity * sizeof(dw_page)) +
                     round_up((uint64_t)bucket_count_for(capacity) * sizeof(uint32_t)) +
                     round_up((uint64_t)capacity * sizeof(uint32_t)) +
                     round_up((uint64_t)undo_capacity * sizeof(dw_undo_entry));
    int result = dw_arena_plan(arena, "page cache", frames, DW_ARENA_ALIGNMENT_MAX, &plan->frames_piece, diag);
    if (result == DW_OK) {
        result = dw_arena_plan(arena, "page cache state", state, 64, &plan->state_piece, diag);
    }
    return result;
}

void dw_cache_open(dw_cache *cache, const dw_arena *arena, const dw_cache_plan *plan, dw_device *device)
{
    memset(cache, 0, sizeof *cache);
    cache->device = device;
    cache->block_size = device->block_size;
    cache->capacity = plan->capacity;
    cache->undo_capacity = plan->undo_capacity;
    unsigned char *frames = dw_arena_piece_memory(arena, plan->frames_piece);
    unsigned char *state = dw_arena_piece_memory(arena, plan->state_piece);
    uint32_t buckets = bucket_count_for(plan->capacity);
    cache->pages = (dw_page *)(void *)state;
    state += round_up((uint64_t)plan->capacity * sizeof(dw_page));
    cache->buckets = (uint32_t *)(void *)state;
    state += round_up((uint64_t)buckets * sizeof(uint32_t));
    cache->pending = (uint32_t *)(void *)state;
    state += round_up((uint64_t)plan->capacity * sizeof(uint32_t));
    cache->undo = (dw_undo_entry *)(void *)state;
    cache->bucket_mask = buckets - 1;
    for (uint32_t i = 0; i < buckets; i++) {
        cache->buckets[i] = DW_PAGE_NONE;
    }
    for (uint32_t i = 0; i < plan->capacity; i++) {
        dw_page *page = &cache->pages[i];
        memset(page, 0, sizeof *page);
        page->block = DW_BLOCK_NONE;
        page->data = frames + (size_t)i * cache->block_size;
        page->page_lsn = DW_LSN_NONE;
        page->rec_lsn = DW_LSN_NONE;
        page->next = DW_PAGE_NONE;
    }
    cache->undo_frames = frames + (size_t)plan->capacity * cache->block_size;
    cache->stats.capacity = plan->capacity;
    cache->stats.undo_capacity = plan->undo_capacity;
    (void)pthread_mutex_init(&cache->lock, NULL);
    (void)pthread_cond_init(&cache->loaded, NULL);
}

void dw_cache_close(dw_cache *cache)
{
    (void)pthread_cond_destroy(&cache->loaded);
    (void)pthread_mutex_destroy(&cache->lock);
}

void dw_cache_set_fresh(dw_cache *cache, dw_cache_fresh_fn fresh, void *context)
{
    cache->fresh = fresh;
    cache->fresh_context = context;
}

static uint32_t bucket_of(const dw_cache *cache, uint64_t block)
{
    /* Fibonacci hashing: consecutive blocks spread over the buckets. */
    return (uint32_t)((block * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & cache->bucket_mask;
}

static uint32_t index_of(const dw_cache *cache, const dw_page *page)
{
    return (uint32_t)(page - cache->pages);
}

static dw_page *lookup(dw_cache *cache, uint64_t block)
{
    for (uint32_t i = cache->buckets[bucket_of(cache, block)]; i != DW_PAGE_NONE; i = cache->pages[i].next) {
        if (cache->pages[i].block == block) {
            return &cache->pages[i];
        }
    }
    return NULL;
}

static void hash_insert(dw_cache *cache, dw_page *page)
{
    uint32_t bucket = bucket_of(cache, page->block);
    page->next = cache->buckets[bucket];
    cache->buckets[bucket] = index_of(cache, page);
}

static void hash_remove(dw_cache *cache, dw_page *page)
{
    uint32_t *link = &cache->buckets[bucket_of(cache, page->block)];
    uint32_t index = index_of(cache, page);
    while (*link != index) {
        DW_ASSERT(*link != DW_PAGE_NONE);
        link = &cache->pages[*link].next;
    }
    *link = page->next;
    page->next = DW_PAGE_NONE;
}

/* Empties a frame (which must be clean, unpinned and outside any transaction). */
static void forget(dw_cache *cache, dw_page *page)
{
    DW_ASSERT(page->pins == 0 && page->undo == 0);
    if (page->block != DW_BLOCK_NONE) {
        hash_remove(cache, page);
    }
    if (page->dirty) {
        cache->dirty_count--;
    }
    page->block = DW_BLOCK_NONE;
    page->dirty = false;
    page->pending = false;
    page->referenced = false;
    page->discard = false;
    page->loading = false;
    page->homing = false;
    page->page_lsn = DW_LSN_NONE;
    page->rec_lsn = DW_LSN_NONE;
}

/* A free frame, evicting a clean unpinned page if need be (second-chance clock). */
static dw_page *free_frame(dw_cache *cache, dw_diag *diag)
{
    for (uint32_t step = 0; step < 2 * cache->capacity; step++) {
        dw_page *page = &cache->pages[cache->hand];
        cache->hand = (cache->hand + 1) % cache->capacity;
        if (page->block == DW_BLOCK_NONE) {
            return page;
        }
        if (page->pins > 0 || page->dirty || page->undo != 0) {
            continue;
        }
        if (page->referenced) {
            page->referenced = false;
            continue;
        }
        forget(cache, page);
        cache->stats.evictions++;
        return page;
    }
    (void)dw_diag_fail(diag, DW_EBUSY, "raise memory.cache_pages, or commit smaller transactions",
                       "the page cache's %u pages are all dirty or in use", cache->capacity);
    return NULL;
}

static void pin(dw_page *page)
{
    page->pins++;
    page->referenced = true;
}

/* The check of a block read from the device, and the message of a failed one. */
static int check_loaded(dw_cache *cache, dw_page *page, uint64_t block, uint32_t type, bool check_generation,
                        uint32_t generation, dw_diag *diag)
{
    uint64_t address = block * cache->block_size;
    dw_trailer_check check =
        dw_trailer_verify(page->data, cache->block_size, address, type, check_generation, generation);
    if (check == DW_TRAILER_CHECKSUM && cache->fresh != NULL &&
        cache->fresh(cache->fresh_context, block, type, page->data)) {
        check = DW_TRAILER_OK;
    }
    if (check == DW_TRAILER_OK) {
        return DW_OK;
    }
    char expected[5];
    char found[5];
    dw_block_type_text(type, expected);
    dw_block_type_text(dw_trailer_type(page->data, cache->block_size), found);
    return dw_diag_fail(diag, DW_ECORRUPT, "run 'dw vde verify' on it to see all the damage",
                        "'%s': block %llu (offset %llu): %s (expected a %s block%s, found %s generation %u)",
                        cache->device->path, (unsigned long long)block, (unsigned long long)address,
                        dw_trailer_check_name(check), expected, check_generation ? " of that generation" : "",
                        check == DW_TRAILER_CHECKSUM ? "garbage" : found,
                        dw_trailer_generation(page->data, cache->block_size));
}

/* A hit: the page is pinned. A cached page was checked when it was read (or made here),
 * so a type or generation other than the one asked for means the pointer that led here
 * is wrong: a damaged block named this one (an extent over an index node, say). That is
 * damage to report, as a read of it from the device would, not a state to stop on. */
static int hit(dw_cache *cache, dw_page *page, uint32_t type, bool check_generation, uint32_t generation,
               dw_diag *diag)
{
    uint32_t found_type = dw_page_type(cache, page);
    uint32_t found_generation = dw_page_generation(cache, page);
    if (found_type != type || (check_generation && found_generation != generation)) {
        char expected[5];
        char found[5];
        dw_block_type_text(type, expected);
        dw_block_type_text(found_type, found);
        return dw_diag_fail(diag, DW_ECORRUPT, "run 'dw vde verify' on it to see all the damage",
                            "'%s': block %llu is named as a %s block%s, but holds a %s block of generation %u",
                            cache->device->path, (unsigned long long)page->block, expected,
                            check_generation ? " of that generation" : "", found, found_generation);
    }
    cache->stats.hits++;
    pin(page);
    return DW_OK;
}

int dw_cache_read(dw_cache *cache, uint64_t block, uint32_t type, bool check_generation,
                  uint32_t generation, dw_page **page_out, dw_diag *diag)
{
    (void)pthread_mutex_lock(&cache->lock);
    dw_page *page = lookup(cache, block);
    while (page != NULL && page->loading) {
        /* Another reader is reading it: wait for that, then look again (it may have
         * failed and taken the frame away). */
        (void)pthread_cond_wait(&cache->loaded, &cache->lock);
        page = lookup(cache, block);
    }
    if (page != NULL) {
        int result = hit(cache, page, type, check_generation, generation, diag);
        (void)pthread_mutex_unlock(&cache->lock);
        *page_out = result == DW_OK ? page : NULL;
        return result;
    }
    page = free_frame(cache, diag);
    if (page == NULL) {
        (void)pthread_mutex_unlock(&cache->lock);
        return DW_EBUSY;
    }
    page->block = block;
    page->loading = true;
    hash_insert(cache, page);
    pin(page);
    cache->stats.misses++;
    (void)pthread_mutex_unlock(&cache->lock);
    /* The read and its check, with the lock released: other readers go on meanwhile. */
    int result = dw_device_read(cache->device, block, 1, page->data, diag);
    if (result == DW_OK) {
        result = check_loaded(cache, page, block, type, check_generation, generation, diag);
    }
    (void)pthread_mutex_lock(&cache->lock);
    page->loading = false;
    if (result != DW_OK) {
        page->pins--;
        forget(cache, page);
    }
    (void)pthread_cond_broadcast(&cache->loaded);
    (void)pthread_mutex_unlock(&cache->lock);
    if (result != DW_OK) {
        return result;
    }
    *page_out = page;
    return DW_OK;
}

static void set_trailer(const dw_cache *cache, dw_page *page, uint32_t type, uint32_t generation)
{
    dw_store_le32(page->data + cache->block_size - 16, type);
    dw_store_le32(page->data + cache->block_size - 12, generation);
}

uint32_t dw_page_type(const dw_cache *cache, const dw_page *page)
{
    return dw_load_le32(page->data + cache->block_size - 16);
}

uint32_t dw_page_generation(const dw_cache *cache, const dw_page *page)
{
    return dw_load_le32(page->data + cache->block_size - 12);
}

static int save_undo(dw_cache *cache, dw_page *page, bool fresh, dw_diag *diag)
{
    if (page->undo != 0) {
        return DW_OK;
    }
    if (cache->undo_count == cache->undo_capacity) {
        return dw_diag_fail(diag, DW_ENOSPC, "split it into smaller transactions, or raise memory.cache_pages",
                            "the transaction changes more than %u metadata pages, the most it may",
                            cache->undo_capacity);
    }
    uint32_t slot = cache->undo_count++;
    dw_undo_entry *entry = &cache->undo[slot];
    entry->page = index_of(cache, page);
    entry->was_dirty = page->dirty;
    entry->was_pending = page->pending;
    entry->was_rec_lsn = page->rec_lsn;
    entry->was_page_lsn = page->page_lsn;
    entry->fresh = fresh;
    if (!fresh) {
        memcpy(cache->undo_frames + (size_t)slot * cache->block_size, page->data, cache->block_size);
    }
    page->undo = slot + 1;
    return DW_OK;
}

static void mark_changed(dw_cache *cache, dw_page *page)
{
    if (!page->dirty) {
        page->dirty = true;
        cache->dirty_count++;
    }
    if (!page->pending) {
        page->pending = true;
        cache->pending[cache->pending_count++] = index_of(cache, page);
        DW_ASSERT(cache->pending_count <= cache->capacity);
    }
}

int dw_cache_create(dw_cache *cache, uint64_t block, uint32_t type, uint32_t generation, dw_page **page_out,
                    dw_diag *diag)
{
    DW_ASSERT(cache->txn_open);
    dw_page *page = lookup(cache, block);
    if (page != NULL) {
        /* A block freed earlier and allocated again: its stale frame must go first. */
        DW_ASSERT(page->pins == 0 && !page->dirty && page->undo == 0);
        forget(cache, page);
    }
    page = free_frame(cache, diag);
    if (page == NULL) {
        return DW_EBUSY;
    }
    page->block = block;
    hash_insert(cache, page);
    int result = save_undo(cache, page, true, diag);
    if (result != DW_OK) {
        forget(cache, page);
        return result;
    }
    memset(page->data, 0, cache->block_size);
    set_trailer(cache, page, type, generation);
    mark_changed(cache, page);
    pin(page);
    *page_out = page;
    return DW_OK;
}

void dw_cache_unpin(dw_cache *cache, dw_page *page)
{
    (void)pthread_mutex_lock(&cache->lock);
    DW_ASSERT(page->pins > 0);
    page->pins--;
    (void)pthread_mutex_unlock(&cache->lock);
}

int dw_cache_modify(dw_cache *cache, dw_page *page, uint32_t generation, dw_diag *diag)
{
    DW_ASSERT(cache->txn_open && page->pins > 0 && !page->discard);
    int result = save_undo(cache, page, false, diag);
    if (result != DW_OK) {
        return result;
    }
    mark_changed(cache, page);
    set_trailer(cache, page, dw_page_type(cache, page), generation);
    return DW_OK;
}

void dw_cache_discard(dw_cache *cache, dw_page *page)
{
    DW_ASSERT(cache->txn_open && page->undo != 0);
    page->discard = true;
}

int dw_cache_drop(dw_cache *cache, uint64_t block, uint32_t generation, dw_diag *diag)
{
    DW_ASSERT(cache->txn_open);
    dw_page *page = lookup(cache, block);
    if (page == NULL) {
        return DW_OK;
    }
    DW_ASSERT(!page->loading);
    if (page->discard || page->pins > 0 || dw_page_type(cache, page) != DW_BLOCK_DATA) {
        /* Freed twice in one transaction, in use, or another kind of block: two owners
         * claim it, which only damage makes. */
        return dw_diag_fail(diag, DW_ECORRUPT, "run 'dw vde verify' on it to see all the damage",
                            "'%s': data block %llu is freed, but the cache holds it as %s",
                            cache->device->path, (unsigned long long)block,
                            page->discard ? "freed already" : page->pins > 0 ? "in use" : "another kind of block");
    }
    if (!page->dirty && page->undo == 0) {
        /* Clean: its home holds it, so it is simply forgotten; an abort reads it again. */
        forget(cache, page);
        return DW_OK;
    }
    pin(page);
    int result = dw_cache_modify(cache, page, generation, diag);
    if (result == DW_OK) {
        dw_cache_discard(cache, page);
    }
    page->pins--;
    return result;
}

void dw_cache_txn_begin(dw_cache *cache)
{
    DW_ASSERT(!cache->txn_open && cache->undo_count == 0);
    cache->txn_open = true;
}

uint32_t dw_cache_txn_pages(const dw_cache *cache)
{
    return cache->undo_count;
}

static void remove_pending(dw_cache *cache, uint32_t index)
{
    for (uint32_t i = 0; i < cache->pending_count; i++) {
        if (cache->pending[i] == index) {
            memmove(&cache->pending[i], &cache->pending[i + 1], (cache->pending_count - i - 1) * sizeof(uint32_t));
            cache->pending_count--;
            return;
        }
    }
    DW_UNREACHABLE();
}

void dw_cache_txn_commit(dw_cache *cache)
{
    DW_ASSERT(cache->txn_open);
    for (uint32_t i = 0; i < cache->undo_count; i++) {
        dw_page *page = &cache->pages[cache->undo[i].page];
        page->undo = 0;
        if (page->discard) {
            /* Its block is free now: no image of it needs writing anywhere. */
            if (page->pending) {
                page->pending = false;
                remove_pending(cache, cache->undo[i].page);
            }
            DW_ASSERT(page->pins == 0);
            forget(cache, page);
        }
    }
    cache->undo_count = 0;
    cache->txn_open = false;
}

void dw_cache_txn_abort(dw_cache *cache)
{
    DW_ASSERT(cache->txn_open);
    /* Newest first, so that each page gets back its state from before the transaction. */
    for (uint32_t i = cache->undo_count; i-- > 0;) {
        const dw_undo_entry *entry = &cache->undo[i];
        dw_page *page = &cache->pages[entry->page];
        DW_ASSERT(page->pins == 0);
        page->undo = 0;
        page->discard = false;
        if (page->pending && !entry->was_pending) {
            page->pending = false;
            remove_pending(cache, entry->page);
        }
        if (entry->fresh) {
            forget(cache, page);
            continue;
        }
        memcpy(page->data, cache->undo_frames + (size_t)i * cache->block_size, cache->block_size);
        if (page->dirty && !entry->was_dirty) {
            cache->dirty_count--;
        }
        page->dirty = entry->was_dirty;
        page->rec_lsn = entry->was_rec_lsn;
        page->page_lsn = entry->was_page_lsn;
    }
    cache->undo_count = 0;
    cache->txn_open = false;
}

uint32_t dw_cache_pending_count(const dw_cache *cache)
{
    return cache->pending_count;
}

dw_page *dw_cache_pending_page(dw_cache *cache, uint32_t index)
{
    DW_ASSERT(index < cache->pending_count);
    return &cache->pages[cache->pending[index]];
}

void dw_cache_logged(dw_cache *cache, uint64_t lsn)
{
    DW_ASSERT(!cache->txn_open);
    for (uint32_t i = 0; i < cache->pending_count; i++) {
        dw_page *page = &cache->pages[cache->pending[i]];
        DW_ASSERT(page->pending && page->dirty);
        page->pending = false;
        page->page_lsn = lsn;
        if (page->rec_lsn == DW_LSN_NONE) {
            page->rec_lsn = lsn;
        }
    }
    cache->pending_count = 0;
}

static bool may_go_home(const dw_page *page, uint64_t durable_lsn)
{
    return page->dirty && !page->homing && !page->pending && page->undo == 0 && page->pins == 0 && page->page_lsn != DW_LSN_NONE &&
           page->page_lsn <= durable_lsn;
}

/* The rec_lsn at or below which about `limit` of the pages that may go home lie, so a
 * bounded step writes the oldest ones: those are what holds the log's tail. Two passes
 * over the frames and 64 counters on the stack, no sort. */
#define LSN_BUCKETS 64

static uint64_t oldest_cutoff(const dw_cache *cache, uint64_t durable_lsn, uint32_t limit)
{
    uint64_t low = DW_LSN_NONE;
    uint64_t high = 0;
    uint32_t eligible = 0;
    for (uint32_t i = 0; i < cache->capacity; i++) {
        const dw_page *page = &cache->pages[i];
        if (may_go_home(page, durable_lsn)) {
            low = page->rec_lsn < low ? page->rec_lsn : low;
            high = page->rec_lsn > high ? page->rec_lsn : high;
            eligible++;
        }
    }
    if (eligible <= limit) {
        return DW_LSN_NONE;
    }
    uint64_t width = (high - low) / LSN_BUCKETS + 1;
    uint32_t counts[LSN_BUCKETS] = {0};
    for (uint32_t i = 0; i < cache->capacity; i++) {
        const dw_page *page = &cache->pages[i];
        if (may_go_home(page, durable_lsn)) {
            counts[(page->rec_lsn - low) / width]++;
        }
    }
    uint32_t taken = 0;
    for (uint32_t b = 0; b < LSN_BUCKETS; b++) {
        taken += counts[b];
        if (taken >= limit) {
            return low + (uint64_t)(b + 1) * width - 1;
        }
    }
    return DW_LSN_NONE;
}

int dw_cache_write_home(dw_cache *cache, uint64_t durable_lsn, uint32_t limit, dw_diag *diag)
{
    uint64_t cutoff = limit < cache->capacity ? oldest_cutoff(cache, durable_lsn, limit) : DW_LSN_NONE;
    uint32_t written = 0;
    for (uint32_t i = 0; i < cache->capacity && written < limit; i++) {
        dw_page *page = &cache->pages[i];
        if (!may_go_home(page, durable_lsn) || page->rec_lsn > cutoff) {
            continue;
        }
        uint64_t address = page->block * cache->block_size;
        dw_trailer_seal(page->data, cache->block_size, address, dw_page_type(cache, page),
                        dw_page_generation(cache, page));
        int result = dw_device_write_async(cache->device, page->block, 1, page->data, diag);
        if (result != DW_OK) {
            return result;
        }
        page->homing = true;
        written++;
    }
    /* The frames stay dirty (so unevictable) and unchanged until the writes finish: the
     * caller drains and syncs, with the writer lock held, then calls dw_cache_homed. */
    return (int)written;
}

void dw_cache_homed(dw_cache *cache, bool written)
{
    for (uint32_t i = 0; i < cache->capacity; i++) {
        dw_page *page = &cache->pages[i];
        if (!page->homing) {
            continue;
        }
        DW_ASSERT(page->dirty && !page->pending && page->undo == 0);
        page->homing = false;
        if (written) {
            page->dirty = false;
            page->rec_lsn = DW_LSN_NONE;
            page->page_lsn = DW_LSN_NONE;
            cache->dirty_count--;
            cache->stats.written_home++;
        }
    }
}

uint64_t dw_cache_oldest_needed(const dw_cache *cache)
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

bool dw_cache_oldest_is_pending(const dw_cache *cache)
{
    const dw_page *oldest = NULL;
    for (uint32_t i = 0; i < cache->capacity; i++) {
        const dw_page *page = &cache->pages[i];
        if (page->dirty && page->rec_lsn != DW_LSN_NONE && (oldest == NULL || page->rec_lsn < oldest->rec_lsn)) {
            oldest = page;
        }
    }
    return oldest != NULL && oldest->pending;
}

void dw_cache_forget_clean(dw_cache *cache)
{
    for (uint32_t i = 0; i < cache->capacity; i++) {
        dw_page *page = &cache->pages[i];
        if (page->block != DW_BLOCK_NONE && !page->dirty && page->pins == 0 && page->undo == 0) {
            forget(cache, page);
        }
    }
}

void dw_cache_stats_read(const dw_cache *cache, dw_cache_stats *stats)
{
    *stats = cache->stats;
    stats->dirty = cache->dirty_count;
    stats->pending = cache->pending_count;
}
