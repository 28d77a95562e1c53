/*
 * engine.h — the object store's insides, shared by its files: the handle, and the
 * functions each part offers the others. Not part of the public API (include/dwvd.h).
 *
 *   alloc.c    allocation groups and the inode bitmap; the quarantine of freed blocks
 *   inode.c    inodes: load, store, their extents (inline and in extent blocks)
 *   btree.c    the key index: a B+tree of (key -> inode) in blocks from the groups
 *   wal.c      the write-ahead log: records, group commit, checkpoints, recovery
 *   vde.c      create, open, close, transactions, and the operations
 *   verify.c   the full structural check behind `dw vde verify`
 *
 * Threading (docs/CONCURRENCY.md): writers run one at a time under `lock` (admitted at
 * `gate`, earliest deadline first) and hold `state_lock` exclusively while they change
 * the state; readers share `state_lock` and run at once, also while a writer waits for
 * its commit's durable write. Transactions, streaming writers and iterators belong to
 * the thread that opened them. A streaming writer is not a transaction: only its
 * commit is one, and other writers run between its calls.
 */
#ifndef DW_VDE_ENGINE_H
#define DW_VDE_ENGINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/clock.h"
#include "sched/gate.h"
#include "core/log.h"
#include "dwvd.h"
#include "io/io.h"
#include "io/sim_disk.h"
#include "mem/arena.h"
#include "mem/budget.h"
#include "mem/pool.h"
#include "sched/edf.h"
#include "sched/histogram.h"
#include "vde/btree.h"
#include "vde/cache.h"
#include "vde/device.h"
#include "vde/format.h"

/* Extents a writer or put may take for one value before giving up on contiguity. */
#define DW_WAL_STAGE_BLOCKS 64          /* the log stage's least size; its size is wal_stage_blocks */
#define DW_WAL_STAGE_BLOCKS_MAX 1024
#define DW_DATA_STAGE_BLOCKS 64
/* A value of at most this many data blocks goes through the page cache: its blocks are
 * logged in the commit record, so a strict put of it is one durable write, and they go
 * home with the next checkpoint. Larger values are written in place before the record
 * (ordered data). Such small objects' blocks are also read and freed through the cache
 * (FORMAT.md §6). */
#define DW_LOGGED_VALUE_BLOCKS 16
#define DW_QUARANTINE_MAX 4096
#define DW_TXN_FREES_MAX 1024
/* Generations a writer reserves at a time (FORMAT.md §1.1): a crash skips at most this
 * many and a half; a superblock write every half of it costs two syncs. */
#define DW_GENERATION_RESERVE 65536u
#define DW_ITERATOR_KEY_MAX 16384
/* Readers of values in data blocks read them through a stage of their own. */
#define DW_READER_STAGES 8
#define DW_READER_STAGE_BLOCKS 16

/* A freed extent, not to be handed out again until it is safe (alloc.c). */
typedef struct dw_quarantine {
    uint64_t start;
    uint32_t count;
    bool metadata;              /* was a logged page: safe once checkpointed past */
    uint64_t lsn;               /* the record that freed it; DW_LSN_NONE until logged */
} dw_quarantine;

/* Operation classes the engine measures (the demo's table). */
enum dw_vde_op {
    DW_VDE_OP_PUT = 0,
    DW_VDE_OP_GET = 1,
    DW_VDE_OP_DELETE = 2,
    DW_VDE_OP_COMMIT = 3,       /* a transaction's commit, its durability included */
    DW_VDE_OP_CHECKPOINT = 4,   /* one checkpoint step */
};
#define DW_VDE_OP_COUNT 5

/* Readers' latencies (DW_VDE_OP_GET, the one class reader calls record), kept for each
 * thread slot (dw_cache_thread_slot) apart, so that readers on many threads share no
 * lock and no cache line when they record; dw_vde_latency_collect folds them into
 * latency[DW_VDE_OP_GET]. Each is on cache lines of its own (the misc piece and each
 * element are 64-byte aligned). */
#define DW_VDE_READER_SLOTS 8

