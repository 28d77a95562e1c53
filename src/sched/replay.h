/*
 * replay.h — the replay log: what a run of the deterministic scheduler did, event by
 * event, in a fixed-capacity log that can be saved, loaded and compared with another.
 *
 * Each event has two kinds of field. What the run did — the event's type, the task, its
 * priority, its Lamport stamp and the hash of its output, state or input — must be the
 * same in every run of the same work, on any number of cores. How it happened to run —
 * the worker core that ran a task, the CPU ticks it took, whether it overran its budget —
 * may differ, and a difference there is only a "minor difference".
 *
 * Integrity is two hash chains. Each event's `chain` is XXH3 of its "what" fields, seeded
 * with the chain of the event before: changing, dropping, adding or swapping any event
 * changes every chain value from that event on, which the XOR of timestamps the
 * requirement started from cannot see (it is blind to reordering). The final chain is the
 * run's execution-order hash, the same on any number of cores. Each event's `check` does
 * the same over every field, timing included, so that an event altered after it was
 * recorded — in any field — is found, at that event.
 *
 * The log never grows: once full it keeps counting events and extending the chain, but
 * stores no more of them (the saved file says so), so a long run still has a final
 * hash to compare. Written by one thread (the scheduler's driving thread).
 */
#ifndef DW_SCHED_REPLAY_H
#define DW_SCHED_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dwvd.h"

typedef enum dw_replay_type {
    DW_REPLAY_TASK_ENQUEUED = 1,    /* a task was accepted: id, priority, stamp */
    DW_REPLAY_TASK_EXECUTED = 2,    /* its result was committed: id, stamp, output hash */
    DW_REPLAY_STATE_CHANGE = 3,     /* the caller's state moved on: state hash */
    DW_REPLAY_EXTERNAL_INPUT = 4,   /* something from outside the run came in: input hash */
} dw_replay_type;

/* The origin of stamps made by the scheduler's own clock (rather than a caller's). */
#define DW_REPLAY_ORIGIN_SELF UINT32_MAX

/* flags */
#define DW_REPLAY_OVER_BUDGET 1u

typedef struct dw_replay_event {
    /* What the run did: compared exactly and covered by the chain. */
    uint8_t type;                   /* dw_replay_type */
    uint8_t priority;               /* tasks: dw_task_priority */
    uint16_t reserved;              /* zero when recorded; covered by the check */
    uint32_t origin;                /* the core (source) that made the stamp */
    uint64_t time;                  /* the stamp's Lamport time */
    uint64_t task_id;               /* tasks; 0 otherwise */
    uint64_t hash;                  /* output, state or input hash; 0 for enqueued */
    /* How it happened to run: differences here are minor. */
    uint32_t worker;                /* executed: the worker core that ran it */
    uint32_t flags;                 /* executed: DW_REPLAY_OVER_BUDGET */
    uint64_t ticks;                 /* executed: CPU ticks its work took */
    /* Integrity. */
    uint64_t chain;                 /* the chain of "what" fields through this event */
    uint64_t check;                 /* the chain of every field through this event */
} dw_replay_event;

#define DW_REPLAY_LABEL_MAX 64

typedef struct dw_replay_log {
    dw_replay_event *events;
    uint64_t capacity;
    uint64_t stored;                /* events held: min(total, capacity) */
    uint64_t total;                 /* events recorded */
    uint64_t chain;                 /* after the last recorded event */
    uint64_t check;
    uint32_t workers;               /* the run's worker count, for the reader */
    char label[DW_REPLAY_LABEL_MAX];/* what was run, for the reader */
} dw_replay_log;

/* The largest log a file may hold: 16 Mi events, 1 GiB. */
#define DW_REPLAY_EVENTS_MAX (UINT64_C(1) << 24)

uint64_t dw_replay_memory_bytes(uint64_t capacity);
void dw_replay_init(dw_replay_log *log, void *memory, uint64_t capacity);
/* Forgets every event (the memory stays). */
void dw_replay_reset(dw_replay_log *log);
void dw_replay_set_label(dw_replay_log *log, const char *label);

