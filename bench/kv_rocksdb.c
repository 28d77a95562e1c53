/*
 * kv_rocksdb.c — RocksDB behind the benchmark's interface, through its C API.
 *
 * sync = WriteOptions.sync true (the WAL is synced before a write returns); relaxed =
 * sync false (the WAL is written to the OS, not synced: a machine crash may lose the
 * latest writes). The memory the engine is given is split between the memtable
 * (write_buffer_size) and the block cache, a quarter each; the rest is its own. The writers
 * of the multiwriter workload share the one DB (RocksDB groups concurrent writers' WAL
 * writes and syncs itself).
 */
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

struct kv_engine {
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_block_based_table_options_t *table;
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *write;
    rocksdb_readoptions_t *read;
};

struct kv_reader {
    kv_engine *engine;
};

struct kv_writer {
    kv_engine *engine;
};

static int fail(char *error, size_t error_size, const char *what, char *message)
{
    (void)snprintf(error, error_size, "rocksdb %s: %s", what, message != NULL ? message : "failed");
    rocksdb_free(message);
    return -1;
}

static void release(kv_engine *e)
{
    if (e->db != NULL) {
        rocksdb_close(e->db);
    }
    rocksdb_writeoptions_destroy(e->write);
    rocksdb_readoptions_destroy(e->read);
    rocksdb_options_destroy(e->options);
    rocksdb_block_based_options_destroy(e->table);
    rocksdb_cache_destroy(e->cache);
    free(e);
}

static int rocks_open(const kv_settings *settings, kv_engine **engine, char *error, size_t error_size)
{
    kv_engine *e = calloc(1, sizeof *e);
    if (e == NULL) {
        (void)snprintf(error, error_size, "rocksdb: out of memory");
        return -1;
    }
    e->options = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(e->options, 1);
    rocksdb_options_set_write_buffer_size(e->options, (size_t)(settings->memory_bytes / 4));
    e->cache = rocksdb_cache_create_lru((size_t)(settings->memory_bytes / 4));
    e->table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(e->table, e->cache);
    rocksdb_options_set_block_based_table_factory(e->options, e->table);
    e->write = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(e->write, settings->sync ? 1 : 0);
    e->read = rocksdb_readoptions_create();
    char *message = NULL;
    e->db = rocksdb_open(e->options, settings->directory, &message);
    if (message != NULL) {
        e->db = NULL;
        release(e);
        return fail(error, error_size, "open", message);
    }
    *engine = e;
    return 0;
}

static int rocks_put(kv_engine *engine, const void *key, size_t key_length, const void *value, size_t value_length,
                     bool critical, char *error, size_t error_size)
{
    (void)critical;
    char *message = NULL;
    rocksdb_put(engine->db, engine->write, key, key_length, value, value_length, &message);
    return message == NULL ? 0 : fail(error, error_size, "put", message);
}

static int rocks_load(kv_engine *engine, const void *keys, size_t key_length, const void *values,
                      size_t value_length, uint32_t count, char *error, size_t error_size)
{
    rocksdb_writebatch_t *batch = rocksdb_writebatch_create();
    for (uint32_t i = 0; i < count; i++) {
        rocksdb_writebatch_put(batch, (const char *)keys + i * key_length, key_length,
                               (const char *)values + i * value_length, value_length);
    }
    char *message = NULL;
    rocksdb_write(engine->db, engine->write, batch, &message);
    rocksdb_writebatch_destroy(batch);
    return message == NULL ? 0 : fail(error, error_size, "load", message);
}

static int rocks_reader_open(kv_engine *engine, kv_reader **reader, char *error, size_t error_size)
{
    kv_reader *r = calloc(1, sizeof *r);
    if (r == NULL) {
        (void)snprintf(error, error_size, "rocksdb: out of memory");
        return -1;
    }
    r->engine = engine;
    *reader = r;
    return 0;
}

static int rocks_get(kv_reader *reader, const void *key, size_t key_length, void *buffer, size_t capacity,
                     size_t *value_length, bool critical, char *error, size_t error_size)
{
    (void)critical;
    char *message = NULL;
    rocksdb_pinnableslice_t *slice =
        rocksdb_get_pinned(reader->engine->db, reader->engine->read, key, key_length, &message);
    if (message != NULL) {
        return fail(error, error_size, "get", message);
    }
    if (slice == NULL) {
        return 1;
    }
    size_t n = 0;
    const char *value = rocksdb_pinnableslice_value(slice, &n);
    memcpy(buffer, value, n < capacity ? n : capacity);
    *value_length = n;
    rocksdb_pinnableslice_destroy(slice);
    return 0;
}

static void rocks_reader_close(kv_reader *reader)
{
    free(reader);
}

static int rocks_writer_open(kv_engine *engine, kv_writer **writer, char *error, size_t error_size)
{
    kv_writer *w = calloc(1, sizeof *w);
    if (w == NULL) {
        (void)snprintf(error, error_size, "rocksdb: out of memory");
        return -1;
    }
    w->engine = engine;
    *writer = w;
    return 0;
}

static int rocks_writer_put(kv_writer *writer, const void *key, size_t key_length, const void *value,
                            size_t value_length, char *error, size_t error_size)
{
    return rocks_put(writer->engine, key, key_length, value, value_length, false, error, error_size);
}

static void rocks_writer_close(kv_writer *writer)
{
    free(writer);
}

static int rocks_close(kv_engine *engine, char *error, size_t error_size)
{
    char *message = NULL;
    rocksdb_flushoptions_t *flush = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(flush, 1);
    rocksdb_flush(engine->db, flush, &message);
    rocksdb_flushoptions_destroy(flush);
    release(engine);
    return message == NULL ? 0 : fail(error, error_size, "flush", message);
}

const kv_adapter kv_rocksdb = {
    .name = "rocksdb",
    .sync_meaning = "WriteOptions.sync = true",
    .relaxed_meaning = "WriteOptions.sync = false (WAL written, not synced)",
    .open = rocks_open,
    .put = rocks_put,
    .load = rocks_load,
    .reader_open = rocks_reader_open,
    .get = rocks_get,
    .reader_close = rocks_reader_close,
    .writer_open = rocks_writer_open,
    .writer_put = rocks_writer_put,
    .writer_close = rocks_writer_close,
    .close = rocks_close,
};
