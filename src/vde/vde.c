/*
 * vde.c — a VDE's life: create, open (with recovery), close; the memory it takes; and the
 * transaction frame every change runs in.
 *
 * Opening plans every piece of memory against memory.ceiling (pool, I/O, scheduler, page
 * cache with its undo area, staging, quarantine, iterators, statistics), maps them once,
 * then reads the superblock group through the scheduler, picks the newest copy that
 * verifies, refuses what this build must not touch, and replays the WAL. Nothing it sets
 * up is allocated again until close.
 *
 * The one I/O not made through the scheduler is the first: reading the superblock's
 * geometry (block and unit size) with pread, because the engine's I/O path is sized by
 * the block size it reads. Everything after it goes through dw_sched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/checksum.h"
#include "core/endian.h"
#include "core/error.h"
#include "core/random.h"
#include "core/text.h"
#include "vde/engine.h"
#include "vde/vde_internal.h"

/* A strict commit of this thread whose record is not yet known durable: the call that
 * committed waits for it once it has let go of the writer lock (dw_vde_commit_wait). */
static _Thread_local struct {
    struct dw_vde *vde;
    uint64_t seq;
    uint64_t started_ns;
} deferred_commit;

#define SIM_PENDING_BYTES (UINT32_C(8) << 20)

uint64_t dw_vde_now_ns(struct dw_vde *vde)
{
    if (vde->deterministic) {
        /* The logical clock: one tick a transaction, so times follow the operations. */
        return vde->seq;
    }
    return dw_clock_realtime_ns(&vde->system_clock);
}

static dw_priority priority_of(dw_op_priority priority)
{
    switch (priority) {
    case DW_OP_CRITICAL: return DW_PRIORITY_CRITICAL;
    case DW_OP_HIGH: return DW_PRIORITY_HIGH;
    case DW_OP_BEST_EFFORT: return DW_PRIORITY_BEST_EFFORT;
    case DW_OP_NORMAL:
    default: return DW_PRIORITY_NORMAL;
    }
}

void dw_vde_begin_io(struct dw_vde *vde, const dw_op *op)
{
    uint64_t budget = op != NULL && op->deadline_ns > 0 ? op->deadline_ns : vde->config.op_deadline_ns;
    dw_device_begin_op(&vde->device, budget, op != NULL ? priority_of(op->priority) : DW_PRIORITY_NORMAL);
}

/* ---- memory and the layers under the engine ------------------------------------------- */

/* The undo area: a quarter of the cache. An automatic cache (memory.cache_pages = 0)
 * stops it at UNDO_AUTO_MAX pages, since a transaction of more pages would not fit the
 * default log anyway, and it is trimmed to the log at open (start_engine). */
#define UNDO_AUTO_MAX 4096u

static uint32_t undo_pages_for(uint32_t cache_pages, bool automatic)
{
    uint32_t undo = cache_pages / 4;
    if (automatic && undo > UNDO_AUTO_MAX) {
        undo = UNDO_AUTO_MAX;
    }
    return undo < 16 ? 16 : undo;
}

/* limits.writers_max slots, each with its key, the block it fills and its reserved
 * extents. */
static uint64_t writers_bytes(const struct dw_vde *vde)
{
    uint64_t slot = sizeof(struct dw_writer) + (uint64_t)vde->config.key_length_max + 8 + (uint64_t)vde->block_size +
                    16 + (uint64_t)DW_WRITER_EXTENTS_MAX * sizeof(dw_reserved) + 16;
    return (uint64_t)vde->config.writers_max * slot + 16;
}

static uint64_t misc_bytes(const struct dw_vde *vde, uint32_t unit_size)
{
    uint32_t block = vde->block_size;
    uint32_t key_max = vde->config.key_length_max;
    uint64_t iterators = (uint64_t)vde->config.iterators_max * (sizeof(struct dw_iter) + 2 * (uint64_t)key_max + 16);
    return (uint64_t)(vde->wal_stage_blocks + DW_DATA_STAGE_BLOCKS + 1) * block + (uint64_t)DW_UNITS_PER_COPY * unit_size +
           ((uint64_t)key_max + 16) + dw_index_scratch_bytes(block, key_max) +
           (uint64_t)DW_QUARANTINE_MAX * sizeof(dw_quarantine) + (uint64_t)vde->pending_limit * sizeof(dw_wal_entry) +
           iterators + (uint64_t)DW_VDE_OP_COUNT * sizeof(dw_histogram) + 1024 + /* alignment slack */
           (uint64_t)DW_VDE_READER_SLOTS * sizeof(dw_vde_reader_latency) + 64 +
           4 * (uint64_t)block + /* the I/O buffers are aligned to the block, for O_DIRECT */
           (uint64_t)DW_READER_STAGES * DW_READER_STAGE_BLOCKS * block + block +
           (uint64_t)vde->config.iterators_max * ((uint64_t)key_max + 16) + writers_bytes(vde);
}

static unsigned char *carve(unsigned char **at, uint64_t bytes, uint64_t alignment)
{
    uintptr_t misalignment = (uintptr_t)*at % alignment;
    unsigned char *aligned = *at + (misalignment == 0 ? 0 : alignment - misalignment);
    *at = aligned + bytes;
    return aligned;
}

static void lay_out_misc(struct dw_vde *vde, uint32_t unit_size)
{
    unsigned char *at = dw_arena_piece_memory(&vde->arena, vde->misc_piece);
    uint32_t block = vde->block_size;
    uint32_t key_max = vde->config.key_length_max;
    /* Aligned to the block: the direct path hands them to the kernel as they are. */
    vde->wal_stage = carve(&at, (uint64_t)vde->wal_stage_blocks * block, block);
    vde->data_stage = carve(&at, (uint64_t)DW_DATA_STAGE_BLOCKS * block, block);
    vde->scratch = carve(&at, block, block);
    vde->super_stage = carve(&at, (uint64_t)DW_UNITS_PER_COPY * unit_size, block);
    vde->reader_stages = carve(&at, (uint64_t)DW_READER_STAGES * DW_READER_STAGE_BLOCKS * block, block);
    vde->key_buffer = carve(&at, (uint64_t)key_max + 16, 8);
    vde->writers = (struct dw_writer *)(void *)carve(&at, (uint64_t)vde->config.writers_max * sizeof(struct dw_writer), 16);
    vde->writer_count = vde->config.writers_max;
    for (uint32_t i = 0; i < vde->writer_count; i++) {
        struct dw_writer *writer = &vde->writers[i];
        memset(writer, 0, sizeof *writer);
        writer->vde = vde;
        writer->key = carve(&at, (uint64_t)key_max + 8, 8);
        writer->partial = carve(&at, block, 16); /* copied into the data stage, never handed to the kernel */
        writer->extents = (dw_reserved *)(void *)carve(&at, (uint64_t)DW_WRITER_EXTENTS_MAX * sizeof(dw_reserved), 16);
    }
    dw_index_scratch_init(&vde->index, carve(&at, dw_index_scratch_bytes(block, key_max), 16), block, key_max);
    vde->quarantine = (dw_quarantine *)(void *)carve(&at, (uint64_t)DW_QUARANTINE_MAX * sizeof(dw_quarantine), 16);
    vde->recovery_entries =
        (dw_wal_entry *)(void *)carve(&at, (uint64_t)vde->pending_limit * sizeof(dw_wal_entry), 16);
    vde->iterators = (struct dw_iter *)(void *)carve(&at, (uint64_t)vde->config.iterators_max * sizeof(struct dw_iter), 16);
    vde->iterator_count = vde->config.iterators_max;
    for (uint32_t i = 0; i < vde->iterator_count; i++) {
        struct dw_iter *iter = &vde->iterators[i];
        memset(iter, 0, sizeof *iter);
        iter->vde = vde;
        iter->prefix = carve(&at, (uint64_t)key_max + 8, 8);
        iter->last = carve(&at, (uint64_t)key_max + 8, 8);
        iter->found = carve(&at, (uint64_t)key_max + 8, 8);
    }
    vde->latency = (dw_histogram *)(void *)carve(&at, (uint64_t)DW_VDE_OP_COUNT * sizeof(dw_histogram), 16);
    for (uint32_t i = 0; i < DW_VDE_OP_COUNT; i++) {
        dw_histogram_reset(&vde->latency[i]);
    }
    vde->reader_latency = (dw_vde_reader_latency *)(void *)carve(
        &at, (uint64_t)DW_VDE_READER_SLOTS * sizeof(dw_vde_reader_latency), _Alignof(dw_vde_reader_latency));
    for (uint32_t i = 0; i < DW_VDE_READER_SLOTS; i++) {
        dw_vde_reader_latency *slot = &vde->reader_latency[i];
        (void)pthread_mutex_init(&slot->lock, NULL);
        slot->max_ns = 0;
        slot->misses = 0;
        dw_histogram_reset(&slot->histogram);
    }
    DW_ASSERT(at <= (unsigned char *)dw_arena_piece_memory(&vde->arena, vde->misc_piece) + misc_bytes(vde, unit_size));
}

/* An automatic cache: the pages memory.ceiling leaves once the pool, the I/O, the
 * scheduler and the engine's own state are planned, less a sixteenth of the ceiling
 * (and 768 KiB) for what open reserves besides, the arena's rounding, and what the
 * process holds outside the engine (thread stacks, the C library): with a 32nd, the
 * whole process's peak (VmHWM) went 3.6 MiB over a 256 MiB ceiling in make bench. A
 * user who gives the engine a ceiling and nothing else gets a cache as large as it
 * allows. */
