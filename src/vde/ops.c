/*
 * ops.c — the object store's operations: put, get, read, delete, exists, stat, tags,
 * transactions, streaming writers, iterators, sync.
 *
 * Every public call takes the handle's lock, sets the deadline and priority its I/O will
 * carry, does its work inside a transaction when it changes anything (its own, or the
 * caller's open one), and records its latency. A change that fails midway is undone
 * whole: the transaction's pages are put back and its frees forgotten.
 *
 * Values up to the inode's inline area (192 bytes) live in the inode; larger ones in data
 * blocks written before the commit record (ordered data: a value is written once, never
 * through the log), each block sealed with its address and the transaction's generation,
 * which its extent records, so a read returns the value's bytes or DW_ECORRUPT.
 * Streaming writers write their data outside any transaction, into blocks they reserve;
 * only their commit is a transaction (see "streaming writers" below).
 */
#include <stdatomic.h>
#include <string.h>

#include "core/assert.h"
#include "core/checksum.h"
#include "core/error.h"
#include "core/text.h"
#include "vde/engine.h"
#include "vde/vde_internal.h"

/* Blocks asked for at a time when a value needs more. */
#define EXTENT_CHUNK_BLOCKS 4096
#define TAG_NAME_MAX 32
#define TAG_VALUE_MAX 64

/* ---- the frame around every call ------------------------------------------------------ */

typedef struct call {
    struct dw_vde *vde;
    uint64_t started_ns;
    uint32_t op;
    bool reader;
    bool locked;                /* a reader that took the state lock */
    dw_diag *diag;
} call;

static uint64_t budget_of(const struct dw_vde *vde, const dw_op *op)
{
    return op != NULL && op->deadline_ns > 0 ? op->deadline_ns : vde->config.op_deadline_ns;
}

/* A user transaction of another thread is open: its pages hold what it has not yet
 * committed. state_kept and state_owner change under the state lock held exclusively,
 * which the caller holds. */
static bool kept_by_another_thread(const struct dw_vde *vde)
{
    return atomic_load(&vde->state_kept) && !pthread_equal(vde->state_owner, pthread_self());
}

/* A call that changes the VDE: admitted earliest deadline first (on the host's clock
 * even in deterministic mode: which thread comes first is the host's to decide anyway),
 * then the writer lock, and with it the state lock exclusively. While another thread's
 * transaction is open the call waits for its end, holding nothing (that thread may need
 * the gate meanwhile), rather than being refused. */
static int enter(struct dw_vde *vde, const dw_op *op, uint32_t class, call *frame, dw_diag *diag)
{
    frame->vde = vde;
    frame->started_ns = 0;
    frame->op = class;
    frame->reader = false;
    frame->locked = false;
    frame->diag = diag;
    if (vde == NULL) {
        return dw_diag_fail(diag, DW_EINVAL, NULL, "no VDE handle");
    }
    uint64_t deadline_ns = dw_clock_now_ns(&vde->system_clock) + budget_of(vde, op);
    for (;;) {
        dw_gate_enter(&vde->gate, deadline_ns, op != NULL ? (uint32_t)op->priority : (uint32_t)DW_OP_NORMAL);
        dw_vde_writer_lock(vde);
        if (!kept_by_another_thread(vde)) {
            break;
        }
        dw_vde_writer_unlock(vde);
        dw_gate_leave(&vde->gate);
        dw_vde_wait_kept(vde);
    }
    DW_ASSERT(!vde->txn_open || (vde->txn_user && pthread_equal(vde->state_owner, pthread_self())));
    dw_vde_begin_io(vde, op);
    frame->started_ns = dw_clock_now_ns(vde->clock);
    return DW_OK;
}

/* A call that only reads: shares the state lock with every other reader, and waits only
 * while a writer changes the state in memory (never for its I/O: docs/CONCURRENCY.md). */
static int enter_reader(struct dw_vde *vde, const dw_op *op, uint32_t class, call *frame, dw_diag *diag)
{
    frame->vde = vde;
    frame->started_ns = 0;
    frame->op = class;
    frame->reader = true;
    frame->locked = false;
    frame->diag = diag;
    if (vde == NULL) {
        return dw_diag_fail(diag, DW_EINVAL, NULL, "no VDE handle");
    }
    dw_vde_begin_io(vde, op);
    frame->started_ns = dw_clock_now_ns(vde->clock);
    frame->locked = dw_vde_reader_lock(vde);
    return DW_OK;
}

static int leave(call *frame, int result)
{
    struct dw_vde *vde = frame->vde;
    if (frame->reader) {
        dw_vde_reader_unlock(vde, frame->locked);
        dw_vde_account(vde, frame->op, frame->started_ns);
        return result;
    }
    dw_vde_writer_unlock(vde);
    dw_gate_leave(&vde->gate);
    /* A strict commit becomes durable here, with the engine open to the next caller. */
    result = dw_vde_commit_wait(vde, result, frame->diag);
    dw_vde_account(vde, frame->op, frame->started_ns);
    return result;
}

static int check_key(const struct dw_vde *vde, const void *key, size_t key_length, dw_diag *diag)
{
    if (key == NULL || key_length == 0 || key_length > vde->config.key_length_max) {
        return dw_diag_fail(diag, DW_EINVAL, "keys are 1 to limits.key_length_max bytes",
                            "a key of %zu bytes is not allowed (1 to %u)", key_length, vde->config.key_length_max);
    }
    return DW_OK;
}

/* A single write inside this thread's own transaction is a mistake of order, not of
 * concurrency (another thread's transaction is waited for in enter): it is refused. */
static int check_writable(const struct dw_vde *vde, dw_diag *diag)
{
    if (vde->read_only) {
        return dw_diag_fail(diag, DW_EPERM, NULL, "'%s' is open read-only", vde->path);
    }
    if (vde->txn_open && vde->txn_user) {
        return dw_diag_fail(diag, DW_EBUSY, "use dw_txn_put and dw_txn_delete, or commit first",
                            "a transaction is open on '%s'", vde->path);
    }
    return DW_OK;
}

/* ---- values ------------------------------------------------------------------------------ */

static uint64_t blocks_for(const struct dw_vde *vde, uint64_t size)
{
    return (size + vde->payload_size - 1) / vde->payload_size;
}

/* Seals block `index` of the data stage for its place and generation. */
static void seal_data(struct dw_vde *vde, uint32_t index, uint64_t block)
{
    dw_trailer_seal(vde->data_stage + (size_t)index * vde->block_size, vde->block_size, block * vde->block_size,
                    DW_BLOCK_DATA, vde->txn_generation);
}

/* A small value's blocks as fresh cache pages of the transaction: logged in its record
 * (one durable write for the whole commit), home with the next checkpoint. */
static int write_value_logged(struct dw_vde *vde, uint64_t inode_number, dw_inode *inode, const unsigned char *value,
                              uint64_t size, dw_diag *diag)
{
    uint64_t total = blocks_for(vde, size);
    DW_ASSERT(total > 0 && total <= DW_LOGGED_VALUE_BLOCKS);
    uint64_t logical = 0;
    while (logical < total) {
        uint64_t start = 0;
        uint32_t got = 0;
        int result = dw_alloc_blocks(vde, (uint32_t)(total - logical), &start, &got, diag);
        for (uint32_t i = 0; i < got && result == DW_OK; i++) {
            dw_page *page = NULL;
            result = dw_cache_create(&vde->cache, start + i, DW_BLOCK_DATA, vde->txn_generation, &page, diag);
            if (result == DW_OK) {
                uint64_t offset = (logical + i) * vde->payload_size;
                uint64_t length = size - offset < vde->payload_size ? size - offset : vde->payload_size;
                memcpy(page->data, value + offset, (size_t)length);
                dw_cache_unpin(&vde->cache, page);
            }
        }
        if (result == DW_OK) {
            dw_extent extent = {.logical = logical, .start = start, .count = got, .generation = vde->txn_generation};
            result = dw_inode_add_extent(vde, inode_number, inode, &extent, diag);
        }
        if (result != DW_OK) {
            return result;
        }
        logical += got;
    }
    return DW_OK;
}

