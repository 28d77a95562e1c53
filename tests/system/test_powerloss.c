/*
 * test_powerloss.c — power loss at every write. A fixed workload of a few hundred strict
 * operations (puts of inline and multi-block values, replacements, deletes, small
 * transactions, syncs) runs once to count the writes it makes, W, open and close
 * included. Then for every k in 1..W it runs again from the same starting image with the
 * power cut right after write k, in three variants of what happens to the writes not yet
 * synced: they all survive ("kept"), each sector of each survives with even odds
 * ("torn"), or half of them survive, applied in a random order ("reordered"). After each
 * cut the VDE is reopened (recovered) and must hold exactly the state after some prefix
 * of the workload's steps — so a transaction is never partly there and no value is
 * wrong — and `verify` must find it clean. Under strict durability the prefix includes
 * every acknowledged step (the one in flight may be there too); under group durability
 * it includes at least every step before the last completed sync (or a completed close).
 *
 * A streaming writer runs across steps too: opened in one, written in pieces in later
 * ones with puts, deletes and transactions between them (on its key as well), then
 * committed or aborted. Its object counts from its commit (the last commit wins); an
 * aborted writer, or one the cut interrupts, leaves nothing, and verify then finds every
 * block accounted for: its data blocks leak no space.
 *
 * The starting image is a snapshot of the simulated disk, so each crash state costs a
 * copy, not a new VDE. DW_TEST_SEED changes the workload.
 */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vde_env.h"

#define KEYS 40
#define STEPS 300
#define SUB_MAX 4
#define VALUE_MAX 20000

enum { STEP_PUT, STEP_DELETE, STEP_TXN, STEP_SYNC, STEP_STREAM_OPEN, STEP_STREAM_PIECE, STEP_STREAM_COMMIT,
       STEP_STREAM_ABORT };
#define STREAM_PIECES 3

typedef struct step {
    uint8_t kind;
    uint8_t count;                  /* sub-operations (1 unless a transaction) */
    uint8_t key[SUB_MAX];
    bool del[SUB_MAX];
    uint32_t size[SUB_MAX];
    uint32_t stream_open;           /* a stream's steps: the step that opened it (its value's seed) */
    uint32_t piece_from;            /* a piece: its bytes of the value */
    uint32_t piece_to;
} step;

typedef struct object {
    bool present;
    uint32_t size;
    uint64_t seed;
} object;

typedef struct sweep {
    env *e;
    step steps[STEPS];
    object models[STEPS + 1][KEYS]; /* models[p]: the objects after the first p steps */
    bool prefix_ok[STEPS + 1];
    void *start;                    /* the disk right after create */
    dw_writer *writer;              /* the stream open in this run, if any */
    unsigned char value[VALUE_MAX];
    unsigned char back[VALUE_MAX];
} sweep;

static uint64_t value_seed(uint32_t step_index, uint32_t sub)
{
    return (uint64_t)step_index * SUB_MAX + sub + 1;
}

static void key_of(char key[16], uint32_t k)
{
    (void)snprintf(key, 16, "pl-%02u", k);
}

/* One in four values spans several blocks; the rest are small, some held in the inode. */
static uint32_t draw_size(uint64_t *random)
{
    return dw_test_random(random) % 4 == 0 ? 5000 + (uint32_t)(dw_test_random(random) % (VALUE_MAX - 5000))
                                           : (uint32_t)(dw_test_random(random) % 600);
}

/* A stream's next step, when one is open: one of its pieces (a third of the steps while
 * pieces are left), then its commit, or one time in four its abort. */
typedef struct stream_plan {
    bool open;
    uint32_t opened;                /* its open step */
    uint8_t key;
    uint32_t size;
    uint32_t pieces_done;
} stream_plan;

static bool stream_step(stream_plan *plan, step *st, bool present[KEYS], uint64_t *random)
{
    if (!plan->open) {
        return false;
    }
    st->key[0] = plan->key;
    st->size[0] = plan->size;
    st->stream_open = plan->opened;
    if (plan->pieces_done < STREAM_PIECES) {
        if (dw_test_random(random) % 3 != 0) {
            return false;
        }
        st->kind = STEP_STREAM_PIECE;
        st->piece_from = plan->size * plan->pieces_done / STREAM_PIECES;
        st->piece_to = plan->size * (plan->pieces_done + 1) / STREAM_PIECES;
        plan->pieces_done++;
        return true;
    }
    st->kind = dw_test_random(random) % 4 == 0 ? STEP_STREAM_ABORT : STEP_STREAM_COMMIT;
    if (st->kind == STEP_STREAM_COMMIT) {
        present[plan->key] = true;
    }
    plan->open = false;
    return true;
}

