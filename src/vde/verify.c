/*
 * verify.c — the full structural check behind `dw vde verify` (see vde_internal.h).
 *
 * It reads the VDE's blocks from the device itself, past the page cache, so what it checks
 * is what is on disk; and it checks them the way an independent reader following
 * docs/FORMAT.md would:
 *
 *   1. both superblock copies unit by unit, the emergency block and the size sentinel;
 *   2. the inode bitmap and every group bitmap (trailer, header, free counts);
 *   3. the key index from its root: every node's trailer against the generation its parent
 *      records, levels, keys in order within and across nodes and inside their parent's
 *      bounds;
 *   4. for every key, its inode (in use, naming the key) and every extent block and data
 *      block of its value, again against the generations recorded;
 *   5. cross-checks: every block reached is marked used and reached once; every block
 *      marked used is reached (no leak); every inode marked used is named once; the
 *      engine state's counts equal what was found.
 *
 * The VDE is opened read-only for this (dw_vde_target.verify): a crashed VDE's log is
 * replayed home as any open would, but nothing else is written, not even the repair of a
 * damaged superblock copy, so verify reports the damage it finds instead of hiding it.
 *
 * Memory: two bits per group block and per inode, plus a few blocks of buffers. They are
 * reserved against the VDE's memory ceiling before anything is taken and given back at
 * the end; verify is a maintenance operation, not a hot path, so it takes them when it
 * starts rather than at open.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/checksum.h"
#include "core/endian.h"
#include "core/error.h"
#include "core/text.h"
#include "vde/engine.h"
#include "vde/vde_internal.h"

/* Blocks read at once while walking a value's extents. */
#define VERIFY_BATCH_BLOCKS 64
#define VERIFY_PROGRESS_STEP 4096

typedef struct verifier {
    struct dw_vde *vde;
    dw_verify_report *report;
    uint32_t block_size;
    unsigned char *batch;           /* max(VERIFY_BATCH_BLOCKS blocks, the superblock group) */
    unsigned char *nodes;           /* a block per index level */
    unsigned char *inode_block;     /* the inode block last read */
    uint64_t inode_block_number;    /* 0: none */
    bool inode_block_ok;
    unsigned char *extent_block;
    unsigned char *last_key;        /* the greatest key seen so far */
    uint32_t last_key_length;
    bool have_last_key;
    unsigned char *allocated;       /* a bit a group block: marked used by its bitmap */
    unsigned char *seen;            /* a bit a group block: reached from the index */
    unsigned char *inode_used;      /* a bit an inode: marked used by the inode bitmap */
    unsigned char *inode_seen;      /* a bit an inode: named by a key */
    unsigned char *inode_stale;     /* a bit an inode: free in the bitmap, but its slot holds one */
    unsigned char *inode_block_read; /* a bit an inode table block: its free slots were looked at */
    uint64_t group_block_count;
    bool unreachable;               /* part of the tree could not be read: leaks are expected */
    uint64_t next_progress;
} verifier;

