/*
 * key.c — the key format of SPEC §1.2: check, generate, hint.
 */
#include "keygate/key.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

#include "chars.h"
#include "cpu.h"
#include "crc32.h"
#include "defensive.h"
#include "hotpath.h"
#include "keygate/credential.h"

kg_status kg_key_kind_parse(const char *name, size_t len, kg_key_kind *kind) {
  if (KG_NEVER(kind == NULL || (name == NULL && len > 0))) {
    return KG_E_ARGUMENT;
  }
  if (len == 6 && memcmp(name, "strict", 6) == 0) {
    *kind = KG_KEY_STRICT;
    return KG_OK;
  }
  if (len == 6 && memcmp(name, "prefix", 6) == 0) {
    *kind = KG_KEY_PREFIX;
    return KG_OK;
  }
  return KG_E_ARGUMENT;
}

const char *kg_key_kind_str(kg_key_kind kind) {
  switch (kind) {
  case KG_KEY_STRICT:
    return "strict";
  case KG_KEY_PREFIX:
    return "prefix";
  default:
    return "";
  }
}

kg_status kg_key_policy_init(kg_key_policy *p, kg_key_kind kind,
                             const char *prefix, size_t prefix_len) {
  if (KG_NEVER(p == NULL || (prefix == NULL && prefix_len > 0)) ||
      prefix_len == 0 || prefix_len > KG_KEY_PREFIX_MAX ||
      (kind != KG_KEY_STRICT && kind != KG_KEY_PREFIX)) {
    return KG_E_ARGUMENT;
  }
  for (size_t i = 0; i < prefix_len; i++) {
    unsigned char c = (unsigned char)prefix[i];
    if (!kg_is(c, KG_C_BASE62) && c != '_' && c != '-') {
      return KG_E_ARGUMENT;
    }
  }
  memset(p, 0, sizeof *p);
  p->kind = kind;
  memcpy(p->prefix, prefix, prefix_len);
  p->prefix_len = prefix_len;
  p->prefix_crc = kg_crc32(0, prefix, prefix_len);
  kg_url_scan_prepare(prefix, prefix_len, p->url_scan);
  return KG_OK;
}

size_t kg_key_strict_len(const kg_key_policy *p) {
  if (KG_NEVER(p == NULL)) {
    return 0;
  }
  return p->prefix_len + KG_KEY_RANDOM_CHARS + KG_KEY_CHECKSUM_CHARS;
}

int kg_base62_encode_u32(unsigned long v, char *out, size_t width) {
  if (KG_NEVER(out == NULL && width > 0)) {
    return 0;
  }
  for (size_t i = width; i > 0; i--) {
    out[i - 1] = kg_base62_digits[v % 62];
    v /= 62;
  }
  return v == 0;
}

/*
 * The checksum of SPEC §1.2: CRC-32 (IEEE, zlib's crc32 function) of
 * everything before the checksum digits, computed by kg_crc32 (crc32.c).
 * That it is zlib's function is the tests' business: unit.key and
 * fuzz_key_format compare kg_crc32 with zlib's crc32 on every input they
 * make, and unit.crc32 regenerates its tables from the polynomial; the
 * library itself needs no zlib.
 */
static unsigned long issue_crc(const char *key, size_t body_len) {
  return kg_crc32(0, key, body_len);
}

/* 1 when key starts with the policy's prefix. The common 8-byte prefix is
 * one word compare. */
static int has_prefix(const kg_key_policy *p, const char *key, size_t len) {
  if (len < p->prefix_len) {
    return 0;
  }
  if (p->prefix_len == 8) {
    uint64_t a;
    uint64_t b;
    memcpy(&a, key, 8);
    memcpy(&b, p->prefix, 8);
    return a == b;
  }
  return memcmp(key, p->prefix, p->prefix_len) == 0;
}

#if defined(__GNUC__) || defined(__clang__)
#define KG_KEY_INLINE static inline __attribute__((always_inline))
#else
#define KG_KEY_INLINE static inline
#endif

/* The 38 characters after the prefix: 32 random, then the 6 checksum
 * digits, most significant first. */
#define KG_KEY_TAIL (KG_KEY_RANDOM_CHARS + KG_KEY_CHECKSUM_CHARS)

#if defined(__SSE2__) && !defined(KEYGATE_NO_SIMD)
#include <emmintrin.h>

