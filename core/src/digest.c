/*
 * digest.c — SHA-256 and HMAC-SHA-256 of keys, allocation-free per call.
 *
 * Why the low-level SHA256_* functions and not EVP_DigestInit_ex2: with
 * OpenSSL 3.0 (Debian 12), re-initialising an EVP_MD_CTX frees and
 * re-creates the provider's context, one malloc per call even with the
 * EVP_MD fetched once (measured; see docs/benchmarks.md), and the one-shot
 * EVP_Digest also fetches the algorithm every time. SHA256_CTX is a plain
 * caller-owned struct running the same assembly (SHA-NI where present), so
 * a digest costs the compression function and nothing else, and HMAC's
 * inner and outer pads are absorbed once and copied per call.
 *
 * A key fits one SHA-256 block with its padding (at most 55 bytes; an
 * sk_live_ key is 46), so the request path pads that block itself and runs
 * the compression function once (SHA256_Transform) from a saved state: the
 * SHA-256 IV, or HMAC's absorbed pads. That skips SHA256_Update's buffering
 * and SHA256_Final's second padding pass and OPENSSL_cleanse call, about a
 * fifth of a digest's instructions (docs/benchmarks.md). Longer keys take
 * SHA256_Update/Final. Both paths run the same compression function.
 *
 * At construction a digester of the same kind, with a fixed pepper when
 * keyed, is checked on both paths against the provider's SHA-256
 * (EVP_MD_fetch, once) or HMAC, so a build whose low-level functions
 * disagree with the configured provider is refused rather than silently
 * wrong; the verdict depends on no secret.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "keygate/digest.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "ct.h"
#include "defensive.h"
#include "hotpath.h"

#ifdef KG_CPU_X86_DISPATCH
#include <immintrin.h>
#endif

#if defined(__SSE2__) && !defined(KEYGATE_NO_SIMD)
#include <emmintrin.h>
#define KG_DIGEST_SSE2 1
#endif

#define SHA256_BLOCK 64
/* The longest message whose padding (0x80, the 8-byte length) fits in the
 * same block. */
#define ONE_BLOCK_MAX (SHA256_BLOCK - 1 - 8)

struct kg_digester {
  int keyed;
  kg_digest_impl impl; /* KG_DIGEST_BUILTIN or KG_DIGEST_EVP */
  SHA256_CTX plain;    /* SHA256_Init's state: the IV (plain SHA-256 only) */
  uint32_t sha_iv[8];  /* plain's IV as ABEF, CDGH (sha_arrange) */
  SHA256_CTX inner;    /* after absorbing key ^ ipad (HMAC only) */
  SHA256_CTX outer;    /* after absorbing key ^ opad (HMAC only) */
  /* The provider path (KG_DIGEST_EVP) only: */
  EVP_MD *md;       /* SHA-256, fetched once */
  EVP_MAC_CTX *mac; /* HMAC keyed with the pepper (keyed only) */
  uint64_t serial;  /* tells this digester's per-thread contexts apart */
};

/* ---- the one-block path -------------------------------------------------- */

#if defined(__GNUC__) || defined(__clang__)
#define KG_DIGEST_INLINE static inline __attribute__((always_inline))
#else
#define KG_DIGEST_INLINE static inline
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* One byte swap and one store each (a byte-wise loop here is what GCC's
 * vectoriser turns into a hundred shuffles). */
static void store_be64(uint8_t *p, uint64_t v) {
  v = __builtin_bswap64(v);
  memcpy(p, &v, sizeof v);
}
#else
static void store_be64(uint8_t *p, uint64_t v) {
  for (size_t i = 0; i < 8; i++) {
    p[i] = (uint8_t)(v >> (56 - 8 * i));
  }
}
#endif

/*
 * store_digest — out = the chaining value h as the big-endian digest. With
 * SSE2 two 16-byte stores (the bytes of each 32-bit lane swapped with
 * shifts), else 8-byte stores: the lookup that follows reads the digest in
 * 8- and 16-byte loads, and a load that spans several smaller stores
 * cannot take its bytes from the store buffer (a store-forwarding stall of
 * ~15 cycles, measured as the costliest instruction of kg_index_lookup).
 */
static void store_digest(uint8_t out[KG_DIGEST_LEN], const uint32_t h[8]) {
#if defined(KG_DIGEST_SSE2)
  for (size_t i = 0; i < 2; i++) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(h + 4 * i));
    /* swap the bytes of each 16-bit half, then the halves of each lane */
    v = _mm_or_si128(_mm_slli_epi16(v, 8), _mm_srli_epi16(v, 8));
    v = _mm_shufflehi_epi16(_mm_shufflelo_epi16(v, 0xB1), 0xB1);
    _mm_storeu_si128((__m128i *)(void *)(out + 16 * i), v);
  }
#else
  for (size_t i = 0; i < 4; i++) {
    store_be64(out + 8 * i, ((uint64_t)h[2 * i] << 32) | h[2 * i + 1]);
  }
#endif
}

#if defined(KG_DIGEST_SSE2)
static uint64_t load_le64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

/*
 * fill_block — the padded block of msg[0..len), 8 <= len <= ONE_BLOCK_MAX,
 * with bitlen in its last 8 bytes, written with four 16-byte stores
 * (SSE2 means x86, little-endian). SHA256_Transform reads the block in
 * 16-byte loads right away; a block made by memset, memcpy and byte stores
 * makes those loads span several stores, which the store buffer cannot
 * forward (a stall of ~15 cycles each, a fifth of kg_digest's time here).
 * The words come from 8-byte loads inside msg only (the last one ends at
 * msg + len and is shifted down), so nothing past msg is read. Branches
 * depend on len only.
 */
