/*
 * btree.h — the key index's working memory and key order (see btree.c).
 */
#ifndef DW_VDE_BTREE_H
#define DW_VDE_BTREE_H

#include <stdint.h>

/* Levels the index may have. A node holds at least three entries of the longest key, and
 * a branch split leaves each half at least one, so with keys near the limit a branch may
 * have only two children and 16 levels bound the index at tens of thousands of such
 * keys; a put that would grow it further fails with DW_ENOSPC ("use shorter keys").
 * With keys of tens of bytes a branch has a hundred children and more, and 16 levels
 * hold more keys than any VDE has blocks. */
#define DW_INDEX_HEIGHT_MAX 16

struct entry_ref;

/* Scratch memory for rewriting nodes, laid out at open. */
typedef struct dw_index_scratch {
    unsigned char *node_copy;       /* one block */
    struct entry_ref *entries;      /* room for a node's entries and one more */
    unsigned char *separators[2];   /* keys carried up during splits */
    unsigned char *compact_value;   /* a compact object's value, moved into an inode */
    uint32_t entries_max;
    uint32_t key_length_max;
} dw_index_scratch;

uint64_t dw_index_scratch_bytes(uint32_t block_size, uint32_t key_length_max);
void dw_index_scratch_init(dw_index_scratch *scratch, void *memory, uint32_t block_size, uint32_t key_length_max);

/* Bytewise order; a key sorts before every longer key it is a prefix of. */
int dw_key_compare(const unsigned char *a, uint32_t a_length, const unsigned char *b, uint32_t b_length);

#endif /* DW_VDE_BTREE_H */
