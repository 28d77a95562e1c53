/*
 * dwvd.h — the one public header of dwvd, an embeddable storage engine with bounded
 * memory, bounded latency and deterministic output.
 *
 * Everything a user calls is declared here with the dw_ prefix; everything else stays
 * inside the library. Calls that can fail return 0 or a negative dw_error code, and those
 * that can fail on user input also fill a dw_diag with a message that names the file, the
 * key, the block or the limit involved and says what to do about it.
 *
 * This header must never expose an internal struct layout a user does not fill in
 * themselves: the handles that later issues add are opaque.
 */
#ifndef DWVD_H
#define DWVD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define DW_API __attribute__((visibility("default")))
#else
#define DW_API
#endif

/* ------------------------------------------------------------------------------------
 * Version
 * ---------------------------------------------------------------------------------- */

#define DW_VERSION_MAJOR 0
#define DW_VERSION_MINOR 1
#define DW_VERSION_PATCH 0
#define DW_VERSION_STRING "0.1.0"
/* One comparable number: 0.1.0 is 100, 1.2.3 is 10203. */
#define DW_VERSION_NUMBER (DW_VERSION_MAJOR * 10000 + DW_VERSION_MINOR * 100 + DW_VERSION_PATCH)

/* The version of the library actually linked, as "MAJOR.MINOR.PATCH". Compare it with
 * DW_VERSION_STRING to catch a header/library mismatch. */
DW_API const char *dw_version(void);

/* ------------------------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------------------- */

/* Every call that can fail returns DW_OK or one of these negative codes. */
enum dw_error {
    DW_OK = 0,
    DW_EINVAL = -1,         /* an argument is invalid (NULL, out of range, malformed) */
    DW_ECONFIG = -2,        /* the configuration has problems; see the problem list */
    DW_EIO = -3,            /* the device or file system reported an I/O error */
    DW_ENOENT = -4,         /* a file or object does not exist */
    DW_EPERM = -5,          /* the operating system denied access */
    DW_ENOMEM_BUDGET = -6,  /* a reservation would exceed the declared memory ceiling */
    DW_ENOMEM = -7,         /* the operating system refused memory (only while opening) */
    DW_EBUSY = -8,          /* a bounded resource is exhausted now; retry later */
    DW_ENOSPC = -9,         /* the device or file system is full */
    DW_ECORRUPT = -10,      /* data failed a checksum or structural check */
    DW_EDEADLINE = -11,     /* the operation missed its deadline (miss action "fail") */
    DW_ECANCELED = -12,     /* the operation was cancelled before it ran (shutdown) */
    DW_ENOTVDE = -13,       /* the file is not a DWVD VDE (no magic in either superblock copy) */
    DW_EVERSION = -14,      /* the VDE needs a newer dwvd: format version or feature flags */
    DW_ETRUNCATED = -15,    /* the file is shorter than the VDE it holds */
    DW_EEXIST = -16,        /* the file or object exists already */
};

/* The lowest (most negative) code defined above; codes below it are unknown. */
#define DW_ERROR_MIN DW_EEXIST

/* A short, stable description of an error code ("I/O error"). Never NULL; an unknown
 * code gives "unknown error". */
DW_API const char *dw_strerror(int err);

/* The enumerator's name as a string ("DW_EIO"), for logs and JSON. Never NULL. */
DW_API const char *dw_error_name(int err);

/* ------------------------------------------------------------------------------------
 * Diagnostics: the human side of an error
 * ---------------------------------------------------------------------------------- */

#define DW_DIAG_MESSAGE_MAX 512
#define DW_DIAG_HINT_MAX 256

/* Filled by every call that can fail on user input. `message` says what went wrong with
 * its context (file, line, key, block, limit); `hint` says what to do about it and may be
 * empty. A caller may pass NULL where it does not want the text. */
typedef struct dw_diag {
    int code;
    char message[DW_DIAG_MESSAGE_MAX];
    char hint[DW_DIAG_HINT_MAX];
} dw_diag;

/* Resets a diag to DW_OK with empty texts. */
DW_API void dw_diag_clear(dw_diag *diag);

/* ------------------------------------------------------------------------------------
 * Configuration: every limit the engine may use, declared before it opens anything
 * ---------------------------------------------------------------------------------- */

typedef enum dw_log_level {
    DW_LOG_TRACE = 0,
    DW_LOG_DEBUG = 1,
    DW_LOG_INFO = 2,
    DW_LOG_WARN = 3,
    DW_LOG_ERROR = 4,
} dw_log_level;

