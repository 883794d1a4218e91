/*
 * load/src/probe.c — the cases of `keygate probe` (load/probe.h): the
 * table, the keys it sends, the exact bytes of each request, and the
 * judgement of one answer. Nothing here touches the network
 * (probe_run.c does), so the unit tests read every case.
 *
 * Each expectation cites the rule it comes from: SPEC §1 and
 * docs/contract.md, which decide every edge case; docs/probe.md explains
 * them to a reader of a report.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "ascii.h"
#include "internal.h"
#include "keygate/status.h"
#include "load/probe.h"
#include "load/redact.h"

/* ====================================================================== */
/* The table                                                              */
/* ====================================================================== */

#define OK2XX 0, NULL
#define MISSING 401, "missing_api_key"
#define INVALID 401, "invalid_api_key"
#define AMBIGUOUS 400, "ambiguous_api_key"
#define IN_QUERY 400, "api_key_in_query"

/* A request case with one expected answer. */
#define REQ(name_, group_, target_, extra_, fields_, status_, code_, rfc_,     \
            why_)                                                              \
  {                                                                            \
    .name = (name_), .group = (group_), .kind = KGL_PROBE_REQUEST,             \
    .target = (target_), .extra = (extra_), .fields = (fields_),               \
    .status = (status_), .code = (code_), .rfc = (rfc_), .rationale = (why_)   \
  }
#define HDR(name, group, fields, expect, rfc, why)                             \
  REQ(name, group, KGL_PROBE_TARGET_URL, NULL, fields, expect, rfc, why)
#define QRY(name, extra, fields, expect, rfc, why)                             \
  REQ(name, "url", KGL_PROBE_TARGET_QUERY, extra, fields, expect, rfc, why)
#define PTH(name, extra, fields, expect, rfc, why)                             \
  REQ(name, "url", KGL_PROBE_TARGET_PATH, extra, fields, expect, rfc, why)

#define XK "X-API-Key: {V}\r\n"

