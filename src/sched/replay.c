/*
 * replay.c — see replay.h.
 */
#include "sched/replay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/checksum.h"
#include "core/endian.h"
#include "core/error.h"
#include "core/file.h"

static const char MAGIC[8] = {'D', 'W', 'R', 'E', 'P', 'L', 'A', 'Y'};

/* Byte offsets of an event on disk, which are also what the chains hash. */
enum {
    EVENT_TYPE = 0,
    EVENT_PRIORITY = 1,
    EVENT_RESERVED = 2,
    EVENT_ORIGIN = 4,
    EVENT_TIME = 8,
    EVENT_TASK = 16,
    EVENT_HASH = 24,
    EVENT_WHAT_END = 32,        /* the "what" fields end here: the chain hashes bytes 0 .. 31 */
    EVENT_WORKER = 32,
    EVENT_FLAGS = 36,
    EVENT_TICKS = 40,
    EVENT_CHAIN = 48,
    EVENT_CHECK = 56,           /* the check hashes bytes 0 .. 55 */
};
_Static_assert(EVENT_CHECK + 8 == DW_REPLAY_EVENT_BYTES, "event layout");

/* Header offsets. */
enum {
    HEADER_MAGIC = 0,
    HEADER_VERSION = 8,
    HEADER_EVENT_BYTES = 12,
    HEADER_HEADER_BYTES = 16,
    HEADER_WORKERS = 20,
    HEADER_STORED = 24,
    HEADER_TOTAL = 32,
    HEADER_CHAIN = 40,
    HEADER_CHECK = 48,
    HEADER_LABEL = 56,
    HEADER_CHECKSUM = 120,
};
_Static_assert(HEADER_LABEL + DW_REPLAY_LABEL_MAX == HEADER_CHECKSUM, "header layout");
_Static_assert(HEADER_CHECKSUM + 8 == DW_REPLAY_HEADER_BYTES, "header layout");

static void encode_event(const dw_replay_event *event, unsigned char out[DW_REPLAY_EVENT_BYTES])
{
    out[EVENT_TYPE] = event->type;
    out[EVENT_PRIORITY] = event->priority;
    dw_store_le16(out + EVENT_RESERVED, event->reserved);
    dw_store_le32(out + EVENT_ORIGIN, event->origin);
    dw_store_le64(out + EVENT_TIME, event->time);
    dw_store_le64(out + EVENT_TASK, event->task_id);
    dw_store_le64(out + EVENT_HASH, event->hash);
    dw_store_le32(out + EVENT_WORKER, event->worker);
    dw_store_le32(out + EVENT_FLAGS, event->flags);
    dw_store_le64(out + EVENT_TICKS, event->ticks);
    dw_store_le64(out + EVENT_CHAIN, event->chain);
    dw_store_le64(out + EVENT_CHECK, event->check);
}

static void decode_event(const unsigned char in[DW_REPLAY_EVENT_BYTES], dw_replay_event *event)
{
    memset(event, 0, sizeof *event);
    event->type = in[EVENT_TYPE];
    event->priority = in[EVENT_PRIORITY];
    event->reserved = dw_load_le16(in + EVENT_RESERVED);
    event->origin = dw_load_le32(in + EVENT_ORIGIN);
    event->time = dw_load_le64(in + EVENT_TIME);
    event->task_id = dw_load_le64(in + EVENT_TASK);
    event->hash = dw_load_le64(in + EVENT_HASH);
    event->worker = dw_load_le32(in + EVENT_WORKER);
    event->flags = dw_load_le32(in + EVENT_FLAGS);
    event->ticks = dw_load_le64(in + EVENT_TICKS);
    event->chain = dw_load_le64(in + EVENT_CHAIN);
    event->check = dw_load_le64(in + EVENT_CHECK);
}

