/*
 * load/src/verify.c — the per-response verifier of `keygate load`
 * (load/verify.h): expectations, a strict JSON scanner, the SPEC §1.4
 * header checks. The redaction of report text is load/src/redact.c.
 *
 * Everything reads (ptr, len) spans through an index that is checked
 * against the length before every read, allocates nothing, and recurses at
 * most KGL_JSON_MAX_DEPTH levels (the JSON scanner only).
 */
#include "load/verify.h"

#include <stdlib.h>
#include <string.h>

#include "ascii.h"
#include "internal.h"
#include "keygate/response.h"
#include "keygate/status.h"

/* ---------------------------------------------------------------------- */
/* Characters                                                             */
/* ---------------------------------------------------------------------- */

#define NPOS ((size_t)-1) /* "no match" from the index-returning scanners */

/* tchar, RFC 9110 §5.6.2 */
static int is_tchar(unsigned char c) {
  return is_base62(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* OWS, RFC 9110 §5.6.3 */
static int is_ows(unsigned char c) {
  return c == ' ' || c == '\t';
}

static size_t skip_ows(const char *s, size_t n, size_t i) {
  while (i < n && is_ows((unsigned char)s[i])) {
    i++;
  }
  return i;
}

static size_t tchar_run(const char *s, size_t n, size_t i) {
  while (i < n && is_tchar((unsigned char)s[i])) {
    i++;
  }
  return i;
}

/* (s, n) without leading and trailing OWS */
static void trim_ows(const char **s, size_t *n) {
  const char *p = *s;
  size_t len = *n;
  while (len > 0 && is_ows((unsigned char)p[0])) {
    p++;
    len--;
  }
  while (len > 0 && is_ows((unsigned char)p[len - 1])) {
    len--;
  }
  *s = p;
  *n = len;
}

/* ---------------------------------------------------------------------- */
/* Classes and mismatch names                                             */
/* ---------------------------------------------------------------------- */

static const char *const CLASS_NAMES[KGL_NCLASS + 1] = {
    "valid", "invalid", "missing", "expired", "all"};

const char *kgl_class_name(kgl_class c) {
  if ((unsigned)c > (unsigned)KGL_NCLASS) {
    return "unknown";
  }
  return CLASS_NAMES[c];
}

int kgl_class_parse(const char *s, size_t n, kgl_class *out) {
  if (s == NULL) {
    return -1;
  }
  for (int c = 0; c < KGL_NCLASS; c++) {
    if (strlen(CLASS_NAMES[c]) == n && memcmp(CLASS_NAMES[c], s, n) == 0) {
      if (out != NULL) {
        *out = (kgl_class)c;
      }
      return 0;
    }
  }
  return -1;
}

static const char *const MISMATCH_NAMES[KGL_MM_KINDS] = {
    "status",     "code",         "body",          "www_authenticate",
    "request_id", "content_type", "cache_control", "key_echo"};

const char *kgl_mismatch_name(int i) {
  if (i < 0 || i >= KGL_MM_KINDS) {
    return "unknown";
  }
  return MISMATCH_NAMES[i];
}

/* ---------------------------------------------------------------------- */
/* Expectations                                                           */
/* ---------------------------------------------------------------------- */

void kgl_expect_default(kgl_class c, kgl_expect *e) {
  memset(e, 0, sizeof *e);
  kg_status d;
  switch (c) {
  case KGL_VALID:
    return; /* any 2xx, no code, no contract */
  case KGL_INVALID:
    d = KG_INVALID_API_KEY;
    break;
  case KGL_MISSING:
    d = KG_MISSING_API_KEY;
    break;
  case KGL_EXPIRED:
    d = KG_EXPIRED_API_KEY;
    break;
  case KGL_NCLASS:
  default:
    e->status = -1; /* not a class: nothing conforms */
    return;
  }
  const char *code = kg_status_str(d);
  size_t len = strlen(code);
  if (len > KGL_CODE_MAX) {
    len = KGL_CODE_MAX; /* never: the decision codes are short */
  }
  memcpy(e->code, code, len);
  e->code[len] = '\0';
  e->status = kg_http_status(d);
  e->contract = 1;
}

/* Copy reason into why (cut to fit, NUL-terminated) and return -1. */
static int refuse(char *why, size_t whycap, const char *reason) {
  if (why != NULL && whycap > 0) {
    size_t len = strlen(reason);
    if (len > whycap - 1) {
      len = whycap - 1;
    }
    memcpy(why, reason, len);
    why[len] = '\0';
  }
  return -1;
}

static int is_code_char(unsigned char c) {
  return is_base62(c) || c == '_' || c == '.' || c == '-';
}

int kgl_expect_parse(const char *s, size_t n, kgl_class *c, kgl_expect *e,
                     char *why, size_t whycap) {
  if (why != NULL && whycap > 0) {
    why[0] = '\0';
  }
  if (s == NULL) {
    n = 0;
  }
  const char *eq = n > 0 ? memchr(s, '=', n) : NULL;
  if (eq == NULL) {
    return refuse(why, whycap,
                  "missing '=': write CLASS=STATUS[:code], e.g. "
                  "invalid=401:invalid_api_key");
  }
  size_t class_len = (size_t)(eq - s);
  kgl_class cls;
  if (class_len == 0) {
    return refuse(why, whycap,
                  "missing class before '=': use valid, invalid, missing or "
                  "expired");
  }
  if (kgl_class_parse(s, class_len, &cls) != 0) {
    return refuse(why, whycap,
                  "unknown class: use valid, invalid, missing or expired");
  }

  const char *st = eq + 1;
  size_t rest = n - class_len - 1;
  const char *colon = rest > 0 ? memchr(st, ':', rest) : NULL;
  size_t st_len = colon != NULL ? (size_t)(colon - st) : rest;
  int status;
  if (st_len == 0) {
    return refuse(why, whycap, "missing status after '=': use 100..599 or 2xx");
  }
  if (st_len == 3 && memcmp(st, "2xx", 3) == 0) {
    status = 0;
  } else if (st_len >= 3 && is_digit((unsigned char)st[0]) &&
             is_digit((unsigned char)st[1]) && is_digit((unsigned char)st[2])) {
    if (st_len > 3) {
      return refuse(why, whycap,
                    "unexpected characters after the three-digit status (a "
                    "code follows ':')");
    }
    status = (st[0] - '0') * 100 + (st[1] - '0') * 10 + (st[2] - '0');
    if (status < 100 || status > 599) {
      return refuse(why, whycap, "status out of range: use 100..599 or 2xx");
    }
  } else {
    return refuse(why, whycap, "status must be three digits (100..599) or 2xx");
  }

  const char *code = NULL;
  size_t code_len = 0;
  if (colon != NULL) {
    code = colon + 1;
    code_len = rest - st_len - 1;
    if (code_len == 0) {
      return refuse(why, whycap, "empty code after ':'");
    }
    if (code_len > KGL_CODE_MAX) {
      return refuse(why, whycap, "code longer than 64 characters");
    }
    for (size_t i = 0; i < code_len; i++) {
      if (!is_code_char((unsigned char)code[i])) {
        return refuse(why, whycap,
                      "code may hold only A-Z a-z 0-9 _ . - (nothing after "
                      "it)");
      }
    }
  }

  *c = cls;
  memset(e, 0, sizeof *e);
  e->status = status;
  if (code_len > 0) {
    memcpy(e->code, code, code_len);
  }
  e->code[code_len] = '\0';
  /* the contract's own expectation, typed out (invalid=401:invalid_api_key)
   * changes nothing: its checks stay on */
  kgl_expect def;
  kgl_expect_default(cls, &def);
  e->contract =
      def.contract && def.status == e->status && strcmp(def.code, e->code) == 0;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Strict JSON (RFC 8259)                                                 */
/* ---------------------------------------------------------------------- */

/* What the scan found about the top-level "error" member. */
typedef struct json_found {
  int error_members;      /* "error" members of the top-level object */
  int error_object;       /* the "error" member is an object */
  int code_members;       /* "code" members of that object */
  int message_members;    /* "message" members */
  int request_id_members; /* "request_id" members */
  int message_string;     /* message is a string */
  const char *code;       /* raw string span, NULL when not a string */
  size_t code_len;
  const char *request_id; /* raw string span, NULL when not a string */
  size_t request_id_len;
} json_found;

/* Where a scanned object sits: only two objects have members we record. */
typedef enum json_role {
  ROLE_NONE = 0,
  ROLE_TOP = 1,  /* the top-level object */
  ROLE_ERROR = 2 /* the top-level object's "error" member */
} json_role;

typedef struct json_cursor {
  const unsigned char *s;
  size_t n;
  size_t i;
  json_found *f;
} json_cursor;

/* insignificant whitespace, RFC 8259 §2: SP HT LF CR only */
static void json_ws(json_cursor *j) {
  while (j->i < j->n) {
    unsigned char c = j->s[j->i];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      return;
    }
    j->i++;
  }
}

static int json_peek(const json_cursor *j, unsigned char c) {
  return j->i < j->n && j->s[j->i] == c;
}

/* Four hex digits at s[i..i+4) within n into *v; 0, or -1. */
static int hex4(const unsigned char *s, size_t n, size_t i, unsigned *v) {
  if (n < 4 || i > n - 4) {
    return -1;
  }
  unsigned acc = 0;
  for (size_t k = 0; k < 4; k++) {
    int h = hex_value(s[i + k]);
    if (h < 0) {
      return -1;
    }
    acc = acc << 4 | (unsigned)h;
  }
  *v = acc;
  return 0;
}

/*
 * utf8_len — the length of the well-formed UTF-8 sequence at s[0..avail)
 * (avail >= 1, s[0] >= 0x80), or 0. RFC 3629 §4: no overlong forms (C0,
 * C1, E0 80..9F, F0 80..8F), no surrogates (ED A0..BF), nothing above
 * U+10FFFF (F4 90.., F5..FF).
 */
static size_t utf8_len(const unsigned char *s, size_t avail) {
  unsigned char c = s[0];
  size_t len;
  unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) {
      lo = 0xa0;
    } else if (c == 0xed) {
      hi = 0x9f;
    }
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) {
      lo = 0x90;
    } else if (c == 0xf4) {
      hi = 0x8f;
    }
  } else {
    return 0;
  }
  if (avail < len || s[1] < lo || s[1] > hi) {
    return 0;
  }
  for (size_t k = 2; k < len; k++) {
    if (s[k] < 0x80 || s[k] > 0xbf) {
      return 0;
    }
  }
  return len;
}