static const kgl_probe_case CASES[] = {
    /* ---- the two header forms, names and scheme in any case ------------ */
    HDR("bearer_valid", "header", "Authorization: Bearer {V}\r\n", OK2XX,
        "RFC 6750 §2.1",
        "the documented form: Authorization: Bearer <key> is accepted"),
    HDR("x_api_key_valid", "header", XK, OK2XX, NULL,
        "the documented second form: X-API-Key: <key> is accepted"),
    HDR("no_key", "header", "", MISSING, "RFC 6750 §3.1",
        "no credential at all: 401 missing_api_key with the Bearer challenge"),
    HDR("authorization_name_lowercase", "header",
        "authorization: Bearer {V}\r\n", OK2XX, "RFC 9110 §5.1",
        "field names are case-insensitive: authorization is Authorization"),
    HDR("x_api_key_name_uppercase", "header", "X-API-KEY: {V}\r\n", OK2XX,
        "RFC 9110 §5.1", "field names are case-insensitive: X-API-KEY"),
    HDR("x_api_key_name_lowercase", "header", "x-api-key: {V}\r\n", OK2XX,
        "RFC 9110 §5.1", "field names are case-insensitive: x-api-key"),
    HDR("scheme_lowercase", "header", "Authorization: bearer {V}\r\n", OK2XX,
        "RFC 9110 §11.1",
        "the auth-scheme is case-insensitive: bearer is Bearer"),
    HDR("scheme_uppercase", "header", "Authorization: BEARER {V}\r\n", OK2XX,
        "RFC 9110 §11.1",
        "the auth-scheme is case-insensitive: BEARER is Bearer"),
    HDR("basic_scheme_only", "header",
        "Authorization: Basic cHJvYmU6cHJvYmU=\r\n", MISSING, "RFC 9110 §11.4",
        "a scheme other than Bearer carries no API key: the request has none"),
    HDR("basic_scheme_plus_x_api_key", "header",
        "Authorization: Basic cHJvYmU6cHJvYmU=\r\n" XK, OK2XX, NULL,
        "Basic carries no API key, so the X-API-Key is the one key sent"),
    HDR("scheme_bearerx", "header", "Authorization: Bearerx {V}\r\n", MISSING,
        "RFC 9110 §11.1",
        "Bearerx is another scheme (not a prefix match of Bearer): no key"),

    /* ---- whitespace ---------------------------------------------------- */
    HDR("bearer_two_spaces", "whitespace", "Authorization: Bearer  {V}\r\n",
        OK2XX, "RFC 9110 §11.4",
        "credentials = auth-scheme 1*SP token68: several spaces separate"),
    HDR("bearer_tab", "whitespace", "Authorization: Bearer\t{V}\r\n", INVALID,
        "RFC 9110 §11.4",
        "only SP separates scheme and token: a tab makes the value malformed "
        "(invalid_api_key), neither accepted nor ignored"),
    HDR("bearer_trailing_ows", "whitespace",
        "Authorization: Bearer {V}  \t\r\n", OK2XX, "RFC 9110 §5.5",
        "trailing OWS (SP, HTAB) is not part of a field value"),
    HDR("x_api_key_surrounding_ows", "whitespace", "X-API-Key: \t {V} \t\r\n",
        OK2XX, "RFC 9110 §5.5",
        "leading and trailing OWS is not part of a field value"),
    HDR("bearer_comma", "whitespace", "Authorization: Bearer,{V}\r\n", INVALID,
        "RFC 9110 §11.4",
        "a byte other than SP right after Bearer makes the value malformed"),
    HDR("bearer_two_tokens", "whitespace", "Authorization: Bearer {V} x\r\n",
        INVALID, "RFC 6750 §2.1",
        "one token68 only: a second word makes the value malformed, never "
        "the first word accepted"),
    HDR("x_api_key_inner_space", "whitespace", "X-API-Key: {V} x\r\n", INVALID,
        NULL, "an X-API-Key that is not one token68 is malformed"),
    HDR("x_api_key_control_char", "whitespace", "X-API-Key: {V}\x01\r\n",
        INVALID, "RFC 9110 §5.5",
        "a control byte in a key value is malformed, never stripped"),

    /* ---- empty credentials --------------------------------------------- */
    HDR("bearer_empty", "empty", "Authorization: Bearer\r\n", MISSING,
        "RFC 6750 §3.1", "Bearer with no token counts as no key"),
    HDR("bearer_spaces_only", "empty", "Authorization: Bearer   \r\n", MISSING,
        "RFC 9110 §5.5", "Bearer followed only by spaces counts as no key"),
    HDR("x_api_key_empty", "empty", "X-API-Key:\r\n", MISSING, NULL,
        "an empty X-API-Key counts as no key"),
    HDR("bearer_empty_plus_x_api_key", "empty", "Authorization: Bearer\r\n" XK,
        OK2XX, NULL,
        "an empty Bearer is no key, so the X-API-Key is the one key sent"),
    HDR("x_api_key_empty_plus_bearer", "empty",
        "X-API-Key:\r\nAuthorization: Bearer {V}\r\n", OK2XX, NULL,
        "an empty X-API-Key is no key, so the Bearer token is the one key"),

    /* ---- wrong keys ------------------------------------------------------ */
    HDR("unknown_key_bearer", "key", "Authorization: Bearer {U}\r\n", INVALID,
        "RFC 6750 §3.1",
        "a well-formed key never issued: 401 invalid_api_key, "
        "error=\"invalid_token\""),
    HDR("unknown_key_x_api_key", "key", "X-API-Key: {U}\r\n", INVALID, NULL,
        "a well-formed key never issued, in X-API-Key: invalid_api_key"),
    HDR("bad_checksum", "key", "X-API-Key: {C}\r\n", INVALID, NULL,
        "a mistyped key (checksum wrong) is refused before any lookup"),
    HDR("truncated_key", "key", "Authorization: Bearer {T}\r\n", INVALID, NULL,
        "a truncated key is invalid_api_key, not missing_api_key"),
    HDR("malformed_character", "key", "X-API-Key: {M}\r\n", INVALID, NULL,
        "a key with a byte outside token68 is malformed: invalid_api_key"),
    HDR("wrong_prefix", "key", "Authorization: Bearer {W}\r\n", INVALID, NULL,
        "a key of another environment (sk_test_ at a sk_live_ API) is "
        "invalid"),
    {.name = "expired_bearer",
     .group = "key",
     .fields = "Authorization: Bearer {E}\r\n",
     .status = 401,
     .code = "expired_api_key",
     .needs = KGL_PROBE_NEEDS_EXPIRED,
     .rfc = "RFC 6750 §3.1",
     .rationale = "an expired or deactivated key: 401 expired_api_key with "
                  "error=\"invalid_token\" and an error_description"},
    {.name = "expired_x_api_key",
     .group = "key",
     .fields = "X-API-Key: {E}\r\n",
     .status = 401,
     .code = "expired_api_key",
     .needs = KGL_PROBE_NEEDS_EXPIRED,
     .rationale = "the expired key in X-API-Key: expired_api_key too"},

    /* ---- two keys, two lines --------------------------------------------- */
    HDR("both_headers_same_key", "ambiguity",
        "Authorization: Bearer {V}\r\n" XK, OK2XX, NULL,
        "both headers holding the same key is one key: accepted"),
    HDR("both_headers_different_keys", "ambiguity",
        "Authorization: Bearer {V}\r\nX-API-Key: {U}\r\n", AMBIGUOUS, NULL,
        "two different keys: refuse (400 ambiguous_api_key), never pick one"),
    HDR("duplicate_authorization_same", "ambiguity",
        "Authorization: Bearer {V}\r\nAuthorization: Bearer {V}\r\n", AMBIGUOUS,
        "RFC 9110 §5.3",
        "Authorization on two lines is ambiguous even when they are equal "
        "(it is not a list field: lines cannot be combined)"),
    HDR("duplicate_authorization_different", "ambiguity",
        "Authorization: Bearer {V}\r\nAuthorization: Bearer {U}\r\n", AMBIGUOUS,
        "RFC 9110 §5.3",
        "two Authorization lines with different keys: refuse, never take the "
        "first or the last"),
    HDR("duplicate_x_api_key_same", "ambiguity", XK XK, AMBIGUOUS,
        "RFC 9110 §5.3",
        "X-API-Key on two lines is ambiguous, even with the same key"),
    HDR("duplicate_x_api_key_different", "ambiguity", XK "X-API-Key: {U}\r\n",
        AMBIGUOUS, "RFC 9110 §5.3",
        "two X-API-Key lines with different keys: refuse, never take one"),
    {.name = "x_api_key_underscore",
     .group = "ambiguity",
     .fields = "X_API_Key: {V}\r\n",
     .status = 401,
     .code = "missing_api_key",
     .alt_status = 400,
     .rfc = "RFC 9110 §5.1",
     .rationale =
         "X_API_Key is another field name (_ is a token character): it must "
         "not "
         "authenticate, as a CGI-style _/- mapping would let it; 401 "
         "missing_api_key, or a 400 in the error shape refusing the name"},

    /* ---- keys in the URL ------------------------------------------------- */
    QRY("query_api_key", "api_key={U}", XK, IN_QUERY, "RFC 6750 §2.3",
        "a key in the query (api_key=) is refused even with a valid header "
        "key: the URL is already in someone's logs"),
    QRY("query_apikey", "apikey={U}", XK, IN_QUERY, "RFC 6750 §2.3",
        "the key under apikey= is refused"),
    QRY("query_key", "key={U}", XK, IN_QUERY, "RFC 6750 §2.3",
        "the key under key= is refused"),
    QRY("query_access_token", "access_token={U}", XK, IN_QUERY, "RFC 6750 §2.3",
        "access_token= is RFC 6750's URI query parameter: refused"),
    QRY("query_token", "token={U}", XK, IN_QUERY, "RFC 6750 §2.3",
        "the key under token= is refused"),
    QRY("query_name_any_case", "API_KEY={U}", XK, IN_QUERY, NULL,
        "parameter names are compared case-insensitively: API_KEY= is "
        "refused"),
    QRY("query_key_as_name", "{U}=1", XK, IN_QUERY, NULL,
        "a key used as a parameter name is in the URL all the same"),
    QRY("query_key_without_equals", "{U}", XK, IN_QUERY, NULL,
        "a parameter without '=' is read as a value: the key prefix refuses "
        "it"),
    QRY("query_other_name", "q={U}", XK, IN_QUERY, NULL,
        "any parameter whose value starts with the key prefix is refused"),
    QRY("query_percent_encoded", "q={U%}", XK, IN_QUERY, "RFC 3986 §2.1",
        "the prefix percent-encoded (sk%5Flive%5F) is the prefix once "
        "decoded"),
    QRY("query_double_encoded", "q={U%%}", XK, IN_QUERY, "RFC 3986 §2.4",
        "%2573k_live_ hides an escape behind %25: decoded twice it is the "
        "prefix (docs/contract.md §2)"),
    QRY("query_mid_value", "q=id-{U}", XK, IN_QUERY, NULL,
        "the key prefix anywhere in the request-target, mid-value included, "
        "is refused (docs/contract.md §2)"),
    QRY("query_after_semicolon", "q=1;{U}", XK, IN_QUERY, NULL,
        "a key after ';' in the query is in the URL (docs/contract.md §2)"),
    QRY("query_only", "api_key={U}", "", IN_QUERY, NULL,
        "a key in the query and none in a header: api_key_in_query comes "
        "before missing_api_key (docs/contract.md §2: precedence)"),
    PTH("path_segment", "/{U}", XK, IN_QUERY, "RFC 3986 §3.3",
        "a key in the path is in the URL: refused (docs/contract.md §2)"),
    PTH("path_parameter", ";{U}", XK, IN_QUERY, "RFC 3986 §3.3",
        "a key in a path parameter after ';' is refused (docs/contract.md §2)"),
    QRY("query_empty_token_allowed", "token=", XK, OK2XX, NULL,
        "an empty token= carries no key: the request is not refused"),
    QRY("query_unrelated_allowed", "q=key", XK, OK2XX, NULL,
        "the word key as a value of another parameter is not a key"),

    /* ---- over every answer ----------------------------------------------- */
    {.name = "request_id_unique",
     .group = "summary",
     .kind = KGL_PROBE_SUMMARY,
     .rationale =
         "request_id is unique per request: no two answers of the run share an "
         "X-Request-Id"},
    {.name = "no_key_echo",
     .group = "summary",
     .kind = KGL_PROBE_SUMMARY,
     .rationale =
         "no answer holds a presented key or any 8-character piece of its "
         "secret part, in its head or its body (at most prefix and last four)"},
};

