/*
 * index_fixture.h — the key index (src/vde/btree.c) driven directly and checked against a
 * model: a sorted array of keys, each with what it maps to (an inode number and
 * generation, or a compact object: generation, times and a value). Shared by the unit
 * test (tests/unit/test_btree.c) and the fuzz target (tests/fuzz/fuzz_btree.c), so it
 * uses neither cmocka nor the harness: a disagreement returns INDEX_MISMATCH with the
 * details in fixture->problem, and the caller fails in its own way.
 *
 * The index functions take a whole struct dw_vde; the fixture plays the part of the
 * layer above (ops.c): it takes the writer lock, opens a transaction, calls the index,
 * keeps the engine state's object count, and commits or aborts. An inode entry here
 * names no real inode (the index never reads one), so a VDE with inode entries does not
 * verify clean: index_fixture_make_verifiable turns them into compact objects first.
 *
 * The model's key order is written out here, not taken from the engine
 * (dw_key_compare), so that a wrong order in the engine cannot agree with itself.
 */
#ifndef DW_TEST_INDEX_FIXTURE_H
#define DW_TEST_INDEX_FIXTURE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vde/engine.h"
#include "vde/vde_internal.h"

/* The longest key the model holds: a quarter of a 4 KiB block, the most a VDE of 4 KiB
 * blocks allows (limits.key_length_max). */
#define INDEX_KEY_MAX 1024u
/* The largest compact value of any block size up to 64 KiB, and then some. */
#define INDEX_VALUE_MAX 16384u
/* A disagreement with the model (engine results are DW_OK or negative). */
#define INDEX_MISMATCH 1

/* What a key maps to. A compact object's value is `value_length` bytes generated from
 * `value_seed`, so the model keeps no values. */
typedef struct index_object {
    bool compact;
    uint64_t inode;                 /* inode entries: not 0 */
    uint32_t generation;
    uint32_t value_length;          /* compact objects only, as are the rest */
    uint64_t ctime_ns;
    uint64_t mtime_ns;
    uint64_t value_seed;
} index_object;

typedef struct index_model_entry {
    uint32_t key_length;
    index_object object;
    unsigned char key[INDEX_KEY_MAX];
} index_model_entry;

/* What the tree went through, so that a test can show it reached what it meant to. */
typedef struct index_coverage {
    uint32_t height_max;
    uint64_t root_splits;           /* the height grew */
    uint64_t root_collapses;        /* the height shrank, the tree not emptied */
    uint64_t emptied;               /* the last key went: no root at all */
    uint64_t inserts;
    uint64_t replaces;
    uint64_t kind_changes;          /* a replace from compact to inode entry or back */
    uint64_t removes;
    uint64_t absent_removes;
    uint64_t commits;
    uint64_t aborts;
    uint64_t walks;
    uint32_t key_length_longest;
    uint32_t value_length_longest;
} index_coverage;

typedef struct index_fixture {
    struct dw_vde *vde;             /* set by the caller after each open */
    dw_diag diag;
    uint32_t key_length_max;        /* the VDE's limit, read at attach */
    uint32_t entries_max;           /* the model's capacity */
    uint32_t count;
    index_model_entry *entries;     /* sorted, by index_key_compare */
    uint32_t saved_count;           /* the model when the transaction began */
    index_model_entry *saved;
    bool txn_open;
    bool txn_failed;                /* an index call failed: only an abort may follow */
    uint32_t height_before;
    index_coverage coverage;
    unsigned char *found[2];        /* key_length_max bytes each: seek results */
    unsigned char *value;           /* INDEX_VALUE_MAX: a value being written */
    unsigned char *back;            /* INDEX_VALUE_MAX + 16: a value read back, and a canary */
    char problem[1024];
} index_fixture;

static inline int index_mismatch(index_fixture *f, const char *format, ...) __attribute__((format(printf, 2, 3)));

static inline int index_mismatch(index_fixture *f, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    (void)vsnprintf(f->problem, sizeof f->problem, format, arguments);
    va_end(arguments);
    return INDEX_MISMATCH;
}

/* ---- the model ------------------------------------------------------------------------ */

