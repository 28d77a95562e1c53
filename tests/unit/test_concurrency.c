/*
 * test_concurrency.c — readers and a writer on one VDE at once (docs/CONCURRENCY.md).
 *
 * Readers share the state lock and run while a writer waits for the device; what they
 * must still never see is half of a transaction, a value torn between two versions, or
 * an inode whose generation its index entry does not name (which reads as DW_ECORRUPT).
 * Every value here describes itself (its key, its version, a checksum of the rest), so
 * a reader can tell a whole value from any mixture. Also run under ThreadSanitizer.
 */
#include "harness.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "vde_env.h"

#define READERS 3
#define KEYS 64
#define VALUE_MAX 9000 /* three data blocks: read through the readers' stages */

typedef struct shared {
    dw_vde *vde;
    _Atomic bool stop;
    _Atomic uint64_t reads;
    _Atomic uint64_t failures;
    uint32_t rounds;
    char first_failure[DW_DIAG_MESSAGE_MAX];
    pthread_mutex_t failure_lock;
} shared;

static void shared_init(shared *s, dw_vde *vde, uint32_t rounds)
{
    memset(s, 0, sizeof *s);
    s->vde = vde;
    s->rounds = rounds;
    atomic_init(&s->stop, false);
    atomic_init(&s->reads, 0);
    atomic_init(&s->failures, 0);
    (void)pthread_mutex_init(&s->failure_lock, NULL);
}

static void record_failure(shared *s, const char *what)
{
    if (atomic_fetch_add(&s->failures, 1) == 0) {
        (void)pthread_mutex_lock(&s->failure_lock);
        (void)snprintf(s->first_failure, sizeof s->first_failure, "%s", what);
        (void)pthread_mutex_unlock(&s->failure_lock);
    }
}

/* key, version, length, then bytes from the version, then an XXH64 of all before it. */
static size_t make_value(unsigned char *value, uint32_t key, uint32_t version)
{
    size_t length = 24 + (size_t)(version * 977u + key * 131u) % (VALUE_MAX - 32);
    memcpy(value, &key, 4);
    memcpy(value + 4, &version, 4);
    uint64_t length64 = length;
    memcpy(value + 8, &length64, 8);
    for (size_t i = 16; i < length - 8; i++) {
        value[i] = (unsigned char)(version * 7u + key + i);
    }
    uint64_t sum = dw_xxh64(value, length - 8, 0);
    memcpy(value + length - 8, &sum, 8);
    return length;
}

/* The version a whole value holds, or UINT32_MAX when it is not whole or not the key's. */
static uint32_t check_value(const unsigned char *value, size_t length, uint32_t key)
{
    if (length < 24) {
        return UINT32_MAX;
    }
    uint32_t found_key = 0;
    uint32_t version = 0;
    uint64_t length64 = 0;
    uint64_t sum = 0;
    memcpy(&found_key, value, 4);
    memcpy(&version, value + 4, 4);
    memcpy(&length64, value + 8, 8);
    memcpy(&sum, value + length - 8, 8);
    if (found_key != key || length64 != length || sum != dw_xxh64(value, length - 8, 0)) {
        return UINT32_MAX;
    }
    return version;
}

static int key_text(uint32_t key, char *text)
{
    return snprintf(text, 16, "k%04u", key);
}

/* Reads keys in a fixed order, pairs (b before a) to check transactions: a and b are
 * written in one transaction with the same version, so b at version v means a >= v. */
static void *reader_main(void *argument)
{
    shared *s = argument;
    static _Thread_local unsigned char value[VALUE_MAX];
    char key[16];
    uint32_t seen[KEYS] = {0};
    while (!atomic_load(&s->stop)) {
        for (uint32_t k = 0; k + 1 < KEYS; k += 2) {
            uint32_t versions[2] = {0, 0};
            for (int which = 1; which >= 0; which--) {
                uint32_t id = k + (uint32_t)which;
                int n = key_text(id, key);
                size_t length = 0;
                dw_diag diag;
                int result = dw_get(s->vde, key, (size_t)n, value, sizeof value, &length, NULL, &diag);
                atomic_fetch_add(&s->reads, 1);
                if (result == DW_ENOENT) {
                    versions[which] = 0;
                    continue;
                }
                if (result != DW_OK) {
                    record_failure(s, diag.message);
                    continue;
                }
                uint32_t version = check_value(value, length, id);
                if (version == UINT32_MAX) {
                    record_failure(s, "a value not whole, or another key's");
                } else if (version < seen[id]) {
                    record_failure(s, "a key went back to an older version");
                } else {
                    versions[which] = version;
                    seen[id] = version;
                }
            }
            if (versions[0] < versions[1]) {
                record_failure(s, "half a transaction: b at a version a was not yet at");
            }
        }
    }
    return NULL;
}

