/*
 * tests/unit/test_decision.c — one request in, one decision out (SPEC §1.3,
 * keygate/decision.h): precedence, record states through real headers,
 * policies, peppered digests, what the decision reports, and the whole
 * path from raw request bytes to the rendered response.
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
#include "keygate/keygate.h"
#include "null_policy.h"

#define NOW 1767225600 /* 2026-01-01T00:00:00Z */

/* Strict sk_live_ keys with valid checksums (Python zlib.crc32). */
#define K_ACTIVE "sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGk"
#define K_DEACT "sk_live_7Iq6S0qvhVhKDPGMxMpOlWe4kL5ZYIIT4ZTBN4"
#define K_EXPIRED "sk_live_9ufjjaJ1sjNNTR5PvbZVt7RWpmtcuVPw0e127O"
#define K_EXPIRES_NOW "sk_live_XGsQaxUWXp1aEn8q3zjXug6jdRU9UuEs2hYQTe"
#define K_EXPIRES_LATER "sk_live_u7eiThUjxzYGZPgJZpfWiUpuPRCIrH024ENBg0"
#define K_DELETED "sk_live_9fuczTpXxVNwCGiVTWnqVpRZgw2rIKTw3flXp4"
#define K_UNKNOWN "sk_live_p6SijozWGSxzBzRrkUy4fHvVN6ClsQ9S4YpUa2"
#define K_BADSUM "sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGl"
#define K_TEST "sk_test_w050SbYxr5doCF7d2mYzHgmeM90Kgban3LiVSz"
/* Not an issued key: only the prefix policy accepts it. */
#define K_FOREIGN "sk_live_foreign-issuer.token~v1/AB+cd=="

typedef struct stored {
  const char *key;
  uint32_t status;
  int64_t expires_at;
} stored;

static const stored STORED[] = {
    {K_ACTIVE, KG_REC_ACTIVE, 0},
    {K_DEACT, KG_REC_DEACTIVATED, 0},
    {K_EXPIRED, KG_REC_EXPIRED, 0},
    {K_EXPIRES_NOW, KG_REC_ACTIVE, NOW},
    {K_EXPIRES_LATER, KG_REC_ACTIVE, NOW + 1},
    {K_DELETED, KG_REC_DELETED, 0},
    {K_FOREIGN, KG_REC_ACTIVE, 0},
    {K_TEST, KG_REC_ACTIVE, 0},
};
#define NSTORED (sizeof STORED / sizeof STORED[0])

typedef struct fixture {
  kg_digester *digester;
  kg_index *index;
  kg_checker strict;
} fixture;

/* build_index — the STORED keys digested with d; key_id = position + 1. */
static kg_index *build_index(kg_digester *d) {
  kg_record recs[NSTORED];
  memset(recs, 0, sizeof recs);
  for (size_t i = 0; i < NSTORED; i++) {
    assert_int_equal(kg_digest(d, guard_str(STORED[i].key).ptr,
                               strlen(STORED[i].key), recs[i].digest),
                     KG_OK);
    recs[i].key_id = i + 1;
    recs[i].account_id = 100 + i;
    recs[i].status = STORED[i].status;
    recs[i].expires_at = STORED[i].expires_at;
  }
  kg_index *idx = NULL;
  const kg_record *g = (const kg_record *)guard_copy(recs, sizeof recs);
  assert_int_equal(kg_index_build(g, NSTORED, &idx), KG_OK);
  return idx;
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(kg_digester_new(NULL, 0, &f->digester), KG_OK);
  f->index = build_index(f->digester);
  assert_int_equal(
      kg_key_policy_init(&f->strict.policy, KG_KEY_STRICT, "sk_live_", 8),
      KG_OK);
  f->strict.digester = f->digester;
  f->strict.index = f->index;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  kg_index_free(f->index);
  kg_digester_free(f->digester);
  free(f);
  guard_free_all();
  return 0;
}

/* decide1 — one field line (guarded), a guarded query, at NOW. */
static kg_status decide1(const kg_checker *c, const char *name,
                         const char *value, const char *query, kg_decision *d) {
  kg_field f = guard_field(name, strlen(name), value, strlen(value));
  memset(d, 0xa5, sizeof *d);
  return kg_decide(c, &f, 1, guard_str(query), NOW, d);
}

/* ---- record states through real headers --------------------------------- */

