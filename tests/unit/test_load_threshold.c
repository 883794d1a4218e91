/*
 * tests/unit/test_load_threshold.c — `--threshold` expressions
 * (load/result.h): the grammar [CLASS "."] METRIC OP NUMBER [UNIT], what
 * each expression parses to, the one-line refusals, and evaluation on a
 * result built by hand so every figure is known.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "load/result.h"

/* ---- parsing ------------------------------------------------------------- */

typedef struct parse_case {
  const char *expr;
  int row;
  int metric;
  int op;
  double value; /* µs for latencies, a fraction for %, else as written */
  int percent;
  double unit_scale;
} parse_case;

static const parse_case ACCEPTED[] = {
    /* the examples */
    {"p99<50ms", KGL_ALL, KGL_M_P99, KGL_OP_LT, 50000, 0, 1000},
    {"valid.p99.9<100ms", KGL_VALID, KGL_M_P999, KGL_OP_LT, 100000, 0, 1000},
    {"mismatches==0", KGL_ALL, KGL_M_MISMATCHES, KGL_OP_EQ, 0, 0, 1},
    {"errors<0.1%", KGL_ALL, KGL_M_ERRORS, KGL_OP_LT, 0.001, 1, 1},
    {"rps>=1000", KGL_ALL, KGL_M_RPS, KGL_OP_GE, 1000, 0, 1},
    /* every latency metric, every unit */
    {"p50<=850us", KGL_ALL, KGL_M_P50, KGL_OP_LE, 850, 0, 1},
    {"p90<3.4ms", KGL_ALL, KGL_M_P90, KGL_OP_LT, 3400, 0, 1000},
    {"p99.99<2s", KGL_ALL, KGL_M_P9999, KGL_OP_LT, 2000000, 0, 1000000},
    {"invalid.max<1.5ms", KGL_INVALID, KGL_M_MAX, KGL_OP_LT, 1500, 0, 1000},
    {"missing.mean>0.25ms", KGL_MISSING, KGL_M_MEAN, KGL_OP_GT, 250, 0, 1000},
    {"expired.min!=0us", KGL_EXPIRED, KGL_M_MIN, KGL_OP_NE, 0, 0, 1},
    {"p99<250\xc2\xb5s", KGL_ALL, KGL_M_P99, KGL_OP_LT, 250, 0, 1},
    {"p50>.5ms", KGL_ALL, KGL_M_P50, KGL_OP_GT, 500, 0, 1000},
    /* 0 needs no unit: it is 0 in every one */
    {"expired.max==0", KGL_EXPIRED, KGL_M_MAX, KGL_OP_EQ, 0, 0, 1},
    /* counts and shares, per class */
    {"valid.errors<=5", KGL_VALID, KGL_M_ERRORS, KGL_OP_LE, 5, 0, 1},
    {"invalid.mismatches<0.5%", KGL_INVALID, KGL_M_MISMATCHES, KGL_OP_LT, 0.005,
     1, 1},
    {"expired.requests>10", KGL_EXPIRED, KGL_M_REQUESTS, KGL_OP_GT, 10, 0, 1},
    {"missing.rps>=12.5", KGL_MISSING, KGL_M_RPS, KGL_OP_GE, 12.5, 0, 1},
    {"errors==100%", KGL_ALL, KGL_M_ERRORS, KGL_OP_EQ, 1.0, 1, 1},
    /* "all." names the overall row explicitly */
    {"all.requests!=0", KGL_ALL, KGL_M_REQUESTS, KGL_OP_NE, 0, 0, 1},
    /* spaces around the operator and before the unit */
    {"p99 < 1.5 ms", KGL_ALL, KGL_M_P99, KGL_OP_LT, 1500, 0, 1000},
    {" valid.p50 >= 2 s ", KGL_VALID, KGL_M_P50, KGL_OP_GE, 2000000, 0,
     1000000},
};

