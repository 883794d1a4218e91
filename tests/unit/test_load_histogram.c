/*
 * tests/unit/test_load_histogram.c — the latency histogram of
 * load/histogram.h: HdrHistogram's layout (counts_len worked out by hand for
 * the ranges keygate uses), every value kept within 10^-digits, percentiles
 * against exact sorted-array percentiles and against HdrHistogram's own
 * documented case, exact merge, clamping, reset and rebuilding from counts.
 *
 * Expected values are derived here independently of the implementation:
 * sorted arrays, hand-computed layouts, and the tiling of the value line by
 * adjacent slots.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "load/histogram.h"

#define USEC_60S INT64_C(60000000)
#define USEC_1H INT64_C(3600000000)

/* ---- helpers ------------------------------------------------------------ */

/* splitmix64 — a fixed-seed PRNG, so failures reproduce. */
static uint64_t rng_state;

static void rng_seed(uint64_t seed) {
  rng_state = seed;
}

static uint64_t rng_next(void) {
  uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* rng_range — uniform in [lo, hi] (the modulo bias is irrelevant here). */
static int64_t rng_range(int64_t lo, int64_t hi) {
  return lo + (int64_t)(rng_next() % (uint64_t)(hi - lo + 1));
}

/* rng_log — log-uniform in [1, hi]: every magnitude equally often. */
static int64_t rng_log(int64_t hi) {
  double u = (double)(rng_next() >> 11) / 9007199254740992.0; /* [0, 1) */
  int64_t v = (int64_t)exp(u * log((double)hi));
  return v < 1 ? 1 : (v > hi ? hi : v);
}

static kgl_hist make(int64_t lowest, int64_t highest, int digits) {
  kgl_hist h;
  assert_int_equal(kgl_hist_init(&h, lowest, highest, digits), 0);
  return h;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a;
  int64_t y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* exact_percentile — the sample of rank ceil(p / 100 * n) (at least 1) of a
 * sorted array: the definition the histogram approximates. p * n / 100 is
 * computed with integers (p in hundredths of a percent) so the rank is
 * exact. */
static int64_t exact_percentile(const int64_t *sorted, size_t n,
                                int64_t p_hundredths) {
  uint64_t num = (uint64_t)p_hundredths * n;
  size_t rank = (size_t)((num + 9999) / 10000);
  if (rank < 1) {
    rank = 1;
  }
  return sorted[rank - 1];
}

/* within — |got - want| <= want * rel. */
static int within(int64_t got, int64_t want, double rel) {
  return fabs((double)got - (double)want) <= (double)want * rel;
}

/* ---- layout ------------------------------------------------------------- */

static void
layout_matches_hdrhistogram_for_the_ranges_keygate_uses(void **state) {
  (void)state;
  /*
   * Worked by hand. sub_bucket_count is the smallest power of two
   * >= 2 * 10^digits (3 digits: 2000 -> 2048; 2 digits: 200 -> 256; 5
   * digits: 200000 -> 262144; 1 digit: 20 -> 32). Bucket 0 reaches
   * count << unit_magnitude; each further bucket doubles the reach; the
   * bucket count is the number needed to pass `highest`, and counts_len is
   * (buckets + 1) * count / 2.
   *
   *  1..60e6, 3 digits: 2048 * 2^k > 60e6 -> 2^k > 29296.9 -> k = 15,
   *    16 buckets, 17 * 1024 = 17408.
   *  1..3.6e9, 3 digits: 2^k > 1757812.5 -> k = 21, 22 buckets,
   *    23 * 1024 = 23552 (HdrHistogram's value for this layout).
   *  1..60e6, 2 digits: 256 * 2^k > 60e6 -> 2^k > 234375 -> k = 18,
   *    19 buckets, 20 * 128 = 2560.
   *  1000..60e6, 3 digits: unit_magnitude 9 (512 <= 1000 < 1024), bucket 0
   *    reaches 2048 * 512 = 2^20; 2^20 * 2^k > 60e6 -> 2^k > 57.2 -> k = 6,
   *    7 buckets, 8 * 1024 = 8192.
   *  1..3.6e9, 5 digits: 262144 * 2^k > 3.6e9 -> 2^k > 13732.9 -> k = 14,
   *    15 buckets, 16 * 131072 = 2097152.
   *  1..2, 1 digit: 32 > 2 -> 1 bucket, 2 * 16 = 32.
   *  1..INT64_MAX, 3 digits: bucket b reaches 2^(11 + b); 2^(11 + 52) = 2^63
   *    passes INT64_MAX -> 53 buckets, 54 * 1024 = 55296.
   */
  static const struct {
    int64_t lowest, highest;
    int digits;
    int unit_magnitude;
    int32_t sub_bucket_count, bucket_count, counts_len;
  } cases[] = {
      {1, USEC_60S, 3, 0, 2048, 16, 17408},
      {1, USEC_1H, 3, 0, 2048, 22, 23552},
      {1, USEC_60S, 2, 0, 256, 19, 2560},
      {1000, USEC_60S, 3, 9, 2048, 7, 8192},
      {1, USEC_1H, 5, 0, 262144, 15, 2097152},
      {1, 2, 1, 0, 32, 1, 32},
      {1, INT64_MAX, 3, 0, 2048, 53, 55296},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kgl_hist h = make(cases[i].lowest, cases[i].highest, cases[i].digits);
    if (h.counts_len != cases[i].counts_len ||
        h.bucket_count != cases[i].bucket_count ||
        h.sub_bucket_count != cases[i].sub_bucket_count ||
        h.unit_magnitude != cases[i].unit_magnitude) {
      fail_msg("case %zu: counts_len %d buckets %d sub_buckets %d unit %d", i,
               h.counts_len, h.bucket_count, h.sub_bucket_count,
               h.unit_magnitude);
    }
    assert_int_equal(h.sub_bucket_half_count, h.sub_bucket_count / 2);
    assert_int_equal(INT32_C(1) << h.sub_bucket_half_count_magnitude,
                     h.sub_bucket_half_count);
    /* `highest` lands inside the array, in its last bucket (no bucket is
     * wasted), and its slot reaches it. */
    assert_true(kgl_hist_index_of(&h, h.highest) < h.counts_len);
    if (h.bucket_count > 1) {
      assert_true(kgl_hist_index_of(&h, h.highest) >=
                  h.counts_len - h.sub_bucket_half_count);
    }
    assert_true(kgl_hist_value_at(&h, kgl_hist_index_of(&h, h.lowest)) <=
                h.lowest);
    assert_true(kgl_hist_highest_equivalent(&h, h.highest) >= h.highest);
    kgl_hist_free(&h);
  }
}

static void
init_rejects_bad_layouts_and_leaves_an_empty_histogram(void **state) {
  (void)state;
  static const struct {
    int64_t lowest, highest;
    int digits;
  } bad[] = {
      {0, 1000, 3},                      /* lowest < 1 */
      {-1, 1000, 3},                     /* negative lowest */
      {1, 1, 3},                         /* highest < 2 * lowest */
      {10, 19, 3},                       /* highest < 2 * lowest */
      {INT64_MAX / 2 + 1, INT64_MAX, 3}, /* 2 * lowest overflows */
      {1, USEC_60S, 0},                  /* digits below 1 */
      {1, USEC_60S, 6},                  /* digits above 5 */
      {1, USEC_60S, -3},
      {INT64_C(1) << 52, INT64_MAX, 3}, /* 2048 << 52 passes int64_t */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    kgl_hist h;
    memset(&h, 0xa5, sizeof h);
    if (kgl_hist_init(&h, bad[i].lowest, bad[i].highest, bad[i].digits) != -1) {
      fail_msg("layout %zu accepted", i);
    }
    assert_null(h.counts);
    assert_int_equal(h.counts_len, 0);
    assert_int_equal(h.total, 0);
    assert_int_equal(kgl_hist_percentile(&h, 50), 0);
    assert_true(kgl_hist_mean(&h) == 0.0);
    kgl_hist_record(&h, 5); /* ignored, not a crash */
    assert_int_equal(h.total, 0);
    assert_int_equal(kgl_hist_index_of(&h, 5), -1);
    kgl_hist_free(&h);
    kgl_hist_free(&h);
  }
  /* The edges of the valid range are accepted. */
  kgl_hist h = make(10, 20, 1);
  kgl_hist_free(&h);
  h = make(INT64_C(1) << 51, INT64_MAX, 3); /* 2048 << 51 = 2^62 */
  assert_int_equal(h.bucket_count, 2);
  assert_int_equal(kgl_hist_highest_equivalent(&h, INT64_MAX), INT64_MAX);
  kgl_hist_free(&h);
  h = make(1, USEC_60S, 5);
  kgl_hist_free(&h);
}

static void free_is_null_safe_and_idempotent(void **state) {
  (void)state;
  kgl_hist_free(NULL);
  kgl_hist h = make(1, USEC_60S, 3);
  kgl_hist_record(&h, 1234);
  kgl_hist_free(&h);
  assert_null(h.counts);
  assert_int_equal(h.total, 0);
  assert_int_equal(kgl_hist_percentile(&h, 99), 0);
  kgl_hist_free(&h);
}

/* ---- precision ---------------------------------------------------------- */

/* check_slots — over [1, last]: slots tile the line (each value's slot is
 * its predecessor's, or the next index starting exactly at it), every value
 * lies within its slot, values below `exact_below` have a slot of their own,
 * and every slot above is at most v * rel wide. */
static void check_slots(const kgl_hist *h, int64_t last, int64_t exact_below,
                        double rel) {
  int32_t prev = kgl_hist_index_of(h, 1);
  for (int64_t v = 1; v <= last; v++) {
    int32_t idx = kgl_hist_index_of(h, v);
    int64_t lo = kgl_hist_value_at(h, idx);
    int64_t hi = kgl_hist_highest_equivalent(h, v);
    if (v > 1 && idx != prev) {
      if (idx != prev + 1 || lo != v ||
          kgl_hist_highest_equivalent(h, v - 1) != v - 1) {
        fail_msg("%lld: slot %d after %d, starting at %lld", (long long)v, idx,
                 prev, (long long)lo);
      }
    }
    if (lo > v || v > hi) {
      fail_msg("%lld outside its slot [%lld, %lld]", (long long)v,
               (long long)lo, (long long)hi);
    }
    if (v < exact_below && (lo != v || hi != v)) {
      fail_msg("%lld not exact: [%lld, %lld]", (long long)v, (long long)lo,
               (long long)hi);
    }
    if (v >= exact_below && (double)(hi - lo + 1) > (double)v * rel) {
      fail_msg("%lld: slot [%lld, %lld] wider than %g of it", (long long)v,
               (long long)lo, (long long)hi, rel);
    }
    prev = idx;
  }
}

static void every_value_to_a_million_keeps_three_digits(void **state) {
  (void)state;
  kgl_hist h = make(1, USEC_60S, 3);
  /* 2048 slots of width 1 in bucket 0: everything below 2048 is exact. */
  check_slots(&h, 1000000, 2048, 0.001);
  kgl_hist_free(&h);
}

static void every_value_to_a_million_keeps_two_digits(void **state) {
  (void)state;
  kgl_hist h = make(1, USEC_60S, 2);
  check_slots(&h, 1000000, 256, 0.01);
  kgl_hist_free(&h);
}

static void random_values_to_sixty_seconds_keep_three_digits(void **state) {
  (void)state;
  kgl_hist h = make(1, USEC_60S, 3);
  rng_seed(42);
  for (int i = 0; i < 1000000; i++) {
    int64_t v = (i % 2) ? rng_range(1, USEC_60S) : rng_log(USEC_60S);
    int32_t idx = kgl_hist_index_of(&h, v);
    int64_t lo = kgl_hist_value_at(&h, idx);
    int64_t hi = kgl_hist_highest_equivalent(&h, v);
    if (idx < 0 || idx >= h.counts_len || lo > v || v > hi ||
        (v < 2048 && lo != hi) ||
        (v >= 2048 && (double)(hi - lo + 1) > (double)v * 0.001)) {
      fail_msg("%lld: slot %d [%lld, %lld]", (long long)v, idx, (long long)lo,
               (long long)hi);
    }
    /* The slot's bounds land in the same slot; one past it does not. */
    assert_int_equal(kgl_hist_index_of(&h, lo), idx);
    assert_int_equal(kgl_hist_index_of(&h, hi), idx);
    if (hi < h.highest) {
      assert_int_equal(kgl_hist_index_of(&h, hi + 1), idx + 1);
    }
  }
  kgl_hist_free(&h);
}

static void value_at_refuses_indices_outside_the_array(void **state) {
  (void)state;
  kgl_hist h = make(1, USEC_60S, 3);
  assert_int_equal(kgl_hist_value_at(&h, -1), -1);
  assert_int_equal(kgl_hist_value_at(&h, h.counts_len), -1);
  assert_int_equal(kgl_hist_value_at(&h, 0), 0);
  assert_int_equal(kgl_hist_value_at(&h, 2047), 2047);
  /* Bucket 1 starts at 2048 with slots of 2. */
  assert_int_equal(kgl_hist_value_at(&h, 2048), 2048);
  assert_int_equal(kgl_hist_value_at(&h, 2049), 2050);
  kgl_hist_free(&h);
}

/* ---- clamping ----------------------------------------------------------- */

static void values_outside_the_range_are_clamped_and_counted(void **state) {
  (void)state;
  kgl_hist h = make(1, USEC_60S, 3);
  static const int64_t below[] = {0, -1, -5000, INT64_MIN};
  static const int64_t above[] = {USEC_60S + 1, USEC_1H, INT64_MAX};
  for (size_t i = 0; i < sizeof below / sizeof below[0]; i++) {
    assert_int_equal(kgl_hist_index_of(&h, below[i]), kgl_hist_index_of(&h, 1));
    kgl_hist_record(&h, below[i]);
  }
  assert_int_equal(h.saturated, 0);
  assert_int_equal(h.min, 1);
  assert_int_equal(h.max, 1);
  for (size_t i = 0; i < sizeof above / sizeof above[0]; i++) {
    assert_int_equal(kgl_hist_index_of(&h, above[i]),
                     kgl_hist_index_of(&h, USEC_60S));
    kgl_hist_record(&h, above[i]);
  }
  kgl_hist_record(&h, USEC_60S); /* at highest: not saturated */
  assert_int_equal(h.total, 8);
  assert_int_equal(h.saturated, 3);
  assert_int_equal(h.max, USEC_60S);
  assert_int_equal(h.counts[kgl_hist_index_of(&h, 1)], 4);
  assert_int_equal(h.counts[kgl_hist_index_of(&h, USEC_60S)], 4);
  assert_int_equal(kgl_hist_percentile(&h, 100), USEC_60S);
  assert_int_equal(kgl_hist_percentile(&h, 50), 1);
  /* Clamped values count in the mean as what was recorded. */
  assert_true(kgl_hist_mean(&h) == (4.0 + 4.0 * (double)USEC_60S) / 8.0);

  /* With lowest 1000, a 5 is recorded as 1000. */
  kgl_hist k = make(1000, USEC_60S, 3);
  kgl_hist_record(&k, 5);
  assert_int_equal(k.min, 1000);
  assert_int_equal(kgl_hist_percentile(&k, 50), 1000);
  assert_true(kgl_hist_mean(&k) == 1000.0);
  kgl_hist_free(&k);
  kgl_hist_free(&h);
}

/* ---- percentiles -------------------------------------------------------- */

static void an_empty_histogram_reads_zero(void **state) {
  (void)state;
  kgl_hist h = make(1, USEC_60S, 3);
  static const double ps[] = {-1, 0, 0.001, 50, 99.9, 100, 150};
  for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
    assert_int_equal(kgl_hist_percentile(&h, ps[i]), 0);
  }
  assert_true(kgl_hist_mean(&h) == 0.0);
  assert_int_equal(h.total, 0);
  assert_int_equal(h.min, INT64_MAX);
  assert_int_equal(h.max, 0);
  kgl_hist_free(&h);
}

static void a_single_sample_is_every_percentile(void **state) {
  (void)state;
  static const int64_t values[] = {1, 2047, 2048, 123457, USEC_60S};
  static const double ps[] = {-5, 0, 1e-9, 1, 50, 99.999, 100, 1000};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    kgl_hist h = make(1, USEC_60S, 3);
    kgl_hist_record(&h, values[i]);
    for (size_t j = 0; j < sizeof ps / sizeof ps[0]; j++) {
      /* Capped at max, which is exact: the sample itself. */
      assert_int_equal(kgl_hist_percentile(&h, ps[j]), values[i]);
    }
    assert_true(kgl_hist_mean(&h) == (double)values[i]);
    kgl_hist_free(&h);
  }
}

