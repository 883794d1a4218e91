/*
 * tests/unit/test_load_result.c — the result of a load run
 * (load/result.h): the JSON file (schema keygate-load, version 1) written
 * and read back field for field, the exact merge, the refusals of files
 * this build cannot read, and the end-of-run table in text and markdown.
 *
 * Histograms are compared whole: layout, total, saturated, min, max, sum
 * and a memcmp of the counts arrays.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream, mkdtemp */
#endif
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "load/redact.h"
#include "load/result.h"
#include "scratch.h"

static char dir[SCRATCH_DIR_MAX];

/* file — a path inside this run's scratch directory. */
static const char *file(const char *name) {
  static char buf[4][128];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
  return buf[k];
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

/* ---- building results ---------------------------------------------------- */

/* A small deterministic generator (xorshift64*), so runs are repeatable. */
static uint64_t rng_next(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

/* latency — a long-tailed value in µs: mostly ~1 ms, sometimes seconds,
 * now and then above the 60 s ceiling (saturated). */
static int64_t latency(uint64_t *s) {
  uint64_t x = rng_next(s);
  switch (x % 100) {
  case 0:
    return 70000000 + (int64_t)(x >> 40) % 1000; /* saturates */
  case 1:
  case 2:
    return 1000000 + (int64_t)(x >> 20) % 5000000;
  default:
    return 200 + (int64_t)(x >> 24) % 3000;
  }
}

/* feed — n requests of class cls into r (and its overall row), as the
 * engine would record them: every 50th mismatched, every 97th an error. */
static void feed(kgl_result *r, int cls, int n, uint64_t seed) {
  uint64_t s = seed;
  for (int i = 0; i < n; i++) {
    int64_t v = latency(&s);
    int rows[2] = {cls, KGL_ALL};
    for (int k = 0; k < 2; k++) {
      kgl_class_stats *c = &r->cls[rows[k]];
      c->requests++;
      if (i % 97 == 96) {
        c->errors++;
        c->error_kinds[(i / 97) % KGL_ERR_KINDS]++;
        continue;
      }
      if (i % 50 == 49) {
        c->mismatches++;
        c->mismatch_kinds[(i / 50) % KGL_MM_KINDS]++;
      } else {
        c->ok++;
      }
      kgl_hist_record(&c->latency, v);
    }
  }
}

static kgl_sample make_sample(int cls, const char *key) {
  kgl_sample s;
  memset(&s, 0, sizeof s);
  s.cls = cls;
  s.kinds = KGL_MM_STATUS | KGL_MM_CODE;
  s.status = 200;
  s.expected_status = 401;
  snprintf(s.expected_code, sizeof s.expected_code, "invalid_api_key");
  snprintf(s.code, sizeof s.code, "%s", "");
  snprintf(s.request_id, sizeof s.request_id, "req_0123456789abcdefghijKLMN");
  snprintf(s.key, sizeof s.key, "%s", key);
  snprintf(s.detail, sizeof s.detail, "status 200 for an invalid key");
  return s;
}

static kgl_second make_second(int64_t t, int64_t requests) {
  kgl_second s;
  memset(&s, 0, sizeof s);
  s.t = t;
  for (int i = 0; i < KGL_ROWS; i++) {
    s.row[i].requests = requests + i;
    s.row[i].mismatches = i;
    s.row[i].errors = t;
    s.row[i].p50 = 1000 + t;
    s.row[i].p90 = 2000 + t;
    s.row[i].p99 = 3000 + t;
    s.row[i].p999 = 4000 + t;
    s.row[i].max = 5000 + t;
  }
  return s;
}

/* full — a result with every field set to something distinct. */
static void full(kgl_result *r) {
  assert_int_equal(kgl_result_init(r), 0);
  kgl_config *c = &r->config;
  snprintf(c->url, sizeof c->url,
           "https://api.example.com/v1/iocs?k=sk_live_****Ab3x");
  snprintf(c->method, sizeof c->method, "GET");
  snprintf(c->protocol, sizeof c->protocol, "h2");
  snprintf(c->engine, sizeof c->engine, "nghttp2");
  snprintf(c->header, sizeof c->header, "mixed");
  c->connections = 64;
  c->threads = 2;
  c->streams = 10;
  c->rate = 5000.5;
  c->duration_s = 30.25;
  c->requests = 0;
  c->warmup_s = 2.5;
  c->timeout_s = 5;
  for (int i = 0; i < KGL_NCLASS; i++) {
    c->mix[i] = 10 * (i + 1);
    kgl_expect_default((kgl_class)i, &c->expect[i]);
  }
  c->seed = UINT64_MAX - 7; /* above 2^63: written as text */
  snprintf(r->tool_version, sizeof r->tool_version, "0.1.0-test");
  r->runs = 3;
  r->start_unix_ns = INT64_C(1735689600123456789);
  r->end_unix_ns = r->start_unix_ns + INT64_C(30250000001);
  r->rate_achieved = 4998.7;
  r->max_lag_ms = 0.4;
  r->warmup_requests = 9999;
  r->warmup_mismatches = 3;
  r->warmup_errors = 1;
  feed(r, KGL_VALID, 3000, 1);
  feed(r, KGL_INVALID, 700, 2);
  feed(r, KGL_MISSING, 300, 3); /* expired: no traffic, empty histogram */
  r->samples[0] = make_sample(KGL_INVALID, "sk_live_****Ab3x");
  r->samples[1] = make_sample(KGL_MISSING, "");
  r->nsamples = 2;
  for (int64_t t = 0; t < 30; t++) {
    kgl_second s = make_second(t, 100 * t);
    assert_int_equal(kgl_result_add_second(r, &s), 0);
  }
  snprintf(r->thresholds[0].expr, sizeof r->thresholds[0].expr, "p99<50ms");
  r->thresholds[0].actual = 3.4;
  r->thresholds[0].holds = 1;
  snprintf(r->thresholds[1].expr, sizeof r->thresholds[1].expr, "errors<0.1%%");
  r->thresholds[1].actual = 1.0 / 3.0;
  r->thresholds[1].holds = 0;
  r->nthresholds = 2;
}

/* ---- comparing results --------------------------------------------------- */

static void assert_hist_equal(const kgl_hist *a, const kgl_hist *b) {
  assert_int_equal(a->lowest, b->lowest);
  assert_int_equal(a->highest, b->highest);
  assert_int_equal(a->digits, b->digits);
  assert_int_equal(a->counts_len, b->counts_len);
  assert_int_equal(a->total, b->total);
  assert_int_equal(a->saturated, b->saturated);
  assert_int_equal(a->min, b->min);
  assert_int_equal(a->max, b->max);
  assert_true(a->sum == b->sum);
  assert_memory_equal(a->counts, b->counts,
                      (size_t)a->counts_len * sizeof *a->counts);
}

static void assert_stats_equal(const kgl_class_stats *a,
                               const kgl_class_stats *b) {
  assert_int_equal(a->requests, b->requests);
  assert_int_equal(a->ok, b->ok);
  assert_int_equal(a->mismatches, b->mismatches);
  assert_int_equal(a->errors, b->errors);
  assert_memory_equal(a->mismatch_kinds, b->mismatch_kinds,
                      sizeof a->mismatch_kinds);
  assert_memory_equal(a->error_kinds, b->error_kinds, sizeof a->error_kinds);
  assert_hist_equal(&a->latency, &b->latency);
}

static void assert_result_equal(const kgl_result *a, const kgl_result *b) {
  assert_int_equal(a->schema_version, b->schema_version);
  assert_string_equal(a->tool_version, b->tool_version);
  assert_int_equal(a->runs, b->runs);
  const kgl_config *x = &a->config, *y = &b->config;
  assert_string_equal(x->url, y->url);
  assert_string_equal(x->method, y->method);
  assert_string_equal(x->protocol, y->protocol);
  assert_string_equal(x->engine, y->engine);
  assert_string_equal(x->header, y->header);
  assert_int_equal(x->connections, y->connections);
  assert_int_equal(x->threads, y->threads);
  assert_int_equal(x->streams, y->streams);
  assert_true(x->rate == y->rate);
  assert_true(x->duration_s == y->duration_s);
  assert_int_equal(x->requests, y->requests);
  assert_true(x->warmup_s == y->warmup_s);
  assert_true(x->timeout_s == y->timeout_s);
  assert_memory_equal(x->mix, y->mix, sizeof x->mix);
  assert_true(x->seed == y->seed);
  for (int i = 0; i < KGL_NCLASS; i++) {
    assert_int_equal(x->expect[i].status, y->expect[i].status);
    assert_string_equal(x->expect[i].code, y->expect[i].code);
    assert_int_equal(x->expect[i].contract, y->expect[i].contract);
  }
  assert_int_equal(a->start_unix_ns, b->start_unix_ns);
  assert_int_equal(a->end_unix_ns, b->end_unix_ns);
  assert_true(a->rate_achieved == b->rate_achieved);
  assert_true(a->max_lag_ms == b->max_lag_ms);
  assert_int_equal(a->warmup_requests, b->warmup_requests);
  assert_int_equal(a->warmup_mismatches, b->warmup_mismatches);
  assert_int_equal(a->warmup_errors, b->warmup_errors);
  assert_int_equal(a->warmup_cut, b->warmup_cut);
  assert_true(!a->warmup_cut || a->warmup_done_s == b->warmup_done_s);
  assert_int_equal(a->interrupted, b->interrupted);
  assert_int_equal(a->unsolicited, b->unsolicited);
  for (int i = 0; i < KGL_ROWS; i++) {
    assert_stats_equal(&a->cls[i], &b->cls[i]);
  }
  assert_int_equal(a->nsamples, b->nsamples);
  for (int i = 0; i < a->nsamples; i++) {
    const kgl_sample *s = &a->samples[i], *t = &b->samples[i];
    assert_int_equal(s->cls, t->cls);
    assert_int_equal(s->kinds, t->kinds);
    assert_int_equal(s->status, t->status);
    assert_int_equal(s->expected_status, t->expected_status);
    assert_string_equal(s->expected_code, t->expected_code);
    assert_string_equal(s->code, t->code);
    assert_string_equal(s->request_id, t->request_id);
    assert_string_equal(s->key, t->key);
    assert_string_equal(s->detail, t->detail);
  }
  assert_int_equal(a->nseries, b->nseries);
  for (size_t i = 0; i < a->nseries; i++) {
    assert_memory_equal(&a->series[i], &b->series[i], sizeof a->series[i]);
  }
  assert_int_equal(a->nthresholds, b->nthresholds);
  for (int i = 0; i < a->nthresholds; i++) {
    assert_string_equal(a->thresholds[i].expr, b->thresholds[i].expr);
    assert_true(a->thresholds[i].actual == b->thresholds[i].actual);
    assert_int_equal(a->thresholds[i].holds, b->thresholds[i].holds);
  }
}

/* ---- names, life cycle, derived figures ---------------------------------- */

static void error_kinds_have_fixed_names(void **state) {
  (void)state;
  static const char *const names[KGL_ERR_KINDS] = {
      "connect", "tls",    "write",   "read",
      "reset",   "closed", "timeout", "protocol"};
  for (int k = 0; k < KGL_ERR_KINDS; k++) {
    assert_string_equal(kgl_err_name(k), names[k]);
  }
  assert_string_equal(kgl_err_name(-1), "unknown");
  assert_string_equal(kgl_err_name(KGL_ERR_KINDS), "unknown");
}

static void init_lays_out_every_row_with_the_compiled_layout(void **state) {
  (void)state;
  kgl_result r;
  assert_int_equal(kgl_result_init(&r), 0);
  assert_int_equal(r.schema_version, KGL_SCHEMA_VERSION);
  assert_int_equal(r.runs, 1);
  for (int i = 0; i < KGL_ROWS; i++) {
    assert_int_equal(r.cls[i].latency.lowest, KGL_LAT_LOWEST);
    assert_int_equal(r.cls[i].latency.highest, KGL_LAT_HIGHEST);
    assert_int_equal(r.cls[i].latency.digits, KGL_LAT_DIGITS);
    assert_int_equal(r.cls[i].latency.total, 0);
  }
  assert_true(kgl_result_elapsed_s(&r) == 0.0);
  assert_true(kgl_result_rps(&r, KGL_ALL) == 0.0);
  kgl_result_free(&r);
  kgl_result_free(&r); /* idempotent */
  kgl_result_free(NULL);
}

static void rps_is_requests_over_the_measured_span(void **state) {
  (void)state;
  kgl_result r;
  assert_int_equal(kgl_result_init(&r), 0);
  r.start_unix_ns = INT64_C(1000000000000);
  r.end_unix_ns = r.start_unix_ns + INT64_C(2500000000);
  r.cls[KGL_VALID].requests = 1000;
  r.cls[KGL_ALL].requests = 1000;
  assert_true(kgl_result_elapsed_s(&r) == 2.5);
  assert_true(kgl_result_rps(&r, KGL_VALID) == 400.0);
  assert_true(kgl_result_rps(&r, KGL_INVALID) == 0.0);
  assert_true(kgl_result_rps(&r, KGL_ROWS) == 0.0); /* out of range */
  r.end_unix_ns = r.start_unix_ns - 1;              /* inverted: no span */
  assert_true(kgl_result_elapsed_s(&r) == 0.0);
  kgl_result_free(&r);
}

static void the_series_grows_by_doubling_and_keeps_every_second(void **state) {
  (void)state;
  kgl_result r;
  assert_int_equal(kgl_result_init(&r), 0);
  for (int64_t t = 0; t < 1000; t++) {
    kgl_second s = make_second(t, t);
    assert_int_equal(kgl_result_add_second(&r, &s), 0);
  }
  assert_int_equal(r.nseries, 1000);
  assert_true(r.series_cap >= 1000 && r.series_cap < 2048);
  for (int64_t t = 0; t < 1000; t++) {
    assert_int_equal(r.series[t].t, t);
    assert_int_equal(r.series[t].row[KGL_ALL].requests, t + KGL_ALL);
  }
  kgl_result_free(&r);
}

/* ---- the JSON file --------------------------------------------------------
 */

static void write_then_read_gives_back_every_field(void **state) {
  (void)state;
  kgl_result a, b;
  char why[256] = "";
  full(&a);
  assert_true(a.cls[KGL_VALID].latency.saturated > 0);
  assert_int_equal(a.cls[KGL_EXPIRED].latency.total, 0);
  assert_int_equal(kgl_result_write_json(&a, file("run.json"), why, sizeof why),
                   0);
  assert_int_equal(kgl_result_read_json(file("run.json"), &b, why, sizeof why),
                   0);
  assert_result_equal(&a, &b);
  kgl_result_free(&a);
  kgl_result_free(&b);
}

static void an_empty_result_round_trips_too(void **state) {
  (void)state;
  kgl_result a, b;
  char why[256] = "";
  assert_int_equal(kgl_result_init(&a), 0);
  assert_int_equal(
      kgl_result_write_json(&a, file("empty.json"), why, sizeof why), 0);
  assert_int_equal(
      kgl_result_read_json(file("empty.json"), &b, why, sizeof why), 0);
  assert_result_equal(&a, &b);
  kgl_result_free(&a);
  kgl_result_free(&b);
}

static void the_file_names_its_schema_and_summarises_for_jq(void **state) {
  (void)state;
  kgl_result a;
  char why[256] = "";
  full(&a);
  assert_int_equal(kgl_result_write_json(&a, file("sum.json"), why, sizeof why),
                   0);
  json_error_t err;
  json_t *j = json_load_file(file("sum.json"), 0, &err);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "schema")),
                      "keygate-load");
  assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(j, "tool"), "name")),
      "keygate");
  assert_string_equal(json_string_value(json_object_get(j, "start")),
                      "2025-01-01T00:00:00.123Z");
  json_t *valid = json_object_get(json_object_get(j, "classes"), "valid");
  json_t *lat = json_object_get(valid, "latency_us");
  const kgl_hist *h = &a.cls[KGL_VALID].latency;
  assert_int_equal(json_integer_value(json_object_get(lat, "p99")),
                   kgl_hist_percentile(h, 99.0));
  assert_int_equal(json_integer_value(json_object_get(lat, "p99.9")),
                   kgl_hist_percentile(h, 99.9));
  assert_int_equal(json_integer_value(json_object_get(lat, "max")), h->max);
  json_t *hist = json_object_get(valid, "histogram");
  assert_string_equal(json_string_value(json_object_get(hist, "unit")), "us");
  assert_int_equal(
      json_integer_value(json_object_get(hist, "significant_digits")), 3);
  /* counts: [index, count] pairs of the non-empty buckets only */
  json_t *counts = json_object_get(hist, "counts");
  int64_t nonzero = 0;
  for (int32_t i = 0; i < h->counts_len; i++) {
    nonzero += h->counts[i] != 0;
  }
  assert_int_equal(json_array_size(counts), nonzero);
  json_t *rate = json_object_get(j, "rate");
  assert_true(json_real_value(json_object_get(rate, "asked")) == 5000.5);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(j, "config"), "seed")),
      "18446744073709551608");
  json_t *totals = json_object_get(j, "totals");
  assert_int_equal(json_integer_value(json_object_get(totals, "requests")),
                   4000);
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(j, "errors"), "overall")),
                   a.cls[KGL_ALL].errors);
  json_decref(j);
  /* closed loop: "rate" is null */
  a.config.rate = 0;
  assert_int_equal(kgl_result_write_json(&a, file("sum.json"), why, sizeof why),
                   0);
  j = json_load_file(file("sum.json"), 0, &err);
  assert_true(json_is_null(json_object_get(j, "rate")));
  json_decref(j);
  kgl_result_free(&a);
}

