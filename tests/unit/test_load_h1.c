/*
 * tests/unit/test_load_h1.c — the HTTP/1.1 response parser of keygate load
 * (load/src/h1.c: kgl_h1_reset, kgl_h1_feed, kgl_h1_eof, kgl_h1_waiting,
 * kgl_h1_response).
 *
 * What it specifies: every framing (Content-Length, chunked with extensions
 * and trailers, the close, 204/304, HEAD, 1xx interim responses), the fields
 * the verifier reads (first value kept, duplicates counted, names matched
 * without case, OWS trimmed), the body kept up to KGL_H1_BODY_KEEP, every
 * malformed input refused, and the incremental contract: the same result
 * whatever the split, nothing consumed while the head is incomplete, and a
 * response followed by more bytes reports its own end in *used.
 *
 * Every input handed to kgl_h1_feed is a guarded copy (guard.h): a read one
 * byte past it (or, for GUARD_BEFORE, before it) faults at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "internal.h"

static const guard_side SIDES[] = {GUARD_AFTER, GUARD_BEFORE};

#define RID "req_ABCDEFGHIJKLMNOPQRSTUVWX"
#define BODY401                                                                \
  "{\"error\":{\"code\":\"invalid_api_key\",\"message\":\"The API key is "     \
  "not valid.\",\"request_id\":\"" RID "\"}}"
#define WWW401 "Bearer realm=\"keygate\", error=\"invalid_token\""

/* ---- harness ------------------------------------------------------------ */

/* One response parsed: the parser's state and what the calls returned. */
typedef struct run {
  kgl_h1 p;
  kgl_h1_rc rc;
  size_t used; /* bytes consumed in all, as the caller counts them */
} run;

/* feed — copy (s, len) against a guard page on `side` and feed it. */
static kgl_h1_rc feed(kgl_h1 *p, const char *s, size_t len, guard_side side,
                      size_t *used) {
  const char *g = guard_copy_side(s, len, side);
  *used = (size_t)-1;
  return kgl_h1_feed(p, g, len, used);
}

/* parse — reset, then one call on the whole input. */
static void parse(run *r, const char *s, size_t len, int keep_body,
                  int head_request, guard_side side) {
  kgl_h1_reset(&r->p, keep_body, head_request);
  r->rc = feed(&r->p, s, len, side, &r->used);
}

/*
 * deliver — what the HTTP/1.1 session does: bytes arrive in pieces ending
 * at cuts[0] < cuts[1] < ... (the last is len); the bytes not consumed are
 * kept and the next piece is appended to them; kgl_h1_feed is called again
 * while it consumes something. Stops at DONE or ERROR. With eof, the peer
 * closes after the last piece. r->used is the bytes consumed in all.
 */
static void deliver(run *r, const char *s, size_t len, const size_t *cuts,
                    size_t ncuts, int keep_body, int head_request, int eof,
                    guard_side side) {
  kgl_h1_reset(&r->p, keep_body, head_request);
  r->rc = KGL_H1_MORE;
  r->used = 0;
  size_t have = 0; /* bytes of s received so far */
  for (size_t i = 0; i < ncuts && r->rc == KGL_H1_MORE; i++) {
    assert_true(cuts[i] >= have && cuts[i] <= len);
    have = cuts[i];
    for (;;) {
      size_t used = 0;
      const size_t pending = have - r->used;
      r->rc = feed(&r->p, s + r->used, pending, side, &used);
      assert_true(used <= pending);
      r->used += used;
      if (r->rc != KGL_H1_MORE || used == 0 || r->used == have) {
        break;
      }
    }
  }
  if (eof && r->rc == KGL_H1_MORE) {
    r->rc = kgl_h1_eof(&r->p);
  }
}

/* deliver_split — the input in two pieces, cut at k. */
static void deliver_split(run *r, const char *s, size_t len, size_t k, int eof,
                          guard_side side) {
  const size_t cuts[2] = {k, len};
  deliver(r, s, len, cuts, 2, 1, 0, eof, side);
}

/* deliver_bytewise — the input one byte at a time. */
static void deliver_bytewise(run *r, const char *s, size_t len, int eof,
                             guard_side side) {
  size_t *cuts = malloc((len + 1) * sizeof *cuts);
  assert_non_null(cuts);
  for (size_t i = 0; i < len; i++) {
    cuts[i] = i + 1;
  }
  deliver(r, s, len, cuts, len, 1, 0, eof, side);
  free(cuts);
}

static int bytes_eq(const char *p, size_t n, const char *want) {
  const size_t wn = strlen(want);
  return n == wn && (n == 0 || memcmp(p, want, n) == 0);
}

#define assert_bytes(p, n, want)                                               \
  do {                                                                         \
    if (!bytes_eq((p), (n), (want))) {                                         \
      fail_msg("got \"%.*s\" (len %zu), want \"%s\"", (int)(n), (p),           \
               (size_t)(n), (want));                                           \
    }                                                                          \
  } while (0)

/* Two parses gave the same response (what kgl_h1_response shows). */
static int same_response(const kgl_h1 *a, const kgl_h1 *b) {
  kgl_response x, y;
  kgl_h1_response(a, &x);
  kgl_h1_response(b, &y);
  return x.status == y.status && a->close == b->close &&
         x.content_type_len == y.content_type_len &&
         x.content_type_count == y.content_type_count &&
         memcmp(x.content_type, y.content_type, x.content_type_len) == 0 &&
         x.www_authenticate_len == y.www_authenticate_len &&
         x.www_authenticate_count == y.www_authenticate_count &&
         memcmp(x.www_authenticate, y.www_authenticate,
                x.www_authenticate_len) == 0 &&
         x.request_id_len == y.request_id_len &&
         x.request_id_count == y.request_id_count &&
         memcmp(x.request_id, y.request_id, x.request_id_len) == 0 &&
         x.body_len == y.body_len && x.body_truncated == y.body_truncated &&
         memcmp(x.body, y.body, x.body_len) == 0;
}

static const char *rc_name(kgl_h1_rc rc) {
  switch (rc) {
  case KGL_H1_MORE:
    return "MORE";
  case KGL_H1_DONE:
    return "DONE";
  case KGL_H1_ERROR:
    return "ERROR";
  default:
    return "?";
  }
}

/* ---- framing ------------------------------------------------------------ */

typedef struct good_case {
  const char *name;
  const char *resp;
  int head_request; /* the request was HEAD */
  int eof;          /* the body runs to the close: kgl_h1_eof after it */
  size_t extra;     /* trailing bytes that are the next response's */
  int status;
  const char *body;
  int close;
} good_case;

#define OK200 "HTTP/1.1 200 OK\r\n"

