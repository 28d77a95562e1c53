/*
 * wal.c — the write-ahead log, checkpoints, the superblock writes, and recovery.
 *
 * The log is a ring of blocks in the WAL region, addressed by LSN (a count of log blocks
 * ever written; block lsn lives at wal_start + lsn % wal_blocks). A record is a header
 * block (WALH), entry blocks (WALE) when its page list does not fit the header, and one
 * block (WALP) per page: the page's bytes without its trailer. Each log block is sealed
 * with its own LSN's low 32 bits as generation; the header carries an XXH64 of the entries
 * and pages, so a record is whole or it is not there.
 *
 * Commit (strict): data blocks are already written; sync them; write the record; sync.
 * Only then is the commit acknowledged, and only one record is ever in flight, so at
 * recovery a damaged record followed by a later valid one is damage to committed data
 * (reported), while a damaged last record is a torn, unacknowledged tail (cut off).
 * Group durability does the same for several transactions at once.
 *
 * Checkpoint: dirty pages whose newest image is durable are written home (clean once
 * written: the log still holds their images); when the log's tail may move, one sync
 * makes those writes durable, then the superblock copies (one, sync, the other, sync)
 * record the oldest record still needed.
 * Steps are bounded and paced by how full the log and the cache are, so no single
 * operation pays for a whole checkpoint (dw_wal_make_room).
 */
#include <string.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/checksum.h"
#include "core/error.h"
#include "core/text.h"
#include "vde/engine.h"

/* Pages a checkpoint step writes home at most. */
#define CHECKPOINT_STEP_PAGES 64

static uint64_t wal_position(const struct dw_vde *vde, uint64_t lsn)
{
    return vde->wal_start + lsn % vde->wal_blocks;
}

/* ---- the superblock ------------------------------------------------------------------ */

int dw_super_write(struct dw_vde *vde, dw_diag *diag)
{
    dw_wal_wait_flushing(vde); /* it records the last durable record's state */
    dw_super_copy *copy = &vde->super;
    dw_superblock *super = &copy->super;
    super->sequence++;
    /* Generations (FORMAT.md §1.1): a clean VDE records the exact next one; an open one
     * keeps at least half a reservation ahead of the counter. */
    if (super->state == DW_STATE_CLEAN) {
        super->generation_next = vde->generation_next;
    } else if (vde->generation_next + DW_GENERATION_RESERVE / 2 > vde->generation_limit) {
        super->generation_next = vde->generation_next + DW_GENERATION_RESERVE;
    } else {
        super->generation_next = vde->generation_limit;
    }
    super->checkpoint_lsn = vde->checkpoint_lsn;
    super->checkpoint_seq = vde->durable_seq;
    copy->extended.state = vde->durable_state;
    super->writer_time_ns = dw_vde_now_ns(vde);
    uint32_t unit_size = super->unit_size;
    uint32_t blocks_per_copy = DW_UNITS_PER_COPY * unit_size / vde->block_size;
    /* One copy, durable; then the other: one of them is always whole. The first is the
     * one open did not choose (vde.c, choose_superblock), so a damaged or older copy is
     * rewritten while the good one is left alone. */
    for (uint32_t i = 0; i < 2; i++) {
        uint32_t copy_index = i == 0 ? vde->super_first : 1 - vde->super_first;
        uint32_t first_unit = copy_index * DW_UNITS_PER_COPY;
        dw_super_encode(copy, vde->super_stage, first_unit);
        /* Durable on its own: whatever the copy vouches for (checkpointed pages, a
         * recovered log) was synced before this was called. */
        int result = dw_device_write_durable(&vde->device, (uint64_t)first_unit * unit_size / vde->block_size,
                                             blocks_per_copy, vde->super_stage, diag);
        if (result != DW_OK) {
            return result;
        }
    }
    vde->counters.superblock_writes++;
    if (super->state != DW_STATE_CLEAN) {
        vde->generation_limit = super->generation_next;
    }
    return DW_OK;
}

/* ---- writing records ----------------------------------------------------------------- */

static void page_payload(const struct dw_vde *vde, const dw_page *page, const unsigned char **payload)
{
    (void)vde;
    *payload = page->data;
}

static dw_wal_entry entry_of(struct dw_vde *vde, dw_page *page)
{
    dw_wal_entry entry = {.home = page->block, .type = dw_page_type(&vde->cache, page),
                          .generation = dw_page_generation(&vde->cache, page)};
    return entry;
}

