/*
 * load/src/ascii.h — the ASCII classes the verifier and the redaction read
 * bytes by: locale-free (no <ctype.h>: a report must not change with
 * LC_ALL), for unsigned char. Not installed.
 */
#ifndef KEYGATE_LOAD_ASCII_H
#define KEYGATE_LOAD_ASCII_H

#include <stddef.h>
#include <string.h>

static inline int is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

static inline int is_alpha(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline int is_base62(unsigned char c) {
  return is_digit(c) || is_alpha(c);
}

/* token68 without its trailing '=', RFC 9110 §11.2 */
static inline int is_t68(unsigned char c) {
  return is_base62(c) || (c != 0 && strchr("-._~+/", c) != NULL);
}

static inline unsigned char ascii_lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* (s, n) equals the lowercase NUL-terminated lit, ASCII case-insensitively */
static inline int ci_eq(const char *s, size_t n, const char *lit) {
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

/* The value of one hex digit, either case, or -1. */
static inline int hex_value(unsigned char c) {
  if (is_digit(c)) {
    return c - '0';
  }
  c = ascii_lower(c);
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

/* How many levels of percent-encoding the load generator looks through
 * for a key: deeper than SPEC §1.1's two ("%2573" is "%73" is "s"), since
 * masking too much is safe. */
#define KGL_DECODE_LEVELS 8

/* pct_decode_once — one level of percent-decoding of (d, n) in place (the
 * text never grows); returns the new length, and *changed is 1 when an
 * escape was decoded, else 0. */
static inline size_t pct_decode_once(char *d, size_t n, int *changed) {
  size_t o = 0;
  *changed = 0;
  for (size_t j = 0; j < n; o++) {
    const int hi =
        d[j] == '%' && j + 2 < n ? hex_value((unsigned char)d[j + 1]) : -1;
    const int lo = hi >= 0 ? hex_value((unsigned char)d[j + 2]) : -1;
    if (lo >= 0) {
      d[o] = (char)(hi * 16 + lo);
      j += 3;
      *changed = 1;
    } else {
      d[o] = d[j++];
    }
  }
  return o;
}

#endif /* KEYGATE_LOAD_ASCII_H */
