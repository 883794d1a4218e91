/*
 * load/src/table.c — the end-of-run report of a result (load/result.h):
 * one set-up line, the class table, then socket errors, the open-loop rate,
 * mismatch kinds and samples and the thresholds. The same figures as text
 * for a terminal or as markdown for a pull-request comment.
 *
 * Numbers carry thousands separators; latencies (µs in the histograms) are
 * printed with three significant digits in the unit that reads best: 850us,
 * 1.21ms, 12.1ms, 121ms, 1.21s. Every text field printed was redacted by
 * whoever filled the result (kgl_redact, or kgl_result_read_json).
 */
#include "load/redact.h"
#include "load/result.h"

#include <math.h>
#include <string.h>

#define NCOLS 9
#define CELL 32

static const char *const HEAD[NCOLS] = {"class",      "requests", "rps",
                                        "mismatches", "errors",   "p50",
                                        "p99",        "p99.9",    "max"};

/* ---- number formats ------------------------------------------------------
 */

/* group — digits (optionally with a fraction after '.') with a ',' every
 * three integer digits: "1234567.8" -> "1,234,567.8". */
static void group(const char *digits, char *out, size_t cap) {
  const char *dot = strchr(digits, '.');
  size_t neg = digits[0] == '-';
  size_t ilen = (dot ? (size_t)(dot - digits) : strlen(digits)) - neg;
  size_t o = 0;
  if (neg && o + 1 < cap) {
    out[o++] = '-';
  }
  for (size_t i = 0; i < ilen && o + 1 < cap; i++) {
    if (i > 0 && (ilen - i) % 3 == 0 && o + 2 < cap) {
      out[o++] = ',';
    }
    out[o++] = digits[neg + i];
  }
  for (const char *p = dot; p != NULL && *p != '\0' && o + 1 < cap; p++) {
    out[o++] = *p;
  }
  out[o] = '\0';
}

static void fmt_count(int64_t v, char *out, size_t cap) {
  char d[32];
  snprintf(d, sizeof d, "%lld", (long long)v);
  group(d, out, cap);
}

/* fmt_rate — one decimal ("7,001.2"), or none when `whole` and integral;
 * two significant digits below 0.05, which one decimal shows as 0.0
 * (--rate 0.0001 read "asked 0.0 rps"). */
static void fmt_rate(double v, int whole, char *out, size_t cap) {
  char d[48];
  if (!isfinite(v) || fabs(v) >= 1e18) {
    v = 0.0;
  }
  if (v > 0 && v < 0.05) {
    /* "%.2g" alone writes 1e-05: as many decimals as two digits need */
    const int decimals = 1 - (int)floor(log10(v));
    snprintf(out, cap, "%.*f", decimals > 12 ? 12 : decimals, v);
    return;
  }
  if (whole && v == nearbyint(v)) {
    snprintf(d, sizeof d, "%.0f", v);
  } else {
    snprintf(d, sizeof d, "%.1f", v);
  }
  group(d, out, cap);
}

/* fmt_scaled — v (already in `unit`) to three significant digits; the
 * thresholds of the ladder are where rounding would add a fourth. */
static void fmt_scaled(double v, const char *unit, char *out, size_t cap) {
  if (v < 9.995) {
    snprintf(out, cap, "%.2f%s", v, unit);
  } else if (v < 99.95) {
    snprintf(out, cap, "%.1f%s", v, unit);
  } else {
    snprintf(out, cap, "%.0f%s", v, unit);
  }
}

/* fmt_latency — a latency in µs: "850us", "1.21ms", "121ms", "1.21s". */
void kgl_fmt_latency(int64_t us, char *out, size_t cap) {
  if (us < 1000) {
    snprintf(out, cap, "%lldus", (long long)us);
  } else if (us < 999500) {
    fmt_scaled((double)us / 1e3, "ms", out, cap);
  } else {
    fmt_scaled((double)us / 1e6, "s", out, cap);
  }
}