/* Bytewise, a key before every longer key it is a prefix of (FORMAT.md §8). */
static inline int index_key_compare(const unsigned char *a, uint32_t a_length, const unsigned char *b,
                                    uint32_t b_length)
{
    for (uint32_t i = 0; i < a_length && i < b_length; i++) {
        if (a[i] != b[i]) {
            return a[i] < b[i] ? -1 : 1;
        }
    }
    return a_length < b_length ? -1 : a_length > b_length ? 1 : 0;
}

/* The first model position whose key is >= key; *equal when it is that key. */
static inline uint32_t index_model_position(const index_fixture *f, const unsigned char *key, uint32_t key_length,
                                            bool *equal)
{
    uint32_t low = 0;
    uint32_t high = f->count;
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        const index_model_entry *entry = &f->entries[middle];
        if (index_key_compare(entry->key, entry->key_length, key, key_length) < 0) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    *equal = low < f->count &&
             index_key_compare(f->entries[low].key, f->entries[low].key_length, key, key_length) == 0;
    return low;
}

static inline const index_model_entry *index_model_find(const index_fixture *f, const unsigned char *key,
                                                        uint32_t key_length)
{
    bool equal = false;
    uint32_t position = index_model_position(f, key, key_length, &equal);
    return equal ? &f->entries[position] : NULL;
}

static inline void index_value_fill(unsigned char *buffer, uint32_t length, uint64_t seed)
{
    for (uint32_t i = 0; i < length; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        buffer[i] = (unsigned char)(seed >> 56);
    }
}

/* ---- setting up ------------------------------------------------------------------------ */

/* Memory for a model of up to entries_max keys; false when it cannot be had. */
static inline bool index_fixture_init(index_fixture *f, uint32_t entries_max)
{
    memset(f, 0, sizeof *f);
    f->entries_max = entries_max;
    f->entries = calloc(entries_max, sizeof *f->entries);
    f->saved = calloc(entries_max, sizeof *f->saved);
    f->found[0] = malloc(INDEX_KEY_MAX);
    f->found[1] = malloc(INDEX_KEY_MAX);
    f->value = malloc(INDEX_VALUE_MAX);
    f->back = malloc(INDEX_VALUE_MAX + 16);
    dw_diag_clear(&f->diag);
    return f->entries != NULL && f->saved != NULL && f->found[0] != NULL && f->found[1] != NULL &&
           f->value != NULL && f->back != NULL;
}

static inline void index_fixture_free(index_fixture *f)
{
    free(f->entries);
    free(f->saved);
    free(f->found[0]);
    free(f->found[1]);
    free(f->value);
    free(f->back);
    memset(f, 0, sizeof *f);
}

/* After each open: the handle, and its key limit (the configuration's, which open makes
 * the superblock's). INDEX_MISMATCH when they differ or exceed what the model holds. */
static inline int index_fixture_attach(index_fixture *f, struct dw_vde *vde)
{
    f->vde = vde;
    f->key_length_max = vde->config.key_length_max;
    if (f->key_length_max != vde->super.extended.key_length_max || f->key_length_max > INDEX_KEY_MAX ||
        f->key_length_max == 0) {
        return index_mismatch(f, "key limits: configuration %u, superblock %u, model %u", vde->config.key_length_max,
                              vde->super.extended.key_length_max, INDEX_KEY_MAX);
    }
    f->height_before = vde->state.index_height;
    return DW_OK;
}

/* The largest compact value a key of this length may have in this VDE, found by asking
 * dw_index_compact_fits; -1 when not even an empty one fits. */
static inline int64_t index_fixture_compact_max(const index_fixture *f, uint32_t key_length)
{
    if (!dw_index_compact_fits(f->vde, key_length, 0)) {
        return -1;
    }
    uint64_t low = 0; /* fits */
    uint64_t high = INDEX_VALUE_MAX; /* does not, for blocks up to 64 KiB */
    while (high - low > 1) {
        uint64_t middle = low + (high - low) / 2;
        if (dw_index_compact_fits(f->vde, key_length, middle)) {
            low = middle;
        } else {
            high = middle;
        }
    }
    return (int64_t)low;
}