static void
percentiles_report_slot_tops_but_p0_and_p100_are_exact(void **state) {
  (void)state;
  /* 2048 and 5000 sit at the bottom of slots [2048, 2049] and [5000, 5003]:
   * a percentile inside reports the slot's top (capped at max), while p0
   * and p100 are the recorded min and max. */
  kgl_hist h = make(1, USEC_60S, 3);
  kgl_hist_record(&h, 2048);
  kgl_hist_record(&h, 5000);
  assert_int_equal(kgl_hist_percentile(&h, 0), 2048);
  assert_int_equal(kgl_hist_percentile(&h, -1), 2048);
  assert_int_equal(kgl_hist_percentile(&h, 1e-6), 2049);
  assert_int_equal(kgl_hist_percentile(&h, 50), 2049);
  assert_int_equal(kgl_hist_percentile(&h, 50.001), 5000);
  assert_int_equal(kgl_hist_percentile(&h, 100), 5000);
  kgl_hist_record(&h, 5002);
  assert_int_equal(kgl_hist_percentile(&h, 99), 5002);
  kgl_hist_record(&h, 9000);
  assert_int_equal(kgl_hist_percentile(&h, 75), 5003);
  kgl_hist_free(&h);
}

static void one_to_ten_thousand_reads_as_expected(void **state) {
  (void)state;
  kgl_hist h = make(1, USEC_60S, 3);
  for (int64_t v = 1; v <= 10000; v++) {
    kgl_hist_record(&h, v);
  }
  assert_int_equal(h.total, 10000);
  assert_int_equal(h.min, 1);
  assert_int_equal(h.max, 10000);
  assert_int_equal(kgl_hist_percentile(&h, 0), 1);
  assert_int_equal(kgl_hist_percentile(&h, 100), 10000);
  assert_true(kgl_hist_mean(&h) == 5000.5);
  /* Rank ceil(p * 100) holds the value p * 100; the histogram reports the
   * top of its slot: never below, at most 0.1% above. */
  static const struct {
    double p;
    int64_t want;
  } cases[] = {
      {0.01, 1},  {1, 100},     {10, 1000},    {20.47, 2047},
      {25, 2500}, {50, 5000},   {75, 7500},    {90, 9000},
      {99, 9900}, {99.9, 9990}, {99.99, 9999}, {99.995, 10000},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t got = kgl_hist_percentile(&h, cases[i].p);
    if (got < cases[i].want || !within(got, cases[i].want, 0.001)) {
      fail_msg("p%g = %lld, want %lld (+0.1%%)", cases[i].p, (long long)got,
               (long long)cases[i].want);
    }
  }
  /* Below 2048 values are exact: p10 is 1000, p20.47 is 2047. */
  assert_int_equal(kgl_hist_percentile(&h, 10), 1000);
  assert_int_equal(kgl_hist_percentile(&h, 20.47), 2047);
  kgl_hist_free(&h);
}

