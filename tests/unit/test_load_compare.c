/*
 * tests/unit/test_load_compare.c — two load results held against each other
 * (load/compare.h): the Mann-Whitney U test against reference values, the
 * verdict rule, the comparison of synthetic runs (slower, same, too short
 * to tell), --fail-above, and the three output formats.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream */
#endif
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "load/compare.h"

/* ---- the U test ----------------------------------------------------------
 */

/* Reference values from scripts/bench-compare's mann_whitney (scipy's
 * method: exact without ties for n <= 20 a side, else asymptotic with tie
 * and continuity corrections), computed with python3 when this test was
 * written; "mixed6" was also checked by enumerating all C(12, 6)
 * arrangements. */
typedef struct mwu_case {
  const char *name;
  double x[25], y[25];
  size_t nx, ny;
  double u1, p;
  int exact;
} mwu_case;

static const mwu_case MWU[] = {
    {"sep5",
     {1, 2, 3, 4, 5},
     {6, 7, 8, 9, 10},
     5,
     5,
     0.0,
     0.007936507936507936,
     1},
    {"mixed6",
     {1.1, 2.2, 3.3, 4.4, 5.5, 6.6},
     {3.0, 5.0, 7.0, 8.0, 9.0, 10.0},
     6,
     6,
     6.0,
     0.06493506493506493,
     1},
    {"ties7",
     {1, 2, 2, 3, 3, 3, 4},
     {3, 4, 4, 5, 5, 6, 7},
     7,
     7,
     3.5,
     0.007659988586736329,
     0},
    {"same", {5, 5, 5, 5, 5}, {5, 5, 5, 5, 5}, 5, 5, 12.5, 1.0, 0},
};

static void mann_whitney_matches_the_reference_values(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof MWU / sizeof MWU[0]; i++) {
    const mwu_case *c = &MWU[i];
    kgl_mwu t;
    assert_int_equal(kgl_mann_whitney(c->x, c->nx, c->y, c->ny, &t), 0);
    if (fabs(t.u - c->u1) > 1e-9 || fabs(t.p - c->p) > 1e-12 ||
        t.exact != c->exact) {
      fail_msg("%s: U %g p %.17g exact %d, want U %g p %.17g exact %d", c->name,
               t.u, t.p, t.exact, c->u1, c->p, c->exact);
    }
  }
}

/* Above 20 a side the normal approximation is used even without ties:
 * x = 0..24, y = 7.5..31.5 (reference as above). */
static void more_than_twenty_a_side_uses_the_normal_approximation(void **s) {
  (void)s;
  double x[25], y[25];
  for (int i = 0; i < 25; i++) {
    x[i] = i;
    y[i] = i + 7.5;
  }
  kgl_mwu t;
  assert_int_equal(kgl_mann_whitney(x, 25, y, 25, &t), 0);
  assert_int_equal(t.exact, 0);
  assert_true(fabs(t.u - 153.0) < 1e-9);
  assert_true(fabs(t.p - 0.002035157807278383) < 1e-12);
}

static void the_test_is_symmetric_and_u_is_the_first_samples(void **state) {
  (void)state;
  const mwu_case *c = &MWU[1];
  kgl_mwu a, b;
  assert_int_equal(kgl_mann_whitney(c->x, c->nx, c->y, c->ny, &a), 0);
  assert_int_equal(kgl_mann_whitney(c->y, c->ny, c->x, c->nx, &b), 0);
  assert_true(fabs(a.p - b.p) < 1e-15);
  assert_true(fabs(a.u + b.u - (double)(c->nx * c->ny)) < 1e-9);
}

static void an_empty_side_is_refused_with_p_one(void **state) {
  (void)state;
  const double x[1] = {1};
  kgl_mwu t;
  assert_int_equal(kgl_mann_whitney(x, 1, x, 0, &t), -1);
  assert_true(t.p == 1.0);
}

/* ---- the verdict rule ----------------------------------------------------
 */

typedef struct verdict_case {
  size_t n_old, n_new;
  double p, change;
  kgl_verdict want;
} verdict_case;