/*
 * json_string — scan the string at the cursor ('"' there) and set *raw /
 * *raw_len to the bytes between its quotes. RFC 8259 §7: no raw control
 * characters, only the nine escapes; plus UTF-8 validity and paired
 * surrogate escapes.
 */
static int json_string(json_cursor *j, const char **raw, size_t *raw_len) {
  const unsigned char *s = j->s;
  size_t n = j->n;
  size_t i = j->i + 1;
  size_t start = i;
  while (i < n) {
    unsigned char c = s[i];
    if (c == '"') {
      *raw = (const char *)s + start;
      *raw_len = i - start;
      j->i = i + 1;
      return 0;
    }
    if (c < 0x20) {
      return -1;
    }
    if (c >= 0x80) {
      size_t len = utf8_len(s + i, n - i);
      if (len == 0) {
        return -1;
      }
      i += len;
      continue;
    }
    if (c != '\\') {
      i++;
      continue;
    }
    if (++i == n) {
      return -1;
    }
    c = s[i];
    if (c != 'u') {
      if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' &&
          c != 'n' && c != 'r' && c != 't') {
        return -1;
      }
      i++;
      continue;
    }
    unsigned cp;
    if (hex4(s, n, i + 1, &cp) != 0) {
      return -1;
    }
    i += 5;
    if (cp >= 0xdc00 && cp <= 0xdfff) {
      return -1; /* a low surrogate with no high one before it */
    }
    if (cp >= 0xd800 && cp <= 0xdbff) {
      unsigned low;
      if (n - i < 2 || s[i] != '\\' || s[i + 1] != 'u' ||
          hex4(s, n, i + 2, &low) != 0 || low < 0xdc00 || low > 0xdfff) {
        return -1; /* a high surrogate not followed by a low one */
      }
      i += 6;
    }
  }
  return -1; /* unterminated */
}

