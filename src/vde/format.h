/*
 * format.h — the VDE v2 on-disk format: every constant, every layout, and the code that
 * turns blocks into structures and back. docs/FORMAT.md is the specification; this file
 * is its one implementation, and the _Static_asserts in format.c tie the two together.
 *
 * Everything on disk is little-endian and goes through core/endian.h, never through a
 * struct laid over the bytes: the structs here are the decoded forms.
 *
 * A block's address, in checksums and messages, is its byte offset in the file.
 */
#ifndef DW_VDE_FORMAT_H
#define DW_VDE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dwvd.h"

/* ---- sizes ------------------------------------------------------------------------- */

#define DW_FORMAT_MAJOR 2
#define DW_FORMAT_MINOR 3
#define DW_FORMAT_VERSION ((DW_FORMAT_MAJOR << 8) | DW_FORMAT_MINOR)
/* The oldest format this build opens: 2.2, which has no compact objects (FORMAT.md §2.6). */
#define DW_FORMAT_OLDEST_READ ((DW_FORMAT_MAJOR << 8) | 2)

#define DW_BLOCK_SIZE_MIN 512
#define DW_BLOCK_SIZE_MAX 65536
#define DW_TRAILER_SIZE 16
/* The superblock group's units are at least this big whatever the block size, so that
 * the region directory's 127 slots always fit in one unit. */
#define DW_UNIT_SIZE_MIN 4096
#define DW_MAGIC_SIZE 16
#define DW_REGION_SLOTS 127
#define DW_REGION_SLOT_SIZE 32
#define DW_REGION_HEADER_SIZE 16
#define DW_ANCHOR_TEXT_SIZE 64
#define DW_LABEL_SIZE 64
#define DW_NODE_NAME_SIZE 32

/* Units of the superblock group: 0-3 the primary copy, 4-7 its mirror, 8 reserved, 9 the
 * emergency recovery block; the regions begin at unit 10. */
#define DW_UNIT_SUPER 0
#define DW_UNIT_REGIONS 1
#define DW_UNIT_EXTENDED 2
#define DW_UNIT_ANCHOR 3
#define DW_UNITS_PER_COPY 4
#define DW_UNIT_EMERGENCY 9
#define DW_UNITS_RESERVED 10

/* ---- block types (trailer tags): four ASCII letters, little-endian ---------------- */

#define DW_FOURCC(a, b, c, d)                                                              \
    ((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))

enum dw_block_type {
    DW_BLOCK_SUPER = DW_FOURCC('S', 'U', 'P', 'R'),
    DW_BLOCK_REGIONS = DW_FOURCC('R', 'D', 'I', 'R'),
    DW_BLOCK_EXTENDED = DW_FOURCC('E', 'X', 'T', 'M'),
    DW_BLOCK_ANCHOR = DW_FOURCC('A', 'N', 'C', 'H'),
    DW_BLOCK_EMERGENCY = DW_FOURCC('E', 'M', 'R', 'G'),
    DW_BLOCK_SENTINEL = DW_FOURCC('S', 'E', 'N', 'T'),
    DW_BLOCK_WAL_HEADER = DW_FOURCC('W', 'A', 'L', 'H'),
    DW_BLOCK_WAL_ENTRIES = DW_FOURCC('W', 'A', 'L', 'E'),
    DW_BLOCK_WAL_PAGE = DW_FOURCC('W', 'A', 'L', 'P'),
    DW_BLOCK_BITMAP = DW_FOURCC('B', 'M', 'A', 'P'),
    DW_BLOCK_INODE_BITMAP = DW_FOURCC('I', 'M', 'A', 'P'),
    DW_BLOCK_INODES = DW_FOURCC('I', 'N', 'O', 'D'),
    DW_BLOCK_INDEX_LEAF = DW_FOURCC('I', 'X', 'L', 'F'),
    DW_BLOCK_INDEX_BRANCH = DW_FOURCC('I', 'X', 'B', 'R'),
    DW_BLOCK_EXTENTS = DW_FOURCC('E', 'X', 'T', 'N'),
    DW_BLOCK_DATA = DW_FOURCC('D', 'A', 'T', 'A'),
};

