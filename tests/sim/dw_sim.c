/*
 * dw-sim — deterministic simulation of the engine on the simulated disk.
 *
 * From one seed: a VDE configuration (strict or group durability, WAL and cache sizes,
 * sometimes small blocks), a set of faults (unsynced writes dropped, torn and reordered
 * on power loss; power cut at a random write; transient errors, short transfers, device
 * latency; failed syncs; and, in some seeds, damage: bit flips at rest and in reads,
 * latent sector errors, misdirected writes) and a random workload — puts, replacements,
 * streamed puts, deletes, transactions committed and aborted, reads whole and at offsets,
 * stat, prefix iteration, sync, close and reopen, power cuts between operations. Every
 * result is checked against a model of what was acknowledged:
 *
 *   - a live read returns exactly the model's bytes (or, once damage is on, an error —
 *     DW_ECORRUPT or DW_EIO — never other bytes);
 *   - after every crash and reopen the VDE holds the state after a prefix of the commits
 *     made since the last point known durable: under strict durability at least every
 *     acknowledged commit, under group durability at least everything before the last
 *     completed sync or close; a transaction is all there or not at all;
 *   - a write that fails leaves its commit uncertain (present whole or absent after the
 *     reopen that follows), and no other;
 *   - at the end of the seed `verify` finds the VDE clean and counts the model's objects.
 *
 * With damage, acknowledged data may be lost (nothing can survive a flipped bit in the
 * only copy); what must still hold is that nothing wrong is returned: a value read is one
 * that key really had, every error is DW_ECORRUPT or DW_EIO, nothing crashes.
 *
 * `--swarm` draws the fault probabilities themselves from the seed (each kind on or off,
 * its rate log-uniform), so that runs differ in kind and not only in detail.
 *
 * The same seed gives the same run, byte for byte: the disk, its faults and virtual time
 * all come from it, and the engine runs without threads on the simulated disk. A failure
 * prints the seed and the command that reproduces it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/config.h"
#include "io/sim_disk.h"
#include "vde/vde_internal.h"

#define KEYS 48
#define KEY_LENGTH_MAX 40
#define VALUE_MAX (48u * 1024)
#define TXN_MAX 8
#define PENDING_MAX 128             /* group commits kept for the prefix check; a sync when full */
#define HISTORY_MAX 64              /* versions of a key remembered for the damage check */
#define DISK_BYTES (16u << 20)
#define PENDING_BYTES (8u << 20)
#define OPS_DEFAULT 1000
#define SEEDS_DEFAULT 200
#define ERROR_ROUNDS_MAX 40         /* recoveries after errors before a damaged seed stops */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* ---- the model ---------------------------------------------------------------------- */

typedef struct version {
    bool present;
    bool unknown;                   /* damaged: whatever it holds is checked by history only */
    uint32_t length;
    uint64_t seed;                  /* the bytes are fill(seed, length) */
    uint64_t hash;                  /* XXH64 of those bytes */
} version;

typedef struct change {
    uint32_t key;
    version v;
} change;

typedef struct commit {
    uint32_t count;
    change changes[TXN_MAX];
} commit;

typedef struct totals {
    uint64_t seeds;
    uint64_t seeds_damaged;
    uint64_t seeds_stopped;         /* damage made the VDE unusable: open refused, or errors persist */
    uint64_t operations;
    uint64_t commits;
    uint64_t power_cuts;            /* between operations and in the middle of one */
    uint64_t recovery_crashes;      /* of those, during an open's recovery */
    uint64_t reopens;
    uint64_t recoveries_checked;    /* states compared with the model after a reopen */
    uint64_t uncertain;             /* commits whose call failed */
    uint64_t prefix_shorter;        /* recoveries that found fewer commits than were made */
    uint64_t detected;              /* reads and writes that reported damage */
    uint64_t busy;                  /* calls that met a transient error on every attempt (DW_EBUSY) */
    uint64_t torn, dropped, bit_flips, latent, misdirected, transient, short_io, failed_syncs;
    uint64_t verify_problems;       /* found by verify at the end of damaged seeds */
} totals;

typedef struct sim {
    /* kept from seed to seed: the command's settings and the memory taken once */
    totals *totals;
    bool swarm;
    bool verbose;
    bool trace;
    uint64_t operations;
    void *disk_memory;
    unsigned char *value;
    unsigned char *back;
    /* one seed's run: everything from here is cleared when a seed starts */
    uint64_t seed;
    bool damage;
    bool strict;
    uint64_t random;
    uint64_t op;
    const char *what;
    bool failed;
    bool stopped;
    uint32_t error_rounds;
    char failure[1024];
    /* the engine */
    dw_sim_disk disk;
    dw_config config;
    dw_vde_target target;
    dw_create_options create;
    dw_vde *vde;
    dw_diag diag;
    /* the model */
    unsigned char keys[KEYS][KEY_LENGTH_MAX];
    uint32_t key_lengths[KEYS];
    uint32_t order[KEYS];           /* key indexes in the VDE's order */
    version durable[KEYS];
    version current[KEYS];
    commit pending[PENDING_MAX];
    uint32_t pending_count;
    uint32_t must;                  /* pending commits that must survive a crash */
    uint64_t history[KEYS][HISTORY_MAX];
    uint32_t history_count[KEYS];
} sim;

static const char *const PATH = "dw-sim.dwvd";

static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t below(sim *s, uint64_t bound)
{
    return bound == 0 ? 0 : next_random(&s->random) % bound;
}

static void fill(unsigned char *buffer, size_t length, uint64_t seed)
{
    for (size_t i = 0; i < length; i++) {
        seed = seed * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        buffer[i] = (unsigned char)(seed >> 56);
    }
}

/* Records the first failure of a seed; later checks are skipped. */
#define FAIL(s, ...)                                                                               \
    do {                                                                                           \
        if (!(s)->failed) {                                                                        \
            int used_ = snprintf((s)->failure, sizeof (s)->failure, "operation %" PRIu64 " (%s): ", \
                                 (s)->op, (s)->what);                                              \
            if (used_ > 0 && (size_t)used_ < sizeof (s)->failure) {                                \
                snprintf((s)->failure + used_, sizeof (s)->failure - (size_t)used_, __VA_ARGS__);  \
            }                                                                                      \
            (s)->failed = true;                                                                    \
        }                                                                                          \
    } while (0)