/* Writes `size` bytes of value into new extents of the inode. */
static int write_value(struct dw_vde *vde, uint64_t inode_number, dw_inode *inode, const unsigned char *value,
                       uint64_t size, dw_diag *diag)
{
    uint64_t total = blocks_for(vde, size);
    /* Small values go through the log, while the transaction has undo room for them
     * (a transaction of many leaves them written in place instead). */
    if (total <= DW_LOGGED_VALUE_BLOCKS &&
        dw_cache_txn_pages(&vde->cache) + total + DW_LOGGED_VALUE_BLOCKS * 2 <= vde->cache.undo_capacity) {
        return write_value_logged(vde, inode_number, inode, value, size, diag);
    }
    uint64_t logical = 0;
    while (logical < total) {
        uint64_t want = total - logical < EXTENT_CHUNK_BLOCKS ? total - logical : EXTENT_CHUNK_BLOCKS;
        uint64_t start = 0;
        uint32_t got = 0;
        int result = dw_alloc_blocks(vde, (uint32_t)want, &start, &got, diag);
        if (result != DW_OK) {
            return result;
        }
        for (uint32_t done = 0; done < got;) {
            uint32_t batch = got - done;
            if (batch > DW_DATA_STAGE_BLOCKS) {
                batch = DW_DATA_STAGE_BLOCKS;
            }
            /* The stage is reused: the previous batch must be on its way out first. */
            result = dw_device_drain(&vde->device, diag);
            for (uint32_t i = 0; i < batch && result == DW_OK; i++) {
                uint64_t offset = (logical + done + i) * vde->payload_size;
                uint64_t length = size - offset < vde->payload_size ? size - offset : vde->payload_size;
                unsigned char *block = vde->data_stage + (size_t)i * vde->block_size;
                memcpy(block, value + offset, (size_t)length);
                memset(block + length, 0, vde->payload_size - (size_t)length);
                seal_data(vde, i, start + done + i);
            }
            if (result == DW_OK) {
                result = dw_device_write_async(&vde->device, start + done, batch, vde->data_stage, diag);
            }
            if (result != DW_OK) {
                return result;
            }
            done += batch;
        }
        dw_extent extent = {.logical = logical, .start = start, .count = got, .generation = vde->txn_generation};
        result = dw_inode_add_extent(vde, inode_number, inode, &extent, diag);
        if (result != DW_OK) {
            return result;
        }
        logical += got;
    }
    vde->txn_has_data = true;
    return dw_device_drain(&vde->device, diag);
}

/* Reads payload bytes [offset, offset + length) of an extent-held value into out. */
static int read_value_in(struct dw_vde *vde, uint64_t inode_number, const dw_inode *inode, uint64_t offset,
                         unsigned char *out, uint64_t length, unsigned char *stage, dw_diag *diag)
{
    uint64_t end = offset + length;
    while (offset < end) {
        uint64_t logical = offset / vde->payload_size;
        dw_extent extent;
        int result = dw_inode_find_extent(vde, inode_number, inode, logical, &extent, diag);
        if (result != DW_OK) {
            return result;
        }
        if (!dw_block_in_groups(vde, extent.start) || !dw_block_in_groups(vde, extent.start + extent.count - 1)) {
            return dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify", "'%s': inode %llu has an extent outside the groups",
                                vde->path, (unsigned long long)inode_number);
        }
        uint64_t within = logical - extent.logical;
        uint64_t last_logical = (end - 1) / vde->payload_size;
        uint64_t available = extent.count - within;
        uint64_t wanted = last_logical - logical + 1;
        uint32_t batch = (uint32_t)(wanted < available ? wanted : available);
        if (batch > DW_READER_STAGE_BLOCKS) {
            batch = DW_READER_STAGE_BLOCKS;
        }
        uint64_t first = extent.start + within;
        result = dw_device_read(&vde->device, first, batch, stage, diag);
        if (result != DW_OK) {
            return result;
        }
        for (uint32_t i = 0; i < batch && offset < end; i++) {
            const unsigned char *block = stage + (size_t)i * vde->block_size;
            uint64_t address = (first + i) * vde->block_size;
            dw_trailer_check check = dw_trailer_verify(block, vde->block_size, address, DW_BLOCK_DATA, true,
                                                       extent.generation);
            if (check != DW_TRAILER_OK) {
                return dw_diag_fail(diag, DW_ECORRUPT, "the object's data is damaged: restore it from elsewhere",
                                    "'%s': data block %llu (offset %llu) of inode %llu: %s", vde->path,
                                    (unsigned long long)first + i, (unsigned long long)address,
                                    (unsigned long long)inode_number, dw_trailer_check_name(check));
            }
            uint64_t at = offset % vde->payload_size;
            uint64_t take = vde->payload_size - at;
            if (take > end - offset) {
                take = end - offset;
            }
            memcpy(out, block + at, (size_t)take);
            out += take;
            offset += take;
        }
    }
    return DW_OK;
}

/* A small object's payload bytes through the cache, where its newest blocks may be
 * (logged, not yet home). A block read in is checked once, as it enters the cache. */
static int read_value_cached(struct dw_vde *vde, uint64_t inode_number, const dw_inode *inode, uint64_t offset,
                             unsigned char *out, uint64_t length, dw_diag *diag)
{
    uint64_t end = offset + length;
    while (offset < end) {
        uint64_t logical = offset / vde->payload_size;
        dw_extent extent;
        int result = dw_inode_find_extent(vde, inode_number, inode, logical, &extent, diag);
        if (result == DW_OK && (!dw_block_in_groups(vde, extent.start) ||
                                !dw_block_in_groups(vde, extent.start + extent.count - 1))) {
            result = dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify",
                                  "'%s': inode %llu has an extent outside the groups", vde->path,
                                  (unsigned long long)inode_number);
        }
        dw_page *page = NULL;
        if (result == DW_OK) {
            result = dw_cache_read(&vde->cache, extent.start + (logical - extent.logical), DW_BLOCK_DATA, true,
                                   extent.generation, &page, diag);
        }
        if (result != DW_OK) {
            return result;
        }
        uint64_t at = offset % vde->payload_size;
        uint64_t take = vde->payload_size - at < end - offset ? vde->payload_size - at : end - offset;
        memcpy(out, page->data + at, (size_t)take);
        dw_cache_unpin(&vde->cache, page);
        out += take;
        offset += take;
    }
    return DW_OK;
}

/* The same through a reader's own stage: readers read values at once on many threads. */
static int read_value(struct dw_vde *vde, uint64_t inode_number, const dw_inode *inode, uint64_t offset,
                      unsigned char *out, uint64_t length, dw_diag *diag)
{
    if (dw_inode_data_logged(vde, inode)) {
        return read_value_cached(vde, inode_number, inode, offset, out, length, diag);
    }
    uint32_t stage = dw_vde_stage_take(vde);
    unsigned char *memory = vde->reader_stages + (size_t)stage * DW_READER_STAGE_BLOCKS * vde->block_size;
    int result = read_value_in(vde, inode_number, inode, offset, out, length, memory, diag);
    dw_vde_stage_give(vde, stage);
    return result;
}

/* The limits a put must respect, checked before anything changes. */
static int check_put_limits(const struct dw_vde *vde, uint64_t size, dw_diag *diag)
{
    if (size > vde->config.value_size_max) {
        return dw_diag_fail(diag, DW_EINVAL, "raise limits.value_size_max, or store it in parts",
                            "a value of %llu bytes is larger than limits.value_size_max (%llu)",
                            (unsigned long long)size, (unsigned long long)vde->config.value_size_max);
    }
    if (vde->txn_bytes + size > vde->config.transaction_size_max) {
        return dw_diag_fail(diag, DW_ENOSPC, "commit, then go on in another transaction",
                            "the transaction would write %llu bytes, more than limits.transaction_size_max (%llu)",
                            (unsigned long long)vde->txn_bytes + size,
                            (unsigned long long)vde->config.transaction_size_max);
    }
    return DW_OK;
}

