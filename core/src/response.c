/*
 * response.c — SPEC §1.4: status, WWW-Authenticate, JSON error body, and
 * the whole error response, written into caller buffers.
 */
#include "keygate/response.h"

#include <stdio.h>
#include <string.h>

#include "chars.h"
#include "defensive.h"
#include "keygate/key.h"

/* ---- a bounded writer ------------------------------------------------- */

typedef struct writer {
  char *p;
  size_t cap; /* bytes available, the NUL included */
  size_t n;
  int overflow;
} writer;

static void put(writer *w, const char *s, size_t len) {
  if (w->overflow || w->cap == 0 || len > w->cap - 1 - w->n) {
    w->overflow = 1;
    return;
  }
  memcpy(w->p + w->n, s, len);
  w->n += len;
}

static void puts_(writer *w, const char *s) {
  put(w, s, strlen(s));
}

/* The length of the well-formed UTF-8 sequence at s[0..len) (RFC 3629
 * §4: no overlong form, no surrogate, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t len) {
  const unsigned char c = s[0];
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    lo = c == 0xe0 ? 0xa0 : 0x80;
    hi = c == 0xed ? 0x9f : 0xbf;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    lo = c == 0xf0 ? 0x90 : 0x80;
    hi = c == 0xf4 ? 0x8f : 0xbf;
  } else {
    return 0;
  }
  if (len < n || s[1] < lo || s[1] > hi) {
    return 0;
  }
  for (size_t i = 2; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) {
      return 0;
    }
  }
  return n;
}

/* JSON string contents (RFC 8259 §7, §8.1): escape '"', '\' and controls;
 * a byte that starts no well-formed UTF-8 sequence becomes U+FFFD, so the
 * body is valid JSON whatever message a caller passes. */
static void put_json(writer *w, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t i = 0;
  while (i < len) {
    /* a run of printable ASCII that needs no escape, copied at once */
    size_t j = i;
    while (j < len && (unsigned char)s[j] >= 0x20 &&
           (unsigned char)s[j] < 0x7f && s[j] != '"' && s[j] != '\\') {
      j++;
    }
    put(w, s + i, j - i);
    if (j == len) {
      return;
    }
    const unsigned char c = (unsigned char)s[j];
    i = j + 1;
    if (c == '"' || c == '\\') {
      const char e[2] = {'\\', (char)c};
      put(w, e, 2);
    } else if (c < 0x80) { /* a control byte or DEL */
      const char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      put(w, e, 6);
    } else {
      const size_t n = utf8_len((const unsigned char *)s + j, len - j);
      if (n == 0) {
        puts_(w, "\\ufffd");
      } else {
        put(w, s + j, n);
        i = j + n;
      }
    }
  }
}

static kg_status finish(writer *w, size_t *out_len) {
  if (w->overflow) {
    if (w->cap > 0) {
      w->p[0] = '\0';
    }
    *out_len = 0;
    return KG_E_BUFFER_TOO_SMALL;
  }
  w->p[w->n] = '\0';
  *out_len = w->n;
  return KG_OK;
}

/* ---- the pieces ------------------------------------------------------- */

kg_status kg_request_id(char out[KG_REQUEST_ID_LEN + 1]) {
  if (KG_NEVER(out == NULL)) {
    return KG_E_ARGUMENT;
  }
  memcpy(out, "req_", 4);
  kg_status s = kg_random_base62(out + 4, KG_REQUEST_ID_RANDOM);
  out[s == KG_OK ? KG_REQUEST_ID_LEN : 0] = '\0';
  return s;
}

int kg_http_status(kg_status code) {
  switch (code) {
  case KG_VALID:
    return 200;
  case KG_MISSING_API_KEY:
  case KG_INVALID_API_KEY:
  case KG_EXPIRED_API_KEY:
    return 401;
  case KG_AMBIGUOUS_API_KEY:
  case KG_API_KEY_IN_QUERY:
  case KG_INVALID_PARAMETER:
    return 400;
  case KG_SERVICE_UNAVAILABLE:
    return 503;
  case KG_TOO_MANY_REQUESTS:
    return 429;
  case KG_NOT_FOUND:
    return 404;
  case KG_BAD_GATEWAY:
    return 502;
  case KG_GATEWAY_TIMEOUT:
    return 504;
  default: {
    int refusal = kg_refusal_http_status(code);
    return refusal != 0 ? refusal : 500;
  }
  }
}

