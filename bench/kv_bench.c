/*
 * kv_bench.c — `dw-kv-bench`: one workload on one engine (dwvd, LMDB, SQLite or RocksDB)
 * at one durability level, with every operation's latency in a histogram. It prints the
 * throughput, the latency percentiles, the peak RSS (VmHWM) and the bytes on disk, as
 * text or as one JSON object. scripts/bench_kv.py runs the whole matrix, each run in its
 * own process (so that VmHWM is that run's), and writes docs/BENCHMARKS.md's tables.
 *
 * The workloads (16-byte keys; values of --value-bytes, pseudo-random so nothing
 * compresses):
 *   fillrandom        --entries puts, keys in random order, one commit each
 *   fillseq           the same with keys in ascending order
 *   readrandom        load --entries (batched commits, not timed), then --reads gets of
 *                     random keys from one thread
 *   readwhilewriting  load, then for --seconds one writer replaces random keys at
 *                     --writer-rate puts a second while --readers threads get random keys
 *   deadline          load, then for --seconds --writers bulk threads put 4 KiB values as
 *                     fast as they can while a critical thread gets one key every
 *                     --period-us; a get slower than --deadline-us is a critical miss
 *   multiwriter       --threads writers (1 .. 16, started together) put --entries new keys
 *                     in random order between them, each key by one thread only, one
 *                     commit per put; throughput is all puts over the time until the last
 *                     writer ends, the histogram all puts of all writers. Each writer has
 *                     its adapter's kv_writer: the one shared handle for dwvd, LMDB and
 *                     RocksDB, a connection of its own for SQLite (kv.h)
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kv.h"
#include "sched/histogram.h"

#define KEY_BYTES 16
#define LOAD_BATCH 1000u
#define BULK_VALUE_BYTES 4096u
#define BULK_KEYS_PER_WRITER 20000u
#define THREADS_MAX 16
#define VALUE_POOL_BYTES (UINT64_C(1) << 20)

typedef enum workload {
    FILL_RANDOM,
    FILL_SEQUENTIAL,
    READ_RANDOM,
    READ_WHILE_WRITING,
    DEADLINE,
    MULTI_WRITER,
} workload;

static const char *const workload_names[] = {"fillrandom", "fillseq",  "readrandom",
                                             "readwhilewriting", "deadline", "multiwriter"};

typedef struct options {
    const kv_adapter *adapter;
    workload workload;
    bool sync;
    const char *directory;
    uint64_t entries;
    uint32_t value_bytes;
    uint64_t reads;
    uint64_t seconds;
    uint64_t memory_bytes;
    uint32_t writer_rate;
    uint32_t readers;
    uint32_t writers;
    uint32_t threads;
    uint64_t period_ns;
    uint64_t deadline_ns;
    uint64_t seed;
    bool json;
} options;

/* What one run measured. `primary` is the workload's own operation (puts of a fill or of
 * the multiwriter workload, gets of a read workload, the critical gets of the deadline
 * workload); `secondary` the
 * other side (the writer of readwhilewriting, the bulk writers of deadline). */
typedef struct result {
    uint64_t operations;
    uint64_t elapsed_ns;
    dw_histogram primary;
    uint64_t secondary_operations;
    dw_histogram secondary;
    uint64_t misses;
    uint64_t not_found;
    uint64_t load_ns;
    uint64_t close_ns;
} result;

/* Holds the writers of the multiwriter workload until all are ready, so that the clock
 * starts when they all start putting. */
typedef struct start_gate {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    uint32_t ready;
    bool open;
} start_gate;

typedef struct run {
    const options *options;
    kv_engine *engine;
    unsigned char *value_pool;
    atomic_bool stop;
    atomic_int failed;
    char error[KV_ERROR_MAX];
    pthread_mutex_t error_lock;
    start_gate gate;
} run;

static uint64_t now_ns(void)
{
    struct timespec t;
    (void)clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * UINT64_C(1000000000) + (uint64_t)t.tv_nsec;
}

static void sleep_until(uint64_t deadline)
{
    struct timespec t = {.tv_sec = (time_t)(deadline / UINT64_C(1000000000)),
                         .tv_nsec = (long)(deadline % UINT64_C(1000000000))};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {
    }
}

