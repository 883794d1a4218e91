/*
 * load/src/h1.c — a strict, incremental HTTP/1.1 response parser (RFC 9112)
 * for the native engine: the status line, the few fields the verifier
 * reads, and the body framed by Content-Length, chunked coding, or the
 * connection's close. It copies the fields it keeps, so the caller may
 * reuse its buffer as soon as a call returns.
 *
 * Refused as protocol errors: a status line that is not HTTP/1.x SP 3DIGIT,
 * a field line without a colon or with whitespace before it, obs-fold,
 * control bytes in a field, two different Content-Lengths, Content-Length
 * together with Transfer-Encoding, a transfer coding other than chunked, a
 * malformed chunk size, a head over KGL_H1_HEAD_MAX bytes. A bare LF ends a
 * line as CRLF does (RFC 9112 §2.2 allows a recipient that).
 */
#include <string.h>

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
  p->content_type_len = 0;
  p->content_type_count = 0;
  p->www_authenticate_len = 0;
  p->www_authenticate_count = 0;
  p->request_id_len = 0;
  p->request_id_count = 0;
  p->body_len = 0;
  p->body_truncated = 0;
  p->error = NULL;
}

int kgl_h1_waiting(const kgl_h1 *p) {
  return p->state == ST_HEAD;
}

static kgl_h1_rc fail(kgl_h1 *p, const char *why) {
  p->error = why;
  return KGL_H1_ERROR;
}

static int lower(int c) {
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int name_is(const char *s, size_t n, const char *want) {
  const size_t wn = strlen(want);
  if (n != wn) {
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    if (lower((unsigned char)s[i]) != want[i]) {
      return 0;
    }
  }
  return 1;
}

/* RFC 9110 §5.6.2 tchar */
static int is_tchar(unsigned char c) {
  static const char extra[] = "!#$%&'*+-.^_`|~";
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || (c != 0 && strchr(extra, c) != NULL);
}

static void keep(char *dst, size_t cap, size_t *len, int *count, const char *v,
                 size_t n) {
  if (*count == 0) {
    const size_t k = n < cap ? n : cap;
    memcpy(dst, v, k);
    *len = k;
  }
  (*count)++;
}

/* The end of the line starting at s (the LF), or NULL. */
static const char *line_end(const char *s, const char *end) {
  return memchr(s, '\n', (size_t)(end - s));
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

static kgl_h1_rc parse_head(kgl_h1 *p, const char *buf, size_t len,
                            size_t *used) {
  const char *end = buf + len;
  /* find the empty line that ends the head */
  const char *s = buf, *head_end = NULL;
  for (;;) {
    const char *lf = line_end(s, end);
    if (lf == NULL) {
      break;
    }
    const size_t ll = (size_t)(lf - s);
    if (ll == 0 || (ll == 1 && s[0] == '\r')) {
      head_end = lf + 1;
      break;
    }
    s = lf + 1;
  }
  if (head_end == NULL) {
    *used = 0;
    return len >= KGL_H1_HEAD_MAX ? fail(p, "response head too large")
                                  : KGL_H1_MORE;
  }
  /* status line: HTTP/1.x SP 3DIGIT SP reason */
  const char *lf = line_end(buf, end);
  size_t ll = (size_t)(lf - buf);
  if (ll > 0 && buf[ll - 1] == '\r') {
    ll--;
  }
  if (ll < 12 || memcmp(buf, "HTTP/1.", 7) != 0 ||
      (buf[7] != '1' && buf[7] != '0') || buf[8] != ' ' || buf[9] < '1' ||
      buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' ||
      buf[11] > '9' || (ll > 12 && buf[12] != ' ')) {
    return fail(p, "malformed status line");
  }
  const int http10 = buf[7] == '0';
  p->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
  int64_t length = -1;
  int chunked = 0, keepalive = 0;
  for (s = lf + 1; s < head_end;) {
    lf = line_end(s, end);
    ll = (size_t)(lf - s);
    const char *next = lf + 1;
    if (ll > 0 && s[ll - 1] == '\r') {
      ll--;
    }
    if (ll == 0) {
      break;
    }
    if (s[0] == ' ' || s[0] == '\t') {
      return fail(p, "obs-fold in a response field");
    }
    size_t nl = 0;
    while (nl < ll && is_tchar((unsigned char)s[nl])) {
      nl++;
    }
    if (nl == 0 || nl == ll || s[nl] != ':') {
      return fail(p, "malformed response field line");
    }
    const char *v = s + nl + 1;
    size_t vl = ll - nl - 1;
    while (vl > 0 && (v[0] == ' ' || v[0] == '\t')) {
      v++;
      vl--;
    }
    while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) {
      vl--;
    }
    for (size_t i = 0; i < vl; i++) {
      const unsigned char c = (unsigned char)v[i];
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        return fail(p, "control byte in a response field");
      }
    }
    if (name_is(s, nl, "content-length")) {
      const int64_t x = parse_length(v, vl);
      if (x < 0 || (length >= 0 && x != length)) {
        return fail(p, "bad or conflicting Content-Length");
      }
      length = x;
    } else if (name_is(s, nl, "transfer-encoding")) {
      if (!name_is(v, vl, "chunked")) {
        return fail(p, "a transfer coding other than chunked");
      }
      chunked = 1;
    } else if (name_is(s, nl, "connection")) {
      if (name_is(v, vl, "close")) {
        p->close = 1;
      } else if (name_is(v, vl, "keep-alive")) {
        keepalive = 1;
      }
    } else if (name_is(s, nl, "content-type")) {
      keep(p->content_type, sizeof p->content_type, &p->content_type_len,
           &p->content_type_count, v, vl);
    } else if (name_is(s, nl, "www-authenticate")) {
      keep(p->www_authenticate, sizeof p->www_authenticate,
           &p->www_authenticate_len, &p->www_authenticate_count, v, vl);
    } else if (name_is(s, nl, "x-request-id")) {
      keep(p->request_id, sizeof p->request_id, &p->request_id_len,
           &p->request_id_count, v, vl);
    }
    s = next;
  }
  if (http10 && !keepalive) {
    p->close = 1;
  }
  if (chunked && length >= 0) {
    return fail(p, "both Content-Length and Transfer-Encoding");
  }
  *used = (size_t)(head_end - buf);
  if (p->status < 200) {
    /* 1xx: an interim response; the real one follows */
    if (p->status == 101) {
      return fail(p, "101 Switching Protocols");
    }
    const int kb = p->keep_body, nb = p->no_body;
    kgl_h1_reset(p, kb, nb);
    return KGL_H1_MORE;
  }
  if (p->no_body || p->status == 204 || p->status == 304) {
    p->state = ST_DONE;
  } else if (chunked) {
    p->state = ST_CHUNK_SIZE;
    p->remaining = 0;
  } else if (length >= 0) {
    p->remaining = length;
    p->state = length == 0 ? ST_DONE : ST_BODY_LENGTH;
  } else {
    p->close = 1;
    p->state = ST_BODY_CLOSE;
  }
  return p->state == ST_DONE ? KGL_H1_DONE : KGL_H1_MORE;
}

