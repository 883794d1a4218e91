/*
 * tests/unit/test_load_probe.c — the case table of `keygate probe`
 * (load/probe.h): names, expectations and rationales; the keys it makes;
 * the exact bytes of every request, parsed back by libkeygate's request
 * head parser and decided by libkeygate itself, so that the table and the
 * reference implementation of the contract cannot drift apart; and the
 * judgement of one answer (conforming, missing Cache-Control, an echoed
 * key, a 2xx where an error was due).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "keygate/decision.h"
#include "keygate/digest.h"
#include "keygate/head.h"
#include "keygate/index.h"
#include "keygate/key.h"
#include "keygate/response.h"
#include "keygate/status.h"
#include "load/probe.h"
#include "load/redact.h"

/* Strict sk_live_ keys with valid checksums (as test_decision.c). */
#define K_VALID "sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGk"
#define K_EXPIRED "sk_live_7Iq6S0qvhVhKDPGMxMpOlWe4kL5ZYIIT4ZTBN4"
#define NOW 1767225600

static void keys_init(kgl_probe_keys *k, int with_expired) {
  char why[256];
  assert_int_equal(kgl_probe_keys_init(
                       k, "sk_live_", K_VALID, strlen(K_VALID), K_EXPIRED,
                       with_expired ? strlen(K_EXPIRED) : 0, why, sizeof why),
                   0);
}

/* ====================================================================== */
/* The table                                                              */
/* ====================================================================== */

static void at_least_forty_cases(void **state) {
  (void)state;
  size_t n;
  kgl_probe_cases(&n);
  assert_true(n >= 40);
}

static void names_are_unique_snake_case_and_not_group_names(void **state) {
  (void)state;
  size_t n;
  const kgl_probe_case *c = kgl_probe_cases(&n);
  for (size_t i = 0; i < n; i++) {
    assert_true(strlen(c[i].name) > 0);
    assert_int_equal(strspn(c[i].name, "abcdefghijklmnopqrstuvwxyz0123456789_"),
                     strlen(c[i].name));
    assert_ptr_equal(kgl_probe_find(c[i].name, strlen(c[i].name)), &c[i]);
    for (size_t j = 0; j < n; j++) {
      if (j != i) {
        assert_string_not_equal(c[i].name, c[j].name);
      }
      /* --only takes both: a case must not shadow a group */
      assert_string_not_equal(c[i].name, c[j].group);
    }
  }
  assert_null(kgl_probe_find("nope", 4));
  assert_null(kgl_probe_find("no_ke", 5));
}

static void every_case_has_an_expectation_and_a_rationale(void **state) {
  (void)state;
  /* SPEC §1.4's codes, their statuses from libkeygate */
  static const kg_status CODES[] = {KG_MISSING_API_KEY, KG_INVALID_API_KEY,
                                    KG_EXPIRED_API_KEY, KG_AMBIGUOUS_API_KEY,
                                    KG_API_KEY_IN_QUERY};
  size_t n;
  const kgl_probe_case *c = kgl_probe_cases(&n);
  size_t summaries = 0;
  for (size_t i = 0; i < n; i++) {
    assert_non_null(c[i].rationale);
    assert_true(strlen(c[i].rationale) > 20);
    assert_non_null(c[i].group);
    char exp[96];
    assert_true(strlen(kgl_probe_expected(&c[i], exp, sizeof exp)) > 0);
    if (c[i].rfc != NULL) {
      assert_true(strncmp(c[i].rfc, "RFC ", 4) == 0);
      assert_non_null(strstr(c[i].rfc, " §"));
    }
    if (c[i].kind == KGL_PROBE_SUMMARY) {
      summaries++;
      assert_null(c[i].fields);
      continue;
    }
    assert_non_null(c[i].fields);
    if (c[i].status == 0) {
      assert_null(c[i].code); /* 2xx: the API's own answer */
      continue;
    }
    /* an error: one of SPEC §1.4's codes, with its status */
    int known = 0;
    for (size_t j = 0; j < sizeof CODES / sizeof CODES[0]; j++) {
      if (strcmp(c[i].code, kg_status_str(CODES[j])) == 0) {
        known = 1;
        assert_int_equal(c[i].status, kg_http_status(CODES[j]));
      }
    }
    assert_true(known);
  }
  assert_int_equal(summaries, 2);
}

/* ====================================================================== */
/* Keys                                                                   */
/* ====================================================================== */

static int hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* Percent-decode s once into out. */
static void decode(const char *s, char *out) {
  while (*s != '\0') {
    if (s[0] == '%' && s[1] != '\0' && s[2] != '\0') {
      *out++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
      s += 3;
    } else {
      *out++ = *s++;
    }
  }
  *out = '\0';
}

