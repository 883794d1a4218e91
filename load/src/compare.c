/*
 * load/src/compare.c — two results held against each other
 * (load/compare.h): the Mann-Whitney U test, the verdict rule, the
 * comparison per class and its table (text, markdown, JSON).
 *
 * The test is scripts/bench-compare's, in C: mid-ranks for ties, U of the
 * first sample, the exact null distribution by the usual recurrence when
 * both sides are small and untied, else the normal approximation with the
 * tie-corrected variance and a continuity correction (scipy's
 * mannwhitneyu, method "asymptotic", use_continuity=True).
 */
#include "load/compare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- names and numbers ---------------------------------------------------
 */

const char *kgl_verdict_name(int v) {
  static const char *const names[] = {"same", "faster", "slower",
                                      "inconclusive"};
  if (v < 0 || v > KGL_V_INCONCLUSIVE) {
    return "unknown";
  }
  return names[v];
}

const char *kgl_cmp_metric_name(int m) {
  return m == 0 ? "p50" : m == 1 ? "p99" : "unknown";
}

double kgl_change_pct(double old, double new_) {
  if (old == 0.0 || !isfinite(old) || !isfinite(new_)) {
    return NAN;
  }
  return (new_ - old) / old * 100.0;
}

/* ---- the Mann-Whitney U test ---------------------------------------------
 */

typedef struct tagged {
  double v;
  int first; /* 1: from x */
} tagged;

static int cmp_tagged(const void *a, const void *b) {
  const double x = ((const tagged *)a)->v, y = ((const tagged *)b)->v;
  return (x > y) - (x < y);
}

/* exact_cdf — P(U <= u) under the null for sizes n1, n2 (no ties), from
 * the counts of arrangements: f(i, j, u) = f(i-1, j, u-j) + f(i, j-1, u)
 * (the largest value is x's, and beats all j of y; or it is y's). Counts
 * stay below C(40, 20) < 2^53, so doubles hold them exactly. -1 on out of
 * memory. */
static double exact_cdf(size_t n1, size_t n2, double u) {
  const size_t width = n1 * n2 + 1;
  double *prev = calloc((n2 + 1) * width, sizeof *prev);
  double *cur = calloc((n2 + 1) * width, sizeof *cur);
  if (prev == NULL || cur == NULL) {
    free(prev);
    free(cur);
    return -1.0;
  }
  for (size_t j = 0; j <= n2; j++) {
    prev[j * width] = 1.0; /* i = 0: one arrangement, U = 0 */
  }
  for (size_t i = 1; i <= n1; i++) {
    memset(cur, 0, (n2 + 1) * width * sizeof *cur);
    cur[0] = 1.0; /* j = 0 */
    for (size_t j = 1; j <= n2; j++) {
      double *d = cur + j * width;
      const double *a = prev + j * width;      /* (i-1, j) */
      const double *b = cur + (j - 1) * width; /* (i, j-1) */
      for (size_t k = 0; k + j < width; k++) {
        d[k + j] += a[k];
      }
      for (size_t k = 0; k < width; k++) {
        d[k] += b[k];
      }
    }
    double *t = prev;
    prev = cur;
    cur = t;
  }
  const double *dist = prev + n2 * width;
  double below = 0.0, total = 0.0;
  for (size_t k = 0; k < width; k++) {
    total += dist[k];
    if ((double)k <= u) {
      below += dist[k];
    }
  }
  free(prev);
  free(cur);
  return below / total;
}

