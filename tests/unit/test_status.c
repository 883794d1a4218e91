/*
 * tests/unit/test_status.c — the one status enum: its numbers are ABI and
 * its strings are the JSON codes, so both are pinned here independently of
 * the X-macro list that generates them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "keygate/status.h"

typedef struct status_case {
  kg_status status;
  int value;
  const char *str;
} status_case;

/* Written out by hand, not generated: a renumbering or a renamed string in
 * status.h fails here. */
static const status_case PINNED[] = {
    {KG_OK, 0, "ok"},
    {KG_INCOMPLETE, 1, "incomplete"},
    {KG_VALID, 10, "valid"},
    {KG_MISSING_API_KEY, 11, "missing_api_key"},
    {KG_INVALID_API_KEY, 12, "invalid_api_key"},
    {KG_EXPIRED_API_KEY, 13, "expired_api_key"},
    {KG_AMBIGUOUS_API_KEY, 14, "ambiguous_api_key"},
    {KG_API_KEY_IN_QUERY, 15, "api_key_in_query"},
    {KG_INVALID_PARAMETER, 16, "invalid_parameter"},
    {KG_E_HEAD_TOO_LARGE, 20, "head_too_large"},
    {KG_E_TOO_MANY_FIELDS, 21, "too_many_fields"},
    {KG_E_BAD_REQUEST_LINE, 22, "bad_request_line"},
    {KG_E_BAD_METHOD, 23, "bad_method"},
    {KG_E_BAD_TARGET, 24, "bad_target"},
    {KG_E_BAD_VERSION, 25, "bad_version"},
    {KG_E_BAD_FIELD_NAME, 26, "bad_field_name"},
    {KG_E_WS_BEFORE_COLON, 27, "whitespace_before_colon"},
    {KG_E_OBS_FOLD, 28, "obs_fold"},
    {KG_E_CONTROL_CHAR, 29, "control_character"},
    {KG_E_BAD_LINE_END, 30, "bad_line_end"},
    {KG_KEY_MALFORMED, 40, "key_malformed"},
    {KG_KEY_BAD_PREFIX, 41, "key_bad_prefix"},
    {KG_KEY_BAD_LENGTH, 42, "key_bad_length"},
    {KG_KEY_BAD_CHARACTER, 43, "key_bad_character"},
    {KG_KEY_BAD_CHECKSUM, 44, "key_bad_checksum"},
    {KG_KEY_UNKNOWN, 45, "key_unknown"},
    {KG_KEY_DELETED, 46, "key_deleted"},
    {KG_KEY_DEACTIVATED, 47, "key_deactivated"},
    {KG_KEY_EXPIRED, 48, "key_expired"},
    {KG_KEY_DUPLICATE_FIELD, 49, "duplicate_field"},
    {KG_KEY_CONFLICT, 50, "conflicting_keys"},
    {KG_URL_KEY_PREFIX, 51, "key_prefix_in_url"},
    {KG_URL_KEY_PARAM, 52, "key_parameter_in_url"},
    {KG_E_ARGUMENT, 60, "bad_argument"},
    {KG_E_NOMEM, 61, "out_of_memory"},
    {KG_E_BUFFER_TOO_SMALL, 62, "buffer_too_small"},
    {KG_E_CRYPTO, 63, "crypto_failure"},
    {KG_E_TOO_MANY_KEYS, 64, "too_many_keys"},
    {KG_E_DUPLICATE_DIGEST, 65, "duplicate_digest"},
    {KG_E_RECORD_RANGE, 66, "record_out_of_range"},
    {KG_SERVICE_UNAVAILABLE, 70, "service_unavailable"},
    {KG_TOO_MANY_REQUESTS, 71, "too_many_requests"},
    {KG_NOT_FOUND, 72, "not_found"},
    {KG_BAD_GATEWAY, 73, "bad_gateway"},
    {KG_GATEWAY_TIMEOUT, 74, "gateway_timeout"},
    {KG_E_MISSING_HOST, 80, "missing_host"},
    {KG_E_BAD_HOST, 81, "bad_host"},
    {KG_E_DUPLICATE_HEADER, 82, "duplicate_header"},
    {KG_E_BAD_FRAMING, 83, "bad_framing"},
    {KG_E_METHOD_NOT_ALLOWED, 84, "method_not_allowed"},
    {KG_E_URI_TOO_LONG, 85, "uri_too_long"},
    {KG_E_HEADER_TOO_LARGE, 86, "header_too_large"},
    {KG_E_UNSUPPORTED_TRANSFER_CODING, 87, "unsupported_transfer_coding"},
    {KG_E_VERSION_NOT_SUPPORTED, 88, "http_version_not_supported"},
    {KG_E_BAD_BODY, 89, "bad_body"},
};
#define NPINNED (sizeof PINNED / sizeof PINNED[0])

/* Every entry of the generating list, to catch a status added to status.h
 * but not pinned above. */
#define COUNT_(name, value, str) +1
static const size_t NLISTED = 0 KG_STATUS_LIST(COUNT_);
#undef COUNT_

static int is_pinned(int value) {
  for (size_t i = 0; i < NPINNED; i++) {
    if (PINNED[i].value == value) {
      return 1;
    }
  }
  return 0;
}

static void status_numbers_never_change(void **state) {
  (void)state;
  for (size_t i = 0; i < NPINNED; i++) {
    if ((int)PINNED[i].status != PINNED[i].value) {
      fail_msg("%s is %d, pinned %d", PINNED[i].str, (int)PINNED[i].status,
               PINNED[i].value);
    }
  }
}