static void the_rank_is_the_ceiling_of_p_percent_of_the_total(void **state) {
  (void)state;
  /* 1..n once each, all below 2048 so slots are exact: the percentile p
   * (in hundredths, k) is the sample of rank ceil(k * n / 10000), computed
   * with integers. Catches rounding instead of the ceiling, and a ceiling
   * taken on a binary fraction that lands just above an integer (7% of 100
   * is 7.000000000000001 in doubles). */
  static const int64_t sizes[] = {1, 3, 10, 100, 1000, 2047};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    int64_t n = sizes[s];
    kgl_hist h = make(1, USEC_60S, 3);
    for (int64_t v = 1; v <= n; v++) {
      kgl_hist_record(&h, v);
    }
    for (int64_t k = 1; k <= 10000; k++) {
      int64_t want = (k * n + 9999) / 10000;
      int64_t got = kgl_hist_percentile(&h, (double)k / 100.0);
      if (got != want) {
        fail_msg("1..%lld: p%g = %lld, want %lld", (long long)n,
                 (double)k / 100.0, (long long)got, (long long)want);
      }
    }
    kgl_hist_free(&h);
  }
}

static void uniform_samples_match_exact_percentiles(void **state) {
  (void)state;
  enum { N = 200000 };
  static const int64_t hundredths[] = {1,    10,   100,  1000, 2500, 5000, 7500,
                                       9000, 9900, 9950, 9990, 9999, 10000};
  static const struct {
    int64_t hi;
    int digits;
    double rel;
  } runs[] = {{1000000, 3, 0.001}, {USEC_60S, 3, 0.001}, {USEC_60S, 2, 0.01}};
  int64_t *samples = malloc(N * sizeof *samples);
  assert_non_null(samples);
  for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
    kgl_hist h = make(1, USEC_60S, runs[r].digits);
    rng_seed(7 + r);
    for (size_t i = 0; i < N; i++) {
      samples[i] = rng_range(1, runs[r].hi);
      kgl_hist_record(&h, samples[i]);
    }
    qsort(samples, N, sizeof *samples, cmp_i64);
    assert_int_equal(h.min, samples[0]);
    assert_int_equal(h.max, samples[N - 1]);
    for (size_t i = 0; i < sizeof hundredths / sizeof hundredths[0]; i++) {
      int64_t want = exact_percentile(samples, N, hundredths[i]);
      int64_t got = kgl_hist_percentile(&h, (double)hundredths[i] / 100.0);
      if (got < want || !within(got, want, runs[r].rel)) {
        fail_msg("run %zu: p%g = %lld, exact %lld", r,
                 (double)hundredths[i] / 100.0, (long long)got,
                 (long long)want);
      }
    }
    double exact_mean = 0;
    for (size_t i = 0; i < N; i++) {
      exact_mean += (double)samples[i];
    }
    exact_mean /= N;
    assert_true(fabs(kgl_hist_mean(&h) - exact_mean) <= exact_mean * 1e-12);
    kgl_hist_free(&h);
  }
  free(samples);
}

