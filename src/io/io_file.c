/*
 * io_file.c — opening a data file: create it, ask for O_DIRECT (and say why not when the
 * file system refuses), take the exclusive lock (and name the process holding it), and
 * give it its size, allocated or sparse.
 *
 * O_DIRECT matters because after a failed fsync the page cache may hold data the disk
 * never got; with O_DIRECT there is no such cache to lie.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/text.h"
#include "io/io_internal.h"

static const char *file_system_name(int fd, char *text, size_t text_size)
{
    struct statfs status;
    if (fstatfs(fd, &status) != 0) {
        return "an unknown file system";
    }
    switch ((unsigned long)status.f_type) {
    case TMPFS_MAGIC:
        return "tmpfs";
    case RAMFS_MAGIC:
        return "ramfs";
    case OVERLAYFS_SUPER_MAGIC:
        return "overlayfs";
    case NFS_SUPER_MAGIC:
        return "nfs";
    case FUSE_SUPER_MAGIC:
        return "fuse";
    case EXT4_SUPER_MAGIC:
        return "ext4";
    case XFS_SUPER_MAGIC:
        return "xfs";
    case BTRFS_SUPER_MAGIC:
        return "btrfs";
    default:
        dw_format(text, text_size, "file system 0x%lx", (unsigned long)status.f_type);
        return text;
    }
}

/* The pid holding a flock on the file, from /proc/locks, or 0 when it cannot be told.
 * Read with a fixed buffer and sscanf: no allocation, and only at open. */
static long lock_holder(int fd)
{
    struct stat status;
    if (fstat(fd, &status) != 0) {
        return 0;
    }
    FILE *locks = fopen("/proc/locks", "re");
    if (locks == NULL) {
        return 0;
    }
    char line[256];
    long holder = 0;
    while (holder == 0 && fgets(line, sizeof line, locks) != NULL) {
        /* "1: FLOCK  ADVISORY  WRITE 12345 fd:01:1234567 0 EOF": fields 2, 5 and 6. */
        char *saved = NULL;
        char *fields[6] = {NULL};
        char *field = strtok_r(line, " \t", &saved);
        for (int i = 0; i < 6 && field != NULL; i++, field = strtok_r(NULL, " \t", &saved)) {
            fields[i] = field;
        }
        if (fields[5] == NULL || strcmp(fields[1], "FLOCK") != 0) {
            continue;
        }
        char *end = NULL;
        long pid = strtol(fields[4], &end, 10);
        unsigned long major_number = strtoul(fields[5], &end, 16);
        unsigned long minor_number = *end == ':' ? strtoul(end + 1, &end, 16) : ULONG_MAX;
        unsigned long inode = *end == ':' ? strtoul(end + 1, &end, 10) : 0;
        if (major_number == major(status.st_dev) && minor_number == minor(status.st_dev) &&
            inode == status.st_ino) {
            holder = pid;
        }
    }
    (void)fclose(locks);
    return holder;
}

static int open_descriptor(dw_io *io, const dw_io_options *options, dw_diag *diag)
{
    int flags = O_RDWR | O_CLOEXEC | (options->create ? O_CREAT : 0);
    if (options->direct) {
        io->fd = -1;
        errno = options->direct_open_errno;
        if (options->direct_open_errno == 0) {
            io->fd = open(io->path, flags | O_DIRECT, 0640);
        }
        if (io->fd >= 0) {
            io->direct = true;
            dw_format(io->direct_reason, sizeof io->direct_reason, "io.direct = true");
            return DW_OK;
        }
        if (errno != EINVAL) {
            int error_number = errno;
            return dw_diag_fail(diag, dw_error_from_errno(error_number),
                                "check the path and its permissions",
                                "cannot open data file '%s': %s", io->path, strerror(error_number));
        }
    }
    io->fd = open(io->path, flags, 0640);
    if (io->fd < 0) {
        int error_number = errno;
        return dw_diag_fail(diag, dw_error_from_errno(error_number),
                            "check the path and its permissions",
                            "cannot open data file '%s': %s", io->path, strerror(error_number));
    }
    if (options->direct) {
        char name[48];
        dw_format(io->direct_reason, sizeof io->direct_reason,
                  "%s refuses O_DIRECT (EINVAL)%s; using the page cache",
                  file_system_name(io->fd, name, sizeof name),
                  options->direct_open_errno != 0 ? " [injected by a test]" : "");
        DW_LOG(io->log, DW_LOG_WARN, "io", "O_DIRECT refused, using buffered I/O",
               DW_LOG_STRING("file", io->path), DW_LOG_STRING("reason", io->direct_reason));
    } else {
        dw_format(io->direct_reason, sizeof io->direct_reason, "io.direct = false");
    }
    return DW_OK;
}