static uint32_t cache_pages_auto(struct dw_vde *vde, uint32_t unit_size)
{
    uint64_t ceiling = vde->config.memory_ceiling_bytes;
    uint32_t block = vde->block_size;
    vde->pending_limit = 65536; /* the most it can be: the engine state below is an upper bound */
    uint64_t taken = vde->arena.planned_bytes + misc_bytes(vde, unit_size) + ceiling / 16 + (UINT64_C(768) << 10);
    if (taken >= ceiling) {
        return DW_CACHE_PAGES_AUTO_MIN; /* the plan then says what does not fit */
    }
    uint64_t left = ceiling - taken;
    /* A page: its frame, descriptor, pending-list entry, up to two bucket entries, its
     * homing-list entry and its links on the logged list. */
    uint64_t per_page = (uint64_t)block + sizeof(dw_page) + 4 * sizeof(uint32_t) + sizeof(dw_cache_link);
    uint64_t pages = left / per_page;
    uint64_t undo = undo_pages_for(pages > UINT32_MAX ? UINT32_MAX : (uint32_t)pages, true);
    uint64_t undo_bytes = undo * ((uint64_t)block + sizeof(dw_undo_entry));
    pages = left > undo_bytes ? (left - undo_bytes) / per_page : 0;
    if (pages < DW_CACHE_PAGES_AUTO_MIN) {
        return DW_CACHE_PAGES_AUTO_MIN;
    }
    return pages > (UINT32_C(1) << 24) ? UINT32_C(1) << 24 : (uint32_t)pages;
}

/* Plans and maps every piece, and opens the file, the pool, the I/O and the scheduler. */
static int open_layers(struct dw_vde *vde, const dw_vde_target *target, uint32_t unit_size, uint64_t create_bytes,
                       dw_diag *diag)
{
    dw_config *config = &vde->config;
    /* The log stage: a record up to this long is one durable write, and a group record
     * of that size is written with the writer lock released. A 128th of the cache: of
     * memory.cache_pages, or of the ceiling when the cache is sized from it; 64 to 1024
     * blocks (2 MiB of 4 KiB blocks under a 256 MiB ceiling). */
    uint64_t stage_blocks = config->cache_pages != 0 ? config->cache_pages / 128
                                                     : config->memory_ceiling_bytes / 128 / vde->block_size;
    stage_blocks = stage_blocks < DW_WAL_STAGE_BLOCKS ? DW_WAL_STAGE_BLOCKS : stage_blocks;
    vde->wal_stage_blocks = (uint32_t)(stage_blocks > DW_WAL_STAGE_BLOCKS_MAX ? DW_WAL_STAGE_BLOCKS_MAX : stage_blocks);
    dw_budget_init(&vde->budget, config->memory_ceiling_bytes, config->pressure_percent);
    dw_arena_init(&vde->arena, &vde->budget);
    int result = dw_pool_plan_in(&vde->arena, config->buffer_count, vde->block_size, &vde->pool_plan, diag);
    if (result == DW_OK) {
        result = dw_io_plan_in(&vde->arena, config->queue_depth, &vde->io_plan, diag);
    }
    if (result == DW_OK) {
        result = dw_sched_plan_in(&vde->arena, config, &vde->sched_plan, diag);
    }
    if (result != DW_OK) {
        return result;
    }
    vde->cache_auto = config->cache_pages == 0;
    if (vde->cache_auto) {
        config->cache_pages = cache_pages_auto(vde, unit_size);
    }
    uint32_t undo = undo_pages_for(config->cache_pages, vde->cache_auto);
    /* A record holds the pages of at least one whole transaction (the undo area) and 16
     * more, next to the undo area and 16 pages for reading. */
    if (config->cache_pages < 2 * undo + 32) {
        return dw_diag_fail(diag, DW_ECONFIG, "raise memory.cache_pages to at least 64",
                            "memory.cache_pages = %u is too few to run transactions in", config->cache_pages);
    }
    uint32_t per_record = config->cache_pages - undo - 16;
    vde->pending_limit = per_record < 65536 ? per_record : 65536;
    if (result == DW_OK) {
        result = dw_cache_plan_in(&vde->arena, config->cache_pages, undo, vde->block_size, &vde->cache_plan, diag);
    }
    if (result == DW_OK) {
        result = dw_arena_plan(&vde->arena, "engine staging and state", misc_bytes(vde, unit_size), 64,
                               &vde->misc_piece, diag);
    }
    if (result == DW_OK) {
        result = dw_arena_allocate(&vde->arena, config->memory_lock, diag);
    }
    if (result != DW_OK) {
        return result;
    }
    lay_out_misc(vde, unit_size);
    const dw_clock *io_clock = target->sim_disk != NULL ? &target->sim_disk->clock.clock : &vde->system_clock;
    vde->clock = io_clock;
    vde->pool = dw_pool_open_in(&vde->arena, &vde->pool_plan, io_clock);
    dw_io_options io_options = {
        .path = vde->path,
        .backend = target->sim_disk != NULL ? DW_IO_BACKEND_SIM : config->io_backend,
        .queue_depth = config->queue_depth,
        .block_size = vde->block_size,
        .size_bytes = create_bytes,
        .create = create_bytes > 0,
        .sparse = true,
        .direct = config->io_direct,
        .sqpoll = config->io_sqpoll,
        .pool = vde->pool,
        .clock = io_clock,
        .log = vde->log,
        .sim_disk = target->sim_disk,
    };
    result = dw_io_open(&vde->io, &vde->arena, &vde->io_plan, &io_options, diag);
    if (result != DW_OK) {
        return result;
    }
    result = dw_sched_open(&vde->sched, &vde->arena, &vde->sched_plan, config, &vde->io, vde->pool, io_clock,
                           vde->log, diag);
    if (result != DW_OK) {
        dw_io_close(&vde->io);
        return result;
    }
    bool stepped = target->sim_disk != NULL;
    if (!stepped) {
        result = dw_sched_start(&vde->sched, diag);
        if (result != DW_OK) {
            (void)dw_sched_stop(&vde->sched, 0);
            return result;
        }
        vde->sched_started = true;
    }
    dw_device_init(&vde->device, &vde->sched, io_clock, vde->path, vde->block_size,
                   vde->io.size_bytes / vde->block_size, stepped, config->queue_depth);
    dw_cache_open(&vde->cache, &vde->arena, &vde->cache_plan, &vde->device);
    dw_cache_set_fresh(&vde->cache, dw_vde_fresh_block, vde);
    return DW_OK;
}

static void close_layers(struct dw_vde *vde)
{
    for (uint32_t i = 0; vde->reader_latency != NULL && i < DW_VDE_READER_SLOTS; i++) {
        (void)pthread_mutex_destroy(&vde->reader_latency[i].lock);
    }
    vde->reader_latency = NULL;
    if (vde->arena.base != NULL && vde->sched.io != NULL) {
        (void)dw_sched_stop(&vde->sched, DW_NS_PER_S);
    }
    if (vde->arena.budget != NULL) { /* planned at all */
        dw_arena_close(&vde->arena);
    }
}

