/*
 * sim_disk.c — see sim_disk.h.
 *
 * Every random decision is taken in a fixed order per operation and recorded in the
 * trace, so that two runs with the same seed make the same decisions, and a run that
 * diverges shows it in its hash.
 */
#include "io/sim_disk.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "core/assert.h"
#include "core/checksum.h"

/* Misdirected writes land on a boundary of this size, as a confused controller's would. */
#define SIM_MISDIRECT_ALIGNMENT 4096

enum trace_kind {
    TRACE_READ = 1,
    TRACE_WRITE,
    TRACE_SYNC,
    TRACE_POWER_CUT,
    TRACE_POWER_ON,
    TRACE_DROP,
    TRACE_TEAR,
    TRACE_FLIP,
    TRACE_LATENT,
    TRACE_MISDIRECT,
    TRACE_TRANSIENT,
    TRACE_SHORT,
    TRACE_FLUSH_OLDEST,
};

static uint64_t bad_sector_bytes(uint64_t size_bytes)
{
    uint64_t sectors = size_bytes / DW_SIM_SECTOR_SIZE;
    return (sectors + 7) / 8;
}

uint64_t dw_sim_disk_memory_bytes(uint64_t size_bytes, uint32_t pending_data_bytes)
{
    return 2 * size_bytes + pending_data_bytes + bad_sector_bytes(size_bytes);
}

static void trace(dw_sim_disk *disk, enum trace_kind kind, uint64_t a, uint64_t b, int64_t c)
{
    uint64_t event[5] = {(uint64_t)kind, a, b, (uint64_t)c, disk->state.now_ns};
    disk->state.trace_hash = dw_xxh3_64(event, sizeof event, disk->state.trace_hash);
    disk->state.events++;
}

void dw_sim_disk_init(dw_sim_disk *disk, void *memory, uint64_t size_bytes,
                      uint32_t pending_data_bytes, uint64_t seed, const dw_sim_faults *faults)
{
    DW_ASSERT(disk != NULL && memory != NULL);
    DW_ASSERT(size_bytes > 0 && size_bytes % 4096 == 0);
    /* Whole sectors in a ring of whole sectors: a sector never wraps around its end. */
    DW_ASSERT(pending_data_bytes > 0 && pending_data_bytes % DW_SIM_SECTOR_SIZE == 0);
    memset(disk, 0, sizeof *disk);
    unsigned char *base = memory;
    disk->size_bytes = size_bytes;
    disk->pending_data_bytes = pending_data_bytes;
    disk->durable = base;
    disk->volatile_image = base + size_bytes;
    disk->pending_data = base + 2 * size_bytes;
    disk->bad_sectors = base + 2 * size_bytes + pending_data_bytes;
    memset(memory, 0, (size_t)dw_sim_disk_memory_bytes(size_bytes, pending_data_bytes));
    if (faults != NULL) {
        disk->state.faults = *faults;
    }
    if (disk->state.faults.channels == 0) {
        disk->state.faults.channels = 1;
    }
    DW_ASSERT(disk->state.faults.channels <= DW_ARRAY_COUNT(disk->state.channel_free_ns));
    dw_random_seed(&disk->state.random, seed);
    disk->state.powered = true;
    disk->state.trace_hash = seed;
    dw_clock_virtual_init(&disk->clock, 0, 0);
}

void dw_sim_disk_advance_to(dw_sim_disk *disk, uint64_t now_ns)
{
    if (now_ns <= disk->state.now_ns) {
        return;
    }
    dw_clock_virtual_advance(&disk->clock, now_ns - disk->state.now_ns);
    disk->state.now_ns = now_ns;
}

static uint64_t draw_latency(dw_sim_disk *disk)
{
    const dw_sim_faults *faults = &disk->state.faults;
    uint64_t latency = faults->latency_base_ns;
    if (faults->latency_jitter_ns > 0) {
        latency += dw_random_below(&disk->state.random, faults->latency_jitter_ns + 1);
    }
    if (dw_random_chance(&disk->state.random, faults->latency_tail_ppm)) {
        latency += faults->latency_tail_ns;
    }
    return latency;
}

