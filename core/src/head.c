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

#include <string.h>

#include "chars.h"

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
  while (c->pos < c->end && kg_is(at(c, c->pos), KG_C_VCHAR)) {
    c->pos++;
  }
  if (c->pos >= c->end) {
    return out_of_bytes(c);
  }
  if (c->pos == start) {
    return KG_E_BAD_TARGET;
  }
  if (at(c, c->pos) != ' ') {
    return is_eol(c, c->pos) ? KG_E_BAD_REQUEST_LINE : KG_E_BAD_TARGET;
  }
  h->target.ptr = c->buf + start;
  h->target.len = c->pos - start;
  const char *q = memchr(h->target.ptr, '?', h->target.len);
  if (q != NULL) {
    h->path.ptr = h->target.ptr;
    h->path.len = (size_t)(q - h->target.ptr);
    h->query.ptr = q + 1;
    h->query.len = h->target.len - h->path.len - 1;
  } else {
    h->path = h->target;
    h->query.ptr = NULL;
    h->query.len = 0;
  }
  c->pos++; /* SP */

  /* HTTP-version = "HTTP" "/" DIGIT "." DIGIT (RFC 9112 §2.3) */
  static const char proto[] = "HTTP/";
  start = c->pos;
  for (size_t i = 0; i < 8; i++) {
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
  while (c->pos < c->end && kg_is(at(c, c->pos), KG_C_TCHAR)) {
    c->pos++;
  }
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
  size_t vend = c->pos; /* one past the last non-OWS byte */
  for (;;) {
    if (c->pos >= c->end) {
      return out_of_bytes(c);
    }
    ch = at(c, c->pos);
    if (ch == '\r' || ch == '\n') {
      break;
    }
    if (ch == '\t' || ch == ' ') {
      c->pos++;
      continue;
    }
    if (kg_is(ch, KG_C_CTL) &&
        (ch == 0 || (flags & KG_HEAD_CTL_IN_VALUES) == 0)) {
      return KG_E_CONTROL_CHAR;
    }
    c->pos++;
    vend = c->pos;
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

kg_status kg_head_parse(const char *buf, size_t len, kg_head *head,
                        size_t *consumed) {
  if (head == NULL || consumed == NULL || (buf == NULL && len > 0)) {
    return KG_E_ARGUMENT;
  }
  cursor c;
  c.buf = buf;
  c.pos = 0;
  c.truncated = len > KG_HEAD_MAX_BYTES;
  c.end = c.truncated ? KG_HEAD_MAX_BYTES : len;
  head->nfields = 0;
  head->error_offset = 0;
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
