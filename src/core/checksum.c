/*
 * checksum.c — libxxhash behind dwvd names, so the rest of the engine never includes
 * xxhash.h and the choice of hash stays in one place.
 */
#include "core/checksum.h"

#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t's size, for the stack */
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

_Static_assert(sizeof(XXH64_state_t) <= sizeof(((dw_xxh64_stream *)0)->state),
               "dw_xxh64_stream is too small for this libxxhash");
_Static_assert(_Alignof(XXH64_state_t) <= 8, "dw_xxh64_stream is under-aligned");

void dw_xxh64_begin(dw_xxh64_stream *stream, uint64_t seed)
{
    (void)XXH64_reset((XXH64_state_t *)(void *)stream->state, (XXH64_hash_t)seed);
}

void dw_xxh64_add(dw_xxh64_stream *stream, const void *data, size_t length)
{
    DW_ASSERT(data != NULL || length == 0);
    (void)XXH64_update((XXH64_state_t *)(void *)stream->state, data, length);
}

uint64_t dw_xxh64_end(const dw_xxh64_stream *stream)
{
    return (uint64_t)XXH64_digest((const XXH64_state_t *)(const void *)stream->state);
}
