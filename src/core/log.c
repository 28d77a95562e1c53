/*
 * log.c — JSON-lines logging into a fixed stack buffer, one write(2) per line.
 *
 * No library fits here: the JSON and logging libraries in Debian allocate per call or per
 * document, and a log call must be usable on the hot path without breaking the
 * no-allocation-after-open promise. What is needed is small: escape strings, append
 * numbers, cut cleanly at the buffer's end.
 */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/error.h"
#include "core/file.h"

/* Room always kept free for the message's closing quote, `,"truncated":true`, the closing
 * brace and the newline, so a line cut anywhere can still be closed as valid JSON. */
static const char truncated_tail[] = ",\"truncated\":true";
#define LOG_TAIL_RESERVE (1 + sizeof truncated_tail - 1 + 2)

typedef struct line_builder {
    char *data;
    size_t length;
    size_t capacity; /* usable bytes, not counting the reserved tail */
} line_builder;

static bool builder_append(line_builder *builder, const char *text, size_t length)
{
    if (builder->capacity - builder->length < length) {
        return false;
    }
    memcpy(builder->data + builder->length, text, length);
    builder->length += length;
    return true;
}

static bool builder_append_text(line_builder *builder, const char *text)
{
    return builder_append(builder, text, strlen(text));
}

/* Length of the valid UTF-8 sequence starting at `text`, or 0 if the bytes there are not
 * one (overlong forms, surrogates and code points past U+10FFFF are invalid). */
static size_t utf8_sequence_length(const unsigned char *text)
{
    unsigned char lead = text[0];
    size_t length;
    uint32_t code_point;
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
        code_point = lead & 0x1fu;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        code_point = lead & 0x0fu;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        code_point = lead & 0x07u;
    } else {
        return 0;
    }
    for (size_t i = 1; i < length; i++) {
        if ((text[i] & 0xc0u) != 0x80u) {
            return 0;
        }
        code_point = (code_point << 6) | (text[i] & 0x3fu);
    }
    static const uint32_t minimum[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < minimum[length] || code_point > 0x10ffff ||
        (code_point >= 0xd800 && code_point <= 0xdfff)) {
        return 0;
    }
    return length;
}

/* Appends `text` as the inside of a JSON string. With `allow_partial`, as much as fits is
 * appended (never half an escape or half a UTF-8 sequence) and false is returned if
 * anything was left out; without it, nothing is appended unless everything fits. */
static bool builder_append_escaped(line_builder *builder, const char *text, bool allow_partial)
{
    size_t mark = builder->length;
    const unsigned char *cursor = (const unsigned char *)text;
    while (*cursor != '\0') {
        char escape[8];
        const char *piece = escape;
        size_t piece_length;
        size_t consumed = 1;
        unsigned char byte = *cursor;
        if (byte == '"') {
            piece = "\\\"";
            piece_length = 2;
        } else if (byte == '\\') {
            piece = "\\\\";
            piece_length = 2;
        } else if (byte == '\n') {
            piece = "\\n";
            piece_length = 2;
        } else if (byte == '\t') {
            piece = "\\t";
            piece_length = 2;
        } else if (byte == '\r') {
            piece = "\\r";
            piece_length = 2;
        } else if (byte < 0x20 || byte == 0x7f) {
            piece_length = (size_t)snprintf(escape, sizeof escape, "\\u%04x", byte);
        } else if (byte < 0x80) {
            piece = (const char *)cursor;
            piece_length = 1;
        } else {
            consumed = utf8_sequence_length(cursor);
            if (consumed == 0) {
                piece = "\\ufffd"; /* the replacement character for an invalid byte */
                piece_length = 6;
                consumed = 1;
            } else {
                piece = (const char *)cursor;
                piece_length = consumed;
            }
        }
        if (!builder_append(builder, piece, piece_length)) {
            if (!allow_partial) {
                builder->length = mark;
            }
            return false;
        }
        cursor += consumed;
    }
    return true;
}

static bool builder_append_key(line_builder *builder, const char *key)
{
    return builder_append(builder, ",\"", 2) && builder_append_escaped(builder, key, false) &&
           builder_append(builder, "\":", 2);
}

static bool builder_append_field(line_builder *builder, const dw_log_field *field)
{
    size_t mark = builder->length;
    char number[32];
    bool fits = builder_append_key(builder, field->key);
    switch (field->type) {
    case DW_LOG_FIELD_STRING: {
        const char *value = field->value.string != NULL ? field->value.string : "";
        fits = fits && builder_append(builder, "\"", 1) &&
               builder_append_escaped(builder, value, false) && builder_append(builder, "\"", 1);
        break;
    }
    case DW_LOG_FIELD_INT:
        (void)snprintf(number, sizeof number, "%lld", (long long)field->value.integer);
        fits = fits && builder_append_text(builder, number);
        break;
    case DW_LOG_FIELD_UINT:
        (void)snprintf(number, sizeof number, "%llu",
                       (unsigned long long)field->value.unsigned_integer);
        fits = fits && builder_append_text(builder, number);
        break;
    case DW_LOG_FIELD_BOOL:
        fits = fits && builder_append_text(builder, field->value.boolean ? "true" : "false");
        break;
    default:
        DW_UNREACHABLE();
    }
    if (!fits) {
        builder->length = mark;
    }
    return fits;
}

