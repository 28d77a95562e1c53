/*
 * api.c — the embedder's view of a VDE (include/dwvd.h, "Looking at a VDE"): statistics,
 * read-only open, verification by path and the hold-up window, built on what the engine
 * offers its own tools (vde_internal.h).
 *
 * It copies what the engine reports into the public structs, which hold no internal type
 * and no pointer into the library. It must never change the engine's state, and it reads
 * the handle's fields in one place only (read_engine_now, below): everything else goes
 * through dw_vde_info_read, dw_vde_open_at and dw_vde_verify_handle.
 */
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/text.h"
#include "vde/engine.h"
#include "vde/vde_internal.h"

_Static_assert(DW_VDE_OP_CLASSES == DW_VDE_OP_COUNT, "dwvd.h counts the engine's operation classes");
_Static_assert(DW_VDE_IO_CLASSES == DW_OP_CLASS_COUNT, "dwvd.h counts the scheduler's I/O classes");
_Static_assert(DW_VDE_TEXT_SIZE == DW_LABEL_SIZE && DW_VDE_TEXT_SIZE == DW_ANCHOR_TEXT_SIZE,
               "the label and the anchor fit the public struct whole");
_Static_assert(DW_VDE_BLOCK_SIZE_MIN == DW_BLOCK_SIZE_MIN && DW_VDE_BLOCK_SIZE_MAX == DW_BLOCK_SIZE_MAX,
               "dwvd.h states the format's block sizes");
_Static_assert(DW_VDE_LABEL_MAX + 1 == DW_LABEL_SIZE, "dwvd.h states the format's label length");
_Static_assert(DW_VDE_NAME_SIZE + 8 == DW_NODE_NAME_SIZE, "the writer's node name fits whole");
_Static_assert(DW_VDE_MODULES_MAX >= DW_MODULE_COUNT, "every module fits the public struct");
_Static_assert(DW_VDE_VERIFY_PROBLEMS_MAX == DW_VERIFY_PROBLEMS_MAX, "verify keeps as many problems as it reports");
_Static_assert(DW_VDE_VERIFY_TYPES_MAX == DW_VERIFY_TYPES_MAX, "verify counts as many types as it reports");
_Static_assert(DW_VDE_VERIFY_TEXT_MAX == sizeof(((dw_verify_problem *)0)->what), "problem texts fit whole");
_Static_assert(DW_VDE_BLOCK_TYPE_SIZE >= 5, "a block type's four letters and the NUL");

/* ------------------------------------------------------------------------------------
 * The one place that reads the handle's fields directly.
 *
 * For the core's engineers: what the hold-up bound and the budgets need and
 * dw_vde_info_read does not report, read under vde->lock exactly as dw_vde_info_read
 * reads its figures. When the handle is split or its locking changes, this function is
 * all there is to adapt here (or it moves beside dw_vde_info_read).
 * ---------------------------------------------------------------------------------- */

typedef struct engine_now {
    uint32_t dirty_pages;           /* cache pages that differ from their home block */
    uint32_t pending_pages;         /* of which changed since the last WAL record */
    bool data_unsynced;             /* data blocks written or in flight since the last sync */
    uint64_t wal_used_blocks;       /* next_lsn - checkpoint_lsn */
    uint64_t wal_blocks;
    uint32_t block_size;
    uint32_t unit_size;
    uint32_t batch_max;             /* blocks in one device request */
    bool read_only;
    dw_wcet_entry wcet[DW_OP_CLASS_COUNT];
} engine_now;

static void read_engine_now(struct dw_vde *vde, engine_now *now)
{
    (void)pthread_mutex_lock(&vde->lock);
    now->dirty_pages = vde->cache.dirty_count;
    now->pending_pages = dw_cache_pending_count(&vde->cache);
    now->data_unsynced = vde->group_has_data || vde->device.in_flight > 0;
    now->wal_used_blocks = vde->next_lsn - vde->checkpoint_lsn;
    now->wal_blocks = vde->wal_blocks;
    now->block_size = vde->block_size;
    now->unit_size = vde->super.super.unit_size;
    now->batch_max = vde->device.batch_max;
    now->read_only = vde->read_only;
    dw_wcet_table(&vde->config, now->wcet);
    (void)pthread_mutex_unlock(&vde->lock);
    DW_ASSERT(now->pending_pages <= now->dirty_pages);
    DW_ASSERT(now->batch_max >= 1 && now->wal_used_blocks <= now->wal_blocks);
}