/* An inode that no key names any more: its data freed, itself zeroed and freed. */
static int drop_inode(struct dw_vde *vde, uint64_t inode_number, dw_inode *inode, dw_diag *diag)
{
    int result = dw_inode_release_data(vde, inode, diag);
    if (result == DW_OK) {
        dw_inode freed;
        memset(&freed, 0, sizeof freed);
        result = dw_inode_store(vde, inode_number, &freed, diag);
    }
    if (result == DW_OK) {
        result = dw_free_inode(vde, inode_number, diag);
    }
    return result;
}

/* Fills an inode for key with value (inline, logged or ordered data) and stores it. */
static int store_in_inode(struct dw_vde *vde, const unsigned char *key, uint32_t key_length, uint64_t inode_number,
                          dw_inode *inode, const unsigned char *value, uint64_t size, dw_diag *diag)
{
    inode->flags = (uint16_t)((inode->flags & ~(DW_INODE_INLINE | DW_INODE_EXTENT_BLOCK)) | DW_INODE_USED);
    inode->size = size;
    inode->key_hash = dw_xxh3_64(key, key_length, 0);
    inode->key_length = (uint16_t)key_length;
    inode->extent_count = 0;
    inode->inline_bytes = 0;
    int result = DW_OK;
    if (size <= vde->layout.inline_max) {
        inode->flags |= DW_INODE_INLINE;
        inode->inline_bytes = (uint16_t)size;
        if (size > 0) {
            memcpy(inode->inline_data, value, (size_t)size);
        }
    } else {
        result = write_value(vde, inode_number, inode, value, size, diag);
    }
    if (result == DW_OK) {
        result = dw_inode_store(vde, inode_number, inode, diag);
    }
    return result;
}

/* Puts key -> value inside the open transaction. A small untagged object is compact:
 * it lives in its index entry (FORMAT.md §8); any other has an inode. */
static int put_locked(struct dw_vde *vde, const unsigned char *key, uint32_t key_length, const unsigned char *value,
                      uint64_t size, dw_diag *diag)
{
    dw_index_hit hit;
    int result = dw_index_find(vde, key, key_length, &hit, NULL, diag);
    if (result != DW_OK) {
        return result;
    }
    uint64_t now = dw_vde_now_ns(vde);
    dw_inode inode;
    memset(&inode, 0, sizeof inode);
    dw_index_hit object = {.found = true, .compact = true, .generation = 1, .ctime_ns = now, .mtime_ns = now};
    if (hit.found && !hit.compact) {
        result = dw_inode_load(vde, hit.inode, hit.generation, &inode, diag);
        object.generation = inode.generation + 1;
        object.ctime_ns = inode.ctime_ns;
    } else if (hit.found) {
        object.generation = hit.generation + 1;
        object.ctime_ns = hit.ctime_ns;
    }
    if (result != DW_OK) {
        return result;
    }
    bool tagged = hit.found && !hit.compact && inode.tag_bytes > 0;
    if (!tagged && dw_index_compact_fits(vde, key_length, size)) {
        if (hit.found && !hit.compact) {
            result = drop_inode(vde, hit.inode, &inode, diag);
        }
        object.value_length = (uint32_t)size;
        if (result == DW_OK) {
            result = dw_index_insert_compact(vde, key, key_length, &object, value, diag);
        }
    } else {
        uint64_t inode_number = hit.inode;
        if (hit.found && !hit.compact) {
            result = dw_inode_release_data(vde, &inode, diag);
        } else {
            result = dw_alloc_inode(vde, &inode_number, diag);
        }
        inode.generation = object.generation;
        inode.ctime_ns = object.ctime_ns;
        inode.mtime_ns = now;
        if (result == DW_OK) {
            result = store_in_inode(vde, key, key_length, inode_number, &inode, value, size, diag);
        }
        /* The entry records the inode's new generation (and replaces a compact entry). */
        if (result == DW_OK) {
            result = dw_index_insert(vde, key, key_length, inode_number, inode.generation, diag);
        }
    }
    if (result == DW_OK && !hit.found) {
        vde->state.object_count++;
    }
    vde->txn_bytes += size;
    return result;
}

static int delete_locked(struct dw_vde *vde, const unsigned char *key, uint32_t key_length, dw_diag *diag)
{
    dw_index_hit hit;
    int result = dw_index_find(vde, key, key_length, &hit, NULL, diag);
    if (result != DW_OK) {
        return result;
    }
    if (!hit.found) {
        return dw_diag_fail(diag, DW_ENOENT, NULL, "no object with that key in '%s'", vde->path);
    }
    if (!hit.compact) {
        dw_inode inode;
        result = dw_inode_load(vde, hit.inode, hit.generation, &inode, diag);
        if (result == DW_OK) {
            result = drop_inode(vde, hit.inode, &inode, diag);
        }
    }
    if (result == DW_OK) {
        result = dw_index_remove(vde, key, key_length, diag);
        if (result == DW_ENOENT) {
            result = dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify", "'%s': the index lost a key while deleting it",
                                  vde->path);
        }
    }
    if (result == DW_OK) {
        DW_ASSERT(vde->state.object_count > 0);
        vde->state.object_count--;
    }
    return result;
}

/* Runs `work` as a transaction of its own, unless one is open (then as part of it). */
typedef int (*txn_work)(struct dw_vde *vde, const void *argument, dw_diag *diag);

static int in_transaction(struct dw_vde *vde, txn_work work, const void *argument, dw_diag *diag)
{
    if (vde->txn_open) {
        return work(vde, argument, diag);
    }
    int result = dw_vde_txn_begin(vde, false, diag);
    if (result != DW_OK) {
        return result;
    }
    result = work(vde, argument, diag);
    if (result != DW_OK) {
        dw_vde_txn_abort(vde);
        return result;
    }
    return dw_vde_txn_commit(vde, diag);
}

typedef struct put_arguments {
    const unsigned char *key;
    uint32_t key_length;
    const unsigned char *value;
    uint64_t size;
} put_arguments;

static int put_work(struct dw_vde *vde, const void *argument, dw_diag *diag)
{
    const put_arguments *put = argument;
    return put_locked(vde, put->key, put->key_length, put->value, put->size, diag);
}

static int delete_work(struct dw_vde *vde, const void *argument, dw_diag *diag)
{
    const put_arguments *del = argument;
    return delete_locked(vde, del->key, del->key_length, diag);
}

int dw_put(struct dw_vde *vde, const void *key, size_t key_length, const void *value, size_t value_length,
           const dw_op *op, dw_diag *diag)
{
    call frame;
    int result = enter(vde, op, DW_VDE_OP_PUT, &frame, diag);
    if (result != DW_OK) {
        return result;
    }
    result = check_key(vde, key, key_length, diag);
    if (result == DW_OK && value == NULL && value_length > 0) {
        result = dw_diag_fail(diag, DW_EINVAL, NULL, "a value of %zu bytes with no data", value_length);
    }
    if (result == DW_OK) {
        result = check_writable(vde, diag);
    }
    if (result == DW_OK) {
        result = check_put_limits(vde, value_length, diag);
    }
    if (result == DW_OK) {
        put_arguments put = {key, (uint32_t)key_length, value, value_length};
        result = in_transaction(vde, put_work, &put, diag);
    }
    return leave(&frame, result);
}

int dw_delete(struct dw_vde *vde, const void *key, size_t key_length, const dw_op *op, dw_diag *diag)
{
    call frame;
    int result = enter(vde, op, DW_VDE_OP_DELETE, &frame, diag);
    if (result != DW_OK) {
        return result;
    }
    result = check_key(vde, key, key_length, diag);
    if (result == DW_OK) {
        result = check_writable(vde, diag);
    }
    if (result == DW_OK) {
        put_arguments del = {key, (uint32_t)key_length, NULL, 0};
        result = in_transaction(vde, delete_work, &del, diag);
    }
    return leave(&frame, result);
}

/* What the index holds for key, or DW_ENOENT; the inode too, unless the object is
 * compact (then `copy`, when given, has its bytes). */
