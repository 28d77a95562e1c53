/*
 * bits.h — powers of two, which ring and heap capacities are made of.
 */
#ifndef DW_CORE_BITS_H
#define DW_CORE_BITS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/assert.h"

static inline bool dw_is_power_of_two(uint64_t value)
{
    return value != 0 && (value & (value - 1)) == 0;
}

/* The smallest power of two that is at least `value` and at least 2 (a ring needs two
 * cells to tell full from empty). */
static inline uint32_t dw_power_of_two_at_least(uint32_t value)
{
    DW_ASSERT(value <= (UINT32_C(1) << 31));
    uint32_t result = 2;
    while (result < value) {
        result *= 2;
    }
    return result;
}

#endif /* DW_CORE_BITS_H */
