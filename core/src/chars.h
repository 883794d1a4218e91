/*
 * chars.h — character classes shared by the parsers (internal).
 *
 * One 256-entry table, as picohttpparser does: one load and a mask test per
 * byte on the hot path. Classes:
 *   TCHAR    RFC 9110 §5.6.2 token characters
 *   TOKEN68  RFC 9110 §11.2 token68 characters, without the trailing '='
 *   VCHAR    0x21-0x7E
 *   OBS      obs-text 0x80-0xFF
 *   CTL      0x00-0x1F and 0x7F (HTAB included; callers allow it where OWS is)
 *   BASE62   0-9 A-Z a-z
 */
#ifndef KEYGATE_CHARS_H
#define KEYGATE_CHARS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum {
  KG_C_TCHAR = 1u << 0,
  KG_C_TOKEN68 = 1u << 1,
  KG_C_VCHAR = 1u << 2,
  KG_C_OBS = 1u << 3,
  KG_C_CTL = 1u << 4,
  KG_C_BASE62 = 1u << 5
};

extern const uint8_t kg_char_class[256];

static inline int kg_is(unsigned char c, unsigned cls) {
  return (kg_char_class[c] & cls) != 0;
}

/*
 * kg_span_class — the length of the longest prefix of s[0..len) whose bytes
 * all have a class in cls. Eight bytes per step: the hot loop of the token
 * and key scanners.
 */
static inline size_t kg_span_class(const char *s, size_t len, unsigned cls) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i + 8 <= len) {
    unsigned m = kg_char_class[p[i]] & kg_char_class[p[i + 1]] &
                 kg_char_class[p[i + 2]] & kg_char_class[p[i + 3]] &
                 kg_char_class[p[i + 4]] & kg_char_class[p[i + 5]] &
                 kg_char_class[p[i + 6]] & kg_char_class[p[i + 7]];
    if ((m & cls) == 0) {
      break;
    }
    i += 8;
  }
  while (i < len && (kg_char_class[p[i]] & cls) != 0) {
    i++;
  }
  return i;
}

/*
 * kg_span_token68, kg_span_base62 — the length of the longest prefix of
 * s[0..len) made of token68 characters (RFC 9110 §11.2, without '=') or of
 * base62 digits. With SSE2 (every x86-64) sixteen bytes per step, the way
 * picohttpparser scans with SSE4.2; the scalar twin is kg_span_class. Both
 * never read outside s[0..len).
 */
size_t kg_span_token68(const char *s, size_t len);
size_t kg_span_base62(const char *s, size_t len);

/*
 * kg_word_ieq — 1 when the 8 bytes at s equal the 8 bytes of the lowercase
 * pattern pat ignoring ASCII case, for the bytes selected by `keep` (0xff
 * per byte compared). Letters are folded with 0x20 only where the pattern
 * has a letter (pattern bytes with bit 0x40 set), so '-' or a control byte
 * never folds into a letter. The caller guarantees 8 readable bytes.
 */
static inline int kg_word_ieq(const char *s, uint64_t pat, uint64_t keep) {
  uint64_t w;
  memcpy(&w, s, 8);
  uint64_t fold = (pat & 0x4040404040404040u) >> 1;
  return ((w | fold) & keep) == (pat & keep);
}

/* A kg_word_ieq mask selecting the first n (0..8) bytes in memory order. */
static inline uint64_t kg_word_first_bytes(unsigned n) {
  uint64_t ones = n >= 8 ? ~(uint64_t)0 : (((uint64_t)1 << (8 * n)) - 1);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  ones = n >= 8 ? ones : ones << (64 - 8 * n);
#endif
  return ones;
}

/* The first 8 bytes of a string literal as a native-endian word. */
static inline uint64_t kg_word(const char *lit) {
  uint64_t w;
  memcpy(&w, lit, 8);
  return w;
}

/* ASCII lower case of c. */
static inline unsigned char kg_lower(unsigned char c) {
  return (unsigned char)(((unsigned)(c - 'A') < 26u) ? (c | 0x20) : c);
}

/* 1 when (s, len) equals the lowercase ASCII word lw (lwlen bytes)
 * ignoring ASCII case. */
static inline int kg_ieq(const char *s, size_t len, const char *lw,
                         size_t lwlen) {
  if (len != lwlen) {
    return 0;
  }
  for (size_t i = 0; i < len; i++) {
    if (kg_lower((unsigned char)s[i]) != (unsigned char)lw[i]) {
      return 0;
    }
  }
  return 1;
}

/* The base62 digits, 0-9A-Za-z in that order (SPEC §1.2). */
extern const char kg_base62_digits[63];

/* base62 digit values by byte, -1 for a byte that is not a digit. */
extern const int8_t kg_base62_value_table[256];

/* base62 digit value of c, or -1. */
static inline int kg_base62_value(unsigned char c) {
  return kg_base62_value_table[c];
}

/* hex digit values by byte (0-9 A-F a-f), -1 for a byte that is not
 * one: a percent-escape's digits by one load each. */
extern const int8_t kg_hex_value_table[256];

/* hex digit value of c, or -1. */
static inline int kg_hex_value(unsigned char c) {
  return kg_hex_value_table[c];
}

#endif /* KEYGATE_CHARS_H */
