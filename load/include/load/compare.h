/*
 * load/compare.h — two load results held against each other: per class,
 * rps and p50/p99/p99.9 old vs new with the change, and a verdict (faster,
 * slower, same, inconclusive) that noise cannot fool.
 *
 * The verdict reads the per-second series of both runs (kgl_result.series),
 * as scripts/bench-compare reads the repetitions of a microbenchmark: each
 * second wholly inside the measured span where the class had responses is
 * one sample of its p50 and one of its p99 latency. For each of the two
 * metrics, a two-sided Mann-Whitney U test of old against new (exact for
 * up to 20 samples a side without ties, otherwise the normal approximation
 * with tie and continuity corrections, as scipy.stats.mannwhitneyu) gives
 * p, doubled for the two metrics tested (Bonferroni), and the change is
 * that of the per-second medians. A metric moved when p < KGL_CMP_ALPHA
 * AND |change| >= KGL_CMP_FLOOR_PCT (the noise floor: seconds of one run
 * share that run's machine, so the test sees within-run noise only; a
 * smaller change between runs is not taken for real). A metric is same
 * only when its change is inside the floor; a change beyond the floor that
 * is not significant is inconclusive (too little evidence either way). The
 * row is slower when either metric got slower, else faster when either got
 * faster, else inconclusive when either is, else same. Inconclusive (never
 * same) with fewer than KGL_CMP_MIN_SECONDS samples on a side, and on a
 * merged file (runs > 1), whose per-second percentiles are upper bounds
 * (the larger of the runs'), not samples. docs/load.md ("## keygate
 * report") is the user's copy.
 *
 * Nothing here allocates except kgl_mann_whitney's scratch (freed before
 * it returns).
 */
#ifndef KEYGATE_LOAD_COMPARE_H
#define KEYGATE_LOAD_COMPARE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "load/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KGL_CMP_ALPHA 0.05      /* significance level of the row's test */
#define KGL_CMP_FLOOR_PCT 5.0   /* smallest change (%) called real */
#define KGL_CMP_MIN_SECONDS 5   /* per side, or the row is inconclusive */
#define KGL_CMP_FAIL_ABOVE 10.0 /* --fail-above's default, in % */

typedef enum kgl_verdict {
  KGL_V_SAME = 0,
  KGL_V_FASTER = 1,
  KGL_V_SLOWER = 2,
  KGL_V_INCONCLUSIVE = 3
} kgl_verdict;

/* kgl_verdict_name — "same", "faster", "slower", "inconclusive";
 * "unknown" otherwise. */
const char *kgl_verdict_name(int v);

/* The outcome of a Mann-Whitney U test. */
typedef struct kgl_mwu {
  double u;  /* U of the first sample: pairs (x, y) with x > y, ties 1/2 */
  double p;  /* two-sided p-value, in [0, 1] */
  int exact; /* 1: the exact null distribution; 0: normal approximation */
} kgl_mwu;

/*
 * kgl_mann_whitney — the two-sided Mann-Whitney U test of x (nx values)
 * against y (ny values). Exact when neither side has more than 20 values
 * and no value ties, else the normal approximation with the tie correction
 * of the variance and a continuity correction of 1/2. Returns 0, or -1
 * when a side is empty or memory runs out (*out then p = 1).
 */
int kgl_mann_whitney(const double *x, size_t nx, const double *y, size_t ny,
                     kgl_mwu *out);

/*
 * kgl_verdict_of — the rule for one metric: inconclusive when n_old or
 * n_new is below min_n or change_pct is not a number; same when
 * |change_pct| < floor_pct; slower (change_pct > 0) or faster when p <
 * alpha; else (beyond the floor, not significant) inconclusive.
 */
kgl_verdict kgl_verdict_of(size_t n_old, size_t n_new, double p,
                           double change_pct, size_t min_n, double alpha,
                           double floor_pct);

/* kgl_change_pct — (new - old) / old * 100; NAN when old is 0 or either
 * is not finite (a change that cannot be computed). */
double kgl_change_pct(double old, double new_);