/* ------------------------------------------------------------------------------------
 * dw_vde_stat
 * ---------------------------------------------------------------------------------- */

static const char *const incompat_names[] = {"page_wal", "inline_data", "ordered_data", "compact"};
static const char *const ro_compat_names[] = {"tags"};
static const char *const compat_names[] = {"sparse", "deterministic"};

/* The names of the bits set in `flags`, separated by spaces; "unknown-N" for a bit the
 * table has no name for. */
static void flag_names(uint64_t flags, const char *const *names, size_t count, char *text, size_t size)
{
    size_t used = 0;
    text[0] = '\0';
    for (uint32_t bit = 0; bit < 64; bit++) {
        if ((flags & (UINT64_C(1) << bit)) == 0) {
            continue;
        }
        char unknown[24];
        (void)dw_format(unknown, sizeof unknown, "unknown-%u", bit);
        const char *name = bit < count ? names[bit] : unknown;
        (void)dw_format(text + used, size - used, "%s%s", used == 0 ? "" : " ", name);
        used = strlen(text);
    }
}

static void copy_text(char *to, size_t size, const char *from)
{
    (void)dw_format(to, size, "%s", from != NULL ? from : "");
}

static void stats_identity(const dw_vde_info *info, dw_vde_stats *stats)
{
    const dw_superblock *super = &info->super.super;
    const dw_extended *extended = &info->super.extended;
    stats->format_version = super->format_version;
    stats->min_reader_version = super->min_reader_version;
    stats->min_writer_version = super->min_writer_version;
    memcpy(stats->uuid, super->uuid, sizeof stats->uuid);
    copy_text(stats->anchor, sizeof stats->anchor, super->anchor);
    copy_text(stats->label, sizeof stats->label, extended->label);
    stats->block_size = super->block_size;
    stats->unit_size = super->unit_size;
    stats->block_count = super->block_count;
    stats->region_count = info->super.regions.count;
    for (uint32_t i = 0; i < info->super.regions.count && i < DW_VDE_REGIONS_MAX; i++) {
        const dw_region *region = &info->super.regions.slots[i];
        copy_text(stats->regions[i].type, sizeof stats->regions[i].type, dw_region_name(region->type));
        stats->regions[i].start = region->start;
        stats->regions[i].count = region->count;
        stats->regions[i].param = region->param;
    }
    stats->incompat = super->incompat;
    stats->ro_compat = super->ro_compat;
    stats->compat = super->compat;
    flag_names(super->incompat, incompat_names, DW_ARRAY_COUNT(incompat_names), stats->incompat_names,
               sizeof stats->incompat_names);
    flag_names(super->ro_compat, ro_compat_names, DW_ARRAY_COUNT(ro_compat_names), stats->ro_compat_names,
               sizeof stats->ro_compat_names);
    flag_names(super->compat, compat_names, DW_ARRAY_COUNT(compat_names), stats->compat_names,
               sizeof stats->compat_names);
    stats->module_manifest = super->module_manifest;
    for (uint32_t m = 0; m < DW_MODULE_COUNT; m++) {
        if ((super->module_manifest & (1u << m)) != 0) {
            dw_vde_module *module = &stats->modules[stats->module_count++];
            copy_text(module->name, sizeof module->name, dw_module_name(m));
            /* One nibble a module: module m in byte m / 2, low nibble first. */
            module->config = ((unsigned)super->module_config[m / 2] >> ((m % 2) * 4)) & 0xfu;
        }
    }
}

