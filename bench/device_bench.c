/*
 * device_bench.c — `dw-device-bench`: N random single-block asynchronous writes through
 * dw_device (dw_device_write_async, then dw_device_drain), on a real file, with the
 * scheduler's I/O thread running as in an open VDE. This is a checkpoint step's I/O
 * pattern, measured alone: the time to submit, the time to drain, the IOPS of the
 * whole, and the context switches the process made (getrusage), so that the figures
 * can be set beside fio's randwrite at the matching queue depth and beside `strace -c`.
 *
 * It never asserts on speed: it prints what it measured.
 *
 *   dw-device-bench [--file PATH] [--size MiB] [--writes N] [--rounds R]
 *                   [--priority critical|high|normal|best-effort] [--sorted]
 *                   [--queue-depth D] [--backend io_uring|psync]
 *
 * --sorted submits each round's blocks in ascending order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/clock.h"
#include "core/random.h"
#include "io_run.h"
#include "stack.h"
#include "vde/device.h"

#define BLOCK UINT32_C(4096)
#define WRITES_MAX UINT32_C(65536)

typedef struct bench_options {
    const char *path;
    uint64_t size_mib;
    uint32_t writes;
    uint32_t rounds;
    uint32_t queue_depth;
    dw_priority priority;
    dw_io_backend backend;
    bool sorted;
} bench_options;

static int compare_blocks(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool parse(int argc, char **argv, bench_options *options)
{
    *options = (bench_options){"dwvd-bench-device.data", 1024, 64, 200, 32, DW_PRIORITY_NORMAL,
                               DW_IO_BACKEND_IO_URING, false};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--sorted") == 0) {
            options->sorted = true;
            continue;
        }
        if (value == NULL) {
            return false;
        }
        i++;
        if (strcmp(arg, "--file") == 0) {
            options->path = value;
        } else if (strcmp(arg, "--size") == 0) {
            options->size_mib = strtoull(value, NULL, 10);
        } else if (strcmp(arg, "--writes") == 0) {
            options->writes = (uint32_t)strtoul(value, NULL, 10);
        } else if (strcmp(arg, "--rounds") == 0) {
            options->rounds = (uint32_t)strtoul(value, NULL, 10);
        } else if (strcmp(arg, "--queue-depth") == 0) {
            options->queue_depth = (uint32_t)strtoul(value, NULL, 10);
        } else if (strcmp(arg, "--backend") == 0) {
            options->backend = strcmp(value, "psync") == 0 ? DW_IO_BACKEND_PSYNC : DW_IO_BACKEND_IO_URING;
        } else if (strcmp(arg, "--priority") == 0) {
            const char *names[] = {"critical", "high", "normal", "best-effort"};
            bool known = false;
            for (int p = 0; p < DW_PRIORITY_COUNT; p++) {
                if (strcmp(value, names[p]) == 0) {
                    options->priority = (dw_priority)p;
                    known = true;
                }
            }
            if (!known) {
                return false;
            }
        } else {
            return false;
        }
    }
    return options->writes > 0 && options->writes <= WRITES_MAX && options->rounds > 0 &&
           options->size_mib >= 16 && options->queue_depth >= 1;
}

/* One round: `writes` distinct random blocks, written asynchronously, then drained. */
static int run_round(dw_device *device, const bench_options *options, dw_random *random, uint64_t *blocks,
                     const unsigned char *data, uint64_t *submit_ns, uint64_t *drain_ns)
{
    uint64_t block_count = device->block_count;
    for (uint32_t i = 0; i < options->writes; i++) {
        blocks[i] = dw_random_below(random, block_count);
    }
    if (options->sorted) {
        qsort(blocks, options->writes, sizeof blocks[0], compare_blocks);
    }
    dw_diag diag;
    const dw_clock *clock = device->clock;
    dw_device_begin_op(device, 10 * DW_NS_PER_S, options->priority);
    uint64_t start = dw_clock_now_ns(clock);
    int result = DW_OK;
    for (uint32_t i = 0; i < options->writes && result == DW_OK; i++) {
        result = dw_device_write_async(device, blocks[i], 1, data + (size_t)i * BLOCK, &diag);
    }
    uint64_t submitted = dw_clock_now_ns(clock);
    if (result == DW_OK) {
        result = dw_device_drain(device, &diag);
    }
    uint64_t drained = dw_clock_now_ns(clock);
    if (result != DW_OK) {
        (void)fprintf(stderr, "dw-device-bench: %s\n", diag.message);
    }
    *submit_ns += submitted - start;
    *drain_ns += drained - submitted;
    return result;
}