static void the_made_keys_fail_as_their_names_say(void **state) {
  (void)state;
  kgl_probe_keys k;
  keys_init(&k, 1);
  const kg_key_policy *p = &k.policy;
  assert_int_equal(kg_key_check(p, k.unknown, k.unknown_len), KG_OK);
  assert_string_not_equal(k.unknown, K_VALID);
  assert_int_equal(kg_key_check(p, k.bad_checksum, strlen(k.bad_checksum)),
                   KG_KEY_BAD_CHECKSUM);
  assert_int_equal(kg_key_check(p, k.truncated, strlen(k.truncated)),
                   KG_KEY_BAD_LENGTH);
  assert_int_equal(kg_key_check(p, k.malformed, strlen(k.malformed)),
                   KG_KEY_BAD_CHARACTER);
  assert_int_equal(kg_key_check(p, k.wrong_prefix, strlen(k.wrong_prefix)),
                   KG_KEY_BAD_PREFIX);
  assert_true(strncmp(k.wrong_prefix, "sk_test_", 8) == 0);
  /* encoded: the prefix hidden once; double-encoded: twice */
  char once[KGL_PROBE_KEY_MAX], twice[KGL_PROBE_KEY_MAX];
  assert_null(strstr(k.encoded, "sk_live_"));
  decode(k.encoded, once);
  assert_string_equal(once, k.unknown);
  assert_true(strncmp(k.double_encoded, "%2573k_live_", 12) == 0);
  decode(k.double_encoded, once);
  assert_null(strstr(once, "sk_live_"));
  decode(once, twice);
  assert_string_equal(twice, k.unknown);
  /* fresh on every call */
  kgl_probe_keys k2;
  keys_init(&k2, 0);
  assert_string_not_equal(k.unknown, k2.unknown);
  assert_int_equal(k2.expired_len, 0);
}

