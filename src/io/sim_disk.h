/*
 * sim_disk.h — an in-memory disk whose every misbehaviour is drawn from one seed.
 *
 * It keeps two images: the durable one (what survives a power cut) and the volatile one
 * (what reads see). A write changes the volatile image and is remembered, with a copy of
 * its data, in a log of unsynced writes; a sync makes every logged write durable. A power
 * cut decides, write by write and by the seed, what of the log reaches the durable image:
 * all of a write, none of it, or some of its sectors (a torn write), possibly out of
 * order. It can also flip bits (at rest or in what a read returns), fail reads of chosen
 * sectors (latent sector errors), send a write to the wrong address, fail syncs, return
 * transient and short I/O, and take time from a latency distribution, all in virtual
 * time. Every event is folded into a trace hash: same seed and same operations, same hash.
 *
 * The disk lives in memory the caller provides (dw_sim_disk_memory_bytes) and never
 * allocates. Snapshots copy its whole state, so a test can enumerate crash points.
 * One thread drives a disk at a time.
 */
#ifndef DW_IO_SIM_DISK_H
#define DW_IO_SIM_DISK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/random.h"

#define DW_SIM_SECTOR_SIZE 512
/* Unsynced writes the log can hold; when it is full the oldest is made durable, as a
 * real disk eventually writes its cache back. */
#define DW_SIM_PENDING_MAX 1024

/* Probabilities are parts per million, drawn from the disk's seed. */
typedef struct dw_sim_faults {
    /* On a power cut, each unsynced write is, in this order of decision: dropped whole
     * (drop_ppm), torn, keeping each of its sectors with even odds (torn_ppm), or kept. */
    uint32_t drop_unsynced_ppm;
    uint32_t torn_unsynced_ppm;
    bool reorder_unsynced;          /* apply the survivors in a seeded order, not issue order */
    /* Per write: power goes out right after it (power_cut_ppm), or after exactly the
     * power_cut_after_writes-th write since power came on (0: never). */
    uint32_t power_cut_ppm;
    uint64_t power_cut_after_writes;
    uint32_t bit_flip_on_read_ppm;  /* per read: one bit of the returned data flips */
    uint32_t bit_flip_at_rest_ppm;  /* per write: one bit of a random durable sector flips */
    uint32_t latent_error_ppm;      /* per write: a random sector becomes unreadable */
    uint32_t misdirect_ppm;         /* per write: it lands at another, random block */
    uint32_t transient_error_ppm;   /* per operation: fails with EAGAIN, nothing done */
    uint32_t short_io_ppm;          /* per read or write: only a prefix is transferred */
    /* Latency: base + uniform(0, jitter), plus tail with probability tail_ppm. */
    uint64_t latency_base_ns;
    uint64_t latency_jitter_ns;
    uint64_t latency_tail_ns;
    uint32_t latency_tail_ppm;
    uint64_t sync_latency_ns;       /* added to a sync's latency */
    uint32_t channels;              /* operations the device serves at once (1 .. 64) */
} dw_sim_faults;

typedef struct dw_sim_pending {
    uint64_t offset;
    uint32_t length;
    uint32_t data_offset;           /* into the pending data ring */
} dw_sim_pending;

typedef struct dw_sim_disk_counters {
    uint64_t reads;
    uint64_t writes;
    uint64_t syncs;
    uint64_t power_cuts;
    uint64_t torn_writes;
    uint64_t dropped_writes;
    uint64_t bit_flips;
    uint64_t latent_errors;
    uint64_t misdirected_writes;
    uint64_t transient_errors;
    uint64_t short_transfers;
    uint64_t failed_syncs;
    uint64_t writes_since_power_on;
} dw_sim_disk_counters;

/* Everything a snapshot copies besides the images, the pending data ring and the
 * bad-sector map. */
typedef struct dw_sim_disk_state {
    dw_sim_faults faults;
    dw_random random;
    uint64_t now_ns;                /* virtual time, mirrored into `clock` */
    uint64_t channel_free_ns[64];
    bool powered;
    uint32_t fail_syncs;            /* the next this-many syncs fail with fail_sync_errno */
    int fail_sync_errno;
    uint64_t operations;            /* reads, writes and syncs the powered disk was asked for */
    uint64_t fail_operation;        /* this one (a value of `operations`) fails with EIO; 0: none */
    uint64_t flip_operation;        /* this one, if a read, returns one bit flipped; 0: none */
    uint32_t pending_count;
    uint32_t pending_first;         /* ring index of the oldest pending write */
    uint32_t pending_data_head;     /* ring offset where the next copy goes */
    uint32_t pending_data_used;
    dw_sim_pending pending[DW_SIM_PENDING_MAX];
    dw_sim_disk_counters counters;
    uint64_t trace_hash;
    uint64_t events;
} dw_sim_disk_state;

