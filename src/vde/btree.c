/*
 * btree.c — the key index: a B+tree mapping keys to inode numbers.
 *
 * Nodes are blocks from the allocation groups: leaves (IXLF) hold (key, inode, inode
 * generation) entries, or compact objects (key, generation, times, value: no inode, one
 * block read fewer per get), branches (IXBR) hold a leftmost child and (key, child,
 * child generation) entries, a key's child holding the keys at or above it. Entries are
 * found through a slot array after the 32-byte header and packed from the end of the
 * block downwards.
 *
 * Every child pointer records the generation its child was last written with, and a
 * child read from disk must carry it: an old copy of a node left by a lost write is
 * caught on the way down. So a change to a node is a change to every node above it (their
 * pointers' generations), which a transaction logs together; the root's generation lives
 * in the engine state. Leaves do the same for inodes: an inode block has no parent of its
 * own, so the leaf entry records the generation the inode was last written with, and
 * replacing an object's value rewrites its leaf entry (and so the path above it).
 *
 * A node is rewritten whole on every change (entries gathered from a copy, then laid out
 * afresh), which keeps insert, delete and split one piece of code and leaves no holes.
 * Underfull nodes are not merged; an emptied node is freed and its pointer removed, and a
 * root with a single child is replaced by it.
 *
 * Nothing here allocates: the node copy, the entry table and the separator keys are
 * arena memory sized for the largest node at open.
 */
#include <string.h>

#include "core/assert.h"
#include "core/endian.h"
#include "core/error.h"
#include "vde/btree.h"
#include "vde/engine.h"

/* ---- reading a node ----------------------------------------------------------------- */

static uint32_t usable_end(const struct dw_vde *vde)
{
    return vde->block_size - DW_TRAILER_SIZE;
}

static uint32_t entry_key_length(const unsigned char *entry)
{
    return dw_load_le16(entry) & DW_INDEX_KEY_LENGTH_MASK; /* branches never set the flag */
}

static const unsigned char *entry_key(const unsigned char *entry)
{
    return entry + 2;
}

static uint64_t entry_value(const unsigned char *entry)
{
    return dw_load_le64(entry + 2 + entry_key_length(entry));
}

static uint32_t entry_generation(const unsigned char *entry)
{
    return dw_load_le32(entry + 2 + entry_key_length(entry) + 8);
}

int dw_key_compare(const unsigned char *a, uint32_t a_length, const unsigned char *b, uint32_t b_length)
{
    uint32_t common = a_length < b_length ? a_length : b_length;
    int order = common > 0 ? memcmp(a, b, common) : 0;
    if (order != 0) {
        return order < 0 ? -1 : 1;
    }
    return a_length < b_length ? -1 : a_length > b_length;
}

/* In a leaf: the first index whose key is >= key (count when none); *equal when it is. */
static uint32_t leaf_position(const unsigned char *node, uint32_t count, const unsigned char *key,
                              uint32_t key_length, bool *equal)
{
    uint32_t low = 0;
    uint32_t high = count;
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        const unsigned char *entry = dw_index_entry(node, middle);
        if (dw_key_compare(entry_key(entry), entry_key_length(entry), key, key_length) < 0) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    *equal = false;
    if (low < count) {
        const unsigned char *entry = dw_index_entry(node, low);
        *equal = dw_key_compare(entry_key(entry), entry_key_length(entry), key, key_length) == 0;
    }
    return low;
}

/* In a branch: which child holds key, as -1 (leftmost) .. count - 1. */
static int32_t branch_child(const unsigned char *node, uint32_t count, const unsigned char *key, uint32_t key_length)
{
    uint32_t low = 0;
    uint32_t high = count;
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        const unsigned char *entry = dw_index_entry(node, middle);
        if (dw_key_compare(entry_key(entry), entry_key_length(entry), key, key_length) <= 0) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return (int32_t)low - 1;
}

static void child_of(const unsigned char *node, const dw_index_header *header, int32_t index, uint64_t *child,
                     uint32_t *generation)
{
    if (index < 0) {
        *child = header->leftmost;
        *generation = header->leftmost_generation;
    } else {
        const unsigned char *entry = dw_index_entry(node, (uint32_t)index);
        *child = entry_value(entry);
        *generation = entry_generation(entry);
    }
}

