/*
 * load/src/h1.c — a strict, incremental HTTP/1.1 response parser (RFC 9112)
 * for the native engine: the status line, the few fields the verifier
 * reads, and the body framed by Content-Length, chunked coding, or the
 * connection's close. It copies the fields it keeps, so the caller may
 * reuse its buffer as soon as a call returns.
 *
 * Refused as protocol errors: a status line that is not HTTP/1.x SP 3DIGIT,
 * a field line without a colon or with whitespace before it, obs-fold,
 * control bytes (a bare CR included) in a field it reads (the others are
 * skipped with memchr: their bytes cost nothing), two different
 * Content-Lengths, Content-Length
 * together with Transfer-Encoding, a transfer coding other than chunked, a
 * malformed chunk size, a head over KGL_H1_HEAD_MAX bytes. A bare LF ends a
 * line as CRLF does (RFC 9112 §2.2 allows a recipient that).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <string.h>

#include "ascii.h"
#include "internal.h"

enum {
  ST_HEAD = 0,
  ST_BODY_LENGTH,
  ST_CHUNK_SIZE,
  ST_CHUNK_DATA,
  ST_CHUNK_END,
  ST_TRAILER,
  ST_BODY_CLOSE,
  ST_DONE
};

void kgl_h1_reset(kgl_h1 *p, int keep_body, int head_request) {
  p->state = ST_HEAD;
  p->keep_body = keep_body;
  p->no_body = head_request;
  p->status = 0;
  p->close = 0;
  p->remaining = 0;
  p->chunk_ext = 0;
  p->chunk_state = 0;
  p->chunk_digits = 0;
  p->content_type_len = 0;
  p->content_type_count = 0;
  p->www_authenticate_len = 0;
  p->www_authenticate_count = 0;
  p->request_id_len = 0;
  p->request_id_count = 0;
  p->cut = 0;
  p->no_store = 0;
  p->key = NULL;
  p->key_len = 0;
  p->key_echo = 0;
  p->body_len = 0;
  p->body_truncated = 0;
  p->error = NULL;
  p->body_sink = NULL;
  p->body_sink_ud = NULL;
}

void kgl_h1_body(kgl_h1 *p, int64_t length) {
  kgl_h1_reset(p, KGL_H1_KEEP_NONE, 0);
  if (length == 0) {
    p->state = ST_DONE;
  } else if (length == -2) {
    p->state = ST_CHUNK_SIZE;
  } else if (length < 0) {
    p->state = ST_BODY_CLOSE;
  } else {
    p->state = ST_BODY_LENGTH;
    p->remaining = length;
  }
}

int kgl_h1_waiting(const kgl_h1 *p) {
  return p->state == ST_HEAD;
}

static kgl_h1_rc fail(kgl_h1 *p, const char *why) {
  p->error = why;
  return KGL_H1_ERROR;
}

/* RFC 9110 §5.6.2 tchar: 1 for the bytes a field name may hold. */
static const unsigned char TCHAR[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1,
    0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0};

/* Does the field name (s, n) equal `want` (lower case, length wn)?
 * Field names are tchar, and for a tchar c, (c | 0x20) is a lower-case
 * letter or '-' only when c is that letter in either case or '-' (CR, the
 * other byte that ORs to '-', is no tchar): eight bytes are compared at a
 * time. Values compared with it (close, chunked) are lower-cased the same
 * way, which at worst takes a non-token byte for its letter: such a value
 * is then compared as that word. */
