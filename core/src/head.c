/*
 * head.c — the strict request-head parser of head.h (RFC 9112).
 *
 * A cursor walks (buf, end) where end = min(len, KG_HEAD_MAX_BYTES). Running
 * out of bytes is KG_INCOMPLETE while the input is shorter than the limit,
 * and KG_E_HEAD_TOO_LARGE once the limit itself is reached. Errors are
 * reported as soon as the bytes seen prove them, even in an incomplete
 * head, so a client cannot park a connection on a head that is already bad.
 */
#include "keygate/head.h"

#include <stdint.h>
#include <string.h>

#include "chars.h"
#include "defensive.h"

#if defined(__SSE2__) && !defined(KEYGATE_NO_SIMD)
#include <emmintrin.h>
#define KG_HEAD_SSE2 1
#endif

/*
 * The two long runs of a head, scanned sixteen bytes at a time with SSE2
 * (every x86-64; the scalar loops are the twins, and take the last bytes
 * of the input): a field value up to its first control byte other than
 * HTAB (CR, LF or another), and a request-target up to its first byte that is
 * not a VCHAR. Both return the length of the run at s[0..n).
 */
static size_t span_value(const char *s, size_t n) {
  size_t i = 0;
#ifdef KG_HEAD_SSE2
  /* c < 0x20 unsigned is (c ^ 0x80) < -96 signed; then 0x7F. */
  const __m128i flip = _mm_set1_epi8((char)0x80);
  const __m128i lim = _mm_set1_epi8((char)0xA0);
  const __m128i del = _mm_set1_epi8(0x7F);
  const __m128i tab = _mm_set1_epi8('\t');
  for (; i + 16 <= n; i += 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
    __m128i m = _mm_or_si128(
        _mm_andnot_si128(_mm_cmpeq_epi8(v, tab),
                         _mm_cmplt_epi8(_mm_xor_si128(v, flip), lim)),
        _mm_cmpeq_epi8(v, del));
    unsigned bits = (unsigned)_mm_movemask_epi8(m);
    if (bits != 0) {
      return i + (size_t)__builtin_ctz(bits);
    }
  }
#endif
  while (i < n && (!kg_is((unsigned char)s[i], KG_C_CTL) || s[i] == '\t')) {
    i++;
  }
  return i;
}

static size_t span_vchar(const char *s, size_t n) {
  size_t i = 0;
#ifdef KG_HEAD_SSE2
  /* 0x21 <= c <= 0x7E is -96 < (c ^ 0x80) < -1 signed. */
  const __m128i flip = _mm_set1_epi8((char)0x80);
  const __m128i lo = _mm_set1_epi8((char)0xA0);
  const __m128i hi = _mm_set1_epi8((char)0xFF);
  for (; i + 16 <= n; i += 16) {
    __m128i x = _mm_xor_si128(
        _mm_loadu_si128((const __m128i *)(const void *)(s + i)), flip);
    __m128i ok = _mm_and_si128(_mm_cmpgt_epi8(x, lo), _mm_cmplt_epi8(x, hi));
    unsigned bad = (unsigned)_mm_movemask_epi8(ok) ^ 0xFFFFu;
    if (bad != 0) {
      return i + (size_t)__builtin_ctz(bad);
    }
  }
#endif
  while (i < n && kg_is((unsigned char)s[i], KG_C_VCHAR)) {
    i++;
  }
  return i;
}

typedef struct cursor {
  const char *buf;
  size_t pos;
  size_t end;    /* min(len, KG_HEAD_MAX_BYTES) */
  int truncated; /* 1 when end < len: the limit, not the input, ends us */
} cursor;

/* What running out of bytes means at this point. */
static kg_status out_of_bytes(const cursor *c) {
  return c->truncated ? KG_E_HEAD_TOO_LARGE : KG_INCOMPLETE;
}

static unsigned char at(const cursor *c, size_t i) {
  return (unsigned char)c->buf[i];
}

/*
 * Consume a line end at c->pos: CRLF or a bare LF (RFC 9112 §2.2). A CR
 * followed by anything but LF is an error.
 */
static kg_status line_end(cursor *c) {
  if (c->pos >= c->end) {
    return out_of_bytes(c);
  }
  if (at(c, c->pos) == '\n') {
    c->pos++;
    return KG_OK;
  }
  if (at(c, c->pos) != '\r') {
    return KG_E_BAD_LINE_END;
  }
  if (c->pos + 1 >= c->end) {
    return out_of_bytes(c);
  }
  if (at(c, c->pos + 1) != '\n') {
    return KG_E_BAD_LINE_END;
  }
  c->pos += 2;
  return KG_OK;
}