/* Sanity of a node: the counts and offsets must stay inside the block, so a node that
 * verified but is malformed (a bug, or damage that fooled nothing else) is refused rather
 * than followed. The level is checked on every visit (it depends on the way down); the
 * structure once a frame holds the node, whether it came from the device or was laid out
 * here (lay_out asserts what it wrote), and the frame keeps the mark while it holds the
 * node: a hit skips that walk over every entry. */
static int check_node(const struct dw_vde *vde, uint64_t block, dw_page *page, const dw_index_header *header,
                      uint32_t expected_level, dw_diag *diag)
{
    const char *problem = NULL;
    if (header->level != expected_level) {
        problem = "its level is not the one its parent implies";
    } else if (!dw_page_checked(page)) {
        problem = dw_index_node_problem(page->data, header, vde->block_size, vde->super.extended.key_length_max);
        if (problem == NULL) {
            dw_page_mark_checked(page);
        }
    }
    if (problem != NULL) {
        return dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify", "'%s': index node at block %llu is malformed: %s",
                            vde->path, (unsigned long long)block, problem);
    }
    return DW_OK;
}

static int read_node(struct dw_vde *vde, uint64_t block, uint32_t generation, uint32_t level, dw_page **page,
                     dw_index_header *header, dw_diag *diag)
{
    uint32_t type = level == 0 ? DW_BLOCK_INDEX_LEAF : DW_BLOCK_INDEX_BRANCH;
    *page = NULL;
    memset(header, 0, sizeof *header);
    if (!dw_block_in_groups(vde, block)) {
        (void)dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify",
                           "'%s': an index pointer names block %llu, outside the groups", vde->path,
                           (unsigned long long)block);
        return DW_ECORRUPT;
    }
    int result = dw_cache_read(&vde->cache, block, type, true, generation, page, diag);
    if (result != DW_OK) {
        return result;
    }
    DW_ASSERT(*page != NULL);
    dw_index_header_decode((*page)->data, header);
    result = check_node(vde, block, *page, header, level, diag);
    if (result != DW_OK) {
        dw_cache_unpin(&vde->cache, *page);
        *page = NULL;
    }
    return result;
}

/* ---- working memory -------------------------------------------------------------------- */

typedef struct entry_ref {
    const unsigned char *key;
    uint32_t key_length;
    uint64_t value;             /* inode (leaf) or child (branch); 0 for a compact object */
    uint32_t generation;        /* the inode's, the child's or the compact object's */
    bool compact;               /* leaves: the object is in the entry */
    uint32_t value_length;      /* compact: its value and times */
    const unsigned char *object;
    uint64_t ctime_ns;
    uint64_t mtime_ns;
} entry_ref;

static uint32_t entries_max_for(uint32_t block_size)
{
    /* The smallest entry is a one-byte key in a leaf. */
    return (block_size - DW_INDEX_HEADER_SIZE - DW_TRAILER_SIZE) / dw_index_leaf_entry_size(1) + 2;
}

uint64_t dw_index_scratch_bytes(uint32_t block_size, uint32_t key_length_max)
{
    return block_size + (uint64_t)entries_max_for(block_size) * sizeof(entry_ref) + 2 * ((uint64_t)key_length_max + 8) +
           dw_index_compact_limit(block_size);
}

void dw_index_scratch_init(dw_index_scratch *scratch, void *memory, uint32_t block_size, uint32_t key_length_max)
{
    unsigned char *at = memory;
    scratch->node_copy = at;
    at += block_size;
    scratch->entries = (entry_ref *)(void *)at;
    scratch->entries_max = entries_max_for(block_size);
    at += (size_t)scratch->entries_max * sizeof(entry_ref);
    scratch->separators[0] = at;
    scratch->separators[1] = at + key_length_max + 8;
    at += 2 * ((size_t)key_length_max + 8);
    scratch->compact_value = at;
    scratch->key_length_max = key_length_max;
}

/* ---- the path from the root ------------------------------------------------------------ */

typedef struct path_step {
    uint64_t block;
    uint32_t generation;
    int32_t child;              /* branches: the child taken */
} path_step;

