/*
 * load/src/result_json.c — a result as one JSON document and back
 * (schema "keygate-load", version 1; docs/load.md describes every field).
 *
 * Writing builds the whole document with jansson, then writes it to
 * PATH.tmp, fsyncs it, renames it over PATH and fsyncs the directory: a
 * reader sees the old file or the new one, never half of one.
 *
 * Reading checks everything it rebuilds from: the schema name, the version,
 * the presence and JSON type of each field, and each histogram's layout and
 * integrity (counts in range, their sum equal to "total", min and max in
 * the first and last non-empty buckets). It ignores what is derived for
 * humans and jq (totals, rps, latency_us summaries, "start", "elapsed_s")
 * and recomputes it. Text fields pass through kgl_redact_keys again, so
 * even an edited file cannot make a report print a prefixed key (a bare
 * body written by hand is not guessed at: docs/load.md); counts that
 * do not add up, or whose sums would overflow, are refused.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* fsync, fileno, gmtime_r */
#endif
#include "load/outfile.h"
#include "load/redact.h"
#include "load/result.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

/* ======================================================================== */
/* ---- writing ----------------------------------------------------------- */

/* A writer's state: the first allocation failure sticks. */
typedef struct wctx {
  int oom;
} wctx;

static void put(wctx *w, json_t *obj, const char *key, json_t *v) {
  if (v == NULL || obj == NULL || json_object_set_new(obj, key, v) != 0) {
    w->oom = 1;
  }
}

static void push(wctx *w, json_t *arr, json_t *v) {
  if (v == NULL || arr == NULL || json_array_append_new(arr, v) != 0) {
    w->oom = 1;
  }
}

static json_t *jint(int64_t v) {
  return json_integer((json_int_t)v);
}

/* jreal — a JSON number; JSON has no NaN or infinity, so those become 0. */
static json_t *jreal(double d) {
  return json_real(isfinite(d) ? d : 0.0);
}

/* jtext — the string in the fixed buffer (s, cap) as printable ASCII ('?'
 * for anything else), through kgl_redact_keys once more: the caller masked
 * what a server sent, but a text the user gave (the code --expect wants) is
 * stored as given, and masking again changes nothing already masked. */
static json_t *jtext(const char *s, size_t cap) {
  char buf[600], out[600];
  size_t n = 0;
  while (n < cap && n < sizeof buf - 1 && s[n] != '\0') {
    const unsigned char c = (unsigned char)s[n];
    buf[n] = s[n];
    if (c < 0x20 || c >= 0x7f) {
      buf[n] = '?';
    }
    n++;
  }
  return json_stringn(out, kgl_redact_keys(buf, n, out, sizeof out));
}
#define JTEXT(field) jtext((field), sizeof(field))

/* jcode — an error code the user gave (--expect): jtext after
 * kgl_redact_arg, which also hides a bare key body typed there. */
static json_t *jcode(const char *s, size_t cap) {
  char buf[KGL_CODE_MAX + 1];
  size_t n = 0;
  while (n < cap && s[n] != '\0') {
    n++;
  }
  kgl_redact_arg(s, n, buf, sizeof buf);
  return jtext(buf, sizeof buf);
}
#define JCODE(field) jcode((field), sizeof(field))

static json_t *hist_json(wctx *w, const kgl_hist *h) {
  json_t *o = json_object();
  json_t *counts = json_array();
  put(w, o, "unit", json_string("us"));
  put(w, o, "lowest", jint(h->lowest));
  put(w, o, "highest", jint(h->highest));
  put(w, o, "significant_digits", json_integer(h->digits));
  put(w, o, "total", jint(h->total));
  put(w, o, "saturated", jint(h->saturated));
  put(w, o, "min", jint(h->total > 0 ? h->min : 0));
  put(w, o, "max", jint(h->total > 0 ? h->max : 0));
  put(w, o, "sum", jreal(h->sum));
  for (int32_t i = 0; i < h->counts_len; i++) {
    if (h->counts[i] != 0) {
      json_t *pair = json_array();
      push(w, pair, json_integer(i));
      push(w, pair, jint(h->counts[i]));
      push(w, counts, pair);
    }
  }
  put(w, o, "counts", counts);
  return o;
}

static json_t *latency_json(wctx *w, const kgl_hist *h) {
  static const struct {
    const char *name;
    double p;
  } pcts[] = {{"p50", 50.0},
              {"p90", 90.0},
              {"p99", 99.0},
              {"p99.9", 99.9},
              {"p99.99", 99.99}};
  json_t *o = json_object();
  int any = h->total > 0;
  for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
    put(w, o, pcts[i].name, jint(kgl_hist_percentile(h, pcts[i].p)));
  }
  put(w, o, "max", jint(any ? h->max : 0));
  put(w, o, "mean", jreal(kgl_hist_mean(h)));
  put(w, o, "min", jint(any ? h->min : 0));
  return o;
}

static json_t *class_json(wctx *w, const kgl_result *r, int row) {
  const kgl_class_stats *c = &r->cls[row];
  json_t *o = json_object();
  json_t *mk = json_object();
  json_t *ek = json_object();
  put(w, o, "requests", jint(c->requests));
  put(w, o, "ok", jint(c->ok));
  put(w, o, "mismatches", jint(c->mismatches));
  for (int k = 0; k < KGL_MM_KINDS; k++) {
    put(w, mk, kgl_mismatch_name(k), jint(c->mismatch_kinds[k]));
  }
  put(w, o, "mismatch_kinds", mk);
  put(w, o, "errors", jint(c->errors));
  for (int k = 0; k < KGL_ERR_KINDS; k++) {
    put(w, ek, kgl_err_name(k), jint(c->error_kinds[k]));
  }
  put(w, o, "error_kinds", ek);
  put(w, o, "rps", jreal(kgl_result_rps(r, row)));
  put(w, o, "latency_us", latency_json(w, &c->latency));
  put(w, o, "histogram", hist_json(w, &c->latency));
  return o;
}

