/*
 * fuzz_vde.c — libFuzzer targets (issue 8, docs/RELIABILITY.md). One source, three
 * programs, chosen by FUZZ_TARGET:
 *
 *   fuzz-open  patches a cleanly closed VDE anywhere (superblock group, bitmaps, inode
 *              table, index, extents, data), then opens it, reads every key and
 *              iteration, makes one change, closes, and runs verify;
 *   fuzz-wal   patches only the log of a crashed VDE, so the open replays an arbitrary
 *              log; then the same as fuzz-open;
 *   fuzz-ops   patches the crashed VDE and runs an operation sequence drawn from the
 *              same input on it: puts, deletes, gets, reads at an offset, transactions,
 *              syncs, reopens.
 *
 * Input: a patch count byte, then patches of [flags u8][block u16][byte u16][length
 * u8][bytes]; flag bit 0 reseals the block's trailer after the patch (its type and
 * generation kept), so mutations reach the structure behind the checksum. fuzz-ops reads
 * operations from what follows the patches, three bytes each.
 *
 * The promise checked: whatever the bytes, the engine returns an error code or a result,
 * and never crashes, trips an assertion, leaks, or reads or writes out of bounds
 * (AddressSanitizer and UndefinedBehaviorSanitizer watch every run). Images are built
 * once on the simulated disk at start and restored before each input.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "io/sim_disk.h"
#include "vde/format.h"
#include "vde/vde_internal.h"

#define FUZZ_OPEN 1
#define FUZZ_WAL 2
#define FUZZ_OPS 3

#define DISK_BYTES (4u << 20)
#define PENDING_BYTES (1u << 20)
#define BLOCK 4096u
#define KEYS 48
#define VALUE_MAX 20000

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static dw_sim_disk disk;
static void *disk_memory;
static unsigned char *base;            /* the snapshot each input starts from */
static dw_config config;
static dw_vde_target target;
static uint64_t wal_start;
static uint64_t wal_blocks;
static unsigned char value[VALUE_MAX];
static unsigned char back[VALUE_MAX];
static const char PATH[] = "fuzz.dwvd";

static void die(const char *what, const dw_diag *diag)
{
    (void)fprintf(stderr, "fuzz setup: %s: %s\n", what, diag->message);
    abort();
}

static void fill(unsigned char *buffer, size_t length, uint64_t seed)
{
    for (size_t i = 0; i < length; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        buffer[i] = (unsigned char)(seed >> 56);
    }
}

static void key_name(uint32_t k, char *key, size_t size)
{
    (void)snprintf(key, size, "obj/%02u", k % KEYS);
}

/* ---- the base image ------------------------------------------------------------------ */