/* ---- the class table -----------------------------------------------------
 */

typedef struct table {
  char cell[KGL_ROWS + 1][NCOLS][CELL];
  int nrows; /* the heading included */
  size_t width[NCOLS];
} table;

static int shown(const kgl_result *r, int row) {
  return row == KGL_ALL || r->cls[row].requests > 0 || r->config.mix[row] > 0;
}

static void fill_row(const kgl_result *r, int row, char (*cell)[CELL]) {
  const kgl_class_stats *c = &r->cls[row];
  const kgl_hist *h = &c->latency;
  snprintf(cell[0], CELL, "%s", kgl_class_name((kgl_class)row));
  fmt_count(c->requests, cell[1], CELL);
  fmt_rate(kgl_result_rps(r, row), 0, cell[2], CELL);
  fmt_count(c->mismatches, cell[3], CELL);
  fmt_count(kgl_result_errors(r, row), cell[4], CELL);
  static const double pcts[3] = {50.0, 99.0, 99.9};
  for (int i = 0; i < 3; i++) {
    if (h->total > 0) {
      kgl_fmt_latency(kgl_hist_percentile(h, pcts[i]), cell[5 + i], CELL);
    } else {
      snprintf(cell[5 + i], CELL, "-");
    }
  }
  if (h->total > 0) {
    kgl_fmt_latency(h->max, cell[8], CELL);
  } else {
    snprintf(cell[8], CELL, "-");
  }
}

static void build_table(const kgl_result *r, table *t) {
  memset(t, 0, sizeof *t);
  for (int j = 0; j < NCOLS; j++) {
    snprintf(t->cell[0][j], CELL, "%s", HEAD[j]);
  }
  t->nrows = 1;
  for (int row = 0; row < KGL_ROWS; row++) {
    if (shown(r, row)) {
      fill_row(r, row, t->cell[t->nrows++]);
    }
  }
  for (int i = 0; i < t->nrows; i++) {
    for (int j = 0; j < NCOLS; j++) {
      size_t n = strlen(t->cell[i][j]);
      if (n > t->width[j]) {
        t->width[j] = n;
      }
    }
  }
}

static void print_text_table(const table *t, FILE *f) {
  for (int i = 0; i < t->nrows; i++) {
    fprintf(f, "%-*s", (int)t->width[0], t->cell[i][0]);
    for (int j = 1; j < NCOLS; j++) {
      fprintf(f, "  %*s", (int)t->width[j], t->cell[i][j]);
    }
    fputc('\n', f);
  }
}

static void print_md_table(const table *t, FILE *f) {
  for (int i = 0; i < t->nrows; i++) {
    fprintf(f, "| %-*s |", (int)t->width[0], t->cell[i][0]);
    for (int j = 1; j < NCOLS; j++) {
      fprintf(f, " %*s |", (int)t->width[j], t->cell[i][j]);
    }
    fputc('\n', f);
    if (i == 0) {
      fputs("|:", f);
      for (size_t k = 1; k < t->width[0] + 2; k++) {
        fputc('-', f);
      }
      for (int j = 1; j < NCOLS; j++) {
        fputs("|", f);
        for (size_t k = 1; k < t->width[j] + 2; k++) {
          fputc('-', f);
        }
        fputc(':', f);
      }
      fputs("|\n", f);
    }
  }
}

/* ---- the lines around it -------------------------------------------------
 */

void kgl_md_put(const char *s, FILE *f) {
  for (; *s != '\0'; s++) {
    if (strchr("\\`*_{}[]()<>!#@|~&:", *s) != NULL) {
      fputc('\\', f);
    }
    fputc(*s, f);
  }
}

/* put_code — s as one markdown code span (a backtick inside becomes '). */
static void put_code(const char *s, FILE *f) {
  fputc('`', f);
  for (; *s != '\0'; s++) {
    fputc(*s == '`' ? '\'' : *s, f);
  }
  fputc('`', f);
}