/* Which I/O backend serves a VDE (io.backend). */
typedef enum dw_io_backend {
    DW_IO_BACKEND_AUTO = 0,     /* io_uring when the kernel allows it, else psync */
    DW_IO_BACKEND_IO_URING = 1,
    DW_IO_BACKEND_PSYNC = 2,    /* pread/pwrite/fdatasync, any POSIX system */
    DW_IO_BACKEND_SIM = 3,      /* the in-memory simulated disk, for tests */
} dw_io_backend;

/* How the scheduler orders waiting I/O (sched.policy). */
typedef enum dw_sched_policy {
    DW_SCHED_EDF = 0,           /* earliest deadline first, then priority, then arrival */
    DW_SCHED_FIFO = 1,          /* arrival order, kept for comparison */
} dw_sched_policy;

/* What a missed deadline or an overrun budget does (sched.miss_action). */
typedef enum dw_miss_action {
    DW_MISS_LOG = 0,            /* log it and carry on */
    DW_MISS_FAIL = 1,           /* the caller gets DW_EDEADLINE; waiting work is cancelled */
    DW_MISS_CIRCUIT_BREAK = 2,  /* after N misses in a window, refuse best-effort work */
} dw_miss_action;

/* A request already late when submitted (sched.late_submission). */
typedef enum dw_late_action {
    DW_LATE_RUN = 0,            /* run it at once: it is the earliest deadline there is */
    DW_LATE_REFUSE = 1,         /* refuse it with DW_EDEADLINE */
} dw_late_action;

/* When a commit is durable (vde.durability). */
typedef enum dw_durability {
    DW_DURABILITY_STRICT = 0,   /* on stable storage before the call returns */
    DW_DURABILITY_GROUP = 1,    /* commits batched; durable within vde.group_delay */
} dw_durability;

#define DW_CONFIG_PATH_MAX 1024

/* Units go last in names: *_bytes, *_count, *_max. The defaults are those of
 * dw_config_defaults() and are listed, with their ranges, in docs/CONFIG.md. */
typedef struct dw_config {
    /* [vde] */
    uint32_t block_size;            /* bytes; a power of two, 512 .. 65536 (create) */
    dw_durability durability;
    uint64_t group_delay_ns;        /* group: the longest a commit waits to be durable */
    uint64_t op_deadline_ns;        /* the deadline of an operation that names none */
    bool deterministic;             /* logical clock, no host identity: same operations, same file */
    uint64_t wal_bytes;             /* create: the write-ahead log */
    uint64_t group_bytes;           /* create: one allocation group */
    uint64_t inode_ratio_bytes;     /* create: bytes of VDE per inode */

    /* [memory] */
    uint64_t memory_ceiling_bytes;  /* every byte the engine may take, all components */
    uint32_t buffer_count;          /* I/O buffers of block_size bytes in the fixed pool */
    uint32_t cache_pages;           /* metadata pages; 0 (the default) = what memory.ceiling leaves */
    uint32_t pressure_percent;      /* share of the ceiling at which shrink callbacks run */
    bool memory_lock;               /* mlock the arena so it is never paged out */

    /* [io] */
    uint32_t queue_depth;           /* I/Os in flight at once */
    dw_io_backend io_backend;
    bool io_direct;                 /* O_DIRECT where the file system allows it */
    bool io_sqpoll;                 /* an io_uring kernel thread polls the submission queue */

    /* [limits] */
    uint32_t key_length_max;        /* bytes */
    uint64_t value_size_max;        /* bytes */
    uint32_t iterators_max;         /* open iterators at once */
    uint32_t writers_max;           /* streaming writers open at once (slots taken at open) */
    uint64_t transaction_size_max;  /* bytes written by one transaction */

    /* [sched] */
    uint32_t worker_cores;          /* 0 = the online cores, rounded down to a power of two */
    dw_sched_policy sched_policy;
    uint32_t request_slots;         /* I/O requests waiting or in flight at once */
    dw_miss_action miss_action;
    dw_late_action late_submission;
    uint32_t circuit_misses;        /* misses within circuit_window that open the circuit */
    uint64_t circuit_window_ns;
    uint64_t circuit_latency_ns;    /* latency under which the circuit closes again */
    uint64_t wcet_read_ns;          /* budgets: one block read */
    uint64_t wcet_write_ns;         /* one block written */
    uint64_t wcet_batch_ns;         /* a batch of blocks, read or written */
    uint64_t wcet_flush_ns;         /* a data sync */
    bool io_realtime;               /* the I/O thread asks for SCHED_FIFO */
    uint32_t io_cpu;                /* the CPU the I/O thread is pinned to; UINT32_MAX = none */

    /* [log] */
    dw_log_level log_level;
    char log_file[DW_CONFIG_PATH_MAX]; /* empty = standard error */
} dw_config;