static void problem(verifier *v, uint64_t block, uint32_t type, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(verifier *v, uint64_t block, uint32_t type, const char *format, ...)
{
    dw_verify_report *report = v->report;
    report->problem_count++;
    if (report->problems_kept >= DW_VERIFY_PROBLEMS_MAX) {
        return;
    }
    dw_verify_problem *entry = &report->problems[report->problems_kept++];
    entry->block = block;
    entry->type = type;
    va_list arguments;
    va_start(arguments, format);
    (void)vsnprintf(entry->what, sizeof entry->what, format, arguments);
    va_end(arguments);
}

static void count_type(verifier *v, uint32_t type, uint64_t blocks)
{
    dw_verify_report *report = v->report;
    for (uint32_t i = 0; i < report->type_count; i++) {
        if (report->types[i].type == type) {
            report->types[i].blocks += blocks;
            return;
        }
    }
    DW_ASSERT(report->type_count < DW_VERIFY_TYPES_MAX);
    report->types[report->type_count].type = type;
    report->types[report->type_count].blocks = blocks;
    report->type_count++;
}

/* A block (or a unit of `count` blocks) checked and found sound. */
static void sound(verifier *v, uint64_t block, uint32_t count, uint32_t type)
{
    dw_verify_report *report = v->report;
    count_type(v, type, count);
    if (report->visit != NULL) {
        report->visit(report->context, block, count, type);
    }
}

static void advance(verifier *v, uint64_t blocks)
{
    dw_verify_report *report = v->report;
    report->blocks_checked += blocks;
    if (report->progress != NULL && report->blocks_checked >= v->next_progress) {
        report->progress(report->context, report->blocks_checked, report->blocks_total);
        v->next_progress = report->blocks_checked + VERIFY_PROGRESS_STEP;
    }
}

static bool read_blocks(verifier *v, uint64_t block, uint32_t count, unsigned char *buffer, uint32_t type)
{
    dw_diag diag;
    dw_diag_clear(&diag);
    if (dw_device_read(&v->vde->device, block, count, buffer, &diag) != DW_OK) {
        problem(v, block, type, "cannot be read: %s", diag.message);
        return false;
    }
    advance(v, count);
    return true;
}

/* Checks a block's trailer; on failure records which block, what was expected and why. */
static bool trailer_ok(verifier *v, const unsigned char *data, uint32_t size, uint64_t block, uint32_t type,
                       bool check_generation, uint32_t generation, const char *what)
{
    uint64_t address = block * v->block_size;
    dw_trailer_check check = dw_trailer_verify(data, size, address, type, check_generation, generation);
    if (check == DW_TRAILER_OK) {
        return true;
    }
    char expected[5];
    char found[5];
    dw_block_type_text(type, expected);
    dw_block_type_text(dw_trailer_type(data, size), found);
    if (check == DW_TRAILER_CHECKSUM) {
        problem(v, block, type, "%s: checksum mismatch (damaged, torn or misdirected)", what);
    } else if (check == DW_TRAILER_TYPE) {
        problem(v, block, type, "%s: a %s block where a %s block belongs", what, found, expected);
    } else {
        problem(v, block, type, "%s: generation %u where %u is recorded (a lost or stale write)", what,
                dw_trailer_generation(data, size), generation);
    }
    return false;
}

static bool all_zero(const unsigned char *data, uint32_t size)
{
    for (uint32_t i = 0; i < size; i++) {
        if (data[i] != 0) {
            return false;
        }
    }
    return true;
}

/* ---- 1: the superblock group, the emergency block and the sentinel ------------------------- */

static void verify_super_group(verifier *v)
{
    struct dw_vde *vde = v->vde;
    uint32_t unit = vde->super.super.unit_size;
    uint32_t per_unit = unit / v->block_size;
    static const uint32_t unit_types[DW_UNITS_PER_COPY] = {DW_BLOCK_SUPER, DW_BLOCK_REGIONS, DW_BLOCK_EXTENDED,
                                                           DW_BLOCK_ANCHOR};
    static const char *const copy_names[2] = {"primary superblock", "mirror superblock"};
    if (!read_blocks(v, 0, (DW_UNIT_EMERGENCY + 1) * per_unit, v->batch, DW_BLOCK_SUPER)) {
        return;
    }
    for (uint32_t copy = 0; copy < 2; copy++) {
        bool units_ok = true;
        for (uint32_t u = 0; u < DW_UNITS_PER_COPY; u++) {
            uint32_t index = copy * DW_UNITS_PER_COPY + u;
            uint64_t block = (uint64_t)index * per_unit;
            char what[64];
            (void)dw_format(what, sizeof what, "%s, unit %u", copy_names[copy], u);
            if (trailer_ok(v, v->batch + (size_t)index * unit, unit, block, unit_types[u], false, 0, what)) {
                sound(v, block, per_unit, unit_types[u]);
            } else {
                units_ok = false;
            }
        }
        if (units_ok) {
            dw_super_copy decoded;
            uint32_t bad = 0;
            char detail[160];
            dw_super_problem trouble = dw_super_decode(v->batch + (size_t)copy * DW_UNITS_PER_COPY * unit, unit, copy * DW_UNITS_PER_COPY, &decoded, &bad,
                                                       detail, sizeof detail);
            if (trouble != DW_SUPER_OK) {
                problem(v, (uint64_t)(copy * DW_UNITS_PER_COPY + bad) * per_unit, unit_types[bad], "%s: %s",
                        copy_names[copy], detail);
            } else if (decoded.super.block_count != vde->super.super.block_count ||
                       memcmp(decoded.super.uuid, vde->super.super.uuid, sizeof decoded.super.uuid) != 0) {
                problem(v, (uint64_t)copy * DW_UNITS_PER_COPY * per_unit, DW_BLOCK_SUPER,
                        "%s: names another VDE (uuid or block count differ from the copy in use)",
                        copy_names[copy]);
            }
        }
    }
    uint64_t emergency = (uint64_t)DW_UNIT_EMERGENCY * per_unit;
    if (trailer_ok(v, v->batch + (size_t)DW_UNIT_EMERGENCY * unit, unit, emergency, DW_BLOCK_EMERGENCY, false, 0,
                   "emergency recovery block")) {
        sound(v, emergency, per_unit, DW_BLOCK_EMERGENCY);
    }
    uint64_t last = vde->super.super.block_count - 1;
    if (read_blocks(v, last, 1, v->batch, DW_BLOCK_SENTINEL)) {
        if (dw_sentinel_matches(v->batch, &vde->super.super)) {
            sound(v, last, 1, DW_BLOCK_SENTINEL);
        } else {
            problem(v, last, DW_BLOCK_SENTINEL,
                    "the size sentinel (the VDE's last block) is damaged or names another VDE");
        }
    }
}

/* ---- 2: bitmaps ------------------------------------------------------------------------- */

/* Checks a bitmap block's header and free count, and copies its bits into `into` from
 * bit `first`. */
static void take_bitmap(verifier *v, const unsigned char *data, uint64_t block, uint32_t type, uint32_t group,
                        uint32_t index, uint32_t covered, unsigned char *into, uint64_t first)
{
    dw_bitmap_header header;
    dw_bitmap_header_decode(data, &header);
    if (header.group != group || header.index != index || header.covered != covered) {
        problem(v, block, type, "bitmap header says group %u, block %u, %u bits; expected group %u, block %u, %u bits",
                header.group, header.index, header.covered, group, index, covered);
        return;
    }
    const unsigned char *bits = data + DW_BITMAP_HEADER_SIZE;
    uint32_t clear = 0;
    for (uint32_t bit = 0; bit < covered; bit++) {
        bool set = dw_bit_get(bits, bit);
        clear += set ? 0 : 1;
        dw_bit_set(into, first + bit, set);
    }
    if (clear != header.free) {
        problem(v, block, type, "bitmap header counts %u free, but %u bits are clear", header.free, clear);
    }
}

static void verify_inode_bitmap(verifier *v)
{
    struct dw_vde *vde = v->vde;
    const dw_extended *extended = &vde->super.extended;
    uint32_t bits = dw_bitmap_bits(v->block_size);
    for (uint32_t index = 0; index < extended->inode_bitmap_blocks; index++) {
        uint64_t block = vde->inode_bitmap_start + index;
        if (!read_blocks(v, block, 1, v->batch, DW_BLOCK_INODE_BITMAP)) {
            continue;
        }
        uint64_t first = (uint64_t)index * bits;
        uint32_t covered = (uint32_t)(extended->inode_count - first < bits ? extended->inode_count - first : bits);
        if (all_zero(v->batch, v->block_size)) {
            continue; /* never written: every inode it covers is free */
        }
        if (trailer_ok(v, v->batch, v->block_size, block, DW_BLOCK_INODE_BITMAP, false, 0, "inode bitmap")) {
            take_bitmap(v, v->batch, block, DW_BLOCK_INODE_BITMAP, 0, index, covered, v->inode_used, first);
            sound(v, block, 1, DW_BLOCK_INODE_BITMAP);
        }
    }
}

static void verify_group_bitmaps(verifier *v)
{
    struct dw_vde *vde = v->vde;
    const dw_extended *extended = &vde->super.extended;
    uint32_t bits = dw_bitmap_bits(v->block_size);
    for (uint32_t group = 0; group < extended->group_count; group++) {
        uint64_t start = dw_group_start(vde, group);
        uint32_t blocks = dw_group_blocks(vde, group);
        for (uint32_t index = 0; index < extended->group_bitmap_blocks; index++) {
            uint64_t block = start + index;
            uint32_t first_bit = index * bits;
            uint32_t covered = blocks > first_bit ? (blocks - first_bit < bits ? blocks - first_bit : bits) : 0;
            /* The bitmap's own blocks are in use whatever their content says. */
            dw_bit_set(v->seen, block - vde->groups_start, true);
            if (!read_blocks(v, block, 1, v->batch, DW_BLOCK_BITMAP)) {
                continue;
            }
            if (!trailer_ok(v, v->batch, v->block_size, block, DW_BLOCK_BITMAP, false, 0, "group bitmap")) {
                /* Without it nothing is known of its blocks: take them as used, so that
                 * what the index reaches there is not reported twice. */
                for (uint32_t bit = 0; bit < covered; bit++) {
                    dw_bit_set(v->allocated, start - vde->groups_start + first_bit + bit, true);
                }
                v->unreachable = true;
                continue;
            }
            take_bitmap(v, v->batch, block, DW_BLOCK_BITMAP, group, index, covered, v->allocated,
                        start - vde->groups_start + first_bit);
            sound(v, block, 1, DW_BLOCK_BITMAP);
        }
        for (uint32_t index = 0; index < extended->group_bitmap_blocks && index < blocks; index++) {
            if (!dw_bit_get(v->allocated, start + index - vde->groups_start)) {
                problem(v, start + index, DW_BLOCK_BITMAP, "group %u's bitmap marks its own block %u free", group,
                        index);
            }
        }
    }
    uint64_t used = 0;
    for (uint64_t bit = 0; bit < v->group_block_count; bit++) {
        used += dw_bit_get(v->allocated, bit) ? 1 : 0;
    }
    v->report->blocks_total += used;
}

/* Delete zeroes an inode's slot as it clears its bit, so a slot marked free that holds an
 * inode is left from an older copy of its table block (a lost write). Looked at once per
 * block read; reported by verify_leaks for the inodes no key names (a named one is the
 * bitmap's fault, reported where the key is). */
static void note_stale_slots(verifier *v, uint64_t block)
{
    struct dw_vde *vde = v->vde;
    uint64_t index = block - vde->inode_blocks_start;
    if (dw_bit_get(v->inode_block_read, index)) {
        return;
    }
    dw_bit_set(v->inode_block_read, index, true);
    uint32_t per_block = vde->super.extended.inodes_per_block;
    for (uint32_t slot = 0; slot < per_block; slot++) {
        uint64_t inode = index * per_block + slot + 1;
        if (inode > vde->super.extended.inode_count) {
            break;
        }
        const unsigned char *at = v->inode_block + DW_INODE_BLOCK_HEADER_SIZE + (size_t)slot * vde->layout.inode_size;
        if (!dw_bit_get(v->inode_used, inode - 1) && !all_zero(at, vde->layout.inode_size)) {
            dw_bit_set(v->inode_stale, inode - 1, true);
        }
    }
}

/* ---- 3 and 4: the index, the inodes, the data ------------------------------------------- */

/* The bitmap blocks that hold a group block's bit and an inode's bit: named in the
 * problems the cross-checks find, since a stale bitmap block (a lost write) is one cause. */
static uint64_t group_bitmap_block(const struct dw_vde *vde, uint64_t block)
{
    uint32_t group = (uint32_t)((block - vde->groups_start) / vde->super.extended.group_blocks);
    uint64_t group_start = dw_group_start(vde, group);
    return group_start + (block - group_start) / dw_bitmap_bits(vde->block_size);
}

static uint64_t inode_bitmap_block(const struct dw_vde *vde, uint64_t inode)
{
    return vde->inode_bitmap_start + (inode - 1) / dw_bitmap_bits(vde->block_size);
}

/* Takes note that `block` is in use as `type`; false when it cannot be (outside the
 * groups, or reached before). */
static bool claim(verifier *v, uint64_t block, uint32_t type, const char *what)
{
    struct dw_vde *vde = v->vde;
    if (!dw_block_in_groups(vde, block)) {
        problem(v, block, type, "%s points outside the allocation groups", what);
        return false;
    }
    uint64_t bit = block - vde->groups_start;
    if (dw_bit_get(v->seen, bit)) {
        problem(v, block, type, "%s: block reached twice (two owners, or a loop)", what);
        return false;
    }
    dw_bit_set(v->seen, bit, true);
    if (!dw_bit_get(v->allocated, bit)) {
        problem(v, block, type,
                "%s: block is in use but its group bitmap (block %llu) marks it free: a stale bitmap block (a lost "
                "write) or a block given to two owners",
                what, (unsigned long long)group_bitmap_block(vde, block));
    }
    return true;
}

static void verify_data(verifier *v, const dw_extent *extent, uint64_t inode_number)
{
    uint64_t done = 0;
    while (done < extent->count) {
        uint32_t part = extent->count - done < VERIFY_BATCH_BLOCKS ? (uint32_t)(extent->count - done)
                                                                   : VERIFY_BATCH_BLOCKS;
        uint64_t first = extent->start + done;
        if (read_blocks(v, first, part, v->batch, DW_BLOCK_DATA)) {
            for (uint32_t i = 0; i < part; i++) {
                char what[96];
                (void)dw_format(what, sizeof what, "data of inode %llu, payload block %llu",
                                (unsigned long long)inode_number,
                                (unsigned long long)extent->logical + done + i);
                if (trailer_ok(v, v->batch + (size_t)i * v->block_size, v->block_size, first + i, DW_BLOCK_DATA,
                               true, extent->generation, what)) {
                    sound(v, first + i, 1, DW_BLOCK_DATA);
                }
            }
        }
        done += part;
    }
}

/* One extent of an object: it must continue where the last one ended. */
static bool verify_extent(verifier *v, const dw_extent *extent, uint64_t inode_number, uint64_t *next_logical)
{
    if (extent->count == 0 || extent->logical != *next_logical) {
        problem(v, extent->start, DW_BLOCK_DATA,
                "inode %llu: an extent of %u blocks at payload block %llu where %llu was expected",
                (unsigned long long)inode_number, extent->count, (unsigned long long)extent->logical,
                (unsigned long long)*next_logical);
        return false;
    }
    char what[64];
    (void)dw_format(what, sizeof what, "an extent of inode %llu", (unsigned long long)inode_number);
    for (uint32_t i = 0; i < extent->count; i++) {
        if (!claim(v, extent->start + i, DW_BLOCK_DATA, what)) {
            return false;
        }
    }
    verify_data(v, extent, inode_number);
    *next_logical += extent->count;
    return true;
}

static void verify_extents(verifier *v, const dw_inode *inode, uint64_t inode_number, uint64_t inode_block)
{
    struct dw_vde *vde = v->vde;
    uint64_t expected = (inode->size + v->vde->payload_size - 1) / v->vde->payload_size;
    uint64_t next_logical = 0;
    uint32_t held = inode->extent_count < vde->layout.extent_count ? inode->extent_count : vde->layout.extent_count;
    for (uint32_t i = 0; i < held; i++) {
        if (!verify_extent(v, &inode->extents[i], inode_number, &next_logical)) {
            v->unreachable = true;
            return;
        }
    }
    uint64_t block = inode->extent_block;
    uint32_t generation = inode->extent_block_generation;
    uint32_t left = inode->extent_count - held;
    uint32_t per_block = dw_extents_per_block(v->block_size);
    if ((left > 0) != (block != 0)) {
        problem(v, inode_block, DW_BLOCK_INODES, "inode %llu: %u extents beyond the inode but %s extent block",
                (unsigned long long)inode_number, left, block != 0 ? "an" : "no");
        v->unreachable = true;
        return;
    }
    while (left > 0) {
        char what[64];
        (void)dw_format(what, sizeof what, "extent block of inode %llu", (unsigned long long)inode_number);
        if (!claim(v, block, DW_BLOCK_EXTENTS, what) ||
            !read_blocks(v, block, 1, v->extent_block, DW_BLOCK_EXTENTS) ||
            !trailer_ok(v, v->extent_block, v->block_size, block, DW_BLOCK_EXTENTS, true, generation, what)) {
            v->unreachable = true;
            return;
        }
        dw_extent_block_header header;
        dw_extent_block_header_decode(v->extent_block, &header);
        if (header.inode != inode_number || header.count == 0 || header.count > per_block || header.count > left ||
            (header.count < left) != (header.next != 0)) {
            problem(v, block, DW_BLOCK_EXTENTS,
                    "%s: its header says inode %llu, %u extents, next block %llu (expected inode %llu, %u extents left)",
                    what, (unsigned long long)header.inode, header.count, (unsigned long long)header.next,
                    (unsigned long long)inode_number, left);
            v->unreachable = true;
            return;
        }
        sound(v, block, 1, DW_BLOCK_EXTENTS);
        for (uint32_t i = 0; i < header.count; i++) {
            dw_extent extent;
            dw_extent_decode(v->extent_block + DW_EXTENT_BLOCK_HEADER_SIZE + (size_t)i * DW_EXTENT_SIZE, &extent);
            if (!verify_extent(v, &extent, inode_number, &next_logical)) {
                v->unreachable = true;
                return;
            }
            /* verify_extent reuses the batch buffer, not the extent block: still intact. */
        }
        left -= header.count;
        block = header.next;
        generation = header.next_generation;
    }
    if (next_logical != expected) {
        problem(v, inode_block, DW_BLOCK_INODES, "inode %llu: extents hold %llu blocks, its size %llu needs %llu",
                (unsigned long long)inode_number, (unsigned long long)next_logical,
                (unsigned long long)inode->size, (unsigned long long)expected);
    }
}

static void verify_object(verifier *v, const unsigned char *key, uint32_t key_length, uint64_t inode_number,
                          uint32_t generation, uint64_t leaf)
{
    struct dw_vde *vde = v->vde;
    const dw_extended *extended = &vde->super.extended;
    v->report->objects++;
    if (inode_number == 0 || inode_number > extended->inode_count) {
        problem(v, leaf, DW_BLOCK_INDEX_LEAF, "a key names inode %llu, outside the table (1..%llu)",
                (unsigned long long)inode_number, (unsigned long long)extended->inode_count);
        return;
    }
    if (dw_bit_get(v->inode_seen, inode_number - 1)) {
        problem(v, leaf, DW_BLOCK_INDEX_LEAF, "two keys name inode %llu", (unsigned long long)inode_number);
        return;
    }
    dw_bit_set(v->inode_seen, inode_number - 1, true);
    uint64_t block = dw_inode_block(vde, inode_number);
    if (!dw_bit_get(v->inode_used, inode_number - 1)) {
        problem(v, block, DW_BLOCK_INODES,
                "inode %llu is named by a key but its bitmap (block %llu) marks it free: a stale bitmap block (a "
                "lost write)",
                (unsigned long long)inode_number, (unsigned long long)inode_bitmap_block(vde, inode_number));
    }
    if (block != v->inode_block_number) {
        v->inode_block_number = block;
        v->inode_block_ok = read_blocks(v, block, 1, v->inode_block, DW_BLOCK_INODES);
        if (v->inode_block_ok && all_zero(v->inode_block, v->block_size)) {
            problem(v, block, DW_BLOCK_INODES, "inode %llu's block was never written", (unsigned long long)inode_number);
            v->inode_block_ok = false;
        } else if (v->inode_block_ok) {
            v->inode_block_ok = trailer_ok(v, v->inode_block, v->block_size, block, DW_BLOCK_INODES, false, 0,
                                           "inode table block");
            if (v->inode_block_ok) {
                sound(v, block, 1, DW_BLOCK_INODES);
                note_stale_slots(v, block);
            }
        }
    }
    if (!v->inode_block_ok) {
        v->unreachable = true;
        return;
    }
    dw_inode inode;
    size_t offset = DW_INODE_BLOCK_HEADER_SIZE + (size_t)dw_inode_slot(vde, inode_number) * vde->layout.inode_size;
    if (!dw_inode_decode(v->inode_block + offset, &vde->layout, &inode)) {
        problem(v, block, DW_BLOCK_INODES, "inode %llu is named by a key but is not in use",
                (unsigned long long)inode_number);
        return;
    }
    if (inode.key_length != key_length || inode.key_hash != dw_xxh3_64(key, key_length, 0)) {
        problem(v, block, DW_BLOCK_INODES, "inode %llu belongs to another key than the one naming it",
                (unsigned long long)inode_number);
        return;
    }
    if (inode.generation != generation) {
        problem(v, block, DW_BLOCK_INODES,
                "inode %llu is generation %u but its key's index entry records %u: an older copy of the block "
                "(a lost write)",
                (unsigned long long)inode_number, inode.generation, generation);
        return;
    }
    if (inode.tag_bytes > vde->layout.tags_size) {
        problem(v, block, DW_BLOCK_INODES, "inode %llu: %u tag bytes in a %u-byte tag area",
                (unsigned long long)inode_number, inode.tag_bytes, vde->layout.tags_size);
    }
    v->report->bytes += inode.size;
    if ((inode.flags & DW_INODE_INLINE) != 0) {
        if (inode.inline_bytes != inode.size || inode.size > vde->layout.inline_max || inode.extent_count != 0) {
            problem(v, block, DW_BLOCK_INODES, "inode %llu: inline value of %u bytes, size %llu, %u extents",
                    (unsigned long long)inode_number, inode.inline_bytes, (unsigned long long)inode.size,
                    inode.extent_count);
        }
        return;
    }
    verify_extents(v, &inode, inode_number, block);
}

/* A compact object lives in its leaf entry, which the leaf's trailer and
 * dw_index_node_problem already checked: what is left is what the engine promises. */
static void verify_compact(verifier *v, const dw_leaf_entry *entry, uint64_t leaf, uint32_t index)
{
    v->report->objects++;
    v->report->bytes += entry->value_length;
    if (!v->vde->compact_objects) {
        problem(v, leaf, DW_BLOCK_INDEX_LEAF,
                "index leaf entry %u is a compact object, but the VDE does not have the compact feature", index);
    }
    if (entry->generation == 0) {
        problem(v, leaf, DW_BLOCK_INDEX_LEAF, "index leaf entry %u: a compact object of generation 0", index);
    }
}

typedef struct key_bound {
    const unsigned char *key;       /* NULL: unbounded */
    uint32_t length;
} key_bound;

/* Recursive, one call a level: the depth is bounded by DW_INDEX_HEIGHT_MAX (asserted). */
static void verify_node(verifier *v, uint64_t block, uint32_t generation, uint32_t level, // NOLINT(misc-no-recursion)
                        uint32_t depth, key_bound low, key_bound high)
{
    DW_ASSERT(depth < DW_INDEX_HEIGHT_MAX);
    uint32_t type = level == 0 ? DW_BLOCK_INDEX_LEAF : DW_BLOCK_INDEX_BRANCH;
    unsigned char *node = v->nodes + (size_t)depth * v->block_size;
    const char *what = level == 0 ? "index leaf" : "index branch";
    if (!claim(v, block, type, what) || !read_blocks(v, block, 1, node, type) ||
        !trailer_ok(v, node, v->block_size, block, type, true, generation, what)) {
        v->unreachable = true;
        return;
    }
    dw_index_header header;
    dw_index_header_decode(node, &header);
    if (header.level != level) {
        problem(v, block, type, "index node at level %u where its parent implies %u", header.level, level);
        v->unreachable = true;
        return;
    }
    const char *malformed = dw_index_node_problem(node, &header, v->block_size, v->vde->super.extended.key_length_max);
    if (malformed != NULL) {
        problem(v, block, type, "index node is malformed: %s", malformed);
        v->unreachable = true;
        return;
    }
    sound(v, block, 1, type);
    for (uint32_t i = 0; i < header.count; i++) {
        const unsigned char *entry = dw_index_entry(node, i);
        uint32_t key_length = dw_load_le16(entry) & DW_INDEX_KEY_LENGTH_MASK; /* leaves flag compact objects */
        const unsigned char *key = entry + 2;
        if (i > 0) {
            const unsigned char *before = dw_index_entry(node, i - 1);
            if (dw_key_compare(before + 2, dw_load_le16(before) & DW_INDEX_KEY_LENGTH_MASK, key, key_length) >= 0) {
                problem(v, block, type, "index keys out of order at entry %u", i);
            }
        }
        if ((low.key != NULL && dw_key_compare(key, key_length, low.key, low.length) < 0) ||
            (high.key != NULL && dw_key_compare(key, key_length, high.key, high.length) >= 0)) {
            problem(v, block, type, "index entry %u lies outside the key range its parent gives the node", i);
        }
    }
    if (level == 0) {
        for (uint32_t i = 0; i < header.count; i++) {
            dw_leaf_entry entry;
            dw_index_leaf_decode(dw_index_entry(node, i), &entry);
            if (v->have_last_key &&
                dw_key_compare(v->last_key, v->last_key_length, entry.key, entry.key_length) >= 0) {
                problem(v, block, type, "index leaf entry %u is not above the previous leaf's keys", i);
            }
            memcpy(v->last_key, entry.key, entry.key_length);
            v->last_key_length = entry.key_length;
            v->have_last_key = true;
            if (entry.compact) {
                verify_compact(v, &entry, block, i);
            } else {
                verify_object(v, entry.key, entry.key_length, entry.inode, entry.generation, block);
            }
        }
        return;
    }
    /* Children, leftmost first: child i holds the keys from entry i's key up to entry
     * i + 1's. The node stays in its level's buffer while they are walked. */
    for (int32_t i = -1; i < (int32_t)header.count; i++) {
        uint64_t child = header.leftmost;
        uint32_t child_generation = header.leftmost_generation;
        key_bound child_low = low;
        key_bound child_high = high;
        if (i >= 0) {
            const unsigned char *entry = dw_index_entry(node, (uint32_t)i);
            uint32_t key_length = dw_load_le16(entry);
            child = dw_load_le64(entry + 2 + key_length);
            child_generation = dw_load_le32(entry + 2 + key_length + 8);
            child_low = (key_bound){entry + 2, key_length};
        }
        if (i + 1 < (int32_t)header.count) {
            const unsigned char *next = dw_index_entry(node, (uint32_t)(i + 1));
            child_high = (key_bound){next + 2, dw_load_le16(next)};
        }
        verify_node(v, child, child_generation, level - 1, depth + 1, child_low, child_high); // NOLINT(misc-no-recursion)
    }
}

/* ---- 5: cross-checks --------------------------------------------------------------------- */

static void verify_leaks(verifier *v)
{
    struct dw_vde *vde = v->vde;
    uint64_t leaked = 0;
    uint64_t run_start = 0;
    uint64_t run_length = 0;
    for (uint64_t bit = 0; bit <= v->group_block_count; bit++) {
        bool leak = bit < v->group_block_count && dw_bit_get(v->allocated, bit) && !dw_bit_get(v->seen, bit);
        if (leak) {
            if (run_length == 0) {
                run_start = bit;
            }
            run_length++;
            leaked++;
            continue;
        }
        if (run_length > 0 && !v->unreachable) {
            problem(v, vde->groups_start + run_start, 0,
                    "%llu block(s) from here on are marked used by group bitmap block %llu, but nothing refers to "
                    "them (leaked, or a stale bitmap block)",
                    (unsigned long long)run_length,
                    (unsigned long long)group_bitmap_block(vde, vde->groups_start + run_start));
        }
        run_length = 0;
    }
    if (leaked > 0 && v->unreachable) {
        problem(v, DW_VERIFY_NO_BLOCK, 0,
                "%llu block(s) marked used were not reached; expected, as parts of the index or of objects could not "
                "be read (see above)",
                (unsigned long long)leaked);
    }
    uint64_t inodes_used = 0;
    for (uint64_t inode = 1; inode <= vde->super.extended.inode_count; inode++) {
        bool used = dw_bit_get(v->inode_used, inode - 1);
        inodes_used += used ? 1 : 0;
        if (!used && dw_bit_get(v->inode_stale, inode - 1) && !dw_bit_get(v->inode_seen, inode - 1)) {
            problem(v, dw_inode_block(vde, inode), DW_BLOCK_INODES,
                    "inode %llu is free in its bitmap, but its slot holds an inode: a stale inode table block (a lost "
                    "write)",
                    (unsigned long long)inode);
        }
        if (used && !dw_bit_get(v->inode_seen, inode - 1) && !v->unreachable) {
            problem(v, dw_inode_block(vde, inode), DW_BLOCK_INODES,
                    "inode %llu is marked used by its bitmap (block %llu), but no key names it (leaked, or a stale "
                    "bitmap block)",
                    (unsigned long long)inode, (unsigned long long)inode_bitmap_block(vde, inode));
        }
    }
    const dw_engine_state *state = &vde->state;
    uint64_t data_used = 0;
    for (uint64_t bit = 0; bit < v->group_block_count; bit++) {
        data_used += dw_bit_get(v->allocated, bit) ? 1 : 0;
    }
    data_used -= (uint64_t)vde->super.extended.group_bitmap_blocks * vde->super.extended.group_count;
    if (state->object_count != v->report->objects || state->inodes_used != inodes_used ||
        state->data_blocks_used != data_used) {
        problem(v, DW_VERIFY_NO_BLOCK, 0,
                "the engine state counts %llu objects, %llu inodes, %llu blocks used; found %llu, %llu, %llu",
                (unsigned long long)state->object_count, (unsigned long long)state->inodes_used,
                (unsigned long long)state->data_blocks_used, (unsigned long long)v->report->objects,
                (unsigned long long)inodes_used, (unsigned long long)data_used);
    }
    v->report->inodes = inodes_used;
}

/* ---- the entry point ----------------------------------------------------------------------- */

static uint64_t bitmap_bytes(uint64_t bits)
{
    return (bits + 63) / 64 * 8;
}

int dw_vde_verify_handle(struct dw_vde *vde, dw_verify_report *report, dw_diag *diag)
{
    DW_ASSERT(vde != NULL && report != NULL);
    dw_vde_writer_lock(vde);
    verifier v;
    memset(&v, 0, sizeof v);
    v.vde = vde;
    v.report = report;
    v.block_size = vde->block_size;
    v.group_block_count = vde->groups_end - vde->groups_start;
    uint64_t inode_count = vde->super.extended.inode_count;
    uint32_t unit = vde->super.super.unit_size;
    uint64_t batch = (uint64_t)VERIFY_BATCH_BLOCKS * v.block_size;
    if (batch < (uint64_t)(DW_UNIT_EMERGENCY + 1) * unit) {
        batch = (uint64_t)(DW_UNIT_EMERGENCY + 1) * unit;
    }
    uint64_t buffers = batch + (uint64_t)(DW_INDEX_HEIGHT_MAX + 2) * v.block_size;
    buffers = (buffers + DW_ARENA_ALIGNMENT_MAX - 1) / DW_ARENA_ALIGNMENT_MAX * DW_ARENA_ALIGNMENT_MAX;
    uint64_t inode_blocks = (inode_count + vde->super.extended.inodes_per_block - 1) /
                            vde->super.extended.inodes_per_block;
    uint64_t bits = 2 * bitmap_bytes(v.group_block_count) + 3 * bitmap_bytes(inode_count) +
                    bitmap_bytes(inode_blocks) + vde->super.extended.key_length_max;
    uint32_t mark = dw_budget_mark(&vde->budget);
    uint32_t component = 0;
    int result = dw_budget_reserve(&vde->budget, "verify", buffers + bits, &component, diag);
    unsigned char *io_memory = NULL;
    unsigned char *bit_memory = NULL;
    if (result == DW_OK) {
        io_memory = aligned_alloc(DW_ARENA_ALIGNMENT_MAX, buffers);
        bit_memory = calloc(1, bits);
        if (io_memory == NULL || bit_memory == NULL) {
            result = dw_diag_fail(diag, DW_ENOMEM, NULL, "cannot take %llu bytes to verify '%s'",
                                  (unsigned long long)buffers + bits, vde->path);
        }
    }
    if (result == DW_OK) {
        report->memory_bytes = buffers + bits;
        v.batch = io_memory;
        v.nodes = io_memory + batch;
        v.inode_block = v.nodes + (size_t)DW_INDEX_HEIGHT_MAX * v.block_size;
        v.extent_block = v.inode_block + v.block_size;
        v.allocated = bit_memory;
        v.seen = v.allocated + bitmap_bytes(v.group_block_count);
        v.inode_used = v.seen + bitmap_bytes(v.group_block_count);
        v.inode_seen = v.inode_used + bitmap_bytes(inode_count);
        v.inode_stale = v.inode_seen + bitmap_bytes(inode_count);
        v.inode_block_read = v.inode_stale + bitmap_bytes(inode_count);
        v.last_key = v.inode_block_read + bitmap_bytes(inode_blocks);
        report->blocks_total = (uint64_t)(DW_UNIT_EMERGENCY + 1) * unit / v.block_size + 1 +
                               vde->super.extended.inode_bitmap_blocks;
        dw_vde_begin_io(vde, NULL);
        verify_super_group(&v);
        verify_inode_bitmap(&v);
        verify_group_bitmaps(&v);
        const dw_engine_state *state = &vde->state;
        if (state->index_root != 0) {
            if (state->index_height == 0 || state->index_height > DW_INDEX_HEIGHT_MAX) {
                problem(&v, state->index_root, DW_BLOCK_INDEX_BRANCH, "the index claims a height of %u levels",
                        state->index_height);
                v.unreachable = true;
            } else {
                key_bound none = {NULL, 0};
                verify_node(&v, state->index_root, state->index_root_generation, state->index_height - 1, 0, none,
                            none);
            }
        }
        verify_leaks(&v);
        if (report->progress != NULL) {
            report->progress(report->context, report->blocks_checked, report->blocks_total);
        }
    }
    free(io_memory);
    free(bit_memory);
    dw_budget_rollback(&vde->budget, mark);
    dw_vde_writer_unlock(vde);
    return result;
}
