/*
 * log.h — structured logging as JSON lines.
 *
 * One line per event: {"ts":..., "level":..., "component":..., "msg":..., fields...}.
 * A log call formats into a fixed stack buffer and writes the line with one write(2), so
 * it never allocates, lines from several threads never interleave, and a line is never
 * longer than DW_LOG_LINE_MAX (a longer one is cut at a field boundary and marked
 * "truncated":true, still valid JSON).
 */
#ifndef DW_CORE_LOG_H
#define DW_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "dwvd.h"

/* Below PIPE_BUF (4096), so a line written to a pipe is written whole. */
#define DW_LOG_LINE_MAX 2048
DW_STATIC_ASSERT(DW_LOG_LINE_MAX <= 4096, "a log line must fit in PIPE_BUF to be atomic");

typedef enum dw_log_field_type {
    DW_LOG_FIELD_STRING,
    DW_LOG_FIELD_INT,
    DW_LOG_FIELD_UINT,
    DW_LOG_FIELD_BOOL,
} dw_log_field_type;

typedef struct dw_log_field {
    const char *key;
    dw_log_field_type type;
    union {
        const char *string;
        int64_t integer;
        uint64_t unsigned_integer;
        bool boolean;
    } value;
} dw_log_field;

#define DW_LOG_STRING(k, v) ((dw_log_field){.key = (k), .type = DW_LOG_FIELD_STRING, .value.string = (v)})
#define DW_LOG_INT(k, v) ((dw_log_field){.key = (k), .type = DW_LOG_FIELD_INT, .value.integer = (int64_t)(v)})
#define DW_LOG_UINT(k, v) ((dw_log_field){.key = (k), .type = DW_LOG_FIELD_UINT, .value.unsigned_integer = (uint64_t)(v)})
#define DW_LOG_BOOL(k, v) ((dw_log_field){.key = (k), .type = DW_LOG_FIELD_BOOL, .value.boolean = (v)})

typedef struct dw_log {
    int fd;
    bool owns_fd;
    dw_log_level level;
    const dw_clock *clock;
    _Atomic uint64_t lines_written;
    _Atomic uint64_t lines_failed;      /* write(2) failed; the line is lost */
    _Atomic uint64_t lines_truncated;   /* cut to DW_LOG_LINE_MAX */
} dw_log;

/* Opens a log on `path` (appending, created 0640) or, when path is NULL or empty, on
 * standard error. The clock stamps each line; it must outlive the log. */
int dw_log_open(dw_log *log, const char *path, dw_log_level level, const dw_clock *clock,
                dw_diag *diag);

/* A log on an already open descriptor, which stays the caller's to close. */
void dw_log_open_fd(dw_log *log, int fd, dw_log_level level, const dw_clock *clock);

void dw_log_close(dw_log *log);

static inline bool dw_log_enabled(const dw_log *log, dw_log_level level)
{
    return log != NULL && level >= log->level;
}

/* Writes one line if `level` passes the filter. Keys must be plain ASCII identifiers;
 * string values are escaped (control characters, quotes, invalid UTF-8). */
void dw_log_write(dw_log *log, dw_log_level level, const char *component, const char *message,
                  const dw_log_field *fields, size_t field_count);

/* DW_LOG(log, DW_LOG_INFO, "io", "backend chosen", DW_LOG_STRING("backend", name), ...):
 * the fields are only evaluated when the level passes. At least one field; use
 * dw_log_write(..., NULL, 0) for none. */
#define DW_LOG(log, level, component, message, ...)                                       \
    do {                                                                                  \
        if (dw_log_enabled((log), (level))) {                                             \
            const dw_log_field dw_log_fields_[] = {__VA_ARGS__};                           \
            dw_log_write((log), (level), (component), (message), dw_log_fields_,          \
                         sizeof dw_log_fields_ / sizeof dw_log_fields_[0]);               \
        }                                                                                 \
    } while (0)

/* "trace", "debug", "info", "warn", "error". */
const char *dw_log_level_name(dw_log_level level);

/* Parses a level name (case-insensitive; "warning" is accepted for "warn"). Returns
 * DW_OK or DW_EINVAL. */
int dw_log_level_parse(const char *text, dw_log_level *level);

#endif /* DW_CORE_LOG_H */