/* fill_words — fill_block's stores for a message of `full` whole words
 * (a constant where it is inlined, so each word is a load, the tail or 0
 * with no test) and its last word `tail` (the message's last bytes and
 * 0x80). */
KG_DIGEST_INLINE void fill_words(unsigned char block[SHA256_BLOCK],
                                 const unsigned char *msg, size_t full,
                                 uint64_t tail, uint64_t bitlen) {
  uint64_t w[8];
#define KG_WORD(k)                                                             \
  ((k) < full ? load_le64(msg + (size_t)8 * (k)) : (k) == full ? tail : 0)
  w[0] = KG_WORD(0);
  w[1] = KG_WORD(1);
  w[2] = KG_WORD(2);
  w[3] = KG_WORD(3);
  w[4] = KG_WORD(4);
  w[5] = KG_WORD(5);
  w[6] = KG_WORD(6);
#undef KG_WORD
  w[7] = __builtin_bswap64(bitlen);
  for (size_t i = 0; i < 4; i++) {
    _mm_storeu_si128(
        (__m128i *)(void *)(block + 16 * i),
        _mm_set_epi64x((long long)w[2 * i + 1], (long long)w[2 * i]));
  }
}

KG_DIGEST_INLINE void fill_block(unsigned char block[SHA256_BLOCK],
                                 const unsigned char *msg, size_t len,
                                 uint64_t bitlen) {
  unsigned rem = (unsigned)(len % 8);
  uint64_t tail = (uint64_t)0x80 << (8 * rem);
  if (rem != 0) {
    tail |= load_le64(msg + len - 8) >> (8 * (8 - rem));
  }
  /* One jump on the number of whole words (len only), then straight-line
   * loads: a chain of compares, one per word, cost more. */
  switch (len / 8) {
  case 1:
    fill_words(block, msg, 1, tail, bitlen);
    break;
  case 2:
    fill_words(block, msg, 2, tail, bitlen);
    break;
  case 3:
    fill_words(block, msg, 3, tail, bitlen);
    break;
  case 4:
    fill_words(block, msg, 4, tail, bitlen);
    break;
  case 5:
    fill_words(block, msg, 5, tail, bitlen);
    break;
  default: /* 6: len <= ONE_BLOCK_MAX */
    fill_words(block, msg, 6, tail, bitlen);
    break;
  }
}
#endif

#ifdef KG_CPU_X86_DISPATCH
/* FIPS 180-4 §4.2.2's round constants, four a round group. */
static const uint32_t sha256_k[64] __attribute__((aligned(16))) = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu,
    0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u, 0xd807aa98u, 0x12835b01u,
    0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u,
    0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu,
    0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u,
    0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u,
    0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
    0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u,
    0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u, 0x1e376c08u,
    0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu,
    0x682e6ff3u, 0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u,
    0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u};

#define KG_SHA_TARGET __attribute__((target("sha,sse4.1")))

/* one_block_sha's windows for a 32- to 47-byte message's third word
 * (loaded at 48 - len): the shuffle index i + 48 - len while below 16,
 * else 0x80 (a zero lane); the pad byte 0x80 at lane len - 32. */
static const unsigned char tail_shuffle[32] = {
    0,    1,    2,    3,    4,    5,    6,    7,    8,    9,    10,
    11,   12,   13,   14,   15,   0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};
static const unsigned char tail_pad[32] = {[16] = 0x80};

/* Four rounds of the group g: two SHA256RNDS2, the message words plus
 * the constants in the low then the high half. abef and cdgh as the
 * instruction wants them (A in the high lane). */
#define KG_SHA_ROUNDS(g, m)                                                    \
  do {                                                                         \
    const uint32_t *kg_k = sha256_k + (size_t)4 * (g);                         \
    __m128i kw = _mm_add_epi32(                                                \
        (m), _mm_load_si128((const __m128i *)(const void *)kg_k));             \
    cdgh = _mm_sha256rnds2_epu32(cdgh, abef, kw);                              \
    abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(kw, 0x0E));     \
  } while (0)

/*
 * sha_arrange — a chaining value h0..h7 as SHA256RNDS2 wants it: ABEF
 * (h5, h4, h1, h0 from the low lane up) then CDGH (h7, h6, h3, h2). Made
 * once for the digester's IV (kg_digester_new_ex), per call for a state
 * from elsewhere (HMAC's pads).
 */
static void sha_arrange(const uint32_t h[8], uint32_t state[8]) {
  static const unsigned char from[8] = {5, 4, 1, 0, 7, 6, 3, 2};
  for (size_t i = 0; i < 8; i++) {
    state[i] = h[from[i]];
  }
}

/* the bytes of each 32-bit lane reversed: the words are big-endian */
#define KG_SHA_BSWAP                                                           \
  _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3)

/*
 * sha_lanes — what the SHA extensions hold while a block is compressed:
 * the working state as SHA256RNDS2 wants it, and the message schedule's
 * last sixteen words (W[4g-16..4g) before group g), four in each of m0..m3,
 * oldest first. A local of the always-inline functions below: registers.
 */
typedef struct sha_lanes {
  __m128i abef, cdgh;
  __m128i m0, m1, m2, m3;
} sha_lanes;

