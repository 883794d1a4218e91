/*
 * load/src/html.c — a result as one self-contained HTML page
 * (load/html.h): inline CSS, inline SVG charts drawn here, no script.
 *
 * Layout: a header with the runs, then sections in reading order —
 * thresholds (pass/fail), classes (the end-of-run table), the comparison
 * with the baseline when there is one, latency by percentile, requests per
 * second, mismatches and errors per second, p99 per second, mismatch
 * samples. Charts are 900x320 SVG with a plot area inside margins; a class
 * keeps one colour everywhere (CSS class = class name), the baseline's
 * lines are dashed (CSS class "old").
 *
 * The markup is XHTML-compatible (every element closed, only &amp; &lt;
 * &gt; &quot; &#39;) and carries no URL in any attribute: the target is
 * text.
 */
#define _POSIX_C_SOURCE 200809L /* fsync, fileno, gmtime_r */
#include "load/html.h"
#include "load/outfile.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "keygate/keygate.h"
#include "load/compare.h"
#include "load/redact.h"

/* ---- text ----------------------------------------------------------------
 */

void kgl_html_escape(const char *s, FILE *f) {
  for (; *s != '\0'; s++) {
    const unsigned char c = (unsigned char)*s;
    switch (c) {
    case '&':
      fputs("&amp;", f);
      break;
    case '<':
      fputs("&lt;", f);
      break;
    case '>':
      fputs("&gt;", f);
      break;
    case '"':
      fputs("&quot;", f);
      break;
    case '\'':
      fputs("&#39;", f);
      break;
    default:
      fputc(c >= 0x20 && c < 0x7f ? (int)c : '?', f);
    }
  }
}

static const char *or_dash(const char *s) {
  return s[0] != '\0' ? s : "-";
}

/* td — one table cell holding escaped text. */
static void td(FILE *f, const char *cls, const char *text) {
  if (cls != NULL) {
    fprintf(f, "<td class=\"%s\">", cls);
  } else {
    fputs("<td>", f);
  }
  kgl_html_escape(text, f);
  fputs("</td>", f);
}

static void fmt_start(const kgl_result *r, char *out, size_t cap) {
  const time_t s = (time_t)(r->start_unix_ns / 1000000000);
  struct tm tm;
  if (r->start_unix_ns <= 0 || gmtime_r(&s, &tm) == NULL ||
      strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
    snprintf(out, cap, "-");
  }
}

/* setup — "native http/1.1, 64 connections, 1 thread, 10.0 s, closed
 * loop". */
static void setup(const kgl_result *r, char *out, size_t cap) {
  const kgl_config *c = &r->config;
  char loop[64];
  if (c->rate > 0) {
    snprintf(loop, sizeof loop, "open loop at %.0f rps", c->rate);
  } else {
    snprintf(loop, sizeof loop, "closed loop");
  }
  snprintf(out, cap, "%s %s, %d connection%s, %d thread%s, %.1f s, %s%s",
           or_dash(c->engine), or_dash(c->protocol), c->connections,
           c->connections == 1 ? "" : "s", c->threads,
           c->threads == 1 ? "" : "s", kgl_result_elapsed_s(r), loop,
           r->runs > 1 ? ", runs merged" : "");
}

/* ---- the page around the charts ------------------------------------------
 */