static uint64_t record_checksum(struct dw_vde *vde, uint64_t lsn, uint32_t page_count)
{
    dw_xxh64_stream stream;
    dw_xxh64_begin(&stream, lsn);
    unsigned char encoded[DW_WAL_ENTRY_SIZE];
    for (uint32_t i = 0; i < page_count; i++) {
        dw_wal_entry entry = entry_of(vde, dw_cache_pending_page(&vde->cache, i));
        dw_wal_entry_encode(&entry, encoded);
        dw_xxh64_add(&stream, encoded, sizeof encoded);
    }
    for (uint32_t i = 0; i < page_count; i++) {
        const unsigned char *payload = NULL;
        page_payload(vde, dw_cache_pending_page(&vde->cache, i), &payload);
        dw_xxh64_add(&stream, payload, vde->payload_size);
    }
    return dw_xxh64_end(&stream);
}

/* Stages log blocks and writes them in runs that do not wrap round the region's end. */
typedef struct log_writer {
    struct dw_vde *vde;
    uint64_t run_lsn;           /* LSN of the first staged block */
    uint32_t staged;
    bool durable;               /* the record is one run: written durable, no sync after */
} log_writer;

static int log_writer_flush(log_writer *writer, dw_diag *diag)
{
    if (writer->staged == 0) {
        return DW_OK;
    }
    struct dw_vde *vde = writer->vde;
    uint64_t home = wal_position(vde, writer->run_lsn);
    /* The run is whole in the stage and the state it logs is consistent: readers go on
     * while the device writes it (docs/CONCURRENCY.md). A record is staged with the
     * state lock let go already (dw_wal_stage): it stays so. */
    bool held = vde->state_exclusive;
    dw_vde_state_release(vde);
    int result = writer->durable
                     ? dw_device_write_durable(&vde->device, home, writer->staged, vde->wal_stage, diag)
                     : dw_device_write(&vde->device, home, writer->staged, vde->wal_stage, diag);
    if (held) {
        dw_vde_state_reacquire(vde);
    }
    writer->run_lsn += writer->staged;
    writer->staged = 0;
    return result;
}

/* The next block to fill; flushes first when the stage is full or the run would wrap. */
static int log_writer_next(log_writer *writer, unsigned char **block, dw_diag *diag)
{
    struct dw_vde *vde = writer->vde;
    uint64_t lsn = writer->run_lsn + writer->staged;
    if (writer->staged == vde->wal_stage_blocks || (writer->staged > 0 && lsn % vde->wal_blocks == 0)) {
        DW_ASSERT(!writer->durable); /* a durable record is one run */
        int result = log_writer_flush(writer, diag);
        if (result != DW_OK) {
            return result;
        }
    }
    *block = vde->wal_stage + (size_t)writer->staged * vde->block_size;
    memset(*block, 0, vde->block_size);
    return DW_OK;
}

static void log_writer_seal(log_writer *writer, unsigned char *block, uint32_t type)
{
    struct dw_vde *vde = writer->vde;
    uint64_t lsn = writer->run_lsn + writer->staged;
    dw_trailer_seal(block, vde->block_size, wal_position(vde, lsn) * vde->block_size, type, (uint32_t)lsn);
    writer->staged++;
}

/* Stages the record's blocks and writes them; with stage_only (a record of one run), only
 * stages them: the whole record is then in wal_stage, for dw_wal_write_staged. */