typedef struct tree_path {
    uint32_t height;
    path_step steps[DW_INDEX_HEIGHT_MAX]; /* [0] the root ... [height - 1] the leaf */
} tree_path;

/* Walks from the root to the leaf that holds (or would hold) key, recording the way, and
 * keeps that leaf pinned (read once: the walk's last step is the leaf). */
static int find_leaf(struct dw_vde *vde, const unsigned char *key, uint32_t key_length, tree_path *path,
                     dw_page **leaf, dw_index_header *leaf_header, dw_diag *diag)
{
    const dw_engine_state *state = &vde->state;
    *leaf = NULL;
    path->height = 0;
    /* The root and height come from the superblock or a replayed log record: checked
     * like any other bytes from the device. */
    if (state->index_root == 0 || state->index_height == 0) {
        (void)dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify", "'%s': the index has no root (block %llu, %u levels)",
                           vde->path, (unsigned long long)state->index_root, state->index_height);
        return DW_ECORRUPT;
    }
    if (state->index_height > DW_INDEX_HEIGHT_MAX) {
        (void)dw_diag_fail(diag, DW_ECORRUPT, "run dw vde verify", "'%s': the index claims %u levels (at most %d)",
                           vde->path, state->index_height, DW_INDEX_HEIGHT_MAX);
        return DW_ECORRUPT;
    }
    path->height = state->index_height;
    uint64_t block = state->index_root;
    uint32_t generation = state->index_root_generation;
    for (uint32_t depth = 0; depth < path->height; depth++) {
        uint32_t level = path->height - 1 - depth;
        dw_page *page = NULL;
        dw_index_header header;
        int result = read_node(vde, block, generation, level, &page, &header, diag);
        if (result != DW_OK) {
            return result;
        }
        path->steps[depth] = (path_step){.block = block, .generation = generation, .child = -1};
        if (level == 0) {
            *leaf = page;
            *leaf_header = header;
            return DW_OK;
        }
        int32_t child = branch_child(page->data, header.count, key, key_length);
        path->steps[depth].child = child;
        child_of(page->data, &header, child, &block, &generation);
        dw_cache_unpin(&vde->cache, page);
    }
    DW_UNREACHABLE(); /* the last step, level 0, returned */
}

static void hit_of(const dw_leaf_entry *entry, dw_index_hit *hit)
{
    *hit = (dw_index_hit){.found = true, .compact = entry->compact, .inode = entry->inode,
                          .generation = entry->generation, .value_length = entry->value_length,
                          .ctime_ns = entry->ctime_ns, .mtime_ns = entry->mtime_ns};
}

static void copy_out(const dw_leaf_entry *entry, const dw_index_copy *copy)
{
    if (copy == NULL || !entry->compact || copy->offset >= entry->value_length) {
        return;
    }
    uint64_t take = entry->value_length - copy->offset;
    take = take < copy->length ? take : copy->length;
    memcpy(copy->buffer, entry->value + copy->offset, (size_t)take);
}

int dw_index_find(struct dw_vde *vde, const unsigned char *key, uint32_t key_length, dw_index_hit *hit,
                  const dw_index_copy *copy, dw_diag *diag)
{
    memset(hit, 0, sizeof *hit);
    if (vde->state.index_root == 0) {
        return DW_OK;
    }
    tree_path path;
    dw_page *page = NULL;
    dw_index_header header;
    int result = find_leaf(vde, key, key_length, &path, &page, &header, diag);
    if (result != DW_OK) {
        return result;
    }
    bool equal = false;
    uint32_t position = leaf_position(page->data, header.count, key, key_length, &equal);
    if (equal) {
        dw_leaf_entry entry;
        dw_index_leaf_decode(dw_index_entry(page->data, position), &entry);
        hit_of(&entry, hit);
        copy_out(&entry, copy);
    }
    dw_cache_unpin(&vde->cache, page);
    return DW_OK;
}

/* ---- rewriting nodes ------------------------------------------------------------------- */

static uint32_t entry_size(uint32_t level, const entry_ref *entry)
{
    if (level > 0) {
        return dw_index_branch_entry_size(entry->key_length);
    }
    return entry->compact ? dw_index_compact_entry_size(entry->key_length, entry->value_length)
                          : dw_index_leaf_entry_size(entry->key_length);
}