static void stats_health_and_usage(const dw_vde_info *info, dw_vde_stats *stats)
{
    const dw_superblock *super = &info->super.super;
    const dw_extended *extended = &info->super.extended;
    copy_text(stats->state, sizeof stats->state, dw_health_state_name(super->state));
    stats->mount_count = super->mount_count;
    stats->error_count = super->error_count;
    stats->created_ns = super->created_ns;
    stats->clean_close_ns = super->clean_close_ns;
    copy_text(stats->writer_node, sizeof stats->writer_node, super->writer_node);
    stats->writer_pid = super->writer_pid;
    stats->writer_session = super->writer_session;
    stats->writer_time_ns = super->writer_time_ns;
    stats->sequence = super->sequence;
    stats->checkpoint_seq = super->checkpoint_seq;
    stats->generation_next = super->generation_next;
    stats->object_count = info->state.object_count;
    stats->inode_count = extended->inode_count;
    stats->inodes_used = info->state.inodes_used;
    stats->group_count = extended->group_count;
    stats->group_blocks = info->groups_blocks;
    stats->data_blocks_used = info->state.data_blocks_used;
    stats->data_bytes_used = info->state.data_blocks_used * super->block_size;
    stats->index_height = info->state.index_height;
    stats->index_root = info->state.index_root;
}

static void stats_counters(const dw_vde_info *info, const engine_now *now, dw_vde_stats *stats)
{
    stats->wal_blocks = info->wal_blocks;
    stats->wal_used_blocks = info->wal_used_blocks;
    stats->next_lsn = info->next_lsn;
    stats->checkpoint_lsn = info->checkpoint_lsn;
    stats->transaction_seq = info->seq;
    stats->log_rereads = info->log_rereads;
    stats->memory_reserved_bytes = info->memory_reserved_bytes;
    stats->memory_ceiling_bytes = info->memory_ceiling_bytes;
    stats->memory_peak_bytes = info->memory_peak_bytes;
    copy_text(stats->io_backend, sizeof stats->io_backend, info->io_backend);
    stats->read_only = info->read_only;
    for (uint32_t i = 0; i < DW_VDE_OP_CLASSES; i++) {
        const dw_vde_op_stats *from = &info->ops[i];
        dw_vde_op_figures *to = &stats->ops[i];
        copy_text(to->name, sizeof to->name, from->name);
        to->count = from->count;
        to->p50_ns = from->p50_ns;
        to->p99_ns = from->p99_ns;
        to->max_ns = from->max_ns;
        to->misses = from->misses;
    }
    stats->commits = info->commits;
    stats->records = info->records;
    stats->checkpoints = info->checkpoints;
    stats->checkpoint_pages = info->checkpoint_pages;
    stats->recovered_records = info->recovered_records;
    stats->recovered_pages = info->recovered_pages;
    stats->truncated_tail = info->truncated_tail;
    stats->cache_hits = info->cache_hits;
    stats->cache_misses = info->cache_misses;
    for (uint32_t k = 0; k < DW_VDE_IO_CLASSES; k++) {
        const dw_sched_class_stats *from = &info->sched.by_class[k];
        dw_vde_io_figures *to = &stats->io[k];
        copy_text(to->name, sizeof to->name, now->wcet[k].name);
        to->completed = from->completed;
        to->misses = from->misses;
        to->p50_ns = from->p50_ns;
        to->p99_ns = from->p99_ns;
        to->max_ns = from->max_ns;
        to->service_max_ns = from->service_max_ns;
        to->budget_ns = now->wcet[k].budget_ns;
    }
    stats->io_submitted = info->sched.submitted;
    stats->io_completed = info->sched.completed;
    stats->io_refused = info->sched.refused;
    stats->io_cancelled = info->sched.cancelled;
    stats->io_misses = info->sched.misses;
}

