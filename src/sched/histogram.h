/*
 * histogram.h — latency distributions in fixed memory, log-linear like HdrHistogram.
 *
 * Values (ns) fall into buckets: each power of two [2^k, 2^(k+1)) is split into 64
 * equal sub-buckets, so a reported percentile is never more than 1/64 (1.6%) above the
 * true value, from 1 ns to 2^42 ns (73 minutes); larger values count in the last bucket.
 * Recording is O(1) and never allocates; one histogram takes about 19 KiB.
 */
#ifndef DW_SCHED_HISTOGRAM_H
#define DW_SCHED_HISTOGRAM_H

#include <stdint.h>

#define DW_HISTOGRAM_SUB_BITS 6
#define DW_HISTOGRAM_SUB_COUNT (1u << DW_HISTOGRAM_SUB_BITS)
#define DW_HISTOGRAM_RANGES 37 /* 2^6 .. 2^42, plus the linear first range */
#define DW_HISTOGRAM_BUCKETS (DW_HISTOGRAM_RANGES * DW_HISTOGRAM_SUB_COUNT)
#define DW_HISTOGRAM_VALUE_MAX ((UINT64_C(1) << 42) - 1)

typedef struct dw_histogram {
    uint64_t count;
    uint64_t sum;
    uint64_t min;
    uint64_t max;
    uint64_t buckets[DW_HISTOGRAM_BUCKETS];
} dw_histogram;

void dw_histogram_reset(dw_histogram *histogram);
void dw_histogram_record(dw_histogram *histogram, uint64_t value);
void dw_histogram_merge(dw_histogram *into, const dw_histogram *from);

/* The value at or below which `per_million` / 1,000,000 of the recorded values lie (the
 * upper edge of its bucket, capped at the exact maximum); 0 when nothing is recorded.
 * p99.9 is dw_histogram_percentile(h, 999000). */
uint64_t dw_histogram_percentile(const dw_histogram *histogram, uint32_t per_million);

/* The mean, rounded down; 0 when nothing is recorded. */
uint64_t dw_histogram_mean(const dw_histogram *histogram);

#endif /* DW_SCHED_HISTOGRAM_H */
