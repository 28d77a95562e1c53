/*
 * io_run.c — see io_run.h.
 *
 * The file is filled with real data before it is read: a file system serves reads of
 * holes and of unwritten extents without touching the device, which would measure
 * nothing. Offsets are uniformly random over the whole file, from a fixed seed.
 */
#include "io_run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/random.h"
#include "core/text.h"
#include "io/io.h"
#include "mem/arena.h"
#include "mem/pool.h"

#define RUN_BLOCK UINT32_C(4096)
#define RUN_DEPTH_MAX 256
#define FILL_CHUNK (UINT64_C(1) << 20)

const char *dw_io_workload_name(dw_io_workload workload)
{
    return workload == DW_IO_WORKLOAD_RANDREAD ? "randread" : "randwrite+fdatasync";
}

int dw_bench_fill_file(const char *path, uint64_t size_bytes, dw_diag *diag)
{
    struct stat status;
    if (stat(path, &status) == 0 && (uint64_t)status.st_size == size_bytes) {
        return DW_OK;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        int error_number = errno;
        return dw_diag_fail(diag, dw_error_from_errno(error_number), "choose a writable --file",
                            "cannot create '%s': %s", path, strerror(error_number));
    }
    unsigned char *chunk = malloc(FILL_CHUNK); /* the benchmark's own setup, not the engine */
    if (chunk == NULL) {
        (void)close(fd);
        return dw_diag_fail(diag, DW_ENOMEM, NULL, "cannot allocate the fill buffer");
    }
    dw_random random;
    dw_random_seed(&random, 1);
    int result = DW_OK;
    for (uint64_t done = 0; done < size_bytes && result == DW_OK; done += FILL_CHUNK) {
        for (size_t i = 0; i < FILL_CHUNK; i += 8) {
            uint64_t word = dw_random_next(&random);
            memcpy(chunk + i, &word, 8);
        }
        size_t length = (size_t)(size_bytes - done < FILL_CHUNK ? size_bytes - done : FILL_CHUNK);
        if (pwrite(fd, chunk, length, (off_t)done) != (ssize_t)length) {
            int error_number = errno;
            result = dw_diag_fail(diag, dw_error_from_errno(error_number), NULL,
                                  "cannot fill '%s' at offset %llu: %s", path,
                                  (unsigned long long)done, strerror(error_number));
        }
    }
    free(chunk);
    if (result == DW_OK && fsync(fd) != 0) {
        result = dw_diag_fail(diag, DW_EIO, NULL, "cannot sync '%s'", path);
    }
    (void)close(fd);
    return result;
}

typedef struct run_context {
    dw_io io;
    dw_random random;
    uint64_t blocks;
    unsigned char *buffers[RUN_DEPTH_MAX];
} run_context;

static dw_io_request random_request(run_context *context, dw_io_op op, uint32_t buffer)
{
    uint64_t block = dw_random_below(&context->random, context->blocks);
    return (dw_io_request){op, RUN_BLOCK, block * RUN_BLOCK, context->buffers[buffer], buffer, false};
}

static void submit_one(run_context *context, const dw_io_request *request)
{
    uint32_t accepted = 0;
    int result = dw_io_submit(&context->io, request, 1, &accepted, NULL);
    DW_ASSERT(result == DW_OK && accepted == 1); /* a slot is free: one per buffer */
}

/* Keeps `depth` random reads in flight for the duration. */
static void run_reads(run_context *context, uint32_t depth, uint64_t duration_ns,
                      dw_io_run_result *result)
{
    const dw_clock *clock = context->io.clock;
    uint64_t start = dw_clock_now_ns(clock);
    for (uint32_t i = 0; i < depth; i++) {
        dw_io_request request = random_request(context, DW_IO_READ, i);
        submit_one(context, &request);
    }
    dw_io_completion completions[RUN_DEPTH_MAX];
    bool running = true;
    while (dw_io_in_flight(&context->io) > 0) {
        uint32_t count = dw_io_reap(&context->io, completions, depth, DW_NS_PER_S);
        running = running && dw_clock_now_ns(clock) - start < duration_ns;
        for (uint32_t i = 0; i < count; i++) {
            DW_ASSERT(completions[i].result == DW_OK);
            dw_histogram_record(&result->latency, completions[i].latency_ns);
            result->operations++;
            if (running) {
                dw_io_request request = random_request(context, DW_IO_READ, (uint32_t)completions[i].user_data);
                submit_one(context, &request);
            }
        }
    }
    result->elapsed_ns = dw_clock_now_ns(clock) - start;
}