static const char CSS[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;"
    "margin:24px auto;max-width:960px;padding:0 12px;color:#1b1b1b;"
    "background:#fff}\n"
    "h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;"
    "margin-top:1.6em;border-bottom:1px solid #ddd}\n"
    "section{overflow-x:auto}\n"
    "table{border-collapse:collapse;font-size:.9em;margin:.4em 0}\n"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;"
    "white-space:nowrap}\n"
    "th:first-child,td:first-child,td.text{text-align:left}\n"
    "th{background:#f3f3f3}\n"
    ".pass{color:#067d17;font-weight:bold}.fail{color:#b00020;"
    "font-weight:bold}\n"
    ".slower{color:#b00020;font-weight:bold}.faster{color:#067d17;"
    "font-weight:bold}.inconclusive{color:#7a5b00}\n"
    "code{font-family:ui-monospace,monospace;font-size:.95em;"
    "background:#f5f5f5;padding:0 3px}\n"
    "svg.chart{display:block;width:100%;height:auto;max-width:900px}\n"
    "svg text{font-size:11px;fill:#333}\n"
    ".grid{stroke:#e3e3e3;stroke-width:1}.frame{fill:none;stroke:#777}\n"
    ".line{fill:none;stroke-width:1.8;stroke-linejoin:round}\n"
    ".old{stroke-dasharray:6 4;stroke-width:1.4}\n"
    ".valid{stroke:#1f77b4}.invalid{stroke:#d62728}.missing{stroke:#2ca02c}"
    ".expired{stroke:#ff7f0e}.all{stroke:#222}.errors{stroke:#8c564b}\n"
    "ul.legend{list-style:none;padding:0;margin:.2em 0 0;font-size:.85em}\n"
    "ul.legend li{display:inline-block;margin-right:1.2em}\n"
    ".note{color:#555;font-size:.85em}\n"
    "footer{margin-top:2em;color:#777;font-size:.8em}\n";

static void head(FILE *f) {
  fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
        "<meta charset=\"utf-8\" />\n"
        "<meta name=\"viewport\" content=\"width=device-width, "
        "initial-scale=1\" />\n"
        "<title>keygate load report</title>\n<style>\n",
        f);
  fputs(CSS, f);
  fputs("</style>\n</head>\n<body>\n<h1>keygate load report</h1>\n", f);
}

static void runs(const kgl_result *run, const kgl_result *base, FILE *f) {
  char line[256], start[48];
  fputs("<section id=\"runs\">\n<table>\n<tr><th>run</th><th>target</th>"
        "<th>set-up</th><th>started</th><th>requests</th></tr>\n",
        f);
  const kgl_result *both[2] = {run, base};
  for (int i = 0; i < 2 && both[i] != NULL; i++) {
    char n[32];
    setup(both[i], line, sizeof line);
    fmt_start(both[i], start, sizeof start);
    snprintf(n, sizeof n, "%lld", (long long)both[i]->cls[KGL_ALL].requests);
    fputs("<tr>", f);
    td(f, NULL, i == 0 ? "this run" : "baseline (dashed)");
    fputs("<td class=\"text\"><code>", f);
    kgl_html_escape(or_dash(both[i]->config.url), f);
    fputs("</code></td>", f);
    td(f, "text", line);
    td(f, "text", start);
    td(f, NULL, n);
    fputs("</tr>\n", f);
  }
  fputs("</table>\n", f);
  for (int i = 0; i < 2 && both[i] != NULL; i++) {
    if (both[i]->interrupted) {
      kgl_result_interruption(both[i], line, sizeof line);
      fprintf(f, "<p class=\"note\"><strong>%s interrupted:</strong> ",
              i == 0 ? "This run was" : "The baseline was");
      kgl_html_escape(line, f);
      fputs("; its figures cover the span that ran.</p>\n", f);
    }
  }
  fputs("</section>\n", f);
}

static void thresholds(const kgl_result *r, FILE *f) {
  char line[256];
  fputs("<section id=\"thresholds\">\n<h2>Thresholds</h2>\n", f);
  if (r->nthresholds == 0) {
    fputs("<p class=\"note\">No threshold outcome in this result (a merged "
          "result drops them: run <code>keygate report check</code>).</p>\n",
          f);
    fputs("</section>\n", f);
    return;
  }
  int held = 0;
  for (int i = 0; i < r->nthresholds && i < KGL_MAX_THRESHOLDS; i++) {
    held += r->thresholds[i].holds != 0;
  }
  fprintf(f,
          "<p>%d of %d hold.</p>\n<table>\n<tr><th>threshold</th>"
          "<th>result</th><th>measured</th></tr>\n",
          held, r->nthresholds);
  for (int i = 0; i < r->nthresholds && i < KGL_MAX_THRESHOLDS; i++) {
    const kgl_threshold_outcome *o = &r->thresholds[i];
    kgl_threshold_format(o, line, sizeof line);
    fputs("<tr><td><code>", f);
    kgl_html_escape(o->expr, f);
    fputs("</code></td>", f);
    td(f, o->holds ? "pass" : "fail", o->holds ? "pass" : "FAIL");
    td(f, "text", line);
    fputs("</tr>\n", f);
  }
  fputs("</table>\n</section>\n", f);
}

static int row_shown(const kgl_result *r, int row) {
  return row == KGL_ALL || r->cls[row].requests > 0;
}

