/*
 * test_sim_disk.c — the simulated disk: what survives a power cut (all, none, torn,
 * reordered), failed syncs, bit flips, bad sectors, misdirected and short writes, the
 * write cache filling up, channels and latency, snapshots, and the trace hash that proves
 * one seed gives one behaviour.
 */
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "io/sim_disk.h"

#define DISK_BYTES (UINT64_C(1) << 20)
#define PENDING_BYTES (UINT32_C(256) << 10)
#define BLOCK 4096

typedef struct disk_fixture {
    void *memory;
    dw_sim_disk disk;
    unsigned char block[BLOCK];
    unsigned char other[BLOCK];
} disk_fixture;

static int fixture_setup(void **state)
{
    disk_fixture *fixture = calloc(1, sizeof *fixture);
    assert_non_null(fixture);
    fixture->memory = malloc((size_t)dw_sim_disk_memory_bytes(DISK_BYTES, PENDING_BYTES));
    assert_non_null(fixture->memory);
    dw_sim_disk_init(&fixture->disk, fixture->memory, DISK_BYTES, PENDING_BYTES, 1, NULL);
    *state = fixture;
    return 0;
}

static int fixture_teardown(void **state)
{
    disk_fixture *fixture = *state;
    free(fixture->memory);
    free(fixture);
    return 0;
}

static void with_faults(disk_fixture *fixture, uint64_t seed, const dw_sim_faults *faults)
{
    dw_sim_disk_init(&fixture->disk, fixture->memory, DISK_BYTES, PENDING_BYTES, seed, faults);
}

static void write_block(dw_sim_disk *disk, uint64_t block, unsigned char value)
{
    unsigned char data[BLOCK];
    memset(data, value, sizeof data);
    dw_sim_result result = dw_sim_disk_write(disk, block * BLOCK, data, BLOCK);
    assert_int_equal(result.result, BLOCK);
}

/* The byte every sector of a block holds on the durable image, or -1 when mixed. */
static int durable_value(const dw_sim_disk *disk, uint64_t block)
{
    const unsigned char *data = dw_sim_disk_durable(disk) + block * BLOCK;
    for (size_t i = 1; i < BLOCK; i++) {
        if (data[i] != data[0]) {
            return -1;
        }
    }
    return data[0];
}

static void writes_are_seen_at_once_and_durable_after_a_sync(void **state)
{
    disk_fixture *fixture = *state;
    dw_sim_disk *disk = &fixture->disk;
    write_block(disk, 3, 0xab);
    assert_int_equal(dw_sim_disk_read(disk, 3 * BLOCK, fixture->block, BLOCK).result, BLOCK);
    assert_int_equal(fixture->block[100], 0xab);
    assert_int_equal(durable_value(disk, 3), 0);
    assert_int_equal(disk->state.pending_count, 1);
    assert_int_equal(dw_sim_disk_sync(disk).result, 0);
    assert_int_equal(durable_value(disk, 3), 0xab);
    assert_int_equal(disk->state.pending_count, 0);
    assert_int_equal(disk->state.counters.syncs, 1);
}

static void a_power_cut_keeps_synced_data_and_resolves_the_rest(void **state)
{
    disk_fixture *fixture = *state;
    dw_sim_faults faults = {.drop_unsynced_ppm = 1000000};
    with_faults(fixture, 5, &faults);
    dw_sim_disk *disk = &fixture->disk;
    write_block(disk, 1, 0x11);
    assert_int_equal(dw_sim_disk_sync(disk).result, 0);
    write_block(disk, 1, 0x22);
    write_block(disk, 2, 0x33);
    dw_sim_disk_cut_power(disk);
    assert_false(disk->state.powered);
    /* While the power is off, everything fails. */
    assert_int_equal(dw_sim_disk_read(disk, 0, fixture->block, BLOCK).result, -EIO);
    assert_int_equal(dw_sim_disk_write(disk, 0, fixture->block, BLOCK).result, -EIO);
    assert_int_equal(dw_sim_disk_sync(disk).result, -EIO);
    dw_sim_disk_power_on(disk);
    assert_int_equal(durable_value(disk, 1), 0x11);
    assert_int_equal(durable_value(disk, 2), 0);
    assert_int_equal(dw_sim_disk_read(disk, 1 * BLOCK, fixture->block, BLOCK).result, BLOCK);
    assert_int_equal(fixture->block[0], 0x11); /* reads see the durable state again */
    assert_int_equal(disk->state.counters.dropped_writes, 2);

    /* With no faults, every unsynced write survives. */
    with_faults(fixture, 5, NULL);
    write_block(disk, 4, 0x44);
    dw_sim_disk_cut_power(disk);
    dw_sim_disk_power_on(disk);
    assert_int_equal(durable_value(disk, 4), 0x44);
}

