/*
 * checksum.c — libxxhash behind dwvd names, so the rest of the engine never includes
 * xxhash.h and the choice of hash stays in one place.
 */
#include "core/checksum.h"

#include <xxhash.h>

#include "core/assert.h"

uint64_t dw_xxh64(const void *data, size_t length, uint64_t seed)
{
    DW_ASSERT(data != NULL || length == 0);
    return (uint64_t)XXH64(data, length, (XXH64_hash_t)seed);
}

uint64_t dw_xxh3_64(const void *data, size_t length, uint64_t seed)
{
    DW_ASSERT(data != NULL || length == 0);
    return (uint64_t)XXH3_64bits_withSeed(data, length, (XXH64_hash_t)seed);
}