static uint64_t load8(const char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static int name_is(const char *s, size_t n, const char *want, size_t wn) {
  const uint64_t fold = 0x2020202020202020ull;
  if (n != wn) {
    return 0;
  }
  if (n >= 8) {
    uint64_t diff = 0;
    size_t i = 0;
    for (; i + 8 <= wn; i += 8) {
      diff |= (load8(s + i) | fold) ^ load8(want + i);
    }
    /* wn, not n (equal here): cppcheck does not carry n == wn into the
     * want + ... bound */
    diff |= (load8(s + wn - 8) | fold) ^ load8(want + wn - 8);
    return diff == 0;
  }
  for (size_t i = 0; i < n; i++) {
    if (((unsigned char)s[i] | 0x20) != (unsigned char)want[i]) {
      return 0;
    }
  }
  return 1;
}
#define NAME_IS(s, n, lit) name_is((s), (n), (lit), sizeof(lit) - 1)

/* The first value whole, or as much as fits with its kind set in *cut: a
 * value is never judged by its start (a padded X-Request-Id, a second
 * error= past the buffer). */
static void keep(char *dst, size_t cap, size_t *len, int *count, unsigned *cut,
                 unsigned kind, const char *v, size_t n) {
  if (*count == 0) {
    size_t k = n;
    if (n > cap) {
      k = cap;
      *cut |= kind;
    }
    memcpy(dst, v, k);
    *len = k;
  }
  (*count)++;
}

int kgl_cache_control_no_store(const char *v, size_t n) {
  size_t i = 0;
  while (i < n) {
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) {
      i++;
    }
    const size_t d = i;
    while (i < n && v[i] != '=' && v[i] != ',' && v[i] != ' ' && v[i] != '\t') {
      i++;
    }
    const size_t de = i;
    while (i < n && (v[i] == ' ' || v[i] == '\t')) {
      i++;
    }
    if (i < n && v[i] == '=') {
      /* an argument: a token or a quoted-string, whose commas are not
       * the list's; no-store takes none */
      i++;
      while (i < n && (v[i] == ' ' || v[i] == '\t')) {
        i++;
      }
      if (i < n && v[i] == '"') {
        for (i++; i < n && v[i] != '"'; i++) {
          i += v[i] == '\\';
        }
        i++;
      }
      while (i < n && v[i] != ',') {
        i++;
      }
      continue;
    }
    if (NAME_IS(v + d, de - d, "no-store")) {
      return 1;
    }
    while (i < n && v[i] != ',') {
      i++; /* not a directive list element: skipped to the next */
    }
  }
  return 0;
}

/* Parse one decimal Content-Length value. -1 when malformed. */
static int64_t parse_length(const char *v, size_t n) {
  if (n == 0 || n > 18) {
    return -1;
  }
  int64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') {
      return -1;
    }
    x = x * 10 + (v[i] - '0');
  }
  return x;
}

/* What the head's fields said about framing. */
typedef struct framing {
  int64_t length; /* -1: none given */
  int chunked;
  int keepalive;
} framing;

/* One field line (name, value with OWS trimmed): the few the verifier and
 * the framing need are read, the others only checked. */
/* The fields the parser reads, by name. */
enum {
  F_OTHER = 0,
  F_CONNECTION,
  F_CONTENT_TYPE,
  F_REQUEST_ID,
  F_CONTENT_LENGTH,
  F_WWW_AUTHENTICATE,
  F_TRANSFER_ENCODING,
  F_CACHE_CONTROL
};

static int field_id(const char *n, size_t nl) {
  switch (nl) { /* one compare per field line, by the name's length */
  case 10:
    return NAME_IS(n, nl, "connection") ? F_CONNECTION : F_OTHER;
  case 12:
    return NAME_IS(n, nl, "content-type")   ? F_CONTENT_TYPE
           : NAME_IS(n, nl, "x-request-id") ? F_REQUEST_ID
                                            : F_OTHER;
  case 13:
    return NAME_IS(n, nl, "cache-control") ? F_CACHE_CONTROL : F_OTHER;
  case 14:
    return NAME_IS(n, nl, "content-length") ? F_CONTENT_LENGTH : F_OTHER;
  case 16:
    return NAME_IS(n, nl, "www-authenticate") ? F_WWW_AUTHENTICATE : F_OTHER;
  case 17:
    return NAME_IS(n, nl, "transfer-encoding") ? F_TRANSFER_ENCODING : F_OTHER;
  default:
    return F_OTHER;
  }
}