static void each_record_state_decides_as_specified(void **state) {
  const fixture *f = *state;
  static const struct {
    const char *key;
    kg_status decision, detail;
    uint64_t key_id; /* 0: no record */
  } cases[] = {
      {K_ACTIVE, KG_VALID, KG_OK, 1},
      {K_DEACT, KG_EXPIRED_API_KEY, KG_KEY_DEACTIVATED, 2},
      {K_EXPIRED, KG_EXPIRED_API_KEY, KG_KEY_EXPIRED, 3},
      {K_EXPIRES_NOW, KG_EXPIRED_API_KEY, KG_KEY_EXPIRED, 4},
      {K_EXPIRES_LATER, KG_VALID, KG_OK, 5},
      {K_DELETED, KG_INVALID_API_KEY, KG_KEY_DELETED, 6},
      {K_UNKNOWN, KG_INVALID_API_KEY, KG_KEY_UNKNOWN, 0},
      {K_BADSUM, KG_INVALID_API_KEY, KG_KEY_BAD_CHECKSUM, 0},
      {K_TEST, KG_INVALID_API_KEY, KG_KEY_BAD_PREFIX, 0},
      {K_FOREIGN, KG_INVALID_API_KEY, KG_KEY_BAD_LENGTH, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (int via = 0; via < 2; via++) {
      char value[128];
      snprintf(value, sizeof value, "%s%s", via ? "" : "Bearer ", cases[i].key);
      kg_decision d;
      kg_status rc = decide1(&f->strict, via ? "X-API-Key" : "Authorization",
                             value, "", &d);
      if (rc != cases[i].decision || d.decision != rc ||
          d.detail != cases[i].detail) {
        fail_msg("%s via %s: %s/%s, want %s/%s", cases[i].key,
                 via ? "X-API-Key" : "Bearer", kg_status_str(rc),
                 kg_status_str(d.detail), kg_status_str(cases[i].decision),
                 kg_status_str(cases[i].detail));
      }
      assert_int_equal(d.found, cases[i].key_id != 0);
      assert_true(d.record.key_id == cases[i].key_id);
      if (cases[i].key_id == 0) {
        kg_record zero;
        memset(&zero, 0, sizeof zero);
        assert_memory_equal(&d.record, &zero, sizeof zero);
      } else {
        assert_true(d.record.account_id == 100 + cases[i].key_id - 1);
      }
      assert_int_equal(d.sources,
                       via ? KG_SOURCE_X_API_KEY : KG_SOURCE_AUTHORIZATION);
      assert_int_equal(d.key.len, strlen(cases[i].key));
      assert_memory_equal(d.key.ptr, cases[i].key, d.key.len);
    }
  }
}

static void expiry_depends_on_the_callers_clock(void **state) {
  const fixture *f = *state;
  kg_decision d;
  kg_field fld = guard_field("X-API-Key", 9, K_EXPIRES_NOW, 46);
  kg_span q = guard_str("");
  assert_int_equal(kg_decide(&f->strict, &fld, 1, q, NOW - 1, &d), KG_VALID);
  assert_int_equal(kg_decide(&f->strict, &fld, 1, q, NOW, &d),
                   KG_EXPIRED_API_KEY);
  fld = guard_field("X-API-Key", 9, K_EXPIRES_LATER, 46);
  assert_int_equal(kg_decide(&f->strict, &fld, 1, q, NOW, &d), KG_VALID);
  assert_int_equal(kg_decide(&f->strict, &fld, 1, q, NOW + 1, &d),
                   KG_EXPIRED_API_KEY);
  /* expires_at 0 never expires; a deactivated key never comes back */
  fld = guard_field("X-API-Key", 9, K_ACTIVE, 46);
  assert_int_equal(kg_decide(&f->strict, &fld, 1, q, INT64_MAX, &d), KG_VALID);
  fld = guard_field("X-API-Key", 9, K_DEACT, 46);
  assert_int_equal(kg_decide(&f->strict, &fld, 1, q, 0, &d),
                   KG_EXPIRED_API_KEY);
}

/* ---- precedence --------------------------------------------------------- */

static void precedence_is_query_then_ambiguity_then_the_key(void **state) {
  const fixture *f = *state;
  typedef struct {
    const char *n1, *v1, *n2, *v2, *query;
    kg_status want;
  } pcase;
  static const pcase cases[] = {
      /* query beats everything */
      {"X-API-Key", K_ACTIVE, NULL, NULL, "api_key=x", KG_API_KEY_IN_QUERY},
      {"X-API-Key", K_DEACT, "X-API-Key", K_ACTIVE, "token=x",
       KG_API_KEY_IN_QUERY},
      {"X-API-Key", "a b", NULL, NULL, "q=" K_ACTIVE, KG_API_KEY_IN_QUERY},
      {NULL, NULL, NULL, NULL, "key=x", KG_API_KEY_IN_QUERY},
      /* then ambiguity, whatever the keys' own outcomes */
      {"X-API-Key", K_DEACT, "Authorization", "Bearer " K_ACTIVE, "",
       KG_AMBIGUOUS_API_KEY},
      {"X-API-Key", K_UNKNOWN, "x-api-key", K_UNKNOWN, "",
       KG_AMBIGUOUS_API_KEY},
      {"Authorization", "Bearer " K_BADSUM, "Authorization", "Bearer " K_BADSUM,
       "type=ipv4", KG_AMBIGUOUS_API_KEY},
      /* then the key */
      {"X-API-Key", K_DEACT, "Authorization", "Bearer " K_DEACT, "",
       KG_EXPIRED_API_KEY},
      {"X-API-Key", K_DELETED, "Authorization", "Basic dXNlcjpwYXNz", "",
       KG_INVALID_API_KEY},
      {"Host", "x", "Authorization", "Bearer", "limit=10", KG_MISSING_API_KEY},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kg_field fld[2];
    size_t n = 0;
    if (cases[i].n1 != NULL) {
      fld[n++] = guard_field(cases[i].n1, strlen(cases[i].n1), cases[i].v1,
                             strlen(cases[i].v1));
    }
    if (cases[i].n2 != NULL) {
      fld[n++] = guard_field(cases[i].n2, strlen(cases[i].n2), cases[i].v2,
                             strlen(cases[i].v2));
    }
    kg_decision d;
    kg_status rc =
        kg_decide(&f->strict, fld, n, guard_str(cases[i].query), NOW, &d);
    if (rc != cases[i].want) {
      fail_msg("precedence case %zu: %s, want %s", i, kg_status_str(rc),
               kg_status_str(cases[i].want));
    }
    if (rc == KG_API_KEY_IN_QUERY || rc == KG_AMBIGUOUS_API_KEY) {
      assert_int_equal(d.found, 0);
    }
  }
}

/* ---- policies, peppers, no index ---------------------------------------- */

static void prefix_policy_accepts_keys_of_other_issuers(void **state) {
  const fixture *f = *state;
  kg_checker c = f->strict;
  assert_int_equal(kg_key_policy_init(&c.policy, KG_KEY_PREFIX, "sk_live_", 8),
                   KG_OK);
  kg_decision d;
  assert_int_equal(decide1(&c, "Authorization", "Bearer " K_FOREIGN, "", &d),
                   KG_VALID);
  assert_true(d.record.key_id == 7);
  /* issued keys are token68 too */
  assert_int_equal(decide1(&c, "X-API-Key", K_ACTIVE, "", &d), KG_VALID);
  /* a bad checksum means nothing to this policy: just an unknown key */
  assert_int_equal(decide1(&c, "X-API-Key", K_BADSUM, "", &d),
                   KG_INVALID_API_KEY);
  assert_int_equal(d.detail, KG_KEY_UNKNOWN);
  assert_int_equal(decide1(&c, "X-API-Key", "sk_live_short", "", &d),
                   KG_INVALID_API_KEY);
  assert_int_equal(d.detail, KG_KEY_BAD_LENGTH);
}

static void test_prefix_policy_refuses_live_keys(void **state) {
  const fixture *f = *state;
  kg_checker c = f->strict;
  assert_int_equal(kg_key_policy_init(&c.policy, KG_KEY_STRICT, "sk_test_", 8),
                   KG_OK);
  kg_decision d;
  assert_int_equal(decide1(&c, "X-API-Key", K_TEST, "", &d), KG_VALID);
  assert_true(d.record.key_id == 8);
  assert_int_equal(decide1(&c, "X-API-Key", K_ACTIVE, "", &d),
                   KG_INVALID_API_KEY);
  assert_int_equal(d.detail, KG_KEY_BAD_PREFIX);
  assert_int_equal(d.found, 0);
  /* the query check follows the policy's prefix */
  assert_int_equal(decide1(&c, "X-API-Key", K_TEST, "q=sk_test_x", &d),
                   KG_API_KEY_IN_QUERY);
  assert_int_equal(decide1(&c, "X-API-Key", K_TEST, "q=sk_live_x", &d),
                   KG_VALID);
}

static void a_peppered_index_needs_the_same_pepper(void **state) {
  const fixture *f = *state;
  static const unsigned char pepper[] = "server-pepper-2026";
  kg_digester *hm = NULL;
  assert_int_equal(kg_digester_new(pepper, sizeof pepper - 1, &hm), KG_OK);
  kg_index *idx = build_index(hm);
  kg_checker c = f->strict;
  c.digester = hm;
  c.index = idx;
  kg_decision d;
  assert_int_equal(decide1(&c, "X-API-Key", K_ACTIVE, "", &d), KG_VALID);
  assert_int_equal(decide1(&c, "X-API-Key", K_DEACT, "", &d),
                   KG_EXPIRED_API_KEY);
  /* plain SHA-256 digests do not match HMAC digests, nor the reverse */
  c.digester = f->digester;
  assert_int_equal(decide1(&c, "X-API-Key", K_ACTIVE, "", &d),
                   KG_INVALID_API_KEY);
  assert_int_equal(d.detail, KG_KEY_UNKNOWN);
  c.digester = hm;
  c.index = f->index;
  assert_int_equal(decide1(&c, "X-API-Key", K_ACTIVE, "", &d),
                   KG_INVALID_API_KEY);
  kg_index_free(idx);
  kg_digester_free(hm);
}

static void no_index_behaves_as_an_empty_one(void **state) {
  const fixture *f = *state;
  kg_checker c = f->strict;
  c.index = NULL;
  kg_decision d;
  assert_int_equal(decide1(&c, "X-API-Key", K_ACTIVE, "", &d),
                   KG_INVALID_API_KEY);
  assert_int_equal(d.detail, KG_KEY_UNKNOWN);
  assert_int_equal(d.found, 0);
  assert_int_equal(decide1(&c, "X-API-Key", "", "", &d), KG_MISSING_API_KEY);
}

/* ---- kg_decide_key ------------------------------------------------------ */

static void decide_key_checks_format_before_lookup(void **state) {
  const fixture *f = *state;
  static const struct {
    const char *key;
    kg_status detail;
  } cases[] = {
      {"sk_live_", KG_KEY_BAD_LENGTH},
      {K_ACTIVE "A", KG_KEY_BAD_LENGTH},
      {"sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUG!", KG_KEY_BAD_CHARACTER},
      {K_BADSUM, KG_KEY_BAD_CHECKSUM},
      {"pk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGk", KG_KEY_BAD_PREFIX},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kg_span k = guard_str(cases[i].key);
    kg_decision d;
    memset(&d, 0xa5, sizeof d);
    assert_int_equal(kg_decide_key(&f->strict, k.ptr, k.len, NOW, &d),
                     KG_INVALID_API_KEY);
    assert_int_equal(d.decision, KG_INVALID_API_KEY);
    if (d.detail != cases[i].detail) {
      fail_msg("%s: detail %s, want %s", cases[i].key, kg_status_str(d.detail),
               kg_status_str(cases[i].detail));
    }
    assert_int_equal(d.found, 0);
  }
  kg_span k = guard_str(K_ACTIVE);
  kg_decision d;
  assert_int_equal(kg_decide_key(&f->strict, k.ptr, k.len, NOW, &d), KG_VALID);
  assert_true(d.record.key_id == 1);
}

static void
missing_and_refused_requests_report_no_key_and_no_record(void **state) {
  const fixture *f = *state;
  kg_decision d;
  assert_int_equal(decide1(&f->strict, "Accept", "*/*", "", &d),
                   KG_MISSING_API_KEY);
  assert_int_equal(d.key.len, 0);
  assert_int_equal(d.found, 0);
  assert_int_equal(d.sources, 0);
  kg_record zero;
  memset(&zero, 0, sizeof zero);
  assert_memory_equal(&d.record, &zero, sizeof zero);
  assert_int_equal(decide1(&f->strict, "X-API-Key", K_ACTIVE, "token=x", &d),
                   KG_API_KEY_IN_QUERY);
  assert_int_equal(d.found, 0);
  assert_memory_equal(&d.record, &zero, sizeof zero);
}

/*
 * kg_decide scans a target of up to 256 bytes while the digest runs
 * (decision.c, DEFER_TARGET_MAX) and a longer one first: either way a key
 * in the URL (or in Host) outranks a valid key, and the decision carries
 * no record. Lengths on both sides of 64 and 256; the key-carrying part
 * first or last.
 */
static void a_key_in_a_target_of_any_length_outranks_a_valid_key(void **state) {
  const fixture *f = *state;
  static const size_t lens[] = {31, 64, 65, 128, 213, 255, 256, 257, 300, 700};
  static const char *const marks[] = {"&token=x", "sk_live_", "%73k_live_"};
  kg_record zero;
  memset(&zero, 0, sizeof zero);
  char target[701];
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    const size_t len = lens[i];
    for (size_t m = 0; m <= sizeof marks / sizeof marks[0]; m++) {
      for (int last = 0; last < 2; last++) {
        memset(target, 'a', len);
        memcpy(target, "/v1?q=", 6);
        if (m < sizeof marks / sizeof marks[0]) {
          size_t ml = strlen(marks[m]);
          memcpy(target + (last ? len - ml : 6), marks[m], ml);
        }
        target[len] = '\0';
        kg_field fld[2] = {guard_field("Host", 4, "api.example.com", 15),
                           guard_field("X-API-Key", 9, K_ACTIVE, 46)};
        kg_decision d;
        memset(&d, 0xa5, sizeof d);
        kg_status rc =
            kg_decide(&f->strict, fld, 2, guard_str(target), NOW, &d);
        kg_status want =
            m < sizeof marks / sizeof marks[0] ? KG_API_KEY_IN_QUERY : KG_VALID;
        if (rc != want) {
          fail_msg("target of %zu bytes, mark %zu %s: %s, want %s", len, m,
                   last ? "last" : "first", kg_status_str(rc),
                   kg_status_str(want));
        }
        if (want == KG_VALID) {
          assert_int_equal(d.found, 1);
          assert_true(d.record.key_id == 1);
        } else {
          assert_int_equal(d.found, 0);
          assert_memory_equal(&d.record, &zero, sizeof zero);
        }
      }
    }
    /* A clean target of this length, the prefix in Host. */
    memset(target, 'a', len);
    memcpy(target, "/v1?q=", 6);
    target[len] = '\0';
    kg_field fld[2] = {guard_field("Host", 4, "sk_live_x.example.com", 21),
                       guard_field("X-API-Key", 9, K_ACTIVE, 46)};
    kg_decision d;
    assert_int_equal(kg_decide(&f->strict, fld, 2, guard_str(target), NOW, &d),
                     KG_API_KEY_IN_QUERY);
    assert_int_equal(d.found, 0);
  }
}