_Static_assert(sizeof CASES / sizeof CASES[0] <= KGL_PROBE_CASES_MAX,
               "KGL_PROBE_CASES_MAX holds the table");

const kgl_probe_case *kgl_probe_cases(size_t *n) {
  *n = sizeof CASES / sizeof CASES[0];
  return CASES;
}

const kgl_probe_case *kgl_probe_find(const char *s, size_t len) {
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
    if (strlen(CASES[i].name) == len && memcmp(CASES[i].name, s, len) == 0) {
      return &CASES[i];
    }
  }
  return NULL;
}

static void one_expectation(int status, const char *code, char *out,
                            size_t cap) {
  if (status == 0) {
    snprintf(out, cap, "2xx");
  } else if (code == NULL) {
    snprintf(out, cap, "%d", status);
  } else {
    snprintf(out, cap, "%d %s", status, code);
  }
}

const char *kgl_probe_expected(const kgl_probe_case *c, char *out, size_t cap) {
  if (cap == 0) {
    return out;
  }
  if (c->kind == KGL_PROBE_SUMMARY) {
    snprintf(out, cap, "%s",
             strcmp(c->name, "no_key_echo") == 0 ? "no key in any answer"
                                                 : "unique X-Request-Id");
    return out;
  }
  one_expectation(c->status, c->code, out, cap);
  if (c->alt_status != 0) {
    char alt[64];
    one_expectation(c->alt_status, c->alt_code, alt, sizeof alt);
    const size_t used = strlen(out);
    snprintf(out + used, cap - used, " | %s", alt);
  }
  return out;
}

const char *kgl_probe_verdict_name(kgl_probe_verdict v) {
  switch (v) {
  case KGL_PROBE_PASS:
    return "pass";
  case KGL_PROBE_DEVIATION:
    return "deviation";
  case KGL_PROBE_SKIPPED:
    return "skipped";
  default:
    return "unknown";
  }
}

/* ====================================================================== */
/* Keys                                                                   */
/* ====================================================================== */

static int given_key(const kgl_probe_keys *k, const char *what, const char *s,
                     size_t n, char *why, size_t whycap) {
  if (n < KG_KEY_PREFIX_MIN_LEN || n > KG_KEY_MAX_LEN) {
    snprintf(why, whycap, "the %s key is %zu bytes long; a key is %d to %d",
             what, n, KG_KEY_PREFIX_MIN_LEN, KG_KEY_MAX_LEN);
    return -1;
  }
  if (!kgl_token68(s, n)) {
    snprintf(why, whycap,
             "the %s key holds a byte a key cannot hold (token68: letters, "
             "digits, -._~+/ and trailing =); check for quotes or spaces",
             what);
    return -1;
  }
  if (memcmp(s, k->policy.prefix, k->policy.prefix_len) != 0) {
    snprintf(why, whycap,
             "the %s key does not start with the prefix %s; give the "
             "issuer's prefix with --prefix",
             what, k->policy.prefix);
    return -1;
  }
  return 0;
}

static void hex2(unsigned char c, char *out) {
  static const char HEX[] = "0123456789ABCDEF";
  out[0] = HEX[c >> 4];
  out[1] = HEX[c & 15];
}

/* base64 of (in, n) without padding, in alphabet ab, into out (room for
 * 4 * ceil(n / 3) + 1). Returns the length. */
static size_t b64(const char *ab, const unsigned char *in, size_t n,
                  char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    const unsigned v = (unsigned)in[i] << 16 |
                       (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                       (i + 2 < n ? (unsigned)in[i + 2] : 0);
    out[o++] = ab[v >> 18 & 63];
    out[o++] = ab[v >> 12 & 63];
    if (i + 1 < n) {
      out[o++] = ab[v >> 6 & 63];
    }
    if (i + 2 < n) {
      out[o++] = ab[v & 63];
    }
  }
  out[o] = '\0';
  return o;
}