static void writing_replaces_the_file_whole_and_leaves_no_tmp(void **state) {
  (void)state;
  kgl_result a, b;
  char why[256] = "";
  write_text(file("old.json"), "stale contents");
  full(&a);
  assert_int_equal(kgl_result_write_json(&a, file("old.json"), why, sizeof why),
                   0);
  assert_int_equal(access(file("old.json.tmp"), F_OK), -1);
  assert_int_equal(kgl_result_read_json(file("old.json"), &b, why, sizeof why),
                   0);
  kgl_result_free(&a);
  kgl_result_free(&b);
}

static void writing_where_it_cannot_says_so_in_one_line(void **state) {
  (void)state;
  kgl_result a;
  char why[256] = "";
  assert_int_equal(kgl_result_init(&a), 0);
  assert_int_equal(
      kgl_result_write_json(&a, "/nonexistent-dir/x.json", why, sizeof why),
      -1);
  assert_non_null(strstr(why, "/nonexistent-dir/x.json: cannot be written"));
  assert_null(strchr(why, '\n'));
  kgl_result_free(&a);
}

static char *render(const kgl_result *r, kgl_table_format fmt);
static void mutate(const char *src, const char *dst, const char *at,
                   const char *json);

static void reading_redacts_a_full_key_an_edited_file_holds(void **state) {
  (void)state;
  kgl_result a, b;
  char why[256] = "";
  full(&a);
  snprintf(a.samples[0].key, sizeof a.samples[0].key, "%s",
           "sk_live_7KWyWfty6uEvcdZQoaZrkn");
  assert_int_equal(
      kgl_result_write_json(&a, file("leak.json"), why, sizeof why), 0);
  assert_int_equal(kgl_result_read_json(file("leak.json"), &b, why, sizeof why),
                   0);
  assert_string_equal(b.samples[0].key, "sk_live_****Zrkn");
  kgl_result_free(&a);
  kgl_result_free(&b);
}

