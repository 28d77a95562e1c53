/*
 * alloc_count.c — see alloc_count.h. Compiled with DW_ALLOC_INTERPOSE=1 (and
 * -fno-builtin) for the interposer, without it for the --wrap variant.
 */
#include "mem/alloc_count.h"

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

static _Atomic uint64_t allocation_count;
static _Atomic uint64_t free_count;

static _Atomic uint64_t fail_at;          /* the allocation number that fails; 0: none */
static _Atomic uint64_t injected_failures;

/* Counts an allocation; true when it is the one asked to fail (then it is not counted:
 * the counts stay those of allocations that took memory). */
static bool allocation_fails(void)
{
    uint64_t number = atomic_fetch_add_explicit(&allocation_count, 1, memory_order_relaxed) + 1;
    uint64_t target = atomic_load_explicit(&fail_at, memory_order_relaxed);
    if (target != 0 && number == target) {
        atomic_fetch_sub_explicit(&allocation_count, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&injected_failures, 1, memory_order_relaxed);
        errno = ENOMEM;
        return true;
    }
    return false;
}

static void count_free(const void *pointer)
{
    if (pointer != NULL) {
        atomic_fetch_add_explicit(&free_count, 1, memory_order_relaxed);
    }
}

#if DW_ALLOC_INTERPOSE

/* Parameter names follow this project's style, not glibc's reserved ones; the NOLINTs
 * say so to clang-tidy. */
extern void *__libc_malloc(size_t size);
extern void __libc_free(void *pointer);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

void *malloc(size_t size)
{
    if (allocation_fails()) {
        return NULL;
    }
    return __libc_malloc(size);
}

void free(void *pointer) // NOLINT(readability-inconsistent-declaration-parameter-name)
{
    count_free(pointer);
    __libc_free(pointer);
}

void *calloc(size_t count, size_t size) // NOLINT(readability-inconsistent-declaration-parameter-name)
{
    if (allocation_fails()) {
        return NULL;
    }
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) // NOLINT(readability-inconsistent-declaration-parameter-name)
{
    if (allocation_fails()) {
        return NULL;
    }
    return __libc_realloc(pointer, size);
}

void *aligned_alloc(size_t alignment, size_t size)
{
    if (allocation_fails()) {
        return NULL;
    }
    return __libc_memalign(alignment, size);
}

/* The remaining functions glibc asks a replacement malloc to provide (declared in
 * malloc.h). */
void *memalign(size_t alignment, size_t size)
{
    if (allocation_fails()) {
        return NULL;
    }
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **pointer, size_t alignment, size_t size) // NOLINT(readability-inconsistent-declaration-parameter-name)
{
    if (allocation_fails()) {
        return ENOMEM;
    }
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) {
        return EINVAL;
    }
    void *memory = __libc_memalign(alignment, size);
    if (memory == NULL) {
        return ENOMEM;
    }
    *pointer = memory;
    return 0;
}

void *valloc(size_t size)
{
    if (allocation_fails()) {
        return NULL;
    }
    return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

void *pvalloc(size_t size)
{
    if (allocation_fails()) {
        return NULL;
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return __libc_memalign(page, (size + page - 1) & ~(page - 1));
}

const char *dw_alloc_counting_mechanism(void)
{
    return "interposer";
}

#else /* the --wrap variant */

void *__real_malloc(size_t size);
void __real_free(void *pointer);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *pointer, size_t size);
void *__real_aligned_alloc(size_t alignment, size_t size);
int __real_posix_memalign(void **pointer, size_t alignment, size_t size);
void *__wrap_malloc(size_t size);
void __wrap_free(void *pointer);
void *__wrap_calloc(size_t count, size_t size);
void *__wrap_realloc(void *pointer, size_t size);
void *__wrap_aligned_alloc(size_t alignment, size_t size);
int __wrap_posix_memalign(void **pointer, size_t alignment, size_t size);

void *__wrap_malloc(size_t size)
{
    if (allocation_fails()) {
        return NULL;
    }
    return __real_malloc(size);
}

void __wrap_free(void *pointer)
{
    count_free(pointer);
    __real_free(pointer);
}

void *__wrap_calloc(size_t count, size_t size)
{
    if (allocation_fails()) {
        return NULL;
    }
    return __real_calloc(count, size);
}

void *__wrap_realloc(void *pointer, size_t size)
{
    if (allocation_fails()) {
        return NULL;
    }
    return __real_realloc(pointer, size);
}

void *__wrap_aligned_alloc(size_t alignment, size_t size)
{
    if (allocation_fails()) {
        return NULL;
    }
    return __real_aligned_alloc(alignment, size);
}

int __wrap_posix_memalign(void **pointer, size_t alignment, size_t size)
{
    if (allocation_fails()) {
        return ENOMEM;
    }
    return __real_posix_memalign(pointer, alignment, size);
}

const char *dw_alloc_counting_mechanism(void)
{
    return "wrap";
}

#endif

dw_alloc_counts dw_alloc_counts_now(void)
{
    dw_alloc_counts counts = {
        .allocations = atomic_load_explicit(&allocation_count, memory_order_acquire),
        .frees = atomic_load_explicit(&free_count, memory_order_acquire),
    };
    return counts;
}

uint64_t dw_alloc_counts_since(dw_alloc_counts mark)
{
    dw_alloc_counts now = dw_alloc_counts_now();
    return (now.allocations - mark.allocations) + (now.frees - mark.frees);
}

void dw_alloc_fail_at(uint64_t nth)
{
    uint64_t now = atomic_load_explicit(&allocation_count, memory_order_relaxed);
    atomic_store_explicit(&fail_at, nth == 0 ? 0 : now + nth, memory_order_relaxed);
}

uint64_t dw_alloc_injected_failures(void)
{
    return atomic_load_explicit(&injected_failures, memory_order_relaxed);
}

bool dw_alloc_counting_works(void)
{
    /* Called through a volatile pointer, so the compiler cannot prove the pair is
     * unused and remove it. */
    void *(*volatile allocate)(size_t) = malloc;
    void (*volatile release)(void *) = free;
    dw_alloc_counts before = dw_alloc_counts_now();
    void *probe = allocate(16);
    release(probe);
    dw_alloc_counts after = dw_alloc_counts_now();
    return probe != NULL && after.allocations > before.allocations && after.frees > before.frees;
}