static void build_base(void)
{
    dw_config_defaults(&config);
    config.wal_bytes = 512u << 10;
    config.cache_pages = 96;
    config.memory_ceiling_bytes = 16u << 20;
    config.buffer_count = 64;
    disk_memory = malloc(dw_sim_disk_memory_bytes(DISK_BYTES, PENDING_BYTES));
    if (disk_memory == NULL) {
        abort();
    }
    dw_sim_disk_init(&disk, disk_memory, DISK_BYTES, PENDING_BYTES, 1, NULL);
    target.sim_disk = &disk;
    dw_diag diag;
    dw_diag_clear(&diag);
    dw_create_options options = {.size_bytes = DISK_BYTES, .label = "fuzz"};
    if (dw_vde_create_at(PATH, &config, &options, &target, &diag) != DW_OK) {
        die("create", &diag);
    }
    dw_vde *vde = NULL;
    if (dw_vde_open_at(PATH, &config, &target, &vde, &diag) != DW_OK) {
        die("open", &diag);
    }
    char key[16];
    /* Inline values, values of several blocks, deletions, a tag. */
    for (uint32_t k = 0; k < KEYS; k++) {
        key_name(k, key, sizeof key);
        size_t length = (k * 1237u) % (k % 5 == 0 ? VALUE_MAX : 300);
        fill(value, length, k);
        if (dw_put(vde, key, strlen(key), value, length, NULL, &diag) != DW_OK) {
            die("put", &diag);
        }
    }
    for (uint32_t k = 3; k < KEYS; k += 7) {
        key_name(k, key, sizeof key);
        (void)dw_delete(vde, key, strlen(key), NULL, &diag);
    }
    key_name(5, key, sizeof key);
    (void)dw_tag_set(vde, key, strlen(key), "kind", "fuzz", NULL, &diag);
    if (FUZZ_TARGET != FUZZ_OPEN) {
        /* Crashed with records in the log that no checkpoint covers. */
        dw_vde_close(vde, &diag);
        if (dw_vde_open_at(PATH, &config, &target, &vde, &diag) != DW_OK) {
            die("reopen", &diag);
        }
        for (uint32_t k = 0; k < 12; k++) {
            key_name(k * 3, key, sizeof key);
            size_t length = (k * 911u) % 9000;
            fill(value, length, k + 100);
            (void)dw_put(vde, key, strlen(key), value, length, NULL, &diag);
        }
        static dw_vde_info info;
        dw_vde_info_read(vde, &info);
        wal_blocks = info.wal_blocks;
        for (uint32_t r = 0; r < info.super.regions.count; r++) {
            if (info.super.regions.slots[r].type == DW_REGION_WAL) {
                wal_start = info.super.regions.slots[r].start;
            }
        }
        dw_sim_disk_cut_power(&disk);
        (void)dw_vde_close(vde, &diag);
        dw_sim_disk_power_on(&disk);
    } else if (dw_vde_close(vde, &diag) != DW_OK) {
        die("close", &diag);
    }
    base = malloc(dw_sim_disk_snapshot_bytes(&disk));
    if (base == NULL) {
        abort();
    }
    dw_sim_disk_snapshot(&disk, base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    build_base();
    return 0;
}

/* ---- applying an input ---------------------------------------------------------------- */

/* Applies the patches; returns the bytes consumed. */
static size_t apply_patches(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    uint32_t count = data[0] % 9;
    size_t at = 1;
    uint64_t blocks = DISK_BYTES / BLOCK;
    static unsigned char block[BLOCK];
    for (uint32_t p = 0; p < count && at + 6 <= size; p++) {
        uint8_t flags = data[at];
        uint64_t number = (uint64_t)data[at + 1] | (uint64_t)data[at + 2] << 8;
        uint32_t byte = ((uint32_t)data[at + 3] | (uint32_t)data[at + 4] << 8) % BLOCK;
        uint32_t length = data[at + 5];
        at += 6;
        if (length > size - at) {
            length = (uint32_t)(size - at);
        }
        if (length > BLOCK - byte) {
            length = BLOCK - byte;
        }
        number = FUZZ_TARGET == FUZZ_WAL ? wal_start + number % wal_blocks : number % blocks;
        uint64_t offset = number * BLOCK;
        memcpy(block, dw_sim_disk_durable(&disk) + offset, BLOCK);
        memcpy(block + byte, data + at, length);
        at += length;
        if ((flags & 1) != 0) {
            dw_trailer_seal(block, BLOCK, offset, dw_trailer_type(block, BLOCK), dw_trailer_generation(block, BLOCK));
        }
        (void)dw_sim_disk_write(&disk, offset, block, BLOCK);
    }
    (void)dw_sim_disk_sync(&disk);
    return at;
}

/* Reads what the VDE says it holds; every call may fail, none may crash. */
static void read_everything(dw_vde *vde, dw_diag *diag)
{
    char key[16];
    for (uint32_t k = 0; k < KEYS; k++) {
        key_name(k, key, sizeof key);
        size_t length = 0;
        (void)dw_get(vde, key, strlen(key), back, sizeof back, &length, NULL, diag);
        dw_object_stat stat;
        (void)dw_stat(vde, key, strlen(key), &stat, NULL, diag);
        char tags[256];
        (void)dw_tags(vde, key, strlen(key), tags, sizeof tags, NULL, diag);
    }
    dw_iter *iter = NULL;
    if (dw_iter_open(vde, "obj/", 4, &iter, diag) == DW_OK) {
        char name[256];
        size_t name_length = 0;
        dw_object_stat stat;
        for (int i = 0; i < 4 * KEYS && dw_iter_next(iter, name, sizeof name, &name_length, &stat, diag) == DW_OK;
             i++) {
        }
        dw_iter_close(iter);
    }
}

static void verify(dw_diag *diag)
{
    dw_vde_target for_verify = target;
    for_verify.verify = true;
    dw_vde *vde = NULL;
    if (dw_vde_open_at(PATH, &config, &for_verify, &vde, diag) == DW_OK) {
        static dw_verify_report report;
        memset(&report, 0, sizeof report);
        (void)dw_vde_verify_handle(vde, &report, diag);
        (void)dw_vde_close(vde, diag);
    }
}

/* Runs the operations, three bytes each: kind, key, size. */
static void run_operations(dw_vde **vde, const uint8_t *data, size_t size, dw_diag *diag)
{
    char key[16];
    for (size_t at = 0; at + 3 <= size && *vde != NULL; at += 3) {
        uint32_t k = data[at + 1];
        size_t length = (size_t)data[at + 2] * 78; /* < VALUE_MAX */
        key_name(k, key, sizeof key);
        fill(value, length, at);
        switch (data[at] % 8) {
        case 0:
        case 1:
            (void)dw_put(*vde, key, strlen(key), value, length, NULL, diag);
            break;
        case 2:
            (void)dw_delete(*vde, key, strlen(key), NULL, diag);
            break;
        case 3: {
            size_t got = 0;
            (void)dw_get(*vde, key, strlen(key), back, sizeof back, &got, NULL, diag);
            break;
        }
        case 4: {
            size_t got = 0;
            (void)dw_read(*vde, key, strlen(key), length, back, 3000, &got, NULL, diag);
            break;
        }
        case 5: {
            dw_txn *txn = NULL;
            if (dw_txn_begin(*vde, &txn, diag) == DW_OK) {
                int result = dw_txn_put(txn, key, strlen(key), value, length, diag);
                key_name(k + 1, key, sizeof key);
                if (result == DW_OK) {
                    result = dw_txn_delete(txn, key, strlen(key), diag);
                }
                if (result == DW_OK || result == DW_ENOENT) {
                    (void)dw_txn_commit(txn, NULL, diag);
                } else {
                    dw_txn_abort(txn);
                }
            }
            break;
        }
        case 6:
            (void)dw_sync(*vde, NULL, diag);
            break;
        default:
            (void)dw_vde_close(*vde, diag);
            *vde = NULL;
            (void)dw_vde_open_at(PATH, &config, &target, vde, diag);
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dw_sim_disk_restore(&disk, base);
    size_t used = apply_patches(data, size);
    dw_diag diag;
    dw_diag_clear(&diag);
    dw_vde *vde = NULL;
    if (dw_vde_open_at(PATH, &config, &target, &vde, &diag) != DW_OK) {
        return 0;
    }
    if (FUZZ_TARGET == FUZZ_OPS) {
        run_operations(&vde, data + used, size - used, &diag);
    } else {
        read_everything(vde, &diag);
        char key[16];
        key_name(1, key, sizeof key);
        fill(value, 5000, 7);
        (void)dw_put(vde, key, strlen(key), value, 5000, NULL, &diag);
    }
    if (vde != NULL) {
        (void)dw_vde_close(vde, &diag);
    }
    verify(&diag);
    return 0;
}