static json_t *config_json(wctx *w, const kgl_config *c) {
  json_t *o = json_object();
  json_t *mix = json_object();
  json_t *expect = json_object();
  char seed[24];
  put(w, o, "url", JTEXT(c->url));
  put(w, o, "method", JTEXT(c->method));
  put(w, o, "protocol", JTEXT(c->protocol));
  put(w, o, "engine", JTEXT(c->engine));
  put(w, o, "header", JTEXT(c->header));
  put(w, o, "connections", json_integer(c->connections));
  put(w, o, "threads", json_integer(c->threads));
  put(w, o, "streams", json_integer(c->streams));
  put(w, o, "rate", jreal(c->rate));
  put(w, o, "duration_s", jreal(c->duration_s));
  put(w, o, "requests", jint(c->requests));
  put(w, o, "warmup_s", jreal(c->warmup_s));
  put(w, o, "timeout_s", jreal(c->timeout_s));
  for (int i = 0; i < KGL_NCLASS; i++) {
    json_t *e = json_object();
    put(w, mix, kgl_class_name((kgl_class)i), json_integer(c->mix[i]));
    put(w, e, "status", json_integer(c->expect[i].status));
    put(w, e, "code", JCODE(c->expect[i].code));
    put(w, e, "contract", json_boolean(c->expect[i].contract));
    put(w, expect, kgl_class_name((kgl_class)i), e);
  }
  put(w, o, "mix", mix);
  /* A uint64 as decimal text: JSON integers stop at 2^63 in jansson and at
   * 2^53 in JavaScript and jq. */
  snprintf(seed, sizeof seed, "%" PRIu64, c->seed);
  put(w, o, "seed", json_string(seed));
  put(w, o, "expect", expect);
  return o;
}

static json_t *sample_json(wctx *w, const kgl_sample *s) {
  json_t *o = json_object();
  json_t *kinds = json_array();
  put(w, o, "class", json_string(kgl_class_name((kgl_class)s->cls)));
  for (int k = 0; k < KGL_MM_KINDS; k++) {
    if (s->kinds & (1u << k)) {
      push(w, kinds, json_string(kgl_mismatch_name(k)));
    }
  }
  put(w, o, "kinds", kinds);
  put(w, o, "status", json_integer(s->status));
  put(w, o, "expected_status", json_integer(s->expected_status));
  put(w, o, "expected_code", JCODE(s->expected_code));
  put(w, o, "code", JTEXT(s->code));
  put(w, o, "request_id", JTEXT(s->request_id));
  put(w, o, "key", JTEXT(s->key));
  put(w, o, "detail", JTEXT(s->detail));
  return o;
}

static json_t *second_json(wctx *w, const kgl_second *s) {
  json_t *o = json_object();
  json_t *rows = json_object();
  put(w, o, "t", jint(s->t));
  for (int i = 0; i < KGL_ROWS; i++) {
    const kgl_second_row *x = &s->row[i];
    json_t *row = json_object();
    put(w, row, "requests", jint(x->requests));
    put(w, row, "mismatches", jint(x->mismatches));
    put(w, row, "errors", jint(x->errors));
    put(w, row, "p50", jint(x->p50));
    put(w, row, "p90", jint(x->p90));
    put(w, row, "p99", jint(x->p99));
    put(w, row, "p99.9", jint(x->p999));
    put(w, row, "max", jint(x->max));
    put(w, rows, kgl_class_name((kgl_class)i), row);
  }
  put(w, o, "classes", rows);
  return o;
}

/* rfc3339 — "2025-03-01T12:00:00.123Z" for a time in ns since the epoch. */
static json_t *rfc3339(int64_t ns) {
  time_t s = (time_t)(ns / 1000000000);
  int64_t frac = ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    s -= 1;
  }
  struct tm tm;
  char buf[48];
  if (gmtime_r(&s, &tm) == NULL ||
      strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
    return json_null();
  }
  size_t n = strlen(buf);
  snprintf(buf + n, sizeof buf - n, ".%03dZ", (int)(frac / 1000000));
  return json_string(buf);
}