static int find(struct dw_vde *vde, const void *key, size_t key_length, dw_index_hit *hit, dw_inode *inode,
                const dw_index_copy *copy, dw_diag *diag)
{
    int result = check_key(vde, key, key_length, diag);
    if (result == DW_OK) {
        result = dw_index_find(vde, key, (uint32_t)key_length, hit, copy, diag);
    }
    if (result == DW_OK && !hit->found) {
        result = dw_diag_fail(diag, DW_ENOENT, NULL, "no object with that key in '%s'", vde->path);
    }
    if (result != DW_OK || hit->compact) {
        return result;
    }
    result = dw_inode_load(vde, hit->inode, hit->generation, inode, diag);
    if (result == DW_OK && inode->key_hash != dw_xxh3_64(key, key_length, 0)) {
        result = dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify",
                              "'%s': inode %llu belongs to another key than the index says", vde->path,
                              (unsigned long long)hit->inode);
    }
    return result;
}

int dw_get(struct dw_vde *vde, const void *key, size_t key_length, void *buffer, size_t capacity,
           size_t *value_length, const dw_op *op, dw_diag *diag)
{
    call frame;
    int result = enter_reader(vde, op, DW_VDE_OP_GET, &frame, diag);
    if (result != DW_OK) {
        return result;
    }
    dw_index_hit hit;
    dw_inode inode;
    dw_index_copy copy = {.buffer = buffer, .offset = 0, .length = capacity};
    result = find(vde, key, key_length, &hit, &inode, &copy, diag);
    uint64_t size = hit.compact ? hit.value_length : inode.size;
    if (result == DW_OK) {
        if (value_length != NULL) {
            *value_length = (size_t)size;
        }
        if (size > capacity) {
            result = dw_diag_fail(diag, DW_ENOSPC, "pass a larger buffer, or read it in parts with dw_read",
                                  "the value is %llu bytes; the buffer holds %zu", (unsigned long long)size,
                                  capacity);
        } else if (hit.compact) {
            /* copied out of the leaf by find */
        } else if ((inode.flags & DW_INODE_INLINE) != 0) {
            memcpy(buffer, inode.inline_data, inode.inline_bytes);
        } else if (inode.size > 0) {
            result = read_value(vde, hit.inode, &inode, 0, buffer, inode.size, diag);
        }
    }
    return leave(&frame, result);
}

int dw_read(struct dw_vde *vde, const void *key, size_t key_length, uint64_t offset, void *buffer, size_t length,
            size_t *read, const dw_op *op, dw_diag *diag)
{
    call frame;
    int result = enter_reader(vde, op, DW_VDE_OP_GET, &frame, diag);
    if (result != DW_OK) {
        return result;
    }
    dw_index_hit hit;
    dw_inode inode;
    *read = 0;
    dw_index_copy copy = {.buffer = buffer, .offset = offset, .length = length};
    result = find(vde, key, key_length, &hit, &inode, &copy, diag);
    uint64_t size = hit.compact ? hit.value_length : inode.size;
    if (result == DW_OK && offset < size) {
        uint64_t take = size - offset < length ? size - offset : length;
        if (hit.compact) {
            /* copied out of the leaf by find */
        } else if ((inode.flags & DW_INODE_INLINE) != 0) {
            memcpy(buffer, inode.inline_data + offset, (size_t)take);
        } else {
            result = read_value(vde, hit.inode, &inode, offset, buffer, take, diag);
        }
        if (result == DW_OK) {
            *read = (size_t)take;
        }
    }
    return leave(&frame, result);
}

int dw_exists(struct dw_vde *vde, const void *key, size_t key_length, bool *exists, const dw_op *op, dw_diag *diag)
{
    call frame;
    int result = enter_reader(vde, op, DW_VDE_OP_GET, &frame, diag);
    if (result != DW_OK) {
        return result;
    }
    dw_index_hit hit = {.found = false};
    result = check_key(vde, key, key_length, diag);
    if (result == DW_OK) {
        result = dw_index_find(vde, key, (uint32_t)key_length, &hit, NULL, diag);
    }
    *exists = result == DW_OK && hit.found;
    return leave(&frame, result);
}

static void stat_of(const dw_index_hit *hit, const dw_inode *inode, dw_object_stat *stat)
{
    if (hit->compact) {
        *stat = (dw_object_stat){.size = hit->value_length, .ctime_ns = hit->ctime_ns, .mtime_ns = hit->mtime_ns,
                                 .generation = hit->generation, .inode = 0, .extent_count = 0, .tag_bytes = 0};
        return;
    }
    uint64_t inode_number = hit->inode;
    stat->size = inode->size;
    stat->ctime_ns = inode->ctime_ns;
    stat->mtime_ns = inode->mtime_ns;
    stat->generation = inode->generation;
    stat->inode = inode_number;
    stat->extent_count = (inode->flags & DW_INODE_INLINE) != 0 ? 0 : inode->extent_count;
    stat->tag_bytes = inode->tag_bytes;
}

int dw_stat(struct dw_vde *vde, const void *key, size_t key_length, dw_object_stat *stat, const dw_op *op,
            dw_diag *diag)
{
    call frame;
    int result = enter_reader(vde, op, DW_VDE_OP_GET, &frame, diag);
    if (result != DW_OK) {
        return result;
    }
    dw_index_hit hit;
    dw_inode inode;
    result = find(vde, key, key_length, &hit, &inode, NULL, diag);
    if (result == DW_OK) {
        stat_of(&hit, &inode, stat);
    }
    return leave(&frame, result);
}

/* ---- transactions --------------------------------------------------------------------------- */

int dw_txn_begin(struct dw_vde *vde, dw_txn **txn, dw_diag *diag)
{
    call frame;
    int result = enter(vde, NULL, DW_VDE_OP_COMMIT, &frame, diag);
    if (result != DW_OK) {
        return result;
    }
    if (vde->txn_open) {
        result = dw_diag_fail(diag, DW_EBUSY, "commit or abort it first", "this thread's transaction is already open on '%s'",
                              vde->path);
    } else {
        result = dw_vde_txn_begin(vde, true, diag);
    }
    if (result == DW_OK) {
        vde->txn.vde = vde;
        *txn = &vde->txn;
        dw_vde_state_keep(vde); /* no reader sees the transaction before it commits */
    }
    dw_vde_writer_unlock(vde);
    dw_gate_leave(&vde->gate);
    return result;
}

static int txn_call(dw_txn *txn, txn_work work, const put_arguments *arguments, dw_diag *diag)
{
    if (txn == NULL || txn->vde == NULL) {
        return dw_diag_fail(diag, DW_EINVAL, NULL, "no transaction");
    }
    struct dw_vde *vde = txn->vde;
    dw_vde_writer_lock(vde);
    int result = DW_OK;
    if (!vde->txn_open || !vde->txn_user) {
        result = dw_diag_fail(diag, DW_EINVAL, NULL, "the transaction has ended");
    } else if (!pthread_equal(vde->state_owner, pthread_self())) {
        result = dw_diag_fail(diag, DW_EINVAL, "use a transaction on the thread that began it",
                              "the transaction belongs to another thread");
    } else {
        result = check_key(vde, arguments->key, arguments->key_length, diag);
    }
    if (result == DW_OK && work == put_work) {
        result = check_put_limits(vde, arguments->size, diag);
    }
    if (result == DW_OK) {
        result = work(vde, arguments, diag);
        if (result != DW_OK && result != DW_ENOENT) {
            /* A failure that may have left the transaction half done ends it. */
            dw_vde_txn_abort(vde);
            dw_vde_state_drop(vde);
        }
    }
    dw_vde_writer_unlock(vde);
    return result;
}

int dw_txn_put(dw_txn *txn, const void *key, size_t key_length, const void *value, size_t value_length, dw_diag *diag)
{
    put_arguments put = {key, (uint32_t)key_length, value, value_length};
    return txn_call(txn, put_work, &put, diag);
}

int dw_txn_delete(dw_txn *txn, const void *key, size_t key_length, dw_diag *diag)
{
    put_arguments del = {key, (uint32_t)key_length, NULL, 0};
    return txn_call(txn, delete_work, &del, diag);
}