static int write_record(struct dw_vde *vde, const dw_wal_header *header, bool durable, bool stage_only,
                        dw_diag *diag)
{
    log_writer writer = {.vde = vde, .run_lsn = header->lsn, .durable = durable};
    uint32_t page_count = header->page_count;
    unsigned char *block = NULL;
    int result = log_writer_next(&writer, &block, diag);
    if (result != DW_OK) {
        return result;
    }
    dw_wal_header_encode(header, block);
    uint32_t type = DW_BLOCK_WAL_HEADER; /* the first block; entry blocks after it */
    uint32_t capacity = dw_wal_header_entries(vde->block_size);
    uint32_t offset = DW_WAL_HEADER_FIXED;
    for (uint32_t i = 0; i < page_count; i++) {
        if (capacity == 0) {
            log_writer_seal(&writer, block, type);
            type = DW_BLOCK_WAL_ENTRIES;
            result = log_writer_next(&writer, &block, diag);
            if (result != DW_OK) {
                return result;
            }
            capacity = dw_wal_entries_per_block(vde->block_size);
            offset = 0;
        }
        dw_wal_entry entry = entry_of(vde, dw_cache_pending_page(&vde->cache, i));
        dw_wal_entry_encode(&entry, block + offset);
        offset += DW_WAL_ENTRY_SIZE;
        capacity--;
    }
    log_writer_seal(&writer, block, type);
    for (uint32_t i = 0; i < page_count; i++) {
        result = log_writer_next(&writer, &block, diag);
        if (result != DW_OK) {
            return result;
        }
        const unsigned char *payload = NULL;
        page_payload(vde, dw_cache_pending_page(&vde->cache, i), &payload);
        memcpy(block, payload, vde->payload_size);
        log_writer_seal(&writer, block, DW_BLOCK_WAL_PAGE);
    }
    if (stage_only) {
        DW_ASSERT(durable && writer.run_lsn == header->lsn);
        DW_ASSERT(writer.staged == 1 + header->entry_blocks + page_count);
        return DW_OK;
    }
    return log_writer_flush(&writer, diag);
}

static uint32_t record_blocks_for(const struct dw_vde *vde, uint32_t page_count)
{
    return 1 + dw_wal_entry_blocks(vde->block_size, page_count) + page_count;
}

void dw_wal_wait_flushing(struct dw_vde *vde)
{
    (void)pthread_mutex_lock(&vde->commit_lock);
    while (vde->flushing) {
        (void)pthread_cond_wait(&vde->commit_done, &vde->commit_lock);
    }
    (void)pthread_mutex_unlock(&vde->commit_lock);
}

int dw_wal_stage(struct dw_vde *vde, bool defer, dw_wal_staged *staged, dw_diag *diag)
{
    DW_ASSERT(!vde->txn_open);
    uint32_t page_count = dw_cache_pending_count(&vde->cache);
    int result = DW_OK;
    *staged = (dw_wal_staged){.lsn = vde->next_lsn, .blocks = 0, .write_pending = false, .seq = vde->seq,
                              .state = vde->state};
    vde->staged_seq = vde->seq;
    if (vde->group_has_data || vde->device.in_flight > 0) {
        /* Data first: a record must never name blocks that are not yet durable. */
        dw_vde_state_release(vde);
        result = dw_device_sync(&vde->device, diag);
        dw_vde_state_reacquire(vde);
        if (result != DW_OK) {
            return result;
        }
    }
    if (page_count == 0) {
        vde->group_pending = false;
        vde->group_has_data = false;
        return DW_OK;
    }
    uint32_t blocks = record_blocks_for(vde, page_count);
    DW_ASSERT(blocks <= vde->record_blocks_max);
    if (vde->next_lsn + blocks - vde->checkpoint_lsn > vde->wal_blocks) {
        result = dw_wal_checkpoint(vde, true, diag);
        if (result != DW_OK) {
            return result;
        }
        DW_ASSERT(vde->next_lsn + blocks - vde->checkpoint_lsn <= vde->wal_blocks);
    }
    dw_wal_header header = {
        .lsn = vde->next_lsn,
        .first_seq = vde->group_first_seq,
        .last_seq = vde->seq,
        .page_count = page_count,
        .entry_blocks = dw_wal_entry_blocks(vde->block_size, page_count),
        .state = vde->state,
    };
    /* The record is checksummed, copied into the stage and written with the state lock
     * let go: readers only read pages, and no writer changes one (the writer lock is
     * held), and nothing a reader looks at changes before the lock is taken again below.
     * Under it, readers waited while a record's pages were hashed and copied (twice over
     * each page's bytes: for a group record of thousands of pages, milliseconds).
     * readwhilewriting, 5 s: reader p99.9 91 -> 74 us (sync) with this and the cache's
     * logged list together. */
    dw_vde_state_release(vde);
    header.payload_checksum = record_checksum(vde, header.lsn, page_count);
    /* One device round trip when the record is one run of the log (it fits the stage and
     * does not wrap): a durable write. Otherwise its runs, then a sync. */
    bool one_run = blocks <= vde->wal_stage_blocks && header.lsn % vde->wal_blocks + blocks <= vde->wal_blocks;
    bool stage_only = defer && one_run;
    result = write_record(vde, &header, one_run, stage_only, diag);
    if (result == DW_OK && !one_run) {
        result = dw_device_sync(&vde->device, diag);
    }
    dw_vde_state_reacquire(vde);
    if (result != DW_OK) {
        return result;
    }
    /* Logged now (durable once written): pages changed from here on are pending again,
     * and no checkpoint takes one home before the record is durable (durable_lsn). */
    dw_cache_logged(&vde->cache, header.lsn);
    dw_quarantine_logged(vde, header.lsn);
    vde->next_lsn += blocks;
    vde->group_pending = false;
    vde->group_has_data = false;
    vde->counters.records++;
    vde->counters.record_blocks += blocks;
    *staged = (dw_wal_staged){.lsn = header.lsn, .blocks = blocks, .write_pending = stage_only, .seq = vde->seq,
                              .state = vde->state};
    return DW_OK;
}