/* The reader masks as the writer does (kgl_redact_keys): sk_test_ keys and
 * keys of other issuers (ghp_...) too, in every text field, and the report
 * shows no 8 characters after any such prefix. */
/* The code --expect wants is the user's text: a key typed there is masked
 * in the table and the JSON (review F5); a sample's key read back is a
 * hint whatever the file holds (review F4: "kg.<body>" showed whole). */
static void a_key_given_as_a_code_or_a_sample_key_is_masked(void **state) {
  (void)state;
  static const char KEY[] = "sk_live_8yDoYITcMsb9cvgQnkiIOqFeUXXd9j0hM6GO";
  kgl_result a, b;
  char why[256] = "";
  full(&a);
  snprintf(a.samples[0].expected_code, sizeof a.samples[0].expected_code, "%s",
           KEY);
  snprintf(a.config.expect[KGL_INVALID].code,
           sizeof a.config.expect[KGL_INVALID].code, "%s", KEY);
  char *s = render(&a, KGL_TABLE_TEXT);
  assert_null(strstr(s, "8yDoYITc"));
  assert_non_null(strstr(s, "sk_live_****M6GO"));
  free(s);
  assert_int_equal(
      kgl_result_write_json(&a, file("leak3.json"), why, sizeof why), 0);
  FILE *f = fopen(file("leak3.json"), "r");
  assert_non_null(f);
  char text[65536];
  const size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  assert_null(strstr(text, "8yDoYITc"));
  /* a crafted key field: a key of no prefix shape, a long "hint" */
  mutate(file("leak3.json"), file("leak3.json"), "samples.0.key",
         "\"kg.8yDoYITcMsb9cvgQnkiIOqFeUXXd9j0hM6GO\"");
  mutate(file("leak3.json"), file("leak3.json"), "samples.1.key",
         "\"sk_live_8yDoYITcMsb9****\"");
  assert_int_equal(
      kgl_result_read_json(file("leak3.json"), &b, why, sizeof why), 0);
  assert_string_equal(b.samples[0].key, "****M6GO");
  assert_string_equal(b.samples[1].key, "sk_live_********");
  assert_string_equal(b.samples[0].expected_code, "sk_live_****M6GO");
  /* a bare body given as the code: no prefix rule sees it */
  snprintf(a.samples[0].expected_code, sizeof a.samples[0].expected_code, "%s",
           KEY + 8);
  s = render(&a, KGL_TABLE_TEXT);
  assert_null(strstr(s, "8yDoYITc"));
  assert_non_null(strstr(s, "want 401 ****"));
  free(s);
  assert_int_equal(
      kgl_result_write_json(&a, file("leak3.json"), why, sizeof why), 0);
  f = fopen(file("leak3.json"), "r");
  assert_non_null(f);
  const size_t m = fread(text, 1, sizeof text - 1, f);
  text[m] = '\0';
  fclose(f);
  assert_null(strstr(text, "8yDoYITc"));
  /* a file edited to hold one is masked on read */
  mutate(file("leak3.json"), file("leak3.json"), "samples.0.expected_code",
         "\"8yDoYITcMsb9cvgQnkiIOqFeUXXd9j0hM6GO\"");
  kgl_result_free(&b);
  assert_int_equal(
      kgl_result_read_json(file("leak3.json"), &b, why, sizeof why), 0);
  assert_string_equal(b.samples[0].expected_code, "****");
  kgl_result_free(&a);
  kgl_result_free(&b);
}

static void reading_masks_keys_of_every_issuer(void **state) {
  (void)state;
  kgl_result a, b;
  char why[256] = "";
  full(&a);
  snprintf(a.samples[0].key, sizeof a.samples[0].key, "%s",
           "sk_test_AbCdEfGhIjKlMnOpQrSt");
  snprintf(a.samples[0].detail, sizeof a.samples[0].detail, "%s",
           "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 and "
           "sk_live_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789");
  snprintf(a.config.url, sizeof a.config.url, "%s",
           "http://h/x?t=sk_test_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ABCD");
  assert_int_equal(
      kgl_result_write_json(&a, file("leak2.json"), why, sizeof why), 0);
  mutate(file("leak2.json"), file("leak2.json"), "config.header",
         "\"ghp_AbCdEfGhIjKlMnOpQrSt\"");
  assert_int_equal(
      kgl_result_read_json(file("leak2.json"), &b, why, sizeof why), 0);
  assert_string_equal(b.samples[0].key, "sk_test_****QrSt");
  assert_string_equal(b.samples[0].detail, "ghp_****6789 and sk_live_****6789");
  assert_string_equal(b.config.url, "http://h/x?t=sk_test_****ABCD");
  assert_string_equal(b.config.header, "ghp_****QrSt");
  /* codes and request ids stay readable */
  assert_string_equal(b.samples[0].expected_code, a.samples[0].expected_code);
  assert_string_equal(b.samples[0].request_id, a.samples[0].request_id);
  char *s = render(&b, KGL_TABLE_TEXT);
  assert_null(strstr(s, "AbCdEfGh"));
  free(s);
  kgl_result_free(&a);
  kgl_result_free(&b);
}

/* mutate — set (or with json NULL, delete) the field at a dotted path of
 * object keys and array indexes in the JSON file src, writing dst. */
static void mutate(const char *src, const char *dst, const char *at,
                   const char *json) {
  json_error_t err;
  json_t *root = json_load_file(src, 0, &err);
  assert_non_null(root);
  char buf[128];
  snprintf(buf, sizeof buf, "%s", at);
  json_t *parent = root;
  char *seg = buf;
  for (char *dot; (dot = strchr(seg, '.')) != NULL; seg = dot + 1) {
    *dot = '\0';
    parent = json_is_array(parent)
                 ? json_array_get(parent, strtoul(seg, NULL, 10))
                 : json_object_get(parent, seg);
    assert_non_null(parent);
  }
  if (json == NULL) {
    assert_int_equal(json_object_del(parent, seg), 0);
  } else {
    json_t *v = json_loads(json, JSON_DECODE_ANY, &err);
    assert_non_null(v);
    if (json_is_array(parent)) {
      assert_int_equal(json_array_set_new(parent, strtoul(seg, NULL, 10), v),
                       0);
    } else {
      assert_int_equal(json_object_set_new(parent, seg, v), 0);
    }
  }
  assert_int_equal(json_dump_file(root, dst, 0), 0);
  json_decref(root);
}

typedef struct refusal {
  const char *at;   /* field changed in a good file (NULL: text below) */
  const char *json; /* its new value (NULL: deleted), or the whole file */
  const char *why;  /* expected in the one-line reason */
} refusal;