/* One random write, then fdatasync, then the next: a commit at a time. */
static void run_synced_writes(run_context *context, uint64_t duration_ns, dw_io_run_result *result)
{
    const dw_clock *clock = context->io.clock;
    uint64_t start = dw_clock_now_ns(clock);
    dw_io_request sync = {.op = DW_IO_SYNC};
    dw_io_completion completion;
    while (dw_clock_now_ns(clock) - start < duration_ns) {
        uint64_t pair_start = dw_clock_now_ns(clock);
        dw_io_request write = random_request(context, DW_IO_WRITE, 0);
        submit_one(context, &write);
        while (dw_io_reap(&context->io, &completion, 1, DW_NS_PER_S) == 0) {
        }
        DW_ASSERT(completion.result == DW_OK);
        submit_one(context, &sync);
        while (dw_io_reap(&context->io, &completion, 1, DW_NS_PER_S) == 0) {
        }
        DW_ASSERT(completion.result == DW_OK);
        dw_histogram_record(&result->latency, dw_clock_now_ns(clock) - pair_start);
        result->operations++;
    }
    result->elapsed_ns = dw_clock_now_ns(clock) - start;
}

static int run_case(const dw_io_run_options *options, const dw_arena *arena, const dw_io_plan *plan,
                    dw_pool *pool, const dw_clock *clock, dw_io_run_result *result, dw_diag *diag)
{
    static run_context context;
    const dw_io_run_case *run = &result->run;
    DW_ASSERT(run->queue_depth >= 1 && run->queue_depth <= plan->queue_depth);
    dw_io_options io_options = {
        .path = options->path,
        .backend = run->backend,
        .queue_depth = run->queue_depth,
        .block_size = RUN_BLOCK,
        .direct = options->config->io_direct,
        .pool = pool,
        .clock = clock,
    };
    int status = dw_io_open(&context.io, arena, plan, &io_options, diag);
    if (status != DW_OK) {
        return status;
    }
    dw_random_seed(&context.random, 42);
    context.blocks = context.io.size_bytes / RUN_BLOCK;
    for (uint32_t i = 0; i < run->queue_depth; i++) {
        context.buffers[i] = dw_pool_try_rent(pool);
        DW_ASSERT(context.buffers[i] != NULL);
    }
    dw_histogram_reset(&result->latency);
    result->direct = context.io.direct;
    uint64_t duration_ns = options->seconds * DW_NS_PER_S;
    if (run->workload == DW_IO_WORKLOAD_RANDREAD) {
        run_reads(&context, run->queue_depth, duration_ns, result);
    } else {
        run_synced_writes(&context, duration_ns, result);
    }
    result->iops = (double)result->operations * 1e9 / (double)result->elapsed_ns;
    for (uint32_t i = 0; i < run->queue_depth; i++) {
        (void)dw_pool_give_back(pool, context.buffers[i], NULL);
    }
    dw_io_close(&context.io);
    return DW_OK;
}

int dw_io_run(const dw_io_run_options *options, dw_io_run_result *results, dw_diag *diag)
{
    DW_ASSERT(options->case_count <= DW_IO_RUN_CASES_MAX);
    uint32_t depth = 1;
    for (uint32_t i = 0; i < options->case_count; i++) {
        depth = options->cases[i].queue_depth > depth ? options->cases[i].queue_depth : depth;
    }
    if (depth > RUN_DEPTH_MAX || options->size_bytes < UINT64_C(16) * RUN_BLOCK || options->size_bytes % RUN_BLOCK != 0) {
        return dw_diag_fail(diag, DW_EINVAL, "use queue depths up to 256 and a size of whole 4 KiB blocks",
                            "cannot run: queue depth %u, file size %llu bytes", depth,
                            (unsigned long long)options->size_bytes);
    }
    int result = dw_bench_fill_file(options->path, options->size_bytes, diag);
    if (result != DW_OK) {
        return result;
    }
    dw_clock clock;
    dw_clock_system_init(&clock, 0);
    dw_budget budget;
    dw_budget_init(&budget, options->config->memory_ceiling_bytes, options->config->pressure_percent);
    dw_arena arena;
    dw_arena_init(&arena, &budget);
    dw_pool_plan pool_plan;
    dw_io_plan io_plan;
    result = dw_pool_plan_in(&arena, depth, RUN_BLOCK, &pool_plan, diag);
    if (result == DW_OK) {
        result = dw_io_plan_in(&arena, depth, &io_plan, diag);
    }
    if (result == DW_OK) {
        result = dw_arena_allocate(&arena, options->config->memory_lock, diag);
    }
    if (result == DW_OK) {
        dw_pool *pool = dw_pool_open_in(&arena, &pool_plan, &clock);
        for (uint32_t i = 0; i < options->case_count && result == DW_OK; i++) {
            results[i].run = options->cases[i];
            results[i].operations = 0;
            result = run_case(options, &arena, &io_plan, pool, &clock, &results[i], diag);
        }
    }
    dw_arena_close(&arena);
    return result;
}