/* 1 when a line end (CR or LF) starts at pos. */
static int is_eol(const cursor *c, size_t pos) {
  return at(c, pos) == '\r' || at(c, pos) == '\n';
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 §3) */
static kg_status request_line(cursor *c, kg_head *h) {
  size_t start = c->pos;
  while (c->pos < c->end && kg_is(at(c, c->pos), KG_C_TCHAR)) {
    c->pos++;
  }
  if (c->pos >= c->end) {
    return out_of_bytes(c);
  }
  if (c->pos == start || at(c, c->pos) != ' ') {
    return c->pos == start || !is_eol(c, c->pos) ? KG_E_BAD_METHOD
                                                 : KG_E_BAD_REQUEST_LINE;
  }
  h->method.ptr = c->buf + start;
  h->method.len = c->pos - start;
  c->pos++; /* SP */

  start = c->pos;
  c->pos += span_vchar(c->buf + c->pos, c->end - c->pos);
  if (c->pos >= c->end) {
    return out_of_bytes(c);
  }
  if (c->pos == start) {
    return KG_E_BAD_TARGET;
  }
  if (at(c, c->pos) != ' ') {
    return is_eol(c, c->pos) ? KG_E_BAD_REQUEST_LINE : KG_E_BAD_TARGET;
  }
  /* Written from locals: reading h->target back as one 16-byte word right
   * after its two 8-byte stores would stall on store forwarding. */
  const char *tp = c->buf + start;
  size_t tl = c->pos - start;
  h->target.ptr = tp;
  h->target.len = tl;
  /* Most targets are short: a loop beats the call to memchr there. */
  const char *q = NULL;
  if (tl <= 32) {
    for (size_t i = 0; i < tl; i++) {
      if (tp[i] == '?') {
        q = tp + i;
        break;
      }
    }
  } else {
    q = memchr(tp, '?', tl);
  }
  h->path.ptr = tp;
  if (q != NULL) {
    h->path.len = (size_t)(q - tp);
    h->query.ptr = q + 1;
    h->query.len = tl - (size_t)(q - tp) - 1;
  } else {
    h->path.len = tl;
    h->query.ptr = NULL;
    h->query.len = 0;
  }
  c->pos++; /* SP */

  /* HTTP-version = "HTTP" "/" DIGIT "." DIGIT (RFC 9112 §2.3) */
  static const char proto[] = "HTTP/";
  start = c->pos;
  if (c->end - c->pos >= 8) {
    /* The common case in one word: "HTTP/", a digit, '.', a digit. */
    unsigned char v[8];
    memcpy(v, c->buf + c->pos, 8);
    if (memcmp(v, proto, 5) == 0 && (unsigned)(v[5] - '0') < 10u &&
        v[6] == '.' && (unsigned)(v[7] - '0') < 10u) {
      c->pos += 8;
    }
  }
  for (size_t i = c->pos - start; i < 8; i++) {
    if (c->pos >= c->end) {
      return out_of_bytes(c);
    }
    unsigned char ch = at(c, c->pos);
    int ok = i < 5    ? ch == (unsigned char)proto[i]
             : i == 6 ? ch == '.'
                      : ((unsigned)(ch - '0') < 10u);
    if (!ok) {
      return KG_E_BAD_VERSION;
    }
    c->pos++;
  }
  h->version.ptr = c->buf + start;
  h->version.len = 8;
  kg_status s = line_end(c);
  return s == KG_E_BAD_LINE_END ? KG_E_BAD_VERSION : s;
}

/*
 * field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). On KG_OK
 * the field is stored in *f with the value's OWS trimmed.
 */