/* 0xff in each lane of v holding a base62 digit (0-9 A-Z a-z), else 0.
 * Each range is one add and one signed compare (the add moves the range's
 * first byte to -128); letters are folded to lower case first (c | 0x20 is
 * in a-z exactly when c is in A-Z or a-z). */
KG_KEY_INLINE __m128i base62_lanes(__m128i v) {
  __m128i digit = _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8(0x50)),
                                 _mm_set1_epi8((char)(-128 + 10)));
  __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
  __m128i alpha = _mm_cmplt_epi8(_mm_add_epi8(lower, _mm_set1_epi8(0x1f)),
                                 _mm_set1_epi8((char)(-128 + 26)));
  return _mm_or_si128(digit, alpha);
}

/* The value of the six checksum digits in lanes 10..15 of v2 (base62
 * digits, checked), most significant first: each lane's digit value (c -
 * '0', less 7 above '9', less 6 above 'Z'), neighbours joined by one
 * multiply-add (d * 62 + d'), pairs of those by a second (* 3844), the
 * rest in 64 bits. */
KG_KEY_INLINE uint64_t checksum_of_digits(__m128i d);

KG_KEY_INLINE uint64_t checksum_value(__m128i v2) {
  __m128i d = _mm_sub_epi8(v2, _mm_set1_epi8('0'));
  d = _mm_sub_epi8(d, _mm_and_si128(_mm_cmpgt_epi8(v2, _mm_set1_epi8('9')),
                                    _mm_set1_epi8(7)));
  d = _mm_sub_epi8(d, _mm_and_si128(_mm_cmpgt_epi8(v2, _mm_set1_epi8('Z')),
                                    _mm_set1_epi8(6)));
  return checksum_of_digits(d);
}

/* checksum_value's second half: lanes 10..15 of d the digits' values. */
KG_KEY_INLINE uint64_t checksum_of_digits(__m128i d) {
  /* 16-bit lanes of bytes 8..15; pairs (10,11) (12,13) (14,15) become
   * 32-bit [0, P1, P2, P3], P = d * 62 + d' < 3844 */
  __m128i w = _mm_unpackhi_epi8(d, _mm_setzero_si128());
  __m128i pairs = _mm_madd_epi16(w, _mm_set_epi16(1, 62, 1, 62, 1, 62, 0, 0));
  /* 16-bit [0, P1, P2, P3, ...] -> 32-bit [P1, P2 * 3844 + P3, ...] */
  __m128i quads = _mm_madd_epi16(_mm_packs_epi32(pairs, pairs),
                                 _mm_set_epi16(0, 0, 0, 0, 1, 3844, 1, 0));
  uint64_t hi = (uint32_t)_mm_cvtsi128_si32(quads);
  uint64_t lo = (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(quads, 4));
  return hi * ((uint64_t)3844 * 3844) + lo;
}

/*
 * strict_tail — 1 when the KG_KEY_TAIL bytes at t are all base62, with
 * *want = the checksum digits' value; 0 otherwise (*want untouched). Three
 * 16-byte loads inside t[0..38) (at 0, 16 and 22) checked at once; the
 * digits' value from the last load (checksum_value). No table, no call, no
 * loop; nothing outside t[0..38) is read. The scalar twin below gives the
 * same answers.
 */
KG_KEY_INLINE int strict_tail(const char *t, uint64_t *want) {
  __m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)t);
  __m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)(t + 16));
  __m128i v2 =
      _mm_loadu_si128((const __m128i *)(const void *)(t + KG_KEY_TAIL - 16));
  __m128i ok = _mm_and_si128(_mm_and_si128(base62_lanes(v0), base62_lanes(v1)),
                             base62_lanes(v2));
  if (_mm_movemask_epi8(ok) != 0xFFFF) {
    return 0;
  }
  *want = checksum_value(v2);
  return 1;
}

#ifdef KG_CPU_X86_DISPATCH
#include <immintrin.h>

/*
 * strict_tail's AVX2 twin (KG_CPU_AVX2): two 32-byte loads inside
 * t[0..38) (at 0 and 6), each lane classed by its nibbles: the low one
 * (vpshufb on the byte itself: a byte from 0x80 up looks up 0) says which
 * rows hold a digit at that column (bit 0: row 3, '0'-'9'; bit 1: rows 4
 * and 6, 'A'-'O' 'a'-'o'; bit 2: rows 5 and 7, 'P'-'Z' 'p'-'z'), the high
 * one the row's bit; a lane is base62 when the two share a bit. Seven
 * operations a load where base62_lanes takes six per 16 bytes; the digits'
 * value from the second load's upper half (t[22..38)), as strict_tail.
 */
