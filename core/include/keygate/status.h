/*
 * keygate/status.h — the one status enum of libkeygate.
 *
 * Every function of libkeygate that can fail returns a kg_status. The numbers
 * are part of the ABI and of the JSON that `keygate check` prints: they are
 * never renumbered, only appended. The enum and kg_status_str() are generated
 * from the single list below so the two cannot drift.
 *
 * Decisions (the table below) are statuses too: their string is the `code`
 * of the JSON error body of SPEC §1.4, as are the strings of a server's
 * other answers (service_unavailable, too_many_requests, not_found).
 */
#ifndef KEYGATE_STATUS_H
#define KEYGATE_STATUS_H

#include "keygate/api.h"
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, string) */
#define KG_STATUS_LIST(X)                                                      \
  /* generic */                                                                \
  X(KG_OK, 0, "ok")                                                            \
  X(KG_INCOMPLETE, 1, "incomplete")                                            \
  /* decisions (SPEC §1.3); strings are the JSON error codes */               \
  X(KG_VALID, 10, "valid")                                                     \
  X(KG_MISSING_API_KEY, 11, "missing_api_key")                                 \
  X(KG_INVALID_API_KEY, 12, "invalid_api_key")                                 \
  X(KG_EXPIRED_API_KEY, 13, "expired_api_key")                                 \
  X(KG_AMBIGUOUS_API_KEY, 14, "ambiguous_api_key")                             \
  X(KG_API_KEY_IN_QUERY, 15, "api_key_in_query")                               \
  X(KG_INVALID_PARAMETER, 16, "invalid_parameter")                             \
  /* request-head parse errors (RFC 9112) */                                   \
  X(KG_E_HEAD_TOO_LARGE, 20, "head_too_large")                                 \
  X(KG_E_TOO_MANY_FIELDS, 21, "too_many_fields")                               \
  X(KG_E_BAD_REQUEST_LINE, 22, "bad_request_line")                             \
  X(KG_E_BAD_METHOD, 23, "bad_method")                                         \
  X(KG_E_BAD_TARGET, 24, "bad_target")                                         \
  X(KG_E_BAD_VERSION, 25, "bad_version")                                       \
  X(KG_E_BAD_FIELD_NAME, 26, "bad_field_name")                                 \
  X(KG_E_WS_BEFORE_COLON, 27, "whitespace_before_colon")                       \
  X(KG_E_OBS_FOLD, 28, "obs_fold")                                             \
  X(KG_E_CONTROL_CHAR, 29, "control_character")                                \
  X(KG_E_BAD_LINE_END, 30, "bad_line_end")                                     \
  /* credential and key-format details (why a key is invalid) */               \
  X(KG_KEY_MALFORMED, 40, "key_malformed")                                     \
  X(KG_KEY_BAD_PREFIX, 41, "key_bad_prefix")                                   \
  X(KG_KEY_BAD_LENGTH, 42, "key_bad_length")                                   \
  X(KG_KEY_BAD_CHARACTER, 43, "key_bad_character")                             \
  X(KG_KEY_BAD_CHECKSUM, 44, "key_bad_checksum")                               \
  X(KG_KEY_UNKNOWN, 45, "key_unknown")                                         \
  X(KG_KEY_DELETED, 46, "key_deleted")                                         \
  X(KG_KEY_DEACTIVATED, 47, "key_deactivated")                                 \
  X(KG_KEY_EXPIRED, 48, "key_expired")                                         \
  X(KG_KEY_DUPLICATE_FIELD, 49, "duplicate_field")                             \
  X(KG_KEY_CONFLICT, 50, "conflicting_keys")                                   \
  /* why a URL holds a key (details of api_key_in_query) */                    \
  X(KG_URL_KEY_PREFIX, 51, "key_prefix_in_url")                                \
  X(KG_URL_KEY_PARAM, 52, "key_parameter_in_url")                              \
  /* library errors */                                                         \
  X(KG_E_ARGUMENT, 60, "bad_argument")                                         \
  X(KG_E_NOMEM, 61, "out_of_memory")                                           \
  X(KG_E_BUFFER_TOO_SMALL, 62, "buffer_too_small")                             \
  X(KG_E_CRYPTO, 63, "crypto_failure")                                         \
  X(KG_E_TOO_MANY_KEYS, 64, "too_many_keys")                                   \
  X(KG_E_DUPLICATE_DIGEST, 65, "duplicate_digest")                             \
  X(KG_E_RECORD_RANGE, 66, "record_out_of_range")                              \
  /* a server's answers that are not decisions */                              \
  X(KG_SERVICE_UNAVAILABLE, 70, "service_unavailable")                         \
  X(KG_TOO_MANY_REQUESTS, 71, "too_many_requests")                             \
  X(KG_NOT_FOUND, 72, "not_found")                                             \
  X(KG_BAD_GATEWAY, 73, "bad_gateway")                                         \
  X(KG_GATEWAY_TIMEOUT, 74, "gateway_timeout")                                 \
  /* heads a server refuses before authentication (kg_head_screen) */          \
  X(KG_E_MISSING_HOST, 80, "missing_host")                                     \
  X(KG_E_BAD_HOST, 81, "bad_host")                                             \
  X(KG_E_DUPLICATE_HEADER, 82, "duplicate_header")                             \
  X(KG_E_BAD_FRAMING, 83, "bad_framing")                                       \
  X(KG_E_METHOD_NOT_ALLOWED, 84, "method_not_allowed")                         \
  X(KG_E_URI_TOO_LONG, 85, "uri_too_long")                                     \
  X(KG_E_HEADER_TOO_LARGE, 86, "header_too_large")                             \
  X(KG_E_UNSUPPORTED_TRANSFER_CODING, 87, "unsupported_transfer_coding")       \
  X(KG_E_VERSION_NOT_SUPPORTED, 88, "http_version_not_supported")              \
  /* a body that does not match its framing (found while reading it) */        \
  X(KG_E_BAD_BODY, 89, "bad_body")