static kg_status field_line(cursor *c, kg_field *f, unsigned flags) {
  size_t start = c->pos;
  unsigned char ch = at(c, c->pos);
  if (ch == ' ' || ch == '\t') {
    /* obs-fold, or whitespace before the first field name (§2.2, §5.2) */
    return KG_E_OBS_FOLD;
  }
  c->pos += kg_span_class(c->buf + c->pos, c->end - c->pos, KG_C_TCHAR);
  if (c->pos >= c->end) {
    return out_of_bytes(c);
  }
  size_t name_end = c->pos;
  ch = at(c, c->pos);
  if (ch != ':') {
    if (name_end == start || (ch != ' ' && ch != '\t')) {
      return kg_is(ch, KG_C_CTL) && !is_eol(c, c->pos) ? KG_E_CONTROL_CHAR
                                                       : KG_E_BAD_FIELD_NAME;
    }
    while (c->pos < c->end && (at(c, c->pos) == ' ' || at(c, c->pos) == '\t')) {
      c->pos++;
    }
    if (c->pos >= c->end) {
      return out_of_bytes(c);
    }
    /* §5.1: no whitespace is allowed between the name and the colon. */
    return at(c, c->pos) == ':' ? KG_E_WS_BEFORE_COLON : KG_E_BAD_FIELD_NAME;
  }
  if (name_end == start) {
    return KG_E_BAD_FIELD_NAME;
  }
  c->pos++; /* ':' */

  while (c->pos < c->end && (at(c, c->pos) == ' ' || at(c, c->pos) == '\t')) {
    c->pos++;
  }
  size_t vstart = c->pos;
  for (;;) {
    /* Up to the next control byte other than HTAB at once; then that
     * byte. */
    c->pos += span_value(c->buf + c->pos, c->end - c->pos);
    if (c->pos >= c->end) {
      return out_of_bytes(c);
    }
    ch = at(c, c->pos);
    if (ch == '\r' || ch == '\n') {
      break;
    }
    if (ch == 0 || (flags & KG_HEAD_CTL_IN_VALUES) == 0) {
      return KG_E_CONTROL_CHAR;
    }
    c->pos++;
  }
  /* One past the last byte that is not OWS (RFC 9112 §5: trailing OWS is
   * not part of the value). */
  size_t vend = c->pos;
  while (vend > vstart && (at(c, vend - 1) == ' ' || at(c, vend - 1) == '\t')) {
    vend--;
  }
  kg_status s = line_end(c);
  if (s != KG_OK) {
    return s;
  }
  f->name.ptr = c->buf + start;
  f->name.len = name_end - start;
  f->value.ptr = c->buf + vstart;
  f->value.len = vend - vstart;
  return KG_OK;
}

void kg_head_init(kg_head *head, kg_field *fields, size_t cap, unsigned flags) {
  if (KG_NEVER(head == NULL)) {
    return;
  }
  if (KG_NEVER(fields == NULL && cap > 0)) {
    cap = 0; /* a head with room for no field line: a parse fails closed */
  }
  memset(head, 0, sizeof *head);
  head->fields = fields;
  head->fields_cap = cap;
  head->flags = flags;
}

kg_status kg_head_parse(const char *buf, size_t len, kg_head *head,
                        size_t *consumed) {
  if (KG_NEVER(head == NULL || consumed == NULL || (buf == NULL && len > 0))) {
    return KG_E_ARGUMENT;
  }
  cursor c;
  c.buf = buf;
  c.pos = 0;
  c.truncated = len > KG_HEAD_MAX_BYTES;
  c.end = c.truncated ? KG_HEAD_MAX_BYTES : len;
  head->nfields = 0;
  head->error_offset = 0;
  head->lead = 0;
  *consumed = 0;

  size_t cap = head->fields_cap < KG_HEAD_MAX_FIELDS ? head->fields_cap
                                                     : KG_HEAD_MAX_FIELDS;
  /* RFC 9112 §2.2: ignore empty lines before the request-line. */
  while (c.pos < c.end && is_eol(&c, c.pos)) {
    kg_status s = line_end(&c);
    if (s != KG_OK) {
      head->error_offset = c.pos;
      return s;
    }
  }
  if (c.pos >= c.end) {
    return out_of_bytes(&c);
  }
  head->lead = c.pos;
  kg_status s = request_line(&c, head);
  while (s == KG_OK) {
    if (c.pos >= c.end) {
      s = out_of_bytes(&c);
      break;
    }
    if (is_eol(&c, c.pos)) {
      s = line_end(&c); /* the empty line ends the head */
      if (s == KG_OK) {
        *consumed = c.pos;
        return KG_OK;
      }
      break;
    }
    if (head->nfields >= cap) {
      s = KG_E_TOO_MANY_FIELDS;
      break;
    }
    s = field_line(&c, &head->fields[head->nfields], head->flags);
    if (s == KG_OK) {
      head->nfields++;
    }
  }
  if (s != KG_INCOMPLETE) {
    head->error_offset = c.pos;
  }
  return s;
}

/* ---- what a server refuses before authentication ------------------------ */