static const good_case GOOD[] = {
    {"content_length",
     "HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\n"
     "hello",
     0, 0, 0, 401, "hello", 0},
    {"content_length_zero", OK200 "Content-Length: 0\r\n\r\n", 0, 0, 0, 200, "",
     0},
    {"content_length_with_leading_zeros",
     OK200 "Content-Length: 003\r\n\r\nabc", 0, 0, 0, 200, "abc", 0},
    {"identical_content_lengths_twice",
     OK200 "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 0, 0, 0, 200,
     "abc", 0},
    {"chunked",
     OK200 "Transfer-Encoding: chunked\r\n\r\n"
           "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
     0, 0, 0, 200, "hello world", 0},
    {"chunked_upper_case_hex_and_name",
     OK200 "TRANSFER-ENCODING: Chunked\r\n\r\n"
           "A\r\n0123456789\r\n0\r\n\r\n",
     0, 0, 0, 200, "0123456789", 0},
    {"chunked_with_extensions",
     OK200 "Transfer-Encoding: chunked\r\n\r\n"
           "5;a=b\r\nhello\r\n"
           "1 ; name=\"quoted value\";flag\r\n!\r\n"
           "0;last=1\r\n\r\n",
     0, 0, 0, 200, "hello!", 0},
    {"chunked_with_trailers",
     OK200 "Transfer-Encoding: chunked\r\n\r\n"
           "3\r\nabc\r\n0\r\nX-Checksum: 1234\r\nX-Other: t\r\n\r\n",
     0, 0, 0, 200, "abc", 0},
    {"chunked_with_leading_zeros_in_size",
     OK200 "Transfer-Encoding: chunked\r\n\r\n0003\r\nabc\r\n000\r\n\r\n", 0, 0,
     0, 200, "abc", 0},
    {"chunked_empty_body", OK200 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     0, 0, 0, 200, "", 0},
    {"chunked_with_bare_lf",
     "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"
     "2\nab\n0\n\n",
     0, 0, 0, 200, "ab", 0},
    {"body_to_the_close", OK200 "Content-Type: text/plain\r\n\r\nuntil close",
     0, 1, 0, 200, "until close", 1},
    {"empty_body_to_the_close", OK200 "\r\n", 0, 1, 0, 200, "", 1},
    {"no_content_204", "HTTP/1.1 204 No Content\r\n\r\n", 0, 0, 0, 204, "", 0},
    {"no_content_204_ignores_its_length",
     "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", 0, 0, 0, 204, "",
     0},
    {"not_modified_304_with_a_length",
     "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 0, 0, 0, 304,
     "", 0},
    {"not_modified_304_with_chunked",
     "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 0, 0,
     304, "", 0},
    {"head_request_with_a_length", OK200 "Content-Length: 100\r\n\r\n", 1, 0, 0,
     200, "", 0},
    {"head_request_with_chunked", OK200 "Transfer-Encoding: chunked\r\n\r\n", 1,
     0, 0, 200, "", 0},
    {"head_request_without_framing", "HTTP/1.1 401 Unauthorized\r\n\r\n", 1, 0,
     0, 401, "", 0},
    {"continue_100_then_the_response",
     "HTTP/1.1 100 Continue\r\n\r\n"
     "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
     0, 0, 0, 201, "ok", 0},
    {"several_interim_responses",
     "HTTP/1.1 100 Continue\r\n\r\n"
     "HTTP/1.1 102 Processing\r\nX-Request-Id: interim\r\n\r\n"
     "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
     "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
     0, 0, 0, 200, "x", 0},
    {"interim_response_for_a_head_request",
     "HTTP/1.1 100 Continue\r\n\r\n" OK200 "Content-Length: 9\r\n\r\n", 1, 0, 0,
     200, "", 0},
    {"http_1_0_closes_by_default",
     "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n1", 0, 0, 0, 200, "1", 1},
    {"http_1_0_keep_alive_keeps_it_open",
     "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\n1",
     0, 0, 0, 200, "1", 0},
    {"connection_close",
     OK200 "Connection: close\r\nContent-Length: 1\r\n\r\n1", 0, 0, 0, 200, "1",
     1},
    {"connection_close_any_case",
     OK200 "CONNECTION: Close\r\nContent-Length: 1\r\n\r\n1", 0, 0, 0, 200, "1",
     1},
    {"status_line_without_reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
     0, 0, 0, 200, "", 0},
    {"status_line_with_empty_reason",
     "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", 0, 0, 0, 200, "", 0},
    {"reason_with_spaces_tabs_and_obs_text",
     "HTTP/1.1 404 Not\tF\xc3\xb6und here\r\nContent-Length: 0\r\n\r\n", 0, 0,
     0, 404, "", 0},
    {"bare_lf_line_ends", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 0, 0, 0,
     200, "ok", 0},
    {"status_599", "HTTP/1.1 599 Whatever\r\nContent-Length: 0\r\n\r\n", 0, 0,
     0, 599, "", 0},
    {"content_length_followed_by_the_next_response",
     OK200 "Content-Length: 2\r\n\r\nok" OK200 "Content-Length: 0\r\n\r\n", 0,
     0, sizeof(OK200 "Content-Length: 0\r\n\r\n") - 1, 200, "ok", 0},
    {"chunked_followed_by_the_next_response",
     OK200 "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP/1.1 2",
     0, 0, 10, 200, "ok", 0},
    {"no_content_followed_by_the_next_response",
     "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 0, 0,
     sizeof("HTTP/1.1 204 No Content\r\n\r\n") - 1, 204, "", 0},
    {"head_response_followed_by_the_next_response",
     OK200 "Content-Length: 5\r\n\r\nHTTP/", 1, 0, 5, 200, "", 0},
    {"interim_and_final_followed_by_bytes",
     "HTTP/1.1 100 Continue\r\n\r\n" OK200 "Content-Length: 1\r\n\r\nxyz", 0, 0,
     2, 200, "x", 0},
};

static void every_framing_parses_to_its_body(void **state) {
  (void)state;
  int failures = 0;
  for (size_t i = 0; i < sizeof GOOD / sizeof GOOD[0]; i++) {
    const good_case *c = &GOOD[i];
    const size_t len = strlen(c->resp);
    for (size_t s = 0; s < 2; s++) {
      run r;
      parse(&r, c->resp, len, 1, c->head_request, SIDES[s]);
      if (c->eof) {
        /* the body runs until the peer closes: all of it is consumed */
        if (r.rc != KGL_H1_MORE || r.used != len) {
          print_error("%s: before the close got %s used %zu, want MORE %zu\n",
                      c->name, rc_name(r.rc), r.used, len);
          failures++;
          continue;
        }
        r.rc = kgl_h1_eof(&r.p);
      }
      kgl_response res;
      kgl_h1_response(&r.p, &res);
      const size_t want_used = len - c->extra;
      if (r.rc != KGL_H1_DONE || r.used != want_used ||
          res.status != c->status || r.p.close != c->close ||
          !bytes_eq(res.body, res.body_len, c->body) || res.body_truncated) {
        print_error("%s (side %zu): got %s used %zu status %d close %d body "
                    "\"%.*s\"; want DONE used %zu status %d close %d body "
                    "\"%s\" (%s)\n",
                    c->name, s, rc_name(r.rc), r.used, res.status, r.p.close,
                    (int)res.body_len, res.body, want_used, c->status, c->close,
                    c->body, r.p.error ? r.p.error : "");
        failures++;
      }
    }
    guard_free_all();
  }
  assert_int_equal(failures, 0);
}

static void a_length_body_arrives_in_pieces_as_they_come(void **state) {
  (void)state;
  static const char head[] = OK200 "Content-Length: 10\r\n\r\n";
  run r;
  parse(&r, head, sizeof head - 1, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_MORE);
  assert_int_equal(r.used, sizeof head - 1);
  assert_int_equal(r.p.remaining, 10);
  size_t used;
  assert_int_equal(feed(&r.p, "0123", 4, GUARD_AFTER, &used), KGL_H1_MORE);
  assert_int_equal(used, 4);
  assert_int_equal(r.p.remaining, 6);
  /* bytes beyond the body are left to the caller */
  assert_int_equal(feed(&r.p, "456789HTTP", 10, GUARD_AFTER, &used),
                   KGL_H1_DONE);
  assert_int_equal(used, 6);
  assert_bytes(r.p.body, r.p.body_len, "0123456789");
}

static void a_body_to_the_close_is_done_only_at_eof(void **state) {
  (void)state;
  static const char resp[] = "HTTP/1.1 500 Oops\r\n\r\nbody";
  run r;
  parse(&r, resp, sizeof resp - 1, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_MORE);
  assert_int_equal(r.used, sizeof resp - 1);
  assert_int_equal(r.p.close, 1);
  size_t used;
  assert_int_equal(feed(&r.p, " more", 5, GUARD_AFTER, &used), KGL_H1_MORE);
  assert_int_equal(used, 5);
  assert_int_equal(kgl_h1_eof(&r.p), KGL_H1_DONE);
  assert_int_equal(r.p.status, 500);
  assert_bytes(r.p.body, r.p.body_len, "body more");
}

static void eof_before_the_response_ends_is_an_error(void **state) {
  (void)state;
  static const char *const CUT[] = {
      "",                                         /* nothing yet */
      "HTTP/1.1 200 OK\r\nContent-Le",            /* in the head */
      OK200 "Content-Length: 5\r\n\r\nhel",       /* in a length body */
      OK200 "Transfer-Encoding: chunked\r\n\r\n", /* before the first chunk */
      OK200 "Transfer-Encoding: chunked\r\n\r\n5\r\nhel",
      OK200 "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
      OK200 "Transfer-Encoding: chunked\r\n\r\n0\r\n", /* in the trailer */
      "HTTP/1.1 100 Continue\r\n\r\n",                 /* after an interim */
  };
  for (size_t i = 0; i < sizeof CUT / sizeof CUT[0]; i++) {
    run r;
    parse(&r, CUT[i], strlen(CUT[i]), 1, 0, GUARD_AFTER);
    if (r.rc != KGL_H1_MORE || kgl_h1_eof(&r.p) != KGL_H1_ERROR) {
      fail_msg("cut response %zu: want MORE then an error at eof", i);
    }
    assert_non_null(r.p.error);
  }
}