/* ---- transactions ------------------------------------------------------------------------ */

/* What the height did since the last look: a split root, a collapsed root, an emptied
 * tree. */
static inline void index_fixture_note_height(index_fixture *f)
{
    uint32_t height = f->vde->state.index_height;
    if (height > f->coverage.height_max) {
        f->coverage.height_max = height;
    }
    if (height > f->height_before) {
        f->coverage.root_splits++;
    } else if (height == 0 && f->height_before > 0) {
        f->coverage.emptied++;
    } else if (height < f->height_before) {
        f->coverage.root_collapses++;
    }
    f->height_before = height;
}

static inline int index_fixture_begin(index_fixture *f)
{
    if (f->txn_open) {
        return index_mismatch(f, "a transaction is open already");
    }
    dw_vde_writer_lock(f->vde);
    dw_vde_begin_io(f->vde, NULL);
    int result = dw_vde_txn_begin(f->vde, false, &f->diag);
    if (result != DW_OK) {
        dw_vde_writer_unlock(f->vde);
        return result;
    }
    memcpy(f->saved, f->entries, (size_t)f->count * sizeof *f->entries);
    f->saved_count = f->count;
    f->txn_open = true;
    f->txn_failed = false;
    return DW_OK;
}

static inline int index_fixture_commit(index_fixture *f)
{
    if (!f->txn_open || f->txn_failed) {
        return index_mismatch(f, "commit without a sound open transaction");
    }
    int result = dw_vde_txn_commit(f->vde, &f->diag);
    dw_vde_writer_unlock(f->vde);
    /* A strict commit becomes durable once the writer lock is let go (group commit). */
    result = dw_vde_commit_wait(f->vde, result, &f->diag);
    f->txn_open = false;
    f->coverage.commits++;
    if (result == DW_OK && f->vde->state.object_count != f->count) {
        return index_mismatch(f, "the engine state counts %llu objects, the model %u",
                              (unsigned long long)f->vde->state.object_count, f->count);
    }
    return result;
}

/* Back to the model as the transaction found it. */
static inline void index_fixture_abort(index_fixture *f)
{
    if (!f->txn_open) {
        return;
    }
    dw_vde_txn_abort(f->vde);
    dw_vde_writer_unlock(f->vde);
    memcpy(f->entries, f->saved, (size_t)f->saved_count * sizeof *f->entries);
    f->count = f->saved_count;
    f->txn_open = false;
    f->txn_failed = false;
    f->coverage.aborts++;
    f->height_before = f->vde->state.index_height;
}

/* ---- checks ------------------------------------------------------------------------------ */

/* Outside a transaction the checks read as a reader does (ops.c): with the state lock
 * shared. Returns whether it was taken, for index_read_end. */
static inline bool index_read_begin(index_fixture *f)
{
    if (f->txn_open) {
        return false;
    }
    dw_vde_begin_io(f->vde, NULL);
    return dw_vde_reader_lock(f->vde);
}

static inline void index_read_end(index_fixture *f, bool locked)
{
    dw_vde_reader_unlock(f->vde, locked);
}

static inline int index_check_hit(index_fixture *f, const char *what, const unsigned char *key, uint32_t key_length,
                                  const dw_index_hit *hit, const index_object *expected)
{
    if (!hit->found || hit->compact != expected->compact || hit->generation != expected->generation) {
        return index_mismatch(f, "%s of a %u-byte key (first byte 0x%02x): found %d compact %d generation %u; the "
                              "model has compact %d generation %u", what, key_length, key[0], hit->found,
                              hit->compact, hit->generation, expected->compact, expected->generation);
    }
    if (!expected->compact && hit->inode != expected->inode) {
        return index_mismatch(f, "%s of a %u-byte key: inode %llu, the model has %llu", what, key_length,
                              (unsigned long long)hit->inode, (unsigned long long)expected->inode);
    }
    if (expected->compact && (hit->inode != 0 || hit->value_length != expected->value_length ||
                              hit->ctime_ns != expected->ctime_ns || hit->mtime_ns != expected->mtime_ns)) {
        return index_mismatch(f, "%s of a %u-byte key: compact object inode %llu, %u bytes, times %llu %llu; the "
                              "model has %u bytes, times %llu %llu", what, key_length,
                              (unsigned long long)hit->inode, hit->value_length,
                              (unsigned long long)hit->ctime_ns, (unsigned long long)hit->mtime_ns,
                              expected->value_length, (unsigned long long)expected->ctime_ns,
                              (unsigned long long)expected->mtime_ns);
    }
    return DW_OK;
}

