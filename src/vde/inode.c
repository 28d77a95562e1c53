/*
 * inode.c — inodes and the extents they point to.
 *
 * An inode lives in a fixed slot of the inode table: block inode_blocks_start + (n - 1) /
 * inodes_per_block. It holds the object's size, times, key hash, tags, and either the
 * value itself (up to inline_max bytes) or its first extents; further extents go to a
 * chain of extent blocks taken from the groups. A chain is built whole by the
 * transaction that writes the value and never changed after, so every block of it, and
 * the references to it, carry that transaction's generation.
 */
#include <string.h>

#include "core/assert.h"
#include "core/endian.h"
#include "core/error.h"
#include "vde/engine.h"

uint64_t dw_inode_block(const struct dw_vde *vde, uint64_t inode)
{
    return vde->inode_blocks_start + (inode - 1) / vde->super.extended.inodes_per_block;
}

uint32_t dw_inode_slot(const struct dw_vde *vde, uint64_t inode)
{
    return (uint32_t)((inode - 1) % vde->super.extended.inodes_per_block);
}

static uint32_t slot_offset(const struct dw_vde *vde, uint64_t inode)
{
    return DW_INODE_BLOCK_HEADER_SIZE + dw_inode_slot(vde, inode) * vde->layout.inode_size;
}

static int check_number(const struct dw_vde *vde, uint64_t inode, dw_diag *diag)
{
    if (inode == 0 || inode > vde->super.extended.inode_count) {
        return dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify", "'%s': inode %llu is outside the table (1..%llu)",
                            vde->path, (unsigned long long)inode,
                            (unsigned long long)vde->super.extended.inode_count);
    }
    return DW_OK;
}

int dw_inode_load(struct dw_vde *vde, uint64_t inode, uint32_t generation, dw_inode *out, dw_diag *diag)
{
    int result = check_number(vde, inode, diag);
    dw_page *page = NULL;
    if (result == DW_OK) {
        result = dw_cache_read(&vde->cache, dw_inode_block(vde, inode), DW_BLOCK_INODES, false, 0, &page, diag);
    }
    if (result != DW_OK) {
        return result;
    }
    bool used = dw_inode_decode(page->data + slot_offset(vde, inode), &vde->layout, out);
    dw_cache_unpin(&vde->cache, page);
    if (!used) {
        return dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify",
                            "'%s': inode %llu (block %llu) is not in use, or not an inode, though the index names it",
                            vde->path, (unsigned long long)inode, (unsigned long long)dw_inode_block(vde, inode));
    }
    if (out->generation != generation) {
        return dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify",
                            "'%s': inode %llu (block %llu) is generation %u but the index records %u: its block is "
                            "an older copy (a lost write) or damaged",
                            vde->path, (unsigned long long)inode, (unsigned long long)dw_inode_block(vde, inode),
                            out->generation, generation);
    }
    return DW_OK;
}

int dw_inode_store(struct dw_vde *vde, uint64_t inode, const dw_inode *in, dw_diag *diag)
{
    DW_ASSERT(vde->txn_open);
    int result = check_number(vde, inode, diag);
    dw_page *page = NULL;
    if (result == DW_OK) {
        result = dw_cache_read(&vde->cache, dw_inode_block(vde, inode), DW_BLOCK_INODES, false, 0, &page, diag);
    }
    if (result != DW_OK) {
        return result;
    }
    result = dw_cache_modify(&vde->cache, page, vde->txn_generation, diag);
    if (result == DW_OK) {
        dw_inode_encode(in, &vde->layout, page->data + slot_offset(vde, inode));
    }
    dw_cache_unpin(&vde->cache, page);
    return result;
}

static bool extent_holds(const dw_extent *extent, uint64_t logical)
{
    return logical >= extent->logical && logical - extent->logical < extent->count;
}