/* number, RFC 8259 §6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int json_number(json_cursor *j) {
  const unsigned char *s = j->s;
  size_t n = j->n;
  size_t i = j->i;
  if (i < n && s[i] == '-') {
    i++;
  }
  if (i < n && s[i] == '0') {
    i++;
  } else if (i < n && s[i] >= '1' && s[i] <= '9') {
    while (i < n && is_digit(s[i])) {
      i++;
    }
  } else {
    return -1;
  }
  if (i < n && s[i] == '.') {
    size_t d = ++i;
    while (i < n && is_digit(s[i])) {
      i++;
    }
    if (i == d) {
      return -1;
    }
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
      i++;
    }
    size_t d = i;
    while (i < n && is_digit(s[i])) {
      i++;
    }
    if (i == d) {
      return -1;
    }
  }
  j->i = i;
  return 0;
}

static int json_literal(json_cursor *j, const char *lit) {
  size_t len = strlen(lit);
  if (j->n - j->i < len || memcmp(j->s + j->i, lit, len) != 0) {
    return -1;
  }
  j->i += len;
  return 0;
}

static int json_object(json_cursor *j, int depth, json_role role);
static int json_array(json_cursor *j, int depth);

/* json_value — one value at the cursor; depth is that of the container
 * holding it (0 for none). */