static struct dw_vde *new_handle(const char *path, const dw_config *config, dw_diag *diag)
{
    size_t bytes = (sizeof(struct dw_vde) + 127) & ~(size_t)127;
    struct dw_vde *vde = aligned_alloc(128, bytes);
    if (vde == NULL) {
        (void)dw_diag_fail(diag, DW_ENOMEM, NULL, "cannot allocate the handle for '%s'", path);
        return NULL;
    }
    memset(vde, 0, sizeof *vde);
    vde->config = *config;
    dw_format(vde->path, sizeof vde->path, "%s", path);
    dw_clock_system_init(&vde->system_clock, 0);
    vde->clock = &vde->system_clock;
    vde->deterministic = config->deterministic;
    dw_gate_init(&vde->gate);
    (void)pthread_mutex_init(&vde->lock, NULL);
    (void)pthread_cond_init(&vde->flusher_wake, NULL);
    /* A waiting writer goes before readers that come after it: with readers first, a
     * steady stream of them would keep the writer out for ever (seen in
     * test_concurrency). A writer holds it only while it changes memory, so a reader
     * waits at most for that. Readers never take it twice on one thread. */
    pthread_rwlockattr_t attributes;
    (void)pthread_rwlockattr_init(&attributes);
    (void)pthread_rwlockattr_setkind_np(&attributes, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    (void)pthread_rwlock_init(&vde->state_lock, &attributes);
    (void)pthread_rwlockattr_destroy(&attributes);
    atomic_init(&vde->state_kept, false);
    (void)pthread_mutex_init(&vde->kept_lock, NULL);
    (void)pthread_cond_init(&vde->kept_ended, NULL);
    (void)pthread_mutex_init(&vde->stats_lock, NULL);
    (void)pthread_mutex_init(&vde->stage_lock, NULL);
    (void)pthread_cond_init(&vde->stage_free, NULL);
    vde->stages_free = (1u << DW_READER_STAGES) - 1;
    (void)pthread_mutex_init(&vde->commit_lock, NULL);
    (void)pthread_cond_init(&vde->commit_done, NULL);
    return vde;
}

static void free_handle(struct dw_vde *vde)
{
    (void)pthread_cond_destroy(&vde->commit_done);
    (void)pthread_mutex_destroy(&vde->commit_lock);
    (void)pthread_cond_destroy(&vde->kept_ended);
    (void)pthread_mutex_destroy(&vde->kept_lock);
    (void)pthread_cond_destroy(&vde->stage_free);
    (void)pthread_mutex_destroy(&vde->stage_lock);
    (void)pthread_mutex_destroy(&vde->stats_lock);
    (void)pthread_rwlock_destroy(&vde->state_lock);
    (void)pthread_cond_destroy(&vde->flusher_wake);
    (void)pthread_mutex_destroy(&vde->lock);
    dw_gate_destroy(&vde->gate);
    free(vde);
}

/* ---- locks ------------------------------------------------------------------------------ */

static bool kept_by_this_thread(struct dw_vde *vde)
{
    return atomic_load_explicit(&vde->state_kept, memory_order_acquire) &&
           pthread_equal(vde->state_owner, pthread_self());
}

void dw_vde_writer_lock(struct dw_vde *vde)
{
    DW_ASSERT(deferred_commit.vde == NULL); /* a call that committed waits for it first */
    (void)pthread_mutex_lock(&vde->lock);
    DW_ASSERT(!vde->state_exclusive);
    (void)pthread_rwlock_wrlock(&vde->state_lock);
    vde->state_exclusive = true;
}

void dw_vde_writer_unlock(struct dw_vde *vde)
{
    if (vde->state_exclusive) {
        (void)pthread_rwlock_unlock(&vde->state_lock);
    }
    vde->state_exclusive = false;
    (void)pthread_mutex_unlock(&vde->lock);
}

void dw_vde_state_release(struct dw_vde *vde)
{
    /* Readers that come in while a user transaction is open see state_kept and wait for
     * its end (dw_vde_reader_lock), so this is safe inside one too. */
    if (vde->state_exclusive) {
        (void)pthread_rwlock_unlock(&vde->state_lock);
        vde->state_exclusive = false;
    }
}

void dw_vde_state_reacquire(struct dw_vde *vde)
{
    if (!vde->state_exclusive) {
        (void)pthread_rwlock_wrlock(&vde->state_lock);
        vde->state_exclusive = true;
    }
}

bool dw_vde_reader_lock(struct dw_vde *vde)
{
    for (;;) {
        (void)pthread_rwlock_rdlock(&vde->state_lock);
        /* state_kept changes only under the state lock held exclusively. */
        if (!atomic_load(&vde->state_kept) || kept_by_this_thread(vde)) {
            return true; /* inside its own transaction it sees what it wrote */
        }
        /* Another thread's transaction is open: what its pages hold now is not yet
         * committed. Wait for it to end, holding nothing. */
        (void)pthread_rwlock_unlock(&vde->state_lock);
        (void)pthread_mutex_lock(&vde->kept_lock);
        while (atomic_load(&vde->state_kept)) {
            (void)pthread_cond_wait(&vde->kept_ended, &vde->kept_lock);
        }
        (void)pthread_mutex_unlock(&vde->kept_lock);
    }
}

void dw_vde_wait_kept(struct dw_vde *vde)
{
    (void)pthread_mutex_lock(&vde->kept_lock);
    while (atomic_load(&vde->state_kept)) {
        (void)pthread_cond_wait(&vde->kept_ended, &vde->kept_lock);
    }
    (void)pthread_mutex_unlock(&vde->kept_lock);
}

void dw_vde_reader_unlock(struct dw_vde *vde, bool locked)
{
    if (locked) {
        (void)pthread_rwlock_unlock(&vde->state_lock);
    }
}

void dw_vde_state_keep(struct dw_vde *vde)
{
    DW_ASSERT(vde->state_exclusive && !atomic_load(&vde->state_kept));
    vde->state_owner = pthread_self();
    atomic_store_explicit(&vde->state_kept, true, memory_order_release);
}

void dw_vde_state_drop(struct dw_vde *vde)
{
    if (atomic_load(&vde->state_kept)) {
        DW_ASSERT(kept_by_this_thread(vde) && vde->state_exclusive);
        (void)pthread_mutex_lock(&vde->kept_lock);
        atomic_store_explicit(&vde->state_kept, false, memory_order_release);
        (void)pthread_cond_broadcast(&vde->kept_ended);
        (void)pthread_mutex_unlock(&vde->kept_lock);
    }
}

uint32_t dw_vde_stage_take(struct dw_vde *vde)
{
    (void)pthread_mutex_lock(&vde->stage_lock);
    while (vde->stages_free == 0) {
        (void)pthread_cond_wait(&vde->stage_free, &vde->stage_lock);
    }
    uint32_t stage = (uint32_t)__builtin_ctz(vde->stages_free);
    vde->stages_free &= ~(1u << stage);
    (void)pthread_mutex_unlock(&vde->stage_lock);
    return stage;
}

void dw_vde_stage_give(struct dw_vde *vde, uint32_t stage)
{
    DW_ASSERT(stage < DW_READER_STAGES);
    (void)pthread_mutex_lock(&vde->stage_lock);
    DW_ASSERT((vde->stages_free & (1u << stage)) == 0);
    vde->stages_free |= 1u << stage;
    (void)pthread_cond_signal(&vde->stage_free);
    (void)pthread_mutex_unlock(&vde->stage_lock);
}

/* ---- geometry --------------------------------------------------------------------------- */

static int geometry_from(struct dw_vde *vde, dw_diag *diag)
{
    const dw_super_copy *copy = &vde->super;
    const dw_superblock *super = &copy->super;
    vde->block_size = super->block_size;
    vde->payload_size = vde->block_size - DW_TRAILER_SIZE;
    vde->layout = copy->extended.inode_layout;
    const dw_region *wal = NULL;
    const dw_region *inodes = NULL;
    const dw_region *groups = NULL;
    for (uint32_t i = 0; i < copy->regions.count; i++) {
        const dw_region *region = &copy->regions.slots[i];
        if (region->type == DW_REGION_WAL) {
            wal = region;
        } else if (region->type == DW_REGION_INODE_TABLE) {
            inodes = region;
        } else if (region->type == DW_REGION_ALLOC_GROUPS) {
            groups = region;
        }
    }
    const dw_extended *extended = &copy->extended;
    uint64_t first = (uint64_t)DW_UNITS_RESERVED * super->unit_size / super->block_size;
    const char *problem = NULL;
    dw_inode_layout expected;
    dw_inode_layout_for(extended->inode_layout.tags_size > 0, &expected);
    if (wal == NULL || inodes == NULL || groups == NULL) {
        problem = "a required region (wal, inode-table, alloc-groups) is missing from the directory";
    } else if (wal->start != first || wal->count < 16 || inodes->start != wal->start + wal->count ||
               groups->start != inodes->start + inodes->count || groups->start + groups->count != super->block_count - 1) {
        problem = "the regions do not follow each other as the format lays them out";
    } else if (memcmp(&expected, &extended->inode_layout, sizeof expected) != 0) {
        problem = "the inode layout is not one this build knows";
    } else if (extended->inodes_per_block != dw_inodes_per_block(vde->block_size, expected.inode_size) ||
               extended->inode_count == 0 || inodes->param != extended->inode_count ||
               extended->inode_bitmap_blocks !=
                   (extended->inode_count + dw_bitmap_bits(vde->block_size) - 1) / dw_bitmap_bits(vde->block_size) ||
               inodes->count != extended->inode_bitmap_blocks + (extended->inode_count + extended->inodes_per_block - 1) /
                                                                    extended->inodes_per_block) {
        problem = "the inode table's size does not match its inode count";
    } else if (extended->group_blocks == 0 || groups->param != extended->group_blocks ||
               extended->group_count != (groups->count + extended->group_blocks - 1) / extended->group_blocks ||
               extended->group_bitmap_blocks !=
                   (extended->group_blocks + dw_bitmap_bits(vde->block_size) - 1) / dw_bitmap_bits(vde->block_size)) {
        problem = "the allocation groups' geometry is inconsistent";
    }
    if (problem != NULL) {
        return dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify", "'%s': %s", vde->path, problem);
    }
    vde->wal_start = wal->start;
    vde->wal_blocks = wal->count;
    vde->inode_bitmap_start = inodes->start;
    vde->inode_blocks_start = inodes->start + extended->inode_bitmap_blocks;
    vde->groups_start = groups->start;
    vde->groups_end = groups->start + groups->count;
    return DW_OK;
}

/* ---- create ----------------------------------------------------------------------------- */

static uint32_t block_size_for(const dw_config *config, const dw_create_options *options)
{
    if (options->block_size != 0) {
        return options->block_size;
    }
    return options->profile == DW_PROFILE_EDGE ? DW_BLOCK_SIZE_MIN : config->block_size;
}

static void make_uuid(struct dw_vde *vde, uint8_t uuid[16])
{
    dw_random random;
    uint64_t seed = 0;
    if (vde->deterministic) {
        seed = dw_xxh64(vde->super.extended.label, strlen(vde->super.extended.label), 0x6477766475756964ull);
    } else {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read(fd, &seed, sizeof seed) != (ssize_t)sizeof seed) {
            seed = dw_clock_realtime_ns(&vde->system_clock) ^ ((uint64_t)getpid() << 32);
        }
        if (fd >= 0) {
            (void)close(fd);
        }
    }
    dw_random_seed(&random, seed);
    uint64_t a = dw_random_next(&random);
    uint64_t b = dw_random_next(&random);
    dw_store_le64(uuid, a);
    dw_store_le64(uuid + 8, b);
    uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40); /* version 4 */
    uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
}

static void identify_writer(struct dw_vde *vde)
{
    dw_superblock *super = &vde->super.super;
    memset(super->writer_node, 0, sizeof super->writer_node);
    if (vde->deterministic) {
        super->writer_pid = 0;
        super->writer_session = 0;
        dw_format(super->writer_node, sizeof super->writer_node, "deterministic");
        return;
    }
    if (gethostname(super->writer_node, sizeof super->writer_node - 1) != 0) {
        dw_format(super->writer_node, sizeof super->writer_node, "unknown");
    }
    super->writer_pid = (uint32_t)getpid();
    super->writer_session = dw_xxh64(&super->writer_pid, sizeof super->writer_pid,
                                     dw_clock_realtime_ns(&vde->system_clock));
}

/* Lays the whole VDE out in vde->super from the options. */
#define DW_WAL_BYTES_MIN (256u << 10)
#define DW_WAL_BYTES_AUTO_LOW (UINT64_C(16) << 20)
#define DW_WAL_BYTES_AUTO_HIGH (UINT64_C(1) << 30)

/* vde.wal_size 0: half the memory ceiling, 16 MiB to 1 GiB, and at most an eighth of the
 * VDE. Why half the ceiling: no dirty page leaves memory before its image is in the log
 * and then written home, and a checkpoint starts once half the log or half the cache's
 * room for dirty pages is used; a log much smaller than the cache makes checkpoints run
 * constantly (fillrandom: 7.2K puts/s with 16 MiB against 20.9K with 128 MiB under a
 * 256 MiB ceiling, docs/BENCHMARKS.md), one much larger buys nothing the cache can hold. */
