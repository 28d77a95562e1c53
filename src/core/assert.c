/*
 * assert.c — the failure path of DW_ASSERT.
 *
 * It must never allocate or take a lock: it runs when the process is already in a state
 * that was supposed to be impossible, possibly with a corrupted heap. It formats into a
 * stack buffer and writes once.
 */
#include "core/assert.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

_Noreturn void dw_assert_fail(const char *expression, const char *file, int line,
                              const char *function)
{
    char text[1024];
    int length = snprintf(text, sizeof text, "dwvd: assertion failed at %s:%d in %s: %s\n",
                          file, line, function, expression);
    if (length < 0) {
        length = 0;
    }
    if ((size_t)length >= sizeof text) {
        length = (int)sizeof text - 1;
        text[length - 1] = '\n';
    }
    size_t written = 0;
    while (written < (size_t)length) {
        ssize_t result = write(STDERR_FILENO, text + written, (size_t)length - written);
        if (result < 0 && errno == EINTR) {
            continue;
        }
        if (result <= 0) {
            break;
        }
        written += (size_t)result;
    }
    abort();
}