/* dw_index_find of one key, present or not, with the compact value copied from
 * [offset, offset + length) (clipped to the value): the bytes, and nothing beyond them. */
static inline int index_check_find_range(index_fixture *f, const unsigned char *key, uint32_t key_length,
                                         uint32_t offset, uint32_t length)
{
    const index_model_entry *expected = index_model_find(f, key, key_length);
    memset(f->back, 0xa5, INDEX_VALUE_MAX + 16);
    if (length > INDEX_VALUE_MAX) {
        length = INDEX_VALUE_MAX;
    }
    dw_index_copy copy = {.buffer = f->back, .offset = offset, .length = length};
    dw_index_hit hit;
    memset(&hit, 0x5a, sizeof hit);
    bool locked = index_read_begin(f);
    int result = dw_index_find(f->vde, key, key_length, &hit, &copy, &f->diag);
    index_read_end(f, locked);
    if (result != DW_OK) {
        return result;
    }
    if (expected == NULL) {
        return hit.found ? index_mismatch(f, "find of a %u-byte key the model does not have found it (compact %d)",
                                          key_length, hit.compact)
                         : DW_OK;
    }
    result = index_check_hit(f, "find", key, key_length, &hit, &expected->object);
    if (result != DW_OK) {
        return result;
    }
    uint32_t copied = 0;
    if (expected->object.compact && offset < expected->object.value_length) {
        copied = expected->object.value_length - offset < length ? expected->object.value_length - offset : length;
        index_value_fill(f->value, expected->object.value_length, expected->object.value_seed);
        if (memcmp(f->back, f->value + offset, copied) != 0) {
            return index_mismatch(f, "find of a %u-byte key: the compact value's bytes %u..%u differ", key_length,
                                  offset, offset + copied);
        }
    }
    for (uint32_t i = copied; i < copied + 16; i++) {
        if (f->back[i] != 0xa5) {
            return index_mismatch(f, "find of a %u-byte key wrote byte %u, past the %u it should copy", key_length,
                                  i, copied);
        }
    }
    return DW_OK;
}

static inline int index_check_find(index_fixture *f, const unsigned char *key, uint32_t key_length)
{
    return index_check_find_range(f, key, key_length, 0, INDEX_VALUE_MAX);
}

/* dw_index_seek from any key (of length 0 too), against the model's next key. */
static inline int index_check_seek(index_fixture *f, const unsigned char *from, uint32_t from_length, bool inclusive)
{
    bool equal = false;
    uint32_t position = index_model_position(f, from, from_length, &equal);
    if (equal && !inclusive) {
        position++;
    }
    uint32_t found_length = UINT32_MAX;
    dw_index_hit hit;
    bool locked = index_read_begin(f);
    int result = dw_index_seek(f->vde, from, from_length, inclusive, f->found[0], &found_length, &hit, &f->diag);
    index_read_end(f, locked);
    if (position == f->count) {
        if (result == DW_ENOENT && !hit.found) {
            return DW_OK;
        }
        return result != DW_OK ? result
                               : index_mismatch(f, "seek %s a %u-byte key found a %u-byte key past the model's last",
                                                inclusive ? "from" : "after", from_length, found_length);
    }
    if (result != DW_OK) {
        return result == DW_ENOENT ? index_mismatch(f, "seek %s a %u-byte key found nothing; the model has %u more",
                                                    inclusive ? "from" : "after", from_length, f->count - position)
                                   : result;
    }
    const index_model_entry *expected = &f->entries[position];
    if (found_length != expected->key_length ||
        index_key_compare(f->found[0], found_length, expected->key, expected->key_length) != 0) {
        return index_mismatch(f, "seek %s a %u-byte key found a %u-byte key; the model's next is entry %u of %u, "
                              "%u bytes", inclusive ? "from" : "after", from_length, found_length, position,
                              f->count, expected->key_length);
    }
    return index_check_hit(f, "seek", expected->key, expected->key_length, &hit, &expected->object);
}