static void bimodal_tail_percentiles_land_in_the_slow_mode(void **state) {
  (void)state;
  /* 99,000 requests near 100 us, 1,000 near 200 ms, shuffled together. */
  kgl_hist h = make(1, USEC_60S, 3);
  rng_seed(2026);
  int64_t fast = 0, slow = 0;
  while (fast + slow < 100000) {
    int pick_slow = (rng_next() % 100) == 0 ? 1 : 0;
    if ((pick_slow && slow < 1000) || fast == 99000) {
      kgl_hist_record(&h, rng_range(190000, 210000));
      slow++;
    } else {
      kgl_hist_record(&h, rng_range(90, 110));
      fast++;
    }
  }
  int64_t p50 = kgl_hist_percentile(&h, 50);
  int64_t p99 = kgl_hist_percentile(&h, 99);      /* rank 99,000: fast */
  int64_t p9901 = kgl_hist_percentile(&h, 99.01); /* rank 99,010: slow */
  int64_t p999 = kgl_hist_percentile(&h, 99.9);   /* rank 99,900: slow */
  assert_true(p50 >= 90 && p50 <= 110);
  assert_true(p99 >= 90 && p99 <= 110);
  assert_true(p9901 >= 190000 && p9901 <= 210000);
  assert_true(p999 >= 190000 && p999 <= 210000);
  assert_true(kgl_hist_percentile(&h, 100) <= 210000);
  assert_true(kgl_hist_percentile(&h, 0) >= 90);
  /* The mean is pulled into the gap: 0.99 * ~100 + 0.01 * ~200000. */
  assert_true(kgl_hist_mean(&h) > 1900 && kgl_hist_mean(&h) < 2200);
  kgl_hist_free(&h);
}

