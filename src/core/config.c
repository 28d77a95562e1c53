/*
 * config.c — dw_config: the key table, defaults, INI loading (libinih), command-line
 * assignments, validation of combinations, and printing.
 *
 * The one rule of this file: report every problem in one pass. A loader that stops at
 * the first mistake makes a user fix a file one line at a time; this one keeps going,
 * applies what it can, and lists everything it found with the file, the line, the key,
 * the value and what is allowed.
 *
 * Loading never touches the memory budget: a configuration is read before anything is
 * opened, and it is what the budget is computed from.
 */
#include "core/config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/assert.h"
#include "core/bits.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define TIB (UINT64_C(1) << 40)

typedef enum key_type {
    KEY_SIZE,       /* bytes, with optional binary suffix */
    KEY_COUNT,      /* a whole number */
    KEY_PERCENT,    /* a whole number of percent */
    KEY_BOOL,
    KEY_LOG_LEVEL,
    KEY_PATH,       /* a file path; its directory must exist */
    KEY_CHOICE,     /* one of a list of names, stored as the enum value of its index */
    KEY_DURATION,   /* a time with its unit (ns, us, ms, s), stored in ns */
    KEY_CPU,        /* a CPU number, or none (stored as UINT32_MAX) */
} key_type;

typedef struct config_key {
    const char *section;
    const char *name;
    size_t offset;
    size_t width;
    uint64_t default_value;
    uint64_t minimum;
    uint64_t maximum;
    key_type type;
    bool power_of_two;
    bool zero_means_auto;
    const char *summary;
    const char *const *choices;     /* KEY_CHOICE: the names, NULL-terminated */
} config_key;

#define FIELD(field) offsetof(dw_config, field), sizeof(((dw_config *)0)->field)

/* In the order of their enums in dwvd.h. */
static const char *const io_backend_names[] = {"auto", "io_uring", "psync", "sim", NULL};
static const char *const sched_policy_names[] = {"edf", "fifo", NULL};
static const char *const miss_action_names[] = {"log", "fail", "circuit-break", NULL};
static const char *const late_action_names[] = {"run", "refuse", NULL};
static const char *const durability_names[] = {"strict", "group", NULL};

#define US (UINT64_C(1000))
#define MS (UINT64_C(1000000))
#define SECOND (UINT64_C(1000000000))

/* The single source of every key, its default and its range. docs/CONFIG.md documents the
 * same table, and a unit test checks that the two name the same keys. */