static const refusal REFUSALS[] = {
    /* not JSON at all */
    {NULL, "keygate load results\n", "not JSON (line 1"},
    {NULL, "", "not JSON"},
    {NULL, "{\"schema\":\"keygate-load\",\"schema\":\"x\"}", "not JSON"},
    /* JSON, but not this schema */
    {NULL, "[1, 2, 3]",
     "not a keygate load result (the JSON value is an "
     "array"},
    {NULL, "{\"schema\":\"k6-summary\",\"version\":1}",
     "not a keygate load result (schema \"k6-summary\", expected "
     "\"keygate-load\")"},
    {NULL, "{\"metrics\":{}}", "not a keygate load result (schema missing"},
    /* versions: none before 1, and a later one is a newer keygate's */
    {"version", "2",
     "written by a newer keygate (schema version 2); this build reads "
     "version 1: upgrade keygate"},
    {"version", "0",
     "schema version 0 was never written by any keygate (the first is 1); "
     "this build reads version 1"},
    {"version", "\"1\"", "version: expected an integer, found a string"},
    /* fields missing or of the wrong type */
    {"classes.valid.requests", "\"12\"",
     "classes.valid.requests: expected an integer, found a string"},
    {"classes.all.histogram.sum", "\"x\"",
     "classes.all.histogram.sum: expected a number, found a string"},
    {"config.url", NULL, "config.url: missing"},
    {"config.expect.invalid.contract", "1",
     "config.expect.invalid.contract: expected true or false, found an "
     "integer"},
    {"config.seed", "\"-1\"", "config.seed: expected an unsigned 64-bit"},
    {"classes.expired", NULL, "classes.expired: missing"},
    {"classes.valid.ok", "-1", "classes.valid.ok: -1 is below 0"},
    {"runs", "1.5",
     "runs: expected an integer, found a number with a "
     "fraction"},
    {"rate", "[]", "rate: expected an object or null, found an array"},
    {"samples.0.class", "\"bogus\"", "samples[0].class: unknown class"},
    {"series.3.classes.all", NULL, "series[3].classes.all: missing"},
    /* each second once, in order (a merge sums equal ones) */
    {"series.3.t", "2",
     "series[3]: second 2 comes after second 2: each second is there once, "
     "in increasing order"},
    {"series.3.t", "1", "series[3]: second 1 comes after second 2"},
    {"thresholds.1.holds", "null",
     "thresholds[1].holds: expected true or false, found null"},
    /* histograms that cannot be rebuilt exactly */
    {"classes.valid.histogram.unit", "\"ms\"",
     "classes.valid.histogram.unit: \"ms\" (this build reads \"us\")"},
    {"classes.valid.histogram.significant_digits", "9",
     "classes.valid.histogram: layout 1..60000000 us at 9 digits is not one "
     "this build can hold"},
    {"classes.valid.histogram.total", "1",
     "classes.valid.histogram: total 1 differs from the sum of its counts"},
    {"classes.valid.histogram.counts.0", "[999999, 1]",
     "classes.valid.histogram.counts: entry 0: [999999, 1] is outside the "
     "layout"},
    {"classes.valid.histogram.counts.1", "[0, 1]",
     "classes.valid.histogram.counts: indexes must increase"},
    {"classes.valid.histogram.counts.0", "[1, \"2\"]",
     "classes.valid.histogram.counts: entry 0 is not an [index, count] "
     "pair"},
    {"classes.valid.histogram.min", "5000000",
     "classes.valid.histogram: min 5000000 / max"},
    /* counts whose sums would overflow, and a span that ends before it
     * starts: refused, never wrapped */
    {"classes.valid.histogram.counts",
     "[[1000, 6917529027641081856], [2000, 6917529027641081856]]",
     "classes.valid.histogram.counts: entry 1: the counts add up beyond "
     "2^63 - 1"},
    {"end_unix_ns", "1735689600123456788",
     "end_unix_ns: 1735689600123456788 is before start_unix_ns"},
    /* every request ended one way: ok, a mismatch or an error */
    {"classes.valid.ok", "0",
     "classes.valid: requests 3000 is not ok + mismatches + errors"},
    {"classes.invalid.errors", "9223372036854775807",
     "classes.invalid: requests 700 is not ok + mismatches + errors"},
    /* a warm-up longer than asked, or negative; unsolicited below 0 */
    {"warmup.seconds", "2.6",
     "warmup.seconds: 2.6 is not within 0..config.warmup_s (2.5)"},
    {"warmup.seconds", "-1", "warmup.seconds: -1 is not within"},
    {"warmup.seconds", NULL, "warmup.seconds: missing"},
    {"errors.unsolicited", "-1", "errors.unsolicited: -1 is below 0"},
};

static void reading_refuses_what_it_cannot_read_in_one_line(void **state) {
  (void)state;
  kgl_result good, r;
  char why[512];
  full(&good);
  assert_int_equal(
      kgl_result_write_json(&good, file("good.json"), why, sizeof why), 0);
  kgl_result_free(&good);
  for (size_t i = 0; i < sizeof REFUSALS / sizeof REFUSALS[0]; i++) {
    const refusal *c = &REFUSALS[i];
    const char *bad = file("bad.json");
    if (c->at == NULL) {
      write_text(bad, c->json);
    } else {
      mutate(file("good.json"), bad, c->at, c->json);
    }
    why[0] = '\0';
    if (kgl_result_read_json(bad, &r, why, sizeof why) != -1) {
      fail_msg("case %zu (%s) was accepted", i, c->at ? c->at : c->json);
    }
    if (strstr(why, c->why) == NULL || strncmp(why, bad, strlen(bad)) != 0 ||
        strchr(why, '\n') != NULL) {
      fail_msg("case %zu: reason \"%s\", expected the file name and \"%s\"", i,
               why, c->why);
    }
  }
}

/* classes.all is the four classes summed, as the writer merges it: a file
 * whose rows are each consistent but whose sum is not is refused. */
static void reading_refuses_an_all_row_that_is_not_the_sum(void **state) {
  (void)state;
  kgl_result good, r;
  char why[512];
  full(&good);
  const int64_t n = good.cls[KGL_ALL].requests + 5;
  const int64_t ok = good.cls[KGL_ALL].ok + 5;
  assert_int_equal(
      kgl_result_write_json(&good, file("good.json"), why, sizeof why), 0);
  kgl_result_free(&good);
  char v[32];
  snprintf(v, sizeof v, "%lld", (long long)n);
  mutate(file("good.json"), file("bad.json"), "classes.all.requests", v);
  snprintf(v, sizeof v, "%lld", (long long)ok);
  mutate(file("bad.json"), file("bad.json"), "classes.all.ok", v);
  assert_int_equal(kgl_result_read_json(file("bad.json"), &r, why, sizeof why),
                   -1);
  assert_non_null(strstr(why, "classes.all: requests "));
  assert_non_null(strstr(why, "is not the sum of the four classes'"));
  assert_null(strchr(why, '\n'));
}

/* start INT64_MIN, end INT64_MAX: a span of 2^64 - 1 ns, read and measured
 * without overflow (UBSan aborts this test when it wraps). */
static void the_widest_span_reads_without_overflow(void **state) {
  (void)state;
  kgl_result good, r;
  char why[512];
  full(&good);
  assert_int_equal(
      kgl_result_write_json(&good, file("good.json"), why, sizeof why), 0);
  kgl_result_free(&good);
  mutate(file("good.json"), file("wide.json"), "start_unix_ns",
         "-9223372036854775808");
  mutate(file("wide.json"), file("wide.json"), "end_unix_ns",
         "9223372036854775807");
  assert_int_equal(kgl_result_read_json(file("wide.json"), &r, why, sizeof why),
                   0);
  assert_true(kgl_result_elapsed_s(&r) > 1.8e10);
  assert_true(kgl_result_rps(&r, KGL_ALL) > 0.0);
  kgl_result_free(&r);
}

/* A folder and a FIFO are not result files: refused in one line at once
 * (a FIFO without a writer would block a plain open). */
static void reading_refuses_a_folder_and_a_fifo(void **state) {
  (void)state;
  kgl_result r;
  char why[512];
  assert_int_equal(kgl_result_read_json(dir, &r, why, sizeof why), -1);
  assert_non_null(strstr(why, "is a folder, not a result file"));
  assert_int_equal(mkfifo(file("fifo"), 0600), 0);
  assert_int_equal(kgl_result_read_json(file("fifo"), &r, why, sizeof why), -1);
  assert_non_null(strstr(why, "fifo: is not a regular file"));
  unlink(file("fifo"));
}

static void reading_a_missing_file_names_it(void **state) {
  (void)state;
  kgl_result r;
  char why[256];
  assert_int_equal(
      kgl_result_read_json(file("absent.json"), &r, why, sizeof why), -1);
  assert_non_null(strstr(why, "absent.json: cannot read: No such file"));
}

