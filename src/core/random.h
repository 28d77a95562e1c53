/*
 * random.h — xoshiro256**, the deterministic generator behind every seeded decision in
 * dwvd (the simulated disk's faults and latencies, the simulator's workloads).
 *
 * Chosen because its output is fully specified (Blackman and Vigna, 2018), it passes
 * the usual statistical batteries, and its state is four words on the stack: the same
 * seed gives the same sequence on every machine and build. Not for cryptography.
 */
#ifndef DW_CORE_RANDOM_H
#define DW_CORE_RANDOM_H

#include <stdbool.h>
#include <stdint.h>

typedef struct dw_random {
    uint64_t state[4];
} dw_random;

/* Seeds the four words from one 64-bit seed with splitmix64, as the authors advise, so
 * that nearby seeds give unrelated sequences and no seed gives the all-zero state. */
void dw_random_seed(dw_random *random, uint64_t seed);

uint64_t dw_random_next(dw_random *random);

/* A number in 0 .. bound - 1 without modulo bias (Lemire's multiply-and-reject). */
uint64_t dw_random_below(dw_random *random, uint64_t bound);

/* True with probability parts_per_million / 1,000,000: probabilities are integers so
 * that no floating-point rounding can make two builds decide differently. */
bool dw_random_chance(dw_random *random, uint32_t parts_per_million);

#endif /* DW_CORE_RANDOM_H */
