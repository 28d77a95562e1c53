/*
 * error.h — filling a dw_diag with context.
 *
 * Every function that can fail on user input takes a dw_diag (which may be NULL) and,
 * on failure, says what went wrong and what to do about it. dw_diag_fail keeps the
 * pattern to one line at the call site: `return dw_diag_fail(diag, DW_EIO, hint, fmt, ...)`.
 */
#ifndef DW_CORE_ERROR_H
#define DW_CORE_ERROR_H

#include "core/compiler.h"
#include "dwvd.h"

/* Sets diag->code to `code`, formats the message and copies the hint (NULL for none).
 * Returns `code`, so that a caller can `return dw_diag_fail(...)`. `code` must be
 * negative. A NULL diag is allowed and only the code is returned. */
int dw_diag_fail(dw_diag *diag, int code, const char *hint, const char *format, ...)
    DW_PRINTF(4, 5);

/* Maps an errno value from a failed system call on a path to a dw_error code:
 * ENOENT/ENOTDIR to DW_ENOENT, EACCES/EPERM/EROFS to DW_EPERM, the rest to DW_EIO. */
int dw_error_from_errno(int error_number);

#endif /* DW_CORE_ERROR_H */
