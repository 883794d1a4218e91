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

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
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
  /* Unsigned: end - start of any two int64_t with end > start fits in a
   * uint64_t (INT64_MIN to INT64_MAX is 2^64 - 1), never in an int64_t. */
  return (double)((uint64_t)r->end_unix_ns - (uint64_t)r->start_unix_ns) / 1e9;
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

/* add_ok — 1 when a + b (both >= 0 where they count something) neither
 * overflows nor goes negative; else 0. */
static int add_ok(int64_t a, int64_t b) {
  return a >= 0 && b >= 0 && b <= INT64_MAX - a;
}

/* stats_add_ok — 1 when every count of src adds to dst's without overflow
 * (the histograms' totals included); else 0. */
static int stats_add_ok(const kgl_class_stats *dst,
                        const kgl_class_stats *src) {
  int ok = add_ok(dst->requests, src->requests) && add_ok(dst->ok, src->ok) &&
           add_ok(dst->mismatches, src->mismatches) &&
           add_ok(dst->errors, src->errors) &&
           add_ok(dst->latency.total, src->latency.total);
  for (int k = 0; k < KGL_MM_KINDS; k++) {
    ok = ok && add_ok(dst->mismatch_kinds[k], src->mismatch_kinds[k]);
  }
  for (int k = 0; k < KGL_ERR_KINDS; k++) {
    ok = ok && add_ok(dst->error_kinds[k], src->error_kinds[k]);
  }
  return ok;
}

