/*
 * keygate/response.h — the error responses of SPEC §1.4, rendered into
 * caller buffers: the one home of every error body, status and
 * WWW-Authenticate value a keygate face (the nginx module, keygate check)
 * sends.
 *
 *   decision            status  WWW-Authenticate
 *   missing_api_key     401     Bearer realm="api"
 *   invalid_api_key     401     Bearer realm="api", error="invalid_token"
 *   expired_api_key     401     Bearer realm="api", error="invalid_token",
 *                               error_description="The API key has expired"
 *   ambiguous_api_key   400     none
 *   api_key_in_query    400     none
 *   invalid_parameter   400     none
 *
 * A server's other answers take the same shape: the refusals before
 * authentication (kg_refusal_*, below), service_unavailable (503),
 * too_many_requests (429) and not_found (404).
 *
 * Every error also carries Content-Type: application/json,
 * Cache-Control: no-store and X-Request-Id, and the body
 *   {"error":{"code":"...","message":"...","request_id":"req_..."}}
 * No function here ever writes a presented key.
 *
 * Arguments follow the NULL policy of api.h: a NULL pointer is accepted
 * only where a comment says so; anywhere else a debug build asserts and a
 * release build returns KG_E_ARGUMENT.
 */
#ifndef KEYGATE_RESPONSE_H
#define KEYGATE_RESPONSE_H

#include "keygate/api.h"
#include <stddef.h>

#include "keygate/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KG_REQUEST_ID_RANDOM 24
#define KG_REQUEST_ID_LEN (4 + KG_REQUEST_ID_RANDOM) /* "req_" + 24 */
#define KG_DEFAULT_REALM "api"
#define KG_REALM_MAX 128
/* Room for any value kg_www_authenticate writes, its NUL included: the
 * expired_api_key challenge with a realm of KG_REALM_MAX bytes. */
#define KG_WWW_AUTHENTICATE_MAX (KG_REALM_MAX + 84)
/* Enough for any body this file renders with the default messages. */
#define KG_ERROR_BODY_MAX 512
/* Enough for any full response rendered by kg_response_render. */
#define KG_RESPONSE_MAX 1024

/*
 * kg_request_id — write "req_" + 24 base62 characters from RAND_bytes and a
 * NUL into out. Returns KG_OK or KG_E_CRYPTO (out is then ""). A request id
 * is passed on with its length, KG_REQUEST_ID_LEN: the functions below
 * refuse any other length, and any other shape.
 */
KG_API kg_status kg_request_id(char out[KG_REQUEST_ID_LEN + 1]);

/* kg_http_status — the HTTP status of an answer: 200 for KG_VALID, 401 or
 * 400 for an error decision, a refusal's own (kg_refusal_http_status), 503
 * for KG_SERVICE_UNAVAILABLE, 429 for KG_TOO_MANY_REQUESTS, 404 for
 * KG_NOT_FOUND, 502 for KG_BAD_GATEWAY, 504 for KG_GATEWAY_TIMEOUT (a
 * gateway's upstream failed); 500 for any other status (not an answer). */
KG_API int kg_http_status(kg_status code);

/* kg_error_message — the documented message of an answer (static string,
 * unescaped UTF-8): an error decision's, a refusal's (kg_refusal_message),
 * or a server answer's (service_unavailable, too_many_requests,
 * not_found, bad_gateway, gateway_timeout); "" for KG_VALID and for a status
 * that is not an answer. */
KG_API const char *kg_error_message(kg_status code);

/*
 * kg_realm_check — is (realm, len) a realm keygate can send: 1 to
 * KG_REALM_MAX bytes of printable ASCII without '"' or '\' (it is written
 * inside a quoted-string without escapes, RFC 9110 §5.6.4)? KG_OK or
 * KG_E_ARGUMENT. The one check of keygate_realm, keygate check --realm and
 * kg_www_authenticate. realm may be NULL when len is 0 (refused: empty).
 */
KG_API KG_NODISCARD kg_status kg_realm_check(const char *realm, size_t len);

