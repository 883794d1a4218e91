/*
 * load/src/verify.c — the per-response verifier of `keygate load`
 * (load/verify.h): expectations, a strict JSON scanner, the SPEC §1.4
 * header checks and the redaction of report text.
 *
 * Everything reads (ptr, len) spans through an index that is checked
 * against the length before every read, allocates nothing, and recurses at
 * most KGL_JSON_MAX_DEPTH levels (the JSON scanner only).
 */
#include "load/verify.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "keygate/response.h"
#include "keygate/status.h"

/* ---------------------------------------------------------------------- */
/* Characters                                                             */
/* ---------------------------------------------------------------------- */

#define NPOS ((size_t)-1) /* "no match" from the index-returning scanners */

static int is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

static int is_alpha(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_base62(unsigned char c) {
  return is_digit(c) || is_alpha(c);
}

/* tchar, RFC 9110 §5.6.2 */
static int is_tchar(unsigned char c) {
  return is_base62(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* token68 without its trailing '=', RFC 9110 §11.2 */
static int is_t68(unsigned char c) {
  return is_base62(c) || (c != 0 && strchr("-._~+/", c) != NULL);
}

/* OWS, RFC 9110 §5.6.3 */
static int is_ows(unsigned char c) {
  return c == ' ' || c == '\t';
}

static unsigned char ascii_lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* (s, n) equals the lowercase NUL-terminated lit, ASCII case-insensitively */
static int ci_eq(const char *s, size_t n, const char *lit) {
  size_t m = strlen(lit);
  if (n != m) {
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    if (ascii_lower((unsigned char)s[i]) != (unsigned char)lit[i]) {
      return 0;
    }
  }
  return 1;
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

static int hex_value(unsigned char c) {
  if (is_digit(c)) {
    return c - '0';
  }
  c = ascii_lower(c);
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
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

/* ---------------------------------------------------------------------- */
/* Redaction                                                              */
/* ---------------------------------------------------------------------- */

/* Longest decoded prefix a piece found in the percent-decoded input shows
 * (a longer one shows as "****" alone). */
#define DEC_PREFIX_MAX 64

/* One piece of the output: a byte, or a whole masked run. Small: pieces
 * are made twice a byte (measure, then write). */
typedef struct redact_piece {
  size_t in_len;  /* input bytes it stands for */
  size_t out_len; /* bytes it renders to */
  /* 1: prefix + "****" [+ tail]; 2: found in the percent-decoded input,
   * rendered by decoded_next again when written (the decoded prefix,
   * "****" and perhaps the decoded last four) */
  int masked;
  size_t plen; /* masked: the prefix length */
  size_t tail; /* masked: index of the 4 visible bytes, or NPOS */
} redact_piece;

/* The delimiters of headers, URLs and JSON that end a key run. */
static const unsigned char KEY_DELIM[128] = {
    ['"'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1, [','] = 1, [';'] = 1,
    ['&'] = 1, ['<'] = 1,  ['>'] = 1, ['['] = 1, [']'] = 1, ['{'] = 1,
    ['}'] = 1, ['\\'] = 1, ['`'] = 1, ['='] = 1};

/* A byte that may continue a key in text: printable ASCII other than the
 * delimiters of headers, URLs and JSON (space, quotes, brackets, ',', ';',
 * '&', '<', '>', '\\', '`', '='). A table: it is asked of every byte of a
 * report, several times. */
static int in_key_run(unsigned char c) {
  return c > 0x20 && c < 0x7f && !KEY_DELIM[c];
}

static char printable(char c) {
  const unsigned char u = (unsigned char)c;
  if (u < 0x20 || u > 0x7e) {
    return '?';
  }
  return c;
}

/* The piece that starts at in[i] (i < n). */
static redact_piece redact_next(const char *in, size_t n, size_t i,
                                const char *prefix, size_t plen) {
  redact_piece p = {1, 1, 0, 0, NPOS};
  if (plen == 0 || n - i < plen) {
    return p;
  }
  for (size_t k = 0; k < plen; k++) {
    if (ascii_lower((unsigned char)in[i + k]) !=
        ascii_lower((unsigned char)prefix[k])) {
      return p;
    }
  }
  /* The run is not only token68: a key with a mistyped or hostile byte
   * ('!' in a made-up invalid key) must be masked whole, so it runs on
   * over every printable byte that cannot delimit it in a header, a URL or
   * JSON. Masking too much is safe; too little is not. */
  size_t body = i + plen, e = body;
  while (e < n && in_key_run((unsigned char)in[e])) {
    e++;
  }
  /* bytes no key holds at the run's end (a ':' or '!' after a key in a
   * sentence) are the sentence's: written as they are after the mask, so
   * its last four are the key's ("file sk_live_****Ab3x: ...") */
  size_t t = e;
  while (t - body > 4 && !is_alpha((unsigned char)in[t - 1]) &&
         !is_digit((unsigned char)in[t - 1]) &&
         strchr("-._~+/=", in[t - 1]) == NULL) {
    t--;
  }
  e = t;
  if (e - body < 4) {
    return p; /* the prefix alone, or too short to be a key */
  }
  while (e < n && in[e] == '=') { /* token68 padding ends a key */
    e++;
  }
  /* an already masked key (prefix + "****" [+ 4]) stays as it is, so
   * masking twice changes nothing */
  if (e - body <= 8 && memcmp(in + body, "****", 4) == 0) {
    p.in_len = plen + (e - body);
    p.masked = 1;
    p.plen = plen;
    p.out_len = plen + 4;
    if (e - body == 8) {
      p.tail = body + 4;
      p.out_len += 4;
    }
    return p;
  }
  size_t run = e - body;
  p.in_len = plen + run;
  p.masked = 1;
  p.plen = plen;
  p.out_len = plen + 4;
  if (run >= 12) { /* the last four, after at least eight hidden ones */
    p.tail = e - 4;
    p.out_len += 4;
  }
  return p;
}

/* verbatim — the piece of the k bytes at in[i], written as they are. */
static redact_piece verbatim(size_t k) {
  redact_piece p = {k, k, 0, 0, NPOS};
  return p;
}

/* masked — the piece of a key run at in[i..e) whose prefix is plen long:
 * kept as it is when already masked (prefix + "****" [+ 4]); else prefix,
 * "****" and the last four when at least eight more stay hidden. */
static redact_piece masked(const char *in, size_t i, size_t plen, size_t e) {
  const size_t body = i + plen, run = e - body;
  if (run <= 8 && run >= 4 && memcmp(in + body, "****", 4) == 0) {
    return verbatim(e - i);
  }
  redact_piece p = {e - i, plen + 4, 1, plen, NPOS};
  if (run >= 12) {
    p.tail = e - 4;
    p.out_len += 4;
  }
  return p;
}

/* letters — the end of the ASCII letters from in[i], at most `max` of them
 * (n: the end of the input). */
static size_t letters(const char *in, size_t n, size_t i, size_t max) {
  size_t j = i;
  while (j < n && j - i < max && is_alpha((unsigned char)in[j])) {
    j++;
  }
  return j;
}

/*
 * shape_next — the piece at in[i] under the rule for prefixes nobody named
 * (kgl_redact_keys): two or more letters and '_' (the first segment), then
 * optionally 1..6 letters and '_' (the second: "sk_live_", "github_pat_"),
 * followed by a run of key bytes (in_key_run). The run is masked when 8 or
 * more bytes follow the first segment; the prefix shown keeps the second
 * segment when 4 or more bytes follow it. Exempt: a request id, "req_" and
 * exactly 24 base62 (kgl_request_id_ok), which names a request, not a key.
 */
/*
 * snake_words — (s, n), up to its first '/', '?' or '#', reads as lower-case
 * words, the way identifiers and URL path segments are written: two or
 * more joined by single '_' ("methods_list", "key_in_query"), or one of 4
 * or more letters that such a delimiter ends ("methods" of
 * "payment_methods/items"). Then the run is not taken for a key body, so
 * "payment_methods_list" stays readable (a review nit). Safe enough: no
 * base62 key holds '_', '/', '?' or '#'; base64 holds '/' or '_', never
 * both; and a random key whose first 4 or more bytes are only [a-z] and
 * then one of those is rarer than one in a thousand.
 */
static int snake_words(const char *s, size_t n) {
  size_t k = 0;
  int inner = 0;
  for (; k < n && s[k] != '/' && s[k] != '?' && s[k] != '#'; k++) {
    if (s[k] == '_') {
      if (k == 0 || k + 1 == n || s[k - 1] == '_' || s[k + 1] == '/' ||
          s[k + 1] == '?' || s[k + 1] == '#') {
        return 0;
      }
      inner = 1;
    } else if (s[k] < 'a' || s[k] > 'z') {
      return 0;
    }
  }
  return inner || (k < n && k >= 4);
}

static redact_piece shape_next(const char *in, size_t n, size_t i) {
  /* Mid-word: the word's first letter was tried with the same letters,
   * '_' and run after it, and did not match, or its piece would have
   * taken this byte. Skipping keeps a long word linear, not quadratic. */
  if (i > 0 && is_alpha((unsigned char)in[i - 1])) {
    return verbatim(1);
  }
  const size_t j = letters(in, n, i, n);
  if (j - i < 2 || j >= n || in[j] != '_') {
    return verbatim(1);
  }
  const size_t p1 = j + 1;
  size_t e = p1;
  while (e < n && in_key_run((unsigned char)in[e])) {
    e++;
  }
  if (e - p1 < 8) {
    return verbatim(1);
  }
  /* one byte only: the named prefixes are still tried inside the run */
  if (snake_words(in + p1, e - p1)) {
    return verbatim(1);
  }
  if (e - i == KG_REQUEST_ID_LEN && kgl_request_id_ok(in + i, e - i)) {
    return verbatim(e - i);
  }
  const size_t k = letters(in, n, p1, 7);
  if (k > p1 && k - p1 <= 6 && k < e && in[k] == '_' && e - (k + 1) >= 4) {
    return masked(in, i, k + 1 - i, e);
  }
  return masked(in, i, p1 - i, e);
}

static void redact_put(const char *in, size_t i, const redact_piece *p,
                       char *out) {
  if (!p->masked) {
    for (size_t k = 0; k < p->in_len; k++) {
      out[k] = printable(in[i + k]);
    }
    return;
  }
  for (size_t k = 0; k < p->plen; k++) {
    out[k] = printable(in[i + k]);
  }
  for (size_t k = 0; k < 4; k++) {
    out[p->plen + k] = '*';
  }
  if (p->tail != NPOS) {
    for (size_t k = 0; k < 4; k++) { /* printable: in_key_run */
      out[p->plen + 4 + k] = in[p->tail + k];
    }
  }
}

/* ---------------------------------------------------------------------- */
/* Redaction of percent-encoded keys                                      */
/* ---------------------------------------------------------------------- */

/*
 * SPEC §1.1 counts a key in a URL raw or percent-decoded (once, and again
 * where %25 hides an escape): "sk%5Flive%5F...", "%73k_live_...",
 * "sk%255Flive%255F..." are keys, and a report must not show them. A run
 * of key bytes (in_key_run: '%' and hex digits are) is decoded level by
 * level, up to DEC_LEVELS times (deeper than the SPEC's two: masking too
 * much is safe), and each level is matched as the raw text is. Decoding
 * never joins runs: every decoded byte comes from key bytes only, and a
 * byte that is not '%' is itself at every level.
 */
#define DEC_LEVELS 8
#define DEC_WINDOW 1024 /* input bytes decoded at one place, at most */

/* The decoded text of a window of the input: byte k of c comes from the
 * input bytes before end[k] (offsets from the window's start). */
typedef struct dec_window {
  char c[DEC_WINDOW];
  unsigned short end[DEC_WINDOW];
  size_t len;
} dec_window;

/* dec_level — one level of percent-decoding of w, in place (the decoded
 * text is never longer). 1 when some escape was decoded, else 0. */
static int dec_level(dec_window *w) {
  size_t o = 0;
  int changed = 0;
  for (size_t j = 0; j < w->len; o++) {
    int hi = -1, lo = -1;
    if (w->c[j] == '%' && j + 2 < w->len) {
      hi = hex_value((unsigned char)w->c[j + 1]);
      lo = hex_value((unsigned char)w->c[j + 2]);
    }
    if (hi >= 0 && lo >= 0) {
      w->c[o] = (char)(hi * 16 + lo);
      w->end[o] = w->end[j + 2];
      j += 3;
      changed = 1;
    } else {
      w->c[o] = w->c[j];
      w->end[o] = w->end[j];
      j++;
    }
  }
  w->len = o;
  return changed;
}

/* The end of the run of key bytes from in[i]. */
static size_t key_run_end(const char *in, size_t n, size_t i) {
  while (i < n && in_key_run((unsigned char)in[i])) {
    i++;
  }
  return i;
}

/* The rules a redaction applies: named prefixes, and perhaps the shape and
 * the key parameters' values. */
typedef struct redact_rules {
  const char *const *prefixes;
  size_t nprefixes;
  int shape;  /* 1: shape_next for what no named prefix masked */
  int params; /* 1: param_value for the values of SPEC §1.1's names */
} redact_rules;

/* A piece found in decoded text d (d->c[0] is in[i]'s level), as a piece of
 * the input: it covers the whole run of key bytes as it is in the input,
 * up to seg_end, as a raw key's piece would (a decoded delimiter such as
 * %26 ends the key, not what is hidden: masking again then changes
 * nothing). Rendered from d: the decoded prefix, "****", the decoded last
 * four when p shows them; into show when not NULL (out_len bytes). */
static redact_piece dec_piece(const dec_window *d, const redact_piece *p,
                              size_t i, size_t seg_end, char *show) {
  redact_piece o = verbatim(seg_end - i);
  o.masked = 2;
  const size_t plen = p->plen <= DEC_PREFIX_MAX ? p->plen : 0;
  o.out_len = plen + 4 + (p->tail != NPOS ? 4 : 0); /* <= o.in_len */
  if (show != NULL) {
    for (size_t k = 0; k < plen; k++) {
      show[k] = printable(d->c[k]);
    }
    memset(show + plen, '*', 4); /* a piece of the output, not a string */
    if (p->tail != NPOS) {       /* printable: in_key_run */
      memcpy(show + plen + 4, d->c + p->tail, 4);
    }
  }
  return o;
}

/* decoded_match — decoded_next's work where a match can start (w_end: the
 * end of the run of key bytes within the window). */
static redact_piece decoded_match(const char *in, size_t n, size_t i,
                                  size_t w_end, const redact_rules *r,
                                  char *show) {
  dec_window d;
  d.len = w_end - i;
  memcpy(d.c, in + i, d.len);
  for (size_t k = 0; k < d.len; k++) {
    d.end[k] = (unsigned short)(k + 1);
  }
  for (int level = 0; level < DEC_LEVELS && dec_level(&d); level++) {
    for (size_t k = 0; k <= r->nprefixes; k++) {
      redact_piece p;
      if (k < r->nprefixes) {
        const char *pre = r->prefixes[k];
        p = redact_next(d.c, d.len, 0, pre, pre != NULL ? strlen(pre) : 0);
      } else if (r->shape) {
        p = shape_next(d.c, d.len, 0);
      } else {
        break;
      }
      if (p.masked) {
        const size_t seg_end = key_run_end(in, n, i);
        if (seg_end > w_end && p.in_len == d.len) {
          p.tail = NPOS; /* the run goes on past the window: its last four
                          * are not the key's, show none */
        }
        return dec_piece(&d, &p, i, seg_end, show);
      }
    }
  }
  return verbatim(1);
}

/*
 * decoded_next — the piece at in[i] when some level of the percent-decoded
 * text from in[i] starts with a named prefix's key (or, with r->shape, a
 * key of the shape) at the first level that does: masked to the end of the
 * run of key bytes (dec_piece), written into show when not NULL;
 * verbatim(1) otherwise. Only places where such a match can start are
 * decoded: in[i] is '%', or the first byte of a prefix (a letter starting
 * a word, for the shape), and a '%' follows in the run.
 */
static redact_piece decoded_next(const char *in, size_t n, size_t i,
                                 const redact_rules *r, char *show) {
  const unsigned char c0 = (unsigned char)in[i];
  int cand = c0 == '%';
  for (size_t k = 0; !cand && k < r->nprefixes; k++) {
    const char *pre = r->prefixes[k];
    cand = pre != NULL && pre[0] != '\0' &&
           ascii_lower(c0) == ascii_lower((unsigned char)pre[0]);
  }
  if (!cand && r->shape && is_alpha(c0)) {
    cand = i == 0 || !is_alpha((unsigned char)in[i - 1]);
  }
  if (!cand) {
    return verbatim(1);
  }
  /* the run of key bytes within the window only: the whole run is found
   * on a match, so a long run costs DEC_WINDOW a place, not its length */
  const size_t w_end =
      key_run_end(in, n - i > DEC_WINDOW ? i + DEC_WINDOW : n, i);
  if (w_end == i || memchr(in + i, '%', w_end - i) == NULL) {
    return verbatim(1);
  }
  return decoded_match(in, n, i, w_end, r, show);
}

/* A byte that may dress a parameter's value before the value itself: a
 * repeated '=', a quote, a space or '+' (a space in a query). */
static int dress_byte(unsigned char c) {
  return c == '=' || c == '"' || c == '\'' || c == ' ' || c == '+';
}

/* value_dress_end — the end of the dressing at in[i] (dress_byte, raw or
 * percent-encoded at any depth: "%3D", "%22", "%2522"), at most 64 bytes
 * of it; i when there is none. The server counts "api_key==B" as a
 * non-empty api_key (SPEC §1.1), so B is a key body all the same. */
static size_t value_dress_end(const char *in, size_t n, size_t i) {
  size_t j = i;
  while (j < n && j - i < 64) {
    if (dress_byte((unsigned char)in[j])) {
      j++;
      continue;
    }
    if (in[j] != '%') {
      break;
    }
    size_t k = j + 1;
    while (k + 1 < n && in[k] == '2' && in[k + 1] == '5') {
      k += 2; /* "%25" hides an escape, level after level */
    }
    const int hi = k + 1 < n ? hex_value((unsigned char)in[k]) : -1;
    const int lo = k + 1 < n ? hex_value((unsigned char)in[k + 1]) : -1;
    if (hi < 0 || lo < 0 || !dress_byte((unsigned char)(hi * 16 + lo))) {
      break;
    }
    j = k + 2;
  }
  return j;
}

/*
 * param_value — with r->params, the piece at in[i] when in[i] starts the
 * value of a query parameter SPEC §1.1 names (api_key, apikey, key,
 * access_token, token, ASCII case-insensitively, after percent-decoding the
 * name): "name=" before it, the name starting the text or after a byte no
 * name holds ('?', '/', '&', ';', a space, a quote, ...), the '=' raw or as
 * "%3D". A value of 8 or more bytes, to the parameter's end ('&', '#',
 * whitespace or a quote: "(B)", "<B>", "a,B" included), is a key body
 * whatever its prefix and is masked whole: "****" and,
 * when 12 or more bytes long and free of '%', its last four. The value starts
 * after its dressing (value_dress_end: "api_key==B", "token=\"B\""), which is
 * shown as it is. verbatim(1) otherwise.
 */
static redact_piece param_value(const char *in, size_t n, size_t i) {
  static const char *const names[] = {"api_key", "apikey", "key",
                                      "access_token", "token"};
  /* the '=', or "%3D" (the server decodes the query: "token%3DB") */
  size_t eq = 0;
  if (i >= 1 && in[i - 1] == '=') {
    eq = 1;
  } else if (i >= 3 && in[i - 3] == '%' && in[i - 2] == '3' &&
             (in[i - 1] == 'D' || in[i - 1] == 'd')) {
    eq = 3;
  } else {
    return verbatim(1);
  }
  size_t ns = i - eq;
  while (ns > 0 && in_key_run((unsigned char)in[ns - 1]) && in[ns - 1] != '?' &&
         in[ns - 1] != '/' && i - eq - ns < 64) {
    ns--;
  }
  if (ns > 0 && in_key_run((unsigned char)in[ns - 1]) && in[ns - 1] != '?' &&
      in[ns - 1] != '/') {
    return verbatim(1); /* a name longer than any of ours */
  }
  dec_window d;
  d.len = i - eq - ns;
  memcpy(d.c, in + ns, d.len);
  for (size_t k = 0; k < d.len; k++) {
    d.end[k] = (unsigned short)(k + 1);
  }
  for (int level = 0; level < DEC_LEVELS && dec_level(&d); level++) {
  }
  int named = 0;
  for (size_t k = 0; !named && k < sizeof names / sizeof names[0]; k++) {
    named = ci_eq(d.c, d.len, names[k]);
  }
  if (!named) {
    return verbatim(1);
  }
  /* the value as it may be dressed: "api_key==B", "token=\"B\"", '+' or
   * spaces, the same escaped ("%3D", "%22", "%2522"): shown as it is */
  const size_t v = value_dress_end(in, n, i);
  /* the value runs to the parameter's end, whatever it holds: a body
   * bracketed or after a few other bytes ("(B)", "<B>", "a,B") is still the
   * value the server refuses as a key (review) */
  size_t e = v;
  while (e < n && e - v < 4096 && in[e] != '&' && in[e] != '#' &&
         in[e] != ' ' && in[e] != '\t' && in[e] != '\r' && in[e] != '\n' &&
         in[e] != '"' && in[e] != '\'') {
    e++;
  }
  if (e - v < 8) {
    return verbatim(1);
  }
  if (e - v <= 8 && memcmp(in + v, "****", 4) == 0) {
    return verbatim(e - i); /* already masked */
  }
  redact_piece p = {e - i, (v - i) + 4, 1, v - i, NPOS};
  if (e - v >= 12 && memchr(in + v, '%', e - v) == NULL) {
    p.tail = e - 4;
    p.out_len += 4;
  }
  return p;
}

/* The piece at in[i]: a named prefix's key as it is, then in the decoded
 * text, then a key parameter's value, then the shape. */
static redact_piece piece_at(const char *in, size_t n, size_t i,
                             const redact_rules *r) {
  for (size_t k = 0; k < r->nprefixes; k++) {
    const char *pre = r->prefixes[k];
    redact_piece p = redact_next(in, n, i, pre, pre != NULL ? strlen(pre) : 0);
    if (p.masked || p.in_len > 1) {
      return p;
    }
  }
  redact_piece p = decoded_next(in, n, i, r, NULL);
  if (p.masked || p.in_len > 1) {
    return p;
  }
  if (r->params) {
    p = param_value(in, n, i);
    if (p.masked || p.in_len > 1) {
      return p;
    }
  }
  return r->shape ? shape_next(in, n, i) : verbatim(1);
}

static size_t redact(const char *in, size_t n, const redact_rules *rules,
                     char *out, size_t cap) {
  if (out == NULL || cap == 0) {
    return 0;
  }
  if (in == NULL) {
    n = 0;
  }
  /* Every piece renders to at most its input length: total <= n. */
  size_t total = 0;
  for (size_t i = 0; i < n;) {
    redact_piece p = piece_at(in, n, i, rules);
    total += p.out_len;
    i += p.in_len;
  }
  size_t room = cap - 1;
  int cut = total > room;
  size_t budget = !cut ? room : (room >= 3 ? room - 3 : 0);
  size_t w = 0;
  for (size_t i = 0; i < n;) {
    redact_piece p = piece_at(in, n, i, rules);
    if (p.out_len > budget - w) {
      break; /* a piece is written whole or not at all */
    }
    if (p.masked == 2) {
      (void)decoded_next(in, n, i, rules, out + w); /* the same piece */
    } else {
      redact_put(in, i, &p, out + w);
    }
    w += p.out_len;
    i += p.in_len;
  }
  if (cut) {
    size_t dots = room - w < 3 ? room - w : 3;
    memset(out + w, '.', dots);
    w += dots;
  }
  out[w] = '\0';
  return w;
}

size_t kgl_redact(const char *in, size_t n, const char *prefix, char *out,
                  size_t cap) {
  const redact_rules r = {&prefix, 1, 0, 0};
  return redact(in, n, &r, out, cap);
}

size_t kgl_redact_keys(const char *in, size_t n, char *out, size_t cap) {
  static const char *const named[] = {"sk_live_", "sk_test_"};
  const redact_rules r = {named, 2, 1, 1};
  return redact(in, n, &r, out, cap);
}

/* hint_prefix — the length of (s, n)'s prefix as a hint shows it: the one
 * rule of load's masks (kgl_key_prefix_len: words of 2-6 letters, each
 * ended by '_'), so no character of a key's random part ever passes as a
 * prefix ("8yDoYITcMs_", "ghp_abcdefghi_"). */
static size_t hint_prefix(const char *s, size_t n) {
  return kgl_key_prefix_len(s, n);
}

size_t kgl_key_hint(const char *in, size_t n, char *out, size_t cap) {
  if (out == NULL || cap == 0) {
    return 0;
  }
  char buf[16 + 4 + 4 + 1];
  size_t o = 0;
  if (in == NULL || n == 0 || (n == 6 && memcmp(in, "(none)", 6) == 0)) {
    o = in == NULL ? 0 : n; /* no key: the missing class */
    if (o > 0) {
      memcpy(buf, in, o);
    }
  } else {
    const size_t p = hint_prefix(in, n);
    const size_t body = n - p;
    int hint =
        body >= 4 && memcmp(in + p, "****", 4) == 0 && (body == 4 || body == 8);
    for (size_t k = p + 4; hint && k < n; k++) {
      hint = in_key_run((unsigned char)in[k]);
    }
    memcpy(buf, in, p);
    o = p;
    memset(buf + o, '*', 4); /* a piece of the hint, not a string */
    o += 4;
    if (hint ? body == 8 : body >= 12) { /* its last four, eight hidden */
      for (size_t k = n - 4; k < n; k++) {
        buf[o++] = printable(in[k]);
      }
    }
    for (size_t k = 0; k < p; k++) {
      buf[k] = printable(buf[k]);
    }
  }
  const size_t w = o < cap - 1 ? o : cap - 1;
  memcpy(out, buf, w);
  out[w] = '\0';
  return w;
}

size_t kgl_redact_arg(const char *in, size_t n, char *out, size_t cap) {
  if (out == NULL || cap == 0) {
    return 0;
  }
  out[0] = '\0';
  if (in == NULL) {
    return 0;
  }
  char *t = malloc(n + 1);
  if (t == NULL) {
    return 0;
  }
  const size_t m = kgl_redact_keys(in, n, t, n + 1);
  size_t w = 0;
  for (size_t i = 0; i < m;) {
    size_t j = i;
    int up = 0, lo = 0, dg = 0;
    while (j < m && is_base62((unsigned char)t[j])) {
      const unsigned char c = (unsigned char)t[j];
      up |= c >= 'A' && c <= 'Z';
      lo |= c >= 'a' && c <= 'z';
      dg |= is_digit(c);
      j++;
    }
    const int key = j - i >= 8 && up && lo && dg;
    if (j == i) {
      j = i + 1;
    }
    const char *piece = key ? "****" : t + i;
    const size_t len = key ? 4 : j - i;
    if (len > cap - 1 - w) {
      break; /* a piece is written whole or not at all */
    }
    memcpy(out + w, piece, len);
    w += len;
    i = j;
  }
  out[w] = '\0';
  free(t);
  return w;
}
