/*
 * cache.c — see cache.h.
 *
 * The lock-free hit (find_pinned) and what it relies on, in short. Chains change only
 * under `lock` (or with readers kept out), each link stored with release and loaded with
 * acquire, so a reader walking one always follows a frame that is or was in some chain;
 * a chain changed under it can only make it miss, and a miss goes the locked way, which
 * finds what is there. What makes a found frame safe is the pin: every change of `pins`
 * is a read-modify-write, so a frame's claim (0 to DW_PAGE_CLAIMED, only when unpinned)
 * and a reader's pin are ordered one way or the other. A pin that lands first makes the
 * claim fail; one that lands on a claim is let go; one that lands after the frame was
 * handed to its new owner sees (through that release) the new block and `loading`, and
 * so lets go too. A failed load takes its frame away while still pinned, so it stores
 * the frame's block as none before it clears `loading`, and a reader loads them the
 * other way round.
 */
#include "vde/cache.h"

#include <string.h>

#include "core/assert.h"
#include "core/bits.h"
#include "core/endian.h"
#include "core/error.h"
#include "vde/format.h"

/* A lock-free walk of one chain gives up (and takes the lock) after this many frames: a
 * chain has about one (there are at least as many buckets as frames), and a walk that
 * frames moving between chains sent astray must not run on. */
#define CHAIN_STEPS_MAX 32u

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
     * number) keeps the undo entries aligned, and frame headers and slots each fill a
     * cache line of their own. */
    uint64_t state = round_up((uint64_t)capacity * sizeof(dw_page)) +
                     round_up((uint64_t)bucket_count_for(capacity) * sizeof(uint32_t)) +
                     round_up((uint64_t)capacity * sizeof(uint32_t)) +
                     round_up((uint64_t)capacity * sizeof(uint32_t)) +
                     round_up((uint64_t)capacity * sizeof(dw_cache_link)) +
                     round_up((uint64_t)undo_capacity * sizeof(dw_undo_entry)) +
                     round_up((uint64_t)DW_CACHE_SLOTS * sizeof(dw_cache_slot));
    int result = dw_arena_plan(arena, "page cache", frames, DW_ARENA_ALIGNMENT_MAX, &plan->frames_piece, diag);
    if (result == DW_OK) {
        result = dw_arena_plan(arena, "page cache state", state, 64, &plan->state_piece, diag);
    }
    return result;
}