static void body_bytes(kgl_h1 *p, const char *b, size_t n) {
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

static int hexval(int c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  c = lower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
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
      body_bytes(p, buf + off, n);
      off += n;
      p->remaining -= (int64_t)n;
      if (p->remaining == 0) {
        p->state = ST_DONE;
      }
      break;
    }
    case ST_BODY_CLOSE:
      body_bytes(p, buf + off, len - off);
      off = len;
      break;
    case ST_CHUNK_SIZE: {
      /* hex digits, optional ;extensions, CRLF */
      const char c = buf[off++];
      if (c == '\n') {
        if (p->chunk_ext < 1) {
          return fail(p, "empty chunk size");
        }
        p->state = p->remaining == 0 ? ST_TRAILER : ST_CHUNK_DATA;
        p->chunk_ext = 0;
        break;
      }
      if (p->chunk_ext >= 100) { /* in extensions, or ended by CR */
        if (c != '\r' && (c < 0x20 || c == 0x7f) && c != '\t') {
          return fail(p, "control byte in a chunk extension");
        }
        break;
      }
      const int h = hexval((unsigned char)c);
      if (h >= 0) {
        if (p->remaining > ((int64_t)1 << 40)) {
          return fail(p, "chunk too large");
        }
        p->remaining = p->remaining * 16 + h;
        p->chunk_ext++;
      } else if ((c == ';' || c == '\r' || c == ' ' || c == '\t') &&
                 p->chunk_ext > 0) {
        p->chunk_ext += 100;
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
      body_bytes(p, buf + off, n);
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
  r->body_truncated = p->body_truncated || (!p->keep_body && 0);
}
