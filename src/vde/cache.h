/*
 * cache.h — the page cache: a fixed number of block frames for the VDE's metadata (index
 * nodes, inode blocks, bitmaps, extent blocks), with the bookkeeping that makes the WAL
 * and checkpoints correct.
 *
 * Rules it keeps:
 *  - No steal: a page changed by a transaction is never written home before the WAL
 *    record holding its image is durable. Dirty pages stay in memory until then, so the
 *    cache always holds the newest version of every dirty block.
 *  - Undo: the first change to a page inside a transaction saves its before-image in a
 *    fixed undo area; an abort puts every touched page back as it was (and forgets pages
 *    the transaction created). A transaction touching more pages than the undo area
 *    holds is refused with DW_ENOSPC, leaving nothing changed.
 *  - Pages changed since the last WAL record are "pending"; dw_cache_logged moves them to
 *    "logged at LSN", which the checkpoint needs: a page may go home once its newest
 *    image is durable, and the oldest logged-but-not-home page (its rec_lsn) is where
 *    recovery must start.
 *  - The logged list links every dirty page that has a rec_lsn, oldest rec_lsn first, so
 *    that a checkpoint step and the log's tail find the oldest pages without a pass over
 *    every frame (a step's passes took about 230 µs of a 53,748-frame cache, readers held
 *    out; the walk of the list about 0.5 µs besides its seals, 2026-12-04). A page joins it at its tail when it is first logged since it was home, and
 *    LSNs only grow, so the list stays in order without a sort; it leaves when it goes
 *    home or is forgotten.
 *
 * Eviction is a clock over clean, unpinned frames. Nothing here allocates after open.
 *
 * A frame keeps its trailer's type and generation in its header, so that a hit checks
 * them without touching another cache line: the trailer of a cached page changes only
 * here (a load, dw_cache_create, dw_cache_modify, an abort), and code changing a page
 * writes its payload only, the block's first block_size - 16 bytes. A page going home
 * asserts that its trailer still says what its header does.
 *
 * Threads (docs/CONCURRENCY.md): the engine calls the cache either from one writer that
 * excludes every reader (the VDE's state lock held exclusively), or from any number of
 * readers at once (the state lock shared). Readers change the cache too: pins, the clock
 * bit, statistics, and on a miss a frame taken, filled and hashed.
 *
 * A hit takes no lock: the reader walks the bucket's chain with atomic loads, pins the
 * frame with one atomic add, and then checks that the frame still holds its block and
 * is not being loaded; if not (it was evicted and reused meanwhile, or another reader is
 * still reading it in) it lets go of the pin and takes the slow way. `lock` serialises
 * what changes frames and chains among readers: a miss taking a frame (evicting a clean
 * unpinned page), hashing it as `loading`, marking it loaded, and a failed load taking it
 * away. It is held only for that bookkeeping, never across I/O: the reader reads the block
 * with the lock released; another reader of the same block waits on `loaded` until the
 * first is done (it needs that read anyway).
 *
 * A frame changes hands only after it is claimed: `pins` goes from 0 to
 * DW_PAGE_CLAIMED in one compare-and-swap, which fails while anyone holds a pin, and a
 * reader whose add finds the claim lets go at once. So a pinned frame is never evicted,
 * and a reader never keeps a pin on a frame that is changing hands. Hit counts go into
 * per-thread slots on cache lines of their own and are summed when read.
 */
#ifndef DW_VDE_CACHE_H
#define DW_VDE_CACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dwvd.h"
#include "mem/arena.h"
#include "vde/device.h"

#define DW_PAGE_NONE UINT32_MAX
#define DW_LSN_NONE UINT64_MAX
#define DW_BLOCK_NONE UINT64_MAX

/* A frame's pins while it changes hands (see above); a pin count never comes near it. */
#define DW_PAGE_CLAIMED UINT32_C(0x80000000)

/* Readers read `block`, `next`, `loading` and change `pins`, `referenced` and `checked`
 * without the lock, so those are atomic, and first, in words of their own (a compiler may read
 * neighbouring plain fields as one wider word); the rest changes only under the writer's
 * exclusive state lock, or (for a frame a reader claimed) under `lock`. One frame's
 * header is one cache line, so a pin disturbs no other frame's lookups. */