static int key_compare(const sim *s, uint32_t a, uint32_t b)
{
    uint32_t common = s->key_lengths[a] < s->key_lengths[b] ? s->key_lengths[a] : s->key_lengths[b];
    int c = memcmp(s->keys[a], s->keys[b], common);
    return c != 0 ? c : (int)s->key_lengths[a] - (int)s->key_lengths[b];
}

/* Binary keys of 1 to KEY_LENGTH_MAX bytes sharing prefixes ("a", "ab", a byte 0xff). */
static void make_keys(sim *s)
{
    static const char *const stems[] = {"a", "ab", "abc", "\xff", ""};
    for (uint32_t i = 0; i < KEYS; i++) {
        unsigned char *k = s->keys[i];
        uint32_t length = (uint32_t)strlen(stems[i % 5]);
        memcpy(k, stems[i % 5], length);
        uint32_t extra = (uint32_t)below(s, KEY_LENGTH_MAX - length - 1);
        if (i % 7 == 0) {
            extra = 0;
        }
        for (uint32_t j = 0; j < extra; j++) {
            k[length++] = (unsigned char)below(s, 256);
        }
        k[length++] = (unsigned char)i;
        s->key_lengths[i] = length;
        s->order[i] = i;
    }
    /* Insertion sort: 48 keys. */
    for (uint32_t i = 1; i < KEYS; i++) {
        uint32_t k = s->order[i];
        uint32_t j = i;
        while (j > 0 && key_compare(s, s->order[j - 1], k) > 0) {
            s->order[j] = s->order[j - 1];
            j--;
        }
        s->order[j] = k;
    }
}

static void remember(sim *s, uint32_t key, const version *v)
{
    if (v->present) {
        s->history[key][s->history_count[key] % HISTORY_MAX] = v->hash;
        s->history_count[key]++;
    }
}

static bool ever_had(const sim *s, uint32_t key, uint64_t hash)
{
    uint32_t count = s->history_count[key] < HISTORY_MAX ? s->history_count[key] : HISTORY_MAX;
    if (s->history_count[key] > HISTORY_MAX) {
        return true; /* older versions forgotten: cannot tell */
    }
    for (uint32_t i = 0; i < count; i++) {
        if (s->history[key][i] == hash) {
            return true;
        }
    }
    return false;
}

/* A new value for a key: mostly inline-sized, some of a few blocks, a few larger. */
static version new_value(sim *s, uint32_t limit)
{
    uint64_t dice = below(s, 100);
    uint32_t length = dice < 40 ? (uint32_t)below(s, 200)
                      : dice < 85 ? 200 + (uint32_t)below(s, 12000)
                                  : 12200 + (uint32_t)below(s, VALUE_MAX - 12200);
    if (length > limit) {
        length = limit;
    }
    version v = {.present = true, .length = length, .seed = next_random(&s->random)};
    fill(s->value, length, v.seed);
    v.hash = dw_xxh64(s->value, length, 0);
    return v;
}

/* ---- the engine's side ------------------------------------------------------------------- */

static bool is_damage_error(int result)
{
    return result == DW_ECORRUPT || result == DW_EIO;
}

/* A call's failure is allowed when the disk lost power, a sync was made to fail, or
 * damage is on; otherwise it is a bug. */
static bool failure_allowed(sim *s, int result)
{
    if (result == DW_EIO && (!s->disk.state.powered || s->disk.state.counters.failed_syncs > 0)) {
        return true;
    }
    /* A request that met a transient error on every one of its attempts. */
    if (result == DW_EBUSY && s->disk.state.counters.transient_errors > 0) {
        return true;
    }
    return s->damage && is_damage_error(result);
}

static void fold_pending(sim *s, uint32_t count)
{
    for (uint32_t c = 0; c < count; c++) {
        for (uint32_t i = 0; i < s->pending[c].count; i++) {
            s->durable[s->pending[c].changes[i].key] = s->pending[c].changes[i].v;
        }
    }
    memmove(s->pending, s->pending + count, (s->pending_count - count) * sizeof s->pending[0]);
    s->pending_count -= count;
    s->must = s->must > count ? s->must - count : 0;
}

static void open_vde(sim *s);
static void check_iteration(sim *s, const unsigned char *from, size_t prefix);
static void after_failure(sim *s, int result, const commit *c);

static void trace_commit(const sim *s, const char *what, const commit *c)
{
    if (s->trace) {
        printf("#   %s:", what);
        for (uint32_t i = 0; i < c->count; i++) {
            printf(" key %u %s %u", c->changes[i].key, c->changes[i].v.present ? "put" : "delete",
                   c->changes[i].v.length);
        }
        printf("\n");
    }
}

/* A commit the engine acknowledged. */
static void acknowledged(sim *s, const commit *c)
{
    trace_commit(s, "acknowledged", c);
    s->totals->commits++;
    for (uint32_t i = 0; i < c->count; i++) {
        s->current[c->changes[i].key] = c->changes[i].v;
        remember(s, c->changes[i].key, &c->changes[i].v);
    }
    s->pending[s->pending_count++] = *c;
    if (s->strict) {
        s->must = s->pending_count;
        fold_pending(s, s->pending_count);
    } else if (s->pending_count == PENDING_MAX) {
        const char *was = s->what;
        s->what = "sync (the model's window is full)";
        int result = dw_sync(s->vde, NULL, &s->diag);
        if (result == DW_OK) {
            s->must = s->pending_count;
            fold_pending(s, s->pending_count);
        } else {
            after_failure(s, result, NULL); /* reopens, which empties the window */
        }
        s->what = was;
    }
}

/* Whether a read's outcome (dw_get's result, and the bytes' length and hash) is `v`. */
static bool holds(const version *v, int result, uint32_t length, uint64_t hash)
{
    return v->present ? result == DW_OK && length == v->length && hash == v->hash : result == DW_ENOENT;
}

/* Reads every key and finds the longest prefix of the pending commits, at least `must`
 * long, that the VDE holds; then that is the durable state. */
