/*
 * load/src/threshold.c — `--threshold` expressions: parsed once, evaluated
 * on a (possibly merged) result, rendered for the table (load/result.h).
 *
 * Grammar: [CLASS "."] METRIC OP NUMBER [UNIT], spaces allowed around OP
 * and before UNIT. NUMBER is digits with an optional fraction: no sign, no
 * exponent, no hex, no inf/nan, so "p99<-1" or "p99<1e3" are refused rather
 * than read in a surprising way.
 */
#include "load/result.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- vocabulary ----------------------------------------------------------
 */

static const struct {
  const char *name;
  kgl_metric metric;
  double pct; /* the percentile of a latency metric, else -1 */
} METRICS[] = {
    {"p50", KGL_M_P50, 50.0},
    {"p90", KGL_M_P90, 90.0},
    {"p99", KGL_M_P99, 99.0},
    {"p99.9", KGL_M_P999, 99.9},
    {"p99.99", KGL_M_P9999, 99.99},
    {"max", KGL_M_MAX, -1},
    {"mean", KGL_M_MEAN, -1},
    {"min", KGL_M_MIN, -1},
    {"rps", KGL_M_RPS, -1},
    {"requests", KGL_M_REQUESTS, -1},
    {"mismatches", KGL_M_MISMATCHES, -1},
    {"errors", KGL_M_ERRORS, -1},
};
#define NMETRICS (sizeof METRICS / sizeof METRICS[0])

static const char *const OPS[] = {"<", "<=", ">", ">=", "==", "!="};

static int is_latency(int metric) {
  return metric >= KGL_M_P50 && metric <= KGL_M_MIN;
}

static int find_metric(const char *s, size_t n) {
  for (size_t i = 0; i < NMETRICS; i++) {
    if (strlen(METRICS[i].name) == n && memcmp(METRICS[i].name, s, n) == 0) {
      return (int)i;
    }
  }
  return -1;
}

/* find_row — a class name, or "all" for the overall row. */
static int find_row(const char *s, size_t n) {
  kgl_class c;
  if (kgl_class_parse(s, n, &c) == 0) {
    return (int)c;
  }
  if (n == 3 && memcmp(s, "all", 3) == 0) {
    return KGL_ALL;
  }
  return -1;
}

static int is_space(char c) {
  return c == ' ' || c == '\t';
}

/* ---- parsing -------------------------------------------------------------
 */

/* parse_lhs — [CLASS "."] METRIC in (s, n) into t->row, t->metric. */
static int parse_lhs(const char *s, size_t n, kgl_threshold *t, char *why,
                     size_t whycap) {
  int m = find_metric(s, n);
  if (m >= 0) {
    t->row = KGL_ALL;
    t->metric = (int)METRICS[m].metric;
    return 0;
  }
  const char *dot = memchr(s, '.', n);
  if (dot != NULL) {
    size_t cn = (size_t)(dot - s);
    int row = find_row(s, cn);
    if (row < 0 && find_metric(s, cn) < 0) {
      snprintf(why, whycap,
               "threshold '%s': unknown class '%.*s' (valid, invalid, "
               "missing, expired or all)",
               t->expr, (int)cn, s);
      return -1;
    }
    if (row >= 0) {
      m = find_metric(dot + 1, n - cn - 1);
      if (m >= 0) {
        t->row = row;
        t->metric = (int)METRICS[m].metric;
        return 0;
      }
      s = dot + 1;
      n = n - cn - 1;
    }
  }
  if (n == 0) {
    snprintf(why, whycap, "threshold '%s': missing metric before the operator",
             t->expr);
  } else {
    snprintf(why, whycap,
             "threshold '%s': unknown metric '%.*s' (p50 p90 p99 p99.9 "
             "p99.99 max mean min rps requests mismatches errors)",
             t->expr, (int)n, s);
  }
  return -1;
}

/* parse_op — the operator at *p, advancing past it; -1 when none. */
static int parse_op(const char **p) {
  const char *s = *p;
  int op = -1;
  if (s[0] == '<') {
    op = s[1] == '=' ? KGL_OP_LE : KGL_OP_LT;
  } else if (s[0] == '>') {
    op = s[1] == '=' ? KGL_OP_GE : KGL_OP_GT;
  } else if (s[0] == '=' && s[1] == '=') {
    op = KGL_OP_EQ;
  } else if (s[0] == '!' && s[1] == '=') {
    op = KGL_OP_NE;
  }
  if (op >= 0) {
    *p = s + strlen(OPS[op]);
  }
  return op;
}