typedef struct dw_page {
    _Atomic uint64_t block;     /* DW_BLOCK_NONE when the frame is free */
    _Atomic uint32_t pins;      /* readers and writers using it, plus DW_PAGE_CLAIMED */
    _Atomic uint32_t next;      /* hash chain */
    _Atomic bool referenced;    /* clock */
    _Atomic bool loading;       /* hashed, being read by a reader: wait on `loaded` */
    _Atomic bool checked;       /* its owner's structural check passed since it took its block */
    unsigned char spare_atomic[5]; /* nothing else in this word */
    unsigned char *data;        /* block_size bytes, trailer included */
    uint64_t page_lsn;          /* the record holding its newest image; NONE when not logged */
    uint64_t rec_lsn;           /* the first record that logged it since it was home; NONE when home */
    uint32_t undo;              /* 1 + its undo entry in the open transaction, 0 if untouched */
    bool dirty;                 /* differs from its home block */
    bool pending;               /* changed since the last WAL record */
    bool discard;               /* freed by the open transaction: forget it at commit */
    bool homing;                /* being written home by a checkpoint step: still dirty */
    uint32_t type;              /* what its trailer says, kept here for hits (see below) */
    uint32_t generation;
} dw_page;

_Static_assert(sizeof(dw_page) == 64, "a frame's header is one cache line");

/* Frames a scanning reader (dw_cache_scan_begin) recycles before it asks the clock for
 * one: enough for the path of an iterator's seek (DW_INDEX_HEIGHT_MAX levels) and the
 * inode blocks beside it, few enough that a scan holds a small share of a cache. */
#define DW_CACHE_SCAN_FRAMES 32

/* Per-thread counts of what readers do, each slot on a cache line of its own. */
#define DW_CACHE_SLOTS 16

typedef struct dw_cache_slot {
    _Atomic uint64_t hits;
    _Atomic uint64_t misses;
    _Atomic uint64_t evictions;
    unsigned char spare[40];
} dw_cache_slot;

_Static_assert(sizeof(dw_cache_slot) == 64, "a slot is one cache line");

typedef struct dw_cache_stats {
    uint64_t hits;
    uint64_t misses;
    uint64_t evictions;
    uint64_t written_home;
    uint32_t dirty;             /* pages that differ from home */
    uint32_t pending;           /* of which changed since the last record */
    uint32_t capacity;
    uint32_t undo_capacity;
} dw_cache_stats;

typedef struct dw_cache_plan {
    uint32_t capacity;
    uint32_t undo_capacity;
    uint32_t frames_piece;
    uint32_t state_piece;
} dw_cache_plan;

/* A frame's links in the logged list, DW_PAGE_NONE at either end and when it is not on
 * it. Beside the frames rather than in their headers, which are a cache line full. */
typedef struct dw_cache_link {
    uint32_t prev;
    uint32_t next;
} dw_cache_link;

typedef struct dw_undo_entry {
    uint32_t page;
    bool was_dirty;
    bool was_pending;
    bool fresh;                 /* created in the transaction: forget it on abort */
    uint64_t was_rec_lsn;
    uint64_t was_page_lsn;
} dw_undo_entry;

/* Decides whether a block that failed its check is a never-written one that may be taken
 * as fresh (filling in its fresh contents); see dw_cache_set_fresh. */
typedef bool (*dw_cache_fresh_fn)(void *context, uint64_t block, uint32_t type, unsigned char *data);