/* "SUPR", or "????" for an unknown tag. text: 5 bytes. */
void dw_block_type_text(uint32_t type, char text[5]);

/* ---- the trailer ------------------------------------------------------------------- */

/* Seals a block: writes type, generation and XXH64 of bytes [0, size - 8) seeded with the
 * block's address into its last 16 bytes. */
void dw_trailer_seal(unsigned char *block, uint32_t size, uint64_t address, uint32_t type,
                     uint32_t generation);

typedef enum dw_trailer_check {
    DW_TRAILER_OK = 0,
    DW_TRAILER_CHECKSUM = 1,    /* the checksum does not match: damaged, torn or misdirected */
    DW_TRAILER_TYPE = 2,        /* intact, but not the type expected */
    DW_TRAILER_GENERATION = 3,  /* intact, but an older (or other) generation: a lost write */
} dw_trailer_check;

/* Checks a block read from `address`. expected_type 0 accepts any type; expected
 * generation is checked only when check_generation. */
dw_trailer_check dw_trailer_verify(const unsigned char *block, uint32_t size, uint64_t address,
                                   uint32_t expected_type, bool check_generation,
                                   uint32_t expected_generation);

uint32_t dw_trailer_type(const unsigned char *block, uint32_t size);
uint32_t dw_trailer_generation(const unsigned char *block, uint32_t size);
const char *dw_trailer_check_name(dw_trailer_check check);

/* ---- the superblock group ---------------------------------------------------------- */

/* Feature flags. A reader refuses a VDE with an incompatible flag it does not know; a
 * writer refuses to write one with a read-only-compatible flag it does not know;
 * compatible flags are informational. */
#define DW_INCOMPAT_PAGE_WAL (UINT64_C(1) << 0)     /* WAL of whole-page images */
#define DW_INCOMPAT_INLINE_DATA (UINT64_C(1) << 1)  /* small values inside inodes */
#define DW_INCOMPAT_ORDERED_DATA (UINT64_C(1) << 2) /* data to extents before the commit */
#define DW_INCOMPAT_COMPACT (UINT64_C(1) << 3)      /* small objects inside index leaf entries */
#define DW_INCOMPAT_KNOWN                                                                  \
    (DW_INCOMPAT_PAGE_WAL | DW_INCOMPAT_INLINE_DATA | DW_INCOMPAT_ORDERED_DATA | DW_INCOMPAT_COMPACT)
#define DW_RO_COMPAT_TAGS (UINT64_C(1) << 0)        /* inline tag area in inodes */
#define DW_RO_COMPAT_KNOWN DW_RO_COMPAT_TAGS
#define DW_COMPAT_SPARSE (UINT64_C(1) << 0)         /* thin provisioned: holes read as zero */
#define DW_COMPAT_DETERMINISTIC (UINT64_C(1) << 1)  /* written in deterministic mode */

/* Modules (bits of the 32-bit manifest). The first five exist in this build. */
enum dw_module {
    DW_MODULE_WAL = 0,
    DW_MODULE_ALLOC = 1,
    DW_MODULE_INODES = 2,
    DW_MODULE_INDEX = 3,
    DW_MODULE_TAGS = 4,
    DW_MODULE_DATA_WAL = 5,
    DW_MODULE_INTEGRITY = 6,
    DW_MODULE_AUDIT = 7,
    DW_MODULE_SNAPSHOTS = 8,
    DW_MODULE_COMPRESSION = 9,
    DW_MODULE_ENCRYPTION = 10,
    DW_MODULE_POLICY = 11,
    DW_MODULE_REPLICATION = 12,
    DW_MODULE_RAID = 13,
    DW_MODULE_STREAMING = 14,
    DW_MODULE_WORM = 15,
    DW_MODULE_COMPLIANCE = 16,
    DW_MODULE_INTELLIGENCE = 17,
    DW_MODULE_CROSS_REFS = 18,
};
#define DW_MODULE_COUNT 19
#define DW_MODULES_IMPLEMENTED                                                             \
    ((1u << DW_MODULE_WAL) | (1u << DW_MODULE_ALLOC) | (1u << DW_MODULE_INODES) |          \
     (1u << DW_MODULE_INDEX) | (1u << DW_MODULE_TAGS))
const char *dw_module_name(uint32_t module);