/* The workload, drawn against a model so that every delete finds its key. */
static void make_workload(sweep *s, uint64_t seed)
{
    bool present[KEYS] = {false};
    stream_plan plan = {.open = false};
    uint64_t random = seed;
    for (uint32_t i = 0; i < STEPS; i++) {
        step *st = &s->steps[i];
        memset(st, 0, sizeof *st);
        st->count = 1;
        if (stream_step(&plan, st, present, &random)) {
            continue;
        }
        if (!plan.open && dw_test_random(&random) % 12 == 0) {
            plan = (stream_plan){.open = true, .opened = i, .key = (uint8_t)(dw_test_random(&random) % KEYS),
                                 .size = draw_size(&random), .pieces_done = 0};
            st->kind = STEP_STREAM_OPEN;
            st->key[0] = plan.key;
            st->size[0] = plan.size;
            st->stream_open = i;
            continue;
        }
        uint64_t dice = dw_test_random(&random) % 100;
        st->kind = dice < 60 ? STEP_PUT : dice < 78 ? STEP_DELETE : dice < 95 ? STEP_TXN : STEP_SYNC;
        st->count = st->kind == STEP_TXN ? (uint8_t)(2 + dw_test_random(&random) % (SUB_MAX - 1)) : 1;
        for (uint32_t j = 0; j < st->count && st->kind != STEP_SYNC; j++) {
            uint8_t k = (uint8_t)(dw_test_random(&random) % KEYS);
            bool del = st->kind == STEP_DELETE || (st->kind == STEP_TXN && dw_test_random(&random) % 3 == 0);
            if (del && !present[k]) {
                del = false; /* nothing to delete: put instead */
                if (st->kind == STEP_DELETE) {
                    st->kind = STEP_PUT;
                }
            }
            st->key[j] = k;
            st->del[j] = del;
            st->size[j] = del ? 0 : draw_size(&random);
            present[k] = !del;
        }
    }
}

static void apply(object model[KEYS], const step *st, uint32_t index)
{
    if (st->kind == STEP_STREAM_COMMIT) {
        object *o = &model[st->key[0]];
        o->present = true;
        o->size = st->size[0];
        o->seed = value_seed(st->stream_open, 0);
        return;
    }
    if (st->kind >= STEP_STREAM_OPEN) {
        return; /* nothing to see until the commit */
    }
    for (uint32_t j = 0; j < st->count && st->kind != STEP_SYNC; j++) {
        object *o = &model[st->key[j]];
        o->present = !st->del[j];
        o->size = st->size[j];
        o->seed = value_seed(index, j);
    }
}

static int run_step(sweep *s, uint32_t index)
{
    env *e = s->e;
    const step *st = &s->steps[index];
    char key[16];
    if (st->kind == STEP_SYNC) {
        return dw_sync(e->vde, NULL, &e->diag);
    }
    if (st->kind == STEP_STREAM_OPEN) {
        key_of(key, st->key[0]);
        return dw_writer_open(e->vde, key, strlen(key), NULL, &s->writer, &e->diag);
    }
    if (st->kind == STEP_STREAM_PIECE) {
        fill(s->value, st->size[0], value_seed(st->stream_open, 0));
        return dw_writer_write(s->writer, s->value + st->piece_from, st->piece_to - st->piece_from, &e->diag);
    }
    if (st->kind == STEP_STREAM_COMMIT || st->kind == STEP_STREAM_ABORT) {
        dw_writer *writer = s->writer;
        s->writer = NULL;
        if (st->kind == STEP_STREAM_ABORT) {
            dw_writer_abort(writer);
            return DW_OK;
        }
        return dw_writer_commit(writer, &e->diag);
    }
    if (st->kind != STEP_TXN) {
        key_of(key, st->key[0]);
        if (st->del[0]) {
            return dw_delete(e->vde, key, strlen(key), NULL, &e->diag);
        }
        fill(s->value, st->size[0], value_seed(index, 0));
        return dw_put(e->vde, key, strlen(key), s->value, st->size[0], NULL, &e->diag);
    }
    dw_txn *txn = NULL;
    int result = dw_txn_begin(e->vde, &txn, &e->diag);
    for (uint32_t j = 0; j < st->count && result == DW_OK; j++) {
        key_of(key, st->key[j]);
        if (st->del[j]) {
            result = dw_txn_delete(txn, key, strlen(key), &e->diag);
        } else {
            fill(s->value, st->size[j], value_seed(index, j));
            result = dw_txn_put(txn, key, strlen(key), s->value, st->size[j], &e->diag);
        }
    }
    if (result == DW_OK) {
        return dw_txn_commit(txn, NULL, &e->diag);
    }
    dw_txn_abort(txn);
    return result;
}