static void accepted_expressions_parse_to_their_fields(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof ACCEPTED / sizeof ACCEPTED[0]; i++) {
    const parse_case *c = &ACCEPTED[i];
    kgl_threshold t;
    char why[256] = "";
    if (kgl_threshold_parse(c->expr, &t, why, sizeof why) != 0) {
      fail_msg("\"%s\" refused: %s", c->expr, why);
    }
    assert_string_equal(t.expr, c->expr);
    if (t.row != c->row || t.metric != c->metric || t.op != c->op ||
        t.percent != c->percent || t.unit_scale != c->unit_scale ||
        t.value != c->value) {
      fail_msg("\"%s\": row %d metric %d op %d value %.17g percent %d scale "
               "%g",
               c->expr, t.row, t.metric, t.op, t.value, t.percent,
               t.unit_scale);
    }
  }
}

typedef struct refused_case {
  const char *expr;
  const char *why; /* expected in the one-line reason */
} refused_case;

static const refused_case REFUSED[] = {
    {"", "empty threshold"},
    {"p99", "threshold 'p99': missing operator (one of < <= > >= == !=)"},
    {"p99 50ms", "missing operator"},
    {"p98<5ms", "unknown metric 'p98'"},
    {"latency<5ms", "unknown metric 'latency'"},
    {"valid.p98<1", "unknown metric 'p98'"},
    {"p99.99.9<1", "unknown metric 'p99.99.9'"},
    {"bogus.p99<5ms", "unknown class 'bogus' (valid, invalid, missing, "
                      "expired or all)"},
    {"Valid.p99<5ms", "unknown class 'Valid'"},
    {"<5ms", "missing metric before the operator"},
    {"valid.<5ms", "missing metric before the operator"},
    {"p99=5ms", "unknown operator '='"},
    {"p99!5ms", "unknown operator '!'"},
    {"p99=<5ms", "unknown operator '='"},
    {"p99<", "missing number after the operator"},
    {"p99<ms", "missing number"},
    {"p99<inf", "missing number"},
    {"p99<1.2.3ms", "missing number"},
    {"p99<-5ms", "the number must not be negative"},
    {"errors<-1", "must not be negative"},
    {"p99<5parsecs", "unknown unit 'parsecs'"},
    /* a latency has no default unit (us in the JSON, ms in k6) */
    {"p99<50", "threshold 'p99<50': p99 is a latency: give its unit (us, ms "
               "or s), as in p99<50ms"},
    {"valid.max <= 2 ", "max is a latency: give its unit"},
    {"p99.9<0.5", "p99.9 is a latency: give its unit"},
    {"p99<1e3", "unknown unit 'e3'"},
    {"p99<0x10", "unknown unit 'x10'"},
    {"p99<5 ms extra", "unknown unit 'ms extra'"},
    {"p99<5%", "p99 is a latency: use us, ms or s, not %"},
    {"rps>5ms", "rps is not a time: no unit ms"},
    {"requests>5s", "requests is not a time"},
    {"errors<5ms", "errors is not a time"},
    {"rps>5%", "% applies to errors and mismatches, not to rps"},
    {"requests>5%", "% applies to errors and mismatches, not to requests"},
    {"errors<150%", "a share above 100%"},
    {"p99<500000000000000000000000000000000000000000000000000000000000000000"
     "ms",
     "the number is too long"},
    {"valid.p99.9<100msxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
     "is longer than 95 characters"},
};

static void refused_expressions_get_one_clear_line(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof REFUSED / sizeof REFUSED[0]; i++) {
    const refused_case *c = &REFUSED[i];
    kgl_threshold t;
    char why[256] = "";
    if (kgl_threshold_parse(c->expr, &t, why, sizeof why) != -1) {
      fail_msg("\"%s\" was accepted", c->expr);
    }
    if (strstr(why, c->why) == NULL || strchr(why, '\n') != NULL) {
      fail_msg("\"%s\": reason \"%s\", expected \"%s\"", c->expr, why, c->why);
    }
  }
}