/* ---- from raw bytes to the answer --------------------------------------- */

static void a_raw_request_is_parsed_decided_and_answered(void **state) {
  const fixture *f = *state;
  static const struct {
    const char *req;
    kg_status want;
  } cases[] = {
      {"GET /api/v1/iocs?type=ipv4&limit=10 HTTP/1.1\r\nHost: a\r\n"
       "Authorization: Bearer " K_ACTIVE "\r\n\r\n",
       KG_VALID},
      {"GET /api/v1/iocs HTTP/1.1\r\nHost: a\r\n\r\n", KG_MISSING_API_KEY},
      {"GET /api/v1/iocs HTTP/1.1\nx-api-key:   " K_DEACT "  \n\n",
       KG_EXPIRED_API_KEY},
      {"GET /api/v1/iocs?api_key=" K_ACTIVE " HTTP/1.1\r\n\r\n",
       KG_API_KEY_IN_QUERY},
      {"GET / HTTP/1.1\r\nX-API-Key: " K_ACTIVE "\r\nX-API-Key: " K_ACTIVE
       "\r\n\r\n",
       KG_AMBIGUOUS_API_KEY},
      {"GET / HTTP/1.1\r\nAuthorization: Bearer " K_BADSUM "\r\n\r\n",
       KG_INVALID_API_KEY},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = strlen(cases[i].req);
    const char *buf = guard_copy(cases[i].req, n);
    kg_field fields[KG_HEAD_MAX_FIELDS];
    kg_head head;
    kg_head_init(&head, fields, KG_HEAD_MAX_FIELDS, 0);
    size_t consumed = 0;
    assert_int_equal(kg_head_parse(buf, n, &head, &consumed), KG_OK);
    kg_decision d;
    kg_status rc =
        kg_decide(&f->strict, head.fields, head.nfields, head.target, NOW, &d);
    if (rc != cases[i].want) {
      fail_msg("request %zu: %s, want %s", i, kg_status_str(rc),
               kg_status_str(cases[i].want));
    }
    char id[KG_REQUEST_ID_LEN + 1];
    assert_int_equal(kg_request_id(id), KG_OK);
    char out[KG_RESPONSE_MAX];
    size_t len = 0;
    kg_status r = kg_response_render(rc, "api", 3, id, KG_REQUEST_ID_LEN, out,
                                     sizeof out, &len);
    if (rc == KG_VALID) {
      assert_int_equal(r, KG_E_ARGUMENT);
      continue;
    }
    assert_int_equal(r, KG_OK);
    char line[64];
    snprintf(line, sizeof line, "HTTP/1.1 %d ", kg_http_status(rc));
    assert_memory_equal(out, line, strlen(line));
    assert_non_null(strstr(out, kg_status_str(rc)));
    /* the answer never holds the presented key */
    assert_null(strstr(out, "sk_live_7KWy"));
    assert_null(strstr(out, "sk_live_7Iq6"));
  }
}

