/*
 * tests/unit/test_load_html.c — the HTML page of a result (load/html.h):
 * escaping, no script and no external reference, every element closed
 * (the page is XML too), the sections and charts there, the baseline
 * drawn dashed.
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

#include "load/html.h"

static char *escaped(const char *s) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  kgl_html_escape(s, f);
  assert_int_equal(fclose(f), 0);
  return buf;
}

static void escaping_covers_the_five_and_unprintable_bytes(void **state) {
  (void)state;
  static const struct {
    const char *in, *want;
  } E[] = {
      {"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
      {"a & b", "a &amp; b"},
      {"\"q\" 'a'", "&quot;q&quot; &#39;a&#39;"},
      {"tab\there\x01\x7f\xc3\xa9", "tab?here????"},
      {"&amp;", "&amp;amp;"},
      {"", ""},
  };
  for (size_t i = 0; i < sizeof E / sizeof E[0]; i++) {
    char *got = escaped(E[i].in);
    assert_string_equal(got, E[i].want);
    free(got);
  }
}

/* ---- a page --------------------------------------------------------------
 */

#define HOSTILE "<script>x</script>&\"'"

static void result(kgl_result *r, int64_t base_us, int with_threshold) {
  assert_int_equal(kgl_result_init(r), 0);
  snprintf(r->config.url, sizeof r->config.url,
           "http://127.0.0.1:1/api?q=" HOSTILE);
  snprintf(r->config.engine, sizeof r->config.engine, "native");
  snprintf(r->config.protocol, sizeof r->config.protocol, "http/1.1");
  r->config.connections = 4;
  r->config.threads = 1;
  r->start_unix_ns = 1700000000000000000LL;
  r->end_unix_ns = r->start_unix_ns + 3000000000LL;
  for (int t = 0; t < 3; t++) {
    kgl_second s;
    memset(&s, 0, sizeof s);
    s.t = t;
    for (int row = 0; row < KGL_ROWS; row++) {
      const int64_t lat = base_us * (row + 1) + t;
      s.row[row].requests = 50;
      s.row[row].mismatches = row == KGL_INVALID ? t : 0;
      s.row[row].p50 = lat;
      s.row[row].p99 = lat * 3;
      for (int k = 0; k < 50; k++) {
        kgl_hist_record(&r->cls[row].latency, lat + k * k);
      }
      r->cls[row].requests += 50;
    }
    assert_int_equal(kgl_result_add_second(r, &s), 0);
  }
  r->nsamples = 1;
  kgl_sample *sm = &r->samples[0];
  sm->cls = KGL_INVALID;
  sm->status = 200;
  sm->expected_status = 401;
  snprintf(sm->expected_code, sizeof sm->expected_code, "invalid_api_key");
  snprintf(sm->code, sizeof sm->code, HOSTILE);
  snprintf(sm->detail, sizeof sm->detail, "body " HOSTILE);
  snprintf(sm->key, sizeof sm->key, "sk_live_****Ab3x");
  if (with_threshold) {
    r->nthresholds = 2;
    snprintf(r->thresholds[0].expr, sizeof r->thresholds[0].expr,
             "valid.p99<50ms");
    r->thresholds[0].actual = 1.5;
    r->thresholds[0].holds = 1;
    snprintf(r->thresholds[1].expr, sizeof r->thresholds[1].expr,
             "mismatches==0");
    r->thresholds[1].actual = 3;
    r->thresholds[1].holds = 0;
  }
}

static char *page(const kgl_result *run, const kgl_result *base) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  assert_int_equal(kgl_html_write(run, base, f), 0);
  assert_int_equal(fclose(f), 0);
  return buf;
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(hay, needle); p != NULL;
       p = strstr(p + 1, needle)) {
    n++;
  }
  return n;
}

/* assert_well_formed — every start tag closed in order (or self-closed),
 * the doctype aside, attribute values quoted: what an XML parser needs. */