static const config_key config_keys[] = {
    {"vde", "block_size", FIELD(block_size), 4 * KIB, 512, 64 * KIB, KEY_SIZE, true, false,
     "bytes in every block of a new VDE, its 16-byte trailer included", NULL},
    {"vde", "durability", FIELD(durability), DW_DURABILITY_STRICT, 0, 1, KEY_CHOICE, false, false,
     "strict (durable before a commit returns) or group (batched, durable within group_delay)",
     durability_names},
    {"vde", "group_delay", FIELD(group_delay_ns), 10 * MS, 100 * US, 10 * SECOND, KEY_DURATION, false,
     false, "group durability: the longest a commit waits before it is on stable storage", NULL},
    {"vde", "op_deadline", FIELD(op_deadline_ns), 1 * SECOND, 1 * MS, 3600 * SECOND, KEY_DURATION, false,
     false, "deadline of an operation that names none, for every I/O it makes", NULL},
    {"vde", "deterministic", FIELD(deterministic), 0, 0, 1, KEY_BOOL, false, false,
     "a logical clock and no host identity: the same operations give the same file", NULL},
    {"vde", "wal_size", FIELD(wal_bytes), 0, 0, 64 * GIB, KEY_SIZE, false, false,
     "a new VDE's write-ahead log (at least 256KiB); 0: half of memory.ceiling, 16MiB to 1GiB, "
     "at most an eighth of the VDE", NULL},
    {"vde", "group_size", FIELD(group_bytes), 128 * MIB, MIB, 4 * GIB, KEY_SIZE, false, false,
     "one allocation group of a new VDE (a bitmap and a free count each)", NULL},
    {"vde", "inode_ratio", FIELD(inode_ratio_bytes), 16 * KIB, KIB, GIB, KEY_SIZE, false, false,
     "a new VDE gets one inode (one object) per this many bytes", NULL},
    {"memory", "ceiling", FIELD(memory_ceiling_bytes), 64 * MIB, MIB, TIB, KEY_SIZE, false, false,
     "every byte the engine may take, all components together", NULL},
    {"memory", "buffer_count", FIELD(buffer_count), 1024, 1, 1u << 20, KEY_COUNT, false, false,
     "I/O buffers of one block each in the fixed pool", NULL},
    {"memory", "cache_pages", FIELD(cache_pages), 0, 0, 1u << 24, KEY_COUNT, false, false,
     "metadata pages (index, inodes, bitmaps) of one block each kept in memory; 0: as many as "
     "memory.ceiling leaves room for once the rest is planned", NULL},
    {"memory", "pressure_percent", FIELD(pressure_percent), 85, 50, 99, KEY_PERCENT, false, false,
     "share of the ceiling in use at which components are asked to shrink", NULL},
    {"memory", "lock", FIELD(memory_lock), 0, 0, 1, KEY_BOOL, false, false,
     "mlock all engine memory so it is never paged out (needs RLIMIT_MEMLOCK)", NULL},
    {"io", "queue_depth", FIELD(queue_depth), 32, 1, 4096, KEY_COUNT, false, false,
     "I/Os in flight at once; each holds one buffer", NULL},
    {"io", "backend", FIELD(io_backend), DW_IO_BACKEND_AUTO, 0, 3, KEY_CHOICE, false, false,
     "auto (io_uring, else psync), io_uring, psync or sim", io_backend_names},
    {"io", "direct", FIELD(io_direct), 1, 0, 1, KEY_BOOL, false, false,
     "open data files with O_DIRECT where the file system allows it", NULL},
    {"io", "sqpoll", FIELD(io_sqpoll), 0, 0, 1, KEY_BOOL, false, false,
     "an io_uring kernel thread polls for submissions (costs a core)", NULL},
    {"limits", "key_length_max", FIELD(key_length_max), 255, 1, 16384, KEY_COUNT, false, false,
     "longest key, in bytes", NULL},
    {"limits", "value_size_max", FIELD(value_size_max), 16 * MIB, 1, 4 * GIB, KEY_SIZE, false,
     false, "largest value, in bytes", NULL},
    {"limits", "iterators_max", FIELD(iterators_max), 16, 0, 4096, KEY_COUNT, false, false,
     "iterators open at once", NULL},
    {"limits", "writers_max", FIELD(writers_max), 4, 0, 256, KEY_COUNT, false, false,
     "streaming writers open at once; each takes a key, a block and its reserved runs at open",
     NULL},
    {"limits", "transaction_size_max", FIELD(transaction_size_max), 64 * MIB, 4 * KIB, 64 * GIB,
     KEY_SIZE, false, false, "bytes one transaction may write", NULL},
    {"sched", "worker_cores", FIELD(worker_cores), 0, 1, 256, KEY_COUNT, true, true,
     "cores running CPU work; auto = the online cores rounded down to a power of two", NULL},
    {"sched", "policy", FIELD(sched_policy), DW_SCHED_EDF, 0, 1, KEY_CHOICE, false, false,
     "order of waiting I/O: edf (earliest deadline first) or fifo (arrival order)",
     sched_policy_names},
    {"sched", "request_slots", FIELD(request_slots), 256, 8, 65536, KEY_COUNT, false, false,
     "I/O requests waiting or in flight at once", NULL},
    {"sched", "miss_action", FIELD(miss_action), DW_MISS_LOG, 0, 2, KEY_CHOICE, false, false,
     "on a missed deadline or overrun budget: log, fail or circuit-break", miss_action_names},
    {"sched", "late_submission", FIELD(late_submission), DW_LATE_RUN, 0, 1, KEY_CHOICE, false,
     false, "a request late when submitted: run (at once) or refuse", late_action_names},
    {"sched", "circuit_misses", FIELD(circuit_misses), 8, 1, 1000000, KEY_COUNT, false, false,
     "misses within circuit_window that open the circuit (circuit-break)", NULL},
    {"sched", "circuit_window", FIELD(circuit_window_ns), 100 * MS, 1 * MS, 3600 * SECOND,
     KEY_DURATION, false, false, "window for circuit_misses, and for closing again", NULL},
    {"sched", "circuit_latency", FIELD(circuit_latency_ns), 5 * MS, 1 * US, 3600 * SECOND,
     KEY_DURATION, false, false, "the circuit closes once latency stays under this for a window",
     NULL},
    {"sched", "wcet_read", FIELD(wcet_read_ns), 10 * MS, 1 * US, 3600 * SECOND, KEY_DURATION,
     false, false, "budget for one block read, from dispatch to completion", NULL},
    {"sched", "wcet_write", FIELD(wcet_write_ns), 10 * MS, 1 * US, 3600 * SECOND, KEY_DURATION,
     false, false, "budget for one block written", NULL},
    {"sched", "wcet_batch", FIELD(wcet_batch_ns), 50 * MS, 1 * US, 3600 * SECOND, KEY_DURATION,
     false, false, "budget for a batch of blocks, read or written", NULL},
    {"sched", "wcet_flush", FIELD(wcet_flush_ns), 50 * MS, 1 * US, 3600 * SECOND, KEY_DURATION,
     false, false, "budget for a data sync", NULL},
    {"sched", "realtime", FIELD(io_realtime), 1, 0, 1, KEY_BOOL, false, false,
     "run the I/O thread at real-time priority (SCHED_FIFO) when permitted", NULL},
    {"sched", "io_cpu", FIELD(io_cpu), UINT32_MAX, 0, 1023, KEY_CPU, false, false,
     "pin the I/O thread to this CPU; none = let the kernel choose", NULL},
    {"log", "level", FIELD(log_level), DW_LOG_INFO, DW_LOG_TRACE, DW_LOG_ERROR, KEY_LOG_LEVEL,
     false, false, "lowest level written: trace, debug, info, warn or error", NULL},
    {"log", "file", FIELD(log_file), 0, 0, DW_CONFIG_PATH_MAX - 1, KEY_PATH, false, false,
     "file the JSON-lines log is appended to; empty = standard error", NULL},
};

enum { CONFIG_KEY_COUNT = DW_ARRAY_COUNT(config_keys) };
DW_STATIC_ASSERT(CONFIG_KEY_COUNT <= DW_CONFIG_KEYS_MAX, "the report tracks an origin per key");

static const char *const config_sections[] = {"vde", "memory", "io", "limits", "sched", "log"};
DW_STATIC_ASSERT(DW_ARRAY_COUNT(io_backend_names) == DW_IO_BACKEND_SIM + 2,
                 "a name for every I/O backend, and the NULL that ends the list");

/* The index of section.name in config_keys; the key must exist. */
static size_t key_index(const char *section, const char *name)
{
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
        if (strcmp(config_keys[i].section, section) == 0 && strcmp(config_keys[i].name, name) == 0) {
            return i;
        }
    }
    DW_UNREACHABLE();
}

size_t dw_config_key_count(void)
{
    return CONFIG_KEY_COUNT;
}

const char *dw_config_key_section(size_t index)
{
    DW_ASSERT(index < CONFIG_KEY_COUNT);
    return config_keys[index].section;
}

const char *dw_config_key_name(size_t index)
{
    DW_ASSERT(index < CONFIG_KEY_COUNT);
    return config_keys[index].name;
}

/* ------------------------------------------------------------------------------------
 * Values: parse, store, load, format
 * ---------------------------------------------------------------------------------- */

static int parse_bool(const char *text, uint64_t *value)
{
    static const char *const true_words[] = {"true", "yes", "on", "1"};
    static const char *const false_words[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < DW_ARRAY_COUNT(true_words); i++) {
        if (strcasecmp(text, true_words[i]) == 0) {
            *value = 1;
            return DW_OK;
        }
        if (strcasecmp(text, false_words[i]) == 0) {
            *value = 0;
            return DW_OK;
        }
    }
    return DW_EINVAL;
}