static void a_101_switching_protocols_is_refused(void **state) {
  (void)state;
  static const char resp[] =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n";
  run r;
  parse(&r, resp, sizeof resp - 1, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_ERROR);
  assert_non_null(r.p.error);
}

static void interim_response_fields_do_not_reach_the_final_one(void **state) {
  (void)state;
  static const char resp[] =
      "HTTP/1.1 100 Continue\r\nX-Request-Id: interim\r\nConnection: "
      "close\r\nContent-Type: text/plain\r\n\r\n" OK200 "X-Request-Id: " RID
      "\r\nContent-Length: 0\r\n\r\n";
  run r;
  parse(&r, resp, sizeof resp - 1, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_DONE);
  assert_int_equal(r.p.status, 200);
  assert_int_equal(r.p.request_id_count, 1);
  assert_bytes(r.p.request_id, r.p.request_id_len, RID);
  assert_int_equal(r.p.content_type_count, 0);
  assert_int_equal(r.p.close, 0);
}

static void an_interim_response_alone_is_consumed(void **state) {
  (void)state;
  /* the 100 is consumed; the final head, incomplete, is left to the
   * caller */
  static const char c100[] = "HTTP/1.1 100 Continue\r\n\r\n";
  static const char resp[] = "HTTP/1.1 100 Continue\r\n\r\n" OK200 "Content-Le";
  run r;
  parse(&r, resp, sizeof resp - 1, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_MORE);
  assert_int_equal(r.used, sizeof c100 - 1);
  assert_true(kgl_h1_waiting(&r.p));
}

static void connection_close_among_other_options_closes(void **state) {
  (void)state;
  /* BUG (reported): Connection is a list (RFC 9110 §7.6.1); "close" as one
   * of its options means the server closes after this response, but only a
   * value that is exactly "close" is seen */
  static const char *const VALUES[] = {"keep-alive, close", "close, Upgrade",
                                       "Upgrade,close"};
  int failures = 0;
  for (size_t i = 0; i < sizeof VALUES / sizeof VALUES[0]; i++) {
    char resp[256];
    const int n = snprintf(resp, sizeof resp,
                           OK200 "Connection: %s\r\nContent-Length: 0\r\n\r\n",
                           VALUES[i]);
    run r;
    parse(&r, resp, (size_t)n, 1, 0, GUARD_AFTER);
    assert_int_equal(r.rc, KGL_H1_DONE);
    if (r.p.close != 1) {
      print_error("Connection: %s: close %d, want 1\n", VALUES[i], r.p.close);
      failures++;
    }
  }
  assert_int_equal(failures, 0);
}

/* ---- bad chunk sizes that are not refused ----------------------------- */

static void
a_chunk_size_is_read_whole_however_many_leading_zeros(void **state) {
  (void)state;
  /* BUG (reported): after 99 hex digits the parser counts the line as in
   * its extensions, so the 101st digit is skipped and the size reads 0 */
  /* 100 leading zeros, then 5: the chunk holds five bytes, or the size is
   * refused; it must never be read as 0 (the last chunk) */
  char resp[512];
  int n = snprintf(resp, sizeof resp, "%s",
                   OK200 "Transfer-Encoding: chunked\r\n\r\n");
  memset(resp + n, '0', 100);
  n += 100;
  n += snprintf(resp + n, sizeof resp - (size_t)n, "5\r\nhello\r\n0\r\n\r\n");
  run r;
  parse(&r, resp, (size_t)n, 1, 0, GUARD_AFTER);
  if (r.rc == KGL_H1_ERROR) {
    return; /* refusing such a size is fine */
  }
  assert_int_equal(r.rc, KGL_H1_DONE);
  assert_int_equal(r.used, n);
  assert_bytes(r.p.body, r.p.body_len, "hello");
}

static void a_chunk_size_line_is_digits_then_extensions(void **state) {
  (void)state;
  /* BUG (reported): after the digits, any byte but ';' BWS or CRLF is
   * malformed (RFC 9112 §7.1: chunk-size [ chunk-ext ] CRLF, chunk-ext =
   * *( BWS ";" BWS ext-name ...)); the parser takes a space, a tab or a
   * bare CR as the start of an extension and then accepts anything */
  static const char *const LINES[] = {
      "5 5\r\n",  /* a second number */
      "5 x\r\n",  /* text, no ';' */
      "5\rX\r\n", /* a bare CR inside the line */
  };
  int failures = 0;
  for (size_t i = 0; i < sizeof LINES / sizeof LINES[0]; i++) {
    char resp[256];
    const int n = snprintf(resp, sizeof resp,
                           OK200 "Transfer-Encoding: chunked\r\n\r\n%s"
                                 "hello\r\n0\r\n\r\n",
                           LINES[i]);
    for (size_t s = 0; s < 2; s++) {
      run r;
      parse(&r, resp, (size_t)n, 1, 0, SIDES[s]);
      if (r.rc != KGL_H1_ERROR) {
        print_error("chunk-size line %zu (side %zu): got %s, want ERROR\n", i,
                    s, rc_name(r.rc));
        failures++;
      }
    }
  }
  assert_int_equal(failures, 0);
}

static void a_chunk_extension_may_hold_obs_text(void **state) {
  (void)state;
  /* BUG (reported): the extension check compares a plain (signed) char
   * with 0x20, so every byte >= 0x80 counts as a control byte */
  /* RFC 9112 §7.1.1: chunk-ext-val is token / quoted-string, and a
   * quoted-string's qdtext includes obs-text (%x80-FF) */
  static const char resp[] = OK200 "Transfer-Encoding: chunked\r\n\r\n"
                                   "3;name=\"caf\xc3\xa9\"\r\nabc\r\n0\r\n\r\n";
  run r;
  parse(&r, resp, sizeof resp - 1, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_DONE);
  assert_bytes(r.p.body, r.p.body_len, "abc");
}

/* ---- the fields it keeps ------------------------------------------------ */

static void the_fields_the_verifier_reads_are_kept(void **state) {
  (void)state;
  static const char resp[] = "HTTP/1.1 401 Unauthorized\r\n"
                             "Date: Mon, 30 Nov 2026 12:00:00 GMT\r\n"
                             "Content-Type: application/json\r\n"
                             "WWW-Authenticate: " WWW401 "\r\n"
                             "X-Request-Id: " RID "\r\n"
                             "Content-Length: 118\r\n"
                             "\r\n" BODY401;
  assert_int_equal(strlen(BODY401), 118);
  for (size_t s = 0; s < 2; s++) {
    run r;
    parse(&r, resp, sizeof resp - 1, 1, 0, SIDES[s]);
    assert_int_equal(r.rc, KGL_H1_DONE);
    assert_int_equal(r.used, sizeof resp - 1);
    kgl_response res;
    kgl_h1_response(&r.p, &res);
    assert_int_equal(res.status, 401);
    assert_bytes(res.content_type, res.content_type_len, "application/json");
    assert_int_equal(res.content_type_count, 1);
    assert_bytes(res.www_authenticate, res.www_authenticate_len, WWW401);
    assert_int_equal(res.www_authenticate_count, 1);
    assert_bytes(res.request_id, res.request_id_len, RID);
    assert_int_equal(res.request_id_count, 1);
    assert_bytes(res.body, res.body_len, BODY401);
    assert_int_equal(res.body_truncated, 0);
  }
}

static void kgl_h1_response_spans_point_into_the_parser(void **state) {
  (void)state;
  /* the parser copies what it keeps: the caller's buffer may be reused */
  static const char resp[] = OK200 "Content-Type: a/b\r\nX-Request-Id: r\r\n"
                                   "Content-Length: 2\r\n\r\nhi";
  run r;
  parse(&r, resp, sizeof resp - 1, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_DONE);
  kgl_response res;
  kgl_h1_response(&r.p, &res);
  assert_ptr_equal(res.content_type, r.p.content_type);
  assert_ptr_equal(res.www_authenticate, r.p.www_authenticate);
  assert_ptr_equal(res.request_id, r.p.request_id);
  assert_ptr_equal(res.body, r.p.body);
  assert_bytes(res.content_type, res.content_type_len, "a/b");
}