/* ---- the NULL policy (api.h) -------------------------------------------- */

static int decide_without_checker(void) {
  kg_decision d;
  kg_span none = {NULL, 0};
  return (int)kg_decide(NULL, NULL, 0, none, 0, &d);
}

static int decide_into_null(void) {
  kg_checker c;
  memset(&c, 0, sizeof c);
  kg_span none = {NULL, 0};
  return (int)kg_decide(&c, NULL, 0, none, 0, NULL);
}

static int decide_null_fields_of_count_2(void) {
  kg_checker c;
  memset(&c, 0, sizeof c);
  kg_decision d;
  kg_span none = {NULL, 0};
  return (int)kg_decide(&c, NULL, 2, none, 0, &d);
}

static int decide_null_target_of_length_3(void) {
  kg_checker c;
  memset(&c, 0, sizeof c);
  kg_decision d;
  kg_span bad = {NULL, 3};
  return (int)kg_decide(&c, NULL, 0, bad, 0, &d);
}

static int decide_key_null_of_length_5(void) {
  kg_checker c;
  memset(&c, 0, sizeof c);
  kg_decision d;
  return (int)kg_decide_key(&c, NULL, 5, 0, &d);
}

static void a_null_where_none_is_allowed_is_a_caller_bug(void **state) {
  (void)state;
  expect_caller_bug(decide_without_checker, KG_E_ARGUMENT, "kg_decide(NULL)");
  expect_caller_bug(decide_into_null, KG_E_ARGUMENT, "kg_decide(out NULL)");
  expect_caller_bug(decide_null_fields_of_count_2, KG_E_ARGUMENT,
                    "kg_decide(fields NULL, 2)");
  expect_caller_bug(decide_null_target_of_length_3, KG_E_ARGUMENT,
                    "kg_decide(target NULL, 3)");
  expect_caller_bug(decide_key_null_of_length_5, KG_E_ARGUMENT,
                    "kg_decide_key(key NULL, 5)");
}