static const char *type_expectation(const config_key *key)
{
    switch (key->type) {
    case KEY_SIZE:
        return "expected a size in bytes, such as 4096, 64KiB or 16MiB";
    case KEY_COUNT:
        return key->zero_means_auto ? "expected a whole number or 'auto'"
                                    : "expected a whole number";
    case KEY_PERCENT:
        return "expected a whole number of percent, such as 85 or 85%";
    case KEY_BOOL:
        return "expected true or false (or yes/no, on/off, 1/0)";
    case KEY_LOG_LEVEL:
        return "expected one of trace, debug, info, warn, error";
    case KEY_PATH:
        return "expected a file path";
    case KEY_CHOICE:
        return "expected one of the names listed for this key";
    case KEY_DURATION:
        return "expected a duration with its unit, such as 10ms, 250us or 2s";
    case KEY_CPU:
        return "expected a CPU number or 'none'";
    default:
        DW_UNREACHABLE();
    }
}

/* "expected one of auto, io_uring, psync, sim". */
static void choice_expectation(const config_key *key, char *text, size_t text_size)
{
    dw_format(text, text_size, "expected one of");
    for (size_t i = 0; key->choices[i] != NULL; i++) {
        size_t used = strlen(text);
        dw_format(text + used, text_size - used, "%s %s", i > 0 ? "," : "", key->choices[i]);
    }
}

/* "must be between 512 and 64KiB and a power of two", in the key's own units. */
static void range_text(const config_key *key, char *text, size_t text_size)
{
    char low[32];
    char high[32];
    if (key->type == KEY_SIZE) {
        (void)dw_format_size(key->minimum, low, sizeof low);
        (void)dw_format_size(key->maximum, high, sizeof high);
    } else if (key->type == KEY_DURATION) {
        (void)dw_format_duration(key->minimum, low, sizeof low);
        (void)dw_format_duration(key->maximum, high, sizeof high);
    } else if (key->type == KEY_CPU) {
        dw_format(text, text_size, "must be none or a CPU number from %llu to %llu",
                  (unsigned long long)key->minimum, (unsigned long long)key->maximum);
        return;
    } else if (key->type == KEY_PATH) {
        dw_format(text, text_size, "must be at most %llu characters long",
                       (unsigned long long)key->maximum);
        return;
    } else {
        dw_format(low, sizeof low, "%llu", (unsigned long long)key->minimum);
        dw_format(high, sizeof high, "%llu", (unsigned long long)key->maximum);
    }
    dw_format(text, text_size, "must be %sbetween %s and %s%s%s",
                   key->zero_means_auto ? "auto (0) or " : "", low, high,
                   key->type == KEY_PERCENT ? " percent" : "",
                   key->power_of_two ? " and a power of two" : "");
}

/* Parses `text` for `key`. On failure sets *kind and writes what is allowed to detail. */
static int parse_value(const config_key *key, const char *text, uint64_t *value,
                       dw_config_problem_kind *kind, char *detail, size_t detail_size)
{
    int result = DW_OK;
    const char *cursor = text;
    switch (key->type) {
    case KEY_SIZE:
        result = dw_parse_size(text, value);
        break;
    case KEY_COUNT:
        if (key->zero_means_auto && strcasecmp(text, "auto") == 0) {
            *value = 0;
            return DW_OK;
        }
        result = dw_parse_digits(&cursor, value) && *cursor == '\0' ? DW_OK : DW_EINVAL;
        break;
    case KEY_PERCENT:
        result = dw_parse_digits(&cursor, value) && (strcmp(cursor, "%") == 0 || *cursor == '\0')
                     ? DW_OK
                     : DW_EINVAL;
        break;
    case KEY_BOOL:
        result = parse_bool(text, value);
        break;
    case KEY_LOG_LEVEL: {
        dw_log_level level = DW_LOG_INFO;
        result = dw_log_level_parse(text, &level);
        *value = (uint64_t)level;
        break;
    }
    case KEY_PATH:
        *value = strlen(text);
        break;
    case KEY_DURATION:
        result = dw_parse_duration(text, value);
        break;
    case KEY_CPU:
        if (strcasecmp(text, "none") == 0) {
            *value = UINT32_MAX;
            return DW_OK;
        }
        result = dw_parse_digits(&cursor, value) && *cursor == '\0' ? DW_OK : DW_EINVAL;
        break;
    case KEY_CHOICE:
        result = DW_EINVAL;
        for (size_t i = 0; key->choices[i] != NULL; i++) {
            if (strcasecmp(text, key->choices[i]) == 0) {
                *value = i;
                result = DW_OK;
            }
        }
        if (result != DW_OK) {
            *kind = DW_CONFIG_WRONG_TYPE;
            choice_expectation(key, detail, detail_size);
            return DW_EINVAL;
        }
        break;
    default:
        DW_UNREACHABLE();
    }
    if (result != DW_OK) {
        *kind = DW_CONFIG_WRONG_TYPE;
        dw_format(detail, detail_size, "%s", type_expectation(key));
        return DW_EINVAL;
    }
    bool auto_value = key->zero_means_auto && *value == 0;
    bool in_range = *value >= key->minimum && *value <= key->maximum &&
                    (!key->power_of_two || dw_is_power_of_two(*value));
    if (!auto_value && !in_range) {
        *kind = DW_CONFIG_OUT_OF_RANGE;
        range_text(key, detail, detail_size);
        return DW_EINVAL;
    }
    return DW_OK;
}