/* A threshold given (--threshold) is a count for requests, mismatches and
 * errors without %: a number that is not whole is refused, naming the
 * share it likely meant where that is one (errors<0.1 held only for
 * none). The same expression recorded in a results file still reads. */
static const refused_case REFUSED_GIVEN[] = {
    {"errors<0.1", "threshold 'errors<0.1': errors without % is a count: give "
                   "a whole number, or a share with % (0.1%)"},
    {"all.mismatches <= 2.50 ", "mismatches without % is a count: give a "
                                "whole number, or a share with % (2.50%)"},
    {"errors<=0.000001", "or a share with % (0.000001%)"},
    {"errors<150.5", "threshold 'errors<150.5': errors without % is a count: "
                     "give a whole number"},
    {"requests>=99.5", "threshold 'requests>=99.5': requests is a count: give "
                       "a whole number"},
    {"p98<5ms", "unknown metric 'p98'"},
};

static void given_counts_are_whole(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof REFUSED_GIVEN / sizeof REFUSED_GIVEN[0]; i++) {
    const refused_case *c = &REFUSED_GIVEN[i];
    kgl_threshold t;
    char why[256] = "";
    if (kgl_threshold_parse_given(c->expr, &t, why, sizeof why) != -1) {
      fail_msg("\"%s\" was accepted", c->expr);
    }
    if (strstr(why, c->why) == NULL || strchr(why, '\n') != NULL) {
      fail_msg("\"%s\": reason \"%s\", expected \"%s\"", c->expr, why, c->why);
    }
    /* 150.5 is no share; the others' hints parse as given */
    if (strstr(why, "(150.5%)") != NULL) {
      fail_msg("\"%s\": a share above 100%% suggested", c->expr);
    }
  }
  static const char *const fine[] = {"errors<1.0", "errors<0.0",
                                     "errors<1.",  "errors<0.1%",
                                     "rps>=0.5",   "mismatches==0"};
  for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
    kgl_threshold t;
    char why[256] = "";
    if (kgl_threshold_parse_given(fine[i], &t, why, sizeof why) != 0) {
      fail_msg("\"%s\" refused: %s", fine[i], why);
    }
  }
  /* recorded: as written (older versions accepted it) */
  kgl_threshold t;
  char why[256] = "";
  assert_int_equal(kgl_threshold_parse("errors<0.1", &t, why, sizeof why), 0);
  assert_true(t.value == 0.1 && !t.percent);
}

static void a_reason_is_cut_to_the_buffer_given(void **state) {
  (void)state;
  kgl_threshold t;
  char why[8];
  assert_int_equal(kgl_threshold_parse("p98<1", &t, why, sizeof why), -1);
  assert_int_equal(strlen(why), 7);
}

/* ---- evaluation ------------------------------------------------------------
 */

/*
 * The result thresholds are evaluated on, over a 10 s span:
 *   valid    1000 requests: 990 ok, 5 mismatches, 5 errors; responses at
 *            900 x 1000us, 90 x 5000us, 5 x 20000us
 *   missing   100 requests, all ok, at 800us
 *   invalid, expired: no traffic
 *   all      the sum: 1100 requests, 5 mismatches, 5 errors
 * In this layout 1000us and 800us have buckets 1 wide, 5000us one 4 wide
 * (5000..5003), 20000us one 16 wide (capped at max).
 */
static void known_result(kgl_result *r) {
  assert_int_equal(kgl_result_init(r), 0);
  r->start_unix_ns = INT64_C(1700000000000000000);
  r->end_unix_ns = r->start_unix_ns + INT64_C(10000000000);
  kgl_class_stats *v = &r->cls[KGL_VALID], *m = &r->cls[KGL_MISSING];
  v->requests = 1000;
  v->ok = 990;
  v->mismatches = 5;
  v->errors = 5;
  kgl_hist_record_n(&v->latency, 1000, 900);
  kgl_hist_record_n(&v->latency, 5000, 90);
  kgl_hist_record_n(&v->latency, 20000, 5);
  m->requests = 100;
  m->ok = 100;
  kgl_hist_record_n(&m->latency, 800, 100);
  assert_int_equal(kgl_class_stats_merge(&r->cls[KGL_ALL], v), 0);
  assert_int_equal(kgl_class_stats_merge(&r->cls[KGL_ALL], m), 0);
}