/*
 * sha_groups — the round groups [from, to) of a block (four rounds a
 * group, 0 <= from < to <= 16): groups 0-3 take the message's words as
 * they are, each later one the words made from the sixteen before them
 * (FIPS 180-4 §6.2.2). W[t-7] for the four is c's lanes 1-3 and d's lane
 * 0; SHA256MSG2 adds sigma1 of d's lanes 2-3 to its first two lanes, then
 * sigma1 of those two to its last two, so d's lane 0, which belongs in its
 * last lane only, is added after it instead of before (the usual alignr of
 * d and c): each group's words then wait on the group before by
 * SHA256MSG2 and one add, not by an alignr, an add and SHA256MSG2 (two
 * more instructions a step, none on that chain). Measured faster on an
 * EPYC of family 1Ah (Zen 5: the digest's latency ~4 ns less); why is not
 * settled: the two chains' latencies measured alone do not explain it
 * (docs/benchmarks.md, the twelfth session).
 */
#define KG_SHA_NEXT(a, b, c, d)                                                \
  _mm_add_epi32(                                                               \
      _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32((a), (b)),       \
                                         _mm_srli_si128((c), 4)),              \
                           (d)),                                               \
      _mm_slli_si128((d), 12))
static inline __attribute__((always_inline)) KG_SHA_TARGET void
sha_groups(sha_lanes *l, size_t from, size_t to) {
  __m128i abef = l->abef;
  __m128i cdgh = l->cdgh;
  __m128i m0 = l->m0;
  __m128i m1 = l->m1;
  __m128i m2 = l->m2;
  __m128i m3 = l->m3;
  if (from == 0) {
    KG_SHA_ROUNDS(0, m0);
    KG_SHA_ROUNDS(1, m1);
    KG_SHA_ROUNDS(2, m2);
    KG_SHA_ROUNDS(3, m3);
    from = 4;
  }
  for (size_t g = from; g < to; g += 4) {
    m0 = KG_SHA_NEXT(m0, m1, m2, m3);
    KG_SHA_ROUNDS(g, m0);
    m1 = KG_SHA_NEXT(m1, m2, m3, m0);
    KG_SHA_ROUNDS(g + 1, m1);
    m2 = KG_SHA_NEXT(m2, m3, m0, m1);
    KG_SHA_ROUNDS(g + 2, m2);
    m3 = KG_SHA_NEXT(m3, m0, m1, m2);
    KG_SHA_ROUNDS(g + 3, m3);
  }
  l->abef = abef;
  l->cdgh = cdgh;
  l->m0 = m0;
  l->m1 = m1;
  l->m2 = m2;
  l->m3 = m3;
}

/* sha_finish — the chaining value (as sha_arrange leaves it) added to the
 * state after the last group, stored as the digest with two 16-byte
 * stores: back to h0..h3 and h4..h7, each word's bytes big-endian. */
static inline __attribute__((always_inline)) KG_SHA_TARGET void
sha_finish(const uint32_t state[8], const sha_lanes *l,
           uint8_t out[KG_DIGEST_LEN]) {
  const __m128i bswap = KG_SHA_BSWAP;
  __m128i abef = _mm_add_epi32(
      l->abef, _mm_loadu_si128((const __m128i *)(const void *)state));
  __m128i cdgh = _mm_add_epi32(
      l->cdgh, _mm_loadu_si128((const __m128i *)(const void *)(state + 4)));
  __m128i t = _mm_shuffle_epi32(abef, 0x1B); /* A B E F */
  cdgh = _mm_shuffle_epi32(cdgh, 0xB1);      /* G H C D */
  __m128i lo = _mm_blend_epi16(t, cdgh, 0xF0);
  __m128i hi = _mm_alignr_epi8(cdgh, t, 8);
  _mm_storeu_si128((__m128i *)(void *)out, _mm_shuffle_epi8(lo, bswap));
  _mm_storeu_si128((__m128i *)(void *)(out + 16), _mm_shuffle_epi8(hi, bswap));
}

/*
 * sha_rounds — the compression of one block by the SHA extensions, its
 * four 16-byte words of message schedule m0..m3 (as words) in registers,
 * from the chaining value as sha_arrange leaves it; the digest stored.
 * Inlined in both of one_block_sha's entries.
 */
static inline __attribute__((always_inline)) KG_SHA_TARGET void
sha_rounds(const uint32_t state[8], __m128i m0, __m128i m1, __m128i m2,
           __m128i m3, uint8_t out[KG_DIGEST_LEN]) {
  sha_lanes l;
  l.abef = _mm_loadu_si128((const __m128i *)(const void *)state);
  l.cdgh = _mm_loadu_si128((const __m128i *)(const void *)(state + 4));
  l.m0 = m0;
  l.m1 = m1;
  l.m2 = m2;
  l.m3 = m3;
  sha_groups(&l, 0, 16);
  sha_finish(state, &l, out);
}

/*
 * sha_mid_words — the block of a message of 32 to 47 bytes (an sk_live_
 * key's 46), built in registers as m0..m3: loaded as three 16-byte words
 * inside it, the last one ending at its end and moved into place by a
 * shuffle (its pad byte OR-ed in). Lane i of the third word is byte 32 +
 * i: lane i + 48 - len of the load that ends at the message's end; past
 * the end a zero, at lane len - 32 the 0x80. Both from a window of a
 * constant (the shuffle index, its high bit set for a zero lane; the pad
 * byte), at an offset that depends on len only.
 */
