/*
 * load/src/result.c — a run's result in memory: set-up, the measured span,
 * the per-second series and the exact merge (load/result.h).
 *
 * Merging is what makes per-thread, per-run and per-machine results one:
 * counts add, histograms add bucket by bucket (so the merged percentiles are
 * those of one histogram fed every sample), the span becomes the union of
 * both spans and the series is re-based on the merged start.
 */
#include "load/result.h"

#include <stdlib.h>
#include <string.h>

#include "keygate/keygate.h"

/* ---- names ---------------------------------------------------------------
 */

const char *kgl_err_name(int kind) {
  static const char *const names[KGL_ERR_KINDS] = {
      "connect", "tls",    "write",   "read",
      "reset",   "closed", "timeout", "protocol"};
  if (kind < 0 || kind >= KGL_ERR_KINDS) {
    return "unknown";
  }
  return names[kind];
}

/* ---- life cycle ----------------------------------------------------------
 */

int kgl_result_init(kgl_result *r) {
  memset(r, 0, sizeof *r);
  r->schema_version = KGL_SCHEMA_VERSION;
  snprintf(r->tool_version, sizeof r->tool_version, "%s", KEYGATE_VERSION);
  r->runs = 1;
  for (int i = 0; i < KGL_ROWS; i++) {
    if (kgl_hist_init(&r->cls[i].latency, KGL_LAT_LOWEST, KGL_LAT_HIGHEST,
                      KGL_LAT_DIGITS) != 0) {
      kgl_result_free(r);
      return -1;
    }
  }
  return 0;
}

void kgl_result_free(kgl_result *r) {
  if (r == NULL) {
    return;
  }
  for (int i = 0; i < KGL_ROWS; i++) {
    kgl_hist_free(&r->cls[i].latency);
  }
  free(r->series);
  r->series = NULL;
  r->nseries = 0;
  r->series_cap = 0;
}

/* ---- derived figures -----------------------------------------------------
 */

double kgl_result_elapsed_s(const kgl_result *r) {
  if (r->end_unix_ns <= r->start_unix_ns) {
    return 0.0;
  }
  return (double)(r->end_unix_ns - r->start_unix_ns) / 1e9;
}

double kgl_result_rps(const kgl_result *r, int row) {
  double s = kgl_result_elapsed_s(r);
  if (row < 0 || row >= KGL_ROWS || s <= 0.0) {
    return 0.0;
  }
  /* responses per second, as wrk counts them: a request that got no
   * response is not throughput */
  return (double)(r->cls[row].requests - r->cls[row].errors) / s;
}

/* ---- merging -------------------------------------------------------------
 */

int kgl_class_stats_merge(kgl_class_stats *dst, const kgl_class_stats *src) {
  if (!kgl_hist_same_layout(&dst->latency, &src->latency) ||
      kgl_hist_merge(&dst->latency, &src->latency) != 0) {
    return -1;
  }
  dst->requests += src->requests;
  dst->ok += src->ok;
  dst->mismatches += src->mismatches;
  for (int k = 0; k < KGL_MM_KINDS; k++) {
    dst->mismatch_kinds[k] += src->mismatch_kinds[k];
  }
  dst->errors += src->errors;
  for (int k = 0; k < KGL_ERR_KINDS; k++) {
    dst->error_kinds[k] += src->error_kinds[k];
  }
  return 0;
}

/* grow_series — make room for at least `need` entries (doubling). */
static int grow_series(kgl_result *r, size_t need) {
  if (need <= r->series_cap) {
    return 0;
  }
  size_t cap = r->series_cap ? r->series_cap : 16;
  while (cap < need) {
    if (cap > SIZE_MAX / 2 / sizeof(kgl_second)) {
      return -1;
    }
    cap *= 2;
  }
  kgl_second *s = realloc(r->series, cap * sizeof *s);
  if (s == NULL) {
    return -1;
  }
  r->series = s;
  r->series_cap = cap;
  return 0;
}

int kgl_result_add_second(kgl_result *r, const kgl_second *s) {
  if (grow_series(r, r->nseries + 1) != 0) {
    return -1;
  }
  r->series[r->nseries++] = *s;
  return 0;
}

/* is_blank — a result that has measured nothing yet (a fresh init): merging
 * into it adopts the other's set-up and counts as no run of its own. */
static int is_blank(const kgl_result *r) {
  return r->start_unix_ns == 0 && r->end_unix_ns == 0 &&
         r->cls[KGL_ALL].requests == 0 && r->nseries == 0 && r->nsamples == 0 &&
         r->warmup_requests == 0;
}

static int64_t floor_s(int64_t ns) {
  int64_t s = ns / 1000000000;
  return (ns % 1000000000 < 0) ? s - 1 : s;
}

static int cmp_second(const void *a, const void *b) {
  int64_t x = ((const kgl_second *)a)->t, y = ((const kgl_second *)b)->t;
  return (x > y) - (x < y);
}

