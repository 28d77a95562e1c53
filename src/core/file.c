/*
 * file.c — see file.h.
 */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/error.h"

bool dw_write_all(int fd, const void *data, size_t length)
{
    const unsigned char *bytes = data;
    size_t written = 0;
    while (written < length) {
        ssize_t result = write(fd, bytes + written, length - written);
        if (result < 0 && errno == EINTR) {
            continue;
        }
        if (result < 0) {
            return false;
        }
        if (result == 0) {
            errno = EIO; /* write() made no progress: do not loop forever */
            return false;
        }
        written += (size_t)result;
    }
    return true;
}

ssize_t dw_read_full(int fd, void *data, size_t length)
{
    unsigned char *bytes = data;
    size_t done = 0;
    while (done < length) {
        ssize_t result = read(fd, bytes + done, length - done);
        if (result < 0 && errno == EINTR) {
            continue;
        }
        if (result < 0) {
            return -1;
        }
        if (result == 0) {
            break;
        }
        done += (size_t)result;
    }
    return (ssize_t)done;
}

static int fail_errno(dw_diag *diag, int error_number, const char *what, const char *path)
{
    int code = error_number == ENOSPC || error_number == EDQUOT ? DW_ENOSPC
                                                                 : dw_error_from_errno(error_number);
    return dw_diag_fail(diag, code, "check the path, its permissions and the free space",
                        "%s '%s': %s", what, path, strerror(error_number));
}

int dw_file_replace_open(dw_file_replace *replace, const char *path, dw_diag *diag)
{
    DW_ASSERT(replace != NULL && path != NULL);
    replace->fd = -1;
    size_t length = strlen(path);
    if (length == 0 || length >= sizeof replace->path) {
        return dw_diag_fail(diag, DW_EINVAL, NULL, "path '%s' is empty or longer than %zu bytes",
                            path, sizeof replace->path - 1);
    }
    memcpy(replace->path, path, length + 1);
    (void)snprintf(replace->temporary, sizeof replace->temporary, "%s.tmp.%ld", path,
                   (long)getpid());
    replace->fd = open(replace->temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (replace->fd < 0) {
        return fail_errno(diag, errno, "cannot create", replace->temporary);
    }
    return DW_OK;
}

int dw_file_replace_write(dw_file_replace *replace, const void *data, size_t length,
                          dw_diag *diag)
{
    DW_ASSERT(replace->fd >= 0);
    if (!dw_write_all(replace->fd, data, length)) {
        return fail_errno(diag, errno, "cannot write", replace->temporary);
    }
    return DW_OK;
}

void dw_file_replace_abort(dw_file_replace *replace)
{
    if (replace->fd >= 0) {
        (void)close(replace->fd);
        replace->fd = -1;
        (void)unlink(replace->temporary);
    }
}

int dw_file_replace_commit(dw_file_replace *replace, dw_diag *diag)
{
    DW_ASSERT(replace->fd >= 0);
    if (fsync(replace->fd) != 0) {
        int error_number = errno;
        dw_file_replace_abort(replace);
        return fail_errno(diag, error_number, "cannot sync", replace->temporary);
    }
    if (close(replace->fd) != 0) {
        int error_number = errno;
        replace->fd = -1;
        (void)unlink(replace->temporary);
        return fail_errno(diag, error_number, "cannot close", replace->temporary);
    }
    replace->fd = -1;
    if (rename(replace->temporary, replace->path) != 0) {
        int error_number = errno;
        (void)unlink(replace->temporary);
        return fail_errno(diag, error_number, "cannot rename the new file to", replace->path);
    }
    /* The rename is durable only once the directory is. */
    char directory[DW_FILE_PATH_MAX];
    memcpy(directory, replace->path, sizeof directory);
    int directory_fd = open(dirname(directory), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory_fd >= 0) {
        int synced = fsync(directory_fd);
        int error_number = errno;
        (void)close(directory_fd);
        if (synced != 0 && error_number != EINVAL) { /* some file systems cannot sync a directory */
            return fail_errno(diag, error_number, "cannot sync the directory of", replace->path);
        }
    }
    return DW_OK;
}
