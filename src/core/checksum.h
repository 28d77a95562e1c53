/*
 * checksum.h — thin wrappers over libxxhash.
 *
 * XXH64 protects every block on disk (seeded with the block's own address, so a write
 * that lands at the wrong address fails to verify); XXH3 is for in-memory hashing where
 * speed matters more than a long-fixed format (replay logs, hash tables).
 */
#ifndef DW_CORE_CHECKSUM_H
#define DW_CORE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* XXH64 of `length` bytes with `seed`; its value is part of the on-disk format. */
uint64_t dw_xxh64(const void *data, size_t length, uint64_t seed);

/* XXH3, 64-bit result, with `seed`. */
uint64_t dw_xxh3_64(const void *data, size_t length, uint64_t seed);

/* XXH64 over data given in pieces: the same value as dw_xxh64 over the pieces joined.
 * Lives on the caller's stack (libxxhash's own createState would allocate). */
typedef struct dw_xxh64_stream {
    _Alignas(8) unsigned char state[96]; /* an XXH64_state_t, checked in checksum.c */
} dw_xxh64_stream;

void dw_xxh64_begin(dw_xxh64_stream *stream, uint64_t seed);
void dw_xxh64_add(dw_xxh64_stream *stream, const void *data, size_t length);
uint64_t dw_xxh64_end(const dw_xxh64_stream *stream);

#endif /* DW_CORE_CHECKSUM_H */