static int64_t max64(int64_t a, int64_t b) {
  return a > b ? a : b;
}

static void add_row(kgl_second_row *d, const kgl_second_row *s) {
  d->requests += s->requests;
  d->mismatches += s->mismatches;
  d->errors += s->errors;
  /* Percentiles of a sum are not the sum of percentiles; the larger of the
   * two is an upper bound of the merged one (the whole-run histogram keeps
   * the exact figures). */
  d->p50 = max64(d->p50, s->p50);
  d->p90 = max64(d->p90, s->p90);
  d->p99 = max64(d->p99, s->p99);
  d->p999 = max64(d->p999, s->p999);
  d->max = max64(d->max, s->max);
}

/* merge_series — dst's and src's seconds, re-based on the start `start_ns`
 * of the merged span, equal wall-clock seconds summed. 0, or -1 (out of
 * memory; dst unchanged). */
static int merge_series(kgl_result *dst, const kgl_result *src,
                        int64_t start_ns) {
  size_t n = dst->nseries + src->nseries;
  if (n == 0) {
    return 0;
  }
  kgl_second *all = malloc(n * sizeof *all);
  if (all == NULL) {
    return -1;
  }
  int64_t base = floor_s(start_ns);
  int64_t shift_d = floor_s(dst->start_unix_ns) - base;
  int64_t shift_s = floor_s(src->start_unix_ns) - base;
  for (size_t i = 0; i < dst->nseries; i++) {
    all[i] = dst->series[i];
    all[i].t += shift_d;
  }
  for (size_t i = 0; i < src->nseries; i++) {
    all[dst->nseries + i] = src->series[i];
    all[dst->nseries + i].t += shift_s;
  }
  qsort(all, n, sizeof *all, cmp_second);
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (m > 0 && all[m - 1].t == all[i].t) {
      for (int row = 0; row < KGL_ROWS; row++) {
        add_row(&all[m - 1].row[row], &all[i].row[row]);
      }
    } else {
      all[m++] = all[i];
    }
  }
  free(dst->series);
  dst->series = all;
  dst->nseries = m;
  dst->series_cap = n;
  return 0;
}

int kgl_result_merge(kgl_result *dst, const kgl_result *src, char *why,
                     size_t whycap) {
  if (src->schema_version != dst->schema_version) {
    snprintf(why, whycap, "cannot merge results of schema versions %d and %d",
             dst->schema_version, src->schema_version);
    return -1;
  }
  for (int i = 0; i < KGL_ROWS; i++) {
    const kgl_hist *a = &dst->cls[i].latency, *b = &src->cls[i].latency;
    if (!kgl_hist_same_layout(a, b)) {
      snprintf(why, whycap,
               "cannot merge histograms of different layouts (%s: "
               "%lld..%lld us, %d digits vs %lld..%lld us, %d digits)",
               kgl_class_name((kgl_class)i), (long long)a->lowest,
               (long long)a->highest, a->digits, (long long)b->lowest,
               (long long)b->highest, b->digits);
      return -1;
    }
  }
  int blank = is_blank(dst);
  int64_t start = src->start_unix_ns, end = src->end_unix_ns;
  if (!blank) {
    start = dst->start_unix_ns < start ? dst->start_unix_ns : start;
    end = dst->end_unix_ns > end ? dst->end_unix_ns : end;
  }
  /* The one step that can fail comes before anything of dst changes. */
  if (merge_series(dst, src, start) != 0) {
    snprintf(why, whycap, "out of memory merging the per-second series");
    return -1;
  }
  for (int i = 0; i < KGL_ROWS; i++) {
    (void)kgl_class_stats_merge(&dst->cls[i], &src->cls[i]);
  }
  for (int i = 0; i < src->nsamples && dst->nsamples < KGL_MAX_SAMPLES; i++) {
    dst->samples[dst->nsamples++] = src->samples[i];
  }
  if (blank) {
    dst->config = src->config;
    memcpy(dst->tool_version, src->tool_version, sizeof dst->tool_version);
    dst->runs = src->runs;
    dst->rate_achieved = src->rate_achieved;
  } else {
    dst->runs += src->runs;
    /* Runs merged are taken as concurrent (threads of one run, machines
     * driving one target): the asked and achieved rates add up. */
    dst->config.rate += src->config.rate;
    dst->rate_achieved += src->rate_achieved;
  }
  dst->start_unix_ns = start;
  dst->end_unix_ns = end;
  if (src->max_lag_ms > dst->max_lag_ms) {
    dst->max_lag_ms = src->max_lag_ms;
  }
  dst->warmup_requests += src->warmup_requests;
  dst->warmup_mismatches += src->warmup_mismatches;
  dst->warmup_errors += src->warmup_errors;
  dst->unsolicited += src->unsolicited;
  /* Outcomes described the inputs, not their union: evaluate again. */
  dst->nthresholds = 0;
  return 0;
}