/* splitmix64's finaliser: a bijection on 64-bit numbers, so distinct indexes give
 * distinct keys, in an order unrelated to the index. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

static uint64_t next_random(uint64_t *state)
{
    *state += UINT64_C(0x9e3779b97f4a7c15);
    return mix(*state);
}

static void make_key(unsigned char key[KEY_BYTES], uint64_t index, bool random_order)
{
    static const char digits[] = "0123456789abcdef";
    uint64_t x = random_order ? mix(index) : index;
    for (int i = KEY_BYTES - 1; i >= 0; i--) {
        key[i] = (unsigned char)digits[x & 15u];
        x >>= 4;
    }
}

static const unsigned char *value_for(const run *r, uint64_t index, uint32_t bytes)
{
    uint64_t span = VALUE_POOL_BYTES - bytes;
    return r->value_pool + (index * 7919u) % span;
}

static void set_failed(run *r, const char *error)
{
    (void)pthread_mutex_lock(&r->error_lock);
    if (atomic_load(&r->failed) == 0) {
        (void)snprintf(r->error, sizeof r->error, "%s", error);
    }
    atomic_store(&r->failed, 1);
    atomic_store(&r->stop, true);
    (void)pthread_mutex_unlock(&r->error_lock);
}

/* One put of object `index`'s key with `bytes` of value, its latency recorded; false
 * (and the run stopped) when it fails. */
static bool timed_put(run *r, uint64_t index, bool random_order, const unsigned char *value, uint32_t bytes,
                      dw_histogram *histogram)
{
    char error[KV_ERROR_MAX];
    unsigned char key[KEY_BYTES];
    make_key(key, index, random_order);
    uint64_t t0 = now_ns();
    if (r->options->adapter->put(r->engine, key, KEY_BYTES, value, bytes, false, error, sizeof error) != 0) {
        set_failed(r, error);
        return false;
    }
    dw_histogram_record(histogram, now_ns() - t0);
    return true;
}

/* ---- the workloads ------------------------------------------------------------------- */

static int fill(run *r, bool random_order, result *out)
{
    const options *o = r->options;
    uint64_t started = now_ns();
    for (uint64_t i = 0; i < o->entries; i++) {
        if (!timed_put(r, i, random_order, value_for(r, i, o->value_bytes), o->value_bytes, &out->primary)) {
            return -1;
        }
    }
    out->operations = o->entries;
    out->elapsed_ns = now_ns() - started;
    return 0;
}

/* Loads --entries objects in batched commits, keys in random order; not measured. */
static int load(run *r, result *out)
{
    const options *o = r->options;
    char error[KV_ERROR_MAX];
    unsigned char *keys = malloc((size_t)LOAD_BATCH * KEY_BYTES);
    unsigned char *values = malloc((size_t)LOAD_BATCH * o->value_bytes);
    if (keys == NULL || values == NULL) {
        free(keys);
        free(values);
        set_failed(r, "out of memory for the load batch");
        return -1;
    }
    uint64_t started = now_ns();
    int failed = 0;
    for (uint64_t first = 0; failed == 0 && first < o->entries; first += LOAD_BATCH) {
        uint32_t count = (uint32_t)(o->entries - first < LOAD_BATCH ? o->entries - first : LOAD_BATCH);
        for (uint32_t i = 0; i < count; i++) {
            make_key(keys + (size_t)i * KEY_BYTES, first + i, true);
            memcpy(values + (size_t)i * o->value_bytes, value_for(r, first + i, o->value_bytes), o->value_bytes);
        }
        if (o->adapter->load(r->engine, keys, KEY_BYTES, values, o->value_bytes, count, error, sizeof error) != 0) {
            set_failed(r, error);
            failed = -1;
        }
    }
    out->load_ns = now_ns() - started;
    free(keys);
    free(values);
    return failed;
}

/* Gets random loaded keys until `count` are done or the run stops; records each get's
 * latency. */
static void read_loop(run *r, kv_reader *reader, uint64_t seed, uint64_t count, dw_histogram *histogram,
                      uint64_t *operations, uint64_t *not_found)
{
    const options *o = r->options;
    char error[KV_ERROR_MAX];
    unsigned char key[KEY_BYTES];
    unsigned char buffer[BULK_VALUE_BYTES];
    uint64_t state = seed;
    uint64_t done = 0;
    while (done < count && !atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        make_key(key, next_random(&state) % o->entries, true);
        size_t length = 0;
        uint64_t t0 = now_ns();
        int found = o->adapter->get(reader, key, KEY_BYTES, buffer, sizeof buffer, &length, false, error, sizeof error);
        dw_histogram_record(histogram, now_ns() - t0);
        if (found < 0) {
            set_failed(r, error);
            break;
        }
        *not_found += found == 1 || length != o->value_bytes;
        done++;
    }
    *operations = done;
}

static int read_random(run *r, result *out)
{
    if (load(r, out) != 0) {
        return -1;
    }
    char error[KV_ERROR_MAX];
    kv_reader *reader = NULL;
    if (r->options->adapter->reader_open(r->engine, &reader, error, sizeof error) != 0) {
        set_failed(r, error);
        return -1;
    }
    uint64_t started = now_ns();
    read_loop(r, reader, r->options->seed, r->options->reads, &out->primary, &out->operations, &out->not_found);
    out->elapsed_ns = now_ns() - started;
    r->options->adapter->reader_close(reader);
    return atomic_load(&r->failed) ? -1 : 0;
}

