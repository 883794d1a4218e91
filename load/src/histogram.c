/*
 * load/src/histogram.c — the latency histogram of load/histogram.h.
 *
 * The layout is HdrHistogram's (HdrHistogram_c, src/hdr_histogram.c),
 * written here from its description:
 *
 *   sub_bucket_count   the smallest power of two >= 2 * 10^digits; every
 *                      bucket splits its range into this many (bucket 0) or
 *                      half this many (buckets >= 1) equal slots
 *   unit_magnitude     floor(log2(lowest)): the width of bucket 0's slots
 *   bucket b           holds values below sub_bucket_count << (unit + b);
 *                      its slots are 2^(unit + b) wide
 *
 * Bucket 0 covers [0, sub_bucket_count << unit) in sub_bucket_count slots;
 * each later bucket b covers only its upper half, [half << (unit + b + 1),
 * count << (unit + b)), in half_count slots (the lower half is the previous
 * bucket). So the counts array is (bucket_count + 1) * half_count long, and
 * a slot is never wider than value / half_count: at least `digits`
 * significant digits everywhere.
 *
 * Nothing here allocates except kgl_hist_init.
 */
#include "load/histogram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- bit arithmetic ----------------------------------------------------- */

/* clz64 — leading zero bits of x; x != 0. */
static int clz64(uint64_t x) {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_clzll(x);
#else
  int n = 0;
  for (int shift = 32; shift > 0; shift >>= 1) {
    if ((x >> (64 - shift)) == 0) {
      n += shift;
      x <<= shift;
    }
  }
  return n;
#endif
}

static int64_t clamp(const kgl_hist *h, int64_t v) {
  if (v < h->lowest) {
    return h->lowest;
  }
  return v > h->highest ? h->highest : v;
}

/* bucket_of — the bucket of v (in [0, highest]): from the leading bit of
 * v, with the sub-bucket mask or'ed in so that every value below bucket 0's
 * top lands in bucket 0. */
static int bucket_of(const kgl_hist *h, int64_t v) {
  int pow2ceiling = 64 - clz64((uint64_t)(v | h->sub_bucket_mask));
  return pow2ceiling - h->unit_magnitude -
         (h->sub_bucket_half_count_magnitude + 1);
}

/* ---- layout ------------------------------------------------------------- */

int kgl_hist_init(kgl_hist *h, int64_t lowest, int64_t highest, int digits) {
  memset(h, 0, sizeof *h);
  h->min = INT64_MAX;
  if (lowest < 1 || highest / 2 < lowest || digits < 1 || digits > 5) {
    return -1;
  }
  /* The smallest power of two holding 2 * 10^digits distinct values. */
  int64_t distinct = 2;
  for (int i = 0; i < digits; i++) {
    distinct *= 10;
  }
  int count_magnitude = 0;
  while ((INT64_C(1) << count_magnitude) < distinct) {
    count_magnitude++;
  }
  int unit = 63 - clz64((uint64_t)lowest);
  /* Keeps sub_bucket_count << unit, bucket 0's top, within int64_t. */
  if (unit + count_magnitude > 62) {
    return -1;
  }
  int32_t count = (int32_t)1 << count_magnitude;

  /* Buckets until one's top exceeds highest; when the next top would pass
   * INT64_MAX, one more bucket covers the rest (a bucket's range doubles). */
  int64_t top = (int64_t)count << unit;
  int32_t buckets = 1;
  while (top <= highest) {
    if (top > INT64_MAX / 2) {
      buckets++;
      break;
    }
    top <<= 1;
    buckets++;
  }

  int64_t *counts =
      calloc((size_t)(buckets + 1) * (size_t)(count / 2), sizeof *counts);
  if (counts == NULL) {
    return -1;
  }
  h->lowest = lowest;
  h->highest = highest;
  h->digits = digits;
  h->unit_magnitude = unit;
  h->sub_bucket_half_count_magnitude = count_magnitude - 1;
  h->sub_bucket_count = count;
  h->sub_bucket_half_count = count / 2;
  h->sub_bucket_mask = ((int64_t)count - 1) << unit;
  h->bucket_count = buckets;
  h->counts_len = (buckets + 1) * (count / 2);
  h->counts = counts;
  return 0;
}