static void make_b64(kgl_probe_b64 *e, const char *key, size_t klen) {
  static const char *const AB[2] = {
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"};
  for (size_t a = 0; a < 3; a++) {
    const size_t n = klen > a ? klen - a : 0;
    for (size_t ab = 0; ab < 2; ab++) {
      e->len[a] = b64(AB[ab], (const unsigned char *)key + a, n, e->s[ab][a]);
    }
  }
}

/* The unknown key's variants (docs of kgl_probe_case). */
static void make_variants(kgl_probe_keys *k) {
  const size_t plen = k->policy.prefix_len, n = k->unknown_len;
  const char *u = k->unknown;

  memcpy(k->bad_checksum, u, n + 1);
  k->bad_checksum[n - 1] = u[n - 1] == '0' ? '1' : '0';

  memcpy(k->truncated, u, n - KG_KEY_CHECKSUM_CHARS);
  k->truncated[n - KG_KEY_CHECKSUM_CHARS] = '\0';

  memcpy(k->malformed, u, n + 1);
  k->malformed[plen + KG_KEY_RANDOM_CHARS / 2] = '@';

  /* another environment's prefix: live <-> test, else a changed first
   * letter */
  char wp[KG_KEY_PREFIX_MAX + 1];
  memcpy(wp, k->policy.prefix, plen + 1);
  char *env = strstr(wp, "live");
  if (env == NULL) {
    env = strstr(wp, "test");
    if (env != NULL) {
      memcpy(env, "live", 4);
    } else {
      wp[0] = wp[0] == 'x' ? 'y' : 'x';
    }
  } else {
    memcpy(env, "test", 4);
  }
  snprintf(k->wrong_prefix, sizeof k->wrong_prefix, "%s%s", wp, u + plen);

  /* the prefix percent-encoded: its first byte and every non-alphanumeric
   * one (sk_live_ -> %73k%5Flive%5F) */
  size_t o = 0;
  for (size_t i = 0; i < plen; i++) {
    const unsigned char c = (unsigned char)u[i];
    const int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9');
    if (i == 0 || !alnum) {
      k->encoded[o++] = '%';
      hex2(c, k->encoded + o);
      o += 2;
    } else {
      k->encoded[o++] = (char)c;
    }
  }
  snprintf(k->encoded + o, sizeof k->encoded - o, "%s", u + plen);

  /* the first byte's escape hidden behind %25: %2573k_live_... */
  char esc[2];
  hex2((unsigned char)u[0], esc);
  snprintf(k->double_encoded, sizeof k->double_encoded, "%%25%c%c%s", esc[0],
           esc[1], u + 1);
}

int kgl_probe_keys_init(kgl_probe_keys *k, const char *prefix,
                        const char *valid, size_t vlen, const char *expired,
                        size_t elen, char *why, size_t whycap) {
  memset(k, 0, sizeof *k);
  if (kg_key_policy_init(&k->policy, KG_KEY_STRICT, prefix, strlen(prefix)) !=
      KG_OK) {
    snprintf(why, whycap,
             "the prefix must be 1 to %d characters of A-Z a-z 0-9 _ - "
             "(e.g. sk_live_)",
             KG_KEY_PREFIX_MAX);
    return -1;
  }
  if (given_key(k, "valid", valid, vlen, why, whycap) != 0) {
    return -1;
  }
  memcpy(k->valid, valid, vlen);
  k->valid_len = vlen;
  if (elen > 0) {
    if (given_key(k, "expired", expired, elen, why, whycap) != 0) {
      return -1;
    }
    if (elen == vlen && memcmp(expired, valid, vlen) == 0) {
      snprintf(why, whycap,
               "the expired key is the valid key; give a key that is "
               "deactivated or past its expiry");
      return -1;
    }
    memcpy(k->expired, expired, elen);
    k->expired_len = elen;
  }
  if (kg_key_generate(&k->policy, k->unknown, sizeof k->unknown,
                      &k->unknown_len) != KG_OK) {
    snprintf(why, whycap, "cannot make a fresh key (OpenSSL RAND_bytes)");
    return -1;
  }
  make_variants(k);
  make_b64(&k->b64[0], k->valid, k->valid_len);
  make_b64(&k->b64[1], k->expired, k->expired_len);
  make_b64(&k->b64[2], k->unknown, k->unknown_len);
  return 0;
}

int kgl_probe_key_check(const kgl_probe_keys *k, kg_key_kind kind,
                        const char *what, char *why, size_t whycap) {
  const int expired = strcmp(what, "expired") == 0;
  const char *key = expired ? k->expired : k->valid;
  const size_t n = expired ? k->expired_len : k->valid_len;
  kg_key_policy p;
  if (n == 0 || kg_key_policy_init(&p, kind, k->policy.prefix,
                                   k->policy.prefix_len) != KG_OK) {
    return 0; /* no such key given; the prefix was checked already */
  }
  const kg_status st = kg_key_check(&p, key, n);
  if (st == KG_OK) {
    return 0;
  }
  char hint[KG_KEY_HINT_MAX];
  if (kg_key_hint(&p, key, n, hint, sizeof hint) == 0) {
    snprintf(hint, sizeof hint, "****");
  }
  const char *other = kind == KG_KEY_STRICT
                          ? "; for keys of another format give --policy prefix"
                          : "";
  switch (st) {
  case KG_KEY_BAD_CHECKSUM:
    snprintf(
        why, whycap,
        "the %s key %s fails its checksum (docs/contract.md §3: its last %d "
        "characters are the CRC-32 of the rest): mistyped? copy it "
        "again%s",
        what, hint, KG_KEY_CHECKSUM_CHARS, other);
    break;
  case KG_KEY_BAD_LENGTH:
    if (kind == KG_KEY_STRICT) {
      snprintf(why, whycap,
               "the %s key %s is %zu characters; a key under %s is %zu (docs/"
               "contract.md §3): cut short or run on? copy it again%s",
               what, hint, n, p.prefix, kg_key_strict_len(&p), other);
    } else {
      snprintf(why, whycap, "the %s key %s is %zu bytes; a key is %d to %d",
               what, hint, n, KG_KEY_PREFIX_MIN_LEN, KG_KEY_PREFIX_MAX_LEN);
    }
    break;
  case KG_KEY_BAD_CHARACTER:
    snprintf(why, whycap,
             "the %s key %s holds a character a key under %s cannot hold "
             "(%s): mistyped? copy it again%s",
             what, hint, p.prefix,
             kind == KG_KEY_STRICT ? "base62 after the prefix" : "token68",
             other);
    break;
  default:
    snprintf(why, whycap, "the %s key %s is not a key under %s (%s)", what,
             hint, p.prefix, kg_status_str(st));
    break;
  }
  return -1;
}

/* ---- the echo check ----------------------------------------------------- */

/* Does (s, n) hold an 8-byte piece of the secret (key, klen) after
 * prefix plen? */
#define ECHO_PIECE 8
static int holds_piece(const char *s, size_t n, const char *key, size_t klen,
                       size_t plen) {
  if (klen < plen + ECHO_PIECE) {
    return 0;
  }
  for (size_t i = plen; i + ECHO_PIECE <= klen; i++) {
    if (memmem(s, n, key + i, ECHO_PIECE) != NULL) {
      return 1;
    }
  }
  return 0;
}

/* Does (s, n) hold the base64 of two consecutive whole groups of the
 * secret (bytes plen on) of the key e was made from (klen bytes)? */
static int holds_b64(const char *s, size_t n, const kgl_probe_b64 *e,
                     size_t klen, size_t plen) {
  for (size_t a = 0; a < 3; a++) {
    /* group g holds key bytes a + 3g .. a + 3g + 2 */
    for (size_t g = 0; a + 3 * g + 6 <= klen; g++) {
      if (a + 3 * g < plen) {
        continue;
      }
      for (size_t ab = 0; ab < 2; ab++) {
        if (memmem(s, n, e->s[ab][a] + 4 * g, 8) != NULL) {
          return 1;
        }
      }
    }
  }
  return 0;
}

#define KEY_VALID 1u
#define KEY_EXPIRED 2u
#define KEY_UNKNOWN 4u

/* A piece of one of the keys `which` names, as it is or in base64. */
static int holds_key(const kgl_probe_keys *k, unsigned which, const char *s,
                     size_t n) {
  const char *key[3] = {k->valid, k->expired, k->unknown};
  const size_t len[3] = {k->valid_len, k->expired_len, k->unknown_len};
  const size_t plen = k->policy.prefix_len;
  for (size_t i = 0; i < 3; i++) {
    if ((which & (1u << i)) && len[i] > 0 &&
        (holds_piece(s, n, key[i], len[i], plen) ||
         holds_b64(s, n, &k->b64[i], len[i], plen))) {
      return 1;
    }
  }
  return 0;
}

/* (in, n) with JSON's escapes of ASCII bytes decoded (json_escape), into
 * out (n bytes). Returns the length. */
static size_t json_decode(const char *in, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    size_t len = 0;
    const int v = json_escape(in, n, i, &len);
    if (v >= 0) {
      out[o++] = (char)v;
      i += len;
    } else {
      out[o++] = in[i++];
    }
  }
  return o;
}