/* Health states. */
enum dw_health_state {
    DW_STATE_CLEAN = 1,         /* closed cleanly: nothing to recover */
    DW_STATE_DIRTY = 2,         /* open for writing, or crashed while it was */
    DW_STATE_RECOVERING = 3,    /* the WAL is being replayed */
    DW_STATE_DEGRADED = 4,      /* damage was found and could not all be repaired */
};
const char *dw_health_state_name(uint32_t state);

typedef struct dw_superblock {
    uint16_t format_version;        /* (major << 8) | minor */
    uint16_t min_reader_version;
    uint16_t min_writer_version;
    uint64_t incompat;
    uint64_t ro_compat;
    uint64_t compat;
    uint32_t module_manifest;
    uint8_t module_config[16];      /* one nibble a module: module m in byte m / 2, low nibble first */
    uint32_t block_size;
    uint32_t unit_size;
    uint64_t block_count;
    uint64_t sequence;              /* bumped by every superblock write */
    uint64_t checkpoint_lsn;        /* recovery replays the WAL from here */
    uint64_t checkpoint_seq;        /* the last transaction the checkpoint covers */
    uint8_t uuid[16];
    char anchor[DW_ANCHOR_TEXT_SIZE]; /* "dw://<uuid>" */
    /* health */
    uint64_t created_ns;
    uint64_t mount_count;
    uint64_t error_count;
    uint32_t state;
    uint64_t clean_close_ns;
    /* last writer */
    char writer_node[DW_NODE_NAME_SIZE];
    uint32_t writer_pid;
    uint64_t writer_session;
    uint64_t writer_time_ns;
    /* the file-size sentinel */
    uint64_t expected_size_bytes;
    /* No transaction has used a generation at or above this one: when the VDE closed
     * cleanly, the next one to use; while it is open, the end of the range its writer has
     * reserved (dw_super_write), so generations are never handed out twice, crash or not. */
    uint64_t generation_next;
} dw_superblock;

/* Region types of the directory. */
enum dw_region_type {
    DW_REGION_NONE = 0,
    DW_REGION_WAL = 1,
    DW_REGION_INODE_TABLE = 2,      /* inode bitmap blocks, then inode blocks */
    DW_REGION_ALLOC_GROUPS = 3,     /* param: blocks per group */
    DW_REGION_KEY_INDEX = 4,        /* lives in the groups; no extent of its own */
    DW_REGION_EMERGENCY = 5,        /* unit 9 */
    DW_REGION_SENTINEL = 6,         /* the last block */
};
const char *dw_region_name(uint32_t type);

typedef struct dw_region {
    uint16_t type;
    uint16_t flags;
    uint8_t module;
    uint64_t start;                 /* first block */
    uint64_t count;                 /* blocks */
    uint64_t param;
} dw_region;

typedef struct dw_region_directory {
    uint32_t count;
    dw_region slots[DW_REGION_SLOTS];
} dw_region_directory;

/* The inode layout, described in the VDE itself so a reader needs no table of its own. */
typedef struct dw_inode_layout {
    uint16_t inode_size;
    uint16_t header_size;
    uint16_t extents_offset;
    uint16_t extent_count;          /* extents held in the inode */
    uint16_t extent_size;
    uint16_t tags_offset;           /* 0 without the tags module */
    uint16_t tags_size;
    uint16_t padding_offset;        /* reserved for modules to come */
    uint16_t padding_size;
    uint16_t inline_max;            /* largest value held inside the inode */
} dw_inode_layout;

/* The engine's state: what a checkpoint or a WAL record leaves behind. */
typedef struct dw_engine_state {
    uint64_t index_root;            /* 0: empty index */
    uint32_t index_root_generation;
    uint32_t index_height;          /* levels; 0 when empty */
    uint64_t object_count;
    uint64_t data_blocks_used;      /* blocks taken in the groups, index pages included */
    uint64_t inodes_used;
    uint64_t next_inode_hint;
    uint32_t group_hint;
} dw_engine_state;

