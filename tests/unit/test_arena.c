/*
 * test_arena.c — one mapping carved by plan: alignment, budget accounting, refusal before
 * anything is mapped, release on close, and the RLIMIT_MEMLOCK message.
 */
#include "harness.h"

#include <stdbool.h>

#include <linux/capability.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mem/arena.h"

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)

static void pieces_are_aligned_charged_and_released(void **state)
{
    (void)state;
    dw_budget budget;
    dw_budget_init(&budget, 4 * MIB, 85);
    dw_arena arena;
    dw_arena_init(&arena, &budget);
    uint32_t small = 0;
    uint32_t buffers = 0;
    assert_int_equal(dw_arena_plan(&arena, "small", 100, 64, &small, NULL), DW_OK);
    assert_int_equal(dw_arena_plan(&arena, "buffers", 64 * KIB, 4096, &buffers, NULL), DW_OK);
    /* The second piece starts on the next page; the padding is charged to it. */
    assert_int_equal(arena.pieces[buffers].offset, 4096);
    assert_int_equal(arena.pieces[buffers].charged_bytes, 4096 - 100 + 64 * KIB);
    assert_int_equal(budget.reserved_bytes, 4096 + 64 * KIB);
    assert_int_equal(dw_arena_allocate(&arena, false, NULL), DW_OK);
    assert_int_equal(arena.mapped_bytes, 4096 + 64 * KIB);
    unsigned char *a = dw_arena_piece_memory(&arena, small);
    unsigned char *b = dw_arena_piece_memory(&arena, buffers);
    assert_int_equal((uintptr_t)a % 64, 0);
    assert_int_equal((uintptr_t)b % 4096, 0);
    memset(a, 0xaa, 100);
    memset(b, 0xbb, 64 * KIB);
    assert_int_equal(a[99], 0xaa);
    assert_int_equal(b[0], 0xbb);
    /* Mapped means used, to the byte. */
    assert_int_equal(budget.used_bytes, budget.reserved_bytes);
    dw_arena_close(&arena);
    assert_int_equal(budget.reserved_bytes, 0);
    assert_int_equal(budget.used_bytes, 0);
    assert_int_equal(budget.component_count, 0);
    dw_arena_close(&arena); /* twice is harmless */
}

static void a_piece_over_the_ceiling_is_refused_before_mapping(void **state)
{
    (void)state;
    dw_budget budget;
    dw_budget_init(&budget, MIB, 85);
    dw_arena arena;
    dw_arena_init(&arena, &budget);
    uint32_t piece = 0;
    dw_diag diag;
    dw_diag_clear(&diag);
    assert_int_equal(dw_arena_plan(&arena, "pool", 768 * KIB, 4096, &piece, &diag), DW_OK);
    assert_int_equal(dw_arena_plan(&arena, "cache", 512 * KIB, 4096, &piece, &diag),
                     DW_ENOMEM_BUDGET);
    assert_non_null(strstr(diag.message, "'cache'"));
    assert_non_null(strstr(diag.message, "only 256KiB of the 1MiB memory ceiling is left"));
    assert_null(arena.base);
    dw_arena_close(&arena);
    assert_int_equal(budget.reserved_bytes, 0);
    assert_int_equal(budget.component_count, 0);
}

static void page_rounding_is_budgeted_too(void **state)
{
    (void)state;
    dw_budget budget;
    dw_budget_init(&budget, 5000, 85);
    dw_arena arena;
    dw_arena_init(&arena, &budget);
    uint32_t piece = 0;
    assert_int_equal(dw_arena_plan(&arena, "odd", 4097, 64, &piece, NULL), DW_OK);
    dw_diag diag;
    dw_diag_clear(&diag);
    /* 4097 bytes map two pages, 8192 bytes, more than the 5000-byte ceiling. */
    assert_int_equal(dw_arena_allocate(&arena, false, &diag), DW_ENOMEM_BUDGET);
    assert_non_null(strstr(diag.message, "arena page rounding"));
    assert_null(arena.base);
    assert_int_equal(budget.reserved_bytes, 0);

    dw_budget_init(&budget, 8192, 85);
    dw_arena_init(&arena, &budget);
    assert_int_equal(dw_arena_plan(&arena, "odd", 4097, 64, &piece, NULL), DW_OK);
    assert_int_equal(dw_arena_allocate(&arena, false, NULL), DW_OK);
    assert_int_equal(budget.reserved_bytes, 8192);
    dw_arena_close(&arena);
    assert_int_equal(budget.reserved_bytes, 0);
}

