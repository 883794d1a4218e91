/*
 * tests/unit/test_response.c — the error responses of SPEC §1.4
 * (keygate/response.h), byte for byte: statuses, WWW-Authenticate, messages,
 * JSON bodies, whole responses, request ids, and buffer limits. Output
 * buffers sit against a PROT_NONE page so a write past `cap` faults.
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
#include "keygate/response.h"
#include "null_policy.h"

#define RID "req_0123456789ABCDEFGHIJKLMN"

#define MSG_MISSING                                                            \
  "API key is required. Include it in the Authorization header as "            \
  "\"Bearer sk_live_...\" or in the X-API-Key header."
#define MSG_INVALID                                                            \
  "API key is invalid. Check for typos or extra whitespace, and verify the "   \
  "key in Settings \xe2\x86\x92 API Keys."
#define MSG_EXPIRED                                                            \
  "API key has been deactivated or has expired. Generate a new key in "        \
  "Settings \xe2\x86\x92 API Keys and update your integration."
#define MSG_AMBIGUOUS                                                          \
  "More than one API key was sent. Send exactly one key, in the "              \
  "Authorization header or in the X-API-Key header."
#define MSG_IN_QUERY                                                           \
  "API keys must not be sent in the URL. Send the key in the Authorization "   \
  "header or in the X-API-Key header, and replace this key: the URL may "      \
  "already be in logs."
#define MSG_PARAMETER "A query parameter is invalid."

typedef struct answer {
  kg_status decision;
  int status;
  const char *message;   /* as kg_error_message returns it */
  const char *body;      /* the JSON body with request id RID */
  const char *challenge; /* WWW-Authenticate with realm "api", or NULL */
} answer;

static const answer ANSWERS[] = {
    {KG_MISSING_API_KEY, 401, MSG_MISSING,
     "{\"error\":{\"code\":\"missing_api_key\",\"message\":\"API key is "
     "required. Include it in the Authorization header as \\\"Bearer "
     "sk_live_...\\\" or in the X-API-Key header.\",\"request_id\":\"" RID
     "\"}}",
     "Bearer realm=\"api\""},
    {KG_INVALID_API_KEY, 401, MSG_INVALID,
     "{\"error\":{\"code\":\"invalid_api_key\",\"message\":\"" MSG_INVALID
     "\",\"request_id\":\"" RID "\"}}",
     "Bearer realm=\"api\", error=\"invalid_token\""},
    {KG_EXPIRED_API_KEY, 401, MSG_EXPIRED,
     "{\"error\":{\"code\":\"expired_api_key\",\"message\":\"" MSG_EXPIRED
     "\",\"request_id\":\"" RID "\"}}",
     "Bearer realm=\"api\", error=\"invalid_token\", "
     "error_description=\"The API key has expired\""},
    {KG_AMBIGUOUS_API_KEY, 400, MSG_AMBIGUOUS,
     "{\"error\":{\"code\":\"ambiguous_api_key\",\"message\":\"" MSG_AMBIGUOUS
     "\",\"request_id\":\"" RID "\"}}",
     NULL},
    {KG_API_KEY_IN_QUERY, 400, MSG_IN_QUERY,
     "{\"error\":{\"code\":\"api_key_in_query\",\"message\":\"" MSG_IN_QUERY
     "\",\"request_id\":\"" RID "\"}}",
     NULL},
    {KG_INVALID_PARAMETER, 400, MSG_PARAMETER,
     "{\"error\":{\"code\":\"invalid_parameter\",\"message\":\"" MSG_PARAMETER
     "\",\"request_id\":\"" RID "\"}}",
     NULL},
};
#define NANSWERS (sizeof ANSWERS / sizeof ANSWERS[0])

/* out_buf — a zeroed output buffer of cap bytes ending at a guard page. */
static char *out_buf(size_t cap) {
  static const char zero[4096];
  assert_true(cap <= sizeof zero);
  return guard_copy(zero, cap);
}

static const char *rid(void) {
  return guard_copy(RID, KG_REQUEST_ID_LEN);
}

/* ---- statuses and messages ---------------------------------------------- */

static void http_status_follows_the_decision(void **state) {
  (void)state;
  assert_int_equal(kg_http_status(KG_VALID), 200);
  for (size_t i = 0; i < NANSWERS; i++) {
    assert_int_equal(kg_http_status(ANSWERS[i].decision), ANSWERS[i].status);
  }
  /* A server's other answers. */
  assert_int_equal(kg_http_status(KG_SERVICE_UNAVAILABLE), 503);
  assert_int_equal(kg_http_status(KG_TOO_MANY_REQUESTS), 429);
  assert_int_equal(kg_http_status(KG_NOT_FOUND), 404);
  assert_int_equal(kg_http_status(KG_BAD_GATEWAY), 502);
  assert_int_equal(kg_http_status(KG_GATEWAY_TIMEOUT), 504);
  assert_int_equal(kg_http_status(KG_E_METHOD_NOT_ALLOWED), 405);
  assert_int_equal(kg_http_status(KG_E_HEAD_TOO_LARGE), 400);
  static const kg_status not_answers[] = {
      KG_OK,          KG_INCOMPLETE, KG_E_NOMEM,    KG_KEY_MALFORMED,
      KG_KEY_UNKNOWN, KG_E_ARGUMENT, (kg_status)999};
  for (size_t i = 0; i < sizeof not_answers / sizeof not_answers[0]; i++) {
    assert_int_equal(kg_http_status(not_answers[i]), 500);
  }
}