static void writer_rounds(shared *s, env *e)
{
    static unsigned char value[VALUE_MAX];
    char key[16];
    for (uint32_t version = 1; version <= s->rounds; version++) {
        /* A pair in a user transaction... */
        uint32_t k = (version * 2u) % KEYS;
        dw_txn *txn = NULL;
        OK(dw_txn_begin(e->vde, &txn, &e->diag));
        for (uint32_t which = 0; which < 2; which++) {
            int n = key_text(k + which, key);
            size_t length = make_value(value, k + which, version);
            OK(dw_txn_put(txn, key, (size_t)n, value, length, &e->diag));
        }
        OK(dw_txn_commit(txn, NULL, &e->diag));
        /* ...a single put of another pair's b with its a first, so the rule holds... */
        uint32_t other = (k + 2) % KEYS;
        for (uint32_t which = 0; which < 2; which++) {
            int n = key_text(other + which, key);
            size_t length = make_value(value, other + which, version);
            OK(dw_put(e->vde, key, (size_t)n, value, length, NULL, &e->diag));
        }
        /* ...and a streamed value for a key of its own, written in pieces. */
        dw_writer *writer = NULL;
        int n = key_text(KEYS + 1, key);
        OK(dw_writer_open(e->vde, key, (size_t)n, NULL, &writer, &e->diag));
        size_t length = make_value(value, KEYS + 1, version);
        OK(dw_writer_write(writer, value, length / 2, &e->diag));
        OK(dw_writer_write(writer, value + length / 2, length - length / 2, &e->diag));
        OK(dw_writer_commit(writer, &e->diag));
        if (version % 16 == 0) {
            OK(dw_sync(e->vde, NULL, &e->diag));
        }
    }
}

static void readers_see_only_whole_commits(bool sim, dw_durability durability)
{
    env *e = env_new(sim, 64u << 20);
    e->config.durability = durability;
    env_open(e);
    shared s;
    shared_init(&s, e->vde, (uint32_t)(60 * dw_test_scale()));
    pthread_t threads[READERS];
    for (int i = 0; i < READERS; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, reader_main, &s), 0);
    }
    writer_rounds(&s, e);
    atomic_store(&s.stop, true);
    for (int i = 0; i < READERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    }
    (void)pthread_mutex_destroy(&s.failure_lock);
    print_message("# %llu reads beside %u writer rounds, %llu failures\n",
                  (unsigned long long)atomic_load(&s.reads), s.rounds,
                  (unsigned long long)atomic_load(&s.failures));
    if (atomic_load(&s.failures) != 0) {
        fail_msg("first failure: %s", s.first_failure);
    }
    assert_true(atomic_load(&s.reads) > 0);
    env_close(e);
    assert_int_equal(env_verify(e, NULL, NULL)->problem_count, 0);
    env_free(e);
}

static void readers_beside_a_strict_writer_on_a_file(void **state)
{
    (void)state;
    readers_see_only_whole_commits(false, DW_DURABILITY_STRICT);
}

static void readers_beside_a_group_writer_on_a_file(void **state)
{
    (void)state;
    readers_see_only_whole_commits(false, DW_DURABILITY_GROUP);
}

/* Strict writers on several threads share records (group commit): each put returns only
 * once durable, none is lost or reordered within its key, and what every writer was
 * told is there after a reopen. Readers run beside them. */
#define WRITERS 4
#define WRITER_KEYS 8

typedef struct writer_job {
    dw_vde *vde;
    uint32_t index;
    uint32_t rounds;
    int result;
    char message[DW_DIAG_MESSAGE_MAX];
} writer_job;