static void a_repeated_field_keeps_its_first_value_and_counts(void **state) {
  (void)state;
  static const char resp[] = OK200 "X-Request-Id: first\r\n"
                                   "Content-Type: text/html\r\n"
                                   "x-request-id: second\r\n"
                                   "WWW-Authenticate: Basic realm=\"a\"\r\n"
                                   "X-REQUEST-ID: third\r\n"
                                   "content-type: application/json\r\n"
                                   "Www-Authenticate: Bearer realm=\"b\"\r\n"
                                   "Content-Length: 0\r\n\r\n";
  run r;
  parse(&r, resp, sizeof resp - 1, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_DONE);
  assert_bytes(r.p.request_id, r.p.request_id_len, "first");
  assert_int_equal(r.p.request_id_count, 3);
  assert_bytes(r.p.content_type, r.p.content_type_len, "text/html");
  assert_int_equal(r.p.content_type_count, 2);
  assert_bytes(r.p.www_authenticate, r.p.www_authenticate_len,
               "Basic realm=\"a\"");
  assert_int_equal(r.p.www_authenticate_count, 2);
}

static void field_names_match_in_any_case(void **state) {
  (void)state;
  static const char *const NAMES[][3] = {
      {"content-type", "www-authenticate", "x-request-id"},
      {"CONTENT-TYPE", "WWW-AUTHENTICATE", "X-REQUEST-ID"},
      {"cOnTeNt-TyPe", "wWw-AuThEnTiCaTe", "x-ReQuEsT-iD"},
  };
  for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++) {
    char resp[512];
    const int n = snprintf(resp, sizeof resp,
                           OK200 "%s: t/x\r\n%s: Bearer\r\n%s: rid\r\n"
                                 "content-LENGTH: 1\r\n\r\nz",
                           NAMES[i][0], NAMES[i][1], NAMES[i][2]);
    run r;
    parse(&r, resp, (size_t)n, 1, 0, GUARD_AFTER);
    assert_int_equal(r.rc, KGL_H1_DONE);
    assert_bytes(r.p.content_type, r.p.content_type_len, "t/x");
    assert_bytes(r.p.www_authenticate, r.p.www_authenticate_len, "Bearer");
    assert_bytes(r.p.request_id, r.p.request_id_len, "rid");
    assert_bytes(r.p.body, r.p.body_len, "z");
  }
}

static void names_that_only_resemble_the_read_ones_are_ignored(void **state) {
  (void)state;
  /* same lengths as the read names; a byte that ORs to the same letter
   * (such as '@' for '`') is no tchar, so the tchar names below differ */
  static const char resp[] = OK200 "Content-Typf: a\r\n"
                                   "X-Request-Ie: b\r\n"
                                   "XWW-Authenticate: c\r\n"
                                   "Content-Length2: 9\r\n"
                                   "Content_Length: 9\r\n"
                                   "Transfer-Encodinf: gzip\r\n"
                                   "Connectiom: close\r\n"
                                   "Content-Length: 0\r\n\r\n";
  run r;
  parse(&r, resp, sizeof resp - 1, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_DONE);
  assert_int_equal(r.p.content_type_count, 0);
  assert_int_equal(r.p.request_id_count, 0);
  assert_int_equal(r.p.www_authenticate_count, 0);
  assert_int_equal(r.p.close, 0);
}

static void field_values_lose_leading_and_trailing_ows(void **state) {
  (void)state;
  static const char resp[] =
      OK200 "Content-Type:application/json\r\n"
            "X-Request-Id: \t " RID " \t \r\n"
            "WWW-Authenticate:\tBearer  realm=\"a b\"\t\n"
            "Content-Length:   4 \t\r\n\r\nbody";
  run r;
  parse(&r, resp, sizeof resp - 1, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_DONE);
  assert_bytes(r.p.content_type, r.p.content_type_len, "application/json");
  assert_bytes(r.p.request_id, r.p.request_id_len, RID);
  /* inner whitespace stays */
  assert_bytes(r.p.www_authenticate, r.p.www_authenticate_len,
               "Bearer  realm=\"a b\"");
  assert_bytes(r.p.body, r.p.body_len, "body");
}

static void an_empty_field_value_is_kept_as_empty(void **state) {
  (void)state;
  static const char resp[] =
      OK200 "X-Request-Id:\r\nContent-Type: \t \r\nContent-Length: 0\r\n\r\n";
  run r;
  parse(&r, resp, sizeof resp - 1, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_DONE);
  assert_int_equal(r.p.request_id_count, 1);
  assert_int_equal(r.p.request_id_len, 0);
  assert_int_equal(r.p.content_type_count, 1);
  assert_int_equal(r.p.content_type_len, 0);
}

/* A head with the three kept fields of n_rid, n_ct and n_www bytes
 * (r, c and w), parsed. */
static void parse_long_fields(run *r, size_t n_rid, size_t n_ct, size_t n_www) {
  static char resp[8192];
  char rid[KGL_H1_REQUEST_ID_KEEP + 2], ct[KGL_H1_CONTENT_TYPE_KEEP + 2],
      www[KGL_H1_WWW_AUTHENTICATE_KEEP + 2];
  assert_true(n_rid < sizeof rid && n_ct < sizeof ct && n_www < sizeof www);
  memset(rid, 'r', n_rid);
  rid[n_rid] = '\0';
  memset(ct, 'c', n_ct);
  ct[n_ct] = '\0';
  memset(www, 'w', n_www);
  www[n_www] = '\0';
  const int n = snprintf(resp, sizeof resp,
                         OK200 "X-Request-Id: %s\r\nContent-Type: %s\r\n"
                               "WWW-Authenticate: %s\r\nContent-Length: 0\r\n"
                               "\r\n",
                         rid, ct, www);
  assert_true(n > 0 && (size_t)n < sizeof resp);
  parse(r, resp, (size_t)n, 1, 0, GUARD_AFTER);
  assert_int_equal(r->rc, KGL_H1_DONE);
}

static void a_field_value_that_fits_is_kept_whole(void **state) {
  (void)state;
  run r;
  parse_long_fields(&r, sizeof r.p.request_id, sizeof r.p.content_type,
                    sizeof r.p.www_authenticate);
  assert_int_equal(r.p.request_id_len, sizeof r.p.request_id);
  assert_int_equal(r.p.content_type_len, sizeof r.p.content_type);
  assert_int_equal(r.p.www_authenticate_len, sizeof r.p.www_authenticate);
  assert_int_equal(r.p.cut, 0);
  kgl_response resp;
  kgl_h1_response(&r.p, &resp);
  assert_int_equal(resp.cut, 0);
}

/* BUG (reported): a value longer than its buffer was cut silently, and the
 * verifier judged its start: "req_<24>" + 40 spaces + "x" passed as a
 * request id, a second error= past byte 512 went unseen. A value that does
 * not fit is marked cut (its KGL_MM_* bit), in the parser and in the
 * response the verifier reads. */
static void a_long_field_value_is_cut_and_marked(void **state) {
  (void)state;
  run r;
  parse_long_fields(&r, sizeof r.p.request_id + 1, sizeof r.p.content_type + 1,
                    sizeof r.p.www_authenticate + 1);
  assert_int_equal(r.p.request_id_len, sizeof r.p.request_id);
  assert_int_equal(r.p.content_type_len, sizeof r.p.content_type);
  assert_int_equal(r.p.www_authenticate_len, sizeof r.p.www_authenticate);
  assert_int_equal(r.p.request_id_count, 1);
  const unsigned all =
      KGL_MM_REQUEST_ID | KGL_MM_CONTENT_TYPE | KGL_MM_WWW_AUTH;
  assert_int_equal(r.p.cut, all);
  kgl_response resp;
  kgl_h1_response(&r.p, &resp);
  assert_int_equal(resp.cut, all);
  /* one at a time: each marks only its own kind */
  parse_long_fields(&r, sizeof r.p.request_id + 1, 16, 16);
  assert_int_equal(r.p.cut, KGL_MM_REQUEST_ID);
  parse_long_fields(&r, 28, sizeof r.p.content_type + 1, 16);
  assert_int_equal(r.p.cut, KGL_MM_CONTENT_TYPE);
  parse_long_fields(&r, 28, 16, sizeof r.p.www_authenticate + 1);
  assert_int_equal(r.p.cut, KGL_MM_WWW_AUTH);
}