static void a_file_of_another_layout_reads_but_does_not_merge(void **state) {
  (void)state;
  kgl_result a, b, c;
  char why[256] = "";
  full(&a);
  assert_int_equal(kgl_result_write_json(&a, file("lay.json"), why, sizeof why),
                   0);
  /* an other layout: 1 µs .. 1 s at 2 digits, one sample of 1000 µs */
  const char *h = "{\"unit\":\"us\",\"lowest\":1,\"highest\":1000000,"
                  "\"significant_digits\":2,\"total\":0,\"saturated\":0,"
                  "\"min\":0,\"max\":0,\"sum\":0,\"counts\":[]}";
  mutate(file("lay.json"), file("lay2.json"), "classes.expired.histogram", h);
  assert_int_equal(kgl_result_read_json(file("lay2.json"), &b, why, sizeof why),
                   0);
  assert_int_equal(b.cls[KGL_EXPIRED].latency.digits, 2);
  assert_int_equal(b.cls[KGL_EXPIRED].latency.highest, 1000000);
  assert_int_equal(kgl_result_read_json(file("lay.json"), &c, why, sizeof why),
                   0);
  int64_t before = c.cls[KGL_ALL].requests;
  assert_int_equal(kgl_result_merge(&c, &b, why, sizeof why), -1);
  assert_non_null(strstr(why, "cannot merge histograms of different layouts "
                              "(expired: 1..60000000 us, 3 digits vs "
                              "1..1000000 us, 2 digits)"));
  assert_int_equal(c.cls[KGL_ALL].requests, before); /* unchanged */
  kgl_result_free(&a);
  kgl_result_free(&b);
  kgl_result_free(&c);
}

/* ---- merging --------------------------------------------------------------
 */

static void merging_equals_one_result_fed_both_sample_sets(void **state) {
  (void)state;
  kgl_result a, b, both;
  char why[256] = "";
  assert_int_equal(kgl_result_init(&a), 0);
  assert_int_equal(kgl_result_init(&b), 0);
  assert_int_equal(kgl_result_init(&both), 0);
  feed(&a, KGL_VALID, 5000, 11);
  feed(&a, KGL_INVALID, 800, 12);
  feed(&b, KGL_VALID, 4000, 21);
  feed(&b, KGL_EXPIRED, 600, 22);
  feed(&both, KGL_VALID, 5000, 11);
  feed(&both, KGL_INVALID, 800, 12);
  feed(&both, KGL_VALID, 4000, 21);
  feed(&both, KGL_EXPIRED, 600, 22);
  /* a: [100 s, 110 s), b: [105 s, 130 s): the union is 30 s */
  a.start_unix_ns = INT64_C(100000000000);
  a.end_unix_ns = INT64_C(110000000000);
  b.start_unix_ns = INT64_C(105000000000);
  b.end_unix_ns = INT64_C(130000000000);
  assert_int_equal(kgl_result_merge(&a, &b, why, sizeof why), 0);
  for (int i = 0; i < KGL_ROWS; i++) {
    assert_stats_equal(&a.cls[i], &both.cls[i]);
    /* so every percentile agrees too */
    assert_int_equal(kgl_hist_percentile(&a.cls[i].latency, 99.9),
                     kgl_hist_percentile(&both.cls[i].latency, 99.9));
  }
  assert_int_equal(a.start_unix_ns, INT64_C(100000000000));
  assert_int_equal(a.end_unix_ns, INT64_C(130000000000));
  assert_true(kgl_result_elapsed_s(&a) == 30.0);
  /* responses per second: 10,400 requests, every 97th of each feed an
   * error (51 + 8 + 41 + 6 = 106), so 10,294 responses over 30 s */
  assert_true(kgl_result_rps(&a, KGL_ALL) == 10294.0 / 30.0);
  assert_int_equal(a.runs, 2);
  kgl_result_free(&a);
  kgl_result_free(&b);
  kgl_result_free(&both);
}

static void merging_sums_seconds_of_the_same_wall_clock_second(void **state) {
  (void)state;
  kgl_result a, b;
  char why[256] = "";
  assert_int_equal(kgl_result_init(&a), 0);
  assert_int_equal(kgl_result_init(&b), 0);
  a.start_unix_ns = INT64_C(1000500000000); /* 1000.5 s */
  a.end_unix_ns = INT64_C(1003500000000);
  b.start_unix_ns = INT64_C(1002200000000); /* 1002.2 s */
  b.end_unix_ns = INT64_C(1005200000000);
  for (int64_t t = 0; t < 3; t++) {
    kgl_second s = make_second(t, 10);
    assert_int_equal(kgl_result_add_second(&a, &s), 0);
    s = make_second(t, 100);
    s.row[KGL_ALL].p99 = 9000 - t; /* larger than a's */
    assert_int_equal(kgl_result_add_second(&b, &s), 0);
  }
  a.cls[KGL_ALL].requests = 1;
  assert_int_equal(kgl_result_merge(&a, &b, why, sizeof why), 0);
  /* wall seconds: a 1000, 1001, 1002; b 1002, 1003, 1004 */
  assert_int_equal(a.nseries, 5);
  static const int64_t requests[5] = {10, 10, 110, 100, 100};
  for (int64_t t = 0; t < 5; t++) {
    assert_int_equal(a.series[t].t, t);
    assert_int_equal(a.series[t].row[KGL_VALID].requests, requests[t]);
  }
  assert_int_equal(a.series[2].row[KGL_ALL].p99, 9000); /* the larger */
  assert_int_equal(a.series[2].row[KGL_ALL].errors, 2); /* a's 2 + b's 0 */
  kgl_result_free(&a);
  kgl_result_free(&b);
}

static void merging_into_a_fresh_result_adopts_the_first(void **state) {
  (void)state;
  kgl_result m, a, b;
  char why[256] = "";
  full(&a);
  full(&b);
  assert_int_equal(kgl_result_init(&m), 0);
  assert_int_equal(kgl_result_merge(&m, &a, why, sizeof why), 0);
  assert_int_equal(m.nthresholds, 0); /* outcomes of the inputs, dropped */
  a.nthresholds = 0;
  assert_result_equal(&m, &a);
  assert_int_equal(kgl_result_merge(&m, &b, why, sizeof why), 0);
  assert_int_equal(m.runs, 6);
  assert_int_equal(m.nsamples, 4);
  assert_true(m.config.rate == 2 * 5000.5);
  assert_true(m.rate_achieved == 2 * 4998.7);
  assert_int_equal(m.nthresholds, 0); /* outcomes of the inputs, dropped */
  assert_int_equal(m.cls[KGL_ALL].requests, 8000);
  assert_int_equal(m.nseries, 30);
  assert_int_equal(m.series[29].row[KGL_ALL].requests, 2 * (2900 + KGL_ALL));
  kgl_result_free(&m);
  kgl_result_free(&a);
  kgl_result_free(&b);
}

static void samples_are_appended_while_room_is_left(void **state) {
  (void)state;
  kgl_result a, b;
  char why[256] = "";
  full(&a);
  full(&b);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(kgl_result_merge(&a, &b, why, sizeof why), 0);
  }
  assert_int_equal(a.nsamples, 8);
  assert_int_equal(kgl_result_merge(&a, &b, why, sizeof why), 0);
  assert_int_equal(a.nsamples, KGL_MAX_SAMPLES);
  assert_int_equal(a.samples[9].cls, KGL_MISSING);
  kgl_result_free(&a);
  kgl_result_free(&b);
}

static void merging_refuses_another_schema_version(void **state) {
  (void)state;
  kgl_result a, b;
  char why[256] = "";
  full(&a);
  full(&b);
  b.schema_version = 2;
  assert_int_equal(kgl_result_merge(&a, &b, why, sizeof why), -1);
  assert_string_equal(why, "cannot merge results of schema versions 1 and 2");
  assert_int_equal(a.runs, 3);
  assert_int_equal(a.cls[KGL_ALL].requests, 4000);
  kgl_result_free(&a);
  kgl_result_free(&b);
}

/* Two results each of about 5e18 requests: their sum passes INT64_MAX, so
 * the merge is refused in one line and leaves dst as it was. */