int dw_txn_commit(dw_txn *txn, const dw_op *op, dw_diag *diag)
{
    if (txn == NULL || txn->vde == NULL) {
        return dw_diag_fail(diag, DW_EINVAL, NULL, "no transaction");
    }
    struct dw_vde *vde = txn->vde;
    dw_vde_writer_lock(vde);
    int result = DW_OK;
    if (!vde->txn_open || !vde->txn_user) {
        result = dw_diag_fail(diag, DW_EINVAL, "a failed operation ends its transaction: begin again",
                              "the transaction has ended");
    } else if (!pthread_equal(vde->state_owner, pthread_self())) {
        dw_vde_writer_unlock(vde);
        return dw_diag_fail(diag, DW_EINVAL, "commit a transaction on the thread that began it",
                            "the transaction belongs to another thread");
    } else {
        dw_vde_begin_io(vde, op);
        vde->txn_user = false;
        /* Readers may come in once it is whole: during its commit's durable write. */
        dw_vde_state_drop(vde);
        result = dw_vde_txn_commit(vde, diag);
    }
    txn->vde = NULL;
    dw_vde_writer_unlock(vde);
    return dw_vde_commit_wait(vde, result, diag);
}

void dw_txn_abort(dw_txn *txn)
{
    if (txn == NULL || txn->vde == NULL) {
        return;
    }
    struct dw_vde *vde = txn->vde;
    dw_vde_writer_lock(vde);
    if (vde->txn_open && vde->txn_user && pthread_equal(vde->state_owner, pthread_self())) {
        dw_vde_txn_abort(vde);
        dw_vde_state_drop(vde);
    }
    txn->vde = NULL;
    dw_vde_writer_unlock(vde);
}

int dw_sync(struct dw_vde *vde, const dw_op *op, dw_diag *diag)
{
    call frame;
    int result = enter(vde, op, DW_VDE_OP_COMMIT, &frame, diag);
    if (result != DW_OK) {
        return result;
    }
    if (!vde->read_only && !vde->txn_open) {
        result = dw_wal_flush(vde, diag);
    }
    return leave(&frame, result);
}

/* ---- streaming writers ---------------------------------------------------------------------- */

/* A writer's data goes to blocks it reserves (alloc.c), written outside any transaction
 * and with the state lock let go, so puts, deletes, transactions and other writers run
 * between its calls and readers run during its writes. Only its commit is a transaction:
 * it claims the reserved blocks, builds the inode and links the key, as one record. Until
 * then nothing on the medium names or marks those blocks, so an abort, a close or a crash
 * leaves nothing behind. The key is looked up at commit, not at open: whatever the key
 * held then is replaced (the last commit wins, among puts and writers alike). */

static void writer_begin_io(struct dw_vde *vde, const struct dw_writer *w)
{
    dw_op op = {.deadline_ns = w->deadline_budget_ns, .priority = w->priority};
    dw_vde_begin_io(vde, &op);
}

/* Ends the writer: its reservations go, and with them its blocks, free all along. */
static void writer_close(struct dw_writer *w)
{
    w->open = false;
    w->extent_count = 0;
    w->extent_used = 0;
    w->staged = 0;
    w->fill = 0;
}

static struct dw_writer *writer_slot_free(struct dw_vde *vde)
{
    for (uint32_t i = 0; i < vde->writer_count; i++) {
        if (!vde->writers[i].open) {
            return &vde->writers[i];
        }
    }
    return NULL;
}

int dw_writer_open(struct dw_vde *vde, const void *key, size_t key_length, const dw_op *op, dw_writer **writer,
                   dw_diag *diag)
{
    call frame;
    int result = enter(vde, op, DW_VDE_OP_PUT, &frame, diag);
    if (result != DW_OK) {
        return result;
    }
    result = check_key(vde, key, key_length, diag);
    if (result == DW_OK && vde->read_only) {
        result = dw_diag_fail(diag, DW_EPERM, NULL, "'%s' is open read-only", vde->path);
    }
    if (result == DW_OK) {
        result = dw_device_check_writable(&vde->device, diag);
    }
    struct dw_writer *w = result == DW_OK ? writer_slot_free(vde) : NULL;
    if (result == DW_OK && w == NULL && vde->writer_count == 0) {
        result = dw_diag_fail(diag, DW_EBUSY, "raise limits.writers_max",
                              "streaming writers are off for '%s' (limits.writers_max = 0)", vde->path);
    } else if (result == DW_OK && w == NULL) {
        result = dw_diag_fail(diag, DW_EBUSY, "commit or abort one, or raise limits.writers_max",
                              "all %u streaming writers of '%s' are open (limits.writers_max)", vde->writer_count,
                              vde->path);
    }
    uint32_t generation = 0;
    if (result == DW_OK) {
        /* Its own generation, for every block it seals: no transaction is open to lend one. */
        result = dw_vde_generation_take(vde, &generation, diag);
    }
    if (result == DW_OK) {
        DW_ASSERT(w->vde == vde && w->extent_count == 0);
        memcpy(w->key, key, key_length);
        w->key_length = (uint32_t)key_length;
        w->size = 0;
        w->generation = generation;
        w->fill = 0;
        w->staged = 0;
        w->extent_count = 0;
        w->extent_used = 0;
        w->deadline_budget_ns = budget_of(vde, op);
        w->priority = op != NULL ? op->priority : DW_OP_NORMAL;
        w->open = true;
        *writer = w;
    }
    dw_vde_writer_unlock(vde);
    dw_gate_leave(&vde->gate);
    return result;
}

/* Writes the blocks sealed in the data stage: the last ones of the last extent. */
static int writer_flush_stage(struct dw_vde *vde, struct dw_writer *w, dw_diag *diag)
{
    if (w->staged == 0) {
        return DW_OK;
    }
    DW_ASSERT(w->extent_count > 0 && w->staged <= w->extent_used);
    const dw_reserved *last = &w->extents[w->extent_count - 1];
    uint64_t first = last->start + w->extent_used - w->staged;
    DW_ASSERT(dw_block_in_groups(vde, first) && first + w->staged <= last->start + last->count);
    /* Nothing a reader can reach names these blocks, and no allocation hands them out:
     * readers go on meanwhile. */
    dw_vde_state_release(vde);
    int result = dw_device_write(&vde->device, first, w->staged, vde->data_stage, diag);
    dw_vde_state_reacquire(vde);
    w->staged = 0;
    return result;
}

/* Reserves more blocks for the writer; the last extent is full. A run that continues it
 * within its bitmap page extends it (one claim at commit, one extent in the inode). */
static int writer_reserve(struct dw_vde *vde, struct dw_writer *w, dw_diag *diag)
{
    uint64_t start = 0;
    uint32_t got = 0;
    int result = dw_alloc_reserve(vde, EXTENT_CHUNK_BLOCKS, &start, &got, diag);
    if (result != DW_OK) {
        return result;
    }
    dw_reserved *last = w->extent_count > 0 ? &w->extents[w->extent_count - 1] : NULL;
    if (last != NULL && last->start + last->count == start && (uint64_t)last->count + got <= UINT32_MAX &&
        dw_alloc_one_bitmap_page(vde, last->start, (uint64_t)last->count + got)) {
        last->count += got;
        return DW_OK;
    }
    if (w->extent_count == DW_WRITER_EXTENTS_MAX) {
        return dw_diag_fail(diag, DW_ENOSPC, "store the value in parts, or free contiguous space",
                            "'%s': the streamed value needs more than %d runs of free blocks, the most a writer holds",
                            vde->path, DW_WRITER_EXTENTS_MAX);
    }
    w->extents[w->extent_count++] = (dw_reserved){.start = start, .count = got};
    w->extent_used = 0;
    return DW_OK;
}

/* The block being filled is complete (or the value ends in it): sealed into the data
 * stage for the writer's next reserved block. */