static void hdrhistogram_documented_case_reads_the_same(void **state) {
  (void)state;
  /* HdrHistogram's README/test: 10,000 samples of 1000 and one of
   * 100,000,000 in a 1..3,600,000,000, 3-digit histogram. */
  kgl_hist h = make(1, USEC_1H, 3);
  for (int i = 0; i < 10000; i++) {
    kgl_hist_record(&h, 1000);
  }
  kgl_hist_record(&h, 100000000);
  assert_int_equal(h.total, 10001);
  assert_int_equal(kgl_hist_percentile(&h, 30), 1000);
  assert_int_equal(kgl_hist_percentile(&h, 99), 1000);
  assert_int_equal(kgl_hist_percentile(&h, 99.99), 1000);
  assert_true(within(kgl_hist_percentile(&h, 99.999), 100000000, 0.001));
  assert_true(within(kgl_hist_percentile(&h, 100), 100000000, 0.001));
  assert_int_equal(h.max, 100000000);
  assert_int_equal(h.min, 1000);
  assert_true(fabs(kgl_hist_mean(&h) - (1e7 + 1e8) / 10001.0) < 1e-6);
  /* 100,000,000 sits in a slot 2^16 wide (bucket 16: [2^26, 2^27)). */
  assert_int_equal(kgl_hist_highest_equivalent(&h, 100000000) -
                       kgl_hist_value_at(&h, kgl_hist_index_of(&h, 100000000)) +
                       1,
                   65536);
  kgl_hist_free(&h);
}

