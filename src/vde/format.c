/*
 * format.c — see format.h. The byte offsets below are the ones docs/FORMAT.md gives; each
 * layout ends in a _Static_assert that its fields fit where the spec says.
 */
#include "vde/format.h"

#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/checksum.h"
#include "core/endian.h"
#include "core/text.h"

/* "DWVD", the format's major and minor version, "dw://", and a line-ending probe that
 * a text-mode transfer would mangle. Bytes 4 and 5 carry the version: a later major
 * version is recognised as a VDE, and refused as one. */
const unsigned char DW_MAGIC[DW_MAGIC_SIZE] = {'D', 'W', 'V', 'D', DW_FORMAT_MAJOR, DW_FORMAT_MINOR,
                                               'd', 'w', ':', '/', '/', '\r', '\n', 0x1a, '\n', 0};

bool dw_magic_matches(const unsigned char *unit)
{
    return memcmp(unit, DW_MAGIC, 4) == 0 && memcmp(unit + 6, DW_MAGIC + 6, DW_MAGIC_SIZE - 6) == 0;
}

void dw_block_type_text(uint32_t type, char text[5])
{
    for (int i = 0; i < 4; i++) {
        unsigned char c = (unsigned char)(type >> (8 * i));
        if (c >= 'A' && c <= 'Z') {
            text[i] = (char)c;
        } else {
            text[i] = '?';
        }
    }
    text[4] = '\0';
}

/* ---- the trailer ------------------------------------------------------------------- */

#define TRAILER_TYPE_OFFSET(size) ((size) - 16)
#define TRAILER_GENERATION_OFFSET(size) ((size) - 12)
#define TRAILER_CHECKSUM_OFFSET(size) ((size) - 8)

void dw_trailer_seal(unsigned char *block, uint32_t size, uint64_t address, uint32_t type,
                     uint32_t generation)
{
    DW_ASSERT(size >= DW_BLOCK_SIZE_MIN && (size & (size - 1)) == 0);
    dw_store_le32(block + TRAILER_TYPE_OFFSET(size), type);
    dw_store_le32(block + TRAILER_GENERATION_OFFSET(size), generation);
    dw_store_le64(block + TRAILER_CHECKSUM_OFFSET(size), dw_xxh64(block, size - 8, address));
}

dw_trailer_check dw_trailer_verify(const unsigned char *block, uint32_t size, uint64_t address,
                                   uint32_t expected_type, bool check_generation,
                                   uint32_t expected_generation)
{
    if (dw_load_le64(block + TRAILER_CHECKSUM_OFFSET(size)) != dw_xxh64(block, size - 8, address)) {
        return DW_TRAILER_CHECKSUM;
    }
    if (expected_type != 0 && dw_trailer_type(block, size) != expected_type) {
        return DW_TRAILER_TYPE;
    }
    if (check_generation && dw_trailer_generation(block, size) != expected_generation) {
        return DW_TRAILER_GENERATION;
    }
    return DW_TRAILER_OK;
}

uint32_t dw_trailer_type(const unsigned char *block, uint32_t size)
{
    return dw_load_le32(block + TRAILER_TYPE_OFFSET(size));
}

uint32_t dw_trailer_generation(const unsigned char *block, uint32_t size)
{
    return dw_load_le32(block + TRAILER_GENERATION_OFFSET(size));
}

const char *dw_trailer_check_name(dw_trailer_check check)
{
    switch (check) {
    case DW_TRAILER_OK: return "intact";
    case DW_TRAILER_CHECKSUM: return "checksum mismatch (damaged, torn or misdirected write)";
    case DW_TRAILER_TYPE: return "wrong block type";
    case DW_TRAILER_GENERATION: return "stale generation (a lost write)";
    }
    return "unknown";
}

/* ---- names ------------------------------------------------------------------------- */

const char *dw_module_name(uint32_t module)
{
    static const char *const names[DW_MODULE_COUNT] = {
        "wal",         "alloc",      "inodes",      "index",        "tags",
        "data-wal",    "integrity",  "audit",       "snapshots",    "compression",
        "encryption",  "policy",     "replication", "raid",         "streaming",
        "worm",        "compliance", "intelligence", "cross-refs",
    };
    return module < DW_MODULE_COUNT ? names[module] : "unknown";
}

const char *dw_health_state_name(uint32_t state)
{
    switch (state) {
    case DW_STATE_CLEAN: return "clean";
    case DW_STATE_DIRTY: return "dirty";
    case DW_STATE_RECOVERING: return "recovering";
    case DW_STATE_DEGRADED: return "degraded";
    default: return "unknown";
    }
}

const char *dw_region_name(uint32_t type)
{
    switch (type) {
    case DW_REGION_WAL: return "wal";
    case DW_REGION_INODE_TABLE: return "inode-table";
    case DW_REGION_ALLOC_GROUPS: return "alloc-groups";
    case DW_REGION_KEY_INDEX: return "key-index";
    case DW_REGION_EMERGENCY: return "emergency";
    case DW_REGION_SENTINEL: return "sentinel";
    default: return "unknown";
    }
}

/* ---- the engine state -------------------------------------------------------------- */

void dw_engine_state_encode(const dw_engine_state *state, unsigned char *at)
{
    memset(at, 0, DW_ENGINE_STATE_SIZE);
    dw_store_le64(at + 0, state->index_root);
    dw_store_le32(at + 8, state->index_root_generation);
    dw_store_le32(at + 12, state->index_height);
    dw_store_le64(at + 16, state->object_count);
    dw_store_le64(at + 24, state->data_blocks_used);
    dw_store_le64(at + 32, state->inodes_used);
    dw_store_le64(at + 40, state->next_inode_hint);
    dw_store_le32(at + 48, state->group_hint);
}