typedef struct worker {
    run *run;
    uint32_t index;
    dw_histogram histogram;
    uint64_t operations;
    uint64_t not_found;
    uint64_t misses;
} worker;

static void *reader_main(void *argument)
{
    worker *w = argument;
    char error[KV_ERROR_MAX];
    kv_reader *reader = NULL;
    if (w->run->options->adapter->reader_open(w->run->engine, &reader, error, sizeof error) != 0) {
        set_failed(w->run, error);
        return NULL;
    }
    read_loop(w->run, reader, w->run->options->seed + 1000u * (w->index + 1), UINT64_MAX, &w->histogram,
              &w->operations, &w->not_found);
    w->run->options->adapter->reader_close(reader);
    return NULL;
}

/* Replaces random loaded keys at --writer-rate puts a second, each put released at its
 * slot in the schedule (a late put does not shift the ones after it). */
static void *paced_writer_main(void *argument)
{
    worker *w = argument;
    run *r = w->run;
    const options *o = r->options;
    uint64_t state = o->seed ^ UINT64_C(0x5bd1e995);
    uint64_t interval = UINT64_C(1000000000) / o->writer_rate;
    uint64_t release = now_ns();
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        sleep_until(release);
        uint64_t index = next_random(&state) % o->entries;
        if (!timed_put(r, index, true, value_for(r, index + 1, o->value_bytes), o->value_bytes, &w->histogram)) {
            break;
        }
        w->operations++;
        release += interval;
    }
    return NULL;
}

/* Puts 4 KiB values as fast as it can, cycling over its own BULK_KEYS_PER_WRITER keys
 * (new objects first, then replacements), outside the loaded key range. */
static void *bulk_writer_main(void *argument)
{
    worker *w = argument;
    run *r = w->run;
    uint64_t base = r->options->entries + (uint64_t)w->index * BULK_KEYS_PER_WRITER;
    for (uint64_t j = 0; !atomic_load_explicit(&r->stop, memory_order_relaxed); j++) {
        if (!timed_put(r, base + j % BULK_KEYS_PER_WRITER, true, value_for(r, j, BULK_VALUE_BYTES), BULK_VALUE_BYTES,
                       &w->histogram)) {
            break;
        }
        w->operations++;
    }
    return NULL;
}

/* One get every --period-us, released on schedule; a get that takes longer than
 * --deadline-us, or that fails, is a miss. */
static void *critical_main(void *argument)
{
    worker *w = argument;
    run *r = w->run;
    const options *o = r->options;
    char error[KV_ERROR_MAX];
    unsigned char key[KEY_BYTES];
    unsigned char buffer[BULK_VALUE_BYTES];
    kv_reader *reader = NULL;
    if (o->adapter->reader_open(r->engine, &reader, error, sizeof error) != 0) {
        set_failed(r, error);
        return NULL;
    }
    uint64_t state = o->seed ^ UINT64_C(0xc2b2ae35);
    uint64_t release = now_ns();
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        sleep_until(release);
        make_key(key, next_random(&state) % o->entries, true);
        size_t length = 0;
        uint64_t t0 = now_ns();
        int found = o->adapter->get(reader, key, KEY_BYTES, buffer, sizeof buffer, &length, true, error, sizeof error);
        uint64_t latency = now_ns() - t0;
        dw_histogram_record(&w->histogram, latency);
        w->operations++;
        if (found < 0) {
            set_failed(r, error);
            break;
        }
        w->not_found += found == 1;
        w->misses += latency > o->deadline_ns;
        release += o->period_ns;
        uint64_t now = now_ns();
        if (release < now) {
            /* Periods that passed while the get ran are lost, not made up in a burst. */
            w->misses += (now - release) / o->period_ns;
            release += ((now - release) / o->period_ns + 1) * o->period_ns;
        }
    }
    o->adapter->reader_close(reader);
    return NULL;
}

/* Starts the primary threads (readers, or the critical thread) and the secondary ones
 * (the paced writer, or the bulk writers), lets them run --seconds, stops them and
 * merges their histograms. */