int dw_wal_write_staged(struct dw_vde *vde, const dw_wal_staged *staged, dw_diag *diag)
{
    DW_ASSERT(staged->write_pending && staged->blocks <= vde->wal_stage_blocks);
    return dw_device_write_durable_alone(&vde->device, wal_position(vde, staged->lsn), staged->blocks, vde->wal_stage,
                                         diag);
}

void dw_wal_publish(struct dw_vde *vde, const dw_wal_staged *staged)
{
    (void)pthread_mutex_lock(&vde->commit_lock);
    if (staged->blocks > 0) {
        DW_ASSERT(staged->lsn + staged->blocks > vde->durable_lsn);
        vde->durable_lsn = staged->lsn + staged->blocks;
    }
    DW_ASSERT(staged->seq >= vde->durable_seq);
    vde->durable_seq = staged->seq;
    vde->durable_state = staged->state;
    (void)pthread_mutex_unlock(&vde->commit_lock);
}

int dw_wal_flush(struct dw_vde *vde, dw_diag *diag)
{
    /* A commit's record may be on its way to the device outside the writer lock: one
     * record in flight at a time, so wait for it (its writer needs nothing we hold). */
    dw_wal_wait_flushing(vde);
    dw_wal_staged staged;
    int result = dw_wal_stage(vde, false, &staged, diag);
    if (result != DW_OK) {
        return result;
    }
    dw_wal_publish(vde, &staged);
    dw_quarantine_release(vde);
    return DW_OK;
}

/* ---- checkpoints ---------------------------------------------------------------------- */

/* Writes home up to `limit` pages (the oldest first), then moves the superblock's
 * checkpoint when that is worth its two syncs or `complete` asks for it. */