static inline __attribute__((always_inline)) KG_SHA_TARGET void
sha_mid_words(const void *msg, size_t len, uint64_t bitlen, sha_lanes *l) {
  const unsigned char *p = msg;
  const __m128i bswap = KG_SHA_BSWAP;
  const size_t sh = 48 - len; /* 1..16 */
  __m128i m2 = _mm_shuffle_epi8(
      _mm_loadu_si128((const __m128i *)(const void *)(p + len - 16)),
      _mm_loadu_si128((const __m128i *)(const void *)(tail_shuffle + sh)));
  m2 = _mm_or_si128(
      m2, _mm_loadu_si128((const __m128i *)(const void *)(tail_pad + sh)));
  l->m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)p),
                           bswap);
  l->m1 = _mm_shuffle_epi8(
      _mm_loadu_si128((const __m128i *)(const void *)(p + 16)), bswap);
  l->m2 = _mm_shuffle_epi8(m2, bswap);
  /* W14 = bitlen >> 32 and W15 its low half, as words: no swap */
  l->m3 = _mm_slli_si128(
      _mm_cvtsi64_si128((long long)((bitlen << 32) | (bitlen >> 32))), 8);
}

/*
 * one_block_sha_mid — one_block by the SHA extensions for a message of 32
 * to 47 bytes (sha_mid_words). No stack frame and no memory but the
 * message, the constants and the digest: kg_digest jumps here (a tail
 * call). No branch and no address depends on the message's bytes.
 * KG_CPU_SHA only.
 */
static KG_SHA_TARGET kg_status one_block_sha_mid(const uint32_t state[8],
                                                 const void *msg, size_t len,
                                                 uint64_t bitlen,
                                                 uint8_t out[KG_DIGEST_LEN]) {
  sha_lanes l;
  sha_mid_words(msg, len, bitlen, &l);
  l.abef = _mm_loadu_si128((const __m128i *)(const void *)state);
  l.cdgh = _mm_loadu_si128((const __m128i *)(const void *)(state + 4));
  sha_groups(&l, 0, 16);
  sha_finish(state, &l, out);
  return KG_OK;
}

/*
 * sha_mid_scan — one_block_sha_mid with a URL's scan among its rounds
 * (kg_digest_scan; urlscan.h): step k of the target, and for k < 4 of the
 * Host, after round group first + k. Sixteen steps of sixteen bytes hold
 * a target of KG_URL_JOB_TARGET_MAX, four a Host of KG_URL_JOB_HOST_MAX.
 * A step is about a dozen vector instructions and one group's two rounds
 * wait ~8 cycles on the group before, so the steps run beside the rounds.
 * Against the AVX2 scan as one block between two halves of the rounds
 * (the eighteenth session's build) the browser heads' decision read
 * 12-15 % cheaper and the API heads' the same (docs/benchmarks.md, the
 * nineteenth session). Only 128-bit vectors (urlscan.h says why). The
 * working state and the message stay in registers (gcc 12 spills only the
 * IV's second half, which is public); nothing is stored but the digest
 * and the job's stop bits.
 */
#define KG_SHA_GROUP(g, a, b, c, d)                                            \
  do {                                                                         \
    (a) = KG_SHA_NEXT(a, b, c, d);                                             \
    KG_SHA_ROUNDS(g, a);                                                       \
  } while (0)
/* Step k = g - first of the target and, for k < 4, of the Host, while
 * k < steps (first and steps are constants in each copy below). */
#define KG_JOB_STEP(g)                                                         \
  do {                                                                         \
    if ((g) >= first && (g)-first < steps) {                                   \
      const size_t k = (g)-first;                                              \
      ts[k / 4] |= kg_url_span_step(target, k, p0, p1, tid, texp, f1)          \
                   << (16 * (k % 4));                                          \
      if (k < KG_URL_JOB_HOST_MAX / 16) {                                      \
        hs |= kg_url_span_step(host, k, p0, p1, tid, texp, f1)                 \
              << (16 * (k % 4));                                               \
      }                                                                        \
    }                                                                          \
  } while (0)
_Static_assert(KG_URL_JOB_TARGET_MAX == 16 * 16 && KG_URL_JOB_HOST_MAX <= 64,
               "sha_mid_scan's steps hold the job's spans");