typedef struct dw_sim_disk {
    uint64_t size_bytes;
    uint32_t pending_data_bytes;    /* capacity of the pending data ring */
    unsigned char *durable;
    unsigned char *volatile_image;
    unsigned char *pending_data;
    uint8_t *bad_sectors;           /* one bit per sector */
    dw_sim_disk_state state;
    dw_clock_virtual clock;         /* follows state.now_ns; rebuilt on restore */
} dw_sim_disk;

/* Bytes of memory for a disk of `size_bytes` (a multiple of 4096) whose unsynced writes
 * may hold up to `pending_data_bytes` of data. */
uint64_t dw_sim_disk_memory_bytes(uint64_t size_bytes, uint32_t pending_data_bytes);

/* A powered, zeroed disk at virtual time 0. `faults` may be NULL (a perfect disk). */
void dw_sim_disk_init(dw_sim_disk *disk, void *memory, uint64_t size_bytes,
                      uint32_t pending_data_bytes, uint64_t seed, const dw_sim_faults *faults);

/* The outcome of one operation: bytes transferred (possibly fewer than asked: a short
 * transfer) or a negative errno (-EIO power off or bad sector, -EAGAIN transient). */
typedef struct dw_sim_result {
    int64_t result;
    uint64_t latency_ns;            /* how long the device takes, from when it starts */
} dw_sim_result;

dw_sim_result dw_sim_disk_read(dw_sim_disk *disk, uint64_t offset, void *data, uint32_t length);
dw_sim_result dw_sim_disk_write(dw_sim_disk *disk, uint64_t offset, const void *data,
                                uint32_t length);
dw_sim_result dw_sim_disk_sync(dw_sim_disk *disk);
/* A write that is durable when it returns (a FUA write, RWF_DSYNC): this write only;
 * other unsynced writes stay unsynced. A power cut it triggers leaves it unacknowledged
 * (-EIO) and as much of it on the medium as the cut decides; a failing sync fails it. */
dw_sim_result dw_sim_disk_write_durable(dw_sim_disk *disk, uint64_t offset, const void *data, uint32_t length);

/* The virtual time at which an operation issued at `now_ns` taking `latency_ns` ends,
 * given the device's channels; reserves the channel. */
uint64_t dw_sim_disk_schedule(dw_sim_disk *disk, uint64_t now_ns, uint64_t latency_ns);

/* Moves virtual time forward (never back). */
void dw_sim_disk_advance_to(dw_sim_disk *disk, uint64_t now_ns);

/* Power: cut now (the unsynced log is resolved as faults say), and back on. */
void dw_sim_disk_cut_power(dw_sim_disk *disk);
void dw_sim_disk_power_on(dw_sim_disk *disk);

/* Targeted faults for tests. */
void dw_sim_disk_fail_next_syncs(dw_sim_disk *disk, uint32_t count, int error_number);
/* The nth read, write or sync from now (1: the next) fails with EIO and does nothing; a
 * failing sync also drops the unsynced writes, as a failing fsync may. 0 cancels. For
 * anomaly sweeps: an I/O error at each I/O of a workload in turn. */
void dw_sim_disk_fail_operation(dw_sim_disk *disk, uint64_t nth);
/* The nth operation from now (1: the next), if it is a read, returns its data with one
 * bit flipped: a transient fault of the path, the medium unchanged (reading again returns
 * the right bytes). 0 cancels. For sweeps: a flipped bit in each read of a recovery. */
void dw_sim_disk_flip_read(dw_sim_disk *disk, uint64_t nth);
void dw_sim_disk_set_bad_sector(dw_sim_disk *disk, uint64_t sector, bool bad);
void dw_sim_disk_flip_bit(dw_sim_disk *disk, uint64_t byte_offset, unsigned bit);

/* The durable image, as a power cut now would leave it (for checking a model). */
const unsigned char *dw_sim_disk_durable(const dw_sim_disk *disk);

/* Snapshots: the bytes one takes, and taking and restoring one. */
uint64_t dw_sim_disk_snapshot_bytes(const dw_sim_disk *disk);
void dw_sim_disk_snapshot(const dw_sim_disk *disk, void *snapshot);
void dw_sim_disk_restore(dw_sim_disk *disk, const void *snapshot);

#endif /* DW_IO_SIM_DISK_H */