/* Copies the node to scratch and lists its entries, pointing into the copy. */
static uint32_t gather(struct dw_vde *vde, const dw_page *page, const dw_index_header *header, entry_ref *entries)
{
    memcpy(vde->index.node_copy, page->data, vde->block_size);
    for (uint32_t i = 0; i < header->count; i++) {
        const unsigned char *entry = dw_index_entry(vde->index.node_copy, i);
        if (header->level > 0) {
            entries[i] = (entry_ref){.key = entry_key(entry), .key_length = entry_key_length(entry),
                                     .value = entry_value(entry), .generation = entry_generation(entry)};
            continue;
        }
        dw_leaf_entry leaf;
        dw_index_leaf_decode(entry, &leaf);
        entries[i] = (entry_ref){.key = leaf.key, .key_length = leaf.key_length, .value = leaf.inode,
                                 .generation = leaf.generation, .compact = leaf.compact,
                                 .value_length = leaf.value_length, .object = leaf.value,
                                 .ctime_ns = leaf.ctime_ns, .mtime_ns = leaf.mtime_ns};
    }
    return header->count;
}

static uint32_t bytes_of(uint32_t level, const entry_ref *entries, uint32_t count)
{
    uint32_t bytes = 0;
    for (uint32_t i = 0; i < count; i++) {
        bytes += entry_size(level, &entries[i]);
    }
    return bytes;
}

static bool fits(const struct dw_vde *vde, uint32_t level, const entry_ref *entries, uint32_t count)
{
    return DW_INDEX_HEADER_SIZE + bytes_of(level, entries, count) <= usable_end(vde);
}

/* Lays a node out afresh in page (its trailer's type and generation left as they are). */
static void lay_out(struct dw_vde *vde, dw_page *page, uint32_t level, uint64_t leftmost, uint32_t leftmost_generation,
                    const entry_ref *entries, uint32_t count)
{
    DW_ASSERT(fits(vde, level, entries, count) && count <= UINT16_MAX);
    unsigned char *node = page->data;
    uint32_t end = usable_end(vde);
    memset(node, 0, end);
    uint32_t at = end;
    for (uint32_t i = 0; i < count; i++) {
        const entry_ref *entry = &entries[i];
        uint32_t size = entry_size(level, entry) - 2; /* the slot is apart */
        DW_ASSERT(entry->key_length > 0 && entry->key_length <= vde->index.key_length_max);
        DW_ASSERT(level == 0 || !entry->compact);
        at -= size;
        unsigned char *out = node + at;
        unsigned char *after = out + 2 + entry->key_length;
        memcpy(out + 2, entry->key, entry->key_length);
        if (entry->compact) {
            DW_ASSERT(entry->value == 0);
            DW_ASSERT(size + 2 <= dw_index_compact_limit(vde->block_size));
            dw_store_le16(out, (uint16_t)(entry->key_length | DW_INDEX_COMPACT_FLAG));
            dw_store_le32(after, entry->generation);
            dw_store_le16(after + 4, (uint16_t)entry->value_length);
            dw_store_le64(after + 6, entry->ctime_ns);
            dw_store_le64(after + 14, entry->mtime_ns);
            if (entry->value_length > 0) {
                memcpy(after + DW_INDEX_COMPACT_FIXED, entry->object, entry->value_length);
            }
        } else {
            DW_ASSERT(entry->value != 0);
            dw_store_le16(out, (uint16_t)entry->key_length);
            dw_store_le64(after, entry->value);
            dw_store_le32(after + 8, entry->generation);
        }
        dw_store_le16(node + DW_INDEX_HEADER_SIZE + 2 * (size_t)i, (uint16_t)at);
    }
    dw_index_header header = {.level = (uint16_t)level, .count = (uint16_t)count, .data_start = (uint16_t)at,
                              .leftmost = leftmost, .leftmost_generation = leftmost_generation};
    dw_index_header_encode(&header, node);
    /* The check a node read from the device passes, here where it is made: readers that
     * hit this frame trust it (check_node). */
    DW_ASSERT(dw_index_node_problem(node, &header, vde->block_size, vde->super.extended.key_length_max) == NULL);
    dw_page_mark_checked(page);
}