void dw_log_write(dw_log *log, dw_log_level level, const char *component, const char *message,
                  const dw_log_field *fields, size_t field_count)
{
    if (!dw_log_enabled(log, level)) {
        return;
    }
    DW_ASSERT(component != NULL && message != NULL);
    DW_ASSERT(fields != NULL || field_count == 0);

    char line[DW_LOG_LINE_MAX];
    line_builder builder = {.data = line, .length = 0, .capacity = sizeof line - LOG_TAIL_RESERVE};
    char time_text[DW_TIME_TEXT_SIZE];
    dw_time_format_utc(dw_clock_realtime_ns(log->clock), time_text);

    bool complete = builder_append_text(&builder, "{\"ts\":\"") &&
                    builder_append_text(&builder, time_text) &&
                    builder_append_text(&builder, "\",\"level\":\"") &&
                    builder_append_text(&builder, dw_log_level_name(level)) &&
                    builder_append_text(&builder, "\",\"component\":\"") &&
                    builder_append_escaped(&builder, component, false) &&
                    builder_append_text(&builder, "\",\"msg\":\"");
    /* The header is far shorter than the buffer, so only the message and fields can
     * overflow; the message keeps as much as fits. */
    DW_ASSERT(complete);
    complete = builder_append_escaped(&builder, message, true);
    /* From here on the reserve is usable: the closing quote, then the fields within the
     * normal capacity, then the tail. */
    builder.capacity = sizeof line;
    bool fits = builder_append(&builder, "\"", 1);
    DW_ASSERT(fits);
    builder.capacity = sizeof line - (LOG_TAIL_RESERVE - 1);
    for (size_t i = 0; complete && i < field_count; i++) {
        complete = builder_append_field(&builder, &fields[i]);
    }

    builder.capacity = sizeof line;
    if (!complete) {
        fits = builder_append(&builder, truncated_tail, sizeof truncated_tail - 1);
        DW_ASSERT(fits);
        atomic_fetch_add_explicit(&log->lines_truncated, 1, memory_order_relaxed);
    }
    fits = builder_append(&builder, "}\n", 2);
    DW_ASSERT(fits);

    if (dw_write_all(log->fd, line, builder.length)) {
        atomic_fetch_add_explicit(&log->lines_written, 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&log->lines_failed, 1, memory_order_relaxed);
    }
}

static void log_init(dw_log *log, int fd, bool owns_fd, dw_log_level level, const dw_clock *clock)
{
    DW_ASSERT(log != NULL && clock != NULL);
    DW_ASSERT(level >= DW_LOG_TRACE && level <= DW_LOG_ERROR);
    log->fd = fd;
    log->owns_fd = owns_fd;
    log->level = level;
    log->clock = clock;
    atomic_init(&log->lines_written, 0);
    atomic_init(&log->lines_failed, 0);
    atomic_init(&log->lines_truncated, 0);
}

void dw_log_open_fd(dw_log *log, int fd, dw_log_level level, const dw_clock *clock)
{
    DW_ASSERT(fd >= 0);
    log_init(log, fd, false, level, clock);
}

int dw_log_open(dw_log *log, const char *path, dw_log_level level, const dw_clock *clock,
                dw_diag *diag)
{
    if (path == NULL || path[0] == '\0') {
        log_init(log, STDERR_FILENO, false, level, clock);
        return DW_OK;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
        int error_number = errno;
        return dw_diag_fail(diag, dw_error_from_errno(error_number),
                            "check that the directory exists and is writable, or leave "
                            "log.file empty to log to standard error",
                            "cannot open log file '%s': %s", path, strerror(error_number));
    }
    log_init(log, fd, true, level, clock);
    return DW_OK;
}

void dw_log_close(dw_log *log)
{
    if (log == NULL) {
        return;
    }
    if (log->owns_fd && log->fd >= 0) {
        (void)close(log->fd);
    }
    log->fd = -1;
    log->owns_fd = false;
}

static const char *const level_names[] = {"trace", "debug", "info", "warn", "error"};
DW_STATIC_ASSERT(DW_ARRAY_COUNT(level_names) == DW_LOG_ERROR + 1, "a name for every level");

const char *dw_log_level_name(dw_log_level level)
{
    DW_ASSERT(level >= DW_LOG_TRACE && level <= DW_LOG_ERROR);
    return level_names[level];
}

int dw_log_level_parse(const char *text, dw_log_level *level)
{
    DW_ASSERT(text != NULL && level != NULL);
    for (size_t i = 0; i < DW_ARRAY_COUNT(level_names); i++) {
        if (strcasecmp(text, level_names[i]) == 0) {
            *level = (dw_log_level)i;
            return DW_OK;
        }
    }
    if (strcasecmp(text, "warning") == 0) {
        *level = DW_LOG_WARN;
        return DW_OK;
    }
    return DW_EINVAL;
}