/* nginx's defaults, which `keygate serve` keeps: a request line or a field
 * line must fit one of large_client_header_buffers' 8 KiB buffers. */
#define SCREEN_LINE_MAX ((size_t)KG_HEAD_LINE_MAX)

/* The request line's length without its line end. */
static size_t request_line_len(const kg_head *h) {
  return (size_t)(h->version.ptr + h->version.len - h->method.ptr);
}

/* One past the empty line that ends a head kg_head_parse read whole: it
 * ended every line, the empty one too, with an LF (a CR before it or not),
 * and the field lines' trailing OWS is between a value and its line end. */
static const char *head_end(const kg_head *h) {
  const kg_field *last = h->nfields > 0 ? &h->fields[h->nfields - 1] : NULL;
  const char *p = last != NULL ? last->value.ptr + last->value.len
                               : h->version.ptr + h->version.len;
  while (*p != '\n') {
    p++;
  }
  p++;
  return p + (*p == '\r' ? 2 : 1);
}

/* The byte at path[*i] as nginx's URI parser reads it
 * (ngx_http_parse_complex_uri), advancing *i: an escape %HH decoded, so a
 * decoded '/' and '.' act as themselves; -1 for what nginx refuses there:
 * a '%' not followed by two hex digits (the path's end included) and %00.
 * (A decoded '%', '#' or '?' is data to nginx, as to the caller: neither
 * '/' nor '.'.) */
static int path_byte(kg_span p, size_t *i) {
  unsigned char c = (unsigned char)p.ptr[*i];
  if (c != '%') {
    *i += 1;
    return c;
  }
  int hi = *i + 2 < p.len ? kg_hex_value((unsigned char)p.ptr[*i + 1]) : -1;
  int lo = *i + 2 < p.len ? kg_hex_value((unsigned char)p.ptr[*i + 2]) : -1;
  if (hi < 0 || lo < 0 || (hi | lo) == 0) {
    return -1;
  }
  *i += 3;
  return hi * 16 + lo;
}

/* An origin-form path (cut before its query or fragment) that nginx
 * refuses: an invalid escape or %00 in it, or a ".." segment (also as
 * %2E%2E, or after a %2F) that climbs above the root. Empty segments
 * count for nothing, as nginx merges slashes. */
static kg_status screen_path(kg_span p) {
  long depth = 0;
  size_t dots = 0;
  size_t other = 0;
  int in_segment = 0; /* after the first '/' */
  size_t i = 0;
  for (;;) {
    const int end = i >= p.len;
    int c = '/'; /* the path's end closes its last segment */
    if (!end) {
      c = path_byte(p, &i);
      if (c < 0) {
        return KG_E_BAD_TARGET;
      }
    }
    if (c != '/') {
      dots += c == '.';
      other += c != '.';
      continue;
    }
    if (in_segment && other == 0 && dots == 2) {
      if (--depth < 0) {
        return KG_E_BAD_TARGET;
      }
    } else if (in_segment && !(other == 0 && dots == 1) &&
               (other | dots) != 0) {
      depth++;
    }
    if (end) {
      return KG_OK;
    }
    in_segment = 1;
    dots = 0;
    other = 0;
  }
}

/* A byte nginx's parser refuses anywhere in a request-target: a control
 * byte other than CR and LF (which end the line), and DEL. */
static int target_byte_refused(unsigned char c) {
  return (c < 0x20 && c != '\r' && c != '\n') || c == 0x7f;
}

/* A byte of an IP literal's brackets nginx reads (sw_host_ip_literal):
 * letters, digits and : - . _ ~ ! $ & ' ( ) * + , ; = */
static int ip_literal_byte(unsigned char c) {
  static const char more[] = ":-._~!$&'()*+,;=";
  return kg_is(c, KG_C_BASE62) || memchr(more, c, sizeof more - 1) != NULL;
}

/* A line end at line[i] (i < n): LF, or CR then LF. 1 when it is one
 * (also a CR that is the last byte read: its LF may follow), 0 when it is
 * no line end, -1 for a CR followed by anything else (refused). */
static int line_end_here(const char *line, size_t n, size_t i) {
  if (line[i] == '\n') {
    return 1;
  }
  if (line[i] != '\r') {
    return 0;
  }
  return i + 1 >= n || line[i + 1] == '\n' ? 1 : -1;
}