static json_t *result_json(wctx *w, const kgl_result *r) {
  json_t *root = json_object();
  json_t *tool = json_object();
  put(w, root, "schema", json_string(KGL_SCHEMA_NAME));
  put(w, root, "version", json_integer(KGL_SCHEMA_VERSION));
  put(w, tool, "name", json_string("keygate"));
  put(w, tool, "version", JTEXT(r->tool_version));
  put(w, root, "tool", tool);
  put(w, root, "runs", json_integer(r->runs));
  put(w, root, "config", config_json(w, &r->config));
  put(w, root, "start", rfc3339(r->start_unix_ns));
  put(w, root, "start_unix_ns", jint(r->start_unix_ns));
  put(w, root, "end_unix_ns", jint(r->end_unix_ns));
  put(w, root, "elapsed_s", jreal(kgl_result_elapsed_s(r)));
  if (r->config.rate > 0) {
    json_t *rate = json_object();
    put(w, rate, "asked", jreal(r->config.rate));
    put(w, rate, "achieved", jreal(r->rate_achieved));
    put(w, rate, "max_lag_ms", jreal(r->max_lag_ms));
    put(w, root, "rate", rate);
  } else {
    put(w, root, "rate", json_null());
  }
  json_t *warm = json_object();
  put(w, warm, "seconds", jreal(kgl_result_warmup_s(r)));
  put(w, warm, "requests", jint(r->warmup_requests));
  put(w, warm, "mismatches", jint(r->warmup_mismatches));
  put(w, warm, "errors", jint(r->warmup_errors));
  put(w, root, "warmup", warm);
  /* a run cut short by a signal says so, and which one */
  put(w, root, "interrupted", json_boolean(r->interrupted != 0));
  put(w, root, "interrupted_by",
      r->interrupted != 0 ? json_string(kgl_signal_name(r->interrupted))
                          : json_null());

  const kgl_class_stats *all = &r->cls[KGL_ALL];
  json_t *totals = json_object();
  put(w, totals, "requests", jint(all->requests));
  put(w, totals, "rps", jreal(kgl_result_rps(r, KGL_ALL)));
  put(w, totals, "mismatches", jint(all->mismatches));
  put(w, totals, "errors", jint(kgl_result_errors(r, KGL_ALL)));
  put(w, root, "totals", totals);

  json_t *classes = json_object();
  for (int i = 0; i < KGL_ROWS; i++) {
    put(w, classes, kgl_class_name((kgl_class)i), class_json(w, r, i));
  }
  put(w, root, "classes", classes);

  json_t *errors = json_object();
  for (int k = 0; k < KGL_ERR_KINDS; k++) {
    put(w, errors, kgl_err_name(k), jint(all->error_kinds[k]));
  }
  put(w, errors, "overall", jint(kgl_result_errors(r, KGL_ALL)));
  put(w, errors, "unsolicited", jint(r->unsolicited));
  put(w, root, "errors", errors);

  json_t *samples = json_array();
  for (int i = 0; i < r->nsamples && i < KGL_MAX_SAMPLES; i++) {
    push(w, samples, sample_json(w, &r->samples[i]));
  }
  put(w, root, "samples", samples);

  json_t *th = json_array();
  for (int i = 0; i < r->nthresholds && i < KGL_MAX_THRESHOLDS; i++) {
    json_t *o = json_object();
    put(w, o, "expr", JTEXT(r->thresholds[i].expr));
    put(w, o, "actual", jreal(r->thresholds[i].actual));
    put(w, o, "holds", json_boolean(r->thresholds[i].holds));
    push(w, th, o);
  }
  put(w, root, "thresholds", th);

  json_t *series = json_array();
  for (size_t i = 0; i < r->nseries; i++) {
    push(w, series, second_json(w, &r->series[i]));
  }
  put(w, root, "series", series);
  return root;
}

#define DUMP_FLAGS (JSON_INDENT(2) | JSON_REAL_PRECISION(17))

/* dump — the document and a final newline to f. 0, or -1. */
static int dump(json_t *root, FILE *f) {
  if (json_dumpf(root, f, DUMP_FLAGS) != 0 || fputc('\n', f) == EOF ||
      fflush(f) != 0) {
    return -1;
  }
  return 0;
}

int kgl_result_write_json(const kgl_result *r, const char *path, char *why,
                          size_t whycap) {
  wctx w = {0};
  json_t *root = result_json(&w, r);
  if (root == NULL || w.oom) {
    json_decref(root);
    snprintf(why, whycap, "%s: out of memory building the JSON document", path);
    return -1;
  }
  kgl_out out;
  if (kgl_out_open(&out, path, why, whycap) != 0) {
    json_decref(root);
    return -1;
  }
  const int ok = dump(root, out.f) == 0;
  json_decref(root);
  return kgl_out_close(&out, ok, why, whycap);
}

/* ======================================================================== */
/* ---- reading ----------------------------------------------------------- */