int kgl_class_stats_merge(kgl_class_stats *dst, const kgl_class_stats *src) {
  if (!kgl_hist_same_layout(&dst->latency, &src->latency) ||
      !stats_add_ok(dst, src) ||
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

int kgl_result_measured(const kgl_result *r) {
  return r->cls[KGL_ALL].requests > 0;
}

int64_t kgl_result_errors(const kgl_result *r, int row) {
  if (row < 0 || row >= KGL_ROWS) {
    return 0;
  }
  int64_t n = r->cls[row].errors;
  if (row == KGL_ALL && r->unsolicited > 0) {
    /* both are counts the reader bounds to INT64_MAX: saturate, never wrap */
    n = n > INT64_MAX - r->unsolicited ? INT64_MAX : n + r->unsolicited;
  }
  return n;
}

double kgl_result_warmup_s(const kgl_result *r) {
  return r->warmup_cut ? r->warmup_done_s : r->config.warmup_s;
}

const char *kgl_signal_name(int sig) {
  switch (sig) {
  case SIGINT:
    return "SIGINT";
  case SIGTERM:
    return "SIGTERM";
  default:
    return "a signal";
  }
}

void kgl_result_interruption(const kgl_result *r, char *out, size_t cap) {
  if (cap == 0) {
    return;
  }
  out[0] = '\0';
  if (r->interrupted == 0) {
    return;
  }
  const char *sig = kgl_signal_name(r->interrupted);
  if (r->runs > 1) {
    snprintf(out, cap, "at least one of the %d runs merged was stopped by %s",
             r->runs, sig);
  } else if (r->warmup_cut) {
    snprintf(out, cap, "stopped by %s in its warm-up (%.1f of %.1f s)", sig,
             r->warmup_done_s, r->config.warmup_s);
  } else if (r->config.requests > 0) {
    snprintf(out, cap, "stopped by %s after %lld of the %lld requests asked",
             sig, (long long)r->cls[KGL_ALL].requests,
             (long long)r->config.requests);
  } else {
    snprintf(out, cap, "stopped by %s after %.1f s of the %.1f s asked", sig,
             kgl_result_elapsed_s(r), r->config.duration_s);
  }
}

/* same_expect — the two expectations check the same things. */
static int same_expect(const kgl_expect *a, const kgl_expect *b) {
  return a->status == b->status && a->contract == b->contract &&
         strncmp(a->code, b->code, sizeof a->code) == 0;
}

int kgl_result_mergeable(const kgl_result *a, const kgl_result *b, char *why,
                         size_t whycap) {
  const kgl_config *x = &a->config, *y = &b->config;
  if (!kgl_result_measured(a) || !kgl_result_measured(b)) {
    snprintf(why, whycap,
             "%s measured nothing (no request completed after the warm-up): "
             "leave it out",
             kgl_result_measured(a) ? "the second" : "the first");
    return -1;
  }
  const char *field = NULL;
  if (strncmp(x->url, y->url, sizeof x->url) != 0) {
    field = "config.url";
  } else if (strncmp(x->method, y->method, sizeof x->method) != 0) {
    field = "config.method";
  } else if (strncmp(x->header, y->header, sizeof x->header) != 0) {
    field = "config.header";
  } else if (memcmp(x->mix, y->mix, sizeof x->mix) != 0) {
    field = "config.mix";
  }
  for (int c = 0; field == NULL && c < KGL_NCLASS; c++) {
    if (!same_expect(&x->expect[c], &y->expect[c])) {
      field = "config.expect";
    }
  }
  if (field != NULL) {
    snprintf(why, whycap,
             "%s differs: the runs sent other traffic, so their counts do "
             "not add up (--force merges them anyway)",
             field);
    return -1;
  }
  if (a->start_unix_ns >= b->end_unix_ns ||
      b->start_unix_ns >= a->end_unix_ns) {
    snprintf(why, whycap,
             "the measured spans do not overlap: merge takes runs as "
             "concurrent (rates add, rps over the union of the spans); run "
             "them side by side, or --force");
    return -1;
  }
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

/* row_add_ok — 1 when s's counts add to d's without overflow. */
static int row_add_ok(const kgl_second_row *d, const kgl_second_row *s) {
  return add_ok(d->requests, s->requests) &&
         add_ok(d->mismatches, s->mismatches) && add_ok(d->errors, s->errors);
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

/* rebase — append r's seconds to all (from *k on), each t moved by shift
 * (>= 0). 0, or -1 when a t would pass INT64_MAX. */
static int rebase(kgl_second *all, size_t *k, const kgl_result *r,
                  int64_t shift) {
  for (size_t i = 0; i < r->nseries; i++) {
    if (!add_ok(r->series[i].t, shift)) {
      return -1;
    }
    all[*k] = r->series[i];
    all[(*k)++].t += shift;
  }
  return 0;
}

/* merge_series — dst's and src's seconds, re-based on the start `start_ns`
 * of the merged span (no later than either start), equal wall-clock seconds
 * summed. 0, or -1 with why (out of memory, or sums beyond INT64_MAX; dst
 * unchanged). */
static int merge_series(kgl_result *dst, const kgl_result *src,
                        int64_t start_ns, char *why, size_t whycap) {
  size_t n = dst->nseries + src->nseries, k = 0;
  if (n == 0) {
    return 0;
  }
  kgl_second *all = malloc(n * sizeof *all);
  if (all == NULL) {
    snprintf(why, whycap, "out of memory merging the per-second series");
    return -1;
  }
  /* Each floor_s is within [INT64_MIN / 1e9 - 1, INT64_MAX / 1e9]: the
   * differences fit. */
  int64_t base = floor_s(start_ns);
  if (rebase(all, &k, dst, floor_s(dst->start_unix_ns) - base) != 0 ||
      rebase(all, &k, src, floor_s(src->start_unix_ns) - base) != 0) {
    free(all);
    snprintf(why, whycap,
             "a second of the series lies beyond 2^63 s of the start");
    return -1;
  }
  qsort(all, n, sizeof *all, cmp_second);
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (m > 0 && all[m - 1].t == all[i].t) {
      for (int row = 0; row < KGL_ROWS; row++) {
        if (!row_add_ok(&all[m - 1].row[row], &all[i].row[row])) {
          free(all);
          snprintf(why, whycap,
                   "the per-second counts would add up beyond 2^63 - 1");
          return -1;
        }
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
  int sums_ok = add_ok(dst->warmup_requests, src->warmup_requests) &&
                add_ok(dst->warmup_mismatches, src->warmup_mismatches) &&
                add_ok(dst->warmup_errors, src->warmup_errors) &&
                add_ok(dst->unsolicited, src->unsolicited) &&
                add_ok(dst->runs, src->runs) &&
                dst->runs + (int64_t)src->runs <= INT32_MAX;
  for (int i = 0; i < KGL_ROWS; i++) {
    sums_ok = sums_ok && stats_add_ok(&dst->cls[i], &src->cls[i]);
  }
  if (!sums_ok) {
    snprintf(why, whycap,
             "the merged counts would pass 2^63 - 1 (or the runs 2^31 - 1)");
    return -1;
  }
  int blank = is_blank(dst);
  int64_t start = src->start_unix_ns, end = src->end_unix_ns;
  if (!blank) {
    start = dst->start_unix_ns < start ? dst->start_unix_ns : start;
    end = dst->end_unix_ns > end ? dst->end_unix_ns : end;
  }
  /* The steps that can fail come before anything of dst changes. */
  if (merge_series(dst, src, start, why, whycap) != 0) {
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
  /* one interrupted run makes the merge a result of a cut run */
  if (dst->interrupted == 0) {
    dst->interrupted = src->interrupted;
  }
  /* Outcomes described the inputs, not their union: evaluate again. */
  dst->nthresholds = 0;
  return 0;
}