static void check_recovered(sim *s)
{
    static int results[KEYS];
    static uint64_t hashes[KEYS];
    static uint32_t lengths[KEYS];
    s->totals->recoveries_checked++;
    for (uint32_t k = 0; k < KEYS && !s->failed; k++) {
        size_t length = 0;
        /* DW_EBUSY after transient errors means "retry later", and the check needs the
         * answer: ask again, a bounded number of times. */
        for (int attempt = 0; attempt < 20; attempt++) {
            results[k] = dw_get(s->vde, s->keys[k], s->key_lengths[k], s->back, VALUE_MAX, &length, NULL, &s->diag);
            if (results[k] != DW_EBUSY || s->disk.state.counters.transient_errors == 0) {
                break;
            }
            s->totals->busy++;
        }
        lengths[k] = (uint32_t)length;
        hashes[k] = results[k] == DW_OK ? dw_xxh64(s->back, length, 0) : 0;
        if (results[k] != DW_OK && results[k] != DW_ENOENT) {
            if (!s->damage || !is_damage_error(results[k])) {
                FAIL(s, "after recovery, key %u: dw_get returned %s (%s)", k, dw_error_name(results[k]),
                     s->diag.message);
            }
            s->totals->detected++;
        }
    }
    if (s->failed) {
        return;
    }
    static version candidate[KEYS];
    memcpy(candidate, s->durable, sizeof candidate);
    int64_t found = -1;
    for (uint32_t p = 0; p <= s->pending_count; p++) {
        if (p > 0) {
            const commit *c = &s->pending[p - 1];
            for (uint32_t i = 0; i < c->count; i++) {
                candidate[c->changes[i].key] = c->changes[i].v;
            }
        }
        if (p < s->must) {
            continue;
        }
        bool match = true;
        for (uint32_t k = 0; k < KEYS && match; k++) {
            const version *v = &candidate[k];
            if (v->unknown || (results[k] != DW_OK && results[k] != DW_ENOENT)) {
                continue;
            }
            match = holds(v, results[k], lengths[k], hashes[k]);
        }
        if (match) {
            found = p;
        }
    }
    if (s->trace) {
        printf("#   recovered: prefix %lld of %u (at least %u)\n", (long long)found, s->pending_count, s->must);
    }
    if (found < 0 && !s->damage) {
        /* Name the first key that differs from the state with every commit. */
        for (uint32_t k = 0; k < KEYS; k++) {
            const version *v = &candidate[k];
            if (!holds(v, results[k], lengths[k], hashes[k])) {
                FAIL(s,
                     "the recovered VDE is no prefix of the %u commits since the last durable point (at least %u "
                     "must be there): key %u is %s %u bytes, with every commit it would be %s %u bytes",
                     s->pending_count, s->must, k, results[k] == DW_OK ? "present," : "absent,", lengths[k],
                     v->present ? "present," : "absent,", v->present ? v->length : 0);
                return;
            }
        }
        FAIL(s, "the recovered VDE matches every commit yet no prefix was found (a bug in dw-sim)");
        return;
    }
    if (found < 0) {
        /* Damage may lose acknowledged data; it may not return bytes the key never had. */
        for (uint32_t k = 0; k < KEYS; k++) {
            if (results[k] == DW_OK && !ever_had(s, k, hashes[k])) {
                FAIL(s, "after recovery, key %u returned %u bytes it never held", k, lengths[k]);
                return;
            }
            version *d = &s->durable[k];
            if (results[k] == DW_ENOENT) {
                *d = (version){0};
            } else if (results[k] == DW_OK) {
                /* The bytes are a version the key had; which one does not matter. */
                *d = (version){.present = true, .length = lengths[k], .hash = hashes[k], .unknown = true};
            } else {
                *d = (version){.present = true, .unknown = true};
            }
        }
        s->pending_count = 0;
        s->must = 0;
        s->totals->prefix_shorter++;
    } else {
        if ((uint32_t)found < s->pending_count) {
            s->totals->prefix_shorter++;
        }
        fold_pending(s, (uint32_t)found);
        s->pending_count = 0;
        s->must = 0;
        for (uint32_t k = 0; k < KEYS; k++) {
            if (results[k] != DW_OK && results[k] != DW_ENOENT) {
                s->durable[k].unknown = true; /* damaged: checked by its history from now on */
            }
        }
    }
    memcpy(s->current, s->durable, sizeof s->current);
    /* Iteration agrees with the recovered state: every present key, in order. */
    if (!s->damage) {
        check_iteration(s, s->keys[0], 0);
    }
}

static void open_vde(sim *s)
{
    int result = DW_OK;
    /* The power may go during recovery too, and a sync it makes may fail: then open
     * fails, and opening again must recover as well (recovery is idempotent). After a
     * few such cuts the power stays on for the open, or a high cut rate would never let
     * a long recovery finish. */
    uint32_t power_cut_ppm = s->disk.state.faults.power_cut_ppm;
    for (int attempt = 0;; attempt++) {
        uint64_t failed_syncs = s->disk.state.counters.failed_syncs;
        if (attempt == 5) {
            s->disk.state.faults.power_cut_ppm = 0;
        }
        result = dw_vde_open_at(PATH, &s->config, &s->target, &s->vde, &s->diag);
        if (result == DW_OK) {
            break;
        }
        s->vde = NULL;
        bool crashed = !s->disk.state.powered;
        bool transient = result == DW_EBUSY && s->disk.state.counters.transient_errors > 0;
        if (attempt < 20 &&
            (crashed || transient || (result == DW_EIO && s->disk.state.counters.failed_syncs > failed_syncs))) {
            if (crashed) {
                s->totals->power_cuts++;
                s->totals->recovery_crashes++;
                dw_sim_disk_power_on(&s->disk);
            }
            continue;
        }
        break;
    }
    s->disk.state.faults.power_cut_ppm = power_cut_ppm;
    if (result == DW_OK) {
        return;
    }
    if (s->damage && (is_damage_error(result) || result == DW_ETRUNCATED)) {
        /* Damage reached what open must read (a WAL record, both superblock copies, the
         * size sentinel...): refusing is right; the seed ends here. */
        s->totals->detected++;
        s->stopped = true;
        if (s->verbose) {
            printf("# seed 0x%" PRIx64 ": open refused after damage: %s\n", s->seed, s->diag.message);
        }
        return;
    }
    FAIL(s, "open: %s (%s)", dw_error_name(result), s->diag.message);
}