static void open_frames(dw_cache *cache, unsigned char *frames)
{
    for (uint32_t i = 0; i <= cache->bucket_mask; i++) {
        atomic_init(&cache->buckets[i], DW_PAGE_NONE);
    }
    for (uint32_t i = 0; i < cache->capacity; i++) {
        dw_page *page = &cache->pages[i];
        memset(page, 0, sizeof *page);
        atomic_init(&page->block, DW_BLOCK_NONE);
        page->data = frames + (size_t)i * cache->block_size;
        page->page_lsn = DW_LSN_NONE;
        page->rec_lsn = DW_LSN_NONE;
        atomic_init(&page->pins, 0);
        atomic_init(&page->next, DW_PAGE_NONE);
        atomic_init(&page->referenced, false);
        atomic_init(&page->loading, false);
        atomic_init(&page->checked, false);
        cache->logged_links[i].prev = DW_PAGE_NONE;
        cache->logged_links[i].next = DW_PAGE_NONE;
    }
    cache->logged_head = DW_PAGE_NONE;
    cache->logged_tail = DW_PAGE_NONE;
    cache->logged_count = 0;
    for (uint32_t i = 0; i < DW_CACHE_SLOTS; i++) {
        dw_cache_slot *slot = &cache->slots[i];
        memset(slot, 0, sizeof *slot);
        atomic_init(&slot->hits, 0);
        atomic_init(&slot->misses, 0);
        atomic_init(&slot->evictions, 0);
    }
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
    DW_ASSERT(((uintptr_t)state & 63) == 0);
    uint32_t buckets = bucket_count_for(plan->capacity);
    cache->pages = (dw_page *)(void *)state;
    state += round_up((uint64_t)plan->capacity * sizeof(dw_page));
    cache->buckets = (_Atomic uint32_t *)(void *)state;
    state += round_up((uint64_t)buckets * sizeof(uint32_t));
    cache->pending = (uint32_t *)(void *)state;
    state += round_up((uint64_t)plan->capacity * sizeof(uint32_t));
    cache->homing = (uint32_t *)(void *)state;
    state += round_up((uint64_t)plan->capacity * sizeof(uint32_t));
    cache->logged_links = (dw_cache_link *)(void *)state;
    state += round_up((uint64_t)plan->capacity * sizeof(dw_cache_link));
    cache->undo = (dw_undo_entry *)(void *)state;
    state += round_up((uint64_t)plan->undo_capacity * sizeof(dw_undo_entry));
    cache->slots = (dw_cache_slot *)(void *)state;
    cache->bucket_mask = buckets - 1;
    open_frames(cache, frames);
    for (uint32_t i = 0; i < DW_CACHE_SCAN_FRAMES; i++) {
        cache->scan_frames[i] = DW_PAGE_NONE;
    }
    cache->scan_next = 0;
    atomic_init(&cache->slots_given, 0);
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

/* ---- per-thread slots --------------------------------------------------------------------- */

/* The slot this thread was given by the cache it last asked, and which cache that was. A
 * thread that moves between caches is given a new slot each time: any slot is correct,
 * only sharing one with a busy thread costs. */
static _Thread_local const dw_cache *slot_cache;
static _Thread_local uint32_t slot_given;

uint32_t dw_cache_thread_slot(dw_cache *cache)
{
    if (slot_cache != cache) {
        slot_given = atomic_fetch_add_explicit(&cache->slots_given, 1, memory_order_relaxed) % DW_CACHE_SLOTS;
        slot_cache = cache;
    }
    DW_ASSERT(slot_given < DW_CACHE_SLOTS);
    return slot_given;
}

/* ---- scans ------------------------------------------------------------------------------ */

/* The cache this thread is scanning, NULL when none (see dw_cache_scan_begin). */
static _Thread_local const dw_cache *scan_cache;

void dw_cache_scan_begin(dw_cache *cache)
{
    DW_ASSERT(scan_cache == NULL);
    scan_cache = cache;
}

void dw_cache_scan_end(dw_cache *cache)
{
    DW_ASSERT(scan_cache == cache);
    scan_cache = NULL;
}

static bool scanning(const dw_cache *cache)
{
    return scan_cache == cache;
}

/* A use of the frame marks it referenced for the clock, unless it is a scan's. */
static void referenced_by_use(const dw_cache *cache, dw_page *page)
{
    if (!scanning(cache) && !atomic_load_explicit(&page->referenced, memory_order_relaxed)) {
        atomic_store_explicit(&page->referenced, true, memory_order_relaxed);
    }
}

static void count(_Atomic uint64_t *counter)
{
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

static dw_cache_slot *my_slot(dw_cache *cache)
{
    return &cache->slots[dw_cache_thread_slot(cache)];
}

/* ---- the hash ----------------------------------------------------------------------------- */

static uint32_t bucket_of(const dw_cache *cache, uint64_t block)
{
    /* Fibonacci hashing: consecutive blocks spread over the buckets. */
    return (uint32_t)((block * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & cache->bucket_mask;
}

static uint32_t index_of(const dw_cache *cache, const dw_page *page)
{
    return (uint32_t)(page - cache->pages);
}

/* What the frame holds, read by whoever may change it (under `lock`, or the writer). */
static uint64_t block_of(const dw_page *page)
{
    return atomic_load_explicit(&page->block, memory_order_relaxed);
}

static uint32_t pins_of(const dw_page *page)
{
    return atomic_load_explicit(&page->pins, memory_order_relaxed);
}

/* The lookup of whoever may change chains: they hold still meanwhile. */
static dw_page *lookup(dw_cache *cache, uint64_t block)
{
    uint32_t i = atomic_load_explicit(&cache->buckets[bucket_of(cache, block)], memory_order_relaxed);
    for (uint32_t step = 0; i != DW_PAGE_NONE; step++) {
        DW_ASSERT(step < cache->capacity && i < cache->capacity);
        dw_page *page = &cache->pages[i];
        if (block_of(page) == block) {
            return page;
        }
        i = atomic_load_explicit(&page->next, memory_order_relaxed);
    }
    return NULL;
}

/* Links a frame in at the head of its chain, its own link first: a reader that loads the
 * new head (acquire) follows a whole chain. */
static void hash_insert(dw_cache *cache, dw_page *page)
{
    _Atomic uint32_t *head = &cache->buckets[bucket_of(cache, block_of(page))];
    atomic_store_explicit(&page->next, atomic_load_explicit(head, memory_order_relaxed), memory_order_relaxed);
    atomic_store_explicit(head, index_of(cache, page), memory_order_release);
}

/* Unlinks a frame. A reader standing on it may still follow its old link (into the rest
 * of the chain) or, once the frame is in another chain, lose its way: that is a miss,
 * which goes the locked way. */
static void hash_remove(dw_cache *cache, dw_page *page)
{
    _Atomic uint32_t *link = &cache->buckets[bucket_of(cache, block_of(page))];
    uint32_t index = index_of(cache, page);
    for (uint32_t step = 0;; step++) {
        uint32_t at = atomic_load_explicit(link, memory_order_relaxed);
        DW_ASSERT(at != DW_PAGE_NONE && step < cache->capacity);
        if (at == index) {
            break;
        }
        link = &cache->pages[at].next;
    }
    atomic_store_explicit(link, atomic_load_explicit(&page->next, memory_order_relaxed), memory_order_release);
    atomic_store_explicit(&page->next, DW_PAGE_NONE, memory_order_release);
}

/* ---- frames changing hands ---------------------------------------------------------------- */

/* Takes an unpinned frame for its next use (under `lock`, or the writer): fails while
 * anyone holds a pin on it, and from here on a reader's pin lets go at once. */
static bool claim(dw_page *page)
{
    uint32_t unpinned = 0;
    return atomic_compare_exchange_strong_explicit(&page->pins, &unpinned, DW_PAGE_CLAIMED, memory_order_acq_rel,
                                                   memory_order_relaxed);
}

/* The claimed frame, now holding its new block, pinned once by its new owner: a reader
 * whose pin follows this sees (release) what the frame holds now. */
static void hand_over(dw_page *page)
{
    uint32_t before = atomic_fetch_add_explicit(&page->pins, 1u - DW_PAGE_CLAIMED, memory_order_acq_rel);
    DW_ASSERT((before & DW_PAGE_CLAIMED) != 0);
}

/* The claimed frame back as free and unpinned. */
static void unclaim(dw_page *page)
{
    uint32_t before = atomic_fetch_sub_explicit(&page->pins, DW_PAGE_CLAIMED, memory_order_release);
    DW_ASSERT((before & DW_PAGE_CLAIMED) != 0);
}

/* A pin by whoever holds `lock` or is the writer, on a hashed frame: never a claimed one,
 * as a claim is resolved before the lock is let go. */
static void pin(const dw_cache *cache, dw_page *page)
{
    uint32_t before = atomic_fetch_add_explicit(&page->pins, 1, memory_order_acq_rel);
    DW_ASSERT((before & DW_PAGE_CLAIMED) == 0);
    DW_ASSERT(before < DW_PAGE_CLAIMED - 1);
    referenced_by_use(cache, page);
}

/* ---- the logged list ------------------------------------------------------------------- */

/* Whether the frame is on the logged list: what the list holds, said once. */
static bool on_logged_list(const dw_page *page)
{
    return page->dirty && page->rec_lsn != DW_LSN_NONE;
}

/* The frame was just logged for the first time since it was home. Every frame logged
 * before it was logged at an LSN no later, so the tail is where it belongs. */
static void logged_append(dw_cache *cache, dw_page *page)
{
    uint32_t index = index_of(cache, page);
    dw_cache_link *link = &cache->logged_links[index];
    DW_ASSERT(on_logged_list(page));
    DW_ASSERT(link->prev == DW_PAGE_NONE);
    DW_ASSERT(link->next == DW_PAGE_NONE);
    DW_ASSERT(cache->logged_head != index);
    uint32_t tail = cache->logged_tail;
    if (tail == DW_PAGE_NONE) {
        DW_ASSERT(cache->logged_head == DW_PAGE_NONE);
        DW_ASSERT(cache->logged_count == 0);
        cache->logged_head = index;
    } else {
        DW_ASSERT(cache->pages[tail].rec_lsn <= page->rec_lsn);
        DW_ASSERT(cache->logged_links[tail].next == DW_PAGE_NONE);
        cache->logged_links[tail].next = index;
    }
    link->prev = tail;
    cache->logged_tail = index;
    cache->logged_count++;
    DW_ASSERT(cache->logged_count <= cache->dirty_count);
}

/* Takes the frame off the list, before it stops being dirty or loses its rec_lsn. */
static void logged_remove(dw_cache *cache, dw_page *page)
{
    uint32_t index = index_of(cache, page);
    dw_cache_link *link = &cache->logged_links[index];
    DW_ASSERT(on_logged_list(page));
    DW_ASSERT(cache->logged_count > 0);
    if (link->prev == DW_PAGE_NONE) {
        DW_ASSERT(cache->logged_head == index);
        cache->logged_head = link->next;
    } else {
        DW_ASSERT(cache->logged_links[link->prev].next == index);
        cache->logged_links[link->prev].next = link->next;
    }
    if (link->next == DW_PAGE_NONE) {
        DW_ASSERT(cache->logged_tail == index);
        cache->logged_tail = link->prev;
    } else {
        DW_ASSERT(cache->logged_links[link->next].prev == index);
        cache->logged_links[link->next].prev = link->prev;
    }
    link->prev = DW_PAGE_NONE;
    link->next = DW_PAGE_NONE;
    cache->logged_count--;
}

/* Empties a frame, which must be clean, outside any transaction and held by no one: the
 * writer's (unpinned), or claimed (readers may still be letting go of pins that found
 * the claim). */
static void forget(dw_cache *cache, dw_page *page)
{
    uint32_t pins = pins_of(page);
    DW_ASSERT(pins == 0 || (pins & DW_PAGE_CLAIMED) != 0);
    DW_ASSERT(page->undo == 0);
    if (block_of(page) != DW_BLOCK_NONE) {
        hash_remove(cache, page);
    }
    /* Only the writer forgets a dirty frame (one its transaction discarded); readers
     * evict clean ones, which are never on the list, so they never change it. */
    if (on_logged_list(page)) {
        logged_remove(cache, page);
    }
    if (page->dirty) {
        cache->dirty_count--;
    }
    atomic_store_explicit(&page->block, DW_BLOCK_NONE, memory_order_release);
    page->dirty = false;
    page->pending = false;
    atomic_store_explicit(&page->referenced, false, memory_order_relaxed);
    page->discard = false;
    atomic_store_explicit(&page->loading, false, memory_order_release);
    atomic_store_explicit(&page->checked, false, memory_order_relaxed);
    page->homing = false;
    page->page_lsn = DW_LSN_NONE;
    page->rec_lsn = DW_LSN_NONE;
}

/* A free frame, claimed, evicting a clean unpinned page if need be (second-chance
 * clock). A frame some reader holds a pin on, even one about to let go, is passed over. */
static dw_page *free_frame(dw_cache *cache, dw_diag *diag)
{
    for (uint32_t step = 0; step < 2 * cache->capacity; step++) {
        dw_page *page = &cache->pages[cache->hand];
        cache->hand = (cache->hand + 1) % cache->capacity;
        if (pins_of(page) != 0 || page->dirty || page->undo != 0) {
            continue;
        }
        bool empty = block_of(page) == DW_BLOCK_NONE;
        if (!empty && atomic_load_explicit(&page->referenced, memory_order_relaxed)) {
            atomic_store_explicit(&page->referenced, false, memory_order_relaxed);
            continue;
        }
        if (!claim(page)) {
            continue; /* pinned since */
        }
        if (!empty) {
            forget(cache, page);
            count(&my_slot(cache)->evictions);
        }
        DW_ASSERT(block_of(page) == DW_BLOCK_NONE);
        return page;
    }
    (void)dw_diag_fail(diag, DW_EBUSY, "raise memory.cache_pages, or commit smaller transactions",
                       "the page cache's %u pages are all dirty or in use", cache->capacity);
    return NULL;
}

/* ---- trailers ---------------------------------------------------------------------------- */

static void set_trailer(const dw_cache *cache, dw_page *page, uint32_t type, uint32_t generation)
{
    dw_store_le32(page->data + cache->block_size - 16, type);
    dw_store_le32(page->data + cache->block_size - 12, generation);
    page->type = type;
    page->generation = generation;
}

/* The header's copy of the trailer, after the page's bytes came from elsewhere. */
static void keep_trailer(const dw_cache *cache, dw_page *page)
{
    page->type = dw_page_type(cache, page);
    page->generation = dw_page_generation(cache, page);
}

uint32_t dw_page_type(const dw_cache *cache, const dw_page *page)
{
    return dw_load_le32(page->data + cache->block_size - 16);
}

uint32_t dw_page_generation(const dw_cache *cache, const dw_page *page)
{
    return dw_load_le32(page->data + cache->block_size - 12);
}

bool dw_page_checked(const dw_page *page)
{
    return atomic_load_explicit(&page->checked, memory_order_acquire);
}

void dw_page_mark_checked(dw_page *page)
{
    DW_ASSERT(atomic_load_explicit(&page->pins, memory_order_relaxed) > 0);
    if (!atomic_load_explicit(&page->checked, memory_order_relaxed)) {
        atomic_store_explicit(&page->checked, true, memory_order_release);
    }
}

/* ---- reads -------------------------------------------------------------------------------- */

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

/* A hit, pinned already. A cached page was checked when it was read (or made here), so
 * a type or generation other than the one asked for means the pointer that led here is
 * wrong: a damaged block named this one (an extent over an index node, say). That is
 * damage to report, as a read of it from the device would, not a state to stop on. */
static int hit(dw_cache *cache, dw_page *page, uint64_t block, uint32_t type, bool check_generation,
               uint32_t generation, dw_diag *diag)
{
    DW_ASSERT(pins_of(page) > 0 && block_of(page) == block);
    uint32_t found_type = page->type;
    uint32_t found_generation = page->generation;
    if (found_type != type || (check_generation && found_generation != generation)) {
        dw_cache_unpin(cache, page);
        char expected[5];
        char found[5];
        dw_block_type_text(type, expected);
        dw_block_type_text(found_type, found);
        return dw_diag_fail(diag, DW_ECORRUPT, "run 'dw vde verify' on it to see all the damage",
                            "'%s': block %llu is named as a %s block%s, but holds a %s block of generation %u",
                            cache->device->path, (unsigned long long)block, expected,
                            check_generation ? " of that generation" : "", found, found_generation);
    }
    count(&my_slot(cache)->hits);
    return DW_OK;
}

/* The pin of a cached, loaded frame holding `block`, without the lock; NULL when there is
 * none, or it is being loaded, or it changed hands under the walk (then the locked way
 * decides). */
static dw_page *find_pinned(dw_cache *cache, uint64_t block)
{
    uint32_t i = atomic_load_explicit(&cache->buckets[bucket_of(cache, block)], memory_order_acquire);
    for (uint32_t step = 0; i != DW_PAGE_NONE && step < CHAIN_STEPS_MAX; step++) {
        DW_ASSERT(i < cache->capacity);
        dw_page *page = &cache->pages[i];
        if (atomic_load_explicit(&page->block, memory_order_acquire) != block) {
            i = atomic_load_explicit(&page->next, memory_order_acquire);
            continue;
        }
        uint32_t before = atomic_fetch_add_explicit(&page->pins, 1, memory_order_acq_rel);
        DW_ASSERT((before & ~DW_PAGE_CLAIMED) < DW_PAGE_CLAIMED - 1);
        /* `loading` first: a failed load clears it only after its frame's block is none. */
        if ((before & DW_PAGE_CLAIMED) == 0 && !atomic_load_explicit(&page->loading, memory_order_acquire) &&
            atomic_load_explicit(&page->block, memory_order_acquire) == block) {
            referenced_by_use(cache, page);
            return page;
        }
        atomic_fetch_sub_explicit(&page->pins, 1, memory_order_release);
        return NULL;
    }
    return NULL;
}

/* A scan's miss, with `lock` held: the frame a scan loaded longest ago of the last few,
 * claimed, when no one has used it since (unreferenced), nor holds it or changed it; or
 * NULL, and the clock finds one. */
static dw_page *scan_frame(dw_cache *cache)
{
    uint32_t index = cache->scan_frames[cache->scan_next];
    if (index == DW_PAGE_NONE) {
        return NULL;
    }
    DW_ASSERT(index < cache->capacity);
    dw_page *page = &cache->pages[index];
    if (pins_of(page) != 0 || page->dirty || page->undo != 0 ||
        atomic_load_explicit(&page->referenced, memory_order_relaxed) || !claim(page)) {
        return NULL;
    }
    if (block_of(page) != DW_BLOCK_NONE) {
        forget(cache, page);
        count(&my_slot(cache)->evictions);
    }
    return page;
}

/* A miss, with `lock` held: a frame for the block, hashed as loading and pinned, or NULL
 * when none is free. A scan's page comes in unreferenced, in a frame scans recycle. */
static dw_page *start_load(dw_cache *cache, uint64_t block, dw_diag *diag)
{
    bool scan = scanning(cache);
    dw_page *page = scan ? scan_frame(cache) : NULL;
    if (page == NULL) {
        page = free_frame(cache, diag);
    }
    if (page == NULL) {
        return NULL;
    }
    DW_ASSERT(block_of(page) == DW_BLOCK_NONE);
    atomic_store_explicit(&page->loading, true, memory_order_relaxed);
    atomic_store_explicit(&page->block, block, memory_order_relaxed);
    hash_insert(cache, page);
    hand_over(page);
    atomic_store_explicit(&page->referenced, !scan, memory_order_relaxed);
    if (scan) {
        cache->scan_frames[cache->scan_next] = index_of(cache, page);
        cache->scan_next = (cache->scan_next + 1) % DW_CACHE_SCAN_FRAMES;
    }
    count(&my_slot(cache)->misses);
    return page;
}

/* The load is over, with `lock` held. A loaded frame is published by clearing `loading`
 * (release: its bytes come with it); a failed one is taken away while still pinned, its
 * block none before `loading` is cleared (see the top of this file). */
static void finish_load(dw_cache *cache, dw_page *page, bool loaded)
{
    DW_ASSERT(atomic_load_explicit(&page->loading, memory_order_relaxed));
    if (!loaded) {
        hash_remove(cache, page);
        atomic_store_explicit(&page->block, DW_BLOCK_NONE, memory_order_release);
        atomic_store_explicit(&page->referenced, false, memory_order_relaxed);
        atomic_store_explicit(&page->checked, false, memory_order_relaxed);
    }
    atomic_store_explicit(&page->loading, false, memory_order_release);
    if (!loaded) {
        dw_cache_unpin(cache, page);
    }
    (void)pthread_cond_broadcast(&cache->loaded);
}

/* The slow way: under `lock`, waiting for another reader's load of the block, or loading
 * it (the read itself with the lock released). */
static int read_locked(dw_cache *cache, uint64_t block, uint32_t type, bool check_generation, uint32_t generation,
                       dw_page **page_out, dw_diag *diag)
{
    (void)pthread_mutex_lock(&cache->lock);
    dw_page *page = lookup(cache, block);
    while (page != NULL && atomic_load_explicit(&page->loading, memory_order_relaxed)) {
        /* Another reader is reading it: wait for that, then look again (it may have
         * failed and taken the frame away). */
        (void)pthread_cond_wait(&cache->loaded, &cache->lock);
        page = lookup(cache, block);
    }
    if (page != NULL) {
        pin(cache, page);
        (void)pthread_mutex_unlock(&cache->lock);
        int result = hit(cache, page, block, type, check_generation, generation, diag);
        *page_out = result == DW_OK ? page : NULL;
        return result;
    }
    page = start_load(cache, block, diag);
    (void)pthread_mutex_unlock(&cache->lock);
    if (page == NULL) {
        return DW_EBUSY;
    }
    /* The read and its check, with the lock released: other readers go on meanwhile. */
    int result = dw_device_read(cache->device, block, 1, page->data, diag);
    if (result == DW_OK) {
        result = check_loaded(cache, page, block, type, check_generation, generation, diag);
    }
    if (result == DW_OK) {
        keep_trailer(cache, page); /* before it is published, with the rest of its bytes */
    }
    (void)pthread_mutex_lock(&cache->lock);
    finish_load(cache, page, result == DW_OK);
    (void)pthread_mutex_unlock(&cache->lock);
    *page_out = result == DW_OK ? page : NULL;
    return result;
}

int dw_cache_read(dw_cache *cache, uint64_t block, uint32_t type, bool check_generation,
                  uint32_t generation, dw_page **page_out, dw_diag *diag)
{
    if (block == DW_BLOCK_NONE) {
        /* What a free frame holds: only a damaged pointer names it. */
        *page_out = NULL;
        return dw_diag_fail(diag, DW_ECORRUPT, "run 'dw vde verify' on it to see all the damage",
                            "'%s': a pointer names block %llu, which no block may have", cache->device->path,
                            (unsigned long long)block);
    }
    dw_page *page = find_pinned(cache, block);
    if (page == NULL) {
        return read_locked(cache, block, type, check_generation, generation, page_out, diag);
    }
    int result = hit(cache, page, block, type, check_generation, generation, diag);
    *page_out = result == DW_OK ? page : NULL;
    return result;
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
        DW_ASSERT(pins_of(page) == 0 && !page->dirty && page->undo == 0);
        forget(cache, page);
    }
    page = free_frame(cache, diag);
    if (page == NULL) {
        return DW_EBUSY;
    }
    atomic_store_explicit(&page->block, block, memory_order_relaxed);
    hash_insert(cache, page);
    int result = save_undo(cache, page, true, diag);
    if (result != DW_OK) {
        forget(cache, page);
        unclaim(page);
        return result;
    }
    memset(page->data, 0, cache->block_size);
    set_trailer(cache, page, type, generation);
    mark_changed(cache, page);
    hand_over(page);
    atomic_store_explicit(&page->referenced, true, memory_order_relaxed);
    *page_out = page;
    return DW_OK;
}

/* Without the lock: a pin keeps its frame from changing hands, and its release lets the
 * claim that follows see everything the holder did with the frame. */
void dw_cache_unpin(dw_cache *cache, dw_page *page)
{
    DW_ASSERT(page >= cache->pages && page < cache->pages + cache->capacity);
    uint32_t before = atomic_fetch_sub_explicit(&page->pins, 1, memory_order_release);
    DW_ASSERT((before & DW_PAGE_CLAIMED) == 0);
    DW_ASSERT(before > 0);
}

int dw_cache_modify(dw_cache *cache, dw_page *page, uint32_t generation, dw_diag *diag)
{
    DW_ASSERT(cache->txn_open && pins_of(page) > 0 && !page->discard);
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
    DW_ASSERT(!atomic_load_explicit(&page->loading, memory_order_relaxed));
    uint32_t pins = pins_of(page);
    if (page->discard || pins > 0 || dw_page_type(cache, page) != DW_BLOCK_DATA) {
        /* Freed twice in one transaction, in use, or another kind of block: two owners
         * claim it, which only damage makes. */
        return dw_diag_fail(diag, DW_ECORRUPT, "run 'dw vde verify' on it to see all the damage",
                            "'%s': data block %llu is freed, but the cache holds it as %s",
                            cache->device->path, (unsigned long long)block,
                            page->discard ? "freed already" : pins > 0 ? "in use" : "another kind of block");
    }
    if (!page->dirty && page->undo == 0) {
        /* Clean: its home holds it, so it is simply forgotten; an abort reads it again. */
        forget(cache, page);
        return DW_OK;
    }
    pin(cache, page);
    int result = dw_cache_modify(cache, page, generation, diag);
    if (result == DW_OK) {
        dw_cache_discard(cache, page);
    }
    dw_cache_unpin(cache, page);
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
            DW_ASSERT(pins_of(page) == 0);
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
        DW_ASSERT(pins_of(page) == 0);
        /* Nothing logs a page or writes it home while a transaction is open, so its rec_lsn
         * and whether it was dirty before are as the transaction found them: it is on the
         * logged list, at the place it had, exactly when it was before. */
        DW_ASSERT(page->rec_lsn == entry->was_rec_lsn);
        bool was_logged = on_logged_list(page);
        page->undo = 0;
        page->discard = false;
        if (page->pending && !entry->was_pending) {
            page->pending = false;
            remove_pending(cache, entry->page);
        }
        if (entry->fresh) {
            DW_ASSERT(!was_logged);
            forget(cache, page);
            continue;
        }
        memcpy(page->data, cache->undo_frames + (size_t)i * cache->block_size, cache->block_size);
        keep_trailer(cache, page);
        atomic_store_explicit(&page->checked, false, memory_order_relaxed); /* checked again when next read */
        if (page->dirty && !entry->was_dirty) {
            cache->dirty_count--;
        }
        page->dirty = entry->was_dirty;
        page->rec_lsn = entry->was_rec_lsn;
        page->page_lsn = entry->was_page_lsn;
        DW_ASSERT(on_logged_list(page) == was_logged);
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
            logged_append(cache, page);
        }
    }
    cache->pending_count = 0;
}

static bool may_go_home(const dw_page *page, uint64_t durable_lsn)
{
    return page->dirty && !page->homing && !page->pending && page->undo == 0 && pins_of(page) == 0 &&
           page->page_lsn != DW_LSN_NONE &&
           page->page_lsn <= durable_lsn;
}

/* A step's walk of the logged list looks at up to 4 frames for each it may take, and
 * SEAL_PASSES_MIN more, then stops. The frames it passes over are those that may not go
 * home yet: readers are kept out and no transaction is open while a step runs, so they
 * are pinned ones (few, held across calls) and ones changed again since they were logged
 * (the handful every group changes: bitmaps, the index's root, an inode block), which
 * sit at the head because they were logged first. Looking at a frame costs about a
 * cache miss and sealing one a checksum of its block, so the bound adds a fraction to a
 * step's time under the state lock, and a step stays bounded even when many old frames
 * cannot go (a busy make_room that needs room flushes the group first, and a complete
 * checkpoint looks at every frame on the list). */
#define SEAL_PASSES_PER_PAGE 4u
#define SEAL_PASSES_MIN 64u

static void seal(dw_cache *cache, dw_page *page)
{
    uint64_t address = block_of(page) * cache->block_size;
    DW_ASSERT(dw_page_type(cache, page) == page->type);
    DW_ASSERT(dw_page_generation(cache, page) == page->generation);
    dw_trailer_seal(page->data, cache->block_size, address, page->type, page->generation);
    page->homing = true;
    cache->homing[cache->homing_count++] = index_of(cache, page);
}

uint32_t dw_cache_seal_home(dw_cache *cache, uint64_t durable_lsn, uint32_t limit)
{
    DW_ASSERT(cache->homing_count == 0);
    uint64_t passes_max = limit >= cache->capacity ? UINT64_MAX
                                                   : (uint64_t)limit * SEAL_PASSES_PER_PAGE + SEAL_PASSES_MIN;
    uint64_t passes = 0;
    uint64_t sealed_lsn = 0;
    uint32_t i = cache->logged_head;
    for (; i != DW_PAGE_NONE && cache->homing_count < limit && passes < passes_max; passes++) {
        DW_ASSERT(i < cache->capacity);
        DW_ASSERT(passes < cache->logged_count);
        dw_page *page = &cache->pages[i];
        i = cache->logged_links[i].next;
        /* A page that may go home has a record holding it, so it is on the list. */
        if (may_go_home(page, durable_lsn)) {
            DW_ASSERT(page->rec_lsn >= sealed_lsn);
            sealed_lsn = page->rec_lsn;
            seal(cache, page);
        }
    }
    DW_ASSERT(cache->homing_count <= limit);
    return cache->homing_count;
}

int dw_cache_submit_home(dw_cache *cache, dw_diag *diag)
{
    /* Only the homing frames are touched, and only what no reader changes in a dirty
     * frame: its block (a dirty frame is never claimed) and its data pointer. */
    for (uint32_t i = 0; i < cache->homing_count; i++) {
        dw_page *page = &cache->pages[cache->homing[i]];
        uint64_t block = block_of(page);
        DW_ASSERT(block != DW_BLOCK_NONE);
        /* Sealed under the state lock: it must verify where it goes (the pair of the seal). */
        DW_ASSERT(dw_trailer_verify(page->data, cache->block_size, block * cache->block_size, page->type, true,
                                    page->generation) == DW_TRAILER_OK);
        int result = dw_device_write_async(cache->device, block, 1, page->data, diag);
        if (result != DW_OK) {
            return result;
        }
    }
    return DW_OK;
}

void dw_cache_homed(dw_cache *cache, bool written)
{
    for (uint32_t i = 0; i < cache->homing_count; i++) {
        dw_page *page = &cache->pages[cache->homing[i]];
        DW_ASSERT(page->homing);
        DW_ASSERT(page->dirty);
        DW_ASSERT(!page->pending);
        DW_ASSERT(page->undo == 0);
        page->homing = false;
        if (written) {
            logged_remove(cache, page);
            page->dirty = false;
            page->rec_lsn = DW_LSN_NONE;
            page->page_lsn = DW_LSN_NONE;
            cache->dirty_count--;
            cache->stats.written_home++;
        }
    }
    cache->homing_count = 0;
}

uint64_t dw_cache_oldest_needed(const dw_cache *cache)
{
    if (cache->logged_head == DW_PAGE_NONE) {
        DW_ASSERT(cache->logged_count == 0);
        return DW_LSN_NONE;
    }
    const dw_page *oldest = &cache->pages[cache->logged_head];
    DW_ASSERT(on_logged_list(oldest));
    return oldest->rec_lsn;
}

bool dw_cache_oldest_is_pending(const dw_cache *cache)
{
    return cache->logged_head != DW_PAGE_NONE && cache->pages[cache->logged_head].pending;
}

uint32_t dw_cache_check_logged(const dw_cache *cache)
{
    uint32_t length = 0;
    uint32_t previous = DW_PAGE_NONE;
    for (uint32_t i = cache->logged_head; i != DW_PAGE_NONE; i = cache->logged_links[i].next) {
        DW_ASSERT(i < cache->capacity);
        DW_ASSERT(length < cache->logged_count);
        const dw_page *page = &cache->pages[i];
        DW_ASSERT(on_logged_list(page));
        DW_ASSERT(cache->logged_links[i].prev == previous);
        DW_ASSERT(previous == DW_PAGE_NONE || cache->pages[previous].rec_lsn <= page->rec_lsn);
        previous = i;
        length++;
    }
    DW_ASSERT(cache->logged_tail == previous);
    DW_ASSERT(length == cache->logged_count);
    uint32_t logged = 0;
    uint32_t dirty = 0;
    for (uint32_t i = 0; i < cache->capacity; i++) {
        const dw_page *page = &cache->pages[i];
        const dw_cache_link *link = &cache->logged_links[i];
        dirty += page->dirty ? 1 : 0;
        DW_ASSERT(page->dirty || page->rec_lsn == DW_LSN_NONE);
        if (on_logged_list(page)) {
            logged++;
        } else {
            DW_ASSERT(link->prev == DW_PAGE_NONE);
            DW_ASSERT(link->next == DW_PAGE_NONE);
            DW_ASSERT(cache->logged_head != i);
        }
    }
    DW_ASSERT(logged == cache->logged_count);
    DW_ASSERT(dirty == cache->dirty_count);
    return length;
}

void dw_cache_forget_clean(dw_cache *cache)
{
    for (uint32_t i = 0; i < cache->capacity; i++) {
        dw_page *page = &cache->pages[i];
        if (block_of(page) != DW_BLOCK_NONE && !page->dirty && pins_of(page) == 0 && page->undo == 0) {
            forget(cache, page);
        }
    }
}

void dw_cache_stats_read(const dw_cache *cache, dw_cache_stats *stats)
{
    *stats = cache->stats;
    DW_ASSERT(stats->hits == 0 && stats->misses == 0 && stats->evictions == 0);
    for (uint32_t i = 0; i < DW_CACHE_SLOTS; i++) {
        dw_cache_slot *slot = &cache->slots[i]; /* the slots are the readers', not const */
        stats->hits += atomic_load_explicit(&slot->hits, memory_order_relaxed);
        stats->misses += atomic_load_explicit(&slot->misses, memory_order_relaxed);
        stats->evictions += atomic_load_explicit(&slot->evictions, memory_order_relaxed);
    }
    stats->dirty = cache->dirty_count;
    stats->pending = cache->pending_count;
}
