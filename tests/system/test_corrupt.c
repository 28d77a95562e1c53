/*
 * test_corrupt.c — the corruption campaign (issue 8, docs/RELIABILITY.md). A VDE on the
 * simulated disk holds every kind of block; a snapshot of it is kept, then it is changed
 * (replacements, deletions, new objects, a new tag) and closed. For every block type,
 * sampled used blocks are damaged four ways, one at a time:
 *   - one bit flipped;
 *   - one 512-byte sector zeroed;
 *   - a lost write: the block as it was in the snapshot (when it differs);
 *   - a misdirected write: another used block's bytes written over it.
 * Each time: verify names the block; a read-only open either refuses with a clean error
 * or serves every object with its exact bytes or DW_ECORRUPT, never other bytes (and a
 * damaged block on an object's read path makes at least one read fail); a damaged
 * superblock unit is repaired from the mirror by the next writable open, after which
 * verify finds nothing. Then the image is put back as it was.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/endian.h"
#include "vde/format.h"
#include "vde/vde_internal.h"
#include "vde_env.h"

#define DISK_BYTES (32u << 20)
#define BLOCK 4096u
#define SECTOR 512u
#define KEYS_MAX 2048
#define SAMPLES_PER_TYPE 12 /* times DW_TEST_SCALE */
#define VALUE_MAX 200000

/* ---- the model: what every key must read back as ------------------------------------ */

typedef struct object {
    char key[32];
    uint32_t size;
    uint64_t fill_seed;
    bool live;
} object;

typedef struct model {
    uint32_t count;
    object objects[KEYS_MAX];
} model;

static void model_put(model *m, const char *key, uint32_t size, uint64_t fill_seed)
{
    for (uint32_t i = 0; i < m->count; i++) {
        if (strcmp(m->objects[i].key, key) == 0) {
            m->objects[i] = (object){.size = size, .fill_seed = fill_seed, .live = true};
            (void)snprintf(m->objects[i].key, sizeof m->objects[i].key, "%s", key);
            return;
        }
    }
    assert_true(m->count < KEYS_MAX);
    object *o = &m->objects[m->count++];
    *o = (object){.size = size, .fill_seed = fill_seed, .live = true};
    (void)snprintf(o->key, sizeof o->key, "%s", key);
}

static void model_delete(model *m, const char *key)
{
    for (uint32_t i = 0; i < m->count; i++) {
        if (strcmp(m->objects[i].key, key) == 0) {
            m->objects[i].live = false;
        }
    }
}

static unsigned char value[VALUE_MAX];
static unsigned char back[VALUE_MAX];

static void put(env *e, model *m, const char *key, uint32_t size, uint64_t fill_seed)
{
    fill(value, size, fill_seed);
    OK(dw_put(e->vde, key, strlen(key), value, size, NULL, &e->diag));
    model_put(m, key, size, fill_seed);
}

static void delete(env *e, model *m, const char *key)
{
    OK(dw_delete(e->vde, key, strlen(key), NULL, &e->diag));
    model_delete(m, key);
}

/* ---- the campaign ---------------------------------------------------------------------- */

enum damage { BIT_FLIP, ZEROED_SECTOR, LOST_WRITE, MISDIRECTED_WRITE, DAMAGE_KINDS };
static const char *const damage_names[DAMAGE_KINDS] = {"bit flip", "zeroed sector", "lost write",
                                                       "misdirected write"};

static const uint32_t every_type[] = {
    DW_BLOCK_SUPER, DW_BLOCK_REGIONS, DW_BLOCK_EXTENDED, DW_BLOCK_ANCHOR, DW_BLOCK_EMERGENCY,
    DW_BLOCK_SENTINEL, DW_BLOCK_INODE_BITMAP, DW_BLOCK_INODES, DW_BLOCK_BITMAP, DW_BLOCK_INDEX_LEAF,
    DW_BLOCK_INDEX_BRANCH, DW_BLOCK_EXTENTS, DW_BLOCK_DATA,
};
#define TYPE_COUNT (sizeof every_type / sizeof every_type[0])