static void every_listed_status_is_pinned(void **state) {
  (void)state;
  assert_int_equal(NLISTED, NPINNED);
}

static void status_strings_are_the_stable_names(void **state) {
  (void)state;
  for (size_t i = 0; i < NPINNED; i++) {
    const char *s = kg_status_str(PINNED[i].status);
    assert_non_null(s);
    if (strcmp(s, PINNED[i].str) != 0) {
      fail_msg("status %d: got \"%s\", want \"%s\"", PINNED[i].value, s,
               PINNED[i].str);
    }
  }
}

static void status_strings_are_unique_lowercase_identifiers(void **state) {
  (void)state;
  for (size_t i = 0; i < NPINNED; i++) {
    const char *a = kg_status_str(PINNED[i].status);
    assert_true(strlen(a) > 0);
    for (const char *c = a; *c != '\0'; c++) {
      assert_true((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
                  *c == '_');
    }
    for (size_t j = i + 1; j < NPINNED; j++) {
      assert_string_not_equal(a, kg_status_str(PINNED[j].status));
    }
  }
}

static void unknown_status_values_get_a_fixed_string(void **state) {
  (void)state;
  static const int unknown[] = {-1, 2, 9, 17, 19, 31, 39, 53, 59, 67, 1000};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    assert_false(is_pinned(unknown[i]));
    assert_string_equal(kg_status_str((kg_status)unknown[i]), "unknown_status");
  }
  /* Never NULL over a wide range. */
  for (int v = -300; v < 300; v++) {
    const char *s = kg_status_str((kg_status)v);
    assert_non_null(s);
    if (!is_pinned(v)) {
      assert_string_equal(s, "unknown_status");
    }
  }
}

/* The seven decisions of SPEC §1.3, written out: every other status of the
 * list (a parse error, a refusal, a library error) is not one. */
static void only_the_seven_spec_decisions_are_decisions(void **state) {
  (void)state;
  static const char *const decisions[] = {"valid",
                                          "missing_api_key",
                                          "invalid_api_key",
                                          "expired_api_key",
                                          "ambiguous_api_key",
                                          "api_key_in_query",
                                          "invalid_parameter"};
  size_t seen = 0;
  for (int v = -5; v < 256; v++) {
    const char *name = kg_status_str((kg_status)v);
    int want = 0;
    for (size_t i = 0; i < sizeof decisions / sizeof decisions[0]; i++) {
      want |= strcmp(name, decisions[i]) == 0;
    }
    seen += (size_t)want;
    if (kg_status_is_decision((kg_status)v) != want) {
      fail_msg("kg_status_is_decision(%d) (%s) = %d, want %d", v, name,
               kg_status_is_decision((kg_status)v), want);
    }
  }
  assert_int_equal(seen, sizeof decisions / sizeof decisions[0]);
}

/* The decision table, in SPEC §1.3's order, written out: a caller's array
 * of KG_DECISION_COUNT entries indexed by kg_decision_index holds one entry
 * per decision, and kg_decision_at walks them. */
static void decision_table_lists_the_seven_in_spec_order(void **state) {
  (void)state;
  static const char *const spec[] = {"valid",
                                     "missing_api_key",
                                     "invalid_api_key",
                                     "expired_api_key",
                                     "ambiguous_api_key",
                                     "api_key_in_query",
                                     "invalid_parameter"};
  assert_int_equal(KG_DECISION_COUNT, sizeof spec / sizeof spec[0]);
  for (size_t i = 0; i < KG_DECISION_COUNT; i++) {
    kg_status d = kg_decision_at(i);
    assert_string_equal(kg_status_str(d), spec[i]);
    assert_int_equal(kg_decision_index(d), (int)i);
  }
  assert_int_equal(kg_decision_at(KG_DECISION_COUNT), KG_OK);
  assert_int_equal(kg_decision_at((size_t)-1), KG_OK);
  assert_int_equal(kg_decision_index(KG_VALID), 0);
  assert_int_equal(kg_decision_index(KG_MISSING_API_KEY), 1);
  assert_int_equal(kg_decision_index(KG_INVALID_PARAMETER), 6);
  /* Not decisions: no position. */
  static const kg_status others[] = {
      KG_OK,          KG_INCOMPLETE,          KG_E_BAD_METHOD,
      KG_KEY_UNKNOWN, KG_SERVICE_UNAVAILABLE, KG_E_METHOD_NOT_ALLOWED,
      (kg_status)17,  (kg_status)9,           (kg_status)-1};
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
    assert_int_equal(kg_decision_index(others[i]), -1);
  }
}

static void decision_strings_are_the_json_error_codes(void **state) {
  (void)state;
  assert_string_equal(kg_status_str(KG_MISSING_API_KEY), "missing_api_key");
  assert_string_equal(kg_status_str(KG_INVALID_API_KEY), "invalid_api_key");
  assert_string_equal(kg_status_str(KG_EXPIRED_API_KEY), "expired_api_key");
  assert_string_equal(kg_status_str(KG_AMBIGUOUS_API_KEY), "ambiguous_api_key");
  assert_string_equal(kg_status_str(KG_API_KEY_IN_QUERY), "api_key_in_query");
}

#define T(f) cmocka_unit_test_teardown(f, guard_teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(status_numbers_never_change),
      T(every_listed_status_is_pinned),
      T(status_strings_are_the_stable_names),
      T(status_strings_are_unique_lowercase_identifiers),
      T(unknown_status_values_get_a_fixed_string),
      T(only_the_seven_spec_decisions_are_decisions),
      T(decision_table_lists_the_seven_in_spec_order),
      T(decision_strings_are_the_json_error_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