void dw_engine_state_decode(const unsigned char *at, dw_engine_state *state)
{
    memset(state, 0, sizeof *state);
    state->index_root = dw_load_le64(at + 0);
    state->index_root_generation = dw_load_le32(at + 8);
    state->index_height = dw_load_le32(at + 12);
    state->object_count = dw_load_le64(at + 16);
    state->data_blocks_used = dw_load_le64(at + 24);
    state->inodes_used = dw_load_le64(at + 32);
    state->next_inode_hint = dw_load_le64(at + 40);
    state->group_hint = dw_load_le32(at + 48);
}

/* ---- the superblock group ---------------------------------------------------------- */

enum {
    SUPER_MAGIC = 0,
    SUPER_VERSION = 16,
    SUPER_MIN_READER = 18,
    SUPER_MIN_WRITER = 20,
    SUPER_INCOMPAT = 24,
    SUPER_RO_COMPAT = 32,
    SUPER_COMPAT = 40,
    SUPER_MANIFEST = 48,
    SUPER_MODULE_CONFIG = 56,
    SUPER_BLOCK_SIZE = 72,
    SUPER_UNIT_SIZE = 76,
    SUPER_BLOCK_COUNT = 80,
    SUPER_SEQUENCE = 88,
    SUPER_CHECKPOINT_LSN = 96,
    SUPER_CHECKPOINT_SEQ = 104,
    SUPER_UUID = 112,
    SUPER_ANCHOR = 128,
    SUPER_CREATED = 192,
    SUPER_MOUNT_COUNT = 200,
    SUPER_ERROR_COUNT = 208,
    SUPER_STATE = 216,
    SUPER_CLEAN_CLOSE = 224,
    SUPER_WRITER_NODE = 232,
    SUPER_WRITER_PID = 264,
    SUPER_WRITER_SESSION = 272,
    SUPER_WRITER_TIME = 280,
    SUPER_EXPECTED_SIZE = 288,
    SUPER_GENERATION_NEXT = 296,
    SUPER_END = 304,
};
_Static_assert(SUPER_ANCHOR + DW_ANCHOR_TEXT_SIZE == SUPER_CREATED, "superblock layout");
_Static_assert(SUPER_WRITER_NODE + DW_NODE_NAME_SIZE == SUPER_WRITER_PID, "superblock layout");
_Static_assert(SUPER_END <= DW_UNIT_SIZE_MIN - DW_TRAILER_SIZE, "superblock fits a unit");

enum {
    REGIONS_COUNT = 0,
    REGIONS_SLOT_SIZE = 4,
    REGIONS_SEQUENCE = 8,
    REGIONS_SLOTS = DW_REGION_HEADER_SIZE,
};
_Static_assert(DW_REGION_HEADER_SIZE + DW_REGION_SLOTS * DW_REGION_SLOT_SIZE + DW_TRAILER_SIZE ==
                   DW_UNIT_SIZE_MIN,
               "127 slots of 32 bytes fill a 4 KiB unit exactly");

enum {
    EXT_INODE_LAYOUT = 0,
    EXT_GROUP_BLOCKS = 32,
    EXT_GROUP_BITMAP_BLOCKS = 36,
    EXT_GROUP_COUNT = 40,
    EXT_INODES_PER_BLOCK = 44,
    EXT_INODE_COUNT = 48,
    EXT_INODE_BITMAP_BLOCKS = 56,
    EXT_KEY_LENGTH_MAX = 60,
    EXT_STATE = 64,
    EXT_LABEL = 128,
    EXT_SEQUENCE = 192,
    EXT_END = 200,
};
_Static_assert(EXT_STATE + DW_ENGINE_STATE_SIZE == EXT_LABEL, "extended layout");
_Static_assert(EXT_LABEL + DW_LABEL_SIZE == EXT_SEQUENCE, "extended layout");

enum {
    ANCHOR_SEQUENCE = 0,
    ANCHOR_DIGEST = 8,
    ANCHOR_COPY = 16,
};

static void encode_super_unit(const dw_superblock *super, unsigned char *unit)
{
    memcpy(unit + SUPER_MAGIC, DW_MAGIC, DW_MAGIC_SIZE);
    dw_store_le16(unit + SUPER_VERSION, super->format_version);
    dw_store_le16(unit + SUPER_MIN_READER, super->min_reader_version);
    dw_store_le16(unit + SUPER_MIN_WRITER, super->min_writer_version);
    dw_store_le64(unit + SUPER_INCOMPAT, super->incompat);
    dw_store_le64(unit + SUPER_RO_COMPAT, super->ro_compat);
    dw_store_le64(unit + SUPER_COMPAT, super->compat);
    dw_store_le32(unit + SUPER_MANIFEST, super->module_manifest);
    memcpy(unit + SUPER_MODULE_CONFIG, super->module_config, sizeof super->module_config);
    dw_store_le32(unit + SUPER_BLOCK_SIZE, super->block_size);
    dw_store_le32(unit + SUPER_UNIT_SIZE, super->unit_size);
    dw_store_le64(unit + SUPER_BLOCK_COUNT, super->block_count);
    dw_store_le64(unit + SUPER_SEQUENCE, super->sequence);
    dw_store_le64(unit + SUPER_CHECKPOINT_LSN, super->checkpoint_lsn);
    dw_store_le64(unit + SUPER_CHECKPOINT_SEQ, super->checkpoint_seq);
    memcpy(unit + SUPER_UUID, super->uuid, sizeof super->uuid);
    memcpy(unit + SUPER_ANCHOR, super->anchor, DW_ANCHOR_TEXT_SIZE);
    unit[SUPER_ANCHOR + DW_ANCHOR_TEXT_SIZE - 1] = 0;
    dw_store_le64(unit + SUPER_CREATED, super->created_ns);
    dw_store_le64(unit + SUPER_MOUNT_COUNT, super->mount_count);
    dw_store_le64(unit + SUPER_ERROR_COUNT, super->error_count);
    dw_store_le32(unit + SUPER_STATE, super->state);
    dw_store_le64(unit + SUPER_CLEAN_CLOSE, super->clean_close_ns);
    memcpy(unit + SUPER_WRITER_NODE, super->writer_node, DW_NODE_NAME_SIZE);
    unit[SUPER_WRITER_NODE + DW_NODE_NAME_SIZE - 1] = 0;
    dw_store_le32(unit + SUPER_WRITER_PID, super->writer_pid);
    dw_store_le64(unit + SUPER_WRITER_SESSION, super->writer_session);
    dw_store_le64(unit + SUPER_WRITER_TIME, super->writer_time_ns);
    dw_store_le64(unit + SUPER_EXPECTED_SIZE, super->expected_size_bytes);
    dw_store_le64(unit + SUPER_GENERATION_NEXT, super->generation_next);
}