typedef struct tally {
    uint32_t injected[TYPE_COUNT][DAMAGE_KINDS];
    uint32_t not_applicable[TYPE_COUNT][DAMAGE_KINDS]; /* no older version that differs */
    uint32_t refused_open[TYPE_COUNT][DAMAGE_KINDS];
    uint32_t corrupt_reads[TYPE_COUNT][DAMAGE_KINDS];
    uint32_t repaired[TYPE_COUNT][DAMAGE_KINDS];
} tally;

typedef struct campaign {
    env *e;
    model m;
    unsigned char *old_image;       /* the durable image at the snapshot */
    unsigned char *pristine;        /* the durable image after the changes */
    block_list list;
    tally t;
    uint64_t seed;
} campaign;

static bool superblock_unit(uint32_t type)
{
    return type == DW_BLOCK_SUPER || type == DW_BLOCK_REGIONS || type == DW_BLOCK_EXTENDED ||
           type == DW_BLOCK_ANCHOR;
}

static bool on_read_path(uint32_t type)
{
    return type == DW_BLOCK_INODES || type == DW_BLOCK_INDEX_LEAF || type == DW_BLOCK_INDEX_BRANCH ||
           type == DW_BLOCK_EXTENTS || type == DW_BLOCK_DATA;
}

static void disk_write(env *e, uint64_t offset, const void *data, uint32_t length)
{
    dw_sim_result result = dw_sim_disk_write(&e->disk, offset, data, length);
    assert_int_equal(result.result, (int64_t)length);
    assert_int_equal(dw_sim_disk_sync(&e->disk).result, 0);
}

/* Puts back every block that differs from the pristine image. */
static void restore(campaign *c)
{
    const unsigned char *now = dw_sim_disk_durable(&c->e->disk);
    for (uint64_t offset = 0; offset < DISK_BYTES; offset += BLOCK) {
        if (memcmp(now + offset, c->pristine + offset, BLOCK) != 0) {
            disk_write(c->e, offset, c->pristine + offset, BLOCK);
        }
    }
}

static uint64_t next_random(campaign *c)
{
    return dw_test_random(&c->seed);
}

/* A used block other than list index i, of the same size, of the same type when there is
 * another: what a misdirected write meant for it lands on block i. */
static uint64_t other_block(campaign *c, uint32_t i)
{
    uint32_t other = i;
    for (uint32_t tries = 0; tries < 4 * c->list.count && other == i; tries++) {
        uint32_t j = (uint32_t)(next_random(c) % c->list.count);
        bool same_type = c->list.type[j] == c->list.type[i];
        if (c->list.blocks[j] == c->list.blocks[i] && j != i && (same_type || tries > c->list.count)) {
            other = j;
        }
    }
    assert_true(other != i);
    return c->list.block[other];
}

/* Damages `blocks` blocks from `block` (a block, or a superblock unit); `other` is the
 * block whose bytes a misdirected write puts there. False when the damage does not
 * apply: no older version of the block differs from it. */
static bool damage(campaign *c, uint64_t block, uint32_t blocks, enum damage kind, uint64_t other)
{
    uint64_t offset = block * BLOCK;
    uint32_t bytes = blocks * BLOCK;
    static unsigned char bytes_now[4 * BLOCK];
    assert_true(bytes <= sizeof bytes_now);
    memcpy(bytes_now, dw_sim_disk_durable(&c->e->disk) + offset, bytes);
    switch (kind) {
    case BIT_FLIP: {
        uint64_t r = next_random(c);
        bytes_now[(r >> 8) % bytes] ^= (unsigned char)(1u << (r % 8));
        break;
    }
    case ZEROED_SECTOR: {
        /* A sector that holds something: zeroing a zero sector changes nothing. */
        static const unsigned char zero[SECTOR];
        uint32_t sectors = bytes / SECTOR;
        uint32_t sector = (uint32_t)(next_random(c) % sectors);
        while (memcmp(bytes_now + (size_t)sector * SECTOR, zero, SECTOR) == 0) {
            sector = (sector + 1) % sectors;
        }
        memset(bytes_now + (size_t)sector * SECTOR, 0, SECTOR);
        break;
    }
    case LOST_WRITE:
        if (memcmp(c->old_image + offset, bytes_now, bytes) == 0) {
            return false;
        }
        memcpy(bytes_now, c->old_image + offset, bytes);
        break;
    case MISDIRECTED_WRITE:
        assert_true(other != block);
        memcpy(bytes_now, dw_sim_disk_durable(&c->e->disk) + other * BLOCK, bytes);
        break;
    default:
        fail();
    }
    disk_write(c->e, offset, bytes_now, bytes);
    return true;
}

