/*
 * file.h — small, careful file helpers: whole writes and reads that survive EINTR and
 * short transfers, and replacing a file so that a crash leaves either the old file or
 * the new one, never a mix (write a temporary, fsync it, rename it over, fsync the
 * directory).
 */
#ifndef DW_CORE_FILE_H
#define DW_CORE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "dwvd.h"

/* Writes all `length` bytes. False on failure, with errno set. */
bool dw_write_all(int fd, const void *data, size_t length);

/* Reads until `length` bytes or the end of the file. Returns the bytes read, or -1 with
 * errno set. */
ssize_t dw_read_full(int fd, void *data, size_t length);

#define DW_FILE_PATH_MAX 1024

typedef struct dw_file_replace {
    int fd;
    char path[DW_FILE_PATH_MAX];
    char temporary[DW_FILE_PATH_MAX + 32];
} dw_file_replace;

/* Opens a temporary file next to `path` for the new contents. */
int dw_file_replace_open(dw_file_replace *replace, const char *path, dw_diag *diag);

/* Writes to the temporary file; DW_EIO or DW_ENOSPC naming the file on failure. */
int dw_file_replace_write(dw_file_replace *replace, const void *data, size_t length,
                          dw_diag *diag);

/* Makes the new contents durable and puts them in place of `path`. On failure the
 * temporary file is removed and `path` is left as it was. */
int dw_file_replace_commit(dw_file_replace *replace, dw_diag *diag);

/* Gives up: removes the temporary file. Safe after a failed write. */
void dw_file_replace_abort(dw_file_replace *replace);

#endif /* DW_CORE_FILE_H */