typedef struct dw_extended {
    dw_inode_layout inode_layout;
    uint32_t group_blocks;          /* blocks per allocation group, its bitmap included */
    uint32_t group_bitmap_blocks;
    uint32_t group_count;
    uint64_t inode_count;
    uint32_t inodes_per_block;
    uint32_t inode_bitmap_blocks;
    uint32_t key_length_max;        /* the longest key it may hold (raised, never lowered) */
    dw_engine_state state;
    char label[DW_LABEL_SIZE];
} dw_extended;

/* One copy of the superblock group, decoded. */
typedef struct dw_super_copy {
    dw_superblock super;
    dw_region_directory regions;
    dw_extended extended;
} dw_super_copy;

/* Encodes a copy's four units into `units` (4 x unit_size bytes, zeroed here), sealed
 * for the copy at unit index first_unit (0 or 4). */
void dw_super_encode(const dw_super_copy *copy, unsigned char *units, uint32_t first_unit);

typedef enum dw_super_problem {
    DW_SUPER_OK = 0,
    DW_SUPER_NOT_VDE,               /* no DWVD magic: not our file */
    DW_SUPER_DAMAGED,               /* a unit fails its trailer or the anchor */
    DW_SUPER_VERSION,               /* a format this build does not read */
} dw_super_problem;

/* Decodes the copy at first_unit from `units`. On a problem says which unit (0-3) and
 * why in `detail`. */
dw_super_problem dw_super_decode(const unsigned char *units, uint32_t unit_size, uint32_t first_unit,
                                 dw_super_copy *copy, uint32_t *bad_unit, char *detail,
                                 size_t detail_size);

bool dw_magic_matches(const unsigned char *unit);
extern const unsigned char DW_MAGIC[DW_MAGIC_SIZE];

/* The emergency recovery block's text (plain ASCII), for unit 9. */
size_t dw_emergency_text(const dw_super_copy *copy, char *text, size_t size);

/* The sentinel block (the VDE's last block). */
void dw_sentinel_encode(const dw_superblock *super, unsigned char *block);
bool dw_sentinel_matches(const unsigned char *block, const dw_superblock *super);

/* ---- allocation and inode bitmaps ---------------------------------------------------- */

#define DW_BITMAP_HEADER_SIZE 16

/* Bits of one bitmap block. */
static inline uint32_t dw_bitmap_bits(uint32_t block_size)
{
    return (block_size - DW_BITMAP_HEADER_SIZE - DW_TRAILER_SIZE) * 8;
}

typedef struct dw_bitmap_header {
    uint32_t group;                 /* the group (or 0 for the inode bitmap) */
    uint32_t index;                 /* which bitmap block of it */
    uint32_t free;                  /* clear bits among those it covers */
    uint32_t covered;               /* bits that stand for a block (or an inode) */
} dw_bitmap_header;

void dw_bitmap_header_encode(const dw_bitmap_header *header, unsigned char *block);
void dw_bitmap_header_decode(const unsigned char *block, dw_bitmap_header *header);

/* Bit `bit` of a bitmap: bit i of byte i / 8, at 1 << (i % 8). 64-bit indexes, so the
 * same code serves one bitmap block and a map over every block of a VDE. */
static inline bool dw_bit_get(const unsigned char *bits, uint64_t bit)
{
    return ((unsigned)bits[bit / 8] >> (bit % 8)) & 1u;
}

static inline void dw_bit_set(unsigned char *bits, uint64_t bit, bool value)
{
    unsigned char mask = (unsigned char)(1u << (bit % 8));
    bits[bit / 8] = value ? (unsigned char)(bits[bit / 8] | mask) : (unsigned char)(bits[bit / 8] & ~mask);
}

/* ---- inodes ------------------------------------------------------------------------- */

#define DW_INODE_HEADER_SIZE 64
#define DW_INODE_EXTENTS 8
#define DW_EXTENT_SIZE 24
#define DW_INODE_TAGS_SIZE 128
#define DW_INODE_PADDING_SIZE 64
#define DW_INODE_BLOCK_HEADER_SIZE 16
#define DW_INODE_MAGIC 0x4E49u      /* "IN" */

#define DW_INODE_USED 0x0001u
#define DW_INODE_INLINE 0x0002u     /* the value is in the extent area */
#define DW_INODE_EXTENT_BLOCK 0x0004u

typedef struct dw_extent {
    uint64_t logical;               /* first payload block of the object it holds */
    uint64_t start;                 /* first block */
    uint32_t count;                 /* blocks */
    uint32_t generation;            /* of every data block in it */
} dw_extent;