/* Close (after a failure it may fail, and writes nothing), power back on, open, check. */
static void recover(sim *s, bool crash)
{
    if (crash) {
        s->totals->power_cuts++;
        if (s->disk.state.powered) {
            dw_sim_disk_cut_power(&s->disk);
        }
    }
    int result = dw_vde_close(s->vde, &s->diag);
    s->vde = NULL;
    if (!crash && result == DW_OK) {
        s->must = s->pending_count; /* a clean close made everything durable */
    } else if (!crash && !failure_allowed(s, result)) {
        FAIL(s, "close: %s (%s)", dw_error_name(result), s->diag.message);
        return;
    }
    if (!s->disk.state.powered) {
        dw_sim_disk_power_on(&s->disk);
    }
    s->totals->reopens++;
    open_vde(s);
    if (s->vde != NULL && !s->failed) {
        check_recovered(s);
    }
}

/* A call that failed: its commit is uncertain, and the VDE is reopened. */
static void after_failure(sim *s, int result, const commit *c)
{
    if (!failure_allowed(s, result)) {
        FAIL(s, "%s (%s)", dw_error_name(result), s->diag.message);
        return;
    }
    if (is_damage_error(result) && s->disk.state.powered) {
        s->totals->detected++;
    }
    s->totals->uncertain++;
    if (c != NULL) {
        trace_commit(s, "uncertain", c);
    }
    if (c != NULL && c->count > 0) {
        for (uint32_t i = 0; i < c->count; i++) {
            remember(s, c->changes[i].key, &c->changes[i].v);
        }
        if (s->pending_count == PENDING_MAX) {
            /* No room to model it: reopen first (close makes the window durable). */
            recover(s, false);
            if (s->vde == NULL || s->failed) {
                return;
            }
        }
        s->pending[s->pending_count++] = *c;
    }
    if (++s->error_rounds > ERROR_ROUNDS_MAX && s->damage) {
        s->stopped = true; /* damage keeps failing the same operations */
        return;
    }
    recover(s, !s->disk.state.powered);
}

/* ---- operations ------------------------------------------------------------------------- */

static uint32_t pick_key(sim *s, bool present)
{
    uint32_t k = (uint32_t)below(s, KEYS);
    for (int tries = 0; present && !s->current[k].present && tries < 6; tries++) {
        k = (uint32_t)below(s, KEYS);
    }
    return k;
}

static dw_op some_op(sim *s)
{
    return (dw_op){.priority = (dw_op_priority)below(s, 4)};
}

static void do_put(sim *s)
{
    uint32_t k = pick_key(s, below(s, 2) == 0);
    commit c = {.count = 1, .changes = {{.key = k, .v = new_value(s, VALUE_MAX)}}};
    dw_op op = some_op(s);
    int result = dw_put(s->vde, s->keys[k], s->key_lengths[k], s->value, c.changes[0].v.length, &op, &s->diag);
    if (result == DW_OK) {
        acknowledged(s, &c);
    } else {
        after_failure(s, result, &c);
    }
}

static void do_stream(sim *s)
{
    uint32_t k = pick_key(s, false);
    commit c = {.count = 1, .changes = {{.key = k, .v = new_value(s, VALUE_MAX)}}};
    uint32_t length = c.changes[0].v.length;
    dw_writer *writer = NULL;
    int result = dw_writer_open(s->vde, s->keys[k], s->key_lengths[k], NULL, &writer, &s->diag);
    bool abort_it = below(s, 8) == 0;
    uint32_t written = 0;
    while (result == DW_OK && written < length && !(abort_it && written > length / 2)) {
        uint32_t piece = 1 + (uint32_t)below(s, below(s, 2) == 0 ? 100 : 9000);
        piece = piece > length - written ? length - written : piece;
        result = dw_writer_write(writer, s->value + written, piece, &s->diag);
        written += piece;
    }
    if (result == DW_OK && abort_it) {
        dw_writer_abort(writer);
        return;
    }
    if (result == DW_OK) {
        result = dw_writer_commit(writer, &s->diag);
    } else if (writer != NULL) {
        dw_writer_abort(writer);
    }
    if (result == DW_OK) {
        acknowledged(s, &c);
    } else {
        after_failure(s, result, &c);
    }
}

static void do_delete(sim *s)
{
    uint32_t k = pick_key(s, below(s, 4) != 0);
    int result = dw_delete(s->vde, s->keys[k], s->key_lengths[k], NULL, &s->diag);
    commit c = {.count = 1, .changes = {{.key = k}}};
    if (s->current[k].present && !s->current[k].unknown && result == DW_OK) {
        acknowledged(s, &c);
    } else if (!s->current[k].present && result == DW_ENOENT) {
        return;
    } else if (s->current[k].unknown && (result == DW_OK || result == DW_ENOENT)) {
        acknowledged(s, &c);
    } else if (result == DW_OK || result == DW_ENOENT) {
        FAIL(s, "key %u: dw_delete returned %s; the model has it %s", k, dw_error_name(result),
             s->current[k].present ? "present" : "absent");
    } else {
        after_failure(s, result, &c);
    }
}