static bool same_object(const object *a, const object *b)
{
    return a->present == b->present && (!a->present || (a->size == b->size && a->seed == b->seed));
}

/* Marks which prefixes p in [low, high] the recovered VDE matches: every key holds what
 * models[p] says. Each key is read once; each distinct value it might hold is generated
 * and compared once. */
static void match_prefixes(sweep *s, uint32_t low, uint32_t high)
{
    env *e = s->e;
    for (uint32_t p = low; p <= high; p++) {
        s->prefix_ok[p] = true;
    }
    for (uint32_t k = 0; k < KEYS; k++) {
        char key[16];
        key_of(key, k);
        size_t size = 0;
        int result = dw_get(e->vde, key, strlen(key), s->back, sizeof s->back, &size, NULL, &e->diag);
        if (result != DW_OK && result != DW_ENOENT) {
            fail_msg("key %u: dw_get after recovery returned %s: %s", k, dw_error_name(result), e->diag.message);
        }
        const object *checked = NULL;
        bool matches = false;
        for (uint32_t p = low; p <= high; p++) {
            const object *o = &s->models[p][k];
            if (checked == NULL || !same_object(o, checked)) {
                checked = o;
                if (!o->present) {
                    matches = result == DW_ENOENT;
                } else {
                    matches = result == DW_OK && size == o->size;
                    if (matches) {
                        fill(s->value, size, o->seed);
                        matches = memcmp(s->back, s->value, size) == 0;
                    }
                }
            }
            s->prefix_ok[p] = s->prefix_ok[p] && matches;
        }
    }
}

typedef struct variant {
    const char *name;
    uint32_t drop_ppm;
    uint32_t torn_ppm;
    bool reorder;
} variant;

typedef struct outcome {
    uint64_t in_flight_found;       /* the step in flight was found committed */
    uint64_t unsynced_lost;         /* group: acknowledged steps after the last sync not found */
} outcome;

/* Runs the workload from the start image with the power cut after write `cut` (0: never);
 * returns the writes made. With a cut: recovers and checks that the VDE holds the state
 * after some prefix of the steps: strict, every acknowledged step (and perhaps the one
 * in flight); group, at least every step before the last completed sync. */
static uint64_t run_once(sweep *s, const variant *v, uint64_t cut, outcome *out)
{
    env *e = s->e;
    dw_sim_disk_restore(&e->disk, s->start);
    e->disk.state.faults.power_cut_after_writes = cut;
    e->disk.state.faults.drop_unsynced_ppm = v->drop_ppm;
    e->disk.state.faults.torn_unsynced_ppm = v->torn_ppm;
    e->disk.state.faults.reorder_unsynced = v->reorder;
    bool strict = e->config.durability == DW_DURABILITY_STRICT;
    uint32_t failed_at = STEPS;
    uint32_t synced = 0;            /* steps before the last completed sync */
    s->writer = NULL;
    bool open_failed = dw_vde_open_at(e->path, &e->config, &e->target, &e->vde, &e->diag) != DW_OK;
    for (uint32_t i = 0; i < STEPS && !open_failed; i++) {
        if (run_step(s, i) != DW_OK) {
            failed_at = i;
            break;
        }
        if (strict || s->steps[i].kind == STEP_SYNC) {
            synced = i + 1;
        }
    }
    if (e->vde != NULL) {
        int closed = dw_vde_close(e->vde, &e->diag);
        e->vde = NULL;
        if (cut == 0 && closed != DW_OK) {
            fail_msg("a run without a power cut failed to close: %s", e->diag.message);
        }
        if (closed == DW_OK && failed_at == STEPS) {
            synced = STEPS; /* a completed close made everything durable */
        }
    }
    if (open_failed) {
        failed_at = 0;
    }
    uint64_t writes = e->disk.state.counters.writes_since_power_on;
    if (cut == 0) {
        if (open_failed || failed_at != STEPS) {
            fail_msg("a run without a power cut failed at step %u: %s", failed_at, e->diag.message);
        }
        return writes;
    }
    /* The cut happened (every run makes at least `cut` writes, as the clean run did). */
    assert_false(e->disk.state.powered);
    e->disk.state.faults.power_cut_after_writes = 0;
    dw_sim_disk_power_on(&e->disk);
    env_open(e);
    uint32_t high = failed_at < STEPS ? failed_at + 1 : STEPS;
    match_prefixes(s, synced, high);
    uint32_t found = UINT32_MAX;
    for (uint32_t p = high + 1; p-- > synced;) {
        if (s->prefix_ok[p]) {
            found = p;
            break;
        }
    }
    if (found == UINT32_MAX) {
        fail_msg("%s, cut after write %" PRIu64 " (step %u in flight, %u synced): the VDE matches no state"
                 " between %u and %u steps",
                 v->name, cut, failed_at, synced, synced, high);
    }
    if (failed_at < STEPS && found == failed_at + 1) {
        out->in_flight_found++;
    }
    if (found < failed_at) {
        out->unsynced_lost += failed_at - found;
    }
    env_close(e);
    const dw_verify_report *report = env_verify(e, NULL, NULL);
    if (report->problem_count != 0) {
        env_print_problems(report);
        fail_msg("%s, cut after write %" PRIu64 ": verify found %" PRIu64 " problems after recovery", v->name, cut,
                 report->problem_count);
    }
    return writes;
}