const char *kg_error_message(kg_status code) {
  switch (code) {
  case KG_MISSING_API_KEY:
    /* The documented message, word for word. */
    return "API key is required. Include it in the Authorization header as "
           "\"Bearer sk_live_...\" or in the X-API-Key header.";
  case KG_INVALID_API_KEY:
    return "API key is invalid. Check for typos or extra whitespace, and "
           "verify the key in Settings \xe2\x86\x92 API Keys.";
  case KG_EXPIRED_API_KEY:
    return "API key has been deactivated or has expired. Generate a new key "
           "in Settings \xe2\x86\x92 API Keys and update your integration.";
  case KG_AMBIGUOUS_API_KEY:
    return "More than one API key was sent. Send exactly one key, in the "
           "Authorization header or in the X-API-Key header.";
  case KG_API_KEY_IN_QUERY:
    return "API keys must not be sent in the URL. Send the key in the "
           "Authorization header or in the X-API-Key header, and replace "
           "this key: the URL may already be in logs.";
  case KG_INVALID_PARAMETER:
    return "A query parameter is invalid.";
  case KG_SERVICE_UNAVAILABLE:
    return "The service cannot check API keys right now. Retry in a few "
           "seconds.";
  case KG_TOO_MANY_REQUESTS:
    return "Too many requests in progress from this address. Retry when "
           "some have finished.";
  case KG_NOT_FOUND:
    return "No such endpoint.";
  case KG_BAD_GATEWAY:
    return "The API behind the gateway could not be reached. Retry in a few "
           "seconds.";
  case KG_GATEWAY_TIMEOUT:
    return "The API behind the gateway did not answer in time. Retry in a "
           "few seconds.";
  default: {
    const char *refusal = kg_refusal_message(code);
    return refusal != NULL ? refusal : "";
  }
  }
}

kg_status kg_realm_check(const char *realm, size_t len) {
  if (KG_NEVER(realm == NULL && len > 0) || len == 0 || len > KG_REALM_MAX) {
    return KG_E_ARGUMENT;
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)realm[i];
    /* quoted-string without escapes (RFC 9110 §5.6.4) */
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
      return KG_E_ARGUMENT;
    }
  }
  return KG_OK;
}

/* The longest challenge: KG_WWW_AUTHENTICATE_MAX is its size. */
#define CHALLENGE_OPEN "Bearer realm=\""
#define CHALLENGE_INVALID ", error=\"invalid_token\""
#define CHALLENGE_EXPIRED ", error_description=\"The API key has expired\""
_Static_assert(sizeof CHALLENGE_OPEN - 1 + KG_REALM_MAX + 1 +
                       sizeof CHALLENGE_INVALID - 1 + sizeof CHALLENGE_EXPIRED -
                       1 + 1 ==
                   KG_WWW_AUTHENTICATE_MAX,
               "KG_WWW_AUTHENTICATE_MAX is the longest challenge and its NUL");

kg_status kg_www_authenticate(kg_status decision, const char *realm,
                              size_t realm_len, char *out, size_t cap,
                              size_t *out_len) {
  if (KG_NEVER(out == NULL || out_len == NULL) ||
      kg_realm_check(realm, realm_len) != KG_OK) {
    return KG_E_ARGUMENT;
  }
  writer w = {out, cap, 0, 0};
  if (decision != KG_MISSING_API_KEY && decision != KG_INVALID_API_KEY &&
      decision != KG_EXPIRED_API_KEY) {
    return finish(&w, out_len); /* no challenge for 400s */
  }
  /* RFC 6750 §3: the Bearer challenge and its error codes. */
  puts_(&w, CHALLENGE_OPEN);
  put(&w, realm, realm_len);
  puts_(&w, "\"");
  if (decision != KG_MISSING_API_KEY) {
    puts_(&w, CHALLENGE_INVALID);
  }
  if (decision == KG_EXPIRED_API_KEY) {
    puts_(&w, CHALLENGE_EXPIRED);
  }
  return finish(&w, out_len);
}

/* A request id of kg_request_id's shape: "req_" and 24 base62. */
static int request_id_ok(const char *id, size_t len) {
  if (len != KG_REQUEST_ID_LEN || memcmp(id, "req_", 4) != 0) {
    return 0;
  }
  for (size_t i = 4; i < KG_REQUEST_ID_LEN; i++) {
    if (!kg_is((unsigned char)id[i], KG_C_BASE62)) {
      return 0;
    }
  }
  return 1;
}

/* The JSON code of an answer kg_error_body takes, or NULL for any other
 * status: "bad_request" for every 400 refusal (kg_refusal_code). */