void kgl_hist_free(kgl_hist *h) {
  if (h == NULL) {
    return;
  }
  free(h->counts);
  memset(h, 0, sizeof *h);
  h->min = INT64_MAX;
}

void kgl_hist_reset(kgl_hist *h) {
  if (h->counts != NULL) {
    memset(h->counts, 0, (size_t)h->counts_len * sizeof *h->counts);
  }
  h->total = 0;
  h->saturated = 0;
  h->min = INT64_MAX;
  h->max = 0;
  h->sum = 0.0;
}

int kgl_hist_same_layout(const kgl_hist *a, const kgl_hist *b) {
  return a->lowest == b->lowest && a->highest == b->highest &&
         a->digits == b->digits;
}

/* ---- values and indices ------------------------------------------------- */

/* index_in — the counts index of v, already clamped to [lowest, highest]:
 * (bucket + 1) half-counts of earlier slots, then v's sub-bucket (the bits
 * below its leading bit, in [half, count) except in bucket 0) past half. */
static int32_t index_in(const kgl_hist *h, int64_t v) {
  int bucket = bucket_of(h, v);
  int32_t sub = (int32_t)(v >> (bucket + h->unit_magnitude));
  return ((int32_t)(bucket + 1) << h->sub_bucket_half_count_magnitude) +
         (sub - h->sub_bucket_half_count);
}

int32_t kgl_hist_index_of(const kgl_hist *h, int64_t v) {
  if (h->counts == NULL) {
    return -1;
  }
  return index_in(h, clamp(h, v));
}

int64_t kgl_hist_value_at(const kgl_hist *h, int32_t index) {
  if (index < 0 || index >= h->counts_len) {
    return -1;
  }
  int bucket = (int)(index >> h->sub_bucket_half_count_magnitude) - 1;
  int32_t sub =
      (index & (h->sub_bucket_half_count - 1)) + h->sub_bucket_half_count;
  if (bucket < 0) {
    /* Bucket 0 has both halves: its first half_count slots come first. */
    sub -= h->sub_bucket_half_count;
    bucket = 0;
  }
  return (int64_t)sub << (bucket + h->unit_magnitude);
}

/* slot_width — the width of the slot holding v (any v >= 0). */
static uint64_t slot_width(const kgl_hist *h, int64_t v) {
  return UINT64_C(1) << (bucket_of(h, v) + h->unit_magnitude);
}

/* slot_top — the highest value of counts[index] (index in range). Unsigned:
 * the top slot of a layout reaching INT64_MAX ends at 2^63 - 1. */
static int64_t slot_top(const kgl_hist *h, int32_t index) {
  int64_t lo = kgl_hist_value_at(h, index);
  return (int64_t)((uint64_t)lo + slot_width(h, lo) - 1);
}

int64_t kgl_hist_highest_equivalent(const kgl_hist *h, int64_t v) {
  if (h->counts == NULL) {
    return -1;
  }
  return slot_top(h, index_in(h, clamp(h, v)));
}

/* ---- recording ---------------------------------------------------------- */

void kgl_hist_record_n(kgl_hist *h, int64_t v, int64_t n) {
  if (n <= 0 || h->counts == NULL) {
    return;
  }
  if (v > h->highest) {
    h->saturated += n;
  }
  v = clamp(h, v);
  h->counts[index_in(h, v)] += n;
  h->total += n;
  h->sum += (double)v * (double)n;
  if (v < h->min) {
    h->min = v;
  }
  if (v > h->max) {
    h->max = v;
  }
}

void kgl_hist_record(kgl_hist *h, int64_t v) {
  kgl_hist_record_n(h, v, 1);
}