/* Reads every object: each must come back exactly or fail with DW_ECORRUPT. Returns the
 * reads that failed. */
static uint32_t read_everything(campaign *c, dw_vde *vde, const char *what)
{
    uint32_t corrupt = 0;
    for (uint32_t k = 0; k < c->m.count; k++) {
        const object *o = &c->m.objects[k];
        size_t size = 0;
        int result = dw_get(vde, o->key, strlen(o->key), back, sizeof back, &size, NULL, &c->e->diag);
        if (result == DW_ECORRUPT) {
            corrupt++;
            continue;
        }
        if (!o->live) {
            if (result != DW_ENOENT) {
                fail_msg("%s: deleted key %s read as %s", what, o->key, dw_error_name(result));
            }
            continue;
        }
        if (result != DW_OK) {
            fail_msg("%s: key %s: %s (%s)", what, o->key, dw_error_name(result), c->e->diag.message);
        }
        fill(value, o->size, o->fill_seed);
        if (size != o->size || memcmp(back, value, size) != 0) {
            fail_msg("%s: key %s returned %zu bytes that are not its value (%u bytes)", what, o->key, size, o->size);
        }
    }
    return corrupt;
}

static void one_case(campaign *c, uint32_t t, uint32_t i, enum damage kind)
{
    env *e = c->e;
    char name[5];
    dw_block_type_text(every_type[t], name);
    char what[128];
    (void)snprintf(what, sizeof what, "%s of %s block %llu", damage_names[kind], name,
                   (unsigned long long)c->list.block[i]);
    uint64_t other = kind == MISDIRECTED_WRITE ? other_block(c, i) : 0;
    if (!damage(c, c->list.block[i], c->list.blocks[i], kind, other)) {
        c->t.not_applicable[t][kind]++;
        return;
    }
    c->t.injected[t][kind]++;
    /* verify names the block */
    const dw_verify_report *report = env_verify(e, NULL, NULL);
    bool named = false;
    char mention[40];
    (void)snprintf(mention, sizeof mention, "block %llu", (unsigned long long)c->list.block[i]);
    for (uint32_t p = 0; p < report->problems_kept && !named; p++) {
        uint64_t block = report->problems[p].block;
        const char *at = strstr(report->problems[p].what, mention);
        named = (block >= c->list.block[i] && block < c->list.block[i] + c->list.blocks[i]) ||
                (at != NULL && (at[strlen(mention)] < '0' || at[strlen(mention)] > '9'));
    }
    if (!named) {
        env_print_problems(report);
        fail_msg("verify did not name the %s", what);
    }
    /* a read-only open refuses cleanly, or serves exact bytes or DW_ECORRUPT */
    dw_vde_target target = e->target;
    target.read_only = true;
    dw_vde *vde = NULL;
    int result = dw_vde_open_at(e->path, &e->config, &target, &vde, &e->diag);
    if (result != DW_OK) {
        /* A refusal says what is damaged, and where. */
        char number[32];
        (void)snprintf(number, sizeof number, "%llu", (unsigned long long)c->list.block[i]);
        if ((result != DW_ECORRUPT && result != DW_EIO && result != DW_ETRUNCATED) ||
            strstr(e->diag.message, number) == NULL) {
            fail_msg("after the %s, open returned %s: %s", what, dw_error_name(result), e->diag.message);
        }
        c->t.refused_open[t][kind]++;
    } else {
        uint32_t corrupt = read_everything(c, vde, what);
        c->t.corrupt_reads[t][kind] += corrupt;
        assert_int_equal(dw_vde_close(vde, &e->diag), DW_OK);
        /* A block that no longer verifies fails every read through it. An older copy
         * (a lost write) may differ only where no live object reads it (a freed inode's
         * slot): reads then return the right bytes, which read_everything checked. */
        if (on_read_path(every_type[t]) && kind != LOST_WRITE && corrupt == 0) {
            fail_msg("the %s made no read fail", what);
        }
    }
    /* a damaged superblock unit: the next writable open repairs it from the mirror */
    if (superblock_unit(every_type[t])) {
        env_open(e);
        assert_int_equal(read_everything(c, e->vde, what), 0);
        env_close(e);
        const dw_verify_report *after = env_verify(e, NULL, NULL);
        if (after->problem_count != 0) {
            env_print_problems(after);
            fail_msg("the %s was not repaired by opening", what);
        }
        c->t.repaired[t][kind]++;
    }
    restore(c);
}