static int concurrent(run *r, result *out)
{
    const options *o = r->options;
    if (load(r, out) != 0) {
        return -1;
    }
    bool deadline = o->workload == DEADLINE;
    uint32_t primaries = deadline ? 1 : o->readers;
    uint32_t secondaries = deadline ? o->writers : 1;
    worker workers[THREADS_MAX * 2];
    pthread_t threads[THREADS_MAX * 2];
    memset(workers, 0, sizeof workers);
    uint32_t started_threads = 0;
    uint64_t started = now_ns();
    for (uint32_t i = 0; i < primaries + secondaries; i++) {
        workers[i].run = r;
        workers[i].index = i < primaries ? i : i - primaries;
        dw_histogram_reset(&workers[i].histogram);
        void *(*body)(void *) = i < primaries ? (deadline ? critical_main : reader_main)
                                              : (deadline ? bulk_writer_main : paced_writer_main);
        if (pthread_create(&threads[i], NULL, body, &workers[i]) != 0) {
            set_failed(r, "pthread_create failed");
            break;
        }
        started_threads++;
    }
    uint64_t end = started + o->seconds * UINT64_C(1000000000);
    while (!atomic_load(&r->stop) && now_ns() < end) {
        uint64_t step = now_ns() + UINT64_C(50000000);
        sleep_until(step < end ? step : end);
    }
    atomic_store(&r->stop, true);
    for (uint32_t i = 0; i < started_threads; i++) {
        (void)pthread_join(threads[i], NULL);
    }
    out->elapsed_ns = now_ns() - started;
    for (uint32_t i = 0; i < started_threads; i++) {
        if (i < primaries) {
            dw_histogram_merge(&out->primary, &workers[i].histogram);
            out->operations += workers[i].operations;
            out->not_found += workers[i].not_found;
            out->misses += workers[i].misses;
        } else {
            dw_histogram_merge(&out->secondary, &workers[i].histogram);
            out->secondary_operations += workers[i].operations;
        }
    }
    return atomic_load(&r->failed) ? -1 : 0;
}

/* Waits at the gate until multi_writer opens it; says whether the writer should run. */
static bool wait_at_gate(run *r, bool ready)
{
    start_gate *g = &r->gate;
    (void)pthread_mutex_lock(&g->lock);
    g->ready++;
    (void)pthread_cond_broadcast(&g->changed);
    while (!g->open) {
        (void)pthread_cond_wait(&g->changed, &g->lock);
    }
    (void)pthread_mutex_unlock(&g->lock);
    return ready && !atomic_load(&r->stop);
}

/* One writer of the multiwriter workload: the keys of index w->index, w->index + threads,
 * ... (so no two writers put the same key), each put timed and committed on its own. */
static void *fill_writer_main(void *argument)
{
    worker *w = argument;
    run *r = w->run;
    const options *o = r->options;
    char error[KV_ERROR_MAX];
    unsigned char key[KEY_BYTES];
    kv_writer *writer = NULL;
    bool ready = o->adapter->writer_open(r->engine, &writer, error, sizeof error) == 0;
    if (!ready) {
        set_failed(r, error);
    }
    if (!wait_at_gate(r, ready)) {
        if (ready) {
            o->adapter->writer_close(writer);
        }
        return NULL;
    }
    for (uint64_t i = w->index; i < o->entries && !atomic_load_explicit(&r->stop, memory_order_relaxed);
         i += o->threads) {
        make_key(key, i, true);
        uint64_t t0 = now_ns();
        if (o->adapter->writer_put(writer, key, KEY_BYTES, value_for(r, i, o->value_bytes), o->value_bytes, error,
                                   sizeof error) != 0) {
            set_failed(r, error);
            break;
        }
        dw_histogram_record(&w->histogram, now_ns() - t0);
        w->operations++;
    }
    o->adapter->writer_close(writer);
    return NULL;
}

/* After the writers: every key they put is read back (not timed), so that a put lost
 * between threads sharing a handle shows as not_found. */
static int check_every_key(run *r, result *out)
{
    const options *o = r->options;
    char error[KV_ERROR_MAX];
    unsigned char key[KEY_BYTES];
    unsigned char buffer[BULK_VALUE_BYTES];
    kv_reader *reader = NULL;
    if (o->adapter->reader_open(r->engine, &reader, error, sizeof error) != 0) {
        set_failed(r, error);
        return -1;
    }
    int status = 0;
    for (uint64_t i = 0; i < o->entries; i++) {
        make_key(key, i, true);
        size_t length = 0;
        int found = o->adapter->get(reader, key, KEY_BYTES, buffer, sizeof buffer, &length, false, error, sizeof error);
        if (found < 0) {
            set_failed(r, error);
            status = -1;
            break;
        }
        out->not_found += found == 1 || length != o->value_bytes;
    }
    o->adapter->reader_close(reader);
    return status;
}

/* Starts --threads writers, opens the gate when every one has its kv_writer, and counts
 * the time from then until the last one is done; then checks that every key is there. */