static int writer_seal_block(struct dw_vde *vde, struct dw_writer *w, dw_diag *diag)
{
    int result = DW_OK;
    if (w->extent_count == 0 || w->extent_used == w->extents[w->extent_count - 1].count) {
        /* The staged blocks belong to the full extent: write them first. */
        result = writer_flush_stage(vde, w, diag);
        if (result == DW_OK) {
            result = writer_reserve(vde, w, diag);
        }
    } else if (w->staged == DW_DATA_STAGE_BLOCKS) {
        result = writer_flush_stage(vde, w, diag);
    }
    if (result != DW_OK) {
        return result;
    }
    DW_ASSERT(w->staged < DW_DATA_STAGE_BLOCKS && w->fill <= vde->payload_size);
    const dw_reserved *last = &w->extents[w->extent_count - 1];
    unsigned char *block = vde->data_stage + (size_t)w->staged * vde->block_size;
    memcpy(block, w->partial, w->fill);
    memset(block + w->fill, 0, vde->payload_size - w->fill);
    uint64_t address = (last->start + w->extent_used) * vde->block_size;
    dw_trailer_seal(block, vde->block_size, address, DW_BLOCK_DATA, w->generation);
    DW_ASSERT(dw_trailer_verify(block, vde->block_size, address, DW_BLOCK_DATA, true, w->generation) == DW_TRAILER_OK);
    w->staged++;
    w->extent_used++;
    w->fill = 0;
    return DW_OK;
}

int dw_writer_write(dw_writer *writer, const void *data, size_t length, dw_diag *diag)
{
    if (writer == NULL || writer->vde == NULL || (data == NULL && length > 0)) {
        return dw_diag_fail(diag, DW_EINVAL, NULL, "no writer, or no data");
    }
    struct dw_vde *vde = writer->vde;
    dw_vde_writer_lock(vde);
    int result = DW_OK;
    if (!writer->open) {
        result = dw_diag_fail(diag, DW_EINVAL, "a failed write ends its writer: open another", "the writer is not open");
    } else if (writer->size + length > vde->config.value_size_max) {
        result = dw_diag_fail(diag, DW_EINVAL, "raise limits.value_size_max",
                              "the value would grow past limits.value_size_max (%llu bytes)",
                              (unsigned long long)vde->config.value_size_max);
        writer_close(writer);
    } else {
        DW_ASSERT(writer->staged == 0); /* the data stage is every writer call's in turn */
        writer_begin_io(vde, writer);
    }
    const unsigned char *from = data;
    while (result == DW_OK && length > 0) {
        size_t take = vde->payload_size - writer->fill;
        if (take > length) {
            take = length;
        }
        memcpy(writer->partial + writer->fill, from, take);
        writer->fill += (uint32_t)take;
        writer->size += take;
        from += take;
        length -= take;
        if (writer->fill == vde->payload_size) {
            result = writer_seal_block(vde, writer, diag);
        }
    }
    if (result == DW_OK && writer->open) {
        result = writer_flush_stage(vde, writer, diag);
    }
    if (result != DW_OK && writer->open) {
        writer_close(writer);
    }
    dw_vde_writer_unlock(vde);
    return result;
}

void dw_vde_writer_abort_locked(struct dw_vde *vde)
{
    for (uint32_t i = 0; i < vde->writer_count; i++) {
        writer_close(&vde->writers[i]);
    }
}

/* The value's last block sealed and every block written; the unused tail of the last
 * reservation given back (it was never marked, so giving it back is forgetting it). */
static int writer_finish_data(struct dw_vde *vde, struct dw_writer *w, dw_diag *diag)
{
    if (w->extent_count == 0 && w->size <= vde->layout.inline_max) {
        return DW_OK; /* it goes into the inode, from the block being filled */
    }
    int result = DW_OK;
    if (w->fill > 0) {
        result = writer_seal_block(vde, w, diag);
    }
    if (result == DW_OK) {
        result = writer_flush_stage(vde, w, diag);
    }
    if (result == DW_OK && w->extent_count > 0) {
        DW_ASSERT(w->staged == 0 && w->extent_used > 0); /* a reservation is made for a block about to be sealed */
        w->extents[w->extent_count - 1].count = w->extent_used;
    }
    return result;
}

/* Inside the commit's transaction: claims the reserved blocks and links key -> inode,
 * replacing whatever the key holds now. */
static int writer_link(struct dw_vde *vde, const void *argument, dw_diag *diag)
{
    const struct dw_writer *w = argument;
    DW_ASSERT(vde->txn_open && w->open);
    dw_index_hit hit;
    int result = dw_index_find(vde, w->key, w->key_length, &hit, NULL, diag);
    if (result != DW_OK) {
        return result;
    }
    uint64_t now = dw_vde_now_ns(vde);
    dw_inode inode;
    memset(&inode, 0, sizeof inode);
    uint64_t inode_number = 0;
    if (hit.found && !hit.compact) {
        /* It keeps its inode, ctime and tags; its old data goes. */
        inode_number = hit.inode;
        result = dw_inode_load(vde, hit.inode, hit.generation, &inode, diag);
        if (result == DW_OK) {
            result = dw_inode_release_data(vde, &inode, diag);
        }
        inode.generation++;
    } else {
        /* A new object, or one that was compact: the stream gets an inode. */
        result = dw_alloc_inode(vde, &inode_number, diag);
        inode.generation = hit.found ? hit.generation + 1 : 1;
        inode.ctime_ns = hit.found ? hit.ctime_ns : now;
    }
    inode.flags = (uint16_t)((inode.flags & ~(DW_INODE_INLINE | DW_INODE_EXTENT_BLOCK)) | DW_INODE_USED);
    inode.size = w->size;
    inode.mtime_ns = now;
    inode.key_hash = dw_xxh3_64(w->key, w->key_length, 0);
    inode.key_length = (uint16_t)w->key_length;
    inode.extent_count = 0;
    inode.extent_block = 0;
    inode.extent_block_generation = 0;
    inode.inline_bytes = 0;
    if (result == DW_OK && w->extent_count == 0) {
        DW_ASSERT(w->size <= vde->layout.inline_max);
        inode.flags |= DW_INODE_INLINE;
        inode.inline_bytes = (uint16_t)w->size;
        memcpy(inode.inline_data, w->partial, (size_t)w->size);
    }
    uint64_t logical = 0;
    for (uint32_t i = 0; result == DW_OK && i < w->extent_count; i++) {
        const dw_reserved *reserved = &w->extents[i];
        result = dw_alloc_claim(vde, reserved->start, reserved->count, diag);
        dw_extent extent = {.logical = logical, .start = reserved->start, .count = reserved->count,
                            .generation = w->generation};
        if (result == DW_OK) {
            result = dw_inode_add_extent(vde, inode_number, &inode, &extent, diag);
        }
        logical += reserved->count;
    }
    if (result == DW_OK && w->extent_count > 0) {
        DW_ASSERT(logical == blocks_for(vde, w->size));
        vde->txn_has_data = true; /* written before the record that names them: durable first */
    }
    if (result == DW_OK) {
        result = dw_inode_store(vde, inode_number, &inode, diag);
    }
    if (result == DW_OK) {
        result = dw_index_insert(vde, w->key, w->key_length, inode_number, inode.generation, diag);
    }
    if (result == DW_OK && !hit.found) {
        vde->state.object_count++;
    }
    return result;
}

int dw_writer_commit(dw_writer *writer, dw_diag *diag)
{
    if (writer == NULL || writer->vde == NULL) {
        return dw_diag_fail(diag, DW_EINVAL, NULL, "no writer");
    }
    struct dw_vde *vde = writer->vde;
    call frame;
    /* Admitted like a put (it waits for another thread's transaction to end). */
    dw_op op = {.deadline_ns = writer->deadline_budget_ns, .priority = writer->priority};
    int result = enter(vde, &op, DW_VDE_OP_PUT, &frame, diag);
    if (result != DW_OK) {
        return result;
    }
    if (!writer->open) {
        result = dw_diag_fail(diag, DW_EINVAL, "a failed write ends its writer: open another", "the writer is not open");
        return leave(&frame, result);
    }
    result = writer_finish_data(vde, writer, diag);
    if (result == DW_OK && vde->txn_open) {
        /* This thread's own transaction: the object comes with it, or goes with it. */
        DW_ASSERT(vde->txn_user);
        result = writer_link(vde, writer, diag);
        if (result != DW_OK) {
            dw_vde_txn_abort(vde);
            dw_vde_state_drop(vde);
        }
    } else if (result == DW_OK) {
        result = in_transaction(vde, writer_link, writer, diag);
    }
    /* Claimed or not, the reservations go: claimed blocks are marked in the bitmaps (and
     * go free again if the transaction does not commit), unclaimed ones are free. */
    writer_close(writer);
    return leave(&frame, result);
}