int kgl_hist_merge(kgl_hist *dst, const kgl_hist *src) {
  /* Every count and "saturated" is at most "total": when the totals add
   * up without overflow, so does every other sum. */
  if (!kgl_hist_same_layout(dst, src) || src->total < 0 || dst->total < 0 ||
      src->total > INT64_MAX - dst->total) {
    return -1;
  }
  for (int32_t i = 0; i < dst->counts_len; i++) {
    dst->counts[i] += src->counts[i];
  }
  dst->total += src->total;
  dst->saturated += src->saturated;
  dst->sum += src->sum;
  if (src->min < dst->min) {
    dst->min = src->min;
  }
  if (src->max > dst->max) {
    dst->max = src->max;
  }
  return 0;
}

/* slot_low, slot_high — the values a rebuilt histogram assumes for a slot
 * recording can reach: its bounds, within [lowest, highest]. */
static int64_t slot_low(const kgl_hist *h, int32_t index) {
  int64_t lo = kgl_hist_value_at(h, index);
  return lo < h->lowest ? h->lowest : lo;
}

static int64_t slot_high(const kgl_hist *h, int32_t index) {
  int64_t hi = slot_top(h, index);
  return hi > h->highest ? h->highest : hi;
}

int kgl_hist_set_count(kgl_hist *h, int32_t index, int64_t n) {
  if (h->counts == NULL || index < kgl_hist_index_of(h, h->lowest) ||
      index > kgl_hist_index_of(h, h->highest) || n < 0) {
    return -1;
  }
  int64_t old = h->counts[index];
  if (n - old > 0 && h->total > INT64_MAX - (n - old)) {
    return -1; /* the total would pass 2^63 - 1 */
  }
  h->counts[index] = n;
  h->total += n - old;
  /* The sum moves by the slot's middle, as HdrHistogram's mean counts it. */
  int64_t lo = kgl_hist_value_at(h, index);
  double mid = (double)lo + (double)slot_width(h, lo) / 2.0;
  h->sum += (double)(n - old) * mid;
  if (h->total == 0) {
    h->sum = 0.0;
  }
  if (n > 0) {
    if (slot_low(h, index) < h->min) {
      h->min = slot_low(h, index);
    }
    if (slot_high(h, index) > h->max) {
      h->max = slot_high(h, index);
    }
    return 0;
  }
  /* Emptied: when the slot held the min or the max, the nearest non-empty
   * slot gives the new bound. */
  if (old > 0 && h->min != INT64_MAX && kgl_hist_index_of(h, h->min) == index) {
    h->min = INT64_MAX;
    for (int32_t i = index + 1; i < h->counts_len; i++) {
      if (h->counts[i] > 0) {
        h->min = slot_low(h, i);
        break;
      }
    }
  }
  if (old > 0 && h->max != 0 && kgl_hist_index_of(h, h->max) == index) {
    h->max = 0;
    for (int32_t i = index - 1; i >= 0; i--) {
      if (h->counts[i] > 0) {
        h->max = slot_high(h, i);
        break;
      }
    }
  }
  return 0;
}

/* ---- reading ------------------------------------------------------------ */

int64_t kgl_hist_percentile(const kgl_hist *h, double p) {
  if (h->total == 0) {
    return 0;
  }
  if (!(p > 0.0)) { /* NaN too */
    return h->min;
  }
  if (p >= 100.0) {
    return h->max;
  }
  /* rank = ceil(p / 100 * total). A relative 1e-12 keeps p / 100 * total
   * that is mathematically an integer (99.9% of 1000) from rounding up to
   * the next one on a binary fraction. */
  double x = p / 100.0 * (double)h->total;
  double r = ceil(x - x * 1e-12);
  int64_t rank = r < 1.0 ? 1 : (int64_t)r;
  if (rank > h->total) {
    rank = h->total;
  }
  int64_t seen = 0;
  for (int32_t i = 0; i < h->counts_len; i++) {
    seen += h->counts[i];
    if (seen >= rank) {
      int64_t v = slot_top(h, i);
      return v < h->max ? v : h->max;
    }
  }
  return h->max; /* counts and total disagree: not reached */
}

double kgl_hist_mean(const kgl_hist *h) {
  return h->total > 0 ? h->sum / (double)h->total : 0.0;
}