/* What kind of mistake a configuration problem is. */
typedef enum dw_config_problem_kind {
    DW_CONFIG_SYNTAX = 0,           /* the line is not `key = value`, `[section]` or a comment */
    DW_CONFIG_UNKNOWN_KEY = 1,      /* no such section or key */
    DW_CONFIG_WRONG_TYPE = 2,       /* the value is not of the key's type */
    DW_CONFIG_OUT_OF_RANGE = 3,     /* the value is of the right type but outside its range */
    DW_CONFIG_INCONSISTENT = 4,     /* valid alone, impossible together with another key */
    DW_CONFIG_MISSING_PATH = 5,     /* a file or directory the value names does not exist */
    DW_CONFIG_DUPLICATE = 6,        /* the key is set twice in the same source */
} dw_config_problem_kind;

#define DW_CONFIG_PROBLEMS_MAX 32
#define DW_CONFIG_SOURCE_MAX 256
#define DW_CONFIG_KEY_MAX 64
#define DW_CONFIG_VALUE_MAX 128
#define DW_CONFIG_DETAIL_MAX 256

/* One mistake, with where it is (source and line; line 0 for the command line or the
 * environment), the key as `section.key`, the value as written, and what is allowed. */
typedef struct dw_config_problem {
    dw_config_problem_kind kind;
    uint32_t line;
    char source[DW_CONFIG_SOURCE_MAX];
    char key[DW_CONFIG_KEY_MAX];
    char value[DW_CONFIG_VALUE_MAX];
    char detail[DW_CONFIG_DETAIL_MAX];
} dw_config_problem;

/* Where each key's value came from, so that `dw config show` and the problems that
 * involve two keys can say it. Internal bookkeeping; read it through the functions. */
#define DW_CONFIG_KEYS_MAX 64
#define DW_CONFIG_SOURCES_MAX 8

typedef struct dw_config_origin {
    uint8_t source_index;           /* 0 = default, else index + 1 into sources */
    uint32_t line;
} dw_config_origin;

/* Everything found while loading and validating, in one pass: a caller sees all the
 * problems at once, not the first one. Holds up to DW_CONFIG_PROBLEMS_MAX problems;
 * `problem_count` counts all of them, including any that did not fit. */
typedef struct dw_config_report {
    uint32_t problem_count;
    dw_config_problem problems[DW_CONFIG_PROBLEMS_MAX];
    uint32_t source_count;
    char sources[DW_CONFIG_SOURCES_MAX][DW_CONFIG_SOURCE_MAX];
    dw_config_origin origins[DW_CONFIG_KEYS_MAX];
} dw_config_report;

/* Fills every field with its documented default and clears the report's origins. */
DW_API void dw_config_defaults(dw_config *config);
DW_API void dw_config_report_init(dw_config_report *report);

/* Reads an INI file and applies each key it sets. Returns DW_OK, DW_ECONFIG when the
 * file had problems (all of them are in the report), or DW_ENOENT / DW_EPERM / DW_EIO
 * when the file cannot be read (then diag says which and why). Keys without problems are
 * applied even when others have problems, so that later checks see as much as possible. */
DW_API int dw_config_load_file(dw_config *config, const char *path, dw_config_report *report,
                               dw_diag *diag);

/* Applies one `section.key=value` assignment, as given on a command line; `source` names
 * where it came from in messages ("command line", "environment DW_LOG_LEVEL"). */
DW_API int dw_config_set(dw_config *config, const char *assignment, const char *source,
                         dw_config_report *report);

/* Checks the combinations of keys and the paths they name; appends what is wrong to the
 * report. Returns DW_OK or DW_ECONFIG. */
DW_API int dw_config_validate(const dw_config *config, dw_config_report *report);

/* Formats problem `index` of the report as one line, `file:line: key = value: detail`,
 * into `buffer`. Returns the length it wanted (as snprintf). */
DW_API int dw_config_problem_format(const dw_config_report *report, uint32_t index,
                                    char *buffer, size_t buffer_size);