/* A reader's state: the file's name for messages and the first failure. */
typedef struct rctx {
  const char *file;
  char *why;
  size_t whycap;
} rctx;

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
static int
fail(const rctx *d, const char *at, const char *fmt, ...) {
  int n = snprintf(d->why, d->whycap, "%s: %s%s", d->file, at,
                   at[0] != '\0' ? ": " : "");
  if (n >= 0 && (size_t)n < d->whycap) {
    va_list ap;
    va_start(ap, fmt);
    /* va_start is above: clang-tidy 14's false positive on glibc's va_list
     * (as in cli/util.c) */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    vsnprintf(d->why + n, d->whycap - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* A field's path for messages: "classes.valid.histogram.total". */
typedef struct path {
  char s[128];
} fpath;

static fpath at(const char *parent, const char *key) {
  fpath p;
  int n =
      snprintf(p.s, sizeof p.s, "%s%s%s", parent, parent[0] ? "." : "", key);
  if (n < 0) {
    p.s[0] = '\0';
  } /* else a path cut short still names the place */
  return p;
}

static const char *type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return "a number with a fraction";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  default:
    return "null";
  }
}

typedef enum want { W_INT, W_NUM, W_STR, W_OBJ, W_ARR, W_BOOL } want;

static const char *want_name(want w) {
  static const char *const names[] = {"an integer", "a number",
                                      "a string",   "an object",
                                      "an array",   "true or false"};
  return names[w];
}

static int has_type(const json_t *v, want w) {
  switch (w) {
  case W_INT:
    return json_is_integer(v);
  case W_NUM:
    return json_is_number(v);
  case W_STR:
    return json_is_string(v);
  case W_OBJ:
    return json_is_object(v);
  case W_ARR:
    return json_is_array(v);
  default:
    return json_is_boolean(v);
  }
}

/* field — obj[key], required and of type w; NULL after a failure. */
static json_t *field(const rctx *d, const json_t *obj, const char *parent,
                     const char *key, want w) {
  json_t *v = json_object_get(obj, key);
  if (v == NULL) {
    fail(d, at(parent, key).s, "missing (a version 1 file always has it)");
    return NULL;
  }
  if (!has_type(v, w)) {
    fail(d, at(parent, key).s, "expected %s, found %s", want_name(w),
         type_name(v));
    return NULL;
  }
  return v;
}

static int get_i64(const rctx *d, const json_t *obj, const char *parent,
                   const char *key, int64_t lo, int64_t *out) {
  json_t *v = field(d, obj, parent, key, W_INT);
  if (v == NULL) {
    return -1;
  }
  json_int_t x = json_integer_value(v);
  if (x < lo) {
    return fail(d, at(parent, key).s, "%lld is below %lld", (long long)x,
                (long long)lo);
  }
  *out = (int64_t)x;
  return 0;
}

static int get_int(const rctx *d, const json_t *obj, const char *parent,
                   const char *key, int lo, int *out) {
  int64_t x = 0;
  if (get_i64(d, obj, parent, key, lo, &x) != 0) {
    return -1;
  }
  if (x > INT32_MAX) {
    return fail(d, at(parent, key).s, "%lld is too large", (long long)x);
  }
  *out = (int)x;
  return 0;
}

static int get_num(const rctx *d, const json_t *obj, const char *parent,
                   const char *key, double *out) {
  json_t *v = field(d, obj, parent, key, W_NUM);
  if (v == NULL) {
    return -1;
  }
  *out = json_number_value(v);
  return 0;
}

static int get_bool(const rctx *d, const json_t *obj, const char *parent,
                    const char *key, int *out) {
  json_t *v = field(d, obj, parent, key, W_BOOL);
  if (v == NULL) {
    return -1;
  }
  *out = json_is_true(v);
  return 0;
}

/* get_text — a string into (out, cap), redacted and cut to fit. */
static int get_text(const rctx *d, const json_t *obj, const char *parent,
                    const char *key, char *out, size_t cap) {
  json_t *v = field(d, obj, parent, key, W_STR);
  if (v == NULL) {
    return -1;
  }
  kgl_redact_keys(json_string_value(v), json_string_length(v), out, cap);
  return 0;
}

/* get_code — an expected code: as get_text, through kgl_redact_arg. */
static int get_code(const rctx *d, const json_t *obj, const char *parent,
                    const char *key, char *out, size_t cap) {
  json_t *v = field(d, obj, parent, key, W_STR);
  if (v == NULL) {
    return -1;
  }
  kgl_redact_arg(json_string_value(v), json_string_length(v), out, cap);
  return 0;
}

/* get_key_hint — a sample's key, shown as a hint whatever the file holds
 * (kgl_key_hint: at most a prefix, "****" and four characters). */
static int get_key_hint(const rctx *d, const json_t *obj, const char *parent,
                        char *out, size_t cap) {
  json_t *v = field(d, obj, parent, "key", W_STR);
  if (v == NULL) {
    return -1;
  }
  kgl_key_hint(json_string_value(v), json_string_length(v), out, cap);
  return 0;
}

/* class_index — the row named (s), "all" included; -1 when unknown. */
static int class_index(const char *s) {
  for (int i = 0; i < KGL_ROWS; i++) {
    if (strcmp(s, kgl_class_name((kgl_class)i)) == 0) {
      return i;
    }
  }
  return -1;
}

/* kinds — an object of counts by name: absent names count 0, unknown names
 * (a later kind) are skipped, each present count is an integer >= 0. */
static int read_kinds(const rctx *d, const json_t *obj, const char *parent,
                      const char *key, int64_t *out, int n,
                      const char *(*name)(int)) {
  json_t *o = field(d, obj, parent, key, W_OBJ);
  if (o == NULL) {
    return -1;
  }
  fpath p = at(parent, key);
  for (int k = 0; k < n; k++) {
    out[k] = 0;
    if (json_object_get(o, name(k)) != NULL &&
        get_i64(d, o, p.s, name(k), 0, &out[k]) != 0) {
      return -1;
    }
  }
  return 0;
}

/* read_counts — the [[index, count], ...] pairs into h. */
static int read_counts(const rctx *d, const json_t *o, const char *parent,
                       kgl_hist *h) {
  json_t *counts = field(d, o, parent, "counts", W_ARR);
  if (counts == NULL) {
    return -1;
  }
  fpath p = at(parent, "counts");
  int64_t last = -1;
  for (size_t i = 0; i < json_array_size(counts); i++) {
    json_t *pair = json_array_get(counts, i);
    if (!json_is_array(pair) || json_array_size(pair) != 2 ||
        !json_is_integer(json_array_get(pair, 0)) ||
        !json_is_integer(json_array_get(pair, 1))) {
      return fail(d, p.s, "entry %zu is not an [index, count] pair of integers",
                  i);
    }
    json_int_t idx = json_integer_value(json_array_get(pair, 0));
    json_int_t n = json_integer_value(json_array_get(pair, 1));
    if (idx <= last) {
      return fail(d, p.s, "indexes must increase (entry %zu: %lld after %lld)",
                  i, (long long)idx, (long long)last);
    }
    if (n > 0 && n > INT64_MAX - h->total) {
      return fail(d, p.s, "entry %zu: the counts add up beyond 2^63 - 1", i);
    }
    if (idx > INT32_MAX || n < 0 ||
        kgl_hist_set_count(h, (int32_t)idx, (int64_t)n) != 0) {
      return fail(d, p.s,
                  "entry %zu: [%lld, %lld] is outside the layout (indexes "
                  "below %d, counts >= 0)",
                  i, (long long)idx, (long long)n, (int)h->counts_len);
    }
    last = idx;
  }
  return 0;
}

/* first_last — the first and last non-empty indexes of h (total > 0). */
static void first_last(const kgl_hist *h, int32_t *first, int32_t *last) {
  *first = -1;
  *last = -1;
  for (int32_t i = 0; i < h->counts_len; i++) {
    if (h->counts[i] > 0) {
      if (*first < 0) {
        *first = i;
      }
      *last = i;
    }
  }
}

/*
 * read_hist — rebuild a histogram: kgl_hist_init with the file's layout
 * (any layout the histogram code can hold: merge is where layouts must
 * agree), kgl_hist_set_count per pair, then total checked and min, max,
 * sum and saturated restored exactly.
 */
static int read_hist(const rctx *d, const json_t *cls, const char *parent,
                     kgl_hist *h) {
  json_t *o = field(d, cls, parent, "histogram", W_OBJ);
  if (o == NULL) {
    return -1;
  }
  fpath p = at(parent, "histogram");
  json_t *unit = field(d, o, p.s, "unit", W_STR);
  if (unit == NULL) {
    return -1;
  }
  if (strcmp(json_string_value(unit), "us") != 0) {
    return fail(d, at(p.s, "unit").s, "\"%.20s\" (this build reads \"us\")",
                json_string_value(unit));
  }
  int64_t lowest = 0, highest = 0, total = 0, saturated = 0, min = 0, max = 0;
  int digits = 0;
  double sum = 0;
  if (get_i64(d, o, p.s, "lowest", 1, &lowest) != 0 ||
      get_i64(d, o, p.s, "highest", 2, &highest) != 0 ||
      get_int(d, o, p.s, "significant_digits", 1, &digits) != 0 ||
      get_i64(d, o, p.s, "total", 0, &total) != 0 ||
      get_i64(d, o, p.s, "saturated", 0, &saturated) != 0 ||
      get_i64(d, o, p.s, "min", 0, &min) != 0 ||
      get_i64(d, o, p.s, "max", 0, &max) != 0 ||
      get_num(d, o, p.s, "sum", &sum) != 0) {
    return -1;
  }
  kgl_hist_free(h);
  if (kgl_hist_init(h, lowest, highest, digits) != 0) {
    return fail(d, p.s,
                "layout %lld..%lld us at %d digits is not one this build can "
                "hold (or memory ran out)",
                (long long)lowest, (long long)highest, digits);
  }
  if (read_counts(d, o, p.s, h) != 0) {
    return -1;
  }
  if (h->total != total) {
    return fail(d, p.s, "total %lld differs from the sum of its counts (%lld)",
                (long long)total, (long long)h->total);
  }
  if (total == 0) {
    kgl_hist_reset(h);
    return 0;
  }
  int32_t first, last;
  first_last(h, &first, &last);
  if (min > max || kgl_hist_index_of(h, min) != first ||
      kgl_hist_index_of(h, max) != last || saturated > total) {
    return fail(d, p.s,
                "min %lld / max %lld do not match the first and last "
                "non-empty buckets",
                (long long)min, (long long)max);
  }
  h->min = min;
  h->max = max;
  h->sum = sum;
  h->saturated = saturated;
  return 0;
}

static int read_class(const rctx *d, const json_t *classes, int row,
                      kgl_class_stats *c) {
  const char *name = kgl_class_name((kgl_class)row);
  json_t *o = field(d, classes, "classes", name, W_OBJ);
  if (o == NULL) {
    return -1;
  }
  fpath p = at("classes", name);
  if (get_i64(d, o, p.s, "requests", 0, &c->requests) != 0 ||
      get_i64(d, o, p.s, "ok", 0, &c->ok) != 0 ||
      get_i64(d, o, p.s, "mismatches", 0, &c->mismatches) != 0 ||
      get_i64(d, o, p.s, "errors", 0, &c->errors) != 0 ||
      read_kinds(d, o, p.s, "mismatch_kinds", c->mismatch_kinds, KGL_MM_KINDS,
                 kgl_mismatch_name) != 0 ||
      read_kinds(d, o, p.s, "error_kinds", c->error_kinds, KGL_ERR_KINDS,
                 kgl_err_name) != 0) {
    return -1;
  }
  /* Every request ended one way: ok, a mismatch, or an error. */
  if (c->ok > INT64_MAX - c->mismatches ||
      c->errors > INT64_MAX - c->ok - c->mismatches ||
      c->requests != c->ok + c->mismatches + c->errors) {
    return fail(d, p.s,
                "requests %lld is not ok + mismatches + errors (%lld + %lld "
                "+ %lld)",
                (long long)c->requests, (long long)c->ok,
                (long long)c->mismatches, (long long)c->errors);
  }
  return read_hist(d, o, p.s, &c->latency);
}

/* check_all — classes.all is the sum of the four classes, as the writer
 * merges it: requests, ok, mismatches, errors and histogram totals, each
 * sum checked for overflow before it is made. */
static int check_all(const rctx *d, const kgl_result *r) {
  const kgl_class_stats *all = &r->cls[KGL_ALL];
  int64_t sum[5] = {0, 0, 0, 0, 0};
  for (int i = 0; i < KGL_NCLASS; i++) {
    const kgl_class_stats *c = &r->cls[i];
    const int64_t v[5] = {c->requests, c->ok, c->mismatches, c->errors,
                          c->latency.total};
    for (int k = 0; k < 5; k++) {
      if (v[k] > INT64_MAX - sum[k]) {
        return fail(d, "classes", "the classes' counts add up beyond 2^63 - 1");
      }
      sum[k] += v[k];
    }
  }
  const int64_t got[5] = {all->requests, all->ok, all->mismatches, all->errors,
                          all->latency.total};
  static const char *const names[5] = {"requests", "ok", "mismatches", "errors",
                                       "histogram.total"};
  for (int k = 0; k < 5; k++) {
    if (got[k] != sum[k]) {
      return fail(d, "classes.all",
                  "%s %lld is not the sum of the four classes' (%lld)",
                  names[k], (long long)got[k], (long long)sum[k]);
    }
  }
  return 0;
}

static int read_seed(const rctx *d, const json_t *cfg, uint64_t *out) {
  json_t *v = json_object_get(cfg, "seed");
  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    *out = (uint64_t)json_integer_value(v);
    return 0;
  }
  const char *s = json_is_string(v) ? json_string_value(v) : "";
  uint64_t x = 0;
  size_t i = 0;
  for (; s[i] >= '0' && s[i] <= '9'; i++) {
    unsigned dgt = (unsigned)(s[i] - '0');
    if (x > (UINT64_MAX - dgt) / 10) {
      break;
    }
    x = x * 10 + dgt;
  }
  if (i == 0 || s[i] != '\0') {
    return fail(d, "config.seed",
                "expected an unsigned 64-bit integer as decimal text");
  }
  *out = x;
  return 0;
}

