/*
 * error.c — error codes, their names and descriptions, and the dw_diag helpers.
 *
 * The tables here are the single place an error code gets its words; tests check that
 * every code from DW_ERROR_MIN to DW_OK has both.
 */
#include "core/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/text.h"

struct error_text {
    int code;
    const char *name;
    const char *description;
};

static const struct error_text error_texts[] = {
    {DW_OK, "DW_OK", "success"},
    {DW_EINVAL, "DW_EINVAL", "invalid argument"},
    {DW_ECONFIG, "DW_ECONFIG", "invalid configuration"},
    {DW_EIO, "DW_EIO", "I/O error"},
    {DW_ENOENT, "DW_ENOENT", "no such file or object"},
    {DW_EPERM, "DW_EPERM", "permission denied"},
    {DW_ENOMEM_BUDGET, "DW_ENOMEM_BUDGET", "memory ceiling would be exceeded"},
    {DW_ENOMEM, "DW_ENOMEM", "out of memory"},
    {DW_EBUSY, "DW_EBUSY", "resource busy or exhausted"},
    {DW_ENOSPC, "DW_ENOSPC", "no space left on device"},
    {DW_ECORRUPT, "DW_ECORRUPT", "data corrupted"},
    {DW_EDEADLINE, "DW_EDEADLINE", "deadline missed"},
    {DW_ECANCELED, "DW_ECANCELED", "operation cancelled"},
    {DW_ENOTVDE, "DW_ENOTVDE", "not a DWVD file"},
    {DW_EVERSION, "DW_EVERSION", "unsupported format version or feature"},
    {DW_ETRUNCATED, "DW_ETRUNCATED", "file truncated"},
    {DW_EEXIST, "DW_EEXIST", "already exists"},
};

DW_STATIC_ASSERT(DW_ARRAY_COUNT(error_texts) == (size_t)(-DW_ERROR_MIN) + 1,
                 "every error code from DW_ERROR_MIN to DW_OK needs a name and a description");

static const struct error_text *error_text_find(int err)
{
    if (err > 0 || err < DW_ERROR_MIN) {
        return NULL;
    }
    const struct error_text *text = &error_texts[-err];
    DW_ASSERT(text->code == err);
    return text;
}

DW_API const char *dw_strerror(int err)
{
    const struct error_text *text = error_text_find(err);
    return text != NULL ? text->description : "unknown error";
}

DW_API const char *dw_error_name(int err)
{
    const struct error_text *text = error_text_find(err);
    return text != NULL ? text->name : "DW_EUNKNOWN";
}

DW_API void dw_diag_clear(dw_diag *diag)
{
    if (diag == NULL) {
        return;
    }
    diag->code = DW_OK;
    diag->message[0] = '\0';
    diag->hint[0] = '\0';
}

int dw_diag_fail(dw_diag *diag, int code, const char *hint, const char *format, ...)
{
    DW_ASSERT(code < 0);
    if (diag == NULL) {
        return code;
    }
    diag->code = code;
    va_list arguments;
    va_start(arguments, format);
    (void)vsnprintf(diag->message, sizeof diag->message, format, arguments);
    va_end(arguments);
    dw_format(diag->hint, sizeof diag->hint, "%s", hint != NULL ? hint : "");
    return code;
}

int dw_error_from_errno(int error_number)
{
    switch (error_number) {
    case ENOENT:
    case ENOTDIR:
        return DW_ENOENT;
    case EACCES:
    case EPERM:
    case EROFS:
        return DW_EPERM;
    default:
        return DW_EIO;
    }
}