static void small_disk(dw_config *config)
{
    config->wal_bytes = 512u << 10; /* a small log: checkpoints within the workload */
    config->group_bytes = 4u << 20;
    config->cache_pages = 64;
    config->buffer_count = 64;
    config->durability = DW_DURABILITY_STRICT;
}

static void sweep_every_write(dw_durability durability)
{
    sweep *s = calloc(1, sizeof *s);
    assert_non_null(s);
    make_workload(s, dw_test_seed());
    uint32_t streams[2] = {0, 0};
    for (uint32_t i = 0; i < STEPS; i++) {
        uint8_t kind = s->steps[i].kind;
        streams[0] += kind == STEP_STREAM_COMMIT;
        streams[1] += kind == STEP_STREAM_ABORT;
    }
    print_message("# %u streams committed and %u aborted between the other steps\n", streams[0], streams[1]);
    assert_true(streams[0] > 0); /* the workload interleaves writers with puts */
    for (uint32_t i = 0; i < STEPS; i++) {
        memcpy(s->models[i + 1], s->models[i], sizeof s->models[i]);
        apply(s->models[i + 1], &s->steps[i], i);
    }
    s->e = env_new_tuned(true, 8u << 20, small_disk);
    s->e->config.durability = durability;
    /* The start: the created VDE, synced, power cycled so writes count from 0. */
    dw_sim_disk_cut_power(&s->e->disk);
    dw_sim_disk_power_on(&s->e->disk);
    s->start = malloc(dw_sim_disk_snapshot_bytes(&s->e->disk));
    assert_non_null(s->start);
    dw_sim_disk_snapshot(&s->e->disk, s->start);

    static const variant variants[] = {
        {"kept", 0, 0, false},
        {"torn", 0, 1000000, false},
        {"reordered", 500000, 0, true},
    };
    outcome unused = {0, 0};
    uint64_t writes = run_once(s, &variants[0], 0, &unused);
    assert_true(writes > STEPS / 4);
    uint64_t states = 0;
    const char *mode = durability == DW_DURABILITY_STRICT ? "strict" : "group";
    for (size_t v = 0; v < DW_ARRAY_COUNT(variants); v++) {
        outcome out = {0, 0};
        for (uint64_t cut = 1; cut <= writes; cut++) {
            (void)run_once(s, &variants[v], cut, &out);
            states++;
        }
        print_message("# %s, %s: %" PRIu64 " crash states; the step in flight found committed %" PRIu64
                      " times; acknowledged unsynced steps not found %" PRIu64 "\n",
                      mode, variants[v].name, writes, out.in_flight_found, out.unsynced_lost);
    }
    print_message("# %s: %u operations making %" PRIu64 " writes; %" PRIu64
                  " crash states recovered, checked against the model and verified clean\n",
                  mode, STEPS, writes, states);
    free(s->start);
    env_free(s->e);
    free(s);
}

static void every_write_is_a_power_cut_under_strict_durability(void **state)
{
    (void)state;
    sweep_every_write(DW_DURABILITY_STRICT);
}

static void every_write_is_a_power_cut_under_group_durability(void **state)
{
    (void)state;
    sweep_every_write(DW_DURABILITY_GROUP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_write_is_a_power_cut_under_strict_durability),
        cmocka_unit_test(every_write_is_a_power_cut_under_group_durability),
    };
    return cmocka_run_group_tests_name("powerloss", tests, NULL, NULL);
}