static void merging_refuses_counts_that_would_overflow(void **state) {
  (void)state;
  kgl_result a, b;
  char why[256] = "";
  full(&a);
  full(&b);
  for (int i = 0; i < KGL_ROWS; i++) {
    a.cls[i].requests += INT64_C(5000000000000000000);
    a.cls[i].ok += INT64_C(5000000000000000000);
    b.cls[i].requests += INT64_C(5000000000000000000);
    b.cls[i].ok += INT64_C(5000000000000000000);
  }
  const int64_t before = a.cls[KGL_ALL].requests;
  const size_t nseries = a.nseries;
  assert_int_equal(kgl_result_merge(&a, &b, why, sizeof why), -1);
  assert_non_null(strstr(why, "would pass 2^63 - 1"));
  assert_null(strchr(why, '\n'));
  assert_int_equal(a.cls[KGL_ALL].requests, before);
  assert_int_equal(a.nseries, nseries);
  assert_int_equal(a.runs, 3);
  kgl_result_free(&a);
  kgl_result_free(&b);
  /* the histograms alone: totals near 2^62 each */
  kgl_class_stats x, y;
  memset(&x, 0, sizeof x);
  memset(&y, 0, sizeof y);
  assert_int_equal(kgl_hist_init(&x.latency, 1, 60000000, 3), 0);
  assert_int_equal(kgl_hist_init(&y.latency, 1, 60000000, 3), 0);
  kgl_hist_record_n(&x.latency, 100, INT64_C(6000000000000000000));
  kgl_hist_record_n(&y.latency, 100, INT64_C(6000000000000000000));
  assert_int_equal(kgl_hist_merge(&x.latency, &y.latency), -1);
  assert_int_equal(kgl_class_stats_merge(&x, &y), -1);
  assert_int_equal(x.latency.total, INT64_C(6000000000000000000));
  /* a second's counts: the per-second series is summed too */
  kgl_hist_free(&x.latency);
  kgl_hist_free(&y.latency);
  full(&a);
  full(&b);
  a.series[0].row[KGL_ALL].requests = INT64_MAX - 1;
  b.series[0].row[KGL_ALL].requests = INT64_MAX - 1;
  b.start_unix_ns = a.start_unix_ns;
  assert_int_equal(kgl_result_merge(&a, &b, why, sizeof why), -1);
  assert_non_null(strstr(why, "per-second counts would add up beyond"));
  assert_int_equal(a.runs, 3);
  kgl_result_free(&a);
  kgl_result_free(&b);
}

static void class_stats_refuse_another_layout_and_stay_unchanged(void **state) {
  (void)state;
  kgl_class_stats a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  assert_int_equal(kgl_hist_init(&a.latency, 1, 60000000, 3), 0);
  assert_int_equal(kgl_hist_init(&b.latency, 1, 60000000, 2), 0);
  a.requests = 5;
  b.requests = 7;
  kgl_hist_record(&b.latency, 100);
  assert_int_equal(kgl_class_stats_merge(&a, &b), -1);
  assert_int_equal(a.requests, 5);
  assert_int_equal(a.latency.total, 0);
  kgl_hist_free(&a.latency);
  kgl_hist_free(&b.latency);
}

/* ---- the table ------------------------------------------------------------
 */

/* table_result — a closed... no: an open-loop run with known latencies:
 * valid 900 x 1000us, 90 x 5000us, 5 x 20ms (mismatched), 5 errors;
 * invalid 70 x 850us; missing 0 requests but weight 10; expired no weight. */
static void table_result(kgl_result *r) {
  assert_int_equal(kgl_result_init(r), 0);
  snprintf(r->config.url, sizeof r->config.url,
           "http://127.0.0.1:8080/api/v1/iocs");
  snprintf(r->config.engine, sizeof r->config.engine, "native");
  snprintf(r->config.protocol, sizeof r->config.protocol, "http/1.1");
  r->config.connections = 64;
  r->config.threads = 1;
  r->config.mix[KGL_VALID] = 70;
  r->config.mix[KGL_INVALID] = 20;
  r->config.mix[KGL_MISSING] = 10;
  r->config.rate = 5000;
  r->rate_achieved = 4998.7;
  r->max_lag_ms = 0.4;
  r->start_unix_ns = INT64_C(1700000000000000000);
  r->end_unix_ns = r->start_unix_ns + INT64_C(10000000000);
  kgl_class_stats *v = &r->cls[KGL_VALID], *inv = &r->cls[KGL_INVALID];
  kgl_hist_record_n(&v->latency, 1000, 900);
  kgl_hist_record_n(&v->latency, 5000, 90);
  kgl_hist_record_n(&v->latency, 20000, 5);
  v->requests = 70012;
  v->ok = 70002;
  v->mismatches = 5;
  v->mismatch_kinds[0] = 5;
  v->errors = 5;
  v->error_kinds[KGL_ERR_CONNECT] = 3;
  v->error_kinds[KGL_ERR_TIMEOUT] = 2;
  kgl_hist_record_n(&inv->latency, 850, 70);
  inv->requests = 70;
  inv->ok = 70;
  char why[128];
  assert_int_equal(kgl_class_stats_merge(&r->cls[KGL_ALL], v), 0);
  assert_int_equal(kgl_class_stats_merge(&r->cls[KGL_ALL], inv), 0);
  r->samples[0] = make_sample(KGL_INVALID, "sk_live_****Ab3x");
  r->nsamples = 1;
  static const char *const exprs[] = {"p99<50ms", "valid.p99<5ms",
                                      "errors<0.1%"};
  for (int i = 0; i < 3; i++) {
    kgl_threshold t;
    assert_int_equal(kgl_threshold_parse(exprs[i], &t, why, sizeof why), 0);
    kgl_threshold_eval(&t, r, &r->thresholds[i]);
  }
  r->nthresholds = 3;
}

/* render — the report as one string (caller frees). */
static char *render(const kgl_result *r, kgl_table_format fmt) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  kgl_result_print(r, f, fmt);
  assert_int_equal(fclose(f), 0);
  return buf;
}

/* assert_no_full_key — every "sk_live_" is followed by "****" and at most
 * four more key characters. */
static void assert_no_full_key(const char *s) {
  for (const char *p = strstr(s, "sk_live_"); p != NULL;
       p = strstr(p + 1, "sk_live_")) {
    const char *q = p + 8;
    assert_memory_equal(q, "****", 4);
    size_t n = strspn(q + 4, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
                             "klmnopqrstuvwxyz-._~+/");
    assert_true(n <= 4);
  }
}

/* A rate too small for one decimal keeps two significant digits. */
static void a_tiny_rate_is_not_shown_as_zero(void **state) {
  (void)state;
  kgl_result r;
  table_result(&r);
  r.config.rate = 0.0001;
  char *s = render(&r, KGL_TABLE_TEXT);
  if (strstr(s, "asked 0.00010 rps") == NULL) {
    fail_msg("no 'asked 0.00010 rps' in:\n%s", s);
  }
  free(s);
  r.config.rate = 0.0000123; /* not 1.2e-05 */
  s = render(&r, KGL_TABLE_TEXT);
  if (strstr(s, "asked 0.000012 rps") == NULL) {
    fail_msg("no 'asked 0.000012 rps' in:\n%s", s);
  }
  free(s);
  kgl_result_free(&r);
}

static void the_text_table_has_a_row_per_class_with_traffic(void **state) {
  (void)state;
  kgl_result r;
  table_result(&r);
  char *s = render(&r, KGL_TABLE_TEXT);
  static const char *const want[] = {
      "keygate load  http://127.0.0.1:8080/api/v1/iocs  native http/1.1, 64 "
      "connections, 1 thread, 10.0 s (open loop, 5,000 rps)\n",
      "class    requests      rps  mismatches  errors     p50     p99   p99.9"
      "     max\n",
      "valid      70,012  7,000.7           5       5  1.00ms  5.00ms  20.0ms"
      "  20.0ms\n",
      "invalid        70      7.0           0       0   850us   850us   850us"
      "   850us\n",
      "missing         0      0.0           0       0       -       -       -"
      "       -\n",
      "all        70,082  7,007.7           5       5  1.00ms  5.00ms  20.0ms"
      "  20.0ms\n",
      "socket errors: connect 3, timeout 2\n",
      "mismatch kinds: valid: status 5\n",
      "open loop: asked 5,000 rps, sent 4,998.7 rps (0.0% behind), latest "
      "send 0.4 ms late\n",
      "mismatches (first 1):\n  [invalid] status 200, want 401 "
      "invalid_api_key (status, code); code -; request id "
      "req_0123456789abcdefghijKLMN; key sk_live_****Ab3x; status 200 for an "
      "invalid key\n",
      /* 5.003ms: p99 is the top of the bucket holding 5000us (4 wide);
       * three digits would hide why valid.p99<5ms is violated */
      "thresholds: 2 of 3 hold, VIOLATED\n  p99<50ms holds (5.003ms)\n"
      "  valid.p99<5ms VIOLATED (5.003ms)\n  errors<0.1% holds "
      "(0.00713%)\n",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    if (strstr(s, want[i]) == NULL) {
      fail_msg("missing:\n%s\nin:\n%s", want[i], s);
    }
  }
  assert_null(strstr(s, "expired")); /* no traffic, no weight */
  assert_no_full_key(s);
  free(s);
  kgl_result_free(&r);
}