static void classes(const kgl_result *r, FILE *f) {
  static const double pcts[3] = {50.0, 99.0, 99.9};
  char cell[48];
  fputs("<section id=\"classes\">\n<h2>Classes</h2>\n<table>\n<tr>"
        "<th>class</th><th>requests</th><th>rps</th><th>mismatches</th>"
        "<th>errors</th><th>p50</th><th>p99</th><th>p99.9</th><th>max</th>"
        "</tr>\n",
        f);
  for (int row = 0; row < KGL_ROWS; row++) {
    if (!row_shown(r, row)) {
      continue;
    }
    const kgl_class_stats *c = &r->cls[row];
    fputs("<tr>", f);
    td(f, NULL, kgl_class_name((kgl_class)row));
    fprintf(f, "<td>%lld</td><td>%.1f</td><td>%lld</td><td>%lld</td>",
            (long long)c->requests, kgl_result_rps(r, row),
            (long long)c->mismatches, (long long)kgl_result_errors(r, row));
    for (int i = 0; i < 4; i++) {
      if (c->latency.total == 0) {
        snprintf(cell, sizeof cell, "-");
      } else {
        kgl_fmt_latency(i < 3 ? kgl_hist_percentile(&c->latency, pcts[i])
                              : c->latency.max,
                        cell, sizeof cell);
      }
      td(f, NULL, cell);
    }
    fputs("</tr>\n", f);
  }
  fputs("</table>\n</section>\n", f);
}

static void change_cell(FILE *f, double pct) {
  char cell[32];
  if (isfinite(pct)) {
    snprintf(cell, sizeof cell, "%+.1f%%", pct);
  } else {
    snprintf(cell, sizeof cell, "-");
  }
  td(f, NULL, cell);
}

static void comparison(const kgl_comparison *c, FILE *f) {
  char a[32], b[32], cell[96];
  fputs("<section id=\"comparison\">\n<h2>Compared with the baseline</h2>\n"
        "<table>\n<tr><th>class</th><th>rps old / new</th><th>change</th>"
        "<th>p50 old / new</th><th>change</th><th>p99 old / new</th>"
        "<th>change</th><th>p99.9 old / new</th>"
        "<th>change</th><th>seconds</th><th>p</th><th>verdict</th></tr>\n",
        f);
  for (int row = 0; row < KGL_ROWS; row++) {
    const kgl_cmp_row *r = &c->row[row];
    if (!r->present) {
      continue;
    }
    fputs("<tr>", f);
    td(f, NULL, kgl_class_name((kgl_class)row));
    snprintf(cell, sizeof cell, "%.1f / %.1f", r->rps_old, r->rps_new);
    td(f, NULL, cell);
    change_cell(f, r->rps_change_pct);
    for (int i = 0; i < 3; i++) {
      /* a side without responses has no latency: '-', as compare's */
      kgl_fmt_latency(r->old_pct[i], a, sizeof a);
      kgl_fmt_latency(r->new_pct[i], b, sizeof b);
      snprintf(cell, sizeof cell, "%s / %s", r->has_old ? a : "-",
               r->has_new ? b : "-");
      td(f, NULL, cell);
      change_cell(f, r->pct_change[i]);
    }
    snprintf(cell, sizeof cell, "%zu/%zu", r->n_old, r->n_new);
    td(f, NULL, cell);
    kgl_cmp_p_text(r, cell, sizeof cell);
    td(f, NULL, cell);
    kgl_cmp_verdict_text(r, c->min_n, cell, sizeof cell);
    td(f, kgl_verdict_name(r->verdict), cell);
    fputs("</tr>\n", f);
  }
  fprintf(f,
          "</table>\n<p class=\"note\">The verdict tests the per-second p50 "
          "and p99 of each class (two-sided Mann-Whitney U, p doubled for the "
          "two metrics): a change is called when p &lt; %g and it moves the "
          "median by %g%% or more, same when it moves it by less, else "
          "inconclusive; with fewer than %zu seconds a side, or a merged "
          "file (its per-second percentiles are upper bounds), it is "
          "inconclusive.</p>\n</section>\n",
          c->alpha, c->floor_pct, c->min_n);
}