/* parse_number — digits [ "." digits ] at *p, advancing past it. 0, -1
 * when there is no such number, -2 when it has 64 characters or more. */
static int parse_number(const char **p, double *out) {
  const char *s = *p;
  char buf[64];
  size_t n = 0;
  size_t digits = 0, dots = 0;
  while ((s[n] >= '0' && s[n] <= '9') || (s[n] == '.')) {
    if (s[n] == '.') {
      dots++;
    } else {
      digits++;
    }
    n++;
  }
  if (digits == 0 || dots > 1) {
    return -1;
  }
  if (n >= sizeof buf) {
    return -2;
  }
  memcpy(buf, s, n);
  buf[n] = '\0';
  *out = strtod(buf, NULL);
  *p = s + n;
  return 0;
}

/* unit_scale — µs per unit, 0 for "%" and for "" (no unit), -1 for an
 * unknown unit. */
static double unit_scale(const char *u, size_t n) {
  static const struct {
    const char *name;
    double scale;
  } units[] = {{"", 0.0},      {"us", 1.0}, {"\xc2\xb5s", 1.0},
               {"ms", 1000.0}, {"s", 1e6},  {"%", 0.0}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strlen(units[i].name) == n && memcmp(units[i].name, u, n) == 0) {
      return units[i].scale;
    }
  }
  return -1.0;
}

/* parse_rhs — NUMBER [UNIT] at s, checked against t->metric. */
static int parse_rhs(const char *s, kgl_threshold *t, char *why,
                     size_t whycap) {
  const char *name = METRICS[t->metric].name;
  while (is_space(*s)) {
    s++;
  }
  if (*s == '-') {
    snprintf(why, whycap, "threshold '%s': the number must not be negative",
             t->expr);
    return -1;
  }
  double v;
  int rc = parse_number(&s, &v);
  if (rc == -2) {
    snprintf(why, whycap, "threshold '%s': the number is too long", t->expr);
    return -1;
  }
  if (rc != 0) {
    snprintf(why, whycap,
             "threshold '%s': missing number after the operator (as in "
             "p99<50ms)",
             t->expr);
    return -1;
  }
  while (is_space(*s)) {
    s++;
  }
  size_t un = strlen(s);
  while (un > 0 && is_space(s[un - 1])) {
    un--;
  }
  double scale = unit_scale(s, un);
  if (scale < 0) {
    snprintf(why, whycap,
             "threshold '%s': unknown unit '%.*s' (us, ms, s for latencies; "
             "%% for errors and mismatches)",
             t->expr, (int)un, s);
    return -1;
  }
  int percent = un == 1 && s[0] == '%';
  if (is_latency(t->metric)) {
    /* no default unit: the JSON's latencies are µs, k6's thresholds ms, so
     * "p99<50" is read one way by half its readers (a review finding);
     * 0 is 0 in any unit */
    if (un == 0 && v == 0) {
      scale = 1.0;
    } else if (un == 0) {
      snprintf(why, whycap,
               "threshold '%s': %s is a latency: give its unit (us, ms or s), "
               "as in %s<50ms",
               t->expr, name, name);
      return -1;
    }
    if (percent) {
      snprintf(why, whycap,
               "threshold '%s': %s is a latency: use us, ms or s, not %%",
               t->expr, name);
      return -1;
    }
    t->unit_scale = scale;
    double us = v * scale;
    double r = nearbyint(us);
    /* 3.4ms is 3400us, not 3399.9999999999995 */
    t->value = fabs(us - r) <= 1e-9 * fmax(1.0, fabs(us)) ? r : us;
    return 0;
  }
  t->unit_scale = 1.0;
  if (un > 0 && !percent) {
    snprintf(why, whycap, "threshold '%s': %s is not a time: no unit %.*s",
             t->expr, name, (int)un, s);
    return -1;
  }
  if (percent) {
    if (t->metric != KGL_M_MISMATCHES && t->metric != KGL_M_ERRORS) {
      snprintf(why, whycap,
               "threshold '%s': %% applies to errors and mismatches, not to "
               "%s",
               t->expr, name);
      return -1;
    }
    if (v > 100.0) {
      snprintf(why, whycap, "threshold '%s': a share above 100%%", t->expr);
      return -1;
    }
    t->percent = 1;
    t->value = v / 100.0;
    return 0;
  }
  t->value = v;
  return 0;
}