static void field_store(dw_config *config, const config_key *key, uint64_t value, const char *text)
{
    char *field = (char *)config + key->offset;
    if (key->type == KEY_PATH) {
        DW_ASSERT(value < key->width);
        memcpy(field, text, (size_t)value + 1);
    } else if (key->type == KEY_BOOL) {
        bool flag = value != 0;
        memcpy(field, &flag, sizeof flag);
    } else if (key->type == KEY_LOG_LEVEL) {
        dw_log_level level = (dw_log_level)value;
        memcpy(field, &level, sizeof level);
    } else if (key->type == KEY_CHOICE) {
        /* Choice fields are enums, which have the size of an int on every supported ABI. */
        DW_ASSERT(key->width == sizeof(int));
        int index = (int)value;
        memcpy(field, &index, sizeof index);
    } else if (key->width == sizeof(uint32_t)) {
        DW_ASSERT(value <= UINT32_MAX);
        uint32_t narrow = (uint32_t)value;
        memcpy(field, &narrow, sizeof narrow);
    } else {
        DW_ASSERT(key->width == sizeof(uint64_t));
        memcpy(field, &value, sizeof value);
    }
}

static uint64_t field_load(const dw_config *config, const config_key *key)
{
    const char *field = (const char *)config + key->offset;
    if (key->type == KEY_BOOL) {
        bool flag = false;
        memcpy(&flag, field, sizeof flag);
        return flag ? 1 : 0;
    }
    if (key->type == KEY_LOG_LEVEL) {
        dw_log_level level = DW_LOG_INFO;
        memcpy(&level, field, sizeof level);
        return (uint64_t)level;
    }
    DW_ASSERT(key->type != KEY_PATH);
    if (key->type == KEY_CHOICE) {
        int index = 0;
        memcpy(&index, field, sizeof index);
        return (uint64_t)index;
    }
    if (key->width == sizeof(uint32_t)) {
        uint32_t narrow = 0;
        memcpy(&narrow, field, sizeof narrow);
        return narrow;
    }
    uint64_t wide = 0;
    memcpy(&wide, field, sizeof wide);
    return wide;
}

/* The value as `dw config show` prints it and as problems quote it. */
static void field_format(const dw_config *config, const config_key *key, char *text,
                         size_t text_size)
{
    if (key->type == KEY_PATH) {
        dw_format(text, text_size, "%s", (const char *)config + key->offset);
        return;
    }
    uint64_t value = field_load(config, key);
    switch (key->type) {
    case KEY_SIZE:
        (void)dw_format_size(value, text, text_size);
        break;
    case KEY_BOOL:
        dw_format(text, text_size, "%s", value != 0 ? "true" : "false");
        break;
    case KEY_LOG_LEVEL:
        dw_format(text, text_size, "%s", dw_log_level_name((dw_log_level)value));
        break;
    case KEY_CHOICE:
        dw_format(text, text_size, "%s", key->choices[value]);
        break;
    case KEY_DURATION:
        (void)dw_format_duration(value, text, text_size);
        break;
    case KEY_CPU:
        if (value == UINT32_MAX) {
            dw_format(text, text_size, "none");
        } else {
            dw_format(text, text_size, "%llu", (unsigned long long)value);
        }
        break;
    default:
        if (key->zero_means_auto && value == 0) {
            dw_format(text, text_size, "auto");
        } else {
            dw_format(text, text_size, "%llu", (unsigned long long)value);
        }
        break;
    }
}

DW_API void dw_config_defaults(dw_config *config)
{
    DW_ASSERT(config != NULL);
    memset(config, 0, sizeof *config);
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
        const config_key *key = &config_keys[i];
        DW_ASSERT(key->width == sizeof(uint64_t) || key->maximum <= UINT32_MAX);
        /* Paths default to empty (standard error); the text is ignored for other keys. */
        field_store(config, key, key->type == KEY_PATH ? 0 : key->default_value, "");
    }
}

DW_API void dw_config_report_init(dw_config_report *report)
{
    DW_ASSERT(report != NULL);
    memset(report, 0, sizeof *report);
}

DW_API uint64_t dw_config_memory_floor_bytes(const dw_config *config)
{
    DW_ASSERT(config != NULL);
    /* Sizes are bounded by the key table (2^20 buffers, 2^24 pages, 64 KiB blocks), so
     * the products fit in 64 bits with room to spare. */
    uint64_t block_bytes = config->block_size;
    /* An automatic cache (0) takes what is left, at least DW_CACHE_PAGES_AUTO_MIN pages. */
    uint64_t cache_pages = config->cache_pages != 0 ? config->cache_pages : DW_CACHE_PAGES_AUTO_MIN;
    return (uint64_t)config->buffer_count * block_bytes + cache_pages * block_bytes;
}

/* ------------------------------------------------------------------------------------
 * The report
 * ---------------------------------------------------------------------------------- */

/* Index + 1 of `name` in the report's sources, adding it when new. When the table is
 * full, the last slot stands for every further source. */
static uint8_t report_source(dw_config_report *report, const char *name)
{
    for (uint32_t i = 0; i < report->source_count; i++) {
        if (strcmp(report->sources[i], name) == 0) {
            return (uint8_t)(i + 1);
        }
    }
    if (report->source_count == DW_CONFIG_SOURCES_MAX) {
        dw_format(report->sources[DW_CONFIG_SOURCES_MAX - 1], DW_CONFIG_SOURCE_MAX,
                       "(one of several sources)");
        return DW_CONFIG_SOURCES_MAX;
    }
    dw_format(report->sources[report->source_count], DW_CONFIG_SOURCE_MAX, "%s", name);
    report->source_count++;
    return (uint8_t)report->source_count;
}

static const char *report_source_name(const dw_config_report *report, uint8_t source_index)
{
    if (source_index == 0) {
        return "default";
    }
    DW_ASSERT(source_index <= report->source_count);
    return report->sources[source_index - 1];
}

/* "cfg.ini:5", "command line", "default". */
static void origin_text(const dw_config_report *report, size_t key_index, char *text,
                        size_t text_size)
{
    const dw_config_origin *origin = &report->origins[key_index];
    const char *source = report_source_name(report, origin->source_index);
    if (origin->line > 0) {
        dw_format(text, text_size, "%s:%u", source, origin->line);
    } else {
        dw_format(text, text_size, "%s", source);
    }
}

