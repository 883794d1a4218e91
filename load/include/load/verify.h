/*
 * load/verify.h — what a load run expects of each response, and the check
 * of one response against it: status, the JSON body's error.code,
 * WWW-Authenticate (SPEC §1.4), X-Request-Id and the body's request_id.
 *
 * Allocation-free and bounded: every function reads (ptr, len) spans that
 * point into the engine's buffers, never relies on NUL termination, and
 * writes only into caller-provided storage with its capacity.
 *
 * The JSON body is checked by a strict scanner (RFC 8259: one value, no
 * trailing bytes, no control characters in strings, valid escapes and
 * numbers, nesting at most KGL_JSON_MAX_DEPTH) that also finds the
 * top-level "error" object's "code" and "request_id" strings.
 *
 * Thread safety: every function is reentrant (no state, no allocation).
 */
#ifndef KEYGATE_LOAD_VERIFY_H
#define KEYGATE_LOAD_VERIFY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The traffic classes of a load run, in the order every report uses. */
typedef enum kgl_class {
  KGL_VALID = 0,   /* a key the server holds and accepts */
  KGL_INVALID = 1, /* made on the fly: unknown, bad checksum, truncated, ... */
  KGL_MISSING = 2, /* no key at all */
  KGL_EXPIRED = 3, /* expired or deactivated in the server's store */
  KGL_NCLASS = 4
} kgl_class;

/* kgl_class_name — "valid", "invalid", "missing", "expired"; "all" for
 * KGL_NCLASS (the overall row); "unknown" for any other value. Static
 * string, never NULL. */
const char *kgl_class_name(kgl_class c);

/* kgl_class_parse — the class named by (s, n) exactly (lowercase; "all" is
 * not a class); 0, or -1 leaving *out untouched. */
int kgl_class_parse(const char *s, size_t n, kgl_class *out);

#define KGL_CODE_MAX 64 /* longest error.code an expectation may name */

typedef struct kgl_expect {
  int status;                  /* exact status, or 0 for "any 2xx" */
  char code[KGL_CODE_MAX + 1]; /* expected error.code; "" checks none */
  /* 1: the full SPEC §1.4 shape is checked (Content-Type, WWW-Authenticate
   * on 401, X-Request-Id, body request_id); 0: status and code only */
  int contract;
} kgl_expect;

/*
 * kgl_expect_default — the contract's expectation for class c:
 * valid: any 2xx; invalid: 401 invalid_api_key; missing: 401
 * missing_api_key; expired: 401 expired_api_key; contract checks on for the
 * three error classes. Statuses and codes come from libkeygate
 * (kg_http_status, kg_status_str), the contract's one home. A c outside
 * KGL_VALID..KGL_EXPIRED gets status -1, which no response meets.
 */
void kgl_expect_default(kgl_class c, kgl_expect *e);

/*
 * kgl_expect_parse — parse an --expect value "CLASS=STATUS[:code]"
 * (STATUS 100..599, or "2xx"; code 1..KGL_CODE_MAX of [A-Za-z0-9_.-]).
 * The result has contract = 0, unless it is the class's default
 * (kgl_expect_default) typed out, which keeps the contract's checks (a
 * review found invalid=401:invalid_api_key turning them off). Class names
 * are exact (lowercase); STATUS
 * is exactly three digits or "2xx". Returns 0, or -1 with a one-line reason
 * in why (capacity whycap; cut to fit, always NUL-terminated when whycap >
 * 0; why may be NULL); on -1, *c and *e are untouched.
 */
int kgl_expect_parse(const char *s, size_t n, kgl_class *c, kgl_expect *e,
                     char *why, size_t whycap);

/* The parts of one response that the verifier reads; the engine fills it
 * with spans into its own buffers. A header seen twice sets its count to 2
 * and keeps the first span. Header values may carry leading and trailing
 * OWS (SP, HT), which the verifier ignores. A value longer than the engine
 * keeps is marked in `cut` (its KGL_MM_* bit) and fails its check: it is
 * never judged by the part kept. */
typedef struct kgl_response {
  int status;
  const char *content_type;
  size_t content_type_len;
  int content_type_count;
  const char *www_authenticate;
  size_t www_authenticate_len;
  int www_authenticate_count;
  const char *request_id; /* X-Request-Id */
  size_t request_id_len;
  int request_id_count;
  const char *body; /* de-chunked body, or its first body_len bytes */
  size_t body_len;
  int body_truncated; /* 1 when the body was longer than the engine kept */
  /* KGL_MM_CONTENT_TYPE, KGL_MM_WWW_AUTH, KGL_MM_REQUEST_ID: that field's
   * first value was longer than the engine kept (the span is its start) */
  unsigned cut;
  int no_store; /* a Cache-Control field holds the no-store directive */
  int key_echo; /* the key the request sent is in the head or the body */
} kgl_response;

/* Mismatch kinds: bits of kgl_verify's result. */
#define KGL_MM_STATUS 0x01u        /* status differs from the expectation */
#define KGL_MM_CODE 0x02u          /* error.code absent or different */
#define KGL_MM_BODY 0x04u          /* body not the contract's JSON shape */
#define KGL_MM_WWW_AUTH 0x08u      /* WWW-Authenticate absent or wrong */
#define KGL_MM_REQUEST_ID 0x10u    /* X-Request-Id absent, bad or != body */
#define KGL_MM_CONTENT_TYPE 0x20u  /* not application/json */
#define KGL_MM_CACHE_CONTROL 0x40u /* no Cache-Control: no-store */
#define KGL_MM_KEY_ECHO 0x80u      /* the key sent came back */
#define KGL_MM_KINDS 8