static void assert_well_formed(const char *html) {
  const char *stack[64];
  size_t depth = 0;
  for (const char *p = strchr(html, '<'); p != NULL; p = strchr(p + 1, '<')) {
    if (strncmp(p, "<!DOCTYPE html>", 15) == 0) {
      continue;
    }
    const char *end = strchr(p, '>');
    assert_non_null(end);
    assert_null(memchr(p + 1, '<', (size_t)(end - p - 1))); /* no < inside */
    if (p[1] == '/') {
      assert_true(depth > 0);
      depth--;
      const size_t n = strcspn(p + 2, ">");
      if (strncmp(stack[depth], p + 2, n) != 0 ||
          (stack[depth][n] != ' ' && stack[depth][n] != '>')) {
        fail_msg("</%.*s> closes <%.20s", (int)n, p + 2, stack[depth]);
      }
    } else if (end[-1] != '/') {
      assert_true(depth < 64);
      stack[depth++] = p + 1;
    }
  }
  assert_int_equal(depth, 0);
}

static void the_page_is_self_contained_and_escapes_every_text(void **s) {
  (void)s;
  kgl_result r;
  result(&r, 1000, 1);
  char *html = page(&r, NULL);
  assert_true(strncmp(html, "<!DOCTYPE html>\n<html lang=\"en\">", 32) == 0);
  assert_null(strstr(html, "<script"));
  assert_null(strstr(html, "<x"));
  assert_null(strstr(html, "href="));
  assert_null(strstr(html, "src="));
  assert_null(strstr(html, "url("));
  assert_null(strstr(html, "@import"));
  assert_null(strstr(html, "xmlns"));
  /* the target is text, escaped, and the only URL in the page */
  assert_int_equal(count(html, "http://"), 1);
  assert_int_equal(count(html, "https://"), 0);
  assert_non_null(strstr(
      html, "http://127.0.0.1:1/api?q=&lt;script&gt;x&lt;/script&gt;&amp;"
            "&quot;&#39;"));
  /* a sample's code and detail too */
  assert_int_equal(count(html, "&lt;script&gt;x&lt;/script&gt;"), 3);
  assert_well_formed(html);
  free(html);
  kgl_result_free(&r);
}

/* The code --expect wants is the user's text: a key typed there shows
 * masked in the page (review F5: "401 sk_live_..." was drawn whole). */
static void a_key_given_as_the_expected_code_is_masked(void **s) {
  (void)s;
  kgl_result r;
  result(&r, 1000, 0);
  snprintf(r.samples[0].expected_code, sizeof r.samples[0].expected_code,
           "sk_live_8yDoYITcMsb9cvgQnkiIOqFeUXXd9j0hM6GO");
  char *html = page(&r, NULL);
  assert_null(strstr(html, "8yDoYITc"));
  assert_non_null(strstr(html, "401 sk_live_****M6GO"));
  free(html);
  /* a bare body: no prefix rule sees it */
  snprintf(r.samples[0].expected_code, sizeof r.samples[0].expected_code,
           "8yDoYITcMsb9cvgQnkiIOqFeUXXd9j0hM6GO");
  html = page(&r, NULL);
  assert_null(strstr(html, "8yDoYITc"));
  assert_non_null(strstr(html, "401 ****"));
  free(html);
  kgl_result_free(&r);
}

static void the_page_holds_classes_thresholds_and_charts(void **s) {
  (void)s;
  kgl_result r;
  result(&r, 1000, 1);
  char *html = page(&r, NULL);
  static const char *const want[] = {"<td>valid</td>",
                                     "<td>invalid</td>",
                                     "<td>missing</td>",
                                     "<td>expired</td>",
                                     "<td>all</td>",
                                     "<code>valid.p99&lt;50ms</code>",
                                     "<td class=\"pass\">pass</td>",
                                     "<td class=\"fail\">FAIL</td>",
                                     "1 of 2 hold",
                                     "id=\"chart-percentiles\"",
                                     "id=\"rps\"",
                                     "id=\"mismatches\"",
                                     "id=\"p99\"",
                                     ">99.9%<",
                                     "sk_live_****Ab3x",
                                     "invalid_api_key"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    if (strstr(html, want[i]) == NULL) {
      fail_msg("the page lacks %s", want[i]);
    }
  }
  /* one percentile line per class and the overall row; no dashes alone */
  assert_int_equal(count(html, "<path class=\"line valid\" d=\"M"), 4);
  assert_int_equal(count(html, " old\""), 0);
  assert_null(strstr(html, "d=\"\""));
  assert_null(strstr(html, "Compared with the baseline"));
  free(html);
  kgl_result_free(&r);
}