static const char *answer_code(kg_status code) {
  if (code == KG_VALID) {
    return NULL;
  }
  if (kg_status_is_decision(code) || code == KG_SERVICE_UNAVAILABLE ||
      code == KG_TOO_MANY_REQUESTS || code == KG_NOT_FOUND ||
      code == KG_BAD_GATEWAY || code == KG_GATEWAY_TIMEOUT) {
    return kg_status_str(code);
  }
  return kg_refusal_code(code);
}

kg_status kg_error_body(kg_status code, const char *message, size_t message_len,
                        const char *request_id, size_t request_id_len,
                        char *out, size_t cap, size_t *out_len) {
  if (KG_NEVER(out == NULL || out_len == NULL || request_id == NULL ||
               (message == NULL && message_len > 0))) {
    return KG_E_ARGUMENT;
  }
  const char *json_code = answer_code(code);
  if (json_code == NULL || !request_id_ok(request_id, request_id_len)) {
    return KG_E_ARGUMENT;
  }
  if (message == NULL) {
    message = kg_error_message(code);
    message_len = strlen(message);
  }
  writer w = {out, cap, 0, 0};
  puts_(&w, "{\"error\":{\"code\":\"");
  puts_(&w, json_code);
  puts_(&w, "\",\"message\":\"");
  put_json(&w, message, message_len);
  puts_(&w, "\",\"request_id\":\"");
  put(&w, request_id, KG_REQUEST_ID_LEN);
  puts_(&w, "\"}}");
  return finish(&w, out_len);
}

kg_status kg_response_render(kg_status decision, const char *realm,
                             size_t realm_len, const char *request_id,
                             size_t request_id_len, char *out, size_t cap,
                             size_t *out_len) {
  if (KG_NEVER(out == NULL || out_len == NULL) ||
      !kg_status_is_decision(decision)) {
    return KG_E_ARGUMENT;
  }
  char body[KG_ERROR_BODY_MAX];
  size_t body_len;
  kg_status s = kg_error_body(decision, NULL, 0, request_id, request_id_len,
                              body, sizeof body, &body_len);
  if (s != KG_OK) {
    return s;
  }
  char challenge[KG_WWW_AUTHENTICATE_MAX];
  size_t challenge_len;
  s = kg_www_authenticate(decision, realm, realm_len, challenge,
                          sizeof challenge, &challenge_len);
  if (s != KG_OK) {
    return s;
  }
  int status = kg_http_status(decision);
  char line[64];
  int n = snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status,
                   status == 401 ? "Unauthorized" : "Bad Request");
  char length[48];
  int m = snprintf(length, sizeof length, "Content-Length: %zu\r\n", body_len);
  if (n < 0 || m < 0) {
    return KG_E_ARGUMENT;
  }

  writer w = {out, cap, 0, 0};
  put(&w, line, (size_t)n);
  puts_(&w, "Content-Type: application/json\r\n"
            "Cache-Control: no-store\r\n"
            "X-Request-Id: ");
  put(&w, request_id, KG_REQUEST_ID_LEN);
  puts_(&w, "\r\n");
  if (challenge_len > 0) {
    puts_(&w, "WWW-Authenticate: ");
    put(&w, challenge, challenge_len);
    puts_(&w, "\r\n");
  }
  put(&w, length, (size_t)m);
  puts_(&w, "\r\n");
  put(&w, body, body_len);
  return finish(&w, out_len);
}

/* ---- refusals before authentication ----------------------------------- */

int kg_refusal_http_status(kg_status refusal) {
  switch (refusal) {
  case KG_E_METHOD_NOT_ALLOWED:
    return 405;
  case KG_E_URI_TOO_LONG:
    return 414;
  case KG_E_HEADER_TOO_LARGE:
    return 431; /* RFC 6585 §5; nginx's own code is 494 */
  case KG_E_UNSUPPORTED_TRANSFER_CODING:
    return 501; /* RFC 9112 §6.1 */
  case KG_E_VERSION_NOT_SUPPORTED:
    return 505;
  case KG_E_HEAD_TOO_LARGE:
  case KG_E_TOO_MANY_FIELDS:
  case KG_E_BAD_REQUEST_LINE:
  case KG_E_BAD_METHOD:
  case KG_E_BAD_TARGET:
  case KG_E_BAD_VERSION:
  case KG_E_BAD_FIELD_NAME:
  case KG_E_WS_BEFORE_COLON:
  case KG_E_OBS_FOLD:
  case KG_E_CONTROL_CHAR:
  case KG_E_BAD_LINE_END:
  case KG_E_MISSING_HOST:
  case KG_E_BAD_HOST:
  case KG_E_DUPLICATE_HEADER:
  case KG_E_BAD_FRAMING:
  case KG_E_BAD_BODY:
    return 400;
  default:
    return 0;
  }
}