int dw_vde_stat(dw_vde *vde, dw_vde_stats *stats, dw_diag *diag)
{
    if (vde == NULL || stats == NULL) {
        return dw_diag_fail(diag, DW_EINVAL, "pass an open VDE and a dw_vde_stats to fill",
                            "dw_vde_stat: the %s is NULL", vde == NULL ? "VDE" : "stats pointer");
    }
    /* Large (the region directory has 127 slots), and the call may come from any thread:
     * on the heap for the call, not static. */
    dw_vde_info *info = malloc(sizeof *info);
    if (info == NULL) {
        return dw_diag_fail(diag, DW_ENOMEM, NULL, "dw_vde_stat: cannot take %zu bytes to copy the figures",
                            sizeof *info);
    }
    dw_vde_info_read(vde, info);
    engine_now now;
    read_engine_now(vde, &now);
    memset(stats, 0, sizeof *stats);
    stats_identity(info, stats);
    stats_health_and_usage(info, stats);
    stats_counters(info, &now, stats);
    DW_ASSERT(stats->block_size == now.block_size);
    DW_ASSERT(stats->module_count <= DW_VDE_MODULES_MAX);
    free(info);
    return DW_OK;
}

/* ------------------------------------------------------------------------------------
 * dw_vde_open_read_only
 * ---------------------------------------------------------------------------------- */

int dw_vde_open_read_only(const char *path, const dw_config *config, dw_vde **vde, dw_diag *diag)
{
    if (vde != NULL) {
        *vde = NULL;
    }
    if (path == NULL || config == NULL || vde == NULL) {
        return dw_diag_fail(diag, DW_EINVAL, "pass a path, a configuration and where the handle goes",
                            "dw_vde_open_read_only: the %s is NULL",
                            path == NULL ? "path" : config == NULL ? "configuration" : "handle pointer");
    }
    dw_vde_target target = {.read_only = true};
    int result = dw_vde_open_at(path, config, &target, vde, diag);
    DW_ASSERT(result != DW_OK || (*vde != NULL && (*vde)->read_only));
    return result;
}

/* ------------------------------------------------------------------------------------
 * dw_vde_verify
 * ---------------------------------------------------------------------------------- */

static void report_from(const dw_verify_report *from, dw_vde_verify_report *to)
{
    DW_ASSERT(from->problems_kept <= DW_VERIFY_PROBLEMS_MAX && from->type_count <= DW_VERIFY_TYPES_MAX);
    DW_ASSERT(from->problems_kept <= from->problem_count);
    to->blocks_checked = from->blocks_checked;
    to->blocks_total = from->blocks_total;
    to->objects = from->objects;
    to->inodes = from->inodes;
    to->bytes = from->bytes;
    to->memory_bytes = from->memory_bytes;
    to->problem_count = from->problem_count;
    to->problems_kept = from->problems_kept;
    to->type_count = from->type_count;
    for (uint32_t i = 0; i < from->type_count; i++) {
        dw_block_type_text(from->types[i].type, to->types[i].type);
        to->types[i].blocks = from->types[i].blocks;
    }
    for (uint32_t i = 0; i < from->problems_kept; i++) {
        const dw_verify_problem *problem = &from->problems[i];
        to->problems[i].block = problem->block == DW_VERIFY_NO_BLOCK ? DW_VDE_NO_BLOCK : problem->block;
        to->problems[i].type[0] = '\0';
        if (problem->type != 0) {
            dw_block_type_text(problem->type, to->problems[i].type);
        }
        copy_text(to->problems[i].what, sizeof to->problems[i].what, problem->what);
    }
}

int dw_vde_verify(const char *path, const dw_config *config, dw_vde_verify_report *report, dw_diag *diag)
{
    if (path == NULL || config == NULL || report == NULL) {
        return dw_diag_fail(diag, DW_EINVAL, "pass a path, a configuration and a report to fill",
                            "dw_vde_verify: the %s is NULL",
                            path == NULL ? "path" : config == NULL ? "configuration" : "report");
    }
    void (*progress)(void *, uint64_t, uint64_t) = report->progress;
    void *context = report->context;
    memset(report, 0, sizeof *report);
    report->progress = progress;
    report->context = context;
    /* Verify takes its memory when it starts, not at open (verify.c); the report's
     * problem texts are part of it. */
    dw_verify_report *found = calloc(1, sizeof *found);
    if (found == NULL) {
        return dw_diag_fail(diag, DW_ENOMEM, NULL, "cannot take %zu bytes for the report of verifying '%s'",
                            sizeof *found, path);
    }
    found->progress = progress;
    found->context = context;
    dw_vde_target target = {.verify = true};
    struct dw_vde *vde = NULL;
    int result = dw_vde_open_at(path, config, &target, &vde, diag);
    if (result == DW_OK) {
        result = dw_vde_verify_handle(vde, found, diag);
        dw_diag close_diag;
        dw_diag_clear(&close_diag);
        int closed = dw_vde_close(vde, &close_diag);
        if (result == DW_OK && closed != DW_OK) {
            result = closed;
            if (diag != NULL) {
                *diag = close_diag;
            }
        }
    }
    if (result == DW_OK) {
        report_from(found, report);
    }
    free(found);
    return result;
}