/* The whole tree in order through dw_index_seek, each key and what it maps to, against
 * the model, and nothing after the last. Outside a transaction it reads as a reader. */
static inline int index_check_walk(index_fixture *f)
{
    bool locked = index_read_begin(f);
    f->coverage.walks++;
    const unsigned char *from = f->found[1];
    uint32_t from_length = 0;
    bool inclusive = true;
    int result = DW_OK;
    for (uint32_t i = 0; i <= f->count && result == DW_OK; i++) {
        unsigned char *key = f->found[i % 2];
        uint32_t key_length = 0;
        dw_index_hit hit;
        result = dw_index_seek(f->vde, from, from_length, inclusive, key, &key_length, &hit, &f->diag);
        if (i == f->count) {
            result = result == DW_ENOENT ? DW_OK
                     : result == DW_OK   ? index_mismatch(f, "the walk found a key after the model's %u", f->count)
                                         : result;
            break;
        }
        if (result == DW_ENOENT) {
            result = index_mismatch(f, "the walk ended after %u keys; the model has %u", i, f->count);
        } else if (result == DW_OK) {
            const index_model_entry *expected = &f->entries[i];
            if (key_length != expected->key_length ||
                index_key_compare(key, key_length, expected->key, expected->key_length) != 0) {
                result = index_mismatch(f, "walk: key %u of %u is %u bytes (first 0x%02x), the model's %u bytes "
                                        "(first 0x%02x)", i, f->count, key_length, key[0], expected->key_length,
                                        expected->key[0]);
            } else {
                result = index_check_hit(f, "walk", key, key_length, &hit, &expected->object);
            }
        }
        from = key;
        from_length = key_length;
        inclusive = false;
    }
    index_read_end(f, locked);
    return result;
}

/* Every model key found by dw_index_find. */
static inline int index_check_every_find(index_fixture *f)
{
    int result = DW_OK;
    for (uint32_t i = 0; i < f->count && result == DW_OK; i++) {
        result = index_check_find(f, f->entries[i].key, f->entries[i].key_length);
    }
    return result;
}

/* ---- changes ----------------------------------------------------------------------------- */

/* Inserts or replaces key -> object (an inode entry or a compact object) in the open
 * transaction, then the model, and checks the key reads back. An engine error leaves
 * the model as it was and the transaction to be aborted. */
static inline int index_fixture_insert(index_fixture *f, const unsigned char *key, uint32_t key_length,
                                       const index_object *object)
{
    if (!f->txn_open || f->txn_failed || key_length == 0 || key_length > f->key_length_max) {
        return index_mismatch(f, "insert of a %u-byte key without a sound transaction or out of limits", key_length);
    }
    bool equal = false;
    uint32_t position = index_model_position(f, key, key_length, &equal);
    if (!equal && f->count == f->entries_max) {
        return index_mismatch(f, "the model is full (%u keys)", f->entries_max);
    }
    int result;
    if (object->compact) {
        index_value_fill(f->value, object->value_length, object->value_seed);
        dw_index_hit hit = {.found = true, .compact = true, .generation = object->generation,
                            .value_length = object->value_length, .ctime_ns = object->ctime_ns,
                            .mtime_ns = object->mtime_ns};
        result = dw_index_insert_compact(f->vde, key, key_length, &hit, f->value, &f->diag);
    } else {
        result = dw_index_insert(f->vde, key, key_length, object->inode, object->generation, &f->diag);
    }
    if (result != DW_OK) {
        f->txn_failed = true;
        return result;
    }
    index_model_entry *entry = &f->entries[position];
    if (equal) {
        f->coverage.replaces++;
        if (entry->object.compact != object->compact) {
            f->coverage.kind_changes++;
        }
    } else {
        memmove(entry + 1, entry, (size_t)(f->count - position) * sizeof *entry);
        f->count++;
        f->vde->state.object_count++; /* as put_locked does for a new key */
        f->coverage.inserts++;
    }
    entry->key_length = key_length;
    memcpy(entry->key, key, key_length);
    entry->object = *object;
    if (key_length > f->coverage.key_length_longest) {
        f->coverage.key_length_longest = key_length;
    }
    if (object->compact && object->value_length > f->coverage.value_length_longest) {
        f->coverage.value_length_longest = object->value_length;
    }
    index_fixture_note_height(f);
    return index_check_find(f, key, key_length);
}