static void do_txn(sim *s)
{
    static version staged[KEYS];
    memcpy(staged, s->current, sizeof staged);
    commit c = {.count = 0};
    dw_txn *txn = NULL;
    int result = dw_txn_begin(s->vde, &txn, &s->diag);
    uint32_t count = 1 + (uint32_t)below(s, TXN_MAX);
    for (uint32_t i = 0; i < count && result == DW_OK; i++) {
        uint32_t k = pick_key(s, below(s, 2) == 0);
        change ch = {.key = k};
        if (below(s, 3) == 0) {
            result = dw_txn_delete(txn, s->keys[k], s->key_lengths[k], &s->diag);
            if (result == DW_ENOENT && !staged[k].present) {
                result = DW_OK;
                continue;
            }
            if (result == DW_OK && !staged[k].present && !staged[k].unknown) {
                FAIL(s, "key %u is absent but dw_txn_delete succeeded", k);
                return;
            }
            if (result == DW_ENOENT && !staged[k].unknown) {
                FAIL(s, "key %u is present but dw_txn_delete said DW_ENOENT", k);
                return;
            }
            if (result == DW_ENOENT) {
                result = DW_OK;
                continue;
            }
        } else {
            ch.v = new_value(s, VALUE_MAX / 4);
            result = dw_txn_put(txn, s->keys[k], s->key_lengths[k], s->value, ch.v.length, &s->diag);
        }
        if (result == DW_OK) {
            staged[k] = ch.v;
            c.changes[c.count++] = ch;
        }
    }
    if (result == DW_OK && below(s, 5) == 0) {
        dw_txn_abort(txn);
        return;
    }
    if (result == DW_OK) {
        result = dw_txn_commit(txn, NULL, &s->diag);
    } else if (txn != NULL) {
        dw_txn_abort(txn);
    }
    if (result == DW_OK) {
        if (c.count > 0) {
            acknowledged(s, &c);
        }
    } else {
        after_failure(s, result, &c);
    }
}

/* A read's result against the model: the same bytes, or (with damage) a damage error. */
static void check_read(sim *s, uint32_t k, int result, const unsigned char *bytes, size_t length, uint64_t offset)
{
    const version *v = &s->current[k];
    if (result == DW_EBUSY && s->disk.state.counters.transient_errors > 0) {
        s->totals->busy++; /* every attempt met a transient error: no answer, nothing wrong */
        return;
    }
    if (result != DW_OK && result != DW_ENOENT) {
        if (!s->damage || !is_damage_error(result)) {
            FAIL(s, "key %u: read returned %s (%s)", k, dw_error_name(result), s->diag.message);
        }
        s->totals->detected++;
        return;
    }
    if (v->unknown) {
        return;
    }
    if (!v->present) {
        if (result != DW_ENOENT) {
            FAIL(s, "key %u is absent but a read returned %s", k, dw_error_name(result));
        }
        return;
    }
    if (result != DW_OK) {
        FAIL(s, "key %u is present but a read returned %s", k, dw_error_name(result));
        return;
    }
    size_t want = offset >= v->length ? 0 : v->length - offset;
    if (offset == UINT64_MAX) {
        want = v->length;
        offset = 0;
    } else if (want > VALUE_MAX / 2) {
        want = VALUE_MAX / 2;
    }
    if (length != want) {
        FAIL(s, "key %u: %zu bytes read at %" PRIu64 ", the model has %zu", k, length, offset, want);
        return;
    }
    fill(s->value, v->length, v->seed);
    if (memcmp(bytes, s->value + offset, length) != 0) {
        FAIL(s, "key %u: the bytes read at %" PRIu64 " are not the value's", k, offset);
    }
}

static void do_get(sim *s)
{
    uint32_t k = pick_key(s, true);
    size_t length = 0;
    int result = dw_get(s->vde, s->keys[k], s->key_lengths[k], s->back, VALUE_MAX, &length, NULL, &s->diag);
    check_read(s, k, result, s->back, length, UINT64_MAX);
}

static void do_read(sim *s)
{
    uint32_t k = pick_key(s, true);
    uint64_t offset = below(s, (uint64_t)s->current[k].length + 64);
    size_t length = 0;
    int result = dw_read(s->vde, s->keys[k], s->key_lengths[k], offset, s->back, VALUE_MAX / 2, &length, NULL,
                         &s->diag);
    check_read(s, k, result, s->back, length, offset);
}

static void do_stat(sim *s)
{
    uint32_t k = pick_key(s, below(s, 3) != 0);
    dw_object_stat stat;
    int result = dw_stat(s->vde, s->keys[k], s->key_lengths[k], &stat, NULL, &s->diag);
    const version *v = &s->current[k];
    if (result != DW_OK && result != DW_ENOENT) {
        check_read(s, k, result, NULL, 0, 0);
    } else if (!v->unknown && (v->present ? result != DW_OK || stat.size != v->length : result != DW_ENOENT)) {
        FAIL(s, "key %u: dw_stat returned %s, size %" PRIu64 "; the model has it %s, %u bytes", k,
             dw_error_name(result), result == DW_OK ? stat.size : 0, v->present ? "present" : "absent", v->length);
    }
}

/* The model's index of a key the VDE returned, or -1 for a key it never made. */
static int32_t key_index(const sim *s, const unsigned char *key, size_t length)
{
    for (uint32_t k = 0; k < KEYS; k++) {
        if (length == s->key_lengths[k] && memcmp(key, s->keys[k], length) == 0) {
            return (int32_t)k;
        }
    }
    return -1;
}

/* Iteration under a prefix (the first `prefix` bytes of `from`) returns exactly the
 * model's keys with it, in order, with their sizes. A key whose state damage made
 * unknown may be there or not. */
static void check_iteration(sim *s, const unsigned char *from, size_t prefix)
{
    dw_iter *iter = NULL;
    int result = dw_iter_open(s->vde, from, prefix, &iter, &s->diag);
    if (result != DW_OK) {
        FAIL(s, "dw_iter_open: %s (%s)", dw_error_name(result), s->diag.message);
        return;
    }
    unsigned char key[KEY_LENGTH_MAX];
    size_t length = 0;
    dw_object_stat stat;
    bool held = false;              /* an entry fetched and not yet matched */
    bool done = false;
    for (uint32_t i = 0; i < KEYS && !s->failed && !done; i++) {
        uint32_t k = s->order[i];
        const version *v = &s->current[k];
        if ((!v->present && !v->unknown) || s->key_lengths[k] < prefix || memcmp(s->keys[k], from, prefix) != 0) {
            continue;
        }
        if (!held) {
            result = dw_iter_next(iter, key, sizeof key, &length, &stat, &s->diag);
            if (s->damage && is_damage_error(result)) {
                s->totals->detected++;
                done = true;
                break;
            }
            if (result == DW_ENOENT && v->unknown) {
                continue;
            }
            if (result != DW_OK) {
                FAIL(s, "iterating a %zu-byte prefix: key %u should come next, got %s", prefix, k,
                     dw_error_name(result));
                break;
            }
            held = true;
        }
        int32_t came = key_index(s, key, length);
        if (came == (int32_t)k) {
            held = false;
            if (!v->unknown && stat.size != v->length) {
                FAIL(s, "iterating: key %u has %" PRIu64 " bytes, the model %u", k, stat.size, v->length);
            }
        } else if (!v->unknown) {
            FAIL(s, "iterating a %zu-byte prefix: key %u should come next, key %d came", prefix, k, came);
        }
    }
    if (!s->failed && !done) {
        if (!held) {
            result = dw_iter_next(iter, key, sizeof key, &length, NULL, &s->diag);
            held = result != DW_ENOENT && !(s->damage && is_damage_error(result));
        }
        if (held) {
            FAIL(s, "iterating a %zu-byte prefix: key %d, which the model has absent, came last", prefix,
                 key_index(s, key, length));
        }
    }
    dw_iter_close(iter);
}