/* The name of a problem kind ("out of range"). */
DW_API const char *dw_config_problem_kind_name(dw_config_problem_kind kind);

/* The fewest pages an automatic cache (memory.cache_pages = 0) is given. */
#define DW_CACHE_PAGES_AUTO_MIN 256

/* Bytes of memory the configuration needs at least for its fixed pools, so that a
 * ceiling below it can be refused before anything is opened. */
DW_API uint64_t dw_config_memory_floor_bytes(const dw_config *config);

/* ------------------------------------------------------------------------------------
 * The object store: one VDE file of named objects
 *
 * A dw_vde may be shared by threads. It runs one call at a time; callers that wait for
 * it are admitted earliest deadline first, then by priority, then in arrival order, so a
 * critical call waits for at most the one call already running (calls are not
 * preempted). A transaction, a streaming writer or an iterator belongs to the thread
 * that opened it. Every call that does I/O takes an optional dw_op: the deadline its
 * admission and its I/O carry through the scheduler, and its priority (NULL: the
 * configuration's vde.op_deadline, normal priority). Keys are 1 to limits.key_length_max
 * bytes, compared bytewise; values up to limits.value_size_max bytes.
 * ---------------------------------------------------------------------------------- */

typedef struct dw_vde dw_vde;
typedef struct dw_txn dw_txn;
typedef struct dw_writer dw_writer;
typedef struct dw_iter dw_iter;

typedef enum dw_op_priority {
    DW_OP_CRITICAL = 0,
    DW_OP_HIGH = 1,
    DW_OP_NORMAL = 2,
    DW_OP_BEST_EFFORT = 3,
} dw_op_priority;

typedef struct dw_op {
    uint64_t deadline_ns;           /* from the call, for all its I/O; 0 = vde.op_deadline */
    dw_op_priority priority;
} dw_op;

/* What `dw vde create` builds: which modules, and the block size they suit. */
typedef enum dw_profile {
    DW_PROFILE_STANDARD = 0,        /* WAL, groups, inodes, index, tags; 4 KiB blocks */
    DW_PROFILE_MINIMAL = 1,         /* the same without tags: smaller inodes */
    DW_PROFILE_EDGE = 2,            /* standard on 512-byte blocks for small devices */
} dw_profile;

typedef struct dw_create_options {
    uint64_t size_bytes;            /* the VDE's size; the file is sparse (thin provisioned) */
    uint32_t block_size;            /* 0: the profile's (edge 512, else vde.block_size) */
    dw_profile profile;
    uint64_t inode_count;           /* 0: size / vde.inode_ratio */
    const char *label;              /* up to 63 bytes; may be NULL */
    bool overwrite;                 /* replace an existing file (else DW_EEXIST) */
} dw_create_options;

/* Creates a new VDE file. */
DW_API int dw_vde_create(const char *path, const dw_config *config, const dw_create_options *options,
                         dw_diag *diag);

/* Opens a VDE, recovering from a crash when it was not closed cleanly. Refuses, each with
 * its own code: not a DWVD file (DW_ENOTVDE), a newer format or unknown incompatible
 * feature (DW_EVERSION), a file shorter than its VDE (DW_ETRUNCATED), one open in another
 * process (DW_EBUSY), committed data found damaged (DW_ECORRUPT). All memory is taken
 * here, against memory.ceiling; nothing allocates after. */
DW_API int dw_vde_open(const char *path, const dw_config *config, dw_vde **vde, dw_diag *diag);

/* Makes everything durable, checkpoints, marks the VDE clean and frees the handle. The
 * handle is freed whatever the result. After a failed write or sync the VDE takes no
 * more writes (every write call returns that first error) and close writes nothing,
 * returns the error and leaves the VDE to recovery: reopening it brings back every
 * acknowledged commit. */
DW_API int dw_vde_close(dw_vde *vde, dw_diag *diag);

/* Creates or replaces an object, atomically. */
DW_API int dw_put(dw_vde *vde, const void *key, size_t key_length, const void *value, size_t value_length,
                  const dw_op *op, dw_diag *diag);

/* Copies an object's value into buffer. DW_ENOENT when absent; DW_ENOSPC when capacity
 * is too small (*value_length then says how much is needed). DW_ECORRUPT, never wrong
 * bytes, when a block fails its check. */