typedef struct dw_vde_reader_latency {
    _Alignas(64) pthread_mutex_t lock; /* the rest of this slot */
    uint64_t max_ns;
    uint64_t misses;
    dw_histogram histogram;
} dw_vde_reader_latency;

typedef struct dw_vde_counters {
    uint64_t commits;
    uint64_t records;           /* WAL records written */
    uint64_t record_blocks;
    uint64_t checkpoints;       /* superblock writes that moved the checkpoint */
    uint64_t checkpoint_pages;
    uint64_t recovered_records; /* replayed at open */
    uint64_t recovered_pages;
    uint64_t truncated_tail;    /* 1 when open cut a torn tail off the WAL */
    uint64_t log_rereads;       /* log blocks that failed their check once, then passed */
    uint64_t aborts;
    uint64_t superblock_writes;
} dw_vde_counters;

struct dw_iter {
    struct dw_vde *vde;
    bool open;
    bool started;
    bool done;
    uint32_t prefix_length;
    uint32_t last_length;
    unsigned char *prefix;      /* key_length_max bytes each, in arena memory */
    unsigned char *last;
    unsigned char *found;       /* the key a seek found */
};

struct dw_txn {
    struct dw_vde *vde;
};

/* A streaming writer (ops.c, docs/CONCURRENCY.md "Streaming writers"). Its data blocks
 * are written outside any transaction, into extents it reserves: they stay clear in the
 * group bitmaps, so a crash or an abort leaves nothing to free, and the allocator skips
 * them (alloc.c) until the writer's commit, a short transaction of its own, claims them
 * and links the object into the index. Each is one of limits.writers_max slots carved at
 * open, and belongs to the thread that uses it; it changes only under the writer lock.
 * Between calls it holds only the block being filled: a call seals its full blocks in
 * the engine's data stage and writes them before it returns. */
/* Runs of free blocks one streamed value may take; a run that continues the last one in
 * the same bitmap page extends it, so this bounds fragmentation, not size. */
#define DW_WRITER_EXTENTS_MAX 128

/* A run of blocks a writer has reserved, in the order of its payload. */
typedef struct dw_reserved {
    uint64_t start;
    uint32_t count;
} dw_reserved;

struct dw_writer {
    struct dw_vde *vde;
    bool open;
    uint32_t key_length;
    unsigned char *key;         /* key_length_max bytes */
    uint64_t size;              /* bytes written so far */
    uint32_t generation;        /* sealed into each data block and recorded in its extent */
    unsigned char *partial;     /* one block: the payload being filled */
    uint32_t fill;              /* bytes in it */
    uint32_t staged;            /* sealed blocks in the data stage, not yet written (0 between calls) */
    dw_reserved *extents;       /* DW_WRITER_EXTENTS_MAX; the last is being filled */
    uint32_t extent_count;
    uint32_t extent_used;       /* blocks of the last extent sealed so far */
    uint64_t deadline_budget_ns;
    dw_op_priority priority;
};

/* The padding clang-tidy counts comes from the scheduler's cache-line-aligned members. */
struct dw_vde { // NOLINT(clang-analyzer-optin.performance.Padding)
    /* memory and the layers below */
    dw_budget budget;
    dw_arena arena;
    dw_config config;
    dw_clock system_clock;
    dw_clock_virtual logical_clock; /* deterministic mode */
    const dw_clock *clock;          /* measures I/O and deadlines */
    dw_log *log;
    dw_pool_plan pool_plan;
    dw_io_plan io_plan;
    dw_sched_plan sched_plan;
    dw_cache_plan cache_plan;
    uint32_t misc_piece;
    dw_pool *pool;
    dw_io io;
    dw_sched sched;
    bool sched_started;
    dw_device device;
    dw_cache cache;
    char path[DW_CONFIG_PATH_MAX];
    bool read_only;
    bool compact_objects;           /* feature compact: small objects in index leaf entries */
    bool verify_only;               /* opened for dw_vde_verify */
    bool deterministic;
    bool closed;
    bool cache_auto;                /* memory.cache_pages was 0: sized from the ceiling */