static uint64_t wal_bytes_auto(const dw_config *config, uint64_t size_bytes)
{
    uint64_t bytes = config->memory_ceiling_bytes / 2;
    bytes = bytes < DW_WAL_BYTES_AUTO_LOW ? DW_WAL_BYTES_AUTO_LOW : bytes;
    bytes = bytes > DW_WAL_BYTES_AUTO_HIGH ? DW_WAL_BYTES_AUTO_HIGH : bytes;
    bytes = bytes > size_bytes / 8 ? size_bytes / 8 : bytes;
    return bytes < DW_WAL_BYTES_MIN ? DW_WAL_BYTES_MIN : bytes;
}

static int plan_layout(struct dw_vde *vde, const dw_create_options *options, dw_diag *diag)
{
    const dw_config *config = &vde->config;
    uint32_t block = vde->block_size;
    uint32_t unit = block > DW_UNIT_SIZE_MIN ? block : DW_UNIT_SIZE_MIN;
    uint64_t block_count = options->size_bytes / block;
    bool tags = options->profile != DW_PROFILE_MINIMAL;
    dw_super_copy *copy = &vde->super;
    memset(copy, 0, sizeof *copy);
    dw_superblock *super = &copy->super;
    dw_extended *extended = &copy->extended;
    dw_inode_layout_for(tags, &extended->inode_layout);
    uint64_t first = (uint64_t)DW_UNITS_RESERVED * unit / block;
    uint64_t wal_bytes = config->wal_bytes != 0 ? config->wal_bytes : wal_bytes_auto(config, options->size_bytes);
    if (wal_bytes < DW_WAL_BYTES_MIN) {
        return dw_diag_fail(diag, DW_EINVAL, "set vde.wal_size to 256KiB or more, or to 0 for a size chosen for you",
                            "vde.wal_size is %llu bytes; a log needs at least %u", (unsigned long long)wal_bytes,
                            DW_WAL_BYTES_MIN);
    }
    uint64_t wal_blocks = wal_bytes / block;
    uint64_t inode_count = options->inode_count != 0 ? options->inode_count : options->size_bytes / config->inode_ratio_bytes;
    if (inode_count < 16) {
        inode_count = 16;
    }
    uint32_t bits = dw_bitmap_bits(block);
    uint32_t per_block = dw_inodes_per_block(block, extended->inode_layout.inode_size);
    uint64_t inode_bitmap_blocks = (inode_count + bits - 1) / bits;
    uint64_t inode_blocks = (inode_count + per_block - 1) / per_block;
    uint64_t groups_start = first + wal_blocks + inode_bitmap_blocks + inode_blocks;
    uint64_t group_blocks = config->group_bytes / block;
    if (group_blocks > bits * 64ull) {
        group_blocks = bits * 64ull; /* at most 64 bitmap blocks a group */
    }
    uint32_t bitmap_blocks = (uint32_t)((group_blocks + bits - 1) / bits);
    uint64_t minimum = groups_start + 2 * ((uint64_t)bitmap_blocks + 16) + 1;
    if (block_count < minimum || block_count - 1 - groups_start < bitmap_blocks + 16) {
        char need[32];
        return dw_diag_fail(diag, DW_EINVAL, "give a larger --size, or a smaller vde.wal_size or inode count",
                            "%llu bytes are too few for this layout: it needs at least %s",
                            (unsigned long long)options->size_bytes,
                            dw_format_size(minimum * block, need, sizeof need));
    }
    uint64_t group_area = block_count - 1 - groups_start;
    uint64_t group_count = (group_area + group_blocks - 1) / group_blocks;
    /* A last group too small to hold its own bitmap and some data goes to the one before. */
    uint64_t last = group_area - (group_count - 1) * group_blocks;
    if (group_count > 1 && last < bitmap_blocks + 16) {
        block_count -= last;
        group_area -= last;
        group_count--;
    }
    if (group_count > UINT32_MAX || inode_count > UINT32_MAX * (uint64_t)bits) {
        return dw_diag_fail(diag, DW_EINVAL, "use a larger vde.group_size", "the VDE would need %llu groups",
                            (unsigned long long)group_count);
    }
    super->format_version = DW_FORMAT_VERSION;
    super->min_reader_version = DW_FORMAT_VERSION;
    super->min_writer_version = DW_FORMAT_VERSION;
    super->incompat = DW_INCOMPAT_KNOWN;
    super->ro_compat = tags ? DW_RO_COMPAT_TAGS : 0;
    super->compat = DW_COMPAT_SPARSE | (vde->deterministic ? DW_COMPAT_DETERMINISTIC : 0);
    super->module_manifest = (1u << DW_MODULE_WAL) | (1u << DW_MODULE_ALLOC) | (1u << DW_MODULE_INODES) |
                             (1u << DW_MODULE_INDEX) | (tags ? 1u << DW_MODULE_TAGS : 0);
    /* Module config nibbles: WAL = default durability (0 strict, 1 group); TAGS = tag
     * area in 32-byte units. */
    super->module_config[DW_MODULE_WAL / 2] |= (uint8_t)(config->durability & 0xf);
    if (tags) {
        super->module_config[DW_MODULE_TAGS / 2] |= (uint8_t)((DW_INODE_TAGS_SIZE / 32) & 0xf);
    }
    super->block_size = block;
    super->unit_size = unit;
    super->block_count = block_count;
    super->state = DW_STATE_CLEAN;
    super->expected_size_bytes = block_count * block;
    super->generation_next = 1;
    vde->generation_next = 1;
    extended->group_blocks = (uint32_t)group_blocks;
    extended->group_bitmap_blocks = bitmap_blocks;
    extended->group_count = (uint32_t)group_count;
    extended->inode_count = inode_count;
    extended->inodes_per_block = per_block;
    extended->inode_bitmap_blocks = (uint32_t)inode_bitmap_blocks;
    extended->key_length_max = config->key_length_max;
    extended->state.next_inode_hint = 1;
    dw_format(extended->label, sizeof extended->label, "%s", options->label != NULL ? options->label : "");
    copy->regions.count = 5;
    copy->regions.slots[0] = (dw_region){DW_REGION_WAL, 0, DW_MODULE_WAL, first, wal_blocks, 0};
    copy->regions.slots[1] = (dw_region){DW_REGION_INODE_TABLE, 0, DW_MODULE_INODES, first + wal_blocks,
                                         inode_bitmap_blocks + inode_blocks, inode_count};
    copy->regions.slots[2] = (dw_region){DW_REGION_ALLOC_GROUPS, 0, DW_MODULE_ALLOC, groups_start, group_area,
                                         group_blocks};
    copy->regions.slots[3] = (dw_region){DW_REGION_KEY_INDEX, 0, DW_MODULE_INDEX, 0, 0, 0};
    copy->regions.slots[4] = (dw_region){DW_REGION_EMERGENCY, 0, 0, (uint64_t)DW_UNIT_EMERGENCY * unit / block,
                                         unit / block, 0};
    return DW_OK;
}

/* Writes the group bitmaps: each marks its own blocks in use. */
static int write_group_bitmaps(struct dw_vde *vde, dw_diag *diag)
{
    const dw_extended *extended = &vde->super.extended;
    uint32_t bits = dw_bitmap_bits(vde->block_size);
    for (uint32_t group = 0; group < extended->group_count; group++) {
        uint64_t start = dw_group_start(vde, group);
        uint32_t blocks = dw_group_blocks(vde, group);
        for (uint32_t index = 0; index < extended->group_bitmap_blocks; index++) {
            unsigned char *block = vde->scratch;
            memset(block, 0, vde->block_size);
            uint32_t first_bit = index * bits;
            uint32_t covered = blocks > first_bit ? (blocks - first_bit < bits ? blocks - first_bit : bits) : 0;
            uint32_t used = 0;
            for (uint32_t bit = 0; bit < covered; bit++) {
                if (first_bit + bit < extended->group_bitmap_blocks) {
                    dw_bit_set(block + DW_BITMAP_HEADER_SIZE, bit, true);
                    used++;
                }
            }
            dw_bitmap_header header = {.group = group, .index = index, .free = covered - used, .covered = covered};
            dw_bitmap_header_encode(&header, block);
            dw_trailer_seal(block, vde->block_size, (start + index) * vde->block_size, DW_BLOCK_BITMAP, 0);
            int result = dw_device_write(&vde->device, start + index, 1, block, diag);
            if (result != DW_OK) {
                return result;
            }
        }
    }
    return DW_OK;
}

/* Writes zeros over the log region of a file. A durable write into a hole (or into
 * fallocated, unwritten space) makes the file system allocate or convert extents and
 * commit its journal before the write returns: measured on this project's machine, a
 * 20 KiB RWF_DSYNC write took 260 us into a hole and 155 us into written space. So the
 * log, which every strict commit writes durable, is written once at create. Zeros are
 * what an unwritten log block reads as anyway: no log block of any LSN. The simulated
 * disk has no extents to allocate, so it is left as it is. */
static int write_log_region(struct dw_vde *vde, bool simulated, dw_diag *diag)
{
    if (simulated) {
        return DW_OK;
    }
    memset(vde->data_stage, 0, (size_t)DW_DATA_STAGE_BLOCKS * vde->block_size);
    int result = DW_OK;
    for (uint64_t done = 0; done < vde->wal_blocks && result == DW_OK;) {
        uint64_t left = vde->wal_blocks - done;
        uint32_t count = left < DW_DATA_STAGE_BLOCKS ? (uint32_t)left : DW_DATA_STAGE_BLOCKS;
        result = dw_device_write(&vde->device, vde->wal_start + done, count, vde->data_stage, diag);
        done += count;
    }
    return result;
}