typedef enum kg_status {
/* An enumerator, not an expression: no parentheses around name. */
/* NOLINTNEXTLINE(bugprone-macro-parentheses) */
#define KG_STATUS_ENUM_(name, value, str) name = value,
  KG_STATUS_LIST(KG_STATUS_ENUM_)
#undef KG_STATUS_ENUM_
} kg_status;

/*
 * kg_status_str — the stable lowercase name of a status ("missing_api_key").
 * Returns a static string; "unknown_status" for a value not in the list.
 * Never NULL. Owns nothing.
 */
KG_API const char *kg_status_str(kg_status s);

/*
 * The decision table: the seven decisions of SPEC §1.3, in this order,
 * positions 0 .. KG_DECISION_COUNT - 1:
 *   0 KG_VALID             3 KG_EXPIRED_API_KEY    6 KG_INVALID_PARAMETER
 *   1 KG_MISSING_API_KEY   4 KG_AMBIGUOUS_API_KEY
 *   2 KG_INVALID_API_KEY   5 KG_API_KEY_IN_QUERY
 * A caller that keeps something per decision (a rendered header, a
 * counter) sizes its array KG_DECISION_COUNT and indexes it with
 * kg_decision_index, and walks it with kg_decision_at: never with
 * arithmetic on the status values.
 */
#define KG_DECISION_COUNT 7

/* kg_decision_at — the decision at position i of the table, or KG_OK (not
 * a decision) when i >= KG_DECISION_COUNT. */
KG_API kg_status kg_decision_at(size_t i);

/* kg_decision_index — the position of decision s in the table, or -1 when
 * s is not a decision. */
KG_API int kg_decision_index(kg_status s);

/* kg_status_is_decision — 1 when s is one of the decisions of the table,
 * else 0. */
KG_API int kg_status_is_decision(kg_status s);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_STATUS_H */
