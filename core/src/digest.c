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
 * At construction the digester checks itself against the provider's
 * SHA-256 (EVP_MD_fetch, once) so a build whose low-level functions disagree
 * with the configured provider is refused rather than silently wrong.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "keygate/digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#define SHA256_BLOCK 64

struct kg_digester {
  int keyed;
  SHA256_CTX inner; /* after absorbing key ^ ipad (HMAC only) */
  SHA256_CTX outer; /* after absorbing key ^ opad (HMAC only) */
};

/* Compare SHA256_* with the provider's SHA-256 on a fixed input. */
static int self_test(void) {
  static const char msg[] = "sk_live_keygate-self-test";
  unsigned char a[KG_DIGEST_LEN];
  unsigned char b[EVP_MAX_MD_SIZE];
  unsigned int blen = 0;
  SHA256_CTX c;
  SHA256_Init(&c);
  SHA256_Update(&c, msg, sizeof msg - 1);
  SHA256_Final(a, &c);
  EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
  if (md == NULL) {
    return 0;
  }
  int ok = EVP_Digest(msg, sizeof msg - 1, b, &blen, md, NULL) == 1 &&
           blen == KG_DIGEST_LEN && memcmp(a, b, KG_DIGEST_LEN) == 0;
  EVP_MD_free(md);
  return ok;
}

kg_status kg_digester_new(const unsigned char *pepper, size_t pepper_len,
                          kg_digester **out) {
  if (out == NULL || pepper_len > KG_PEPPER_MAX ||
      (pepper == NULL && pepper_len > 0)) {
    return KG_E_ARGUMENT;
  }
  *out = NULL;
  if (!self_test()) {
    return KG_E_CRYPTO;
  }
  kg_digester *d = OPENSSL_zalloc(sizeof *d);
  if (d == NULL) {
    return KG_E_NOMEM;
  }
  if (pepper_len > 0) {
    /* RFC 2104: K is at most one block here (KG_PEPPER_MAX == 64), so it
     * is used as is, zero-padded. */
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
  SHA256_CTX c;
  if (!d->keyed) {
    SHA256_Init(&c);
    SHA256_Update(&c, key, len);
    SHA256_Final(out, &c);
    return KG_OK;
  }
  unsigned char inner[KG_DIGEST_LEN];
  c = d->inner;
  SHA256_Update(&c, key, len);
  SHA256_Final(inner, &c);
  c = d->outer;
  SHA256_Update(&c, inner, sizeof inner);
  SHA256_Final(out, &c);
  OPENSSL_cleanse(inner, sizeof inner);
  OPENSSL_cleanse(&c, sizeof c);
  return KG_OK;
}