typedef struct eval_case {
  const char *expr;
  int holds;
  double actual; /* in the expression's unit */
} eval_case;

static const eval_case EVALS[] = {
    /* each operator on either side of, and at, the boundary */
    {"valid.p50<1ms", 0, 1.0},
    {"valid.p50<=1ms", 1, 1.0},
    {"valid.p50>1ms", 0, 1.0},
    {"valid.p50>=1ms", 1, 1.0},
    {"valid.p50==1000us", 1, 1000},
    {"valid.p50!=1000us", 0, 1000},
    {"valid.p50==0.001s", 1, 0.001},
    {"valid.p90<=1.001ms", 1, 1.0},
    /* p99 is the top of the bucket holding the 99th-percentile sample */
    {"valid.p99<5ms", 0, 5.003},
    {"valid.p99<=5.003ms", 1, 5.003},
    {"valid.p99.9==20ms", 1, 20.0}, /* the bucket's top, capped at max */
    {"valid.p99.99<=20ms", 1, 20.0},
    {"valid.max>20ms", 0, 20.0},
    {"valid.max>=20000us", 1, 20000},
    {"valid.min==1ms", 1, 1.0},
    {"valid.mean<1.5ms", 1, 1450000.0 / 995.0 / 1000.0},
    {"missing.p99<1s", 1, 0.0008},
    /* overall row by default: 1095 responses */
    {"p50==1ms", 1, 1.0},
    {"p99<=5003us", 1, 5003},
    {"min<1ms", 1, 0.8},
    /* counts */
    {"mismatches==0", 0, 5},
    {"valid.mismatches==5", 1, 5},
    {"errors<=5", 1, 5},
    {"requests==1100", 1, 1100},
    {"invalid.requests>0", 0, 0},
    /* shares of the row's requests: 5 of 1000 is exactly 0.5% */
    {"valid.errors<0.5%", 0, 0.5},
    {"valid.errors<=0.5%", 1, 0.5},
    {"valid.errors==0.5%", 1, 0.5},
    {"errors<0.5%", 1, 500.0 / 1100.0},
    {"mismatches!=0%", 1, 500.0 / 1100.0},
    /* responses per second over the 10 s span: the 5 errors are not */
    {"rps>=110", 0, 109.5},
    {"rps>=109.5", 1, 109.5},
    {"valid.rps>100", 0, 99.5},
    {"missing.rps==10", 1, 10},
    /* a class without traffic measures 0, and a latency of no response
     * is no evidence: latency thresholds on it are violated */
    {"invalid.p99<1ms", 0, 0},
    {"expired.max==0", 0, 0},
    {"invalid.errors>0%", 0, 0},
    {"expired.rps>0", 0, 0},
};

static void thresholds_evaluate_on_a_known_result(void **state) {
  (void)state;
  kgl_result r;
  known_result(&r);
  for (size_t i = 0; i < sizeof EVALS / sizeof EVALS[0]; i++) {
    const eval_case *c = &EVALS[i];
    kgl_threshold t;
    kgl_threshold_outcome o;
    char why[256] = "";
    if (kgl_threshold_parse(c->expr, &t, why, sizeof why) != 0) {
      fail_msg("\"%s\" refused: %s", c->expr, why);
    }
    int holds = kgl_threshold_eval(&t, &r, &o);
    assert_int_equal(holds, o.holds);
    assert_string_equal(o.expr, c->expr);
    double err = o.actual - c->actual;
    if (holds != c->holds || err > 1e-12 || err < -1e-12) {
      fail_msg("\"%s\": holds %d (want %d), actual %.17g (want %.17g)", c->expr,
               holds, c->holds, o.actual, c->actual);
    }
  }
  kgl_result_free(&r);
}