/* setup — "native http/1.1, 64 connections, 1 thread, 10.0 s (closed
 * loop)". */
static void setup(const kgl_result *r, char *out, size_t cap) {
  const kgl_config *c = &r->config;
  char rate[48];
  size_t n = 0;
  int k;
#define ADD(...)                                                               \
  do {                                                                         \
    k = snprintf(out + n, cap - n, __VA_ARGS__);                               \
    n = (k < 0 || (size_t)k >= cap - n) ? cap - 1 : n + (size_t)k;             \
  } while (0)
  out[0] = '\0';
  ADD("%s%s%s, %d connection%s", c->engine, c->engine[0] ? " " : "",
      c->protocol[0] ? c->protocol : "http", c->connections,
      c->connections == 1 ? "" : "s");
  if (c->streams > 1 && strcmp(c->protocol, "h2") == 0) {
    ADD(" x %d streams", c->streams);
  }
  ADD(", %d thread%s, %.1f s", c->threads, c->threads == 1 ? "" : "s",
      kgl_result_elapsed_s(r));
  if (c->rate > 0) {
    fmt_rate(c->rate, 1, rate, sizeof rate);
    ADD(" (open loop, %s rps)", rate);
  } else {
    ADD(" (closed loop)");
  }
  if (r->runs > 1) {
    ADD(", %d runs merged", r->runs);
  }
#undef ADD
}

static void socket_errors(const kgl_result *r, char *out, size_t cap) {
  const kgl_class_stats *all = &r->cls[KGL_ALL];
  size_t n = 0;
  out[0] = '\0';
  for (int k = 0; k < KGL_ERR_KINDS && n + 1 < cap; k++) {
    if (all->error_kinds[k] > 0) {
      char num[32];
      fmt_count(all->error_kinds[k], num, sizeof num);
      int w = snprintf(out + n, cap - n, "%s%s %s", n ? ", " : "",
                       kgl_err_name(k), num);
      n = (w < 0 || (size_t)w >= cap - n) ? cap - 1 : n + (size_t)w;
    }
  }
  if (r->unsolicited > 0 && n + 1 < cap) {
    char num[32];
    fmt_count(r->unsolicited, num, sizeof num);
    int w = snprintf(out + n, cap - n, "%sunsolicited responses %s",
                     n ? ", " : "", num);
    n = (w < 0 || (size_t)w >= cap - n) ? cap - 1 : n + (size_t)w;
  }
  if (n == 0) {
    snprintf(out, cap, "none");
  }
}

/* mismatch_kinds — "invalid: status 3, code 3; expired: www_authenticate
 * 1", or "" when nothing mismatched. */
static void mismatch_kinds(const kgl_result *r, char *out, size_t cap) {
  size_t n = 0;
  out[0] = '\0';
  for (int row = 0; row < KGL_NCLASS; row++) {
    const kgl_class_stats *c = &r->cls[row];
    if (c->mismatches == 0) {
      continue;
    }
    int w = snprintf(out + n, cap - n, "%s%s:", n ? "; " : "",
                     kgl_class_name((kgl_class)row));
    n = (w < 0 || (size_t)w >= cap - n) ? cap - 1 : n + (size_t)w;
    int first = 1;
    for (int k = 0; k < KGL_MM_KINDS; k++) {
      if (c->mismatch_kinds[k] > 0) {
        char num[32];
        fmt_count(c->mismatch_kinds[k], num, sizeof num);
        w = snprintf(out + n, cap - n, "%s %s %s", first ? "" : ",",
                     kgl_mismatch_name(k), num);
        n = (w < 0 || (size_t)w >= cap - n) ? cap - 1 : n + (size_t)w;
        first = 0;
      }
    }
  }
}