DW_API int dw_get(dw_vde *vde, const void *key, size_t key_length, void *buffer, size_t capacity,
                  size_t *value_length, const dw_op *op, dw_diag *diag);

/* Reads up to `length` bytes of a value from `offset`: values larger than memory. *read
 * is 0 at or past the end. */
DW_API int dw_read(dw_vde *vde, const void *key, size_t key_length, uint64_t offset, void *buffer,
                   size_t length, size_t *read, const dw_op *op, dw_diag *diag);

DW_API int dw_delete(dw_vde *vde, const void *key, size_t key_length, const dw_op *op, dw_diag *diag);
DW_API int dw_exists(dw_vde *vde, const void *key, size_t key_length, bool *exists, const dw_op *op,
                     dw_diag *diag);

typedef struct dw_object_stat {
    uint64_t size;
    uint64_t ctime_ns;              /* created (logical time in deterministic mode) */
    uint64_t mtime_ns;              /* last replaced */
    uint32_t generation;            /* bumped by every replace or tag change */
    uint64_t inode;
    uint32_t extent_count;          /* 0 when the value is held in the inode */
    uint32_t tag_bytes;
} dw_object_stat;

DW_API int dw_stat(dw_vde *vde, const void *key, size_t key_length, dw_object_stat *stat, const dw_op *op,
                   dw_diag *diag);

/* Streaming put: a value written in pieces, committed atomically. Up to
 * limits.writers_max writers may be open at once, on one thread or several; one more is
 * refused with DW_EBUSY, naming the limit. A writer refuses nothing else: puts, deletes,
 * tag changes, transactions, reads and other writers run between its calls (and reads
 * during its writes). Its data goes to blocks it reserves, written outside any
 * transaction; dw_writer_commit is one short transaction that links the object into the
 * index, and until it returns no reader sees the value. It replaces whatever the key
 * holds at commit: between puts and writers of one key, the last commit wins. A writer
 * committed on a thread whose transaction (dw_txn_begin) is open becomes part of that
 * transaction, and goes with it if it aborts. dw_writer_abort, a failed write, closing
 * the VDE or a crash leave nothing behind: the reserved blocks were never marked used.
 * dw_writer_write writes the blocks each call fills before it returns: pieces of many
 * blocks are written in fewer, larger I/Os. A writer belongs to one thread at a time. */
DW_API int dw_writer_open(dw_vde *vde, const void *key, size_t key_length, const dw_op *op,
                          dw_writer **writer, dw_diag *diag);
DW_API int dw_writer_write(dw_writer *writer, const void *data, size_t length, dw_diag *diag);
DW_API int dw_writer_commit(dw_writer *writer, dw_diag *diag);
DW_API void dw_writer_abort(dw_writer *writer);

/* Keys starting with `prefix`, in order. Up to limits.iterators_max at once; writes in
 * between are allowed (an iterator continues after the last key it returned). */
DW_API int dw_iter_open(dw_vde *vde, const void *prefix, size_t prefix_length, dw_iter **iter,
                        dw_diag *diag);
/* DW_ENOENT after the last key. The key goes into `key` (capacity bytes). */
DW_API int dw_iter_next(dw_iter *iter, void *key, size_t capacity, size_t *key_length, dw_object_stat *stat,
                        dw_diag *diag);
DW_API void dw_iter_close(dw_iter *iter);

/* Small tags per object (the tags module): name up to 32 bytes, value up to 64; together
 * at most the inode's 128-byte tag area. value NULL removes the tag. */
DW_API int dw_tag_set(dw_vde *vde, const void *key, size_t key_length, const char *name, const char *value,
                      const dw_op *op, dw_diag *diag);
/* DW_ENOENT when the object or the tag is absent. */
DW_API int dw_tag_get(dw_vde *vde, const void *key, size_t key_length, const char *name, char *value,
                      size_t capacity, const dw_op *op, dw_diag *diag);
/* Every tag as "name=value" lines. */
DW_API int dw_tags(dw_vde *vde, const void *key, size_t key_length, char *text, size_t capacity,
                   const dw_op *op, dw_diag *diag);

/* Transactions: several puts and deletes committed atomically (limits.transaction_size_max
 * bytes, and as many metadata pages as the cache's undo area holds). One at a time: a
 * write on another thread waits until it commits or aborts (and so does a read there, so
 * that none sees half of it); on its own thread use dw_txn_put and
 * dw_txn_delete (dw_put there is refused with DW_EBUSY). Streaming writers stay usable
 * while it is open. */