static void percentiles_never_decrease_with_p(void **state) {
  (void)state;
  kgl_hist h = make(1, USEC_60S, 3);
  rng_seed(99);
  for (int i = 0; i < 50000; i++) {
    kgl_hist_record(&h, rng_log(USEC_60S));
  }
  int64_t prev = kgl_hist_percentile(&h, 0);
  assert_int_equal(prev, h.min);
  for (int k = 1; k <= 10000; k++) {
    int64_t v = kgl_hist_percentile(&h, (double)k / 100.0);
    if (v < prev || v < h.min || v > h.max) {
      fail_msg("p%g = %lld after %lld", (double)k / 100.0, (long long)v,
               (long long)prev);
    }
    prev = v;
  }
  assert_int_equal(prev, h.max);
  kgl_hist_free(&h);
}

/* ---- recording, reset, merge -------------------------------------------- */

static void record_n_is_n_records(void **state) {
  (void)state;
  static const struct {
    int64_t v, n;
  } cases[] = {{1, 1},        {1500, 7},         {2049, 3}, {777777, 1000},
               {USEC_60S, 2}, {USEC_60S + 5, 4}, {-3, 5}};
  kgl_hist a = make(1, USEC_60S, 3);
  kgl_hist b = make(1, USEC_60S, 3);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kgl_hist_record_n(&a, cases[i].v, cases[i].n);
    for (int64_t k = 0; k < cases[i].n; k++) {
      kgl_hist_record(&b, cases[i].v);
    }
  }
  assert_memory_equal(a.counts, b.counts,
                      (size_t)a.counts_len * sizeof *a.counts);
  assert_int_equal(a.total, 1022);
  assert_int_equal(a.total, b.total);
  assert_int_equal(a.saturated, 4);
  assert_int_equal(a.saturated, b.saturated);
  assert_int_equal(a.min, b.min);
  assert_int_equal(a.max, b.max);
  assert_true(a.sum == b.sum);
  /* n <= 0 records nothing. */
  kgl_hist_record_n(&a, 5, 0);
  kgl_hist_record_n(&a, 5, -10);
  assert_int_equal(a.total, 1022);
  assert_int_equal(a.counts[kgl_hist_index_of(&a, 5)], 0);
  assert_int_equal(a.min, 1);
  kgl_hist_free(&a);
  kgl_hist_free(&b);
}

static void reset_forgets_samples_and_keeps_the_layout(void **state) {
  (void)state;
  kgl_hist h = make(1, USEC_60S, 3);
  for (int64_t v = 1; v < 100000; v += 37) {
    kgl_hist_record(&h, v);
  }
  kgl_hist_record(&h, INT64_MAX);
  int64_t *counts = h.counts;
  kgl_hist_reset(&h);
  assert_ptr_equal(h.counts, counts);
  assert_int_equal(h.counts_len, 17408);
  assert_int_equal(h.total, 0);
  assert_int_equal(h.saturated, 0);
  assert_int_equal(h.min, INT64_MAX);
  assert_int_equal(h.max, 0);
  assert_true(h.sum == 0.0);
  for (int32_t i = 0; i < h.counts_len; i++) {
    assert_int_equal(h.counts[i], 0);
  }
  assert_int_equal(kgl_hist_percentile(&h, 50), 0);
  kgl_hist_record(&h, 42);
  assert_int_equal(kgl_hist_percentile(&h, 50), 42);
  kgl_hist_free(&h);
}

/* feed — record n samples (log-uniform, some saturated) from seed. */
static void feed(kgl_hist *h, kgl_hist *both, uint64_t seed, int n) {
  rng_seed(seed);
  for (int i = 0; i < n; i++) {
    int64_t v =
        (i % 97 == 0) ? USEC_60S + rng_range(0, 1000) : rng_log(USEC_60S);
    kgl_hist_record(h, v);
    kgl_hist_record(both, v);
  }
}

