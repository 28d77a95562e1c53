/*
 * fuzz_btree.c — libFuzzer target for the key index alone (fuzz-btree): the input is a
 * sequence of operations on dw_index_insert, dw_index_insert_compact, dw_index_remove,
 * dw_index_find and dw_index_seek inside transactions, each result checked against the
 * model of tests/common/index_fixture.h (the fixture test_btree.c uses).
 *
 * Input: a first byte choosing the VDE (bit 0 set: 512-byte blocks, keys up to 128
 * bytes; clear: 4 KiB blocks, keys up to 1,024), then operations, each an operation
 * byte and its arguments:
 *
 *   op % 10   0, 1 insert an inode entry     [key] [generation]
 *             2, 3 insert a compact object   [key] [size]  (an inode entry when too long)
 *             4    replace a key the model has with the other kind   [which] [size]
 *             5    remove a key              [key]
 *             6    find a key                [key] [offset]
 *             7    seek from a key           [key] [bounds]  (bit 0 inclusive, bit 1 empty)
 *             8    commit, walk the tree, begin again
 *             9    [how]: even, abort (the model goes back too); odd, commit, close,
 *                  reopen and compare
 *   [key]     op bit 7 clear: two bytes [length][pattern], length 0..127 giving 1..16 bytes
 *             and 128..255 spreading 1..key_length_max; the pattern's high nibble says
 *             how deep the key shares a run of 'a's, its low one the bytes after it.
 *             op bit 7 set: [length] and 1 + length % 32 literal bytes.
 *
 * After each change the key is found and the key after it sought; after each commit and
 * at the end the whole tree is walked; at the end the inode entries (which name no real
 * inodes) become compact objects, the VDE is closed and verify must find it clean. A
 * transaction that outgrows the undo area or the disk (DW_ENOSPC) is aborted, the
 * model with it. Any other error, any disagreement, a sanitizer report or a tripped
 * assertion is a crash. Each input starts from the same empty VDE on the simulated disk.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "index_fixture.h"
#include "io/sim_disk.h"
#include "vde/vde_internal.h"

#define DISK_BYTES (4u << 20)
#define PENDING_BYTES (1u << 20)
#define ENTRIES_MAX 4096u
#define OPERATIONS_MAX 4096u
#define IMAGES 2

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct image {
    dw_config config;
    unsigned char *snapshot;        /* the empty VDE each input starts from */
} image;

static dw_sim_disk disk;
static void *disk_memory;
static dw_vde_target target;
static image images[IMAGES];
static const image *current;            /* the image this input runs on */
static index_fixture fixture;
static const char PATH[] = "btree.dwvd";

typedef struct cursor {
    const uint8_t *data;
    size_t size;
    size_t at;
} cursor;

static void die(const char *what, int result)
{
    (void)fprintf(stderr, "fuzz-btree: %s: %s (%s)\n", what,
                  result == INDEX_MISMATCH ? fixture.problem : fixture.diag.message,
                  result == INDEX_MISMATCH ? "disagrees with the model" : dw_error_name(result));
    abort();
}

static void must(const char *what, int result)
{
    if (result != DW_OK) {
        die(what, result);
    }
}

/* ---- the base images ------------------------------------------------------------------ */

static void build_image(image *im, uint32_t block_size)
{
    dw_config_defaults(&im->config);
    im->config.block_size = block_size;
    im->config.key_length_max = block_size / 4 < INDEX_KEY_MAX ? block_size / 4 : INDEX_KEY_MAX;
    /* A small cache: index pages are evicted and read back, and a transaction of more
     * than 32 changed pages (a quarter) outgrows the undo area and is aborted. */
    im->config.wal_bytes = 1u << 20;
    im->config.cache_pages = 128;
    im->config.memory_ceiling_bytes = 16u << 20;
    im->config.buffer_count = 64;
    dw_sim_disk_init(&disk, disk_memory, DISK_BYTES, PENDING_BYTES, 1, NULL);
    dw_diag diag;
    dw_diag_clear(&diag);
    dw_create_options options = {.size_bytes = DISK_BYTES, .label = "fuzz btree"};
    if (dw_vde_create_at(PATH, &im->config, &options, &target, &diag) != DW_OK) {
        (void)fprintf(stderr, "fuzz-btree setup: create: %s\n", diag.message);
        abort();
    }
    im->snapshot = malloc(dw_sim_disk_snapshot_bytes(&disk));
    if (im->snapshot == NULL) {
        abort();
    }
    dw_sim_disk_snapshot(&disk, im->snapshot);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    disk_memory = malloc(dw_sim_disk_memory_bytes(DISK_BYTES, PENDING_BYTES));
    if (disk_memory == NULL || !index_fixture_init(&fixture, ENTRIES_MAX)) {
        abort();
    }
    target.sim_disk = &disk;
    build_image(&images[0], 4096);
    build_image(&images[1], 512);
    return 0;
}