static void keys_init_refuses_what_is_no_key(void **state) {
  (void)state;
  static const struct {
    const char *prefix, *valid, *expired, *why;
  } cases[] = {
      {"sk_live_", "sk_test_w050SbYxr5doCF7d2mYzHgmeM90Kgban3LiVSz", "",
       "does not start with the prefix"},
      {"sk_live_", "sk_live_short", "", "13 bytes long"},
      {"sk_live_", "sk_live_abcdefgh ijk", "", "a byte a key cannot hold"},
      {"sk_live_", "sk_live_abcdefgh\"ijk", "", "a byte a key cannot hold"},
      {"sk_live_", K_VALID, K_VALID, "the expired key is the valid key"},
      {"sk_live_", K_VALID, "sk_test_w050SbYxr5doCF7d2mYzHgmeM90Kgban3LiVSz",
       "the expired key does not start"},
      {"sk live", K_VALID, "", "the prefix must be"},
      {"", K_VALID, "", "the prefix must be"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kgl_probe_keys k;
    char why[256] = "";
    assert_int_equal(
        kgl_probe_keys_init(&k, cases[i].prefix, cases[i].valid,
                            strlen(cases[i].valid), cases[i].expired,
                            strlen(cases[i].expired), why, sizeof why),
        -1);
    assert_non_null(strstr(why, cases[i].why));
    assert_null(strstr(why, "7KWyWfty")); /* the key never named */
  }
  /* another issuer's key: its own prefix, token68 */
  kgl_probe_keys k;
  char why[256];
  assert_int_equal(kgl_probe_keys_init(&k, "pk-", "pk-foreign.token~v1/AB+cd==",
                                       27, "", 0, why, sizeof why),
                   0);
  assert_true(strncmp(k.unknown, "pk-", 3) == 0);
  assert_true(strncmp(k.wrong_prefix, "xk-", 3) == 0);
}

static void show_masks_and_refuses_pieces_of_keys(void **state) {
  (void)state;
  kgl_probe_keys k;
  keys_init(&k, 1);
  char out[256];
  const char *in = "key=" K_VALID " and " K_EXPIRED;
  kgl_probe_show(&k, in, strlen(in), out, sizeof out);
  assert_string_equal(out, "key=sk_live_****cUGk and sk_live_****TBN4");
  /* a piece without the prefix survives kgl_redact: refused whole */
  const char *piece = "id 7KWyWfty6uEvcdZQ";
  kgl_probe_show(&k, piece, strlen(piece), out, sizeof out);
  assert_string_equal(out, "(hidden: it would show part of a key)");
  kgl_probe_show(&k, "7KWyWft", 7, out, sizeof out); /* 7 bytes: fine */
  assert_string_equal(out, "7KWyWft");
  /* a piece encoded four levels deep (%25252537 is, in the end, '7'):
   * the probe looks as deep as load's masks do (it stopped at three) */
  const char *deep = "id "
                     "%25252537%2525254B%25252557%25252579%25252557"
                     "%25252566%25252574%25252579%25252536%25252575"
                     "EvcdZQ";
  kgl_probe_show(&k, deep, strlen(deep), out, sizeof out);
  assert_string_equal(out, "(hidden: it would show part of a key)");
}

/* ====================================================================== */
/* Requests: well formed, and decided by libkeygate as the table says     */
/* ====================================================================== */

typedef struct decider {
  kg_digester *digester;
  kg_index *index;
  kg_checker checker;
} decider;

static void decider_init(decider *d) {
  assert_int_equal(kg_digester_new(NULL, 0, &d->digester), KG_OK);
  kg_record recs[2];
  memset(recs, 0, sizeof recs);
  assert_int_equal(
      kg_digest(d->digester, K_VALID, strlen(K_VALID), recs[0].digest), KG_OK);
  assert_int_equal(
      kg_digest(d->digester, K_EXPIRED, strlen(K_EXPIRED), recs[1].digest),
      KG_OK);
  recs[0].key_id = 1;
  recs[1].key_id = 2;
  recs[1].status = KG_REC_DEACTIVATED;
  assert_int_equal(kg_index_build(recs, 2, &d->index), KG_OK);
  assert_int_equal(
      kg_key_policy_init(&d->checker.policy, KG_KEY_STRICT, "sk_live_", 8),
      KG_OK);
  d->checker.digester = d->digester;
  d->checker.index = d->index;
}

static void decider_free(decider *d) {
  kg_index_free(d->index);
  kg_digester_free(d->digester);
}

static int span_eq(kg_span s, const char *lit) {
  return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

static int span_has(kg_span s, const char *needle) {
  const size_t n = strlen(needle);
  for (size_t i = 0; i + n <= s.len; i++) {
    if (memcmp(s.ptr + i, needle, n) == 0) {
      return 1;
    }
  }
  return 0;
}

/* One request case against target `target`: well formed per its kind, and
 * libkeygate's decision is the case's expectation. */
static void check_request(const kgl_probe_case *c, const kgl_probe_keys *k,
                          decider *d, const char *target) {
  char buf[KGL_PROBE_REQUEST_MAX];
  const size_t n =
      kgl_probe_request(c, k, "api.example:8443", target, buf, sizeof buf);
  assert_true(n > 0);
  assert_true(n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
  kg_field fields[KG_HEAD_MAX_FIELDS];
  kg_head h; /* control bytes in values as nginx: x_api_key_control_char */
  kg_head_init(&h, fields, KG_HEAD_MAX_FIELDS, KG_HEAD_CTL_IN_VALUES);
  size_t used = 0;
  assert_int_equal(kg_head_parse(buf, n, &h, &used), KG_OK);
  assert_int_equal(used, n); /* one request, nothing after it */
  assert_true(span_eq(h.method, "GET"));
  assert_true(span_eq(h.version, "HTTP/1.1"));
  assert_true(h.target.len > 0 && h.target.ptr[0] == '/');
  /* Host first; the probe's own three lines last, Connection: close */
  assert_true(h.nfields >= 4);
  assert_true(span_eq(fields[0].name, "Host"));
  assert_true(span_eq(fields[0].value, "api.example:8443"));
  assert_true(span_eq(fields[h.nfields - 1].name, "Connection"));
  assert_true(span_eq(fields[h.nfields - 1].value, "close"));
  /* the valid and expired keys never go into a URL */
  assert_false(span_has(h.target, K_VALID + 8));
  assert_false(span_has(h.target, K_EXPIRED + 8));
  switch (c->target) {
  case KGL_PROBE_TARGET_URL:
    assert_true(span_eq(h.target, target));
    break;
  case KGL_PROBE_TARGET_QUERY:
    assert_true(h.query.len > 0);
    assert_true(h.target.len > strlen(target));
    assert_true(memcmp(h.target.ptr, target, strlen(target)) == 0);
    break;
  case KGL_PROBE_TARGET_PATH:
    assert_true(h.path.len > strcspn(target, "?"));
    break;
  }
  kg_decision dec;
  const kg_status s =
      kg_decide(&d->checker, fields, h.nfields, h.target, NOW, &dec);
  const char *want = c->status == 0 ? "valid" : c->code;
  if (strcmp(kg_status_str(s), want) != 0) {
    fail_msg("case %s: libkeygate decides %s, the table expects %s", c->name,
             kg_status_str(s), want);
  }
}

static void every_request_is_well_formed_and_decided_as_expected(void **state) {
  (void)state;
  kgl_probe_keys k;
  keys_init(&k, 1);
  decider d;
  decider_init(&d);
  static const char *const TARGETS[] = {"/api/v1/iocs",
                                        "/api/v1/iocs?type=ipv4&limit=10", "/",
                                        "/a?", "/a/?b=1&"};
  size_t n;
  const kgl_probe_case *c = kgl_probe_cases(&n);
  for (size_t t = 0; t < sizeof TARGETS / sizeof TARGETS[0]; t++) {
    for (size_t i = 0; i < n; i++) {
      if (c[i].kind == KGL_PROBE_REQUEST) {
        check_request(&c[i], &k, &d, TARGETS[t]);
      }
    }
  }
  decider_free(&d);
}

static void the_request_bytes_are_exact(void **state) {
  (void)state;
  kgl_probe_keys k;
  keys_init(&k, 1);
  char buf[KGL_PROBE_REQUEST_MAX];
  size_t n = kgl_probe_request(kgl_probe_find("bearer_tab", 10), &k, "h:1",
                               "/x?y=1", buf, sizeof buf);
  const char *want = "GET /x?y=1 HTTP/1.1\r\nHost: h:1\r\n"
                     "Authorization: Bearer\t" K_VALID "\r\n"
                     "User-Agent: keygate-probe\r\nAccept: application/json\r\n"
                     "Connection: close\r\n\r\n";
  assert_int_equal(n, strlen(want));
  assert_memory_equal(buf, want, n);

  n = kgl_probe_request(kgl_probe_find("path_segment", 12), &k, "h", "/x/?y=1",
                        buf, sizeof buf);
  char line[512];
  snprintf(line, sizeof line, "GET /x/%s?y=1 HTTP/1.1\r\n", k.unknown);
  assert_memory_equal(buf, line, strlen(line));

  n = kgl_probe_request(kgl_probe_find("query_token", 11), &k, "h", "/x?y=1",
                        buf, sizeof buf);
  snprintf(line, sizeof line, "GET /x?y=1&token=%s HTTP/1.1\r\n", k.unknown);
  assert_memory_equal(buf, line, strlen(line));

  n = kgl_probe_request(kgl_probe_find("duplicate_x_api_key_same", 24), &k, "h",
                        "/", buf, sizeof buf);
  assert_non_null(
      strstr(buf, "X-API-Key: " K_VALID "\r\nX-API-Key: " K_VALID "\r\n"));
  /* too small a buffer: 0, never a cut request */
  assert_int_equal(
      kgl_probe_request(kgl_probe_find("no_key", 6), &k, "h", "/", buf, 40), 0);
}

static void expired_cases_need_the_expired_key(void **state) {
  (void)state;
  kgl_probe_keys k;
  keys_init(&k, 0);
  char buf[KGL_PROBE_REQUEST_MAX];
  size_t n;
  const kgl_probe_case *c = kgl_probe_cases(&n);
  for (size_t i = 0; i < n; i++) {
    if (c[i].kind != KGL_PROBE_REQUEST) {
      continue;
    }
    const size_t len = kgl_probe_request(&c[i], &k, "h", "/", buf, sizeof buf);
    if (c[i].needs & KGL_PROBE_NEEDS_EXPIRED) {
      assert_int_equal(len, 0);
      assert_string_equal(c[i].code, "expired_api_key");
    } else {
      assert_true(len > 0);
    }
  }
}

/* ====================================================================== */
/* Judging one answer                                                     */
/* ====================================================================== */

#define RID "req_AbCdEfGhIjKlMnOpQrStUvWx"
/* SPEC §1.2 is checkable offline: a mistyped, cut or mis-charactered key
 * given to the probe is refused before any request, named by its hint and
 * the rule it fails, never whole; --policy prefix checks token68 only. */
static void a_given_key_is_checked_under_the_policy(void **state) {
  (void)state;
  static const struct {
    kg_key_kind kind;
    const char *valid, *expired, *why; /* why NULL: accepted */
  } cases[] = {
      {KG_KEY_STRICT, K_VALID, K_EXPIRED, NULL},
      {KG_KEY_STRICT, "sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGj", "",
       "the valid key sk_live_****cUGj fails its checksum"},
      {KG_KEY_STRICT, "sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUG", "",
       "the valid key sk_live_****ScUG is 45 characters; a key under "
       "sk_live_ is 46"},
      {KG_KEY_STRICT, "sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGkk", "",
       "is 47 characters"},
      {KG_KEY_STRICT, "sk_live_7KWyWfty6uEvcd-QoaZrknnVmnbSF0d50ScUGk", "",
       "holds a character a key under sk_live_ cannot hold"},
      {KG_KEY_STRICT, K_VALID, "sk_live_7Iq6S0qvhVhKDPGMxMpOlWe4kL5ZYIIT4ZTBN5",
       "the expired key sk_live_****TBN5 fails its checksum"},
      {KG_KEY_PREFIX, "sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGj",
       "sk_live_7Iq6S0qvhVhKDPGMxMpOlWe4kL5ZYIIT4ZTBN5", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kgl_probe_keys k;
    char why[256] = "";
    assert_int_equal(
        kgl_probe_keys_init(&k, "sk_live_", cases[i].valid,
                            strlen(cases[i].valid), cases[i].expired,
                            strlen(cases[i].expired), why, sizeof why),
        0);
    const int rc =
        kgl_probe_key_check(&k, cases[i].kind, "valid", why, sizeof why) ||
        kgl_probe_key_check(&k, cases[i].kind, "expired", why, sizeof why);
    if (cases[i].why == NULL) {
      assert_int_equal(rc, 0);
      continue;
    }
    assert_int_equal(rc, 1);
    assert_non_null(strstr(why, cases[i].why));
    assert_null(strstr(why, "7KWyWfty")); /* the key never named */
    assert_null(strstr(why, "7Iq6S0qv"));
    assert_null(strchr(why, '\n'));
  }
}

#define MISSING_BODY                                                           \
  "{\"error\":{\"code\":\"missing_api_key\",\"message\":\"m\",\"request_id\":" \
  "\"" RID "\"}}"

static void judge(const char *name, const char *raw, kgl_probe_outcome *o) {
  kgl_probe_keys k;
  keys_init(&k, 1);
  kgl_h1 *p = calloc(1, sizeof *p);
  assert_non_null(p);
  kgl_h1_reset(p, KGL_H1_KEEP_ALL, 0);
  size_t used = 0;
  const size_t len = strlen(raw);
  size_t off = 0;
  kgl_h1_rc rc = KGL_H1_MORE;
  while (off < len && rc == KGL_H1_MORE) {
    rc = kgl_h1_feed(p, raw + off, len - off, &used);
    off += used;
    if (used == 0) {
      break;
    }
  }
  if (rc != KGL_H1_DONE) {
    rc = kgl_h1_eof(p);
  }
  assert_int_equal(rc, KGL_H1_DONE);
  kgl_response r;
  kgl_h1_response(p, &r);
  kgl_probe_judge(kgl_probe_find(name, strlen(name)), &k, raw, len, &r, o);
  free(p);
}

static void a_conforming_error_passes(void **state) {
  (void)state;
  kgl_probe_outcome o;
  judge("no_key",
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
        "Cache-Control: private, No-Store\r\nX-Request-Id: " RID "\r\n"
        "WWW-Authenticate: Bearer realm=\"api\"\r\nContent-Length: 94\r\n\r\n"
        "" MISSING_BODY,
        &o);
  assert_int_equal(o.verdict, KGL_PROBE_PASS);
  assert_string_equal(o.got, "401 missing_api_key");
  assert_string_equal(o.request_id, RID);
  assert_string_equal(o.notes, "");
}

/* SPEC §1.4: the body is exactly {"error":{"code","message","request_id"}};
 * a member beyond it, in "error" or beside it, is named (kgl_verify, which
 * the load generator keeps lenient, passes it). Order is free (JSON). */
static void a_member_beyond_the_shape_is_named(void **state) {
  (void)state;
  static const struct {
    const char *body, *note; /* note NULL: passes */
  } cases[] = {
      {"{\"error\":{\"code\":\"missing_api_key\",\"message\":\"m\","
       "\"request_id\":\"" RID "\",\"doc_url\":\"x\"}}",
       "the body has a member error.doc_url beyond"},
      {"{\"error\":{\"code\":\"missing_api_key\",\"message\":\"m\","
       "\"request_id\":\"" RID "\"},\"debug\":true}",
       "the body has a member debug beyond"},
      {"{\"error\":{\"request_id\":\"" RID "\",\"message\":\"m\","
       "\"code\":\"missing_api_key\"}}",
       NULL},
      /* a member named by a key's piece is withheld, not shown */
      {"{\"error\":{\"code\":\"missing_api_key\",\"message\":\"m\","
       "\"request_id\":\"" RID "\",\"6uEvcdZQoaZr\":1}}",
       "(hidden"},
      /* what kgl_verify reads and a strict read refuses fails closed,
       * naming why (before: no member found, the case passed) */
      {"{\"error\":{\"code\":\"missing_api_key\",\"message\":\"m\","
       "\"request_id\":\"" RID "\",\"x\":{\"a\":1,\"a\":2}}}",
       "cannot be read strictly (a duplicate member)"},
      {"{\"error\":{\"code\":\"missing_api_key\",\"message\":\"m\","
       "\"request_id\":\"" RID "\",\"a\\u0000b\":1}}",
       "cannot be read strictly (a \\u0000 in a member's name)"},
      /* a \u0000 in a value is JSON: the member is named */
      {"{\"error\":{\"code\":\"missing_api_key\",\"message\":\"m\","
       "\"request_id\":\"" RID "\",\"doc_url\":\"x\\u0000\"}}",
       "the body has a member error.doc_url beyond"},
      {"{\"error\":{\"code\":\"missing_api_key\",\"message\":\"m\","
       "\"request_id\":\"" RID "\"},\"debug\":\"\\u0000\"}",
       "the body has a member debug beyond"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char raw[1024];
    snprintf(raw, sizeof raw,
             "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
             "Cache-Control: no-store\r\nX-Request-Id: " RID "\r\n"
             "WWW-Authenticate: Bearer realm=\"api\"\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(cases[i].body), cases[i].body);
    kgl_probe_outcome o;
    judge("no_key", raw, &o);
    if (cases[i].note == NULL) {
      assert_int_equal(o.verdict, KGL_PROBE_PASS);
      continue;
    }
    assert_int_equal(o.verdict, KGL_PROBE_DEVIATION);
    assert_non_null(strstr(o.notes, cases[i].note));
    assert_null(strstr(o.notes, "6uEvcdZQ"));
  }
}

static void each_missing_header_is_named(void **state) {
  (void)state;
  kgl_probe_outcome o;
  judge("no_key",
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\n"
        "Content-Length: 94\r\n\r\n" MISSING_BODY,
        &o);
  assert_int_equal(o.verdict, KGL_PROBE_DEVIATION);
  assert_non_null(strstr(o.notes, "Content-Type text/plain"));
  assert_non_null(strstr(o.notes, "no WWW-Authenticate"));
  assert_non_null(strstr(o.notes, "no X-Request-Id"));
  assert_non_null(strstr(o.notes, "no Cache-Control: no-store"));
}

/* Cache-Control is judged from the head's field lines, as kgl_h1 splits
 * them, with RFC 9111 §5.2's directive syntax: a no-store inside a
 * quoted-string argument is text, not a directive (it passed: the value
 * was split at every comma); a head whose last field line ends in a bare
 * LF before a CRLF empty line ends there, so a no-store in a chunked
 * trailer is not the head's (it passed: the head was searched for
 * "\r\n\r\n" and ran into the trailer). */
static void cache_control_is_read_as_directives_of_the_head(void **state) {
  (void)state;
  static const struct {
    const char *fields; /* Cache-Control lines, each ending in CRLF */
    int pass;
  } cases[] = {
      {"Cache-Control: no-store\r\n", 1},
      {"Cache-Control: NO-STORE\r\n", 1},
      {"Cache-Control: private,no-store\r\n", 1},
      {"Cache-Control: , private ,, no-store ,\r\n", 1},
      {"Cache-Control: private\r\nCache-Control: no-store\r\n", 1},
      {"Cache-Control: community=\"a,b\", no-store\r\n", 1},
      {"Cache-Control: community=\"a\\\",b\", no-store\r\n", 1},
      {"Cache-Control: max-age=0, no-store\n", 1},
      {"Cache-Control: community=\"a,no-store,b\"\r\n", 0},
      {"Cache-Control: community=\"a, no-store\"\r\n", 0},
      {"Cache-Control: community=\"a\\\",no-store\"\r\n", 0},
      {"Cache-Control: community=\"a, no-store\r\n", 0},
      {"Cache-Control: private no-store\r\n", 0},
      {"Cache-Control: no-store-please\r\n", 0},
      {"Cache-Control: x-no-store\r\n", 0},
      {"Cache-Control: private\r\n", 0},
      {"X-Cache-Control: no-store\r\n", 0},
      {"Cache-Control:\r\n", 0},
      {"", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char raw[1024];
    snprintf(raw, sizeof raw,
             "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
             "%sX-Request-Id: " RID "\r\n"
             "WWW-Authenticate: Bearer realm=\"api\"\r\nContent-Length: 94\r\n"
             "\r\n" MISSING_BODY,
             cases[i].fields);
    kgl_probe_outcome o;
    judge("no_key", raw, &o);
    if (cases[i].pass) {
      assert_int_equal(o.verdict, KGL_PROBE_PASS);
    } else {
      assert_int_equal(o.verdict, KGL_PROBE_DEVIATION);
      assert_string_equal(o.notes, "no Cache-Control: no-store");
    }
  }
  /* the head's end as kgl_h1 reads it: a bare LF, then CRLF */
  kgl_probe_outcome o;
  judge("no_key",
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
        "X-Request-Id: " RID "\r\n"
        "WWW-Authenticate: Bearer realm=\"api\"\r\n"
        "Transfer-Encoding: chunked\n\r\n"
        "5e\r\n" MISSING_BODY "\r\n0\r\nCache-Control: no-store\r\n\r\n",
        &o);
  assert_int_equal(o.verdict, KGL_PROBE_DEVIATION);
  assert_string_equal(o.notes, "no Cache-Control: no-store");
  judge("no_key",
        "HTTP/1.1 401 Unauthorized\nContent-Type: application/json\n"
        "Cache-Control: no-store\nX-Request-Id: " RID "\n"
        "WWW-Authenticate: Bearer realm=\"api\"\n"
        "Transfer-Encoding: chunked\n\r\n"
        "5e\r\n" MISSING_BODY "\r\n0\r\n\r\n",
        &o);
  assert_int_equal(o.verdict, KGL_PROBE_PASS);
  /* an interim 1xx head before it is skipped, as kgl_h1 skips it */
  judge("no_key",
        "HTTP/1.1 100 Continue\r\nCache-Control: no-store\n\r\n"
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
        "X-Request-Id: " RID "\r\n"
        "WWW-Authenticate: Bearer realm=\"api\"\r\nContent-Length: 94\r\n"
        "\r\n" MISSING_BODY,
        &o);
  assert_int_equal(o.verdict, KGL_PROBE_DEVIATION);
  assert_string_equal(o.notes, "no Cache-Control: no-store");
}

static void a_400_with_a_challenge_deviates(void **state) {
  (void)state;
  kgl_probe_outcome o;
  judge("query_token",
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
        "Cache-Control: no-store\r\nX-Request-Id: " RID "\r\n"
        "WWW-Authenticate: Bearer realm=\"api\"\r\nConnection: close\r\n\r\n"
        "{\"error\":{\"code\":\"api_key_in_query\",\"message\":\"m\","
        "\"request_id\":\"" RID "\"}}",
        &o);
  assert_int_equal(o.verdict, KGL_PROBE_DEVIATION);
  assert_string_equal(o.notes, "a 400 with WWW-Authenticate (§1.4: none)");
}

static void a_2xx_where_an_error_was_due_names_both(void **state) {
  (void)state;
  kgl_probe_outcome o;
  judge("query_api_key", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", &o);
  assert_int_equal(o.verdict, KGL_PROBE_DEVIATION);
  assert_string_equal(o.got, "200");
  assert_string_equal(o.notes, "answered 200, want 400 api_key_in_query");
}

static void the_alternative_answer_passes(void **state) {
  (void)state;
  kgl_probe_outcome o;
  judge("x_api_key_underscore",
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
        "Cache-Control: no-store\r\nX-Request-Id: " RID "\r\n"
        "Content-Length: 90\r\n\r\n"
        "{\"error\":{\"code\":\"bad_request\",\"message\":\"m\",\"request_id\":"
        "\"" RID "\"}}",
        &o);
  assert_int_equal(o.verdict, KGL_PROBE_PASS);
  judge("x_api_key_underscore",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", &o);
  assert_int_equal(o.verdict, KGL_PROBE_DEVIATION);
}

static void an_echoed_key_is_caught_in_the_head_or_the_body(void **state) {
  (void)state;
  kgl_probe_outcome o;
  /* 8 characters of the valid key's secret part, in a header */
  judge("bearer_valid",
        "HTTP/1.1 200 OK\r\nX-Debug: 6uEvcdZQ\r\nContent-Length: 2\r\n\r\n{}",
        &o);
  assert_int_equal(o.verdict, KGL_PROBE_DEVIATION);
  assert_int_equal(o.echo, 1);
  assert_string_equal(o.notes, "the answer holds a piece of a key sent");
  /* 7 characters are not a piece; the hint is allowed */
  judge("bearer_valid",
        "HTTP/1.1 200 OK\r\nX-Debug: 6uEvcdZ sk_live_****cUGk\r\n"
        "Content-Length: 2\r\n\r\n{}",
        &o);
  assert_int_equal(o.verdict, KGL_PROBE_PASS);
  assert_int_equal(o.echo, 0);
  /* in the body, with a 1xx before the answer */
  judge("no_key",
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 26\r\n\r\n"
        "{\"k\":\"ZYIIT4ZTBN4xxxxxxx\"}",
        &o);
  assert_int_equal(o.echo, 1); /* the expired key's tail */
}

/* A piece found where judge did not read (a long 2xx body, searched as it
 * streamed): the same note, once, and the verdict a deviation. */
static void an_echo_found_beyond_raw_is_noted_once(void **state) {
  (void)state;
  kgl_probe_outcome o;
  judge("bearer_valid", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", &o);
  assert_int_equal(o.verdict, KGL_PROBE_PASS);
  kgl_probe_note_echo(&o);
  assert_int_equal(o.verdict, KGL_PROBE_DEVIATION);
  assert_int_equal(o.echo, 1);
  assert_string_equal(o.notes, "the answer holds a piece of a key sent");
  kgl_probe_note_echo(&o);
  assert_string_equal(o.notes, "the answer holds a piece of a key sent");
  /* judge found it already: nothing added */
  judge("bearer_valid",
        "HTTP/1.1 200 OK\r\nX-Debug: 6uEvcdZQ\r\nContent-Length: 2\r\n\r\n{}",
        &o);
  kgl_probe_note_echo(&o);
  assert_string_equal(o.notes, "the answer holds a piece of a key sent");
}

#define EXPIRED_BODY                                                           \
  "{\"error\":{\"code\":\"expired_api_key\",\"message\":\"m\",\"request_id\":" \
  "\"" RID "\"}}"
#define EXPIRED_HEAD                                                           \
  "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"            \
  "Cache-Control: no-store\r\nX-Request-Id: " RID "\r\nContent-Length: 94\r\n"

static void the_challenge_is_checked_to_the_letter(void **state) {
  (void)state;
  kgl_probe_outcome o;
  judge("expired_bearer",
        EXPIRED_HEAD "WWW-Authenticate: Bearer realm=\"api\", "
                     "error=\"invalid_token\", error_description=\"x\"\r\n\r\n"
                     "" EXPIRED_BODY,
        &o);
  assert_string_equal(o.notes, "");
  assert_int_equal(o.verdict, KGL_PROBE_PASS);
  /* kgl_verify takes these; §1.4 does not */
  judge("expired_bearer",
        EXPIRED_HEAD "WWW-Authenticate: Bearer realm=\"api\", "
                     "error=\"invalid_token\"\r\n\r\n" EXPIRED_BODY,
        &o);
  assert_non_null(strstr(o.notes, "no error_description for an expired key"));
  judge("expired_bearer",
        EXPIRED_HEAD "WWW-Authenticate: Bearer realm=\"api\", "
                     "error=invalid_token, error_description=\"x\"\r\n\r\n"
                     "" EXPIRED_BODY,
        &o);
  assert_non_null(strstr(o.notes, "error is not \"invalid_token\""));
  judge("no_key",
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
        "Cache-Control: no-store\r\nX-Request-Id: " RID "\r\n"
        "WWW-Authenticate: Bearer realm=api\r\nContent-Length: 94\r\n\r\n"
        "" MISSING_BODY,
        &o);
  assert_string_equal(o.notes, "WWW-Authenticate Bearer realm=api: realm is "
                               "not a quoted-string (§1.4)");
}

static void a_request_id_made_of_the_key_is_not_reported(void **state) {
  (void)state;
  kgl_probe_outcome o;
  /* req_ + 24 characters of the valid key's secret part */
  judge("bearer_valid",
        "HTTP/1.1 200 OK\r\nX-Request-Id: req_7KWyWfty6uEvcdZQoaZrknnV\r\n"
        "Content-Length: 2\r\n\r\n{}",
        &o);
  assert_string_equal(o.request_id, "");
  assert_int_equal(o.echo, 1);
  /* and a server text that holds the unknown key is withheld too */
  kgl_probe_keys k;
  keys_init(&k, 0);
  char out[128];
  kgl_probe_show_answer(&k, k.unknown + 8, 10, out, sizeof out);
  assert_string_equal(out, "(hidden: it would show part of a key)");
  kgl_probe_show(&k, k.unknown + 8, 10, out, sizeof out); /* a request's */
  assert_int_equal(strncmp(out, k.unknown + 8, 10), 0);
}

static void echoes_split_by_chunks_or_encoded_are_caught(void **state) {
  (void)state;
  static const char *const ECHOES[] = {
      /* chunk framing splits the key */
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nsk_l\r\n4\r\nive_\r\n4\r\n7KWy\r\n4\r\nWfty\r\n4\r\n6uEv\r\n"
      "0\r\n\r\n",
      /* base64 of "x" + the key, standard and URL-safe */
      "HTTP/1.1 200 OK\r\nX-Debug: eHNrX2xpdmVfN0tXeVdmdHk2dUV2Y2RaUW9hWnJrbm5"
      "WbW5iU0YwZDUwU2NVR2s=\r\nContent-Length: 2\r\n\r\n{}",
      "HTTP/1.1 200 OK\r\nX-Debug: c2tfbGl2ZV83S1d5V2Z0eTZ1RXZjZFpRb2Facmtubl"
      "ZtbmJTRjBkNTBTY1VHaw\r\nContent-Length: 2\r\n\r\n{}",
      /* percent-encoded, once and twice */
      "HTTP/1.1 200 OK\r\nX-Debug: %37%4B%57%79%57%66%74%79%36\r\n"
      "Content-Length: 2\r\n\r\n{}",
      "HTTP/1.1 200 OK\r\nX-Debug: %2537KWyWfty6\r\nContent-Length: 2\r\n\r\n"
      "{}",
      /* JSON-escaped */
      "HTTP/1.1 200 OK\r\nContent-Length: 56\r\n\r\n"
      "{\"k\":\"\\u0037\\u004b\\u0057\\u0079\\u0057\\u0066\\u0074\\u0079\"}",
  };
  for (size_t i = 0; i < sizeof ECHOES / sizeof ECHOES[0]; i++) {
    kgl_probe_outcome o;
    judge("bearer_valid", ECHOES[i], &o);
    if (o.echo != 1) {
      fail_msg("echo %zu not caught", i);
    }
  }
}

/* A summary's list of cases is whole, or ends "and N more": never a name
 * cut short (it was cut at 511 bytes mid-name: no_key_echo's list is the
 * finding). Against the notes' real capacity and every case name. */
static void a_name_list_is_whole_or_says_how_many_it_left_out(void **state) {
  (void)state;
  size_t n;
  const kgl_probe_case *cases = kgl_probe_cases(&n);
  const char *names[KGL_PROBE_CASES_MAX];
  for (size_t i = 0; i < n; i++) {
    names[i] = cases[i].name;
  }
  char out[KGL_PROBE_NOTE_MAX];
  /* short: all of it */
  size_t len = kgl_probe_name_list(out, sizeof out, "echoed by: ", names, 3);
  char want[256];
  snprintf(want, sizeof want, "echoed by: %s, %s, %s", names[0], names[1],
           names[2]);
  assert_string_equal(out, want);
  assert_int_equal(len, strlen(want));
  assert_int_equal(kgl_probe_name_list(out, sizeof out, "x: ", names, 0), 3);
  assert_string_equal(out, "x: ");
  /* every list length, every capacity down to a small one */
  for (size_t cap = sizeof out; cap >= 40; cap -= 7) {
    for (size_t k = 1; k <= n; k++) {
      len = kgl_probe_name_list(out, cap, "echoed by: ", names, k);
      assert_int_equal(len, strlen(out));
      assert_true(len < cap);
      assert_memory_equal(out, "echoed by: ", 11);
      /* the names shown are the first ones, whole and in order */
      const char *p = out + 11;
      size_t shown = 0;
      while (shown < k) {
        const size_t l = strlen(names[shown]);
        if (strncmp(p, names[shown], l) != 0 ||
            (p[l] != '\0' && p[l] != ',' && p[l] != ' ')) {
          break;
        }
        p += l;
        shown++;
        if (strncmp(p, ", ", 2) != 0) {
          break;
        }
        p += 2;
      }
      if (shown == k) {
        assert_string_equal(p, "");
      } else {
        char more[40];
        snprintf(more, sizeof more, " and %zu more", k - shown);
        if (strcmp(p, more) != 0) {
          fail_msg("cap %zu, %zu names: %s", cap, k, out);
        }
      }
    }
  }
  /* the full table does not fit the notes: it says how many it left out */
  kgl_probe_name_list(out, sizeof out, "echoed by: ", names, n);
  assert_non_null(strstr(out, " more"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(at_least_forty_cases),
      cmocka_unit_test(names_are_unique_snake_case_and_not_group_names),
      cmocka_unit_test(every_case_has_an_expectation_and_a_rationale),
      cmocka_unit_test(the_made_keys_fail_as_their_names_say),
      cmocka_unit_test(keys_init_refuses_what_is_no_key),
      cmocka_unit_test(a_given_key_is_checked_under_the_policy),
      cmocka_unit_test(show_masks_and_refuses_pieces_of_keys),
      cmocka_unit_test(every_request_is_well_formed_and_decided_as_expected),
      cmocka_unit_test(the_request_bytes_are_exact),
      cmocka_unit_test(expired_cases_need_the_expired_key),
      cmocka_unit_test(a_conforming_error_passes),
      cmocka_unit_test(a_member_beyond_the_shape_is_named),
      cmocka_unit_test(each_missing_header_is_named),
      cmocka_unit_test(cache_control_is_read_as_directives_of_the_head),
      cmocka_unit_test(a_400_with_a_challenge_deviates),
      cmocka_unit_test(a_2xx_where_an_error_was_due_names_both),
      cmocka_unit_test(the_alternative_answer_passes),
      cmocka_unit_test(an_echoed_key_is_caught_in_the_head_or_the_body),
      cmocka_unit_test(an_echo_found_beyond_raw_is_noted_once),
      cmocka_unit_test(the_challenge_is_checked_to_the_letter),
      cmocka_unit_test(a_request_id_made_of_the_key_is_not_reported),
      cmocka_unit_test(echoes_split_by_chunks_or_encoded_are_caught),
      cmocka_unit_test(a_name_list_is_whole_or_says_how_many_it_left_out),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
