/*
 * alloc.c — blocks from the allocation groups, inode numbers from the inode bitmap, and
 * the quarantine that keeps a freed block from being reused too soon.
 *
 * Each group starts with its bitmap blocks (a bit a block of the group, the bitmap's own
 * blocks included and set) whose headers count the clear bits. Allocation is first fit,
 * starting in the group where the last allocation succeeded, so that an object's blocks
 * stay together. Every bitmap change goes through the page cache inside the open
 * transaction, so it is logged and undone like any other metadata change.
 *
 * Why a quarantine: data is written straight to its blocks, outside the WAL. A block
 * freed by transaction A and handed to transaction B could be overwritten by B's data
 * before A is durable; a crash then recovers to before A, whose object still points at
 * the block. And a freed metadata block may still have images in the WAL that recovery
 * would write home over whatever now lives there. So a freed extent is not handed out
 * again until the record that freed it is durable (data) or checkpointed past (metadata
 * pages).
 *
 * A streaming writer reserves its blocks instead of taking them (dw_alloc_reserve): it
 * writes them outside any transaction, so their bits stay clear until its commit claims
 * them (dw_alloc_claim). Until then the search here skips every open writer's
 * reservations as it skips the quarantine; a crash or an abort forgets them, and since
 * nothing on the medium ever marked them used, nothing leaks.
 */
#include <string.h>

#include "core/assert.h"
#include "core/error.h"
#include "vde/engine.h"

uint64_t dw_group_start(const struct dw_vde *vde, uint32_t group)
{
    return vde->groups_start + (uint64_t)group * vde->super.extended.group_blocks;
}

uint32_t dw_group_blocks(const struct dw_vde *vde, uint32_t group)
{
    uint64_t start = dw_group_start(vde, group);
    uint64_t end = start + vde->super.extended.group_blocks;
    return (uint32_t)((end < vde->groups_end ? end : vde->groups_end) - start);
}

bool dw_block_in_groups(const struct dw_vde *vde, uint64_t block)
{
    return block >= vde->groups_start && block < vde->groups_end;
}

/* When `block` is quarantined, the first block after the entry holding it; else 0. */
static uint64_t quarantined_until(const struct dw_vde *vde, uint64_t block)
{
    for (uint32_t i = 0; i < vde->quarantine_count; i++) {
        const dw_quarantine *entry = &vde->quarantine[i];
        if (block >= entry->start && block < entry->start + entry->count) {
            return entry->start + entry->count;
        }
    }
    return 0;
}

/* When `block` is reserved by an open streaming writer, the first block after that
 * reservation; else 0, with *next the first reserved block after it (UINT64_MAX: none). */
static uint64_t reserved_until(const struct dw_vde *vde, uint64_t block, uint64_t *next)
{
    *next = UINT64_MAX;
    for (uint32_t w = 0; w < vde->writer_count; w++) {
        const struct dw_writer *writer = &vde->writers[w];
        for (uint32_t i = 0; writer->open && i < writer->extent_count; i++) {
            const dw_reserved *reserved = &writer->extents[i];
            if (block >= reserved->start && block < reserved->start + reserved->count) {
                return reserved->start + reserved->count;
            }
            if (reserved->start > block && reserved->start < *next) {
                *next = reserved->start;
            }
        }
    }
    return 0;
}

/* Finds a run of up to `want` clear bits in one bitmap page, neither quarantined nor
 * reserved by a streaming writer. */
static bool find_run(const struct dw_vde *vde, const unsigned char *bits, uint32_t covered,
                     uint64_t first_block, uint32_t want, uint32_t *run_start, uint32_t *run_length)
{
    uint32_t bit = 0;
    while (bit < covered) {
        if ((bit % 8) == 0 && bit + 8 <= covered && bits[bit / 8] == 0xff) {
            bit += 8;
            continue;
        }
        if (dw_bit_get(bits, bit)) {
            bit++;
            continue;
        }
        uint64_t until = quarantined_until(vde, first_block + bit);
        if (until != 0) {
            bit = (uint32_t)(until - first_block);
            continue;
        }
        uint64_t next_reserved = UINT64_MAX;
        until = reserved_until(vde, first_block + bit, &next_reserved);
        if (until != 0) {
            DW_ASSERT(until > first_block + bit);
            bit = (uint32_t)(until - first_block);
            continue;
        }
        uint32_t length = 1;
        while (length < want && bit + length < covered && first_block + bit + length < next_reserved &&
               !dw_bit_get(bits, bit + length) && quarantined_until(vde, first_block + bit + length) == 0) {
            length++;
        }
        *run_start = bit;
        *run_length = length;
        return true;
    }
    return false;
}