static int read_config(const rctx *d, const json_t *root, kgl_config *c) {
  json_t *o = field(d, root, "", "config", W_OBJ);
  if (o == NULL) {
    return -1;
  }
  const char *p = "config";
  if (get_text(d, o, p, "url", c->url, sizeof c->url) != 0 ||
      get_text(d, o, p, "method", c->method, sizeof c->method) != 0 ||
      get_text(d, o, p, "protocol", c->protocol, sizeof c->protocol) != 0 ||
      get_text(d, o, p, "engine", c->engine, sizeof c->engine) != 0 ||
      get_text(d, o, p, "header", c->header, sizeof c->header) != 0 ||
      get_int(d, o, p, "connections", 0, &c->connections) != 0 ||
      get_int(d, o, p, "threads", 0, &c->threads) != 0 ||
      get_int(d, o, p, "streams", 0, &c->streams) != 0 ||
      get_num(d, o, p, "rate", &c->rate) != 0 ||
      get_num(d, o, p, "duration_s", &c->duration_s) != 0 ||
      get_i64(d, o, p, "requests", 0, &c->requests) != 0 ||
      get_num(d, o, p, "warmup_s", &c->warmup_s) != 0 ||
      get_num(d, o, p, "timeout_s", &c->timeout_s) != 0 ||
      read_seed(d, o, &c->seed) != 0) {
    return -1;
  }
  json_t *mix = field(d, o, p, "mix", W_OBJ);
  json_t *expect = mix ? field(d, o, p, "expect", W_OBJ) : NULL;
  if (expect == NULL) {
    return -1;
  }
  for (int i = 0; i < KGL_NCLASS; i++) {
    const char *name = kgl_class_name((kgl_class)i);
    fpath ep = at("config.expect", name);
    json_t *e = field(d, expect, "config.expect", name, W_OBJ);
    if (get_int(d, mix, "config.mix", name, 0, &c->mix[i]) != 0 || e == NULL ||
        get_int(d, e, ep.s, "status", 0, &c->expect[i].status) != 0 ||
        get_code(d, e, ep.s, "code", c->expect[i].code,
                 sizeof c->expect[i].code) != 0 ||
        get_bool(d, e, ep.s, "contract", &c->expect[i].contract) != 0) {
      return -1;
    }
  }
  return 0;
}