void dw_writer_abort(dw_writer *writer)
{
    if (writer == NULL || writer->vde == NULL) {
        return;
    }
    struct dw_vde *vde = writer->vde;
    dw_vde_writer_lock(vde);
    writer_close(writer);
    dw_vde_writer_unlock(vde);
}

/* ---- iterators ---------------------------------------------------------------------------- */

int dw_iter_open(struct dw_vde *vde, const void *prefix, size_t prefix_length, dw_iter **iter, dw_diag *diag)
{
    if (vde == NULL || iter == NULL || (prefix == NULL && prefix_length > 0)) {
        return dw_diag_fail(diag, DW_EINVAL, NULL, "no VDE handle, iterator or prefix");
    }
    (void)pthread_mutex_lock(&vde->lock);
    int result = DW_OK;
    if (prefix_length > vde->config.key_length_max) {
        result = dw_diag_fail(diag, DW_EINVAL, NULL, "a prefix of %zu bytes is longer than any key", prefix_length);
    }
    struct dw_iter *free_slot = NULL;
    for (uint32_t i = 0; result == DW_OK && i < vde->iterator_count && free_slot == NULL; i++) {
        if (!vde->iterators[i].open) {
            free_slot = &vde->iterators[i];
        }
    }
    if (result == DW_OK && free_slot == NULL) {
        result = dw_diag_fail(diag, DW_EBUSY, "close one, or raise limits.iterators_max",
                              "all %u iterators are open", vde->iterator_count);
    }
    if (result == DW_OK && free_slot != NULL) {
        free_slot->open = true;
        free_slot->started = false;
        free_slot->done = false;
        free_slot->prefix_length = (uint32_t)prefix_length;
        if (prefix_length > 0) {
            memcpy(free_slot->prefix, prefix, prefix_length);
        }
        *iter = free_slot;
    }
    (void)pthread_mutex_unlock(&vde->lock);
    return result;
}

int dw_iter_next(dw_iter *iter, void *key, size_t capacity, size_t *key_length, dw_object_stat *stat, dw_diag *diag)
{
    if (iter == NULL || !iter->open) {
        return dw_diag_fail(diag, DW_EINVAL, NULL, "the iterator is not open");
    }
    struct dw_vde *vde = iter->vde;
    call frame;
    (void)enter_reader(vde, NULL, DW_VDE_OP_GET, &frame, diag);
    /* A walk over every key must not push out of the cache what gets use again and again. */
    dw_cache_scan_begin(&vde->cache);
    int result = DW_OK;
    if (iter->done) {
        result = DW_ENOENT;
    }
    uint32_t found_length = 0;
    dw_index_hit hit;
    if (result == DW_OK) {
        result = iter->started ? dw_index_seek(vde, iter->last, iter->last_length, false, iter->found,
                                               &found_length, &hit, diag)
                               : dw_index_seek(vde, iter->prefix, iter->prefix_length, true, iter->found,
                                               &found_length, &hit, diag);
    }
    if (result == DW_OK && (found_length < iter->prefix_length ||
                            memcmp(iter->found, iter->prefix, iter->prefix_length) != 0)) {
        result = DW_ENOENT;
    }
    if (result == DW_ENOENT) {
        iter->done = true;
    }
    if (result == DW_OK && found_length > capacity) {
        *key_length = found_length;
        result = dw_diag_fail(diag, DW_ENOSPC, "pass a buffer of limits.key_length_max bytes",
                              "the next key is %u bytes; the buffer holds %zu", found_length, capacity);
    }
    if (result == DW_OK && stat != NULL) {
        dw_inode inode;
        memset(&inode, 0, sizeof inode);
        if (!hit.compact) {
            result = dw_inode_load(vde, hit.inode, hit.generation, &inode, diag);
        }
        if (result == DW_OK) {
            stat_of(&hit, &inode, stat);
        }
    }
    if (result == DW_OK) {
        memcpy(key, iter->found, found_length);
        *key_length = found_length;
        memcpy(iter->last, iter->found, found_length);
        iter->last_length = found_length;
        iter->started = true;
    }
    dw_cache_scan_end(&vde->cache);
    return leave(&frame, result);
}

void dw_iter_close(dw_iter *iter)
{
    if (iter == NULL) {
        return;
    }
    struct dw_vde *vde = iter->vde;
    (void)pthread_mutex_lock(&vde->lock);
    iter->open = false;
    (void)pthread_mutex_unlock(&vde->lock);
}

/* ---- tags ------------------------------------------------------------------------------------ */

/* Tags are packed in the inode's tag area: name length, value length (a byte each), name,
 * value; tag_bytes says how much of the area is used. */
typedef struct tag_edit {
    const unsigned char *key;
    uint32_t key_length;
    const char *name;
    const char *value;
} tag_edit;

static int tags_check(const struct dw_vde *vde, dw_diag *diag)
{
    if (vde->layout.tags_size == 0) {
        return dw_diag_fail(diag, DW_EINVAL, "create the VDE with the standard or edge profile for tags",
                            "'%s' has no tags module (it was created with the minimal profile)", vde->path);
    }
    return DW_OK;
}

/* Finds tag `name` in the area; its offset, or -1. */
static int32_t tag_find(const unsigned char *tags, uint32_t used, const char *name, uint32_t name_length)
{
    uint32_t at = 0;
    while (at + 2 <= used) {
        uint32_t length = tags[at];
        uint32_t value_length = tags[at + 1];
        if (at + 2 + length + value_length > used) {
            break;
        }
        if (length == name_length && memcmp(tags + at + 2, name, name_length) == 0) {
            return (int32_t)at;
        }
        at += 2 + length + value_length;
    }
    return -1;
}

static int tag_work(struct dw_vde *vde, const void *argument, dw_diag *diag)
{
    const tag_edit *edit = argument;
    DW_ASSERT(edit->name != NULL);
    dw_index_hit hit;
    dw_inode inode;
    memset(&inode, 0, sizeof inode);
    dw_index_copy copy = {.buffer = vde->index.compact_value, .offset = 0,
                          .length = dw_index_compact_limit(vde->block_size)};
    int result = find(vde, edit->key, edit->key_length, &hit, &inode, &copy, diag);
    if (result != DW_OK) {
        return result;
    }
    uint64_t inode_number = hit.inode;
    if (hit.compact) {
        if (edit->value == NULL) {
            return dw_diag_fail(diag, DW_ENOENT, NULL, "the object has no tag '%s'", edit->name);
        }
        /* Tags live in an inode: the compact object moves into one. */
        result = dw_alloc_inode(vde, &inode_number, diag);
        inode.generation = hit.generation;
        inode.ctime_ns = hit.ctime_ns;
        inode.mtime_ns = hit.mtime_ns;
        if (result == DW_OK) {
            result = store_in_inode(vde, edit->key, edit->key_length, inode_number, &inode, vde->index.compact_value,
                                    hit.value_length, diag);
        }
        if (result != DW_OK) {
            return result;
        }
    }
    uint32_t name_length = (uint32_t)strlen(edit->name);
    int32_t at = tag_find(inode.tags, inode.tag_bytes, edit->name, name_length);
    if (at >= 0) {
        uint32_t size = 2u + inode.tags[at] + inode.tags[at + 1];
        memmove(inode.tags + at, inode.tags + at + size, inode.tag_bytes - (uint32_t)at - size);
        inode.tag_bytes = (uint16_t)(inode.tag_bytes - size);
    } else if (edit->value == NULL) {
        return dw_diag_fail(diag, DW_ENOENT, NULL, "the object has no tag '%s'", edit->name);
    }
    if (edit->value != NULL) {
        uint32_t value_length = (uint32_t)strlen(edit->value);
        if (inode.tag_bytes + 2 + name_length + value_length > vde->layout.tags_size) {
            return dw_diag_fail(diag, DW_ENOSPC, "remove tags, or use shorter names and values",
                                "the object's tags would take more than the %u bytes an inode holds",
                                vde->layout.tags_size);
        }
        unsigned char *end = inode.tags + inode.tag_bytes;
        end[0] = (unsigned char)name_length;
        end[1] = (unsigned char)value_length;
        memcpy(end + 2, edit->name, name_length);
        memcpy(end + 2 + name_length, edit->value, value_length);
        inode.tag_bytes = (uint16_t)(inode.tag_bytes + 2 + name_length + value_length);
    }
    inode.generation++;
    result = dw_inode_store(vde, inode_number, &inode, diag);
    if (result == DW_OK) {
        result = dw_index_insert(vde, edit->key, edit->key_length, inode_number, inode.generation, diag);
    }
    return result;
}