/*
 * The first byte of line[0..n) that nginx's request-line parser refuses
 * while it reads the line (ngx_http_parse_request_line's states), n when
 * none is; *why is KG_E_BAD_METHOD, KG_E_BAD_TARGET, KG_E_BAD_VERSION or
 * KG_E_VERSION_NOT_SUPPORTED for it. The method: one or more of A-Z, '_',
 * '-', then a SP. The target: origin-form ('/'), or absolute-form: a
 * scheme (a letter, then letters, digits, '+', '-', '.'), "://", a host of
 * letters, digits, '.' and '-' (or an IP literal in brackets), an optional
 * port of digits, then '/', '?', SP or the line end; anything else is
 * refused, the asterisk and authority forms and userinfo's '@' among it.
 * In the path and the query a control byte, and a CR not followed by LF,
 * is refused. The version (review 82: nginx reads it byte by byte too):
 * "HTTP/", a major digit 1-9 (2 and above, or a second digit: 505), '.',
 * digits up to a minor of 99 then one more, SPs, the line end; none at
 * all is HTTP/0.9's line. The path's escapes and dot
 * segments nginx reads after the line is whole (kg_head_screen).
 */
static size_t line_refused_at(const char *line, size_t n, kg_status *why) {
  size_t i = 0;
  *why = KG_E_BAD_METHOD;
  /* the method: one or more of A-Z _ -, and nothing else, up to a SP (a
   * CR or LF too is refused: an HTTP/0.9 line still has a target) */
  for (; i < n && line[i] != ' '; i++) {
    unsigned char c = (unsigned char)line[i];
    if (!((unsigned)(c - 'A') < 26u || c == '_' || c == '-')) {
      return i;
    }
  }
  if (i == 0 && n > 0) {
    return 0; /* no method: a SP first */
  }
  while (i < n && line[i] == ' ') {
    i++;
  }
  *why = KG_E_BAD_TARGET;
  if (i < n && line[i] != '/') {
    if ((unsigned)(kg_lower((unsigned char)line[i]) - 'a') >= 26u) {
      return i;
    }
    while (i < n && (kg_is((unsigned char)line[i], KG_C_BASE62) ||
                     line[i] == '+' || line[i] == '-' || line[i] == '.')) {
      i++;
    }
    for (const char *want = "://"; *want != '\0' && i < n; want++, i++) {
      if (line[i] != *want) {
        return i;
      }
    }
    if (i < n && line[i] == '[') {
      for (i++; i < n && line[i] != ']'; i++) {
        if (!ip_literal_byte((unsigned char)line[i])) {
          return i;
        }
      }
      i += i < n; /* the ']' */
    } else {
      while (i < n && (kg_is((unsigned char)line[i], KG_C_BASE62) ||
                       line[i] == '.' || line[i] == '-')) {
        i++;
      }
    }
    if (i < n && line[i] == ':') {
      i++;
      while (i < n && (unsigned)(line[i] - '0') < 10u) {
        i++;
      }
    }
    if (i < n && line[i] != '/' && line[i] != '?' && line[i] != ' ' &&
        line_end_here(line, n, i) != 1) {
      return i;
    }
  }
  for (; i < n && line[i] != ' '; i++) {
    int end = line_end_here(line, n, i);
    if (end != 0) {
      return end > 0 ? n : i + 1; /* HTTP/0.9's line end, or a bare CR */
    }
    if (target_byte_refused((unsigned char)line[i])) {
      return i;
    }
  }
  /* the version, as nginx reads it byte by byte: SPs, "HTTP/", a major
   * digit 1-9 (2 and above: 505), '.', minor digits, SPs, the line end */
  *why = KG_E_BAD_VERSION;
  while (i < n && line[i] == ' ') {
    i++;
  }
  const int end09 = i < n ? line_end_here(line, n, i) : 0;
  if (end09 != 0) {
    return end09 > 0 ? n : i + 1; /* HTTP/0.9 */
  }
  for (const char *want = "HTTP/"; *want != '\0' && i < n; want++, i++) {
    if (line[i] != *want) {
      return i;
    }
  }
  if (i < n) {
    if ((unsigned)(line[i] - '1') >= 9u) {
      return i;
    }
    if (line[i] != '1') {
      *why = KG_E_VERSION_NOT_SUPPORTED;
      return i;
    }
    i++;
  }
  if (i < n && line[i] != '.') {
    /* a second major digit makes the major 10 and above: 505, as HTTP/2 */
    if ((unsigned)(line[i] - '0') < 10u) {
      *why = KG_E_VERSION_NOT_SUPPORTED;
    }
    return i;
  }
  i += i < n; /* the '.' */
  if (i < n && (unsigned)(line[i] - '0') >= 10u) {
    return i;
  }
  /* minor digits: nginx refuses a digit once the minor is over 99 (its
   * value, not its digits: HTTP/1.1000 is refused at the last 0,
   * HTTP/1.0999 is read) */
  for (unsigned minor = 0; i < n && (unsigned)(line[i] - '0') < 10u; i++) {
    if (minor > 99u) {
      return i;
    }
    minor = minor * 10u + (unsigned)(line[i] - '0');
  }
  while (i < n && line[i] == ' ') {
    i++;
  }
  if (i < n) {
    int end = line_end_here(line, n, i);
    if (end <= 0) {
      return end < 0 ? i + 1 : i;
    }
  }
  return n;
}

