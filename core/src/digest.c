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

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "ct.h"

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
  SHA256_CTX plain; /* SHA256_Init's state: the IV (plain SHA-256 only) */
  SHA256_CTX inner; /* after absorbing key ^ ipad (HMAC only) */
  SHA256_CTX outer; /* after absorbing key ^ opad (HMAC only) */
};

/* ---- the one-block path -------------------------------------------------- */

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
static void fill_block(unsigned char block[SHA256_BLOCK],
                       const unsigned char *msg, size_t len, uint64_t bitlen) {
  size_t full = len / 8;
  unsigned rem = (unsigned)(len % 8);
  uint64_t tail = (uint64_t)0x80 << (8 * rem);
  if (rem != 0) {
    tail |= load_le64(msg + len - 8) >> (8 * (8 - rem));
  }
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
#endif

/*
 * last_block — out = the SHA-256 that continues `from` (whose state has
 * absorbed `prior` bytes, a multiple of the block size) with msg[0..len),
 * len <= ONE_BLOCK_MAX, as its last block (FIPS 180-4 §5.1.1 padding).
 * Timing: depends on len only. Wipes its copies of the message and state.
 */
static void last_block(const SHA256_CTX *from, const void *msg, size_t len,
                       uint64_t prior, uint8_t out[KG_DIGEST_LEN]) {
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
    ok = kg_digest(&t, msg, lens[i], a) == KG_OK;
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

kg_status kg_digester_new(const unsigned char *pepper, size_t pepper_len,
                          kg_digester **out) {
  if (out == NULL || pepper_len > KG_PEPPER_MAX ||
      (pepper == NULL && pepper_len > 0)) {
    return KG_E_ARGUMENT;
  }
  *out = NULL;
  if (!self_test(pepper_len > 0)) {
    return KG_E_CRYPTO;
  }
  kg_digester *d = OPENSSL_zalloc(sizeof *d);
  if (d == NULL) {
    return KG_E_NOMEM;
  }
  SHA256_Init(&d->plain);
  if (pepper_len > 0) {
    set_pepper(d, pepper, pepper_len);
  }
  *out = d;
  return KG_OK;
}

void kg_digester_free(kg_digester *d) {
  if (d != NULL) {
    OPENSSL_clear_free(d, sizeof *d);
  }
}

int kg_digester_is_keyed(const kg_digester *d) {
  return d != NULL && d->keyed;
}

kg_status kg_digest(kg_digester *d, const char *key, size_t len,
                    uint8_t out[KG_DIGEST_LEN]) {
  if (d == NULL || out == NULL || (key == NULL && len > 0)) {
    return KG_E_ARGUMENT;
  }
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