static void the_verdict_rule(void **state) {
  (void)state;
  static const verdict_case V[] = {
      /* too few seconds: inconclusive, whatever p and change say */
      {4, 10, 1e-6, 80.0, KGL_V_INCONCLUSIVE},
      {10, 4, 1e-6, -80.0, KGL_V_INCONCLUSIVE},
      {2, 2, 1.0, 0.0, KGL_V_INCONCLUSIVE},
      {0, 0, 1.0, NAN, KGL_V_INCONCLUSIVE},
      /* enough: significant and beyond the floor */
      {5, 5, 0.01, 12.0, KGL_V_SLOWER},
      {5, 5, 0.01, -12.0, KGL_V_FASTER},
      {6, 6, 0.049, 5.0, KGL_V_SLOWER}, /* the floor is inclusive */
      /* within the floor: same, significant or not */
      {60, 60, 1e-9, 4.9, KGL_V_SAME},
      {60, 60, 1e-9, -4.9, KGL_V_SAME},
      {6, 6, 0.8, 4.9, KGL_V_SAME},
      /* beyond the floor but not significant: too little evidence to call
       * it same (or anything else); no change to measure: the same */
      {6, 6, 0.05, 40.0, KGL_V_INCONCLUSIVE},
      {6, 6, 0.2, -40.0, KGL_V_INCONCLUSIVE},
      {20, 20, 0.23, 90.0, KGL_V_INCONCLUSIVE},
      {60, 60, 1e-9, NAN, KGL_V_INCONCLUSIVE},
  };
  for (size_t i = 0; i < sizeof V / sizeof V[0]; i++) {
    const verdict_case *v = &V[i];
    const kgl_verdict got =
        kgl_verdict_of(v->n_old, v->n_new, v->p, v->change, KGL_CMP_MIN_SECONDS,
                       KGL_CMP_ALPHA, KGL_CMP_FLOOR_PCT);
    if (got != v->want) {
      fail_msg("case %zu: %s, want %s", i, kgl_verdict_name(got),
               kgl_verdict_name(v->want));
    }
  }
  assert_string_equal(kgl_verdict_name(KGL_V_INCONCLUSIVE), "inconclusive");
  assert_string_equal(kgl_verdict_name(9), "unknown");
}

/* ---- comparing runs ------------------------------------------------------
 */

/* run — a result of `seconds` full seconds (plus a partial one with a wild
 * latency, which the verdict must ignore) where the valid class answered
 * 100 requests a second at about base_us (p50) and 2 * base_us (p99),
 * wobbling by +-2% from second to second. */
static void run_rows(kgl_result *r, int seconds, double base_us, uint64_t seed,
                     int step) {
  assert_int_equal(kgl_result_init(r), 0);
  r->config.mix[KGL_VALID] = 100;
  r->start_unix_ns = 1700000000000000000LL;
  r->end_unix_ns = r->start_unix_ns + (int64_t)seconds * 1000000000LL + 5;
  for (int t = 0; t <= seconds; t++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    const double wobble =
        1.0 + ((double)(seed >> 40 & 0xff) / 255.0 - .5) * 0.04; /* +-2% */
    kgl_second s;
    memset(&s, 0, sizeof s);
    s.t = t;
    const int partial = t == seconds;
    const int64_t p50 = partial ? 999999 : (int64_t)(base_us * wobble);
    for (int row = 0; row < KGL_ROWS; row += step) {
      s.row[row].requests = partial ? 1 : 100;
      s.row[row].p50 = p50;
      s.row[row].p90 = p50 * 3 / 2;
      s.row[row].p99 = p50 * 2;
      s.row[row].p999 = p50 * 3;
      s.row[row].max = p50 * 4;
      kgl_hist_record_n(&r->cls[row].latency, p50, partial ? 1 : 100);
      r->cls[row].requests += s.row[row].requests;
      r->cls[row].ok += s.row[row].requests;
    }
    assert_int_equal(kgl_result_add_second(r, &s), 0);
  }
}