static int checkpoint(struct dw_vde *vde, uint32_t limit, bool complete, dw_diag *diag)
{
    DW_ASSERT(!vde->txn_open);
    dw_wal_wait_flushing(vde); /* durable_lsn and the superblock's state stay put from here */
    uint64_t started = dw_clock_now_ns(vde->clock);
    uint32_t written = dw_cache_seal_home(&vde->cache, vde->durable_lsn, limit);
    /* The pages going home stay dirty until written, so readers may come in meanwhile,
     * for the submission too (it waits for the device when DW_DEVICE_IN_FLIGHT_MAX
     * writes are out: 2 ms of a 64-page step, when readers waited behind it): none can
     * evict them, and no writer can change them (docs/CONCURRENCY.md). Once
     * written they are clean: a read gets the new bytes back from the device, and the
     * log keeps their images until a sync makes them durable and the superblock moves
     * past them, below. So a step costs its writes and no sync of its own; the sync is
     * paid once per superblock move (a step of 64 pages: 2.5 ms with its sync, of which
     * the sync 0.5 ms; fillrandom relaxed, 200K puts, 2026-12-04). */
    dw_vde_state_release(vde);
    int result = dw_cache_submit_home(&vde->cache, diag);
    dw_diag ignored;
    int drained = dw_device_drain(&vde->device, result == DW_OK ? diag : &ignored);
    result = result != DW_OK ? result : drained;
    dw_vde_state_reacquire(vde);
    dw_cache_homed(&vde->cache, result == DW_OK);
    if (result != DW_OK) {
        return result;
    }
    vde->counters.checkpoint_pages += written;
    vde->homed_unsynced = vde->homed_unsynced || written > 0;
    uint64_t oldest = dw_cache_oldest_needed(&vde->cache);
    uint64_t target = oldest < vde->next_lsn ? oldest : vde->next_lsn;
    DW_ASSERT(target >= vde->checkpoint_lsn);
    /* Move the superblock when a whole checkpoint was asked for, or when the log has room
     * worth reclaiming: a superblock write costs two syncs, and the pages written home
     * since the last move need one first. */
    uint64_t gain = target - vde->checkpoint_lsn;
    if (gain > 0 && (complete || gain >= vde->wal_blocks / 8 || target == vde->next_lsn)) {
        if (vde->homed_unsynced) {
            dw_vde_state_release(vde); /* readers touch nothing a sync uses */
            result = dw_device_sync(&vde->device, diag);
            dw_vde_state_reacquire(vde);
            if (result != DW_OK) {
                return result;
            }
            vde->homed_unsynced = false;
        }
        uint64_t previous = vde->checkpoint_lsn;
        vde->checkpoint_lsn = target;
        dw_vde_state_release(vde); /* readers touch nothing a superblock write uses */
        result = dw_super_write(vde, diag);
        dw_vde_state_reacquire(vde);
        if (result != DW_OK) {
            vde->checkpoint_lsn = previous;
            return result;
        }
        vde->counters.checkpoints++;
        dw_quarantine_release(vde);
    }
    uint64_t elapsed = dw_clock_now_ns(vde->clock) - started;
    dw_histogram_record(&vde->latency[DW_VDE_OP_CHECKPOINT], elapsed);
    if (elapsed > vde->latency_max_ns[DW_VDE_OP_CHECKPOINT]) {
        vde->latency_max_ns[DW_VDE_OP_CHECKPOINT] = elapsed;
    }
    return DW_OK;
}

int dw_wal_checkpoint(struct dw_vde *vde, bool complete, dw_diag *diag)
{
    return checkpoint(vde, complete ? vde->cache.capacity : CHECKPOINT_STEP_PAGES, complete, diag);
}

int dw_wal_make_room(struct dw_vde *vde, dw_diag *diag)
{
    DW_ASSERT(!vde->txn_open);
    dw_cache *cache = &vde->cache;
    int result = DW_OK;
    /* The group closes when the next transaction might not fit the log's record limit,
     * when the quarantine is filling, or when it has waited its delay. */
    bool group_full = dw_cache_pending_count(cache) + cache->undo_capacity > vde->pending_limit ||
                      vde->quarantine_count + DW_TXN_FREES_MAX > DW_QUARANTINE_MAX;
    bool group_late = vde->group_pending && !vde->deterministic &&
                      dw_clock_now_ns(vde->clock) - vde->group_started_ns >= vde->config.group_delay_ns;
    if (vde->group_pending && (group_full || group_late)) {
        result = dw_wal_flush(vde, diag);
    }
    /* The cache must keep room for a whole transaction's pages besides the dirty ones.
     * Long before it is tight, each transaction pays one bounded step once half of that
     * room is dirty (or half the log is in use), so the whole checkpoint a tight cache
     * would force is not left to one unlucky operation. */
    uint32_t room = cache->capacity > cache->undo_capacity + 16 ? cache->capacity - cache->undo_capacity - 16 : 0;
    for (uint32_t attempt = 0; result == DW_OK && attempt < 4; attempt++) {
        bool cache_tight = cache->dirty_count + cache->undo_capacity + 16 > cache->capacity;
        bool cache_busy = cache->dirty_count > room / 2;
        uint64_t used = vde->next_lsn - vde->checkpoint_lsn;
        bool log_tight = used + vde->record_blocks_max > vde->wal_blocks;
        /* Busy halfway to tight, so that the paced steps start well before a whole
         * checkpoint is forced (with records up to half the log, "half the log in use"
         * was the tight point itself, and every checkpoint was a whole one). */
        uint64_t tight_at = vde->wal_blocks > vde->record_blocks_max ? vde->wal_blocks - vde->record_blocks_max : 0;
        bool log_busy = used > tight_at / 2;
        bool quarantine_tight = vde->quarantine_count + DW_TXN_FREES_MAX > DW_QUARANTINE_MAX;
        if (!cache_tight && !cache_busy && !log_tight && !log_busy && !quarantine_tight) {
            break;
        }
        /* A page changed by every transaction (a bitmap, the index's root) is pending
         * in every group and so never goes home by a step: when it is the one holding
         * the log's tail, a busy log flushes the group first so the step can take it. */
        bool tail_pending = log_busy && dw_cache_oldest_is_pending(cache);
        if ((cache_tight || log_tight || quarantine_tight || tail_pending) && vde->group_pending) {
            result = dw_wal_flush(vde, diag);
        }
        if (result == DW_OK) {
            /* A tight log or quarantine needs the checkpoint moved, so everything logged
             * goes home; a tight cache needs only its excess (and a step) written. */
            bool complete = log_tight || quarantine_tight;
            uint32_t limit = CHECKPOINT_STEP_PAGES;
            uint32_t wanted = cache->dirty_count + cache->undo_capacity + 16;
            if (cache_tight && wanted - cache->capacity > limit) {
                limit = wanted - cache->capacity;
            }
            result = checkpoint(vde, complete ? cache->capacity : limit, complete, diag);
        }
        if (!cache_tight && !log_tight && !quarantine_tight) {
            break; /* one paced step is all a busy log or cache asks for */
        }
    }
    return result;
}