static void build(campaign *c)
{
    c->e = env_new(true, DISK_BYTES);
    env *e = c->e;
    model *m = &c->m;
    env_open(e);
    char key[32];
    /* Single-block objects, every other one deleted: holes for a fragmented value. */
    for (int i = 0; i < 64; i++) {
        (void)snprintf(key, sizeof key, "hole/%03d", i);
        put(e, m, key, 1000, (uint64_t)i);
    }
    for (int i = 0; i < 64; i += 2) {
        (void)snprintf(key, sizeof key, "hole/%03d", i);
        delete(e, m, key);
    }
    OK(dw_sync(e->vde, NULL, &e->diag));
    put(e, m, "fragmented", 200000, 99);
    dw_object_stat stat;
    OK(dw_stat(e->vde, "fragmented", 10, &stat, NULL, &e->diag));
    assert_true(stat.extent_count > 8);
    for (int i = 0; i < 1200; i++) {
        (void)snprintf(key, sizeof key, "sensor/%05d", i);
        put(e, m, key, i % 100 == 0 ? 9000 : (uint32_t)(i % 150), (uint64_t)i + 1000);
    }
    OK(dw_tag_set(e->vde, "fragmented", 10, "kind", "blob", NULL, &e->diag));
    env_close(e);
    c->old_image = malloc(DISK_BYTES);
    assert_non_null(c->old_image);
    memcpy(c->old_image, dw_sim_disk_durable(&e->disk), DISK_BYTES);
    /* The changes: replaced values (inline and in blocks), deletions, new objects. */
    env_open(e);
    for (int i = 0; i < 1200; i += 7) {
        (void)snprintf(key, sizeof key, "sensor/%05d", i);
        put(e, m, key, i % 14 == 0 ? 5000 : (uint32_t)(i % 90), (uint64_t)i + 5000);
    }
    for (int i = 3; i < 1200; i += 11) {
        (void)snprintf(key, sizeof key, "sensor/%05d", i);
        delete(e, m, key);
    }
    for (int i = 0; i < 40; i++) {
        (void)snprintf(key, sizeof key, "late/%03d", i);
        put(e, m, key, (uint32_t)(i * 300), (uint64_t)i + 9000);
    }
    put(e, m, "fragmented", 150000, 98);
    /* New holes, and a new value in more extents than its inode holds. */
    for (int i = 1; i < 64; i += 4) {
        (void)snprintf(key, sizeof key, "hole/%03d", i);
        delete(e, m, key);
    }
    OK(dw_sync(e->vde, NULL, &e->diag));
    put(e, m, "fragmented-2", 120000, 97);
    OK(dw_stat(e->vde, "fragmented-2", 12, &stat, NULL, &e->diag));
    assert_true(stat.extent_count > 8);
    OK(dw_tag_set(e->vde, "fragmented", 10, "kind", "smaller blob", NULL, &e->diag));
    env_close(e);
    c->pristine = malloc(DISK_BYTES);
    assert_non_null(c->pristine);
    memcpy(c->pristine, dw_sim_disk_durable(&e->disk), DISK_BYTES);
    c->list.count = 0;
    const dw_verify_report *report = env_verify(e, collect, &c->list);
    env_print_problems(report);
    assert_int_equal(report->problem_count, 0);
    c->seed = dw_test_seed();
}