int dw_inode_find_extent(struct dw_vde *vde, uint64_t inode_number, const dw_inode *inode, uint64_t logical,
                         dw_extent *extent, dw_diag *diag)
{
    DW_ASSERT((inode->flags & DW_INODE_INLINE) == 0);
    uint32_t held = inode->extent_count < vde->layout.extent_count ? inode->extent_count : vde->layout.extent_count;
    for (uint32_t i = 0; i < held; i++) {
        if (extent_holds(&inode->extents[i], logical)) {
            *extent = inode->extents[i];
            return DW_OK;
        }
    }
    uint64_t block = inode->extent_block;
    uint32_t generation = inode->extent_block_generation;
    uint32_t left = inode->extent_count - held;
    uint32_t per_block = dw_extents_per_block(vde->block_size);
    /* The chain is as long as the extents it must hold: no loop can run longer. */
    for (uint32_t hops = 0; block != 0 && left > 0 && hops <= inode->extent_count / per_block + 1; hops++) {
        dw_page *page = NULL;
        int result = dw_cache_read(&vde->cache, block, DW_BLOCK_EXTENTS, true, generation, &page, diag);
        if (result != DW_OK) {
            return result;
        }
        dw_extent_block_header header;
        dw_extent_block_header_decode(page->data, &header);
        bool found = false;
        for (uint32_t i = 0; i < header.count && i < per_block && !found; i++) {
            dw_extent_decode(page->data + DW_EXTENT_BLOCK_HEADER_SIZE + (size_t)i * DW_EXTENT_SIZE, extent);
            found = extent_holds(extent, logical);
        }
        block = header.next;
        generation = header.next_generation;
        left -= header.count < left ? header.count : left;
        dw_cache_unpin(&vde->cache, page);
        if (found) {
            return DW_OK;
        }
    }
    return dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify",
                        "'%s': inode %llu has no extent for its payload block %llu", vde->path,
                        (unsigned long long)inode_number, (unsigned long long)logical);
}

/* Adds `extent` at the end of the chain, creating its first block or a new last block. */
static int add_to_chain(struct dw_vde *vde, uint64_t inode_number, dw_inode *inode, const dw_extent *extent,
                        dw_diag *diag)
{
    uint32_t per_block = dw_extents_per_block(vde->block_size);
    uint32_t index = inode->extent_count - vde->layout.extent_count; /* in the chain */
    uint32_t within = index % per_block;
    dw_page *page = NULL;
    int result = DW_OK;
    if (within == 0) {
        uint64_t block = 0;
        uint32_t got = 0;
        result = dw_alloc_blocks(vde, 1, &block, &got, diag);
        if (result == DW_OK) {
            result = dw_cache_create(&vde->cache, block, DW_BLOCK_EXTENTS, vde->txn_generation, &page, diag);
        }
        if (result != DW_OK) {
            return result;
        }
        dw_extent_block_header header = {.inode = inode_number};
        dw_extent_block_header_encode(&header, page->data);
        if (index == 0) {
            inode->extent_block = block;
            inode->extent_block_generation = vde->txn_generation;
            inode->flags |= DW_INODE_EXTENT_BLOCK;
        } else {
            /* Link the previous last block to the new one. */
            uint64_t previous = inode->extent_block;
            for (uint32_t hop = 1; hop < index / per_block && result == DW_OK; hop++) {
                dw_page *link = NULL;
                result = dw_cache_read(&vde->cache, previous, DW_BLOCK_EXTENTS, true, vde->txn_generation, &link, diag);
                if (result == DW_OK) {
                    dw_extent_block_header link_header;
                    dw_extent_block_header_decode(link->data, &link_header);
                    previous = link_header.next;
                    dw_cache_unpin(&vde->cache, link);
                }
            }
            dw_page *last = NULL;
            if (result == DW_OK) {
                result = dw_cache_read(&vde->cache, previous, DW_BLOCK_EXTENTS, true, vde->txn_generation, &last, diag);
            }
            if (result == DW_OK) {
                result = dw_cache_modify(&vde->cache, last, vde->txn_generation, diag);
                if (result == DW_OK) {
                    dw_extent_block_header last_header;
                    dw_extent_block_header_decode(last->data, &last_header);
                    last_header.next = block;
                    last_header.next_generation = vde->txn_generation;
                    dw_extent_block_header_encode(&last_header, last->data);
                }
                dw_cache_unpin(&vde->cache, last);
            }
        }
    } else {
        /* The last block of the chain has room. */
        uint64_t block = inode->extent_block;
        for (uint32_t hop = 0; hop < index / per_block && result == DW_OK; hop++) {
            dw_page *link = NULL;
            result = dw_cache_read(&vde->cache, block, DW_BLOCK_EXTENTS, true, vde->txn_generation, &link, diag);
            if (result == DW_OK) {
                dw_extent_block_header link_header;
                dw_extent_block_header_decode(link->data, &link_header);
                block = link_header.next;
                dw_cache_unpin(&vde->cache, link);
            }
        }
        if (result == DW_OK) {
            result = dw_cache_read(&vde->cache, block, DW_BLOCK_EXTENTS, true, vde->txn_generation, &page, diag);
        }
        if (result == DW_OK) {
            result = dw_cache_modify(&vde->cache, page, vde->txn_generation, diag);
            if (result != DW_OK) {
                dw_cache_unpin(&vde->cache, page);
                page = NULL;
            }
        }
    }
    if (result != DW_OK) {
        return result;
    }
    dw_extent_block_header header;
    dw_extent_block_header_decode(page->data, &header);
    DW_ASSERT(header.count == within);
    dw_extent_encode(extent, page->data + DW_EXTENT_BLOCK_HEADER_SIZE + (size_t)within * DW_EXTENT_SIZE);
    header.count++;
    dw_extent_block_header_encode(&header, page->data);
    dw_cache_unpin(&vde->cache, page);
    inode->extent_count++;
    return DW_OK;
}