typedef struct dw_cache {
    /* read on every hit, changed only at open */
    dw_device *device;
    dw_cache_fresh_fn fresh;
    void *fresh_context;
    uint32_t block_size;
    uint32_t capacity;
    dw_page *pages;
    _Atomic uint32_t *buckets;
    uint32_t bucket_mask;
    dw_cache_slot *slots;       /* DW_CACHE_SLOTS, summed by dw_cache_stats_read */
    _Atomic uint32_t slots_given; /* threads given a slot so far (dw_cache_thread_slot) */
    /* readers' misses, under `lock` */
    pthread_mutex_t lock;       /* readers' changes to frames and chains (see above) */
    pthread_cond_t loaded;      /* a loading frame finished (or failed) */
    uint32_t hand;
    uint32_t scan_frames[DW_CACHE_SCAN_FRAMES]; /* frames scans loaded, DW_PAGE_NONE when none */
    uint32_t scan_next;         /* the one a scan's next miss tries first */
    /* the writer's, under the state lock held exclusively */
    uint32_t *pending;          /* pages changed since the last record, in order of change */
    uint32_t pending_count;
    uint32_t dirty_count;
    uint32_t *homing;           /* the frames a checkpoint step is writing home */
    uint32_t homing_count;
    /* The logged list (see the top): the frames that are dirty and have a rec_lsn, in
     * rec_lsn order. Only the writer changes it, with the state lock held exclusively;
     * readers never read it (they forget only clean frames, which are not on it), and
     * while a checkpoint step's writes are out with only the writer lock held nothing
     * changes it: a homing page stays dirty and on it until dw_cache_homed. */
    dw_cache_link *logged_links; /* one per frame */
    uint32_t logged_head;       /* the oldest, DW_PAGE_NONE when the list is empty */
    uint32_t logged_tail;
    uint32_t logged_count;
    /* the open transaction */
    bool txn_open;
    uint32_t undo_capacity;
    uint32_t undo_count;
    dw_undo_entry *undo;
    unsigned char *undo_frames;
    dw_cache_stats stats;       /* the writer's counts and the sizes; readers' are in `slots` */
} dw_cache;

int dw_cache_plan_in(dw_arena *arena, uint32_t capacity, uint32_t undo_capacity, uint32_t block_size,
                     dw_cache_plan *plan, dw_diag *diag);
void dw_cache_open(dw_cache *cache, const dw_arena *arena, const dw_cache_plan *plan, dw_device *device);
void dw_cache_close(dw_cache *cache);

/* Thin provisioning: blocks of some regions are never written until first used and read
 * back as zeros. The hook recognises them and fills in what they stand for. */
void dw_cache_set_fresh(dw_cache *cache, dw_cache_fresh_fn fresh, void *context);

/* A pinned page holding `block`, read and checked when not cached: its trailer must
 * verify at the block's address with `type`, and with `generation` when check_generation.
 * DW_ECORRUPT names the block and what was wrong. */
int dw_cache_read(dw_cache *cache, uint64_t block, uint32_t type, bool check_generation,
                  uint32_t generation, dw_page **page, dw_diag *diag);

/* A pinned, zeroed page for a block the open transaction just allocated. */
int dw_cache_create(dw_cache *cache, uint64_t block, uint32_t type, uint32_t generation, dw_page **page,
                    dw_diag *diag);

void dw_cache_unpin(dw_cache *cache, dw_page *page);

/* Before changing a pinned page in the open transaction: saves its before-image (the
 * first time), marks it dirty and pending, and sets its trailer's generation. */
int dw_cache_modify(dw_cache *cache, dw_page *page, uint32_t generation, dw_diag *diag);

/* The open transaction freed the page's block: the page is forgotten when it commits. */
void dw_cache_discard(dw_cache *cache, dw_page *page);
/* The same for a block that may or may not be cached (a logged data block being freed):
 * nothing when it is not; a clean page is forgotten at once; a dirty one keeps its
 * before-image (an undo slot) and is discarded at commit. */
int dw_cache_drop(dw_cache *cache, uint64_t block, uint32_t generation, dw_diag *diag);

uint32_t dw_page_type(const dw_cache *cache, const dw_page *page);
uint32_t dw_page_generation(const dw_cache *cache, const dw_page *page);

/* Whether the page's bytes passed the structural check of the code that reads them (the
 * index's node check) since the frame took its block. The trailer's checksum is checked
 * once, on the way in from the device; a structural check can be too, by whoever reads
 * the page first marking it here, so that hits skip it. A frame loses the mark when it
 * takes another block or an abort puts back a before-image; code that changes a page
 * checks what it wrote before it marks it (dw_index's lay_out asserts its node). Any
 * thread holding a pin may mark: the check reads bytes that do not change under a pin
 * held beside the state lock, so two readers marking at once agree. */