static void decode_super_unit(const unsigned char *unit, dw_superblock *super)
{
    memset(super, 0, sizeof *super);
    super->format_version = dw_load_le16(unit + SUPER_VERSION);
    super->min_reader_version = dw_load_le16(unit + SUPER_MIN_READER);
    super->min_writer_version = dw_load_le16(unit + SUPER_MIN_WRITER);
    super->incompat = dw_load_le64(unit + SUPER_INCOMPAT);
    super->ro_compat = dw_load_le64(unit + SUPER_RO_COMPAT);
    super->compat = dw_load_le64(unit + SUPER_COMPAT);
    super->module_manifest = dw_load_le32(unit + SUPER_MANIFEST);
    memcpy(super->module_config, unit + SUPER_MODULE_CONFIG, sizeof super->module_config);
    super->block_size = dw_load_le32(unit + SUPER_BLOCK_SIZE);
    super->unit_size = dw_load_le32(unit + SUPER_UNIT_SIZE);
    super->block_count = dw_load_le64(unit + SUPER_BLOCK_COUNT);
    super->sequence = dw_load_le64(unit + SUPER_SEQUENCE);
    super->checkpoint_lsn = dw_load_le64(unit + SUPER_CHECKPOINT_LSN);
    super->checkpoint_seq = dw_load_le64(unit + SUPER_CHECKPOINT_SEQ);
    memcpy(super->uuid, unit + SUPER_UUID, sizeof super->uuid);
    memcpy(super->anchor, unit + SUPER_ANCHOR, DW_ANCHOR_TEXT_SIZE);
    super->anchor[DW_ANCHOR_TEXT_SIZE - 1] = '\0';
    super->created_ns = dw_load_le64(unit + SUPER_CREATED);
    super->mount_count = dw_load_le64(unit + SUPER_MOUNT_COUNT);
    super->error_count = dw_load_le64(unit + SUPER_ERROR_COUNT);
    super->state = dw_load_le32(unit + SUPER_STATE);
    super->clean_close_ns = dw_load_le64(unit + SUPER_CLEAN_CLOSE);
    memcpy(super->writer_node, unit + SUPER_WRITER_NODE, DW_NODE_NAME_SIZE);
    super->writer_node[DW_NODE_NAME_SIZE - 1] = '\0';
    super->writer_pid = dw_load_le32(unit + SUPER_WRITER_PID);
    super->writer_session = dw_load_le64(unit + SUPER_WRITER_SESSION);
    super->writer_time_ns = dw_load_le64(unit + SUPER_WRITER_TIME);
    super->expected_size_bytes = dw_load_le64(unit + SUPER_EXPECTED_SIZE);
    super->generation_next = dw_load_le64(unit + SUPER_GENERATION_NEXT);
}

static void encode_regions_unit(const dw_region_directory *regions, uint64_t sequence, unsigned char *unit)
{
    DW_ASSERT(regions->count <= DW_REGION_SLOTS);
    dw_store_le32(unit + REGIONS_COUNT, regions->count);
    dw_store_le32(unit + REGIONS_SLOT_SIZE, DW_REGION_SLOT_SIZE);
    dw_store_le64(unit + REGIONS_SEQUENCE, sequence);
    for (uint32_t i = 0; i < regions->count; i++) {
        const dw_region *region = &regions->slots[i];
        unsigned char *slot = unit + REGIONS_SLOTS + (size_t)i * DW_REGION_SLOT_SIZE;
        dw_store_le16(slot + 0, region->type);
        dw_store_le16(slot + 2, region->flags);
        slot[4] = region->module;
        dw_store_le64(slot + 8, region->start);
        dw_store_le64(slot + 16, region->count);
        dw_store_le64(slot + 24, region->param);
    }
}

static bool decode_regions_unit(const unsigned char *unit, dw_region_directory *regions)
{
    memset(regions, 0, sizeof *regions);
    regions->count = dw_load_le32(unit + REGIONS_COUNT);
    if (regions->count > DW_REGION_SLOTS || dw_load_le32(unit + REGIONS_SLOT_SIZE) != DW_REGION_SLOT_SIZE) {
        return false;
    }
    for (uint32_t i = 0; i < regions->count; i++) {
        const unsigned char *slot = unit + REGIONS_SLOTS + (size_t)i * DW_REGION_SLOT_SIZE;
        dw_region *region = &regions->slots[i];
        region->type = dw_load_le16(slot + 0);
        region->flags = dw_load_le16(slot + 2);
        region->module = slot[4];
        region->start = dw_load_le64(slot + 8);
        region->count = dw_load_le64(slot + 16);
        region->param = dw_load_le64(slot + 24);
    }
    return true;
}