static void samples(const kgl_result *r, FILE *f) {
  char want[96];
  fputs("<section id=\"samples\">\n<h2>Mismatch samples</h2>\n", f);
  if (r->nsamples == 0) {
    fputs("<p>No mismatched response.</p>\n</section>\n", f);
    return;
  }
  fputs("<table>\n<tr><th>class</th><th>status</th><th>expected</th>"
        "<th>code</th><th>request id</th><th>key</th><th>kinds</th>"
        "<th>detail</th></tr>\n",
        f);
  for (int i = 0; i < r->nsamples && i < KGL_MAX_SAMPLES; i++) {
    const kgl_sample *s = &r->samples[i];
    char status[16], kinds[128];
    size_t n = 0;
    snprintf(status, sizeof status, "%d", s->status);
    /* the code given to --expect is the user's text: it may hold a key */
    char code[sizeof s->expected_code];
    kgl_redact_arg(s->expected_code, strlen(s->expected_code), code,
                   sizeof code);
    if (s->expected_status == 0) {
      snprintf(want, sizeof want, "2xx %s", code);
    } else {
      snprintf(want, sizeof want, "%d %s", s->expected_status, code);
    }
    kinds[0] = '\0';
    for (int k = 0; k < KGL_MM_KINDS; k++) {
      if (s->kinds & (1u << k)) {
        const int w = snprintf(kinds + n, sizeof kinds - n, "%s%s",
                               n ? ", " : "", kgl_mismatch_name(k));
        n = (w < 0 || (size_t)w >= sizeof kinds - n) ? sizeof kinds - 1
                                                     : n + (size_t)w;
      }
    }
    fputs("<tr>", f);
    td(f, NULL, kgl_class_name((kgl_class)s->cls));
    td(f, NULL, status);
    td(f, "text", want);
    td(f, "text", or_dash(s->code));
    td(f, "text", or_dash(s->request_id));
    td(f, "text", or_dash(s->key));
    td(f, "text", or_dash(kinds));
    td(f, "text", or_dash(s->detail));
    fputs("</tr>\n", f);
  }
  fputs("</table>\n</section>\n", f);
}

/* ---- charts --------------------------------------------------------------
 */

#define CW 900.0 /* chart width and height, SVG user units */
#define CH 320.0
#define ML 72.0 /* margins around the plot area */
#define MR 44.0
#define MT 14.0
#define MB 46.0
#define PCT_STEPS 20 /* points per decade of the percentile axis */
#define PCT_DECADES_MAX 6
#define MAXPTS (PCT_STEPS * PCT_DECADES_MAX + 2)

typedef struct axis {
  double lo, hi; /* in plotted units (log10 already taken where log) */
} axis;

static double px_x(const axis *a, double v) {
  const double span = a->hi > a->lo ? a->hi - a->lo : 1.0;
  return ML + (v - a->lo) / span * (CW - ML - MR);
}

static double px_y(const axis *a, double v) {
  const double span = a->hi > a->lo ? a->hi - a->lo : 1.0;
  return CH - MB - (v - a->lo) / span * (CH - MT - MB);
}

static void chart_open(FILE *f, const char *id, const char *label) {
  fprintf(f,
          "<svg class=\"chart\" id=\"%s\" viewBox=\"0 0 %.0f %.0f\" "
          "width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-label=\"",
          id, CW, CH, CW, CH);
  kgl_html_escape(label, f);
  fputs("\">\n<title>", f);
  kgl_html_escape(label, f);
  fputs("</title>\n", f);
}

static void chart_close(FILE *f, const axis *x, const axis *y,
                        const char *xlabel) {
  fprintf(f,
          "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
          "height=\"%.1f\" />\n",
          px_x(x, x->lo), px_y(y, y->hi), px_x(x, x->hi) - px_x(x, x->lo),
          px_y(y, y->lo) - px_y(y, y->hi));
  fprintf(f,
          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n"
          "</svg>\n",
          (ML + CW - MR) / 2.0, CH - 8.0, xlabel);
}

static void xtick(FILE *f, const axis *x, const axis *y, double v,
                  const char *label) {
  const double px = px_x(x, v);
  fprintf(f,
          "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
          "y2=\"%.1f\" />\n<text x=\"%.1f\" y=\"%.1f\" "
          "text-anchor=\"middle\">",
          px, px_y(y, y->lo), px, px_y(y, y->hi), px, px_y(y, y->lo) + 15.0);
  kgl_html_escape(label, f);
  fputs("</text>\n", f);
}

static void ytick(FILE *f, const axis *x, const axis *y, double v,
                  const char *label) {
  const double py = px_y(y, v);
  fprintf(f,
          "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
          "y2=\"%.1f\" />\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
          px_x(x, x->lo), py, px_x(x, x->hi), py, px_x(x, x->lo) - 6.0,
          py + 4.0);
  kgl_html_escape(label, f);
  fputs("</text>\n", f);
}