/* A bitmap block whose header disagrees with the geometry or with its own bits. */
static int bitmap_header_damaged(const struct dw_vde *vde, uint64_t block, const dw_bitmap_header *header,
                                 uint32_t bits_per_page, dw_diag *diag)
{
    return dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify; restore the VDE from a copy",
                        "'%s': bitmap block %llu is damaged: it counts %u free of %u bits (a block holds %u), "
                        "which its bits or the VDE's groups contradict",
                        vde->path, (unsigned long long)block, header->free, header->covered, bits_per_page);
}

/* Reads group bitmap block `block` pinned, with its header, which must agree with the
 * geometry and with itself (a block that passed its checksum can still say otherwise).
 * On a failure nothing stays pinned. */
static int load_group_bitmap(struct dw_vde *vde, uint64_t block, dw_page **page, dw_bitmap_header *header,
                             dw_diag *diag)
{
    uint32_t bits_per_page = dw_bitmap_bits(vde->block_size);
    int result = dw_cache_read(&vde->cache, block, DW_BLOCK_BITMAP, false, 0, page, diag);
    if (result != DW_OK) {
        return result;
    }
    dw_bitmap_header_decode((*page)->data, header);
    if (header->covered > bits_per_page || header->free > header->covered) {
        dw_cache_unpin(&vde->cache, *page);
        return bitmap_header_damaged(vde, block, header, bits_per_page, diag);
    }
    return DW_OK;
}

static int take_run(struct dw_vde *vde, dw_page *page, dw_bitmap_header *header, uint32_t run_start,
                    uint32_t run_length, dw_diag *diag)
{
    int result = dw_cache_modify(&vde->cache, page, vde->txn_generation, diag);
    if (result != DW_OK) {
        return result;
    }
    unsigned char *bits = page->data + DW_BITMAP_HEADER_SIZE;
    for (uint32_t i = 0; i < run_length; i++) {
        DW_ASSERT(!dw_bit_get(bits, run_start + i));
        dw_bit_set(bits, run_start + i, true);
    }
    DW_ASSERT(header->free >= run_length);
    header->free -= run_length;
    dw_bitmap_header_encode(header, page->data);
    return DW_OK;
}

/* First fit from the group hint: the run is taken (its bits set, inside the open
 * transaction) or, for a streaming writer, only found (`take` false). */