static void merge_equals_one_histogram_fed_both_sets(void **state) {
  (void)state;
  kgl_hist a = make(1, USEC_60S, 3);
  kgl_hist b = make(1, USEC_60S, 3);
  kgl_hist c = make(1, USEC_60S, 3);
  feed(&a, &c, 1, 30000);
  feed(&b, &c, 2, 20000);
  assert_int_equal(kgl_hist_same_layout(&a, &b), 1);
  assert_int_equal(kgl_hist_merge(&a, &b), 0);
  assert_memory_equal(a.counts, c.counts,
                      (size_t)c.counts_len * sizeof *c.counts);
  assert_int_equal(a.total, c.total);
  assert_int_equal(a.total, 50000);
  assert_int_equal(a.saturated, c.saturated);
  assert_int_equal(a.min, c.min);
  assert_int_equal(a.max, c.max);
  assert_true(a.sum == c.sum); /* integer sums below 2^53: exact */
  for (int k = 0; k <= 1000; k++) {
    double p = (double)k / 10.0;
    assert_int_equal(kgl_hist_percentile(&a, p), kgl_hist_percentile(&c, p));
  }
  /* b is unchanged by being merged. */
  kgl_hist b2 = make(1, USEC_60S, 3);
  kgl_hist unused = make(1, USEC_60S, 3);
  feed(&b2, &unused, 2, 20000);
  assert_memory_equal(b.counts, b2.counts,
                      (size_t)b.counts_len * sizeof *b.counts);
  kgl_hist_free(&a);
  kgl_hist_free(&b);
  kgl_hist_free(&c);
  kgl_hist_free(&b2);
  kgl_hist_free(&unused);
}

static void
merge_with_an_empty_histogram_changes_nothing_but_counts(void **state) {
  (void)state;
  kgl_hist full = make(1, USEC_60S, 3);
  kgl_hist empty = make(1, USEC_60S, 3);
  kgl_hist sink = make(1, USEC_60S, 3);
  feed(&full, &sink, 3, 1000);
  int64_t min = full.min, max = full.max, total = full.total;
  assert_int_equal(kgl_hist_merge(&full, &empty), 0);
  assert_int_equal(full.min, min);
  assert_int_equal(full.max, max);
  assert_int_equal(full.total, total);
  assert_int_equal(kgl_hist_merge(&empty, &full), 0);
  assert_int_equal(empty.min, min);
  assert_int_equal(empty.max, max);
  assert_int_equal(empty.total, total);
  assert_memory_equal(empty.counts, full.counts,
                      (size_t)full.counts_len * sizeof *full.counts);
  kgl_hist_free(&full);
  kgl_hist_free(&empty);
  kgl_hist_free(&sink);
}

static void
merge_of_different_layouts_is_refused_and_changes_nothing(void **state) {
  (void)state;
  static const struct {
    int64_t lowest, highest;
    int digits;
  } others[] = {
      {1, USEC_60S, 2},
      {1, USEC_1H, 3},
      {2, USEC_60S, 3},
      {1, USEC_60S - 1, 3}, /* same counts_len, different highest */
  };
  kgl_hist dst = make(1, USEC_60S, 3);
  kgl_hist sink = make(1, USEC_60S, 3);
  feed(&dst, &sink, 4, 5000);
  kgl_hist before = dst;
  int64_t *counts = malloc((size_t)dst.counts_len * sizeof *counts);
  assert_non_null(counts);
  memcpy(counts, dst.counts, (size_t)dst.counts_len * sizeof *counts);
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
    kgl_hist src = make(others[i].lowest, others[i].highest, others[i].digits);
    kgl_hist_record(&src, 1000);
    assert_int_equal(kgl_hist_same_layout(&dst, &src), 0);
    assert_int_equal(kgl_hist_same_layout(&src, &dst), 0);
    assert_int_equal(kgl_hist_merge(&dst, &src), -1);
    assert_memory_equal(&dst, &before, sizeof dst);
    assert_memory_equal(dst.counts, counts,
                        (size_t)dst.counts_len * sizeof *counts);
    kgl_hist_free(&src);
  }
  free(counts);
  kgl_hist_free(&dst);
  kgl_hist_free(&sink);
}

/* ---- rebuilding from counts --------------------------------------------- */

static void
set_count_rebuilds_a_histogram_with_equal_percentiles(void **state) {
  (void)state;
  kgl_hist orig = make(1, USEC_60S, 3);
  kgl_hist sink = make(1, USEC_60S, 3);
  feed(&orig, &sink, 5, 40000);
  kgl_hist copy = make(1, USEC_60S, 3);
  int32_t first = -1, last = -1;
  for (int32_t i = 0; i < orig.counts_len; i++) {
    if (orig.counts[i] != 0) {
      assert_int_equal(kgl_hist_set_count(&copy, i, orig.counts[i]), 0);
      if (first < 0) {
        first = i;
      }
      last = i;
    }
  }
  assert_memory_equal(copy.counts, orig.counts,
                      (size_t)orig.counts_len * sizeof *orig.counts);
  assert_int_equal(copy.total, orig.total);
  /* min/max are the bounds of the extreme slots, within [lowest, highest]. */
  assert_int_equal(copy.min, kgl_hist_value_at(&copy, first));
  assert_int_equal(copy.max, USEC_60S); /* the saturated samples' slot */
  assert_int_equal(kgl_hist_index_of(&copy, copy.min),
                   kgl_hist_index_of(&orig, orig.min));
  assert_int_equal(kgl_hist_index_of(&copy, copy.max), last);
  /* The mean, from slot middles, is within the precision. */
  assert_true(fabs(kgl_hist_mean(&copy) - kgl_hist_mean(&orig)) <=
              kgl_hist_mean(&orig) * 0.001);
  /* With min and max restored, every percentile is equal. */
  copy.min = orig.min;
  copy.max = orig.max;
  for (int k = 0; k <= 1000; k++) {
    double p = (double)k / 10.0;
    if (kgl_hist_percentile(&copy, p) != kgl_hist_percentile(&orig, p)) {
      fail_msg("p%g: %lld rebuilt, %lld original", p,
               (long long)kgl_hist_percentile(&copy, p),
               (long long)kgl_hist_percentile(&orig, p));
    }
  }
  kgl_hist_free(&orig);
  kgl_hist_free(&sink);
  kgl_hist_free(&copy);
}