static void a_torn_write_keeps_some_sectors(void **state)
{
    disk_fixture *fixture = *state;
    dw_sim_faults faults = {.torn_unsynced_ppm = 1000000};
    with_faults(fixture, 9, &faults);
    dw_sim_disk *disk = &fixture->disk;
    static unsigned char big[64 * 512];
    memset(big, 0x5e, sizeof big);
    assert_int_equal(dw_sim_disk_write(disk, 0, big, sizeof big).result, (int64_t)sizeof big);
    dw_sim_disk_cut_power(disk);
    uint32_t kept = 0;
    for (uint32_t sector = 0; sector < 64; sector++) {
        unsigned char value = dw_sim_disk_durable(disk)[sector * 512];
        assert_true(value == 0x5e || value == 0);
        kept += value == 0x5e;
    }
    printf("# torn write kept %u of 64 sectors\n", kept);
    assert_true(kept > 0 && kept < 64);
    assert_int_equal(disk->state.counters.torn_writes, 1);
}

static void unsynced_writes_may_land_out_of_order(void **state)
{
    disk_fixture *fixture = *state;
    dw_sim_faults faults = {.reorder_unsynced = true};
    uint32_t newest_won = 0;
    uint32_t oldest_won = 0;
    for (uint64_t seed = 1; seed <= 64; seed++) {
        with_faults(fixture, seed, &faults);
        write_block(&fixture->disk, 7, 0xa1);
        write_block(&fixture->disk, 7, 0xb2);
        dw_sim_disk_cut_power(&fixture->disk);
        int value = durable_value(&fixture->disk, 7);
        newest_won += value == 0xb2;
        oldest_won += value == 0xa1;
    }
    printf("# newest write last in %u of 64 power cuts, oldest last in %u\n", newest_won, oldest_won);
    assert_int_equal(newest_won + oldest_won, 64);
    assert_true(newest_won > 0 && oldest_won > 0);
}

static void power_goes_out_after_the_chosen_write(void **state)
{
    disk_fixture *fixture = *state;
    dw_sim_faults faults = {.power_cut_after_writes = 5};
    with_faults(fixture, 3, &faults);
    dw_sim_disk *disk = &fixture->disk;
    for (uint64_t i = 0; i < 4; i++) {
        write_block(disk, i, (unsigned char)(i + 1));
        assert_true(disk->state.powered);
    }
    write_block(disk, 4, 5); /* acknowledged, then the power goes */
    assert_false(disk->state.powered);
    assert_int_equal(disk->state.counters.power_cuts, 1);
    dw_sim_disk_power_on(disk);
    /* Counting starts again after power returns. */
    for (uint64_t i = 0; i < 4; i++) {
        write_block(disk, i, 9);
    }
    assert_true(disk->state.powered);
    write_block(disk, 4, 9);
    assert_false(disk->state.powered);
}

static void a_failed_sync_loses_the_unsynced_writes(void **state)
{
    disk_fixture *fixture = *state;
    dw_sim_disk *disk = &fixture->disk;
    write_block(disk, 0, 0x01);
    assert_int_equal(dw_sim_disk_sync(disk).result, 0);
    write_block(disk, 0, 0x02);
    dw_sim_disk_fail_next_syncs(disk, 1, EIO);
    assert_int_equal(dw_sim_disk_sync(disk).result, -EIO);
    /* Reads still show the new data, as a page cache would... */
    assert_int_equal(dw_sim_disk_read(disk, 0, fixture->block, BLOCK).result, BLOCK);
    assert_int_equal(fixture->block[0], 0x02);
    /* ...which a later sync does not save and a power cut reveals as lost. */
    assert_int_equal(dw_sim_disk_sync(disk).result, 0);
    assert_int_equal(durable_value(disk, 0), 0x01);
    dw_sim_disk_cut_power(disk);
    dw_sim_disk_power_on(disk);
    assert_int_equal(dw_sim_disk_read(disk, 0, fixture->block, BLOCK).result, BLOCK);
    assert_int_equal(fixture->block[0], 0x01);
    assert_int_equal(disk->state.counters.failed_syncs, 1);
}

