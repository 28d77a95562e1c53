/*
 * test_alloc_count.c — the allocation counter sees every kind of allocation, so that a
 * test asserting zero allocations could fail.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "mem/alloc_count.h"

/* Called through volatile pointers so the compiler keeps every call. */
static void *(*volatile call_malloc)(size_t) = malloc;
static void *(*volatile call_calloc)(size_t, size_t) = calloc;
static void *(*volatile call_realloc)(void *, size_t) = realloc;
static void *(*volatile call_aligned_alloc)(size_t, size_t) = aligned_alloc;
static int (*volatile call_posix_memalign)(void **, size_t, size_t) = posix_memalign;
static void (*volatile call_free)(void *) = free;

static void counting_works(void **state)
{
    (void)state;
    assert_true(dw_alloc_counting_works());
    const char *mechanism = dw_alloc_counting_mechanism();
    assert_true(strcmp(mechanism, "interposer") == 0 || strcmp(mechanism, "wrap") == 0);
    printf("# allocation counting by %s\n", mechanism);
}

static void every_allocator_entry_point_counts(void **state)
{
    (void)state;
    dw_alloc_counts before = dw_alloc_counts_now();
    void *a = call_malloc(10);
    void *b = call_calloc(3, 10);
    void *c = call_realloc(NULL, 10);
    c = call_realloc(c, 100);
    void *d = call_aligned_alloc(64, 128);
    void *e = NULL;
    assert_int_equal(call_posix_memalign(&e, 64, 128), 0);
    dw_alloc_counts after = dw_alloc_counts_now();
    assert_int_equal(after.allocations - before.allocations, 6);
    assert_int_equal(after.frees - before.frees, 0);
    call_free(a);
    call_free(b);
    call_free(c);
    call_free(d);
    call_free(e);
    call_free(NULL); /* freeing nothing is not counted */
    assert_int_equal(dw_alloc_counts_now().frees - before.frees, 5);
    assert_int_equal(dw_alloc_counts_since(before), 11);
}

static void nothing_counted_when_nothing_allocates(void **state)
{
    (void)state;
    char buffer[256];
    dw_alloc_counts before = dw_alloc_counts_now();
    for (int i = 0; i < 1000; i++) {
        memset(buffer, i, sizeof buffer);
    }
    assert_int_equal(dw_alloc_counts_since(before), 0);
    assert_int_equal(buffer[0], (char)999);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counting_works),
        cmocka_unit_test(every_allocator_entry_point_counts),
        cmocka_unit_test(nothing_counted_when_nothing_allocates),
    };
    return cmocka_run_group_tests_name("alloc_count", tests, NULL, NULL);
}
