/*
 * urlscan.h — the URL scan's sixteen-byte step and its idle escapes,
 * shared by credential.c (which owns the scan: kg_credential_url) and
 * digest.c, whose SHA rounds run the step in their shadow (internal;
 * issue 14).
 *
 * A request's decision waits on the digest: 32 SHA256RNDS2 that wait on
 * each other. Work the core runs beside them is nearly free; work before
 * or after them is not, and neither is a block of work between two halves
 * of them, which fills the reorder buffer while the first half's rounds
 * wait (docs/benchmarks.md, the nineteenth session). So where the CPU has
 * the SHA extensions, the digest's sixteen round groups each run one
 * sixteen-byte step of the target's scan, and the first four one of the
 * Host's: the stop bits (credential.c's url_chunk, by nibble tables), with
 * the escapes that need no work (kg_url_idle_escape) taken out. The work
 * at the stops that remain is kg_url_job_finish's, after the digest: most
 * requests have none.
 *
 * The step uses 128-bit vectors only. The SHA instructions have no VEX
 * form, and a legacy-SSE instruction run while a 256-bit register's upper
 * half is dirty cost ~100 ns here (a measured KVM guest of a Zen 3 EPYC),
 * so nothing of AVX's 256-bit width may run among the rounds.
 */
#ifndef KEYGATE_URLSCAN_H
#define KEYGATE_URLSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "chars.h"
#include "cpu.h"
#include "keygate/span.h"

#if defined(__SSE2__) && !defined(KEYGATE_NO_SIMD)
#include <emmintrin.h>
#endif
#ifdef KG_CPU_X86_DISPATCH
#include <immintrin.h>
#endif

/* The longest target and Host whose stops the digest's rounds find:
 * sixteen steps, one a round group, and four beside the first four. */
#define KG_URL_JOB_TARGET_MAX 256
#define KG_URL_JOB_HOST_MAX 64

/* Where kg_url_scan_prepare puts what the step reads in a policy's
 * url_scan (KG_KEY_URL_SCAN_BYTES), 16 bytes each: f1 in every lane, and
 * the nibble tables tid and texp (kg_url_step); */
#define KG_URL_K_F1 16
#define KG_URL_K_TID 56
#define KG_URL_K_TEXP 72
/* and, as bytes: the prefix's first two characters (p0 at KG_URL_K_BYTES,
 * p1 two on), and 1 at KG_URL_K_WIDE where the nibble tables hold them */
#define KG_URL_K_BYTES 48
#define KG_URL_K_WIDE 53

/*
 * kg_url_job — a URL's scan done in the digest's shadow: set by
 * kg_url_job_init (credential.c), its stop bits written by kg_digest_scan
 * (digest.c), worked through by kg_url_job_finish (credential.c). Bit k of
 * target_stops[w] is position 64 w + k of the target, bit k of host_stops
 * position k of the Host; a bit is set where the scan's work starts, as
 * url_chunk's are, except at an escape kg_url_idle_escape passes over.
 */
typedef struct kg_url_job {
  kg_span target;              /* at most KG_URL_JOB_TARGET_MAX bytes */
  kg_span host;                /* the first Host, at most _HOST_MAX; or 0 */
  const unsigned char *tables; /* the policy's url_scan (KG_URL_K_*) */
  unsigned p0, p1;             /* the prefix's first two characters, lower */
  uint64_t target_stops[KG_URL_JOB_TARGET_MAX / 64];
  uint64_t host_stops;
} kg_url_job;

/*
 * kg_url_idle_escape — 1 when the stop at s[i] (i < n) needs no work: a
 * '%' whose escape is valid and stands for a byte that no rule looks for:
 * not '%' (a second encoding), not the prefix's first or second character
 * (p0, p1), not a letter or '_' (0x41-0x7f holds every character of the
 * names). No spelling of the prefix starts at it or holds it as its second
 * character, and a name holding it spells none of the key-carrying names.
 */
static inline __attribute__((always_inline)) int
kg_url_idle_escape(const char *s, size_t n, size_t i, unsigned p0,
                   unsigned p1) {
  if (i + 2 >= n || s[i] != '%') {
    return 0;
  }
  int hi = kg_hex_value((unsigned char)s[i + 1]);
  int lo = kg_hex_value((unsigned char)s[i + 2]);
  if ((hi | lo) < 0) {
    return 0;
  }
  unsigned d = (unsigned)(hi * 16 + lo);
  return d != '%' && d != p0 && d != p1 && d - 0x41u >= 0x3fu;
}