    /* what the superblock group says */
    dw_super_copy super;
    uint32_t block_size;
    uint32_t payload_size;          /* block_size - 16: a data block's share of a value */
    uint64_t wal_start;
    uint64_t wal_blocks;
    uint64_t inode_bitmap_start;
    uint64_t inode_blocks_start;
    uint64_t groups_start;
    uint64_t groups_end;            /* the sentinel's block */
    dw_inode_layout layout;

    /* the engine's state and the log's positions */
    dw_engine_state state;
    uint64_t seq;                   /* the last transaction number handed out */
    uint64_t durable_seq;
    uint64_t generation_next;       /* the counter the next transaction's generation comes from */
    uint64_t generation_limit;      /* reserved on the medium up to here (FORMAT.md §1.1) */
    uint64_t next_lsn;              /* where the next record goes */
    uint64_t durable_lsn;           /* records before it are on stable storage */
    uint64_t checkpoint_lsn;        /* recovery would start here */
    bool homed_unsynced;            /* pages written home since the last sync before a superblock move */
    dw_engine_state durable_state;  /* the state of the last durable record */
    uint32_t record_blocks_max;     /* the longest record the log accepts */
    uint32_t pending_limit;         /* pages one record may hold */
    dw_wal_entry *recovery_entries; /* pending_limit entries: a record's page list */

    /* the open transaction */
    bool txn_open;
    uint64_t txn_seq;
    uint32_t txn_generation;
    dw_engine_state txn_saved_state;
    uint32_t txn_quarantine_mark;
    uint64_t txn_bytes;
    bool txn_user;                  /* opened by dw_txn_begin */
    bool txn_has_data;              /* wrote data blocks that must be durable first */
    struct dw_txn txn;

    /* group commit */
    bool group_pending;             /* committed transactions not yet in a record */
    uint64_t group_first_seq;
    uint64_t group_started_ns;
    bool group_has_data;
    dw_gate gate;                   /* admission of writers, earliest deadline first */
    pthread_mutex_t lock;           /* the writer lock: one writer (or flusher) at a time */
    /* The state lock (docs/CONCURRENCY.md): readers share it; the writer holds it
     * exclusively while it changes the engine's state, and lets go of it for the durable
     * write of a commit. While a user transaction is open (state_kept), readers of other
     * threads wait for its end instead, so that none sees half of one. */
    pthread_rwlock_t state_lock;
    bool state_exclusive;           /* the writer holding `lock` holds state_lock too */
    _Atomic bool state_kept;        /* a user transaction is open (changed under state_lock) */
    pthread_t state_owner;          /* the thread whose transaction it is */
    pthread_mutex_t kept_lock;      /* with kept_ended: readers waiting for it to end */
    pthread_cond_t kept_ended;
    pthread_mutex_t stats_lock;     /* the latency histograms, maxima and misses (not readers' slots) */
    pthread_mutex_t stage_lock;     /* the readers' data stages */
    pthread_cond_t stage_free;
    uint32_t stages_free;           /* a bit for each free stage */
    unsigned char *reader_stages;   /* DW_READER_STAGES stages of DW_READER_STAGE_BLOCKS */
    pthread_cond_t flusher_wake;
    pthread_t flusher;
    bool flusher_running;
    bool flusher_stop;
    int flusher_error;              /* a failed group commit, reported by the next operation */
    char flusher_message[DW_DIAG_MESSAGE_MAX];
    /* Strict commits share records (docs/CONCURRENCY.md, group commit): a committer
     * whose transaction is not yet durable either waits for the record in flight or,
     * when none is, takes the writer lock, stages every pending page as one record and
     * writes it with the writer lock released. commit_lock guards what follows and
     * durable_lsn, durable_seq and durable_state. */
    pthread_mutex_t commit_lock;
    pthread_cond_t commit_done;     /* a record in flight became durable, or failed */
    bool flushing;                  /* a staged record is being written outside the writer lock */
    uint64_t staged_seq;            /* the last transaction staged into a record (writer lock) */
    uint64_t record_txns;           /* transactions in the last record a committer led */
    int commit_error;               /* that write failed: nothing after it becomes durable */
    char commit_message[DW_DIAG_MESSAGE_MAX];