uint64_t dw_sim_disk_schedule(dw_sim_disk *disk, uint64_t now_ns, uint64_t latency_ns)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < disk->state.faults.channels; i++) {
        if (disk->state.channel_free_ns[i] < disk->state.channel_free_ns[best]) {
            best = i;
        }
    }
    uint64_t start = now_ns > disk->state.channel_free_ns[best] ? now_ns : disk->state.channel_free_ns[best];
    disk->state.channel_free_ns[best] = start + latency_ns;
    return start + latency_ns;
}

static bool sector_bad(const dw_sim_disk *disk, uint64_t sector)
{
    return ((unsigned)disk->bad_sectors[sector / 8] >> (sector % 8)) & 1u;
}

void dw_sim_disk_set_bad_sector(dw_sim_disk *disk, uint64_t sector, bool bad)
{
    DW_ASSERT(sector < disk->size_bytes / DW_SIM_SECTOR_SIZE);
    uint8_t mask = (uint8_t)(1u << (sector % 8));
    if (bad) {
        disk->bad_sectors[sector / 8] |= mask;
    } else {
        disk->bad_sectors[sector / 8] &= (uint8_t)~mask;
    }
}

static void check_range(const dw_sim_disk *disk, uint64_t offset, uint32_t length)
{
    DW_ASSERT(length > 0 && length % DW_SIM_SECTOR_SIZE == 0);
    DW_ASSERT(offset % DW_SIM_SECTOR_SIZE == 0);
    DW_ASSERT(offset <= disk->size_bytes && length <= disk->size_bytes - offset);
}

/* A prefix of whole sectors, at least one, fewer than all; or the whole when one sector. */
static uint32_t short_length(dw_sim_disk *disk, uint32_t length)
{
    uint32_t sectors = length / DW_SIM_SECTOR_SIZE;
    if (sectors < 2) {
        return length;
    }
    return (uint32_t)(1 + dw_random_below(&disk->state.random, sectors - 1)) * DW_SIM_SECTOR_SIZE;
}

/* The bytes a read or write moves: all of them, or a prefix when the seed says short. */
static uint32_t transfer_length(dw_sim_disk *disk, uint64_t offset, uint32_t length)
{
    if (!dw_random_chance(&disk->state.random, disk->state.faults.short_io_ppm)) {
        return length;
    }
    uint32_t transfer = short_length(disk, length);
    disk->state.counters.short_transfers++;
    trace(disk, TRACE_SHORT, offset, transfer, 0);
    return transfer;
}

/* Decisions every operation takes first, in this order: power, transient failure. */
static bool refuse(dw_sim_disk *disk, enum trace_kind kind, uint64_t offset, uint32_t length,
                   dw_sim_result *outcome)
{
    outcome->latency_ns = draw_latency(disk);
    if (!disk->state.powered) {
        outcome->result = -EIO;
        trace(disk, kind, offset, length, outcome->result);
        return true;
    }
    disk->state.operations++;
    if (disk->state.operations == disk->state.fail_operation) {
        if (kind == TRACE_SYNC) {
            disk->state.counters.failed_syncs++;
            disk->state.pending_count = 0;
            disk->state.pending_data_used = 0;
        }
        outcome->result = -EIO;
        trace(disk, kind, offset, length, outcome->result);
        return true;
    }
    if (dw_random_chance(&disk->state.random, disk->state.faults.transient_error_ppm)) {
        disk->state.counters.transient_errors++;
        outcome->result = -EAGAIN;
        trace(disk, TRACE_TRANSIENT, offset, length, outcome->result);
        return true;
    }
    return false;
}