/* ---- recovery --------------------------------------------------------------------------- */

typedef struct record_scan {
    dw_wal_header header;
    uint32_t blocks;
    bool header_valid;
    uint64_t bad_lsn;               /* the log block that failed (the header when the payload did) */
} record_scan;

/* Reads log block `lsn` into `block` and checks it is that LSN's block of `type`, reading
 * up to `attempts` times while it fails. Replay reads a failing block once more before it
 * counts as torn or damaged: a bit flipped on the way (not on the medium) would otherwise
 * make the newest acknowledged record look like a torn tail, and recovery would cut it
 * off. The look past the end (check_tail) reads once: most of what it reads is old. */
static int read_log_block(struct dw_vde *vde, uint64_t lsn, uint32_t type, unsigned char *block, int attempts,
                          bool *valid, dw_diag *diag)
{
    uint64_t position = wal_position(vde, lsn);
    *valid = false;
    for (int attempt = 0; attempt < attempts && !*valid; attempt++) {
        int result = dw_device_read(&vde->device, position, 1, block, diag);
        if (result != DW_OK) {
            return result;
        }
        *valid = dw_trailer_verify(block, vde->block_size, position * vde->block_size, type, true,
                                   (uint32_t)lsn) == DW_TRAILER_OK;
        if (*valid && attempt > 0) {
            vde->counters.log_rereads++; /* the first read returned what the block does not hold */
        }
    }
    return DW_OK;
}

/* The type of the block at `index` (0: the header) of a record with `entry_blocks`. */
static uint32_t record_block_type(uint32_t index, uint32_t entry_blocks)
{
    if (index == 0) {
        return DW_BLOCK_WAL_HEADER;
    }
    return index <= entry_blocks ? DW_BLOCK_WAL_ENTRIES : DW_BLOCK_WAL_PAGE;
}

/* A log block that verified in the scan and does not now: the device is not returning
 * what it holds. */
static int read_differently(struct dw_vde *vde, uint64_t lsn, dw_diag *diag)
{
    return dw_diag_fail(diag, DW_EIO, "the device changed what it returned: check it, then open again",
                        "'%s': WAL block at LSN %llu (block %llu) read differently the second time", vde->path,
                        (unsigned long long)lsn, (unsigned long long)wal_position(vde, lsn));
}

/* Reads and checks the whole record at lsn: its header, entries and page checksums.
 * Fills the entry list. *valid false when any part is missing or damaged. */