static void latencies_read_in_the_unit_that_fits(void **state) {
  (void)state;
  static const struct {
    int64_t us;
    const char *text;
  } cases[] = {
      {850, "850us"},     {999, "999us"},      {1000, "1.00ms"},
      {1210, "1.21ms"},   {12100, "12.1ms"},   {121000, "121ms"},
      {1210000, "1.21s"}, {59000000, "59.0s"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kgl_result r;
    assert_int_equal(kgl_result_init(&r), 0);
    /* a value exactly at a bucket's top prints as itself */
    int64_t v =
        kgl_hist_highest_equivalent(&r.cls[KGL_ALL].latency, cases[i].us);
    assert_int_equal(v - cases[i].us <= cases[i].us / 1000, 1);
    kgl_hist_record(&r.cls[KGL_ALL].latency, cases[i].us);
    r.cls[KGL_ALL].requests = 1;
    char *s = render(&r, KGL_TABLE_TEXT);
    char row[64];
    snprintf(row, sizeof row, "  %s\n", cases[i].text); /* the max column */
    if (strstr(s, row) == NULL) {
      fail_msg("%lld us: expected %s in\n%s", (long long)cases[i].us,
               cases[i].text, s);
    }
    free(s);
    kgl_result_free(&r);
  }
}

static void
the_markdown_table_is_a_github_table_with_threshold_bullets(void **state) {
  (void)state;
  kgl_result r;
  table_result(&r);
  char *s = render(&r, KGL_TABLE_MARKDOWN);
  static const char *const want[] = {
      "**keygate load** `http://127.0.0.1:8080/api/v1/iocs` native http/1.1",
      "| class   | requests |     rps | mismatches | errors |    p50 |    "
      "p99 |  p99.9 |    max |\n|:--------|",
      "| valid   |   70,012 | 7,000.7 |          5 |      5 | 1.00ms | 5.00ms "
      "| 20.0ms | 20.0ms |\n",
      "| all     |   70,082 |",
      "- socket errors: connect 3, timeout 2\n",
      "- `[invalid] status 200, want 401 invalid_api_key",
      "- `p99<50ms` holds (5.003ms)\n",
      "- `valid.p99<5ms` **VIOLATED (5.003ms)**\n",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    if (strstr(s, want[i]) == NULL) {
      fail_msg("missing:\n%s\nin:\n%s", want[i], s);
    }
  }
  assert_no_full_key(s);
  free(s);
  kgl_result_free(&r);
}

static void a_closed_loop_run_without_errors_says_none(void **state) {
  (void)state;
  kgl_result r;
  table_result(&r);
  r.config.rate = 0;
  r.runs = 2;
  memset(r.cls[KGL_VALID].error_kinds, 0, sizeof r.cls[KGL_VALID].error_kinds);
  memset(r.cls[KGL_ALL].error_kinds, 0, sizeof r.cls[KGL_ALL].error_kinds);
  r.nthresholds = 0;
  r.nsamples = 0;
  char *s = render(&r, KGL_TABLE_TEXT);
  assert_non_null(strstr(s, "(closed loop), 2 runs merged\n"));
  assert_non_null(strstr(s, "socket errors: none\n"));
  assert_null(strstr(s, "open loop:"));
  assert_null(strstr(s, "thresholds"));
  free(s);
  kgl_result_free(&r);
}

/* ---- review findings: nothing measured, one errors figure, what merges -- */

/* A run cut in its warm-up: nothing measured, and the file says how long
 * the warm-up ran, read back as cut. */
static void a_cut_warmup_is_written_as_run_and_read_back(void **state) {
  (void)state;
  kgl_result a, b;
  char why[256] = "";
  assert_int_equal(kgl_result_init(&a), 0);
  a.config.warmup_s = 30;
  a.warmup_cut = 1;
  a.warmup_done_s = 1.25;
  a.warmup_requests = 97;
  a.start_unix_ns = a.end_unix_ns = INT64_C(1735689600123456789);
  assert_false(kgl_result_measured(&a));
  assert_true(kgl_result_warmup_s(&a) == 1.25);
  assert_int_equal(kgl_result_write_json(&a, file("cut.json"), why, sizeof why),
                   0);
  json_error_t err;
  json_t *j = json_load_file(file("cut.json"), 0, &err);
  assert_non_null(j);
  assert_true(json_real_value(json_object_get(json_object_get(j, "warmup"),
                                              "seconds")) == 1.25);
  assert_true(json_real_value(json_object_get(json_object_get(j, "config"),
                                              "warmup_s")) == 30);
  json_decref(j);
  assert_int_equal(kgl_result_read_json(file("cut.json"), &b, why, sizeof why),
                   0);
  assert_result_equal(&a, &b);
  char *text = render(&b, KGL_TABLE_TEXT);
  assert_non_null(strstr(text, "nothing was measured"));
  assert_non_null(strstr(text, "1.2 s, 97 requests not counted"));
  assert_non_null(strstr(text, "cut short (30.0 s asked)"));
  free(text);
  /* a whole warm-up reads back as not cut */
  a.warmup_cut = 0;
  feed(&a, KGL_VALID, 10, 4);
  assert_true(kgl_result_measured(&a));
  assert_true(kgl_result_warmup_s(&a) == 30);
  assert_int_equal(kgl_result_write_json(&a, file("cut.json"), why, sizeof why),
                   0);
  kgl_result_free(&b);
  assert_int_equal(kgl_result_read_json(file("cut.json"), &b, why, sizeof why),
                   0);
  assert_int_equal(b.warmup_cut, 0);
  text = render(&b, KGL_TABLE_TEXT);
  assert_null(strstr(text, "nothing was measured"));
  free(text);
  kgl_result_free(&a);
  kgl_result_free(&b);
}

/* A run stopped by a signal: the file says so and which signal, the table
 * says so, and a merge with it is marked too (review: an interrupted run
 * read as a whole one). */
static void an_interrupted_run_is_marked_in_file_table_and_merge(void **state) {
  (void)state;
  kgl_result a, b, m;
  char why[256] = "";
  assert_int_equal(kgl_result_init(&a), 0);
  a.config.duration_s = 10;
  a.start_unix_ns = INT64_C(1735689600000000000);
  a.end_unix_ns = a.start_unix_ns + INT64_C(3200000000);
  feed(&a, KGL_VALID, 10, 4);
  a.interrupted = SIGINT;
  assert_int_equal(kgl_result_write_json(&a, file("int.json"), why, sizeof why),
                   0);
  json_error_t err;
  json_t *j = json_load_file(file("int.json"), 0, &err);
  assert_non_null(j);
  assert_true(json_is_true(json_object_get(j, "interrupted")));
  assert_string_equal(json_string_value(json_object_get(j, "interrupted_by")),
                      "SIGINT");
  json_decref(j);
  assert_int_equal(kgl_result_read_json(file("int.json"), &b, why, sizeof why),
                   0);
  assert_result_equal(&a, &b);
  char line[160];
  kgl_result_interruption(&b, line, sizeof line);
  assert_string_equal(line,
                      "stopped by SIGINT after 3.2 s of the 10.0 s asked");
  char *text = render(&b, KGL_TABLE_TEXT);
  assert_non_null(strstr(text, "interrupted: stopped by SIGINT after 3.2 s"));
  free(text);
  /* a merge of a whole run and a cut one is a result of a cut run */
  assert_int_equal(kgl_result_init(&m), 0);
  b.interrupted = 0;
  assert_int_equal(kgl_result_merge(&m, &b, why, sizeof why), 0);
  assert_int_equal(m.interrupted, 0);
  b.interrupted = SIGTERM;
  assert_int_equal(kgl_result_merge(&m, &b, why, sizeof why), 0);
  assert_int_equal(m.interrupted, SIGTERM);
  kgl_result_interruption(&m, line, sizeof line);
  assert_string_equal(
      line, "at least one of the 2 runs merged was stopped by SIGTERM");
  /* a whole run writes false and null, and reads back whole */
  a.interrupted = 0;
  assert_int_equal(kgl_result_write_json(&a, file("int.json"), why, sizeof why),
                   0);
  kgl_result_free(&b);
  assert_int_equal(kgl_result_read_json(file("int.json"), &b, why, sizeof why),
                   0);
  assert_int_equal(b.interrupted, 0);
  kgl_result_interruption(&b, line, sizeof line);
  assert_string_equal(line, "");
  kgl_result_free(&a);
  kgl_result_free(&b);
  kgl_result_free(&m);
}

/* Unsolicited responses are errors of all traffic: the JSON's totals and
 * errors.overall, the table's all row and the errors threshold agree. */
static void
unsolicited_responses_count_in_every_overall_errors_figure(void **state) {
  (void)state;
  kgl_result a;
  char why[256] = "";
  full(&a);
  const int64_t socket = a.cls[KGL_ALL].errors;
  a.unsolicited = 7;
  assert_int_equal(kgl_result_errors(&a, KGL_ALL), socket + 7);
  assert_int_equal(kgl_result_errors(&a, KGL_VALID), a.cls[KGL_VALID].errors);
  assert_int_equal(kgl_result_errors(&a, -1), 0);
  assert_int_equal(kgl_result_errors(&a, KGL_ROWS), 0);
  assert_int_equal(kgl_result_write_json(&a, file("sum.json"), why, sizeof why),
                   0);
  json_error_t err;
  json_t *j = json_load_file(file("sum.json"), 0, &err);
  assert_non_null(j);
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(j, "errors"), "overall")),
                   socket + 7);
  assert_int_equal(json_integer_value(
                       json_object_get(json_object_get(j, "totals"), "errors")),
                   socket + 7);
  /* classes.all stays the sum of the classes */
  assert_int_equal(
      json_integer_value(json_object_get(
          json_object_get(json_object_get(j, "classes"), "all"), "errors")),
      socket);
  json_decref(j);
  kgl_threshold th;
  kgl_threshold_outcome out;
  char expr[64];
  snprintf(expr, sizeof expr, "errors<=%lld", (long long)(socket + 7));
  assert_int_equal(kgl_threshold_parse(expr, &th, why, sizeof why), 0);
  assert_true(kgl_threshold_eval(&th, &a, &out));
  assert_true(out.actual == (double)(socket + 7));
  snprintf(expr, sizeof expr, "errors<%lld", (long long)(socket + 7));
  assert_int_equal(kgl_threshold_parse(expr, &th, why, sizeof why), 0);
  assert_false(kgl_threshold_eval(&th, &a, &out));
  /* the table's overall row shows the same figure */
  a.cls[KGL_ALL].errors = 0;
  for (int c = 0; c < KGL_NCLASS; c++) {
    a.cls[c].errors = 0;
  }
  a.unsolicited = 123457;
  char *text = render(&a, KGL_TABLE_TEXT);
  assert_non_null(strstr(text, "123,457"));
  free(text);
  /* a count at the top saturates, never wraps */
  a.cls[KGL_ALL].errors = INT64_MAX - 1;
  assert_int_equal(kgl_result_errors(&a, KGL_ALL), INT64_MAX);
  kgl_result_free(&a);
}