int dw_tag_set(struct dw_vde *vde, const void *key, size_t key_length, const char *name, const char *value,
               const dw_op *op, dw_diag *diag)
{
    call frame;
    int result = enter(vde, op, DW_VDE_OP_PUT, &frame, diag);
    if (result != DW_OK) {
        return result;
    }
    result = tags_check(vde, diag);
    if (result == DW_OK) {
        result = check_key(vde, key, key_length, diag);
    }
    if (result == DW_OK && (name == NULL || name[0] == '\0' || strlen(name) > TAG_NAME_MAX || strchr(name, '=') != NULL ||
                            (value != NULL && strlen(value) > TAG_VALUE_MAX))) {
        result = dw_diag_fail(diag, DW_EINVAL, "names are 1 to 32 bytes without '=', values up to 64 bytes",
                              "tag '%s' is not allowed", name != NULL ? name : "(null)");
    }
    if (result == DW_OK) {
        result = check_writable(vde, diag);
    }
    if (result == DW_OK) {
        tag_edit edit = {key, (uint32_t)key_length, name, value};
        result = in_transaction(vde, tag_work, &edit, diag);
    }
    return leave(&frame, result);
}

int dw_tag_get(struct dw_vde *vde, const void *key, size_t key_length, const char *name, char *value, size_t capacity,
               const dw_op *op, dw_diag *diag)
{
    call frame;
    int result = enter_reader(vde, op, DW_VDE_OP_GET, &frame, diag);
    if (result != DW_OK) {
        return result;
    }
    dw_index_hit hit;
    dw_inode inode;
    memset(&inode, 0, sizeof inode); /* a compact object has no tags */
    result = tags_check(vde, diag);
    if (result == DW_OK) {
        result = find(vde, key, key_length, &hit, &inode, NULL, diag);
    }
    if (result == DW_OK) {
        int32_t at = tag_find(inode.tags, inode.tag_bytes, name, (uint32_t)strlen(name));
        if (at < 0) {
            result = dw_diag_fail(diag, DW_ENOENT, NULL, "the object has no tag '%s'", name);
        } else if ((size_t)inode.tags[at + 1] + 1 > capacity) {
            result = dw_diag_fail(diag, DW_ENOSPC, NULL, "the tag's value is %u bytes", inode.tags[at + 1]);
        } else {
            memcpy(value, inode.tags + at + 2 + inode.tags[at], inode.tags[at + 1]);
            value[inode.tags[at + 1]] = '\0';
        }
    }
    return leave(&frame, result);
}

int dw_tags(struct dw_vde *vde, const void *key, size_t key_length, char *text, size_t capacity, const dw_op *op,
            dw_diag *diag)
{
    call frame;
    int result = enter_reader(vde, op, DW_VDE_OP_GET, &frame, diag);
    if (result != DW_OK) {
        return result;
    }
    dw_index_hit hit;
    dw_inode inode;
    memset(&inode, 0, sizeof inode); /* a compact object has no tags */
    result = tags_check(vde, diag);
    if (result == DW_OK) {
        result = find(vde, key, key_length, &hit, &inode, NULL, diag);
    }
    size_t used = 0;
    if (capacity > 0) {
        text[0] = '\0';
    }
    for (uint32_t at = 0; result == DW_OK && at + 2 <= inode.tag_bytes;) {
        uint32_t name_length = inode.tags[at];
        uint32_t value_length = inode.tags[at + 1];
        if (used + name_length + value_length + 3 > capacity) {
            result = dw_diag_fail(diag, DW_ENOSPC, NULL, "the tags take more than %zu bytes as text", capacity);
            break;
        }
        memcpy(text + used, inode.tags + at + 2, name_length);
        used += name_length;
        text[used++] = '=';
        memcpy(text + used, inode.tags + at + 2 + name_length, value_length);
        used += value_length;
        text[used++] = '\n';
        text[used] = '\0';
        at += 2 + name_length + value_length;
    }
    return leave(&frame, result);
}

/* ---- introspection ------------------------------------------------------------------------- */

void dw_vde_info_read(struct dw_vde *vde, dw_vde_info *info)
{
    /* The writer lock keeps writers out; readers change only what is read below, under
     * the locks they change it under (statistics) or atomically (the cache's counts). */
    (void)pthread_mutex_lock(&vde->lock);
    (void)pthread_mutex_lock(&vde->stats_lock);
    dw_vde_latency_collect(vde);
    memset(info, 0, sizeof *info);
    info->super = vde->super;
    info->state = vde->state;
    info->groups_blocks = vde->groups_end - vde->groups_start;
    info->wal_blocks = vde->wal_blocks;
    info->wal_used_blocks = vde->next_lsn - vde->checkpoint_lsn;
    info->next_lsn = vde->next_lsn;
    info->checkpoint_lsn = vde->checkpoint_lsn;
    info->seq = vde->seq;
    info->generation_next = vde->generation_next;
    info->memory_reserved_bytes = vde->budget.reserved_bytes;
    info->memory_ceiling_bytes = vde->config.memory_ceiling_bytes;
    info->memory_peak_bytes = vde->budget.reserved_high_water_bytes;
    info->read_only = vde->read_only;
    info->io_backend = dw_io_backend_name(vde->io.backend);
    static const char *const names[DW_VDE_OP_COUNT] = {"put", "get", "delete", "commit", "checkpoint"};
    for (uint32_t i = 0; i < DW_VDE_OP_COUNT; i++) {
        const dw_histogram *histogram = &vde->latency[i];
        info->ops[i] = (dw_vde_op_stats){
            .name = names[i],
            .count = histogram->count,
            .p50_ns = dw_histogram_percentile(histogram, 500000),
            .p99_ns = dw_histogram_percentile(histogram, 990000),
            .max_ns = vde->latency_max_ns[i],
            .misses = vde->misses[i],
        };
    }
    (void)pthread_mutex_unlock(&vde->stats_lock);
    info->commits = vde->counters.commits;
    info->records = vde->counters.records;
    info->checkpoints = vde->counters.checkpoints;
    info->checkpoint_pages = vde->counters.checkpoint_pages;
    info->recovered_records = vde->counters.recovered_records;
    info->recovered_pages = vde->counters.recovered_pages;
    info->truncated_tail = vde->counters.truncated_tail != 0;
    info->log_rereads = vde->counters.log_rereads;
    if (vde->device.stepped || vde->sched_started) {
        dw_sched_stats_read(&vde->sched, &info->sched);
    }
    dw_cache_stats cache_stats;
    dw_cache_stats_read(&vde->cache, &cache_stats);
    info->cache_hits = cache_stats.hits;
    info->cache_misses = cache_stats.misses;
    info->cache_pages = vde->cache.capacity;
    info->undo_pages = vde->cache.undo_capacity;
    (void)pthread_mutex_unlock(&vde->lock);
}