static int read_sample(const rctx *d, const json_t *o, const char *p,
                       kgl_sample *s) {
  json_t *cls = field(d, o, p, "class", W_STR);
  json_t *kinds = cls ? field(d, o, p, "kinds", W_ARR) : NULL;
  if (kinds == NULL) {
    return -1;
  }
  int row = class_index(json_string_value(cls));
  if (row < 0 || row >= KGL_NCLASS) {
    return fail(d, at(p, "class").s, "unknown class \"%.20s\"",
                json_string_value(cls));
  }
  s->cls = row;
  for (size_t i = 0; i < json_array_size(kinds); i++) {
    const char *k = json_string_value(json_array_get(kinds, i));
    if (k == NULL) {
      return fail(d, at(p, "kinds").s, "expected an array of strings");
    }
    for (int b = 0; b < KGL_MM_KINDS; b++) {
      if (strcmp(k, kgl_mismatch_name(b)) == 0) {
        s->kinds |= 1u << b;
      }
    }
  }
  return get_int(d, o, p, "status", 0, &s->status) != 0 ||
                 get_int(d, o, p, "expected_status", 0, &s->expected_status) !=
                     0 ||
                 get_code(d, o, p, "expected_code", s->expected_code,
                          sizeof s->expected_code) != 0 ||
                 get_text(d, o, p, "code", s->code, sizeof s->code) != 0 ||
                 get_text(d, o, p, "request_id", s->request_id,
                          sizeof s->request_id) != 0 ||
                 get_key_hint(d, o, p, s->key, sizeof s->key) != 0 ||
                 get_text(d, o, p, "detail", s->detail, sizeof s->detail) != 0
             ? -1
             : 0;
}

/* array — root[key] as an array of objects, at most max entries. */
static json_t *array(const rctx *d, const json_t *root, const char *key,
                     size_t max) {
  json_t *a = field(d, root, "", key, W_ARR);
  if (a == NULL) {
    return NULL;
  }
  if (json_array_size(a) > max) {
    fail(d, key, "%zu entries, at most %zu", json_array_size(a), max);
    return NULL;
  }
  for (size_t i = 0; i < json_array_size(a); i++) {
    if (!json_is_object(json_array_get(a, i))) {
      fail(d, key, "entry %zu is %s, expected an object", i,
           type_name(json_array_get(a, i)));
      return NULL;
    }
  }
  return a;
}

static int read_samples(const rctx *d, const json_t *root, kgl_result *r) {
  json_t *a = array(d, root, "samples", KGL_MAX_SAMPLES);
  if (a == NULL) {
    return -1;
  }
  for (size_t i = 0; i < json_array_size(a); i++) {
    char p[48];
    snprintf(p, sizeof p, "samples[%zu]", i);
    if (read_sample(d, json_array_get(a, i), p, &r->samples[i]) != 0) {
      return -1;
    }
    r->nsamples = (int)i + 1;
  }
  return 0;
}

