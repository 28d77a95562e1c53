/*
 * kv_sqlite.c — SQLite behind the benchmark's interface: one table
 * kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID, in WAL mode.
 *
 * sync = PRAGMA synchronous=FULL (the WAL is synced at every commit); relaxed =
 * synchronous=NORMAL (synced only at checkpoints: a crash may lose the latest commits).
 * Writes go through one connection under a mutex (a connection is one thread's);
 * every reader has its own connection, which WAL mode lets read beside the writer.
 * The writers of the multiwriter workload have a connection each instead, as an
 * application with several writing threads would: each put is BEGIN IMMEDIATE, the
 * insert, COMMIT, and a writer that finds the write lock taken waits in SQLite's busy
 * handler (busy_timeout 10 s), which sleeps and retries. BEGIN IMMEDIATE takes the lock
 * before the read snapshot, so a busy writer always waits rather than failing with
 * SQLITE_BUSY_SNAPSHOT. The page cache of the connections shares the memory the engine
 * is given.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

struct kv_engine {
    pthread_mutex_t lock;
    sqlite3 *db;
    sqlite3_stmt *put;
    char path[1024];
    int64_t reader_cache_kib;
    bool sync;
};

struct kv_reader {
    sqlite3 *db;
    sqlite3_stmt *get;
};

struct kv_writer {
    sqlite3 *db;
    sqlite3_stmt *begin;
    sqlite3_stmt *put;
    sqlite3_stmt *commit;
    sqlite3_stmt *rollback;
};

static int fail(char *error, size_t error_size, const char *what, sqlite3 *db)
{
    (void)snprintf(error, error_size, "sqlite %s: %s", what, db != NULL ? sqlite3_errmsg(db) : "out of memory");
    return -1;
}

static int connect(const char *path, int64_t cache_kib, sqlite3 **db, char *error, size_t error_size)
{
    int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int result = fail(error, error_size, "open", *db);
        sqlite3_close(*db);
        return result;
    }
    char pragma[64];
    (void)snprintf(pragma, sizeof pragma, "PRAGMA cache_size=-%lld", (long long)cache_kib);
    (void)sqlite3_busy_timeout(*db, 10000);
    if (sqlite3_exec(*db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
        int result = fail(error, error_size, "cache_size", *db);
        sqlite3_close(*db);
        return result;
    }
    return 0;
}

static int sqlite_open(const kv_settings *settings, kv_engine **engine, char *error, size_t error_size)
{
    kv_engine *e = calloc(1, sizeof *e);
    if (e == NULL) {
        (void)snprintf(error, error_size, "sqlite: out of memory");
        return -1;
    }
    (void)snprintf(e->path, sizeof e->path, "%s/bench.sqlite", settings->directory);
    int64_t memory_kib = (int64_t)(settings->memory_bytes / 1024);
    e->reader_cache_kib = memory_kib / 4;
    e->sync = settings->sync;
    if (connect(e->path, memory_kib / 2, &e->db, error, error_size) != 0) {
        free(e);
        return -1;
    }
    const char *setup = settings->sync ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                       : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;";
    if (sqlite3_exec(e->db, setup, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(e->db, "CREATE TABLE kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID", NULL, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(e->db, "INSERT OR REPLACE INTO kv(k, v) VALUES(?1, ?2)", -1, &e->put, NULL) !=
            SQLITE_OK) {
        int result = fail(error, error_size, "setup", e->db);
        sqlite3_close(e->db);
        free(e);
        return result;
    }
    (void)pthread_mutex_init(&e->lock, NULL);
    *engine = e;
    return 0;
}

/* Called with the lock held. */
static int insert(kv_engine *engine, const void *key, size_t key_length, const void *value, size_t value_length)
{
    sqlite3_stmt *s = engine->put;
    int rc = sqlite3_bind_blob(s, 1, key, (int)key_length, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_blob(s, 2, value, (int)value_length, SQLITE_STATIC);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    (void)sqlite3_reset(s);
    return rc;
}

static int sqlite_put(kv_engine *engine, const void *key, size_t key_length, const void *value,
                      size_t value_length, bool critical, char *error, size_t error_size)
{
    (void)critical;
    (void)pthread_mutex_lock(&engine->lock);
    int rc = insert(engine, key, key_length, value, value_length);
    int result = rc == SQLITE_OK ? 0 : fail(error, error_size, "put", engine->db);
    (void)pthread_mutex_unlock(&engine->lock);
    return result;
}

static int sqlite_load(kv_engine *engine, const void *keys, size_t key_length, const void *values,
                       size_t value_length, uint32_t count, char *error, size_t error_size)
{
    (void)pthread_mutex_lock(&engine->lock);
    int rc = sqlite3_exec(engine->db, "BEGIN", NULL, NULL, NULL);
    for (uint32_t i = 0; rc == SQLITE_OK && i < count; i++) {
        rc = insert(engine, (const char *)keys + i * key_length, key_length, (const char *)values + i * value_length,
                    value_length);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(engine->db, "COMMIT", NULL, NULL, NULL);
    }
    int result = 0;
    if (rc != SQLITE_OK) {
        result = fail(error, error_size, "load", engine->db);
        (void)sqlite3_exec(engine->db, "ROLLBACK", NULL, NULL, NULL);
    }
    (void)pthread_mutex_unlock(&engine->lock);
    return result;
}

static int sqlite_reader_open(kv_engine *engine, kv_reader **reader, char *error, size_t error_size)
{
    kv_reader *r = calloc(1, sizeof *r);
    if (r == NULL) {
        (void)snprintf(error, error_size, "sqlite: out of memory");
        return -1;
    }
    if (connect(engine->path, engine->reader_cache_kib, &r->db, error, error_size) != 0) {
        free(r);
        return -1;
    }
    if (sqlite3_prepare_v2(r->db, "SELECT v FROM kv WHERE k = ?1", -1, &r->get, NULL) != SQLITE_OK) {
        int result = fail(error, error_size, "prepare", r->db);
        sqlite3_close(r->db);
        free(r);
        return result;
    }
    *reader = r;
    return 0;
}

static int sqlite_get(kv_reader *reader, const void *key, size_t key_length, void *buffer, size_t capacity,
                      size_t *value_length, bool critical, char *error, size_t error_size)
{
    (void)critical;
    sqlite3_stmt *s = reader->get;
    int result = 1;
    int rc = sqlite3_bind_blob(s, 1, key, (int)key_length, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            size_t n = (size_t)sqlite3_column_bytes(s, 0);
            memcpy(buffer, sqlite3_column_blob(s, 0), n < capacity ? n : capacity);
            *value_length = n;
            result = 0;
        } else if (rc != SQLITE_DONE) {
            result = fail(error, error_size, "get", reader->db);
        }
    } else {
        result = fail(error, error_size, "bind", reader->db);
    }
    (void)sqlite3_reset(s);
    return result;
}

