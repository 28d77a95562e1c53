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
 *
 * Eviction is a clock over clean, unpinned frames. Nothing here allocates after open.
 *
 * Threads (docs/CONCURRENCY.md): the engine calls the cache either from one writer that
 * excludes every reader (the VDE's state lock held exclusively), or from any number of
 * readers at once (the state lock shared). Readers change the cache too: pins, the clock
 * bit, statistics, and on a miss a frame taken, filled and hashed. `lock` serialises
 * those changes among readers; it is held only for bookkeeping, never across I/O. A
 * reader that misses takes a frame, hashes it as `loading`, and reads the block with the
 * lock released; another reader of the same block waits on `loaded` until the first is
 * done (it needs that read anyway), and a failed load takes the frame away again.
 */
#ifndef DW_VDE_CACHE_H
#define DW_VDE_CACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "dwvd.h"
#include "mem/arena.h"
#include "vde/device.h"

#define DW_PAGE_NONE UINT32_MAX
#define DW_LSN_NONE UINT64_MAX
#define DW_BLOCK_NONE UINT64_MAX

typedef struct dw_page {
    uint64_t block;             /* DW_BLOCK_NONE when the frame is free */
    unsigned char *data;        /* block_size bytes, trailer included */
    uint64_t page_lsn;          /* the record holding its newest image; NONE when not logged */
    uint64_t rec_lsn;           /* the first record that logged it since it was home; NONE when home */
    uint32_t pins;
    uint32_t next;              /* hash chain */
    uint32_t undo;              /* 1 + its undo entry in the open transaction, 0 if untouched */
    bool dirty;                 /* differs from its home block */
    bool pending;               /* changed since the last WAL record */
    bool referenced;            /* clock */
    bool discard;               /* freed by the open transaction: forget it at commit */
    bool loading;               /* hashed, being read by a reader: wait on `loaded` */
    bool homing;                /* being written home by a checkpoint step: still dirty */
} dw_page;

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
    pthread_mutex_t lock;       /* readers' changes: pins, clock, stats, misses (see above) */
    pthread_cond_t loaded;      /* a loading frame finished (or failed) */
    dw_device *device;
    dw_cache_fresh_fn fresh;
    void *fresh_context;
    uint32_t block_size;
    uint32_t capacity;
    dw_page *pages;
    uint32_t *buckets;
    uint32_t bucket_mask;
    uint32_t hand;
    uint32_t *pending;          /* pages changed since the last record, in order of change */
    uint32_t pending_count;
    uint32_t dirty_count;
    /* the open transaction */
    bool txn_open;
    uint32_t undo_capacity;
    uint32_t undo_count;
    dw_undo_entry *undo;
    unsigned char *undo_frames;
    dw_cache_stats stats;
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

void dw_cache_txn_begin(dw_cache *cache);
void dw_cache_txn_commit(dw_cache *cache);
void dw_cache_txn_abort(dw_cache *cache);
uint32_t dw_cache_txn_pages(const dw_cache *cache);

/* The pages changed since the last record. */
uint32_t dw_cache_pending_count(const dw_cache *cache);
dw_page *dw_cache_pending_page(dw_cache *cache, uint32_t index);
/* They are now in the record at `lsn`. */
void dw_cache_logged(dw_cache *cache, uint64_t lsn);

/* Writes home up to `limit` dirty pages whose newest image is in a record at or before
 * durable_lsn (and not changed since), the oldest (by rec_lsn) first when they are more
 * than `limit`. Sealed at their home address; the caller syncs. Returns how many, or a
 * negative error. */
int dw_cache_write_home(dw_cache *cache, uint64_t durable_lsn, uint32_t limit, dw_diag *diag);

/* The writes dw_cache_write_home started completed and were synced: their pages are
 * clean now (written, false: they failed, and stay dirty). Until this is called they
 * count as dirty, so no reader evicts a frame the device is still reading from. */
void dw_cache_homed(dw_cache *cache, bool written);

/* The oldest record recovery would still need for the dirty pages: min rec_lsn, or
 * DW_LSN_NONE when every logged page is home. */
uint64_t dw_cache_oldest_needed(const dw_cache *cache);
/* True when that oldest page has changed again since it was logged: it cannot go home
 * before the next record, so it holds the log's tail until the group is flushed. */
bool dw_cache_oldest_is_pending(const dw_cache *cache);

/* Forgets every clean, unpinned page (after recovery rewrote homes behind the cache). */
void dw_cache_forget_clean(dw_cache *cache);

void dw_cache_stats_read(const dw_cache *cache, dw_cache_stats *stats);

#endif /* DW_VDE_CACHE_H */