dw_sim_result dw_sim_disk_read(dw_sim_disk *disk, uint64_t offset, void *data, uint32_t length)
{
    check_range(disk, offset, length);
    dw_sim_result outcome = {0, 0};
    if (refuse(disk, TRACE_READ, offset, length, &outcome)) {
        return outcome;
    }
    disk->state.counters.reads++;
    for (uint64_t sector = offset / DW_SIM_SECTOR_SIZE;
         sector < (offset + length) / DW_SIM_SECTOR_SIZE; sector++) {
        if (sector_bad(disk, sector)) {
            outcome.result = -EIO;
            trace(disk, TRACE_READ, offset, length, outcome.result);
            return outcome;
        }
    }
    uint32_t transfer = transfer_length(disk, offset, length);
    memcpy(data, disk->volatile_image + offset, transfer);
    if (disk->state.operations == disk->state.flip_operation && transfer > 0) {
        uint64_t bit = (uint64_t)transfer * 8 / 2 + 3; /* mid-transfer: inside a block, not its trailer */
        ((unsigned char *)data)[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        disk->state.counters.bit_flips++;
        trace(disk, TRACE_FLIP, offset + bit / 8, bit % 8, 1);
    } else if (dw_random_chance(&disk->state.random, disk->state.faults.bit_flip_on_read_ppm)) {
        uint64_t bit = dw_random_below(&disk->state.random, (uint64_t)transfer * 8);
        ((unsigned char *)data)[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        disk->state.counters.bit_flips++;
        trace(disk, TRACE_FLIP, offset + bit / 8, bit % 8, 1);
    }
    outcome.result = transfer;
    trace(disk, TRACE_READ, offset, length, outcome.result);
    return outcome;
}

/* Copies an unsynced write's data from the pending ring to the durable image. */
static void make_durable(dw_sim_disk *disk, const dw_sim_pending *write)
{
    for (uint32_t done = 0; done < write->length;) {
        uint32_t position = (write->data_offset + done) % disk->pending_data_bytes;
        uint32_t chunk = write->length - done;
        if (chunk > disk->pending_data_bytes - position) {
            chunk = disk->pending_data_bytes - position;
        }
        memcpy(disk->durable + write->offset + done, disk->pending_data + position, chunk);
        done += chunk;
    }
}

/* Makes the oldest unsynced write durable and forgets it. */
static void flush_oldest(dw_sim_disk *disk)
{
    DW_ASSERT(disk->state.pending_count > 0);
    const dw_sim_pending *oldest = &disk->state.pending[disk->state.pending_first];
    make_durable(disk, oldest);
    trace(disk, TRACE_FLUSH_OLDEST, oldest->offset, oldest->length, 0);
    disk->state.pending_data_used -= oldest->length;
    disk->state.pending_first = (disk->state.pending_first + 1) % DW_SIM_PENDING_MAX;
    disk->state.pending_count--;
}

/* Remembers an unsynced write with a copy of its data; a write larger than the whole
 * ring goes straight to the durable image, as a disk writes through what its cache
 * cannot hold. */
static void log_pending(dw_sim_disk *disk, uint64_t offset, const unsigned char *data, uint32_t length)
{
    if (length > disk->pending_data_bytes) {
        memcpy(disk->durable + offset, data, length);
        return;
    }
    while (disk->state.pending_count == DW_SIM_PENDING_MAX ||
           disk->pending_data_bytes - disk->state.pending_data_used < length) {
        flush_oldest(disk);
    }
    uint32_t index = (disk->state.pending_first + disk->state.pending_count) % DW_SIM_PENDING_MAX;
    disk->state.pending[index] = (dw_sim_pending){offset, length, disk->state.pending_data_head};
    for (uint32_t done = 0; done < length;) {
        uint32_t position = (disk->state.pending_data_head + done) % disk->pending_data_bytes;
        uint32_t chunk = length - done;
        if (chunk > disk->pending_data_bytes - position) {
            chunk = disk->pending_data_bytes - position;
        }
        memcpy(disk->pending_data + position, data + done, chunk);
        done += chunk;
    }
    disk->state.pending_data_head = (disk->state.pending_data_head + length) % disk->pending_data_bytes;
    disk->state.pending_data_used += length;
    disk->state.pending_count++;
}

/* Faults a write may leave behind it: a bit flipped at rest, a sector gone bad. */
static void after_write_faults(dw_sim_disk *disk)
{
    uint64_t sectors = disk->size_bytes / DW_SIM_SECTOR_SIZE;
    if (dw_random_chance(&disk->state.random, disk->state.faults.bit_flip_at_rest_ppm)) {
        uint64_t bit = dw_random_below(&disk->state.random, disk->size_bytes * 8);
        unsigned char mask = (unsigned char)(1u << (bit % 8));
        disk->durable[bit / 8] ^= mask;
        disk->volatile_image[bit / 8] ^= mask;
        disk->state.counters.bit_flips++;
        trace(disk, TRACE_FLIP, bit / 8, bit % 8, 0);
    }
    if (dw_random_chance(&disk->state.random, disk->state.faults.latent_error_ppm)) {
        uint64_t sector = dw_random_below(&disk->state.random, sectors);
        dw_sim_disk_set_bad_sector(disk, sector, true);
        disk->state.counters.latent_errors++;
        trace(disk, TRACE_LATENT, sector, 0, 0);
    }
}

dw_sim_result dw_sim_disk_write(dw_sim_disk *disk, uint64_t offset, const void *data, uint32_t length)
{
    check_range(disk, offset, length);
    dw_sim_result outcome = {0, 0};
    if (refuse(disk, TRACE_WRITE, offset, length, &outcome)) {
        return outcome;
    }
    uint32_t transfer = transfer_length(disk, offset, length);
    uint64_t target = offset;
    if (dw_random_chance(&disk->state.random, disk->state.faults.misdirect_ppm) &&
        disk->size_bytes >= transfer + SIM_MISDIRECT_ALIGNMENT) {
        uint64_t slots = (disk->size_bytes - transfer) / SIM_MISDIRECT_ALIGNMENT + 1;
        target = dw_random_below(&disk->state.random, slots) * SIM_MISDIRECT_ALIGNMENT;
        disk->state.counters.misdirected_writes++;
        trace(disk, TRACE_MISDIRECT, offset, target, transfer);
    }
    memcpy(disk->volatile_image + target, data, transfer);
    log_pending(disk, target, data, transfer);
    for (uint64_t sector = target / DW_SIM_SECTOR_SIZE;
         sector < (target + transfer) / DW_SIM_SECTOR_SIZE; sector++) {
        dw_sim_disk_set_bad_sector(disk, sector, false); /* a rewritten sector is remapped */
    }
    disk->state.counters.writes++;
    disk->state.counters.writes_since_power_on++;
    after_write_faults(disk);
    outcome.result = transfer;
    trace(disk, TRACE_WRITE, offset, length, outcome.result);
    bool cut_now = disk->state.faults.power_cut_after_writes != 0 &&
                   disk->state.counters.writes_since_power_on == disk->state.faults.power_cut_after_writes;
    if (cut_now || dw_random_chance(&disk->state.random, disk->state.faults.power_cut_ppm)) {
        dw_sim_disk_cut_power(disk);
    }
    return outcome;
}

/* True when an unsynced write still waiting in the log covers any byte of the range. */
static bool pending_overlaps(const dw_sim_disk *disk, uint32_t index, uint64_t offset, uint32_t length)
{
    const dw_sim_pending *write = &disk->state.pending[index];
    return write->offset < offset + length && offset < write->offset + write->length;
}

dw_sim_result dw_sim_disk_write_durable(dw_sim_disk *disk, uint64_t offset, const void *data, uint32_t length)
{
    /* An older unsynced write to the same sectors reaches the medium first: a device
     * never lets a cached write overtake a forced one to the same place. */
    uint32_t last_overlap = 0;
    for (uint32_t i = 0; i < disk->state.pending_count; i++) {
        if (pending_overlaps(disk, (disk->state.pending_first + i) % DW_SIM_PENDING_MAX, offset, length)) {
            last_overlap = i + 1;
        }
    }
    for (uint32_t i = 0; i < last_overlap; i++) {
        flush_oldest(disk);
    }
    uint32_t pending_before = disk->state.pending_count;
    dw_sim_result outcome = dw_sim_disk_write(disk, offset, data, length);
    if (outcome.result <= 0) {
        return outcome;
    }
    if (!disk->state.powered) {
        /* The power went with this write: it is not acknowledged, and the cut decided
         * what of it (like every unsynced write) reached the medium. */
        outcome.result = -EIO;
        return outcome;
    }
    outcome.latency_ns += disk->state.faults.sync_latency_ns;
    if (disk->state.fail_syncs > 0) {
        /* As a failed sync: what was not yet durable is dropped, this write too. */
        disk->state.fail_syncs--;
        disk->state.counters.failed_syncs++;
        disk->state.pending_count = 0;
        disk->state.pending_data_used = 0;
        outcome.result = -disk->state.fail_sync_errno;
        trace(disk, TRACE_SYNC, offset, length, outcome.result);
        return outcome;
    }
    if (disk->state.pending_count > pending_before) {
        /* The write is the newest entry of the log: it goes to the medium now. */
        uint32_t index = (disk->state.pending_first + disk->state.pending_count - 1) % DW_SIM_PENDING_MAX;
        const dw_sim_pending *write = &disk->state.pending[index];
        make_durable(disk, write);
        disk->state.pending_data_head = write->data_offset;
        disk->state.pending_data_used -= write->length;
        disk->state.pending_count--;
    }
    disk->state.counters.syncs++;
    trace(disk, TRACE_SYNC, offset, length, 0);
    return outcome;
}

dw_sim_result dw_sim_disk_sync(dw_sim_disk *disk)
{
    dw_sim_result outcome = {0, 0};
    if (refuse(disk, TRACE_SYNC, 0, 0, &outcome)) {
        return outcome;
    }
    outcome.latency_ns += disk->state.faults.sync_latency_ns;
    if (disk->state.fail_syncs > 0) {
        /* As Linux may after a failed fsync: the unsynced data is dropped from the log
         * (it will never become durable) while reads still return it. */
        disk->state.fail_syncs--;
        disk->state.counters.failed_syncs++;
        disk->state.pending_count = 0;
        disk->state.pending_data_used = 0;
        outcome.result = -disk->state.fail_sync_errno;
        trace(disk, TRACE_SYNC, 0, 0, outcome.result);
        return outcome;
    }
    while (disk->state.pending_count > 0) {
        flush_oldest(disk);
    }
    disk->state.counters.syncs++;
    outcome.result = 0;
    trace(disk, TRACE_SYNC, 0, 0, 0);
    return outcome;
}

/* Applies the surviving sectors of one unsynced write to the durable image. */
static void resolve_pending(dw_sim_disk *disk, const dw_sim_pending *write)
{
    if (dw_random_chance(&disk->state.random, disk->state.faults.drop_unsynced_ppm)) {
        disk->state.counters.dropped_writes++;
        trace(disk, TRACE_DROP, write->offset, write->length, 0);
        return;
    }
    bool torn = dw_random_chance(&disk->state.random, disk->state.faults.torn_unsynced_ppm);
    if (torn) {
        disk->state.counters.torn_writes++;
    }
    for (uint32_t done = 0; done < write->length; done += DW_SIM_SECTOR_SIZE) {
        if (torn && dw_random_below(&disk->state.random, 2) == 0) {
            trace(disk, TRACE_TEAR, write->offset + done, 0, 0);
            continue;
        }
        uint32_t position = (write->data_offset + done) % disk->pending_data_bytes;
        /* A sector never wraps: the ring holds whole sectors of whole writes. */
        DW_ASSERT(position + DW_SIM_SECTOR_SIZE <= disk->pending_data_bytes);
        memcpy(disk->durable + write->offset + done, disk->pending_data + position,
               DW_SIM_SECTOR_SIZE);
    }
}

void dw_sim_disk_cut_power(dw_sim_disk *disk)
{
    if (!disk->state.powered) {
        return;
    }
    uint32_t order[DW_SIM_PENDING_MAX];
    uint32_t count = disk->state.pending_count;
    DW_ASSERT(count <= DW_SIM_PENDING_MAX);
    for (uint32_t i = 0; i < count; i++) {
        order[i] = i;
    }
    if (disk->state.faults.reorder_unsynced) {
        for (uint32_t i = count; i > 1; i--) {
            uint32_t j = (uint32_t)dw_random_below(&disk->state.random, i);
            uint32_t swap = order[i - 1];
            order[i - 1] = order[j];
            order[j] = swap;
        }
    }
    for (uint32_t i = 0; i < count; i++) {
        uint32_t index = (disk->state.pending_first + order[i]) % DW_SIM_PENDING_MAX;
        resolve_pending(disk, &disk->state.pending[index]);
    }
    disk->state.pending_count = 0;
    disk->state.pending_data_used = 0;
    memcpy(disk->volatile_image, disk->durable, disk->size_bytes);
    disk->state.powered = false;
    disk->state.counters.power_cuts++;
    trace(disk, TRACE_POWER_CUT, disk->state.counters.writes, 0, 0);
}

void dw_sim_disk_power_on(dw_sim_disk *disk)
{
    disk->state.powered = true;
    disk->state.counters.writes_since_power_on = 0;
    for (uint32_t i = 0; i < DW_ARRAY_COUNT(disk->state.channel_free_ns); i++) {
        disk->state.channel_free_ns[i] = disk->state.now_ns;
    }
    trace(disk, TRACE_POWER_ON, 0, 0, 0);
}

void dw_sim_disk_fail_next_syncs(dw_sim_disk *disk, uint32_t count, int error_number)
{
    DW_ASSERT(error_number > 0);
    disk->state.fail_syncs = count;
    disk->state.fail_sync_errno = error_number;
}

void dw_sim_disk_fail_operation(dw_sim_disk *disk, uint64_t nth)
{
    disk->state.fail_operation = nth == 0 ? 0 : disk->state.operations + nth;
}

void dw_sim_disk_flip_read(dw_sim_disk *disk, uint64_t nth)
{
    disk->state.flip_operation = nth == 0 ? 0 : disk->state.operations + nth;
}

void dw_sim_disk_flip_bit(dw_sim_disk *disk, uint64_t byte_offset, unsigned bit)
{
    DW_ASSERT(byte_offset < disk->size_bytes && bit < 8);
    disk->durable[byte_offset] ^= (unsigned char)(1u << bit);
    disk->volatile_image[byte_offset] ^= (unsigned char)(1u << bit);
    trace(disk, TRACE_FLIP, byte_offset, bit, 2);
}

const unsigned char *dw_sim_disk_durable(const dw_sim_disk *disk)
{
    return disk->durable;
}

uint64_t dw_sim_disk_snapshot_bytes(const dw_sim_disk *disk)
{
    return dw_sim_disk_memory_bytes(disk->size_bytes, disk->pending_data_bytes) +
           sizeof(dw_sim_disk_state);
}

void dw_sim_disk_snapshot(const dw_sim_disk *disk, void *snapshot)
{
    unsigned char *out = snapshot;
    size_t images = (size_t)dw_sim_disk_memory_bytes(disk->size_bytes, disk->pending_data_bytes);
    /* The images, the ring and the bad-sector map are contiguous, from `durable` on. */
    memcpy(out, disk->durable, images);
    memcpy(out + images, &disk->state, sizeof disk->state);
}

void dw_sim_disk_restore(dw_sim_disk *disk, const void *snapshot)
{
    const unsigned char *in = snapshot;
    size_t images = (size_t)dw_sim_disk_memory_bytes(disk->size_bytes, disk->pending_data_bytes);
    memcpy(disk->durable, in, images);
    memcpy(&disk->state, in + images, sizeof disk->state);
    dw_clock_virtual_init(&disk->clock, disk->state.now_ns, 0);
}