typedef struct dw_inode {
    uint16_t flags;
    uint32_t generation;            /* bumped each time the inode is rewritten */
    uint64_t size;                  /* value bytes */
    uint64_t ctime_ns;
    uint64_t mtime_ns;
    uint64_t key_hash;              /* XXH3-64 of the key: the index and the inode agree */
    uint32_t extent_count;          /* in the inode and in extent blocks together */
    uint16_t tag_bytes;
    uint16_t key_length;
    uint64_t extent_block;          /* the first overflow extent block, 0 for none */
    uint32_t extent_block_generation;
    dw_extent extents[DW_INODE_EXTENTS];
    uint16_t inline_bytes;
    unsigned char inline_data[DW_INODE_EXTENTS * DW_EXTENT_SIZE];
    unsigned char tags[DW_INODE_TAGS_SIZE];
} dw_inode;

/* The layout for a VDE with or without the tags module. */
void dw_inode_layout_for(bool tags, dw_inode_layout *layout);

/* Inodes held by one inode block. */
static inline uint32_t dw_inodes_per_block(uint32_t block_size, uint32_t inode_size)
{
    return (block_size - DW_INODE_BLOCK_HEADER_SIZE - DW_TRAILER_SIZE) / inode_size;
}

void dw_inode_encode(const dw_inode *inode, const dw_inode_layout *layout, unsigned char *at);
/* False when the bytes are not an inode in use (flags without USED, or a bad magic). */
bool dw_inode_decode(const unsigned char *at, const dw_inode_layout *layout, dw_inode *inode);

void dw_extent_encode(const dw_extent *extent, unsigned char *at);
void dw_extent_decode(const unsigned char *at, dw_extent *extent);

/* Overflow extent blocks. */
#define DW_EXTENT_BLOCK_HEADER_SIZE 32
static inline uint32_t dw_extents_per_block(uint32_t block_size)
{
    return (block_size - DW_EXTENT_BLOCK_HEADER_SIZE - DW_TRAILER_SIZE) / DW_EXTENT_SIZE;
}

typedef struct dw_extent_block_header {
    uint64_t inode;
    uint64_t next;                  /* the next extent block, 0 for the last */
    uint32_t next_generation;
    uint32_t count;
} dw_extent_block_header;

void dw_extent_block_header_encode(const dw_extent_block_header *header, unsigned char *block);
void dw_extent_block_header_decode(const unsigned char *block, dw_extent_block_header *header);

/* ---- key index nodes ------------------------------------------------------------------ */

#define DW_INDEX_HEADER_SIZE 32

typedef struct dw_index_header {
    uint16_t level;                 /* 0: leaf */
    uint16_t count;                 /* entries */
    uint16_t data_start;            /* offset of the lowest entry byte */
    uint64_t leftmost;              /* branch: the child left of every key */
    uint32_t leftmost_generation;
} dw_index_header;

void dw_index_header_encode(const dw_index_header *header, unsigned char *block);
void dw_index_header_decode(const unsigned char *block, dw_index_header *header);

/* A leaf entry's first u16: the key length, and this bit when the entry is a compact
 * object (its value and times inside the entry, no inode). Branch entries never set it. */
#define DW_INDEX_COMPACT_FLAG 0x8000u
#define DW_INDEX_KEY_LENGTH_MASK 0x7fffu
/* A compact entry after its key: u32 generation, u16 value length, u64 created, u64
 * changed, then the value. */
#define DW_INDEX_COMPACT_FIXED 22u

/* Bytes an entry takes, its slot included. */
static inline uint32_t dw_index_leaf_entry_size(uint32_t key_length)
{
    return 2 + 2 + key_length + 8 + 4;
}

static inline uint32_t dw_index_compact_entry_size(uint32_t key_length, uint32_t value_length)
{
    return 2 + 2 + key_length + DW_INDEX_COMPACT_FIXED + value_length;
}

/* The largest compact entry (slot included) a leaf takes: a quarter of its room, so a
 * leaf always holds four and a split always leaves two halves that fit. */