static void messages_are_pinned_byte_for_byte(void **state) {
  (void)state;
  for (size_t i = 0; i < NANSWERS; i++) {
    assert_string_equal(kg_error_message(ANSWERS[i].decision),
                        ANSWERS[i].message);
  }
  assert_string_equal(kg_error_message(KG_VALID), "");
  assert_string_equal(kg_error_message(KG_OK), "");
  assert_string_equal(kg_error_message(KG_E_ARGUMENT), "");
  assert_string_equal(kg_error_message(KG_KEY_UNKNOWN), "");
}

static void missing_message_is_the_documented_one(void **state) {
  (void)state;
  /* seeds/api-authentication.txt, word for word */
  assert_string_equal(kg_error_message(KG_MISSING_API_KEY),
                      "API key is required. Include it in the Authorization "
                      "header as \"Bearer sk_live_...\" or in the X-API-Key "
                      "header.");
}

static void invalid_message_does_not_say_why(void **state) {
  (void)state;
  /* unknown, deleted and bad checksum read the same to a client */
  const char *m = kg_error_message(KG_INVALID_API_KEY);
  assert_null(strstr(m, "checksum"));
  assert_null(strstr(m, "deleted"));
  assert_null(strstr(m, "unknown"));
}

/* ---- WWW-Authenticate --------------------------------------------------- */

static void www_authenticate_per_decision(void **state) {
  (void)state;
  for (size_t i = 0; i < NANSWERS; i++) {
    const char *want = ANSWERS[i].challenge ? ANSWERS[i].challenge : "";
    size_t cap = strlen(want) + 1;
    char *out = out_buf(cap);
    size_t len = 99;
    assert_int_equal(kg_www_authenticate(ANSWERS[i].decision,
                                         guard_copy("api", 3), 3, out, cap,
                                         &len),
                     KG_OK);
    assert_int_equal(len, strlen(want));
    assert_string_equal(out, want);
  }
}

static void www_authenticate_carries_the_configured_realm(void **state) {
  (void)state;
  char out[512];
  size_t len;
  assert_int_equal(kg_www_authenticate(KG_EXPIRED_API_KEY,
                                       guard_copy("My API v2", 9), 9, out,
                                       sizeof out, &len),
                   KG_OK);
  assert_string_equal(out,
                      "Bearer realm=\"My API v2\", error=\"invalid_token\", "
                      "error_description=\"The API key has expired\"");
  char realm[KG_REALM_MAX];
  memset(realm, 'r', sizeof realm);
  assert_int_equal(kg_www_authenticate(KG_MISSING_API_KEY,
                                       guard_copy(realm, KG_REALM_MAX),
                                       KG_REALM_MAX, out, sizeof out, &len),
                   KG_OK);
  assert_int_equal(len, 15 + KG_REALM_MAX);
}

static void realms_that_cannot_be_quoted_are_refused(void **state) {
  (void)state;
  static const struct {
    const char *r;
    size_t len;
  } bad[] = {
      {"", 0},      {"a\"b", 3},        {"a\\b", 3}, {"a\x1f", 2},
      {"a\x7f", 2}, {"caf\xc3\xa9", 5}, {"a\nb", 3}, {"a\0b", 3},
  };
  char out[512];
  size_t len;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (kg_www_authenticate(KG_MISSING_API_KEY,
                            guard_copy(bad[i].r, bad[i].len), bad[i].len, out,
                            sizeof out, &len) != KG_E_ARGUMENT) {
      fail_msg("realm %zu accepted", i);
    }
  }
  char realm[KG_REALM_MAX + 1];
  memset(realm, 'r', sizeof realm);
  assert_int_equal(kg_www_authenticate(KG_MISSING_API_KEY, realm,
                                       KG_REALM_MAX + 1, out, sizeof out, &len),
                   KG_E_ARGUMENT);
}

static void www_authenticate_never_writes_past_cap(void **state) {
  (void)state;
  const char *want = ANSWERS[2].challenge;
  size_t need = strlen(want) + 1;
  for (size_t cap = 0; cap < need; cap++) {
    size_t len = 99;
    assert_int_equal(kg_www_authenticate(KG_EXPIRED_API_KEY,
                                         guard_copy("api", 3), 3, out_buf(cap),
                                         cap, &len),
                     KG_E_BUFFER_TOO_SMALL);
  }
  guard_free_all();
}

/* kg_realm_check is the one check of a realm: printable ASCII (0x20-0x7e)
 * but '"' and '\\', 1 to KG_REALM_MAX bytes, and kg_www_authenticate
 * agrees with it byte for byte. */