static int multi_writer(run *r, result *out)
{
    const options *o = r->options;
    worker workers[THREADS_MAX];
    pthread_t threads[THREADS_MAX];
    memset(workers, 0, sizeof workers);
    start_gate *g = &r->gate;
    (void)pthread_mutex_init(&g->lock, NULL);
    (void)pthread_cond_init(&g->changed, NULL);
    uint32_t started_threads = 0;
    for (uint32_t i = 0; i < o->threads; i++) {
        workers[i].run = r;
        workers[i].index = i;
        dw_histogram_reset(&workers[i].histogram);
        if (pthread_create(&threads[i], NULL, fill_writer_main, &workers[i]) != 0) {
            set_failed(r, "pthread_create failed");
            break;
        }
        started_threads++;
    }
    (void)pthread_mutex_lock(&g->lock);
    while (g->ready < started_threads) {
        (void)pthread_cond_wait(&g->changed, &g->lock);
    }
    uint64_t started = now_ns();
    g->open = true;
    (void)pthread_cond_broadcast(&g->changed);
    (void)pthread_mutex_unlock(&g->lock);
    for (uint32_t i = 0; i < started_threads; i++) {
        (void)pthread_join(threads[i], NULL);
    }
    out->elapsed_ns = now_ns() - started;
    for (uint32_t i = 0; i < started_threads; i++) {
        dw_histogram_merge(&out->primary, &workers[i].histogram);
        out->operations += workers[i].operations;
    }
    (void)pthread_cond_destroy(&g->changed);
    (void)pthread_mutex_destroy(&g->lock);
    if (atomic_load(&r->failed)) {
        return -1;
    }
    return check_every_key(r, out);
}

/* ---- measuring the process and the files --------------------------------------------- */

static uint64_t peak_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        return 0;
    }
    char line[256];
    uint64_t kib = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = strtoull(line + 6, NULL, 10);
        }
    }
    (void)fclose(f);
    return kib * 1024u;
}

/* Bytes the files under `directory` occupy on the device (allocated blocks, so a sparse
 * file counts what it holds, not its length). */
static uint64_t disk_bytes(const char *directory)
{
    DIR *d = opendir(directory);
    if (d == NULL) {
        return 0;
    }
    uint64_t total = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) {
            continue;
        }
        char path[2048];
        (void)snprintf(path, sizeof path, "%s/%s", directory, entry->d_name);
        struct stat st;
        if (lstat(path, &st) != 0) {
            continue;
        }
        total += S_ISDIR(st.st_mode) ? disk_bytes(path) : (uint64_t)st.st_blocks * 512u;
    }
    (void)closedir(d);
    return total;
}

/* ---- output ---------------------------------------------------------------------------- */

static const uint32_t percentile_points[] = {500000, 750000, 900000, 950000, 990000, 995000, 999000,
                                             999500, 999900, 999950, 999990, 999999};

static void print_histogram_json(FILE *out, const char *name, const dw_histogram *h)
{
    (void)fprintf(out,
                  ",\"%s\":{\"count\":%" PRIu64 ",\"mean_ns\":%" PRIu64 ",\"p50_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64
                  ",\"p999_ns\":%" PRIu64 ",\"p9999_ns\":%" PRIu64 ",\"max_ns\":%" PRIu64 ",\"distribution\":[",
                  name, h->count, dw_histogram_mean(h), dw_histogram_percentile(h, 500000),
                  dw_histogram_percentile(h, 990000), dw_histogram_percentile(h, 999000),
                  dw_histogram_percentile(h, 999900), h->count > 0 ? h->max : 0);
    size_t n = sizeof percentile_points / sizeof percentile_points[0];
    for (size_t i = 0; i < n; i++) {
        (void)fprintf(out, "%s[%u,%" PRIu64 "]", i > 0 ? "," : "", percentile_points[i],
                      dw_histogram_percentile(h, percentile_points[i]));
    }
    (void)fprintf(out, ",[1000000,%" PRIu64 "]]}", h->count > 0 ? h->max : 0);
}

static void print_histogram_text(FILE *out, const char *name, const dw_histogram *h)
{
    (void)fprintf(out,
                  "  %-10s %10" PRIu64 " ops  p50 %8.1f us  p99 %8.1f us  p99.9 %8.1f us  p99.99 %8.1f us  max %9.1f us\n",
                  name, h->count, (double)dw_histogram_percentile(h, 500000) / 1e3,
                  (double)dw_histogram_percentile(h, 990000) / 1e3, (double)dw_histogram_percentile(h, 999000) / 1e3,
                  (double)dw_histogram_percentile(h, 999900) / 1e3, (double)(h->count > 0 ? h->max : 0) / 1e3);
}