int main(int argc, char **argv)
{
    bench_options options;
    if (!parse(argc, argv, &options)) {
        (void)fprintf(stderr,
                      "usage: dw-device-bench [--file PATH] [--size MiB] [--writes N<=65536] [--rounds R]\n"
                      "       [--priority critical|high|normal|best-effort] [--sorted]\n"
                      "       [--queue-depth D] [--backend io_uring|psync]\n");
        return 2;
    }
    uint64_t size = options.size_mib << 20;
    dw_diag diag;
    if (dw_bench_fill_file(options.path, size, &diag) != DW_OK) {
        (void)fprintf(stderr, "dw-device-bench: %s\n", diag.message);
        return 1;
    }
    dw_config config;
    dw_config_defaults(&config);
    config.queue_depth = options.queue_depth;
    config.io_backend = options.backend;
    config.io_realtime = false;
    dw_stack_options stack_options = {.config = &config, .path = options.path, .size_bytes = size};
    dw_stack *stack = dw_stack_open(&stack_options, &diag);
    if (stack == NULL || dw_sched_start(&stack->sched, &diag) != DW_OK) {
        (void)fprintf(stderr, "dw-device-bench: %s\n", diag.message);
        dw_stack_close(stack);
        return 1;
    }
    static dw_device device;
    dw_device_init(&device, &stack->sched, stack->clock, options.path, BLOCK, size / BLOCK, false,
                   config.queue_depth);
    /* The bench's own memory, not the engine's. */
    uint64_t *blocks = malloc(sizeof(uint64_t) * options.writes);
    unsigned char *data = aligned_alloc(BLOCK, (size_t)options.writes * BLOCK);
    if (blocks == NULL || data == NULL) {
        (void)fprintf(stderr, "dw-device-bench: out of memory\n");
        return 1;
    }
    memset(data, 0x5a, (size_t)options.writes * BLOCK);
    dw_random random;
    dw_random_seed(&random, 7);
    /* One round unmeasured: the ring and the file's extents warm up. */
    uint64_t submit_ns = 0;
    uint64_t drain_ns = 0;
    int result = run_round(&device, &options, &random, blocks, data, &submit_ns, &drain_ns);
    submit_ns = 0;
    drain_ns = 0;
    struct rusage before;
    struct rusage after;
    (void)getrusage(RUSAGE_SELF, &before);
    for (uint32_t round = 0; round < options.rounds && result == DW_OK; round++) {
        result = run_round(&device, &options, &random, blocks, data, &submit_ns, &drain_ns);
    }
    (void)getrusage(RUSAGE_SELF, &after);
    dw_sched_stats stats;
    (void)dw_sched_stop(&stack->sched, DW_NS_PER_S);
    stack->stopped = true;
    dw_sched_stats_read(&stack->sched, &stats);
    uint64_t total = (uint64_t)options.writes * options.rounds;
    double seconds = (double)(submit_ns + drain_ns) / 1e9;
    long switches = (after.ru_nvcsw - before.ru_nvcsw) + (after.ru_nivcsw - before.ru_nivcsw);
    (void)printf("dw-device-bench: %s, %s, queue depth %u, priority %s, %u %s writes a round, %u rounds\n",
                 options.path, dw_io_backend_name(stack->io.backend), config.queue_depth,
                 dw_priority_name(options.priority), options.writes,
                 options.sorted ? "sorted" : "random", options.rounds);
    (void)printf("  per round: submit %.3f ms, drain %.3f ms, total %.3f ms\n",
                 (double)submit_ns / 1e6 / options.rounds, (double)drain_ns / 1e6 / options.rounds,
                 (double)(submit_ns + drain_ns) / 1e6 / options.rounds);
    (void)printf("  %.0f IOPS (%llu block writes in %.3f s), scheduler requests %llu, "
                 "context switches %.2f a write, O_DIRECT %s\n",
                 (double)total / seconds, (unsigned long long)total, seconds,
                 (unsigned long long)stats.completed, (double)switches / (double)total,
                 stack->io.direct ? "yes" : "no");
    free(blocks);
    free(data);
    dw_stack_close(stack);
    return result == DW_OK ? 0 : 1;
}