/* The chain and check an event should carry after (chain, check) of the event before. */
static void chain_values(uint64_t chain, uint64_t check, const dw_replay_event *event,
                         uint64_t *event_chain, uint64_t *event_check)
{
    unsigned char bytes[DW_REPLAY_EVENT_BYTES];
    encode_event(event, bytes);
    *event_chain = dw_xxh3_64(bytes, EVENT_WHAT_END, chain);
    dw_store_le64(bytes + EVENT_CHAIN, *event_chain);
    *event_check = dw_xxh3_64(bytes, EVENT_CHECK, check);
}

uint64_t dw_replay_memory_bytes(uint64_t capacity)
{
    return capacity * sizeof(dw_replay_event);
}

void dw_replay_init(dw_replay_log *log, void *memory, uint64_t capacity)
{
    DW_ASSERT(log != NULL && (memory != NULL || capacity == 0));
    DW_ASSERT(capacity <= DW_REPLAY_EVENTS_MAX);
    memset(log, 0, sizeof *log);
    log->events = memory;
    log->capacity = capacity;
    dw_replay_reset(log);
}

void dw_replay_reset(dw_replay_log *log)
{
    log->stored = 0;
    log->total = 0;
    log->chain = DW_REPLAY_CHAIN_START;
    log->check = DW_REPLAY_CHECK_START;
}

void dw_replay_set_label(dw_replay_log *log, const char *label)
{
    memset(log->label, 0, sizeof log->label);
    size_t length = strlen(label);
    memcpy(log->label, label, length < sizeof log->label ? length : sizeof log->label - 1);
}

bool dw_replay_record(dw_replay_log *log, const dw_replay_event *event)
{
    dw_replay_event recorded = *event;
    recorded.reserved = 0;
    chain_values(log->chain, log->check, &recorded, &recorded.chain, &recorded.check);
    log->chain = recorded.chain;
    log->check = recorded.check;
    log->total++;
    if (log->stored == log->capacity) {
        return false;
    }
    log->events[log->stored++] = recorded;
    return true;
}

bool dw_replay_verify(const dw_replay_log *log, uint64_t *broken_at)
{
    uint64_t chain = DW_REPLAY_CHAIN_START;
    uint64_t check = DW_REPLAY_CHECK_START;
    for (uint64_t i = 0; i < log->stored; i++) {
        const dw_replay_event *event = &log->events[i];
        uint64_t expected_chain = 0;
        uint64_t expected_check = 0;
        chain_values(chain, check, event, &expected_chain, &expected_check);
        if (event->chain != expected_chain || event->check != expected_check) {
            *broken_at = i;
            return false;
        }
        chain = event->chain;
        check = event->check;
    }
    /* With every event stored, the header's final values must be the last event's. */
    if (log->stored == log->total && (log->chain != chain || log->check != check)) {
        *broken_at = log->stored;
        return false;
    }
    return true;
}

/* Which "what" field differs, or NULL. */
static const char *what_differs(const dw_replay_event *a, const dw_replay_event *b)
{
    if (a->type != b->type) {
        return "the event type differs";
    }
    if (a->task_id != b->task_id) {
        return "the task differs";
    }
    if (a->priority != b->priority) {
        return "the priority differs";
    }
    if (a->time != b->time || a->origin != b->origin) {
        return "the Lamport stamp differs";
    }
    if (a->hash != b->hash) {
        switch (a->type) {
        case DW_REPLAY_TASK_EXECUTED: return "the output hash differs";
        case DW_REPLAY_STATE_CHANGE: return "the state hash differs";
        case DW_REPLAY_EXTERNAL_INPUT: return "the input hash differs";
        default: return "the hash differs";
        }
    }
    return NULL;
}

static bool timing_differs(const dw_replay_event *a, const dw_replay_event *b)
{
    return a->worker != b->worker || a->flags != b->flags || a->ticks != b->ticks;
}