/* The chain values before the first event. */
#define DW_REPLAY_CHAIN_START UINT64_C(0x6477766472706c31) /* "dwvdrpl1" */
#define DW_REPLAY_CHECK_START UINT64_C(0x6477766472706332) /* "dwvdrpc2" */

/* Appends an event (its chain and check are computed here). False when the log is full
 * and the event was counted and chained but not stored. */
bool dw_replay_record(dw_replay_log *log, const dw_replay_event *event);

/* Recomputes both chains over the stored events. True when every stored value is right
 * (and, when all events are stored, the final ones too); otherwise *broken_at is the
 * first event whose chain or check is wrong: the first event altered after recording. */
bool dw_replay_verify(const dw_replay_log *log, uint64_t *broken_at);

/* ---- comparing two runs ---- */

typedef enum dw_replay_verdict {
    DW_REPLAY_EXACT = 0,            /* every field of every event is the same */
    DW_REPLAY_MINOR = 1,            /* only how it ran differs (worker, ticks, budget flag) */
    DW_REPLAY_DIVERGED = 2,         /* what the run did differs from event `index` on */
} dw_replay_verdict;

typedef struct dw_replay_comparison {
    dw_replay_verdict verdict;
    uint64_t index;                 /* diverged: first differing event; minor: first timing difference */
    uint64_t minor_events;          /* events that differ in timing fields only */
    const char *reason;             /* diverged: which field, or which log ends */
    bool a_present;                 /* diverged: whether each log stores event `index` */
    bool b_present;
    dw_replay_event a;
    dw_replay_event b;
} dw_replay_comparison;

void dw_replay_compare(const dw_replay_log *a, const dw_replay_log *b,
                       dw_replay_comparison *comparison);

const char *dw_replay_type_name(uint8_t type);
const char *dw_replay_verdict_name(dw_replay_verdict verdict);

/* One line describing an event ("#12 executed task 17 normal stamp 25@self output
 * 0x... worker 1, 1234 ticks"). Returns the length written (truncated to fit). */
size_t dw_replay_format_event(const dw_replay_event *event, uint64_t index, char *text,
                              size_t size);

/* ---- files ----
 * A 128-byte header (magic "DWREPLAY", version, event size, counts, final chain and
 * check, worker count, label, XXH64 checksum of everything else), then the stored
 * events, 64 bytes each, all little-endian. docs/DETERMINISM.md has the byte layout. */

#define DW_REPLAY_FILE_VERSION 1
#define DW_REPLAY_HEADER_BYTES 128
#define DW_REPLAY_EVENT_BYTES 64

/* Saves the log, replacing `path` atomically (temporary file, fsync, rename). */
int dw_replay_save(const dw_replay_log *log, const char *path, dw_diag *diag);

/* How a loaded file looked. A damaged file still loads as far as it can, so that it can
 * be shown and compared; these say what was wrong. */
typedef struct dw_replay_file_report {
    uint64_t events_in_header;      /* stored events the header announces */
    uint64_t events_read;           /* whole events present in the file */
    bool checksum_ok;               /* the file checksum matches */
    bool chain_ok;                  /* dw_replay_verify on what was read */
    uint64_t chain_broken_at;       /* when not chain_ok */
} dw_replay_file_report;

/* Reads the header only: how much memory dw_replay_load will need. DW_ECORRUPT for a
 * file that is not a replay log or of another version. */
int dw_replay_peek(const char *path, uint64_t *stored_events, dw_diag *diag);

/* Loads a saved log into `log` (initialised with enough capacity). Fails only when the
 * file cannot be read or is not a replay log; damage is reported in `report`. */
int dw_replay_load(dw_replay_log *log, const char *path, dw_replay_file_report *report,
                   dw_diag *diag);

#endif /* DW_SCHED_REPLAY_H */