static int search(struct dw_vde *vde, uint32_t want, bool take, uint64_t *start, uint32_t *got, dw_diag *diag)
{
    const dw_extended *extended = &vde->super.extended;
    uint32_t bits_per_page = dw_bitmap_bits(vde->block_size);
    uint32_t first_group = vde->state.group_hint % extended->group_count;
    for (uint32_t k = 0; k < extended->group_count; k++) {
        uint32_t group = (first_group + k) % extended->group_count;
        uint64_t group_start = dw_group_start(vde, group);
        for (uint32_t i = 0; i < extended->group_bitmap_blocks; i++) {
            dw_page *page = NULL;
            dw_bitmap_header header;
            int result = load_group_bitmap(vde, group_start + i, &page, &header, diag);
            if (result != DW_OK) {
                return result;
            }
            uint32_t run_start = 0;
            uint32_t run_length = 0;
            uint64_t page_first = group_start + (uint64_t)i * bits_per_page;
            if (header.free > 0 && find_run(vde, page->data + DW_BITMAP_HEADER_SIZE, header.covered, page_first,
                                            want, &run_start, &run_length)) {
                /* The header's count and the bits must agree, and a run must lie in the
                 * groups: a block that passed its checksum can still say otherwise. */
                if (header.free < run_length || !dw_block_in_groups(vde, page_first + run_start) ||
                    !dw_block_in_groups(vde, page_first + run_start + run_length - 1)) {
                    dw_cache_unpin(&vde->cache, page);
                    return bitmap_header_damaged(vde, group_start + i, &header, bits_per_page, diag);
                }
                result = take ? take_run(vde, page, &header, run_start, run_length, diag) : DW_OK;
                dw_cache_unpin(&vde->cache, page);
                if (result != DW_OK) {
                    return result;
                }
                *start = page_first + run_start;
                *got = run_length;
                if (take) {
                    vde->state.data_blocks_used += run_length;
                    vde->state.group_hint = group;
                }
                DW_ASSERT(dw_block_in_groups(vde, *start) && dw_block_in_groups(vde, *start + run_length - 1));
                return DW_OK;
            }
            dw_cache_unpin(&vde->cache, page);
        }
    }
    uint64_t total = vde->groups_end - vde->groups_start;
    return dw_diag_fail(diag, DW_ENOSPC, "delete objects, or create a larger VDE",
                        "'%s' is full: %llu of its %llu group blocks are in use%s", vde->path,
                        (unsigned long long)vde->state.data_blocks_used, (unsigned long long)total,
                        vde->quarantine_count > 0 ? " or freed and not yet reusable" : "");
}

int dw_alloc_blocks(struct dw_vde *vde, uint32_t want, uint64_t *start, uint32_t *got, dw_diag *diag)
{
    DW_ASSERT(vde->txn_open && want > 0);
    return search(vde, want, true, start, got, diag);
}

int dw_alloc_reserve(struct dw_vde *vde, uint32_t want, uint64_t *start, uint32_t *got, dw_diag *diag)
{
    DW_ASSERT(want > 0);
    DW_ASSERT(vde->state_exclusive); /* the writer lock: no one else searches meanwhile */
    int result = search(vde, want, false, start, got, diag);
    DW_ASSERT(result != DW_OK || (*got > 0 && *got <= want));
    return result;
}

bool dw_alloc_one_bitmap_page(const struct dw_vde *vde, uint64_t start, uint64_t count)
{
    DW_ASSERT(count > 0);
    if (!dw_block_in_groups(vde, start) || !dw_block_in_groups(vde, start + count - 1)) {
        return false;
    }
    uint64_t group_blocks = vde->super.extended.group_blocks;
    uint32_t bits_per_page = dw_bitmap_bits(vde->block_size);
    uint64_t first = start - vde->groups_start;
    uint64_t last = first + count - 1;
    return first / group_blocks == last / group_blocks &&
           (first % group_blocks) / bits_per_page == (last % group_blocks) / bits_per_page;
}

int dw_alloc_claim(struct dw_vde *vde, uint64_t start, uint32_t count, dw_diag *diag)
{
    DW_ASSERT(vde->txn_open && count > 0);
    DW_ASSERT(dw_block_in_groups(vde, start) && dw_block_in_groups(vde, start + count - 1));
    uint32_t bits_per_page = dw_bitmap_bits(vde->block_size);
    uint32_t group = (uint32_t)((start - vde->groups_start) / vde->super.extended.group_blocks);
    uint64_t group_start = dw_group_start(vde, group);
    uint64_t offset = start - group_start;
    uint32_t index = (uint32_t)(offset / bits_per_page);
    uint32_t bit = (uint32_t)(offset % bits_per_page);
    /* A reservation is runs searches found, in one bitmap page (ops.c merges only so). */
    DW_ASSERT(bit + count <= bits_per_page);
    DW_ASSERT(dw_alloc_one_bitmap_page(vde, start, count));
    dw_page *page = NULL;
    dw_bitmap_header header;
    int result = load_group_bitmap(vde, group_start + index, &page, &header, diag);
    if (result != DW_OK) {
        return result;
    }
    if (header.free < count) {
        dw_cache_unpin(&vde->cache, page);
        return bitmap_header_damaged(vde, group_start + index, &header, bits_per_page, diag);
    }
    result = take_run(vde, page, &header, bit, count, diag); /* asserts every bit was clear */
    dw_cache_unpin(&vde->cache, page);
    if (result == DW_OK) {
        vde->state.data_blocks_used += count;
    }
    return result;
}