/* The stop bits m of s[at..at+64) (of a span of n bytes) without those
 * kg_url_idle_escape passes over. */
static inline __attribute__((always_inline)) uint64_t
kg_url_busy_stops(const char *s, size_t n, size_t at, uint64_t m, unsigned p0,
                  unsigned p1) {
  for (uint64_t b = m; b != 0; b &= b - 1) {
    unsigned k = (unsigned)__builtin_ctzll(b);
    if (kg_url_idle_escape(s, n, at + k, p0, p1)) {
      m &= ~((uint64_t)1 << k);
    }
  }
  return m;
}

#if defined(__SSE2__) && !defined(KEYGATE_NO_SIMD)
/* s[0..n), n < 16, zero-padded into one vector, read with loads inside
 * s[0..n) only. */
static inline __attribute__((always_inline)) __m128i
kg_url_load_short(const char *s, size_t n) {
  uint64_t lo = 0;
  uint64_t hi = 0;
  if (n >= 8) {
    __builtin_memcpy(&lo, s, 8);
    if (n > 8) {
      __builtin_memcpy(&hi, s + n - 8, 8);
      hi >>= 8 * (16 - n);
    }
  } else if (n >= 4) {
    uint32_t a;
    uint32_t b;
    __builtin_memcpy(&a, s, 4);
    __builtin_memcpy(&b, s + n - 4, 4);
    lo = a | (((uint64_t)b >> (8 * (8 - n))) << 32);
  } else {
    for (size_t i = 0; i < n; i++) {
      lo |= (uint64_t)(unsigned char)s[i] << (8 * i);
    }
  }
  return _mm_set_epi64x((long long)hi, (long long)lo);
}

#endif

#ifdef KG_CPU_X86_DISPATCH
#define KG_URLSCAN_TARGET __attribute__((target("ssse3")))

/*
 * kg_url_step — the stop bits of the sixteen bytes v, given the bytes one
 * position on (vn): credential.c's url_step_avx2 at half its width. A
 * lane's byte folded (lv = v | 0x20) picks by its low nibble (pshufb) the
 * one folded byte of its class (tid: p0 | 0x20, 'y' or 'n') and the next
 * byte that class wants (texp: p1, or '='); where both are there the lane
 * stops; a '%' stops by its own compare.
 */
static inline __attribute__((always_inline)) KG_URLSCAN_TARGET unsigned
kg_url_step(__m128i v, __m128i vn, __m128i tid, __m128i texp, __m128i f1) {
  __m128i lv = _mm_or_si128(v, _mm_set1_epi8(0x20));
  __m128i id = _mm_cmpeq_epi8(_mm_shuffle_epi8(tid, lv), lv);
  __m128i nx = _mm_cmpeq_epi8(_mm_shuffle_epi8(texp, lv), _mm_or_si128(vn, f1));
  __m128i pc = _mm_cmpeq_epi8(v, _mm_set1_epi8('%'));
  return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_and_si128(id, nx), pc));
}

/*
 * kg_url_span_step — the stop bits of step k of a span (positions 16 k ..
 * 16 k + 16, those inside it), its escapes that need no work taken out: a
 * step whose next byte is inside the span by two loads; the last, when the
 * span holds sixteen bytes, by the sixteen that end it shifted by a byte
 * (a zero after the last) without the positions seen; a span under
 * sixteen bytes zero-padded (kg_url_load_short). Loads inside the span
 * only. 0 past the span.
 */
static inline __attribute__((always_inline)) KG_URLSCAN_TARGET uint64_t
kg_url_span_step(kg_span sp, size_t k, unsigned p0, unsigned p1, __m128i tid,
                 __m128i texp, __m128i f1) {
  const char *s = sp.ptr;
  const size_t n = sp.len;
  const size_t q = 16 * k;
  unsigned bits;
  if (q + 16 < n) {
    bits =
        kg_url_step(_mm_loadu_si128((const __m128i *)(const void *)(s + q)),
                    _mm_loadu_si128((const __m128i *)(const void *)(s + q + 1)),
                    tid, texp, f1);
  } else if (q < n) {
    __m128i v =
        n >= 16 ? _mm_loadu_si128((const __m128i *)(const void *)(s + n - 16))
                : kg_url_load_short(s, n);
    bits = kg_url_step(v, _mm_srli_si128(v, 1), tid, texp, f1);
    if (n >= 16) {
      bits >>= 16 - (n - q);
    }
  } else {
    return 0;
  }
  return bits != 0 ? kg_url_busy_stops(s, n, q, bits, p0, p1) : 0;
}
#endif

#endif /* KEYGATE_URLSCAN_H */