int kgl_mann_whitney(const double *x, size_t nx, const double *y, size_t ny,
                     kgl_mwu *out) {
  out->u = 0.0;
  out->p = 1.0;
  out->exact = 0;
  if (nx == 0 || ny == 0) {
    return -1;
  }
  const size_t n = nx + ny;
  tagged *all = malloc(n * sizeof *all);
  if (all == NULL) {
    return -1;
  }
  for (size_t i = 0; i < nx; i++) {
    all[i] = (tagged){x[i], 1};
  }
  for (size_t i = 0; i < ny; i++) {
    all[nx + i] = (tagged){y[i], 0};
  }
  qsort(all, n, sizeof *all, cmp_tagged);
  double r1 = 0.0, tie_term = 0.0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && all[j + 1].v == all[i].v) {
      j++;
    }
    const double rank = (double)(i + j) / 2.0 + 1.0; /* mid-rank, 1-based */
    for (size_t k = i; k <= j; k++) {
      r1 += all[k].first ? rank : 0.0;
    }
    const double t = (double)(j - i + 1);
    tie_term += t * t * t - t;
    i = j + 1;
  }
  free(all);
  const double n1 = (double)nx, n2 = (double)ny;
  const double u1 = r1 - n1 * (n1 + 1.0) / 2.0;
  const double u = fmin(u1, n1 * n2 - u1);
  out->u = u1;
  if (tie_term == 0.0 && nx <= 20 && ny <= 20) {
    const double cdf = exact_cdf(nx, ny, u);
    if (cdf < 0.0) {
      return -1;
    }
    out->p = fmin(1.0, 2.0 * cdf);
    out->exact = 1;
    return 0;
  }
  const double nn = (double)n;
  const double sigma =
      sqrt(n1 * n2 / 12.0 * ((nn + 1.0) - tie_term / (nn * (nn - 1.0))));
  if (sigma == 0.0) {
    out->p = 1.0; /* every value tied: nothing tells them apart */
    return 0;
  }
  const double z = (u - n1 * n2 / 2.0 + 0.5) / sigma;
  out->p = fmin(1.0, erfc(-z / sqrt(2.0)));
  return 0;
}

kgl_verdict kgl_verdict_of(size_t n_old, size_t n_new, double p,
                           double change_pct, size_t min_n, double alpha,
                           double floor_pct) {
  if (n_old < min_n || n_new < min_n || !isfinite(change_pct)) {
    return KGL_V_INCONCLUSIVE;
  }
  /* "same" needs evidence too: a change inside the floor. A larger one the
   * test cannot call significant is too little evidence either way. */
  if (fabs(change_pct) < floor_pct) {
    return KGL_V_SAME;
  }
  if (!(p < alpha)) {
    return KGL_V_INCONCLUSIVE;
  }
  return change_pct > 0 ? KGL_V_SLOWER : KGL_V_FASTER;
}

/* ---- one comparison ------------------------------------------------------
 */

int kgl_second_whole(const kgl_result *r, const kgl_second *s) {
  return (double)(s->t + 1) <= kgl_result_elapsed_s(r) + 0.1;
}

/* per_second — the row's per-second p50 (m 0) or p99 (m 1) of the seconds
 * wholly inside r's measured span that had responses. Returns how many
 * were written to out (capacity r->nseries). */