static void encode_inode_layout(const dw_inode_layout *layout, unsigned char *at)
{
    dw_store_le16(at + 0, layout->inode_size);
    dw_store_le16(at + 2, layout->header_size);
    dw_store_le16(at + 4, layout->extents_offset);
    dw_store_le16(at + 6, layout->extent_count);
    dw_store_le16(at + 8, layout->extent_size);
    dw_store_le16(at + 10, layout->tags_offset);
    dw_store_le16(at + 12, layout->tags_size);
    dw_store_le16(at + 14, layout->padding_offset);
    dw_store_le16(at + 16, layout->padding_size);
    dw_store_le16(at + 18, layout->inline_max);
}

static void decode_inode_layout(const unsigned char *at, dw_inode_layout *layout)
{
    layout->inode_size = dw_load_le16(at + 0);
    layout->header_size = dw_load_le16(at + 2);
    layout->extents_offset = dw_load_le16(at + 4);
    layout->extent_count = dw_load_le16(at + 6);
    layout->extent_size = dw_load_le16(at + 8);
    layout->tags_offset = dw_load_le16(at + 10);
    layout->tags_size = dw_load_le16(at + 12);
    layout->padding_offset = dw_load_le16(at + 14);
    layout->padding_size = dw_load_le16(at + 16);
    layout->inline_max = dw_load_le16(at + 18);
}

static void encode_extended_unit(const dw_extended *extended, uint64_t sequence, unsigned char *unit)
{
    encode_inode_layout(&extended->inode_layout, unit + EXT_INODE_LAYOUT);
    dw_store_le32(unit + EXT_GROUP_BLOCKS, extended->group_blocks);
    dw_store_le32(unit + EXT_GROUP_BITMAP_BLOCKS, extended->group_bitmap_blocks);
    dw_store_le32(unit + EXT_GROUP_COUNT, extended->group_count);
    dw_store_le32(unit + EXT_INODES_PER_BLOCK, extended->inodes_per_block);
    dw_store_le64(unit + EXT_INODE_COUNT, extended->inode_count);
    dw_store_le32(unit + EXT_INODE_BITMAP_BLOCKS, extended->inode_bitmap_blocks);
    dw_store_le32(unit + EXT_KEY_LENGTH_MAX, extended->key_length_max);
    dw_engine_state_encode(&extended->state, unit + EXT_STATE);
    memcpy(unit + EXT_LABEL, extended->label, DW_LABEL_SIZE);
    unit[EXT_LABEL + DW_LABEL_SIZE - 1] = 0;
    dw_store_le64(unit + EXT_SEQUENCE, sequence);
}

static void decode_extended_unit(const unsigned char *unit, dw_extended *extended)
{
    memset(extended, 0, sizeof *extended);
    decode_inode_layout(unit + EXT_INODE_LAYOUT, &extended->inode_layout);
    extended->group_blocks = dw_load_le32(unit + EXT_GROUP_BLOCKS);
    extended->group_bitmap_blocks = dw_load_le32(unit + EXT_GROUP_BITMAP_BLOCKS);
    extended->group_count = dw_load_le32(unit + EXT_GROUP_COUNT);
    extended->inodes_per_block = dw_load_le32(unit + EXT_INODES_PER_BLOCK);
    extended->inode_count = dw_load_le64(unit + EXT_INODE_COUNT);
    extended->inode_bitmap_blocks = dw_load_le32(unit + EXT_INODE_BITMAP_BLOCKS);
    extended->key_length_max = dw_load_le32(unit + EXT_KEY_LENGTH_MAX);
    dw_engine_state_decode(unit + EXT_STATE, &extended->state);
    memcpy(extended->label, unit + EXT_LABEL, DW_LABEL_SIZE);
    extended->label[DW_LABEL_SIZE - 1] = '\0';
}

void dw_super_encode(const dw_super_copy *copy, unsigned char *units, uint32_t first_unit)
{
    uint32_t unit_size = copy->super.unit_size;
    DW_ASSERT(unit_size >= DW_UNIT_SIZE_MIN && (unit_size & (unit_size - 1)) == 0);
    DW_ASSERT(first_unit == 0 || first_unit == DW_UNITS_PER_COPY);
    memset(units, 0, (size_t)DW_UNITS_PER_COPY * unit_size);
    uint64_t sequence = copy->super.sequence;
    uint32_t generation = (uint32_t)sequence;
    unsigned char *super_unit = units;
    unsigned char *regions_unit = units + unit_size;
    unsigned char *extended_unit = units + 2 * (size_t)unit_size;
    unsigned char *anchor_unit = units + 3 * (size_t)unit_size;
    encode_super_unit(&copy->super, super_unit);
    encode_regions_unit(&copy->regions, sequence, regions_unit);
    encode_extended_unit(&copy->extended, sequence, extended_unit);
    const uint32_t types[DW_UNITS_PER_COPY] = {DW_BLOCK_SUPER, DW_BLOCK_REGIONS, DW_BLOCK_EXTENDED,
                                               DW_BLOCK_ANCHOR};
    for (uint32_t i = 0; i < 3; i++) {
        dw_trailer_seal(units + (size_t)i * unit_size, unit_size,
                        (uint64_t)(first_unit + i) * unit_size, types[i], generation);
    }
    /* The anchor binds the three units of this copy: a unit left over from another
     * write of the group no longer matches the digest. */
    dw_store_le64(anchor_unit + ANCHOR_SEQUENCE, sequence);
    dw_store_le64(anchor_unit + ANCHOR_DIGEST, dw_xxh64(units, 3 * (size_t)unit_size, sequence));
    dw_store_le32(anchor_unit + ANCHOR_COPY, first_unit / DW_UNITS_PER_COPY);
    dw_trailer_seal(anchor_unit, unit_size, (uint64_t)(first_unit + 3) * unit_size, DW_BLOCK_ANCHOR,
                    generation);
}