/* run — run_rows for the valid class and the overall row only. */
static void run(kgl_result *r, int seconds, double base_us, uint64_t seed) {
  run_rows(r, seconds, base_us, seed, KGL_ALL);
}

static void a_slower_run_is_slower_and_fails_above_its_change(void **state) {
  (void)state;
  kgl_result old, new_;
  run(&old, 8, 1000, 1);
  run(&new_, 8, 1300, 2);
  static kgl_comparison c;
  assert_int_equal(kgl_compare(&old, &new_, &c), 0);
  const kgl_cmp_row *v = &c.row[KGL_VALID];
  assert_true(v->present);
  assert_int_equal(v->n_old, 8); /* the partial ninth second left out */
  assert_int_equal(v->n_new, 8);
  assert_int_equal(v->verdict, KGL_V_SLOWER);
  assert_true(v->metric[0].p < 0.05);
  assert_true(v->metric[0].change_pct > 25 && v->metric[0].change_pct < 35);
  assert_int_equal(c.row[KGL_ALL].verdict, KGL_V_SLOWER);
  assert_false(c.row[KGL_INVALID].present); /* no traffic either side */
  assert_true(kgl_compare_fails(&c, 10.0));
  assert_false(kgl_compare_fails(&c, 40.0));
  /* and the other way round it is faster, which never fails */
  assert_int_equal(kgl_compare(&new_, &old, &c), 0);
  assert_int_equal(c.row[KGL_VALID].verdict, KGL_V_FASTER);
  assert_false(kgl_compare_fails(&c, 0.0));
  kgl_result_free(&old);
  kgl_result_free(&new_);
}

static void the_same_server_twice_is_not_slower(void **state) {
  (void)state;
  kgl_result old, new_;
  run(&old, 10, 1000, 3);
  run(&new_, 10, 1000, 4);
  static kgl_comparison c;
  assert_int_equal(kgl_compare(&old, &new_, &c), 0);
  assert_int_equal(c.row[KGL_VALID].verdict, KGL_V_SAME);
  assert_false(kgl_compare_fails(&c, 0.0));
  kgl_result_free(&old);
  kgl_result_free(&new_);
}

/* A small shift that is significant is still "same" under the floor: the
 * seconds of one run share its machine, so 3% between runs is noise. */
static void a_significant_change_within_the_floor_is_the_same(void **s) {
  (void)s;
  kgl_result old, new_;
  run(&old, 30, 1000, 5);
  run(&new_, 30, 1030, 6);
  static kgl_comparison c;
  assert_int_equal(kgl_compare(&old, &new_, &c), 0);
  assert_true(c.row[KGL_VALID].metric[0].p < 0.05);
  assert_int_equal(c.row[KGL_VALID].verdict, KGL_V_SAME);
  kgl_result_free(&old);
  kgl_result_free(&new_);
}

static void runs_too_short_to_tell_are_inconclusive_never_same(void **s) {
  (void)s;
  kgl_result old, new_;
  run(&old, 2, 1000, 7);
  run(&new_, 2, 3000, 8); /* three times slower, but two seconds each */
  static kgl_comparison c;
  assert_int_equal(kgl_compare(&old, &new_, &c), 0);
  assert_int_equal(c.row[KGL_VALID].n_old, 2);
  assert_int_equal(c.row[KGL_VALID].verdict, KGL_V_INCONCLUSIVE);
  assert_false(kgl_compare_fails(&c, 0.0));
  kgl_result_free(&old);
  kgl_result_free(&new_);
  /* four full seconds a side is still too few; five is enough */
  run(&old, 4, 1000, 9);
  run(&new_, 5, 3000, 10);
  assert_int_equal(kgl_compare(&old, &new_, &c), 0);
  assert_int_equal(c.row[KGL_VALID].verdict, KGL_V_INCONCLUSIVE);
  kgl_result_free(&old);
  run(&old, 5, 1000, 11);
  assert_int_equal(kgl_compare(&old, &new_, &c), 0);
  assert_int_equal(c.row[KGL_VALID].verdict, KGL_V_SLOWER);
  kgl_result_free(&old);
  kgl_result_free(&new_);
}