static void every_damage_to_every_block_type_is_found(void **state)
{
    (void)state;
    static campaign c;
    memset(&c, 0, sizeof c);
    build(&c);
    uint32_t cases = 0;
    for (uint32_t t = 0; t < TYPE_COUNT; t++) {
        /* The blocks of this type; a sample of SAMPLES_PER_TYPE (the first, then random). */
        uint32_t of_type[BLOCK_LIST_MAX];
        uint32_t n = 0;
        for (uint32_t i = 0; i < c.list.count; i++) {
            if (c.list.type[i] == every_type[t]) {
                of_type[n++] = i;
            }
        }
        char name[5];
        dw_block_type_text(every_type[t], name);
        if (n == 0) {
            fail_msg("the VDE holds no %s block", name);
        }
        uint64_t wanted = SAMPLES_PER_TYPE * dw_test_scale();
        uint32_t samples = n < wanted ? n : (uint32_t)wanted;
        for (uint32_t s = 0; s < samples; s++) {
            uint32_t i = s == 0 || n <= wanted ? of_type[s] : of_type[next_random(&c) % n];
            for (int kind = 0; kind < DAMAGE_KINDS; kind++) {
                one_case(&c, t, i, (enum damage)kind);
                cases++;
            }
        }
    }
    /* The report: per type and damage, injected (and not applicable), refused opens,
     * reads that failed with DW_ECORRUPT. */
    uint32_t injected = 0;
    print_message("# type  injected: bit sector lost misdirected (lost n/a)  open refused  DW_ECORRUPT reads  repaired\n");
    for (uint32_t t = 0; t < TYPE_COUNT; t++) {
        char name[5];
        dw_block_type_text(every_type[t], name);
        uint32_t refused = 0;
        uint32_t reads = 0;
        uint32_t repaired = 0;
        for (int kind = 0; kind < DAMAGE_KINDS; kind++) {
            injected += c.t.injected[t][kind];
            refused += c.t.refused_open[t][kind];
            reads += c.t.corrupt_reads[t][kind];
            repaired += c.t.repaired[t][kind];
        }
        print_message("# %s  %8u %6u %4u %11u (%u)  %12u  %17u  %8u\n", name, c.t.injected[t][BIT_FLIP],
                      c.t.injected[t][ZEROED_SECTOR], c.t.injected[t][LOST_WRITE], c.t.injected[t][MISDIRECTED_WRITE],
                      c.t.not_applicable[t][LOST_WRITE], refused, reads, repaired);
    }
    print_message("# corruption campaign: %u cases, %u injected, every one named by verify\n", cases, injected);
    /* Lost writes must have had older versions to inject for the blocks that change. */
    for (uint32_t t = 0; t < TYPE_COUNT; t++) {
        uint32_t type = every_type[t];
        bool rewritten = type != DW_BLOCK_EMERGENCY && type != DW_BLOCK_SENTINEL;
        if (rewritten && c.t.injected[t][LOST_WRITE] == 0) {
            char name[5];
            dw_block_type_text(type, name);
            fail_msg("no lost write of a %s block was injected", name);
        }
    }
    assert_int_equal(env_verify(c.e, NULL, NULL)->problem_count, 0);
    free(c.old_image);
    free(c.pristine);
    env_free(c.e);
}

/* ---- the log of a crashed VDE ------------------------------------------------------------ */

/* The log blocks of a crashed VDE hold acknowledged commits no home block has yet. A
 * damaged block in any record but the newest must stop the open with DW_ECORRUPT naming
 * the block (recovery sees a later record, so committed data would otherwise be lost);
 * damage in the newest record cannot be told from a crash before it was written
 * (FORMAT.md §10): that record is cut off, and everything before it is intact. */