static int read_thresholds(const rctx *d, const json_t *root, kgl_result *r) {
  json_t *a = array(d, root, "thresholds", KGL_MAX_THRESHOLDS);
  if (a == NULL) {
    return -1;
  }
  for (size_t i = 0; i < json_array_size(a); i++) {
    char p[48];
    kgl_threshold_outcome *t = &r->thresholds[i];
    json_t *o = json_array_get(a, i);
    snprintf(p, sizeof p, "thresholds[%zu]", i);
    if (get_text(d, o, p, "expr", t->expr, sizeof t->expr) != 0 ||
        get_num(d, o, p, "actual", &t->actual) != 0 ||
        get_bool(d, o, p, "holds", &t->holds) != 0) {
      return -1;
    }
    r->nthresholds = (int)i + 1;
  }
  return 0;
}

static int read_second(const rctx *d, const json_t *o, const char *p,
                       kgl_second *s) {
  json_t *rows = NULL;
  if (get_i64(d, o, p, "t", 0, &s->t) != 0 ||
      (rows = field(d, o, p, "classes", W_OBJ)) == NULL) {
    return -1;
  }
  fpath cp = at(p, "classes");
  for (int i = 0; i < KGL_ROWS; i++) {
    const char *name = kgl_class_name((kgl_class)i);
    json_t *row = field(d, rows, cp.s, name, W_OBJ);
    fpath rp = at(cp.s, name);
    kgl_second_row *x = &s->row[i];
    if (row == NULL ||
        get_i64(d, row, rp.s, "requests", 0, &x->requests) != 0 ||
        get_i64(d, row, rp.s, "mismatches", 0, &x->mismatches) != 0 ||
        get_i64(d, row, rp.s, "errors", 0, &x->errors) != 0 ||
        get_i64(d, row, rp.s, "p50", 0, &x->p50) != 0 ||
        get_i64(d, row, rp.s, "p90", 0, &x->p90) != 0 ||
        get_i64(d, row, rp.s, "p99", 0, &x->p99) != 0 ||
        get_i64(d, row, rp.s, "p99.9", 0, &x->p999) != 0 ||
        get_i64(d, row, rp.s, "max", 0, &x->max) != 0) {
      return -1;
    }
  }
  return 0;
}

static int read_series(const rctx *d, const json_t *root, kgl_result *r) {
  json_t *a = array(d, root, "series", SIZE_MAX / sizeof(kgl_second));
  if (a == NULL) {
    return -1;
  }
  for (size_t i = 0; i < json_array_size(a); i++) {
    char p[48];
    kgl_second s;
    memset(&s, 0, sizeof s);
    snprintf(p, sizeof p, "series[%zu]", i);
    if (read_second(d, json_array_get(a, i), p, &s) != 0) {
      return -1;
    }
    /* a written file has each second once, in order (a merge sums equal
     * ones); a second twice would count twice in compare's test */
    if (r->nseries > 0 && s.t <= r->series[r->nseries - 1].t) {
      return fail(d, p,
                  "second %lld comes after second %lld: each second is "
                  "there once, in increasing order",
                  (long long)s.t, (long long)r->series[r->nseries - 1].t);
    }
    if (kgl_result_add_second(r, &s) != 0) {
      return fail(d, "series", "out of memory");
    }
  }
  return 0;
}

/* read_header — the schema name and version: what this file is. */
static int read_header(const rctx *d, const json_t *root) {
  if (!json_is_object(root)) {
    return fail(d, "",
                "not a keygate load result (the JSON value is %s, not an "
                "object)",
                type_name(root));
  }
  json_t *schema = json_object_get(root, "schema");
  if (!json_is_string(schema) ||
      strcmp(json_string_value(schema), KGL_SCHEMA_NAME) != 0) {
    return fail(d, "",
                "not a keygate load result (schema %s%.40s%s, expected "
                "\"" KGL_SCHEMA_NAME "\")",
                json_is_string(schema) ? "\"" : "",
                json_is_string(schema)
                    ? json_string_value(schema)
                    : (schema ? type_name(schema) : "missing"),
                json_is_string(schema) ? "\"" : "");
  }
  json_t *version = json_object_get(root, "version");
  if (!json_is_integer(version)) {
    return fail(d, "version", "expected an integer, found %s",
                version ? type_name(version) : "nothing");
  }
  json_int_t v = json_integer_value(version);
  if (v > KGL_SCHEMA_VERSION) {
    return fail(d, "",
                "written by a newer keygate (schema version %lld); this build "
                "reads version %d: upgrade keygate",
                (long long)v, KGL_SCHEMA_VERSION);
  }
  if (v < KGL_SCHEMA_VERSION) {
    return fail(d, "",
                "schema version %lld was never written by any keygate (the "
                "first is 1); this build reads version %d",
                (long long)v, KGL_SCHEMA_VERSION);
  }
  return 0;
}

/* read_interrupted — "interrupted" (boolean) and "interrupted_by" ("SIGINT"
 * or "SIGTERM" when interrupted, else null): optional, files written before
 * they were added read as a run that ran whole. */
static int read_interrupted(const rctx *d, const json_t *root, kgl_result *r) {
  const json_t *flag = json_object_get(root, "interrupted");
  const json_t *by = json_object_get(root, "interrupted_by");
  r->interrupted = 0;
  if (flag == NULL || json_is_false(flag)) {
    if (by != NULL && !json_is_null(by)) {
      return fail(d, "interrupted_by",
                  "set, but the run was not interrupted (\"interrupted\" is "
                  "false or missing)");
    }
    return 0;
  }
  if (!json_is_true(flag)) {
    return fail(d, "interrupted", "expected a boolean, found %s",
                type_name(flag));
  }
  static const int SIGNALS[] = {SIGINT, SIGTERM};
  for (size_t i = 0; json_is_string(by) && i < 2; i++) {
    if (strcmp(json_string_value(by), kgl_signal_name(SIGNALS[i])) == 0) {
      r->interrupted = SIGNALS[i];
      return 0;
    }
  }
  return fail(d, "interrupted_by",
              "expected \"SIGINT\" or \"SIGTERM\" for an interrupted run, "
              "found %s",
              by ? type_name(by) : "nothing");
}