/* The rps chart plots what the table's rps is, responses per second (a
 * request that got no response is not throughput): it plotted requests,
 * timeouts included, twice the table's figure when half timed out. */
static void the_rps_chart_plots_the_tables_rps(void **s) {
  (void)s;
  kgl_result r;
  result(&r, 1000, 0);
  for (size_t i = 0; i < r.nseries; i++) {
    for (int row = 0; row < KGL_ROWS; row++) {
      r.series[i].row[row].errors = 25; /* of 50 requests a second */
    }
  }
  for (int row = 0; row < KGL_ROWS; row++) {
    r.cls[row].errors = 75;
  }
  assert_true(fabs(kgl_result_rps(&r, KGL_VALID) - 25.0) < 1e-9);
  char *html = page(&r, NULL);
  const char *sec = strstr(html, "<section id=\"rps\">");
  assert_non_null(sec);
  const char *end = strstr(sec, "</section>");
  assert_non_null(end);
  const size_t n = (size_t)(end - sec);
  char *chart = strndup(sec, n);
  assert_non_null(strstr(chart, "<h2>Responses per second (rps)</h2>"));
  /* 25 a second: the y axis ends at 30 (0, 10, 20, 30), not at 60 */
  assert_non_null(strstr(chart, ">30</text>"));
  assert_null(strstr(chart, ">60</text>"));
  assert_null(strstr(chart, ">40</text>"));
  free(chart);
  free(html);
  kgl_result_free(&r);
}

static void a_baseline_is_drawn_dashed_with_the_verdicts(void **s) {
  (void)s;
  kgl_result run, base;
  result(&run, 2000, 0);
  result(&base, 1000, 0);
  char *html = page(&run, &base);
  assert_non_null(strstr(html, "baseline (dashed)"));
  assert_non_null(strstr(html, "Compared with the baseline"));
  /* three seconds a side: too short for a verdict */
  assert_non_null(strstr(html, "<td class=\"inconclusive\">inconclusive"));
  assert_int_equal(count(html, "<path class=\"line valid old\" d=\"M"), 4);
  assert_int_equal(count(html, "<path class=\"line valid\" d=\"M"), 4);
  assert_non_null(strstr(html, "No threshold outcome"));
  assert_well_formed(html);
  free(html);
  kgl_result_free(&run);
  kgl_result_free(&base);
}

static void an_empty_result_still_makes_a_page(void **s) {
  (void)s;
  kgl_result r;
  assert_int_equal(kgl_result_init(&r), 0);
  char *html = page(&r, NULL);
  assert_non_null(strstr(html, "No response was measured."));
  assert_non_null(strstr(html, "No per-second figures"));
  assert_well_formed(html);
  free(html);
  kgl_result_free(&r);
}

static void writing_where_it_cannot_says_so_in_one_line(void **s) {
  (void)s;
  kgl_result r;
  assert_int_equal(kgl_result_init(&r), 0);
  char why[256];
  assert_int_equal(
      kgl_html_write_file(&r, NULL, "/nonexistent/dir/r.html", why, sizeof why),
      -1);
  assert_non_null(strstr(why, "/nonexistent/dir/r.html: cannot be written"));
  assert_null(strchr(why, '\n'));
  kgl_result_free(&r);
}

#define T(f) cmocka_unit_test(f)
int main(void) {
  const struct CMUnitTest tests[] = {
      T(escaping_covers_the_five_and_unprintable_bytes),
      T(the_page_is_self_contained_and_escapes_every_text),
      T(the_page_holds_classes_thresholds_and_charts),
      T(the_rps_chart_plots_the_tables_rps),
      T(a_baseline_is_drawn_dashed_with_the_verdicts),
      T(an_empty_result_still_makes_a_page),
      T(a_key_given_as_the_expected_code_is_masked),
      T(writing_where_it_cannot_says_so_in_one_line),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