/* Connection is a list of options (RFC 9110 §7.6.1): note close and
 * keep-alive wherever they stand in it. */
static void connection_options(kgl_h1 *p, framing *fr, const char *v,
                               size_t vl) {
  size_t i = 0;
  while (i < vl) {
    while (i < vl && (v[i] == ',' || v[i] == ' ' || v[i] == '\t')) {
      i++;
    }
    const size_t start = i;
    while (i < vl && v[i] != ',' && v[i] != ' ' && v[i] != '\t') {
      i++;
    }
    if (NAME_IS(v + start, i - start, "close")) {
      p->close = 1;
    } else if (NAME_IS(v + start, i - start, "keep-alive")) {
      fr->keepalive = 1;
    }
  }
}

/* One field line (name, value with OWS trimmed): the few the verifier and
 * the framing need are read and checked for control bytes; the others are
 * skipped. */
static kgl_h1_rc field(kgl_h1 *p, framing *fr, const char *n, size_t nl,
                       const char *v, size_t vl) {
  const int which = field_id(n, nl);
  if (which == F_OTHER) {
    return KGL_H1_MORE; /* skipped: its bytes cost nothing */
  }
  for (size_t i = 0; i < vl; i++) {
    const unsigned char c = (unsigned char)v[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return fail(p, "control byte in a response field");
    }
  }
  switch (which) {
  case F_CONNECTION:
    connection_options(p, fr, v, vl);
    break;
  case F_CONTENT_TYPE:
  case F_REQUEST_ID:
  case F_WWW_AUTHENTICATE:
  case F_CACHE_CONTROL:
    kgl_h1_keep_field(p, n, nl, v, vl);
    break;
  case F_CONTENT_LENGTH: {
    const int64_t x = parse_length(v, vl);
    if (x < 0 || (fr->length >= 0 && x != fr->length)) {
      return fail(p, "bad or conflicting Content-Length");
    }
    fr->length = x;
    break;
  }
  case F_TRANSFER_ENCODING:
  default:
    if (!NAME_IS(v, vl, "chunked")) {
      return fail(p, "a transfer coding other than chunked");
    }
    if (fr->chunked) {
      /* two lines are one list (RFC 9110 §5.3): "chunked, chunked", which
       * RFC 9112 §6.1 forbids, as one line is refused above */
      return fail(p, "chunked applied twice (two Transfer-Encoding lines)");
    }
    fr->chunked = 1;
    break;
  }
  return KGL_H1_MORE;
}

void kgl_h1_keep_field(kgl_h1 *p, const char *n, size_t nl, const char *v,
                       size_t vl) {
  switch (field_id(n, nl)) {
  case F_CONTENT_TYPE:
    keep(p->content_type, sizeof p->content_type, &p->content_type_len,
         &p->content_type_count, &p->cut, KGL_MM_CONTENT_TYPE, v, vl);
    break;
  case F_REQUEST_ID:
    keep(p->request_id, sizeof p->request_id, &p->request_id_len,
         &p->request_id_count, &p->cut, KGL_MM_REQUEST_ID, v, vl);
    break;
  case F_WWW_AUTHENTICATE:
    keep(p->www_authenticate, sizeof p->www_authenticate,
         &p->www_authenticate_len, &p->www_authenticate_count, &p->cut,
         KGL_MM_WWW_AUTH, v, vl);
    break;
  case F_CACHE_CONTROL:
    p->no_store |= kgl_cache_control_no_store(v, vl);
    break;
  default:
    break;
  }
}

void kgl_h1_head_done(kgl_h1 *p, int status) {
  p->status = status;
  if (p->keep_body == KGL_H1_KEEP_ERRORS) {
    p->keep_body = status < 200 || status > 299;
  }
}