static inline __attribute__((always_inline)) KG_SHA_TARGET void
sha_mid_scan(const uint32_t state[8], const void *msg, size_t len,
             kg_url_job *job, const size_t first, const size_t steps,
             uint8_t out[KG_DIGEST_LEN]) {
  sha_lanes l;
  sha_mid_words(msg, len, (uint64_t)len * 8u, &l);
  __m128i abef = _mm_loadu_si128((const __m128i *)(const void *)state);
  __m128i cdgh = _mm_loadu_si128((const __m128i *)(const void *)(state + 4));
  __m128i m0 = l.m0;
  __m128i m1 = l.m1;
  __m128i m2 = l.m2;
  __m128i m3 = l.m3;
  const kg_span target = job->target;
  const kg_span host = job->host;
  const unsigned p0 = job->p0;
  const unsigned p1 = job->p1;
  const unsigned char *t = job->tables;
  const __m128i tid =
      _mm_loadu_si128((const __m128i *)(const void *)(t + KG_URL_K_TID));
  const __m128i texp =
      _mm_loadu_si128((const __m128i *)(const void *)(t + KG_URL_K_TEXP));
  const __m128i f1 =
      _mm_loadu_si128((const __m128i *)(const void *)(t + KG_URL_K_F1));
  uint64_t ts[KG_URL_JOB_TARGET_MAX / 64] = {0, 0, 0, 0};
  uint64_t hs = 0;
  KG_SHA_ROUNDS(0, m0);
  KG_JOB_STEP(0);
  KG_SHA_ROUNDS(1, m1);
  KG_JOB_STEP(1);
  KG_SHA_ROUNDS(2, m2);
  KG_JOB_STEP(2);
  KG_SHA_ROUNDS(3, m3);
  KG_JOB_STEP(3);
  KG_SHA_GROUP(4, m0, m1, m2, m3);
  KG_JOB_STEP(4);
  KG_SHA_GROUP(5, m1, m2, m3, m0);
  KG_JOB_STEP(5);
  KG_SHA_GROUP(6, m2, m3, m0, m1);
  KG_JOB_STEP(6);
  KG_SHA_GROUP(7, m3, m0, m1, m2);
  KG_JOB_STEP(7);
  KG_SHA_GROUP(8, m0, m1, m2, m3);
  KG_JOB_STEP(8);
  KG_SHA_GROUP(9, m1, m2, m3, m0);
  KG_JOB_STEP(9);
  KG_SHA_GROUP(10, m2, m3, m0, m1);
  KG_JOB_STEP(10);
  KG_SHA_GROUP(11, m3, m0, m1, m2);
  KG_JOB_STEP(11);
  KG_SHA_GROUP(12, m0, m1, m2, m3);
  KG_JOB_STEP(12);
  KG_SHA_GROUP(13, m1, m2, m3, m0);
  KG_JOB_STEP(13);
  KG_SHA_GROUP(14, m2, m3, m0, m1);
  KG_JOB_STEP(14);
  KG_SHA_GROUP(15, m3, m0, m1, m2);
  KG_JOB_STEP(15);
  l.abef = abef;
  l.cdgh = cdgh;
  sha_finish(state, &l, out);
  for (size_t w = 0; w < KG_URL_JOB_TARGET_MAX / 64; w++) {
    job->target_stops[w] = ts[w];
  }
  job->host_stops = hs;
}

/* sha_mid_scan for a target of up to 64 bytes (an API's: four steps,
 * after groups 8-11, where the halves had the scan; 1-2 % cheaper than
 * after groups 0-3) and for one of up to KG_URL_JOB_TARGET_MAX (a
 * browser's: sixteen, after every group). */
static KG_SHA_TARGET void sha_mid_scan_short(const uint32_t state[8],
                                             const void *msg, size_t len,
                                             kg_url_job *job,
                                             uint8_t out[KG_DIGEST_LEN]) {
  sha_mid_scan(state, msg, len, job, 8, 4, out);
}

static KG_SHA_TARGET void sha_mid_scan_long(const uint32_t state[8],
                                            const void *msg, size_t len,
                                            kg_url_job *job,
                                            uint8_t out[KG_DIGEST_LEN]) {
  sha_mid_scan(state, msg, len, job, 0, 16, out);
}
#undef KG_JOB_STEP
#undef KG_SHA_GROUP
#undef KG_SHA_NEXT

/*
 * one_block_sha — one_block by the SHA extensions for any length up to
 * ONE_BLOCK_MAX: 32 to 47 bytes by one_block_sha_mid, any other from a
 * block in memory (fill_block, or byte stores under 8 bytes), wiped after.
 * Nothing of the message or the state is left in memory but the digest.
 */
static KG_SHA_TARGET void one_block_sha(const uint32_t h[8], const void *msg,
                                        size_t len, uint64_t bitlen,
                                        uint8_t out[KG_DIGEST_LEN]) {
  uint32_t state[8];
  sha_arrange(h, state);
  if (len >= 32 && len < 48) {
    (void)one_block_sha_mid(state, msg, len, bitlen, out);
    kg_ct_wipe(state, sizeof state);
    return;
  }
  const unsigned char *p = msg;
  const __m128i bswap = KG_SHA_BSWAP;
  unsigned char block[SHA256_BLOCK];
  if (len >= 8) {
    fill_block(block, p, len, bitlen);
  } else {
    memset(block, 0, sizeof block);
    if (len > 0) {
      memcpy(block, p, len);
    }
    block[len] = 0x80;
    store_be64(block + ONE_BLOCK_MAX + 1, bitlen);
  }
  __m128i m0 = _mm_loadu_si128((const __m128i *)(const void *)block);
  __m128i m1 = _mm_loadu_si128((const __m128i *)(const void *)(block + 16));
  __m128i m2 = _mm_loadu_si128((const __m128i *)(const void *)(block + 32));
  __m128i m3 = _mm_loadu_si128((const __m128i *)(const void *)(block + 48));
  kg_ct_wipe(block, sizeof block);
  sha_rounds(state, _mm_shuffle_epi8(m0, bswap), _mm_shuffle_epi8(m1, bswap),
             _mm_shuffle_epi8(m2, bswap), _mm_shuffle_epi8(m3, bswap), out);
  kg_ct_wipe(state, sizeof state);
}
#undef KG_SHA_BSWAP
#undef KG_SHA_ROUNDS
#endif

/*
 * one_block — out = the SHA-256 that continues `from` (whose state has
 * absorbed `prior` bytes, a multiple of the block size) with msg[0..len),
 * len <= ONE_BLOCK_MAX, as its last block (FIPS 180-4 §5.1.1 padding).
 * Timing: depends on len only. Wipes its copies of the message and state.
 */
