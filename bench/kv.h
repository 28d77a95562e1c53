/*
 * kv.h — the one interface `dw-kv-bench` drives every engine through: dwvd and the
 * engines a user would pick instead (LMDB, SQLite, RocksDB). Each adapter maps the same
 * calls and the same two durability levels onto its engine's own API, so that a workload
 * is written once and measured on all of them in the same run.
 *
 * Durability levels (docs/BENCHMARKS.md has the table):
 *   sync     every commit is on stable storage when the call returns
 *   relaxed  commits are not synced one by one; a crash may lose the latest ones
 *
 * Threads: put and get may be called from several threads at once. An adapter whose
 * engine allows one thread at a time (dwvd's handle, a SQLite connection) serialises the
 * calls itself, and that cost is part of what is measured. A workload of several writers
 * (multiwriter) gives each writing thread a kv_writer instead: the shared handle where the
 * engine takes writes from many threads on one (dwvd, LMDB, RocksDB), a connection of
 * its own where it does not (SQLite), so that each engine's own concurrency is measured.
 */
#ifndef DW_BENCH_KV_H
#define DW_BENCH_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KV_ERROR_MAX 512

typedef struct kv_settings {
    const char *directory;          /* the engine's files go in here (it exists, empty) */
    bool sync;                      /* sync per commit, else relaxed */
    uint64_t memory_bytes;          /* the memory the engine is told it may use */
    uint64_t entries;               /* how many objects the workload will hold at most */
    uint32_t value_bytes;           /* their size */
} kv_settings;

typedef struct kv_engine kv_engine; /* one open database */
typedef struct kv_reader kv_reader; /* what one reading thread needs (a connection, a txn) */
typedef struct kv_writer kv_writer; /* what one writing thread needs (a connection, or the handle) */

typedef struct kv_adapter {
    const char *name;
    /* What the two durability levels mean for this engine, in its own terms. */
    const char *sync_meaning;
    const char *relaxed_meaning;
    int (*open)(const kv_settings *settings, kv_engine **engine, char *error, size_t error_size);
    /* One object written and committed on its own (one transaction). `critical` marks the
     * call of a deadline-critical thread (only dwvd can use it). */
    int (*put)(kv_engine *engine, const void *key, size_t key_length, const void *value, size_t value_length,
               bool critical, char *error, size_t error_size);
    /* Many objects in one commit, to load a database before a read workload quickly. */
    int (*load)(kv_engine *engine, const void *keys, size_t key_length, const void *values, size_t value_length,
                uint32_t count, char *error, size_t error_size);
    int (*reader_open)(kv_engine *engine, kv_reader **reader, char *error, size_t error_size);
    /* Copies the value into buffer; 1 when the key is absent, 0 when found, <0 on error. */
    int (*get)(kv_reader *reader, const void *key, size_t key_length, void *buffer, size_t capacity,
               size_t *value_length, bool critical, char *error, size_t error_size);
    void (*reader_close)(kv_reader *reader);
    /* One writing thread's own way in, for workloads with several writers; writer_put is
     * put on it: one object written and committed on its own. */
    int (*writer_open)(kv_engine *engine, kv_writer **writer, char *error, size_t error_size);
    int (*writer_put)(kv_writer *writer, const void *key, size_t key_length, const void *value, size_t value_length,
                      char *error, size_t error_size);
    void (*writer_close)(kv_writer *writer);
    /* Makes every commit durable and closes. */
    int (*close)(kv_engine *engine, char *error, size_t error_size);
} kv_adapter;

extern const kv_adapter kv_dwvd;
extern const kv_adapter kv_lmdb;
extern const kv_adapter kv_sqlite;
extern const kv_adapter kv_rocksdb;

#endif /* DW_BENCH_KV_H */
