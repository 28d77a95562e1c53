/*
 * kv_lmdb.c — LMDB behind the benchmark's interface.
 *
 * sync = LMDB's default (each write transaction's commit syncs data and meta page);
 * relaxed = MDB_NOSYNC (commits are not synced; the OS writes them back when it likes,
 * mdb_env_sync at close). Readers keep one read-only transaction each and reset/renew it
 * around every get, LMDB's cheapest read path; writers take LMDB's own writer lock. The
 * writers of the multiwriter workload share the one environment, each put its own write
 * transaction (LMDB runs one write transaction at a time).
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

struct kv_engine {
    MDB_env *env;
    MDB_dbi dbi;
};

struct kv_reader {
    kv_engine *engine;
    MDB_txn *txn;
};

struct kv_writer {
    kv_engine *engine;
};

static int fail(char *error, size_t error_size, const char *what, int rc)
{
    (void)snprintf(error, error_size, "lmdb %s: %s", what, mdb_strerror(rc));
    return -1;
}

static int lmdb_open(const kv_settings *settings, kv_engine **engine, char *error, size_t error_size)
{
    kv_engine *e = calloc(1, sizeof *e);
    if (e == NULL) {
        (void)snprintf(error, error_size, "lmdb: out of memory");
        return -1;
    }
    int rc = mdb_env_create(&e->env);
    if (rc != 0) {
        free(e);
        return fail(error, error_size, "env_create", rc);
    }
    /* The map is only address space: room for every entry three times over. */
    size_t per_entry = (size_t)settings->value_bytes + 64;
    size_t map = (size_t)settings->entries * per_entry * 3 + ((size_t)1 << 30);
    (void)mdb_env_set_mapsize(e->env, map);
    (void)mdb_env_set_maxreaders(e->env, 64);
    unsigned flags = MDB_NOTLS | (settings->sync ? 0u : MDB_NOSYNC);
    rc = mdb_env_open(e->env, settings->directory, flags, 0644);
    MDB_txn *txn = NULL;
    if (rc == 0) {
        rc = mdb_txn_begin(e->env, NULL, 0, &txn);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, NULL, 0, &e->dbi);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
    } else if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    if (rc != 0) {
        mdb_env_close(e->env);
        free(e);
        return fail(error, error_size, "open", rc);
    }
    *engine = e;
    return 0;
}

static int lmdb_write(kv_engine *engine, const void *keys, size_t key_length, const void *values,
                      size_t value_length, uint32_t count, char *error, size_t error_size)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(engine->env, NULL, 0, &txn);
    for (uint32_t i = 0; rc == 0 && i < count; i++) {
        MDB_val k = {.mv_size = key_length, .mv_data = (char *)keys + i * key_length};
        MDB_val v = {.mv_size = value_length, .mv_data = (char *)values + i * value_length};
        rc = mdb_put(txn, engine->dbi, &k, &v, 0);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
    } else if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return rc == 0 ? 0 : fail(error, error_size, "put", rc);
}

static int lmdb_put(kv_engine *engine, const void *key, size_t key_length, const void *value, size_t value_length,
                    bool critical, char *error, size_t error_size)
{
    (void)critical;
    return lmdb_write(engine, key, key_length, value, value_length, 1, error, error_size);
}

static int lmdb_reader_open(kv_engine *engine, kv_reader **reader, char *error, size_t error_size)
{
    kv_reader *r = calloc(1, sizeof *r);
    if (r == NULL) {
        (void)snprintf(error, error_size, "lmdb: out of memory");
        return -1;
    }
    r->engine = engine;
    int rc = mdb_txn_begin(engine->env, NULL, MDB_RDONLY, &r->txn);
    if (rc != 0) {
        free(r);
        return fail(error, error_size, "reader", rc);
    }
    mdb_txn_reset(r->txn);
    *reader = r;
    return 0;
}

static int lmdb_get(kv_reader *reader, const void *key, size_t key_length, void *buffer, size_t capacity,
                    size_t *value_length, bool critical, char *error, size_t error_size)
{
    (void)critical;
    int rc = mdb_txn_renew(reader->txn);
    if (rc != 0) {
        return fail(error, error_size, "txn_renew", rc);
    }
    MDB_val k = {.mv_size = key_length, .mv_data = (void *)key};
    MDB_val v;
    rc = mdb_get(reader->txn, reader->engine->dbi, &k, &v);
    int result = 0;
    if (rc == MDB_NOTFOUND) {
        result = 1;
    } else if (rc != 0) {
        result = fail(error, error_size, "get", rc);
    } else {
        /* Copy it out, as the other engines do: an mmap'd pointer is not a read. */
        memcpy(buffer, v.mv_data, v.mv_size < capacity ? v.mv_size : capacity);
        *value_length = v.mv_size;
    }
    mdb_txn_reset(reader->txn);
    return result;
}

static void lmdb_reader_close(kv_reader *reader)
{
    mdb_txn_abort(reader->txn);
    free(reader);
}

static int lmdb_writer_open(kv_engine *engine, kv_writer **writer, char *error, size_t error_size)
{
    kv_writer *w = calloc(1, sizeof *w);
    if (w == NULL) {
        (void)snprintf(error, error_size, "lmdb: out of memory");
        return -1;
    }
    w->engine = engine;
    *writer = w;
    return 0;
}

static int lmdb_writer_put(kv_writer *writer, const void *key, size_t key_length, const void *value,
                           size_t value_length, char *error, size_t error_size)
{
    return lmdb_write(writer->engine, key, key_length, value, value_length, 1, error, error_size);
}

static void lmdb_writer_close(kv_writer *writer)
{
    free(writer);
}

static int lmdb_close(kv_engine *engine, char *error, size_t error_size)
{
    int rc = mdb_env_sync(engine->env, 1);
    mdb_env_close(engine->env);
    free(engine);
    return rc == 0 ? 0 : fail(error, error_size, "sync", rc);
}

const kv_adapter kv_lmdb = {
    .name = "lmdb",
    .sync_meaning = "default flags (commit syncs data and meta page)",
    .relaxed_meaning = "MDB_NOSYNC (no sync per commit; mdb_env_sync at close)",
    .open = lmdb_open,
    .put = lmdb_put,
    .load = lmdb_write,
    .reader_open = lmdb_reader_open,
    .get = lmdb_get,
    .reader_close = lmdb_reader_close,
    .writer_open = lmdb_writer_open,
    .writer_put = lmdb_writer_put,
    .writer_close = lmdb_writer_close,
    .close = lmdb_close,
};