static size_t per_second(const kgl_result *r, int row, int m, double *out) {
  size_t n = 0;
  for (size_t i = 0; i < r->nseries; i++) {
    const kgl_second *s = &r->series[i];
    const kgl_second_row *sr = &s->row[row];
    if (!kgl_second_whole(r, s) || sr->requests - sr->errors <= 0) {
      continue;
    }
    out[n++] = (double)(m == 0 ? sr->p50 : sr->p99);
  }
  return n;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* median — of v[0..n) (sorted in place); NAN when n is 0. */
static double median(double *v, size_t n) {
  if (n == 0) {
    return NAN;
  }
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static int compare_metric(const kgl_result *old, const kgl_result *new_,
                          int row, int m, const kgl_comparison *c,
                          kgl_cmp_row *out, double *a, double *b) {
  kgl_cmp_metric *cm = &out->metric[m];
  const size_t na = per_second(old, row, m, a);
  const size_t nb = per_second(new_, row, m, b);
  out->n_old = na;
  out->n_new = nb;
  kgl_mwu t = {0.0, 1.0, 0};
  if (na > 0 && nb > 0 && kgl_mann_whitney(a, na, b, nb, &t) != 0) {
    return -1;
  }
  cm->old_median = median(a, na);
  cm->new_median = median(b, nb);
  cm->change_pct = kgl_change_pct(cm->old_median, cm->new_median);
  cm->p = fmin(1.0, t.p * KGL_CMP_METRICS);
  cm->exact = t.exact;
  cm->verdict = kgl_verdict_of(na, nb, cm->p, cm->change_pct, c->min_n,
                               c->alpha, c->floor_pct);
  return 0;
}

/* abs_change — |change|, -1 when it cannot be computed. */
static double abs_change(const kgl_cmp_metric *m) {
  return isfinite(m->change_pct) ? fabs(m->change_pct) : -1.0;
}

/* decide — the row's verdict from its metrics: slower beats faster beats
 * inconclusive beats same (a gate must not miss a regression hidden behind
 * a gain, and "same" must hold for both); among equals, the larger change
 * decides. decided_by names the metric, whose p the tables show. */
static void decide(kgl_cmp_row *r) {
  static const int rank[] = {0, 2, 3, 1}; /* same, faster, slower, inc. */
  r->decided_by = 0;
  r->verdict = r->metric[0].verdict;
  for (int m = 1; m < KGL_CMP_METRICS; m++) {
    const kgl_cmp_metric *x = &r->metric[m];
    const int better = rank[x->verdict] > rank[r->verdict] ||
                       (x->verdict == r->verdict &&
                        abs_change(x) > abs_change(&r->metric[r->decided_by]));
    if (better) {
      r->verdict = x->verdict;
      r->decided_by = m;
    }
  }
}

/* whole_run — rps and the whole-run percentiles. A side without requests
 * in the class has no rps to change from or to, and one without responses
 * no latency: their changes are NAN (shown as null or '-'), never -100%. */
static void whole_run(const kgl_result *old, const kgl_result *new_, int row,
                      kgl_cmp_row *out) {
  static const double pcts[3] = {50.0, 99.0, 99.9};
  const kgl_hist *ho = &old->cls[row].latency, *hn = &new_->cls[row].latency;
  out->rps_old = kgl_result_rps(old, row);
  out->rps_new = kgl_result_rps(new_, row);
  out->rps_change_pct =
      old->cls[row].requests > 0 && new_->cls[row].requests > 0
          ? kgl_change_pct(out->rps_old, out->rps_new)
          : NAN;
  out->has_old = ho->total > 0;
  out->has_new = hn->total > 0;
  for (int i = 0; i < 3; i++) {
    out->old_pct[i] = kgl_hist_percentile(ho, pcts[i]);
    out->new_pct[i] = kgl_hist_percentile(hn, pcts[i]);
    out->pct_change[i] =
        out->has_old && out->has_new
            ? kgl_change_pct((double)out->old_pct[i], (double)out->new_pct[i])
            : NAN;
  }
}

int kgl_compare(const kgl_result *old, const kgl_result *new_,
                kgl_comparison *c) {
  memset(c, 0, sizeof *c);
  c->alpha = KGL_CMP_ALPHA;
  c->floor_pct = KGL_CMP_FLOOR_PCT;
  c->min_n = KGL_CMP_MIN_SECONDS;
  const size_t cap =
      old->nseries > new_->nseries ? old->nseries : new_->nseries;
  double *a = malloc((cap + 1) * sizeof *a);
  double *b = malloc((cap + 1) * sizeof *b);
  if (a == NULL || b == NULL) {
    free(a);
    free(b);
    return -1;
  }
  int rc = 0;
  for (int row = 0; row < KGL_ROWS && rc == 0; row++) {
    kgl_cmp_row *r = &c->row[row];
    r->present = old->cls[row].requests > 0 || new_->cls[row].requests > 0;
    if (!r->present) {
      continue;
    }
    whole_run(old, new_, row, r);
    for (int m = 0; m < KGL_CMP_METRICS && rc == 0; m++) {
      rc = compare_metric(old, new_, row, m, c, r, a, b);
    }
    decide(r);
    if (old->runs > 1 || new_->runs > 1) {
      /* A merged second's percentiles are the largest of the runs' (an
       * upper bound): against a single run's they lean towards slower. */
      r->why = KGL_WHY_MERGED;
      r->verdict = KGL_V_INCONCLUSIVE;
      for (int m = 0; m < KGL_CMP_METRICS; m++) {
        r->metric[m].verdict = KGL_V_INCONCLUSIVE;
        /* no test of upper bounds: no p-value (null in JSON, not 1) */
        r->metric[m].p = NAN;
        r->metric[m].exact = 0;
      }
    } else if (r->n_old < c->min_n || r->n_new < c->min_n) {
      r->why = KGL_WHY_FEW_SECONDS;
    }
  }
  free(a);
  free(b);
  return rc;
}

/* row_fails — 1 when r is slower beyond pct (the gate), else 0. */
static int row_fails(const kgl_cmp_row *r, double pct) {
  return r->present && r->verdict == KGL_V_SLOWER &&
         r->metric[r->decided_by].change_pct > pct;
}

int kgl_compare_fails(const kgl_comparison *c, double fail_above_pct) {
  for (int row = 0; row < KGL_ROWS; row++) {
    if (row_fails(&c->row[row], fail_above_pct)) {
      return 1;
    }
  }
  return 0;
}

/* ---- the table -----------------------------------------------------------
 */

#define NCOLS 16
#define CELL 72

static const char *const HEAD[NCOLS] = {
    "class",  "rps old", "rps new", "change", "p50 old",   "p50 new",
    "change", "p99 old", "p99 new", "change", "p99.9 old", "p99.9 new",
    "change", "seconds", "p",       "verdict"};

typedef struct cells {
  char cell[KGL_ROWS + 1][NCOLS][CELL];
  int nrows;
  size_t width[NCOLS];
} cells;

static void fmt_change(double pct, char *out, size_t cap) {
  if (!isfinite(pct)) {
    snprintf(out, cap, "-");
  } else {
    snprintf(out, cap, "%+.1f%%", pct);
  }
}

static void fmt_pct_value(int64_t us, int has, char *out, size_t cap) {
  if (!has) {
    snprintf(out, cap, "-");
  } else {
    kgl_fmt_latency(us, out, cap);
  }
}

void kgl_cmp_verdict_text(const kgl_cmp_row *r, size_t min_n, char *out,
                          size_t cap) {
  const kgl_cmp_metric *m = &r->metric[r->decided_by];
  const char *name = kgl_verdict_name(r->verdict);
  if (r->why == KGL_WHY_MERGED) {
    snprintf(out, cap, "%s (merged: per-second percentiles are upper bounds)",
             name);
  } else if (r->why == KGL_WHY_FEW_SECONDS) {
    snprintf(out, cap, "%s (fewer than %zu seconds a side)", name, min_n);
  } else if (isfinite(m->change_pct)) {
    snprintf(out, cap, "%s (%s %+.1f%%)", name,
             kgl_cmp_metric_name(r->decided_by), m->change_pct);
  } else {
    snprintf(out, cap, "%s", name);
  }
}

void kgl_cmp_p_text(const kgl_cmp_row *r, char *out, size_t cap) {
  if (r->why != KGL_WHY_NONE) {
    snprintf(out, cap, "-");
  } else {
    snprintf(out, cap, "%.4f", r->metric[r->decided_by].p);
  }
}

static void fill_cells(const kgl_comparison *c, int row, char (*cell)[CELL]) {
  const kgl_cmp_row *r = &c->row[row];
  snprintf(cell[0], CELL, "%s", kgl_class_name((kgl_class)row));
  snprintf(cell[1], CELL, "%.1f", r->rps_old);
  snprintf(cell[2], CELL, "%.1f", r->rps_new);
  fmt_change(r->rps_change_pct, cell[3], CELL);
  for (int i = 0; i < 3; i++) {
    fmt_pct_value(r->old_pct[i], r->has_old, cell[4 + 3 * i], CELL);
    fmt_pct_value(r->new_pct[i], r->has_new, cell[5 + 3 * i], CELL);
    fmt_change(r->pct_change[i], cell[6 + 3 * i], CELL);
  }
  snprintf(cell[13], CELL, "%zu/%zu", r->n_old, r->n_new);
  kgl_cmp_p_text(r, cell[14], CELL);
  kgl_cmp_verdict_text(r, c->min_n, cell[15], CELL);
}

static void build_cells(const kgl_comparison *c, cells *t) {
  memset(t, 0, sizeof *t);
  for (int j = 0; j < NCOLS; j++) {
    snprintf(t->cell[0][j], CELL, "%s", HEAD[j]);
  }
  t->nrows = 1;
  for (int row = 0; row < KGL_ROWS; row++) {
    if (c->row[row].present) {
      fill_cells(c, row, t->cell[t->nrows++]);
    }
  }
  for (int i = 0; i < t->nrows; i++) {
    for (int j = 0; j < NCOLS; j++) {
      const size_t n = strlen(t->cell[i][j]);
      t->width[j] = n > t->width[j] ? n : t->width[j];
    }
  }
}

static void print_cells(const cells *t, FILE *f, int md) {
  for (int i = 0; i < t->nrows; i++) {
    for (int j = 0; j < NCOLS; j++) {
      const int w = (int)t->width[j];
      const int left = j == 0 || j == NCOLS - 1;
      if (md) {
        fprintf(f, j == 0 ? "| " : " ");
      } else if (j > 0) {
        fputs("  ", f);
      }
      fprintf(f, left ? "%-*s" : "%*s", w, t->cell[i][j]);
      if (md) {
        fputs(" |", f);
      }
    }
    fputc('\n', f);
    if (md && i == 0) {
      for (int j = 0; j < NCOLS; j++) {
        const int left = j == 0 || j == NCOLS - 1;
        fputs(left ? "|:" : "|", f);
        for (size_t k = 1; k < t->width[j] + 2; k++) {
          fputc('-', f);
        }
        fputs(left ? "" : ":", f);
      }
      fputs("|\n", f);
    }
  }
}

/* ---- the lines around it -------------------------------------------------
 */

static void fmt_start(const kgl_result *r, char *out, size_t cap) {
  const time_t s = (time_t)(r->start_unix_ns / 1000000000);
  struct tm tm;
  if (r->start_unix_ns <= 0 || gmtime_r(&s, &tm) == NULL ||
      strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    snprintf(out, cap, "-");
  }
}

/* run_line — "URL, started 2025-01-01T00:00:00Z, 6.0 s, 1 run". */
static void run_line(const kgl_result *r, char *out, size_t cap) {
  char start[32];
  fmt_start(r, start, sizeof start);
  const int n =
      snprintf(out, cap, "started %s, %.1f s, %d run%s", start,
               kgl_result_elapsed_s(r), r->runs, r->runs == 1 ? "" : "s");
  if (r->interrupted && n > 0 && (size_t)n < cap) {
    char cut[160];
    kgl_result_interruption(r, cut, sizeof cut);
    snprintf(out + n, cap - (size_t)n, ", interrupted: %s", cut);
  }
}

/* differences — the set-up fields that differ, "connections 4 -> 8,
 * threads 1 -> 2", or "" when none does. */
static void differences(const kgl_result *a, const kgl_result *b, char *out,
                        size_t cap) {
  const kgl_config *x = &a->config, *y = &b->config;
  size_t n = 0;
  int k;
  out[0] = '\0';
#define ADD(...)                                                               \
  do {                                                                         \
    k = snprintf(out + n, cap - n, "%s", n ? ", " : "");                       \
    n = (k < 0 || (size_t)k >= cap - n) ? cap - 1 : n + (size_t)k;             \
    k = snprintf(out + n, cap - n, __VA_ARGS__);                               \
    n = (k < 0 || (size_t)k >= cap - n) ? cap - 1 : n + (size_t)k;             \
  } while (0)
  if (strcmp(x->url, y->url) != 0) {
    ADD("url");
  }
  if (strcmp(x->method, y->method) != 0) {
    ADD("method %s -> %s", x->method, y->method);
  }
  if (strcmp(x->protocol, y->protocol) != 0) {
    ADD("protocol %s -> %s", x->protocol, y->protocol);
  }
  if (strcmp(x->engine, y->engine) != 0) {
    ADD("engine %s -> %s", x->engine, y->engine);
  }
  if (strcmp(x->header, y->header) != 0) {
    ADD("header %s -> %s", x->header, y->header);
  }
  if (x->connections != y->connections) {
    ADD("connections %d -> %d", x->connections, y->connections);
  }
  if (x->threads != y->threads) {
    ADD("threads %d -> %d", x->threads, y->threads);
  }
  if (x->rate != y->rate) {
    ADD("rate %g -> %g", x->rate, y->rate);
  }
  if (memcmp(x->mix, y->mix, sizeof x->mix) != 0) {
    ADD("mix");
  }
  if (a->runs != b->runs) {
    ADD("runs %d -> %d", a->runs, b->runs);
  }
#undef ADD
}

static void method_line(const kgl_comparison *c, char *out, size_t cap) {
  snprintf(out, cap,
           "verdict: per-second p50 and p99 of each class, two-sided "
           "Mann-Whitney U, p doubled for the two metrics; changed when p < "
           "%g and |change of the medians| >= %g%%, same when |change| < "
           "%g%%, else inconclusive; inconclusive with fewer than %zu "
           "seconds a side or a merged file",
           c->alpha, c->floor_pct, c->floor_pct, c->min_n);
}

/* gate_line — "no class slower beyond ...", or the FAIL line naming every
 * row that fails the gate, each with the metric that decided it: "FAIL:
 * valid is slower, p50 +31.2% (p = 0.0002), beyond --fail-above 10%", or
 * for more than one "FAIL: valid is slower, p50 ...; all is slower, p99
 * ...; each beyond --fail-above 10%" (it named the first only). */
static void gate_line(const kgl_comparison *c, double pct, char *out,
                      size_t cap) {
  int failing = 0;
  for (int row = 0; row < KGL_ROWS; row++) {
    failing += row_fails(&c->row[row], pct);
  }
  if (failing == 0) {
    snprintf(out, cap, "no class slower beyond --fail-above %g%%", pct);
    return;
  }
  size_t n = (size_t)snprintf(out, cap, "FAIL: ");
  int named = 0;
  for (int row = 0; row < KGL_ROWS && n < cap; row++) {
    const kgl_cmp_row *r = &c->row[row];
    if (!row_fails(r, pct)) {
      continue;
    }
    const kgl_cmp_metric *m = &r->metric[r->decided_by];
    const int k =
        snprintf(out + n, cap - n, "%s%s is slower, %s %+.1f%% (p = %.4f)",
                 named++ > 0 ? "; " : "", kgl_class_name((kgl_class)row),
                 kgl_cmp_metric_name(r->decided_by), m->change_pct, m->p);
    n = k < 0 ? cap : n + (size_t)k;
  }
  if (n < cap) {
    snprintf(out + n, cap - n, "%s beyond --fail-above %g%%",
             failing > 1 ? "; each" : ",", pct);
  }
}

/* put_code — s as one markdown code span (a backtick becomes '). */
static void put_code(const char *s, FILE *f) {
  fputc('`', f);
  for (; *s != '\0'; s++) {
    fputc(*s == '`' ? '\'' : *s, f);
  }
  fputc('`', f);
}

/* answers_note — "" when r's answers all verified; else one line naming
 * its mismatches and errors: its latencies are not all of the answers the
 * contract wants, which compare cannot see (review 96: a new run whose
 * requests were a quarter errors compared as "inconclusive", exit 0). */
static void answers_note(const kgl_result *r, const char *which, char *out,
                         size_t cap) {
  const int64_t mm = r->cls[KGL_ALL].mismatches;
  const int64_t err = kgl_result_errors(r, KGL_ALL);
  out[0] = '\0';
  if (mm == 0 && err == 0) {
    return;
  }
  snprintf(out, cap,
           "the %s run has %lld mismatches and %lld errors in %lld "
           "requests: compare reads latencies only (keygate report check "
           "holds a run to its answers)",
           which, (long long)mm, (long long)err,
           (long long)r->cls[KGL_ALL].requests);
}

static void print_table(const kgl_comparison *c, const kgl_result *old,
                        const kgl_result *new_, double pct, FILE *f, int md) {
  static cells t; /* 7 KB: off the stack */
  char line[1024], run[320];
  if (md) {
    fputs("**keygate report compare**\n\n", f);
  } else {
    fputs("keygate report compare\n", f);
  }
  const kgl_result *both[2] = {old, new_};
  for (int i = 0; i < 2; i++) {
    run_line(both[i], run, sizeof run);
    if (md) {
      fprintf(f, "- %s: ", i == 0 ? "old" : "new");
      put_code(both[i]->config.url[0] ? both[i]->config.url : "-", f);
      fprintf(f, " %s\n", run);
    } else {
      fprintf(f, "%s: %s  %s\n", i == 0 ? "old" : "new",
              both[i]->config.url[0] ? both[i]->config.url : "-", run);
    }
  }
  differences(old, new_, line, sizeof line);
  if (line[0] != '\0' && md) {
    fputs("- note: the set-ups differ: ", f); /* texts of the files */
    kgl_md_put(line, f);
    fputc('\n', f);
  } else if (line[0] != '\0') {
    fprintf(f, "note: the set-ups differ: %s\n", line);
  }
  for (int i = 0; i < 2; i++) {
    answers_note(both[i], i == 0 ? "old" : "new", line, sizeof line);
    if (line[0] != '\0') {
      fprintf(f, "%snote: %s\n", md ? "- " : "", line);
    }
  }
  if (md) {
    fputc('\n', f);
  }
  build_cells(c, &t);
  print_cells(&t, f, md);
  if (md) {
    fputc('\n', f);
  }
  method_line(c, line, sizeof line);
  fprintf(f, "%s%s\n", md ? "- " : "", line);
  gate_line(c, pct, line, sizeof line);
  fprintf(f, "%s%s%s%s\n", md ? "- " : "",
          md && kgl_compare_fails(c, pct) ? "**" : "", line,
          md && kgl_compare_fails(c, pct) ? "**" : "");
}

/* ---- JSON ----------------------------------------------------------------
 */

static void json_str(const char *s, FILE *f) {
  fputc('"', f);
  for (; *s != '\0'; s++) {
    const unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      fprintf(f, "\\%c", ch);
    } else if (ch < 0x20 || ch >= 0x7f) {
      fprintf(f, "\\u%04x", ch);
    } else {
      fputc(ch, f);
    }
  }
  fputc('"', f);
}

static void json_num(double v, FILE *f) {
  if (isfinite(v)) {
    fprintf(f, "%.15g", v);
  } else {
    fputs("null", f);
  }
}

static void json_run(const char *name, const kgl_result *r, FILE *f) {
  fprintf(f, "  \"%s\": {\"url\": ", name);
  json_str(r->config.url, f);
  fprintf(f, ", \"start_unix_ns\": %lld, \"elapsed_s\": ",
          (long long)r->start_unix_ns);
  json_num(kgl_result_elapsed_s(r), f);
  fprintf(f,
          ", \"runs\": %d, \"interrupted\": %s, \"interrupted_by\": ", r->runs,
          r->interrupted ? "true" : "false");
  if (r->interrupted) {
    json_str(kgl_signal_name(r->interrupted), f);
  } else {
    fputs("null", f);
  }
  fputs("},\n", f);
}

static void json_row(const kgl_cmp_row *r, int row, FILE *f) {
  static const char *const pn[3] = {"p50", "p99", "p99.9"};
  static const char *const why[] = {
      NULL, "fewer seconds a side than min_seconds",
      "merged: per-second percentiles are upper bounds"};
  fprintf(f, "    {\"class\": \"%s\", \"verdict\": \"%s\", \"decided_by\": ",
          kgl_class_name((kgl_class)row), kgl_verdict_name(r->verdict));
  if (r->why != KGL_WHY_NONE) {
    fprintf(f, "null, \"reason\": \"%s\"", why[r->why]);
  } else {
    fprintf(f, "\"%s\", \"reason\": null", kgl_cmp_metric_name(r->decided_by));
  }
  fprintf(f, ",\n     \"seconds\": {\"old\": %zu, \"new\": %zu},\n", r->n_old,
          r->n_new);
  fputs("     \"rps\": {\"old\": ", f);
  json_num(r->rps_old, f);
  fputs(", \"new\": ", f);
  json_num(r->rps_new, f);
  fputs(", \"change_pct\": ", f);
  json_num(r->rps_change_pct, f);
  fputs("},\n     \"latency_us\": {", f);
  for (int i = 0; i < 3; i++) {
    fprintf(f, "%s\"%s\": {\"old\": ", i ? ", " : "", pn[i]);
    json_num(r->has_old ? (double)r->old_pct[i] : NAN, f);
    fputs(", \"new\": ", f);
    json_num(r->has_new ? (double)r->new_pct[i] : NAN, f);
    fputs(", \"change_pct\": ", f);
    json_num(r->pct_change[i], f);
    fputc('}', f);
  }
  fputs("},\n     \"per_second\": {", f);
  for (int m = 0; m < KGL_CMP_METRICS; m++) {
    const kgl_cmp_metric *x = &r->metric[m];
    fprintf(f, "%s\"%s\": {\"old_median_us\": ", m ? ", " : "",
            kgl_cmp_metric_name(m));
    json_num(x->old_median, f);
    fputs(", \"new_median_us\": ", f);
    json_num(x->new_median, f);
    fputs(", \"change_pct\": ", f);
    json_num(x->change_pct, f);
    fputs(", \"p\": ", f);
    json_num(x->p, f);
    fprintf(f, ", \"exact\": %s, \"verdict\": \"%s\"}",
            !isfinite(x->p) ? "null"
            : x->exact      ? "true"
                            : "false",
            kgl_verdict_name(x->verdict));
  }
  fputs("}}", f);
}

static void print_json(const kgl_comparison *c, const kgl_result *old,
                       const kgl_result *new_, double pct, FILE *f) {
  fputs("{\n  \"schema\": \"keygate-compare\",\n  \"version\": 1,\n", f);
  json_run("old", old, f);
  json_run("new", new_, f);
  fputs("  \"alpha\": ", f);
  json_num(c->alpha, f);
  fputs(",\n  \"noise_floor_pct\": ", f);
  json_num(c->floor_pct, f);
  fprintf(f, ",\n  \"min_seconds\": %zu,\n  \"fail_above_pct\": ", c->min_n);
  json_num(pct, f);
  fprintf(f, ",\n  \"fails\": %s,\n  \"rows\": [\n",
          kgl_compare_fails(c, pct) ? "true" : "false");
  int first = 1;
  for (int row = 0; row < KGL_ROWS; row++) {
    if (c->row[row].present) {
      fputs(first ? "" : ",\n", f);
      json_row(&c->row[row], row, f);
      first = 0;
    }
  }
  fputs("\n  ]\n}\n", f);
}

void kgl_compare_print(const kgl_comparison *c, const kgl_result *old,
                       const kgl_result *new_, double fail_above_pct, FILE *f,
                       kgl_cmp_format fmt) {
  if (fmt == KGL_CMP_JSON) {
    print_json(c, old, new_, fail_above_pct, f);
  } else {
    print_table(c, old, new_, fail_above_pct, f, fmt == KGL_CMP_MARKDOWN);
  }
}