static void do_iterate(sim *s)
{
    uint32_t from = (uint32_t)below(s, KEYS);
    size_t prefix = (size_t)below(s, 3);
    check_iteration(s, s->keys[from], prefix > s->key_lengths[from] ? s->key_lengths[from] : prefix);
}

static void do_sync(sim *s)
{
    int result = dw_sync(s->vde, NULL, &s->diag);
    if (result == DW_OK) {
        s->must = s->pending_count;
        fold_pending(s, s->pending_count);
    } else {
        after_failure(s, result, NULL);
    }
}

enum { OP_PUT, OP_STREAM, OP_DELETE, OP_TXN, OP_GET, OP_READ, OP_STAT, OP_ITERATE, OP_SYNC, OP_REOPEN, OP_CRASH,
       OP_FAIL_SYNC, OP_KINDS };
static const char *const op_names[OP_KINDS] = {"put", "streamed put", "delete", "transaction", "get", "read",
                                               "stat", "iterate", "sync", "reopen", "power cut", "failing sync"};

static int choose(sim *s)
{
    static const uint32_t per_mille[OP_KINDS] = {300, 40, 110, 100, 180, 60, 60, 40, 50, 25, 25, 10};
    uint32_t dice = (uint32_t)below(s, 1000);
    for (int kind = 0; kind < OP_KINDS; kind++) {
        if (dice < per_mille[kind]) {
            return kind;
        }
        dice -= per_mille[kind];
    }
    return OP_GET;
}

/* ---- a seed ---------------------------------------------------------------------------- */

/* Log-uniform parts per million between 10^low and 10^high. */
static uint32_t rate(sim *s, int low, int high)
{
    uint64_t value = 1;
    int exponent = low + (int)below(s, (uint64_t)(high - low + 1));
    for (int i = 0; i < exponent; i++) {
        value *= 10;
    }
    return (uint32_t)(value + below(s, value * 9));
}

static void draw_faults(sim *s, dw_sim_faults *f)
{
    memset(f, 0, sizeof *f);
    f->latency_base_ns = 20000;
    f->latency_jitter_ns = 100000;
    f->latency_tail_ns = 5000000;
    f->latency_tail_ppm = 1000;
    f->sync_latency_ns = 200000;
    f->channels = 4;
    if (!s->swarm) {
        f->drop_unsynced_ppm = 300000;
        f->torn_unsynced_ppm = 300000;
        f->reorder_unsynced = true;
        f->power_cut_ppm = 300;
        f->transient_error_ppm = 2000;
        f->short_io_ppm = 2000;
        s->damage = s->seed % 4 == 3;
        if (s->damage) {
            f->bit_flip_at_rest_ppm = 100;
            f->bit_flip_on_read_ppm = 100;
            f->latent_error_ppm = 50;
            f->misdirect_ppm = 100;
        }
        return;
    }
    /* Swarm: each kind of fault on or off, at a rate of its own. */
    f->drop_unsynced_ppm = below(s, 2) ? (uint32_t)below(s, 1000001) : 0;
    f->torn_unsynced_ppm = below(s, 2) ? (uint32_t)below(s, 1000001 - f->drop_unsynced_ppm) : 0;
    f->reorder_unsynced = below(s, 2) == 0;
    f->power_cut_ppm = below(s, 2) ? rate(s, 1, 3) : 0;
    f->transient_error_ppm = below(s, 2) ? rate(s, 1, 4) : 0;
    f->short_io_ppm = below(s, 2) ? rate(s, 1, 4) : 0;
    f->latency_base_ns = below(s, 200000);
    f->latency_jitter_ns = below(s, 2000000);
    f->latency_tail_ppm = below(s, 2) ? rate(s, 1, 4) : 0;
    f->latency_tail_ns = below(s, 50000000);
    f->sync_latency_ns = below(s, 5000000);
    f->channels = 1 + (uint32_t)below(s, 16);
    s->damage = below(s, 3) == 0;
    if (s->damage) {
        f->bit_flip_at_rest_ppm = below(s, 2) ? rate(s, 0, 3) : 0;
        f->bit_flip_on_read_ppm = below(s, 2) ? rate(s, 0, 3) : 0;
        f->latent_error_ppm = below(s, 2) ? rate(s, 0, 3) : 0;
        f->misdirect_ppm = below(s, 2) ? rate(s, 0, 3) : 0;
        s->damage = f->bit_flip_at_rest_ppm + f->bit_flip_on_read_ppm + f->latent_error_ppm + f->misdirect_ppm > 0;
    }
}

static void configure(sim *s)
{
    dw_config_defaults(&s->config);
    s->strict = below(s, 2) == 0;
    s->config.durability = s->strict ? DW_DURABILITY_STRICT : DW_DURABILITY_GROUP;
    s->config.wal_bytes = (1u << 20) << below(s, 2);
    s->config.group_bytes = 4u << 20;
    s->config.cache_pages = 64u << below(s, 2);
    s->config.buffer_count = 64;
    s->config.memory_ceiling_bytes = 32u << 20;
    memset(&s->create, 0, sizeof s->create);
    s->create.size_bytes = DISK_BYTES;
    s->create.label = "dw-sim";
    s->create.block_size = below(s, 4) == 0 ? 1024 : 4096;
}