/* A durable write (FUA, RWF_DSYNC) is on the medium when it returns, and only it: the
 * unsynced writes before it stay unsynced. One to the same sectors as an older unsynced
 * write is never overtaken by it. */
static void a_durable_write_is_durable_alone(void **state)
{
    disk_fixture *fixture = *state;
    dw_sim_faults faults = {.drop_unsynced_ppm = 1000000};
    with_faults(fixture, 7, &faults);
    dw_sim_disk *disk = &fixture->disk;
    write_block(disk, 3, 0x31);
    write_block(disk, 1, 0x11);
    memset(fixture->block, 0x22, BLOCK);
    assert_int_equal(dw_sim_disk_write_durable(disk, 2 * BLOCK, fixture->block, BLOCK).result, BLOCK);
    memset(fixture->block, 0x32, BLOCK);
    assert_int_equal(dw_sim_disk_write_durable(disk, 3 * BLOCK, fixture->block, BLOCK).result, BLOCK);
    dw_sim_disk_cut_power(disk);
    dw_sim_disk_power_on(disk);
    assert_int_equal(durable_value(disk, 2), 0x22);
    assert_int_equal(durable_value(disk, 3), 0x32); /* the older write to it did not land after */
    assert_int_equal(durable_value(disk, 1), 0);    /* newer than that, dropped: nothing made it durable */

    /* A durable write the power goes out after is not acknowledged. */
    dw_sim_faults cut = {.power_cut_after_writes = 1};
    with_faults(fixture, 7, &cut);
    assert_int_equal(dw_sim_disk_write_durable(disk, 5 * BLOCK, fixture->block, BLOCK).result, -EIO);
    dw_sim_disk_power_on(disk);

    /* A failing sync fails it too, and what it wrote never becomes durable. */
    with_faults(fixture, 7, NULL);
    dw_sim_disk_fail_next_syncs(disk, 1, EIO);
    memset(fixture->block, 0x66, BLOCK);
    assert_int_equal(dw_sim_disk_write_durable(disk, 6 * BLOCK, fixture->block, BLOCK).result, -EIO);
    assert_int_equal(durable_value(disk, 6), 0);
    assert_int_equal(disk->state.counters.failed_syncs, 1);
}

static void bits_flip_on_read_or_at_rest(void **state)
{
    disk_fixture *fixture = *state;
    dw_sim_faults faults = {.bit_flip_on_read_ppm = 1000000};
    with_faults(fixture, 11, &faults);
    dw_sim_disk *disk = &fixture->disk;
    write_block(disk, 2, 0x00);
    assert_int_equal(dw_sim_disk_read(disk, 2 * BLOCK, fixture->block, BLOCK).result, BLOCK);
    uint32_t flipped_bits = 0;
    for (size_t i = 0; i < BLOCK; i++) {
        flipped_bits += (uint32_t)__builtin_popcount(fixture->block[i]);
    }
    assert_int_equal(flipped_bits, 1);
    /* The flip was in the returned data only. */
    with_faults(fixture, 11, NULL);
    write_block(disk, 2, 0x00);
    dw_sim_disk_flip_bit(disk, 2 * BLOCK + 10, 3);
    assert_int_equal(dw_sim_disk_read(disk, 2 * BLOCK, fixture->block, BLOCK).result, BLOCK);
    assert_int_equal(fixture->block[10], 0x08);
    assert_int_equal(dw_sim_disk_durable(disk)[2 * BLOCK + 10], 0x08);
}

static void bad_sectors_fail_reads_until_rewritten(void **state)
{
    disk_fixture *fixture = *state;
    dw_sim_disk *disk = &fixture->disk;
    dw_sim_disk_set_bad_sector(disk, 9, true); /* inside block 1 */
    assert_int_equal(dw_sim_disk_read(disk, 1 * BLOCK, fixture->block, BLOCK).result, -EIO);
    assert_int_equal(dw_sim_disk_read(disk, 0, fixture->block, BLOCK).result, BLOCK);
    write_block(disk, 1, 0x77);
    assert_int_equal(dw_sim_disk_read(disk, 1 * BLOCK, fixture->block, BLOCK).result, BLOCK);

    dw_sim_faults faults = {.latent_error_ppm = 1000000};
    with_faults(fixture, 13, &faults);
    write_block(disk, 0, 0x01);
    assert_int_equal(disk->state.counters.latent_errors, 1);
}