/* (b, n) holds the key the request sent (kgl_h1_set_key). */
static int has_key(const kgl_h1 *p, const char *b, size_t n) {
  return p->key_len != 0 && n >= p->key_len &&
         memmem(b, n, p->key, p->key_len) != NULL;
}

void kgl_h1_set_key(kgl_h1 *p, const char *key, size_t n) {
  p->key = n != 0 ? key : NULL;
  p->key_len = key != NULL ? n : 0;
}

/* The status line at buf: HTTP/1.x SP 3DIGIT [SP reason]. Sets *next past
 * its LF. 0 when it is not whole yet, -1 when malformed, else 1. */
static int status_line(kgl_h1 *p, const char *buf, const char *end,
                       const char **next, int *http10) {
  const char *lf = memchr(buf, '\n', (size_t)(end - buf));
  if (lf == NULL) {
    return 0;
  }
  size_t ll = (size_t)(lf - buf);
  if (ll > 0 && buf[ll - 1] == '\r') {
    ll--;
  }
  if (ll < 12 || memcmp(buf, "HTTP/1.", 7) != 0 ||
      (buf[7] != '1' && buf[7] != '0') || buf[8] != ' ' || buf[9] < '1' ||
      buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' ||
      buf[11] > '9' || (ll > 12 && buf[12] != ' ')) {
    return -1;
  }
  for (size_t i = 13; i < ll; i++) {
    const unsigned char c = (unsigned char)buf[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return -1;
    }
  }
  *http10 = buf[7] == '0';
  p->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
  *next = lf + 1;
  return 1;
}

/* The head, in one pass over its bytes; when it is not whole yet nothing
 * is consumed (the caller appends more and calls again). */
static kgl_h1_rc parse_head(kgl_h1 *p, const char *buf, size_t len,
                            size_t *used) {
  const char *end = buf + len;
  const char *s;
  int http10 = 0;
  *used = 0;
  const int st = status_line(p, buf, end, &s, &http10);
  if (st < 0) {
    return fail(p, "malformed status line");
  }
  framing fr = {-1, 0, 0};
  p->close = 0;
  p->content_type_count = p->www_authenticate_count = 0;
  p->request_id_count = 0;
  p->cut = 0;
  p->no_store = 0;
  for (;;) {
    if (st == 0 || s >= end) {
      goto incomplete;
    }
    /* the empty line ends the head */
    if (*s == '\n' || (*s == '\r' && s + 1 < end && s[1] == '\n')) {
      s += *s == '\n' ? 1 : 2;
      break;
    }
    if (*s == '\r') {
      if (s + 1 >= end) {
        goto incomplete;
      }
      return fail(p, "a CR not followed by LF");
    }
    if (*s == ' ' || *s == '\t') {
      return fail(p, "obs-fold in a response field");
    }
    const char *n = s;
    while (s < end && TCHAR[(unsigned char)*s]) {
      s++;
    }
    if (s >= end) {
      goto incomplete;
    }
    if (s == n || *s != ':') {
      return fail(p, "malformed response field line");
    }
    const size_t nl = (size_t)(s - n);
    s++;
    while (s < end && (*s == ' ' || *s == '\t')) {
      s++;
    }
    const char *v = s;
    s = memchr(s, '\n', (size_t)(end - s));
    if (s == NULL) {
      goto incomplete;
    }
    const char *ve = s;
    if (ve > v && ve[-1] == '\r') {
      ve--;
    }
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) {
      ve--;
    }
    s++;
    if (field(p, &fr, n, nl, v, (size_t)(ve - v)) == KGL_H1_ERROR) {
      return KGL_H1_ERROR;
    }
  }
  if ((size_t)(s - buf) > KGL_H1_HEAD_MAX) {
    return fail(p, "response head too large");
  }
  if (http10 && !fr.keepalive) {
    p->close = 1;
  }
  if (fr.chunked && fr.length >= 0) {
    return fail(p, "both Content-Length and Transfer-Encoding");
  }
  *used = (size_t)(s - buf);
  if (p->status < 200) {
    /* 1xx: an interim response; the real one follows */
    if (p->status == 101) {
      return fail(p, "101 Switching Protocols");
    }
    const int kb = p->keep_body, nb = p->no_body;
    void (*sink)(void *, const char *, size_t) = p->body_sink;
    void *ud = p->body_sink_ud;
    const char *key = p->key;
    const size_t key_len = p->key_len;
    const int echo = p->key_echo || has_key(p, buf, *used);
    kgl_h1_reset(p, kb, nb);
    p->body_sink = sink; /* the final response's body goes there too */
    p->body_sink_ud = ud;
    p->key = key;
    p->key_len = key_len;
    p->key_echo = echo;
    return KGL_H1_MORE;
  }
  kgl_h1_head_done(p, p->status);
  if (p->keep_body && has_key(p, buf, *used)) {
    p->key_echo = 1; /* read whole: the head holds the key sent */
  }
  if (p->no_body || p->status == 204 || p->status == 304) {
    p->state = ST_DONE;
  } else if (fr.chunked) {
    p->state = ST_CHUNK_SIZE;
    p->remaining = 0;
  } else if (fr.length >= 0) {
    p->remaining = fr.length;
    p->state = fr.length == 0 ? ST_DONE : ST_BODY_LENGTH;
  } else {
    p->close = 1;
    p->state = ST_BODY_CLOSE;
  }
  return p->state == ST_DONE ? KGL_H1_DONE : KGL_H1_MORE;