KG_AVX2_TARGET KG_KEY_INLINE __m256i base62_class_avx2(__m256i v, __m256i hi) {
  const __m256i lo_rows =
      _mm256_setr_epi8(5, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 2, 2, 2, 2, 2, 5, 7, 7,
                       7, 7, 7, 7, 7, 7, 7, 6, 2, 2, 2, 2, 2);
  const __m256i row_bit =
      _mm256_setr_epi8(0, 0, 0, 1, 2, 4, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                       1, 2, 4, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm256_and_si256(_mm256_shuffle_epi8(lo_rows, v),
                          _mm256_shuffle_epi8(row_bit, hi));
}

/* Each lane's high nibble, in its low four bits with bit 7 clear (what
 * vpshufb reads). After the 16-bit shift an even byte holds its odd
 * neighbour's low nibble above its own high one, an odd byte zeros: the
 * mask is 0x0f in even lanes, and in odd lanes any byte with bit 7 clear
 * (0x7f, 0x3f: not one value a lane, so that GCC loads the constant rather
 * than building it by a broadcast, three instructions). */
KG_AVX2_TARGET KG_KEY_INLINE __m256i high_nibbles_avx2(__m256i v) {
  const __m256i mask = _mm256_setr_epi8(
      0x0f, 0x7f, 0x0f, 0x7f, 0x0f, 0x7f, 0x0f, 0x7f, 0x0f, 0x3f, 0x0f, 0x3f,
      0x0f, 0x3f, 0x0f, 0x3f, 0x0f, 0x7f, 0x0f, 0x7f, 0x0f, 0x7f, 0x0f, 0x7f,
      0x0f, 0x3f, 0x0f, 0x3f, 0x0f, 0x3f, 0x0f, 0x3f);
  return _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
}

#endif
#else
/* strict_tail — the scalar twin: the random part through the class
 * table, the digits through the value table. */
KG_KEY_INLINE int strict_tail(const char *t, uint64_t *want) {
  if (kg_span_base62(t, KG_KEY_RANDOM_CHARS) != KG_KEY_RANDOM_CHARS) {
    return 0;
  }
  int bad = 0;
  uint64_t sum = 0;
  for (size_t i = KG_KEY_RANDOM_CHARS; i < KG_KEY_TAIL; i++) {
    int d = kg_base62_value((unsigned char)t[i]);
    bad |= d;
    sum = sum * 62u + (unsigned)d;
  }
  if (bad < 0) {
    return 0; /* some digit was -1 */
  }
  *want = sum;
  return 1;
}
#endif

/* has_prefix for a key of at least 16 bytes (a strict key's length,
 * KG_KEY_PREFIX_MAX + 1 <= 16 + 38, was checked): the common 8-byte prefix
 * one word compare, any other one 16-byte compare against the policy's
 * prefix array (17 bytes), no call. */
KG_KEY_INLINE int prefix_in_16(const kg_key_policy *p, const char *key) {
  if (p->prefix_len == 8) {
    uint64_t a;
    uint64_t b;
    memcpy(&a, key, 8);
    memcpy(&b, p->prefix, 8);
    return a == b;
  }
#if defined(__SSE2__) && !defined(KEYGATE_NO_SIMD)
  __m128i a = _mm_loadu_si128((const __m128i *)(const void *)key);
  __m128i b = _mm_loadu_si128((const __m128i *)(const void *)p->prefix);
  unsigned differ = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, b)) ^ 0xFFFFu;
  return (differ & ((1u << p->prefix_len) - 1u)) == 0;
#else
  return memcmp(key, p->prefix, p->prefix_len) == 0;
#endif
}

/* The strict format without the CRC: length, base62 body, checksum
 * digits decoded into pending->want. */
KG_KEY_INLINE kg_status check_strict(const kg_key_policy *p, const char *key,
                                     size_t len, kg_key_pending *pending) {
  if (len != p->prefix_len + KG_KEY_TAIL) {
    return KG_KEY_BAD_LENGTH;
  }
  uint64_t want;
  if (!strict_tail(key + p->prefix_len, &want)) {
    return KG_KEY_BAD_CHARACTER;
  }
  pending->checked = 1;
  pending->crc = 1;
  pending->want = want;
  return KG_OK;
}

