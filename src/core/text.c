/*
 * text.c — edit distance for "did you mean" hints, and trimming.
 *
 * The distance uses two rows on the stack, bounded by DW_EDIT_WORD_MAX, so it never
 * allocates and its cost is bounded whatever the input.
 */
#include "core/text.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "core/assert.h"
#include "dwvd.h"

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define TIB (UINT64_C(1) << 40)

bool dw_format(char *buffer, size_t buffer_size, const char *format, ...)
{
    DW_ASSERT(buffer != NULL && buffer_size > 0);
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(buffer, buffer_size, format, arguments);
    va_end(arguments);
    if (length < 0) {
        buffer[0] = '\0';
        return false;
    }
    return (size_t)length < buffer_size;
}

size_t dw_edit_distance(const char *a, const char *b)
{
    DW_ASSERT(a != NULL && b != NULL);
    size_t a_length = strlen(a);
    size_t b_length = strlen(b);
    if (a_length > DW_EDIT_WORD_MAX || b_length > DW_EDIT_WORD_MAX) {
        return SIZE_MAX;
    }
    size_t previous[DW_EDIT_WORD_MAX + 1];
    size_t current[DW_EDIT_WORD_MAX + 1];
    for (size_t j = 0; j <= b_length; j++) {
        previous[j] = j;
    }
    for (size_t i = 1; i <= a_length; i++) {
        current[0] = i;
        for (size_t j = 1; j <= b_length; j++) {
            int same = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]);
            size_t substitute = previous[j - 1] + (same ? 0 : 1);
            size_t delete = previous[j] + 1;
            size_t insert = current[j - 1] + 1;
            size_t best = substitute < delete ? substitute : delete;
            current[j] = best < insert ? best : insert;
        }
        memcpy(previous, current, (b_length + 1) * sizeof previous[0]);
    }
    return previous[b_length];
}

bool dw_is_close_word(const char *typed, const char *candidate)
{
    size_t distance = dw_edit_distance(typed, candidate);
    size_t length = strlen(typed);
    /* One edit for short words, up to a third of the word for longer ones. */
    size_t allowed = length < 6 ? 1 : length / 3;
    return distance != 0 && distance <= allowed;
}

char *dw_trim(char *text)
{
    DW_ASSERT(text != NULL);
    while (*text != '\0' && isspace((unsigned char)*text)) {
        text++;
    }
    size_t length = strlen(text);
    while (length > 0 && isspace((unsigned char)text[length - 1])) {
        text[--length] = '\0';
    }
    return text;
}

bool dw_parse_digits(const char **cursor, uint64_t *value)
{
    const char *text = *cursor;
    uint64_t result = 0;
    if (*text < '0' || *text > '9') {
        return false;
    }
    while (*text >= '0' && *text <= '9') {
        uint64_t digit = (uint64_t)(*text - '0');
        if (result > (UINT64_MAX - digit) / 10) {
            return false;
        }
        result = result * 10 + digit;
        text++;
    }
    *cursor = text;
    *value = result;
    return true;
}

typedef struct unit {
    const char *name;
    uint64_t multiplier;
} unit;

/* "<digits>[ ]<unit>" where the unit is one of `units` (case-insensitive); the product
 * must fit in 64 bits. */
static int parse_with_unit(const char *text, const unit *units, size_t unit_count, uint64_t *value)
{
    DW_ASSERT(text != NULL && value != NULL);
    const char *cursor = text;
    uint64_t number = 0;
    if (!dw_parse_digits(&cursor, &number)) {
        return DW_EINVAL;
    }
    while (*cursor == ' ') {
        cursor++;
    }
    for (size_t i = 0; i < unit_count; i++) {
        if (strcasecmp(cursor, units[i].name) == 0) {
            if (number > UINT64_MAX / units[i].multiplier) {
                return DW_EINVAL;
            }
            *value = number * units[i].multiplier;
            return DW_OK;
        }
    }
    return DW_EINVAL;
}

int dw_parse_size(const char *text, uint64_t *value)
{
    static const unit suffixes[] = {
        {"", 1},     {"b", 1},     {"k", KIB}, {"kib", KIB}, {"m", MIB},
        {"mib", MIB}, {"g", GIB},  {"gib", GIB}, {"t", TIB},  {"tib", TIB},
    };
    return parse_with_unit(text, suffixes, DW_ARRAY_COUNT(suffixes), value);
}

const char *dw_format_size(uint64_t bytes, char *buffer, size_t buffer_size)
{
    static const struct {
        const char *suffix;
        uint64_t multiplier;
    } units[] = {{"TiB", TIB}, {"GiB", GIB}, {"MiB", MIB}, {"KiB", KIB}};
    for (size_t i = 0; i < DW_ARRAY_COUNT(units); i++) {
        if (bytes >= units[i].multiplier && bytes % units[i].multiplier == 0) {
            dw_format(buffer, buffer_size, "%llu%s",
                           (unsigned long long)(bytes / units[i].multiplier), units[i].suffix);
            return buffer;
        }
    }
    dw_format(buffer, buffer_size, "%llu", (unsigned long long)bytes);
    return buffer;
}


const char *dw_format_size_human(uint64_t bytes, char *buffer, size_t buffer_size)
{
    static const char *const suffixes[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < KIB) {
        dw_format(buffer, buffer_size, "%llu B", (unsigned long long)bytes);
        return buffer;
    }
    uint64_t divisor = KIB;
    size_t index = 0;
    while (index + 1 < DW_ARRAY_COUNT(suffixes) && bytes >= divisor * 1024) {
        divisor *= 1024;
        index++;
    }
    /* Tenths, rounded to nearest. */
    uint64_t tenths = (bytes * 10 + divisor / 2) / divisor;
    dw_format(buffer, buffer_size, "%llu.%llu %s", (unsigned long long)(tenths / 10),
              (unsigned long long)(tenths % 10), suffixes[index]);
    return buffer;
}

/* Largest first, for formatting; a unit is required when parsing. */
static const unit duration_units[] = {
    {"s", UINT64_C(1000000000)}, {"ms", UINT64_C(1000000)}, {"us", UINT64_C(1000)}, {"ns", 1}};

int dw_parse_duration(const char *text, uint64_t *nanoseconds)
{
    return parse_with_unit(text, duration_units, DW_ARRAY_COUNT(duration_units), nanoseconds);
}

const char *dw_format_duration(uint64_t nanoseconds, char *buffer, size_t buffer_size)
{
    for (size_t i = 0; i < DW_ARRAY_COUNT(duration_units); i++) {
        uint64_t size = duration_units[i].multiplier;
        if (nanoseconds >= size && nanoseconds % size == 0) {
            dw_format(buffer, buffer_size, "%llu%s", (unsigned long long)(nanoseconds / size),
                      duration_units[i].name);
            return buffer;
        }
    }
    dw_format(buffer, buffer_size, "0ns");
    return buffer;
}