dw_super_problem dw_super_decode(const unsigned char *units, uint32_t unit_size, uint32_t first_unit,
                                 dw_super_copy *copy, uint32_t *bad_unit, char *detail,
                                 size_t detail_size)
{
    memset(copy, 0, sizeof *copy);
    *bad_unit = 0;
    if (!dw_magic_matches(units)) {
        dw_format(detail, detail_size, "no DWVD magic at unit %u", first_unit);
        return DW_SUPER_NOT_VDE;
    }
    if (units[4] != DW_FORMAT_MAJOR) {
        dw_format(detail, detail_size, "format version %u.%u; this build reads %u.x", units[4], units[5],
                  DW_FORMAT_MAJOR);
        return DW_SUPER_VERSION;
    }
    const uint32_t types[DW_UNITS_PER_COPY] = {DW_BLOCK_SUPER, DW_BLOCK_REGIONS, DW_BLOCK_EXTENDED,
                                               DW_BLOCK_ANCHOR};
    for (uint32_t i = 0; i < DW_UNITS_PER_COPY; i++) {
        const unsigned char *unit = units + (size_t)i * unit_size;
        dw_trailer_check check =
            dw_trailer_verify(unit, unit_size, (uint64_t)(first_unit + i) * unit_size, types[i], false, 0);
        if (check != DW_TRAILER_OK) {
            *bad_unit = i;
            dw_format(detail, detail_size, "unit %u (offset %llu): %s", first_unit + i,
                      (unsigned long long)(first_unit + i) * unit_size, dw_trailer_check_name(check));
            return DW_SUPER_DAMAGED;
        }
    }
    const unsigned char *anchor_unit = units + 3 * (size_t)unit_size;
    uint64_t sequence = dw_load_le64(anchor_unit + ANCHOR_SEQUENCE);
    if (dw_load_le64(anchor_unit + ANCHOR_DIGEST) != dw_xxh64(units, 3 * (size_t)unit_size, sequence)) {
        /* A unit left from another write (a lost or misdirected one) carries another
         * write's generation: name the unit that disagrees with the others. */
        uint32_t generations[DW_UNITS_PER_COPY];
        for (uint32_t i = 0; i < DW_UNITS_PER_COPY; i++) {
            generations[i] = dw_trailer_generation(units + (size_t)i * unit_size, unit_size);
        }
        *bad_unit = 3;
        for (uint32_t i = 0; i < 3; i++) {
            uint32_t agree = 0;
            for (uint32_t j = 0; j < DW_UNITS_PER_COPY; j++) {
                agree += j != i && generations[j] == generations[i] ? 1u : 0u;
            }
            if (agree == 0 && generations[(i + 1) % 3] == generations[(i + 2) % 3]) {
                *bad_unit = i;
            }
        }
        dw_format(detail, detail_size, "units %u-%u do not belong to one write (anchor digest): unit %u is from "
                  "another write", first_unit, first_unit + 2, first_unit + *bad_unit);
        return DW_SUPER_DAMAGED;
    }
    decode_super_unit(units, &copy->super);
    if (copy->super.sequence != sequence || copy->super.unit_size != unit_size ||
        !decode_regions_unit(units + unit_size, &copy->regions)) {
        *bad_unit = 1;
        dw_format(detail, detail_size, "units %u-%u disagree with each other", first_unit, first_unit + 3);
        return DW_SUPER_DAMAGED;
    }
    decode_extended_unit(units + 2 * (size_t)unit_size, &copy->extended);
    return DW_SUPER_OK;
}

size_t dw_emergency_text(const dw_super_copy *copy, char *text, size_t size)
{
    const dw_superblock *super = &copy->super;
    const dw_extended *extended = &copy->extended;
    int length = snprintf(text, size,
                          "DWVD EMERGENCY RECOVERY BLOCK (plain text; no key is needed to read it)\n"
                          "format %u.%u, %s\n"
                          "block_size %u bytes; unit_size %u bytes; block_count %llu\n"
                          "superblock group: units 0-3 at offset 0; mirror units 4-7 at offset %llu\n"
                          "every block ends in 16 bytes: type (4 ASCII letters), generation (u32 LE),\n"
                          "XXH64 (u64 LE) of the block's other bytes seeded with its byte offset\n",
                          (unsigned)super->format_version >> 8, (unsigned)super->format_version & 0xffu, super->anchor,
                          super->block_size, super->unit_size, (unsigned long long)super->block_count,
                          (unsigned long long)4 * super->unit_size);
    size_t used = length > 0 ? (size_t)length : 0;
    for (uint32_t i = 0; i < copy->regions.count && used < size; i++) {
        const dw_region *region = &copy->regions.slots[i];
        length = snprintf(text + used, size - used, "region %s: first block %llu, %llu blocks, param %llu\n",
                          dw_region_name(region->type), (unsigned long long)region->start,
                          (unsigned long long)region->count, (unsigned long long)region->param);
        used += length > 0 ? (size_t)length : 0;
    }
    if (used < size) {
        length = snprintf(text + used, size - used,
                          "inodes: %llu of %u bytes, %u a block; groups: %u of %u blocks (%u bitmap)\n"
                          "salvage: walk the inode table: each used inode (magic 'IN') has size, key hash,\n"
                          "inline data or 24-byte extents (logical, start, count, generation); data blocks\n"
                          "(type DATA) hold block_size - 16 bytes of the value each. docs/FORMAT.md has all.\n",
                          (unsigned long long)extended->inode_count, extended->inode_layout.inode_size,
                          extended->inodes_per_block, extended->group_count, extended->group_blocks,
                          extended->group_bitmap_blocks);
        used += length > 0 ? (size_t)length : 0;
    }
    return used < size ? used : size - 1;
}

