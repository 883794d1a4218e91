/*
 * watch.h — the core watched while a benchmark runs in slices.
 *
 * On a shared host the physical core's other hardware thread, another
 * tenant's, comes and goes over tenths of a second; while it runs, varied
 * code (a decision, a parser) takes ~1.6x as long and a chain of SHA
 * instructions a little longer (docs/benchmarks.md, the sixteenth
 * session). A benchmark that watches runs its work in slices and calls
 * fx_watch_slice after each: with the timer paused, a sensor times 256
 * missing-key decisions of the api_bearer head (the extraction and the
 * URL scan, no digest), the same work in every watched benchmark, so one
 * run's readings compare. fx_watch_report then writes the counters
 *
 *   sensor_ns    the sensor's fastest reading (ns a decision)
 *   quiet_share  the share of slices whose readings before and after were
 *                both within FX_WATCH_QUIET of that fastest
 *   quiet_ns     those slices' median (ns an operation, by the monotonic
 *                clock), absent when there is none
 *
 * and scripts/bench leaves out a repetition whose own fastest reading is
 * over 1.0625x the run's fastest (its REP_QUIET): such a repetition judged
 * its slices against a reading the neighbour had already slowed.
 */
#ifndef KEYGATE_BENCH_WATCH_H
#define KEYGATE_BENCH_WATCH_H

#include <stddef.h>
#include <stdlib.h>

#include "shim/kgbench.h"

#define FX_WATCH_SLICE 4096  /* operations between two sensor readings */
#define FX_WATCH_QUIET 1.125 /* a reading within 1.125x the fastest (9/8) */

typedef struct fx_watch fx_watch;

/* fx_now_ns — the monotonic clock, in ns. */
double fx_now_ns(void);

/* fx_watch_new — a watch with its first sensor reading taken; NULL when
 * the sensor's decision is not the missing key it must be. */
fx_watch *fx_watch_new(void);

/* fx_watch_slice — after a slice of FX_WATCH_SLICE operations that took
 * ns_per_op each: keep it and take the next reading (the caller pauses
 * the timer around it). */
void fx_watch_slice(fx_watch *w, double ns_per_op);

/* fx_watch_report — the counters above; 0 when a sensor decision went
 * wrong (the caller reports an error). Frees w. */
int fx_watch_report(fx_watch *w, kgb_state *st);

/*
 * FX_WATCH_LOOP(st, w) { body } — KGB_LOOP in slices: body runs the number
 * of times Google Benchmark asks for, timed, in slices of FX_WATCH_SLICE,
 * and after each whole slice the sensor is read with the timer paused
 * (fx_watch_slice). With w NULL, one slice a batch and no reading: exactly
 * KGB_LOOP. `break` leaves the slice only, as in KGB_LOOP.
 */
typedef struct fx_slices {
  int64_t n;    /* the batch Google Benchmark asked for */
  int64_t done; /* of it, run */
  int64_t m;    /* the slice running */
  double t0;    /* when it began (with a watch) */
} fx_slices;

/* End the slice *s ran (its time to w), begin the next; 0 when the
 * benchmark is done. FX_WATCH_LOOP's step. */
int fx_slice_next(fx_slices *s, kgb_state *st, fx_watch *w);

#define FX_WATCH_LOOP(st, w)                                                   \
  for (fx_slices fx_s_ = {0, 0, 0, 0}; fx_slice_next(&fx_s_, (st), (w));)      \
    for (int64_t fx_i_ = 0, fx_m_ = fx_s_.m; fx_i_ < fx_m_; fx_i_++)

/* qsort's order for doubles (no NaN here: times and ratios). */
static inline int fx_cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a;
  const double y = *(const double *)b;
  return (x > y) - (x < y);
}

/*
 * fx_watch_quiet — the arithmetic of fx_watch_report, alone for its test:
 * slice[0..n) the slices' ns an operation, sensor[0..n] the readings
 * (sensor[k] before slice k, sensor[k + 1] after it), n >= 1. *fastest is
 * the fastest reading; a slice is quiet when both its readings are within
 * FX_WATCH_QUIET of it; *share is the quiet slices' share of n; *quiet_ns
 * their median. Returns 1 when a slice is quiet (*quiet_ns set), else 0.
 * Reorders slice[].
 */
static inline int fx_watch_quiet(double *slice, const double *sensor, size_t n,
                                 double *fastest, double *share,
                                 double *quiet_ns) {
  double f = sensor[0];
  for (size_t k = 1; k <= n; k++) {
    f = sensor[k] < f ? sensor[k] : f;
  }
  size_t q = 0;
  for (size_t k = 0; k < n; k++) {
    if (sensor[k] <= FX_WATCH_QUIET * f &&
        sensor[k + 1] <= FX_WATCH_QUIET * f) {
      slice[q++] = slice[k];
    }
  }
  *fastest = f;
  *share = (double)q / (double)n;
  if (q == 0) {
    return 0;
  }
  qsort(slice, q, sizeof slice[0], fx_cmp_double);
  *quiet_ns = q % 2 ? slice[q / 2] : (slice[q / 2 - 1] + slice[q / 2]) / 2;
  return 1;
}

/*
 * Two kinds of work side by side (head/paired, context/decide_paired): an
 * iteration times one slice of each, a few tens of microseconds apart, so
 * the core's other thread and the host's memory fall on both or neither.
 * fx_pairs_add keeps the first FX_PAIRS_KEPT iterations' two times and
 * their ratio a / b; fx_pairs_report writes the three medians as counters
 * named a_name, b_name and ratio_name (none when nothing was kept) and
 * frees the pairs, fx_pairs_free frees them without a report.
 */
#define FX_PAIRS_KEPT 65536

typedef struct fx_pairs {
  double *a, *b, *ratio;
  size_t kept;
} fx_pairs;

void fx_pairs_init(fx_pairs *p); /* exits (fx_die) when out of memory */
void fx_pairs_add(fx_pairs *p, double a, double b);
void fx_pairs_report(fx_pairs *p, kgb_state *st, const char *a_name,
                     const char *b_name, const char *ratio_name);
void fx_pairs_free(fx_pairs *p);

#endif /* KEYGATE_BENCH_WATCH_H */