static int json_value(json_cursor *j, int depth) {
  if (j->i >= j->n) {
    return -1;
  }
  const char *raw;
  size_t raw_len;
  switch (j->s[j->i]) {
  case '{':
    return json_object(j, depth + 1, ROLE_NONE);
  case '[':
    return json_array(j, depth + 1);
  case '"':
    return json_string(j, &raw, &raw_len);
  case 't':
    return json_literal(j, "true");
  case 'f':
    return json_literal(j, "false");
  case 'n':
    return json_literal(j, "null");
  default:
    return json_number(j);
  }
}

/*
 * json_unescape_next — decode the character of the scanned string body
 * raw[*i..n) into buf as UTF-8 and advance *i. Returns its length (1..4),
 * or 0 on input json_string would refuse (defensive: never after a scan).
 */
static size_t json_unescape_next(const unsigned char *raw, size_t n, size_t *i,
                                 unsigned char buf[4]) {
  size_t k = *i;
  if (raw[k] != '\\') {
    *i = k + 1;
    buf[0] = raw[k];
    return 1;
  }
  if (k + 1 >= n) {
    return 0;
  }
  unsigned char e = raw[k + 1];
  const char *from = "\"\\/bfnrt";
  const char *to = "\"\\/\b\f\n\r\t";
  const char *hit = e != 0 ? strchr(from, e) : NULL;
  if (hit != NULL) {
    buf[0] = (unsigned char)to[hit - from];
    *i = k + 2;
    return 1;
  }
  unsigned cp;
  if (e != 'u' || hex4(raw, n, k + 2, &cp) != 0) {
    return 0;
  }
  k += 6;
  if (cp >= 0xd800 && cp <= 0xdbff) {
    unsigned low;
    if (n - k < 6 || raw[k] != '\\' || raw[k + 1] != 'u' ||
        hex4(raw, n, k + 2, &low) != 0 || low < 0xdc00 || low > 0xdfff) {
      return 0;
    }
    cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    k += 6;
  } else if (cp >= 0xdc00 && cp <= 0xdfff) {
    return 0;
  }
  *i = k;
  if (cp < 0x80) {
    buf[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    buf[0] = (unsigned char)(0xc0 | cp >> 6);
    buf[1] = (unsigned char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    buf[0] = (unsigned char)(0xe0 | cp >> 12);
    buf[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    buf[2] = (unsigned char)(0x80 | (cp & 0x3f));
    return 3;
  }
  buf[0] = (unsigned char)(0xf0 | cp >> 18);
  buf[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
  buf[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
  buf[3] = (unsigned char)(0x80 | (cp & 0x3f));
  return 4;
}

/* The scanned string body (raw, n), unescaped, equals (lit, m) exactly. */
static int json_str_eq(const char *raw, size_t n, const char *lit, size_t m) {
  const unsigned char *r = (const unsigned char *)raw;
  size_t i = 0, k = 0;
  while (i < n) {
    unsigned char buf[4];
    size_t len = json_unescape_next(r, n, &i, buf);
    if (len == 0 || m - k < len || memcmp(lit + k, buf, len) != 0) {
      return 0;
    }
    k += len;
  }
  return k == m;
}

static int json_name_is(const char *raw, size_t n, const char *lit) {
  return json_str_eq(raw, n, lit, strlen(lit));
}

/*
 * json_member_value — the value of member `name` of an object with role
 * `role` at `depth`, recording the members load/verify.h names. A second
 * recorded member is ambiguity: -1.
 */
static int json_member_value(json_cursor *j, int depth, json_role role,
                             const char *name, size_t name_len) {
  json_found *f = j->f;
  if (role == ROLE_TOP && json_name_is(name, name_len, "error")) {
    if (f->error_members++ > 0) {
      return -1;
    }
    if (json_peek(j, '{')) {
      f->error_object = 1;
      return json_object(j, depth + 1, ROLE_ERROR);
    }
    return json_value(j, depth);
  }
  if (role != ROLE_ERROR) {
    return json_value(j, depth);
  }
  const char **span = NULL;
  size_t *span_len = NULL;
  int *count;
  if (json_name_is(name, name_len, "code")) {
    count = &f->code_members;
    span = &f->code;
    span_len = &f->code_len;
  } else if (json_name_is(name, name_len, "request_id")) {
    count = &f->request_id_members;
    span = &f->request_id;
    span_len = &f->request_id_len;
  } else if (json_name_is(name, name_len, "message")) {
    count = &f->message_members;
  } else {
    return json_value(j, depth);
  }
  if ((*count)++ > 0) {
    return -1;
  }
  if (!json_peek(j, '"')) {
    return json_value(j, depth); /* present, not a string: span stays NULL */
  }
  const char *raw;
  size_t raw_len;
  if (json_string(j, &raw, &raw_len) != 0) {
    return -1;
  }
  if (span != NULL) {
    *span = raw;
    *span_len = raw_len;
  } else {
    f->message_string = 1;
  }
  return 0;
}

/* object, RFC 8259 §4; the cursor is on its '{', depth counts it */
static int json_object(json_cursor *j, int depth, json_role role) {
  if (depth > KGL_JSON_MAX_DEPTH) {
    return -1;
  }
  j->i++;
  json_ws(j);
  if (json_peek(j, '}')) {
    j->i++;
    return 0;
  }
  for (;;) {
    const char *name;
    size_t name_len;
    if (!json_peek(j, '"') || json_string(j, &name, &name_len) != 0) {
      return -1;
    }
    json_ws(j);
    if (!json_peek(j, ':')) {
      return -1;
    }
    j->i++;
    json_ws(j);
    if (json_member_value(j, depth, role, name, name_len) != 0) {
      return -1;
    }
    json_ws(j);
    if (json_peek(j, ',')) {
      j->i++;
      json_ws(j);
      continue;
    }
    if (json_peek(j, '}')) {
      j->i++;
      return 0;
    }
    return -1;
  }
}

/* array, RFC 8259 §5; the cursor is on its '[', depth counts it */
static int json_array(json_cursor *j, int depth) {
  if (depth > KGL_JSON_MAX_DEPTH) {
    return -1;
  }
  j->i++;
  json_ws(j);
  if (json_peek(j, ']')) {
    j->i++;
    return 0;
  }
  for (;;) {
    if (json_value(j, depth) != 0) {
      return -1;
    }
    json_ws(j);
    if (json_peek(j, ',')) {
      j->i++;
      json_ws(j);
      continue;
    }
    if (json_peek(j, ']')) {
      j->i++;
      return 0;
    }
    return -1;
  }
}

/* The whole body: ws, one object, ws, end. */
static int json_scan(const char *body, size_t len, json_found *f) {
  memset(f, 0, sizeof *f);
  if (body == NULL || len == 0) {
    return -1;
  }
  json_cursor j = {(const unsigned char *)body, len, 0, f};
  json_ws(&j);
  if (!json_peek(&j, '{') || json_object(&j, 1, ROLE_TOP) != 0) {
    return -1;
  }
  json_ws(&j);
  return j.i == j.n ? 0 : -1;
}

int kgl_json_error(const char *body, size_t len, const char **code,
                   size_t *code_len, const char **request_id,
                   size_t *request_id_len) {
  json_found f;
  int rc = json_scan(body, len, &f);
  if (rc != 0) {
    memset(&f, 0, sizeof f); /* no span from a malformed body */
  }
  if (code != NULL) {
    *code = f.code;
  }
  if (code_len != NULL) {
    *code_len = f.code_len;
  }
  if (request_id != NULL) {
    *request_id = f.request_id;
  }
  if (request_id_len != NULL) {
    *request_id_len = f.request_id_len;
  }
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Request ids                                                            */
/* ---------------------------------------------------------------------- */

int kgl_request_id_ok(const char *s, size_t n) {
  if (s == NULL || n != KG_REQUEST_ID_LEN || memcmp(s, "req_", 4) != 0) {
    return 0;
  }
  for (size_t i = 4; i < n; i++) {
    if (!is_base62((unsigned char)s[i])) {
      return 0;
    }
  }
  return 1;
}

/* ---------------------------------------------------------------------- */
/* Header values (RFC 9110)                                               */
/* ---------------------------------------------------------------------- */

/* quoted-string at s[i] ('"' there), RFC 9110 §5.6.4: the index after its
 * closing quote, or NPOS. */
static size_t quoted_end(const char *s, size_t n, size_t i) {
  for (i++; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"') {
      return i + 1;
    }
    if (c == '\\') {
      if (++i == n) {
        return NPOS;
      }
      c = (unsigned char)s[i];
      if (c != '\t' && (c < 0x20 || c == 0x7f)) {
        return NPOS; /* quoted-pair: HTAB / SP / VCHAR / obs-text */
      }
      continue;
    }
    if (c != '\t' && (c < 0x20 || c == 0x7f)) {
      return NPOS; /* qdtext */
    }
  }
  return NPOS;
}

/* token / quoted-string at s[i]: the index after it, or NPOS. */
static size_t param_value_end(const char *s, size_t n, size_t i) {
  if (i < n && s[i] == '"') {
    return quoted_end(s, n, i);
  }
  size_t e = tchar_run(s, n, i);
  return e > i ? e : NPOS;
}

/* A parameter value (token or quoted-string, RFC 9110 §5.6.6) equals lit
 * after unquoting. */
static int param_value_is(const char *v, size_t n, const char *lit) {
  size_t m = strlen(lit);
  if (n == 0 || v[0] != '"') {
    return n == m && memcmp(v, lit, m) == 0;
  }
  size_t k = 0;
  for (size_t i = 1; i + 1 < n; i++) { /* between the quotes */
    if (v[i] == '\\') {
      i++;
    }
    if (k == m || v[i] != lit[k]) {
      return 0;
    }
    k++;
  }
  return k == m;
}

/*
 * media_type_is_json — (s, n) is application/json, RFC 9110 §8.3.1:
 * type "/" subtype *( OWS ";" OWS [ parameter ] ), parameter = token "="
 * ( token / quoted-string ); type and subtype case-insensitive.
 */
static int media_type_is_json(const char *s, size_t n) {
  trim_ows(&s, &n);
  size_t t = tchar_run(s, n, 0);
  if (!ci_eq(s, t, "application") || t >= n || s[t] != '/') {
    return 0;
  }
  size_t sub = t + 1;
  size_t i = tchar_run(s, n, sub);
  if (!ci_eq(s + sub, i - sub, "json")) {
    return 0;
  }
  while (i < n) {
    i = skip_ows(s, n, i);
    if (i >= n || s[i] != ';') {
      return 0;
    }
    i = skip_ows(s, n, i + 1);
    if (i == n || s[i] == ';') {
      continue; /* an empty parameter */
    }
    size_t name_end = tchar_run(s, n, i);
    if (name_end == i || name_end >= n || s[name_end] != '=') {
      return 0;
    }
    i = param_value_end(s, n, name_end + 1);
    if (i == NPOS) {
      return 0;
    }
  }
  return 1;
}

/* What the WWW-Authenticate scan found about the Bearer challenge(s). */
typedef struct bearer_found {
  int bearers;       /* Bearer challenges */
  int token68;       /* a Bearer challenge carries a token68 */
  int realms;        /* realm params in Bearer challenges */
  int errors;        /* error params in Bearer challenges */
  const char *error; /* the first error value, raw (token or quoted) */
  size_t error_len;
} bearer_found;

static void bearer_param(bearer_found *b, const char *name, size_t name_len,
                         const char *v, size_t v_len) {
  if (ci_eq(name, name_len, "realm")) {
    b->realms++;
  } else if (ci_eq(name, name_len, "error") && b->errors++ == 0) {
    b->error = v;
    b->error_len = v_len;
  }
}

/* After an element: OWS then ',' or the end. */
static int at_element_end(const char *s, size_t n, size_t i) {
  i = skip_ows(s, n, i);
  return i == n || s[i] == ',';
}

/*
 * challenge_after_scheme — what follows auth-scheme 1*SP at s[i]: an
 * auth-param (preferred when one parses and ends the element), else a
 * token68, else nothing (the element ends). Returns the index after it or
 * NPOS; sets *t68 when a token68 was read.
 */
static size_t challenge_after_scheme(const char *s, size_t n, size_t i,
                                     int bearer, bearer_found *b, int *t68) {
  size_t name_end = tchar_run(s, n, i);
  if (name_end > i) {
    size_t eq = skip_ows(s, n, name_end);
    if (eq < n && s[eq] == '=') {
      size_t v = skip_ows(s, n, eq + 1);
      size_t v_end = param_value_end(s, n, v);
      if (v_end != NPOS && at_element_end(s, n, v_end)) {
        if (bearer) {
          bearer_param(b, s + i, name_end - i, s + v, v_end - v);
        }
        return v_end;
      }
    }
  }
  size_t e = i;
  while (e < n && is_t68((unsigned char)s[e])) {
    e++;
  }
  if (e > i) {
    while (e < n && s[e] == '=') {
      e++;
    }
    if (!at_element_end(s, n, e)) {
      return NPOS;
    }
    *t68 = 1;
    return e;
  }
  return at_element_end(s, n, i) ? i : NPOS;
}

/*
 * challenges_scan — read (s, n) as #challenge (RFC 9110 §11.6.1, list rule
 * §5.6.1.2 with empty elements allowed) and gather the Bearer challenges'
 * params into b. 0, or -1 when the value does not parse.
 */
static int challenges_scan(const char *s, size_t n, bearer_found *b) {
  /* params: the challenge before the cursor opened its #auth-param list
   * (its scheme was followed by 1*SP and no token68) */
  int params = 0, bearer = 0, t68 = 0;
  size_t i = 0;
  memset(b, 0, sizeof *b);
  for (;;) {
    while (i < n && (is_ows((unsigned char)s[i]) || s[i] == ',')) {
      i++;
    }
    if (i == n) {
      return 0;
    }
    size_t t = i;
    size_t t_end = tchar_run(s, n, i);
    if (t_end == t) {
      return -1;
    }
    size_t eq = skip_ows(s, n, t_end);
    if (eq < n && s[eq] == '=') {
      /* token BWS "=": an auth-param of the challenge before it */
      if (!params) {
        return -1;
      }
      size_t v = skip_ows(s, n, eq + 1);
      i = param_value_end(s, n, v);
      if (i == NPOS) {
        return -1;
      }
      if (bearer) {
        bearer_param(b, s + t, t_end - t, s + v, i - v);
      }
    } else {
      /* any other token starts a challenge: auth-scheme */
      params = 0;
      t68 = 0;
      bearer = ci_eq(s + t, t_end - t, "bearer");
      b->bearers += bearer;
      i = t_end;
      if (i < n && s[i] == ' ') {
        while (i < n && s[i] == ' ') {
          i++;
        }
        i = challenge_after_scheme(s, n, i, bearer, b, &t68);
        if (i == NPOS) {
          return -1;
        }
        params = !t68;
        if (bearer && t68) {
          b->token68 = 1;
        }
      }
    }
    i = skip_ows(s, n, i);
    if (i < n && s[i] != ',') {
      return -1;
    }
  }
}

/* (code, len) is the decision's code string */
static int code_is(const char *code, size_t len, kg_status decision) {
  const char *name = kg_status_str(decision);
  return len == strlen(name) && memcmp(code, name, len) == 0;
}

static int www_authenticate_ok(const kgl_response *r, const char *code,
                               size_t code_len) {
  if (r->www_authenticate_count != 1 || r->www_authenticate == NULL ||
      (r->cut & KGL_MM_WWW_AUTH)) {
    return 0;
  }
  const char *s = r->www_authenticate;
  size_t n = r->www_authenticate_len;
  trim_ows(&s, &n);
  bearer_found b;
  if (challenges_scan(s, n, &b) != 0 || b.bearers != 1 || b.token68 ||
      b.realms != 1 || b.errors > 1) {
    return 0;
  }
  /* RFC 6750 §3.1: a request that carried no credentials gets no error
   * code; a bad or expired one gets invalid_token. */
  if (code_is(code, code_len, KG_MISSING_API_KEY)) {
    return b.errors == 0;
  }
  if (code_is(code, code_len, KG_INVALID_API_KEY) ||
      code_is(code, code_len, KG_EXPIRED_API_KEY)) {
    return b.errors == 1 &&
           param_value_is(b.error, b.error_len, "invalid_token");
  }
  return 1;
}

static int content_type_ok(const kgl_response *r) {
  return r->content_type_count == 1 && r->content_type != NULL &&
         !(r->cut & KGL_MM_CONTENT_TYPE) &&
         media_type_is_json(r->content_type, r->content_type_len);
}

/* Exactly one X-Request-Id of the right shape, equal to the body's
 * request_id when the body gave one (rid NULL otherwise). */
static int request_id_header_ok(const kgl_response *r, const char *rid,
                                size_t rid_len) {
  if (r->request_id_count != 1 || r->request_id == NULL ||
      (r->cut & KGL_MM_REQUEST_ID)) {
    return 0;
  }
  const char *s = r->request_id;
  size_t n = r->request_id_len;
  trim_ows(&s, &n);
  if (!kgl_request_id_ok(s, n)) {
    return 0;
  }
  return rid == NULL || json_str_eq(rid, rid_len, s, n);
}

/* ---------------------------------------------------------------------- */
/* One response                                                           */
/* ---------------------------------------------------------------------- */

unsigned kgl_verify(const kgl_expect *e, const kgl_response *r,
                    const char **code, size_t *code_len) {
  unsigned mm = 0;
  int status_ok = e->status == 0 ? r->status >= 200 && r->status <= 299
                                 : r->status == e->status;
  if (!status_ok) {
    mm |= KGL_MM_STATUS;
  }
  if (r->key_echo) {
    mm |= KGL_MM_KEY_ECHO; /* SPEC §1.4: no response holds a presented key */
  }

  /* e->code is NUL-terminated by its makers; read no further than it */
  const char *nul = memchr(e->code, '\0', sizeof e->code);
  size_t want_len = nul != NULL ? (size_t)(nul - e->code) : sizeof e->code;
  json_found f;
  memset(&f, 0, sizeof f);
  int parsed = 0;
  if ((e->contract || want_len > 0 || !status_ok) && !r->body_truncated) {
    parsed = json_scan(r->body, r->body_len, &f) == 0;
    if (!parsed) {
      memset(&f, 0, sizeof f);
    }
  }
  if (code != NULL) {
    *code = f.code;
  }
  if (code_len != NULL) {
    *code_len = f.code_len;
  }
  if (want_len > 0 &&
      (f.code == NULL || !json_str_eq(f.code, f.code_len, e->code, want_len))) {
    mm |= KGL_MM_CODE;
  }
  if (!e->contract) {
    return mm;
  }

  if (!parsed || !f.error_object || f.code == NULL || !f.message_string ||
      f.request_id == NULL) {
    mm |= KGL_MM_BODY;
  }
  if (!content_type_ok(r)) {
    mm |= KGL_MM_CONTENT_TYPE;
  }
  if (!request_id_header_ok(r, f.request_id, f.request_id_len)) {
    mm |= KGL_MM_REQUEST_ID;
  }
  if (e->status == 401 && !www_authenticate_ok(r, e->code, want_len)) {
    mm |= KGL_MM_WWW_AUTH;
  }
  if (!r->no_store) {
    mm |= KGL_MM_CACHE_CONTROL;
  }
  return mm;
}