/* holds_key on (s, n) and on its percent- and JSON-decoded forms. */
static int holds_key_any_form(const kgl_probe_keys *k, unsigned which,
                              const char *s, size_t n) {
  if (holds_key(k, which, s, n)) {
    return 1;
  }
  const int pct = memchr(s, '%', n) != NULL;
  const int esc = memchr(s, '\\', n) != NULL;
  if (!pct && !esc) {
    return 0;
  }
  char *a = malloc(n + 1), *b = malloc(n + 1);
  int hit = a == NULL || b == NULL;
  if (!hit && pct) {
    /* decoded level by level, as load's masks look (KGL_DECODE_LEVELS;
     * it was three here, eight there): %2573 is %73 is s */
    memcpy(a, s, n);
    size_t len = n;
    int changed = 1;
    for (int level = 0; level < KGL_DECODE_LEVELS && changed; level++) {
      len = pct_decode_once(a, len, &changed);
    }
    hit = holds_key(k, which, a, len);
  }
  if (!hit && esc) {
    hit = holds_key(k, which, b, json_decode(s, n, b));
  }
  if (a != NULL) {
    OPENSSL_cleanse(a, n + 1);
  }
  if (b != NULL) {
    OPENSSL_cleanse(b, n + 1);
  }
  free(a);
  free(b);
  return hit;
}

int kgl_probe_echo(const kgl_probe_keys *k, const char *s, size_t n) {
  return holds_key_any_form(k, KEY_VALID | KEY_EXPIRED | KEY_UNKNOWN, s, n);
}

static const char *show(const kgl_probe_keys *k, unsigned which, const char *in,
                        size_t n, char *out, size_t cap) {
  if (cap == 0) {
    return out;
  }
  const size_t len = kgl_redact(in, n, k->policy.prefix, out, cap);
  if (holds_key_any_form(k, which, out, len)) {
    snprintf(out, cap, "(hidden: it would show part of a key)");
  }
  return out;
}

const char *kgl_probe_show(const kgl_probe_keys *k, const char *in, size_t n,
                           char *out, size_t cap) {
  return show(k, KEY_VALID | KEY_EXPIRED, in, n, out, cap);
}

const char *kgl_probe_show_answer(const kgl_probe_keys *k, const char *in,
                                  size_t n, char *out, size_t cap) {
  return show(k, KEY_VALID | KEY_EXPIRED | KEY_UNKNOWN, in, n, out, cap);
}

/* ====================================================================== */
/* One request                                                            */
/* ====================================================================== */

typedef struct sink {
  char *p;
  size_t cap, len;
  int full;
} sink;

static void put(sink *s, const char *b, size_t n) {
  if (s->full || n > s->cap - s->len) {
    s->full = 1;
    return;
  }
  memcpy(s->p + s->len, b, n);
  s->len += n;
}

static void puts_(sink *s, const char *b) {
  put(s, b, strlen(b));
}

/* The key a placeholder names, or NULL. */
static const char *placeholder(const kgl_probe_keys *k, const char *name,
                               size_t n) {
  static const struct {
    const char *name;
    size_t off;
  } P[] = {
      {"V", offsetof(kgl_probe_keys, valid)},
      {"E", offsetof(kgl_probe_keys, expired)},
      {"U", offsetof(kgl_probe_keys, unknown)},
      {"C", offsetof(kgl_probe_keys, bad_checksum)},
      {"T", offsetof(kgl_probe_keys, truncated)},
      {"M", offsetof(kgl_probe_keys, malformed)},
      {"W", offsetof(kgl_probe_keys, wrong_prefix)},
      {"U%", offsetof(kgl_probe_keys, encoded)},
      {"U%%", offsetof(kgl_probe_keys, double_encoded)},
  };
  for (size_t i = 0; i < sizeof P / sizeof P[0]; i++) {
    if (strlen(P[i].name) == n && memcmp(P[i].name, name, n) == 0) {
      return (const char *)k + P[i].off;
    }
  }
  return NULL;
}

/* Expand tpl into s; -1 on an unknown or unclosed placeholder, or {E}
 * without an expired key. */
static int expand(sink *s, const char *tpl, const kgl_probe_keys *k) {
  for (const char *p = tpl; *p != '\0';) {
    if (*p != '{') {
      const size_t run = strcspn(p, "{");
      put(s, p, run);
      p += run;
      continue;
    }
    const char *close = strchr(p, '}');
    if (close == NULL) {
      return -1;
    }
    const char *key = placeholder(k, p + 1, (size_t)(close - p - 1));
    if (key == NULL || key[0] == '\0') {
      return -1;
    }
    puts_(s, key);
    p = close + 1;
  }
  return 0;
}

size_t kgl_probe_request(const kgl_probe_case *c, const kgl_probe_keys *k,
                         const char *authority, const char *target, char *out,
                         size_t cap) {
  if (c->kind != KGL_PROBE_REQUEST || target[0] == '\0') {
    return 0;
  }
  sink s = {out, cap, 0, 0};
  puts_(&s, "GET ");
  const char *q = strchr(target, '?');
  int bad = 0;
  switch (c->target) {
  case KGL_PROBE_TARGET_QUERY: {
    puts_(&s, target);
    const char last = target[strlen(target) - 1];
    if (q == NULL) {
      puts_(&s, "?");
    } else if (last != '?' && last != '&') {
      puts_(&s, "&");
    }
    bad = c->extra == NULL || expand(&s, c->extra, k) != 0;
    break;
  }
  case KGL_PROBE_TARGET_PATH: {
    const size_t plen = q != NULL ? (size_t)(q - target) : strlen(target);
    const char *extra = c->extra != NULL ? c->extra : "";
    put(&s, target, plen);
    if (plen > 0 && target[plen - 1] == '/' && extra[0] == '/') {
      extra++; /* "/api/" + "/x": one slash */
    }
    bad = c->extra == NULL || expand(&s, extra, k) != 0;
    if (q != NULL) {
      puts_(&s, q);
    }
    break;
  }
  case KGL_PROBE_TARGET_URL:
  default:
    puts_(&s, target);
    break;
  }
  puts_(&s, " HTTP/1.1\r\nHost: ");
  puts_(&s, authority);
  puts_(&s, "\r\n");
  bad |= c->fields == NULL || expand(&s, c->fields, k) != 0;
  puts_(&s, "User-Agent: keygate-probe\r\nAccept: application/json\r\n"
            "Connection: close\r\n\r\n");
  return bad || s.full ? 0 : s.len;
}