static void open_loop(const kgl_result *r, char *out, size_t cap) {
  char asked[48], sent[48];
  double behind = 0.0;
  if (r->config.rate > 0 && r->rate_achieved < r->config.rate) {
    behind = 100.0 * (r->config.rate - r->rate_achieved) / r->config.rate;
  }
  fmt_rate(r->config.rate, 1, asked, sizeof asked);
  fmt_rate(r->rate_achieved, 0, sent, sizeof sent);
  snprintf(out, cap,
           "asked %s rps, sent %s rps (%.1f%% behind), latest send %.1f ms "
           "late",
           asked, sent, behind, r->max_lag_ms);
}

static void warmup(const kgl_result *r, char *out, size_t cap) {
  char n[32];
  fmt_count(r->warmup_requests, n, sizeof n);
  int w = snprintf(out, cap,
                   "%.1f s, %s requests not counted (%lld mismatches, %lld "
                   "errors)",
                   kgl_result_warmup_s(r), n, (long long)r->warmup_mismatches,
                   (long long)r->warmup_errors);
  if (r->warmup_cut && w > 0 && (size_t)w < cap) {
    snprintf(out + w, cap - (size_t)w, "; cut short (%.1f s asked)",
             r->config.warmup_s);
  }
}

/* NOTHING — what the report says of a run that measured nothing. */
#define NOTHING                                                                \
  "nothing was measured: no request completed after the warm-up, so no "       \
  "threshold is evaluated on this run"

static const char *or_dash(const char *s) {
  return s[0] != '\0' ? s : "-";
}

/* sample — "[invalid] status 200, want 401 invalid_api_key (status, code);
 * code -; request id -; key sk_live_****Ab3x; <detail>". */
static void sample(const kgl_sample *s, char *out, size_t cap) {
  char want[96], kinds[96];
  size_t n = 0;
  if (s->expected_status == 0) {
    snprintf(want, sizeof want, "2xx");
  } else {
    snprintf(want, sizeof want, "%d", s->expected_status);
  }
  if (s->expected_code[0] != '\0') {
    /* the code given to --expect is the user's text: it may hold a key */
    char code[sizeof s->expected_code];
    kgl_redact_arg(s->expected_code, strlen(s->expected_code), code,
                   sizeof code);
    size_t w = strlen(want);
    snprintf(want + w, sizeof want - w, " %s", code);
  }
  kinds[0] = '\0';
  for (int k = 0; k < KGL_MM_KINDS; k++) {
    if (s->kinds & (1u << k)) {
      int w = snprintf(kinds + n, sizeof kinds - n, "%s%s", n ? ", " : "",
                       kgl_mismatch_name(k));
      n = (w < 0 || (size_t)w >= sizeof kinds - n) ? sizeof kinds - 1
                                                   : n + (size_t)w;
    }
  }
  snprintf(out, cap,
           "[%s] status %d, want %s (%s); code %s; request id %s; key %s%s%s",
           kgl_class_name((kgl_class)s->cls), s->status, want, or_dash(kinds),
           or_dash(s->code), or_dash(s->request_id), or_dash(s->key),
           s->detail[0] ? "; " : "", s->detail);
}

static int violated(const kgl_result *r) {
  int v = 0;
  for (int i = 0; i < r->nthresholds; i++) {
    v += !r->thresholds[i].holds;
  }
  return v;
}

/* ---- the report ----------------------------------------------------------
 */