static void
realm_check_takes_printable_ascii_but_quote_and_backslash(void **state) {
  (void)state;
  char out[KG_WWW_AUTHENTICATE_MAX];
  size_t len;
  for (int c = 0; c < 256; c++) {
    char r[3] = {'a', (char)c, 'b'};
    kg_status want = (c >= 0x20 && c <= 0x7e && c != '"' && c != '\\')
                         ? KG_OK
                         : KG_E_ARGUMENT;
    if (kg_realm_check(guard_copy(r, 3), 3) != want) {
      fail_msg("realm a\\x%02xb: want %s", c, kg_status_str(want));
    }
    if (kg_www_authenticate(KG_MISSING_API_KEY, guard_copy(r, 3), 3, out,
                            sizeof out, &len) != want) {
      fail_msg("kg_www_authenticate disagrees on realm a\\x%02xb", c);
    }
  }
  char realm[KG_REALM_MAX + 1];
  memset(realm, 'r', sizeof realm);
  assert_int_equal(kg_realm_check(guard_copy(realm, 1), 1), KG_OK);
  assert_int_equal(
      kg_realm_check(guard_copy(realm, KG_REALM_MAX), KG_REALM_MAX), KG_OK);
  assert_int_equal(
      kg_realm_check(guard_copy(realm, KG_REALM_MAX + 1), KG_REALM_MAX + 1),
      KG_E_ARGUMENT);
  assert_int_equal(kg_realm_check(guard_copy(realm, 0), 0), KG_E_ARGUMENT);
  assert_int_equal(KG_REALM_MAX, 128); /* docs/server.md says 128 */
}

/* KG_WWW_AUTHENTICATE_MAX is exactly the longest challenge and its NUL:
 * expired_api_key with a realm of KG_REALM_MAX bytes. */
static void
www_authenticate_max_holds_exactly_the_longest_challenge(void **state) {
  (void)state;
  char realm[KG_REALM_MAX];
  memset(realm, 'R', sizeof realm);
  char want[KG_WWW_AUTHENTICATE_MAX + 16];
  int n = snprintf(want, sizeof want,
                   "Bearer realm=\"%.*s\", error=\"invalid_token\", "
                   "error_description=\"The API key has expired\"",
                   KG_REALM_MAX, realm);
  assert_int_equal(n + 1, KG_WWW_AUTHENTICATE_MAX);
  size_t len = 0;
  char *out = out_buf(KG_WWW_AUTHENTICATE_MAX);
  assert_int_equal(
      kg_www_authenticate(KG_EXPIRED_API_KEY, guard_copy(realm, KG_REALM_MAX),
                          KG_REALM_MAX, out, KG_WWW_AUTHENTICATE_MAX, &len),
      KG_OK);
  assert_int_equal(len, KG_WWW_AUTHENTICATE_MAX - 1);
  assert_string_equal(out, want);
  assert_int_equal(
      kg_www_authenticate(KG_EXPIRED_API_KEY, guard_copy(realm, KG_REALM_MAX),
                          KG_REALM_MAX, out_buf(KG_WWW_AUTHENTICATE_MAX - 1),
                          KG_WWW_AUTHENTICATE_MAX - 1, &len),
      KG_E_BUFFER_TOO_SMALL);
}

/* ---- request ids -------------------------------------------------------- */

static int cmp_ids(const void *a, const void *b) {
  return memcmp(a, b, KG_REQUEST_ID_LEN);
}

static void request_ids_are_req_and_24_base62_and_unique(void **state) {
  (void)state;
  enum { N = 5000 };
  char *all = malloc((size_t)N * KG_REQUEST_ID_LEN);
  assert_non_null(all);
  char *out = out_buf(KG_REQUEST_ID_LEN + 1); /* the NUL is the last byte */
  for (size_t i = 0; i < N; i++) {
    assert_int_equal(kg_request_id(out), KG_OK);
    assert_memory_equal(out, "req_", 4);
    for (size_t j = 4; j < KG_REQUEST_ID_LEN; j++) {
      char c = out[j];
      assert_true((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
                  (c >= 'a' && c <= 'z'));
    }
    assert_int_equal(out[KG_REQUEST_ID_LEN], '\0');
    memcpy(all + i * KG_REQUEST_ID_LEN, out, KG_REQUEST_ID_LEN);
  }
  qsort(all, N, KG_REQUEST_ID_LEN, cmp_ids);
  for (size_t i = 1; i < N; i++) {
    assert_true(memcmp(all + (i - 1) * KG_REQUEST_ID_LEN,
                       all + i * KG_REQUEST_ID_LEN, KG_REQUEST_ID_LEN) != 0);
  }
  free(all);
}

/* ---- bodies ------------------------------------------------------------- */

static void error_bodies_are_exact(void **state) {
  (void)state;
  for (size_t i = 0; i < NANSWERS; i++) {
    size_t cap = strlen(ANSWERS[i].body) + 1;
    char *out = out_buf(cap);
    size_t len = 0;
    kg_status rc = kg_error_body(ANSWERS[i].decision, NULL, 0, rid(),
                                 KG_REQUEST_ID_LEN, out, cap, &len);
    assert_int_equal(rc, KG_OK);
    assert_int_equal(len, strlen(ANSWERS[i].body));
    assert_string_equal(out, ANSWERS[i].body);
  }
}

static void the_documented_missing_body_is_exact(void **state) {
  (void)state;
  char out[KG_ERROR_BODY_MAX];
  size_t len;
  assert_int_equal(kg_error_body(KG_MISSING_API_KEY, NULL, 0, rid(),
                                 KG_REQUEST_ID_LEN, out, sizeof out, &len),
                   KG_OK);
  assert_string_equal(
      out, "{\"error\":{\"code\":\"missing_api_key\",\"message\":\"API key is "
           "required. Include it in the Authorization header as \\\"Bearer "
           "sk_live_...\\\" or in the X-API-Key header.\",\"request_id\":"
           "\"req_0123456789ABCDEFGHIJKLMN\"}}");
}

static void custom_messages_are_json_escaped(void **state) {
  (void)state;
  static const char msg[] = "say \"hi\" \\ now\n\x01\x7f caf\xc3\xa9";
  char out[KG_ERROR_BODY_MAX];
  size_t len;
  assert_int_equal(kg_error_body(KG_INVALID_PARAMETER,
                                 guard_copy(msg, sizeof msg - 1),
                                 sizeof msg - 1, rid(), KG_REQUEST_ID_LEN, out,
                                 sizeof out, &len),
                   KG_OK);
  assert_int_equal(len, strlen(out));
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)out[i];
    if (c < 0x20 || c == 0x7f) {
      fail_msg("raw control byte 0x%02x at %zu of the body", c, i);
    }
  }
  assert_non_null(strstr(out, "\"message\":\"say \\\"hi\\\" \\\\ now"));
  assert_non_null(strstr(out, "caf\xc3\xa9\",\"request_id\":\"" RID "\"}}"));
  assert_memory_equal(out, "{\"error\":{\"code\":\"invalid_parameter\"", 36);
}