/* ------------------------------------------------------------------------------------
 * dw_vde_holdup_ns: the formula of docs/DETERMINISM.md, "The hold-up window"
 * ---------------------------------------------------------------------------------- */

/* The budget of writing `blocks` blocks in requests of at most `per_request` blocks:
 * each request a single write or a batch, served one after the other. */
static uint64_t write_bound_ns(uint64_t blocks, uint32_t per_request, const dw_wcet_entry *wcet)
{
    DW_ASSERT(per_request >= 1);
    if (blocks == 0) {
        return 0;
    }
    uint64_t requests = (blocks + per_request - 1) / per_request;
    uint64_t each = per_request == 1 ? wcet[DW_OP_WRITE].budget_ns : wcet[DW_OP_WRITE_BATCH].budget_ns;
    if (wcet[DW_OP_WRITE].budget_ns > each) {
        each = wcet[DW_OP_WRITE].budget_ns;
    }
    return requests * each;
}

static uint64_t holdup_bound_ns(const engine_now *now)
{
    const dw_wcet_entry *wcet = now->wcet;
    uint64_t flush = wcet[DW_OP_FLUSH].budget_ns;
    if (now->read_only) {
        return 0; /* dw_sync writes nothing */
    }
    /* Data first: a record never names blocks that are not yet durable (wal.c). */
    uint64_t total = now->data_unsynced ? flush : 0;
    if (now->pending_pages == 0) {
        return total;
    }
    /* The record: a header, the entry blocks, a page image each. The log writer stages
     * DW_WAL_STAGE_BLOCKS at a time and splits a run where the log wraps: one request
     * more than the blocks need. */
    uint64_t record_blocks = 1 + dw_wal_entry_blocks(now->block_size, now->pending_pages) + now->pending_pages;
    uint32_t run = now->batch_max < DW_WAL_STAGE_BLOCKS ? now->batch_max : DW_WAL_STAGE_BLOCKS;
    uint64_t record = write_bound_ns(record_blocks, run, wcet) + write_bound_ns(1, 1, wcet) + flush;
    if (now->wal_used_blocks + record_blocks > now->wal_blocks) {
        /* No room: a whole checkpoint first. Every dirty page home (one write each, at
         * worst), a sync, then both superblock copies, each written and synced. */
        uint64_t copy_blocks = (uint64_t)DW_UNITS_PER_COPY * now->unit_size / now->block_size;
        uint64_t copy_blocks_each = copy_blocks == 0 ? 1 : copy_blocks;
        uint32_t per_copy_request = now->batch_max;
        total += write_bound_ns(now->dirty_pages, 1, wcet) + flush;
        total += 2 * (write_bound_ns(copy_blocks_each, per_copy_request, wcet) + flush);
    }
    return total + record;
}

int dw_vde_holdup_ns(dw_vde *vde, uint64_t *holdup_ns, dw_diag *diag)
{
    if (vde == NULL || holdup_ns == NULL) {
        return dw_diag_fail(diag, DW_EINVAL, "pass an open VDE and where the figure goes",
                            "dw_vde_holdup_ns: the %s is NULL", vde == NULL ? "VDE" : "result pointer");
    }
    engine_now now;
    read_engine_now(vde, &now);
    *holdup_ns = holdup_bound_ns(&now);
    DW_ASSERT(now.pending_pages > 0 || *holdup_ns <= now.wcet[DW_OP_FLUSH].budget_ns);
    return DW_OK;
}