int dw_inode_add_extent(struct dw_vde *vde, uint64_t inode_number, dw_inode *inode, const dw_extent *extent,
                        dw_diag *diag)
{
    DW_ASSERT(vde->txn_open && extent->count > 0);
    DW_ASSERT((inode->flags & DW_INODE_INLINE) == 0);
    /* Merge with the last extent when the blocks continue it. */
    if (inode->extent_count > 0 && inode->extent_count <= vde->layout.extent_count) {
        dw_extent *last = &inode->extents[inode->extent_count - 1];
        if (last->start + last->count == extent->start && last->logical + last->count == extent->logical &&
            last->generation == extent->generation && (uint64_t)last->count + extent->count <= UINT32_MAX) {
            last->count += extent->count;
            return DW_OK;
        }
    }
    if (inode->extent_count < vde->layout.extent_count) {
        inode->extents[inode->extent_count++] = *extent;
        return DW_OK;
    }
    return add_to_chain(vde, inode_number, inode, extent, diag);
}

bool dw_inode_data_logged(const struct dw_vde *vde, const dw_inode *inode)
{
    return (inode->flags & DW_INODE_INLINE) == 0 &&
           inode->size <= (uint64_t)DW_LOGGED_VALUE_BLOCKS * vde->payload_size;
}

/* Frees a data extent. A small object's blocks may be in the cache, and their images in
 * the log: the cached pages are dropped, and the blocks wait for a checkpoint past the
 * freeing record like logged pages do, or recovery could write an old image over a
 * block that was used again in the meantime. */
static int free_data(struct dw_vde *vde, const dw_inode *inode, const dw_extent *extent, dw_diag *diag)
{
    if (!dw_inode_data_logged(vde, inode)) {
        return dw_free_blocks(vde, extent->start, extent->count, DW_FREE_DATA, diag);
    }
    for (uint32_t i = 0; i < extent->count; i++) {
        int result = dw_cache_drop(&vde->cache, extent->start + i, vde->txn_generation, diag);
        if (result != DW_OK) {
            return result;
        }
    }
    return dw_free_blocks(vde, extent->start, extent->count, DW_FREE_METADATA, diag);
}

int dw_inode_release_data(struct dw_vde *vde, dw_inode *inode, dw_diag *diag)
{
    DW_ASSERT(vde->txn_open);
    if ((inode->flags & DW_INODE_INLINE) != 0) {
        return DW_OK;
    }
    uint32_t held = inode->extent_count < vde->layout.extent_count ? inode->extent_count : vde->layout.extent_count;
    for (uint32_t i = 0; i < held; i++) {
        int result = free_data(vde, inode, &inode->extents[i], diag);
        if (result != DW_OK) {
            return result;
        }
    }
    uint64_t block = inode->extent_block;
    uint32_t generation = inode->extent_block_generation;
    uint32_t left = inode->extent_count - held;
    uint32_t per_block = dw_extents_per_block(vde->block_size);
    for (uint32_t hops = 0; block != 0 && left > 0 && hops <= inode->extent_count / per_block + 1; hops++) {
        dw_page *page = NULL;
        int result = dw_cache_read(&vde->cache, block, DW_BLOCK_EXTENTS, true, generation, &page, diag);
        if (result == DW_OK) {
            result = dw_cache_modify(&vde->cache, page, vde->txn_generation, diag);
        }
        if (result != DW_OK) {
            if (page != NULL) {
                dw_cache_unpin(&vde->cache, page);
            }
            return result;
        }
        dw_extent_block_header header;
        dw_extent_block_header_decode(page->data, &header);
        for (uint32_t i = 0; i < header.count && i < per_block && result == DW_OK; i++) {
            dw_extent extent;
            dw_extent_decode(page->data + DW_EXTENT_BLOCK_HEADER_SIZE + (size_t)i * DW_EXTENT_SIZE, &extent);
            result = free_data(vde, inode, &extent, diag);
        }
        uint64_t this_block = block;
        block = header.next;
        generation = header.next_generation;
        left -= header.count < left ? header.count : left;
        dw_cache_discard(&vde->cache, page);
        dw_cache_unpin(&vde->cache, page);
        if (result == DW_OK) {
            result = dw_free_blocks(vde, this_block, 1, DW_FREE_METADATA, diag);
        }
        if (result != DW_OK) {
            return result;
        }
    }
    inode->extent_count = 0;
    inode->extent_block = 0;
    inode->extent_block_generation = 0;
    inode->flags &= (uint16_t)~DW_INODE_EXTENT_BLOCK;
    return DW_OK;
}