/* A message that is not UTF-8 still makes valid JSON: every byte that
 * starts no well-formed sequence (RFC 3629) is U+FFFD, escaped; a
 * well-formed one of 2, 3 or 4 bytes is kept as it is. */
static void
messages_that_are_not_utf8_become_replacement_characters(void **state) {
  (void)state;
  static const struct {
    const char *in, *want;
  } cases[] = {
      {"a\xc3\xa9"
       "b",
       "a\xc3\xa9"
       "b"},                                    /* U+00E9 */
      {"\xe2\x82\xac", "\xe2\x82\xac"},         /* U+20AC */
      {"\xf0\x9f\x94\x91", "\xf0\x9f\x94\x91"}, /* U+1F511 */
      {"\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"}, /* U+10FFFF */
      {"a\x80"
       "b",
       "a\\ufffd"
       "b"},                                     /* lone continuation */
      {"\xc0\x80", "\\ufffd\\ufffd"},            /* overlong NUL */
      {"\xe0\x80\x80", "\\ufffd\\ufffd\\ufffd"}, /* overlong */
      {"\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"}, /* surrogate D800 */
      {"\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"}, /* > U+10FFFF */
      {"\xf5", "\\ufffd"},
      {"\xff", "\\ufffd"},
      {"x\xe2\x82", "x\\ufffd\\ufffd"}, /* cut short at the end */
      {"\xc3(", "\\ufffd("},            /* a bad second byte */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[KG_ERROR_BODY_MAX], want[KG_ERROR_BODY_MAX];
    size_t len = 0;
    const size_t n = strlen(cases[i].in);
    assert_int_equal(kg_error_body(KG_INVALID_PARAMETER,
                                   guard_copy(cases[i].in, n), n, rid(),
                                   KG_REQUEST_ID_LEN, out, sizeof out, &len),
                     KG_OK);
    snprintf(want, sizeof want,
             "{\"error\":{\"code\":\"invalid_parameter\",\"message\":\"%s\","
             "\"request_id\":\"" RID "\"}}",
             cases[i].want);
    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));
  }
}

static void bodies_refuse_non_errors_and_bad_request_ids(void **state) {
  (void)state;
  char out[KG_ERROR_BODY_MAX];
  size_t len;
  static const kg_status codes[] = {KG_VALID, KG_OK, KG_E_NOMEM,
                                    KG_KEY_UNKNOWN};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    assert_int_equal(kg_error_body(codes[i], NULL, 0, rid(), KG_REQUEST_ID_LEN,
                                   out, sizeof out, &len),
                     KG_E_ARGUMENT);
  }
  static const char *const ids[] = {
      "req-0123456789ABCDEFGHIJKLMN", "REQ_0123456789ABCDEFGHIJKLMN",
      "req_0123456789ABCDEFGHIJKLM!", "req_0123456789ABCD\"FGHIJKLMN",
      "req_0123456789ABCDEFGHIJKL\nN"};
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
    assert_int_equal(kg_error_body(KG_MISSING_API_KEY, NULL, 0,
                                   guard_copy(ids[i], KG_REQUEST_ID_LEN),
                                   KG_REQUEST_ID_LEN, out, sizeof out, &len),
                     KG_E_ARGUMENT);
  }
  /* The id is passed with its length, which must be KG_REQUEST_ID_LEN. */
  static const size_t lens[] = {0, 4, KG_REQUEST_ID_LEN - 1,
                                KG_REQUEST_ID_LEN + 1};
  static const char longer[] = RID "x";
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    assert_int_equal(kg_error_body(KG_MISSING_API_KEY, NULL, 0,
                                   guard_copy(longer, lens[i]), lens[i], out,
                                   sizeof out, &len),
                     KG_E_ARGUMENT);
    assert_int_equal(kg_refusal_render(KG_E_MISSING_HOST,
                                       guard_copy(longer, lens[i]), lens[i],
                                       out, sizeof out, &len),
                     KG_E_ARGUMENT);
  }
}