static char *print(const kgl_comparison *c, const kgl_result *a,
                   const kgl_result *b, kgl_cmp_format fmt);

/* series_run — a result whose valid class (and all) had, in second t,
 * per-second p50 p50[t] and p99 p99[t], 100 requests each; `runs` runs. */
static void series_run(kgl_result *r, const int64_t *p50, const int64_t *p99,
                       int n, int runs) {
  assert_int_equal(kgl_result_init(r), 0);
  r->runs = runs;
  r->config.mix[KGL_VALID] = 100;
  r->start_unix_ns = 1700000000000000000LL;
  r->end_unix_ns = r->start_unix_ns + (int64_t)n * 1000000000LL;
  for (int t = 0; t < n; t++) {
    kgl_second s;
    memset(&s, 0, sizeof s);
    s.t = t;
    for (int row = 0; row < KGL_ROWS; row += KGL_ALL) {
      s.row[row].requests = 100;
      s.row[row].p50 = p50[t];
      s.row[row].p99 = p99[t];
      s.row[row].max = p99[t];
      kgl_hist_record_n(&r->cls[row].latency, p50[t], 100);
      r->cls[row].requests += 100;
      r->cls[row].ok += 100;
    }
    assert_int_equal(kgl_result_add_second(r, &s), 0);
  }
}

/* Two 20 s runs whose p99 medians are 90% apart with p well above 0.05:
 * not "same" (nothing shows they are), inconclusive; the p shown is that
 * of p99, the metric that decided the row. */
static void too_little_evidence_is_inconclusive_not_same(void **state) {
  (void)state;
  int64_t p50[20], p99a[20], p99b[20];
  for (int t = 0; t < 20; t++) {
    p50[t] = 500;
    p99a[t] = t < 10 ? 1000 + t : 5000 + t;
    p99b[t] = t < 9 ? 1000 + t : 5700 + t;
  }
  kgl_result old, new_;
  series_run(&old, p50, p99a, 20, 1);
  series_run(&new_, p50, p99b, 20, 1);
  static kgl_comparison c;
  assert_int_equal(kgl_compare(&old, &new_, &c), 0);
  const kgl_cmp_row *v = &c.row[KGL_VALID];
  assert_int_equal(v->metric[0].verdict, KGL_V_SAME);
  assert_true(v->metric[1].p > 0.05);
  assert_true(v->metric[1].change_pct > 80);
  assert_int_equal(v->metric[1].verdict, KGL_V_INCONCLUSIVE);
  assert_int_equal(v->verdict, KGL_V_INCONCLUSIVE);
  assert_int_equal(v->decided_by, 1);
  assert_false(kgl_compare_fails(&c, 0.0));
  char want[32], cell[96];
  snprintf(want, sizeof want, "%.4f", v->metric[1].p);
  kgl_cmp_p_text(v, cell, sizeof cell);
  assert_string_equal(cell, want);
  kgl_cmp_verdict_text(v, c.min_n, cell, sizeof cell);
  assert_non_null(strstr(cell, "inconclusive (p99 +"));
  kgl_result_free(&old);
  kgl_result_free(&new_);
}

/* A merged file's per-second percentiles are the largest of its runs':
 * upper bounds, not samples. Its rows are inconclusive, never slower. */