/* Removes a key: DW_OK when the model has it, DW_ENOENT when it does not (and then the
 * tree must be unchanged). */
static inline int index_fixture_remove(index_fixture *f, const unsigned char *key, uint32_t key_length)
{
    if (!f->txn_open || f->txn_failed) {
        return index_mismatch(f, "remove without a sound transaction");
    }
    bool equal = false;
    uint32_t position = index_model_position(f, key, key_length, &equal);
    int result = dw_index_remove(f->vde, key, key_length, &f->diag);
    if (!equal) {
        f->coverage.absent_removes++;
        return result == DW_ENOENT ? DW_OK
               : result == DW_OK   ? index_mismatch(f, "removed a %u-byte key the model does not have", key_length)
                                   : result;
    }
    if (result != DW_OK) {
        f->txn_failed = result != DW_ENOENT;
        return result == DW_ENOENT ? index_mismatch(f, "remove of a %u-byte key the model has: DW_ENOENT", key_length)
                                   : result;
    }
    memmove(&f->entries[position], &f->entries[position + 1], (size_t)(f->count - position - 1) * sizeof *f->entries);
    f->count--;
    f->vde->state.object_count--;
    f->coverage.removes++;
    index_fixture_note_height(f);
    if (f->count == 0 && (f->vde->state.index_root != 0 || f->vde->state.index_height != 0)) {
        return index_mismatch(f, "the last key is gone but the index has root %llu and %u levels",
                              (unsigned long long)f->vde->state.index_root, f->vde->state.index_height);
    }
    return index_check_find(f, key, key_length);
}

/* Turns every inode entry into a compact object (or removes it, when its key is too
 * long for one), a few a transaction, so that verify, which follows inode entries to
 * their inodes, can find the VDE clean. A transaction that outgrows the undo area
 * (DW_ENOSPC) is aborted and tried again with half as many changes. */
static inline int index_fixture_make_verifiable(index_fixture *f, uint32_t per_transaction)
{
    static unsigned char key[INDEX_KEY_MAX];
    uint32_t next = 0; /* entries before it are compact */
    for (;;) {
        while (next < f->count && f->entries[next].object.compact) {
            next++;
        }
        if (next == f->count) {
            return DW_OK;
        }
        int result = index_fixture_begin(f);
        for (uint32_t done = 0; result == DW_OK && done < per_transaction && next < f->count; done++) {
            const index_model_entry *entry = &f->entries[next];
            uint32_t key_length = entry->key_length;
            memcpy(key, entry->key, key_length);
            if (entry->object.compact) {
                next++;
            } else if (index_fixture_compact_max(f, key_length) < 0) {
                result = index_fixture_remove(f, key, key_length); /* the next entry moves here */
            } else {
                index_object object = {.compact = true, .generation = entry->object.generation | 1,
                                       .ctime_ns = entry->object.inode, .mtime_ns = key_length};
                result = index_fixture_insert(f, key, key_length, &object);
                next++;
            }
        }
        if (result == DW_OK) {
            result = index_fixture_commit(f);
        } else if (f->txn_open) {
            index_fixture_abort(f);
            if (result == DW_ENOSPC && per_transaction > 1) {
                per_transaction /= 2;
                next = 0;
                result = DW_OK;
            }
        }
        if (result == DW_OK) {
            result = index_check_walk(f);
        }
        if (result != DW_OK) {
            return result;
        }
    }
}

#endif /* DW_TEST_INDEX_FIXTURE_H */