/* path — one line through (xs, ys) (plotted units), n >= 1 points. */
static void path(FILE *f, const axis *x, const axis *y, const double *xs,
                 const double *ys, size_t n, const char *cls, int old) {
  fprintf(f, "<path class=\"line %s%s\" d=\"", cls, old ? " old" : "");
  for (size_t i = 0; i < n; i++) {
    fprintf(f, "%s%.1f %.1f", i == 0 ? "M" : " L", px_x(x, xs[i]),
            px_y(y, ys[i]));
  }
  if (n == 1) { /* one point: a short flat stroke, so it shows */
    fprintf(f, " L%.1f %.1f", px_x(x, xs[0]) + 3.0, px_y(y, ys[0]));
  }
  fputs("\" />\n", f);
}

/* legend — the classes drawn, and the baseline's dashes. */
static void legend(FILE *f, const kgl_result *run, const kgl_result *base,
                   int with_errors) {
  fputs("<ul class=\"legend\">", f);
  for (int row = 0; row < KGL_ROWS; row++) {
    if (!row_shown(run, row) && (base == NULL || !row_shown(base, row))) {
      continue;
    }
    const char *name = kgl_class_name((kgl_class)row);
    fprintf(f,
            "<li><svg width=\"28\" height=\"10\"><line class=\"line %s\" "
            "x1=\"0\" y1=\"5\" x2=\"28\" y2=\"5\" /></svg> %s</li>",
            name, name);
  }
  if (with_errors) {
    fputs("<li><svg width=\"28\" height=\"10\"><line class=\"line errors\" "
          "x1=\"0\" y1=\"5\" x2=\"28\" y2=\"5\" /></svg> socket errors "
          "(all)</li>",
          f);
  }
  if (base != NULL) {
    fputs("<li><svg width=\"28\" height=\"10\"><line class=\"line all old\" "
          "x1=\"0\" y1=\"5\" x2=\"28\" y2=\"5\" /></svg> baseline "
          "(dashed)</li>",
          f);
  }
  fputs("</ul>\n", f);
}

/* ---- latency by percentile -----------------------------------------------
 */

/* pct_line — points of h's percentile curve: x = log10(1/(1-p)) every
 * 1/PCT_STEPS decade up to the last sample's rank (log10(total), at most
 * `decades`), then max there. Returns the point count. */
static size_t pct_line(const kgl_hist *h, int decades, double *xs, double *ys) {
  const double end = fmin(log10((double)h->total), (double)decades);
  size_t n = 0;
  for (int k = 0; k <= PCT_STEPS * decades; k++) {
    const double x = (double)k / PCT_STEPS;
    if (x >= end && k > 0) {
      break;
    }
    const double p = 100.0 * (1.0 - pow(10.0, -x));
    const int64_t v = kgl_hist_percentile(h, p);
    xs[n] = x;
    ys[n] = log10((double)(v > 0 ? v : 1));
    n++;
  }
  xs[n] = end > 0 ? end : 0.05;
  ys[n] = log10((double)(h->max > 0 ? h->max : 1));
  return n + 1;
}

static void pct_label(int d, char *out, size_t cap) {
  if (d == 0) {
    snprintf(out, cap, "0%%");
  } else if (d == 1) {
    snprintf(out, cap, "90%%");
  } else {
    /* 99%, 99.9%, 99.99%: d nines */
    snprintf(out, cap, "%.*f%%", d - 2, 100.0 - pow(10.0, 2 - d));
  }
}

