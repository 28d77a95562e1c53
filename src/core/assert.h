/*
 * assert.h — assertions that stay on in release builds.
 *
 * DW_ASSERT states what must hold; when it does not, the process prints where and what
 * and aborts, because continuing with a broken invariant in a storage engine is how
 * acknowledged data gets lost. It is not error handling: input from users, files and
 * devices is checked and reported through dw_error codes, never asserted.
 */
#ifndef DW_CORE_ASSERT_H
#define DW_CORE_ASSERT_H

#include "core/compiler.h"

/* Prints "dwvd: assertion failed at FILE:LINE in FUNCTION: EXPRESSION" to standard error
 * with a single write(2), which is safe even when the heap is damaged, then aborts. */
_Noreturn void dw_assert_fail(const char *expression, const char *file, int line,
                              const char *function);

/* Never compiled out: NDEBUG does not touch it. */
#define DW_ASSERT(expression)                                                             \
    (DW_LIKELY(expression) ? (void)0                                                      \
                           : dw_assert_fail(#expression, __FILE__, __LINE__, __func__))

/* A branch that the code's own logic makes impossible. */
#define DW_UNREACHABLE() dw_assert_fail("unreachable", __FILE__, __LINE__, __func__)

/* Ties constants to each other at compile time. */
#define DW_STATIC_ASSERT(expression, message) _Static_assert(expression, message)

#endif /* DW_CORE_ASSERT_H */