enum {
    SENTINEL_MAGIC = 0,
    SENTINEL_BLOCK_COUNT = 8,
    SENTINEL_UUID = 16,
    SENTINEL_BLOCK_SIZE = 32,
};
static const unsigned char SENTINEL_MAGIC_BYTES[8] = {'D', 'W', 'V', 'D', 'E', 'N', 'D', 0};

void dw_sentinel_encode(const dw_superblock *super, unsigned char *block)
{
    memset(block, 0, super->block_size);
    memcpy(block + SENTINEL_MAGIC, SENTINEL_MAGIC_BYTES, sizeof SENTINEL_MAGIC_BYTES);
    dw_store_le64(block + SENTINEL_BLOCK_COUNT, super->block_count);
    memcpy(block + SENTINEL_UUID, super->uuid, sizeof super->uuid);
    dw_store_le32(block + SENTINEL_BLOCK_SIZE, super->block_size);
    dw_trailer_seal(block, super->block_size, (super->block_count - 1) * super->block_size, DW_BLOCK_SENTINEL, 0);
}

bool dw_sentinel_matches(const unsigned char *block, const dw_superblock *super)
{
    return dw_trailer_verify(block, super->block_size, (super->block_count - 1) * super->block_size,
                             DW_BLOCK_SENTINEL, false, 0) == DW_TRAILER_OK &&
           memcmp(block + SENTINEL_MAGIC, SENTINEL_MAGIC_BYTES, sizeof SENTINEL_MAGIC_BYTES) == 0 &&
           dw_load_le64(block + SENTINEL_BLOCK_COUNT) == super->block_count &&
           memcmp(block + SENTINEL_UUID, super->uuid, sizeof super->uuid) == 0;
}

/* ---- bitmaps ------------------------------------------------------------------------- */

void dw_bitmap_header_encode(const dw_bitmap_header *header, unsigned char *block)
{
    dw_store_le32(block + 0, header->group);
    dw_store_le32(block + 4, header->index);
    dw_store_le32(block + 8, header->free);
    dw_store_le32(block + 12, header->covered);
}

void dw_bitmap_header_decode(const unsigned char *block, dw_bitmap_header *header)
{
    header->group = dw_load_le32(block + 0);
    header->index = dw_load_le32(block + 4);
    header->free = dw_load_le32(block + 8);
    header->covered = dw_load_le32(block + 12);
}

/* ---- inodes ---------------------------------------------------------------------------- */

enum {
    INODE_MAGIC = 0,
    INODE_FLAGS = 2,
    INODE_GENERATION = 4,
    INODE_SIZE = 8,
    INODE_CTIME = 16,
    INODE_MTIME = 24,
    INODE_KEY_HASH = 32,
    INODE_EXTENT_COUNT = 40,
    INODE_TAG_BYTES = 44,
    INODE_KEY_LENGTH = 46,
    INODE_EXTENT_BLOCK = 48,
    INODE_EXTENT_BLOCK_GENERATION = 56,
    INODE_INLINE_BYTES = 60,
    INODE_HEADER_END = 64,
};
_Static_assert(INODE_HEADER_END == DW_INODE_HEADER_SIZE, "inode header layout");

void dw_inode_layout_for(bool tags, dw_inode_layout *layout)
{
    memset(layout, 0, sizeof *layout);
    layout->header_size = DW_INODE_HEADER_SIZE;
    layout->extents_offset = DW_INODE_HEADER_SIZE;
    layout->extent_count = DW_INODE_EXTENTS;
    layout->extent_size = DW_EXTENT_SIZE;
    uint16_t at = DW_INODE_HEADER_SIZE + DW_INODE_EXTENTS * DW_EXTENT_SIZE;
    if (tags) {
        layout->tags_offset = at;
        layout->tags_size = DW_INODE_TAGS_SIZE;
        at = (uint16_t)(at + DW_INODE_TAGS_SIZE);
    }
    layout->padding_offset = at;
    layout->padding_size = DW_INODE_PADDING_SIZE;
    layout->inode_size = (uint16_t)(at + DW_INODE_PADDING_SIZE);
    layout->inline_max = DW_INODE_EXTENTS * DW_EXTENT_SIZE;
}
_Static_assert(DW_INODE_HEADER_SIZE + DW_INODE_EXTENTS * DW_EXTENT_SIZE + DW_INODE_PADDING_SIZE == 320,
               "the minimal inode is 320 bytes (VDEF-08)");

void dw_extent_encode(const dw_extent *extent, unsigned char *at)
{
    dw_store_le64(at + 0, extent->logical);
    dw_store_le64(at + 8, extent->start);
    dw_store_le32(at + 16, extent->count);
    dw_store_le32(at + 20, extent->generation);
}

void dw_extent_decode(const unsigned char *at, dw_extent *extent)
{
    extent->logical = dw_load_le64(at + 0);
    extent->start = dw_load_le64(at + 8);
    extent->count = dw_load_le32(at + 16);
    extent->generation = dw_load_le32(at + 20);
}

