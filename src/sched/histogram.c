/*
 * histogram.c — see histogram.h.
 *
 * Bucket index: values below 64 map one to one (range 0); a value with its top bit at
 * position k >= 6 belongs to range k - 5, and its sub-bucket is the six bits below the
 * top bit. No library fits: HdrHistogram_c allocates its counts at init with malloc, and
 * we need the counts inside structures laid out in the arena.
 */
#include "sched/histogram.h"

#include <string.h>

#include "core/assert.h"

static uint32_t bucket_of(uint64_t value)
{
    if (value > DW_HISTOGRAM_VALUE_MAX) {
        value = DW_HISTOGRAM_VALUE_MAX;
    }
    if (value < DW_HISTOGRAM_SUB_COUNT) {
        return (uint32_t)value;
    }
    uint32_t top = 63u - (uint32_t)__builtin_clzll(value);
    uint32_t range = top - DW_HISTOGRAM_SUB_BITS + 1;
    uint32_t sub = (uint32_t)(value >> (top - DW_HISTOGRAM_SUB_BITS)) & (DW_HISTOGRAM_SUB_COUNT - 1);
    uint32_t bucket = range * DW_HISTOGRAM_SUB_COUNT + sub;
    DW_ASSERT(bucket < DW_HISTOGRAM_BUCKETS);
    return bucket;
}

/* The largest value that falls in `bucket`. */
static uint64_t bucket_upper(uint32_t bucket)
{
    uint32_t range = bucket / DW_HISTOGRAM_SUB_COUNT;
    uint32_t sub = bucket % DW_HISTOGRAM_SUB_COUNT;
    if (range == 0) {
        return sub;
    }
    uint32_t shift = range - 1;
    uint64_t lower = ((uint64_t)DW_HISTOGRAM_SUB_COUNT + sub) << shift;
    return lower + (UINT64_C(1) << shift) - 1;
}

void dw_histogram_reset(dw_histogram *histogram)
{
    memset(histogram, 0, sizeof *histogram);
    histogram->min = UINT64_MAX;
}

void dw_histogram_record(dw_histogram *histogram, uint64_t value)
{
    histogram->buckets[bucket_of(value)]++;
    histogram->count++;
    histogram->sum += value;
    histogram->min = value < histogram->min ? value : histogram->min;
    histogram->max = value > histogram->max ? value : histogram->max;
}

void dw_histogram_merge(dw_histogram *into, const dw_histogram *from)
{
    for (uint32_t i = 0; i < DW_HISTOGRAM_BUCKETS; i++) {
        into->buckets[i] += from->buckets[i];
    }
    into->count += from->count;
    into->sum += from->sum;
    into->min = from->min < into->min ? from->min : into->min;
    into->max = from->max > into->max ? from->max : into->max;
}

uint64_t dw_histogram_percentile(const dw_histogram *histogram, uint32_t per_million)
{
    DW_ASSERT(per_million <= 1000000);
    if (histogram->count == 0) {
        return 0;
    }
    /* The rank of the wanted value, 1-based, rounded up: p50 of 2 values is the first. */
    __extension__ typedef unsigned __int128 dw_u128;
    uint64_t rank = (uint64_t)(((dw_u128)histogram->count * per_million + 999999) / 1000000);
    rank = rank == 0 ? 1 : rank;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < DW_HISTOGRAM_BUCKETS; i++) {
        seen += histogram->buckets[i];
        if (seen >= rank) {
            uint64_t upper = bucket_upper(i);
            return upper < histogram->max ? upper : histogram->max;
        }
    }
    return histogram->max;
}

uint64_t dw_histogram_mean(const dw_histogram *histogram)
{
    return histogram->count == 0 ? 0 : histogram->sum / histogram->count;
}