DW_API int dw_txn_begin(dw_vde *vde, dw_txn **txn, dw_diag *diag);
DW_API int dw_txn_put(dw_txn *txn, const void *key, size_t key_length, const void *value, size_t value_length,
                      dw_diag *diag);
DW_API int dw_txn_delete(dw_txn *txn, const void *key, size_t key_length, dw_diag *diag);
DW_API int dw_txn_commit(dw_txn *txn, const dw_op *op, dw_diag *diag);
DW_API void dw_txn_abort(dw_txn *txn);

/* Makes every commit so far durable (group durability; a no-op under strict). */
DW_API int dw_sync(dw_vde *vde, const dw_op *op, dw_diag *diag);

/* ------------------------------------------------------------------------------------
 * Looking at a VDE: statistics, read-only access, verification, the hold-up window
 *
 * What `dw vde inspect`, `dw vde verify` and `dw demo` print, for an embedder: everything
 * here is built on the calls above and on the structs below, which are plain data (no
 * pointers into the library, no internal types), so a caller may copy, keep or print
 * them freely.
 * ---------------------------------------------------------------------------------- */

#define DW_VDE_BLOCK_SIZE_MIN 512       /* dw_create_options.block_size: a power of two */
#define DW_VDE_BLOCK_SIZE_MAX 65536
#define DW_VDE_LABEL_MAX 63             /* bytes of dw_create_options.label */
#define DW_VDE_NAME_SIZE 24             /* a short name: a module, a region, a class */
#define DW_VDE_TEXT_SIZE 64             /* the label, the anchor ("dw://<uuid>") */
#define DW_VDE_FLAG_NAMES_SIZE 160      /* feature names, separated by spaces */
#define DW_VDE_REGIONS_MAX 16
#define DW_VDE_MODULES_MAX 32
#define DW_VDE_OP_CLASSES 5             /* put, get, delete, commit, checkpoint */
#define DW_VDE_IO_CLASSES 5             /* read block, write block, read/write batch, flush */

/* One region of the region directory (docs/FORMAT.md §3). */
typedef struct dw_vde_region {
    char type[DW_VDE_NAME_SIZE];    /* "wal", "inode-table", "alloc-groups", ... */
    uint64_t start;                 /* first block */
    uint64_t count;                 /* blocks */
    uint64_t param;                 /* the type's parameter: blocks per group for the groups */
} dw_vde_region;

/* One module of the manifest, with its configuration nibble. */
typedef struct dw_vde_module {
    char name[DW_VDE_NAME_SIZE];
    uint32_t config;
} dw_vde_module;

/* The latency of one kind of call, measured by the engine around the call. */
typedef struct dw_vde_op_figures {
    char name[DW_VDE_NAME_SIZE];    /* "put", "get", "delete", "commit", "checkpoint" */
    uint64_t count;
    uint64_t p50_ns;
    uint64_t p99_ns;
    uint64_t max_ns;
    uint64_t misses;                /* finished after their deadline */
} dw_vde_op_figures;

/* One I/O class as the deadline scheduler saw it, beside its WCET budget. */
typedef struct dw_vde_io_figures {
    char name[DW_VDE_NAME_SIZE];    /* "read block", "write block", "read batch", ... */
    uint64_t completed;
    uint64_t misses;
    uint64_t p50_ns;                /* end to end: submission to completion */
    uint64_t p99_ns;
    uint64_t max_ns;
    uint64_t service_max_ns;        /* dispatch to completion: what the budget bounds */
    uint64_t budget_ns;             /* sched.wcet_*: service_max_ns above it is an overrun */
} dw_vde_io_figures;

/* Everything an open VDE can say about itself. Units go last in names; versions are
 * (major << 8) | minor, so 0x0200 is 2.0. */