static void report(const options *o, const result *res, int status, const char *error, uint64_t rss, uint64_t disk)
{
    double seconds = (double)res->elapsed_ns / 1e9;
    double throughput = seconds > 0 ? (double)res->operations / seconds : 0;
    const char *primary_name = "get";
    if (o->workload == FILL_RANDOM || o->workload == FILL_SEQUENTIAL || o->workload == MULTI_WRITER) {
        primary_name = "put";
    } else if (o->workload == DEADLINE) {
        primary_name = "critical";
    }
    const char *secondary_name = o->workload == DEADLINE ? "bulk_put" : "put";
    if (o->json) {
        (void)printf("{\"engine\":\"%s\",\"workload\":\"%s\",\"durability\":\"%s\",\"durability_meaning\":\"%s\","
                     "\"entries\":%" PRIu64 ",\"value_bytes\":%u,\"memory_bytes\":%" PRIu64 ",\"ok\":%s",
                     o->adapter->name, workload_names[o->workload], o->sync ? "sync" : "relaxed",
                     o->sync ? o->adapter->sync_meaning : o->adapter->relaxed_meaning, o->entries, o->value_bytes,
                     o->memory_bytes, status == 0 ? "true" : "false");
        if (o->workload == MULTI_WRITER) {
            (void)printf(",\"threads\":%u", o->threads);
        }
        if (status != 0) {
            (void)printf(",\"error\":\"");
            for (const char *c = error; *c != '\0'; c++) {
                (void)printf(*c == '"' || *c == '\\' ? "\\%c" : (*c < 32 ? " " : "%c"), *c);
            }
            (void)printf("\"");
        }
        (void)printf(",\"operations\":%" PRIu64 ",\"elapsed_ns\":%" PRIu64 ",\"ops_per_second\":%.1f,"
                     "\"not_found\":%" PRIu64 ",\"misses\":%" PRIu64 ",\"load_ns\":%" PRIu64 ",\"close_ns\":%" PRIu64
                     ",\"secondary_operations\":%" PRIu64 ",\"peak_rss_bytes\":%" PRIu64 ",\"disk_bytes\":%" PRIu64,
                     res->operations, res->elapsed_ns, throughput, res->not_found, res->misses, res->load_ns,
                     res->close_ns, res->secondary_operations, rss, disk);
        print_histogram_json(stdout, primary_name, &res->primary);
        if (res->secondary.count > 0) {
            print_histogram_json(stdout, secondary_name, &res->secondary);
        }
        (void)printf("}\n");
        return;
    }
    char threads[32] = "";
    if (o->workload == MULTI_WRITER) {
        (void)snprintf(threads, sizeof threads, ", %u thread%s", o->threads, o->threads == 1 ? "" : "s");
    }
    (void)printf("%s %s %s (%s)%s: %s\n", o->adapter->name, workload_names[o->workload],
                 o->sync ? "sync" : "relaxed", o->sync ? o->adapter->sync_meaning : o->adapter->relaxed_meaning,
                 threads, status == 0 ? "ok" : error);
    if (res->operations == 0 && res->primary.count == 0) {
        return;
    }
    (void)printf("  %" PRIu64 " ops in %.2f s: %.0f ops/s; peak RSS %.1f MiB; on disk %.1f MiB\n", res->operations,
                 seconds, throughput, (double)rss / 1048576.0, (double)disk / 1048576.0);
    print_histogram_text(stdout, primary_name, &res->primary);
    if (res->secondary.count > 0) {
        print_histogram_text(stdout, secondary_name, &res->secondary);
    }
    if (o->workload == DEADLINE) {
        (void)printf("  critical misses (> %.0f us or skipped): %" PRIu64 "\n", (double)o->deadline_ns / 1e3,
                     res->misses);
    }
    if (res->not_found > 0) {
        (void)printf("  WRONG: %" PRIu64 " gets did not find a loaded key\n", res->not_found);
    }
}

/* ---- the command line ------------------------------------------------------------------ */