static void a_merged_file_gets_no_per_second_verdict(void **state) {
  (void)state;
  int64_t p50[10], p99[10], p50m[10], p99m[10];
  for (int t = 0; t < 10; t++) {
    p50[t] = 1000 + t;
    p99[t] = 2000 + t;
    p50m[t] = 1300 + t; /* the max of two runs like the first */
    p99m[t] = 2600 + t;
  }
  kgl_result old, new_;
  series_run(&old, p50, p99, 10, 1);
  series_run(&new_, p50m, p99m, 10, 2);
  static kgl_comparison c;
  assert_int_equal(kgl_compare(&old, &new_, &c), 0);
  for (int row = 0; row < KGL_ROWS; row += KGL_ALL) {
    const kgl_cmp_row *r = &c.row[row];
    assert_int_equal(r->verdict, KGL_V_INCONCLUSIVE);
    assert_int_equal(r->why, KGL_WHY_MERGED);
  }
  assert_false(kgl_compare_fails(&c, 0.0));
  char *text = print(&c, &old, &new_, KGL_CMP_TEXT);
  assert_non_null(
      strstr(text, "inconclusive (merged: per-second percentiles are upper "
                   "bounds)"));
  free(text);
  char *js = print(&c, &old, &new_, KGL_CMP_JSON);
  json_error_t err;
  json_t *root = json_loads(js, 0, &err);
  assert_non_null(root);
  json_t *v = json_array_get(json_object_get(root, "rows"), 0);
  assert_string_equal(json_string_value(json_object_get(v, "verdict")),
                      "inconclusive");
  assert_true(json_is_null(json_object_get(v, "decided_by")));
  assert_non_null(
      strstr(json_string_value(json_object_get(v, "reason")), "merged"));
  /* no test was made: no p-value and no exactness, not p 1 (review nit) */
  json_t *ps = json_object_get(v, "per_second");
  static const char *const metrics[] = {"p50", "p99"};
  for (size_t m = 0; m < 2; m++) {
    json_t *x = json_object_get(ps, metrics[m]);
    assert_non_null(x);
    assert_true(json_is_null(json_object_get(x, "p")));
    assert_true(json_is_null(json_object_get(x, "exact")));
    assert_string_equal(json_string_value(json_object_get(x, "verdict")),
                        "inconclusive");
  }
  json_decref(root);
  free(js);
  kgl_result_free(&old);
  kgl_result_free(&new_);
}

/* The new run had no traffic in a class the old one had: no change can be
 * computed, so it is null in JSON and '-' in the tables, never -100%. */
static void a_class_without_traffic_on_one_side_has_no_change(void **state) {
  (void)state;
  kgl_result old, new_;
  run(&old, 8, 1000, 1);
  run(&new_, 8, 1000, 2);
  kgl_hist_record_n(&old.cls[KGL_INVALID].latency, 800, 50);
  old.cls[KGL_INVALID].requests = 50;
  old.cls[KGL_INVALID].ok = 50;
  static kgl_comparison c;
  assert_int_equal(kgl_compare(&old, &new_, &c), 0);
  const kgl_cmp_row *r = &c.row[KGL_INVALID];
  assert_true(r->present);
  assert_true(isnan(r->rps_change_pct));
  for (int i = 0; i < 3; i++) {
    assert_true(isnan(r->pct_change[i]));
  }
  assert_true(isnan(r->metric[0].change_pct));
  char *text = print(&c, &old, &new_, KGL_CMP_TEXT);
  assert_null(strstr(text, "-100"));
  free(text);
  char *md = print(&c, &old, &new_, KGL_CMP_MARKDOWN);
  assert_null(strstr(md, "-100"));
  free(md);
  char *js = print(&c, &old, &new_, KGL_CMP_JSON);
  assert_null(strstr(js, "-100"));
  json_error_t err;
  json_t *root = json_loads(js, 0, &err);
  assert_non_null(root);
  json_t *inv = json_array_get(json_object_get(root, "rows"), 1);
  assert_string_equal(json_string_value(json_object_get(inv, "class")),
                      "invalid");
  json_t *lat = json_object_get(json_object_get(inv, "latency_us"), "p50");
  assert_true(json_is_null(json_object_get(lat, "change_pct")));
  assert_true(json_is_null(json_object_get(lat, "new")));
  assert_true(json_is_integer(json_object_get(lat, "old")) ||
              json_is_real(json_object_get(lat, "old")));
  assert_true(
      json_is_null(json_object_get(json_object_get(inv, "rps"), "change_pct")));
  json_decref(root);
  free(js);
  kgl_result_free(&old);
  kgl_result_free(&new_);
}

/* Text of the files (engine, protocol, method, header) in the markdown
 * note is escaped: no image, link, mention or table cell. */