static void damage_to_the_log_of_a_crashed_vde_is_found(void **state)
{
    (void)state;
    static campaign c;
    memset(&c, 0, sizeof c);
    c.e = env_new(true, DISK_BYTES);
    env *e = c.e;
    env_open(e);
    char key[32];
    for (int i = 0; i < 200; i++) {
        (void)snprintf(key, sizeof key, "before/%03d", i);
        put(e, &c.m, key, (uint32_t)(i * 37 % 6000), (uint64_t)i);
    }
    env_close(e);
    c.old_image = malloc(DISK_BYTES);
    assert_non_null(c.old_image);
    memcpy(c.old_image, dw_sim_disk_durable(&e->disk), DISK_BYTES);
    env_open(e);
    static dw_vde_info info;
    uint64_t newest = 0;
    for (int i = 0; i < 40; i++) {
        (void)snprintf(key, sizeof key, "logged/%03d", i);
        dw_vde_info_read(e->vde, &info);
        newest = info.next_lsn;
        put(e, &c.m, key, (uint32_t)(i * 211 % 9000), (uint64_t)i + 500);
    }
    dw_vde_info_read(e->vde, &info);
    uint64_t first = info.checkpoint_lsn;
    uint64_t end = info.next_lsn;
    assert_true(first < newest && newest < end);
    uint64_t wal_start = 0;
    for (uint32_t r = 0; r < info.super.regions.count; r++) {
        wal_start = info.super.regions.slots[r].type == DW_REGION_WAL ? info.super.regions.slots[r].start : wal_start;
    }
    assert_true(wal_start != 0);
    dw_sim_disk_cut_power(&e->disk);
    (void)dw_vde_close(e->vde, &e->diag);
    e->vde = NULL;
    dw_sim_disk_power_on(&e->disk);
    c.pristine = malloc(DISK_BYTES);
    assert_non_null(c.pristine);
    memcpy(c.pristine, dw_sim_disk_durable(&e->disk), DISK_BYTES);
    c.seed = dw_test_seed();
    uint64_t wanted = 24 * dw_test_scale();
    uint32_t injected[DAMAGE_KINDS] = {0};
    uint32_t cut = 0;
    for (uint64_t n = 0; n < wanted && n < end - first; n++) {
        /* The first and last blocks of the range, the newest record's first, then random. */
        uint64_t lsn = n == 0 ? first : n == 1 ? end - 1 : n == 2 ? newest : first + next_random(&c) % (end - first);
        uint64_t block = wal_start + lsn % info.wal_blocks;
        for (int kind = 0; kind < DAMAGE_KINDS; kind++) {
            uint64_t other_lsn = first + next_random(&c) % (end - first);
            other_lsn = other_lsn == lsn ? (lsn + 1 < end ? lsn + 1 : first) : other_lsn;
            assert_true(damage(&c, block, 1, (enum damage)kind, wal_start + other_lsn % info.wal_blocks));
            injected[kind]++;
            char what[96];
            (void)snprintf(what, sizeof what, "%s of log block %llu (block %llu)", damage_names[kind],
                           (unsigned long long)lsn, (unsigned long long)block);
            dw_vde_target target = e->target;
            target.read_only = true;
            dw_vde *vde = NULL;
            int result = dw_vde_open_at(e->path, &e->config, &target, &vde, &e->diag);
            if (lsn < newest) {
                char mention[40];
                (void)snprintf(mention, sizeof mention, "block %llu,", (unsigned long long)block);
                if (result != DW_ECORRUPT || strstr(e->diag.message, mention) == NULL) {
                    fail_msg("after the %s, open returned %s: %s", what, dw_error_name(result), e->diag.message);
                }
            } else {
                /* The newest record is cut off: the last put is gone, the rest intact. */
                if (result != DW_OK) {
                    fail_msg("after the %s, open returned %s: %s", what, dw_error_name(result), e->diag.message);
                }
                object *last = &c.m.objects[c.m.count - 1];
                last->live = false;
                assert_int_equal(read_everything(&c, vde, what), 0);
                last->live = true;
                assert_int_equal(dw_vde_close(vde, &e->diag), DW_OK);
                cut++;
            }
            restore(&c);
        }
    }
    /* Undamaged, the log recovers every acknowledged put. */
    env_open(e);
    assert_int_equal(read_everything(&c, e->vde, "recovery"), 0);
    env_close(e);
    assert_int_equal(env_verify(e, NULL, NULL)->problem_count, 0);
    print_message("# log damage: %llu of the %llu log blocks recovery needs: %u bit flips, %u zeroed sectors, %u lost "
                  "writes, %u misdirected writes; %u in the newest record (cut off as a torn tail), the others "
                  "refused with DW_ECORRUPT naming the block\n",
                  (unsigned long long)(wanted < end - first ? wanted : end - first), (unsigned long long)(end - first),
                  injected[BIT_FLIP], injected[ZEROED_SECTOR], injected[LOST_WRITE], injected[MISDIRECTED_WRITE], cut);
    free(c.old_image);
    free(c.pristine);
    env_free(c.e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_damage_to_every_block_type_is_found),
        cmocka_unit_test(damage_to_the_log_of_a_crashed_vde_is_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