int kgl_threshold_parse_given(const char *expr, kgl_threshold *t, char *why,
                              size_t whycap) {
  if (kgl_threshold_parse(expr, t, why, whycap) != 0) {
    return -1;
  }
  const int count = t->metric == KGL_M_MISMATCHES ||
                    t->metric == KGL_M_ERRORS || t->metric == KGL_M_REQUESTS;
  if (!count || t->percent || t->value == floor(t->value)) {
    return 0;
  }
  /* errors<0.1 reads as a share and held only for none (review 108) */
  const char *name = METRICS[t->metric].name;
  if (t->metric == KGL_M_REQUESTS || t->value > 100.0) {
    snprintf(why, whycap,
             "threshold '%s': %s%s is a count: give a whole number", t->expr,
             name, t->metric == KGL_M_REQUESTS ? "" : " without %");
    return -1;
  }
  /* the number as written, after the operator: its share is the hint */
  const char *num = t->expr + strcspn(t->expr, "<>=!");
  num += strspn(num, "<>=! \t");
  int n = (int)strcspn(num, " \t");
  snprintf(why, whycap,
           "threshold '%s': %s without %% is a count: give a whole number, "
           "or a share with %% (%.*s%%)",
           t->expr, name, n, num);
  return -1;
}

int kgl_threshold_defaults(kgl_threshold *th, int n, int cap) {
  static const struct {
    int metric;
    const char *expr;
  } DEFAULTS[] = {{KGL_M_MISMATCHES, "mismatches==0"},
                  {KGL_M_ERRORS, "errors==0"}};
  for (size_t d = 0; d < sizeof DEFAULTS / sizeof DEFAULTS[0]; d++) {
    int named = 0;
    for (int i = 0; i < n; i++) {
      /* the all row's only: valid.mismatches==0 reads as a tightening,
       * and must not free the other classes (review 99) */
      named |= th[i].metric == DEFAULTS[d].metric && th[i].row == KGL_ALL;
    }
    char why[128];
    if (!named && n < cap &&
        kgl_threshold_parse(DEFAULTS[d].expr, &th[n], why, sizeof why) == 0) {
      n++;
    }
  }
  return n;
}

int kgl_threshold_parse(const char *expr, kgl_threshold *t, char *why,
                        size_t whycap) {
  memset(t, 0, sizeof *t);
  size_t len = strlen(expr);
  if (len == 0) {
    snprintf(why, whycap, "empty threshold (as in p99<50ms or errors<0.1%%)");
    return -1;
  }
  if (len >= sizeof t->expr) {
    /* not even its start: cut, a key's body in it may not read as one
     * to the masks (review 100); the caller names the option */
    snprintf(why, whycap, "the threshold is longer than %zu characters",
             sizeof t->expr - 1);
    return -1;
  }
  memcpy(t->expr, expr, len + 1);
  size_t opi = strcspn(expr, "<>=!");
  if (expr[opi] == '\0') {
    snprintf(why, whycap,
             "threshold '%s': missing operator (one of < <= > >= == !=)", expr);
    return -1;
  }
  size_t a = 0, b = opi;
  while (a < b && is_space(expr[a])) {
    a++;
  }
  while (b > a && is_space(expr[b - 1])) {
    b--;
  }
  if (parse_lhs(expr + a, b - a, t, why, whycap) != 0) {
    return -1;
  }
  const char *p = expr + opi;
  int op = parse_op(&p);
  if (op < 0) {
    snprintf(why, whycap,
             "threshold '%s': unknown operator '%c' (one of < <= > >= == !=)",
             expr, expr[opi]);
    return -1;
  }
  t->op = op;
  return parse_rhs(p, t, why, whycap);
}

/* ---- evaluation ----------------------------------------------------------
 */