#ifdef KG_CPU_X86_DISPATCH
/* kg_key_strict_quick's AVX2 twin: the same tests, the tail classed by
 * base62_class_avx2. */
static KG_AVX2_TARGET __attribute__((noinline)) int
strict_quick_avx2(const kg_key_policy *p, const char *key, size_t len,
                  kg_key_pending *pending) {
  if (p->kind != KG_KEY_STRICT || key == NULL ||
      len != p->prefix_len + KG_KEY_TAIL || !prefix_in_16(p, key)) {
    return 0;
  }
  const char *t = key + p->prefix_len;
  __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)t);
  __m256i b =
      _mm256_loadu_si256((const __m256i *)(const void *)(t + KG_KEY_TAIL - 32));
  __m256i hb = high_nibbles_avx2(b);
  __m256i none = _mm256_cmpeq_epi8(
      _mm256_min_epu8(base62_class_avx2(a, high_nibbles_avx2(a)),
                      base62_class_avx2(b, hb)),
      _mm256_setzero_si256());
  if (_mm256_movemask_epi8(none) != 0) {
    return 0;
  }
  /* A digit's value is its byte less its row's offset: '0' (row 3), '7'
   * (rows 4 and 5: 'A' is 10), '=' (rows 6 and 7: 'a' is 36). */
  const __m256i row_offset = _mm256_setr_epi8(
      0, 0, 0, -'0', -'7', -'7', -'=', -'=', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      -'0', -'7', -'7', -'=', -'=', 0, 0, 0, 0, 0, 0, 0, 0);
  __m256i d = _mm256_add_epi8(b, _mm256_shuffle_epi8(row_offset, hb));
  pending->checked = 1;
  pending->crc = 1;
  pending->want = checksum_of_digits(_mm256_extracti128_si256(d, 1));
  return 1;
}
#endif

int kg_key_strict_quick(const kg_key_policy *p, const char *key, size_t len,
                        kg_key_pending *pending) {
#ifdef KG_CPU_X86_DISPATCH
  if ((kg_cpu() & KG_CPU_AVX2) != 0) {
    return strict_quick_avx2(p, key, len, pending);
  }
#endif
  uint64_t want;
  if (p->kind != KG_KEY_STRICT || key == NULL ||
      len != p->prefix_len + KG_KEY_TAIL || !prefix_in_16(p, key) ||
      !strict_tail(key + p->prefix_len, &want)) {
    return 0;
  }
  pending->checked = 1;
  pending->crc = 1;
  pending->want = want;
  return 1;
}

/* The body of kg_key_check_deferred, static so that kg_key_check inlines
 * it (exported functions of a -fPIC library are called through the PLT, not
 * inlined); kg_key_crc_ok is inline in hotpath.h. */
static kg_status check_deferred(const kg_key_policy *p, const char *key,
                                size_t len, kg_key_pending *pending) {
  pending->checked = 0;
  pending->crc = 0;
  pending->want = 0;
  /* The NULL policy: no policy, or a key of some length at NULL, is the
   * caller's bug; (NULL, 0) is no key (KG_E_ARGUMENT as well). In a release
   * build this is the one test key == NULL (kg_key_check's cost). */
  if (KG_NEVER(p == NULL) || KG_NEVER(key == NULL && len > 0) || key == NULL) {
    return KG_E_ARGUMENT;
  }
  if (!has_prefix(p, key, len)) {
    return KG_KEY_BAD_PREFIX;
  }
  if (p->kind == KG_KEY_STRICT) {
    return check_strict(p, key, len, pending);
  }
  if (len < KG_KEY_PREFIX_MIN_LEN || len > KG_KEY_PREFIX_MAX_LEN ||
      len == p->prefix_len) {
    return KG_KEY_BAD_LENGTH;
  }
  if (!kg_is_token68(key + p->prefix_len, len - p->prefix_len)) {
    return KG_KEY_BAD_CHARACTER;
  }
  pending->checked = 1;
  return KG_OK;
}

kg_status kg_key_check_deferred(const kg_key_policy *p, const char *key,
                                size_t len, kg_key_pending *pending) {
  return check_deferred(p, key, len, pending);
}