KG_DIGEST_INLINE void one_block(const SHA256_CTX *from, const void *msg,
                                size_t len, uint64_t prior,
                                uint8_t out[KG_DIGEST_LEN]) {
#ifdef KG_CPU_X86_DISPATCH
  if ((kg_cpu() & KG_CPU_SHA) != 0) {
    one_block_sha(from->h, msg, len, (prior + len) * 8u, out);
    return;
  }
#endif
  unsigned char block[SHA256_BLOCK];
  SHA256_CTX c;
  /* SHA256_Transform reads and writes the chaining value h only. */
  memcpy(c.h, from->h, sizeof c.h);
#if defined(KG_DIGEST_SSE2)
  if (len >= 8) {
    fill_block(block, (const unsigned char *)msg, len, (prior + len) * 8u);
  } else
#endif
  {
    memset(block, 0, sizeof block);
    if (len > 0) {
      memcpy(block, msg, len);
    }
    block[len] = 0x80;
    store_be64(block + ONE_BLOCK_MAX + 1, (prior + len) * 8u);
  }
  SHA256_Transform(&c, block);
  store_digest(out, c.h);
  kg_ct_wipe(block, sizeof block);
  kg_ct_wipe(c.h, sizeof c.h);
}

/* last_block — one_block out of line, for HMAC and the general path. */
static void last_block(const SHA256_CTX *from, const void *msg, size_t len,
                       uint64_t prior, uint8_t out[KG_DIGEST_LEN]) {
  one_block(from, msg, len, prior, out);
}

/* digest_long — the general path, for keys over ONE_BLOCK_MAX bytes. */
static void digest_long(const kg_digester *d, const char *key, size_t len,
                        uint8_t out[KG_DIGEST_LEN]) {
  SHA256_CTX c;
  if (!d->keyed) {
    SHA256_Init(&c);
    SHA256_Update(&c, key, len);
    SHA256_Final(out, &c);
    return;
  }
  unsigned char inner[KG_DIGEST_LEN];
  c = d->inner;
  SHA256_Update(&c, key, len);
  SHA256_Final(inner, &c);
  last_block(&d->outer, inner, sizeof inner, SHA256_BLOCK, out);
  kg_ct_wipe(inner, sizeof inner);
  kg_ct_wipe(&c, sizeof c);
}

/*
 * set_pepper — absorb pepper ^ ipad and pepper ^ opad into d's HMAC states
 * (RFC 2104). pepper_len is 1..KG_PEPPER_MAX: at most one block, so the
 * pepper is used as is, zero-padded.
 */
static void set_pepper(kg_digester *d, const unsigned char *pepper,
                       size_t pepper_len) {
  unsigned char ipad[SHA256_BLOCK];
  unsigned char opad[SHA256_BLOCK];
  memset(ipad, 0x36, sizeof ipad);
  memset(opad, 0x5c, sizeof opad);
  for (size_t i = 0; i < pepper_len; i++) {
    ipad[i] ^= pepper[i];
    opad[i] ^= pepper[i];
  }
  SHA256_Init(&d->inner);
  SHA256_Update(&d->inner, ipad, sizeof ipad);
  SHA256_Init(&d->outer);
  SHA256_Update(&d->outer, opad, sizeof opad);
  OPENSSL_cleanse(ipad, sizeof ipad);
  OPENSSL_cleanse(opad, sizeof opad);
  d->keyed = 1;
}

/* digest_builtin — the fast path: one compression from a saved state for
 * a key of up to ONE_BLOCK_MAX bytes, SHA256_Update/Final beyond. Cannot
 * fail. */
static kg_status digest_builtin(const kg_digester *d, const char *key,
                                size_t len, uint8_t out[KG_DIGEST_LEN]) {
  if (len > ONE_BLOCK_MAX) {
    digest_long(d, key, len, out);
    return KG_OK;
  }
  if (!d->keyed) {
    last_block(&d->plain, key, len, 0, out);
    return KG_OK;
  }
  /* HMAC (RFC 2104): H(K ^ opad || H(K ^ ipad || key)); each pad is one
   * block already absorbed, so each hash is one more block. */
  unsigned char inner[KG_DIGEST_LEN];
  last_block(&d->inner, key, len, SHA256_BLOCK, inner);
  last_block(&d->outer, inner, sizeof inner, SHA256_BLOCK, out);
  kg_ct_wipe(inner, sizeof inner);
  return KG_OK;
}

/*
 * self_test — 1 when a digester made like the caller's (keyed or not)
 * agrees with the provider's SHA-256, or HMAC-SHA-256, on a key-sized
 * message (the one-block path) and longer ones (the general path). A keyed
 * digester is tested with a fixed pepper, never the caller's: the same code
 * runs, and the verdict depends on no secret.
 */
static int self_test(int keyed) {
  static const char msg[] =
      "sk_live_keygate-self-test-0123456789abcdefghijklmnopqrstuvwxyz"
      "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  static const unsigned char pepper[32] = "keygate digest self-test pepper";
  kg_digester t;
  memset(&t, 0, sizeof t);
  SHA256_Init(&t.plain);
  if (keyed) {
    set_pepper(&t, pepper, sizeof pepper);
  }
  EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
  if (md == NULL) {
    return 0;
  }
  int ok = 1;
  const size_t lens[] = {46, ONE_BLOCK_MAX, ONE_BLOCK_MAX + 1, sizeof msg - 1};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0] && ok; i++) {
    unsigned char a[KG_DIGEST_LEN];
    unsigned char b[EVP_MAX_MD_SIZE];
    unsigned int blen = 0;
    ok = digest_builtin(&t, msg, lens[i], a) == KG_OK;
    if (keyed) {
      ok = ok && HMAC(md, pepper, (int)sizeof pepper,
                      (const unsigned char *)msg, lens[i], b, &blen) != NULL;
    } else {
      ok = ok && EVP_Digest(msg, lens[i], b, &blen, md, NULL) == 1;
    }
    ok = ok && blen == KG_DIGEST_LEN && kg_ct_eq(a, b, KG_DIGEST_LEN) == 1;
  }
  EVP_MD_free(md);
  OPENSSL_cleanse(&t, sizeof t);
  return ok;
}