typedef struct dw_vde_stats {
    /* the format and the identity */
    uint16_t format_version;
    uint16_t min_reader_version;
    uint16_t min_writer_version;
    uint8_t uuid[16];
    char anchor[DW_VDE_TEXT_SIZE];  /* "dw://<uuid>" */
    char label[DW_VDE_TEXT_SIZE];
    /* the geometry */
    uint32_t block_size;            /* bytes */
    uint32_t unit_size;             /* bytes of a superblock unit */
    uint64_t block_count;
    uint32_t region_count;          /* all of them; the first DW_VDE_REGIONS_MAX are here */
    dw_vde_region regions[DW_VDE_REGIONS_MAX];
    /* features and modules: the flag words and their names ("unknown-N" for a bit this
     * library has no name for; empty when no bit is set) */
    uint64_t incompat;
    uint64_t ro_compat;
    uint64_t compat;
    char incompat_names[DW_VDE_FLAG_NAMES_SIZE];
    char ro_compat_names[DW_VDE_FLAG_NAMES_SIZE];
    char compat_names[DW_VDE_FLAG_NAMES_SIZE];
    uint32_t module_manifest;       /* one bit a module */
    uint32_t module_count;
    dw_vde_module modules[DW_VDE_MODULES_MAX];
    /* health, as the superblock records it */
    char state[DW_VDE_NAME_SIZE];   /* "clean", "dirty", "recovering", "degraded" */
    uint64_t mount_count;
    uint64_t error_count;
    uint64_t created_ns;            /* logical time in deterministic mode */
    uint64_t clean_close_ns;
    char writer_node[DW_VDE_NAME_SIZE + 8]; /* the last writer: host name, pid, session */
    uint32_t writer_pid;
    uint64_t writer_session;
    uint64_t writer_time_ns;
    uint64_t sequence;              /* superblock writes */
    uint64_t checkpoint_seq;        /* the last transaction the superblock's checkpoint covers */
    uint64_t generation_next;
    /* usage */
    uint64_t object_count;
    uint64_t inode_count;
    uint64_t inodes_used;
    uint32_t group_count;
    uint64_t group_blocks;          /* blocks in the allocation groups, all of them */
    uint64_t data_blocks_used;      /* taken in the groups, index pages included */
    uint64_t data_bytes_used;       /* data_blocks_used x block_size */
    uint32_t index_height;          /* levels of the key index; 0 when empty */
    uint64_t index_root;            /* its root block; 0 when empty */
    /* the write-ahead log */
    uint64_t wal_blocks;
    uint64_t wal_used_blocks;       /* between the checkpoint and the next record */
    uint64_t next_lsn;
    uint64_t checkpoint_lsn;        /* recovery would start here now */
    uint64_t transaction_seq;       /* the last transaction number handed out */
    uint64_t log_rereads;           /* log blocks that failed their check once, then passed */
    /* memory and I/O */
    uint64_t memory_reserved_bytes;
    uint64_t memory_ceiling_bytes;
    uint64_t memory_peak_bytes;     /* the most ever reserved, verify's share included */
    char io_backend[DW_VDE_NAME_SIZE]; /* "io_uring", "psync", "sim" */
    bool read_only;
    /* the engine's counters since open */
    dw_vde_op_figures ops[DW_VDE_OP_CLASSES];
    uint64_t commits;
    uint64_t records;               /* WAL records written */
    uint64_t checkpoints;           /* superblock writes that moved the checkpoint */
    uint64_t checkpoint_pages;      /* pages written home by checkpoints */
    uint64_t recovered_records;     /* replayed at this open */
    uint64_t recovered_pages;
    bool truncated_tail;            /* this open cut a torn tail off the log */
    uint64_t cache_hits;
    uint64_t cache_misses;
    /* the deadline scheduler, per I/O class and in total */
    dw_vde_io_figures io[DW_VDE_IO_CLASSES];
    uint64_t io_submitted;
    uint64_t io_completed;
    uint64_t io_refused;            /* no slot, circuit open, shutting down, or late */
    uint64_t io_cancelled;
    uint64_t io_misses;
} dw_vde_stats;

/* Fills *stats from an open VDE. Named after dw_stat, which does the same for an object;
 * the struct is plural because it is many figures. It takes the engine's lock for as long
 * as a copy takes, so it may be called from any thread at any time, between or beside
 * other calls. DW_EINVAL when vde or stats is NULL. */
DW_API int dw_vde_stat(dw_vde *vde, dw_vde_stats *stats, dw_diag *diag);

/* Opens a VDE for reading only: no mount count, no repair of a damaged superblock copy,
 * no superblock write. The one exception is a VDE that crashed: its log is still replayed
 * home, as it must be before anything can be read (rewriting committed pages with what
 * they already hold once recovered, so a crash during it changes nothing). Every call that
 * would write (dw_put, dw_delete, dw_tag_set, dw_writer_open, dw_txn_begin) returns
 * DW_EPERM; dw_sync and dw_vde_close write nothing. Refusals as dw_vde_open.
 *
 * A function of its own rather than an options struct for dw_vde_open: read-only is the
 * one other mode an embedder opens a VDE in, a separate name cannot be given the wrong
 * flag, and the mode verification needs is not a handle an embedder should hold (see
 * dw_vde_verify). When a third mode comes, dw_vde_open gains an options variant. */
