/*
 * text.h — small string helpers shared by the config loader and the CLI.
 */
#ifndef DW_CORE_TEXT_H
#define DW_CORE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/compiler.h"

/* Formats into `buffer` like snprintf, always NUL-terminated, and returns true when the
 * whole text fit. Used wherever cutting a message to a fixed buffer is intended (a
 * diagnostic, a problem detail): it keeps those call sites short and tells the compiler
 * the truncation is deliberate. */
bool dw_format(char *buffer, size_t buffer_size, const char *format, ...)
    DW_PRINTF(3, 4);

/* Words longer than this are never considered close to anything. */
#define DW_EDIT_WORD_MAX 64

/* Levenshtein distance between `a` and `b`, case-insensitive; SIZE_MAX when either is
 * longer than DW_EDIT_WORD_MAX. */
size_t dw_edit_distance(const char *a, const char *b);

/* True when `typed` is close enough to `candidate` to suggest it as "did you mean". */
bool dw_is_close_word(const char *typed, const char *candidate);

/* Removes leading and trailing white space in place; returns the start of the result. */
char *dw_trim(char *text);

/* Parses decimal digits at *cursor and moves it past them; false when there are none or
 * the number overflows 64 bits. */
bool dw_parse_digits(const char **cursor, uint64_t *value);

/* Parses a size such as "4096", "64KiB", "16 MiB", "1G" (binary multiples only).
 * Returns DW_OK or DW_EINVAL for malformed text or a value past UINT64_MAX. */
int dw_parse_size(const char *text, uint64_t *value);

/* Formats a byte count in the largest binary unit that divides it: "64MiB", "4KiB",
 * "1000". Returns `buffer`. */
const char *dw_format_size(uint64_t bytes, char *buffer, size_t buffer_size);

/* A size for people to read, with one decimal: "512 B", "293.0 KiB", "1.5 GiB". */
const char *dw_format_size_human(uint64_t bytes, char *buffer, size_t buffer_size);

/* Parses a duration with its unit: "10ms", "250 us", "2s", "500ns" (a unit is required;
 * a bare number is ambiguous). Returns DW_OK or DW_EINVAL. */
int dw_parse_duration(const char *text, uint64_t *nanoseconds);

/* Formats ns in the largest unit that divides it: "10ms", "250us", "1500ns". */
const char *dw_format_duration(uint64_t nanoseconds, char *buffer, size_t buffer_size);

#endif /* DW_CORE_TEXT_H */