static void *strict_writer_main(void *argument)
{
    writer_job *job = argument;
    static _Thread_local unsigned char value[VALUE_MAX];
    char key[16];
    for (uint32_t version = 1; version <= job->rounds && job->result == DW_OK; version++) {
        for (uint32_t k = 0; k < WRITER_KEYS; k++) {
            uint32_t id = KEYS + 8 + job->index * WRITER_KEYS + k;
            int n = key_text(id, key);
            /* Small values mostly (compact, one durable write), a large one now and then. */
            size_t length = make_value(value, id, version);
            if (k != 0) {
                length = length > 200 ? 200 : length;
                uint64_t length64 = length;
                memcpy(value + 8, &length64, 8);
                uint64_t sum = dw_xxh64(value, length - 8, 0);
                memcpy(value + length - 8, &sum, 8);
            }
            dw_diag diag;
            int result = dw_put(job->vde, key, (size_t)n, value, length, NULL, &diag);
            if (result != DW_OK) {
                job->result = result;
                (void)snprintf(job->message, sizeof job->message, "%s", diag.message);
            }
        }
    }
    return NULL;
}

static void strict_writers_share_records_and_lose_nothing(void **state)
{
    (void)state;
    env *e = env_new(false, 64u << 20);
    e->config.durability = DW_DURABILITY_STRICT;
    env_open(e);
    shared s;
    shared_init(&s, e->vde, 0);
    pthread_t readers[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&readers[i], NULL, reader_main, &s), 0);
    }
    uint32_t rounds = (uint32_t)(20 * dw_test_scale());
    rounds = rounds < 2 ? 2 : rounds;
    writer_job jobs[WRITERS];
    pthread_t writers[WRITERS];
    for (uint32_t i = 0; i < WRITERS; i++) {
        jobs[i] = (writer_job){.vde = e->vde, .index = i, .rounds = rounds, .result = DW_OK};
        assert_int_equal(pthread_create(&writers[i], NULL, strict_writer_main, &jobs[i]), 0);
    }
    for (uint32_t i = 0; i < WRITERS; i++) {
        assert_int_equal(pthread_join(writers[i], NULL), 0);
        if (jobs[i].result != DW_OK) {
            fail_msg("writer %u: %s", i, jobs[i].message);
        }
    }
    atomic_store(&s.stop, true);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(readers[i], NULL), 0);
    }
    (void)pthread_mutex_destroy(&s.failure_lock);
    if (atomic_load(&s.failures) != 0) {
        fail_msg("first failure: %s", s.first_failure);
    }
    dw_vde_info info;
    dw_vde_info_read(e->vde, &info);
    print_message("# %u strict writers, %llu commits in %llu records\n", WRITERS, (unsigned long long)info.commits,
                  (unsigned long long)info.records);
    assert_true(info.records <= info.commits);
    env_close(e);
    env_open(e);
    static unsigned char value[VALUE_MAX];
    char key[16];
    for (uint32_t i = 0; i < WRITERS; i++) {
        for (uint32_t k = 0; k < WRITER_KEYS; k++) {
            uint32_t id = KEYS + 8 + i * WRITER_KEYS + k;
            int n = key_text(id, key);
            size_t length = 0;
            OK(dw_get(e->vde, key, (size_t)n, value, sizeof value, &length, NULL, &e->diag));
            assert_int_equal(check_value(value, length, id), rounds);
        }
    }
    env_close(e);
    assert_int_equal(env_verify(e, NULL, NULL)->problem_count, 0);
    env_free(e);
}

/* A reader inside its own thread's transaction sees what the transaction wrote; calls on
 * the transaction are refused on any other thread, and another thread's put waits for
 * the transaction to end instead of being refused. */
typedef struct intruder {
    dw_vde *vde;
    dw_txn *txn;
    int put_result;
    int txn_result;
    atomic_bool txn_tried;
    atomic_bool put_done;
} intruder;

static void *intruder_main(void *argument)
{
    intruder *in = argument;
    in->txn_result = dw_txn_put(in->txn, "y", 1, "1", 1, NULL);
    atomic_store(&in->txn_tried, true);
    in->put_result = dw_put(in->vde, "x", 1, "1", 1, NULL, NULL);
    atomic_store(&in->put_done, true);
    return NULL;
}

