/*
 * test_checksum.c — the XXH64 and XXH3 wrappers. XXH64 is part of the on-disk format, so
 * its values are pinned to published test vectors: a library update that changed them
 * would make every existing VDE unreadable.
 */
#include "harness.h"

#include <string.h>

#include "core/checksum.h"

static void xxh64_matches_published_vectors(void **state)
{
    (void)state;
    assert_int_equal(dw_xxh64("", 0, 0), UINT64_C(0xEF46DB3751D8E999));
    assert_int_equal(dw_xxh64(NULL, 0, 0), UINT64_C(0xEF46DB3751D8E999));
    assert_int_equal(dw_xxh64("a", 1, 0), UINT64_C(0xD24EC4F1A98C6E5B));
    assert_int_equal(dw_xxh64("abc", 3, 0), UINT64_C(0x44BC2CF5AD770999));
}

static void xxh3_matches_published_vectors(void **state)
{
    (void)state;
    assert_int_equal(dw_xxh3_64("", 0, 0), UINT64_C(0x2D06800538D394C2));
    assert_int_equal(dw_xxh3_64(NULL, 0, 0), UINT64_C(0x2D06800538D394C2));
}

static void seed_changes_the_result(void **state)
{
    (void)state;
    unsigned char block[4096];
    memset(block, 0xa5, sizeof block);
    /* A block checksum is seeded with the block's address: the same bytes at another
     * address must not verify. */
    for (uint64_t address = 0; address < 64; address++) {
        assert_int_not_equal(dw_xxh64(block, sizeof block, address),
                             dw_xxh64(block, sizeof block, address + 1));
        assert_int_not_equal(dw_xxh3_64(block, sizeof block, address),
                             dw_xxh3_64(block, sizeof block, address + 1));
    }
}

static void every_single_bit_flip_is_detected(void **state)
{
    (void)state;
    unsigned char block[4096];
    uint64_t random_state = 0x1234;
    for (size_t i = 0; i < sizeof block; i++) {
        block[i] = (unsigned char)dw_test_random(&random_state);
    }
    uint64_t reference64 = dw_xxh64(block, sizeof block, 9);
    uint64_t reference3 = dw_xxh3_64(block, sizeof block, 9);
    for (size_t bit = 0; bit < sizeof block * 8; bit++) {
        block[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        assert_int_not_equal(dw_xxh64(block, sizeof block, 9), reference64);
        assert_int_not_equal(dw_xxh3_64(block, sizeof block, 9), reference3);
        block[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    assert_int_equal(dw_xxh64(block, sizeof block, 9), reference64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(xxh64_matches_published_vectors),
        cmocka_unit_test(xxh3_matches_published_vectors),
        cmocka_unit_test(seed_changes_the_result),
        cmocka_unit_test(every_single_bit_flip_is_detected),
    };
    return cmocka_run_group_tests_name("checksum", tests, NULL, NULL);
}