static void sqlite_reader_close(kv_reader *reader)
{
    (void)sqlite3_finalize(reader->get);
    (void)sqlite3_close(reader->db);
    free(reader);
}

static void writer_release(kv_writer *w)
{
    (void)sqlite3_finalize(w->begin);
    (void)sqlite3_finalize(w->put);
    (void)sqlite3_finalize(w->commit);
    (void)sqlite3_finalize(w->rollback);
    (void)sqlite3_close(w->db);
    free(w);
}

/* A connection of the writer's own; journal_mode=WAL is the database's already, but
 * synchronous is a connection's setting, so it is set again here. */
static int sqlite_writer_open(kv_engine *engine, kv_writer **writer, char *error, size_t error_size)
{
    kv_writer *w = calloc(1, sizeof *w);
    if (w == NULL) {
        (void)snprintf(error, error_size, "sqlite: out of memory");
        return -1;
    }
    if (connect(engine->path, engine->reader_cache_kib, &w->db, error, error_size) != 0) {
        free(w);
        return -1;
    }
    const char *setup = engine->sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
    if (sqlite3_exec(w->db, setup, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(w->db, "BEGIN IMMEDIATE", -1, &w->begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(w->db, "INSERT OR REPLACE INTO kv(k, v) VALUES(?1, ?2)", -1, &w->put, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(w->db, "COMMIT", -1, &w->commit, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(w->db, "ROLLBACK", -1, &w->rollback, NULL) != SQLITE_OK) {
        int result = fail(error, error_size, "writer setup", w->db);
        writer_release(w);
        return result;
    }
    *writer = w;
    return 0;
}

/* Runs a prepared statement that returns no rows. */
static int step_done(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    (void)sqlite3_reset(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int sqlite_writer_put(kv_writer *writer, const void *key, size_t key_length, const void *value,
                             size_t value_length, char *error, size_t error_size)
{
    sqlite3_stmt *s = writer->put;
    int rc = step_done(writer->begin);
    if (rc != SQLITE_OK) {
        return fail(error, error_size, "begin", writer->db);
    }
    rc = sqlite3_bind_blob(s, 1, key, (int)key_length, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_blob(s, 2, value, (int)value_length, SQLITE_STATIC);
    }
    if (rc == SQLITE_OK) {
        rc = step_done(s);
    }
    if (rc == SQLITE_OK) {
        rc = step_done(writer->commit);
    }
    if (rc != SQLITE_OK) {
        int result = fail(error, error_size, "put", writer->db);
        (void)step_done(writer->rollback);
        return result;
    }
    return 0;
}

static void sqlite_writer_close(kv_writer *writer)
{
    writer_release(writer);
}

static int sqlite_close(kv_engine *engine, char *error, size_t error_size)
{
    (void)sqlite3_finalize(engine->put);
    int result = 0;
    if (sqlite3_exec(engine->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK) {
        result = fail(error, error_size, "checkpoint", engine->db);
    }
    if (sqlite3_close(engine->db) != SQLITE_OK && result == 0) {
        result = fail(error, error_size, "close", engine->db);
    }
    (void)pthread_mutex_destroy(&engine->lock);
    free(engine);
    return result;
}

const kv_adapter kv_sqlite = {
    .name = "sqlite",
    .sync_meaning = "journal_mode=WAL, synchronous=FULL",
    .relaxed_meaning = "journal_mode=WAL, synchronous=NORMAL (synced at checkpoints)",
    .open = sqlite_open,
    .put = sqlite_put,
    .load = sqlite_load,
    .reader_open = sqlite_reader_open,
    .get = sqlite_get,
    .reader_close = sqlite_reader_close,
    .writer_open = sqlite_writer_open,
    .writer_put = sqlite_writer_put,
    .writer_close = sqlite_writer_close,
    .close = sqlite_close,
};
