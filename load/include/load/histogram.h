/*
 * load/histogram.h — a latency histogram with HdrHistogram's layout:
 * log-linear buckets, a fixed number of significant digits, constant-time
 * recording, exact merge by adding counts.
 *
 * Layout (the same arithmetic as HdrHistogram_c, written here from its
 * description): values are integers in [lowest, highest]. The sub-bucket
 * count is the power of two that holds 2 * 10^digits distinct values; the
 * bucket of a value comes from its leading bit, the sub-bucket from the bits
 * below it, so every recorded value is kept within 10^-digits of its
 * magnitude. Two histograms merge exactly when their (lowest, highest,
 * digits) are equal: the merged histogram equals the one that would have been
 * fed every sample of both.
 *
 * Memory: the counts array is allocated once by kgl_hist_init; recording,
 * merging and reading never allocate. A value above `highest` is recorded as
 * `highest` and counted in `saturated` (so totals never lose a sample); a
 * value below `lowest` (including negatives) is recorded as `lowest`.
 *
 * Thread safety: none; one writer per histogram. Merge per-thread
 * histograms once, at the end (as h2load and wrk2 do).
 */
#ifndef KEYGATE_LOAD_HISTOGRAM_H
#define KEYGATE_LOAD_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kgl_hist {
  /* layout, fixed at init */
  int64_t lowest;  /* smallest distinguishable value, >= 1 */
  int64_t highest; /* largest trackable value, >= 2 * lowest */
  int digits;      /* significant digits, 1..5 */
  int unit_magnitude;
  int sub_bucket_half_count_magnitude;
  int32_t sub_bucket_count;
  int32_t sub_bucket_half_count;
  int64_t sub_bucket_mask;
  int32_t bucket_count;
  int32_t counts_len;
  /* contents */
  int64_t total;     /* samples recorded */
  int64_t saturated; /* samples above highest, recorded as highest */
  int64_t min;       /* smallest recorded value (INT64_MAX when empty) */
  int64_t max;       /* largest recorded value (0 when empty) */
  double sum;        /* sum of recorded values (after clamping), for mean */
  int64_t *counts;   /* counts_len entries, owned */
} kgl_hist;

/*
 * kgl_hist_init — lay out *h for values in [lowest, highest] with `digits`
 * significant digits and allocate its counts (zeroed). Returns 0, or -1 on a
 * bad layout (lowest < 1, highest < 2 * lowest, digits outside 1..5) or when
 * memory runs out; *h is then empty and safe to free.
 */
int kgl_hist_init(kgl_hist *h, int64_t lowest, int64_t highest, int digits);

/* kgl_hist_free — release the counts; *h becomes empty. NULL-safe. */
void kgl_hist_free(kgl_hist *h);

/* kgl_hist_reset — forget every sample, keep the layout. */
void kgl_hist_reset(kgl_hist *h);

/* kgl_hist_record — count one sample of value v. O(1), no allocation. */
void kgl_hist_record(kgl_hist *h, int64_t v);

/* kgl_hist_record_n — count n samples of value v; n <= 0 records nothing.
 * O(1), no allocation. */
void kgl_hist_record_n(kgl_hist *h, int64_t v, int64_t n);

/* kgl_hist_same_layout — 1 when a and b have equal (lowest, highest,
 * digits), so they can merge; else 0. */
int kgl_hist_same_layout(const kgl_hist *a, const kgl_hist *b);

/*
 * kgl_hist_merge — add every count of src into dst. Returns 0, or -1 (dst
 * unchanged) when the layouts differ or the totals would add up beyond
 * INT64_MAX (every count is at most its total, so no other sum can).
 */
int kgl_hist_merge(kgl_hist *dst, const kgl_hist *src);

/*
 * kgl_hist_percentile — the value at percentile p (0..100): the highest
 * equivalent value of the bucket holding the sample of rank
 * ceil(p / 100 * total) (at least 1), capped at max; HdrHistogram's
 * definition. p >= 100 gives max, p <= 0 gives min. 0 when empty.
 */
int64_t kgl_hist_percentile(const kgl_hist *h, double p);

/* kgl_hist_mean — sum / total, 0 when empty. */
double kgl_hist_mean(const kgl_hist *h);

/* kgl_hist_index_of — the counts index a value lands in (after clamping);
 * -1 for a histogram without counts (failed init, freed). */
int32_t kgl_hist_index_of(const kgl_hist *h, int64_t v);

/* kgl_hist_value_at — the lowest value of counts[index]'s range (for the
 * slot holding `lowest`, possibly below `lowest`); -1 for an index outside
 * [0, counts_len). */
int64_t kgl_hist_value_at(const kgl_hist *h, int32_t index);

/* kgl_hist_highest_equivalent — the highest value of the range v lands in
 * (after clamping; for the top slot, possibly above `highest`); -1 for a
 * histogram without counts. */
int64_t kgl_hist_highest_equivalent(const kgl_hist *h, int64_t v);

/*
 * kgl_hist_set_count — set counts[index] to n (>= 0) and keep total, min,
 * max and sum consistent (for readers that rebuild a histogram from a file:
 * min/max become the slot's bounds, clamped to [lowest, highest], unless set
 * afterwards; sum moves by the slot's middle value per sample). Returns 0,
 * or -1 (h unchanged) for a negative n, an index recording cannot reach
 * (outside [index_of(lowest), index_of(highest)]), or a total that would
 * pass INT64_MAX.
 */
int kgl_hist_set_count(kgl_hist *h, int32_t index, int64_t n);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_LOAD_HISTOGRAM_H */
