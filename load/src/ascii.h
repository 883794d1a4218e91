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

/* json_escape — the byte a JSON string escape at d[i] (i < n) stands for,
 * when it stands for one ASCII byte: "\u0001" to "\u007f" (hex digits of
 * either case; "\U" too, leniently), "\/", "\\" and "\""; its length
 * in *len. -1 when none starts there: the other escapes ("\n", ...) stand
 * for controls, which no key holds and which end a run of text anyway. A
 * server that writes JSON may escape any byte so (RFC 8259 §7). */
static inline int json_escape(const char *d, size_t n, size_t i, size_t *len) {
  if (d[i] != '\\' || i + 1 >= n) {
    return -1;
  }
  const char c = d[i + 1];
  if (c == '/' || c == '\\' || c == '"') {
    *len = 2;
    return (unsigned char)c;
  }
  if ((c != 'u' && c != 'U') || n - i < 6) {
    return -1;
  }
  int v = 0;
  for (size_t k = 2; k < 6; k++) {
    const int h = hex_value((unsigned char)d[i + k]);
    if (h < 0) {
      return -1;
    }
    v = v * 16 + h;
  }
  if (v == 0 || v >= 0x80) {
    return -1;
  }
  *len = 6;
  return v;
}

/* json_nested — when the JSON escape at d[i], of length len, stands for a
 * backslash that, with what follows (after more backslashes, if any),
 * makes an escape at the next level of decoding, the byte that escape
 * stands for: "\\u005f" and "\u005cu005f" are "\u005f" once decoded, and
 * '_' twice (a JSON text carried in a JSON string). -1 otherwise. */
static inline int json_nested(const char *d, size_t n, size_t i, size_t len) {
  size_t j = i + len;
  while (j < n && d[j] == '\\') {
    j++;
  }
  if (j < n && d[j] == '/') {
    return '/';
  }
  if (j >= n || (d[j] != 'u' && d[j] != 'U') || n - j < 5) {
    return -1;
  }
  int v = 0;
  for (size_t k = j + 1; k < j + 5; k++) {
    const int h = hex_value((unsigned char)d[k]);
    if (h < 0) {
      return -1;
    }
    v = v * 16 + h;
  }
  return v > 0 && v < 0x80 ? v : -1;
}

/* decode_once — one level of decoding of (d, n) in place (the text never
 * grows): percent escapes ("%5F"), and with json JSON ones too
 * (json_escape: "\u005f"); returns the new length, and *changed is 1 when
 * an escape was decoded, else 0. */
static inline size_t decode_once(char *d, size_t n, int *changed, int json) {
  size_t o = 0;
  *changed = 0;
  for (size_t j = 0; j < n; o++) {
    const int hi =
        d[j] == '%' && j + 2 < n ? hex_value((unsigned char)d[j + 1]) : -1;
    const int lo = hi >= 0 ? hex_value((unsigned char)d[j + 2]) : -1;
    size_t len = 0;
    const int v = lo < 0 && json ? json_escape(d, n, j, &len) : -1;
    if (lo >= 0) {
      d[o] = (char)(hi * 16 + lo);
      j += 3;
      *changed = 1;
    } else if (v >= 0) {
      d[o] = (char)v;
      j += len;
      *changed = 1;
    } else {
      d[o] = d[j++];
    }
  }
  return o;
}

/* pct_decode_once — one level of percent-decoding (decode_once). */
static inline size_t pct_decode_once(char *d, size_t n, int *changed) {
  return decode_once(d, n, changed, 0);
}

/* unescape_once — one level of decoding, percent and JSON escapes alike
 * (decode_once), since a JSON body may carry a URL and a URL a JSON text. */
static inline size_t unescape_once(char *d, size_t n, int *changed) {
  return decode_once(d, n, changed, 1);
}

#endif /* KEYGATE_LOAD_ASCII_H */