static void diverge(dw_replay_comparison *out, const dw_replay_log *a, const dw_replay_log *b,
                    uint64_t index, const char *reason)
{
    out->verdict = DW_REPLAY_DIVERGED;
    out->index = index;
    out->reason = reason;
    out->a_present = index < a->stored;
    out->b_present = index < b->stored;
    if (out->a_present) {
        out->a = a->events[index];
    }
    if (out->b_present) {
        out->b = b->events[index];
    }
}

void dw_replay_compare(const dw_replay_log *a, const dw_replay_log *b,
                       dw_replay_comparison *comparison)
{
    memset(comparison, 0, sizeof *comparison);
    comparison->verdict = DW_REPLAY_EXACT;
    /* An event altered after recording is a divergence at that event, even if only a
     * timing field was touched: from there on the log vouches for nothing. */
    uint64_t broken_a = UINT64_MAX;
    uint64_t broken_b = UINT64_MAX;
    bool a_ok = dw_replay_verify(a, &broken_a);
    bool b_ok = dw_replay_verify(b, &broken_b);
    uint64_t common = a->stored < b->stored ? a->stored : b->stored;
    uint64_t first_minor = UINT64_MAX;
    for (uint64_t i = 0; i < common; i++) {
        if ((!a_ok && i == broken_a) || (!b_ok && i == broken_b)) {
            diverge(comparison, a, b, i,
                    !a_ok && i == broken_a
                        ? "log A's event was altered after it was recorded (its hash chain breaks here)"
                        : "log B's event was altered after it was recorded (its hash chain breaks here)");
            return;
        }
        const char *reason = what_differs(&a->events[i], &b->events[i]);
        if (reason != NULL) {
            diverge(comparison, a, b, i, reason);
            return;
        }
        if (timing_differs(&a->events[i], &b->events[i])) {
            comparison->minor_events++;
            if (first_minor == UINT64_MAX) {
                first_minor = i;
            }
        }
    }
    if (a->total != b->total) {
        uint64_t shorter = a->total < b->total ? a->total : b->total;
        if (common == shorter) {
            diverge(comparison, a, b, common, a->total < b->total ? "log A ends here" : "log B ends here");
        } else {
            diverge(comparison, a, b, common, "the logs have different lengths (beyond the stored events)");
        }
        return;
    }
    if (a->stored != b->stored || a->chain != b->chain) {
        /* Equal totals: one log stored fewer events than the other (it was full) or the
         * unstored tails differ. Only the final chain can tell. */
        if (a->chain != b->chain) {
            diverge(comparison, a, b, common,
                    "the events beyond those stored differ (the final chains differ)");
            return;
        }
    }
    if (!a_ok || !b_ok) {
        /* Every stored event matched but a header's final values do not. */
        diverge(comparison, a, b, common, !a_ok ? "log A's final chain does not match its events"
                                         : "log B's final chain does not match its events");
        return;
    }
    if (comparison->minor_events > 0) {
        comparison->verdict = DW_REPLAY_MINOR;
        comparison->index = first_minor;
    }
}

const char *dw_replay_type_name(uint8_t type)
{
    switch (type) {
    case DW_REPLAY_TASK_ENQUEUED: return "enqueued";
    case DW_REPLAY_TASK_EXECUTED: return "executed";
    case DW_REPLAY_STATE_CHANGE: return "state";
    case DW_REPLAY_EXTERNAL_INPUT: return "input";
    default: return "unknown";
    }
}

const char *dw_replay_verdict_name(dw_replay_verdict verdict)
{
    switch (verdict) {
    case DW_REPLAY_EXACT: return "exact match";
    case DW_REPLAY_MINOR: return "minor difference";
    case DW_REPLAY_DIVERGED: return "diverged";
    }
    return "unknown";
}

static const char *priority_name(uint8_t priority)
{
    static const char *const names[] = {"high", "normal", "low"};
    return priority < 3 ? names[priority] : "invalid";
}