static int scan_record(struct dw_vde *vde, uint64_t lsn, int attempts, record_scan *scan, bool *valid,
                       dw_diag *diag)
{
    unsigned char *block = vde->scratch;
    *valid = false;
    scan->header_valid = false;
    scan->bad_lsn = lsn;
    bool ok = false;
    int result = read_log_block(vde, lsn, DW_BLOCK_WAL_HEADER, block, attempts, &ok, diag);
    if (result != DW_OK || !ok) {
        return result;
    }
    if (!dw_wal_header_decode(block, &scan->header) || scan->header.lsn != lsn) {
        return DW_OK;
    }
    dw_wal_header *header = &scan->header;
    if (header->page_count == 0 || header->page_count > vde->pending_limit ||
        header->entry_blocks != dw_wal_entry_blocks(vde->block_size, header->page_count)) {
        return DW_OK;
    }
    scan->blocks = record_blocks_for(vde, header->page_count);
    if (scan->blocks > vde->wal_blocks) {
        return DW_OK;
    }
    scan->header_valid = true;
    /* Entries: in the header, then in WALE blocks. */
    dw_xxh64_stream stream;
    dw_xxh64_begin(&stream, lsn);
    uint32_t capacity = dw_wal_header_entries(vde->block_size);
    uint32_t offset = DW_WAL_HEADER_FIXED;
    uint64_t at = lsn;
    for (uint32_t i = 0; i < header->page_count; i++) {
        if (capacity == 0) {
            at++;
            result = read_log_block(vde, at, DW_BLOCK_WAL_ENTRIES, block, attempts, &ok, diag);
            if (result != DW_OK || !ok) {
                scan->bad_lsn = at;
                return result;
            }
            capacity = dw_wal_entries_per_block(vde->block_size);
            offset = 0;
        }
        dw_xxh64_add(&stream, block + offset, DW_WAL_ENTRY_SIZE);
        dw_wal_entry_decode(block + offset, &vde->recovery_entries[i]);
        offset += DW_WAL_ENTRY_SIZE;
        capacity--;
    }
    /* Pages, read in runs through the WAL stage. */
    uint64_t first_page = lsn + 1 + header->entry_blocks;
    for (uint32_t i = 0; i < header->page_count; i++) {
        result = read_log_block(vde, first_page + i, DW_BLOCK_WAL_PAGE, block, attempts, &ok, diag);
        if (result != DW_OK || !ok) {
            scan->bad_lsn = first_page + i;
            return result;
        }
        dw_xxh64_add(&stream, block, vde->payload_size);
    }
    *valid = dw_xxh64_end(&stream) == header->payload_checksum;
    return DW_OK;
}

/* Writes the record's page images to their homes. */
static int apply_record(struct dw_vde *vde, uint64_t lsn, const dw_wal_header *header, dw_diag *diag)
{
    uint64_t first_page = lsn + 1 + header->entry_blocks;
    for (uint32_t i = 0; i < header->page_count; i++) {
        const dw_wal_entry *entry = &vde->recovery_entries[i];
        if (entry->home >= vde->device.block_count || entry->home < vde->wal_start + vde->wal_blocks) {
            return dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify",
                                "'%s': WAL record at LSN %llu names home block %llu, which no page may have",
                                vde->path, (unsigned long long)lsn, (unsigned long long)entry->home);
        }
        unsigned char *block = vde->wal_stage;
        bool ok = false;
        int result = read_log_block(vde, first_page + i, DW_BLOCK_WAL_PAGE, block, 2, &ok, diag);
        if (result == DW_OK && !ok) {
            result = read_differently(vde, first_page + i, diag);
        }
        if (result == DW_OK) {
            dw_trailer_seal(block, vde->block_size, entry->home * vde->block_size, entry->type, entry->generation);
            result = dw_device_write(&vde->device, entry->home, 1, block, diag);
        }
        if (result != DW_OK) {
            return result;
        }
        vde->counters.recovered_pages++;
    }
    return DW_OK;
}

/* After the last good record: is the log merely ending (or torn), or is a later record
 * there, which means committed data was damaged? */
static int check_tail(struct dw_vde *vde, uint64_t end, uint64_t bad_lsn, dw_diag *diag)
{
    uint64_t horizon = vde->record_blocks_max + 1;
    uint64_t room = vde->wal_blocks - (end - vde->checkpoint_lsn);
    if (horizon > room) {
        horizon = room;
    }
    for (uint64_t j = 1; j < horizon; j++) {
        record_scan scan;
        bool valid = false;
        int result = scan_record(vde, end + j, 1, &scan, &valid, diag);
        if (result != DW_OK) {
            return result;
        }
        if (scan.header_valid) {
            return dw_diag_fail(diag, DW_ECORRUPT,
                                "committed transactions would be lost; copy the file away and run dw vde verify",
                                "'%s': the WAL record at LSN %llu is damaged (its log block %llu, block %llu, fails "
                                "its check), but a later record (LSN %llu) exists",
                                vde->path, (unsigned long long)end, (unsigned long long)bad_lsn,
                                (unsigned long long)wal_position(vde, bad_lsn), (unsigned long long)end + j);
        }
    }
    return DW_OK;
}