/* ---- the provider path (KG_DIGEST_EVP) ----------------------------------- */

/*
 * Each thread that digests through the provider keeps its own contexts
 * (made on its first call, freed when it exits), so that a digester stays
 * read-only and shareable: per call the SHA-256 context is re-initialised
 * with the EVP_MD fetched once (EVP_DigestInit_ex2), and the HMAC context
 * (a copy of the digester's keyed one, EVP_MAC_CTX_dup, made again only for
 * another digester) is re-initialised with its key (EVP_MAC_init with no
 * key). From OpenSSL 3.1 on a re-initialisation with the same algorithm
 * keeps the provider's context; OpenSSL 3.0 frees and re-makes it, one
 * allocation per call (docs/benchmarks.md measures what that costs).
 */
typedef struct evp_scratch {
  uint64_t owner; /* serial of the digester mac was copied from */
  EVP_MD_CTX *md;
  EVP_MAC_CTX *mac;
} evp_scratch;

static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static pthread_key_t scratch_key;
static int scratch_key_ok;
static uint64_t next_serial; /* under __atomic */

static void scratch_free(void *p) {
  evp_scratch *sc = p;
  if (sc != NULL) {
    EVP_MD_CTX_free(sc->md);
    EVP_MAC_CTX_free(sc->mac);
    OPENSSL_free(sc);
  }
}

static void scratch_init(void) {
  scratch_key_ok = pthread_key_create(&scratch_key, scratch_free) == 0;
}

static evp_scratch *scratch_get(void) {
  if (pthread_once(&scratch_once, scratch_init) != 0 || !scratch_key_ok) {
    return NULL;
  }
  evp_scratch *sc = pthread_getspecific(scratch_key);
  if (sc == NULL) {
    sc = OPENSSL_zalloc(sizeof *sc);
    if (sc == NULL || pthread_setspecific(scratch_key, sc) != 0) {
      OPENSSL_free(sc);
      return NULL;
    }
  }
  return sc;
}

/* digest_evp — kg_digest through the provider. Cannot fail but for
 * OpenSSL failing (an allocation: KG_E_CRYPTO). */
static kg_status digest_evp(const kg_digester *d, const char *key, size_t len,
                            uint8_t out[KG_DIGEST_LEN]) {
  evp_scratch *sc = scratch_get();
  if (sc == NULL) {
    return KG_E_CRYPTO;
  }
  if (!d->keyed) {
    unsigned int n = 0;
    if (sc->md == NULL && (sc->md = EVP_MD_CTX_new()) == NULL) {
      return KG_E_CRYPTO;
    }
    if (EVP_DigestInit_ex2(sc->md, d->md, NULL) != 1 ||
        EVP_DigestUpdate(sc->md, key, len) != 1 ||
        EVP_DigestFinal_ex(sc->md, out, &n) != 1 || n != KG_DIGEST_LEN) {
      return KG_E_CRYPTO;
    }
    return KG_OK;
  }
  if (sc->mac == NULL || sc->owner != d->serial) {
    EVP_MAC_CTX_free(sc->mac);
    sc->mac = EVP_MAC_CTX_dup(d->mac);
    if (sc->mac == NULL) {
      return KG_E_CRYPTO;
    }
    sc->owner = d->serial;
  }
  size_t n = 0;
  if (EVP_MAC_init(sc->mac, NULL, 0, NULL) != 1 ||
      EVP_MAC_update(sc->mac, (const unsigned char *)key, len) != 1 ||
      EVP_MAC_final(sc->mac, out, &n, KG_DIGEST_LEN) != 1 ||
      n != KG_DIGEST_LEN) {
    return KG_E_CRYPTO;
  }
  return KG_OK;
}

/* evp_setup — fetch SHA-256 (and key an HMAC context) once for d. */
static kg_status evp_setup(kg_digester *d, const unsigned char *pepper,
                           size_t pepper_len) {
  d->md = EVP_MD_fetch(NULL, "SHA256", NULL);
  if (d->md == NULL) {
    return KG_E_CRYPTO;
  }
  d->serial = __atomic_add_fetch(&next_serial, 1, __ATOMIC_RELAXED);
  if (pepper_len == 0) {
    return KG_OK;
  }
  EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  if (hmac == NULL) {
    return KG_E_CRYPTO;
  }
  d->mac = EVP_MAC_CTX_new(hmac);
  EVP_MAC_free(hmac); /* the context holds its own reference */
  char digest_name[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end()};
  if (d->mac == NULL || EVP_MAC_init(d->mac, pepper, pepper_len, params) != 1) {
    return KG_E_CRYPTO;
  }
  return KG_OK;
}

/* impl_from_env — KEYGATE_DIGEST: unset or empty is the build's default,
 * "builtin" or "evp" choose; anything else is refused (-1). */