/* ====================================================================== */
/* Judging one answer                                                     */
/* ====================================================================== */

/* Add one deviation to o's notes ("; "-separated, cut to fit). */
static void note(kgl_probe_outcome *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(kgl_probe_outcome *o, const char *fmt, ...) {
  const size_t used = strlen(o->notes);
  if (used + 3 >= sizeof o->notes) {
    return;
  }
  char one[256];
  va_list ap;
  va_start(ap, fmt);
  // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
  vsnprintf(one, sizeof one, fmt, ap);
  va_end(ap);
  snprintf(o->notes + used, sizeof o->notes - used, "%s%s",
           used > 0 ? "; " : "", one);
}

/* The end of the line at raw[i] (its LF), or n when it has none. */
static size_t line_end(const char *raw, size_t n, size_t i) {
  const char *lf = memchr(raw + i, '\n', n - i);
  return lf != NULL ? (size_t)(lf - raw) : n;
}

/* The final (non-1xx) response head in raw: its span, without the empty
 * line, and where its body starts. 0, or -1 when raw holds none. Heads
 * are split into lines as kgl_h1 splits them (load/src/h1.c, parse_head;
 * the judge sees only answers it parsed): a line ends at LF, a CR before
 * it dropped, so "\n", "\r\n" or a mix of them end field lines, and the
 * head ends at the first line that is empty ("\n" or "\r\n"), not at the
 * first "\r\n\r\n" or "\n\n" in the bytes (a field line ending in LF
 * then "\r\n" is neither: searching for them ran into the body). */
static int final_head(const char *raw, size_t n, const char **head,
                      size_t *hlen, size_t *body) {
  size_t off = 0;
  while (off < n) {
    size_t i = line_end(raw, n, off); /* the status line */
    if (i >= n) {
      return -1;
    }
    for (i++;;) {
      if (i >= n) {
        return -1;
      }
      const size_t sep = raw[i] == '\n' ? 1
                         : raw[i] == '\r' && i + 1 < n && raw[i + 1] == '\n'
                             ? 2
                             : 0;
      if (sep > 0) {
        const int interim = i - off > 12 && raw[off + 9] == '1';
        if (!interim) {
          *head = raw + off;
          *hlen = i - off;
          *body = i + sep;
          return 0;
        }
        off = i + sep;
        break;
      }
      i = line_end(raw, n, i);
      if (i >= n) {
        return -1;
      }
      i++;
    }
  }
  return -1;
}

/* The notes for the mismatch bits of an error answer whose status was the
 * expected one. */
/* SPEC §1.4's body is "byte for byte in this shape": one member "error"
 * holding code, message and request_id, nothing else (kgl_verify, lenient
 * for the load generator, ignores other members). The first other member,
 * in `out` (masked), or "" when there is none. Order is not checked: JSON
 * objects are unordered (RFC 8259 §4). Fails closed: a body kgl_verify read
 * that this second, strict read refuses (a duplicate member at any depth, a
 * \u0000 in a member's name, nesting deeper than jansson reads) cannot be
 * shown to hold nothing more, so its reason is the deviation, in `why`. */
static void extra_member(const kgl_probe_keys *k, const kgl_response *r,
                         char *out, size_t cap, char *why, size_t why_cap) {
  out[0] = '\0';
  why[0] = '\0';
  if (r->body == NULL || r->body_truncated) {
    return;
  }
  json_error_t err;
  json_t *doc = json_loadb(r->body, r->body_len,
                           JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
  if (doc == NULL) {
    /* jansson's own text quotes the body: not shown (a key may be in it) */
    const enum json_error_code ec = json_error_code(&err);
    snprintf(why, why_cap, "%s",
             ec == json_error_duplicate_key ? "a duplicate member"
             : ec == json_error_null_byte_in_key
                 ? "a \\u0000 in a member's name"
             : ec == json_error_stack_overflow ? "nesting too deep"
                                               : "not strict JSON");
    return;
  }
  if (!json_is_object(doc)) {
    json_decref(doc);
    return;
  }
  static const char *const INNER[] = {"code", "message", "request_id"};
  const char *key;
  json_t *v;
  json_object_foreach(doc, key, v) {
    if (strcmp(key, "error") != 0) {
      kgl_probe_show_answer(k, key, strlen(key), out, cap);
      break;
    }
    const char *ik;
    json_t *iv;
    json_object_foreach(v, ik, iv) {
      int known = 0;
      for (size_t i = 0; i < sizeof INNER / sizeof INNER[0]; i++) {
        known |= strcmp(ik, INNER[i]) == 0;
      }
      if (!known && out[0] == '\0') {
        char m[96];
        kgl_probe_show_answer(k, ik, strlen(ik), m, sizeof m);
        snprintf(out, cap, "error.%s", m);
      }
    }
  }
  json_decref(doc);
}

static void shape_notes(kgl_probe_outcome *o, const kgl_probe_keys *k,
                        unsigned mm, const kgl_response *r, const char *want) {
  char v[160];
  if (mm & KGL_MM_CODE) {
    note(o, "error.code is not %s", want != NULL ? want : "the code");
  }
  if (mm & KGL_MM_BODY) {
    note(o, "body is not {\"error\":{\"code\",\"message\",\"request_id\"}} "
            "JSON");
  } else {
    char extra[128];
    char why[64];
    extra_member(k, r, extra, sizeof extra, why, sizeof why);
    if (why[0] != '\0') {
      note(o,
           "the body cannot be read strictly (%s): not shown to be "
           "{\"error\":{\"code\",\"message\",\"request_id\"}} (§1.4: "
           "this shape)",
           why);
    } else if (extra[0] != '\0') {
      note(o,
           "the body has a member %s beyond "
           "{\"error\":{\"code\",\"message\",\"request_id\"}} (§1.4: this "
           "shape)",
           extra);
    }
  }
  if (mm & KGL_MM_CONTENT_TYPE) {
    if (r->content_type_count == 0) {
      note(o, "no Content-Type");
    } else {
      note(o, "Content-Type %s, want application/json",
           kgl_probe_show_answer(k, r->content_type, r->content_type_len, v,
                                 64));
    }
  }
  if (mm & KGL_MM_WWW_AUTH) {
    if (r->www_authenticate_count == 0) {
      note(o, "no WWW-Authenticate");
    } else {
      note(o, "WWW-Authenticate %s is not the §1.4 Bearer challenge",
           kgl_probe_show_answer(k, r->www_authenticate,
                                 r->www_authenticate_len, v, sizeof v));
    }
  }
  if (mm & KGL_MM_REQUEST_ID) {
    if (r->request_id_count == 0) {
      note(o, "no X-Request-Id");
    } else if (r->request_id_count > 1) {
      note(o, "X-Request-Id on more than one line");
    } else if (!kgl_request_id_ok(r->request_id, r->request_id_len)) {
      note(o, "X-Request-Id %s is not req_ + 24 base62",
           kgl_probe_show_answer(k, r->request_id, r->request_id_len, v, 64));
    } else {
      note(o, "X-Request-Id differs from the body's request_id");
    }
  }
}

/* The mismatch bits of r against (status, code) of c. */
static unsigned check(int status, const char *code, const kgl_response *r) {
  kgl_expect e;
  memset(&e, 0, sizeof e);
  e.status = status;
  if (status != 0) {
    e.contract = 1;
    snprintf(e.code, sizeof e.code, "%s", code != NULL ? code : "");
  }
  return kgl_verify(&e, r, NULL, NULL);
}

/* ---- §1.4's challenge, to the letter ------------------------------------ */

/* The Bearer challenge's params as written (values raw: token or
 * quoted-string). */
typedef struct bearer_params {
  const char *realm, *error, *desc;
  size_t realm_len, error_len, desc_len;
} bearer_params;

static size_t skip_ws(const char *s, size_t n, size_t i) {
  while (i < n && (s[i] == ' ' || s[i] == '\t')) {
    i++;
  }
  return i;
}

static size_t token_end(const char *s, size_t n, size_t i) {
  while (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != '=' && s[i] != ',' &&
         s[i] != '"') {
    i++;
  }
  return i;
}

/* The end of one element of the list (a ',' outside a quoted-string, or
 * n). */
static size_t element_end(const char *s, size_t n, size_t i) {
  int quoted = 0;
  for (; i < n; i++) {
    if (quoted && s[i] == '\\' && i + 1 < n) {
      i++;
    } else if (s[i] == '"') {
      quoted = !quoted;
    } else if (!quoted && s[i] == ',') {
      break;
    }
  }
  return i;
}

/* One auth-param "name BWS = BWS value" at s[i..e) of the Bearer
 * challenge. */
static void bearer_param(bearer_params *b, const char *s, size_t i, size_t e) {
  const size_t ne = token_end(s, e, i);
  size_t v = skip_ws(s, e, ne);
  if (v >= e || s[v] != '=') {
    return;
  }
  v = skip_ws(s, e, v + 1);
  size_t ve = e;
  while (ve > v && (s[ve - 1] == ' ' || s[ve - 1] == '\t')) {
    ve--;
  }
  const char *name = s + i, *val = s + v;
  const size_t nl = ne - i, vl = ve - v;
  if (ci_eq(name, nl, "realm") && b->realm == NULL) {
    b->realm = val;
    b->realm_len = vl;
  } else if (ci_eq(name, nl, "error") && b->error == NULL) {
    b->error = val;
    b->error_len = vl;
  } else if (ci_eq(name, nl, "error_description") && b->desc == NULL) {
    b->desc = val;
    b->desc_len = vl;
  }
}

/* The Bearer challenge's params in (s, n), a #challenge list kgl_verify
 * already parsed (RFC 9110 §11.6.1): an element that opens with a token
 * and no '=' starts a challenge, the others are params of the challenge
 * before them. */
static void bearer_scan(const char *s, size_t n, bearer_params *b) {
  memset(b, 0, sizeof *b);
  int bearer = 0;
  for (size_t i = 0; i < n;) {
    const size_t e = element_end(s, n, i);
    const size_t t = skip_ws(s, e, i);
    const size_t te = token_end(s, e, t);
    const size_t after = skip_ws(s, e, te);
    if (te > t && (after >= e || s[after] != '=')) {
      bearer = ci_eq(s + t, te - t, "bearer");
      if (bearer && after < e) {
        bearer_param(b, s, after, e);
      }
    } else if (bearer && te > t) {
      bearer_param(b, s, t, e);
    }
    i = e + 1;
  }
}

static int quoted(const char *v, size_t n) {
  return n >= 2 && v[0] == '"' && v[n - 1] == '"';
}

/*
 * challenge_notes — what the probe checks of a 401's WWW-Authenticate
 * beyond kgl_verify (which the load generator keeps lenient: RFC 6750
 * allows a token where §1.4 writes a quoted-string). SPEC §1.4 writes the
 * challenge as Bearer realm="api"[, error="invalid_token"[,
 * error_description="..."]]: realm a quoted-string (any realm: it is
 * configurable); error exactly "invalid_token", quoted, for an invalid or
 * expired key; error_description present, a quoted-string (any text), for
 * an expired one.
 */
static void challenge_notes(kgl_probe_outcome *o, const kgl_probe_keys *k,
                            const kgl_response *r, const char *want) {
  const char *s = r->www_authenticate;
  const size_t n = r->www_authenticate_len;
  if (s == NULL || want == NULL) {
    return;
  }
  bearer_params b;
  bearer_scan(s, n, &b);
  const int bad_token = strcmp(want, "invalid_api_key") == 0 ||
                        strcmp(want, "expired_api_key") == 0;
  const int expired = strcmp(want, "expired_api_key") == 0;
  const char *why = NULL;
  if (b.realm == NULL || !quoted(b.realm, b.realm_len)) {
    why = "realm is not a quoted-string";
  } else if (bad_token && (b.error == NULL || b.error_len != 15 ||
                           memcmp(b.error, "\"invalid_token\"", 15) != 0)) {
    why = "error is not \"invalid_token\" as a quoted-string";
  } else if (expired && b.desc == NULL) {
    why = "no error_description for an expired key";
  } else if (expired && !quoted(b.desc, b.desc_len)) {
    why = "error_description is not a quoted-string";
  }
  if (why != NULL) {
    char v[160];
    note(o, "WWW-Authenticate %s: %s (§1.4)",
         kgl_probe_show_answer(k, s, n, v, sizeof v), why);
  }
}

/* ---- the echo check over the body --------------------------------------- */

/* raw's body from off as a chunked body without its framing (RFC 9112
 * §7.1: hex size, extensions, CRLF, data, CRLF; 0 ends), into out (room
 * for n - off bytes). Stops where the framing does not fit. Returns the
 * length. */
static size_t dechunk(const char *raw, size_t n, size_t off, char *out) {
  size_t o = 0, i = off;
  while (i < n) {
    size_t size = 0, digits = 0;
    while (i < n && hex_value((unsigned char)raw[i]) >= 0) {
      size =
          size < n ? size * 16 + (size_t)hex_value((unsigned char)raw[i]) : n;
      i++;
      digits++;
    }
    const char *eol = digits > 0 ? memchr(raw + i, '\n', n - i) : NULL;
    if (eol == NULL || size == 0) {
      break;
    }
    i = (size_t)(eol - raw) + 1;
    const size_t take = size < n - i ? size : n - i;
    memcpy(out + o, raw + i, take);
    o += take;
    i += take;
    i += i < n && raw[i] == '\r';
    i += i < n && raw[i] == '\n';
  }
  return o;
}

/* A piece of a key sent in the answer: in the bytes as they came, in the
 * body kgl_h1 kept (de-chunked), and in raw's body de-chunked here (the
 * kept body stops at KGL_H1_BODY_KEEP). */
static int answer_echo(const kgl_probe_keys *k, const char *raw, size_t rawlen,
                       size_t body, const kgl_response *r) {
  if (kgl_probe_echo(k, raw, rawlen) ||
      (r->body != NULL && kgl_probe_echo(k, r->body, r->body_len))) {
    return 1;
  }
  if (body >= rawlen) {
    return 0;
  }
  char *d = malloc(rawlen - body);
  if (d == NULL) {
    return 1;
  }
  const size_t dn = dechunk(raw, rawlen, body, d);
  const int hit = dn > 0 && kgl_probe_echo(k, d, dn);
  OPENSSL_cleanse(d, rawlen - body);
  free(d);
  return hit;
}

void kgl_probe_judge(const kgl_probe_case *c, const kgl_probe_keys *k,
                     const char *raw, size_t rawlen, const kgl_response *r,
                     kgl_probe_outcome *o) {
  memset(o, 0, sizeof *o);
  o->status = r->status;
  char code[KGL_CODE_MAX + 1] = "";
  const char *cs = NULL, *rid = NULL;
  size_t cl = 0, rl = 0;
  if (!r->body_truncated &&
      kgl_json_error(r->body, r->body_len, &cs, &cl, &rid, &rl) == 0 &&
      cs != NULL) {
    kgl_probe_show_answer(k, cs, cl < KGL_CODE_MAX ? cl : KGL_CODE_MAX, code,
                          sizeof code);
  }
  if (code[0] != '\0') {
    snprintf(o->got, sizeof o->got, "%d %s", r->status, code);
  } else {
    snprintf(o->got, sizeof o->got, "%d", r->status);
  }
  /* the request id as it came, or not at all: a withheld one would match
   * every other withheld one in request_id_unique */
  if (r->request_id_count == 1 &&
      kgl_request_id_ok(r->request_id, r->request_id_len)) {
    char v[sizeof o->request_id];
    kgl_probe_show_answer(k, r->request_id, r->request_id_len, v, sizeof v);
    if (strlen(v) == r->request_id_len &&
        memcmp(v, r->request_id, r->request_id_len) == 0) {
      memcpy(o->request_id, v, r->request_id_len + 1);
    }
  }

  /* the first expectation that the answer meets, else the first one's
   * faults */
  unsigned mm = check(c->status, c->code, r);
  int status = c->status;
  const char *want = c->code;
  if (mm != 0 && c->alt_status != 0) {
    const unsigned alt = check(c->alt_status, c->alt_code, r);
    if (alt == 0 || ((alt & KGL_MM_STATUS) == 0 && (mm & KGL_MM_STATUS))) {
      mm = alt;
      status = c->alt_status;
      want = c->alt_code;
    }
  }
  const char *head = NULL;
  size_t hlen = 0, body = rawlen;
  (void)final_head(raw, rawlen, &head, &hlen, &body); /* body: rawlen if none */
  if (mm & KGL_MM_STATUS) {
    char exp[96];
    note(o, "answered %s, want %s", o->got,
         kgl_probe_expected(c, exp, sizeof exp));
  } else if (status != 0) {
    shape_notes(o, k, mm, r, want);
    if (status == 401 && (mm & KGL_MM_WWW_AUTH) == 0) {
      challenge_notes(o, k, r, want);
    }
    if (!r->no_store) { /* kgl_h1's reading: kgl_cache_control_no_store */
      note(o, "no Cache-Control: no-store");
    }
    if (status == 400 && r->www_authenticate_count > 0) {
      note(o, "a 400 with WWW-Authenticate (§1.4: none)");
    }
  }
  /* no piece of any key sent, the throwaway ones included, may come back */
  if (answer_echo(k, raw, rawlen, body, r)) {
    kgl_probe_note_echo(o);
  }
  o->verdict = o->notes[0] != '\0' ? KGL_PROBE_DEVIATION : KGL_PROBE_PASS;
}

void kgl_probe_note_echo(kgl_probe_outcome *o) {
  if (o->echo) {
    return;
  }
  o->echo = 1;
  note(o, "the answer holds a piece of a key sent");
  o->verdict = KGL_PROBE_DEVIATION;
}

void kgl_probe_note_extra(kgl_probe_outcome *o, size_t n) {
  note(o,
       "the server sent %zu byte%s beyond the answer's framing: a protocol "
       "error (RFC 9112 §6.3)",
       n, n == 1 ? "" : "s");
  o->verdict = KGL_PROBE_DEVIATION;
}

size_t kgl_probe_name_list(char *out, size_t cap, const char *lead,
                           const char *const *names, size_t n) {
  if (cap == 0) {
    return 0;
  }
  /* room kept for " and N more" while names may follow: N <= n */
  char tail[40];
  const size_t keep = (size_t)snprintf(tail, sizeof tail, " and %zu more", n);
  size_t used = strlen(lead) < cap ? strlen(lead) : cap - 1;
  memcpy(out, lead, used);
  out[used] = '\0';
  for (size_t i = 0; i < n; i++) {
    const char *sep = i > 0 ? ", " : "";
    const size_t room = i + 1 < n ? keep : 0;
    if (used + strlen(sep) + strlen(names[i]) + room >= cap) {
      const size_t t =
          (size_t)snprintf(tail, sizeof tail, " and %zu more", n - i);
      if (used + t < cap) { /* kept for it, unless cap is below lead + 20 */
        memcpy(out + used, tail, t + 1);
        used += t;
      }
      return used;
    }
    used += (size_t)snprintf(out + used, cap - used, "%s%s", sep, names[i]);
  }
  return used;
}