/* How long open waits for the lock of a process that has exited. A process killed while
 * its io_uring had requests in flight keeps its files (and so its flock) until the
 * kernel's deferred ring teardown has finished those requests, which takes milliseconds
 * after the process is gone: a recorder restarted at once must not be refused for that. */
#define LOCK_OF_EXITED_WAIT_NS (2ull * 1000 * 1000 * 1000)
#define LOCK_RETRY_NS (2ull * 1000 * 1000)

static int take_lock(dw_io *io, dw_diag *diag)
{
    uint64_t waited_ns = 0;
    long holder = 0;
    uint32_t unseen_holder = 0;
    for (;;) {
        if (flock(io->fd, LOCK_EX | LOCK_NB) == 0) {
            if (waited_ns > 0) {
                DW_LOG(io->log, DW_LOG_INFO, "io", "took the lock of an exited process",
                       DW_LOG_STRING("file", io->path), DW_LOG_INT("pid", holder),
                       DW_LOG_UINT("waited_ms", waited_ns / 1000000));
            }
            return DW_OK;
        }
        int error_number = errno;
        if (error_number != EWOULDBLOCK) {
            return dw_diag_fail(diag, DW_EIO, "check that the file system supports flock",
                                "cannot lock data file '%s': %s", io->path, strerror(error_number));
        }
        holder = lock_holder(io->fd);
        /* No holder in /proc/locks: the lock went between the two looks (or /proc says
         * nothing), so try again, a few times. */
        bool exited = holder > 0 && kill((pid_t)holder, 0) != 0 && errno == ESRCH;
        if (holder == 0 && unseen_holder < 3) {
            unseen_holder++;
            continue;
        }
        if (!exited || waited_ns >= LOCK_OF_EXITED_WAIT_NS) {
            break;
        }
        struct timespec pause = {0, (long)LOCK_RETRY_NS};
        (void)nanosleep(&pause, NULL);
        waited_ns += LOCK_RETRY_NS;
    }
    if (holder > 0 && waited_ns > 0) {
        return dw_diag_fail(diag, DW_EBUSY,
                            "look for a process that inherited the file from it (a fork without exec)",
                            "data file '%s' is still locked %llu ms after its holder, pid %ld, exited",
                            io->path, (unsigned long long)(waited_ns / 1000000), holder);
    }
    if (holder > 0) {
        return dw_diag_fail(diag, DW_EBUSY,
                            "stop that process, or wait for it to close the file",
                            "data file '%s' is in use by pid %ld", io->path, holder);
    }
    return dw_diag_fail(diag, DW_EBUSY, "stop the process that has it open",
                        "data file '%s' is in use by another process", io->path);
}

static int give_size(dw_io *io, const dw_io_options *options, dw_diag *diag)
{
    struct stat status;
    if (fstat(io->fd, &status) != 0) {
        int error_number = errno;
        return dw_diag_fail(diag, DW_EIO, NULL, "cannot read the size of '%s': %s", io->path,
                            strerror(error_number));
    }
    uint64_t size = (uint64_t)status.st_size;
    if (options->size_bytes > size) {
        int result = -1;
        if (!options->sparse) {
            result = fallocate(io->fd, 0, 0, (off_t)options->size_bytes);
            if (result != 0 && errno == ENOSPC) {
                char wanted[32];
                return dw_diag_fail(diag, DW_ENOSPC, "free space on the file system or ask for less",
                                    "cannot allocate %s for '%s': no space left on the device",
                                    dw_format_size(options->size_bytes, wanted, sizeof wanted),
                                    io->path);
            }
        }
        if (result != 0) {
            /* Sparse by request, or the file system cannot preallocate: a hole. */
            if (ftruncate(io->fd, (off_t)options->size_bytes) != 0) {
                int error_number = errno;
                return dw_diag_fail(diag, dw_error_from_errno(error_number), NULL,
                                    "cannot size '%s' to %llu bytes: %s", io->path,
                                    (unsigned long long)options->size_bytes, strerror(error_number));
            }
        }
        size = options->size_bytes;
    }
    io->size_bytes = size / io->block_size * io->block_size;
    return DW_OK;
}

int dw_io_file_open(dw_io *io, const dw_io_options *options, dw_diag *diag)
{
    int result = open_descriptor(io, options, diag);
    if (result == DW_OK) {
        result = take_lock(io, diag);
    }
    if (result == DW_OK) {
        result = give_size(io, options, diag);
    }
    if (result != DW_OK) {
        dw_io_file_close(io);
    }
    return result;
}

void dw_io_file_close(dw_io *io)
{
    if (io->fd >= 0) {
        /* Released explicitly: close alone releases it only when the last reference to
         * the open file goes, and the kernel may hold one a while longer (io_uring). */
        (void)flock(io->fd, LOCK_UN);
        (void)close(io->fd);
        io->fd = -1;
    }
}