static void the_markdown_note_escapes_the_files_text(void **state) {
  (void)state;
  kgl_result old, new_;
  run(&old, 8, 1000, 1);
  run(&new_, 8, 1000, 2);
  snprintf(new_.config.engine, sizeof new_.config.engine, "%s", "![p](u) @o");
  snprintf(new_.config.protocol, sizeof new_.config.protocol, "%s", "<b>|*_#");
  snprintf(new_.config.method, sizeof new_.config.method, "%s", "[x](y)");
  snprintf(new_.config.header, sizeof new_.config.header, "%s", "`a`~&b");
  static kgl_comparison c;
  assert_int_equal(kgl_compare(&old, &new_, &c), 0);
  char *md = print(&c, &old, &new_, KGL_CMP_MARKDOWN);
  const char *note = strstr(md, "- note: the set-ups differ: ");
  assert_non_null(note);
  assert_non_null(strstr(note, "engine  -\\> \\!\\[p\\]\\(u\\) \\@o"));
  assert_non_null(strstr(note, "protocol  -\\> \\<b\\>\\|\\*\\_\\#"));
  assert_non_null(strstr(note, "method  -\\> \\[x\\]\\(y\\)"));
  assert_non_null(strstr(note, "\\`a\\`\\~\\&b"));
  assert_null(strstr(note, "!["));
  assert_null(strstr(note, " @o"));
  free(md);
  kgl_result_free(&old);
  kgl_result_free(&new_);
}

/* ---- output --------------------------------------------------------------
 */

static char *print(const kgl_comparison *c, const kgl_result *a,
                   const kgl_result *b, kgl_cmp_format fmt) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  kgl_compare_print(c, a, b, 10.0, f, fmt);
  assert_int_equal(fclose(f), 0);
  return buf;
}

static void the_table_names_each_row_its_verdict_and_the_gate(void **s) {
  (void)s;
  kgl_result old, new_;
  run(&old, 8, 1000, 1);
  run(&new_, 8, 1300, 2);
  snprintf(old.config.url, sizeof old.config.url, "http://h/a?key=x`y");
  static kgl_comparison c;
  assert_int_equal(kgl_compare(&old, &new_, &c), 0);

  char *text = print(&c, &old, &new_, KGL_CMP_TEXT);
  assert_non_null(strstr(text, "class"));
  assert_non_null(strstr(text, "\nvalid "));
  assert_non_null(strstr(text, "slower (p"));
  assert_non_null(strstr(text, "8/8"));
  assert_non_null(strstr(text, "FAIL: valid is slower"));
  assert_null(strstr(text, "\ninvalid"));
  free(text);

  char *md = print(&c, &old, &new_, KGL_CMP_MARKDOWN);
  assert_non_null(strstr(md, "**keygate report compare**"));
  assert_non_null(strstr(md, "| valid "));
  assert_non_null(strstr(md, "|:--"));
  assert_non_null(strstr(md, "`http://h/a?key=x'y`")); /* one code span */
  assert_non_null(strstr(md, "**FAIL: valid is slower"));
  free(md);

  char *js = print(&c, &old, &new_, KGL_CMP_JSON);
  json_error_t err;
  json_t *root = json_loads(js, 0, &err);
  if (root == NULL) {
    fail_msg("not JSON: %s: %s", err.text, js);
  }
  assert_string_equal(json_string_value(json_object_get(root, "schema")),
                      "keygate-compare");
  assert_true(json_is_true(json_object_get(root, "fails")));
  json_t *rows = json_object_get(root, "rows");
  assert_int_equal(json_array_size(rows), 2); /* valid and all */
  json_t *v = json_array_get(rows, 0);
  assert_string_equal(json_string_value(json_object_get(v, "class")), "valid");
  assert_string_equal(json_string_value(json_object_get(v, "verdict")),
                      "slower");
  json_decref(root);
  free(js);
  kgl_result_free(&old);
  kgl_result_free(&new_);
}

/* The FAIL line names every row that fails the gate, each with the
 * metric that decided it (it named the first only: "FAIL: valid is
 * slower", with all five classes slower); a row slower below the gate is
 * not named. */