static void format_origin(uint32_t origin, char *text, size_t size)
{
    if (origin == DW_REPLAY_ORIGIN_SELF) {
        (void)snprintf(text, size, "self");
    } else {
        (void)snprintf(text, size, "core%u", origin);
    }
}

size_t dw_replay_format_event(const dw_replay_event *event, uint64_t index, char *text,
                              size_t size)
{
    char origin[16];
    format_origin(event->origin, origin, sizeof origin);
    int length = 0;
    switch (event->type) {
    case DW_REPLAY_TASK_ENQUEUED:
        length = snprintf(text, size, "#%llu enqueued task %llu %s stamp %llu@%s",
                          (unsigned long long)index, (unsigned long long)event->task_id,
                          priority_name(event->priority), (unsigned long long)event->time, origin);
        break;
    case DW_REPLAY_TASK_EXECUTED:
        length = snprintf(text, size,
                          "#%llu executed task %llu %s stamp %llu@%s output %016llx "
                          "(worker %u, %llu ticks%s)",
                          (unsigned long long)index, (unsigned long long)event->task_id,
                          priority_name(event->priority), (unsigned long long)event->time, origin,
                          (unsigned long long)event->hash, event->worker,
                          (unsigned long long)event->ticks,
                          (event->flags & DW_REPLAY_OVER_BUDGET) != 0 ? ", over budget" : "");
        break;
    case DW_REPLAY_STATE_CHANGE:
    case DW_REPLAY_EXTERNAL_INPUT:
        length = snprintf(text, size, "#%llu %s stamp %llu@%s hash %016llx",
                          (unsigned long long)index, dw_replay_type_name(event->type),
                          (unsigned long long)event->time, origin, (unsigned long long)event->hash);
        break;
    default:
        length = snprintf(text, size, "#%llu unknown event type %u", (unsigned long long)index,
                          event->type);
        break;
    }
    if (length < 0) {
        text[0] = '\0';
        return 0;
    }
    return (size_t)length < size ? (size_t)length : size - 1;
}

static void encode_header(const dw_replay_log *log, unsigned char out[DW_REPLAY_HEADER_BYTES])
{
    memset(out, 0, DW_REPLAY_HEADER_BYTES);
    memcpy(out + HEADER_MAGIC, MAGIC, sizeof MAGIC);
    dw_store_le32(out + HEADER_VERSION, DW_REPLAY_FILE_VERSION);
    dw_store_le32(out + HEADER_EVENT_BYTES, DW_REPLAY_EVENT_BYTES);
    dw_store_le32(out + HEADER_HEADER_BYTES, DW_REPLAY_HEADER_BYTES);
    dw_store_le32(out + HEADER_WORKERS, log->workers);
    dw_store_le64(out + HEADER_STORED, log->stored);
    dw_store_le64(out + HEADER_TOTAL, log->total);
    dw_store_le64(out + HEADER_CHAIN, log->chain);
    dw_store_le64(out + HEADER_CHECK, log->check);
    memcpy(out + HEADER_LABEL, log->label, DW_REPLAY_LABEL_MAX);
    out[HEADER_LABEL + DW_REPLAY_LABEL_MAX - 1] = '\0';
}

/* Events go to and from files this many at a time, through a stack buffer. */
#define EVENTS_PER_CHUNK 64

/* Encodes the stored events from `first` into `chunk`, as many as fit; returns how many. */
static uint64_t encode_chunk(const dw_replay_log *log, uint64_t first,
                             unsigned char chunk[EVENTS_PER_CHUNK * DW_REPLAY_EVENT_BYTES])
{
    uint64_t count = 0;
    while (count < EVENTS_PER_CHUNK && first + count < log->stored) {
        encode_event(&log->events[first + count], chunk + count * DW_REPLAY_EVENT_BYTES);
        count++;
    }
    return count;
}