static void a_transaction_belongs_to_its_thread(void **state)
{
    (void)state;
    env *e = env_new(false, 64u << 20);
    env_open(e);
    dw_txn *txn = NULL;
    OK(dw_txn_begin(e->vde, &txn, &e->diag));
    OK(dw_txn_put(txn, "k", 1, "v1", 2, &e->diag));
    char back[8];
    size_t length = 0;
    OK(dw_get(e->vde, "k", 1, back, sizeof back, &length, NULL, &e->diag));
    assert_int_equal(length, 2);
    intruder in = {.vde = e->vde, .txn = txn};
    atomic_init(&in.txn_tried, false);
    atomic_init(&in.put_done, false);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, intruder_main, &in), 0);
    while (!atomic_load(&in.txn_tried)) {
        sched_yield();
    }
    assert_int_equal(in.txn_result, DW_EINVAL);
    /* The intruder's put cannot have gone in: the transaction is still open. */
    assert_false(atomic_load(&in.put_done));
    bool exists = true;
    OK(dw_exists(e->vde, "x", 1, &exists, NULL, &e->diag));
    assert_false(exists);
    OK(dw_txn_commit(txn, NULL, &e->diag));
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(in.put_result, DW_OK);
    OK(dw_exists(e->vde, "x", 1, &exists, NULL, &e->diag));
    assert_true(exists);
    OK(dw_exists(e->vde, "k", 1, &exists, NULL, &e->diag));
    assert_true(exists);
    env_free(e);
}

/* Issue 18, point 5: streams, puts, transactions and reads on one VDE at once. Two
 * threads stream values of a MiB and more in pieces (and abort one now and then), two
 * put small values (one of them in transactions too) and read each back at once, and a
 * reader reads both kinds all along. Nothing waits for a stream to end: every put
 * returns while streams are open. Afterwards, and after a reopen, every value is whole
 * and verify finds every block accounted for. */
#define STREAMERS 2
#define PUTTERS 2
#define STREAM_PIECE_MAX (200u * 1024u)

static size_t stream_size(uint32_t thread, uint32_t n)
{
    return (1u << 20) + (size_t)n * 100003u + (size_t)thread * 7777u;
}

static unsigned char stream_byte(uint32_t thread, uint32_t n, uint64_t i)
{
    return (unsigned char)(((i * 2654435761u) >> 9) ^ (thread * 31u + n * 17u));
}

static int stream_key(uint32_t thread, uint32_t n, char *text)
{
    return snprintf(text, 24, "stream-%u-%03u", thread, n);
}

typedef struct stream_job {
    dw_vde *vde;
    uint32_t index;
    uint32_t count;                 /* values streamed */
    _Atomic uint32_t committed;     /* of them, committed so far */
    _Atomic bool done;
    int result;
    char message[DW_DIAG_MESSAGE_MAX];
} stream_job;

static int stream_one(dw_vde *vde, uint32_t thread, uint32_t n, bool commit, dw_diag *diag)
{
    static _Thread_local unsigned char piece[STREAM_PIECE_MAX];
    char key[24];
    int length = stream_key(thread, commit ? n : 999, key);
    dw_writer *writer = NULL;
    int result = dw_writer_open(vde, key, (size_t)length, NULL, &writer, diag);
    size_t size = commit ? stream_size(thread, n) : stream_size(thread, n) / 2;
    uint64_t random = ((uint64_t)thread << 32) + n + 1;
    for (size_t at = 0; result == DW_OK && at < size;) {
        size_t take = 1 + (size_t)(dw_test_random(&random) % STREAM_PIECE_MAX);
        take = take > size - at ? size - at : take;
        for (size_t i = 0; i < take; i++) {
            piece[i] = stream_byte(thread, n, at + i);
        }
        result = dw_writer_write(writer, piece, take, diag);
        at += take;
    }
    if (result == DW_OK && commit) {
        result = dw_writer_commit(writer, diag);
    } else if (result == DW_OK) {
        dw_writer_abort(writer);
    }
    return result;
}

static void *streamer_main(void *argument)
{
    stream_job *job = argument;
    dw_diag diag;
    for (uint32_t n = 0; n < job->count && job->result == DW_OK; n++) {
        if (n % 3 == 1) {
            job->result = stream_one(job->vde, job->index, n, false, &diag); /* aborted */
        }
        if (job->result == DW_OK) {
            job->result = stream_one(job->vde, job->index, n, true, &diag);
        }
        if (job->result != DW_OK) {
            (void)snprintf(job->message, sizeof job->message, "%s", diag.message);
        } else {
            atomic_store(&job->committed, n + 1);
        }
    }
    atomic_store(&job->done, true);
    return NULL;
}