/* A new node's block, created in the cache. */
static int new_node(struct dw_vde *vde, uint32_t level, dw_page **page, dw_diag *diag)
{
    uint64_t block = 0;
    uint32_t got = 0;
    int result = dw_alloc_blocks(vde, 1, &block, &got, diag);
    if (result == DW_OK) {
        result = dw_cache_create(&vde->cache, block, level == 0 ? DW_BLOCK_INDEX_LEAF : DW_BLOCK_INDEX_BRANCH,
                                 vde->txn_generation, page, diag);
    }
    return result;
}

/* Where to cut `count` entries in two halves of about equal bytes (both non-empty). */
static uint32_t split_point(uint32_t level, const entry_ref *entries, uint32_t count)
{
    uint32_t total = bytes_of(level, entries, count);
    uint32_t left = 0;
    uint32_t cut = 0;
    while (cut < count - 1 && 2 * (left + entry_size(level, &entries[cut])) <= total) {
        left += entry_size(level, &entries[cut]);
        cut++;
    }
    return cut == 0 ? 1 : cut;
}

/* What a level hands to the one above: nothing, a changed child, a new right sibling,
 * or its own removal. */
typedef enum change_kind {
    CHANGE_CHILD = 0,           /* the child was rewritten: update its generation */
    CHANGE_SPLIT = 1,           /* the child split: insert (separator, right) after it */
    CHANGE_REMOVED = 2,         /* the child became empty and was freed: drop its pointer */
} change_kind;

typedef struct change {
    change_kind kind;
    unsigned char *separator;   /* CHANGE_SPLIT: one of the two separator buffers */
    uint32_t separator_length;
    uint64_t right;
} change;

/* Applies a change from below to the branch at path step `depth`. */
static int apply_to_branch(struct dw_vde *vde, tree_path *path, uint32_t depth, change *below, dw_diag *diag)
{
    path_step *step = &path->steps[depth];
    uint32_t level = path->height - 1 - depth;
    dw_page *page = NULL;
    dw_index_header header;
    int result = read_node(vde, step->block, step->generation, level, &page, &header, diag);
    if (result == DW_OK) {
        result = dw_cache_modify(&vde->cache, page, vde->txn_generation, diag);
    }
    if (result != DW_OK) {
        if (page != NULL) {
            dw_cache_unpin(&vde->cache, page);
        }
        return result;
    }
    entry_ref *entries = vde->index.entries;
    uint32_t count = gather(vde, page, &header, entries);
    uint64_t leftmost = header.leftmost;
    uint32_t leftmost_generation = header.leftmost_generation;
    int32_t child = step->child;
    uint32_t generation = vde->txn_generation;
    if (below->kind == CHANGE_REMOVED) {
        if (child < 0) {
            if (count == 0) {
                /* Its only child is gone: this branch goes too. */
                dw_cache_discard(&vde->cache, page);
                dw_cache_unpin(&vde->cache, page);
                below->kind = CHANGE_REMOVED;
                return dw_free_blocks(vde, step->block, 1, DW_FREE_METADATA, diag);
            }
            leftmost = entries[0].value;
            leftmost_generation = entries[0].generation;
            memmove(entries, entries + 1, (count - 1) * sizeof entries[0]);
        } else {
            memmove(entries + child, entries + child + 1, (count - (uint32_t)child - 1) * sizeof entries[0]);
        }
        count--;
    } else {
        if (child < 0) {
            leftmost_generation = generation;
        } else {
            entries[child].generation = generation;
        }
        if (below->kind == CHANGE_SPLIT) {
            uint32_t at = (uint32_t)(child + 1);
            memmove(entries + at + 1, entries + at, (count - at) * sizeof entries[0]);
            entries[at] = (entry_ref){.key = below->separator, .key_length = below->separator_length,
                                      .value = below->right, .generation = generation};
            count++;
        }
    }
    if (fits(vde, level, entries, count)) {
        lay_out(vde, page, level, leftmost, leftmost_generation, entries, count);
        dw_cache_unpin(&vde->cache, page);
        below->kind = CHANGE_CHILD;
        return DW_OK;
    }
    /* Split the branch: the middle entry's key goes up; its child becomes the right
     * node's leftmost. */
    uint32_t cut = split_point(level, entries, count);
    dw_page *right = NULL;
    result = new_node(vde, level, &right, diag);
    if (result != DW_OK) {
        dw_cache_unpin(&vde->cache, page);
        return result;
    }
    unsigned char *separator = vde->index.separators[depth % 2];
    memcpy(separator, entries[cut].key, entries[cut].key_length);
    uint32_t separator_length = entries[cut].key_length;
    lay_out(vde, right, level, entries[cut].value, entries[cut].generation, entries + cut + 1, count - cut - 1);
    lay_out(vde, page, level, leftmost, leftmost_generation, entries, cut);
    below->kind = CHANGE_SPLIT;
    below->separator = separator;
    below->separator_length = separator_length;
    below->right = right->block;
    dw_cache_unpin(&vde->cache, right);
    dw_cache_unpin(&vde->cache, page);
    return DW_OK;
}