kg_status kg_key_check(const kg_key_policy *p, const char *key, size_t len) {
  kg_key_pending pending;
  kg_status s = check_deferred(p, key, len, &pending);
  return s == KG_OK ? kg_key_crc_ok(p, key, &pending) : s;
}

kg_status kg_random_base62(char *out, size_t n) {
  if (KG_NEVER(out == NULL && n > 0)) {
    return KG_E_ARGUMENT;
  }
  unsigned char pool[64];
  size_t have = 0;
  size_t next = 0;
  size_t i = 0;
  while (i < n) {
    if (next == have) {
      if (RAND_bytes(pool, (int)sizeof pool) != 1) {
        OPENSSL_cleanse(pool, sizeof pool);
        return KG_E_CRYPTO;
      }
      have = sizeof pool;
      next = 0;
    }
    unsigned char b = pool[next++];
    /* 248 = 4 * 62: bytes at or above it would bias the low digits. */
    if (b < 248) {
      out[i++] = kg_base62_digits[b % 62];
    }
  }
  OPENSSL_cleanse(pool, sizeof pool);
  return KG_OK;
}

/* Prefix and checksum around the random part already at out[prefix_len]. */
static void finish_key(const kg_key_policy *p, char *out, size_t *out_len) {
  size_t len = kg_key_strict_len(p);
  memcpy(out, p->prefix, p->prefix_len);
  size_t body = p->prefix_len + KG_KEY_RANDOM_CHARS;
  kg_base62_encode_u32(issue_crc(out, body), out + body, KG_KEY_CHECKSUM_CHARS);
  out[len] = '\0';
  *out_len = len;
}

kg_status kg_key_generate(const kg_key_policy *p, char *out, size_t cap,
                          size_t *out_len) {
  if (KG_NEVER(p == NULL || out == NULL || out_len == NULL)) {
    return KG_E_ARGUMENT;
  }
  if (cap < kg_key_strict_len(p) + 1) {
    return KG_E_BUFFER_TOO_SMALL;
  }
  kg_status s = kg_random_base62(out + p->prefix_len, KG_KEY_RANDOM_CHARS);
  if (s != KG_OK) {
    OPENSSL_cleanse(out, cap);
    return s;
  }
  finish_key(p, out, out_len);
  return KG_OK;
}

kg_status kg_key_compose(const kg_key_policy *p,
                         const char body[KG_KEY_RANDOM_CHARS], char *out,
                         size_t cap, size_t *out_len) {
  if (KG_NEVER(p == NULL || body == NULL || out == NULL || out_len == NULL)) {
    return KG_E_ARGUMENT;
  }
  if (cap < kg_key_strict_len(p) + 1) {
    return KG_E_BUFFER_TOO_SMALL;
  }
  for (size_t i = 0; i < KG_KEY_RANDOM_CHARS; i++) {
    unsigned char c = (unsigned char)body[i];
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
          (c >= 'a' && c <= 'z'))) {
      return KG_E_ARGUMENT;
    }
  }
  memmove(out + p->prefix_len, body, KG_KEY_RANDOM_CHARS);
  finish_key(p, out, out_len);
  return KG_OK;
}

size_t kg_key_hint(const kg_key_policy *p, const char *key, size_t len,
                   char *out, size_t cap) {
  if (KG_NEVER(out == NULL || (key == NULL && len > 0))) {
    return 0;
  }
  if (key == NULL) {
    key = "";
  }
  size_t shown = 0;
  if (p != NULL && len >= p->prefix_len &&
      memcmp(key, p->prefix, p->prefix_len) == 0) {
    shown = p->prefix_len;
  }
  /* Show the tail only when at least 8 characters stay hidden. */
  size_t tail = (len - shown >= 12) ? 4 : 0;
  size_t need = shown + 4 + tail;
  if (cap < need + 1) {
    return 0;
  }
  size_t n = 0;
  for (size_t i = 0; i < shown; i++) {
    out[n++] = p->prefix[i];
  }
  memcpy(out + n, "****", 4);
  n += 4;
  for (size_t i = len - tail; i < len; i++) {
    unsigned char c = (unsigned char)key[i];
    out[n++] = (char)((c >= 0x21 && c <= 0x7e) ? c : '?');
  }
  out[n] = '\0';
  return n;
}