static void a_misdirected_write_lands_elsewhere(void **state)
{
    disk_fixture *fixture = *state;
    dw_sim_faults faults = {.misdirect_ppm = 1000000};
    with_faults(fixture, 17, &faults);
    dw_sim_disk *disk = &fixture->disk;
    write_block(disk, 5, 0xee);
    assert_int_equal(disk->state.counters.misdirected_writes, 1);
    uint32_t found = 0;
    for (uint64_t block = 0; block < DISK_BYTES / BLOCK; block++) {
        assert_int_equal(dw_sim_disk_read(disk, block * BLOCK, fixture->block, BLOCK).result, BLOCK);
        found += fixture->block[0] == 0xee;
        if (block == 5 && fixture->block[0] == 0xee) {
            fail_msg("the write landed where it was meant to");
        }
    }
    assert_int_equal(found, 1);
}

static void short_transfers_move_a_prefix(void **state)
{
    disk_fixture *fixture = *state;
    dw_sim_faults faults = {.short_io_ppm = 1000000};
    with_faults(fixture, 19, &faults);
    memset(fixture->block, 0x3c, BLOCK);
    dw_sim_result result = dw_sim_disk_write(&fixture->disk, 0, fixture->block, BLOCK);
    assert_true(result.result > 0 && result.result < BLOCK && result.result % 512 == 0);
    assert_int_equal(fixture->disk.volatile_image[result.result - 1], 0x3c);
    assert_int_equal(fixture->disk.volatile_image[result.result], 0);
}

static void a_full_write_cache_writes_its_oldest_back(void **state)
{
    disk_fixture *fixture = *state;
    dw_sim_disk_init(&fixture->disk, fixture->memory, DISK_BYTES, 2 * BLOCK, 1, NULL);
    dw_sim_faults faults = {.drop_unsynced_ppm = 1000000};
    fixture->disk.state.faults = faults;
    for (uint64_t i = 0; i < 5; i++) {
        write_block(&fixture->disk, i, (unsigned char)(0x10 + i));
    }
    assert_int_equal(fixture->disk.state.pending_count, 2);
    dw_sim_disk_cut_power(&fixture->disk);
    /* Blocks 0-2 were written back to make room; 3 and 4 were still cached, and lost. */
    assert_int_equal(durable_value(&fixture->disk, 0), 0x10);
    assert_int_equal(durable_value(&fixture->disk, 2), 0x12);
    assert_int_equal(durable_value(&fixture->disk, 3), 0);
    assert_int_equal(durable_value(&fixture->disk, 4), 0);
}

static void channels_and_latency_set_completion_times(void **state)
{
    disk_fixture *fixture = *state;
    dw_sim_faults faults = {.latency_base_ns = 100, .latency_jitter_ns = 50, .channels = 2};
    with_faults(fixture, 23, &faults);
    dw_sim_disk *disk = &fixture->disk;
    for (int i = 0; i < 100; i++) {
        dw_sim_result result = dw_sim_disk_read(disk, 0, fixture->block, BLOCK);
        assert_true(result.latency_ns >= 100 && result.latency_ns <= 150);
    }
    assert_int_equal(dw_sim_disk_schedule(disk, 0, 100), 100);
    assert_int_equal(dw_sim_disk_schedule(disk, 0, 100), 100);
    assert_int_equal(dw_sim_disk_schedule(disk, 0, 100), 200); /* both channels busy */
    assert_int_equal(dw_sim_disk_schedule(disk, 500, 10), 510);
    dw_sim_disk_advance_to(disk, 1000);
    assert_int_equal(dw_clock_now_ns(&disk->clock.clock), 1000);
    dw_sim_disk_advance_to(disk, 10); /* time never goes back */
    assert_int_equal(disk->state.now_ns, 1000);
}

/* A workload with every kind of fault, for comparing runs. */
static void faulty_workload(dw_sim_disk *disk, unsigned rounds)
{
    unsigned char data[BLOCK];
    for (unsigned i = 0; i < rounds; i++) {
        memset(data, (int)i, sizeof data);
        uint64_t block = (i * 7u) % (DISK_BYTES / BLOCK);
        (void)dw_sim_disk_write(disk, block * BLOCK, data, BLOCK);
        (void)dw_sim_disk_read(disk, ((i * 13u) % (DISK_BYTES / BLOCK)) * BLOCK, data, BLOCK);
        if (i % 10 == 9) {
            (void)dw_sim_disk_sync(disk);
        }
        if (!disk->state.powered) {
            dw_sim_disk_power_on(disk);
        }
    }
}