    /* freed extents waiting until they are safe to reuse */
    dw_quarantine *quarantine;
    uint32_t quarantine_count;

    /* staging memory, all from the arena */
    unsigned char *wal_stage;       /* wal_stage_blocks blocks */
    uint32_t wal_stage_blocks;      /* a record this long is one durable write */
    unsigned char *data_stage;      /* DW_DATA_STAGE_BLOCKS blocks */
    unsigned char *scratch;         /* one block */
    unsigned char *super_stage;     /* one copy of the superblock group: 4 units */
    uint32_t super_first;           /* the copy written first: never the only good one */
    unsigned char *key_buffer;      /* key_length_max bytes: keys moved out of pages */
    dw_index_scratch index;         /* the key index's working memory */

    /* handles lent to the caller */
    struct dw_writer *writers;      /* limits.writers_max slots */
    uint32_t writer_count;
    struct dw_iter *iterators;
    uint32_t iterator_count;

    /* accounting */
    dw_vde_counters counters;
    dw_histogram *latency;          /* DW_VDE_OP_COUNT histograms */
    dw_vde_reader_latency *reader_latency; /* DW_VDE_READER_SLOTS, in the misc piece */
    uint64_t latency_max_ns[DW_VDE_OP_COUNT];
    uint64_t misses[DW_VDE_OP_COUNT];
};

/* ---- vde.c --------------------------------------------------------------------------- */

/* The clock of times written into the VDE (wall time, or the logical clock). */
uint64_t dw_vde_now_ns(struct dw_vde *vde);

/* Locks (docs/CONCURRENCY.md). A writer takes the writer lock, which takes the state
 * lock exclusively unless the thread's own user transaction keeps it. Inside a writer,
 * release/reacquire let readers in while the writer waits for the device, with the
 * state consistent (no transaction half applied). A reader shares the state lock, or
 * takes nothing inside its own transaction. */
void dw_vde_writer_lock(struct dw_vde *vde);
void dw_vde_writer_unlock(struct dw_vde *vde);
void dw_vde_state_release(struct dw_vde *vde);
void dw_vde_state_reacquire(struct dw_vde *vde);
/* Returns whether it took the lock (and so must unlock). */
bool dw_vde_reader_lock(struct dw_vde *vde);
void dw_vde_reader_unlock(struct dw_vde *vde, bool locked);
/* Waits, holding no lock, until no user transaction is open (another thread's: a writer
 * call or a commit waiting for its record that found one open lets go of its locks first). */
void dw_vde_wait_kept(struct dw_vde *vde);
/* A user transaction keeps the state lock from dw_txn_begin (keep) to its end (drop). */
void dw_vde_state_keep(struct dw_vde *vde);
void dw_vde_state_drop(struct dw_vde *vde);
/* A reader's data stage (DW_READER_STAGE_BLOCKS blocks), waited for when all are out. */
uint32_t dw_vde_stage_take(struct dw_vde *vde);
void dw_vde_stage_give(struct dw_vde *vde, uint32_t stage);

/* Hands out the next generation (FORMAT.md §1.1), extending the reservation on the
 * medium when it is used up: a transaction's, or a streaming writer's for its data. */
int dw_vde_generation_take(struct dw_vde *vde, uint32_t *generation, dw_diag *diag);
/* Opens a transaction (implicitly for a single operation, or for dw_txn_begin). */
int dw_vde_txn_begin(struct dw_vde *vde, bool user, dw_diag *diag);
/* Strict and not deterministic: the commit is made durable by dw_vde_commit_wait, which
 * the call must run once it has let go of the writer lock (and the gate). */
int dw_vde_txn_commit(struct dw_vde *vde, dw_diag *diag);
/* Waits until this thread's last commit is durable, sharing a record with other
 * committers (group commit); `result` passes through when it is an error. Nothing to
 * do when the thread has no commit waiting. */
int dw_vde_commit_wait(struct dw_vde *vde, int result, dw_diag *diag);
void dw_vde_txn_abort(struct dw_vde *vde);