static void percentile_chart(const kgl_result *run, const kgl_result *base,
                             FILE *f) {
  const kgl_result *both[2] = {run, base};
  int64_t lo = INT64_MAX, hi = 1, total = 1;
  for (int i = 0; i < 2 && both[i] != NULL; i++) {
    for (int row = 0; row < KGL_ROWS; row++) {
      const kgl_hist *h = &both[i]->cls[row].latency;
      if (h->total > 0) {
        lo = h->min < lo ? h->min : lo;
        hi = h->max > hi ? h->max : hi;
        total = h->total > total ? h->total : total;
      }
    }
  }
  fputs("<section id=\"percentiles\">\n<h2>Latency by percentile</h2>\n", f);
  if (lo == INT64_MAX) {
    fputs("<p>No response was measured.</p>\n</section>\n", f);
    return;
  }
  int decades = (int)ceil(log10((double)total));
  decades = decades < 2                 ? 2
            : decades > PCT_DECADES_MAX ? PCT_DECADES_MAX
                                        : decades;
  axis x = {0.0, (double)decades};
  axis y = {floor(log10((double)(lo > 0 ? lo : 1))), ceil(log10((double)hi))};
  if (y.hi <= y.lo) {
    y.hi = y.lo + 1.0;
  }
  chart_open(f, "chart-percentiles",
             "latency by percentile per class, log scales");
  char label[32];
  for (int d = 0; d <= decades; d++) {
    pct_label(d, label, sizeof label);
    xtick(f, &x, &y, (double)d, label);
  }
  for (int e = (int)y.lo; e <= (int)y.hi; e++) {
    kgl_fmt_latency((int64_t)llround(pow(10.0, e)), label, sizeof label);
    ytick(f, &x, &y, (double)e, label);
  }
  double xs[MAXPTS], ys[MAXPTS];
  for (int i = 1; i >= 0; i--) { /* the baseline first, under the run */
    if (both[i] == NULL) {
      continue;
    }
    for (int row = 0; row < KGL_ROWS; row++) {
      const kgl_hist *h = &both[i]->cls[row].latency;
      if (h->total > 0) {
        const size_t n = pct_line(h, decades, xs, ys);
        path(f, &x, &y, xs, ys, n, kgl_class_name((kgl_class)row), i == 1);
      }
    }
  }
  chart_close(f, &x, &y, "percentile (log scale of 1/(1-p))");
  legend(f, run, base, 0);
  fputs("<p class=\"note\">Each line is a class's latency at every "
        "percentile, HdrHistogram's plot: the tail to the right, each tick a "
        "further nine.</p>\n</section>\n",
        f);
}

/* ---- over time -----------------------------------------------------------
 */

typedef enum over_time { OT_RPS, OT_MISMATCHES, OT_P99 } over_time;

static double ot_value(const kgl_second *s, int row, over_time what) {
  const kgl_second_row *r = &s->row[row];
  switch (what) {
  case OT_RPS: /* responses, as the table's rps (kgl_result_rps) */
    return (double)(r->requests - r->errors);
  case OT_MISMATCHES:
    return (double)r->mismatches;
  case OT_P99:
  default:
    return (double)r->p99;
  }
}

/* nice_ceil — the smallest 1, 2 or 5 times a power of ten >= v (at least
 * 1: seconds and counts are whole). */
static double nice_ceil(double v) {
  if (!(v > 1.0)) {
    return 1.0;
  }
  const double e = pow(10.0, floor(log10(v)));
  const double m = v / e;
  return (m <= 1.0 ? 1.0 : m <= 2.0 ? 2.0 : m <= 5.0 ? 5.0 : 10.0) * e;
}

static void ot_label(double v, over_time what, char *out, size_t cap) {
  if (what == OT_P99) {
    kgl_fmt_latency((int64_t)llround(v), out, cap);
  } else {
    snprintf(out, cap, "%g", v);
  }
}

static void ot_lines(FILE *f, const axis *x, const axis *y, const kgl_result *r,
                     int old, over_time what, double *xs, double *ys) {
  for (int row = 0; row < KGL_ROWS; row++) {
    if (!row_shown(r, row)) {
      continue;
    }
    size_t n = 0;
    for (size_t i = 0; i < r->nseries; i++) {
      const kgl_second *s = &r->series[i];
      if (what == OT_P99 && s->row[row].requests - s->row[row].errors <= 0) {
        continue; /* no response that second: no latency */
      }
      if (what == OT_RPS && !kgl_second_whole(r, s)) {
        continue; /* the last, partial second would read as a drop */
      }
      xs[n] = (double)s->t;
      ys[n] = ot_value(s, row, what);
      n++;
    }
    if (n > 0) {
      path(f, x, y, xs, ys, n, kgl_class_name((kgl_class)row), old);
    }
  }
  if (what == OT_MISMATCHES && r->nseries > 0) {
    for (size_t i = 0; i < r->nseries; i++) {
      xs[i] = (double)r->series[i].t;
      ys[i] = (double)r->series[i].row[KGL_ALL].errors;
    }
    path(f, x, y, xs, ys, r->nseries, "errors", old);
  }
}