/* The index of the LF that ends the line at p, whose bytes (at most n)
 * hold one; n when they do not. */
static size_t line_end_at(const char *p, size_t n) {
  if (n == 0) {
    return 0; /* memchr takes no NULL, even for no bytes */
  }
  const char *lf = memchr(p, '\n', n);
  return lf != NULL ? (size_t)(lf - p) : n;
}

kg_status kg_head_screen_line(const char *buf, size_t len) {
  if (KG_NEVER(buf == NULL && len > 0)) {
    return KG_E_ARGUMENT;
  }
  size_t start = 0; /* RFC 9112 §2.2: empty lines before it are skipped */
  while (start < len && (buf[start] == '\r' || buf[start] == '\n')) {
    start++;
  }
  const char *line = buf + start;
  size_t n = len - start;
  if (n > SCREEN_LINE_MAX) {
    n = SCREEN_LINE_MAX;
  }
  kg_status why;
  if (line_refused_at(line, n, &why) < n) {
    return why;
  }
  /* The whole line, its LF included, must fit the buffer. */
  if (line_end_at(line, n) == n && len - start > SCREEN_LINE_MAX) {
    return KG_E_URI_TOO_LONG;
  }
  return KG_OK;
}

static int host_ok(kg_span v);

/* The target kg_head_screen_line accepted, as nginx reads it once the line
 * is whole, so after a line too long: an absolute form's host, then the
 * path's escapes and dot segments. */
static kg_status screen_target_path(kg_span t) {
  if (t.len == 0 || t.ptr[0] != '/') {
    /* absolute-form: the authority after "scheme://" ends at the first
     * '/', '?' or '#' (RFC 3986 §3.2); its host, the port aside, is
     * checked as a Host field is (review 82: "http://", "http://:80/" and
     * "http://a..b/" are 400 in the server). The path follows it, if it
     * has one; a '/' in the query is no path (review 81). */
    const char *host = (const char *)memchr(t.ptr, '/', t.len) + 2;
    const char *end = t.ptr + t.len;
    const char *auth = host;
    while (auth < end && *auth != '/' && *auth != '?' && *auth != '#') {
      auth++;
    }
    if (!host_ok((kg_span){host, (size_t)(auth - host)})) {
      return KG_E_BAD_TARGET;
    }
    if (auth == end || *auth != '/') {
      return KG_OK;
    }
    t = (kg_span){auth, (size_t)(end - auth)};
  }
  /* the path ends at the query's '?' or a fragment's '#' (nginx reads
   * neither further: "/a#%00" and "/a?x=%zz" are fine) */
  size_t n = 0;
  while (n < t.len && t.ptr[n] != '?' && t.ptr[n] != '#') {
    n++;
  }
  return screen_path((kg_span){t.ptr, n});
}

/*
 * 1 when nginx accepts v as a host (ngx_http_validate_host, which reads
 * the Host field and an absolute-form target's host alike): no NUL, '/',
 * SP, control byte or DEL, no two dots in a row, and a name that is not
 * empty once the port (from the first ':' outside an IP literal's
 * brackets) and one trailing dot are set aside: ":80", "." and ".:80" are
 * refused, "a." and "[::1]:80" accepted. A '\' is accepted, as nginx on
 * Unix accepts it (server_check_agree's host_with_a_backslash_is_fine).
 */