/* Carries a change from the leaf up to the root, and grows or shrinks the tree. */
static int propagate(struct dw_vde *vde, tree_path *path, change *below, dw_diag *diag)
{
    for (uint32_t depth = path->height - 1; depth-- > 0;) {
        int result = apply_to_branch(vde, path, depth, below, diag);
        if (result != DW_OK) {
            return result;
        }
    }
    dw_engine_state *state = &vde->state;
    if (below->kind == CHANGE_REMOVED) {
        state->index_root = 0;
        state->index_root_generation = 0;
        state->index_height = 0;
        return DW_OK;
    }
    if (below->kind == CHANGE_SPLIT) {
        if (path->height == DW_INDEX_HEIGHT_MAX) {
            return dw_diag_fail(diag, DW_ENOSPC, "use shorter keys", "the index would grow past %d levels",
                                DW_INDEX_HEIGHT_MAX);
        }
        dw_page *root = NULL;
        int result = new_node(vde, path->height, &root, diag);
        if (result != DW_OK) {
            return result;
        }
        entry_ref entry = {.key = below->separator, .key_length = below->separator_length,
                           .value = below->right, .generation = vde->txn_generation};
        lay_out(vde, root, path->height, state->index_root, vde->txn_generation, &entry, 1);
        state->index_root = root->block;
        state->index_height = path->height + 1;
        dw_cache_unpin(&vde->cache, root);
    }
    state->index_root_generation = vde->txn_generation;
    /* A root branch left with one child (no entries) hands the tree to that child. */
    while (state->index_height > 1) {
        dw_page *page = NULL;
        dw_index_header header;
        int result = read_node(vde, state->index_root, state->index_root_generation, state->index_height - 1, &page,
                               &header, diag);
        if (result != DW_OK) {
            return result;
        }
        if (header.count > 0) {
            dw_cache_unpin(&vde->cache, page);
            break;
        }
        result = dw_cache_modify(&vde->cache, page, vde->txn_generation, diag);
        uint64_t old_root = state->index_root;
        if (result == DW_OK) {
            dw_cache_discard(&vde->cache, page);
            state->index_root = header.leftmost;
            state->index_root_generation = header.leftmost_generation;
            state->index_height--;
        }
        dw_cache_unpin(&vde->cache, page);
        if (result == DW_OK) {
            result = dw_free_blocks(vde, old_root, 1, DW_FREE_METADATA, diag);
        }
        if (result != DW_OK) {
            return result;
        }
    }
    return DW_OK;
}