/* Whether a streamed value read at [offset, offset + length) holds what it must. */
static bool stream_bytes_match(uint32_t thread, uint32_t n, uint64_t offset, const unsigned char *bytes, size_t length)
{
    for (size_t i = 0; i < length; i++) {
        if (bytes[i] != stream_byte(thread, n, offset + i)) {
            return false;
        }
    }
    return true;
}

typedef struct putter_job {
    dw_vde *vde;
    uint32_t index;
    stream_job *streams;            /* runs until they are done */
    uint32_t rounds;
    uint32_t puts_beside_streams;   /* puts that returned while a stream was still going */
    int result;
    char message[DW_DIAG_MESSAGE_MAX];
} putter_job;

static uint32_t putter_key(uint32_t putter, uint32_t k)
{
    return 2 * KEYS + putter * WRITER_KEYS + k;
}

static void *putter_main(void *argument)
{
    putter_job *job = argument;
    static _Thread_local unsigned char value[VALUE_MAX];
    char key[16];
    dw_diag diag;
    for (uint32_t version = 1; job->result == DW_OK; version++) {
        bool streaming = false;
        for (uint32_t i = 0; i < STREAMERS; i++) {
            streaming = streaming || !atomic_load(&job->streams[i].done);
        }
        if (!streaming && version > 8) {
            break;
        }
        uint32_t k = version % WRITER_KEYS;
        uint32_t id = putter_key(job->index, k);
        int n = key_text(id, key);
        size_t length = make_value(value, id, version);
        int result = DW_OK;
        if (job->index == 1 && version % 4 == 0) {
            /* In a transaction of its own thread, beside the streams. */
            dw_txn *txn = NULL;
            result = dw_txn_begin(job->vde, &txn, &diag);
            if (result == DW_OK) {
                result = dw_txn_put(txn, key, (size_t)n, value, length, &diag);
                if (result == DW_OK) {
                    result = dw_txn_commit(txn, NULL, &diag);
                } else {
                    dw_txn_abort(txn);
                }
            }
        } else {
            result = dw_put(job->vde, key, (size_t)n, value, length, NULL, &diag);
        }
        if (result == DW_OK && streaming) {
            job->puts_beside_streams++;
        }
        size_t back = 0;
        if (result == DW_OK) {
            result = dw_get(job->vde, key, (size_t)n, value, sizeof value, &back, NULL, &diag);
        }
        if (result == DW_OK && (back != length || check_value(value, back, id) != version)) {
            result = DW_ECORRUPT;
            (void)snprintf(diag.message, sizeof diag.message, "key %u did not read back version %u", id, version);
        }
        if (result != DW_OK) {
            job->result = result;
            (void)snprintf(job->message, sizeof job->message, "%s", diag.message);
        }
        job->rounds = version;
    }
    return NULL;
}

typedef struct stream_reader {
    shared *s;
    stream_job *streams;
} stream_reader;

static void *stream_reader_main(void *argument)
{
    stream_reader *r = argument;
    static _Thread_local unsigned char chunk[20000];
    uint64_t random = 99;
    char key[24];
    while (!atomic_load(&r->s->stop)) {
        uint32_t thread = (uint32_t)(dw_test_random(&random) % STREAMERS);
        uint32_t committed = atomic_load(&r->streams[thread].committed);
        uint32_t n = committed > 0 ? (uint32_t)(dw_test_random(&random) % committed) : 0;
        int length = stream_key(thread, n, key);
        uint64_t offset = dw_test_random(&random) % stream_size(thread, n);
        size_t read = 0;
        dw_diag diag;
        int result = dw_read(r->s->vde, key, (size_t)length, offset, chunk, sizeof chunk, &read, NULL, &diag);
        atomic_fetch_add(&r->s->reads, 1);
        if (result == DW_ENOENT && committed == 0) {
            continue;
        }
        if (result != DW_OK) {
            record_failure(r->s, diag.message);
        } else if (!stream_bytes_match(thread, n, offset, chunk, read)) {
            record_failure(r->s, "a streamed value read back wrong");
        }
    }
    return NULL;
}