/* Writes a record's log blocks again, as read. A record may be readable without being
 * durable: its sync failed, and the kernel keeps the pages it then calls clean (or the
 * writer died before its sync). Replaying such a record home and making the home blocks
 * durable, while the record itself stays volatile, would leave the home blocks ahead of
 * the log after another crash. So what recovery applies it first makes durable. Each
 * block is checked again before it is written: a bit flipped by this read would
 * otherwise be made durable in a record that was whole. */
static int rewrite_record(struct dw_vde *vde, uint64_t lsn, const record_scan *scan, dw_diag *diag)
{
    for (uint32_t i = 0; i < scan->blocks; i++) {
        bool ok = false;
        uint32_t type = record_block_type(i, scan->header.entry_blocks);
        int result = read_log_block(vde, lsn + i, type, vde->scratch, 2, &ok, diag);
        if (result == DW_OK && !ok) {
            result = read_differently(vde, lsn + i, diag);
        }
        if (result == DW_OK) {
            result = dw_device_write(&vde->device, wal_position(vde, lsn + i), 1, vde->scratch, diag);
        }
        if (result != DW_OK) {
            return result;
        }
    }
    return DW_OK;
}

/* Finds the valid records from the checkpoint on; with `apply`, writes them home and
 * takes their state, else writes them again in the log. Returns the LSN after the last. */
static int replay(struct dw_vde *vde, bool apply, uint64_t *end, bool *torn, uint64_t *bad_lsn, dw_diag *diag)
{
    uint64_t lsn = vde->checkpoint_lsn;
    *torn = false;
    *bad_lsn = lsn;
    for (;;) {
        if (lsn - vde->checkpoint_lsn >= vde->wal_blocks) {
            break; /* a full lap: nothing older can follow */
        }
        record_scan scan;
        bool valid = false;
        int result = scan_record(vde, lsn, 2, &scan, &valid, diag);
        if (result != DW_OK) {
            return result;
        }
        if (!valid) {
            *torn = scan.header_valid;
            *bad_lsn = scan.bad_lsn;
            break;
        }
        if (apply) {
            result = apply_record(vde, lsn, &scan.header, diag);
            vde->state = scan.header.state;
            vde->seq = scan.header.last_seq;
            vde->counters.recovered_records++;
        } else {
            result = rewrite_record(vde, lsn, &scan, diag);
        }
        if (result != DW_OK) {
            return result;
        }
        lsn += scan.blocks;
    }
    *end = lsn;
    return DW_OK;
}

int dw_wal_recover(struct dw_vde *vde, dw_diag *diag)
{
    uint64_t lsn = vde->checkpoint_lsn;
    bool torn = false;
    uint64_t bad_lsn = 0;
    /* First the log, made durable as it reads; then the pages home. */
    int result = replay(vde, false, &lsn, &torn, &bad_lsn, diag);
    if (result == DW_OK) {
        result = check_tail(vde, lsn, bad_lsn, diag);
    }
    if (result == DW_OK && lsn != vde->checkpoint_lsn) {
        uint64_t found = lsn;
        result = dw_device_sync(&vde->device, diag);
        if (result == DW_OK) {
            result = replay(vde, true, &lsn, &torn, &bad_lsn, diag);
        }
        if (result == DW_OK && lsn != found) {
            /* The first pass read (and made durable) records up to `found`; this one
             * stopped elsewhere: applying fewer would drop acknowledged commits. */
            result = read_differently(vde, bad_lsn, diag);
        }
        if (result == DW_OK) {
            result = dw_device_sync(&vde->device, diag);
        }
    }
    if (result != DW_OK) {
        return result;
    }
    vde->counters.truncated_tail = torn ? 1 : 0;
    vde->next_lsn = lsn;
    vde->durable_lsn = lsn;
    vde->checkpoint_lsn = lsn;
    vde->durable_seq = vde->seq;
    vde->staged_seq = vde->seq;
    vde->durable_state = vde->state;
    /* Pages read before replay may be stale now. */
    dw_cache_forget_clean(&vde->cache);
    return DW_OK;
}