/* Runs one seed; false when a check failed (the reason is in s->failure). */
static bool run_seed(sim *s, uint64_t seed)
{
    totals *t = s->totals;
    memset(&s->seed, 0, sizeof *s - offsetof(sim, seed));
    s->seed = seed;
    s->random = seed ^ UINT64_C(0x6a09e667f3bcc909);
    s->what = "create";

    make_keys(s);
    configure(s);
    dw_sim_faults faults;
    draw_faults(s, &faults);
    /* Created on a perfect disk; the faults start with the first open. */
    dw_sim_disk_init(&s->disk, s->disk_memory, DISK_BYTES, PENDING_BYTES, seed, NULL);
    s->target.sim_disk = &s->disk;
    int result = dw_vde_create_at(PATH, &s->config, &s->create, &s->target, &s->diag);
    if (result != DW_OK) {
        FAIL(s, "create: %s (%s)", dw_error_name(result), s->diag.message);
        return false;
    }
    s->disk.state.faults = faults;
    t->seeds++;
    t->seeds_damaged += s->damage;
    s->what = "open";
    open_vde(s);
    uint64_t counts[OP_KINDS] = {0};
    for (s->op = 0; s->op < s->operations && !s->failed && !s->stopped && s->vde != NULL; s->op++) {
        int kind = choose(s);
        s->what = op_names[kind];
        counts[kind]++;
        t->operations++;
        if (kind != OP_REOPEN && kind != OP_CRASH) {
            s->error_rounds = 0;
        }
        if (s->trace) {
            printf("# op %" PRIu64 ": %s (disk writes %" PRIu64 ", syncs %" PRIu64 ", power cuts %" PRIu64 ")\n", s->op,
                   op_names[kind], s->disk.state.counters.writes, s->disk.state.counters.syncs,
                   s->disk.state.counters.power_cuts);
        }
        switch (kind) {
        case OP_PUT: do_put(s); break;
        case OP_STREAM: do_stream(s); break;
        case OP_DELETE: do_delete(s); break;
        case OP_TXN: do_txn(s); break;
        case OP_GET: do_get(s); break;
        case OP_READ: do_read(s); break;
        case OP_STAT: do_stat(s); break;
        case OP_ITERATE: do_iterate(s); break;
        case OP_SYNC: do_sync(s); break;
        case OP_REOPEN: recover(s, false); break;
        case OP_CRASH: recover(s, true); break;
        case OP_FAIL_SYNC: dw_sim_disk_fail_next_syncs(&s->disk, 1, EIO); break;
        default: FAIL(s, "unknown operation kind %d", kind);
        }
        /* The power went in the middle of the operation: the call failed, and was
         * handled as a failure (uncertain commit, reopen), unless it was a read. */
        if (!s->failed && !s->stopped && s->vde != NULL && !s->disk.state.powered) {
            s->what = "power cut during a read";
            recover(s, true);
        }
    }
    /* The end: a clean close, then verify. */
    s->what = "final close and verify";
    if (!s->failed && !s->stopped && s->vde != NULL) {
        s->disk.state.fail_syncs = 0;
        s->disk.state.faults.power_cut_ppm = 0;
        s->disk.state.faults.transient_error_ppm = 0;
        recover(s, false);
    }
    if (!s->failed && !s->stopped && s->vde != NULL) {
        result = dw_vde_close(s->vde, &s->diag);
        s->vde = NULL;
        if (result != DW_OK && !failure_allowed(s, result)) {
            FAIL(s, "close: %s (%s)", dw_error_name(result), s->diag.message);
        }
        dw_vde_target target = s->target;
        target.verify = true;
        static dw_verify_report report;
        memset(&report, 0, sizeof report);
        dw_vde *vde = NULL;
        result = s->failed ? DW_OK : dw_vde_open_at(PATH, &s->config, &target, &vde, &s->diag);
        if (!s->failed && result == DW_OK) {
            result = dw_vde_verify_handle(vde, &report, &s->diag);
            (void)dw_vde_close(vde, &s->diag);
        }
        uint32_t present = 0;
        for (uint32_t k = 0; k < KEYS; k++) {
            present += s->current[k].present;
        }
        if (s->failed) {
        } else if (result != DW_OK && !(s->damage && is_damage_error(result))) {
            FAIL(s, "verify could not run: %s (%s)", dw_error_name(result), s->diag.message);
        } else if (!s->damage && (report.problem_count > 0 || report.objects != present)) {
            FAIL(s, "verify: %" PRIu64 " problems (first: block %llu, %s); %" PRIu64 " objects, the model %u",
                 report.problem_count, report.problems_kept > 0 ? (unsigned long long)report.problems[0].block : 0ull,
                 report.problems_kept > 0 ? report.problems[0].what : "-", report.objects, present);
        } else {
            t->verify_problems += report.problem_count;
        }
    } else if (s->vde != NULL) {
        (void)dw_vde_close(s->vde, &s->diag);
        s->vde = NULL;
    }
    t->seeds_stopped += s->stopped;
    const dw_sim_disk_counters *c = &s->disk.state.counters;
    t->torn += c->torn_writes;
    t->dropped += c->dropped_writes;
    t->bit_flips += c->bit_flips;
    t->latent += c->latent_errors;
    t->misdirected += c->misdirected_writes;
    t->transient += c->transient_errors;
    t->short_io += c->short_transfers;
    t->failed_syncs += c->failed_syncs;
    if (s->verbose) {
        printf("# seed 0x%" PRIx64 " %s%s, %" PRIu64 " ops:", seed, s->strict ? "strict" : "group",
               s->damage ? ", damage" : "", s->op);
        for (int kind = 0; kind < OP_KINDS; kind++) {
            printf(" %s %" PRIu64 ",", op_names[kind], counts[kind]);
        }
        printf(" disk: %" PRIu64 " writes, %" PRIu64 " power cuts\n", c->writes, c->power_cuts);
    }
    return !s->failed;
}