static void usage(FILE *out)
{
    (void)fprintf(
        out,
        "usage: dw-kv-bench --engine E --workload W --dir DIR [options]\n"
        "\n"
        "Runs one key-value workload on one engine and prints throughput, latency\n"
        "percentiles from a per-operation histogram, peak RSS (VmHWM) and bytes on disk.\n"
        "DIR must exist and be empty; the engine's files are left in it.\n"
        "\n"
        "  --engine E          dwvd, lmdb, sqlite or rocksdb\n"
        "  --workload W        fillrandom, fillseq, readrandom, readwhilewriting, deadline,\n"
        "                      multiwriter (--threads writers, one commit per put)\n"
        "  --durability D      sync (every commit synced before it returns; default) or\n"
        "                      relaxed (commits not synced one by one)\n"
        "  --dir DIR           where the engine keeps its files\n"
        "  --entries N         objects filled or loaded (default 100000); multiwriter: all\n"
        "                      writers' puts together, each key put by one writer\n"
        "  --value-bytes B     value size (default 100; 1 .. 4096)\n"
        "  --reads N           readrandom: gets (default 100000)\n"
        "  --seconds S         readwhilewriting, deadline: how long (default 5)\n"
        "  --memory BYTES      memory the engine is told it may use (default 67108864):\n"
        "                      dwvd's memory.ceiling; the peers' caches (docs/BENCHMARKS.md)\n"
        "  --writer-rate R     readwhilewriting: puts a second (default 1000)\n"
        "  --readers N         readwhilewriting: reader threads (default 2; at most %d)\n"
        "  --writers N         deadline: bulk writer threads (default 2; at most %d)\n"
        "  --threads N         multiwriter: writer threads, started together (default 4;\n"
        "                      1 .. %d); dwvd, LMDB and RocksDB share one handle, SQLite\n"
        "                      gives each writer its own connection (WAL, busy timeout)\n"
        "  --period-us P       deadline: one critical get every P microseconds (default 5000)\n"
        "  --deadline-us D     deadline: a critical get slower than this misses (default 1000)\n"
        "  --seed X            the random key order of the reads (default 1)\n"
        "  --json              one JSON object instead of text\n"
        "  --help              this text\n"
        "\n"
        "Exit status: 0 when the workload ran to the end, 1 when an operation failed (the\n"
        "error is printed, and in JSON as \"error\"), 2 for a bad command line.\n",
        THREADS_MAX, THREADS_MAX, THREADS_MAX);
}

static int parse_u64(const char *text, uint64_t *value)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
        return -1;
    }
    *value = v;
    return 0;
}