static int impl_from_env(kg_digest_impl *impl) {
  const char *v = getenv("KEYGATE_DIGEST");
  if (v == NULL || v[0] == '\0') {
#if defined(KEYGATE_DIGEST_DEFAULT_EVP)
    *impl = KG_DIGEST_EVP;
#else
    *impl = KG_DIGEST_BUILTIN;
#endif
    return 0;
  }
  if (strcmp(v, "builtin") == 0) {
    *impl = KG_DIGEST_BUILTIN;
    return 0;
  }
  if (strcmp(v, "evp") == 0) {
    *impl = KG_DIGEST_EVP;
    return 0;
  }
  return -1;
}

/* digest_other — kg_digest's every other case (HMAC, a long key, the
 * provider), out of line so that the inline one saves no registers. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static kg_status
digest_other(const kg_digester *d, const char *key, size_t len,
             uint8_t out[KG_DIGEST_LEN]) {
  if (d->impl == KG_DIGEST_EVP) {
    return digest_evp(d, key, len, out);
  }
  return digest_builtin(d, key, len, out);
}

/* ---- the API ------------------------------------------------------------- */

kg_status kg_digester_new_ex(const unsigned char *pepper, size_t pepper_len,
                             kg_digest_impl impl, kg_digester **out) {
  if (KG_NEVER(out == NULL) || pepper_len > KG_PEPPER_MAX ||
      KG_NEVER(pepper == NULL && pepper_len > 0)) {
    return KG_E_ARGUMENT;
  }
  *out = NULL;
  if (impl == KG_DIGEST_AUTO && impl_from_env(&impl) != 0) {
    return KG_E_ARGUMENT;
  }
  if (impl != KG_DIGEST_BUILTIN && impl != KG_DIGEST_EVP) {
    return KG_E_ARGUMENT;
  }
  if (impl == KG_DIGEST_BUILTIN && !self_test(pepper_len > 0)) {
    return KG_E_CRYPTO;
  }
  kg_digester *d = OPENSSL_zalloc(sizeof *d);
  if (d == NULL) {
    return KG_E_NOMEM;
  }
  d->impl = impl;
  SHA256_Init(&d->plain);
#ifdef KG_CPU_X86_DISPATCH
  sha_arrange(d->plain.h, d->sha_iv);
#endif
  if (pepper_len > 0) {
    set_pepper(d, pepper, pepper_len);
  }
  if (impl == KG_DIGEST_EVP) {
    kg_status st = evp_setup(d, pepper, pepper_len);
    if (st != KG_OK) {
      kg_digester_free(d);
      return st;
    }
  }
  *out = d;
  return KG_OK;
}

kg_status kg_digester_new(const unsigned char *pepper, size_t pepper_len,
                          kg_digester **out) {
  return kg_digester_new_ex(pepper, pepper_len, KG_DIGEST_AUTO, out);
}

void kg_digester_free(kg_digester *d) {
  if (d != NULL) {
    EVP_MD_free(d->md);
    EVP_MAC_CTX_free(d->mac);
    OPENSSL_clear_free(d, sizeof *d);
  }
}

int kg_digester_is_keyed(const kg_digester *d) {
  return d != NULL && d->keyed;
}

kg_digest_impl kg_digester_impl(const kg_digester *d) {
  return d != NULL ? d->impl : KG_DIGEST_AUTO;
}

kg_status kg_digest(const kg_digester *d, const char *key, size_t len,
                    uint8_t out[KG_DIGEST_LEN]) {
  if (KG_NEVER(d == NULL || out == NULL || (key == NULL && len > 0))) {
    return KG_E_ARGUMENT;
  }
  /* The request path's case, plain SHA-256 of a key that fits one block:
   * one compression from the saved IV, no SHA256_Update/Final. */
  if (d->impl == KG_DIGEST_BUILTIN && !d->keyed && len <= ONE_BLOCK_MAX) {
#ifdef KG_CPU_X86_DISPATCH
    /* A key of 32 to 47 bytes by the SHA extensions: a tail call, so
     * kg_digest makes no frame of its own; any other case through
     * last_block, out of line (its block is on its own stack). */
    if ((kg_cpu() & KG_CPU_SHA) != 0 && len - 32 < 16) {
      return one_block_sha_mid(d->sha_iv, key, len, (uint64_t)len * 8u, out);
    }
#endif
    last_block(&d->plain, key, len, 0, out);
    return KG_OK;
  }
  return digest_other(d, key, len, out);
}

int kg_digest_scan(const kg_digester *d, const char *key, size_t len,
                   kg_url_job *job, uint8_t out[KG_DIGEST_LEN]) {
  if (KG_NEVER(d == NULL || job == NULL || (key == NULL && len > 0))) {
    return 0; /* kg_digest then answers KG_E_ARGUMENT */
  }
#ifdef KG_CPU_X86_DISPATCH
  /* exactly kg_digest's one_block_sha_mid case */
  if (d->impl == KG_DIGEST_BUILTIN && !d->keyed && len <= ONE_BLOCK_MAX &&
      (kg_cpu() & KG_CPU_SHA) != 0 && len - 32 < 16) {
    if (job->target.len <= 64) {
      sha_mid_scan_short(d->sha_iv, key, len, job, out);
    } else {
      sha_mid_scan_long(d->sha_iv, key, len, job, out);
    }
    return 1;
  }
#else
  (void)key;
  (void)len;
  (void)out;
#endif
  return 0;
}