static void the_fail_line_names_every_failing_class(void **s) {
  (void)s;
  kgl_result old, new_;
  run_rows(&old, 8, 1000, 1, 1); /* every class and the overall row */
  run_rows(&new_, 8, 1300, 2, 1);
  static kgl_comparison c;
  assert_int_equal(kgl_compare(&old, &new_, &c), 0);
  for (int row = 0; row < KGL_ROWS; row++) {
    assert_int_equal(c.row[row].verdict, KGL_V_SLOWER);
  }
  for (int fmt = KGL_CMP_TEXT; fmt <= KGL_CMP_MARKDOWN; fmt++) {
    char *text = print(&c, &old, &new_, (kgl_cmp_format)fmt);
    const char *fail = strstr(text, "FAIL: valid is slower, p50 +");
    assert_non_null(fail);
    for (int row = 1; row < KGL_ROWS; row++) {
      char want[64];
      snprintf(want, sizeof want, "; %s is slower, p",
               kgl_class_name((kgl_class)row));
      if (strstr(fail, want) == NULL) {
        fail_msg("%s not named: %s", want, fail);
      }
    }
    assert_non_null(strstr(fail, "; each beyond --fail-above 10%"));
    free(text);
  }
  /* one failing row: the line as it was */
  kgl_result_free(&new_);
  run_rows(&new_, 8, 1000, 2, 1);
  c.row[KGL_INVALID].verdict = KGL_V_SLOWER;
  c.row[KGL_INVALID].decided_by = 0;
  c.row[KGL_INVALID].metric[0].change_pct = 25.0;
  for (int row = 0; row < KGL_ROWS; row++) {
    if (row != KGL_INVALID) {
      c.row[row].verdict = KGL_V_SAME;
    }
  }
  char *text = print(&c, &old, &new_, KGL_CMP_TEXT);
  const char *fail = strstr(text, "FAIL: ");
  assert_non_null(fail);
  assert_memory_equal(fail, "FAIL: invalid is slower, p50 +25.0% (p = ",
                      strlen("FAIL: invalid is slower, p50 +25.0% (p = "));
  assert_non_null(strstr(fail, "), beyond --fail-above 10%"));
  assert_null(strstr(fail, "; "));
  free(text);
  kgl_result_free(&old);
  kgl_result_free(&new_);
}

static void latencies_read_as_the_end_of_run_table_prints_them(void **s) {
  (void)s;
  static const struct {
    int64_t us;
    const char *want;
  } L[] = {{850, "850us"},     {1210, "1.21ms"},  {12100, "12.1ms"},
           {121000, "121ms"},  {999499, "999ms"}, {999500, "1.00s"},
           {1210000, "1.21s"}, {0, "0us"}};
  char buf[32];
  for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
    kgl_fmt_latency(L[i].us, buf, sizeof buf);
    assert_string_equal(buf, L[i].want);
  }
}

#define T(f) cmocka_unit_test(f)
int main(void) {
  const struct CMUnitTest tests[] = {
      T(mann_whitney_matches_the_reference_values),
      T(more_than_twenty_a_side_uses_the_normal_approximation),
      T(the_test_is_symmetric_and_u_is_the_first_samples),
      T(an_empty_side_is_refused_with_p_one),
      T(the_verdict_rule),
      T(a_slower_run_is_slower_and_fails_above_its_change),
      T(the_same_server_twice_is_not_slower),
      T(the_fail_line_names_every_failing_class),
      T(a_significant_change_within_the_floor_is_the_same),
      T(runs_too_short_to_tell_are_inconclusive_never_same),
      T(too_little_evidence_is_inconclusive_not_same),
      T(a_merged_file_gets_no_per_second_verdict),
      T(a_class_without_traffic_on_one_side_has_no_change),
      T(the_markdown_note_escapes_the_files_text),
      T(the_table_names_each_row_its_verdict_and_the_gate),
      T(latencies_read_as_the_end_of_run_table_prints_them),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