static int over_time_chart(const kgl_result *run, const kgl_result *base,
                           over_time what, FILE *f) {
  static const char *const ids[] = {"rps", "mismatches", "p99"};
  static const char *const titles[] = {
      "Responses per second (rps)", "Mismatches and socket errors per second",
      "p99 latency per second"};
  const kgl_result *both[2] = {run, base};
  double tmax = 1.0, vmax = 0.0;
  size_t cap = 1;
  for (int i = 0; i < 2 && both[i] != NULL; i++) {
    const kgl_result *r = both[i];
    cap = r->nseries > cap ? r->nseries : cap;
    for (size_t k = 0; k < r->nseries; k++) {
      tmax = fmax(tmax, (double)r->series[k].t);
      for (int row = 0; row < KGL_ROWS; row++) {
        vmax = fmax(vmax, ot_value(&r->series[k], row, what));
      }
      if (what == OT_MISMATCHES) {
        vmax = fmax(vmax, (double)r->series[k].row[KGL_ALL].errors);
      }
    }
  }
  fprintf(f, "<section id=\"%s\">\n<h2>%s</h2>\n", ids[what], titles[what]);
  if (run->nseries == 0 && (base == NULL || base->nseries == 0)) {
    fputs("<p>No per-second figures in this result.</p>\n</section>\n", f);
    return 0;
  }
  double *xs = malloc(cap * sizeof *xs);
  double *ys = malloc(cap * sizeof *ys);
  if (xs == NULL || ys == NULL) {
    free(xs);
    free(ys);
    return -1;
  }
  const double xstep = nice_ceil((tmax + 1.0) / 5.0);
  const double ystep = nice_ceil(vmax * 1.05 / 4.0);
  const axis x = {0.0, xstep * ceil((tmax + 1.0) / xstep)};
  const axis y = {0.0, ystep * ceil(fmax(vmax * 1.05, 1.0) / ystep)};
  char label[48], aria[96];
  snprintf(aria, sizeof aria, "%s over the run, per class", titles[what]);
  chart_open(f, ids[what], aria);
  const int nx = (int)lround(x.hi / xstep), ny = (int)lround(y.hi / ystep);
  for (int k = 0; k <= nx; k++) {
    snprintf(label, sizeof label, "%gs", xstep * k);
    xtick(f, &x, &y, xstep * k, label);
  }
  for (int k = 0; k <= ny; k++) {
    ot_label(ystep * k, what, label, sizeof label);
    ytick(f, &x, &y, ystep * k, label);
  }
  if (base != NULL) {
    ot_lines(f, &x, &y, base, 1, what, xs, ys);
  }
  ot_lines(f, &x, &y, run, 0, what, xs, ys);
  chart_close(f, &x, &y, "seconds since the measured start");
  legend(f, run, base, what == OT_MISMATCHES);
  fputs("</section>\n", f);
  free(xs);
  free(ys);
  return 0;
}

/* ---- the page ------------------------------------------------------------
 */

int kgl_html_write(const kgl_result *run, const kgl_result *baseline, FILE *f) {
  static kgl_comparison c; /* 1 KB+: off the stack */
  int rc = 0;
  head(f);
  runs(run, baseline, f);
  thresholds(run, f);
  classes(run, f);
  if (baseline != NULL) {
    if (kgl_compare(baseline, run, &c) != 0) {
      return -1;
    }
    comparison(&c, f);
  }
  percentile_chart(run, baseline, f);
  rc |= over_time_chart(run, baseline, OT_RPS, f);
  rc |= over_time_chart(run, baseline, OT_MISMATCHES, f);
  rc |= over_time_chart(run, baseline, OT_P99, f);
  samples(run, f);
  fputs("<footer>Written by keygate ", f);
  kgl_html_escape(KEYGATE_VERSION, f);
  fputs(" (keygate report html). Self-contained: no script, nothing "
        "fetched.</footer>\n</body>\n</html>\n",
        f);
  return rc != 0 || ferror(f) ? -1 : 0;
}

int kgl_html_write_file(const kgl_result *run, const kgl_result *baseline,
                        const char *path, char *why, size_t whycap) {
  kgl_out out;
  if (kgl_out_open(&out, path, why, whycap) != 0) {
    return -1;
  }
  const int ok = kgl_html_write(run, baseline, out.f) == 0;
  return kgl_out_close(&out, ok, why, whycap);
}