static int host_ok(kg_span v) {
  enum { USUAL, LITERAL, REST } state = USUAL;
  size_t name_len = v.len;
  size_t dot = v.len; /* the last '.', v.len for none yet */
  for (size_t i = 0; i < v.len; i++) {
    unsigned char c = (unsigned char)v.ptr[i];
    switch (c) {
    case '.':
      if (dot + 1 == i) {
        return 0;
      }
      dot = i;
      break;
    case ':':
      if (state == USUAL) {
        name_len = i;
        state = REST;
      }
      break;
    case '[':
      if (i == 0) {
        state = LITERAL;
      }
      break;
    case ']':
      if (state == LITERAL) {
        name_len = i + 1;
        state = REST;
      }
      break;
    default:
      if (c <= ' ' || c == 0x7f || c == '/') {
        return 0;
      }
      break;
    }
  }
  if (name_len > 0 && dot == name_len - 1) {
    name_len--; /* one trailing dot names the same host */
  }
  return name_len > 0;
}

/*
 * A field's value as nginx 1.22 delimits it (ngx_http_parse_header_line):
 * spaces set aside at both ends, tabs kept. The field's own value
 * (kg_head_parse) sets RFC 9110's OWS aside, tabs too: "Host:\ta" is a host
 * "a" there, a host with a tab, which ngx_http_validate_host refuses, in
 * the server (review 86); "Content-Length:\t0" is not digits there (400),
 * "Transfer-Encoding:\tchunked" not chunked (501) (review 87).
 */
static kg_span nginx_value(const kg_field *f) {
  const char *v = f->name.ptr + f->name.len + 1; /* after the ':' */
  const char *end = f->value.ptr + f->value.len;
  while (*end != '\n') { /* kg_head_parse ended the line with an LF */
    end++;
  }
  if (end > v && end[-1] == '\r') {
    end--;
  }
  while (v < end && *v == ' ') {
    v++;
  }
  while (end > v && end[-1] == ' ') {
    end--;
  }
  return (kg_span){v, (size_t)(end - v)};
}

/* 1 when v is 1*DIGIT (RFC 9110 §8.6) of a value nginx can hold: at most
 * 2^63 - 1, leading zeros aside (ngx_atoof into an off_t; review 88:
 * 9223372036854775808 was a length here, a 400 there). */
static int is_length(kg_span v) {
  if (v.len == 0) {
    return 0;
  }
  const uint64_t max = (uint64_t)INT64_MAX;
  uint64_t n = 0;
  for (size_t i = 0; i < v.len; i++) {
    unsigned d = (unsigned)(unsigned char)v.ptr[i] - '0';
    if (d >= 10u || n > (max - d) / 10) {
      return 0;
    }
    n = n * 10 + d;
  }
  return 1;
}

/* Fields nginx 1.22 refuses twice besides Host, Content-Length,
 * Transfer-Encoding and Authorization (ngx_http_headers_in). */
static const struct {
  const char *name;
  size_t len;
} once_names[] = {
    {"if-modified-since", 17},
    {"if-unmodified-since", 19},
    {"if-match", 8},
    {"if-none-match", 13},
    {"content-range", 13},
    {"if-range", 8},
    {"expect", 6},
};

kg_status kg_head_screen(const kg_head *h) {
  size_t nread;
  return kg_head_screen_read(h, &nread);
}