static void print_text(const kgl_result *r, FILE *f) {
  char line[1024];
  table t;
  setup(r, line, sizeof line);
  fprintf(f, "keygate load  %s  %s\n", or_dash(r->config.url), line);
  build_table(r, &t);
  print_text_table(&t, f);
  if (!kgl_result_measured(r)) {
    fprintf(f, "%s\n", NOTHING);
  }
  if (r->interrupted) {
    kgl_result_interruption(r, line, sizeof line);
    fprintf(f, "interrupted: %s; the figures cover the span that ran\n", line);
  }
  socket_errors(r, line, sizeof line);
  fprintf(f, "socket errors: %s\n", line);
  mismatch_kinds(r, line, sizeof line);
  if (line[0] != '\0') {
    fprintf(f, "mismatch kinds: %s\n", line);
  }
  if (r->config.rate > 0) {
    open_loop(r, line, sizeof line);
    fprintf(f, "open loop: %s\n", line);
  }
  if (r->config.warmup_s > 0 || r->warmup_requests > 0 || r->warmup_cut) {
    warmup(r, line, sizeof line);
    fprintf(f, "warmup: %s\n", line);
  }
  if (r->nsamples > 0) {
    fprintf(f, "mismatches (first %d):\n", r->nsamples);
    for (int i = 0; i < r->nsamples && i < KGL_MAX_SAMPLES; i++) {
      sample(&r->samples[i], line, sizeof line);
      fprintf(f, "  %s\n", line);
    }
  }
  if (r->nthresholds > 0) {
    int v = violated(r);
    fprintf(f, "thresholds: %d of %d hold%s\n", r->nthresholds - v,
            r->nthresholds, v > 0 ? ", VIOLATED" : "");
    for (int i = 0; i < r->nthresholds && i < KGL_MAX_THRESHOLDS; i++) {
      kgl_threshold_format(&r->thresholds[i], line, sizeof line);
      fprintf(f, "  %s\n", line);
    }
  }
}

static void print_markdown(const kgl_result *r, FILE *f) {
  char line[1024];
  table t;
  setup(r, line, sizeof line);
  fputs("**keygate load** ", f);
  put_code(or_dash(r->config.url), f);
  fputc(' ', f);
  kgl_md_put(line, f); /* the engine and protocol are the file's text */
  fputs("\n\n", f);
  build_table(r, &t);
  print_md_table(&t, f);
  fputc('\n', f);
  if (!kgl_result_measured(r)) {
    fprintf(f, "- **%s**\n", NOTHING);
  }
  if (r->interrupted) {
    kgl_result_interruption(r, line, sizeof line);
    fprintf(f, "- **interrupted: %s**; the figures cover the span that ran\n",
            line);
  }
  socket_errors(r, line, sizeof line);
  fprintf(f, "- socket errors: %s\n", line);
  mismatch_kinds(r, line, sizeof line);
  if (line[0] != '\0') {
    fputs("- mismatch kinds: ", f);
    put_code(line, f);
    fputc('\n', f);
  }
  if (r->config.rate > 0) {
    open_loop(r, line, sizeof line);
    fprintf(f, "- open loop: %s\n", line);
  }
  if (r->config.warmup_s > 0 || r->warmup_requests > 0 || r->warmup_cut) {
    warmup(r, line, sizeof line);
    fprintf(f, "- warmup: %s\n", line);
  }
  if (r->nsamples > 0) {
    fprintf(f, "\nMismatches (first %d):\n\n", r->nsamples);
    for (int i = 0; i < r->nsamples && i < KGL_MAX_SAMPLES; i++) {
      sample(&r->samples[i], line, sizeof line);
      fputs("- ", f);
      put_code(line, f);
      fputc('\n', f);
    }
  }
  if (r->nthresholds > 0) {
    fputs("\nThresholds:\n\n", f);
    for (int i = 0; i < r->nthresholds && i < KGL_MAX_THRESHOLDS; i++) {
      const kgl_threshold_outcome *o = &r->thresholds[i];
      kgl_threshold_format(o, line, sizeof line);
      /* "p99<50ms holds (3.40ms)": the expression as code, the verdict
       * bold when violated. */
      size_t e = strlen(o->expr);
      fputs("- ", f);
      put_code(o->expr, f);
      fprintf(f, o->holds ? " %s\n" : " **%s**\n",
              line + (e < strlen(line) ? e + 1 : strlen(line)));
    }
  }
}

void kgl_result_print(const kgl_result *r, FILE *f, kgl_table_format fmt) {
  if (fmt == KGL_TABLE_MARKDOWN) {
    print_markdown(r, f);
  } else {
    print_text(r, f);
  }
}