/* Inserts an entry, or replaces the entry of its key. */
static int insert_entry(struct dw_vde *vde, const entry_ref *new_entry, dw_diag *diag)
{
    const unsigned char *key = new_entry->key;
    uint32_t key_length = new_entry->key_length;
    DW_ASSERT(vde->txn_open);
    DW_ASSERT(key_length > 0 && key_length <= vde->index.key_length_max);
    DW_ASSERT(new_entry->compact ? new_entry->value == 0 : new_entry->value != 0);
    dw_engine_state *state = &vde->state;
    entry_ref entry = *new_entry;
    if (state->index_root == 0) {
        dw_page *page = NULL;
        int result = new_node(vde, 0, &page, diag);
        if (result != DW_OK) {
            return result;
        }
        lay_out(vde, page, 0, 0, 0, &entry, 1);
        state->index_root = page->block;
        state->index_root_generation = vde->txn_generation;
        state->index_height = 1;
        dw_cache_unpin(&vde->cache, page);
        return DW_OK;
    }
    tree_path path;
    dw_page *page = NULL;
    dw_index_header header;
    int result = find_leaf(vde, key, key_length, &path, &page, &header, diag);
    if (result == DW_OK) {
        result = dw_cache_modify(&vde->cache, page, vde->txn_generation, diag);
        if (result != DW_OK) {
            dw_cache_unpin(&vde->cache, page);
        }
    }
    if (result != DW_OK) {
        return result;
    }
    entry_ref *entries = vde->index.entries;
    uint32_t count = gather(vde, page, &header, entries);
    bool equal = false;
    uint32_t position = leaf_position(vde->index.node_copy, count, key, key_length, &equal);
    if (equal) {
        entries[position] = entry;
    } else {
        memmove(entries + position + 1, entries + position, (count - position) * sizeof entries[0]);
        entries[position] = entry;
        count++;
    }
    change below = {.kind = CHANGE_CHILD};
    if (fits(vde, 0, entries, count)) {
        lay_out(vde, page, 0, 0, 0, entries, count);
        dw_cache_unpin(&vde->cache, page);
    } else {
        uint32_t cut = split_point(0, entries, count);
        dw_page *right = NULL;
        result = new_node(vde, 0, &right, diag);
        if (result != DW_OK) {
            dw_cache_unpin(&vde->cache, page);
            return result;
        }
        unsigned char *separator = vde->index.separators[(path.height - 1) % 2];
        memcpy(separator, entries[cut].key, entries[cut].key_length);
        below = (change){.kind = CHANGE_SPLIT, .separator = separator, .separator_length = entries[cut].key_length,
                         .right = right->block};
        lay_out(vde, right, 0, 0, 0, entries + cut, count - cut);
        lay_out(vde, page, 0, 0, 0, entries, cut);
        dw_cache_unpin(&vde->cache, right);
        dw_cache_unpin(&vde->cache, page);
    }
    return propagate(vde, &path, &below, diag);
}

int dw_index_insert(struct dw_vde *vde, const unsigned char *key, uint32_t key_length, uint64_t inode,
                    uint32_t inode_generation, dw_diag *diag)
{
    entry_ref entry = {.key = key, .key_length = key_length, .value = inode, .generation = inode_generation};
    return insert_entry(vde, &entry, diag);
}

bool dw_index_compact_fits(const struct dw_vde *vde, uint32_t key_length, uint64_t value_length)
{
    return vde->compact_objects && value_length <= UINT16_MAX &&
           dw_index_compact_entry_size(key_length, (uint32_t)value_length) <= dw_index_compact_limit(vde->block_size);
}

int dw_index_insert_compact(struct dw_vde *vde, const unsigned char *key, uint32_t key_length,
                            const dw_index_hit *object, const unsigned char *value, dw_diag *diag)
{
    DW_ASSERT(dw_index_compact_fits(vde, key_length, object->value_length));
    DW_ASSERT(object->value_length == 0 || value != NULL);
    entry_ref entry = {.key = key, .key_length = key_length, .generation = object->generation, .compact = true,
                       .value_length = object->value_length, .object = value, .ctime_ns = object->ctime_ns,
                       .mtime_ns = object->mtime_ns};
    return insert_entry(vde, &entry, diag);
}