int dw_free_blocks(struct dw_vde *vde, uint64_t start, uint32_t count, dw_free_kind kind, dw_diag *diag)
{
    DW_ASSERT(vde->txn_open && count > 0);
    if (!dw_block_in_groups(vde, start) || !dw_block_in_groups(vde, start + count - 1)) {
        return dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify", "'%s': freeing blocks %llu..%llu outside the groups",
                            vde->path, (unsigned long long)start, (unsigned long long)(start + count - 1));
    }
    if (kind != DW_FREE_UNWRITTEN && vde->quarantine_count == DW_QUARANTINE_MAX) {
        return dw_diag_fail(diag, DW_ENOSPC, "commit smaller transactions",
                            "the transaction frees more extents than can wait for reuse (%d)", DW_QUARANTINE_MAX);
    }
    uint32_t bits_per_page = dw_bitmap_bits(vde->block_size);
    uint32_t group = (uint32_t)((start - vde->groups_start) / vde->super.extended.group_blocks);
    uint64_t group_start = dw_group_start(vde, group);
    uint64_t offset = start - group_start;
    uint32_t index = (uint32_t)(offset / bits_per_page);
    uint32_t bit = (uint32_t)(offset % bits_per_page);
    /* Extents come from one bitmap page, so they go back to one. */
    if (bit + count > bits_per_page) {
        return dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify",
                            "'%s': extent %llu+%u crosses a bitmap page boundary", vde->path,
                            (unsigned long long)start, count);
    }
    dw_page *page = NULL;
    int result = dw_cache_read(&vde->cache, group_start + index, DW_BLOCK_BITMAP, false, 0, &page, diag);
    if (result == DW_OK) {
        result = dw_cache_modify(&vde->cache, page, vde->txn_generation, diag);
    }
    if (result == DW_OK) {
        unsigned char *bits = page->data + DW_BITMAP_HEADER_SIZE;
        dw_bitmap_header header;
        dw_bitmap_header_decode(page->data, &header);
        for (uint32_t i = 0; i < count && result == DW_OK; i++) {
            if (!dw_bit_get(bits, bit + i)) {
                result = dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify",
                                      "'%s': block %llu is freed but was not in use", vde->path,
                                      (unsigned long long)start + i);
            }
            dw_bit_set(bits, bit + i, false);
        }
        header.free += count;
        dw_bitmap_header_encode(&header, page->data);
    }
    if (page != NULL) {
        dw_cache_unpin(&vde->cache, page);
    }
    if (result == DW_OK) {
        DW_ASSERT(vde->state.data_blocks_used >= count);
        vde->state.data_blocks_used -= count;
        if (kind != DW_FREE_UNWRITTEN) {
            vde->quarantine[vde->quarantine_count++] = (dw_quarantine){
                .start = start, .count = count, .metadata = kind == DW_FREE_METADATA, .lsn = DW_LSN_NONE};
        }
    }
    return result;
}

static uint64_t inode_bitmap_page(const struct dw_vde *vde, uint64_t inode)
{
    return vde->inode_bitmap_start + (inode - 1) / dw_bitmap_bits(vde->block_size);
}