const char *kg_refusal_code(kg_status refusal) {
  int status = kg_refusal_http_status(refusal);
  if (status == 0) {
    return NULL;
  }
  return status == 400 ? "bad_request" : kg_status_str(refusal);
}

const char *kg_refusal_message(kg_status refusal) {
  switch (refusal) {
  case KG_E_MISSING_HOST:
    return "The request has no Host header. HTTP/1.1 requests must send "
           "exactly one Host header (RFC 9112 section 3.2).";
  case KG_E_BAD_HOST:
    return "The Host header is not a valid host. Send the server's name, "
           "with its port if needed.";
  case KG_E_DUPLICATE_HEADER:
    return "Host, Content-Length, Transfer-Encoding or another header the "
           "server takes once (Expect, a conditional) was sent more than "
           "once. Send each of them at most once.";
  case KG_E_BAD_FRAMING:
    return "The request body's length is ambiguous. Send either a "
           "Content-Length of digits or Transfer-Encoding: chunked (HTTP/1.1 "
           "only), not both.";
  case KG_E_BAD_BODY:
    return "The request body does not match its framing: a chunk size or "
           "chunk end is malformed, or fewer bytes came than Content-Length "
           "announced. Send the body as its headers describe it.";
  case KG_E_METHOD_NOT_ALLOWED:
    return "This method is not allowed. TRACE and CONNECT are refused.";
  case KG_E_URI_TOO_LONG:
    return "The request line is too long. Keep the URL under 8 KiB.";
  case KG_E_HEADER_TOO_LARGE:
    return "A header line is too long. Keep each header under 8 KiB.";
  case KG_E_UNSUPPORTED_TRANSFER_CODING:
    return "This Transfer-Encoding is not supported. Send "
           "Transfer-Encoding: chunked or a Content-Length.";
  case KG_E_VERSION_NOT_SUPPORTED:
    return "This HTTP version is not supported here. Send HTTP/1.1.";
  case KG_E_BAD_METHOD:
    return "The method is malformed. Send an uppercase method such as GET.";
  case KG_E_BAD_TARGET:
    return "The request target is malformed. Send a path that starts with "
           "'/' (or an absolute URL with a valid host and no "
           "user:password@), without '..' above the root or %00.";
  case KG_E_BAD_VERSION:
  case KG_E_BAD_REQUEST_LINE:
    return "The request line is malformed. Send METHOD /path HTTP/1.1, "
           "one space apart.";
  case KG_E_HEAD_TOO_LARGE:
  case KG_E_TOO_MANY_FIELDS:
  case KG_E_BAD_FIELD_NAME:
  case KG_E_WS_BEFORE_COLON:
  case KG_E_OBS_FOLD:
  case KG_E_CONTROL_CHAR:
  case KG_E_BAD_LINE_END:
    /* The module's message for the head errors nginx itself finds. */
    return "The request is malformed. Send each header on one line, once, "
           "with no whitespace before the colon and no control characters.";
  default:
    return NULL;
  }
}

static const char *reason_phrase(int status) {
  switch (status) {
  case 405:
    return "Not Allowed";
  case 414:
    return "URI Too Long";
  case 431:
    return "Request Header Fields Too Large";
  case 501:
    return "Not Implemented";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return "Bad Request";
  }
}

kg_status kg_refusal_render(kg_status refusal, const char *request_id,
                            size_t request_id_len, char *out, size_t cap,
                            size_t *out_len) {
  if (KG_NEVER(out == NULL || out_len == NULL || request_id == NULL)) {
    return KG_E_ARGUMENT;
  }
  int status = kg_refusal_http_status(refusal);
  if (status == 0) {
    return KG_E_ARGUMENT;
  }
  char body[KG_ERROR_BODY_MAX];
  size_t body_len;
  kg_status s = kg_error_body(refusal, NULL, 0, request_id, request_id_len,
                              body, sizeof body, &body_len);
  if (s != KG_OK) {
    return s;
  }
  char head[160];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                   "Cache-Control: no-store\r\nX-Request-Id: ",
                   status, reason_phrase(status));
  char length[48];
  int m = snprintf(length, sizeof length, "\r\nContent-Length: %zu\r\n\r\n",
                   body_len);
  if (n < 0 || m < 0 || (size_t)n >= sizeof head) {
    return KG_E_ARGUMENT;
  }
  writer w = {out, cap, 0, 0};
  put(&w, head, (size_t)n);
  put(&w, request_id, KG_REQUEST_ID_LEN);
  put(&w, length, (size_t)m);
  put(&w, body, body_len);
  return finish(&w, out_len);
}