static int read_root(const rctx *d, const json_t *root, kgl_result *r) {
  if (read_header(d, root) != 0) {
    return -1;
  }
  json_t *tool = field(d, root, "", "tool", W_OBJ);
  if (tool == NULL ||
      get_text(d, tool, "tool", "version", r->tool_version,
               sizeof r->tool_version) != 0 ||
      get_int(d, root, "", "runs", 1, &r->runs) != 0 ||
      read_config(d, root, &r->config) != 0 ||
      get_i64(d, root, "", "start_unix_ns", INT64_MIN, &r->start_unix_ns) !=
          0 ||
      get_i64(d, root, "", "end_unix_ns", INT64_MIN, &r->end_unix_ns) != 0) {
    return -1;
  }
  if (r->end_unix_ns < r->start_unix_ns) {
    return fail(d, "end_unix_ns", "%lld is before start_unix_ns %lld",
                (long long)r->end_unix_ns, (long long)r->start_unix_ns);
  }
  json_t *rate = json_object_get(root, "rate");
  if (rate == NULL || !(json_is_null(rate) || json_is_object(rate))) {
    return fail(d, "rate", "expected an object or null, found %s",
                rate ? type_name(rate) : "nothing");
  }
  if (json_is_object(rate) &&
      (get_num(d, rate, "rate", "achieved", &r->rate_achieved) != 0 ||
       get_num(d, rate, "rate", "max_lag_ms", &r->max_lag_ms) != 0)) {
    return -1;
  }
  json_t *warm = field(d, root, "", "warmup", W_OBJ);
  json_t *classes = warm ? field(d, root, "", "classes", W_OBJ) : NULL;
  if (classes == NULL ||
      get_i64(d, warm, "warmup", "requests", 0, &r->warmup_requests) != 0 ||
      get_i64(d, warm, "warmup", "mismatches", 0, &r->warmup_mismatches) != 0 ||
      get_i64(d, warm, "warmup", "errors", 0, &r->warmup_errors) != 0) {
    return -1;
  }
  /* warmup.seconds: the warm-up as run; less than config.warmup_s when it
   * was cut short */
  double warm_s = 0;
  if (get_num(d, warm, "warmup", "seconds", &warm_s) != 0) {
    return -1;
  }
  if (!(warm_s >= 0) || warm_s > r->config.warmup_s) {
    return fail(d, "warmup.seconds", "%g is not within 0..config.warmup_s (%g)",
                warm_s, r->config.warmup_s);
  }
  if (warm_s < r->config.warmup_s) {
    r->warmup_cut = 1;
    r->warmup_done_s = warm_s;
  }
  if (read_interrupted(d, root, r) != 0) {
    return -1;
  }
  /* errors.unsolicited: optional (files of the first builds lack it) */
  const json_t *errs = json_object_get(root, "errors");
  const json_t *uns =
      json_is_object(errs) ? json_object_get(errs, "unsolicited") : NULL;
  r->unsolicited = json_is_integer(uns) ? json_integer_value(uns) : 0;
  if (r->unsolicited < 0) {
    return fail(d, "errors.unsolicited", "%lld is below 0",
                (long long)r->unsolicited);
  }
  for (int i = 0; i < KGL_ROWS; i++) {
    if (read_class(d, classes, i, &r->cls[i]) != 0) {
      return -1;
    }
  }
  if (check_all(d, r) != 0) {
    return -1;
  }
  if (read_samples(d, root, r) != 0 || read_thresholds(d, root, r) != 0 ||
      read_series(d, root, r) != 0) {
    return -1;
  }
  r->schema_version = KGL_SCHEMA_VERSION;
  return 0;
}

/* open_regular — path opened for reading when it is a regular file (a
 * symlink to one included); else -1 after a one-line failure: a folder, or
 * a FIFO, device or socket, which could block or never end. O_NONBLOCK
 * keeps open(2) of a FIFO without a writer from blocking; it is cleared
 * before reading. */
static int open_regular(const rctx *d, const char *path) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return fail(d, "", "cannot read: %s", strerror(errno));
  }
  struct stat st;
  int flags = fcntl(fd, F_GETFL);
  const char *what = NULL;
  if (fstat(fd, &st) != 0 || flags < 0 ||
      fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    const int e = errno;
    close(fd);
    return fail(d, "", "cannot read: %s", strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    what = "is a folder, not a result file";
  } else if (!S_ISREG(st.st_mode)) {
    what = "is not a regular file (a FIFO, device or socket); give a "
           "file, or - for standard input";
  }
  if (what != NULL) {
    close(fd);
    return fail(d, "", "%s", what);
  }
  return fd;
}

int kgl_result_read_json(const char *path, kgl_result *r, char *why,
                         size_t whycap) {
  rctx d = {strcmp(path, "-") == 0 ? "standard input" : path, why, whycap};
  if (kgl_result_init(r) != 0) {
    fail(&d, "", "out of memory");
    return -1;
  }
  json_error_t err;
  json_t *root = NULL;
  if (strcmp(path, "-") == 0) {
    root = json_loadf(stdin, JSON_REJECT_DUPLICATES, &err);
  } else {
    int fd = open_regular(&d, path);
    if (fd < 0) {
      kgl_result_free(r);
      return -1;
    }
    root = json_loadfd(fd, JSON_REJECT_DUPLICATES, &err);
    close(fd);
  }
  if (root == NULL) {
    fail(&d, "", "not JSON (line %d, column %d: %s)", err.line, err.column,
         err.text);
    kgl_result_free(r);
    return -1;
  }
  int rc = read_root(&d, root, r);
  json_decref(root);
  if (rc != 0) {
    kgl_result_free(r);
  }
  return rc;
}
