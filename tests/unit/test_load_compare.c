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
      /* not significant, or within the floor, or no change to measure */
      {6, 6, 0.05, 40.0, KGL_V_SAME},
      {6, 6, 0.2, -40.0, KGL_V_SAME},
      {60, 60, 1e-9, 4.9, KGL_V_SAME},
      {60, 60, 1e-9, -4.9, KGL_V_SAME},
      {60, 60, 1e-9, NAN, KGL_V_SAME},
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
static void run(kgl_result *r, int seconds, double base_us, uint64_t seed) {
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
    for (int row = 0; row < KGL_ROWS; row += KGL_ALL) { /* valid and all */
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
      T(a_significant_change_within_the_floor_is_the_same),
      T(runs_too_short_to_tell_are_inconclusive_never_same),
      T(the_table_names_each_row_its_verdict_and_the_gate),
      T(latencies_read_as_the_end_of_run_table_prints_them),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