/* The sizes docs/load.md promises: every conforming value fits. */
static void the_kept_fields_hold_every_conforming_value(void **state) {
  (void)state;
  assert_true(KGL_H1_REQUEST_ID_KEEP >= 28);
  assert_true(KGL_H1_CONTENT_TYPE_KEEP >= 256);
  assert_true(KGL_H1_WWW_AUTHENTICATE_KEEP >= 2048);
}

static void a_reset_forgets_the_previous_response(void **state) {
  (void)state;
  static const char first[] =
      "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nX-Request-Id: a\r\n"
      "Content-Type: t\r\nWWW-Authenticate: Bearer\r\nContent-Length: 1\r\n"
      "\r\nx";
  static const char second[] = OK200 "Content-Length: 0\r\n\r\n";
  run r;
  parse(&r, first, sizeof first - 1, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_DONE);
  parse(&r, second, sizeof second - 1, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_DONE);
  kgl_response res;
  kgl_h1_response(&r.p, &res);
  assert_int_equal(res.status, 200);
  assert_int_equal(r.p.close, 0);
  assert_int_equal(res.request_id_count, 0);
  assert_int_equal(res.request_id_len, 0);
  assert_int_equal(res.content_type_count, 0);
  assert_int_equal(res.www_authenticate_count, 0);
  assert_int_equal(res.body_len, 0);
}

/* ---- the body kept ------------------------------------------------------ */

/* A response with a body of n bytes ('a' + i % 26), framed by length or
 * chunked (in chunks of 1000). Returns its length; *out is malloc'd. */
static size_t body_response(size_t n, int chunked, char **out) {
  char *s = malloc(n * 2 + 256);
  assert_non_null(s);
  size_t o = 0;
  if (chunked) {
    o += (size_t)sprintf(s, OK200 "Transfer-Encoding: chunked\r\n\r\n");
    for (size_t i = 0; i < n;) {
      const size_t k = n - i < 1000 ? n - i : 1000;
      o += (size_t)sprintf(s + o, "%zx\r\n", k);
      for (size_t j = 0; j < k; j++) {
        s[o++] = (char)('a' + (i + j) % 26);
      }
      s[o++] = '\r';
      s[o++] = '\n';
      i += k;
    }
    o += (size_t)sprintf(s + o, "0\r\n\r\n");
  } else {
    o += (size_t)sprintf(s, OK200 "Content-Length: %zu\r\n\r\n", n);
    for (size_t j = 0; j < n; j++) {
      s[o++] = (char)('a' + j % 26);
    }
  }
  *out = s;
  return o;
}

static void
the_body_is_kept_up_to_body_keep_and_marked_truncated(void **state) {
  (void)state;
  static const size_t SIZES[] = {0,
                                 1,
                                 KGL_H1_BODY_KEEP - 1,
                                 KGL_H1_BODY_KEEP,
                                 KGL_H1_BODY_KEEP + 1,
                                 3 * KGL_H1_BODY_KEEP};
  for (int chunked = 0; chunked < 2; chunked++) {
    for (size_t i = 0; i < sizeof SIZES / sizeof SIZES[0]; i++) {
      char *s;
      const size_t len = body_response(SIZES[i], chunked, &s);
      run r;
      parse(&r, s, len, 1, 0, GUARD_AFTER);
      assert_int_equal(r.rc, KGL_H1_DONE);
      assert_int_equal(r.used, len);
      const size_t kept =
          SIZES[i] < KGL_H1_BODY_KEEP ? SIZES[i] : KGL_H1_BODY_KEEP;
      assert_int_equal(r.p.body_len, kept);
      assert_int_equal(r.p.body_truncated, SIZES[i] > KGL_H1_BODY_KEEP);
      for (size_t j = 0; j < kept; j++) {
        if (r.p.body[j] != (char)('a' + j % 26)) {
          fail_msg("size %zu chunked %d: body byte %zu differs", SIZES[i],
                   chunked, j);
        }
      }
      free(s);
    }
  }
}

static void without_keep_body_the_body_is_consumed_not_kept(void **state) {
  (void)state;
  for (int chunked = 0; chunked < 2; chunked++) {
    char *s;
    const size_t len = body_response(5000, chunked, &s);
    run r;
    parse(&r, s, len, 0, 0, GUARD_AFTER);
    assert_int_equal(r.rc, KGL_H1_DONE);
    assert_int_equal(r.used, len);
    assert_int_equal(r.p.body_len, 0);
    assert_int_equal(r.p.body_truncated, 0);
    free(s);
  }
  static const char resp[] = OK200 "\r\nto the close";
  run r;
  parse(&r, resp, sizeof resp - 1, 0, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_MORE);
  assert_int_equal(r.used, sizeof resp - 1);
  assert_int_equal(kgl_h1_eof(&r.p), KGL_H1_DONE);
  assert_int_equal(r.p.body_len, 0);
}

/* A body sink that collects what it is handed. */
typedef struct sink_buf {
  char *b;
  size_t n, cap;
} sink_buf;

static void collect(void *ud, const char *b, size_t n) {
  sink_buf *k = ud;
  assert_true(k->n + n <= k->cap);
  memcpy(k->b + k->n, b, n);
  k->n += n;
}

/* The probe reads bodies longer than KGL_H1_BODY_KEEP through the sink:
 * every body byte reaches it once, de-chunked, whether kept or not and
 * however the bytes arrive, after an interim 100 too; a reset clears it. */
static void every_body_byte_reaches_the_sink_dechunked(void **state) {
  (void)state;
  const size_t n = 3 * KGL_H1_BODY_KEEP + 123;
  for (int chunked = 0; chunked < 2; chunked++) {
    for (int interim = 0; interim < 2; interim++) {
      for (int keep = 0; keep < 2; keep++) {
        char *resp;
        const size_t rlen = body_response(n, chunked, &resp);
        static const char CONT[] = "HTTP/1.1 100 Continue\r\n\r\n";
        const size_t pre = interim ? sizeof CONT - 1 : 0;
        char *s = malloc(pre + rlen);
        assert_non_null(s);
        memcpy(s, CONT, pre);
        memcpy(s + pre, resp, rlen);
        free(resp);
        sink_buf k = {malloc(n), 0, n};
        assert_non_null(k.b);
        run r;
        kgl_h1_reset(&r.p, keep, 0);
        r.p.body_sink = collect;
        r.p.body_sink_ud = &k;
        size_t off = 0;
        r.rc = KGL_H1_MORE;
        /* pieces of 777 bytes: heads whole before they are parsed */
        size_t have = 0;
        while (r.rc == KGL_H1_MORE && off < pre + rlen) {
          have = have + 777 < pre + rlen ? have + 777 : pre + rlen;
          size_t used = 0;
          do {
            r.rc = feed(&r.p, s + off, have - off, GUARD_AFTER, &used);
            off += used;
          } while (r.rc == KGL_H1_MORE && used > 0 && off < have);
        }
        assert_int_equal(r.rc, KGL_H1_DONE);
        assert_int_equal(off, pre + rlen);
        assert_int_equal(k.n, n);
        for (size_t j = 0; j < n; j++) {
          assert_int_equal(k.b[j], 'a' + (int)(j % 26));
        }
        assert_int_equal(r.p.body_len, keep ? KGL_H1_BODY_KEEP : 0);
        kgl_h1_reset(&r.p, keep, 0);
        assert_null(r.p.body_sink);
        free(k.b);
        free(s);
      }
    }
  }
}

static void a_body_to_the_close_is_kept_up_to_body_keep(void **state) {
  (void)state;
  char *s = malloc(KGL_H1_BODY_KEEP + 100);
  assert_non_null(s);
  const int h = sprintf(s, OK200 "\r\n");
  memset(s + h, 'z', KGL_H1_BODY_KEEP + 10);
  run r;
  parse(&r, s, (size_t)h + KGL_H1_BODY_KEEP + 10, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_MORE);
  assert_int_equal(kgl_h1_eof(&r.p), KGL_H1_DONE);
  assert_int_equal(r.p.body_len, KGL_H1_BODY_KEEP);
  assert_int_equal(r.p.body_truncated, 1);
  free(s);
}

