/*
 * kv_dwvd.c — dwvd behind the benchmark's interface.
 *
 * sync = vde.durability strict (the commit is on stable storage when dw_put returns);
 * relaxed = group (commits batched by the flusher, durable within vde.group_delay, 10 ms).
 * All threads share the one handle: the engine runs one call at a time and admits
 * waiting callers earliest deadline first. A critical caller's call carries
 * DW_OP_CRITICAL and a 1 ms budget (so it goes ahead of every waiting bulk call, and its
 * I/O through the EDF scheduler likewise); a bulk caller's DW_OP_BEST_EFFORT and the
 * default budget (vde.op_deadline, 1 s). The writers of the multiwriter workload share the
 * handle too (dw_put is thread-safe): each writer's kv_writer is only a way to the handle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dwvd.h"
#include "kv.h"

#define DWVD_FILE "bench.dwvd"
#define CRITICAL_BUDGET_NS 1000000u

struct kv_engine {
    dw_vde *vde;
};

struct kv_reader {
    kv_engine *engine;
};

struct kv_writer {
    kv_engine *engine;
};

static int fail(char *error, size_t error_size, const char *what, int result, const dw_diag *diag)
{
    (void)snprintf(error, error_size, "dwvd %s: %s (%s)%s%s", what, diag->message, dw_error_name(result),
                   diag->hint[0] != '\0' ? "; " : "", diag->hint);
    return -1;
}

static dw_op op_for(bool critical)
{
    dw_op op = {.deadline_ns = 0, .priority = DW_OP_BEST_EFFORT};
    if (critical) {
        op.deadline_ns = CRITICAL_BUDGET_NS;
        op.priority = DW_OP_CRITICAL;
    }
    return op;
}

static int dwvd_open(const kv_settings *settings, kv_engine **engine, char *error, size_t error_size)
{
    dw_config config;
    dw_config_defaults(&config);
    config.durability = settings->sync ? DW_DURABILITY_STRICT : DW_DURABILITY_GROUP;
    config.log_level = DW_LOG_WARN;
    config.memory_ceiling_bytes = settings->memory_bytes;
    /* Nothing else: the engine sizes its cache from the ceiling, as it does for a user
     * who sets only memory.ceiling. */

    char path[1024];
    (void)snprintf(path, sizeof path, "%s/%s", settings->directory, DWVD_FILE);
    dw_diag diag;
    dw_diag_clear(&diag);
    /* Room for the data (each value in whole blocks, inline when small), the inodes and
     * the index, twice over; the file is sparse, so unused room costs nothing. */
    uint64_t per_entry = settings->value_bytes <= 192 ? 1024 : ((uint64_t)settings->value_bytes + 4095) / 4096 * 4096 + 1024;
    uint64_t size = settings->entries * per_entry * 2;
    size = size < (UINT64_C(1) << 30) ? UINT64_C(1) << 30 : size;
    dw_create_options options = {.size_bytes = size,
                                 .profile = DW_PROFILE_MINIMAL,
                                 .inode_count = settings->entries + settings->entries / 4 + 1024,
                                 .label = "dw-kv-bench",
                                 .overwrite = true};
    int result = dw_vde_create(path, &config, &options, &diag);
    if (result != DW_OK) {
        return fail(error, error_size, "create", result, &diag);
    }
    kv_engine *e = calloc(1, sizeof *e);
    if (e == NULL) {
        (void)snprintf(error, error_size, "dwvd: out of memory");
        return -1;
    }
    result = dw_vde_open(path, &config, &e->vde, &diag);
    if (result != DW_OK) {
        free(e);
        return fail(error, error_size, "open", result, &diag);
    }
    *engine = e;
    return 0;
}

static int dwvd_put(kv_engine *engine, const void *key, size_t key_length, const void *value, size_t value_length,
                    bool critical, char *error, size_t error_size)
{
    dw_op op = op_for(critical);
    dw_diag diag;
    int result = dw_put(engine->vde, key, key_length, value, value_length, &op, &diag);
    return result == DW_OK ? 0 : fail(error, error_size, "put", result, &diag);
}