bool dw_page_checked(const dw_page *page);
void dw_page_mark_checked(dw_page *page);

void dw_cache_txn_begin(dw_cache *cache);
void dw_cache_txn_commit(dw_cache *cache);
void dw_cache_txn_abort(dw_cache *cache);
uint32_t dw_cache_txn_pages(const dw_cache *cache);

/* The pages changed since the last record. */
uint32_t dw_cache_pending_count(const dw_cache *cache);
dw_page *dw_cache_pending_page(dw_cache *cache, uint32_t index);
/* They are now in the record at `lsn`. */
void dw_cache_logged(dw_cache *cache, uint64_t lsn);

/* Chooses up to `limit` dirty pages whose newest image is in a record at or before
 * durable_lsn (and not changed since), the oldest (by rec_lsn) first, seals each at its
 * home address and marks it homing. A step (limit below the capacity) looks at no more
 * than 4 * limit + 64 pages of the logged list, so pages that may not go home yet
 * (pinned, or changed since their record) can make it take fewer, never run longer;
 * a complete checkpoint (limit at least the capacity) looks at them all. Under the
 * state lock held exclusively. Returns how many. */
uint32_t dw_cache_seal_home(dw_cache *cache, uint64_t durable_lsn, uint32_t limit);

/* Starts the writes of the sealed pages. Needs only the writer lock: readers may run,
 * and no writer can change a homing page meanwhile. The caller drains; it syncs before
 * the superblock moves past their records. */
int dw_cache_submit_home(dw_cache *cache, dw_diag *diag);

/* The writes dw_cache_submit_home started completed: their pages are clean now
 * (written, false: they failed, or were never started, and stay dirty). Until this is
 * called they count as dirty, so no reader evicts a frame the device is still reading
 * from. Under the state lock held exclusively. */
void dw_cache_homed(dw_cache *cache, bool written);

/* The oldest record recovery would still need for the dirty pages: min rec_lsn, or
 * DW_LSN_NONE when every logged page is home (pages dirtied since the last record and
 * never logged have none and do not count). The logged list's head: O(1). */
uint64_t dw_cache_oldest_needed(const dw_cache *cache);
/* True when that oldest page (the list's head; of pages logged in the same record, the
 * one first logged) has changed again since it was logged: it cannot go home before the
 * next record, so it holds the log's tail until the group is flushed. O(1). */
bool dw_cache_oldest_is_pending(const dw_cache *cache);

/* The slow check of the logged list against the frames, a pass over every frame: the
 * links agree both ways, rec_lsn never falls along it, and it holds exactly the dirty
 * frames that have a rec_lsn (and a clean frame has none). Asserts; returns its length.
 * For tests: no build switch runs slow checks yet. The writer's, readers kept out. */
uint32_t dw_cache_check_logged(const dw_cache *cache);

/* Forgets every clean, unpinned page (after recovery rewrote homes behind the cache). */
void dw_cache_forget_clean(dw_cache *cache);

/* Scans: between begin and end, what the calling thread reads through this cache is a
 * scan (an iterator walking every key), which must not push out what other readers use
 * again and again. Its hits leave the clock's referenced bit as it is, and its misses
 * take one of the last DW_CACHE_SCAN_FRAMES frames scans loaded, when that frame is
 * still unpinned, clean and unreferenced (no one else used it since), before they ask
 * the clock; so a scan of any length moves the clock's hand at most that many times,
 * and a page someone else hits while a scan holds it stays. Per thread; no lock. */
void dw_cache_scan_begin(dw_cache *cache);
void dw_cache_scan_end(dw_cache *cache);

/* The counts, readers' slots summed: safe beside readers (each count is atomic, the sum
 * is not a snapshot); the writer's counts need the writer to be kept out. */
void dw_cache_stats_read(const dw_cache *cache, dw_cache_stats *stats);

/* The calling thread's slot, 0 to DW_CACHE_SLOTS - 1: threads get slots in turn, so a
 * few threads never share one. Statistics kept per thread (the cache's, the engine's
 * latencies) use it to stay off each other's cache lines. */
uint32_t dw_cache_thread_slot(dw_cache *cache);

#endif /* DW_VDE_CACHE_H */