static void an_empty_arena_maps_nothing(void **state)
{
    (void)state;
    dw_budget budget;
    dw_budget_init(&budget, MIB, 85);
    dw_arena arena;
    dw_arena_init(&arena, &budget);
    assert_int_equal(dw_arena_allocate(&arena, true, NULL), DW_OK);
    assert_null(arena.base);
    dw_arena_close(&arena);
}

static void a_locked_arena_is_locked_or_says_why_not(void **state)
{
    (void)state;
    struct rlimit limit;
    assert_int_equal(getrlimit(RLIMIT_MEMLOCK, &limit), 0);
    bool allowed = geteuid() == 0 || limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= 64 * KIB;
    dw_budget budget;
    dw_budget_init(&budget, MIB, 85);
    dw_arena arena;
    dw_arena_init(&arena, &budget);
    uint32_t piece = 0;
    assert_int_equal(dw_arena_plan(&arena, "locked", 32 * KIB, 4096, &piece, NULL), DW_OK);
    dw_diag diag;
    dw_diag_clear(&diag);
    int result = dw_arena_allocate(&arena, true, &diag);
    if (allowed) {
        assert_int_equal(result, DW_OK);
        assert_true(arena.locked);
    } else {
        assert_int_equal(result, DW_ENOMEM);
        assert_non_null(strstr(diag.message, "RLIMIT_MEMLOCK"));
    }
    dw_arena_close(&arena);
    assert_false(arena.locked);
    assert_int_equal(budget.reserved_bytes, 0);
}

#if !DW_TEST_SANITIZED
/* In a child: lose the capability that lifts RLIMIT_MEMLOCK, lower the limit, try to
 * lock 1 MiB, and print what happened for the parent to read. */
static void lock_beyond_the_limit(void *argument)
{
    (void)argument;
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &header, data) == 0) {
        data[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
        data[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
        (void)syscall(SYS_capset, &header, data);
    }
    struct rlimit limit = {64 * KIB, 64 * KIB};
    if (setrlimit(RLIMIT_MEMLOCK, &limit) != 0) {
        fprintf(stderr, "setup failed: setrlimit\n");
        return;
    }
    dw_budget budget;
    dw_budget_init(&budget, 4 * MIB, 85);
    dw_arena arena;
    dw_arena_init(&arena, &budget);
    uint32_t piece = 0;
    dw_diag diag;
    dw_diag_clear(&diag);
    if (dw_arena_plan(&arena, "pool", MIB, 4096, &piece, &diag) != DW_OK) {
        fprintf(stderr, "setup failed: plan\n");
        return;
    }
    int result = dw_arena_allocate(&arena, true, &diag);
    fprintf(stderr, "result %s\nmessage %s\nhint %s\nreserved %llu\nmapped %s\n",
            dw_error_name(result), diag.message, diag.hint,
            (unsigned long long)budget.reserved_bytes, arena.base == NULL ? "no" : "yes");
}

static void a_lock_beyond_the_limit_names_rlimit_memlock(void **state)
{
    (void)state;
    char text[2048];
    int signal_number = dw_test_death(lock_beyond_the_limit, NULL, text, sizeof text);
    if (signal_number != 0 || strstr(text, "setup failed") != NULL) {
        fail_msg("%s", text);
    }
    if (strstr(text, "result DW_ENOMEM\n") == NULL) {
        fail_msg("the child said:\n%s", text);
    }
    assert_non_null(strstr(text, "message cannot lock 1MiB of engine memory in RAM: "
                                 "RLIMIT_MEMLOCK allows 64KiB (mlock: "));
    assert_non_null(strstr(text, "hint raise RLIMIT_MEMLOCK to at least 1MiB"));
    assert_non_null(strstr(text, "memory.lock = false"));
    assert_non_null(strstr(text, "reserved 0\n"));
    assert_non_null(strstr(text, "mapped no\n"));
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pieces_are_aligned_charged_and_released),
        cmocka_unit_test(a_piece_over_the_ceiling_is_refused_before_mapping),
        cmocka_unit_test(page_rounding_is_budgeted_too),
        cmocka_unit_test(an_empty_arena_maps_nothing),
        cmocka_unit_test(a_locked_arena_is_locked_or_says_why_not),
#if !DW_TEST_SANITIZED
        /* The sanitizers' mlock succeeds without locking anything, so the limit can
         * only be met in the plain build. */
        cmocka_unit_test(a_lock_beyond_the_limit_names_rlimit_memlock),
#endif
    };
    return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