int dw_index_remove(struct dw_vde *vde, const unsigned char *key, uint32_t key_length, dw_diag *diag)
{
    DW_ASSERT(vde->txn_open);
    if (vde->state.index_root == 0) {
        return DW_ENOENT;
    }
    tree_path path;
    dw_page *page = NULL;
    dw_index_header header;
    int result = find_leaf(vde, key, key_length, &path, &page, &header, diag);
    if (result != DW_OK) {
        return result;
    }
    uint64_t leaf_block = path.steps[path.height - 1].block;
    bool equal = false;
    uint32_t position = leaf_position(page->data, header.count, key, key_length, &equal);
    if (!equal) {
        dw_cache_unpin(&vde->cache, page);
        return DW_ENOENT;
    }
    result = dw_cache_modify(&vde->cache, page, vde->txn_generation, diag);
    if (result != DW_OK) {
        dw_cache_unpin(&vde->cache, page);
        return result;
    }
    entry_ref *entries = vde->index.entries;
    uint32_t count = gather(vde, page, &header, entries);
    memmove(entries + position, entries + position + 1, (count - position - 1) * sizeof entries[0]);
    count--;
    change below = {.kind = CHANGE_CHILD};
    if (count == 0) {
        dw_cache_discard(&vde->cache, page);
        dw_cache_unpin(&vde->cache, page);
        result = dw_free_blocks(vde, leaf_block, 1, DW_FREE_METADATA, diag);
        below.kind = CHANGE_REMOVED;
    } else {
        lay_out(vde, page, 0, 0, 0, entries, count);
        dw_cache_unpin(&vde->cache, page);
    }
    if (result != DW_OK) {
        return result;
    }
    return propagate(vde, &path, &below, diag);
}

/* From the leaf at the end of `path`, the next leaf to the right (DW_ENOENT at the end). */
static int next_leaf(struct dw_vde *vde, tree_path *path, dw_diag *diag)
{
    uint32_t depth = path->height - 1;
    while (depth-- > 0) {
        path_step *step = &path->steps[depth];
        uint32_t level = path->height - 1 - depth;
        dw_page *page = NULL;
        dw_index_header header;
        int result = read_node(vde, step->block, step->generation, level, &page, &header, diag);
        if (result != DW_OK) {
            return result;
        }
        if (step->child + 1 < (int32_t)header.count) {
            step->child++;
            uint64_t block = 0;
            uint32_t generation = 0;
            child_of(page->data, &header, step->child, &block, &generation);
            dw_cache_unpin(&vde->cache, page);
            /* Down the leftmost edge to a leaf. */
            for (uint32_t below = depth + 1; below < path->height; below++) {
                path->steps[below] = (path_step){.block = block, .generation = generation, .child = -1};
                uint32_t below_level = path->height - 1 - below;
                if (below_level == 0) {
                    break;
                }
                dw_page *child_page = NULL;
                dw_index_header child_header;
                result = read_node(vde, block, generation, below_level, &child_page, &child_header, diag);
                if (result != DW_OK) {
                    return result;
                }
                block = child_header.leftmost;
                generation = child_header.leftmost_generation;
                dw_cache_unpin(&vde->cache, child_page);
            }
            return DW_OK;
        }
        dw_cache_unpin(&vde->cache, page);
    }
    return DW_ENOENT;
}

int dw_index_seek(struct dw_vde *vde, const unsigned char *from, uint32_t from_length, bool inclusive,
                  unsigned char *key, uint32_t *key_length, dw_index_hit *hit, dw_diag *diag)
{
    memset(hit, 0, sizeof *hit);
    if (vde->state.index_root == 0) {
        return DW_ENOENT;
    }
    tree_path path;
    dw_page *page = NULL;
    dw_index_header header;
    int result = find_leaf(vde, from, from_length, &path, &page, &header, diag);
    /* The tree has at most DW_INDEX_HEIGHT_MAX levels and each leaf is visited once:
     * empty leaves do not exist, so the second leaf always has an entry. */
    for (uint32_t visits = 0; result == DW_OK && visits < 2; visits++) {
        if (visits > 0) {
            path_step *leaf = &path.steps[path.height - 1];
            result = read_node(vde, leaf->block, leaf->generation, 0, &page, &header, diag);
            if (result != DW_OK) {
                return result;
            }
        }
        bool equal = false;
        uint32_t position = visits == 0 ? leaf_position(page->data, header.count, from, from_length, &equal) : 0;
        if (equal && !inclusive) {
            position++;
        }
        if (position < header.count) {
            dw_leaf_entry entry;
            dw_index_leaf_decode(dw_index_entry(page->data, position), &entry);
            *key_length = entry.key_length;
            memcpy(key, entry.key, entry.key_length);
            hit_of(&entry, hit);
            dw_cache_unpin(&vde->cache, page);
            return DW_OK;
        }
        dw_cache_unpin(&vde->cache, page);
        result = next_leaf(vde, &path, diag);
    }
    return result;
}