/*
 * kg_www_authenticate — the WWW-Authenticate value for a decision with the
 * given realm (kg_realm_check). Writes it NUL-terminated into out
 * (KG_WWW_AUTHENTICATE_MAX bytes always suffice) and sets *out_len; sets
 * *out_len to 0 when the decision carries no such header (every code but
 * the three 401 decisions). Returns KG_OK, KG_E_ARGUMENT (bad realm) or
 * KG_E_BUFFER_TOO_SMALL.
 */
KG_API kg_status kg_www_authenticate(kg_status decision, const char *realm,
                                     size_t realm_len, char *out, size_t cap,
                                     size_t *out_len);

/*
 * kg_error_body — the JSON body {"error":{"code","message","request_id"}}
 * of any answer but KG_VALID: an error decision, a refusal, or a server
 * answer (KG_SERVICE_UNAVAILABLE, KG_TOO_MANY_REQUESTS, KG_NOT_FOUND,
 * KG_BAD_GATEWAY, KG_GATEWAY_TIMEOUT). The
 * code is kg_status_str(code), or kg_refusal_code(code) for a refusal; the
 * message is `message` (NULL with message_len 0: kg_error_message(code)),
 * JSON-escaped; request_id is (request_id, request_id_len), of
 * kg_request_id's shape. Writes it NUL-terminated into out and sets
 * *out_len; KG_ERROR_BODY_MAX bytes suffice for every default message.
 * Returns KG_OK, KG_E_ARGUMENT (not an answer, a bad request id) or
 * KG_E_BUFFER_TOO_SMALL.
 */
KG_API kg_status kg_error_body(kg_status code, const char *message,
                               size_t message_len, const char *request_id,
                               size_t request_id_len, char *out, size_t cap,
                               size_t *out_len);

/*
 * kg_response_render — the whole HTTP/1.1 error response (status line,
 * Content-Type, Cache-Control, X-Request-Id, WWW-Authenticate when the
 * decision has one, Content-Length, empty line, body) for an error decision.
 * For KG_VALID returns KG_E_ARGUMENT: a valid request is the upstream's to
 * answer. Writes NUL-terminated into out, sets *out_len.
 */
KG_API kg_status kg_response_render(kg_status decision, const char *realm,
                                    size_t realm_len, const char *request_id,
                                    size_t request_id_len, char *out,
                                    size_t cap, size_t *out_len);

/*
 * Refusals before authentication: a head that kg_head_parse rejects (its
 * parse errors) or that kg_head_screen refuses. They answer in the same
 * JSON shape as the decisions, with their own status and message.
 *
 * kg_refusal_http_status — 400, or 405, 414, 431, 501, 505 for the
 * classes of kg_head_screen that have their own status; 0 for a status
 * that is not a refusal.
 */
KG_API int kg_refusal_http_status(kg_status refusal);

/* kg_refusal_code — the JSON `code`: "bad_request" for every 400, else
 * kg_status_str(refusal) ("method_not_allowed", "uri_too_long",
 * "header_too_large", "unsupported_transfer_coding",
 * "http_version_not_supported"); NULL for a status that is not a
 * refusal. Static string. */
KG_API const char *kg_refusal_code(kg_status refusal);

/* kg_refusal_message — the message naming the cause (static, ASCII), or
 * NULL for a status that is not a refusal. */
KG_API const char *kg_refusal_message(kg_status refusal);

/*
 * kg_refusal_render — the whole HTTP/1.1 response for a refusal (status
 * line, Content-Type, Cache-Control, X-Request-Id, Content-Length, empty
 * line, body {"error":{"code","message","request_id"}}). Writes
 * NUL-terminated into out, sets *out_len. Returns KG_OK, KG_E_ARGUMENT (not
 * a refusal, bad request id) or KG_E_BUFFER_TOO_SMALL.
 */
KG_API kg_status kg_refusal_render(kg_status refusal, const char *request_id,
                                   size_t request_id_len, char *out, size_t cap,
                                   size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_RESPONSE_H */
