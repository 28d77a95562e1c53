/*
 * alloc_count.h — counts calls to the C allocator, to prove "no allocation between here
 * and there".
 *
 * Linked into the tests and the dw program, never into libdwvd: a library must not
 * replace its user's malloc. Two mechanisms, chosen by the build:
 *
 *   interposer  (plain builds) malloc, free, calloc, realloc, aligned_alloc,
 *               posix_memalign, memalign, valloc and pvalloc are defined here and forward
 *               to glibc's __libc_* functions, glibc's documented way to replace malloc.
 *               Every allocation in the process counts, the C library's own included.
 *   wrap        (sanitizer builds, whose runtime owns malloc) the linker's --wrap sends
 *               the calls made by dwvd's and the tests' own code through counters; calls
 *               made inside shared libraries are not seen.
 *
 * The counters are process-wide, like the allocator they watch.
 */
#ifndef DW_MEM_ALLOC_COUNT_H
#define DW_MEM_ALLOC_COUNT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct dw_alloc_counts {
    uint64_t allocations;   /* malloc, calloc, realloc and the aligned variants */
    uint64_t frees;         /* free of a non-NULL pointer */
} dw_alloc_counts;

dw_alloc_counts dw_alloc_counts_now(void);

/* Allocations and frees since `mark`. */
uint64_t dw_alloc_counts_since(dw_alloc_counts mark);

/* "interposer" or "wrap". */
const char *dw_alloc_counting_mechanism(void);

/* Failure injection, for anomaly sweeps: the nth allocation from now (1: the next)
 * fails as if memory ran out (NULL with errno ENOMEM; posix_memalign returns ENOMEM).
 * 0 cancels. Failed allocations are not counted in dw_alloc_counts. Like the counters,
 * it sees what the mechanism sees: every allocation (interposer) or dwvd's and the
 * tests' own (wrap). */
void dw_alloc_fail_at(uint64_t nth);

/* Allocations failed by dw_alloc_fail_at so far. */
uint64_t dw_alloc_injected_failures(void);

/* Allocates and frees one small block and checks both were counted, so a report of zero
 * allocations can be trusted. */
bool dw_alloc_counting_works(void);

#endif /* DW_MEM_ALLOC_COUNT_H */
