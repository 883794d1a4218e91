/*
 * keygate/credential.h — extracting the API key from a request (SPEC §1.1).
 *
 * Inputs are a request's field lines, in order, and its query string; the
 * output is a span pointing into the caller's buffers. Nothing allocates.
 *
 *  - Names match case-insensitively (RFC 9110 §5.1): Authorization, X-API-Key.
 *  - Leading and trailing OWS is not part of a value (RFC 9110 §5.5).
 *  - Authorization: <scheme> 1*SP <token68> (RFC 9110 §11.4, RFC 6750 §2.1),
 *    scheme Bearer in any case. Other schemes carry no API key.
 *  - Bearer with an empty token, and an empty X-API-Key, count as no key.
 *  - A token that is not token68, or a control character (0x00-0x1F but
 *    HTAB, 0x7F) anywhere in a value, is a malformed key.
 *  - Both headers holding the same key is one key. Two different keys, or a
 *    name on more than one line, is ambiguous.
 *  - A key anywhere in the request-target, or in a Host field (the URL's
 *    authority), is refused, whatever the key headers hold
 *    (kg_target_scan).
 *
 * Arguments follow the NULL policy of api.h: a span may be (NULL, 0), and a
 * pointer may be NULL only where its function says so; any other NULL is
 * the caller's bug.
 *
 * Timing: depends on the request's bytes only; reads nothing stored.
 */
#ifndef KEYGATE_CREDENTIAL_H
#define KEYGATE_CREDENTIAL_H

#include "keygate/api.h"
#include <stddef.h>

#include "keygate/key.h"
#include "keygate/span.h"
#include "keygate/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where the key came from (bit set). */
#define KG_SOURCE_AUTHORIZATION 1u
#define KG_SOURCE_X_API_KEY 2u

typedef struct kg_credential {
  /* KG_OK (a key is present in key), KG_MISSING_API_KEY,
   * KG_INVALID_API_KEY (malformed), KG_AMBIGUOUS_API_KEY,
   * KG_API_KEY_IN_QUERY. */
  kg_status outcome;
  /* Finer reason: KG_OK, KG_KEY_MALFORMED, KG_KEY_DUPLICATE_FIELD,
   * KG_KEY_CONFLICT; for KG_API_KEY_IN_QUERY, KG_URL_KEY_PREFIX or
   * KG_URL_KEY_PARAM. */
  kg_status detail;
  kg_span key;      /* the presented token (also when malformed), else empty */
  unsigned sources; /* KG_SOURCE_* bits of the lines that held a value */
} kg_credential;

/*
 * kg_credential_extract — apply SPEC §1.1 to fields[0..n) and target.
 * target is the request-target as sent, undecoded: path, query and all
 * ("/api/v1/iocs?type=ipv4"). A caller that passes only the query string
 * (without '?') gets the same answer for the query, and misses keys in the
 * path: pass the whole target. A Host field among fields is checked as part
 * of the URL (pass it along with the key headers). Returns out->outcome.
 * The policy gives the key prefix the URL check looks for. fields may be
 * NULL when n is 0 (a request with no field line); p and out are never
 * NULL.
 */
KG_API kg_status kg_credential_extract(const kg_key_policy *p,
                                       const kg_field *fields, size_t n,
                                       kg_span target, kg_credential *out);

/*
 * kg_parse_authorization — one Authorization value (OWS allowed around it).
 * Returns KG_OK with *token set (never empty) for a Bearer token68;
 * KG_MISSING_API_KEY for another scheme, an empty value or an empty Bearer
 * token; KG_KEY_MALFORMED for a control character or a token that is not
 * token68 (*token is then the offending rest of the value). token is
 * never NULL.
 */
KG_API kg_status kg_parse_authorization(kg_span value, kg_span *token);

/*
 * kg_parse_x_api_key — one X-API-Key value. Same returns as
 * kg_parse_authorization: KG_OK, KG_MISSING_API_KEY (empty),
 * KG_KEY_MALFORMED. token is never NULL.
 */
KG_API kg_status kg_parse_x_api_key(kg_span value, kg_span *token);

/*
 * kg_target_scan — does the request-target (or any part of it: a path, a
 * query string) carry a key? KG_OK when it does not, else why it does:
 *  - KG_URL_KEY_PREFIX: p's prefix at any position, ASCII case ignored,
 *    each character written as itself, percent-encoded (%73) or encoded
 *    twice (%2573): the target raw, decoded once, or decoded twice;
 *  - KG_URL_KEY_PARAM: a parameter (the target cut at '?', '&', ';' and
 *    '#') named api_key, apikey, key, access_token or token, written the
 *    same ways and in any case, with a non-empty value.
 * Allocates nothing; timing depends on the target's bytes only. The
 * decisions behind each rule are in docs/contract.md. p is never NULL (in
 * a release build, KG_E_ARGUMENT: not KG_OK, so kg_target_has_key says
 * 1).
 */
KG_API kg_status kg_target_scan(const kg_key_policy *p, kg_span target);

/* kg_target_has_key — 1 when kg_target_scan finds a key, else 0. */
KG_API int kg_target_has_key(const kg_key_policy *p, kg_span target);

/*
 * kg_query_has_key — the same as kg_target_has_key (the rules do not depend
 * on where the span starts), kept under its first name for callers that
 * pass the query string alone.
 */
KG_API int kg_query_has_key(const kg_key_policy *p, kg_span query);

/*
 * kg_target_deep — for a server that keeps a key out of its logs and
 * upstreams whatever its encoding. kg_target_scan reads the target as
 * sent, decoded once and decoded twice (SPEC §1.1); a prefix escaped
 * deeper (%252573k_live_, %%32%3573k_live_) it does not see, though a
 * key's body is plain text at any depth. When the target decoded twice
 * still holds an escape, it is decoded again, up to KG_TARGET_DEEP_LEVELS
 * more times, into scratch (cap >= target.len bytes), and each of these
 * levels searched for p's prefix as it is (ASCII case ignored). Only the
 * prefix: at these depths an escaped '?', '&', ';' or '=' is data, not a
 * separator, so the parameter rule is not applied. Returns:
 *  - KG_OK: no level holds the prefix (or nothing is left to decode
 *    after two levels: then kg_target_scan has seen it all);
 *  - KG_URL_KEY_PREFIX: *level is the first level that holds it (in
 *    scratch). Decided instead of target, kg_decide refuses it as
 *    api_key_in_query;
 *  - KG_E_BAD_TARGET: still decoding after KG_TARGET_DEEP_LEVELS more
 *    levels; KG_E_BUFFER_TOO_SMALL: the target holds a '%' and scratch is
 *    NULL or cap < target.len. A log redacts such a target (fail closed);
 *    the decision is taken on target;
 *  - KG_E_ARGUMENT: p or level NULL.
 * *level is target except as said. An invalid escape stands for itself.
 * Allocates nothing; timing depends on the target's bytes only; a target
 * without '%' costs one search for it. The nginx module and keygate check
 * decide on *level (docs/contract.md).
 */
#define KG_TARGET_DEEP_LEVELS 8
KG_API kg_status kg_target_deep(const kg_key_policy *p, kg_span target,
                                char *scratch, size_t cap, kg_span *level);

/* kg_is_token68 — 1 when (s, len) is a non-empty token68 (RFC 9110 §11.2);
 * (NULL, 0) is not. */
KG_API int kg_is_token68(const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_CREDENTIAL_H */
