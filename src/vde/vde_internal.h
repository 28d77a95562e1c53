/*
 * vde_internal.h — what the engine offers its own tools and tests beyond the public API:
 * opening over the simulated disk, introspection for `dw vde inspect` and the demo, and
 * the hooks its files share.
 */
#ifndef DW_VDE_VDE_INTERNAL_H
#define DW_VDE_VDE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/log.h"
#include "dwvd.h"
#include "io/sim_disk.h"
#include "sched/edf.h"
#include "vde/format.h"

struct dw_vde;

/* Where a VDE lives: a file (sim_disk NULL) or the simulated disk, and where it logs. */
typedef struct dw_vde_target {
    dw_sim_disk *sim_disk;
    dw_log *log;
    /* Open without writing anything: no repair, no mount count (a crashed VDE's log is
     * still replayed home, as it must be before anything can be read). */
    bool read_only;
    /* Open for dw_vde_verify: read-only, no repair of a damaged superblock copy, and a
     * damaged size sentinel left for verify to report rather than refused. */
    bool verify;
} dw_vde_target;

int dw_vde_create_at(const char *path, const dw_config *config, const dw_create_options *options,
                     const dw_vde_target *target, dw_diag *diag);
int dw_vde_open_at(const char *path, const dw_config *config, const dw_vde_target *target, struct dw_vde **out,
                   dw_diag *diag);

/* Sets the deadline and priority of the I/O the current operation makes. */
void dw_vde_begin_io(struct dw_vde *vde, const dw_op *op);
/* Records an operation's latency in its class, and a miss when its deadline passed. */
void dw_vde_account(struct dw_vde *vde, uint32_t op, uint64_t started_ns);
/* Folds the readers' per-thread latencies into the VDE's, with stats_lock held. */
void dw_vde_latency_collect(struct dw_vde *vde);
/* The page cache's hook for never-written inode table blocks. */
bool dw_vde_fresh_block(void *context, uint64_t block, uint32_t type, unsigned char *data);
/* Aborts every open streaming writer (at close), with the writer lock held. */
void dw_vde_writer_abort_locked(struct dw_vde *vde);

/* ---- introspection ---- */

typedef struct dw_vde_op_stats {
    const char *name;
    uint64_t count;
    uint64_t p50_ns;
    uint64_t p99_ns;
    uint64_t max_ns;
    uint64_t misses;            /* finished after their deadline */
} dw_vde_op_stats;

typedef struct dw_vde_info {
    dw_super_copy super;
    dw_engine_state state;
    uint64_t groups_blocks;     /* blocks in the allocation groups */
    uint64_t wal_used_blocks;
    uint64_t wal_blocks;
    uint64_t next_lsn;
    uint64_t checkpoint_lsn;
    uint64_t seq;
    uint64_t generation_next;   /* the next transaction's generation counter (FORMAT.md §1.1) */
    uint64_t memory_reserved_bytes;
    uint64_t memory_ceiling_bytes;
    uint64_t memory_peak_bytes;
    bool read_only;
    const char *io_backend;
    dw_vde_op_stats ops[5];
    uint64_t commits;
    uint64_t records;
    uint64_t checkpoints;
    uint64_t checkpoint_pages;  /* dirty pages written home by checkpoints and their steps */
    uint64_t recovered_records;
    uint64_t recovered_pages;
    bool truncated_tail;
    uint64_t log_rereads;       /* log blocks that failed their check once, then passed */
    dw_sched_stats sched;
    uint64_t cache_hits;
    uint64_t cache_misses;
    uint32_t cache_pages;       /* the cache's frames (memory.cache_pages, or what 0 chose) */
    uint32_t undo_pages;        /* the most pages one transaction may change */
} dw_vde_info;

/* Fills info (the scheduler's statistics are read between operations). */
void dw_vde_info_read(struct dw_vde *vde, dw_vde_info *info);

/* ---- verify (verify.c) ---- */

#define DW_VERIFY_PROBLEMS_MAX 100
#define DW_VERIFY_TYPES_MAX 16
#define DW_VERIFY_NO_BLOCK UINT64_MAX

typedef struct dw_verify_problem {
    uint64_t block;             /* DW_VERIFY_NO_BLOCK when it is about no one block */
    uint32_t type;              /* the block type that belongs there, 0 when unknown */
    char what[256];
} dw_verify_problem;

typedef struct dw_verify_report {
    /* set by the caller (all optional) */
    void (*progress)(void *context, uint64_t done, uint64_t total);
    /* every block (or superblock unit of `count` blocks) found sound, with its type */
    void (*visit)(void *context, uint64_t block, uint32_t count, uint32_t type);
    void *context;
    /* results */
    uint64_t blocks_checked;
    uint64_t blocks_total;      /* an estimate, for progress */
    uint64_t objects;
    uint64_t inodes;
    uint64_t bytes;             /* value bytes of every object */
    uint64_t memory_bytes;      /* taken (against the ceiling) for the check */
    uint64_t problem_count;     /* all of them; the first DW_VERIFY_PROBLEMS_MAX are kept */
    uint32_t problems_kept;
    uint32_t type_count;
    struct {
        uint32_t type;
        uint64_t blocks;
    } types[DW_VERIFY_TYPES_MAX];
    dw_verify_problem problems[DW_VERIFY_PROBLEMS_MAX];
} dw_verify_report;

/* Checks every block and structure of a VDE opened with dw_vde_target.verify. Returns
 * DW_OK when the check ran (its findings are in the report: problem_count 0 means
 * clean), or an error when it could not (memory, an unreadable device). The public
 * dw_vde_verify (api.c) opens a file for it and reports in public types. */
int dw_vde_verify_handle(struct dw_vde *vde, dw_verify_report *report, dw_diag *diag);

#endif /* DW_VDE_VDE_INTERNAL_H */