/* ---- alloc.c ------------------------------------------------------------------------ */

/* Up to `want` consecutive free blocks (at least one): *start, *got. DW_ENOSPC when the
 * groups are full. */
int dw_alloc_blocks(struct dw_vde *vde, uint32_t want, uint64_t *start, uint32_t *got, dw_diag *diag);
typedef enum dw_free_kind {
    DW_FREE_DATA = 0,           /* data blocks: reusable once the freeing record is durable */
    DW_FREE_METADATA = 1,       /* logged pages: reusable once checkpointed past */
    DW_FREE_UNWRITTEN = 2,      /* taken by this transaction and never written: reusable at once */
} dw_free_kind;
int dw_free_blocks(struct dw_vde *vde, uint64_t start, uint32_t count, dw_free_kind kind, dw_diag *diag);
/* A streaming writer's blocks, outside any transaction: up to `want` consecutive blocks
 * clear in the bitmaps, not quarantined and not reserved by a writer, found but left
 * clear (the caller records them as reserved). DW_ENOSPC when there are none. */
int dw_alloc_reserve(struct dw_vde *vde, uint32_t want, uint64_t *start, uint32_t *got, dw_diag *diag);
/* True when blocks [start, start + count) are covered by one bitmap page: one claim. */
bool dw_alloc_one_bitmap_page(const struct dw_vde *vde, uint64_t start, uint64_t count);
/* Inside the writer's commit: sets the bits of blocks it reserved (clear until now). */
int dw_alloc_claim(struct dw_vde *vde, uint64_t start, uint32_t count, dw_diag *diag);
int dw_alloc_inode(struct dw_vde *vde, uint64_t *inode, dw_diag *diag);
int dw_free_inode(struct dw_vde *vde, uint64_t inode, dw_diag *diag);
/* Quarantine upkeep: entries of the open transaction get its record's LSN once logged;
 * entries safe by now are released. */
void dw_quarantine_logged(struct dw_vde *vde, uint64_t lsn);
void dw_quarantine_release(struct dw_vde *vde);
/* Group g's first block and its block count. */
uint64_t dw_group_start(const struct dw_vde *vde, uint32_t group);
uint32_t dw_group_blocks(const struct dw_vde *vde, uint32_t group);
/* True when block lies in the allocation groups. */
bool dw_block_in_groups(const struct dw_vde *vde, uint64_t block);

/* ---- inode.c ------------------------------------------------------------------------ */

uint64_t dw_inode_block(const struct dw_vde *vde, uint64_t inode);
uint32_t dw_inode_slot(const struct dw_vde *vde, uint64_t inode);
/* Reads an inode the index names; DW_ECORRUPT unless it is in use and of the generation
 * the index entry records. */
int dw_inode_load(struct dw_vde *vde, uint64_t inode, uint32_t generation, dw_inode *out, dw_diag *diag);
int dw_inode_store(struct dw_vde *vde, uint64_t inode, const dw_inode *in, dw_diag *diag);

/* The extent holding payload block `logical` of the object (walking extent blocks). */
int dw_inode_find_extent(struct dw_vde *vde, uint64_t inode_number, const dw_inode *inode, uint64_t logical,
                         dw_extent *extent, dw_diag *diag);
/* Appends an extent to an inode being built (spilling into extent blocks). */
int dw_inode_add_extent(struct dw_vde *vde, uint64_t inode_number, dw_inode *inode, const dw_extent *extent,
                        dw_diag *diag);
/* True when the object's data blocks go through the cache (DW_LOGGED_VALUE_BLOCKS). */
bool dw_inode_data_logged(const struct dw_vde *vde, const dw_inode *inode);
/* Frees every data block and extent block of an inode (into quarantine). */
int dw_inode_release_data(struct dw_vde *vde, dw_inode *inode, dw_diag *diag);

/* ---- btree.c ------------------------------------------------------------------------ */

/* What the index holds for a key: an inode (with the generation it was last written
 * with: dw_inode_load holds the inode to it), or a compact object (FORMAT.md §8). */