static void streams_puts_transactions_and_reads_at_once(void **state)
{
    (void)state;
    env *e = env_new(false, 128u << 20);
    e->config.durability = DW_DURABILITY_STRICT;
    env_open(e);
    shared s;
    shared_init(&s, e->vde, 0);
    uint32_t count = (uint32_t)(4 * dw_test_scale());
    count = count < 2 ? 2 : count;
    stream_job streams[STREAMERS];
    putter_job putters[PUTTERS];
    pthread_t stream_threads[STREAMERS];
    pthread_t putter_threads[PUTTERS];
    pthread_t reader_threads[2];
    for (uint32_t i = 0; i < STREAMERS; i++) {
        streams[i] = (stream_job){.vde = e->vde, .index = i, .count = count, .result = DW_OK};
        atomic_init(&streams[i].committed, 0);
        atomic_init(&streams[i].done, false);
    }
    stream_reader reader = {.s = &s, .streams = streams};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&reader_threads[i], NULL, stream_reader_main, &reader), 0);
    }
    for (uint32_t i = 0; i < STREAMERS; i++) {
        assert_int_equal(pthread_create(&stream_threads[i], NULL, streamer_main, &streams[i]), 0);
    }
    for (uint32_t i = 0; i < PUTTERS; i++) {
        putters[i] = (putter_job){.vde = e->vde, .index = i, .streams = streams, .result = DW_OK};
        assert_int_equal(pthread_create(&putter_threads[i], NULL, putter_main, &putters[i]), 0);
    }
    uint32_t beside = 0;
    for (uint32_t i = 0; i < STREAMERS; i++) {
        assert_int_equal(pthread_join(stream_threads[i], NULL), 0);
        if (streams[i].result != DW_OK) {
            fail_msg("streamer %u: %s", i, streams[i].message);
        }
    }
    for (uint32_t i = 0; i < PUTTERS; i++) {
        assert_int_equal(pthread_join(putter_threads[i], NULL), 0);
        if (putters[i].result != DW_OK) {
            fail_msg("putter %u: %s", i, putters[i].message);
        }
        beside += putters[i].puts_beside_streams;
    }
    atomic_store(&s.stop, true);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(reader_threads[i], NULL), 0);
    }
    (void)pthread_mutex_destroy(&s.failure_lock);
    print_message("# %u streamers x %u values, %u puts returned while streams were open, %llu reads, %llu failures\n",
                  STREAMERS, count, beside, (unsigned long long)atomic_load(&s.reads),
                  (unsigned long long)atomic_load(&s.failures));
    if (atomic_load(&s.failures) != 0) {
        fail_msg("first failure: %s", s.first_failure);
    }
    assert_true(beside > 0);
    env_close(e);
    env_open(e);
    size_t big_max = stream_size(STREAMERS, count);
    unsigned char *big = malloc(big_max);
    assert_non_null(big);
    char key[24];
    for (uint32_t t = 0; t < STREAMERS; t++) {
        for (uint32_t n = 0; n < count; n++) {
            int length = stream_key(t, n, key);
            size_t size = 0;
            OK(dw_get(e->vde, key, (size_t)length, big, big_max, &size, NULL, &e->diag));
            assert_int_equal(size, stream_size(t, n));
            assert_true(stream_bytes_match(t, n, 0, big, size));
        }
        int length = stream_key(t, 999, key);
        bool exists = true;
        OK(dw_exists(e->vde, key, (size_t)length, &exists, NULL, &e->diag));
        assert_false(exists); /* only ever aborted */
    }
    static unsigned char value[VALUE_MAX];
    for (uint32_t p = 0; p < PUTTERS; p++) {
        for (uint32_t k = 0; k < WRITER_KEYS; k++) {
            uint32_t id = putter_key(p, k);
            int n = key_text(id, key);
            size_t length = 0;
            OK(dw_get(e->vde, key, (size_t)n, value, sizeof value, &length, NULL, &e->diag));
            assert_true(check_value(value, length, id) != UINT32_MAX);
        }
    }
    free(big);
    env_close(e);
    const dw_verify_report *report = env_verify(e, NULL, NULL);
    env_print_problems(report);
    assert_int_equal(report->problem_count, 0);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(readers_beside_a_strict_writer_on_a_file),
        cmocka_unit_test(readers_beside_a_group_writer_on_a_file),
        cmocka_unit_test(a_transaction_belongs_to_its_thread),
        cmocka_unit_test(strict_writers_share_records_and_lose_nothing),
        cmocka_unit_test(streams_puts_transactions_and_reads_at_once),
    };
    return cmocka_run_group_tests_name("concurrency", tests, NULL, NULL);
}
