/*
 * chars.c — the character-class table of chars.h. Generated once from the
 * RFC 9110 grammar (tchar §5.6.2, token68 §11.2); each row is 16 bytes.
 */
#include "chars.h"

#include <stddef.h>

/* clang-format off */
const uint8_t kg_char_class[256] = {
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,  /* 0x00 */
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,  /* 0x10 */
     0,  5,  4,  5,  5,  5,  5,  5,  4,  4,  5,  7,  4,  7,  7,  6,  /* 0x20 */
    39, 39, 39, 39, 39, 39, 39, 39, 39, 39,  4,  4,  4,  4,  4,  4,  /* 0x30 */
     4, 39, 39, 39, 39, 39, 39, 39, 39, 39, 39, 39, 39, 39, 39, 39,  /* 0x40 */
    39, 39, 39, 39, 39, 39, 39, 39, 39, 39, 39,  4,  4,  4,  5,  7,  /* 0x50 */
     5, 39, 39, 39, 39, 39, 39, 39, 39, 39, 39, 39, 39, 39, 39, 39,  /* 0x60 */
    39, 39, 39, 39, 39, 39, 39, 39, 39, 39, 39,  4,  5,  4,  7, 16,  /* 0x70 */
     8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  /* 0x80 */
     8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  /* 0x90 */
     8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  /* 0xa0 */
     8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  /* 0xb0 */
     8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  /* 0xc0 */
     8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  /* 0xd0 */
     8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  /* 0xe0 */
     8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  /* 0xf0 */
};
/* clang-format on */

int kg_ieq(const char *s, size_t len, const char *lw, size_t lwlen) {
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

const char kg_base62_digits[63] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

int kg_base62_value(unsigned char c) {
  if ((unsigned)(c - '0') < 10u) {
    return c - '0';
  }
  if ((unsigned)(c - 'A') < 26u) {
    return c - 'A' + 10;
  }
  if ((unsigned)(c - 'a') < 26u) {
    return c - 'a' + 36;
  }
  return -1;
}