/* ---- reading an input ----------------------------------------------------------------- */

static uint8_t next_byte(cursor *c)
{
    return c->at < c->size ? c->data[c->at++] : 0;
}

/* The key an operation names (see the top of the file), into key. */
static uint32_t read_key(cursor *c, uint8_t op, unsigned char *key)
{
    uint32_t max = fixture.key_length_max;
    uint8_t length_byte = next_byte(c);
    if ((op & 0x80) != 0) {
        uint32_t length = 1 + length_byte % 32u;
        length = length < max ? length : max;
        for (uint32_t i = 0; i < length; i++) {
            key[i] = next_byte(c);
        }
        return length;
    }
    uint8_t pattern = next_byte(c);
    uint32_t length = length_byte < 128 ? 1 + length_byte % 16u
                                        : 1 + (uint32_t)((uint64_t)(length_byte - 128u) * (max - 1) / 127);
    static const unsigned char letters[] = {0x00, 'a', 'b', 0xff};
    uint32_t shared = (uint32_t)(pattern >> 4) * length / 15;
    for (uint32_t i = 0; i < length; i++) {
        key[i] = i < shared ? 'a' : letters[((pattern & 15u) >> (i % 3)) & 3u];
    }
    return length;
}

/* A compact value's length from one byte: the top four bytes are the largest and the
 * three below it, the rest spread from 0. */
static uint32_t value_length_of(uint8_t byte, uint32_t largest)
{
    if (byte >= 252) {
        uint32_t below = 255u - byte;
        return below <= largest ? largest - below : 0;
    }
    return (uint32_t)((uint64_t)byte * (largest + 1) / 252);
}

/* ---- operations --------------------------------------------------------------------------- */

/* An engine error inside a transaction: DW_ENOSPC (the undo area or the disk is full)
 * aborts it, and the tree must be what it was; anything else is a bug. */
static void recover_or_die(const char *what, int result)
{
    if (result != DW_ENOSPC) {
        die(what, result);
    }
    index_fixture_abort(&fixture);
    must("walk after an abort", index_check_walk(&fixture));
    must("begin after an abort", index_fixture_begin(&fixture));
}

static void changed(const char *what, int result, const unsigned char *key, uint32_t key_length)
{
    if (result == DW_OK) {
        result = index_check_seek(&fixture, key, key_length, false);
    }
    if (result == INDEX_MISMATCH) {
        die(what, result);
    }
    if (result != DW_OK) {
        recover_or_die(what, result);
    }
}

/* Inserts an object; a compact one gets its length from size_byte, or becomes an inode
 * entry when its key is too long for any. */
static void insert(const unsigned char *key, uint32_t key_length, index_object *object, uint8_t size_byte)
{
    if (fixture.count == fixture.entries_max && index_model_find(&fixture, key, key_length) == NULL) {
        return; /* the model is full */
    }
    int64_t largest = index_fixture_compact_max(&fixture, key_length);
    if (object->compact && largest < 0) {
        object->compact = false;
        object->inode = object->inode != 0 ? object->inode : 1;
    }
    if (object->compact) {
        object->value_length = value_length_of(size_byte, (uint32_t)largest);
    }
    changed("insert", index_fixture_insert(&fixture, key, key_length, object), key, key_length);
}

/* Commit, close, reopen, compare, begin again. */
static void reopen(void)
{
    must("commit before reopening", index_fixture_commit(&fixture));
    dw_vde *vde = fixture.vde;
    fixture.vde = NULL;
    must("close", dw_vde_close(vde, &fixture.diag));
    must("reopen", dw_vde_open_at(PATH, &current->config, &target, &vde, &fixture.diag));
    must("attach", index_fixture_attach(&fixture, vde));
    must("walk after reopening", index_check_walk(&fixture));
    must("find after reopening", index_check_every_find(&fixture));
    must("begin", index_fixture_begin(&fixture));
}