/* ---- refusals ----------------------------------------------------------- */

typedef struct bad_case {
  const char *name;
  const char *resp;
  size_t len; /* 0: strlen(resp) */
} bad_case;

#define CL0 "Content-Length: 0\r\n\r\n"
#define TECH OK200 "Transfer-Encoding: chunked\r\n\r\n"

static const bad_case BAD[] = {
    /* the status line: HTTP/1.x SP 3DIGIT [SP reason] */
    {"http_2_0", "HTTP/2.0 200 OK\r\n" CL0, 0},
    {"http_2", "HTTP/2 200 OK\r\n" CL0, 0},
    {"http_1_2", "HTTP/1.2 200 OK\r\n" CL0, 0},
    {"http_0_9", "HTTP/0.9 200 OK\r\n" CL0, 0},
    {"http_1_10", "HTTP/1.10 200 OK\r\n" CL0, 0},
    {"lower_case_http", "http/1.1 200 OK\r\n" CL0, 0},
    {"other_protocol", "ICY 200 OK\r\n" CL0, 0},
    {"no_version", "200 OK\r\n" CL0, 0},
    {"leading_space", " HTTP/1.1 200 OK\r\n" CL0, 0},
    {"two_spaces_before_status", "HTTP/1.1  200 OK\r\n" CL0, 0},
    {"tab_before_status", "HTTP/1.1\t200 OK\r\n" CL0, 0},
    {"no_status", "HTTP/1.1\r\n" CL0, 0},
    {"no_status_but_reason", "HTTP/1.1 OK\r\n" CL0, 0},
    {"two_digit_status", "HTTP/1.1 20 OK\r\n" CL0, 0},
    {"four_digit_status", "HTTP/1.1 2000 OK\r\n" CL0, 0},
    {"letter_in_status", "HTTP/1.1 2x0 OK\r\n" CL0, 0},
    {"status_below_100", "HTTP/1.1 099 Low\r\n" CL0, 0},
    {"status_600", "HTTP/1.1 600 High\r\n" CL0, 0},
    {"status_glued_to_reason", "HTTP/1.1 200OK\r\n" CL0, 0},
    {"status_then_tab", "HTTP/1.1 200\tOK\r\n" CL0, 0},
    {"control_in_reason", "HTTP/1.1 200 O\x01K\r\n" CL0, 0},
    {"del_in_reason", "HTTP/1.1 200 OK\x7f\r\n" CL0, 0},
    {"nul_in_reason", "HTTP/1.1 200 O\0K\r\n" CL0,
     sizeof("HTTP/1.1 200 O\0K\r\n" CL0) - 1},
    {"bare_cr_in_reason", "HTTP/1.1 200 OK\r\r\n" CL0, 0},
    {"bare_cr_ends_status_line", "HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n",
     0},
    {"empty_status_line", "\r\n" OK200 CL0, 0},
    /* field lines, RFC 9112 §5 */
    {"obs_fold_space", OK200 "X-A: b\r\n c\r\n" CL0, 0},
    {"obs_fold_tab", OK200 "X-A: b\r\n\tc\r\n" CL0, 0},
    {"obs_fold_of_a_read_field", OK200 "Content-Type: a\r\n b\r\n" CL0, 0},
    {"whitespace_before_first_field", OK200 " X-A: b\r\n" CL0, 0},
    {"space_before_colon", OK200 "Content-Type : a\r\n" CL0, 0},
    {"tab_before_colon", OK200 "X-A\t: b\r\n" CL0, 0},
    {"no_colon", OK200 "Content-Type a\r\n" CL0, 0},
    {"no_colon_at_all", OK200 "Garbage\r\n" CL0, 0},
    {"empty_name", OK200 ": a\r\n" CL0, 0},
    {"space_in_name", OK200 "Content Type: a\r\n" CL0, 0},
    {"paren_in_name", OK200 "X(A): b\r\n" CL0, 0},
    {"non_ascii_in_name", OK200 "X-\xc3\xa9: b\r\n" CL0, 0},
    {"nul_in_name", OK200 "X-\0: b\r\n" CL0,
     sizeof(OK200 "X-\0: b\r\n" CL0) - 1},
    {"cr_inside_a_line_start", OK200 "\rX-A: b\r\n" CL0, 0},
    /* control bytes in the fields it reads, a bare CR included */
    {"control_in_content_type", OK200 "Content-Type: a\x01/b\r\n" CL0, 0},
    {"del_in_request_id", OK200 "X-Request-Id: r\x7fid\r\n" CL0, 0},
    {"nul_in_request_id", OK200 "X-Request-Id: r\0id\r\n" CL0,
     sizeof(OK200 "X-Request-Id: r\0id\r\n" CL0) - 1},
    {"bare_cr_in_www_authenticate",
     OK200 "WWW-Authenticate: Bearer\rrealm=\"a\"\r\n" CL0, 0},
    {"escape_in_www_authenticate", OK200 "WWW-Authenticate: \x1b[0m\r\n" CL0,
     0},
    {"control_in_content_length", OK200 "Content-Length: 1\x01\r\n\r\nx", 0},
    {"control_in_transfer_encoding",
     OK200 "Transfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n", 0},
    {"control_in_connection", OK200 "Connection: close\x7f\r\n" CL0, 0},
    /* Content-Length, RFC 9112 §6.3 */
    {"conflicting_content_lengths",
     OK200 "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 0},
    {"content_length_list", OK200 "Content-Length: 5, 5\r\n\r\nhello", 0},
    {"content_length_not_a_number", OK200 "Content-Length: abc\r\n\r\n", 0},
    {"content_length_negative", OK200 "Content-Length: -1\r\n\r\n", 0},
    {"content_length_plus", OK200 "Content-Length: +5\r\n\r\nhello", 0},
    {"content_length_hex", OK200 "Content-Length: 0x5\r\n\r\nhello", 0},
    {"content_length_inner_space", OK200 "Content-Length: 5 5\r\n\r\nhello", 0},
    {"content_length_empty", OK200 "Content-Length:\r\n\r\n", 0},
    {"content_length_too_big",
     OK200 "Content-Length: 99999999999999999999\r\n\r\n", 0},
    /* Transfer-Encoding */
    {"content_length_and_chunked",
     OK200 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
           "5\r\nhello\r\n0\r\n\r\n",
     0},
    {"chunked_and_content_length",
     OK200 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
           "5\r\nhello\r\n0\r\n\r\n",
     0},
    {"transfer_coding_gzip", OK200 "Transfer-Encoding: gzip\r\n\r\n", 0},
    {"transfer_coding_identity", OK200 "Transfer-Encoding: identity\r\n\r\n",
     0},
    {"gzip_then_chunked",
     OK200 "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 0},
    {"chunked_then_gzip", OK200 "Transfer-Encoding: chunked, gzip\r\n\r\n", 0},
    {"chunked_in_two_lines_with_gzip",
     OK200 "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 0},
    {"chunked_in_two_lines",
     OK200 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
           "0\r\n\r\n",
     0},
    /* chunk sizes, RFC 9112 §7.1 */
    {"chunk_size_not_hex", TECH "x\r\nhello\r\n0\r\n\r\n", 0},
    {"chunk_size_empty", TECH "\r\nhello\r\n0\r\n\r\n", 0},
    {"chunk_size_only_extension", TECH ";a=b\r\n0\r\n\r\n", 0},
    {"chunk_size_negative", TECH "-5\r\nhello\r\n0\r\n\r\n", 0},
    {"chunk_size_leading_space", TECH " 5\r\nhello\r\n0\r\n\r\n", 0},
    {"chunk_size_0x", TECH "0x5\r\nhello\r\n0\r\n\r\n", 0},
    {"chunk_size_too_large", TECH "10000000000000\r\n", 0},
    {"control_in_chunk_extension", TECH "5;a=\x01\r\nhello\r\n0\r\n\r\n", 0},
    {"chunk_data_longer_than_its_size", TECH "5\r\nhelloX\r\n0\r\n\r\n", 0},
    {"chunk_data_longer_by_a_cr", TECH "5\r\nhello\r\r\n0\r\n\r\n", 0},
    {"control_in_trailer", TECH "0\r\nX-T: a\x01\r\n\r\n", 0},
    /* interim responses */
    {"switching_protocols", "HTTP/1.1 101 Switching Protocols\r\n\r\n", 0},
    {"bad_response_after_an_interim",
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/2.0 200 OK\r\n" CL0, 0},
};

static void malformed_responses_are_refused(void **state) {
  (void)state;
  int failures = 0;
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
    const bad_case *c = &BAD[i];
    const size_t len = c->len ? c->len : strlen(c->resp);
    for (size_t s = 0; s < 2; s++) {
      run r;
      parse(&r, c->resp, len, 1, 0, SIDES[s]);
      if (r.rc != KGL_H1_ERROR || r.p.error == NULL) {
        print_error("%s (side %zu): got %s (used %zu), want ERROR\n", c->name,
                    s, rc_name(r.rc), r.used);
        failures++;
      }
    }
    guard_free_all();
  }
  assert_int_equal(failures, 0);
}

static void a_refusal_does_not_depend_on_how_the_bytes_arrive(void **state) {
  (void)state;
  int failures = 0;
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
    const bad_case *c = &BAD[i];
    const size_t len = c->len ? c->len : strlen(c->resp);
    run r;
    deliver_bytewise(&r, c->resp, len, 0, GUARD_AFTER);
    if (r.rc != KGL_H1_ERROR) {
      print_error("%s one byte at a time: got %s, want ERROR\n", c->name,
                  rc_name(r.rc));
      failures++;
    }
    guard_free_all();
  }
  assert_int_equal(failures, 0);
}

/* Responses with a control byte in the value of each unread field NAMES[i]
 * that the parser does not accept whole; prints each. */
static int unread_fields_refused(const char *const *names, size_t nnames) {
  static const char *const VALUES[] = {"a\x01z", "a\x7fz", "a\rz", "\x1b[0m"};
  int failures = 0;
  for (size_t i = 0; i < nnames; i++) {
    for (size_t v = 0; v < sizeof VALUES / sizeof VALUES[0]; v++) {
      char resp[256];
      const int n = snprintf(resp, sizeof resp,
                             OK200 "%s: %s\r\nContent-Length: 1\r\n\r\nx",
                             names[i], VALUES[v]);
      run r;
      parse(&r, resp, (size_t)n, 1, 0, GUARD_AFTER);
      if (r.rc != KGL_H1_DONE || r.used != (size_t)n) {
        print_error("%s with control byte value %zu: got %s (%s), want DONE\n",
                    names[i], v, rc_name(r.rc), r.p.error ? r.p.error : "");
        failures++;
      }
    }
  }
  return failures;
}

static void control_bytes_in_fields_it_does_not_read_are_skipped(void **state) {
  (void)state;
  /* the parser's documented decision: only the fields it reads are checked
   * for control bytes; the others are skipped with memchr */
  static const char *const NAMES[] = {"Server", "Date", "ETag", "Vary",
                                      "X-Custom-Long-Header-Name"};
  int failures = unread_fields_refused(NAMES, sizeof NAMES / sizeof NAMES[0]);
  /* a NUL in an unread value too */
  static const char nul[] = OK200 "Server: a\0b\r\nContent-Length: 0\r\n\r\n";
  run r;
  parse(&r, nul, sizeof nul - 1, 1, 0, GUARD_AFTER);
  if (r.rc != KGL_H1_DONE) {
    print_error("NUL in Server: got %s, want DONE\n", rc_name(r.rc));
    failures++;
  }
  assert_int_equal(failures, 0);
}

static void unread_fields_are_skipped_whatever_their_name_length(void **state) {
  (void)state;
  /* BUG (reported): field() checks every value whose name has 10 to 17
   * bytes (the lengths of the names it reads) before it knows the name is
   * one it reads, so a control byte in Set-Cookie or Cache-Control is
   * refused while one in Server is skipped: the header's contract says
   * only the fields it reads are checked */
  static const char *const NAMES[] = {
      "Set-Cookie",       /* 10, the length of Connection */
      "Keep-Alive",       /* 10 */
      "Last-Modified",    /* 13, the length of Cache-Control */
      "Accept-Ranges",    /* 13 */
      "X-Frame-Options",  /* 15 */
      "X-Content-Type-O", /* 16 */
  };
  assert_int_equal(unread_fields_refused(NAMES, sizeof NAMES / sizeof NAMES[0]),
                   0);
}

static void tab_and_obs_text_in_read_fields_are_accepted(void **state) {
  (void)state;
  static const char resp[] =
      OK200 "Content-Type: a\tb\r\n"
            "WWW-Authenticate: Bearer realm=\"\xc3\xa9\"\r\n"
            "Content-Length: 0\r\n\r\n";
  run r;
  parse(&r, resp, sizeof resp - 1, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_DONE);
  assert_bytes(r.p.content_type, r.p.content_type_len, "a\tb");
  assert_bytes(r.p.www_authenticate, r.p.www_authenticate_len,
               "Bearer realm=\"\xc3\xa9\"");
}

/* ---- the head's limit --------------------------------------------------- */

/* A complete head of exactly n bytes (n >= 64), Content-Length: 0. */
static char *head_of(size_t n) {
  static const char start[] = OK200 "X-Fill: ";
  static const char end[] = "\r\nContent-Length: 0\r\n\r\n";
  char *s = malloc(n);
  assert_non_null(s);
  assert_true(n > sizeof start + sizeof end);
  memcpy(s, start, sizeof start - 1);
  memset(s + sizeof start - 1, 'f', n - (sizeof start - 1) - (sizeof end - 1));
  memcpy(s + n - (sizeof end - 1), end, sizeof end - 1);
  return s;
}

static void a_head_of_exactly_head_max_is_accepted(void **state) {
  (void)state;
  char *s = head_of(KGL_H1_HEAD_MAX);
  run r;
  parse(&r, s, KGL_H1_HEAD_MAX, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_DONE);
  assert_int_equal(r.used, KGL_H1_HEAD_MAX);
  free(s);
}

static void an_incomplete_head_of_head_max_bytes_is_refused(void **state) {
  (void)state;
  /* the caller holds at most KGL_H1_HEAD_MAX bytes: when they are not a
   * whole head, there is nothing more to wait for */
  char *s = head_of(KGL_H1_HEAD_MAX + 100);
  run r;
  parse(&r, s, KGL_H1_HEAD_MAX - 1, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_MORE);
  assert_int_equal(r.used, 0);
  parse(&r, s, KGL_H1_HEAD_MAX, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_ERROR);
  assert_non_null(r.p.error);
  free(s);
}

static void a_whole_head_over_head_max_is_refused(void **state) {
  (void)state;
  /* "a head over KGL_H1_HEAD_MAX bytes" is a protocol error however it
   * arrives, in one buffer included. BUG (reported): the limit is checked
   * only while the head is incomplete, so a whole head of any size that
   * comes in one buffer is accepted */
  static const size_t SIZES[] = {KGL_H1_HEAD_MAX + 1, 2 * KGL_H1_HEAD_MAX};
  for (size_t i = 0; i < sizeof SIZES / sizeof SIZES[0]; i++) {
    char *s = head_of(SIZES[i]);
    run r;
    parse(&r, s, SIZES[i], 1, 0, GUARD_AFTER);
    free(s);
    if (r.rc != KGL_H1_ERROR) {
      fail_msg("a whole head of %zu bytes in one buffer: got %s used %zu, "
               "want ERROR",
               SIZES[i], rc_name(r.rc), r.used);
    }
  }
}

/* ---- incremental input -------------------------------------------------- */

typedef struct split_case {
  const char *name;
  const char *resp;
  int eof;
  size_t extra; /* bytes after the response */
} split_case;

static const split_case SPLITS[] = {
    {"content_length",
     "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
     "WWW-Authenticate: " WWW401 "\r\nX-Request-Id: " RID "\r\n"
     "X-Request-Id: dup\r\nContent-Length: 118\r\n\r\n" BODY401,
     0, 0},
    {"chunked_extensions_trailers",
     "HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n"
     "Content-Type: application/json ; charset=utf-8\r\n"
     "X-Request-Id:" RID "\r\n\r\n"
     "1a;ext=1;q=\"a b\"\r\n{\"error\":{\"code\":\"invalid_\r\n"
     "5c\r\napi_key\",\"message\":\"The API key is not valid.\","
     "\"request_id\":\"" RID "\"}}\r\n"
     "0\r\nX-Trailer: yes\r\nOther: 1\r\n\r\n",
     0, 0},
    {"interim_then_final",
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
     "Link: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nX-Request-Id: final\r\n"
     "Content-Length: 3\r\n\r\nabc",
     0, 0},
    {"to_the_close",
     "HTTP/1.0 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nno access", 1,
     0},
    {"bare_lf_chunked",
     "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nX-Request-Id: lf\n\n"
     "3\nabc\n3;x\ndef\n0\n\n",
     0, 0},
    {"followed_by_the_next_response",
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 204 No Content"
     "\r\n\r\n",
     0, sizeof("HTTP/1.1 204 No Content\r\n\r\n") - 1},
    {"no_content_then_more",
     "HTTP/1.1 204 No Content\r\nX-Request-Id: n\r\n"
     "\r\nHTTP/1.1 200 OK\r\n",
     0, sizeof("HTTP/1.1 200 OK\r\n") - 1},
};

static void every_split_gives_the_same_response(void **state) {
  (void)state;
  int failures = 0;
  for (size_t i = 0; i < sizeof SPLITS / sizeof SPLITS[0]; i++) {
    const split_case *c = &SPLITS[i];
    const size_t len = strlen(c->resp);
    for (size_t s = 0; s < 2; s++) {
      run whole;
      deliver_split(&whole, c->resp, len, len, c->eof, SIDES[s]);
      if (whole.rc != KGL_H1_DONE || whole.used != len - c->extra) {
        fail_msg("%s in one piece: got %s used %zu (%s)", c->name,
                 rc_name(whole.rc), whole.used,
                 whole.p.error ? whole.p.error : "");
      }
      for (size_t k = 0; k <= len; k++) {
        run r;
        deliver_split(&r, c->resp, len, k, c->eof, SIDES[s]);
        if (r.rc != KGL_H1_DONE || r.used != whole.used ||
            !same_response(&r.p, &whole.p)) {
          print_error("%s split at %zu (side %zu): got %s used %zu (%s)\n",
                      c->name, k, s, rc_name(r.rc), r.used,
                      r.p.error ? r.p.error : "same rc, other response");
          failures++;
        }
      }
      guard_free_all();
      run r;
      deliver_bytewise(&r, c->resp, len, c->eof, SIDES[s]);
      if (r.rc != KGL_H1_DONE || r.used != whole.used ||
          !same_response(&r.p, &whole.p)) {
        print_error("%s one byte at a time (side %zu): got %s used %zu\n",
                    c->name, s, rc_name(r.rc), r.used);
        failures++;
      }
      guard_free_all();
    }
  }
  assert_int_equal(failures, 0);
}

static void while_the_head_is_incomplete_nothing_is_consumed(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof SPLITS / sizeof SPLITS[0]; i++) {
    const char *resp = SPLITS[i].resp;
    if (strncmp(resp, "HTTP/1.1 1", 10) == 0) {
      continue; /* an interim head is consumed on its own */
    }
    const char *end = strstr(resp, "\r\n\r\n");
    const size_t head = end != NULL ? (size_t)(end - resp) + 4
                                    : (size_t)(strstr(resp, "\n\n") - resp) + 2;
    for (size_t k = 0; k < head; k++) {
      run r;
      parse(&r, resp, k, 1, 0, GUARD_AFTER);
      if (r.rc != KGL_H1_MORE || r.used != 0 || !kgl_h1_waiting(&r.p)) {
        fail_msg("%s: prefix of %zu of a %zu-byte head: got %s used %zu",
                 SPLITS[i].name, k, head, rc_name(r.rc), r.used);
      }
    }
    guard_free_all();
  }
}

static void waiting_is_true_until_a_head_is_parsed(void **state) {
  (void)state;
  static const char resp[] = OK200 "Content-Length: 4\r\n\r\nab";
  kgl_h1 p;
  kgl_h1_reset(&p, 1, 0);
  assert_true(kgl_h1_waiting(&p));
  size_t used;
  assert_int_equal(feed(&p, resp, sizeof resp - 1, GUARD_AFTER, &used),
                   KGL_H1_MORE);
  assert_false(kgl_h1_waiting(&p)); /* the body is due */
  assert_int_equal(feed(&p, "cd", 2, GUARD_AFTER, &used), KGL_H1_DONE);
  assert_false(kgl_h1_waiting(&p));
  kgl_h1_reset(&p, 1, 0);
  assert_true(kgl_h1_waiting(&p));
}

static void an_empty_feed_consumes_nothing(void **state) {
  (void)state;
  kgl_h1 p;
  kgl_h1_reset(&p, 1, 0);
  size_t used;
  assert_int_equal(feed(&p, "", 0, GUARD_AFTER, &used), KGL_H1_MORE);
  assert_int_equal(used, 0);
  static const char head[] = OK200 "Transfer-Encoding: chunked\r\n\r\n";
  assert_int_equal(feed(&p, head, sizeof head - 1, GUARD_AFTER, &used),
                   KGL_H1_MORE);
  assert_int_equal(used, sizeof head - 1);
  assert_int_equal(feed(&p, "", 0, GUARD_AFTER, &used), KGL_H1_MORE);
  assert_int_equal(used, 0);
}

static void a_finished_response_consumes_nothing_more(void **state) {
  (void)state;
  static const char resp[] = OK200 "Content-Length: 0\r\n\r\n";
  run r;
  parse(&r, resp, sizeof resp - 1, 1, 0, GUARD_AFTER);
  assert_int_equal(r.rc, KGL_H1_DONE);
  size_t used;
  assert_int_equal(feed(&r.p, "HTTP", 4, GUARD_AFTER, &used), KGL_H1_DONE);
  assert_int_equal(used, 0);
  assert_int_equal(kgl_h1_eof(&r.p), KGL_H1_DONE);
}

#define T(f) cmocka_unit_test_teardown(f, guard_teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(every_framing_parses_to_its_body),
      T(a_length_body_arrives_in_pieces_as_they_come),
      T(a_body_to_the_close_is_done_only_at_eof),
      T(eof_before_the_response_ends_is_an_error),
      T(a_101_switching_protocols_is_refused),
      T(interim_response_fields_do_not_reach_the_final_one),
      T(an_interim_response_alone_is_consumed),
      T(connection_close_among_other_options_closes),
      T(a_chunk_size_is_read_whole_however_many_leading_zeros),
      T(a_chunk_size_line_is_digits_then_extensions),
      T(a_chunk_extension_may_hold_obs_text),
      T(the_fields_the_verifier_reads_are_kept),
      T(kgl_h1_response_spans_point_into_the_parser),
      T(a_repeated_field_keeps_its_first_value_and_counts),
      T(field_names_match_in_any_case),
      T(names_that_only_resemble_the_read_ones_are_ignored),
      T(field_values_lose_leading_and_trailing_ows),
      T(an_empty_field_value_is_kept_as_empty),
      T(a_field_value_that_fits_is_kept_whole),
      T(a_long_field_value_is_cut_and_marked),
      T(the_kept_fields_hold_every_conforming_value),
      T(a_reset_forgets_the_previous_response),
      T(the_body_is_kept_up_to_body_keep_and_marked_truncated),
      T(without_keep_body_the_body_is_consumed_not_kept),
      T(a_body_to_the_close_is_kept_up_to_body_keep),
      T(every_body_byte_reaches_the_sink_dechunked),
      T(malformed_responses_are_refused),
      T(a_refusal_does_not_depend_on_how_the_bytes_arrive),
      T(control_bytes_in_fields_it_does_not_read_are_skipped),
      T(unread_fields_are_skipped_whatever_their_name_length),
      T(tab_and_obs_text_in_read_fields_are_accepted),
      T(a_head_of_exactly_head_max_is_accepted),
      T(an_incomplete_head_of_head_max_bytes_is_refused),
      T(a_whole_head_over_head_max_is_refused),
      T(every_split_gives_the_same_response),
      T(while_the_head_is_incomplete_nothing_is_consumed),
      T(waiting_is_true_until_a_head_is_parsed),
      T(an_empty_feed_consumes_nothing),
      T(a_finished_response_consumes_nothing_more),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
