/*
 * vde_env.h — a VDE for a test: created on the simulated disk or in a temporary file,
 * opened, closed and removed, with the OK() check that prints the engine's message.
 * Shared by the object store's unit tests (test_vde.c, test_verify.c, test_btree.c) and
 * its system tests (tests/system).
 */
#ifndef DW_TEST_VDE_ENV_H
#define DW_TEST_VDE_ENV_H

#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "io/sim_disk.h"
#include "vde/vde_internal.h"

#define SIM_PENDING_BYTES (8u << 20)

typedef struct env {
    bool sim;
    dw_sim_disk disk;
    void *disk_memory;
    dw_vde_target target;
    dw_test_dir dir;
    char path[512];
    dw_config config;
    dw_vde *vde;
    dw_diag diag;
} env;

/* A new VDE; `tune`, when given, changes the configuration before it is created. */
static inline env *env_new_tuned(bool sim, uint64_t size_bytes, void (*tune)(dw_config *config))
{
    env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->sim = sim;
    dw_test_dir_create(&e->dir);
    dw_test_path(&e->dir, "test.dwvd", e->path, sizeof e->path);
    dw_config_defaults(&e->config);
    e->config.wal_bytes = 2u << 20;
    e->config.group_bytes = 4u << 20;
    e->config.cache_pages = 256;
    e->config.memory_ceiling_bytes = 32u << 20;
    e->config.buffer_count = 256;
    if (tune != NULL) {
        tune(&e->config);
    }
    if (sim) {
        e->disk_memory = malloc(dw_sim_disk_memory_bytes(size_bytes, SIM_PENDING_BYTES));
        assert_non_null(e->disk_memory);
        dw_sim_disk_init(&e->disk, e->disk_memory, size_bytes, SIM_PENDING_BYTES, dw_test_seed(), NULL);
        e->target.sim_disk = &e->disk;
    }
    dw_diag_clear(&e->diag);
    dw_create_options options = {.size_bytes = size_bytes, .label = "unit test"};
    int result = dw_vde_create_at(e->path, &e->config, &options, &e->target, &e->diag);
    if (result != DW_OK) {
        fail_msg("create: %s", e->diag.message);
    }
    return e;
}

static inline env *env_new(bool sim, uint64_t size_bytes)
{
    return env_new_tuned(sim, size_bytes, NULL);
}

static inline void env_open(env *e)
{
    int result = dw_vde_open_at(e->path, &e->config, &e->target, &e->vde, &e->diag);
    if (result != DW_OK) {
        fail_msg("open: %s (%s)", e->diag.message, dw_error_name(result));
    }
}

static inline void env_close(env *e)
{
    if (e->vde != NULL) {
        int result = dw_vde_close(e->vde, &e->diag);
        e->vde = NULL;
        if (result != DW_OK) {
            fail_msg("close: %s", e->diag.message);
        }
    }
}

static inline void env_free(env *e)
{
    env_close(e);
    free(e->disk_memory);
    dw_test_dir_remove(&e->dir);
    free(e);
}

/* Opens the closed VDE for verify, runs it, closes it; returns the report (static: it is
 * large). `visit`, when given, sees every block found sound. */
static inline const dw_verify_report *env_verify(env *e, void (*visit)(void *, uint64_t, uint32_t, uint32_t),
                                                 void *context)
{
    static dw_verify_report report;
    memset(&report, 0, sizeof report);
    report.visit = visit;
    report.context = context;
    dw_vde_target target = e->target;
    target.verify = true;
    dw_vde *vde = NULL;
    int result = dw_vde_open_at(e->path, &e->config, &target, &vde, &e->diag);
    if (result != DW_OK) {
        fail_msg("open for verify: %s", e->diag.message);
    }
    result = dw_vde_verify_handle(vde, &report, &e->diag);
    if (result != DW_OK) {
        fail_msg("verify: %s", e->diag.message);
    }
    assert_int_equal(dw_vde_close(vde, &e->diag), DW_OK);
    return &report;
}

static inline void env_print_problems(const dw_verify_report *report)
{
    for (uint32_t i = 0; i < report->problems_kept; i++) {
        print_message("#   block %llu: %s\n", (unsigned long long)report->problems[i].block,
                      report->problems[i].what);
    }
}

/* The blocks a verify found sound, with their types (env_verify's `visit` is collect). */
#define BLOCK_LIST_MAX 65536
typedef struct block_list {
    uint32_t count;
    uint64_t block[BLOCK_LIST_MAX];
    uint32_t blocks[BLOCK_LIST_MAX];    /* 1, or a superblock unit's blocks */
    uint32_t type[BLOCK_LIST_MAX];
} block_list;

static inline void collect(void *context, uint64_t block, uint32_t count, uint32_t type)
{
    block_list *list = context;
    assert_true(list->count < BLOCK_LIST_MAX);
    list->block[list->count] = block;
    list->blocks[list->count] = count;
    list->type[list->count] = type;
    list->count++;
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        int ok_result_ = (call);                                                                   \
        if (ok_result_ != DW_OK) {                                                                 \
            fail_msg("%s: %s (%s)", #call, e->diag.message, dw_error_name(ok_result_));          \
        }                                                                                          \
    } while (0)

static inline void fill(unsigned char *buffer, size_t length, uint64_t seed)
{
    for (size_t i = 0; i < length; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        buffer[i] = (unsigned char)(seed >> 56);
    }
}

#endif /* DW_TEST_VDE_ENV_H */