kg_status kg_head_screen_read(const kg_head *h, size_t *nread) {
  if (KG_NEVER(nread == NULL)) {
    return KG_E_ARGUMENT;
  }
  *nread = 0;
  if (KG_NEVER(h == NULL)) {
    return KG_E_ARGUMENT;
  }
  /* A head kg_head_parse has not filled (no request line): not a bug of
   * the NULL policy, a documented KG_E_ARGUMENT. */
  if (h->method.ptr == NULL || h->version.len != 8) {
    return KG_E_ARGUMENT;
  }
  /* While the request line is read, in nginx's order: a byte its parser
   * refuses in the method, the target or the version within the buffer
   * (400, 505), else a line that does not fit it, its line end included
   * (414); then the path, read once the line is whole (400). Review 79
   * found a long line with a bad method
   * answered 414 here, 400 by the server; review 81 the converse past the
   * buffer, and lines of 8191 and 8192 bytes (with their CRLF over 8 KiB)
   * accepted. */
  const size_t line_len = request_line_len(h);
  const size_t eol = h->version.ptr[h->version.len] == '\r' ? 2 : 1;
  unsigned char major = (unsigned char)h->version.ptr[5];
  unsigned char minor = (unsigned char)h->version.ptr[7];
  kg_status s = kg_head_screen_line(h->method.ptr, line_len + eol);
  if (s == KG_E_BAD_TARGET && major >= '2' &&
      h->lead + (size_t)(head_end(h) - h->method.ptr) <= 1024) {
    /* HTTP/2's preface on a plain port (PRI * HTTP/2.0): nginx refuses
     * the '*' first, but the version is what the client must change, and
     * the module answers 505 for it (review 70-5, server_refusals) where
     * it can read the version: where the whole head, and the empty lines
     * before it, are in nginx's first 1 KiB buffer
     * (client_header_buffer_size), which the module parses (review 82:
     * the line past it; review 83: the fields; review 84: the empty
     * lines). nginx has it whole there only when it came in one read. */
    return KG_E_VERSION_NOT_SUPPORTED;
  }
  if (s != KG_OK) {
    return s;
  }
  if (major == '0') {
    return KG_E_BAD_VERSION; /* nginx reads no HTTP/0.x request line */
  }
  if (major >= '2') {
    return KG_E_VERSION_NOT_SUPPORTED; /* RFC 9110 §15.6.6 */
  }
  s = screen_target_path(h->target);
  if (s != KG_OK) {
    return s;
  }
  /* While the field lines are read, in their order: a line too long is
   * not kept; one nginx refuses by its name was stored first. */
  const kg_field *host = NULL;
  const kg_field *length = NULL;
  const kg_field *coding = NULL;
  const kg_field *auth = NULL;
  unsigned seen_once = 0; /* bit j: once_names[j] was read */
  for (size_t i = 0; i < h->nfields; i++) {
    const kg_field *f = &h->fields[i];
    /* the line with its trailing OWS and line end, as nginx's buffer
     * holds it */
    const char *after = f->value.ptr + f->value.len;
    size_t tail = 0; /* kg_head_parse ended every field line with an LF */
    while (after[tail] != '\n') {
      tail++;
    }
    size_t line = (size_t)(after - f->name.ptr) + tail + 1;
    *nread = i;
    if (line > SCREEN_LINE_MAX) {
      return KG_E_HEADER_TOO_LARGE;
    }
    *nread = i + 1;
    const kg_field **one = NULL;
    if (kg_ieq(f->name.ptr, f->name.len, "host", 4)) {
      one = &host;
    } else if (kg_ieq(f->name.ptr, f->name.len, "content-length", 14)) {
      one = &length;
    } else if (kg_ieq(f->name.ptr, f->name.len, "transfer-encoding", 17)) {
      one = &coding;
    } else if (kg_ieq(f->name.ptr, f->name.len, "authorization", 13)) {
      one = &auth;
    } else {
      /* the other fields nginx 1.22 takes once (its
       * ngx_http_process_unique_header_line; review 89: a second Expect
       * was 401 here, 400 in the server) */
      for (size_t j = 0; j < sizeof once_names / sizeof once_names[0]; j++) {
        if (kg_ieq(f->name.ptr, f->name.len, once_names[j].name,
                   once_names[j].len)) {
          if ((seen_once & (1u << j)) != 0) {
            return KG_E_DUPLICATE_HEADER;
          }
          seen_once |= 1u << j;
        }
      }
      continue;
    }
    if (*one != NULL) {
      return KG_E_DUPLICATE_HEADER;
    }
    *one = f;
    if (one == &host && !host_ok(nginx_value(f))) {
      return KG_E_BAD_HOST;
    }
  }
  *nread = h->nfields;
  /* Once the head is read (nginx's order). */
  int http11 = major == '1' && minor >= '1';
  if (host == NULL && http11) {
    return KG_E_MISSING_HOST; /* RFC 9112 §3.2 */
  }
  if (length != NULL && !is_length(nginx_value(length))) {
    return KG_E_BAD_FRAMING;
  }
  if (coding != NULL) {
    /* nginx's order: HTTP/1.0, then the coding, then a length beside it
     * (review 87: "gzip" with a Content-Length is 501 there) */
    if (!http11) {
      return KG_E_BAD_FRAMING; /* RFC 9112 §6.1 */
    }
    kg_span te = nginx_value(coding);
    if (!kg_ieq(te.ptr, te.len, "chunked", 7)) {
      return KG_E_UNSUPPORTED_TRANSFER_CODING;
    }
    if (length != NULL) {
      return KG_E_BAD_FRAMING; /* RFC 9112 §6.1 */
    }
  }
  if (kg_ieq(h->method.ptr, h->method.len, "trace", 5) ||
      kg_ieq(h->method.ptr, h->method.len, "connect", 7)) {
    return KG_E_METHOD_NOT_ALLOWED;
  }
  return KG_OK;
}