/* measure — the metric of t on r, in the expression's unit. */
static double measure(const kgl_threshold *t, const kgl_result *r,
                      double *cmp) {
  const kgl_class_stats *c = &r->cls[t->row];
  const kgl_hist *h = &c->latency;
  double us = 0.0;
  switch (t->metric) {
  case KGL_M_P50:
  case KGL_M_P90:
  case KGL_M_P99:
  case KGL_M_P999:
  case KGL_M_P9999:
    us = h->total > 0 ? (double)kgl_hist_percentile(h, METRICS[t->metric].pct)
                      : 0.0;
    break;
  case KGL_M_MAX:
    us = h->total > 0 ? (double)h->max : 0.0;
    break;
  case KGL_M_MIN:
    us = h->total > 0 ? (double)h->min : 0.0;
    break;
  case KGL_M_MEAN:
    us = kgl_hist_mean(h);
    break;
  case KGL_M_RPS:
    *cmp = kgl_result_rps(r, t->row);
    return *cmp;
  case KGL_M_REQUESTS:
    *cmp = (double)c->requests;
    return *cmp;
  default: {
    /* errors: kgl_result_errors, the one definition (unsolicited
     * responses count in the overall row) */
    int64_t n = t->metric == KGL_M_ERRORS ? kgl_result_errors(r, t->row)
                                          : c->mismatches;
    if (!t->percent) {
      *cmp = (double)n;
      return *cmp;
    }
    /* 100 * n / requests, one rounding: 1 of 1000 is exactly "0.1" */
    double pct =
        c->requests > 0 ? 100.0 * (double)n / (double)c->requests : 0.0;
    *cmp = pct / 100.0;
    return pct;
  }
  }
  *cmp = us;
  return us / t->unit_scale;
}

/* compare — a OP b, equal within rounding (1e-12 relative): values come
 * from integer ratios and decimal text, never exactly representable both. */
static int compare(double a, double b, int op) {
  int eq = fabs(a - b) <= 1e-12 * fmax(fabs(a), fabs(b));
  switch (op) {
  case KGL_OP_LT:
    return !eq && a < b;
  case KGL_OP_LE:
    return eq || a < b;
  case KGL_OP_GT:
    return !eq && a > b;
  case KGL_OP_GE:
    return eq || a > b;
  case KGL_OP_EQ:
    return eq;
  default:
    return !eq;
  }
}

int kgl_threshold_eval(const kgl_threshold *t, const kgl_result *r,
                       kgl_threshold_outcome *out) {
  memset(out, 0, sizeof *out);
  memcpy(out->expr, t->expr, sizeof out->expr);
  out->expr[sizeof out->expr - 1] = '\0';
  double cmp = 0.0;
  out->actual = measure(t, r, &cmp);
  out->holds = compare(cmp, t->value, t->op);
  /* a latency of nothing is no evidence: with no response in the row, a
   * latency threshold is violated, whatever its direction */
  if (t->metric <= KGL_M_MIN && r->cls[t->row].latency.total == 0) {
    out->holds = 0;
  }
  return out->holds;
}

/* ---- rendering -----------------------------------------------------------
 */

/* fmt3 — three significant digits, trailing zeros kept (3.40, 12.1, 850),
 * or up to six when three would hide the difference that decided the
 * outcome (p99<5ms VIOLATED (5.003ms), not (5.00ms)). */
static void fmt3(char *buf, size_t cap, double v, const char *unit) {
  int prec = v < 9.995 ? 2 : v < 99.95 ? 1 : 0;
  snprintf(buf, cap, "%.*f%s", prec, v, unit);
  if (strtod(buf, NULL) != v) {
    snprintf(buf, cap, "%.6g%s", v, unit);
  }
}

int kgl_threshold_format(const kgl_threshold_outcome *o, char *buf,
                         size_t cap) {
  char why[160];
  char act[48];
  kgl_threshold t;
  if (kgl_threshold_parse(o->expr, &t, why, sizeof why) != 0) {
    snprintf(act, sizeof act, "%g", o->actual);
  } else if (is_latency(t.metric) && o->actual == 0.0) {
    snprintf(act, sizeof act, "no responses"); /* no latency is below 1us */
  } else if (is_latency(t.metric)) {
    const char *unit = t.unit_scale >= 1e6   ? "s"
                       : t.unit_scale >= 1e3 ? "ms"
                                             : "us";
    if (t.unit_scale < 1e3 && o->actual == nearbyint(o->actual)) {
      snprintf(act, sizeof act, "%.0fus", o->actual);
    } else {
      fmt3(act, sizeof act, o->actual, unit);
    }
  } else if (t.percent) {
    snprintf(act, sizeof act, "%.3g%%", o->actual);
  } else if (t.metric == KGL_M_RPS) {
    snprintf(act, sizeof act, "%.1f", o->actual);
  } else {
    snprintf(act, sizeof act, "%.0f", o->actual);
  }
  return snprintf(buf, cap, "%s %s (%s)", o->expr,
                  o->holds ? "holds" : "VIOLATED", act);
}