typedef struct dw_index_hit {
    bool found;
    bool compact;
    uint64_t inode;                 /* 0 when compact */
    uint32_t generation;
    uint32_t value_length;          /* compact only, as are the times */
    uint64_t ctime_ns;
    uint64_t mtime_ns;
} dw_index_hit;

/* Where a compact object's bytes [offset, offset + length) go, clipped to its value. */
typedef struct dw_index_copy {
    void *buffer;
    uint64_t offset;
    uint64_t length;
} dw_index_copy;

/* hit->found is false when the key is absent. A compact value is copied out while its
 * leaf is pinned, when `copy` is given. */
int dw_index_find(struct dw_vde *vde, const unsigned char *key, uint32_t key_length, dw_index_hit *hit,
                  const dw_index_copy *copy, dw_diag *diag);
/* Inserts key -> (inode, generation), or replaces the entry of a key present. */
int dw_index_insert(struct dw_vde *vde, const unsigned char *key, uint32_t key_length, uint64_t inode,
                    uint32_t inode_generation, dw_diag *diag);
/* Whether an object of this key and value length may be compact in this VDE. */
bool dw_index_compact_fits(const struct dw_vde *vde, uint32_t key_length, uint64_t value_length);
/* Inserts (or replaces with) a compact object: generation, value_length and times from
 * `object`, its bytes from `value`. */
int dw_index_insert_compact(struct dw_vde *vde, const unsigned char *key, uint32_t key_length,
                            const dw_index_hit *object, const unsigned char *value, dw_diag *diag);
/* DW_ENOENT when absent. */
int dw_index_remove(struct dw_vde *vde, const unsigned char *key, uint32_t key_length, dw_diag *diag);
/* The first key greater than (or equal to, when inclusive) `from`; DW_ENOENT when none.
 * The key goes to `key` (capacity key_length_max). */
int dw_index_seek(struct dw_vde *vde, const unsigned char *from, uint32_t from_length, bool inclusive,
                  unsigned char *key, uint32_t *key_length, dw_index_hit *hit, dw_diag *diag);

/* ---- wal.c -------------------------------------------------------------------------- */

/* Writes the pending pages as one record and makes it (and the data before it) durable. */
int dw_wal_flush(struct dw_vde *vde, dw_diag *diag);

/* A record staged by dw_wal_stage. */
typedef struct dw_wal_staged {
    uint64_t lsn;
    uint32_t blocks;                /* 0: nothing was pending */
    bool write_pending;             /* staged only: dw_wal_write_staged writes it */
    uint64_t seq;                   /* the last transaction in it */
    dw_engine_state state;          /* the state after it */
} dw_wal_staged;

/* Waits while a staged record is being written outside the writer lock. */
void dw_wal_wait_flushing(struct dw_vde *vde);
/* With the writer lock held and no record in flight: makes the pending pages one record,
 * logged at the next LSN. With `defer`, a record of one run is only staged (the whole of
 * it in wal_stage, write_pending); any other is written and made durable here. */
int dw_wal_stage(struct dw_vde *vde, bool defer, dw_wal_staged *staged, dw_diag *diag);
/* Writes a staged record durably; called with no lock held. */
int dw_wal_write_staged(struct dw_vde *vde, const dw_wal_staged *staged, dw_diag *diag);
/* The staged record is durable: durable_lsn, durable_seq and durable_state move. */
void dw_wal_publish(struct dw_vde *vde, const dw_wal_staged *staged);
/* One bounded checkpoint step; with `complete`, until every logged page is home and the
 * superblock says so. */
int dw_wal_checkpoint(struct dw_vde *vde, bool complete, dw_diag *diag);
/* Before a transaction: room in the cache and the log for it. */
int dw_wal_make_room(struct dw_vde *vde, dw_diag *diag);
/* Open: replays the log from the checkpoint. */
int dw_wal_recover(struct dw_vde *vde, dw_diag *diag);
/* Writes both superblock copies (one, sync, the other, sync). */
int dw_super_write(struct dw_vde *vde, dw_diag *diag);

#endif /* DW_VDE_ENGINE_H */