static void set_count_keeps_total_min_and_max_consistent(void **state) {
  (void)state;
  kgl_hist h = make(1, USEC_60S, 3);
  int32_t i100 = kgl_hist_index_of(&h, 100);
  int32_t i5000 = kgl_hist_index_of(&h, 5000); /* slot [5000, 5003] */
  int32_t i9m = kgl_hist_index_of(&h, 9000000);
  assert_int_equal(kgl_hist_set_count(&h, i5000, 3), 0);
  assert_int_equal(h.total, 3);
  assert_int_equal(h.min, 5000);
  assert_int_equal(h.max, 5003);
  assert_int_equal(kgl_hist_set_count(&h, i100, 2), 0);
  assert_int_equal(kgl_hist_set_count(&h, i9m, 1), 0);
  assert_int_equal(h.total, 6);
  assert_int_equal(h.min, 100);
  assert_int_equal(h.max, kgl_hist_highest_equivalent(&h, 9000000));
  /* Lowering a count moves the total only. */
  assert_int_equal(kgl_hist_set_count(&h, i5000, 1), 0);
  assert_int_equal(h.total, 4);
  assert_int_equal(h.min, 100);
  /* Emptying the extreme slots moves min and max inwards. */
  assert_int_equal(kgl_hist_set_count(&h, i100, 0), 0);
  assert_int_equal(h.min, 5000);
  assert_int_equal(kgl_hist_set_count(&h, i9m, 0), 0);
  assert_int_equal(h.max, 5003);
  assert_int_equal(h.total, 1);
  assert_int_equal(kgl_hist_percentile(&h, 50), 5003);
  assert_int_equal(kgl_hist_set_count(&h, i5000, 0), 0);
  assert_int_equal(h.total, 0);
  assert_int_equal(h.min, INT64_MAX);
  assert_int_equal(h.max, 0);
  assert_true(kgl_hist_mean(&h) == 0.0);
  /* Refused: negative counts, indices recording cannot reach. */
  assert_int_equal(kgl_hist_set_count(&h, i100, -1), -1);
  assert_int_equal(kgl_hist_set_count(&h, -1, 1), -1);
  assert_int_equal(kgl_hist_set_count(&h, 0, 1), -1); /* value 0 < lowest */
  assert_int_equal(
      kgl_hist_set_count(&h, kgl_hist_index_of(&h, USEC_60S) + 1, 1), -1);
  assert_int_equal(kgl_hist_set_count(&h, h.counts_len, 1), -1);
  assert_int_equal(h.total, 0);
  kgl_hist_free(&h);
}

#define T(f) cmocka_unit_test_teardown(f, guard_teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(layout_matches_hdrhistogram_for_the_ranges_keygate_uses),
      T(init_rejects_bad_layouts_and_leaves_an_empty_histogram),
      T(free_is_null_safe_and_idempotent),
      T(every_value_to_a_million_keeps_three_digits),
      T(every_value_to_a_million_keeps_two_digits),
      T(random_values_to_sixty_seconds_keep_three_digits),
      T(value_at_refuses_indices_outside_the_array),
      T(values_outside_the_range_are_clamped_and_counted),
      T(an_empty_histogram_reads_zero),
      T(a_single_sample_is_every_percentile),
      T(percentiles_report_slot_tops_but_p0_and_p100_are_exact),
      T(one_to_ten_thousand_reads_as_expected),
      T(the_rank_is_the_ceiling_of_p_percent_of_the_total),
      T(uniform_samples_match_exact_percentiles),
      T(bimodal_tail_percentiles_land_in_the_slow_mode),
      T(hdrhistogram_documented_case_reads_the_same),
      T(percentiles_never_decrease_with_p),
      T(record_n_is_n_records),
      T(reset_forgets_samples_and_keeps_the_layout),
      T(merge_equals_one_histogram_fed_both_sets),
      T(merge_with_an_empty_histogram_changes_nothing_but_counts),
      T(merge_of_different_layouts_is_refused_and_changes_nothing),
      T(set_count_rebuilds_a_histogram_with_equal_percentiles),
      T(set_count_keeps_total_min_and_max_consistent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