static int write_fixed_blocks(struct dw_vde *vde, bool simulated, dw_diag *diag)
{
    uint32_t unit = vde->super.super.unit_size;
    /* The emergency recovery block: plain text, sealed like any other. */
    static const size_t text_max = DW_UNIT_SIZE_MIN - DW_TRAILER_SIZE;
    unsigned char *emergency = vde->super_stage;
    memset(emergency, 0, unit);
    (void)dw_emergency_text(&vde->super, (char *)emergency, text_max);
    dw_trailer_seal(emergency, unit, (uint64_t)DW_UNIT_EMERGENCY * unit, DW_BLOCK_EMERGENCY, 0);
    int result = dw_device_write(&vde->device, (uint64_t)DW_UNIT_EMERGENCY * unit / vde->block_size,
                                 unit / vde->block_size, emergency, diag);
    if (result == DW_OK) {
        dw_sentinel_encode(&vde->super.super, vde->scratch);
        result = dw_device_write(&vde->device, vde->super.super.block_count - 1, 1, vde->scratch, diag);
    }
    if (result == DW_OK) {
        result = write_group_bitmaps(vde, diag);
    }
    if (result == DW_OK) {
        result = write_log_region(vde, simulated, diag);
    }
    if (result == DW_OK) {
        result = dw_device_sync(&vde->device, diag);
    }
    return result;
}

static int check_create_options(const dw_create_options *options, uint32_t block, dw_diag *diag)
{
    if (block < DW_BLOCK_SIZE_MIN || block > DW_BLOCK_SIZE_MAX || (block & (block - 1)) != 0) {
        return dw_diag_fail(diag, DW_EINVAL, "use a power of two from 512 to 64KiB",
                            "block size %u is not one a VDE can have", block);
    }
    if ((unsigned)options->profile > DW_PROFILE_EDGE) {
        return dw_diag_fail(diag, DW_EINVAL, "use standard, minimal or edge", "unknown profile %d",
                            (int)options->profile);
    }
    if (options->label != NULL && strlen(options->label) >= DW_LABEL_SIZE) {
        return dw_diag_fail(diag, DW_EINVAL, NULL, "the label is longer than %d bytes", DW_LABEL_SIZE - 1);
    }
    return DW_OK;
}

int dw_vde_create_at(const char *path, const dw_config *config, const dw_create_options *options,
                     const dw_vde_target *target, dw_diag *diag)
{
    DW_ASSERT(path != NULL && config != NULL && options != NULL);
    uint32_t block = block_size_for(config, options);
    /* Small blocks hold shorter keys (a node must take four): an edge VDE of 512-byte
     * blocks gets keys of up to 128 bytes whatever the configuration's longer limit. */
    dw_config fitted = *config;
    if (block >= DW_BLOCK_SIZE_MIN && (uint64_t)fitted.key_length_max * 4 > block) {
        fitted.key_length_max = block / 4;
    }
    config = &fitted;
    int result = check_create_options(options, block, diag);
    if (result != DW_OK) {
        return result;
    }
    struct stat status;
    if (target->sim_disk == NULL && !options->overwrite && stat(path, &status) == 0) {
        return dw_diag_fail(diag, DW_EEXIST, "choose another path, or pass --force to replace it",
                            "'%s' exists already", path);
    }
    if (target->sim_disk == NULL && options->overwrite) {
        (void)unlink(path);
    }
    struct dw_vde *vde = new_handle(path, config, diag);
    if (vde == NULL) {
        return DW_ENOMEM;
    }
    vde->block_size = block;
    vde->payload_size = block - DW_TRAILER_SIZE;
    dw_create_options effective = *options;
    if (target->sim_disk != NULL && effective.size_bytes > target->sim_disk->size_bytes) {
        effective.size_bytes = target->sim_disk->size_bytes;
    }
    result = plan_layout(vde, &effective, diag);
    uint32_t unit = vde->super.super.unit_size;
    if (result == DW_OK) {
        result = open_layers(vde, target, unit, vde->super.super.block_count * (uint64_t)block, diag);
    }
    if (result == DW_OK) {
        result = geometry_from(vde, diag);
    }
    if (result == DW_OK) {
        dw_vde_begin_io(vde, NULL);
        dw_superblock *super = &vde->super.super;
        make_uuid(vde, super->uuid);
        dw_format(super->anchor, sizeof super->anchor, "dw://");
        for (int i = 0; i < 16; i++) {
            dw_format(super->anchor + 5 + 2 * (size_t)i, 3, "%02x", super->uuid[i]);
        }
        super->created_ns = dw_vde_now_ns(vde);
        identify_writer(vde);
        vde->durable_state = vde->super.extended.state;
        result = write_fixed_blocks(vde, target->sim_disk != NULL, diag);
    }
    if (result == DW_OK) {
        result = dw_super_write(vde, diag);
    }
    close_layers(vde);
    free_handle(vde);
    if (result != DW_OK && target->sim_disk == NULL) {
        (void)unlink(path);
    }
    return result;
}

int dw_vde_create(const char *path, const dw_config *config, const dw_create_options *options, dw_diag *diag)
{
    dw_vde_target target = {0};
    return dw_vde_create_at(path, config, options, &target, diag);
}

/* ---- open ------------------------------------------------------------------------------- */

/* Reads `length` bytes at `offset` before the engine's I/O path exists. */
static int raw_read(const char *path, const dw_vde_target *target, int fd, uint64_t offset, void *buffer,
                    uint32_t length, dw_diag *diag)
{
    /* Before the I/O layer is up: short transfers are continued and transient errors
     * retried here, as the I/O layer does (a bounded number of times). */
    unsigned char *at = buffer;
    size_t done = 0;
    for (int tries = 0; done < length && tries < 64; tries++) {
        if (target->sim_disk != NULL) {
            if (offset + length > target->sim_disk->size_bytes) {
                return DW_ETRUNCATED;
            }
            dw_sim_result result = dw_sim_disk_read(target->sim_disk, offset + done, at + done,
                                                    (uint32_t)(length - done));
            if (result.result == -EAGAIN) {
                continue;
            }
            if (result.result <= 0) {
                return DW_EIO;
            }
            done += (size_t)result.result;
            continue;
        }
        ssize_t got = pread(fd, at + done, length - done, (off_t)(offset + done));
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (got < 0) {
            int error_number = errno;
            return dw_diag_fail(diag, DW_EIO, "check the device", "cannot read '%s': %s", path,
                                strerror(error_number));
        }
        if (got == 0) {
            return DW_ETRUNCATED;
        }
        done += (size_t)got;
    }
    return done == length ? DW_OK : DW_EIO;
}

static bool plausible_geometry(uint32_t block_size, uint32_t unit_size)
{
    return block_size >= DW_BLOCK_SIZE_MIN && block_size <= DW_BLOCK_SIZE_MAX && (block_size & (block_size - 1)) == 0 &&
           unit_size == (block_size > DW_UNIT_SIZE_MIN ? block_size : DW_UNIT_SIZE_MIN);
}

/* Learns the block and unit size from whichever superblock unit 0 verifies. */
static int bootstrap(const char *path, const dw_vde_target *target, uint32_t *block_size, uint32_t *unit_size,
                     unsigned char *unit, dw_diag *diag)
{
    int fd = -1;
    if (target->sim_disk == NULL) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            int error_number = errno;
            return dw_diag_fail(diag, dw_error_from_errno(error_number), "check the path",
                                "cannot open '%s': %s", path, strerror(error_number));
        }
    }
    bool any_magic = false;
    bool newer = false;
    int result = DW_ENOTVDE;
    /* The primary at offset 0, then the mirror at 4 units for each unit size there is. */
    for (uint32_t attempt = 0; attempt < 6 && result != DW_OK; attempt++) {
        uint32_t guess = attempt == 0 ? 0 : (uint32_t)DW_UNIT_SIZE_MIN << (attempt - 1);
        uint64_t offset = (uint64_t)DW_UNITS_PER_COPY * guess;
        if (raw_read(path, target, fd, offset, unit, DW_UNIT_SIZE_MIN, diag) != DW_OK || !dw_magic_matches(unit)) {
            continue;
        }
        any_magic = true;
        if (unit[4] != DW_FORMAT_MAJOR) {
            newer = true;
            continue;
        }
        uint32_t block = dw_load_le32(unit + 72);
        uint32_t size = dw_load_le32(unit + 76);
        if (!plausible_geometry(block, size) || (attempt > 0 && size != guess)) {
            continue;
        }
        if (raw_read(path, target, fd, offset, unit, size, diag) == DW_OK &&
            dw_trailer_verify(unit, size, offset, DW_BLOCK_SUPER, false, 0) == DW_TRAILER_OK) {
            *block_size = block;
            *unit_size = size;
            result = DW_OK;
        }
    }
    if (fd >= 0) {
        (void)close(fd);
    }
    if (result == DW_OK) {
        return DW_OK;
    }
    if (newer) {
        return dw_diag_fail(diag, DW_EVERSION, "open it with a newer dw",
                            "'%s' is a DWVD file of a newer major format version than %d", path, DW_FORMAT_MAJOR);
    }
    if (!any_magic) {
        return dw_diag_fail(diag, DW_ENOTVDE, "for a raw disk image, use 'dw import' to build a VDE from it",
                            "'%s' is not a DWVD file (no DWVD magic in either superblock copy)", path);
    }
    return dw_diag_fail(diag, DW_ECORRUPT, "copy the file away and run dw vde verify on the copy",
                        "'%s': both superblock copies are damaged", path);
}