/* kgl_mismatch_name — "status", "code", "body", "www_authenticate",
 * "request_id", "content_type", "cache_control", "key_echo" for the bit
 * index i (0..KGL_MM_KINDS-1); "unknown" otherwise. */
const char *kgl_mismatch_name(int i);

/*
 * kgl_verify — check response r against expectation e (both non-NULL).
 * Returns 0 when it conforms, else the OR of KGL_MM_* bits. Sets *code /
 * *code_len to the body's error.code span (raw bytes between the quotes)
 * when the body is well-formed and has one (else NULL/0), for the mismatch
 * sample; code and code_len may be NULL. The body is scanned only when
 * some check needs it (contract, a code, or a status mismatch for the
 * sample): a conforming 2xx body costs nothing.
 *
 * Checks, in the contract's terms (e->contract == 1, an error class):
 *   status == e->status; Content-Type application/json (parameters
 *   allowed); body is strict JSON {"error":{"code":S,"message":S,
 *   "request_id":S,...}} with code == e->code; on 401 a WWW-Authenticate
 *   whose Bearer challenge has a realm, and error="invalid_token" exactly
 *   for invalid_api_key and expired_api_key and no error parameter for
 *   missing_api_key; exactly one X-Request-Id of the shape req_ + 24
 *   base62, equal to the body's request_id; Cache-Control with no-store
 *   (SPEC §1.4: every error carries it).
 * With e->contract == 0: status (any 2xx when e->status is 0), and when
 * e->code is set, the body's error.code.
 * Whatever e says: r->key_echo (set by the engine) is KGL_MM_KEY_ECHO.
 *
 * Decisions a reader should know:
 *   - Strings are compared after JSON unescaping ("\u005f" is "_"), header
 *     parameter values after unquoting; both compares are exact (bytes).
 *   - A body that is truncated (body_truncated) or not well-formed has no
 *     code: with e->code set that is KGL_MM_CODE as well as KGL_MM_BODY.
 *   - Content-Type, WWW-Authenticate and X-Request-Id must each appear
 *     exactly once: the engine keeps only the first of several, and a
 *     second one could not be checked. One the engine cut (r->cut) fails
 *     its check: the part kept may pass where the whole would not.
 *   - WWW-Authenticate is read as RFC 9110 §11.6.1's #challenge list:
 *     challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ], auth-param
 *     = token BWS "=" BWS ( token / quoted-string ). A list element of the
 *     form `token BWS "="` is a parameter of the challenge before it, which
 *     must have opened its parameter list (scheme then 1*SP, no token68);
 *     any other token starts a new challenge. The whole value must parse,
 *     hold exactly one Bearer challenge (scheme case-insensitive) with params,
 *     not a token68, and in it exactly one realm (names case-insensitive);
 *     error must appear at most once (RFC 6750 §3). Parameters of other
 *     challenges are never read as the Bearer challenge's.
 *   - The WWW-Authenticate check runs when e->status is 401 (with
 *     e->contract == 1), whatever status came back; for codes other than
 *     the three §1.4 names it requires the realm only.
 */
unsigned kgl_verify(const kgl_expect *e, const kgl_response *r,
                    const char **code, size_t *code_len);

/* Deepest nesting of objects and arrays the scanner accepts; the top-level
 * object is depth 1. Deeper input is malformed (the scanner recurses). */
#define KGL_JSON_MAX_DEPTH 32

/*
 * kgl_json_error — the strict scan alone: 0 when (body, len) is one
 * well-formed JSON value whose top level is an object; sets the spans of
 * error.code and error.request_id (the raw bytes between the quotes, NULL/0
 * when absent or not strings). -1 when malformed (all spans NULL/0). Any
 * output pointer may be NULL.
 *
 * Stricter than RFC 8259 where the RFC leaves room for ambiguity:
 *   - raw bytes >= 0x80 must be well-formed UTF-8 (RFC 3629: no overlong
 *     forms, no surrogates, nothing above U+10FFFF); a byte-order mark is
 *     refused;
 *   - a \u escape of a surrogate must be a high one followed at once by a
 *     low one (no lone surrogates, RFC 8259 §8.2);
 *   - ambiguity about the fields it reports is malformed: a second "error"
 *     member of the top-level object, or a second "code", "message" or
 *     "request_id" member of the "error" object, makes the body -1 (member
 *     names compared after unescaping). Other duplicate names are allowed.
 * Only the top-level object's "error" member counts: a "code" anywhere
 * else is ignored. Recursion is bounded by KGL_JSON_MAX_DEPTH.
 */
int kgl_json_error(const char *body, size_t len, const char **code,
                   size_t *code_len, const char **request_id,
                   size_t *request_id_len);

/* kgl_request_id_ok — 1 when (s, n) is exactly "req_" + 24 base62
 * characters ([0-9A-Za-z]), else 0. */
int kgl_request_id_ok(const char *s, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_LOAD_VERIFY_H */