static inline uint32_t dw_index_compact_limit(uint32_t block_size)
{
    return (block_size - DW_TRAILER_SIZE - DW_INDEX_HEADER_SIZE) / 4;
}

/* One leaf entry, decoded (pointers into the node). */
typedef struct dw_leaf_entry {
    const unsigned char *key;
    uint32_t key_length;
    bool compact;
    uint64_t inode;                 /* 0 when compact */
    uint32_t generation;            /* the inode's, or the compact object's */
    uint32_t value_length;          /* compact only, as are the rest */
    uint64_t ctime_ns;
    uint64_t mtime_ns;
    const unsigned char *value;
} dw_leaf_entry;

/* Decodes a leaf entry that dw_index_node_problem accepted. */
void dw_index_leaf_decode(const unsigned char *entry, dw_leaf_entry *decoded);
/* Bytes of the entry without its slot. */
uint32_t dw_index_leaf_entry_bytes(const unsigned char *entry);

static inline uint32_t dw_index_branch_entry_size(uint32_t key_length)
{
    return 2 + 2 + key_length + 8 + 4;
}

/* Entry `index` of a node, through its slot. */
static inline const unsigned char *dw_index_entry(const unsigned char *node, uint32_t index)
{
    return node + ((uint32_t)node[DW_INDEX_HEADER_SIZE + 2 * (size_t)index] |
                   ((uint32_t)node[DW_INDEX_HEADER_SIZE + 2 * (size_t)index + 1] << 8));
}

/* Whether a node that passed its trailer check is well formed: slots and entries inside
 * the block, keys 1..key_length_max bytes, a branch with a leftmost child. NULL when it
 * is, else what is wrong. Anything that follows a node's slots must ask this first. */
const char *dw_index_node_problem(const unsigned char *node, const dw_index_header *header, uint32_t block_size,
                                  uint32_t key_length_max);

/* The longest key a block size allows: three entries of it must fit in a node. */
uint32_t dw_index_key_length_limit(uint32_t block_size);

/* ---- the WAL ---------------------------------------------------------------------------- */

#define DW_WAL_MAGIC UINT64_C(0x314C415744565744) /* "DWVDWAL1" */
#define DW_WAL_HEADER_FIXED 112
#define DW_WAL_ENTRY_SIZE 16

typedef struct dw_wal_entry {
    uint64_t home;                  /* the block the page belongs at */
    uint32_t type;                  /* its trailer type */
    uint32_t generation;            /* its trailer generation */
} dw_wal_entry;

typedef struct dw_wal_header {
    uint64_t lsn;                   /* this block's place in the log */
    uint64_t first_seq;             /* the transactions the record commits */
    uint64_t last_seq;
    uint32_t page_count;
    uint32_t entry_blocks;          /* WALE blocks after the header */
    uint64_t payload_checksum;      /* XXH64, seeded with lsn, of every entry then every page */
    dw_engine_state state;          /* the state after the record */
} dw_wal_header;

/* Entries held by the header block, and by each WALE block. */
static inline uint32_t dw_wal_header_entries(uint32_t block_size)
{
    return (block_size - DW_TRAILER_SIZE - DW_WAL_HEADER_FIXED) / DW_WAL_ENTRY_SIZE;
}

static inline uint32_t dw_wal_entries_per_block(uint32_t block_size)
{
    return (block_size - DW_TRAILER_SIZE) / DW_WAL_ENTRY_SIZE;
}

/* WALE blocks a record of page_count pages needs. */
uint32_t dw_wal_entry_blocks(uint32_t block_size, uint32_t page_count);

void dw_wal_header_encode(const dw_wal_header *header, unsigned char *block);
/* False when the block is not a WAL header (bad magic). */
bool dw_wal_header_decode(const unsigned char *block, dw_wal_header *header);

void dw_wal_entry_encode(const dw_wal_entry *entry, unsigned char *at);
void dw_wal_entry_decode(const unsigned char *at, dw_wal_entry *entry);

/* ---- the engine state, shared by the extended unit and WAL headers ----------------- */

#define DW_ENGINE_STATE_SIZE 64
void dw_engine_state_encode(const dw_engine_state *state, unsigned char *at);
void dw_engine_state_decode(const unsigned char *at, dw_engine_state *state);

#endif /* DW_VDE_FORMAT_H */