/* Reads both copies through the scheduler and keeps the newest that verifies. */
static int choose_superblock(struct dw_vde *vde, uint32_t unit_size, bool *repair, dw_diag *diag)
{
    dw_super_copy copies[2];
    dw_super_problem problems[2];
    char details[2][160];
    uint32_t blocks = DW_UNITS_PER_COPY * unit_size / vde->block_size;
    for (uint32_t i = 0; i < 2; i++) {
        int result = dw_device_read(&vde->device, (uint64_t)i * blocks, blocks, vde->super_stage, diag);
        if (result != DW_OK) {
            return result;
        }
        uint32_t bad = 0;
        problems[i] = dw_super_decode(vde->super_stage, unit_size, i * DW_UNITS_PER_COPY, &copies[i], &bad,
                                      details[i], sizeof details[i]);
    }
    int chosen = -1;
    if (problems[0] == DW_SUPER_OK && problems[1] == DW_SUPER_OK) {
        chosen = copies[1].super.sequence > copies[0].super.sequence ? 1 : 0;
    } else if (problems[0] == DW_SUPER_OK) {
        chosen = 0;
    } else if (problems[1] == DW_SUPER_OK) {
        chosen = 1;
    }
    if (chosen < 0) {
        if (problems[0] == DW_SUPER_VERSION || problems[1] == DW_SUPER_VERSION) {
            return dw_diag_fail(diag, DW_EVERSION, "open it with a newer dw", "'%s': %s", vde->path,
                                problems[0] == DW_SUPER_VERSION ? details[0] : details[1]);
        }
        return dw_diag_fail(diag, DW_ECORRUPT, "copy the file away and run dw vde verify on the copy",
                            "'%s': both superblock copies are damaged (primary: %s; mirror: %s)", vde->path,
                            details[0], details[1]);
    }
    *repair = problems[0] != problems[1] || copies[0].super.sequence != copies[1].super.sequence;
    if (problems[1 - chosen] != DW_SUPER_OK) {
        DW_LOG(vde->log, DW_LOG_WARN, "vde", "superblock copy damaged; the other copy is used and will repair it",
               DW_LOG_STRING("file", vde->path), DW_LOG_STRING("damage", details[1 - chosen]));
    }
    vde->super = copies[chosen];
    /* The next superblock write must not put the last good copy at risk first. A damaged
     * copy is rewritten first, while the chosen one stays whole (a power cut while
     * repairing must not leave both damaged). When both verify but the chosen one is
     * newer, it is rewritten first: it may be newer only in the page cache (its sync
     * failed in an earlier handle, and the kernel kept the pages it dropped), in which
     * case the older copy is the one on the medium. */
    bool both_good = problems[0] == DW_SUPER_OK && problems[1] == DW_SUPER_OK;
    bool chosen_newer = both_good && copies[chosen].super.sequence != copies[1 - chosen].super.sequence;
    vde->super_first = chosen_newer ? (uint32_t)chosen : 1 - (uint32_t)chosen;
    return DW_OK;
}

static int check_compatibility(struct dw_vde *vde, dw_diag *diag)
{
    const dw_superblock *super = &vde->super.super;
    if (super->min_reader_version > DW_FORMAT_VERSION || (super->incompat & ~DW_INCOMPAT_KNOWN) != 0) {
        return dw_diag_fail(diag, DW_EVERSION, "open it with a newer dw",
                            "'%s' needs a newer reader: format %u.%u, minimum reader %u.%u, incompatible features "
                            "0x%llx (this build: %u.%u, knows 0x%llx)",
                            vde->path, super->format_version >> 8, super->format_version & 0xff,
                            super->min_reader_version >> 8, super->min_reader_version & 0xff,
                            (unsigned long long)super->incompat, DW_FORMAT_MAJOR, DW_FORMAT_MINOR,
                            (unsigned long long)DW_INCOMPAT_KNOWN);
    }
    /* 2.0 was a development format whose index leaves did not record inode generations;
     * nothing was released in it, so it is refused rather than read two ways. */
    if (super->format_version < DW_FORMAT_OLDEST_READ) {
        return dw_diag_fail(diag, DW_EVERSION,
                            "recreate it with this dw (dw vde create) and put its objects again",
                            "'%s' is in development format %u.%u, which this build no longer reads (it reads %u.%u "
                            "to %u.%u)",
                            vde->path, super->format_version >> 8, super->format_version & 0xff,
                            DW_FORMAT_OLDEST_READ >> 8, DW_FORMAT_OLDEST_READ & 0xff, DW_FORMAT_MAJOR, DW_FORMAT_MINOR);
    }
    /* A VDE made before compact objects (2.2) keeps every object in an inode. */
    vde->compact_objects = (super->incompat & DW_INCOMPAT_COMPACT) != 0;
    if (super->min_writer_version > DW_FORMAT_VERSION || (super->ro_compat & ~DW_RO_COMPAT_KNOWN) != 0) {
        vde->read_only = true;
        DW_LOG(vde->log, DW_LOG_WARN, "vde", "opened read-only: the VDE has features this build may not write",
               DW_LOG_STRING("file", vde->path), DW_LOG_UINT("ro_compat", super->ro_compat));
    }
    if (super->block_size != vde->block_size) {
        return dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify", "'%s': the superblock copies disagree on the block size",
                            vde->path);
    }
    return DW_OK;
}

static int check_size(struct dw_vde *vde, dw_diag *diag)
{
    const dw_superblock *super = &vde->super.super;
    if (vde->io.size_bytes < super->expected_size_bytes || super->expected_size_bytes != super->block_count * super->block_size) {
        return dw_diag_fail(diag, DW_ETRUNCATED, "restore the whole file from a copy; a truncated VDE cannot be opened",
                            "'%s' is %llu bytes, but the VDE it holds is %llu bytes: the file was truncated", vde->path,
                            (unsigned long long)vde->io.size_bytes, (unsigned long long)super->expected_size_bytes);
    }
    int result = dw_device_read(&vde->device, super->block_count - 1, 1, vde->scratch, diag);
    if (result != DW_OK) {
        return result;
    }
    if (!dw_sentinel_matches(vde->scratch, super) && !vde->verify_only) {
        return dw_diag_fail(diag, DW_ETRUNCATED, "restore the whole file from a copy",
                            "'%s': the size sentinel in its last block (%llu) is missing or wrong: the file was cut "
                            "and grown again, or is not whole",
                            vde->path, (unsigned long long)(super->block_count - 1));
    }
    return DW_OK;
}

static int start_engine(struct dw_vde *vde, dw_diag *diag)
{
    const dw_config *config = &vde->config;
    if ((uint64_t)config->key_length_max * 4 > vde->block_size) {
        /* An index node takes at least four keys: smaller blocks, shorter keys. The
         * buffers sized at open for the longer limit are large enough. */
        DW_LOG(vde->log, DW_LOG_WARN, "vde", "limits.key_length_max lowered to what the VDE's blocks allow",
               DW_LOG_STRING("file", vde->path), DW_LOG_UINT("configured", config->key_length_max),
               DW_LOG_UINT("block_size", vde->block_size), DW_LOG_UINT("key_length_max", vde->block_size / 4));
        vde->config.key_length_max = vde->block_size / 4;
    }
    /* Every key buffer is sized by the configuration: it must hold the longest key the VDE
     * may already hold. A longer limit is recorded (by the superblock write below), so the
     * VDE always says how long its keys can be. */
    dw_extended *extended = &vde->super.extended;
    if (config->key_length_max < extended->key_length_max) {
        return dw_diag_fail(diag, DW_ECONFIG, "raise limits.key_length_max to at least the VDE's",
                            "'%s' may hold keys of up to %u bytes, longer than limits.key_length_max = %u",
                            vde->path, extended->key_length_max, config->key_length_max);
    }
    if (!vde->read_only) {
        extended->key_length_max = config->key_length_max;
    }
    /* The longest record must fit half the log. */
    while (vde->pending_limit > 16 &&
           1 + dw_wal_entry_blocks(vde->block_size, vde->pending_limit) + vde->pending_limit > vde->wal_blocks / 2) {
        vde->pending_limit--;
    }
    if (vde->cache_auto && vde->pending_limit < vde->cache.undo_capacity + 16 && vde->pending_limit >= 32) {
        /* An automatic cache fits its transactions to the log it finds. */
        vde->cache.undo_capacity = vde->pending_limit - 16;
        vde->cache.stats.undo_capacity = vde->cache.undo_capacity;
    }
    if (vde->pending_limit < vde->cache.undo_capacity + 16) {
        return dw_diag_fail(diag, DW_ECONFIG, "lower memory.cache_pages, or create the VDE with a larger vde.wal_size",
                            "'%s': its WAL (%llu blocks) is too small for transactions of %u pages "
                            "(a quarter of memory.cache_pages)",
                            vde->path, (unsigned long long)vde->wal_blocks, vde->cache.undo_capacity);
    }
    vde->record_blocks_max = 1 + dw_wal_entry_blocks(vde->block_size, vde->pending_limit) + vde->pending_limit;
    vde->state = vde->super.extended.state;
    vde->seq = vde->super.super.checkpoint_seq;
    vde->checkpoint_lsn = vde->super.super.checkpoint_lsn;
    vde->next_lsn = vde->checkpoint_lsn;
    vde->durable_lsn = vde->checkpoint_lsn;
    vde->durable_state = vde->state;
    vde->durable_seq = vde->seq;
    vde->staged_seq = vde->seq;
    vde->record_txns = 1;
    /* Every generation below the recorded one may be in some block already (FORMAT.md
     * §1.1); the superblock write below reserves the range this writer uses next. */
    vde->generation_next = vde->super.super.generation_next;
    vde->generation_limit = vde->generation_next;
    dw_vde_begin_io(vde, NULL);
    int result = dw_wal_recover(vde, diag);
    if (result != DW_OK || vde->read_only) {
        return result;
    }
    dw_superblock *super = &vde->super.super;
    super->mount_count++;
    super->state = DW_STATE_DIRTY;
    identify_writer(vde);
    return dw_super_write(vde, diag);
}

static void *flusher_main(void *argument);