int dw_alloc_inode(struct dw_vde *vde, uint64_t *inode, dw_diag *diag)
{
    DW_ASSERT(vde->txn_open);
    uint64_t count = vde->super.extended.inode_count;
    uint32_t bits_per_page = dw_bitmap_bits(vde->block_size);
    uint32_t pages = vde->super.extended.inode_bitmap_blocks;
    uint64_t hint = vde->state.next_inode_hint >= 1 && vde->state.next_inode_hint <= count
                        ? vde->state.next_inode_hint : 1;
    uint32_t first_page = (uint32_t)((hint - 1) / bits_per_page);
    for (uint32_t k = 0; k < pages; k++) {
        uint32_t index = (first_page + k) % pages;
        dw_page *page = NULL;
        int result = dw_cache_read(&vde->cache, vde->inode_bitmap_start + index, DW_BLOCK_INODE_BITMAP, false, 0,
                                   &page, diag);
        if (result != DW_OK) {
            return result;
        }
        dw_bitmap_header header;
        dw_bitmap_header_decode(page->data, &header);
        uint64_t page_first = (uint64_t)index * bits_per_page;
        uint64_t page_inodes = count > page_first ? count - page_first : 0;
        if (header.covered > bits_per_page || header.covered > page_inodes || header.free > header.covered) {
            dw_cache_unpin(&vde->cache, page);
            return bitmap_header_damaged(vde, vde->inode_bitmap_start + index, &header, bits_per_page, diag);
        }
        const unsigned char *bits = page->data + DW_BITMAP_HEADER_SIZE;
        uint32_t bit = k == 0 ? (uint32_t)((hint - 1) % bits_per_page) : 0;
        while (header.free > 0 && bit < header.covered && dw_bit_get(bits, bit)) {
            bit++;
        }
        if (header.free == 0 || bit >= header.covered) {
            /* Nothing free after the hint in the first page: look before it too. */
            bit = 0;
            while (header.free > 0 && bit < header.covered && dw_bit_get(bits, bit)) {
                bit++;
            }
        }
        if (header.free > 0 && bit < header.covered) {
            result = dw_cache_modify(&vde->cache, page, vde->txn_generation, diag);
            if (result == DW_OK) {
                dw_bit_set(page->data + DW_BITMAP_HEADER_SIZE, bit, true);
                header.free--;
                dw_bitmap_header_encode(&header, page->data);
                *inode = (uint64_t)index * bits_per_page + bit + 1;
                vde->state.inodes_used++;
                vde->state.next_inode_hint = *inode + 1;
            }
            dw_cache_unpin(&vde->cache, page);
            return result;
        }
        dw_cache_unpin(&vde->cache, page);
    }
    return dw_diag_fail(diag, DW_ENOSPC, "delete objects, or create the VDE with more inodes (--inodes)",
                        "'%s' has no free inode: all %llu are in use", vde->path, (unsigned long long)count);
}

int dw_free_inode(struct dw_vde *vde, uint64_t inode, dw_diag *diag)
{
    DW_ASSERT(vde->txn_open && inode >= 1 && inode <= vde->super.extended.inode_count);
    uint32_t bit = (uint32_t)((inode - 1) % dw_bitmap_bits(vde->block_size));
    dw_page *page = NULL;
    int result = dw_cache_read(&vde->cache, inode_bitmap_page(vde, inode), DW_BLOCK_INODE_BITMAP, false, 0, &page,
                               diag);
    if (result == DW_OK) {
        result = dw_cache_modify(&vde->cache, page, vde->txn_generation, diag);
    }
    if (result == DW_OK) {
        if (!dw_bit_get(page->data + DW_BITMAP_HEADER_SIZE, bit)) {
            result = dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify", "'%s': inode %llu is freed but was not in use",
                                  vde->path, (unsigned long long)inode);
        } else {
            dw_bitmap_header header;
            dw_bitmap_header_decode(page->data, &header);
            dw_bit_set(page->data + DW_BITMAP_HEADER_SIZE, bit, false);
            header.free++;
            dw_bitmap_header_encode(&header, page->data);
            vde->state.inodes_used--;
        }
    }
    if (page != NULL) {
        dw_cache_unpin(&vde->cache, page);
    }
    return result;
}

void dw_quarantine_logged(struct dw_vde *vde, uint64_t lsn)
{
    for (uint32_t i = 0; i < vde->quarantine_count; i++) {
        if (vde->quarantine[i].lsn == DW_LSN_NONE) {
            vde->quarantine[i].lsn = lsn;
        }
    }
}

void dw_quarantine_release(struct dw_vde *vde)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < vde->quarantine_count; i++) {
        const dw_quarantine *entry = &vde->quarantine[i];
        bool safe = entry->lsn != DW_LSN_NONE &&
                    (entry->metadata ? vde->checkpoint_lsn > entry->lsn : vde->durable_lsn > entry->lsn);
        if (!safe) {
            vde->quarantine[kept++] = *entry;
        }
    }
    vde->quarantine_count = kept;
}