/* ---- the command ------------------------------------------------------------------------- */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: dw-sim [--seed S | --first S --seeds N] [--swarm] [--ops N] [--tap] [--verbose] [--trace]\n"
            "\n"
            "Runs the dwvd engine on a simulated disk under a random workload with faults, all\n"
            "drawn from a seed, and checks every result against a model of what was acknowledged:\n"
            "after each crash and reopen the VDE must hold a prefix of the commits including\n"
            "every acknowledged one (strict) or everything before the last sync (group); a read\n"
            "never returns wrong bytes; verify finds the VDE clean at the end.\n"
            "\n"
            "  --seed S     run the one seed S (decimal or 0x...), e.g. to reproduce a failure\n"
            "  --first S    the first of a range of seeds (default 1)\n"
            "  --seeds N    how many seeds from --first (default %d; DW_TEST_SCALE=K runs\n"
            "               %d x K/2 when K > 1, as `make test-long` does; K/20 under\n"
            "               the sanitizers)\n"
            "  --swarm      draw the fault probabilities themselves from each seed\n"
            "  --ops N      operations per seed (default %d)\n"
            "  --tap        print one TAP line per seed (for meson test)\n"
            "  --verbose    print each seed's configuration and counts\n"
            "  --trace      print every operation as it starts\n"
            "  --help       this text\n"
            "\n"
            "Exit status: 0 when every seed passed, 1 when one failed (its seed and the command\n"
            "that reproduces it are printed), 2 for bad arguments.\n",
            SEEDS_DEFAULT, SEEDS_DEFAULT, OPS_DEFAULT);
}

static bool parse_number(const char *text, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0') {
        return false;
    }
    *out = value;
    return true;
}

int main(int argc, char **argv)
{
    uint64_t first = 1;
    uint64_t seeds = SEEDS_DEFAULT;
    uint64_t ops = OPS_DEFAULT;
    bool one = false;
    bool tap = false;
    bool swarm = false;
    bool verbose = false;
    bool trace = false;
    const char *scale_text = getenv("DW_TEST_SCALE");
    uint64_t scale = 1;
    if (scale_text != NULL && parse_number(scale_text, &scale) && scale > 1) {
        /* Under the sanitizers a seed takes ten times as long: a tenth of the seeds. */
        seeds = SEEDS_DEFAULT * (scale / (SANITIZED ? 20 : 2));
        seeds = seeds == 0 ? SEEDS_DEFAULT : seeds;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t *target = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--tap") == 0) {
            tap = true;
        } else if (strcmp(a, "--swarm") == 0) {
            swarm = true;
        } else if (strcmp(a, "--verbose") == 0) {
            verbose = true;
        } else if (strcmp(a, "--trace") == 0) {
            trace = true;
        } else if (strcmp(a, "--seed") == 0) {
            target = &first;
            one = true;
        } else if (strcmp(a, "--first") == 0) {
            target = &first;
        } else if (strcmp(a, "--seeds") == 0) {
            target = &seeds;
        } else if (strcmp(a, "--ops") == 0) {
            target = &ops;
        } else {
            fprintf(stderr, "dw-sim: unknown argument '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        if (target != NULL) {
            if (i + 1 >= argc || !parse_number(argv[i + 1], target)) {
                fprintf(stderr, "dw-sim: %s needs a number (decimal or 0x...)\n", a);
                return 2;
            }
            i++;
        }
    }
    if (one) {
        seeds = 1;
    }
    if (seeds == 0 || ops == 0) {
        fprintf(stderr, "dw-sim: --seeds and --ops must be at least 1\n");
        return 2;
    }
    static sim s;
    static totals t;
    s.totals = &t;
    s.disk_memory = malloc(dw_sim_disk_memory_bytes(DISK_BYTES, PENDING_BYTES));
    s.value = malloc(VALUE_MAX);
    s.back = malloc(VALUE_MAX);
    if (s.disk_memory == NULL || s.value == NULL || s.back == NULL) {
        fprintf(stderr, "dw-sim: out of memory for the simulated disk\n");
        return 1;
    }
    s.swarm = swarm;
    s.verbose = verbose;
    s.trace = trace;
    s.operations = ops;
    if (tap) {
        printf("1..%" PRIu64 "\n", seeds);
    }
    uint64_t failures = 0;
    for (uint64_t i = 0; i < seeds; i++) {
        uint64_t seed = first + i;
        bool ok = run_seed(&s, seed);
        if (!ok) {
            failures++;
            printf("# FAILED seed 0x%" PRIx64 ": %s\n#   engine said: %s\n#   reproduce: dw-sim --seed 0x%" PRIx64
                   "%s --ops %" PRIu64 "\n",
                   seed, s.failure, s.diag.message, seed, swarm ? " --swarm" : "", ops);
        }
        if (tap) {
            printf("%s %" PRIu64 " - seed 0x%" PRIx64 "%s\n", ok ? "ok" : "not ok", i + 1, seed,
                   swarm ? " (swarm)" : "");
        } else if (!ok && !one) {
            fflush(stdout);
        }
        fflush(stdout);
    }
    printf("# dw-sim%s: %" PRIu64 " seeds (%" PRIu64 " with damage, %" PRIu64 " stopped by it), %" PRIu64
           " operations, %" PRIu64 " commits, %" PRIu64 " power cuts (%" PRIu64 " during recovery), %" PRIu64
           " reopens, %" PRIu64
           " recovered states checked (%" PRIu64 " held fewer commits than were made), %" PRIu64
           " uncertain commits, %" PRIu64 " damage reports, %" PRIu64 " reads answered DW_EBUSY (transient errors)\n",
           swarm ? " --swarm" : "", t.seeds, t.seeds_damaged, t.seeds_stopped, t.operations, t.commits,
           t.power_cuts, t.recovery_crashes, t.reopens, t.recoveries_checked, t.prefix_shorter, t.uncertain, t.detected,
           t.busy);
    printf("# faults injected: %" PRIu64 " torn writes, %" PRIu64 " dropped writes, %" PRIu64 " bit flips, %" PRIu64
           " latent sector errors, %" PRIu64 " misdirected writes, %" PRIu64 " transient errors, %" PRIu64
           " short transfers, %" PRIu64 " failed syncs; verify found %" PRIu64 " problems in damaged seeds\n",
           t.torn, t.dropped, t.bit_flips, t.latent, t.misdirected, t.transient, t.short_io, t.failed_syncs,
           t.verify_problems);
    printf("%sdw-sim: %" PRIu64 " seeds, %" PRIu64 " failed\n", tap ? "# " : "", seeds, failures);
    free(s.back);
    free(s.value);
    free(s.disk_memory);
    return failures == 0 ? 0 : 1;
}