int dw_replay_save(const dw_replay_log *log, const char *path, dw_diag *diag)
{
    /* Two passes over the events: the checksum, which the header carries, then the
     * writes. Encoding is cheap; holding the whole encoded file would not be. */
    unsigned char header[DW_REPLAY_HEADER_BYTES];
    encode_header(log, header);
    dw_xxh64_stream checksum;
    dw_xxh64_begin(&checksum, 0);
    dw_xxh64_add(&checksum, header, HEADER_CHECKSUM);
    unsigned char chunk[EVENTS_PER_CHUNK * DW_REPLAY_EVENT_BYTES];
    for (uint64_t first = 0; first < log->stored; first += EVENTS_PER_CHUNK) {
        uint64_t count = encode_chunk(log, first, chunk);
        dw_xxh64_add(&checksum, chunk, (size_t)count * DW_REPLAY_EVENT_BYTES);
    }
    dw_store_le64(header + HEADER_CHECKSUM, dw_xxh64_end(&checksum));

    dw_file_replace file;
    int result = dw_file_replace_open(&file, path, diag);
    if (result != DW_OK) {
        return result;
    }
    result = dw_file_replace_write(&file, header, sizeof header, diag);
    for (uint64_t first = 0; result == DW_OK && first < log->stored; first += EVENTS_PER_CHUNK) {
        uint64_t count = encode_chunk(log, first, chunk);
        result = dw_file_replace_write(&file, chunk, (size_t)count * DW_REPLAY_EVENT_BYTES, diag);
    }
    if (result != DW_OK) {
        dw_file_replace_abort(&file);
        return result;
    }
    return dw_file_replace_commit(&file, diag);
}

/* Opens a log file and reads and checks its header. */
static int open_log(const char *path, unsigned char header[DW_REPLAY_HEADER_BYTES], int *fd_out,
                    dw_diag *diag)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int error_number = errno;
        return dw_diag_fail(diag, dw_error_from_errno(error_number), "check the path",
                            "cannot open replay log '%s': %s", path, strerror(error_number));
    }
    ssize_t got = dw_read_full(fd, header, DW_REPLAY_HEADER_BYTES);
    const char *problem = NULL;
    if (got < 0) {
        int error_number = errno;
        (void)close(fd);
        return dw_diag_fail(diag, DW_EIO, NULL, "cannot read replay log '%s': %s", path,
                            strerror(error_number));
    }
    if (got < DW_REPLAY_HEADER_BYTES || memcmp(header + HEADER_MAGIC, MAGIC, sizeof MAGIC) != 0) {
        problem = "it does not start with a replay log header (magic DWREPLAY)";
    } else if (dw_load_le32(header + HEADER_VERSION) != DW_REPLAY_FILE_VERSION) {
        problem = "its format version is not one this dw reads";
    } else if (dw_load_le32(header + HEADER_EVENT_BYTES) != DW_REPLAY_EVENT_BYTES ||
               dw_load_le32(header + HEADER_HEADER_BYTES) != DW_REPLAY_HEADER_BYTES) {
        problem = "its header or event size is not that of format version 1";
    } else if (dw_load_le64(header + HEADER_STORED) > DW_REPLAY_EVENTS_MAX ||
               dw_load_le64(header + HEADER_STORED) > dw_load_le64(header + HEADER_TOTAL)) {
        problem = "its event counts are impossible";
    }
    if (problem != NULL) {
        (void)close(fd);
        return dw_diag_fail(diag, DW_ECORRUPT, "give the path of a file saved by 'dw replay record'",
                            "'%s' is not a readable replay log: %s", path, problem);
    }
    *fd_out = fd;
    return DW_OK;
}

int dw_replay_peek(const char *path, uint64_t *stored_events, dw_diag *diag)
{
    unsigned char header[DW_REPLAY_HEADER_BYTES] = {0};
    int fd = -1;
    int result = open_log(path, header, &fd, diag);
    if (result != DW_OK) {
        return result;
    }
    (void)close(fd);
    *stored_events = dw_load_le64(header + HEADER_STORED);
    return DW_OK;
}

