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

/* ASCII lower case of c. */
static inline unsigned char kg_lower(unsigned char c) {
  return (unsigned char)(((unsigned)(c - 'A') < 26u) ? (c | 0x20) : c);
}

/* 1 when (s, len) equals the lowercase ASCII word lw (len bytes) ignoring
 * ASCII case. */
int kg_ieq(const char *s, size_t len, const char *lw, size_t lwlen);

/* The base62 digits, 0-9A-Za-z in that order (SPEC §1.2). */
extern const char kg_base62_digits[63];

/* base62 digit value of c, or -1. */
int kg_base62_value(unsigned char c);

#endif /* KEYGATE_CHARS_H */