int dw_vde_open_at(const char *path, const dw_config *config, const dw_vde_target *target, struct dw_vde **out,
                   dw_diag *diag)
{
    DW_ASSERT(path != NULL && config != NULL && out != NULL);
    *out = NULL;
    struct dw_vde *vde = new_handle(path, config, diag);
    if (vde == NULL) {
        return DW_ENOMEM;
    }
    vde->log = target->log;
    uint32_t block = 0;
    uint32_t unit = 0;
    unsigned char *probe = aligned_alloc(64, DW_BLOCK_SIZE_MAX);
    int result = probe == NULL ? DW_ENOMEM : bootstrap(path, target, &block, &unit, probe, diag);
    free(probe);
    bool repair = false;
    if (result == DW_OK) {
        vde->block_size = block;
        vde->payload_size = block - DW_TRAILER_SIZE;
        result = open_layers(vde, target, unit, 0, diag);
    }
    if (result == DW_OK) {
        dw_vde_begin_io(vde, NULL);
        result = choose_superblock(vde, unit, &repair, diag);
    }
    if (result == DW_OK && (target->verify || target->read_only)) {
        vde->read_only = true;
        vde->verify_only = target->verify;
    }
    if (result == DW_OK) {
        result = check_compatibility(vde, diag);
    }
    if (result == DW_OK) {
        result = geometry_from(vde, diag);
    }
    if (result == DW_OK) {
        result = check_size(vde, diag);
    }
    if (result == DW_OK) {
        result = start_engine(vde, diag);
    }
    if (result == DW_OK && repair && vde->read_only) {
        DW_LOG(vde->log, DW_LOG_WARN, "vde", "a damaged superblock copy is left as it is: opened read-only",
               DW_LOG_STRING("file", vde->path));
    }
    if (result == DW_OK && config->durability == DW_DURABILITY_GROUP && !vde->device.stepped && !vde->deterministic &&
        !vde->read_only) {
        if (pthread_create(&vde->flusher, NULL, flusher_main, vde) == 0) {
            vde->flusher_running = true;
        } else {
            result = dw_diag_fail(diag, DW_ENOMEM, NULL, "cannot start the group-commit thread for '%s'", path);
        }
    }
    if (result != DW_OK) {
        close_layers(vde);
        free_handle(vde);
        return result;
    }
    *out = vde;
    return DW_OK;
}

int dw_vde_open(const char *path, const dw_config *config, struct dw_vde **vde, dw_diag *diag)
{
    dw_vde_target target = {0};
    return dw_vde_open_at(path, config, &target, vde, diag);
}

/* ---- group commit ----------------------------------------------------------------------- */

/* Writes a staged record with no lock held (`flushing` set by the caller), publishes it
 * or keeps its failure for the committers waiting on it, and wakes them. */
static int write_in_flight(struct dw_vde *vde, const dw_wal_staged *staged, dw_diag *diag)
{
    int result = dw_wal_write_staged(vde, staged, diag);
    if (result == DW_OK) {
        dw_wal_publish(vde, staged);
    }
    (void)pthread_mutex_lock(&vde->commit_lock);
    if (result != DW_OK && vde->commit_error == DW_OK) {
        vde->commit_error = result;
        (void)dw_format(vde->commit_message, sizeof vde->commit_message, "%s", diag->message);
    }
    vde->flushing = false;
    (void)pthread_cond_broadcast(&vde->commit_done);
    (void)pthread_mutex_unlock(&vde->commit_lock);
    return result;
}

/* The group's record, staged under the writer lock and written with it released, so
 * that puts go on while the device works (a record too long for the stage is written
 * under the lock). Called and returning with the writer mutex held. */
static int flush_group(struct dw_vde *vde, dw_diag *diag)
{
    dw_wal_wait_flushing(vde);
    dw_wal_staged staged;
    int result = dw_wal_stage(vde, true, &staged, diag);
    if (result != DW_OK || !staged.write_pending) {
        if (result == DW_OK) {
            dw_wal_publish(vde, &staged);
            dw_quarantine_release(vde);
        }
        return result;
    }
    (void)pthread_mutex_lock(&vde->commit_lock);
    vde->flushing = true;
    (void)pthread_mutex_unlock(&vde->commit_lock);
    dw_vde_state_release(vde);
    (void)pthread_mutex_unlock(&vde->lock);
    result = write_in_flight(vde, &staged, diag);
    (void)pthread_mutex_lock(&vde->lock);
    return result;
}

static void *flusher_main(void *argument)
{
    struct dw_vde *vde = argument;
    (void)pthread_mutex_lock(&vde->lock);
    while (!vde->flusher_stop) {
        struct timespec until;
        (void)clock_gettime(CLOCK_REALTIME, &until);
        uint64_t delay = vde->config.group_delay_ns;
        until.tv_sec += (time_t)(delay / DW_NS_PER_S);
        until.tv_nsec += (long)(delay % DW_NS_PER_S);
        if (until.tv_nsec >= (long)DW_NS_PER_S) {
            until.tv_sec++;
            until.tv_nsec -= (long)DW_NS_PER_S;
        }
        (void)pthread_cond_timedwait(&vde->flusher_wake, &vde->lock, &until);
        if (vde->flusher_stop || !vde->group_pending || vde->txn_open) {
            continue;
        }
        if (dw_clock_now_ns(vde->clock) - vde->group_started_ns >= delay) {
            dw_diag diag;
            dw_vde_begin_io(vde, NULL);
            (void)pthread_rwlock_wrlock(&vde->state_lock);
            vde->state_exclusive = true;
            int result = flush_group(vde, &diag);
            if (vde->state_exclusive) {
                (void)pthread_rwlock_unlock(&vde->state_lock);
                vde->state_exclusive = false;
            }
            if (result != DW_OK && vde->flusher_error == DW_OK) {
                vde->flusher_error = result;
                dw_format(vde->flusher_message, sizeof vde->flusher_message, "%s", diag.message);
            }
        }
    }
    (void)pthread_mutex_unlock(&vde->lock);
    return NULL;
}

static void stop_flusher(struct dw_vde *vde)
{
    if (!vde->flusher_running) {
        return;
    }
    (void)pthread_mutex_lock(&vde->lock);
    vde->flusher_stop = true;
    (void)pthread_cond_signal(&vde->flusher_wake);
    (void)pthread_mutex_unlock(&vde->lock);
    (void)pthread_join(vde->flusher, NULL);
    vde->flusher_running = false;
}

/* ---- close -------------------------------------------------------------------------------- */

int dw_vde_close(struct dw_vde *vde, dw_diag *diag)
{
    if (vde == NULL) {
        return DW_OK;
    }
    stop_flusher(vde);
    dw_vde_writer_lock(vde);
    dw_vde_writer_abort_locked(vde); /* every writer still open: they leave nothing behind */
    if (vde->txn_open) {
        dw_vde_txn_abort(vde);
    }
    if (atomic_load(&vde->state_kept)) {
        /* A transaction left open by a thread that is gone: aborted above; readers
         * waiting for its end may go. */
        vde->state_owner = pthread_self();
        dw_vde_state_drop(vde);
    }
    int result = DW_OK;
    if (!vde->read_only && vde->device.failed != DW_OK) {
        /* Nothing more is written: the next open recovers from what is durable. */
        result = dw_device_check_writable(&vde->device, diag);
    } else if (!vde->read_only) {
        dw_vde_begin_io(vde, NULL);
        result = dw_wal_flush(vde, diag);
        if (result == DW_OK) {
            result = dw_wal_checkpoint(vde, true, diag);
        }
        if (result == DW_OK) {
            dw_superblock *super = &vde->super.super;
            super->state = DW_STATE_CLEAN;
            super->clean_close_ns = dw_vde_now_ns(vde);
            result = dw_super_write(vde, diag);
        }
    }
    dw_vde_writer_unlock(vde);
    close_layers(vde);
    free_handle(vde);
    return result;
}

/* ---- transactions ------------------------------------------------------------------------- */

int dw_vde_generation_take(struct dw_vde *vde, uint32_t *generation, dw_diag *diag)
{
    if ((uint32_t)vde->generation_next == 0) {
        vde->generation_next++; /* generation 0 means "none" (an empty index, no extent block) */
    }
    if (vde->generation_next >= vde->generation_limit) {
        /* The reservation is used up with no checkpoint to extend it: extend it now. */
        int result = dw_super_write(vde, diag);
        if (result != DW_OK) {
            return result;
        }
    }
    DW_ASSERT(vde->generation_next < vde->generation_limit);
    *generation = (uint32_t)vde->generation_next++;
    DW_ASSERT(*generation != 0);
    return DW_OK;
}

int dw_vde_txn_begin(struct dw_vde *vde, bool user, dw_diag *diag)
{
    DW_ASSERT(!vde->txn_open);
    if (vde->read_only) {
        return dw_diag_fail(diag, DW_EPERM, "open it with a dw that knows all its features",
                            "'%s' is open read-only", vde->path);
    }
    int failed = dw_device_check_writable(&vde->device, diag);
    if (failed != DW_OK) {
        return failed;
    }
    if (vde->flusher_error != DW_OK) {
        int result = dw_diag_fail(diag, vde->flusher_error, "check the device; close and reopen the VDE",
                                  "a group commit failed: %s", vde->flusher_message);
        vde->flusher_error = DW_OK;
        return result;
    }
    int result = dw_wal_make_room(vde, diag);
    if (result != DW_OK) {
        return result;
    }
    dw_cache_txn_begin(&vde->cache);
    vde->txn_open = true;
    vde->txn_user = user;
    vde->txn_seq = ++vde->seq;
    result = dw_vde_generation_take(vde, &vde->txn_generation, diag);
    if (result != DW_OK) {
        return result;
    }
    vde->txn_saved_state = vde->state;
    vde->txn_quarantine_mark = vde->quarantine_count;
    vde->txn_bytes = 0;
    vde->txn_has_data = false;
    if (!vde->group_pending) {
        vde->group_first_seq = vde->txn_seq;
        vde->group_started_ns = dw_clock_now_ns(vde->clock);
    }
    return DW_OK;
}