static void report_add(dw_config_report *report, dw_config_problem_kind kind, uint8_t source_index,
                       uint32_t line, const char *key, const char *value, const char *format, ...)
    DW_PRINTF(7, 8);

static void report_add(dw_config_report *report, dw_config_problem_kind kind, uint8_t source_index,
                       uint32_t line, const char *key, const char *value, const char *format, ...)
{
    uint32_t index = report->problem_count;
    report->problem_count++;
    if (index >= DW_CONFIG_PROBLEMS_MAX) {
        return; /* counted, not stored: the caller says how many more there were */
    }
    dw_config_problem *problem = &report->problems[index];
    problem->kind = kind;
    problem->line = line;
    dw_format(problem->source, sizeof problem->source, "%s",
                   report_source_name(report, source_index));
    dw_format(problem->key, sizeof problem->key, "%s", key);
    /* A value too long to quote whole is cut with a visible mark. */
    size_t value_length = strlen(value);
    if (value_length >= sizeof problem->value) {
        dw_format(problem->value, sizeof problem->value, "%.*s...",
                       (int)(sizeof problem->value - 4), value);
    } else {
        memcpy(problem->value, value, value_length + 1);
    }
    va_list arguments;
    va_start(arguments, format);
    (void)vsnprintf(problem->detail, sizeof problem->detail, format, arguments);
    va_end(arguments);
}

DW_API const char *dw_config_problem_kind_name(dw_config_problem_kind kind)
{
    static const char *const names[] = {
        "syntax error", "unknown key",  "wrong type", "out of range",
        "inconsistent", "missing path", "duplicate key",
    };
    DW_ASSERT((size_t)kind < DW_ARRAY_COUNT(names));
    return names[kind];
}

DW_API int dw_config_problem_format(const dw_config_report *report, uint32_t index, char *buffer,
                                    size_t buffer_size)
{
    DW_ASSERT(report != NULL && buffer != NULL);
    DW_ASSERT(index < report->problem_count && index < DW_CONFIG_PROBLEMS_MAX);
    const dw_config_problem *problem = &report->problems[index];
    char where[DW_CONFIG_SOURCE_MAX + 16];
    if (problem->line > 0) {
        dw_format(where, sizeof where, "%s:%u", problem->source, problem->line);
    } else {
        dw_format(where, sizeof where, "%s", problem->source);
    }
    if (problem->key[0] == '\0') {
        return snprintf(buffer, buffer_size, "%s: %s: %s", where,
                        dw_config_problem_kind_name(problem->kind), problem->detail);
    }
    return snprintf(buffer, buffer_size, "%s: %s = '%s': %s: %s", where, problem->key,
                    problem->value, dw_config_problem_kind_name(problem->kind), problem->detail);
}

/* ------------------------------------------------------------------------------------
 * Applying one `key = value`
 * ---------------------------------------------------------------------------------- */

static bool section_known(const char *section)
{
    for (size_t i = 0; i < DW_ARRAY_COUNT(config_sections); i++) {
        if (strcasecmp(section, config_sections[i]) == 0) {
            return true;
        }
    }
    return false;
}

static bool key_find(const char *section, const char *name, size_t *index)
{
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
        if (strcasecmp(config_keys[i].section, section) == 0 &&
            strcasecmp(config_keys[i].name, name) == 0) {
            *index = i;
            return true;
        }
    }
    return false;
}

/* Writes a "did you mean" for an unknown key: the same name in another section, or a
 * close spelling in the same section, or the list of the section's keys. */
static void unknown_key_detail(const char *section, const char *name, char *detail,
                               size_t detail_size)
{
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
        const config_key *key = &config_keys[i];
        if (strcasecmp(key->name, name) == 0) {
            dw_format(detail, detail_size, "%s; did you mean '%s' in section [%s]?",
                           section[0] == '\0' ? "keys must be inside a section"
                                              : "no such key in this section",
                           key->name, key->section);
            return;
        }
    }
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
        const config_key *key = &config_keys[i];
        if (strcasecmp(key->section, section) == 0 && dw_is_close_word(name, key->name)) {
            dw_format(detail, detail_size, "no such key in section [%s]; did you mean '%s'?",
                           section, key->name);
            return;
        }
    }
    dw_format(detail, detail_size, "no such key in section [%s]; its keys are", section);
    const char *separator = " ";
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
        size_t used = strlen(detail);
        if (strcasecmp(config_keys[i].section, section) == 0 && used + 1 < detail_size) {
            dw_format(detail + used, detail_size - used, "%s%s", separator, config_keys[i].name);
            separator = ", ";
        }
    }
}

/* Applies `value` to key section.name. `key_lines` (NULL for the command line) remembers
 * where each key was set in the current file, to catch a key set twice. */
static void config_apply(dw_config *config, dw_config_report *report, uint8_t source_index,
                         uint32_t line, const char *section, const char *name, const char *value,
                         uint32_t *key_lines)
{
    char full_name[DW_CONFIG_KEY_MAX];
    dw_format(full_name, sizeof full_name, "%s%s%s", section, section[0] != '\0' ? "." : "",
                   name);
    size_t index = 0;
    if (!key_find(section, name, &index)) {
        char detail[DW_CONFIG_DETAIL_MAX];
        unknown_key_detail(section, name, detail, sizeof detail);
        report_add(report, DW_CONFIG_UNKNOWN_KEY, source_index, line, full_name, value, "%s",
                   detail);
        return;
    }
    const config_key *key = &config_keys[index];
    dw_format(full_name, sizeof full_name, "%s.%s", key->section, key->name);
    if (key_lines != NULL && key_lines[index] != 0) {
        report_add(report, DW_CONFIG_DUPLICATE, source_index, line, full_name, value,
                   "already set on line %u of this file; remove one of the two", key_lines[index]);
        return;
    }
    uint64_t parsed = 0;
    dw_config_problem_kind kind = DW_CONFIG_WRONG_TYPE;
    char detail[DW_CONFIG_DETAIL_MAX];
    if (parse_value(key, value, &parsed, &kind, detail, sizeof detail) != DW_OK) {
        report_add(report, kind, source_index, line, full_name, value, "%s", detail);
        return;
    }
    field_store(config, key, parsed, value);
    report->origins[index].source_index = source_index;
    report->origins[index].line = line;
    if (key_lines != NULL) {
        key_lines[index] = line;
    }
}

