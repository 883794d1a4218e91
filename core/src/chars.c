/*
 * chars.c — the character-class table of chars.h. Generated once from the
 * RFC 9110 grammar (tchar §5.6.2, token68 §11.2); each row is 16 bytes.
 */
#include "chars.h"

#include <stddef.h>

#if defined(__SSE2__) && !defined(KEYGATE_NO_SIMD)
#include <emmintrin.h>
#define KG_HAVE_SSE2 1
#endif

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

const char kg_base62_digits[63] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* clang-format off */
const int8_t kg_base62_value_table[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0x00 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0x10 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0x20 */
     0,  1,  2,  3,  4,  5,  6,  7,  8,  9, -1, -1, -1, -1, -1, -1,  /* 0x30 */
    -1, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,  /* 0x40 */
    25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, -1, -1, -1, -1, -1,  /* 0x50 */
    -1, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50,  /* 0x60 */
    51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1,  /* 0x70 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0x80 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0x90 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0xa0 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0xb0 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0xc0 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0xd0 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0xe0 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0xf0 */
};
/* clang-format on */

/* clang-format off */
const int8_t kg_hex_value_table[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0x00 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0x10 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0x20 */
     0,  1,  2,  3,  4,  5,  6,  7,  8,  9, -1, -1, -1, -1, -1, -1,  /* 0x30 */
    -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0x40 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0x50 */
    -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0x60 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0x70 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0x80 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0x90 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0xa0 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0xb0 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0xc0 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0xd0 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0xe0 */
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  /* 0xf0 */
};
/* clang-format on */

#ifdef KG_HAVE_SSE2
/* Lanes of x whose unsigned value lies in [lo, hi]: (x - lo) <= (hi - lo)
 * unsigned, done as a signed compare after flipping the top bit. */
static inline __m128i in_range(__m128i x, unsigned char lo, unsigned char hi) {
  const __m128i flip = _mm_set1_epi8((char)0x80);
  __m128i y = _mm_xor_si128(_mm_sub_epi8(x, _mm_set1_epi8((char)lo)), flip);
  __m128i lim = _mm_set1_epi8((char)((unsigned char)(hi - lo + 1) ^ 0x80u));
  return _mm_cmplt_epi8(y, lim);
}

/* Lanes that are ASCII letters or digits. */
static inline __m128i alnum(__m128i x) {
  __m128i folded = _mm_or_si128(x, _mm_set1_epi8(0x20));
  return _mm_or_si128(in_range(folded, 'a', 'z'), in_range(x, '0', '9'));
}

static inline __m128i token68(__m128i x) {
  /* 0x2D-0x39 is "-./0123456789"; then '+', '_', '~'. */
  __m128i m =
      _mm_or_si128(in_range(_mm_or_si128(x, _mm_set1_epi8(0x20)), 'a', 'z'),
                   in_range(x, 0x2D, 0x39));
  m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('+')));
  m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('_')));
  return _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('~')));
}

/* Scan with 16-byte blocks; the last partial block is handled by loading
 * the final 16 bytes of s (overlapping what was checked) when len >= 16,
 * else by the scalar table. */
#define KG_SIMD_SPAN(name, classify, cls)                                      \
  size_t name(const char *s, size_t len) {                                     \
    size_t i = 0;                                                              \
    for (; i + 16 <= len; i += 16) {                                           \
      __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));     \
      unsigned bad = (unsigned)_mm_movemask_epi8(classify(x)) ^ 0xFFFFu;       \
      if (bad != 0) {                                                          \
        return i + (size_t)__builtin_ctz(bad);                                 \
      }                                                                        \
    }                                                                          \
    if (i < len && len >= 16) {                                                \
      size_t base = len - 16;                                                  \
      __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + base));  \
      unsigned bad = (unsigned)_mm_movemask_epi8(classify(x)) ^ 0xFFFFu;       \
      bad &= 0xFFFFu << (i - base); /* lanes before i were checked */          \
      return bad != 0 ? base + (size_t)__builtin_ctz(bad) : len;               \
    }                                                                          \
    return i + kg_span_class(s + i, len - i, cls);                             \
  }

KG_SIMD_SPAN(kg_span_token68, token68, KG_C_TOKEN68)
KG_SIMD_SPAN(kg_span_base62, alnum, KG_C_BASE62)
#else
size_t kg_span_token68(const char *s, size_t len) {
  return kg_span_class(s, len, KG_C_TOKEN68);
}

size_t kg_span_base62(const char *s, size_t len) {
  return kg_span_class(s, len, KG_C_BASE62);
}
#endif