int dw_vde_txn_commit(struct dw_vde *vde, dw_diag *diag)
{
    DW_ASSERT(vde->txn_open);
    uint64_t started = dw_clock_now_ns(vde->clock);
    dw_cache_txn_commit(&vde->cache);
    vde->txn_open = false;
    vde->group_pending = true;
    vde->group_has_data = vde->group_has_data || vde->txn_has_data;
    vde->counters.commits++;
    int result = DW_OK;
    bool strict = vde->config.durability == DW_DURABILITY_STRICT;
    if (strict && !vde->deterministic) {
        /* Durable before the call returns, but after it lets go of the writer lock, so
         * that other committers go on meanwhile and share the record (dw_vde_commit_wait). */
        DW_ASSERT(deferred_commit.vde == NULL || deferred_commit.vde == vde);
        deferred_commit.vde = vde;
        deferred_commit.seq = vde->seq;
        deferred_commit.started_ns = started;
        (void)pthread_mutex_lock(&vde->commit_lock);
        (void)pthread_cond_broadcast(&vde->commit_done); /* a leader may be waiting for it */
        (void)pthread_mutex_unlock(&vde->commit_lock);
        return DW_OK;
    }
    /* Strict in deterministic mode: durable now, one record a commit whatever the
     * threads, so the file is the same. Group: when the record would outgrow its limit. */
    if (strict || dw_cache_pending_count(&vde->cache) + vde->cache.undo_capacity > vde->pending_limit) {
        result = dw_wal_flush(vde, diag);
    }
    dw_vde_account(vde, DW_VDE_OP_COMMIT, started);
    return result;
}

/* Group commit: until the record holding transaction `seq` is durable, wait for the one
 * in flight, or lead: stage every pending page (ours and other committers') as one record
 * under the writer lock, then write it with no lock held. Called with no lock held. */
/* How long a leader waits for the callers already in the gate to commit, so that their
 * transactions share its record: a fraction of one durable write (~100 µs here, docs/IO.md).
 * Without it, committers that return together come back one after the other and every
 * second record holds one transaction. */
#define DW_COMMIT_GATHER_NS (40 * DW_NS_PER_US)

static int commit_wait(struct dw_vde *vde, uint64_t seq, dw_diag *diag)
{
    uint64_t gather_until = 0;
    for (;;) {
        (void)pthread_mutex_lock(&vde->commit_lock);
        while (vde->flushing && vde->durable_seq < seq) {
            (void)pthread_cond_wait(&vde->commit_done, &vde->commit_lock);
        }
        bool durable = vde->durable_seq >= seq;
        int error = vde->commit_error;
        (void)pthread_mutex_unlock(&vde->commit_lock);
        if (durable) {
            return DW_OK;
        }
        if (error != DW_OK) {
            return dw_diag_fail(diag, error, "close the VDE and open it again: recovery restores every acknowledged commit",
                                "the record holding this commit was not written: %s", vde->commit_message);
        }
        /* No record in flight: lead. Another committer may have led meanwhile. */
        dw_vde_writer_lock(vde);
        (void)pthread_mutex_lock(&vde->commit_lock);
        bool busy = vde->flushing;
        durable = vde->durable_seq >= seq;
        (void)pthread_mutex_unlock(&vde->commit_lock);
        if (busy || durable) {
            dw_vde_writer_unlock(vde);
            continue;
        }
        if (vde->txn_open) {
            /* Another thread's transaction is open (it began after this commit): its
             * pages are not a record's yet. Its commit will lead; wait for its end. */
            DW_ASSERT(vde->txn_user && !kept_by_this_thread(vde));
            dw_vde_writer_unlock(vde);
            dw_vde_wait_kept(vde);
            continue;
        }
        /* The last record held `record_txns` transactions: when fewer wait now and other
         * writers are about (in the gate, or back from the last record), give them a
         * moment to commit into this one. One writer alone never waits. */
        uint64_t now = dw_clock_now_ns(&vde->system_clock);
        if (gather_until == 0) {
            gather_until = now + DW_COMMIT_GATHER_NS;
        }
        uint64_t waiting_txns = vde->seq - vde->staged_seq;
        if (now < gather_until && (waiting_txns < vde->record_txns || dw_gate_callers(&vde->gate) > 0)) {
            dw_vde_writer_unlock(vde);
            struct timespec until;
            (void)clock_gettime(CLOCK_REALTIME, &until);
            uint64_t wait_ns = gather_until - now < 10 * DW_NS_PER_US ? gather_until - now : 10 * DW_NS_PER_US;
            until.tv_nsec += (long)wait_ns;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            (void)pthread_mutex_lock(&vde->commit_lock);
            (void)pthread_cond_timedwait(&vde->commit_done, &vde->commit_lock, &until);
            (void)pthread_mutex_unlock(&vde->commit_lock);
            continue;
        }
        dw_wal_staged staged;
        vde->record_txns = vde->seq - vde->staged_seq;
        int result = dw_wal_stage(vde, true, &staged, diag);
        if (result == DW_OK && staged.write_pending) {
            (void)pthread_mutex_lock(&vde->commit_lock);
            vde->flushing = true;
            (void)pthread_mutex_unlock(&vde->commit_lock);
        } else if (result == DW_OK) {
            dw_wal_publish(vde, &staged);
        }
        if (result == DW_OK) {
            dw_quarantine_release(vde);
        }
        dw_vde_writer_unlock(vde);
        if (result != DW_OK || !staged.write_pending) {
            if (result != DW_OK) {
                return result;
            }
            continue;
        }
        result = write_in_flight(vde, &staged, diag);
        if (result != DW_OK) {
            return result;
        }
    }
}

int dw_vde_commit_wait(struct dw_vde *vde, int result, dw_diag *diag)
{
    if (deferred_commit.vde == NULL) {
        return result;
    }
    DW_ASSERT(deferred_commit.vde == vde);
    uint64_t seq = deferred_commit.seq;
    uint64_t started = deferred_commit.started_ns;
    deferred_commit.vde = NULL;
    int waited = commit_wait(vde, seq, diag);
    dw_vde_account(vde, DW_VDE_OP_COMMIT, started);
    return result != DW_OK ? result : waited;
}

void dw_vde_txn_abort(struct dw_vde *vde)
{
    DW_ASSERT(vde->txn_open);
    dw_diag ignored;
    (void)dw_device_drain(&vde->device, &ignored); /* data written to blocks now free again */
    dw_cache_txn_abort(&vde->cache);
    vde->state = vde->txn_saved_state;
    vde->quarantine_count = vde->txn_quarantine_mark;
    vde->txn_open = false;
    vde->txn_user = false;
    vde->counters.aborts++;
}

/* Readers record into their thread's slot: one uncontended lock on a line of its own,
 * where one lock for all had every reader wait for the others (futex calls on each get
 * with two readers). Writers' classes stay under stats_lock: one writer at a time. */
void dw_vde_account(struct dw_vde *vde, uint32_t op, uint64_t started_ns)
{
    DW_ASSERT(op < DW_VDE_OP_COUNT);
    uint64_t now = dw_clock_now_ns(vde->clock);
    uint64_t elapsed = now - started_ns;
    uint64_t deadline = dw_device_deadline_ns();
    bool missed = deadline != UINT64_MAX && now > deadline;
    if (op == DW_VDE_OP_GET) {
        dw_vde_reader_latency *slot =
            &vde->reader_latency[dw_cache_thread_slot(&vde->cache) % DW_VDE_READER_SLOTS];
        (void)pthread_mutex_lock(&slot->lock);
        dw_histogram_record(&slot->histogram, elapsed);
        slot->max_ns = elapsed > slot->max_ns ? elapsed : slot->max_ns;
        slot->misses += missed ? 1 : 0;
        (void)pthread_mutex_unlock(&slot->lock);
        return;
    }
    (void)pthread_mutex_lock(&vde->stats_lock);
    dw_histogram_record(&vde->latency[op], elapsed);
    if (elapsed > vde->latency_max_ns[op]) {
        vde->latency_max_ns[op] = elapsed;
    }
    if (missed) {
        vde->misses[op]++;
    }
    (void)pthread_mutex_unlock(&vde->stats_lock);
}

void dw_vde_latency_collect(struct dw_vde *vde)
{
    dw_histogram *into = &vde->latency[DW_VDE_OP_GET];
    for (uint32_t i = 0; i < DW_VDE_READER_SLOTS; i++) {
        dw_vde_reader_latency *slot = &vde->reader_latency[i];
        (void)pthread_mutex_lock(&slot->lock);
        uint64_t before = into->count;
        dw_histogram_merge(into, &slot->histogram);
        DW_ASSERT(into->count == before + slot->histogram.count);
        if (slot->max_ns > vde->latency_max_ns[DW_VDE_OP_GET]) {
            vde->latency_max_ns[DW_VDE_OP_GET] = slot->max_ns;
        }
        vde->misses[DW_VDE_OP_GET] += slot->misses;
        slot->max_ns = 0;
        slot->misses = 0;
        dw_histogram_reset(&slot->histogram);
        (void)pthread_mutex_unlock(&slot->lock);
    }
}

/* Inode table blocks never written read as zeros: they are fresh (thin provisioning). */
bool dw_vde_fresh_block(void *context, uint64_t block, uint32_t type, unsigned char *data)
{
    struct dw_vde *vde = context;
    uint32_t size = vde->block_size;
    for (uint32_t i = 0; i < size; i++) {
        if (data[i] != 0) {
            return false;
        }
    }
    const dw_extended *extended = &vde->super.extended;
    uint32_t bits = dw_bitmap_bits(size);
    if (type == DW_BLOCK_INODE_BITMAP && block >= vde->inode_bitmap_start && block < vde->inode_blocks_start) {
        uint32_t index = (uint32_t)(block - vde->inode_bitmap_start);
        uint64_t first = (uint64_t)index * bits;
        uint64_t covered = extended->inode_count - first < bits ? extended->inode_count - first : bits;
        dw_bitmap_header header = {.group = 0, .index = index, .free = (uint32_t)covered, .covered = (uint32_t)covered};
        dw_bitmap_header_encode(&header, data);
    } else if (type == DW_BLOCK_INODES && block >= vde->inode_blocks_start && block < vde->groups_start) {
        uint64_t first = (block - vde->inode_blocks_start) * extended->inodes_per_block + 1;
        dw_store_le64(data, first);
        dw_store_le32(data + 8, extended->inodes_per_block);
    } else {
        return false;
    }
    dw_store_le32(data + size - 16, type);
    return true;
}