static int dwvd_load(kv_engine *engine, const void *keys, size_t key_length, const void *values,
                     size_t value_length, uint32_t count, char *error, size_t error_size)
{
    dw_diag diag;
    dw_txn *txn = NULL;
    int result = dw_txn_begin(engine->vde, &txn, &diag);
    for (uint32_t i = 0; result == DW_OK && i < count; i++) {
        result = dw_txn_put(txn, (const char *)keys + i * key_length, key_length,
                            (const char *)values + i * value_length, value_length, &diag);
    }
    if (result == DW_OK) {
        result = dw_txn_commit(txn, NULL, &diag);
    } else if (txn != NULL) {
        dw_txn_abort(txn);
    }
    return result == DW_OK ? 0 : fail(error, error_size, "load", result, &diag);
}

static int dwvd_reader_open(kv_engine *engine, kv_reader **reader, char *error, size_t error_size)
{
    kv_reader *r = calloc(1, sizeof *r);
    if (r == NULL) {
        (void)snprintf(error, error_size, "dwvd: out of memory");
        return -1;
    }
    r->engine = engine;
    *reader = r;
    return 0;
}

static int dwvd_get(kv_reader *reader, const void *key, size_t key_length, void *buffer, size_t capacity,
                    size_t *value_length, bool critical, char *error, size_t error_size)
{
    dw_op op = op_for(critical);
    dw_diag diag;
    int result = dw_get(reader->engine->vde, key, key_length, buffer, capacity, value_length, &op, &diag);
    if (result == DW_ENOENT) {
        return 1;
    }
    return result == DW_OK ? 0 : fail(error, error_size, "get", result, &diag);
}

static void dwvd_reader_close(kv_reader *reader)
{
    free(reader);
}

static int dwvd_writer_open(kv_engine *engine, kv_writer **writer, char *error, size_t error_size)
{
    kv_writer *w = calloc(1, sizeof *w);
    if (w == NULL) {
        (void)snprintf(error, error_size, "dwvd: out of memory");
        return -1;
    }
    w->engine = engine;
    *writer = w;
    return 0;
}

static int dwvd_writer_put(kv_writer *writer, const void *key, size_t key_length, const void *value,
                           size_t value_length, char *error, size_t error_size)
{
    return dwvd_put(writer->engine, key, key_length, value, value_length, false, error, error_size);
}

static void dwvd_writer_close(kv_writer *writer)
{
    free(writer);
}

/* DW_KV_BENCH_STATS=1: the engine's own counters on standard error, to see where the
 * time of a run went (commits, log records, checkpoints, cache hits). */
static void print_stats(dw_vde *vde)
{
    static dw_vde_stats stats;
    if (dw_vde_stat(vde, &stats, NULL) != DW_OK) {
        return;
    }
    (void)fprintf(stderr, "dwvd: commits %llu, records %llu, checkpoints %llu (%llu pages), cache %llu hits %llu misses\n",
                  (unsigned long long)stats.commits, (unsigned long long)stats.records,
                  (unsigned long long)stats.checkpoints, (unsigned long long)stats.checkpoint_pages,
                  (unsigned long long)stats.cache_hits, (unsigned long long)stats.cache_misses);
    for (size_t i = 0; i < DW_VDE_OP_CLASSES; i++) {
        const dw_vde_op_figures *o = &stats.ops[i];
        (void)fprintf(stderr, "dwvd: %-10s %10llu  p50 %8.1f us  p99 %8.1f us  max %9.1f us\n", o->name,
                      (unsigned long long)o->count, (double)o->p50_ns / 1e3, (double)o->p99_ns / 1e3,
                      (double)o->max_ns / 1e3);
    }
}

static int dwvd_close(kv_engine *engine, char *error, size_t error_size)
{
    dw_diag diag;
    const char *stats = getenv("DW_KV_BENCH_STATS");
    if (stats != NULL && stats[0] == '1') {
        print_stats(engine->vde);
    }
    int result = dw_vde_close(engine->vde, &diag);
    free(engine);
    return result == DW_OK ? 0 : fail(error, error_size, "close", result, &diag);
}

const kv_adapter kv_dwvd = {
    .name = "dwvd",
    .sync_meaning = "vde.durability = strict",
    .relaxed_meaning = "vde.durability = group (durable within vde.group_delay = 10 ms)",
    .open = dwvd_open,
    .put = dwvd_put,
    .load = dwvd_load,
    .reader_open = dwvd_reader_open,
    .get = dwvd_get,
    .reader_close = dwvd_reader_close,
    .writer_open = dwvd_writer_open,
    .writer_put = dwvd_writer_put,
    .writer_close = dwvd_writer_close,
    .close = dwvd_close,
};
