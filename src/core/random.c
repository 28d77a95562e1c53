/*
 * random.c — xoshiro256** and splitmix64, written from their published definitions.
 */
#include "core/random.h"

#include "core/assert.h"

static uint64_t rotate_left(uint64_t value, int bits)
{
    return (value << bits) | (value >> (64 - bits));
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void dw_random_seed(dw_random *random, uint64_t seed)
{
    uint64_t state = seed;
    for (int i = 0; i < 4; i++) {
        random->state[i] = splitmix64(&state);
    }
    DW_ASSERT((random->state[0] | random->state[1] | random->state[2] | random->state[3]) != 0);
}

uint64_t dw_random_next(dw_random *random)
{
    uint64_t *s = random->state;
    uint64_t result = rotate_left(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotate_left(s[3], 45);
    return result;
}

uint64_t dw_random_below(dw_random *random, uint64_t bound)
{
    DW_ASSERT(bound > 0);
    __extension__ typedef unsigned __int128 dw_u128;
    dw_u128 product = (dw_u128)dw_random_next(random) * bound;
    uint64_t low = (uint64_t)product;
    if (low < bound) {
        uint64_t threshold = (0 - bound) % bound;
        while (low < threshold) {
            product = (dw_u128)dw_random_next(random) * bound;
            low = (uint64_t)product;
        }
    }
    return (uint64_t)(product >> 64);
}

bool dw_random_chance(dw_random *random, uint32_t parts_per_million)
{
    if (parts_per_million == 0) {
        return false;
    }
    return dw_random_below(random, 1000000) < parts_per_million;
}