DW_API int dw_config_set(dw_config *config, const char *assignment, const char *source,
                         dw_config_report *report)
{
    DW_ASSERT(config != NULL && assignment != NULL && source != NULL && report != NULL);
    uint32_t problems_before = report->problem_count;
    uint8_t source_index = report_source(report, source);
    char text[DW_CONFIG_PATH_MAX + DW_CONFIG_KEY_MAX + 8];
    if (strlen(assignment) >= sizeof text) {
        report_add(report, DW_CONFIG_SYNTAX, source_index, 0, "", assignment,
                   "the assignment is longer than %zu characters", sizeof text - 1);
        return DW_ECONFIG;
    }
    memcpy(text, assignment, strlen(assignment) + 1);
    char *equals = strchr(text, '=');
    char *dot = strchr(text, '.');
    if (equals == NULL || dot == NULL || dot > equals) {
        report_add(report, DW_CONFIG_SYNTAX, source_index, 0, "", assignment,
                   "'%s' is not of the form section.key=value, e.g. io.queue_depth=64",
                   assignment);
        return DW_ECONFIG;
    }
    *equals = '\0';
    *dot = '\0';
    const char *section = dw_trim(text);
    const char *name = dw_trim(dot + 1);
    const char *value = dw_trim(equals + 1);
    if (!section_known(section)) {
        report_add(report, DW_CONFIG_UNKNOWN_KEY, source_index, 0, section, value,
                   "no section [%s]; the sections are vde, memory, io, limits, sched, log",
                   section);
        return DW_ECONFIG;
    }
    config_apply(config, report, source_index, 0, section, name, value, NULL);
    return report->problem_count == problems_before ? DW_OK : DW_ECONFIG;
}

/* ------------------------------------------------------------------------------------
 * Loading an INI file through libinih
 * ---------------------------------------------------------------------------------- */

/* Longer raw lines than this are consumed and reported without being parsed. */
#define LOADER_RAW_LINE_MAX 4096

typedef struct loader {
    dw_config *config;
    dw_config_report *report;
    FILE *file;
    uint8_t source_index;
    uint32_t line;              /* number of the line last handed to inih */
    bool line_needs_handler;    /* that line should have produced a handler call */
    bool line_handled;          /* and it did */
    bool section_ok;            /* the current section is known (or there is none yet) */
    bool read_failed;
    int read_errno;
    uint32_t key_lines[DW_CONFIG_KEYS_MAX];
    char line_text[DW_CONFIG_VALUE_MAX]; /* start of that line, to quote in a problem */
} loader;

static void loader_problem_syntax(loader *state, uint32_t line, const char *text,
                                  const char *detail)
{
    report_add(state->report, DW_CONFIG_SYNTAX, state->source_index, line, "", text, "%s", detail);
}

/* Reads one whole raw line without its newline. Returns false at the end of the file.
 * Sets *too_long when the line did not fit (the rest of it is consumed). */
static bool read_raw_line(loader *state, char *raw, size_t raw_size, bool *too_long)
{
    *too_long = false;
    if (fgets(raw, (int)raw_size, state->file) == NULL) {
        if (ferror(state->file)) {
            state->read_failed = true;
            state->read_errno = errno;
        }
        return false;
    }
    size_t length = strlen(raw);
    if (length > 0 && raw[length - 1] == '\n') {
        raw[--length] = '\0';
    } else if (!feof(state->file)) {
        *too_long = true;
        int character;
        while ((character = fgetc(state->file)) != EOF && character != '\n') {
        }
    }
    if (length > 0 && raw[length - 1] == '\r') {
        raw[--length] = '\0';
    }
    return true;
}

/* Called once the previous line has been through inih: a line that looked like
 * `key = value` material but produced no handler call had no '=' or ':'. */
static void loader_finish_line(loader *state)
{
    if (state->line_needs_handler && !state->line_handled) {
        loader_problem_syntax(state, state->line, state->line_text,
                              "expected 'key = value', '[section]' or a comment starting with "
                              "';' or '#'");
    }
    state->line_needs_handler = false;
    state->line_handled = false;
}

/* A section header "[name]": checks the name and writes the header back as "[name]"
 * without inner white space, since inih would keep "[ memory ]" as " memory ". */
static void loader_section(loader *state, const char *start, char *header, size_t header_size)
{
    const char *close = strchr(start, ']');
    DW_ASSERT(close != NULL);
    char name[DW_CONFIG_KEY_MAX];
    size_t length = (size_t)(close - start - 1);
    if (length >= sizeof name) {
        length = sizeof name - 1;
    }
    memcpy(name, start + 1, length);
    name[length] = '\0';
    const char *trimmed = dw_trim(name);
    dw_format(header, header_size, "[%s]", trimmed);
    state->section_ok = section_known(trimmed);
    if (state->section_ok) {
        return;
    }
    const char *suggestion = NULL;
    for (size_t i = 0; i < DW_ARRAY_COUNT(config_sections); i++) {
        if (dw_is_close_word(trimmed, config_sections[i])) {
            suggestion = config_sections[i];
        }
    }
    char detail[DW_CONFIG_DETAIL_MAX];
    if (suggestion != NULL) {
        dw_format(detail, sizeof detail,
                  "no section [%s]; did you mean [%s]? (its keys are skipped)", trimmed,
                  suggestion);
    } else {
        dw_format(detail, sizeof detail,
                  "no section [%s]; the sections are vde, memory, io, limits, sched, log "
                  "(its keys are skipped)",
                  trimmed);
    }
    report_add(state->report, DW_CONFIG_UNKNOWN_KEY, state->source_index, state->line, trimmed,
               "", "%s", detail);
}

/* inih's reader: hands it one line at a time, so the loader always knows the number of
 * the line being parsed, strips leading white space (an indented line would otherwise be
 * taken as the continuation of the previous value), and turns lines it has already
 * reported into comments so that each problem is reported once. */