static void run_one(cursor *c, uint8_t op, size_t position)
{
    static unsigned char key[INDEX_KEY_MAX];
    uint32_t kind = (op & 0x7fu) % 10;
    if (kind == 4) {
        uint8_t which = next_byte(c);
        uint8_t size = next_byte(c);
        if (fixture.count == 0) {
            return;
        }
        const index_model_entry *entry = &fixture.entries[which % fixture.count];
        uint32_t key_length = entry->key_length;
        memcpy(key, entry->key, key_length);
        index_object object = {.compact = !entry->object.compact, .inode = position + 1,
                               .generation = (entry->object.generation + 1) | 1, .ctime_ns = position,
                               .mtime_ns = ~(uint64_t)position, .value_seed = position};
        insert(key, key_length, &object, size);
        return;
    }
    if (kind == 8 || kind == 9) {
        uint8_t how = kind == 9 ? next_byte(c) : 0;
        if (kind == 9 && (how & 1) != 0) {
            reopen();
            return;
        }
        if (kind == 9) {
            index_fixture_abort(&fixture);
        } else {
            must("commit", index_fixture_commit(&fixture));
        }
        must("walk", index_check_walk(&fixture));
        must("begin", index_fixture_begin(&fixture));
        return;
    }
    uint32_t key_length = read_key(c, op, key);
    uint8_t argument = kind == 5 ? 0 : next_byte(c);
    switch (kind) {
    case 0:
    case 1: {
        index_object object = {.inode = ((uint64_t)argument << 56) | (position + 1),
                               .generation = (uint32_t)position * 2654435761u + argument};
        insert(key, key_length, &object, 0);
        break;
    }
    case 2:
    case 3: {
        index_object object = {.compact = true, .generation = ((uint32_t)position << 8 | argument) | 1,
                               .ctime_ns = position, .mtime_ns = argument, .value_seed = position};
        insert(key, key_length, &object, argument);
        break;
    }
    case 5:
        changed("remove", index_fixture_remove(&fixture, key, key_length), key, key_length);
        break;
    case 6:
        must("find", index_check_find_range(&fixture, key, key_length, argument, 1u << (argument % 12)));
        break;
    default:
        must("seek", index_check_seek(&fixture, key, (argument & 2) != 0 ? 0 : key_length, (argument & 1) != 0));
        break;
    }
}

/* Every inode entry becomes compact, the VDE is closed, and verify finds nothing. */
static void finish(void)
{
    must("commit at the end", index_fixture_commit(&fixture));
    must("walk at the end", index_check_walk(&fixture));
    must("find at the end", index_check_every_find(&fixture));
    must("make verifiable", index_fixture_make_verifiable(&fixture, 8));
    must("close", dw_vde_close(fixture.vde, &fixture.diag));
    fixture.vde = NULL;
    dw_vde_target for_verify = target;
    for_verify.verify = true;
    dw_vde *vde = NULL;
    must("open for verify", dw_vde_open_at(PATH, &current->config, &for_verify, &vde, &fixture.diag));
    static dw_verify_report report;
    memset(&report, 0, sizeof report);
    must("verify", dw_vde_verify_handle(vde, &report, &fixture.diag));
    must("close after verify", dw_vde_close(vde, &fixture.diag));
    if (report.problem_count != 0 || report.objects != fixture.count) {
        for (uint32_t i = 0; i < report.problems_kept; i++) {
            (void)fprintf(stderr, "fuzz-btree: verify: block %llu: %s\n", (unsigned long long)report.problems[i].block,
                          report.problems[i].what);
        }
        (void)fprintf(stderr, "fuzz-btree: verify found %llu problems and %llu objects; the model has %u keys\n",
                      (unsigned long long)report.problem_count, (unsigned long long)report.objects, fixture.count);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cursor c = {.data = data, .size = size, .at = 0};
    current = &images[next_byte(&c) & 1];
    dw_sim_disk_restore(&disk, current->snapshot);
    /* The model starts empty, as the image's index does. */
    fixture.count = 0;
    memset(&fixture.coverage, 0, sizeof fixture.coverage);
    dw_vde *vde = NULL;
    must("open", dw_vde_open_at(PATH, &current->config, &target, &vde, &fixture.diag));
    must("attach", index_fixture_attach(&fixture, vde));
    must("begin", index_fixture_begin(&fixture));
    for (uint32_t n = 0; c.at < c.size && n < OPERATIONS_MAX; n++) {
        size_t position = c.at;
        run_one(&c, next_byte(&c), position);
    }
    finish();
    return 0;
}