void dw_inode_encode(const dw_inode *inode, const dw_inode_layout *layout, unsigned char *at)
{
    memset(at, 0, layout->inode_size);
    if ((inode->flags & DW_INODE_USED) == 0) {
        return; /* a free inode is all zero */
    }
    dw_store_le16(at + INODE_MAGIC, DW_INODE_MAGIC);
    dw_store_le16(at + INODE_FLAGS, inode->flags);
    dw_store_le32(at + INODE_GENERATION, inode->generation);
    dw_store_le64(at + INODE_SIZE, inode->size);
    dw_store_le64(at + INODE_CTIME, inode->ctime_ns);
    dw_store_le64(at + INODE_MTIME, inode->mtime_ns);
    dw_store_le64(at + INODE_KEY_HASH, inode->key_hash);
    dw_store_le32(at + INODE_EXTENT_COUNT, inode->extent_count);
    dw_store_le16(at + INODE_TAG_BYTES, inode->tag_bytes);
    dw_store_le16(at + INODE_KEY_LENGTH, inode->key_length);
    dw_store_le64(at + INODE_EXTENT_BLOCK, inode->extent_block);
    dw_store_le32(at + INODE_EXTENT_BLOCK_GENERATION, inode->extent_block_generation);
    dw_store_le16(at + INODE_INLINE_BYTES, inode->inline_bytes);
    unsigned char *area = at + layout->extents_offset;
    if ((inode->flags & DW_INODE_INLINE) != 0) {
        DW_ASSERT(inode->inline_bytes <= layout->inline_max);
        memcpy(area, inode->inline_data, inode->inline_bytes);
    } else {
        uint32_t held = inode->extent_count < layout->extent_count ? inode->extent_count : layout->extent_count;
        for (uint32_t i = 0; i < held; i++) {
            dw_extent_encode(&inode->extents[i], area + (size_t)i * DW_EXTENT_SIZE);
        }
    }
    if (layout->tags_size > 0) {
        DW_ASSERT(inode->tag_bytes <= layout->tags_size);
        memcpy(at + layout->tags_offset, inode->tags, inode->tag_bytes);
    }
}

bool dw_inode_decode(const unsigned char *at, const dw_inode_layout *layout, dw_inode *inode)
{
    memset(inode, 0, sizeof *inode);
    uint16_t flags = dw_load_le16(at + INODE_FLAGS);
    if (dw_load_le16(at + INODE_MAGIC) != DW_INODE_MAGIC || (flags & DW_INODE_USED) == 0) {
        return false;
    }
    inode->flags = flags;
    inode->generation = dw_load_le32(at + INODE_GENERATION);
    inode->size = dw_load_le64(at + INODE_SIZE);
    inode->ctime_ns = dw_load_le64(at + INODE_CTIME);
    inode->mtime_ns = dw_load_le64(at + INODE_MTIME);
    inode->key_hash = dw_load_le64(at + INODE_KEY_HASH);
    inode->extent_count = dw_load_le32(at + INODE_EXTENT_COUNT);
    inode->tag_bytes = dw_load_le16(at + INODE_TAG_BYTES);
    inode->key_length = dw_load_le16(at + INODE_KEY_LENGTH);
    inode->extent_block = dw_load_le64(at + INODE_EXTENT_BLOCK);
    inode->extent_block_generation = dw_load_le32(at + INODE_EXTENT_BLOCK_GENERATION);
    inode->inline_bytes = dw_load_le16(at + INODE_INLINE_BYTES);
    const unsigned char *area = at + layout->extents_offset;
    if ((flags & DW_INODE_INLINE) != 0) {
        if (inode->inline_bytes > layout->inline_max) {
            return false;
        }
        memcpy(inode->inline_data, area, inode->inline_bytes);
    } else {
        uint32_t held = inode->extent_count < layout->extent_count ? inode->extent_count : layout->extent_count;
        for (uint32_t i = 0; i < held; i++) {
            dw_extent_decode(area + (size_t)i * DW_EXTENT_SIZE, &inode->extents[i]);
        }
    }
    if (layout->tags_size > 0) {
        if (inode->tag_bytes > layout->tags_size) {
            return false;
        }
        memcpy(inode->tags, at + layout->tags_offset, inode->tag_bytes);
    } else if (inode->tag_bytes != 0) {
        return false;
    }
    return true;
}

void dw_extent_block_header_encode(const dw_extent_block_header *header, unsigned char *block)
{
    memset(block, 0, DW_EXTENT_BLOCK_HEADER_SIZE);
    dw_store_le64(block + 0, header->inode);
    dw_store_le64(block + 8, header->next);
    dw_store_le32(block + 16, header->next_generation);
    dw_store_le32(block + 20, header->count);
}

void dw_extent_block_header_decode(const unsigned char *block, dw_extent_block_header *header)
{
    header->inode = dw_load_le64(block + 0);
    header->next = dw_load_le64(block + 8);
    header->next_generation = dw_load_le32(block + 16);
    header->count = dw_load_le32(block + 20);
}

/* ---- index nodes ---------------------------------------------------------------------- */

void dw_index_header_encode(const dw_index_header *header, unsigned char *block)
{
    memset(block, 0, DW_INDEX_HEADER_SIZE);
    dw_store_le16(block + 0, header->level);
    dw_store_le16(block + 2, header->count);
    dw_store_le16(block + 4, header->data_start);
    dw_store_le64(block + 8, header->leftmost);
    dw_store_le32(block + 16, header->leftmost_generation);
}

void dw_index_header_decode(const unsigned char *block, dw_index_header *header)
{
    memset(header, 0, sizeof *header);
    header->level = dw_load_le16(block + 0);
    header->count = dw_load_le16(block + 2);
    header->data_start = dw_load_le16(block + 4);
    header->leftmost = dw_load_le64(block + 8);
    header->leftmost_generation = dw_load_le32(block + 16);
}

uint32_t dw_index_key_length_limit(uint32_t block_size)
{
    uint32_t usable = block_size - DW_INDEX_HEADER_SIZE - DW_TRAILER_SIZE;
    uint32_t entry = usable / 3;
    return entry - dw_index_branch_entry_size(0);
}