static char *loader_read(char *buffer, int capacity, void *stream)
{
    loader *state = stream;
    loader_finish_line(state);
    char raw[LOADER_RAW_LINE_MAX];
    bool too_long = false;
    if (!read_raw_line(state, raw, sizeof raw, &too_long)) {
        return NULL;
    }
    state->line++;
    char *text = raw;
    if (state->line == 1 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3; /* a UTF-8 byte-order mark */
    }
    const char *start = dw_trim(text);
    char header[DW_CONFIG_KEY_MAX + 2];

    DW_ASSERT(capacity > 2);
    bool comment = start[0] == ';' || start[0] == '#';
    bool fits = !too_long && strlen(start) < (size_t)capacity - 1;
    if (comment) {
        start = ";"; /* a comment of any length is harmless; inih need not see it */
    } else if (!fits) {
        char detail[DW_CONFIG_DETAIL_MAX];
        dw_format(detail, sizeof detail,
                  "the line is longer than %d characters, the most a configuration line may "
                  "have",
                  capacity - 2);
        loader_problem_syntax(state, state->line, "", detail);
        start = ";";
    } else if (start[0] == '[') {
        if (strchr(start, ']') == NULL) {
            loader_problem_syntax(state, state->line, start,
                                  "a section header needs a closing ']', e.g. [io]");
            start = ";";
        } else {
            loader_section(state, start, header, sizeof header);
            start = header;
        }
    } else if (start[0] != '\0') {
        state->line_needs_handler = true;
        dw_format(state->line_text, sizeof state->line_text, "%s", start);
    }
    size_t length = strlen(start);
    memcpy(buffer, start, length);
    buffer[length] = '\n';
    buffer[length + 1] = '\0';
    return buffer;
}

static int loader_handle(void *user, const char *section, const char *name, const char *value)
{
    loader *state = user;
    state->line_handled = true;
    if (!state->section_ok) {
        return 1; /* the unknown section was reported once at its header */
    }
    if (name[0] == '\0') {
        loader_problem_syntax(state, state->line, value, "a key name is missing before '='");
        return 1;
    }
    config_apply(state->config, state->report, state->source_index, state->line, section, name,
                 value, state->key_lines);
    return 1; /* problems are recorded here; inih's own error line is not needed */
}

int dw_config_load_stream(dw_config *config, FILE *file, const char *name,
                          dw_config_report *report, dw_diag *diag)
{
    DW_ASSERT(config != NULL && file != NULL && name != NULL && report != NULL);
    uint32_t problems_before = report->problem_count;
    loader state = {
        .config = config,
        .report = report,
        .file = file,
        .source_index = report_source(report, name),
        .section_ok = true,
    };
    /* inih's own result (the first line it found wrong) adds nothing: the reader and the
     * handler have recorded every problem with its line. The last line is checked after
     * the parse, since no further read follows it. */
    (void)ini_parse_stream(loader_read, &state, loader_handle, &state);
    loader_finish_line(&state);
    if (state.read_failed) {
        return dw_diag_fail(diag, DW_EIO, "check the file system and the device",
                            "cannot read configuration '%s' after line %u: %s", name,
                            state.line, strerror(state.read_errno));
    }
    return report->problem_count == problems_before ? DW_OK : DW_ECONFIG;
}

DW_API int dw_config_load_file(dw_config *config, const char *path, dw_config_report *report,
                               dw_diag *diag)
{
    DW_ASSERT(config != NULL && path != NULL && report != NULL);
    FILE *file = fopen(path, "re");
    if (file == NULL) {
        int error_number = errno;
        return dw_diag_fail(diag, dw_error_from_errno(error_number),
                            "check the path, or run 'dw config show' to print a complete "
                            "configuration to start from",
                            "cannot open configuration file '%s': %s", path,
                            strerror(error_number));
    }
    struct stat status;
    if (fstat(fileno(file), &status) == 0 && S_ISDIR(status.st_mode)) {
        (void)fclose(file);
        return dw_diag_fail(diag, DW_EINVAL, "give the path of an INI file inside it",
                            "'%s' is a directory, not a configuration file", path);
    }
    int result = dw_config_load_stream(config, file, path, report, diag);
    (void)fclose(file);
    return result;
}

/* ------------------------------------------------------------------------------------
 * Combinations and paths
 * ---------------------------------------------------------------------------------- */

/* Adds a problem located where key `key_index` was set, quoting its effective value. */
static void report_add_for_key(dw_config_report *report, const dw_config *config,
                               dw_config_problem_kind kind, size_t key_index, const char *detail)
{
    const config_key *key = &config_keys[key_index];
    char name[DW_CONFIG_KEY_MAX];
    char value[DW_CONFIG_VALUE_MAX];
    dw_format(name, sizeof name, "%s.%s", key->section, key->name);
    field_format(config, key, value, sizeof value);
    const dw_config_origin *origin = &report->origins[key_index];
    report_add(report, kind, origin->source_index, origin->line, name, value, "%s", detail);
}

/* "memory.buffer_count = 1024 (default)" for the other key of a combination. */
static void key_with_origin(const dw_config_report *report, const dw_config *config,
                            size_t key_index, char *text, size_t text_size)
{
    const config_key *key = &config_keys[key_index];
    char value[DW_CONFIG_VALUE_MAX];
    char origin[DW_CONFIG_SOURCE_MAX + 16];
    field_format(config, key, value, sizeof value);
    origin_text(report, key_index, origin, sizeof origin);
    dw_format(text, text_size, "%s.%s = %s (%s)", key->section, key->name, value, origin);
}