typedef struct format_case {
  const char *expr;
  const char *line;
} format_case;

static void outcomes_read_with_the_actual_value_in_their_unit(void **state) {
  (void)state;
  static const format_case cases[] = {
      {"valid.p50<2ms", "valid.p50<2ms holds (1.00ms)"},
      {"valid.p99<5ms", "valid.p99<5ms VIOLATED (5.003ms)"},
      {"valid.p99<5000us", "valid.p99<5000us VIOLATED (5003us)"},
      {"missing.max<1s", "missing.max<1s holds (0.0008s)"},
      {"valid.errors<0.1%", "valid.errors<0.1% VIOLATED (0.5%)"},
      {"mismatches==0", "mismatches==0 VIOLATED (5)"},
      {"rps>=1000", "rps>=1000 VIOLATED (109.5)"},
      {"invalid.p99<1ms", "invalid.p99<1ms VIOLATED (no responses)"},
  };
  kgl_result r;
  known_result(&r);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kgl_threshold t;
    kgl_threshold_outcome o;
    char why[256], line[160];
    assert_int_equal(kgl_threshold_parse(cases[i].expr, &t, why, sizeof why),
                     0);
    kgl_threshold_eval(&t, &r, &o);
    kgl_threshold_format(&o, line, sizeof line);
    assert_string_equal(line, cases[i].line);
  }
  kgl_result_free(&r);
}

/* The defaults (kgl_threshold_defaults): mismatches==0 and errors==0,
 * each unless a threshold names its metric on the all row; never past cap. */
static void defaults_are_added_unless_their_metric_is_named(void **state) {
  (void)state;
  static const struct {
    const char *given[3];
    const char *want[5];
  } cases[] = {
      {{NULL}, {"mismatches==0", "errors==0", NULL}},
      {{"p99<20ms", NULL}, {"p99<20ms", "mismatches==0", "errors==0", NULL}},
      {{"errors<1%", NULL}, {"errors<1%", "mismatches==0", NULL}},
      /* a class's own threshold is one more: the all row keeps its default */
      {{"valid.mismatches<=3", "p50<1s", NULL},
       {"valid.mismatches<=3", "p50<1s", "mismatches==0", "errors==0", NULL}},
      {{"invalid.errors==0", "mismatches!=0", NULL},
       {"invalid.errors==0", "mismatches!=0", "errors==0", NULL}},
      {{"all.errors<5", "all.mismatches<=1", NULL},
       {"all.errors<5", "all.mismatches<=1", NULL}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kgl_threshold th[5];
    char why[128];
    int n = 0;
    for (; cases[i].given[n] != NULL; n++) {
      assert_int_equal(
          kgl_threshold_parse(cases[i].given[n], &th[n], why, sizeof why), 0);
    }
    n = kgl_threshold_defaults(th, n, 5);
    int want = 0;
    for (; cases[i].want[want] != NULL; want++) {
      assert_true(want < n);
      assert_string_equal(th[want].expr, cases[i].want[want]);
    }
    assert_int_equal(n, want);
  }
  /* cap: one room left, the first default takes it */
  kgl_threshold th[2];
  char why[128];
  assert_int_equal(kgl_threshold_parse("p99<1s", &th[0], why, sizeof why), 0);
  assert_int_equal(kgl_threshold_defaults(th, 1, 2), 2);
  assert_string_equal(th[1].expr, "mismatches==0");
  assert_int_equal(kgl_threshold_defaults(th, 2, 2), 2);
}

#define T(f) cmocka_unit_test(f)
int main(void) {
  const struct CMUnitTest tests[] = {
      T(accepted_expressions_parse_to_their_fields),
      T(refused_expressions_get_one_clear_line),
      T(given_counts_are_whole),
      T(a_reason_is_cut_to_the_buffer_given),
      T(thresholds_evaluate_on_a_known_result),
      T(outcomes_read_with_the_actual_value_in_their_unit),
      T(defaults_are_added_unless_their_metric_is_named),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