const char *dw_index_node_problem(const unsigned char *node, const dw_index_header *header, uint32_t block_size,
                                  uint32_t key_length_max)
{
    uint32_t end = block_size - DW_TRAILER_SIZE;
    if (DW_INDEX_HEADER_SIZE + 2u * header->count > header->data_start || header->data_start > end) {
        return "its slot array and entries overlap";
    }
    if (header->level > 0 && header->leftmost == 0) {
        return "a branch without a leftmost child";
    }
    for (uint32_t i = 0; i < header->count; i++) {
        uint32_t offset = dw_load_le16(node + DW_INDEX_HEADER_SIZE + 2 * (size_t)i);
        uint32_t head = offset + 2 <= end ? dw_load_le16(node + offset) : 0;
        bool compact = header->level == 0 && (head & DW_INDEX_COMPACT_FLAG) != 0;
        uint32_t key_length = header->level == 0 ? head & DW_INDEX_KEY_LENGTH_MASK : head;
        uint32_t size = 2 + key_length + (compact ? DW_INDEX_COMPACT_FIXED : 12);
        if (offset < header->data_start || offset + size > end || key_length == 0 || key_length > key_length_max) {
            return "an entry lies outside the node or has a bad key length";
        }
        if (compact) {
            uint32_t value_length = dw_load_le16(node + offset + 2 + key_length + 4);
            if (offset + size + value_length > end) {
                return "a compact object's value lies outside the node";
            }
            if (2 + size + value_length > dw_index_compact_limit(block_size)) {
                return "a compact object is larger than a quarter of a leaf";
            }
        }
    }
    return NULL;
}

void dw_index_leaf_decode(const unsigned char *entry, dw_leaf_entry *decoded)
{
    uint32_t head = dw_load_le16(entry);
    uint32_t key_length = head & DW_INDEX_KEY_LENGTH_MASK;
    const unsigned char *after = entry + 2 + key_length;
    memset(decoded, 0, sizeof *decoded);
    decoded->key = entry + 2;
    decoded->key_length = key_length;
    decoded->compact = (head & DW_INDEX_COMPACT_FLAG) != 0;
    if (decoded->compact) {
        decoded->generation = dw_load_le32(after);
        decoded->value_length = dw_load_le16(after + 4);
        decoded->ctime_ns = dw_load_le64(after + 6);
        decoded->mtime_ns = dw_load_le64(after + 14);
        decoded->value = after + DW_INDEX_COMPACT_FIXED;
    } else {
        decoded->inode = dw_load_le64(after);
        decoded->generation = dw_load_le32(after + 8);
    }
}

uint32_t dw_index_leaf_entry_bytes(const unsigned char *entry)
{
    uint32_t head = dw_load_le16(entry);
    uint32_t key_length = head & DW_INDEX_KEY_LENGTH_MASK;
    if ((head & DW_INDEX_COMPACT_FLAG) == 0) {
        return 2 + key_length + 12;
    }
    return 2 + key_length + DW_INDEX_COMPACT_FIXED + dw_load_le16(entry + 2 + key_length + 4);
}

/* ---- the WAL ---------------------------------------------------------------------------- */

enum {
    WAL_MAGIC = 0,
    WAL_LSN = 8,
    WAL_FIRST_SEQ = 16,
    WAL_LAST_SEQ = 24,
    WAL_PAGE_COUNT = 32,
    WAL_ENTRY_BLOCKS = 36,
    WAL_PAYLOAD_CHECKSUM = 40,
    WAL_STATE = 48,
    WAL_FIXED_END = 112,
};
_Static_assert(WAL_STATE + DW_ENGINE_STATE_SIZE == WAL_FIXED_END, "WAL header layout");
_Static_assert(WAL_FIXED_END == DW_WAL_HEADER_FIXED, "WAL header layout");

uint32_t dw_wal_entry_blocks(uint32_t block_size, uint32_t page_count)
{
    uint32_t in_header = dw_wal_header_entries(block_size);
    if (page_count <= in_header) {
        return 0;
    }
    uint32_t per_block = dw_wal_entries_per_block(block_size);
    return (page_count - in_header + per_block - 1) / per_block;
}

void dw_wal_header_encode(const dw_wal_header *header, unsigned char *block)
{
    memset(block, 0, DW_WAL_HEADER_FIXED);
    dw_store_le64(block + WAL_MAGIC, DW_WAL_MAGIC);
    dw_store_le64(block + WAL_LSN, header->lsn);
    dw_store_le64(block + WAL_FIRST_SEQ, header->first_seq);
    dw_store_le64(block + WAL_LAST_SEQ, header->last_seq);
    dw_store_le32(block + WAL_PAGE_COUNT, header->page_count);
    dw_store_le32(block + WAL_ENTRY_BLOCKS, header->entry_blocks);
    dw_store_le64(block + WAL_PAYLOAD_CHECKSUM, header->payload_checksum);
    dw_engine_state_encode(&header->state, block + WAL_STATE);
}

bool dw_wal_header_decode(const unsigned char *block, dw_wal_header *header)
{
    memset(header, 0, sizeof *header);
    if (dw_load_le64(block + WAL_MAGIC) != DW_WAL_MAGIC) {
        return false;
    }
    header->lsn = dw_load_le64(block + WAL_LSN);
    header->first_seq = dw_load_le64(block + WAL_FIRST_SEQ);
    header->last_seq = dw_load_le64(block + WAL_LAST_SEQ);
    header->page_count = dw_load_le32(block + WAL_PAGE_COUNT);
    header->entry_blocks = dw_load_le32(block + WAL_ENTRY_BLOCKS);
    header->payload_checksum = dw_load_le64(block + WAL_PAYLOAD_CHECKSUM);
    dw_engine_state_decode(block + WAL_STATE, &header->state);
    return true;
}

void dw_wal_entry_encode(const dw_wal_entry *entry, unsigned char *at)
{
    dw_store_le64(at + 0, entry->home);
    dw_store_le32(at + 8, entry->type);
    dw_store_le32(at + 12, entry->generation);
}

void dw_wal_entry_decode(const unsigned char *at, dw_wal_entry *entry)
{
    entry->home = dw_load_le64(at + 0);
    entry->type = dw_load_le32(at + 8);
    entry->generation = dw_load_le32(at + 12);
}