static const dw_sim_faults every_fault = {
    .drop_unsynced_ppm = 200000,
    .torn_unsynced_ppm = 300000,
    .reorder_unsynced = true,
    .power_cut_ppm = 20000,
    .bit_flip_on_read_ppm = 10000,
    .bit_flip_at_rest_ppm = 5000,
    .latent_error_ppm = 5000,
    .misdirect_ppm = 5000,
    .transient_error_ppm = 20000,
    .short_io_ppm = 20000,
    .latency_base_ns = 50000,
    .latency_jitter_ns = 20000,
    .latency_tail_ns = 5000000,
    .latency_tail_ppm = 1000,
};

static void one_seed_gives_one_trace(void **state)
{
    disk_fixture *fixture = *state;
    void *other_memory = malloc((size_t)dw_sim_disk_memory_bytes(DISK_BYTES, PENDING_BYTES));
    assert_non_null(other_memory);
    dw_sim_disk *other = malloc(sizeof *other);
    assert_non_null(other);
    with_faults(fixture, 2026, &every_fault);
    dw_sim_disk_init(other, other_memory, DISK_BYTES, PENDING_BYTES, 2026, &every_fault);
    faulty_workload(&fixture->disk, 2000);
    faulty_workload(other, 2000);
    printf("# seed 2026: trace hash %016llx after %llu events, %llu power cuts\n",
           (unsigned long long)fixture->disk.state.trace_hash,
           (unsigned long long)fixture->disk.state.events,
           (unsigned long long)fixture->disk.state.counters.power_cuts);
    assert_int_equal(fixture->disk.state.trace_hash, other->state.trace_hash);
    assert_memory_equal(fixture->disk.durable, other->durable, DISK_BYTES);
    assert_true(fixture->disk.state.counters.power_cuts > 0);

    dw_sim_disk_init(other, other_memory, DISK_BYTES, PENDING_BYTES, 2027, &every_fault);
    faulty_workload(other, 2000);
    assert_int_not_equal(fixture->disk.state.trace_hash, other->state.trace_hash);
    free(other);
    free(other_memory);
}

static void a_restored_snapshot_replays_the_same_future(void **state)
{
    disk_fixture *fixture = *state;
    with_faults(fixture, 31, &every_fault);
    dw_sim_disk *disk = &fixture->disk;
    faulty_workload(disk, 300);
    void *snapshot = malloc((size_t)dw_sim_disk_snapshot_bytes(disk));
    assert_non_null(snapshot);
    dw_sim_disk_snapshot(disk, snapshot);
    uint64_t hash_at_snapshot = disk->state.trace_hash;
    faulty_workload(disk, 500);
    uint64_t hash_after = disk->state.trace_hash;
    static unsigned char image_after[DISK_BYTES];
    memcpy(image_after, disk->durable, DISK_BYTES);
    dw_sim_disk_restore(disk, snapshot);
    assert_int_equal(disk->state.trace_hash, hash_at_snapshot);
    assert_int_equal(dw_clock_now_ns(&disk->clock.clock), disk->state.now_ns);
    faulty_workload(disk, 500);
    assert_int_equal(disk->state.trace_hash, hash_after);
    assert_memory_equal(disk->durable, image_after, DISK_BYTES);
    free(snapshot);
}

int main(void)
{
#define DISK_TEST(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
    const struct CMUnitTest tests[] = {
        DISK_TEST(writes_are_seen_at_once_and_durable_after_a_sync),
        DISK_TEST(a_power_cut_keeps_synced_data_and_resolves_the_rest),
        DISK_TEST(a_torn_write_keeps_some_sectors),
        DISK_TEST(unsynced_writes_may_land_out_of_order),
        DISK_TEST(power_goes_out_after_the_chosen_write),
        DISK_TEST(a_failed_sync_loses_the_unsynced_writes),
        DISK_TEST(a_durable_write_is_durable_alone),
        DISK_TEST(bits_flip_on_read_or_at_rest),
        DISK_TEST(bad_sectors_fail_reads_until_rewritten),
        DISK_TEST(a_misdirected_write_lands_elsewhere),
        DISK_TEST(short_transfers_move_a_prefix),
        DISK_TEST(a_full_write_cache_writes_its_oldest_back),
        DISK_TEST(channels_and_latency_set_completion_times),
        DISK_TEST(one_seed_gives_one_trace),
        DISK_TEST(a_restored_snapshot_replays_the_same_future),
    };
    return cmocka_run_group_tests_name("sim_disk", tests, NULL, NULL);
}