/* two — a and b: full() results of the same traffic over overlapping
 * spans, b a second later. */
static void two(kgl_result *a, kgl_result *b) {
  full(a);
  full(b);
  b->start_unix_ns += INT64_C(1000000000);
  b->end_unix_ns += INT64_C(1000000000);
}

static void mergeable_takes_concurrent_runs_of_the_same_traffic(void **state) {
  (void)state;
  kgl_result a, b;
  char why[256];
  two(&a, &b);
  assert_int_equal(kgl_result_mergeable(&a, &b, why, sizeof why), 0);
  assert_int_equal(kgl_result_mergeable(&b, &a, why, sizeof why), 0);
  /* what may differ: the machines and their set-up */
  snprintf(b.config.protocol, sizeof b.config.protocol, "http/1.1");
  snprintf(b.config.engine, sizeof b.config.engine, "curl");
  b.config.connections = 1;
  b.config.threads = 1;
  b.config.rate = 0;
  b.config.duration_s = 5;
  b.config.seed = 1;
  assert_int_equal(kgl_result_mergeable(&a, &b, why, sizeof why), 0);
  kgl_result_free(&a);
  kgl_result_free(&b);
}

static void mergeable_refuses_other_traffic_naming_the_field(void **state) {
  (void)state;
  static const char *const fields[] = {"config.url",    "config.method",
                                       "config.header", "config.mix",
                                       "config.expect", "config.expect"};
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    kgl_result a, b;
    char why[256] = "";
    two(&a, &b);
    switch (i) {
    case 0:
      snprintf(b.config.url, sizeof b.config.url, "https://other.example/");
      break;
    case 1:
      snprintf(b.config.method, sizeof b.config.method, "POST");
      break;
    case 2:
      snprintf(b.config.header, sizeof b.config.header, "bearer");
      break;
    case 3:
      b.config.mix[KGL_EXPIRED] = 0;
      break;
    case 4:
      snprintf(b.config.expect[KGL_INVALID].code,
               sizeof b.config.expect[KGL_INVALID].code, "unauthorized");
      break;
    default:
      b.config.expect[KGL_VALID].status = 204;
      break;
    }
    assert_int_equal(kgl_result_mergeable(&a, &b, why, sizeof why), -1);
    if (strncmp(why, fields[i], strlen(fields[i])) != 0 ||
        strstr(why, " differs") == NULL || strstr(why, "--force") == NULL) {
      fail_msg("case %zu: \"%s\", want %s differs ... --force", i, why,
               fields[i]);
    }
    /* kgl_result_merge itself (--force) still merges them */
    assert_int_equal(kgl_result_merge(&a, &b, why, sizeof why), 0);
    kgl_result_free(&a);
    kgl_result_free(&b);
  }
}

static void mergeable_refuses_spans_that_do_not_overlap(void **state) {
  (void)state;
  kgl_result a, b;
  char why[256] = "";
  two(&a, &b);
  const int64_t len = a.end_unix_ns - a.start_unix_ns;
  /* b starts where a ends: apart (the spans are half-open) */
  b.start_unix_ns = a.end_unix_ns;
  b.end_unix_ns = b.start_unix_ns + len;
  assert_int_equal(kgl_result_mergeable(&a, &b, why, sizeof why), -1);
  assert_non_null(strstr(why, "the measured spans do not overlap"));
  assert_int_equal(kgl_result_mergeable(&b, &a, why, sizeof why), -1);
  /* one nanosecond of overlap is concurrent */
  b.start_unix_ns -= 1;
  assert_int_equal(kgl_result_mergeable(&a, &b, why, sizeof why), 0);
  assert_int_equal(kgl_result_mergeable(&b, &a, why, sizeof why), 0);
  kgl_result_free(&a);
  kgl_result_free(&b);
}

static void mergeable_refuses_a_run_that_measured_nothing(void **state) {
  (void)state;
  kgl_result a, b;
  char why[256] = "";
  full(&a);
  assert_int_equal(kgl_result_init(&b), 0);
  b.config = a.config;
  b.start_unix_ns = a.start_unix_ns;
  b.end_unix_ns = a.end_unix_ns;
  assert_false(kgl_result_measured(&b));
  assert_int_equal(kgl_result_mergeable(&a, &b, why, sizeof why), -1);
  assert_non_null(strstr(why, "the second measured nothing"));
  assert_int_equal(kgl_result_mergeable(&b, &a, why, sizeof why), -1);
  assert_non_null(strstr(why, "the first measured nothing"));
  kgl_result_free(&a);
  kgl_result_free(&b);
}

/* ---- the scratch directory ----------------------------------------------- */

static int setup(void **state) {
  (void)state;
  return scratch_make(dir, "kgresult");
}

#define T(f) cmocka_unit_test(f)
int main(void) {
  const struct CMUnitTest tests[] = {
      T(error_kinds_have_fixed_names),
      T(init_lays_out_every_row_with_the_compiled_layout),
      T(rps_is_requests_over_the_measured_span),
      T(the_series_grows_by_doubling_and_keeps_every_second),
      T(write_then_read_gives_back_every_field),
      T(an_empty_result_round_trips_too),
      T(the_file_names_its_schema_and_summarises_for_jq),
      T(writing_replaces_the_file_whole_and_leaves_no_tmp),
      T(writing_where_it_cannot_says_so_in_one_line),
      T(reading_redacts_a_full_key_an_edited_file_holds),
      T(reading_masks_keys_of_every_issuer),
      T(a_key_given_as_a_code_or_a_sample_key_is_masked),
      T(reading_refuses_what_it_cannot_read_in_one_line),
      T(reading_refuses_an_all_row_that_is_not_the_sum),
      T(the_widest_span_reads_without_overflow),
      T(reading_refuses_a_folder_and_a_fifo),
      T(reading_a_missing_file_names_it),
      T(a_file_of_another_layout_reads_but_does_not_merge),
      T(merging_equals_one_result_fed_both_sample_sets),
      T(merging_sums_seconds_of_the_same_wall_clock_second),
      T(merging_into_a_fresh_result_adopts_the_first),
      T(samples_are_appended_while_room_is_left),
      T(merging_refuses_another_schema_version),
      T(merging_refuses_counts_that_would_overflow),
      T(class_stats_refuse_another_layout_and_stay_unchanged),
      T(the_text_table_has_a_row_per_class_with_traffic),
      T(a_tiny_rate_is_not_shown_as_zero),
      T(latencies_read_in_the_unit_that_fits),
      T(the_markdown_table_is_a_github_table_with_threshold_bullets),
      T(a_closed_loop_run_without_errors_says_none),
      T(a_cut_warmup_is_written_as_run_and_read_back),
      T(an_interrupted_run_is_marked_in_file_table_and_merge),
      T(unsolicited_responses_count_in_every_overall_errors_figure),
      T(mergeable_takes_concurrent_runs_of_the_same_traffic),
      T(mergeable_refuses_other_traffic_naming_the_field),
      T(mergeable_refuses_spans_that_do_not_overlap),
      T(mergeable_refuses_a_run_that_measured_nothing),
  };
  const int failed = cmocka_run_group_tests(tests, setup, NULL);
  return failed + (scratch_remove(dir) != 0);
}