static void validate_memory(const dw_config *config, dw_config_report *report)
{
    char detail[DW_CONFIG_DETAIL_MAX];
    uint64_t floor_bytes = dw_config_memory_floor_bytes(config);
    if (floor_bytes > config->memory_ceiling_bytes) {
        char floor_text[32];
        (void)dw_format_size(floor_bytes, floor_text, sizeof floor_text);
        dw_format(detail, sizeof detail,
                  "must be at least %s, what (memory.buffer_count + memory.cache_pages) "
                  "blocks of vde.block_size take; raise it or lower those",
                  floor_text);
        report_add_for_key(report, config, DW_CONFIG_INCONSISTENT, key_index("memory", "ceiling"), detail);
    }
    if (config->queue_depth > config->buffer_count) {
        char other[DW_CONFIG_VALUE_MAX + DW_CONFIG_SOURCE_MAX];
        key_with_origin(report, config, key_index("memory", "buffer_count"), other, sizeof other);
        dw_format(detail, sizeof detail,
                  "must not exceed %s: every I/O in flight holds one buffer", other);
        report_add_for_key(report, config, DW_CONFIG_INCONSISTENT, key_index("io", "queue_depth"), detail);
    }
}

static void validate_io(const dw_config *config, dw_config_report *report)
{
    if (config->io_sqpoll && (config->io_backend == DW_IO_BACKEND_PSYNC ||
                              config->io_backend == DW_IO_BACKEND_SIM)) {
        char other[DW_CONFIG_VALUE_MAX + DW_CONFIG_SOURCE_MAX];
        char detail[DW_CONFIG_DETAIL_MAX];
        key_with_origin(report, config, key_index("io", "backend"), other, sizeof other);
        dw_format(detail, sizeof detail, "needs an io_uring backend, but %s", other);
        report_add_for_key(report, config, DW_CONFIG_INCONSISTENT, key_index("io", "sqpoll"), detail);
    }
}

static void validate_limits(const dw_config *config, dw_config_report *report)
{
    char detail[DW_CONFIG_DETAIL_MAX];
    char other[DW_CONFIG_VALUE_MAX + DW_CONFIG_SOURCE_MAX];
    /* A key-index page must hold at least four keys for the tree to stay shallow. */
    if ((uint64_t)config->key_length_max * 4 > config->block_size) {
        key_with_origin(report, config, key_index("vde", "block_size"), other, sizeof other);
        dw_format(detail, sizeof detail,
                       "must be at most a quarter of %s, so that an index page holds four keys",
                       other);
        report_add_for_key(report, config, DW_CONFIG_INCONSISTENT, key_index("limits", "key_length_max"),
                           detail);
    }
    if (config->value_size_max > config->transaction_size_max) {
        key_with_origin(report, config, key_index("limits", "value_size_max"), other, sizeof other);
        dw_format(detail, sizeof detail,
                       "must be at least %s: a transaction must be able to hold the largest value",
                       other);
        report_add_for_key(report, config, DW_CONFIG_INCONSISTENT, key_index("limits", "transaction_size_max"),
                           detail);
    }
}

static void validate_paths(const dw_config *config, dw_config_report *report)
{
    if (config->log_file[0] == '\0') {
        return;
    }
    char directory[DW_CONFIG_PATH_MAX];
    dw_format(directory, sizeof directory, "%s", config->log_file);
    char *slash = strrchr(directory, '/');
    if (slash == NULL) {
        dw_format(directory, sizeof directory, ".");
    } else if (slash == directory) {
        slash[1] = '\0';
    } else {
        *slash = '\0';
    }
    char detail[DW_CONFIG_DETAIL_MAX];
    struct stat status;
    if (stat(directory, &status) != 0) {
        dw_format(detail, sizeof detail, "the directory '%.*s' does not exist (%s); create it "
                       "or leave log.file empty to log to standard error",
                       120, directory, strerror(errno));
        report_add_for_key(report, config, DW_CONFIG_MISSING_PATH, key_index("log", "file"), detail);
    } else if (!S_ISDIR(status.st_mode)) {
        dw_format(detail, sizeof detail, "'%.*s' is not a directory", 160, directory);
        report_add_for_key(report, config, DW_CONFIG_MISSING_PATH, key_index("log", "file"), detail);
    } else if (stat(config->log_file, &status) == 0 && S_ISDIR(status.st_mode)) {
        report_add_for_key(report, config, DW_CONFIG_MISSING_PATH, key_index("log", "file"),
                           "names a directory; give a file inside it, e.g. dwvd.log");
    }
}

DW_API int dw_config_validate(const dw_config *config, dw_config_report *report)
{
    DW_ASSERT(config != NULL && report != NULL);
    uint32_t problems_before = report->problem_count;
    validate_memory(config, report);
    validate_io(config, report);
    validate_limits(config, report);
    validate_paths(config, report);
    return report->problem_count == problems_before ? DW_OK : DW_ECONFIG;
}

/* ------------------------------------------------------------------------------------
 * Printing
 * ---------------------------------------------------------------------------------- */

void dw_config_print(const dw_config *config, const dw_config_report *report, FILE *out)
{
    DW_ASSERT(config != NULL && report != NULL && out != NULL);
    (void)fprintf(out, "; dwvd %s effective configuration. Each value's origin is in its comment;\n"
                       "; this output can be loaded back with --config.\n",
                  dw_version());
    const char *section = "";
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
        const config_key *key = &config_keys[i];
        if (strcmp(section, key->section) != 0) {
            section = key->section;
            (void)fprintf(out, "\n[%s]\n", section);
        }
        char value[DW_CONFIG_PATH_MAX];
        char range[DW_CONFIG_DETAIL_MAX];
        char origin[DW_CONFIG_SOURCE_MAX + 16];
        field_format(config, key, value, sizeof value);
        origin_text(report, i, origin, sizeof origin);
        if (key->type == KEY_BOOL || key->type == KEY_LOG_LEVEL || key->type == KEY_CHOICE) {
            range[0] = '\0';
        } else {
            range_text(key, range, sizeof range);
        }
        (void)fprintf(out, "; %s%s%s\n", key->summary, range[0] != '\0' ? "; " : "", range);
        /* Origins line up in a column where the value leaves room for it. */
        size_t used = strlen(key->name) + 3 + strlen(value);
        int padding = used < 32 ? (int)(32 - used) : 1;
        (void)fprintf(out, "%s = %s%*s; %s\n", key->name, value, padding, "", origin);
    }
}