/* One per-second metric tested. */
typedef struct kgl_cmp_metric {
  double old_median, new_median; /* µs, of the per-second values */
  double change_pct;             /* of the medians */
  double p; /* two-sided, Bonferroni-doubled, <= 1; NAN when no test was
             * made (a merged file: its seconds are upper bounds) */
  int exact;
  kgl_verdict verdict;
} kgl_cmp_metric;

#define KGL_CMP_METRICS 2 /* per-second p50 and p99 */

/* kgl_cmp_metric_name — "p50" or "p99" for metric index 0 or 1. */
const char *kgl_cmp_metric_name(int m);

/* Why a row is inconclusive. */
typedef enum kgl_cmp_why {
  KGL_WHY_NONE = 0,        /* not inconclusive, or by its metrics */
  KGL_WHY_FEW_SECONDS = 1, /* fewer than min_n seconds a side */
  KGL_WHY_MERGED = 2       /* a merged file: per-second upper bounds */
} kgl_cmp_why;

/* One class (or the overall row) of the comparison. A change that cannot
 * be computed (a side without traffic in the class, an old value of 0) is
 * NAN. */
typedef struct kgl_cmp_row {
  int present; /* 1 when either run had traffic in this class */
  double rps_old, rps_new, rps_change_pct;
  /* whole-run percentiles p50, p99, p99.9 (µs) and their change; has_old,
   * has_new: 0 when that side had no response in the class */
  int64_t old_pct[3], new_pct[3];
  double pct_change[3];
  int has_old, has_new;
  kgl_cmp_why why;
  size_t n_old, n_new; /* per-second samples */
  kgl_cmp_metric metric[KGL_CMP_METRICS];
  kgl_verdict verdict;
  int decided_by; /* the metric index that set the verdict (why NONE) */
} kgl_cmp_row;

/* kgl_cmp_verdict_text — the row's verdict as the tables show it:
 * "slower (p99 +38.2%)", "same (p50 +1.2%)", "inconclusive (p99 +90.0%)",
 * "inconclusive (merged: per-second percentiles are upper bounds)",
 * "inconclusive (fewer than 5 seconds a side)". */
void kgl_cmp_verdict_text(const kgl_cmp_row *r, size_t min_n, char *out,
                          size_t cap);

/* kgl_cmp_p_text — the p of the metric that decided the row ("0.0123"),
 * or "-" when no test decided it (too few seconds, a merged file). */
void kgl_cmp_p_text(const kgl_cmp_row *r, char *out, size_t cap);

typedef struct kgl_comparison {
  kgl_cmp_row row[KGL_ROWS]; /* indexed by kgl_class, KGL_ALL last */
  double alpha, floor_pct;
  size_t min_n;
} kgl_comparison;

/*
 * kgl_compare — fill *c with old held against new_ under the KGL_CMP_*
 * rules. 0, or -1 when memory runs out.
 */
int kgl_compare(const kgl_result *old, const kgl_result *new_,
                kgl_comparison *c);

/*
 * kgl_compare_fails — 1 when a row's verdict is slower and the change of
 * the metric that decided it exceeds fail_above_pct; else 0.
 */
int kgl_compare_fails(const kgl_comparison *c, double fail_above_pct);

typedef enum kgl_cmp_format {
  KGL_CMP_TEXT = 0,
  KGL_CMP_MARKDOWN = 1,
  KGL_CMP_JSON = 2
} kgl_cmp_format;

/*
 * kgl_compare_print — the comparison as a table for a terminal, markdown
 * for a pull-request comment, or one JSON document (schema
 * "keygate-compare", version 1; docs/load.md): the targets, one row per
 * class present, the method's line, the set-up differences between the
 * runs, and what --fail-above (fail_above_pct) decides.
 */
void kgl_compare_print(const kgl_comparison *c, const kgl_result *old,
                       const kgl_result *new_, double fail_above_pct, FILE *f,
                       kgl_cmp_format fmt);

/* kgl_second_whole — 1 when second s of r lies inside r's measured span,
 * within 0.1 s (a span of 5.98 s has five whole seconds, 0..4, and 5 too;
 * a run's spill-over past its end is not one); else 0. */
int kgl_second_whole(const kgl_result *r, const kgl_second *s);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_LOAD_COMPARE_H */