DW_API int dw_vde_open_read_only(const char *path, const dw_config *config, dw_vde **vde, dw_diag *diag);

/* ---- verification ---- */

#define DW_VDE_VERIFY_PROBLEMS_MAX 100
#define DW_VDE_VERIFY_TYPES_MAX 16
#define DW_VDE_VERIFY_TEXT_MAX 256
#define DW_VDE_BLOCK_TYPE_SIZE 8        /* a block type's four letters ("INOD"), NUL included */
#define DW_VDE_NO_BLOCK UINT64_MAX

/* One problem found: the block (DW_VDE_NO_BLOCK when it is about no one block), the type
 * of block that belongs there (docs/FORMAT.md's four letters, "" when unknown), and what
 * is wrong, in a sentence. */
typedef struct dw_vde_verify_problem {
    uint64_t block;
    char type[DW_VDE_BLOCK_TYPE_SIZE];
    char what[DW_VDE_VERIFY_TEXT_MAX];
} dw_vde_verify_problem;

typedef struct dw_vde_verify_report {
    /* set by the caller, optional: called as the check goes, from the calling thread */
    void (*progress)(void *context, uint64_t done, uint64_t total);
    void *context;
    /* results */
    uint64_t blocks_checked;
    uint64_t blocks_total;          /* an estimate, made at the start, for progress */
    uint64_t objects;
    uint64_t inodes;
    uint64_t bytes;                 /* value bytes of every object */
    uint64_t memory_bytes;          /* taken, against the ceiling, for the check */
    uint64_t problem_count;         /* all of them; 0 means clean */
    uint32_t problems_kept;         /* the first DW_VDE_VERIFY_PROBLEMS_MAX */
    uint32_t type_count;
    struct {
        char type[DW_VDE_BLOCK_TYPE_SIZE];
        uint64_t blocks;            /* found sound */
    } types[DW_VDE_VERIFY_TYPES_MAX];
    dw_vde_verify_problem problems[DW_VDE_VERIFY_PROBLEMS_MAX];
} dw_vde_verify_report;

/* Checks every block and structure of the VDE at `path` as an independent reader of
 * docs/FORMAT.md would: both superblock copies, the bitmaps, the key index, every inode,
 * extent and data block against the checksums and generations that name them, and that
 * every block in use is reached exactly once. It opens the file itself, read-only and
 * without repairing anything (so that damage is reported, not hidden), and closes it
 * again: like SQLite's integrity_check and LMDB's mdb_stat, it is one call, and it needs
 * the file to itself (DW_EBUSY while another handle has it open; close yours first).
 *
 * Returns DW_OK when the check ran, whatever it found: report->problem_count 0 means
 * clean. An error means it could not run: the open's refusals (DW_ENOTVDE, DW_EVERSION,
 * DW_ETRUNCATED, DW_EBUSY, DW_ECORRUPT when even the superblock is unreadable), memory
 * (the check takes two bits per block and per inode, against memory.ceiling, when it
 * starts, and gives them back), DW_EIO, or DW_EINVAL for a NULL argument. */
DW_API int dw_vde_verify(const char *path, const dw_config *config, dw_vde_verify_report *report,
                         dw_diag *diag);

/* ---- the hold-up window ---- */

/* How long, at most, making every acknowledged commit durable would take if it started
 * now: the time a device must stay powered after it loses power, so that nothing
 * acknowledged is lost (its hold-up window). The bound is in *holdup_ns: the WCET budgets
 * (sched.wcet_*) of the I/O a dw_sync would make now, each request taken as served one
 * after the other: the data sync, the WAL record of every page changed since the last
 * record, and, when that record would not fit the log's free room, the checkpoint before
 * it (every dirty page written home and both superblock copies written). Under strict
 * durability it is 0 between calls; after dw_sync it is back to 0. docs/DETERMINISM.md
 * ("The hold-up window") gives the formula. It does not count waiting for a call already
 * running (at most one: see the admission rules above). DW_EINVAL for NULL arguments. */
DW_API int dw_vde_holdup_ns(dw_vde *vde, uint64_t *holdup_ns, dw_diag *diag);

#ifdef __cplusplus
}
#endif

#endif /* DWVD_H */