/* ---- the NULL policy (api.h) -------------------------------------------- */

static int body_without_id(void) {
  char out[KG_ERROR_BODY_MAX];
  size_t len;
  return (int)kg_error_body(KG_MISSING_API_KEY, NULL, 0, NULL,
                            KG_REQUEST_ID_LEN, out, sizeof out, &len);
}

static int body_without_out(void) {
  size_t len;
  return (int)kg_error_body(KG_MISSING_API_KEY, NULL, 0, RID, KG_REQUEST_ID_LEN,
                            NULL, 0, &len);
}

static int body_with_a_null_message_of_length_5(void) {
  char out[KG_ERROR_BODY_MAX];
  size_t len;
  return (int)kg_error_body(KG_MISSING_API_KEY, NULL, 5, RID, KG_REQUEST_ID_LEN,
                            out, sizeof out, &len);
}

static int challenge_without_len(void) {
  char out[KG_WWW_AUTHENTICATE_MAX];
  return (int)kg_www_authenticate(KG_MISSING_API_KEY, "api", 3, out, sizeof out,
                                  NULL);
}

static int realm_null_of_length_3(void) {
  return (int)kg_realm_check(NULL, 3);
}

static int response_without_out(void) {
  size_t len;
  return (int)kg_response_render(KG_MISSING_API_KEY, "api", 3, RID,
                                 KG_REQUEST_ID_LEN, NULL, 0, &len);
}

static int refusal_without_id(void) {
  char out[KG_RESPONSE_MAX];
  size_t len;
  return (int)kg_refusal_render(KG_E_MISSING_HOST, NULL, KG_REQUEST_ID_LEN, out,
                                sizeof out, &len);
}

static int request_id_into_null(void) {
  return (int)kg_request_id(NULL);
}

static void a_null_where_none_is_allowed_is_a_caller_bug(void **state) {
  (void)state;
  expect_caller_bug(body_without_id, KG_E_ARGUMENT, "kg_error_body(id NULL)");
  expect_caller_bug(body_without_out, KG_E_ARGUMENT, "kg_error_body(out NULL)");
  expect_caller_bug(body_with_a_null_message_of_length_5, KG_E_ARGUMENT,
                    "kg_error_body(message NULL, 5)");
  expect_caller_bug(challenge_without_len, KG_E_ARGUMENT,
                    "kg_www_authenticate(out_len NULL)");
  expect_caller_bug(realm_null_of_length_3, KG_E_ARGUMENT,
                    "kg_realm_check(NULL, 3)");
  expect_caller_bug(response_without_out, KG_E_ARGUMENT,
                    "kg_response_render(out NULL)");
  expect_caller_bug(refusal_without_id, KG_E_ARGUMENT,
                    "kg_refusal_render(id NULL)");
  expect_caller_bug(request_id_into_null, KG_E_ARGUMENT, "kg_request_id(NULL)");
}

/* Where a header allows NULL, it is no bug: an empty realm is refused. */
static void a_null_realm_of_length_0_is_an_empty_realm(void **state) {
  (void)state;
  assert_int_equal(kg_realm_check(NULL, 0), KG_E_ARGUMENT);
}

static void bodies_never_write_past_cap(void **state) {
  (void)state;
  for (size_t i = 0; i < NANSWERS; i++) {
    size_t need = strlen(ANSWERS[i].body) + 1;
    for (size_t cap = 0; cap < need; cap++) {
      size_t len = 99;
      if (kg_error_body(ANSWERS[i].decision, NULL, 0, rid(), KG_REQUEST_ID_LEN,
                        out_buf(cap), cap, &len) != KG_E_BUFFER_TOO_SMALL) {
        fail_msg("%s body fitted in %zu bytes of %zu",
                 kg_status_str(ANSWERS[i].decision), cap, need);
      }
    }
    guard_free_all();
  }
}

static void every_default_body_fits_the_documented_maximum(void **state) {
  (void)state;
  for (size_t i = 0; i < NANSWERS; i++) {
    assert_true(strlen(ANSWERS[i].body) + 1 <= KG_ERROR_BODY_MAX);
  }
}

/* The server's answers that are not decisions, byte for byte: what the
 * nginx module sends (docs/server.md). */