static int parse(int argc, char **argv, options *o)
{
    *o = (options){.sync = true,
                   .entries = 100000,
                   .value_bytes = 100,
                   .reads = 100000,
                   .seconds = 5,
                   .memory_bytes = UINT64_C(64) << 20,
                   .writer_rate = 1000,
                   .readers = 2,
                   .writers = 2,
                   .threads = 4,
                   .period_ns = 5000000,
                   .deadline_ns = 1000000,
                   .seed = 1};
    static const struct option long_options[] = {
        {"engine", required_argument, NULL, 'e'},      {"workload", required_argument, NULL, 'w'},
        {"durability", required_argument, NULL, 'd'}, {"dir", required_argument, NULL, 'D'},
        {"entries", required_argument, NULL, 'n'},     {"value-bytes", required_argument, NULL, 'v'},
        {"reads", required_argument, NULL, 'r'},       {"seconds", required_argument, NULL, 's'},
        {"memory", required_argument, NULL, 'm'},      {"writer-rate", required_argument, NULL, 'R'},
        {"readers", required_argument, NULL, 'T'},     {"writers", required_argument, NULL, 'W'},
        {"period-us", required_argument, NULL, 'p'},   {"deadline-us", required_argument, NULL, 'l'},
        {"seed", required_argument, NULL, 'S'},        {"json", no_argument, NULL, 'j'},
        {"threads", required_argument, NULL, 't'},     {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const kv_adapter *const adapters[] = {&kv_dwvd, &kv_lmdb, &kv_sqlite, &kv_rocksdb};
    int c;
    bool have_workload = false;
    while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        uint64_t v = 0;
        bool numeric = strchr("nvrsmRTWtplS", c) != NULL;
        if (numeric && parse_u64(optarg, &v) != 0) {
            (void)fprintf(stderr, "dw-kv-bench: '%s' is not a whole number\n", optarg);
            return -1;
        }
        switch (c) {
        case 'e':
            for (size_t i = 0; i < sizeof adapters / sizeof adapters[0]; i++) {
                if (strcmp(optarg, adapters[i]->name) == 0) {
                    o->adapter = adapters[i];
                }
            }
            if (o->adapter == NULL) {
                (void)fprintf(stderr, "dw-kv-bench: unknown engine '%s' (dwvd, lmdb, sqlite, rocksdb)\n", optarg);
                return -1;
            }
            break;
        case 'w':
            for (size_t i = 0; i < sizeof workload_names / sizeof workload_names[0]; i++) {
                if (strcmp(optarg, workload_names[i]) == 0) {
                    o->workload = (workload)i;
                    have_workload = true;
                }
            }
            if (!have_workload) {
                (void)fprintf(stderr, "dw-kv-bench: unknown workload '%s' (see --help)\n", optarg);
                return -1;
            }
            break;
        case 'd':
            if (strcmp(optarg, "sync") != 0 && strcmp(optarg, "relaxed") != 0) {
                (void)fprintf(stderr, "dw-kv-bench: durability is sync or relaxed, not '%s'\n", optarg);
                return -1;
            }
            o->sync = strcmp(optarg, "sync") == 0;
            break;
        case 'D': o->directory = optarg; break;
        case 'n': o->entries = v; break;
        case 'v': o->value_bytes = (uint32_t)(v > UINT32_MAX ? 0 : v); break;
        case 'r': o->reads = v; break;
        case 's': o->seconds = v; break;
        case 'm': o->memory_bytes = v; break;
        case 'R': o->writer_rate = (uint32_t)(v > UINT32_MAX ? 0 : v); break;
        case 'T': o->readers = (uint32_t)(v > THREADS_MAX ? 0 : v); break;
        case 'W': o->writers = (uint32_t)(v > THREADS_MAX ? 0 : v); break;
        case 't': o->threads = (uint32_t)(v > THREADS_MAX ? 0 : v); break;
        case 'p': o->period_ns = v * 1000u; break;
        case 'l': o->deadline_ns = v * 1000u; break;
        case 'S': o->seed = v; break;
        case 'j': o->json = true; break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
    }
    const char *problem = NULL;
    if (optind < argc) {
        problem = "unexpected argument";
    } else if (o->adapter == NULL || !have_workload || o->directory == NULL) {
        problem = "--engine, --workload and --dir are required";
    } else if (o->entries == 0 || o->entries > (UINT64_C(1) << 32)) {
        problem = "--entries must be 1 .. 2^32";
    } else if (o->value_bytes == 0 || o->value_bytes > BULK_VALUE_BYTES) {
        problem = "--value-bytes must be 1 .. 4096";
    } else if (o->seconds == 0 || o->writer_rate == 0 || o->readers == 0 || o->writers == 0 ||
               o->threads == 0 || o->period_ns == 0 || o->deadline_ns == 0) {
        problem = "--seconds, --writer-rate, --readers, --writers, --threads, --period-us and --deadline-us "
                  "must be > 0 (threads at most 16)";
    } else if (o->memory_bytes < (UINT64_C(8) << 20)) {
        problem = "--memory must be at least 8 MiB";
    }
    if (problem != NULL) {
        (void)fprintf(stderr, "dw-kv-bench: %s; see --help\n", problem);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    if (parse(argc, argv, &o) != 0) {
        return 2;
    }
    static run r;
    r.options = &o;
    (void)pthread_mutex_init(&r.error_lock, NULL);
    r.value_pool = malloc(VALUE_POOL_BYTES);
    result *res = calloc(1, sizeof *res);
    if (r.value_pool == NULL || res == NULL) {
        (void)fprintf(stderr, "dw-kv-bench: out of memory\n");
        return 1;
    }
    uint64_t state = 42;
    for (uint64_t i = 0; i < VALUE_POOL_BYTES; i += 8) {
        uint64_t x = next_random(&state);
        memcpy(r.value_pool + i, &x, 8);
    }
    dw_histogram_reset(&res->primary);
    dw_histogram_reset(&res->secondary);

    kv_settings settings = {.directory = o.directory,
                            .sync = o.sync,
                            .memory_bytes = o.memory_bytes,
                            .entries = o.entries + (o.workload == DEADLINE ? (uint64_t)o.writers * BULK_KEYS_PER_WRITER : 0),
                            .value_bytes = o.workload == DEADLINE ? BULK_VALUE_BYTES : o.value_bytes};
    char error[KV_ERROR_MAX];
    int status = o.adapter->open(&settings, &r.engine, error, sizeof error);
    if (status != 0) {
        /* The adapter's message, then the directory it was given (cut to fit). */
        (void)snprintf(r.error, sizeof r.error, "%.300s (directory '%.150s')", error, o.directory);
    } else {
        switch (o.workload) {
        case FILL_RANDOM: status = fill(&r, true, res); break;
        case FILL_SEQUENTIAL: status = fill(&r, false, res); break;
        case READ_RANDOM: status = read_random(&r, res); break;
        case READ_WHILE_WRITING:
        case DEADLINE: status = concurrent(&r, res); break;
        case MULTI_WRITER: status = multi_writer(&r, res); break;
        }
        uint64_t t0 = now_ns();
        if (o.adapter->close(r.engine, error, sizeof error) != 0 && status == 0) {
            set_failed(&r, error);
            status = -1;
        }
        res->close_ns = now_ns() - t0;
    }
    if (status == 0 && res->not_found > 0) {
        (void)snprintf(r.error, sizeof r.error, "%" PRIu64 " gets did not return a loaded value", res->not_found);
        status = -1;
    }
    report(&o, res, status, r.error, peak_rss_bytes(), disk_bytes(o.directory));
    free(r.value_pool);
    free(res);
    return status == 0 ? 0 : 1;
}
