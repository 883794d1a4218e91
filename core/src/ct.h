/*
 * ct.h — the constant-time helpers. Nothing else in keygate compares
 * secrets.
 *
 * Rules (after BearSSL's inner.h and libsodium's verify.c):
 *  - A `ctl` argument or result is 0 or 1, never anything else.
 *  - Timing depends on lengths only, never on the bytes compared or copied,
 *    and never on ctl: no branch, no table lookup, no early exit.
 *  - Results are combined with mask arithmetic; a value barrier stops the
 *    compiler from turning the accumulated difference into a branch.
 *  - Branch on a ctl only once the result is final and no longer secret
 *    (e.g. "this request's key matched a stored key").
 * These are internal: core/src only, never installed.
 */
#ifndef KEYGATE_CT_H
#define KEYGATE_CT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__) && !defined(KEYGATE_NO_SIMD)
#include <emmintrin.h>
#endif

/* kg_ct_barrier_u64 — return x, opaque to the optimiser. */
static inline uint64_t kg_ct_barrier_u64(uint64_t x) {
#if defined(__GNUC__) || defined(__clang__)
  __asm__("" : "+r"(x));
  return x;
#else
  volatile uint64_t v = x;
  return v;
#endif
}

/* kg_ct_nonzero_u64 — 1 when x != 0, else 0; no branch. */
static inline uint32_t kg_ct_nonzero_u64(uint64_t x) {
  x = kg_ct_barrier_u64(x);
  return (uint32_t)((x | (0 - x)) >> 63);
}

/* kg_ct_mask_u64 — all ones when ctl is 1, zero when ctl is 0. */
static inline uint64_t kg_ct_mask_u64(uint32_t ctl) {
  return 0 - (uint64_t)kg_ct_barrier_u64(ctl);
}

/* kg_ct_load_u64 — an unaligned little-or-native-endian 8-byte load. */
static inline uint64_t kg_ct_load_u64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

/*
 * kg_ct_eq32 — 1 when the 32 bytes at a and b are equal, else 0.
 * Timing: constant. With SSE2: two 16-byte XORs OR-ed together, one
 * compare against zero and a movemask, folded to 0/1 with arithmetic; the
 * scalar twin does four 8-byte XORs.
 */
static inline uint32_t kg_ct_eq32(const uint8_t *a, const uint8_t *b) {
#if defined(__SSE2__) && !defined(KEYGATE_NO_SIMD)
  __m128i d = _mm_or_si128(
      _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)a),
                    _mm_loadu_si128((const __m128i *)(const void *)b)),
      _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(a + 16)),
                    _mm_loadu_si128((const __m128i *)(const void *)(b + 16))));
  /* 0xFFFF when every byte of d is zero */
  uint32_t m =
      (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(d, _mm_setzero_si128()));
  return kg_ct_nonzero_u64((uint64_t)(m ^ 0xFFFFu)) ^ 1u;
#else
  uint64_t d = 0;
  for (size_t i = 0; i < 32; i += 8) {
    d |= kg_ct_load_u64(a + i) ^ kg_ct_load_u64(b + i);
  }
  return kg_ct_nonzero_u64(d) ^ 1u;
#endif
}

/*
 * kg_ct_wipe — zero p[0..len) in a way the compiler may not drop (a memory
 * barrier after memset, as libsodium's sodium_memzero falls back to).
 * Cheaper than OPENSSL_cleanse's call through a volatile function pointer on
 * the request path.
 */
static inline void kg_ct_wipe(void *p, size_t len) {
  memset(p, 0, len);
#if defined(__GNUC__) || defined(__clang__)
  __asm__ __volatile__("" : : "r"(p) : "memory");
#else
  volatile unsigned char *v = p;
  for (size_t i = 0; i < len; i++) {
    v[i] = 0;
  }
#endif
}

/*
 * kg_ct_eq — 1 when a[0..len) equals b[0..len), else 0, through OpenSSL's
 * CRYPTO_memcmp. Timing: depends on len only. For inputs of unequal
 * length compare the lengths first (lengths are not secret here).
 */
uint32_t kg_ct_eq(const void *a, const void *b, size_t len);

#endif /* KEYGATE_CT_H */