incomplete:
  return len >= KGL_H1_HEAD_MAX ? fail(p, "response head too large")
                                : KGL_H1_MORE;
}

void kgl_h1_keep_body(kgl_h1 *p, const char *b, size_t n) {
  if (p->body_sink != NULL) {
    p->body_sink(p->body_sink_ud, b, n);
  }
  if (!p->keep_body) {
    return;
  }
  const size_t room = sizeof p->body - p->body_len;
  const size_t k = n < room ? n : room;
  memcpy(p->body + p->body_len, b, k);
  p->body_len += k;
  if (k < n) {
    p->body_truncated = 1;
  }
}

kgl_h1_rc kgl_h1_feed(kgl_h1 *p, const char *buf, size_t len, size_t *used) {
  size_t off = 0;
  *used = 0;
  while (off < len || p->state == ST_DONE) {
    switch (p->state) {
    case ST_HEAD: {
      size_t u = 0;
      const kgl_h1_rc rc = parse_head(p, buf + off, len - off, &u);
      off += u;
      *used = off;
      if (rc != KGL_H1_MORE || u == 0) {
        return rc;
      }
      break;
    }
    case ST_BODY_LENGTH: {
      size_t n = len - off;
      if ((int64_t)n > p->remaining) {
        n = (size_t)p->remaining;
      }
      kgl_h1_keep_body(p, buf + off, n);
      off += n;
      p->remaining -= (int64_t)n;
      if (p->remaining == 0) {
        p->state = ST_DONE;
      }
      break;
    }
    case ST_BODY_CLOSE:
      kgl_h1_keep_body(p, buf + off, len - off);
      off = len;
      break;
    case ST_CHUNK_SIZE: {
      /* RFC 9112 §7.1: chunk-size = 1*HEXDIG, then
       * *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ), CRLF.
       * chunk_state: 0 digits, 1 whitespace after them, 2 extensions,
       * 3 CR seen. */
      const unsigned char c = (unsigned char)buf[off++];
      if (p->chunk_state == 3 && c != '\n') {
        return fail(p, "a CR not followed by LF in a chunk size line");
      }
      if (c == '\n') {
        if (p->chunk_digits == 0) {
          return fail(p, "empty chunk size");
        }
        p->state = p->remaining == 0 ? ST_TRAILER : ST_CHUNK_DATA;
        p->chunk_ext = 0;
        p->chunk_state = 0;
        p->chunk_digits = 0;
        break;
      }
      if (c == '\r') {
        p->chunk_state = 3;
        break;
      }
      if (p->chunk_state == 2) {
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
          return fail(p, "control byte in a chunk extension");
        }
        if (++p->chunk_ext > KGL_H1_HEAD_MAX) {
          return fail(p, "chunk extension too long");
        }
        break;
      }
      const int h = hex_value(c);
      if (h >= 0 && p->chunk_state == 0) {
        if (p->remaining > ((int64_t)1 << 40)) {
          return fail(p, "chunk too large");
        }
        p->remaining = p->remaining * 16 + h;
        if (++p->chunk_digits > 64) {
          return fail(p, "chunk size too long");
        }
      } else if ((c == ' ' || c == '\t') && p->chunk_digits > 0) {
        p->chunk_state = 1; /* BWS before ';' */
      } else if (c == ';' && p->chunk_digits > 0) {
        p->chunk_state = 2;
      } else {
        return fail(p, "malformed chunk size");
      }
      break;
    }
    case ST_CHUNK_DATA: {
      size_t n = len - off;
      if ((int64_t)n > p->remaining) {
        n = (size_t)p->remaining;
      }
      kgl_h1_keep_body(p, buf + off, n);
      off += n;
      p->remaining -= (int64_t)n;
      if (p->remaining == 0) {
        p->state = ST_CHUNK_END;
        p->chunk_ext = 0;
      }
      break;
    }
    case ST_CHUNK_END: {
      /* CRLF (or LF) after the chunk's data */
      const char c = buf[off++];
      if (c == '\r' && p->chunk_ext == 0) {
        p->chunk_ext = 1;
      } else if (c == '\n') {
        p->state = ST_CHUNK_SIZE;
        p->chunk_ext = 0;
        p->remaining = 0;
      } else {
        return fail(p, "chunk data longer than its size");
      }
      break;
    }
    case ST_TRAILER: {
      /* trailer lines until an empty line; chunk_ext counts the line's
       * bytes (CR excluded) */
      const char c = buf[off++];
      if (c == '\n') {
        if (p->chunk_ext == 0) {
          p->state = ST_DONE;
        }
        p->chunk_ext = 0;
      } else if (c != '\r') {
        if ((unsigned char)c < 0x20 && c != '\t') {
          return fail(p, "control byte in a trailer");
        }
        if (++p->chunk_ext > KGL_H1_HEAD_MAX) {
          return fail(p, "trailer too large");
        }
      }
      break;
    }
    case ST_DONE:
    default:
      *used = off;
      return KGL_H1_DONE;
    }
  }
  *used = off;
  return p->state == ST_DONE ? KGL_H1_DONE : KGL_H1_MORE;
}

kgl_h1_rc kgl_h1_eof(kgl_h1 *p) {
  if (p->state == ST_BODY_CLOSE || p->state == ST_DONE) {
    p->state = ST_DONE;
    return KGL_H1_DONE;
  }
  return fail(p, "connection closed mid-response");
}

void kgl_h1_response(const kgl_h1 *p, kgl_response *r) {
  memset(r, 0, sizeof *r);
  r->status = p->status;
  r->content_type = p->content_type;
  r->content_type_len = p->content_type_len;
  r->content_type_count = p->content_type_count;
  r->www_authenticate = p->www_authenticate;
  r->www_authenticate_len = p->www_authenticate_len;
  r->www_authenticate_count = p->www_authenticate_count;
  r->request_id = p->request_id;
  r->request_id_len = p->request_id_len;
  r->request_id_count = p->request_id_count;
  r->body = p->body;
  r->body_len = p->body_len;
  r->body_truncated = p->body_truncated;
  r->cut = p->cut;
  r->no_store = p->no_store;
  /* the head was searched as it was parsed, the kept body is searched
   * here (de-chunked: a key split across chunks is found) */
  r->key_echo =
      p->key_echo || (p->keep_body && has_key(p, p->body, p->body_len));
}
