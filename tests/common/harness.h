/*
 * harness.h — helpers shared by the cmocka tests, unit and system: temporary directories
 * and files, death tests (run a function in a child and see how it ended), a strict JSON
 * validator, and the scale and seed of randomised tests (larger under `make test-long`).
 */
#ifndef DW_TEST_HARNESS_H
#define DW_TEST_HARNESS_H

/* cmocka needs these before its own header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>

/* True in AddressSanitizer and ThreadSanitizer builds, whose runtimes replace some
 * system calls (mlock becomes a no-op that succeeds). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DW_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DW_TEST_SANITIZED 1
#endif
#endif
#ifndef DW_TEST_SANITIZED
#define DW_TEST_SANITIZED 0
#endif

typedef struct dw_test_dir {
    char path[256];
} dw_test_dir;

/* Creates a fresh directory under $TMPDIR (or /tmp). */
void dw_test_dir_create(dw_test_dir *dir);
/* Removes it and everything in it. */
void dw_test_dir_remove(dw_test_dir *dir);
/* dir/name into `out`. */
const char *dw_test_path(const dw_test_dir *dir, const char *name, char *out, size_t size);

void dw_test_write_file(const char *path, const char *text);
/* Reads a whole file into `buffer` (NUL-terminated); returns its length. */
size_t dw_test_read_file(const char *path, char *buffer, size_t size);
/* Reads what was written to a tmpfile() stream so far. */
size_t dw_test_read_stream(FILE *stream, char *buffer, size_t size);

/* Runs function(argument) in a child process with its standard error captured into
 * `error_text`. Returns the signal that ended the child, or 0 if it exited normally. */
int dw_test_death(void (*function)(void *argument), void *argument, char *error_text,
                  size_t error_size);

/* True if `text` (length bytes) is exactly one JSON value with nothing after it but
 * white space. Strict: no trailing commas, valid escapes, valid UTF-8, no control
 * characters in strings. */
bool dw_test_json_valid(const char *text, size_t length);

/* aligned_alloc with the size rounded up to a multiple of the alignment, as C11 asks
 * (and AddressSanitizer enforces). Never NULL: a failure fails the test. */
void *dw_test_aligned_alloc(size_t alignment, size_t size);

/* 1 for `make test`; DW_TEST_SCALE (e.g. 100) for `make test-long`. */
uint64_t dw_test_scale(void);

/* The seed of randomised tests: DW_TEST_SEED if set, else a fixed default, so that a
 * failure reproduces; the test prints the seed it used. */
uint64_t dw_test_seed(void);

/* xorshift64*: a tiny deterministic generator for tests. */
static inline uint64_t dw_test_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(2685821657736338717);
}

#endif /* DW_TEST_HARNESS_H */