int dw_replay_load(dw_replay_log *log, const char *path, dw_replay_file_report *report,
                   dw_diag *diag)
{
    memset(report, 0, sizeof *report);
    unsigned char header[DW_REPLAY_HEADER_BYTES] = {0};
    int fd = -1;
    int result = open_log(path, header, &fd, diag);
    if (result != DW_OK) {
        return result;
    }
    uint64_t stored = dw_load_le64(header + HEADER_STORED);
    if (stored > log->capacity) {
        (void)close(fd);
        return dw_diag_fail(diag, DW_ENOSPC, "load it into a log of at least that capacity",
                            "replay log '%s' holds %llu events, more than the %llu this log has room for",
                            path, (unsigned long long)stored, (unsigned long long)log->capacity);
    }
    dw_replay_reset(log);
    log->workers = dw_load_le32(header + HEADER_WORKERS);
    memcpy(log->label, header + HEADER_LABEL, DW_REPLAY_LABEL_MAX);
    log->label[DW_REPLAY_LABEL_MAX - 1] = '\0';
    log->total = dw_load_le64(header + HEADER_TOTAL);
    log->chain = dw_load_le64(header + HEADER_CHAIN);
    log->check = dw_load_le64(header + HEADER_CHECK);
    report->events_in_header = stored;

    dw_xxh64_stream checksum;
    dw_xxh64_begin(&checksum, 0);
    dw_xxh64_add(&checksum, header, HEADER_CHECKSUM);
    unsigned char chunk[EVENTS_PER_CHUNK * DW_REPLAY_EVENT_BYTES];
    memset(chunk, 0, sizeof chunk);
    uint64_t read_events = 0;
    while (read_events < stored) {
        uint64_t left = stored - read_events;
        uint64_t want = left < EVENTS_PER_CHUNK ? left : EVENTS_PER_CHUNK;
        ssize_t got = dw_read_full(fd, chunk, (size_t)want * DW_REPLAY_EVENT_BYTES);
        if (got < 0) {
            int error_number = errno;
            (void)close(fd);
            return dw_diag_fail(diag, DW_EIO, NULL, "cannot read replay log '%s' after event %llu: %s",
                                path, (unsigned long long)read_events, strerror(error_number));
        }
        dw_xxh64_add(&checksum, chunk, (size_t)got);
        uint64_t whole = (uint64_t)got / DW_REPLAY_EVENT_BYTES;
        for (uint64_t i = 0; i < whole; i++) {
            decode_event(chunk + i * DW_REPLAY_EVENT_BYTES, &log->events[read_events + i]);
        }
        read_events += whole;
        if ((uint64_t)got < want * DW_REPLAY_EVENT_BYTES) {
            break; /* the file ends early */
        }
    }
    /* Bytes past the announced events are damage too. */
    unsigned char extra = 0;
    bool trailing = read_events == stored && dw_read_full(fd, &extra, 1) > 0;
    (void)close(fd);
    log->stored = read_events;
    if (read_events < stored) {
        /* The file ends early: the log is what it holds, no more. Its final values are
         * those of the last whole event, so it compares as a run that stopped there. */
        log->total = read_events;
        log->chain = read_events > 0 ? log->events[read_events - 1].chain : DW_REPLAY_CHAIN_START;
        log->check = read_events > 0 ? log->events[read_events - 1].check : DW_REPLAY_CHECK_START;
    }
    report->events_read = read_events;
    report->checksum_ok = !trailing && read_events == stored &&
                          dw_xxh64_end(&checksum) == dw_load_le64(header + HEADER_CHECKSUM);
    uint64_t broken_at = 0;
    report->chain_ok = dw_replay_verify(log, &broken_at);
    report->chain_broken_at = report->chain_ok ? 0 : broken_at;
    return DW_OK;
}