/* Where the header allows NULL, it is no bug: no fields (n 0) and no key
 * (len 0) are missing_api_key and invalid_api_key. */
static void no_fields_and_no_key_are_decisions(void **state) {
  fixture *f = *state;
  kg_decision d;
  kg_span none = {NULL, 0};
  assert_int_equal(kg_decide(&f->strict, NULL, 0, none, NOW, &d),
                   KG_MISSING_API_KEY);
  assert_int_equal(kg_decide_key(&f->strict, NULL, 0, NOW, &d),
                   KG_INVALID_API_KEY);
  assert_int_equal(d.found, 0);
}

#define T(f) cmocka_unit_test_teardown(f, guard_teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(each_record_state_decides_as_specified),
      T(expiry_depends_on_the_callers_clock),
      T(precedence_is_query_then_ambiguity_then_the_key),
      T(prefix_policy_accepts_keys_of_other_issuers),
      T(test_prefix_policy_refuses_live_keys),
      T(a_peppered_index_needs_the_same_pepper),
      T(no_index_behaves_as_an_empty_one),
      T(decide_key_checks_format_before_lookup),
      T(missing_and_refused_requests_report_no_key_and_no_record),
      T(a_key_in_a_target_of_any_length_outranks_a_valid_key),
      T(a_raw_request_is_parsed_decided_and_answered),
      T(a_null_where_none_is_allowed_is_a_caller_bug),
      T(no_fields_and_no_key_are_decisions),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