static void server_answers_have_exact_bodies(void **state) {
  (void)state;
  static const struct {
    kg_status code;
    int status;
    const char *message; /* NULL: the default */
    const char *body;
  } cases[] = {
      {KG_SERVICE_UNAVAILABLE, 503, NULL,
       "{\"error\":{\"code\":\"service_unavailable\",\"message\":\"The "
       "service cannot check API keys right now. Retry in a few seconds.\","
       "\"request_id\":\"" RID "\"}}"},
      {KG_TOO_MANY_REQUESTS, 429, NULL,
       "{\"error\":{\"code\":\"too_many_requests\",\"message\":\"Too many "
       "requests in progress from this address. Retry when some have "
       "finished.\",\"request_id\":\"" RID "\"}}"},
      {KG_NOT_FOUND, 404, NULL,
       "{\"error\":{\"code\":\"not_found\",\"message\":\"No such "
       "endpoint.\",\"request_id\":\"" RID "\"}}"},
      {KG_NOT_FOUND, 404, "No such endpoint. The API serves GET /api/v1/iocs.",
       "{\"error\":{\"code\":\"not_found\",\"message\":\"No such endpoint. "
       "The API serves GET /api/v1/iocs.\",\"request_id\":\"" RID "\"}}"},
      {KG_BAD_GATEWAY, 502, NULL,
       "{\"error\":{\"code\":\"bad_gateway\",\"message\":\"The API "
       "behind the gateway could not be reached. Retry in a few seconds.\","
       "\"request_id\":\"" RID "\"}}"},
      {KG_GATEWAY_TIMEOUT, 504, NULL,
       "{\"error\":{\"code\":\"gateway_timeout\",\"message\":\"The API "
       "behind the gateway did not answer in time. Retry in a few "
       "seconds.\",\"request_id\":\"" RID "\"}}"},
      {KG_E_METHOD_NOT_ALLOWED, 405, "Use GET /_keygate/status.",
       "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"Use GET "
       "/_keygate/status.\",\"request_id\":\"" RID "\"}}"},
      {KG_E_METHOD_NOT_ALLOWED, 405, NULL,
       "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"This "
       "method is not allowed. TRACE and CONNECT are refused.\","
       "\"request_id\":\"" RID "\"}}"},
      {KG_E_MISSING_HOST, 400, NULL,
       "{\"error\":{\"code\":\"bad_request\",\"message\":\"The request has "
       "no Host header. HTTP/1.1 requests must send exactly one Host header "
       "(RFC 9112 section 3.2).\",\"request_id\":\"" RID "\"}}"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *m = cases[i].message;
    size_t ml = m != NULL ? strlen(m) : 0;
    size_t cap = strlen(cases[i].body) + 1;
    char *out = out_buf(cap);
    size_t len = 0;
    assert_int_equal(kg_error_body(cases[i].code,
                                   m != NULL ? guard_copy(m, ml) : NULL, ml,
                                   rid(), KG_REQUEST_ID_LEN, out, cap, &len),
                     KG_OK);
    assert_string_equal(out, cases[i].body);
    assert_int_equal(len, cap - 1);
    assert_int_equal(kg_http_status(cases[i].code), cases[i].status);
    /* one byte less does not fit */
    assert_int_equal(kg_error_body(cases[i].code,
                                   m != NULL ? guard_copy(m, ml) : NULL, ml,
                                   rid(), KG_REQUEST_ID_LEN, out_buf(cap - 1),
                                   cap - 1, &len),
                     KG_E_BUFFER_TOO_SMALL);
  }
}

/* kg_error_body takes every answer and nothing else, each with its own
 * code, its default message and its status: walked over every status
 * value, against the refusal functions and the decision table. */
static void every_answer_code_has_a_body_and_nothing_else_does(void **state) {
  (void)state;
  size_t answers = 0;
  for (int v = -5; v < 256; v++) {
    kg_status s = (kg_status)v;
    const int refusal = kg_refusal_http_status(s) != 0;
    const int server = s == KG_SERVICE_UNAVAILABLE ||
                       s == KG_TOO_MANY_REQUESTS || s == KG_NOT_FOUND ||
                       s == KG_BAD_GATEWAY || s == KG_GATEWAY_TIMEOUT;
    const int error = kg_status_is_decision(s) && s != KG_VALID;
    char out[KG_ERROR_BODY_MAX];
    size_t len = 0;
    kg_status rc = kg_error_body(s, NULL, 0, rid(), KG_REQUEST_ID_LEN, out,
                                 sizeof out, &len);
    if (!(refusal || server || error)) {
      if (rc != KG_E_ARGUMENT) {
        fail_msg("%s (%d) got a body", kg_status_str(s), v);
      }
      assert_int_equal(kg_http_status(s), s == KG_VALID ? 200 : 500);
      continue;
    }
    answers++;
    if (rc != KG_OK) {
      fail_msg("%s (%d): %s", kg_status_str(s), v, kg_status_str(rc));
    }
    const char *code = refusal ? kg_refusal_code(s) : kg_status_str(s);
    const char *message = kg_error_message(s);
    assert_true(message[0] != '\0');
    char want[KG_ERROR_BODY_MAX];
    int n = snprintf(want, sizeof want,
                     "{\"error\":{\"code\":\"%s\",\"message\":\"%s\","
                     "\"request_id\":\"" RID "\"}}",
                     code, message);
    assert_true(n > 0 && (size_t)n < sizeof want);
    if (strchr(message, '"') == NULL) { /* else escaped: the table above */
      assert_string_equal(out, want);
    }
    assert_int_not_equal(kg_http_status(s), 500);
    if (refusal) {
      assert_string_equal(message, kg_refusal_message(s));
      assert_int_equal(kg_http_status(s), kg_refusal_http_status(s));
    }
  }
  /* 6 error decisions, 5 server answers, 21 refusals */
  assert_int_equal(answers, 6 + 5 + 21);
}

/* ---- whole responses ---------------------------------------------------- */

/* expected_response — the response text SPEC §1.4 asks for. */
static size_t expected_response(const answer *a, const char *realm, char *out,
                                size_t cap) {
  char challenge[512] = "";
  if (a->challenge != NULL) {
    /* the table's challenges use realm "api": rebuild for this realm */
    const char *rest = a->challenge + strlen("Bearer realm=\"api\"");
    int c =
        snprintf(challenge, sizeof challenge,
                 "WWW-Authenticate: Bearer realm=\"%s\"%s\r\n", realm, rest);
    assert_true(c > 0 && (size_t)c < sizeof challenge);
  }
  int n = snprintf(out, cap,
                   "HTTP/1.1 %d %s\r\n"
                   "Content-Type: application/json\r\n"
                   "Cache-Control: no-store\r\n"
                   "X-Request-Id: " RID "\r\n"
                   "%s"
                   "Content-Length: %zu\r\n"
                   "\r\n"
                   "%s",
                   a->status, a->status == 401 ? "Unauthorized" : "Bad Request",
                   challenge, strlen(a->body), a->body);
  assert_true(n > 0 && (size_t)n < cap);
  return (size_t)n;
}

static void responses_are_exact_for_every_error_decision(void **state) {
  (void)state;
  for (size_t i = 0; i < NANSWERS; i++) {
    char want[2048];
    size_t wl = expected_response(&ANSWERS[i], "api", want, sizeof want);
    char *out = out_buf(wl + 1);
    size_t len = 0;
    assert_int_equal(kg_response_render(ANSWERS[i].decision,
                                        guard_copy("api", 3), 3, rid(),
                                        KG_REQUEST_ID_LEN, out, wl + 1, &len),
                     KG_OK);
    assert_int_equal(len, wl);
    assert_string_equal(out, want);
  }
}

static void responses_with_the_longest_realm_fit_response_max(void **state) {
  (void)state;
  char realm[KG_REALM_MAX + 1];
  memset(realm, 'R', KG_REALM_MAX);
  realm[KG_REALM_MAX] = '\0';
  for (size_t i = 0; i < NANSWERS; i++) {
    char want[2048];
    size_t wl = expected_response(&ANSWERS[i], realm, want, sizeof want);
    assert_true(wl + 1 <= KG_RESPONSE_MAX);
    char *out = out_buf(KG_RESPONSE_MAX);
    size_t len = 0;
    assert_int_equal(kg_response_render(ANSWERS[i].decision,
                                        guard_copy(realm, KG_REALM_MAX),
                                        KG_REALM_MAX, rid(), KG_REQUEST_ID_LEN,
                                        out, KG_RESPONSE_MAX, &len),
                     KG_OK);
    assert_string_equal(out, want);
  }
}

static void a_valid_request_gets_no_rendered_response(void **state) {
  (void)state;
  char out[KG_RESPONSE_MAX];
  size_t len;
  assert_int_equal(kg_response_render(KG_VALID, guard_copy("api", 3), 3, rid(),
                                      KG_REQUEST_ID_LEN, out, sizeof out, &len),
                   KG_E_ARGUMENT);
  assert_int_equal(kg_response_render(KG_OK, guard_copy("api", 3), 3, rid(),
                                      KG_REQUEST_ID_LEN, out, sizeof out, &len),
                   KG_E_ARGUMENT);
  /* A refusal has its own renderer (kg_refusal_render), without a
   * challenge: kg_response_render is for the decisions. */
  assert_int_equal(kg_response_render(KG_E_MISSING_HOST, guard_copy("api", 3),
                                      3, rid(), KG_REQUEST_ID_LEN, out,
                                      sizeof out, &len),
                   KG_E_ARGUMENT);
}

static void responses_never_write_past_cap(void **state) {
  (void)state;
  for (size_t i = 0; i < NANSWERS; i++) {
    char want[2048];
    size_t wl = expected_response(&ANSWERS[i], "api", want, sizeof want);
    for (size_t cap = 0; cap <= wl; cap++) {
      size_t len = 99;
      if (kg_response_render(ANSWERS[i].decision, guard_copy("api", 3), 3,
                             rid(), KG_REQUEST_ID_LEN, out_buf(cap), cap,
                             &len) != KG_E_BUFFER_TOO_SMALL) {
        fail_msg("%s response fitted in %zu bytes of %zu",
                 kg_status_str(ANSWERS[i].decision), cap, wl + 1);
      }
    }
    guard_free_all();
  }
}

static void x_request_id_equals_the_body_request_id(void **state) {
  (void)state;
  for (size_t i = 0; i < NANSWERS; i++) {
    char id[KG_REQUEST_ID_LEN + 1];
    assert_int_equal(kg_request_id(id), KG_OK);
    char out[KG_RESPONSE_MAX];
    size_t len;
    assert_int_equal(
        kg_response_render(ANSWERS[i].decision, guard_copy("api", 3), 3, id,
                           KG_REQUEST_ID_LEN, out, sizeof out, &len),
        KG_OK);
    char hdr[64], body[64];
    snprintf(hdr, sizeof hdr, "\r\nX-Request-Id: %s\r\n", id);
    snprintf(body, sizeof body, "\"request_id\":\"%s\"}}", id);
    assert_non_null(strstr(out, hdr));
    const char *b = strstr(out, "\r\n\r\n");
    assert_non_null(b);
    assert_non_null(strstr(b, body));
  }
}

#define T(f) cmocka_unit_test_teardown(f, guard_teardown)

/* ---- refusals before authentication ----------------------------------- */

static void refusals_have_their_status_code_and_message(void **state) {
  (void)state;
  static const struct {
    kg_status s;
    int status;
    const char *code;
  } cases[] = {
      {KG_E_MISSING_HOST, 400, "bad_request"},
      {KG_E_BAD_HOST, 400, "bad_request"},
      {KG_E_DUPLICATE_HEADER, 400, "bad_request"},
      {KG_E_BAD_FRAMING, 400, "bad_request"},
      {KG_E_BAD_BODY, 400, "bad_request"},
      {KG_E_BAD_TARGET, 400, "bad_request"},
      {KG_E_OBS_FOLD, 400, "bad_request"},
      {KG_E_METHOD_NOT_ALLOWED, 405, "method_not_allowed"},
      {KG_E_URI_TOO_LONG, 414, "uri_too_long"},
      {KG_E_HEADER_TOO_LARGE, 431, "header_too_large"},
      {KG_E_UNSUPPORTED_TRANSFER_CODING, 501, "unsupported_transfer_coding"},
      {KG_E_VERSION_NOT_SUPPORTED, 505, "http_version_not_supported"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(kg_refusal_http_status(cases[i].s), cases[i].status);
    assert_string_equal(kg_refusal_code(cases[i].s), cases[i].code);
    assert_non_null(kg_refusal_message(cases[i].s));
  }
  assert_int_equal(kg_refusal_http_status(KG_MISSING_API_KEY), 0);
  assert_null(kg_refusal_code(KG_OK));
  assert_null(kg_refusal_message(KG_VALID));
}

static void missing_host_answer_names_the_host(void **state) {
  (void)state;
  char out[KG_RESPONSE_MAX];
  size_t len = 0;
  static const char id[] = "req_0123456789ABCDEFGHIJKLMN";
  assert_int_equal(kg_refusal_render(KG_E_MISSING_HOST, id, KG_REQUEST_ID_LEN,
                                     out, sizeof out, &len),
                   KG_OK);
  assert_int_equal(len, strlen(out));
  assert_non_null(strstr(out, "HTTP/1.1 400 Bad Request\r\n"));
  assert_non_null(strstr(out, "\r\nCache-Control: no-store\r\n"));
  assert_non_null(strstr(out, "\r\nX-Request-Id: req_0123456789ABCDEFGHIJKLMN"
                              "\r\n"));
  assert_non_null(
      strstr(out, "\r\n\r\n{\"error\":{\"code\":\"bad_request\",\"message\":"
                  "\"The request has no Host header."));
  assert_non_null(strstr(out, "\"request_id\":\"req_0123456789ABCDEFGHIJKLMN"
                              "\"}}"));
  assert_int_equal(kg_refusal_render(KG_E_VERSION_NOT_SUPPORTED, id,
                                     KG_REQUEST_ID_LEN, out, sizeof out, &len),
                   KG_OK);
  assert_non_null(strstr(out, "HTTP/1.1 505 HTTP Version Not Supported\r\n"));
  assert_int_equal(kg_refusal_render(KG_MISSING_API_KEY, id, KG_REQUEST_ID_LEN,
                                     out, sizeof out, &len),
                   KG_E_ARGUMENT);
  assert_int_equal(kg_refusal_render(KG_E_MISSING_HOST, id, KG_REQUEST_ID_LEN,
                                     out, 10, &len),
                   KG_E_BUFFER_TOO_SMALL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      T(refusals_have_their_status_code_and_message),
      T(missing_host_answer_names_the_host),
      T(http_status_follows_the_decision),
      T(messages_are_pinned_byte_for_byte),
      T(missing_message_is_the_documented_one),
      T(invalid_message_does_not_say_why),
      T(www_authenticate_per_decision),
      T(www_authenticate_carries_the_configured_realm),
      T(realms_that_cannot_be_quoted_are_refused),
      T(www_authenticate_never_writes_past_cap),
      T(request_ids_are_req_and_24_base62_and_unique),
      T(error_bodies_are_exact),
      T(the_documented_missing_body_is_exact),
      T(custom_messages_are_json_escaped),
      T(messages_that_are_not_utf8_become_replacement_characters),
      T(bodies_refuse_non_errors_and_bad_request_ids),
      T(a_null_where_none_is_allowed_is_a_caller_bug),
      T(a_null_realm_of_length_0_is_an_empty_realm),
      T(realm_check_takes_printable_ascii_but_quote_and_backslash),
      T(www_authenticate_max_holds_exactly_the_longest_challenge),
      T(server_answers_have_exact_bodies),
      T(every_answer_code_has_a_body_and_nothing_else_does),
      T(bodies_never_write_past_cap),
      T(every_default_body_fits_the_documented_maximum),
      T(responses_are_exact_for_every_error_decision),
      T(responses_with_the_longest_realm_fit_response_max),
      T(a_valid_request_gets_no_rendered_response),
      T(responses_never_write_past_cap),
      T(x_request_id_equals_the_body_request_id),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
